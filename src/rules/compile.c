/*
 * compile.c - the checked tree to a flat instruction array, and the public
 * berth_rule_compile().
 *
 * Jumps only go forward (and/or short-circuit, chained comparisons), so
 * every instruction runs at most once per evaluation: the cost of a rule is
 * bounded by its length, and the slots of lists built at run time can be
 * handed out here, at compile time. The compiled rule is one allocation:
 * header, code, constants, constant list elements, string bytes and the
 * source text.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/rules_int.h"

static const char *const op_texts[OP_COUNT] = {
#define RULE_OP_TEXT(name, text) text,
    RULE_OPS(RULE_OP_TEXT)
#undef RULE_OP_TEXT
};

const char *berth__rule_op_text(int op)
{
    return op >= 0 && op < OP_COUNT ? op_texts[op] : "?";
}

struct compiler {
    const struct ast *ast;
    struct berth_rule_diag *diag;
    struct insn *code;
    size_t ncode, capcode;
    struct val *consts; /* strings and lists hold offsets until the end */
    size_t nconsts, capconsts;
    struct val *elems; /* elements of constant lists */
    size_t nelems, capelems;
    size_t depth, max_depth;
    size_t list_slots;
};

static const struct node *CN(const struct compiler *c, int32_t i)
{
    return &c->ast->nodes[i];
}

static int emit(struct compiler *c, enum rule_opcode op, unsigned a,
                uint32_t arg, int effect, const struct node *at)
{
    struct insn *in;
    if (c->ncode == c->capcode) {
        c->capcode = c->capcode ? c->capcode * 2 : 16;
        c->code = berth_xrealloc(c->code, c->capcode * sizeof(*c->code));
    }
    in = &c->code[c->ncode++];
    in->op = (uint8_t)op;
    in->a = (uint8_t)a;
    in->n = 0;
    in->arg = arg;
    c->depth = (size_t)((long)c->depth + effect);
    if (c->depth > c->max_depth) {
        c->max_depth = c->depth;
        if (c->max_depth > RULE_STACK_MAX)
            return berth__rule_diag(c->diag, at->off, at->len,
                                    "expression too large (needs more than "
                                    "%d evaluation slots)",
                                    RULE_STACK_MAX);
    }
    return 0;
}

/*
 * Pending forward jumps form a chain through their `arg` fields (the index
 * of the previous pending jump, or NO_JUMP); patch_chain() points them all
 * at the next instruction.
 */
#define NO_JUMP UINT32_MAX

static void patch_chain(struct compiler *c, uint32_t head)
{
    while (head != NO_JUMP) {
        uint32_t prev = c->code[head].arg;
        c->code[head].arg = (uint32_t)c->ncode;
        head = prev;
    }
}

static uint32_t add_const(struct compiler *c, const struct val *v)
{
    if (c->nconsts == c->capconsts) {
        c->capconsts = c->capconsts ? c->capconsts * 2 : 8;
        c->consts =
            berth_xrealloc(c->consts, c->capconsts * sizeof(*c->consts));
    }
    c->consts[c->nconsts] = *v;
    return (uint32_t)c->nconsts++;
}

static bool is_const(const struct compiler *c, int32_t i)
{
    const struct node *n = CN(c, i);
    switch (n->kind) {
    case N_INT:
    case N_FLOAT:
    case N_STR:
    case N_BOOL:
    case N_NONE:
        return true;
    case N_UNARY:
        return (n->op == OP_NEG || n->op == OP_POS) &&
               (CN(c, n->a)->kind == N_INT || CN(c, n->a)->kind == N_FLOAT) &&
               !(n->op == OP_NEG && CN(c, n->a)->kind == N_INT &&
                 CN(c, n->a)->v.i == INT64_MIN);
    default:
        return false;
    }
}

/* The value of a constant node; strings carry their pool offset. */
static struct val const_val(const struct compiler *c, int32_t i)
{
    const struct node *n = CN(c, i);
    struct val v;
    memset(&v, 0, sizeof(v));
    switch (n->kind) {
    case N_INT:
        v.t = V_INT;
        v.u.i = n->v.i;
        break;
    case N_FLOAT:
        v.t = V_FLOAT;
        v.u.f = n->v.f;
        break;
    case N_STR:
        v.t = V_STR;
        v.n = n->v.s.len;
        v.u.i = n->v.s.off;
        break;
    case N_BOOL:
        v.t = V_BOOL;
        v.u.i = n->v.i;
        break;
    case N_NONE:
        v.t = V_NONE;
        break;
    case N_UNARY:
        v = const_val(c, n->a);
        if (n->op == OP_NEG) {
            if (v.t == V_INT)
                v.u.i = -v.u.i;
            else
                v.u.f = -v.u.f;
        }
        break;
    default:
        BERTH_BUG("const_val: node kind %d", n->kind);
    }
    return v;
}

static int gen(struct compiler *c, int32_t i);

/*
 * The operator of a binary node whose left operand is on the stack: with a
 * constant (scalar) right operand, one BINOPK that reads the constant
 * itself (the caller did not push it); else BINOP over two pushed values.
 */
/* The field a node loads with one FIELD instruction, or -1. */
static int field_of(const struct compiler *c, int32_t i)
{
    const struct node *n = CN(c, i), *obj;
    int ids[3];

    if (n->kind == N_NAME)
        return n->id;
    if (n->kind != N_ATTR)
        return -1;
    obj = CN(c, n->a);
    ids[0] = (n->id & 0xff) - 1;
    ids[1] = ((n->id >> 8) & 0xff) - 1;
    ids[2] = ((n->id >> 16) & 0xff) - 1;
    if (obj->kind == N_NAME && obj->id == F_JOB)
        return ids[0];
    if (obj->kind == N_NAME && obj->id == F_TEMPLATE)
        return ids[1];
    if (obj->kind == N_NAME && obj->id == F_USER)
        return ids[2];
    return -1;
}

/*
 * `field op constant` (memory_mb > 8192), the most common rule, as one
 * instruction. Returns 1 when emitted, 0 when the shape does not fit.
 */
static int gen_fieldk(struct compiler *c, int op, int32_t left, int32_t right,
                      const struct node *at, int *rc)
{
    int f = field_of(c, left);
    struct val v;
    if (f < 0 || !is_const(c, right))
        return 0;
    v = const_val(c, right);
    *rc = emit(c, I_FIELDK, (unsigned)op, add_const(c, &v), 1, at);
    if (*rc == 0)
        c->code[c->ncode - 1].n = (uint16_t)f;
    return 1;
}

static int gen_binop_tail(struct compiler *c, int op, int32_t right,
                          const struct node *at)
{
    if (is_const(c, right)) {
        struct val v = const_val(c, right);
        return emit(c, I_BINOPK, (unsigned)op, add_const(c, &v), 0, at);
    }
    return emit(c, I_BINOP, (unsigned)op, 0, -1, at);
}

static int gen_list(struct compiler *c, int32_t i)
{
    const struct node *n = CN(c, i);
    bool all_const = true;
    size_t count = 0;
    int rc;

    for (int32_t e = n->a; e >= 0; e = CN(c, e)->next) {
        all_const = all_const && is_const(c, e);
        count++;
    }
    if (all_const) {
        struct val v;
        memset(&v, 0, sizeof(v));
        v.t = V_LIST;
        v.n = (uint32_t)count;
        v.u.i = (int64_t)c->nelems;
        for (int32_t e = n->a; e >= 0; e = CN(c, e)->next) {
            if (c->nelems == c->capelems) {
                c->capelems = c->capelems ? c->capelems * 2 : 8;
                c->elems =
                    berth_xrealloc(c->elems, c->capelems * sizeof(*c->elems));
            }
            c->elems[c->nelems++] = const_val(c, e);
        }
        return emit(c, I_CONST, 0, add_const(c, &v), 1, n);
    }
    for (int32_t e = n->a; e >= 0; e = CN(c, e)->next) {
        rc = gen(c, e);
        if (rc)
            return rc;
    }
    if (c->list_slots + count > RULE_LIST_MAX)
        return berth__rule_diag(c->diag, n->off, n->len,
                                "expression too large (lists built while "
                                "evaluating need more than %d elements)",
                                RULE_LIST_MAX);
    rc = emit(c, I_MKLIST, 0, (uint32_t)c->list_slots, 1 - (int)count, n);
    /* count <= RULE_STACK_MAX (emit checked the pushes), so it fits. */
    c->code[c->ncode - 1].n = (uint16_t)count;
    c->list_slots += count;
    return rc;
}

static int gen_boolop(struct compiler *c, int32_t i)
{
    const struct node *n = CN(c, i);
    uint32_t chain = NO_JUMP;
    int rc;

    for (int32_t e = n->a; e >= 0; e = CN(c, e)->next) {
        rc = gen(c, e);
        if (rc)
            return rc;
        if (CN(c, e)->next >= 0) {
            uint32_t at = (uint32_t)c->ncode;
            rc = emit(c, n->op == OP_OR ? I_JTRUE : I_JFALSE, 0, chain, -1, n);
            if (rc)
                return rc;
            chain = at;
        }
    }
    patch_chain(c, chain);
    return 0;
}

static int gen_compare(struct compiler *c, int32_t i)
{
    const struct node *n = CN(c, i);
    uint32_t chain = NO_JUMP;
    int rc;

    if (CN(c, n->b)->next < 0 &&
        gen_fieldk(c, CN(c, n->b)->op, n->a, CN(c, n->b)->a, CN(c, n->b), &rc))
        return rc;
    rc = gen(c, n->a);

    if (rc)
        return rc;
    for (int32_t l = n->b; l >= 0; l = CN(c, l)->next) {
        const struct node *link = CN(c, l);
        if (link->next >= 0 || !is_const(c, link->a)) {
            rc = gen(c, link->a);
            if (rc)
                return rc;
        }
        if (link->next >= 0) {
            uint32_t at = (uint32_t)c->ncode;
            rc = emit(c, I_CHAIN, link->op, chain, -1, link);
            chain = at;
        } else {
            rc = gen_binop_tail(c, link->op, link->a, link);
        }
        if (rc)
            return rc;
    }
    patch_chain(c, chain);
    return 0;
}

static int gen(struct compiler *c, int32_t i)
{
    const struct node *n = CN(c, i);
    int rc, nargs = 0;

    switch (n->kind) {
    case N_INT:
    case N_FLOAT:
    case N_STR:
    case N_BOOL:
    case N_NONE: {
        struct val v = const_val(c, i);
        return emit(c, I_CONST, 0, add_const(c, &v), 1, n);
    }
    case N_LIST:
        return gen_list(c, i);
    case N_NAME:
        return emit(c, I_FIELD, 0, (uint32_t)n->id, 1, n);
    case N_ATTR: {
        const struct node *obj = CN(c, n->a);
        int ids[3] = {(n->id & 0xff) - 1, ((n->id >> 8) & 0xff) - 1,
                      ((n->id >> 16) & 0xff) - 1};
        /* job.x, template.x and user.x load straight from the context. */
        if (obj->kind == N_NAME && obj->id == F_JOB && ids[0] >= 0)
            return emit(c, I_FIELD, 0, (uint32_t)ids[0], 1, n);
        if (obj->kind == N_NAME && obj->id == F_TEMPLATE && ids[1] >= 0)
            return emit(c, I_FIELD, 0, (uint32_t)ids[1], 1, n);
        if (obj->kind == N_NAME && obj->id == F_USER && ids[2] >= 0)
            return emit(c, I_FIELD, 0, (uint32_t)ids[2], 1, n);
        rc = gen(c, n->a);
        if (rc)
            return rc;
        return emit(c, I_ATTR, 0, (uint32_t)n->id, 0, n);
    }
    case N_LEN:
        rc = gen(c, n->a);
        if (rc)
            return rc;
        return emit(c, I_LEN, 0, 0, 0, n);
    case N_METHOD:
        rc = gen(c, n->a);
        if (rc)
            return rc;
        if ((n->id == M_STARTSWITH || n->id == M_ENDSWITH) &&
            CN(c, n->b)->kind == N_STR) {
            struct val v = const_val(c, n->b);
            return emit(c, I_AFFIXK, (unsigned)n->id, add_const(c, &v), 0, n);
        }
        for (int32_t a = n->b; a >= 0; a = CN(c, a)->next) {
            rc = gen(c, a);
            if (rc)
                return rc;
            nargs++;
        }
        return emit(c, I_METHOD, (unsigned)nargs, (uint32_t)n->id, -nargs, n);
    case N_EXISTS:
        rc = gen(c, n->a);
        if (!rc)
            rc = gen(c, n->b);
        if (rc)
            return rc;
        return emit(c, I_EXISTS, 0, 0, -1, n);
    case N_INDEX:
        rc = gen(c, n->a);
        if (!rc)
            rc = gen(c, n->b);
        if (rc)
            return rc;
        return emit(c, I_INDEX, 0, 0, -1, n);
    case N_SLICE: {
        struct val none;
        memset(&none, 0, sizeof(none));
        none.t = V_NONE;
        rc = gen(c, n->a);
        if (rc)
            return rc;
        rc = n->b >= 0 ? gen(c, n->b)
                       : emit(c, I_CONST, 0, add_const(c, &none), 1, n);
        if (rc)
            return rc;
        rc = n->c >= 0 ? gen(c, n->c)
                       : emit(c, I_CONST, 0, add_const(c, &none), 1, n);
        if (rc)
            return rc;
        return emit(c, I_SLICE, 0, 0, -2, n);
    }
    case N_UNARY:
        if (is_const(c, i)) {
            struct val v = const_val(c, i);
            return emit(c, I_CONST, 0, add_const(c, &v), 1, n);
        }
        rc = gen(c, n->a);
        if (rc)
            return rc;
        return emit(c, I_UNARY, n->op, 0, 0, n);
    case N_BINOP:
        if (gen_fieldk(c, n->op, n->a, n->b, n, &rc))
            return rc;
        rc = gen(c, n->a);
        if (!rc && !is_const(c, n->b))
            rc = gen(c, n->b);
        if (rc)
            return rc;
        return gen_binop_tail(c, n->op, n->b, n);
    case N_BOOLOP:
        return gen_boolop(c, i);
    case N_COMPARE:
        return gen_compare(c, i);
    default:
        BERTH_BUG("gen: node kind %d", n->kind);
    }
}

static size_t align8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

/* Lay the rule out in one allocation and turn offsets into pointers. */
static struct berth_rule *finalize(struct compiler *c, const struct ast *ast)
{
    size_t o_code = align8(sizeof(struct berth_rule));
    size_t o_consts = align8(o_code + c->ncode * sizeof(struct insn));
    size_t o_elems = align8(o_consts + c->nconsts * sizeof(struct val));
    size_t o_str = o_elems + c->nelems * sizeof(struct val);
    size_t o_text = o_str + ast->pool.len;
    size_t total = o_text + ast->text_len + 1;
    char *mem = berth_xmalloc(total);
    struct berth_rule *r = (struct berth_rule *)(void *)mem;
    struct insn *code = (struct insn *)(void *)(mem + o_code);
    struct val *consts = (struct val *)(void *)(mem + o_consts);
    struct val *elems = (struct val *)(void *)(mem + o_elems);
    char *str = mem + o_str;

    if (c->ncode)
        memcpy(code, c->code, c->ncode * sizeof(*code));
    if (c->nconsts)
        memcpy(consts, c->consts, c->nconsts * sizeof(*consts));
    if (c->nelems)
        memcpy(elems, c->elems, c->nelems * sizeof(*elems));
    if (ast->pool.len)
        memcpy(str, ast->pool.data, ast->pool.len);
    memcpy(mem + o_text, ast->text, ast->text_len);
    mem[o_text + ast->text_len] = '\0';

    for (size_t k = 0; k < c->nelems; k++)
        if (elems[k].t == V_STR)
            elems[k].u.s = str + elems[k].u.i;
    for (size_t k = 0; k < c->nconsts; k++) {
        if (consts[k].t == V_STR)
            consts[k].u.s = str + consts[k].u.i;
        else if (consts[k].t == V_LIST)
            consts[k].u.l = elems + consts[k].u.i;
    }
    r->code = code;
    r->ncode = c->ncode;
    r->consts = consts;
    r->nconsts = c->nconsts;
    r->stack_need = c->max_depth;
    r->list_need = c->list_slots;
    r->text = mem + o_text;
    r->text_len = ast->text_len;
    return r;
}

static size_t col_of(const char *text, size_t off)
{
    return berth__rule_utf8_len(text, off) + 1;
}

/* Lex, parse and check into ast (which the caller releases). */
static int front(const char *text, size_t len, struct ast *ast,
                 struct berth_rule_diag *diag)
{
    int rc;

    memset(ast, 0, sizeof(*ast));
    ast->text = text;
    ast->text_len = len;
    berth_buf_init(&ast->pool, 0);
    rc = berth__rule_lex(text, len, &ast->toks, &ast->ntoks, &ast->pool, diag);
    if (!rc)
        rc = berth__rule_parse(ast, diag);
    return rc;
}

int berth_rule_compile(const char *text, size_t len, struct berth_rule **out,
                       struct berth_rule_diag *diag, struct berth_err *err)
{
    struct berth_rule_diag local;
    struct compiler c;
    struct ast ast;
    int rc;

    *out = NULL;
    if (!diag)
        diag = &local;
    memset(diag, 0, sizeof(*diag));
    memset(&c, 0, sizeof(c));
    rc = front(text, len, &ast, diag);
    if (!rc)
        rc = berth__rule_check(&ast, diag);
    if (!rc) {
        c.ast = &ast;
        c.diag = diag;
        rc = gen(&c, ast.root);
        if (!rc)
            rc = emit(&c, I_RET, 0, 0, 0, &ast.nodes[ast.root]);
        if (!rc)
            *out = finalize(&c, &ast);
    }
    if (rc)
        berth_err_set(err, BERTH_E_PARSE, "col %zu: %s",
                      col_of(text, diag->offset > len ? len : diag->offset),
                      diag->msg);
    free(c.code);
    free(c.consts);
    free(c.elems);
    berth__rule_ast_release(&ast);
    return rc;
}

void berth_rule_free(struct berth_rule *r)
{
    free(r);
}

const char *berth_rule_text(const struct berth_rule *r)
{
    return r->text;
}

/* ---- tree dump for tests ------------------------------------------------ */

static void dump(const struct ast *ast, int32_t i, struct berth_buf *b)
{
    const struct node *n = &ast->nodes[i];
    char fb[40];

    switch (n->kind) {
    case N_INT:
        berth_buf_printf(b, "%lld", (long long)n->v.i);
        return;
    case N_FLOAT:
        berth__rule_repr_float(n->v.f, fb, sizeof(fb));
        berth_buf_puts(b, fb);
        return;
    case N_STR: {
        struct sink s = {b, NULL, 0, 0};
        berth__rule_repr_str(
            &s, ast->pool.data ? ast->pool.data + n->v.s.off : "", n->v.s.len);
        return;
    }
    case N_BOOL:
        berth_buf_puts(b, n->v.i ? "True" : "False");
        return;
    case N_NONE:
        berth_buf_puts(b, "None");
        return;
    case N_NAME:
        berth_buf_append(b, ast->text + n->ooff, n->olen);
        return;
    case N_LIST:
        berth_buf_puts(b, "[");
        for (int32_t e = n->a; e >= 0; e = ast->nodes[e].next) {
            dump(ast, e, b);
            if (ast->nodes[e].next >= 0)
                berth_buf_puts(b, " ");
        }
        berth_buf_puts(b, "]");
        return;
    case N_ATTR:
        berth_buf_puts(b, "(. ");
        dump(ast, n->a, b);
        berth_buf_printf(b, " %.*s)", (int)n->olen, ast->text + n->ooff);
        return;
    case N_CALL:
        berth_buf_puts(b, "(call ");
        dump(ast, n->a, b);
        for (int32_t e = n->b; e >= 0; e = ast->nodes[e].next) {
            berth_buf_puts(b, " ");
            dump(ast, e, b);
        }
        berth_buf_puts(b, ")");
        return;
    case N_KWARG:
        berth_buf_printf(b, "%.*s=", (int)n->olen, ast->text + n->ooff);
        dump(ast, n->a, b);
        return;
    case N_INDEX:
    case N_SLICE:
        berth_buf_puts(b, n->kind == N_INDEX ? "([] " : "([:] ");
        dump(ast, n->a, b);
        berth_buf_puts(b, " ");
        if (n->b >= 0)
            dump(ast, n->b, b);
        else
            berth_buf_puts(b, "_");
        if (n->kind == N_SLICE) {
            berth_buf_puts(b, " ");
            if (n->c >= 0)
                dump(ast, n->c, b);
            else
                berth_buf_puts(b, "_");
        }
        berth_buf_puts(b, ")");
        return;
    case N_UNARY:
        berth_buf_printf(b, "(%s ", berth__rule_op_text(n->op));
        dump(ast, n->a, b);
        berth_buf_puts(b, ")");
        return;
    case N_BINOP:
        berth_buf_printf(b, "(%s ", berth__rule_op_text(n->op));
        dump(ast, n->a, b);
        berth_buf_puts(b, " ");
        dump(ast, n->b, b);
        berth_buf_puts(b, ")");
        return;
    case N_BOOLOP:
        berth_buf_printf(b, "(%s", berth__rule_op_text(n->op));
        for (int32_t e = n->a; e >= 0; e = ast->nodes[e].next) {
            berth_buf_puts(b, " ");
            dump(ast, e, b);
        }
        berth_buf_puts(b, ")");
        return;
    case N_COMPARE:
        berth_buf_puts(b, "(cmp ");
        dump(ast, n->a, b);
        for (int32_t l = n->b; l >= 0; l = ast->nodes[l].next) {
            berth_buf_printf(b, " %s ", berth__rule_op_text(ast->nodes[l].op));
            dump(ast, ast->nodes[l].a, b);
        }
        berth_buf_puts(b, ")");
        return;
    default:
        berth_buf_puts(b, "?");
    }
}

char *berth__rule_dump(const char *text, size_t len, struct berth_err *err)
{
    struct berth_rule_diag diag;
    struct berth_buf b = BERTH_BUF_INIT;
    struct ast ast;
    int rc = front(text, len, &ast, &diag);

    if (rc) {
        berth_err_set(err, rc, "col %zu: %s",
                      col_of(text, diag.offset > len ? len : diag.offset),
                      diag.msg);
        berth__rule_ast_release(&ast);
        return NULL;
    }
    dump(&ast, ast.root, &b);
    berth__rule_ast_release(&ast);
    return berth_buf_detach(&b);
}
