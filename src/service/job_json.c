/*
 * The job API's JSON: checking a submitted job field by field (a bad one is
 * named in the 400 answer), and showing a stored job. Sources and targets
 * are local paths or file:// URLs for now; other schemes are refused by
 * name rather than accepted and failed later.
 */
#include <stdio.h>
#include <string.h>

#include "service/service_internal.h"

#define DEFAULT_PRIORITY 5
#define MAX_URI 4096

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

static int check_uri(json_t *body, const char *name, const char **out, char *field,
                     um_error *err)
{
    json_t *v = json_object_get(body, name);
    if (!v)
        return bad(field, name, err, "missing");
    if (!json_is_string(v) || json_string_length(v) == 0)
        return bad(field, name, err, "must be a non-empty string");
    if (json_string_length(v) > MAX_URI)
        return bad(field, name, err, "longer than 4096 characters");
    const char *path = job_local_path(json_string_value(v));
    if (!path || !*path)
        return bad(field, name, err, "only local paths and file:// URLs are supported");
    *out = json_string_value(v);
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

typedef enum { KIND_NUMBER, KIND_BOOL, KIND_STRING, KIND_REGIONS } option_kind;

static const struct {
    const char *name;
    option_kind kind;
} config_keys[] = {
    {"max_bbox_percent", KIND_NUMBER}, {"detector", KIND_STRING}, {"force_format", KIND_STRING},
    {"overwrite", KIND_BOOL},          {"transparent", KIND_BOOL}, {"regions", KIND_REGIONS},
};

static int check_option(const char *prefix, const char *key, json_t *v, option_kind kind, char *field,
                        um_error *err)
{
    char name[JOB_FIELD_SIZE];
    snprintf(name, sizeof(name), "%.30s.%.60s", prefix, key);
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
    }
    return 0;
}

int job_config_check(json_t *c, const char *prefix, char *field, um_error *err)
{
    if (!json_is_object(c))
        return bad(field, prefix, err, "must be an object");
    const char *key;
    json_t *v;
    json_object_foreach(c, key, v) {
        size_t i = 0, n = sizeof(config_keys) / sizeof(config_keys[0]);
        while (i < n && strcmp(key, config_keys[i].name) != 0)
            i++;
        if (i == n) {
            char name[JOB_FIELD_SIZE];
            snprintf(name, sizeof(name), "%.30s.%.60s", prefix, key);
            return bad(field, name, err, "unknown option");
        }
        if (check_option(prefix, key, v, config_keys[i].kind, field, err) < 0)
            return -1;
    }
    return 0;
}

static int check_config(json_t *body, char **out, char *field, um_error *err)
{
    json_t *c = json_object_get(body, "watermark_removal_config");
    *out = NULL;
    if (!c || json_is_null(c))
        return 0;
    if (job_config_check(c, "watermark_removal_config", field, err) < 0)
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

int job_from_json(json_t *body, um_job *job, char *field, um_error *err)
{
    const char *source, *target, *type;
    int priority;
    memset(job, 0, sizeof(*job));
    if (!json_is_object(body))
        return bad(field, "body", err, "must be a JSON object");
    if (check_uri(body, "source_uri", &source, field, err) < 0 ||
        check_uri(body, "target_uri", &target, field, err) < 0 ||
        check_job_type(body, &type, field, err) < 0 || check_priority(body, &priority, field, err) < 0 ||
        check_metadata(body, &job->metadata, field, err) < 0 ||
        check_config(body, &job->config, field, err) < 0) {
        um_job_clear(job);
        return -1;
    }
    um_job_new_id(job);
    job->source_uri = um_xstrdup(source);
    job->target_uri = um_xstrdup(target);
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
    json_object_set_new(o, "watermark_removal_config", raw_json(j->config));
    json_object_set_new(o, "error", string_json(j->error));
    json_object_set_new(o, "result_url", string_json(j->result_url));
    json_object_set_new(o, "attempts", json_integer(j->attempts));
    json_object_set_new(o, "created_at", time_json(j->created_at));
    json_object_set_new(o, "started_at", time_json(j->started_at));
    json_object_set_new(o, "finished_at", time_json(j->finished_at));
    return o;
}

int job_options_parse(const char *config, job_options *o, json_t **holder, um_error *err)
{
    memset(o, 0, sizeof(*o));
    o->detect = 1;
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
    if (strcmp(job->job_type, "watermark_removal") != 0)
        return;
    pj->detect = o->detect;
    if (o->max_bbox_percent > 0)
        pj->detect_options.max_area = o->max_bbox_percent / 100.0;
    for (int i = 0; i < o->nb_regions; i++)
        regions[i] = (um_region){o->regions[i][0], o->regions[i][1], o->regions[i][2],
                                 o->regions[i][3], 0, -1, NULL, 0, NULL};
    pj->remove.regions = regions;
    pj->remove.nb_regions = o->nb_regions;
}
