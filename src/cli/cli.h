/* Private to the CLI: the commands and their shared helpers. */
#ifndef UNMARK_CLI_H
#define UNMARK_CLI_H

#include <getopt.h>
#include <stdint.h>

#include "unmark/common.h"
#include "unmark/pipeline.h"
#include "unmark/service.h"
#include "unmark/storage.h"

int cli_remove(int argc, char **argv);
int cli_probe(int argc, char **argv);
int cli_detect(int argc, char **argv);
int cli_serve(int argc, char **argv);
int cli_worker(int argc, char **argv);
int cli_runpod(int argc, char **argv);
/* Prints a command's help (NULL: the overview) on stdout; 0, or 2 if unknown. */
int cli_help(const char *command);

/* Loads ./.env (or $UNMARK_ENV_FILE) into the environment without
 * overriding variables already set; then applies UNMARK_LOG_LEVEL. */
void cli_load_config(void);
/* Starts the program again with glibc's transparent huge pages on, one
 * malloc arena, malloc's blocks zeroed and blocks under 32 MiB taken from
 * the heap, unless UNMARK_HUGE_PAGES says no or GLIBC_TUNABLES already
 * decides all four; returns only when it does not (see huge_pages.c for
 * why). */
void cli_use_huge_pages(char **argv);
/* 1 when glibc was started with transparent huge pages on; with one malloc
 * arena for every thread; with malloc's blocks zeroed; with blocks under
 * 32 MiB taken from the heap and reused. */
int cli_huge_pages_on(void);
int cli_one_malloc_arena(void);
int cli_malloc_zeroes(void);
int cli_malloc_reuses_large_blocks(void);
int cli_malloc_keeps_freed_memory(void);
/* Reads the environment's defaults for the media options. 0 or -1 (err). */
int cli_media_defaults(um_media_options *o, um_error *err);
int cli_parse_hwdec(const char *s, um_hwdec *out, um_error *err);
int cli_parse_encoder(const char *s, um_encoder *out, um_error *err);
/* A whole number from lo to hi; flag names the option in the error. */
int cli_parse_int(const char *s, const char *flag, int lo, int hi, int *out, um_error *err);
int cli_parse_crf(const char *s, int *out, um_error *err);
/* Seconds ("12.5") or [HH:]MM:SS[.frac]; errors name flag. */
int cli_parse_time(const char *s, const char *flag, double *out, um_error *err);
/* --detect auto|none (and UNMARK_DETECT): 1 or 0. */
int cli_parse_detect_mode(const char *s, int *detect, um_error *err);
int cli_parse_log_level(const char *s, um_log_level *out);
/* "512M", "2G", "1048576": bytes. flag names the option in the error. */
int cli_parse_size(const char *s, const char *flag, int64_t *out, um_error *err);
/* "10" or "10%": a fraction (0.10). */
int cli_parse_percent(const char *s, const char *flag, double *out, um_error *err);

/* "true"/"false", "1"/"0", "yes"/"no", "on"/"off"; name names it in the error. */
int cli_parse_bool(const char *s, const char *name, int *out, um_error *err);
/* Where sources come from and results go, from the environment:
 * UNMARK_S3_ENDPOINT (or AWS_ENDPOINT_URL), UNMARK_S3_REGION (or AWS_REGION,
 * AWS_DEFAULT_REGION), AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
 * AWS_SESSION_TOKEN, UNMARK_S3_BUCKET, UNMARK_S3_PATH_STYLE,
 * UNMARK_S3_VERIFY_TLS, UNMARK_ALLOW_PRIVATE_URLS, UNMARK_RESULT_TTL. The
 * strings point into the environment. */
typedef struct {
    um_storage_s3 s3;
    int allow_private_urls;
    int result_ttl;               /* seconds a presigned result URL works */
} cli_storage;
int cli_storage_defaults(cli_storage *st, um_error *err);

/* Detection flags shared by detect and remove. */
enum { CLI_OPT_SCALES = 400, CLI_OPT_NO_MULTISCALE, CLI_OPT_MAX_AREA, CLI_OPT_MEMORY_LIMIT };
#define CLI_DETECT_LONG_OPTIONS                                                                    \
    {"scales", required_argument, NULL, CLI_OPT_SCALES},                                           \
        {"no-multiscale", no_argument, NULL, CLI_OPT_NO_MULTISCALE},                               \
        {"max-area", required_argument, NULL, CLI_OPT_MAX_AREA},                                   \
        {"memory-limit", required_argument, NULL, CLI_OPT_MEMORY_LIMIT}
/* Applies a detection flag: 0 done, 1 not a detection flag, -1 error. */
int cli_parse_detect_option(int opt, const char *arg, um_detect_options *o, um_error *err);

/* What serve and worker share (cmd_worker.c): the flags --data, --workers,
 * --store, --lease, --max-attempts, -q, -v and --help, and their
 * environment variables. */
enum { CLI_OPT_DATA = 420, CLI_OPT_WORKERS, CLI_OPT_STORE, CLI_OPT_LEASE, CLI_OPT_MAX_ATTEMPTS,
       CLI_OPT_HELP };
#define CLI_SERVICE_LONG_OPTIONS                                                                   \
    {"data", required_argument, NULL, CLI_OPT_DATA},                                               \
        {"workers", required_argument, NULL, CLI_OPT_WORKERS},                                     \
        {"store", required_argument, NULL, CLI_OPT_STORE},                                         \
        {"lease", required_argument, NULL, CLI_OPT_LEASE},                                         \
        {"max-attempts", required_argument, NULL, CLI_OPT_MAX_ATTEMPTS},                           \
        {"quiet", no_argument, NULL, 'q'}, {"verbose", no_argument, NULL, 'v'},                    \
        {"help", no_argument, NULL, CLI_OPT_HELP}
/* A command's own part: its environment (after the shared variables, before
 * the flags), and its own flags (0 done, 1 not one of its flags, -1 error). */
typedef struct {
    const char *name;
    const struct option *options;
    int (*defaults)(um_service_config *c, um_error *err);
    int (*flag)(int opt, const char *arg, um_service_config *c, um_error *err);
    int (*run)(const um_service_config *c, um_error *err);
} cli_service_command;
/* Runs serve or worker: configuration, flags, then cmd->run until a signal;
 * the exit code. */
int cli_service_main(const cli_service_command *cmd, int argc, char **argv);

/* Templates from a detect --save-template folder. */
#define CLI_MAX_TEMPLATES 4
typedef struct {
    um_detect_template items[CLI_MAX_TEMPLATES];   /* what detection looks for */
    um_matte_template mattes[CLI_MAX_TEMPLATES];   /* the same marks' mattes, to un-blend */
    uint8_t *pixels[CLI_MAX_TEMPLATES];
    int count;
} cli_templates;
int cli_load_templates(const char *dir, cli_templates *t, um_error *err);
void cli_free_templates(cli_templates *t);

/* Progress on stderr: a bar on a terminal, JSON lines with --json, nothing
 * with -q or when stderr is not a terminal. */
void cli_progress_init(int json, int quiet);
void cli_progress_update(void *opaque, const um_progress *p);
void cli_progress_done(void);

/* Ctrl-C and SIGTERM set the returned flag, which a job polls to stop and
 * leave nothing behind. */
volatile int *cli_cancel_on_signals(void);

/* Reports a failure: a log line (or JSON error event) that names the cause;
 * returns the exit code. */
int cli_fail(const um_error *err);

#endif
