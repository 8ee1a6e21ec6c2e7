/* cmd_worker.c - `berth worker`: the dispatcher (DESIGN.md § Worker), with
 * its signals: SIGTERM/SIGINT stop it cleanly, SIGUSR1 logs its state,
 * SIGHUP re-reads the config. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth/log.h"
#include "berth/worker.h"
#include "cli.h"

static const char worker_help[] =
    "usage: berth worker [--once] [--dry-run] [--concurrency N] "
    "[--max-jobs N]\n"
    "                    [--poll-interval S] [--executor T] [--host NAME]\n"
    "                    [--id ID] [--lease DUR]\n"
    "\n"
    "Claim pending jobs, route them, launch them, follow them to the end.\n"
    "\n"
    "  --once             claim the jobs ready now, follow them to their end\n"
    "                     (retries included), then exit\n"
    "  --dry-run          print where ready jobs would go; change nothing\n"
    "  --concurrency N    backend calls in flight at once (default 8)\n"
    "  --max-jobs N       stop claiming after N jobs\n"
    "  --poll-interval S  idle wait between claims (default 1s)\n"
    "  --executor T       place jobs only on executor T\n"
    "  --host NAME        place jobs only on host NAME\n"
    "  --id ID            worker id (default host:pid:random); a restart\n"
    "                     with the same id reconciles its jobs at once\n"
    "  --lease DUR        lease on claimed jobs (default 30s)\n"
    "\n"
    "Signals: TERM/INT stop claiming, finish calls in flight, release leases\n"
    "and exit 0; USR1 logs the worker's state; HUP re-reads the config.\n";

static struct berth_worker *volatile the_worker;
static volatile sig_atomic_t stop_early; /* a stop before the worker exists */

static void on_stop(int sig)
{
    (void)sig;
    stop_early = 1;
    if (the_worker)
        berth_worker_stop(the_worker);
}

static void on_usr1(int sig)
{
    (void)sig;
    if (the_worker)
        berth_worker_request_dump(the_worker);
}

static void on_hup(int sig)
{
    (void)sig;
    if (the_worker)
        berth_worker_request_reload(the_worker);
}

static struct berth_config *reload_config(void *ctx)
{
    struct cli *c = ctx;
    struct berth_config *nc = NULL;
    struct berth_buf report = BERTH_BUF_INIT;
    struct berth_err err;

    berth_err_init(&err);
    if (berth_config_load(c->config_path, &nc, &report, &err) != 0) {
        berth_log(BERTH_LOG_ERROR,
                  "config reload refused; keeping the "
                  "running config",
                  BL_S("config", c->config_path),
                  BL_S("errors", berth_buf_cstr(&report)));
        berth_buf_release(&report);
        return NULL;
    }
    berth_buf_release(&report);
    /* DESIGN.md § Worker: SIGHUP re-syncs executors and hosts too. The
     * hook runs on the worker's main thread, which owns the store. */
    if (cli_sync_config(c->store, nc, &err) != 0) {
        berth_log(BERTH_LOG_ERROR,
                  "config reload refused; keeping the running config",
                  BL_S("config", c->config_path), BL_S("error", err.msg));
        berth_config_free(nc);
        return NULL;
    }
    return nc;
}

static void handle(int sig, void (*fn)(int))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = fn;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
}

int cmd_worker(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"once", no_argument, NULL, 'o'},
        {"dry-run", no_argument, NULL, 'd'},
        {"concurrency", required_argument, NULL, 'c'},
        {"max-jobs", required_argument, NULL, 'm'},
        {"poll-interval", required_argument, NULL, 'p'},
        {"executor", required_argument, NULL, 'e'},
        {"host", required_argument, NULL, 'H'},
        {"id", required_argument, NULL, 'i'},
        {"lease", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct berth_worker_opts o;
    struct berth_config *cfg;
    struct berth_store *st;
    struct berth_worker *w = NULL;
    struct berth_err err;
    int opt, rc;
    int64_t v;

    /* Signals first: a SIGTERM that arrives while the config loads still
     * means a clean stop. */
    handle(SIGTERM, on_stop);
    handle(SIGINT, on_stop);
    handle(SIGUSR1, on_usr1);
    handle(SIGHUP, on_hup);
    signal(SIGPIPE, SIG_IGN);
    berth_worker_opts_init(&o);
    optind = 0;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
        berth_err_init(&err);
        switch (opt) {
        case 'o':
            o.once = true;
            break;
        case 'd':
            o.dry_run = true;
            break;
        case 'c':
            if (berth_parse_i64(optarg, 1, 1024, &v) != 0)
                return cli_usage_error("worker",
                                       "--concurrency '%s': "
                                       "expected 1..1024",
                                       optarg);
            o.concurrency = (int)v;
            break;
        case 'm':
            if (berth_parse_i64(optarg, 1, INT64_MAX, &o.max_jobs) != 0)
                return cli_usage_error("worker",
                                       "--max-jobs '%s': expected "
                                       "an integer >= 1",
                                       optarg);
            break;
        case 'p':
        case 'l':
            if (berth_parse_duration(optarg, &v, &err) != 0 || v <= 0)
                return cli_usage_error(
                    "worker",
                    "%s '%s': expected a "
                    "duration > 0 (1s, 500ms)",
                    opt == 'p' ? "--poll-interval" : "--lease", optarg);
            if (opt == 'p')
                o.poll_interval_us = v;
            else
                o.lease_us = v;
            break;
        case 'e':
            o.only_executor = optarg;
            break;
        case 'H':
            o.only_host = optarg;
            break;
        case 'i':
            o.id = optarg;
            break;
        case 'h':
            fputs(worker_help, stdout);
            return CLI_OK;
        default:
            return cli_usage_error("worker", "unknown option '%s'",
                                   argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage_error("worker", "unexpected argument '%s'",
                               argv[optind]);
    rc = cli_config(c, &cfg);
    if (rc)
        return rc;
    if (o.only_executor && !berth_config_executor(cfg, o.only_executor))
        return cli_usage_error("worker",
                               "--executor '%s': no such executor "
                               "in the config",
                               o.only_executor);
    rc = cli_store(c, &st);
    if (rc)
        return rc;
    berth_err_init(&err);
    if (berth_worker_new(cfg, st, &o, &w, &err) != 0)
        return cli_fail("cannot start worker: %s", err.msg);
    berth_worker_set_reload(w, reload_config, c);
    the_worker = w;
    if (stop_early)
        berth_worker_stop(w);
    rc = berth_worker_run(w, &err);
    the_worker = NULL;
    berth_worker_free(w);
    if (rc)
        return cli_fail("worker: %s", err.msg);
    return CLI_OK;
}
