"""Indexes (issue 20 items 1-4): deletes that fail many queued deliveries,
a client's deletion, client tokens among many clients, Idempotency-Keys
across their table's growth, a restart and a compaction, and fan-out to
many endpoints. The cost figures are make bench's (BENCH_ONLY=scaling);
these check the behaviour, which must not change with the data
structures, and that hookd keeps serving."""

import http.client
import json
import socket

from .harness import check, eq, wait_until


def hole():
    """A listener that accepts connections (in its backlog) and never
    answers: deliveries to it stay in flight or waiting."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(4096)
    return s, "http://127.0.0.1:%d/hole" % s.getsockname()[1]


def post_many(h, n, client="acme", type="order.paid", headers=None):
    """n events on one keep-alive connection; their ids."""
    conn = http.client.HTTPConnection("127.0.0.1", h.port, timeout=30)
    hdrs = {"Authorization": "Bearer " + h.admin,
            "Content-Type": "application/json"}
    hdrs.update(headers or {})
    body = json.dumps({"client": client, "type": type, "data": {"n": 1}})
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


def last_error(d):
    return (d.get("last") or {}).get("error")


def test_delete_endpoint_with_20k_queued(t):
    """20,000 deliveries of an endpoint queued for the one outbound slot,
    each behind one of another endpoint: the DELETE fails all of them, the
    other endpoint's stay pending, and hookd keeps serving (and says so
    after a restart)."""
    sock, url = hole()
    try:
        h = t.hookd("max_outbound 1\ntimeout 1h\n")
        h.client("acme")
        keep = h.endpoint("acme", url + "/keep")
        gone = h.endpoint("acme", url + "/gone")
        n = 20000
        ids = post_many(h, n)
        wait_until(lambda: h.metric("hookd_pending_deliveries") == 2 * n,
                   60, 0.2, "every delivery pending")
        h.req(204, "DELETE", "/v1/endpoints/" + gone["id"])
        # Removed at once; its deliveries fail 1,000 a loop pass.
        wait_until(lambda: h.metric("hookd_pending_deliveries") == n,
                   60, 0.05, "pending after the DELETE")
        h.req(404, "GET", "/v1/endpoints/" + gone["id"])
        ds = h.deliveries_of(ids[-1])
        by_url = {d["endpoint"]: d for d in ds}
        eq(set(by_url), {keep["id"], None}, "endpoints")
        eq(by_url[None]["status"], "failed", "the deleted one's delivery")
        eq(last_error(by_url[None]), "endpoint deleted", "its error")
        eq(by_url[keep["id"]]["status"], "pending", "the other's")
        first = h.deliveries_of(ids[0])
        eq(sorted(d["status"] for d in first), ["failed", "pending"],
           "the first event's deliveries")
        h.req(200, "GET", "/healthz", token=None)
        h.event("acme")
        h.restart()
        eq(h.metric("hookd_pending_deliveries"), float(n + 1),
           "pending after a restart")
    finally:
        sock.close()


def test_disable_fails_queued(t):
    """PATCH enabled:false keeps the queue; a delete of a disabled
    endpoint's queue fails it all, the other endpoint's stays."""
    sock, url = hole()
    try:
        h = t.hookd("max_outbound 1\ntimeout 1h\n")
        h.client("acme")
        a = h.endpoint("acme", url + "/a")
        b = h.endpoint("acme", url + "/b")
        post_many(h, 500)
        wait_until(lambda: h.metric("hookd_pending_deliveries") == 1000,
                   30, 0.1, "every delivery pending")
        h.req(200, "PATCH", "/v1/endpoints/" + a["id"], {"enabled": False})
        eq(h.metric("hookd_pending_deliveries"), 1000.0,
           "a disable without a reason keeps them")
        h.req(204, "DELETE", "/v1/endpoints/" + a["id"])
        eq(h.metric("hookd_pending_deliveries"), 500.0, "after the delete")
        ds = h.deliveries("?endpoint=" + b["id"] + "&status=pending")
        check(len(ds) > 0, "b's deliveries are still pending")
        h.req(200, "GET", "/healthz", token=None)
    finally:
        sock.close()


def test_client_delete_fails_its_deliveries(t):
    """A client's deletion fails its endpoints' and its one-off callbacks'
    pending deliveries and no other client's; its events still show."""
    sock, url = hole()
    try:
        h = t.hookd("max_outbound 1\ntimeout 1h\n")
        h.client("acme")
        h.client("other")
        h.endpoint("acme", url + "/acme")
        h.endpoint("other", url + "/other")
        ev = h.event("acme", callback=url + "/once")
        post_many(h, 200, client="acme")
        post_many(h, 200, client="other")
        wait_until(lambda: h.metric("hookd_pending_deliveries") == 402,
                   30, 0.1, "every delivery pending")
        h.req(204, "DELETE", "/v1/clients/acme")
        eq(h.metric("hookd_pending_deliveries"), 200.0, "other's remain")
        ds = h.deliveries_of(ev["id"])
        eq(len(ds), 2, "the event's deliveries")
        for d in ds:
            eq(d["status"], "failed", "status")
            eq(last_error(d), "client deleted", "error")
        h.restart()
        eq(h.metric("hookd_pending_deliveries"), 200.0, "after a restart")
        eq(h.api("POST", "/v1/clients", {"id": "acme"})[0], 409,
           "the id is held while its events remain")
    finally:
        sock.close()


def test_tokens_among_many_clients(t):
    """300 clients: each token opens its own client only; a rotated token
    stops at once and its new one works; a deleted client's token stops;
    all of it the same after a restart."""
    h = t.hookd()
    tokens = {}
    for i in range(300):
        cid = "c%03d" % i
        tokens[cid] = h.client(cid)["token"]

    def sees(cid, tok):
        return h.api("GET", "/v1/clients/" + cid, token=tok)[0]

    for cid in ("c000", "c150", "c299"):
        eq(sees(cid, tokens[cid]), 200, cid + " with its token")
    eq(sees("c001", tokens["c000"]), 404, "another client's token")
    new = h.req(200, "POST", "/v1/clients/c150/rotate-token")["token"]
    eq(sees("c150", tokens["c150"]), 401, "the rotated-out token")
    eq(sees("c150", new), 200, "the new token")
    tokens["c150"] = new
    h.req(204, "DELETE", "/v1/clients/c299")
    eq(sees("c299", tokens["c299"]), 401, "a deleted client's token")
    h.restart()
    ok = sum(sees(cid, tok) == 200 for cid, tok in tokens.items()
             if cid != "c299")
    eq(ok, 299, "tokens that work after a restart")
    eq(sees("c299", tokens["c299"]), 401, "still gone after a restart")
    eq(sees("c150", new), 200, "the rotated token after a restart")


def test_idempotency_keys_through_growth(t):
    """3,000 keys (the table doubles many times): each repeat gets its
    first answer, a different request with a used key 422, before and
    after a restart and a compaction."""
    h = t.hookd()
    h.client("acme")
    n = 3000
    conn = http.client.HTTPConnection("127.0.0.1", h.port, timeout=30)
    hdrs = {"Authorization": "Bearer " + h.admin,
            "Content-Type": "application/json"}
    body = json.dumps({"client": "acme", "type": "order.paid", "data": {}})
    first = {}

    def post(key, b=body):
        conn.request("POST", "/v1/events", body=b,
                     headers=dict(hdrs, **{"Idempotency-Key": key}))
        r = conn.getresponse()
        return r.status, json.loads(r.read())

    for i in range(n):
        st, data = post("key-%d" % i)
        eq(st, 202, "first use")
        first[i] = data["id"]

    def check_all(what):
        same = 0
        for i in range(0, n, 7):
            st, data = post("key-%d" % i)
            same += st == 202 and data["id"] == first[i]
        eq(same, len(range(0, n, 7)), "repeats answered as first " + what)
        other = json.dumps({"client": "acme", "type": "x", "data": {}})
        eq(post("key-5", other)[0], 422, "a different request " + what)

    try:
        check_all("at once")
        conn.close()
        h.restart()
        conn = http.client.HTTPConnection("127.0.0.1", h.port, timeout=30)
        check_all("after a restart")
        h.req(202, "POST", "/v1/compact")
        wait_until(lambda: "compacted" in h.log(), 30, 0.1, "compaction")
        check_all("after a compaction")
        conn.close()
        h.restart()
        conn = http.client.HTTPConnection("127.0.0.1", h.port, timeout=30)
        check_all("after a compaction and a restart")
    finally:
        conn.close()


def test_fanout_to_many_endpoints(t):
    """An event matching 500 endpoints has 500 deliveries, one to each,
    and after a restart still exactly those."""
    sock, url = hole()
    try:
        h = t.hookd("max_endpoints_per_client 600\nmax_outbound 1\n"
                    "timeout 1h\n")
        h.client("acme")
        eps = set()
        for i in range(500):
            eps.add(h.endpoint("acme", url + "/%d" % i)["id"])
        ev = h.event("acme")
        eq(ev["deliveries"], 500, "deliveries")

        def ends():
            got = h.req(200, "GET", "/v1/events/" + ev["id"])["deliveries"]
            return sorted(d["endpoint"] for d in got)

        eq(ends(), sorted(eps), "one delivery per endpoint")
        h.restart()
        eq(ends(), sorted(eps), "the same after a restart")
    finally:
        sock.close()
