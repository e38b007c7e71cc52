/*
 * The service as a whole: opens the store (in the data folder unless told
 * otherwise), starts the workers and the HTTP API (serve) or the workers
 * alone (worker), and on stop takes them down in the reverse order. Jobs a
 * dead process left processing are the workers' keepers' to queue again,
 * once their leases run out.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "service/service_internal.h"
#include "unmark/storage.h"

#define DEFAULT_LISTEN "127.0.0.1:8000"
#define DEFAULT_MAX_BODY (1 << 20)
#define DEFAULT_MAX_UPLOAD (4LL << 30)
#define DEFAULT_LEASE 30.0
#define DEFAULT_MAX_ATTEMPTS 3

void um_service_config_init(um_service_config *c)
{
    memset(c, 0, sizeof(*c));
    c->listen = DEFAULT_LISTEN;
    c->data_dir = UM_SERVICE_DEFAULT_DATA_DIR;
    c->workers = 1;
    c->lease = DEFAULT_LEASE;
    c->max_attempts = DEFAULT_MAX_ATTEMPTS;
    c->max_body = DEFAULT_MAX_BODY;
    c->max_upload = DEFAULT_MAX_UPLOAD;
    c->result_ttl = UM_SERVICE_DEFAULT_RESULT_TTL;
    um_storage_s3_init(&c->s3);
    um_media_options_init(&c->media);
}

int service_parse_listen(const char *listen, struct sockaddr_in *addr, um_error *err)
{
    char host[256];
    const char *colon = strrchr(listen, ':');
    char *end;
    long port = colon ? strtol(colon + 1, &end, 10) : -1;
    if (!colon || colon == listen || (size_t)(colon - listen) >= sizeof(host) || *end ||
        colon[1] == 0 || port < 0 || port > 65535) {
        um_error_set(err, UM_ERR_USAGE, "bad --listen \"%s\": expected HOST:PORT, e.g. 127.0.0.1:8000", listen);
        return -1;
    }
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = 0;
    memset(addr, 0, sizeof(*addr));
    addr->sin_family = AF_INET;
    addr->sin_port = htons((uint16_t)port);
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof(host), "127.0.0.1");
    if (inet_pton(AF_INET, host, &addr->sin_addr) != 1) {
        um_error_set(err, UM_ERR_USAGE, "bad --listen \"%s\": \"%s\" is not an IPv4 address", listen, host);
        return -1;
    }
    return 0;
}

static int make_data_dir(const char *dir, um_error *err)
{
    if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
        um_error_set(err, UM_ERR_OUTPUT, "cannot create the data folder %s: %s", dir, strerror(errno));
        return -1;
    }
    return 0;
}

int service_job_dir(const service_state *s, const char *kind, const char *id, char *out, size_t cap,
                    um_error *err)
{
    int n = snprintf(out, cap, "%s/%s", s->config->data_dir, kind);
    if (n < 0 || (size_t)n >= cap) {
        um_error_set(err, UM_ERR_OUTPUT, "the data folder's path is too long");
        return -1;
    }
    if (make_data_dir(out, err) < 0)
        return -1;
    n = snprintf(out, cap, "%s/%s/%s", s->config->data_dir, kind, id);
    if (n < 0 || (size_t)n >= cap) {
        um_error_set(err, UM_ERR_OUTPUT, "the data folder's path is too long");
        return -1;
    }
    return make_data_dir(out, err);
}

char *service_path_join(const char *dir, const char *name, const char *suffix)
{
    size_t n = strlen(dir) + strlen(name) + strlen(suffix) + 2;
    char *path = um_xmalloc(n);
    snprintf(path, n, "%s/%s%s", dir, name, suffix);
    return path;
}

void service_remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[4096];
    while (d && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (unlink(path) < 0 && errno == EISDIR)
            service_remove_tree(path);
    }
    if (d)
        closedir(d);
    rmdir(dir);
}

int service_open(service_state *s, const um_service_config *c, char *shown, size_t cap,
                 um_error *err)
{
    char location[4096];
    memset(s, 0, sizeof(*s));
    s->config = c;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->wake, NULL);
    if (c->store)
        snprintf(location, sizeof(location), "%s", c->store);
    else
        snprintf(location, sizeof(location), "sqlite:%s/jobs.db", c->data_dir);
    /* A store's URI may carry a password (postgres://USER:PASSWORD@...). */
    um_storage_redact_url(location, shown, cap);
    if (make_data_dir(c->data_dir, err) < 0 || um_store_open(&s->store, location, err) < 0)
        return -1;
    return 0;
}

void service_close(service_state *s)
{
    um_store_close(&s->store);
    pthread_cond_destroy(&s->wake);
    pthread_mutex_destroy(&s->lock);
}

/* Sleeps until *stop. */
static void wait_for_stop(volatile int *stop)
{
    while (!*stop) {
        struct timespec t = {0, 100 * 1000000L};
        nanosleep(&t, NULL);
    }
}

int um_service_run(const um_service_config *c, um_error *err)
{
    service_state s;
    um_http *http = NULL;
    worker_pool *pool = NULL;
    int result = -1;
    char shown[4096];
    if (service_open(&s, c, shown, sizeof(shown), err) < 0)
        goto fail;
    pool = worker_pool_start(&s, c->workers);
    if (http_start(&http, &s, err) < 0)
        goto fail;
    um_log(UM_LOG_INFO, "serve: listening on %s (port %d), %d worker(s), store %s%s", c->listen,
           s.listen_port, c->workers, shown, c->api_token && *c->api_token ? ", token required" : "");
    if (c->workers)
        um_log(UM_LOG_INFO, "serve: leases of %g s, at most %d attempt(s) a job", c->lease,
               c->max_attempts);
    wait_for_stop(c->stop);
    um_log(UM_LOG_INFO, "serve: stopping");
    result = 0;
fail:
    http_stop(&http);
    worker_pool_stop(&pool);
    service_close(&s);
    return result;
}

int um_worker_run(const um_service_config *c, um_error *err)
{
    service_state s;
    worker_pool *pool = NULL;
    char shown[4096], id[UM_WORKER_ID_SIZE];
    if (service_open(&s, c, shown, sizeof(shown), err) < 0) {
        service_close(&s);
        return -1;
    }
    service_worker_base_id(id, sizeof(id));
    pool = worker_pool_start(&s, c->workers);
    um_log(UM_LOG_INFO, "worker: store %s, worker id %s, %d thread(s), leases of %g s, at most %d "
           "attempt(s) a job", shown, id, c->workers, c->lease, c->max_attempts);
    wait_for_stop(c->stop);
    um_log(UM_LOG_INFO, "worker: stopping");
    worker_pool_stop(&pool);
    service_close(&s);
    return 0;
}
