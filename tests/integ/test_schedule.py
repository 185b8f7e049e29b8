"""Scheduling, endpoint tests, health and operational webhooks (contract
§15, issue 14 items 4-7): deliver_at / delay held across a kill -9 and a
compaction, POST /v1/endpoints/{id}/test, the endpoint's health figures,
and the signed delivery.failed / endpoint.disabled events at ops_url."""

import base64
import calendar
import json
import secrets
import time

from .harness import (BASE_CONF, ALLOW_LOOPBACK, Reply, check,
                      check_signature, eq, run_hookd, wait_until)


def wall_ms(rfc3339):
    """Epoch ms of an RFC 3339 UTC time with milliseconds, as hookd
    writes them."""
    main, frac = rfc3339.rstrip("Z").split(".")
    return (calendar.timegm(time.strptime(main, "%Y-%m-%dT%H:%M:%S")) *
            1000 + int(frac))


def arrival_wall_ms(req):
    """The wall-clock time (ms) a receiver got req (recorded on the
    monotonic clock)."""
    return (time.time() - (time.monotonic() - req.at)) * 1000


def post_event(h, body, expect=202):
    return h.req(expect, "POST", "/v1/events", body)


def new_secret():
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def wait_compacted(h):
    before = h.log().count("msg=compacted")
    eq(h.req(202, "POST", "/v1/compact")["started"], True, "started")
    wait_until(lambda: h.log().count("msg=compacted") > before, 30, 0.1,
               "the compaction to finish")


def test_delay_survives_kill9_and_compaction(t):
    h = t.hookd()
    rcv = t.receiver()
    h.client("acme")
    h.endpoint("acme", rcv.url("/d"))
    soon = post_event(h, {"client": "acme", "type": "a.b", "data": {},
                          "delay": "3s"})
    far_at = time.strftime("%Y-%m-%dT%H:%M:%S.250Z",
                           time.gmtime(time.time() + 3600))
    far = post_event(h, {"client": "acme", "type": "a.b", "data": {"n": 2},
                         "deliver_at": far_at})
    secs = post_event(h, {"client": "acme", "type": "a.b", "data": {},
                          "delay": 7200})
    h.kill9()
    h.start()
    ev = h.req(200, "GET", "/v1/events/" + soon["id"])
    deliver_at = wall_ms(ev["deliver_at"])
    check(deliver_at > wall_ms(ev["created_at"]), "deliver_at %r after "
          "created_at %r" % (ev["deliver_at"], ev["created_at"]))
    got = rcv.wait_for(1, "/d")
    check(arrival_wall_ms(got[0]) >= deliver_at - 1, "arrived at %.0f, "
          "before deliver_at %d" % (arrival_wall_ms(got[0]), deliver_at))
    eq(json.loads(got[0].body), {}, "the body")
    # The far ones stay pending with next_attempt_at = deliver_at, also
    # after a compaction and another kill -9.
    for rnd in range(2):
        for evt, want in ((far, far_at), (secs, None)):
            e = h.req(200, "GET", "/v1/events/" + evt["id"])
            if want is not None:
                eq(e["deliver_at"], want, "deliver_at")
            d = e["deliveries"][0]
            eq(d["status"], "pending", "status (round %d)" % rnd)
            eq(d["attempts"], 0, "attempts")
            eq(d["next_attempt_at"], e["deliver_at"], "next_attempt_at")
        if rnd == 0:
            wait_compacted(h)
            h.kill9()
            h.start()
    eq(len(rcv.got("/d")), 1, "only the 3 s event delivered")
    # Without a delay: deliver_at null, delivered at once.
    now = post_event(h, {"client": "acme", "type": "a.b", "data": {}})
    eq(h.req(200, "GET", "/v1/events/" + now["id"])["deliver_at"], None,
       "deliver_at without delay")
    h.wait_all(now["id"])


def test_delay_on_callback_oneoff(t):
    h = t.hookd()
    rcv = t.receiver()
    h.client("acme")
    r = h.req(202, "POST", "/v1/events?callbackURL=" + rcv.url("/cb"),
              {"client": "acme", "type": "a.b", "data": {}, "delay": "1h"})
    e = h.req(200, "GET", "/v1/events/" + r["id"])
    eq(len(e["deliveries"]), 1, "the one-off")
    d = e["deliveries"][0]
    eq((d["status"], d["next_attempt_at"]), ("pending", e["deliver_at"]),
       "the one-off waits for deliver_at")


def test_delay_bad_values_422(t):
    h = t.hookd()
    h.client("acme")
    base = {"client": "acme", "type": "a.b", "data": {}}
    past = post_event(h, dict(base, deliver_at="2001-01-01T00:00:00Z"))
    eq(h.req(200, "GET", "/v1/events/" + past["id"])["deliver_at"], None,
       "a past deliver_at is now")
    two_years = time.strftime("%Y-%m-%dT%H:%M:%SZ",
                              time.gmtime(time.time() + 730 * 86400))
    for extra, words in (
            ({"delay": "5s", "deliver_at": "2030-01-01T00:00:00Z"},
             "not both"),
            ({"delay": "366d"}, "365 days"),
            ({"delay": 31622400}, "365 days"),
            ({"delay": "soon"}, "duration"),
            ({"delay": "-5s"}, "duration"),
            ({"delay": 1.5}, "duration"),
            ({"deliver_at": "tomorrow"}, "RFC 3339"),
            ({"deliver_at": two_years}, "365 days")):
        body = h.req(422, "POST", "/v1/events", dict(base, **extra))
        check(words in body["error"], "%r: %r" % (extra, body))
    eq(len(h.req(200, "GET", "/v1/events")["data"]), 1,
       "only the valid event was stored")


def test_endpoint_test_reaches_only_it(t):
    h = t.hookd()
    rcv = t.receiver()
    c = h.client("acme")
    ep1 = h.endpoint("acme", rcv.url("/one"), events=["order.*"])
    h.endpoint("acme", rcv.url("/all"), events=["*"])
    r = h.req(202, "POST", "/v1/endpoints/%s/test" % ep1["id"],
              token=c["token"])
    eq(r["deliveries"], 1, "deliveries")
    check(r["id"].startswith("evt_"), r)
    got = rcv.wait_for(1, "/one")
    check_signature(got[0], ep1["secret"])
    eq(got[0].headers["hookd-event-type"], "hookd.test", "type")
    eq(json.loads(got[0].body), {"test": True, "endpoint": ep1["id"]},
       "data")
    h.wait_all(r["id"])
    ev = h.req(200, "GET", "/v1/events/" + r["id"])
    eq([d["endpoint"] for d in ev["deliveries"]], [ep1["id"]],
       "the test event's deliveries")
    eq(rcv.got("/all"), [], "the other endpoint got nothing")
    # Disabled: 409 saying to enable it; unknown: 404.
    h.req(200, "PATCH", "/v1/endpoints/" + ep1["id"], {"enabled": False})
    body = h.req(409, "POST", "/v1/endpoints/%s/test" % ep1["id"])
    check("enable" in body["error"], body)
    h.req(404, "POST", "/v1/endpoints/ep_00000000000000ff/test")


def test_endpoint_test_counts_as_retry_call(t):
    h = t.hookd("max_retries_per_minute 2\n")
    rcv = t.receiver()
    c = h.client("acme")
    ep = h.endpoint("acme", rcv.url("/x"))
    path = "/v1/endpoints/%s/test" % ep["id"]
    h.req(202, "POST", path, token=c["token"])
    h.req(202, "POST", path, token=c["token"])
    body = h.req(429, "POST", path, token=c["token"])
    check("max_retries_per_minute" in body["error"], body)
    h.req(202, "POST", path)        # the admin is not limited
    # FIX14 item 8: the message names test calls, and the 429 (of /test
    # and of a retry alike) says when to come back.
    dl = h.deliveries("?limit=1")[0]
    for p in (path, "/v1/deliveries/%s/retry" % dl["id"]):
        st, body, hdrs = h.api("POST", p, token=c["token"])
        eq(st, 429, p)
        check(body["error"].startswith("too many retry, replay and test "
                                       "calls for client acme"), body)
        check(1 <= int(hdrs.get("retry-after", "0")) <= 60,
              "%s: Retry-After %r" % (p, hdrs.get("retry-after")))


def test_health_moves_and_survives_restart(t):
    h = t.hookd()
    rcv = t.receiver()
    h.client("acme")
    ep = h.endpoint("acme", rcv.url("/h"))
    rcv.on("/h", 200, 500)
    hl = h.req(200, "GET", "/v1/endpoints/" + ep["id"])["health"]
    eq(hl, {"last_success_at": None, "last_failure_at": None,
            "failing_since": None, "delivered_24h": 0, "failed_24h": 0},
       "health of a new endpoint")
    e1 = post_event(h, {"client": "acme", "type": "a", "data": {}})
    h.wait_all(e1["id"])
    hl = h.req(200, "GET", "/v1/endpoints/" + ep["id"])["health"]
    check(hl["last_success_at"] is not None, hl)
    eq((hl["last_failure_at"], hl["failing_since"], hl["delivered_24h"],
        hl["failed_24h"]), (None, None, 1, 0), "after a success")
    e2 = post_event(h, {"client": "acme", "type": "a", "data": {}})
    h.wait_all(e2["id"], status="failed")
    hl = h.req(200, "GET", "/v1/endpoints/" + ep["id"])["health"]
    check(hl["last_failure_at"] is not None and
          hl["failing_since"] is not None, hl)
    check(wall_ms(hl["last_failure_at"]) >= wall_ms(hl["failing_since"]),
          hl)
    eq((hl["delivered_24h"], hl["failed_24h"]), (1, 1), "after a failure")
    listed = [e for e in h.req(200, "GET", "/v1/endpoints")["data"]
              if e["id"] == ep["id"]][0]["health"]
    eq(listed, hl, "health in the list")
    h.restart()
    after = h.req(200, "GET", "/v1/endpoints/" + ep["id"])["health"]
    for k in ("last_success_at", "last_failure_at", "delivered_24h",
              "failed_24h"):
        eq(after[k], hl[k], k + " after a restart")


def ops_conf(ops, secret, extra=""):
    return "ops_url %s\nops_secret %s\n%s" % (ops.url("/ops"), secret,
                                                extra)


def ops_events(h):
    return [e for e in h.req(200, "GET", "/v1/events?limit=1000")["data"]
            if e["client"] == "hookd:ops"]


def test_ops_delivery_failed_signed_once(t):
    ops = t.receiver()
    secret = new_secret()
    h = t.hookd(ops_conf(ops, secret))
    rcv = t.receiver()
    rcv.on("/bad", 400)
    h.client("acme")
    ep = h.endpoint("acme", rcv.url("/bad"), events=["a.*"])
    ev = post_event(h, {"client": "acme", "type": "a.b", "data": {}})
    d = h.wait_all(ev["id"], status="failed")[0]
    got = ops.wait_for(1, "/ops")
    check_signature(got[0], secret)
    eq(got[0].headers["hookd-event-type"], "delivery.failed", "type")
    data = json.loads(got[0].body)
    eq((data["delivery"], data["event"], data["endpoint"], data["client"],
        data["url"], data["attempts"], data["status"]),
       (d["id"], ev["id"], ep["id"], "acme", rcv.url("/bad"), 1, 400),
       "delivery.failed data")
    # A restart replays the failure without a second event.
    h.restart()
    evs = ops_events(h)
    eq([e["type"] for e in evs], ["delivery.failed"], "ops events")
    h.wait_all(evs[0]["id"])
    eq(len(ops.got("/ops")), 1, "requests at ops_url")


def test_ops_url_failing_does_not_loop(t):
    ops = t.receiver()
    ops.on("/ops", 500)
    secret = new_secret()
    h = t.hookd(ops_conf(ops, secret))
    rcv = t.receiver()
    rcv.on("/bad", 400)
    h.client("acme")
    h.endpoint("acme", rcv.url("/bad"), events=["a.*"])
    ev = post_event(h, {"client": "acme", "type": "a.b", "data": {}})
    h.wait_all(ev["id"], status="failed")
    wait_until(lambda: ops_events(h), 15, 0.1, "an ops event")
    oe = ops_events(h)[0]
    # Its delivery: 1 + 3 retries on the global schedule, then failed.
    d = h.wait_all(oe["id"], status="failed")[0]
    eq(d["attempts"], 4, "attempts of the ops delivery")
    reqs = ops.got("/ops")
    eq(len(reqs), 4, "requests at ops_url")
    eq(len(set(r.headers["webhook-id"] for r in reqs)), 1, "one event")
    h.restart()
    eq(len(ops_events(h)), 1, "ops events after its delivery failed")
    eq(len(ops.got("/ops")), 4, "requests at ops_url after a restart")


def test_ops_endpoint_disabled_once(t):
    ops = t.receiver()
    secret = new_secret()
    h = t.hookd(ops_conf(ops, secret, "disable_after 500ms\n"
                         "retry_schedule " + "200ms " * 30 + "\n"))
    rcv = t.receiver()
    rcv.on("/down", 503)
    h.client("acme")
    ep = h.endpoint("acme", rcv.url("/down"))
    post_event(h, {"client": "acme", "type": "a.b", "data": {}})
    wait_until(lambda: not h.req(200, "GET", "/v1/endpoints/" +
                                 ep["id"])["enabled"], 30, 0.1,
               "the endpoint disabled")
    got = ops.wait_for(1, "/ops")
    check_signature(got[0], secret)
    eq(got[0].headers["hookd-event-type"], "endpoint.disabled", "type")
    data = json.loads(got[0].body)
    eq((data["endpoint"], data["client"], data["url"], data["reason"]),
       (ep["id"], "acme", rcv.url("/down"), "failing"), "data")
    check(data["failing_since"] is not None, data)
    h.restart()
    evs = ops_events(h)
    eq([e["type"] for e in evs], ["endpoint.disabled"], "ops events")
    h.wait_all(evs[0]["id"])
    eq(len(ops.got("/ops")), 1, "requests at ops_url")


def test_ops_config_checked(t):
    ops = t.receiver()
    cases = (
        ("ops_url %s\n" % ops.url("/ops"), "go together"),
        ("ops_secret %s\n" % new_secret(), "go together"),
        ("ops_url %s\nops_secret whsec_short\n" % ops.url("/ops"),
         "ops_secret must be"),
        ("ops_url ftp://x/\nops_secret %s\n" % new_secret(), "ops_url"),
    )
    for i, (conf, words) in enumerate(cases):
        path = "%s/ops%d.conf" % (t.tmp, i)
        with open(path, "w") as f:
            f.write(BASE_CONF + ALLOW_LOOPBACK + conf)
        r = run_hookd("-n", "-c", path, cwd=t.tmp)
        check(r.returncode != 0 and words in r.stderr,
              "%r: rc %d, %r" % (conf, r.returncode, r.stderr))
    # Loopback needs allow_destinations, as any receiver's URL.
    path = t.tmp + "/ops-deny.conf"
    with open(path, "w") as f:
        f.write(BASE_CONF + ops_conf(ops, new_secret()))
    r = run_hookd("-n", "-c", path, cwd=t.tmp)
    check(r.returncode != 0 and "ops_url" in r.stderr and
          "allow_destinations" in r.stderr, r.stderr)
    with open(path, "w") as f:
        f.write(BASE_CONF + ALLOW_LOOPBACK + ops_conf(ops, new_secret()))
    r = run_hookd("-n", "-c", path, cwd=t.tmp)
    eq(r.returncode, 0, "a good ops config: " + r.stderr)


def test_ops_client_delete_is_operators_cause(t):
    # FIX14 item 2: deleting a client fails its pending deliveries (its
    # endpoints' and its one-offs', in steps of 1,000) with no
    # delivery.failed, also for the one-offs whose attempt starts while
    # the reaper is on its way and finds the client gone.
    ops = t.receiver()
    h = t.hookd(ops_conf(ops, new_secret(), "max_inflight_per_client 2\n"))
    rcv = t.receiver()
    rcv.on("/hang", Reply(200, delay=20))
    rcv.on("/bad", 400)
    h.client("acme")
    h.client("beta")
    h.endpoint("acme", rcv.url("/hang"), events=["a.*"])
    h.endpoint("beta", rcv.url("/bad"), events=["b.*"])
    for i in range(2200):
        h.event("acme", type="o.x", data={"i": i}, callback=rcv.url("/hang"))
    h.event("acme", type="a.x")
    rcv.wait_for(2, "/hang", timeout=30)
    h.req(204, "DELETE", "/v1/clients/acme")
    wait_until(lambda: not h.deliveries("?client=acme&status=pending"),
               60, 0.2, "acme's deliveries failed")
    # A failure of beta's after it: its event shows the ops events are on.
    ev = h.event("beta", type="b.x")
    h.wait_all(ev["id"], status="failed")
    wait_until(lambda: ops_events(h), 15, 0.1, "beta's ops event")
    got = [h.req(200, "GET", "/v1/events/" + e["id"])
           for e in ops_events(h)]
    eq(sum(g["data"]["client"] != "beta" for g in got), 0,
       "delivery.failed events of the deleted client")
    eq(len(got), 1, "delivery.failed events")


def test_deliver_at_and_delay_null_mean_at_once(t):
    # FIX14 item 6: null, as the event object shows "at once", goes in;
    # a null one next to the other is as absent.
    rcv = t.receiver()
    h = t.hookd()
    h.client("acme")
    h.endpoint("acme", rcv.url("/n"))
    base = {"client": "acme", "type": "a.b", "data": {}}
    for extra in ({"deliver_at": None}, {"delay": None},
                  {"deliver_at": None, "delay": None}):
        ev = post_event(h, dict(base, **extra))
        eq(h.req(200, "GET", "/v1/events/" + ev["id"])["deliver_at"], None,
           "deliver_at of %r" % extra)
        h.wait_all(ev["id"])
    ev = post_event(h, dict(base, deliver_at=None, delay="1h"))
    check(h.req(200, "GET", "/v1/events/" + ev["id"])["deliver_at"]
          is not None, "a delay next to a null deliver_at")


def test_check_prints_ops_url(t):
    # FIX14 item 8: -n says the ops_url in force (not its query, which
    # may hold a token), and "none" without one.
    path = "%s/opsn.conf" % t.tmp
    for conf, want in (
            ("ops_url http://127.0.0.1:9/ops?k=s3cret\nops_secret %s\n"
             % new_secret(), "ops_url=http://127.0.0.1:9/ops"),
            ("", "ops_url=none")):
        with open(path, "w") as f:
            f.write(BASE_CONF + ALLOW_LOOPBACK + conf)
        r = run_hookd("-n", "-c", path, cwd=t.tmp)
        eq(r.returncode, 0, r.stderr)
        words = r.stdout.split()
        check(want in words, "%r not in %r" % (want, r.stdout))
        check("s3cret" not in r.stdout, r.stdout)
