"""Malformed requests on raw sockets (issue 2 §7, contract §8): every
llhttp request case that strict llhttp rejects, and hookd's own table of
request-smuggling forms. Each must get an error status and a closed
connection, and hookd must keep answering."""

import os

from . import llhttp_cases
from .harness import TESTDATA, RawConn, check, status_lines

LLHTTP_DIR = os.path.join(TESTDATA, "http", "llhttp", "request")
ERROR_STATUSES = (400, 413, 414, 431, 501, 505)
RAW_CONF = "header_timeout 1s\nidle_timeout 2s\n"


def send_bad(h, raw, allowed=ERROR_STATUSES):
    """Send raw on a fresh connection; return a problem string or None."""
    c = RawConn(h.port)
    try:
        try:
            c.send(raw)
        except (BrokenPipeError, ConnectionResetError):
            pass  # hookd may refuse before it has read everything
        closed = c.closed_within(5)
        codes = [s for s in status_lines(c.buf) if s >= 200]
    finally:
        c.close()
    problem = None
    if not codes:
        problem = "no status line%s" % (" (closed silently)" if closed
                                         else ", connection left open")
    elif codes[0] not in allowed:
        problem = "answered %d, want one of %s" % (codes[0], list(allowed))
    elif not closed:
        problem = "answered %d but did not close the connection" % codes[0]
    return problem


def alive(h):
    try:
        status, body, _ = h.api("GET", "/healthz", token=None, timeout=5)
        return status == 200
    except OSError:
        return False


def run_cases(t, cases):
    h = t.hookd(RAW_CONF)
    problems = []
    ran = skipped = 0
    for case in cases:
        if case.error_after_complete:
            # The error is about bytes after a complete request that hookd
            # may legitimately answer; only check it survives.
            c = RawConn(h.port)
            try:
                c.send(case.raw)
                c.closed_within(0.5)
            except OSError:
                pass
            c.close()
            skipped += 1
        else:
            p = send_bad(h, case.raw)
            if p and p.startswith("no status line"):
                # Tell a parser that missed the error from a server that
                # waits for the end of the head before parsing at all.
                p2 = send_bad(h, case.raw + b"\r\n\r\n")
                p += "; with a blank line appended: %s" % (
                    p2 or "error status and close")
            if p:
                problems.append("%r: %s; sent %r" % (case.title, p,
                                                     case.raw[:160]))
            ran += 1
        if not alive(h):
            problems.append("%r: hookd stopped answering /healthz after it"
                            % case.title)
            if not h.running:
                break
            h.restart(kill=True)
    t.note("%d llhttp cases sent, %d ran as errors, %d only checked for "
           "survival (error after message complete)"
           % (ran + skipped, ran, skipped))
    check(not problems, "%d of %d cases failed:\n      " % (
        len(problems), len(cases)) + "\n      ".join(problems))


def _make(name, cases):
    def test(t):
        run_cases(t, cases)
    test.__name__ = "test_llhttp_" + name.replace("-", "_")
    return test


for _name, _cases in llhttp_cases.request_error_cases(LLHTTP_DIR).items():
    _t = _make(_name, _cases)
    globals()[_t.__name__] = _t


def test_llhttp_case_count(t):
    cases = llhttp_cases.request_error_cases(LLHTTP_DIR)
    n = sum(len(v) for v in cases.values())
    check(n >= 50, "only %d llhttp error cases parsed from %s" % (n,
                                                               LLHTTP_DIR))
    t.note("%d llhttp request error cases in %d files" % (n, len(cases)))


def _req(head, body=b""):
    return head.replace(b"\n", b"\r\n").replace(b"\\r", b"\r").replace(
        b"\\n", b"\n") + body


# Contract §8: each of these is answered 400 and the connection closed.
SMUGGLING = [
    ("Content-Length with Transfer-Encoding", _req(
        b"POST /v1/clients HTTP/1.1\nHost: x\nContent-Length: 5\n"
        b"Transfer-Encoding: chunked\n\n", b"0\r\n\r\n")),
    ("two different Content-Length", _req(
        b"POST /v1/clients HTTP/1.1\nHost: x\nContent-Length: 2\n"
        b"Content-Length: 3\n\n", b"{}x")),
    ("repeated equal Content-Length", _req(
        b"POST /v1/clients HTTP/1.1\nHost: x\nContent-Length: 2\n"
        b"Content-Length: 2\n\n", b"{}")),
    ("Content-Length list", _req(
        b"POST /v1/clients HTTP/1.1\nHost: x\nContent-Length: 2, 2\n\n",
        b"{}")),
    ("Content-Length with a sign", _req(
        b"POST /v1/clients HTTP/1.1\nHost: x\nContent-Length: +2\n\n",
        b"{}")),
    ("Content-Length not a number", _req(
        b"POST /v1/clients HTTP/1.1\nHost: x\nContent-Length: 2a\n\n",
        b"{}")),
    ("Content-Length overflow", _req(
        b"POST /v1/clients HTTP/1.1\nHost: x\n"
        b"Content-Length: 99999999999999999999999\n\n")),
    ("obsolete line folding", _req(
        b"GET /healthz HTTP/1.1\nHost: x\nX-A: a\n b\n\n")),
    ("bare LF in the head", b"GET /healthz HTTP/1.1\r\nHost: x\nX: y\r\n\r\n"),
    ("bare LF line ends", b"GET /healthz HTTP/1.1\nHost: x\n\n"),
    ("bare CR in a header", b"GET /healthz HTTP/1.1\r\nHost: x\rX: y\r\n\r\n"),
    ("space before colon", _req(b"GET /healthz HTTP/1.1\nHost : x\n\n")),
    ("tab before colon", _req(b"GET /healthz HTTP/1.1\nHost\t: x\n\n")),
    ("chunk size not hex", _req(
        b"POST /v1/clients HTTP/1.1\nHost: x\nTransfer-Encoding: chunked\n\n",
        b"zz\r\n{}\r\n0\r\n\r\n")),
    ("chunk size overflow", _req(
        b"POST /v1/clients HTTP/1.1\nHost: x\nTransfer-Encoding: chunked\n\n",
        b"fffffffffffffffffffff\r\n{}\r\n0\r\n\r\n")),
    ("negative chunk size", _req(
        b"POST /v1/clients HTTP/1.1\nHost: x\nTransfer-Encoding: chunked\n\n",
        b"-2\r\n{}\r\n0\r\n\r\n")),
    ("chunk data without CRLF", _req(
        b"POST /v1/clients HTTP/1.1\nHost: x\nTransfer-Encoding: chunked\n\n",
        b"2\r\n{}XX0\r\n\r\n")),
]

# Other malformed heads: any error status of ERROR_STATUSES, then close.
MALFORMED = [
    ("NUL in the target", b"GET /heal\x00thz HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("control char in a value", b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
                                b"X: a\x01b\r\n\r\n"),
    ("no version", b"GET /healthz\r\nHost: x\r\n\r\n"),
    ("HTTP/2.0", b"GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n"),
    ("HTTP/1.10", b"GET /healthz HTTP/1.10\r\nHost: x\r\n\r\n"),
    ("lower-case version", b"GET /healthz http/1.1\r\nHost: x\r\n\r\n"),
    ("two spaces", b"GET  /healthz HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("empty header name", b"GET /healthz HTTP/1.1\r\nHost: x\r\n: v\r\n\r\n"),
    ("gzip transfer coding", b"POST /v1/clients HTTP/1.1\r\nHost: x\r\n"
                             b"Transfer-Encoding: gzip\r\n\r\n"),
    ("chunked not last", b"POST /v1/clients HTTP/1.1\r\nHost: x\r\n"
                         b"Transfer-Encoding: chunked, gzip\r\n\r\n"),
    ("request line too long", b"GET /" + b"a" * 20000 +
     b" HTTP/1.1\r\nHost: x\r\n\r\n"),
]


def _table(t, table, allowed):
    h = t.hookd(RAW_CONF)
    problems = []
    auth = b"Host: x\r\nAuthorization: Bearer %s\r\n" % h.admin.encode()
    for title, raw in table:
        # With the admin token, so that no 401 can come before the body.
        raw = raw.replace(b"Host: x\r\n", auth, 1)
        p = send_bad(h, raw, allowed)
        if p:
            problems.append("%s: %s; sent %r" % (title, p, raw[:120]))
        if not alive(h):
            problems.append("%s: hookd stopped answering" % title)
            h.restart(kill=True)
    check(not problems, "%d of %d failed:\n      " % (len(problems),
                                                      len(table)) +
          "\n      ".join(problems))


def test_smuggling_forms_400(t):
    _table(t, SMUGGLING, (400,))


def test_malformed_heads(t):
    _table(t, MALFORMED, ERROR_STATUSES)
