#!/usr/bin/env python3
"""test_crash.py - workers killed with SIGKILL at random moments lose no job
and launch no job attempt twice (issue 6).

2,000 mock jobs, 3 workers on one store (SQLite; and PostgreSQL when
$BERTH_TEST_PG is set), each worker killed at random moments and restarted
-- some with the same --id (they reconcile their jobs at once), some with a
new one (their old jobs are reconciled by the others once the lease
expires) -- at least 20 kills per run. At the end every job is terminal and
completed, and the mock's durable launch record (one run file per launch,
created with O_EXCL) shows exactly one launch per (job, attempt) the store
recorded, and none that it did not."""

import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid

BIN = os.environ.get("BERTH_BIN")
if not BIN:
    print("BERTH_BIN is not set (run through ctest)")
    sys.exit(1)

NJOBS = int(os.environ.get("BERTH_CRASH_JOBS", "2000"))
KILLS = int(os.environ.get("BERTH_CRASH_KILLS", "24"))
FAILS = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    sys.stdout.flush()
    if not cond:
        FAILS.append(what)


def pg_database(base):
    """A fresh database on the test server; returns (url, drop)."""
    name = "berth_crash_" + uuid.uuid4().hex[:10]
    admin = base
    subprocess.run(["psql", admin, "-q", "-c", "CREATE DATABASE " + name],
                   check=True, capture_output=True)
    head, _, _ = base.rpartition("/")
    url = head + "/" + name

    def drop():
        subprocess.run(["psql", admin, "-q", "-c",
                        "DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"],
                       capture_output=True)
    return url, drop


def run(store_kind, store_url):
    d = tempfile.mkdtemp(prefix="berth-crash-%s-" % store_kind)
    config = os.path.join(d, "berth.yaml")
    with open(config, "w") as f:
        f.write("""
default_executor: mock
executors:
  mock: {duration_ms: 400, record_dir: "%s/rec"}
hosts:
  - {name: m1, executor: mock, max_concurrent_jobs: 60}
  - {name: m2, executor: mock, max_concurrent_jobs: 60}
""" % d)
    base = [BIN, "--config", config, "--store", store_url]
    rng = random.Random(int(os.environ.get("BERTH_CRASH_SEED", "20261127")))
    subprocess.run(base + ["submit", "--image", "img", "--count",
                           str(NJOBS)], check=True, capture_output=True)
    logf = open(os.path.join(d, "workers.log"), "a")

    def start(wid):
        return subprocess.Popen(base + ["worker", "--id", wid,
                                        "--concurrency", "4",
                                        "--poll-interval", "100ms",
                                        "--lease", "2s"],
                                stderr=logf, cwd=d)

    workers = {"w0": start("w0"), "w1": start("w1"), "w2": start("w2")}
    generation = 0
    kills = 0

    def counts():
        out = subprocess.run(base + ["stats", "--json"], check=True,
                             capture_output=True, text=True).stdout
        return json.loads(out)["jobs"]

    deadline = time.time() + 600
    while time.time() < deadline:
        time.sleep(rng.uniform(0.05, 0.6))
        if kills < KILLS:
            victim = rng.choice(sorted(workers))
            workers[victim].send_signal(signal.SIGKILL)
            workers[victim].wait()
            kills += 1
            del workers[victim]
            if rng.random() < 0.5:
                wid = victim  # same id: reconciles its own jobs at once
            else:
                generation += 1
                wid = "g%d" % generation  # new id: others reconcile later
            workers[wid] = start(wid)
            continue
        c = counts()
        if c["completed"] + c["failed"] + c["cancelled"] + \
                c["timed_out"] == NJOBS:
            break
    for w in workers.values():
        w.send_signal(signal.SIGTERM)
    for w in workers.values():
        check(w.wait(timeout=60) == 0, "worker exits 0 on SIGTERM")
    check(kills >= 20, "%d workers killed with SIGKILL (>= 20)" % kills)

    c = counts()
    check(c["completed"] == NJOBS,
          "%s: every job completed (%s)" % (store_kind, c))

    jobs = json.loads(subprocess.run(base + ["jobs", "--limit", "0",
                                             "--json"], check=True,
                                     capture_output=True,
                                     text=True).stdout)
    check(len(jobs) == NJOBS, "no job vanished (%d)" % len(jobs))
    # What the store says ran: every (job, attempt) that reached running.
    ran = set()
    for j in jobs:
        ev = json.loads(subprocess.run(base + ["job", str(j["id"]),
                                               "--json"],
                                       check=True, capture_output=True,
                                       text=True).stdout)["events"] \
            if j["attempts"] > 1 else None
        if ev is None:
            ran.add((j["id"], 1))
        else:
            for e in ev:
                if e["to"] == "running":
                    ran.add((j["id"], e["attempt"]))
    # What the backend says was launched: one run file per launch.
    runs = {}
    for name in os.listdir(os.path.join(d, "rec", "runs")):
        if name.endswith(".cancelled") or name.startswith("."):
            continue  # cancel marks, and temporaries of killed workers
        # mock-<host>-<job>-<attempt>
        parts = name.split("-")
        key = (int(parts[-2]), int(parts[-1]))
        runs[key] = runs.get(key, 0) + 1
    dup = {k: v for k, v in runs.items() if v > 1}
    check(not dup, "%s: no job attempt launched twice (%d duplicates)"
          % (store_kind, len(dup)))
    check(set(runs) == ran,
          "%s: launches match the attempts the store recorded "
          "(%d launched, %d recorded, %d unrecorded, %d never launched)"
          % (store_kind, len(runs), len(ran), len(set(runs) - ran),
             len(ran - set(runs))))
    retried = sum(1 for j in jobs if j["attempts"] > 1)
    print("%s: %d kills, %d jobs needed a second attempt" %
          (store_kind, kills, retried))


def main():
    d = tempfile.mkdtemp(prefix="berth-crash-store-")
    run("sqlite", "sqlite:" + os.path.join(d, "berth.db"))
    pg = os.environ.get("BERTH_TEST_PG")
    if pg:
        url, drop = pg_database(pg)
        try:
            run("postgresql", url)
        finally:
            drop()
    else:
        print("SKIPPED: PostgreSQL part (BERTH_TEST_PG not set)")
    if FAILS:
        print("%d check(s) failed" % len(FAILS))
        sys.exit(1)
    print("all checks passed")


main()
