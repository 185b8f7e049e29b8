"""The async gateway (contract §14, issue 13): hookd in front of an API.
A caller sends `POST /api.example.com/foo?callbackURL=...` with its client
token, gets 202 {"reqRefId", "status": "accepted"} once the request is on
disk; hookd calls the upstream (a real Python http.server on loopback),
and the upstream's answer goes to the callback URL as a signed webhook.
"""

import json
import urllib.parse

from .harness import Receiver, Reply, check, check_signature, eq, wait_until

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
