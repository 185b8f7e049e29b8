#!/usr/bin/env python3
"""workloads: drive the real ./hookd under the recorder (tests/crash/
recorder.so, LD_PRELOAD) through small workloads and keep each recording
for explore.py: OUTDIR/NAME/rec.log and OUTDIR/NAME/meta.json.

Each workload starts hookd (fsync always, the default) on a fresh data
directory with receivers of its own on free ports, does its requests
(some concurrently, so that group commit has several in flight), stops
hookd with SIGTERM and notes the real directory's files (name, size,
SHA-256) so that the explorer can refuse a recording whose model does not
rebuild them (a call the recorder missed).

Workloads:
  registry   clients, endpoints, updates, secret and token rotations,
             deletions of endpoints and of a client;
  events     events fanned out to three endpoints whose receivers answer
             200, 500 then 200, 410 and 400; an Idempotency-Key sent twice;
  compact    events posted from three threads and registry changes from a
             fourth while POST /v1/compact runs (small files) until one
             compaction copied a tail at its last step, then a last one;
  retention  retention 1s: delivered events dropped by a compaction, then
             more events.

Usage: workloads.py OUTDIR [NAME...]   (default: all)
"""

import hashlib
import json
import os
import re
import shutil
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", ".."))

from tests.integ.harness import (ALLOW_LOOPBACK, HOOKD, Hookd,  # noqa
                                 Receiver, Reply, wait_until)

RECORDER = os.path.join(HERE, "recorder.so")
CONF = ALLOW_LOOPBACK + """\
timeout 2s
retry_schedule 100ms 100ms 100ms
drain_timeout 2s
"""


def registry(h, rcv):
    h.client("acme")
    h.client("beta")
    e1 = h.endpoint("acme", rcv.url("/a1"), events=["order.paid"])
    e2 = h.endpoint("acme", rcv.url("/a2"))
    h.req(200, "PATCH", "/v1/endpoints/" + e1["id"],
          {"description": "first", "events": ["order.paid", "x.y"]})
    h.req(200, "POST", "/v1/endpoints/%s/rotate-secret" % e1["id"])
    h.req(200, "POST", "/v1/clients/acme/rotate-token")
    h.req(200, "POST", "/v1/clients/acme/rotate-secret")
    h.req(204, "DELETE", "/v1/endpoints/" + e2["id"])
    h.client("gamma")
    h.endpoint("gamma", rcv.url("/g"))
    h.req(204, "DELETE", "/v1/clients/gamma")
    h.endpoint("beta", rcv.url("/b1"))
    h.req(200, "PATCH", "/v1/endpoints/" + e1["id"], {"enabled": False})
    h.req(200, "POST", "/v1/clients/beta/rotate-token")


def events(h, rcv):
    h.client("acme")
    rcv.on("/ok", Reply(200))
    rcv.on("/flaky", Reply(500), Reply(200))
    rcv.on("/gone", Reply(410))
    rcv.on("/bad", Reply(400))
    h.endpoint("acme", rcv.url("/ok"))
    h.endpoint("acme", rcv.url("/flaky"))
    h.endpoint("acme", rcv.url("/gone"), events=["order.paid"])
    h.endpoint("acme", rcv.url("/bad"), events=["order.refunded"])
    ids = []
    lock = threading.Lock()

    def post(i):
        ev = h.event("acme", "order.paid" if i % 2 else "order.refunded",
                     {"n": i})
        with lock:
            ids.append(ev["id"])
    ts = [threading.Thread(target=post, args=(i,)) for i in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    key = {"Idempotency-Key": "order-1234"}
    first = h.event("acme", "order.paid", {"k": 1}, headers=key)
    again = h.event("acme", "order.paid", {"k": 1}, headers=key)
    assert first["id"] == again["id"], (first, again)
    ids.append(first["id"])
    wait_until(lambda: all(d["status"] != "pending"
                           for d in h.deliveries("?limit=1000")),
               timeout=30, what="every delivery ended")


# The bytes the compactions' last steps copied, from hookd's log lines.
TAIL_MIN = 1024


def tail_bytes(log):
    return sum(int(x) for x in re.findall(r"(\d+) bytes copied in it", log))


def compact(h, rcv):
    h.client("acme")
    h.client("beta")
    h.endpoint("acme", rcv.url("/c1"))
    h.endpoint("acme", rcv.url("/c2"))
    eb = h.endpoint("beta", rcv.url("/b"))
    stop = threading.Event()

    # Events and registry changes keep coming until the compactions are
    # done, so that each compaction has a tail to copy at its last step
    # (written after the fork) and registry writes answered between the
    # registry's rename and the journal's: the window a missing fsync of
    # the compacted journal or of the directory after a rename leaves.
    def ingest(n):
        i = 0
        while i < 10 or not stop.is_set():
            h.event("acme", "order.paid", {"t": n, "i": i})
            i += 1
            if i >= 10:
                time.sleep(0.02)    # few states: a trickle is enough

    def registry_changes():
        i = 0
        while not stop.is_set():
            h.req(200, "POST", "/v1/clients/beta/rotate-token")
            h.req(200, "PATCH", "/v1/endpoints/" + eb["id"],
                  {"description": "r%d" % i})
            i += 1
            time.sleep(0.02)
    ts = [threading.Thread(target=ingest, args=(n,)) for n in range(3)]
    ts.append(threading.Thread(target=registry_changes))
    for t in ts:
        t.start()
    try:
        time.sleep(0.05)
        # Until the compactions' last steps copied a few records' worth
        # of tail (events among them), at least two and at most eight.
        for n in range(1, 9):
            wait_until(lambda: h.api("POST", "/v1/compact")[0] == 202,
                       timeout=20, what="a compaction started")
            wait_until(lambda n=n: h.log().count("msg=compacted") >= n,
                       timeout=20, what="the compaction ended")
            if n >= 2 and tail_bytes(h.log()) >= TAIL_MIN:
                break
    finally:
        stop.set()
        for t in ts:
            t.join()
    # Without a tail the recording would not show those windows at all
    # (the first version of this workload never had one: its posts were
    # over before the first compaction started).
    assert tail_bytes(h.log()) >= TAIL_MIN, \
        "the compactions copied too little tail at their last step: %s" % [
            x for x in h.log().split("\n") if "msg=compacted" in x]
    wait_until(lambda: all(d["status"] != "pending"
                           for d in h.deliveries("?limit=1000")),
               timeout=30, what="every delivery ended")
    n = h.log().count("msg=compacted")
    wait_until(lambda: h.api("POST", "/v1/compact")[0] == 202,
               timeout=20, what="a last compaction started")
    wait_until(lambda: h.log().count("msg=compacted") > n, timeout=20,
               what="the compactions ended")


def retention(h, rcv):
    h.client("acme")
    h.endpoint("acme", rcv.url("/r"))
    first = [h.event("acme", "order.paid", {"i": i})["id"] for i in range(4)]
    for i in first:
        wait_until(lambda i=i: all(d["status"] == "delivered"
                                   for d in h.deliveries_of(i)),
                   timeout=20, what="delivered")
    time.sleep(1.2)
    wait_until(lambda: h.api("POST", "/v1/compact")[0] == 202,
               timeout=20, what="a compaction started")
    wait_until(lambda: h.log().count("msg=compacted") >= 1, timeout=20,
               what="the compaction ended")
    for i in range(3):
        h.event("acme", "order.paid", {"j": i})


# name: (workload, more config, more environment). The compaction's copy
# is a thread that is done in a few ms here: held 200 ms before it writes
# (HOOKD_FAULT compact_slow), it leaves the trickle time to write a tail.
WORKLOADS = {
    "registry": (registry, "", {}),
    "events": (events, "", {}),
    "compact": (compact, "", {"HOOKD_FAULT": "compact_slow=200"}),
    "retention": (retention, "retention 1s\n", {}),
}


def record(outdir, name):
    fn, extra, more_env = WORKLOADS[name]
    tmp = os.path.join(outdir, name)
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    tmp = os.path.realpath(tmp)
    data = os.path.join(tmp, "data")
    env = {"LD_PRELOAD": RECORDER, "HOOKD_REC_DIR": data,
           "HOOKD_REC_LOG": os.path.join(tmp, "rec.log")}
    env.update(more_env)
    h = Hookd(tmp, CONF + extra, env=env)
    rcv = Receiver()
    try:
        try:
            h.start()
            fn(h, rcv)
        except Exception:
            # A hookd that died under the recorder (a full CRASH_OUT, a
            # call it cannot record) says why in its log: show that, not
            # the client's traceback.
            if h.running:
                raise
            tail = h.log().strip().split("\n")[-3:]
            raise SystemExit("workload %s: hookd ended mid-way (code %s); "
                             "its log (%s) ends:\n  %s" % (
                                 name, h.proc and h.proc.returncode,
                                 h.log_path,
                                 "\n  ".join(tail)))
        h.stop()
    finally:
        if h.running:
            h.kill9()
        rcv.close()
    if not os.path.exists(os.path.join(tmp, "rec.log")):
        # The shim never loaded: a static binary (hookd-static, musl)
        # cannot be preloaded, nor can a set-uid one.
        raise SystemExit("workload %s: no recording: %s did not load %s "
                         "(the recorder needs the dynamic glibc build, "
                         "./hookd, not hookd-static)" % (name, HOOKD,
                                                         RECORDER))
    final = {}
    for f in sorted(os.listdir(data)):
        with open(os.path.join(data, f), "rb") as fh:
            b = fh.read()
        final[f] = [len(b), hashlib.sha256(b).hexdigest()]
    with open(os.path.join(tmp, "meta.json"), "w") as f:
        json.dump({"name": name, "conf": CONF + extra, "admin": h.admin,
                   "final": final}, f, indent=1)
    with open(os.path.join(tmp, "rec.log"), "rb") as f:
        n = f.read().count(b"\n")
    print("recorded %-10s %5d lines  %s" % (name, n, tmp), flush=True)
    return tmp


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    names = sys.argv[2:] or list(WORKLOADS)
    for n in names:
        if n not in WORKLOADS:
            print("unknown workload %s (%s)" % (n, " ".join(WORKLOADS)))
            return 2
        record(sys.argv[1], n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
