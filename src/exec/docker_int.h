/*
 * docker_int.h - the pure parts of the Docker backend (docker_proto.c):
 * engine URLs, request bodies, response parsing and the log stream
 * demultiplexer. No I/O here, so unit tests and the fuzzer drive them
 * directly; docker.c does the talking.
 *
 * Everything returned through a pointer argument is owned by the caller
 * unless said otherwise.
 */
#ifndef BERTH_EXEC_DOCKER_INT_H
#define BERTH_EXEC_DOCKER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "berth/err.h"
#include "berth/exec.h"
#include "berth/util.h"

/* The newest Engine API version berth is written against (Docker 20.10). */
#define BERTH_DOCKER_API_MAX "1.41"

/* Labels berth puts on every container it creates. */
#define BERTH_DOCKER_LABEL_JOB       "berth.job"
#define BERTH_DOCKER_LABEL_ATTEMPT   "berth.attempt"
#define BERTH_DOCKER_LABEL_HOST      "berth.host"
#define BERTH_DOCKER_LABEL_EXECUTOR  "berth.executor"
#define BERTH_DOCKER_LABEL_NAMESPACE "berth.namespace"

/* ---- engine endpoint ---------------------------------------------------- */

/*
 * Where the engine listens. "unix:///run/docker.sock" gives socket
 * "/run/docker.sock" and base "http://docker"; "tcp://h:2376" gives base
 * "http://h:2376", or "https://h:2376" when tls is set; "http://" and
 * "https://" URLs are taken as they are. A tcp URL without a port gets 2375
 * (2376 with TLS), as the docker CLI does.
 */
struct berth__docker_endpoint {
    char *socket; /* NULL for TCP */
    char *base;   /* scheme://authority, no trailing slash */
    bool tls;
};

int berth__docker_endpoint_parse(const char *url, bool tls,
                                 struct berth__docker_endpoint *out,
                                 struct berth_err *err);
void berth__docker_endpoint_release(struct berth__docker_endpoint *ep);

/*
 * The API version to speak: the lower of the engine's ApiVersion and
 * BERTH_DOCKER_API_MAX, written "1.41" into buf. BERTH_E_PARSE when the
 * engine's version is not "<major>.<minor>".
 */
int berth__docker_api_pick(const char *engine_version, char *buf, size_t size,
                           struct berth_err *err);

/* ---- requests ---------------------------------------------------------- */

/* What a create body needs beyond the launch request. Borrowed. */
struct berth__docker_create {
    const char *host;       /* berth.host label */
    const char *executor;   /* berth.executor label */
    const char *namespace_; /* berth.namespace label, NULL/"" = none */
    const char *network;    /* default NetworkMode, NULL/"" = engine's */
    int stop_grace_seconds; /* StopTimeout, < 0 = engine's */
    bool allow_swap;        /* leave MemorySwap to the engine (2x) */
};

/*
 * The JSON body of POST /containers/create for req. Labels: the job's own
 * (except the reserved "berth." ones), then berth.job, berth.attempt,
 * berth.host, berth.executor and berth.namespace. Memory and NanoCpus only
 * when set (> 0); MemorySwap equal to Memory (no swap) unless allow_swap.
 * Caller frees.
 */
char *berth__docker_create_body(const struct berth_launch *req,
                                const struct berth__docker_create *c);

/*
 * Split an image reference into the fromImage and tag query parameters of
 * POST /images/create: "busybox" -> ("busybox", "latest"),
 * "reg:5000/a/b:1" -> ("reg:5000/a/b", "1"), "a@sha256:..." -> (whole, "").
 * Caller frees both.
 */
void berth__docker_image_split(const char *image, char **from, char **tag);

/* ---- responses --------------------------------------------------------- */

/*
 * The engine's error text from a response body: its JSON "message", else
 * the body itself made printable and cut to fit. Never fails; "" for an
 * empty body.
 */
void berth__docker_message(const char *body, size_t len, char *buf,
                           size_t size);

/* "Id" of a create response. */
int berth__docker_parse_created(const char *json, size_t len, char *id,
                                size_t size, struct berth_err *err);

/* What berth reads of GET /containers/{id}/json. */
struct berth__docker_inspect {
    char id[BERTH_EXEC_ID_MAX];
    char name[128];  /* without the leading "/" */
    char status[32]; /* State.Status: created running paused restarting
                        removing exited dead */
    bool oom_killed;
    bool tty;
    int exit_code;
    int64_t started_at;   /* us; 0 when never (Docker's year 1) */
    int64_t finished_at;  /* us; 0 when not yet */
    int64_t memory_limit; /* HostConfig.Memory, bytes; 0 = none */
    char error[256];      /* State.Error */
    int64_t job_id;       /* label berth.job, -1 absent */
    int attempt;          /* label berth.attempt, -1 absent */
};

int berth__docker_parse_inspect(const char *json, size_t len,
                                struct berth__docker_inspect *out,
                                struct berth_err *err);

/* Map State.Status to a berth_exec_state. */
enum berth_exec_state berth__docker_state(const char *status);

/*
 * Fill q (state, exit code, OOM, times, message) from an inspect. Leaves
 * peak_memory_bytes, cpu_time_us and cancelled alone.
 */
void berth__docker_inspect_to_status(const struct berth__docker_inspect *in,
                                     struct berth_exec_status *q);

/*
 * One-shot stats: peak memory (memory_stats.max_usage, or usage where the
 * engine has no max, i.e. cgroup v2) and total CPU time. -1 for a figure
 * the engine did not give (a stopped container reports nothing).
 */
int berth__docker_parse_stats(const char *json, size_t len, int64_t *peak_mem,
                              int64_t *cpu_us, struct berth_err *err);

/*
 * GET /containers/json?all=1 -> objects. Containers whose berth.namespace
 * label differs from namespace_ are left out ("" = those without one);
 * NULL keeps every namespace. *out: caller frees with free().
 */
int berth__docker_parse_list(const char *json, size_t len,
                             const char *namespace_,
                             struct berth_exec_object **out, size_t *n,
                             struct berth_err *err);

/* ---- log stream -------------------------------------------------------- */

/*
 * Demultiplexes the engine's log stream for containers without a TTY:
 * frames of an 8-byte header (stream: 0 stdin, 1 stdout, 2 stderr; three
 * zero bytes; big-endian uint32 payload length) then the payload. Bytes may
 * arrive split anywhere. A TTY container's stream is raw: all of it is
 * stdout. stdin frames (never sent by engines, but legal) count as stdout.
 */
struct berth__docker_demux {
    unsigned char hdr[8];
    size_t hdr_len; /* header bytes collected so far */
    uint32_t left;  /* payload bytes still to come in this frame */
    int stream;     /* 1 or 2, of the current frame */
    bool raw;       /* TTY: no framing */
    bool bad;       /* a malformed header was seen; sticky */
};

void berth__docker_demux_init(struct berth__docker_demux *d, bool raw);

/*
 * Feed bytes. fn gets each payload piece (never empty). Returns 0,
 * BERTH_E_PARSE at a malformed header (and from then on), or 1 when fn
 * returned non-zero.
 */
int berth__docker_demux_feed(struct berth__docker_demux *d, const char *data,
                             size_t len, berth_exec_log_fn fn, void *ctx);

/* True when the stream stopped inside a frame (header or payload). */
bool berth__docker_demux_partial(const struct berth__docker_demux *d);

/*
 * Captures both streams with a cap per stream, keeping the end of each
 * (where a failing job says why): when more than max bytes came, the first
 * ones are dropped, the kept part starts at a line boundary where one is
 * near, and truncated is set.
 */
struct berth__docker_logcap {
    struct berth_buf out;
    struct berth_buf err;
    size_t max; /* per stream, > 0 */
    bool truncated;
    bool cut_out; /* stdout lost its beginning */
    bool cut_err;
};

void berth__docker_logcap_init(struct berth__docker_logcap *c, size_t max);
void berth__docker_logcap_release(struct berth__docker_logcap *c);
/* A berth_exec_log_fn; ctx is the logcap. Always returns 0. */
int berth__docker_logcap_add(int stream, const char *data, size_t len,
                             void *ctx);
/* Moves the capture into out (trimmed to max per stream). */
void berth__docker_logcap_finish(struct berth__docker_logcap *c,
                                 struct berth_job_logs *out);

#endif
