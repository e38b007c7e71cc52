/*
 * Configuration: flags override environment variables, which override a
 * .env file in the working folder (or the file $UNMARK_ENV_FILE names).
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/cli.h"

#define ENV_LINE_MAX 4096

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

/* One KEY=VALUE line; quotes around the value are dropped. */
static void apply_env_line(char *line)
{
    char *s = trim(line);
    if (!*s || *s == '#')
        return;
    if (strncmp(s, "export ", 7) == 0)
        s = trim(s + 7);
    char *eq = strchr(s, '=');
    if (!eq)
        return;
    *eq = '\0';
    char *key = trim(s), *value = trim(eq + 1);
    size_t n = strlen(value);
    if (n >= 2 && (value[0] == '"' || value[0] == '\'') && value[n - 1] == value[0]) {
        value[n - 1] = '\0';
        value++;
    }
    if (*key)
        setenv(key, value, 0);
}

static void load_env_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char line[ENV_LINE_MAX];
    while (fgets(line, sizeof(line), f))
        apply_env_line(line);
    fclose(f);
}

void cli_load_config(void)
{
    const char *file = getenv("UNMARK_ENV_FILE");
    load_env_file(file && *file ? file : ".env");
    um_log_level level;
    const char *s = getenv("UNMARK_LOG_LEVEL");
    if (s && cli_parse_log_level(s, &level) == 0)
        um_log_set_level(level);
}

int cli_parse_log_level(const char *s, um_log_level *out)
{
    static const struct { const char *name; um_log_level level; } levels[] = {
        {"quiet", UM_LOG_QUIET}, {"error", UM_LOG_ERROR}, {"warn", UM_LOG_WARN},
        {"warning", UM_LOG_WARN}, {"info", UM_LOG_INFO}, {"debug", UM_LOG_DEBUG},
    };
    for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
        if (strcmp(s, levels[i].name) == 0) {
            *out = levels[i].level;
            return 0;
        }
    return -1;
}

int cli_parse_hwdec(const char *s, um_hwdec *out, um_error *err)
{
    if (strcmp(s, "auto") == 0)
        *out = UM_HWDEC_AUTO;
    else if (strcmp(s, "cuda") == 0)
        *out = UM_HWDEC_CUDA;
    else if (strcmp(s, "none") == 0)
        *out = UM_HWDEC_NONE;
    else {
        um_error_set(err, UM_ERR_USAGE, "bad --hwdec \"%s\": expected auto, cuda or none", s);
        return -1;
    }
    return 0;
}

int cli_parse_encoder(const char *s, um_encoder *out, um_error *err)
{
    if (strcmp(s, "auto") == 0)
        *out = UM_ENCODER_AUTO;
    else if (strcmp(s, "nvenc") == 0)
        *out = UM_ENCODER_NVENC;
    else if (strcmp(s, "x264") == 0)
        *out = UM_ENCODER_X264;
    else {
        um_error_set(err, UM_ERR_USAGE, "bad --encoder \"%s\": expected auto, nvenc or x264", s);
        return -1;
    }
    return 0;
}

int cli_parse_int(const char *s, const char *flag, int lo, int hi, int *out, um_error *err)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end || errno || v < lo || v > hi) {
        um_error_set(err, UM_ERR_USAGE, "bad %s \"%s\": expected a whole number from %d to %d", flag, s,
                     lo, hi);
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* A time as seconds ("12.5") or [HH:]MM:SS[.fraction] ("1:02.5"). */
int cli_parse_time(const char *s, const char *flag, double *out, um_error *err)
{
    double total = 0;
    const char *p = s;
    for (int part = 0; part < 3; part++) {
        char *end;
        errno = 0;
        double v = strtod(p, &end);
        int last = *end != ':';
        if (end == p || errno || !isfinite(v) || v < 0 || (part > 0 && v >= 60) || (!last && v != floor(v)))
            break;
        total = total * 60 + v;
        if (last && *end == '\0') {
            *out = total;
            return 0;
        }
        if (last)
            break;
        p = end + 1;
    }
    um_error_set(err, UM_ERR_USAGE, "bad %s \"%s\": expected seconds (12.5) or [HH:]MM:SS[.frac] (1:02.5)",
                 flag, s);
    return -1;
}

int cli_parse_crf(const char *s, int *out, um_error *err)
{
    return cli_parse_int(s, "--crf", 0, 51, out, err);
}

/* Environment defaults, named in the README: UNMARK_HWDEC, UNMARK_ENCODER,
 * UNMARK_PRESET, UNMARK_CRF. */
int cli_media_defaults(um_media_options *o, um_error *err)
{
    const char *s;
    if ((s = getenv("UNMARK_HWDEC")) && *s && cli_parse_hwdec(s, &o->hwdec, err) < 0)
        return -1;
    if ((s = getenv("UNMARK_ENCODER")) && *s && cli_parse_encoder(s, &o->encoder, err) < 0)
        return -1;
    if ((s = getenv("UNMARK_PRESET")) && *s)
        o->preset = s;
    if ((s = getenv("UNMARK_CRF")) && *s && cli_parse_crf(s, &o->crf, err) < 0)
        return -1;
    return 0;
}

int cli_parse_size(const char *s, const char *flag, int64_t *out, um_error *err)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    double unit = 1;
    if (*end == 'K' || *end == 'k')
        unit = 1024.0;
    else if (*end == 'M' || *end == 'm')
        unit = 1024.0 * 1024;
    else if (*end == 'G' || *end == 'g')
        unit = 1024.0 * 1024 * 1024;
    if (unit > 1)
        end++;
    if (end == s || *end || errno || !(v > 0) || v * unit > 9e18) {
        um_error_set(err, UM_ERR_USAGE, "bad %s \"%s\": expected a size such as 512M or 2G", flag, s);
        return -1;
    }
    *out = (int64_t)(v * unit);
    return 0;
}

int cli_parse_percent(const char *s, const char *flag, double *out, um_error *err)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || (*end && strcmp(end, "%") != 0) || errno || !(v > 0 && v <= 100)) {
        um_error_set(err, UM_ERR_USAGE, "bad %s \"%s\": expected a percentage above 0, at most 100", flag, s);
        return -1;
    }
    *out = v / 100.0;
    return 0;
}

int cli_parse_detect_mode(const char *s, int *detect, um_error *err)
{
    if (strcmp(s, "auto") == 0)
        *detect = 1;
    else if (strcmp(s, "none") == 0)
        *detect = 0;
    else {
        um_error_set(err, UM_ERR_USAGE, "bad --detect \"%s\": expected auto or none", s);
        return -1;
    }
    return 0;
}

int cli_parse_bool(const char *s, const char *name, int *out, um_error *err)
{
    static const char *const yes[] = {"1", "true", "yes", "on"}, *const no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0)
            return *out = 1, 0;
        if (strcasecmp(s, no[i]) == 0)
            return *out = 0, 0;
    }
    um_error_set(err, UM_ERR_USAGE, "%s: expected true or false (1/0, yes/no), got \"%s\"", name, s);
    return -1;
}

/* The first of the variables that is set and not empty, or NULL. */
static const char *first_env(const char *a, const char *b)
{
    const char *v = getenv(a);
    if (v && *v)
        return v;
    v = b ? getenv(b) : NULL;
    return v && *v ? v : NULL;
}

int cli_storage_defaults(cli_storage *st, um_error *err)
{
    const char *v;
    um_storage_s3_init(&st->s3);
    st->allow_private_urls = 0;
    st->result_ttl = 3600;
    if ((v = first_env("UNMARK_S3_ENDPOINT", "AWS_ENDPOINT_URL")))
        st->s3.endpoint = v;
    if ((v = first_env("UNMARK_S3_REGION", "AWS_REGION")) || (v = first_env("AWS_DEFAULT_REGION", NULL)))
        st->s3.region = v;
    st->s3.access_key = first_env("AWS_ACCESS_KEY_ID", NULL);
    st->s3.secret_key = first_env("AWS_SECRET_ACCESS_KEY", NULL);
    st->s3.session_token = first_env("AWS_SESSION_TOKEN", NULL);
    st->s3.bucket = first_env("UNMARK_S3_BUCKET", NULL);
    if ((v = first_env("UNMARK_S3_PATH_STYLE", NULL)) &&
        cli_parse_bool(v, "UNMARK_S3_PATH_STYLE", &st->s3.path_style, err) < 0)
        return -1;
    if ((v = first_env("UNMARK_S3_VERIFY_TLS", NULL)) &&
        cli_parse_bool(v, "UNMARK_S3_VERIFY_TLS", &st->s3.verify_tls, err) < 0)
        return -1;
    if ((v = first_env("UNMARK_ALLOW_PRIVATE_URLS", NULL)) &&
        cli_parse_bool(v, "UNMARK_ALLOW_PRIVATE_URLS", &st->allow_private_urls, err) < 0)
        return -1;
    if ((v = first_env("UNMARK_RESULT_TTL", NULL)) &&
        cli_parse_int(v, "UNMARK_RESULT_TTL", 1, 604800, &st->result_ttl, err) < 0)
        return -1;
    return 0;
}
