/* log.c - structured log lines, logfmt or JSON (see berth/log.h). */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "berth/log.h"
#include "berth/util.h"

static enum berth_log_format log_format = BERTH_LOG_LOGFMT;
static enum berth_log_level log_level = BERTH_LOG_INFO;
static berth_log_sink_fn log_sink;
static void *log_sink_ctx;
static pthread_mutex_t log_sink_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void berth_log_set_format(enum berth_log_format f)
{
    log_format = f;
}

void berth_log_set_level(enum berth_log_level l)
{
    log_level = l;
}

enum berth_log_level berth_log_get_level(void)
{
    return log_level;
}

int berth_log_parse_format(const char *s)
{
    if (strcmp(s, "logfmt") == 0)
        return BERTH_LOG_LOGFMT;
    if (strcmp(s, "json") == 0)
        return BERTH_LOG_JSON;
    return -1;
}

void berth_log_set_sink(berth_log_sink_fn fn, void *ctx)
{
    pthread_mutex_lock(&log_sink_lock);
    log_sink = fn;
    log_sink_ctx = ctx;
    pthread_mutex_unlock(&log_sink_lock);
}

/* Appends s quoted for JSON. */
static void put_json_str(struct berth_buf *b, const char *s)
{
    berth_buf_append(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"':
            berth_buf_append(b, "\\\"", 2);
            break;
        case '\\':
            berth_buf_append(b, "\\\\", 2);
            break;
        case '\n':
            berth_buf_append(b, "\\n", 2);
            break;
        case '\r':
            berth_buf_append(b, "\\r", 2);
            break;
        case '\t':
            berth_buf_append(b, "\\t", 2);
            break;
        default:
            if (*p < 0x20)
                berth_buf_printf(b, "\\u%04x", *p);
            else
                berth_buf_append(b, p, 1);
        }
    }
    berth_buf_append(b, "\"", 1);
}

/* logfmt: bare when safe, else quoted with \" \\ \n escapes. */
static void put_logfmt_str(struct berth_buf *b, const char *s)
{
    bool bare = *s != '\0';
    for (const char *p = s; *p && bare; p++)
        if (*p <= ' ' || *p == '"' || *p == '=' || *p == '\\' || *p == 0x7f)
            bare = false;
    if (bare) {
        berth_buf_puts(b, s);
        return;
    }
    put_json_str(b, s);
}

static void put_key(struct berth_buf *b, const char *k, bool first)
{
    if (log_format == BERTH_LOG_JSON) {
        if (!first)
            berth_buf_append(b, ",", 1);
        put_json_str(b, k);
        berth_buf_append(b, ":", 1);
    } else {
        if (!first)
            berth_buf_append(b, " ", 1);
        berth_buf_puts(b, k);
        berth_buf_append(b, "=", 1);
    }
}

static void put_str(struct berth_buf *b, const char *s)
{
    if (log_format == BERTH_LOG_JSON)
        put_json_str(b, s ? s : "");
    else
        put_logfmt_str(b, s ? s : "");
}

void berth__log(enum berth_log_level level, const char *msg,
                const struct berth_log_field *fields)
{
    char ts[BERTH_TIME_STR_MAX];
    struct berth_buf b;
    int lvl = (int)level;

    if (level < log_level)
        return;
    if (lvl < 0 || lvl > 3)
        lvl = 3;
    berth_buf_init(&b, 64 * 1024);
    if (log_format == BERTH_LOG_JSON)
        berth_buf_append(&b, "{", 1);
    put_key(&b, "ts", true);
    put_str(&b, berth_time_format(berth_now_us(), ts));
    put_key(&b, "level", false);
    put_str(&b, level_names[lvl]);
    put_key(&b, "msg", false);
    put_str(&b, msg);
    for (const struct berth_log_field *f = fields; f->key; f++) {
        put_key(&b, f->key, false);
        switch (f->type) {
        case BERTH_LOG_STR:
            put_str(&b, f->s);
            break;
        case BERTH_LOG_INT:
            berth_buf_printf(&b, "%lld", (long long)f->i);
            break;
        case BERTH_LOG_DBL:
            if (isfinite(f->d))
                berth_buf_printf(&b, "%.17g", f->d);
            else
                put_str(&b, "NaN");
            break;
        case BERTH_LOG_BOOL:
            berth_buf_puts(&b, f->i ? "true" : "false");
            break;
        case BERTH_LOG_END:
            break;
        }
    }
    if (log_format == BERTH_LOG_JSON)
        berth_buf_append(&b, "}", 1);

    pthread_mutex_lock(&log_sink_lock);
    if (log_sink) {
        log_sink(berth_buf_cstr(&b), log_sink_ctx);
        pthread_mutex_unlock(&log_sink_lock);
    } else {
        pthread_mutex_unlock(&log_sink_lock);
        berth_buf_append(&b, "\n", 1);
        /* One write per line: lines from several threads never mix. */
        const char *p = berth_buf_cstr(&b);
        size_t left = b.len;
        while (left > 0) {
            ssize_t w = write(STDERR_FILENO, p, left);
            if (w <= 0)
                break;
            p += w;
            left -= (size_t)w;
        }
    }
    berth_buf_release(&b);
}
