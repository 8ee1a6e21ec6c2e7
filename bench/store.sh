#!/bin/sh
# store.sh - store benchmarks on SQLite and PostgreSQL: claim throughput (one
# job per transaction and batches of 100, 1 and 4 clients), claim latency
# with 10,000 and 1,000,000 pending jobs, submit throughput, and the store's
# share of a job's whole life (submit, claim, launching, running, completed
# with logs, 500 updates per apply). Every figure is run 3 times; the table
# gives min, median and max.
#
#   bench/store.sh [BUILD_DIR]        (default: build)
#   BERTH_BENCH_PG=postgresql://…     PostgreSQL to use (default
#                                     $BERTH_TEST_PG, else scripts/start-postgres)
#   BERTH_BENCH_QUICK=1               skip the 1,000,000-job latency runs
#   BERTH_BENCH_ONLY=sqlite|postgresql  one backend only
set -eu
cd "$(dirname "$0")/.."
build=${1:-build}
bin=$build/bench/bench_store
if [ ! -x "$bin" ]; then
    echo "store.sh: $bin not built (cmake --build $build)" >&2
    exit 1
fi

pg=${BERTH_BENCH_PG:-${BERTH_TEST_PG:-}}
if [ -z "$pg" ] && [ "${BERTH_BENCH_ONLY:-}" != sqlite ]; then
    eval "$(scripts/start-postgres)"
    pg=$BERTH_TEST_PG
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sqlite="sqlite:$tmp/bench.db"

# run3 LABEL URL ARGS…: three runs, one table row.
run3() {
    label=$1
    url=$2
    shift 2
    vals=""
    unit=""
    for i in 1 2 3; do
        out=$("$bin" "$url" "$@" 2>>"$tmp/stderr") || {
            cat "$tmp/stderr" >&2
            exit 1
        }
        vals="$vals ${out% *}"
        unit=${out#* }
    done
    set -- $(printf '%s\n' $vals | sort -n)
    printf '| %s | %s | %s | %s | %s |\n' "$label" "$1" "$2" "$3" "$unit"
}

backends="sqlite postgresql"
if [ -n "${BERTH_BENCH_ONLY:-}" ]; then
    backends=$BERTH_BENCH_ONLY
fi

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
printf '| benchmark | min | median | max | unit |\n'
printf '|---|---:|---:|---:|---|\n'
for b in $backends; do
    if [ "$b" = sqlite ]; then
        url=$sqlite
        n1=20000
        n100=200000
    else
        url=$pg
        n1=10000
        n100=100000
    fi
    run3 "$b claim, 1 job/txn, 1 client" "$url" claim --jobs $n1 --batch 1 --clients 1
    run3 "$b claim, 1 job/txn, 4 clients" "$url" claim --jobs $n1 --batch 1 --clients 4
    run3 "$b claim, 100 jobs/txn, 1 client" "$url" claim --jobs $n100 --batch 100 --clients 1
    run3 "$b claim, 100 jobs/txn, 4 clients" "$url" claim --jobs $n100 --batch 100 --clients 4
    run3 "$b claim latency (1 job), 10,000 pending" "$url" latency --pending 10000 --samples 300
    run3 "$b claim latency (100 jobs), 10,000 pending" "$url" latency --pending 10000 --samples 100 --batch 100
    if [ "${BERTH_BENCH_QUICK:-0}" != 1 ]; then
        run3 "$b claim latency (1 job), 1,000,000 pending" "$url" latency --pending 1000000 --samples 300
        run3 "$b claim latency (100 jobs), 1,000,000 pending" "$url" latency --pending 1000000 --samples 100 --batch 100
    fi
    run3 "$b submit, 1 job/txn" "$url" submit --jobs $n1 --count 1
    run3 "$b submit, 100 jobs/txn" "$url" submit --jobs $n100 --count 100
    run3 "$b lifecycle (submit→completed+logs), 500/apply" "$url" lifecycle --jobs 50000 --batch 500
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
