/*
 * One RunPod job, run as the Python handler it replaces ran it: the source
 * made a local file (downloads under DATA/runpod/JOB_ID/download/), the
 * watermark removed into DATA/runpod/JOB_ID/OUTPUT_NAME by the pipeline,
 * and the result uploaded to S3 and answered as a presigned URL when the
 * input names a bucket, else answered as its local path. Downloads are
 * deleted after the job, and so is an uploaded result's local copy: the
 * answer never carries the video itself.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "runpod/runpod_internal.h"
#include "service/service_internal.h"

#define DEFAULT_PING_INTERVAL_MS 10000

void um_runpod_config_init(um_runpod_config *c)
{
    memset(c, 0, sizeof(*c));
    c->ping_interval_ms = DEFAULT_PING_INTERVAL_MS;
    c->data_dir = UM_SERVICE_DEFAULT_DATA_DIR;
    c->result_ttl = UM_SERVICE_DEFAULT_RESULT_TTL;
    um_media_options_init(&c->media);
}

/* The files of one job. */
typedef struct {
    char dir[PATH_MAX];            /* DATA/runpod/JOB_ID, "" until known */
    char download_dir[PATH_MAX];   /* dir/download */
    char *input;                   /* the local input */
    int downloaded;                /* input is a download of ours, deleted after the job */
    char output[PATH_MAX];
} job_files;

static int make_dir(const char *path, um_error *err)
{
    if (mkdir(path, 0755) < 0 && errno != EEXIST) {
        um_error_set(err, UM_ERR_OUTPUT, "cannot create the folder %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* out = dir/name, or an error when that is longer than PATH_MAX. */
static int join_path(char *out, const char *dir, const char *name, um_error *err)
{
    if (snprintf(out, PATH_MAX, "%s/%s", dir, name) >= PATH_MAX) {
        um_error_set(err, UM_ERR_OUTPUT, "a path is too long: %.200s/%.100s", dir, name);
        return -1;
    }
    return 0;
}

/* DATA, DATA/runpod, DATA/runpod/JOB_ID (the id made a safe name) and its
 * download folder. */
static int make_job_dirs(const um_runpod_config *c, const char *job_id, job_files *f, um_error *err)
{
    char safe[RUNPOD_NAME_SIZE], runpod[PATH_MAX];
    um_storage_sanitize_filename(job_id, "job", safe, sizeof(safe));
    if (join_path(runpod, c->data_dir, "runpod", err) < 0 || join_path(f->dir, runpod, safe, err) < 0 ||
        join_path(f->download_dir, f->dir, "download", err) < 0)
        return -1;
    if (make_dir(c->data_dir, err) < 0 || make_dir(runpod, err) < 0 || make_dir(f->dir, err) < 0)
        return -1;
    return make_dir(f->download_dir, err);
}

/* A log's words for the source: never base64 text or a URL's query (a
 * presigned URL's signature is in it). */
static void describe_source(const runpod_input *in, char *out, size_t cap)
{
    switch (in->kind) {
    case RUNPOD_SOURCE_BASE64: snprintf(out, cap, "base64 (%zu characters)", strlen(in->source)); break;
    case RUNPOD_SOURCE_S3: snprintf(out, cap, "s3://%s/%s", in->source_bucket, in->source); break;
    case RUNPOD_SOURCE_S3_KEY: snprintf(out, cap, "s3://%s/%s", in->s3.bucket, in->source); break;
    default:
        if (strncmp(in->source, "data:", 5) == 0)
            snprintf(out, cap, "a data: URL (%zu characters)", strlen(in->source));
        else
            runpod_url_for_log(in->source, out, cap);
    }
}

/* A path or URI through the storage module, with the input's headers and
 * TLS choice for http(s) and s3Config's credentials for s3://. */
static int fetch_uri(const um_runpod_config *c, const runpod_input *in, job_files *f, um_error *err)
{
    um_storage_context ctx;
    ctx.s3 = in->s3;
    um_storage_fetch_options_init(&ctx.fetch);
    ctx.fetch.headers = (const char *const *)in->headers;
    ctx.fetch.verify_tls = in->verify_tls;
    ctx.fetch.allow_private = c->allow_private;
    ctx.fetch.cancel = c->cancel;
    return um_storage_fetch_source(in->source, &ctx, f->download_dir, &f->input, &f->downloaded, err);
}

/* base64 or an S3 object, into download/INPUT_NAME. */
static int fetch_to_file(const runpod_input *in, job_files *f, um_error *err)
{
    char path[PATH_MAX];
    if (join_path(path, f->download_dir, in->input_name, err) < 0)
        return -1;
    um_storage_s3 s3 = in->s3;
    if (in->kind == RUNPOD_SOURCE_S3)
        s3.bucket = in->source_bucket;
    int rc = in->kind == RUNPOD_SOURCE_BASE64 ? um_storage_decode_to_file(in->source, 0, path, err)
                                               : um_storage_s3_get(&s3, in->source, path, 0, err);
    if (rc < 0)
        return -1;
    f->input = um_xstrdup(path);
    f->downloaded = 1;
    return 0;
}

/* The source made a local file; a failure names the source's field. */
static int fetch_source(const um_runpod_config *c, const runpod_input *in, job_files *f, um_error *err)
{
    um_error e = {0};
    int rc = in->kind == RUNPOD_SOURCE_URI || in->kind == RUNPOD_SOURCE_URL ? fetch_uri(c, in, f, &e)
                                                                             : fetch_to_file(in, f, &e);
    if (rc < 0) {
        um_error_set(err, e.status, "%s: %s", in->source_field, e.msg);
        return -1;
    }
    if (!f->downloaded && access(f->input, R_OK) < 0) {
        um_error_set(err, UM_ERR_INPUT, "%s: %s: %s", in->source_field, f->input, strerror(errno));
        return -1;
    }
    return 0;
}

/* The pipeline, with the removal options the job API's workers use. */
static int remove_watermark(const um_runpod_config *c, const char *job_id, const runpod_input *in,
                            job_files *f, um_progress_fn progress, void *opaque, um_error *err)
{
    char type[] = "watermark_removal";
    um_job job;
    job_options o;
    json_t *holder;
    um_region regions[JOB_MAX_REGIONS];
    um_pipeline_job pj;
    um_pipeline_result res;
    memset(&job, 0, sizeof(job));
    job.job_type = type;
    job.source_uri = f->input;
    job.target_uri = f->output;
    job.config = in->config;
    if (job_options_parse(in->config, &o, &holder, err) < 0)
        return -1;
    job_describe(&job, &o, &c->media, regions, &pj);
    pj.progress = progress;
    pj.progress_opaque = opaque;
    pj.cancel = c->cancel;
    int rc = um_pipeline_run(&pj, &res, err);
    um_memory_give_back(); /* the removal's freed heap, kept for its passes */
    json_decref(holder);
    if (rc == 0)
        um_log(UM_LOG_INFO, "runpod: job %s: %lld frame(s) in %.1f s (decode %s, encode %s)", job_id,
               (long long)res.frames, res.seconds, res.decode_path, res.encode_path);
    return rc;
}

/* The Content-Type an uploaded result gets, by its extension. */
/* Uploads the result to s3://bucketName/KEY and presigns a GET for it. */
static int upload_result(const um_runpod_config *c, const char *job_id, const runpod_input *in,
                         const job_files *f, char **url, um_error *err)
{
    um_error e = {0};
    if (um_storage_s3_put(&in->s3, in->s3_key, f->output, um_storage_content_type(in->output_name), &e) < 0 ||
        um_storage_s3_presign_get(&in->s3, in->s3_key, c->result_ttl, time(NULL), url, &e) < 0) {
        um_error_set(err, e.status, "result upload to s3://%s/%s: %s", in->s3.bucket, in->s3_key, e.msg);
        return -1;
    }
    um_log(UM_LOG_INFO, "runpod: job %s: result uploaded to s3://%s/%s (URL valid %d s)", job_id,
           in->s3.bucket, in->s3_key, c->result_ttl);
    return 0;
}

static char *dump(json_t *v)
{
    char *text = um_check_alloc(json_dumps(v, JSON_COMPACT), "a job's output");
    json_decref(v);
    return text;
}

static char *error_output(const char *message)
{
    return dump(json_pack("{s:s,s:s}", "status", "error", "error", message));
}

/* {"status":"success","result":{"result_url"|"local_path": ..., "filename": ...}} */
static char *success_output(const char *url, const job_files *f, const char *name)
{
    char abs[PATH_MAX];
    if (!url && !realpath(f->output, abs))
        snprintf(abs, sizeof(abs), "%s", f->output);
    return dump(json_pack("{s:s,s:{s:s,s:s}}", "status", "success", "result",
                          url ? "result_url" : "local_path", url ? url : abs, "filename", name));
}

int runpod_run_job(const um_runpod_config *c, const char *job_id, const char *input_json,
                   um_progress_fn progress, void *opaque, char **output_json, um_error *err)
{
    runpod_input in;
    job_files f;
    char *url = NULL, what[512];
    int result = -1;
    *output_json = NULL;
    memset(&f, 0, sizeof(f));
    if (runpod_input_parse(job_id, input_json, &in, err) < 0 || make_job_dirs(c, job_id, &f, err) < 0)
        goto fail;
    describe_source(&in, what, sizeof(what));
    um_log(UM_LOG_INFO, "runpod: job %s: %s -> %s%s%s", job_id, what, in.s3.bucket ? "s3 " : "",
           in.output_name, in.config ? "" : " (default options)");
    if (join_path(f.output, f.dir, in.output_name, err) < 0 || fetch_source(c, &in, &f, err) < 0 ||
        remove_watermark(c, job_id, &in, &f, progress, opaque, err) < 0)
        goto fail;
    if (in.s3.bucket && upload_result(c, job_id, &in, &f, &url, err) < 0)
        goto fail;
    *output_json = success_output(url, &f, in.output_name);
    result = 0;
fail:
    if (f.downloaded)
        unlink(f.input);
    if (f.download_dir[0])
        rmdir(f.download_dir);
    /* An S3 result's local copy goes, uploaded or not: nothing points to it. */
    if (in.s3.bucket && f.output[0])
        unlink(f.output);
    if (f.dir[0])
        rmdir(f.dir); /* only when empty: a local result stays */
    free(f.input);
    free(url);
    runpod_input_clear(&in);
    if (result < 0)
        *output_json = error_output(err->msg);
    return result;
}

int um_runpod_handle_job(const um_runpod_config *c, const char *job_id, const char *input_json,
                         char **output_json, um_error *err)
{
    return runpod_run_job(c, job_id, input_json, NULL, NULL, output_json, err);
}

int um_runpod_run_local(const um_runpod_config *c, const char *job_json, char **output_json, um_error *err)
{
    json_error_t jerr;
    json_t *job = json_loads(job_json, 0, &jerr), *input = NULL;
    char *text = NULL;
    int result = -1;
    *output_json = NULL;
    if (!job) {
        um_error_set(err, UM_ERR_USAGE, "test input: not JSON: %s", jerr.text);
        goto fail;
    }
    input = runpod_job_input(job);
    if (!input || json_is_null(input)) {
        um_error_set(err, UM_ERR_USAGE, "input: missing: a test job is {\"input\": {...}}");
        goto fail;
    }
    const char *id = json_string_value(json_object_get(job, "id"));
    id = id && *id ? id : "local_test";
    um_log(UM_LOG_INFO, "runpod: local test job %s", id);
    text = um_check_alloc(json_dumps(input, JSON_COMPACT | JSON_ENCODE_ANY), "a test job's input");
    result = runpod_run_job(c, id, text, NULL, NULL, output_json, err);
fail:
    if (result < 0 && !*output_json)
        *output_json = error_output(err->msg);
    free(text);
    json_decref(input);
    json_decref(job);
    return result;
}
