/*
 * Logging on stderr: plain "unmark: ..." lines for people, or one JSON object
 * a line for machines (--json). A progress bar shares stderr, so a hook lets
 * it clear its line before a log line is written.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <libavutil/log.h>

#include "unmark/common.h"

static um_log_level log_level = UM_LOG_INFO;
static int log_json;
static void (*log_interrupt_hook)(void);
static _Thread_local char ffmpeg_last[512];

void um_log_set_level(um_log_level level) { log_level = level; }
um_log_level um_log_get_level(void) { return log_level; }
void um_log_set_json(int on) { log_json = on; }
int um_log_is_json(void) { return log_json; }
void um_log_set_interrupt_hook(void (*hook)(void)) { log_interrupt_hook = hook; }

void um_json_escape(char *buf, size_t cap, const char *s)
{
    size_t n = strlen(buf);
    if (n + 1 >= cap)
        return;
    buf[n++] = '"';
    for (; *s && n + 8 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            buf[n++] = '\\';
            buf[n++] = (char)c;
        } else if (c == '\n') {
            buf[n++] = '\\';
            buf[n++] = 'n';
        } else if (c < 0x20) {
            n += (size_t)snprintf(buf + n, cap - n, "\\u%04x", c);
        } else {
            buf[n++] = (char)c;
        }
    }
    if (n + 1 < cap)
        buf[n++] = '"';
    buf[n] = '\0';
}

static const char *level_name(um_log_level level)
{
    switch (level) {
    case UM_LOG_ERROR: return "error";
    case UM_LOG_WARN: return "warn";
    case UM_LOG_DEBUG: return "debug";
    default: return "info";
    }
}

static void write_line(um_log_level level, const char *message)
{
    if (log_interrupt_hook)
        log_interrupt_hook();
    if (log_json) {
        char body[2048] = "\"level\":";
        um_json_escape(body, sizeof(body), level_name(level));
        strncat(body, ",\"message\":", sizeof(body) - strlen(body) - 1);
        um_json_escape(body, sizeof(body), message);
        um_log_json_event("log", body);
        return;
    }
    const char *prefix = level == UM_LOG_ERROR  ? "error: "
                         : level == UM_LOG_WARN ? "warning: "
                         : level == UM_LOG_DEBUG ? "debug: "
                                                : "";
    fprintf(stderr, "unmark: %s%s\n", prefix, message);
}

void um_log(um_log_level level, const char *fmt, ...)
{
    if (level > log_level)
        return;
    char message[1536];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    write_line(level, message);
}

void um_log_json_event(const char *event, const char *json_body)
{
    char line[4096] = "{\"event\":";
    um_json_escape(line, sizeof(line), event);
    if (json_body && *json_body) {
        strncat(line, ",", sizeof(line) - strlen(line) - 1);
        strncat(line, json_body, sizeof(line) - strlen(line) - 1);
    }
    fprintf(stderr, "%s}\n", line);
    fflush(stderr);
}

/* Remembers FFmpeg's last error or warning and shows FFmpeg's log with -v. */
static void ffmpeg_log_callback(void *avcl, int level, const char *fmt, va_list vl)
{
    if (level > AV_LOG_VERBOSE)
        return;
    char line[512];
    int print_prefix = 0;
    av_log_format_line2(avcl, level, fmt, vl, line, sizeof(line), &print_prefix);
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    if (!n)
        return;
    if (level <= AV_LOG_WARNING)
        memcpy(ffmpeg_last, line, n + 1);
    if (log_level >= UM_LOG_DEBUG)
        write_line(UM_LOG_DEBUG, line);
}

void um_log_capture_ffmpeg(void) { av_log_set_callback(ffmpeg_log_callback); }
const char *um_log_ffmpeg_last(void) { return ffmpeg_last; }
void um_log_ffmpeg_clear(void) { ffmpeg_last[0] = '\0'; }
