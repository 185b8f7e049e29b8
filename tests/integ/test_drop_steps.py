"""Dropping what retention let go in steps (issue 20 item 7): once a
compaction's journal is renamed in, the events past retention are gone to
every lookup and list at once, and are unlinked, taken out of the arrays
and freed a few records a loop pass (HOOKD_FAULT drop_per_pass makes the
steps small, so that requests come between them). Pages by client, by
client and type, by status and by endpoint hold exactly the kept records
throughout; events posted meanwhile are kept; an endpoint deleted midway
is no trouble; a kill -9 midway loses nothing. No test here times
anything."""

import os
import time

from .harness import check, eq, run_hookd, wait_until
from .test_compact_settle import Ingest, write_store

N = 1500
OLD = 1000      # the first OLD are past retention
# Records a pass: the drop of N events takes several hundred passes.
FAULT = {"HOOKD_FAULT": "drop_per_pass=8"}


def pages(h, path):
    """Every item of a list, page after page (limit 100, ?after=)."""
    items, after = [], None
    sep = "&" if "?" in path else "?"
    while True:
        q = path + sep + "limit=100" + ("&after=" + after if after else "")
        r = h.req(200, "GET", q)
        items.extend(r["data"])
        after = r["next"]
        if after is None:
            return items


def same(got, want, what):
    """got (ids listed) is exactly want, in want's order; a short message
    when not."""
    if got != want:
        extra, missing = set(got) - set(want), set(want) - set(got)
        raise AssertionError("%s: %d listed, want %d; %d extra (%s), %d "
                             "missing (%s), order %s" % (
                                 what, len(got), len(want), len(extra),
                                 sorted(extra)[:3], len(missing),
                                 sorted(missing)[:3],
                                 "same" if sorted(got) == sorted(want)
                                 else "-"))


def check_lists(h, evs, dlvs, ep, what):
    """The written store's kept events and deliveries are listed, in
    order, and the dropped ones are not: by client and type, by status,
    by endpoint (while it exists) and by client; a sample of lookups.
    Events posted meanwhile (type new, their deliveries pending) are in
    some of these lists too: those lists are compared on the written
    store's ids."""
    written = set(dlvs)
    kept_e, kept_d = sorted(evs[OLD:], reverse=True), sorted(dlvs[OLD:])
    got = [e["id"] for e in pages(h, "/v1/events?client=acme&type=t")]
    same(got, kept_e, "events of type t " + what)
    got = [d["id"] for d in pages(h, "/v1/deliveries?status=delivered")]
    same(got, kept_d, "delivered deliveries " + what)
    if ep is not None:
        got = [d["id"] for d in pages(h, "/v1/deliveries?endpoint=" + ep)]
        eq(got, sorted(got), "the endpoint's deliveries in order " + what)
        same([x for x in got if x in written], kept_d,
             "the endpoint's deliveries " + what)
    got = [d["id"] for d in pages(h, "/v1/deliveries?client=acme")]
    eq(got, sorted(got), "the client's deliveries in order " + what)
    same([x for x in got if x in written], kept_d,
         "the client's deliveries " + what)
    got = [e["id"] for e in pages(h, "/v1/events")]
    same([x for x in got if x in set(evs)], kept_e, "all events " + what)
    for i in (0, 1, OLD // 2, OLD - 1):
        h.req(404, "GET", "/v1/events/" + evs[i])
        h.req(404, "GET", "/v1/deliveries/" + dlvs[i])
    for i in (OLD, (OLD + N) // 2, N - 1):
        eq(h.req(200, "GET", "/v1/events/" + evs[i])["data"], {"n": i},
           "kept event %d %s" % (i, what))


def compacted_lines(h):
    return [x for x in h.log().splitlines() if "msg=compacted" in x]


def drop_under_ingest(t):
    """A hookd over a written store of N events (the first OLD past
    retention) with tiny drop steps, events posted meanwhile, and a
    compaction started and its new journal renamed in: the drop's steps
    are under way. Returns hookd, the store's event and delivery ids, the
    endpoint, the count of "compacted" lines before, and the ingest."""
    h = t.hookd("retention 1d\n", start=False, env=FAULT)
    evs, dlvs = write_store(h.data, N, OLD)
    h.start()
    ep = pages(h, "/v1/endpoints")[0]["id"]
    path = os.path.join(h.data, "journal.log")
    ino = os.stat(path).st_ino
    seen = len(compacted_lines(h))
    ing = Ingest(h)
    wait_until(lambda: len(ing.ids) >= 20, 60, what="ingest under way")
    h.req(202, "POST", "/v1/compact")
    wait_until(lambda: os.stat(path).st_ino != ino, 120, 0.0005,
               "the new journal renamed in")
    return h, evs, dlvs, ep, seen, ing


def test_drop_in_steps_lists_exactly_the_kept(t):
    """POST /v1/compact under ingest with tiny drop steps: between the
    rename and the "compacted" line, every list and lookup shows exactly
    the kept records; the endpoint is deleted midway; after it (and after
    a restart) the same, every acknowledged event reads back, the line
    says the drop took many passes, and hookd check reads every record."""
    h, evs, dlvs, ep, seen, ing = drop_under_ingest(t)
    rounds = 0
    while len(compacted_lines(h)) == seen:
        check_lists(h, evs, dlvs, ep if rounds < 2 else None,
                    "during the drop (round %d)" % rounds)
        if rounds == 1:
            # The drop's cursor walks the endpoints' lists first.
            h.req(204, "DELETE", "/v1/endpoints/" + ep)
        rounds += 1
        check(rounds < 1000, "the compaction did not end")
    posted = ing.end()
    eq(ing.bad, [], "answers other than 202 during the compaction")
    check(rounds >= 2, "the lists were read %d times during the drop, "
          "the endpoint not deleted midway" % rounds)
    line = compacted_lines(h)[-1]
    check("%d events dropped" % OLD in line and "dropped in" in line,
          "drop count in: %s" % line)
    passes = int(line.split("dropped in ")[1].split()[0])
    check(passes > 50, "the drop took %d passes: %s" % (passes, line))
    check_lists(h, evs, dlvs, None, "after the drop")
    for k in range(0, len(posted), 37):
        eq(h.req(200, "GET", "/v1/events/" + posted[k])["data"], {"k": k},
           "acknowledged event %d" % k)
    h.restart()
    check_lists(h, evs, dlvs, None, "after a restart")
    h.stop()
    r = run_hookd("check", "-d", h.data)
    eq(r.returncode, 0, "hookd check: " + r.stdout + r.stderr)


def test_kill9_during_the_drop_loses_nothing(t):
    """kill -9 while the drop's steps run: the new journal is in place,
    so the restarted hookd holds exactly the kept records and every
    acknowledged event."""
    h, evs, dlvs, ep, seen, ing = drop_under_ingest(t)
    check_lists(h, evs, dlvs, ep, "during the drop")
    check(len(compacted_lines(h)) == seen, "the drop ended too soon to "
          "kill it midway (drop_per_pass not applied?)")
    h.kill9()
    posted = ing.end()
    h.start()
    check_lists(h, evs, dlvs, ep, "after kill -9 and a restart")
    for k in range(0, len(posted), 37):
        eq(h.req(200, "GET", "/v1/events/" + posted[k])["data"], {"k": k},
           "acknowledged event %d" % k)


def test_deleted_client_id_free_during_the_drop(t):
    """A deleted client's id is held while its events are kept (409); once
    the drop makes them gone (the new journal lacks them, no list shows
    them), the id is free at once, not only when the drop's steps reach
    the client's index (the tester's find: 409 in that window)."""
    rcv = t.receiver()
    h = t.hookd("retention 2s\n", start=False,
                env={"HOOKD_FAULT": "drop_per_pass=1"})
    h.start()
    h.client("old")
    h.endpoint("old", rcv.url("/old"))
    evs = [h.event("old", "z", {"i": i})["id"] for i in range(50)]
    wait_until(lambda: h.metric("hookd_pending_deliveries") == 0, 30, 0.1,
               "the 50 delivered")
    h.req(204, "DELETE", "/v1/clients/old")
    st, body, _ = h.api("POST", "/v1/clients", {"id": "old"})
    eq(st, 409, "the id while its events are kept: %r" % (body,))
    # Retention (2 s) lets the events go: wait until a compaction sees
    # them expired (a lower bound, not a speed).
    time.sleep(2.5)
    path = os.path.join(h.data, "journal.log")
    ino = os.stat(path).st_ino
    seen = len(compacted_lines(h))
    h.req(202, "POST", "/v1/compact")
    wait_until(lambda: os.stat(path).st_ino != ino, 60, 0.0005,
               "the new journal renamed in")
    h.req(404, "GET", "/v1/events/" + evs[0])
    st, body, _ = h.api("POST", "/v1/clients", {"id": "old"})
    check(len(compacted_lines(h)) == seen, "the drop ended before the "
          "request (drop_per_pass not applied?)")
    eq(st, 201, "the id once its events are gone, mid-drop: %r" % (body,))
