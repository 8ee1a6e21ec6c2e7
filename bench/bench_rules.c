/*
 * bench_rules.c - time per routing decision with berth's compiled rules.
 *
 * Generates jobs with a seeded splitmix64 (bench/rules_eval.py generates
 * the very same jobs for Python's eval()), and for each job builds the
 * rule context and evaluates the rules in priority order until the first
 * match, as the router does. Prints ns per decision (min and median of
 * --runs runs) and how many jobs each rule took, so that the Python side
 * can be checked to have made the same decisions. Times are the process's
 * CPU time, which a busy shared machine disturbs less than wall time.
 *
 *   bench_rules [--jobs N] [--runs R] [--seed S] [--rules seven|many]
 *               [--many N] [--write-rules FILE]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "berth/rules.h"
#include "berth/util.h"

/* The seven rules of issue 3, in priority order. */
static const char *const seven[] = {
    "memory_mb > 8192",
    "cpu_cores > 4.0",
    "timeout_seconds > 3600",
    "template.name.startswith(\"ml-\")",
    "template.name.startswith(\"batch-\")",
    "user and user.groups.filter(name=\"premium\").exists()",
    "template.name.startswith(\"test-\")",
};

/* Job attribute pools; bench/rules_eval.py has the same tables. */
static const int64_t mems[] = {256, 512, 1024, 2048, 4096, 8192, 16384, 32768};
static const double cpus[] = {0.25, 0.5, 1.0, 2.0, 4.0, 8.0};
static const int64_t timeouts[] = {60, 300, 600, 1800, 3600, 7200};
static const char *const templates[] = {
    "",          "ml-train", "ml-infer", "batch-report", "batch-etl",
    "test-unit", "test-e2e", "web-api",  "cron-cleanup", "data-sync",
};
static const char *const teams[] = {"ml", "infra", "web", "data"};
#define NGROUPSETS 4
#define NTEMPLATES (sizeof(templates) / sizeof(templates[0]))
#define NTEAMS     4

struct job {
    uint8_t mem, cpu, timeout, tmpl, user, team, hour, weekday;
};

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static void gen_jobs(struct job *jobs, size_t n, uint64_t seed)
{
    uint64_t s = seed;
    for (size_t i = 0; i < n; i++) {
        jobs[i].mem = (uint8_t)(splitmix(&s) % 8);
        jobs[i].cpu = (uint8_t)(splitmix(&s) % 6);
        jobs[i].timeout = (uint8_t)(splitmix(&s) % 6);
        jobs[i].tmpl = (uint8_t)(splitmix(&s) % NTEMPLATES);
        jobs[i].user = (uint8_t)(splitmix(&s) % 10);
        jobs[i].team = (uint8_t)(splitmix(&s) % NTEAMS);
        jobs[i].hour = (uint8_t)(splitmix(&s) % 24);
        jobs[i].weekday = (uint8_t)(splitmix(&s) % 7);
    }
}

/* A routing table of n rules that jobs mostly fall through. */
static char **many_rules(size_t n)
{
    char **r = berth_xcalloc(n, sizeof(*r));
    for (size_t k = 0; k < n; k++) {
        switch (k % 4) {
        case 0:
            r[k] = berth_xasprintf("template.name == \"svc-%zu\"", k);
            break;
        case 1:
            r[k] = berth_xasprintf("labels.get(\"team\") == \"team-%zu\"", k);
            break;
        case 2:
            r[k] = berth_xasprintf("memory_mb == %zu and cpu_cores > 1.0",
                                   k * 1000 + 7);
            break;
        default:
            r[k] = berth_xasprintf(
                "user and user.groups.filter(name=\"g%zu\").exists()", k);
        }
    }
    return r;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    size_t njobs = 1000000, nrules, nmany = 1000;
    int runs = 3;
    uint64_t seed = 20261127;
    bool many = false;
    const char *write_rules = NULL;
    const char *const *texts;
    char **owned = NULL;
    struct berth_rule **rules;
    struct job *jobs;
    struct berth_map labels[NTEMPLATES][NTEAMS], tlabels[NTEMPLATES];
    struct berth_strv groups[NGROUPSETS];
    size_t *hits;
    double times[16], t0, compile_s;
    size_t errors = 0;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--jobs") == 0 && i + 1 < argc)
            njobs = strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
            runs = (int)strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
            seed = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--rules") == 0 && i + 1 < argc)
            many = strcmp(argv[++i], "many") == 0;
        else if (strcmp(argv[i], "--many") == 0 && i + 1 < argc)
            nmany = strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--write-rules") == 0 && i + 1 < argc)
            write_rules = argv[++i];
        else {
            fprintf(stderr,
                    "usage: %s [--jobs N] [--runs R] [--seed S] "
                    "[--rules seven|many] [--many N] "
                    "[--write-rules FILE]\n",
                    argv[0]);
            return 2;
        }
    }
    if (runs < 1 || runs > 16)
        runs = 3;
    if (many) {
        owned = many_rules(nmany);
        texts = (const char *const *)owned;
        nrules = nmany;
    } else {
        texts = seven;
        nrules = sizeof(seven) / sizeof(seven[0]);
    }
    if (write_rules) {
        FILE *f = fopen(write_rules, "w");
        if (!f) {
            perror(write_rules);
            return 1;
        }
        for (size_t k = 0; k < nrules; k++)
            fprintf(f, "%s\n", texts[k]);
        fclose(f);
    }

    rules = berth_xcalloc(nrules, sizeof(*rules));
    t0 = now_s();
    for (size_t k = 0; k < nrules; k++) {
        struct berth_err err;
        if (berth_rule_compile(texts[k], strlen(texts[k]), &rules[k], NULL,
                               &err) != 0) {
            fprintf(stderr, "rule %zu: %s\n", k, err.msg);
            return 1;
        }
    }
    compile_s = now_s() - t0;

    /* Label sets: the template's own, and merged with the job's team. */
    for (size_t t = 0; t < NTEMPLATES; t++) {
        berth_map_init(&tlabels[t]);
        berth_map_set(&tlabels[t], "kind", t % 2 ? "gpu" : "cpu");
        for (size_t m = 0; m < NTEAMS; m++) {
            berth_map_init(&labels[t][m]);
            berth_map_copy(&labels[t][m], &tlabels[t]);
            berth_map_set(&labels[t][m], "team", teams[m]);
        }
    }
    for (int g = 0; g < NGROUPSETS; g++)
        berth_strv_init(&groups[g]);
    berth_strv_push(&groups[1], "premium");
    berth_strv_push(&groups[2], "gpu");
    berth_strv_push(&groups[2], "premium");
    berth_strv_push(&groups[3], "dev");

    jobs = berth_xcalloc(njobs, sizeof(*jobs));
    gen_jobs(jobs, njobs, seed);
    hits = berth_xcalloc(nrules + 1, sizeof(*hits));

    for (int run = 0; run < runs; run++) {
        memset(hits, 0, (nrules + 1) * sizeof(*hits));
        errors = 0;
        t0 = now_s();
        for (size_t i = 0; i < njobs; i++) {
            const struct job *j = &jobs[i];
            struct berth_rule_ctx ctx;
            size_t k;
            /* The router builds the context from the job, as here. */
            ctx.job_id = (int64_t)i + 1;
            ctx.job_name = "job";
            ctx.job_priority = 50;
            ctx.job_labels = NULL;
            ctx.job_preferred_executor = "";
            ctx.template_name = templates[j->tmpl];
            ctx.template_image = "busybox";
            ctx.template_labels = &tlabels[j->tmpl];
            ctx.template_memory_limit = mems[j->mem];
            ctx.template_cpu_limit = cpus[j->cpu];
            ctx.template_timeout_seconds = timeouts[j->timeout];
            ctx.has_user = j->user >= 3;
            ctx.user_name = "user";
            ctx.user_groups = &groups[j->user % NGROUPSETS];
            ctx.memory_mb = mems[j->mem];
            ctx.cpu_cores = cpus[j->cpu];
            ctx.timeout_seconds = timeouts[j->timeout];
            ctx.labels = &labels[j->tmpl][j->team];
            ctx.hour = j->hour;
            ctx.weekday = j->weekday;
            for (k = 0; k < nrules; k++) {
                struct berth_err err;
                int m = berth_rule_match(rules[k], &ctx, &err);
                if (m == 1)
                    break;
                if (m < 0)
                    errors++;
            }
            hits[k]++;
        }
        times[run] = now_s() - t0;
    }

    qsort(times, (size_t)runs, sizeof(times[0]), cmp_double);
    printf("berth: %zu rules, %zu jobs, %d runs\n", nrules, njobs, runs);
    printf("berth: compile %.1f us per rule\n",
           compile_s * 1e6 / (double)nrules);
    printf("berth: ns_per_decision min %.1f median %.1f\n",
           times[0] * 1e9 / (double)njobs,
           times[runs / 2] * 1e9 / (double)njobs);
    printf("berth: runtime errors %zu\n", errors);
    /* rule index:jobs it took (nrules: none matched), for comparison. */
    printf("berth: decisions");
    for (size_t k = 0; k <= nrules; k++)
        if (hits[k])
            printf(" %zu:%zu", k, hits[k]);
    printf("\n");

    for (size_t k = 0; k < nrules; k++)
        berth_rule_free(rules[k]);
    free(rules);
    if (owned) {
        for (size_t k = 0; k < nrules; k++)
            free(owned[k]);
        free(owned);
    }
    for (size_t t = 0; t < NTEMPLATES; t++) {
        berth_map_release(&tlabels[t]);
        for (size_t m = 0; m < NTEAMS; m++)
            berth_map_release(&labels[t][m]);
    }
    for (int g = 0; g < NGROUPSETS; g++)
        berth_strv_release(&groups[g]);
    free(jobs);
    free(hits);
    return 0;
}
