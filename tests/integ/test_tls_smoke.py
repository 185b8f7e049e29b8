"""HTTPS delivery, the smoke test of the TLS build (contract §13): a CA made
with the openssl command line, a Python ssl receiver on loopback, and an
https:// endpoint delivered, signed and verified. The full matrix (wrong host,
untrusted CA, expired, TLS 1.1, resumption, ...) is tests/integ/test_tls.py.
Skipped when hookd -V names no OpenSSL (the plain build; there
test_api.test_endpoint_https_422 checks the 422)."""

import http.server
import os
import shutil
import ssl
import subprocess
import threading

from .harness import (Skip, check, check_signature, eq, run_hookd,
                      wait_until)


def tls_build():
    """Skip unless this hookd speaks TLS and the openssl CLI is here."""
    v = run_hookd("-V").stdout
    if "TLS: OpenSSL" not in v:
        raise Skip("hookd is the plain build (%r): make TLS=openssl"
                   % v.strip().replace("\n", "; "))
    if shutil.which("openssl") is None:
        raise Skip("the openssl command line is not installed")


def make_ca(d):
    """A throw-away CA and a certificate for localhost signed by it, in d.
    Returns (ca.pem, cert.pem, key.pem)."""
    def ossl(*args):
        r = subprocess.run(["openssl"] + list(args), cwd=d,
                           capture_output=True, text=True, timeout=60)
        check(r.returncode == 0, "openssl %s: %s" % (args[0], r.stderr))
    ossl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
         "ca.key", "-out", "ca.pem", "-days", "2", "-subj",
         "/CN=hookd smoke CA")
    ossl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "srv.key",
         "-out", "srv.csr", "-subj", "/CN=localhost")
    with open(os.path.join(d, "ext.cnf"), "w") as f:
        f.write("subjectAltName=DNS:localhost\n")
    ossl("x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey",
         "ca.key", "-CAcreateserial", "-out", "srv.pem", "-days", "2",
         "-extfile", "ext.cnf")
    return tuple(os.path.join(d, n) for n in ("ca.pem", "srv.pem",
                                              "srv.key"))


class TLSReceiver:
    """An HTTPS receiver on 127.0.0.1: records (path, headers, body, SNI)
    of each request and the number of TLS connections it accepted."""

    def __init__(self, cert, key):
        self.lock = threading.Lock()
        self.requests = []
        self.accepted = 0
        self.sni = []
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        ctx.sni_callback = lambda s, name, c: self.sni.append(name)
        rcv = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                with rcv.lock:
                    rcv.requests.append((self.path, dict(
                        (k.lower(), v) for k, v in self.headers.items()),
                        body))
                out = b'{"ack": true}'
                self.send_response(200)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def get_request(self):
                sock, addr = self.socket.accept()
                with rcv.lock:
                    rcv.accepted += 1
                return ctx.wrap_socket(sock, server_side=True), addr

            def handle_error(self, request, client_address):
                pass

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever,
                         daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Req:
    """What check_signature wants of a request."""

    def __init__(self, headers, body):
        self.headers = headers
        self.body = body
        self.method = "POST"


def test_https_delivered_and_verified(t):
    tls_build()
    ca, cert, key = make_ca(t.tmp)
    rcv = TLSReceiver(cert, key)
    try:
        h = t.hookd("tls_ca_file %s\n" % ca)
        h.client("acme")
        ep = h.endpoint("acme", "https://localhost:%d/cb" % rcv.port)
        for i in range(3):
            evt = h.event(data={"refId": str(i)})
            h.wait_all(evt["id"], n=1)
        with rcv.lock:
            got = list(rcv.requests)
        eq(len(got), 3, "requests over https")
        for path, headers, body in got:
            eq(path, "/cb", "path")
            eq(headers.get("host"), "localhost:%d" % rcv.port, "Host")
            check_signature(Req(headers, body), ep["secret"])
        # SNI names the host; the three went over one kept-alive
        # connection (contract §13: reused like plain ones).
        eq(rcv.sni[:1], ["localhost"], "SNI")
        eq(rcv.accepted, 1, "TLS connections for three deliveries")
    finally:
        rcv.close()
    wait_until(lambda: h.running, what="hookd still running")
