"""Contract §10 and §18 (v2): authentication on the request head, the body
deadline, the command line (--help, --version, unknown words, -n summary),
start-up warnings and config error messages that say how to fix them."""

import os
import subprocess
import time

from .harness import HOOKD, RawConn, check, curl, eq


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
