"""A compaction without a fork (issue 20 item 7): the marking plans, a few
records a loop pass, what the new journal keeps of the journal as it was
when the compaction began, and a thread copies that plan. What changes
while the marking runs must come out of the new journal as it is: a
delivery retried and attempted again ahead of the marking's cursor (its
event planned before its first new record), Idempotency-Keys stored before
and during it, events posted meanwhile. HOOKD_FAULT mark_per_pass=1 makes
the marking one event a pass, so that it lasts thousands of passes; the
checks compare the store before a restart with the store after it, and do
not depend on how the changes and the passes interleave. No test here
times anything."""

import json

from .harness import eq, check, wait_until
from .test_compact_settle import write_store

N = 3000
# One record a pass: the marking of N events of one delivery takes N
# passes, the copy waits 300 ms (compact_slow) before it writes.
FAULT = {"HOOKD_FAULT": "mark_per_pass=1,compact_slow=300"}
# Two attempts in all (one more than the schedule's entries): a retried
# delivery's attempt (refused: write_store's endpoint is 127.0.0.1:9) ends
# it failed, so its state is still when compared.
CONF = "retention 1d\nretry_schedule 3600\n"


def snapshot(h, dlvs):
    """Each delivery's status, attempts and log (statuses and errors)."""
    out = {}
    for d in dlvs:
        r = h.delivery(d)
        out[d] = (r["status"], r["attempts"],
                  [(a["status"], a["error"]) for a in r["log"]])
    return out


def post_keyed(h, key, n):
    """POST an event with Idempotency-Key key: its id."""
    return h.req(202, "POST", "/v1/events",
                 json.dumps({"client": "acme", "type": "k",
                             "data": {"n": n}}),
                 headers={"Idempotency-Key": key})["id"]


def test_changes_while_marking_are_kept(t):
    h = t.hookd(CONF, start=False, env=FAULT)
    evs, dlvs = write_store(h.data, N, 0)
    h.start()
    before = {("before-%d" % i): post_keyed(h, "before-%d" % i, i)
              for i in range(5)}
    seen = h.log().count("msg=compacted")
    h.req(202, "POST", "/v1/compact")
    # The newest events: the cursor, one a pass from the oldest, reaches
    # them last. Each retry requeues its delivery; the attempt that
    # follows (refused) writes the first record of its event since the
    # compaction began.
    retried = dlvs[-20:]
    for d in retried:
        h.req(202, "POST", "/v1/deliveries/%s/retry" % d)
    during = {("during-%d" % i): post_keyed(h, "during-%d" % i, 100 + i)
              for i in range(5)}
    wait_until(lambda: all(h.delivery(d)["attempts"] == 2
                           for d in retried), 60,
               what="the retried deliveries attempted again")
    wait_until(lambda: h.log().count("msg=compacted") > seen or
               "compaction failed" in h.log(), 100, what="the compaction")
    check("compaction failed" not in h.log(), "the compaction failed: %s"
          % [x for x in h.log().splitlines() if "compaction failed" in x])
    line = [x for x in h.log().splitlines() if "msg=compacted" in x][-1]
    check("marked in" in line, "the compacted line: " + line)
    marked = int(line.split("marked in ")[1].split(" ")[0])
    check(marked >= N // 2, "marked in %d passes (mark_per_pass=1): %s"
          % (marked, line))
    got = snapshot(h, retried + dlvs[:5])
    for d in retried:
        eq(got[d][0], "failed", "retried delivery %s status" % d)
        eq([s for s, _ in got[d][2]], [200, None],
           "retried delivery %s log" % d)
    h.restart()
    eq(snapshot(h, retried + dlvs[:5]), got, "deliveries after a restart")
    # Every key, stored before the fork point or during the marking,
    # still answers with its event.
    for k, eid in before.items():
        eq(post_keyed(h, k, int(k.split("-")[1])), eid,
           "key %s repeated after the restart" % k)
    for k, eid in during.items():
        eq(post_keyed(h, k, 100 + int(k.split("-")[1])), eid,
           "key %s repeated after the restart" % k)
    h.req(200, "GET", "/v1/events/" + evs[0])
