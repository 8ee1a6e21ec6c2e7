/*
 * fuzz_docker_logs.c - the Docker log stream demultiplexer and the capped
 * capture behind `berth logs` (src/exec/docker_proto.c).
 *
 * Input: byte 0 picks the mode (bit 0: TTY/raw stream) and the chunking
 * (bits 1-7 seed the split points); byte 1 the capture cap; the rest is the
 * stream as the engine would send it. The same stream fed whole and fed in
 * chunks must give the same result (same bytes per stream, same error),
 * payload never exceeds the input, and the capture keeps each stream within
 * its cap.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "exec/docker_int.h"

struct out {
    struct berth_buf s[2];
    size_t total;
};

static int sink(int stream, const char *data, size_t len, void *ctx)
{
    struct out *o = ctx;
    if (len == 0 || (stream != 1 && stream != 2))
        abort();
    o->total += len;
    berth_buf_append(&o->s[stream - 1], data, len);
    return 0;
}

static int feed(const uint8_t *data, size_t size, bool raw, unsigned seed,
                struct out *o, bool *partial)
{
    struct berth__docker_demux d;
    size_t off = 0;
    int rc = 0;

    berth__docker_demux_init(&d, raw);
    while (off < size) {
        size_t n = size - off;
        if (seed) {
            seed = seed * 1103515245u + 12345u;
            n = 1 + (seed >> 16) % 13;
            if (n > size - off)
                n = size - off;
        }
        rc = berth__docker_demux_feed(&d, (const char *)data + off, n, sink, o);
        if (rc)
            break;
        off += n;
    }
    *partial = berth__docker_demux_partial(&d);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct out whole, parts;
    bool raw, p1, p2;
    unsigned seed;
    size_t cap;
    int rc1, rc2;

    if (size < 2)
        return 0;
    raw = data[0] & 1;
    seed = (unsigned)(data[0] >> 1) | 1u;
    cap = 1 + data[1];
    data += 2;
    size -= 2;

    memset(&whole, 0, sizeof(whole));
    memset(&parts, 0, sizeof(parts));
    rc1 = feed(data, size, raw, 0, &whole, &p1);
    rc2 = feed(data, size, raw, seed, &parts, &p2);
    if (rc1 != rc2 || whole.total != parts.total || whole.total > size)
        abort();
    if (rc1 == 0 && p1 != p2)
        abort();
    for (int i = 0; i < 2; i++) {
        if (whole.s[i].len != parts.s[i].len ||
            (whole.s[i].len &&
             memcmp(whole.s[i].data, parts.s[i].data, whole.s[i].len) != 0))
            abort();
    }

    /* The capped capture of what came out. */
    {
        struct berth__docker_logcap c;
        struct berth_job_logs logs;
        bool cut = false;
        berth__docker_logcap_init(&c, cap);
        for (int i = 0; i < 2; i++) {
            const char *p = berth_buf_cstr(&whole.s[i]);
            size_t n = whole.s[i].len, off = 0;
            cut = cut || n > cap;
            while (off < n) {
                size_t k = n - off < 7 ? n - off : 7;
                berth__docker_logcap_add(i + 1, p + off, k, &c);
                off += k;
            }
        }
        berth_job_logs_init(&logs);
        berth__docker_logcap_finish(&c, &logs);
        if (logs.out_len > cap || logs.err_len > cap ||
            strlen(logs.out) > logs.out_len || logs.truncated != cut)
            abort();
        /* What is kept is the end of what came. */
        if (logs.out_len &&
            memcmp(logs.out, whole.s[0].data + whole.s[0].len - logs.out_len,
                   logs.out_len) != 0)
            abort();
        berth_job_logs_release(&logs);
        berth__docker_logcap_release(&c);
    }
    for (int i = 0; i < 2; i++) {
        berth_buf_release(&whole.s[i]);
        berth_buf_release(&parts.s[i]);
    }
    return 0;
}
