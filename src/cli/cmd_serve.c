/* `unmark serve`: the job API and its workers (see unmark help serve). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "unmark/service.h"

enum { OPT_LISTEN = 256, OPT_DATA, OPT_WORKERS, OPT_STORE, OPT_HELP };

static const struct option serve_options[] = {
    {"listen", required_argument, NULL, OPT_LISTEN}, {"data", required_argument, NULL, OPT_DATA},
    {"workers", required_argument, NULL, OPT_WORKERS}, {"store", required_argument, NULL, OPT_STORE},
    {"quiet", no_argument, NULL, 'q'},               {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, OPT_HELP},           {NULL, 0, NULL, 0},
};

#define MAX_WORKERS 64

static int parse_workers(const char *s, int *out, um_error *err)
{
    return cli_parse_int(s, "--workers", 0, MAX_WORKERS, out, err);
}

/* Environment first (UNMARK_LISTEN, UNMARK_DATA, UNMARK_WORKERS, UNMARK_STORE,
 * UNMARK_API_TOKEN, UNMARK_MAX_BODY, UNMARK_MAX_UPLOAD and the storage
 * variables of cli_storage_defaults), flags over it. */
static int serve_defaults(um_service_config *c, um_error *err)
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
    if ((s = getenv("UNMARK_LISTEN")) && *s)
        c->listen = s;
    if ((s = getenv("UNMARK_DATA")) && *s)
        c->data_dir = s;
    if ((s = getenv("UNMARK_STORE")) && *s)
        c->store = s;
    if ((s = getenv("UNMARK_API_TOKEN")) && *s)
        c->api_token = s;
    if ((s = getenv("UNMARK_WORKERS")) && *s && parse_workers(s, &c->workers, err) < 0)
        return -1;
    if ((s = getenv("UNMARK_MAX_BODY")) && *s && cli_parse_size(s, "UNMARK_MAX_BODY", &c->max_body, err) < 0)
        return -1;
    return cli_media_defaults(&c->media, err);
}

int cli_serve(int argc, char **argv)
{
    um_service_config c;
    um_error err = {0};
    int quiet = 0, verbose = 0, opt;
    um_service_config_init(&c);
    if (serve_defaults(&c, &err) < 0)
        return cli_fail(&err);
    optind = 1;
    while ((opt = getopt_long(argc, argv, "qv", serve_options, NULL)) != -1) {
        int bad = 0;
        switch (opt) {
        case OPT_LISTEN: c.listen = optarg; break;
        case OPT_DATA: c.data_dir = optarg; break;
        case OPT_STORE: c.store = optarg; break;
        case OPT_WORKERS: bad = parse_workers(optarg, &c.workers, &err) < 0; break;
        case 'q': quiet = 1; break;
        case 'v': verbose = 1; break;
        case OPT_HELP: return cli_help("serve");
        default:
            um_error_set(&err, UM_ERR_USAGE, "unknown option for serve (see unmark help serve)");
            bad = 1;
        }
        if (bad)
            return cli_fail(&err);
    }
    if (optind < argc) {
        um_error_set(&err, UM_ERR_USAGE, "serve takes no arguments, got \"%s\"", argv[optind]);
        return cli_fail(&err);
    }
    if (quiet)
        um_log_set_level(UM_LOG_ERROR);
    if (verbose)
        um_log_set_level(UM_LOG_DEBUG);
    c.stop = cli_cancel_on_signals();
    return um_service_run(&c, &err) < 0 ? cli_fail(&err) : 0;
}
