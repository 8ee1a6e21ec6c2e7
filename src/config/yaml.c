/*
 * yaml.c - libyaml events to a node tree (see config_int.h).
 *
 * The event API (not libyaml's document loader) is used because it lets us
 * refuse aliases before they are expanded, keep every node's start mark,
 * and find duplicate mapping keys, which libyaml's loader accepts silently.
 */
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "config_int.h"

#define TAG_PREFIX "tag:yaml.org,2002:"

static struct ynode *node_new(enum ynode_kind kind, const yaml_mark_t *m)
{
    struct ynode *n = berth_xcalloc(1, sizeof(*n));
    n->kind = kind;
    n->line = (int)m->line + 1;
    n->col = (int)m->column + 1;
    n->index = m->index;
    return n;
}

void berth__config_ynode_free(struct ynode *n)
{
    if (!n)
        return;
    /* Depth is capped at CFG_MAX_DEPTH while building, so recursion is
     * bounded. */
    for (size_t i = 0; i < n->n; i++)
        berth__config_ynode_free(n->kids[i]);
    free(n->kids);
    free(n->text);
    free(n);
}

static void node_push(struct ynode *parent, struct ynode *kid)
{
    if (parent->n == parent->cap) {
        parent->cap = parent->cap ? parent->cap * 2 : 8;
        parent->kids =
            berth_xrealloc(parent->kids, parent->cap * sizeof(*parent->kids));
    }
    parent->kids[parent->n++] = kid;
}

const struct ynode *berth__config_map_get(const struct ynode *map,
                                          const char *key)
{
    if (!map || map->kind != YN_MAP)
        return NULL;
    for (size_t i = 0; i + 1 < map->n; i += 2)
        if (map->kids[i]->kind == YN_SCALAR &&
            strcmp(map->kids[i]->text, key) == 0)
            return map->kids[i + 1];
    return NULL;
}

/* Position of a byte offset of the raw input (reader errors carry one). */
static void offset_pos(const struct cfg_ctx *x, size_t off, int *line, int *col)
{
    int l = 1, c = 1;
    size_t i = 0;
    if (x->src_len >= 3 && memcmp(x->src, "\xEF\xBB\xBF", 3) == 0)
        i = 3;
    for (; i < off && i < x->src_len; i++) {
        unsigned char ch = (unsigned char)x->src[i];
        if (ch == '\n') {
            l++;
            c = 1;
        } else if ((ch & 0xC0) != 0x80) {
            c++;
        }
    }
    *line = l;
    *col = c;
}

static void report_syntax(struct cfg_ctx *x, const yaml_parser_t *p)
{
    int line, col;
    const char *problem = p->problem ? p->problem : "cannot parse";
    const char *hint = "";

    if (p->error == YAML_READER_ERROR) {
        size_t off = p->problem_offset;
        /* A bad continuation byte: point at the character it belongs to. */
        if (strstr(problem, "trailing")) {
            for (size_t b = off; b > 0 && off - b < 4 && b <= x->src_len;) {
                unsigned char ch = (unsigned char)x->src[--b];
                if ((ch & 0xC0) == 0xC0) {
                    off = b;
                    break;
                }
                if ((ch & 0xC0) != 0x80)
                    break;
            }
        }
        offset_pos(x, off, &line, &col);
        berth__config_error_at(x, line, col,
                               "invalid YAML: %s at byte offset %zu: the "
                               "file must be UTF-8 text",
                               problem, off);
        return;
    }
    if (p->error == YAML_MEMORY_ERROR)
        BERTH_BUG("libyaml ran out of memory");
    line = (int)p->problem_mark.line + 1;
    col = (int)p->problem_mark.column + 1;
    /* The commonest YAML mistake deserves its own words. */
    {
        const char *s = x->src, *end = x->src + x->src_len;
        int l = 1;
        while (s < end && l < line) {
            if (*s++ == '\n')
                l++;
        }
        for (const char *t = s; t < end && *t != '\n'; t++) {
            if (*t == '\t') {
                hint = "; tabs are not allowed in indentation, use spaces";
                break;
            }
            if (*t != ' ')
                break;
        }
    }
    if (p->context && p->context_mark.line == p->problem_mark.line &&
        p->context_mark.column == p->problem_mark.column)
        berth__config_error_at(x, line, col, "invalid YAML: %s (%s)%s", problem,
                               p->context, hint);
    else if (p->context)
        berth__config_error_at(
            x, line, col, "invalid YAML: %s (%s started at %d:%d)%s", problem,
            p->context, (int)p->context_mark.line + 1,
            (int)p->context_mark.column + 1, hint);
    else
        berth__config_error_at(x, line, col, "invalid YAML: %s%s", problem,
                               hint);
}

/* Tags: `!!str` makes a scalar a string; the other core tags are accepted
 * (the schema checks the value); anything else is refused. */
static bool check_tag(struct cfg_ctx *x, const yaml_char_t *tag,
                      const yaml_mark_t *m, bool *is_str)
{
    const char *t = (const char *)tag;
    static const char *const core[] = {"str",  "int", "float", "bool",
                                       "null", "map", "seq",   NULL};
    *is_str = false;
    if (!t)
        return true;
    if (strncmp(t, TAG_PREFIX, strlen(TAG_PREFIX)) == 0) {
        const char *name = t + strlen(TAG_PREFIX);
        for (size_t i = 0; core[i]; i++) {
            if (strcmp(name, core[i]) == 0) {
                *is_str = i == 0;
                return true;
            }
        }
    }
    berth__config_error_at(x, (int)m->line + 1, (int)m->column + 1,
                           "YAML tag '%s' is not supported", t);
    return false;
}

static void check_anchor(struct cfg_ctx *x, const yaml_char_t *anchor,
                         const yaml_mark_t *m)
{
    if (anchor)
        berth__config_error_at(
            x, (int)m->line + 1, (int)m->column + 1,
            "YAML anchors (&%s) are not supported: write the value out "
            "where it is used",
            (const char *)anchor);
}

static int cmp_key(const void *a, const void *b)
{
    const struct ynode *ka = *(const struct ynode *const *)a;
    const struct ynode *kb = *(const struct ynode *const *)b;
    int r = strcmp(ka->text, kb->text);
    if (r)
        return r;
    return ka->index < kb->index ? -1 : ka->index > kb->index;
}

/* Duplicate keys: sort the keys by (text, position) so each later copy sits
 * right after the first. O(n log n), so a hostile file cannot make it
 * quadratic. */
static void check_duplicates(struct cfg_ctx *x, const struct ynode *map)
{
    size_t nk = map->n / 2, m = 0;
    struct ynode **keys;

    if (nk < 2)
        return;
    keys = berth_xcalloc(nk, sizeof(*keys));
    for (size_t i = 0; i + 1 < map->n; i += 2)
        if (map->kids[i]->kind == YN_SCALAR)
            keys[m++] = map->kids[i];
    qsort(keys, m, sizeof(*keys), cmp_key);
    for (size_t i = 1, first = 0; i < m; i++) {
        if (strcmp(keys[i]->text, keys[first]->text) != 0) {
            first = i;
            continue;
        }
        keys[i]->dup = true;
        berth__config_error(x, keys[i], "duplicate key '%s' (first at %d:%d)",
                            keys[i]->text, keys[first]->line, keys[first]->col);
    }
    free(keys);
}

/* Put a finished node into its parent (or make it the root). Mapping keys
 * must be scalars: others are reported and replaced by a YN_BAD so the
 * key/value pairing stays intact. */
static void attach(struct cfg_ctx *x, struct ynode **stack, size_t depth,
                   struct ynode **root, struct ynode *n)
{
    struct ynode *parent;
    if (depth == 0) {
        *root = n;
        return;
    }
    parent = stack[depth - 1];
    if (parent->kind == YN_MAP && parent->n % 2 == 0 && n->kind != YN_SCALAR &&
        n->kind != YN_BAD) {
        berth__config_error(x, n, "mapping keys must be plain strings, not %s",
                            n->kind == YN_MAP ? "mappings" : "lists");
        n->kind = YN_BAD;
    }
    node_push(parent, n);
}

int berth__config_yaml_parse(struct cfg_ctx *x, struct ynode **root)
{
    yaml_parser_t p;
    yaml_event_t ev;
    struct ynode *stack[CFG_MAX_DEPTH];
    size_t depth = 0;
    int docs = 0, rc = -1;
    bool done = false;

    *root = NULL;
    if (!yaml_parser_initialize(&p))
        BERTH_BUG("yaml_parser_initialize failed");
    yaml_parser_set_input_string(&p, (const unsigned char *)x->src, x->src_len);
    while (!done) {
        struct ynode *n = NULL;
        bool is_str;

        if (!yaml_parser_parse(&p, &ev)) {
            report_syntax(x, &p);
            goto out;
        }
        switch (ev.type) {
        case YAML_DOCUMENT_START_EVENT:
            if (++docs > 1) {
                berth__config_error_at(
                    x, (int)ev.start_mark.line + 1,
                    (int)ev.start_mark.column + 1,
                    "a second YAML document: a config file holds one");
                yaml_event_delete(&ev);
                goto out;
            }
            break;
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        case YAML_ALIAS_EVENT:
            berth__config_error_at(
                x, (int)ev.start_mark.line + 1, (int)ev.start_mark.column + 1,
                "YAML aliases (*%s) are not supported: write the value out "
                "where it is used",
                (const char *)ev.data.alias.anchor);
            n = node_new(YN_BAD, &ev.start_mark);
            attach(x, stack, depth, root, n);
            break;
        case YAML_SCALAR_EVENT:
            check_anchor(x, ev.data.scalar.anchor, &ev.start_mark);
            n = node_new(YN_SCALAR, &ev.start_mark);
            n->style = (enum ynode_style)ev.data.scalar.style;
            if (n->style < YS_PLAIN || n->style > YS_FOLDED)
                n->style = YS_PLAIN;
            n->len = ev.data.scalar.length;
            n->text =
                berth_xstrndup((const char *)ev.data.scalar.value, n->len);
            if (!check_tag(x, ev.data.scalar.tag, &ev.start_mark, &is_str)) {
                n->kind = YN_BAD;
            } else {
                n->plain = n->style == YS_PLAIN && !is_str;
            }
            if (n->kind == YN_SCALAR && strlen(n->text) != n->len) {
                berth__config_error(x, n,
                                    "a NUL character (\\0) is not allowed in "
                                    "a value");
                n->kind = YN_BAD;
            }
            attach(x, stack, depth, root, n);
            break;
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
            if (ev.type == YAML_SEQUENCE_START_EVENT) {
                check_anchor(x, ev.data.sequence_start.anchor, &ev.start_mark);
                n = node_new(YN_SEQ, &ev.start_mark);
                check_tag(x, ev.data.sequence_start.tag, &ev.start_mark,
                          &is_str);
            } else {
                check_anchor(x, ev.data.mapping_start.anchor, &ev.start_mark);
                n = node_new(YN_MAP, &ev.start_mark);
                check_tag(x, ev.data.mapping_start.tag, &ev.start_mark,
                          &is_str);
            }
            if (depth == CFG_MAX_DEPTH) {
                berth__config_error(x, n, "nested deeper than %d levels",
                                    CFG_MAX_DEPTH);
                berth__config_ynode_free(n);
                yaml_event_delete(&ev);
                goto out;
            }
            attach(x, stack, depth, root, n);
            stack[depth++] = n;
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            if (depth == 0)
                BERTH_BUG("unbalanced YAML events");
            depth--;
            if (stack[depth]->kind == YN_MAP)
                check_duplicates(x, stack[depth]);
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
    }
    rc = 0;
out:
    yaml_parser_delete(&p);
    if (rc) {
        berth__config_ynode_free(*root);
        *root = NULL;
    }
    return rc;
}
