#!/bin/sh
# docker.sh - containers per second on a real Docker engine, three ways,
# measured in the same run so that they compare:
#
#   berth   N jobs running `true` submitted to a running `berth worker
#           --concurrency C` (host max_concurrent_jobs = C), timed from the
#           first job's created_at to the last one's finished_at;
#   exec    bench_docker_exec: C threads sharing one berth docker executor
#           instance, each doing launch + wait + logs + cleanup (the backend
#           alone, without store and worker);
#   raw     bench_docker_raw: C threads doing create + start + wait + remove
#           straight on the Engine API (the engine's own limit);
#   serial  a `docker run --rm` loop (what a shell script would do).
#
#   bench/docker.sh [-n N] [-c "1 4 16"] [-r ROUNDS] [-b BUILD_DIR]
#
# Each (way, C) is measured ROUNDS times (default 3), alternating berth and
# raw so that a drift of the machine hits both; the table shows the median
# and the berth/raw ratio. Needs root (or a user in the docker group) and
# the engine from scripts/start-dockerd.
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)

N=48
CONCS="1 4 16"
ROUNDS=3
BUILD=build
while getopts n:c:r:b: opt; do
    case $opt in
    n) N=$OPTARG ;;
    c) CONCS=$OPTARG ;;
    r) ROUNDS=$OPTARG ;;
    b) BUILD=$OPTARG ;;
    *) echo "usage: $0 [-n N] [-c \"1 4 16\"] [-r ROUNDS] [-b BUILD]" >&2
       exit 2 ;;
    esac
done

eval "$(scripts/start-dockerd)"
URL=${BERTH_TEST_DOCKER:-}
if [ -z "$URL" ]; then
    echo "bench/docker.sh: no Docker engine" >&2
    exit 1
fi
BERTH=$root/$BUILD/berth
RAW=$root/$BUILD/bench/bench_docker_raw
EXEC=$root/$BUILD/bench/bench_docker_exec
for f in "$BERTH" "$RAW" "$EXEC"; do
    [ -x "$f" ] || { echo "bench/docker.sh: build first ($f)" >&2; exit 1; }
done

now() { date +%s.%N; }
rate() { awk -v n="$1" -v a="$2" -v z="$3" 'BEGIN { printf "%.2f", n / (z - a) }'; }
median() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# berth_once C -> containers/s through berth: a worker (concurrency C, the
# host's max_concurrent_jobs = C) is running; N jobs are submitted in one
# go; the clock stops when the store says all N are completed.
berth_once() {
    c=$1
    d=$(mktemp -d /tmp/berth-bench-XXXXXX)
    cat >"$d/berth.yaml" <<EOF
store: sqlite:$d/berth.db
default_executor: docker
executors:
  docker: {network: none, namespace: bench$$}
hosts:
  - {name: local, executor: docker, url: "$URL", max_concurrent_jobs: $c}
EOF
    B="$BERTH --config $d/berth.yaml"
    $B jobs >/dev/null # create the store before two processes open it
    $B worker --concurrency "$c" --poll-interval 100ms 2>"$d/worker.log" &
    wpid=$!
    $B submit --image local/busybox:latest --command true --count "$N" \
        >/dev/null
    # Poll gently (the poll must not eat the CPU it measures); the time
    # itself comes from the store: first created_at to last finished_at.
    while :; do
        done_n=$($B jobs --status completed --limit 1000000 | tail -n +2 |
            wc -l)
        [ "$done_n" -ge "$N" ] && break
        if ! kill -0 "$wpid" 2>/dev/null; then
            echo "bench/docker.sh: the worker died (log: $d)" >&2
            exit 1
        fi
        sleep 0.5
    done
    kill "$wpid"
    wait "$wpid" || true
    $B jobs --status completed --limit 1000000 --json | python3 -c '
import datetime, json, sys
js = json.load(sys.stdin)
t = lambda s: datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()
a = min(t(j["created_at"]) for j in js)
z = max(t(j["finished_at"]) for j in js)
print("%.2f" % (len(js) / (z - a)))'
    rm -rf "$d"
}

raw_once() {
    "$RAW" -u "$URL" -c "$1" -n "$N" | sed 's/.*per_second=\([0-9.]*\).*/\1/'
}

exec_once() {
    "$EXEC" -u "$URL" -c "$1" -n "$N" | sed 's/.*per_second=\([0-9.]*\).*/\1/'
}

serial_once() {
    n=$(( N / 4 > 4 ? N / 4 : 4 ))
    a=$(now)
    i=0
    while [ $i -lt $n ]; do
        docker -H "$URL" run --rm --network none local/busybox:latest true
        i=$((i + 1))
    done
    z=$(now)
    rate "$n" "$a" "$z"
}

echo "# docker bench: N=$N per run, rounds=$ROUNDS, $(nproc) CPUs, $(date -u +%FT%TZ)"
echo "# load before: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '| concurrency | berth (containers/s) | executor alone | raw engine API | berth / raw |\n'
printf '|---:|---:|---:|---:|---:|\n'
for c in $CONCS; do
    b_all=""
    e_all=""
    r_all=""
    k=0
    while [ $k -lt "$ROUNDS" ]; do
        b_all="$b_all $(berth_once "$c")"
        e_all="$e_all $(exec_once "$c")"
        r_all="$r_all $(raw_once "$c")"
        k=$((k + 1))
    done
    b=$(echo "$b_all" | median)
    e=$(echo "$e_all" | median)
    r=$(echo "$r_all" | median)
    ratio=$(awk -v b="$b" -v r="$r" 'BEGIN { printf "%.0f%%", 100 * b / r }')
    printf '| %s | %s | %s | %s | %s |\n' "$c" "$b" "$e" "$r" "$ratio"
    echo "#   c=$c berth:$b_all exec:$e_all raw:$r_all" >&2
done
s=$(serial_once)
printf '\nserial `docker run --rm` loop: %s containers/s\n' "$s"
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
