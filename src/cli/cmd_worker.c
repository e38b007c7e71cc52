/*
 * `unmark worker`: workers without the API, claiming jobs from a store they
 * share with `unmark serve` and with each other (see unmark help worker);
 * and what serve and worker share on the command line: the store, the data
 * folder, the workers and their leases, from the environment and flags.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

#define MAX_WORKERS 64
#define MAX_ATTEMPTS_LIMIT 100
#define LEASE_MIN 1.0
#define LEASE_MAX 86400.0

static int parse_workers(const char *s, const char *flag, int *out, um_error *err)
{
    return cli_parse_int(s, flag, 0, MAX_WORKERS, out, err);
}

static int parse_max_attempts(const char *s, const char *flag, int *out, um_error *err)
{
    return cli_parse_int(s, flag, 1, MAX_ATTEMPTS_LIMIT, out, err);
}

/* A lease: seconds (or [HH:]MM:SS), from a second to a day. */
static int parse_lease(const char *s, const char *flag, double *out, um_error *err)
{
    double v;
    if (cli_parse_time(s, flag, &v, err) < 0)
        return -1;
    if (v < LEASE_MIN || v > LEASE_MAX) {
        um_error_set(err, UM_ERR_USAGE, "bad %s \"%s\": a lease lasts from %g to %g seconds", flag,
                     s, LEASE_MIN, LEASE_MAX);
        return -1;
    }
    *out = v;
    return 0;
}

/* The environment serve and worker share: UNMARK_DATA, UNMARK_WORKERS,
 * UNMARK_STORE, UNMARK_LEASE, UNMARK_MAX_ATTEMPTS, UNMARK_MAX_UPLOAD, the
 * storage variables of cli_storage_defaults and the codec variables. */
static int service_defaults(um_service_config *c, um_error *err)
{
    const char *s;
    cli_storage st;
    if (cli_storage_defaults(&st, err) < 0)
        return -1;
    c->s3 = st.s3;
    c->allow_private_urls = st.allow_private_urls;
    c->result_ttl = st.result_ttl;
    if ((s = getenv("UNMARK_MAX_UPLOAD")) && *s &&
        cli_parse_size(s, "UNMARK_MAX_UPLOAD", &c->max_upload, err) < 0)
        return -1;
    if ((s = getenv("UNMARK_DATA")) && *s)
        c->data_dir = s;
    if ((s = getenv("UNMARK_STORE")) && *s)
        c->store = s;
    if ((s = getenv("UNMARK_WORKERS")) && *s &&
        parse_workers(s, "UNMARK_WORKERS", &c->workers, err) < 0)
        return -1;
    if ((s = getenv("UNMARK_LEASE")) && *s && parse_lease(s, "UNMARK_LEASE", &c->lease, err) < 0)
        return -1;
    if ((s = getenv("UNMARK_MAX_ATTEMPTS")) && *s &&
        parse_max_attempts(s, "UNMARK_MAX_ATTEMPTS", &c->max_attempts, err) < 0)
        return -1;
    return cli_media_defaults(&c->media, err);
}

/* A shared flag: 0 done, 1 not one, -1 error. */
static int service_flag(int opt, const char *arg, um_service_config *c, um_error *err)
{
    switch (opt) {
    case CLI_OPT_DATA: c->data_dir = arg; return 0;
    case CLI_OPT_STORE: c->store = arg; return 0;
    case CLI_OPT_WORKERS: return parse_workers(arg, "--workers", &c->workers, err);
    case CLI_OPT_LEASE: return parse_lease(arg, "--lease", &c->lease, err);
    case CLI_OPT_MAX_ATTEMPTS: return parse_max_attempts(arg, "--max-attempts", &c->max_attempts, err);
    default: return 1;
    }
}

int cli_service_main(const cli_service_command *cmd, int argc, char **argv)
{
    um_service_config c;
    um_error err = {0};
    int quiet = 0, verbose = 0, opt;
    um_service_config_init(&c);
    if (service_defaults(&c, &err) < 0 || (cmd->defaults && cmd->defaults(&c, &err) < 0))
        return cli_fail(&err);
    optind = 1;
    while ((opt = getopt_long(argc, argv, "qv", cmd->options, NULL)) != -1) {
        int ret = cmd->flag ? cmd->flag(opt, optarg, &c, &err) : 1;
        if (ret == 1)
            ret = service_flag(opt, optarg, &c, &err);
        if (ret == 1) {
            ret = 0;
            if (opt == 'q')
                quiet = 1;
            else if (opt == 'v')
                verbose = 1;
            else if (opt == CLI_OPT_HELP)
                return cli_help(cmd->name);
            else {
                um_error_set(&err, UM_ERR_USAGE, "unknown option for %s (see unmark help %s)",
                             cmd->name, cmd->name);
                ret = -1;
            }
        }
        if (ret < 0)
            return cli_fail(&err);
    }
    if (optind < argc) {
        um_error_set(&err, UM_ERR_USAGE, "%s takes no arguments, got \"%s\"", cmd->name,
                     argv[optind]);
        return cli_fail(&err);
    }
    if (quiet)
        um_log_set_level(UM_LOG_ERROR);
    if (verbose)
        um_log_set_level(UM_LOG_DEBUG);
    c.stop = cli_cancel_on_signals();
    return cmd->run(&c, &err) < 0 ? cli_fail(&err) : 0;
}

/* ---- unmark worker -------------------------------------------------------- */

static const struct option worker_options[] = {CLI_SERVICE_LONG_OPTIONS, {NULL, 0, NULL, 0}};

/* A worker process is for a store others share: it needs one named, and
 * at least one thread. */
static int worker_run(const um_service_config *c, um_error *err)
{
    if (c->workers < 1) {
        um_error_set(err, UM_ERR_USAGE, "worker needs --workers 1 or more (0 runs nothing)");
        return -1;
    }
    return um_worker_run(c, err);
}

int cli_worker(int argc, char **argv)
{
    static const cli_service_command cmd = {
        .name = "worker", .options = worker_options, .run = worker_run};
    return cli_service_main(&cmd, argc, argv);
}
