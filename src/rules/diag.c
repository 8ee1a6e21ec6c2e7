/*
 * diag.c - compile errors: setting them, and printing them the way
 * compilers do (file:line:col, the rule text, a caret under the fault and
 * a hint). Locations are byte spans until printed; line and column are
 * derived here only (STYLE.md § 7).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "rules/rules_int.h"

int berth__rule_diag(struct berth_rule_diag *d, size_t off, size_t len,
                     const char *fmt, ...)
{
    va_list ap;

    d->offset = off;
    d->len = len;
    va_start(ap, fmt);
    vsnprintf(d->msg, sizeof(d->msg), fmt, ap);
    va_end(ap);
    d->hint[0] = '\0';
    return BERTH_E_PARSE;
}

void berth__rule_hint(struct berth_rule_diag *d, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(d->hint, sizeof(d->hint), fmt, ap);
    va_end(ap);
}

static bool is_cont(char c)
{
    return ((unsigned char)c & 0xc0) == 0x80;
}

/*
 * Both entry points: the position is either derived from where the text
 * starts (line, col, optional col_map) or asked of pos().
 */
static void format(const struct berth_rule_diag *d, const char *text,
                   size_t text_len, const char *file, int line, int col,
                   berth_rule_col_fn col_map, void *map_ctx,
                   berth_rule_pos_fn pos, void *pos_ctx, struct berth_buf *out)
{
    size_t off = d->offset > text_len ? text_len : d->offset;
    size_t ls = 0, le, end;
    int lno = line, c;

    /* The line of the text holding the fault. */
    for (size_t i = 0; i < off; i++) {
        if (text[i] == '\n' ||
            (text[i] == '\r' && (i + 1 >= text_len || text[i + 1] != '\n'))) {
            lno++;
            ls = i + 1;
        }
    }
    le = ls;
    while (le < text_len && text[le] != '\n' && text[le] != '\r')
        le++;

    if (pos) {
        pos(off, &lno, &c, pos_ctx);
    } else if (col_map) {
        c = col_map(off, map_ctx);
    } else {
        c = lno == line ? col : 1;
        for (size_t i = ls; i < off; i++)
            if (!is_cont(text[i]))
                c++;
    }

    berth_buf_printf(out, "%s:%d:%d: error: %s\n", file ? file : "<rule>", lno,
                     c, d->msg);
    berth_buf_puts(out, "    ");
    berth_buf_append(out, text + ls, le - ls);
    berth_buf_puts(out, "\n    ");
    /* Tabs are kept so that the caret lines up however they render. */
    for (size_t i = ls; i < off; i++) {
        if (text[i] == '\t')
            berth_buf_append(out, "\t", 1);
        else if (!is_cont(text[i]))
            berth_buf_append(out, " ", 1);
    }
    berth_buf_append(out, "^", 1);
    end = off + d->len;
    if (end > le)
        end = le;
    if (off < end) {
        /* One '~' per code point of the span after the first. */
        size_t i = off + 1;
        while (i < end && is_cont(text[i]))
            i++;
        for (; i < end; i++)
            if (!is_cont(text[i]))
                berth_buf_append(out, "~", 1);
    }
    berth_buf_puts(out, "\n");
    if (d->hint[0])
        berth_buf_printf(out, "    hint: %s\n", d->hint);
}

void berth_rule_diag_format(const struct berth_rule_diag *d, const char *text,
                            size_t text_len, const char *file, int line,
                            int col, berth_rule_col_fn col_map, void *map_ctx,
                            struct berth_buf *out)
{
    format(d, text, text_len, file, line, col, col_map, map_ctx, NULL, NULL,
           out);
}

void berth_rule_diag_format_pos(const struct berth_rule_diag *d,
                                const char *text, size_t text_len,
                                const char *file, berth_rule_pos_fn pos,
                                void *pos_ctx, struct berth_buf *out)
{
    format(d, text, text_len, file, 1, 1, NULL, NULL, pos, pos_ctx, out);
}
