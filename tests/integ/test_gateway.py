"""The async gateway (contract §14, issue 13): hookd in front of an API.
A caller sends `POST /api.example.com/foo?callbackURL=...` with its client
token, gets 202 {"reqRefId", "status": "accepted"} once the request is on
disk; hookd calls the upstream (a real Python http.server on loopback),
and the upstream's answer goes to the callback URL as a signed webhook.
"""

import http.client
import json
import threading
import urllib.parse

from .harness import (RawReceiver, Receiver, Reply, check, check_signature,
                      eq, run_hookd, wait_until)
from .test_match import compare_lists, ids, pages

ROUTE = "/api.example.com/"


def setup(t, extra="", route_opts="", upstream=None):
    """A hookd with a route to an upstream receiver, a client acme and a
    callback receiver. Returns (h, upstream, rcv, client)."""
    up = upstream or t.receiver()
    rcv = t.receiver()
    h = t.hookd("route %s %s %s\n" % (ROUTE, up.url("/"), route_opts) +
                extra)
    cl = h.client("acme")
    return h, up, rcv, cl


def call(h, token, method, path, body=None, headers=None):
    """One gateway request with a client token: (status, json, headers)."""
    hdrs = dict(headers or {})
    return h.api(method, path, body, token=token, headers=hdrs)


def wait_state(h, ref, state, token="admin", timeout=20.0):
    def probe():
        ev = h.req(200, "GET", "/v1/events/" + ref, token=token)
        return ev if ev.get("request", {}).get("state") == state else None
    return wait_until(probe, timeout, 0.1, "request %s %s" % (ref, state))


def test_seed_post_example_end_to_end(t):
    h, up, rcv, cl = setup(t)
    answer = b'{"success": true,  "refId": "3283191"}'
    up.on("/foo", Reply(200, answer,
                        {"Content-Type": "application/json"}))
    rcv.on("/bar", Reply(200, {"ack": True, "timestamp": "1644730268220",
                               "reqRefId": "1292101282",
                               "refId": "3283191"}))
    cb = urllib.parse.quote(rcv.url("/bar"), safe="")
    body = b'{"order": 42}'
    st, got, _ = call(h, cl["token"], "POST",
                      ROUTE + "foo?x=1&callbackURL=" + cb + "&y=2", body,
                      {"Accept": "application/json",
                       "X-Private": "not forwarded"})
    eq(st, 202, "status of the gateway request (%r)" % got)
    eq(got["status"], "accepted", "status member")
    ref = got["reqRefId"]
    check(ref.startswith("evt_"), "reqRefId %r" % ref)
    # The upstream gets the request, without the caller's token.
    u = up.wait_for(1, "/foo")[0]
    eq(u.method, "POST", "upstream method")
    eq(u.query, "x=1&y=2", "upstream query without callbackURL")
    eq(u.body, body, "upstream body")
    eq(u.headers.get("content-type"), "application/json", "content-type")
    eq(u.headers.get("accept"), "application/json", "accept")
    eq(u.headers.get("hookd-client"), "acme", "hookd-client")
    eq(u.headers.get("idempotency-key"), ref, "Idempotency-Key")
    check("authorization" not in u.headers,
          "the upstream saw an Authorization header")
    check(cl["token"].encode() not in repr(u.header_list).encode() + u.body,
          "the upstream saw the client token")
    check("x-private" not in u.headers, "a caller header went upstream")
    # The callback: the upstream's body byte for byte, signed by the
    # client's secret, webhook-id = reqRefId.
    r = rcv.wait_for(1, "/bar")[0]
    eq(r.method, "POST", "callback method")
    eq(r.body, answer, "callback body byte for byte")
    eq(r.headers.get("webhook-id"), ref, "webhook-id")
    eq(r.headers.get("hookd-upstream-status"), "200", "upstream status")
    eq(r.headers.get("hookd-event-type"), "request.completed", "type")
    check_signature(r, cl["secret"])
    ev = wait_state(h, ref, "completed")
    eq(ev["id"], ref, "event id")
    eq(ev["type"], "request.completed", "event type")
    eq(ev["request"]["upstream_status"], 200, "upstream status")
    ds = [d for d in ev["deliveries"] if d["url"] == rcv.url("/bar")]
    eq(len(ds), 1, "callback deliveries")
    d = h.wait_delivery(ds[0]["id"])
    eq(d["ack"]["reqRefId"], "1292101282", "the receiver's ack kept")


def test_get_callback_with_the_seed_query_shape(t):
    """The answer goes to a registered GET endpoint as the seed's
    ?success=true&refId=3283191, and a GET request goes upstream as GET."""
    h, up, rcv, cl = setup(t, route_opts="type=api.result")
    up.on("/orders/7", Reply(200, {"success": True, "refId": "3283191"}))
    h.endpoint("acme", rcv.url("/cb"), method="GET", events=["api.*"])
    st, got, _ = call(h, cl["token"], "GET", ROUTE + "orders/7?full=1")
    eq(st, 202, "status (%r)" % got)
    u = up.wait_for(1, "/orders/7")[0]
    eq(u.method, "GET", "upstream method")
    eq(u.query, "full=1", "upstream query")
    r = rcv.wait_for(1, "/cb")[0]
    eq(r.method, "GET", "callback method")
    eq(r.query, "success=true&refId=3283191", "callback query")
    eq(r.headers.get("webhook-id"), got["reqRefId"], "webhook-id")
    eq(r.headers.get("hookd-event-type"), "api.result", "event type")
    eq(r.headers.get("hookd-upstream-status"), "200", "upstream status")


def test_callback_from_the_registry_and_a_text_answer(t):
    """No callbackURL: the client's endpoints matching the type get the
    event; a body that is not a JSON object comes in the envelope."""
    h, up, rcv, cl = setup(t)
    up.on("/slow", Reply(201, b"made it\n", {"Content-Type": "text/plain"}))
    ep = h.endpoint("acme", rcv.url("/hook"), events=["request.*"])
    h.endpoint("acme", rcv.url("/other"), events=["order.*"])
    st, got, _ = call(h, cl["token"], "PUT", ROUTE + "slow", b"x=1",
                      {"Content-Type": "application/x-www-form-urlencoded"})
    eq(st, 202, "status (%r)" % got)
    u = up.wait_for(1, "/slow")[0]
    eq(u.method, "PUT", "upstream method")
    eq(u.body, b"x=1", "upstream body")
    eq(u.headers.get("content-type"), "application/x-www-form-urlencoded",
       "upstream content-type")
    r = rcv.wait_for(1, "/hook")[0]
    eq(json.loads(r.body), {"status": 201, "content_type": "text/plain",
                            "body": "made it\n"}, "envelope")
    eq(r.headers.get("hookd-upstream-status"), "201", "upstream status")
    eq(r.headers.get("hookd-endpoint"), ep["id"], "hookd-endpoint")
    check_signature(r, ep["secret"])
    ev = wait_state(h, got["reqRefId"], "completed")
    eq(len(ev["deliveries"]), 1, "deliveries (only the matching endpoint)")
    eq(rcv.got("/other"), [], "an endpoint not matching the type")


def test_upstream_fails_twice_with_503_then_answers(t):
    h, up, rcv, cl = setup(t, route_opts="header=\"X-Api-Key: up-key\"")
    up.on("/foo", Reply(503, b"busy", {"Retry-After": "0"}), Reply(503),
          Reply(200, {"done": 1}))
    cb = urllib.parse.quote(rcv.url("/bar"), safe="")
    st, got, _ = call(h, cl["token"], "POST", ROUTE + "foo?callbackURL=" + cb,
                      b"{}")
    eq(st, 202, "status (%r)" % got)
    r = rcv.wait_for(1, "/bar")[0]
    eq(json.loads(r.body), {"done": 1}, "callback body")
    calls = up.got("/foo")
    eq(len(calls), 3, "upstream calls")
    for c in calls:
        eq(c.headers.get("idempotency-key"), got["reqRefId"],
           "Idempotency-Key on every call")
        eq(c.headers.get("x-api-key"), "up-key", "the route's header=")
    ev = wait_state(h, got["reqRefId"], "completed")
    eq(ev["request"]["upstream_attempts"], 3, "upstream attempts")


def test_upstream_never_answers_gives_type_failed(t):
    h, up, rcv, cl = setup(t, route_opts="type=api.result")
    up.on("/down", Reply(500, b"boom"))
    cb = urllib.parse.quote(rcv.url("/bar"), safe="")
    st, got, _ = call(h, cl["token"], "POST",
                      ROUTE + "down?callbackURL=" + cb, b"{}")
    eq(st, 202, "status (%r)" % got)
    r = rcv.wait_for(1, "/bar", timeout=30)[0]
    eq(r.headers.get("hookd-event-type"), "api.result.failed", "type")
    eq(r.headers.get("webhook-id"), got["reqRefId"], "webhook-id")
    err = json.loads(r.body)["error"]
    check("500" in err, "error %r names the status" % err)
    eq(len(up.got("/down")), 4, "upstream calls: the schedule's attempts")
    ev = wait_state(h, got["reqRefId"], "failed")
    eq(ev["type"], "api.result.failed", "event type")
    eq(ev["request"]["upstream_status"], 500, "last upstream status")


def test_loopback_upstream_needs_allow_destinations(t):
    """The upstream call shares the SSRF rules: a route to a loopback
    address without allow_destinations is refused by -n and at start,
    saying what opens it; a request whose upstream became denied (the
    config changed meanwhile) fails at connect time with the same words."""
    import socket
    bad = "route %s http://127.0.0.1:9/\n" % ROUTE
    h = t.hookd(bad, allow=False, start=False)
    p = run_hookd("-n", "-c", h.conf_path)
    eq(p.returncode, 1, "-n exit status")
    check("%s:%d: route UPSTREAM: destination not allowed: 127.0.0.1 is "
          "loopback; allow_destinations opens it" % (h.conf_path, 4)
          in p.stderr, "-n says why: %r" % p.stderr)
    # Accepted while allowed; the upstream does not listen yet.
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    h = t.hookd("route %s http://127.0.0.1:%d/\n" % (ROUTE, port) +
                "retry_schedule 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s\n")
    cl = h.client("acme")
    st, got, _ = call(h, cl["token"], "POST", ROUTE + "x", b"{}")
    eq(st, 202, "status (%r)" % got)
    ref = got["reqRefId"]
    wait_until(lambda: h.req(200, "GET", "/v1/events/" + ref)["request"]
               ["upstream_attempts"] >= 1, 15, 0.1, "a refused attempt")
    h.stop()
    h.write_conf("timeout 2s\n")
    h.start()
    ev = wait_state(h, ref, "failed")
    eq(ev["type"], "request.completed.failed", "type")
    check("allow_destinations" in ev["data"]["error"],
          "error %r names allow_destinations" % ev["data"]["error"])


def test_routes_reload_on_sighup_and_n_checks_them(t):
    import signal
    up = t.receiver()
    h = t.hookd("route /a/ %s\n" % up.url("/"))
    cl = h.client("acme")
    eq(call(h, cl["token"], "POST", "/a/x", b"{}")[0], 202, "/a/ before")
    eq(call(h, cl["token"], "POST", "/b/x", b"{}")[0], 404, "/b/ before")
    h.write_conf(h_conf(h).replace("route /a/", "route /b/"))
    p = run_hookd("-n", "-c", h.conf_path)
    eq(p.returncode, 0, "-n exit status (%r)" % p.stderr)
    check("routes=1" in p.stdout + p.stderr, "-n summary: %r" % p.stdout)
    h.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: call(h, cl["token"], "POST", "/b/y", b"{}")[0] == 202,
               15, 0.1, "the new route")
    eq(call(h, cl["token"], "POST", "/a/x", b"{}")[0], 404, "/a/ after")
    check("msg=reloaded changed=route" in h.log(), "the reload's log line")
    up.wait_for(1, "/y")
    # A route that would shadow hookd's API: refused, with the reason.
    h.write_conf(h_conf(h) + "route /v1/ %s\n" % up.url("/"))
    p = run_hookd("-n", "-c", h.conf_path)
    eq(p.returncode, 1, "-n exit status")
    check("hookd's own /v1" in p.stderr, "-n says why: %r" % p.stderr)


def h_conf(h):
    with open(h.conf_path) as f:
        return f.read()


def test_kill9_after_202_before_the_upstream_call(t):
    """A 202 survives kill -9: the upstream (not listening yet) is called
    after the restart with the same Idempotency-Key."""
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    rcv = t.receiver()
    h = t.hookd("route %s http://127.0.0.1:%d/\n" % (ROUTE, port) +
                "retry_schedule 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s\n")
    cl = h.client("acme")
    cb = urllib.parse.quote(rcv.url("/bar"), safe="")
    st, got, _ = call(h, cl["token"], "POST", ROUTE + "foo?callbackURL=" + cb,
                      b'{"n": 1}')
    eq(st, 202, "status (%r)" % got)
    h.kill9()
    up = Receiver(port=port)
    t.receivers.append(up)
    up.on("/foo", Reply(200, {"ok": True}))
    h.start()
    u = up.wait_for(1, "/foo", timeout=30)[0]
    eq(u.headers.get("idempotency-key"), got["reqRefId"], "Idempotency-Key")
    eq(u.body, b'{"n": 1}', "body")
    r = rcv.wait_for(1, "/bar", timeout=30)[0]
    eq(r.body, b'{"ok": true}', "callback body")
    wait_state(h, got["reqRefId"], "completed")
    # Completed is durable too: after another kill -9 the request is not
    # forwarded again and there is one event with one callback.
    h.kill9()
    h.start()
    ev = wait_state(h, got["reqRefId"], "completed")
    eq(len(ev["deliveries"]), 1, "deliveries after the restart")
    evs = h.req(200, "GET", "/v1/events")["data"]
    eq([e["id"] for e in evs], [got["reqRefId"]], "events")
    eq(len(up.got("/foo")), 1, "upstream calls after completion")


def test_auth_and_isolation(t):
    h, up, rcv, cl = setup(t)
    other = h.client("beta")
    # No token: 401 on the head; the admin token: 403 (made for a client).
    st, got, _ = h.api("POST", ROUTE + "foo", b"{}", token=None)
    eq(st, 401, "without a token (%r)" % got)
    st, got, _ = h.api("POST", ROUTE + "foo", b"{}", token="nope")
    eq(st, 401, "unknown token (%r)" % got)
    st, got, _ = h.api("POST", ROUTE + "foo", b"{}")
    eq(st, 403, "admin token (%r)" % got)
    check("client" in got["error"], "403 says why: %r" % got)
    eq(up.got(), [], "upstream calls for refused requests")
    st, got, _ = call(h, cl["token"], "POST", ROUTE + "foo", b"{}")
    eq(st, 202, "status (%r)" % got)
    ref = got["reqRefId"]
    up.wait_for(1, "/foo")
    st, _, _ = h.api("GET", "/v1/events/" + ref, token=other["token"])
    eq(st, 404, "another client reading the request")
    h.req(200, "GET", "/v1/events/" + ref, token=cl["token"])
    # A bad callbackURL is refused before anything is stored.
    st, got, _ = call(h, cl["token"], "POST",
                      ROUTE + "foo?callbackURL=ftp%3A%2F%2Fx", b"{}")
    eq(st, 422, "bad callbackURL (%r)" % got)
    check(got["error"].startswith("callbackURL:"), "error %r" % got)
    # hookd's own paths still answer.
    eq(h.api("GET", "/healthz", token=None)[0], 200, "healthz")


def gated_upstream(t, gate):
    """An upstream whose answers wait for gate: /ok answers 200, /down
    500. Nothing completes until the test opens the gate."""
    up = RawReceiver()
    t.receivers.append(up)

    def answer(status):
        def fn(sock, req, n):
            gate.wait(60)
            body = b'{"n": %d}' % n
            sock.sendall(b"HTTP/1.1 %d Answer\r\n"
                         b"Content-Type: application/json\r\n"
                         b"Content-Length: %d\r\nConnection: close\r\n"
                         b"\r\n%s" % (status, len(body), body))
            return False
        return fn
    up.on("/ok", answer(200))
    up.on("/down", answer(500))
    return up


def compacted(h, seen):
    """POST /v1/compact and wait for its end (the log's nth compacted)."""
    h.req(202, "POST", "/v1/compact")
    wait_until(lambda: h.log().count("msg=compacted") > seen, 60,
               what="the compaction to end")


def test_lists_in_id_order_after_compacting_completed_requests(t):
    """Requests that complete after later events have deliveries newer
    than those events'; a compaction keeps them with the request, in its
    place, so a restart replays them first. The filtered lists
    (?endpoint=, ?client= paged one by one, events by client and type,
    TYPE.failed included) must still equal the unfiltered lists filtered
    here, in id order: live, after a restart, after a compaction and a
    restart."""
    gate = threading.Event()
    up = gated_upstream(t, gate)
    rcv = t.receiver()
    h = t.hookd("route %s %s timeout=60s\n" % (ROUTE, up.url("/")))
    cl = h.client("acme")
    other = h.client("beta")
    ep = h.endpoint("acme", rcv.url("/all"), events=["*"])
    h.endpoint("beta", rcv.url("/beta"), events=["*"])
    cb = urllib.parse.quote(rcv.url("/cb"), safe="")
    refs = []
    for path in ("ok?callbackURL=" + cb, "down", "ok", "down?callbackURL=" +
                 cb):
        st, got, _ = call(h, cl["token"], "POST", ROUTE + path, b"{}")
        eq(st, 202, "status (%r)" % got)
        refs.append(got["reqRefId"])
        # Events after each request, before any completes.
        h.event("acme", "order.paid", data={"after": got["reqRefId"]})
        h.event("beta", "order.paid", data={"after": got["reqRefId"]})
    up.wait_for(4, timeout=30)
    gate.set()
    for ref, state in zip(refs, ("completed", "failed", "completed",
                                 "failed")):
        wait_state(h, ref, state, timeout=60)
    h.event("acme", "order.paid", data={"after": "completions"})
    wait_until(lambda: h.metric("hookd_pending_deliveries") == 0, 60,
               what="every delivery settled")
    tokens = {"acme": cl["token"], "beta": other["token"]}

    def same(what):
        dl = pages(h, "/v1/deliveries", 1000)
        eq(ids(dl), sorted(ids(dl)), "%s: deliveries in id order" % what)
        for q, keep in ((("endpoint", ep["id"]),
                         lambda d: d["endpoint"] == ep["id"]),
                        (("client", "acme"),
                         lambda d: d["client"] == "acme")):
            eq(ids(pages(h, "/v1/deliveries?%s=%s" % q, 1)),
               ids([d for d in dl if keep(d)]),
               "%s: ?%s=%s paged one by one" % ((what,) + q))
        evs = pages(h, "/v1/events?client=acme", 1)
        check(set(refs) <= set(ids(evs)), "%s: requests in ?client=acme"
              % what)
        check(any(e["type"].endswith(".failed") for e in evs),
              "%s: a TYPE.failed request listed" % what)
        compare_lists(h, what, tokens)

    same("live")
    h.restart()
    same("after a restart")
    compacted(h, h.log().count("msg=compacted"))
    same("after a compaction")
    h.restart()
    same("after a compaction and a restart")


def test_request_completed_during_a_compaction(t):
    """Requests complete while compactions run (their records, request
    and completion, are written during the catch-up, or around it): after
    a restart each is completed once, with its deliveries, and nothing is
    forwarded again. Whatever the interleaving, the outcome must be the
    same."""
    gate = threading.Event()
    up = gated_upstream(t, gate)
    rcv = t.receiver()
    h = t.hookd("route %s %s timeout=60s\n" % (ROUTE, up.url("/")))
    cl = h.client("acme")
    h.endpoint("acme", rcv.url("/all"), events=["request.*"])
    # A journal worth copying, so the compaction takes a while.
    for i in range(300):
        h.event("acme", "order.paid", data={"i": i, "pad": "x" * 2000})
    refs = []
    for _ in range(6):
        st, got, _ = call(h, cl["token"], "POST", ROUTE + "ok", b"{}")
        eq(st, 202, "status (%r)" % got)
        refs.append(got["reqRefId"])
    up.wait_for(6, timeout=30)
    seen = h.log().count("msg=compacted")
    h.req(202, "POST", "/v1/compact")
    # More requests, their records written while it runs (or just after).
    for _ in range(3):
        st, got, _ = call(h, cl["token"], "POST", ROUTE + "ok", b"{}")
        eq(st, 202, "status (%r)" % got)
        refs.append(got["reqRefId"])
    gate.set()
    for ref in refs:
        wait_state(h, ref, "completed", timeout=60)
    wait_until(lambda: h.log().count("msg=compacted") > seen, 60,
               what="the compaction to end")
    wait_until(lambda: h.metric("hookd_pending_deliveries") == 0, 60,
               what="every delivery settled")

    def view():
        out = []
        for ref in refs:
            ev = h.req(200, "GET", "/v1/events/" + ref)
            out.append((ev["request"]["state"], ev["type"],
                        sorted((d["id"], d["status"])
                               for d in ev["deliveries"]),
                        ev.get("data")))
        return out
    before = view()
    for state, _, dls, data in before:
        eq(state, "completed", "state")
        eq(len(dls), 1, "deliveries of a completed request")
        # Read back from the event's newest record: the completion.
        check(isinstance(data, dict) and "n" in data,
              "a completed request's data is the answer: %r" % (data,))
    compacted(h, h.log().count("msg=compacted"))
    h.restart()
    eq(view(), before, "the requests after a compaction and a restart")
    eq(len(up.got()), 9, "upstream calls (none again)")
    eq(len(rcv.got("/all")), 9, "callbacks (one per request)")
    compare_lists(h, "after compactions and a restart",
                  {"acme": cl["token"]})


# ---- issue 13, the tester's findings (GWFIX)

def test_pending_request_keeps_its_routes_headers_across_reload(t):
    """A request is forwarded as its route was when it was accepted: after
    a SIGHUP that sends the route to upstream B with B's key, a pending
    request still goes to A with A's key (never B's key to A); after a
    restart with the route removed it still gets A's headers."""
    import signal
    gates = {"/base/foo": threading.Event(), "/base/bar": threading.Event()}
    a = RawReceiver()
    t.receivers.append(a)
    b = t.receiver()

    def answer(sock, req, n):
        if n == 1:
            # foo: 503 once the reload is done; bar: held until the stop.
            gates[req.path].wait(60)
            sock.sendall(b"HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n"
                         b"Connection: close\r\n\r\n")
            return False
        body = b'{"ok": true}'
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json"
                     b"\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
                     % (len(body), body))
        return False
    a.on("/base/foo", answer)
    a.on("/base/bar", answer)
    h = t.hookd("route /api/ %s header=\"X-Api-Key: key-of-A\" timeout=30s\n"
                % a.url("/base/"))
    cl = h.client("acme")
    refs = []
    for path in ("/api/foo", "/api/bar"):
        st, got, _ = call(h, cl["token"], "POST", path, b"{}")
        eq(st, 202, "status (%r)" % got)
        refs.append(got["reqRefId"])
    a.wait_for(1, "/base/foo", timeout=30)
    a.wait_for(1, "/base/bar", timeout=30)
    base = h_conf(h).split("route /api/")[0]
    h.write_conf(base + "route /api/ %s header=\"X-Api-Key: key-of-B\"\n"
                 % b.url("/other/"))
    h.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "msg=reloaded" in h.log(), 15, 0.1, "the reload")
    gates["/base/foo"].set()
    wait_state(h, refs[0], "completed", timeout=60)
    # A restart with the route removed: the other request is still A's.
    h.stop()
    h.write_conf(base)
    h.start()
    gates["/base/bar"].set()
    ev = wait_state(h, refs[1], "completed", timeout=60)
    eq(ev["request"]["upstream_status"], 200, "upstream status")
    for path in ("/base/foo", "/base/bar"):
        calls = a.got(path)
        eq(len(calls), 2, "upstream A calls to %s" % path)
        for c in calls:
            eq(c.headers.get("x-api-key"), "key-of-A",
               "A's key on every call to %s" % path)
    eq(b.got(), [], "upstream B calls")


def test_deleting_the_client_fails_its_requests_durably(t):
    """A client's deletion ends its requests still forwarding (one waiting
    for a retry, one in flight) as TYPE.failed with {"error": "client
    deleted"}, logged; after a restart they stay failed and the upstream
    is never called for them again."""
    from .harness import SLOW_RETRY
    gate = threading.Event()
    up = RawReceiver()
    t.receivers.append(up)

    def busy(sock, req, n):
        sock.sendall(b"HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n"
                     b"Connection: close\r\n\r\n")
        return False

    def held(sock, req, n):
        gate.wait(60)
        return False
    up.on("/base/wait", busy)
    up.on("/base/held", held)
    h = t.hookd("route /api/ %s timeout=60s type=api.result\n"
                % up.url("/base/") + SLOW_RETRY)
    cl = h.client("tmp3")
    refs = []
    for path in ("/api/wait", "/api/held"):
        st, got, _ = call(h, cl["token"], "POST", path, b"{}")
        eq(st, 202, "status (%r)" % got)
        refs.append(got["reqRefId"])
    up.wait_for(1, "/base/wait", timeout=30)
    up.wait_for(1, "/base/held", timeout=30)
    h.req(204, "DELETE", "/v1/clients/tmp3")

    def failed_all(what):
        for ref in refs:
            ev = wait_state(h, ref, "failed", timeout=30)
            eq(ev["type"], "api.result.failed", "%s: type" % what)
            eq(ev["data"], {"error": "client deleted"}, "%s: data" % what)
    failed_all("before the restart")
    for ref in refs:
        wait_until(lambda: "msg=\"request failed\" request=%s type="
                   "api.result.failed" % ref in h.log(), 15, 0.1,
                   "request failed logged for %s" % ref)
    eq(h.log().count("error=\"client deleted\""), 2,
       "the log lines name the reason")
    calls = len(up.got())
    h.restart()
    failed_all("after the restart")
    # Another client's request after the start has been forwarded: the
    # deleted client's would have been called first (due at start).
    other = h.client("other")
    st, got, _ = call(h, other["token"], "POST", "/api/done", b"{}")
    eq(st, 202, "status (%r)" % got)
    wait_state(h, got["reqRefId"], "completed", timeout=30)
    eq(len(up.got()), calls + 1, "upstream calls after the restart")
    check(all(r.headers.get("hookd-client") != "tmp3"
              for r in up.got()[calls:]), "a call for the deleted client")
    gate.set()


def test_dot_segments_and_encoded_slashes_are_refused(t):
    """A "." or ".." segment after the prefix, plain or percent-encoded,
    and an encoded / or \\, never reach the upstream: 400 naming it."""
    up = t.receiver()
    h = t.hookd("route /api/ %s header=\"X-Api-Key: k\"\n" % up.url("/base/"))
    cl = h.client("acme")
    for path, what in (("/api/../admin", ".."), ("/api/%2e%2e/admin", ".."),
                       ("/api/%2E./admin", ".."), ("/api/x/./y", ".."),
                       ("/api/..", ".."), ("/api/a%2fb", "%2F"),
                       ("/api/a%5Cb", "%5C")):
        st, got, _ = call(h, cl["token"], "POST", path, b"{}")
        eq(st, 400, "%s: status (%r)" % (path, got))
        check(what in got["error"], "%s: error %r names %s"
              % (path, got["error"], what))
    # Dots inside a segment are a name like any other.
    st, got, _ = call(h, cl["token"], "POST", "/api/v1.2/a..b", b"{}")
    eq(st, 202, "a name with dots (%r)" % got)
    up.wait_for(1, timeout=30)
    eq([r.path for r in up.got()], ["/base/v1.2/a..b"], "upstream paths")


def test_head_on_a_route_is_405_with_allow(t):
    up = t.receiver()
    h = t.hookd("route /api/ %s\n" % up.url("/base/"))
    cl = h.client("acme")
    st, _, hdrs = call(h, cl["token"], "HEAD", "/api/foo")
    eq(st, 405, "HEAD status")
    eq(hdrs.get("allow"), "GET, POST, PUT, PATCH, DELETE, OPTIONS", "Allow")
    eq(up.got(), [], "upstream calls for HEAD")
    st, got, _ = call(h, cl["token"], "GET", "/api/foo")
    eq(st, 202, "GET still forwarded (%r)" % got)
    up.wait_for(1, timeout=30)
    eq([r.method for r in up.got()], ["GET"], "upstream methods")


def test_upstream_answer_over_1_mib_is_final_and_named(t):
    """An upstream answer over 1 MiB (announced by Content-Length, or
    read until the close) is the request's final answer: no retry, its
    status kept, the failure naming the limit."""
    up = t.receiver()
    raw = RawReceiver()
    t.receivers.append(raw)
    big = b"x" * (1024 * 1024 + 10)
    up.on("/base/len", Reply(200, big, {"Content-Type": "text/plain"}))

    def close_delimited(sock, req, n):
        sock.sendall(b"HTTP/1.1 201 Created\r\nContent-Type: text/plain\r\n"
                     b"Connection: close\r\n\r\n" + big)
        return False
    raw.on("/base/close", close_delimited)
    h = t.hookd("route /api/ %s\nroute /raw/ %s\n"
                % (up.url("/base/"), raw.url("/base/")))
    cl = h.client("acme")
    for path, rcv, status in (("/api/len", up, 200), ("/raw/close", raw,
                                                       201)):
        st, got, _ = call(h, cl["token"], "POST", path, b"{}")
        eq(st, 202, "status (%r)" % got)
        ev = wait_state(h, got["reqRefId"], "failed", timeout=30)
        eq(ev["type"], "request.completed.failed", "%s: type" % path)
        eq(ev["data"], {"error": "upstream answer over 1 MiB"},
           "%s: data" % path)
        eq(ev["request"]["upstream_status"], status, "%s: status" % path)
        eq(ev["request"]["upstream_attempts"], 1, "%s: attempts" % path)
        eq(len(rcv.got()), 1, "%s: upstream calls" % path)


def test_a_prefix_without_slash_matches_at_a_segment_boundary(t):
    up = t.receiver()
    h = t.hookd("route /apiraw %s\n" % up.url("/base"))
    cl = h.client("acme")
    st, got, _ = call(h, cl["token"], "POST", "/apirawx", b"{}")
    eq(st, 404, "/apirawx (%r)" % (got,))
    st, got, _ = call(h, cl["token"], "POST", "/apiraw/x", b"{}")
    eq(st, 202, "/apiraw/x (%r)" % (got,))
    up.wait_for(1, timeout=30)
    eq([r.path for r in up.got()], ["/base/x"], "upstream paths")


def test_idempotency_key_on_a_route(t):
    """A repeat with the same Idempotency-Key gets the first 202 (same
    reqRefId) and creates nothing; the key with another request is 422,
    as on POST /v1/events; another client's same key is its own."""
    up = t.receiver()
    h = t.hookd("route /api/ %s\n" % up.url("/base/"))
    cl = h.client("acme")
    other = h.client("beta")
    key = {"Idempotency-Key": "order-42"}
    st, first, _ = call(h, cl["token"], "POST", "/api/pay?x=1", b'{"n": 1}',
                        key)
    eq(st, 202, "first (%r)" % first)
    st, again, _ = call(h, cl["token"], "POST", "/api/pay?x=1", b'{"n": 1}',
                        key)
    eq(st, 202, "repeat (%r)" % again)
    eq(again, first, "the repeat's answer")
    for path, body in (("/api/pay?x=1", b'{"n": 2}'), ("/api/pay?x=2",
                                                        b'{"n": 1}'),
                       ("/api/other?x=1", b'{"n": 1}')):
        st, got, _ = call(h, cl["token"], "POST", path, body, key)
        eq(st, 422, "%s %r with the key (%r)" % (path, body, got))
        eq(got["error"], "Idempotency-Key reused with a different request",
           "the same words as POST /v1/events")
    st, got, _ = call(h, other["token"], "POST", "/api/pay?x=1", b'{"n": 1}',
                      key)
    eq(st, 202, "another client's key (%r)" % got)
    check(got["reqRefId"] != first["reqRefId"], "its own request")
    st, got, _ = call(h, cl["token"], "POST", "/api/pay", b"{}",
                      {"Idempotency-Key": ""})
    eq(st, 400, "an empty key (%r)" % got)
    wait_state(h, first["reqRefId"], "completed")
    wait_state(h, got_ref(h, "beta"), "completed")
    eq(len(up.got("/base/pay")), 2, "upstream calls (one per client)")
    evs = h.req(200, "GET", "/v1/events?client=acme")["data"]
    eq([e["id"] for e in evs], [first["reqRefId"]], "acme's events")
    # Kept across a restart, as the events' keys are.
    h.restart()
    st, got, _ = call(h, cl["token"], "POST", "/api/pay?x=1", b'{"n": 1}',
                      key)
    eq((st, got), (202, first), "the repeat after a restart")


def got_ref(h, client):
    return h.req(200, "GET", "/v1/events?client=" + client)["data"][0]["id"]


def test_callback_url_spelt_encoded_twice_or_empty(t):
    up = t.receiver()
    rcv = t.receiver()
    h = t.hookd("route /api/ %s\n" % up.url("/base/"))
    cl = h.client("acme")
    cb = urllib.parse.quote(rcv.url("/bar"), safe="")
    st, got, _ = call(h, cl["token"], "POST",
                      "/api/x?a=1&%63allbackURL=" + cb + "&b=2", b"{}")
    eq(st, 202, "encoded name (%r)" % got)
    u = up.wait_for(1, "/base/x", timeout=30)[0]
    eq(u.query, "a=1&b=2", "the upstream's query")
    rcv.wait_for(1, "/bar", timeout=30)
    st, got, _ = call(h, cl["token"], "POST", "/api/x?callbackURL=" + cb +
                      "&callback%55RL=" + cb, b"{}")
    eq(st, 400, "twice (%r)" % got)
    eq(got["error"], 'query parameter "callbackURL" given twice', "error")
    st, got, _ = call(h, cl["token"], "POST", "/api/x?callbackURL=", b"{}")
    eq(st, 422, "empty (%r)" % got)
    check("callbackURL is empty" in got["error"], "error %r" % got)
    eq(len(up.got()), 1, "upstream calls")


def test_repeated_content_headers_refused_content_encoding_forwarded(t):
    up = t.receiver()
    h = t.hookd("route /api/ %s\n" % up.url("/base/"))
    cl = h.client("acme")
    for name in ("Content-Type", "Accept", "Content-Encoding"):
        conn = http.client.HTTPConnection("127.0.0.1", h.port, timeout=10)
        conn.putrequest("POST", "/api/x")
        conn.putheader("Authorization", "Bearer " + cl["token"])
        conn.putheader(name, "text/plain")
        conn.putheader(name, "application/json")
        conn.putheader("Content-Length", "2")
        conn.endheaders(b"{}")
        resp = conn.getresponse()
        body = json.loads(resp.read())
        conn.close()
        eq(resp.status, 400, "%s twice (%r)" % (name, body))
        check(name in body["error"], "error %r names %s" % (body, name))
    st, got, _ = call(h, cl["token"], "POST", "/api/z", b"\x1f\x8b\x08\x00",
                      {"Content-Encoding": "gzip",
                       "Content-Type": "application/json"})
    eq(st, 202, "gzip body (%r)" % got)
    u = up.wait_for(1, "/base/z", timeout=30)[0]
    eq(u.headers.get("content-encoding"), "gzip", "Content-Encoding")
    eq(u.body, b"\x1f\x8b\x08\x00", "body as sent")


def test_a_request_waiting_for_its_retry_shows_the_last_call(t):
    up = t.receiver()
    up.on("/base/x", Reply(503, b"busy"), Reply(200, {"ok": True}))
    # A first retry late enough to be seen waiting under any load.
    h = t.hookd("route /api/ %s\nretry_schedule 5s 5s 5s\n"
                % up.url("/base/"))
    cl = h.client("acme")
    st, got, _ = call(h, cl["token"], "POST", "/api/x", b"{}")
    eq(st, 202, "status (%r)" % got)
    ref = got["reqRefId"]

    def waiting():
        ev = h.req(200, "GET", "/v1/events/" + ref, token=cl["token"])
        r = ev["request"]
        return r if r["state"] == "forwarding" and \
            r["upstream_attempts"] == 1 else None
    r = wait_until(waiting, 30, 0.05, "the first call recorded")
    eq(r["upstream_status"], 503, "upstream_status while waiting")
    eq(r["last_attempt"]["status"], 503, "last_attempt.status")
    check(r["next_attempt_at"] is not None, "next_attempt_at %r" % r)
    ev = wait_state(h, ref, "completed", timeout=30)
    eq(ev["request"]["upstream_status"], 200, "the final status")
    eq(ev["request"]["last_attempt"]["status"], 200, "last_attempt")


def test_upstream_calls_logged_and_counted_as_requests(t):
    """The upstream call is logged as its request (request=evt_...
    route=... upstream=host:port), never as a delivery= the API does not
    know; /metrics counts requests and upstream calls apart from
    deliveries."""
    up = t.receiver()
    up.on("/base/x", Reply(503, b"busy", {"Retry-After": "0"}),
          Reply(200, {"ok": True}))
    up.on("/base/down", Reply(500))
    h = t.hookd("route /api/ %s\nmetrics on\n" % up.url("/base/"))
    cl = h.client("acme")
    refs = []
    for path in ("/api/x", "/api/down"):
        st, got, _ = call(h, cl["token"], "POST", path, b"{}")
        eq(st, 202, "status (%r)" % got)
        refs.append(got["reqRefId"])
    wait_state(h, refs[0], "completed", timeout=30)
    wait_state(h, refs[1], "failed", timeout=30)
    log = h.log()
    check("delivery=dlv_" not in log, "a delivery= in the log: %s" % log)
    who = "request=%s route=/api/ upstream=127.0.0.1:%d" % (refs[0], up.port)
    check("msg=\"upstream retry\" %s status=503" % who in log,
          "the retry logged as the request: %s" % log)
    check("msg=\"upstream answered\" %s status=200" % who in log,
          "the answer logged as the request: %s" % log)
    check("msg=\"request completed\" request=%s" % refs[0] in log,
          "request completed: %s" % log)
    eq(h.metric("hookd_gateway_requests_total{state=\"accepted\"}"), 2,
       "accepted")
    eq(h.metric("hookd_gateway_requests_total{state=\"completed\"}"), 1,
       "completed")
    eq(h.metric("hookd_gateway_requests_total{state=\"failed\"}"), 1,
       "failed")
    eq(h.metric("hookd_gateway_upstream_attempts_total"), 2 + 4,
       "upstream calls")
    eq(h.metric("hookd_pending_deliveries"), 0, "pending deliveries")
    eq(h.metric("hookd_deliveries_total{outcome=\"failed\"}"), 0,
       "failed deliveries")
    eq(h.metric("hookd_attempts_total{result=\"retry\"}"), 0,
       "delivery attempts retried")


def test_unknown_method_says_method_not_implemented(t):
    from .harness import RawConn
    up = t.receiver()
    h = t.hookd("route /api/ %s\n" % up.url("/base/"))
    for head, want in ((b"TRACE /api/x HTTP/1.1\r\nHost: x\r\n\r\n",
                        "method not implemented"),
                       (b"FOO /api/x HTTP/1.1\r\nHost: x\r\n\r\n",
                        "method not implemented"),
                       (b"POST /api/x HTTP/1.1\r\nHost: x\r\n"
                        b"Transfer-Encoding: gzip\r\n\r\n",
                        "transfer coding not implemented")):
        c = RawConn(h.port)
        c.send(head)
        st, _, body = c.read_response()
        c.close()
        eq(st, 501, "%r status" % head[:8])
        eq(json.loads(body)["error"], want, "%r error" % head[:8])
    eq(up.got(), [], "upstream calls")
