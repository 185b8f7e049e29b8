"""The cost of a request in system calls (issue 12 items 1 and 2): the
journal records of one group commit reach the file in one write, and each
request takes one read and one write on its connection. The batch's own
failure is checked too: when its write fails, every request of the batch
gets a 5xx and none of its events is there after a restart.

A batch is made deterministic by stopping hookd (SIGSTOP) while every
request is sent on its own idle connection: on SIGCONT one poll() pass
finds them all. The system calls are counted by the kernel in
/proc/PID/io (syscr, syscw; every thread of the process), so the tests
are Linux-only, and nothing in them depends on the machine's speed."""

import json
import os
import shutil
import signal
import time

from .harness import (ALLOW_LOOPBACK, BASE_CONF, Hookd, RawConn, Skip, check,
                      eq, wait_until)

NCONN = 16


def io_counts(pid):
    """(read calls, write calls) the process made so far."""
    with open("/proc/%d/io" % pid) as f:
        kv = dict(line.split(": ") for line in f.read().splitlines())
    return int(kv["syscr"]), int(kv["syscw"])


def post_batch(h, n=NCONN):
    """n events posted at once on n idle keep-alive connections while
    hookd is stopped; returns ([(status, body) or None], syscalls made
    from SIGCONT to the last answer as (reads, writes))."""
    conns = [RawConn(h.port) for _ in range(n)]
    # An answered request each: every connection is accepted and idle.
    for c in conns:
        c.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        c.read_response()
    os.kill(h.proc.pid, signal.SIGSTOP)
    try:
        for i, c in enumerate(conns):
            body = json.dumps({"client": "acme", "type": "t",
                               "data": {"i": i}}).encode()
            c.send(b"POST /v1/events HTTP/1.1\r\nHost: x\r\n"
                   b"Authorization: Bearer " + h.admin.encode() +
                   b"\r\nContent-Type: application/json\r\n"
                   b"Content-Length: %d\r\n\r\n" % len(body) + body)
        before = io_counts(h.proc.pid)
    finally:
        os.kill(h.proc.pid, signal.SIGCONT)
    out = []
    for c in conns:
        try:
            status, _, body = c.read_response()
            out.append((status, body))
        except (OSError, EOFError):
            out.append(None)
    # Counted before the connections close (hookd reads their ends).
    after = io_counts(h.proc.pid) if h.running else before
    for c in conns:
        c.close()
    return out, (after[0] - before[0], after[1] - before[1])


def test_one_journal_write_per_batch_one_read_one_write_per_request(t):
    if not os.path.exists("/proc/self/io"):
        raise Skip("no /proc/PID/io here")
    h = t.hookd("fsync always\n")
    h.client("acme")
    answers, (reads, writes) = post_batch(h)
    eq([a and a[0] for a in answers], [202] * NCONN, "answers")
    # Per request one read and one writev on its connection; shared: the
    # batch's pwrite, and per group commit a job and a result through the
    # sync thread's pipes (a read and a write each). The first request
    # starts a commit of its own, the others share the next: two
    # commits, where writing every record by itself took 16 pwrites.
    t.note("%d requests in one pass: %d reads, %d writes" % (NCONN, reads,
                                                              writes))
    check(reads <= NCONN + 6, "%d reads for %d requests" % (reads, NCONN))
    check(writes <= NCONN + 8, "%d writes for %d requests: the journal "
          "records are not batched" % (writes, NCONN))
    # Everything answered is there after a restart (the batch was written).
    h.restart(kill=True)
    got = h.req(200, "GET", "/v1/events?limit=100")["data"]
    eq(sorted(e["id"] for e in got),
       sorted(json.loads(b)["id"] for _, b in answers), "events kept")


def test_failed_batch_write_answers_each_request_5xx_keeps_none(t):
    base = t.hookd("fsync always\n")
    base.client("acme")
    base.stop()
    seen_batch_failure = False
    rows = []
    # The N-th write fails (each record added to the batch counts, and
    # each write of a batch): somewhere in this range lies the write of
    # the batch that holds most of the 16 events.
    for n in range(2, 2 * NCONN + 4):
        h = Hookd(t.tmp, BASE_CONF + ALLOW_LOOPBACK + "fsync always\n",
                  admin_token=base.admin, name="fault%d" % n,
                  env={"HOOKD_FAULT": "write=%d" % n})
        t.hookds.append(h)
        shutil.copytree(base.data, h.data)
        os.chmod(h.data, 0o700)
        os.unlink(os.path.join(h.data, "lock"))
        h.start()
        answers, _ = post_batch(h)
        acked = {json.loads(a[1])["id"] for a in answers
                 if a is not None and a[0] == 202}
        failed = sum(1 for a in answers if a is not None and a[0] >= 500)
        unanswered = sum(1 for a in answers if a is None)
        check(all(a is None or a[0] in (202, 500) for a in answers),
              "write=%d: answers %r" % (n, [a and a[0] for a in answers]))
        if failed >= 2:
            # Only a batch's write fails many requests at once, and
            # nothing can be acknowledged after it: hookd ends.
            wait_until(lambda: not h.running, 10, what="hookd to exit")
            check(h.proc.returncode != 0, "exit code 0")
            check("journal write failed" in h.log(), "write=%d: no "
                  "'journal write failed' in the log" % n)
            seen_batch_failure = True
        if h.running:
            # A fault on the first batch's write ends hookd with only one
            # request answered 500; it may be exiting now (code 1).
            try:
                h.stop(expect=None)
            except AssertionError:
                if h.running:
                    raise
            rc = h.proc.returncode
            check(rc == 0 or "journal write failed" in h.log(),
                  "write=%d: exit code %d" % (n, rc))
        h.extra_env = {}
        h.start()
        got = {e["id"] for e in
               h.req(200, "GET", "/v1/events?limit=100")["data"]}
        check(acked <= got, "write=%d: acknowledged events lost: %s"
              % (n, sorted(acked - got)))
        check(len(got - acked) <= unanswered, "write=%d: events answered "
              "5xx were kept: %s" % (n, sorted(got - acked)))
        h.stop()
        rows.append("%d:%d/%d/%d" % (n, len(acked), failed, unanswered))
        if seen_batch_failure:
            break
    t.note("write=N: acked/5xx/unanswered: " + " ".join(rows))
    check(seen_batch_failure, "no write fault failed a whole batch: %s"
          % rows)
