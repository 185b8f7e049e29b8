"""HTTPS delivery against hostile or broken TLS peers (issue 11, contract
§13 and §5), and the TLS configuration's edges.

Each hostile peer is a raw socket listener on loopback (or Python's ssl
wrapped around one) that misbehaves in one way during or after the
handshake. Every such attempt must end as a classified attempt error that
the schedule retries: never a crash, a hang or a busy loop, and a good
https receiver next to it keeps getting its deliveries meanwhile.
In the plain build the tests that need TLS SKIP.
"""

import os
import signal
import socket
import ssl
import struct
import subprocess
import threading
import time

from .harness import check, cpu_seconds, eq, run_hookd, wait_until
from .test_tls import need_tls, receiver, start, tls_build
from .tlsca import pki, server_context

# A generous ceiling for the CPU hookd may use while it waits on a peer
# that sends nothing (a busy loop burns the whole window).
IDLE_WINDOW = 2.0
IDLE_CPU_MAX = 0.3


class Peer:
    """A listener on 127.0.0.1:<free port> that hands each accepted
    connection to fn(sock, n) in its own thread (n counts from 1). fn owns
    the socket until it returns; the socket is closed after. tls=True:
    the connection is wrapped in ssl with the PKI's localhost certificate
    first (fn then gets the ssl socket)."""

    def __init__(self, fn, tls=False, cert="localhost"):
        self.fn = fn
        self.ctx = server_context(cert) if tls else None
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self.accepted = 0
        self.lock = threading.Condition()
        self.stopping = threading.Event()
        self.socks = []
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, path="/cb", host="localhost"):
        return "https://%s:%d%s" % (host, self.port, path)

    def _accept(self):
        while not self.stopping.is_set():
            try:
                s, _ = self.lsock.accept()
            except OSError:
                return
            with self.lock:
                self.accepted += 1
                n = self.accepted
                self.socks.append(s)
                self.lock.notify_all()
            threading.Thread(target=self._serve, args=(s, n),
                             daemon=True).start()

    def _serve(self, s, n):
        s.settimeout(30)
        try:
            if self.ctx is not None:
                s = self.ctx.wrap_socket(s, server_side=True)
            self.fn(s, n, self.stopping)
        except (OSError, ValueError, ssl.SSLError):
            pass
        finally:
            try:
                s.close()
            except OSError:
                pass

    def wait_accepted(self, n, timeout=15.0):
        with self.lock:
            check(self.lock.wait_for(lambda: self.accepted >= n, timeout),
                  "peer: %d of %d connections within %.0fs"
                  % (self.accepted, n, timeout))

    def close(self):
        self.stopping.set()
        try:
            self.lsock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.lsock.close()
        with self.lock:
            socks = list(self.socks)
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def peer(t, fn, **kw):
    p = Peer(fn, **kw)
    t.receivers.append(p)
    return p


def read_hello(s):
    """Read the client's first TLS record (its ClientHello)."""
    head = recv_exact(s, 5)
    return head + recv_exact(s, struct.unpack("!H", head[3:5])[0])


def recv_exact(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise OSError("peer closed")
        data += chunk
    return data


def read_request(s):
    """Read one HTTP request head and its Content-Length body."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            raise OSError("closed")
        buf += chunk
    head, body = buf.split(b"\r\n\r\n", 1)
    n = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            n = int(v)
    while len(body) < n:
        body += s.recv(65536)
    return head


def hold(stopping):
    """Keep the connection open, saying nothing, until the test ends."""
    stopping.wait(60)


def hostile(t, fn, want, tls=False, attempts=2, idle_check=False,
            **kw):
    """Deliver to a peer that behaves as fn, next to a good https
    receiver: the peer's delivery must fail its attempts with an error
    starting with one of want (a string or a tuple), and be retried (at
    least attempts of them); the good one is delivered meanwhile; hookd
    stays up, answers, and (idle_check) burns no CPU while it waits."""
    need_tls()
    h = start(t, **kw)
    bad = peer(t, fn, tls=tls)
    good = receiver(t, "localhost")
    h.endpoint("acme", bad.url("/bad"), events=["bad"])
    h.endpoint("acme", good.url("/good"), events=["good"])
    did = h.deliveries_of(h.event(type="bad", data={})["id"])[0]["id"]
    bad.wait_accepted(1)
    if idle_check:
        before = cpu_seconds(h.proc.pid)
        time.sleep(IDLE_WINDOW)
        used = cpu_seconds(h.proc.pid) - before
        check(used < IDLE_CPU_MAX, "hookd used %.2fs of CPU in %.0fs while "
              "a TLS peer said nothing (a busy loop?)" % (used, IDLE_WINDOW))
    # Other deliveries flow while the bad one is stuck or failing.
    for i in range(2):
        h.wait_all(h.event(type="good", data={"i": i})["id"], n=1)
    d = h.wait_delivery(did, lambda d: d["attempts"] >= attempts,
                        timeout=30)
    log = h.delivery(did)["log"]
    want = (want,) if isinstance(want, str) else want
    for a in log[:attempts]:
        err = a["error"] or ""
        check(a["status"] is None and err.startswith(want),
              "attempt %r: want an error starting with one of %r"
              % (a, want))
    check(d["status"] in ("pending", "failed"), "delivery %r" % d)
    check(h.running, "hookd exited")
    eq(h.api("GET", "/healthz", token=None)[0], 200, "/healthz")
    return log


# ------------------------------------------------------ during the handshake


def test_tls_peer_silent_after_hello_times_out(t):
    def fn(s, n, stopping):
        read_hello(s)
        hold(stopping)
    hostile(t, fn, "timeout", idle_check=True)


def test_tls_peer_garbage_instead_of_server_hello(t):
    def fn(s, n, stopping):
        read_hello(s)
        s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n" * 4)
        hold(stopping)
    hostile(t, fn, "tls: handshake failed: ")


def test_tls_peer_reset_mid_handshake(t):
    def fn(s, n, stopping):
        read_hello(s)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                     struct.pack("ii", 1, 0))
    hostile(t, fn, ("tls: handshake failed: ", "connection reset"))


def test_tls_peer_closes_mid_handshake(t):
    def fn(s, n, stopping):
        read_hello(s)
    hostile(t, fn, "tls: handshake failed: ")


def test_tls_peer_fatal_alert(t):
    def fn(s, n, stopping):
        read_hello(s)
        # A fatal handshake_failure alert (RFC 8446 §6).
        s.sendall(b"\x15\x03\x03\x00\x02\x02\x28")
        hold(stopping)
    log = hostile(t, fn, "tls: handshake failed: ")
    check("alert" in log[0]["error"], "the error names the alert: %r"
          % log[0]["error"])


def test_tls_peer_dribbles_handshake(t):
    """A real TLS server behind a relay that passes its bytes on one at a
    time, slowly: the handshake never ends within timeout (2 s), however
    much progress each byte makes."""
    need_tls()
    inner = receiver(t, "localhost")

    def fn(s, n, stopping):
        up = socket.create_connection(("127.0.0.1", inner.port))
        try:
            up.sendall(read_hello(s))
            while not stopping.is_set():
                b = up.recv(1)
                if not b:
                    return
                s.sendall(b)
                time.sleep(0.05)
        finally:
            up.close()
    hostile(t, fn, "timeout")


def test_tls_peer_huge_certificate_chain(t):
    """A server sending a chain of ~200 KB (the leaf, then the root CA
    over and over): refused by the handshake, not buffered without end."""
    need_tls()
    certfile, keyfile = pki().cert("localhost")
    big = os.path.join(t.tmp, "huge-chain.pem")
    with open(certfile) as f:
        leaf = f.read()
    with open(pki().root) as f:
        root = f.read()
    with open(big, "w") as f:
        f.write(leaf + root * 400)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(big, keyfile)

    def fn(s, n, stopping):
        ctx.wrap_socket(s, server_side=True)
        hold(stopping)
    hostile(t, fn, "tls: handshake failed: ")


# -------------------------------------------------------- after the handshake


def test_tls_peer_closes_right_after_handshake(t):
    def fn(s, n, stopping):
        s.unwrap()
    hostile(t, fn, "connection closed", tls=True)


def test_tls_peer_resets_right_after_handshake(t):
    def fn(s, n, stopping):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                     struct.pack("ii", 1, 0))
    hostile(t, fn, ("connection closed", "connection reset"), tls=True)


def test_tls_peer_answers_then_hangs_without_close_delivered(t):
    need_tls()

    def fn(s, n, stopping):
        while True:
            read_request(s)
            s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    h = start(t)
    p = peer(t, fn, tls=True)
    h.endpoint("acme", p.url())
    for i in range(3):
        d = h.wait_all(h.event(data={"i": i})["id"], n=1)[0]
        eq((d["status"], d["attempts"]), ("delivered", 1), "delivery %d" % i)
    eq(p.accepted, 1, "connections (the one kept alive)")


def test_tls_peer_close_delimited_body_then_hangs_times_out(t):
    def fn(s, n, stopping):
        read_request(s)
        s.sendall(b"HTTP/1.1 200 OK\r\n\r\npart of a body")
        hold(stopping)
    hostile(t, fn, "timeout", tls=True)


def test_tls_peer_close_delimited_body_without_close_notify(t):
    def fn(s, n, stopping):
        read_request(s)
        s.sendall(b"HTTP/1.1 200 OK\r\n\r\n{\"ack\": true}")
        # A bare TCP close: the ssl object is dropped, not unwrapped.
        s.shutdown(socket.SHUT_RDWR)
    hostile(t, fn, "bad response: closed without TLS close_notify",
            tls=True)


def test_tls_peer_close_delimited_body_with_close_notify_delivered(t):
    need_tls()

    def fn(s, n, stopping):
        read_request(s)
        s.sendall(b"HTTP/1.1 200 OK\r\n\r\n{\"ack\": true}")
        s.unwrap()
    h = start(t)
    p = peer(t, fn, tls=True)
    h.endpoint("acme", p.url())
    d = h.wait_all(h.event(data={})["id"], n=1)[0]
    eq((d["status"], d["attempts"], d["ack"]), ("delivered", 1,
                                                {"ack": True}),
       "a close-delimited body ended by close_notify")


def test_tls_peer_close_notify_instead_of_answer(t):
    def fn(s, n, stopping):
        read_request(s)
        s.unwrap()
    hostile(t, fn, "connection closed", tls=True)


# --------------------------------------------------------- the pool


def test_tls_idle_connection_closed_by_receiver_not_a_failure(t):
    """A pooled TLS connection the receiver closes while it is idle (with
    close_notify, then with a bare close): the next delivery is delivered
    at its first attempt."""
    need_tls()
    for notify in (True, False):
        def fn(s, n, stopping, notify=notify):
            read_request(s)
            s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            time.sleep(0.3)
            if notify:
                s.unwrap()
            else:
                s.shutdown(socket.SHUT_RDWR)
        h = start(t)
        p = peer(t, fn, tls=True)
        h.endpoint("acme", p.url())
        for i in range(3):
            d = h.wait_all(h.event(data={"i": i})["id"], n=1)[0]
            eq((d["status"], d["attempts"]), ("delivered", 1),
               "delivery %d (close_notify %s)" % (i, notify))
            time.sleep(0.8)
        h.stop()


def test_tls_http_and_https_on_one_port_never_mix(t):
    """One port answering plain HTTP and TLS (the first byte tells): http
    and https endpoints on it, delivered in turns, each request arrives on
    a connection of its own scheme."""
    need_tls()
    ctx = server_context("localhost")
    seen = []

    def fn(s, n, stopping):
        first = s.recv(1, socket.MSG_PEEK)
        tls = first == b"\x16"
        if tls:
            s = ctx.wrap_socket(s, server_side=True)
        while True:
            head = read_request(s)
            seen.append((tls, head.split(b" ")[1]))
            s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    h = start(t)
    p = peer(t, fn)
    h.endpoint("acme", "http://localhost:%d/plain" % p.port)
    h.endpoint("acme", p.url("/tls"))
    for i in range(4):
        h.wait_all(h.event(data={"i": i})["id"], n=2)
    eq(sorted(set(seen)), [(False, b"/plain"), (True, b"/tls")],
       "(over TLS, path) of every request")
    eq(len(seen), 8, "requests")


# ------------------------------------------------------------ config


def test_tls_ca_file_without_certificates_refused(t):
    """A tls_ca_file that is PEM but holds no certificate (a CRL only)
    would make every https delivery fail: refused at -n, at start and at
    reload, with a message that says what is wrong."""
    need_tls()
    crl = os.path.join(t.tmp, "crl-only.pem")
    cnf = os.path.join(t.tmp, "crl.cnf")
    open(os.path.join(t.tmp, "index.txt"), "w").close()
    with open(os.path.join(t.tmp, "crlnumber"), "w") as f:
        f.write("01\n")
    with open(cnf, "w") as f:
        f.write("[ ca ]\ndefault_ca = c\n[ c ]\ndatabase = %s/index.txt\n"
                "crlnumber = %s/crlnumber\ndefault_md = sha256\n"
                "default_crl_days = 30\n" % (t.tmp, t.tmp))
    out = subprocess.run(["openssl", "ca", "-gencrl", "-config", cnf,
                          "-keyfile", pki().path("root.key"), "-cert",
                          pki().root, "-out", crl], capture_output=True,
                         text=True, timeout=60)
    eq(out.returncode, 0, "openssl ca -gencrl: %s" % out.stderr)
    conf = os.path.join(t.tmp, "c.conf")
    with open(conf, "w") as f:
        f.write("tls_ca_file %s\n" % crl)
    out = run_hookd("-n", "-c", conf)
    eq(out.returncode, 1, "hookd -n exit code; stdout %r stderr %r"
       % (out.stdout, out.stderr))
    check("no CA certificate" in out.stderr, "hookd -n says: %r"
          % out.stderr)
    h = start(t)
    with open(h.conf_path) as f:
        good = f.read()
    h.write_conf(good.replace(pki().root, crl))
    h.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "reload failed" in h.log(), what="reload failed")
    check("no CA certificate" in h.log(), "the reload error: %r"
          % h.log())


def test_tls_reload_changes_and_breaks_ca_file(t):
    """SIGHUP with a tls_ca_file that cannot be read keeps the old one
    (deliveries go on); with another CA, new connections are verified
    against it (and fail, the receiver's CA being gone)."""
    need_tls()
    h = start(t)
    r = receiver(t, "localhost", close_each=True)
    h.endpoint("acme", r.url("/cb"))
    h.wait_all(h.event(data={})["id"], n=1)
    with open(h.conf_path) as f:
        good = f.read()
    h.write_conf(good.replace(pki().root, os.path.join(t.tmp, "nope.pem")))
    h.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "reload failed" in h.log(), what="reload failed")
    d = h.wait_all(h.event(data={})["id"], n=1)[0]
    eq(d["attempts"], 1, "attempts after the failed reload")
    # Another CA, which did not sign the receiver's certificate.
    h.write_conf(good.replace(pki().root, pki().path("selfsigned.pem")))
    h.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "msg=reloaded" in h.log(), what="reloaded")
    did = h.deliveries_of(h.event(data={})["id"])[0]["id"]
    d = h.wait_delivery(did, lambda d: d["attempts"] >= 1 and
                        d["last"]["error"] is not None)
    check(d["last"]["error"].startswith("tls: certificate verify failed"),
          "after the reload to another CA: %r" % d["last"])


def relay(s, port):
    """Pass bytes both ways between s and 127.0.0.1:port until either
    side closes."""
    up = socket.create_connection(("127.0.0.1", port))

    def pump(a, b):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                b.sendall(data)
        except OSError:
            pass
        for x in (a, b):
            try:
                x.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
    back = threading.Thread(target=pump, args=(up, s), daemon=True)
    back.start()
    pump(s, up)
    back.join(30)
    up.close()


def test_tls_reload_session_of_old_ca_not_resumed(t):
    """A handshake begun before a reload that changes tls_ca_file ends
    after it (its session arrives then): that session, verified against
    the old CA, must not be kept for resumption, or the next connection
    would skip verification against the new CA."""
    need_tls()
    inner = receiver(t, "localhost", close_each=True)
    gate = threading.Event()

    # The relay forwards the ClientHello it has read, then the rest.
    def fn(s, n, stopping):
        hello = read_hello(s)
        if n == 1:
            gate.wait(30)
        relay(PrefixSocket(s, hello), inner.port)
    h = start(t, extra="timeout 20s\n")
    p = peer(t, fn)
    h.endpoint("acme", p.url())
    first = h.event(data={"n": 1})["id"]
    p.wait_accepted(1)
    with open(h.conf_path) as f:
        good = f.read()
    h.write_conf(good.replace(pki().root, pki().path("selfsigned.pem")))
    h.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "msg=reloaded" in h.log(), what="reloaded")
    gate.set()
    h.wait_all(first, n=1)
    did = h.deliveries_of(h.event(data={"n": 2})["id"])[0]["id"]
    d = h.wait_delivery(did, lambda d: d["attempts"] >= 1)
    check(d["status"] != "delivered" and
          (d["last"]["error"] or "").startswith(
              "tls: certificate verify failed"),
          "a new connection after the reload to another CA: %r (%r)"
          % (d["last"], [x.reused for x in inner.handshakes]))


class PrefixSocket:
    """A socket whose first recv returns prefix (bytes already read)."""

    def __init__(self, s, prefix):
        self.s = s
        self.prefix = prefix

    def recv(self, n):
        if self.prefix:
            data, self.prefix = self.prefix, b""
            return data
        return self.s.recv(n)

    def sendall(self, data):
        self.s.sendall(data)

    def shutdown(self, how):
        self.s.shutdown(how)


def test_tls_plain_build_refuses_tls_ca_file(t):
    if tls_build():
        from .harness import Skip
        raise Skip("hookd is a TLS build")
    conf = os.path.join(t.tmp, "c.conf")
    with open(conf, "w") as f:
        f.write("tls_ca_file /etc/ssl/certs/ca-certificates.crt\n")
    out = run_hookd("-n", "-c", conf)
    eq(out.returncode, 1, "hookd -n exit code")
    check("tls_ca_file needs hookd built with TLS (make TLS=openssl)" in
          out.stderr, "hookd -n says: %r" % out.stderr)


# ------------------------------------------------------------ crash


def test_tls_kill9_in_flight_redelivered(t):
    """kill -9 while TLS deliveries wait for their answers: after the
    restart every one of them is delivered."""
    need_tls()
    release = threading.Event()

    def fn(s, n, stopping):
        while True:
            read_request(s)
            if n <= 3:
                release.wait(30)
            s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    h = start(t, extra="timeout 30s\n")
    p = peer(t, fn, tls=True)
    h.endpoint("acme", p.url())
    ids = [h.event(data={"i": i})["id"] for i in range(3)]
    p.wait_accepted(3)
    h.kill9()
    release.set()
    h.start()
    for e in ids:
        h.wait_all(e, n=1, timeout=30)


def read_head(s):
    """Read until the end of a request head; the body is left unread."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            raise OSError("closed")
        buf += chunk
    return buf


def test_tls_early_answer_then_reset_is_judged(t):
    """Contract §12 over TLS: a 413 with a Content-Length sent from the
    request head alone, then a reset with most of an 8 MB body unsent:
    the 413 is judged (failed at once), not a transport error."""
    need_tls()

    def fn(s, n, stopping):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        read_head(s)
        s.sendall(b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 7\r\n"
                  b"Connection: close\r\n\r\ntoo big")
        time.sleep(0.2)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                     struct.pack("ii", 1, 0))
    h = start(t, extra="max_body 16777216\ntimeout 20s\n")
    p = peer(t, fn, tls=True)
    h.endpoint("acme", p.url())
    did = h.deliveries_of(h.event(data={"pad": "x" * (8 << 20)})["id"])[0][
        "id"]
    d = h.wait_delivery(did, lambda d: d["attempts"] >= 1, timeout=30)
    eq((d["last"]["status"], d["last"]["error"]), (413, None),
       "the early answer, over TLS")
