/*
 * srcmap.c - from a byte of a scalar's value back to its line and column in
 * the file, so that a rule error inside a quoted condition points at the
 * right character (see config_int.h).
 *
 * libyaml marks a scalar's start (at the opening quote for quoted styles)
 * and hands over the decoded value; escapes ('' in single quotes, \t, \x41,
 * \u00e9 in double quotes) and line folding make the two differ. We walk the
 * raw text and the value side by side from the start mark, as the scanner
 * did, until the wanted value byte is reached.
 */
#include <string.h>

#include "config_int.h"

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static size_t utf8_len(unsigned long cp)
{
    return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}

/* A double-quoted escape at s (s[0] == '\\'): its raw length and how many
 * value bytes it decodes to. 0 raw length: not a one-line escape. */
static void escape_len(const char *s, size_t avail, size_t *raw, size_t *dec)
{
    size_t digits = 0;
    unsigned long cp = 0;

    *raw = 0;
    *dec = 0;
    if (avail < 2)
        return;
    switch (s[1]) {
    case 'N':
    case '_':
        *raw = 2;
        *dec = 2;
        return;
    case 'L':
    case 'P':
        *raw = 2;
        *dec = 3;
        return;
    case 'x':
        digits = 2;
        break;
    case 'u':
        digits = 4;
        break;
    case 'U':
        digits = 8;
        break;
    case '\r':
    case '\n':
        return;
    default:
        *raw = 2;
        *dec = 1;
        return;
    }
    if (avail < 2 + digits)
        return;
    for (size_t k = 0; k < digits; k++) {
        int h = hexval(s[2 + k]);
        if (h < 0)
            return;
        cp = cp * 16 + (unsigned long)h;
    }
    *raw = 2 + digits;
    *dec = utf8_len(cp);
}

/* Byte position of character index `index` (libyaml counts characters and
 * skips a leading byte order mark). */
static size_t byte_of_index(const struct cfg_ctx *x, size_t index)
{
    size_t r = 0, chars = 0;
    if (x->src_len >= 3 && memcmp(x->src, "\xEF\xBB\xBF", 3) == 0)
        r = 3;
    for (; r < x->src_len; r++) {
        if (((unsigned char)x->src[r] & 0xC0) == 0x80)
            continue;
        if (chars == index)
            return r;
        chars++;
    }
    return r;
}

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

void berth__config_scalar_pos(const struct cfg_ctx *x, const struct ynode *n,
                              size_t offset, int *line, int *col)
{
    const char *s = x->src, *v = n->text;
    size_t r = byte_of_index(x, n->index), i = 0;
    int l = n->line, c = n->col;

    if (offset > n->len)
        offset = n->len;
    if (r >= x->src_len) {
        *line = l;
        *col = c + (int)offset;
        return;
    }
    if (n->style == YS_SINGLE || n->style == YS_DOUBLE) {
        r++;
        c++;
    } else if (n->style == YS_LITERAL || n->style == YS_FOLDED) {
        /* The header line (`|`, `>-`, maybe a comment) holds no content. */
        while (r < x->src_len && s[r] != '\n')
            r++;
    }
    while (i < offset && r < x->src_len) {
        char ch = s[r];
        if (n->style == YS_DOUBLE && ch == '\\') {
            size_t raw, dec;
            escape_len(s + r, x->src_len - r, &raw, &dec);
            if (raw == 0) { /* an escaped line break: folded away */
                r++;
                c++;
                continue;
            }
            if (offset < i + dec)
                break;
            i += dec;
            r += raw;
            c += (int)raw;
        } else if (n->style == YS_SINGLE && ch == '\'' && r + 1 < x->src_len &&
                   s[r + 1] == '\'') {
            i++;
            r += 2;
            c += 2;
        } else if (ch == v[i]) {
            i++;
            r++;
            if (ch == '\n') {
                l++;
                c = 1;
            } else if (((unsigned char)ch & 0xC0) != 0x80) {
                c++;
            }
        } else if (is_ws(ch)) {
            /* Indentation or a line break the scanner folded away. */
            r++;
            if (ch == '\n' ||
                (ch == '\r' && (r >= x->src_len || s[r] != '\n'))) {
                l++;
                c = 1;
            } else if (ch != '\r') {
                c++;
            }
        } else if (v[i] == ' ' || v[i] == '\n') {
            i++; /* a line break folded into a space */
        } else {
            /* Not what the scanner would have read: keep in step. */
            i++;
            r++;
            if (((unsigned char)ch & 0xC0) != 0x80)
                c++;
        }
    }
    /* Sitting on indentation or an escaped line break: the value byte is
     * the next raw one. (A folded space or newline stays at the break.) */
    while (r < x->src_len && i < n->len && v[i] != ' ' && v[i] != '\n') {
        char ch = s[r];
        if (n->style == YS_DOUBLE && ch == '\\' && r + 1 < x->src_len &&
            (s[r + 1] == '\n' || s[r + 1] == '\r')) {
            r++;
            c++;
            continue;
        }
        if (!is_ws(ch) || ch == v[i])
            break;
        r++;
        if (ch == '\n') {
            l++;
            c = 1;
        } else if (ch != '\r') {
            c++;
        }
    }
    *line = l;
    *col = c;
}
