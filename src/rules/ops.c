/*
 * ops.c - the operators on runtime values, with Python's semantics where
 * a rule can observe them: bool is an int; int and float compare exactly
 * (not by converting the int); `/` is true division, `//` and `%` floor
 * towards negative infinity; strings compare by code point; lists compare
 * element-wise; `in` is substring, membership or key lookup.
 *
 * berth's integers are 64-bit: where Python would grow a big integer, the
 * evaluation stops with an OverflowError instead (documented in
 * docs/rules.md).
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "rules/rules_int.h"

int berth__rule_fail(struct frame *f, const char *fmt, ...)
{
    char msg[BERTH_ERR_MSG_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return berth_err_set(f->err, BERTH_E_RUNTIME, "%s", msg);
}

char *berth__rule_scratch(struct frame *f, size_t n)
{
    char *p;
    if (n > RULE_SCRATCH_MAX - f->used) {
        berth__rule_fail(f,
                         "MemoryError: strings made while evaluating a "
                         "rule exceed %d bytes",
                         RULE_SCRATCH_MAX);
        return NULL;
    }
    p = f->scratch + f->used;
    f->used += n;
    return p;
}

unsigned berth__rule_val_bit(const struct val *v)
{
    static const unsigned bits[] = {
        [V_NONE] = T_NONE,   [V_BOOL] = T_BOOL,     [V_INT] = T_INT,
        [V_FLOAT] = T_FLOAT, [V_STR] = T_STR,       [V_LIST] = T_LIST,
        [V_STRV] = T_LIST,   [V_GROUPS] = T_GROUPS, [V_MAP] = T_MAP,
        [V_JOB] = T_JOB,     [V_TMPL] = T_TMPL,     [V_USER] = T_USER,
    };
    return bits[v->t];
}

static const char *vname(const struct val *v)
{
    return berth__rule_type_name(berth__rule_val_bit(v));
}

static bool is_list(const struct val *v)
{
    return v->t == V_LIST || v->t == V_STRV || v->t == V_GROUPS;
}

struct val berth__rule_elem(const struct val *l, size_t i)
{
    struct val e;
    const char *s;

    if (l->t == V_LIST)
        return l->u.l[i];
    s = l->u.sv[i] ? l->u.sv[i] : "";
    e.t = V_STR;
    e.u.s = s;
    e.n = (uint32_t)strlen(s);
    return e;
}

const char *berth__rule_map_get(const struct berth_map *m, const char *key,
                                size_t n)
{
    /* Keys are C strings: a key holding a NUL byte is never present. */
    if (!m || memchr(key, '\0', n) != NULL)
        return NULL;
    for (size_t i = 0; i < m->n; i++) {
        const char *k = m->kv[i].key;
        if (strncmp(k, key, n) == 0 && k[n] == '\0')
            return m->kv[i].value ? m->kv[i].value : "";
    }
    return NULL;
}

/* ---- numbers ------------------------------------------------------------ */

/* 0: not a number, 1: int (or bool) in *i, 2: float in *d. */
static int num(const struct val *v, int64_t *i, double *d)
{
    if (v->t == V_INT || v->t == V_BOOL) {
        *i = v->u.i;
        return 1;
    }
    if (v->t == V_FLOAT) {
        *d = v->u.f;
        return 2;
    }
    return 0;
}

/*
 * Compare an int with a float exactly, as Python does (2**53 + 1 is not
 * equal to 2.0**53). Returns -1, 0, 1, or 2 when unordered (nan).
 */
static int cmp_int_float(int64_t i, double d)
{
    double t;
    int64_t ti;

    if (isnan(d))
        return 2;
    if (isinf(d))
        return d > 0 ? -1 : 1;
    if (i > -(INT64_C(1) << 53) && i < (INT64_C(1) << 53)) {
        double x = (double)i;
        return x < d ? -1 : x > d ? 1 : 0;
    }
    if (d >= 9223372036854775808.0)
        return -1;
    if (d < -9223372036854775808.0)
        return 1;
    t = trunc(d);
    ti = (int64_t)t;
    if (i != ti)
        return i < ti ? -1 : 1;
    return d > t ? -1 : d < t ? 1 : 0;
}

/* Compare two numbers: -1, 0, 1, or 2 when unordered. */
static int num_cmp(int ka, int64_t ia, double da, int kb, int64_t ib, double db)
{
    if (ka == 1 && kb == 1)
        return ia < ib ? -1 : ia > ib ? 1 : 0;
    if (ka == 2 && kb == 2) {
        if (isnan(da) || isnan(db))
            return 2;
        return da < db ? -1 : da > db ? 1 : 0;
    }
    if (ka == 1)
        return cmp_int_float(ia, db);
    {
        int c = cmp_int_float(ib, da);
        return c == 2 ? 2 : -c;
    }
}

/*
 * a / b for 64-bit ints, correctly rounded as Python's int true division
 * is: exact when both fit in a double's mantissa, else by a wide integer
 * quotient with a sticky bit.
 */
static double int_truediv(int64_t a, int64_t b)
{
    const int64_t lim = INT64_C(1) << 53;
    __extension__ typedef unsigned __int128 u128;
    uint64_t ua, ub;
    u128 q, r;
    int la, lb, shift;
    bool neg;
    double d;

    if (a > -lim && a < lim && b > -lim && b < lim)
        return (double)a / (double)b;
    neg = (a < 0) != (b < 0);
    ua = a < 0 ? (uint64_t)0 - (uint64_t)a : (uint64_t)a;
    ub = b < 0 ? (uint64_t)0 - (uint64_t)b : (uint64_t)b;
    if (ua == 0)
        return neg ? -0.0 : 0.0;
    la = 64 - __builtin_clzll(ua);
    lb = 64 - __builtin_clzll(ub);
    /* Scale so that the quotient has at least 55 significant bits. */
    shift = 55 + lb - la;
    if (shift < 0)
        shift = 0;
    q = ((u128)ua << shift) / ub;
    r = ((u128)ua << shift) % ub;
    if (r)
        q |= 1;
    d = ldexp((double)q, -shift);
    return neg ? -d : d;
}

/* CPython's float floor division and modulo (floatobject.c, divmod). */
static void float_divmod(double vx, double wx, double *floordiv, double *mod)
{
    double div, m = fmod(vx, wx);

    div = (vx - m) / wx;
    if (m != 0.0) {
        if ((wx < 0) != (m < 0)) {
            m += wx;
            div -= 1.0;
        }
    } else {
        m = copysign(0.0, wx);
    }
    if (div != 0.0) {
        double fd = floor(div);
        if (div - fd > 0.5)
            fd += 1.0;
        *floordiv = fd;
    } else {
        *floordiv = copysign(0.0, vx / wx);
    }
    *mod = m;
}

static int overflow(struct frame *f)
{
    return berth__rule_fail(f, "OverflowError: integer result out of range "
                               "(berth integers are 64-bit)");
}

static int arith(struct frame *f, int op, const struct val *a,
                 const struct val *b, struct val *out)
{
    int64_t ia = 0, ib = 0, r;
    double da = 0, db = 0;
    int ka = num(a, &ia, &da), kb = num(b, &ib, &db);

    if (!ka || !kb) {
        if (op == OP_ADD && a->t == V_STR && b->t == V_STR) {
            char *p;
            if (a->n == 0) {
                *out = *b;
                return 0;
            }
            if (b->n == 0) {
                *out = *a;
                return 0;
            }
            p = berth__rule_scratch(f, (size_t)a->n + b->n);
            if (!p)
                return BERTH_E_RUNTIME;
            memcpy(p, a->u.s, a->n);
            memcpy(p + a->n, b->u.s, b->n);
            out->t = V_STR;
            out->n = a->n + b->n;
            out->u.s = p;
            return 0;
        }
        if (op == OP_ADD && a->t == V_STR)
            return berth__rule_fail(f,
                                    "TypeError: can only concatenate str "
                                    "(not \"%s\") to str",
                                    vname(b));
        return berth__rule_fail(f,
                                "TypeError: unsupported operand type(s) for "
                                "%s: '%s' and '%s'",
                                berth__rule_op_text(op), vname(a), vname(b));
    }

    if (ka == 1 && kb == 1) {
        out->t = V_INT;
        switch (op) {
        case OP_ADD:
            if (__builtin_add_overflow(ia, ib, &r))
                return overflow(f);
            out->u.i = r;
            return 0;
        case OP_SUB:
            if (__builtin_sub_overflow(ia, ib, &r))
                return overflow(f);
            out->u.i = r;
            return 0;
        case OP_MUL:
            if (__builtin_mul_overflow(ia, ib, &r))
                return overflow(f);
            out->u.i = r;
            return 0;
        case OP_DIV:
            if (ib == 0)
                return berth__rule_fail(f, "ZeroDivisionError: division by "
                                           "zero");
            out->t = V_FLOAT;
            out->u.f = int_truediv(ia, ib);
            return 0;
        case OP_FDIV:
            if (ib == 0)
                return berth__rule_fail(f, "ZeroDivisionError: integer "
                                           "division or modulo by zero");
            if (ia == INT64_MIN && ib == -1)
                return overflow(f);
            r = ia / ib;
            if ((ia % ib != 0) && ((ia < 0) != (ib < 0)))
                r--;
            out->u.i = r;
            return 0;
        case OP_MOD:
            if (ib == 0)
                return berth__rule_fail(f, "ZeroDivisionError: integer "
                                           "division or modulo by zero");
            if (ib == -1) {
                out->u.i = 0;
                return 0;
            }
            r = ia % ib;
            if (r != 0 && ((r < 0) != (ib < 0)))
                r += ib;
            out->u.i = r;
            return 0;
        default:
            BERTH_BUG("arith: op %d", op);
        }
    }

    if (ka == 1)
        da = (double)ia;
    if (kb == 1)
        db = (double)ib;
    out->t = V_FLOAT;
    switch (op) {
    case OP_ADD:
        out->u.f = da + db;
        return 0;
    case OP_SUB:
        out->u.f = da - db;
        return 0;
    case OP_MUL:
        out->u.f = da * db;
        return 0;
    case OP_DIV:
        if (db == 0.0)
            return berth__rule_fail(f, "ZeroDivisionError: float division "
                                       "by zero");
        out->u.f = da / db;
        return 0;
    case OP_FDIV:
    case OP_MOD: {
        double fd, m;
        if (db == 0.0)
            return berth__rule_fail(f, "ZeroDivisionError: float %s",
                                    op == OP_FDIV ? "floor division by zero"
                                                  : "modulo");
        float_divmod(da, db, &fd, &m);
        out->u.f = op == OP_FDIV ? fd : m;
        return 0;
    }
    default:
        BERTH_BUG("arith: op %d", op);
    }
}

/* ---- equality and ordering ------------------------------------------- */

static bool map_eq(const struct berth_map *a, const struct berth_map *b)
{
    size_t na = a ? a->n : 0, nb = b ? b->n : 0;
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++) {
        const char *v =
            berth__rule_map_get(b, a->kv[i].key, strlen(a->kv[i].key));
        if (!v || strcmp(v, a->kv[i].value ? a->kv[i].value : "") != 0)
            return false;
    }
    return true;
}

/* == on values that are not lists (list elements are scalars). */
static bool eq_flat(const struct val *a, const struct val *b)
{
    int64_t ia = 0, ib = 0;
    double da = 0, db = 0;
    int ka = num(a, &ia, &da), kb = num(b, &ib, &db);

    if (ka && kb)
        return num_cmp(ka, ia, da, kb, ib, db) == 0;
    if (a->t != b->t)
        return false;
    switch (a->t) {
    case V_NONE:
    case V_JOB:
    case V_TMPL:
    case V_USER:
        return true;
    case V_STR:
        return a->n == b->n && memcmp(a->u.s, b->u.s, a->n) == 0;
    case V_MAP:
        return map_eq(a->u.m, b->u.m);
    default:
        return false;
    }
}

bool berth__rule_eq(const struct val *a, const struct val *b)
{
    if (is_list(a) && is_list(b)) {
        if (a->n != b->n)
            return false;
        for (size_t i = 0; i < a->n; i++) {
            struct val ea = berth__rule_elem(a, i);
            struct val eb = berth__rule_elem(b, i);
            if (!eq_flat(&ea, &eb))
                return false;
        }
        return true;
    }
    if (is_list(a) || is_list(b))
        return false;
    return eq_flat(a, b);
}

static bool apply_order(int op, int c)
{
    switch (op) {
    case OP_LT:
        return c < 0;
    case OP_LE:
        return c <= 0;
    case OP_GT:
        return c > 0;
    default:
        return c >= 0;
    }
}

static int order_flat(struct frame *f, int op, const struct val *a,
                      const struct val *b, bool *res)
{
    int64_t ia = 0, ib = 0;
    double da = 0, db = 0;
    int ka = num(a, &ia, &da), kb = num(b, &ib, &db);

    if (ka && kb) {
        int c = num_cmp(ka, ia, da, kb, ib, db);
        *res = c != 2 && apply_order(op, c);
        return 0;
    }
    if (a->t == V_STR && b->t == V_STR) {
        size_t n = a->n < b->n ? a->n : b->n;
        int c = n ? memcmp(a->u.s, b->u.s, n) : 0;
        if (c == 0)
            c = a->n < b->n ? -1 : a->n > b->n ? 1 : 0;
        *res = apply_order(op, c);
        return 0;
    }
    return berth__rule_fail(f,
                            "TypeError: '%s' not supported between "
                            "instances of '%s' and '%s'",
                            berth__rule_op_text(op), vname(a), vname(b));
}

/* Python's list ordering: the first differing elements decide. */
static int order(struct frame *f, int op, const struct val *a,
                 const struct val *b, bool *res)
{
    size_t i, n;

    if (!is_list(a) || !is_list(b))
        return order_flat(f, op, a, b, res);
    n = a->n < b->n ? a->n : b->n;
    for (i = 0; i < n; i++) {
        struct val ea = berth__rule_elem(a, i);
        struct val eb = berth__rule_elem(b, i);
        if (!eq_flat(&ea, &eb))
            return order_flat(f, op, &ea, &eb, res);
    }
    *res = apply_order(op, a->n < b->n ? -1 : a->n > b->n ? 1 : 0);
    return 0;
}

static int contains(struct frame *f, const struct val *a, const struct val *b,
                    bool *res)
{
    switch (b->t) {
    case V_STR:
        if (a->t != V_STR)
            return berth__rule_fail(f,
                                    "TypeError: 'in <string>' requires "
                                    "string as left operand, not %s",
                                    vname(a));
        *res = a->n == 0 ||
               (a->n <= b->n && memmem(b->u.s, b->n, a->u.s, a->n) != NULL);
        return 0;
    case V_LIST:
    case V_STRV:
    case V_GROUPS:
        *res = false;
        for (size_t i = 0; i < b->n && !*res; i++) {
            struct val e = berth__rule_elem(b, i);
            *res = berth__rule_eq(a, &e);
        }
        return 0;
    case V_MAP:
        if (is_list(a) || a->t == V_MAP)
            return berth__rule_fail(f, "TypeError: unhashable type: '%s'",
                                    vname(a));
        *res =
            a->t == V_STR && berth__rule_map_get(b->u.m, a->u.s, a->n) != NULL;
        return 0;
    default:
        return berth__rule_fail(f,
                                "TypeError: argument of type '%s' is not "
                                "iterable",
                                vname(b));
    }
}

int berth__rule_binop(struct frame *f, int op, const struct val *a,
                      const struct val *b, struct val *out)
{
    bool res = false;
    int rc = 0;

    switch (op) {
    case OP_ADD:
    case OP_SUB:
    case OP_MUL:
    case OP_DIV:
    case OP_FDIV:
    case OP_MOD:
        return arith(f, op, a, b, out);
    case OP_EQ:
        res = berth__rule_eq(a, b);
        break;
    case OP_NE:
        res = !berth__rule_eq(a, b);
        break;
    case OP_LT:
    case OP_LE:
    case OP_GT:
    case OP_GE:
        rc = order(f, op, a, b, &res);
        break;
    case OP_IN:
        rc = contains(f, a, b, &res);
        break;
    case OP_NOTIN:
        rc = contains(f, a, b, &res);
        res = !res;
        break;
    case OP_IS:
    case OP_ISNOT:
        /* One side is None, True or False (check.c insists), so identity
         * is sameness of these singletons. */
        res = a->t == b->t &&
              (a->t == V_NONE || (a->t == V_BOOL && a->u.i == b->u.i));
        if (op == OP_ISNOT)
            res = !res;
        break;
    default:
        BERTH_BUG("binop: op %d", op);
    }
    if (rc)
        return rc;
    out->t = V_BOOL;
    out->u.i = res;
    return 0;
}

int berth__rule_unary(struct frame *f, int op, const struct val *a,
                      struct val *out)
{
    if (op == OP_NOT) {
        bool t = berth__rule_truthy(a); /* out may be a */
        out->t = V_BOOL;
        out->u.i = !t;
        return 0;
    }
    switch (a->t) {
    case V_BOOL:
    case V_INT:
        if (op == OP_NEG && a->u.i == INT64_MIN)
            return overflow(f);
        out->t = V_INT;
        out->u.i = op == OP_NEG ? -a->u.i : a->u.i;
        return 0;
    case V_FLOAT:
        out->t = V_FLOAT;
        out->u.f = op == OP_NEG ? -a->u.f : a->u.f;
        return 0;
    default:
        return berth__rule_fail(f,
                                "TypeError: bad operand type for unary %s: "
                                "'%s'",
                                berth__rule_op_text(op), vname(a));
    }
}
