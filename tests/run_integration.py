#!/usr/bin/env python3
"""hookd's black-box integration tests: run from the repo root as
`python3 tests/run_integration.py [FILTER...]`.

Discovers the test_* functions of tests/integ/test_*.py (in file order),
runs each with a fresh temp dir, prints PASS/FAIL lines and ends with
"N passed, N failed". A FILTER keeps the tests whose "module.name" contains
it; `-x PATTERN` (repeatable) leaves out those whose name contains PATTERN. HOOKD_BIN selects the binary (default ./hookd); KEEP=1 keeps the temp
dirs of passing tests too (failing ones are always kept).
"""

import importlib
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from integ import harness  # noqa: E402

# A test that has not finished after this long is stuck: fail it.
TEST_TIME_LIMIT = 120


class TestTimeout(Exception):
    pass


def on_alarm(signum, frame):
    raise TestTimeout("test did not finish within %ds" % TEST_TIME_LIMIT)


def kill_leftovers():
    for p in harness.ALL_PROCS:
        if p.poll() is None:
            try:
                os.kill(p.pid, signal.SIGKILL)
                p.wait(5)
            except (OSError, Exception):
                pass


def on_term(signum, frame):
    kill_leftovers()
    sys.exit(1)


def discover(filters, excludes=()):
    tests = []
    d = os.path.join(HERE, "integ")
    for fname in sorted(os.listdir(d)):
        if not (fname.startswith("test_") and fname.endswith(".py")):
            continue
        mod = importlib.import_module("integ." + fname[:-3])
        for name, fn in vars(mod).items():
            if name.startswith("test_") and callable(fn):
                full = "%s.%s" % (fname[:-3], name)
                if any(x in full for x in excludes):
                    continue
                if not filters or any(f in full for f in filters):
                    tests.append((full, name, fn))
    return tests


def log_tail(ctx, lines=25):
    out = []
    for h in ctx.hookds:
        text = h.log().rstrip("\n").split("\n")
        out.append("    --- %s (last %d lines) ---" % (h.log_path, lines))
        out.extend("    " + line for line in text[-lines:])
    return "\n".join(out)


def run_one(name, fn):
    tmp = tempfile.mkdtemp(prefix="hookd-it-")
    ctx = harness.Ctx(name, tmp)
    reason = skipped = None
    t0 = time.monotonic()
    signal.alarm(TEST_TIME_LIMIT)
    try:
        fn(ctx)
    except harness.Skip as e:
        skipped = str(e)
    except AssertionError as e:
        reason = str(e) or "assertion failed: " + \
            traceback.format_exc().strip().split("\n")[-2].strip()
    except Exception as e:  # noqa: BLE001 - any error fails the test
        tb = traceback.extract_tb(e.__traceback__)
        where = "%s:%d" % (os.path.basename(tb[-1].filename), tb[-1].lineno)
        reason = "%s: %s (at %s)" % (type(e).__name__, e, where)
    finally:
        signal.alarm(0)
    try:
        problems = ctx.close()
    except Exception as e:  # noqa: BLE001
        problems = ["cleanup: %s" % e]
    if reason is None and problems:
        reason = "; ".join(problems)
    took = time.monotonic() - t0
    if reason is None and skipped is not None:
        print("SKIP %s: %s" % (name, skipped), flush=True)
        shutil.rmtree(tmp, ignore_errors=True)
        return None
    if reason is None:
        print("PASS %s (%.1fs)" % (name, took), flush=True)
        for n in ctx.notes:
            print("     note: %s" % n, flush=True)
        if not os.environ.get("KEEP"):
            shutil.rmtree(tmp, ignore_errors=True)
        return True
    print("FAIL %s: %s (%.1fs, files in %s)" % (name, reason, took, tmp),
          flush=True)
    FAILURES.append("%s: %s" % (name, reason))
    for n in ctx.notes:
        print("     note: %s" % n, flush=True)
    print(log_tail(ctx), flush=True)
    return False


# Each failure's name and reason, printed again after the count: a CI log
# shown only in part keeps its end, so which test failed is never lost.
FAILURES = []


def main():
    os.chdir(os.path.dirname(HERE))
    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, on_term)
    filters, excludes = [], []
    args = sys.argv[1:]
    while args:
        a = args.pop(0)
        if a == "-x" and args:
            excludes.append(args.pop(0))
        else:
            filters.append(a)
    passed = failed = skipped = 0
    try:
        if not os.access(harness.HOOKD, os.X_OK):
            print("FAIL setup: %s is not built (make hookd)" % harness.HOOKD)
            failed = 1
        else:
            for full, _name, fn in discover(filters, excludes):
                ok = run_one(full, fn)
                if ok is None:
                    skipped += 1
                elif ok:
                    passed += 1
                else:
                    failed += 1
    finally:
        kill_leftovers()
    print("%d passed, %d failed%s" % (passed, failed, ", %d skipped (see "
          "SKIP lines above)" % skipped if skipped else ""))
    for f in FAILURES:
        print("  failed: %s" % f[:600])
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
