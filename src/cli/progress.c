/*
 * Progress on stderr: a one-line bar redrawn in place on a terminal (log
 * lines clear it first), or JSON lines for machines.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

#define BAR_WIDTH 30
#define JSON_INTERVAL 0.5

static int progress_json, progress_bar, bar_visible;
static double last_json_elapsed = -1;

static void clear_bar(void)
{
    if (bar_visible) {
        fputs("\r\033[K", stderr);
        bar_visible = 0;
    }
}

void cli_progress_init(int json, int quiet)
{
    progress_json = json;
    progress_bar = !json && !quiet && isatty(STDERR_FILENO);
    if (progress_bar)
        um_log_set_interrupt_hook(clear_bar);
}

static void format_eta(double eta, char *buf, size_t cap)
{
    if (eta < 0) {
        snprintf(buf, cap, "--:--");
        return;
    }
    int s = (int)(eta + 0.5);
    snprintf(buf, cap, "%d:%02d", s / 60, s % 60);
}

static void draw_bar(const um_progress *p)
{
    char bar[BAR_WIDTH + 1], eta[32];
    double done = p->frames_total > 0 ? (double)p->frames_done / (double)p->frames_total : 0;
    if (done > 1)
        done = 1;
    int filled = (int)(done * BAR_WIDTH);
    memset(bar, '#', (size_t)filled);
    memset(bar + filled, '.', (size_t)(BAR_WIDTH - filled));
    bar[BAR_WIDTH] = '\0';
    format_eta(p->eta, eta, sizeof(eta));
    const char *stage = p->stage ? p->stage : "";
    if (p->frames_total > 0)
        fprintf(stderr, "\r\033[K%-6s [%s] %3.0f%%  %lld/%lld frames  %.1f fps  ETA %s", stage, bar, done * 100,
                (long long)p->frames_done, (long long)p->frames_total, p->fps, eta);
    else
        fprintf(stderr, "\r\033[K%-6s %lld frames  %.1f fps", stage, (long long)p->frames_done, p->fps);
    fflush(stderr);
    bar_visible = 1;
}

void cli_progress_update(void *opaque, const um_progress *p)
{
    (void)opaque;
    if (progress_bar) {
        draw_bar(p);
    } else if (progress_json) {
        static const char *last_stage;
        int final = p->frames_total > 0 && p->frames_done >= p->frames_total;
        if (p->stage != last_stage)
            last_json_elapsed = -1;
        last_stage = p->stage;
        if (!final && last_json_elapsed >= 0 && p->elapsed - last_json_elapsed < JSON_INTERVAL)
            return;
        last_json_elapsed = p->elapsed;
        char body[256];
        snprintf(body, sizeof(body), "\"stage\":\"%s\",\"frames\":%lld,\"total\":%lld,\"fps\":%.2f,\"eta\":%.2f",
                 p->stage ? p->stage : "", (long long)p->frames_done, (long long)p->frames_total, p->fps, p->eta);
        um_log_json_event("progress", body);
    }
}

void cli_progress_done(void)
{
    clear_bar();
    um_log_set_interrupt_hook(NULL);
}

int cli_fail(const um_error *err)
{
    cli_progress_done();
    int code = err->status == UM_OK ? UM_ERR_OTHER : (int)err->status;
    if (um_log_is_json()) {
        char body[2200];
        snprintf(body, sizeof(body), "\"status\":%d,\"message\":", code);
        um_json_escape(body, sizeof(body), err->msg);
        um_log_json_event("error", body);
    } else if (um_log_get_level() >= UM_LOG_ERROR) {
        fprintf(stderr, "unmark: error: %s\n", err->msg);
    }
    return code;
}

static volatile int cancel_requested;

static void on_cancel_signal(int sig)
{
    (void)sig;
    cancel_requested = 1;
}

volatile int *cli_cancel_on_signals(void)
{
    signal(SIGINT, on_cancel_signal);
    signal(SIGTERM, on_cancel_signal);
    return &cancel_requested;
}
