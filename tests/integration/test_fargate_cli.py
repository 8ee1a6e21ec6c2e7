#!/usr/bin/env python3
"""test_fargate_cli.py - the fargate executor through the real binary and
worker, against the fake ECS server (tests/fakes/fake_ecs.c), which checks
every request's shape and SigV4 signature:

- a 16 GB job is routed to fargate by the rule `memory_mb > 8192` and goes
  pending -> launching -> running -> completed, with its logs;
- a failing task fails with its exit code; a timeout stops the task
  (StopTask) and ends timed_out; `berth cancel` stops a running task;
- throttling (ThrottlingException) is retried, then the launch succeeds;
- a wrong secret keeps the job pending, and `berth explain` and
  `berth executors` say why (InvalidSignatureException);
- a worker killed while its task runs is restarted and adopts the task
  instead of starting another (the fake counts tasks per clientToken);
- a burst of 500 jobs with launch_rate 20 / launch_burst 50 never exceeds
  the token bucket, judged from the fake's RunTask arrival times, and
  `berth explain` on a waiting job names the rate limit.
"""

import bisect
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request

BIN = os.environ.get("BERTH_BIN")
BUILD = os.environ.get("BERTH_BUILD_DIR")
if not BIN or not BUILD:
    print("BERTH_BIN / BERTH_BUILD_DIR not set (run through ctest)")
    sys.exit(1)
FAKE = os.path.join(BUILD, "tests", "fake_ecs")
if not os.access(FAKE, os.X_OK):
    print("fake_ecs not built: skipping")
    sys.exit(77)

KEY_ID = "AKIDBERTHE2E"
SECRET = "e2e/secret+KEY="
FAILS = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        FAILS.append(what)


class Fake:
    def __init__(self, d):
        self.port_file = os.path.join(d, "fake.port")
        self.log = open(os.path.join(d, "fake.log"), "w")
        self.proc = subprocess.Popen(
            [FAKE, "--port-file", self.port_file, "--region", "eu-west-1",
             "--cluster", "jobs", "--access-key", KEY_ID, "--secret", SECRET,
             "--provision-ms", "40", "--duration-ms", "200"],
            stderr=self.log)
        for _ in range(500):
            if os.path.exists(self.port_file):
                break
            time.sleep(0.01)
        with open(self.port_file) as f:
            self.port = int(f.read())
        self.url = "http://127.0.0.1:%d" % self.port

    def get(self, path):
        with urllib.request.urlopen(self.url + path, timeout=30) as r:
            return json.loads(r.read())

    def post(self, path, obj):
        req = urllib.request.Request(self.url + path,
                                     data=json.dumps(obj).encode(),
                                     method="POST")
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status

    def stop(self):
        self.proc.terminate()
        self.proc.wait()
        self.log.close()


def config_text(fake, extra="", default="mock"):
    return """
store: sqlite:berth.db
default_executor: %(default)s
health_check_ttl: 300
health_failure_ttl: 1
executors:
  mock: {stdout: "from the mock\\n"}
  fargate:
    cluster: jobs
    region: eu-west-1
    subnets: [subnet-0a1b, subnet-2c3d]
    security_groups: [sg-0123]
    assign_public_ip: false
    execution_role_arn: arn:aws:iam::123456789012:role/ecsTaskExecutionRole
    log_group: /ecs/berth-e2e
    endpoint: %(url)s
    logs_endpoint: %(url)s
    metadata_endpoint: %(url)s
    retry_base_ms: 10
    max_concurrent_jobs: 1000
%(extra)s
routing_rules:
  - {condition: "memory_mb > 8192", executor: fargate,
     reason: "High memory requirement (>8GB)", priority: 1}
""" % {"url": fake.url, "extra": extra, "default": default}


class Berth:
    def __init__(self, d, text, secret=SECRET):
        self.d = d
        self.config = os.path.join(d, "berth.yaml")
        with open(self.config, "w") as f:
            f.write(text)
        self.env = dict(os.environ)
        for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN",
                  "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                  "AWS_CONTAINER_CREDENTIALS_FULL_URI"):
            self.env.pop(k, None)
        self.env.update({"AWS_ACCESS_KEY_ID": KEY_ID,
                         "AWS_SECRET_ACCESS_KEY": secret,
                         "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
                         "AWS_EC2_METADATA_DISABLED": "true"})

    def run(self, *args, timeout=120):
        p = subprocess.run([BIN, "--config", self.config] + list(args),
                           cwd=self.d, capture_output=True, text=True,
                           timeout=timeout, env=self.env)
        return p.returncode, p.stdout, p.stderr

    def ok(self, *args, timeout=120):
        rc, out, err = self.run(*args, timeout=timeout)
        if rc != 0:
            raise AssertionError("berth %s: exit %d: %s" % (args, rc, err))
        return out

    def json(self, *args):
        return json.loads(self.ok(*args))

    def spawn(self, *args):
        log = open(os.path.join(self.d, "worker-%d.log" % time.time_ns()),
                   "w")
        return subprocess.Popen([BIN, "--config", self.config] + list(args),
                                cwd=self.d, env=self.env, stdout=log,
                                stderr=log)

    def submit(self, *args):
        return int(self.ok("submit", *args).split()[0])

    def job(self, jid):
        return self.json("job", str(jid), "--json")

    def wait_status(self, jid, statuses, limit=60):
        for _ in range(limit * 20):
            j = self.job(jid)
            if j["status"] in statuses:
                return j
            time.sleep(0.05)
        raise AssertionError("job %d never reached %s (is %s)" %
                             (jid, statuses, j["status"]))


def task_of(fake, arn):
    for t in fake.get("/_fake/tasks"):
        if t["taskArn"] == arn:
            return t
    return None


def requests(fake, op):
    return [r for r in fake.get("/_fake/requests") if r["op"] == op]


def lifecycle(fake, d):
    b = Berth(d, config_text(fake))
    big = b.submit("--image", "local/app:1", "--command", "sh -c 'echo big'",
                   "--memory", "16384", "--env",
                   "FAKE_STDOUT=loading 16 GB\ncrunching\ndone", "--env",
                   "FAKE_DURATION_MS=300", "--label", "team=data")
    small = b.submit("--image", "local/app:1", "--command", "echo small",
                     "--memory", "256")
    bad = b.submit("--image", "local/app:1", "--memory", "9000", "--env",
                   "FAKE_EXIT_CODE=3", "--env", "FAKE_STDOUT=about to fail")
    never = b.submit("--image", "local/app:1", "--memory", "9000", "--env",
                     "FAKE_FAIL_START=CannotPullContainerError: "
                     "manifest for local/app:1 not found")
    slow = b.submit("--image", "local/app:1", "--memory", "9000", "--timeout",
                    "1", "--env", "FAKE_DURATION_MS=600000")
    rc, out, err = b.run("worker", "--once", timeout=300)
    check(rc == 0, "worker --once exits 0")

    j = b.job(big)
    check(j["status"] == "completed", "16 GB job completed")
    check(j["exit_code"] == 0, "exit code 0")
    check(j["executor"] == "fargate", "routed to fargate")
    check(j["routing_reason"] == "High memory requirement (>8GB)",
          "routing reason is the rule's")
    check(j["execution_id"].startswith(
        "arn:aws:ecs:eu-west-1:123456789012:task/jobs/"),
        "execution id is the task ARN")
    steps = [(e["from"], e["to"]) for e in j["events"]]
    check(("pending", "launching") in steps and
          ("launching", "running") in steps and
          ("running", "completed") in steps,
          "pending -> launching -> running -> completed")
    rc, logs, _ = b.run("logs", str(big))
    check(logs == "loading 16 GB\ncrunching\ndone\n",
          "logs come from CloudWatch Logs (%r)" % logs)
    t = task_of(fake, j["execution_id"])
    check(t is not None and t["memory"] == "16384" and t["cpu"] == "2048",
          "RunTask asked for the smallest Fargate size holding 16 GB")
    check(t["clientToken"] == "berth-%d-1" % big and
          t["startedBy"] == "berth-%d-1" % big,
          "clientToken and startedBy derive from job and attempt")
    check({"key": "team", "value": "data"} in t["tags"],
          "job labels become task tags")

    check(b.job(small)["executor"] == "mock",
          "a small job stays on the default executor")

    j = b.job(bad)
    check(j["status"] == "failed" and j["exit_code"] == 3,
          "a failing task fails with its exit code (%s, %s)" %
          (j["status"], j["exit_code"]))
    j = b.job(never)
    check(j["status"] == "failed", "a task that never starts fails")
    check("CannotPullContainerError" in (j.get("last_error") or ""),
          "with the stopped reason as the message (%r)" %
          j.get("last_error"))
    j = b.job(slow)
    check(j["status"] == "timed_out", "a task past its timeout is timed_out"
          " (%s)" % j["status"])
    stops = requests(fake, "StopTask")
    check(len(stops) == 1, "the timeout sent one StopTask")

    rc, out, err = b.run("cleanup", "--dry-run")
    check(rc == 0 and ("berth-%d-1" % big) in out and
          "would be removed" in out,
          "berth cleanup --dry-run lists the finished fargate tasks")


def cancel_and_throttle(fake, d):
    b = Berth(d, config_text(fake))
    w = b.spawn("worker", "--poll-interval", "200ms")
    try:
        jid = b.submit("--image", "local/app:1", "--memory", "9000", "--env",
                       "FAKE_DURATION_MS=600000")
        b.wait_status(jid, ("running",))
        b.ok("cancel", str(jid))
        j = b.wait_status(jid, ("cancelled", "failed", "completed"))
        check(j["status"] == "cancelled", "berth cancel stops a running task")
        t = task_of(fake, j["execution_id"])
        check(t is not None, "the cancelled task is the fake's")

        fake.post("/_fake/inject", {"target": "RunTask", "count": 2,
                                    "status": 400,
                                    "type": "ThrottlingException",
                                    "message": "Rate exceeded"})
        jid = b.submit("--image", "local/app:1", "--memory", "9000")
        j = b.wait_status(jid, ("completed", "failed"))
        check(j["status"] == "completed",
              "throttled twice, then launched and completed")
        tok = "berth-%d-1" % jid
        calls = [r for r in requests(fake, "RunTask")
                 if r.get("clientToken") == tok]
        check(len(calls) == 3 and
              [r.get("error") for r in calls[:2]] ==
              ["ThrottlingException"] * 2,
              "three RunTask calls, the first two throttled")
        check(fake.get("/_fake/stats")["tasks_per_token"].get(tok) == 1,
              "one task for the job")
    finally:
        w.send_signal(signal.SIGTERM)
        w.wait(timeout=60)
    check(w.returncode == 0, "worker exits 0 on SIGTERM")


def auth_failure(fake, d):
    # fargate is also the default: nowhere else for the job to go.
    b = Berth(d, config_text(fake, default="fargate"),
              secret="not-the-secret")
    jid = b.submit("--image", "local/app:1", "--memory", "9000")
    rc, out, err = b.run("worker", "--once", timeout=120)
    j = b.job(jid)
    check(j["status"] == "pending", "with a wrong secret the job waits")
    ex = b.json("explain", str(jid), "--json")
    text = json.dumps(ex)
    check("InvalidSignatureException" in text,
          "explain says AWS refused the signature")
    execs = b.json("executors", "--json")
    text = json.dumps(execs)
    check("InvalidSignatureException" in text,
          "berth executors shows the auth error")
    rc, out, err = b.run("explain", str(jid))
    check("InvalidSignatureException" in out, "plain explain too")


def adoption(fake, d):
    b = Berth(d, config_text(fake))
    jid = b.submit("--image", "local/app:1", "--memory", "9000", "--env",
                   "FAKE_DURATION_MS=6000", "--env", "FAKE_STDOUT=survivor")
    w = b.spawn("worker", "--id", "w-first", "--lease", "2s",
                "--poll-interval", "200ms")
    b.wait_status(jid, ("running",))
    w.send_signal(signal.SIGKILL)
    w.wait()
    tok = "berth-%d-1" % jid
    check(fake.get("/_fake/stats")["tasks_per_token"].get(tok) == 1,
          "the killed worker had launched the task")
    # Another worker takes the job over once the dead one's lease lapsed.
    time.sleep(2.5)
    rc, out, err = b.run("worker", "--once", "--id", "w-second", timeout=120)
    check(rc == 0, "the restarted worker exits 0")
    check(any(r["op"] == "ListTasks" and r.get("startedBy") == tok
              for r in fake.get("/_fake/requests")),
          "it looked the task up by startedBy (ListTasks)")
    j = b.job(jid)
    check(j["status"] == "completed", "the adopted job completed")
    check(j["attempts"] == 1, "in its first attempt")
    stats = fake.get("/_fake/stats")
    check(stats["tasks_per_token"].get(tok) == 1,
          "still one task for the attempt: adopted, not relaunched")
    check("adopted=1" in err, "the worker says it adopted the job")
    rc, logs, _ = b.run("logs", str(jid))
    check(logs == "survivor\n", "and its logs were collected")

    # A worker restarted with the same --id takes its jobs back at once.
    jid = b.submit("--image", "local/app:1", "--memory", "9000", "--env",
                   "FAKE_DURATION_MS=4000")
    w = b.spawn("worker", "--id", "w-same", "--lease", "60s",
                "--poll-interval", "200ms")
    b.wait_status(jid, ("running",))
    w.send_signal(signal.SIGKILL)
    w.wait()
    rc, out, err = b.run("worker", "--once", "--id", "w-same", timeout=120)
    j = b.job(jid)
    tok = "berth-%d-1" % jid
    check(rc == 0 and j["status"] == "completed" and "adopted=1" in err,
          "restarted with the same id, the worker adopts the running task")
    check(fake.get("/_fake/stats")["tasks_per_token"].get(tok) == 1,
          "one task for that attempt too")


def burst(fake, d):
    rate, burst_n, n = 20.0, 50, 500
    b = Berth(d, config_text(fake, "    launch_rate: %g\n    launch_burst: %d"
                             % (rate, burst_n)))
    first = b.submit("--image", "local/app:1", "--memory", "9000", "--env",
                     "FAKE_DURATION_MS=50", "--count", str(n))
    ids = list(range(first, first + n))
    fake.post("/_fake/reset", {})
    w = b.spawn("worker", "--once", "--concurrency", "16")
    named = False
    try:
        for _ in range(600):
            ex = b.json("explain", str(ids[-1]), "--json")
            waiting = ex.get("waiting") or ""
            notes = " ".join((s.get("note") or "") for s in ex["steps"])
            if "launch rate limit" in waiting:
                named = "20/s (burst 50)" in notes
                print("explain: waiting: %s; %s" % (waiting, notes))
                break
            time.sleep(0.05)
        w.wait(timeout=600)
    finally:
        if w.poll() is None:
            w.kill()
    check(named, "explain on a waiting job names the launch rate limit")
    check(w.returncode == 0, "the burst worker exits 0")
    done = [j for j in b.json("jobs", "--json", "--limit", "1000")
            if j["id"] in set(ids)]
    check(len(done) == n and all(j["status"] == "completed" for j in done),
          "all %d jobs completed" % n)
    runs = requests(fake, "RunTask")
    check(len(runs) == n, "one RunTask per job (%d)" % len(runs))

    # When did the worker take each job's token? Not recorded anywhere,
    # but bounded: the reservation (pending -> launching) is written with
    # the store batch that follows the token, so the token was taken after
    # the batch before that one and no later than its own. The event times
    # come (read-only) from the store's job_events table, in microseconds.
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(d, "berth.db"),
                         uri=True)
    stamps = sorted(at / 1e6 for (at,) in
                    db.execute("SELECT DISTINCT at FROM job_events"))
    reserved = {"berth-%d-%d" % (jid, att): at / 1e6 for jid, at, att in
                db.execute("SELECT job_id, at, attempt FROM job_events "
                           "WHERE from_state = 'pending' AND "
                           "to_state = 'launching'")}
    db.close()

    def earliest(tok):
        """The batch before the one that wrote tok's reservation."""
        k = bisect.bisect_left(stamps, reserved[tok])
        return stamps[k - 1] if k > 0 else reserved[tok] - 3600

    def excess(items):
        """items: (time, earliest token time) per launch. The most launches
        any run of them (in time order) holds beyond what the bucket
        allows between its earliest possible token and its last time:
        burst + rate * (t_last - earliest). A token bucket never lets this
        exceed 0."""
        items = sorted(items)
        worst = -1e9
        for i in range(len(items)):
            lo = items[i][1]
            for j in range(i, len(items)):
                lo = min(lo, items[j][1])
                worst = max(worst, (j - i + 1) -
                            (burst_n + rate * (items[j][0] - lo)))
        return worst

    # 1. The worker's reservations keep to the bucket.
    ex_res = excess([(reserved[r["clientToken"]],
                      earliest(r["clientToken"])) for r in runs])
    check(ex_res <= 1e-3, "reservations keep to the token bucket (worst "
          "window %.2f launches under its bound)" % -ex_res)
    # 2. So do the RunTask calls the fake received: a call arrives after its
    #    token, so the same bound holds on arrival times.
    ex_run = excess([(r["t_us"] / 1e6, earliest(r["clientToken"]))
                     for r in runs])
    check(ex_run <= 1e-3, "RunTask arrivals keep to the token bucket "
          "(worst window %.2f launches under its bound)" % -ex_run)
    lat = sorted(r["t_us"] / 1e6 - reserved[r["clientToken"]] for r in runs)
    times = sorted(r["t_us"] / 1e6 for r in runs)
    span = times[-1] - times[0]
    print("burst: %d RunTask in %.2f s (%.1f/s overall; the bucket allows "
          "%d at once, then %g/s); reservation->RunTask latency p50 %.1f "
          "ms, max %.1f ms" %
          (len(times), span, (len(times) - 1) / span, burst_n, rate,
           lat[len(lat) // 2] * 1000, lat[-1] * 1000))


def main():
    root = tempfile.mkdtemp(prefix="berth-fargate-cli-")
    for name, fn in (("lifecycle", lifecycle),
                     ("cancel_and_throttle", cancel_and_throttle),
                     ("auth_failure", auth_failure), ("adoption", adoption),
                     ("burst", burst)):
        d = os.path.join(root, name)
        os.makedirs(d)
        fake = Fake(d)
        try:
            print("--- " + name)
            fn(fake, d)
        except Exception as e:  # report and go on with the next scenario
            check(False, "%s raised %r" % (name, e))
        finally:
            fake.stop()
    if FAILS:
        print("%d check(s) failed; files kept in %s" % (len(FAILS), root))
        sys.exit(1)
    subprocess.run(["rm", "-rf", root])


if __name__ == "__main__":
    main()
