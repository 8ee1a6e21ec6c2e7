/*
 * check.c - the static pass: resolve names, attributes, methods and calls
 * against the job context schema (DESIGN.md § The rule language) and give
 * every node a static type, the set of runtime types it may have.
 *
 * An operation is refused at compile time when it fails for every
 * combination of its operands' possible types (`template.name > 5`,
 * `memory_mb.startswith("x")`), or when some combination is valid Python
 * that berth does not implement (list concatenation, sequence repetition,
 * '%' formatting): berth never gives a runtime error where Python gives a
 * value. Combinations that fail only for some types (`user.name` when user
 * may be None, `labels.get("k") > "a"`) are checked at run time and make
 * the rule not match.
 */
#include <stdio.h>
#include <string.h>

#include "rules/rules_int.h"

const struct field_info berth__rule_fields[F_COUNT] = {
#define RULE_FIELD_INFO(id, owner, name, type) {owner, name, type},
    RULE_FIELDS(RULE_FIELD_INFO)
#undef RULE_FIELD_INFO
};

const struct method_info berth__rule_methods[M_COUNT] = {
#define RULE_METHOD_INFO(id, recv, name, amin, amax) {recv, name, amin, amax},
    RULE_METHODS(RULE_METHOD_INFO)
#undef RULE_METHOD_INFO
};

static const char *const type_names[T_NTYPES] = {
    "NoneType", "bool", "int", "float",    "str",  "list",
    "list",     "dict", "job", "template", "user",
};

const char *berth__rule_type_name(unsigned bit)
{
    for (int i = 0; i < T_NTYPES; i++)
        if (bit & (1u << i))
            return type_names[i];
    return "?";
}

/* "str", "str or NoneType". */
static const char *tname(unsigned t, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    if ((t & T_LIST) && (t & T_GROUPS))
        t &= ~(unsigned)T_GROUPS;
    for (int i = 0; i < T_NTYPES; i++) {
        if (!(t & (1u << i)))
            continue;
        len += (size_t)snprintf(buf + len, len < cap ? cap - len : 0, "%s%s",
                                len ? " or " : "", type_names[i]);
    }
    return buf;
}

enum { PC_OK, PC_TYPE, PC_UNSUP };

/* One pair of single type bits under an arithmetic operator. */
static int arith_pair(int op, unsigned a, unsigned b, unsigned *res)
{
    if ((a & T_NUM) && (b & T_NUM)) {
        if (op == OP_DIV)
            *res = T_FLOAT;
        else
            *res = ((a | b) & T_FLOAT) ? T_FLOAT : T_INT;
        return PC_OK;
    }
    switch (op) {
    case OP_ADD:
        if (a == T_STR && b == T_STR) {
            *res = T_STR;
            return PC_OK;
        }
        if ((a & T_SEQ) && (b & T_SEQ))
            return PC_UNSUP;
        return PC_TYPE;
    case OP_MUL:
        if (((a & T_INTLIKE) && (b & (T_STR | T_SEQ))) ||
            ((b & T_INTLIKE) && (a & (T_STR | T_SEQ))))
            return PC_UNSUP;
        return PC_TYPE;
    case OP_MOD:
        return a == T_STR ? PC_UNSUP : PC_TYPE;
    default:
        return PC_TYPE;
    }
}

/* One pair under a comparison (a op b); `in` means a in b. */
static int cmp_pair(int op, unsigned a, unsigned b)
{
    switch (op) {
    case OP_LT:
    case OP_LE:
    case OP_GT:
    case OP_GE:
        if ((a & T_NUM) && (b & T_NUM))
            return PC_OK;
        if (a == T_STR && b == T_STR)
            return PC_OK;
        if ((a & T_SEQ) && (b & T_SEQ))
            return PC_OK;
        return PC_TYPE;
    case OP_IN:
    case OP_NOTIN:
        if (b == T_STR)
            return a == T_STR ? PC_OK : PC_TYPE;
        if (b & T_SEQ)
            return PC_OK;
        if (b == T_MAP)
            return (a & (T_SEQ | T_MAP)) ? PC_TYPE : PC_OK;
        return PC_TYPE;
    default:
        return PC_OK;
    }
}

/*
 * Classify an operator over two static types. An empty type (an expression
 * that can only fail, like `[][0]`) is compatible with everything.
 */
static int classify(int op, bool arith, unsigned ta, unsigned tb, unsigned *res)
{
    bool ok = false, unsup = false;

    *res = 0;
    if (ta == 0 || tb == 0)
        return PC_OK;
    for (int i = 0; i < T_NTYPES; i++) {
        unsigned x = 1u << i;
        if (!(ta & x))
            continue;
        for (int j = 0; j < T_NTYPES; j++) {
            unsigned y = 1u << j, r = T_BOOL;
            int c;
            if (!(tb & y))
                continue;
            c = arith ? arith_pair(op, x, y, &r) : cmp_pair(op, x, y);
            if (c == PC_OK) {
                ok = true;
                *res |= r;
            } else if (c == PC_UNSUP) {
                unsup = true;
            }
        }
    }
    if (unsup)
        return PC_UNSUP;
    return ok ? PC_OK : PC_TYPE;
}

/* ---- suggestions ------------------------------------------------------- */

/* Optimal-string-alignment distance (a transposition costs 1). */
static size_t osa(const char *a, size_t la, const char *b, size_t lb)
{
    size_t d[33][33];
    if (la > 32 || lb > 32)
        return 99;
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = a[i - 1] != b[j - 1];
            size_t m = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < m)
                m = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < m)
                m = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
                a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < m)
                m = d[i - 2][j - 2] + 1;
            d[i][j] = m;
        }
    }
    return d[la][lb];
}

/*
 * How close `name` is to candidate c: an edit distance, or a near match of
 * c's prefix ("memroy" for "memory_mb"). Returns a score, lower is
 * better, or SIZE_MAX when not close.
 */
static size_t closeness(const char *name, size_t n, const char *c)
{
    size_t lc = strlen(c), limit = n <= 3 ? 1 : n <= 6 ? 2 : 3;
    size_t d = osa(name, n, c, lc);
    if (d <= limit && d < n)
        return d * 2;
    if (n >= 4 && lc > n && osa(name, n, c, n) <= 1)
        return 2 * limit + 1;
    return SIZE_MAX;
}

struct suggest {
    const char *best;
    size_t score;
};

static void consider(struct suggest *s, const char *name, size_t n,
                     const char *c)
{
    size_t sc = closeness(name, n, c);
    if (sc < s->score) {
        s->score = sc;
        s->best = c;
    }
}

static const char *const builtins[] = {
    "abs",        "all",    "any", "bool", "dict",  "float", "int",
    "isinstance", "list",   "max", "min",  "print", "range", "round",
    "set",        "sorted", "str", "sum",  "tuple", "type",  "getattr",
    "hasattr",    "repr",   "ord", "chr",
};

static bool is_builtin(const char *name, size_t n)
{
    for (size_t i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++)
        if (strlen(builtins[i]) == n && memcmp(builtins[i], name, n) == 0)
            return true;
    return false;
}

static bool eqn(const char *a, size_t n, const char *b)
{
    return strlen(b) == n && memcmp(a, b, n) == 0;
}

/* ---- the checker ------------------------------------------------------- */

struct checker {
    struct ast *ast;
    struct berth_rule_diag *diag;
};

static struct node *NN(const struct checker *c, int32_t i)
{
    return &c->ast->nodes[i];
}

static const char *src(const struct checker *c, uint32_t off)
{
    return c->ast->text + off;
}

static int check(struct checker *c, int32_t i);

/* The method of that name whose receiver type is in t, or -1. */
static int find_method(unsigned t, const char *name, size_t len)
{
    for (int m = 0; m < M_COUNT; m++)
        if ((berth__rule_methods[m].recv & t) &&
            eqn(name, len, berth__rule_methods[m].name))
            return m;
    return -1;
}

static int any_method(const char *name, size_t len)
{
    return find_method(~0u, name, len);
}

static int unknown_name(struct checker *c, const struct node *n)
{
    const char *name = src(c, n->ooff);
    size_t len = n->olen;
    char paths[128];
    size_t plen = 0, count = 0;
    struct suggest s = {NULL, SIZE_MAX};
    int rc;

    if (is_builtin(name, len)) {
        rc = berth__rule_diag(c->diag, n->ooff, n->olen,
                              "function '%.*s' is not available in rules",
                              (int)len, name);
        berth__rule_hint(c->diag, "the only function is len()");
        return rc;
    }
    rc = berth__rule_diag(c->diag, n->ooff, n->olen, "unknown name '%.*s'",
                          (int)len, name);
    if (eqn(name, len, "true") || eqn(name, len, "false") ||
        eqn(name, len, "none") || eqn(name, len, "null") ||
        eqn(name, len, "nil")) {
        berth__rule_hint(c->diag, "did you mean '%s'?",
                         name[0] == 't'   ? "True"
                         : name[0] == 'f' ? "False"
                                          : "None");
        return rc;
    }
    /* An attribute used as a name: `name` for `template.name`. */
    paths[0] = '\0';
    for (int f = 0; f < F_COUNT; f++) {
        const struct field_info *fi = &berth__rule_fields[f];
        if (!fi->owner || !eqn(name, len, fi->name))
            continue;
        plen += (size_t)snprintf(
            paths + plen, plen < sizeof(paths) ? sizeof(paths) - plen : 0,
            "%s'%s.%s'", count ? " or " : "", berth__rule_type_name(fi->owner),
            fi->name);
        count++;
    }
    if (count) {
        berth__rule_hint(c->diag, "did you mean %s?", paths);
        return rc;
    }
    {
        /* A method called like a function: lower(x). */
        int m = any_method(name, len);
        if (m >= 0 && m != M_FILTER) {
            berth__rule_hint(c->diag, "%s() is a %s method: x.%s(...)",
                             berth__rule_methods[m].name,
                             berth__rule_type_name(berth__rule_methods[m].recv),
                             berth__rule_methods[m].name);
            return rc;
        }
    }
    for (int f = 0; f < F_COUNT; f++)
        if (!berth__rule_fields[f].owner)
            consider(&s, name, len, berth__rule_fields[f].name);
    consider(&s, name, len, "len");
    consider(&s, name, len, "True");
    consider(&s, name, len, "False");
    consider(&s, name, len, "None");
    if (s.best) {
        berth__rule_hint(c->diag, "did you mean '%s'?", s.best);
        return rc;
    }
    /* A misspelt attribute used as a name: `nmae` for `template.name`. */
    for (int f = 0; f < F_COUNT; f++)
        if (berth__rule_fields[f].owner)
            consider(&s, name, len, berth__rule_fields[f].name);
    if (s.best) {
        count = 0;
        plen = 0;
        for (int f = 0; f < F_COUNT; f++) {
            const struct field_info *fi = &berth__rule_fields[f];
            if (!fi->owner || strcmp(fi->name, s.best) != 0)
                continue;
            plen += (size_t)snprintf(
                paths + plen, plen < sizeof(paths) ? sizeof(paths) - plen : 0,
                "%s'%s.%s'", count ? " or " : "",
                berth__rule_type_name(fi->owner), fi->name);
            count++;
        }
        berth__rule_hint(c->diag, "did you mean %s?", paths);
    } else {
        berth__rule_hint(c->diag, "names are job, template, user, "
                                  "memory_mb, cpu_cores, timeout_seconds, "
                                  "labels, hour, weekday");
    }
    return rc;
}

static int check_name(struct checker *c, int32_t i)
{
    struct node *n = NN(c, i);
    const char *name = src(c, n->ooff);

    for (int f = 0; f < F_COUNT; f++) {
        if (!berth__rule_fields[f].owner &&
            eqn(name, n->olen, berth__rule_fields[f].name)) {
            n->id = f;
            n->type = (uint16_t)berth__rule_fields[f].type;
            return 0;
        }
    }
    if (eqn(name, n->olen, "len")) {
        int rc =
            berth__rule_diag(c->diag, n->ooff, n->olen, "len must be called");
        berth__rule_hint(c->diag, "len(x)");
        return rc;
    }
    return unknown_name(c, n);
}

/* Field ids of attribute `name` on each object type in t. */
static unsigned attr_fields(unsigned t, const char *name, size_t len,
                            int ids[3])
{
    static const unsigned objs[3] = {T_JOB, T_TMPL, T_USER};
    unsigned found = 0;
    for (int k = 0; k < 3; k++) {
        ids[k] = -1;
        if (!(t & objs[k]) && t != 0)
            continue;
        for (int f = 0; f < F_COUNT; f++) {
            if (berth__rule_fields[f].owner == objs[k] &&
                eqn(name, len, berth__rule_fields[f].name)) {
                ids[k] = f;
                found |= objs[k];
            }
        }
    }
    return found;
}

static int unknown_attr(struct checker *c, const struct node *n, unsigned t)
{
    const char *name = src(c, n->ooff);
    char tb[64];
    struct suggest s = {NULL, SIZE_MAX};
    bool top = false;
    int rc;

    if ((t & ~(unsigned)T_NONE) && !(t & ~(unsigned)(T_OBJ | T_NONE)) &&
        __builtin_popcount(t & T_OBJ) == 1)
        rc = berth__rule_diag(c->diag, n->ooff, n->olen,
                              "unknown attribute '%.*s' of '%s'", (int)n->olen,
                              name, berth__rule_type_name(t & T_OBJ));
    else
        rc = berth__rule_diag(c->diag, n->ooff, n->olen,
                              "'%s' object has no attribute '%.*s'",
                              tname(t, tb, sizeof(tb)), (int)n->olen, name);
    for (int f = 0; f < F_COUNT; f++)
        if (berth__rule_fields[f].owner & t)
            consider(&s, name, n->olen, berth__rule_fields[f].name);
    for (int m = 0; m < M_COUNT; m++)
        if (berth__rule_methods[m].recv & t)
            consider(&s, name, n->olen, berth__rule_methods[m].name);
    if (!s.best && (t & T_OBJ)) {
        for (int f = 0; f < F_COUNT; f++)
            if (!berth__rule_fields[f].owner)
                consider(&s, name, n->olen, berth__rule_fields[f].name);
        top = s.best != NULL;
    }
    if (!s.best && (t & T_MAP) && !(t & ~(unsigned)(T_MAP | T_NONE))) {
        berth__rule_hint(c->diag, "labels support [key], get(key), 'key' in "
                                  "labels and len()");
        return rc;
    }
    if (s.best && top)
        berth__rule_hint(c->diag,
                         "did you mean '%s'? (a name of its own, not an "
                         "attribute of '%s')",
                         s.best, tname(t & T_OBJ, tb, sizeof(tb)));
    else if (s.best)
        berth__rule_hint(c->diag, "did you mean '%s'?", s.best);
    return rc;
}

static int check_attr(struct checker *c, int32_t i)
{
    struct node *n;
    unsigned t, found, type = 0;
    int ids[3], rc;

    rc = check(c, NN(c, i)->a);
    if (rc)
        return rc;
    n = NN(c, i);
    t = NN(c, n->a)->type;
    found = attr_fields(t, src(c, n->ooff), n->olen, ids);
    if (!found) {
        if (find_method(t ? t : ~0u, src(c, n->ooff), n->olen) >= 0) {
            rc = berth__rule_diag(c->diag, n->ooff, n->olen,
                                  "method '%.*s' must be called", (int)n->olen,
                                  src(c, n->ooff));
            berth__rule_hint(c->diag, "%.*s(...)", (int)n->olen,
                             src(c, n->ooff));
            return rc;
        }
        return unknown_attr(c, n, t);
    }
    for (int k = 0; k < 3; k++)
        if (ids[k] >= 0)
            type |= berth__rule_fields[ids[k]].type;
    /* Pack the per-object field ids for the ATTR instruction. */
    n->id = (ids[0] + 1) | ((ids[1] + 1) << 8) | ((ids[2] + 1) << 16);
    n->type = (uint16_t)type;
    n->elem = (type & T_GROUPS) ? T_STR : 0;
    return 0;
}

static int count_args(const struct checker *c, int32_t a, int *pos, int *kw,
                      int32_t *first_kw)
{
    *pos = *kw = 0;
    *first_kw = -1;
    for (; a >= 0; a = NN(c, a)->next) {
        if (NN(c, a)->kind == N_KWARG) {
            if (*first_kw < 0)
                *first_kw = a;
            (*kw)++;
        } else {
            (*pos)++;
        }
    }
    return 0;
}

static int arity_error(struct checker *c, const struct node *call,
                       const char *name, int min, int max, int got)
{
    if (min == max && min == 0)
        return berth__rule_diag(c->diag, call->off, call->len,
                                "%s() takes no arguments (%d given)", name,
                                got);
    if (min == max && min == 1)
        return berth__rule_diag(c->diag, call->off, call->len,
                                "%s() takes exactly one argument (%d given)",
                                name, got);
    if (min == 0)
        return berth__rule_diag(c->diag, call->off, call->len,
                                "%s() takes at most %d argument%s (%d given)",
                                name, max, max == 1 ? "" : "s", got);
    return berth__rule_diag(c->diag, call->off, call->len,
                            "%s() takes %d or %d arguments (%d given)", name,
                            min, max, got);
}

/* user.groups.filter(name=X).exists() */
static int check_exists(struct checker *c, int32_t i, int32_t fcall)
{
    struct node *n = NN(c, i), *f = NN(c, fcall);
    int32_t fattr = f->a, recv = NN(c, fattr)->a;
    int pos, kw, rc;
    int32_t kwa;
    char tb[64];
    unsigned t;

    count_args(c, n->b, &pos, &kw, &kwa);
    if (pos || kw)
        return arity_error(c, n, "exists", 0, 0, pos + kw);
    rc = check(c, recv);
    if (rc)
        return rc;
    t = NN(c, recv)->type;
    if (t && !(t & T_GROUPS)) {
        rc = berth__rule_diag(c->diag, NN(c, fattr)->ooff, NN(c, fattr)->olen,
                              "'%s' has no method 'filter'",
                              tname(t, tb, sizeof(tb)));
        berth__rule_hint(c->diag, "filter(name=...).exists() works on "
                                  "user.groups");
        return rc;
    }
    f = NN(c, fcall);
    count_args(c, f->b, &pos, &kw, &kwa);
    if (pos != 0 || kw != 1 ||
        !eqn(src(c, NN(c, kwa)->ooff), NN(c, kwa)->olen, "name")) {
        rc = berth__rule_diag(c->diag, f->off, f->len,
                              "filter() takes exactly one argument, "
                              "name=...");
        berth__rule_hint(c->diag, "user.groups.filter(name=\"premium\")"
                                  ".exists()");
        return rc;
    }
    rc = check(c, NN(c, kwa)->a);
    if (rc)
        return rc;
    n = NN(c, i);
    n->kind = N_EXISTS;
    n->a = recv;
    n->b = NN(c, kwa)->a;
    n->type = T_BOOL;
    return 0;
}

static int check_len(struct checker *c, int32_t i)
{
    struct node *n = NN(c, i);
    int pos, kw, rc;
    int32_t kwa, arg = n->b;
    char tb[64];
    unsigned t;

    count_args(c, n->b, &pos, &kw, &kwa);
    if (kw)
        return berth__rule_diag(c->diag, NN(c, kwa)->off, NN(c, kwa)->len,
                                "len() takes no keyword arguments");
    if (pos != 1)
        return arity_error(c, n, "len", 1, 1, pos);
    rc = check(c, arg);
    if (rc)
        return rc;
    t = NN(c, arg)->type;
    if (t && !(t & (T_STR | T_SEQ | T_MAP)))
        return berth__rule_diag(c->diag, NN(c, arg)->off, NN(c, arg)->len,
                                "object of type '%s' has no len()",
                                tname(t, tb, sizeof(tb)));
    n = NN(c, i);
    n->kind = N_LEN;
    n->a = arg;
    n->b = -1;
    n->type = T_INT;
    return 0;
}

static int check_method(struct checker *c, int32_t i)
{
    struct node *n = NN(c, i), *attr = NN(c, n->a);
    const char *mname = src(c, attr->ooff);
    size_t mlen = attr->olen;
    int32_t recv = attr->a, kwa;
    int pos, kw, m, rc, ids[3];
    char tb[64];
    unsigned t;

    rc = check(c, recv);
    if (rc)
        return rc;
    n = NN(c, i);
    t = NN(c, recv)->type;
    m = find_method(t ? t : ~0u, mname, mlen);
    if (m < 0) {
        int other = any_method(mname, mlen);
        struct suggest s = {NULL, SIZE_MAX};
        if (other >= 0) {
            rc = berth__rule_diag(c->diag, attr->ooff, attr->olen,
                                  "'%s' has no method '%.*s'",
                                  tname(t, tb, sizeof(tb)), (int)mlen, mname);
            berth__rule_hint(
                c->diag, "%s() is a %s method", berth__rule_methods[other].name,
                berth__rule_type_name(berth__rule_methods[other].recv));
            return rc;
        }
        if (attr_fields(t, mname, mlen, ids))
            return berth__rule_diag(c->diag, attr->ooff, attr->olen,
                                    "attribute '%.*s' is not callable",
                                    (int)mlen, mname);
        if (t & T_STR) {
            rc = berth__rule_diag(c->diag, attr->ooff, attr->olen,
                                  "unknown string method '%.*s'", (int)mlen,
                                  mname);
            for (int k = 0; k < M_COUNT; k++)
                if (berth__rule_methods[k].recv == T_STR)
                    consider(&s, mname, mlen, berth__rule_methods[k].name);
            if (s.best)
                berth__rule_hint(c->diag, "did you mean '%s'?", s.best);
            else
                berth__rule_hint(c->diag, "string methods are startswith, "
                                          "endswith, lower, upper, strip, "
                                          "lstrip, rstrip");
            return rc;
        }
        return unknown_attr(c, attr, t);
    }
    if (m == M_FILTER) {
        rc = berth__rule_diag(c->diag, n->off, n->len,
                              "filter() is only supported as "
                              "filter(name=...).exists()");
        berth__rule_hint(c->diag, "add .exists()");
        return rc;
    }
    count_args(c, n->b, &pos, &kw, &kwa);
    if (kw)
        return berth__rule_diag(c->diag, NN(c, kwa)->off, NN(c, kwa)->len,
                                "%s() takes no keyword arguments",
                                berth__rule_methods[m].name);
    if (pos < berth__rule_methods[m].min_args ||
        pos > berth__rule_methods[m].max_args)
        return arity_error(c, n, berth__rule_methods[m].name,
                           berth__rule_methods[m].min_args,
                           berth__rule_methods[m].max_args, pos);
    {
        int k = 0;
        for (int32_t a = n->b; a >= 0; a = NN(c, a)->next, k++) {
            unsigned at;
            rc = check(c, a);
            if (rc)
                return rc;
            at = NN(c, a)->type;
            if (!at)
                continue;
            if ((m == M_STARTSWITH || m == M_ENDSWITH) && !(at & T_STR))
                return berth__rule_diag(c->diag, NN(c, a)->off, NN(c, a)->len,
                                        "%s() needs a str argument, not "
                                        "'%s'",
                                        berth__rule_methods[m].name,
                                        tname(at, tb, sizeof(tb)));
            if ((m == M_STRIP || m == M_LSTRIP || m == M_RSTRIP) &&
                !(at & (T_STR | T_NONE)))
                return berth__rule_diag(c->diag, NN(c, a)->off, NN(c, a)->len,
                                        "%s() needs a str argument, not "
                                        "'%s'",
                                        berth__rule_methods[m].name,
                                        tname(at, tb, sizeof(tb)));
            if (m == M_GET && k == 0 && !(at & ~(unsigned)(T_SEQ | T_MAP)))
                return berth__rule_diag(c->diag, NN(c, a)->off, NN(c, a)->len,
                                        "unhashable type: '%s'",
                                        tname(at, tb, sizeof(tb)));
        }
    }
    n = NN(c, i);
    n->kind = N_METHOD;
    n->id = m;
    n->a = recv;
    n->ooff = attr->ooff;
    n->olen = attr->olen;
    switch (m) {
    case M_STARTSWITH:
    case M_ENDSWITH:
        n->type = T_BOOL;
        break;
    case M_GET:
        if (pos == 2) {
            int32_t d = NN(c, n->b)->next;
            n->type = (uint16_t)(T_STR | NN(c, d)->type);
            n->elem = NN(c, d)->elem;
        } else {
            n->type = T_STR | T_NONE;
        }
        break;
    default:
        n->type = T_STR;
    }
    return 0;
}

static int check_call(struct checker *c, int32_t i)
{
    struct node *n = NN(c, i);
    struct node *callee = NN(c, n->a);
    char tb[64];
    int rc;

    if (callee->kind == N_NAME) {
        const char *name = src(c, callee->ooff);
        if (eqn(name, callee->olen, "len"))
            return check_len(c, i);
        for (int f = 0; f < F_COUNT; f++)
            if (!berth__rule_fields[f].owner &&
                eqn(name, callee->olen, berth__rule_fields[f].name))
                return berth__rule_diag(
                    c->diag, callee->ooff, callee->olen,
                    "'%s' object is not callable",
                    tname(berth__rule_fields[f].type, tb, sizeof(tb)));
        return unknown_name(c, callee);
    }
    if (callee->kind == N_ATTR) {
        struct node *inner = NN(c, callee->a);
        if (eqn(src(c, callee->ooff), callee->olen, "exists") &&
            inner->kind == N_CALL && NN(c, inner->a)->kind == N_ATTR &&
            eqn(src(c, NN(c, inner->a)->ooff), NN(c, inner->a)->olen, "filter"))
            return check_exists(c, i, callee->a);
        return check_method(c, i);
    }
    rc = check(c, n->a);
    if (rc)
        return rc;
    callee = NN(c, n->a);
    return berth__rule_diag(c->diag, callee->off, callee->len,
                            "'%s' object is not callable",
                            tname(callee->type, tb, sizeof(tb)));
}

static int check_subscript(struct checker *c, int32_t i)
{
    struct node *n = NN(c, i);
    bool slice = n->kind == N_SLICE;
    int32_t kids[3] = {n->a, n->b, n->c};
    unsigned t, it, type = 0, elem = 0;
    char tb[64], tb2[64];
    int rc;

    for (int k = 0; k < 3; k++) {
        if (kids[k] < 0)
            continue;
        rc = check(c, kids[k]);
        if (rc)
            return rc;
    }
    n = NN(c, i);
    t = NN(c, n->a)->type;
    if (t && !(t & (T_STR | T_SEQ | (slice ? 0 : T_MAP)))) {
        if (slice || !(t & T_MAP))
            return berth__rule_diag(c->diag, n->ooff, n->olen,
                                    "'%s' object is not subscriptable",
                                    tname(t, tb, sizeof(tb)));
    }
    if (slice) {
        for (int k = 1; k < 3; k++) {
            unsigned bt = kids[k] >= 0 ? NN(c, kids[k])->type : T_NONE;
            if (bt && !(bt & (T_INTLIKE | T_NONE)))
                return berth__rule_diag(
                    c->diag, NN(c, kids[k])->off, NN(c, kids[k])->len,
                    "slice indices must be integers or None, not '%s'",
                    tname(bt, tb, sizeof(tb)));
        }
        if (t & T_STR)
            type |= T_STR;
        if (t & T_SEQ) {
            type |= T_LIST;
            elem |= NN(c, n->a)->elem;
        }
        n->type = (uint16_t)(t ? type : 0);
        n->elem = (uint16_t)elem;
        return 0;
    }
    it = NN(c, n->b)->type;
    if (it) {
        bool ok = false;
        if ((t & (T_STR | T_SEQ)) && (it & T_INTLIKE))
            ok = true;
        if ((t & T_MAP) && (it & ~(unsigned)(T_SEQ | T_MAP)))
            ok = true;
        if (!ok && t) {
            if (t & T_MAP)
                return berth__rule_diag(
                    c->diag, NN(c, n->b)->off, NN(c, n->b)->len,
                    "unhashable type: '%s'", tname(it, tb, sizeof(tb)));
            return berth__rule_diag(
                c->diag, NN(c, n->b)->off, NN(c, n->b)->len,
                "%s indices must be integers, not '%s'",
                tname(t & (T_STR | T_SEQ), tb2, sizeof(tb2)),
                tname(it, tb, sizeof(tb)));
        }
    }
    if (t & (T_STR | T_MAP | T_GROUPS))
        type |= T_STR;
    if (t & T_LIST)
        type |= NN(c, n->a)->elem;
    n->type = (uint16_t)type;
    return 0;
}

static bool is_singleton_literal(const struct node *n)
{
    return n->kind == N_NONE || n->kind == N_BOOL;
}

static int check_compare(struct checker *c, int32_t i)
{
    int32_t left = NN(c, i)->a;
    char tb[64], tb2[64];
    int rc;

    rc = check(c, left);
    if (rc)
        return rc;
    for (int32_t l = NN(c, i)->b; l >= 0; l = NN(c, l)->next) {
        struct node *link;
        int32_t right = NN(c, l)->a;
        unsigned ta, tb_, res;
        int op;
        rc = check(c, right);
        if (rc)
            return rc;
        link = NN(c, l);
        op = link->op;
        ta = NN(c, left)->type;
        tb_ = NN(c, right)->type;
        if ((op == OP_IS || op == OP_ISNOT) &&
            !is_singleton_literal(NN(c, left)) &&
            !is_singleton_literal(NN(c, right))) {
            rc = berth__rule_diag(c->diag, link->ooff, link->olen,
                                  "'%s' compares identity; berth supports "
                                  "it only with None, True or False",
                                  berth__rule_op_text(op));
            berth__rule_hint(c->diag, "use '%s' to compare values",
                             op == OP_IS ? "==" : "!=");
            return rc;
        }
        if (classify(op, false, ta, tb_, &res) != PC_OK) {
            if (op == OP_IN || op == OP_NOTIN) {
                if (tb_ == T_STR)
                    return berth__rule_diag(
                        c->diag, link->ooff, link->olen,
                        "'in <string>' requires string as left operand, "
                        "not %s",
                        tname(ta, tb, sizeof(tb)));
                if (tb_ & T_MAP)
                    return berth__rule_diag(c->diag, link->ooff, link->olen,
                                            "unhashable type: '%s'",
                                            tname(ta, tb, sizeof(tb)));
                return berth__rule_diag(c->diag, link->ooff, link->olen,
                                        "argument of type '%s' is not "
                                        "iterable",
                                        tname(tb_, tb, sizeof(tb)));
            }
            return berth__rule_diag(c->diag, link->ooff, link->olen,
                                    "'%s' not supported between instances "
                                    "of '%s' and '%s'",
                                    berth__rule_op_text(op),
                                    tname(ta, tb, sizeof(tb)),
                                    tname(tb_, tb2, sizeof(tb2)));
        }
        left = right;
    }
    NN(c, i)->type = T_BOOL;
    return 0;
}

static int check_binop(struct checker *c, int32_t i)
{
    struct node *n;
    unsigned ta, tb_, res;
    char b1[64], b2[64];
    int rc, k;

    rc = check(c, NN(c, i)->a);
    if (!rc)
        rc = check(c, NN(c, i)->b);
    if (rc)
        return rc;
    n = NN(c, i);
    ta = NN(c, n->a)->type;
    tb_ = NN(c, n->b)->type;
    k = classify(n->op, true, ta, tb_, &res);
    if (k == PC_UNSUP) {
        const char *what = n->op == OP_ADD   ? "list concatenation"
                           : n->op == OP_MUL ? "string and list repetition"
                                             : "'%' string formatting";
        return berth__rule_diag(c->diag, n->ooff, n->olen,
                                "%s is not supported", what);
    }
    if (k == PC_TYPE)
        return berth__rule_diag(c->diag, n->ooff, n->olen,
                                "unsupported operand type(s) for %s: '%s' "
                                "and '%s'",
                                berth__rule_op_text(n->op),
                                tname(ta, b1, sizeof(b1)),
                                tname(tb_, b2, sizeof(b2)));
    n->type = (uint16_t)res;
    return 0;
}

static int check_unary(struct checker *c, int32_t i)
{
    struct node *n;
    unsigned t;
    char tb[64];
    int rc = check(c, NN(c, i)->a);

    if (rc)
        return rc;
    n = NN(c, i);
    t = NN(c, n->a)->type;
    if (n->op == OP_NOT) {
        n->type = T_BOOL;
        return 0;
    }
    if (t && !(t & T_NUM))
        return berth__rule_diag(
            c->diag, n->ooff, n->olen, "bad operand type for unary %s: '%s'",
            berth__rule_op_text(n->op), tname(t, tb, sizeof(tb)));
    n->type = (uint16_t)(((t & T_INTLIKE) ? T_INT : 0) | (t & T_FLOAT));
    return 0;
}

static int check(struct checker *c, int32_t i)
{
    struct node *n = NN(c, i);
    unsigned type = 0, elem = 0;
    int rc;

    switch (n->kind) {
    case N_INT:
        n->type = T_INT;
        return 0;
    case N_FLOAT:
        n->type = T_FLOAT;
        return 0;
    case N_STR:
        n->type = T_STR;
        return 0;
    case N_BOOL:
        n->type = T_BOOL;
        return 0;
    case N_NONE:
        n->type = T_NONE;
        return 0;
    case N_LIST:
        for (int32_t e = n->a; e >= 0; e = NN(c, e)->next) {
            unsigned et;
            char tb[64];
            rc = check(c, e);
            if (rc)
                return rc;
            et = NN(c, e)->type;
            if (et & ~(unsigned)T_SCALAR)
                return berth__rule_diag(
                    c->diag, NN(c, e)->off, NN(c, e)->len,
                    "a list may hold numbers, strings, booleans and None, "
                    "not '%s'",
                    tname(et & ~(unsigned)T_SCALAR, tb, sizeof(tb)));
            elem |= et;
        }
        n = NN(c, i);
        n->type = T_LIST;
        n->elem = (uint16_t)elem;
        return 0;
    case N_NAME:
        return check_name(c, i);
    case N_ATTR:
        return check_attr(c, i);
    case N_CALL:
        return check_call(c, i);
    case N_INDEX:
    case N_SLICE:
        return check_subscript(c, i);
    case N_UNARY:
        return check_unary(c, i);
    case N_BINOP:
        return check_binop(c, i);
    case N_BOOLOP:
        for (int32_t e = n->a; e >= 0; e = NN(c, e)->next) {
            rc = check(c, e);
            if (rc)
                return rc;
            type |= NN(c, e)->type;
            elem |= NN(c, e)->elem;
        }
        n = NN(c, i);
        n->type = (uint16_t)type;
        n->elem = (uint16_t)elem;
        return 0;
    case N_COMPARE:
        return check_compare(c, i);
    case N_KWARG:
        return berth__rule_diag(c->diag, n->off, n->len,
                                "unexpected keyword argument");
    default:
        BERTH_BUG("check: node kind %d", n->kind);
    }
}

int berth__rule_check(struct ast *ast, struct berth_rule_diag *diag)
{
    struct checker c = {ast, diag};
    return check(&c, ast->root);
}
