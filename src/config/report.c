/*
 * report.c - collecting config errors and printing them in file order
 * (see config_int.h).
 *
 * Sections are checked in dependency order (executors before the hosts and
 * rules that name them), not in file order, so errors are kept with their
 * place and sorted before they are printed.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_int.h"

void berth__config_error_raw(struct cfg_ctx *x, int line, int col, char *text)
{
    struct cfg_diag *d;
    if (x->n_diags >= CFG_MAX_ERRORS) {
        x->n_dropped++;
        free(text);
        return;
    }
    if (x->n_diags == x->cap_diags) {
        x->cap_diags = x->cap_diags ? x->cap_diags * 2 : 16;
        x->diags = berth_xrealloc(x->diags, x->cap_diags * sizeof(*x->diags));
    }
    d = &x->diags[x->n_diags];
    d->line = line;
    d->col = col;
    d->seq = x->n_diags;
    d->text = text;
    x->n_diags++;
}

static void error_v(struct cfg_ctx *x, int line, int col, const char *fmt,
                    va_list ap)
{
    struct berth_buf b = BERTH_BUF_INIT;
    char msg[1024];

    vsnprintf(msg, sizeof(msg), fmt, ap);
    berth_buf_printf(&b, "%s:%d:%d: error: %s", x->file, line, col, msg);
    berth__config_error_raw(x, line, col, berth_buf_detach(&b));
}

void berth__config_error(struct cfg_ctx *x, const struct ynode *n,
                         const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    error_v(x, n ? n->line : 1, n ? n->col : 1, fmt, ap);
    va_end(ap);
}

void berth__config_error_at(struct cfg_ctx *x, int line, int col,
                            const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    error_v(x, line, col, fmt, ap);
    va_end(ap);
}

size_t berth__config_error_count(const struct cfg_ctx *x)
{
    return x->n_diags + x->n_dropped;
}

static int cmp_diag(const void *a, const void *b)
{
    const struct cfg_diag *da = a, *db = b;
    if (da->line != db->line)
        return da->line < db->line ? -1 : 1;
    if (da->col != db->col)
        return da->col < db->col ? -1 : 1;
    return da->seq < db->seq ? -1 : da->seq > db->seq;
}

int berth__config_errors_flush(struct cfg_ctx *x, struct berth_buf *report,
                               struct berth_err *err)
{
    const char *first, *nl;

    if (x->n_diags == 0)
        return 0;
    qsort(x->diags, x->n_diags, sizeof(*x->diags), cmp_diag);
    for (size_t i = 0; report && i < x->n_diags; i++) {
        berth_buf_puts(report, x->diags[i].text);
        berth_buf_puts(report, "\n");
    }
    if (report && x->n_dropped)
        berth_buf_printf(report, "%s: error: %zu more errors not shown\n",
                         x->file, x->n_dropped);
    first = x->diags[0].text;
    nl = strchr(first, '\n');
    berth_err_set(err, BERTH_E_CONFIG, "%.*s",
                  (int)(nl ? (size_t)(nl - first) : strlen(first)), first);
    return BERTH_E_CONFIG;
}

void berth__config_ctx_release(struct cfg_ctx *x)
{
    for (size_t i = 0; i < x->n_diags; i++)
        free(x->diags[i].text);
    free(x->diags);
    x->diags = NULL;
    x->n_diags = x->cap_diags = x->n_dropped = 0;
}

const char *berth__config_suggest(const char *word, const char *const *cand)
{
    const char *best = NULL;
    size_t best_d, cap, wl = strlen(word);

    /* Short words tolerate one slip, longer ones a slip per four letters. */
    cap = wl <= 4 ? 1 : wl / 4 + 1;
    if (cap > 3)
        cap = 3;
    best_d = cap + 1;
    for (size_t i = 0; cand[i]; i++) {
        size_t d;
        if (strcasecmp(word, cand[i]) == 0)
            return cand[i];
        d = berth_edit_distance(word, cand[i], cap);
        if (d < best_d) {
            best_d = d;
            best = cand[i];
        }
    }
    return best;
}
