#!/bin/sh
# rules.sh - the rule-language benchmark (BENCHMARKS.md § Rule language).
#
# Time per routing decision over the seven rules of issue 3 for JOBS
# generated jobs: berth's compiled rules (bench_rules) against Python's
# eval() of the same seven strings on the same jobs (bench/rules_eval.py,
# the old system's method, plus eval() of pre-compiled code objects as
# Python's best case). Min and median of RUNS runs each, and the ratios.
# Then the same for a routing table of 1,000 rules that jobs fall through.
#
#   bench/rules.sh                  everything (a few minutes)
#   JOBS=100000 bench/rules.sh      fewer jobs
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build-bench}
JOBS=${JOBS:-1000000}
RUNS=${RUNS:-3}
SEED=${SEED:-20261127}
MANY=${MANY:-1000}
MANY_JOBS=${MANY_JOBS:-100000}
MANY_PY_CODE_JOBS=${MANY_PY_CODE_JOBS:-2000}
MANY_PY_STR_JOBS=${MANY_PY_STR_JOBS:-200}
PY=${PYTHON:-python3}

cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBERTH_BENCH=ON \
    >/dev/null
cmake --build "$BUILD" --target bench_rules -j2 >/dev/null
bin="$BUILD/bench/bench_rules"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

field() { # field FILE PREFIX -> "min median"
    awk -v p="$2" 'index($0, p) == 1 {
        for (i = 1; i <= NF; i++) {
            if ($i == "min") mn = $(i + 1);
            if ($i == "median") md = $(i + 1)
        }
        print mn, md; exit }' "$1"
}
decisions() { sed -n "s/^$2 decisions //p" "$1"; }

echo "== seven rules, $JOBS jobs, $RUNS runs (CPU time per decision)"
"$bin" --jobs "$JOBS" --runs "$RUNS" --seed "$SEED" | tee "$tmp/c7"
"$PY" bench/rules_eval.py --jobs "$JOBS" --runs "$RUNS" --seed "$SEED" |
    tee "$tmp/p7"

c=$(field "$tmp/c7" "berth: ns_per_decision")
ps=$(field "$tmp/p7" "python eval(str): ns_per_decision")
pc=$(field "$tmp/p7" "python eval(code): ns_per_decision")
[ "$(decisions "$tmp/c7" "berth:")" = "$(decisions "$tmp/p7" "python eval(str):")" ] ||
    { echo "decisions differ between berth and Python" >&2; exit 1; }
echo "same decisions on both sides: $(decisions "$tmp/c7" "berth:")"
echo "$c $ps $pc" | awk '{
    printf "berth        %10.1f ns/decision (median %.1f)\n", $1, $2
    printf "eval(str)    %10.1f ns/decision (median %.1f)  ratio %.0fx\n", $3, $4, $3 / $1
    printf "eval(code)   %10.1f ns/decision (median %.1f)  ratio %.0fx\n", $5, $6, $5 / $1 }'

echo
echo "== $MANY rules that jobs fall through"
"$bin" --rules many --many "$MANY" --jobs "$MANY_JOBS" --runs "$RUNS" \
    --seed "$SEED" --write-rules "$tmp/many.txt" | tee "$tmp/cm"
"$PY" bench/rules_eval.py --rules-file "$tmp/many.txt" --mode code \
    --jobs "$MANY_PY_CODE_JOBS" --runs "$RUNS" --seed "$SEED" | tee "$tmp/pmc"
"$PY" bench/rules_eval.py --rules-file "$tmp/many.txt" --mode str \
    --jobs "$MANY_PY_STR_JOBS" --runs "$RUNS" --seed "$SEED" | tee "$tmp/pms"
c=$(field "$tmp/cm" "berth: ns_per_decision")
ps=$(field "$tmp/pms" "python eval(str): ns_per_decision")
pc=$(field "$tmp/pmc" "python eval(code): ns_per_decision")
echo "$c $ps $pc $MANY" | awk '{
    printf "berth        %12.1f ns/decision  (%.1f ns per rule)\n", $1, $1 / $7
    printf "eval(str)    %12.1f ns/decision  ratio %.0fx\n", $3, $3 / $1
    printf "eval(code)   %12.1f ns/decision  ratio %.0fx\n", $5, $5 / $1 }'
