/*
 * berth/err.h - return codes and the error struct every fallible call takes.
 *
 * A fallible function returns int: 0 (BERTH_OK) on success or a negative
 * enum berth_rc, and takes `struct berth_err *err` as its last argument. The
 * first message set is the root cause and is kept; outer layers may prefix
 * context with berth_err_prefix(), never replace it. `err` may be NULL when
 * the caller does not want the message.
 *
 * `transient` carries DESIGN.md's retry class: true for errors worth another
 * try (network, 5xx, 429, engine busy), false for permanent ones (no such
 * image, invalid spec, other 4xx).
 */
#ifndef BERTH_ERR_H
#define BERTH_ERR_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Codes are API: never renumber, leave holes. Name, value, short text.
 */
#define BERTH_RC_MAP(X)                                                        \
    X(OK, 0, "success")                                                        \
    X(E_NOMEM, -1, "out of memory")                                            \
    X(E_INVALID, -2, "invalid argument")                                       \
    X(E_NOTFOUND, -3, "not found")                                             \
    X(E_EXISTS, -4, "already exists")                                          \
    X(E_IO, -5, "input/output error")                                          \
    X(E_STORE, -6, "store error")                                              \
    X(E_CONFIG, -7, "configuration error")                                     \
    X(E_PARSE, -8, "parse error")                                              \
    X(E_STATE, -9, "illegal state transition")                                 \
    X(E_UNSUPPORTED, -10, "not supported")                                     \
    X(E_BACKEND, -11, "backend error")                                         \
    X(E_TIMEOUT, -12, "timed out")                                             \
    X(E_BUSY, -13, "busy")                                                     \
    X(E_AUTH, -14, "authentication failed")                                    \
    X(E_CAPACITY, -15, "no capacity")                                          \
    X(E_NET, -16, "network error")                                             \
    X(E_TOOBIG, -17, "too big")                                                \
    X(E_CONFLICT, -18, "conflict")                                             \
    X(E_RUNTIME, -19, "runtime error")

enum berth_rc {
#define BERTH_RC_ENUM(name, val, text) BERTH_##name = val,
    BERTH_RC_MAP(BERTH_RC_ENUM)
#undef BERTH_RC_ENUM
};

#define BERTH_ERR_MSG_MAX 512

struct berth_err {
    int rc;         /* an enum berth_rc, 0 when no error was set */
    bool transient; /* worth retrying (network, 5xx, 429, busy) */
    char msg[BERTH_ERR_MSG_MAX];
};

/* Reset to "no error". */
void berth_err_init(struct berth_err *err);

/*
 * Set the error (printf-style message: lowercase, no final period, problem
 * first) and return rc, so that `return berth_err_set(err, ...)` reads well.
 * transient is set to false; see berth_err_set_transient().
 */
int berth_err_set(struct berth_err *err, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Same as berth_err_set() but marks the error as worth retrying. */
int berth_err_set_transient(struct berth_err *err, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Prefix context to an existing message: "ctx: <old msg>". Keeps rc and
 * transient. Returns err->rc (or BERTH_E_INVALID if none was set).
 */
int berth_err_prefix(struct berth_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Short static text for a code ("not found"). Never NULL. */
const char *berth_rc_str(int rc);

/* Programming errors abort with file:line (git's BUG()). */
#define BERTH_BUG(...) berth__bug(__FILE__, __LINE__, __VA_ARGS__)
_Noreturn void berth__bug(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
