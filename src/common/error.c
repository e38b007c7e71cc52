/* Error records: the first failure recorded wins, so cleanup code that fails
 * after the real cause cannot hide it. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <libavutil/error.h>

#include "unmark/common.h"

static void error_vset(um_error *err, um_status status, const char *fmt, va_list ap)
{
    if (!err || err->status != UM_OK)
        return;
    err->status = status;
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
}

void um_error_set(um_error *err, um_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    error_vset(err, status, fmt, ap);
    va_end(ap);
}

void um_error_av(um_error *err, um_status status, int averr, const char *fmt, ...)
{
    if (!err || err->status != UM_OK)
        return;
    va_list ap;
    va_start(ap, fmt);
    error_vset(err, status, fmt, ap);
    va_end(ap);
    char averr_text[AV_ERROR_MAX_STRING_SIZE];
    av_strerror(averr, averr_text, sizeof(averr_text));
    size_t len = strlen(err->msg);
    snprintf(err->msg + len, sizeof(err->msg) - len, ": %s", averr_text);
}

void um_error_clear(um_error *err)
{
    err->status = UM_OK;
    err->msg[0] = '\0';
}
