"""Issue 16 (contract §16): the subcommands that talk to a running hookd
(client, endpoint, send, deliveries, retry, replay, tail), their exit codes
0 / 1 / 2, --json output, where the token and the address come from, and
GET /v1/attempts behind `hookd tail`."""

import json
import os
import signal
import subprocess
import time

from .harness import (ALL_PROCS, HOOKD, Reply, check, curl, eq, free_port,
                      run_hookd, wait_until)


def cli(h, *args, admin="default", env=None):
    """Run `hookd ARGS -l <h's address>` with h's admin token in the
    environment (admin=None: no token in it)."""
    if admin == "default":
        admin = h.admin
    return run_hookd(*args, "-l", "127.0.0.1:%d" % h.port, admin=admin,
                     env=env, cwd=h.tmp)


def ok(r, what):
    eq(r.returncode, 0, "%s exit code (stderr %r)" % (what, r.stderr))
    return r.stdout


def js(r, what):
    return json.loads(ok(r, what))


# ------------------------------------------------------------ clients


def test_client_and_endpoint_commands(t):
    h = t.hookd()
    out = ok(cli(h, "client", "add", "acme", "Acme Store"), "client add")
    check("acme" in out and "hkc_" in out and "whsec_" in out,
          "client add shows the id, token and secret: %r" % out)
    c = js(cli(h, "client", "add", "beta", "--json"), "client add --json")
    eq(c["id"], "beta", "client add --json id")
    check(c["token"].startswith("hkc_"), "the token in --json: %r" % c)
    out = ok(cli(h, "client", "ls"), "client ls")
    lines = out.splitlines()
    check(lines[0].split() == ["ID", "NAME", "CREATED"], "header: %r" % out)
    check(any(l.startswith("acme ") and "Acme Store" in l for l in lines),
          "acme in the table: %r" % out)
    lst = js(cli(h, "client", "ls", "--json"), "client ls --json")
    eq(sorted(x["id"] for x in lst), ["acme", "beta"], "client ls --json")
    eq(len(js(cli(h, "client", "ls", "--limit", "1", "--json"), "ls")), 1,
       "--limit 1 items")

    ep = js(cli(h, "endpoint", "add", "acme", "http://127.0.0.1:9/{refId}",
                "--events", "order.paid,order.*", "--method", "GET",
                "--header", "X-Api-Key: k1", "--description", "d", "--json"),
            "endpoint add --json")
    eq(ep["client"], "acme", "endpoint client")
    eq(ep["method"], "GET", "endpoint method")
    eq(ep["events"], ["order.paid", "order.*"], "endpoint events")
    eq(ep["headers"], {"X-Api-Key": "k1"}, "endpoint headers")
    eq(ep["description"], "d", "endpoint description")
    # The API sees exactly that.
    eq(h.req(200, "GET", "/v1/endpoints/" + ep["id"])["events"],
       ["order.paid", "order.*"], "stored events")
    out = ok(cli(h, "endpoint", "add", "beta", "http://127.0.0.1:9/b"),
             "endpoint add")
    check("ep_" in out and "whsec_" in out, "endpoint add output %r" % out)
    out = ok(cli(h, "endpoint", "ls", "acme"), "endpoint ls acme")
    check(ep["id"] in out and "/b" not in out, "endpoint ls acme: %r" % out)
    eq(len(js(cli(h, "endpoint", "ls", "--json"), "endpoint ls")), 2,
       "endpoint ls --json, all clients")
    rot = js(cli(h, "endpoint", "rotate", ep["id"], "--json"), "rotate")
    check(rot["secret"].startswith("whsec_") and
          rot["secret"] != ep["secret"], "a new secret: %r" % rot)
    out = ok(cli(h, "endpoint", "rm", ep["id"]), "endpoint rm")
    check(ep["id"] in out, "endpoint rm says which: %r" % out)
    eq(h.api("GET", "/v1/endpoints/" + ep["id"])[0], 404, "endpoint gone")
    ok(cli(h, "client", "rm", "beta"), "client rm")
    eq(h.api("GET", "/v1/clients/beta")[0], 404, "client gone")


# ----------------------------------------------- events and deliveries


def test_send_deliveries_retry_replay(t):
    h = t.hookd()
    rcv = t.receiver()
    rcv.on("/cb", Reply(500))
    h.client("acme")
    ep = js(cli(h, "endpoint", "add", "acme", rcv.url("/cb"), "--json"),
            "endpoint add")
    ev = js(cli(h, "send", "acme", "order.paid", '{"refId": "7"}',
                "--idempotency-key", "k-1", "--json"), "send --json")
    check(ev["id"].startswith("evt_"), "send answers the event: %r" % ev)
    eq(ev["deliveries"], 1, "deliveries of the event")
    # The Idempotency-Key went along: a repeat answers the same event.
    again = js(cli(h, "send", "acme", "order.paid", '{"refId": "7"}',
                   "--idempotency-key", "k-1", "--json"), "send again")
    eq(again["id"], ev["id"], "a repeat with the key")
    # One-off callback.
    ev2 = js(cli(h, "send", "acme", "order.refunded", "{}", "--callback",
                 rcv.url("/one?x=1&y=2"), "--json"), "send --callback")
    eq(ev2["deliveries"], 2, "endpoint and one-off")
    eq(rcv.wait_for(1, path="/one")[0].target, "/one?x=1&y=2",
       "the one-off URL, its query percent-encoded on the way and back")
    did = h.deliveries_of(ev["id"])[0]["id"]
    h.wait_delivery(did, status="failed", timeout=30)
    out = ok(cli(h, "deliveries", "--status", "failed"), "deliveries")
    check(did in out and "failed" in out and "500" in out,
          "failed delivery in the table with its last status: %r" % out)
    lst = js(cli(h, "deliveries", "--client", "acme", "--endpoint",
                 ep["id"], "--json"), "deliveries --json")
    check(all(d["endpoint"] == ep["id"] for d in lst) and
          did in [d["id"] for d in lst], "filtered list: %r" % lst)
    rcv.on("/cb", Reply(200))
    r = js(cli(h, "retry", did, "--json"), "retry")
    eq(r["id"], did, "retry answer")
    h.wait_delivery(did, status="delivered", timeout=30)
    # Replay: fail one again, then requeue it.
    rcv.on("/cb", Reply(500))
    ev3 = js(cli(h, "send", "acme", "order.paid", "{}", "--json"), "send")
    d3 = h.deliveries_of(ev3["id"])[0]["id"]
    h.wait_delivery(d3, status="failed", timeout=30)
    rcv.on("/cb", Reply(200))
    out = ok(cli(h, "replay", ep["id"], "--since",
                 "2000-01-01T00:00:00Z"), "replay")
    check("requeued" in out, "replay says how many: %r" % out)
    h.wait_delivery(d3, status="delivered", timeout=30)


# ------------------------------------------ token, address, errors


def test_token_and_address_from_files(t):
    """No HOOKD_ADMIN_TOKEN: the token from DATADIR/admin.token (-d), the
    address from the config's listen (-c)."""
    h = t.hookd(admin_token=None)
    check(os.path.exists(os.path.join(h.data, "admin.token")),
          "hookd wrote its token")
    conf = os.path.join(t.tmp, "cli.conf")
    with open(conf, "w") as f:
        f.write("listen 127.0.0.1:%d\ndata_dir %s\n" % (h.port, h.data))
    r = run_hookd("client", "add", "acme", "-c", conf, cwd=t.tmp)
    eq(r.returncode, 0, "client add with -c only (stderr %r)" % r.stderr)
    r = run_hookd("client", "ls", "-d", h.data, "-l",
                  "127.0.0.1:%d" % h.port, cwd=t.tmp)
    eq(r.returncode, 0, "client ls with -d (stderr %r)" % r.stderr)
    check("acme" in r.stdout, "listed: %r" % r.stdout)


def test_error_paths(t):
    h = t.hookd()
    h.client("acme")
    # No token: no environment, no file.
    empty = os.path.join(t.tmp, "empty")
    os.mkdir(empty)
    r = cli(h, "client", "ls", "-d", empty, admin=None)
    eq(r.returncode, 1, "no token exit code")
    check("HOOKD_ADMIN_TOKEN" in r.stderr and
          os.path.join(empty, "admin.token") in r.stderr,
          "says where the token is looked for: %r" % r.stderr)
    # Wrong address: fails at once with the connection message.
    port = h.port
    h.stop()
    r = run_hookd("client", "ls", "-l", "127.0.0.1:%d" % port,
                  admin=h.admin, timeout=30)
    eq(r.returncode, 1, "wrong address exit code")
    check("cannot connect to 127.0.0.1:%d" % port in r.stderr and
          "is hookd running" in r.stderr, "connection message: %r"
          % r.stderr)
    h.start()
    # API errors: the status and the API's message.
    r = cli(h, "client", "rm", "nope")
    eq(r.returncode, 1, "404 exit code")
    check("404" in r.stderr and "not found" in r.stderr,
          "404 message: %r" % r.stderr)
    r = cli(h, "endpoint", "add", "acme", "ftp://example.com/")
    eq(r.returncode, 1, "422 exit code")
    check("422" in r.stderr and "only http://" in r.stderr,
          "422 message: %r" % r.stderr)
    r = cli(h, "send", "acme", "order.paid", "[1]")
    eq(r.returncode, 1, "data not an object: the API's 422")
    check("422" in r.stderr, "its message: %r" % r.stderr)
    # Usage errors: 2, nothing sent.
    for args in (["client"], ["client", "frob"], ["client", "add"],
                 ["client", "add", "a", "b", "c"],
                 ["deliveries", "--bogus", "x"], ["deliveries", "--status"],
                 ["send", "acme", "t", "not json"], ["replay", "ep_1"],
                 ["send", "acme", "t", "{}", "--idempotency-key", "a\r\nb"],
                 ["endpoint", "add", "acme", "http://x/", "--header", "bad"],
                 ["client", "ls", "--limit", "0"]):
        r = cli(h, *args)
        eq(r.returncode, 2, "usage exit code of %r (stderr %r)"
           % (args, r.stderr))
        check(r.stderr != "", "usage error of %r said why" % (args,))
    eq(len(h.req(200, "GET", "/v1/events")["data"]), 0, "nothing sent")
    # --help: every subcommand in hookd --help, each CMD --help its usage.
    r = run_hookd("--help")
    eq(r.returncode, 0, "hookd --help")
    for cmd in ("client add", "client ls", "client rm", "endpoint add",
                "endpoint ls", "endpoint rm", "endpoint rotate", "send",
                "deliveries", "retry", "replay", "tail"):
        check("hookd " + cmd in r.stdout, "%s in --help" % cmd)
        r2 = run_hookd(*(cmd.split() + ["--help"]))
        eq(r2.returncode, 0, "%s --help" % cmd)
        check(r2.stdout.startswith("usage: hookd " + cmd), "%s --help: %r"
              % (cmd, r2.stdout))
    # The commands that run without a daemon answer -h and --help alike:
    # the usage on stdout, exit 0 (before, check, export and import said
    # "unknown option" and exited 1).
    for cmd in ("sign", "verify", "check", "export", "import", "listen"):
        check("hookd " + cmd in r.stdout, "%s in --help" % cmd)
        for flag in ("--help", "-h"):
            r2 = run_hookd(cmd, flag)
            eq(r2.returncode, 0, "%s %s (stderr %r)" % (cmd, flag, r2.stderr))
            check("usage: hookd" in r2.stdout and "hookd " + cmd in r2.stdout,
                  "%s %s prints its usage: %r" % (cmd, flag, r2.stdout))
            eq(r2.stderr, "", "%s %s says nothing on stderr" % (cmd, flag))


def test_bad_values_refused_before_connecting(t):
    # A value the command can judge itself is a usage error (exit 2) before
    # any token is looked for or any connection made: here there is
    # neither a token nor a daemon, and the answer still names the value.
    d = t.tmp
    for args, word in ((["deliveries", "--status", "bogus"], "--status"),
                       (["deliveries", "--limit", "0"], "--limit"),
                       (["client", "ls", "--limit", "x"], "--limit")):
        r = run_hookd(*(args + ["-l", "127.0.0.1:9"]), cwd=d)
        eq(r.returncode, 2, "%r exits 2 (stderr %r)" % (args, r.stderr))
        check(r.stderr.startswith("hookd: " + word + " wants"),
              "%r names the bad value first: %r" % (args, r.stderr))
        check("no admin token" not in r.stderr and
              "refused" not in r.stderr,
              "%r judged before any token or connection: %r"
              % (args, r.stderr))


# ------------------------------------------------------------- tail


def test_tail_prints_attempts(t):
    h = t.hookd()
    rcv = t.receiver()
    rcv.on("/flaky", Reply(500), Reply(200))
    h.client("acme")
    env = dict(os.environ)
    env["HOOKD_ADMIN_TOKEN"] = h.admin
    p = subprocess.Popen([HOOKD, "tail", "-l", "127.0.0.1:%d" % h.port],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         stdin=subprocess.DEVNULL, env=env, text=True)
    try:
        # The cursor is set once it says so; attempts after that show.
        line = p.stderr.readline()
        check("tailing" in line, "tail's first line: %r" % line)
        ev = h.event("acme", data={"refId": "1"},
                     callback=rcv.url("/flaky"))
        did = h.deliveries_of(ev["id"])[0]["id"]
        h.wait_delivery(did, status="delivered", timeout=30)
        seen = []
        deadline = time.monotonic() + 30
        while len(seen) < 2 and time.monotonic() < deadline:
            line = p.stdout.readline()
            if not line:
                break
            if did in line:
                seen.append(line)
        eq(len(seen), 2, "tail lines of the delivery: %r" % seen)
        check("#1" in seen[0] and "500" in seen[0] and "pending" in seen[0],
              "first attempt line: %r" % seen[0])
        check("#2" in seen[1] and "200" in seen[1] and
              "delivered" in seen[1] and "order.paid" in seen[1],
              "second attempt line: %r" % seen[1])
    finally:
        p.send_signal(signal.SIGINT)
        try:
            rc = p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            raise AssertionError("tail did not stop on SIGINT")
    eq(rc, 0, "tail exit code after SIGINT")


def test_attempts_route_client_token(t):
    h = t.hookd()
    rcv = t.receiver()
    a = h.client("acme")
    b = h.client("beta")
    h.endpoint("acme", rcv.url("/a"))
    h.endpoint("beta", rcv.url("/b"))
    ea = h.event("acme")
    eb = h.event("beta")
    rcv.wait_for(2)
    h.wait_all(ea["id"])
    h.wait_all(eb["id"])
    adm = h.req(200, "GET", "/v1/attempts")
    eq(sorted(x["client"] for x in adm["data"]), ["acme", "beta"],
       "the admin sees every client's attempts")
    x = adm["data"][0]
    for k in ("seq", "at", "delivery", "event", "endpoint", "client", "type",
              "attempt", "status", "error", "ms", "result"):
        check(k in x, "member %s in %r" % (k, x))
    eq(adm["missed"], 0, "missed")
    check(isinstance(adm["next"], int) and adm["next"] >= 2, "next %r"
          % adm["next"])
    mine = h.req(200, "GET", "/v1/attempts", token=a["token"])
    eq([x["client"] for x in mine["data"]], ["acme"],
       "a client token sees its own attempts only")
    eq(mine["data"][0]["event"], ea["id"], "its event")
    eq(h.req(200, "GET", "/v1/attempts?client=beta",
             token=a["token"])["data"], [], "not another's by ?client=")
    eq([x["client"] for x in h.req(200, "GET",
                                    "/v1/attempts?client=beta")["data"]],
       ["beta"], "the admin's ?client=")
    eq(h.req(200, "GET", "/v1/attempts?after=%d" % adm["next"])["data"], [],
       "nothing after the cursor")
    one = h.req(200, "GET", "/v1/attempts?limit=1")
    eq(len(one["data"]), 1, "limit=1")
    eq(one["next"], one["data"][0]["seq"], "next is the last one seen")
    eq(h.api("GET", "/v1/attempts?after=x")[0], 422, "a bad cursor")
    eq(h.api("GET", "/v1/attempts?aftr=1")[0], 400, "an unknown parameter")
    del b


# ------------------------------------------------- Hookd-Client (sharding)


class _Recorder:
    """A stand-in for hookd behind a sharding proxy: Python's http.server,
    recording the Hookd-Client header of every request ("-" when absent)
    and answering each with an empty list (GET) or an empty object."""

    def __init__(self):
        import http.server
        import threading
        seen = self.seen = []

        class H(http.server.BaseHTTPRequestHandler):
            def _answer(self):
                n = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(n)
                seen.append((self.command, self.path.split("?")[0],
                             self.headers.get("Hookd-Client", "-")))
                body = (b'{"data":[],"next":null,"started_at":"x"}'
                        if self.command == "GET" else b"{}")
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_DELETE = _answer

            def log_message(self, *a):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


def test_cli_sends_hookd_client(t):
    """Behind a sharding proxy (contract §17) every request of a command
    that names a client carries Hookd-Client: the CLIENT or ID it names,
    or --client C for those that name only an EP_ID or DLV_ID; a command
    about no client sends none. A real hookd takes the header (it agrees
    with what the request names)."""
    rec = _Recorder()
    try:
        addr = "127.0.0.1:%d" % rec.port
        cases = [
            (["client", "add", "c1"], "c1"),
            (["client", "rm", "c1"], "c1"),
            (["endpoint", "add", "c1", "http://127.0.0.1:9/"], "c1"),
            (["endpoint", "ls", "c1"], "c1"),
            (["send", "c1", "order.paid", "{}"], "c1"),
            (["deliveries", "--client", "c1"], "c1"),
            (["deliveries", "--endpoint", "ep_1", "--client", "c1"], "c1"),
            (["endpoint", "rm", "ep_1", "--client", "c1"], "c1"),
            (["endpoint", "rotate", "ep_1", "--client", "c1"], "c1"),
            (["retry", "dlv_1", "--client", "c1"], "c1"),
            (["replay", "ep_1", "--since", "2026-01-01T00:00:00Z",
              "--client", "c1"], "c1"),
            (["client", "ls"], "-"),
            (["endpoint", "ls"], "-"),
            (["endpoint", "rm", "ep_1"], "-"),
        ]
        for args, want in cases:
            del rec.seen[:]
            r = run_hookd(*args, "-l", addr, admin="hka_x", cwd=t.tmp)
            eq(r.returncode, 0, "%r exit code (stderr %r)" % (args,
                                                              r.stderr))
            check(rec.seen and all(s[2] == want for s in rec.seen),
                  "%r sends Hookd-Client %s: %r" % (args, want, rec.seen))
        # tail --client: every poll carries it.
        del rec.seen[:]
        e = dict(os.environ, HOOKD_ADMIN_TOKEN="hka_x")
        p = subprocess.Popen([HOOKD, "tail", "--client", "c1", "-l", addr],
                             env=e, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, cwd=t.tmp)
        try:
            wait_until(lambda: len(rec.seen) >= 2, 30, what="tail polls twice")
        finally:
            p.send_signal(signal.SIGINT)
            p.wait(timeout=30)
        check(all(s[2] == "c1" for s in rec.seen), "tail --client sends "
              "Hookd-Client: %r" % rec.seen)
        # A --client that is not an id: usage, nothing sent.
        del rec.seen[:]
        r = run_hookd("retry", "dlv_1", "--client", "a b", "-l", addr,
                      admin="hka_x", cwd=t.tmp)
        eq(r.returncode, 2, "--client 'a b' exit code")
        check("--client wants a client id" in r.stderr, r.stderr)
        eq(rec.seen, [], "nothing sent for a bad --client")
    finally:
        rec.close()
    # A real hookd takes the header the CLI sends.
    h = t.hookd()
    ok(cli(h, "client", "add", "c1"), "client add c1")
    ep = js(cli(h, "endpoint", "add", "c1", "http://127.0.0.1:9/", "--json"),
            "endpoint add c1")
    ok(cli(h, "endpoint", "rotate", ep["id"], "--client", "c1"),
       "endpoint rotate --client c1")
    r = cli(h, "endpoint", "rotate", ep["id"], "--client", "other")
    eq(r.returncode, 1, "a --client that does not own the endpoint")
    check("Hookd-Client" in r.stderr, "hookd says which header: %r"
          % r.stderr)


def test_cli_timeout_env_out_of_range(t):
    """HOOKD_CLI_TIMEOUT set to 0, past 3600 or not a number is a usage
    error (2) naming the range, said before anything is sent; 1-3600 and
    empty are taken."""
    h = t.hookd()
    for bad in ("0", "3601", "abc", "-5", "1.5"):
        r = cli(h, "client", "add", "c" + str(len(bad)),
                env={"HOOKD_CLI_TIMEOUT": bad})
        eq(r.returncode, 2, "HOOKD_CLI_TIMEOUT=%s exit code (stderr %r)"
           % (bad, r.stderr))
        check("HOOKD_CLI_TIMEOUT wants whole seconds from 1 to 3600" in
              r.stderr and bad in r.stderr, "message %r" % r.stderr)
    eq(h.req(200, "GET", "/v1/clients")["data"], [], "nothing sent")
    for good in ("1", "3600", ""):
        ok(cli(h, "client", "ls", env={"HOOKD_CLI_TIMEOUT": good}),
           "HOOKD_CLI_TIMEOUT=%r" % good)


def test_localhost_address(t):
    # localhost:PORT is 127.0.0.1:PORT for the daemon's -l and for a
    # command's -l alike (RFC 6761 §6.3: no lookup); other names are
    # refused with the forms that are taken.
    port = free_port()
    admin = "adm_localhost_test_token_0123456789"
    env = dict(os.environ, HOOKD_ADMIN_TOKEN=admin)
    log = open(os.path.join(t.tmp, "lh.log"), "wb")
    proc = subprocess.Popen([HOOKD, "-l", "localhost:%d" % port, "-d",
                             os.path.join(t.tmp, "lh-data")],
                            stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                            env=env, cwd=t.tmp)
    log.close()
    ALL_PROCS.append(proc)
    try:
        wait_until(lambda: curl("-s", "-o", "/dev/null", "-w",
                                "%{http_code}", "http://127.0.0.1:%d/healthz"
                                % port).stdout == "200", 10, 0.1,
                   "hookd -l localhost:%d answers on 127.0.0.1" % port)
        r = run_hookd("client", "add", "acme", "-l", "localhost:%d" % port,
                      admin=admin, cwd=t.tmp)
        eq(r.returncode, 0, "client add -l localhost (stderr %r)" % r.stderr)
        r = run_hookd("client", "ls", "--json", "-l", "LOCALHOST:%d" % port,
                      admin=admin, cwd=t.tmp)
        eq([c["id"] for c in json.loads(r.stdout)], ["acme"], "client ls")
        r = run_hookd("client", "ls", "-l", "example.com:%d" % port,
                      admin=admin, cwd=t.tmp)
        eq(r.returncode, 2, "a name other than localhost")
        check("localhost:PORT" in r.stderr, "the forms are named: %r"
              % r.stderr)
    finally:
        proc.kill()
        proc.wait()
