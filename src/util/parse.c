/* parse.c - whole-string number parsing, K=V, edit distance, file reading
 * (see berth/util.h). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth/util.h"

int berth_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
    char *end;
    long long v;

    if (!s || !*s)
        return BERTH_E_INVALID;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || *end || end == s)
        return BERTH_E_INVALID;
    if (v < min || v > max)
        return BERTH_E_INVALID;
    *out = (int64_t)v;
    return 0;
}

int berth_parse_double(const char *s, double *out)
{
    char *end;
    double v;

    if (!s || !*s)
        return BERTH_E_INVALID;
    errno = 0;
    v = strtod(s, &end);
    if (errno || *end || end == s || !isfinite(v))
        return BERTH_E_INVALID;
    *out = v;
    return 0;
}

int berth_parse_kv(const char *s, char **key, char **value,
                   struct berth_err *err)
{
    const char *eq = strchr(s, '=');
    if (!eq || eq == s)
        return berth_err_set(err, BERTH_E_INVALID,
                             "expected KEY=VALUE, got '%s'", s);
    *key = berth_xstrndup(s, (size_t)(eq - s));
    *value = berth_xstrdup(eq + 1);
    return 0;
}

size_t berth_edit_distance(const char *a, const char *b, size_t cap)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t *prev, *cur, *tmp, best, res;

    if (la > lb ? la - lb > cap : lb - la > cap)
        return cap + 1;
    prev = berth_xcalloc(lb + 1, sizeof(size_t));
    cur = berth_xcalloc(lb + 1, sizeof(size_t));
    for (size_t j = 0; j <= lb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        best = cur[0];
        for (size_t j = 1; j <= lb; j++) {
            size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
            size_t m = sub < del ? sub : del;
            cur[j] = m < ins ? m : ins;
            if (cur[j] < best)
                best = cur[j];
        }
        if (best > cap) {
            free(prev);
            free(cur);
            return cap + 1;
        }
        tmp = prev;
        prev = cur;
        cur = tmp;
    }
    res = prev[lb] > cap ? cap + 1 : prev[lb];
    free(prev);
    free(cur);
    return res;
}

int berth_read_file(const char *path, size_t cap, char **out, size_t *len,
                    struct berth_err *err)
{
    FILE *f = fopen(path, "rb");
    struct berth_buf b;
    char chunk[8192];
    size_t n;

    *out = NULL;
    if (len)
        *len = 0;
    if (!f)
        return berth_err_set(err, BERTH_E_IO, "cannot open '%s': %s", path,
                             strerror(errno));
    berth_buf_init(&b, cap);
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (berth_buf_append(&b, chunk, n)) {
            fclose(f);
            berth_buf_release(&b);
            return berth_err_set(err, BERTH_E_TOOBIG,
                                 "'%s' is larger than %zu bytes", path, cap);
        }
    }
    if (ferror(f)) {
        int e = errno;
        fclose(f);
        berth_buf_release(&b);
        return berth_err_set(err, BERTH_E_IO, "cannot read '%s': %s", path,
                             strerror(e));
    }
    fclose(f);
    if (len)
        *len = b.len;
    *out = berth_buf_detach(&b);
    return 0;
}

size_t berth_utf8_dec(const char *p, size_t n, uint32_t *cp)
{
    const unsigned char *s = (const unsigned char *)p;
    uint32_t c;
    size_t len;

    if (n == 0)
        return 0;
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        len = 2;
        c = s[0] & 0x1fu;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        len = 3;
        c = s[0] & 0x0fu;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        len = 4;
        c = s[0] & 0x07u;
    } else {
        return 0; /* a continuation byte, 0xc0/0xc1, or past 0xf4 */
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3fu);
    }
    /* Overlong forms, surrogates and values past U+10FFFF are invalid. */
    if ((len == 3 && c < 0x800) || (len == 4 && c < 0x10000) ||
        (c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff)
        return 0;
    *cp = c;
    return len;
}

bool berth_utf8_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    for (size_t i = 0, k; i < n; i += k) {
        uint32_t cp;
        if ((k = berth_utf8_dec(s + i, n - i, &cp)) == 0)
            return false;
    }
    return true;
}
