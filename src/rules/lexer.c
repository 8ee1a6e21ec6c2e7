/*
 * lexer.c - rule text to tokens, following Python's tokenizer where a rule
 * can see it: numbers with underscores and 0x/0o/0b prefixes, '...' and
 * "..." strings (also triple-quoted, r/u prefixes, escapes, adjacent
 * literals), comments, and newlines that only count outside brackets.
 * Python syntax berth does not support still gets its own token so that the
 * parser can say so instead of "invalid syntax".
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rules/rules_int.h"

static const char *const tok_names[] = {
#define RULE_TOK_NAME(name, text) text,
    RULE_TOKENS(RULE_TOK_NAME)
#undef RULE_TOK_NAME
};

const char *berth__rule_tok_name(enum tok_kind k)
{
    return tok_names[k];
}

/* Operators, longest first so that the first prefix match is the longest. */
static const struct {
    const char *text;
    enum tok_kind kind;
} optable[] = {
    {"**=", TOK_BADOP}, {"//=", TOK_BADOP}, {">>=", TOK_BADOP},
    {"<<=", TOK_BADOP}, {"...", TOK_BADOP}, {"**", TOK_BADOP},
    {"//", TOK_DSLASH}, {"==", TOK_EQ},     {"!=", TOK_NE},
    {"<=", TOK_LE},     {">=", TOK_GE},     {"<<", TOK_BADOP},
    {">>", TOK_BADOP},  {":=", TOK_BADOP},  {"->", TOK_BADOP},
    {"+=", TOK_BADOP},  {"-=", TOK_BADOP},  {"*=", TOK_BADOP},
    {"/=", TOK_BADOP},  {"%=", TOK_BADOP},  {"&=", TOK_BADOP},
    {"|=", TOK_BADOP},  {"^=", TOK_BADOP},  {"@=", TOK_BADOP},
    {"&&", TOK_ANDAND}, {"||", TOK_OROR},   {"<>", TOK_BADOP},
    {"(", TOK_LPAREN},  {")", TOK_RPAREN},  {"[", TOK_LBRACK},
    {"]", TOK_RBRACK},  {"{", TOK_LBRACE},  {"}", TOK_RBRACE},
    {",", TOK_COMMA},   {".", TOK_DOT},     {":", TOK_COLON},
    {"+", TOK_PLUS},    {"-", TOK_MINUS},   {"*", TOK_STAR},
    {"/", TOK_SLASH},   {"%", TOK_PERCENT}, {"<", TOK_LT},
    {">", TOK_GT},      {"=", TOK_ASSIGN},  {"&", TOK_BADOP},
    {"|", TOK_BADOP},   {"^", TOK_BADOP},   {"~", TOK_BADOP},
    {"@", TOK_BADOP},   {";", TOK_BADOP},   {"!", TOK_BANG},
};

static const struct {
    const char *word;
    enum tok_kind kind;
} keywords[] = {
    {"and", TOK_AND},
    {"or", TOK_OR},
    {"not", TOK_NOT},
    {"in", TOK_IN},
    {"is", TOK_IS},
    {"True", TOK_TRUE},
    {"False", TOK_FALSE},
    {"None", TOK_NONE},
    {"as", TOK_KEYWORD},
    {"assert", TOK_KEYWORD},
    {"async", TOK_KEYWORD},
    {"await", TOK_KEYWORD},
    {"break", TOK_KEYWORD},
    {"class", TOK_KEYWORD},
    {"continue", TOK_KEYWORD},
    {"def", TOK_KEYWORD},
    {"del", TOK_KEYWORD},
    {"elif", TOK_KEYWORD},
    {"else", TOK_KEYWORD},
    {"except", TOK_KEYWORD},
    {"finally", TOK_KEYWORD},
    {"for", TOK_KEYWORD},
    {"from", TOK_KEYWORD},
    {"global", TOK_KEYWORD},
    {"if", TOK_KEYWORD},
    {"import", TOK_KEYWORD},
    {"lambda", TOK_KEYWORD},
    {"nonlocal", TOK_KEYWORD},
    {"pass", TOK_KEYWORD},
    {"raise", TOK_KEYWORD},
    {"return", TOK_KEYWORD},
    {"try", TOK_KEYWORD},
    {"while", TOK_KEYWORD},
    {"with", TOK_KEYWORD},
    {"yield", TOK_KEYWORD},
};

struct lexer {
    const char *s;
    size_t len, pos;
    int nest; /* open brackets: newlines inside them are whitespace */
    struct tok *toks;
    size_t n, cap;
    struct berth_buf *pool;
    struct berth_rule_diag *diag;
};

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_name_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_name_char(char c)
{
    return is_name_start(c) || is_digit(c);
}

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

static struct tok *push_tok(struct lexer *lx, enum tok_kind kind, size_t off,
                            size_t len)
{
    struct tok *t;
    if (lx->n == lx->cap) {
        lx->cap = lx->cap ? lx->cap * 2 : 32;
        lx->toks = berth_xrealloc(lx->toks, lx->cap * sizeof(*lx->toks));
    }
    t = &lx->toks[lx->n++];
    memset(t, 0, sizeof(*t));
    t->kind = kind;
    t->off = (uint32_t)off;
    t->len = (uint32_t)len;
    return t;
}

/* Code point at off (text is valid UTF-8 by then), for messages. */
static uint32_t cp_at(const struct lexer *lx, size_t off, size_t *n)
{
    uint32_t cp = 0;
    *n = berth_utf8_dec(lx->s + off, lx->len - off, &cp);
    if (*n == 0)
        *n = 1;
    return cp;
}

/*
 * A digit run with Python's underscore rule: single underscores between
 * digits. Appends the digits (no underscores) to out. Returns false on a
 * misplaced underscore, with lx->pos at it.
 */
static bool digit_run(struct lexer *lx, int base, struct berth_buf *out)
{
    for (;;) {
        char c = lx->pos < lx->len ? lx->s[lx->pos] : '\0';
        int v = hexval(c);
        if (v >= 0 && v < base) {
            berth_buf_append(out, &c, 1);
            lx->pos++;
            continue;
        }
        if (c == '_') {
            char d = lx->pos + 1 < lx->len ? lx->s[lx->pos + 1] : '\0';
            int dv = hexval(d);
            if (dv < 0 || dv >= base)
                return false;
            lx->pos++;
            continue;
        }
        return true;
    }
}

static int lex_number(struct lexer *lx)
{
    size_t start = lx->pos;
    struct berth_buf digits = BERTH_BUF_INIT;
    bool is_float = false;
    int base = 10, rc = 0;
    struct tok *t;
    char c;

    c = lx->s[lx->pos];
    if (c == '0' && lx->pos + 1 < lx->len &&
        strchr("xXoObB", lx->s[lx->pos + 1])) {
        char p = lx->s[lx->pos + 1];
        base = (p == 'x' || p == 'X') ? 16 : (p == 'o' || p == 'O') ? 8 : 2;
        lx->pos += 2;
        if (lx->pos < lx->len && lx->s[lx->pos] == '_')
            lx->pos++;
        if (!digit_run(lx, base, &digits) || digits.len == 0) {
            rc = berth__rule_diag(lx->diag, start, lx->pos - start + 1,
                                  "invalid %s literal",
                                  base == 16  ? "hexadecimal"
                                  : base == 8 ? "octal"
                                              : "binary");
            goto out;
        }
    } else {
        if (c != '.' && !digit_run(lx, 10, &digits)) {
            rc = berth__rule_diag(lx->diag, lx->pos, 1,
                                  "invalid decimal literal");
            goto out;
        }
        if (lx->pos < lx->len && lx->s[lx->pos] == '.') {
            is_float = true;
            berth_buf_append(&digits, ".", 1);
            lx->pos++;
            if (lx->pos < lx->len && is_digit(lx->s[lx->pos]) &&
                !digit_run(lx, 10, &digits)) {
                rc = berth__rule_diag(lx->diag, lx->pos, 1,
                                      "invalid decimal literal");
                goto out;
            }
        }
        if (lx->pos < lx->len &&
            (lx->s[lx->pos] == 'e' || lx->s[lx->pos] == 'E')) {
            size_t epos = lx->pos;
            size_t before;
            is_float = true;
            berth_buf_append(&digits, "e", 1);
            lx->pos++;
            if (lx->pos < lx->len &&
                (lx->s[lx->pos] == '+' || lx->s[lx->pos] == '-')) {
                berth_buf_append(&digits, &lx->s[lx->pos], 1);
                lx->pos++;
            }
            before = digits.len;
            if (lx->pos >= lx->len || !is_digit(lx->s[lx->pos]) ||
                !digit_run(lx, 10, &digits) || digits.len == before) {
                rc = berth__rule_diag(lx->diag, epos, 1,
                                      "invalid decimal literal");
                goto out;
            }
        }
    }
    if (lx->pos < lx->len && (lx->s[lx->pos] == 'j' || lx->s[lx->pos] == 'J')) {
        rc = berth__rule_diag(lx->diag, start, lx->pos - start + 1,
                              "complex numbers are not supported");
        goto out;
    }
    if (lx->pos < lx->len && is_name_char(lx->s[lx->pos])) {
        rc = berth__rule_diag(lx->diag, lx->pos, 1, "invalid %s literal",
                              base == 10 ? "decimal" : "number");
        goto out;
    }

    if (is_float) {
        t = push_tok(lx, TOK_FLOAT, start, lx->pos - start);
        /* strtod is correctly rounded, as Python's float literals are, and
         * gives inf for 1e400 as Python does. */
        t->v.f = strtod(berth_buf_cstr(&digits), NULL);
        goto out;
    }
    if (base == 10 && digits.len > 1 && digits.data[0] == '0') {
        for (size_t i = 0; i < digits.len; i++) {
            if (digits.data[i] != '0') {
                rc = berth__rule_diag(
                    lx->diag, start, lx->pos - start,
                    "leading zeros in decimal integer literals are not "
                    "permitted");
                berth__rule_hint(lx->diag, "use an 0o prefix for octal "
                                           "integers");
                goto out;
            }
        }
    }
    {
        uint64_t v = 0;
        for (size_t i = 0; i < digits.len; i++) {
            uint64_t d = (uint64_t)hexval(digits.data[i]);
            if (v > (UINT64_C(9223372036854775807) - d) / (uint64_t)base) {
                rc = berth__rule_diag(lx->diag, start, lx->pos - start,
                                      "integer literal too large");
                berth__rule_hint(lx->diag, "berth integers are 64-bit: "
                                           "-9223372036854775807 to "
                                           "9223372036854775807");
                goto out;
            }
            v = v * (uint64_t)base + d;
        }
        t = push_tok(lx, TOK_INT, start, lx->pos - start);
        t->v.i = (int64_t)v;
    }
out:
    berth_buf_release(&digits);
    return rc;
}

static void pool_put_cp(struct lexer *lx, uint32_t cp)
{
    char u[4];
    size_t n = berth__rule_utf8_enc(cp, u);
    berth_buf_append(lx->pool, u, n);
}

/*
 * One escape sequence after the backslash at lx->pos - 1 (Python's
 * unicode-escape rules). Unknown escapes keep the backslash, as Python
 * does.
 */
static int lex_escape(struct lexer *lx, size_t bs)
{
    char c = lx->s[lx->pos];
    uint32_t cp;
    int ndig;

    switch (c) {
    case '\n':
        lx->pos++;
        return 0;
    case '\r':
        lx->pos++;
        if (lx->pos < lx->len && lx->s[lx->pos] == '\n')
            lx->pos++;
        return 0;
    case '\\':
    case '\'':
    case '"':
        berth_buf_append(lx->pool, &c, 1);
        lx->pos++;
        return 0;
    case 'a':
        pool_put_cp(lx, 7);
        lx->pos++;
        return 0;
    case 'b':
        pool_put_cp(lx, 8);
        lx->pos++;
        return 0;
    case 'f':
        pool_put_cp(lx, 12);
        lx->pos++;
        return 0;
    case 'n':
        pool_put_cp(lx, 10);
        lx->pos++;
        return 0;
    case 'r':
        pool_put_cp(lx, 13);
        lx->pos++;
        return 0;
    case 't':
        pool_put_cp(lx, 9);
        lx->pos++;
        return 0;
    case 'v':
        pool_put_cp(lx, 11);
        lx->pos++;
        return 0;
    case 'N':
        return berth__rule_diag(lx->diag, bs, 2,
                                "\\N{...} escapes are not supported");
    case 'x':
        ndig = 2;
        break;
    case 'u':
        ndig = 4;
        break;
    case 'U':
        ndig = 8;
        break;
    default:
        if (c >= '0' && c <= '7') {
            cp = 0;
            for (int i = 0; i < 3 && lx->pos < lx->len &&
                            lx->s[lx->pos] >= '0' && lx->s[lx->pos] <= '7';
                 i++)
                cp = cp * 8 + (uint32_t)(lx->s[lx->pos++] - '0');
            pool_put_cp(lx, cp);
            return 0;
        }
        /* Not an escape: keep the backslash; the character itself is
         * copied by the caller. */
        berth_buf_append(lx->pool, "\\", 1);
        return 0;
    }
    lx->pos++;
    cp = 0;
    for (int i = 0; i < ndig; i++) {
        int v = lx->pos < lx->len ? hexval(lx->s[lx->pos]) : -1;
        if (v < 0)
            return berth__rule_diag(lx->diag, bs, lx->pos - bs,
                                    "truncated \\%c escape", c);
        cp = cp * 16 + (uint32_t)v;
        lx->pos++;
    }
    if (cp > 0x10ffff)
        return berth__rule_diag(lx->diag, bs, lx->pos - bs,
                                "illegal Unicode character in escape");
    if (cp >= 0xd800 && cp <= 0xdfff)
        return berth__rule_diag(lx->diag, bs, lx->pos - bs,
                                "surrogate code points are not supported");
    pool_put_cp(lx, cp);
    return 0;
}

static int lex_string(struct lexer *lx, size_t start, bool raw)
{
    char q = lx->s[lx->pos];
    bool triple = lx->pos + 2 < lx->len && lx->s[lx->pos + 1] == q &&
                  lx->s[lx->pos + 2] == q;
    size_t pool_start = lx->pool->len;
    struct tok *t;
    int rc;

    lx->pos += triple ? 3 : 1;
    for (;;) {
        char c;
        if (lx->pos >= lx->len)
            goto unterminated;
        c = lx->s[lx->pos];
        if (c == q) {
            if (!triple) {
                lx->pos++;
                break;
            }
            if (lx->pos + 2 < lx->len + 0 && lx->s[lx->pos + 1] == q &&
                lx->s[lx->pos + 2] == q) {
                lx->pos += 3;
                break;
            }
        }
        if ((c == '\n' || c == '\r') && !triple)
            goto unterminated;
        if (c == '\\' && lx->pos + 1 < lx->len) {
            size_t bs = lx->pos++;
            if (raw) {
                /* A raw string keeps the backslash and whatever follows,
                 * which may be the quote. */
                berth_buf_append(lx->pool, "\\", 1);
                c = lx->s[lx->pos];
                if ((c == '\n' || c == '\r') && !triple) {
                    berth_buf_append(lx->pool, &c, 1);
                    lx->pos++;
                    continue;
                }
            } else {
                size_t before = lx->pos;
                rc = lex_escape(lx, bs);
                if (rc)
                    return rc;
                if (lx->pos != before)
                    continue;
            }
        }
        /* Copy one whole UTF-8 character. */
        {
            size_t n;
            cp_at(lx, lx->pos, &n);
            berth_buf_append(lx->pool, lx->s + lx->pos, n);
            lx->pos += n;
        }
    }
    if (lx->pool->len - pool_start > UINT32_MAX)
        return berth__rule_diag(lx->diag, start, lx->pos - start,
                                "string literal too long");
    t = push_tok(lx, TOK_STR, start, lx->pos - start);
    t->v.s.off = (uint32_t)pool_start;
    t->v.s.len = (uint32_t)(lx->pool->len - pool_start);
    return 0;

unterminated : {
    size_t end = lx->pos;
    rc = berth__rule_diag(lx->diag, start, end - start,
                          "unterminated %sstring literal",
                          triple ? "triple-quoted " : "");
    berth__rule_hint(lx->diag, "close it with %s",
                     triple      ? "three quotes"
                     : q == '\'' ? "'"
                                 : "\"");
    return rc;
}
}

static int lex_name(struct lexer *lx)
{
    size_t start = lx->pos;
    size_t n;

    while (lx->pos < lx->len && is_name_char(lx->s[lx->pos]))
        lx->pos++;
    n = lx->pos - start;

    /* String prefixes: r, u, and the ones berth refuses (b, f). */
    if (n <= 2 && lx->pos < lx->len &&
        (lx->s[lx->pos] == '\'' || lx->s[lx->pos] == '"')) {
        bool raw = false, bytes = false, fmt = false, uni = false, ok = true;
        for (size_t i = start; i < lx->pos; i++) {
            switch (lx->s[i]) {
            case 'r':
            case 'R':
                raw = true;
                break;
            case 'b':
            case 'B':
                bytes = true;
                break;
            case 'f':
            case 'F':
                fmt = true;
                break;
            case 'u':
            case 'U':
                uni = true;
                break;
            default:
                ok = false;
            }
        }
        if (ok && !(uni && n > 1)) {
            if (bytes)
                return berth__rule_diag(lx->diag, start, n + 1,
                                        "bytes literals are not supported");
            if (fmt)
                return berth__rule_diag(lx->diag, start, n + 1,
                                        "f-strings are not supported");
            return lex_string(lx, start, raw);
        }
    }
    for (size_t i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++) {
        if (strlen(keywords[i].word) == n &&
            memcmp(keywords[i].word, lx->s + start, n) == 0) {
            push_tok(lx, keywords[i].kind, start, n);
            return 0;
        }
    }
    push_tok(lx, TOK_NAME, start, n);
    return 0;
}

static int lex_op(struct lexer *lx)
{
    for (size_t i = 0; i < sizeof(optable) / sizeof(optable[0]); i++) {
        size_t n = strlen(optable[i].text);
        if (lx->pos + n <= lx->len &&
            memcmp(optable[i].text, lx->s + lx->pos, n) == 0) {
            enum tok_kind k = optable[i].kind;
            if (k == TOK_LPAREN || k == TOK_LBRACK || k == TOK_LBRACE)
                lx->nest++;
            else if ((k == TOK_RPAREN || k == TOK_RBRACK || k == TOK_RBRACE) &&
                     lx->nest > 0)
                lx->nest--;
            push_tok(lx, k, lx->pos, n);
            lx->pos += n;
            return 0;
        }
    }
    {
        size_t n;
        uint32_t cp = cp_at(lx, lx->pos, &n);
        if (cp >= 0x20 && cp < 0x7f)
            return berth__rule_diag(lx->diag, lx->pos, n,
                                    "invalid character '%c'", (char)cp);
        if (cp >= 0x80)
            return berth__rule_diag(lx->diag, lx->pos, n,
                                    "invalid character '%.*s' (U+%04X)", (int)n,
                                    lx->s + lx->pos, (unsigned)cp);
        return berth__rule_diag(lx->diag, lx->pos, n,
                                "invalid character (U+%04X)", (unsigned)cp);
    }
}

static int check_text(const char *s, size_t len, struct berth_rule_diag *d)
{
    if (len > BERTH_RULE_MAX_LEN)
        return berth__rule_diag(d, BERTH_RULE_MAX_LEN, len - BERTH_RULE_MAX_LEN,
                                "rule too long (%zu bytes, limit %d)", len,
                                BERTH_RULE_MAX_LEN);
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n;
        if (s[i] == '\0')
            return berth__rule_diag(d, i, 1, "rule contains a NUL byte");
        n = berth_utf8_dec(s + i, len - i, &cp);
        if (n == 0)
            return berth__rule_diag(d, i, 1, "rule text is not valid UTF-8");
        i += n;
    }
    return 0;
}

int berth__rule_lex(const char *text, size_t len, struct tok **toks,
                    size_t *ntoks, struct berth_buf *pool,
                    struct berth_rule_diag *diag)
{
    struct lexer lx;
    size_t newline = SIZE_MAX; /* a significant newline not yet followed */
    int rc;

    memset(&lx, 0, sizeof(lx));
    lx.s = text;
    lx.len = len;
    lx.pool = pool;
    lx.diag = diag;
    *toks = NULL;
    *ntoks = 0;

    rc = check_text(text, len, diag);
    if (rc)
        return rc;

    while (lx.pos < lx.len) {
        char c = lx.s[lx.pos];
        if (c == ' ' || c == '\t' || c == '\f') {
            lx.pos++;
            continue;
        }
        if (c == '\n' || c == '\r') {
            if (lx.nest == 0 && lx.n > 0 && newline == SIZE_MAX)
                newline = lx.pos;
            lx.pos++;
            continue;
        }
        if (c == '#') {
            while (lx.pos < lx.len && lx.s[lx.pos] != '\n' &&
                   lx.s[lx.pos] != '\r')
                lx.pos++;
            continue;
        }
        if (c == '\\') {
            if (lx.pos + 1 < lx.len && lx.s[lx.pos + 1] == '\n') {
                lx.pos += 2;
                continue;
            }
            if (lx.pos + 2 < lx.len + 0 && lx.s[lx.pos + 1] == '\r' &&
                lx.s[lx.pos + 2] == '\n') {
                lx.pos += 3;
                continue;
            }
            rc = berth__rule_diag(diag, lx.pos, 1,
                                  "unexpected character after line "
                                  "continuation character");
            goto fail;
        }
        if (newline != SIZE_MAX) {
            size_t n;
            cp_at(&lx, lx.pos, &n);
            rc = berth__rule_diag(diag, lx.pos, n,
                                  "unexpected newline before this token");
            berth__rule_hint(diag, "a rule is one expression: wrap a "
                                   "multi-line rule in parentheses");
            goto fail;
        }
        if (is_digit(c) ||
            (c == '.' && lx.pos + 1 < lx.len && is_digit(lx.s[lx.pos + 1])))
            rc = lex_number(&lx);
        else if (is_name_start(c))
            rc = lex_name(&lx);
        else if (c == '\'' || c == '"')
            rc = lex_string(&lx, lx.pos, false);
        else
            rc = lex_op(&lx);
        if (rc)
            goto fail;
    }
    push_tok(&lx, TOK_END, lx.len, 0);
    *toks = lx.toks;
    *ntoks = lx.n;
    return 0;
fail:
    free(lx.toks);
    return rc;
}
