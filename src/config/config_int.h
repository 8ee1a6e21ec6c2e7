/*
 * config_int.h - private to the config layer: the YAML node tree the loader
 * checks against the schema, and the diagnostics collector.
 *
 * Loading is two passes. yaml.c turns libyaml's events into a small tree of
 * nodes that remember where they start (line, column and character index),
 * refusing what berth does not accept in any section (aliases, anchors,
 * unknown tags, duplicate or non-scalar mapping keys, several documents).
 * schema.c then walks the tree section by section, filling struct
 * berth_config and reporting every problem through berth__config_error(),
 * which keeps going so that one run shows them all.
 *
 * Everything here is owned by the load: nodes are freed with the tree, the
 * diagnostics with the context.
 */
#ifndef BERTH_CONFIG_INT_H
#define BERTH_CONFIG_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "berth/config.h"

/* Mappings and lists may nest this deep; deeper input is refused. */
#define CFG_MAX_DEPTH 64
/* After this many errors the rest are counted, not kept. */
#define CFG_MAX_ERRORS 100
/* The engine a docker executor talks to when nothing else is said. */
#define BERTH_DOCKER_DEFAULT_URL "unix:///var/run/docker.sock"
/* Config files larger than this are refused. */
#define CFG_MAX_FILE_BYTES (4u * 1024u * 1024u)

enum ynode_kind {
    YN_SCALAR = 1,
    YN_SEQ = 2,
    YN_MAP = 3,
    /* Stands in for a refused node (an alias): already reported, so the
     * schema walk skips it without a second message. */
    YN_BAD = 4,
};

/* libyaml's scalar styles, copied so that users of this header need not
 * include yaml.h. */
enum ynode_style {
    YS_PLAIN = 1,
    YS_SINGLE = 2,
    YS_DOUBLE = 3,
    YS_LITERAL = 4,
    YS_FOLDED = 5,
};

struct ynode {
    enum ynode_kind kind;
    int line, col;          /* 1-based, where the node starts */
    size_t index;           /* character index of the start (libyaml's mark) */
    enum ynode_style style; /* scalars */
    /* An untagged plain scalar: its type (number, bool, null, string) is
     * decided by the schema slot it fills. Quoted scalars and `!!str` ones
     * are always strings. */
    bool plain;
    /* A mapping key that repeats an earlier key of its mapping (reported
     * while parsing): sections skip its entry and keep the first. */
    bool dup;
    char *text; /* scalars: the value, NUL-terminated (no NUL inside) */
    size_t len;
    /* Lists: the items. Mappings: key, value, key, value, ... (keys are
     * scalars, unique by text). */
    struct ynode **kids;
    size_t n, cap;
};

struct cfg_diag {
    int line, col; /* sort key: diagnostics print in file order */
    size_t seq;    /* ties keep the order they were found in */
    char *text;    /* "file:line:col: error: ...", maybe several lines */
};

struct cfg_ctx {
    const char *file; /* name used in messages */
    const char *src;  /* the whole text, for mapping scalar columns */
    size_t src_len;
    struct cfg_diag *diags;
    size_t n_diags, cap_diags;
    size_t n_dropped;         /* errors past CFG_MAX_ERRORS */
    struct berth_config *cfg; /* being filled */
};

/* ---- yaml.c ------------------------------------------------------------ */

/*
 * Parse ctx->src into a tree. Returns 0 with *root set (NULL for an empty
 * stream), or -1 after reporting the problem (a syntax error stops the
 * parse). Refused-but-harmless constructs (anchors, duplicate keys) are
 * reported and the parse goes on: the return is 0 and the caller sees
 * errors in ctx. Free with berth__config_ynode_free().
 */
int berth__config_yaml_parse(struct cfg_ctx *x, struct ynode **root);
void berth__config_ynode_free(struct ynode *n); /* NULL is a no-op */

/* Mapping lookup by key text: the value node, or NULL. */
const struct ynode *berth__config_map_get(const struct ynode *map,
                                          const char *key);

/* ---- report.c ---------------------------------------------------------- */

/* Report "file:line:col: error: <fmt>" at the node's start. */
void berth__config_error(struct cfg_ctx *x, const struct ynode *n,
                         const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Same at an explicit 1-based place. */
void berth__config_error_at(struct cfg_ctx *x, int line, int col,
                            const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Add preformatted text (takes ownership of text), sorted under line:col. */
void berth__config_error_raw(struct cfg_ctx *x, int line, int col, char *text);
/* Number of errors reported so far (kept and dropped). */
size_t berth__config_error_count(const struct cfg_ctx *x);
/*
 * Sort the diagnostics into file order, append them to report (may be NULL)
 * and set err from the first one with BERTH_E_CONFIG. Returns
 * BERTH_E_CONFIG, or 0 when there were none.
 */
int berth__config_errors_flush(struct cfg_ctx *x, struct berth_buf *report,
                               struct berth_err *err);
void berth__config_ctx_release(struct cfg_ctx *x);

/* "did you mean" help: the closest of the NULL-terminated candidates to
 * word, or NULL when none is close enough to be a likely typo. */
const char *berth__config_suggest(const char *word, const char *const *cand);

/* ---- srcmap.c ---------------------------------------------------------- */

/*
 * Where byte `offset` of a scalar's value sits in the file: 1-based line and
 * column (in characters). Exact for plain, single-quoted and double-quoted
 * scalars on one line; for multi-line and block scalars it follows line
 * folding and indentation as well as it can (best effort).
 */
void berth__config_scalar_pos(const struct cfg_ctx *x, const struct ynode *n,
                              size_t offset, int *line, int *col);

/* ---- schema.c ---------------------------------------------------------- */

/* Check the tree (root may be NULL: an empty file) and fill x->cfg. */
void berth__config_check(struct cfg_ctx *x, const struct ynode *root);

/* ---- digest.c ---------------------------------------------------------- */

/* Compute c->fingerprint from the hosts and templates. */
void berth__config_fingerprint(struct berth_config *c);

#endif
