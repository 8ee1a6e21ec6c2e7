#!/usr/bin/env python3
"""test_routing.py - the routing table of the system berth replaces, through
the real binary and a real config: rules by priority, the premium-user
Django form, templates, the default fallback, preferred executors (available,
disabled, unhealthy), a full executor falling through to the next rule,
runtime rule errors, `explain --json` and `executors --json`."""

import json
import os
import subprocess
import sys
import tempfile

BIN = os.environ.get("BERTH_BIN")
if not BIN:
    print("BERTH_BIN is not set (run through ctest)")
    sys.exit(1)

FAILS = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        FAILS.append(what)


CONFIG = """
store: sqlite:berth.db
default_executor: docker
health_failure_ttl: 1
executors:
  docker:   {type: mock, max_concurrent_jobs: 10, duration_ms: 0}
  cloudrun: {type: mock, max_concurrent_jobs: 10, duration_ms: 0}
  fargate:  {type: mock, max_concurrent_jobs: 10, duration_ms: 0}
  bigmem:   {type: mock, max_concurrent_jobs: 1, duration_ms: 0}
  sick:     {type: mock, health_failure_rate: 1.0}
  off:      {type: mock, enabled: false}
templates:
  - {name: batch-report, image: "local/busybox:latest", memory_mb: 256}
  - {name: ml-train, image: "local/busybox:latest", memory_mb: 4096}
users:
  alice: {groups: [premium]}
  bob: {groups: [analysts]}
routing_rules:
  - {condition: "memory_mb > 8192", executor: bigmem,
     reason: "Very large job", priority: 0}
  - {condition: "memory_mb > 8192", executor: fargate,
     reason: "High memory requirement (>8GB)", priority: 1}
  - {condition: 'user and user.groups.filter(name="premium").exists()',
     executor: cloudrun, reason: "Premium user priority", priority: 2}
  - {condition: 'template.name.startswith("batch-")', executor: cloudrun,
     reason: "Batch processing template", priority: 5}
  - {condition: 'labels["team"] == "ml"', executor: fargate, priority: 6}
"""


class Berth:
    def __init__(self, config_text):
        self.d = tempfile.mkdtemp(prefix="berth-routing-")
        self.config = os.path.join(self.d, "berth.yaml")
        with open(self.config, "w") as f:
            f.write(config_text)

    def run(self, *args):
        p = subprocess.run([BIN, "--config", self.config] + list(args),
                           cwd=self.d, capture_output=True, text=True,
                           timeout=60)
        return p.returncode, p.stdout, p.stderr

    def ok(self, *args):
        rc, out, err = self.run(*args)
        if rc != 0:
            raise AssertionError("berth %s: exit %d: %s" % (args, rc, err))
        return out

    def explain(self, *args):
        return json.loads(self.ok("explain", "--image", "img", "--json",
                                  *args))

    def submit(self, *args):
        return int(self.ok("submit", "--image", "img", *args).strip())

    def job(self, jid):
        return json.loads(self.ok("job", str(jid), "--json"))


def main():
    b = Berth(CONFIG)

    # The old system's table, as explain sees it (nothing reserved).
    cases = [
        (["--memory", "16384"], "bigmem", "Very large job"),
        (["--user", "alice"], "cloudrun", "Premium user priority"),
        (["batch-report"], "cloudrun", "Batch processing template"),
        ([], "docker", "Default fallback to docker"),
        (["--user", "bob"], "docker", "Default fallback to docker"),
        (["--label", "team=ml"], "fargate",
         'Matched rule: labels["team"] == "ml"'),
    ]
    for args, want_ex, want_reason in cases:
        e = b.explain(*args)
        check(e["executor"] == want_ex and e["reason"] == want_reason,
              "explain %s -> %s (%s); got %s (%s)" %
              (args, want_ex, want_reason, e["executor"], e["reason"]))

    # The same jobs through a worker: routing_reason is stored on the job.
    ids = {}
    for args, want_ex, want_reason in cases:
        ids[tuple(args)] = b.submit(*args)
    rc, _, log = b.run("worker", "--once")
    check(rc == 0, "worker --once exits 0")
    for args, want_ex, want_reason in cases:
        j = b.job(ids[tuple(args)])
        check(j["status"] == "completed" and j["executor"] == want_ex and
              j["routing_reason"] == want_reason,
              "job %s -> %s: %s" % (args, want_ex, j["routing_reason"]))
    lines = [l for l in log.splitlines() if 'msg="job routed"' in l]
    check(len(lines) == len(cases) and all(" rule=" in l and " us=" in l
                                           for l in lines),
          "one structured log line per decision, with rule and us")

    # Preferred executor: available -> wins over every rule.
    e = b.explain("--memory", "16384", "--executor", "docker")
    check(e["executor"] == "docker" and
          e["reason"] == "Preferred executor: docker",
          "an available preferred executor wins over every rule")
    check(e["steps"][0]["kind"] == "preferred" and e["steps"][0]["available"],
          "explain shows the preferred step first")
    # Disabled -> skipped with a warning, the rules decide.
    rc, out, err = b.run("explain", "--image", "img", "--memory", "16384",
                         "--executor", "off", "--json")
    e = json.loads(out)
    check(e["executor"] == "bigmem" and not e["steps"][0]["available"] and
          "disabled" in e["steps"][0]["why"],
          "a disabled preferred executor is skipped")
    jid = b.submit("--executor", "sick")
    rc, _, log = b.run("worker", "--once")
    j = b.job(jid)
    check(j["executor"] == "docker" and
          j["routing_reason"] == "Default fallback to docker",
          "an unhealthy preferred executor is skipped")
    check('msg="preferred executor unavailable" job=%d executor=sick' % jid
          in log and "unhealthy" in log,
          "... with a warning in the log")

    # A rule whose executor is full falls through to the next rule: bigmem
    # holds one job; a long-running one keeps it full.
    long_cfg = CONFIG.replace(
        "bigmem:   {type: mock, max_concurrent_jobs: 1, duration_ms: 0}",
        "bigmem:   {type: mock, max_concurrent_jobs: 1, duration_ms: 3000}")
    b2 = Berth(long_cfg)
    first = b2.submit("--memory", "16384")
    second = b2.submit("--memory", "16384")
    b2.ok("worker", "--once")
    j1, j2 = b2.job(first), b2.job(second)
    check(j1["executor"] == "bigmem" and j1["routing_reason"] ==
          "Very large job", "the first big job takes bigmem's only slot")
    check(j2["executor"] == "fargate" and j2["routing_reason"] ==
          "High memory requirement (>8GB)",
          "the second falls through to the next rule (fargate)")
    ev = [x for x in j2["events"] if x["to"] == "launching"]
    check(len(ev) == 1 and ev[0]["host"] == "fargate",
          "its launching event names fargate")

    # Runtime errors make a rule not match; they are logged, never fatal.
    b3 = Berth(CONFIG.replace("priority: 6}", "priority: 6}\n  - {condition: "
                              "'labels[\"gpu\"] == \"yes\"', executor: "
                              "fargate, priority: 0}"))
    jid = b3.submit()
    rc, _, log = b3.run("worker", "--once")
    j = b3.job(jid)
    check(rc == 0 and j["status"] == "completed" and
          j["routing_reason"] == "Default fallback to docker",
          "a rule with a runtime error does not match")
    check('msg="rule error"' in log and "KeyError" in log and
          "job=%d" % jid in log, "the runtime error is logged with the job")
    e = json.loads(b3.ok("explain", "--image", "img", "--json"))
    errs = {s["condition"]: s["error"] for s in e["steps"] if s["error"]}
    check(errs.get('labels["gpu"] == "yes"') == "KeyError: 'gpu'" and
          errs.get('labels["team"] == "ml"') == "KeyError: 'team'",
          "explain shows each rule's runtime error: %s" % errs)

    # config check reports every broken rule in one run.
    bad = Berth(CONFIG + """  - {condition: "memroy_mb > 1", executor: docker}
  - {condition: "template.name.startswith(", executor: docker}
  - {condition: "cpu_cores > 'x'", executor: docker}
""")
    rc, out, err = bad.run("config", "check")
    check(rc == 1 and err.count("error:") >= 3 and "memroy_mb" in err and
          "did you mean 'memory_mb'" in err,
          "config check reports every broken rule")
    rc, _, err = bad.run("jobs")
    check(rc == 1, "a config with broken rules is refused by every command")

    # executors --json: per executor and host, health and capacity.
    ex = {x["name"]: x for x in json.loads(b.ok("executors", "--json"))}
    check(ex["sick"]["hosts"][0]["healthy"] is False and
          ex["docker"]["hosts"][0]["healthy"] is True,
          "executors --json reports health")
    check(ex["bigmem"]["capacity"] == 1 and ex["off"]["enabled"] is False,
          "executors --json reports capacity and the enabled switch")

    if FAILS:
        print("%d check(s) failed" % len(FAILS))
        sys.exit(1)
    print("all checks passed")


main()
