/* time.c - clocks, RFC 3339 formatting, durations and absolute times
 * (see berth/util.h). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "berth/util.h"

int64_t berth_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * BERTH_US_PER_SEC + ts.tv_nsec / 1000;
}

int64_t berth_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * BERTH_US_PER_SEC + ts.tv_nsec / 1000;
}

int64_t berth_clock_now(const struct berth_clock *c)
{
    if (c && c->now_us)
        return c->now_us(c->ctx);
    return berth_now_us();
}

char *berth_time_format(int64_t us, char *buf)
{
    time_t secs = (time_t)(us / BERTH_US_PER_SEC);
    int ms = (int)((us % BERTH_US_PER_SEC) / 1000);
    struct tm tm;

    if (us < 0) {
        secs -= 1;
        ms += 1000;
    }
    gmtime_r(&secs, &tm);
    snprintf(buf, BERTH_TIME_STR_MAX, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, ms);
    return buf;
}

int berth_parse_duration(const char *s, int64_t *out_us, struct berth_err *err)
{
    const char *p = s;
    int64_t total = 0;
    bool any = false;

    if (!s || !*s)
        return berth_err_set(err, BERTH_E_INVALID, "empty duration");
    while (*p) {
        int64_t v = 0, mult;
        const char *start = p;
        if (!isdigit((unsigned char)*p))
            goto bad;
        while (isdigit((unsigned char)*p)) {
            if (v > (INT64_MAX - 9) / 10)
                goto bad;
            v = v * 10 + (*p - '0');
            p++;
        }
        (void)start;
        if (*p == '\0') {
            if (any)
                goto bad; /* "1h30" is ambiguous */
            mult = BERTH_US_PER_SEC;
        } else if (strncmp(p, "ms", 2) == 0) {
            mult = 1000;
            p += 2;
        } else if (*p == 's') {
            mult = BERTH_US_PER_SEC;
            p++;
        } else if (*p == 'm') {
            mult = 60 * BERTH_US_PER_SEC;
            p++;
        } else if (*p == 'h') {
            mult = 3600 * BERTH_US_PER_SEC;
            p++;
        } else if (*p == 'd') {
            mult = 86400 * BERTH_US_PER_SEC;
            p++;
        } else {
            goto bad;
        }
        if (v > INT64_MAX / mult || total > INT64_MAX - v * mult)
            goto bad;
        total += v * mult;
        any = true;
    }
    *out_us = total;
    return 0;
bad:
    return berth_err_set(err, BERTH_E_INVALID,
                         "invalid duration '%s' (expected e.g. 90s, 15m, 2h, "
                         "1d, 1h30m, 500ms)",
                         s);
}

static int digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

int berth_parse_time(const char *s, int64_t *out_us, struct berth_err *err)
{
    const char *p = s;
    struct tm tm;
    int y, mo, d, h = 0, mi = 0, sec = 0;
    int64_t frac_us = 0, offset_s = 0;
    time_t t;

    if (!s || !*s)
        return berth_err_set(err, BERTH_E_INVALID, "empty time");
    if (*p == '@') {
        int64_t v;
        if (berth_parse_i64(p + 1, 0, INT64_MAX / BERTH_US_PER_SEC, &v))
            goto bad;
        *out_us = v * BERTH_US_PER_SEC;
        return 0;
    }
    if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' ||
        digits(&p, 2, &d))
        goto bad;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        p++;
        if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi))
            goto bad;
        if (*p == ':') {
            p++;
            if (digits(&p, 2, &sec))
                goto bad;
            if (*p == '.') {
                int64_t scale = 100000;
                p++;
                if (!isdigit((unsigned char)*p))
                    goto bad;
                while (isdigit((unsigned char)*p)) {
                    frac_us += (*p - '0') * scale;
                    scale /= 10;
                    p++;
                }
            }
        }
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int sign = *p == '-' ? -1 : 1, oh, om;
            p++;
            if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om))
                goto bad;
            if (oh > 23 || om > 59)
                goto bad;
            offset_s = sign * (oh * 3600 + om * 60);
        }
    }
    if (*p)
        goto bad;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        goto bad;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    t = timegm(&tm);
    if (t == (time_t)-1)
        goto bad;
    *out_us = ((int64_t)t - offset_s) * BERTH_US_PER_SEC + frac_us;
    return 0;
bad:
    return berth_err_set(err, BERTH_E_INVALID,
                         "invalid time '%s' (expected RFC 3339 like "
                         "2026-11-27T15:00:00Z, 'YYYY-MM-DD HH:MM' in UTC, or "
                         "@UNIXSECONDS)",
                         s);
}
