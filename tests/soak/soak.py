#!/usr/bin/env python3
"""hookd's soak run (issue 18, item 5): `make soak`, or from the repo root
`python3 tests/soak/soak.py`.

Starts the real ./hookd (HOOKD_BIN) on a free 127.0.0.1 port with a fresh
data directory on disk (fsync always, the default), its own receivers on
free ports, and runs a steady load for SOAK_MINUTES (default 30;
SOAK_SECONDS overrides it for short runs). Once a row interval (a minute;
SOAK_ROW_SECONDS) it prints one table row; at the end a summary and a
verdict, and it exits 1 when something was not flat (see verdict()).

Python 3 standard library only. The load:
- SOAK_RATE events a second (default 200) from SOAK_PRODUCERS keep-alive
  connections (default 4), each paced on its own clock, to 4 clients;
- per client five endpoints: "all" (events *, acknowledges), "orders"
  (order.*, acknowledges), "flaky" (order.paid, 500 for the first sixth of
  every cycle, then 200; a short retry_schedule of its own), "dead"
  (user.*, always 500: disabled by disable_after) and "gone" (user.deleted,
  410: disabled at once); fan-out 1 to 3 by event type;
- churn: disabled endpoints are deleted and replaced, and every few seconds
  an "orders" or "flaky" endpoint is deleted and a new one registered;
- 5 % of the events carry an Idempotency-Key, half of those are sent twice
  (the repeat must answer the same id); 5 % add a one-off ?callbackURL=;
- POST /v1/compact every SOAK_COMPACT_SECONDS, and a short retention, so
  compaction runs and drops expired events all along.
"""

import collections
import http.client
import http.server
import json
import math
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

from integ.harness import (ASAN_SMALL, HOOKD, free_port, open_fds,  # noqa
                           rss_kb)

MIB = 1024 * 1024


# ------------------------------------------------------------- settings


class Settings:
    """Everything a run depends on, from the environment. Short runs
    (under 10 minutes) scale the periods down so that each mechanism
    (retries, disabling, retention, compaction) still happens in them."""

    def __init__(self, env=os.environ):
        if env.get("SOAK_SECONDS"):
            self.total = float(env["SOAK_SECONDS"])
        else:
            self.total = 60.0 * float(env.get("SOAK_MINUTES", "30"))
        short = self.total < 600
        self.row = float(env.get("SOAK_ROW_SECONDS") or
                         (60 if self.total >= 300 else max(5.0, self.total / 6)))
        self.rate = float(env.get("SOAK_RATE", "200"))
        self.producers = int(env.get("SOAK_PRODUCERS", "4"))
        self.clients = 4
        # retention: the events a compaction may drop. 2 minutes keeps
        # about 24,000 events (and their deliveries) in the journal at
        # 200/s, and hookd forces a compaction once per retention (at
        # least a minute apart).
        self.retention = 120 if not short else 20
        self.compact_every = float(env.get("SOAK_COMPACT_SECONDS") or
                                   (240 if not short else 10))
        # The flaky endpoints fail for the first sixth of each cycle.
        self.cycle = 60 if not short else 18
        self.disable_after = 30 if not short else 8
        self.flaky_schedule = (["1s", "2s", "4s", "8s", "15s", "30s"]
                               if not short else ["1s", "1s", "2s", "4s"])
        self.dead_schedule = ["1s", "2s", "3s"]
        # Warm-up: the rows before the in-memory model is full (retention
        # plus a compaction to drop what expired); RSS is judged after.
        warm = self.retention + max(60, self.retention) + self.row
        self.warm_rows = max(1, min(int(math.ceil(warm / self.row)),
                                    int(self.total / self.row) // 3))
        # A delivery to an acknowledging endpoint (or a flaky one past its
        # failing sixth) that is pending longer than this is stuck: its
        # schedule ends well within it (flaky: 60 s of retries, 10 s of
        # failures).
        self.stuck_after = 120 if not short else 30
        # The row whose fds the end is compared with: the first one a
        # minute in, past the 30 s after which idle outbound connections
        # close; none in a run too short to have one before its last row
        # (its descriptors are judged at idle only).
        self.fd_row = int(math.ceil(60 / self.row - 1e-9))
        if self.fd_row >= int(round(self.total / self.row)):
            self.fd_row = None
        self.keep = env.get("SOAK_KEEP") == "1"
        self.dir = env.get("SOAK_DIR") or "/var/tmp"


# -------------------------------------------------------------- verdict

# The bounds of "flat", and why (README, Soak).
# Descriptors, two checks. Idle: with no connection open (before the load,
# and after it once the kept-alive outbound connections have timed out,
# 30 s after their last use), hookd holds only its listening socket,
# files, pipes and resolver: the end may exceed the start by FD_IDLE_MARGIN
# (nothing; 2 for a descriptor the libc may open lazily). Under load: the
# connections vary from moment to moment, and an endpoint deleted by the
# churn leaves its idle kept-alive connections (up to endpoint_concurrency,
# 8) open until they time out, so the last row may exceed the row a
# minute in (past that timeout; the first row when rows are a minute
# apart) by at most FD_MARGIN (6 churned endpoints' worth).
FD_IDLE_MARGIN = 2
FD_MARGIN = 48
# RSS after warm-up: the model holds a retention's worth of events, so it
# should stop growing once that is full. What legitimately still grows is
# the Idempotency-Keys (kept 24 h: about 10 a second here, a few hundred
# bytes each, so under 4 MiB in 30 minutes) and the allocator's
# fragmentation; RSS_SLACK_KB plus RSS_SLACK_RATIO of the warm RSS covers
# both, where a leak of 100 bytes an event (360,000 events) does not fit.
RSS_SLACK_KB = 16 * 1024
RSS_SLACK_RATIO = 0.25
# The journal after warm-up is a saw-tooth: it grows between compactions
# and each one cuts it back to what retention keeps. Split the rows after
# warm-up in two halves: in the second half it must come down at least
# once to the first half's peak (a journal that only grows never does),
# and its peak may not exceed twice the first half's plus
# JOURNAL_SLACK_BYTES (the doubling that triggers a compaction, and the
# Idempotency-Key records, kept 24 h). Judged only when JOURNAL_MIN_ROWS
# rows follow warm-up: a shorter run has not seen enough compactions.
JOURNAL_SLACK_BYTES = 8 * MIB
JOURNAL_MIN_ROWS = 6


class ListFailed(Exception):
    """A list page answered other than 200 (Soak.walk noted it)."""


def verdict(rows, warm_rows, final, fd_row=1):
    """Judge a run. rows: one dict a row, with "fds", "rss_kb" and
    "journal" (bytes); warm_rows: how many rows are warm-up; fd_row: the
    row (from 1) whose fds the last row's are compared with (None: no
    such comparison); final: a
    dict of counts (bad_5xx, errors, idem_mismatch, lost, stuck),
    "idle_fds" (hookd's descriptors with no connection open, before and
    after the load, or None), "exit" (hookd's exit code, None when it died or did not stop) and
    "crashed" (a message, or None). Returns the list of failures, each a
    sentence; empty means the run was flat."""
    fails = []
    if final.get("disk_full"):
        where, total = final["disk_full"]
        fails.append("the file system of SOAK_DIR %s (%.0f MiB) filled up "
                     "and hookd answered 503 \"disk full\": the run was "
                     "ended early; give SOAK_DIR a file system with room "
                     "for the journal (a few hundred MiB)"
                     % (where, total / 1048576.0))
    if final.get("crashed"):
        fails.append("hookd did not survive: %s" % final["crashed"])
    elif final.get("exit") not in (0, None):
        fails.append("hookd exited %r after SIGTERM, want 0"
                     % final["exit"])
    for key, what in (("bad_5xx", "5xx answers to valid requests"),
                      ("errors", "requests without a proper answer "
                                 "(connection errors, unexpected status)"),
                      ("idem_mismatch", "Idempotency-Key repeats answered "
                                        "with another id"),
                      ("lost", "202'd events within retention missing from "
                               "GET /v1/events"),
                      ("stuck", "deliveries to acknowledging endpoints "
                                "pending past the stuck bound")):
        if final.get(key):
            fails.append("%d %s" % (final[key], what))
    if not rows:
        fails.append("no rows: the run ended before its first row")
        return fails
    last = rows[-1]
    idle = final.get("idle_fds")
    if idle and idle[1] > idle[0] + FD_IDLE_MARGIN:
        fails.append("open fds with no connection open grew from %d before "
                     "the load to %d after it, more than %d"
                     % (idle[0], idle[1], FD_IDLE_MARGIN))
    first = rows[fd_row - 1] if fd_row and fd_row < len(rows) else None
    if first and last["fds"] > first["fds"] + FD_MARGIN:
        fails.append("open fds grew from %d (row %d) to %d (last), more "
                     "than %d" % (first["fds"], first["row"], last["fds"],
                                  FD_MARGIN))
    if len(rows) > warm_rows:
        base = rows[max(1, warm_rows) - 1]["rss_kb"]
        limit = base + RSS_SLACK_KB + RSS_SLACK_RATIO * base
        peak = max(r["rss_kb"] for r in rows[warm_rows:])
        if peak > limit:
            fails.append("RSS grew after warm-up from %d kB (row %d) to %d "
                         "kB, above the bound of %d kB" %
                         (base, warm_rows, peak, limit))
        after = rows[warm_rows:]
        half = len(after) // 2
        if len(after) >= JOURNAL_MIN_ROWS:
            p1 = max(r["journal"] for r in after[:half])
            p2 = max(r["journal"] for r in after[half:])
            low2 = min(r["journal"] for r in after[half:])
            if low2 > p1:
                fails.append("journal.log never came back down to %d bytes "
                             "(the first half's peak after warm-up) in the "
                             "second half (its lowest: %d): compaction is "
                             "not keeping it flat" % (p1, low2))
            elif p2 > 2 * p1 + JOURNAL_SLACK_BYTES:
                fails.append("journal.log peaked at %d bytes in the second "
                             "half after warm-up, above twice the first "
                             "half's peak (%d) plus %d" %
                             (p2, p1, JOURNAL_SLACK_BYTES))
    return fails


# ------------------------------------------------------------ receivers


class _Server(http.server.ThreadingHTTPServer):
    """A receiver's server: a connection hookd closes mid-answer (an
    endpoint deleted or disabled while its attempt was in flight) is
    counted, not printed."""

    daemon_threads = True

    def handle_error(self, request, client_address):
        with self.rec.lock:
            self.rec.counts[("closed by hookd", "")] += 1


class Receivers:
    """Four HTTP/1.1 keep-alive receivers on free ports, one a kind:
    ack (200 {"ack": true}), flaky (500 for the first sixth of every
    cycle of each endpoint, then 200), dead (500) and gone (410)."""

    KINDS = ("ack", "flaky", "dead", "gone")

    def __init__(self, cycle):
        self.lock = threading.Lock()
        self.counts = collections.Counter()
        self.servers = {}
        rec = self

        for kind in self.KINDS:
            class Handler(http.server.BaseHTTPRequestHandler):
                protocol_version = "HTTP/1.1"
                k = kind

                def log_message(self, *a):
                    pass

                def _any(self):
                    n = int(self.headers.get("Content-Length") or 0)
                    if n:
                        self.rfile.read(n)
                    status, body = rec.answer(self.k, self.path, cycle)
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)

                do_POST = do_GET = _any

            srv = _Server(("127.0.0.1", 0), Handler)
            srv.rec = self
            srv.request_queue_size = 128
            threading.Thread(target=srv.serve_forever, daemon=True).start()
            self.servers[kind] = srv

    def answer(self, kind, path, cycle):
        if kind == "flaky":
            phase = (time.time() + zlib.crc32(path.encode()) % cycle) % cycle
            status = 500 if phase < cycle / 6 else 200
        else:
            status = {"ack": 200, "dead": 500, "gone": 410}[kind]
        with self.lock:
            self.counts[(kind, status)] += 1
        if status == 200:
            return 200, b'{"ack": true}'
        return status, b'{"error": "soak receiver says %d"}' % status

    def url(self, kind, path):
        return "http://127.0.0.1:%d%s" % (
            self.servers[kind].server_address[1], path)

    def close(self):
        for srv in self.servers.values():
            srv.shutdown()
            srv.server_close()


# ---------------------------------------------------------------- hookd


class Api:
    """Admin requests on one keep-alive connection (reopened after an
    error). Every answer is counted: a 5xx to a valid request is a
    failure of the run."""

    def __init__(self, soak):
        self.soak = soak
        self.conn = None

    def call(self, method, path, body=None, headers=None):
        hdrs = {"Authorization": "Bearer " + self.soak.admin}
        if body is not None:
            if not isinstance(body, bytes):
                body = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        hdrs.update(headers or {})
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(
                    "127.0.0.1", self.soak.port, timeout=30)
            try:
                self.conn.request(method, path, body=body, headers=hdrs)
                resp = self.conn.getresponse()
                raw = resp.read()
            except (OSError, http.client.HTTPException) as e:
                self.conn.close()
                self.conn = None
                # A kept-alive connection hookd closed while idle may fail
                # at the first write: once is not an error; twice is.
                if attempt == 2:
                    self.soak.error("%s %s: %s" % (method, path, e))
                    return None, None
                continue
            if resp.status >= 500:
                self.soak.bad_5xx("%s %s: %d %r" % (method, path,
                                                    resp.status, raw[:200]))
            try:
                data = json.loads(raw) if raw else None
            except ValueError:
                data = raw.decode("utf-8", "replace")
            return resp.status, data
        return None, None

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


class Soak:
    def __init__(self, s):
        self.s = s
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.admin = "adm_soak_" + os.urandom(12).hex()
        self.accepted = 0
        self.recent = collections.deque()   # (time sent, event id)
        self.lat = []                       # ms, this row
        self.counts = collections.Counter()
        self.messages = []
        self.kind = {}                      # endpoint id -> kind
        self.serial = 0
        self.proc = None
        self.log_off = self.ncompacted = 0
        self.sched = None
        self.disk_full = threading.Event()

    # -- bookkeeping

    def note(self, key, msg):
        with self.lock:
            self.counts[key] += 1
            if len(self.messages) < 20:
                self.messages.append(msg)

    def bad_5xx(self, msg):
        # hookd's 503 "disk full" means SOAK_DIR's file system filled
        # up: the run ends at the next row and says so, rather than
        # go on measuring a hookd that can take nothing.
        if "disk full" in msg:
            self.disk_full.set()
        self.note("bad_5xx", "5xx: " + msg)

    def error(self, msg):
        self.note("errors", "error: " + msg)

    # -- start

    def start(self):
        fs = fs_type(self.s.dir)
        try:
            self.tmp = tempfile.mkdtemp(prefix="hookd-soak-", dir=self.s.dir)
        except OSError as e:
            raise SystemExit("soak: cannot make a directory in SOAK_DIR %s: "
                             "%s" % (self.s.dir, e.strerror or e))
        self.data = os.path.join(self.tmp, "data")
        self.log_path = os.path.join(self.tmp, "hookd.log")
        self.recv = Receivers(self.s.cycle)
        self.port = free_port()
        conf = os.path.join(self.tmp, "soak.conf")
        with open(conf, "w") as f:
            f.write("allow_destinations 127.0.0.0/8\n"
                    "timeout 5s\n"
                    "retry_schedule 1s 2s 5s 10s\n"
                    "disable_after %ds\n"
                    "retention %ds\n" % (self.s.disable_after,
                                         self.s.retention))
        env = dict(os.environ, HOOKD_ADMIN_TOKEN=self.admin, **ASAN_SMALL)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [HOOKD, "-l", "127.0.0.1:%d" % self.port, "-d", self.data,
             "-c", conf], stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            env=env, cwd=self.tmp)
        log.close()
        deadline = time.monotonic() + 15
        while True:
            if self.proc.poll() is not None:
                raise SystemExit("soak: hookd exited %d at start; see %s"
                                 % (self.proc.returncode, self.log_path))
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port,
                                               timeout=2)
                c.request("GET", "/healthz")
                if c.getresponse().status == 200:
                    c.close()
                    break
                c.close()
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("soak: hookd did not answer /healthz "
                                 "within 15 s")
            time.sleep(0.05)
        print("soak: hookd pid %d on 127.0.0.1:%d, data %s (%s); %.0f s at "
              "%g events/s over %d connections, rows every %g s, retention "
              "%d s, disable_after %d s, POST /v1/compact every %g s"
              % (self.proc.pid, self.port, self.data, fs, self.s.total,
                 self.s.rate, self.s.producers, self.s.row,
                 self.s.retention, self.s.disable_after,
                 self.s.compact_every), flush=True)
        if fs == "tmpfs":
            print("soak: warning: %s is tmpfs, so fsync costs nothing; "
                  "set SOAK_DIR to a directory on disk" % self.s.dir,
                  flush=True)
        api = Api(self)
        self.cids = ["soak%d" % i for i in range(self.s.clients)]
        for cid in self.cids:
            st, _ = api.call("POST", "/v1/clients", {"id": cid})
            if st != 201:
                raise SystemExit("soak: POST /v1/clients answered %r" % st)
            for kind in ("all", "orders", "flaky", "dead", "gone"):
                self.register(api, cid, kind)
        api.close()
        # hookd's descriptors with no connection open: the base the end
        # is compared with once the load has stopped and every kept-alive
        # connection has timed out.
        self.idle_fds = self.quiet_fds(10)

    # -- endpoints

    EVENTS = {"all": ["*"], "orders": ["order.*"], "flaky": ["order.paid"],
              "dead": ["user.*"], "gone": ["user.deleted"]}
    RECEIVER = {"all": "ack", "orders": "ack", "flaky": "flaky",
                "dead": "dead", "gone": "gone"}

    def register(self, api, cid, kind):
        with self.lock:
            self.serial += 1
            n = self.serial
        body = {"client": cid, "events": self.EVENTS[kind],
                "url": self.recv.url(self.RECEIVER[kind],
                                     "/%s/%s-%d" % (kind, cid, n))}
        if kind == "flaky":
            body["retry_schedule"] = self.s.flaky_schedule
        if kind == "dead":
            body["retry_schedule"] = self.s.dead_schedule
        st, ep = api.call("POST", "/v1/endpoints", body)
        if st != 201:
            self.error("POST /v1/endpoints answered %r %r" % (st, ep))
            return
        with self.lock:
            self.kind[ep["id"]] = kind
            self.counts["registered"] += 1

    def delete(self, api, epid):
        st, _ = api.call("DELETE", "/v1/endpoints/" + epid)
        if st != 204:
            self.error("DELETE /v1/endpoints/%s answered %r" % (epid, st))
        with self.lock:
            self.kind[epid] = "deleted"
            self.counts["deleted"] += 1

    def churn(self):
        """Replace disabled endpoints; now and then delete an "orders" or
        a "flaky" endpoint and register a new one."""
        api = Api(self)
        rnd = random.Random(7)
        period = max(1.0, min(5.0, self.s.total / 20))
        while not self.stop.wait(period):
            for cid in self.cids:
                st, page = api.call("GET", "/v1/endpoints?client=" + cid)
                if st != 200:
                    self.error("GET /v1/endpoints answered %r" % st)
                    continue
                for ep in page["data"]:
                    if not ep["enabled"]:
                        kind = self.kind.get(ep["id"])
                        with self.lock:
                            self.counts["disabled"] += 1
                        self.delete(api, ep["id"])
                        if kind in self.EVENTS:
                            self.register(api, cid, kind)
            cid = rnd.choice(self.cids)
            kind = rnd.choice(("orders", "flaky"))
            st, page = api.call("GET", "/v1/endpoints?client=" + cid)
            if st == 200:
                mine = [ep["id"] for ep in page["data"]
                        if self.kind.get(ep["id"]) == kind]
                if mine:
                    self.register(api, cid, kind)
                    self.delete(api, mine[0])
        api.close()

    def compactor(self):
        api = Api(self)
        while not self.stop.wait(self.s.compact_every):
            st, body = api.call("POST", "/v1/compact")
            if st not in (202, 409):
                self.error("POST /v1/compact answered %r %r" % (st, body))
            with self.lock:
                self.counts["compact_%s" % st] += 1
        api.close()

    # -- load

    TYPES = ("order.paid", "order.shipped", "user.created", "user.deleted",
             "ping")

    def producer(self, idx):
        rnd = random.Random(idx)
        rate = self.s.rate / self.s.producers
        conn = None
        t0 = time.monotonic()
        i = 0
        while not self.stop.is_set():
            due = t0 + i / rate
            now = time.monotonic()
            if due > now:
                if self.stop.wait(due - now):
                    break
            i += 1
            cid = rnd.choice(self.cids)
            typ = rnd.choice(self.TYPES)
            body = json.dumps({"client": cid, "type": typ, "data": {
                "refId": "%d-%d" % (idx, i), "n": i,
                "note": "soak event %d of producer %d" % (i, idx)}}).encode()
            path = "/v1/events"
            r = rnd.random()
            if r < 0.05:
                path += "?callbackURL=" + urllib.parse.quote(
                    self.recv.url("ack", "/once/%d-%d" % (idx, i)), safe="")
            headers = {"Authorization": "Bearer " + self.admin,
                       "Content-Type": "application/json"}
            key = None
            if rnd.random() < 0.05:
                key = "soak-%d-%d" % (idx, i)
                headers["Idempotency-Key"] = key
            sends = 2 if key and rnd.random() < 0.5 else 1
            first = None
            for _ in range(sends):
                sent = time.time()
                m0 = time.monotonic()
                try:
                    if conn is None:
                        conn = http.client.HTTPConnection(
                            "127.0.0.1", self.port, timeout=30)
                    conn.request("POST", path, body=body, headers=headers)
                    resp = conn.getresponse()
                    raw = resp.read()
                except (OSError, http.client.HTTPException) as e:
                    if conn is not None:
                        conn.close()
                    conn = None
                    self.error("POST /v1/events: %s" % e)
                    break
                ms = (time.monotonic() - m0) * 1000
                if resp.status >= 500:
                    self.bad_5xx("POST /v1/events: %d %r" % (resp.status,
                                                             raw[:200]))
                    break
                if resp.status != 202:
                    self.error("POST /v1/events: %d %r" % (resp.status,
                                                           raw[:200]))
                    break
                eid = json.loads(raw)["id"]
                with self.lock:
                    self.lat.append(ms)
                    if first is None:
                        first = eid
                        self.accepted += 1
                        self.recent.append((sent, eid))
                    elif eid != first:
                        self.counts["idem_mismatch"] += 1
                    else:
                        self.counts["idem_repeats"] += 1
        if conn is not None:
            conn.close()

    # -- measurements

    def metrics(self, api):
        st, text = api.call("GET", "/metrics")
        out = {}
        if st != 200 or not isinstance(text, str):
            return out
        for line in text.splitlines():
            if line.startswith("#"):
                continue
            parts = line.rsplit(" ", 1)
            if len(parts) == 2:
                try:
                    out[parts[0]] = float(parts[1])
                except ValueError:
                    pass
        return out

    def compactions(self):
        """The "compacted" lines hookd has logged so far (reading on from
        where the last call stopped: the log grows by a line a delivery)."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self.log_off)
                text = f.read()
        except OSError:
            return self.ncompacted
        end = text.rfind(b"\n") + 1
        self.log_off += end
        self.ncompacted += len(re.findall(rb"\bmsg=compacted\b",
                                          text[:end]))
        return self.ncompacted

    def stuck(self, api):
        """Pending deliveries to endpoints that acknowledge, older than
        the stuck bound: count them (listing every pending one)."""
        n = 0
        cutoff = iso(time.time() - self.s.stuck_after)
        try:
            for d in self.walk(api, "/v1/deliveries?status=pending"):
                ep = d["endpoint"]
                kind = self.kind.get(ep) if ep else (
                    "once" if d["url"] and "/once/" in d["url"] else None)
                if kind in ("all", "orders", "flaky", "once") and \
                        d["created_at"] < cutoff:
                    n += 1
                    if n <= 3:
                        self.note("stuck_seen", "stuck: %s" % json.dumps(d))
        except ListFailed:
            return 0
        return n

    def walk(self, api, path):
        """The items of the list at path, newest or oldest
        first as it lists them, page after page (limit=1000, ?after=).
        A page answered other than 200 is noted as an error and raises
        ListFailed."""
        after = None
        while True:
            q = path + ("&" if "?" in path else "?") + "limit=1000" + (
                "&after=" + after if after else "")
            st, page = api.call("GET", q)
            if st != 200:
                self.error("GET %s answered %r" % (path, st))
                raise ListFailed(path)
            yield from page["data"]
            after = page["next"]
            if not after:
                return

    def lost(self, api):
        """Every event sent after the retention cutoff (with a margin)
        and answered 202 must be in GET /v1/events."""
        cutoff_t = time.time() - self.s.retention + 5
        with self.lock:
            want = {e for t, e in self.recent if t > cutoff_t}
        cutoff = iso(cutoff_t - 5)
        have = set()
        try:
            # Newest first: the walk ends past the cutoff.
            for e in self.walk(api, "/v1/events"):
                if e["created_at"] < cutoff:
                    break
                have.add(e["id"])
        except ListFailed:
            return len(want), len(want)
        missing = want - have
        for e in sorted(missing)[:3]:
            self.note("lost_seen", "lost: %s" % e)
        return len(missing), len(want)

    def quiet_fds(self, timeout):
        """hookd's open descriptors once they stop falling: the lowest
        seen while waiting up to timeout seconds for two samples a second
        apart to agree and be no higher than the base (the idle outbound
        connections close 30 s after their last use)."""
        pid = self.proc.pid
        low = prev = open_fds(pid)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            time.sleep(1)
            n = open_fds(pid)
            low = min(low, n)
            base = getattr(self, "idle_fds", None)
            if n == prev and (base is None or n <= base):
                break
            prev = n
        return low

    # -- the run

    def run(self):
        s = self.s
        threads = [threading.Thread(target=self.producer, args=(i,),
                                    daemon=True)
                   for i in range(s.producers)]
        threads.append(threading.Thread(target=self.churn, daemon=True))
        threads.append(threading.Thread(target=self.compactor, daemon=True))
        for t in threads:
            t.start()
        api = Api(self)
        rows = []
        crashed = None
        t_start = time.monotonic()
        last_acc = 0
        print(HEADER, flush=True)
        nrows = int(round(s.total / s.row))
        for k in range(1, nrows + 1):
            wake = t_start + k * s.row
            while time.monotonic() < wake:
                if self.proc.poll() is not None:
                    crashed = "%s during the run" % \
                        exit_how(self.proc.returncode)
                    break
                time.sleep(min(1.0, max(0.0, wake - time.monotonic())))
            if crashed:
                break
            with self.lock:
                lat, self.lat = self.lat, []
                acc = self.accepted
                horizon = time.time() - s.retention - 60
                while self.recent and self.recent[0][0] < horizon:
                    self.recent.popleft()
            m = self.metrics(api)
            pid = self.proc.pid
            self.sched = schedstat(pid) or self.sched
            try:
                row = {
                    "row": k, "minute": k * s.row / 60,
                    "events": acc, "per_s": (acc - last_acc) / s.row,
                    "delivered": m.get(
                        'hookd_deliveries_total{outcome="delivered"}', 0),
                    "pending": m.get("hookd_pending_deliveries", 0),
                    "failed": m.get(
                        'hookd_deliveries_total{outcome="failed"}', 0),
                    "rss_kb": rss_kb(pid), "hwm_kb": hwm_kb(pid),
                    "fds": open_fds(pid),
                    "journal": size(os.path.join(self.data, "journal.log")),
                    "registry": size(os.path.join(self.data,
                                                  "registry.log")),
                    "p50": pct(lat, 50), "p99": pct(lat, 99),
                    "max": max(lat) if lat else 0.0,
                    "loop_max": 1000 * m.get("hookd_loop_pass_max_seconds",
                                             0),
                    "compactions": self.compactions(),
                    "stuck": self.stuck(api),
                }
            except (OSError, AssertionError) as e:
                crashed = "its /proc entry went: %s" % e
                break
            last_acc = acc
            rows.append(row)
            print(fmt_row(row), flush=True)
            if self.disk_full.is_set():
                break
        self.stop.set()
        for t in threads:
            t.join(40)
        final = dict(self.counts)
        final["stuck"] = rows[-1]["stuck"] if rows else 0
        final["crashed"] = crashed
        final["exit"] = None
        lost = checked = 0
        if self.disk_full.is_set():
            st = os.statvfs(self.s.dir)
            final["disk_full"] = (self.s.dir, st.f_bsize * st.f_blocks)
        if not crashed and self.proc.poll() is not None:
            crashed = exit_how(self.proc.returncode)
            final["crashed"] = crashed
        elif not crashed and not self.disk_full.is_set():
            lost, checked = self.final_compaction_and_lost(api)
            api.close()
            final["idle_fds"] = (self.idle_fds, self.quiet_fds(75))
        final["lost"] = lost
        if not crashed:
            final["exit"] = self.stop_hookd()
            if final["exit"] is None:
                final["crashed"] = "did not exit within 30 s of SIGTERM"
        fails = verdict(rows, s.warm_rows, final, s.fd_row)
        final["sched"] = self.sched
        self.summary(rows, final, checked, fails)
        return 1 if fails else 0

    def final_compaction_and_lost(self, api):
        """With the load stopped: one more compaction, waited for, then
        the check that nothing 202'd within retention is gone."""
        before = self.compactions()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            st, _ = api.call("POST", "/v1/compact")
            if st == 202:
                break
            time.sleep(0.5)
        while time.monotonic() < deadline and self.compactions() <= before:
            time.sleep(0.2)
        if self.compactions() <= before:
            self.error("the final compaction did not end within 120 s")
        return self.lost(api)

    def stop_hookd(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    def summary(self, rows, final, checked, fails):
        s = self.s
        c = self.counts
        print("", flush=True)
        print("summary: %d events accepted (%d Idempotency-Key repeats "
              "answered the same id), %d endpoints registered, %d "
              "deleted, %d found disabled; receivers got %s; %d "
              "POST /v1/compact answered 202, %d 409; %d compactions"
              % (self.accepted, c["idem_repeats"], c["registered"],
                 c["deleted"], c["disabled"],
                 ", ".join("%s %s: %d" % (k[0], k[1], v) for k, v in
                           sorted(self.recv.counts.items())),
                 c["compact_202"], c["compact_409"],
                 rows[-1]["compactions"] if rows else 0))
        if rows:
            w = rows[min(s.warm_rows, len(rows)) - 1]
            idle = final.get("idle_fds") or ("-", "-")
            print("summary: fds idle before the load %s, after it %s (bound "
                  "+%d)" % (idle[0], idle[1], FD_IDLE_MARGIN))
            f = rows[min(s.fd_row or 1, len(rows)) - 1]
            print("summary: fds at row %d %d, last %d (bound +%d%s); RSS at "
                  "warm-up end (row %d) %d kB, peak after %d kB, last %d "
                  "kB (bound +%d kB +%d%%); VmHWM %d kB; journal peak %.1f "
                  "MiB" % (f["row"], f["fds"], rows[-1]["fds"], FD_MARGIN,
                           "" if s.fd_row else ", not judged: too short",
                           w["row"], w["rss_kb"],
                           max(r["rss_kb"] for r in
                               rows[min(s.warm_rows, len(rows)) - 1:]),
                           rows[-1]["rss_kb"], RSS_SLACK_KB,
                           100 * RSS_SLACK_RATIO, rows[-1]["hwm_kb"],
                           max(r["journal"] for r in rows) / MIB))
        print("summary: %d events 202'd within retention checked in GET "
              "/v1/events after a final compaction, %d missing; %d "
              "deliveries stuck; %d 5xx; %d other errors; hookd exit %r"
              % (checked, final.get("lost", 0), final.get("stuck", 0),
                 final.get("bad_5xx", 0), final.get("errors", 0),
                 final.get("exit")))
        if final.get("sched"):
            run, wait = final["sched"]
            print("summary: hookd's loop thread ran %.0f s and waited %.0f s "
                  "for a CPU (runnable, not running: /proc/PID/schedstat; "
                  "a loop pass that waited is as long as the wait), load "
                  "average at the end %s"
                  % (run, wait, open("/proc/loadavg").read().split()[0]))
        for m in self.messages:
            print("  " + m)
        if fails:
            print("VERDICT: FAIL")
            for f in fails:
                print("  - " + f)
        else:
            print("VERDICT: PASS (flat)")

    def cleanup(self, ok):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if hasattr(self, "recv"):
            self.recv.close()
        if ok and not self.s.keep and hasattr(self, "tmp"):
            shutil.rmtree(self.tmp, ignore_errors=True)


# -------------------------------------------------------------- helpers

HEADER = ("   min  events    ev/s  delivered  pending   failed  RSS_MiB  "
          "HWM_MiB  fds  journal_MiB  registry_KiB  p50_ms  p99_ms  "
          "max_ms  loop_max_ms  compactions")


def fmt_row(r):
    return ("%6.1f %7d %7.1f %10d %8d %8d %8.1f %8.1f %4d %12.1f %13.1f "
            "%7.2f %7.2f %7.1f %12.1f %12d"
            % (r["minute"], r["events"], r["per_s"], r["delivered"],
               r["pending"], r["failed"], r["rss_kb"] / 1024,
               r["hwm_kb"] / 1024, r["fds"], r["journal"] / MIB,
               r["registry"] / 1024, r["p50"], r["p99"], r["max"],
               r["loop_max"], r["compactions"]))


def exit_how(rc):
    """A Popen returncode in words: "exited with 1", "killed by SIGKILL"."""
    if rc < 0:
        try:
            return "killed by %s" % signal.Signals(-rc).name
        except ValueError:
            return "killed by signal %d" % -rc
    return "exited with %d" % rc


def pct(xs, p):
    if not xs:
        return 0.0
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p / 100))]


def hwm_kb(pid):
    """Peak resident set size in KiB, from /proc/PID/status."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def schedstat(pid):
    """(seconds on a CPU, seconds runnable but waiting for one) of a
    process's main thread, from /proc/PID/schedstat, or None."""
    try:
        with open("/proc/%d/schedstat" % pid) as f:
            run, wait = f.read().split()[:2]
        return int(run) / 1e9, int(wait) / 1e9
    except (OSError, ValueError):
        return None


def size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def iso(t):
    """A Unix time as hookd writes times (RFC 3339 UTC, milliseconds), so
    the two compare as strings."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + \
        ".%03dZ" % int((t % 1) * 1000)


def fs_type(path):
    """The file system type of the mount holding path (/proc/mounts)."""
    best, typ = "", "unknown"
    path = os.path.realpath(path)
    with open("/proc/mounts") as f:
        for line in f:
            parts = line.split()
            mnt = parts[1]
            if (path == mnt or path.startswith(mnt.rstrip("/") + "/")) and \
                    len(mnt) >= len(best):
                best, typ = mnt, parts[2]
    return typ


def main():
    s = Settings()
    soak = Soak(s)
    rc = 1
    try:
        soak.start()
        rc = soak.run()
    except KeyboardInterrupt:
        # Ctrl-C: no traceback; hookd is stopped below and its files kept.
        print("\nsoak: interrupted; VERDICT: none", flush=True)
        rc = 130
    finally:
        soak.cleanup(rc == 0)
        tmp = getattr(soak, "tmp", None)
        if tmp:
            print("soak: files %s %s" % ("kept in" if os.path.isdir(tmp)
                                        else "removed:", tmp), flush=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
