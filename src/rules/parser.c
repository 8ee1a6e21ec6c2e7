/*
 * parser.c - tokens to a tree: recursive descent for primaries and postfix
 * forms (.attr, (args), [i], [lo:hi]) and a Pratt loop for infix operators
 * driven by one binding-power table, with Python's precedence:
 *
 *     or < and < not < comparisons (chained) < + - < * / // % < unary - +
 *
 * `not in` and `is not` are single operators; `1 < x < 5` is one n-ary
 * compare node and `a or b or c` one n-ary boolean node. Nesting (parser
 * recursion and tree height) is capped at BERTH_RULE_MAX_DEPTH.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/rules_int.h"

enum {
    BP_OR = 1,
    BP_AND,
    BP_NOT,
    BP_CMP,
    BP_ADD,
    BP_MUL,
    BP_UNARY,
};

struct parser {
    struct ast *ast;
    size_t pos;
    int depth;
    struct berth_rule_diag *diag;
};

static const struct tok *cur(const struct parser *p)
{
    return &p->ast->toks[p->pos];
}

static const struct tok *peek(const struct parser *p, size_t k)
{
    size_t i = p->pos + k;
    if (i >= p->ast->ntoks)
        i = p->ast->ntoks - 1;
    return &p->ast->toks[i];
}

static void advance(struct parser *p)
{
    if (p->pos + 1 < p->ast->ntoks)
        p->pos++;
}

static struct node *N(const struct parser *p, int32_t i)
{
    return &p->ast->nodes[i];
}

static int32_t new_node(struct parser *p, enum node_kind kind, size_t off,
                        size_t len)
{
    struct ast *a = p->ast;
    struct node *n;

    if (a->nnodes == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 32;
        a->nodes = berth_xrealloc(a->nodes, a->cap * sizeof(*a->nodes));
    }
    n = &a->nodes[a->nnodes];
    memset(n, 0, sizeof(*n));
    n->kind = (uint8_t)kind;
    n->off = (uint32_t)off;
    n->len = (uint32_t)len;
    n->ooff = (uint32_t)off;
    n->olen = (uint32_t)len;
    n->a = n->b = n->c = n->next = n->id = -1;
    n->height = 1;
    return (int32_t)a->nnodes++;
}

static size_t end_of(const struct parser *p, int32_t i)
{
    return (size_t)N(p, i)->off + N(p, i)->len;
}

static void set_span(struct parser *p, int32_t i, size_t off, size_t end)
{
    N(p, i)->off = (uint32_t)off;
    N(p, i)->len = (uint32_t)(end - off);
}

static size_t chain_height(const struct parser *p, int32_t i)
{
    size_t h = 0;
    for (; i >= 0; i = N(p, i)->next)
        if (N(p, i)->height > h)
            h = N(p, i)->height;
    return h;
}

/* Compute the height of node i from its children; refuse when too deep. */
static int finish(struct parser *p, int32_t i)
{
    struct node *n = N(p, i);
    size_t h = 0, x;

    x = chain_height(p, n->a);
    h = x > h ? x : h;
    x = chain_height(p, n->b);
    h = x > h ? x : h;
    x = chain_height(p, n->c);
    h = x > h ? x : h;
    if (h + 1 > BERTH_RULE_MAX_DEPTH)
        return berth__rule_diag(p->diag, n->ooff, n->olen,
                                "expression nested too deeply (more than %d "
                                "levels)",
                                BERTH_RULE_MAX_DEPTH);
    N(p, i)->height = (uint16_t)(h + 1);
    return 0;
}

/* "unexpected ')'", "unexpected name 'foo'", "unexpected end of rule". */
static int unexpected(struct parser *p, const struct tok *t)
{
    const char *s = p->ast->text + t->off;
    int n = (int)(t->len > 40 ? 40 : t->len);

    switch (t->kind) {
    case TOK_END:
        if (t->off == 0 || p->ast->ntoks == 1)
            return berth__rule_diag(p->diag, t->off, 0, "empty rule");
        return berth__rule_diag(p->diag, t->off, 0,
                                "invalid syntax: unexpected end of rule");
    case TOK_NAME:
        return berth__rule_diag(p->diag, t->off, t->len,
                                "invalid syntax: unexpected name '%.*s'", n, s);
    case TOK_INT:
    case TOK_FLOAT:
        return berth__rule_diag(p->diag, t->off, t->len,
                                "invalid syntax: unexpected number %.*s", n, s);
    case TOK_STR:
        return berth__rule_diag(p->diag, t->off, t->len,
                                "invalid syntax: unexpected string");
    default:
        return berth__rule_diag(p->diag, t->off, t->len,
                                "invalid syntax: unexpected '%.*s'", n, s);
    }
}

/* Errors for Python syntax berth does not support, or non-Python habits. */
static int foreign(struct parser *p, const struct tok *t)
{
    const char *s = p->ast->text + t->off;
    int rc;

    switch (t->kind) {
    case TOK_BADOP:
        /* Augmented assignments: += -= ... <<= but not :=. */
        if (t->len >= 2 && s[t->len - 1] == '=' &&
            !(t->len == 2 && strchr("=<>!:", s[0]))) {
            rc = berth__rule_diag(p->diag, t->off, t->len,
                                  "invalid syntax: '%.*s' is an assignment",
                                  (int)t->len, s);
            berth__rule_hint(p->diag, "a rule is an expression; it cannot "
                                      "assign");
            return rc;
        }
        if (t->len == 2 && memcmp(s, ":=", 2) == 0)
            return berth__rule_diag(p->diag, t->off, t->len,
                                    "assignment expressions (:=) are not "
                                    "supported");
        if (t->len == 2 && memcmp(s, "<>", 2) == 0) {
            rc = berth__rule_diag(p->diag, t->off, t->len,
                                  "invalid syntax: '<>'");
            berth__rule_hint(p->diag, "use '!='");
            return rc;
        }
        if (t->len == 1 && s[0] == ';')
            return berth__rule_diag(p->diag, t->off, t->len,
                                    "invalid syntax: a rule is one "
                                    "expression");
        return berth__rule_diag(p->diag, t->off, t->len,
                                "operator '%.*s' is not supported", (int)t->len,
                                s);
    case TOK_ANDAND:
        rc = berth__rule_diag(p->diag, t->off, t->len, "invalid syntax: '&&'");
        berth__rule_hint(p->diag, "use 'and'");
        return rc;
    case TOK_OROR:
        rc = berth__rule_diag(p->diag, t->off, t->len, "invalid syntax: '||'");
        berth__rule_hint(p->diag, "use 'or'");
        return rc;
    case TOK_BANG:
        rc = berth__rule_diag(p->diag, t->off, t->len, "invalid syntax: '!'");
        berth__rule_hint(p->diag, "use 'not' to negate and '!=' to compare");
        return rc;
    case TOK_ASSIGN:
        rc = berth__rule_diag(p->diag, t->off, t->len,
                              "invalid syntax: '=' is an assignment");
        berth__rule_hint(p->diag, "use '==' to compare");
        return rc;
    case TOK_KEYWORD:
        if (t->len == 2 && memcmp(s, "if", 2) == 0)
            return berth__rule_diag(p->diag, t->off, t->len,
                                    "conditional expressions (a if c else "
                                    "b) are not supported");
        if (t->len == 3 && memcmp(s, "for", 3) == 0)
            return berth__rule_diag(p->diag, t->off, t->len,
                                    "comprehensions are not supported");
        if (t->len == 6 && memcmp(s, "lambda", 6) == 0)
            return berth__rule_diag(p->diag, t->off, t->len,
                                    "lambda is not supported");
        return berth__rule_diag(p->diag, t->off, t->len,
                                "invalid syntax: unexpected keyword "
                                "'%.*s'",
                                (int)t->len, s);
    default:
        return unexpected(p, t);
    }
}

static int parse_expr(struct parser *p, int min_bp, int32_t *out);

/* Expect a closing bracket for the opener at `open`. */
static int expect_close(struct parser *p, enum tok_kind k,
                        const struct tok *open)
{
    const struct tok *t = cur(p);
    if (t->kind == k)
        return 0;
    if (t->kind == TOK_END)
        return berth__rule_diag(p->diag, open->off, open->len,
                                "'%.*s' was never closed", (int)open->len,
                                p->ast->text + open->off);
    if (t->kind == TOK_COMMA && k == TOK_RPAREN)
        return berth__rule_diag(p->diag, t->off, t->len,
                                "tuples are not supported");
    return foreign(p, t);
}

static int parse_list(struct parser *p, int32_t *out)
{
    const struct tok *open = cur(p);
    size_t off = open->off;
    int32_t list, last = -1;
    int rc;

    advance(p);
    list = new_node(p, N_LIST, off, 1);
    while (cur(p)->kind != TOK_RBRACK) {
        int32_t e;
        if (cur(p)->kind == TOK_STAR)
            return berth__rule_diag(p->diag, cur(p)->off, cur(p)->len,
                                    "unpacking (*x) is not supported");
        rc = parse_expr(p, 0, &e);
        if (rc)
            return rc;
        if (last < 0)
            N(p, list)->a = e;
        else
            N(p, last)->next = e;
        last = e;
        if (cur(p)->kind == TOK_COMMA) {
            advance(p);
            continue;
        }
        if (cur(p)->kind != TOK_RBRACK) {
            if (cur(p)->kind == TOK_END)
                return berth__rule_diag(p->diag, open->off, open->len,
                                        "'[' was never closed");
            return foreign(p, cur(p));
        }
    }
    set_span(p, list, off, (size_t)cur(p)->off + cur(p)->len);
    N(p, list)->ooff = (uint32_t)off;
    N(p, list)->olen = 1;
    advance(p);
    *out = list;
    return finish(p, list);
}

static int parse_args(struct parser *p, int32_t call)
{
    const struct tok *open = cur(p);
    int32_t last = -1;
    bool kw_seen = false;
    int rc;

    advance(p);
    while (cur(p)->kind != TOK_RPAREN) {
        const struct tok *t = cur(p);
        int32_t arg;
        if (t->kind == TOK_STAR ||
            (t->kind == TOK_BADOP && t->len == 2 &&
             memcmp(p->ast->text + t->off, "**", 2) == 0))
            return berth__rule_diag(p->diag, t->off, t->len,
                                    "argument unpacking is not supported");
        if (t->kind == TOK_NAME && peek(p, 1)->kind == TOK_ASSIGN) {
            int32_t v;
            advance(p);
            advance(p);
            rc = parse_expr(p, 0, &v);
            if (rc)
                return rc;
            arg = new_node(p, N_KWARG, t->off, end_of(p, v) - t->off);
            N(p, arg)->ooff = t->off;
            N(p, arg)->olen = t->len;
            N(p, arg)->a = v;
            rc = finish(p, arg);
            if (rc)
                return rc;
            kw_seen = true;
        } else {
            rc = parse_expr(p, 0, &arg);
            if (rc)
                return rc;
            if (kw_seen)
                return berth__rule_diag(p->diag, N(p, arg)->off, N(p, arg)->len,
                                        "positional argument follows "
                                        "keyword argument");
        }
        if (last < 0)
            N(p, call)->b = arg;
        else
            N(p, last)->next = arg;
        last = arg;
        if (cur(p)->kind == TOK_COMMA) {
            advance(p);
            continue;
        }
        if (cur(p)->kind != TOK_RPAREN) {
            if (cur(p)->kind == TOK_END)
                return berth__rule_diag(p->diag, open->off, open->len,
                                        "'(' was never closed");
            return foreign(p, cur(p));
        }
    }
    return 0;
}

static int parse_subscript(struct parser *p, int32_t obj, int32_t *out)
{
    const struct tok *open = cur(p);
    int32_t lo = -1, hi = -1, n;
    bool slice = false;
    int rc;

    advance(p);
    if (cur(p)->kind != TOK_COLON) {
        if (cur(p)->kind == TOK_RBRACK)
            return unexpected(p, cur(p));
        rc = parse_expr(p, 0, &lo);
        if (rc)
            return rc;
    }
    if (cur(p)->kind == TOK_COLON) {
        slice = true;
        advance(p);
        if (cur(p)->kind != TOK_RBRACK && cur(p)->kind != TOK_COLON) {
            rc = parse_expr(p, 0, &hi);
            if (rc)
                return rc;
        }
        if (cur(p)->kind == TOK_COLON) {
            advance(p);
            if (cur(p)->kind != TOK_RBRACK)
                return berth__rule_diag(p->diag, cur(p)->off, cur(p)->len,
                                        "slice steps are not supported");
        }
    }
    if (cur(p)->kind == TOK_COMMA)
        return berth__rule_diag(p->diag, cur(p)->off, cur(p)->len,
                                "tuple indices are not supported");
    rc = expect_close(p, TOK_RBRACK, open);
    if (rc)
        return rc;
    n = new_node(p, slice ? N_SLICE : N_INDEX, N(p, obj)->off,
                 (size_t)cur(p)->off + cur(p)->len - N(p, obj)->off);
    N(p, n)->ooff = open->off;
    N(p, n)->olen = cur(p)->off + cur(p)->len - open->off;
    N(p, n)->a = obj;
    N(p, n)->b = lo;
    N(p, n)->c = hi;
    advance(p);
    *out = n;
    return finish(p, n);
}

static int parse_primary(struct parser *p, int32_t *out)
{
    const struct tok *t = cur(p);
    int32_t n;
    int rc;

    switch (t->kind) {
    case TOK_INT:
        n = new_node(p, N_INT, t->off, t->len);
        N(p, n)->v.i = t->v.i;
        advance(p);
        break;
    case TOK_FLOAT:
        n = new_node(p, N_FLOAT, t->off, t->len);
        N(p, n)->v.f = t->v.f;
        advance(p);
        break;
    case TOK_STR: {
        /* Adjacent literals join, as in Python; the lexer decoded them
         * one after another into the pool. */
        uint32_t soff = t->v.s.off, slen = t->v.s.len;
        size_t end = (size_t)t->off + t->len;
        advance(p);
        while (cur(p)->kind == TOK_STR) {
            slen += cur(p)->v.s.len;
            end = (size_t)cur(p)->off + cur(p)->len;
            advance(p);
        }
        n = new_node(p, N_STR, t->off, end - t->off);
        N(p, n)->v.s.off = soff;
        N(p, n)->v.s.len = slen;
        break;
    }
    case TOK_TRUE:
    case TOK_FALSE:
        n = new_node(p, N_BOOL, t->off, t->len);
        N(p, n)->v.i = t->kind == TOK_TRUE;
        advance(p);
        break;
    case TOK_NONE:
        n = new_node(p, N_NONE, t->off, t->len);
        advance(p);
        break;
    case TOK_NAME:
        n = new_node(p, N_NAME, t->off, t->len);
        advance(p);
        break;
    case TOK_LPAREN: {
        const struct tok *open = t;
        advance(p);
        if (cur(p)->kind == TOK_RPAREN)
            return berth__rule_diag(p->diag, open->off,
                                    cur(p)->off + 1 - open->off,
                                    "tuples are not supported");
        rc = parse_expr(p, 0, &n);
        if (rc)
            return rc;
        rc = expect_close(p, TOK_RPAREN, open);
        if (rc)
            return rc;
        set_span(p, n, open->off, (size_t)cur(p)->off + 1);
        advance(p);
        break;
    }
    case TOK_LBRACK:
        rc = parse_list(p, &n);
        if (rc)
            return rc;
        break;
    case TOK_LBRACE:
        return berth__rule_diag(p->diag, t->off, t->len,
                                "dict and set literals are not supported");
    default:
        return foreign(p, t);
    }

    /* Postfix forms. */
    for (;;) {
        const struct tok *u = cur(p);
        int32_t m = -1;
        if (u->kind == TOK_DOT) {
            const struct tok *name = peek(p, 1);
            if (name->kind != TOK_NAME) {
                if (name->kind == TOK_END)
                    return berth__rule_diag(p->diag, u->off, u->len,
                                            "expected an attribute name "
                                            "after '.'");
                return berth__rule_diag(p->diag, name->off, name->len,
                                        "expected an attribute name after "
                                        "'.'");
            }
            m = new_node(p, N_ATTR, N(p, n)->off,
                         (size_t)name->off + name->len - N(p, n)->off);
            N(p, m)->ooff = name->off;
            N(p, m)->olen = name->len;
            N(p, m)->a = n;
            advance(p);
            advance(p);
        } else if (u->kind == TOK_LPAREN) {
            m = new_node(p, N_CALL, N(p, n)->off, 0);
            N(p, m)->a = n;
            /* Point at the callee's name or method. */
            N(p, m)->ooff =
                N(p, n)->kind == N_ATTR ? N(p, n)->ooff : N(p, n)->off;
            N(p, m)->olen =
                N(p, n)->kind == N_ATTR ? N(p, n)->olen : N(p, n)->len;
            rc = parse_args(p, m);
            if (rc)
                return rc;
            set_span(p, m, N(p, n)->off, (size_t)cur(p)->off + 1);
            advance(p);
        } else if (u->kind == TOK_LBRACK) {
            rc = parse_subscript(p, n, &m);
            if (rc)
                return rc;
            n = m;
            continue;
        } else {
            break;
        }
        rc = finish(p, m);
        if (rc)
            return rc;
        n = m;
    }
    *out = n;
    return 0;
}

static int cmp_op(const struct parser *p, int *op, size_t *ntok)
{
    const struct tok *t = cur(p);
    *ntok = 1;
    switch (t->kind) {
    case TOK_EQ:
        *op = OP_EQ;
        return 1;
    case TOK_NE:
        *op = OP_NE;
        return 1;
    case TOK_LT:
        *op = OP_LT;
        return 1;
    case TOK_LE:
        *op = OP_LE;
        return 1;
    case TOK_GT:
        *op = OP_GT;
        return 1;
    case TOK_GE:
        *op = OP_GE;
        return 1;
    case TOK_IN:
        *op = OP_IN;
        return 1;
    case TOK_NOT:
        if (peek(p, 1)->kind != TOK_IN)
            return -1;
        *op = OP_NOTIN;
        *ntok = 2;
        return 1;
    case TOK_IS:
        if (peek(p, 1)->kind == TOK_NOT) {
            *op = OP_ISNOT;
            *ntok = 2;
        } else {
            *op = OP_IS;
        }
        return 1;
    default:
        return 0;
    }
}

static int parse_compare(struct parser *p, int32_t left, int32_t *out)
{
    int32_t cmp = new_node(p, N_COMPARE, N(p, left)->off, 0);
    int32_t last = -1;
    int op, rc, k;
    size_t ntok;

    N(p, cmp)->a = left;
    while ((k = cmp_op(p, &op, &ntok)) == 1) {
        const struct tok *t = cur(p);
        size_t ooff = t->off,
               oend = (size_t)peek(p, ntok - 1)->off + peek(p, ntok - 1)->len;
        int32_t right, link;
        for (size_t i = 0; i < ntok; i++)
            advance(p);
        rc = parse_expr(p, BP_CMP + 1, &right);
        if (rc)
            return rc;
        link = new_node(p, N_CMPLINK, ooff, end_of(p, right) - ooff);
        N(p, link)->op = (uint8_t)op;
        N(p, link)->ooff = (uint32_t)ooff;
        N(p, link)->olen = (uint32_t)(oend - ooff);
        N(p, link)->a = right;
        rc = finish(p, link);
        if (rc)
            return rc;
        if (last < 0) {
            N(p, cmp)->b = link;
            N(p, cmp)->ooff = (uint32_t)ooff;
            N(p, cmp)->olen = (uint32_t)(oend - ooff);
        } else {
            N(p, last)->next = link;
        }
        last = link;
    }
    if (k < 0) {
        int rc2 = berth__rule_diag(p->diag, cur(p)->off, cur(p)->len,
                                   "invalid syntax: 'not' after an "
                                   "operand");
        berth__rule_hint(p->diag, "did you mean 'not in'?");
        return rc2;
    }
    set_span(p, cmp, N(p, left)->off, end_of(p, last));
    *out = cmp;
    return finish(p, cmp);
}

static int parse_boolop(struct parser *p, int32_t left, enum tok_kind kind,
                        int bp, int32_t *out)
{
    int32_t n = new_node(p, N_BOOLOP, N(p, left)->off, 0);
    int32_t last = left;
    int rc;

    N(p, n)->op = kind == TOK_OR ? OP_OR : OP_AND;
    N(p, n)->ooff = cur(p)->off;
    N(p, n)->olen = cur(p)->len;
    N(p, n)->a = left;
    while (cur(p)->kind == kind) {
        int32_t r;
        advance(p);
        rc = parse_expr(p, bp + 1, &r);
        if (rc)
            return rc;
        N(p, last)->next = r;
        last = r;
    }
    set_span(p, n, N(p, left)->off, end_of(p, last));
    *out = n;
    return finish(p, n);
}

static int parse_expr(struct parser *p, int min_bp, int32_t *out)
{
    const struct tok *t = cur(p);
    int32_t left = -1;
    int rc = 0;

    if (++p->depth > BERTH_RULE_MAX_DEPTH) {
        rc = berth__rule_diag(p->diag, t->off, t->len,
                              "expression nested too deeply (more than %d "
                              "levels)",
                              BERTH_RULE_MAX_DEPTH);
        goto out;
    }

    if (t->kind == TOK_NOT) {
        int32_t x;
        if (min_bp > BP_NOT) {
            rc = berth__rule_diag(p->diag, t->off, t->len,
                                  "invalid syntax: 'not' cannot follow an "
                                  "operator here");
            berth__rule_hint(p->diag, "wrap it in parentheses: (not x)");
            goto out;
        }
        advance(p);
        rc = parse_expr(p, BP_NOT, &x);
        if (rc)
            goto out;
        left = new_node(p, N_UNARY, t->off, end_of(p, x) - t->off);
        N(p, left)->op = OP_NOT;
        N(p, left)->ooff = t->off;
        N(p, left)->olen = t->len;
        N(p, left)->a = x;
        rc = finish(p, left);
    } else if (t->kind == TOK_MINUS || t->kind == TOK_PLUS) {
        int32_t x;
        advance(p);
        rc = parse_expr(p, BP_UNARY, &x);
        if (rc)
            goto out;
        left = new_node(p, N_UNARY, t->off, end_of(p, x) - t->off);
        N(p, left)->op = t->kind == TOK_MINUS ? OP_NEG : OP_POS;
        N(p, left)->ooff = t->off;
        N(p, left)->olen = t->len;
        N(p, left)->a = x;
        rc = finish(p, left);
    } else {
        rc = parse_primary(p, &left);
    }
    if (rc)
        goto out;

    for (;;) {
        const struct tok *o = cur(p);
        int bp, op, k;
        size_t ntok;
        int32_t right, n;

        switch (o->kind) {
        case TOK_OR:
        case TOK_AND:
            bp = o->kind == TOK_OR ? BP_OR : BP_AND;
            if (bp < min_bp)
                goto done;
            rc = parse_boolop(p, left, o->kind, bp, &left);
            if (rc)
                goto out;
            continue;
        case TOK_PLUS:
        case TOK_MINUS:
            bp = BP_ADD;
            op = o->kind == TOK_PLUS ? OP_ADD : OP_SUB;
            break;
        case TOK_STAR:
        case TOK_SLASH:
        case TOK_DSLASH:
        case TOK_PERCENT:
            bp = BP_MUL;
            op = o->kind == TOK_STAR     ? OP_MUL
                 : o->kind == TOK_SLASH  ? OP_DIV
                 : o->kind == TOK_DSLASH ? OP_FDIV
                                         : OP_MOD;
            break;
        case TOK_BADOP:
        case TOK_ANDAND:
        case TOK_OROR:
        case TOK_BANG:
        case TOK_ASSIGN:
        case TOK_KEYWORD:
            rc = foreign(p, o);
            goto out;
        default:
            k = cmp_op(p, &op, &ntok);
            if (k == 0)
                goto done;
            if (BP_CMP < min_bp)
                goto done;
            rc = parse_compare(p, left, &left);
            if (rc)
                goto out;
            continue;
        }
        if (bp < min_bp)
            goto done;
        advance(p);
        rc = parse_expr(p, bp + 1, &right);
        if (rc)
            goto out;
        n = new_node(p, N_BINOP, N(p, left)->off,
                     end_of(p, right) - N(p, left)->off);
        N(p, n)->op = (uint8_t)op;
        N(p, n)->ooff = o->off;
        N(p, n)->olen = o->len;
        N(p, n)->a = left;
        N(p, n)->b = right;
        rc = finish(p, n);
        if (rc)
            goto out;
        left = n;
    }
done:
    *out = left;
out:
    p->depth--;
    return rc;
}

int berth__rule_parse(struct ast *ast, struct berth_rule_diag *diag)
{
    struct parser p;
    const struct tok *t;
    int rc;

    memset(&p, 0, sizeof(p));
    p.ast = ast;
    p.diag = diag;
    rc = parse_expr(&p, 0, &ast->root);
    if (rc)
        return rc;
    t = cur(&p);
    if (t->kind == TOK_END)
        return 0;
    if (t->kind == TOK_COMMA)
        return berth__rule_diag(diag, t->off, t->len,
                                "tuples are not supported");
    if (t->kind == TOK_RPAREN || t->kind == TOK_RBRACK || t->kind == TOK_RBRACE)
        return berth__rule_diag(diag, t->off, t->len, "unmatched '%c'",
                                ast->text[t->off]);
    return foreign(&p, t);
}

void berth__rule_ast_release(struct ast *ast)
{
    free(ast->toks);
    free(ast->nodes);
    berth_buf_release(&ast->pool);
    ast->toks = NULL;
    ast->nodes = NULL;
    ast->nnodes = ast->cap = ast->ntoks = 0;
}
