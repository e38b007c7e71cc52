/* Loading a template folder written by `detect --save-template`
 * (template.json and its markN_alpha.png files) for `remove --template`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

#define TEMPLATE_JSON_MAX (1 << 20)

static char *read_small_file(const char *path, um_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        um_error_set(err, UM_ERR_USAGE, "cannot read the template %s", path);
        return NULL;
    }
    char *text = um_xmalloc(TEMPLATE_JSON_MAX + 1);
    size_t n = fread(text, 1, TEMPLATE_JSON_MAX, f);
    fclose(f);
    text[n] = '\0';
    return text;
}

/* The string value after "key": at p, copied into out; NULL if absent. */
static const char *string_after(const char *p, const char *key, char *out, size_t cap)
{
    const char *at = strstr(p, key);
    if (!at)
        return NULL;
    at += strlen(key);
    const char *end = strchr(at, '"');
    if (!end || (size_t)(end - at) >= cap || memchr(at, '/', (size_t)(end - at)))
        return NULL;
    memcpy(out, at, (size_t)(end - at));
    out[end - at] = '\0';
    return end;
}

/* The number after "key": in obj, or fallback when absent. */
static double number_in(const char *obj, const char *key, double fallback)
{
    const char *at = strstr(obj, key);
    return at ? atof(at + strlen(key)) : fallback;
}

/* The mark's colour per plane: "colour":[c0,c1,c2] ("rgb":true for G, B,
 * R; "range":"pc" for full range YUV), or from a template of before:
 * "colour_luma" only, chroma unknown. */
static void colour_in(const char *obj, um_matte_template *m)
{
    const char *at = strstr(obj, "\"colour\":[");
    m->colour[0] = number_in(obj, "\"colour_luma\":", 235);
    m->colour[1] = m->colour[2] = -1;
    m->rgb = strstr(obj, "\"rgb\":true") != NULL;
    m->full_range = strstr(obj, "\"range\":\"pc\"") != NULL;
    if (!at)
        return;
    char *next = (char *)at + strlen("\"colour\":[");
    for (int p = 0; p < 3; p++) {
        char *end;
        double v = strtod(next, &end);
        if (end == next)
            return;
        m->colour[p] = v;
        next = end + strspn(end, " ,");
    }
}

/* Reads one mark's entry, obj (its object's text, cut at its end), and its
 * alpha picture into slot t->count. */
static int load_mark(const char *dir, const char *obj, const char *name, cli_templates *t, um_error *err)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    uint8_t *alpha = NULL;
    int w = 0, h = 0;
    if (um_media_load_grey(path, &alpha, &w, &h, err) < 0)
        return -1;
    um_matte_template *m = &t->mattes[t->count];
    colour_in(obj, m);
    m->alpha = alpha;
    m->width = w;
    m->height = h;
    m->stride = w;
    t->items[t->count] = (um_detect_template){w, h, alpha, w, m->colour[0]};
    t->pixels[t->count++] = alpha;
    return 0;
}

int cli_load_templates(const char *dir, cli_templates *t, um_error *err)
{
    char path[4096];
    memset(t, 0, sizeof(*t));
    snprintf(path, sizeof(path), "%s/template.json", dir);
    char *json = read_small_file(path, err);
    if (!json)
        return -1;
    const char *p = json;
    char name[256];
    int result = 0;
    while (result == 0 && t->count < CLI_MAX_TEMPLATES &&
           (p = string_after(p, "\"alpha\":\"", name, sizeof(name))) != NULL) {
        /* A mark's object holds no other object: it ends at the next '}'. */
        char *end = strchr(p, '}');
        char *obj_start = (char *)p;
        while (obj_start > json && *obj_start != '{')
            obj_start--;
        if (end)
            *end = '\0';
        result = load_mark(dir, obj_start, name, t, err);
        if (!end)
            break;
        p = end + 1;
    }
    free(json);
    if (result == 0 && t->count == 0) {
        um_error_set(err, UM_ERR_USAGE, "the template folder %s names no mark", dir);
        result = -1;
    }
    if (result < 0)
        cli_free_templates(t);
    return result;
}

void cli_free_templates(cli_templates *t)
{
    for (int i = 0; i < t->count; i++)
        free(t->pixels[i]);
    memset(t, 0, sizeof(*t));
}
