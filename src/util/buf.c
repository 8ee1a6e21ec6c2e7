/* buf.c - growable byte buffer with an optional cap (see berth/util.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth/util.h"

void berth_buf_init(struct berth_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void berth_buf_release(struct berth_buf *b)
{
    free(b->data);
    berth_buf_init(b, b->max);
}

void berth_buf_reset(struct berth_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

static int buf_grow(struct berth_buf *b, size_t extra)
{
    size_t want, ncap;

    if (extra > SIZE_MAX - b->len - 1)
        return BERTH_E_TOOBIG;
    want = b->len + extra + 1;
    if (b->max && want - 1 > b->max)
        return BERTH_E_TOOBIG;
    if (want <= b->cap)
        return 0;
    ncap = b->cap ? b->cap : 64;
    while (ncap < want)
        ncap = ncap > SIZE_MAX / 2 ? want : ncap * 2;
    b->data = berth_xrealloc(b->data, ncap);
    b->cap = ncap;
    return 0;
}

int berth_buf_append(struct berth_buf *b, const void *data, size_t n)
{
    int rc = buf_grow(b, n);
    if (rc)
        return rc;
    if (n)
        memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int berth_buf_puts(struct berth_buf *b, const char *s)
{
    return berth_buf_append(b, s, strlen(s));
}

int berth_buf_printf(struct berth_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n, rc;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return BERTH_E_INVALID;
    rc = buf_grow(b, (size_t)n);
    if (rc)
        return rc;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

const char *berth_buf_cstr(const struct berth_buf *b)
{
    return b->data ? b->data : "";
}

char *berth_buf_detach(struct berth_buf *b)
{
    char *p = b->data ? b->data : berth_xstrdup("");
    berth_buf_init(b, b->max);
    return p;
}
