/*
 * berth/rules.h - the rule language (DESIGN.md § The rule language).
 *
 * A condition is a Python-expression subset. berth_rule_compile() lexes,
 * parses, checks it statically against the job context schema and compiles
 * it to a flat program; the compiled rule owns all its memory (one arena).
 * Evaluation borrows the context, allocates nothing, cannot loop and has a
 * bounded cost.
 *
 * Threads: a compiled rule is immutable; any number of threads may evaluate
 * it at once.
 */
#ifndef BERTH_RULES_H
#define BERTH_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "berth/err.h"
#include "berth/util.h"

struct berth_rule;

/* Limits, reported as ordinary compile errors when exceeded. */
#define BERTH_RULE_MAX_DEPTH 64
#define BERTH_RULE_MAX_LEN   4096

/*
 * A compile error: where in the rule text (byte offset and length of the
 * faulty span), what, and an optional hint ("did you mean 'memory_mb'?").
 */
struct berth_rule_diag {
    size_t offset;
    size_t len;
    char msg[256];
    char hint[160]; /* "" when none */
};

/*
 * Compile `text` (len bytes, need not be NUL-terminated). On failure returns
 * BERTH_E_PARSE and fills *diag (if not NULL); err gets a one-line message
 * "col N: msg". *out is freed with berth_rule_free().
 */
int berth_rule_compile(const char *text, size_t len, struct berth_rule **out,
                       struct berth_rule_diag *diag, struct berth_err *err);
void berth_rule_free(struct berth_rule *r); /* NULL is a no-op */

/* The source text, NUL-terminated; borrowed from the rule. */
const char *berth_rule_text(const struct berth_rule *r);

/*
 * Format a compile error the way compilers do, appended to out:
 *
 *     berth.yaml:31:18: error: unknown attribute 'memroy' of 'job'
 *         job.memroy > 4096
 *             ^~~~~~
 *         hint: did you mean 'memory_mb'?
 *
 * file may be NULL (then "<rule>"); line/col give where the rule text starts
 * in the file (1-based) and col_map, when not NULL, maps a byte offset of
 * the text to its 1-based column in the file (for quoted YAML scalars whose
 * escapes shift columns); when NULL the column is col + offset.
 */
typedef int (*berth_rule_col_fn)(size_t offset, void *ctx);
void berth_rule_diag_format(const struct berth_rule_diag *d, const char *text,
                            size_t text_len, const char *file, int line,
                            int col, berth_rule_col_fn col_map, void *map_ctx,
                            struct berth_buf *out);

/*
 * The same, for callers that can map any byte offset of the text to its
 * line and column in the file (a YAML block scalar spans lines, and a
 * quoted one shifts columns at escapes): pos(offset) gives both. The caret
 * line is drawn under the line of the text that holds the fault.
 */
typedef void (*berth_rule_pos_fn)(size_t offset, int *line, int *col,
                                  void *ctx);
void berth_rule_diag_format_pos(const struct berth_rule_diag *d,
                                const char *text, size_t text_len,
                                const char *file, berth_rule_pos_fn pos,
                                void *pos_ctx, struct berth_buf *out);

/*
 * The job context a rule sees. Everything is borrowed. NULL strings read as
 * '' (empty); NULL maps/lists read as empty. `has_user` false makes `user`
 * None.
 */
struct berth_rule_ctx {
    /* job */
    int64_t job_id;
    const char *job_name;
    int64_t job_priority;
    const struct berth_map *job_labels;
    const char *job_preferred_executor;
    /* template (always an object; fields default when there is none) */
    const char *template_name;
    const char *template_image;
    const struct berth_map *template_labels;
    int64_t template_memory_limit;
    double template_cpu_limit;
    int64_t template_timeout_seconds;
    /* user */
    bool has_user;
    const char *user_name;
    const struct berth_strv *user_groups;
    /* effective values */
    int64_t memory_mb;
    double cpu_cores;
    int64_t timeout_seconds;
    const struct berth_map *labels; /* template labels merged with job's */
    int64_t hour;                   /* 0..23 UTC */
    int64_t weekday;                /* 0 = Monday */
};

/*
 * Evaluate for routing: returns 1 when the condition is truthy, 0 when not,
 * and BERTH_E_RUNTIME on a runtime error (e.g. `None > 5`, a missing label
 * key) with the message in err; the caller treats that as "no match".
 */
int berth_rule_match(const struct berth_rule *r,
                     const struct berth_rule_ctx *ctx, struct berth_err *err);

/*
 * Evaluate and append the value as Python's repr() would print it: True, 3,
 * 2.5, 'abc', None, ['a', 'b']. Returns 0, or BERTH_E_RUNTIME with the error
 * in err.
 */
int berth_rule_eval_repr(const struct berth_rule *r,
                         const struct berth_rule_ctx *ctx,
                         struct berth_buf *out, struct berth_err *err);

/*
 * A context read from JSON (`berth rules eval --context JSON`): an object
 * keyed by the context's names. It owns the storage *ctx points into.
 * Unknown keys and wrong types are errors. Free with
 * berth_rule_ctx_json_free().
 */
struct berth_rule_ctx_json;
int berth_rule_ctx_from_json(const char *json, struct berth_rule_ctx_json **out,
                             const struct berth_rule_ctx **ctx,
                             struct berth_err *err);
void berth_rule_ctx_json_free(struct berth_rule_ctx_json *c);

#endif
