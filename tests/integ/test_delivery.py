"""Delivery (issue 3; contract §4, §5, §6, §8): what receivers get, the
outcome rules, retries, acks, one-off callbacks, idempotency, replays, and
durability across kill -9, torn journals and compaction."""

import json
import os
import time

from .harness import (RFC3339_MS, SLOW_RETRY, Reply, check, check_signature,
                      eq, free_port, wait_until)

SEED_ACK = {"ack": True, "timestamp": "1644730268220",
            "reqRefId": "1292101282", "refId": "3283191"}


class Setup:
    pass


def setup(t, paths=("/cb",), extra="", allow=True, **fields):
    """hookd, a receiver, client acme and one endpoint per path."""
    s = Setup()
    s.rcv = t.receiver()
    s.h = t.hookd(extra, allow=allow)
    s.client = s.h.client("acme")
    s.eps = [s.h.endpoint("acme", s.rcv.url(p), **fields) for p in paths]
    s.ep = s.eps[0]
    return s


def rfc3339(ts):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + ".000Z"


def only(ds):
    eq(len(ds), 1, "deliveries of the event")
    return ds[0]


def test_post_body_and_headers(t):
    s = setup(t, paths=("/cb",), headers={"X-Api-Key": "k1"})
    h, rcv = s.h, s.rcv
    raw = b'{"refId":  "3283191" ,\n "a":[1, 2]}'
    evt = h.event(raw=raw)
    check(evt["id"].startswith("evt_"), "event id %r" % evt["id"])
    eq(evt["deliveries"], 1, "deliveries")
    r = rcv.wait_for(1, "/cb")[0]
    eq(r.method, "POST", "method")
    eq(r.body, raw, "body byte for byte")
    eq(r.headers.get("content-type"), "application/json", "content-type")
    eq(r.headers.get("webhook-id"), evt["id"], "webhook-id")
    ts = int(r.headers.get("webhook-timestamp", "0"))
    check(abs(ts - time.time()) < 60, "webhook-timestamp %d is not now" % ts)
    check(r.headers.get("webhook-signature", "").startswith("v1,"),
          "webhook-signature %r" % r.headers.get("webhook-signature"))
    check_signature(r, s.ep["secret"])
    eq(r.headers.get("hookd-event-type"), "order.paid", "hookd-event-type")
    eq(r.headers.get("hookd-attempt"), "1", "hookd-attempt")
    check(r.headers.get("user-agent", "").startswith("hookd/"),
          "user-agent %r" % r.headers.get("user-agent"))
    eq(r.headers.get("x-api-key"), "k1", "endpoint header")
    d = only(h.wait_all(evt["id"]))
    eq((d["status"], d["attempts"], d["event"], d["endpoint"], d["client"],
        d["url"]), ("delivered", 1, evt["id"], s.ep["id"], "acme",
                    s.ep["url"]), "delivery")
    check(d["id"].startswith("dlv_"), "delivery id %r" % d["id"])
    eq((d["last"]["status"], d["last"]["error"]), (200, None), "last")
    eq(d["next_attempt_at"], None, "next_attempt_at of a delivered one")
    for k in ("created_at", "updated_at"):
        check(RFC3339_MS.match(d[k]), "%s %r" % (k, d[k]))
    check(RFC3339_MS.match(d["last"]["at"]), "last.at %r" % d["last"]["at"])


def test_same_id_every_endpoint_and_no_header_override(t):
    s = setup(t, paths=("/a", "/b"))
    h, rcv = s.h, s.rcv
    status, ep, _ = h.api("POST", "/v1/endpoints", {
        "client": "acme", "url": rcv.url("/c"),
        "headers": {"Webhook-Id": "forged", "User-Agent": "x"}})
    check(status in (201, 422), "endpoint overriding webhook-id: %d" % status)
    evt = h.event(data={"k": 1})
    eq(evt["deliveries"], 3 if status == 201 else 2, "deliveries")
    for path, ep in (("/a", s.eps[0]), ("/b", s.eps[1])):
        r = rcv.wait_for(1, path)[0]
        eq(r.headers["webhook-id"], evt["id"], "webhook-id at " + path)
        check_signature(r, ep["secret"])
    if status == 201:
        r = rcv.wait_for(1, "/c")[0]
        ids = [v for k, v in r.header_list if k.lower() == "webhook-id"]
        eq(ids, [evt["id"]], "webhook-id headers when an endpoint tries to "
           "replace it")
        check(r.headers["user-agent"].startswith("hookd/"),
              "user-agent replaced: %r" % r.headers["user-agent"])


def test_event_type_filters(t):
    rcv = t.receiver()
    h = t.hookd()
    h.client("acme")
    h.client("bolt")
    for path, events in (("/all", ["*"]), ("/order", ["order.*"]),
                         ("/refund", ["refund", "x.y"])):
        h.endpoint("acme", rcv.url(path), events=events)
    h.endpoint("acme", rcv.url("/off"), enabled=False)
    h.endpoint("bolt", rcv.url("/bolt"))
    for typ, n in (("order.paid", 2), ("refund", 2), ("orders.x", 1),
                   ("order", 1), ("refund.x", 1)):
        eq(h.event("acme", typ, {})["deliveries"], n, "deliveries of " + typ)
    time.sleep(0.5)
    eq(len(rcv.wait_for(5, "/all")), 5, "requests to *")
    eq([r.headers["hookd-event-type"] for r in rcv.wait_for(1, "/order")],
       ["order.paid"], "order.* got")
    eq(rcv.got("/off") + rcv.got("/bolt"), [], "disabled / other client got")


def test_get_delivery_query(t):
    s = setup(t, paths=("/g", "/q?x=1"), method="GET")
    h, rcv = s.h, s.rcv
    evt = h.event(raw=b'{"success": true, "refId": "3283191"}')
    r = rcv.wait_for(1, "/g")[0]
    eq(r.method, "GET", "method")
    eq(r.query, "success=true&refId=3283191", "query string")
    eq(r.body, b"", "GET body")
    check_signature(r, s.eps[0]["secret"], r.query.encode())
    r = rcv.wait_for(1, "/q")[0]
    eq(r.query, "x=1&success=true&refId=3283191", "query after the URL's own")
    h.wait_all(evt["id"], n=2)


def test_url_template(t):
    s = setup(t, paths=("/cb/{refId}",))
    h, rcv = s.h, s.rcv
    bad = h.event(data={"other": "1"})
    d = h.wait_delivery(only(h.deliveries_of(bad["id"]))["id"],
                        status="failed")
    eq(d["last"]["error"], "template: missing refId", "last.error")
    h.wait_all(h.event(data={"refId": "3283191"})["id"])
    h.wait_all(h.event(data={"refId": 42})["id"])
    h.wait_all(h.event(data={"refId": "a b"})["id"])
    eq([r.path for r in rcv.got()], ["/cb/3283191", "/cb/42", "/cb/a%20b"],
       "paths received (nothing for the failed one)")


def test_retry_500_then_200_with_log(t):
    s = setup(t)
    h, rcv = s.h, s.rcv
    rcv.on("/cb", Reply(500, "boom"), Reply(200, "fine"))
    evt = h.event(data={"n": 1})
    d = only(h.wait_all(evt["id"]))
    eq((d["status"], d["attempts"], d["last"]["status"]),
       ("delivered", 2, 200), "delivery")
    rs = rcv.wait_for(2, "/cb")
    eq([r.headers["hookd-attempt"] for r in rs], ["1", "2"], "hookd-attempt")
    eq({r.headers["webhook-id"] for r in rs}, {evt["id"]}, "webhook-id")
    for r in rs:
        check_signature(r, s.ep["secret"])
    full = h.delivery(d["id"])
    log = full["log"]
    eq([(a["status"], a["body"], a["error"]) for a in log],
       [(500, "boom", None), (200, "fine", None)], "delivery log")
    for a in log:
        check(RFC3339_MS.match(a["at"]) and isinstance(a["ms"], int),
              "log entry %r" % a)


def test_rejected_at_once(t):
    s = setup(t, paths=("/400", "/413", "/422"))
    h, rcv = s.h, s.rcv
    for code in (400, 413, 422):
        rcv.on("/%d" % code, code)
    evt = h.event(data={})
    h.wait_all(evt["id"], "failed", n=3)
    time.sleep(1.0)  # five times the retry delay: no second attempt
    for d in h.deliveries_of(evt["id"]):
        eq((d["status"], d["attempts"], d["next_attempt_at"]),
           ("failed", 1, None), "delivery to " + d["url"])
        eq(str(d["last"]["status"]), d["url"].rsplit("/", 1)[1], "last.status")
    for code in (400, 413, 422):
        eq(len(rcv.got("/%d" % code)), 1, "requests answered %d" % code)


def test_410_disables_endpoint(t):
    s = setup(t)
    h, rcv = s.h, s.rcv
    rcv.on("/cb", 410)
    evt = h.event(data={})
    d = only(h.wait_all(evt["id"], "failed"))
    eq((d["attempts"], d["last"]["status"]), (1, 410), "delivery")
    ep = h.req(200, "GET", "/v1/endpoints/" + s.ep["id"])
    eq(ep["enabled"], False, "endpoint enabled after 410")
    eq(h.event(data={})["deliveries"], 0, "deliveries to a disabled endpoint")
    h.req(200, "PATCH", "/v1/endpoints/" + s.ep["id"], {"enabled": True})
    rcv.on("/cb", 200)
    h.wait_all(h.event(data={})["id"], n=1)


def test_acks(t):
    s = setup(t, paths=("/seed", "/text", "/array", "/empty"))
    h, rcv = s.h, s.rcv
    rcv.on("/seed", Reply(200, SEED_ACK))
    rcv.on("/text", Reply(200, "thanks"))
    rcv.on("/array", Reply(200, [1, 2]))
    rcv.on("/empty", Reply(204))
    evt = h.event(data={"refId": "3283191"})
    ds = {d["url"].rsplit("/", 1)[1]: d for d in h.wait_all(evt["id"], n=4)}
    eq(ds["seed"]["ack"], SEED_ACK, "seed ack kept")
    for k in ("text", "array", "empty"):
        eq((ds[k]["status"], ds[k]["attempts"], ds[k]["ack"]),
           ("delivered", 1, None), "delivery answered " + k)
    eq(h.delivery(ds["seed"]["id"])["ack"], SEED_ACK, "ack via GET by id")


def test_ack_false_retried(t):
    s = setup(t)
    h, rcv = s.h, s.rcv
    rcv.on("/cb", Reply(200, {"ack": False}), Reply(201, {"ack": True}))
    d = only(h.wait_all(h.event(data={})["id"]))
    eq((d["attempts"], d["ack"]), (2, {"ack": True}), "delivery")
    eq(len(rcv.got("/cb")), 2, "requests")


def test_retries_exhausted(t):
    s = setup(t)
    h, rcv = s.h, s.rcv
    rcv.on("/cb", 500)
    d = only(h.wait_all(h.event(data={})["id"], "failed"))
    eq((d["attempts"], d["last"]["status"], d["next_attempt_at"]),
       (4, 500, None), "after 1 + 3 scheduled attempts")
    eq(len(rcv.got("/cb")), 4, "requests")


def test_redirect_not_followed_and_log_body_cut(t):
    s = setup(t)
    h, rcv = s.h, s.rcv
    rcv.on("/cb", Reply(302, "x" * 5000, {"Location": rcv.url("/else")}),
           Reply(200))
    d = only(h.wait_all(h.event(data={})["id"]))
    eq(d["attempts"], 2, "a 3xx is retried")
    eq(rcv.got("/else"), [], "requests to the redirect target")
    log = h.delivery(d["id"])["log"]
    eq((log[0]["status"], log[0]["body"]), (302, "x" * 1024),
       "first attempt in the log (body cut at 1 KiB)")


def test_refused_is_retried_then_failed(t):
    h = t.hookd()
    h.client("acme")
    h.endpoint("acme", "http://127.0.0.1:%d/cb" % free_port())
    d = only(h.wait_all(h.event(data={})["id"], "failed"))
    eq((d["attempts"], d["last"]["status"]), (4, None), "delivery")
    check(isinstance(d["last"]["error"], str) and d["last"]["error"],
          "last.error %r for a refused connection" % d["last"]["error"])
    eq(len(h.delivery(d["id"])["log"]), 4, "log entries")


def test_slow_receiver_does_not_delay_others(t):
    # Had the fast deliveries waited for the hanging one, each would take
    # the attempt timeout (8 s); the bound (5 s) leaves room on both sides,
    # for a loaded machine below it and for the timeout above it.
    s = setup(t, paths=("/slow", "/fast"), extra="timeout 8s\n")
    h, rcv = s.h, s.rcv
    rcv.on("/slow", Reply(200, delay=60))
    first = h.event(data={"n": 0})
    rcv.wait_for(1, "/slow")
    for i in range(1, 4):
        t0 = time.monotonic()
        h.event(data={"n": i})
        rcv.wait_for(i + 1, "/fast", timeout=15)
        took = time.monotonic() - t0
        check(took < 5.0, "delivery %d to the fast receiver took %.1fs while "
              "another receiver hangs" % (i, took))
    slow = [d for d in h.deliveries_of(first["id"])
            if d["url"].endswith("/slow")][0]
    d = h.wait_delivery(slow["id"], lambda d: d["attempts"] >= 1)
    eq((d["status"], d["last"]["error"], d["last"]["status"]),
       ("pending", "timeout", None), "slow delivery after its timeout")
    check(d["next_attempt_at"] is not None, "a timed-out delivery has no "
          "next attempt")


def test_retry_after_honoured(t):
    s = setup(t)
    h, rcv = s.h, s.rcv
    rcv.on("/cb", Reply(503, headers={"Retry-After": "1"}), Reply(200))
    d = only(h.wait_all(h.event(data={})["id"]))
    eq(d["attempts"], 2, "attempts")
    a, b = rcv.wait_for(2, "/cb")
    check(b.at - a.at >= 0.9, "second attempt %.2fs after the first despite "
          "Retry-After: 1" % (b.at - a.at))


def test_oneoff_callback(t):
    s = setup(t)
    h, rcv = s.h, s.rcv
    url = rcv.url("/once/3283191")
    evt = h.event(data={"refId": "3283191"}, callback=url)
    eq(evt["deliveries"], 2, "endpoint + one-off")
    r = rcv.wait_for(1, "/once/3283191")[0]
    eq(r.method, "POST", "one-off method")
    eq(r.headers["webhook-id"], evt["id"], "webhook-id")
    check_signature(r, s.client["secret"])
    ds = h.wait_all(evt["id"], n=2)
    one = [d for d in ds if d["endpoint"] is None]
    eq([d["url"] for d in one], [url], "the one-off delivery")
    # The next event does not go there again.
    h.wait_all(h.event(data={})["id"], n=1)
    eq(len(rcv.got("/once/3283191")), 1, "one-off requests")
    status, body, _ = h.api("POST", "/v1/events?callbackURL=" +
                            "ftp%3A%2F%2Fexample.com%2F",
                            {"client": "acme", "type": "t", "data": {}})
    eq(status, 422, "ftp callbackURL")


def test_event_validation(t):
    h = t.hookd()
    h.client("acme")
    for body, want in (({"client": "acme", "type": "t", "data": [1]}, 422),
                       ({"client": "acme", "type": "t", "data": "x"}, 422),
                       ({"client": "acme", "type": "t"}, 422),
                       ({"client": "acme", "data": {}}, 422),
                       ({"client": "acme", "type": 5, "data": {}}, 422),
                       (b'{"client": "acme", "type": "t", "data": {', 400)):
        status, _, _ = h.api("POST", "/v1/events", body)
        eq(status, want, "event %r" % (body,))
    status, _, _ = h.api("POST", "/v1/events", {"client": "nobody",
                                                "type": "t", "data": {}})
    check(status in (404, 422), "event for a missing client: %d" % status)


def test_idempotency_key(t):
    s = setup(t)
    h, rcv = s.h, s.rcv
    key = {"Idempotency-Key": "order-1"}
    first = h.api("POST", "/v1/events", {"client": "acme", "type": "t",
                                         "data": {"n": 1}}, headers=key)
    again = h.api("POST", "/v1/events", {"client": "acme", "type": "t",
                                         "data": {"n": 1}}, headers=key)
    eq(first[0], 202, "first status")
    eq(again[:2], first[:2], "repeat answer")
    h.wait_all(first[1]["id"], n=1)
    time.sleep(0.5)
    eq(len(rcv.got("/cb")), 1, "requests for a repeated event")
    eq([e["id"] for e in h.req(200, "GET", "/v1/events")["data"]],
       [first[1]["id"]], "events")
    other = h.event(data={"n": 1}, headers={"Idempotency-Key": "order-2"})
    check(other["id"] != first[1]["id"], "another key gave the same id")
    status, _, _ = h.api("POST", "/v1/events", {"client": "acme", "type": "t",
                                                "data": {}},
                         headers={"Idempotency-Key": "k" * 256})
    check(status in (400, 422), "Idempotency-Key of 256 chars: %d" % status)
    h.restart()
    eq(h.api("POST", "/v1/events", {"client": "acme", "type": "t",
                                    "data": {"n": 1}}, headers=key)[:2],
       first[:2], "repeat answer after a restart")


def test_manual_retry(t):
    s = setup(t)
    h, rcv = s.h, s.rcv
    rcv.on("/cb", 400, 200)
    d = only(h.wait_all(h.event(data={})["id"], "failed"))
    h.req(202, "POST", "/v1/deliveries/%s/retry" % d["id"])
    d = h.wait_delivery(d["id"])
    eq((d["attempts"], d["last"]["status"]), (2, 200), "after retry")
    h.req(404, "POST", "/v1/deliveries/dlv_00000000000fffff/retry")
    other = h.client("bolt")["token"]
    h.req(404, "POST", "/v1/deliveries/%s/retry" % d["id"], token=other)


def test_replay(t):
    s = setup(t)
    h, rcv = s.h, s.rcv
    rcv.on("/cb", 400, 400, 200)
    since = rfc3339(time.time() - 60)
    evts = [h.event(data={"n": i})["id"] for i in range(2)]
    for e in evts:
        h.wait_all(e, "failed", n=1)
    path = "/v1/endpoints/%s/replay" % s.ep["id"]
    eq(h.req(202, "POST", path, {"since": rfc3339(time.time() + 3600)}),
       {"requeued": 0}, "replay since the future")
    eq(h.req(202, "POST", path, {"since": since}), {"requeued": 2}, "replay")
    for e in evts:
        h.wait_all(e, "delivered", n=1)
    eq(h.req(202, "POST", path, {"since": since}), {"requeued": 0},
       "replay with nothing failed")
    status, _, _ = h.api("POST", path, {"since": "yesterday"})
    check(status in (400, 422), "replay with a bad time: %d" % status)


def test_event_list_and_get(t):
    s = setup(t)
    h = s.h
    ids = [h.event(type=typ, data={"i": i})["id"]
           for i, typ in enumerate(("a", "b", "a"))]
    check(ids == sorted(ids), "event ids do not sort: %r" % ids)
    lst = h.req(200, "GET", "/v1/events")
    eq([e["id"] for e in lst["data"]], ids[::-1], "newest first")
    for e in lst["data"]:
        check("data" not in e, "event list has data: %r" % e)
    eq([e["id"] for e in h.req(200, "GET", "/v1/events?type=a")["data"]],
       [ids[2], ids[0]], "?type=a")
    eq(h.req(200, "GET", "/v1/events?client=bolt")["data"], [], "?client=")
    page = h.req(200, "GET", "/v1/events?limit=2")
    eq(([e["id"] for e in page["data"]], page["next"]),
       (ids[:0:-1], ids[1]), "first page")
    page = h.req(200, "GET", "/v1/events?limit=2&after=" + ids[1])
    eq(([e["id"] for e in page["data"]], page["next"]), ([ids[0]], None),
       "second page")
    e = h.req(200, "GET", "/v1/events/" + ids[1])
    eq((e["id"], e["type"], e["client"], e["data"]), (ids[1], "b", "acme",
                                                      {"i": 1}), "event")
    eq(len(e["deliveries"]), 1, "deliveries in the event")
    h.req(404, "GET", "/v1/events/evt_00000000000fffff")
    tok = s.client["token"]
    eq(h.req(200, "GET", "/v1/events/" + ids[1], token=tok)["id"], ids[1],
       "client reads its event")
    other = h.client("bolt")["token"]
    h.req(404, "GET", "/v1/events/" + ids[1], token=other)
    eq(h.req(200, "GET", "/v1/events", token=other)["data"], [],
       "another client's event list")


def test_delivery_filters(t):
    s = setup(t, paths=("/ok", "/bad"))
    h, rcv = s.h, s.rcv
    rcv.on("/bad", 400)
    ok, bad = s.eps
    evts = [h.event(data={"i": i})["id"] for i in range(2)]
    for e in evts:
        wait_until(lambda: all(d["status"] != "pending"
                               for d in h.deliveries_of(e)), 15,
                   what="deliveries of %s settled" % e)

    def ids(q, **kw):
        return sorted(d["id"] for d in h.req(200, "GET", "/v1/deliveries" + q,
                                             **kw)["data"])
    every = ids("")
    eq(len(every), 4, "all deliveries")
    failed = h.deliveries("?status=failed")
    eq(sorted(d["endpoint"] for d in failed), [bad["id"]] * 2, "failed ones")
    okd = h.deliveries("?endpoint=" + ok["id"])
    eq([d["status"] for d in okd], ["delivered"] * 2, "?endpoint=ok")
    eq(ids("?status=delivered&endpoint=" + bad["id"]), [], "combined filter")
    eq(len(ids("?event=" + evts[0])), 2, "?event=")
    eq(ids("?client=acme"), every, "?client=acme")
    eq(ids("?status=pending"), [], "?status=pending")
    eq(ids("", token=s.client["token"]), every, "client's own list")
    other = h.client("bolt")["token"]
    eq(ids("", token=other), [], "another client's list")
    h.req(404, "GET", "/v1/deliveries/" + every[0], token=other)
    page = h.req(200, "GET", "/v1/deliveries?limit=3")
    eq(len(page["data"]), 3, "?limit=3")
    eq(page["next"], page["data"][-1]["id"], "next")
    rest = h.req(200, "GET", "/v1/deliveries?after=" + page["next"])
    eq(sorted(d["id"] for d in page["data"] + rest["data"]), every,
       "both pages")


# ---------------------------------------------------------- durability


def test_kill9_with_pending_then_recover(t):
    s = setup(t, extra=SLOW_RETRY)
    h, rcv = s.h, s.rcv
    rcv.on("/cb", 500)
    evts = [h.event(data={"i": i})["id"] for i in range(3)]
    for e in evts:
        d = only(h.deliveries_of(e))
        h.wait_delivery(d["id"], lambda d: d["attempts"] >= 1)
    h.kill9()
    rcv.on("/cb", 200)
    h.start()
    for e in evts:
        h.wait_all(e, n=1, timeout=20)
    got = {r.headers["webhook-id"] for r in rcv.got("/cb")
           if r.headers.get("hookd-attempt") != "1"}
    eq(got, set(evts), "events retried after the restart")


def test_kill9_right_after_202(t):
    s = setup(t, extra=SLOW_RETRY)
    h, rcv = s.h, s.rcv
    rcv.on("/cb", 503)
    evt = h.event(data={"refId": "3283191"})["id"]
    h.kill9()
    rcv.on("/cb", 200)
    h.start()
    h.req(200, "GET", "/v1/events/" + evt)
    h.wait_all(evt, n=1, timeout=20)
    check(any(r.headers["webhook-id"] == evt for r in rcv.got("/cb")),
          "the receiver never got the event")


def test_sigterm_finishes_or_resumes(t):
    s = setup(t)
    h, rcv = s.h, s.rcv
    rcv.on("/cb", Reply(200, delay=1.0))
    evt = h.event(data={})["id"]
    rcv.wait_for(1, "/cb")
    h.stop()  # exit code 0 is asserted
    rcv.on("/cb", 200)
    h.start()
    h.wait_all(evt, n=1)


def test_torn_journal_tail(t):
    s = setup(t)
    h = s.h
    evt = h.event(data={"n": 1})["id"]
    h.wait_all(evt, n=1)
    h.stop()
    path = os.path.join(h.data, "journal.log")
    check(os.path.exists(path), "no journal.log in %s" % os.listdir(h.data))
    with open(path, "ab") as f:
        f.write(b'E 1234 {"id":"evt_00000000000ffff0","da')
    h.start()
    check("torn" in h.log(), "no log line about the torn record")
    eq(only(h.deliveries_of(evt))["status"], "delivered", "old delivery")
    h.wait_all(h.event(data={"n": 2})["id"], n=1)
    h.restart()
    eq(len(h.req(200, "GET", "/v1/events")["data"]), 2, "events")


def test_corrupt_journal_stops_start(t):
    s = setup(t)
    h = s.h
    for i in range(3):
        h.wait_all(h.event(data={"n": i})["id"], n=1)
    h.stop()
    path = os.path.join(h.data, "journal.log")
    with open(path, "rb") as f:
        lines = f.read().split(b"\n")
    check(len(lines) > 3, "journal has %d lines" % len(lines))
    # Change one character inside the first record (the event's data when
    # it can be found, so the line stays well-formed).
    i = lines[0].find(b'"n": 0')
    if i >= 0:
        lines[0] = lines[0][:i] + b'"n": 7' + lines[0][i + 6:]
    else:
        i = len(lines[0]) // 2
        lines[0] = lines[0][:i] + bytes([lines[0][i] ^ 1]) + lines[0][i + 1:]
    with open(path, "wb") as f:
        f.write(b"\n".join(lines))
    h.start(wait=False)
    try:
        rc = h.proc.wait(10)
    except Exception:
        raise AssertionError("hookd started on a journal corrupt in line 1")
    check(rc != 0, "exit code %d on a corrupt journal" % rc)
    check("journal.log:1:" in h.log(), "no journal.log:1: reason in the log")


def test_compact_keeps_pending(t):
    s = setup(t, paths=("/cb", "/ok"), extra=SLOW_RETRY)
    h, rcv = s.h, s.rcv
    rcv.on("/cb", 500)
    evts = [h.event(data={"i": i})["id"] for i in range(3)]
    for e in evts:
        wait_until(lambda: any(d["status"] == "delivered"
                               for d in h.deliveries_of(e)), 15,
                   what="the /ok delivery")
    status, _, _ = h.api("POST", "/v1/compact", token=s.client["token"])
    eq(status, 403, "compact with a client token")
    status, body, _ = h.api("POST", "/v1/compact")
    check(status in (200, 202), "POST /v1/compact: %d %r" % (status, body))
    time.sleep(0.5)
    rcv.on("/cb", 200)
    for e in evts:
        h.wait_all(e, n=2, timeout=20)
    h.restart()
    for e in evts:
        eq([d["status"] for d in h.deliveries_of(e)], ["delivered"] * 2,
           "after compaction and restart")


def test_delete_fails_pending(t):
    s = setup(t, extra=SLOW_RETRY)
    h, rcv = s.h, s.rcv
    rcv.on("/cb", 500)
    rcv.on("/bolt", 500)
    h.client("bolt")
    h.endpoint("bolt", rcv.url("/bolt"))
    e1 = h.event(data={})["id"]
    e2 = h.event("bolt", data={})["id"]
    ds = [only(h.deliveries_of(e)) for e in (e1, e2)]
    for d in ds:
        h.wait_delivery(d["id"], lambda d: d["attempts"] >= 1)
    h.req(204, "DELETE", "/v1/endpoints/" + s.ep["id"])
    d = h.wait_delivery(ds[0]["id"], status="failed")
    eq(d["last"]["error"], "endpoint deleted", "last.error")
    h.req(204, "DELETE", "/v1/clients/bolt")
    d = h.wait_delivery(ds[1]["id"], status="failed")
    eq(d["last"]["error"], "client deleted", "last.error")
    n = len(rcv.got())
    time.sleep(1.5)
    eq(len(rcv.got()), n, "requests after the deletes")


def test_rotate_secret_signs_with_both(t):
    s = setup(t)
    h, rcv = s.h, s.rcv
    new = h.req(200, "POST", "/v1/endpoints/%s/rotate-secret"
                % s.ep["id"])["secret"]
    h.wait_all(h.event(data={"x": 1})["id"], n=1)
    r = rcv.wait_for(1, "/cb")[0]
    sigs = r.headers["webhook-signature"].split(" ")
    eq(len(sigs), 2, "signatures during a rotation")
    check_signature(r, new)
    check_signature(r, s.ep["secret"])


def test_metrics(t):
    s = setup(t)
    h = s.h
    before = h.metric("hookd_events_total")
    check(before is not None, "no hookd_events_total in /metrics")
    h.wait_all(h.event(data={})["id"], n=1)
    eq(h.metric("hookd_events_total"), before + 1, "hookd_events_total")
    _, text, hdrs = h.api("GET", "/metrics", token=None)
    check(hdrs.get("content-type", "").startswith("text/plain"),
          "metrics content-type %r" % hdrs.get("content-type"))
    check("# TYPE hookd_events_total counter" in text, "no TYPE line")
    h.stop()
    h.write_conf(open(h.conf_path).read() + "metrics off\n")
    h.start()
    eq(h.api("GET", "/metrics", token=None)[0], 404, "/metrics when off")
