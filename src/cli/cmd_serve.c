/* `unmark serve`: the job API and its workers (see unmark help serve). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "unmark/service.h"

enum { OPT_LISTEN = 256 };

static const struct option serve_options[] = {
    {"listen", required_argument, NULL, OPT_LISTEN}, CLI_SERVICE_LONG_OPTIONS, {NULL, 0, NULL, 0},
};

/* serve's own environment: UNMARK_LISTEN, UNMARK_API_TOKEN and
 * UNMARK_MAX_BODY (the rest is cli_service_main's). */
static int serve_defaults(um_service_config *c, um_error *err)
{
    const char *s;
    if ((s = getenv("UNMARK_LISTEN")) && *s)
        c->listen = s;
    if ((s = getenv("UNMARK_API_TOKEN")) && *s)
        c->api_token = s;
    if ((s = getenv("UNMARK_MAX_BODY")) && *s && cli_parse_size(s, "UNMARK_MAX_BODY", &c->max_body, err) < 0)
        return -1;
    return 0;
}

static int serve_flag(int opt, const char *arg, um_service_config *c, um_error *err)
{
    (void)err;
    if (opt != OPT_LISTEN)
        return 1;
    c->listen = arg;
    return 0;
}

int cli_serve(int argc, char **argv)
{
    static const cli_service_command cmd = {.name = "serve",
                                            .options = serve_options,
                                            .defaults = serve_defaults,
                                            .flag = serve_flag,
                                            .run = um_service_run};
    return cli_service_main(&cmd, argc, argv);
}
