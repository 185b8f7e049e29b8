"""The store's integrity and the data directory (issues 19 and 9, contract
§10 and §18): what receivers answer cannot make a record unreadable; `hookd
check` finds and moves damaged records; the data directory is locked,
checked and left untouched by a start that fails."""

import json
import os
import re
import socket
import subprocess
import time

from .harness import (HOOKD, SLOW_RETRY, Reply, check, eq, free_port,
                      run_hookd, wait_until)


def read_all(h):
    """GET the list and every delivery one by one; all must answer 200."""
    ds = h.deliveries()
    for d in ds:
        h.delivery(d["id"])
    return ds


def test_pretty_and_deep_acks_survive_restart(t):
    h = t.hookd()
    r = t.receiver()
    pretty = b'{\n  "ack": true,\n  "note": "line\\nbreak"\r\n}'
    deep = b'{"a":' * 63 + b'{"ack": true}' + b'}' * 63   # 64 deep
    r.on("/pretty", Reply(200, pretty,
                          {"Content-Type": "application/json"}))
    r.on("/deep", Reply(200, deep, {"Content-Type": "application/json"}))
    h.client("acme")
    h.endpoint("acme", r.url("/pretty"))
    h.endpoint("acme", r.url("/deep"))
    ev = h.event("acme", data={"refId": "1"})
    ds = h.wait_all(ev["id"], n=2)
    acks = {}
    for d in ds:
        one = h.delivery(d["id"])
        acks[one["url"].rsplit("/", 1)[1]] = one["ack"]
    eq(acks["pretty"], json.loads(pretty), "the pretty ack as kept")
    eq(acks["deep"], json.loads(deep), "the 64-deep ack as kept")
    read_all(h)
    h.req(202, "POST", "/v1/compact")
    h.restart()
    ds = read_all(h)
    eq(len(ds), 2, "deliveries after restart")
    for d in ds:
        one = h.delivery(d["id"])
        eq(one["status"], "delivered", "status after restart")
        check(one["ack"] is not None and one["log"][0]["status"] == 200,
              "ack and log after restart: %r" % one)
    h.restart(kill=True)
    eq(len(read_all(h)), 2, "deliveries after a second restart")


def snapshot(d):
    """Every file's name and bytes in a directory."""
    out = {}
    for name in sorted(os.listdir(d)):
        with open(os.path.join(d, name), "rb") as f:
            out[name] = f.read()
    return out


def run_on(h, *extra, timeout=20):
    """Run hookd on h's data directory and config, in the foreground;
    returns (exit code, stderr)."""
    r = run_hookd("-d", h.data, "-c", h.conf_path, *extra, admin=h.admin,
                  timeout=timeout)
    return r.returncode, r.stderr


def test_second_hookd_on_one_directory_is_refused(t):
    h = t.hookd()
    r = t.receiver()
    h.client("acme")
    h.endpoint("acme", r.url("/cb"))
    ev = h.event("acme", data={"n": 1})
    h.wait_all(ev["id"], n=1)
    before = snapshot(h.data)
    other = socket.socket()
    other.bind(("127.0.0.1", 0))
    port = other.getsockname()[1]
    other.close()
    rc, err = run_on(h, "-l", "127.0.0.1:%d" % port)
    eq(rc, 1, "exit code of the second hookd")
    want = "data directory %s is in use by pid %d" % (h.data, h.proc.pid)
    check(want in err, "stderr %r lacks %r" % (err, want))
    eq(snapshot(h.data), before, "the data directory after the refusal")
    # The first keeps serving, and its data is intact after a restart.
    ev2 = h.event("acme", data={"n": 2})
    h.wait_all(ev2["id"], n=1)
    h.restart()
    eq(len(read_all(h)), 2, "deliveries after restart")
    with open(os.path.join(h.data, "lock")) as f:
        eq(f.read().strip(), str(h.proc.pid), "pid in the lock file")


def test_failed_start_writes_nothing(t):
    conf = ('client shop name="Shop"\n'
            'endpoint shop http://127.0.0.1:9/cb events=order.*\n')
    h = t.hookd(conf)
    h.stop()
    before = snapshot(h.data)
    check("registry.log" in before and "admin.token" not in before,
          "files after the first run: %r" % sorted(before))
    # A taken port: the start fails before the lock and the store.
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        for _ in range(2):
            rc, err = run_on(h, "-l", "127.0.0.1:%d"
                                % taken.getsockname()[1])
            eq(rc, 1, "exit code with the port taken")
            check("Address already in use" in err, "stderr: %r" % err)
            eq(snapshot(h.data), before, "the data directory after a "
               "start on a taken port")
    finally:
        taken.close()
    # Without HOOKD_ADMIN_TOKEN a start would generate admin.token: a
    # failed one does not.
    admin, h.admin = h.admin, None
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        rc, err = run_on(h, "-l", "127.0.0.1:%d"
                            % taken.getsockname()[1])
        eq(rc, 1, "exit code with the port taken")
    finally:
        taken.close()
    eq(snapshot(h.data), before, "the data directory (no admin token)")
    # A bad config fails before the directory is touched.
    with open(h.conf_path, "a") as f:
        f.write("no_such_key 1\n")
    rc, err = run_on(h)
    eq(rc, 1, "exit code with a bad config")
    eq(snapshot(h.data), before, "the data directory after a bad config")
    with open(h.conf_path, "w") as f:
        f.write(h_conf_without_bad(h))
    h.admin = admin
    h.start()
    eq([c["id"] for c in h.req(200, "GET", "/v1/clients")["data"]],
       ["shop"], "clients after the failed starts")
    eq(len(h.req(200, "GET", "/v1/endpoints")["data"]), 1,
       "endpoints after the failed starts")


def h_conf_without_bad(h):
    with open(h.conf_path) as f:
        return "".join(line for line in f
                       if not line.startswith("no_such_key"))


def test_data_directory_writable_by_others_is_refused(t):
    h = t.hookd()
    h.stop()
    before = snapshot(h.data)
    for mode in (0o770, 0o702):
        os.chmod(h.data, mode)
        rc, err = run_on(h, "-l", "127.0.0.1:0")
        eq(rc, 1, "exit code with mode %o" % mode)
        check("chmod 700 %s" % h.data in err, "stderr %r does not say "
              "chmod 700" % err)
        eq(snapshot(h.data), before, "the data directory")
    os.chmod(h.data, 0o700)
    h.start()


def symlinked_journal(t):
    """A stopped hookd with one client whose journal.log is a symbolic
    link to a file elsewhere; returns (hookd, that file)."""
    h = t.hookd()
    h.client("acme")
    h.stop()
    journal = os.path.join(h.data, "journal.log")
    elsewhere = os.path.join(t.tmp, "elsewhere.log")
    os.rename(journal, elsewhere)
    os.symlink(elsewhere, journal)
    return h, elsewhere


def test_symlinked_journal_is_refused(t):
    h, elsewhere = symlinked_journal(t)
    with open(elsewhere, "rb") as f:
        before = f.read()
    rc, err = run_on(h, "-l", "127.0.0.1:0")
    eq(rc, 1, "exit code with a symlinked journal")
    check("journal.log: is a symbolic link" in err, "stderr: %r" % err)
    with open(elsewhere, "rb") as f:
        eq(f.read(), before, "the link's target")
    journal = os.path.join(h.data, "journal.log")
    os.unlink(journal)
    os.rename(elsewhere, journal)
    h.start()
    eq(len(h.req(200, "GET", "/v1/clients")["data"]), 1, "clients")


def test_idempotency_key_reused_with_another_request(t):
    h = t.hookd()
    r = t.receiver()
    h.client("acme")
    key = {"Idempotency-Key": "order-7"}
    first = h.event(data={"n": 1}, headers=key)
    eq(h.event(data={"n": 1}, headers=key), first, "same key, same body")
    want = {"error": "Idempotency-Key reused with a different request"}
    eq(h.event(data={"n": 2}, headers=key, expect=422), want,
       "same key, another body")
    eq(h.event(data={"n": 1}, headers=key, callback=r.url("/x"),
               expect=422), want, "same key, another callbackURL")
    # With a callbackURL the URL is part of the request.
    k2 = {"Idempotency-Key": "order-8"}
    second = h.event(data={"n": 1}, headers=k2, callback=r.url("/y"))
    eq(h.event(data={"n": 1}, headers=k2, callback=r.url("/y")), second,
       "same key, body and callbackURL")
    eq(h.event(data={"n": 1}, headers=k2, callback=r.url("/z"),
               expect=422), want, "same key, another callbackURL")
    for how in ("restart", "compact"):
        if how == "restart":
            h.restart()
        else:
            h.req(202, "POST", "/v1/compact")
            wait_until(lambda: "compacted" in h.log(), what="compaction")
            h.restart()
        eq(h.event(data={"n": 1}, headers=key), first,
           "same key and body after " + how)
        eq(h.event(data={"n": 2}, headers=key, expect=422), want,
           "another body after " + how)
        eq(h.event(data={"n": 1}, headers=k2, callback=r.url("/z"),
                   expect=422), want, "another callbackURL after " + how)
    eq(len(h.req(200, "GET", "/v1/events")["data"]), 2, "events created")


def damage(path, pred):
    """Flip one byte in the JSON of the first line for which pred(line) is
    true; return its line number (1-based)."""
    with open(path, "rb") as f:
        lines = f.read().split(b"\n")
    for i, line in enumerate(lines):
        if pred(line):
            b = bytearray(line)
            b[20] ^= 0x01
            lines[i] = bytes(b)
            with open(path, "wb") as f:
                f.write(b"\n".join(lines))
            return i + 1
    raise AssertionError("no line to damage in %s" % path)


def hookd_check(h, *extra):
    r = subprocess.run([HOOKD, "check", "-d", h.data] + list(extra),
                       capture_output=True, text=True, timeout=30)
    return r.returncode, r.stdout, r.stderr


def test_check_and_fix_damaged_records(t):
    h = t.hookd()
    r = t.receiver()
    r.on("/flaky", Reply(500), Reply(500), Reply(200, {"ack": True}))
    for cid in ("acme", "beta", "gamma"):
        h.client(cid)
    r.on("/later", Reply(503), Reply(200, {"ack": True}))
    h.endpoint("acme", r.url("/flaky"), events=["order.paid"])
    ev = h.event("acme", data={"n": 1})
    h.wait_all(ev["id"], n=1)
    # Its attempts come after the damaged line: their chain must move.
    ev2 = h.event("acme", type="other", data={"n": 2},
                  callback=r.url("/later"))
    h.wait_all(ev2["id"], n=1)
    h.stop()
    rc, out, err = hookd_check(h)
    eq((rc, out), (0, ""), "check of sound files")
    reg = os.path.join(h.data, "registry.log")
    jrn = os.path.join(h.data, "journal.log")
    reg_line = damage(reg, lambda line: b'"id":"beta"' in line)
    jrn_line = damage(jrn, lambda line: b'"t":"attempt"' in line and
                      b'"n":2' in line)
    with open(jrn, "rb") as f:
        njrn = f.read().count(b"\n")
    check(1 < jrn_line < njrn, "the damaged journal line is in the middle")
    rc, err = run_on(h, "-l", "127.0.0.1:0")
    eq(rc, 1, "start with a damaged registry")
    check("registry.log:%d: checksum mismatch" % reg_line in err and
          "run hookd check --fix -d %s" % h.data in err,
          "the refused start names the command: %r" % err)
    before = snapshot(h.data)
    rc, out, err = hookd_check(h)
    eq(rc, 1, "exit code of check with damage")
    eq(out.splitlines(), ["registry.log:%d: checksum mismatch" % reg_line,
                          "journal.log:%d: checksum mismatch" % jrn_line],
       "check's report")
    eq(snapshot(h.data), before, "check without --fix changed files")
    rc, out, err = hookd_check(h, "--fix")
    eq(rc, 0, "exit code of check --fix (stderr %r)" % err)
    moved = [n for n in os.listdir(h.data) if n.startswith("damaged-")]
    eq(len(moved), 1, "damaged files")
    with open(os.path.join(h.data, moved[0]), "rb") as f:
        eq(f.read().count(b"\n"), 2, "records moved")
    eq(hookd_check(h)[:2], (0, ""), "check after --fix")
    h.start()
    eq(sorted(c["id"] for c in h.req(200, "GET", "/v1/clients")["data"]),
       ["acme", "gamma"], "clients kept")
    ds = read_all(h)
    eq(len(ds), 2, "deliveries kept")
    one = h.delivery([d for d in ds if d["event"] == ev["id"]][0]["id"])
    eq((one["status"], one["log"][-1]["status"]), ("delivered", 200),
       "the delivery whose middle attempt was moved")
    two = h.delivery([d for d in ds if d["event"] == ev2["id"]][0]["id"])
    eq([a["status"] for a in two["log"]], [503, 200],
       "the log of a delivery written after the moved record")
    # While hookd runs, check is refused by the lock.
    rc, out, err = hookd_check(h, "--fix")
    eq(rc, 1, "check while hookd runs")
    check("in use by pid %d" % h.proc.pid in err, "stderr: %r" % err)


def test_max_log_attempts_keeps_the_newest(t):
    h = t.hookd("retry_schedule 100ms 100ms 100ms 100ms 100ms\n"
                "max_log_attempts 3\n")
    r = t.receiver()
    r.on("/cb", Reply(500), Reply(502), Reply(503), Reply(504), Reply(429),
         Reply(200, {"ack": True}))
    h.client("acme")
    h.endpoint("acme", r.url("/cb"))
    ev = h.event("acme", data={"n": 1})
    d = h.wait_all(ev["id"], n=1, timeout=30)[0]

    def looks_right(how):
        one = h.delivery(d["id"])
        eq(one["attempts"], 6, "attempts counted " + how)
        eq([a["status"] for a in one["log"]], [504, 429, 200],
           "the kept log " + how)
    looks_right("at once")
    h.req(202, "POST", "/v1/compact")
    wait_until(lambda: "compacted" in h.log(), what="compaction")
    looks_right("after compaction")
    h.restart()
    looks_right("after a restart")
    # With the default (50) a restart shows them all again only if they
    # are still on disk: compaction dropped the older three for good.
    with open(h.conf_path) as f:
        conf = f.read().replace("max_log_attempts 3\n", "")
    h.write_conf(conf)
    h.restart()
    eq([a["status"] for a in h.delivery(d["id"])["log"]], [504, 429, 200],
       "the log after compaction, with the default")
    for bad in ("0", "1001", "x"):
        h.write_conf(conf + "max_log_attempts %s\n" % bad)
        rc, err = run_on(h, "-n")
        eq(rc, 1, "exit code of -n with max_log_attempts %s" % bad)
        check("max_log_attempts" in err, "stderr: %r" % err)


def test_deleted_client_id_is_not_reused_while_its_records_remain(t):
    h = t.hookd("retention 0s\n")
    r = t.receiver()
    h.client("acme")
    h.endpoint("acme", r.url("/cb"))
    ev = h.event("acme", data={"n": 1},
                 headers={"Idempotency-Key": "k-1"})
    h.wait_all(ev["id"], n=1)
    h.req(204, "DELETE", "/v1/clients/acme")
    status, body, _ = h.api("POST", "/v1/clients", {"id": "acme"})
    eq(status, 409, "recreating acme while its events remain")
    check("deleted client had this id" in body["error"], "error: %r" % body)
    h.restart()
    eq(h.api("POST", "/v1/clients", {"id": "acme"})[0], 409,
       "recreating acme after a restart")
    # A deleted client without records frees its id at once.
    h.client("bare")
    h.req(204, "DELETE", "/v1/clients/bare")
    h.client("bare")
    # zeta: events but no idempotency key.
    h.client("zeta")
    h.endpoint("zeta", r.url("/z"))
    old = h.event("zeta", data={"n": 2})
    h.wait_all(old["id"], n=1)
    h.req(204, "DELETE", "/v1/clients/zeta")
    eq(h.api("POST", "/v1/clients", {"id": "zeta"})[0], 409,
       "recreating zeta while its events remain")
    # Once retention has compacted the events away, zeta is free; acme
    # is still held by its idempotency key (24 h).
    h.req(202, "POST", "/v1/compact")
    wait_until(lambda: "events dropped" in h.log(), what="compaction")
    eq(h.api("POST", "/v1/clients", {"id": "acme"})[0], 409,
       "recreating acme while its idempotency key is kept")
    tok = h.client("zeta")["token"]
    for path in ("/v1/events", "/v1/deliveries", "/v1/endpoints"):
        eq(h.req(200, "GET", path, token=tok)["data"], [],
           "what the new zeta sees at " + path)
    eq(h.api("GET", "/v1/events/" + old["id"], token=tok)[0], 404,
       "the old zeta's event, to the new zeta")


def test_check_on_a_missing_directory_creates_nothing(t):
    missing = os.path.join(t.tmp, "nonexist")
    r = subprocess.run([HOOKD, "check", "-d", missing], capture_output=True,
                       text=True, timeout=30)
    eq(r.returncode, 1, "exit code of check on a missing directory")
    check("data directory %s does not exist" % missing in r.stderr,
          "stderr: %r" % r.stderr)
    check("every record reads back" not in r.stderr, "stderr: %r" % r.stderr)
    check(not os.path.exists(missing), "check created the directory")
    r = subprocess.run([HOOKD, "check", "--bogus"], capture_output=True,
                       text=True, timeout=30)
    eq(r.returncode, 1, "exit code of check --bogus")
    check('unknown option "--bogus"' in r.stderr, "stderr: %r" % r.stderr)


def test_check_explains_a_symlinked_journal(t):
    h, elsewhere = symlinked_journal(t)
    rc, out, err = hookd_check(h)
    eq(rc, 1, "exit code of check with a symlinked journal")
    check("journal.log: is a symbolic link; hookd opens no links" in err,
          "stderr: %r" % err)
    check("Too many levels" not in err, "stderr: %r" % err)


def test_failed_start_on_a_new_directory_creates_nothing(t):
    data = os.path.join(t.tmp, "fresh")
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        r = subprocess.run([HOOKD, "-d", data, "-l", "127.0.0.1:%d"
                            % taken.getsockname()[1]],
                           stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=20)
    finally:
        taken.close()
    eq(r.returncode, 1, "exit code with the port taken")
    check("Address already in use" in r.stderr, "stderr: %r" % r.stderr)
    check(not os.path.exists(data), "the failed start created %s: %r"
          % (data, os.listdir(data) if os.path.isdir(data) else None))


def test_fix_names_and_keeps_the_records_that_depend_on_a_damaged_one(t):
    h = t.hookd(SLOW_RETRY)
    r = t.receiver()
    r.on("/down", *[Reply(500)] * 50)
    h.client("acme")
    h.client("beta")
    h.endpoint("acme", r.url("/down"))
    h.endpoint("beta", r.url("/ok"))
    ev = h.event("acme", data={"n": 1})
    wait_until(lambda: len(r.got("/down")) >= 1, what="a first attempt")
    evb = h.event("beta", data={"n": 2})
    h.wait_all(evb["id"], n=1)
    h.stop()
    reg = os.path.join(h.data, "registry.log")
    with open(reg, "rb") as f:
        lines = f.read().split(b"\n")
    ep_line = [i + 1 for i, line in enumerate(lines)
               if b'"t":"endpoint"' in line and b'"client":"acme"' in line]
    eq(len(ep_line), 1, "acme's endpoint records")
    ep_line = ep_line[0]
    intact = lines[ep_line - 1]
    cl_line = damage(reg, lambda line: b'"id":"acme"' in line)
    with open(reg, "rb") as f:
        damaged = f.read().split(b"\n")[cl_line - 1]
    rc, out, err = hookd_check(h)
    eq(rc, 1, "exit code of check")
    eq(out.splitlines(), [
        "registry.log:%d: checksum mismatch" % cl_line,
        "registry.log:%d: depends on line %d (--fix moves it with that "
        "line)" % (ep_line, cl_line)], "check's report")
    rc, out, err = hookd_check(h, "--fix")
    eq(rc, 0, "exit code of check --fix (stderr %r)" % err)
    eq(out.splitlines(), [
        "registry.log:%d: checksum mismatch" % cl_line,
        "registry.log:%d: moved with line %d: depends on it"
        % (ep_line, cl_line)], "--fix's report")
    moved = [n for n in os.listdir(h.data) if n.startswith("damaged-")]
    eq(len(moved), 1, "side files: %r" % moved)
    check(re.fullmatch(r"damaged-\d{8}T\d{6}Z\.log", moved[0]) is not None,
          "side file name %r" % moved[0])
    with open(os.path.join(h.data, moved[0]), "rb") as f:
        eq(f.read().split(b"\n")[:-1], [damaged, intact],
           "the side file: the damaged line, then its dependant, as they "
           "were")
    eq(hookd_check(h)[:2], (0, ""), "check after --fix")
    h.start()
    eq([c["id"] for c in h.req(200, "GET", "/v1/clients")["data"]],
       ["beta"], "clients after --fix")
    ds = h.deliveries_of(ev["id"])
    eq(len(ds), 1, "acme's deliveries")
    one = h.delivery(ds[0]["id"])
    eq(one["status"], "failed", "acme's delivery after --fix")
    check("hookd check --fix" in (one["log"][-1]["error"] or ""),
          "the failure names the command: %r" % one["log"][-1])
    eq(h.wait_all(evb["id"], n=1)[0]["status"], "delivered",
       "beta's delivery")
    # Another acme does not get the old one's records.
    status, body, _ = h.api("POST", "/v1/clients", {"id": "acme"})
    eq(status, 409, "recreating acme while its events remain")
    h.restart()
    eq(h.delivery(ds[0]["id"])["status"], "failed",
       "acme's delivery after a restart")
    # A second --fix of a second damage gets a name of its own.
    h.stop()
    damage(reg, lambda line: b'"id":"beta"' in line)
    eq(hookd_check(h, "--fix")[0], 0, "second --fix")
    eq(len([n for n in os.listdir(h.data) if n.startswith("damaged-")]), 2,
       "side files after a second --fix")


def test_static_registration_errors_name_file_and_line(t):
    h = t.hookd()
    h.stop()
    conf = os.path.join(t.tmp, "st.conf")
    with open(conf, "w") as f:
        f.write("endpoint nosuch http://127.0.0.1:9/x\n")
    r = subprocess.run([HOOKD, "-d", h.data, "-c", conf, "-l",
                        "127.0.0.1:0"], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=20)
    eq(r.returncode, 1, "exit code with an endpoint of no client")
    want = ('%s:1: no such client \\"nosuch\\": declare it with a client '
            'line, or create it with POST /v1/clients first' % conf)
    check(want in r.stderr, "stderr %r lacks %r" % (r.stderr, want))
    with open(conf, "w") as f:
        f.write('client acme name="A"\n# x\nclient acme\n')
    r = subprocess.run([HOOKD, "-n", "-c", conf], capture_output=True,
                       text=True, timeout=20)
    eq(r.returncode, 1, "exit code of -n with a client declared twice")
    check('%s:3: client "acme" is declared twice (first at line 1)' % conf
          in r.stderr, "stderr: %r" % r.stderr)
    with open(conf, "wb") as f:
        f.write(b"tim\xffout 15s\n")
    r = subprocess.run([HOOKD, "-n", "-c", conf], capture_output=True,
                       timeout=20)
    eq(r.returncode, 1, "exit code of -n with a key of invalid UTF-8")
    check(b'unknown key "tim\\xffout"' in r.stderr and b"\xff" not in
          r.stderr, "stderr: %r" % r.stderr)


def test_failed_static_registration_writes_nothing(t):
    """Contract §10: a start refused for a bad static line leaves an
    existing data directory byte-identical (no admin.token, no client from
    an earlier good line of the same config) and creates no new one."""
    h = t.hookd()
    h.client("acme")
    h.stop()
    before = snapshot(h.data)
    check("admin.token" not in before, "files: %r" % sorted(before))
    with open(h.conf_path, "a") as f:
        f.write("client fresh\nendpoint ghost http://192.0.2.1/cb\n")
    admin, h.admin = h.admin, None      # a start would make admin.token
    rc, err = run_on(h, "-l", "127.0.0.1:%d" % free_port())
    h.admin = admin
    eq(rc, 1, "exit code with a static endpoint of no client")
    check('no such client \\"ghost\\"' in err, "stderr: %r" % err)
    eq(snapshot(h.data), before, "the data directory after the refusal")
    # A directory the failed start would have made is not left behind.
    fresh = os.path.join(t.tmp, "fresh-static")
    r = subprocess.run([HOOKD, "-d", fresh, "-c", h.conf_path, "-l",
                        "127.0.0.1:%d" % free_port()],
                       stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=20)
    eq(r.returncode, 1, "exit code on a new directory")
    check(not os.path.exists(fresh), "the failed start left %s: %r"
          % (fresh, os.listdir(fresh) if os.path.isdir(fresh) else None))
