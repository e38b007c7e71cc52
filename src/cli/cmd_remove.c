/* `unmark remove INPUT -o OUTPUT [options]`: one file in, one file out. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

#define MAX_CLI_REGIONS 64

enum {
    OPT_REGION = 256, OPT_MASK, OPT_OVERWRITE, OPT_HWDEC, OPT_ENCODER, OPT_PRESET, OPT_CRF,
    OPT_FAST, OPT_FORMAT, OPT_TRANSPARENT, OPT_JSON, OPT_HELP, OPT_DETECT, OPT_TEMPLATE, OPT_METHOD,
    OPT_START, OPT_END, OPT_WIDTH, OPT_HEIGHT, OPT_MATTE_CACHE, OPT_FRAME_CACHE
};

static const struct option remove_options[] = {
    {"output", required_argument, NULL, 'o'},     {"region", required_argument, NULL, OPT_REGION},
    {"mask", required_argument, NULL, OPT_MASK},  {"overwrite", no_argument, NULL, OPT_OVERWRITE},
    {"hwdec", required_argument, NULL, OPT_HWDEC}, {"encoder", required_argument, NULL, OPT_ENCODER},
    {"preset", required_argument, NULL, OPT_PRESET}, {"crf", required_argument, NULL, OPT_CRF},
    {"fast", no_argument, NULL, OPT_FAST},        {"format", required_argument, NULL, OPT_FORMAT},
    {"transparent", no_argument, NULL, OPT_TRANSPARENT}, {"json", no_argument, NULL, OPT_JSON},
    {"quiet", no_argument, NULL, 'q'},            {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, OPT_HELP},        {"detect", required_argument, NULL, OPT_DETECT},
    {"template", required_argument, NULL, OPT_TEMPLATE}, {"method", required_argument, NULL, OPT_METHOD},
    {"start", required_argument, NULL, OPT_START}, {"end", required_argument, NULL, OPT_END},
    {"width", required_argument, NULL, OPT_WIDTH}, {"height", required_argument, NULL, OPT_HEIGHT},
    {"matte-cache", required_argument, NULL, OPT_MATTE_CACHE},
    {"frame-cache", required_argument, NULL, OPT_FRAME_CACHE},
    CLI_DETECT_LONG_OPTIONS,                      {NULL, 0, NULL, 0},
};

typedef struct {
    um_pipeline_job job;
    um_region regions[MAX_CLI_REGIONS];
    const char *mask_path;
    const char *template_dir;
    int json, quiet, verbose, help;
} remove_args;


static int add_region(remove_args *a, const char *text, um_error *err)
{
    if (a->job.remove.nb_regions >= MAX_CLI_REGIONS) {
        um_error_set(err, UM_ERR_USAGE, "too many --region options: at most %d", MAX_CLI_REGIONS);
        return -1;
    }
    return um_remove_parse_region(text, &a->regions[a->job.remove.nb_regions++], err);
}

/* A size as --memory-limit takes, or 0 (keep none). */
static int parse_cache_size(const char *text, const char *flag, int64_t *out, um_error *err)
{
    if (strcmp(text, "0") == 0) {
        *out = 0;
        return 0;
    }
    return cli_parse_size(text, flag, out, err);
}

static int parse_option(remove_args *a, int opt, um_error *err)
{
    um_media_options *m = &a->job.media;
    int detect_flag = cli_parse_detect_option(opt, optarg, &a->job.detect_options, err);
    if (detect_flag <= 0)
        return detect_flag;
    switch (opt) {
    case OPT_DETECT: return cli_parse_detect_mode(optarg, &a->job.detect, err);
    case 'o': a->job.output = optarg; return 0;
    case OPT_REGION: return add_region(a, optarg, err);
    case OPT_MASK: a->mask_path = optarg; return 0;
    case OPT_TEMPLATE: a->template_dir = optarg; return 0;
    case OPT_METHOD: return um_remove_parse_method(optarg, &a->job.remove.method, err);
    case OPT_MATTE_CACHE: return parse_cache_size(optarg, "--matte-cache", &a->job.matte_cache, err);
    case OPT_FRAME_CACHE: return parse_cache_size(optarg, "--frame-cache", &a->job.frame_cache, err);
    case OPT_OVERWRITE: a->job.overwrite = 1; return 0;
    case OPT_HWDEC: return cli_parse_hwdec(optarg, &m->hwdec, err);
    case OPT_ENCODER: return cli_parse_encoder(optarg, &m->encoder, err);
    case OPT_PRESET: m->preset = optarg; return 0;
    case OPT_CRF: return cli_parse_crf(optarg, &m->crf, err);
    case OPT_FAST: m->fast = 1; return 0;
    case OPT_START: return cli_parse_time(optarg, "--start", &m->start, err);
    case OPT_END: return cli_parse_time(optarg, "--end", &m->end, err);
    case OPT_WIDTH: return cli_parse_int(optarg, "--width", 0, 100000, &m->width, err);
    case OPT_HEIGHT: return cli_parse_int(optarg, "--height", 0, 100000, &m->height, err);
    case OPT_FORMAT: m->format = optarg; return 0;
    case OPT_TRANSPARENT: m->transparent = a->job.remove.transparent = 1; return 0;
    case OPT_JSON: a->json = 1; return 0;
    case 'q': a->quiet = 1; return 0;
    case 'v': a->verbose = 1; return 0;
    case OPT_HELP: a->help = 1; return 0;
    default:
        um_error_set(err, UM_ERR_USAGE, "unknown option for remove (see unmark help remove)");
        return -1;
    }
}

static int parse_remove_args(remove_args *a, int argc, char **argv, um_error *err)
{
    um_pipeline_job_init(&a->job);
    a->job.remove.regions = a->regions;
    um_detect_options_init(&a->job.detect_options);
    a->job.detect = 1;
    const char *detect_env = getenv("UNMARK_DETECT"), *method_env = getenv("UNMARK_METHOD"),
               *cache_env = getenv("UNMARK_MATTE_CACHE"), *frames_env = getenv("UNMARK_FRAME_CACHE");
    if (cli_media_defaults(&a->job.media, err) < 0 ||
        (detect_env && *detect_env && cli_parse_detect_mode(detect_env, &a->job.detect, err) < 0) ||
        (method_env && *method_env && um_remove_parse_method(method_env, &a->job.remove.method, err) < 0) ||
        (cache_env && *cache_env && parse_cache_size(cache_env, "UNMARK_MATTE_CACHE", &a->job.matte_cache, err) < 0) ||
        (frames_env && *frames_env &&
         parse_cache_size(frames_env, "UNMARK_FRAME_CACHE", &a->job.frame_cache, err) < 0))
        return -1;
    optind = 1;
    opterr = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, "o:qv", remove_options, NULL)) != -1)
        if (parse_option(a, opt, err) < 0) {
            if (opt == '?')
                um_error_set(err, UM_ERR_USAGE, "unknown option \"%s\" (see unmark help remove)",
                             argv[optind - 1]);
            return -1;
        }
    if (a->help)
        return 0;
    if (optind != argc - 1) {
        um_error_set(err, UM_ERR_USAGE, optind >= argc ? "remove needs an INPUT file"
                                                       : "remove takes one INPUT file");
        return -1;
    }
    a->job.input = argv[optind];
    if (!a->job.output) {
        um_error_set(err, UM_ERR_USAGE, "remove needs an output: -o OUTPUT");
        return -1;
    }
    return um_media_options_check(&a->job.media, "--", err);
}

static void set_up_logging(const remove_args *a)
{
    um_log_set_json(a->json);
    if (a->quiet)
        um_log_set_level(UM_LOG_ERROR);
    if (a->verbose)
        um_log_set_level(UM_LOG_DEBUG);
    cli_progress_init(a->json, a->quiet);
}

static void report_done(const remove_args *a, const um_pipeline_result *r)
{
    if (um_log_is_json()) {
        char body[1024] = "";
        snprintf(body, sizeof(body),
                 "\"frames\":%lld,\"frames_with_mark\":%lld,\"marks\":%d,\"seconds\":%.3f,\"output\":",
                 (long long)r->frames, (long long)r->frames_with_mark, r->marks, r->seconds);
        um_json_escape(body, sizeof(body), a->job.output);
        strncat(body, ",\"decode\":", sizeof(body) - strlen(body) - 1);
        um_json_escape(body, sizeof(body), r->decode_path);
        strncat(body, ",\"encode\":", sizeof(body) - strlen(body) - 1);
        um_json_escape(body, sizeof(body), r->encode_path);
        um_log_json_event("done", body);
        return;
    }
    um_log(UM_LOG_INFO, "wrote %s: %lld frames (%lld with a watermark found) in %.1f s (%.1f fps)",
           a->job.output, (long long)r->frames, (long long)r->frames_with_mark, r->seconds,
           r->seconds > 0 ? (double)r->frames / r->seconds : 0);
}

int cli_remove(int argc, char **argv)
{
    remove_args a;
    memset(&a, 0, sizeof(a));
    um_error err = {0};
    uint8_t *mask = NULL;
    int code;
    int parsed = parse_remove_args(&a, argc, argv, &err);
    set_up_logging(&a);
    if (parsed < 0)
        return cli_fail(&err);
    if (a.help)
        return cli_help("remove");
    if (a.mask_path && um_media_load_mask(a.mask_path, &mask, &a.job.remove.mask_w,
                                          &a.job.remove.mask_h, &err) < 0)
        return cli_fail(&err);
    a.job.remove.mask = mask;
    cli_templates templates = {0};
    if (a.template_dir) {
        if (cli_load_templates(a.template_dir, &templates, &err) < 0) {
            free(mask);
            return cli_fail(&err);
        }
        a.job.templates = templates.items;
        a.job.matte_templates = templates.mattes;
        a.job.nb_templates = templates.count;
    }
    a.job.progress = cli_progress_update;
    a.job.cancel = cli_cancel_on_signals();
    um_pipeline_result result;
    if (um_pipeline_run(&a.job, &result, &err) < 0) {
        code = cli_fail(&err);
    } else {
        cli_progress_done();
        report_done(&a, &result);
        code = 0;
    }
    free(mask);
    cli_free_templates(&templates);
    return code;
}
