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
    pass, above zero once the loop has run."""
    h = t.hookd()
    h.client("acme")
    first = h.metric("hookd_loop_pass_seconds_count")
    check(first is not None and first > 0, "no pass counted: %r" % first)
    for i in range(20):
        h.event(data={"i": i})
    text = metrics_text(h)
    check("# TYPE hookd_loop_pass_seconds histogram" in text, text[-800:])
    check("# TYPE hookd_loop_pass_max_seconds gauge" in text, text[-800:])
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
