/* berth_test.c - helpers for cmocka tests (see berth_test.h). */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "berth_test.h"

char *bt_tmpdir(const char *tag)
{
    const char *base = getenv("TMPDIR");
    char *path = berth_xasprintf("%s/berth-%s-XXXXXX",
                                 base && *base ? base : "/tmp", tag);
    if (!mkdtemp(path)) {
        fprintf(stderr, "mkdtemp %s: %s\n", path, strerror(errno));
        abort();
    }
    return path;
}

static int rm_one(const char *p, const struct stat *sb, int flag,
                  struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(p);
    return 0;
}

void bt_rmtree(const char *path)
{
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

const char *bt_berth_bin(void)
{
    const char *b = getenv("BERTH_BIN");
    if (!b || !*b) {
        fprintf(stderr, "BERTH_BIN is not set (run through ctest)\n");
        abort();
    }
    return b;
}

void bt_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
        fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
        abort();
    }
}

int bt_run(char *const argv[], const char *stdin_text, struct berth_buf *out,
           struct berth_buf *err)
{
    int pin[2], pout[2], perr[2];
    pid_t pid;
    int status;
    size_t in_off = 0, in_len = stdin_text ? strlen(stdin_text) : 0;

    if (pipe(pin) || pipe(pout) || pipe(perr))
        abort();
    pid = fork();
    if (pid < 0)
        abort();
    if (pid == 0) {
        dup2(pin[0], 0);
        dup2(pout[1], 1);
        dup2(perr[1], 2);
        close(pin[0]);
        close(pin[1]);
        close(pout[0]);
        close(pout[1]);
        close(perr[0]);
        close(perr[1]);
        execv(argv[0], argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(pin[0]);
    close(pout[1]);
    close(perr[1]);
    signal(SIGPIPE, SIG_IGN);
    if (in_len == 0) {
        close(pin[1]);
        pin[1] = -1;
    }
    {
        struct pollfd fds[3];
        int open_fds = 2;
        bool out_open = true, err_open = true;
        while (open_fds > 0 || pin[1] >= 0) {
            nfds_t nf = 0;
            char chunk[8192];
            if (out_open)
                fds[nf++] = (struct pollfd){pout[0], POLLIN, 0};
            if (err_open)
                fds[nf++] = (struct pollfd){perr[0], POLLIN, 0};
            if (pin[1] >= 0)
                fds[nf++] = (struct pollfd){pin[1], POLLOUT, 0};
            if (poll(fds, nf, -1) < 0) {
                if (errno == EINTR)
                    continue;
                abort();
            }
            for (nfds_t k = 0; k < nf; k++) {
                if (!fds[k].revents)
                    continue;
                if (fds[k].fd == pin[1]) {
                    ssize_t w =
                        write(pin[1], stdin_text + in_off, in_len - in_off);
                    if (w > 0)
                        in_off += (size_t)w;
                    if (w <= 0 || in_off == in_len) {
                        close(pin[1]);
                        pin[1] = -1;
                    }
                    continue;
                }
                ssize_t r = read(fds[k].fd, chunk, sizeof(chunk));
                if (r <= 0) {
                    if (fds[k].fd == pout[0])
                        out_open = false;
                    else
                        err_open = false;
                    open_fds--;
                    continue;
                }
                struct berth_buf *dst = fds[k].fd == pout[0] ? out : err;
                if (dst)
                    berth_buf_append(dst, chunk, (size_t)r);
            }
        }
    }
    close(pout[0]);
    close(perr[0]);
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            abort();
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return 128 + WTERMSIG(status);
}

static void pg_exec(const char *admin_url, const char *sql)
{
    PGconn *c = PQconnectdb(admin_url);
    PGresult *r;
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "cannot connect to %s: %s\n", admin_url,
                PQerrorMessage(c));
        abort();
    }
    r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        fprintf(stderr, "%s: %s\n", sql, PQerrorMessage(c));
        abort();
    }
    PQclear(r);
    PQfinish(c);
}

char *bt_pg_fresh(const char *admin_url, char **name)
{
    const char *slash = strrchr(admin_url, '/');
    char *sql;
    static unsigned seq;

    *name = berth_xasprintf("berth_t_%d_%u_%ld", (int)getpid(), seq++,
                            (long)(berth_now_us() % 1000000));
    sql = berth_xasprintf("CREATE DATABASE %s", *name);
    pg_exec(admin_url, sql);
    free(sql);
    if (!slash || strncmp(admin_url, "postgres", 8) != 0)
        abort();
    return berth_xasprintf("%.*s/%s", (int)(slash - admin_url), admin_url,
                           *name);
}

void bt_pg_drop(const char *admin_url, const char *name)
{
    char *sql =
        berth_xasprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
    pg_exec(admin_url, sql);
    free(sql);
}
