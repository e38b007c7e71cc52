/*
 * RunPod's pull protocol as runpod-python speaks it: the URLs it builds
 * from the RUNPOD_WEBHOOK_* templates (rp_job.py _job_get_url, rp_http.py
 * _handle_result, rp_ping.py _send_ping), the bodies it posts (rp_job.py
 * run_job, rp_progress.py) and what it accepts from job-take (rp_job.py
 * get_job). Pure functions: no I/O.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "runpod/runpod_internal.h"

/* RFC 3986 unreserved: the characters a URL part may carry as they are. */
static int unreserved(unsigned char ch)
{
    return isalnum(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '~';
}

/* Appends s percent-encoded to out (which has room: 3 bytes a byte). */
static char *encode_into(char *out, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (unreserved(*p)) {
            *out++ = (char)*p;
        } else {
            *out++ = '%';
            *out++ = hex[*p >> 4];
            *out++ = hex[*p & 15];
        }
    }
    *out = 0;
    return out;
}

char *runpod_url_expand(const char *tmpl, const char *token, const char *value)
{
    size_t tlen = strlen(token), count = 0;
    for (const char *p = strstr(tmpl, token); p; p = strstr(p + tlen, token))
        count++;
    char *out = um_xmalloc(strlen(tmpl) + count * 3 * strlen(value) + 1), *o = out;
    const char *p = tmpl, *hit;
    while ((hit = strstr(p, token)) != NULL) {
        memcpy(o, p, (size_t)(hit - p));
        o = encode_into(o + (hit - p), value);
        p = hit + tlen;
    }
    strcpy(o, p);
    return out;
}

char *runpod_url_add_param(const char *url, const char *name, const char *value)
{
    size_t n = strlen(url);
    const char *sep = "&";
    if (!strchr(url, '?'))
        sep = "?";
    else if (url[n - 1] == '?' || url[n - 1] == '&')
        sep = "";
    char *out = um_xmalloc(n + strlen(sep) + strlen(name) + 1 + 3 * strlen(value) + 1);
    int k = sprintf(out, "%s%s%s=", url, sep, name);
    encode_into(out + k, value);
    return out;
}

/* tmpl with token replaced, then the parameter added. */
static char *expand_and_add(const char *tmpl, const char *token, const char *value, const char *name,
                            const char *param)
{
    char *expanded = runpod_url_expand(tmpl, token, value);
    char *url = runpod_url_add_param(expanded, name, param);
    free(expanded);
    return url;
}

char *runpod_job_take_url(const char *tmpl, const char *worker_id, int job_in_progress)
{
    return expand_and_add(tmpl, "$ID", worker_id, "job_in_progress", job_in_progress ? "1" : "0");
}

char *runpod_job_done_url(const char *tmpl, const char *worker_id, const char *job_id)
{
    char *pod = runpod_url_expand(tmpl, "$RUNPOD_POD_ID", worker_id);
    char *url = expand_and_add(pod, "$ID", job_id, "isStream", "false");
    free(pod);
    return url;
}

/* url with one more parameter; url is consumed. */
static char *add_owned(char *url, const char *name, const char *value)
{
    char *out = runpod_url_add_param(url, name, value);
    free(url);
    return out;
}

char *runpod_ping_url(const char *tmpl, const char *worker_id, const char *job_ids, int retry)
{
    char *url = runpod_url_expand(tmpl, "$RUNPOD_POD_ID", worker_id);
    if (job_ids && *job_ids)
        url = add_owned(url, "job_id", job_ids);
    url = add_owned(url, "runpod_version", "unmark-" UM_VERSION);
    if (retry)
        url = add_owned(url, "retry_ping", "1");
    return url;
}

/* Python's truth of a JSON value: what `if error_msg:` lets through. */
static int truthy(json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_STRING: return json_string_length(v) > 0;
    case JSON_INTEGER: return json_integer_value(v) != 0;
    case JSON_REAL: return json_real_value(v) != 0;
    case JSON_TRUE: return 1;
    case JSON_OBJECT: return json_object_size(v) > 0;
    case JSON_ARRAY: return json_array_size(v) > 0;
    default: return 0;
    }
}

char *runpod_result_body(json_t *output)
{
    json_t *body = json_object();
    if (!json_is_object(output)) {
        json_object_set(body, "output", output ? output : json_null());
    } else {
        json_t *rest = json_copy(output);
        json_t *error = json_incref(json_object_get(rest, "error"));
        json_object_del(rest, "error");
        if (json_object_size(rest) > 0)
            json_object_set(body, "output", rest);
        if (error && truthy(error))
            json_object_set(body, "error", error);
        json_decref(error);
        json_decref(rest);
    }
    char *text = um_check_alloc(json_dumps(body, JSON_COMPACT), "a result body");
    json_decref(body);
    return text;
}

char *runpod_progress_body(double progress, const char *stage)
{
    json_t *body = json_pack("{s:s,s:{s:f,s:s}}", "status", "IN_PROGRESS", "output", "progress",
                             (double)(long)(progress * 100 + 0.5) / 100, "stage", stage);
    char *text = um_check_alloc(json_dumps(body, JSON_COMPACT), "a progress body");
    json_decref(body);
    return text;
}

/* Keeps the first reason something was left out. */
static void note(char *why, size_t cap, const char *reason)
{
    if (!*why)
        snprintf(why, cap, "%s", reason);
}

/* Whether one job has what the SDK requires: an id and an input. */
static int job_ok(json_t *job, char *why, size_t cap)
{
    if (!json_is_object(job)) {
        note(why, cap, "a job is not a JSON object");
        return 0;
    }
    json_t *id = json_object_get(job, "id"), *input = json_object_get(job, "input");
    int no_id = !id || json_is_null(id), no_input = !input || json_is_null(input);
    if (no_id || no_input) {
        note(why, cap, no_id && no_input ? "job has missing field(s): id, input"
                       : no_id           ? "job has missing field(s): id"
                                         : "job has missing field(s): input");
        return 0;
    }
    if (!json_is_string(id) || json_string_length(id) == 0) {
        note(why, cap, "job id is not a non-empty string");
        return 0;
    }
    return 1;
}

json_t *runpod_take_answer(const char *content_type, const char *body, size_t size, char *why, size_t cap)
{
    json_t *jobs = json_array();
    *why = 0;
    size_t n = strcspn(content_type ? content_type : "", "; ");
    if (n != 16 || strncasecmp(content_type, "application/json", 16) != 0) {
        snprintf(why, cap, "unexpected content type \"%.60s\"", content_type ? content_type : "");
        return jobs;
    }
    if (!body || size == 0) {
        note(why, cap, "no content");
        return jobs;
    }
    json_error_t jerr;
    json_t *v = json_loadb(body, size, JSON_DECODE_ANY, &jerr);
    if (!v) {
        snprintf(why, cap, "not JSON: %s", jerr.text);
        return jobs;
    }
    if (json_is_object(v) && job_ok(v, why, cap))
        json_array_append(jobs, v);
    else if (json_is_array(v))
        for (size_t i = 0; i < json_array_size(v); i++)
            if (job_ok(json_array_get(v, i), why, cap))
                json_array_append(jobs, json_array_get(v, i));
    if (!json_is_object(v) && !json_is_array(v))
        note(why, cap, "neither a job nor a list of jobs");
    json_decref(v);
    return jobs;
}

json_t *runpod_job_input(json_t *job)
{
    json_t *input = json_object_get(job, "input"), *s3 = json_object_get(job, "s3Config");
    if (!json_is_object(input) || !s3 || json_object_get(input, "s3Config"))
        return json_incref(input);
    json_t *merged = json_copy(input);
    json_object_set(merged, "s3Config", s3);
    return merged;
}
