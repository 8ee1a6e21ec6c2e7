#!/usr/bin/env python3
"""test_docker_worker.py - berth (the real binary: submit, worker, job,
logs, cancel) on a real Docker engine: exit codes, stdout and stderr kept
apart, env (job over template over environment) and command overrides,
limits visible in the engine's inspect, OOM, peak memory, a missing image,
adoption of a container a dead worker created, kill at the timeout, cancel
of a running job, and `berth logs --follow` while the job runs.

Every container carries this run's namespace, so runs sharing an engine
never meet; whatever is left is removed at the end."""

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from docker_helpers import (IMAGE, Berth, check, engine,  # noqa: E402
                            finish)

# The executor reports OOM, peak memory and CPU time (itest_docker checks
# that) and the store keeps them on the job (BERTH_UPD_USAGE).

E = engine()
NS = "tw%d" % os.getpid()
NS_KEEP = NS + "k"

CONFIG = """
store: sqlite:berth.db
default_executor: docker
environments:
  base: {FROM_ENV: env, SHARED: env}
templates:
  - name: tpl
    image: %(image)s
    environment: base
    env: {FROM_TPL: tpl, SHARED: tpl}
    command: "echo from-template"
executors:
  docker:
    network: none
    namespace: %(ns)s
    stop_grace_seconds: 1
  docker-keep:
    type: docker
    network: none
    namespace: %(ns_keep)s
    keep_containers: true
hosts:
  - {name: local, executor: docker, url: "%(url)s", max_concurrent_jobs: 8}
  - {name: local-keep, executor: docker-keep, url: "%(url)s",
     max_concurrent_jobs: 8}
""" % {"image": IMAGE, "ns": NS, "ns_keep": NS_KEEP, "url": E.url}

b = Berth(CONFIG, "dockerw")


def sub(*args):
    return b.submit("--image", IMAGE, *args)


def logs(jid):
    rc, out, err = b.run("logs", str(jid))
    return rc, out, err


# ---- one batch through `worker --once` ---------------------------------

j_ok = sub("--command", "sh -c 'exit 0'")
j_seven = sub("--command", "sh -c 'echo to-out; echo to-err >&2; exit 7'")
j_env = b.submit("tpl", "--env", "SHARED=job", "--command",
                 "sh -c 'echo $FROM_ENV $FROM_TPL $SHARED'")
j_tplcmd = b.submit("tpl")
j_limits = sub("--executor", "docker-keep", "--memory", "64", "--cpus",
               "0.5", "--command", "true")
j_noimage = b.submit("--image", "berth-test/no-such-image:3", "--command",
                     "true")
j_oom = sub("--memory", "8", "--command", "tail /dev/zero")
j_peak = sub("--memory", "256", "--command",
             "sh -c \"x=$(head -c 20000000 /dev/zero | tr '\\\\0' a); "
             "sleep 3; echo ${#x}\"")

# A worker created this job's container and died before starting it.
j_adopt = sub("--executor", "docker-keep", "--command",
              "sh -c 'echo ran'")
adopt_name = "%s-berth-%d-1" % (NS_KEEP, j_adopt)
st, created = E.call("POST", "/containers/create?name=" + adopt_name, {
    "Image": IMAGE, "Cmd": ["sh", "-c", "echo ran"],
    "Labels": {"berth.job": str(j_adopt), "berth.attempt": "1",
               "berth.namespace": NS_KEEP},
    "HostConfig": {"NetworkMode": "none"}})
check(st == 201, "a dead worker's container was created (HTTP %d)" % st)

rc, out, err = b.worker("--concurrency", "8")
check(rc == 0, "worker --once exits 0 (%d): %s" % (rc, err[-2000:]))

j = b.job(j_ok)
check(j["status"] == "completed" and j["exit_code"] == 0,
      "exit 0 -> completed (%s, %s)" % (j["status"], j["exit_code"]))
check(E.inspect(j["execution_id"]) is None,
      "the container of a harvested job is removed")

j = b.job(j_seven)
check(j["status"] == "failed" and j["exit_code"] == 7,
      "exit 7 -> failed with 7 (%s, %s)" % (j["status"], j["exit_code"]))
rc, out, err = logs(j_seven)
check(out == "to-out\n", "stdout stored apart: %r" % out)
check(err.startswith("to-err\n"), "stderr stored apart: %r" % err)

j = b.job(j_env)
rc, out, _ = logs(j_env)
check(j["status"] == "completed" and out == "env tpl job\n",
      "env: job over template over environment, command override: %r" % out)
rc, out, _ = logs(j_tplcmd)
check(out == "from-template\n", "the template's command runs: %r" % out)

j = b.job(j_limits)
ins = E.inspect(j["execution_id"]) if j["execution_id"] else None
check(ins is not None, "keep_containers keeps the container")
if ins:
    hc = ins["HostConfig"]
    check(hc["Memory"] == 64 * 1024 * 1024,
          "memory limit visible in inspect: %d" % hc["Memory"])
    check(hc["NanoCpus"] == 500000000, "cpu limit in inspect: %d" %
          hc["NanoCpus"])
    check(hc["NetworkMode"] == "none", "network from the executor options")
    lab = ins["Config"]["Labels"]
    check(lab.get("berth.job") == str(j_limits) and
          lab.get("berth.attempt") == "1" and
          lab.get("berth.host") == "local-keep",
          "labels berth.job, berth.attempt, berth.host: %s" % lab)

j = b.job(j_noimage)
check(j["status"] == "failed", "missing image -> failed (%s)" % j["status"])
check("berth-test/no-such-image:3" in (j["last_error"] or ""),
      "the error names the image: %s" % j["last_error"])

j = b.job(j_oom)
check(j["status"] == "failed" and j["exit_code"] == 137 and
      "out of memory" in (j["last_error"] or ""),
      "over its memory -> failed, 137, out of memory (%s, %s, %s)" %
      (j["status"], j["exit_code"], j["last_error"]))
check(j["oom_killed"] is True, "oom_killed kept on the job")

j = b.job(j_peak)
rc, out, _ = logs(j_peak)
check(j["status"] == "completed" and out == "20000000\n",
      "the 20 MB job completed: %r" % out)
check((j["peak_memory_bytes"] or 0) > 20000000,
      "peak memory kept on the job: %s" % j["peak_memory_bytes"])
check((j["cpu_time_us"] or 0) > 0,
      "cpu time kept on the job: %s" % j["cpu_time_us"])

j = b.job(j_adopt)
rc, out, _ = logs(j_adopt)
check(j["status"] == "completed", "adopted job completed (%s)" % j["status"])
check(created is not None and j["execution_id"] == created.get("Id"),
      "the dead worker's container was adopted")
check(out == "ran\n", "it ran exactly once: %r" % out)
mine = [c for c in E.containers("berth.job=%d" % j_adopt)
        if c["Labels"].get("berth.namespace") == NS_KEEP]
check(len(mine) == 1, "exactly one container for that job: %d" % len(mine))
check(any(e["reason"] == "adopted an earlier launch"
          for e in j["events"]), "its history says it was adopted")

# ---- a running worker: timeout, cancel, logs --follow ------------------

w = b.start_worker("--concurrency", "8")
try:
    j_timeout = sub("--timeout", "2", "--command", "sleep 300")
    j_cancel = sub("--command", "sleep 300")
    j_follow = sub("--command",
                   "sh -c 'echo a; sleep 1; echo b >&2; sleep 1; echo c'")

    j = b.wait_status(j_follow, ("running",), timeout=120)
    check(j["status"] == "running", "the followed job runs (%s)" %
          j["status"])
    p = subprocess.run([b.bin, "--config", b.config, "logs", str(j_follow),
                        "--follow"], cwd=b.d, capture_output=True,
                       text=True, timeout=120)
    check(p.returncode == 0 and p.stdout == "a\nc\n" and
          p.stderr == "b\n",
          "logs --follow streams stdout and stderr until the end: "
          "%r %r" % (p.stdout, p.stderr))
    j = b.wait_status(j_follow, ("completed",), timeout=60)
    check(j["status"] == "completed", "the followed job completed")

    j = b.wait_status(j_cancel, ("running",), timeout=120)
    check(j["status"] == "running", "the job to cancel runs")
    b.ok("cancel", str(j_cancel))
    j = b.wait_status(j_cancel, ("cancelled",), timeout=120)
    check(j["status"] == "cancelled", "cancel -> cancelled (%s)" %
          j["status"])
    check(E.gone(j["execution_id"]), "the cancelled job's container is gone")

    j = b.wait_status(j_timeout, ("timed_out", "failed", "completed"),
                      timeout=180)
    check(j["status"] == "timed_out", "killed at its timeout -> timed_out "
          "(%s: %s)" % (j["status"], j["last_error"]))
    check(E.gone(j["execution_id"]),
          "the timed-out job's container is gone")
finally:
    w.terminate()
    try:
        w.wait(timeout=120)
    except subprocess.TimeoutExpired:
        w.kill()
    check(w.returncode == 0, "the worker stops cleanly on SIGTERM (%s)" %
          w.returncode)
    E.remove_labelled("berth.namespace=" + NS)
    E.remove_labelled("berth.namespace=" + NS_KEEP)

if len(sys.argv) > 1 and sys.argv[1] == "-v":
    print(b.worker_log())
finish()
