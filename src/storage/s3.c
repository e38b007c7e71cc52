/*
 * S3 objects: downloaded to local files, uploaded from them, and shared as
 * presigned GET URLs; s3:// URIs read into bucket and key.
 *
 * Requests go over libcurl, signed with SigV4 (sigv4.c) over the headers
 * this file sets itself (Host included, so that what is signed is what is
 * sent) and the payload's SHA-256: the empty body's for a GET, the file's
 * for a PUT, read once to hash it and once more to send it, so a file of
 * any size is never held in memory. libcurl is told to send the path as
 * given (it would otherwise resolve "." and ".." in keys) and to follow
 * no redirect.
 *
 * A download is written to PATH.part-XXXXXX next to PATH and renamed over
 * it once whole, so PATH is the whole object or untouched. S3 answers an
 * error with an XML body whose <Code> and <Message> go into the error,
 * with the HTTP status and the object's s3:// name; credentials never do.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "storage/storage_internal.h"

#define DEFAULT_ENDPOINT "https://s3.amazonaws.com"
#define DEFAULT_REGION "us-east-1"
/* SHA-256 of no bytes: a GET's payload hash. */
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
/* S3's limits on names. */
#define MAX_BUCKET 255
#define MAX_KEY 1024
/* How much of an error answer is kept to read its code from. */
#define MAX_ERROR_BODY 8192
/* A transfer that moves nothing for this long has stalled and fails. */
#define STALL_SECONDS 60
#define CONNECT_SECONDS 30

/* ---- names and URLs --------------------------------------------------- */

/* A bucket name that can stand in a URL's path and host unescaped:
 * letters, digits, '.', '-' and '_', starting with a letter or digit.
 * (S3 allows fewer for new buckets; older ones may have upper case and
 * '_'.) It must never hold ':', '@', '/', '?' or '#', which would move a
 * virtual-hosted request to another host. */
static int bucket_ok(const char *bucket)
{
    size_t n = bucket ? strlen(bucket) : 0;
    if (n == 0 || n > MAX_BUCKET || bucket[0] == '.' || bucket[0] == '-' || bucket[0] == '_')
        return 0;
    return strspn(bucket, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_") == n;
}

/* Where an object's requests go: the URL, and the host and path that are
 * signed, as the Host header and the request line carry them. */
typedef struct {
    char *url;
    char *host;
    char *path;
} target;

static void target_clear(target *t)
{
    free(t->url);
    free(t->host);
    free(t->path);
    *t = (target){0};
}

/* A new string: the n bytes at s. */
static char *dup_n(const char *s, size_t n)
{
    char *out = um_xmalloc(n + 1);
    memcpy(out, s, n);
    out[n] = '\0';
    return out;
}

/* A new string: the parts, up to the NULL, one after the other. */
__attribute__((sentinel)) static char *join(const char *first, ...)
{
    va_list ap;
    size_t n = 0;
    va_start(ap, first);
    for (const char *p = first; p; p = va_arg(ap, const char *))
        n += strlen(p);
    va_end(ap);
    char *out = um_xmalloc(n + 1), *o = out;
    va_start(ap, first);
    for (const char *p = first; p; p = va_arg(ap, const char *)) {
        size_t len = strlen(p);
        memcpy(o, p, len);
        o += len;
    }
    va_end(ap);
    *o = '\0';
    return out;
}

/*
 * The object's target: path style ENDPOINT/BUCKET/KEY, or virtual-hosted
 * SCHEME://BUCKET.HOST/KEY, the key encoded keeping its '/'. The endpoint
 * is an http(s) URL, maybe with a path of its own. NULL on success, else
 * why there is none (a static string).
 */
static const char *make_target(const um_storage_s3 *s3, const char *key, target *t)
{
    *t = (target){0};
    const char *endpoint = s3->endpoint ? s3->endpoint : DEFAULT_ENDPOINT;
    size_t scheme_len = strncasecmp(endpoint, "https://", 8) == 0  ? 8
                        : strncasecmp(endpoint, "http://", 7) == 0 ? 7
                                                                   : 0;
    if (scheme_len == 0)
        return "the S3 endpoint is not an http:// or https:// URL";
    const char *authority = endpoint + scheme_len;
    size_t authority_len = strcspn(authority, "/?#@");
    const char *base = authority + authority_len;
    size_t base_len = strcspn(base, "?#@");
    if (authority_len == 0 || base[base_len] != '\0')
        return "the S3 endpoint must be SCHEME://HOST[:PORT][/PATH], without user, query or "
               "fragment";
    while (base_len > 0 && base[base_len - 1] == '/')
        base_len--;
    if (!bucket_ok(s3->bucket))
        return "the bucket name is missing or not valid (letters, digits, '.', '-', '_')";
    if (!key || !*key || strlen(key) > MAX_KEY)
        return "the object key is empty or longer than 1024 bytes";

    /* The Host header leaves out the scheme's default port, as the
     * clients that fetch a presigned URL do. */
    const char *default_port = scheme_len == 8 ? ":443" : ":80";
    size_t host_len = authority_len, port_len = strlen(default_port);
    if (host_len > port_len &&
        strncmp(authority + host_len - port_len, default_port, port_len) == 0)
        host_len -= port_len;

    char *scheme = dup_n(endpoint, scheme_len), *host = dup_n(authority, host_len),
         *full_authority = dup_n(authority, authority_len), *base_path = dup_n(base, base_len),
         *encoded = um_storage_uri_encode(key, 1);
    if (s3->path_style) {
        t->host = host;
        host = NULL;
        t->path = join(base_path, "/", s3->bucket, "/", encoded, NULL);
        t->url = join(scheme, full_authority, t->path, NULL);
    } else {
        t->host = join(s3->bucket, ".", host, NULL);
        t->path = join(base_path, "/", encoded, NULL);
        t->url = join(scheme, s3->bucket, ".", full_authority, t->path, NULL);
    }
    free(scheme);
    free(host);
    free(full_authority);
    free(base_path);
    free(encoded);
    return NULL;
}

void um_storage_s3_init(um_storage_s3 *s3)
{
    memset(s3, 0, sizeof(*s3));
    s3->endpoint = DEFAULT_ENDPOINT;
    s3->region = DEFAULT_REGION;
    s3->verify_tls = 1;
}

char *um_storage_s3_object_url(const um_storage_s3 *s3, const char *key)
{
    target t;
    if (make_target(s3, key, &t) != NULL)
        return NULL;
    char *url = t.url;
    t.url = NULL;
    target_clear(&t);
    return url;
}

int um_storage_parse_s3_uri(const char *uri, char **bucket, char **key, um_error *err)
{
    *bucket = *key = NULL;
    /* The URI is not repeated in these messages: a mistyped one may hold
     * credentials ("s3://KEY:SECRET@bucket/..."). */
    if (!uri || strncasecmp(uri, "s3://", 5) != 0) {
        um_error_set(err, UM_ERR_USAGE, "not an S3 URI: it must start with s3://");
        return -1;
    }
    const char *b = uri + 5;
    size_t n = strcspn(b, "/");
    if (n == 0) {
        um_error_set(err, UM_ERR_USAGE, "the S3 URI has no bucket (s3://BUCKET/KEY)");
        return -1;
    }
    char *name = dup_n(b, n);
    if (!bucket_ok(name)) {
        um_error_set(err, UM_ERR_USAGE,
                     "the S3 URI's bucket name is not valid: at most %d letters, digits, '.', '-' "
                     "and '_', starting with a letter or digit",
                     MAX_BUCKET);
        free(name);
        return -1;
    }
    if (b[n] != '/' || b[n + 1] == '\0' || strlen(b + n + 1) > MAX_KEY) {
        um_error_set(err, UM_ERR_USAGE,
                     "s3://%s: the S3 URI has no object key, or one longer than %d bytes "
                     "(s3://BUCKET/KEY)",
                     name, MAX_KEY);
        free(name);
        return -1;
    }
    *bucket = name;
    *key = um_xstrdup(b + n + 1);
    return 0;
}

/* ---- requests --------------------------------------------------------- */

/* Where a response body goes: a success's into file (when there is one,
 * up to max_bytes), an error's into err_body, to read S3's code from. */
typedef struct {
    CURL *curl;
    int fd; /* or -1: keep every body as an error's */
    int64_t max_bytes, written;
    int too_big, write_errno;
    char err_body[MAX_ERROR_BODY + 1];
    size_t err_len;
} sink;

/* libcurl's write callback: returning less than it was given fails the
 * transfer, which is how the size limit and a full disk stop it. */
static size_t on_body(char *data, size_t size, size_t nmemb, void *opaque)
{
    sink *s = opaque;
    size_t n = size * nmemb;
    long status = 0;
    if (curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK)
        return 0;
    if (s->fd < 0 || status >= 300) {
        size_t keep = n < MAX_ERROR_BODY - s->err_len ? n : MAX_ERROR_BODY - s->err_len;
        memcpy(s->err_body + s->err_len, data, keep);
        s->err_len += keep;
        s->err_body[s->err_len] = '\0';
        return n;
    }
    if (s->max_bytes > 0 && s->written + (int64_t)n > s->max_bytes) {
        s->too_big = 1;
        return 0;
    }
    for (size_t done = 0; done < n;) {
        ssize_t w = write(s->fd, data + done, n - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            s->write_errno = errno;
            return 0;
        }
        done += (size_t)w;
    }
    s->written += (int64_t)n;
    return n;
}

/* libcurl's read callback for an upload: the next bytes of the file. */
static size_t on_upload(char *buf, size_t size, size_t nmemb, void *opaque)
{
    FILE *f = opaque;
    size_t got = fread(buf, 1, size * nmemb, f);
    return got == 0 && ferror(f) ? CURL_READFUNC_ABORT : got;
}

/* One request to S3 for an object, from its checks to its result. */
typedef struct {
    const um_storage_s3 *s3;
    char *name;            /* "s3://bucket/key", for messages */
    um_status fail_status; /* UM_ERR_INPUT for reads, UM_ERR_OUTPUT for writes */
    target t;
    CURL *curl;
    struct curl_slist *headers;
    char curl_error[CURL_ERROR_SIZE];
} request;

static void request_close(request *r)
{
    if (r->curl)
        curl_easy_cleanup(r->curl);
    curl_slist_free_all(r->headers);
    target_clear(&r->t);
    free(r->name);
    memset(r, 0, sizeof(*r));
}

/* Checks the configuration and readies libcurl for one object. */
static int request_open(request *r, const um_storage_s3 *s3, const char *key, um_status fail_status,
                        um_error *err)
{
    memset(r, 0, sizeof(*r));
    r->s3 = s3;
    r->fail_status = fail_status;
    r->name = join("s3://", s3->bucket ? s3->bucket : "", "/", key ? key : "", NULL);
    const char *why = make_target(s3, key, &r->t);
    if (why) {
        um_error_set(err, UM_ERR_USAGE, "%s: %s", r->name, why);
        return -1;
    }
    if (!s3->access_key || !*s3->access_key || !s3->secret_key || !*s3->secret_key) {
        um_error_set(err, UM_ERR_USAGE, "%s: no S3 credentials (access key and secret key)",
                     r->name);
        return -1;
    }
    if (um_storage_curl_init(err) < 0)
        return -1;
    r->curl = um_check_alloc(curl_easy_init(), "a libcurl handle");
    return 0;
}

/* Appends "Name: value" to the headers libcurl sends. */
static void send_header(request *r, const char *name, const char *value)
{
    char *line = join(name, ": ", value, NULL);
    r->headers = um_check_alloc(curl_slist_append(r->headers, line), "a libcurl header list");
    free(line);
}

/* Signs the request and lists the headers to send: those signed, then
 * Authorization. content_type may be NULL. */
static int request_sign(request *r, const char *method, const char *payload_sha256,
                        const char *content_type, um_error *err)
{
    um_storage_header signed_headers[3] = {
        {"host", r->t.host},
        {"x-amz-content-sha256", payload_sha256},
        {"content-type", content_type},
    };
    um_storage_sigv4_request req = {
        .method = method,
        .path = r->t.path,
        .headers = signed_headers,
        .nb_headers = content_type ? 3 : 2,
        .payload_sha256 = payload_sha256,
        .region = r->s3->region ? r->s3->region : DEFAULT_REGION,
        .service = "s3",
        .access_key = r->s3->access_key,
        .secret_key = r->s3->secret_key,
        .session_token = r->s3->session_token,
        .when = time(NULL),
    };
    um_storage_sigv4_result result;
    if (um_storage_sigv4_sign(&req, &result, err) < 0)
        return -1;
    send_header(r, "Host", r->t.host);
    send_header(r, "x-amz-content-sha256", payload_sha256);
    send_header(r, "x-amz-date", result.amz_date);
    if (r->s3->session_token)
        send_header(r, "x-amz-security-token", r->s3->session_token);
    if (content_type)
        send_header(r, "Content-Type", content_type);
    send_header(r, "Authorization", result.authorization);
    um_storage_sigv4_result_clear(&result);
    return 0;
}

/* Sets a libcurl option unless an earlier one failed: rc keeps the first
 * failure. */
#define SET_OPTION(rc, curl, option, value)                                                        \
    ((rc) = (rc) != CURLE_OK ? (rc) : curl_easy_setopt((curl), (option), (value)))

/* Runs the request with the options every S3 call shares; *status is the
 * HTTP status. A transfer that fails is an error naming why. */
static int request_perform(request *r, sink *s, long *status, um_error *err)
{
    CURLcode rc = CURLE_OK;
    long verify = r->s3->verify_tls ? 1L : 0L;
    s->curl = r->curl;
    SET_OPTION(rc, r->curl, CURLOPT_URL, r->t.url);
    SET_OPTION(rc, r->curl, CURLOPT_HTTPHEADER, r->headers);
    SET_OPTION(rc, r->curl, CURLOPT_PROTOCOLS_STR, "http,https");
    SET_OPTION(rc, r->curl, CURLOPT_PATH_AS_IS, 1L);
    SET_OPTION(rc, r->curl, CURLOPT_FOLLOWLOCATION, 0L);
    SET_OPTION(rc, r->curl, CURLOPT_NOSIGNAL, 1L);
    SET_OPTION(rc, r->curl, CURLOPT_SSL_VERIFYPEER, verify);
    SET_OPTION(rc, r->curl, CURLOPT_SSL_VERIFYHOST, verify * 2);
    SET_OPTION(rc, r->curl, CURLOPT_CONNECTTIMEOUT, (long)CONNECT_SECONDS);
    SET_OPTION(rc, r->curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
    SET_OPTION(rc, r->curl, CURLOPT_LOW_SPEED_TIME, (long)STALL_SECONDS);
    SET_OPTION(rc, r->curl, CURLOPT_ERRORBUFFER, r->curl_error);
    SET_OPTION(rc, r->curl, CURLOPT_WRITEFUNCTION, on_body);
    SET_OPTION(rc, r->curl, CURLOPT_WRITEDATA, s);
    if (rc != CURLE_OK) {
        um_error_set(err, UM_ERR_OTHER, "%s: cannot set up libcurl: %s", r->name,
                     curl_easy_strerror(rc));
        return -1;
    }
    rc = curl_easy_perform(r->curl);
    if (s->too_big) {
        um_error_set(err, UM_ERR_INPUT, "%s: the object is larger than the limit of %lld bytes",
                     r->name, (long long)s->max_bytes);
        return -1;
    }
    if (s->write_errno) {
        um_error_set(err, UM_ERR_OUTPUT, "%s: cannot write the download: %s", r->name,
                     strerror(s->write_errno));
        return -1;
    }
    if (rc != CURLE_OK) {
        um_error_set(err, r->fail_status, "%s: %s", r->name,
                     r->curl_error[0] ? r->curl_error : curl_easy_strerror(rc));
        return -1;
    }
    rc = curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, status);
    if (rc != CURLE_OK) {
        um_error_set(err, r->fail_status, "%s: no HTTP status: %s", r->name,
                     curl_easy_strerror(rc));
        return -1;
    }
    return 0;
}

/* The text of the first <tag>...</tag> in an XML body, control characters
 * made spaces, into out ("" when there is none). */
static void xml_text(const char *body, const char *tag, char *out, size_t cap)
{
    char open[32], close[32];
    snprintf(open, sizeof(open), "<%s>", tag);
    snprintf(close, sizeof(close), "</%s>", tag);
    out[0] = '\0';
    const char *start = strstr(body, open);
    const char *end = start ? strstr(start, close) : NULL;
    if (!end)
        return;
    start += strlen(open);
    size_t n = (size_t)(end - start) < cap - 1 ? (size_t)(end - start) : cap - 1;
    for (size_t i = 0; i < n; i++)
        out[i] = (unsigned char)start[i] < 0x20 || start[i] == 0x7f ? ' ' : start[i];
    out[n] = '\0';
}

/* An HTTP error answer as an error: "s3://b/k: 404 NoSuchKey (The
 * specified key does not exist.)", with what the request was doing. */
static void status_error(const request *r, long status, const sink *s, const char *doing,
                         um_error *err)
{
    char code[128], message[256];
    xml_text(s->err_body, "Code", code, sizeof(code));
    xml_text(s->err_body, "Message", message, sizeof(message));
    um_error_set(err, r->fail_status, "%s: %s%ld%s%s%s%s%s", r->name, doing, status,
                 code[0] ? " " : "", code, message[0] ? " (" : "", message, message[0] ? ")" : "");
}

/* ---- download --------------------------------------------------------- */

int um_storage_s3_get(const um_storage_s3 *s3, const char *key, const char *path, int64_t max_bytes,
                      um_error *err)
{
    request r;
    sink *s = um_xcalloc(1, sizeof(*s));
    um_storage_temp out = {.fd = -1};
    int rc = -1;
    s->fd = -1;
    s->max_bytes = max_bytes;
    if (request_open(&r, s3, key, UM_ERR_INPUT, err) < 0)
        goto fail;
    if (!path || !*path || max_bytes < 0) {
        um_error_set(err, UM_ERR_USAGE, "%s: no local path, or a negative size limit", r.name);
        goto fail;
    }
    if (um_storage_temp_open(&out, path, err) < 0)
        goto fail;
    s->fd = out.fd;
    long status = 0;
    if (request_sign(&r, "GET", EMPTY_SHA256, NULL, err) < 0 ||
        request_perform(&r, s, &status, err) < 0)
        goto fail;
    if (status >= 300) {
        status_error(&r, status, s, "", err);
        goto fail;
    }
    if (um_storage_temp_commit(&out, err) < 0)
        goto fail;
    rc = 0;
fail:
    um_storage_temp_discard(&out);
    free(s);
    request_close(&r);
    return rc;
}

/* ---- upload ----------------------------------------------------------- */

/* The SHA-256 of the file to upload (f, at path), as lower-case hex, read
 * in blocks; f is back at its start afterwards. */
static int hash_file(const request *r, FILE *f, const char *path, char hex[65], um_error *err)
{
    EVP_MD_CTX *ctx = um_check_alloc(EVP_MD_CTX_new(), "an OpenSSL digest");
    unsigned char block[65536], digest[32];
    unsigned int len = 0;
    int ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    size_t n;
    while (ok && (n = fread(block, 1, sizeof(block), f)) > 0)
        ok = EVP_DigestUpdate(ctx, block, n);
    ok = ok && EVP_DigestFinal_ex(ctx, digest, &len) && len == sizeof(digest);
    EVP_MD_CTX_free(ctx);
    if (ferror(f) || fseeko(f, 0, SEEK_SET) != 0) {
        um_error_set(err, UM_ERR_OUTPUT, "%s: cannot read %s: %s", r->name, path, strerror(errno));
        return -1;
    }
    if (!ok) {
        um_error_set(err, UM_ERR_OTHER, "%s: cannot hash %s: OpenSSL failed", r->name, path);
        return -1;
    }
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < sizeof(digest); i++) {
        hex[2 * i] = digits[digest[i] >> 4];
        hex[2 * i + 1] = digits[digest[i] & 15];
    }
    hex[64] = '\0';
    return 0;
}

/* A Content-Type that can be sent as it is: no control characters (which
 * would end the header line and start another). */
static int content_type_ok(const char *type)
{
    for (const char *p = type; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return 0;
    return 1;
}

int um_storage_s3_put(const um_storage_s3 *s3, const char *key, const char *path,
                      const char *content_type, um_error *err)
{
    request r;
    sink *s = um_xcalloc(1, sizeof(*s));
    FILE *f = NULL;
    int rc = -1;
    s->fd = -1;
    if (request_open(&r, s3, key, UM_ERR_OUTPUT, err) < 0)
        goto fail;
    if (content_type && !content_type_ok(content_type)) {
        um_error_set(err, UM_ERR_USAGE, "%s: the content type has control characters", r.name);
        goto fail;
    }
    struct stat st;
    if (!path || !(f = fopen(path, "rbe")) || fstat(fileno(f), &st) < 0) {
        um_error_set(err, UM_ERR_OUTPUT, "%s: cannot read %s: %s", r.name, path ? path : "(none)",
                     strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        um_error_set(err, UM_ERR_OUTPUT, "%s: %s is not a regular file", r.name, path);
        goto fail;
    }
    char sha256[65];
    if (hash_file(&r, f, path, sha256, err) < 0 ||
        request_sign(&r, "PUT", sha256, content_type, err) < 0)
        goto fail;
    CURLcode set = CURLE_OK;
    SET_OPTION(set, r.curl, CURLOPT_UPLOAD, 1L);
    SET_OPTION(set, r.curl, CURLOPT_READFUNCTION, on_upload);
    SET_OPTION(set, r.curl, CURLOPT_READDATA, f);
    SET_OPTION(set, r.curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)st.st_size);
    if (set != CURLE_OK) {
        um_error_set(err, UM_ERR_OTHER, "%s: cannot set up libcurl: %s", r.name,
                     curl_easy_strerror(set));
        goto fail;
    }
    long status = 0;
    if (request_perform(&r, s, &status, err) < 0)
        goto fail;
    if (status >= 300) {
        status_error(&r, status, s, "upload failed: ", err);
        goto fail;
    }
    rc = 0;
fail:
    if (f)
        fclose(f);
    free(s);
    request_close(&r);
    return rc;
}

/* ---- presigned URLs --------------------------------------------------- */

int um_storage_s3_presign_get(const um_storage_s3 *s3, const char *key, int ttl, time_t when,
                              char **url, um_error *err)
{
    *url = NULL;
    target t;
    const char *why = make_target(s3, key, &t);
    if (why) {
        um_error_set(err, UM_ERR_USAGE, "s3://%s/%s: %s", s3->bucket ? s3->bucket : "",
                     key ? key : "", why);
        return -1;
    }
    um_storage_header host = {"host", t.host};
    um_storage_sigv4_request req = {
        .method = "GET",
        .path = t.path,
        .headers = &host,
        .nb_headers = 1,
        .region = s3->region ? s3->region : DEFAULT_REGION,
        .service = "s3",
        .access_key = s3->access_key,
        .secret_key = s3->secret_key,
        .session_token = s3->session_token,
        .when = when,
    };
    um_storage_sigv4_result result;
    char *query = NULL;
    int rc = um_storage_sigv4_presign(&req, ttl, &result, &query, err);
    if (rc == 0) {
        *url = join(t.url, "?", query, NULL);
        um_storage_sigv4_result_clear(&result);
        free(query);
    }
    target_clear(&t);
    return rc;
}
