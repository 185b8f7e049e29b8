"""The loop's passes (issue 20 item 7) and a compaction that catches up in
rounds off the loop (item 5): the pass metric exists and moves, and a
compaction under ingest and deliveries loses nothing while hookd keeps
answering. No test here times anything: the figures are make bench's
(BENCH_ONLY=scaling)."""

import http.client
import json
import threading

from .harness import check, eq, wait_until


def metrics_text(h):
    status, text, _ = h.api("GET", "/metrics", token=None)
    eq(status, 200, "GET /metrics")
    return text


def test_loop_pass_metric(t):
    """hookd_loop_pass_seconds is a histogram whose buckets add up and whose
    count grows with the passes; hookd_loop_pass_max_seconds is the longest
    pass, above zero once the loop has run; hookd_loop_pass_max_cpu_seconds
    the most CPU time of one pass, above zero and never above the longest
    pass's time by more than clock granularity."""
    h = t.hookd()
    h.client("acme")
    first = h.metric("hookd_loop_pass_seconds_count")
    check(first is not None and first > 0, "no pass counted: %r" % first)
    for i in range(20):
        h.event(data={"i": i})
    text = metrics_text(h)
    check("# TYPE hookd_loop_pass_seconds histogram" in text, text[-800:])
    check("# TYPE hookd_loop_pass_max_seconds gauge" in text, text[-800:])
    check("# TYPE hookd_loop_pass_max_cpu_seconds gauge" in text,
          text[-800:])
    buckets, vals = [], {}
    for line in text.splitlines():
        if line.startswith("hookd_loop_pass_seconds_bucket"):
            buckets.append(float(line.split()[1]))
        elif line.startswith("hookd_loop_pass"):
            vals[line.split()[0]] = float(line.split()[1])
    eq(len(buckets), 10, "buckets (9 and +Inf)")
    check(buckets == sorted(buckets), "buckets not cumulative: %r" % buckets)
    count = vals["hookd_loop_pass_seconds_count"]
    eq(buckets[-1], count, "+Inf bucket is the count")
    check(count > first + 20, "count did not move: %r -> %r"
          % (first, count))
    check(vals["hookd_loop_pass_max_seconds"] > 0, "max still 0")
    cpu = vals["hookd_loop_pass_max_cpu_seconds"]
    check(0 < cpu <= vals["hookd_loop_pass_max_seconds"] + 0.002,
          "cpu max %r, wall max %r" % (cpu,
                                       vals["hookd_loop_pass_max_seconds"]))
    check(vals["hookd_loop_pass_seconds_sum"] > 0, "sum still 0")


def test_compaction_under_ingest_loses_nothing(t):
    """Events posted and attempts retried while a compaction runs: every
    post is answered 202, the compaction ends, and every event and attempt
    chain reads back the same, before and after a restart (which replays
    the new journal, checksums and chains)."""
    rcv = t.receiver()
    rcv.on("/fail", 500)
    h = t.hookd()
    h.client("acme")
    h.endpoint("acme", rcv.url("/ok"))
    h.endpoint("acme", rcv.url("/fail"))
    body = json.dumps({"client": "acme", "type": "order.paid",
                       "data": {"prev": 12345, "pad": "x" * 300}})
    hdrs = {"Authorization": "Bearer " + h.admin,
            "Content-Type": "application/json"}
    ids, bad = [], []

    def post(n):
        conn = http.client.HTTPConnection("127.0.0.1", h.port, timeout=60)
        for _ in range(n):
            conn.request("POST", "/v1/events", body=body, headers=hdrs)
            r = conn.getresponse()
            data = r.read()
            if r.status != 202:
                bad.append((r.status, data[:200]))
            else:
                ids.append(json.loads(data)["id"])
        conn.close()

    post(1500)
    seen = h.log().count("msg=compacted")
    th = threading.Thread(target=post, args=(3000,))
    th.start()
    wait_until(lambda: len(ids) >= 1700, 60, what="ingest under way")
    h.req(202, "POST", "/v1/compact")
    wait_until(lambda: h.log().count("msg=compacted") > seen, 120,
               what="the compaction to end")
    th.join(120)
    eq(bad, [], "answers other than 202 during the compaction")
    eq(len(ids), 4500, "events accepted")
    # Every delivery settles: /ok delivered, /fail failed after 4 attempts
    # (chains written across the fork and the catch-up).
    wait_until(lambda: h.metric("hookd_pending_deliveries") == 0, 120,
               what="every delivery settled")
    sample = ids[::97] + ids[-5:]

    def view():
        out = []
        for e in sample:
            for d in h.deliveries_of(e):
                full = h.delivery(d["id"])
                out.append((e, d["id"], d["status"], full.get("attempts"),
                            json.dumps(full.get("history",
                                                full.get("last")),
                                       sort_keys=True)))
        return out

    before = view()
    eq(sorted(set(x[2] for x in before)), ["delivered", "failed"],
       "statuses")
    check(all(x[3] == 4 for x in before if x[2] == "failed"),
          "failed deliveries with other than 4 attempts")
    h.restart()
    eq(view(), before, "events and attempts after a restart")
    h.req(200, "GET", "/v1/events?limit=1")


# ------------------------------------------------- removals in steps


def _hole():
    """A listener that accepts connections and never answers."""
    import socket
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(4096)
    return s, "http://127.0.0.1:%d" % s.getsockname()[1]


def _post_many(h, n, client="acme"):
    """n events on one keep-alive connection; their ids."""
    conn = http.client.HTTPConnection("127.0.0.1", h.port, timeout=30)
    hdrs = {"Authorization": "Bearer " + h.admin,
            "Content-Type": "application/json"}
    body = json.dumps({"client": client, "type": "order.paid", "data": {}})
    ids = []
    try:
        for _ in range(n):
            conn.request("POST", "/v1/events", body=body, headers=hdrs)
            r = conn.getresponse()
            data = r.read()
            eq(r.status, 202, "event status")
            ids.append(json.loads(data)["id"])
    finally:
        conn.close()
    return ids


def _queued(h, n, paths):
    """A client with one endpoint per path on a listener that never
    answers (max_outbound 1), and n events: n deliveries queued for each
    endpoint. The endpoints, the event ids and the listener."""
    sock, url = _hole()
    h.client("acme")
    eps = [h.endpoint("acme", url + p) for p in paths]
    ids = _post_many(h, n)
    wait_until(lambda: h.metric("hookd_pending_deliveries") == n * len(eps),
               120, 0.2, "every delivery pending")
    return eps, ids, sock


def _sample(ids):
    return [ids[0], ids[len(ids) // 2], ids[-1]]


def test_delete_fails_queue_over_passes(t):
    """A DELETE of an endpoint with 50,000 queued deliveries is answered at
    once and its deliveries fail 1,000 a loop pass: hookd answers /healthz
    meanwhile, and the failing takes at least 50 passes (it took one before
    removals in steps). All end failed, "endpoint deleted", as before.
    fsync never: durability is not what it tests, and 50,000 fsyncs took
    most of its time (near the runner's limit under ASan)."""
    h = t.hookd("max_outbound 1\ntimeout 1h\nfsync never\n")
    n = 50000
    eps, ids, sock = _queued(h, n, ["/gone"])
    try:
        passes = h.metric("hookd_loop_pass_seconds_count")
        h.req(204, "DELETE", "/v1/endpoints/" + eps[0]["id"])
        h.req(404, "GET", "/v1/endpoints/" + eps[0]["id"])
        h.req(200, "GET", "/healthz", token=None)
        wait_until(lambda: h.metric("hookd_pending_deliveries") == 0,
                   120, 0.05, "every delivery failed")
        spent = h.metric("hookd_loop_pass_seconds_count") - passes
        check(spent >= n // 1000,
              "the removal took %d passes, not >= %d" % (spent, n // 1000))
        for e in _sample(ids):
            d = h.deliveries_of(e)[0]
            eq((d["status"], d["endpoint"], d["last"]["error"]),
               ("failed", None, "endpoint deleted"), "a delivery")
        eq(h.metric("hookd_deliveries_total{outcome=\"failed\"}"), float(n),
           "failed deliveries counted")
        h.restart()
        eq(h.metric("hookd_pending_deliveries"), 0.0, "after a restart")
        for e in _sample(ids):
            eq(h.deliveries_of(e)[0]["last"]["error"], "endpoint deleted",
               "after a restart")
    finally:
        sock.close()


def test_delete_killed_midway_ends_failed(t):
    """kill -9 right after the 204 of a DELETE whose 30,000 deliveries are
    being failed in steps: after the restart every one is failed, "endpoint
    deleted", none pending or delivered; the other endpoint's stay pending."""
    h = t.hookd("max_outbound 1\ntimeout 1h\nfsync always\n")
    n = 30000
    eps, ids, sock = _queued(h, n, ["/keep", "/gone"])
    try:
        h.req(204, "DELETE", "/v1/endpoints/" + eps[1]["id"])
        h.kill9()
        h.start()
        eq(h.metric("hookd_pending_deliveries"), float(n), "pending")
        for e in _sample(ids):
            by = {d["endpoint"]: d for d in h.deliveries_of(e)}
            eq(set(by), {eps[0]["id"], None}, "endpoints")
            eq((by[None]["status"], by[None]["last"]["error"]),
               ("failed", "endpoint deleted"), "the deleted one's")
            eq(by[eps[0]["id"]]["status"], "pending", "the other's")
    finally:
        sock.close()


def test_410_fails_queue_in_steps(t):
    """A 410 disables the endpoint at once and its queued deliveries fail
    "endpoint disabled" over the next passes; a re-enable right after
    starts none of them, and a new event is delivered."""
    from .harness import Reply
    rcv = t.receiver()
    rcv.on("/gone", Reply(410, delay=3.0))
    h = t.hookd("max_outbound 1\ntimeout 1h\n")
    h.client("acme")
    ep = h.endpoint("acme", rcv.url("/gone"))
    ids = _post_many(h, 5000)
    wait_until(lambda: h.api("GET", "/v1/endpoints/" + ep["id"])[1]
               .get("enabled") is False, 30, 0.1, "disabled by the 410")
    h.req(200, "PATCH", "/v1/endpoints/" + ep["id"], {"enabled": True})
    wait_until(lambda: h.metric("hookd_pending_deliveries") == 0,
               60, 0.05, "every delivery settled")
    ds = [d for e in ids for d in h.deliveries_of(e)][:2000]
    eq(ds[0]["last"]["status"], 410, "the first answer")
    for d in ds[1:]:
        eq((d["status"], d["last"]["error"]),
           ("failed", "endpoint disabled"), "a queued delivery")
    eq(len(rcv.got("/gone")), 1, "requests to the endpoint")
    rcv.on("/gone", 200)
    e = h.event(data={})
    h.wait_all(e["id"], n=1)
