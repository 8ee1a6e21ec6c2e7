#!/usr/bin/env python3
"""Differential test of the rule language against python3 (the oracle).

Generates expressions from a seeded, typed grammar and contexts to evaluate
them in, runs them all through `berth rules eval --batch` and through
Python's eval() over an emulated context (objects with attributes, a list
subclass with .filter(name=...).exists(), dicts for labels), and demands
identical results: the same repr() of the value, or an error on both sides.

Every generated expression is statically valid: a compile error from berth
is a failure, never an agreement. Separately, a list of statically invalid
expressions must be refused by berth at compile time, and the example table
tests/rules/eval.cases must hold under Python too.

Environment: BERTH_BIN (the binary), BERTH_SOURCE_DIR, BERTH_DIFF_SEED,
BERTH_DIFF_N (number of generated cases, default 6000).
"""
import json
import os
import random
import struct
import subprocess
import sys
import warnings

# `'abc' is None` is valid (if odd) Python; do not warn about it.
warnings.filterwarnings("ignore", category=SyntaxWarning)

SEED = int(os.environ.get("BERTH_DIFF_SEED", "20261127"))
N = int(os.environ.get("BERTH_DIFF_N", "6000"))

# ---- the emulated context (what the old Python system gave eval()) -------


class Obj:
    """job, template or user: plain attributes, identity equality."""

    def __init__(self, kind, **attrs):
        self.__dict__.update(attrs)
        self._kind = kind

    def __repr__(self):
        return "<%s>" % self._kind


class _Exists:
    def __init__(self, found):
        self._found = found

    def exists(self):
        return self._found


class Groups(list):
    """user.groups: a list with Django's filter(name=...).exists()."""

    def filter(self, name):
        return _Exists(name in self)


def py_context(c):
    """The Python objects for a JSON context, with berth's defaults."""
    job = c.get("job") or {}
    tmpl = c.get("template") or {}
    user = c.get("user")
    job_labels = dict(job.get("labels") or {})
    tmpl_labels = dict(tmpl.get("labels") or {})
    if "labels" in c:
        labels = dict(c["labels"])
    else:
        labels = dict(tmpl_labels)
        labels.update(job_labels)
    ctx = {
        "job": Obj("job", id=job.get("id", 0), name=job.get("name") or "",
                   priority=job.get("priority", 0), labels=job_labels,
                   preferred_executor=job.get("preferred_executor") or ""),
        "template": Obj("template", name=tmpl.get("name") or "",
                        image=tmpl.get("image") or "", labels=tmpl_labels,
                        memory_limit=tmpl.get("memory_limit", 0),
                        cpu_limit=float(tmpl.get("cpu_limit", 0.0)),
                        timeout_seconds=tmpl.get("timeout_seconds", 0)),
        "user": None if user is None else Obj(
            "user", name=user.get("name") or "",
            groups=Groups(user.get("groups") or [])),
        "memory_mb": c.get("memory_mb", 0),
        "cpu_cores": float(c.get("cpu_cores", 0.0)),
        "timeout_seconds": c.get("timeout_seconds", 0),
        "labels": labels,
        "hour": c.get("hour", 0),
        "weekday": c.get("weekday", 0),
    }
    return ctx


def py_eval(expr, c):
    """('value', repr) or ('error', exception class name)."""
    try:
        v = eval(compile(expr, "<rule>", "eval"),
                 {"__builtins__": {"len": len}}, py_context(c))
    except Exception as e:  # the oracle's errors are any exception
        return "error", type(e).__name__
    return "value", repr(v), bool(v)


# ---- random contexts -----------------------------------------------------

ASCII_WORDS = ["", "ml-train", "batch-report", "test-suite", "ML-Train",
               "batch-", "ml-", "test-", "gpu", "premium", "  padded  ",
               "a", "ab", "B", "it's", 'say "hi"', "tab\tin", "x-y-x",
               "abc", "ABC", "zeta", "team-a", "--x--", "line\nbreak"]
WIDE_WORDS = ["café", "日本語", "naïve", "emoji🚀", "Ωmega", "\u00a0nbsp\u00a0",
              "\u2003em\u2003", "zero\u200bwidth"]
LABEL_KEYS = ["team", "gpu", "tier", "env", "", "Team"]
GROUPS = ["premium", "gpu", "ml", "", "admins"]


def rand_word(rng, wide):
    if wide and rng.random() < 0.3:
        return rng.choice(WIDE_WORDS)
    return rng.choice(ASCII_WORDS)


def rand_labels(rng, wide):
    return {k: rand_word(rng, wide)
            for k in rng.sample(LABEL_KEYS, rng.randint(0, 3))}


def rand_int(rng):
    return rng.choice([0, 1, -1, 2, 7, 8192, 8193, 4096, 3600, 3601,
                       rng.randint(-50, 50), rng.randint(0, 100000),
                       rng.randint(-100000, 100000)])


def rand_float(rng):
    return rng.choice([0.0, -0.0, 0.5, 1.0, 2.25, 4.0, 4.5, 0.1, 1e-05,
                       3.0, 16.0, rng.uniform(-10, 10),
                       round(rng.uniform(0, 64), 2)])


def gen_context(rng, wide):
    c = {}
    if rng.random() < 0.9:
        c["memory_mb"] = rand_int(rng)
    if rng.random() < 0.9:
        c["cpu_cores"] = rand_float(rng)
    if rng.random() < 0.8:
        c["timeout_seconds"] = rand_int(rng)
    if rng.random() < 0.7:
        c["hour"] = rng.randint(0, 23)
    if rng.random() < 0.7:
        c["weekday"] = rng.randint(0, 6)
    if rng.random() < 0.8:
        c["job"] = {"id": rng.randint(1, 10**6), "name": rand_word(rng, wide),
                    "priority": rng.randint(0, 100),
                    "labels": rand_labels(rng, wide),
                    "preferred_executor": rng.choice(["", "docker", "mock"])}
    if rng.random() < 0.85:
        c["template"] = {"name": rand_word(rng, wide),
                         "image": rng.choice(["", "busybox:latest", "ml:1"]),
                         "labels": rand_labels(rng, wide),
                         "memory_limit": rand_int(rng),
                         "cpu_limit": rand_float(rng),
                         "timeout_seconds": rand_int(rng)}
    r = rng.random()
    if r < 0.35:
        c["user"] = None
    elif r < 0.9:
        c["user"] = {"name": rand_word(rng, wide),
                     "groups": rng.sample(GROUPS, rng.randint(0, 3))}
    if rng.random() < 0.3:
        c["labels"] = rand_labels(rng, wide)
    return c


# ---- the typed expression grammar ------------------------------------------
#
# Each production returns (text, precedence). Precedence follows Python:
# 1 or, 2 and, 3 not, 4 comparison, 5 + -, 6 * / // %, 7 unary, 9 atom or
# postfix. par() adds parentheses only where precedence needs them (and now
# and then where it does not), so the parsers' precedence is exercised too.

BOUND = 2 ** 52  # ints stay exact as floats, far from 64-bit overflow


class Gen:
    def __init__(self, rng, wide):
        self.rng = rng
        self.wide = wide  # non-ASCII text may occur: no lower()/upper()

    def chance(self, p):
        return self.rng.random() < p

    def par(self, e, need):
        text, prec = e
        if prec < need or self.chance(0.08):
            return "(" + text + ")"
        return text

    def pick(self, options):
        """options: list of (weight, thunk)."""
        total = sum(w for w, _ in options)
        r = self.rng.uniform(0, total)
        for w, f in options:
            r -= w
            if r <= 0:
                return f()
        return options[-1][1]()

    # -- literals --
    def str_lit(self):
        s = rand_word(self.rng, self.wide)
        style = self.rng.random()
        if style < 0.6:
            return repr(s)
        if style < 0.8:
            # JSON escapes astral characters as surrogate pairs, which
            # Python source reads as two lone surrogates.
            bmp = all(ord(ch) <= 0xffff for ch in s)
            return json.dumps(s, ensure_ascii=bmp and self.chance(0.5))
        # Escapes Python and berth both decode.
        out = []
        for ch in s:
            o = ord(ch)
            if ch in "'\\":
                out.append("\\" + ch)
            elif o < 0x80 and ch.isalnum() and self.chance(0.1):
                out.append("\\x%02x" % o)
            elif o > 0x7f and o <= 0xffff:
                out.append("\\u%04x" % o)
            elif o > 0xffff:
                out.append("\\U%08x" % o)
            elif ch == "\n":
                out.append("\\n")
            elif ch == "\t":
                out.append("\\t")
            else:
                out.append(ch)
        return "'" + "".join(out) + "'"

    def int_lit(self):
        v = self.rng.choice([0, 1, 2, 3, 5, 7, 10, 100, 8192, 3600, 4096,
                             self.rng.randint(-20, 20),
                             self.rng.randint(0, 10**5)])
        if v < 0:
            return ("-%d" % -v, 7), -v
        form = self.rng.random()
        if form < 0.05:
            return (hex(v), 9), v
        if form < 0.08 and v >= 1000:
            return ("{:_}".format(v), 9), v
        return (str(v), 9), v

    def float_lit(self):
        v = self.rng.choice(["0.5", "2.25", "4.0", "1e-3", "1.5e2", "0.1",
                             "3.", ".5", "1e16", "8192.0", "1_000.5",
                             "%.3f" % self.rng.uniform(0, 100)])
        return (v, 9), abs(float(v.replace("_", "")))

    # -- ints: (expr, bound) --
    def int_(self, d):
        opts = [
            (3, self.int_lit),
            (3, lambda: (self.rng.choice(
                [("memory_mb", 9), ("timeout_seconds", 9), ("hour", 9),
                 ("weekday", 9), ("job.id", 9), ("job.priority", 9),
                 ("template.memory_limit", 9),
                 ("template.timeout_seconds", 9)]), 10**6)),
            (0.5, lambda: (self.rng.choice([("True", 9), ("False", 9)]), 1)),
        ]
        if d > 0:
            opts += [
                (2, lambda: self.int_bin(d, "+")),
                (2, lambda: self.int_bin(d, "-")),
                (2, lambda: self.int_bin(d, "*")),
                (1, lambda: self.int_bin(d, "//")),
                (1, lambda: self.int_bin(d, "%")),
                (1, lambda: self.int_neg(d)),
                (2, lambda: ((("len(%s)" % self.par(self.sized(d - 1), 0)),
                              9), 10**4)),
                (0.7, lambda: self.int_index(d)),
                (0.5, lambda: self.int_mixed(d)),
            ]
        return self.pick(opts)

    def int_bin(self, d, op):
        a, ba = self.int_(d - 1)
        b, bb = self.int_(d - 1)
        if op in "+-":
            bound = ba + bb
        elif op == "*":
            bound = ba * bb
        elif op == "//":
            bound = ba
        else:
            bound = bb
        if bound > BOUND:
            return a, ba
        need = 5 if op in "+-" else 6
        return (self.par(a, need) + " " + op + " " + self.par(b, need + 1),
                need), bound

    def int_neg(self, d):
        a, ba = self.int_(d - 1)
        return (self.rng.choice("-+") + self.par(a, 7), 7), ba

    def int_index(self, d):
        n = self.rng.randint(1, 4)
        items = []
        bound = 0
        for _ in range(n):
            (e, b) = self.int_(max(0, d - 2))
            items.append(e[0])
            bound = max(bound, b)
        idx = self.rng.randint(-n - 1, n)
        return ("[%s][%d]" % (", ".join(items), idx), 9), bound

    def int_mixed(self, d):
        # A union type (int with None, a user or a dict) in arithmetic:
        # berth checks it at run time, Python raises TypeError too.
        a, ba = self.int_(d - 1)
        m = self.rng.choice(["(user and %s)", "(%s or None)",
                             "(job.labels and %s)"]) % a[0]
        b, bb = self.int_(d - 1)
        op = self.rng.choice(["+", "-", "*"])
        if op == "*" and ba * bb > BOUND or ba + bb > BOUND:
            return a, ba
        return ("%s %s %s" % (m, op, self.par(b, 7)), 5 if op != "*"
                else 6), max(ba, bb) if op != "*" else ba * bb

    # -- floats and numbers --
    def float_(self, d):
        opts = [
            (3, lambda: self.float_lit()[0]),
            (3, lambda: self.rng.choice([("cpu_cores", 9),
                                         ("template.cpu_limit", 9)])),
        ]
        if d > 0:
            opts += [
                (2, lambda: self.num_bin(d, "/")),
                (2, lambda: self.float_bin(d, self.rng.choice("+-*"))),
                (1, lambda: self.float_bin(d, "//")),
                (1, lambda: self.float_bin(d, "%")),
                (1, lambda: ("-" + self.par(self.float_(d - 1), 7), 7)),
            ]
        return self.pick(opts)

    def num(self, d):
        if self.chance(0.5):
            return self.int_(d)[0]
        return self.float_(d)

    def num_bin(self, d, op):
        a = self.num(d - 1)
        b = self.num(d - 1)
        return (self.par(a, 6) + " " + op + " " + self.par(b, 7), 6)

    def float_bin(self, d, op):
        a = self.float_(d - 1)
        b = self.num(d - 1)
        if self.chance(0.5):
            a, b = b, a
        need = 5 if op in "+-" else 6
        return (self.par(a, need) + " " + op + " " + self.par(b, need + 1),
                need)

    # -- strings --
    def str_(self, d):
        opts = [
            (3, lambda: (self.str_lit(), 9)),
            (3, lambda: self.rng.choice(
                [("job.name", 9), ("template.name", 9), ("template.image", 9),
                 ("job.preferred_executor", 9), ("user.name", 9)])),
            (2, lambda: ('labels[%s]' % self.key(), 9)),
            (1, lambda: ('job.labels[%s]' % self.key(), 9)),
            (1, lambda: ('labels.get(%s, %s)' % (self.key(), self.str_lit()),
                         9)),
        ]
        if d > 0:
            opts += [
                (1.5, lambda: self.str_method(d)),
                (1.5, lambda: (self.par(self.str_(d - 1), 5) + " + " +
                               self.par(self.str_(d - 1), 6), 5)),
                (1, lambda: self.str_index(d)),
                (1, lambda: self.str_slice(d)),
                (0.5, lambda: ("(%s or %s)" % (self.str_(d - 1)[0],
                                               self.str_(d - 1)[0]), 9)),
                (0.5, lambda: ("user.groups[%d]" % self.rng.randint(-2, 2),
                               9)),
                (0.3, lambda: ("(labels.get(%s) or %s)" %
                               (self.key(), self.str_(d - 1)[0]), 9)),
            ]
        return self.pick(opts)

    def key(self):
        k = self.rng.choice(LABEL_KEYS + ["nope"])
        return repr(k)

    def str_method(self, d):
        recv = self.par(self.str_(d - 1), 9)
        ms = ["strip()", "lstrip()", "rstrip()", "strip(%s)" % self.rng.choice(
            ["'-x'", "' a'", "''", "None"])]
        if not self.wide:
            ms += ["lower()", "upper()"] * 2
        return (recv + "." + self.rng.choice(ms), 9)

    def str_index(self, d):
        recv = self.par(self.str_(d - 1), 9)
        return (recv + "[%d]" % self.rng.randint(-4, 4), 9)

    def str_slice(self, d):
        recv = self.par(self.str_(d - 1), 9)
        lo = self.rng.choice(["", str(self.rng.randint(-5, 5)), "None"])
        hi = self.rng.choice(["", str(self.rng.randint(-5, 5)), "None"])
        return (recv + "[%s:%s]" % (lo, hi), 9)

    def sized(self, d):
        return self.pick([(3, lambda: self.str_(d)),
                          (1, lambda: self.list_(d)),
                          (1, lambda: self.map_())])

    # -- lists and maps --
    def scalar(self, d):
        return self.pick([
            (2, lambda: self.int_(d)[0]),
            (1, lambda: self.float_(d)),
            (2, lambda: self.str_(d)),
            (0.5, lambda: (self.rng.choice(["None", "True", "False"]), 9)),
        ])

    def list_(self, d):
        opts = [
            (3, lambda: ("[" + ", ".join(
                self.scalar(max(0, d - 2))[0]
                for _ in range(self.rng.randint(0, 4))) + "]", 9)),
            (2, lambda: ("user.groups", 9)),
        ]
        if d > 0:
            opts.append((1, lambda: (self.par(self.list_(d - 1), 9) +
                                     "[%s:%s]" % (self.rng.randint(-3, 3),
                                                  self.rng.choice(
                                                      ["", "2", "-1"])), 9)))
        return self.pick(opts)

    def map_(self):
        return self.rng.choice([("labels", 9), ("job.labels", 9),
                                ("template.labels", 9)])

    # -- booleans --
    def bool_(self, d):
        opts = [(1, lambda: (self.rng.choice(["True", "False"]), 9))]
        if d > 0:
            opts += [
                (4, lambda: self.cmp_num(d)),
                (2, lambda: self.cmp_str(d)),
                (2, lambda: self.cmp_eq(d)),
                (1, lambda: self.chain(d)),
                (2, lambda: self.membership(d)),
                (1, lambda: ("not " + self.par(self.bool_(d - 1), 3), 3)),
                (2, lambda: self.boolop(d, self.bool_)),
                (1.5, lambda: self.starts(d)),
                (1, lambda: self.groups_exists(d)),
                (1, lambda: self.is_none(d)),
                (0.5, lambda: self.cmp_list(d)),
                (0.5, lambda: self.cmp_mixed(d)),
            ]
        return self.pick(opts)

    def cmp_num(self, d):
        op = self.rng.choice(["<", "<=", ">", ">=", "==", "!="])
        return (self.par(self.num(d - 1), 5) + " " + op + " " +
                self.par(self.num(d - 1), 5), 4)

    def cmp_str(self, d):
        op = self.rng.choice(["<", "<=", ">", ">=", "==", "!="])
        return (self.par(self.str_(d - 1), 5) + " " + op + " " +
                self.par(self.str_(d - 1), 5), 4)

    def cmp_eq(self, d):
        op = self.rng.choice(["==", "!="])
        return (self.par(self.any_(d - 1), 5) + " " + op + " " +
                self.par(self.any_(d - 1), 5), 4)

    def cmp_list(self, d):
        op = self.rng.choice(["<", "<=", ">", ">=", "==", "!="])
        return (self.par(self.list_(d - 1), 5) + " " + op + " " +
                self.par(self.list_(d - 1), 5), 4)

    def cmp_mixed(self, d):
        # Ordering with a union type: fails at run time for some values.
        a = self.rng.choice(["labels.get(%s)" % self.key(),
                             "(user and user.name)",
                             "labels.get(%s, 5)" % self.key()])
        if a.startswith("labels.get") and a.endswith("5)"):
            b = self.rng.choice([self.str_(d - 1), self.int_(d - 1)[0]])
        else:
            b = self.str_(d - 1)
        op = self.rng.choice(["<", ">", "<=", ">="])
        return (a + " " + op + " " + self.par(b, 5), 4)

    def chain(self, d):
        parts = [self.par(self.num(d - 1), 5)]
        for _ in range(self.rng.randint(2, 3)):
            parts.append(self.rng.choice(["<", "<=", ">", ">=", "==", "!="]))
            parts.append(self.par(self.num(d - 1), 5))
        return (" ".join(parts), 4)

    def membership(self, d):
        op = self.rng.choice(["in", "not in"])
        kind = self.rng.random()
        if kind < 0.35:
            left, right = self.str_(d - 1), self.str_(d - 1)
        elif kind < 0.7:
            left, right = self.any_(d - 1), self.list_(d - 1)
        else:
            left = self.pick([(3, lambda: self.str_(d - 1)),
                              (1, lambda: self.int_(d - 1)[0]),
                              (0.3, lambda: ("None", 9))])
            right = self.map_()
        return (self.par(left, 5) + " " + op + " " + self.par(right, 5), 4)

    def boolop(self, d, sub):
        op = self.rng.choice(["and", "or"])
        need = 2 if op == "and" else 1
        n = self.rng.randint(2, 3)
        items = [self.par(sub(d - 1), need + 1) for _ in range(n)]
        return ((" %s " % op).join(items), need)

    def starts(self, d):
        m = self.rng.choice(["startswith", "endswith"])
        return (self.par(self.str_(d - 1), 9) + ".%s(%s)" %
                (m, self.str_(d - 1)[0]), 9)

    def groups_exists(self, d):
        name = self.rng.choice(["'premium'", "'gpu'", "''", "'nobody'",
                                self.str_(d - 1)[0]])
        e = "user.groups.filter(name=%s).exists()" % name
        if self.chance(0.6):
            return ("user and " + e, 2)
        return (e, 9)

    def is_none(self, d):
        x = self.pick([(2, lambda: ("user", 9)),
                       (2, lambda: ("labels.get(%s)" % self.key(), 9)),
                       (1, lambda: self.any_(d - 1)),
                       (0.5, lambda: self.bool_(d - 1))])
        op = self.rng.choice(["is None", "is not None", "is True",
                              "is False"])
        return (self.par(x, 5) + " " + op, 4)

    # -- anything --
    def any_(self, d):
        opts = [
            (3, lambda: self.int_(d)[0]),
            (2, lambda: self.float_(d)),
            (3, lambda: self.str_(d)),
            (3, lambda: self.bool_(d)),
            (1, lambda: self.list_(d)),
            (0.5, lambda: self.map_()),
            (0.5, lambda: self.rng.choice([("None", 9), ("user", 9),
                                           ("job", 9), ("template", 9)])),
            (0.5, lambda: ("labels.get(%s)" % self.key(), 9)),
        ]
        if d > 0:
            opts.append((2, lambda: self.boolop(d, self.any_)))
        return self.pick(opts)

    def top(self):
        d = self.rng.randint(1, 4)
        return self.pick([(5, lambda: self.bool_(d)),
                          (4, lambda: self.any_(d))])[0]


# ---- rules that must load and agree --------------------------------------

FIXED = [
    # DESIGN.md and issue 3.
    "memory_mb > 8192",
    "cpu_cores > 4.0",
    "timeout_seconds > 3600",
    'template.name.startswith("ml-")',
    'template.name.startswith("batch-")',
    'user and user.groups.filter(name="premium").exists()',
    'template.name.startswith("test-")',
    "1 < memory_mb < 5",
    'labels["team"]',
    '"gpu" in labels',
    'user.groups.filter(name="premium").exists()',
    "user is None",
    "user is not None",
    "hour >= 9 and hour < 17 and weekday < 5",
    'labels.get("team") == "ml"',
    "len(labels) > 0",
    "memory_mb // 1024 >= 8",
    "-memory_mb % 7",
    "cpu_cores * 2 >= 3",
]

# Statically invalid: berth must refuse these at compile time. The flag
# says whether Python's eval() fails on them as well (True), or whether
# they are valid Python that berth does not support (False).
INVALID = [
    ("memroy_mb > 8192", True),
    ("job.memroy > 4096", True),
    ('template.name > 5', True),
    ('memory_mb.startswith("x")', True),
    ('template.name.startwith("ml-")', True),
    ("None > 5", True),
    ('"a" - "b"', True),
    ("-template.name", True),
    ("len(memory_mb)", True),
    ('5 in "abc"', True),
    ("1 in memory_mb", True),
    ("labels[0:1]", True),
    ('template.name["x"]', True),
    ("memory_mb()", True),
    ("user.groups.filter(nam='x').exists()", True),
    ("foo(1)", True),
    ("abs(memory_mb)", True),
    ("memory_mb >", True),
    ("(memory_mb > 5", True),
    ("memory_mb = 5", True),
    ("memory_mb > 5 && cpu_cores > 1", True),
    ("true", True),
    ("[labels]", False),
    ("[1] + [2]", False),
    ('"ab" * 2', False),
    ('"%d" % 5', False),
    ("memory_mb ** 2", False),
    ("1 if memory_mb else 2", False),
    ("(1, 2)", False),
    ("{'a': 1}", False),
    ("memory_mb is 5", False),
    ("[x for x in labels]", False),
    ("lambda: 1", False),
    ("user.groups.filter(name='x')", False),
    ('f"{memory_mb}"', False),
    ("memory_mb & 1", False),
]


# ---- running berth ---------------------------------------------------------

def run_batch(bin_path, cases):
    lines = "".join(json.dumps({"expr": e, "context": c}) + "\n"
                    for e, c in cases)
    p = subprocess.run([bin_path, "rules", "eval", "--batch"], input=lines,
                       capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        sys.exit("berth --batch failed (%d): %s" % (p.returncode, p.stderr))
    out = [json.loads(x) for x in p.stdout.splitlines()]
    if len(out) != len(cases):
        sys.exit("berth answered %d lines for %d cases" %
                 (len(out), len(cases)))
    return out


def agree(res, py):
    if "value" in res:
        return py[0] == "value" and res["value"] == py[1] and \
            res["match"] == py[2]
    return res.get("kind") == "runtime" and py[0] == "error"


def read_eval_cases(path):
    """tests/rules/eval.cases: blocks of expr, context, expected."""
    cases = []
    with open(path, encoding="utf-8") as f:
        block, flags = [], set()
        for raw in f.read().split("\n"):
            if raw.startswith("#!"):
                flags.add(raw[2:].strip())
                continue
            if raw.startswith("#"):
                continue
            if raw.strip() == "":
                if block:
                    cases.append((block, flags))
                block, flags = [], set()
                continue
            block.append(raw)
        if block:
            cases.append((block, flags))
    return cases


def main():
    bin_path = os.environ.get("BERTH_BIN")
    src = os.environ.get("BERTH_SOURCE_DIR",
                         os.path.join(os.path.dirname(__file__), "..", ".."))
    if not bin_path or not os.access(bin_path, os.X_OK):
        print("BERTH_BIN not set or not executable: skipping")
        return 77
    rng = random.Random(SEED)
    failures = []

    # 1. Generated expressions over generated contexts.
    cases = []
    for _ in range(N):
        wide = rng.random() < 0.3
        g = Gen(rng, wide)
        cases.append((g.top(), gen_context(rng, wide)))
    # 2. The fixed rules over generated contexts.
    for e in FIXED:
        for _ in range(40):
            wide = rng.random() < 0.3
            cases.append((e, gen_context(rng, wide)))
    # 3. Float literals read and printed back: random bit patterns, powers
    # of two (where the shortest repr is hardest) and subnormals.
    floats = [5e-324, 2.2250738585072014e-308, 1.7976931348623157e+308,
              1e16, 1e15, 9999999999999998.0, 0.0001, 0.00001, 123456789.0]
    floats += [2.0 ** k for k in range(-1074, 1024, 7)]
    while len(floats) < 1500:
        x = struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0]
        if x == x and abs(x) != float("inf"):
            floats.append(x)
    for x in floats:
        cases.append((repr(x), {}))
    results = run_batch(bin_path, cases)
    stats = {"value": 0, "error": 0, "compile": 0}
    for (e, c), res in zip(cases, results):
        if res.get("kind") == "compile":
            stats["compile"] += 1
            failures.append("refused a valid expression: %s\n    %s" %
                            (e, res.get("diag", res["error"]).strip()))
            continue
        py = py_eval(e, c)
        stats["value" if "value" in res else "error"] += 1
        if not agree(res, py):
            failures.append("disagree: %s\n    context: %s\n    berth: %s\n"
                            "    python: %s" % (e, json.dumps(c), res, py))

    # 4. Statically invalid expressions are refused at compile time.
    inv = run_batch(bin_path, [(e, {}) for e, _ in INVALID])
    for (e, py_fails), res in zip(INVALID, inv):
        if res.get("kind") != "compile":
            failures.append("not refused at compile time: %s -> %s" %
                            (e, res))
        if py_fails:
            try:
                py = py_eval(e, {})
            except SyntaxError:
                py = ("error", "SyntaxError")
            if py[0] != "error":
                failures.append("python accepts an expression listed as "
                                "invalid: %s -> %s" % (e, py))

    # 5. The example table holds under Python.
    table = os.path.join(src, "tests", "rules", "eval.cases")
    n_table = 0
    for block, flags in read_eval_cases(table):
        if len(block) != 3:
            failures.append("eval.cases: malformed block %r" % block)
            continue
        e, ctext, want = block
        n_table += 1
        if "berth-only" in flags:
            continue
        try:
            py = py_eval(e, json.loads(ctext))
        except SyntaxError:
            py = ("error", "SyntaxError")
        if want.startswith("error: "):
            cls = want[len("error: "):].split(":")[0]
            if py[0] != "error" or py[1] != cls:
                failures.append("eval.cases: %s expects %s, python gives %s"
                                % (e, want, py))
        elif py[0] != "value" or py[1] != want:
            failures.append("eval.cases: %s expects %s, python gives %s" %
                            (e, want, py))

    # 6. The command itself: output, stderr and exit status.
    def cli(*args):
        p = subprocess.run([bin_path, "rules", "eval"] + list(args),
                           capture_output=True, text=True, timeout=60)
        return p.returncode, p.stdout, p.stderr
    checks = [
        (("memory_mb > 8192", "--context", '{"memory_mb": 16384}'),
         0, "True\n", ""),
        (("[1, 2.5, 'a', None]",), 0, "[1, 2.5, 'a', None]\n", ""),
        (("-1",), 0, "-1\n", ""),
        (("labels['team']",), 1, "", "berth: KeyError: 'team'\n"),
        (("template.name > 5",), 1, "",
         "<expr>:1:15: error: '>' not supported between instances of 'str' "
         "and 'int'\n    template.name > 5\n                  ^\n"),
        (("1", "--context", "{"), 1, "", None),
        (("1", "--context", '{"memroy_mb": 1}'), 1, "",
         "berth: context: unknown key 'memroy_mb'\n"),
        ((), 2, "", None),
        (("1", "2"), 2, "", None),
    ]
    for args, rc, out, err in checks:
        got = cli(*args)
        if got[0] != rc or got[1] != out or (err is not None and
                                             got[2] != err):
            failures.append("berth rules eval %s: want (%d, %r, %r), got %r"
                            % (args, rc, out, err, got))

    print("generated %d expressions (seed %d) + %d fixed-rule cases + %d "
          "float literals: %d values, %d runtime errors, %d refused; %d "
          "invalid expressions; %d table cases" %
          (N, SEED, len(cases) - N - len(floats), len(floats),
           stats["value"], stats["error"],
           stats["compile"], len(INVALID), n_table))
    if failures:
        for f in failures[:40]:
            print("FAIL " + f)
        print("%d failure(s)" % len(failures))
        return 1
    print("all agree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
