"""HTTPS delivery (issue 11, contract §13), against Python `ssl` receivers
on loopback that present certificates of a throw-away PKI (tlsca.py).

In a TLS build (`make TLS=openssl`, `hookd -V` names OpenSSL): delivered
over https, POST and GET, signed; many deliveries over one handshake; a
new connection resumes the session; large requests and answers; every kind
of bad certificate, and a TLS 1.1-only server, refused with the §13 error
and retried; IP-literal URLs verified against IP names; SNI for names only;
the SSRF rules. In the plain build those tests SKIP, and one test checks
the §13 answer 422 instead. test_pki_is_what_the_tests_think runs in both:
it checks the PKI and the receivers with clients this project did not
write (Python's ssl, curl), so a broken test fixture is not mistaken for a
broken hookd, nor a broken hookd for a working one.
"""

import http.client
import socket
import ssl
import warnings

from .harness import (Reply, Skip, check, check_signature, curl, eq,
                      run_hookd)
from .tlsca import TLSReceiver, pki

TLS_422 = "https needs hookd built with TLS (make TLS=openssl)"
VERIFY = "tls: certificate verify failed: "
HANDSHAKE = "tls: handshake failed: "

# What each refused case's reason must say: OpenSSL's own texts for the
# verification result (X509_verify_cert_error_string) and for a server
# that offers only TLS 1.1. Any one of the words matches, case ignored.
REASONS = {
    "hostname": ("hostname mismatch",),
    "ip": ("ip address mismatch",),
    "issuer": ("unable to get local issuer certificate",),
    "self-signed": ("self-signed certificate", "self signed certificate"),
    "expired": ("certificate has expired",),
    "not yet valid": ("certificate is not yet valid",),
    "old protocol": ("unsupported protocol", "protocol version",
                     "wrong version", "no protocols available"),
}

_TLS_BUILD = []


def tls_build():
    """Whether the hookd under test is a TLS build (hookd -V names
    OpenSSL), asked once."""
    if not _TLS_BUILD:
        out = run_hookd("-V")
        eq(out.returncode, 0, "hookd -V exit code")
        _TLS_BUILD.append("OpenSSL" in out.stdout + out.stderr)
    return _TLS_BUILD[0]


def need_tls():
    if not tls_build():
        raise Skip("hookd is not a TLS build (make TLS=openssl)")


def receiver(t, cert="localhost", **kw):
    r = TLSReceiver(cert, **kw)
    t.receivers.append(r)
    return r


def start(t, ca=True, extra="", allow=True):
    """A TLS hookd trusting the test root CA (unless ca=False: then it has
    only the system store, which does not know it), with client acme."""
    h = t.hookd(("tls_ca_file %s\n" % pki().root if ca else "") + extra,
                allow=allow)
    h.client("acme")
    return h


def has_reason(err, kind):
    # Python's ssl gives OpenSSL's reason codes (TLSV1_ALERT_...), hookd
    # may give their texts (tlsv1 alert ...): the same words.
    low = (err or "").lower().replace("_", " ")
    return any(w in low for w in REASONS[kind])


# ------------------------------------------------------- the fixture itself


def client_ctx(ca=True):
    """A Python client context like hookd's: verification on, TLS 1.2 or
    later, trusting the test root CA (or, ca=False, the system store)."""
    ctx = ssl.create_default_context(cafile=pki().root if ca else None)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def handshake_error(port, host, ctx):
    """Handshake with 127.0.0.1:port as host; None when it worked, else the
    verification reason or the error text."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        s = ctx.wrap_socket(raw, server_hostname=host)
        s.close()
        return None
    except ssl.SSLCertVerificationError as e:
        return VERIFY + e.verify_message
    except ssl.SSLError as e:
        return HANDSHAKE + (e.reason or str(e))
    finally:
        raw.close()


def get_over(port, host, ctx, session=None):
    """GET / over a new TLS connection that the server closes after its
    answer; returns (answer bytes, the session to resume with)."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    with ctx.wrap_socket(raw, server_hostname=host, session=session) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: " + host.encode() +
                  b"\r\n\r\n")
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (ssl.SSLEOFError, ConnectionResetError):
                break
            if not chunk:
                break
            data += chunk
        return data, s.session


def test_pki_is_what_the_tests_think(t):
    """Each certificate is right or wrong in exactly the way its test
    assumes, as Python's ssl (the same OpenSSL checks) and curl see it;
    the receivers keep connections alive, close when asked, resume
    sessions, and the TLS 1.1 one speaks TLS 1.1 and nothing newer."""
    cases = [
        ("localhost", "localhost", True, None),
        ("ip", "127.0.0.1", True, None),
        ("chain", "localhost", True, None),
        ("localhost", "127.0.0.1", True, "ip"),
        ("wrongname", "localhost", True, "hostname"),
        ("localhost", "localhost", False, "issuer"),
        ("selfsigned", "localhost", True, "self-signed"),
        ("expired", "localhost", True, "expired"),
        ("notyet", "localhost", True, "not yet valid"),
        ("viainter", "localhost", True, "issuer"),
    ]
    for cert, host, ca, kind in cases:
        r = receiver(t, cert)
        err = handshake_error(r.port, host, client_ctx(ca))
        what = "%s certificate at %s%s" % (cert, host, "" if ca else
                                           " without the test CA")
        if kind is None:
            eq(err, None, what)
        else:
            check(err and err.startswith(VERIFY) and has_reason(err, kind),
                  "%s: %r, want %s%s" % (what, err, VERIFY, REASONS[kind]))
        r.close()

    old = receiver(t, "localhost", max_tls11=True)
    err = handshake_error(old.port, "localhost", client_ctx())
    check(err and err.startswith(HANDSHAKE) and has_reason(err, "old "
                                                           "protocol"),
          "a TLS 1.2+ client at the TLS 1.1 receiver: %r" % err)
    legacy = client_ctx()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        legacy.minimum_version = ssl.TLSVersion.TLSv1_1
    legacy.set_ciphers("DEFAULT:@SECLEVEL=0")
    raw = socket.create_connection(("127.0.0.1", old.port), timeout=10)
    with legacy.wrap_socket(raw, server_hostname="localhost") as s:
        eq(s.version(), "TLSv1.1", "what the TLS 1.1 receiver speaks")

    # curl (its own TLS client) gets an https POST through and keeps the
    # connection for the second request; the wrong name stops it.
    r = receiver(t, "localhost")
    r.on("/x", Reply(200, {"ack": True}))
    res = "localhost:%d:127.0.0.1" % r.port
    out = curl("--cacert", pki().root, "--resolve", res, "-d", "a=1",
               r.url("/x"), "--next", "--cacert", pki().root, "--resolve",
               res, r.url("/y"))
    eq((out.returncode, out.stdout), (0, '{"ack": true}'), "curl over https")
    eq([(q.method, q.path, q.body) for q in r.wait_for(2)],
       [("POST", "/x", b"a=1"), ("GET", "/y", b"")], "what curl sent")
    eq(r.accepted, 1, "TCP connections for curl's two requests")
    eq([(hs.ok, hs.sni) for hs in r.handshakes], [(True, "localhost")],
       "handshakes for curl's two requests")
    bad = receiver(t, "wrongname")
    out = curl("--cacert", pki().root, "--resolve", "localhost:%d:127.0.0.1"
               % bad.port, bad.url("/x"))
    eq(out.returncode, 60, "curl at a wrong-name certificate (exit 60: "
       "peer certificate cannot be authenticated); stderr %r" % out.stderr)
    eq(bad.got(), [], "requests through a refused handshake")

    # Python's http.client: three requests, one connection, one handshake.
    conn = http.client.HTTPSConnection("localhost", r.port, timeout=10,
                                       context=client_ctx())
    for i in range(3):
        conn.request("POST", "/k", body=b"%d" % i)
        resp = conn.getresponse()
        resp.read()
        eq(resp.status, 200, "keep-alive request %d" % i)
    conn.close()
    eq((r.accepted, len(r.wait_handshakes(2))), (2, 2),
       "connections and handshakes after curl's and http.client's")

    # A receiver that closes after each answer; the second connection
    # resumes the first one's session.
    c = receiver(t, "localhost", close_each=True)
    ctx = client_ctx()
    ans, sess = get_over(c.port, "localhost", ctx)
    check(ans.startswith(b"HTTP/1.1 200") and b"Connection: close" in ans,
          "answer of the closing receiver: %r" % ans[:200])
    check(sess is not None, "no session after the first connection")
    ans, _ = get_over(c.port, "localhost", ctx, session=sess)
    check(ans.startswith(b"HTTP/1.1 200"), "second answer %r" % ans[:200])
    eq([hs.reused for hs in c.wait_handshakes(2)], [False, True],
       "session_reused of the closing receiver's two handshakes")
    eq(c.accepted, 2, "connections to the closing receiver")


# ------------------------------------------------------------ plain build


def test_plain_build_answers_422_for_https(t):
    if tls_build():
        raise Skip("hookd is a TLS build: https:// is accepted")
    h = t.hookd()
    h.client("acme")
    status, body, _ = h.api("POST", "/v1/endpoints",
                            {"client": "acme", "url": "https://example.com/x"})
    eq((status, body), (422, {"error": TLS_422}), "https endpoint")
    ep = h.endpoint("acme", "http://example.com/x", enabled=False)
    status, body, _ = h.api("PATCH", "/v1/endpoints/" + ep["id"],
                            {"url": "https://example.com/y"})
    eq((status, body), (422, {"error": TLS_422}), "PATCH to an https url")
    status, body, _ = h.api("POST", "/v1/events?callbackURL=https%3A%2F%2F"
                            "example.com%2Fcb", {"client": "acme",
                                                 "type": "t", "data": {}})
    eq((status, body), (422, {"error": "callbackURL: " + TLS_422}),
       "https callbackURL")
    eq(h.deliveries(), [], "deliveries after the refused event")


# ------------------------------------------------------------ delivered


def test_https_post_and_get_delivered_and_signed(t):
    need_tls()
    h = start(t)
    r = receiver(t, "localhost")
    ack = {"ack": True, "refId": "3283191"}
    r.on("/post/3283191", Reply(200, ack))
    post = h.endpoint("acme", r.url("/post/{refId}"))
    get = h.endpoint("acme", r.url("/get?x=1"), method="GET")
    eq(post["url"], "https://localhost:%d/post/{refId}" % r.port, "url kept")
    raw = b'{"refId": "3283191", "ok": true}'
    evt = h.event(raw=raw)
    ds = {d["endpoint"]: d for d in h.wait_all(evt["id"], n=2)}
    eq((ds[post["id"]]["ack"], ds[post["id"]]["last"]["status"]),
       (ack, 200), "the POST delivery's answer, read over TLS")
    p = r.wait_for(1, "/post/3283191")[0]
    eq((p.method, p.body, p.headers["webhook-id"]), ("POST", raw, evt["id"]),
       "POST over https")
    check_signature(p, post["secret"])
    g = r.wait_for(1, "/get")[0]
    eq((g.method, g.query, g.body), ("GET", "x=1&refId=3283191&ok=true", b""),
       "GET over https")
    check_signature(g, get["secret"], payload=g.query.encode())
    for hs in r.handshakes:
        check(hs.ok and hs.version in ("TLSv1.2", "TLSv1.3") and
              hs.sni == "localhost", "handshake %r: want TLS 1.2 or 1.3 "
              "with SNI localhost" % hs)


def test_https_many_deliveries_one_handshake(t):
    need_tls()
    h = start(t)
    r = receiver(t, "localhost")
    h.endpoint("acme", r.url("/cb"))
    n = 8
    for i in range(n):
        # One after the other: each finds the connection idle in the pool.
        h.wait_all(h.event(data={"n": i})["id"], n=1)
    eq([q.body for q in r.wait_for(n, "/cb")],
       [b'{"n": %d}' % i for i in range(n)], "bodies")
    eq((r.accepted, len(r.handshakes)), (1, 1),
       "TCP connections and handshakes for %d deliveries" % n)


def test_https_new_connection_resumes_session(t):
    need_tls()
    h = start(t)
    r = receiver(t, "localhost", close_each=True)
    h.endpoint("acme", r.url("/cb"))
    for i in range(3):
        h.wait_all(h.event(data={"n": i})["id"], n=1)
    hs = r.wait_handshakes(3)
    eq([x.ok for x in hs], [True] * 3, "handshakes")
    eq(r.accepted, 3, "connections (the receiver closes after each answer)")
    eq([x.reused for x in hs], [False, True, True],
       "session_reused of each handshake")


def test_https_large_request_and_answer(t):
    """A 600 KB POST on a fresh connection (TLS 1.3 session tickets arrive
    while it is written) and a 900 KB answer, much of which sits decrypted
    inside the TLS library with no poll event for it; then a short one on
    the same kept-alive connection, so the big answer was read to its end
    and not cut with the connection dropped."""
    need_tls()
    h = start(t)
    r = receiver(t, "localhost")
    big = b"y" * (900 * 1024)
    r.on("/big", Reply(200, big))
    r.on("/small", Reply(200, {"ack": True}))
    ep = h.endpoint("acme", r.url("/{p}"))
    raw = b'{"p": "big", "pad": "' + b"x" * (600 * 1000) + b'"}'
    d = h.wait_all(h.event(raw=raw)["id"], n=1)[0]
    eq((d["status"], d["attempts"], d["last"]["error"]),
       ("delivered", 1, None), "the big delivery")
    q = r.wait_for(1, "/big")[0]
    eq(len(q.body), len(raw), "request body length")
    check(q.body == raw, "request body differs from what was posted")
    check_signature(q, ep["secret"])
    d = h.wait_all(h.event(data={"p": "small"})["id"], n=1)[0]
    eq((d["ack"], d["attempts"]), ({"ack": True}, 1), "the next delivery")
    eq((r.accepted, len(r.handshakes)), (1, 1),
       "connections and handshakes for the big answer and the next one")


def test_https_intermediate_sent_by_server_delivered(t):
    need_tls()
    h = start(t)
    r = receiver(t, "chain")
    h.endpoint("acme", r.url("/cb"))
    d = h.wait_all(h.event(data={})["id"], n=1)[0]
    eq((d["status"], d["attempts"]), ("delivered", 1),
       "a leaf of the intermediate CA, sent with the intermediate")


def test_https_ip_literal_delivered_without_sni(t):
    need_tls()
    h = start(t)
    r = receiver(t, "ip")
    h.endpoint("acme", r.url("/cb", host="127.0.0.1"))
    d = h.wait_all(h.event(data={})["id"], n=1)[0]
    eq((d["status"], d["attempts"]), ("delivered", 1),
       "https://127.0.0.1 with a certificate for IP 127.0.0.1")
    eq([(x.ok, x.sni) for x in r.handshakes], [(True, None)],
       "handshake (no SNI for an IP literal, RFC 6066 section 3)")


def test_https_default_port_443(t):
    """https:// without a port connects to 443 (needs root, or the right
    to bind 127.0.0.1:443, and the port free: else SKIP)."""
    need_tls()
    try:
        r = receiver(t, "localhost", port=443)
    except OSError as e:
        raise Skip("cannot listen on 127.0.0.1:443 here (%s)" % e)
    h = start(t)
    h.endpoint("acme", "https://localhost/cb")
    d = h.wait_all(h.event(data={})["id"], n=1)[0]
    eq((d["status"], d["attempts"]), ("delivered", 1),
       "https://localhost/cb, delivered to port 443")
    eq(len(r.got("/cb")), 1, "requests on port 443")


# -------------------------------------------------------------- refused


def refused(t, cert, kind, prefix=VERIFY, host="localhost", ca=True,
            **kw):
    """Deliver to a receiver presenting cert: every attempt must reach the
    receiver's TLS handshake, fail with prefix + a reason of kind (in the
    attempt log and in hookd's log), send no HTTP request, and be retried
    by the schedule until the delivery fails (BASE_CONF: 4 attempts)."""
    need_tls()
    h = start(t, ca=ca)
    r = receiver(t, cert, **kw)
    h.endpoint("acme", r.url("/cb", host=host))
    did = h.deliveries_of(h.event(data={})["id"])[0]["id"]
    d = h.wait_delivery(did, lambda d: d["status"] != "pending")
    eq(d["status"], "failed", "the delivery's end")
    log = h.delivery(did)["log"]
    eq((d["attempts"], len(log)), (4, 4), "attempts (retried like any "
       "transport error, contract §5)")
    for a in log:
        err = a["error"] or ""
        check(a["status"] is None and err.startswith(prefix) and
              has_reason(err, kind), "attempt %r: want status null and "
              "error %s<reason with one of %s>" % (a, prefix,
                                                   REASONS[kind]))
    # Each attempt got as far as the handshake, and none finished it.
    hs = r.wait_handshakes(4)
    check(not any(x.ok for x in hs), "handshakes the receiver saw end "
          "well: %r" % hs)
    eq(r.got(), [], "HTTP requests through a refused handshake")
    logs = t.logs()
    check('error="%s' % log[0]["error"] in logs,
          "hookd's log has no error=\"%s\"" % log[0]["error"])
    return log


def test_https_wrong_host_name_refused(t):
    refused(t, "wrongname", "hostname")


def test_https_untrusted_ca_refused(t):
    # No tls_ca_file: the system store does not know the test root CA.
    refused(t, "localhost", "issuer", ca=False)


def test_https_self_signed_refused(t):
    refused(t, "selfsigned", "self-signed")


def test_https_expired_refused(t):
    refused(t, "expired", "expired")


def test_https_not_yet_valid_refused(t):
    refused(t, "notyet", "not yet valid")


def test_https_missing_intermediate_refused(t):
    # The server sends only its leaf, signed by the intermediate that
    # hookd does not have: the chain cannot be built to the root.
    refused(t, "viainter", "issuer")


def test_https_tls11_only_server_refused(t):
    refused(t, "localhost", "old protocol", prefix=HANDSHAKE,
            max_tls11=True)


def test_https_ip_literal_with_name_only_cert_refused(t):
    # The certificate names localhost, not 127.0.0.1.
    refused(t, "localhost", "ip", host="127.0.0.1")


def test_https_ssrf_rules_apply(t):
    need_tls()
    h = start(t, allow=False)
    r = receiver(t, "ip")
    for url, what in ((r.url("/cb", host="127.0.0.1"),
                       "127.0.0.1 is loopback"),
                      (r.url("/cb"), "localhost is loopback")):
        status, body, _ = h.api("POST", "/v1/endpoints",
                                {"client": "acme", "url": url})
        eq((status, body), (422, {"error": "destination not allowed: %s; "
                                  "allow_destinations opens it" % what}),
           url)
    eq(r.accepted, 0, "connections to the receiver")
