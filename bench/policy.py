"""Throughput of one endpoint under each delivery policy (contract §15):
unlimited, ordering "fifo", and rate_limit 200, to a fast loopback receiver.

    python3 bench/policy.py [N]        (N deliveries per figure, 2000)

Each figure: N events are queued for one endpoint held by rate_limit 0.001
(one delivery, then none), then one PATCH sets the policy measured, and
the time from that PATCH to the N-th arrival gives deliveries a second.
The receiver is one Python thread (selectors, keep-alive, 200 with no
body): it, not hookd, may bound the unlimited figure. Python 3 standard
library only; HOOKD_BIN (default ./hookd).
"""

import http.client
import json
import os
import selectors
import socket
import subprocess
import sys
import tempfile
import threading
import time

HOOKD = os.environ.get("HOOKD_BIN", "./hookd")


class FastReceiver:
    """Counts requests per path; answers each 200 at once."""

    def __init__(self):
        self.counts = {}
        self.lock = threading.Lock()
        self.ls = socket.socket()
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(512)
        self.ls.setblocking(False)
        self.port = self.ls.getsockname()[1]
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.ls, selectors.EVENT_READ, None)
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        bufs = {}
        while True:
            for key, _ in self.sel.select():
                if key.data is None:
                    c, _ = self.ls.accept()
                    c.setblocking(False)
                    bufs[c] = b""
                    self.sel.register(c, selectors.EVENT_READ, "c")
                    continue
                c = key.fileobj
                try:
                    data = c.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    self.sel.unregister(c)
                    c.close()
                    bufs.pop(c, None)
                    continue
                buf = bufs[c] + data
                out = b""
                while True:
                    end = buf.find(b"\r\n\r\n")
                    if end < 0:
                        break
                    head = buf[:end].decode("latin-1")
                    n = 0
                    for line in head.split("\r\n")[1:]:
                        k, _, v = line.partition(":")
                        if k.strip().lower() == "content-length":
                            n = int(v)
                    if len(buf) < end + 4 + n:
                        break
                    path = head.split(" ")[1]
                    buf = buf[end + 4 + n:]
                    with self.lock:
                        self.counts[path] = self.counts.get(path, 0) + 1
                    out += b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
                bufs[c] = buf
                if out:
                    c.setblocking(True)
                    c.sendall(out)
                    c.setblocking(False)

    def count(self, path):
        with self.lock:
            return self.counts.get(path, 0)


def api(port, token, method, path, body=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request(method, path, json.dumps(body) if body is not None else None,
              {"Authorization": "Bearer " + token,
               "Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read()
    c.close()
    if r.status >= 300:
        raise RuntimeError("%s %s: %d %s" % (method, path, r.status, data))
    try:
        return json.loads(data) if data else None
    except ValueError:
        return data


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    tmp = tempfile.mkdtemp(prefix="hookd-policy-")
    conf = os.path.join(tmp, "hookd.conf")
    with open(conf, "w") as f:
        f.write("allow_destinations 127.0.0.0/8\nfsync never\n"
                "max_inflight_per_client 64\n")
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    token = "adm_" + os.urandom(16).hex()
    env = dict(os.environ, HOOKD_ADMIN_TOKEN=token)
    proc = subprocess.Popen([HOOKD, "-c", conf, "-d", os.path.join(tmp, "d"),
                             "-l", "127.0.0.1:%d" % port], env=env,
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                api(port, token, "GET", "/healthz")
                break
            except (OSError, RuntimeError, ValueError):
                time.sleep(0.05)
        rcv = FastReceiver()
        api(port, token, "POST", "/v1/clients", {"id": "bench"})
        figures = [("unlimited", {"rate_limit": None}),
                   ("fifo", {"rate_limit": None, "ordering": "fifo"}),
                   ("rate_limit 200", {"rate_limit": 200})]
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for i, (name, patch) in enumerate(figures):
            path = "/p%d" % i
            ep = api(port, token, "POST", "/v1/endpoints", {
                "client": "bench", "url": "http://127.0.0.1:%d%s" %
                (rcv.port, path), "rate_limit": 0.001,
                "events": ["p%d" % i]})
            body = json.dumps({"client": "bench", "type": "p%d" % i,
                               "data": {"x": 1}})
            for _ in range(n + 1):
                conn.request("POST", "/v1/events", body, {
                    "Authorization": "Bearer " + token,
                    "Content-Type": "application/json"})
                conn.getresponse().read()
            t0 = time.monotonic()
            api(port, token, "PATCH", "/v1/endpoints/" + ep["id"], patch)
            while rcv.count(path) < n + 1:
                time.sleep(0.002)
            dt = time.monotonic() - t0
            print("%-16s %6d deliveries in %6.2fs: %8.0f/s"
                  % (name, n, dt, n / dt))
    finally:
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    main()
