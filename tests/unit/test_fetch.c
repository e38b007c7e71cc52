/*
 * The storage module's fetching without a network: file name sanitising,
 * base64 and data: URL decoding (RFC 4648's vectors, both alphabets,
 * padding, whitespace, errors, limits), the address classifier behind
 * the private-address check, the refusals of fetch_url that need no
 * server (other schemes; loopback and private addresses, which are
 * refused before any connection is made; secrets kept out of messages),
 * and fetch_source's dispatch. Downloads over real HTTP are in
 * tests/integration/test_fetch.c.
 *
 * Table-driven tests print every failing case, then fail.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "itest.h"
#include "storage/storage_internal.h"
#include "unmark/storage.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Prints a failed case and counts it; the test fails at its end. */
static void soft_check(int *fails, int ok, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void soft_check(int *fails, int ok, const char *fmt, ...)
{
    if (ok)
        return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    print_error("case failed: %s\n", msg);
    (*fails)++;
}

/* ---- scratch folders ---------------------------------------------------- */

typedef struct {
    char dir[64];
    char path[128]; /* dir/out.bin: where single-file tests write */
} fixture;

/* Entries in dir other than "." and "..": a failed fetch must leave 0. */
static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    if (!d)
        return -1;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

/* Removes every entry of dir, keeping dir. */
static void empty_dir(const char *dir)
{
    it_rmtree(dir);
    mkdir(dir, 0700);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_fetch.XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->path, sizeof(f->path), "%s/out.bin", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    it_rmtree(f->dir);
    free(f);
    return 0;
}

/* Reads a whole file; NULL when it cannot be read. */
static unsigned char *read_file(const char *path, size_t *size)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    size_t cap = 4096, n = 0, got;
    unsigned char *data = malloc(cap);
    while ((got = fread(data + n, 1, cap - n, fp)) > 0) {
        n += got;
        if (n == cap)
            data = realloc(data, cap *= 2);
    }
    fclose(fp);
    *size = n;
    return data;
}

static int file_equals(const char *path, const void *want, size_t want_len)
{
    size_t size;
    unsigned char *data = read_file(path, &size);
    int same = data && size == want_len && memcmp(data, want, size) == 0;
    free(data);
    return same;
}

/* ---- options -------------------------------------------------------------- */

static void test_options_init(void **state)
{
    (void)state;
    um_storage_fetch_options o;
    memset(&o, 0x5a, sizeof(o));
    um_storage_fetch_options_init(&o);
    assert_int_equal(o.verify_tls, 1);
    assert_int_equal(o.allow_private, 0);
    assert_int_equal(o.max_bytes, 0);
    assert_int_equal(o.timeout_s, 0);
    assert_null(o.headers);
    assert_null(o.cancel);
}

/* ---- file names ----------------------------------------------------------- */

static void test_sanitize_filename(void **state)
{
    (void)state;
    char a300[301], a300_mp4[305], a96_mp4[101], a100[101], longext[301];
    memset(a300, 'a', 300);
    a300[300] = '\0';
    snprintf(a300_mp4, sizeof(a300_mp4), "%s.mp4", a300);
    memset(a96_mp4, 'a', 96);
    memcpy(a96_mp4 + 96, ".mp4", 5);
    memcpy(a100, a300, 100);
    a100[100] = '\0';
    /* an "extension" too long to be one is cut like the rest */
    snprintf(longext, sizeof(longext), "x.%s", a300 + 2);
    char x_a98[101];
    memcpy(x_a98, longext, 100);
    x_a98[100] = '\0';
    static const char *const fallback = "fallback";
    const struct {
        const char *name;
        size_t cap;
        const char *want;
    } cases[] = {
        {"../../etc/passwd", 128, "passwd"},
        {"/etc/shadow", 128, "shadow"},
        {"/", 128, fallback},
        {"dir/", 128, fallback},
        {"", 128, fallback},
        {NULL, 128, fallback},
        {".hidden", 128, "hidden"},
        {"..", 128, fallback},
        {"...", 128, fallback},
        {"....", 128, fallback},
        {"a/..", 128, fallback},
        {"...config.json", 128, "config.json"},
        {"video.mp4", 128, "video.mp4"},
        {"my-file_1.2.tar.gz", 128, "my-file_1.2.tar.gz"},
        {"a b&c;d$(e).mp4", 128, "a_b_c_d__e_.mp4"},
        {"vid\xc3\xa9o.mp4", 128, "vid__o.mp4"},                /* é: two bytes */
        {"\xe6\x97\xa5\xe6\x9c\xac.png", 128, "______.png"},   /* 日本 */
        {"C:\\Users\\me\\clip.mov", 128, "clip.mov"},
        {"new\nline\t.txt", 128, "new_line_.txt"},
        {"-rf", 128, "-rf"},
        {a300_mp4, 128, a96_mp4},
        {a300, 128, a100},
        {longext, 128, x_a98},
        {"abcdefghij.mp4", 8, "abc.mp4"}, /* a small buffer caps it too */
        {"abcdefghij", 4, "abc"},
    };
    int fails = 0;
    for (size_t i = 0; i < COUNT(cases); i++) {
        char out[128];
        memset(out, 'Z', sizeof(out));
        um_storage_sanitize_filename(cases[i].name, fallback, out, cases[i].cap);
        soft_check(&fails, strcmp(out, cases[i].want) == 0 && strlen(out) <= 100,
                   "sanitize(\"%.40s\", cap %zu) = \"%s\", want \"%s\"",
                   cases[i].name ? cases[i].name : "(null)", cases[i].cap, out, cases[i].want);
    }
    assert_int_equal(fails, 0);
}

/* ---- decoding ----------------------------------------------------------- */

typedef struct {
    const char *text;
    const char *want;
    size_t want_len;
} decode_case;

#define OK_CASE(text, bytes) {(text), (bytes), sizeof(bytes) - 1}

static void run_decode_cases(fixture *f, const decode_case *cases, size_t n)
{
    int fails = 0;
    for (size_t i = 0; i < n; i++) {
        um_error err = {0};
        unlink(f->path);
        int rc = um_storage_decode_to_file(cases[i].text, 0, f->path, &err);
        soft_check(&fails, rc == 0, "decode(\"%s\") failed: %s", cases[i].text, err.msg);
        soft_check(&fails, rc != 0 || file_equals(f->path, cases[i].want, cases[i].want_len),
                   "decode(\"%s\"): wrong bytes", cases[i].text);
        soft_check(&fails, count_entries(f->dir) == (rc == 0),
                   "decode(\"%s\"): %d entries in the folder", cases[i].text,
                   count_entries(f->dir));
    }
    assert_int_equal(fails, 0);
}

static void test_base64_rfc4648(void **state)
{
    static const decode_case cases[] = {
        OK_CASE("", ""),
        OK_CASE("Zg==", "f"),
        OK_CASE("Zm8=", "fo"),
        OK_CASE("Zm9v", "foo"),
        OK_CASE("Zm9vYg==", "foob"),
        OK_CASE("Zm9vYmE=", "fooba"),
        OK_CASE("Zm9vYmFy", "foobar"),
        /* padding is optional */
        OK_CASE("Zg", "f"),
        OK_CASE("Zm8", "fo"),
        OK_CASE("Zm9vYg", "foob"),
        OK_CASE("Zm9vYmE", "fooba"),
        /* whitespace anywhere is skipped */
        OK_CASE("Zm9v\nYmFy\n", "foobar"),
        OK_CASE(" Zm 9v\tYm\r\nFy ", "foobar"),
        OK_CASE("Zm9vYg=\n=", "foob"),
        OK_CASE("  \n", ""),
    };
    run_decode_cases(*state, cases, COUNT(cases));
}

static void test_base64_alphabets(void **state)
{
    static const decode_case cases[] = {
        OK_CASE("++++", "\xfb\xef\xbe"), OK_CASE("----", "\xfb\xef\xbe"),
        OK_CASE("////", "\xff\xff\xff"), OK_CASE("____", "\xff\xff\xff"),
        OK_CASE("-_+/", "\xfb\xff\xbf"), OK_CASE("AAEC", "\x00\x01\x02"),
        OK_CASE("_-8", "\xff\xef"),
    };
    run_decode_cases(*state, cases, COUNT(cases));
}

static void test_data_urls(void **state)
{
    static const decode_case cases[] = {
        OK_CASE("data:image/png;base64,Zm9vYmFy", "foobar"),
        OK_CASE("data:;base64,Zm9v", "foo"),
        OK_CASE("DATA:text/plain;BASE64,Zm9v", "foo"),
        OK_CASE("data:;base64,Zm9vYg%3D%3D", "foob"),
        OK_CASE("data:image/png;base64,Zm9v\nYmFy", "foobar"),
        OK_CASE("data:,Hello%2C%20World%21", "Hello, World!"),
        OK_CASE("data:text/plain;charset=utf-8,a%00b%ff", "a\0b\xff"),
        OK_CASE("data:,plain text+stays", "plain text+stays"),
        OK_CASE("data:,", ""),
        OK_CASE("data:;base64,", ""),
        /* ";base64" must end the header to mean base64 */
        OK_CASE("data:text/x;base64;a=b,Zm9v", "Zm9v"),
    };
    run_decode_cases(*state, cases, COUNT(cases));
}

/* Bad input fails as UM_ERR_INPUT naming what and where, and leaves no
 * file and no temporary file. */
static void test_decode_failures(void **state)
{
    fixture *f = *state;
    static const struct {
        const char *text;
        int64_t max;
        const char *needle;
    } cases[] = {
        {"Zm9v!", 0, "'!' at offset 4"},
        {"Zm9vYmFy\x01", 0, "0x01 at offset 8"},
        {"Zm9v\xc3\xa9", 0, "0xc3 at offset 4"},
        {"Zm=9", 0, "'9' at offset 3"},
        {"Z===", 0, "'=' at offset 1"},
        {"=Zm9", 0, "'=' at offset 0"},
        {"Zg===", 0, "'=' at offset 4"},
        {"Zm9=v", 0, "'v' at offset 4"},
        {"Zg==Zm9v", 0, "'Z' at offset 4"},
        {"Z", 0, "middle of a byte"},
        {"Zm9vY", 0, "middle of a byte"},
        {"Zm9v.YmFy", 0, "'.' at offset 4"},
        {"data:image/png;base64", 0, "','"},
        {"data:,%zz", 0, "percent escape at offset 6"},
        {"data:,ab%4", 0, "percent escape at offset 8"},
        {"data:;base64,Zm9v*", 0, "'*' at offset 17"},
        {"Zm9vYmFy", 5, "limit of 5 bytes"},
        {"data:,abcdef", 5, "limit of 5 bytes"},
        {"data:;base64,Zm9vYmFy", 1, "limit of 1 bytes"},
    };
    int fails = 0;
    for (size_t i = 0; i < COUNT(cases); i++) {
        um_error err = {0};
        int rc = um_storage_decode_to_file(cases[i].text, cases[i].max, f->path, &err);
        soft_check(&fails, rc == -1 && err.status == UM_ERR_INPUT, "decode(\"%s\") = %d, status %d",
                   cases[i].text, rc, err.status);
        soft_check(&fails, strstr(err.msg, cases[i].needle) != NULL,
                   "decode(\"%s\"): \"%s\" does not say \"%s\"", cases[i].text, err.msg,
                   cases[i].needle);
        soft_check(&fails, count_entries(f->dir) == 0, "decode(\"%s\") left %d files",
                   cases[i].text, count_entries(f->dir));
        empty_dir(f->dir);
    }
    assert_int_equal(fails, 0);
}

/* The limit is on decoded bytes: exactly max_bytes passes. */
static void test_decode_limit_exact(void **state)
{
    fixture *f = *state;
    um_error err = {0};
    assert_int_equal(um_storage_decode_to_file("Zm9vYmFy", 6, f->path, &err), 0);
    assert_true(file_equals(f->path, "foobar", 6));
    assert_int_equal(um_storage_decode_to_file("data:,abc", 3, f->path, &err), 0);
    assert_true(file_equals(f->path, "abc", 3));
}

/* A decode replaces an existing file whole; a failed one leaves it. */
static void test_decode_replaces_or_keeps(void **state)
{
    fixture *f = *state;
    um_error err = {0};
    assert_int_equal(um_storage_decode_to_file("Zm9vYmFy", 0, f->path, &err), 0);
    assert_int_equal(um_storage_decode_to_file("Zm9v", 0, f->path, &err), 0);
    assert_true(file_equals(f->path, "foo", 3));
    assert_int_equal(um_storage_decode_to_file("Zm9v!", 0, f->path, &err), -1);
    assert_true(file_equals(f->path, "foo", 3));
    assert_int_equal(count_entries(f->dir), 1);
}

/* Encodes with the standard alphabet and padding, a line break every 76
 * characters (as MIME does). */
static char *encode_base64(const unsigned char *data, size_t n)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc(n / 3 * 4 + n / 57 + 8), *p = out;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)data[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)data[i + 1] << 8;
        if (i + 2 < n)
            v |= data[i + 2];
        *p++ = alphabet[v >> 18 & 63];
        *p++ = alphabet[v >> 12 & 63];
        *p++ = i + 1 < n ? alphabet[v >> 6 & 63] : '=';
        *p++ = i + 2 < n ? alphabet[v & 63] : '=';
        if ((i / 3 + 1) % 19 == 0)
            *p++ = '\n';
    }
    *p = '\0';
    return out;
}

/* A megabyte and a bit, over many of the decoder's write chunks, comes
 * back byte for byte. */
static void test_decode_large(void **state)
{
    fixture *f = *state;
    size_t n = (1 << 20) + 7;
    unsigned char *data = malloc(n);
    uint32_t x = 12345;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        data[i] = (unsigned char)(x >> 16);
    }
    char *text = encode_base64(data, n);
    um_error err = {0};
    assert_int_equal(um_storage_decode_to_file(text, (int64_t)n, f->path, &err), 0);
    assert_true(file_equals(f->path, data, n));
    assert_int_equal(um_storage_decode_to_file(text, (int64_t)n - 1, f->path, &err), -1);
    assert_int_equal(err.status, UM_ERR_INPUT);
    free(text);
    free(data);
}

static void test_decode_unwritable(void **state)
{
    fixture *f = *state;
    char path[256];
    snprintf(path, sizeof(path), "%s/missing/out.bin", f->dir);
    um_error err = {0};
    assert_int_equal(um_storage_decode_to_file("Zm9v", 0, path, &err), -1);
    assert_int_equal(err.status, UM_ERR_OUTPUT);
    assert_non_null(strstr(err.msg, path));
    um_error_clear(&err);
    assert_int_equal(um_storage_decode_to_file(NULL, 0, path, &err), -1);
    assert_int_equal(err.status, UM_ERR_USAGE);
}

/* ---- addresses ------------------------------------------------------------ */

static void test_address_classifier(void **state)
{
    (void)state;
    static const struct {
        const char *addr, *want; /* want NULL: allowed */
    } cases[] = {
        {"8.8.8.8", NULL},
        {"1.1.1.1", NULL},
        {"93.184.216.34", NULL},
        {"127.0.0.1", "loopback"},
        {"127.255.255.254", "loopback"},
        {"10.0.0.1", "private"},
        {"10.255.255.255", "private"},
        {"172.16.0.1", "private"},
        {"172.31.255.255", "private"},
        {"172.15.255.255", NULL},
        {"172.32.0.1", NULL},
        {"192.168.1.1", "private"},
        {"192.169.0.1", NULL},
        {"169.254.169.254", "link-local"},
        {"169.253.0.1", NULL},
        {"100.64.0.1", "carrier-grade NAT"},
        {"100.127.255.255", "carrier-grade NAT"},
        {"100.63.255.255", NULL},
        {"100.128.0.1", NULL},
        {"0.0.0.0", "unspecified"},
        {"0.1.2.3", "reserved"},
        {"224.0.0.1", "multicast"},
        {"239.255.255.250", "multicast"},
        {"240.0.0.1", "reserved"},
        {"255.255.255.255", "reserved"},
        {"223.255.255.255", NULL},
        {"::", "unspecified"},
        {"::1", "loopback"},
        {"::2", "reserved"}, /* IPv4-compatible 0.0.0.2 */
        {"fe80::1", "link-local"},
        {"febf:ffff::1", "link-local"},
        {"fec0::1", "private"},
        {"fc00::1", "private"},
        {"fd12:3456:789a::1", "private"},
        {"ff02::1", "multicast"},
        {"2001:4860:4860::8888", NULL},
        {"2606:4700:4700::1111", NULL},
        {"fbff::1", NULL},
        {"::ffff:127.0.0.1", "loopback"},
        {"::ffff:10.1.2.3", "private"},
        {"::ffff:169.254.169.254", "link-local"},
        {"::ffff:100.64.0.1", "carrier-grade NAT"},
        {"::ffff:0.0.0.0", "unspecified"},
        {"::ffff:224.0.0.1", "multicast"},
        {"::ffff:8.8.8.8", NULL},
        {"::127.0.0.1", "loopback"},
        {"::8.8.8.8", NULL},
        {"64:ff9b::7f00:1", "loopback"},
        {"64:ff9b::a9fe:a9fe", "link-local"},
        {"64:ff9b::808:808", NULL},
        {"2002:7f00:1::1", "loopback"},
        {"2002:c0a8:101::1", "private"},
        {"2002:808:808::1", NULL},
    };
    int fails = 0;
    for (size_t i = 0; i < COUNT(cases); i++) {
        struct sockaddr_storage ss = {0};
        socklen_t len;
        if (strchr(cases[i].addr, ':')) {
            struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
            in6->sin6_family = AF_INET6;
            assert_int_equal(inet_pton(AF_INET6, cases[i].addr, &in6->sin6_addr), 1);
            len = sizeof(*in6);
        } else {
            struct sockaddr_in *in = (struct sockaddr_in *)&ss;
            in->sin_family = AF_INET;
            assert_int_equal(inet_pton(AF_INET, cases[i].addr, &in->sin_addr), 1);
            len = sizeof(*in);
        }
        const char *got = um_storage_address_refusal((struct sockaddr *)&ss, len);
        soft_check(&fails,
                   cases[i].want ? got && strcmp(got, cases[i].want) == 0 : got == NULL,
                   "%s: got %s, want %s", cases[i].addr, got ? got : "allowed",
                   cases[i].want ? cases[i].want : "allowed");
    }
    assert_int_equal(fails, 0);

    /* Not IP at all, or too short to be the family it claims: refused. */
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    assert_string_equal(um_storage_address_refusal((struct sockaddr *)&un, sizeof(un)),
                        "not an IP address");
    struct sockaddr_in in = {.sin_family = AF_INET};
    inet_pton(AF_INET, "8.8.8.8", &in.sin_addr);
    assert_null(um_storage_address_refusal((struct sockaddr *)&in, sizeof(in)));
    assert_string_equal(um_storage_address_refusal((struct sockaddr *)&in, 4), "not an IP address");
}

/* ---- fetch_url without a server --------------------------------------------- */

/* Other schemes than http(s) are refused before anything is created. */
static void test_fetch_url_schemes(void **state)
{
    fixture *f = *state;
    static const char *const urls[] = {
        "file:///etc/passwd", "ftp://example.com/x", "gopher://example.com/", "dict://example.com/",
        "ldap://example.com/", "scp://example.com/x", "example.com/x", "", "httpx://example.com/",
        "data:,abc",
    };
    um_storage_fetch_options o;
    um_storage_fetch_options_init(&o);
    o.allow_private = 1;
    int fails = 0;
    for (size_t i = 0; i < COUNT(urls); i++) {
        um_error err = {0};
        int rc = um_storage_fetch_url(urls[i], &o, f->path, &err);
        soft_check(&fails, rc == -1 && err.status == UM_ERR_USAGE,
                   "fetch(\"%s\") = %d, status %d: %s", urls[i], rc, err.status, err.msg);
        soft_check(&fails, count_entries(f->dir) == 0, "fetch(\"%s\") left files", urls[i]);
    }
    assert_int_equal(fails, 0);
}

/* Loopback, private and link-local addresses are refused at connection
 * time, naming the address and why; nothing is written. None of these
 * reaches the network: the socket is never opened. */
static void test_fetch_url_refuses_private(void **state)
{
    fixture *f = *state;
    static const struct {
        const char *url, *needle;
    } cases[] = {
        {"http://127.0.0.1:9/x", "address 127.0.0.1 is loopback; refused"},
        {"http://127.1.2.3:9/x", "address 127.1.2.3 is loopback"},
        {"http://[::1]:9/x", "address ::1 is loopback"},
        {"http://0.0.0.0:9/x", "address 0.0.0.0 is unspecified"},
        {"http://[::ffff:127.0.0.1]:9/x", "is loopback"},
        {"http://10.0.0.1:9/x", "address 10.0.0.1 is private"},
        {"http://192.168.0.1:9/x", "address 192.168.0.1 is private"},
        {"http://169.254.169.254/latest/meta-data/", "address 169.254.169.254 is link-local"},
        {"http://100.64.0.1:9/", "address 100.64.0.1 is carrier-grade NAT"},
        {"https://[fe80::1]:9/", "is link-local"},
        {"http://localhost:9/x", "is loopback"},
        {"http://2130706433:9/x", "address 127.0.0.1 is loopback"}, /* 127.0.0.1 as one number */
    };
    um_storage_fetch_options o;
    um_storage_fetch_options_init(&o);
    o.timeout_s = 10;
    int fails = 0;
    for (size_t i = 0; i < COUNT(cases); i++) {
        um_error err = {0};
        int rc = um_storage_fetch_url(cases[i].url, &o, f->path, &err);
        soft_check(&fails, rc == -1 && err.status == UM_ERR_INPUT, "fetch(\"%s\") = %d, status %d",
                   cases[i].url, rc, err.status);
        soft_check(&fails,
                   strstr(err.msg, cases[i].needle) && strstr(err.msg, "allow private addresses"),
                   "fetch(\"%s\"): \"%s\" does not say \"%s\"", cases[i].url, err.msg,
                   cases[i].needle);
        soft_check(&fails, count_entries(f->dir) == 0, "fetch(\"%s\") left files", cases[i].url);
    }
    assert_int_equal(fails, 0);
}

/* Userinfo, query and fragment can hold secrets: messages leave them out. */
static void test_fetch_url_redacts(void **state)
{
    fixture *f = *state;
    um_error err = {0};
    const char *url = "http://user:hunter2@127.0.0.1:9/a/b.mp4?sig=topsecret#frag";
    assert_int_equal(um_storage_fetch_url(url, NULL, f->path, &err), -1);
    assert_non_null(strstr(err.msg, "http://127.0.0.1:9/a/b.mp4"));
    assert_null(strstr(err.msg, "hunter2"));
    assert_null(strstr(err.msg, "user"));
    assert_null(strstr(err.msg, "topsecret"));
    assert_null(strstr(err.msg, "frag"));
    um_error_clear(&err);
    url = "ftp://me:pw@example.com/x?k=v";
    assert_int_equal(um_storage_fetch_url(url, NULL, f->path, &err), -1);
    assert_non_null(strstr(err.msg, "ftp://example.com/x"));
    assert_null(strstr(err.msg, "pw"));
    assert_null(strstr(err.msg, "k=v"));
}

/* A header with a line break would smuggle another in: refused. A folder
 * that does not exist cannot take the file: UM_ERR_OUTPUT. */
static void test_fetch_url_bad_arguments(void **state)
{
    fixture *f = *state;
    const char *const headers[] = {"X-Ok: 1", "X-Bad: a\r\nX-Injected: 1", NULL};
    um_storage_fetch_options o;
    um_storage_fetch_options_init(&o);
    o.headers = headers;
    um_error err = {0};
    assert_int_equal(um_storage_fetch_url("http://example.com/", &o, f->path, &err), -1);
    assert_int_equal(err.status, UM_ERR_USAGE);
    assert_null(strstr(err.msg, "Injected"));
    assert_int_equal(count_entries(f->dir), 0);

    char path[256];
    snprintf(path, sizeof(path), "%s/missing/out.bin", f->dir);
    um_error_clear(&err);
    assert_int_equal(um_storage_fetch_url("http://127.0.0.1:9/", NULL, path, &err), -1);
    assert_int_equal(err.status, UM_ERR_OUTPUT);

    um_error_clear(&err);
    assert_int_equal(um_storage_fetch_url(NULL, NULL, f->path, &err), -1);
    assert_int_equal(err.status, UM_ERR_USAGE);
}

/* ---- fetch_source ------------------------------------------------------------ */

static void test_source_local(void **state)
{
    fixture *f = *state;
    static const struct {
        const char *uri, *want;
    } cases[] = {
        {"/some/where/clip.mp4", "/some/where/clip.mp4"},
        {"relative/clip.mov", "relative/clip.mov"},
        {"clip.mp4", "clip.mp4"},
        {"file:///tmp/clip.mp4", "/tmp/clip.mp4"},
        {"FILE:///tmp/a b.mp4", "/tmp/a b.mp4"},
        {"file://relative/x.png", "relative/x.png"},
        {"/odd/na:me.mp4", "/odd/na:me.mp4"},
    };
    um_storage_context ctx;
    um_storage_s3_init(&ctx.s3);
    um_storage_fetch_options_init(&ctx.fetch);
    int fails = 0;
    for (size_t i = 0; i < COUNT(cases); i++) {
        um_error err = {0};
        char *local = NULL;
        int downloaded = -1;
        int rc = um_storage_fetch_source(cases[i].uri, &ctx, f->dir, &local, &downloaded, &err);
        soft_check(&fails, rc == 0 && local && strcmp(local, cases[i].want) == 0 && downloaded == 0,
                   "source(\"%s\") = %d, \"%s\", downloaded %d: %s", cases[i].uri, rc,
                   local ? local : "(null)", downloaded, err.msg);
        free(local);
    }
    assert_int_equal(fails, 0);
    assert_int_equal(count_entries(f->dir), 0);
}

static void test_source_refusals(void **state)
{
    fixture *f = *state;
    static const struct {
        const char *uri;
        um_status status;
        const char *needle;
    } cases[] = {
        {"", UM_ERR_USAGE, "URI"},
        {"file://", UM_ERR_USAGE, "path"},
        {"ftp://example.com/x.mp4", UM_ERR_USAGE, "unsupported source scheme \"ftp\""},
        {"gopher://example.com/", UM_ERR_USAGE, "unsupported source scheme \"gopher\""},
        {"data://x", UM_ERR_USAGE, "unsupported source scheme \"data\""},
        {"http://127.0.0.1:9/clip.mp4", UM_ERR_INPUT, "127.0.0.1 is loopback"},
        {"data:image/png;base64,Zm9v!", UM_ERR_INPUT, "offset"},
        {"data:,0123456789abcdef", UM_ERR_INPUT, "limit of 8 bytes"},
    };
    um_storage_context ctx;
    um_storage_s3_init(&ctx.s3);
    um_storage_fetch_options_init(&ctx.fetch);
    ctx.fetch.max_bytes = 8;
    int fails = 0;
    for (size_t i = 0; i < COUNT(cases); i++) {
        um_error err = {0};
        char *local = NULL;
        int downloaded = -1;
        int rc = um_storage_fetch_source(cases[i].uri, &ctx, f->dir, &local, &downloaded, &err);
        soft_check(&fails, rc == -1 && err.status == cases[i].status && !local && downloaded == 0,
                   "source(\"%s\") = %d, status %d, downloaded %d", cases[i].uri, rc, err.status,
                   downloaded);
        soft_check(&fails, strstr(err.msg, cases[i].needle) != NULL,
                   "source(\"%s\"): \"%s\" does not say \"%s\"", cases[i].uri, err.msg,
                   cases[i].needle);
        soft_check(&fails, count_entries(f->dir) == 0, "source(\"%s\") left files", cases[i].uri);
    }
    assert_int_equal(fails, 0);

    /* A download needs a folder. */
    um_error err = {0};
    char *local = NULL;
    int downloaded = 0;
    assert_int_equal(um_storage_fetch_source("data:,x", &ctx, NULL, &local, &downloaded, &err), -1);
    assert_int_equal(err.status, UM_ERR_USAGE);
}

/* data: sources land in dir as "source" plus the media type's extension;
 * a name already taken gets a counter, never overwriting. */
static void test_source_data(void **state)
{
    fixture *f = *state;
    static const struct {
        const char *uri, *name, *bytes;
    } cases[] = {
        {"data:image/png;base64,Zm9v", "source.png", "foo"},
        {"data:image/png;base64,YmFy", "1-source.png", "bar"},
        {"data:IMAGE/PNG;base64,YmF6", "2-source.png", "baz"},
        {"data:image/jpeg;base64,Zm9v", "source.jpg", "foo"},
        {"data:image/webp;base64,Zm9v", "source.webp", "foo"},
        {"data:video/mp4;base64,Zm9v", "source.mp4", "foo"},
        {"data:video/quicktime;base64,Zm9v", "source.mov", "foo"},
        {"data:video/x-matroska;base64,Zm9v", "source.mkv", "foo"},
        {"data:text/plain;charset=utf-8,hi%21", "source.bin", "hi!"},
        {"data:,x", "1-source.bin", "x"},
        {"data:;base64,eQ", "2-source.bin", "y"},
        {"data:image/pngx;base64,Zm9v", "3-source.bin", "foo"},
    };
    int fails = 0;
    for (size_t i = 0; i < COUNT(cases); i++) {
        um_error err = {0};
        char *local = NULL, want[256];
        int downloaded = 0;
        snprintf(want, sizeof(want), "%s/%s", f->dir, cases[i].name);
        /* no context: the defaults serve */
        int rc = um_storage_fetch_source(cases[i].uri, NULL, f->dir, &local, &downloaded, &err);
        soft_check(&fails, rc == 0 && downloaded == 1 && local && strcmp(local, want) == 0,
                   "source(\"%s\") = %d, \"%s\" (want %s): %s", cases[i].uri, rc,
                   local ? local : "(null)", want, err.msg);
        soft_check(&fails, file_equals(want, cases[i].bytes, strlen(cases[i].bytes)),
                   "source(\"%s\"): wrong bytes in %s", cases[i].uri, want);
        free(local);
    }
    assert_int_equal(fails, 0);
    assert_int_equal(count_entries(f->dir), (int)COUNT(cases));
}

/* URLs as logs show them: no userinfo, query or fragment; paths as they are. */
static void test_redact_url(void **state)
{
    (void)state;
    static const struct {
        const char *url, *shown;
    } cases[] = {
        {"https://user:pass@example.com:8443/a/b.mp4?token=s3cret#frag", "https://example.com:8443/a/b.mp4"},
        {"http://example.com/x?X-Amz-Signature=abc", "http://example.com/x"},
        {"http://a@b@example.com/", "http://example.com/"},
        {"s3://bucket/key/clip.mp4", "s3://bucket/key/clip.mp4"},
        {"http://example.com", "http://example.com"},
        {"/tmp/odd?name#1@x.mp4", "/tmp/odd?name#1@x.mp4"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[256];
        um_storage_redact_url(cases[i].url, out, sizeof(out));
        assert_string_equal(out, cases[i].shown);
    }
}

int main(void)
{
#define DIR_TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_options_init),
        cmocka_unit_test(test_sanitize_filename),
        DIR_TEST(test_base64_rfc4648),
        DIR_TEST(test_base64_alphabets),
        DIR_TEST(test_data_urls),
        DIR_TEST(test_decode_failures),
        DIR_TEST(test_decode_limit_exact),
        DIR_TEST(test_decode_replaces_or_keeps),
        DIR_TEST(test_decode_large),
        DIR_TEST(test_decode_unwritable),
        cmocka_unit_test(test_address_classifier),
        cmocka_unit_test(test_redact_url),
        DIR_TEST(test_fetch_url_schemes),
        DIR_TEST(test_fetch_url_refuses_private),
        DIR_TEST(test_fetch_url_redacts),
        DIR_TEST(test_fetch_url_bad_arguments),
        DIR_TEST(test_source_local),
        DIR_TEST(test_source_refusals),
        DIR_TEST(test_source_data),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
