/*
 * POST /jobs/upload: a job whose input comes in the request, as
 * multipart/form-data with the fields file, job_type, priority,
 * target_filename, metadata_json, watermark_config_json and
 * transcode_config_json.
 *
 * The file is streamed to the job's upload folder as it arrives (through
 * libmicrohttpd's post processor), never held whole in memory; the other
 * fields are small and capped. At the body's end the fields become the
 * same JSON a POST /jobs takes and go through the same checks, so the two
 * endpoints cannot drift apart. A body that ends early (truncated
 * multipart), a file over the upload cap, or a bad field leaves nothing
 * behind: the folder is removed unless a job took it.
 */
#include <errno.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "service/service_internal.h"
#include "unmark/storage.h"

#define FIELD_CAP (64 * 1024)
#define PP_BUFFER (64 * 1024)

typedef enum { F_JOB_TYPE, F_PRIORITY, F_TARGET, F_METADATA, F_CONFIG, F_TRANSCODE, F_COUNT } text_field;

static const char *const field_names[F_COUNT] = {"job_type",      "priority",
                                                 "target_filename", "metadata_json",
                                                 "watermark_config_json", "transcode_config_json"};

struct api_upload {
    service_state *state;
    struct MHD_PostProcessor *pp;
    char id[UM_JOB_ID_SIZE];
    char dir[4096];
    char *part, *path;           /* the file being written, and its final name */
    FILE *file;
    int64_t file_bytes;
    char *text[F_COUNT];         /* the other fields, NUL-terminated */
    size_t text_size[F_COUNT];
    unsigned status;             /* an error to answer, 0 when none */
    char message[256], field[JOB_FIELD_SIZE];
    int taken;                   /* a job owns the file now */
};

/* Records the first error; later ones are consequences. Returns MHD_NO so
 * the post processor stops. */
static enum MHD_Result refuse(api_upload *u, unsigned status, const char *field, const char *message)
{
    if (!u->status) {
        u->status = status;
        snprintf(u->field, sizeof(u->field), "%s", field);
        snprintf(u->message, sizeof(u->message), "%s", message);
    }
    return MHD_NO;
}

/* The file field's first piece: names the file and opens its .part. */
static enum MHD_Result open_file(api_upload *u, const char *filename)
{
    char name[128], dir_err[256];
    um_error err = {0};
    if (u->file || u->path)
        return refuse(u, MHD_HTTP_BAD_REQUEST, "file", "file: only one file per upload");
    if (service_job_dir(u->state, "uploads", u->id, u->dir, sizeof(u->dir), &err) < 0) {
        snprintf(dir_err, sizeof(dir_err), "%.200s", err.msg);
        return refuse(u, MHD_HTTP_INTERNAL_SERVER_ERROR, "file", dir_err);
    }
    um_storage_sanitize_filename(filename ? filename : "", "upload.mp4", name, sizeof(name));
    u->path = service_path_join(u->dir, name, "");
    u->part = service_path_join(u->dir, name, ".part");
    u->file = fopen(u->part, "wb");
    if (!u->file)
        return refuse(u, MHD_HTTP_INTERNAL_SERVER_ERROR, "file", "cannot write the upload to the data folder");
    return MHD_YES;
}

static enum MHD_Result take_file(api_upload *u, const char *filename, const char *data, uint64_t off,
                                 size_t size)
{
    if (off == 0 && !u->file && open_file(u, filename) == MHD_NO)
        return MHD_NO;
    if (!u->file)
        return MHD_NO;
    u->file_bytes += (int64_t)size;
    if (u->file_bytes > u->state->config->max_upload)
        return refuse(u, MHD_HTTP_CONTENT_TOO_LARGE, "file", "file: larger than the server accepts");
    if (size && fwrite(data, 1, size, u->file) != size)
        return refuse(u, MHD_HTTP_INTERNAL_SERVER_ERROR, "file", "cannot write the upload to the data folder");
    return MHD_YES;
}

static enum MHD_Result take_text(api_upload *u, text_field f, const char *data, size_t size)
{
    if (u->text_size[f] + size > FIELD_CAP) {
        char msg[128];
        snprintf(msg, sizeof(msg), "%s: longer than 65536 bytes", field_names[f]);
        return refuse(u, MHD_HTTP_CONTENT_TOO_LARGE, field_names[f], msg);
    }
    u->text[f] = um_xrealloc(u->text[f], u->text_size[f] + size + 1);
    memcpy(u->text[f] + u->text_size[f], data, size);
    u->text_size[f] += size;
    u->text[f][u->text_size[f]] = 0;
    return MHD_YES;
}

/* The post processor's callback: one piece of one field. */
static enum MHD_Result on_field(void *cls, enum MHD_ValueKind kind, const char *key,
                                const char *filename, const char *type, const char *encoding,
                                const char *data, uint64_t off, size_t size)
{
    (void)kind, (void)type, (void)encoding;
    api_upload *u = cls;
    if (u->status)
        return MHD_NO;
    if (strcmp(key, "file") == 0)
        return take_file(u, filename, data, off, size);
    for (int f = 0; f < F_COUNT; f++)
        if (strcmp(key, field_names[f]) == 0)
            return take_text(u, (text_field)f, data, size);
    char msg[160];
    snprintf(msg, sizeof(msg), "%.80s: unknown field", key);
    return refuse(u, MHD_HTTP_BAD_REQUEST, key, msg);
}

api_upload *api_upload_begin(struct MHD_Connection *c, service_state *s)
{
    const char *type = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (!type || strncasecmp(type, "multipart/form-data", 19) != 0) {
        http_send_error(c, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "send the upload as multipart/form-data",
                        "Content-Type");
        return NULL;
    }
    api_upload *u = um_xcalloc(1, sizeof(*u));
    u->state = s;
    um_job id_holder = {0};
    um_job_new_id(&id_holder);
    memcpy(u->id, id_holder.id, sizeof(u->id));
    u->pp = MHD_create_post_processor(c, PP_BUFFER, on_field, u);
    if (!u->pp) {
        free(u);
        http_send_error(c, MHD_HTTP_BAD_REQUEST, "the multipart body has no usable boundary",
                        "Content-Type");
        return NULL;
    }
    return u;
}

void api_upload_feed(api_upload *u, const char *data, size_t size)
{
    if (u->status)
        return;
    if (MHD_post_process(u->pp, data, size) == MHD_NO)
        refuse(u, MHD_HTTP_BAD_REQUEST, "body", "the multipart body is malformed");
}

/* Ends the body: closes the file and checks the multipart ended properly. */
static void end_body(api_upload *u)
{
    if (MHD_destroy_post_processor(u->pp) == MHD_NO)
        refuse(u, MHD_HTTP_BAD_REQUEST, "body", "the multipart body is truncated or malformed");
    u->pp = NULL;
    if (u->file && fclose(u->file) != 0)
        refuse(u, MHD_HTTP_INTERNAL_SERVER_ERROR, "file", "cannot write the upload to the data folder");
    u->file = NULL;
    if (!u->status && !u->path)
        refuse(u, MHD_HTTP_BAD_REQUEST, "file", "file: missing (send the input as the field \"file\")");
    if (!u->status && rename(u->part, u->path) != 0)
        refuse(u, MHD_HTTP_INTERNAL_SERVER_ERROR, "file", "cannot write the upload to the data folder");
}

/* A JSON-text field parsed into body[name]; -1 when it is not JSON. */
static int add_json_field(json_t *body, const char *name, const char *text)
{
    if (!text)
        return 0;
    json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
    if (!v)
        return -1;
    json_object_set_new(body, name, v);
    return 0;
}

/* The form's fields as a POST /jobs body; NULL after recording an error. */
static json_t *form_to_body(api_upload *u)
{
    json_t *body = json_pack("{s:s}", "source_uri", u->path);
    if (u->text[F_JOB_TYPE])
        json_object_set_new(body, "job_type", json_string(u->text[F_JOB_TYPE]));
    if (u->text[F_PRIORITY]) {
        char *end;
        long p = strtol(u->text[F_PRIORITY], &end, 10);
        /* a non-number is passed on as text, so the shared check names it */
        json_object_set_new(body, "priority",
                            *end || end == u->text[F_PRIORITY] ? json_string(u->text[F_PRIORITY])
                                                               : json_integer(p));
    }
    if (add_json_field(body, "metadata", u->text[F_METADATA]) < 0) {
        refuse(u, MHD_HTTP_BAD_REQUEST, "metadata_json", "metadata_json: not JSON");
    } else if (add_json_field(body, "watermark_removal_config", u->text[F_CONFIG]) < 0) {
        refuse(u, MHD_HTTP_BAD_REQUEST, "watermark_config_json", "watermark_config_json: not JSON");
    } else if (add_json_field(body, "transcode_config", u->text[F_TRANSCODE]) < 0) {
        refuse(u, MHD_HTTP_BAD_REQUEST, "transcode_config_json", "transcode_config_json: not JSON");
    } else {
        return body;
    }
    json_decref(body);
    return NULL;
}

/* The target, results/ID/NAME, from target_filename (sanitised). */
static int set_target(api_upload *u, um_job *job, um_error *err)
{
    char name[160];
    if (!u->text[F_TARGET])
        return 0; /* api_submit picks the default */
    um_storage_sanitize_filename(u->text[F_TARGET], "result.mp4", name, sizeof(name));
    return service_result_target(u->state, job, name, err);
}

/* The field a job check named, as the form calls it. */
static void form_field_name(const char *json_field, char *out)
{
    if (strncmp(json_field, "metadata", 8) == 0)
        snprintf(out, JOB_FIELD_SIZE, "metadata_json%.60s", json_field + 8);
    else if (strncmp(json_field, "watermark_removal_config", 24) == 0)
        snprintf(out, JOB_FIELD_SIZE, "watermark_config_json%.60s", json_field + 24);
    else if (strncmp(json_field, "transcode_config", 16) == 0)
        snprintf(out, JOB_FIELD_SIZE, "transcode_config_json%.60s", json_field + 16);
    else
        snprintf(out, JOB_FIELD_SIZE, "%s", json_field);
}

/*
 * On a fleet the workers cannot read this server's data folder: with a
 * bucket for uploads (UNMARK_S3_BUCKET), the upload is put there as
 * uploads/ID/NAME and the job's source becomes that object; the local
 * copy is then removed with the upload's folder.
 */
static int share_upload(api_upload *u, um_job *job, um_error *err)
{
    const um_storage_s3 *s3 = &u->state->config->s3;
    if (!s3->bucket || !*s3->bucket)
        return 0;
    const char *slash = strrchr(u->path, '/');
    const char *name = slash ? slash + 1 : u->path;
    char key[256];
    snprintf(key, sizeof(key), "uploads/%s/%s", job->id, name);
    if (um_storage_s3_put(s3, key, u->path, um_storage_content_type(name), err) < 0)
        return -1;
    size_t cap = strlen(s3->bucket) + strlen(key) + sizeof("s3:///");
    free(job->source_uri);
    job->source_uri = um_xmalloc(cap);
    snprintf(job->source_uri, cap, "s3://%s/%s", s3->bucket, key);
    um_log(UM_LOG_INFO, "job %s: upload stored as %s", job->id, job->source_uri);
    return 0;
}

int api_upload_finish(struct MHD_Connection *c, api_upload *u)
{
    end_body(u);
    json_t *body = u->status ? NULL : form_to_body(u);
    if (!body)
        return http_send_error(c, u->status, u->message, u->field);
    um_job job;
    um_error err = {0};
    char field[JOB_FIELD_SIZE] = "", form_field[JOB_FIELD_SIZE];
    int ok = job_from_json(body, &job, field, &err) == 0;
    json_decref(body);
    if (!ok) {
        /* the checks' messages start "FIELD: why"; the form calls it otherwise */
        char msg[sizeof(err.msg) + JOB_FIELD_SIZE];
        const char *why = strstr(err.msg, ": ");
        form_field_name(field, form_field);
        snprintf(msg, sizeof(msg), "%s%s", form_field, why ? why : err.msg);
        return http_send_error(c, MHD_HTTP_BAD_REQUEST, msg, form_field);
    }
    memcpy(job.id, u->id, sizeof(job.id));
    if (set_target(u, &job, &err) < 0) {
        um_job_clear(&job);
        return http_send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, err.msg, NULL);
    }
    if (share_upload(u, &job, &err) < 0) {
        char msg[sizeof(err.msg) + 64];
        snprintf(msg, sizeof(msg), "cannot store the upload in S3: %s", err.msg);
        um_log(UM_LOG_ERROR, "job %s: %s", job.id, msg);
        um_job_clear(&job);
        return http_send_error(c, MHD_HTTP_BAD_GATEWAY, msg, "file");
    }
    u->taken = strcmp(job.source_uri, u->path) == 0; /* shared: the local copy goes */
    return api_submit(c, u->state, &job);
}

void api_upload_free(api_upload *u)
{
    if (!u)
        return;
    if (u->pp)
        MHD_destroy_post_processor(u->pp);
    if (u->file)
        fclose(u->file);
    if (!u->taken && u->dir[0])
        service_remove_tree(u->dir);
    for (int f = 0; f < F_COUNT; f++)
        free(u->text[f]);
    free(u->part);
    free(u->path);
    free(u);
}
