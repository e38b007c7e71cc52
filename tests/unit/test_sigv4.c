/*
 * SigV4 signing and the S3 helpers that need no server, against AWS's
 * published examples:
 *
 *  - the S3 documentation's "Signature Calculations for the Authorization
 *    Header: Transferring Payload in a Single Chunk" examples (GET Object,
 *    PUT Object, GET Bucket Lifecycle, GET Bucket (List Objects)): the
 *    canonical request, the hash line of the string to sign and the
 *    signature, as printed there;
 *  - "Authenticating Requests: Using Query Parameters": the presigned GET
 *    of examplebucket/test.txt, its canonical request and whole URL;
 *  - cases of the aws-sig-v4-test-suite (the .creq and .authz files of
 *    get-vanilla and its neighbours, the header and query cases, the STS
 *    token cases and the normalize-path cases).
 *
 * Every expected string below is copied from those publications; the
 * tables for percent-encoding, canonical queries and paths assert this
 * project's rules (RFC 3986 unreserved characters kept, decode then
 * encode, dot segments removed only when normalising).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "unmark/storage.h"

/* ---- the published examples' settings ---------------------------------- */

/* The S3 documentation's examples: 2013-05-24T00:00:00Z, us-east-1. */
#define S3_ACCESS "AKIAIOSFODNN7EXAMPLE"
#define S3_SECRET "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define S3_WHEN ((time_t)1369353600)
#define S3_HOST "examplebucket.s3.amazonaws.com"
#define S3_SCOPE "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request"

/* The test suite's: 2015-08-30T12:36:00Z, us-east-1, service "service". */
#define SUITE_ACCESS "AKIDEXAMPLE"
#define SUITE_SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define SUITE_WHEN ((time_t)1440938160)
#define SUITE_HOST "example.amazonaws.com"
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
/* The test suite's session token (post-sts-header-before). */
#define STS_TOKEN                                                                                  \
    "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmx"     \
    "fpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0K"     \
    "PkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZb"     \
    "qBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA=="

/* One request to sign and what AWS publishes for it. */
typedef struct {
    const char *name;
    const char *method, *path, *query;
    um_storage_header headers[6];
    int nb_headers;
    const char *payload;
    int suite;             /* 1: the test suite's keys and service; 0: the S3 docs' */
    const char *token;
    const char *canonical; /* the canonical request, or NULL where not checked */
    const char *sts_hash;  /* the string to sign's last line, or NULL */
    const char *signed_headers;
    const char *signature;
} sign_case;

static um_storage_sigv4_request request_of(const sign_case *c)
{
    return (um_storage_sigv4_request){
        .method = c->method,
        .path = c->path,
        .query = c->query,
        .headers = c->headers,
        .nb_headers = c->nb_headers,
        .payload_sha256 = c->payload,
        .region = "us-east-1",
        .service = c->suite ? "service" : "s3",
        .access_key = c->suite ? SUITE_ACCESS : S3_ACCESS,
        .secret_key = c->suite ? SUITE_SECRET : S3_SECRET,
        .session_token = c->token,
        .when = c->suite ? SUITE_WHEN : S3_WHEN,
        .normalize_path = c->suite,
    };
}

/* ---- the S3 documentation's examples ------------------------------------ */

static const sign_case s3_cases[] = {
    {
        .name = "GET Object",
        .method = "GET",
        .path = "/test.txt",
        .headers = {{"Host", S3_HOST},
                    {"Range", "bytes=0-9 "},
                    {"x-amz-content-sha256", EMPTY_SHA256},
                    {"x-amz-date", "20130524T000000Z"}},
        .nb_headers = 4,
        .payload = EMPTY_SHA256,
        .canonical = "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
                     "x-amz-content-sha256:" EMPTY_SHA256 "\nx-amz-date:20130524T000000Z\n\n"
                     "host;range;x-amz-content-sha256;x-amz-date\n" EMPTY_SHA256,
        .sts_hash = "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972",
        .signed_headers = "host;range;x-amz-content-sha256;x-amz-date",
        .signature = "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
    },
    {
        .name = "PUT Object",
        .method = "PUT",
        .path = "/test%24file.text",
        .headers = {{"Host", S3_HOST},
                    {"Date", "Fri, 24 May 2013 00:00:00 GMT"},
                    {"x-amz-date", "20130524T000000Z"},
                    {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
                    {"x-amz-content-sha256",
                     "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"}},
        .nb_headers = 5,
        .payload = "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
        .canonical =
            "PUT\n/test%24file.text\n\ndate:Fri, 24 May 2013 00:00:00 GMT\n"
            "host:examplebucket.s3.amazonaws.com\n"
            "x-amz-content-sha256:"
            "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072\n"
            "x-amz-date:20130524T000000Z\nx-amz-storage-class:REDUCED_REDUNDANCY\n\n"
            "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class\n"
            "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
        .sts_hash = "9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d",
        .signed_headers = "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
        .signature = "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
    },
    /* x-amz-date left for the signer to add. */
    {
        .name = "GET Bucket Lifecycle",
        .method = "GET",
        .path = "/",
        .query = "lifecycle",
        .headers = {{"Host", S3_HOST}, {"x-amz-content-sha256", EMPTY_SHA256}},
        .nb_headers = 2,
        .payload = EMPTY_SHA256,
        .canonical = "GET\n/\nlifecycle=\nhost:examplebucket.s3.amazonaws.com\n"
                     "x-amz-content-sha256:" EMPTY_SHA256 "\nx-amz-date:20130524T000000Z\n\n"
                     "host;x-amz-content-sha256;x-amz-date\n" EMPTY_SHA256,
        .sts_hash = "9766c798316ff2757b517bc739a67f6213b4ab36dd5da2f94eaebf79c77395ca",
        .signed_headers = "host;x-amz-content-sha256;x-amz-date",
        .signature = "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
    },
    /* The parameters given out of order: the canonical query sorts them. */
    {
        .name = "GET Bucket (List Objects)",
        .method = "GET",
        .path = "/",
        .query = "prefix=J&max-keys=2",
        .headers = {{"Host", S3_HOST}, {"x-amz-content-sha256", EMPTY_SHA256}},
        .nb_headers = 2,
        .payload = EMPTY_SHA256,
        .canonical = "GET\n/\nmax-keys=2&prefix=J\nhost:examplebucket.s3.amazonaws.com\n"
                     "x-amz-content-sha256:" EMPTY_SHA256 "\nx-amz-date:20130524T000000Z\n\n"
                     "host;x-amz-content-sha256;x-amz-date\n" EMPTY_SHA256,
        .sts_hash = "df57d21db20da04d7fa30298dd4488ba3a2b47ca3a489c74750e0f1e7df1b9b7",
        .signed_headers = "host;x-amz-content-sha256;x-amz-date",
        .signature = "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
    },
};

/* ---- the aws-sig-v4-test-suite ------------------------------------------ */

/* A suite case whose .req has only Host and X-Amz-Date, as its request
 * line writes the path and query (unencoded where it is); its .creq. */
#define VANILLA(name_, method_, path_, query_, creq_path, creq_query, sts_, signature_)            \
    {                                                                                              \
        .name = name_, .method = method_, .path = path_, .query = query_,                          \
        .headers = {{"Host", SUITE_HOST}, {"X-Amz-Date", "20150830T123600Z"}}, .nb_headers = 2,    \
        .payload = EMPTY_SHA256, .suite = 1,                                                       \
        .canonical = method_ "\n" creq_path "\n" creq_query "\nhost:example.amazonaws.com\n"       \
                             "x-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" EMPTY_SHA256,      \
        .sts_hash = sts_, .signed_headers = "host;x-amz-date", .signature = signature_             \
    }

static const sign_case suite_cases[] = {
    VANILLA("get-vanilla", "GET", "/", NULL, "/", "",
            "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63",
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
    VANILLA("get-vanilla-query-order-key-case", "GET", "/", "Param2=value2&Param1=value1", "/",
            "Param1=value1&Param2=value2",
            "816cd5b414d056048ba4f7c5386d6e0533120fb1fcfa93762cf0fc39e2cf19e0",
            "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"),
    VANILLA("get-vanilla-query-order-value", "GET", "/", "Param1=value2&Param1=value1", "/",
            "Param1=value1&Param1=value2", NULL,
            "5772eed61e12b33fae39ee5e7012498b51d56abc0abb7c60486157bd471c4694"),
    /* Sorted by encoded name: '%' before 'P', "Param" before "Param-3". */
    VANILLA("get-vanilla-query-order-encoded", "GET", "/",
            "Param-3=Value3&Param=Value2&%E1%88%B4=Value1", "/",
            "%E1%88%B4=Value1&Param=Value2&Param-3=Value3",
            "868294f5c38bd141c4972a373a76654f1418a8e4fc18b2e7903ae45e8ae0ec71",
            "371d3713e185cc334048618a97f809c9ffe339c62934c032af5a0e595648fcac"),
    VANILLA("get-vanilla-utf8-query", "GET", "/", "\xe1\x88\xb4=bar", "/", "%E1%88%B4=bar", NULL,
            "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04"),
    VANILLA("post-vanilla-query", "POST", "/", "Param1=value1", "/", "Param1=value1",
            "9d659678c1756bb3113e2ce898845a0a79dbbc57b740555917687f1b3340fbbd",
            "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11"),
    /* normalize-path: dot segments and empty ones removed, each segment
     * encoded (once more) after. */
    VANILLA("get-relative", "GET", "/example/..", NULL, "/", "", NULL,
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
    VANILLA("get-relative-relative", "GET", "/example1/example2/../..", NULL, "/", "", NULL,
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
    VANILLA("get-slash", "GET", "//", NULL, "/", "", NULL,
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
    VANILLA("get-slash-dot-slash", "GET", "/./", NULL, "/", "", NULL,
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
    VANILLA("get-slash-pointless-dot", "GET", "/./example", NULL, "/example", "",
            "214d50c111a8edc4819da6a636336472c916b5240f51e9a51b5c3305180cf702",
            "ef75d96142cf21edca26f06005da7988e4f8dc83a165a80865db7089db637ec5"),
    VANILLA("get-slashes", "GET", "//example//", NULL, "/example/", "",
            "cb96b4ac96d501f7c5c15bc6d67b3035061cfced4af6585ad927f7e6c985c015",
            "9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84"),
    VANILLA("get-space", "GET", "/example space/", NULL, "/example%20space/", "",
            "63ee75631ed7234ae61b5f736dfc7754cdccfedbff4b5128a915706ee9390d86",
            "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741"),
    VANILLA("get-utf8", "GET", "/\xe1\x88\xb4", NULL, "/%E1%88%B4", "", NULL,
            "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"),
    VANILLA("get-unreserved", "GET",
            "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", NULL,
            "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", "", NULL,
            "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"),
    {
        .name = "get-header-key-duplicate",
        .method = "GET",
        .path = "/",
        .headers = {{"Host", SUITE_HOST},
                    {"My-Header1", "value2"},
                    {"My-Header1", "value2"},
                    {"My-Header1", "value1"},
                    {"X-Amz-Date", "20150830T123600Z"}},
        .nb_headers = 5,
        .payload = EMPTY_SHA256,
        .suite = 1,
        .canonical = "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value2,value2,value1\n"
                     "x-amz-date:20150830T123600Z\n\nhost;my-header1;x-amz-date\n" EMPTY_SHA256,
        .sts_hash = "dc7f04a3abfde8d472b0ab1a418b741b7c67174dad1551b4117b15527fbe966c",
        .signed_headers = "host;my-header1;x-amz-date",
        .signature = "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea",
    },
    {
        .name = "get-header-value-trim",
        .method = "GET",
        .path = "/",
        .headers = {{"Host", SUITE_HOST},
                    {"My-Header1", " value1"},
                    {"My-Header2", " \"a   b   c\""},
                    {"X-Amz-Date", "20150830T123600Z"}},
        .nb_headers = 4,
        .payload = EMPTY_SHA256,
        .suite = 1,
        .canonical = "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value1\n"
                     "my-header2:\"a b c\"\nx-amz-date:20150830T123600Z\n\n"
                     "host;my-header1;my-header2;x-amz-date\n" EMPTY_SHA256,
        .signed_headers = "host;my-header1;my-header2;x-amz-date",
        .signature = "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736",
    },
    {
        .name = "post-x-www-form-urlencoded",
        .method = "POST",
        .path = "/",
        .headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                    {"Host", SUITE_HOST},
                    {"X-Amz-Date", "20150830T123600Z"}},
        .nb_headers = 3,
        .payload = "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
        .suite = 1,
        .canonical = "POST\n/\n\ncontent-type:application/x-www-form-urlencoded\n"
                     "host:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
                     "content-type;host;x-amz-date\n"
                     "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
        .sts_hash = "42a5e5bb34198acb3e84da4f085bb7927f2bc277ca766e6d19c73c2154021281",
        .signed_headers = "content-type;host;x-amz-date",
        .signature = "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a",
    },
    /* The session token, given with the credentials and signed as a
     * header the signer adds. */
    {
        .name = "post-sts-header-before",
        .method = "POST",
        .path = "/",
        .headers = {{"Host", SUITE_HOST}, {"X-Amz-Date", "20150830T123600Z"}},
        .nb_headers = 2,
        .payload = EMPTY_SHA256,
        .suite = 1,
        .token = STS_TOKEN,
        .canonical = "POST\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n"
                     "x-amz-security-token:" STS_TOKEN "\n\n"
                     "host;x-amz-date;x-amz-security-token\n" EMPTY_SHA256,
        .signed_headers = "host;x-amz-date;x-amz-security-token",
        .signature = "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead",
    },
    {
        .name = "get-vanilla-with-session-token",
        .method = "GET",
        .path = "/",
        .headers = {{"Host", SUITE_HOST}, {"X-Amz-Date", "20150830T123600Z"}},
        .nb_headers = 2,
        .payload = EMPTY_SHA256,
        .suite = 1,
        .token = "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267",
        .signed_headers = "host;x-amz-date;x-amz-security-token",
        .signature = "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8",
    },
};

/* Signs every case of a table; prints each mismatch and fails at the end,
 * so one run shows every case that is wrong. */
static void check_sign_cases(const sign_case *cases, size_t n)
{
    int fails = 0;
    for (size_t i = 0; i < n; i++) {
        const sign_case *c = &cases[i];
        um_storage_sigv4_request req = request_of(c);
        um_storage_sigv4_result res;
        um_error err = {0};
        if (um_storage_sigv4_sign(&req, &res, &err) < 0) {
            print_error("%s: signing failed: %s\n", c->name, err.msg);
            fails++;
            continue;
        }
        char authz[512];
        snprintf(authz, sizeof(authz),
                 "AWS4-HMAC-SHA256 Credential=%s, SignedHeaders=%s, Signature=%s",
                 c->suite ? SUITE_ACCESS "/20150830/us-east-1/service/aws4_request" : S3_SCOPE,
                 c->signed_headers, c->signature);
        size_t sts_len = strlen(res.string_to_sign);
        int bad = strcmp(res.signature, c->signature) != 0 ||
                  strcmp(res.authorization, authz) != 0 ||
                  (c->canonical && strcmp(res.canonical_request, c->canonical) != 0) ||
                  (c->sts_hash &&
                   (sts_len < 64 || strcmp(res.string_to_sign + sts_len - 64, c->sts_hash) != 0)) ||
                  strcmp(res.amz_date, c->suite ? "20150830T123600Z" : "20130524T000000Z") != 0;
        if (bad) {
            print_error("%s:\n canonical request:\n%s\n string to sign:\n%s\n authorization:\n %s\n"
                        " want:\n %s\n",
                        c->name, res.canonical_request, res.string_to_sign, res.authorization,
                        authz);
            fails++;
        }
        um_storage_sigv4_result_clear(&res);
        assert_null(res.authorization);
    }
    if (fails)
        fail_msg("%d of %zu published examples do not match", fails, n);
}

static void test_s3_documentation_examples(void **state)
{
    (void)state;
    check_sign_cases(s3_cases, sizeof(s3_cases) / sizeof(s3_cases[0]));
}

static void test_signature_test_suite(void **state)
{
    (void)state;
    check_sign_cases(suite_cases, sizeof(suite_cases) / sizeof(suite_cases[0]));
}

/* ---- presigning ---------------------------------------------------------- */

#define PRESIGNED_QUERY                                                                            \
    "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-"      \
    "east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-"            \
    "SignedHeaders=host&X-Amz-Signature="                                                          \
    "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"

/* "Authenticating Requests: Using Query Parameters": GET /test.txt from
 * examplebucket for 86400 seconds. */
static void test_presign_documentation_example(void **state)
{
    (void)state;
    um_storage_header host = {"Host", S3_HOST};
    um_storage_sigv4_request req = {
        .method = "GET",
        .path = "/test.txt",
        .headers = &host,
        .nb_headers = 1,
        .region = "us-east-1",
        .service = "s3",
        .access_key = S3_ACCESS,
        .secret_key = S3_SECRET,
        .when = S3_WHEN,
    };
    um_storage_sigv4_result res;
    char *query = NULL;
    um_error err = {0};
    assert_int_equal(um_storage_sigv4_presign(&req, 86400, &res, &query, &err), 0);
    assert_string_equal(res.canonical_request,
                        "GET\n/test.txt\nX-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential="
                        "AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-"
                        "Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host\n"
                        "host:examplebucket.s3.amazonaws.com\n\nhost\nUNSIGNED-PAYLOAD");
    assert_string_equal(res.string_to_sign,
                        "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
                        "3bfa292879f6447bbcda7001decf97f4a54dc650c8942174ae0a9121cf58ad04");
    assert_string_equal(res.signature,
                        "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
    assert_string_equal(query, PRESIGNED_QUERY);
    free(query);
    um_storage_sigv4_result_clear(&res);

    /* The same through the S3 layer: virtual-hosted, the default endpoint. */
    um_storage_s3 s3;
    um_storage_s3_init(&s3);
    s3.bucket = "examplebucket";
    s3.access_key = S3_ACCESS;
    s3.secret_key = S3_SECRET;
    char *url = NULL;
    assert_int_equal(um_storage_s3_presign_get(&s3, "test.txt", 86400, S3_WHEN, &url, &err), 0);
    assert_string_equal(url, "https://examplebucket.s3.amazonaws.com/test.txt?" PRESIGNED_QUERY);
    free(url);
}

/* A session token goes into the query, signed; the request's own
 * parameters stay, in canonical order. */
static void test_presign_token_and_query(void **state)
{
    (void)state;
    um_storage_header host = {"host", S3_HOST};
    um_storage_sigv4_request req = {
        .method = "GET",
        .path = "/test.txt",
        .query = "versionId=3&response-content-type=text/plain",
        .headers = &host,
        .nb_headers = 1,
        .region = "us-east-1",
        .service = "s3",
        .access_key = S3_ACCESS,
        .secret_key = S3_SECRET,
        .session_token = "tok/en+=",
        .when = S3_WHEN,
    };
    um_storage_sigv4_result res;
    char *query = NULL;
    um_error err = {0};
    assert_int_equal(um_storage_sigv4_presign(&req, 60, &res, &query, &err), 0);
    const char *want_prefix =
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-"
        "east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=60&X-Amz-Security-"
        "Token=tok%2Fen%2B%3D&X-Amz-SignedHeaders=host&response-content-type=text%2Fplain&"
        "versionId=3&X-Amz-Signature=";
    assert_int_equal(strncmp(query, want_prefix, strlen(want_prefix)), 0);
    assert_string_equal(query + strlen(want_prefix), res.signature);
    assert_null(res.authorization);
    free(query);
    um_storage_sigv4_result_clear(&res);
}

/* ---- canonical forms ------------------------------------------------------ */

static void test_uri_encode(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int keep_slash;
        const char *want;
    } cases[] = {
        {"", 0, ""},
        {"AZaz09-._~", 0, "AZaz09-._~"},
        {"a b/c", 1, "a%20b/c"},
        {"a b/c", 0, "a%20b%2Fc"},
        {"\xc3\xbc", 0, "%C3%BC"},
        {"$&+,:;=?@", 1, "%24%26%2B%2C%3A%3B%3D%3F%40"},
        {"100%", 0, "100%25"},
        {"*!'()", 0, "%2A%21%27%28%29"},
        {"dir/sub dir/f\x7f.mp4", 1, "dir/sub%20dir/f%7F.mp4"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *got = um_storage_uri_encode(cases[i].in, cases[i].keep_slash);
        assert_string_equal(got, cases[i].want);
        free(got);
    }
}

/* The line of the canonical request after n newlines (a new string). */
static char *canonical_line(const char *path, const char *query, int normalize, int line)
{
    um_storage_header host = {"host", "h"};
    um_storage_sigv4_request req = {
        .method = "GET",
        .path = path,
        .query = query,
        .headers = &host,
        .nb_headers = 1,
        .payload_sha256 = EMPTY_SHA256,
        .region = "r",
        .service = "s",
        .access_key = "a",
        .secret_key = "s",
        .when = 0,
        .normalize_path = normalize,
    };
    um_storage_sigv4_result res;
    um_error err = {0};
    assert_int_equal(um_storage_sigv4_sign(&req, &res, &err), 0);
    const char *p = res.canonical_request;
    for (int i = 0; i < line; i++)
        p = strchr(p, '\n') + 1;
    char *out = strndup(p, strcspn(p, "\n"));
    um_storage_sigv4_result_clear(&res);
    return out;
}

/* Query parameters are decoded, encoded again and sorted, so every
 * spelling of the same parameters signs alike. */
static void test_canonical_query(void **state)
{
    (void)state;
    static const struct {
        const char *query, *want;
    } cases[] = {
        {NULL, ""},
        {"", ""},
        {"a=b c", "a=b%20c"},
        {"a=b%20c", "a=b%20c"},
        {"a=b%2fc", "a=b%2Fc"},
        {"b&a=1", "a=1&b="},
        {"q=a+b", "q=a%2Bb"},
        {"x=%ZZ&y=%4", "x=%25ZZ&y=%254"},
        {"&&a=1&", "a=1"},
        {"a=1=2", "a=1%3D2"},
        {"a=10&a=9&A=1", "A=1&a=10&a=9"},
        {"k=%00z", "k=%00z"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *got = canonical_line("/", cases[i].query, 0, 2);
        assert_string_equal(got, cases[i].want);
        free(got);
    }
}

/* S3 signs the path as given; other services normalise and encode it. */
static void test_canonical_path(void **state)
{
    (void)state;
    static const struct {
        const char *path;
        int normalize;
        const char *want;
    } cases[] = {
        {"", 0, "/"},
        {"/a//b/../c%20d", 0, "/a//b/../c%20d"},
        {"", 1, "/"},
        {"/a/./b/../c", 1, "/a/c"},
        {"/a/b/..", 1, "/a/"},
        {"/a/b/.", 1, "/a/b/"},
        {"/../..", 1, "/"},
        {"/a%2Fb", 1, "/a%252Fb"},
        {"/..a/.b", 1, "/..a/.b"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *got = canonical_line(cases[i].path, NULL, cases[i].normalize, 1);
        assert_string_equal(got, cases[i].want);
        free(got);
    }
}

/* ---- errors -------------------------------------------------------------- */

/* A failure is UM_ERR_USAGE, says what is wrong, leaves the result empty
 * and never shows the secret key. */
static void expect_usage(int rc, const um_error *err, const um_storage_sigv4_result *res,
                         const char *needle)
{
    assert_int_equal(rc, -1);
    assert_int_equal(err->status, UM_ERR_USAGE);
    assert_non_null(strstr(err->msg, needle));
    assert_null(strstr(err->msg, S3_SECRET));
    assert_null(res->canonical_request);
    assert_null(res->authorization);
    assert_string_equal(res->signature, "");
}

static void test_sign_errors(void **state)
{
    (void)state;
    um_storage_header no_host = {"x-amz-content-sha256", EMPTY_SHA256};
    um_storage_sigv4_request req = {
        .method = "GET",
        .path = "/k",
        .headers = &no_host,
        .nb_headers = 1,
        .payload_sha256 = EMPTY_SHA256,
        .region = "us-east-1",
        .service = "s3",
        .access_key = S3_ACCESS,
        .secret_key = S3_SECRET,
        .when = S3_WHEN,
    };
    um_storage_sigv4_result res;
    char *query = NULL;
    um_error err = {0};
    expect_usage(um_storage_sigv4_sign(&req, &res, &err), &err, &res, "host");
    um_error_clear(&err);
    expect_usage(um_storage_sigv4_presign(&req, 60, &res, &query, &err), &err, &res, "host");
    assert_null(query);

    um_storage_header wrong_date[2] = {{"host", "h"}, {"X-Amz-Date", "20000101T000000Z"}};
    req.headers = wrong_date;
    req.nb_headers = 2;
    um_error_clear(&err);
    expect_usage(um_storage_sigv4_sign(&req, &res, &err), &err, &res, "x-amz-date");

    req.nb_headers = 1;
    req.secret_key = NULL;
    um_error_clear(&err);
    expect_usage(um_storage_sigv4_sign(&req, &res, &err), &err, &res, "credentials");

    req.secret_key = S3_SECRET;
    req.payload_sha256 = NULL;
    um_error_clear(&err);
    expect_usage(um_storage_sigv4_sign(&req, &res, &err), &err, &res, "payload");
}

static void test_presign_expiry_range(void **state)
{
    (void)state;
    um_storage_header host = {"host", S3_HOST};
    um_storage_sigv4_request req = {
        .method = "GET",
        .path = "/k",
        .headers = &host,
        .nb_headers = 1,
        .region = "us-east-1",
        .service = "s3",
        .access_key = S3_ACCESS,
        .secret_key = S3_SECRET,
        .when = S3_WHEN,
    };
    static const struct {
        int expires, ok;
    } cases[] = {{0, 0}, {-5, 0}, {1, 1}, {604800, 1}, {604801, 0}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        um_storage_sigv4_result res;
        char *query = NULL;
        um_error err = {0};
        int rc = um_storage_sigv4_presign(&req, cases[i].expires, &res, &query, &err);
        if (cases[i].ok) {
            char want[32];
            snprintf(want, sizeof(want), "X-Amz-Expires=%d&", cases[i].expires);
            assert_int_equal(rc, 0);
            assert_non_null(strstr(query, want));
            free(query);
            um_storage_sigv4_result_clear(&res);
        } else {
            expect_usage(rc, &err, &res, "604800");
            assert_null(query);
        }
    }
}

/* ---- S3 names and URLs ---------------------------------------------------- */

static void test_parse_s3_uri(void **state)
{
    (void)state;
    static const struct {
        const char *uri, *bucket, *key;
    } good[] = {
        {"s3://bucket/key", "bucket", "key"},
        {"s3://my-bucket.v2/dir/sub dir/clip.mp4", "my-bucket.v2", "dir/sub dir/clip.mp4"},
        {"S3://Legacy_Bucket/a/", "Legacy_Bucket", "a/"},
        {"s3://b//double", "b", "/double"},
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        char *bucket = NULL, *key = NULL;
        um_error err = {0};
        assert_int_equal(um_storage_parse_s3_uri(good[i].uri, &bucket, &key, &err), 0);
        assert_string_equal(bucket, good[i].bucket);
        assert_string_equal(key, good[i].key);
        free(bucket);
        free(key);
    }
    static const struct {
        const char *uri, *why;
    } bad[] = {
        {"https://bucket/key", "s3://"},
        {"s3:/bucket/key", "s3://"},
        {"s3://", "no bucket"},
        {"s3:///key", "no bucket"},
        {"s3://bucket", "no object key"},
        {"s3://bucket/", "no object key"},
        {"s3://bu?cket/key", "bucket name"},
        {"s3://.bucket/key", "bucket name"},
        {"s3://AKID:hunter2secret@bucket/key", "bucket name"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *bucket = (char *)"x", *key = (char *)"x";
        um_error err = {0};
        assert_int_equal(um_storage_parse_s3_uri(bad[i].uri, &bucket, &key, &err), -1);
        assert_int_equal(err.status, UM_ERR_USAGE);
        if (!strstr(err.msg, bad[i].why))
            fail_msg("%s: \"%s\" does not say %s", bad[i].uri, err.msg, bad[i].why);
        assert_null(strstr(err.msg, "hunter2"));
        assert_null(bucket);
        assert_null(key);
    }
    char long_key[1100] = "s3://b/";
    memset(long_key + 7, 'k', 1025);
    char *bucket, *key;
    um_error err = {0};
    assert_int_equal(um_storage_parse_s3_uri(long_key, &bucket, &key, &err), -1);
}

static void test_object_url(void **state)
{
    (void)state;
    um_storage_s3 s3;
    um_storage_s3_init(&s3);
    assert_string_equal(s3.endpoint, "https://s3.amazonaws.com");
    assert_string_equal(s3.region, "us-east-1");
    assert_int_equal(s3.verify_tls, 1);
    assert_int_equal(s3.path_style, 0);

    static const struct {
        const char *endpoint, *bucket;
        int path_style;
        const char *key, *want;
    } cases[] = {
        {NULL, "examplebucket", 0, "test.txt", "https://examplebucket.s3.amazonaws.com/test.txt"},
        {NULL, "examplebucket", 1, "test.txt", "https://s3.amazonaws.com/examplebucket/test.txt"},
        {"http://127.0.0.1:4568", "b", 1, "dir/a b+c.txt",
         "http://127.0.0.1:4568/b/dir/a%20b%2Bc.txt"},
        {"http://s3.localhost:9000/", "b", 0, "x/y", "http://b.s3.localhost:9000/x/y"},
        {"https://minio.example/base/", "b", 1, "k", "https://minio.example/base/b/k"},
        {"HTTPS://host", "b", 1, "..", "HTTPS://host/b/.."},
        /* what cannot make a URL */
        {"ftp://host", "b", 1, "k", NULL},
        {"host:9000", "b", 1, "k", NULL},
        {"http://user:pw@host", "b", 1, "k", NULL},
        {"http://host/?x=1", "b", 1, "k", NULL},
        {"http://", "b", 1, "k", NULL},
        {"http://host", "evil.com?", 0, "k", NULL},
        {"http://host", "a/b", 1, "k", NULL},
        {"http://host", "", 1, "k", NULL},
        {"http://host", "b", 1, "", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        um_storage_s3_init(&s3);
        if (cases[i].endpoint)
            s3.endpoint = cases[i].endpoint;
        s3.bucket = cases[i].bucket;
        s3.path_style = cases[i].path_style;
        char *url = um_storage_s3_object_url(&s3, cases[i].key);
        if (cases[i].want)
            assert_string_equal(url, cases[i].want);
        else if (url)
            fail_msg("case %zu: %s, want none", i, url);
        free(url);
    }
    um_storage_s3_init(&s3);
    s3.bucket = "b";
    assert_null(um_storage_s3_object_url(&s3, NULL));
}

/* The Host signed for a presigned URL leaves out the default port, as a
 * browser's request does; another port stays. */
static void test_presign_host(void **state)
{
    (void)state;
    static const struct {
        const char *endpoint;
        int path_style;
        const char *want_prefix;
    } cases[] = {
        {"https://s3.amazonaws.com:443", 0, "https://examplebucket.s3.amazonaws.com:443/test.txt?"},
        {"http://127.0.0.1:4568", 1, "http://127.0.0.1:4568/examplebucket/test.txt?"},
    };
    /* Signed alike with the default port and without it. */
    char *plain = NULL;
    um_storage_s3 s3;
    um_error err = {0};
    um_storage_s3_init(&s3);
    s3.bucket = "examplebucket";
    s3.access_key = S3_ACCESS;
    s3.secret_key = S3_SECRET;
    assert_int_equal(um_storage_s3_presign_get(&s3, "test.txt", 86400, S3_WHEN, &plain, &err), 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        s3.endpoint = cases[i].endpoint;
        s3.path_style = cases[i].path_style;
        char *url = NULL;
        assert_int_equal(um_storage_s3_presign_get(&s3, "test.txt", 86400, S3_WHEN, &url, &err), 0);
        size_t n = strlen(cases[i].want_prefix);
        assert_int_equal(strncmp(url, cases[i].want_prefix, n), 0);
        const char *sig = strstr(url, "X-Amz-Signature=");
        assert_non_null(sig);
        if (i == 0)
            assert_string_equal(sig, strstr(plain, "X-Amz-Signature="));
        else
            assert_string_not_equal(sig, strstr(plain, "X-Amz-Signature="));
        free(url);
    }
    free(plain);
}

/* Bad settings fail before any connection and leave no file. */
static void test_s3_transfer_usage_errors(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_sigv4.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[64], src[64];
    snprintf(path, sizeof(path), "%s/out.bin", dir);
    snprintf(src, sizeof(src), "%s/in.bin", dir);
    FILE *f = fopen(src, "w");
    assert_non_null(f);
    fputs("data", f);
    fclose(f);

    um_storage_s3 s3;
    um_storage_s3_init(&s3);
    s3.endpoint = "http://127.0.0.1:1";
    s3.bucket = "b";
    s3.path_style = 1;
    um_error err = {0};
    /* no credentials */
    assert_int_equal(um_storage_s3_get(&s3, "k", path, 0, &err), -1);
    assert_int_equal(err.status, UM_ERR_USAGE);
    assert_non_null(strstr(err.msg, "s3://b/k"));
    assert_non_null(strstr(err.msg, "credentials"));
    um_error_clear(&err);
    assert_int_equal(um_storage_s3_put(&s3, "k", src, NULL, &err), -1);
    assert_int_equal(err.status, UM_ERR_USAGE);

    s3.access_key = "AKID";
    s3.secret_key = "hunter2secret";
    s3.bucket = "bad/bucket";
    um_error_clear(&err);
    assert_int_equal(um_storage_s3_get(&s3, "k", path, 0, &err), -1);
    assert_int_equal(err.status, UM_ERR_USAGE);
    assert_non_null(strstr(err.msg, "bucket"));

    s3.bucket = "b";
    um_error_clear(&err);
    assert_int_equal(um_storage_s3_put(&s3, "k", src, "text/plain\r\nX-Evil: 1", &err), -1);
    assert_int_equal(err.status, UM_ERR_USAGE);
    um_error_clear(&err);
    char *url = (char *)"x";
    assert_int_equal(um_storage_s3_presign_get(&s3, "k", 0, S3_WHEN, &url, &err), -1);
    assert_int_equal(err.status, UM_ERR_USAGE);
    assert_null(url);
    assert_null(strstr(err.msg, "hunter2"));

    /* Nothing listens on port 1: the get fails as an unreachable source,
     * the put as a failed upload, and neither leaves a file. */
    um_error_clear(&err);
    assert_int_equal(um_storage_s3_get(&s3, "k", path, 0, &err), -1);
    assert_int_equal(err.status, UM_ERR_INPUT);
    assert_null(strstr(err.msg, "hunter2"));
    um_error_clear(&err);
    assert_int_equal(um_storage_s3_put(&s3, "k", src, NULL, &err), -1);
    assert_int_equal(err.status, UM_ERR_OUTPUT);
    assert_int_equal(access(path, F_OK), -1);

    unlink(src);
    assert_int_equal(rmdir(dir), 0); /* fails if a temporary file was left */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_s3_documentation_examples),
        cmocka_unit_test(test_signature_test_suite),
        cmocka_unit_test(test_presign_documentation_example),
        cmocka_unit_test(test_presign_token_and_query),
        cmocka_unit_test(test_uri_encode),
        cmocka_unit_test(test_canonical_query),
        cmocka_unit_test(test_canonical_path),
        cmocka_unit_test(test_sign_errors),
        cmocka_unit_test(test_presign_expiry_range),
        cmocka_unit_test(test_parse_s3_uri),
        cmocka_unit_test(test_object_url),
        cmocka_unit_test(test_presign_host),
        cmocka_unit_test(test_s3_transfer_usage_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
