#!/usr/bin/env python3
"""The explorer's own tests: synthetic recordings of a hookd that breaks
contract §6 in one way each, which explore.py must report as failures, and
the same recordings done right, which it must pass (so that its silence on
the real workloads means something).

  - an answer leaves before the fsync of the record it acknowledges;
  - a record written while an fsync runs (by another thread) is
    acknowledged once that fsync ends, which need not have covered it;
  - a rename (a registry rewritten with a rotated token) is acknowledged
    without the fsync of its directory;
  - a file renamed over the registry before its last write was fsync'd;
  - a recording that misses a write (the model does not rebuild the real
    directory) is refused, and so are a cut or foreign one, in one line.

Runs the real ./hookd (check, export) on the states. Usage: python3
tests/crash/test_explore.py [-v]"""

import hashlib
import json
import os
import shutil
import sys
import tempfile
import unittest
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import explore  # noqa: E402

HOOKD = os.path.join(HERE, "..", "..", "hookd")
ADMIN = "adm_" + "0" * 32
SECRET = "whsec_" + "A" * 32
T1, T2 = "hkc_" + "1" * 32, "hkc_" + "2" * 32


def record(token):
    body = json.dumps({"t": "client", "id": "acme", "name": "Acme",
                       "token_sha256": hashlib.sha256(
                           token.encode()).hexdigest(),
                       "secret": SECRET, "created": 1796000000000,
                       "updated": 1796000000000},
                      separators=(",", ":")).encode()
    return b"%08x " % zlib.crc32(body) + body + b"\n"


def http(status, reason, obj):
    b = json.dumps(obj).encode()
    return (b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % (status, reason, len(b)) + b)


def request(method, path, obj=None):
    b = json.dumps(obj).encode() if obj is not None else b""
    return (b"%s %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
            % (method.encode(), path.encode(), len(b)) + b)


class Rec:
    """A recording written line by line, as recorder.so would."""

    def __init__(self):
        self.lines = [{"op": "start", "dir": "/x"}, {"op": "mkdir",
                                                     "path": ""}]
        self.ino = 100
        self.inos = {}
        self.files = {}
        self.conn = 50

    def add(self, **kw):
        kw.setdefault("pid", 1)
        kw.setdefault("tid", 1)
        self.lines.append(kw)

    def create(self, path):
        self.ino += 1
        self.inos[path] = self.ino
        self.files[path] = b""
        self.add(op="open", path=path, fd=3, flags=0o102, ino=self.ino,
                 isdir=0, existed=0)

    def write(self, path, data):
        off = len(self.files[path])
        self.files[path] += data
        self.add(op="write", fd=3, ino=self.inos[path], off=off,
                 n=len(data), data=data.hex())

    def fsync(self, path, begin=True):
        """An fsync as recorder.so logs it: its begin, then its end
        (begin=False: the begin was logged earlier, fsync_begin)."""
        if begin:
            self.fsync_begin(path)
        self.add(op="fsync", fd=3, ino=self.inos[path], isdir=0,
                 call="fsync")

    def fsync_begin(self, path):
        self.add(op="fsync_begin", fd=3, ino=self.inos[path], isdir=0)

    def dirsync(self):
        self.add(op="open", path="", fd=4, flags=0, ino=2, isdir=1,
                 existed=1)
        self.add(op="fsync", fd=4, ino=2, isdir=1, call="fsync")

    def rename(self, a, b):
        self.add(op="rename", **{"from": a, "to": b}, ino=self.inos[a],
                 flags=0)
        self.inos[b] = self.inos.pop(a)
        self.files[b] = self.files.pop(a)

    def answer(self, req, resp):
        self.conn += 1
        self.add(op="accept", fd=self.conn)
        self.add(op="in", fd=self.conn, n=len(req), data=req.hex())
        self.add(op="out", fd=self.conn, n=len(resp), data=resp.hex())
        self.add(op="sclose", fd=self.conn, n=0, data="")

    def save(self, d):
        os.makedirs(d)
        with open(os.path.join(d, "rec.log"), "w") as f:
            for x in self.lines:
                f.write(json.dumps(x) + "\n")
        final = {p: [len(b), hashlib.sha256(b).hexdigest()]
                 for p, b in self.files.items()}
        with open(os.path.join(d, "meta.json"), "w") as f:
            json.dump({"name": "synthetic", "conf": "", "admin": ADMIN,
                       "final": final}, f)
        return d


def created(r, token):
    """A registry made durable, then the client's 201."""
    r.create("registry.log")
    r.create("journal.log")
    r.dirsync()
    r.write("registry.log", record(token))


CREATE_REQ = request("POST", "/v1/clients", {"id": "acme"})
CREATE_RESP = http(201, b"Created", {"id": "acme", "name": "Acme",
                                     "token": T1, "secret": SECRET})


class ExplorerFails(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="hookd-crash-test-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def explore(self, r):
        d = r.save(os.path.join(self.tmp, "rec"))
        return explore.explore(d, HOOKD, None, 1, 0,
                               os.path.join(self.tmp, "keep"))

    def test_answer_before_fsync(self):
        r = Rec()
        created(r, T1)
        r.answer(CREATE_REQ, CREATE_RESP)     # before the fsync: wrong
        r.fsync("registry.log")
        res = self.explore(r)
        why = [p for f in res["fails"] for p in f[3]]
        self.assertTrue(any("client acme answered 201 is missing" in p
                            for p in why), why)
        self.assertTrue(os.path.isdir(os.path.join(res["fails"][0][4],
                                                   "data")))

    def test_write_during_fsync_not_covered(self):
        r = Rec()
        r.create("registry.log")
        r.create("journal.log")
        r.dirsync()
        r.fsync_begin("registry.log")
        r.write("registry.log", record(T1))   # while the fsync runs
        r.fsync("registry.log", begin=False)
        r.answer(CREATE_REQ, CREATE_RESP)     # that fsync did not cover it
        res = self.explore(r)
        why = [p for f in res["fails"] for p in f[3]]
        self.assertTrue(any("client acme answered 201 is missing" in p
                            for p in why), why)

    def test_answer_after_fsync(self):
        r = Rec()
        created(r, T1)
        r.fsync("registry.log")
        r.answer(CREATE_REQ, CREATE_RESP)
        res = self.explore(r)
        self.assertEqual(res["fails"], [])
        self.assertGreater(res["states"], 5)

    def rotate(self, dirsync_first):
        r = Rec()
        created(r, T1)
        r.fsync("registry.log")
        r.answer(CREATE_REQ, CREATE_RESP)
        r.create("registry.log.compact")
        r.write("registry.log.compact", record(T2))
        r.fsync("registry.log.compact")
        r.rename("registry.log.compact", "registry.log")
        if dirsync_first:
            r.dirsync()
        r.answer(request("POST", "/v1/clients/acme/rotate-token"),
                 http(200, b"OK", {"token": T2}))
        if not dirsync_first:
            r.dirsync()
        return self.explore(r)

    def test_rename_without_dir_fsync(self):
        res = self.rotate(False)
        why = [p for f in res["fails"] for p in f[3]]
        self.assertTrue(any("client acme has an older token" in p
                            for p in why), why)
        self.assertTrue(all(f[1] in ("dir", "durable") for f in res["fails"]),
                        res["fails"])

    def test_rename_with_dir_fsync(self):
        self.assertEqual(self.rotate(True)["fails"], [])

    def compacted(self, fsync_before_rename):
        """The registry rewritten beside itself, renamed over it and the
        directory fsync'd: with or without the fsync of the new file
        before the rename (compaction's catch-up tail)."""
        r = Rec()
        created(r, T1)
        r.fsync("registry.log")
        r.answer(CREATE_REQ, CREATE_RESP)
        r.create("registry.log.compact")
        r.write("registry.log.compact", record(T1))
        if fsync_before_rename:
            r.fsync("registry.log.compact")
        r.rename("registry.log.compact", "registry.log")
        r.dirsync()
        r.fsync("registry.log")    # later, the next group commit
        return self.explore(r)

    def test_rename_before_fsync_of_new_file(self):
        res = self.compacted(False)
        why = [p for f in res["fails"] for p in f[3]]
        self.assertTrue(any("client acme answered 201 is missing" in p
                            for p in why), why)

    def test_rename_after_fsync_of_new_file(self):
        self.assertEqual(self.compacted(True)["fails"], [])

    def test_sample_smaller_than_kinds(self):
        r = Rec()
        created(r, T1)
        r.fsync("registry.log")
        r.answer(CREATE_REQ, CREATE_RESP)
        d = r.save(os.path.join(self.tmp, "rec"))
        for n in (1, 3):
            res = explore.explore(d, HOOKD, n, 1, 0,
                                  os.path.join(self.tmp, "keep"))
            self.assertLessEqual(res["states"], n)

    def test_bad_recordings_refused_in_one_line(self):
        r = Rec()
        created(r, T1)
        d = r.save(os.path.join(self.tmp, "rec"))
        with open(os.path.join(d, "rec.log"), "r+b") as f:
            f.truncate(os.path.getsize(os.path.join(d, "rec.log")) - 7)
        with self.assertRaisesRegex(explore.RecordingError, "cut short"):
            explore.Recording(d)
        os.unlink(os.path.join(d, "meta.json"))
        with self.assertRaisesRegex(explore.RecordingError, "no meta.json"):
            explore.Recording(d)

    def test_missed_write_refused(self):
        r = Rec()
        created(r, T1)
        r.fsync("registry.log")
        r.files["registry.log"] += b"x"   # a write the recorder missed
        with self.assertRaises(explore.RecordingError):
            self.explore(r)


if __name__ == "__main__":
    unittest.main()
