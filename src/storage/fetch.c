/*
 * Getting a source's bytes into a local file: http(s) downloads through
 * libcurl, and base64 text or data: URLs decoded.
 *
 * A download is the service fetching whatever URL a user gave it, so it is
 * fenced in: only http and https, redirects included; at most 5 redirects;
 * and, unless private addresses are allowed, no connection to loopback,
 * link-local, private or otherwise non-public addresses. That check sits in
 * libcurl's open-socket callback, which sees the address libcurl resolved
 * and is about to connect to, for every connection of the transfer: a
 * redirect to an internal host, or a name that resolves to 127.0.0.1 the
 * second time it is asked (DNS rebinding), is refused like a direct one.
 *
 * Every file is written to PATH.part-XXXXXX in the same folder and renamed
 * over PATH once whole, so a failed or canceled fetch leaves nothing at
 * PATH. Error messages show URLs without their userinfo and query string,
 * which can carry credentials or signatures.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>

#include "storage/storage_internal.h"

#define MAX_REDIRECTS 5L
/* Decoded bytes are written in chunks of this size. */
#define DECODE_CHUNK 65536

/* ---- libcurl's global state ------------------------------------------- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result;

static void curl_init_once(void) { curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT); }

int um_storage_curl_init(um_error *err)
{
    pthread_once(&curl_once, curl_init_once);
    if (curl_init_result != CURLE_OK) {
        um_error_set(err, UM_ERR_OTHER, "cannot initialise libcurl: %s",
                     curl_easy_strerror(curl_init_result));
        return -1;
    }
    return 0;
}

int um_storage_header_name_ok(const char *s)
{
    if (!*s || strlen(s) > 128)
        return 0;
    for (; *s; s++)
        if (!strchr("!#$%&'*+-.^_`|~", *s) && !(*s >= '0' && *s <= '9') &&
            !((*s | 32) >= 'a' && (*s | 32) <= 'z'))
            return 0;
    return 1;
}

/* ---- addresses -------------------------------------------------------- */

/* See um_storage_address_refusal; a is the address in network order. */
static const char *ipv4_refusal(const uint8_t a[4])
{
    if (a[0] == 0)
        return a[1] | a[2] | a[3] ? "reserved" : "unspecified";
    if (a[0] == 127)
        return "loopback";
    if (a[0] == 10 || (a[0] == 172 && (a[1] & 0xf0) == 16) || (a[0] == 192 && a[1] == 168))
        return "private";
    if (a[0] == 169 && a[1] == 254)
        return "link-local";
    if (a[0] == 100 && (a[1] & 0xc0) == 64)
        return "carrier-grade NAT";
    if ((a[0] & 0xf0) == 224)
        return "multicast";
    if ((a[0] & 0xf0) == 240) /* 240/4, the broadcast address among them */
        return "reserved";
    return NULL;
}

/* See um_storage_address_refusal. An IPv6 address that carries an IPv4
 * one reaches that IPv4 host, so it is judged as that address: mapped
 * (::ffff:a.b.c.d), compatible (::a.b.c.d), NAT64 (64:ff9b::a.b.c.d) and
 * 6to4 (2002:AABB:CCDD::). */
static const char *ipv6_refusal(const uint8_t a[16])
{
    static const uint8_t zeros[16];
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const uint8_t nat64[12] = {0, 0x64, 0xff, 0x9b};
    if (memcmp(a, zeros, 16) == 0)
        return "unspecified";
    if (memcmp(a, zeros, 15) == 0 && a[15] == 1)
        return "loopback";
    if (memcmp(a, zeros, 12) == 0 || memcmp(a, mapped, 12) == 0 || memcmp(a, nat64, 12) == 0)
        return ipv4_refusal(a + 12);
    if (a[0] == 0x20 && a[1] == 0x02)
        return ipv4_refusal(a + 2);
    if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80)
        return "link-local";
    if ((a[0] == 0xfe && (a[1] & 0xc0) == 0xc0) || (a[0] & 0xfe) == 0xfc) /* site-local, ULA */
        return "private";
    if (a[0] == 0xff)
        return "multicast";
    return NULL;
}

const char *um_storage_address_refusal(const struct sockaddr *addr, socklen_t len)
{
    /* Copied out rather than cast: the caller's storage need not be
     * aligned for the larger structures. */
    if (addr->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        struct sockaddr_in in;
        memcpy(&in, addr, sizeof(in));
        return ipv4_refusal((const uint8_t *)&in.sin_addr);
    }
    if (addr->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        struct sockaddr_in6 in6;
        memcpy(&in6, addr, sizeof(in6));
        return ipv6_refusal(in6.sin6_addr.s6_addr);
    }
    return "not an IP address";
}

/* The address as text ("127.0.0.1", "::1") for messages. */
static void address_text(const struct sockaddr *addr, socklen_t len, char *out, size_t cap)
{
    const char *text = NULL;
    if (addr->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        struct sockaddr_in in;
        memcpy(&in, addr, sizeof(in));
        text = inet_ntop(AF_INET, &in.sin_addr, out, (socklen_t)cap);
    } else if (addr->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        struct sockaddr_in6 in6;
        memcpy(&in6, addr, sizeof(in6));
        text = inet_ntop(AF_INET6, &in6.sin6_addr, out, (socklen_t)cap);
    }
    if (!text)
        snprintf(out, cap, "(address family %d)", addr->sa_family);
}

/* ---- URL downloads ---------------------------------------------------- */

void um_storage_fetch_options_init(um_storage_fetch_options *o)
{
    memset(o, 0, sizeof(*o));
    o->verify_tls = 1;
}

/* One download's state, shared with libcurl's callbacks. The callbacks
 * only note what stopped the transfer; check_result turns that into the
 * error, since libcurl reports every one of them as a generic failure. */
typedef struct {
    CURL *curl;
    const um_storage_fetch_options *o;
    um_storage_temp *out;
    um_error *err;
    int64_t written;
    int canceled, too_big, write_failed;
    char refused[160]; /* why a connection was refused; "" when none was */
} transfer;

void um_storage_redact_url(const char *url, char *out, size_t cap)
{
    const char *sep = strstr(url, "://");
    if (!sep) { /* a local path: nothing to hide */
        snprintf(out, cap, "%s", url);
        return;
    }
    const char *auth = sep ? sep + 3 : url;
    size_t auth_len = strcspn(auth, "/?#");
    const char *at = memrchr(auth, '@', auth_len);
    const char *host = at ? at + 1 : auth;
    const char *path = auth + auth_len;
    snprintf(out, cap, "%.*s%.*s%.*s", (int)(auth - url), url, (int)(path - host), host,
             (int)strcspn(path, "?#"), path);
}

static int is_http_url(const char *url)
{
    return strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0;
}

/* Writes the body to the temporary file. An error status's body is not
 * the file (the status is the error), and a body over max_bytes, as
 * Content-Length announces it or as it arrives, stops before anything
 * past the limit is written. */
static size_t on_write(char *data, size_t size, size_t nmemb, void *userdata)
{
    transfer *x = userdata;
    size_t n = size * nmemb;
    long status = 0;
    curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status >= 300)
        return 0;
    if (x->o->max_bytes > 0) {
        curl_off_t length = -1;
        curl_easy_getinfo(x->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);
        if (length > x->o->max_bytes || x->written + (int64_t)n > x->o->max_bytes) {
            x->too_big = 1;
            return 0;
        }
    }
    if (um_storage_temp_write(x->out, data, n, x->err) < 0) {
        x->write_failed = 1;
        return 0;
    }
    x->written += (int64_t)n;
    return n;
}

/* libcurl calls this at least once a second, even while nothing arrives,
 * so a cancel stops a stalled transfer too. */
static int on_progress(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    transfer *x = userdata;
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    if (x->o->cancel && *x->o->cancel) {
        x->canceled = 1;
        return 1;
    }
    return 0;
}

/* Opens each socket libcurl connects, unless the address it resolved is
 * one the options refuse: then it notes why and fails the connection. */
static curl_socket_t on_open_socket(void *userdata, curlsocktype purpose,
                                    struct curl_sockaddr *address)
{
    transfer *x = userdata;
    (void)purpose;
    if (!x->o->allow_private) {
        const char *why = um_storage_address_refusal(&address->addr, address->addrlen);
        if (why) {
            if (!x->refused[0]) {
                char text[INET6_ADDRSTRLEN + 32];
                address_text(&address->addr, address->addrlen, text, sizeof(text));
                snprintf(x->refused, sizeof(x->refused),
                         "address %s is %s; refused (allow private addresses to fetch it)", text,
                         why);
            }
            return CURL_SOCKET_BAD;
        }
    }
    return socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
}

/* The caller's "Name: value" lines as libcurl's list. A line break in one
 * would smuggle in another header or request, so it is refused (without
 * quoting the header, which may hold a secret). */
static int header_list(const char *const *lines, struct curl_slist **list, um_error *err)
{
    *list = NULL;
    for (; lines && *lines; lines++) {
        if (strpbrk(*lines, "\r\n")) {
            um_error_set(err, UM_ERR_USAGE, "a request header holds a line break");
            curl_slist_free_all(*list);
            *list = NULL;
            return -1;
        }
        *list = um_check_alloc(curl_slist_append(*list, *lines), "a request header");
    }
    return 0;
}

/* Sets up the transfer. Through a proxy, the address checked would be the
 * proxy's, not the source's, so proxies are not used unless private
 * addresses are allowed anyway. */
static int set_options(transfer *x, const char *url, struct curl_slist *headers, char *errbuf,
                       const char *shown)
{
    CURL *c = x->curl;
    const um_storage_fetch_options *o = x->o;
    CURLcode rc;
    if ((rc = curl_easy_setopt(c, CURLOPT_URL, url)) != CURLE_OK ||
        (rc = curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https")) != CURLE_OK ||
        (rc = curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https")) != CURLE_OK ||
        (rc = curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L)) != CURLE_OK ||
        (rc = curl_easy_setopt(c, CURLOPT_MAXREDIRS, MAX_REDIRECTS)) != CURLE_OK ||
        (rc = curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, o->verify_tls ? 1L : 0L)) != CURLE_OK ||
        (rc = curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, o->verify_tls ? 2L : 0L)) != CURLE_OK ||
        (rc = curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)o->timeout_s)) != CURLE_OK ||
        (rc = curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L)) != CURLE_OK ||
        (rc = curl_easy_setopt(c, CURLOPT_USERAGENT, "unmark/" UM_VERSION)) != CURLE_OK ||
        (rc = curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers)) != CURLE_OK ||
        (rc = curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf)) != CURLE_OK ||
        (rc = curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write)) != CURLE_OK ||
        (rc = curl_easy_setopt(c, CURLOPT_WRITEDATA, x)) != CURLE_OK ||
        (rc = curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L)) != CURLE_OK ||
        (rc = curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress)) != CURLE_OK ||
        (rc = curl_easy_setopt(c, CURLOPT_XFERINFODATA, x)) != CURLE_OK ||
        (rc = curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, on_open_socket)) != CURLE_OK ||
        (rc = curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, x)) != CURLE_OK ||
        (!o->allow_private && (rc = curl_easy_setopt(c, CURLOPT_PROXY, "")) != CURLE_OK)) {
        um_error_set(x->err, UM_ERR_OTHER, "cannot fetch %s: cannot set up libcurl: %s", shown,
                     curl_easy_strerror(rc));
        return -1;
    }
    return 0;
}

/* Turns how the transfer ended into 0 or an error, preferring what the
 * callbacks noted over libcurl's generic code for it (an error status
 * ends as CURLE_WRITE_ERROR when on_write stopped its body). */
static int check_result(const transfer *x, CURLcode rc, const char *errbuf, const char *shown)
{
    long status = 0;
    curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &status);
    int status_ok = status >= 200 && status < 300;
    if (x->write_failed)
        return -1; /* recorded by temp_write */
    if (x->canceled)
        um_error_set(x->err, UM_ERR_INPUT, "fetching %s: canceled", shown);
    else if (x->too_big)
        um_error_set(x->err, UM_ERR_INPUT, "cannot fetch %s: larger than the limit of %lld bytes",
                     shown, (long long)x->o->max_bytes);
    else if (rc == CURLE_OK && status_ok)
        return 0;
    else if (!status_ok && (rc == CURLE_OK || rc == CURLE_WRITE_ERROR))
        um_error_set(x->err, UM_ERR_INPUT, "cannot fetch %s: HTTP status %ld", shown, status);
    else if (x->refused[0])
        um_error_set(x->err, UM_ERR_INPUT, "cannot fetch %s: %s", shown, x->refused);
    else
        um_error_set(x->err, UM_ERR_INPUT, "cannot fetch %s: %s", shown,
                     errbuf[0] ? errbuf : curl_easy_strerror(rc));
    return -1;
}

int um_storage_fetch_url(const char *url, const um_storage_fetch_options *o, const char *path,
                         um_error *err)
{
    um_storage_fetch_options defaults;
    if (!o) {
        um_storage_fetch_options_init(&defaults);
        o = &defaults;
    }
    if (!url || !path || !path[0]) {
        um_error_set(err, UM_ERR_USAGE, "fetch: a URL and a file path are needed");
        return -1;
    }
    char shown[512];
    um_storage_redact_url(url, shown, sizeof(shown));
    if (!is_http_url(url)) {
        um_error_set(err, UM_ERR_USAGE, "cannot fetch %s: only http and https URLs can be fetched",
                     shown);
        return -1;
    }
    if (o->cancel && *o->cancel) {
        um_error_set(err, UM_ERR_INPUT, "fetching %s: canceled", shown);
        return -1;
    }
    struct curl_slist *headers;
    if (um_storage_curl_init(err) < 0 || header_list(o->headers, &headers, err) < 0)
        return -1;
    um_storage_temp out;
    if (um_storage_temp_open(&out, path, err) < 0) {
        curl_slist_free_all(headers);
        return -1;
    }
    transfer x = {.o = o, .out = &out, .err = err};
    x.curl = um_check_alloc(curl_easy_init(), "a libcurl handle");
    char errbuf[CURL_ERROR_SIZE] = "";
    int rc = set_options(&x, url, headers, errbuf, shown);
    if (rc == 0)
        rc = check_result(&x, curl_easy_perform(x.curl), errbuf, shown);
    curl_easy_cleanup(x.curl);
    curl_slist_free_all(headers);
    if (rc < 0) {
        um_storage_temp_discard(&out);
        return -1;
    }
    return um_storage_temp_commit(&out, err);
}

/* ---- base64 and data: URLs -------------------------------------------- */

/* Reads the text byte by byte, decoding %XX escapes when asked (data:
 * URLs), and knows each byte's offset in the text for messages. */
typedef struct {
    const char *text;
    size_t pos;
    int percent;
} reader;

static int hex_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The next byte in *c and its offset in *at: 1, or 0 at the end, or -1
 * on a bad escape. */
static int read_byte(reader *r, int *c, size_t *at, um_error *err)
{
    *at = r->pos;
    *c = (unsigned char)r->text[r->pos];
    if (*c == '\0')
        return 0;
    r->pos++;
    if (r->percent && *c == '%') {
        int hi = hex_value(r->text[r->pos]);
        int lo = hi < 0 ? -1 : hex_value(r->text[r->pos + 1]);
        if (lo < 0) {
            um_error_set(err, UM_ERR_INPUT, "invalid percent escape at offset %zu", *at);
            return -1;
        }
        *c = hi << 4 | lo;
        r->pos += 2;
    }
    return 1;
}

/* Collects decoded bytes in a fixed buffer and writes it out when full,
 * so a large input is never held twice; counts them against max_bytes. */
typedef struct {
    um_storage_temp *file;
    uint8_t *buf;
    size_t len;
    int64_t total, max;
} sink;

static int sink_flush(sink *s, um_error *err)
{
    int rc = um_storage_temp_write(s->file, s->buf, s->len, err);
    s->len = 0;
    return rc;
}

static int sink_put(sink *s, int byte, um_error *err)
{
    if (s->max > 0 && s->total >= s->max) {
        um_error_set(err, UM_ERR_INPUT, "decoded data is larger than the limit of %lld bytes",
                     (long long)s->max);
        return -1;
    }
    s->total++;
    s->buf[s->len++] = (uint8_t)byte;
    return s->len == DECODE_CHUNK ? sink_flush(s, err) : 0;
}

/* The value of a base64 character in either alphabet, or -1. */
static int sextet(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

/* Says what is wrong with the character at offset at. */
static int bad_char(int c, size_t at, um_error *err)
{
    if (c > ' ' && c < 0x7f)
        um_error_set(err, UM_ERR_INPUT, "invalid base64 character '%c' at offset %zu", c, at);
    else
        um_error_set(err, UM_ERR_INPUT, "invalid base64 character 0x%02x at offset %zu", c, at);
    return -1;
}

/* Decodes base64 from the reader into the sink: groups of four characters
 * make three bytes; a last group of two or three makes one or two, with
 * or without its '=' padding; whitespace anywhere is skipped. */
static int decode_base64(reader *r, sink *s, um_error *err)
{
    uint32_t acc = 0;
    int n = 0, pad = 0, c, got;
    size_t at;
    while ((got = read_byte(r, &c, &at, err)) > 0) {
        if (c == ' ' || (c >= '\t' && c <= '\r'))
            continue;
        if (c == '=') {
            if (n < 2 || n + pad >= 4)
                return bad_char(c, at, err);
            pad++;
            continue;
        }
        int v = sextet(c);
        if (v < 0 || pad)
            return bad_char(c, at, err);
        acc = acc << 6 | (uint32_t)v;
        if (++n == 4) {
            if (sink_put(s, (int)(acc >> 16 & 0xff), err) < 0 ||
                sink_put(s, (int)(acc >> 8 & 0xff), err) < 0 ||
                sink_put(s, (int)(acc & 0xff), err) < 0)
                return -1;
            acc = 0;
            n = 0;
        }
    }
    if (got < 0)
        return -1;
    if (n == 1) {
        um_error_set(err, UM_ERR_INPUT, "base64 text ends in the middle of a byte (offset %zu)",
                     at);
        return -1;
    }
    if (n >= 2 && sink_put(s, (int)(acc >> (n == 2 ? 4 : 10) & 0xff), err) < 0)
        return -1;
    if (n == 3 && sink_put(s, (int)(acc >> 2 & 0xff), err) < 0)
        return -1;
    return 0;
}

/* Copies the reader's bytes (percent-decoded) into the sink. */
static int decode_text(reader *r, sink *s, um_error *err)
{
    int c, got;
    size_t at;
    while ((got = read_byte(r, &c, &at, err)) > 0)
        if (sink_put(s, c, err) < 0)
            return -1;
    return got;
}

/* Points the reader at what to decode: a data: URL's data after its
 * comma, percent escapes decoded, base64 when its header ends in
 * ";base64"; any other text is base64 as it is. */
static int open_reader(const char *text, reader *r, int *base64, um_error *err)
{
    *r = (reader){.text = text};
    *base64 = 1;
    if (strncasecmp(text, "data:", 5) != 0)
        return 0;
    const char *comma = strchr(text, ',');
    if (!comma) {
        um_error_set(err, UM_ERR_INPUT, "a data: URL needs a ',' before its data");
        return -1;
    }
    *base64 = comma - text >= 12 && strncasecmp(comma - 7, ";base64", 7) == 0;
    r->pos = (size_t)(comma + 1 - text);
    r->percent = 1;
    return 0;
}

int um_storage_decode_to_file(const char *text, int64_t max_bytes, const char *path, um_error *err)
{
    if (!text || !path || !path[0]) {
        um_error_set(err, UM_ERR_USAGE, "decode: a text and a file path are needed");
        return -1;
    }
    reader r;
    int base64;
    if (open_reader(text, &r, &base64, err) < 0)
        return -1;
    um_storage_temp out;
    if (um_storage_temp_open(&out, path, err) < 0)
        return -1;
    sink s = {.file = &out, .buf = um_xmalloc(DECODE_CHUNK), .max = max_bytes};
    int rc = base64 ? decode_base64(&r, &s, err) : decode_text(&r, &s, err);
    if (rc == 0)
        rc = sink_flush(&s, err);
    free(s.buf);
    if (rc < 0) {
        um_storage_temp_discard(&out);
        return -1;
    }
    return um_storage_temp_commit(&out, err);
}
