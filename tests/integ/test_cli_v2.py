"""Contract §10 and §18 (v2): authentication on the request head, the body
deadline, the command line (--help, --version, unknown words, -n summary),
start-up warnings and config error messages that say how to fix them."""

import http.server
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time

from .harness import (HOOKD, ROOT, RawConn, Skip, check, curl, eq,
                      run_hookd, wait_until)


def head_only(path, token, length, extra=""):
    """A POST head announcing a body of length bytes, without the body."""
    auth = "Authorization: Bearer %s\r\n" % token if token else ""
    return ("POST %s HTTP/1.1\r\nHost: x\r\n%sContent-Type: "
            "application/json\r\nContent-Length: %d\r\n%s\r\n"
            % (path, auth, length, extra)).encode()


# ---------------------------------------------------- auth on the head


def test_bad_token_401_before_body(t):
    h = t.hookd()
    body = b'{"id": "nope", "name": "n"}'
    for token in ("wrong-token", None):
        # Only the head is sent: the 401 must come without the body, and
        # no 100 Continue before it.
        c = RawConn(h.port, timeout=10)
        c.send(head_only("/v1/clients", token, len(body),
                         "Expect: 100-continue\r\n"))
        status, hdrs, resp = c.read_response()
        eq(status, 401, "answer to a head with token %r, body unsent"
           % token)
        check(b"error" in resp, "401 without a JSON error: %r" % resp)
        check(c.closed_within(10), "connection left open after a 401 "
              "whose body was never read")
        c.close()
    # The same without Expect: answered on the head too.
    c = RawConn(h.port, timeout=10)
    c.send(head_only("/v1/events", "wrong-token", 500000))
    eq(c.read_response()[0], 401, "401 on a head announcing 500 kB")
    c.close()
    # A complete small request with a bad token keeps its connection.
    c = RawConn(h.port, timeout=10)
    c.send(head_only("/v1/clients", "wrong", len(body)) + body)
    eq(c.read_response()[0], 401, "401 with the body already sent")
    c.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    eq(c.read_response()[0], 200, "same connection after the 401")
    c.close()
    eq(h.api("GET", "/v1/clients/nope")[0], 404, "nothing was created")


def test_curl_expect_continue_bad_and_good_token(t):
    h = t.hookd()
    body = '{"id": "big",%s"name": "Big"}' % (" " * 3000)
    # A bad token: curl gets 401 and no 100 Continue.
    r = curl("-v", "-o", "-", "-w", "\n%{http_code}", "-X", "POST",
             "-H", "Authorization: Bearer wrong-token",
             "-H", "Content-Type: application/json",
             "-H", "Expect: 100-continue", "--expect100-timeout", "5",
             "--data-binary", body, h.url("/v1/clients"))
    eq(r.stdout.rsplit("\n", 1)[-1], "401", "curl status with a bad token "
       "(stderr %s)" % r.stderr[-300:])
    check("< HTTP/1.1 100" not in r.stderr, "100 Continue sent to an "
          "unauthenticated request:\n%s" % r.stderr[-800:])
    # A good token: 100 Continue, then 201.
    r = curl("-v", "-o", "-", "-w", "\n%{http_code}", "-X", "POST",
             "-H", "Authorization: Bearer " + h.admin,
             "-H", "Content-Type: application/json",
             "-H", "Expect: 100-continue", "--expect100-timeout", "5",
             "--data-binary", body, h.url("/v1/clients"))
    eq(r.stdout.rsplit("\n", 1)[-1], "201", "curl status with the admin "
       "token (stderr %s)" % r.stderr[-300:])
    check("< HTTP/1.1 100" in r.stderr, "no 100 Continue for the admin:\n%s"
          % r.stderr[-800:])
    # Raw: an authenticated head gets 100 at once.
    c = RawConn(h.port, timeout=10)
    b = b'{"id": "raw", "name": "n"}'
    c.send(head_only("/v1/clients", h.admin, len(b),
                     "Expect: 100-continue\r\n"))
    eq(c.read_response()[0], 100, "100 Continue to the admin's head")
    c.send(b)
    eq(c.read_response()[0], 201, "final answer")
    c.close()


def test_body_timeout_cuts_trickle(t):
    # idle_timeout is long, so only body_timeout can end the trickle.
    h = t.hookd("body_timeout 2s\nidle_timeout 1m\n")
    body = b'{"id": "slow",%s"name": "n"}' % (b" " * 200)
    c = RawConn(h.port, timeout=10)
    c.send(head_only("/v1/clients", h.admin, len(body)))
    # A byte every 0.3 s keeps idle_timeout from ever running out; the
    # 200-odd bytes would take a minute. Wait for the close with a generous
    # deadline.
    closed = False
    deadline = time.monotonic() + 40
    i = 0
    while time.monotonic() < deadline and i < len(body) - 1:
        try:
            c.send(body[i:i + 1])
        except (BrokenPipeError, ConnectionResetError):
            closed = True
            break
        i += 1
        if c.closed_within(0.3):
            closed = True
            break
    check(closed, "a body trickled for %d bytes was never cut" % i)
    check(i < len(body) - 1, "the whole body got through")
    eq(h.api("GET", "/v1/clients/slow")[0], 404, "no client from a cut body")
    eq(h.api("GET", "/healthz", token=None)[0], 200, "hookd still serves")


# ------------------------------------------------------- command line


def write(t, name, text, mode=0o600):
    path = os.path.join(t.tmp, name)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


def test_long_help_and_version(t):
    for args in (["--help"], ["-h"]):
        r = run_hookd(*args, cwd=t.tmp)
        eq(r.returncode, 0, "exit code of hookd %s" % args[0])
        check(r.stdout.startswith("usage: hookd"), "hookd %s: usage not on "
              "stdout: %r" % (args[0], r.stdout))
        check("--help" in r.stdout and "--version" in r.stdout,
              "usage does not name the long forms: %r" % r.stdout)
        eq(r.stderr, "", "stderr of hookd %s" % args[0])
    for args in (["--version"], ["-V"]):
        r = run_hookd(*args, cwd=t.tmp)
        eq(r.returncode, 0, "exit code of hookd %s" % args[0])
        # Contract §13: the version, then the TLS library or none, then
        # the SHA-256 code signatures run (issue 12).
        check(re.fullmatch(r"hookd 0\.1\.0\nTLS: (none|OpenSSL 3\S* .*)\n"
                           r"SHA-256: (sha-ni|portable)\n",
                           r.stdout), "hookd %s output %r" % (args[0], r.stdout))
    # The value of -c is a value, not an option, even when it looks like one.
    r = run_hookd("-n", "-c", "--help", cwd=t.tmp)
    eq(r.returncode, 1, "hookd -n -c --help (a config named --help)")
    check("--help" in r.stderr and "usage" not in r.stdout,
          "-c's value taken for an option: %r %r" % (r.stdout, r.stderr))


def test_unknown_command_and_option(t):
    r = run_hookd("serve", cwd=t.tmp)
    eq(r.returncode, 2, "exit code of hookd serve (a usage error)")
    check('unknown command "serve"' in r.stderr, "stderr: %r" % r.stderr)
    check("usage: hookd" in r.stderr, "no usage on stderr: %r" % r.stderr)
    eq(r.stdout, "", "stdout of an unknown command")
    r = run_hookd("--bogus", cwd=t.tmp)
    eq(r.returncode, 1, "exit code of hookd --bogus")
    check('unknown option "--bogus"' in r.stderr and "usage: hookd" in
          r.stderr, "stderr: %r" % r.stderr)


def test_check_prints_summary(t):
    conf = write(t, "good.conf", "fsync never\n"
                 "allow_destinations 10.0.0.0/8 ::1/128\n"
                 "client acme\nclient beta\n"
                 "endpoint acme http://example.com/cb\n")
    r = run_hookd("-n", "-c", conf, "-l", "127.0.0.1:9999", "-d", "dd",
                  cwd=t.tmp)
    eq(r.returncode, 0, "hookd -n exit code (stderr %r)" % r.stderr)
    lines = r.stdout.splitlines()
    eq(len(lines), 1, "one line on stdout: %r" % r.stdout)
    check(lines[0].startswith("config ok"), "no 'config ok': %r" % lines[0])
    for want in ("listen=127.0.0.1:9999", "data_dir=dd", "fsync=never",
                 "allow_destinations=10.0.0.0/8,::1/128",
                 "static_clients=2", "static_endpoints=1"):
        check(want in lines[0], "summary %r lacks %s" % (lines[0], want))
    check("level=warn" not in r.stderr, "warnings for a safe config: %r"
          % r.stderr)
    check(not os.path.exists(os.path.join(t.tmp, "dd")),
          "hookd -n created the data directory")


def test_warnings_at_start(t):
    # -n says them too, without binding anything.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    conf = write(t, "open.conf", "client acme\nendpoint acme "
                 "http://example.com/ secret=%s\n" % secret, mode=0o644)
    r = run_hookd("-n", "-c", conf, "-l", "0.0.0.0:8080", cwd=t.tmp)
    eq(r.returncode, 0, "warnings do not fail -n (stderr %r)" % r.stderr)
    warns = [l for l in r.stderr.splitlines() if "level=warn" in l]
    check(any("loopback" in l and "TLS proxy" in l for l in warns),
          "no warning for listen 0.0.0.0: %r" % r.stderr)
    check(any("config file holds a secret" in l and "chmod 600" in l
              for l in warns), "no warning for a world-readable secret: %r"
          % r.stderr)
    check(secret not in r.stderr, "the secret is logged")
    # The same file at mode 0600, on loopback: no warning.
    os.chmod(conf, 0o600)
    r = run_hookd("-n", "-c", conf, "-l", "[::1]:8080", cwd=t.tmp)
    check("level=warn" not in r.stderr, "warned anyway: %r" % r.stderr)
    # A world-readable file without secrets is no matter.
    plain = write(t, "plain.conf", "client acme\n", mode=0o644)
    r = run_hookd("-n", "-c", plain, cwd=t.tmp)
    check("level=warn" not in r.stderr, "warned for no secret: %r"
          % r.stderr)
    # At a real start: a short admin token is warned about (never shown).
    h = t.hookd(admin_token="short-tok")
    h.req(200, "GET", "/v1/clients")
    log = h.log()
    check("shorter than 16 characters" in log and "level=warn" in log,
          "no warning for a 9-character admin token: %r" % log[-600:])
    check("short-tok" not in log, "the admin token is logged")
    h2 = t.hookd()
    check("shorter than 16" not in h2.log(), "warned for a long token")
    check("loopback" not in h2.log(), "warned for listen on 127.0.0.1")


# ------------------------------------------------------- config errors

# Each: config text, the line, what the reason must say.
FIXABLE = [
    ("retry_schedule 1s,5s\n", 1, "spaces, not commas"),
    ("timeout 2s\nallow_destinations 10.0.0.0/8,127.0.0.0/8\n", 2,
     "spaces, not commas"),
    ("timeout = 15s\n", 1, 'no "=": write timeout 15s'),
    ("# x\ntimeout=15s\n", 2, 'no "=": write timeout 15s'),
    ("allow_destination 10.0.0.0/8\n", 1,
     "did you mean allow_destinations?"),
    ("body_timout 5s\n", 1, "did you mean body_timeout?"),
    ("timeout 1s,5s\n", 1, "comma"),
    ("xyzzy 1\n", 1, "hookd(8)"),
]


def test_config_errors_say_how(t):
    for text, line, want in FIXABLE:
        conf = write(t, "bad.conf", text)
        r = run_hookd("-n", "-c", conf, cwd=t.tmp)
        eq(r.returncode, 1, "hookd -n exit code for %r" % text)
        prefix = "%s:%d: " % (conf, line)
        check(r.stderr.startswith(prefix), "stderr %r does not start with "
              "%r" % (r.stderr, prefix))
        check(want in r.stderr, "stderr %r lacks %r" % (r.stderr, want))
        eq(r.stdout, "", "stdout for a bad config")


# ------------------------------------------- newcomer's make test / make

RUNNER = os.path.join(ROOT, "tests", "run_integration.py")
NODE_TEST = "test_signing.test_node_verifies_post_delivery"


def run_node_test_with_registry(t, registry):
    """Run one Node interop test in a child runner, with its own empty
    node directory and npm cache, against registry."""
    node = os.path.join(t.tmp, "node")
    shutil.copytree(os.path.join(ROOT, "tests", "node"), node,
                    ignore=shutil.ignore_patterns("node_modules"))
    env = dict(os.environ, HOOKD_NODE_DIR=node,
               npm_config_registry=registry,
               npm_config_cache=os.path.join(t.tmp, "npm-cache"),
               npm_config_fetch_retries="0",
               npm_config_fetch_timeout="20000")
    return subprocess.run([sys.executable, RUNNER, NODE_TEST], cwd=ROOT,
                          env=env, capture_output=True, text=True,
                          timeout=110)


def test_node_tests_skip_when_registry_unreachable(t):
    if shutil.which("npm") is None or shutil.which("node") is None:
        raise Skip("node and npm are not installed")
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()   # nothing listens there: connection refused
    r = run_node_test_with_registry(t, "http://127.0.0.1:%d/" % port)
    out = r.stdout + r.stderr
    eq(r.returncode, 0, "runner exit code with the registry out of reach "
       "(output %s)" % out[-1500:])
    check("SKIP %s: npm cannot reach its registry" % NODE_TEST in r.stdout,
          "no SKIP line printed: %s" % out[-1500:])
    check("0 passed, 0 failed, 1 skipped" in r.stdout,
          "summary does not count the skip: %s" % r.stdout[-300:])


class _Registry404(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b'{"error": "not found"}'
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


def test_node_tests_fail_when_npm_fails_otherwise(t):
    if shutil.which("npm") is None or shutil.which("node") is None:
        raise Skip("node and npm are not installed")
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Registry404)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    try:
        r = run_node_test_with_registry(
            t, "http://127.0.0.1:%d/" % srv.server_address[1])
    finally:
        srv.shutdown()
        srv.server_close()
    out = r.stdout + r.stderr
    eq(r.returncode, 1, "runner exit code when npm gets 404s (output %s)"
       % out[-1500:])
    check("FAIL %s: npm ci in tests/node failed" % NODE_TEST in r.stdout,
          "not failed as an npm failure: %s" % out[-1500:])
    check("SKIP" not in r.stdout, "a reachable registry's 404 was skipped")


def test_make_clean_removes_walkthrough_leftovers(t):
    # In a copy of the Makefile, so that the tree under test keeps its
    # build: what make run and the README's walk-through leave behind.
    shutil.copy(os.path.join(ROOT, "Makefile"), t.tmp)
    left = ["hookd", "demo.conf", "hookd.log", "callback.head",
            "callback.body", "flaky.head", "flaky.body",
            "hookd-data/admin.token",
            "hookd-data/journal.log", "hookd-data/registry.log",
            "demo-data/admin.token"]
    kept = ["server.c", "hookd.conf.example", "README.md"]
    for rel in left + kept:
        path = os.path.join(t.tmp, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write("x\n")
    r = subprocess.run(["make", "-s", "clean"], cwd=t.tmp,
                       capture_output=True, text=True, timeout=60)
    eq(r.returncode, 0, "make clean: %s" % r.stderr)
    for rel in left:
        check(not os.path.exists(os.path.join(t.tmp, rel)),
              "make clean left %s" % rel)
    check(not os.path.exists(os.path.join(t.tmp, "hookd-data")),
          "make clean left hookd-data/")
    for rel in kept:
        check(os.path.exists(os.path.join(t.tmp, rel)),
              "make clean removed %s" % rel)


# ------------------------------------------- SIGHUP names every changed key


def scalar_keys():
    """The scalar keys of config.c's own table, so that a key added there
    is covered here without a second list."""
    import re
    with open(os.path.join(ROOT, "config.c")) as f:
        src = f.read()
    table = src[src.index("config_scalars[] = {"):]
    table = table[:table.index("\n};")]
    return re.findall(r'\{ "(\w+)", CONFIG_(?:SIZE|DURATION)', table)


# A value for each scalar key that differs from the default and from
# BASE_CONF, within its bounds.
RELOAD_VALUES = {
    "max_header_bytes": "20000", "max_headers": "50",
    "max_body": "2000000", "max_connections": "500",
    "endpoint_concurrency": "4", "max_outbound": "100",
    "max_endpoints_per_client": "50", "max_endpoint_headers": "8",
    "max_retries_per_minute": "300", "max_log_attempts": "20",
    "node_id": "3",
    "max_inflight_per_client": "5", "header_timeout": "7s",
    "idle_timeout": "50s", "body_timeout": "20s", "timeout": "3s",
    "disable_after": "2d", "retention": "3d", "drain_timeout": "3s",
}


def test_sighup_logs_every_changed_scalar_key(t):
    import re
    import signal
    keys = scalar_keys()
    check(len(keys) >= 18, "scalar keys read from config.c: %r" % keys)
    for k in keys:
        check(k in RELOAD_VALUES, "no reload test value for key %s" % k)
    h = t.hookd()
    base = h_conf_text(h)
    done = 0
    # One key at a time: the reload line names exactly that key.
    for k in keys:
        h.write_conf(base + "%s %s\n" % (k, RELOAD_VALUES[k]))
        h.proc.send_signal(signal.SIGHUP)
        done += 1
        lines = wait_until(lambda: [x for x in h.log().split("\n")
                                    if " msg=reloaded " in x][done - 1:],
                           10, what="reload line %d" % done)
        m = re.search(r" changed=(\S+)", lines[0])
        check(m, "no changed= in %r" % lines[0])
        eq(m.group(1), k, "changed keys after changing %s" % k)
        h.write_conf(base)
        h.proc.send_signal(signal.SIGHUP)
        done += 1
        lines = wait_until(lambda: [x for x in h.log().split("\n")
                                    if " msg=reloaded " in x][done - 1:],
                           10, what="reload line %d" % done)
        eq(re.search(r" changed=(\S+)", lines[0]).group(1), k,
           "changed keys after changing %s back" % k)
    # All at once: all named, none cut off.
    h.write_conf(base + "".join("%s %s\n" % (k, RELOAD_VALUES[k])
                                for k in keys))
    h.proc.send_signal(signal.SIGHUP)
    done += 1
    lines = wait_until(lambda: [x for x in h.log().split("\n")
                                if " msg=reloaded " in x][done - 1:],
                       10, what="reload line %d" % done)
    eq(sorted(re.search(r" changed=(\S+)", lines[0]).group(1).split(",")),
       sorted(keys), "changed keys after changing all")
    eq(h.api("GET", "/healthz", token=None)[0], 200, "/healthz")


def h_conf_text(h):
    with open(h.conf_path) as f:
        return f.read()


# ----------------------------------------- -n makes the start's own checks


def test_check_warns_about_short_admin_token(t):
    conf = write(t, "n.conf", "client a\n")
    short_msg = "the admin token is shorter than 16 characters"
    r = run_hookd("-n", "-c", conf, env={"HOOKD_ADMIN_TOKEN": "short"}, cwd=t.tmp)
    eq(r.returncode, 0, "-n with a short env token: %r" % r.stderr)
    check(short_msg in r.stderr and "source=HOOKD_ADMIN_TOKEN" in r.stderr,
          "no short-token warning from -n: %r" % r.stderr)
    check("short" not in r.stderr.replace("shorter", ""),
          "the token is printed: %r" % r.stderr)
    write(t, "tok", "tiny-token\n")
    conf = write(t, "f.conf", "admin_token_file tok\n")
    r = run_hookd("-n", "-c", conf, cwd=t.tmp)
    eq(r.returncode, 0, "-n with a short token file: %r" % r.stderr)
    check(short_msg in r.stderr and "source=admin_token_file" in r.stderr,
          "no short-token warning for the file: %r" % r.stderr)
    check("tiny-token" not in r.stderr + r.stdout, "the token is printed")
    # A long token: no warning.
    r = run_hookd("-n", "-c", conf,
                  env={"HOOKD_ADMIN_TOKEN": "x" * 40}, cwd=t.tmp)
    check(short_msg not in r.stderr, "warning for a long token: %r"
          % r.stderr)
    # A token file that is not there (it may exist only on the machine
    # the config is for): not judged by -n.
    conf = write(t, "m.conf", "admin_token_file missing-tok\n")
    r = run_hookd("-n", "-c", conf, cwd=t.tmp)
    eq(r.returncode, 0, "-n with a missing token file: %r" % r.stderr)


def test_check_refuses_static_endpoint_destination(t):
    conf = write(t, "d.conf", "client a\n"
                 "endpoint a http://127.0.0.1:9/x\n")
    r = run_hookd("-n", "-c", conf, cwd=t.tmp)
    eq(r.returncode, 1, "-n on a loopback static endpoint: %r" % r.stdout)
    eq(r.stderr.strip(), "%s:2: destination not allowed: 127.0.0.1 is "
       "loopback; allow_destinations opens it" % conf, "-n error")
    # The start refuses it with the same message.
    r2 = subprocess.run([HOOKD, "-c", conf, "-l", "127.0.0.1:0", "-d",
                         os.path.join(t.tmp, "dd")], cwd=t.tmp,
                        capture_output=True, text=True, timeout=20)
    eq(r2.returncode, 1, "start on a loopback static endpoint")
    check("d.conf:2: destination not allowed: 127.0.0.1 is loopback"
          in r2.stderr, "start error: %r" % r2.stderr)
    # Opened by allow_destinations: accepted by both.
    conf = write(t, "o.conf", "allow_destinations 127.0.0.0/8\nclient a\n"
                 "endpoint a http://127.0.0.1:9/x\n")
    r = run_hookd("-n", "-c", conf, cwd=t.tmp)
    eq(r.returncode, 0, "-n with loopback allowed: %r" % r.stderr)
    check(r.stdout.startswith("config ok:"), "-n output %r" % r.stdout)
    # The IPv6 literal and a name (localhost) by class too.
    conf = write(t, "v6.conf", "client a\nendpoint a http://[::1]:9/x\n"
                 "endpoint a http://localhost:9/y\n")
    r = run_hookd("-n", "-c", conf, cwd=t.tmp)
    eq(r.returncode, 1, "-n on [::1]")
    check(":2: destination not allowed: ::1 is loopback" in r.stderr,
          "-n error for [::1]: %r" % r.stderr)
