/*
 * The job API's JSON: checking a submitted job field by field (a bad one is
 * named in the 400 answer), and showing a stored job. A source is a local
 * path or file://, http(s)://, s3:// or data: URI (or base64 in
 * source_base64); a target a local path or file:// or s3:// URI. Other
 * schemes are refused by name rather than accepted and failed later.
 */
#include <stdio.h>
#include <string.h>

#include "service/service_internal.h"
#include "unmark/storage.h"

#define DEFAULT_PRIORITY 5
#define MAX_URI 4096
#define MAX_SOURCE_HEADERS 32

static const char *const source_schemes[] = {"file://", "http://", "https://", "s3://", "data:"};
static const char *const target_schemes[] = {"file://", "s3://"};

static const char *const job_types[] = {"watermark_removal", "transcode"};

static int bad(char *field, const char *name, um_error *err, const char *why)
{
    snprintf(field, JOB_FIELD_SIZE, "%s", name);
    um_error_set(err, UM_ERR_USAGE, "%s: %s", name, why);
    return -1;
}

const char *job_local_path(const char *uri)
{
    if (strncmp(uri, "file://", 7) == 0)
        return uri + 7;
    return strstr(uri, "://") ? NULL : uri;
}

/* Whether uri is a local path or starts with one of the schemes. */
static int scheme_allowed(const char *uri, const char *const *schemes, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strncmp(uri, schemes[i], strlen(schemes[i])) == 0)
            return uri[strlen(schemes[i])] != 0;
    return !strstr(uri, "://") && strncmp(uri, "data:", 5) != 0;
}

/* A source or target URI; *out NULL when it is absent and optional. data:
 * URLs are as long as the body allows; the others are capped. */
static int check_uri(json_t *body, const char *name, int optional, const char **out, char *field,
                     um_error *err)
{
    json_t *v = json_object_get(body, name);
    int source = strcmp(name, "source_uri") == 0;
    *out = NULL;
    if (!v || json_is_null(v))
        return optional ? 0 : bad(field, name, err, "missing");
    if (!json_is_string(v) || json_string_length(v) == 0)
        return bad(field, name, err, "must be a non-empty string");
    const char *uri = json_string_value(v);
    if (json_string_length(v) > MAX_URI && strncmp(uri, "data:", 5) != 0)
        return bad(field, name, err, "longer than 4096 characters");
    if (source && !scheme_allowed(uri, source_schemes, sizeof(source_schemes) / sizeof(source_schemes[0])))
        return bad(field, name, err,
                   "expected a local path or a file://, http://, https://, s3:// or data: URI");
    if (!source && !scheme_allowed(uri, target_schemes, sizeof(target_schemes) / sizeof(target_schemes[0])))
        return bad(field, name, err, "expected a local path or a file:// or s3:// URI");
    *out = uri;
    return 0;
}

/* The source: source_uri, or base64 in source_base64 (decoded by the API
 * before the job is stored, so it is handed on as a data: URI). */
static int check_source(json_t *body, char **out, char *field, um_error *err)
{
    const char *uri;
    json_t *b64 = json_object_get(body, "source_base64");
    if (check_uri(body, "source_uri", b64 != NULL, &uri, field, err) < 0)
        return -1;
    if (b64 && uri)
        return bad(field, "source_base64", err, "give source_uri or source_base64, not both");
    if (b64 && (!json_is_string(b64) || json_string_length(b64) == 0))
        return bad(field, "source_base64", err, "must be a non-empty base64 string");
    if (!b64) {
        *out = um_xstrdup(uri);
        return 0;
    }
    size_t n = json_string_length(b64) + 32;
    *out = um_xmalloc(n);
    snprintf(*out, n, "data:;base64,%s", json_string_value(b64));
    return 0;
}

/* source_headers {name: value} and source_verify_ssl: how an http(s)
 * source is fetched, kept as the job's source_options. */
static int check_source_options(json_t *body, char **out, char *field, um_error *err)
{
    json_t *h = json_object_get(body, "source_headers");
    json_t *v = json_object_get(body, "source_verify_ssl");
    *out = NULL;
    if (v && !json_is_boolean(v))
        return bad(field, "source_verify_ssl", err, "must be true or false");
    if (h && !json_is_object(h))
        return bad(field, "source_headers", err, "must be an object of header names to values");
    if (json_object_size(h) > MAX_SOURCE_HEADERS)
        return bad(field, "source_headers", err, "at most 32 headers");
    const char *key;
    json_t *value;
    json_object_foreach(h, key, value) {
        if (!um_storage_header_name_ok(key))
            return bad(field, "source_headers", err, "a header name is not an HTTP token");
        if (!json_is_string(value) || strpbrk(json_string_value(value), "\r\n") ||
            json_string_length(value) > 4096)
            return bad(field, "source_headers", err,
                       "each value must be a string of one line, at most 4096 characters");
    }
    if (!h && !v)
        return 0;
    json_t *o = json_object();
    if (h)
        json_object_set(o, "headers", h);
    if (v)
        json_object_set(o, "verify_tls", v);
    *out = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return 0;
}

static int check_job_type(json_t *body, const char **out, char *field, um_error *err)
{
    json_t *v = json_object_get(body, "job_type");
    *out = job_types[0];
    if (!v)
        return 0;
    if (!json_is_string(v))
        return bad(field, "job_type", err, "must be a string");
    for (size_t i = 0; i < sizeof(job_types) / sizeof(job_types[0]); i++)
        if (strcmp(json_string_value(v), job_types[i]) == 0) {
            *out = job_types[i];
            return 0;
        }
    return bad(field, "job_type", err, "unknown: expected watermark_removal or transcode");
}

static int check_priority(json_t *body, int *out, char *field, um_error *err)
{
    json_t *v = json_object_get(body, "priority");
    *out = DEFAULT_PRIORITY;
    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 10)
        return bad(field, "priority", err, "must be a whole number from 1 to 10");
    *out = (int)json_integer_value(v);
    return 0;
}

/* One region [x, y, w, h]: whole numbers, x, y >= 0, w, h > 0. */
static int check_region(json_t *r)
{
    if (!json_is_array(r) || json_array_size(r) != 4)
        return -1;
    for (size_t i = 0; i < 4; i++) {
        json_t *n = json_array_get(r, i);
        if (!json_is_integer(n) || json_integer_value(n) < (i < 2 ? 0 : 1) ||
            json_integer_value(n) > 100000)
            return -1;
    }
    return 0;
}

typedef enum { KIND_NUMBER, KIND_BOOL, KIND_STRING, KIND_REGIONS, KIND_TIME, KIND_SIZE, KIND_CRF, KIND_PRESET } option_kind;

typedef struct {
    const char *name;
    option_kind kind;
} option_key;

/* watermark_removal_config: what --region, --max-area and the like say on
 * the command line. */
static const option_key removal_keys[] = {
    {"max_bbox_percent", KIND_NUMBER}, {"detector", KIND_STRING}, {"force_format", KIND_STRING},
    {"overwrite", KIND_BOOL},          {"transparent", KIND_BOOL}, {"regions", KIND_REGIONS},
    {NULL, 0},
};

/* transcode_config: named options only, never FFmpeg arguments. */
static const option_key transcode_keys[] = {
    {"start", KIND_TIME}, {"end", KIND_TIME},     {"width", KIND_SIZE},         {"height", KIND_SIZE},
    {"crf", KIND_CRF},    {"preset", KIND_PRESET}, {"force_format", KIND_STRING}, {"overwrite", KIND_BOOL},
    {NULL, 0},
};

static const char *const x264_presets[] = {"ultrafast", "superfast", "veryfast", "faster", "fast",
                                           "medium",    "slow",      "slower",   "veryslow"};

static int is_x264_preset(const char *s)
{
    for (size_t i = 0; i < sizeof(x264_presets) / sizeof(x264_presets[0]); i++)
        if (strcmp(s, x264_presets[i]) == 0)
            return 1;
    return 0;
}

static int whole_in(json_t *v, json_int_t lo, json_int_t hi)
{
    return json_is_integer(v) && json_integer_value(v) >= lo && json_integer_value(v) <= hi;
}

static int check_option(const char *name, const char *key, json_t *v, option_kind kind, char *field,
                        um_error *err)
{
    switch (kind) {
    case KIND_NUMBER:
        if (!json_is_number(v) || json_number_value(v) <= 0 || json_number_value(v) > 100)
            return bad(field, name, err, "must be a number above 0 and at most 100");
        return 0;
    case KIND_BOOL:
        return json_is_boolean(v) ? 0 : bad(field, name, err, "must be true or false");
    case KIND_STRING:
        if (!json_is_string(v))
            return bad(field, name, err, "must be a string");
        if (strcmp(key, "detector") == 0 && strcmp(json_string_value(v), "auto") != 0 &&
            strcmp(json_string_value(v), "none") != 0)
            return bad(field, name, err, "expected auto or none");
        return 0;
    case KIND_REGIONS:
        if (!json_is_array(v) || json_array_size(v) > JOB_MAX_REGIONS)
            return bad(field, name, err, "must be a list of at most 64 [x, y, w, h]");
        for (size_t i = 0; i < json_array_size(v); i++)
            if (check_region(json_array_get(v, i)) < 0)
                return bad(field, name, err, "each must be [x, y, w, h]: whole numbers, w and h above 0");
        return 0;
    case KIND_TIME:
        if (!json_is_number(v) || json_number_value(v) < 0 || json_number_value(v) > 1e7)
            return bad(field, name, err, "must be a time in seconds, 0 or more");
        return 0;
    case KIND_SIZE:
        if (!whole_in(v, 0, 16384) || json_integer_value(v) == 1)
            return bad(field, name, err, "must be a whole number of pixels from 2 to 16384 (0: the input's)");
        return 0;
    case KIND_CRF:
        return whole_in(v, 0, 51) ? 0 : bad(field, name, err, "must be a whole number from 0 to 51");
    case KIND_PRESET:
        if (!json_is_string(v) || !is_x264_preset(json_string_value(v)))
            return bad(field, name, err,
                       "expected ultrafast, superfast, veryfast, faster, fast, medium, slow, slower or veryslow");
        return 0;
    }
    return 0;
}

/* The end of a trim must come after its start. */
static int check_trim(json_t *c, const char *prefix, char *field, um_error *err)
{
    json_t *start = json_object_get(c, "start"), *end = json_object_get(c, "end");
    if (!end || json_number_value(end) == 0 || json_number_value(end) > json_number_value(start))
        return 0;
    char name[JOB_FIELD_SIZE];
    snprintf(name, sizeof(name), "%.30s.end", prefix);
    return bad(field, name, err, "must be after start (or 0: to the end)");
}

int job_config_check(json_t *c, const char *job_type, const char *prefix, char *field, um_error *err)
{
    if (!json_is_object(c))
        return bad(field, prefix, err, "must be an object");
    const option_key *keys = strcmp(job_type, "transcode") == 0 ? transcode_keys : removal_keys;
    const char *key;
    json_t *v;
    json_object_foreach(c, key, v) {
        const option_key *k = keys;
        while (k->name && strcmp(key, k->name) != 0)
            k++;
        char name[JOB_FIELD_SIZE];
        snprintf(name, sizeof(name), "%.30s.%.60s", prefix, key);
        if (!k->name)
            return bad(field, name, err, "unknown option");
        if (check_option(name, key, v, k->kind, field, err) < 0)
            return -1;
    }
    return check_trim(c, prefix, field, err);
}

/* The job's options: watermark_removal_config for a removal,
 * transcode_config for a transcode; the other one is refused by name. */
static int check_config(json_t *body, const char *job_type, char **out, char *field, um_error *err)
{
    int transcode = strcmp(job_type, "transcode") == 0;
    const char *mine = transcode ? "transcode_config" : "watermark_removal_config";
    const char *other = transcode ? "watermark_removal_config" : "transcode_config";
    json_t *c = json_object_get(body, mine), *o = json_object_get(body, other);
    *out = NULL;
    if (o && !json_is_null(o))
        return bad(field, other, err, transcode ? "only for job_type watermark_removal"
                                                : "only for job_type transcode");
    if (!c || json_is_null(c))
        return 0;
    if (job_config_check(c, job_type, mine, field, err) < 0)
        return -1;
    *out = json_dumps(c, JSON_COMPACT);
    return 0;
}

static int check_metadata(json_t *body, char **out, char *field, um_error *err)
{
    json_t *m = json_object_get(body, "metadata");
    *out = NULL;
    if (!m || json_is_null(m))
        return 0;
    if (!json_is_object(m))
        return bad(field, "metadata", err, "must be an object");
    *out = json_dumps(m, JSON_COMPACT);
    return 0;
}

/* Every member the body may have. */
static const char *const body_keys[] = {
    "source_uri",   "source_base64",     "source_headers", "source_verify_ssl",       "target_uri",
    "job_type",     "priority",          "metadata",       "watermark_removal_config", "transcode_config",
};

static int check_known_keys(json_t *body, char *field, um_error *err)
{
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v) {
        size_t i = 0, n = sizeof(body_keys) / sizeof(body_keys[0]);
        while (i < n && strcmp(key, body_keys[i]) != 0)
            i++;
        if (i == n)
            return bad(field, key, err, "unknown field");
    }
    return 0;
}

int job_from_json(json_t *body, um_job *job, char *field, um_error *err)
{
    const char *target, *type;
    int priority;
    memset(job, 0, sizeof(*job));
    if (!json_is_object(body))
        return bad(field, "body", err, "must be a JSON object");
    if (check_known_keys(body, field, err) < 0 || check_source(body, &job->source_uri, field, err) < 0 ||
        check_source_options(body, &job->source_options, field, err) < 0 ||
        check_uri(body, "target_uri", 1, &target, field, err) < 0 ||
        check_job_type(body, &type, field, err) < 0 || check_priority(body, &priority, field, err) < 0 ||
        check_metadata(body, &job->metadata, field, err) < 0 ||
        check_config(body, type, &job->config, field, err) < 0) {
        um_job_clear(job);
        return -1;
    }
    um_job_new_id(job);
    job->target_uri = target ? um_xstrdup(target) : NULL;
    job->job_type = um_xstrdup(type);
    job->priority = priority;
    job->status = UM_JOB_QUEUED;
    return 0;
}

static json_t *raw_json(const char *text)
{
    json_t *v = text ? json_loads(text, 0, NULL) : NULL;
    return v ? v : json_null();
}

static json_t *time_json(double t)
{
    return t > 0 ? json_real(t) : json_null();
}

static json_t *string_json(const char *s)
{
    return s ? json_string(s) : json_null();
}

json_t *job_to_json(const um_job *j)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(j->id));
    json_object_set_new(o, "job_type", string_json(j->job_type));
    json_object_set_new(o, "status", json_string(um_job_status_name(j->status)));
    json_object_set_new(o, "progress", json_real(j->progress));
    json_object_set_new(o, "priority", json_integer(j->priority));
    json_object_set_new(o, "source_uri", string_json(j->source_uri));
    json_object_set_new(o, "target_uri", string_json(j->target_uri));
    json_object_set_new(o, "metadata", raw_json(j->metadata));
    int transcode = j->job_type && strcmp(j->job_type, "transcode") == 0;
    json_object_set_new(o, transcode ? "transcode_config" : "watermark_removal_config", raw_json(j->config));
    json_object_set_new(o, "error", string_json(j->error));
    json_object_set_new(o, "result_url", string_json(j->result_url));
    json_object_set_new(o, "attempts", json_integer(j->attempts));
    json_object_set_new(o, "worker", string_json(j->worker));
    json_object_set_new(o, "lease_expires_at", time_json(j->lease_expires_at));
    json_object_set_new(o, "created_at", time_json(j->created_at));
    json_object_set_new(o, "started_at", time_json(j->started_at));
    json_object_set_new(o, "finished_at", time_json(j->finished_at));
    return o;
}

int job_options_parse(const char *config, job_options *o, json_t **holder, um_error *err)
{
    memset(o, 0, sizeof(*o));
    o->detect = 1;
    o->crf = -1;
    *holder = NULL;
    if (!config)
        return 0;
    json_error_t jerr;
    json_t *c = json_loads(config, 0, &jerr);
    if (!json_is_object(c)) {
        json_decref(c);
        um_error_set(err, UM_ERR_OTHER, "the job's stored options are not a JSON object: %s", jerr.text);
        return -1;
    }
    *holder = c;
    json_t *v;
    if ((v = json_object_get(c, "max_bbox_percent")))
        o->max_bbox_percent = json_number_value(v);
    if ((v = json_object_get(c, "detector")))
        o->detect = strcmp(json_string_value(v), "none") != 0;
    if ((v = json_object_get(c, "force_format")))
        o->force_format = json_string_value(v);
    o->overwrite = json_is_true(json_object_get(c, "overwrite"));
    o->start = json_number_value(json_object_get(c, "start"));
    o->end = json_number_value(json_object_get(c, "end"));
    o->width = (int)json_integer_value(json_object_get(c, "width"));
    o->height = (int)json_integer_value(json_object_get(c, "height"));
    if ((v = json_object_get(c, "crf")))
        o->crf = (int)json_integer_value(v);
    if ((v = json_object_get(c, "preset")))
        o->preset = json_string_value(v);
    o->transparent = json_is_true(json_object_get(c, "transparent"));
    json_t *regions = json_object_get(c, "regions");
    for (size_t i = 0; i < json_array_size(regions) && i < JOB_MAX_REGIONS; i++, o->nb_regions++)
        for (size_t k = 0; k < 4; k++)
            o->regions[i][k] = (int)json_integer_value(json_array_get(json_array_get(regions, i), k));
    return 0;
}

void job_describe(const um_job *job, const job_options *o, const um_media_options *media,
                  um_region *regions, um_pipeline_job *pj)
{
    um_pipeline_job_init(pj);
    um_detect_options_init(&pj->detect_options);
    pj->input = job_local_path(job->source_uri);
    pj->output = job_local_path(job->target_uri);
    pj->overwrite = o->overwrite;
    pj->media = *media;
    pj->media.format = o->force_format;
    pj->media.transparent = pj->remove.transparent = o->transparent;
    if (strcmp(job->job_type, "transcode") == 0) {
        pj->media.start = o->start;
        pj->media.end = o->end;
        pj->media.width = o->width;
        pj->media.height = o->height;
        if (o->crf >= 0)
            pj->media.crf = o->crf;
        if (o->preset)
            pj->media.preset = o->preset;
        return;
    }
    pj->detect = o->detect;
    if (o->max_bbox_percent > 0)
        pj->detect_options.max_area = o->max_bbox_percent / 100.0;
    for (int i = 0; i < o->nb_regions; i++)
        regions[i] = (um_region){o->regions[i][0], o->regions[i][1], o->regions[i][2],
                                 o->regions[i][3], 0, -1, NULL, 0, NULL};
    pj->remove.regions = regions;
    pj->remove.nb_regions = o->nb_regions;
}

void job_result_name(const char *source_uri, char *out, size_t cap)
{
    char name[128], base[128];
    size_t n = strcspn(source_uri, "?#");
    snprintf(base, sizeof(base), "%.*s", (int)(n < 127 ? n : 127), source_uri);
    um_storage_sanitize_filename(strncmp(base, "data:", 5) == 0 ? "" : base, "result.mp4", name,
                                 sizeof(name));
    char *dot = strrchr(name, '.');
    if (!dot || dot == name)
        snprintf(out, cap, "%s_clean.mp4", name);
    else
        snprintf(out, cap, "%.*s_clean%s", (int)(dot - name), name, dot);
}
