/*
 * Integration-test helpers; see itest.h.
 */
#include "itest.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/display.h>
#include <libavutil/imgutils.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>

extern char **environ;

/* ======================================================================== */
/* environment                                                              */
/* ======================================================================== */

#define IT_RING 16

/* Next buffer of the static ring shared by it_media and it_join. */
static char *ring_next(void)
{
    static char ring[IT_RING][PATH_MAX];
    static int next;
    char *buf = ring[next];
    next = (next + 1) % IT_RING;
    return buf;
}

/* Reads a required environment variable, aborting the test run without it. */
static const char *required_env(const char *name)
{
    const char *v = getenv(name);
    if (!v || !*v) {
        fprintf(stderr, "itest: %s is not set (run the tests through ctest)\n", name);
        exit(1);
    }
    return v;
}

const char *it_bin(void)
{
    return required_env("UNMARK_BIN");
}

const char *it_join(const char *dir, const char *name)
{
    char *buf = ring_next();
    snprintf(buf, PATH_MAX, "%s/%s", dir, name);
    return buf;
}

const char *it_media(const char *name)
{
    return it_join(required_env("UNMARK_TEST_MEDIA"), name);
}

int it_have_gpu(void)
{
    static int cached = -1;
    if (cached >= 0)
        return cached;
    it_result r;
    double count = 0;
    cached = 0;
    if (IT_RUN(&r, "probe", it_media("cfr.mp4"), "--json") == 0) {
        char *hw = strstr(r.out, "\"hardware\"");
        if (hw && it_json_number(hw, "count", &count) == 0 && count > 0)
            cached = 1;
    }
    it_result_free(&r);
    return cached;
}

/* ======================================================================== */
/* running the binary                                                       */
/* ======================================================================== */

/* Writes the command line (binary + args) into buf, for messages. */
static void format_cmd(char *buf, size_t cap, const char *const *args)
{
    size_t len = (size_t)snprintf(buf, cap, "%s", it_bin());
    for (size_t i = 0; args[i] && len < cap; i++) {
        int quote = args[i][0] == '\0' || strpbrk(args[i], " \t\"'$") != NULL;
        len += (size_t)snprintf(buf + len, cap - len, quote ? " '%s'" : " %s", args[i]);
    }
}

pid_t it_spawn(const char *const *args, const char *out_path, const char *err_path)
{
    size_t n = 0;
    while (args[n])
        n++;
    char **argv = calloc(n + 2, sizeof *argv);
    if (!argv)
        return -1;
    argv[0] = (char *)it_bin();
    for (size_t i = 0; i < n; i++)
        argv[i + 1] = (char *)args[i];

    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    free(argv);
    if (rc != 0) {
        fprintf(stderr, "itest: cannot start %s: %s\n", it_bin(), strerror(rc));
        return -1;
    }
    return pid;
}

int it_wait(pid_t pid)
{
    int ws;
    while (waitpid(pid, &ws, 0) < 0) {
        if (errno != EINTR)
            return -1;
    }
    if (WIFEXITED(ws))
        return WEXITSTATUS(ws);
    if (WIFSIGNALED(ws))
        return 128 + WTERMSIG(ws);
    return -1;
}

/* Makes an empty temporary file for captured output; fills path. */
static int capture_file(char *path, size_t cap, const char *tag)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(path, cap, "%s/itest-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", tag);
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    close(fd);
    return 0;
}

/* Reads and deletes a capture file; never NULL. */
static char *slurp_and_unlink(const char *path)
{
    char *text = (char *)it_read_file(path, NULL);
    unlink(path);
    return text ? text : calloc(1, 1);
}

int it_run(it_result *r, const char *const *args)
{
    char out_path[PATH_MAX], err_path[PATH_MAX];
    memset(r, 0, sizeof *r);
    r->status = -1;
    format_cmd(r->cmd, sizeof r->cmd, args);
    if (capture_file(out_path, sizeof out_path, "out") < 0 ||
        capture_file(err_path, sizeof err_path, "err") < 0) {
        r->out = calloc(1, 1);
        r->err = calloc(1, 1);
        return -1;
    }
    pid_t pid = it_spawn(args, out_path, err_path);
    if (pid > 0)
        r->status = it_wait(pid);
    r->out = slurp_and_unlink(out_path);
    r->err = slurp_and_unlink(err_path);
    return r->status;
}

void it_result_free(it_result *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

void it_expect_status(const it_result *r, int expected, const char *file, int line)
{
    if (r->status == expected)
        return;
    print_error("command: %s\nexpected exit status %d, got %d\n--- stdout ---\n%s\n"
                "--- stderr ---\n%s\n",
                r->cmd, expected, r->status, r->out ? r->out : "", r->err ? r->err : "");
    _fail(file, line);
}

void it_expect_no_output(const char *dir, const char *path, const char *file, int line)
{
    int stray = it_count_stray(dir);
    if (!it_exists(path) && stray == 0)
        return;
    print_error("after a failed run: %s %s; %d temporary file(s) left in %s\n", path,
                it_exists(path) ? "exists" : "is absent", stray, dir);
    _fail(file, line);
}

int it_setup_tmpdir(void **state)
{
    char *dir = it_tmpdir();
    *state = dir;
    return dir ? 0 : -1;
}

int it_teardown_tmpdir(void **state)
{
    it_rmtree(*state);
    free(*state);
    *state = NULL;
    return 0;
}

/* ======================================================================== */
/* text and JSON                                                            */
/* ======================================================================== */

/* The next line of text at *p (without its '\n') as a malloc'd string,
 * moving *p past it; NULL at the end of the text. */
static char *take_line(const char **p)
{
    if (!*p || !**p)
        return NULL;
    const char *end = strchr(*p, '\n');
    if (!end)
        end = *p + strlen(*p);
    size_t n = (size_t)(end - *p);
    char *s = malloc(n + 1);
    if (!s)
        abort();
    memcpy(s, *p, n);
    s[n] = '\0';
    *p = *end ? end + 1 : end;
    return s;
}

int it_has_line(const char *text, const char *prefix, const char *const *needles)
{
    const char *p = text;
    char *line;
    while ((line = take_line(&p)) != NULL) {
        int ok = strncmp(line, prefix, strlen(prefix)) == 0;
        for (size_t i = 0; ok && needles[i]; i++)
            ok = strstr(line, needles[i]) != NULL;
        free(line);
        if (ok)
            return 1;
    }
    return 0;
}

char *it_json_compact(const char *json)
{
    char *out = malloc(strlen(json) + 1);
    if (!out)
        abort();
    size_t n = 0;
    int in_string = 0, escaped = 0;
    for (const char *p = json; *p; p++) {
        char c = *p;
        if (in_string) {
            out[n++] = c;
            if (escaped)
                escaped = 0;
            else if (c == '\\')
                escaped = 1;
            else if (c == '"')
                in_string = 0;
        } else if (!isspace((unsigned char)c)) {
            out[n++] = c;
            in_string = c == '"';
        }
    }
    out[n] = '\0';
    return out;
}

/* True if a match of frag at p ends where a JSON value ends: a frag ending
 * in a number or literal ("width":32) must not match a longer value
 * ("width":320). */
static int match_ends_value(const char *p, const char *frag)
{
    size_t n = strlen(frag);
    if (n == 0 || !(isalnum((unsigned char)frag[n - 1]) || frag[n - 1] == '.'))
        return 1;
    char next = p[n];
    return !(isalnum((unsigned char)next) || next == '.' || next == '-' || next == '+');
}

int it_json_has(const char *json, const char *frag)
{
    char *c = it_json_compact(json);
    int found = 0;
    for (const char *p = strstr(c, frag); p && !found; p = strstr(p + 1, frag))
        found = match_ends_value(p, frag);
    free(c);
    return found;
}

/* Position just after "key": in compacted json, or NULL. */
static const char *json_member(const char *compact, const char *key)
{
    char pat[256];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(compact, pat);
    return p ? p + strlen(pat) : NULL;
}

int it_json_number(const char *json, const char *key, double *value)
{
    char *c = it_json_compact(json);
    const char *p = json_member(c, key);
    char *end = NULL;
    int rc = -1;
    if (p) {
        *value = strtod(p, &end);
        if (end != p)
            rc = 0;
    }
    free(c);
    return rc;
}

int it_json_string(const char *json, const char *key, char *buf, size_t cap)
{
    char *c = it_json_compact(json);
    const char *p = json_member(c, key);
    int rc = -1;
    if (p && *p == '"') {
        size_t n = 0;
        for (p++; *p && *p != '"' && n + 1 < cap; p++) {
            if (*p == '\\' && p[1] && n + 2 < cap)
                buf[n++] = *p++;
            buf[n++] = *p;
        }
        buf[n] = '\0';
        rc = *p == '"' ? 0 : -1;
    }
    free(c);
    return rc;
}

/* True if a compacted line is one JSON object with an "event" member: it
 * starts with '{', ends with '}' and its braces balance outside strings. */
static int is_event_object(const char *c)
{
    size_t len = strlen(c);
    if (len < 2 || c[0] != '{' || c[len - 1] != '}' || !strstr(c, "\"event\":"))
        return 0;
    int depth = 0, in_string = 0, escaped = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = c[i];
        if (in_string) {
            if (escaped)
                escaped = 0;
            else if (ch == '\\')
                escaped = 1;
            else if (ch == '"')
                in_string = 0;
            continue;
        }
        if (ch == '"')
            in_string = 1;
        else if (ch == '{' || ch == '[')
            depth++;
        else if (ch == '}' || ch == ']')
            depth--;
        if (depth == 0 && i + 1 < len)
            return 0;   /* a second value on the same line */
    }
    return depth == 0 && !in_string;
}

int it_all_lines_json(const char *text, char *bad, size_t cap)
{
    const char *p = text;
    char *line;
    while ((line = take_line(&p)) != NULL) {
        char *c = it_json_compact(line);
        int ok = c[0] == '\0' || is_event_object(c);
        if (!ok)
            snprintf(bad, cap, "%s", line);
        free(c);
        free(line);
        if (!ok)
            return 0;
    }
    return 1;
}

char *it_find_json_line(const char *text, const char *frag)
{
    const char *p = text;
    char *line;
    while ((line = take_line(&p)) != NULL) {
        char *c = it_json_compact(line);
        free(line);
        if (strstr(c, frag))
            return c;
        free(c);
    }
    return NULL;
}

/* ======================================================================== */
/* files and folders                                                        */
/* ======================================================================== */

char *it_tmpdir(void)
{
    const char *tmp = getenv("TMPDIR");
    char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s/unmark-itest-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(buf)) {
        fprintf(stderr, "itest: mkdtemp: %s\n", strerror(errno));
        return NULL;
    }
    return strdup(buf);
}

/* nftw callback: removes one entry (children come first with FTW_DEPTH). */
static int rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    if (type == FTW_DP)
        return rmdir(path);
    return unlink(path);
}

void it_rmtree(const char *dir)
{
    if (!dir)
        return;
    if (getenv("ITEST_KEEP")) {
        fprintf(stderr, "itest: keeping %s\n", dir);
        return;
    }
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int it_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

unsigned char *it_read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 65536, n = 0;
    unsigned char *buf = malloc(cap + 1);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            cap *= 2;
            unsigned char *bigger = realloc(buf, cap + 1);
            if (!bigger)
                free(buf);
            buf = bigger;
        }
    }
    fclose(f);
    if (!buf)
        return NULL;
    buf[n] = '\0';
    if (size)
        *size = n;
    return buf;
}

int it_write_file(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    int ok = fwrite(data, 1, size, f) == size;
    ok = (fclose(f) == 0) && ok;
    return ok ? 0 : -1;
}

int it_copy_file(const char *src, const char *dst)
{
    size_t n;
    unsigned char *data = it_read_file(src, &n);
    if (!data) {
        fprintf(stderr, "itest: cannot read %s\n", src);
        return -1;
    }
    int rc = it_write_file(dst, data, n);
    free(data);
    return rc;
}

/* Counts the entries of dir (not "." and "..") that keep() accepts. */
static int count_entries_where(const char *dir, int (*keep)(const char *name))
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int count = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 && keep(e->d_name))
            count++;
    closedir(d);
    return count;
}

/* unmark's temporary files are hidden and carry ".unmark-" in their name. */
static int is_stray_temp(const char *name) { return name[0] == '.' && strstr(name, "unmark") != NULL; }
static int is_any(const char *name) { return name != NULL; }

int it_count_stray(const char *dir) { return count_entries_where(dir, is_stray_temp); }
int it_count_entries(const char *dir) { return count_entries_where(dir, is_any); }

int it_snapshot_take(const char *path, it_snapshot *s)
{
    struct stat st;
    memset(s, 0, sizeof *s);
    if (stat(path, &st) < 0)
        return -1;
    s->mtime = st.st_mtim;
    s->data = it_read_file(path, &s->size);
    return s->data ? 0 : -1;
}

int it_snapshot_same(const char *path, const it_snapshot *s)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return 0;
    if (st.st_mtim.tv_sec != s->mtime.tv_sec || st.st_mtim.tv_nsec != s->mtime.tv_nsec)
        return 0;
    size_t n;
    unsigned char *data = it_read_file(path, &n);
    int same = data && n == s->size && memcmp(data, s->data, n) == 0;
    free(data);
    return same;
}

void it_snapshot_free(it_snapshot *s)
{
    free(s->data);
    s->data = NULL;
}

/* ======================================================================== */
/* media: opening and decoding                                              */
/* ======================================================================== */

/* Opens a media file and reads its stream info; quiet on failure. */
static AVFormatContext *open_media(const char *path)
{
    AVFormatContext *fmt = NULL;
    av_log_set_level(AV_LOG_QUIET);
    if (avformat_open_input(&fmt, path, NULL, NULL) < 0)
        return NULL;
    if (avformat_find_stream_info(fmt, NULL) < 0) {
        avformat_close_input(&fmt);
        return NULL;
    }
    return fmt;
}

/* Index of the nth stream of a media type, or -1. */
static int nth_stream(const AVFormatContext *fmt, enum AVMediaType type, int nth)
{
    for (unsigned i = 0; i < fmt->nb_streams; i++) {
        if (fmt->streams[i]->codecpar->codec_type == type && nth-- == 0)
            return (int)i;
    }
    return -1;
}

/* A decoder over the best video stream of a file. */
typedef struct {
    AVFormatContext *fmt;
    AVCodecContext *dec;
    AVPacket *pkt;
    int stream;
    int draining;
    int errors;
} vdec;

static void vdec_close(vdec *d)
{
    avcodec_free_context(&d->dec);
    av_packet_free(&d->pkt);
    avformat_close_input(&d->fmt);
}

/* Opens the best video stream of path for decoding. */
static int vdec_open(vdec *d, const char *path)
{
    memset(d, 0, sizeof *d);
    d->fmt = open_media(path);
    if (!d->fmt) {
        fprintf(stderr, "itest: cannot open %s\n", path);
        return -1;
    }
    const AVCodec *codec = NULL;
    d->stream = av_find_best_stream(d->fmt, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
    if (d->stream < 0 || !codec) {
        fprintf(stderr, "itest: no decodable video stream in %s\n", path);
        vdec_close(d);
        return -1;
    }
    AVStream *st = d->fmt->streams[d->stream];
    d->dec = avcodec_alloc_context3(codec);
    d->pkt = av_packet_alloc();
    if (!d->dec || !d->pkt || avcodec_parameters_to_context(d->dec, st->codecpar) < 0) {
        vdec_close(d);
        return -1;
    }
    d->dec->pkt_timebase = st->time_base;
    d->dec->thread_count = 0;
    if (avcodec_open2(d->dec, codec, NULL) < 0) {
        fprintf(stderr, "itest: cannot open the decoder for %s\n", path);
        vdec_close(d);
        return -1;
    }
    return 0;
}

/* Feeds the decoder its next video packet, or starts draining at the end. */
static void vdec_feed(vdec *d)
{
    for (;;) {
        int ret = av_read_frame(d->fmt, d->pkt);
        if (ret < 0) {
            avcodec_send_packet(d->dec, NULL);
            d->draining = 1;
            return;
        }
        if (d->pkt->stream_index == d->stream) {
            ret = avcodec_send_packet(d->dec, d->pkt);
            av_packet_unref(d->pkt);
            if (ret < 0 && ret != AVERROR(EAGAIN))
                d->errors++;
            return;
        }
        av_packet_unref(d->pkt);
    }
}

/* Decodes the next frame in display order: 1 with a frame, 0 at the end,
 * -1 when the decoder keeps failing. */
static int vdec_next(vdec *d, AVFrame *frame)
{
    for (;;) {
        int ret = avcodec_receive_frame(d->dec, frame);
        if (ret == 0)
            return 1;
        if (ret == AVERROR_EOF)
            return 0;
        if (ret != AVERROR(EAGAIN)) {
            if (++d->errors > 10000)
                return -1;
            continue;
        }
        if (d->draining)
            return 0;
        vdec_feed(d);
    }
}

/* Seconds of a decoded frame's best-effort timestamp. */
static double frame_seconds(const vdec *d, const AVFrame *f)
{
    int64_t ts = f->best_effort_timestamp;
    if (ts == AV_NOPTS_VALUE)
        return NAN;
    return (double)ts * av_q2d(d->fmt->streams[d->stream]->time_base);
}

/* ======================================================================== */
/* media: properties, timestamps, packets                                   */
/* ======================================================================== */

/* Copies a codec's name, "none" for an unknown id. */
static void codec_name(char *buf, size_t cap, enum AVCodecID id)
{
    snprintf(buf, cap, "%s", id == AV_CODEC_ID_NONE ? "none" : avcodec_get_name(id));
}

/* Fills the stream counts and per-type codec names. */
static void probe_streams(AVFormatContext *fmt, it_props *p)
{
    p->nb_streams = (int)fmt->nb_streams;
    for (unsigned i = 0; i < fmt->nb_streams; i++) {
        const AVCodecParameters *par = fmt->streams[i]->codecpar;
        if (par->codec_type == AVMEDIA_TYPE_VIDEO) {
            p->nb_video++;
        } else if (par->codec_type == AVMEDIA_TYPE_AUDIO) {
            if (p->nb_audio < 8)
                codec_name(p->audio_codec[p->nb_audio], sizeof p->audio_codec[0], par->codec_id);
            p->nb_audio++;
        } else if (par->codec_type == AVMEDIA_TYPE_SUBTITLE) {
            if (p->nb_subtitle < 8)
                codec_name(p->subtitle_codec[p->nb_subtitle], sizeof p->subtitle_codec[0],
                           par->codec_id);
            p->nb_subtitle++;
        }
    }
}

/* Fills the best video stream's facts. */
static void probe_video(AVFormatContext *fmt, int index, it_props *p)
{
    AVStream *st = fmt->streams[index];
    const AVCodecParameters *par = st->codecpar;
    p->width = par->width;
    p->height = par->height;
    codec_name(p->codec, sizeof p->codec, par->codec_id);
    const char *pf = av_get_pix_fmt_name((enum AVPixelFormat)par->format);
    snprintf(p->pix_fmt, sizeof p->pix_fmt, "%s", pf ? pf : "none");
    size_t size = 0;
    const uint8_t *matrix = av_stream_get_side_data(st, AV_PKT_DATA_DISPLAYMATRIX, &size);
    if (matrix && size >= 9 * sizeof(int32_t)) {
        p->has_rotation = 1;
        p->rotation = av_display_rotation_get((const int32_t *)matrix);
    }
    p->color_primaries = par->color_primaries;
    p->color_trc = par->color_trc;
    p->color_space = par->color_space;
    p->color_range = par->color_range;
    AVRational sar = av_guess_sample_aspect_ratio(fmt, st, NULL);
    p->sar_num = sar.num;
    p->sar_den = sar.den;
}

int it_probe(const char *path, it_props *p)
{
    memset(p, 0, sizeof *p);
    AVFormatContext *fmt = open_media(path);
    if (!fmt) {
        fprintf(stderr, "itest: cannot open %s\n", path);
        return -1;
    }
    snprintf(p->format, sizeof p->format, "%s", fmt->iformat->name);
    probe_streams(fmt, p);
    int v = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    if (v >= 0)
        probe_video(fmt, v, p);
    avformat_close_input(&fmt);
    return 0;
}

/* Appends a value to a growing array of doubles. */
static int push_time(it_times *t, size_t *cap, double v)
{
    if (t->n == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        double *bigger = realloc(t->t, *cap * sizeof *bigger);
        if (!bigger)
            return -1;
        t->t = bigger;
    }
    t->t[t->n++] = v;
    return 0;
}

int it_video_times(const char *path, it_times *out)
{
    memset(out, 0, sizeof *out);
    vdec d;
    if (vdec_open(&d, path) < 0)
        return -1;
    AVFrame *frame = av_frame_alloc();
    size_t cap = 0;
    int ret;
    while ((ret = vdec_next(&d, frame)) == 1) {
        push_time(out, &cap, frame_seconds(&d, frame));
        av_frame_unref(frame);
    }
    out->decode_errors = d.errors;
    av_frame_free(&frame);
    vdec_close(&d);
    return ret < 0 ? -1 : 0;
}

void it_times_free(it_times *t)
{
    free(t->t);
    t->t = NULL;
    t->n = 0;
}

long it_times_mismatch(const it_times *a, const it_times *b, double tol)
{
    size_t n = a->n < b->n ? a->n : b->n;
    for (size_t i = 0; i < n; i++) {
        if (!(fabs(a->t[i] - b->t[i]) <= tol))
            return (long)i;
    }
    return a->n == b->n ? -1 : (long)n;
}

int it_video_valid(const char *path)
{
    vdec d;
    if (vdec_open(&d, path) < 0)
        return 0;
    AVFrame *frame = av_frame_alloc();
    int frames = 0, ret;
    while ((ret = vdec_next(&d, frame)) == 1) {
        frames++;
        av_frame_unref(frame);
    }
    int valid = ret == 0 && frames > 0 && d.errors == 0;
    if (!valid)
        fprintf(stderr, "itest: %s: %d frames, %d decode errors\n", path, frames, d.errors);
    av_frame_free(&frame);
    vdec_close(&d);
    return valid;
}

/* Appends a copy of a packet's bytes to the list. */
static int push_packet(it_packets *p, size_t *cap, const AVPacket *pkt)
{
    if (p->n == *cap) {
        *cap = *cap ? *cap * 2 : 256;
        size_t *sizes = realloc(p->size, *cap * sizeof *sizes);
        if (sizes)
            p->size = sizes;
        uint8_t **datas = realloc(p->data, *cap * sizeof *datas);
        if (datas)
            p->data = datas;
        if (!sizes || !datas)
            return -1;
    }
    p->data[p->n] = malloc(pkt->size ? (size_t)pkt->size : 1);
    if (!p->data[p->n])
        return -1;
    memcpy(p->data[p->n], pkt->data, (size_t)pkt->size);
    p->size[p->n++] = (size_t)pkt->size;
    return 0;
}

int it_stream_packets(const char *path, int media_type, int nth, it_packets *out)
{
    memset(out, 0, sizeof *out);
    AVFormatContext *fmt = open_media(path);
    if (!fmt) {
        fprintf(stderr, "itest: cannot open %s\n", path);
        return -1;
    }
    int index = nth_stream(fmt, (enum AVMediaType)media_type, nth);
    if (index < 0) {
        fprintf(stderr, "itest: %s has no stream #%d of type %d\n", path, nth, media_type);
        avformat_close_input(&fmt);
        return -1;
    }
    AVPacket *pkt = av_packet_alloc();
    size_t cap = 0;
    int rc = 0;
    while (rc == 0 && av_read_frame(fmt, pkt) >= 0) {
        if (pkt->stream_index == index)
            rc = push_packet(out, &cap, pkt);
        av_packet_unref(pkt);
    }
    av_packet_free(&pkt);
    avformat_close_input(&fmt);
    return rc;
}

void it_packets_free(it_packets *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->data[i]);
    free(p->data);
    free(p->size);
    memset(p, 0, sizeof *p);
}

long it_packets_mismatch(const it_packets *a, const it_packets *b)
{
    size_t n = a->n < b->n ? a->n : b->n;
    for (size_t i = 0; i < n; i++) {
        if (a->size[i] != b->size[i] || memcmp(a->data[i], b->data[i], a->size[i]) != 0)
            return (long)i;
    }
    return a->n == b->n ? -1 : (long)n;
}

/* ======================================================================== */
/* media: pixel comparisons                                                 */
/* ======================================================================== */

/* A frame's luma as 8-bit grey, w x h bytes. */
typedef struct {
    uint8_t *y;
    int w, h;
} grey;

/* True for formats whose plane 0 is luma alone, one sample per step. */
static int luma_is_plane0(const AVPixFmtDescriptor *desc)
{
    return desc && !(desc->flags & (AV_PIX_FMT_FLAG_RGB | AV_PIX_FMT_FLAG_BE)) &&
           (desc->flags & AV_PIX_FMT_FLAG_PLANAR || desc->nb_components == 1) &&
           desc->comp[0].plane == 0 && desc->comp[0].offset == 0 &&
           desc->comp[0].step == (desc->comp[0].depth > 8 ? 2 : 1);
}

/* Copies plane 0, scaling samples deeper than 8 bits down to 8. */
static void copy_luma(const AVFrame *f, int depth, grey *g)
{
    double scale = 255.0 / (double)((1 << depth) - 1);
    for (int y = 0; y < f->height; y++) {
        const uint8_t *row = f->data[0] + (ptrdiff_t)y * f->linesize[0];
        uint8_t *dst = g->y + (size_t)y * (size_t)f->width;
        for (int x = 0; x < f->width; x++) {
            if (depth == 8) {
                dst[x] = row[x];
            } else {
                uint16_t v;
                memcpy(&v, row + 2 * x, 2);
                dst[x] = (uint8_t)lrint(v * scale);
            }
        }
    }
}

/* Converts any frame to grey through swscale (RGB and packed formats). */
static int sws_luma(const AVFrame *f, grey *g)
{
    struct SwsContext *sws =
        sws_getContext(f->width, f->height, (enum AVPixelFormat)f->format, f->width, f->height,
                       AV_PIX_FMT_GRAY8, SWS_POINT, NULL, NULL, NULL);
    if (!sws)
        return -1;
    uint8_t *dst[4] = {g->y, NULL, NULL, NULL};
    int stride[4] = {f->width, 0, 0, 0};
    sws_scale(sws, (const uint8_t *const *)f->data, f->linesize, 0, f->height, dst, stride);
    sws_freeContext(sws);
    return 0;
}

/* Extracts a decoded frame's luma as 8-bit grey. */
static int frame_luma(const AVFrame *f, grey *g)
{
    g->w = f->width;
    g->h = f->height;
    g->y = malloc((size_t)f->width * (size_t)f->height);
    if (!g->y)
        return -1;
    const AVPixFmtDescriptor *desc = av_pix_fmt_desc_get((enum AVPixelFormat)f->format);
    if (luma_is_plane0(desc)) {
        copy_luma(f, desc->comp[0].depth, g);
        return 0;
    }
    return sws_luma(f, g);
}

/* True if (x, y) lies in rect grown by margin on every side. */
static int in_rect(it_rect r, int margin, int x, int y)
{
    return x >= r.x - margin && x < r.x + r.w + margin && y >= r.y - margin &&
           y < r.y + r.h + margin;
}

/* PSNR of a sum of squared errors over n 8-bit samples, capped at 100 dB. */
static double psnr(double sse, double n)
{
    if (n <= 0 || sse <= 0)
        return 100.0;
    double v = 10.0 * log10(255.0 * 255.0 / (sse / n));
    return v > 100.0 ? 100.0 : v;
}

/* Compares two grey pictures of the same size inside and outside a rect. */
static void compare_grey(const grey *a, const grey *b, it_rect rect, int margin, it_frame_cmp *c)
{
    double sse_in = 0, sse_out = 0, sad_in = 0, n_in = 0, n_out = 0;
    for (int y = 0; y < a->h; y++) {
        for (int x = 0; x < a->w; x++) {
            size_t i = (size_t)y * (size_t)a->w + (size_t)x;
            double d = (double)a->y[i] - (double)b->y[i];
            if (in_rect(rect, 0, x, y)) {
                sse_in += d * d;
                sad_in += fabs(d);
                n_in++;
            } else if (!in_rect(rect, margin, x, y)) {
                sse_out += d * d;
                n_out++;
            }
        }
    }
    c->psnr_in = psnr(sse_in, n_in);
    c->psnr_out = psnr(sse_out, n_out);
    c->mad_in = n_in > 0 ? sad_in / n_in : 0;
}

/* Decodes the next frame of d as grey; 1 with a frame, 0 at the end, -1 on
 * error. */
static int next_grey(vdec *d, AVFrame *frame, grey *g, double *time)
{
    int ret = vdec_next(d, frame);
    if (ret != 1)
        return ret;
    *time = frame_seconds(d, frame);
    ret = frame_luma(frame, g) < 0 ? -1 : 1;
    av_frame_unref(frame);
    return ret;
}

/* Appends one frame comparison. */
static int push_cmp(it_cmp *c, size_t *cap, const it_frame_cmp *f)
{
    if (c->n == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        it_frame_cmp *bigger = realloc(c->f, *cap * sizeof *bigger);
        if (!bigger)
            return -1;
        c->f = bigger;
    }
    c->f[c->n++] = *f;
    return 0;
}

/* Counts the frames left in d (after one side of a comparison ran out). */
static size_t count_rest(vdec *d, AVFrame *frame)
{
    size_t n = 0;
    while (vdec_next(d, frame) == 1) {
        n++;
        av_frame_unref(frame);
    }
    return n;
}

/* The lockstep loop of it_compare_luma over two open decoders. */
static int compare_loop(vdec *da, vdec *db, it_rect rect, int margin, it_cmp *out)
{
    AVFrame *frame = av_frame_alloc();
    size_t cap = 0;
    int rc = 0;
    for (;;) {
        grey ga = {0}, gb = {0};
        double ta = 0, tb = 0;
        int ra = next_grey(da, frame, &ga, &ta);
        int rb = ra == 1 ? next_grey(db, frame, &gb, &tb) : 0;
        if (ra == 1 && rb == 1 && (ga.w != gb.w || ga.h != gb.h)) {
            fprintf(stderr, "itest: frame sizes differ: %dx%d vs %dx%d\n", ga.w, ga.h, gb.w, gb.h);
            rc = -1;
        } else if (ra == 1 && rb == 1) {
            it_frame_cmp c = {.time = ta};
            compare_grey(&ga, &gb, rect, margin, &c);
            rc = push_cmp(out, &cap, &c);
        }
        free(ga.y);
        free(gb.y);
        out->n_a += ra == 1;
        out->n_b += rb == 1;
        if (ra < 0 || rb < 0)
            rc = -1;
        if (rc < 0 || ra != 1 || rb != 1) {
            if (rc == 0 && ra == 1)
                out->n_a += count_rest(da, frame);
            else if (rc == 0 && ra == 0)
                out->n_b += count_rest(db, frame);
            break;
        }
    }
    av_frame_free(&frame);
    return rc;
}

int it_compare_luma(const char *a, const char *b, it_rect rect, int margin, it_cmp *out)
{
    memset(out, 0, sizeof *out);
    vdec da, db;
    if (vdec_open(&da, a) < 0)
        return -1;
    if (vdec_open(&db, b) < 0) {
        vdec_close(&da);
        return -1;
    }
    int rc = compare_loop(&da, &db, rect, margin, out);
    vdec_close(&da);
    vdec_close(&db);
    return rc;
}

void it_cmp_free(it_cmp *c)
{
    free(c->f);
    memset(c, 0, sizeof *c);
}

double it_cmp_min_psnr_out(const it_cmp *c)
{
    double m = 1e9;
    for (size_t i = 0; i < c->n; i++)
        m = fmin(m, c->f[i].psnr_out);
    return c->n ? m : 0;
}

double it_cmp_min_mad_in(const it_cmp *c)
{
    double m = 1e9;
    for (size_t i = 0; i < c->n; i++)
        m = fmin(m, c->f[i].mad_in);
    return c->n ? m : 0;
}

/* Alpha min/max of an RGBA picture inside rect and outside rect + margin. */
static void alpha_scan(const uint8_t *rgba, int w, int h, it_rect rect, int margin, it_alpha *a)
{
    a->min_in = a->min_out = 255;
    a->max_in = a->max_out = 0;
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            int v = rgba[((size_t)y * (size_t)w + (size_t)x) * 4 + 3];
            if (in_rect(rect, 0, x, y)) {
                a->min_in = v < a->min_in ? v : a->min_in;
                a->max_in = v > a->max_in ? v : a->max_in;
            } else if (!in_rect(rect, margin, x, y)) {
                a->min_out = v < a->min_out ? v : a->min_out;
                a->max_out = v > a->max_out ? v : a->max_out;
            }
        }
    }
}

/* Converts a frame to packed RGBA (w x h x 4 bytes, malloc'd). */
static uint8_t *frame_rgba(const AVFrame *f)
{
    uint8_t *rgba = malloc((size_t)f->width * (size_t)f->height * 4);
    struct SwsContext *sws =
        sws_getContext(f->width, f->height, (enum AVPixelFormat)f->format, f->width, f->height,
                       AV_PIX_FMT_RGBA, SWS_POINT, NULL, NULL, NULL);
    if (!rgba || !sws) {
        free(rgba);
        sws_freeContext(sws);
        return NULL;
    }
    uint8_t *dst[4] = {rgba, NULL, NULL, NULL};
    int stride[4] = {f->width * 4, 0, 0, 0};
    sws_scale(sws, (const uint8_t *const *)f->data, f->linesize, 0, f->height, dst, stride);
    sws_freeContext(sws);
    return rgba;
}

int it_alpha_stats(const char *path, it_rect rect, int margin, it_alpha *out)
{
    memset(out, 0, sizeof *out);
    vdec d;
    if (vdec_open(&d, path) < 0)
        return -1;
    AVFrame *frame = av_frame_alloc();
    int rc = -1;
    if (vdec_next(&d, frame) == 1) {
        const char *name = av_get_pix_fmt_name((enum AVPixelFormat)frame->format);
        snprintf(out->pix_fmt, sizeof out->pix_fmt, "%s", name ? name : "none");
        uint8_t *rgba = frame_rgba(frame);
        if (rgba) {
            alpha_scan(rgba, frame->width, frame->height, rect, margin, out);
            rc = 0;
        }
        free(rgba);
    }
    av_frame_free(&frame);
    vdec_close(&d);
    return rc;
}

uint32_t it_rng_next(uint32_t *state)
{
    uint32_t x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *state = x;
}
