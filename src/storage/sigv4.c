/*
 * AWS Signature Version 4: the Authorization header for a request, and
 * presigned query strings, over OpenSSL's SHA-256 and HMAC.
 *
 * Signing has four steps, each kept in the result so that tests can hold
 * every one against AWS's published examples:
 *
 *   canonical request  METHOD \n URI \n QUERY \n HEADERS \n SIGNED \n PAYLOAD
 *   string to sign     AWS4-HMAC-SHA256 \n DATE \n SCOPE \n hex(sha256(canonical))
 *   signing key        HMAC chain "AWS4"+secret -> yyyymmdd -> region -> service
 *                      -> "aws4_request"
 *   signature          hex(HMAC(signing key, string to sign))
 *
 * The canonical forms follow the SigV4 rules: query parameters decoded and
 * encoded again (RFC 3986 unreserved characters kept, everything else
 * %XX in upper case), sorted by name then value; header names lower-cased,
 * values trimmed with inner runs of white space made one space, sorted by
 * name, repeated names joined by commas in the order given. S3 signs the
 * path as sent; other services remove dot segments and empty segments and
 * encode the path once more.
 *
 * The secret key only ever goes into the first HMAC key, which is wiped
 * after use; nothing here writes a secret into an error.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "unmark/storage.h"

#define ALGORITHM "AWS4-HMAC-SHA256"
#define UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"
/* The longest a presigned URL may live, in seconds (seven days). */
#define MAX_EXPIRES 604800

/* ---- growing strings ------------------------------------------------- */

/* A string built piece by piece; s is always NUL-terminated once used. */
typedef struct {
    char *s;
    size_t len, cap;
} text;

static void text_addn(text *t, const char *s, size_t n)
{
    if (t->len + n + 1 > t->cap) {
        t->cap = (t->len + n + 1) * 2;
        t->s = um_xrealloc(t->s, t->cap);
    }
    memcpy(t->s + t->len, s, n);
    t->len += n;
    t->s[t->len] = '\0';
}

static void text_add(text *t, const char *s) { text_addn(t, s, strlen(s)); }

static void text_addc(text *t, char c) { text_addn(t, &c, 1); }

/* The string built so far, "" when nothing was added; the caller owns it. */
static char *text_take(text *t)
{
    char *s = t->s ? t->s : um_xstrdup("");
    *t = (text){0};
    return s;
}

/* ---- percent-encoding ------------------------------------------------ */

/* RFC 3986's unreserved characters, the only ones SigV4 leaves as they are. */
static int unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

/* Appends n bytes of s percent-encoded (upper-case hex), '/' kept when
 * keep_slash. Bytes, not characters: UTF-8 is encoded byte by byte. */
static void encode_into(text *t, const unsigned char *s, size_t n, int keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        if (unreserved(s[i]) || (keep_slash && s[i] == '/')) {
            text_addc(t, (char)s[i]);
        } else {
            char esc[3] = {'%', hex[s[i] >> 4], hex[s[i] & 15]};
            text_addn(t, esc, 3);
        }
    }
}

char *um_storage_uri_encode(const char *s, int keep_slash)
{
    text t = {0};
    encode_into(&t, (const unsigned char *)s, strlen(s), keep_slash);
    return text_take(&t);
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)tolower((unsigned char)c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* n bytes of s with each valid %XX decoded ('+' stays '+', a stray '%'
 * stays '%'), then encoded as SigV4 wants: the one spelling that every
 * way of writing the same bytes comes to. A new string. */
static char *recode(const char *s, size_t n)
{
    unsigned char *raw = um_xmalloc(n + 1);
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        int hi, lo;
        if (s[i] == '%' && i + 2 < n && (hi = hex_value(s[i + 1])) >= 0 &&
            (lo = hex_value(s[i + 2])) >= 0) {
            raw[len++] = (unsigned char)(hi * 16 + lo);
            i += 2;
        } else {
            raw[len++] = (unsigned char)s[i];
        }
    }
    text t = {0};
    encode_into(&t, raw, len, 0);
    free(raw);
    return text_take(&t);
}

/* ---- name/value lists ------------------------------------------------- */

/* A header or query parameter; order is its place in the input, so that
 * sorting headers by name keeps repeated names in the order given. */
typedef struct {
    char *name, *value;
    size_t order;
} pair;

typedef struct {
    pair *v;
    size_t n, cap;
} pairs;

/* Adds a pair, taking ownership of name and value. */
static void pairs_add(pairs *p, char *name, char *value)
{
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 16;
        p->v = um_xrealloc(p->v, p->cap * sizeof(*p->v));
    }
    p->v[p->n] = (pair){name, value, p->n};
    p->n++;
}

static void pairs_free(pairs *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->v[i].name);
        free(p->v[i].value);
    }
    free(p->v);
    *p = (pairs){0};
}

/* Query order: by encoded name, then encoded value, byte by byte. */
static int compare_params(const void *a, const void *b)
{
    const pair *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->value, y->value);
}

/* Header order: by name, then as given (qsort is not stable). */
static int compare_headers(const void *a, const void *b)
{
    const pair *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->order > y->order) - (x->order < y->order);
}

/* ---- canonical parts -------------------------------------------------- */

/* Adds the parameters of a query as sent ("b=2&a=1", "lifecycle"), each
 * name and value brought to its canonical spelling; a name without '='
 * has the empty value. */
static void add_query(pairs *params, const char *query)
{
    const char *p = query;
    while (p && *p) {
        size_t n = strcspn(p, "&");
        if (n > 0) {
            const char *eq = memchr(p, '=', n);
            size_t name_len = eq ? (size_t)(eq - p) : n;
            pairs_add(params, recode(p, name_len),
                      eq ? recode(eq + 1, n - name_len - 1) : um_xstrdup(""));
        }
        p += n;
        if (*p == '&')
            p++;
    }
}

/* Adds a parameter whose value is plain text (not yet encoded). */
static void add_param(pairs *params, const char *name, const char *value)
{
    pairs_add(params, um_storage_uri_encode(name, 0), um_storage_uri_encode(value, 0));
}

/* The parameters sorted and joined: "a=1&b=2". A new string. */
static char *join_params(pairs *params)
{
    if (params->n > 1)
        qsort(params->v, params->n, sizeof(*params->v), compare_params);
    text t = {0};
    for (size_t i = 0; i < params->n; i++) {
        if (i)
            text_addc(&t, '&');
        text_add(&t, params->v[i].name);
        text_addc(&t, '=');
        text_add(&t, params->v[i].value);
    }
    return text_take(&t);
}

/* A header value as signed: leading and trailing white space removed,
 * each inner run of it made one space. A new string. */
static char *trim_all(const char *value)
{
    text t = {0};
    int space = 0;
    for (const char *p = value; *p; p++) {
        if (isspace((unsigned char)*p)) {
            space = 1;
            continue;
        }
        if (space && t.len > 0)
            text_addc(&t, ' ');
        space = 0;
        text_addc(&t, *p);
    }
    return text_take(&t);
}

/* Adds a header with its name lower-cased and its value trimmed. */
static void add_header(pairs *headers, const char *name, const char *value)
{
    char *lower = um_xstrdup(name);
    for (char *p = lower; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    pairs_add(headers, lower, trim_all(value));
}

/* The value of a header already added (names lower-case), or NULL. */
static const char *find_header(const pairs *headers, const char *name)
{
    for (size_t i = 0; i < headers->n; i++)
        if (strcmp(headers->v[i].name, name) == 0)
            return headers->v[i].value;
    return NULL;
}

/* Sorts the headers and merges repeated names into one, their values
 * joined by commas in the order given. */
static void merge_headers(pairs *headers)
{
    qsort(headers->v, headers->n, sizeof(*headers->v), compare_headers);
    size_t out = 0;
    for (size_t i = 0; i < headers->n; i++) {
        if (out > 0 && strcmp(headers->v[out - 1].name, headers->v[i].name) == 0) {
            pair *last = &headers->v[out - 1];
            text t = {last->value, strlen(last->value), strlen(last->value) + 1};
            text_addc(&t, ',');
            text_add(&t, headers->v[i].value);
            last->value = t.s;
            free(headers->v[i].name);
            free(headers->v[i].value);
        } else {
            headers->v[out++] = headers->v[i];
        }
    }
    headers->n = out;
}

/* "host;x-amz-date": the merged header names joined by ';'. A new string. */
static char *signed_header_list(const pairs *headers)
{
    text t = {0};
    for (size_t i = 0; i < headers->n; i++) {
        if (i)
            text_addc(&t, ';');
        text_add(&t, headers->v[i].name);
    }
    return text_take(&t);
}

/* The canonical URI of a path other than S3's: empty segments and "."
 * removed, ".." taking the segment before it away (RFC 3986's
 * remove_dot_segments), a trailing slash kept, each segment encoded once
 * more. A new string. */
static char *normalized_path(const char *path)
{
    /* The segments kept so far; a path of n bytes has n / 2 + 1 at most. */
    struct {
        const char *s;
        size_t n;
    } *seg = um_xmalloc((strlen(path) / 2 + 1) * sizeof(*seg));
    size_t count = 0;
    int trailing = 0;
    for (const char *p = path; *p;) {
        if (*p == '/') {
            p++;
            trailing = 1;
            continue;
        }
        size_t n = strcspn(p, "/");
        if (n == 2 && p[0] == '.' && p[1] == '.') {
            if (count > 0)
                count--;
        } else if (!(n == 1 && p[0] == '.')) {
            seg[count].s = p;
            seg[count++].n = n;
        }
        /* A path ending in "." or ".." names a folder. */
        trailing = (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.');
        p += n;
    }
    text t = {0};
    for (size_t i = 0; i < count; i++) {
        text_addc(&t, '/');
        encode_into(&t, (const unsigned char *)seg[i].s, seg[i].n, 0);
    }
    if (count == 0 || trailing)
        text_addc(&t, '/');
    free(seg);
    return text_take(&t);
}

/* ---- hashing ---------------------------------------------------------- */

static void to_hex(const unsigned char *d, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 15];
    }
    out[2 * n] = '\0';
}

static int openssl_fail(um_error *err)
{
    um_error_set(err, UM_ERR_OTHER, "sigv4: OpenSSL could not compute SHA-256");
    return -1;
}

/* HMAC-SHA256 of msg under key into out (32 bytes). */
static int hmac(const unsigned char *key, size_t key_len, const char *msg, unsigned char out[32],
                um_error *err)
{
    unsigned int n = 0;
    if (!HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)msg, strlen(msg), out, &n) ||
        n != 32)
        return openssl_fail(err);
    return 0;
}

/* The signing key for a day, region and service: the HMAC chain that
 * starts from "AWS4" + secret. The buffer holding the secret is wiped. */
static int signing_key(const char *secret, const char *date, const char *region,
                       const char *service, unsigned char key[32], um_error *err)
{
    size_t n = strlen(secret) + 4;
    unsigned char *first = um_xmalloc(n);
    memcpy(first, "AWS4", 4);
    memcpy(first + 4, secret, n - 4);
    int rc = hmac(first, n, date, key, err);
    OPENSSL_cleanse(first, n);
    free(first);
    if (rc < 0 || hmac(key, 32, region, key, err) < 0 || hmac(key, 32, service, key, err) < 0 ||
        hmac(key, 32, "aws4_request", key, err) < 0)
        return -1;
    return 0;
}

/* ---- signing ---------------------------------------------------------- */

/* Checks what every request needs and writes its time into
 * result->amz_date ("20130524T000000Z"). */
static int check_request(const um_storage_sigv4_request *req, um_storage_sigv4_result *result,
                         um_error *err)
{
    if (!req->method || !*req->method || !req->path || !req->region || !*req->region ||
        !req->service || !*req->service || !req->access_key || !*req->access_key ||
        !req->secret_key || !*req->secret_key) {
        um_error_set(err, UM_ERR_USAGE,
                     "sigv4: the request needs a method, a path, a region, a service and "
                     "credentials");
        return -1;
    }
    struct tm tm;
    if (!gmtime_r(&req->when, &tm) ||
        strftime(result->amz_date, sizeof(result->amz_date), "%Y%m%dT%H%M%SZ", &tm) != 16) {
        um_error_set(err, UM_ERR_USAGE, "sigv4: the signing time %lld cannot be written as a date",
                     (long long)req->when);
        return -1;
    }
    return 0;
}

/* The caller's headers, then the checks on them: host must be there, and
 * any x-amz-date given must be the signing time. */
static int collect_headers(const um_storage_sigv4_request *req, const char *amz_date,
                           pairs *headers, um_error *err)
{
    for (int i = 0; i < req->nb_headers; i++) {
        if (!req->headers[i].name || !*req->headers[i].name || !req->headers[i].value) {
            um_error_set(err, UM_ERR_USAGE, "sigv4: header %d has no name or no value", i);
            return -1;
        }
        add_header(headers, req->headers[i].name, req->headers[i].value);
    }
    const char *date = find_header(headers, "x-amz-date");
    if (!find_header(headers, "host")) {
        um_error_set(err, UM_ERR_USAGE, "sigv4: the request has no host header");
        return -1;
    }
    if (date && strcmp(date, amz_date) != 0) {
        um_error_set(err, UM_ERR_USAGE,
                     "sigv4: the x-amz-date header (%s) is not the signing time (%s)", date,
                     amz_date);
        return -1;
    }
    return 0;
}

/* "20130524/us-east-1/s3/aws4_request". A new string. */
static char *credential_scope(const um_storage_sigv4_request *req, const char *amz_date)
{
    text t = {0};
    text_addn(&t, amz_date, 8);
    text_addc(&t, '/');
    text_add(&t, req->region);
    text_addc(&t, '/');
    text_add(&t, req->service);
    text_add(&t, "/aws4_request");
    return text_take(&t);
}

/*
 * The steps both ways of signing share, from the canonical parts to the
 * signature: builds the canonical request and the string to sign into
 * result, and the signature. headers must be merged; query canonical.
 */
static int sign_canonical(const um_storage_sigv4_request *req, const pairs *headers,
                          const char *query, const char *signed_headers, const char *payload,
                          const char *scope, um_storage_sigv4_result *result, um_error *err)
{
    text t = {0};
    text_add(&t, req->method);
    text_addc(&t, '\n');
    if (req->normalize_path) {
        char *path = normalized_path(req->path);
        text_add(&t, path);
        free(path);
    } else {
        text_add(&t, *req->path ? req->path : "/");
    }
    text_addc(&t, '\n');
    text_add(&t, query);
    text_addc(&t, '\n');
    for (size_t i = 0; i < headers->n; i++) {
        text_add(&t, headers->v[i].name);
        text_addc(&t, ':');
        text_add(&t, headers->v[i].value);
        text_addc(&t, '\n');
    }
    text_addc(&t, '\n');
    text_add(&t, signed_headers);
    text_addc(&t, '\n');
    text_add(&t, payload);
    result->canonical_request = text_take(&t);

    unsigned char digest[32], key[32], mac[32];
    char digest_hex[65];
    if (!EVP_Digest(result->canonical_request, strlen(result->canonical_request), digest, NULL,
                    EVP_sha256(), NULL))
        return openssl_fail(err);
    to_hex(digest, sizeof(digest), digest_hex);
    text_add(&t, ALGORITHM "\n");
    text_add(&t, result->amz_date);
    text_addc(&t, '\n');
    text_add(&t, scope);
    text_addc(&t, '\n');
    text_add(&t, digest_hex);
    result->string_to_sign = text_take(&t);

    char date[9];
    snprintf(date, sizeof(date), "%.8s", result->amz_date);
    int rc = signing_key(req->secret_key, date, req->region, req->service, key, err);
    if (rc == 0)
        rc = hmac(key, sizeof(key), result->string_to_sign, mac, err);
    OPENSSL_cleanse(key, sizeof(key));
    if (rc < 0)
        return -1;
    to_hex(mac, sizeof(mac), result->signature);
    return 0;
}

int um_storage_sigv4_sign(const um_storage_sigv4_request *req, um_storage_sigv4_result *result,
                          um_error *err)
{
    memset(result, 0, sizeof(*result));
    pairs headers = {0}, params = {0};
    char *query = NULL, *signed_headers = NULL, *scope = NULL;
    int rc = -1;
    if (check_request(req, result, err) < 0)
        goto fail;
    if (!req->payload_sha256 || !*req->payload_sha256) {
        um_error_set(err, UM_ERR_USAGE, "sigv4: the request has no payload hash");
        goto fail;
    }
    if (collect_headers(req, result->amz_date, &headers, err) < 0)
        goto fail;
    if (!find_header(&headers, "x-amz-date"))
        add_header(&headers, "x-amz-date", result->amz_date);
    if (req->session_token && !find_header(&headers, "x-amz-security-token"))
        add_header(&headers, "x-amz-security-token", req->session_token);
    merge_headers(&headers);
    add_query(&params, req->query);
    query = join_params(&params);
    signed_headers = signed_header_list(&headers);
    scope = credential_scope(req, result->amz_date);
    if (sign_canonical(req, &headers, query, signed_headers, req->payload_sha256, scope, result,
                       err) < 0)
        goto fail;
    text t = {0};
    text_add(&t, ALGORITHM " Credential=");
    text_add(&t, req->access_key);
    text_addc(&t, '/');
    text_add(&t, scope);
    text_add(&t, ", SignedHeaders=");
    text_add(&t, signed_headers);
    text_add(&t, ", Signature=");
    text_add(&t, result->signature);
    result->authorization = text_take(&t);
    rc = 0;
fail:
    if (rc < 0)
        um_storage_sigv4_result_clear(result);
    pairs_free(&headers);
    pairs_free(&params);
    free(query);
    free(signed_headers);
    free(scope);
    return rc;
}

int um_storage_sigv4_presign(const um_storage_sigv4_request *req, int expires,
                             um_storage_sigv4_result *result, char **query, um_error *err)
{
    memset(result, 0, sizeof(*result));
    *query = NULL;
    pairs headers = {0}, params = {0};
    char *canonical_query = NULL, *signed_headers = NULL, *scope = NULL;
    int rc = -1;
    if (check_request(req, result, err) < 0)
        goto fail;
    if (expires < 1 || expires > MAX_EXPIRES) {
        um_error_set(err, UM_ERR_USAGE, "sigv4: a presigned URL lasts 1 to %d seconds, not %d",
                     MAX_EXPIRES, expires);
        goto fail;
    }
    if (collect_headers(req, result->amz_date, &headers, err) < 0)
        goto fail;
    merge_headers(&headers);
    signed_headers = signed_header_list(&headers);
    scope = credential_scope(req, result->amz_date);

    char number[16];
    text credential = {0};
    text_add(&credential, req->access_key);
    text_addc(&credential, '/');
    text_add(&credential, scope);
    snprintf(number, sizeof(number), "%d", expires);
    add_query(&params, req->query);
    add_param(&params, "X-Amz-Algorithm", ALGORITHM);
    add_param(&params, "X-Amz-Credential", credential.s);
    add_param(&params, "X-Amz-Date", result->amz_date);
    add_param(&params, "X-Amz-Expires", number);
    add_param(&params, "X-Amz-SignedHeaders", signed_headers);
    if (req->session_token)
        add_param(&params, "X-Amz-Security-Token", req->session_token);
    free(credential.s);
    canonical_query = join_params(&params);

    if (sign_canonical(req, &headers, canonical_query, signed_headers, UNSIGNED_PAYLOAD, scope,
                       result, err) < 0)
        goto fail;
    text t = {0};
    text_add(&t, canonical_query);
    text_add(&t, "&X-Amz-Signature=");
    text_add(&t, result->signature);
    *query = text_take(&t);
    rc = 0;
fail:
    if (rc < 0)
        um_storage_sigv4_result_clear(result);
    pairs_free(&headers);
    pairs_free(&params);
    free(canonical_query);
    free(signed_headers);
    free(scope);
    return rc;
}

void um_storage_sigv4_result_clear(um_storage_sigv4_result *result)
{
    free(result->canonical_request);
    free(result->string_to_sign);
    free(result->authorization);
    memset(result, 0, sizeof(*result));
}
