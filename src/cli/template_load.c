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
        um_detect_template *m = &t->items[t->count];
        const char *colour = strstr(p, "\"colour_luma\":");
        m->colour = colour ? atof(colour + strlen("\"colour_luma\":")) : 235;
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        uint8_t *alpha = NULL;
        int w = 0, h = 0;
        result = um_media_load_grey(path, &alpha, &w, &h, err);
        if (result == 0) {
            m->alpha = t->pixels[t->count] = alpha;
            m->width = w;
            m->height = h;
            m->stride = w;
            t->count++;
        }
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
