/*
 * The HTTP side of the service (libmicrohttpd): routes /api/v1 requests to
 * their handlers, buffers JSON bodies up to the configured cap (413 past
 * it), checks the bearer token, and answers JSON. Errors are
 * {"error": "...", "field": "..."} with the status that fits.
 */
#include <netinet/in.h>

#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "service/service_internal.h"

#define API "/api/v1"
#define LIST_DEFAULT 50
#define LIST_MAX 1000
#define POOL_THREADS 4

struct um_http {
    struct MHD_Daemon *daemon;
};

typedef struct {
    char *body;
    size_t size;
    int too_large;
} request;

static enum MHD_Result send_text(struct MHD_Connection *c, unsigned status, char *text,
                                 const char *type)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(r, "Content-Type", type);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_json(struct MHD_Connection *c, unsigned status, json_t *v)
{
    char *text = json_dumps(v, JSON_COMPACT);
    json_decref(v);
    return send_text(c, status, text, "application/json");
}

static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status, const char *message,
                                  const char *field)
{
    json_t *v = json_pack("{s:s}", "error", message);
    if (field)
        json_object_set_new(v, "field", json_string(field));
    return send_json(c, status, v);
}

/* Compares in time independent of where the strings differ. */
static int same_secret(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    unsigned char diff = na != nb;
    for (size_t i = 0; i < na; i++)
        diff |= (unsigned char)(a[i] ^ b[i % (nb ? nb : 1)]);
    return diff == 0;
}

static int authorised(struct MHD_Connection *c, const service_state *s)
{
    const char *token = s->config->api_token;
    if (!token || !*token)
        return 1;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    return h && strncmp(h, "Bearer ", 7) == 0 && same_secret(h + 7, token);
}

static enum MHD_Result store_failure(struct MHD_Connection *c, const um_error *err)
{
    um_log(UM_LOG_ERROR, "store: %s", err->msg);
    return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "the job store failed; see the server log", NULL);
}

static enum MHD_Result post_job(struct MHD_Connection *c, service_state *s, const request *q)
{
    json_error_t jerr;
    json_t *body = json_loadb(q->body ? q->body : "", q->size, 0, &jerr);
    if (!body) {
        char msg[256];
        snprintf(msg, sizeof(msg), "the body is not JSON: %s (line %d, column %d)", jerr.text,
                 jerr.line, jerr.column);
        return send_error(c, MHD_HTTP_BAD_REQUEST, msg, "body");
    }
    um_job job;
    um_error err = {0};
    char field[JOB_FIELD_SIZE] = "";
    int ok = job_from_json(body, &job, field, &err) == 0;
    json_decref(body);
    if (!ok)
        return send_error(c, MHD_HTTP_BAD_REQUEST, err.msg, field);
    if (um_store_insert(s->store, &job, &err) < 0) {
        um_job_clear(&job);
        return store_failure(c, &err);
    }
    service_wake_workers(s);
    json_t *out = job_to_json(&job);
    um_job_clear(&job);
    return send_json(c, MHD_HTTP_ACCEPTED, out);
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

static enum MHD_Result list_jobs(struct MHD_Connection *c, service_state *s)
{
    int limit = query_int(c, "limit", LIST_DEFAULT, 1, LIST_MAX);
    int offset = query_int(c, "offset", 0, 0, 1 << 30);
    const char *st = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "status");
    int status = st ? status_from_name(st) : -1;
    if (limit < 0)
        return send_error(c, MHD_HTTP_BAD_REQUEST, "limit: a whole number from 1 to 1000", "limit");
    if (offset < 0)
        return send_error(c, MHD_HTTP_BAD_REQUEST, "offset: a whole number from 0", "offset");
    if (status == -2)
        return send_error(c, MHD_HTTP_BAD_REQUEST,
                          "status: one of queued, processing, completed, failed, canceled", "status");
    um_job *jobs = NULL;
    int n = 0;
    um_error err = {0};
    if (um_store_list(s->store, status, limit, offset, &jobs, &n, &err) < 0)
        return store_failure(c, &err);
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) {
        json_array_append_new(arr, job_to_json(&jobs[i]));
        um_job_clear(&jobs[i]);
    }
    free(jobs);
    return send_json(c, MHD_HTTP_OK, json_pack("{s:o,s:i,s:i}", "jobs", arr, "limit", limit, "offset", offset));
}

static enum MHD_Result get_job(struct MHD_Connection *c, service_state *s, const char *id)
{
    um_job job = {0};
    um_error err = {0};
    int found = um_store_get(s->store, id, &job, &err);
    if (found < 0)
        return store_failure(c, &err);
    if (!found)
        return send_error(c, MHD_HTTP_NOT_FOUND, "no such job", "id");
    json_t *out = job_to_json(&job);
    um_job_clear(&job);
    return send_json(c, MHD_HTTP_OK, out);
}

static enum MHD_Result cancel_job(struct MHD_Connection *c, service_state *s, const char *id)
{
    um_error err = {0};
    int done = um_store_cancel(s->store, id, &err);
    if (done < 0)
        return store_failure(c, &err);
    if (!done) {
        um_job job = {0};
        int found = um_store_get(s->store, id, &job, &err);
        um_job_clear(&job);
        if (found <= 0)
            return found < 0 ? store_failure(c, &err) : send_error(c, MHD_HTTP_NOT_FOUND, "no such job", "id");
        return send_error(c, MHD_HTTP_CONFLICT, "the job has already ended", "status");
    }
    return get_job(c, s, id);
}

static enum MHD_Result health(struct MHD_Connection *c, const service_state *s)
{
    return send_json(c, MHD_HTTP_OK, json_pack("{s:s,s:s,s:i}", "status", "ok", "version", UM_VERSION,
                                               "workers", s->config->workers));
}

static enum MHD_Result metrics(struct MHD_Connection *c, service_state *s)
{
    int64_t counts[5];
    um_error err = {0};
    if (um_store_counts(s->store, counts, &err) < 0)
        return store_failure(c, &err);
    size_t cap = 2048, n = 0;
    char *text = um_xmalloc(cap);
    n += (size_t)snprintf(text + n, cap - n, "# HELP unmark_jobs Jobs in the store by status.\n# TYPE unmark_jobs gauge\n");
    for (int i = 0; i < 5; i++)
        n += (size_t)snprintf(text + n, cap - n, "unmark_jobs{status=\"%s\"} %lld\n",
                              um_job_status_name((um_job_status)i), (long long)counts[i]);
    pthread_mutex_lock(&s->lock);
    n += (size_t)snprintf(text + n, cap - n,
                          "# HELP unmark_http_requests_total Requests served.\n# TYPE unmark_http_requests_total counter\n"
                          "unmark_http_requests_total %lld\n"
                          "# HELP unmark_jobs_run_total Jobs this server's workers ran.\n# TYPE unmark_jobs_run_total counter\n"
                          "unmark_jobs_run_total %lld\nunmark_jobs_failed_total %lld\n",
                          (long long)s->requests, (long long)s->jobs_run, (long long)s->jobs_failed);
    pthread_mutex_unlock(&s->lock);
    return send_text(c, MHD_HTTP_OK, text, "text/plain; version=0.0.4");
}

/* Routes a complete request. */
static enum MHD_Result route(struct MHD_Connection *c, service_state *s, const char *url,
                             const char *method, const request *q)
{
    if (strcmp(url, API "/health") == 0)
        return strcmp(method, "GET") == 0 ? health(c, s)
                                          : send_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET", NULL);
    if (!authorised(c, s))
        return send_error(c, MHD_HTTP_UNAUTHORIZED, "a valid bearer token is required", "Authorization");
    if (q->too_large)
        return send_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "the body is larger than the server accepts", "body");
    if (strcmp(url, API "/metrics") == 0)
        return metrics(c, s);
    if (strcmp(url, API "/jobs") == 0) {
        if (strcmp(method, "POST") == 0)
            return post_job(c, s, q);
        if (strcmp(method, "GET") == 0)
            return list_jobs(c, s);
        return send_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET or POST", NULL);
    }
    if (strncmp(url, API "/jobs/", strlen(API "/jobs/")) == 0) {
        char id[UM_JOB_ID_SIZE + 1];
        const char *rest = url + strlen(API "/jobs/");
        size_t n = strcspn(rest, "/");
        if (n == 0 || n >= sizeof(id))
            return send_error(c, MHD_HTTP_NOT_FOUND, "no such job", "id");
        memcpy(id, rest, n);
        id[n] = 0;
        const char *tail = rest + n;
        if (!*tail && strcmp(method, "GET") == 0)
            return get_job(c, s, id);
        if (strcmp(tail, "/cancel") == 0 && strcmp(method, "POST") == 0)
            return cancel_job(c, s, id);
    }
    return send_error(c, MHD_HTTP_NOT_FOUND, "no such endpoint", NULL);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    (void)version;
    service_state *s = cls;
    request *q = *con_cls;
    if (!q) {
        *con_cls = um_xcalloc(1, sizeof(request));
        return MHD_YES;
    }
    if (*upload_size) {
        if (q->size + *upload_size > (size_t)s->config->max_body)
            q->too_large = 1;
        else {
            q->body = um_xrealloc(q->body, q->size + *upload_size + 1);
            memcpy(q->body + q->size, upload, *upload_size);
            q->size += *upload_size;
            q->body[q->size] = 0;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    pthread_mutex_lock(&s->lock);
    s->requests++;
    pthread_mutex_unlock(&s->lock);
    return route(c, s, url, method, q);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode code)
{
    (void)cls, (void)c, (void)code;
    request *q = *con_cls;
    if (q)
        free(q->body);
    free(q);
    *con_cls = NULL;
}

int http_start(um_http **out, service_state *s, um_error *err)
{
    um_http *h = um_xcalloc(1, sizeof(*h));
    struct sockaddr_in addr = {0};
    if (service_parse_listen(s->config->listen, &addr, err) < 0) {
        free(h);
        return -1;
    }
    h->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG,
                                 0, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, &addr,
                                 MHD_OPTION_THREAD_POOL_SIZE, (unsigned)POOL_THREADS,
                                 MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_END);
    if (!h->daemon) {
        um_error_set(err, UM_ERR_USAGE, "cannot listen on %s (address in use, or not this machine's?)",
                     s->config->listen);
        free(h);
        return -1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->listen_port = info ? info->port : 0;
    *out = h;
    return 0;
}

void http_stop(um_http **http)
{
    if (!*http)
        return;
    MHD_stop_daemon((*http)->daemon);
    free(*http);
    *http = NULL;
}
