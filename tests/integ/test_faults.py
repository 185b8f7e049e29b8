"""Storage faults (issue 5 §6, contract §6), injected with HOOKD_FAULT
(store.c): the N-th write, fsync or rename fails with EIO, or every write
from the N-th on fails with ENOSPC until DATADIR/.enospc-clear exists.

The sweep tests run one fixed scenario of mutations once for each N, the
way SQLite tests its I/O errors, then restart hookd without faults and
check that everything acknowledged is there: nothing is acknowledged that
is not durable. A failed fsync must end hookd with a non-zero code and the
next start must recover; a full disk answers 503 to writes while
deliveries go on, and takes writes again when space returns."""

import http.client
import os
import socket
import threading
import time

from .harness import (ALLOW_LOOPBACK, BASE_CONF, Hookd, Receiver, check, eq,
                      wait_until)

FAULT_CONF = "retry_schedule 200ms 200ms 200ms 200ms 200ms 200ms\n"


def call(h, method, path, body=None):
    """(status, body), or (None, None) when hookd is gone mid-request."""
    if not h.running:
        return None, None
    try:
        status, data, _ = h.api(method, path, body, timeout=5)
        return status, data
    except (OSError, http.client.HTTPException):
        return None, None


def start_or_exit(h, timeout=10.0):
    """Start hookd; True when it serves, False when it exited at start."""
    h.start(wait=False)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if h.proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", h.port), 1).close()
            return True
        except OSError:
            time.sleep(0.05)
    raise AssertionError("hookd neither served nor exited within %.0fs"
                         % timeout)


class Acked:
    def __init__(self):
        self.clients = set()
        self.deleted = set()
        self.endpoints = {}     # id -> url
        self.events = set()
        self.routed = set()     # events acknowledged with deliveries > 0
        self.unanswered = 0     # event posts hookd died on: may exist
        self.statuses = []      # every status seen, None for "gone"


def scenario(h, rcv, a):
    """A fixed sequence of mutations, recording what hookd acknowledged.
    Stops once hookd is gone."""
    def do(method, path, body=None):
        status, data = call(h, method, path, body)
        a.statuses.append(status)
        return status, data

    def mk_client(cid):
        status, _ = do("POST", "/v1/clients", {"id": cid, "name": cid})
        if status == 201:
            a.clients.add(cid)
        return status

    def mk_endpoint(cid, path):
        url = rcv.url(path)
        status, data = do("POST", "/v1/endpoints", {"client": cid,
                                                    "url": url})
        if status == 201:
            a.endpoints[data["id"]] = url
        return status

    def mk_event(cid, n):
        status, data = do("POST", "/v1/events", {"client": cid, "type": "t",
                                                 "data": {"n": n}})
        if status == 202:
            a.events.add(data["id"])
            if data["deliveries"] > 0:
                a.routed.add(data["id"])
        elif status is None:
            a.unanswered += 1
        return status

    steps = [
        lambda: mk_client("acme"),
        lambda: mk_endpoint("acme", "/acme"),
        lambda: mk_event("acme", 1),
        lambda: mk_event("acme", 2),
        lambda: mk_client("gone"),
        lambda: delete_client("gone"),
        lambda: compact(),
        lambda: mk_client("bolt"),
        lambda: mk_endpoint("bolt", "/bolt"),
        lambda: mk_event("acme", 3),
        lambda: mk_event("bolt", 4),
    ]

    def delete_client(cid):
        # Unanswered, a delete may or may not have happened.
        a.clients.discard(cid)
        status, _ = do("DELETE", "/v1/clients/" + cid)
        if status == 204:
            a.deleted.add(cid)
        return status

    def compact():
        status, body = do("POST", "/v1/compact")
        if status == 500:
            # Refused at its start (the registry's rewrite): the answer
            # and the log say why.
            check("cannot start compaction: " in str(body) and
                  "msg=\"compaction not started\" error=" in h.log(),
                  "why the compaction did not start: %r; log: %s" % (
                      body, [x for x in h.log().splitlines()
                             if "compaction" in x]))
        if status in (200, 202):
            # Until the loop folds the copy's work in (or gives up).
            try:
                wait_until(lambda: not h.running or "compact" in h.log(),
                           5, 0.05, "compaction to end")
            except AssertionError:
                pass
        return status

    for step in steps:
        if step() is None:
            return


def verify(h, rcv, a, what):
    """hookd (restarted without faults) holds everything acknowledged."""
    problems = []
    for cid in sorted(a.clients):
        if call(h, "GET", "/v1/clients/" + cid)[0] != 200:
            problems.append("acknowledged client %s is missing" % cid)
    for cid in sorted(a.deleted):
        if call(h, "GET", "/v1/clients/" + cid)[0] != 404:
            problems.append("deleted client %s is back" % cid)
    for eid, url in sorted(a.endpoints.items()):
        status, data = call(h, "GET", "/v1/endpoints/" + eid)
        if status != 200 or data.get("url") != url:
            problems.append("acknowledged endpoint %s: %s" % (eid, status))
    for evt in sorted(a.events):
        if call(h, "GET", "/v1/events/" + evt)[0] != 200:
            problems.append("acknowledged event %s is missing" % evt)
    # An event refused with an error status was not kept either.
    status, data = call(h, "GET", "/v1/events?limit=1000")
    extra = {e["id"] for e in data["data"]} - a.events if status == 200 \
        else set()
    if status != 200 or len(extra) > a.unanswered:
        problems.append("events never acknowledged exist: %s (%d posts "
                        "unanswered)" % (sorted(extra), a.unanswered))
    if problems:
        raise AssertionError("%s: %s" % (what, "; ".join(problems)))
    # Every acknowledged event reaches its receiver (maybe before the
    # fault, maybe after the restart).
    try:
        wait_until(lambda: a.routed <= {r.headers.get("webhook-id")
                                        for r in rcv.got()}, 15, 0.1)
    except AssertionError:
        got = {r.headers.get("webhook-id") for r in rcv.got()}
        raise AssertionError("%s: acknowledged events never delivered: %s"
                             % (what, sorted(a.routed - got)))


def one_run(t, kind, n):
    """The scenario under kind=n, then a restart without it. Returns
    (row, fired); raises AssertionError on a broken promise."""
    rcv = Receiver()
    t.receivers.append(rcv)
    what = "%s=%d" % (kind, n)
    h = Hookd(t.tmp, BASE_CONF + ALLOW_LOOPBACK + FAULT_CONF,
              name="%s%d" % (kind, n), env={"HOOKD_FAULT": what})
    t.hookds.append(h)
    a = Acked()
    started = start_or_exit(h)
    if started:
        scenario(h, rcv, a)
    if h.running:
        try:
            h.stop(expect=None)
        except AssertionError:
            # It may exit by itself between the check and the signal: a
            # lazy sync of an attempt outcome can hit the fault late.
            if h.running:
                raise
    log = h.log()
    rc = h.proc.returncode
    # Gone mid-scenario, or failed at the final commit of the drain.
    exited = (not started or any(s is None for s in a.statuses) or
              (rc != 0 and "fsync failed" in log))
    errors = [line for line in log.splitlines() if "level=error" in line]
    if kind == "fsync" and exited:
        check(rc not in (0, None), "%s: hookd gone with exit code %r"
              % (what, rc))
        check("fsync" in log, "%s: hookd exited without saying why: %s"
              % (what, log[-500:]))
    if kind == "fsync" and not exited:
        # Only an fsync of a file being abandoned (a compaction's new
        # file, before its rename) may fail without ending hookd.
        check(not errors or "compaction" in "".join(errors),
              "%s: an fsync failed and hookd carried on: %s"
              % (what, errors))
    if not exited and rc != 0:
        raise AssertionError("%s: exit code %d on SIGTERM" % (what, rc))
    # The next start, without the fault, recovers everything.
    h.extra_env = {}
    check(start_or_exit(h), "%s: hookd did not start again after the "
          "fault: %s" % (what, h.log()[-800:]))
    verify(h, rcv, a, what)
    h.stop()
    rcv.close()
    row = "%d:%s%s" % (n, "exit%d" % rc if exited else "ran",
                       "/%d-errors" % len(errors) if errors and not exited
                       else "")
    fired = bool(exited or errors or any(s is not None and s >= 500
                                         for s in a.statuses))
    return row, fired


def sweep(t, kind, limit, batch=6):
    """Run the scenario with the kind=N fault for N = 1.. until a run is
    clean (the N-th operation lies beyond the scenario) or N = limit.
    Runs are independent, so a batch of them goes at once."""
    rows = []
    for first in range(1, limit + 1, batch):
        ns = list(range(first, min(first + batch, limit + 1)))
        out = {}

        def run(n):
            try:
                out[n] = one_run(t, kind, n)
            except BaseException as e:  # noqa: BLE001 - reported below
                out[n] = e
        threads = [threading.Thread(target=run, args=(n,), daemon=True)
                   for n in ns]
        for th in threads:
            th.start()
        for th in threads:
            th.join(90)
        for n in ns:
            r = out.get(n, AssertionError("%s=%d: did not finish" % (kind,
                                                                     n)))
            if isinstance(r, BaseException):
                raise r
        rows += [out[n][0] for n in ns]
        if any(not out[n][1] for n in ns):
            break
    t.note("%s sweep: %s" % (kind, " ".join(rows)))
    return rows


def test_fsync_fault_sweep(t):
    rows = sweep(t, "fsync", 40)
    exits = sum(1 for r in rows if ":exit" in r)
    check(exits >= 3, "only %d of %d fsync faults ended hookd: %s"
          % (exits, len(rows), rows))


def test_write_fault_sweep(t):
    rows = sweep(t, "write", 40)
    check(any("ran/" in r for r in rows) or len(rows) > 5,
          "write faults never fired: %s" % rows)


def test_rename_fault_sweep(t):
    rows = sweep(t, "rename", 6)
    check(any("errors" in r for r in rows), "no rename fault was noticed "
          "(compaction renames its files): %s" % rows)


def test_fsync_failure_is_fatal_and_never_acknowledged(t):
    # The simplest form: fsync fails on the first event; hookd must not
    # answer 202 for it, must exit non-zero, and must start again.
    rcv = t.receiver()
    h = t.hookd(FAULT_CONF)
    h.client("acme")
    h.endpoint("acme", rcv.url("/cb"))
    h.stop()
    h.extra_env = {"HOOKD_FAULT": "fsync=1"}
    check(start_or_exit(h), "hookd did not start (no write needs an fsync "
          "at the start of an existing store)")
    status, data = call(h, "POST", "/v1/events",
                        {"client": "acme", "type": "t", "data": {}})
    check(status is None or status >= 500, "an event whose fsync failed "
          "was answered %r %r" % (status, data))
    wait_until(lambda: not h.running, 5, what="hookd to exit")
    rc = h.proc.returncode
    check(rc != 0, "exit code %d after a failed fsync" % rc)
    check("fsync failed" in h.log(), "no 'fsync failed' in the log")
    # The store hands an event to the engine only once it is durable: no
    # receiver may hear of the event whose 202 was withheld.
    eq(len(rcv.got("/cb")), 0, "deliveries of the event whose fsync failed")
    h.extra_env = {}
    h.start()
    evt = h.event(data={"after": 1})
    h.wait_all(evt["id"], n=1)
    t.note("fsync=1 on an event: answer %r, exit code %d" % (status, rc))


def test_disk_full_503_deliveries_go_on_then_recovers(t):
    rcv = t.receiver()
    # Retries every 200 ms for a while: pending deliveries at the moment the
    # disk fills keep being attempted.
    h = t.hookd(FAULT_CONF.replace("200ms " * 6, "200ms " * 40),
                start=False, env={"HOOKD_FAULT": "enospc=30"})
    h.start()
    h.client("acme")
    h.endpoint("acme", rcv.url("/cb"))
    rcv.on("/cb", 503)
    acked = []
    full_status = None
    for i in range(60):
        status, data = call(h, "POST", "/v1/events",
                            {"client": "acme", "type": "t",
                             "data": {"i": i}})
        if status == 202:
            acked.append(data["id"])
            continue
        full_status = (status, data)
        break
    check(full_status is not None, "60 events and the disk never filled")
    eq(full_status[0], 503, "answer to an event on a full disk (%r)"
       % (full_status,))
    check(acked, "the disk was full before any event")
    # Writes of every kind answer 503; reads still work.
    eq(call(h, "POST", "/v1/clients", {"id": "late", "name": "x"})[0], 503,
       "POST /v1/clients on a full disk")
    eq(call(h, "POST", "/v1/events", {"client": "acme", "type": "t",
                                      "data": {}})[0], 503,
       "another event on a full disk")
    eq(call(h, "GET", "/healthz")[0], 503, "/healthz on a full disk")
    eq(call(h, "GET", "/v1/events/" + acked[0])[0], 200, "GET on a full disk")
    # Deliveries go on: the receiver recovers while the disk is still full,
    # and every acknowledged event reaches it.
    switched = time.monotonic()
    rcv.on("/cb", 200)
    wait_until(lambda: set(acked) <= {r.headers["webhook-id"] for r in
                                      rcv.got() if r.at > switched},
               15, 0.1, "acknowledged events delivered during the full disk")
    check(h.running, "hookd exited on a full disk")
    eq(call(h, "GET", "/healthz")[0], 503, "/healthz still full")
    # Space returns: /healthz says so before any write has been tried (a
    # balancer that heeds it would otherwise never send one), and writes
    # are taken again.
    open(os.path.join(h.data, ".enospc-clear"), "w").close()
    wait_until(lambda: call(h, "GET", "/healthz")[0] == 200, 5,
               what="/healthz 200 once space returned, with no write")
    status, data = call(h, "POST", "/v1/events", {"client": "acme",
                                                  "type": "t",
                                                  "data": {"after": 1}})
    eq(status, 202, "an event once space returned (%r)" % (data,))
    acked.append(data["id"])
    eq(call(h, "POST", "/v1/clients", {"id": "late", "name": "x"})[0], 201,
       "POST /v1/clients once space returned")
    # Nothing answered 503 was kept; everything answered 202 was.
    received = {r.headers["webhook-id"] for r in rcv.got()}
    h.restart(kill=True)
    events = h.req(200, "GET", "/v1/events?limit=1000")["data"]
    eq(sorted(e["id"] for e in events), sorted(acked),
       "events after a restart (the 202s and nothing else)")
    check(received <= set(acked), "the receiver got events that were "
          "answered 503: %s" % sorted(received - set(acked)))
    for e in acked:
        h.wait_all(e, n=1)
    t.note("disk full after %d events: writes 503, %d pending deliveries "
           "delivered meanwhile" % (len(acked) - 1, len(acked) - 1))
