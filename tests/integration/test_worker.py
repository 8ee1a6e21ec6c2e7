#!/usr/bin/env python3
"""test_worker.py - the worker through the real binary on the mock: fallback
chains, the circuit breaker, retries with backoff, permanent errors, kill at
timeout, cancel of a running job, start deadlines, --dry-run, SIGUSR1,
SIGHUP with a broken config, and SIGTERM during a busy run."""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time

BIN = os.environ.get("BERTH_BIN")
if not BIN:
    print("BERTH_BIN is not set (run through ctest)")
    sys.exit(1)

FAILS = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        FAILS.append(what)


class Berth:
    def __init__(self, config_text):
        self.d = tempfile.mkdtemp(prefix="berth-worker-")
        self.config = os.path.join(self.d, "berth.yaml")
        self.write(config_text)

    def write(self, text):
        with open(self.config, "w") as f:
            f.write(text)

    def run(self, *args, timeout=120):
        p = subprocess.run([BIN, "--config", self.config] + list(args),
                           cwd=self.d, capture_output=True, text=True,
                           timeout=timeout)
        return p.returncode, p.stdout, p.stderr

    def ok(self, *args):
        rc, out, err = self.run(*args)
        if rc != 0:
            raise AssertionError("berth %s: exit %d: %s" % (args, rc, err))
        return out

    def submit(self, *args):
        return int(self.ok("submit", "--image", "img", *args).strip())

    def job(self, jid):
        return json.loads(self.ok("job", str(jid), "--json"))

    def start_worker(self, *args):
        log = open(os.path.join(self.d, "worker.log"), "a")
        return subprocess.Popen([BIN, "--config", self.config, "worker",
                                 "--poll-interval", "100ms"] + list(args),
                                cwd=self.d, stderr=log)

    def log(self):
        with open(os.path.join(self.d, "worker.log")) as f:
            return f.read()

    def wait_status(self, jid, statuses, timeout=30):
        end = time.time() + timeout
        while time.time() < end:
            j = self.job(jid)
            if j["status"] in statuses:
                return j
            time.sleep(0.1)
        return self.job(jid)


def fallback_and_breaker():
    b = Berth("""
default_executor: mock
max_fallbacks: 2
circuit_breaker: {failures: 3, cooldown: 600}
executors:
  mock: {record_dir: rec}
hosts:
  - {name: a-bad, executor: mock, max_concurrent_jobs: 100,
     launch_failure_rate: 1.0}
  - {name: b-good, executor: mock, max_concurrent_jobs: 10}
""")
    w = b.start_worker("--concurrency", "1")
    jobs = []
    try:
        for _ in range(6):
            jid = b.submit()
            jobs.append(b.wait_status(jid, ("completed", "failed"), 30))
    finally:
        w.send_signal(signal.SIGTERM)
        w.wait(timeout=30)
    check(all(j["status"] == "completed" and j["host"] == "b-good"
              for j in jobs), "every job ends on the good host")
    first = jobs[0]
    moves = [e for e in first["events"]
             if e["from"] == "launching" and e["to"] == "launching"]
    check(len(moves) == 1 and "falling back to mock/b-good" in
          moves[0]["reason"] and "launch_failure_rate" in moves[0]["reason"],
          "the fallback is an event naming the failure and the new host")
    check(first["attempts"] == 1, "a fallback is not a new attempt")
    tried = [any(e["host"] == "a-bad" for e in j["events"]) for j in jobs]
    check(tried == [True, True, True, False, False, False],
          "after 3 failures in a row the breaker keeps jobs off a-bad: %s"
          % tried)
    check('msg="circuit breaker open" host=a-bad' in b.log(),
          "the breaker opening is logged")
    st = json.loads(b.ok("stats", "--json"))
    check(st["launch_failures"] == 3, "stats counts the launch failures: %d"
          % st["launch_failures"])


def retries():
    b = Berth("""
default_executor: mock
executors:
  mock: {record_dir: rec}
""")
    t = b.submit("--label", "mock.fail_launch=transient", "--max-attempts",
                 "3", "--retry-strategy", "linear")
    p = b.submit("--label", "mock.fail_launch=permanent",
                 "--max-attempts", "3")
    start = time.time()
    rc, _, _ = b.run("worker", "--once")
    took = time.time() - start
    j = b.job(t)
    check(j["status"] == "failed" and j["attempts"] == 3,
          "transient failures are retried up to max_attempts, then fail")
    check("no attempts left" in j["last_error"], "last_error says why")
    backs = [e for e in j["events"] if e["from"] == "launching" and
             e["to"] == "pending"]
    check(len(backs) == 2 and "retry in 2.0s" in backs[0]["reason"] and
          "retry in 4.0s" in backs[1]["reason"],
          "linear backoff: 2s then 4s")
    check(took >= 6.0, "--once waited for the retries (%.1fs)" % took)
    j = b.job(p)
    check(j["status"] == "failed" and j["attempts"] == 1 and
          "permanent error" in j["last_error"],
          "a permanent error fails at once")


def timeout_cancel_deadline():
    b = Berth("""
default_executor: mock
executors:
  mock: {duration_ms: 60000, max_concurrent_jobs: 1, record_dir: rec}
""")
    w = b.start_worker()
    try:
        t = b.submit("--timeout", "1s")
        j = b.wait_status(t, ("timed_out", "failed", "completed"), 30)
        check(j["status"] == "timed_out", "killed at its timeout -> timed_out")
        started = j["started_at"]
        check(j["last_error"] == "killed at its timeout of 1s",
              "last_error names the timeout")
        c = b.submit()
        j = b.wait_status(c, ("running",), 30)
        check(j["status"] == "running", "a long job runs")
        rc, out, _ = b.run("cancel", str(c))
        check(rc == 0 and "cancel requested" in out,
              "cancel of a running job is requested")
        j = b.wait_status(c, ("cancelled", "failed", "completed"), 30)
        check(j["status"] == "cancelled" and j["exit_code"] == 137,
              "the worker stops it on the backend -> cancelled")
        # the host holds one job: a job behind a long one misses its
        # start deadline
        long_job = b.submit()
        b.wait_status(long_job, ("running",), 30)
        d = b.submit("--start-deadline", "1s")
        j = b.wait_status(d, ("failed",), 30)
        check(j["status"] == "failed" and "start deadline of 1s passed" in
              j["last_error"] and "full" in j["last_error"],
              "a missed start deadline fails with the last reason it waited")
        # SIGUSR1 logs the worker's state
        w.send_signal(signal.SIGUSR1)
        time.sleep(0.5)
        check('msg="worker state"' in b.log() and 'msg="worker host"' in
              b.log(), "SIGUSR1 logs jobs in flight and per-host usage")
        # SIGHUP with a broken config: refused, the running one stays
        good = open(b.config).read()
        b.write(good + "routing_rules:\n  - {condition: 'memroy_mb > 1', "
                "executor: mock}\n")
        w.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        check("config reload refused" in b.log() and w.poll() is None,
              "SIGHUP with errors: refused and logged; the worker goes on")
        b.write(good)
        b.ok("cancel", str(long_job))
    finally:
        w.send_signal(signal.SIGTERM)
        check(w.wait(timeout=30) == 0, "SIGTERM: exit 0")


def once_drains_a_one_slot_host():
    b = Berth("""
default_executor: mock
executors:
  mock: {duration_ms: 30, max_concurrent_jobs: 1}
""")
    b.ok("submit", "--image", "img", "--count", "12")
    rc, _, _ = b.run("worker", "--once")
    jobs = json.loads(b.ok("jobs", "--limit", "0", "--json"))
    done = sum(1 for j in jobs if j["status"] == "completed")
    check(rc == 0 and done == 12,
          "--once drains a one-slot host, job after job (%d of 12)" % done)


def dry_run():
    b = Berth("""
default_executor: mock
executors:
  mock: {}
""")
    j = b.submit()
    rc, out, _ = b.run("worker", "--dry-run")
    check(rc == 0 and "job %d: would launch on mock/mock" % j in out,
          "--dry-run says where a job would go")
    after = b.job(j)
    check(after["status"] == "pending" and after["owner"] is None and
          len(after["events"]) == 1, "--dry-run changes nothing")


def sigterm_busy():
    b = Berth("""
default_executor: mock
executors:
  mock: {duration_ms: 300, max_concurrent_jobs: 200, record_dir: rec}
""")
    b.ok("submit", "--image", "img", "--count", "2000")
    w = b.start_worker("--concurrency", "4")
    # busy: jobs running and more pending
    end = time.time() + 60
    while time.time() < end:
        st = json.loads(b.ok("stats", "--json"))
        if st["jobs"]["running"] > 0 and st["jobs"]["completed"] > 0:
            break
        time.sleep(0.1)
    start = time.time()
    w.send_signal(signal.SIGTERM)
    rc = w.wait(timeout=60)
    took = time.time() - start
    check(rc == 0, "SIGTERM during a busy run exits 0")
    check(took < 15, "... within a bounded time (%.1fs)" % took)
    jobs = json.loads(b.ok("jobs", "--limit", "0", "--json"))
    orphans = [j for j in jobs if j["status"] == "launching"]
    check(not orphans, "no job left in launching (%d)" % len(orphans))
    owned = [j for j in jobs if j["owner"] is not None]
    check(not owned, "every lease released (%d still owned)" % len(owned))
    # the next worker finishes everything, launching nothing twice
    rc, _, _ = b.run("worker", "--once", timeout=300)
    jobs = json.loads(b.ok("jobs", "--limit", "0", "--json"))
    check(all(j["status"] == "completed" for j in jobs),
          "the next worker adopts and finishes every job")
    with open(os.path.join(b.d, "rec", "launches.log")) as f:
        recs = [tuple(l.split()[:2]) for l in f]
    check(len(recs) == len(set(recs)) == 2000,
          "exactly one launch per job (%d launches, %d distinct)" %
          (len(recs), len(set(recs))))


def reload_syncs_hosts():
    """DESIGN.md § Worker: SIGHUP re-syncs executors/hosts and recompiles the
    rules. Nothing but the worker opens the store here, so only its reload
    can write the new host. The reload takes effect while a job runs: that
    job keeps the instance it was launched on, until it ends."""
    import sqlite3
    base = """
store: sqlite:berth.db
default_executor: mock
executors:
  mock: {record_dir: rec, stdout: "%s"}
hosts:
  - {name: m1, executor: mock, max_concurrent_jobs: 2}
"""
    b = Berth(base % "before")
    w = b.start_worker()
    try:
        end = time.time() + 30
        while time.time() < end and 'msg="worker started"' not in b.log():
            time.sleep(0.05)
        long_job = b.submit("--label", "mock.duration_ms=60000")
        j = b.wait_status(long_job, ("running",), 30)
        check(j["status"] == "running", "a long job runs")
        b.write(base % "after" + "  - {name: m2, executor: mock, "
                "max_concurrent_jobs: 3}\n")
        w.send_signal(signal.SIGHUP)
        end = time.time() + 30
        while time.time() < end and "config reloaded" not in b.log():
            time.sleep(0.05)
        check("config reloaded" in b.log() and
              b.job(long_job)["status"] == "running",
              "SIGHUP: config reloaded while a job runs")
        db = sqlite3.connect(os.path.join(b.d, "berth.db"))
        rows = dict(db.execute("SELECT name, max_concurrent_jobs FROM hosts"))
        db.close()
        check(rows.get("m2") == 3,
              "the reloaded file's new host is in the store (%s)" % rows)
        short = b.submit()
        j = b.wait_status(short, ("completed", "failed"), 30)
        rc, out, _ = b.run("logs", str(short))
        check(j["status"] == "completed" and "after" in out and
              "before" not in out,
              "a job launched after the reload runs on the new options "
              "(%r)" % out)
        b.ok("cancel", str(long_job))
        j = b.wait_status(long_job, ("cancelled", "failed", "completed"), 30)
        check(j["status"] == "cancelled",
              "the job launched before the reload is cancelled through the "
              "instance it was launched on")
        end = time.time() + 30
        while time.time() < end and "old config released" not in b.log():
            time.sleep(0.05)
        check("old config released" in b.log(),
              "the replaced config and its instances are freed once the "
              "last job on them ended")
    finally:
        w.send_signal(signal.SIGTERM)
        check(w.wait(timeout=30) == 0, "SIGTERM: exit 0")


fallback_and_breaker()
retries()
timeout_cancel_deadline()
once_drains_a_one_slot_host()
dry_run()
sigterm_busy()
reload_syncs_hosts()
if FAILS:
    print("%d check(s) failed" % len(FAILS))
    sys.exit(1)
print("all checks passed")
