"""Issue 16's tester's findings: the command line against what a client, a
receiver or a server could send it. Names and bodies with C1 controls and
bidi overrides never reach the terminal raw; a server that stalls with
1xx lines, trickles an endless body or repeats its paging cursor is left
with a message; Ctrl-C stops `hookd tail` at once; `hookd listen` admits
new connections past 32 idle ones; usage errors exit 2; `make dev
PORT=...`."""

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time

from .harness import (ALL_PROCS, HOOKD, ROOT, check, eq, run_hookd, sign,
                      wait_until)
from .test_listen import Listen, signed_headers

# What a terminal acts on: ESC (C0), CSI (C1, U+009B), RIGHT-TO-LEFT
# OVERRIDE (bidi) and POP DIRECTIONAL ISOLATE.
EVIL = "a\x1bb\u009bc\u202ed\u2069e"
BAD = ("\x1b", "\u009b", "\u202e", "\u2069")


def cli(h, *args, **kw):
    return run_hookd(*args, "-l", "127.0.0.1:%d" % h.port, admin=h.admin,
                     cwd=h.tmp, **kw)


def clean(text, what):
    for ch in BAD:
        check(ch not in text, "%r reached the terminal in %s: %r"
              % (ch, what, text))


# ------------------------------------------------------ terminal text


def test_cli_output_has_no_terminal_controls(t):
    h = t.hookd()
    h.client("evil", name=EVIL)
    r = cli(h, "client", "ls")
    eq(r.returncode, 0, "client ls: %r" % r.stderr)
    clean(r.stdout, "client ls")
    check(re.search(r"^evil +a\?b\?c\?d\?e ", r.stdout, re.M),
          "each one a '?': %r" % r.stdout)
    r = cli(h, "client", "ls", "--json")
    clean(r.stdout, "client ls --json")
    eq(json.loads(r.stdout)[0]["name"], EVIL, "the same JSON, escaped")
    check("\\u009b" in r.stdout, "written as \\u009b: %r" % r.stdout)
    r = cli(h, "client", "add", "evil2", EVIL)
    eq(r.returncode, 0, "client add: %r" % r.stderr)
    clean(r.stdout, "client add's member lines")
    check("a?b?c?d?e" in r.stdout, "name line: %r" % r.stdout)


def test_table_columns_align_non_ascii(t):
    h = t.hookd()
    h.client("zu", name="Z\u00fcrich \u00e9t\u00e9")
    h.client("za", name="Zurich ete")
    r = cli(h, "client", "ls")
    lines = r.stdout.splitlines()
    eq(len(lines), 3, "rows: %r" % r.stdout)
    cols = set(line.index("20") for line in lines[1:])
    eq(len(cols), 1, "the CREATED column starts at one character in:\n"
       + r.stdout)
    eq(lines[0].index("CREATED"), cols.pop(), "under its header")


def test_listen_escapes_terminal_controls(t):
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = json.dumps({"refId": "1", "note": EVIL},
                      ensure_ascii=False).encode()
    for mode in ((), ("--json",)):
        lst = Listen(t, "--secret", secret, *mode)
        c = http.client.HTTPConnection("127.0.0.1", lst.port, timeout=10)
        c.request("POST", "/cb", body=body,
                  headers=signed_headers(secret, "msg_1", body))
        eq(c.getresponse().status, 200, "verified")
        c.close()
        lst.wait_text("refId")
        clean(lst.text(), "hookd listen %r" % (mode,))
        check("\\u009b" in lst.text() and "\\u202e" in lst.text(),
              "escaped as \\uXXXX: %r" % lst.text())
        if mode:
            eq(json.loads(lst.records()[0]["body"])["note"], EVIL,
               "--json: the same body")
        else:
            body_line = [x for x in lst.lines if "refId" in x][0]
            eq(json.loads(body_line)["note"], EVIL, "still the same JSON")
        lst.close()


def test_listen_ack_non_ascii_webhook_id(t):
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    lst = Listen(t, "--secret", secret, "--ack")
    mid = "msg_\u00e9\u6f22"
    body = b'{"refId":"r\xc3\xa9"}'
    ts = int(time.time())
    req = (b"POST / HTTP/1.1\r\nHost: x\r\nwebhook-id: " + mid.encode() +
           b"\r\nwebhook-timestamp: %d\r\nwebhook-signature: %s\r\n"
           b"Content-Length: %d\r\n\r\n" % (ts, sign(secret, mid, ts, body)
                                             .encode(), len(body)) + body)
    s = socket.create_connection(("127.0.0.1", lst.port), timeout=10)
    s.sendall(req)
    data = b""
    while True:
        got = s.recv(65536)
        if not got:
            break
        data += got
    s.close()
    head, _, ack = data.partition(b"\r\n\r\n")
    check(head.startswith(b"HTTP/1.1 200"), "answer: %r" % data)
    a = json.loads(ack.decode("utf-8"))
    eq(a["reqRefId"], mid, "reqRefId: the webhook-id, encoded once")
    eq(a["refId"], "r\u00e9", "refId")


# ------------------------------------------------- hostile servers


class Hostile:
    """A server on 127.0.0.1 that reads each request's head and then runs
    act(sock, head) on its own thread."""

    def __init__(self, t, act):
        self.act = act
        self.heads = []
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.port = self.lsock.getsockname()[1]
        self.stopping = False
        self.socks = []
        t.receivers.append(self)
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while not self.stopping:
            try:
                s, _ = self.lsock.accept()
            except OSError:
                return
            self.socks.append(s)
            threading.Thread(target=self._one, args=(s,),
                             daemon=True).start()

    def _one(self, s):
        head = b""
        try:
            while b"\r\n\r\n" not in head:
                got = s.recv(65536)
                if not got:
                    return
                head += got
            self.heads.append(head)
            self.act(s, head)
        except OSError:
            pass

    def addr(self):
        return "127.0.0.1:%d" % self.port

    def close(self):
        self.stopping = True
        for s in [self.lsock] + self.socks:
            try:
                s.close()
            except OSError:
                pass


def test_cli_interim_answers_capped(t):
    def act(s, head):
        for _ in range(200):
            s.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        time.sleep(30)
    srv = Hostile(t, act)
    r = run_hookd("client", "ls", "-l", srv.addr(), admin="x", cwd=t.tmp,
                  timeout=30)
    eq(r.returncode, 1, "exit code: %r" % r.stderr)
    check("over 32 interim (1xx) answers" in r.stderr, "stderr: %r"
          % r.stderr)


def test_cli_overall_deadline(t):
    def act(s, head):
        s.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                  b"Content-Type: application/json\r\n\r\n")
        while True:
            s.sendall(b"1\r\n \r\n")
            time.sleep(0.2)
    srv = Hostile(t, act)
    # Without a deadline the command never ends (run_hookd's 10 s
    # timeout raises); with HOOKD_CLI_TIMEOUT=2 it ends with a message.
    r = run_hookd("client", "ls", "-l", srv.addr(), admin="x", cwd=t.tmp,
                  env={"HOOKD_CLI_TIMEOUT": "2"})
    eq(r.returncode, 1, "exit code: %r" % r.stderr)
    check("not done within 2 s" in r.stderr and "HOOKD_CLI_TIMEOUT" in
          r.stderr, "stderr: %r" % r.stderr)
    check("before an answer" not in r.stderr, "the old wording")


def test_cli_paging_stops_on_repeated_cursor(t):
    page = json.dumps({"data": [{"id": "a", "name": "A",
                                 "created_at": "2026-01-01T00:00:00Z"}],
                       "next": "a"}).encode()

    def act(s, head):
        s.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\nConnection: close\r\n\r\n"
                  % len(page) + page)
        s.close()
    srv = Hostile(t, act)
    r = run_hookd("client", "ls", "-l", srv.addr(), admin="x", cwd=t.tmp)
    eq(r.returncode, 1, "exit code: %r" % r.stderr)
    check("next cursor is the one asked with" in r.stderr, "stderr: %r"
          % r.stderr)
    eq(len(srv.heads), 2, "asked twice: the first page, then after=a")
    check(b"after=a" in srv.heads[1], "second request: %r" % srv.heads[1])


def test_tail_sigint_while_server_silent(t):
    srv = Hostile(t, lambda s, head: time.sleep(60))
    env = dict(os.environ, HOOKD_ADMIN_TOKEN="x")
    p = subprocess.Popen([HOOKD, "tail", "-l", srv.addr()],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         stdin=subprocess.DEVNULL, env=env, text=True)
    ALL_PROCS.append(p)
    wait_until(lambda: srv.heads, 15, what="tail's first request")
    p.send_signal(signal.SIGINT)
    # The old tail ignored the signal until the read timed out after 10 s
    # and then exited 1; it now stops at once with 0.
    try:
        out, err = p.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        raise AssertionError("tail did not stop on SIGINT")
    eq(p.returncode, 0, "exit code after SIGINT (stderr %r)" % err)


# ------------------------------------------------ hookd listen: idle


def test_listen_admits_past_idle_connections(t):
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    lst = Listen(t, "--secret", secret)
    idle = []
    for _ in range(40):
        idle.append(socket.create_connection(("127.0.0.1", lst.port),
                                             timeout=10))
    try:
        body = b'{"refId":"7"}'
        # The old listen left this one in the backlog until the idle
        # ones' 10 s ran out; it is now admitted by closing the oldest.
        c = http.client.HTTPConnection("127.0.0.1", lst.port, timeout=5)
        c.request("POST", "/cb", body=body,
                  headers=signed_headers(secret, "msg_7", body))
        eq(c.getresponse().status, 200, "verified past 40 idle connections")
        c.close()
        idle[0].settimeout(5)
        eq(idle[0].recv(10), b"", "the oldest idle connection was closed")
    finally:
        for s in idle:
            s.close()


# ----------------------------------------------------- usage errors


def test_usage_errors_exit_2(t):
    r = run_hookd("replay", "ep_1", "--since", "garbage", cwd=t.tmp)
    eq(r.returncode, 2, "replay --since garbage, before any token: %r"
       % r.stderr)
    check("RFC 3339" in r.stderr and '"garbage"' in r.stderr,
          "stderr: %r" % r.stderr)
    r = run_hookd("replay", "--help")
    eq(r.returncode, 0, "replay --help")
    check("RFC 3339" in r.stdout and "2026-11-28T00:00:00Z" in r.stdout,
          "replay --help names the format: %r" % r.stdout)
    r = run_hookd("endpoint", "add", "acme", "http://127.0.0.1:9/",
                  "--events", "-c", "x.conf", cwd=t.tmp)
    eq(r.returncode, 2, "--events -c: %r" % r.stderr)
    check("--events needs a value" in r.stderr, "stderr: %r" % r.stderr)
    r = run_hookd("frobnicate", cwd=t.tmp)
    eq(r.returncode, 2, "an unknown command: %r" % r.stderr)
    r = run_hookd("--help")
    check("[--timestamp UNIX]" in r.stdout and
          "--secret whsec_... [--secret whsec_...] [--ack]" in r.stdout,
          "sign's --timestamp and listen's second --secret in --help: %r"
          % r.stdout)


def test_make_dev_port_and_banner(t):
    r = subprocess.run(["make", "-s", "-n", "dev", "PORT=18080"], cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    eq(r.returncode, 0, "make -n dev: %r" % r.stderr)
    check("./hookd -c dev.conf -l 127.0.0.1:18080" in r.stdout,
          "PORT passed as -l: %r" % r.stdout)
    check("./hookd client ls -c dev.conf -l 127.0.0.1:18080" in r.stdout,
          "the banner says how the commands find it: %r" % r.stdout)
    r = subprocess.run(["make", "-s", "-n", "dev"], cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    check("./hookd client ls -c dev.conf" in r.stdout and
          "127.0.0.1:8080" in r.stdout, "the default: %r" % r.stdout)
