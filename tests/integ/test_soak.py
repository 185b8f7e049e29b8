"""The soak run (issue 18, item 5; tests/soak/soak.py, `make soak`): its
verdict trips on a leak in any of the series it judges, and a short run
against the real hookd prints its rows and ends flat."""

import importlib.util
import os
import subprocess
import sys

from .harness import HOOKD, ROOT, check, eq

SOAK = os.path.join(ROOT, "tests", "soak", "soak.py")


def load_soak():
    spec = importlib.util.spec_from_file_location("soak", SOAK)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def series(n, fds=200, rss=8000, journal=10 << 20, saw=4 << 20, fd_step=0,
           rss_step=0, journal_step=0):
    """n rows a minute apart: flat, or growing by the steps each row
    (journal: a saw-tooth of compactions of height saw, plus a step)."""
    return [{"row": i + 1, "fds": fds + fd_step * i,
             "rss_kb": rss + rss_step * i,
             "journal": journal + (i % 2) * saw + journal_step * i}
            for i in range(n)]


def test_soak_verdict_trips(ctx):
    soak = load_soak()
    good = {"exit": 0, "idle_fds": (15, 15)}
    cases = [
        # (what, rows, final, a word the failure must hold; None: passes)
        ("flat", series(30), good, None),
        ("fds jitter within the margin", series(30, fd_step=1), good, None),
        ("RSS noise within the slack",
         series(30, rss_step=100), good, None),
        ("an fd a row leaks under load",
         series(30, fd_step=3), good, "open fds grew"),
        ("an fd leaks at idle", series(30),
         {"exit": 0, "idle_fds": (15, 19)}, "no connection open"),
        ("RSS grows 1 MiB a minute", series(30, rss_step=1024), good,
         "RSS grew"),
        ("the journal is never compacted",
         series(30, saw=0, journal_step=2 << 20), good,
         "never came back down"),
        ("the saw-tooth's peaks grow",
         series(30, journal=2 << 20, saw=0, journal_step=0)[:18] +
         series(30, journal=2 << 20, saw=40 << 20)[18:], good,
         "journal.log peaked"),
        ("a short run is not judged on its journal",
         series(8, saw=0, journal_step=2 << 20), good, None),
        ("a 5xx", series(30), dict(good, bad_5xx=1), "5xx"),
        ("a lost event", series(30), dict(good, lost=2), "missing"),
        ("a stuck delivery", series(30), dict(good, stuck=1), "stuck"),
        ("a repeat with another id", series(30),
         dict(good, idem_mismatch=1), "Idempotency-Key"),
        ("hookd died", series(30), dict(good, crashed="exited with 139"),
         "did not survive"),
        ("hookd exited 1 at SIGTERM", series(30), dict(good, exit=1),
         "exited 1"),
        ("no rows", [], good, "no rows"),
        ("the disk filled up", series(30),
         dict(good, disk_full=("/x", 12 << 20)), "SOAK_DIR /x (12 MiB) "
         "filled up"),
    ]
    for what, rows, final, word in cases:
        fails = soak.verdict(rows, 6, final)
        if word is None:
            eq(fails, [], what)
        else:
            check(any(word in f for f in fails),
                  "%s: want a failure saying %r, got %r" % (what, word, fails))


def test_soak_short_run(ctx):
    env = dict(os.environ, SOAK_SECONDS="24", SOAK_DIR=ctx.tmp,
               HOOKD_BIN=HOOKD)
    p = subprocess.run([sys.executable, SOAK], cwd=ROOT, env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=110)
    out = p.stdout.decode("utf-8", "replace")
    lines = out.splitlines()
    head = [i for i, ln in enumerate(lines) if ln.lstrip().startswith("min")]
    check(head, "no table header in:\n" + out)
    rows = []
    for ln in lines[head[0] + 1:]:
        parts = ln.split()
        if len(parts) != 16:
            break
        rows.append(parts)
    check(len(rows) >= 4, "want at least 4 rows, got %d:\n%s"
          % (len(rows), out))
    # Events were accepted in every row, and hookd's RSS and fds read.
    for r in rows:
        check(float(r[2]) > 0, "a row without events: %r\n%s" % (r, out))
        check(float(r[6]) > 0 and int(r[8]) > 0,
              "a row without RSS or fds: %r" % (r,))
    check("VERDICT: PASS" in out, "the short soak did not pass:\n" + out)
    eq(p.returncode, 0, "soak.py exit code")


def test_soak_hookd_killed_early(ctx):
    """hookd killed -9 before warm-up ends (its first rows): the run says
    FAIL with the reason and where its files are, without a traceback
    (the summary's max() over the rows after warm-up met none), and
    leaves no hookd running."""
    wrap = os.path.join(ctx.tmp, "hookd-dies")
    with open(wrap, "w") as f:
        f.write('#!/bin/sh\n(sleep 6; kill -9 $$) &\nexec "%s" "$@"\n'
                % os.path.abspath(HOOKD))
    os.chmod(wrap, 0o755)
    env = dict(os.environ, SOAK_SECONDS="60", SOAK_DIR=ctx.tmp,
               HOOKD_BIN=wrap)
    p = subprocess.run([sys.executable, SOAK], cwd=ROOT, env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=110)
    out = p.stdout.decode("utf-8", "replace")
    check("Traceback" not in out, "a traceback:\n" + out)
    check("VERDICT: FAIL" in out and "killed by SIGKILL" in out,
          "want FAIL naming SIGKILL:\n" + out)
    check("soak: files kept in " + ctx.tmp in out, out)
    eq(p.returncode, 1, "soak.py exit code")


def test_soak_dir_unusable(ctx):
    """SOAK_DIR that is missing or not a directory: one line saying so."""
    for d in (os.path.join(ctx.tmp, "missing"), SOAK):
        env = dict(os.environ, SOAK_SECONDS="60", SOAK_DIR=d,
                   HOOKD_BIN=HOOKD)
        p = subprocess.run([sys.executable, SOAK], cwd=ROOT, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=30)
        out = p.stdout.decode("utf-8", "replace")
        check("Traceback" not in out and "cannot make a directory in "
              "SOAK_DIR" in out, "SOAK_DIR=%s:\n%s" % (d, out))
        eq(p.returncode, 1, "soak.py exit code, SOAK_DIR=%s" % d)


def test_soak_disk_full_ends_early(ctx):
    """SOAK_DIR's file system fills up (hookd's ENOSPC fault after a few
    hundred writes): the run ends at the next row with a verdict that says
    so and what to do, instead of measuring a hookd that can take nothing
    to the end and then waiting two minutes for a compaction that cannot
    write."""
    # A ten-minute run whose rows come every 5 s: it must end long
    # before its ten minutes (the subprocess's timeout).
    env = dict(os.environ, SOAK_SECONDS="600", SOAK_ROW_SECONDS="5",
               SOAK_DIR=ctx.tmp, HOOKD_BIN=HOOKD, HOOKD_FAULT="enospc=400")
    p = subprocess.run([sys.executable, SOAK], cwd=ROOT, env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=300)
    out = p.stdout.decode("utf-8", "replace")
    check("Traceback" not in out, "a traceback:\n" + out)
    check("VERDICT: FAIL" in out and "filled up" in out and
          "disk full" in out, "want FAIL saying the disk filled:\n" + out)
    check("final compaction did not end" not in out,
          "waited for a compaction on a full disk:\n" + out)
    eq(p.returncode, 1, "soak.py exit code")
