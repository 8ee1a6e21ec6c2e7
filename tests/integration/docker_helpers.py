"""docker_helpers.py - shared by the through-the-binary Docker tests
(test_docker_*.py): finding a real engine (or skipping loudly), talking to
its API directly to check what berth did, and driving the berth binary
against a throw-away store."""

import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

IMAGE = "local/busybox:latest"
FAILS = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        FAILS.append(what)


def finish():
    if FAILS:
        print("%d check(s) failed:" % len(FAILS))
        for f in FAILS:
            print("  " + f)
        sys.exit(1)
    print("all checks passed")
    sys.exit(0)


def skip(why):
    bar = "*" * 60
    sys.stderr.write("\n%s\n* SKIPPED: no Docker engine (%s)\n"
                     "* run scripts/start-dockerd (as root) to start one\n"
                     "%s\n\n" % (bar, why, bar))
    print("SKIPPED: no Docker engine")
    sys.exit(77)


class _UnixConn(http.client.HTTPConnection):
    def __init__(self, path, timeout=120):
        super().__init__("docker", timeout=timeout)
        self.path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.path)
        self.sock = s


class Engine:
    """The Engine API of one engine, for checks behind berth's back."""

    def __init__(self, url):
        if not url.startswith("unix://"):
            raise ValueError("unix:// URLs only")
        self.url = url
        self.sock = url[len("unix://"):]

    def call(self, method, path, body=None, timeout=120):
        c = _UnixConn(self.sock, timeout)
        headers = {}
        data = None
        if body is not None:
            data = json.dumps(body)
            headers["Content-Type"] = "application/json"
        try:
            c.request(method, "/v1.41" + path, body=data, headers=headers)
            r = c.getresponse()
            raw = r.read()
        finally:
            c.close()
        try:
            return r.status, json.loads(raw) if raw else None
        except ValueError:
            return r.status, raw

    def ping(self):
        try:
            c = _UnixConn(self.sock, 3)
            c.request("GET", "/_ping")
            ok = c.getresponse().read() == b"OK"
            c.close()
            return ok
        except OSError:
            return False

    def inspect(self, cid):
        st, body = self.call("GET", "/containers/%s/json" % cid)
        return body if st == 200 else None

    def gone(self, cid, timeout=60):
        """True once the container no longer exists (berth removes it just
        after the job's final state is stored, so give it a moment)."""
        end = time.time() + timeout
        while time.time() < end:
            if self.inspect(cid) is None:
                return True
            time.sleep(0.2)
        return False

    def containers(self, label):
        f = urllib.parse.quote(json.dumps({"label": [label]}))
        st, body = self.call("GET", "/containers/json?all=1&filters=" + f)
        return body if st == 200 else []

    def remove_labelled(self, label):
        for c in self.containers(label):
            self.call("DELETE", "/containers/%s?force=1" % c["Id"])


def engine(var="BERTH_TEST_DOCKER"):
    url = os.environ.get(var)
    if not url:
        if var != "BERTH_TEST_DOCKER":
            skip("%s is not set" % var)
        url = "unix:///var/run/docker.sock"
    if not url.startswith("unix://"):
        skip("%s: the tests want a unix:// engine URL" % url)
    e = Engine(url)
    if not e.ping():
        skip("%s does not answer GET /_ping" % url)
    st, _ = e.call("GET", "/images/%s/json" % IMAGE)
    if st != 200:
        skip("%s lacks the test image %s" % (url, IMAGE))
    return e


def start_second():
    """Start (or find) the second engine through scripts/start-dockerd.
    Returns its URL, or None when it cannot run."""
    src = os.environ.get("BERTH_SOURCE_DIR")
    if not src:
        return None
    p = subprocess.run([os.path.join(src, "scripts", "start-dockerd"),
                        "--second"], capture_output=True, text=True,
                       timeout=300)
    for line in p.stdout.splitlines():
        if line.startswith("export BERTH_TEST_DOCKER2="):
            return line.split("=", 1)[1]
    sys.stderr.write(p.stderr)
    return None


def stop_second():
    src = os.environ["BERTH_SOURCE_DIR"]
    subprocess.run([os.path.join(src, "scripts", "start-dockerd"),
                    "--stop-second"], timeout=120, check=False)


class Berth:
    """The berth binary on a fresh store and config in a temp dir."""

    def __init__(self, config_text, tag="docker"):
        self.bin = os.environ.get("BERTH_BIN")
        if not self.bin:
            print("BERTH_BIN is not set (run through ctest)")
            sys.exit(1)
        self.d = tempfile.mkdtemp(prefix="berth-%s-" % tag)
        self.config = os.path.join(self.d, "berth.yaml")
        with open(self.config, "w") as f:
            f.write(config_text)

    def run(self, *args, timeout=300):
        p = subprocess.run([self.bin, "--config", self.config] + list(args),
                           cwd=self.d, capture_output=True, text=True,
                           timeout=timeout)
        return p.returncode, p.stdout, p.stderr

    def ok(self, *args, timeout=300):
        rc, out, err = self.run(*args, timeout=timeout)
        if rc != 0:
            raise AssertionError("berth %s: exit %d: %s" % (args, rc, err))
        return out

    def submit(self, *args):
        return int(self.ok("submit", *args).strip())

    def job(self, jid):
        return json.loads(self.ok("job", str(jid), "--json"))

    def worker(self, *args, timeout=600):
        return self.run("worker", "--once", *args, timeout=timeout)

    def start_worker(self, *args):
        log = open(os.path.join(self.d, "worker.log"), "a")
        return subprocess.Popen([self.bin, "--config", self.config, "worker",
                                 "--poll-interval", "100ms"] + list(args),
                                cwd=self.d, stderr=log)

    def worker_log(self):
        try:
            with open(os.path.join(self.d, "worker.log")) as f:
                return f.read()
        except OSError:
            return ""

    def wait_status(self, jid, statuses, timeout=120):
        end = time.time() + timeout
        while time.time() < end:
            j = self.job(jid)
            if j["status"] in statuses:
                return j
            time.sleep(0.1)
        return self.job(jid)
