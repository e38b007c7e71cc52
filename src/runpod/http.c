/*
 * The worker's HTTP client: libcurl, one easy handle per thread (the loop,
 * the heartbeat and the progress reporter each have their own, so that
 * none waits on another's request), reused across requests for its
 * connections. Requests carry the API key as the raw Authorization value,
 * as the SDK sends it; results are posted with the SDK's headers. Nothing
 * here logs: callers say what a failure meant.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "runpod/runpod_internal.h"

/* A larger answer is refused: RunPod's own payload limits are far below. */
#define MAX_REPLY (64L << 20)
#define CONNECT_TIMEOUT_MS 10000L

int runpod_http_open(runpod_http *h, const char *api_key, um_error *err)
{
    h->curl = curl_easy_init();
    h->api_key = api_key && *api_key ? api_key : NULL;
    if (!h->curl) {
        um_error_set(err, UM_ERR_OTHER, "libcurl: cannot make an HTTP handle");
        return -1;
    }
    return 0;
}

void runpod_http_close(runpod_http *h)
{
    if (h->curl)
        curl_easy_cleanup(h->curl);
    h->curl = NULL;
}

void runpod_reply_clear(runpod_reply *r)
{
    free(r->body);
    memset(r, 0, sizeof(*r));
}

void runpod_url_for_log(const char *url, char *out, size_t cap)
{
    snprintf(out, cap, "%.*s", (int)strcspn(url, "?#"), url);
}

/* libcurl's write callback: the body into the reply, up to MAX_REPLY. */
static size_t on_data(char *data, size_t size, size_t count, void *opaque)
{
    runpod_reply *r = opaque;
    size_t n = size * count;
    if (r->size + n > (size_t)MAX_REPLY)
        return 0;
    r->body = um_xrealloc(r->body, r->size + n + 1);
    memcpy(r->body + r->size, data, n);
    r->size += n;
    r->body[r->size] = 0;
    return n;
}

/* libcurl's progress callback: nonzero stops the transfer. */
static int on_progress(void *opaque, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    volatile int *abort = opaque;
    return *abort != 0;
}

/* One header line, "Name: value", onto the list. */
static struct curl_slist *add_header(struct curl_slist *list, const char *name, const char *value)
{
    size_t n = strlen(name) + strlen(value) + 3;
    char *line = um_xmalloc(n);
    snprintf(line, n, "%s: %s", name, value);
    struct curl_slist *out = um_check_alloc(curl_slist_append(list, line), "an HTTP header");
    free(line);
    return out;
}

/* The headers a request carries: the key, and for a result the SDK's
 * (it posts JSON text labelled as a form, with a charset header). */
static struct curl_slist *request_headers(const runpod_http *h, const char *body, const char *request_id)
{
    struct curl_slist *list = NULL;
    if (h->api_key)
        list = add_header(list, "Authorization", h->api_key);
    if (body) {
        list = add_header(list, "Content-Type", "application/x-www-form-urlencoded");
        list = add_header(list, "charset", "utf-8");
        if (request_id)
            list = add_header(list, "X-Request-ID", request_id);
    }
    return list;
}

/* Sets up the handle for one request; the first failure is returned. */
static CURLcode prepare(CURL *curl, const char *url, const char *body, struct curl_slist *headers,
                        long timeout_ms, volatile int *abort, runpod_reply *reply, char *errbuf)
{
    CURLcode rc = curl_easy_setopt(curl, CURLOPT_URL, url);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                              timeout_ms < CONNECT_TIMEOUT_MS ? timeout_ms : CONNECT_TIMEOUT_MS);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(curl, CURLOPT_USERAGENT, "unmark/" UM_VERSION);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(curl, CURLOPT_WRITEDATA, reply);
    if (rc == CURLE_OK && body)
        rc = curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    if (rc == CURLE_OK && body)
        rc = curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    if (rc == CURLE_OK && abort)
        rc = curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
    if (rc == CURLE_OK && abort)
        rc = curl_easy_setopt(curl, CURLOPT_XFERINFODATA, (void *)abort);
    if (rc == CURLE_OK && abort)
        rc = curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    return rc;
}

/* The status and content type of the answer just received. */
static CURLcode read_answer(CURL *curl, runpod_reply *reply)
{
    char *type = NULL;
    CURLcode rc = curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply->status);
    if (rc == CURLE_OK)
        rc = curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &type);
    if (rc == CURLE_OK)
        snprintf(reply->content_type, sizeof(reply->content_type), "%s", type ? type : "");
    return rc;
}

int runpod_http_request(runpod_http *h, const char *url, const char *body, const char *request_id,
                        long timeout_ms, volatile int *abort, runpod_reply *reply, um_error *err)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    memset(reply, 0, sizeof(*reply));
    struct curl_slist *headers = request_headers(h, body, request_id);
    CURLcode rc = prepare(h->curl, url, body, headers, timeout_ms, abort, reply, errbuf);
    if (rc == CURLE_OK)
        rc = curl_easy_perform(h->curl);
    if (rc == CURLE_OK)
        rc = read_answer(h->curl, reply);
    /* The handle must not keep pointers to what goes now (its connections
     * stay). */
    curl_easy_reset(h->curl);
    curl_slist_free_all(headers);
    if (rc == CURLE_OK)
        return 0;
    if (rc == CURLE_ABORTED_BY_CALLBACK)
        um_error_set(err, UM_ERR_OTHER, "stopped");
    else if (rc == CURLE_WRITE_ERROR && reply->size)
        um_error_set(err, UM_ERR_INPUT, "the answer is larger than %ld bytes", MAX_REPLY);
    else
        um_error_set(err, UM_ERR_OTHER, "%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
    runpod_reply_clear(reply);
    return -1;
}
