#!/usr/bin/env python3
"""test_docker_hosts.py - berth on two real Docker engines (the main one
and a second one with its own socket and data root, started here through
scripts/start-dockerd --second when it is not running):

- jobs spread over both hosts by free capacity;
- stopping one engine mid-run moves new work to the other; the jobs that
  were running on the stopped engine are followed again when it is back;
  every job ends, and each ran in exactly one container.

The second engine is shared with itest_docker_hosts, which also stops it:
both hold /tmp/berth-docker2.lock while they use it."""

import collections
import fcntl
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from docker_helpers import (IMAGE, Berth, Engine, check, engine,  # noqa
                            finish, skip, start_second, stop_second)

E1 = engine()
lock = open("/tmp/berth-docker2.lock", "w")
fcntl.flock(lock, fcntl.LOCK_EX)
url2 = start_second()
if not url2:
    skip("the second engine cannot run (scripts/start-dockerd --second)")
E2 = Engine(url2)
NS = "th%d" % os.getpid()

CONFIG = """
store: sqlite:berth.db
default_executor: docker
health_check_ttl: 2
health_failure_ttl: 2
executors:
  docker:
    network: none
    namespace: %(ns)s
    keep_containers: true
    stop_grace_seconds: 1
    health_timeout_ms: 1000
hosts:
  - {name: one, executor: docker, url: "%(u1)s", max_concurrent_jobs: 2}
  - {name: two, executor: docker, url: "%(u2)s", max_concurrent_jobs: 2}
""" % {"ns": NS, "u1": E1.url, "u2": url2}

b = Berth(CONFIG, "dockerh")


def containers_of(jid):
    n = 0
    for e in (E1, E2):
        for c in e.containers("berth.job=%d" % jid):
            if c["Labels"].get("berth.namespace") == NS:
                n += 1
    return n


def cleanup():
    for e in (E1, E2):
        try:
            e.remove_labelled("berth.namespace=" + NS)
        except OSError:
            pass


try:
    # ---- spread by capacity -------------------------------------------
    ids = [b.submit("--image", IMAGE, "--command", "sleep 1")
           for _ in range(8)]
    rc, out, err = b.worker("--concurrency", "8")
    check(rc == 0, "worker --once exits 0: %s" % err[-1500:])
    per_host = collections.Counter()
    for jid in ids:
        j = b.job(jid)
        check(j["status"] == "completed", "job %d completed on %s" %
              (jid, j["host"]))
        per_host[j["host"]] += 1
    check(per_host["one"] >= 2 and per_host["two"] >= 2,
          "jobs spread over both hosts: %s" % dict(per_host))

    # ---- one engine stops mid-run -------------------------------------
    w = b.start_worker("--concurrency", "8")
    try:
        first = [b.submit("--image", IMAGE, "--command", "sleep 20")
                 for _ in range(4)]
        end = time.time() + 120
        while time.time() < end:
            js = [b.job(i) for i in first]
            if all(j["status"] == "running" for j in js):
                break
            time.sleep(0.2)
        on_two = [j["id"] for j in js if j["host"] == "two"]
        check(all(j["status"] == "running" for j in js) and
              len(on_two) == 2,
              "four jobs run, two on each host: %s" %
              [(j["status"], j["host"]) for j in js])

        stop_second()
        check(not E2.ping(), "engine two is down")
        later = [b.submit("--image", IMAGE, "--command", "echo after")
                 for _ in range(6)]
        for jid in later:
            j = b.wait_status(jid, ("completed", "failed", "cancelled",
                                    "timed_out"), timeout=180)
            check(j["status"] == "completed" and j["host"] == "one",
                  "new job %d moved to host one (%s on %s)" %
                  (jid, j["status"], j["host"]))
        for jid in on_two:
            # Still followed; or already ended, when the engine's shutdown
            # stopped it and said so before its socket went away.
            st = b.job(jid)["status"]
            check(st in ("running", "failed", "completed"),
                  "job %d of the stopped engine is kept (%s)" % (jid, st))

        url_back = start_second()
        check(url_back == url2 and E2.ping(), "engine two is back")
        for jid in first:
            j = b.wait_status(jid, ("completed", "failed", "cancelled",
                                    "timed_out"), timeout=180)
            if jid in on_two:
                # Its engine's shutdown stopped the container (or it had
                # finished): either way it ended, and says how.
                check(j["status"] in ("completed", "failed") and
                      j["exit_code"] is not None,
                      "job %d from the stopped engine ended: %s, exit %s" %
                      (jid, j["status"], j["exit_code"]))
            else:
                check(j["status"] == "completed",
                      "job %d on host one completed (%s)" %
                      (jid, j["status"]))
    finally:
        w.terminate()
        try:
            w.wait(timeout=120)
        except subprocess.TimeoutExpired:
            w.kill()
    check(w.returncode == 0, "the worker stopped cleanly (%s)" %
          w.returncode)

    # Nothing lost, nothing twice: every job is terminal and ran in
    # exactly one container.
    for jid in ids + first + later:
        j = b.job(jid)
        check(j["status"] in ("completed", "failed"),
              "job %d is terminal (%s)" % (jid, j["status"]))
        n = containers_of(jid)
        check(n == 1, "job %d ran in exactly one container (%d)" % (jid, n))
finally:
    if not E2.ping():
        start_second()
    cleanup()
    if len(sys.argv) > 1 and sys.argv[1] == "-v":
        print(b.worker_log())

finish()
