"""Delivery policy (issue 14 items 1-3; contract §15): an endpoint's
rate_limit, ordering "fifo", retry_schedule and timeout, through the API,
the config file's endpoint lines, restarts and compaction."""

import json
import os
import subprocess
import time

from .harness import HOOKD, SLOW_RETRY, Reply, check, eq, wait_until


def post_events(h, n, client="acme"):
    """Post n events; their ids in posting (id) order."""
    return [h.event(client, data={"n": i})["id"] for i in range(n)]


def max_in_window(times, width=1.0):
    """The most arrivals in any window [t, t + width) that starts at an
    arrival (the windows where the count can peak)."""
    times = sorted(times)
    best, j = 0, 0
    for i, t in enumerate(times):
        while j < len(times) and times[j] < t + width:
            j += 1
        best = max(best, j - i)
    return best


def test_rate_limit_window(t):
    rcv = t.receiver()
    h = t.hookd()
    h.client("acme")
    slow_ep = h.endpoint("acme", rcv.url("/slow"), rate_limit=20)
    h.endpoint("acme", rcv.url("/fast"))
    post_events(h, 500)
    fast = rcv.wait_for(500, "/fast", timeout=120)
    slow_then = len(rcv.got("/slow"))
    slow = rcv.wait_for(500, "/slow", timeout=300)
    # The rate is judged by when hookd started each attempt (the last
    # attempt's "at", in ms), not by when the receiver's threads got to
    # them: on a loaded machine those bunch up after a stall.
    wait_until(lambda: len(h.deliveries("?endpoint=%s&status=delivered"
                                        "&limit=1000" % slow_ep["id"]))
               == 500, 60, 0.2, "500 delivered at the slow endpoint")
    starts = [rfc3339_ms(d["last"]["at"]) for d in
              h.deliveries("?endpoint=%s&limit=1000" % slow_ep["id"])]
    peak = max_in_window(starts)
    check(peak <= 40, "%d attempts started in one second at rate_limit 20 "
          "(at most 20 + a burst of 20)" % peak)
    eq(len({r.headers["webhook-id"] for r in slow}), 500,
       "distinct events at the rate-limited endpoint")
    check(slow_then < 500, "the unlimited endpoint got its 500 first "
          "(rate-limited one had %d then)" % slow_then)
    eq(len(fast), 500, "arrivals at the unlimited endpoint")
    # Waiting for a token is no attempt: each delivery made exactly one.
    ds = h.deliveries("?status=delivered&limit=1000")
    check(all(d["attempts"] == 1 for d in ds),
          "a delivery over the rate counted an attempt: %r" %
          [d for d in ds if d["attempts"] != 1][:2])


def first_success_order(rcv, path, script):
    """The event ids in the order of their first 200 at path: arrival k was
    answered script[k] (the last one from then on)."""
    seen, order = set(), []
    for k, r in enumerate(rcv.got(path)):
        st = script[k] if k < len(script) else script[-1]
        wid = r.headers["webhook-id"]
        if st == 200 and wid not in seen:
            seen.add(wid)
            order.append(wid)
    return order


def test_fifo_order_across_kill9(t):
    rcv = t.receiver()
    script = [200, 200, 500] * 200 + [200]
    rcv.on("/f", *[Reply(s) for s in script])
    h = t.hookd()
    h.client("acme")
    ep = h.endpoint("acme", rcv.url("/f"), ordering="fifo")
    eq(ep["ordering"], "fifo", "ordering")
    ids = post_events(h, 60)
    rcv.wait_for(20, "/f", timeout=60)
    h.kill9()
    h.start()
    wait_until(lambda: len(first_success_order(rcv, "/f", script)) >= 60,
               120, 0.2, "60 events delivered in order")
    eq(first_success_order(rcv, "/f", script), ids,
       "order of first successful arrival")
    # Every event went to the endpoint once, or twice for the one whose
    # answer the kill cut off: never out of turn.
    wait_until(lambda: all(d["status"] == "delivered" for d in
                           h.deliveries("?limit=1000")), 30, 0.2,
               "all delivered")


def test_fifo_does_not_hold_back_others(t):
    rcv = t.receiver()
    rcv.on("/dead", 500)
    h = t.hookd(SLOW_RETRY)
    h.client("acme")
    h.endpoint("acme", rcv.url("/dead"), ordering="fifo")
    h.endpoint("acme", rcv.url("/ok"))
    ids = post_events(h, 20)
    rcv.wait_for(20, "/ok", timeout=60)
    rcv.wait_for(2, "/dead", timeout=30)
    # The fifo endpoint tried only its first event, again and again.
    eq({r.headers["webhook-id"] for r in rcv.got("/dead")}, {ids[0]},
       "events attempted at the failing fifo endpoint")
    pend = [d for d in h.deliveries("?status=pending&limit=100")]
    eq(len(pend), 20, "deliveries still pending at the fifo endpoint")


def test_fifo_failed_releases_next_and_retry_takes_its_place(t):
    rcv = t.receiver()
    rcv.on("/f", Reply(400), Reply(200))
    h = t.hookd()
    h.client("acme")
    ep = h.endpoint("acme", rcv.url("/f"), ordering="fifo")
    ids = post_events(h, 3)
    rcv.wait_for(3, "/f", timeout=30)
    wait_until(lambda: len(h.deliveries("?status=delivered")) == 2, 30,
               0.1, "two delivered")
    got = [r.headers["webhook-id"] for r in rcv.got("/f")]
    eq(got, ids, "a 4xx fails the first and releases the next")
    failed = h.deliveries("?status=failed")
    eq(len(failed), 1, "failed deliveries")
    h.req(202, "POST", "/v1/deliveries/%s/retry" % failed[0]["id"])
    h.wait_delivery(failed[0]["id"], timeout=30)
    eq(rcv.got("/f")[-1].headers["webhook-id"], ids[0], "retried one")
    # Disabling and deleting a fifo endpoint with a queue: nothing stuck.
    rcv.on("/g", 500)
    g = h.endpoint("acme", rcv.url("/g"), ordering="fifo", events=["g.*"])
    gids = [h.event(type="g.x", data={"i": i})["id"] for i in range(5)]
    rcv.wait_for(1, "/g", timeout=30)
    h.req(200, "PATCH", "/v1/endpoints/" + g["id"], {"enabled": False})
    rcv.on("/g", 200)
    h.req(200, "PATCH", "/v1/endpoints/" + g["id"], {"enabled": True})
    wait_until(lambda: len({r.headers["webhook-id"] for r in rcv.got("/g")})
               == 5, 30, 0.1, "the re-enabled fifo endpoint's queue")
    got = []
    for r in rcv.got("/g"):
        if r.headers["webhook-id"] not in got:
            got.append(r.headers["webhook-id"])
    eq(got, gids, "order after a disable and enable")
    rcv.on("/k", 500)
    k = h.endpoint("acme", rcv.url("/k"), ordering="fifo", events=["k.*"])
    kids = [h.event(type="k.x", data={"i": i})["id"] for i in range(5)]
    rcv.wait_for(1, "/k", timeout=30)
    h.req(204, "DELETE", "/v1/endpoints/" + k["id"])

    def k_statuses():
        return sorted(d["status"] for e in kids for d in h.deliveries_of(e)
                      if d["status"] != "delivered")
    wait_until(lambda: k_statuses() == ["failed"] * 5, 30, 0.1,
               "the deleted fifo endpoint's queue failed")


def test_endpoint_retry_schedule_and_timeout(t):
    rcv = t.receiver()
    rcv.on("/r", 500)
    rcv.on("/hang", Reply(200, delay=120))
    h = t.hookd("retry_schedule 1h 1h\ntimeout 1h\n")
    h.client("acme")
    h.endpoint("acme", rcv.url("/r"), retry_schedule=[1, "1s"],
               events=["order.*"])
    h.endpoint("acme", rcv.url("/hang"), timeout="1s",
               events=["hang.*"])
    h.endpoint("acme", rcv.url("/global"), events=["none"])
    evt = h.event(type="order.paid")
    d = [x for x in h.deliveries_of(evt["id"])][0]
    d = h.wait_delivery(d["id"], status="failed", timeout=60)
    eq(d["attempts"], 3, "attempts with retry_schedule [1, \"1s\"]")
    hang = h.event(type="hang.x")
    hd = h.deliveries_of(hang["id"])[0]
    hd = h.wait_delivery(hd["id"], pred=lambda x: x["last"] is not None,
                         timeout=60)
    eq(hd["last"]["error"], "timeout", "the endpoint's own timeout")
    eq(hd["status"], "pending", "a timeout is retried (global schedule)")


POLICY = {"rate_limit": 2.5, "ordering": "fifo",
          "retry_schedule": ["5s", 60, "250ms"], "timeout": "3s"}
WANT = {"rate_limit": 2.5, "ordering": "fifo",
        "retry_schedule": ["5s", "1m", "250ms"], "timeout": "3s"}
NULLS = {"rate_limit": None, "ordering": "none", "retry_schedule": None,
         "timeout": None}


def policy_of(ep):
    return {k: ep[k] for k in WANT}


def test_policy_round_trip(t):
    h = t.hookd()
    h.client("acme")
    ep = h.endpoint("acme", "http://127.0.0.1:9/a", **POLICY)
    eq(policy_of(ep), WANT, "POST answer")
    other = h.endpoint("acme", "http://127.0.0.1:9/b")
    eq(policy_of(other), NULLS, "defaults")
    path = "/v1/endpoints/" + ep["id"]
    eq(policy_of(h.req(200, "GET", path)), WANT, "GET")
    got = h.req(200, "PATCH", path, {"rate_limit": 20, "timeout": 10})
    want = dict(WANT, rate_limit=20, timeout="10s")
    eq(policy_of(got), want, "PATCH answer")
    listed = [e for e in h.req(200, "GET", "/v1/endpoints")["data"]
              if e["id"] == ep["id"]][0]
    eq(policy_of(listed), want, "in the list")
    h.restart()
    eq(policy_of(h.req(200, "GET", path)), want, "after a restart")
    before = h.log().count("msg=compacted")
    status, _, _ = h.api("POST", "/v1/compact")
    check(status in (200, 202), "POST /v1/compact: %d" % status)
    wait_until(lambda: h.log().count("msg=compacted") > before, 30, 0.1,
               "compaction")
    h.restart(kill=True)
    eq(policy_of(h.req(200, "GET", path)), want, "after compaction")
    got = h.req(200, "PATCH", path, NULLS)
    eq(policy_of(got), NULLS, "null clears")
    h.restart()
    eq(policy_of(h.req(200, "GET", path)), NULLS, "cleared, restarted")


def test_policy_bad_values(t):
    h = t.hookd()
    h.client("acme")
    ep = h.endpoint("acme", "http://127.0.0.1:9/a")
    path = "/v1/endpoints/" + ep["id"]
    bad = [("rate_limit", 0), ("rate_limit", -1), ("rate_limit", "x"),
           ("rate_limit", 1e9), ("rate_limit", 10000.5),
           ("rate_limit", 0.0001), ("ordering", "lifo"),
           ("ordering", 1), ("retry_schedule", []),
           ("retry_schedule", ["1s"] * 33), ("retry_schedule", ["8d"]),
           ("retry_schedule", ["5s,1m"]), ("retry_schedule", [True]),
           ("retry_schedule", "5s"), ("timeout", "0s"), ("timeout", "2h"),
           ("timeout", "x")]
    for member, value in bad:
        for method, p, body in (
                ("POST", "/v1/endpoints", {"client": "acme",
                                           "url": "http://127.0.0.1:9/x"}),
                ("PATCH", path, {})):
            status, data, _ = h.api(method, p, dict(body, **{member: value}))
            eq(status, 422, "%s %s=%r" % (method, member, value))
            check(member in data["error"], "%s %s=%r: error %r names no "
                  "member" % (method, member, value, data["error"]))
    eq(policy_of(h.req(200, "GET", path)), NULLS, "unchanged by refusals")
    # The largest rate and schedule there are go in.
    got = h.req(200, "PATCH", path, {"rate_limit": 10000,
                                     "retry_schedule": ["7d"] * 32})
    eq((got["rate_limit"], len(got["retry_schedule"])), (10000, 32),
       "the limits themselves")
    got = h.req(200, "PATCH", path, {"rate_limit": 0.001})
    eq(got["rate_limit"], 0.001, "the smallest rate")


def test_static_endpoint_line_policy(t):
    rcv = t.receiver()
    line = ("client acme\nendpoint acme %s rate_limit=0.5 ordering=fifo "
            "timeout=3s retry_schedule=\"5s 1m 1h\"\n" % rcv.url("/s"))
    h = t.hookd(line)
    eps = h.req(200, "GET", "/v1/endpoints")["data"]
    eq(len(eps), 1, "endpoints")
    path = "/v1/endpoints/" + eps[0]["id"]
    want = {"rate_limit": 0.5, "ordering": "fifo",
            "retry_schedule": ["5s", "1m", "1h"], "timeout": "3s"}
    eq(policy_of(h.req(200, "GET", path)), want, "from the config line")
    # An API change lasts until the configuration is applied again.
    h.req(200, "PATCH", path, {"rate_limit": 7})
    h.restart()
    eq(policy_of(h.req(200, "GET", path)), want, "restart re-applies it")
    h.write_conf(open(h.conf_path).read().replace("rate_limit=0.5",
                                                  "rate_limit=4"))
    h.proc.send_signal(1)
    wait_until(lambda: h.req(200, "GET", path)["rate_limit"] == 4, 15, 0.1,
               "SIGHUP applies the line's rate_limit")
    for opt, word in (("retry_schedule=5s,1m", "retry_schedule"),
                      ("rate_limit=0", "rate_limit"),
                      ("ordering=lifo", "ordering"),
                      ("timeout=2h", "timeout"),
                      ("rate_limit=1 rate_limit=2", "twice")):
        conf = os.path.join(t.tmp, "bad.conf")
        with open(conf, "w") as f:
            f.write("client acme\nendpoint acme http://127.0.0.1:9/ %s\n"
                    % opt)
        p = subprocess.run([HOOKD, "-n", "-c", conf], capture_output=True,
                           text=True, timeout=10)
        check(p.returncode != 0, "%s accepted" % opt)
        check(word in p.stderr, "%s: %r names no %s" % (opt, p.stderr,
                                                       word))


def test_fifo_switch_keeps_order_of_pending(t):
    # Issue 14 (FIX14 item 1): ordering turned to fifo while deliveries
    # wait for their retries: the first pending one goes first, the rest
    # follow in event order, and a new event waits its turn; a switch back
    # to none and to fifo again mid-queue holds the order as well.
    rcv = t.receiver()
    rcv.on("/f", *([Reply(500)] * 5 + [Reply(200)]))
    h = t.hookd()
    h.client("acme")
    ep = h.endpoint("acme", rcv.url("/f"), retry_schedule=["3s", "3s"])
    path = "/v1/endpoints/" + ep["id"]
    ids = post_events(h, 5)
    rcv.wait_for(5, "/f", timeout=30)
    for ordering in ("fifo", "none", "fifo"):
        h.req(200, "PATCH", path, {"ordering": ordering})
    ids.append(h.event("acme", data={"n": 6})["id"])
    wait_until(lambda: len(h.deliveries("?status=delivered")) == 6, 60,
               0.1, "six delivered")
    got = [r.headers["webhook-id"] for r in rcv.got("/f")[5:]]
    eq(got, ids, "arrivals after the switch to fifo")


def rfc3339_ms(s):
    """Epoch seconds, with the milliseconds, of an RFC 3339 UTC time as
    hookd writes it (2026-11-30T09:10:11.123Z)."""
    return rfc3339_s(s) + int(s[20:23]) / 1000.0


def rfc3339_s(s):
    """Epoch seconds of an RFC 3339 UTC time as hookd writes it."""
    import calendar
    return calendar.timegm(time.strptime(s[:19], "%Y-%m-%dT%H:%M:%S"))


def test_manual_retry_skips_rate_wait_keeps_fifo(t):
    # FIX14 item 4: at rate_limit 0.001 the second delivery waits ~1000 s
    # for a token; GET shows when that token comes, and a manual retry
    # sends it now. On a fifo endpoint a retry of a later one keeps its
    # turn: it goes right after the earlier one, not before.
    rcv = t.receiver()
    h = t.hookd()
    h.client("acme")
    for path, extra in (("/r", {}), ("/q", {"ordering": "fifo"})):
        ep = h.endpoint("acme", rcv.url(path), rate_limit=0.001,
                        events=[path[1:] + ".*"], **extra)
        ids = [h.event("acme", type=path[1:] + ".x", data={"i": i})["id"]
               for i in range(3)]
        rcv.wait_for(1, path, timeout=30)
        ds = [h.deliveries_of(i)[0] for i in ids]
        now = time.time()
        wait_until(lambda: rfc3339_s(h.delivery(ds[1]["id"])
                                     ["next_attempt_at"]) > now + 600,
                   15, 0.1, "next_attempt_at at the next token (%s)" % path)
        h.req(202, "POST", "/v1/deliveries/%s/retry" % ds[2]["id"])
        if extra:
            h.req(202, "POST", "/v1/deliveries/%s/retry" % ds[1]["id"])
        h.wait_delivery(ds[2]["id"], timeout=30)
        if extra:
            h.wait_delivery(ds[1]["id"], timeout=30)
            eq([r.headers["webhook-id"] for r in rcv.got(path)], ids,
               "fifo order with manual retries")
        else:
            eq(h.delivery(ds[1]["id"])["status"], "pending",
               "the one not retried still waits for its token")
        eq(h.req(200, "GET", "/v1/endpoints/" + ep["id"])["rate_limit"],
           0.001, "rate_limit")


def test_rate_limit_judged_by_value(t):
    # FIX14 item 5: any JSON number whose value is 0.001..10000 with at
    # most 3 decimals, as the config file's checker (config_check_rate).
    h = t.hookd()
    h.client("acme")
    ep = h.endpoint("acme", "http://127.0.0.1:9/a")
    path = "/v1/endpoints/" + ep["id"]
    for raw, want in ((b"2.50000", 2.5), (b"0.0010", 0.001), (b"1e3", 1000),
                      (b"1E-3", 0.001)):
        st, data, _ = h.api("PATCH", path, b'{"rate_limit": ' + raw + b'}')
        eq((st, data.get("rate_limit")), (200, want), raw.decode())
    for raw in (b"0.0005", b"1e5"):
        st, data, _ = h.api("PATCH", path, b'{"rate_limit": ' + raw + b'}')
        eq(st, 422, raw.decode())
        check("rate_limit" in data["error"], data)


def test_sighup_names_endpoints_whose_policy_it_put_back(t):
    # FIX14 item 8: a SIGHUP that puts a static line's policy back after
    # an API PATCH logs the endpoint among what changed, not "none".
    line = ("client acme\nendpoint acme http://127.0.0.1:9/s rate_limit=0.5"
            "\n")
    h = t.hookd(line)
    ep = h.req(200, "GET", "/v1/endpoints")["data"][0]
    path = "/v1/endpoints/" + ep["id"]
    h.req(200, "PATCH", path, {"rate_limit": 7})
    h.proc.send_signal(1)
    wait_until(lambda: h.req(200, "GET", path)["rate_limit"] == 0.5, 15,
               0.1, "SIGHUP puts the line's rate_limit back")
    wait_until(lambda: "msg=reloaded" in h.log(), 15, 0.1, "reloaded")
    got = [ln for ln in h.log().splitlines() if "msg=reloaded" in ln]
    check("changed=endpoint:" + ep["id"] in got[-1], got)
    # Nothing to put back: none.
    h.proc.send_signal(1)
    wait_until(lambda: h.log().count("msg=reloaded") == 2, 15, 0.1,
               "reloaded again")
    got = [ln for ln in h.log().splitlines() if "msg=reloaded" in ln]
    check("changed=none" in got[-1], got)
