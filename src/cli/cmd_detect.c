/* `unmark detect INPUT [--json]`: where the watermark is, frame by frame. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

enum { OPT_JSON = 300, OPT_HWDEC, OPT_HELP, OPT_OVERLAY, OPT_OVERWRITE, OPT_SAVE_TEMPLATE };

static const struct option detect_options[] = {
    {"json", no_argument, NULL, OPT_JSON},   {"hwdec", required_argument, NULL, OPT_HWDEC},
    {"quiet", no_argument, NULL, 'q'},       {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, OPT_HELP},   {"overlay", required_argument, NULL, OPT_OVERLAY},
    {"overwrite", no_argument, NULL, OPT_OVERWRITE},
    {"save-template", required_argument, NULL, OPT_SAVE_TEMPLATE}, CLI_DETECT_LONG_OPTIONS,
    {NULL, 0, NULL, 0},
};

int cli_parse_detect_option(int opt, const char *arg, um_detect_options *o, um_error *err)
{
    switch (opt) {
    case CLI_OPT_SCALES: return um_detect_parse_scales(arg, o, err);
    case CLI_OPT_NO_MULTISCALE: o->nb_scales = 1; o->scales[0] = 1.0; return 0;
    case CLI_OPT_MAX_AREA: return cli_parse_percent(arg, "--max-area", &o->max_area, err);
    case CLI_OPT_MEMORY_LIMIT: return cli_parse_size(arg, "--memory-limit", &o->memory_limit, err);
    default: return 1;
    }
}

static void print_box(const um_box *b, int comma)
{
    printf("[%d,%d,%d,%d]%s", b->x1, b->y1, b->x2, b->y2, comma ? "," : "");
}

static void print_json(const um_detector *d, const um_media_info *info, const double *times)
{
    printf("{\"width\":%d,\"height\":%d,\"fps\":%.6f,\"frames\":[", info->width, info->height, info->fps);
    int64_t n = um_detect_frame_count(d);
    for (int64_t i = 0; i < n; i++) {
        const um_box *boxes;
        int nb = um_detect_frame_boxes(d, i, &boxes);
        printf("%s{\"index\":%lld,\"pts\":%.6f,\"boxes\":[", i ? "," : "", (long long)i, times[i]);
        for (int k = 0; k < nb; k++)
            print_box(&boxes[k], k + 1 < nb);
        printf("]}");
    }
    printf("],\"marks\":[");
    for (int i = 0; i < um_detect_spot_count(d); i++) {
        const um_detect_spot *s = um_detect_spot_get(d, i);
        printf("%s{\"mark\":%d,\"box\":", i ? "," : "", s->mark);
        print_box(&s->box, 0);
        printf(",\"frames\":%lld,\"scale\":%.2f}", (long long)s->frames, s->scale);
    }
    printf("],\"single_scale_fallback\":%s}\n", um_detect_single_scale_fallback(d) ? "true" : "false");
}

static void print_text(const um_detector *d, const char *path)
{
    int spots = um_detect_spot_count(d);
    printf("%s: %lld frames, %d watermark spot%s\n", path, (long long)um_detect_frame_count(d), spots,
           spots == 1 ? "" : "s");
    for (int i = 0; i < spots; i++) {
        const um_detect_spot *s = um_detect_spot_get(d, i);
        printf("  mark %d at %d,%d-%d,%d (%dx%d) in %lld frames, scale %.2f\n", s->mark, s->box.x1,
               s->box.y1, s->box.x2, s->box.y2, s->box.x2 - s->box.x1, s->box.y2 - s->box.y1,
               (long long)s->frames, s->scale);
    }
}

/* The matte at frame resolution, 8-bit: bilinear from the detection grid. */
static uint8_t *upsample_matte(const um_detect_matte *m, int *w, int *h)
{
    *w = m->width * m->grid;
    *h = m->height * m->grid;
    uint8_t *out = um_xmalloc((size_t)*w * *h);
    for (int y = 0; y < *h; y++) {
        double fy = fmin(fmax((y + 0.5) / m->grid - 0.5, 0), m->height - 1);
        int y0 = (int)fy, y1 = y0 + 1 < m->height ? y0 + 1 : y0;
        double ty = fy - y0;
        for (int x = 0; x < *w; x++) {
            double fx = fmin(fmax((x + 0.5) / m->grid - 0.5, 0), m->width - 1);
            int x0 = (int)fx, x1 = x0 + 1 < m->width ? x0 + 1 : x0;
            double tx = fx - x0;
            const float *r0 = m->alpha + (size_t)y0 * m->width, *r1 = m->alpha + (size_t)y1 * m->width;
            double a = (r0[x0] * (1 - tx) + r0[x1] * tx) * (1 - ty) + (r1[x0] * (1 - tx) + r1[x1] * tx) * ty;
            out[(size_t)y * *w + x] = (uint8_t)lrint(a * 255);
        }
    }
    return out;
}

/* Detection's first estimate of a spot's matte as a template: luma only,
 * upsampled from its coarser grid (for a mark too rarely clear to fit). */
static int detection_template(const um_detector *d, int spot, um_matte_template *t, um_box *at)
{
    um_detect_matte m;
    if (um_detect_spot_matte(d, spot, &m) < 0 || !m.alpha)
        return -1;
    memset(t, 0, sizeof(*t));
    t->alpha = upsample_matte(&m, &t->width, &t->height);
    t->stride = t->width;
    t->colour[0] = m.colour;
    t->colour[1] = t->colour[2] = -1;
    *at = (um_box){m.box.x1, m.box.y1, m.box.x1 + t->width, m.box.y1 + t->height};
    return 0;
}

/* Of each mark's spots, the one seen in the most frames with a fitted
 * matte (else with the most frames): best[mark], -1 where none. */
static void best_spots(const um_detector *d, um_matte *const *mattes, int *best, int marks)
{
    for (int k = 0; k < marks; k++)
        best[k] = -1;
    for (int i = 0; i < um_detect_spot_count(d); i++) {
        const um_detect_spot *s = um_detect_spot_get(d, i);
        if (s->mark < 0 || s->mark >= marks)
            continue;
        int b = best[s->mark];
        int better = b < 0 || (mattes[i] && !mattes[b]) ||
                     (!mattes[i] == !mattes[b] && s->frames > um_detect_spot_get(d, b)->frames);
        if (better)
            best[s->mark] = i;
    }
}

/* Writes one mark's alpha picture and its entry in template.json. */
static int write_mark(FILE *json, const char *dir, int mark, const um_matte_template *t, um_box at,
                      int comma, um_error *err)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/mark%d_alpha.png", dir, mark);
    if (um_media_save_grey_png(path, t->alpha, t->width, t->height, t->stride, err) < 0)
        return -1;
    fprintf(json, "%s{\"mark\":%d,\"alpha\":\"mark%d_alpha.png\",\"width\":%d,\"height\":%d,"
                  "\"colour\":[%.2f,%.2f,%.2f],\"rgb\":%s,\"range\":\"%s\",\"colour_luma\":%.1f,\"box\":[%d,%d,%d,%d]}",
            comma ? "," : "", mark, mark, t->width, t->height, t->colour[0], t->colour[1], t->colour[2],
            t->rgb ? "true" : "false", t->full_range ? "pc" : "tv", t->colour[0], at.x1, at.y1, at.x2, at.y2);
    return 0;
}

#define TEMPLATE_MAX_MARKS 64

/* --save-template DIR: per mark, its matte (markN_alpha.png: opacity x 255
 * on the luma grid, as fitted over the video) and template.json with its
 * colour per plane and where it stood. */
static int save_template(const um_pipeline_detect_job *job, const um_detector *d, const char *dir,
                         um_error *err)
{
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        um_error_set(err, UM_ERR_OUTPUT, "cannot create the template folder %s: %s", dir, strerror(errno));
        return -1;
    }
    um_matte **mattes = NULL;
    if (um_pipeline_fit_spot_mattes(job, d, &mattes, err) < 0)
        return -1;
    int spots = um_detect_spot_count(d), best[TEMPLATE_MAX_MARKS], written = 0, result = 0;
    best_spots(d, mattes, best, TEMPLATE_MAX_MARKS);
    char path[4096];
    snprintf(path, sizeof(path), "%s/template.json", dir);
    FILE *json = fopen(path, "w");
    if (!json) {
        um_error_set(err, UM_ERR_OUTPUT, "cannot write %s: %s", path, strerror(errno));
        result = -1;
    } else {
        fprintf(json, "{\"model\":\"J = a W + (1 - a) I, per plane\",\"marks\":[");
    }
    for (int k = 0; k < TEMPLATE_MAX_MARKS && json && result == 0; k++) {
        um_matte_template t;
        um_box at;
        double colour[3];
        if (best[k] < 0)
            continue;
        if (mattes[best[k]]) {
            um_matte_export(mattes[best[k]], &t);
            um_matte_describe(mattes[best[k]], colour, &at);
        } else if (detection_template(d, best[k], &t, &at) < 0) {
            continue;
        }
        result = write_mark(json, dir, k, &t, at, written++, err);
        free((void *)t.alpha);
    }
    if (json) {
        fprintf(json, "]}\n");
        if (fclose(json) != 0 && result == 0) {
            um_error_set(err, UM_ERR_OUTPUT, "cannot write %s/template.json", dir);
            result = -1;
        }
    }
    for (int i = 0; i < spots; i++)
        um_matte_free(&mattes[i]);
    free(mattes);
    return result;
}

/* --overlay: the input re-encoded with the detected boxes drawn. */
static int write_overlay(const um_pipeline_detect_job *det, const um_detector *d, const char *path,
                         int overwrite)
{
    um_pipeline_job job;
    um_pipeline_job_init(&job);
    job.input = det->input;
    job.output = path;
    job.overwrite = overwrite;
    job.media = det->media;
    job.media.fast = 1;
    job.detections = d;
    job.outline = 1;
    job.progress = cli_progress_update;
    job.cancel = det->cancel;
    um_error err = {0};
    if (um_pipeline_run(&job, NULL, &err) < 0)
        return cli_fail(&err);
    cli_progress_done();
    return 0;
}

int cli_detect(int argc, char **argv)
{
    um_pipeline_detect_job job;
    memset(&job, 0, sizeof(job));
    um_media_options_init(&job.media);
    um_detect_options_init(&job.detect);
    um_error err = {0};
    int json = 0, quiet = 0, opt, help = 0, overwrite = 0;
    const char *overlay = NULL, *template_dir = NULL;
    if (cli_media_defaults(&job.media, &err) < 0)
        return cli_fail(&err);
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "qv", detect_options, NULL)) != -1) {
        int r = cli_parse_detect_option(opt, optarg, &job.detect, &err);
        if (r < 0)
            return cli_fail(&err);
        if (r == 0)
            continue;
        if (opt == OPT_JSON)
            json = 1;
        else if (opt == OPT_HWDEC && cli_parse_hwdec(optarg, &job.media.hwdec, &err) < 0)
            return cli_fail(&err);
        else if (opt == 'q')
            quiet = 1;
        else if (opt == 'v')
            um_log_set_level(UM_LOG_DEBUG);
        else if (opt == OPT_HELP)
            help = 1;
        else if (opt == OPT_OVERLAY)
            overlay = optarg;
        else if (opt == OPT_OVERWRITE)
            overwrite = 1;
        else if (opt == OPT_SAVE_TEMPLATE)
            template_dir = optarg;
        else if (opt != OPT_HWDEC) {
            um_error_set(&err, UM_ERR_USAGE, "unknown option \"%s\" (see unmark help detect)", argv[optind - 1]);
            return cli_fail(&err);
        }
    }
    if (help)
        return cli_help("detect");
    if (quiet)
        um_log_set_level(UM_LOG_ERROR);
    if (optind != argc - 1) {
        um_error_set(&err, UM_ERR_USAGE, "detect takes one INPUT file");
        return cli_fail(&err);
    }
    job.input = argv[optind];
    if (overlay && um_pipeline_check_output(job.input, overlay, overwrite, &err) < 0)
        return cli_fail(&err);
    /* stdout carries the result; progress stays a bar on a terminal. */
    cli_progress_init(0, quiet);
    job.progress = cli_progress_update;
    job.cancel = cli_cancel_on_signals();
    um_media_info info;
    um_detector *d = NULL;
    double *times = NULL;
    if (um_pipeline_detect(&job, &d, &times, &info, &err) < 0)
        return cli_fail(&err);
    cli_progress_done();
    int code = overlay ? write_overlay(&job, d, overlay, overwrite) : 0;
    if (code == 0 && template_dir && save_template(&job, d, template_dir, &err) < 0)
        code = cli_fail(&err);
    if (code == 0 && json)
        print_json(d, &info, times);
    else if (code == 0)
        print_text(d, job.input);
    um_detect_free(&d);
    free(times);
    return code;
}
