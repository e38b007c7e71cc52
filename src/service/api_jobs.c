/*
 * The job endpoints: submit (POST /jobs), list, get, change (PATCH), cancel
 * and download the result. Submission does what must happen before a job
 * is stored: bytes sent in the body (a data: URI or source_base64) are
 * decoded to a file in the data folder, so the store keeps a path and not
 * the bytes, and a job without a target gets one in the data folder.
 */
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "service/service_internal.h"
#include "unmark/storage.h"

#define LIST_DEFAULT 50
#define LIST_MAX 1000

/* The body as a JSON value, or NULL after answering 400. */
static json_t *parse_body(struct MHD_Connection *c, const char *text, size_t size)
{
    json_error_t jerr;
    json_t *body = json_loadb(text ? text : "", size, 0, &jerr);
    if (!body) {
        char msg[256];
        snprintf(msg, sizeof(msg), "the body is not JSON: %s (line %d, column %d)", jerr.text,
                 jerr.line, jerr.column);
        http_send_error(c, MHD_HTTP_BAD_REQUEST, msg, "body");
    }
    return body;
}

/* The file's extension from its first bytes, for bytes sent without a
 * media type: "" when unknown. */
static const char *sniff_extension(const char *path)
{
    unsigned char b[12] = {0};
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(b, 1, sizeof(b), f) : 0;
    if (f)
        fclose(f);
    if (n >= 8 && memcmp(b, "\x89PNG", 4) == 0)
        return ".png";
    if (n >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF)
        return ".jpg";
    if (n >= 12 && memcmp(b, "RIFF", 4) == 0 && memcmp(b + 8, "WEBP", 4) == 0)
        return ".webp";
    if (n >= 8 && memcmp(b + 4, "ftyp", 4) == 0)
        return ".mp4";
    if (n >= 4 && memcmp(b, "\x1A\x45\xDF\xA3", 4) == 0)
        return ".mkv";
    return "";
}

/* Decodes a data: source into the job's upload folder; the job's source
 * becomes the file. A .bin name (no media type given) gets the extension
 * its bytes show, since the reader and the result's name go by it. */
static int decode_source(service_state *s, um_job *job, um_error *err)
{
    char dir[4096];
    char *local = NULL;
    int downloaded = 0;
    um_storage_context ctx = {0};
    um_storage_fetch_options_init(&ctx.fetch);
    ctx.fetch.max_bytes = s->config->max_upload;
    if (service_job_dir(s, "uploads", job->id, dir, sizeof(dir), err) < 0)
        return -1;
    if (um_storage_fetch_source(job->source_uri, &ctx, dir, &local, &downloaded, err) < 0) {
        service_remove_tree(dir);
        return -1;
    }
    size_t n = strlen(local);
    const char *ext = n > 4 && strcmp(local + n - 4, ".bin") == 0 ? sniff_extension(local) : NULL;
    if (ext && *ext) {
        char *renamed = um_xmalloc(n + 8);
        snprintf(renamed, n + 8, "%.*s%s", (int)(n - 4), local, ext);
        if (rename(local, renamed) == 0) {
            free(local);
            local = renamed;
        } else
            free(renamed);
    }
    free(job->source_uri);
    job->source_uri = local;
    return 0;
}

int service_result_target(service_state *s, um_job *job, const char *name, um_error *err)
{
    char dir[4096];
    if (service_job_dir(s, "results", job->id, dir, sizeof(dir), err) < 0)
        return -1;
    job->target_uri = service_path_join(dir, name, "");
    return 0;
}

/* A job with no target writes into the data folder, named after its source. */
static int default_target(service_state *s, um_job *job, um_error *err)
{
    char name[160];
    job_result_name(job->source_uri, name, sizeof(name));
    return service_result_target(s, job, name, err);
}

int api_submit(struct MHD_Connection *c, service_state *s, um_job *job)
{
    um_error err = {0};
    int result;
    if (strncmp(job->source_uri, "data:", 5) == 0 && decode_source(s, job, &err) < 0) {
        result = http_send_error(c, err.status == UM_ERR_OUTPUT ? MHD_HTTP_INTERNAL_SERVER_ERROR
                                                                : MHD_HTTP_BAD_REQUEST,
                                 err.msg, "source");
        goto done;
    }
    if (!job->target_uri && default_target(s, job, &err) < 0) {
        result = http_send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, err.msg, NULL);
        goto done;
    }
    if (um_store_insert(s->store, job, &err) < 0) {
        result = http_store_failure(c, &err);
        goto done;
    }
    service_wake_workers(s);
    result = http_send_json(c, MHD_HTTP_ACCEPTED, job_to_json(job));
done:
    um_job_clear(job);
    return result;
}

int api_post_job(struct MHD_Connection *c, service_state *s, const char *text, size_t size)
{
    json_t *body = parse_body(c, text, size);
    if (!body)
        return MHD_YES;
    um_job job;
    um_error err = {0};
    char field[JOB_FIELD_SIZE] = "";
    int ok = job_from_json(body, &job, field, &err) == 0;
    json_decref(body);
    if (!ok)
        return http_send_error(c, MHD_HTTP_BAD_REQUEST, err.msg, field);
    return api_submit(c, s, &job);
}

static int query_int(struct MHD_Connection *c, const char *name, int fallback, int lo, int hi)
{
    const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
    if (!v)
        return fallback;
    char *end;
    long n = strtol(v, &end, 10);
    return *end || n < lo || n > hi ? -1 : (int)n;
}

static int status_from_name(const char *name)
{
    for (int i = UM_JOB_QUEUED; i <= UM_JOB_CANCELED; i++)
        if (strcmp(name, um_job_status_name((um_job_status)i)) == 0)
            return i;
    return -2;
}

int api_list_jobs(struct MHD_Connection *c, service_state *s)
{
    int limit = query_int(c, "limit", LIST_DEFAULT, 1, LIST_MAX);
    int offset = query_int(c, "offset", 0, 0, 1 << 30);
    const char *st = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "status");
    int status = st ? status_from_name(st) : -1;
    if (limit < 0)
        return http_send_error(c, MHD_HTTP_BAD_REQUEST, "limit: a whole number from 1 to 1000", "limit");
    if (offset < 0)
        return http_send_error(c, MHD_HTTP_BAD_REQUEST, "offset: a whole number from 0", "offset");
    if (status == -2)
        return http_send_error(c, MHD_HTTP_BAD_REQUEST,
                               "status: one of queued, processing, completed, failed, canceled", "status");
    um_job *jobs = NULL;
    int n = 0;
    um_error err = {0};
    if (um_store_list(s->store, status, limit, offset, &jobs, &n, &err) < 0)
        return http_store_failure(c, &err);
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) {
        json_array_append_new(arr, job_to_json(&jobs[i]));
        um_job_clear(&jobs[i]);
    }
    free(jobs);
    return http_send_json(c, MHD_HTTP_OK,
                          json_pack("{s:o,s:i,s:i}", "jobs", arr, "limit", limit, "offset", offset));
}

/* The job into *job: 1; 0 after answering 404 or 500. */
static int find_job(struct MHD_Connection *c, service_state *s, const char *id, um_job *job)
{
    um_error err = {0};
    int found = um_store_get(s->store, id, job, &err);
    if (found < 0)
        http_store_failure(c, &err);
    else if (!found)
        http_send_error(c, MHD_HTTP_NOT_FOUND, "no such job", "id");
    return found > 0;
}

int api_get_job(struct MHD_Connection *c, service_state *s, const char *id)
{
    um_job job = {0};
    if (!find_job(c, s, id, &job))
        return MHD_YES;
    json_t *out = job_to_json(&job);
    um_job_clear(&job);
    return http_send_json(c, MHD_HTTP_OK, out);
}

/* 409 naming the job's status, for a change it no longer allows. */
static int conflict(struct MHD_Connection *c, service_state *s, const char *id, const char *what)
{
    um_job job = {0};
    if (!find_job(c, s, id, &job))
        return MHD_YES;
    char msg[160];
    snprintf(msg, sizeof(msg), "the job is %s: %s", um_job_status_name(job.status), what);
    um_job_clear(&job);
    return http_send_error(c, MHD_HTTP_CONFLICT, msg, "status");
}

int api_cancel_job(struct MHD_Connection *c, service_state *s, const char *id)
{
    um_error err = {0};
    int done = um_store_cancel(s->store, id, &err);
    if (done < 0)
        return http_store_failure(c, &err);
    if (!done)
        return conflict(c, s, id, "it has already ended");
    return api_get_job(c, s, id);
}

/* PATCH takes priority and metadata, while the job is queued. */
static int patch_fields(json_t *body, int *priority, char **metadata, char *field)
{
    const char *key;
    json_t *v;
    if (!json_is_object(body))
        return snprintf(field, JOB_FIELD_SIZE, "body"), -1;
    json_object_foreach(body, key, v) {
        if (strcmp(key, "priority") == 0 && json_is_integer(v) && json_integer_value(v) >= 1 &&
            json_integer_value(v) <= 10)
            *priority = (int)json_integer_value(v);
        else if (strcmp(key, "metadata") == 0 && json_is_object(v)) {
            free(*metadata);
            *metadata = json_dumps(v, JSON_COMPACT);
        } else
            return snprintf(field, JOB_FIELD_SIZE, "%.80s", key), -1;
    }
    return 0;
}

int api_patch_job(struct MHD_Connection *c, service_state *s, const char *id, const char *text,
                  size_t size)
{
    json_t *body = parse_body(c, text, size);
    if (!body)
        return MHD_YES;
    int priority = 0;
    char *metadata = NULL, field[JOB_FIELD_SIZE] = "";
    int ok = patch_fields(body, &priority, &metadata, field) == 0;
    json_decref(body);
    if (!ok) {
        free(metadata);
        return http_send_error(c, MHD_HTTP_BAD_REQUEST,
                               "PATCH takes an object of priority (1 to 10) and metadata (an object)",
                               field);
    }
    um_error err = {0};
    int done = um_store_update(s->store, id, priority, metadata, &err);
    free(metadata);
    if (done < 0)
        return http_store_failure(c, &err);
    if (!done)
        return conflict(c, s, id, "only a queued job can be changed");
    return api_get_job(c, s, id);
}

/* Sends a local result file, streamed from disk (sendfile where it can). */
static int send_file(struct MHD_Connection *c, const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0)
            close(fd);
        return http_send_error(c, MHD_HTTP_GONE, "the result file is no longer there", NULL);
    }
    struct MHD_Response *r = MHD_create_response_from_fd((uint64_t)st.st_size, fd);
    const char *slash = strrchr(path, '/');
    char disposition[300];
    snprintf(disposition, sizeof(disposition), "attachment; filename=\"%.200s\"", slash ? slash + 1 : path);
    MHD_add_response_header(r, "Content-Type", um_storage_content_type(path));
    MHD_add_response_header(r, "Content-Disposition", disposition);
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

/* The result: the file itself when it is local, a redirect to its URL
 * (a presigned S3 GET) when it is not. */
int api_job_result(struct MHD_Connection *c, service_state *s, const char *id)
{
    um_job job = {0};
    if (!find_job(c, s, id, &job))
        return MHD_YES;
    int ret;
    if (job.status != UM_JOB_COMPLETED || !job.result_url) {
        char msg[160];
        snprintf(msg, sizeof(msg), "the job is %s: a result exists once it is completed",
                 um_job_status_name(job.status));
        ret = http_send_error(c, MHD_HTTP_CONFLICT, msg, "status");
    } else if (strncmp(job.result_url, "file://", 7) == 0) {
        ret = send_file(c, job.result_url + 7);
    } else {
        struct MHD_Response *r = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
        MHD_add_response_header(r, "Location", job.result_url);
        ret = MHD_queue_response(c, MHD_HTTP_FOUND, r);
        MHD_destroy_response(r);
    }
    um_job_clear(&job);
    return ret;
}
