/*
 * eval.c - run a compiled rule: a loop over the instruction array with a
 * fixed-size value stack, no recursion and no allocation. Strings made at
 * run time (lower(), upper(), +) go to a bounded scratch area in the
 * evaluator's own frame; lists built at run time to slots reserved at
 * compile time. A runtime error (DESIGN.md: `None > 5`, a missing label)
 * stops the evaluation with BERTH_E_RUNTIME and a Python-style message;
 * the router treats it as "no match".
 */
#include <string.h>

#include "rules/rules_int.h"

struct evalmem {
    struct val stack[RULE_STACK_MAX];
    struct val lists[RULE_LIST_MAX];
    char scratch[RULE_SCRATCH_MAX];
};

static int set_cstr(struct frame *f, struct val *v, const char *s)
{
    size_t n;
    if (!s)
        s = "";
    n = strlen(s);
    if (n > UINT32_MAX)
        return berth__rule_fail(f, "MemoryError: string too long");
    v->t = V_STR;
    v->n = (uint32_t)n;
    v->u.s = s;
    return 0;
}

static int no_attr(struct frame *f, const struct val *v, const char *name)
{
    return berth__rule_fail(f,
                            "AttributeError: '%s' object has no attribute "
                            "'%s'",
                            berth__rule_type_name(berth__rule_val_bit(v)),
                            name);
}

static int load_field(struct frame *f, unsigned id, struct val *v)
{
    const struct berth_rule_ctx *c = f->ctx;
    const struct berth_strv *g;

    switch (id) {
    case F_JOB:
        v->t = V_JOB;
        return 0;
    case F_TEMPLATE:
        v->t = V_TMPL;
        return 0;
    case F_USER:
        v->t = c->has_user ? V_USER : V_NONE;
        return 0;
    case F_MEMORY_MB:
        v->t = V_INT;
        v->u.i = c->memory_mb;
        return 0;
    case F_CPU_CORES:
        v->t = V_FLOAT;
        v->u.f = c->cpu_cores;
        return 0;
    case F_TIMEOUT_SECONDS:
        v->t = V_INT;
        v->u.i = c->timeout_seconds;
        return 0;
    case F_LABELS:
        v->t = V_MAP;
        v->u.m = c->labels;
        return 0;
    case F_HOUR:
        v->t = V_INT;
        v->u.i = c->hour;
        return 0;
    case F_WEEKDAY:
        v->t = V_INT;
        v->u.i = c->weekday;
        return 0;
    case F_JOB_ID:
        v->t = V_INT;
        v->u.i = c->job_id;
        return 0;
    case F_JOB_NAME:
        return set_cstr(f, v, c->job_name);
    case F_JOB_PRIORITY:
        v->t = V_INT;
        v->u.i = c->job_priority;
        return 0;
    case F_JOB_LABELS:
        v->t = V_MAP;
        v->u.m = c->job_labels;
        return 0;
    case F_JOB_PREFERRED_EXECUTOR:
        return set_cstr(f, v, c->job_preferred_executor);
    case F_TMPL_NAME:
        return set_cstr(f, v, c->template_name);
    case F_TMPL_IMAGE:
        return set_cstr(f, v, c->template_image);
    case F_TMPL_LABELS:
        v->t = V_MAP;
        v->u.m = c->template_labels;
        return 0;
    case F_TMPL_MEMORY_LIMIT:
        v->t = V_INT;
        v->u.i = c->template_memory_limit;
        return 0;
    case F_TMPL_CPU_LIMIT:
        v->t = V_FLOAT;
        v->u.f = c->template_cpu_limit;
        return 0;
    case F_TMPL_TIMEOUT_SECONDS:
        v->t = V_INT;
        v->u.i = c->template_timeout_seconds;
        return 0;
    case F_USER_NAME:
    case F_USER_GROUPS:
        if (!c->has_user) {
            struct val none = {.t = V_NONE};
            return no_attr(f, &none, berth__rule_fields[id].name);
        }
        if (id == F_USER_NAME)
            return set_cstr(f, v, c->user_name);
        g = c->user_groups;
        if (g && g->n > UINT32_MAX)
            return berth__rule_fail(f, "MemoryError: too many groups");
        v->t = V_GROUPS;
        v->u.sv = g ? g->v : NULL;
        v->n = g ? (uint32_t)g->n : 0;
        return 0;
    default:
        BERTH_BUG("load_field: %u", id);
    }
}

static int get_attr(struct frame *f, uint32_t packed, struct val *v)
{
    int ids[3] = {(int)(packed & 0xff) - 1, (int)((packed >> 8) & 0xff) - 1,
                  (int)((packed >> 16) & 0xff) - 1};
    int k = v->t == V_JOB ? 0 : v->t == V_TMPL ? 1 : v->t == V_USER ? 2 : -1;

    if (k < 0 || ids[k] < 0) {
        const char *name = "?";
        for (int j = 0; j < 3; j++)
            if (ids[j] >= 0)
                name = berth__rule_fields[ids[j]].name;
        return no_attr(f, v, name);
    }
    return load_field(f, (unsigned)ids[k], v);
}

/* ---- strings ----------------------------------------------------------- */

/* Python's str.isspace() for one code point. */
static bool is_space(uint32_t c)
{
    return (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20) || c == 0x85 ||
           c == 0xa0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200a) ||
           c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f ||
           c == 0x3000;
}

static bool in_chars(uint32_t c, const struct val *chars)
{
    for (size_t i = 0; i < chars->n;) {
        uint32_t d = 0;
        size_t k = berth_utf8_dec(chars->u.s + i, chars->n - i, &d);
        if (k == 0)
            k = 1;
        if (d == c)
            return true;
        i += k;
    }
    return false;
}

static bool strip_this(uint32_t c, const struct val *chars)
{
    return chars ? in_chars(c, chars) : is_space(c);
}

/* Start of the code point that ends at byte `end` (exclusive). */
static size_t prev_cp(const char *s, size_t end)
{
    size_t i = end - 1;
    while (i > 0 && ((unsigned char)s[i] & 0xc0) == 0x80)
        i--;
    return i;
}

static void do_strip(struct val *s, const struct val *chars, bool left,
                     bool right)
{
    size_t lo = 0, hi = s->n;
    while (left && lo < hi) {
        uint32_t c = 0;
        size_t k = berth_utf8_dec(s->u.s + lo, hi - lo, &c);
        if (k == 0 || !strip_this(c, chars))
            break;
        lo += k;
    }
    while (right && hi > lo) {
        size_t st = prev_cp(s->u.s, hi);
        uint32_t c = 0;
        if (st < lo || berth_utf8_dec(s->u.s + st, hi - st, &c) == 0 ||
            !strip_this(c, chars))
            break;
        hi = st;
    }
    s->u.s += lo;
    s->n = (uint32_t)(hi - lo);
}

static int change_case(struct frame *f, struct val *s, bool upper)
{
    size_t first = s->n;
    char *p;

    for (size_t i = 0; i < s->n; i++) {
        unsigned char ch = (unsigned char)s->u.s[i];
        if (ch >= 0x80)
            return berth__rule_fail(f,
                                    "UnsupportedError: %s() of non-ASCII "
                                    "text is not supported by berth",
                                    upper ? "upper" : "lower");
        if (first == s->n &&
            (upper ? (ch >= 'a' && ch <= 'z') : (ch >= 'A' && ch <= 'Z')))
            first = i;
    }
    if (first == s->n)
        return 0; /* nothing changes: keep the string */
    p = berth__rule_scratch(f, s->n);
    if (!p)
        return BERTH_E_RUNTIME;
    for (size_t i = 0; i < s->n; i++) {
        char ch = s->u.s[i];
        if (upper && ch >= 'a' && ch <= 'z')
            ch = (char)(ch - 'a' + 'A');
        else if (!upper && ch >= 'A' && ch <= 'Z')
            ch = (char)(ch - 'A' + 'a');
        p[i] = ch;
    }
    s->u.s = p;
    return 0;
}

static int method(struct frame *f, unsigned m, struct val *recv,
                  const struct val *args, unsigned nargs)
{
    const struct method_info *mi = &berth__rule_methods[m];
    bool ok = (mi->recv == T_STR && recv->t == V_STR) ||
              (mi->recv == T_MAP && recv->t == V_MAP);

    if (!ok)
        return no_attr(f, recv, mi->name);
    switch (m) {
    case M_STARTSWITH:
    case M_ENDSWITH: {
        const struct val *p = &args[0];
        bool r;
        if (p->t != V_STR)
            return berth__rule_fail(
                f,
                "TypeError: %s first arg must be str "
                "or a tuple of str, not %s",
                mi->name, berth__rule_type_name(berth__rule_val_bit(p)));
        r = p->n <= recv->n &&
            memcmp(m == M_STARTSWITH ? recv->u.s : recv->u.s + recv->n - p->n,
                   p->u.s, p->n) == 0;
        recv->t = V_BOOL;
        recv->u.i = r;
        return 0;
    }
    case M_LOWER:
    case M_UPPER:
        return change_case(f, recv, m == M_UPPER);
    case M_STRIP:
    case M_LSTRIP:
    case M_RSTRIP: {
        const struct val *chars = NULL;
        if (nargs == 1 && args[0].t != V_NONE) {
            if (args[0].t != V_STR)
                return berth__rule_fail(
                    f, "TypeError: %s arg must be None or str", mi->name);
            chars = &args[0];
        }
        do_strip(recv, chars, m != M_RSTRIP, m != M_LSTRIP);
        return 0;
    }
    case M_GET: {
        const struct val *k = &args[0];
        const char *v = NULL;
        if (k->t == V_LIST || k->t == V_STRV || k->t == V_GROUPS ||
            k->t == V_MAP)
            return berth__rule_fail(
                f, "TypeError: unhashable type: '%s'",
                berth__rule_type_name(berth__rule_val_bit(k)));
        if (k->t == V_STR)
            v = berth__rule_map_get(recv->u.m, k->u.s, k->n);
        if (v)
            return set_cstr(f, recv, v);
        if (nargs == 2) {
            *recv = args[1];
        } else {
            recv->t = V_NONE;
        }
        return 0;
    }
    default:
        BERTH_BUG("method %u", m);
    }
}

/* ---- subscripts --------------------------------------------------------- */

/* Byte offset of code point `idx` in s (idx <= number of code points). */
static size_t cp_offset(const struct val *s, size_t idx)
{
    size_t i = 0;
    if (idx == 0)
        return 0;
    for (size_t b = 0; b < s->n; b++) {
        if (((unsigned char)s->u.s[b] & 0xc0) != 0x80) {
            if (i == idx)
                return b;
            i++;
        }
    }
    return s->n;
}

static size_t seq_len(const struct val *v)
{
    return v->t == V_STR ? berth__rule_utf8_len(v->u.s, v->n) : v->n;
}

static int index_val(struct frame *f, struct val *a, const struct val *i)
{
    const char *tn = berth__rule_type_name(berth__rule_val_bit(a));
    int64_t k, n;

    if (a->t == V_MAP) {
        const char *v = NULL;
        char kb[160];
        struct sink s = {NULL, kb, sizeof(kb), 0};
        if (i->t == V_LIST || i->t == V_STRV || i->t == V_GROUPS ||
            i->t == V_MAP)
            return berth__rule_fail(
                f, "TypeError: unhashable type: '%s'",
                berth__rule_type_name(berth__rule_val_bit(i)));
        if (i->t == V_STR)
            v = berth__rule_map_get(a->u.m, i->u.s, i->n);
        if (v)
            return set_cstr(f, a, v);
        berth__rule_repr(&s, i);
        return berth__rule_fail(f, "KeyError: %s", kb);
    }
    if (a->t != V_STR && a->t != V_LIST && a->t != V_STRV && a->t != V_GROUPS)
        return berth__rule_fail(f,
                                "TypeError: '%s' object is not "
                                "subscriptable",
                                tn);
    if (i->t != V_INT && i->t != V_BOOL)
        return berth__rule_fail(f,
                                "TypeError: %s indices must be integers, "
                                "not %s",
                                a->t == V_STR ? "string" : "list",
                                berth__rule_type_name(berth__rule_val_bit(i)));
    n = (int64_t)seq_len(a);
    k = i->u.i;
    if (k < 0)
        k += n;
    if (k < 0 || k >= n)
        return berth__rule_fail(f, "IndexError: %s index out of range",
                                a->t == V_STR ? "string" : "list");
    if (a->t == V_STR) {
        size_t b = cp_offset(a, (size_t)k), e = cp_offset(a, (size_t)k + 1);
        a->u.s += b;
        a->n = (uint32_t)(e - b);
        return 0;
    }
    *a = berth__rule_elem(a, (size_t)k);
    return 0;
}

/* Python's slice.indices() clamping for step 1. */
static int slice_bound(struct frame *f, const struct val *b, int64_t n,
                       int64_t dflt, int64_t *out)
{
    int64_t k;
    if (b->t == V_NONE) {
        *out = dflt;
        return 0;
    }
    if (b->t != V_INT && b->t != V_BOOL)
        return berth__rule_fail(f, "TypeError: slice indices must be "
                                   "integers or None or have an __index__ "
                                   "method");
    k = b->u.i;
    if (k < 0) {
        k += n;
        if (k < 0)
            k = 0;
    } else if (k > n) {
        k = n;
    }
    *out = k;
    return 0;
}

static int slice_val(struct frame *f, struct val *a, const struct val *lo,
                     const struct val *hi)
{
    int64_t n, s = 0, e = 0;
    int rc;

    if (a->t != V_STR && a->t != V_LIST && a->t != V_STRV && a->t != V_GROUPS)
        return berth__rule_fail(f,
                                "TypeError: '%s' object is not "
                                "subscriptable",
                                berth__rule_type_name(berth__rule_val_bit(a)));
    n = (int64_t)seq_len(a);
    rc = slice_bound(f, lo, n, 0, &s);
    if (!rc)
        rc = slice_bound(f, hi, n, n, &e);
    if (rc)
        return rc;
    if (e < s)
        e = s;
    if (a->t == V_STR) {
        size_t bs = cp_offset(a, (size_t)s), be = cp_offset(a, (size_t)e);
        a->u.s += bs;
        a->n = (uint32_t)(be - bs);
    } else if (a->t == V_LIST) {
        a->u.l += s;
        a->n = (uint32_t)(e - s);
    } else {
        /* A slice of user.groups is a plain list: no filter() on it. */
        a->t = V_STRV;
        a->u.sv += s;
        a->n = (uint32_t)(e - s);
    }
    return 0;
}

static int len_val(struct frame *f, struct val *a)
{
    int64_t n;
    switch (a->t) {
    case V_STR:
        n = (int64_t)berth__rule_utf8_len(a->u.s, a->n);
        break;
    case V_LIST:
    case V_STRV:
    case V_GROUPS:
        n = a->n;
        break;
    case V_MAP:
        n = a->u.m ? (int64_t)a->u.m->n : 0;
        break;
    default:
        return berth__rule_fail(f,
                                "TypeError: object of type '%s' has no "
                                "len()",
                                berth__rule_type_name(berth__rule_val_bit(a)));
    }
    a->t = V_INT;
    a->u.i = n;
    return 0;
}

static int exists(struct frame *f, struct val *groups, const struct val *name)
{
    bool r = false;
    if (groups->t != V_GROUPS)
        return no_attr(f, groups, "filter");
    for (size_t i = 0; i < groups->n && !r; i++) {
        struct val e = berth__rule_elem(groups, i);
        r = berth__rule_eq(name, &e);
    }
    groups->t = V_BOOL;
    groups->u.i = r;
    return 0;
}

/* ---- the loop ------------------------------------------------------------ */

static inline bool order_result(int op, int c)
{
    switch (op) {
    case OP_EQ:
        return c == 0;
    case OP_NE:
        return c != 0;
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

/*
 * The common cases of routing rules, without a call: comparisons of two
 * ints, two floats, or an int and a float that converts exactly. Returns
 * false to leave the operation to berth__rule_binop(). a is overwritten
 * with the result.
 */
static inline bool fast_compare(int op, struct val *a, const struct val *b)
{
    const int64_t lim = INT64_C(1) << 53;
    double x, y;
    int c;

    if (op < OP_EQ || op > OP_GE)
        return false;
    if (a->t == V_INT && b->t == V_INT) {
        c = a->u.i < b->u.i ? -1 : a->u.i > b->u.i;
    } else {
        if (a->t == V_FLOAT)
            x = a->u.f;
        else if (a->t == V_INT && a->u.i > -lim && a->u.i < lim)
            x = (double)a->u.i;
        else
            return false;
        if (b->t == V_FLOAT)
            y = b->u.f;
        else if (b->t == V_INT && b->u.i > -lim && b->u.i < lim)
            y = (double)b->u.i;
        else
            return false;
        if (x != x || y != y) {
            /* nan: only != holds, as in Python. */
            a->t = V_BOOL;
            a->u.i = op == OP_NE;
            return true;
        }
        c = x < y ? -1 : x > y;
    }
    a->t = V_BOOL;
    a->u.i = order_result(op, c);
    return true;
}

static inline __attribute__((always_inline)) int run(const struct berth_rule *r,
                                                     struct frame *f,
                                                     struct val *stack,
                                                     struct val *out)
{
    const struct insn *code = r->code;
    struct val *sp = stack;
    size_t pc = 0;
    int rc = 0;

    for (;;) {
        const struct insn *in = &code[pc++];
        switch (in->op) {
        case I_CONST:
            *sp++ = r->consts[in->arg];
            break;
        case I_FIELD:
            rc = load_field(f, in->arg, sp);
            if (rc)
                return rc;
            sp++;
            break;
        case I_ATTR:
            rc = get_attr(f, in->arg, &sp[-1]);
            if (rc)
                return rc;
            break;
        case I_MKLIST: {
            struct val *slots = f->lists + in->arg;
            sp -= in->n;
            memcpy(slots, sp, in->n * sizeof(*sp));
            sp->t = V_LIST;
            sp->n = in->n;
            sp->u.l = slots;
            sp++;
            break;
        }
        case I_BINOP:
            if (!fast_compare(in->a, &sp[-2], &sp[-1])) {
                rc = berth__rule_binop(f, in->a, &sp[-2], &sp[-1], &sp[-2]);
                if (rc)
                    return rc;
            }
            sp--;
            break;
        case I_BINOPK:
            if (!fast_compare(in->a, &sp[-1], &r->consts[in->arg])) {
                rc = berth__rule_binop(f, in->a, &sp[-1], &r->consts[in->arg],
                                       &sp[-1]);
                if (rc)
                    return rc;
            }
            break;
        case I_FIELDK:
            rc = load_field(f, in->n, sp);
            if (rc)
                return rc;
            if (!fast_compare(in->a, sp, &r->consts[in->arg])) {
                rc = berth__rule_binop(f, in->a, sp, &r->consts[in->arg], sp);
                if (rc)
                    return rc;
            }
            sp++;
            break;
        case I_AFFIXK: {
            const struct val *p = &r->consts[in->arg];
            struct val *s = &sp[-1];
            bool res = false;
            if (s->t != V_STR)
                return no_attr(f, s, berth__rule_methods[in->a].name);
            if (p->n <= s->n) {
                const char *x =
                    in->a == M_STARTSWITH ? s->u.s : s->u.s + s->n - p->n;
                uint32_t k = 0;
                /* Prefixes are short: no call to memcmp. */
                while (k < p->n && x[k] == p->u.s[k])
                    k++;
                res = k == p->n;
            }
            s->t = V_BOOL;
            s->u.i = res;
            break;
        }
        case I_UNARY:
            rc = berth__rule_unary(f, in->a, &sp[-1], &sp[-1]);
            if (rc)
                return rc;
            break;
        case I_CHAIN: {
            struct val res;
            rc = berth__rule_binop(f, in->a, &sp[-2], &sp[-1], &res);
            if (rc)
                return rc;
            if (res.u.i) {
                sp[-2] = sp[-1];
                sp--;
            } else {
                sp[-2] = res;
                sp--;
                pc = in->arg;
            }
            break;
        }
        case I_JFALSE:
            if (!berth__rule_truthy(&sp[-1]))
                pc = in->arg;
            else
                sp--;
            break;
        case I_JTRUE:
            if (berth__rule_truthy(&sp[-1]))
                pc = in->arg;
            else
                sp--;
            break;
        case I_LEN:
            rc = len_val(f, &sp[-1]);
            if (rc)
                return rc;
            break;
        case I_METHOD:
            sp -= in->a;
            rc = method(f, in->arg, &sp[-1], sp, in->a);
            if (rc)
                return rc;
            break;
        case I_EXISTS:
            rc = exists(f, &sp[-2], &sp[-1]);
            if (rc)
                return rc;
            sp--;
            break;
        case I_INDEX:
            rc = index_val(f, &sp[-2], &sp[-1]);
            if (rc)
                return rc;
            sp--;
            break;
        case I_SLICE:
            rc = slice_val(f, &sp[-3], &sp[-2], &sp[-1]);
            if (rc)
                return rc;
            sp -= 2;
            break;
        case I_RET:
            *out = sp[-1];
            return 0;
        default:
            BERTH_BUG("rule opcode %d", in->op);
        }
    }
}

static void frame_init(struct frame *f, struct evalmem *m,
                       const struct berth_rule_ctx *ctx, struct berth_err *err)
{
    f->ctx = ctx;
    f->lists = m->lists;
    f->scratch = m->scratch;
    f->used = 0;
    f->err = err;
}

int berth_rule_match(const struct berth_rule *r,
                     const struct berth_rule_ctx *ctx, struct berth_err *err)
{
    struct evalmem m;
    struct frame f;
    struct val v = {.t = V_NONE};
    int rc;

    frame_init(&f, &m, ctx, err);
    rc = run(r, &f, m.stack, &v);
    if (rc)
        return rc;
    return berth__rule_truthy(&v) ? 1 : 0;
}

int berth_rule_eval_repr(const struct berth_rule *r,
                         const struct berth_rule_ctx *ctx,
                         struct berth_buf *out, struct berth_err *err)
{
    struct evalmem m;
    struct frame f;
    struct val v = {.t = V_NONE};
    struct sink s = {out, NULL, 0, 0};
    int rc;

    frame_init(&f, &m, ctx, err);
    rc = run(r, &f, m.stack, &v);
    if (rc)
        return rc;
    berth__rule_repr(&s, &v);
    return 0;
}
