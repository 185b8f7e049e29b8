"""Indexes for matching and filtered lists (issue 20 item 6): an event's
deliveries go to exactly the endpoints a walk of every endpoint would pick
(exact types, prefixes, "*", disabled ones left out, after a PATCH of the
filters); and every filtered list (?client=, ?endpoint=, ?event=,
?status=, events ?client=&type=) returns, page by page, exactly the
records a full scan of the unfiltered list keeps, over a mixed store,
across a restart and a compaction. The speed figures are make bench's
(BENCH_SCALE=match,list); these check the behaviour."""

import socket
import urllib.parse

from .harness import check, eq, wait_until


def hole():
    """A listener that never answers: deliveries to it stay pending."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(4096)
    return s, "http://127.0.0.1:%d/hole" % s.getsockname()[1]


def matches(filters, type_):
    """store_endpoint_matches, in Python: the reference."""
    return any(type_.startswith(f[:-1]) if f.endswith("*") else f == type_
               for f in filters)


def pages(h, path, limit, token="admin"):
    """Every item of a list, following "next" with pages of limit."""
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
        check(body["data"] and body["next"] == body["data"][-1]["id"],
              "%s: next is the page's last id" % path)
        after = body["next"]
    raise AssertionError("%s: no end of pages" % path)


def ids(items):
    return [x["id"] for x in items]


def compare_lists(h, what, tokens):
    """Each filtered list against a full scan of the unfiltered one."""
    dl = pages(h, "/v1/deliveries", 1000)
    ev = pages(h, "/v1/events", 1000)
    check(len(dl) > 0 and len(ev) > 0, "%s: a store to compare" % what)
    # The whole lists are in id order (deliveries oldest, events newest
    # first), so a filter's answer must be the scan's subsequence.
    eq(ids(dl), sorted(ids(dl)), "%s: deliveries in id order" % what)
    eq(ids(ev), sorted(ids(ev), reverse=True), "%s: events order" % what)
    clients = sorted(set(d["client"] for d in dl) | {"nobody"})
    eps = sorted(set(d["endpoint"] for d in dl if d["endpoint"]))
    evs = [e["id"] for e in ev][::3]
    n = 0
    dq = []
    for c in clients:
        dq.append(({"client": c}, lambda d, c=c: d["client"] == c))
    for e in eps + ["ep_00000000000000ff"]:
        dq.append(({"endpoint": e}, lambda d, e=e: d["endpoint"] == e))
    for e in evs + ["evt_00000000000000ff"]:
        dq.append(({"event": e}, lambda d, e=e: d["event"] == e))
    for s in ("pending", "delivered", "failed"):
        dq.append(({"status": s}, lambda d, s=s: d["status"] == s))
        for c in clients[:2]:
            dq.append(({"status": s, "client": c},
                       lambda d, s=s, c=c: d["status"] == s and
                       d["client"] == c))
        for e in eps[:3]:
            dq.append(({"status": s, "endpoint": e},
                       lambda d, s=s, e=e: d["status"] == s and
                       d["endpoint"] == e))
    for q, keep in dq:
        want = [d for d in dl if keep(d)]
        path = "/v1/deliveries?" + urllib.parse.urlencode(q)
        for limit in (2, 1000):
            eq(ids(pages(h, path, limit)), ids(want),
               "%s: %s (limit %d)" % (what, path, limit))
        # A cursor that is no id of the list: the records after it.
        if len(want) > 2:
            mid = want[len(want) // 2]["id"]
            cut = mid[:-1] + ("0" if mid[-1] != "0" else "1")
            got = h.req(200, "GET", path + "&limit=1000&after=" + cut)
            eq(ids(got["data"]), [x for x in ids(want) if x > cut],
               "%s: %s after %s" % (what, path, cut))
        n += 1
    types = sorted(set(e["type"] for e in ev)) + ["no.such"]
    eq_ = []
    for c in clients:
        eq_.append(({"client": c}, lambda e, c=c: e["client"] == c))
        for ty in types:
            eq_.append(({"client": c, "type": ty},
                        lambda e, c=c, ty=ty: e["client"] == c and
                        e["type"] == ty))
    for ty in types[:2]:
        eq_.append(({"type": ty}, lambda e, ty=ty: e["type"] == ty))
    for q, keep in eq_:
        want = [e for e in ev if keep(e)]
        path = "/v1/events?" + urllib.parse.urlencode(q)
        for limit in (2, 1000):
            eq(ids(pages(h, path, limit)), ids(want),
               "%s: %s (limit %d)" % (what, path, limit))
        if len(want) > 2:
            mid = want[len(want) // 2]["id"]
            cut = mid[:-1] + ("0" if mid[-1] != "0" else "1")
            got = h.req(200, "GET", path + "&limit=1000&after=" + cut)
            eq(ids(got["data"]), [x for x in ids(want) if x < cut],
               "%s: %s after %s" % (what, path, cut))
        n += 1
    # A client token sees its own: the same through its index.
    for c, tok in tokens.items():
        want = [d for d in dl if d["client"] == c]
        eq(ids(pages(h, "/v1/deliveries", 2, token=tok)), ids(want),
           "%s: deliveries with %s's token" % (what, c))
        eq(ids(pages(h, "/v1/deliveries?status=failed", 2, token=tok)),
           ids([d for d in want if d["status"] == "failed"]),
           "%s: failed deliveries with %s's token" % (what, c))
        want = [e for e in ev if e["client"] == c and
                e["type"] == "order.paid"]
        eq(ids(pages(h, "/v1/events?type=order.paid", 2, token=tok)),
           ids(want), "%s: events with %s's token" % (what, c))
    return n


def settled(h, pending_want, holes):
    """Wait until only the deliveries to the hole (endpoints holes) are
    pending, pending_want of them."""
    def probe():
        dl = pages(h, "/v1/deliveries", 1000)
        p = [d for d in dl if d["status"] == "pending"]
        return dl if len(p) == pending_want and all(
            d["endpoint"] in holes for d in p) else None
    return wait_until(probe, 30, what="deliveries to settle")


def test_filters_equal_full_scan(t):
    """A mixed store: three clients, endpoints that deliver, fail or never
    answer, one-off callbacks, a deleted endpoint and a deleted client;
    every filtered list equals the full scan's subset, and again after a
    restart, a compaction (which drops the finished events) and another
    restart."""
    sock, hurl = hole()
    try:
        h = t.hookd("retention 0s\ntimeout 1h\nretry_schedule 50ms\n")
        rcv = t.receiver()
        rcv.on("/fail", 500, 500, 500, 500)
        tokens = {}
        for c in ("acme", "bolt", "zeta"):
            tokens[c] = h.client(c)["token"]
        ep = {}
        ep["a_all"] = h.endpoint("acme", rcv.url("/ok/a"), events=["*"])
        ep["a_order"] = h.endpoint("acme", rcv.url("/fail"),
                                   events=["order.*"])
        ep["a_hole"] = h.endpoint("acme", hurl, events=["order.paid"])
        ep["b_ord"] = h.endpoint("bolt", rcv.url("/ok/b"),
                                 events=["ord*", "user.created"])
        ep["b_hole"] = h.endpoint("bolt", hurl + "/b", events=["user.*"])
        ep["z_ok"] = h.endpoint("zeta", rcv.url("/ok/z"))
        ep["gone"] = h.endpoint("acme", rcv.url("/ok/gone"),
                                events=["order.paid"])
        types = ["order.paid", "order.refunded", "user.created", "ord",
                 "x"]
        for i in range(30):
            c = ("acme", "bolt", "zeta")[i % 3]
            cb = rcv.url("/ok/once") if i % 7 == 0 else None
            h.event(c, types[i % len(types)], data={"i": i}, callback=cb)
        h.req(204, "DELETE", "/v1/endpoints/" + ep["gone"]["id"])
        holes = (ep["a_hole"]["id"], ep["b_hole"]["id"])
        pending = sum(1 for i in range(30)
                      if (i % 3 == 0 and types[i % 5] == "order.paid") or
                      (i % 3 == 1 and types[i % 5] == "user.created"))
        settled(h, pending, holes)
        h.req(204, "DELETE", "/v1/clients/zeta")
        del tokens["zeta"]
        n = compare_lists(h, "live", tokens)
        check(n > 50, "only %d filters compared" % n)
        # The indexes are built now: more records, and status changes,
        # are kept in them as they come.
        for i in range(6):
            h.event(("acme", "bolt")[i % 2], types[i % 5], data={"m": i})
        pending += 1
        settled(h, pending, holes)
        compare_lists(h, "live, with more events", tokens)
        h.restart()
        compare_lists(h, "after a restart", tokens)
        before = len(pages(h, "/v1/deliveries", 1000))
        status, body, _ = h.api("POST", "/v1/compact")
        check(status in (200, 202), "compact: %d %r" % (status, body))
        wait_until(lambda: len(pages(h, "/v1/deliveries", 1000)) < before,
                   30, what="the compaction to drop finished events")
        h.event("acme", "order.paid", data={"after": "compaction"})
        h.event("bolt", "ord", data={"after": "compaction"})
        settled(h, pending + 1, holes)
        compare_lists(h, "after a compaction", tokens)
        h.restart()
        compare_lists(h, "after a compaction and a restart", tokens)
    finally:
        sock.close()


def test_matching_equals_full_walk(t):
    """One client's many endpoints beside other clients' with the same
    filters: each event's deliveries go to exactly the enabled endpoints
    of its client that the reference matching picks, in id order; after a
    PATCH of the filters, a disable and a restart too."""
    sock, hurl = hole()
    try:
        h = t.hookd("timeout 1h\n")
        filters = [["*"], ["order.*"], ["order.paid"], ["ord*"],
                   ["order.paid", "order.*"], ["user.created", "x"],
                   ["o*", "order.refunded"], ["order.paid.late"],
                   ["order."], ["*", "x"]]
        eps = {}
        for c in ("acme", "bolt"):
            h.client(c)
            eps[c] = []
            for i, f in enumerate(filters * 2):
                e = h.endpoint(c, "%s/%s/%d" % (hurl, c, i), events=f)
                eps[c].append(e)
        # Change some: new filters, one disabled.
        a = eps["acme"]
        a[1] = h.req(200, "PATCH", "/v1/endpoints/" + a[1]["id"],
                     {"events": ["user.*"]})
        a[2] = h.req(200, "PATCH", "/v1/endpoints/" + a[2]["id"],
                     {"enabled": False})
        a[12] = h.req(200, "PATCH", "/v1/endpoints/" + a[12]["id"],
                      {"events": ["order.paid", "ord*", "*"]})
        types = ["order.paid", "order.refunded", "order.", "order",
                 "ord", "user.created", "x", "order.paid.late", "o",
                 "zzz"]
        for rnd in ("live", "after a restart"):
            if rnd != "live":
                h.restart()
            for ty in types:
                evt = h.event("acme", ty, data={})
                want = [e["id"] for e in a if e["enabled"] and
                        matches(e["events"], ty)]
                got = h.req(200, "GET", "/v1/events/" + evt["id"])
                eq([d["endpoint"] for d in got["deliveries"]], want,
                   "%s: endpoints of a %s event" % (rnd, ty))
                eq(evt["deliveries"], len(want), "%s: count" % rnd)
        # Deleting the client removes its endpoints and nothing else.
        h.req(204, "DELETE", "/v1/clients/acme")
        got = pages(h, "/v1/endpoints", 1000)
        eq(sorted(e["id"] for e in got), sorted(e["id"] for e in
                                               eps["bolt"]),
           "endpoints left after the client's deletion")
        evt = h.event("bolt", "order.paid", data={})
        want = [e["id"] for e in eps["bolt"]
                if matches(e["events"], "order.paid")]
        got = h.req(200, "GET", "/v1/events/" + evt["id"])
        eq([d["endpoint"] for d in got["deliveries"]], want,
           "bolt's endpoints after acme's deletion")
    finally:
        sock.close()


def test_replay_through_endpoint_list(t):
    """POST /v1/endpoints/{id}/replay requeues exactly that endpoint's
    failed deliveries since the time given, not another's."""
    h = t.hookd("retry_schedule 50ms\n")
    rcv = t.receiver()
    rcv.on("/a", *([500] * 8))
    rcv.on("/b", *([500] * 8))
    h.client("acme")
    a = h.endpoint("acme", rcv.url("/a"))
    b = h.endpoint("acme", rcv.url("/b"))
    for i in range(3):
        h.event("acme", "t", data={"i": i})
    wait_until(lambda: len(h.deliveries("?status=failed")) == 6, 30,
               what="six failed deliveries")
    body = h.req(202, "POST", "/v1/endpoints/%s/replay" % a["id"],
                 {"since": "2000-01-01T00:00:00.000Z"})
    eq(body["requeued"], 3, "requeued")
    eq(len(h.deliveries("?status=failed&endpoint=" + b["id"])), 3,
       "the other endpoint's stay failed")
    body = h.req(202, "POST", "/v1/endpoints/%s/replay" % b["id"],
                 {"since": "2999-01-01T00:00:00.000Z"})
    eq(body["requeued"], 0, "none since a later time")
