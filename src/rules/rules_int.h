/*
 * rules_int.h - private to src/rules/: tokens, the syntax tree, static
 * types, the instruction set and the runtime value of the rule language
 * (DESIGN.md § The rule language).
 *
 * Pipeline: lexer.c turns the text into a token array; parser.c builds a
 * tree of nodes (indices into one array); check.c resolves names,
 * attributes and methods and computes a static type (a set of possible
 * runtime types) per node, refusing what can never work; compile.c emits a
 * flat, forward-jumping instruction array into one allocation; eval.c runs
 * it with a fixed-size value stack and no allocation.
 *
 * Every instruction runs at most once per evaluation (jumps only go
 * forward), which is what bounds the cost and lets compile.c reserve the
 * scratch space of runtime lists statically.
 */
#ifndef BERTH_RULES_INT_H
#define BERTH_RULES_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "berth/rules.h"
#include "berth/util.h"

/* ---- limits ------------------------------------------------------------ */

/* Value-stack slots an evaluation may need (checked at compile time). */
#define RULE_STACK_MAX 256
/* Elements of lists built at run time ([memory_mb, 1]) per evaluation. */
#define RULE_LIST_MAX 256
/* Bytes of strings made at run time (lower(), upper(), +) per evaluation. */
#define RULE_SCRATCH_MAX 8192

/* ---- tokens ------------------------------------------------------------ */

#define RULE_TOKENS(X)                                                         \
    X(END, "end of rule")                                                      \
    X(NAME, "name")                                                            \
    X(INT, "integer")                                                          \
    X(FLOAT, "number")                                                         \
    X(STR, "string")                                                           \
    X(LPAREN, "'('")                                                           \
    X(RPAREN, "')'")                                                           \
    X(LBRACK, "'['")                                                           \
    X(RBRACK, "']'")                                                           \
    X(LBRACE, "'{'")                                                           \
    X(RBRACE, "'}'")                                                           \
    X(COMMA, "','")                                                            \
    X(DOT, "'.'")                                                              \
    X(COLON, "':'")                                                            \
    X(PLUS, "'+'")                                                             \
    X(MINUS, "'-'")                                                            \
    X(STAR, "'*'")                                                             \
    X(SLASH, "'/'")                                                            \
    X(DSLASH, "'//'")                                                          \
    X(PERCENT, "'%'")                                                          \
    X(EQ, "'=='")                                                              \
    X(NE, "'!='")                                                              \
    X(LT, "'<'")                                                               \
    X(LE, "'<='")                                                              \
    X(GT, "'>'")                                                               \
    X(GE, "'>='")                                                              \
    X(ASSIGN, "'='")                                                           \
    X(AND, "'and'")                                                            \
    X(OR, "'or'")                                                              \
    X(NOT, "'not'")                                                            \
    X(IN, "'in'")                                                              \
    X(IS, "'is'")                                                              \
    X(TRUE, "'True'")                                                          \
    X(FALSE, "'False'")                                                        \
    X(NONE, "'None'")                                                          \
    X(KEYWORD, "keyword") /* other Python keywords: if, for, lambda, ... */    \
    X(BADOP, "operator")  /* Python operators berth lacks: ** & | ^ ~ ... */   \
    X(ANDAND, "'&&'")                                                          \
    X(OROR, "'||'")                                                            \
    X(BANG, "'!'")

enum tok_kind {
#define RULE_TOK_ENUM(name, text) TOK_##name,
    RULE_TOKENS(RULE_TOK_ENUM)
#undef RULE_TOK_ENUM
};

struct tok {
    enum tok_kind kind;
    uint32_t off, len; /* byte span in the rule text */
    union {
        int64_t i;
        double f;
        struct {
            uint32_t off, len; /* decoded bytes in the string pool */
        } s;
    } v;
};

const char *berth__rule_tok_name(enum tok_kind k);

/*
 * Tokenize text[0..len) into *toks (caller frees; the last token is END).
 * Decoded string literals are appended to pool. On error fills diag and
 * returns BERTH_E_PARSE.
 */
int berth__rule_lex(const char *text, size_t len, struct tok **toks,
                    size_t *ntoks, struct berth_buf *pool,
                    struct berth_rule_diag *diag);

/* ---- static types -------------------------------------------------------- */

/* A static type is a set of the runtime types a node may have. */
enum {
    T_NONE = 1 << 0,
    T_BOOL = 1 << 1,
    T_INT = 1 << 2,
    T_FLOAT = 1 << 3,
    T_STR = 1 << 4,
    T_LIST = 1 << 5,   /* a list of scalars (literal or slice) */
    T_GROUPS = 1 << 6, /* user.groups: a list of str with filter() */
    T_MAP = 1 << 7,    /* labels: str -> str */
    T_JOB = 1 << 8,
    T_TMPL = 1 << 9,
    T_USER = 1 << 10,
    T_NTYPES = 11,
};
#define T_NUM     (T_BOOL | T_INT | T_FLOAT)
#define T_INTLIKE (T_BOOL | T_INT)
#define T_SEQ     (T_LIST | T_GROUPS)
#define T_SCALAR  (T_NONE | T_NUM | T_STR)
#define T_OBJ     (T_JOB | T_TMPL | T_USER)

/* Python's name of one type bit ('NoneType', 'int', ...). */
const char *berth__rule_type_name(unsigned bit);

/* ---- context fields ------------------------------------------------------ */

#define RULE_FIELDS(X)                                                         \
    X(JOB, 0, "job", T_JOB)                                                    \
    X(TEMPLATE, 0, "template", T_TMPL)                                         \
    X(USER, 0, "user", T_NONE | T_USER)                                        \
    X(MEMORY_MB, 0, "memory_mb", T_INT)                                        \
    X(CPU_CORES, 0, "cpu_cores", T_FLOAT)                                      \
    X(TIMEOUT_SECONDS, 0, "timeout_seconds", T_INT)                            \
    X(LABELS, 0, "labels", T_MAP)                                              \
    X(HOUR, 0, "hour", T_INT)                                                  \
    X(WEEKDAY, 0, "weekday", T_INT)                                            \
    X(JOB_ID, T_JOB, "id", T_INT)                                              \
    X(JOB_NAME, T_JOB, "name", T_STR)                                          \
    X(JOB_PRIORITY, T_JOB, "priority", T_INT)                                  \
    X(JOB_LABELS, T_JOB, "labels", T_MAP)                                      \
    X(JOB_PREFERRED_EXECUTOR, T_JOB, "preferred_executor", T_STR)              \
    X(TMPL_NAME, T_TMPL, "name", T_STR)                                        \
    X(TMPL_IMAGE, T_TMPL, "image", T_STR)                                      \
    X(TMPL_LABELS, T_TMPL, "labels", T_MAP)                                    \
    X(TMPL_MEMORY_LIMIT, T_TMPL, "memory_limit", T_INT)                        \
    X(TMPL_CPU_LIMIT, T_TMPL, "cpu_limit", T_FLOAT)                            \
    X(TMPL_TIMEOUT_SECONDS, T_TMPL, "timeout_seconds", T_INT)                  \
    X(USER_NAME, T_USER, "name", T_STR)                                        \
    X(USER_GROUPS, T_USER, "groups", T_GROUPS)

enum field_id {
#define RULE_FIELD_ENUM(id, owner, name, type) F_##id,
    RULE_FIELDS(RULE_FIELD_ENUM)
#undef RULE_FIELD_ENUM
        F_COUNT
};

struct field_info {
    unsigned owner; /* 0 for a top-level name, else the object's type bit */
    const char *name;
    unsigned type;
};
extern const struct field_info berth__rule_fields[F_COUNT];

/* ---- methods and builtins ---------------------------------------------- */

#define RULE_METHODS(X)                                                        \
    X(STARTSWITH, T_STR, "startswith", 1, 1)                                   \
    X(ENDSWITH, T_STR, "endswith", 1, 1)                                       \
    X(LOWER, T_STR, "lower", 0, 0)                                             \
    X(UPPER, T_STR, "upper", 0, 0)                                             \
    X(STRIP, T_STR, "strip", 0, 1)                                             \
    X(LSTRIP, T_STR, "lstrip", 0, 1)                                           \
    X(RSTRIP, T_STR, "rstrip", 0, 1)                                           \
    X(GET, T_MAP, "get", 1, 2)                                                 \
    X(FILTER, T_GROUPS, "filter", 0, 0)

enum method_id {
#define RULE_METHOD_ENUM(id, recv, name, amin, amax) M_##id,
    RULE_METHODS(RULE_METHOD_ENUM)
#undef RULE_METHOD_ENUM
        M_COUNT
};

struct method_info {
    unsigned recv; /* the receiver type bit */
    const char *name;
    int min_args, max_args;
};
extern const struct method_info berth__rule_methods[M_COUNT];

/* ---- the syntax tree --------------------------------------------------- */

enum node_kind {
    N_INT,
    N_FLOAT,
    N_STR,
    N_BOOL,
    N_NONE,
    N_LIST,    /* children: a, linked by next */
    N_NAME,    /* id: field after check */
    N_ATTR,    /* a: object; name span in ooff/olen; id: field */
    N_CALL,    /* a: callee; b: first argument (next-linked) */
    N_KWARG,   /* keyword argument: name span ooff/olen; a: value */
    N_INDEX,   /* a[b] */
    N_SLICE,   /* a[b:c], b and c may be -1 */
    N_UNARY,   /* op: OP_NEG, OP_POS or OP_NOT; a */
    N_BINOP,   /* op: OP_ADD..OP_MOD; a, b */
    N_BOOLOP,  /* op: OP_AND or OP_OR; a: first operand (next-linked) */
    N_COMPARE, /* a: first operand; b: first N_CMPLINK (next-linked) */
    N_CMPLINK, /* op: comparison; a: right operand; ooff/olen: operator */
    /* Resolved by check.c: */
    N_LEN,    /* len(a) */
    N_METHOD, /* id: method; a: receiver; b: first argument */
    N_EXISTS, /* a.filter(name=b).exists() */
};

struct node {
    uint8_t kind;
    uint8_t op;
    uint16_t type;       /* static type (set by check.c) */
    uint16_t elem;       /* for list types: the static type of elements */
    uint16_t height;     /* of the subtree, capped by BERTH_RULE_MAX_DEPTH */
    uint32_t off, len;   /* span of the whole expression */
    uint32_t ooff, olen; /* operator, attribute or method name span */
    int32_t a, b, c;     /* children, -1 when absent */
    int32_t next;        /* next sibling in a list, argument or chain */
    int32_t id;          /* field or method id after check; -1 before */
    union {
        int64_t i;
        double f;
        struct {
            uint32_t off, len; /* decoded bytes in the string pool */
        } s;
    } v;
};

/* Everything the front end builds for one rule, freed by ast_release. */
struct ast {
    const char *text;
    size_t text_len;
    struct tok *toks;
    size_t ntoks;
    struct node *nodes;
    size_t nnodes, cap;
    struct berth_buf pool; /* decoded string literals */
    int32_t root;
};

void berth__rule_ast_release(struct ast *ast);

/* Parse the tokens into ast->nodes; fills diag on a syntax error. */
int berth__rule_parse(struct ast *ast, struct berth_rule_diag *diag);
/* Resolve and type the tree; fills diag on the first fault. */
int berth__rule_check(struct ast *ast, struct berth_rule_diag *diag);

/* Set a diagnostic (message printf-style); returns BERTH_E_PARSE. */
int berth__rule_diag(struct berth_rule_diag *d, size_t off, size_t len,
                     const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Set the hint of an existing diagnostic. */
void berth__rule_hint(struct berth_rule_diag *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* An S-expression of the tree, for tests: (+ 1 (* 2 3)). Caller frees. */
char *berth__rule_dump(const char *text, size_t len, struct berth_err *err);

/* ---- operators and instructions ---------------------------------------- */

/* Operators shared by the tree and the instruction set. */
#define RULE_OPS(X)                                                            \
    X(ADD, "+")                                                                \
    X(SUB, "-")                                                                \
    X(MUL, "*")                                                                \
    X(DIV, "/")                                                                \
    X(FDIV, "//")                                                              \
    X(MOD, "%")                                                                \
    X(EQ, "==")                                                                \
    X(NE, "!=")                                                                \
    X(LT, "<")                                                                 \
    X(LE, "<=")                                                                \
    X(GT, ">")                                                                 \
    X(GE, ">=")                                                                \
    X(IN, "in")                                                                \
    X(NOTIN, "not in")                                                         \
    X(IS, "is")                                                                \
    X(ISNOT, "is not")                                                         \
    X(NEG, "-")                                                                \
    X(POS, "+")                                                                \
    X(NOT, "not")                                                              \
    X(AND, "and")                                                              \
    X(OR, "or")

enum rule_op {
#define RULE_OP_ENUM(name, text) OP_##name,
    RULE_OPS(RULE_OP_ENUM)
#undef RULE_OP_ENUM
        OP_COUNT
};

const char *berth__rule_op_text(int op);

/*
 * Instructions. Stack effects in brackets; `arg` is an index, a jump target
 * (instruction index) or a count.
 */
#define RULE_OPCODES(X)                                                        \
    X(CONST)  /* [] -> [consts[arg]] */                                        \
    X(FIELD)  /* [] -> [field arg of the context] */                           \
    X(ATTR)   /* [obj] -> [field arg of obj] */                                \
    X(MKLIST) /* [a x n] -> [list]; runtime slots from arg */                  \
    X(BINOP)  /* [a b] -> [a op b]; op = a */                                  \
    X(BINOPK) /* [a] -> [a op consts[arg]]; op = a */                          \
    X(FIELDK) /* [] -> [field n op consts[arg]]; op = a */                     \
    X(AFFIXK) /* [s] -> [s.startswith/endswith(consts[arg])]; method = a */    \
    X(UNARY)  /* [a] -> [op a] */                                              \
    X(CHAIN)  /* [a b] -> [b] if a op b, else [False] and jump to arg */       \
    X(JFALSE) /* [a]: jump to arg keeping a if falsy, else pop */              \
    X(JTRUE)  /* [a]: jump to arg keeping a if truthy, else pop */             \
    X(LEN)    /* [a] -> [len(a)] */                                            \
    X(METHOD) /* [recv args x a] -> [result]; method = arg */                  \
    X(EXISTS) /* [groups name] -> [name in groups] */                          \
    X(INDEX)  /* [a i] -> [a[i]] */                                            \
    X(SLICE)  /* [a lo hi] -> [a[lo:hi]] (None = absent) */                    \
    X(RET)    /* [a] -> the result */

enum rule_opcode {
#define RULE_OPC_ENUM(name) I_##name,
    RULE_OPCODES(RULE_OPC_ENUM)
#undef RULE_OPC_ENUM
};

struct insn {
    uint8_t op;
    uint8_t a;
    uint16_t n; /* MKLIST: element count; FIELDK: the field */
    uint32_t arg;
};

/* ---- runtime values ------------------------------------------------------ */

enum val_type {
    V_NONE,
    V_BOOL,
    V_INT,
    V_FLOAT,
    V_STR,
    V_LIST,   /* u.l, n elements (scalars) */
    V_STRV,   /* u.sv, n strings: a slice of user.groups (plain list) */
    V_GROUPS, /* u.sv, n strings: user.groups itself */
    V_MAP,    /* u.m */
    V_JOB,
    V_TMPL,
    V_USER,
};

struct val {
    uint8_t t;
    uint32_t n; /* length of a string (bytes) or list */
    union {
        int64_t i; /* V_BOOL (0/1), V_INT */
        double f;
        const char *s;
        const struct val *l;
        char *const *sv;
        const struct berth_map *m;
    } u;
};

/* The static type bit of a runtime type. */
unsigned berth__rule_val_bit(const struct val *v);

/* Python's truth value. */
static inline bool berth__rule_truthy(const struct val *v)
{
    switch (v->t) {
    case V_NONE:
        return false;
    case V_BOOL:
    case V_INT:
        return v->u.i != 0;
    case V_FLOAT:
        return v->u.f != 0.0; /* nan is true, as in Python */
    case V_STR:
    case V_LIST:
    case V_STRV:
    case V_GROUPS:
        return v->n != 0;
    case V_MAP:
        return v->u.m && v->u.m->n != 0;
    default:
        return true; /* job, template, user */
    }
}

/*
 * One evaluation's working memory and its error slot. Strings made at run
 * time live in scratch; lists built at run time in lists.
 */
struct frame {
    const struct berth_rule_ctx *ctx;
    struct val *lists;
    char *scratch;
    size_t used;
    struct berth_err *err;
};

/* Set a runtime error ("TypeError: ...") and return BERTH_E_RUNTIME. */
int berth__rule_fail(struct frame *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Room for n bytes in the scratch area, or NULL after setting an error. */
char *berth__rule_scratch(struct frame *f, size_t n);

/* Element i of a list-like value (V_LIST, V_STRV, V_GROUPS). */
struct val berth__rule_elem(const struct val *l, size_t i);
/* Python ==, for any two values. */
bool berth__rule_eq(const struct val *a, const struct val *b);
/* Binary operators: arithmetic, comparisons, in, is. */
int berth__rule_binop(struct frame *f, int op, const struct val *a,
                      const struct val *b, struct val *out);
/* Unary - + not. */
int berth__rule_unary(struct frame *f, int op, const struct val *a,
                      struct val *out);
/* The value of key (len n) in m, or NULL. */
const char *berth__rule_map_get(const struct berth_map *m, const char *key,
                                size_t n);

/* ---- the compiled rule ------------------------------------------------- */

struct berth_rule {
    const struct insn *code;
    size_t ncode;
    const struct val *consts;
    size_t nconsts;
    size_t stack_need; /* value-stack slots */
    size_t list_need;  /* runtime list slots */
    char *text;        /* NUL-terminated copy of the source */
    size_t text_len;
    /* code, consts, constant list elements, string bytes and text follow
     * in the same allocation. */
};

/* ---- output sinks and Python repr ------------------------------------ */

/*
 * Where repr() writes: a growable berth_buf, or a fixed buffer that
 * truncates (error messages during evaluation, which must not allocate).
 */
struct sink {
    struct berth_buf *buf; /* when not NULL */
    char *fixed;
    size_t cap, len;
};

void berth__rule_sink_put(struct sink *s, const char *p, size_t n);
void berth__rule_sink_puts(struct sink *s, const char *p);

/* Python repr() of a value; objects read the context for their name. */
void berth__rule_repr(struct sink *s, const struct val *v);
/* Python repr() of a str. */
void berth__rule_repr_str(struct sink *s, const char *p, size_t n);
/* Python repr() of a float (shortest round trip). buf: 32 bytes. */
void berth__rule_repr_float(double d, char *buf, size_t cap);

/* ---- UTF-8 --------------------------------------------------------------- */

/* Decoding is berth_utf8_dec() (berth/util.h). */
/* Append the UTF-8 form of cp (<= 0x10FFFF, not a surrogate) to out. */
size_t berth__rule_utf8_enc(uint32_t cp, char out[4]);
/* Number of code points in valid UTF-8. */
size_t berth__rule_utf8_len(const char *p, size_t n);

#endif
