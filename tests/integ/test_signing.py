"""Signed deliveries (issue 4; contract §4, §8, §9): real deliveries from
hookd are checked by the Standard Webhooks reference library (npm
`standardwebhooks`, run by tests/node/receiver.js), by `hookd verify` and by
the README's standard-library Python verifier; secret rotation with its 24 h
overlap, across restarts and after it ends; the secret rules, file modes,
and that no secret or token reaches the log.

The npm package is installed on first use into tests/node/node_modules (git
ignored), from the versions pinned in tests/node/package.json and its lock.
When npm cannot reach its registry (no network), the Node tests SKIP with a
printed reason; any other npm failure fails them. HOOKD_NODE_DIR moves the
Node directory (the runner's own tests use it).
"""

import base64
import hmac
import http.client
import json
import os
import secrets
import select
import stat
import subprocess
import time
import zlib

from . import harness
from .harness import HOOKD, ROOT, check, eq

NODE_DIR = os.environ.get("HOOKD_NODE_DIR") or os.path.join(
    ROOT, "tests", "node")


def new_secret(nbytes=24):
    return "whsec_" + base64.b64encode(secrets.token_bytes(nbytes)).decode()


def key_len(secret):
    check(secret.startswith("whsec_"), "secret %r has no whsec_" % secret)
    return len(base64.b64decode(secret[6:], validate=True))


# ------------------------------------------------- the README's verifier

# The README's first Python verifier (now examples/receiver.py, which
# test_listen.py checks), kept here as a second stdlib verifier.
def readme_verify(secret, headers, payload, tolerance=300):
    """headers: lower-case names; payload: bytes (body or query string)."""
    ts = headers["webhook-timestamp"]
    if not (ts.isascii() and ts.isdigit()) or \
            abs(time.time() - int(ts)) > tolerance:
        return False
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f'{headers["webhook-id"]}.{ts}.'.encode() + payload
    want = b"v1," + base64.b64encode(hmac.digest(key, signed, "sha256"))
    return any(hmac.compare_digest(s.encode(), want)
               for s in headers["webhook-signature"].split(" "))


# --------------------------------------------------- the Node receiver

def ensure_node():
    """The pinned standardwebhooks package in tests/node, once."""
    harness.npm_ready(NODE_DIR, "tests/node", "the Standard Webhooks "
                      "interoperability tests")


class NodeReceiver:
    """tests/node/receiver.js on a free loopback port. secrets: a dict
    label -> secret; each request is verified with each on its own."""

    def __init__(self, secrets_by_label, timeout=20.0):
        ensure_node()
        args = ["%s=%s" % kv for kv in secrets_by_label.items()]
        self.proc = subprocess.Popen(
            ["node", os.path.join(NODE_DIR, "receiver.js"), "0"] + args,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, cwd=NODE_DIR)
        harness.ALL_PROCS.append(self.proc)
        line = b""
        deadline = time.monotonic() + timeout
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                err = b""
                if self.proc.poll() is not None:
                    err = self.proc.stderr.read()
                self.close()
                raise AssertionError("receiver.js did not start: %r %r"
                                     % (line, err[-1000:]))
            r, _, _ = select.select([self.proc.stdout], [], [], left)
            if r:
                b = os.read(self.proc.stdout.fileno(), 1)
                if not b:
                    continue
                line += b
        words = line.split()
        check(len(words) == 2 and words[0] == b"listening",
              "receiver.js said %r" % line)
        self.port = int(words[1])

    def url(self, path="/"):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def results(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("GET", "/_results")
            resp = conn.getresponse()
            eq(resp.status, 200, "GET /_results")
            return json.loads(resp.read())
        finally:
            conn.close()

    def wait_for(self, n, path=None, timeout=15.0):
        """The first n records (to path), waiting for them."""
        def enough():
            rs = [r for r in self.results()
                  if path is None or r["path"] == path]
            return rs if len(rs) >= n else None
        return harness.wait_until(enough, timeout, 0.05,
                                  "%d requests to receiver.js %s"
                                  % (n, path or ""))[:n]

    def post(self, path, body, headers):
        """Send a request straight to the receiver: (status, record)."""
        before = len(self.results())
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("POST", path, body=body, headers=headers)
            resp = conn.getresponse()
            resp.read()
            status = resp.status
        finally:
            conn.close()
        return status, self.results()[before]

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for f in (self.proc.stdout, self.proc.stderr):
            f.close()


def node_receiver(t, secrets_by_label):
    r = NodeReceiver(secrets_by_label)
    t.receivers.append(r)   # closed (by pid) when the test ends
    return r


def sigs_of(rec):
    return rec["headers"]["webhook-signature"].split(" ")


def body_of(rec):
    return base64.b64decode(rec["body"])


def patch_url(h, ep, url):
    h.req(200, "PATCH", "/v1/endpoints/" + ep["id"], {"url": url})


def settled(h, evt_id, n):
    """The n deliveries of an event once none is pending (a wrong outcome
    fails at once instead of after a timeout)."""
    def probe():
        ds = h.deliveries_of(evt_id)
        return ds if len(ds) == n and all(d["status"] != "pending"
                                          for d in ds) else None
    return harness.wait_until(probe, 15.0, 0.05, "deliveries of " + evt_id)


def deliver_one(h, data=None, status="delivered", **kw):
    """Post an event with one delivery; assert its outcome."""
    evt = h.event(data=data if data is not None else {"n": 1}, **kw)
    d = settled(h, evt["id"], 1)[0]
    eq(d["status"], status, "outcome of the delivery (last %r)" % d["last"])
    return evt, d


# ------------------------------------------------------------------ tests


def test_node_verifies_post_delivery(t):
    secret = new_secret()
    rcv = node_receiver(t, {"ep": secret, "other": new_secret()})
    h = t.hookd()
    h.client("acme")
    h.endpoint("acme", rcv.url("/cb"), secret=secret)
    # Odd spacing, escapes and non-ASCII text: the signature must cover the
    # bytes exactly as the producer sent them.
    raw = ('{"refId":  "3283191" ,\n "name": "Zo\u00eb \u2713 \\u00e9",'
           ' "n": [1, 2.50, -0e3], "ok": true}').encode()
    evt = h.event(raw=raw)
    d = settled(h, evt["id"], 1)[0]
    eq(d["last"]["status"], 200, "status hookd got from receiver.js")
    rec = rcv.wait_for(1, "/cb")[0]
    eq(rec["method"], "POST", "method")
    eq(body_of(rec), raw, "body byte for byte")
    eq(rec["headers"]["webhook-id"], evt["id"], "webhook-id")
    eq(len(sigs_of(rec)), 1, "signatures without a rotation")
    eq(rec["by"], {"ep": True, "other": "No matching signature found"},
       "standardwebhooks verify per secret")
    check(rec["verified"], "receiver.js did not verify: %r" % rec)
    # A receiver holding another secret rejects: 400, so hookd fails it.
    patch_url(h, {"id": d["endpoint"]}, rcv.url("/only/other/cb"))
    _, d = deliver_one(h, status="failed")
    eq(d["last"]["status"], 400, "status from a receiver with another secret")
    rec = rcv.wait_for(1, "/only/other/cb")[0]
    check(not rec["verified"] and "No matching signature" in rec["error"],
          "wrong-secret record %r" % rec)


def test_node_verifies_get_delivery(t):
    secret = new_secret()
    rcv = node_receiver(t, {"ep": secret})
    h = t.hookd()
    h.client("acme")
    h.endpoint("acme", rcv.url("/g"), secret=secret, method="GET")
    # The receiver verifies the whole query string it got, the URL's own
    # query included.
    h.endpoint("acme", rcv.url("/q?x=1&y=a%20b"), secret=secret,
               method="GET")
    raw = (b'{"success": true, "refId": "32 83/191&x=1", "n": 12.5e1,'
           b' "gone": null, "nested": {"a": [1, "b"]}, "u": "\xc3\xa9"}')
    evt = h.event(raw=raw)
    ds = settled(h, evt["id"], 2)
    eq(sorted(d["last"]["status"] for d in ds), [200, 200],
       "statuses hookd got from receiver.js")
    g = rcv.wait_for(1, "/g")[0]
    eq(g["method"], "GET", "method")
    eq(body_of(g), b"", "GET body")
    check(g["query"].startswith("success=true&refId=32%2083%2F191%26x%3D1"),
          "query %r" % g["query"])
    check("gone" not in g["query"], "null member in query %r" % g["query"])
    eq(g["by"], {"ep": True}, "standardwebhooks verify of /g")
    q = rcv.wait_for(1, "/q")[0]
    eq(q["query"], "x=1&y=a%20b&" + g["query"], "query after the URL's own")
    eq(q["by"], {"ep": True}, "standardwebhooks verify of /q?x=1&y=a%20b")


def test_node_verifies_oneoff_with_client_secret(t):
    h = t.hookd()
    c = h.client("acme")
    ep = h.endpoint("acme", "http://127.0.0.1:9/unused")
    rcv = node_receiver(t, {"client": c["secret"], "ep": ep["secret"]})
    patch_url(h, ep, rcv.url("/only/ep/cb"))
    evt = h.event(data={"refId": "3283191"},
                  callback=rcv.url("/once/{refId}"))
    eq(evt["deliveries"], 2, "endpoint + one-off")
    ds = settled(h, evt["id"], 2)
    eq([d["last"]["status"] for d in ds], [200, 200], "statuses")
    once = rcv.wait_for(1, "/once/3283191")[0]
    eq(once["by"]["client"], True, "one-off verified with the client secret")
    check(once["by"]["ep"] is not True, "one-off verified with the endpoint "
          "secret too: %r" % once["by"])
    cb = rcv.wait_for(1, "/only/ep/cb")[0]
    check(cb["verified"], "endpoint delivery not verified: %r" % cb)


def set_prev_until(path, ep_id, until_ms):
    """Rewrite prev_until in the newest registry record of endpoint ep_id,
    with a fresh CRC32 (record: '<crc32 hex> <json>\\n'). hookd must be
    stopped. Returns the old value."""
    with open(path, "rb") as f:
        lines = f.read().split(b"\n")
    eq(lines[-1], b"", "registry.log ends with a newline")
    idx = None
    for i, line in enumerate(lines[:-1]):
        crc, _, js = line.partition(b" ")
        eq(int(crc, 16), zlib.crc32(js), "CRC of registry line %d" % (i + 1))
        rec = json.loads(js)
        if rec.get("t") == "endpoint" and rec.get("id") == ep_id:
            idx = i
    check(idx is not None, "no record of %s in registry.log" % ep_id)
    js = lines[idx].partition(b" ")[2]
    old = json.loads(js)["prev_until"]
    needle = b'"prev_until":%d' % old
    eq(js.count(needle), 1, "prev_until in the record")
    js = js.replace(needle, b'"prev_until":%d' % until_ms)
    json.loads(js)
    lines[idx] = b"%08x %s" % (zlib.crc32(js), js)
    # Rewritten in place: the file keeps its mode (0600) and owner.
    with open(path, "r+b") as f:
        f.write(b"\n".join(lines))
        f.truncate()
    return old


def test_node_rotation_restart_and_expiry(t):
    h = t.hookd()
    h.client("acme")
    old = new_secret()
    ep = h.endpoint("acme", "http://127.0.0.1:9/unused", secret=old)
    t0 = time.time()
    new = h.req(200, "POST", "/v1/endpoints/%s/rotate-secret"
                % ep["id"])["secret"]
    check(new != old, "rotate-secret kept the secret")
    eq(key_len(new), 24, "bytes in the rotated secret")
    rcv = node_receiver(t, {"old": old, "new": new})

    def both_verify(when):
        patch_url(h, ep, rcv.url("/both"))
        evt, _ = deliver_one(h)
        rec = [r for r in rcv.results() if r["path"] == "/both" and
               r["headers"]["webhook-id"] == evt["id"]][0]
        eq(len(sigs_of(rec)), 2, "signatures " + when)
        eq(rec["by"], {"old": True, "new": True},
           "standardwebhooks verify with each secret " + when)
        # A receiver holding only one of the two accepts the delivery.
        for label in ("old", "new"):
            patch_url(h, ep, rcv.url("/only/%s/x" % label))
            _, d = deliver_one(h)
            eq(d["last"]["status"], 200, "receiver with only the %s secret "
               "%s" % (label, when))

    both_verify("during the rotation")
    # The rotation is on disk when rotate-secret answers: kill -9 keeps it.
    h.restart(kill=True)
    eq(h.req(200, "GET", "/v1/endpoints/" + ep["id"])["secret"], new,
       "secret after the restart")
    both_verify("after kill -9 and restart")
    h.stop()
    until = set_prev_until(os.path.join(h.data, "registry.log"), ep["id"],
                           int(time.time() * 1000) - 60000)
    # rotate-secret set the window to 24 h from then.
    check(abs(until / 1000 - (t0 + 86400)) < 60,
          "prev_until %d is not 24 h after the rotation at %.0f"
          % (until, t0))
    h.start()
    patch_url(h, ep, rcv.url("/both"))
    evt, _ = deliver_one(h)
    rec = [r for r in rcv.results() if r["path"] == "/both" and
           r["headers"]["webhook-id"] == evt["id"]][0]
    eq(len(sigs_of(rec)), 1, "signatures after the 24 h window")
    eq(rec["by"], {"old": "No matching signature found", "new": True},
       "standardwebhooks verify after the window")
    patch_url(h, ep, rcv.url("/only/old/x"))
    _, d = deliver_one(h, status="failed")
    eq(d["last"]["status"], 400, "receiver with only the old secret after "
       "the window")
    patch_url(h, ep, rcv.url("/only/new/x"))
    deliver_one(h)
    mode = stat.S_IMODE(os.stat(os.path.join(h.data, "registry.log")).st_mode)
    eq(mode, 0o600, "registry.log mode")


def hookd_sign(secret, msg_id, payload, ts=None):
    cmd = [HOOKD, "sign", "--secret", secret, "--id", msg_id]
    if ts is not None:
        cmd += ["--timestamp", str(ts)]
    p = subprocess.run(cmd, input=payload, capture_output=True, timeout=10)
    eq(p.returncode, 0, "hookd sign exit code (%r)" % p.stderr)
    hdrs = {}
    for line in p.stdout.decode().splitlines():
        k, _, v = line.partition(": ")
        hdrs[k] = v
    eq(sorted(hdrs), ["webhook-id", "webhook-signature", "webhook-timestamp"],
       "hookd sign output")
    return hdrs


def test_node_rejects_tampered(t):
    secret = new_secret(32)
    rcv = node_receiver(t, {"k": secret})
    body = b'{"refId": "3283191", "amount": 100}'
    hdrs = hookd_sign(secret, "msg_tamper1", body)
    hdrs["Content-Type"] = "application/json"
    status, rec = rcv.post("/direct", body, hdrs)
    eq((status, rec["verified"]), (200, True), "untouched (status, verified)")
    for what, b, change in (
            ("body", body.replace(b"100", b"900"), {}),
            ("body", body + b" ", {}),
            ("webhook-id", body, {"webhook-id": "msg_tamper2"}),
            ("webhook-timestamp", body, {"webhook-timestamp": str(
                int(hdrs["webhook-timestamp"]) - 1)})):
        status, rec = rcv.post("/direct", b, dict(hdrs, **change))
        eq((status, rec["verified"]), (400, False),
           "(status, verified) with a changed " + what)
        eq(rec["error"], "No matching signature found",
           "error with a changed " + what)
    # The library's 5 minute window: an honest signature that is too old.
    hdrs = hookd_sign(secret, "msg_old", body, ts=int(time.time()) - 600)
    status, rec = rcv.post("/direct", body, hdrs)
    eq((status, rec["error"]), (400, "Message timestamp too old"),
       "(status, error) 10 minutes late")


def head_dump(rec):
    """A received request's head as a raw header dump (CRLF lines)."""
    lines = ["%s %s HTTP/1.1" % (rec.method, rec.target)]
    lines += ["%s: %s" % kv for kv in rec.header_list]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def hookd_verify(args, payload):
    p = subprocess.run([HOOKD, "verify"] + args, input=payload,
                       capture_output=True, timeout=10)
    return p.returncode, p.stdout.decode()


def test_hookd_verify_and_python_verify_real_delivery(t):
    rcv = t.receiver()
    h = t.hookd()
    h.client("acme")
    ep = h.endpoint("acme", rcv.url("/cb"))
    gep = h.endpoint("acme", rcv.url("/g?k=v"), method="GET")
    raw = b'{"refId": "3283191",\t"note": "caf\xc3\xa9"}'
    evt = h.event(raw=raw)
    h.wait_all(evt["id"], n=2)
    r = rcv.wait_for(1, "/cb")[0]
    eq(r.body, raw, "body")
    head = os.path.join(t.tmp, "head.txt")
    with open(head, "wb") as f:
        f.write(head_dump(r))
    sec = ep["secret"]
    eq(hookd_verify(["--secret", sec, "--headers", head], raw),
       (0, "valid\n"), "hookd verify of a real delivery")
    rc, out = hookd_verify(["--secret", sec, "--headers", head],
                           raw.replace(b"3283191", b"3283192"))
    check(rc == 1 and out.startswith("invalid:"),
          "hookd verify of a changed body: %d %r" % (rc, out))
    rc, out = hookd_verify(["--secret", new_secret(), "--headers", head], raw)
    check(rc == 1 and out.startswith("invalid:"),
          "hookd verify with another secret: %d %r" % (rc, out))
    ts = int(r.headers["webhook-timestamp"])
    rc, out = hookd_verify(["--secret", sec, "--headers", head, "--now",
                            str(ts + 100000)], raw)
    eq((rc, out), (1, "invalid: timestamp too old\n"), "--now a day later")
    eq(hookd_verify(["--secret", sec, "--headers", head, "--now",
                     str(ts + 299)], raw), (0, "valid\n"),
       "--now 299 s later (default tolerance 300 s)")
    eq(hookd_verify(["--secret", sec, "--id", r.headers["webhook-id"],
                     "--timestamp", str(ts), "--signature",
                     r.headers["webhook-signature"]], raw),
       (0, "valid\n"), "hookd verify with the three flags")
    # The README's Python verifier.
    check(readme_verify(sec, r.headers, r.body),
          "README verifier rejects a real delivery")
    check(not readme_verify(sec, r.headers, r.body + b" "),
          "README verifier accepts a changed body")
    check(not readme_verify(new_secret(), r.headers, r.body),
          "README verifier accepts another secret")
    check(not readme_verify(sec, dict(r.headers, **{
        "webhook-timestamp": str(ts - 600)}), r.body),
        "README verifier accepts a timestamp 10 minutes old")
    # GET: the payload is the query string without '?'.
    g = rcv.wait_for(1, "/g")[0]
    q = g.query.encode()
    with open(head, "wb") as f:
        f.write(head_dump(g))
    eq(hookd_verify(["--secret", gep["secret"], "--headers", head], q),
       (0, "valid\n"), "hookd verify of a GET delivery")
    check(readme_verify(gep["secret"], g.headers, q),
          "README verifier rejects a GET delivery")
    # During a rotation the old and new secrets both verify.
    new = h.req(200, "POST", "/v1/endpoints/%s/rotate-secret"
                % ep["id"])["secret"]
    h.wait_all(h.event(raw=raw)["id"], n=2)
    r = rcv.wait_for(2, "/cb")[1]
    with open(head, "wb") as f:
        f.write(head_dump(r))
    for s in (sec, new):
        eq(hookd_verify(["--secret", s, "--headers", head], raw),
           (0, "valid\n"), "hookd verify during a rotation")
        check(readme_verify(s, r.headers, r.body),
              "README verifier during a rotation")


def test_secret_rules_file_modes_and_logs(t):
    rcv = t.receiver()
    h = t.hookd(admin_token=None)    # generated into DATADIR/admin.token
    tok_path = os.path.join(h.data, "admin.token")
    with open(tok_path) as f:
        h.admin = f.read().strip()
    check(len(h.admin) >= 16, "admin token %r" % h.admin)
    seen = [h.admin]
    c = h.client("acme")
    eq(key_len(c["secret"]), 24, "bytes in a client secret")
    seen += [c["token"], c["secret"]]
    body = {"client": "acme", "url": rcv.url("/cb")}
    for n in (23, 65):
        s = new_secret(n)
        got = h.req(422, "POST", "/v1/endpoints", dict(body, secret=s))
        check(s not in json.dumps(got), "error echoes the secret")
    bare = base64.b64encode(secrets.token_bytes(24)).decode()
    h.req(422, "POST", "/v1/endpoints", dict(body, secret=bare))
    eps = []
    for n in (24, 64):
        s = new_secret(n)
        # A URL each: one client cannot have two alike (409).
        ep = h.req(201, "POST", "/v1/endpoints",
                   dict(body, secret=s, url=rcv.url("/cb%d" % n)))
        eq(ep["secret"], s, "supplied secret of %d bytes" % n)
        eps.append(ep)
    ep = h.req(201, "POST", "/v1/endpoints", body)
    eq(key_len(ep["secret"]), 24, "bytes in a generated secret")
    eps.append(ep)
    seen += [e["secret"] for e in eps]
    seen.append(h.req(200, "POST", "/v1/endpoints/%s/rotate-secret"
                      % ep["id"])["secret"])
    seen.append(h.req(200, "POST", "/v1/clients/acme/rotate-token")["token"])
    evt = h.event(data={"x": 1}, callback=rcv.url("/once"))
    h.wait_all(evt["id"], n=4)
    for path in ("/cb", "/cb24", "/cb64", "/once"):
        eq(len(rcv.wait_for(1, path)), 1, "requests to " + path)
    listed = "".join(json.dumps(h.req(200, "GET", p)) for p in (
        "/v1/endpoints", "/v1/clients", "/v1/deliveries", "/v1/events",
        "/v1/deliveries/" + h.deliveries_of(evt["id"])[0]["id"]))
    for s in seen[1:]:
        check(s not in listed, "a secret or token is listed: %s" % s[:10])
    h.restart()
    h.stop()
    for name in ("registry.log", "journal.log", "admin.token"):
        mode = stat.S_IMODE(os.stat(os.path.join(h.data, name)).st_mode)
        eq(mode, 0o600, name + " mode")
    log = h.log()
    check("admin.token" in log, "the token file's path is not logged")
    for s in seen:
        # The value itself, and its random part without the prefix.
        for v in (s, s.split("_", 1)[-1]):
            check(v not in log, "hookd logged a secret or token (%s...)"
                  % v[:10])
