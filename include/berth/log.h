/*
 * berth/log.h - structured logs: one line per event on stderr, logfmt by
 * default, JSON on request (`--log-format json`).
 *
 *     berth_log(BERTH_LOG_INFO, "job routed", BL_I("job", id),
 *               BL_S("executor", name), BL_D("route_us", us));
 *
 * logfmt:  ts=2026-11-27T15:49:13.123Z level=info msg="job routed" job=12 ...
 * json:    {"ts":"...","level":"info","msg":"job routed","job":12,...}
 *
 * Each line is written with one write(2), so lines from several threads or
 * processes sharing stderr never interleave. Safe to call from any thread.
 */
#ifndef BERTH_LOG_H
#define BERTH_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum berth_log_level {
    BERTH_LOG_DEBUG = 0,
    BERTH_LOG_INFO = 1,
    BERTH_LOG_WARN = 2,
    BERTH_LOG_ERROR = 3,
};

enum berth_log_format {
    BERTH_LOG_LOGFMT = 0,
    BERTH_LOG_JSON = 1,
};

enum berth_log_type {
    BERTH_LOG_END = 0,
    BERTH_LOG_STR,
    BERTH_LOG_INT,
    BERTH_LOG_DBL,
    BERTH_LOG_BOOL,
};

struct berth_log_field {
    const char *key;
    enum berth_log_type type;
    const char *s; /* NULL string fields are printed as empty */
    int64_t i;
    double d;
};

#define BL_S(k, v)                                                             \
    {                                                                          \
        (k), BERTH_LOG_STR, (v), 0, 0.0                                        \
    }
#define BL_I(k, v)                                                             \
    {                                                                          \
        (k), BERTH_LOG_INT, NULL, (int64_t)(v), 0.0                            \
    }
#define BL_D(k, v)                                                             \
    {                                                                          \
        (k), BERTH_LOG_DBL, NULL, 0, (double)(v)                               \
    }
#define BL_B(k, v)                                                             \
    {                                                                          \
        (k), BERTH_LOG_BOOL, NULL, (v) ? 1 : 0, 0.0                            \
    }
#define BL_END                                                                 \
    {                                                                          \
        NULL, BERTH_LOG_END, NULL, 0, 0.0                                      \
    }

#define berth_log(level, msg, ...)                                             \
    berth__log((level), (msg),                                                 \
               (const struct berth_log_field[]){__VA_ARGS__, BL_END})
#define berth_log0(level, msg)                                                 \
    berth__log((level), (msg), (const struct berth_log_field[]){BL_END})

void berth__log(enum berth_log_level level, const char *msg,
                const struct berth_log_field *fields);

void berth_log_set_format(enum berth_log_format f);
void berth_log_set_level(enum berth_log_level l);
enum berth_log_level berth_log_get_level(void);
/* "logfmt" / "json" -> format; -1 when unknown. */
int berth_log_parse_format(const char *s);

/*
 * Test hook: when set, every line (without the trailing newline) goes to
 * sink instead of stderr. NULL restores stderr.
 */
typedef void (*berth_log_sink_fn)(const char *line, void *ctx);
void berth_log_set_sink(berth_log_sink_fn fn, void *ctx);

#endif
