"""The console (issue 15; contract §16): GET /console in Debian's chromium,
driven by playwright-core (tests/browser/console.test.js), against a real
hookd and real receivers: sign in, a delivery that fails and then succeeds
after Retry, replay, secret rotation, values that producers and receivers
control (an event type, an ack, a response body) shown as text and never
run, a client token seeing only its own client, the CSP header and no CSP
violation; also the refresh keeping every row "More" loaded, the header
hidden while signed out, sign-in by GET /v1/whoami (a client with nothing
yet), "global default" policies, cut bodies and a missing ack explained,
hookd unreachable, another client's bookmark, editing and adding
endpoints, a delayed idempotent event, a client's secret and token
rotated, and no 404 for any of the console's files.

playwright-core is installed on first use into tests/browser/node_modules
(git ignored) from the version pinned in tests/browser/package.json and its
lock (npm ci). When npm cannot reach its registry the browser test SKIPs
with the reason; any other npm failure fails it. The browser is Debian's
chromium (/usr/bin/chromium, or HOOKD_CHROMIUM); .ci/run installs it.

The test writes its screenshot into its temp dir; with
HOOKD_CONSOLE_SCREENSHOT=docs/console.png it writes that file instead (the
README's picture is made so).
"""

import os
import re
import subprocess

from . import harness
from .harness import ROOT, RawConn, Reply, check, eq

BROWSER_DIR = os.path.join(ROOT, "tests", "browser")
CHROMIUM = os.environ.get("HOOKD_CHROMIUM", "/usr/bin/chromium")
SCRIPT_TIMEOUT = 90

# What producers and receivers control, each able to run script if it were
# ever parsed as HTML: alert() opens a dialog, the assignments set window
# flags, console.log() prints. An event type has no spaces (its rule).
XSS_TYPE = ("<img/src=x/onerror=alert(1)></script>"
            "<script>window.__xss_type=1</script>")
XSS_ACK = {"ack": True, "note": "<img src=x onerror=window.__xss_ack=1>"
           "</script><script>alert(2)</script>"}
XSS_BODY = ("<img src=x onerror=console.log('xss-body')></script>"
            "<script>window.__xss_body=1</script>")

def ensure_playwright():
    """Fail clearly without chromium; the pinned playwright-core in
    tests/browser, once (harness.npm_ready)."""
    check(os.access(CHROMIUM, os.X_OK),
          "%s is not installed: the console's browser test needs Debian's "
          "chromium (apt-get install chromium; .ci/run installs it), or "
          "HOOKD_CHROMIUM=/path/to/chromium" % CHROMIUM)
    harness.npm_ready(BROWSER_DIR, "tests/browser",
                      "the console's browser test")


def test_console_sources_build_no_html_from_strings(t):
    """The console's script never parses strings as HTML or code (the
    browser test shows the result; this keeps the rule visible in the
    source): no innerHTML, outerHTML, insertAdjacentHTML, document.write,
    eval, Function() or string timers; no inline script or handler in the
    page."""
    js = open(os.path.join(ROOT, "web", "console", "console.js")).read()
    html = open(os.path.join(ROOT, "web", "console", "index.html")).read()
    for bad in (".innerHTML", ".outerHTML", "insertAdjacentHTML(",
                "document.write(", "eval(", "new Function", "setTimeout(\"",
                "setInterval(\"", "localStorage.", "document.cookie"):
        check(bad not in js, "console.js uses %s" % bad)
    check(re.search(r"<script(?![^>]*\bsrc=)", html) is None,
          "index.html has an inline <script>")
    check(re.search(r"\son[a-z]+\s*=", html) is None,
          "index.html has an inline on...= handler")
    check(re.search(r"\sstyle\s*=", html) is None,
          "index.html has an inline style attribute")
    h = t.hookd()
    for path in ("/console", "/console/console.js", "/console/console.css",
                 "/console/favicon.svg"):
        status, _, head = h.api("GET", path, token=None)
        eq(status, 200, "GET %s" % path)
        eq(head.get("content-security-policy"),
           "default-src 'self'; frame-ancestors 'none'", "CSP of " + path)
    check('<link rel="icon" href="/console/favicon.svg"' in html,
          "index.html names its icon (no 404 for /favicon.ico)")


def test_console_slash_and_head(t):
    """/console/ is /console (the address as often typed); HEAD of the
    console's files answers their head, Content-Length included, without
    a body; HEAD of an API route stays 405."""
    h = t.hookd()
    page = h.api("GET", "/console", token=None)
    slash = h.api("GET", "/console/", token=None)
    eq(slash[0], 200, "GET /console/")
    eq(slash[1], page[1], "GET /console/ is the page of /console")
    for path in ("/console", "/console/console.js", "/console/favicon.svg"):
        full = h.api("GET", path, token=None)
        c = RawConn(h.port)
        c.send(b"HEAD " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n"
               b"Connection: close\r\n\r\n")
        check(c.closed_within(10), "HEAD %s: the connection closes" % path)
        c.close()
        head, _, rest = c.buf.partition(b"\r\n\r\n")
        check(head.startswith(b"HTTP/1.1 200 "), "HEAD %s: %r" % (path, head))
        check(b"content-length: %d" % len(full[1].encode())
              in head.lower(), "HEAD %s: the GET's Content-Length" % path)
        eq(rest, b"", "HEAD %s sends no body" % path)
    eq(h.api("HEAD", "/v1/events")[0], 405, "HEAD of an API route")


def test_console_in_chromium(t):
    ensure_playwright()
    # Two attempts per delivery (one retry after 200 ms), so a delivery
    # whose receiver answers 500 twice ends failed quickly.
    h = t.hookd("retry_schedule 200ms\n")
    rcv = t.receiver()
    # The flaky endpoint: 500 twice (the delivery ends failed), then 200
    # (the console's Retry). The replay endpoint likewise, for Replay.
    rcv.on("/flaky", Reply(500, "database busy"), Reply(500, "database busy"),
           Reply(200, {"ack": True, "refId": "3283191"}))
    rcv.on("/replay", Reply(500, "down"), Reply(500, "down"),
           Reply(200, {"ack": True}))
    # The receiver of the XSS event: a 500 whose body is markup, then a
    # 200 whose JSON acknowledgement holds markup.
    rcv.on("/xss", Reply(500, XSS_BODY, {"Content-Type": "text/html"}),
           Reply(200, XSS_ACK))
    # Bodies past what hookd keeps: a 2 KiB error body (the log keeps
    # 1 KiB), then a 5 KiB JSON object (an ack is kept up to 4 KiB).
    rcv.on("/big", Reply(500, "e" * 2048), Reply(200, {"pad": "p" * 5000}))
    acme = h.client("acme", "Acme Store")
    other = h.client("other", "Other Co")
    # A client with nothing yet: the console still learns its id.
    empty = h.client("empty", "Empty Ltd")
    ep_flaky = h.endpoint("acme", rcv.url("/flaky"), events=["order.paid"])
    ep_replay = h.endpoint("acme", rcv.url("/replay"),
                           events=["order.refunded"])
    ep_other = h.endpoint("other", rcv.url("/other"))
    evt_other = h.event("other", "order.paid", {"n": 1})
    evt_replay = h.event("acme", "order.refunded", {"refId": "3283192"})
    evt_xss = h.event("acme", XSS_TYPE, {"refId": "x"},
                      callback=rcv.url("/xss"))
    h.wait_all(evt_replay["id"], "failed", n=1)
    h.wait_all(evt_xss["id"], "delivered", n=1)
    h.wait_all(evt_other["id"], "delivered", n=1)
    evt_big = h.event("acme", "order.big", {"refId": "b"},
                      callback=rcv.url("/big"))
    h.wait_all(evt_big["id"], "delivered", n=1)
    dlv_big = h.deliveries_of(evt_big["id"])[0]["id"]
    dlv_xss = h.deliveries_of(evt_xss["id"])[0]["id"]
    shot = os.environ.get("HOOKD_CONSOLE_SCREENSHOT") or os.path.join(
        t.tmp, "console.png")
    if not os.path.isabs(shot):
        shot = os.path.join(ROOT, shot)
    env = dict(os.environ, HOOKD_URL=h.url(), ADMIN_TOKEN=h.admin,
               CLIENT_TOKEN=acme["token"], OTHER_TOKEN=other["token"],
               EP_FLAKY=ep_flaky["id"], EP_REPLAY=ep_replay["id"],
               EP_OTHER=ep_other["id"], EVT_OTHER=evt_other["id"],
               EVT_XSS=evt_xss["id"], DLV_XSS=dlv_xss, DLV_BIG=dlv_big,
               EMPTY_TOKEN=empty["token"],
               XSS_TYPE=XSS_TYPE, XSS_ACK_NOTE=XSS_ACK["note"],
               XSS_BODY=XSS_BODY, CHROMIUM=CHROMIUM, SCREENSHOT=shot)
    try:
        p = subprocess.run(
            ["node", os.path.join(BROWSER_DIR, "console.test.js")],
            cwd=BROWSER_DIR, env=env, capture_output=True, text=True,
            timeout=SCRIPT_TIMEOUT, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        raise AssertionError("console.test.js did not finish within %ds: %s"
                             % (SCRIPT_TIMEOUT, (e.stdout or "")[-3000:]))
    out = (p.stdout + p.stderr).strip()
    check(p.returncode == 0, "console.test.js failed (exit %d):\n%s"
          % (p.returncode, out[-4000:]))
    check("all console checks passed" in p.stdout, "console.test.js said: "
          + out[-2000:])
    with open(shot, "rb") as f:
        eq(f.read(8), b"\x89PNG\r\n\x1a\n", "screenshot signature")
    # What the console's clicks did, seen from the receiver's side.
    eq(len(rcv.got("/flaky")), 3, "attempts at the flaky endpoint "
       "(2 failed, 1 by Retry)")
    eq(len(rcv.got("/replay")), 3, "attempts at the replay endpoint "
       "(2 failed, 1 by Replay)")
