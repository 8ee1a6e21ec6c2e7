#!/bin/sh
# e2e.sh - jobs per second from `berth submit` to `completed`, on the mock
# executor, through the real binary: one submit of N jobs, then
# `berth worker --once` (N workers at once for the multi-worker rows).
#
#   bench/e2e.sh [BUILD_DIR]      (default: build)
#   BERTH_BENCH_JOBS=N            jobs per SQLite run (default 10000)
#   BERTH_BENCH_PG_JOBS=N         jobs per PostgreSQL run (default 20000)
#   BERTH_BENCH_RUNS=N            runs per row (default 3)
#   BERTH_BENCH_PG=postgresql://… PostgreSQL (default $BERTH_TEST_PG, else
#                                 scripts/start-postgres); BERTH_BENCH_ONLY=
#                                 sqlite skips it
#
# Every row gives min and median over the runs. The baseline, measured in
# the same invocation on the same machine, is the store alone doing the same
# work per job (bench_store lifecycle: submit, claim, launching, running,
# completed with logs, in batches of 500): the ratio says how much of a
# job's cost is berth's own (routing, the worker, the executor calls, the
# process) on top of the store's.
set -eu
cd "$(dirname "$0")/.."
build=${1:-build}
berth=$build/berth
store_bench=$build/bench/bench_store
runs=${BERTH_BENCH_RUNS:-3}
n_sqlite=${BERTH_BENCH_JOBS:-10000}
n_pg=${BERTH_BENCH_PG_JOBS:-20000}
for f in "$berth" "$store_bench"; do
    [ -x "$f" ] || { echo "e2e.sh: $f not built" >&2; exit 1; }
done

pg=${BERTH_BENCH_PG:-${BERTH_TEST_PG:-}}
if [ -z "$pg" ] && [ "${BERTH_BENCH_ONLY:-}" != sqlite ]; then
    eval "$(scripts/start-postgres)"
    pg=$BERTH_TEST_PG
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The seven rules of the system berth replaces are in the path: every job
# is routed through them (none matches a plain job: it falls to the
# default, after all seven were evaluated).
cat >"$tmp/berth.yaml" <<'EOF'
default_executor: mock
executors:
  mock: {max_concurrent_jobs: 100000, stdout: "hello\n"}
  fargate: {type: mock}
  cloudrun: {type: mock}
users:
  alice: {groups: [premium]}
routing_rules:
  - {condition: "memory_mb > 8192", executor: fargate, priority: 1}
  - {condition: "cpu_cores > 4.0", executor: fargate, priority: 2}
  - {condition: "timeout_seconds > 3600", executor: fargate, priority: 3}
  - {condition: 'template.name.startswith("ml-")', executor: fargate, priority: 4}
  - {condition: 'template.name.startswith("batch-")', executor: cloudrun, priority: 5}
  - {condition: 'user and user.groups.filter(name="premium").exists()', executor: cloudrun, priority: 6}
  - {condition: 'template.name.startswith("test-")', executor: mock, priority: 7}
EOF

now_ns() { date +%s%N; }

# A fresh store URL for one run.
fresh() {
    case $1 in
    sqlite)
        rm -f "$tmp/e2e.db" "$tmp/e2e.db-wal" "$tmp/e2e.db-shm"
        echo "sqlite:$tmp/e2e.db"
        ;;
    postgresql)
        db="berth_e2e_$$_$(date +%s%N | tail -c 8)"
        psql "$pg" -q -c "CREATE DATABASE $db" >/dev/null
        echo "${pg%/*}/$db"
        ;;
    esac
}

drop() {
    case $1 in
    postgresql*)
        psql "$pg" -q -c "DROP DATABASE IF EXISTS ${1##*/} WITH (FORCE)" \
            >/dev/null 2>&1 || true
        ;;
    esac
}

# one_run BACKEND JOBS WORKERS -> jobs/s on stdout
one_run() {
    url=$(fresh "$1")
    b="$berth --config $tmp/berth.yaml --store $url --log-format logfmt"
    $b stats >/dev/null 2>&1 # migrations and config sync, not timed
    t0=$(now_ns)
    $b submit --image x --count "$2" >/dev/null
    pids=""
    i=0
    while [ "$i" -lt "$3" ]; do
        $b worker --once --concurrency 4 --id "bench$i" 2>>"$tmp/worker.log" &
        pids="$pids $!"
        i=$((i + 1))
    done
    for p in $pids; do wait "$p"; done
    t1=$(now_ns)
    done_jobs=$($b jobs --status completed --limit 0 --json | grep -c '"id"')
    drop "$url"
    if [ "$done_jobs" != "$2" ]; then
        echo "e2e.sh: only $done_jobs of $2 jobs completed" >&2
        exit 1
    fi
    echo "$2 $t0 $t1" | awk '{ printf "%.0f\n", $1 / (($3 - $2) / 1e9) }'
}

# row LABEL BACKEND JOBS WORKERS
row() {
    vals=""
    i=0
    while [ "$i" -lt "$runs" ]; do
        vals="$vals $(one_run "$2" "$3" "$4")"
        i=$((i + 1))
    done
    set -- "$1" $(printf '%s\n' $vals | sort -n)
    label=$1
    shift
    min=$1
    eval "med=\${$(((runs + 1) / 2))}"
    printf '| %s | %s | %s | jobs/s |\n' "$label" "$min" "$med"
    echo "$med" >"$tmp/last_median"
}

# floor BACKEND JOBS: the store alone, same work per job (bench_store).
floor() {
    vals=""
    i=0
    while [ "$i" -lt "$runs" ]; do
        url=$(fresh "$1")
        out=$("$store_bench" "$url" lifecycle --jobs "$2" --batch 500)
        drop "$url"
        vals="$vals ${out% *}"
        i=$((i + 1))
    done
    set -- $(printf '%s\n' $vals | sort -n)
    min=$1
    eval "med=\${$(((runs + 1) / 2))}"
    printf '| %s store alone (baseline) | %s | %s | jobs/s |\n' \
        "$label_backend" "$min" "$med"
    echo "$med" >"$tmp/floor_median"
}

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
printf '| benchmark | min | median | unit |\n|---|---:|---:|---|\n'
label_backend=sqlite
floor sqlite "$n_sqlite"
row "sqlite, 1 worker, $n_sqlite jobs" sqlite "$n_sqlite" 1
ratio=$(awk -v a="$(cat "$tmp/last_median")" -v b="$(cat "$tmp/floor_median")" \
    'BEGIN { printf "%.2f", a / b }')
printf '| sqlite berth / store alone (medians) | | %s | ratio |\n' "$ratio"
if [ "${BERTH_BENCH_ONLY:-}" != sqlite ]; then
    label_backend=postgresql
    floor postgresql "$n_pg"
    for w in 1 2 4; do
        row "postgresql, $w worker(s), $n_pg jobs" postgresql "$n_pg" "$w"
    done
fi
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
