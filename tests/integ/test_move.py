"""Contract §17: hookd export / hookd import, a client moved from one node
to another with its pending deliveries, delivered by the new node only."""

import os

from .harness import SLOW_RETRY, Reply, check, check_signature, eq, run_hookd


def read(path):
    with open(path, "rb") as f:
        return f.read()


def files(h):
    return {n: read(os.path.join(h.data, n))
            for n in ("registry.log", "journal.log")}


def test_move_client_between_nodes(t):
    rcv = t.receiver()
    rcv.on("/a", Reply(500))
    rcv.on("/b", Reply(500))
    a = t.hookd(SLOW_RETRY + "node_id 1\n")
    b = t.hookd(SLOW_RETRY + "node_id 2\n")
    a.client("mover")
    e1 = a.endpoint("mover", rcv.url("/a"))
    e2 = a.endpoint("mover", rcv.url("/b"), events=["order.*"])
    secrets = {e1["id"]: e1["secret"], e2["id"]: e2["secret"]}
    evts = [a.event("mover", "order.paid", {"n": i})["id"] for i in range(3)]
    for ev in evts:
        for d in a.deliveries_of(ev):
            a.wait_delivery(d["id"], lambda d: d["attempts"] >= 1)
    # B's own client, with an event newer than A's: the import merges.
    b.client("local")
    b.endpoint("local", rcv.url("/local"))
    local = b.event("local", "x.y", {"k": 1})["id"]
    b.wait_all(local)
    a.stop()
    exp = os.path.join(t.tmp, "mover.export")
    r = run_hookd("export", "--client", "mover", "-d", a.data, "-o", exp)
    eq(r.returncode, 0, "export exit code (stderr %r)" % r.stderr)
    check("exported client mover" in r.stderr and "6 deliveries" in
          r.stderr, "export report %r" % r.stderr)
    lines = read(exp).split(b"\n")
    check(b'"t":"export"' in lines[0] and b'"t":"end"' in lines[-2],
          "export header and end line: %r, %r" % (lines[0], lines[-2]))

    # The target's hookd runs: refused by the lock, nothing read.
    r = run_hookd("import", "-d", b.data, exp)
    eq(r.returncode, 1, "import into a running node")
    check("is in use by pid %d" % b.proc.pid in r.stderr,
          "lock message %r" % r.stderr)
    b.stop()

    # Bad input: nothing written, the line named.
    before = files(b)
    cut = os.path.join(t.tmp, "cut.export")
    with open(cut, "wb") as f:
        f.write(b"\n".join(lines[:-2]) + b"\n")
    r = run_hookd("import", "-d", b.data, cut)
    eq(r.returncode, 1, "import of a truncated export")
    check("cut.export:%d: the export ends without its end line"
          % (len(lines) - 2) in r.stderr, "truncation message %r" % r.stderr)
    edited = os.path.join(t.tmp, "edited.export")
    bad = lines[4].replace(b"order.paid", b"order.paix")
    check(bad != lines[4], "line 5 is an event record: %r" % lines[4])
    with open(edited, "wb") as f:
        f.write(b"\n".join(lines[:4] + [bad] + lines[5:]))
    r = run_hookd("import", "-d", b.data, edited)
    eq(r.returncode, 1, "import of an edited export")
    check("edited.export:5: checksum mismatch" in r.stderr,
          "edited line message %r" % r.stderr)
    eq(files(b), before, "target files after refused imports")

    # Import, then again: harmless, said so, the same files.
    r = run_hookd("import", "-d", b.data, exp)
    eq(r.returncode, 0, "import exit code (stderr %r)" % r.stderr)
    check("imported client mover" in r.stderr and "3 events" in r.stderr,
          "import report %r" % r.stderr)
    after = files(b)
    r = run_hookd("import", "-d", b.data, exp)
    eq(r.returncode, 0, "second import exit code (stderr %r)" % r.stderr)
    check("nothing new" in r.stderr and "skipped" in r.stderr,
          "second import report %r" % r.stderr)
    eq(files(b), after, "target files after the second import")

    # The old node: the client deleted offline, after a second export.
    r = run_hookd("export", "--client", "mover", "-d", a.data, "-o",
                  os.path.join(t.tmp, "final.export"), "--delete")
    eq(r.returncode, 0, "export --delete (stderr %r)" % r.stderr)
    r = run_hookd("export", "--client", "mover", "-d", a.data)
    eq(r.returncode, 1, "export of a client not there")
    check('no client "mover"' in r.stderr, "message %r" % r.stderr)

    # The receiver recovers; B delivers each pending delivery once, with
    # the same webhook-id and the endpoint's secret.
    rcv.on("/a", Reply(200))
    rcv.on("/b", Reply(200))
    mark = len(rcv.requests)
    b.start()
    for ev in evts:
        b.wait_all(ev, n=2)
    eq(b.req(200, "GET", "/v1/events/" + local)["id"], local,
       "B's own event after the import")
    a.start()
    for d in a.deliveries("?client=mover"):
        eq(d["status"], "failed", "delivery %s on the old node" % d["id"])
    got = [q for q in rcv.requests[mark:] if q.path in ("/a", "/b")]
    eq(sorted((q.headers["webhook-id"], q.path) for q in got),
       sorted((ev, p) for ev in evts for p in ("/a", "/b")),
       "callbacks after the move, one per delivery")
    for q in got:
        check_signature(q, secrets[q.headers["hookd-endpoint"]])
