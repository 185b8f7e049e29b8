"""Contract §17: hookd export / hookd import, a client moved from one node
to another with its pending deliveries, delivered by the new node only."""

import os
import zlib

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
    # -o - is standard output (as import's -), not a file named "-".
    r = run_hookd("export", "--client", "mover", "-d", a.data, "-o", "-",
                  cwd=t.tmp)
    eq(r.returncode, 0, "export -o - exit code (stderr %r)" % r.stderr)
    eq(r.stdout.encode().split(b"\n")[1:], lines[1:], "export -o - writes "
       "the export on standard output (the header's time aside)")
    check(not os.path.exists(os.path.join(t.tmp, "-")),
          "export -o - writes no file named -")

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


def one_client_export(t, extra=""):
    """A stopped node with client "mover" (one endpoint, one pending
    delivery to a receiver answering 500), and its export file."""
    rcv = t.receiver()
    rcv.on("/a", Reply(500))
    a = t.hookd(SLOW_RETRY + "node_id 1\n" + extra)
    a.client("mover")
    a.endpoint("mover", rcv.url("/a"))
    ev = a.event("mover", "order.paid", {"n": 1})["id"]
    for d in a.deliveries_of(ev):
        a.wait_delivery(d["id"], lambda d: d["attempts"] >= 1)
    a.stop()
    exp = os.path.join(t.tmp, "mover.export")
    r = run_hookd("export", "--client", "mover", "-d", a.data, "-o", exp)
    eq(r.returncode, 0, "export exit code (stderr %r)" % r.stderr)
    return rcv, a, ev, exp


def test_move_interrupted_import(t):
    """An import stopped between its registry records and its journal:
    the start and hookd check refuse the directory, naming the export; the
    same import run again finishes it."""
    rcv, a, ev, exp = one_client_export(t)
    b = t.hookd(SLOW_RETRY + "node_id 2\n")
    b.stop()
    # The journal's rename fails: the registry records are on disk, the
    # events are not.
    r = run_hookd("import", "-d", b.data, "-c", b.conf_path, exp,
                  env={"HOOKD_FAULT": "rename=1"})
    eq(r.returncode, 1, "import with a failing rename")
    want = ("an import of %s was interrupted: run `hookd import -d %s %s` "
            "again to finish it" % (exp, b.data, exp))
    check("the import did not complete" in r.stderr and
          "run `hookd import -d %s %s` again" % (b.data, exp) in r.stderr,
          "interrupted import message %r" % r.stderr)
    check(os.path.exists(os.path.join(b.data, "import.incomplete")),
          "marker left by the interrupted import")
    check(b"mover" in read(os.path.join(b.data, "registry.log")),
          "the registry half is on disk")
    # A stray new journal as a kill -9 before the rename leaves it.
    with open(os.path.join(b.data, "journal.log.import"), "wb") as f:
        f.write(b"half")
    with open(b.log_path, "ab") as f:
        f.truncate(0)
    b.start(wait=False)
    rc = b.proc.wait(10)
    check(rc != 0, "start on a half-imported directory exits (rc %r)" % rc)
    check(want in b.log(), "start refusal message %r" % b.log())
    r = run_hookd("check", "-d", b.data, "-c", b.conf_path)
    eq(r.returncode, 1, "hookd check of a half-imported directory")
    check(want in r.stderr, "check message %r" % r.stderr)
    r = run_hookd("export", "--client", "mover", "-d", b.data)
    eq(r.returncode, 1, "export from a half-imported directory")
    check(want in r.stderr, "export refusal %r" % r.stderr)
    # Another export is refused until this one is finished.
    other = os.path.join(t.tmp, "other.export")
    with open(other, "wb") as f:
        f.write(read(exp))
    r = run_hookd("import", "-d", b.data, other)
    eq(r.returncode, 1, "another import before the interrupted one")
    check(want in r.stderr, "other import refusal %r" % r.stderr)
    # Run again: finished, the marker and the stray journal gone.
    r = run_hookd("import", "-d", b.data, exp)
    eq(r.returncode, 0, "import run again (stderr %r)" % r.stderr)
    check("imported client mover" in r.stderr and "1 event" in r.stderr,
          "the second run adds the event: %r" % r.stderr)
    for n in ("import.incomplete", "journal.log.import"):
        check(not os.path.exists(os.path.join(b.data, n)),
              "%s removed by the finished import" % n)
    rcv.on("/a", Reply(200))
    b.start()
    b.wait_all(ev)


def test_move_import_finished_but_marker_left(t):
    """Killed after its last change, before the marker's removal: the run
    again finds nothing new and removes the marker."""
    rcv, a, ev, exp = one_client_export(t)
    b = t.hookd(SLOW_RETRY + "node_id 2\n", start=False)
    r = run_hookd("import", "-d", b.data, exp)
    eq(r.returncode, 0, "import (stderr %r)" % r.stderr)
    with open(os.path.join(b.data, "import.incomplete"), "w") as f:
        f.write(exp + "\n")
    r = run_hookd("import", "-d", b.data, exp)
    eq(r.returncode, 0, "import run again (stderr %r)" % r.stderr)
    check("nothing new" in r.stderr, "report %r" % r.stderr)
    check(not os.path.exists(os.path.join(b.data, "import.incomplete")),
          "marker removed")
    rcv.on("/a", Reply(200))
    b.start()
    b.wait_all(ev)


def test_move_export_output_file(t):
    """export -o writes FILE.tmp and renames it at success: a refused
    export leaves an earlier FILE whole; -o inside the data directory is
    refused."""
    rcv, a, ev, exp = one_client_export(t)
    good = read(exp)
    r = run_hookd("export", "--client", "nobody", "-d", a.data, "-o", exp)
    eq(r.returncode, 1, "export of an unknown client")
    eq(read(exp), good, "earlier export after a refused one")
    a.start()
    r = run_hookd("export", "--client", "mover", "-d", a.data, "-o", exp)
    eq(r.returncode, 1, "export while the node runs")
    check("in use by pid" in r.stderr, "lock message %r" % r.stderr)
    eq(read(exp), good, "earlier export after the lock refusal")
    check(not os.path.exists(exp + ".tmp"), "no FILE.tmp left behind")
    a.stop()
    jrn = os.path.join(a.data, "journal.log")
    before = read(jrn)
    for out in (jrn, os.path.join(a.data, "x.export"),
                os.path.join(a.data, ".", "registry.log")):
        r = run_hookd("export", "--client", "mover", "-d", a.data, "-o",
                      out)
        eq(r.returncode, 1, "export -o %s" % out)
        check("is inside the data directory" in r.stderr,
              "message %r" % r.stderr)
    eq(read(jrn), before, "the node's journal after export -o journal.log")
    check(not os.path.exists(os.path.join(a.data, "x.export")),
          "nothing written in the data directory")
    # A FILE.tmp left by an interrupted export is named, not overwritten.
    with open(exp + ".tmp", "wb") as f:
        f.write(b"x")
    r = run_hookd("export", "--client", "mover", "-d", a.data, "-o", exp)
    eq(r.returncode, 1, "export with a stale FILE.tmp")
    check("remove %s.tmp" % exp in r.stderr, "message %r" % r.stderr)
    eq(read(exp), good, "earlier export kept")


def recrc(line):
    """A record line (no newline) with its CRC-32 made right again."""
    body = line[9:]
    return b"%08x " % zlib.crc32(body) + body


def test_move_import_refusals_write_nothing(t):
    """A header of another format version stops the import at line 1 (no
    follow-on errors); a refused import into an empty directory creates
    no store files."""
    rcv, a, ev, exp = one_client_export(t)
    lines = read(exp).split(b"\n")
    head = lines[0].replace(b'"v":1', b'"v":2')
    check(head != lines[0], "header has v 1: %r" % lines[0])
    v2 = os.path.join(t.tmp, "v2.export")
    with open(v2, "wb") as f:
        f.write(b"\n".join([recrc(head)] + lines[1:]))
    empty = os.path.join(t.tmp, "empty")
    os.mkdir(empty)
    r = run_hookd("import", "-d", empty, v2)
    eq(r.returncode, 1, "import of a v2 export")
    err = [l for l in r.stderr.splitlines() if l.strip()]
    eq(len(err), 1, "one error line for a v2 export: %r" % r.stderr)
    check("v2.export:1: export format version is not 1" in err[0] and
          "nothing was imported" in err[0], "message %r" % err[0])
    eq(sorted(n for n in os.listdir(empty) if n != "lock"), [],
       "files in the empty directory after a refused import")
    # Refused by the second pass (read against the target): an attempt
    # whose prev names no attempt before it, its checksum made right.
    att = [i for i, l in enumerate(lines) if b'"t":"attempt"' in l]
    check(len(att) == 1 and b'"prev":-1' in lines[att[0]],
          "one first attempt: %r" % lines)
    edited = list(lines)
    edited[att[0]] = recrc(lines[att[0]].replace(b'"prev":-1', b'"prev":7'))
    prev = os.path.join(t.tmp, "prev.export")
    with open(prev, "wb") as f:
        f.write(b"\n".join(edited))
    r = run_hookd("import", "-d", empty, prev)
    eq(r.returncode, 1, "import of an export with a bad prev")
    check("prev.export:%d: the attempt's prev" % (att[0] + 1) in r.stderr,
          "message %r" % r.stderr)
    eq(sorted(n for n in os.listdir(empty) if n != "lock"), [],
       "files in the empty directory after a refusal of the second pass")


def test_export_of_a_missing_directory_creates_nothing(t):
    """hookd export from a DATADIR that is not there says so and creates
    nothing, as hookd check does (before, it made the directory, a lock,
    and empty logs, then said the client was not there)."""
    missing = os.path.join(t.tmp, "no-such-data")
    out = os.path.join(t.tmp, "c1.export")
    r = run_hookd("export", "--client", "c1", "-d", missing, "-o", out)
    eq(r.returncode, 1, "hookd export exit code: " + r.stderr)
    check("data directory %s does not exist" % missing in r.stderr,
          r.stderr)
    check(not os.path.exists(missing), "export created " + missing)
    check(not os.path.exists(out), "export wrote " + out)
