/* Parsing --region: "x,y,w,h" or "x,y,w,h@START-END" (seconds). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "unmark/remove.h"

/* Parses a non-negative integer that ends at one of the stop characters. */
static int parse_int(const char **p, const char *stops, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(*p, &end, 10);
    if (end == *p || errno || v < 0 || v > 1000000 || !strchr(stops, *end))
        return -1;
    *out = (int)v;
    *p = end;
    return 0;
}

/* Parses an optional non-negative time in seconds ending at a stop. */
static int parse_time(const char **p, const char *stops, double fallback, double *out)
{
    if (strchr(stops, **p)) {
        *out = fallback;
        return 0;
    }
    char *end;
    errno = 0;
    double v = strtod(*p, &end);
    if (end == *p || errno || !isfinite(v) || v < 0 || !strchr(stops, *end))
        return -1;
    *out = v;
    *p = end;
    return 0;
}

int um_remove_parse_region(const char *text, um_region *r, um_error *err)
{
    const char *p = text;
    int ok = parse_int(&p, ",", &r->x) == 0 && *p++ == ',' && parse_int(&p, ",", &r->y) == 0 &&
             *p++ == ',' && parse_int(&p, ",", &r->w) == 0 && *p++ == ',' &&
             parse_int(&p, "@", &r->h) == 0;
    r->start = 0;
    r->end = -1;
    r->shape = NULL;
    r->shape_stride = 0;
    if (ok && *p == '@') {
        p++;
        ok = parse_time(&p, "-", 0, &r->start) == 0 && *p++ == '-' &&
             parse_time(&p, "", -1, &r->end) == 0 && *p == '\0';
    }
    if (!ok || *p != '\0') {
        um_error_set(err, UM_ERR_USAGE,
                     "bad --region \"%s\": expected x,y,w,h or x,y,w,h@START-END (pixels, seconds)",
                     text);
        return -1;
    }
    if (r->w == 0 || r->h == 0) {
        um_error_set(err, UM_ERR_USAGE, "bad --region \"%s\": width and height must be above 0", text);
        return -1;
    }
    if (r->end >= 0 && r->end <= r->start) {
        um_error_set(err, UM_ERR_USAGE, "bad --region \"%s\": the end time must come after the start",
                     text);
        return -1;
    }
    return 0;
}
