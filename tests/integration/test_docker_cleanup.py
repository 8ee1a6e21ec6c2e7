#!/usr/bin/env python3
"""test_docker_cleanup.py - `berth cleanup` on a real Docker engine: the
containers berth left behind (keep_containers) whose jobs are finished or
unknown to the store are removed, those of running jobs are kept, other
deployments' (another namespace) are not touched, and --dry-run removes
nothing."""

import os
import sqlite3
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from docker_helpers import IMAGE, Berth, check, engine, finish  # noqa: E402

E = engine()
NS = "tc%d" % os.getpid()
OTHER = NS + "x"

b = Berth("""
store: sqlite:berth.db
default_executor: docker
executors:
  docker: {network: none, namespace: %s, keep_containers: true,
           stop_grace_seconds: 1}
hosts:
  - {name: local, executor: docker, url: "%s", max_concurrent_jobs: 4}
""" % (NS, E.url), "dockerc")


def leftover(name, ns, job):
    st, body = E.call("POST", "/containers/create?name=" + name, {
        "Image": IMAGE, "Cmd": ["true"],
        "Labels": {"berth.job": str(job), "berth.attempt": "1",
                   "berth.namespace": ns},
        "HostConfig": {"NetworkMode": "none"}})
    check(st == 201, "leftover %s created (HTTP %d)" % (name, st))
    return body["Id"] if st == 201 else ""


def exists(cid):
    return E.inspect(cid) is not None


w = None
try:
    done = b.submit("--image", IMAGE, "--command", "echo done")
    rc, _, err = b.worker()
    check(rc == 0 and b.job(done)["status"] == "completed",
          "a finished job: %s" % err[-500:])
    done_cid = b.job(done)["execution_id"]
    check(exists(done_cid), "keep_containers kept its container")

    unknown_cid = leftover("%s-berth-99999-1" % NS, NS, 99999)
    other_cid = leftover("%s-berth-%d-1" % (OTHER, done), OTHER, done)

    w = b.start_worker()
    running = b.submit("--image", IMAGE, "--command", "sleep 300")
    j = b.wait_status(running, ("running",))
    check(j["status"] == "running", "a running job (%s)" % j["status"])
    running_cid = j["execution_id"]

    rc, out, err = b.run("cleanup", "--dry-run")
    check(rc == 0, "cleanup --dry-run exits 0: %s" % err)
    check("would be removed" in out and done_cid and exists(done_cid) and
          exists(unknown_cid),
          "--dry-run says what it would remove and removes nothing: %r" %
          out)

    rc, out, err = b.run("cleanup")
    check(rc == 0, "cleanup exits 0: %s" % err)
    check(not exists(done_cid), "the finished job's container is removed")
    check(not exists(unknown_cid),
          "a container of a job unknown to the store is removed")
    check(exists(running_cid), "the running job's container is kept")
    check(exists(other_cid), "another namespace's container is not touched")
    check(("job %d" % done) in out and "job 99999" in out,
          "cleanup says what it removed: %r" % out)

    # A store that cannot answer for a job is no licence to remove its
    # container: a copy of the store without its jobs table stands in for
    # one that fails.
    src = sqlite3.connect(os.path.join(b.d, "berth.db"))
    dst = sqlite3.connect(os.path.join(b.d, "broken.db"))
    src.backup(dst)
    src.close()
    dst.execute("DROP TABLE jobs")
    dst.commit()
    dst.close()
    rc, out, err = b.run("--store", "sqlite:broken.db", "cleanup")
    check(rc == 1 and "cannot look up job %d" % running in err,
          "cleanup says it cannot look up the job, exit 1 (%d): %s" %
          (rc, err[-300:]))
    check(exists(running_cid),
          "a container whose job cannot be looked up is kept")

    b.ok("cancel", str(running))
    j = b.wait_status(running, ("cancelled",))
    check(j["status"] == "cancelled", "the running job is cancelled")
    # The worker removes nothing here (keep_containers): cleanup does.
    rc, out, err = b.run("cleanup")
    check(rc == 0 and not exists(running_cid),
          "once finished, its container goes too")
finally:
    if w:
        w.terminate()
        try:
            w.wait(timeout=120)
        except subprocess.TimeoutExpired:
            w.kill()
    E.remove_labelled("berth.namespace=" + NS)
    E.remove_labelled("berth.namespace=" + OTHER)

finish()
