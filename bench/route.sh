#!/bin/sh
# route.sh - routing decisions per second (issue 4): 10,000 jobs across 20
# hosts, seven rules, with the SQLite store; three runs, min and median.
#
#   bench/route.sh [BUILD_DIR]      (default: build)
#
# Rows: "decide" is the router alone (rules, health from cache, capacity,
# host choice); "place" adds the store reservation (pending -> launching in
# batches of 256, as the worker does); "store alone" is the same store
# batches without routing, the baseline measured in the same run.
set -eu
cd "$(dirname "$0")/.."
build=${1:-build}
bin=$build/bench/bench_route
[ -x "$bin" ] || { echo "route.sh: $bin not built" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for i in 1 2 3; do
    "$bin" --jobs 10000 --hosts 20 --dir "$tmp" >"$tmp/run$i"
done
printf '| 10,000 jobs, 20 hosts, 7 rules | min | median | unit |\n'
printf '|---|---:|---:|---|\n'
for what in decide place floor; do
    set -- $(grep "^$what " "$tmp"/run* | sed 's/.*: \([0-9]*\) .*/\1/' |
        sort -n)
    # higher is better: min of the rates is the worst run
    case $what in
    decide) label="route only (decisions/s)" ;;
    place) label="route + reserve in the store (decisions/s)" ;;
    floor) label="store reservation alone, baseline (placements/s)" ;;
    esac
    printf '| %s | %s | %s | /s |\n' "$label" "$1" "$2"
done
set -- $(grep "^decide " "$tmp"/run* | sed 's/.*decision.*, \([0-9]*\) ns.*/\1/' | sort -n)
printf '| route only, ns per decision | %s | %s | ns |\n' "$1" "$2"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
