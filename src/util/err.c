/* err.c - return codes and the error struct (see berth/err.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth/err.h"

void berth_err_init(struct berth_err *err)
{
    if (!err)
        return;
    err->rc = 0;
    err->transient = false;
    err->msg[0] = '\0';
}

static int err_vset(struct berth_err *err, int rc, bool transient,
                    const char *fmt, va_list ap)
{
    if (!err)
        return rc;
    err->rc = rc;
    err->transient = transient;
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    return rc;
}

int berth_err_set(struct berth_err *err, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_vset(err, rc, false, fmt, ap);
    va_end(ap);
    return rc;
}

int berth_err_set_transient(struct berth_err *err, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_vset(err, rc, true, fmt, ap);
    va_end(ap);
    return rc;
}

int berth_err_prefix(struct berth_err *err, const char *fmt, ...)
{
    char pre[BERTH_ERR_MSG_MAX];
    char old[BERTH_ERR_MSG_MAX];
    va_list ap;

    if (!err)
        return BERTH_E_INVALID;
    if (err->rc == 0)
        err->rc = BERTH_E_INVALID;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof(pre), fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof(old));
    {
        /* Truncation is fine: the start of the message matters most. */
        size_t plen = strlen(pre);
        if (plen > sizeof(err->msg) - 3)
            plen = sizeof(err->msg) - 3;
        memcpy(err->msg, pre, plen);
        memcpy(err->msg + plen, ": ", 2);
        size_t room = sizeof(err->msg) - plen - 3;
        size_t olen = strnlen(old, room);
        memcpy(err->msg + plen + 2, old, olen);
        err->msg[plen + 2 + olen] = '\0';
    }
    return err->rc;
}

const char *berth_rc_str(int rc)
{
    switch (rc) {
#define BERTH_RC_CASE(name, val, text)                                         \
    case val:                                                                  \
        return text;
        BERTH_RC_MAP(BERTH_RC_CASE)
#undef BERTH_RC_CASE
    default:
        return "unknown error";
    }
}

void berth__bug(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "berth: BUG at %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}
