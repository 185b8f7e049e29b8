"""A fresh tester's hostile checks of the batched journal (issue 12) and
the indexes (issue 20): a client id taken again after its records are
gone, Idempotency-Keys near their 24 h window in a written journal,
filters the table cannot hold, kill -9 during a compaction's catch-up
under ingest, and a DELETE of an endpoint with a long queue while events
keep coming."""

import hashlib
import http.client
import json
import os
import socket
import struct
import threading
import time
import urllib.parse
import zlib

from .harness import check, eq, wait_until


def hole():
    """A listener that never answers: deliveries to it stay pending."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(4096)
    return s, "http://127.0.0.1:%d/hole" % s.getsockname()[1]


def pages(h, path, limit=1000, token="admin"):
    out, after = [], None
    for _ in range(10000):
        q = {"limit": str(limit)}
        if after is not None:
            q["after"] = after
        sep = "&" if "?" in path else "?"
        body = h.req(200, "GET", path + sep + urllib.parse.urlencode(q),
                     token=token)
        out.extend(body["data"])
        if body["next"] is None:
            return out
        after = body["next"]
    raise AssertionError("%s: no end of pages" % path)


def ids(items):
    return [x["id"] for x in items]


def record(obj):
    """One journal or registry line: CRC-32 of the JSON, a space, it."""
    js = json.dumps(obj, separators=(",", ":"))
    return "%08x %s\n" % (zlib.crc32(js.encode()), js)


def compactions(h):
    return h.log().count("msg=compacted")


def compact(h):
    seen = compactions(h)
    h.req(202, "POST", "/v1/compact")
    wait_until(lambda: compactions(h) > seen, 60, 0.1, "the compaction")


def test_client_id_taken_again(t):
    """A client deleted, its events compacted away, its id taken by a new
    client: the old tokens fail, the new one works, and every list by
    that client id holds only the new client's records, live and after a
    restart."""
    h = t.hookd("retention 0s\nretry_schedule 50ms\n")
    rcv = t.receiver()
    old = h.client("acme")
    h.client("bolt")
    h.endpoint("acme", rcv.url("/a"), events=["order.*"])
    for i in range(5):
        h.event("acme", "order.paid", data={"i": i})
    wait_until(lambda: len(h.deliveries("?status=delivered")) == 5, 30,
               what="the old client's deliveries")
    h.req(204, "DELETE", "/v1/clients/acme")
    eq(h.api("GET", "/v1/endpoints", token=old["token"])[0], 401,
       "a deleted client's token")
    eq(h.api("POST", "/v1/clients", {"id": "acme", "name": "x"})[0], 409,
       "the id while its events remain")
    compact(h)
    eq(pages(h, "/v1/events?client=acme"), [], "events after compaction")
    new = h.client("acme")
    eq(h.api("GET", "/v1/endpoints", token=old["token"])[0], 401,
       "the old token against the new client")
    eq(h.api("GET", "/v1/endpoints", token=new["token"])[0], 200,
       "the new token")
    ep = h.endpoint("acme", rcv.url("/b"))
    evs = [h.event("acme", "user.created", data={"n": i})["id"]
           for i in range(3)]
    for rnd in ("live", "after a restart"):
        if rnd != "live":
            h.restart()
        for tok in ("admin", new["token"]):
            eq(sorted(ids(pages(h, "/v1/events?client=acme", token=tok))),
               sorted(evs), "%s: events of the new acme" % rnd)
            got = pages(h, "/v1/deliveries?client=acme", token=tok)
            eq(sorted(d["event"] for d in got), sorted(evs),
               "%s: deliveries of the new acme" % rnd)
            eq(set(d["endpoint"] for d in got), {ep["id"]},
               "%s: to the new endpoint" % rnd)
            eq(ids(pages(h, "/v1/events?client=acme&type=order.paid",
                         token=tok)), [], "%s: old type" % rnd)


def test_idempotency_window_from_journal(t):
    """Idempotency-Keys written 25 h ago are gone (a new event, and the
    client id free again), 23 h ago still answer and hold a deleted
    client's id, whatever their order in the journal; a key in a written
    journal with another body is 422."""
    h = t.hookd()
    h.client("acme")
    h.client("gone")
    h.req(204, "DELETE", "/v1/clients/gone")
    h.client("held")
    h.req(204, "DELETE", "/v1/clients/held")
    h.stop()
    now = int(time.time() * 1000)
    hr = 3600 * 1000
    body = json.dumps({"client": "acme", "type": "t", "data": {}})
    # As api_idem_key hashes it: the lengths (native 64-bit), the body.
    req = hashlib.sha256(struct.pack("=QQ", len(body), 0) +
                         body.encode()).hexdigest()
    lines = []
    # Out of time order on purpose: young, old, young, old.
    for i, age in enumerate([23, 25, 1, 30, 23.5, 24.01]):
        ans = json.dumps({"id": "evt_%016x" % (0xff00 + i),
                          "deliveries": 0})
        lines.append(record({"t": "idem", "client": "acme",
                             "key": "k%d" % i, "req_sha256": req,
                             "status": 202, "body": ans,
                             "at": now - int(age * hr)}))
    lines.append(record({"t": "idem", "client": "gone", "key": "g",
                         "status": 202, "body": "{}",
                         "at": now - 25 * hr}))
    for age in (30, 23, 26):
        lines.append(record({"t": "idem", "client": "held", "key": "h%d"
                             % age, "status": 202, "body": "{}",
                             "at": now - age * hr}))
    with open(os.path.join(h.data, "journal.log"), "a") as f:
        f.write("".join(lines))
    h.start()
    hdr = {"Idempotency-Key": None}
    for i, age in enumerate([23, 25, 1, 30, 23.5, 24.01]):
        hdr["Idempotency-Key"] = "k%d" % i
        st, got, _ = h.api("POST", "/v1/events", body, headers=hdr)
        eq(st, 202, "k%d status" % i)
        if age < 24:
            eq(got["id"], "evt_%016x" % (0xff00 + i), "k%d replayed" % i)
            other = json.dumps({"client": "acme", "type": "u", "data": {}})
            eq(h.api("POST", "/v1/events", other, headers=hdr)[0], 422,
               "k%d with another body" % i)
        else:
            check(got["id"] != "evt_%016x" % (0xff00 + i),
                  "k%d (%s h old) answered again" % (i, age))
    eq(h.api("POST", "/v1/clients", {"id": "gone", "name": "G"})[0], 201,
       "a client id held only by an expired key")
    eq(h.api("POST", "/v1/clients", {"id": "held", "name": "H"})[0], 409,
       "a client id with a key 23 h old among older ones")


def test_long_prefix_filter_from_registry(t):
    """A prefix filter longer than the table holds (a registry written by
    hand; no type is that long, so it matches nothing): the client's
    other filters still match, and after a PATCH or a DELETE too."""
    sock, hurl = hole()
    try:
        h = t.hookd("timeout 1h\n")
        h.client("acme")
        long_ = "x" * 200
        e1 = h.endpoint("acme", hurl + "/1", events=["order.*"])
        e2 = h.endpoint("acme", hurl + "/2", events=["zzz"])
        h.stop()
        path = os.path.join(h.data, "registry.log")
        with open(path) as f:
            lines = f.read().splitlines(True)
        out = []
        for ln in lines:
            obj = json.loads(ln.split(" ", 1)[1])
            if obj.get("t") == "endpoint" and obj.get("id") == e2["id"]:
                obj["events"] = [long_ + "*", "zzz"]
                ln = record(obj)
            out.append(ln)
        with open(path, "w") as f:
            f.write("".join(out))
        h.start()
        eq(h.event("acme", "x" * 128, data={})["deliveries"], 0,
           "a 128-byte type")
        eq(h.event("acme", "zzz", data={})["deliveries"], 1, "zzz")
        eq(h.event("acme", "order.paid", data={})["deliveries"], 1,
           "order.* beside it")
        h.req(200, "PATCH", "/v1/endpoints/" + e2["id"],
              {"events": ["order.paid"]})
        eq(h.event("acme", "order.paid", data={})["deliveries"], 2,
           "both after the PATCH")
        eq(h.event("acme", "zzz", data={})["deliveries"], 0, "zzz gone")
        h.req(204, "DELETE", "/v1/endpoints/" + e1["id"])
        eq(h.event("acme", "order.paid", data={})["deliveries"], 1,
           "after the DELETE")
        eq(h.event("acme", "order.x", data={})["deliveries"], 0,
           "order.x after the DELETE")
    finally:
        sock.close()


class Poster:
    """Threads posting events on kept-alive connections until stopped;
    every id answered 202 is kept, every other answer counted."""

    def __init__(self, h, n=4, client="acme", type_="order.paid",
                 pad=1500):
        self.h, self.ids, self.other = h, [], []
        self.stopping = threading.Event()
        self.body = json.dumps({"client": client, "type": type_,
                                "data": {"pad": "p" * pad}})
        self.threads = [threading.Thread(target=self.run, daemon=True)
                        for _ in range(n)]
        for th in self.threads:
            th.start()

    def run(self):
        hdrs = {"Authorization": "Bearer " + self.h.admin,
                "Content-Type": "application/json"}
        conn = None
        while not self.stopping.is_set():
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(
                        "127.0.0.1", self.h.port, timeout=10)
                conn.request("POST", "/v1/events", self.body, hdrs)
                r = conn.getresponse()
                data = r.read()
                if r.status == 202:
                    self.ids.append(json.loads(data)["id"])
                else:
                    self.other.append(r.status)
            except (OSError, http.client.HTTPException):
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(0.02)

    def stop(self):
        self.stopping.set()
        for th in self.threads:
            th.join(15)


def test_kill9_during_compaction_under_ingest(t):
    """Events posted on four connections, a compaction started and hookd
    killed with SIGKILL at once or a little later, eight times: after each
    restart every event answered 202 is there with its deliveries, once."""
    sock, hurl = hole()
    poster = None
    try:
        h = t.hookd("timeout 1h\n")
        rcv = t.receiver()
        h.client("acme")
        h.endpoint("acme", hurl)
        h.endpoint("acme", rcv.url("/ok"))
        acked = set()
        for rnd in range(8):
            poster = Poster(h)
            wait_until(lambda: len(poster.ids) > 300, 60, 0.05,
                       "events posted")
            h.api("POST", "/v1/compact")
            time.sleep((rnd % 4) * 0.05)
            h.kill9()
            poster.stop()
            acked.update(poster.ids)
            poster = None
            h.start()
        poster = None
        have = {e["id"] for e in pages(h, "/v1/events")}
        eq(sorted(acked - have), [], "acknowledged events missing")
        dl = pages(h, "/v1/deliveries")
        per = {}
        for d in dl:
            per.setdefault(d["event"], []).append(d["endpoint"])
        bad = [e for e in acked if len(per.get(e, [])) != 2 or
               len(set(per[e])) != 2]
        eq(bad[:5], [], "events without exactly their two deliveries")
        t.note("%d events acknowledged" % len(acked))
    finally:
        if poster is not None:
            poster.stop()
        sock.close()


def test_faults_under_concurrent_posts(t):
    """HOOKD_FAULT write=N, fsync=N and enospc=N while eight connections
    post events: after a restart without faults every event answered 202
    is there; a failed write or fsync ends hookd with 1."""
    sock, hurl = hole()
    try:
        for fault in ("write=%d", "fsync=%d", "enospc=%d"):
            for n in (3, 17):
                h = t.hookd("timeout 1h\n", start=False)
                h.start()
                h.client("acme")
                h.endpoint("acme", hurl)
                h.stop()
                h.extra_env = {"HOOKD_FAULT": fault % n}
                h.start()
                p = Poster(h, n=8, pad=200)
                try:
                    wait_until(lambda: not h.running or
                               len(p.ids) + len(p.other) > 200, 60, 0.05,
                               "posts")
                finally:
                    p.stop()
                what = fault % n
                if h.running:
                    check(not fault.startswith("fsync"),
                          "%s: hookd still running" % what)
                    h.stop(expect=None)
                else:
                    eq(h.proc.returncode, 1, "%s: exit code" % what)
                h.extra_env = {}
                h.start()
                have = {e["id"] for e in pages(h, "/v1/events")}
                eq(sorted(set(p.ids) - have), [],
                   "%s: acknowledged events missing" % what)
                if fault.startswith("enospc"):
                    check(set(p.other) <= {503}, "%s: answers %r"
                          % (what, sorted(set(p.other))))
                h.stop()
    finally:
        sock.close()


def test_delete_endpoint_with_queue_during_ingest(t):
    """An endpoint with 20,000 queued deliveries is deleted while four
    connections post events that match it and another: the DELETE is 204,
    every post is 202, each of its deliveries ends failed (endpoint
    deleted) and the other endpoint's stay pending; the lists by status
    and endpoint agree, after a restart too."""
    sock, hurl = hole()
    p = None
    try:
        h = t.hookd("timeout 1h\nmax_outbound 1\nfsync never\n")
        h.client("acme")
        a = h.endpoint("acme", hurl + "/a")
        b = h.endpoint("acme", hurl + "/b")
        p = Poster(h, n=4, pad=10)
        wait_until(lambda: len(p.ids) >= 20000, 120, 0.1, "20k events")
        st = h.api("DELETE", "/v1/endpoints/" + a["id"], timeout=60)[0]
        eq(st, 204, "DELETE")
        eq(h.api("GET", "/healthz", token=None)[0], 200, "healthz")
        n = len(p.ids)
        wait_until(lambda: len(p.ids) > n + 100, 60, 0.05, "posts after")
        p.stop()
        eq(p.other, [], "answers other than 202")
        for rnd in ("live", "after a restart"):
            if rnd != "live":
                h.restart()
            dl = pages(h, "/v1/deliveries")
            ofb = [d["id"] for d in dl if d["endpoint"] == b["id"]]
            eq(len(ofb), len(p.ids), "%s: b's deliveries" % rnd)
            eq(ids(pages(h, "/v1/deliveries?endpoint=" + b["id"])), ofb,
               "%s: ?endpoint=b" % rnd)
            pend = [d["id"] for d in dl if d["status"] == "pending"]
            eq(pend, ofb, "%s: pending are b's" % rnd)
            eq(ids(pages(h, "/v1/deliveries?status=pending")), pend,
               "%s: ?status=pending" % rnd)
            failed = [d for d in dl if d["status"] == "failed"]
            eq(ids(pages(h, "/v1/deliveries?status=failed")), ids(failed),
               "%s: ?status=failed" % rnd)
            check(len(failed) >= 20000 and all(d["endpoint"] is None
                                               for d in failed),
                  "%s: %d failed" % (rnd, len(failed)))
    finally:
        if p is not None:
            p.stop()
        sock.close()


def write_store(data_dir, nev, hole_url):
    """A data directory of nev small delivered events of client acme with
    one endpoint (hole_url), written as a journal: a compaction of it takes
    long enough for events posted meanwhile to need catch-up rounds."""
    os.makedirs(data_dir, mode=0o700)
    now = int(time.time() * 1000) - 3600 * 1000
    ep = (now - 1000) << 16
    with open(os.path.join(data_dir, "registry.log"), "w") as f:
        f.write(record({"t": "client", "id": "acme", "name": "acme",
                        "token_sha256": hashlib.sha256(b"x").hexdigest(),
                        "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                        "created": now - 2000, "updated": now - 2000}))
        f.write(record({"t": "endpoint", "id": "ep_%016x" % ep,
                        "client": "acme", "url": hole_url,
                        "method": "POST", "events": ["*"], "headers": None,
                        "description": None,
                        "secret": "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
                        "prev_secret": "", "prev_until": 0, "enabled": True,
                        "created": now - 1000, "updated": now - 1000}))
    out = []
    for i in range(nev):
        at = now + i // 1000
        eid = (at << 16) | (i % 1000) * 2
        ev = ('{"t":"event","id":"evt_%016x","client":"acme","type":"t",'
              '"at":%d,"dlv":[["dlv_%016x","ep_%016x"]],"data_s":"{}"}'
              % (eid, at, eid + 1, ep))
        att = ('{"t":"attempt","d":"dlv_%016x","prev":-1,"n":1,"at":%d,'
               '"status":200,"error":null,"ms":1,"body":"ok",'
               '"state":"delivered","next":0}' % (eid + 1, at))
        for j in (ev, att):
            out.append("%08x %s\n" % (zlib.crc32(j.encode()), j))
    with open(os.path.join(data_dir, "journal.log"), "w") as f:
        f.write("".join(out))


def test_kill9_during_catchup_rounds(t):
    """A compaction of 150,000 events while eight connections post events
    (so the catch-up runs in rounds), hookd killed at moments spread over
    it, six times, and once let finish: after each restart hookd starts,
    and every event answered 202 is there with its one delivery."""
    sock, hurl = hole()
    p = None
    try:
        h = t.hookd("timeout 1h\n", start=False)
        write_store(h.data, 150000, hurl)
        h.start()
        acked = set()
        for rnd in range(7):
            p = Poster(h, n=8)
            wait_until(lambda: len(p.ids) > 200, 60, 0.05, "posts")
            seen = compactions(h)
            h.req(202, "POST", "/v1/compact")
            if rnd < 6:
                time.sleep(0.15 * (rnd + 1))
                h.kill9()
            else:
                wait_until(lambda: compactions(h) > seen, 120, 0.1,
                           "the compaction")
            p.stop()
            acked.update(p.ids)
            p = None
            if rnd < 6:
                h.start()
        check(" 0 rounds off the loop" not in h.log().split(
            "msg=compacted")[-1].split("\n")[0], "no catch-up rounds: %s"
              % h.log().split("msg=compacted")[-1].split("\n")[0])
        h.restart()
        have = {e["id"] for e in pages(h, "/v1/events")}
        eq(sorted(acked - have), [], "acknowledged events missing")
        # A post in flight at a kill may be there unacknowledged: at
        # most one per connection each time.
        extra = len(have) - 150000 - len(acked)
        check(0 <= extra <= 8 * 6, "%d events beyond those acked" % extra)
        dl = pages(h, "/v1/deliveries?status=pending")
        eq(len(dl), len(acked) + extra, "pending deliveries")
        eq(set(d["event"] for d in dl) & acked, acked,
           "one pending delivery per posted event")
        t.note("%d events acknowledged; %s" % (len(acked), h.log().split(
            "msg=compacted")[-1].split("\n")[0]))
    finally:
        if p is not None:
            p.stop()
        sock.close()


def test_removals_with_attempts_in_flight(t):
    """Slow receivers, few outbound slots and a per-client cap, so
    deliveries wait in the engine's lists and some are in flight: one
    endpoint deleted, one disabled, one client deleted, while another
    client's events keep coming. hookd keeps answering, nothing of the
    removed ones stays pending, and the other client gets every event."""
    h = t.hookd("max_outbound 4\nmax_inflight_per_client 2\ntimeout 5s\n"
                "retry_schedule 100ms 100ms\n")
    slow, fast = t.receiver(), t.receiver()
    from .harness import Reply
    for path in ("/a", "/b", "/c", "/d"):
        slow.on(path, *[Reply(200, delay=0.3)] * 400)
    h.client("acme")
    h.client("bolt")
    eps = [h.endpoint("acme", slow.url(p)) for p in ("/a", "/b", "/c")]
    h.endpoint("acme", slow.url("/d"), events=["x"])
    fb = h.endpoint("bolt", fast.url("/bolt"))
    for i in range(100):
        h.event("acme", "t", data={"i": i},
                callback=slow.url("/d") if i % 10 == 0 else None)
    p = Poster(h, n=2, client="bolt", pad=10)
    try:
        wait_until(lambda: len(slow.got()) >= 6, 30, 0.05, "attempts")
        h.req(204, "DELETE", "/v1/endpoints/" + eps[0]["id"])
        h.req(200, "PATCH", "/v1/endpoints/" + eps[1]["id"],
              {"enabled": False})
        eq(h.api("GET", "/healthz", token=None)[0], 200, "healthz")
        h.req(204, "DELETE", "/v1/clients/acme")
        n = len(p.ids)
        wait_until(lambda: len(p.ids) > n + 200, 60, 0.05, "bolt's posts")
    finally:
        p.stop()
    eq(p.other, [], "answers other than 202 to bolt's posts")

    def settled():
        dl = pages(h, "/v1/deliveries?status=pending")
        return not dl or None
    wait_until(settled, 60, 0.2, "no delivery pending")
    dl = pages(h, "/v1/deliveries?client=bolt")
    eq(len(dl), len(p.ids), "bolt's deliveries")
    check(all(d["status"] == "delivered" for d in dl), "bolt's delivered")
    eq(len(fast.got()), len(p.ids), "bolt's receiver got each once")
    h.restart()
    eq(pages(h, "/v1/deliveries?status=pending"), [], "none pending after"
       " a restart")
    check(fb["id"], "")


def test_attempt_logs_across_catchup(t):
    """Deliveries retried every 50 ms while a compaction of 150,000 events
    runs (events posted meanwhile, so its catch-up has work): once all
    have failed, each delivery's log holds exactly its attempts, newest
    first, every one the receiver's 500, and reads the same after a
    restart."""
    sock, hurl = hole()
    p = None
    try:
        h = t.hookd("timeout 1h\nretry_schedule " + "50ms " * 11 + "\n",
                    start=False)
        write_store(h.data, 150000, hurl)
        h.start()
        rcv = t.receiver()
        rcv.on("/fail", *[500] * 100000)
        ep = h.endpoint("acme", rcv.url("/fail"), events=["r"])
        evs = [h.event("acme", "r", data={"i": i})["id"] for i in range(40)]
        p = Poster(h, n=4, type_="r", pad=300)
        seen = compactions(h)
        h.req(202, "POST", "/v1/compact")
        time.sleep(0.3)
        evs += [h.event("acme", "r", data={"i": i})["id"]
                for i in range(40)]
        wait_until(lambda: compactions(h) > seen, 120, 0.1, "compaction")
        p.stop()
        evs += p.ids
        t.note(h.log().split("msg=compacted")[-1].split("\n")[0])

        def done():
            return not pages(h, "/v1/deliveries?status=pending&endpoint="
                             + ep["id"]) or None
        wait_until(done, 120, 0.2, "every delivery to /fail failed")

        def view():
            out = {}
            for d in pages(h, "/v1/deliveries?endpoint=" + ep["id"]):
                full = h.delivery(d["id"])
                log = full["log"]
                eq(len(log), full["attempts"], "%s: log entries"
                   % d["id"])
                check(all(a["status"] == 500 for a in log),
                      "%s: log %r" % (d["id"], log))
                ats = [a["at"] for a in log]
                check(ats == sorted(ats, reverse=True) or
                      ats == sorted(ats), "%s: order %r" % (d["id"], ats))
                out[d["id"]] = log
            return out
        before = view()
        check(len(before) >= len(evs), "%d deliveries" % len(before))
        h.restart()
        eq(view(), before, "logs after a restart")
    finally:
        if p is not None:
            p.stop()
        sock.close()


def test_endpoint_lists_by_client(t):
    """GET /v1/endpoints with a client token or ?client= (walked through
    the client's own list) equals the full list's subset, page by page and
    after any cursor, with endpoints of three clients interleaved, some
    patched, some deleted, a client deleted and its id taken again, after
    a restart too; a duplicate URL and max_endpoints_per_client count only
    the client's own endpoints."""
    h = t.hookd("max_endpoints_per_client 6\n")
    toks = {c: h.client(c)["token"] for c in ("acme", "bolt", "zeta")}
    eps = []
    for i in range(5):
        for c in ("acme", "bolt", "zeta"):
            eps.append(h.endpoint(c, "http://127.0.0.1:9/%s/%d" % (c, i)))
    h.req(200, "PATCH", "/v1/endpoints/" + eps[1]["id"],
          {"events": ["x.*"], "enabled": False})
    h.req(204, "DELETE", "/v1/endpoints/" + eps[3]["id"])
    h.req(204, "DELETE", "/v1/endpoints/" + eps[7]["id"])
    h.req(204, "DELETE", "/v1/clients/zeta")
    toks["zeta"] = h.client("zeta")["token"]
    h.endpoint("zeta", "http://127.0.0.1:9/zeta/new")
    # The same URL in another form is a duplicate within a client only.
    st, body, _ = h.api("POST", "/v1/endpoints", {
        "client": "acme", "url": "HTTP://127.0.0.1:9/acme/0"})
    eq(st, 409, "a duplicate of acme's endpoint")
    eq(body["id"], eps[0]["id"], "the duplicate named")
    h.endpoint("bolt", "http://127.0.0.1:9/acme/0")
    # acme has 4 (one deleted): two more fit, then 422.
    h.endpoint("acme", "http://127.0.0.1:9/acme/5")
    h.endpoint("acme", "http://127.0.0.1:9/acme/6")
    eq(h.api("POST", "/v1/endpoints", {
        "client": "acme", "url": "http://127.0.0.1:9/acme/7"})[0], 422,
       "past max_endpoints_per_client")
    for rnd in ("live", "after a restart"):
        if rnd != "live":
            h.restart()
        full = pages(h, "/v1/endpoints")
        cursors = [e["id"] for e in full] + [eps[3]["id"],
                                              "ep_0000000000000001",
                                              "ep_ffffffffffffffff"]
        for c in ("acme", "bolt", "zeta", "nobody"):
            want = [e for e in full if e["client"] == c]
            for limit in (1, 2, 1000):
                eq(ids(pages(h, "/v1/endpoints?client=" + c, limit)),
                   ids(want), "%s: ?client=%s limit %d" % (rnd, c, limit))
                if c in toks:
                    eq(ids(pages(h, "/v1/endpoints", limit,
                                 token=toks[c])), ids(want),
                       "%s: %s's token, limit %d" % (rnd, c, limit))
            for cur in cursors:
                got = h.req(200, "GET", "/v1/endpoints?limit=1000&client="
                            + c + "&after=" + cur)
                eq(ids(got["data"]), [x for x in ids(want) if x > cur],
                   "%s: ?client=%s after %s" % (rnd, c, cur))
            if c in toks:
                got = h.req(200, "GET", "/v1/endpoints?client=acme",
                            token=toks[c])
                eq(ids(got["data"]), ids(want) if c == "acme" else [],
                   "%s: %s's token with ?client=acme" % (rnd, c))


def test_compaction_rename_fault_under_ingest(t):
    """HOOKD_FAULT rename=1 and rename=2 (the registry's or the journal's
    rename of a compaction fails) while events are posted: hookd goes on
    (or ends with 1), and after a restart every event answered 202 is
    there."""
    sock, hurl = hole()
    try:
        for n in (1, 2):
            h = t.hookd("timeout 1h\n", start=False)
            write_store(h.data, 30000, hurl)
            h.extra_env = {"HOOKD_FAULT": "rename=%d" % n}
            h.start()
            p = Poster(h, n=4, pad=200)
            try:
                wait_until(lambda: len(p.ids) > 100, 60, 0.05, "posts")
                st = h.api("POST", "/v1/compact")[0]
                t.note("rename=%d: POST /v1/compact %d" % (n, st))
                n0 = len(p.ids)
                wait_until(lambda: not h.running or len(p.ids) > n0 + 500,
                           60, 0.05, "posts after the compaction")
            finally:
                p.stop()
            if h.running:
                eq(p.other, [], "rename=%d: answers other than 202" % n)
                h.stop()
            else:
                eq(h.proc.returncode, 1, "rename=%d: exit code" % n)
            h.extra_env = {}
            h.start()
            have = {e["id"] for e in pages(h, "/v1/events?client=acme")}
            eq(sorted(set(p.ids) - have), [],
               "rename=%d: acknowledged events missing" % n)
            t.note("rename=%d: %s" % (n, [ln for ln in h.log().splitlines()
                                          if "compact" in ln][:3]))
            h.stop()
    finally:
        sock.close()


def test_full_disk_tmpfs(t):
    """The data directory on a 2 MiB tmpfs (root only; skipped elsewhere):
    posts fill it and get 503 "disk full", /healthz is 503, reads go on,
    POST /v1/compact says the disk is full (not a bare 500); when the
    file system grows, writes and compaction work again, and every event
    answered 202 is there after a restart."""
    import subprocess
    from .harness import Skip
    mnt = os.path.join(t.tmp, "mnt")
    os.makedirs(mnt)
    if os.geteuid() != 0 or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", mnt],
            capture_output=True).returncode != 0:
        raise Skip("cannot mount a tmpfs (needs root)")
    h = None
    try:
        h = t.hookd(start=False)
        h.data = os.path.join(mnt, "data")
        h.start()
        h.client("acme")
        body = json.dumps({"client": "acme", "type": "t",
                           "data": {"p": "x" * 4000}})
        acked, full = [], None
        for _ in range(2000):
            st, data, _ = h.api("POST", "/v1/events", body)
            if st == 202:
                acked.append(data["id"])
                continue
            full = (st, data)
            break
        eq(full, (503, {"error": "disk full"}), "a post on a full disk")
        eq(h.api("GET", "/healthz", token=None)[0], 503, "healthz")
        eq(h.api("GET", "/v1/events?limit=1")[0], 200, "a read")
        st, data, _ = h.api("POST", "/v1/compact")
        eq(st, 503, "POST /v1/compact on a full disk: %r" % data)
        check("disk full" in data["error"], data["error"])
        subprocess.run(["mount", "-o", "remount,size=16m", mnt], check=True)
        acked.append(h.req(202, "POST", "/v1/events", body)["id"])
        eq(h.api("GET", "/healthz", token=None)[0], 200, "healthz after")
        seen = compactions(h)
        h.req(202, "POST", "/v1/compact")
        wait_until(lambda: compactions(h) > seen, 60, 0.1, "compaction")
        h.restart()
        have = {e["id"] for e in pages(h, "/v1/events")}
        eq(sorted(set(acked) - have), [], "acknowledged events missing")
    finally:
        if h is not None and h.running:
            h.stop(expect=None)
        subprocess.run(["umount", mnt])


def test_idempotency_keys_survive_kill9(t):
    """Events posted with a new Idempotency-Key each on four connections,
    hookd killed with SIGKILL, three times: after each restart every key
    answered 202 answers the same id again and creates nothing."""
    h = t.hookd()
    h.client("acme")
    body = json.dumps({"client": "acme", "type": "t", "data": {}})
    first = {}
    lock = threading.Lock()
    stop = threading.Event()

    def run(tag):
        hdrs = {"Authorization": "Bearer " + h.admin,
                "Content-Type": "application/json"}
        conn, n = None, 0
        while not stop.is_set():
            key = "%s-%d" % (tag, n)
            n += 1
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", h.port,
                                                      timeout=10)
                conn.request("POST", "/v1/events", body,
                             dict(hdrs, **{"Idempotency-Key": key}))
                r = conn.getresponse()
                data = r.read()
                if r.status == 202:
                    with lock:
                        first[key] = json.loads(data)["id"]
            except (OSError, http.client.HTTPException):
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(0.02)

    for rnd in range(3):
        stop.clear()
        ths = [threading.Thread(target=run, args=("r%dt%d" % (rnd, i),),
                                daemon=True) for i in range(4)]
        for th in ths:
            th.start()
        n0 = len(first)
        wait_until(lambda: len(first) > n0 + 300, 60, 0.05, "posts")
        h.kill9()
        stop.set()
        for th in ths:
            th.join(15)
        h.start()
        before = len(pages(h, "/v1/events"))
        bad = []
        for key, eid in sorted(first.items()):
            st, data, _ = h.api("POST", "/v1/events", body,
                                headers={"Idempotency-Key": key})
            if st != 202 or data["id"] != eid:
                bad.append((key, eid, st, data))
        eq(bad[:3], [], "round %d: keys answered otherwise" % rnd)
        eq(len(pages(h, "/v1/events")), before, "events created by repeats")
