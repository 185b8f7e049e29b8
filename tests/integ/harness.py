"""Black-box harness for hookd: start/stop/kill the daemon, call its API,
run programmable webhook receivers, talk raw HTTP over sockets.

Python 3.11 standard library only. Every wait has a deadline; nothing
depends on timing beyond generous timeouts.
"""

import base64
import hashlib
import hmac
import http.client
import http.server
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.parse

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
HOOKD = os.path.abspath(os.path.join(ROOT, os.environ.get("HOOKD_BIN",
                                                          "./hookd")))
TESTDATA = os.path.abspath(os.path.join(ROOT, "..", "shared", "testdata"))

# Short timeouts keep the suite fast; the default schedule would take hours.
BASE_CONF = """\
timeout 2s
retry_schedule 200ms 200ms 200ms
drain_timeout 2s
"""
ALLOW_LOOPBACK = "allow_destinations 127.0.0.0/8\n"
# For tests that need a delivery to stay pending for a while.
SLOW_RETRY = "retry_schedule 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s\n"

RFC3339_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

# Under AddressSanitizer (make check) freed memory waits in a quarantine of
# up to 256 MB and would read as growth: keep it small where RSS is read
# (an env for Hookd, or for any hookd started with it).
ASAN_SMALL = {"ASAN_OPTIONS": (os.environ.get("ASAN_OPTIONS", "") +
                               ":quarantine_size_mb=4").lstrip(":")}

# Every hookd this process started, so the runner can kill leftovers.
ALL_PROCS = []


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_until(pred, timeout=15.0, interval=0.05, what="condition"):
    """Poll pred() until it returns something truthy; return that."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = pred()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.0fs waiting for %s"
                                 % (timeout, what))
        time.sleep(interval)


class Skip(Exception):
    """Raised by a test that cannot run here for a reason outside hookd
    (a registry out of reach): the runner prints SKIP with the reason and
    counts it apart, never as passed and never silently."""


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def eq(got, want, what="value"):
    if got != want:
        raise AssertionError("%s: got %r, want %r" % (what, got, want))


def sign(secret, msg_id, ts, payload):
    """The Standard Webhooks v1 signature (contract §4)."""
    key = base64.b64decode(secret[len("whsec_"):])
    mac = hmac.new(key, b"%s.%s.%s" % (msg_id.encode(), str(ts).encode(),
                                        payload), hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


def check_signature(req, secret, payload=None):
    """Assert the webhook-* headers of a received request carry a valid
    signature by secret over payload (default: the request body)."""
    if payload is None:
        payload = req.body
    want = sign(secret, req.headers["webhook-id"],
                req.headers["webhook-timestamp"], payload)
    sigs = req.headers.get("webhook-signature", "").split(" ")
    check(want in sigs, "webhook-signature %r does not contain %r (secret "
          "of the endpoint, payload %r)" % (sigs, want, payload))


# ---------------------------------------------------------------- hookd


class Hookd:
    """One hookd process on a fixed port and data directory."""

    flags = []      # extra command-line flags (a subclass may set -v)

    def __init__(self, tmp, conf, admin_token="default", env=None,
                 port=None, name="hookd"):
        self.tmp = tmp
        self.port = port or free_port()
        self.data = os.path.join(tmp, "data" if name == "hookd" else
                                 name + "-data")
        self.conf_path = os.path.join(tmp, name + ".conf")
        self.log_path = os.path.join(tmp, name + ".log")
        if admin_token == "default":
            admin_token = "adm_" + secrets.token_hex(16)
        self.admin = admin_token
        self.extra_env = env or {}
        self.proc = None
        self.write_conf(conf)

    def write_conf(self, conf):
        with open(self.conf_path, "w") as f:
            f.write(conf)

    # -- process

    def start(self, wait=True):
        env = dict(os.environ)
        env.pop("HOOKD_ADMIN_TOKEN", None)
        if self.admin is not None:
            env["HOOKD_ADMIN_TOKEN"] = self.admin
        env.update(self.extra_env)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [HOOKD] + self.flags + ["-l", "127.0.0.1:%d" % self.port,
                                    "-d", self.data, "-c", self.conf_path],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
            cwd=self.tmp)
        log.close()
        ALL_PROCS.append(self.proc)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError("hookd exited with %d at start"
                                     % self.proc.returncode)
            try:
                socket.create_connection(("127.0.0.1", self.port),
                                         timeout=1).close()
                return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("hookd did not accept on port %d "
                                     "within %.0fs" % (self.port, timeout))
            time.sleep(0.05)

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, expect=0, timeout=10.0):
        """SIGTERM by pid; assert the exit code."""
        if not self.running:
            raise AssertionError("hookd is not running (exit code %r)"
                                 % (self.proc and self.proc.returncode))
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("hookd did not exit within %.0fs of "
                                 "SIGTERM" % timeout)
        if expect is not None:
            eq(rc, expect, "hookd exit code after SIGTERM")
        return rc

    def kill9(self):
        if self.running:
            self.proc.kill()
        if self.proc is not None:
            self.proc.wait()

    def restart(self, kill=False):
        if kill:
            self.kill9()
        else:
            self.stop()
        return self.start()

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    # -- API

    def url(self, path=""):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def api_raw(self, method, path, body=None, token="admin", headers=None,
                timeout=10):
        """One request on a fresh connection. body: dict/list (sent as
        JSON), bytes/str (sent as is) or None; headers are added last (a
        Content-Type there wins). Returns (status, the body's bytes,
        lower-cased headers)."""
        if token == "admin":
            token = self.admin
        hdrs = {}
        if token is not None:
            hdrs["Authorization"] = "Bearer " + token
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        if body is not None:
            hdrs["Content-Type"] = "application/json"
        hdrs.update(headers or {})
        conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                          timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=hdrs)
            resp = conn.getresponse()
            raw = resp.read()
            rh = {k.lower(): v for k, v in resp.getheaders()}
            status = resp.status
        finally:
            conn.close()
        return status, raw, rh

    def api(self, method, path, body=None, token="admin", headers=None,
            timeout=10):
        """api_raw() with the body parsed as JSON, or text when it is
        not JSON (decode_body)."""
        status, raw, rh = self.api_raw(method, path, body, token, headers,
                                       timeout)
        return status, decode_body(raw, rh), rh

    def req(self, expect, method, path, body=None, **kw):
        """api() that asserts the status and returns the body."""
        status, data, _ = self.api(method, path, body, **kw)
        if status != expect:
            raise AssertionError("%s %s: status %d, want %d; body %r"
                                 % (method, path, status, expect, data))
        return data

    # -- shortcuts for setup

    def client(self, cid="acme", name=None):
        return self.req(201, "POST", "/v1/clients",
                        {"id": cid, "name": name or cid.title()})

    def endpoint(self, client, url, token="admin", **fields):
        body = dict(fields, url=url)
        if token == "admin":
            body["client"] = client
        return self.req(201, "POST", "/v1/endpoints", body, token=token)

    def event(self, client="acme", type="order.paid", data=None, raw=None,
              callback=None, headers=None, expect=202):
        """Post an event. raw: the exact bytes of data."""
        if raw is None:
            raw = json.dumps(data if data is not None else {}).encode()
        body = (b'{"client": ' + json.dumps(client).encode() +
                b', "type": ' + json.dumps(type).encode() +
                b', "data": ' + raw + b'}')
        path = "/v1/events"
        if callback is not None:
            path += "?callbackURL=" + urllib.parse.quote(callback, safe="")
        return self.req(expect, "POST", path, body, headers=headers)

    def deliveries(self, query=""):
        return self.req(200, "GET", "/v1/deliveries" + query)["data"]

    def deliveries_of(self, evt_id):
        return self.deliveries("?event=" + evt_id)

    def delivery(self, did):
        return self.req(200, "GET", "/v1/deliveries/" + did)

    def wait_delivery(self, did, pred=None, status="delivered",
                      timeout=15.0):
        """Poll a delivery until pred(d) (default: d["status"] == status)."""
        if pred is None:
            def pred(d):
                return d["status"] == status
        seen = [None]

        def probe():
            seen[0] = self.delivery(did)
            return seen[0] if pred(seen[0]) else None
        try:
            return wait_until(probe, timeout, 0.1, "delivery " + did)
        except AssertionError as e:
            raise AssertionError("%s; last seen %s" % (e, json.dumps(
                seen[0])))

    def wait_all(self, evt_id, status="delivered", n=None, timeout=15.0):
        """Wait until every delivery of an event has status."""
        seen = [None]

        def probe():
            seen[0] = ds = self.deliveries_of(evt_id)
            ok = all(d["status"] == status for d in ds)
            return ds if ok and (n is None or len(ds) == n) else None
        try:
            return wait_until(probe, timeout, 0.1, "deliveries of " + evt_id)
        except AssertionError as e:
            raise AssertionError("%s; last seen %s" % (e, json.dumps(
                seen[0])))

    def metric(self, name):
        """The value of an unlabelled metric in /metrics, or None."""
        status, text, _ = self.api("GET", "/metrics", token=None)
        eq(status, 200, "GET /metrics status")
        for line in text.splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0] == name:
                return float(parts[1])
        return None


def decode_body(raw, headers):
    ctype = headers.get("content-type", "")
    if "json" in ctype and raw:
        try:
            return json.loads(raw)
        except ValueError:
            pass
    return raw.decode("utf-8", "replace")


# ------------------------------------------------------------- receiver


class Reply:
    def __init__(self, status=200, body=b"", headers=None, delay=0.0):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            headers = dict({"Content-Type": "application/json"},
                           **(headers or {}))
        if isinstance(body, str):
            body = body.encode()
        self.status = status
        self.body = body
        self.headers = headers or {}
        self.delay = delay


class Received:
    def __init__(self, method, target, headers, body):
        self.method = method
        self.target = target
        u = urllib.parse.urlsplit(target)
        self.path = u.path
        self.query = u.query
        self.header_list = headers
        self.headers = {k.lower(): v for k, v in headers}
        self.body = body
        self.at = time.monotonic()

    def __repr__(self):
        return "<%s %s %r>" % (self.method, self.target, self.body[:60])


class Recorded:
    """What both receivers share: a Condition `lock` guarding the list
    `requests` of Received, and ways to look at it."""

    def got(self, path=None):
        with self.lock:
            return [r for r in self.requests if path is None or
                    r.path == path]

    def wait_for(self, n, path=None, timeout=15.0):
        """Wait until n requests (to path) arrived; return them."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while True:
                rs = [r for r in self.requests if path is None or
                      r.path == path]
                if len(rs) >= n:
                    return rs
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        "%s: %d of %d requests to %s within %.0fs: %r"
                        % (type(self).__name__, len(rs), n, path or "any path", timeout, rs))
                self.lock.wait(left)


class Receiver(Recorded):
    """A webhook receiver on 127.0.0.1:<free port>. Replies are scripted per
    path: on(path, r1, r2, ...) answers r1 to the first request, r2 to the
    second, and the last one from then on. Unscripted paths answer 200.
    port: the port to listen on (default: a free one)."""

    def __init__(self, port=0):
        self.lock = threading.Condition()
        self.requests = []
        self.script = {}
        self.stopping = threading.Event()
        rcv = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _any(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                rec = Received(self.command, self.path,
                               list(self.headers.items()), body)
                reply = rcv._record(rec)
                if reply.delay:
                    if rcv.stopping.wait(reply.delay):
                        self.close_connection = True
                        return
                self.send_response(reply.status)
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass  # a peer that gave up (hookd's timeout) is expected

        self.server = Server(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       daemon=True)
        self.thread.start()

    def url(self, path="/"):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def on(self, path, *replies):
        rs = [r if isinstance(r, Reply) else Reply(r) for r in replies]
        with self.lock:
            self.script[path] = rs

    def _record(self, rec):
        with self.lock:
            self.requests.append(rec)
            self.lock.notify_all()
            rs = self.script.get(rec.path)
            if not rs:
                return Reply(200)
            return rs.pop(0) if len(rs) > 1 else rs[0]

    def close(self):
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()


# ------------------------------------------------------------ raw HTTP


class RawConn:
    """A plain socket to hookd with a small HTTP/1.1 response reader."""

    def __init__(self, port, timeout=5.0):
        self.sock = socket.create_connection(("127.0.0.1", port),
                                             timeout=timeout)
        self.buf = b""
        self.timeout = timeout

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("connection closed")
        self.buf += data

    def read_response(self):
        """(status, headers (lower-cased), body) of the next response."""
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        m = re.match(r"HTTP/1\.[01] (\d{3})", lines[0])
        check(m, "bad status line %r" % lines[0])
        status = int(m.group(1))
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        if 100 <= status < 200:
            return status, headers, b""
        n = int(headers.get("content-length", "0"))
        while len(self.buf) < n:
            self._fill()
        body, self.buf = self.buf[:n], self.buf[n:]
        return status, headers, body

    def closed_within(self, timeout=5.0):
        """True when the peer closes (EOF or reset) within timeout; any
        bytes received meanwhile are appended to buf."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                return False
            except ConnectionResetError:
                return True
            if not data:
                return True
            self.buf += data

    def close(self):
        self.sock.close()


def status_lines(data):
    """The status codes of the response heads found in data."""
    return [int(m.group(1)) for m in
            re.finditer(rb"HTTP/1\.[01] (\d{3})[^\r\n]*\r\n", data)]


def run_hookd(*args, cwd=None, env=None, admin=None, timeout=10):
    """Run the hookd binary with ARGS to its exit, in CWD, stdin from
    /dev/null, with HOOKD_ADMIN_TOKEN taken out of the environment (set to
    ADMIN when given) and ENV (a dict) over it. Returns the
    CompletedProcess with text stdout and stderr."""
    e = dict(os.environ)
    e.pop("HOOKD_ADMIN_TOKEN", None)
    if admin is not None:
        e["HOOKD_ADMIN_TOKEN"] = admin
    e.update(env or {})
    return subprocess.run([HOOKD] + list(args), cwd=cwd, env=e,
                          stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=timeout)


def curl(*args, timeout=20):
    """Run curl; returns CompletedProcess with text output."""
    return subprocess.run(["curl", "-sS", "--max-time", "10"] + list(args),
                          capture_output=True, timeout=timeout, text=True)


# --------------------------------------------------------- test context


class Ctx:
    """What a test gets: a fresh temp dir, and factories whose products
    are cleaned up by the runner."""

    def __init__(self, name, tmp):
        self.name = name
        self.tmp = tmp
        self.hookds = []
        self.receivers = []
        self.notes = []

    def hookd(self, extra="", allow=True, base=BASE_CONF, start=True,
              **kw):
        """A hookd with the short-timeout base config, loopback
        destinations allowed unless allow=False, plus extra lines."""
        conf = base + (ALLOW_LOOPBACK if allow else "") + extra
        h = Hookd(self.tmp, conf, name="hookd%d" % len(self.hookds)
                  if self.hookds else "hookd", **kw)
        self.hookds.append(h)
        if start:
            h.start()
        return h

    def receiver(self):
        r = Receiver()
        self.receivers.append(r)
        return r

    def note(self, msg):
        self.notes.append(msg)

    def logs(self):
        return "".join(h.log() for h in self.hookds)

    def close(self):
        """Stop what is still running. Returns a list of problems found
        (a hookd that does not exit 0 on SIGTERM)."""
        problems = []
        for h in self.hookds:
            if h.running:
                try:
                    h.stop(expect=None, timeout=8)
                    if h.proc.returncode != 0:
                        problems.append("hookd exited with %d on SIGTERM at "
                                        "teardown" % h.proc.returncode)
                except AssertionError as e:
                    problems.append(str(e))
                h.kill9()
        for r in self.receivers:
            r.close()
        return problems


# ------------------------------------------------- process measurements


def cpu_seconds(pid):
    """User + system CPU time of a process so far, from /proc/PID/stat."""
    with open("/proc/%d/stat" % pid) as f:
        stat = f.read()
    # The command name (field 2) may hold spaces; fields resume after ')'.
    fields = stat[stat.rindex(")") + 2:].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def rss_kb(pid):
    """Resident set size of a process in KiB, from /proc/PID/status."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS in /proc/%d/status" % pid)


def open_fds(pid):
    """How many file descriptors a process has open."""
    return len(os.listdir("/proc/%d/fd" % pid))


# ----------------------------------------------------- raw receiver


def ok_reply(sock, req, n):
    """The default RawReceiver behaviour: 200, empty body, keep-alive."""
    sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    return True


def stop_listener(stopping, lsock):
    """Stop a test server's accept thread: set its stopping event, then
    shut down and close its listening socket (shutdown, unlike close, wakes
    the thread blocked in accept)."""
    stopping.set()
    try:
        lsock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    lsock.close()


class RawReceiver(Recorded):
    """A receiver on a plain socket, for answers no HTTP library would give.
    on(path, fn) sets how requests to path are answered: fn(sock, req, n)
    gets the socket, the Received request and n, its 1-based number among
    requests to that path; it writes whatever it likes and returns True to
    keep the connection for another request. Unset paths answer 200.
    host may be "::1". Counts accepted connections in .accepted."""

    def __init__(self, host="127.0.0.1"):
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.host = host
        self.lsock = socket.socket(fam, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((host, 0))
        self.lsock.listen(128)
        self.port = self.lsock.getsockname()[1]
        self.lock = threading.Condition()
        self.requests = []
        self.counts = {}
        self.behaviour = {}
        self.accepted = 0
        self.socks = set()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def url(self, path="/"):
        host = "[%s]" % self.host if ":" in self.host else self.host
        return "http://%s:%d%s" % (host, self.port, path)

    def on(self, path, fn):
        with self.lock:
            self.behaviour[path] = fn

    def _accept(self):
        while not self.stopping.is_set():
            try:
                s, _ = self.lsock.accept()
            except OSError:
                return
            with self.lock:
                self.accepted += 1
                self.socks.add(s)
            threading.Thread(target=self._serve, args=(s,),
                             daemon=True).start()

    def _read_request(self, s, buf):
        while b"\r\n\r\n" not in buf:
            data = s.recv(65536)
            if not data:
                return None, buf
            buf += data
        head, buf = buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = []
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers.append((k.strip(), v.strip()))
        n = 0
        for k, v in headers:
            if k.lower() == "content-length":
                n = int(v)
        while len(buf) < n:
            data = s.recv(65536)
            if not data:
                return None, buf
            buf += data
        body, buf = buf[:n], buf[n:]
        return Received(method, target, headers, body), buf

    def _serve(self, s):
        buf = b""
        s.settimeout(60)
        try:
            while not self.stopping.is_set():
                req, buf = self._read_request(s, buf)
                if req is None:
                    return
                with self.lock:
                    self.requests.append(req)
                    n = self.counts[req.path] = self.counts.get(req.path,
                                                                0) + 1
                    fn = self.behaviour.get(req.path, ok_reply)
                    self.lock.notify_all()
                if not fn(s, req, n) or self.stopping.is_set():
                    return
        except (OSError, ValueError):
            pass
        finally:
            with self.lock:
                self.socks.discard(s)
            try:
                s.close()
            except OSError:
                pass

    def close(self):
        stop_listener(self.stopping, self.lsock)
        with self.lock:
            socks = list(self.socks)
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


# ------------------------------------------------ npm packages of the tests

# npm's error codes for "the registry cannot be reached": no network, no
# name resolution, refused or cut connections, a proxy in the way.
NPM_OFFLINE = re.compile(
    r"\b(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ECONNRESET|ENETUNREACH|"
    r"EHOSTUNREACH|ENETDOWN|ERR_SOCKET_TIMEOUT|ECONNABORTED)\b")
NPM_TIMEOUT = 300
_npm_done = {}      # node dir -> None (ready) or why its tests skip


def npm_locked_versions(node_dir):
    """{package: version} of node_dir's direct dependencies, as its
    package-lock.json pins them."""
    with open(os.path.join(node_dir, "package-lock.json")) as f:
        lock = json.load(f)
    with open(os.path.join(node_dir, "package.json")) as f:
        deps = json.load(f)["dependencies"]
    return {name: lock["packages"]["node_modules/" + name]["version"]
            for name in deps}


def npm_installed_versions(node_dir, names):
    got = {}
    for name in names:
        try:
            with open(os.path.join(node_dir, "node_modules", name,
                                   "package.json")) as f:
                got[name] = json.load(f).get("version")
        except (OSError, ValueError):
            got[name] = None
    return got


def npm_ready(node_dir, label, needs):
    """Make node_dir's locked packages installed, once per run: fail
    clearly without node or npm, `npm ci` (exactly the lock's tree, never
    rewriting package.json or the lock) when what is installed differs,
    skip only when npm cannot reach its registry, fail on any other npm
    error. label names the folder in messages ("tests/node"); needs says
    which tests need it ("the OpenAPI test")."""
    if node_dir in _npm_done:
        if _npm_done[node_dir] is not None:
            raise Skip(_npm_done[node_dir])
        return
    for tool in ("node", "npm"):
        check(shutil.which(tool) is not None,
              "%s is not installed: %s needs Node.js and npm (Debian: "
              "apt-get install nodejs npm)" % (tool, needs))
    want = npm_locked_versions(node_dir)
    if npm_installed_versions(node_dir, want) != want:
        try:
            p = subprocess.run(
                ["npm", "ci", "--prefix", node_dir, "--no-audit",
                 "--no-fund"], cwd=node_dir, capture_output=True, text=True,
                timeout=NPM_TIMEOUT, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise AssertionError("npm ci in %s did not finish within %ds"
                                 % (label, NPM_TIMEOUT))
        out = p.stdout + p.stderr
        m = NPM_OFFLINE.search(out)
        if p.returncode != 0 and m:
            _npm_done[node_dir] = (
                "npm cannot reach its registry (%s): %s needs packages "
                "from npm once; run make test with network access to "
                "include it" % (m.group(1), needs))
            raise Skip(_npm_done[node_dir])
        check(p.returncode == 0, "npm ci in %s failed (exit %d): %s"
              % (label, p.returncode, out[-2000:]))
        eq(npm_installed_versions(node_dir, want), want,
           "installed versions in %s" % label)
    _npm_done[node_dir] = None
