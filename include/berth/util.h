/*
 * berth/util.h - allocation, growable buffers, string lists and maps, time.
 *
 * Nothing here knows about jobs or executors. Small internal allocations use
 * berth_xmalloc() and friends, which abort on exhaustion; input-sized data
 * (HTTP bodies, logs, rule text) goes through struct berth_buf with a cap
 * and fails cleanly with BERTH_E_TOOBIG.
 */
#ifndef BERTH_UTIL_H
#define BERTH_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "berth/err.h"

/* ---- allocation (abort on exhaustion) ---------------------------------- */

void *berth_xmalloc(size_t n);
void *berth_xcalloc(size_t nmemb, size_t size);
void *berth_xrealloc(void *p, size_t n);
/* NULL in, NULL out. */
char *berth_xstrdup(const char *s);
char *berth_xstrndup(const char *s, size_t n);
/* Caller frees. */
char *berth_xasprintf(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* ---- growable byte buffer --------------------------------------------- */

/*
 * Always NUL-terminated once anything was appended (len excludes the NUL).
 * max == 0 means no cap; otherwise appends past max fail with
 * BERTH_E_TOOBIG and leave the buffer as it was.
 */
struct berth_buf {
    char *data;
    size_t len;
    size_t cap;
    size_t max;
};

#define BERTH_BUF_INIT                                                         \
    {                                                                          \
        NULL, 0, 0, 0                                                          \
    }

void berth_buf_init(struct berth_buf *b, size_t max);
void berth_buf_release(struct berth_buf *b);
/* Empties the buffer, keeping its storage. */
void berth_buf_reset(struct berth_buf *b);
int berth_buf_append(struct berth_buf *b, const void *data, size_t n);
int berth_buf_puts(struct berth_buf *b, const char *s);
int berth_buf_printf(struct berth_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* "" when nothing was appended. Borrowed, valid until the next append. */
const char *berth_buf_cstr(const struct berth_buf *b);
/* Hands the NUL-terminated data to the caller (who frees it) and resets. */
char *berth_buf_detach(struct berth_buf *b);

/* ---- string list and string map --------------------------------------- */

/* An owned list of owned strings. */
struct berth_strv {
    char **v;
    size_t n;
    size_t cap;
};

#define BERTH_STRV_INIT                                                        \
    {                                                                          \
        NULL, 0, 0                                                             \
    }

void berth_strv_init(struct berth_strv *sv);
void berth_strv_release(struct berth_strv *sv);
void berth_strv_push(struct berth_strv *sv, const char *s);
void berth_strv_copy(struct berth_strv *dst, const struct berth_strv *src);
bool berth_strv_contains(const struct berth_strv *sv, const char *s);

/*
 * An owned, ordered string -> string map (insertion order kept, later set of
 * the same key replaces the value in place). Small maps: linear lookup.
 */
struct berth_kv {
    char *key;
    char *value;
};

struct berth_map {
    struct berth_kv *kv;
    size_t n;
    size_t cap;
};

#define BERTH_MAP_INIT                                                         \
    {                                                                          \
        NULL, 0, 0                                                             \
    }

void berth_map_init(struct berth_map *m);
void berth_map_release(struct berth_map *m);
void berth_map_set(struct berth_map *m, const char *key, const char *value);
/* Borrowed, NULL when absent. */
const char *berth_map_get(const struct berth_map *m, const char *key);
bool berth_map_del(struct berth_map *m, const char *key);
void berth_map_copy(struct berth_map *dst, const struct berth_map *src);
/* Sets every pair of src into dst (src wins). */
void berth_map_merge(struct berth_map *dst, const struct berth_map *src);

/*
 * JSON text <-> containers, for the store's text columns. The JSON forms are
 * an array of strings and an object of strings. Parsing functions return
 * BERTH_E_PARSE on malformed or mistyped input; NULL or "" text gives empty.
 */
char *berth_strv_to_json(const struct berth_strv *sv); /* caller frees */
int berth_strv_from_json(struct berth_strv *sv, const char *text,
                         struct berth_err *err);
char *berth_map_to_json(const struct berth_map *m); /* caller frees */
int berth_map_from_json(struct berth_map *m, const char *text,
                        struct berth_err *err);

/* ---- parsing helpers --------------------------------------------------- */

/* Whole-string decimal parse with range check; no atoi(). */
int berth_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out);
int berth_parse_double(const char *s, double *out);
/* "K=V" -> key and value (caller frees both). */
int berth_parse_kv(const char *s, char **key, char **value,
                   struct berth_err *err);
/* Decode one UTF-8 character from p (n bytes available) into *cp: its
 * length, or 0 when it is malformed (overlong, a surrogate, past U+10FFFF,
 * cut short). */
size_t berth_utf8_dec(const char *p, size_t n, uint32_t *cp);
/* Is s well-formed UTF-8 (no overlong forms, surrogates or code points
 * past U+10FFFF)? NULL is. What the store keeps as JSON must be. */
bool berth_utf8_valid(const char *s);

/* ---- time -------------------------------------------------------------- */

/* All times in berth are int64 microseconds since the Unix epoch, UTC. */
#define BERTH_US_PER_SEC INT64_C(1000000)

int64_t berth_now_us(void);
/* Monotonic microseconds, for measuring durations. */
int64_t berth_mono_us(void);

/*
 * An injectable clock: the worker, router and retry logic read time through
 * one of these so tests can move time without sleeping. now_us == NULL means
 * the real clock.
 */
struct berth_clock {
    int64_t (*now_us)(void *ctx);
    void *ctx;
    /* Optional: stands in for an idle sleep of `us` microseconds (a fake
     * clock moves its time forward instead). NULL: really wait. */
    void (*sleep_us)(void *ctx, int64_t us);
};

int64_t berth_clock_now(const struct berth_clock *c);

/*
 * Format as RFC 3339 UTC with milliseconds, "2026-11-27T15:49:13.123Z".
 * buf must hold BERTH_TIME_STR_MAX bytes. Returns buf.
 */
#define BERTH_TIME_STR_MAX 32
char *berth_time_format(int64_t us, char *buf);

/*
 * Parse a duration: "90", "90s", "15m", "2h", "1d", "1h30m", "500ms".
 * A bare number is seconds. Result in microseconds, > = 0.
 */
int berth_parse_duration(const char *s, int64_t *out_us, struct berth_err *err);

/*
 * Parse an absolute time: RFC 3339 ("2026-11-27T15:49:13Z", offsets and
 * fractions allowed), "YYYY-MM-DD HH:MM[:SS]" (UTC), or "@<unix seconds>".
 */
int berth_parse_time(const char *s, int64_t *out_us, struct berth_err *err);

/* ---- misc -------------------------------------------------------------- */

/* Levenshtein distance, capped: returns cap+1 as soon as it exceeds cap. */
size_t berth_edit_distance(const char *a, const char *b, size_t cap);

/* Read a whole file (cap in bytes, 0 = no cap). Caller frees *out. */
int berth_read_file(const char *path, size_t cap, char **out, size_t *len,
                    struct berth_err *err);

#endif
