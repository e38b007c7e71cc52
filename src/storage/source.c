/*
 * Sources: a job's input URI made a local file, and user-given file names
 * made safe to create.
 *
 * A local path (or file:// URL) is used where it is. Anything else is
 * downloaded or decoded into the caller's folder, under a name taken from
 * the URI, sanitised, since the URI is the user's: never a path outside
 * the folder, a hidden file or a name the file system chokes on. The name
 * is reserved first (created empty, exclusively) and the download renamed
 * over it, so two jobs fetching "video.mp4" into one folder get two files,
 * and no existing file is overwritten.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "storage/storage_internal.h"

/* Longest sanitised name, and longest extension kept when cutting one. */
#define NAME_MAX_BYTES 100
#define EXT_MAX_BYTES 16
/* How many "N-name" variants are tried before giving up on a folder. */
#define MAX_NAME_TRIES 1000

/* ---- file names ------------------------------------------------------- */

static int name_char_ok(int c)
{
    return isascii(c) && (isalnum(c) || c == '.' || c == '_' || c == '-');
}

void um_storage_sanitize_filename(const char *name, const char *fallback, char *out, size_t cap)
{
    if (cap == 0)
        return;
    size_t limit = cap - 1 < NAME_MAX_BYTES ? cap - 1 : NAME_MAX_BYTES;
    const char *base = name ? name : "";
    for (const char *p = base; *p; p++)
        if (*p == '/' || *p == '\\')
            base = p + 1;
    while (*base == '.')
        base++;
    size_t len = strlen(base), keep = len, ext = 0;
    if (len > limit) {
        /* Keep the extension (when it is short enough to be one) and cut
         * the stem before it. */
        const char *dot = strrchr(base, '.');
        if (dot && strlen(dot) <= EXT_MAX_BYTES && strlen(dot) < limit)
            ext = strlen(dot);
        keep = limit - ext;
    }
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (i < keep || i >= len - ext)
            out[n++] = name_char_ok((unsigned char)base[i]) ? base[i] : '_';
    out[n] = '\0';
    if (n == 0)
        snprintf(out, cap, "%s", fallback ? fallback : "");
}

/* Reserves a new file in dir named name, or "1-name", "2-name", ... when
 * that exists: creates it empty and exclusively, so no other caller can
 * take the same name. *path is a new string. */
static int reserve_path(const char *dir, const char *name, char **path, um_error *err)
{
    if (!dir || !dir[0]) {
        um_error_set(err, UM_ERR_USAGE, "a folder to download the source into is needed");
        return -1;
    }
    size_t cap = strlen(dir) + strlen(name) + 16;
    *path = um_xmalloc(cap);
    for (int i = 0; i < MAX_NAME_TRIES; i++) {
        if (i == 0)
            snprintf(*path, cap, "%s/%s", dir, name);
        else
            snprintf(*path, cap, "%s/%d-%s", dir, i, name);
        int fd = open(*path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd >= 0) {
            close(fd);
            return 0;
        }
        if (errno != EEXIST)
            break;
    }
    if (errno == EEXIST)
        um_error_set(err, UM_ERR_OUTPUT, "cannot find a free name for %s in %s", name, dir);
    else
        um_error_set(err, UM_ERR_OUTPUT, "cannot create %s: %s", *path, strerror(errno));
    free(*path);
    *path = NULL;
    return -1;
}

/* ---- URIs ------------------------------------------------------------- */

/* The length of the URI's scheme when it starts with "SCHEME://", else 0. */
static size_t scheme_length(const char *uri)
{
    if (!isalpha((unsigned char)uri[0]))
        return 0;
    size_t n = 1;
    while (isalnum((unsigned char)uri[n]) || uri[n] == '+' || uri[n] == '-' || uri[n] == '.')
        n++;
    return strncmp(uri + n, "://", 3) == 0 ? n : 0;
}

/* True when the first len bytes of s are word, ignoring case. */
static int same_word(const char *s, size_t len, const char *word)
{
    return strlen(word) == len && strncasecmp(s, word, len) == 0;
}

/* The file name for an http(s) download: the URL path's last segment,
 * without the query or fragment, sanitised; "source" when there is none. */
static void url_file_name(const char *url, char *out, size_t cap)
{
    const char *auth = strstr(url, "://") + 3;
    const char *path = auth + strcspn(auth, "/?#");
    size_t len = strcspn(path, "?#");
    char *segment = um_xmalloc(len + 1);
    memcpy(segment, path, len);
    segment[len] = '\0';
    um_storage_sanitize_filename(segment, "source", out, cap);
    free(segment);
}

/* The extension for a data: URL's media type (".bin" when unknown). */
static const char *data_extension(const char *uri)
{
    static const struct {
        const char *type, *ext;
    } types[] = {
        {"image/png", ".png"},         {"image/jpeg", ".jpg"},       {"image/webp", ".webp"},
        {"video/mp4", ".mp4"},         {"video/quicktime", ".mov"}, {"video/x-matroska", ".mkv"},
    };
    const char *type = uri + 5;
    size_t len = strcspn(type, ";,");
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (same_word(type, len, types[i].type))
            return types[i].ext;
    return ".bin";
}

/* ---- downloads -------------------------------------------------------- */

/* Hands a download's file to the caller, or, when the download failed,
 * removes the name reserved for it. */
static int finish_download(char *path, int rc, char **local, int *downloaded)
{
    if (rc < 0) {
        unlink(path);
        free(path);
        return -1;
    }
    *local = path;
    *downloaded = 1;
    return 0;
}

/* An s3:// object, saved under its key's last part. */
static int fetch_s3_source(const char *uri, const um_storage_context *ctx, const char *dir,
                           char **local, int *downloaded, um_error *err)
{
    char *bucket, *key, *path, name[NAME_MAX_BYTES + 1];
    if (um_storage_parse_s3_uri(uri, &bucket, &key, err) < 0)
        return -1;
    um_storage_sanitize_filename(key, "source", name, sizeof(name));
    int rc = reserve_path(dir, name, &path, err);
    if (rc == 0) {
        um_storage_s3 s3 = ctx->s3;
        s3.bucket = bucket;
        rc = finish_download(path, um_storage_s3_get(&s3, key, path, ctx->fetch.max_bytes, err),
                             local, downloaded);
    }
    free(bucket);
    free(key);
    return rc;
}

int um_storage_fetch_source(const char *uri, const um_storage_context *ctx, const char *dir,
                            char **local, int *downloaded, um_error *err)
{
    if (local)
        *local = NULL;
    if (downloaded)
        *downloaded = 0;
    if (!uri || !uri[0] || !local || !downloaded) {
        um_error_set(err, UM_ERR_USAGE, "fetch source: a URI is needed");
        return -1;
    }
    um_storage_context defaults;
    if (!ctx) {
        um_storage_s3_init(&defaults.s3);
        um_storage_fetch_options_init(&defaults.fetch);
        ctx = &defaults;
    }
    char name[NAME_MAX_BYTES + 8], *path;
    size_t scheme = scheme_length(uri);
    if (scheme == 0 && strncasecmp(uri, "data:", 5) == 0) {
        snprintf(name, sizeof(name), "source%s", data_extension(uri));
        if (reserve_path(dir, name, &path, err) < 0)
            return -1;
        return finish_download(
            path, um_storage_decode_to_file(uri, ctx->fetch.max_bytes, path, err), local,
            downloaded);
    }
    if (scheme == 0) {
        *local = um_xstrdup(uri);
        return 0;
    }
    if (same_word(uri, scheme, "file")) {
        if (!uri[scheme + 3]) {
            um_error_set(err, UM_ERR_USAGE, "a file:// source needs a path");
            return -1;
        }
        *local = um_xstrdup(uri + scheme + 3);
        return 0;
    }
    if (same_word(uri, scheme, "http") || same_word(uri, scheme, "https")) {
        url_file_name(uri, name, sizeof(name));
        if (reserve_path(dir, name, &path, err) < 0)
            return -1;
        return finish_download(path, um_storage_fetch_url(uri, &ctx->fetch, path, err), local,
                               downloaded);
    }
    if (same_word(uri, scheme, "s3"))
        return fetch_s3_source(uri, ctx, dir, local, downloaded, err);
    um_error_set(err, UM_ERR_USAGE, "unsupported source scheme \"%.*s\"", (int)scheme, uri);
    return -1;
}

const char *um_storage_content_type(const char *name)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".mp4", "video/mp4"},   {".mov", "video/quicktime"}, {".mkv", "video/x-matroska"},
        {".webm", "video/webm"}, {".png", "image/png"},       {".jpg", "image/jpeg"},
        {".jpeg", "image/jpeg"}, {".webp", "image/webp"},
    };
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
        if (strcasecmp(dot, types[i].ext) == 0)
            return types[i].type;
    return "application/octet-stream";
}
