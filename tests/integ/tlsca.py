"""A throw-away PKI and HTTPS receivers for the TLS tests (contract §13).

The PKI is made once per test run with the `openssl` command line in a
temporary directory (removed at exit): a root CA, an intermediate CA, and
server certificates that are right or wrong in exactly one way each. The
receivers are the harness' Receiver (threaded http.server, keep-alive
HTTP/1.1, scripted replies) with Python's `ssl` wrapped around each
accepted connection, counting accepted TCP connections and handshakes, and
whether each handshake resumed a session.

Python 3.11 standard library and the openssl command only.
"""

import atexit
import os
import shutil
import ssl
import subprocess
import tempfile
import threading
import warnings

from .harness import Receiver

# One section per kind of certificate; `openssl ca` and `openssl req` read
# only this file (OPENSSL_CONF points here), never the system's.
OPENSSL_CNF = """\
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = unused
[ ca ]
default_ca = testca
[ testca ]
dir = {dir}
database = {dir}/index.txt
serial = {dir}/serial
new_certs_dir = {dir}/newcerts
default_md = sha256
policy = any
unique_subject = no
email_in_dn = no
copy_extensions = none
[ any ]
commonName = supplied
[ v3_root ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ v3_inter ]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ v3_localhost ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:localhost
[ v3_ip ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = IP:127.0.0.1
[ v3_wrongname ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:wrong.example
[ v3_self ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
subjectAltName = DNS:localhost
"""

# The server certificates: name -> (signed by, extension section, start
# date, end date, subject). Dates are openssl's YYYYMMDDHHMMSSZ; None is
# "now" and "in ten years".
LEAVES = {
    "localhost": ("root", "v3_localhost", None, None, "localhost"),
    "ip": ("root", "v3_ip", None, None, "127.0.0.1"),
    "wrongname": ("root", "v3_wrongname", None, None, "wrong.example"),
    "expired": ("root", "v3_localhost", "20000101000000Z",
                "20010101000000Z", "localhost"),
    "notyet": ("root", "v3_localhost", "20990101000000Z",
               "21000101000000Z", "localhost"),
    "viainter": ("inter", "v3_localhost", None, None, "localhost"),
}


class PKI:
    """The files of the throw-away PKI, all PEM in self.dir.

    root: the root CA certificate (what tls_ca_file names).
    cert(name): (certificate file, key file) for a server, where name is
    one of LEAVES, "selfsigned" (a self-signed localhost certificate) or
    "chain" (the "viainter" leaf followed by the intermediate, what a
    correctly configured server sends)."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="hookd-pki-")
        atexit.register(shutil.rmtree, self.dir, True)
        os.makedirs(os.path.join(self.dir, "newcerts"))
        with open(self.path("index.txt"), "w"):
            pass
        with open(self.path("serial"), "w") as f:
            f.write("1000\n")
        with open(self.path("openssl.cnf"), "w") as f:
            f.write(OPENSSL_CNF.format(dir=self.dir))
        self.env = dict(os.environ, OPENSSL_CONF=self.path("openssl.cnf"))
        self.root = self.path("root.pem")
        self._make()

    def path(self, name):
        return os.path.join(self.dir, name)

    def _run(self, *args):
        out = subprocess.run(["openssl"] + list(args), cwd=self.dir,
                             env=self.env, capture_output=True, text=True,
                             timeout=60)
        if out.returncode != 0:
            raise AssertionError("test PKI: openssl %s failed: %s"
                                 % (" ".join(args), out.stderr.strip()))

    def _key(self, name):
        # P-256 keys: made in milliseconds, accepted by every TLS version.
        self._run("genpkey", "-algorithm", "EC", "-pkeyopt",
                  "ec_paramgen_curve:P-256", "-out", name + ".key")
        return self.path(name + ".key")

    def _sign(self, name, issuer, ext, start, end, cn):
        self._key(name)
        self._run("req", "-new", "-key", name + ".key", "-subj", "/CN=" + cn,
                  "-out", name + ".csr")
        dates = ["-startdate", start, "-enddate", end] if end else \
            ["-days", "3650"]
        self._run("ca", "-batch", "-notext", "-config", "openssl.cnf",
                  "-cert", issuer + ".pem", "-keyfile", issuer + ".key",
                  "-extensions", ext, "-in", name + ".csr", "-out",
                  name + ".pem", *dates)

    def _make(self):
        self._key("root")
        self._run("req", "-x509", "-new", "-key", "root.key", "-subj",
                  "/CN=hookd test root CA", "-days", "3650", "-extensions",
                  "v3_root", "-out", "root.pem")
        self._sign("inter", "root", "v3_inter", None, None,
                   "hookd test intermediate CA")
        for name, (issuer, ext, start, end, cn) in LEAVES.items():
            self._sign(name, issuer, ext, start, end, cn)
        self._key("selfsigned")
        self._run("req", "-x509", "-new", "-key", "selfsigned.key", "-subj",
                  "/CN=localhost", "-days", "3650", "-extensions", "v3_self",
                  "-out", "selfsigned.pem")
        with open(self.path("chain.pem"), "w") as out:
            for part in ("viainter.pem", "inter.pem"):
                with open(self.path(part)) as f:
                    out.write(f.read())
        shutil.copy(self.path("viainter.key"), self.path("chain.key"))

    def cert(self, name):
        return self.path(name + ".pem"), self.path(name + ".key")


_PKI = None
_PKI_LOCK = threading.Lock()


def pki():
    """The run's PKI, made on first use."""
    global _PKI
    with _PKI_LOCK:
        if _PKI is None:
            _PKI = PKI()
        return _PKI


def server_context(cert, max_tls11=False):
    """An ssl server context presenting cert (a PKI.cert name). max_tls11:
    TLS 1.0 and 1.1 only, the ciphers of security level 0 (which is what
    this OpenSSL needs to speak them at all)."""
    certfile, keyfile = pki().cert(cert)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(certfile, keyfile)
    if max_tls11:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = ssl.TLSVersion.TLSv1
            ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    return ctx


class Handshake:
    """One TLS handshake a TLSReceiver saw: ok, the protocol version,
    whether the session was resumed, the SNI name the client sent (None
    when it sent none) and, when it failed, the server's error text."""

    def __init__(self, ok, version=None, reused=False, sni=None, error=None):
        self.ok = ok
        self.version = version
        self.reused = reused
        self.sni = sni
        self.error = error

    def __repr__(self):
        if not self.ok:
            return "<handshake failed: %s>" % self.error
        return "<%s%s sni=%r>" % (self.version, " resumed" if self.reused
                                  else "", self.sni)


class TLSReceiver(Receiver):
    """The harness Receiver over TLS on 127.0.0.1:<free port>.

    cert: which PKI certificate it presents (see PKI.cert). close_each:
    answer every response with Connection: close and close the connection
    after it (without a TLS close_notify, as many servers do), so the next
    delivery needs a new connection. max_tls11: speak TLS 1.0/1.1 only.
    port: where to listen (default: a free port).

    .accepted counts accepted TCP connections; .handshakes lists a
    Handshake per connection, in order, once its handshake ended."""

    def __init__(self, cert="localhost", close_each=False, max_tls11=False,
                 port=0):
        super().__init__(port)
        self.ctx = server_context(cert, max_tls11)
        self.close_each = close_each
        self.accepted = 0
        self.handshakes = []
        self._sni = threading.local()
        rcv = self

        def on_sni(sslsock, name, ctx):
            rcv._sni.name = name
        self.ctx.sni_callback = on_sni
        base = self.server.RequestHandlerClass

        class TLSHandler(base):
            def setup(self):
                with rcv.lock:
                    rcv.accepted += 1
                    rcv.lock.notify_all()
                rcv._sni.name = None
                self.request.settimeout(30)
                try:
                    self.request = rcv.ctx.wrap_socket(self.request,
                                                       server_side=True)
                except (ssl.SSLError, OSError) as e:
                    rcv._handshake(Handshake(False, error=str(e)))
                    raise
                rcv._handshake(Handshake(True, self.request.version(),
                                         self.request.session_reused,
                                         rcv._sni.name))
                super().setup()

            def end_headers(self):
                if rcv.close_each:
                    self.send_header("Connection", "close")
                super().end_headers()

        # Read per accepted connection, so replacing it before the port is
        # handed out is safe although the server thread already runs.
        self.server.RequestHandlerClass = TLSHandler

    def _handshake(self, hs):
        with self.lock:
            self.handshakes.append(hs)
            self.lock.notify_all()

    def url(self, path="/", host="localhost"):
        return "https://%s:%d%s" % (host, self.port, path)

    def wait_handshakes(self, n, timeout=15.0):
        """Wait until n handshakes (ok or not) ended; return the list."""
        with self.lock:
            ok = self.lock.wait_for(lambda: len(self.handshakes) >= n,
                                    timeout)
            if not ok:
                raise AssertionError("TLSReceiver: %d of %d handshakes "
                                     "within %.0fs: %r"
                                     % (len(self.handshakes), n, timeout,
                                        self.handshakes))
            return list(self.handshakes)
