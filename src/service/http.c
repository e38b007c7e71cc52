/*
 * The HTTP side of the service (libmicrohttpd): routes /api/v1 requests to
 * their handlers, checks the bearer token, buffers JSON bodies up to the
 * configured cap (413 past it) and streams uploads to disk, and answers
 * JSON. Errors are {"error": "...", "field": "..."} with the status that
 * fits.
 */
#include <netinet/in.h>

#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "service/service_internal.h"

#define API "/api/v1"
#define POOL_THREADS 4

struct um_http {
    struct MHD_Daemon *daemon;
};

/* One request's state between libmicrohttpd's calls. */
typedef struct {
    char *body;           /* a JSON body, buffered */
    size_t size;
    int too_large;
    api_upload *upload;   /* POST /jobs/upload: the body goes here instead */
    int answered;         /* an answer was queued before the body ended */
} request;

int http_send_text(struct MHD_Connection *c, unsigned status, char *text, const char *type)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(r, "Content-Type", type);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

int http_send_json(struct MHD_Connection *c, unsigned status, json_t *v)
{
    char *text = json_dumps(v, JSON_COMPACT);
    json_decref(v);
    return http_send_text(c, status, text, "application/json");
}

int http_send_error(struct MHD_Connection *c, unsigned status, const char *message, const char *field)
{
    json_t *v = json_pack("{s:s}", "error", message);
    if (field)
        json_object_set_new(v, "field", json_string(field));
    return http_send_json(c, status, v);
}

int http_store_failure(struct MHD_Connection *c, const um_error *err)
{
    um_log(UM_LOG_ERROR, "store: %s", err->msg);
    return http_send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "the job store failed; see the server log",
                           NULL);
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

static int health(struct MHD_Connection *c, const service_state *s)
{
    return http_send_json(c, MHD_HTTP_OK, json_pack("{s:s,s:s,s:i}", "status", "ok", "version", UM_VERSION,
                                               "workers", s->config->workers));
}

static int metrics(struct MHD_Connection *c, service_state *s)
{
    int64_t counts[5];
    um_error err = {0};
    if (um_store_counts(s->store, counts, &err) < 0)
        return http_store_failure(c, &err);
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
    return http_send_text(c, MHD_HTTP_OK, text, "text/plain; version=0.0.4");
}

static int openapi(struct MHD_Connection *c)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        strlen(api_openapi_json), (void *)api_openapi_json, MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

static int is(const char *method, const char *want)
{
    return strcmp(method, want) == 0;
}

/* /jobs/{id}[/tail]: the id into id (UM_JOB_ID_SIZE), and the tail. NULL
 * when the id is empty or too long. */
static const char *split_job_url(const char *rest, char *id)
{
    size_t n = strcspn(rest, "/");
    if (n == 0 || n >= UM_JOB_ID_SIZE)
        return NULL;
    memcpy(id, rest, n);
    id[n] = 0;
    return rest + n;
}

static int route_job(struct MHD_Connection *c, service_state *s, const char *rest,
                     const char *method, const request *q)
{
    char id[UM_JOB_ID_SIZE];
    const char *tail = split_job_url(rest, id);
    if (!tail)
        return http_send_error(c, MHD_HTTP_NOT_FOUND, "no such job", "id");
    if (!*tail) {
        if (is(method, "GET"))
            return api_get_job(c, s, id);
        if (is(method, "PATCH"))
            return api_patch_job(c, s, id, q->body, q->size);
        return http_send_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET or PATCH", NULL);
    }
    if (strcmp(tail, "/cancel") == 0)
        return is(method, "POST") ? api_cancel_job(c, s, id)
                                  : http_send_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use POST", NULL);
    if (strcmp(tail, "/result") == 0)
        return is(method, "GET") ? api_job_result(c, s, id)
                                 : http_send_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET", NULL);
    return http_send_error(c, MHD_HTTP_NOT_FOUND, "no such endpoint", NULL);
}

/* Routes a complete request. */
static int route(struct MHD_Connection *c, service_state *s, const char *url, const char *method,
                 request *q)
{
    if (strcmp(url, API "/health") == 0)
        return is(method, "GET") ? health(c, s)
                                 : http_send_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET", NULL);
    if (q->too_large)
        return http_send_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "the body is larger than the server accepts",
                               "body");
    if (strcmp(url, API "/metrics") == 0)
        return metrics(c, s);
    if (strcmp(url, API "/openapi.json") == 0)
        return openapi(c);
    if (strcmp(url, API "/jobs/upload") == 0) {
        if (!q->upload)
            return http_send_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use POST", NULL);
        return api_upload_finish(c, q->upload);
    }
    if (strcmp(url, API "/jobs") == 0) {
        if (is(method, "POST"))
            return api_post_job(c, s, q->body, q->size);
        if (is(method, "GET"))
            return api_list_jobs(c, s);
        return http_send_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET or POST", NULL);
    }
    if (strncmp(url, API "/jobs/", strlen(API "/jobs/")) == 0)
        return route_job(c, s, url + strlen(API "/jobs/"), method, q);
    return http_send_error(c, MHD_HTTP_NOT_FOUND, "no such endpoint", NULL);
}

/* A request's first call: the headers are in. Refuses early what needs no
 * body to refuse (no token; an upload that is not multipart), so a client
 * does not send a large body for nothing. */
static int first_call(struct MHD_Connection *c, service_state *s, const char *url,
                      const char *method, request *q)
{
    if (strcmp(url, API "/health") == 0)
        return MHD_YES;
    if (!authorised(c, s)) {
        q->answered = 1;
        return http_send_error(c, MHD_HTTP_UNAUTHORIZED, "a valid bearer token is required",
                               "Authorization");
    }
    if (strcmp(url, API "/jobs/upload") == 0 && is(method, "POST")) {
        q->upload = api_upload_begin(c, s);
        q->answered = q->upload == NULL;
    }
    return MHD_YES;
}

static void take_body(service_state *s, request *q, const char *data, size_t size)
{
    if (q->upload) {
        api_upload_feed(q->upload, data, size);
        return;
    }
    if (q->size + size > (size_t)s->config->max_body) {
        q->too_large = 1;
        return;
    }
    q->body = um_xrealloc(q->body, q->size + size + 1);
    memcpy(q->body + q->size, data, size);
    q->size += size;
    q->body[q->size] = 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    (void)version;
    service_state *s = cls;
    request *q = *con_cls;
    if (!q) {
        *con_cls = q = um_xcalloc(1, sizeof(request));
        pthread_mutex_lock(&s->lock);
        s->requests++;
        pthread_mutex_unlock(&s->lock);
        return (enum MHD_Result)first_call(c, s, url, method, q);
    }
    if (*upload_size) {
        if (!q->answered)
            take_body(s, q, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    if (q->answered)
        return MHD_YES;
    q->answered = 1;
    return (enum MHD_Result)route(c, s, url, method, q);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode code)
{
    (void)cls, (void)c, (void)code;
    request *q = *con_cls;
    if (q) {
        free(q->body);
        api_upload_free(q->upload);
    }
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
