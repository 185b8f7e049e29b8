#!/usr/bin/env python3
"""explore: the crash states a power loss may leave of hookd's data directory,
built from a recording (tests/crash/recorder.c), each recovered by hookd and
checked against what hookd had answered before the crash.

A recording is a directory: rec.log (the recorder's JSON lines, see
recorder.c for the format) and meta.json (written by workloads.py: the
workload's name, hookd's config, the admin token, and "final", the name,
size and SHA-256 of every file the real directory held after hookd
stopped).

The model (ALICE, Pillai et al., OSDI 2014, restricted to what ext4 and XFS
are known to do):
  - files are tracked by identity (a renamed file keeps its pending writes);
  - everything written to a file before its last completed fsync (before
    the crash point) persists; of its writes after it any prefix, any subset
    of whole writes (reordering; what is skipped reads as zeros where a
    later write extended the file), or a prefix and a torn next write cut at
    a 512-byte boundary of the file;
  - a create, rename, unlink or mkdir persists if its directory was fsync'd
    after it; the others may or may not: the pending ones persist as a
    prefix in their order (metadata journaling keeps the order of directory
    operations), every prefix being one state;
  - the crash point is every position in the operation list: before each
    operation that changes what the disk may hold, and the end.
Kinds of state: "all" (every pending operation persisted, as after kill -9),
"durable" (none), "prefix", "subset", "torn" (of one file, the others all),
"dir" (a prefix of the pending directory operations).

Checks on each state (a copy on /dev/shm when it exists): `hookd check`
must accept it (a torn last record is allowed: a start drops it); `hookd
export --client ID` (the same store_open and replay as a start) must open it
for every client; then `hookd check` must find nothing at all. A raw oracle
reads the files itself (CRC and JSON of every line) and checks: every event
answered 202 before the crash point is there with its deliveries; every
client and endpoint answered 2xx is there with the secret and token of the
last rotation answered (or a later one); deletions answered stay deleted;
every Idempotency-Key answered is kept; no event, attempt or key appears
twice. Every --daemon-every-th recovered state is also started as a daemon
and asked over HTTP. A failure prints the recording, the crash point, the
kind and the reason, and keeps the state for --replay.

Usage:
  explore.py RECDIR... [--max-states N] [--seed S] [--hookd PATH]
  explore.py --replay STATEDIR        (re-run the checks on a kept state)
"""

import argparse
import hashlib
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zlib
import calendar

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SECTOR = 512
O_CREAT, O_TRUNC, O_ACCMODE = 0o100, 0o1000, 3
FALLOC_FL_KEEP_SIZE = 1
# Subsets of more pending writes than this are sampled, not enumerated.
SUBSET_ALL_MAX = 4
# Torn cuts tried per write: the first, middle and last 512-byte boundary.
TORN_CUTS = 3
TORN_OK = re.compile(r"^[a-z.]+:\d+: torn record \(an incomplete last line\)$")


# Past this many pending writes of one file, prefixes and torn writes are
# tried at this many positions spread over them (the first, the last, the
# rest chosen by the seed): a prefix of a file that is being appended to
# is also that file's "all" state at an earlier crash point.
PENDING_MAX = 8


def spread(seq, n, rng):
    """At most n items of seq: its first and last, the rest at random."""
    seq = list(seq)
    if len(seq) <= n:
        return seq
    mid = sorted(rng.sample(seq[1:-1], n - 2))
    return [seq[0]] + mid + [seq[-1]]


class RecordingError(Exception):
    """The recording cannot be modeled (a missed or unknown call)."""


# ------------------------------------------------------------------ model


class Op:
    __slots__ = ("i", "kind", "fid", "args")

    def __init__(self, i, kind, fid=None, args=None):
        self.i, self.kind, self.fid, self.args = i, kind, fid, args


def parse_http(buf, is_request):
    """Split a byte stream into messages: list of (start offset, first
    line, headers dict, body). Stops at an incomplete message."""
    out, pos = [], 0
    while True:
        end = buf.find(b"\r\n\r\n", pos)
        if end < 0:
            break
        head = buf[pos:end].decode("latin-1").split("\r\n")
        hdrs = {}
        for line in head[1:]:
            k, _, v = line.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        n = int(hdrs.get("content-length", "0") or 0)
        if not is_request and head[0].split(" ")[1:2] in (["204"], ["304"]):
            n = 0
        if end + 4 + n > len(buf):
            break
        out.append((pos, head[0], hdrs, buf[end + 4:end + 4 + n]))
        pos = end + 4 + n
    return out


class Recording:
    """A recording read into: ops (the modeled operations, in order),
    answers (what hookd acknowledged, each at the op index it left at), and
    the final directory the model must rebuild."""

    def __init__(self, path):
        self.path = path
        self.name = os.path.basename(os.path.normpath(path))
        # What a user can get wrong (a wrong path, a workload killed
        # before it wrote meta.json) is said in one line, not a traceback.
        try:
            with open(os.path.join(path, "meta.json")) as f:
                self.meta = json.load(f)
            for k in ("conf", "admin", "final"):
                self.meta[k]
        except FileNotFoundError:
            raise RecordingError("no meta.json: not a recording, or its "
                                 "workload did not finish (make one with "
                                 "tests/crash/workloads.py OUTDIR)")
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise RecordingError("meta.json is not workloads.py's: %s" % e)
        if not os.path.isfile(os.path.join(path, "rec.log")):
            raise RecordingError("no rec.log: not a recording")
        self.ops = []           # Op, for every line that changes the disk
        self.nlines = 0
        self.answers = []       # dict: at, method, path, status, body, ...
        self._read(os.path.join(path, "rec.log"))

    def _read(self, logpath):
        ns = {}                 # name -> fid (the namespace, as it runs)
        ino2fid = {}            # inode -> fid (set at each open)
        dirs = {""}             # directory names
        fid_next = [0]
        conns = {}              # (pid, fd) -> {"in": bytearray, "out": [...]}
        # (pid, tid, fd) -> the op count when an fsync began: it makes
        # durable what came before that, not what other threads wrote
        # while it ran.
        begun = {}
        finished = []

        def new_fid():
            fid_next[0] += 1
            return fid_next[0]

        with open(logpath, "rb") as f:
            lines = f.read().split(b"\n")
        for n, raw in enumerate(lines):
            if not raw:
                continue
            try:
                r = json.loads(raw)
                r["op"]
            except (ValueError, KeyError, TypeError):
                raise RecordingError("rec.log line %d is not a record (a "
                                     "recording cut short or damaged)"
                                     % (n + 1))
            op = r["op"]
            i = len(self.ops)
            if op == "open":
                p = r["path"]
                if r["isdir"]:
                    if p not in dirs:
                        raise RecordingError("line %d: directory %r opened "
                                             "but never made" % (n + 1, p))
                    continue
                fid = ns.get(p)
                if fid is None:
                    if r["existed"]:
                        raise RecordingError(
                            "line %d: %s existed but the recording never "
                            "made it (a call the recorder missed)"
                            % (n + 1, p))
                    if not r["flags"] & O_CREAT:
                        raise RecordingError("line %d: %s opened without "
                                             "O_CREAT" % (n + 1, p))
                    fid = new_fid()
                    ns[p] = fid
                    self.ops.append(Op(i, "create", fid, (p,)))
                elif not r["existed"]:
                    raise RecordingError("line %d: %s is in the model but "
                                         "was not on disk" % (n + 1, p))
                elif (r["flags"] & O_TRUNC and
                      r["flags"] & O_ACCMODE != 0):
                    self.ops.append(Op(i, "trunc", fid, (0,)))
                ino2fid[r["ino"]] = fid
            elif op == "write":
                fid = ino2fid.get(r["ino"])
                if fid is None:
                    raise RecordingError("line %d: write to an unknown "
                                         "file" % (n + 1))
                data = bytes.fromhex(r["data"])
                if len(data) != r["n"]:
                    raise RecordingError("line %d: write data cut" % (n + 1))
                self.ops.append(Op(i, "write", fid, (r["off"], data)))
            elif op == "truncate":
                self.ops.append(Op(i, "trunc", ino2fid[r["ino"]],
                                   (r["len"],)))
            elif op == "fallocate":
                if r["mode"] & ~FALLOC_FL_KEEP_SIZE:
                    raise RecordingError("line %d: fallocate mode %d is not "
                                         "modeled" % (n + 1, r["mode"]))
                if not r["mode"] & FALLOC_FL_KEEP_SIZE:
                    self.ops.append(Op(i, "grow", ino2fid[r["ino"]],
                                       (r["off"] + r["len"],)))
            elif op == "fsync_begin":
                begun[(r["pid"], r["tid"], r["fd"])] = i
            elif op == "fsync":
                # A recording without begin records (an older recorder):
                # the fsync covers everything before it.
                cover = begun.pop((r["pid"], r["tid"], r["fd"]), i)
                if r["isdir"]:
                    # Which directory: the one its open named.
                    self.ops.append(Op(i, "dirsync", None, ("", cover)))
                else:
                    self.ops.append(Op(i, "fsync", ino2fid[r["ino"]],
                                       (cover,)))
            elif op == "rename":
                a, b = r["from"], r["to"]
                fid = ns.get(a)
                if fid is None:
                    raise RecordingError("line %d: rename of %s, not in the "
                                         "model" % (n + 1, a))
                ns[b] = fid
                del ns[a]
                self.ops.append(Op(i, "rename", fid, (a, b)))
            elif op == "unlink":
                if r["path"] not in ns:
                    raise RecordingError("line %d: unlink of %s, not in the "
                                         "model" % (n + 1, r["path"]))
                del ns[r["path"]]
                self.ops.append(Op(i, "unlink", None, (r["path"],)))
            elif op == "mkdir":
                if r["path"] != "":
                    raise RecordingError("line %d: subdirectory %s is not "
                                         "modeled" % (n + 1, r["path"]))
            elif op in ("outside", "rmdir"):
                raise RecordingError("line %d: %s %s cannot be modeled"
                                     % (n + 1, r.get("call", op), r["path"]))
            elif op == "accept":
                key = (r["pid"], r["fd"])
                if key in conns:
                    finished.append(conns.pop(key))
                conns[key] = {"in": bytearray(), "out": bytearray(),
                              "at": []}
            elif op in ("in", "out"):
                c = conns.get((r["pid"], r["fd"]))
                if c is None:
                    continue
                data = bytes.fromhex(r["data"])
                if len(data) != r["n"]:
                    c["cut"] = True
                if op == "out":
                    c["at"].append((len(c["out"]), i))
                c[op] += data
            elif op == "sclose":
                key = (r["pid"], r["fd"])
                if key in conns:
                    finished.append(conns.pop(key))
            # close, dup, fork, start, sync_file_range: nothing persists
        self.nlines = len(lines)
        self.final_ns = ns
        finished.extend(conns.values())
        for c in finished:
            self._answers(c)
        self.answers.sort(key=lambda a: a["at"])

    def _answers(self, c):
        if c.get("cut") and any(
                not rl.startswith("GET ")
                for _, rl, _, _ in parse_http(bytes(c["in"]), True)):
            raise RecordingError("a request or answer over 8 KiB: keep the "
                                 "workload's messages small")
        if c.get("cut"):
            return      # reads only: what they answered changes nothing
        reqs = parse_http(bytes(c["in"]), True)
        resps = parse_http(bytes(c["out"]), False)
        for (_, rl, rh, rb), (off, sl, sh, sb) in zip(reqs, resps):
            at = None
            for o, i in c["at"]:
                if o <= off:
                    at = i
            method, target = rl.split(" ")[:2]
            try:
                body = json.loads(sb) if sb else None
            except ValueError:
                body = None
            try:
                rbody = json.loads(rb) if rb else None
            except ValueError:
                rbody = None
            self.answers.append({
                "at": at, "method": method, "path": target.split("?")[0],
                "status": int(sl.split(" ")[1]), "body": body,
                "req": rbody, "idem": rh.get("idempotency-key")})


# ------------------------------------------------------------ crash states


def apply_content(data, op, cut=None):
    """Apply one content op to a bytearray (cut: keep the write only up to
    that absolute offset)."""
    if op.kind == "write":
        off, b = op.args
        if cut is not None:
            b = b[:cut - off]
        if len(data) < off:
            data.extend(b"\0" * (off - len(data)))
        data[off:off + len(b)] = b
    elif op.kind == "trunc":
        n = op.args[0]
        if n < len(data):
            del data[n:]
        else:
            data.extend(b"\0" * (n - len(data)))
    elif op.kind == "grow":
        if op.args[0] > len(data):
            data.extend(b"\0" * (op.args[0] - len(data)))


class Explorer:
    def __init__(self, rec):
        self.rec = rec
        ops = rec.ops
        # Per file: its content ops and its fsyncs, in order; dir ops.
        self.content = {}
        self.fsyncs = {}
        self.dirops = []
        self.dirsyncs = []
        for o in ops:
            if o.kind in ("write", "trunc", "grow"):
                self.content.setdefault(o.fid, []).append(o)
            elif o.kind == "fsync":
                self.fsyncs.setdefault(o.fid, []).append((o.i, o.args[0]))
            elif o.kind in ("create", "rename", "unlink"):
                self.dirops.append(o)
            elif o.kind == "dirsync":
                self.dirsyncs.append((o.i, o.args[1]))
        # O_TRUNC of an existing file is a content op as well.
        self.points = [o.i for o in ops] + [len(ops)]

    # -- the pieces of a state at crash point k

    @staticmethod
    def _covered(syncs, k):
        """What the syncs done before crash point k made durable: every op
        before the latest point one of them began at (an fsync covers
        what was written before it was called; two threads' may end out
        of order); -1 when none."""
        cover = -1
        for i, began in syncs:
            if i >= k:
                break
            cover = max(cover, began)
        return cover

    def pending(self, k):
        """(durable dir ops, pending dir ops, {fid: (durable ops, pending
        ops)}) at crash point k (ops with index < k happened)."""
        ds = self._covered(self.dirsyncs, k)
        dur_d = [o for o in self.dirops if o.i < ds]
        pen_d = [o for o in self.dirops if ds <= o.i < k]
        files = {}
        for fid, cops in self.content.items():
            fs = self._covered(self.fsyncs.get(fid, []), k)
            files[fid] = ([o for o in cops if o.i < fs],
                          [o for o in cops if fs <= o.i < k])
        return dur_d, pen_d, files

    def variants(self, k, rng):
        """The states of crash point k: list of (kind, description, spec);
        spec = (number of pending dir ops kept, {fid: selection}) where a
        selection is ("all",), ("none",), ("prefix", j), ("subset", idx
        tuple) or ("torn", j, cut)."""
        dur_d, pen_d, files = self.pending(k)
        out = [("all", "everything written persisted", (len(pen_d), {}))]
        if pen_d or any(p for _, p in files.values()):
            out.append(("durable", "only what was fsync'd persisted",
                        (0, {fid: ("none",) for fid in files})))
        for p in range(len(pen_d)):
            out.append(("dir", "%d of %d pending directory operations "
                        "persisted" % (p, len(pen_d)), (p, {})))
        for fid, (_, pen) in files.items():
            n = len(pen)
            if n == 0:
                continue
            for j in spread(range(1, n), PENDING_MAX, rng):
                out.append(("prefix", "file %d: %d of %d pending writes"
                            % (fid, j, n), (len(pen_d), {fid: ("prefix", j)})))
            for j in spread(range(n), PENDING_MAX, rng):
                o = pen[j]
                if o.kind != "write":
                    continue
                off, b = o.args
                cuts = [c for c in range((off // SECTOR + 1) * SECTOR,
                                         off + len(b), SECTOR)]
                if len(cuts) > TORN_CUTS:
                    cuts = [cuts[0], cuts[len(cuts) // 2], cuts[-1]]
                for c in cuts:
                    out.append(("torn", "file %d: %d pending writes, the "
                                "next torn at byte %d" % (fid, j, c),
                                (len(pen_d), {fid: ("torn", j, c)})))
            subsets = []
            if n <= SUBSET_ALL_MAX:
                for m in range(1, 2 ** n - 1):
                    s = tuple(x for x in range(n) if m >> x & 1)
                    if s != tuple(range(len(s))):
                        subsets.append(s)
            else:
                for x in spread(range(n - 1), SUBSET_ALL_MAX, rng):
                    subsets.append(tuple(y for y in range(n) if y != x))
                for _ in range(2):
                    s = tuple(y for y in range(n) if rng.random() < 0.5)
                    if s and s != tuple(range(len(s))):
                        subsets.append(s)
            for s in subsets:
                out.append(("subset", "file %d: pending writes %s of %d"
                            % (fid, list(s) if len(s) < 12 else
                               "%d of them" % len(s), n),
                            (len(pen_d), {fid: ("subset", s)})))
        return out

    def build(self, k, spec):
        """The files of a state: {name: bytes}."""
        keep_d, sel = spec
        dur_d, pen_d, files = self.pending(k)
        ns = {}
        for o in dur_d + pen_d[:keep_d]:
            if o.kind == "create":
                ns[o.args[0]] = o.fid
            elif o.kind == "rename":
                a, b = o.args
                if ns.get(a) == o.fid:
                    ns[b] = ns.pop(a)
            elif o.kind == "unlink":
                ns.pop(o.args[0], None)
        state = {}
        for name, fid in ns.items():
            dur, pen = files.get(fid, ([], []))
            data = bytearray()
            for o in dur:
                apply_content(data, o)
            s = sel.get(fid, ("all",))
            if s[0] == "all":
                chosen = pen
            elif s[0] == "none":
                chosen = []
            elif s[0] == "prefix":
                chosen = pen[:s[1]]
            elif s[0] == "subset":
                chosen = [pen[x] for x in s[1]]
            else:
                chosen = pen[:s[1]]
            for o in chosen:
                apply_content(data, o)
            if s[0] == "torn":
                apply_content(data, pen[s[1]], cut=s[2])
            state[name] = bytes(data)
        return state

    def check_final(self):
        """The model at the end, everything persisted, must be the real
        directory: otherwise the recorder missed a call."""
        state = self.build(len(self.rec.ops), (10 ** 9, {}))
        final = self.rec.meta["final"]
        if sorted(state) != sorted(final):
            raise RecordingError("the model's files %s differ from the real "
                                 "directory's %s" % (sorted(state),
                                                     sorted(final)))
        for name, (size, sha) in final.items():
            got = state[name]
            if len(got) != size or hashlib.sha256(got).hexdigest() != sha:
                raise RecordingError(
                    "%s: the model has %d bytes, the real file %d (or "
                    "other bytes): a write the recorder missed"
                    % (name, len(got), size))


# -------------------------------------------------------------- recovery


def run(argv, timeout=30, env=None):
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout, env=env)
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


def read_records(data, name):
    """Every line of a record file after recovery: (records, problems). A
    line must be whole, its CRC right and its JSON an object."""
    recs, bad = [], []
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    elif lines:
        bad.append("%s: last line has no newline" % name)
        lines.pop()
    for n, line in enumerate(lines, 1):
        if len(line) < 12 or line[8:9] != b" ":
            bad.append("%s:%d: not a record" % (name, n))
            continue
        try:
            want = int(line[:8], 16)
        except ValueError:
            bad.append("%s:%d: no checksum" % (name, n))
            continue
        if zlib.crc32(line[9:]) != want:
            bad.append("%s:%d: checksum mismatch" % (name, n))
            continue
        try:
            recs.append(json.loads(line[9:]))
        except ValueError:
            bad.append("%s:%d: not JSON" % (name, n))
    return recs, bad


def oracle(d):
    """What the recovered files hold, read without hookd: clients,
    endpoints, events, keys, and the duplicates found."""
    out = {"clients": {}, "endpoints": {}, "events": {}, "idem": set(),
           "problems": []}
    for fname in ("registry.log", "journal.log"):
        try:
            with open(os.path.join(d, fname), "rb") as f:
                data = f.read()
        except FileNotFoundError:
            continue
        recs, bad = read_records(data, fname)
        out["problems"] += bad
        lines_seen = set()
        attempts = set()
        for line in data.split(b"\n"):
            if line and fname == "journal.log":
                if line in lines_seen:
                    out["problems"].append("%s: a record appears twice: %s"
                                           % (fname, line[:120]))
                lines_seen.add(line)
        for r in recs:
            t = r.get("t")
            if t == "client":
                out["clients"][r["id"]] = r
            elif t == "client-":
                out["clients"].pop(r["id"], None)
                for eid in [e for e, v in out["endpoints"].items()
                            if v["client"] == r["id"]]:
                    del out["endpoints"][eid]
            elif t == "endpoint":
                out["endpoints"][r["id"]] = r
            elif t == "endpoint-":
                out["endpoints"].pop(r["id"], None)
            elif t == "event":
                if r["id"] in out["events"]:
                    out["problems"].append("journal.log: event %s appears "
                                           "twice" % r["id"])
                out["events"][r["id"]] = {"dlv": r["dlv"]}
            elif t == "attempt":
                k = (r["d"], r["n"])
                if k in attempts:
                    out["problems"].append("journal.log: attempt %d of %s "
                                           "appears twice" % (r["n"], r["d"]))
                attempts.add(k)
            elif t == "idem":
                k = (r["client"], r["key"])
                if k in out["idem"]:
                    out["problems"].append("journal.log: Idempotency-Key %r "
                                           "appears twice" % (r["key"],))
                out["idem"].add(k)
    return out


def conf_args(meta, d):
    conf = os.path.join(d, "..", "hookd.conf")
    with open(conf, "w") as f:
        f.write(meta["conf"])
    return ["-c", conf]


def recover(hookd, meta, d):
    """Recover the state in directory d as hookd does at start, then read
    it. Returns (problems, oracle, exports {client: [records]})."""
    problems = []
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    env["HOOKD_ADMIN_TOKEN"] = meta["admin"]
    conf = conf_args(meta, d)
    rc, out, err = run([hookd, "check", "-d", d] + conf, env=env)
    if rc != 0:
        lines = [x for x in (out.decode("utf-8", "replace") + err).split("\n")
                 if x and not x.startswith("hookd: unreadable records")]
        refused = [x for x in lines if not TORN_OK.match(x)]
        if refused:
            problems.append("hookd check refused a state a crash can "
                            "leave: " + "; ".join(refused[:4]))
            return problems, None, {}
    pre = oracle(d)
    exports = {}
    for cid in sorted(pre["clients"]):
        rc, out, err = run([hookd, "export", "--client", cid, "-d", d,
                            "-o", "-"] + conf, env=env)
        if rc != 0:
            problems.append("hookd export --client %s (a start's replay) "
                            "failed: %s" % (cid, err.strip()[:300]))
            return problems, None, {}
        recs, _ = read_records(out, "export")
        exports[cid] = {x["id"] for x in recs if x.get("t") == "event"}
    rc, out, err = run([hookd, "check", "-d", d] + conf, env=env)
    if rc != 0:
        problems.append("after a start's recovery hookd check still "
                        "reports: %s" % (out.decode() + err).strip()[:300])
    post = oracle(d)
    problems += post["problems"]
    return problems, post, exports


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def daemon_check(hookd, meta, d, expect):
    """Start hookd on a copy of the recovered state and ask it over HTTP
    for what expect says must be there. Problems (list)."""
    work = d + ".daemon"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(d, work)
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    env["HOOKD_ADMIN_TOKEN"] = meta["admin"]
    port = free_port()
    logf = open(work + ".log", "wb")
    p = subprocess.Popen([hookd, "-l", "127.0.0.1:%d" % port, "-d", work] +
                         conf_args(meta, work), stdin=subprocess.DEVNULL,
                         stdout=logf, stderr=logf, env=env)
    logf.close()
    problems = []
    try:
        deadline = time.monotonic() + 20
        while True:
            if p.poll() is not None:
                with open(work + ".log", "rb") as f:
                    return ["the daemon did not start: %s" %
                            f.read().decode("utf-8", "replace")[-300:]]
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    return ["the daemon did not listen within 20 s"]
                time.sleep(0.05)

        def get(path):
            rq = urllib.request.Request(
                "http://127.0.0.1:%d%s" % (port, path),
                headers={"Authorization": "Bearer " + meta["admin"]})
            try:
                with urllib.request.urlopen(rq, timeout=10) as r:
                    return r.status
            except urllib.error.HTTPError as e:
                return e.code
        for cid in sorted(expect["clients"])[:4]:
            if get("/v1/clients/" + cid) != 200:
                problems.append("daemon: GET /v1/clients/%s is not 200" % cid)
        for eid in sorted(expect["events"])[-6:]:
            if get("/v1/events/" + eid) != 200:
                problems.append("daemon: GET /v1/events/%s is not 200" % eid)
    finally:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                problems.append("daemon: no exit within 20 s of SIGTERM")
        shutil.rmtree(work, ignore_errors=True)
    return problems


# ----------------------------------------------------------- expectations


def sha(s):
    return hashlib.sha256(s.encode()).hexdigest()


class Truth:
    """What hookd acknowledged, as a function of the crash point."""

    def __init__(self, rec, final_state):
        self.answers = [a for a in rec.answers if a["at"] is not None]
        # Events the real run's compaction dropped (retention): from the
        # first rename of a compacted journal after its answer on, such an
        # event may be gone.
        recs, _ = read_records(final_state.get("journal.log", b""), "j")
        self.final_events = {r["id"] for r in recs if r.get("t") == "event"}
        self.compacted_at = [o.i for o in rec.ops if o.kind == "rename" and
                             o.args[1] == "journal.log"]

    def may_be_dropped(self, evid, acked_at, k):
        if evid in self.final_events:
            return False
        return any(acked_at <= c < k for c in self.compacted_at)

    def expect(self, k):
        """Expectations from the answers that left before op k: clients
        {id: {"tokens": [acceptable hashes], "secrets": [...]}} and so on.
        A value is acceptable when it is the last one answered before k or
        any given later (written, maybe unanswered)."""
        clients, gone_c = {}, set()
        eps, gone_e = {}, set()
        events, idem = {}, set()
        later_tok, later_sec, later_eps = {}, {}, {}
        # A deletion written may persist before its answer leaves: an
        # object with a deletion answered at any time may be missing.
        deleting = set()
        for a in self.answers:
            parts = a["path"].strip("/").split("/")
            if a["method"] == "DELETE" and a["status"] == 204:
                deleting.add(parts[-1])
        for a in self.answers:
            # An answer that left before op k's record is acknowledged
            # at crash point k (op k and later did not happen).
            acked = a["at"] <= k
            m, p, st, b = a["method"], a["path"], a["status"], a["body"]
            parts = p.strip("/").split("/")
            if st >= 300 or st < 200:
                continue
            if m == "POST" and p == "/v1/clients" and st == 201:
                later_tok.setdefault(b["id"], []).append(sha(b["token"]))
                later_sec.setdefault(b["id"], []).append(b["secret"])
                if acked:
                    clients[b["id"]] = {"tok": sha(b["token"]),
                                        "sec": b["secret"]}
                    gone_c.discard(b["id"])
            elif (m == "POST" and len(parts) == 4 and parts[1] == "clients"
                  and parts[3] in ("rotate-token", "rotate-secret")):
                cid = parts[2]
                if parts[3] == "rotate-token":
                    later_tok.setdefault(cid, []).append(sha(b["token"]))
                    if acked and cid in clients:
                        clients[cid]["tok"] = sha(b["token"])
                else:
                    later_sec.setdefault(cid, []).append(b["secret"])
                    if acked and cid in clients:
                        clients[cid]["sec"] = b["secret"]
            elif m == "DELETE" and len(parts) == 3 and parts[1] == "clients":
                if acked:
                    clients.pop(parts[2], None)
                    gone_c.add(parts[2])
                    for e in [e for e, v in eps.items()
                              if v["client"] == parts[2]]:
                        eps.pop(e)
                        gone_e.add(e)
            elif m == "POST" and p == "/v1/endpoints" and st == 201:
                later_eps.setdefault(b["id"], []).append(b["secret"])
                if acked:
                    eps[b["id"]] = {"client": b["client"],
                                    "sec": b["secret"], "upd": b["updated_at"]}
            elif m == "PATCH" and len(parts) == 3 and parts[1] == "endpoints":
                if acked and b["id"] in eps:
                    eps[b["id"]]["upd"] = b["updated_at"]
            elif (m == "POST" and len(parts) == 4 and
                  parts[1] == "endpoints" and parts[3] == "rotate-secret"):
                later_eps.setdefault(parts[2], []).append(b["secret"])
                if acked and parts[2] in eps:
                    eps[parts[2]]["sec"] = b["secret"]
            elif m == "DELETE" and len(parts) == 3 and parts[1] == "endpoints":
                if acked:
                    eps.pop(parts[2], None)
                    gone_e.add(parts[2])
            elif m == "POST" and p == "/v1/events" and st == 202:
                if acked:
                    events[b["id"]] = {"client": a["req"]["client"],
                                       "n": b["deliveries"], "at": a["at"]}
                    if a["idem"]:
                        idem.add((a["req"]["client"], a["idem"]))
        for cid in [c for c in clients if c in deleting]:
            del clients[cid]
        for eid in [e for e, v in eps.items()
                    if e in deleting or v["client"] in deleting]:
            del eps[eid]
        return {"clients": clients, "gone_c": gone_c, "eps": eps,
                "gone_e": gone_e, "events": events, "idem": idem,
                "later_tok": later_tok, "later_sec": later_sec,
                "later_eps": later_eps}


def acceptable(values, acked):
    """The acked value and every one given after it."""
    return values[values.index(acked):] if acked in values else [acked]


def ms(rfc3339):
    t = time.strptime(rfc3339[:19], "%Y-%m-%dT%H:%M:%S")
    return calendar.timegm(t) * 1000 + int(rfc3339[20:23])


def verify(exp, got, exports, truth, k):
    """Problems of a recovered state against the expectations."""
    bad = []
    for cid, c in exp["clients"].items():
        r = got["clients"].get(cid)
        if r is None:
            bad.append("client %s answered 201 is missing" % cid)
            continue
        if r["token_sha256"] not in acceptable(exp["later_tok"][cid],
                                               c["tok"]):
            bad.append("client %s has an older token than one answered"
                       % cid)
        if r["secret"] not in acceptable(exp["later_sec"][cid], c["sec"]):
            bad.append("client %s has an older secret than one answered"
                       % cid)
    for cid in exp["gone_c"]:
        if cid in got["clients"]:
            bad.append("client %s answered deleted (204) is back" % cid)
    for eid, e in exp["eps"].items():
        r = got["endpoints"].get(eid)
        if r is None:
            bad.append("endpoint %s answered 2xx is missing" % eid)
            continue
        if r["secret"] not in acceptable(exp["later_eps"][eid], e["sec"]):
            bad.append("endpoint %s has an older secret than one answered"
                       % eid)
        if r["updated"] < ms(e["upd"]):
            bad.append("endpoint %s lost an update answered 200" % eid)
    for eid in exp["gone_e"]:
        if eid in got["endpoints"]:
            bad.append("endpoint %s answered deleted (204) is back" % eid)
    for evid, ev in exp["events"].items():
        if truth.may_be_dropped(evid, ev["at"], k):
            continue    # dropped by retention in the real run
        r = got["events"].get(evid)
        if r is None:
            bad.append("event %s answered 202 is missing" % evid)
            continue
        if len(r["dlv"]) != ev["n"]:
            bad.append("event %s has %d deliveries, answered %d"
                       % (evid, len(r["dlv"]), ev["n"]))
        if ev["client"] in exports and evid not in exports[ev["client"]]:
            bad.append("event %s is in the journal but hookd export "
                       "(a start's replay) does not have it" % evid)
    for k in exp["idem"]:
        if k not in got["idem"]:
            bad.append("Idempotency-Key %r of client %s answered is lost"
                       % (k[1], k[0]))
    return bad


# ----------------------------------------------------------------- driver


def state_root():
    base = "/dev/shm" if os.path.isdir("/dev/shm") else None
    return tempfile.mkdtemp(prefix="hookd-crash-", dir=base)


def materialize(state, d):
    os.makedirs(d, mode=0o700)
    for name, data in state.items():
        fd = os.open(os.path.join(d, name),
                     os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, data)
        os.close(fd)


def sample(cands, n, rng):
    """n of the candidates, spread evenly over the kinds and, within a
    kind, over the crash points (cands are in crash-point order)."""
    if n is None or len(cands) <= n:
        return cands
    kinds = {}
    for c in cands:
        kinds.setdefault(c[1], []).append(c)
    out, left = [], n
    order = sorted(kinds, key=lambda x: len(kinds[x]))
    for i, kd in enumerate(order):
        share = left // (len(order) - i)
        lst = kinds[kd]
        if share == 0:
            continue    # fewer states asked for than there are kinds
        if len(lst) <= share:
            pick = lst
        else:
            step = len(lst) / share
            off = rng.random() * step
            pick = [lst[int(off + j * step)] for j in range(share)]
        out += pick
        left -= len(pick)
    out.sort(key=lambda c: c[0])
    return out


def explore(recdir, hookd, max_states, seed, daemon_every, keep_root,
            verbose=False):
    """Explore one recording. Returns a dict of counts and failures."""
    t0 = time.monotonic()
    rec = Recording(recdir)
    ex = Explorer(rec)
    ex.check_final()
    truth = Truth(rec, ex.build(len(rec.ops), (10 ** 9, {})))
    rng = random.Random(seed)
    cands = []
    for k in ex.points:
        for kind, desc, spec in ex.variants(k, rng):
            cands.append((k, kind, desc, spec))
    chosen = sample(cands, max_states, rng)
    root = state_root()
    cache = {}
    fails = []
    kinds = {}
    nrec = ndaemon = 0
    try:
        for n, (k, kind, desc, spec) in enumerate(chosen):
            kinds[kind] = kinds.get(kind, 0) + 1
            state = ex.build(k, spec)
            h = hashlib.sha256()
            for name in sorted(state):
                h.update(name.encode() + b"\0" + hashlib.sha256(
                    state[name]).digest())
            key = h.hexdigest()
            exp = truth.expect(k)
            d = None
            if key not in cache:
                d = os.path.join(root, "s%d" % len(cache), "data")
                materialize(state, d)
                problems, got, exports = recover(hookd, rec.meta, d)
                nrec += 1
                cache[key] = (problems, got, exports)
            problems, got, exports = cache[key]
            if not problems:
                problems = verify(exp, got, exports, truth, k)
            if (d is not None and not problems and daemon_every and
                    nrec % daemon_every == 0):
                ndaemon += 1
                problems = daemon_check(hookd, rec.meta, d, {
                    "clients": exp["clients"],
                    "events": [e for e, v in exp["events"].items()
                               if not truth.may_be_dropped(e, v["at"], k)]})
                cache[key] = (problems, got, exports)
            if d is not None:
                shutil.rmtree(os.path.dirname(d), ignore_errors=True)
            if problems:
                keep = os.path.join(keep_root, "%s-op%d-%s-%d" %
                                    (rec.name, k, kind, len(fails)))
                shutil.rmtree(keep, ignore_errors=True)
                materialize(state, os.path.join(keep, "data"))
                with open(os.path.join(keep, "failure.json"), "w") as f:
                    json.dump({"recording": os.path.abspath(recdir),
                               "crash_point": k, "kind": kind,
                               "state": desc, "problems": problems,
                               "meta": rec.meta}, f, indent=1)
                fails.append((k, kind, desc, problems, keep))
                print("FAIL %s: crash before op %d of %d (%s: %s): %s\n"
                      "     kept: %s (explore.py --replay %s)"
                      % (rec.name, k, len(rec.ops), kind, desc,
                         "; ".join(problems[:3]), keep, keep), flush=True)
                if len(fails) >= 20:
                    print("  (stopping this recording at 20 failures)")
                    break
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return {"name": rec.name, "ops": len(rec.ops), "lines": rec.nlines,
            "answers": len(truth.answers), "points": len(ex.points),
            "candidates": len(cands), "states": len(chosen),
            "recovered": nrec, "daemon": ndaemon, "kinds": kinds, "fails": fails,
            "secs": time.monotonic() - t0}


def replay(keep, hookd):
    try:
        with open(os.path.join(keep, "failure.json")) as f:
            info = json.load(f)
    except (OSError, ValueError) as e:
        print("explore.py: %s is not a kept failure (crash-failures/NAME): "
              "%s" % (keep, e), file=sys.stderr)
        return 2
    rec = Recording(info["recording"])
    ex = Explorer(rec)
    truth = Truth(rec, ex.build(len(rec.ops), (10 ** 9, {})))
    d = os.path.join(state_root(), "data")
    shutil.copytree(os.path.join(keep, "data"), d)
    print("recording %s, crash before op %d (%s: %s)"
          % (info["recording"], info["crash_point"], info["kind"],
             info["state"]))
    problems, got, exports = recover(hookd, info["meta"], d)
    if not problems:
        problems = verify(truth.expect(info["crash_point"]), got, exports,
                          truth, info["crash_point"])
    print("\n".join(problems) if problems else "no problem found")
    print("recovered state left in %s" % d)
    return 1 if problems else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("recordings", nargs="*")
    ap.add_argument("--max-states", type=int, default=None,
                    help="states per recording (a sample spread over "
                    "crash points and kinds); default all")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--hookd", default=os.path.join(ROOT, "hookd"))
    ap.add_argument("--daemon-every", type=int, default=50,
                    help="start the daemon on every N-th recovered state")
    ap.add_argument("--keep", default=os.path.join(ROOT, "crash-failures"),
                    help="where failing states are kept")
    ap.add_argument("--replay", metavar="STATEDIR")
    a = ap.parse_args()
    if a.max_states is not None and a.max_states < 1:
        ap.error("--max-states must be at least 1")
    if not os.access(a.hookd, os.X_OK):
        ap.error("%s is not an executable hookd (run make, or give "
                 "--hookd)" % a.hookd)
    if a.replay:
        return replay(a.replay, a.hookd)
    if not a.recordings:
        ap.error("give recordings (workloads.py makes them) or --replay")
    t0 = time.monotonic()
    total = {"ops": 0, "states": 0, "recovered": 0, "fails": 0}
    for r in a.recordings:
        try:
            res = explore(r, a.hookd, a.max_states, a.seed, a.daemon_every,
                          a.keep)
        except RecordingError as e:
            print("FAIL %s: the recording cannot be trusted: %s" % (r, e))
            total["fails"] += 1
            continue
        print("%-14s %5d ops %4d answers %5d crash points %6d states "
              "(of %d) %5d recovered %3d started %3d failures %6.1fs  %s"
              % (res["name"], res["ops"], res["answers"], res["points"],
                 res["states"], res["candidates"], res["recovered"],
                 res["daemon"],
                 len(res["fails"]), res["secs"],
                 " ".join("%s=%d" % kv for kv in sorted(res["kinds"].items()))),
              flush=True)
        for k in ("ops", "states", "recovered"):
            total[k] += res[k]
        total["fails"] += len(res["fails"])
    print("total: %d recordings, %d ops, %d states, %d recovered, %d "
          "failures, %.1fs" % (len(a.recordings), total["ops"],
                               total["states"], total["recovered"],
                               total["fails"], time.monotonic() - t0))
    return 1 if total["fails"] else 0


if __name__ == "__main__":
    sys.exit(main())
