/*
 * unmark — storage: where a job's input comes from and where its result goes.
 *
 * A source is made a local file before the pipeline sees it: a local path
 * as it is; an http(s) URL downloaded with libcurl (TLS verified unless
 * told otherwise; loopback, link-local and private addresses refused
 * unless allowed, checked on every connection, redirects included); a
 * base64 text or data: URL decoded; an S3 object fetched. A result is a
 * local file, or an S3 object answered with a presigned GET URL.
 *
 * S3 requests and presigned URLs are signed with AWS Signature Version 4 by
 * the project's own code over OpenSSL (libcurl's CURLOPT_AWS_SIGV4 cannot
 * presign), checked against AWS's published examples.
 *
 * Every call returns 0 on success and -1 with err set on failure: a bad
 * argument is UM_ERR_USAGE, an unreachable or refused source UM_ERR_INPUT,
 * a failed upload UM_ERR_OUTPUT. Secrets never appear in err or in logs.
 */
#ifndef UNMARK_STORAGE_H
#define UNMARK_STORAGE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "unmark/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- AWS Signature Version 4 (sigv4.c) -------------------------------- */

typedef struct {
    const char *name, *value;
} um_storage_header;

/* One request to sign. Header names are signed lower-cased, values
 * trimmed; "host" must be among the headers. */
typedef struct {
    const char *method;              /* "GET", "PUT", ... */
    const char *path;                /* the URI path as sent, already encoded ("/my%20key") */
    const char *query;               /* the query as sent ("a=1&b=2"), or NULL */
    const um_storage_header *headers;
    int nb_headers;
    const char *payload_sha256;      /* lower-case hex, or "UNSIGNED-PAYLOAD" */
    const char *region;              /* "us-east-1" */
    const char *service;             /* "s3" */
    const char *access_key, *secret_key;
    const char *session_token;       /* or NULL */
    time_t when;                     /* the signing time, UTC */
    /* S3 signs the path as sent; other services normalise it (".", "..",
     * "//") and encode it once more. */
    int normalize_path;
} um_storage_sigv4_request;

/* What signing produced. The canonical request and the string to sign are
 * kept so that tests can compare each step with AWS's examples. */
typedef struct {
    char amz_date[17];               /* "20130524T000000Z" */
    char signature[65];              /* hex */
    char *canonical_request;
    char *string_to_sign;
    char *authorization;             /* the Authorization header's value */
} um_storage_sigv4_result;

/* Signs a request for an Authorization header. The caller sends the
 * headers it signed, x-amz-date among them (result->amz_date). */
int um_storage_sigv4_sign(const um_storage_sigv4_request *req, um_storage_sigv4_result *result,
                          um_error *err);
/* Presigns a request: the query string to append to the URL (the request's
 * own query, if any, plus the X-Amz-* parameters and the signature), for
 * expires seconds (1 .. 604800) from req->when. Signs the host header only
 * (plus any in req->headers); the payload is UNSIGNED-PAYLOAD. */
int um_storage_sigv4_presign(const um_storage_sigv4_request *req, int expires,
                             um_storage_sigv4_result *result, char **query, um_error *err);
void um_storage_sigv4_result_clear(um_storage_sigv4_result *result);
/* Percent-encodes s as SigV4 wants (RFC 3986 unreserved kept; '/' kept when
 * keep_slash): a new string. */
char *um_storage_uri_encode(const char *s, int keep_slash);

/* ---- S3 (s3.c) -------------------------------------------------------- */

typedef struct {
    const char *endpoint;            /* "https://s3.amazonaws.com" when NULL; or an
                                        S3-compatible store's, "http://127.0.0.1:4568" */
    const char *region;              /* "us-east-1" when NULL */
    const char *access_key, *secret_key;
    const char *session_token;       /* or NULL */
    const char *bucket;
    int path_style;                  /* 1: ENDPOINT/BUCKET/KEY; 0: BUCKET.HOST/KEY */
    int verify_tls;                  /* 1 unless told otherwise */
} um_storage_s3;

void um_storage_s3_init(um_storage_s3 *s3);
/* The object's URL (no signature): a new string. */
char *um_storage_s3_object_url(const um_storage_s3 *s3, const char *key);
/* Downloads the object to path (written whole or not at all). A 404 or 403
 * is UM_ERR_INPUT naming the bucket, key and S3's error code. max_bytes 0:
 * no limit. */
int um_storage_s3_get(const um_storage_s3 *s3, const char *key, const char *path,
                      int64_t max_bytes, um_error *err);
/* Uploads the file at path as the object (streamed, never held whole in
 * memory); content_type may be NULL. */
int um_storage_s3_put(const um_storage_s3 *s3, const char *key, const char *path,
                      const char *content_type, um_error *err);
/* A presigned GET URL for the object, valid ttl seconds from when. */
int um_storage_s3_presign_get(const um_storage_s3 *s3, const char *key, int ttl, time_t when,
                              char **url, um_error *err);
/* "s3://bucket/key/parts" into bucket and key (new strings). */
int um_storage_parse_s3_uri(const char *uri, char **bucket, char **key, um_error *err);

/* ---- URLs, base64 and sources (fetch.c, source.c) --------------------- */

typedef struct {
    const char *const *headers;      /* "Name: value" lines, NULL-terminated, or NULL */
    int verify_tls;                  /* 1 unless told otherwise */
    int allow_private;               /* allow loopback, link-local and private addresses */
    int64_t max_bytes;               /* a larger body fails; 0: no limit */
    int timeout_s;                   /* the whole transfer; 0: none */
    volatile int *cancel;            /* nonzero stops the transfer; may be NULL */
} um_storage_fetch_options;

void um_storage_fetch_options_init(um_storage_fetch_options *o);
/* The URL as logs and messages show it: scheme, host, port and path,
 * without the userinfo, query or fragment (which can carry secrets: a
 * password, a token, a presigned signature). */
void um_storage_redact_url(const char *url, char *out, size_t cap);
/* Whether s may be an HTTP header's name: a token (RFC 9110), at most 128
 * bytes. For checking headers a user asks a fetch to send. */
int um_storage_header_name_ok(const char *s);
/* Downloads an http(s) URL to path (written whole or not at all). Other
 * schemes are refused; so is any address the options do not allow, at
 * every connection (redirects, up to 5, are followed). An HTTP status of
 * 400 or more fails, naming it. */
int um_storage_fetch_url(const char *url, const um_storage_fetch_options *o, const char *path,
                         um_error *err);
/* Decodes base64 (standard or URL-safe alphabet, padding optional,
 * whitespace ignored) or a "data:[type][;base64],..." URL into path.
 * max_bytes 0: no limit. */
int um_storage_decode_to_file(const char *text, int64_t max_bytes, const char *path, um_error *err);

/* What sources and results need beyond the URI itself. */
typedef struct {
    um_storage_s3 s3;                /* endpoint and credentials for s3:// (bucket from the URI) */
    um_storage_fetch_options fetch;  /* for http(s) */
} um_storage_context;

/* Makes the source a local file. A local path or file:// URL gives its own
 * path; an http(s), s3:// or data: URI is downloaded into dir as a file
 * named from the URI (sanitised). *local is a new string either way;
 * *downloaded is 1 when the file is a download the caller should delete. */
int um_storage_fetch_source(const char *uri, const um_storage_context *ctx, const char *dir,
                            char **local, int *downloaded, um_error *err);
/* The media type a file of this name holds, by its extension ("video/mp4",
 * "image/png" ...; "application/octet-stream" when unknown): for results
 * sent over HTTP or stored in S3. */
const char *um_storage_content_type(const char *name);
/* A user-given file name made safe: its last path component, only
 * [A-Za-z0-9._-] kept (others become '_'), no leading '.', at most 100
 * bytes keeping the extension; fallback when nothing is left. */
void um_storage_sanitize_filename(const char *name, const char *fallback, char *out, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
