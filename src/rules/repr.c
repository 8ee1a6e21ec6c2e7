/*
 * repr.c - values printed as Python's repr() prints them: True, 3, 2.5,
 * 1e+16, 'abc', "it's", None, ['a', 'b'], {'team': 'ml'}. Floats use the
 * shortest digits that read back to the same double, in Python's layout.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/rules_int.h"

void berth__rule_sink_put(struct sink *s, const char *p, size_t n)
{
    if (s->buf) {
        berth_buf_append(s->buf, p, n);
        return;
    }
    if (!s->fixed || s->cap == 0)
        return;
    /* Truncate, keeping room for the NUL. */
    if (n > s->cap - 1 - s->len)
        n = s->cap - 1 - s->len;
    memcpy(s->fixed + s->len, p, n);
    s->len += n;
    s->fixed[s->len] = '\0';
}

void berth__rule_sink_puts(struct sink *s, const char *p)
{
    berth__rule_sink_put(s, p, strlen(p));
}

/*
 * The p-digit decimal next to digits x 10^e10 (up: +1 in the last place,
 * down: -1), written back into digits/e10. 9.99 -> 10.0 moves the exponent
 * up; 1.00 -> 0.999 becomes 9.99 one exponent down.
 */
static void step_decimal(char *digits, size_t nd, long *e10, bool up)
{
    size_t i = nd;
    while (i-- > 0) {
        if (up ? digits[i] != '9' : digits[i] != '0') {
            digits[i] = (char)(digits[i] + (up ? 1 : -1));
            break;
        }
        digits[i] = up ? '0' : '9';
    }
    if (up && digits[0] == '0') {
        /* 9.99 -> 0.00 with a carry out: 1.00 one exponent up. */
        digits[0] = '1';
        (*e10)++;
    } else if (!up && digits[0] == '0') {
        for (size_t k = 0; k < nd; k++)
            digits[k] = '9';
        (*e10)--;
    }
}

static bool round_trips(const char *digits, size_t nd, long e10, bool neg,
                        double d)
{
    char t[48];
    size_t o = 0;
    if (neg)
        t[o++] = '-';
    t[o++] = digits[0];
    t[o++] = '.';
    for (size_t k = 1; k < nd; k++)
        t[o++] = digits[k];
    snprintf(t + o, sizeof(t) - o, "e%ld", e10);
    return strtod(t, NULL) == d;
}

/*
 * The shortest digits that read back as d (Python's repr, David Gay's
 * mode 0): for each length, the correctly rounded decimal (glibc's printf
 * is exact), else its neighbour on the other side of d, which at a power
 * of two can round-trip when the nearest one does not.
 */
static size_t shortest_digits(double d, char *digits, long *e10, bool *neg)
{
    char tmp[40];
    size_t nd = 0;

    for (int p = 1; p <= 17; p++) {
        const char *q;
        double back;
        snprintf(tmp, sizeof(tmp), "%.*e", p - 1, d);
        q = tmp;
        *neg = *q == '-';
        if (*neg)
            q++;
        nd = 0;
        for (; *q && *q != 'e'; q++)
            if (*q >= '0' && *q <= '9')
                digits[nd++] = *q;
        *e10 = strtol(q + 1, NULL, 10);
        back = strtod(tmp, NULL);
        if (back == d || p == 17)
            break;
        {
            /* The rounded value fell outside d's interval on one side;
             * only the neighbour on the other side can be inside. */
            char alt[24];
            long ae = *e10;
            memcpy(alt, digits, nd);
            step_decimal(alt, nd, &ae, fabs(back) < fabs(d));
            if (round_trips(alt, nd, ae, *neg, d)) {
                memcpy(digits, alt, nd);
                *e10 = ae;
                break;
            }
        }
    }
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    return nd;
}

void berth__rule_repr_float(double d, char *buf, size_t cap)
{
    char digits[24], out[48];
    size_t nd, o = 0;
    long e10;
    int decpt;
    bool neg;

    if (isnan(d)) {
        snprintf(buf, cap, "nan");
        return;
    }
    if (isinf(d)) {
        snprintf(buf, cap, "%s", d > 0 ? "inf" : "-inf");
        return;
    }
    if (d == 0.0) {
        snprintf(buf, cap, "%s", signbit(d) ? "-0.0" : "0.0");
        return;
    }
    nd = shortest_digits(d, digits, &e10, &neg);
    decpt = (int)e10 + 1; /* value = 0.DIGITS x 10^decpt */

    if (neg)
        out[o++] = '-';
    if (decpt > -4 && decpt <= 16) {
        if (decpt <= 0) {
            out[o++] = '0';
            out[o++] = '.';
            for (int k = 0; k < -decpt; k++)
                out[o++] = '0';
            for (size_t k = 0; k < nd; k++)
                out[o++] = digits[k];
        } else if ((size_t)decpt >= nd) {
            for (size_t k = 0; k < nd; k++)
                out[o++] = digits[k];
            for (size_t k = nd; k < (size_t)decpt; k++)
                out[o++] = '0';
            out[o++] = '.';
            out[o++] = '0';
        } else {
            for (size_t k = 0; k < nd; k++) {
                if (k == (size_t)decpt)
                    out[o++] = '.';
                out[o++] = digits[k];
            }
        }
        out[o] = '\0';
    } else {
        out[o++] = digits[0];
        if (nd > 1) {
            out[o++] = '.';
            for (size_t k = 1; k < nd; k++)
                out[o++] = digits[k];
        }
        snprintf(out + o, sizeof(out) - o, "e%c%02d", decpt - 1 < 0 ? '-' : '+',
                 abs(decpt - 1));
    }
    snprintf(buf, cap, "%s", out);
}

/*
 * Python's str.isprintable() for non-ASCII code points, approximately:
 * the control, separator, format and private-use ranges are escaped; code
 * points Unicode has not assigned are printed as they are (Python escapes
 * them too, but knowing them needs the Unicode database).
 */
static bool printable(uint32_t c)
{
    static const uint32_t ranges[][2] = {
        {0x80, 0xa0},        {0xad, 0xad},       {0x600, 0x605},
        {0x61c, 0x61c},      {0x6dd, 0x6dd},     {0x70f, 0x70f},
        {0x890, 0x891},      {0x8e2, 0x8e2},     {0x1680, 0x1680},
        {0x180e, 0x180e},    {0x2000, 0x200f},   {0x2028, 0x202f},
        {0x205f, 0x2064},    {0x2066, 0x206f},   {0x3000, 0x3000},
        {0xd800, 0xf8ff},    {0xfdd0, 0xfdef},   {0xfeff, 0xfeff},
        {0xfff0, 0xfffb},    {0xfffe, 0xffff},   {0x110bd, 0x110bd},
        {0x110cd, 0x110cd},  {0x13430, 0x1343f}, {0x1bca0, 0x1bca3},
        {0x1d173, 0x1d17a},  {0xe0000, 0xe00ff}, {0xe01f0, 0xe0fff},
        {0xf0000, 0x10ffff},
    };
    if ((c & 0xfffe) == 0xfffe)
        return false;
    for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++)
        if (c >= ranges[i][0] && c <= ranges[i][1])
            return false;
    return true;
}

void berth__rule_repr_str(struct sink *s, const char *p, size_t n)
{
    char q = '\'';
    if (memchr(p, '\'', n) && !memchr(p, '"', n))
        q = '"';
    berth__rule_sink_put(s, &q, 1);
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)p[i];
        char esc[16];
        uint32_t cp = 0;
        size_t k;

        if (c < 0x80) {
            i++;
            if (c == (unsigned char)q || c == '\\') {
                esc[0] = '\\';
                esc[1] = (char)c;
                berth__rule_sink_put(s, esc, 2);
            } else if (c == '\t') {
                berth__rule_sink_puts(s, "\\t");
            } else if (c == '\n') {
                berth__rule_sink_puts(s, "\\n");
            } else if (c == '\r') {
                berth__rule_sink_puts(s, "\\r");
            } else if (c < 0x20 || c == 0x7f) {
                snprintf(esc, sizeof(esc), "\\x%02x", c);
                berth__rule_sink_puts(s, esc);
            } else {
                esc[0] = (char)c;
                berth__rule_sink_put(s, esc, 1);
            }
            continue;
        }
        k = berth_utf8_dec(p + i, n - i, &cp);
        if (k == 0) {
            /* Not reachable with valid UTF-8; show the byte. */
            snprintf(esc, sizeof(esc), "\\x%02x", c);
            berth__rule_sink_puts(s, esc);
            i++;
            continue;
        }
        if (printable(cp)) {
            berth__rule_sink_put(s, p + i, k);
        } else {
            if (cp <= 0xff)
                snprintf(esc, sizeof(esc), "\\x%02x", (unsigned)cp);
            else if (cp <= 0xffff)
                snprintf(esc, sizeof(esc), "\\u%04x", (unsigned)cp);
            else
                snprintf(esc, sizeof(esc), "\\U%08x", (unsigned)cp);
            berth__rule_sink_puts(s, esc);
        }
        i += k;
    }
    berth__rule_sink_put(s, &q, 1);
}

void berth__rule_repr(struct sink *s, const struct val *v)
{
    char b[48];

    switch (v->t) {
    case V_NONE:
        berth__rule_sink_puts(s, "None");
        return;
    case V_BOOL:
        berth__rule_sink_puts(s, v->u.i ? "True" : "False");
        return;
    case V_INT:
        snprintf(b, sizeof(b), "%lld", (long long)v->u.i);
        berth__rule_sink_puts(s, b);
        return;
    case V_FLOAT:
        berth__rule_repr_float(v->u.f, b, sizeof(b));
        berth__rule_sink_puts(s, b);
        return;
    case V_STR:
        berth__rule_repr_str(s, v->u.s, v->n);
        return;
    case V_LIST:
    case V_STRV:
    case V_GROUPS:
        berth__rule_sink_puts(s, "[");
        for (size_t i = 0; i < v->n; i++) {
            /* Elements are scalars: no deeper nesting. */
            struct val e = berth__rule_elem(v, i);
            if (i)
                berth__rule_sink_puts(s, ", ");
            if (e.t == V_STR)
                berth__rule_repr_str(s, e.u.s, e.n);
            else
                berth__rule_repr(s, &e);
        }
        berth__rule_sink_puts(s, "]");
        return;
    case V_MAP:
        berth__rule_sink_puts(s, "{");
        for (size_t i = 0; v->u.m && i < v->u.m->n; i++) {
            const char *key = v->u.m->kv[i].key;
            const char *val = v->u.m->kv[i].value;
            if (i)
                berth__rule_sink_puts(s, ", ");
            berth__rule_repr_str(s, key, strlen(key));
            berth__rule_sink_puts(s, ": ");
            berth__rule_repr_str(s, val ? val : "", val ? strlen(val) : 0);
        }
        berth__rule_sink_puts(s, "}");
        return;
    case V_JOB:
        berth__rule_sink_puts(s, "<job>");
        return;
    case V_TMPL:
        berth__rule_sink_puts(s, "<template>");
        return;
    case V_USER:
        berth__rule_sink_puts(s, "<user>");
        return;
    default:
        berth__rule_sink_puts(s, "?");
    }
}
