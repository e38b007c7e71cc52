/* Private to the CLI: the commands and their shared helpers. */
#ifndef UNMARK_CLI_H
#define UNMARK_CLI_H

#include "unmark/common.h"
#include "unmark/pipeline.h"

int cli_remove(int argc, char **argv);
int cli_probe(int argc, char **argv);
/* Prints a command's help (NULL: the overview) on stdout; 0, or 2 if unknown. */
int cli_help(const char *command);

/* Loads ./.env (or $UNMARK_ENV_FILE) into the environment without
 * overriding variables already set; then applies UNMARK_LOG_LEVEL. */
void cli_load_config(void);
/* Reads the environment's defaults for the media options. 0 or -1 (err). */
int cli_media_defaults(um_media_options *o, um_error *err);
int cli_parse_hwdec(const char *s, um_hwdec *out, um_error *err);
int cli_parse_encoder(const char *s, um_encoder *out, um_error *err);
int cli_parse_crf(const char *s, int *out, um_error *err);
int cli_parse_log_level(const char *s, um_log_level *out);

/* Progress on stderr: a bar on a terminal, JSON lines with --json, nothing
 * with -q or when stderr is not a terminal. */
void cli_progress_init(int json, int quiet);
void cli_progress_update(void *opaque, const um_progress *p);
void cli_progress_done(void);

/* Reports a failure: a log line (or JSON error event) that names the cause;
 * returns the exit code. */
int cli_fail(const um_error *err);

#endif
