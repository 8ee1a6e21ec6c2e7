#!/usr/bin/env python3
"""test_cli.py - berth end to end through the real binary, on the mock
executor and a SQLite store: submit -> worker -> job/logs, exit codes,
bulk submit, scheduling, cancel and retry, templates and environments,
hosts and the operator's switch, usage and input errors, --wait, and the
event history of a job."""

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
    if cond:
        print("ok   " + what)
    else:
        print("FAIL " + what)
        FAILS.append(what)


class Berth:
    def __init__(self, d, config_text):
        self.d = d
        self.config = os.path.join(d, "berth.yaml")
        with open(self.config, "w") as f:
            f.write(config_text)

    def run(self, *args, stdin=None, timeout=60):
        p = subprocess.run([BIN, "--config", self.config] + list(args),
                           cwd=self.d, input=stdin, capture_output=True,
                           text=True, timeout=timeout)
        return p.returncode, p.stdout, p.stderr

    def ok(self, *args):
        rc, out, err = self.run(*args)
        if rc != 0:
            raise AssertionError("berth %s: exit %d: %s" % (args, rc, err))
        return out

    def json(self, *args):
        return json.loads(self.ok(*args))


CONFIG = """
store: sqlite:berth.db
default_executor: mock
executors:
  mock:
    stdout: "hello from mock\\n"
    record_dir: rec
    max_concurrent_jobs: 50
  slow:
    type: mock
    duration_ms: 60000
environments:
  reporting: {DB_HOST: db.internal, LOG_LEVEL: info, SHARED: env}
templates:
  - name: batch-report
    image: local/busybox:latest
    environment: reporting
    env: {LOG_LEVEL: debug, SHARED: template}
    command: [sh, -c, "echo report"]
    memory_mb: 256
    cpu_cores: 0.5
    timeout_seconds: 600
    labels: {team: data}
hosts:
  - {name: m1, executor: mock, max_concurrent_jobs: 50}
"""


def launches(d):
    path = os.path.join(d, "rec", "launches.log")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [tuple(line.split()[:2]) for line in f if line.strip()]


def main():
    d = tempfile.mkdtemp(prefix="berth-cli-")
    b = Berth(d, CONFIG)

    # --- one job end to end ------------------------------------------------
    jid = int(b.ok("submit", "--image", "local/busybox:latest",
                   "--command", "echo hi").strip())
    check(jid == 1, "first job gets id 1")
    j = b.json("job", str(jid), "--json")
    check(j["status"] == "pending", "a submitted job is pending")
    rc, out, werr = b.run("worker", "--once")
    check(rc == 0, "worker --once exits 0")
    j = b.json("job", str(jid), "--json")
    check(j["status"] == "completed", "job completed")
    check(j["exit_code"] == 0, "exit_code 0")
    check(j["executor"] == "mock" and j["host"] == "m1",
          "placed on executor mock, host m1")
    check(j["routing_reason"] == "Default fallback to mock",
          "routing_reason names the default fallback")
    check(j["attempts"] == 1, "one attempt")
    check(j["execution_id"] == "mock-m1-1-1", "execution id recorded")
    for k in ("created_at", "started_at", "finished_at"):
        check(isinstance(j[k], str) and j[k].endswith("Z"), k + " set")
    check(j["created_at"] <= j["started_at"] <= j["finished_at"],
          "timestamps in order")
    rc, out, err = b.run("logs", str(jid))
    check(rc == 0 and out == "hello from mock\n", "logs print the stdout")
    kinds = [(e["from"], e["to"]) for e in j["events"]]
    check(kinds == [("pending", "pending"), ("pending", "launching"),
                    ("launching", "running"), ("running", "completed")],
          "event history: submitted, launching, running, completed")
    check(all(e["reason"] for e in j["events"]), "every event has a reason")
    routed = [l for l in werr.splitlines() if 'msg="job routed"' in l]
    check(len(routed) == 1 and " job=1 " in routed[0] and
          " executor=mock " in routed[0] and " host=m1 " in routed[0] and
          " rule=-1 " in routed[0] and " us=" in routed[0],
          "routing decision logged as one structured line: " +
          (routed[0] if routed else werr))

    # --- a job that exits 3 -------------------------------------------------
    jid = int(b.ok("submit", "--image", "x", "--label",
                   "mock.exit_code=3").strip())
    b.ok("worker", "--once")
    j = b.json("job", str(jid), "--json")
    check(j["status"] == "failed" and j["exit_code"] == 3,
          "mock exit 3 -> failed with exit_code 3")
    check(j["last_error"].startswith("exited 3"), "last_error says exited 3")

    # --- bulk submit and priority order --------------------------------------
    out = b.ok("submit", "--image", "x", "--count", "5", "--priority", "10")
    ids = [int(x) for x in out.split()]
    check(len(ids) == 5 and ids == list(range(ids[0], ids[0] + 5)),
          "--count 5 gives 5 consecutive ids")
    hi = int(b.ok("submit", "--image", "x", "--priority", "90").strip())
    b.ok("worker", "--once", "--max-jobs", "1")
    check(b.json("job", str(hi), "--json")["status"] == "completed",
          "the higher priority job is claimed first")
    check(b.json("job", str(ids[0]), "--json")["status"] == "pending",
          "lower priority jobs wait")
    b.ok("worker", "--once", "--max-jobs", "1")
    check(b.json("job", str(ids[0]), "--json")["status"] == "completed" and
          b.json("job", str(ids[1]), "--json")["status"] == "pending",
          "FIFO within a priority")
    b.ok("worker", "--once")

    # --- scheduled start ----------------------------------------------------
    later = int(b.ok("submit", "--image", "x", "--in", "1h").strip())
    b.ok("worker", "--once")
    j = b.json("job", str(later), "--json")
    check(j["status"] == "pending" and j["not_before"] is not None,
          "--in 1h keeps the job pending with not_before")
    st = b.json("stats", "--json")
    check(st["pending_scheduled"] == 1 and st["pending_ready"] == 0,
          "stats counts it as scheduled, not ready")

    # --- cancel and retry ---------------------------------------------------
    rc, out, _ = b.run("cancel", str(later))
    check(rc == 0 and "cancelled" in out, "cancel a pending job")
    check(b.json("job", str(later), "--json")["status"] == "cancelled",
          "pending -> cancelled")
    rc, out, _ = b.run("retry", str(later))
    check(rc == 0, "retry a cancelled job")
    j = b.json("job", str(later), "--json")
    check(j["status"] == "pending" and j["attempts"] == 2,
          "retry re-queues as attempt 2")
    b.ok("worker", "--once")
    check(b.json("job", str(later), "--json")["status"] == "completed",
          "the retried job runs")
    rc, _, err = b.run("retry", str(later))
    check(rc == 1 and "only failed, timed_out or cancelled" in err,
          "a completed job is not retried")
    a = int(b.ok("submit", "--image", "x", "--in", "1h").strip())
    c2 = int(b.ok("submit", "--image", "x", "--in", "1h").strip())
    rc, out, _ = b.run("cancel", "--status", "pending")
    check(rc == 0 and b.json("job", str(a), "--json")["status"] ==
          "cancelled" and b.json("job", str(c2), "--json")["status"] ==
          "cancelled", "cancel --status pending cancels every pending job")

    # --- templates and environments ----------------------------------------
    jid = int(b.ok("submit", "batch-report", "--env", "SHARED=job").strip())
    j = b.json("job", str(jid), "--json")
    check(j["env"] == {"DB_HOST": "db.internal", "LOG_LEVEL": "debug",
                       "SHARED": "job"},
          "env: environment < template env < job env")
    check(j["memory_mb"] == 256 and j["timeout_seconds"] == 600 and
          j["template"] == "batch-report" and j["command"] ==
          ["sh", "-c", "echo report"], "template values become the job's")
    b.ok("template", "add", "t2", "--image", "img:1", "--memory", "64",
         "--label", "k=v")
    names = [t["name"] for t in b.json("template", "list", "--json")]
    check(names == ["batch-report", "t2"], "template add + list")
    t = b.json("template", "show", "t2", "--json")
    check(t["memory_mb"] == 64 and t["labels"] == {"k": "v"},
          "template show")
    b.ok("template", "rm", "t2")
    rc, _, err = b.run("submit", "t2")
    check(rc == 1 and "unknown template 't2'" in err,
          "a removed template is gone")
    b.ok("worker", "--once")

    # --- hosts and the operator's switch -------------------------------------
    b.ok("host", "disable", "m1")
    hosts = {h["name"]: h for h in b.json("host", "list", "--json")}
    check(not hosts["m1"]["enabled"], "host disable")
    # a config change re-syncs hosts; the switch must survive it
    with open(b.config, "a") as f:
        f.write("  - {name: m2, executor: slow, max_concurrent_jobs: 2}\n")
    hosts = {h["name"]: h for h in b.json("host", "list", "--json")}
    check("m2" in hosts and not hosts["m1"]["enabled"],
          "config sync adds hosts and keeps the operator's switch")
    jid = int(b.ok("submit", "--image", "x").strip())
    b.ok("worker", "--once")
    j = b.json("job", str(jid), "--json")
    check(j["status"] == "failed" and
          "no executor can ever take this job" in j["last_error"],
          "every candidate disabled -> failed with the reason")
    b.ok("host", "enable", "m1")
    check(b.json("host", "show", "m1", "--json")["enabled"], "host enable")
    b.ok("host", "add", "m3", "--executor", "mock", "--max-jobs", "3")
    check(b.json("host", "show", "m3", "--json")["max_concurrent_jobs"] == 3,
          "host add")
    b.ok("host", "rm", "m3")
    rc, _, _ = b.run("host", "show", "m3")
    check(rc == 1, "host rm")

    # --- --wait with a background worker -------------------------------------
    w = subprocess.Popen([BIN, "--config", b.config, "worker",
                          "--poll-interval", "100ms"], cwd=d,
                         stderr=subprocess.DEVNULL)
    try:
        rc, out, err = b.run("submit", "--image", "x", "--label",
                             "mock.exit_code=4", "--wait", timeout=60)
        check(rc == 4, "submit --wait exits with the job's exit code")
        rc, out, err = b.run("submit", "--image", "x", "--wait", timeout=60)
        check(rc == 0, "submit --wait exits 0 on success")
    finally:
        w.send_signal(signal.SIGTERM)
        check(w.wait(timeout=30) == 0, "worker exits 0 on SIGTERM")

    # --- launched exactly once -------------------------------------------------
    recs = launches(d)
    check(len(recs) == len(set(recs)), "no job attempt launched twice")

    # --- usage and input errors -------------------------------------------------
    rc, _, err = b.run("submit", "--image", "x", "--priority", "101")
    check(rc == 2 and err.startswith("berth: --priority '101'"),
          "priority out of range is a usage error (exit 2)")
    rc, _, err = b.run("submit")
    check(rc == 2 and "no image" in err, "a job without an image")
    rc, _, err = b.run("job", "999999")
    check(rc == 1 and err.startswith("berth: job 999999"),
          "unknown job: exit 1, berth: prefix")
    rc, _, err = b.run("job", "abc")
    check(rc == 2, "a bad id is a usage error")
    rc, _, err = b.run("frobnicate")
    check(rc == 2 and "unknown command" in err, "unknown command exit 2")
    rc, _, err = b.run("submit", "--image", "x", "--in", "soon")
    check(rc == 2 and "invalid duration 'soon'" in err, "bad duration")
    rc, _, err = b.run("submit", "--image", "x", "--executor", "nope")
    check(rc == 2 and "'nope'" in err, "unknown preferred executor")
    # Bytes that are not UTF-8 (here 0xff, passed through by Python's
    # surrogateescape) are refused, naming the field, and store nothing:
    # the store keeps command, env and labels as JSON, which cannot hold
    # them.
    before = len(b.json("jobs", "--json", "--limit", "100000"))
    rc, _, err = b.run("submit", "--image", "x", "--command", "echo \udcff")
    check(rc == 1 and "command item 2 is not valid UTF-8" in err,
          "a command argument that is not UTF-8 is refused (%r)" % err)
    rc, _, err = b.run("submit", "--image", "x", "--env", "K=\udcff")
    check(rc == 1 and "the env value of 'K' is not valid UTF-8" in err,
          "an env value that is not UTF-8 is refused (%r)" % err)
    rc, _, err = b.run("template", "add", "t-bad", "--image", "x",
                       "--label", "team=\udcff")
    check(rc == 1 and "the label value of 'team' is not valid UTF-8" in err,
          "a template label that is not UTF-8 is refused (%r)" % err)
    check(len(b.json("jobs", "--json", "--limit", "100000")) == before,
          "refused submissions store no job")
    for cmd in ("submit", "jobs", "job", "logs", "cancel", "retry", "stats",
                "template", "host", "worker", "explain", "executors",
                "config"):
        rc, out, _ = b.run(cmd, "--help")
        check(rc == 0 and "usage:" in out, cmd + " --help")
    bad = Berth(tempfile.mkdtemp(prefix="berth-cli-bad-"),
                "executors:\n  mock: {enabled: maybe}\n")
    rc, _, err = bad.run("jobs")
    check(rc == 1 and "berth.yaml:2:" in err,
          "a malformed config names file:line:col and exits 1")
    check(not os.path.exists(os.path.join(bad.d, "berth.db")),
          "a malformed config leaves no store behind")

    if FAILS:
        print("%d check(s) failed" % len(FAILS))
        sys.exit(1)
    print("all checks passed")


main()
