#!/usr/bin/env python3
"""The old system's routing, for bench/rules.sh: Python's eval() of each
rule string, per job, in priority order, first match wins.

Generates the same jobs as bench/bench_rules.c (splitmix64, same seed and
tables) and builds the context the old system gave eval(): objects with
attributes, a groups list with Django's filter(name=...).exists(), dicts
for labels. Times two variants:

  eval(str)   eval(rule_text, ...) per rule per job: the old system's method
  eval(code)  eval() of code objects compiled once: Python's best case

  rules_eval.py --jobs N --runs R --seed S [--rules-file FILE] [--mode M]
"""
import argparse
import sys
import time

M64 = (1 << 64) - 1

SEVEN = [
    "memory_mb > 8192",
    "cpu_cores > 4.0",
    "timeout_seconds > 3600",
    'template.name.startswith("ml-")',
    'template.name.startswith("batch-")',
    'user and user.groups.filter(name="premium").exists()',
    'template.name.startswith("test-")',
]
MEMS = [256, 512, 1024, 2048, 4096, 8192, 16384, 32768]
CPUS = [0.25, 0.5, 1.0, 2.0, 4.0, 8.0]
TIMEOUTS = [60, 300, 600, 1800, 3600, 7200]
TEMPLATES = ["", "ml-train", "ml-infer", "batch-report", "batch-etl",
             "test-unit", "test-e2e", "web-api", "cron-cleanup", "data-sync"]
TEAMS = ["ml", "infra", "web", "data"]
GROUPSETS = [[], ["premium"], ["gpu", "premium"], ["dev"]]


class Obj:
    def __init__(self, **kw):
        self.__dict__.update(kw)


class _Exists:
    def __init__(self, found):
        self._found = found

    def exists(self):
        return self._found


class Groups(list):
    def filter(self, name):
        return _Exists(name in self)


def gen_jobs(n, seed):
    s = seed
    jobs = []
    for _ in range(n):
        row = []
        for mod in (8, 6, 6, len(TEMPLATES), 10, len(TEAMS), 24, 7):
            s = (s + 0x9E3779B97F4A7C15) & M64
            z = s
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
            row.append((z ^ (z >> 31)) % mod)
        jobs.append(tuple(row))
    return jobs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=1000000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=20261127)
    ap.add_argument("--rules-file")
    ap.add_argument("--mode", choices=["str", "code", "both"], default="both")
    a = ap.parse_args()

    if a.rules_file:
        with open(a.rules_file) as f:
            rules = [line.rstrip("\n") for line in f if line.strip()]
    else:
        rules = SEVEN
    codes = [compile(r, "<rule>", "eval") for r in rules]
    jobs = gen_jobs(a.jobs, a.seed)

    tlabels = [{"kind": "gpu" if t % 2 else "cpu"}
               for t in range(len(TEMPLATES))]
    labels = [[dict(tlabels[t], team=TEAMS[m]) for m in range(len(TEAMS))]
              for t in range(len(TEMPLATES))]
    groups = [Groups(g) for g in GROUPSETS]
    users = [None if u < 3 else Obj(name="user", groups=groups[u % 4])
             for u in range(10)]
    job_obj = Obj(id=0, name="job", priority=50, labels={},
                  preferred_executor="")
    tmpl_objs = {}
    for t in range(len(TEMPLATES)):
        for mem in range(8):
            for cpu in range(6):
                for to in range(6):
                    tmpl_objs[t, mem, cpu, to] = Obj(
                        name=TEMPLATES[t], image="busybox",
                        labels=tlabels[t], memory_limit=MEMS[mem],
                        cpu_limit=CPUS[cpu], timeout_seconds=TIMEOUTS[to])
    g = {"__builtins__": {"len": len}}

    def route(variant):
        hits = {}
        t0 = time.process_time()
        for (mem, cpu, to, t, u, team, hour, wd) in jobs:
            ctx = {"job": job_obj, "template": tmpl_objs[t, mem, cpu, to],
                   "user": users[u], "memory_mb": MEMS[mem],
                   "cpu_cores": CPUS[cpu], "timeout_seconds": TIMEOUTS[to],
                   "labels": labels[t][team], "hour": hour, "weekday": wd}
            k = 0
            for r in variant:
                try:
                    if eval(r, g, ctx):
                        break
                except Exception:
                    pass
                k += 1
            hits[k] = hits.get(k, 0) + 1
        return time.process_time() - t0, hits

    modes = ["str", "code"] if a.mode == "both" else [a.mode]
    print("python: %d rules, %d jobs, %d runs, %s" %
          (len(rules), a.jobs, a.runs, sys.version.split()[0]))
    for mode in modes:
        variant = rules if mode == "str" else codes
        times = []
        for _ in range(a.runs):
            dt, hits = route(variant)
            times.append(dt)
        times.sort()
        print("python eval(%s): ns_per_decision min %.1f median %.1f" %
              (mode, times[0] * 1e9 / a.jobs,
               times[len(times) // 2] * 1e9 / a.jobs))
        print("python eval(%s): decisions %s" %
              (mode, " ".join("%d:%d" % (k, hits[k]) for k in sorted(hits))))


if __name__ == "__main__":
    main()
