/*
 * A RunPod job's input: the one the Python handler this worker replaces
 * took, checked field by field before anything is fetched or run, so that
 * a bad job fails at once naming its field ("source_s3.bucket: missing").
 *
 * One source among source (a path or URI), source_url (http(s), with
 * source_headers and source_verify_ssl), source_base64, source_s3
 * {bucket, key} and source_s3_key (in s3Config's bucket); the names
 * (filename, output_filename), where an uploaded result goes (s3Config,
 * s3_prefix) and the removal options (watermark_config, checked as the job
 * API checks watermark_removal_config). Members the handler did not know
 * are ignored, as the Python handler ignored them, with a log line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "runpod/runpod_internal.h"
#include "service/service_internal.h"

#define MAX_URI 4096
#define MAX_HEADERS 32
#define MAX_HEADER_VALUE 4096
#define MAX_PREFIX 1024
#define DEFAULT_PREFIX "jobs/{job_id}"

/* In the order of runpod_source_kind. */
static const char *const source_fields[] = {"source", "source_url", "source_base64", "source_s3",
                                            "source_s3_key"};

static const char *const other_fields[] = {"source_headers", "source_verify_ssl", "filename",
                                           "output_filename", "s3_prefix", "s3Config",
                                           "watermark_config"};

/* The extensions the media writer takes (unmark remove's -o). */
static const char *const writable[] = {".mp4", ".mov", ".mkv", ".png", ".jpg", ".jpeg", ".webp"};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static int bad(um_error *err, const char *field, const char *why)
{
    um_error_set(err, UM_ERR_USAGE, "%s: %s", field, why);
    return -1;
}

/* A member that may be absent (or null: *out NULL) but otherwise is a
 * non-empty string; field names it in errors. */
static int opt_string(json_t *obj, const char *name, const char *field, const char **out, um_error *err)
{
    json_t *v = json_object_get(obj, name);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v) || json_string_length(v) == 0)
        return bad(err, field, "must be a non-empty string");
    *out = json_string_value(v);
    return 0;
}

static int req_string(json_t *obj, const char *name, const char *field, const char **out, um_error *err)
{
    if (opt_string(obj, name, field, out, err) < 0)
        return -1;
    return *out ? 0 : bad(err, field, "missing");
}

static int opt_bool(json_t *obj, const char *name, const char *field, int fallback, int *out, um_error *err)
{
    json_t *v = json_object_get(obj, name);
    *out = fallback;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_boolean(v))
        return bad(err, field, "must be true or false");
    *out = json_is_true(v);
    return 0;
}

static int is_http_url(const char *s)
{
    return strncasecmp(s, "http://", 7) == 0 || strncasecmp(s, "https://", 8) == 0;
}

/* Which source the input gives: exactly one of source_fields. */
static int pick_source(runpod_input *in, um_error *err)
{
    in->source_field = NULL;
    for (size_t i = 0; i < COUNT(source_fields); i++) {
        json_t *v = json_object_get(in->root, source_fields[i]);
        if (!v || json_is_null(v))
            continue;
        if (in->source_field) {
            char why[128];
            snprintf(why, sizeof(why), "give one source only, not both %s and %s", in->source_field,
                     source_fields[i]);
            return bad(err, source_fields[i], why);
        }
        in->source_field = source_fields[i];
        in->kind = (runpod_source_kind)i;
    }
    if (!in->source_field)
        return bad(err, "source",
                   "missing: give one of source, source_url, source_base64, source_s3 or source_s3_key");
    return 0;
}

/* The chosen source's own checks. */
static int check_source(runpod_input *in, um_error *err)
{
    json_t *v = json_object_get(in->root, in->source_field);
    if (in->kind == RUNPOD_SOURCE_S3) {
        if (!json_is_object(v))
            return bad(err, "source_s3", "must be an object {\"bucket\": ..., \"key\": ...}");
        if (req_string(v, "bucket", "source_s3.bucket", &in->source_bucket, err) < 0)
            return -1;
        return req_string(v, "key", "source_s3.key", &in->source, err);
    }
    if (opt_string(in->root, in->source_field, in->source_field, &in->source, err) < 0)
        return -1;
    if (in->kind != RUNPOD_SOURCE_BASE64 && strlen(in->source) > MAX_URI &&
        strncmp(in->source, "data:", 5) != 0)
        return bad(err, in->source_field, "longer than 4096 characters");
    if (in->kind == RUNPOD_SOURCE_URL && !is_http_url(in->source))
        return bad(err, "source_url", "must be an http:// or https:// URL");
    return 0;
}

/* s3Config: the credentials and endpoint for S3 sources and results. */
static int parse_s3_config(runpod_input *in, um_error *err)
{
    json_t *c = json_object_get(in->root, "s3Config");
    um_storage_s3_init(&in->s3);
    if (!c || json_is_null(c))
        return 0;
    if (!json_is_object(c))
        return bad(err, "s3Config", "must be an object");
    if (req_string(c, "accessId", "s3Config.accessId", &in->s3.access_key, err) < 0 ||
        req_string(c, "accessSecret", "s3Config.accessSecret", &in->s3.secret_key, err) < 0 ||
        opt_string(c, "bucketName", "s3Config.bucketName", &in->s3.bucket, err) < 0 ||
        opt_string(c, "endpointUrl", "s3Config.endpointUrl", &in->s3.endpoint, err) < 0 ||
        opt_string(c, "region", "s3Config.region", &in->s3.region, err) < 0)
        return -1;
    if (in->s3.endpoint && !is_http_url(in->s3.endpoint))
        return bad(err, "s3Config.endpointUrl", "must be an http:// or https:// URL");
    /* Stores with an endpoint of their own (MinIO, R2 ...) mostly want
     * ENDPOINT/BUCKET/KEY; AWS itself the bucket's host name. */
    return opt_bool(c, "forcePathStyle", "s3Config.forcePathStyle", in->s3.endpoint != NULL,
                    &in->s3.path_style, err);
}

/* S3 sources need s3Config's credentials (and source_s3_key its bucket). */
static int check_source_needs(const runpod_input *in, um_error *err)
{
    int have_s3 = json_is_object(json_object_get(in->root, "s3Config"));
    if (in->kind == RUNPOD_SOURCE_S3 && !have_s3)
        return bad(err, "source_s3", "needs s3Config (accessId, accessSecret) for its credentials");
    if (in->kind == RUNPOD_SOURCE_S3_KEY && !in->s3.bucket)
        return bad(err, "source_s3_key", "needs s3Config.bucketName, the bucket it is in");
    return 0;
}

/* source_headers {name: value} as "Name: value" lines for the fetch. */
static int parse_headers(runpod_input *in, um_error *err)
{
    json_t *h = json_object_get(in->root, "source_headers");
    if (!h || json_is_null(h))
        return 0;
    if (!json_is_object(h))
        return bad(err, "source_headers", "must be an object of header names to values");
    if (json_object_size(h) > MAX_HEADERS)
        return bad(err, "source_headers", "at most 32 headers");
    in->headers = um_xcalloc(json_object_size(h) + 1, sizeof(char *));
    size_t n = 0;
    const char *key;
    json_t *value;
    json_object_foreach(h, key, value) {
        char field[192];
        snprintf(field, sizeof(field), "source_headers.%.128s", key);
        if (!um_storage_header_name_ok(key))
            return bad(err, field, "not an HTTP header name");
        if (!json_is_string(value) || strpbrk(json_string_value(value), "\r\n") ||
            json_string_length(value) > MAX_HEADER_VALUE)
            return bad(err, field, "must be a string of one line, at most 4096 characters");
        size_t size = strlen(key) + json_string_length(value) + 3;
        in->headers[n] = um_xmalloc(size);
        snprintf(in->headers[n++], size, "%s: %s", key, json_string_value(value));
    }
    return 0;
}

/* The extension of a file name ("" when none). */
static const char *extension(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot && dot != name ? dot : "";
}

static int is_writable(const char *ext)
{
    for (size_t i = 0; i < COUNT(writable); i++)
        if (strcasecmp(ext, writable[i]) == 0)
            return 1;
    return 0;
}

/* What the source's file is called: its last path component without a
 * query or fragment (an S3 key's last component); "" for base64 and data:
 * URLs, which carry no name. */
static void source_base(const runpod_input *in, char *out, size_t cap)
{
    const char *s = in->source;
    if (in->kind == RUNPOD_SOURCE_BASE64 || strncmp(s, "data:", 5) == 0)
        s = "";
    int s3 = in->kind == RUNPOD_SOURCE_S3 || in->kind == RUNPOD_SOURCE_S3_KEY;
    size_t n = s3 ? strlen(s) : strcspn(s, "?#");
    const char *start = s;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '/')
            start = s + i + 1;
    snprintf(out, cap, "%.*s", (int)(n - (size_t)(start - s)), start);
}

/* The input's name (filename, else the source's) and the output's
 * (output_filename, else "<input stem>_clean<ext>", .mp4 when the input's
 * extension is none the writer takes). */
static int make_names(runpod_input *in, um_error *err)
{
    const char *filename, *output;
    char base[RUNPOD_NAME_SIZE * 2];
    if (opt_string(in->root, "filename", "filename", &filename, err) < 0 ||
        opt_string(in->root, "output_filename", "output_filename", &output, err) < 0)
        return -1;
    if (!filename)
        source_base(in, base, sizeof(base));
    um_storage_sanitize_filename(filename ? filename : base, "input", in->input_name,
                                 sizeof(in->input_name));
    if (output) {
        um_storage_sanitize_filename(output, "output.mp4", in->output_name, sizeof(in->output_name));
        if (!is_writable(extension(in->output_name)))
            return bad(err, "output_filename",
                       "the extension must be one of .mp4, .mov, .mkv, .png, .jpg, .jpeg or .webp");
        return 0;
    }
    const char *ext = extension(in->input_name);
    int stem = (int)(strlen(in->input_name) - strlen(ext));
    if (snprintf(in->output_name, sizeof(in->output_name), "%.*s_clean%s", stem, in->input_name,
                 is_writable(ext) ? ext : ".mp4") >= (int)sizeof(in->output_name))
        return bad(err, "filename", "too long");
    return 0;
}

/* s with every "{job_id}" replaced by job_id: a new string. */
static char *with_job_id(const char *s, const char *job_id)
{
    size_t count = 0, idlen = strlen(job_id);
    for (const char *p = strstr(s, "{job_id}"); p; p = strstr(p + 8, "{job_id}"))
        count++;
    char *out = um_xmalloc(strlen(s) + count * idlen + 1), *o = out;
    const char *hit;
    while ((hit = strstr(s, "{job_id}")) != NULL) {
        memcpy(o, s, (size_t)(hit - s));
        o += hit - s;
        memcpy(o, job_id, idlen);
        o += idlen;
        s = hit + 8;
    }
    strcpy(o, s);
    return out;
}

/* Where an uploaded result goes: s3_prefix (default jobs/{job_id}, with
 * {job_id} replaced; slashes at its ends dropped), then the output's name. */
static int make_s3_key(runpod_input *in, const char *job_id, um_error *err)
{
    const char *prefix;
    if (opt_string(in->root, "s3_prefix", "s3_prefix", &prefix, err) < 0)
        return -1;
    if (prefix && strlen(prefix) > MAX_PREFIX)
        return bad(err, "s3_prefix", "longer than 1024 characters");
    if (!in->s3.bucket)
        return 0;
    char *expanded = with_job_id(prefix ? prefix : DEFAULT_PREFIX, job_id), *start = expanded;
    while (*start == '/')
        start++;
    size_t n = strlen(start);
    while (n && start[n - 1] == '/')
        n--;
    size_t size = n + strlen(in->output_name) + 2;
    in->s3_key = um_xmalloc(size);
    snprintf(in->s3_key, size, "%.*s%s%s", (int)n, start, n ? "/" : "", in->output_name);
    free(expanded);
    return 0;
}

/* watermark_config, checked as the job API checks its removal options. */
static int parse_watermark_config(runpod_input *in, um_error *err)
{
    json_t *w = json_object_get(in->root, "watermark_config");
    char field[JOB_FIELD_SIZE];
    if (!w || json_is_null(w))
        return 0;
    if (job_config_check(w, "watermark_removal", "watermark_config", field, err) < 0)
        return -1;
    in->config = um_check_alloc(json_dumps(w, JSON_COMPACT), "watermark_config");
    return 0;
}

/* Logs the members no field above is. */
static void note_unknown(const runpod_input *in, const char *job_id)
{
    const char *key;
    json_t *v;
    json_object_foreach(in->root, key, v) {
        int known = 0;
        for (size_t i = 0; i < COUNT(source_fields); i++)
            known |= strcmp(key, source_fields[i]) == 0;
        for (size_t i = 0; i < COUNT(other_fields); i++)
            known |= strcmp(key, other_fields[i]) == 0;
        if (!known)
            um_log(UM_LOG_WARN, "runpod: job %s: input field \"%.100s\" is unknown; ignored", job_id, key);
    }
}

int runpod_input_parse(const char *job_id, const char *input_json, runpod_input *in, um_error *err)
{
    json_error_t jerr;
    memset(in, 0, sizeof(*in));
    in->root = json_loads(input_json, 0, &jerr);
    if (!in->root) {
        um_error_set(err, UM_ERR_USAGE, "input: not JSON: %s", jerr.text);
        return -1;
    }
    if (!json_is_object(in->root))
        return bad(err, "input", "must be a JSON object");
    if (pick_source(in, err) < 0 || check_source(in, err) < 0 || parse_s3_config(in, err) < 0 ||
        check_source_needs(in, err) < 0 || parse_headers(in, err) < 0 ||
        opt_bool(in->root, "source_verify_ssl", "source_verify_ssl", 1, &in->verify_tls, err) < 0 ||
        make_names(in, err) < 0 || make_s3_key(in, job_id, err) < 0 || parse_watermark_config(in, err) < 0)
        return -1;
    note_unknown(in, job_id);
    return 0;
}

void runpod_input_clear(runpod_input *in)
{
    for (size_t i = 0; in->headers && in->headers[i]; i++)
        free(in->headers[i]);
    free(in->headers);
    free(in->s3_key);
    free(in->config);
    json_decref(in->root);
    memset(in, 0, sizeof(*in));
}
