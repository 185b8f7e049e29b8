"""make bench: hookd against nginx on this machine, by bench/run.sh.

Every server runs as a child of this script on free loopback ports with its
own prefix and data in one temporary directory, and is stopped by its PID.
Each figure is measured RUNS times, reference and hookd interleaved, and
the table shows medians. Python 3 standard library only; the load comes
from wrk and from bench/hbench (built by run.sh).

Environment: BENCH_RUNS (default 3), BENCH_SECONDS (wrk run length, 5),
BENCH_ONLY (comma-separated figure groups: ingest,relay,gateway,latency,
isolation,memory,recovery,size,tls,shard,scaling), HOOKD_BIN (default ./hookd). The scaling
group is not part of a plain run (it takes minutes): BENCH_ONLY=scaling,
and BENCH_SCALE=fanout,delete,idem,token,compact,drop,match,failed,type,delayed
picks its figures; each run also prints the longest loop pass hookd saw
(hookd_loop_pass_max_seconds).

The tls group (contract §13) runs only when HOOKD_BIN is a TLS build
(`hookd -V` names OpenSSL): `make TLS=openssl bench`. Its receivers present
a certificate of the tests' throw-away PKI (tests/integ/tlsca.py).
"""

import hashlib
import http.client
import itertools
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import zlib

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
HOOKD = os.path.abspath(os.path.join(ROOT, os.environ.get("HOOKD_BIN",
                                                          "hookd")))
HBENCH = os.path.join(ROOT, "bench", "hbench")
ECHO_MODULE = "/usr/lib/nginx/modules/ngx_http_echo_module.so"
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "5"))
ONLY = set(filter(None, os.environ.get("BENCH_ONLY", "").split(",")))
TOKEN = "adm_bench_" + "0123456789abcdef" * 2

# The 1 KiB event every throughput figure posts: an order with a few items,
# padded by its note to exactly 1024 bytes of request body.
def make_event(size=1024):
    data = {"order": "ord_4f3c2a19", "customer": "cus_88a1", "currency": "EUR",
            "amount": 12990, "items": [{"sku": "SKU-%04d" % i, "qty": i + 1,
                                        "price": 1299} for i in range(8)],
            "note": ""}
    ev = {"client": "bench", "type": "t", "data": data}
    pad = size - len(json.dumps(ev, separators=(",", ":")))
    data["note"] = "x" * pad
    body = json.dumps(ev, separators=(",", ":"))
    assert len(body) == size, len(body)
    return body


EVENT = make_event()

PROCS = []          # every child started, stopped by PID at the end
TMP = None
SHM = None          # a directory in memory (tmpfs), or TMP when none


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port, proc, timeout=10.0, step=0.005):
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("process exited with %d at start"
                               % proc.returncode)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("nothing accepts on port %d" % port)
        time.sleep(step)


def log_path(name):
    """Where server name's output goes: in memory (SHM) like the data, so
    that a log line's write never waits for a disk (hookd writes its log
    at the end of a loop pass: on ext4, delayed allocation once held one
    such write 20 ms, which the loop-pass figures then counted)."""
    return os.path.join(SHM, name + ".log")


def spawn(argv, name, env=None, stdout=None):
    errf = open(log_path(name), "ab")
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                         stdout=stdout if stdout is not None else errf,
                         stderr=errf, env=env, cwd=TMP)
    errf.close()
    PROCS.append(p)
    return p


def stop(p, sig=signal.SIGTERM):
    if p.poll() is None:
        p.send_signal(sig)
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    if p in PROCS:
        PROCS.remove(p)


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS for %d" % pid)


# ------------------------------------------------------------------ nginx

NGINX_HEAD = """\
daemon off;
master_process on;
worker_processes 1;
pid {dir}/nginx.pid;
lock_file {dir}/nginx.lock;
# A stop waits this long at most for open connections (kept-alive TLS ones
# held a worker past the master's SIGKILL, left behind as an orphan).
worker_shutdown_timeout 5s;
error_log {dir}/error.log warn;
load_module {echo};
events {{ worker_connections 4096; multi_accept on; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    keepalive_requests 100000000;
    keepalive_timeout 120s;
    client_body_buffer_size 64k;
    # One two-byte line per request: the receiver's count is the log's
    # size / 2, read without parsing.
    log_format count "x";
{body}
}}
"""


class Nginx:
    """One nginx (master + one worker) in the foreground, own prefix."""

    def __init__(self, name, body):
        self.name = name
        self.dir = os.path.join(TMP, name)
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        self.conf = os.path.join(self.dir, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(NGINX_HEAD.format(dir=self.dir, echo=ECHO_MODULE,
                                      body=body.format(port=self.port,
                                                       dir=self.dir)))
        self.proc = spawn(["nginx", "-p", self.dir + "/", "-c", self.conf],
                          name)
        try:
            wait_port(self.port, self.proc)
        except RuntimeError as e:
            with open(log_path(name)) as f:
                raise RuntimeError("nginx %s: %s: %s" % (name, e,
                                                         f.read()[-1000:]))

    def worker_pid(self):
        # The master may take a moment to fork its worker after listening.
        deadline = time.monotonic() + 10
        while True:
            with open("/proc/%d/task/%d/children" % (self.proc.pid,
                                                      self.proc.pid)) as f:
                kids = f.read().split()
            if kids or time.monotonic() > deadline:
                return int(kids[0])
            time.sleep(0.01)

    def stop(self):
        stop(self.proc, signal.SIGQUIT)


def receiver(name="receiver"):
    """nginx answering 200 to everything, one log line per request (name:
    its prefix, when more than one runs at a time)."""
    r = Nginx(name, """\
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        access_log {dir}/count.log count;
        location / {{ return 200 "ok"; }}
    }}""")
    r.count_path = os.path.join(r.dir, "count.log")
    r.count = lambda: os.stat(r.count_path).st_size // 2
    return r


def ingest_reference():
    """nginx reading the whole body and answering 202, as hookd does."""
    return Nginx("ingest-ref", """\
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location /v1/events {{
            echo_read_request_body;
            echo_status 202;
            echo '{{"id":"evt_0000000000000000","deliveries":0}}';
        }}
    }}""")


def relay_reference(recv_port, location="/v1/events"):
    """nginx proxy_pass of location to the receiver, keep-alive upstream
    connections."""
    return Nginx("relay-ref", """\
    upstream receiver {{ server 127.0.0.1:%d; keepalive 64; }}
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location %s {{
            proxy_pass http://receiver;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}""" % (recv_port, location))


# ------------------------------------------------------------------ hookd

class Hookd:
    def __init__(self, name, conf="", data=None, wait=True):
        self.name = name
        self.port = free_port()
        self.data = data or os.path.join(TMP, name + "-data")
        if data is None and os.path.exists(self.data):
            shutil.rmtree(self.data)
        self.conf_path = os.path.join(TMP, name + ".conf")
        with open(self.conf_path, "w") as f:
            f.write("allow_destinations 127.0.0.0/8\n" + conf)
        env = dict(os.environ, HOOKD_ADMIN_TOKEN=TOKEN)
        self.t0 = time.monotonic()
        self.proc = spawn([HOOKD, "-l", "127.0.0.1:%d" % self.port, "-d",
                           self.data, "-c", self.conf_path], name, env=env)
        if wait:
            wait_port(self.port, self.proc, timeout=60, step=0.001)
        self.ready = time.monotonic() - self.t0

    def call(self, method, path, body=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        hdr = {"Authorization": "Bearer " + TOKEN}
        if body is not None:
            hdr["Content-Type"] = "application/json"
            body = json.dumps(body)
        c.request(method, path, body=body, headers=hdr)
        r = c.getresponse()
        data = r.read()
        c.close()
        if r.status >= 300:
            raise RuntimeError("%s %s: %d %s" % (method, path, r.status,
                                                 data[:200]))
        return json.loads(data) if data else None

    def client(self):
        self.call("POST", "/v1/clients", {"id": "bench", "name": "bench"})

    def endpoint(self, url, events=("*",)):
        return self.call("POST", "/v1/endpoints",
                         {"client": "bench", "url": url,
                          "events": list(events)})

    def metric(self, name):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        c.request("GET", "/metrics")
        text = c.getresponse().read().decode()
        c.close()
        total = 0.0
        found = False
        for line in text.splitlines():
            if line.startswith(name) and (len(line) == len(name) or
                                          line[len(name)] in " {"):
                total += float(line.rsplit(" ", 1)[1])
                found = True
        if not found:
            raise RuntimeError("no metric " + name)
        return total

    def stop(self):
        stop(self.proc)


# ------------------------------------------------------------------ load

def wrk_script(body, path):
    with open(path, "w") as f:
        f.write('wrk.method = "POST"\n')
        f.write("wrk.body = %s\n" % json.dumps(body))
        f.write('wrk.headers["Authorization"] = "Bearer %s"\n' % TOKEN)
        f.write('wrk.headers["Content-Type"] = "application/json"\n')
    return path


def wrk(port, seconds=None, conns=64, script=None, path="/v1/events"):
    """wrk -t1 -cN posting the event (or running script) to path;
    (completed requests, req/s). Any answer but 2xx or 3xx is an error."""
    seconds = seconds or SECONDS
    if script is None:
        script = os.path.join(TMP, "post.lua")
        if not os.path.exists(script):
            wrk_script(EVENT, script)
    out = subprocess.run(["wrk", "-t1", "-c%d" % conns, "-d%ds" % seconds,
                          "-s", script, "http://127.0.0.1:%d%s"
                          % (port, path)], capture_output=True, text=True,
                         timeout=seconds + 60).stdout
    m = re.search(r"(\d+) requests in", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m is None or rps is None:
        raise RuntimeError("wrk said: " + out)
    if bad is not None:
        raise RuntimeError("wrk got %s non-2xx answers:\n%s"
                           % (bad.group(1), out))
    return int(m.group(1)), float(rps.group(1))


def cpu_s(pid):
    """User plus system CPU seconds of process pid so far (all its
    threads), from /proc/PID/stat."""
    with open("/proc/%d/stat" % pid) as f:
        # The command name, in parentheses, may hold spaces: split after it.
        fields = f.read().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15 of the line, 12 and 13 here.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk_cpu(port, pid, seconds=None, conns=64, script=None,
            path="/v1/events"):
    """wrk as wrk() does, and the CPU microseconds process pid spent per
    completed request meanwhile: (requests, req/s, us/request). Steadier
    than req/s on a shared machine, where other work takes turns on the
    cores but hardly changes what each request costs."""
    c0 = cpu_s(pid)
    n, rps = wrk(port, seconds, conns, script, path)
    return n, rps, (cpu_s(pid) - c0) * 1e6 / max(n, 1)


FSYNC_PROBES = 9


def fsync_probe_ms(directory):
    """Median of a few fsyncs of a small file appended to in directory:
    the fsync latency a run had (printed beside its figures)."""
    path = os.path.join(directory, "fsync-probe")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    ts = []
    try:
        for _ in range(FSYNC_PROBES):
            os.write(fd, b"x" * 256)
            t = time.perf_counter()
            os.fsync(fd)
            ts.append(time.perf_counter() - t)
    finally:
        os.close(fd)
        os.unlink(path)
    return med(ts) * 1000


def wait_count(fn, target, timeout=120.0):
    """Poll fn() every 2 ms until it reaches target; the time it did."""
    deadline = time.monotonic() + timeout
    while True:
        n = fn()
        if n >= target:
            return time.monotonic()
        if time.monotonic() > deadline:
            raise RuntimeError("only %d of %d arrived" % (n, target))
        time.sleep(0.002)


# ------------------------------------------------------------------ figures

RESULTS = []        # (name, label, unit, reference, value, ratio, goal, ok)
FSYNC_RAN = []      # ms: the data directory's fsync before each run


def med(xs):
    return statistics.median(xs)


def record(name, label, unit, ref, value, ratio, goal, ok, runs):
    RESULTS.append((name, label, unit, ref, value, ratio, goal, ok, runs))


def bench_ingest():
    recv = receiver()
    ref, zero, three, lazy = [], [], [], []
    # CPU microseconds per request of each (nginx: its one worker), and
    # the fsync latency of the data directory before each fsync-always run.
    cref, czero, cthree, clazy, fs = [], [], [], [], []
    for i in range(RUNS):
        ng = ingest_reference()
        _, rps, us = wrk_cpu(ng.port, ng.worker_pid())
        ref.append(rps)
        cref.append(us)
        ng.stop()
        h = Hookd("ingest0", "fsync always\n")
        h.client()
        fs.append(fsync_probe_ms(h.data))
        _, rps, us = wrk_cpu(h.port, h.proc.pid)
        zero.append(rps)
        czero.append(us)
        h.stop()
        h = Hookd("ingest3", "fsync always\n")
        h.client()
        for k in range(3):
            h.endpoint("http://127.0.0.1:%d/ep%d" % (recv.port, k))
        fs.append(fsync_probe_ms(h.data))
        _, rps, us = wrk_cpu(h.port, h.proc.pid)
        three.append(rps)
        cthree.append(us)
        h.stop()
        h = Hookd("ingest-nofsync", "fsync never\n",
                  data=os.path.join(SHM, "ingest-nofsync-%d" % i))
        h.client()
        _, rps, us = wrk_cpu(h.port, h.proc.pid)
        lazy.append(rps)
        clazy.append(us)
        h.stop()
        shutil.rmtree(h.data)
        log("ingest run %d: nginx %.0f, hookd %.0f, hookd+3 endpoints %.0f, "
            "hookd fsync never %.0f req/s" % (i + 1, ref[-1], zero[-1],
                                             three[-1], lazy[-1]))
        log("ingest run %d: CPU per request: nginx %.1f us, hookd %.1f, "
            "hookd+3 endpoints %.1f, hookd fsync never %.1f; fsync in the "
            "data directory %.3f / %.3f ms (median of %d)"
            % (i + 1, cref[-1], czero[-1], cthree[-1], clazy[-1], fs[-2],
               fs[-1], FSYNC_PROBES))
    recv.stop()
    FSYNC_RAN.extend(fs)
    c = med(cref)
    record("ingest_cpu", "ingest CPU per request (info)", "us", c,
           med(czero), med(czero) / c, "-", None, czero)
    record("ingest_3ep_cpu", "ingest, 3 endpoints, CPU per request (info)",
           "us", c, med(cthree), med(cthree) / c, "-", None, cthree)
    record("ingest_nofsync_cpu", "ingest, fsync never, CPU per request "
           "(info)", "us", c, med(clazy), med(clazy) / c, "-", None, clazy)
    r = med(ref)
    record("ingest", "ingest, no matching endpoint", "req/s", r, med(zero),
           med(zero) / r, ">= 0.6 x nginx", med(zero) / r >= 0.6, zero)
    record("ingest_3ep", "ingest, 3 matching endpoints", "req/s", r,
           med(three), med(three) / r, ">= 0.4 x nginx",
           med(three) / r >= 0.4, three)
    # Not a goal: the same load without fsync and with its data in memory,
    # to tell the disk's share from hookd's own.
    record("ingest_nofsync", "ingest, no endpoint, fsync never (info)",
           "req/s", r, med(lazy), med(lazy) / r, "-", None, lazy)


def relay_hookd(recv, seconds=None, setup=None, conf="", url=None):
    """Events posted by wrk to hookd and delivered to recv (at url, default
    http://127.0.0.1:PORT/hook): arrivals per second from the first post
    until every accepted event arrived."""
    h = Hookd("relay", "fsync always\n" + conf)
    h.client()
    h.endpoint(url or "http://127.0.0.1:%d/hook" % recv.port, events=("t",))
    if setup is not None:
        setup(h)
    base = recv.count()
    t0 = time.monotonic()
    wrk(h.port, seconds)
    accepted = int(h.metric("hookd_events_total")) - getattr(h, "preposted",
                                                             0)
    t1 = wait_count(lambda: recv.count() - base, accepted)
    h.stop()
    return accepted / (t1 - t0)


def bench_relay():
    recv = receiver()
    ref, hk = [], []
    for i in range(RUNS):
        ng = relay_reference(recv.port)
        base = recv.count()
        t0 = time.monotonic()
        wrk(ng.port)
        n = recv.count() - base
        ref.append(n / (time.monotonic() - t0))
        ng.stop()
        hk.append(relay_hookd(recv))
        log("relay run %d: nginx proxy_pass %.0f, hookd %.0f deliveries/s"
            % (i + 1, ref[-1], hk[-1]))
    recv.stop()
    r = med(ref)
    record("relay", "relay to a receiver", "deliveries/s", r, med(hk),
           med(hk) / r, ">= 0.8 x nginx", med(hk) / r >= 0.8, hk)


# How long the upstream calls and callbacks of a gateway run may take to
# catch up once the load has ended: past it, they did not keep up.
GATEWAY_DRAIN_S = 60.0


def gateway_script(token):
    """The wrk script of the gateway figure: the 1 KiB event as the body of
    POST /api/foo, with a client's token."""
    return wrk_lua(os.path.join(TMP, "gateway.lua"), "POST", EVENT, token,
                   0)


def gateway_hookd(up, cb):
    """One gateway run: hookd with `route /api/ UPSTREAM` to up and the
    client's endpoint for the results on cb, under wrk. Returns (req/s,
    CPU us per request under the load, CPU us per request to the end of
    the drain, share of upstream calls done when the load ended, share of
    callbacks done then, drain seconds or None past GATEWAY_DRAIN_S, fsync
    ms of the data directory)."""
    h = Hookd("gateway", "fsync always\nroute /api/ http://127.0.0.1:%d/\n"
              % up.port)
    token = h.call("POST", "/v1/clients", {"id": "bench",
                                           "name": "bench"})["token"]
    h.endpoint("http://127.0.0.1:%d/callback" % cb.port,
               events=("request.completed",))
    script = gateway_script(token)
    fs = fsync_probe_ms(h.data)
    u0, c0 = up.count(), cb.count()
    cpu0 = cpu_s(h.proc.pid)
    _, rps, us = wrk_cpu(h.port, h.proc.pid, script=script, path="/api/foo")
    t_end = time.monotonic()
    ups, cbs = up.count() - u0, cb.count() - c0
    accepted = int(h.metric("hookd_events_total"))
    try:
        done = max(wait_count(lambda: up.count() - u0, accepted,
                              GATEWAY_DRAIN_S),
                   wait_count(lambda: cb.count() - c0, accepted,
                              GATEWAY_DRAIN_S))
        drain = done - t_end
    except RuntimeError as e:
        log("gateway: not drained within %.0f s: %s" % (GATEWAY_DRAIN_S, e))
        drain = None
    total = (cpu_s(h.proc.pid) - cpu0) * 1e6 / max(accepted, 1)
    h.stop()
    return (rps, us, total, 100.0 * ups / max(accepted, 1),
            100.0 * cbs / max(accepted, 1), drain, fs)


def bench_gateway():
    """Contract §14 (issue 13): requests accepted per second by hookd's
    gateway (each on disk before its 202, called upstream and its result
    called back afterwards), against nginx proxy_pass to the same upstream
    (synchronous, nothing kept)."""
    up = receiver("gw-upstream")
    cb = receiver("gw-callback")
    # The reference's token is never checked: one of a client's length.
    ref_script = gateway_script("hkc_" + "0" * 32)
    ref, cref, hk, chk, ctot, upd, cbd, drains, fs = ([] for _ in range(9))
    for i in range(RUNS):
        ng = relay_reference(up.port, "/api/")
        _, rps, us = wrk_cpu(ng.port, ng.worker_pid(), script=ref_script,
                             path="/api/foo")
        ref.append(rps)
        cref.append(us)
        ng.stop()
        r = gateway_hookd(up, cb)
        for lst, v in zip((hk, chk, ctot, upd, cbd, drains, fs), r):
            lst.append(v)
        log("gateway run %d: nginx proxy_pass %.0f, hookd %.0f accepted/s; "
            "CPU per request nginx %.1f us, hookd %.1f under the load (%.1f "
            "to the end of the drain); at the load's end %.1f %% of the "
            "upstream calls and %.1f %% of the callbacks were done; drained "
            "%s; fsync in the data directory %.3f ms"
            % (i + 1, ref[-1], hk[-1], cref[-1], chk[-1], ctot[-1], upd[-1],
               cbd[-1], "in %.2f s" % drains[-1] if drains[-1] is not None
               else "NOT within %.0f s" % GATEWAY_DRAIN_S, fs[-1]))
    up.stop()
    cb.stop()
    FSYNC_RAN.extend(fs)
    c = med(cref)
    record("gateway_cpu", "gateway CPU per request (info)", "us", c,
           med(chk), med(chk) / c, "-", None, chk)
    r = med(ref)
    record("gateway", "gateway, requests accepted (info)", "req/s", r,
           med(hk), med(hk) / r, "-", None, hk)
    record("gateway_upstream_done", "gateway, upstream calls done at load "
           "end", "percent", None, med(upd), med(upd) / 100.0, "-", None,
           upd)
    record("gateway_callbacks_done", "gateway, callbacks done at load end",
           "percent", None, med(cbd), med(cbd) / 100.0, "-", None, cbd)
    # A run that did not drain counts as the deadline (and fails it).
    dr = [d if d is not None else GATEWAY_DRAIN_S for d in drains]
    ok = all(d is not None for d in drains)
    record("gateway_drain", "gateway, drain after the load", "s", None,
           med(dr), med(dr) / GATEWAY_DRAIN_S, "< %.0f s" % GATEWAY_DRAIN_S,
           ok, dr)


def bench_latency():
    p50, p99 = [], []
    for i in range(RUNS):
        rport = free_port()
        h = Hookd("latency", "fsync always\n")
        h.client()
        h.endpoint("http://127.0.0.1:%d/hook" % rport)
        out = subprocess.run([HBENCH, "latency", str(h.port), TOKEN, "1000",
                              str(max(SECONDS * 2, 5)), str(rport), EVENT],
                             capture_output=True, text=True, timeout=120)
        h.stop()
        if out.returncode != 0:
            raise RuntimeError("hbench latency: %s %s" % (out.stdout,
                                                          out.stderr))
        f = dict(kv.split("=") for kv in out.stdout.split())
        if int(f["matched"]) != int(f["sent"]):
            raise RuntimeError("hbench latency: " + out.stdout)
        p50.append(float(f["p50_us"]) / 1000)
        p99.append(float(f["p99_us"]) / 1000)
        log("latency run %d: %s" % (i + 1, out.stdout.strip()))
    record("latency_p50", "delivery latency p50 at 1,000 events/s", "ms",
           None, med(p50), med(p50) / 1.0, "< 1 ms", med(p50) < 1.0, p50)
    record("latency_p99", "delivery latency p99 at 1,000 events/s", "ms",
           None, med(p99), med(p99) / 2.0, "< 2 ms", med(p99) < 2.0, p99)


def bench_isolation():
    """The healthy endpoint's delivery rate under wrk load, with 100 dead
    endpoints (accept, never answer) holding deliveries of their own, and
    the same run without them."""
    recv = receiver()
    hole = spawn([HBENCH, "hole", "100"], "hole", stdout=subprocess.PIPE)
    ports = [int(hole.stdout.readline()) for _ in range(100)]
    # Short timeouts and retries keep the dead endpoints busy for the whole
    # run: connect, send, time out, wait, again.
    # One client holds all 101 endpoints: past the per-client default.
    conf = ("timeout 1s\nretry_schedule 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s\n"
            "max_endpoints_per_client 1000\n")
    dead_event = EVENT.replace('"type":"t"', '"type":"dead"')

    def with_dead(h):
        for k, p in enumerate(ports):
            h.endpoint("http://127.0.0.1:%d/dead%d" % (p, k),
                       events=("dead",))
        predead(h)

    def predead(h):
        # 100 events for the dead: 10,000 deliveries, far more than the
        # 256 outbound slots.
        subprocess.run([HBENCH, "post", str(h.port), TOKEN, "100", "4",
                        dead_event], check=True, capture_output=True)
        h.preposted = 100

    alone, dead = [], []
    for i in range(RUNS):
        alone.append(relay_hookd(recv, setup=predead, conf=conf))
        dead.append(relay_hookd(recv, setup=with_dead, conf=conf))
        log("isolation run %d: healthy alone %.0f, with 100 dead %.0f "
            "deliveries/s" % (i + 1, alone[-1], dead[-1]))
    stop(hole, signal.SIGKILL)
    recv.stop()
    a = med(alone)
    record("isolation", "healthy endpoint beside 100 dead ones",
           "deliveries/s", a, med(dead), med(dead) / a, ">= 0.9 x alone",
           med(dead) / a >= 0.9, dead)


def bench_memory():
    idle, per = [], []
    worker = []
    n = 100000
    small = json.dumps({"client": "bench", "type": "t",
                        "data": {"order": "ord_4f3c2a19", "amount": 12990}},
                       separators=(",", ":"))
    payload = len(json.dumps({"order": "ord_4f3c2a19", "amount": 12990},
                             separators=(",", ":")))
    for i in range(RUNS):
        ng = receiver()
        time.sleep(0.2)
        worker.append(rss_kb(ng.worker_pid()))
        ng.stop()
        h = Hookd("memory", "fsync never\ntimeout 1h\n")
        time.sleep(0.2)
        idle.append(rss_kb(h.proc.pid))
        hole = spawn([HBENCH, "hole", "1"], "hole", stdout=subprocess.PIPE)
        port = int(hole.stdout.readline())
        h.client()
        h.endpoint("http://127.0.0.1:%d/paused" % port)
        before = rss_kb(h.proc.pid)
        subprocess.run([HBENCH, "post", str(h.port), TOKEN, str(n), "16",
                        small], check=True, capture_output=True)
        wait_count(lambda: h.metric("hookd_pending_deliveries"), n)
        after = rss_kb(h.proc.pid)
        per.append((after - before) * 1024.0 / n - payload)
        h.stop()
        stop(hole, signal.SIGKILL)
        log("memory run %d: idle %d kB (nginx worker %d kB); %d pending: "
            "%d -> %d kB, %.0f bytes each beyond the %d-byte payload"
            % (i + 1, idle[-1], worker[-1], n, before, after, per[-1],
               payload))
    w = med(worker)
    record("rss_idle", "idle RSS", "kB", w, med(idle), med(idle) / w,
           "< 2048 kB", med(idle) < 2048, idle)
    record("rss_pending", "RSS per pending delivery beyond payload",
           "bytes", None, med(per), med(per) / 256.0, "<= 256 bytes",
           med(per) <= 256, per)


def write_journal(data_dir, nrec):
    """A data directory whose journal holds nrec records: nrec/2 events of
    the 1 KiB body, each with one delivery, and its delivered attempt."""
    os.makedirs(data_dir, mode=0o700)
    now = int(time.time() * 1000) - 3600 * 1000
    ep = (now - 1000) << 16
    token_hash = hashlib.sha256(b"hkc_bench").hexdigest()

    def rec(obj):
        j = json.dumps(obj, separators=(",", ":"))
        return "%08x %s\n" % (zlib.crc32(j.encode()), j)

    with open(os.path.join(data_dir, "registry.log"), "w") as f:
        f.write(rec({"t": "client", "id": "bench", "name": "bench",
                     "token_sha256": token_hash,
                     "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                     "created": now - 2000, "updated": now - 2000}))
        f.write(rec({"t": "endpoint", "id": "ep_%016x" % ep,
                     "client": "bench", "url": "http://127.0.0.1:9/hook",
                     "method": "POST", "events": ["*"], "headers": None,
                     "description": None,
                     "secret": "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
                     "prev_secret": "", "prev_until": 0, "enabled": True,
                     "created": now - 1000, "updated": now - 1000}))
    data = json.loads(EVENT)["data"]
    djson = json.dumps(data, separators=(",", ":"))
    off = 0
    last = None
    with open(os.path.join(data_dir, "journal.log"), "w") as f:
        chunk = []
        for i in range(nrec // 2):
            at = now + i // 1000
            eid = (at << 16) | (i % 1000) * 2
            # Built as text: json.dumps would reorder nothing, but is slow.
            ev = ('{"t":"event","id":"evt_%016x","client":"bench",'
                  '"type":"t","at":%d,"dlv":[["dlv_%016x","ep_%016x"]],'
                  '"data":%s}' % (eid, at, eid + 1, ep, djson))
            att = ('{"t":"attempt","d":"dlv_%016x","prev":-1,"n":1,"at":%d,'
                   '"status":200,"error":null,"ms":1,"body":"ok",'
                   '"state":"delivered","next":0}' % (eid + 1, at))
            for j in (ev, att):
                line = "%08x %s\n" % (zlib.crc32(j.encode()), j)
                chunk.append(line)
                off += len(line)
            last = "evt_%016x" % eid
            if len(chunk) >= 20000:
                f.write("".join(chunk))
                chunk = []
        f.write("".join(chunk))
    return off, last


def bench_recovery():
    # In memory: writing 650 MB to the disk only to read it back from the
    # page cache would slow every fsync after it (and other work) for
    # minutes on a throttled virtual disk.
    data = os.path.join(SHM, "recovery-data")
    t = time.monotonic()
    size, last = write_journal(data, 1000000)
    log("recovery: wrote 1,000,000 records (%.0f MB) in %.1f s"
        % (size / 1e6, time.monotonic() - t))
    times = []
    for i in range(RUNS):
        h = Hookd("recovery", "fsync always\n", data=data)
        times.append(h.ready)
        # It really replayed: the newest event is there, delivered.
        ev = h.call("GET", "/v1/events/" + last)
        if ev["deliveries"][0]["status"] != "delivered":
            raise RuntimeError("recovered event: %r" % ev)
        h.stop()
        log("recovery run %d: accepting after %.2f s" % (i + 1, times[-1]))
    shutil.rmtree(data)
    record("recovery", "start-up over a 1,000,000-record journal", "s",
           None, med(times), med(times) / 3.0, "< 3 s", med(times) < 3.0,
           times)


def bench_size():
    out = os.path.join(TMP, "hookd.stripped")
    subprocess.run(["strip", "-o", out, HOOKD], check=True)
    size = os.stat(out).st_size
    record("size", "stripped binary", "bytes", None, size,
           size / 204800.0, "< 200 KiB", size < 204800, [size])


# ------------------------------------------------------------------ tls

NOTES = []          # lines for the report's foot
SERIAL = itertools.count()  # a fresh nginx prefix (and count.log) each


def is_tls_build(binary):
    out = subprocess.run([binary, "-V"], capture_output=True, text=True)
    return "OpenSSL" in out.stdout + out.stderr


def tls_pki():
    """The tests' throw-away PKI (made once, removed at exit)."""
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    from integ.tlsca import pki
    return pki()


def extra_ports(n):
    """n ports free now, below the kernel's ephemeral range (where
    free_port picks), so that neither repeats one nor picks one later."""
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        low = int(f.read().split()[0])
    ports, p = [], max(1024, low - 20000) + 1000 * next(SERIAL) % 15000
    while len(ports) < n:
        if p >= low:
            raise RuntimeError("no %d free ports below %d" % (n, low))
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", p))
            ports.append(p)
        except OSError:
            pass
        s.close()
        p += 1
    return ports


def tls_receiver(pki, nports=1):
    """nginx answering 200 over https on nports ports (TLS 1.2 and 1.3,
    the PKI's localhost certificate, session tickets on), one log line per
    request. .ports lists them; .port is the first."""
    extra = "".join("        listen 127.0.0.1:%d ssl backlog=4096;\n"
                    % p for p in extra_ports(nports - 1))
    cert, key = pki.cert("localhost")
    r = Nginx("tls-receiver-%d" % next(SERIAL), """\
    server {{
        listen 127.0.0.1:{port} ssl backlog=4096;
%s        ssl_certificate %s;
        ssl_certificate_key %s;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:tls:1m;
        ssl_session_tickets on;
        access_log {dir}/count.log count;
        location / {{ return 200 "ok"; }}
    }}""" % (extra, cert, key))
    r.ports = [r.port] + [int(line.split(":")[1].split()[0])
                          for line in extra.splitlines()]
    r.count_path = os.path.join(r.dir, "count.log")
    r.count = lambda: (os.stat(r.count_path).st_size // 2
                       if os.path.exists(r.count_path) else 0)
    return r


def tls_relay_reference(recv_port, pki):
    """nginx proxy_pass to the https receiver, verifying it as hookd does
    (the test CA, the name localhost), keep-alive upstream connections and
    resumed sessions."""
    return Nginx("tls-relay-ref", """\
    upstream receiver {{ server 127.0.0.1:%d; keepalive 64; }}
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location /v1/events {{
            proxy_pass https://receiver;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_ssl_verify on;
            proxy_ssl_trusted_certificate %s;
            proxy_ssl_name localhost;
            proxy_ssl_server_name on;
            proxy_ssl_session_reuse on;
            proxy_ssl_protocols TLSv1.2 TLSv1.3;
        }}
    }}""" % (recv_port, pki.root))


def tls_idle_conn_rss(pki, n, tls):
    """RSS per idle pooled connection: hookd delivers one event to n
    endpoints on n ports of one nginx (n pools, one connection each, all
    kept alive), measured against the same hookd after one delivery on
    one connection (so the TLS library's one-time state is not counted).
    tls: https (and the PKI's CA) or plain http."""
    recv = tls_receiver(pki, n + 1) if tls else None
    if recv is None:
        body = "".join("        listen 127.0.0.1:%d backlog=4096;\n"
                       % p for p in extra_ports(n))
        recv = Nginx("plain-receiver-%d" % next(SERIAL), """\
    server {{
        listen 127.0.0.1:{port} backlog=4096;
%s        access_log {dir}/count.log count;
        location / {{ return 200 "ok"; }}
    }}""" % body)
        recv.ports = [recv.port] + [int(line.split(":")[1].split()[0])
                                    for line in body.splitlines()]
        recv.count_path = os.path.join(recv.dir, "count.log")
        recv.count = lambda: (os.stat(recv.count_path).st_size // 2
                              if os.path.exists(recv.count_path) else 0)
    scheme = "https://localhost" if tls else "http://127.0.0.1"
    conf = ("fsync never\ntimeout 30s\nmax_endpoints_per_client %d\n"
            % (n + 10))
    if tls:
        conf += "tls_ca_file %s\n" % pki.root
    h = Hookd("tls-rss" if tls else "plain-rss", conf)
    h.client()
    h.endpoint("%s:%d/warm" % (scheme, recv.ports[0]), events=("warm",))
    for p in recv.ports[1:]:
        h.endpoint("%s:%d/idle" % (scheme, p), events=("t",))
    h.call("POST", "/v1/events", {"client": "bench", "type": "warm",
                                  "data": {}})
    wait_count(recv.count, 1)
    time.sleep(0.3)
    before = rss_kb(h.proc.pid)
    h.call("POST", "/v1/events", {"client": "bench", "type": "t",
                                  "data": {}})
    wait_count(recv.count, n + 1)
    # The answers are in: the connections go back to their pools now.
    time.sleep(0.3)
    after = rss_kb(h.proc.pid)
    h.stop()
    recv.stop()
    return (after - before) * 1024.0 / n


def build_size(tls):
    """Stripped size of hookd built by this tree's Makefile in a copy of
    its sources (./hookd is left alone), plain or with TLS=openssl."""
    d = os.path.join(TMP, "build-tls" if tls else "build-plain")
    os.makedirs(d)
    for f in os.listdir(ROOT):
        if f == "Makefile" or f.endswith((".c", ".h")):
            shutil.copy2(os.path.join(ROOT, f), d)
    argv = ["make", "-s", "-C", d, "hookd"] + (["TLS=openssl"] if tls
                                                else [])
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(argv), done.stderr[-2000:]))
    out = os.path.join(d, "hookd.stripped")
    subprocess.run(["strip", "-o", out, os.path.join(d, "hookd")],
                   check=True)
    return os.stat(out).st_size


def bench_tls():
    if not is_tls_build(HOOKD):
        msg = ("tls: skipped, %s is not a TLS build (hookd -V names no "
               "TLS library); run `make TLS=openssl bench`"
               % os.environ.get("HOOKD_BIN", "./hookd"))
        log(msg)
        NOTES.append(msg)
        return
    pki = tls_pki()
    recv = tls_receiver(pki)
    url = "https://localhost:%d/hook" % recv.port
    conf = "tls_ca_file %s\n" % pki.root
    ref, hk = [], []
    for i in range(RUNS):
        ng = tls_relay_reference(recv.port, pki)
        base = recv.count()
        t0 = time.monotonic()
        wrk(ng.port)
        n = recv.count() - base
        ref.append(n / (time.monotonic() - t0))
        ng.stop()
        hk.append(relay_hookd(recv, conf=conf, url=url))
        log("tls relay run %d: nginx proxy_pass https %.0f, hookd %.0f "
            "deliveries/s" % (i + 1, ref[-1], hk[-1]))
    recv.stop()
    r = med(ref)
    record("tls_relay", "relay to an https receiver", "deliveries/s", r,
           med(hk), med(hk) / r, ">= 0.5 x nginx", med(hk) / r >= 0.5, hk)

    n = 200
    per_tls, per_plain = [], []
    for i in range(RUNS):
        per_tls.append(tls_idle_conn_rss(pki, n, True))
        per_plain.append(tls_idle_conn_rss(pki, n, False))
        log("tls memory run %d: %d idle pooled connections, %.0f bytes "
            "each over TLS, %.0f bytes each plain" % (i + 1, n, per_tls[-1],
                                                      per_plain[-1]))
    v = med(per_tls)
    record("tls_rss_conn", "RSS per idle pooled TLS connection", "bytes",
           None, v, v / 65536.0, "<= 64 KiB", v <= 65536, per_tls)
    v = med(per_plain)
    record("plain_rss_conn", "RSS per idle pooled plain connection (info)",
           "bytes", None, v, v / 65536.0, "-", None, per_plain)

    plain, tls = build_size(False), build_size(True)
    log("tls size: plain build %d, TLS build %d bytes stripped"
        % (plain, tls))
    record("size_plain", "stripped binary, plain build (info)", "bytes",
           None, plain, plain / 204800.0, "-", None, [plain])
    record("size_tls", "stripped binary, TLS build (info)", "bytes", None,
           tls, tls / 204800.0, "-", None, [tls])


# ------------------------------------------------------------------ report

def fsync_ms(size):
    """The disk under the data directories: p50 of an fsync after an
    append of size bytes."""
    path = os.path.join(TMP, "fsync-probe")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    ts = []
    for _ in range(40):
        os.write(fd, b"x" * size)
        t = time.perf_counter()
        os.fsync(fd)
        ts.append(time.perf_counter() - t)
    os.close(fd)
    os.unlink(path)
    return med(ts) * 1000


def disk():
    return "fsync after a 1 KiB append %.2f ms, after 64 KiB %.2f ms" % (
        fsync_ms(1024), fsync_ms(65536))


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def machine():
    model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = "?"
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = "%.0f GiB" % (int(line.split()[1]) / 1048576)
    return "%d cores, %s, %s RAM, Linux %s, %s" % (
        os.cpu_count(), model, mem, platform.release(),
        time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))


# ------------------------------------------------------------------ scaling
#
# Each figure at two sizes 10-100x apart: the cost per unit of work at the
# small size and at the large one, and their ratio. A cost that grows with
# the work (linear) has a ratio near 1 per unit (goal <= 1.3); an O(1) or
# O(log n) cost per request has a ratio near 1 (goal <= 2).

def rec_line(obj):
    j = json.dumps(obj, separators=(",", ":"))
    return "%08x %s\n" % (zlib.crc32(j.encode()), j)


def write_clients(data_dir, nclients):
    """A registry of nclients clients; client i's token is hkc_bench_i."""
    os.makedirs(data_dir, mode=0o700)
    now = int(time.time() * 1000) - 3600 * 1000
    with open(os.path.join(data_dir, "registry.log"), "w") as f:
        f.write("".join(rec_line({
            "t": "client", "id": "bench" if i == 0 else "c%d" % i,
            "name": "", "token_sha256":
            hashlib.sha256(b"hkc_bench_%d" % i).hexdigest(),
            "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "created": now, "updated": now}) for i in range(nclients)))


def write_idem(data_dir, nkeys):
    """A journal holding nkeys Idempotency-Keys of client bench, made in
    the last hour (so none has expired)."""
    now = int(time.time() * 1000) - 3600 * 1000
    with open(os.path.join(data_dir, "journal.log"), "w") as f:
        chunk = []
        for i in range(nkeys):
            j = ('{"t":"idem","client":"bench","key":"stored-%d","at":%d,'
                 '"status":202,"body":"{\\"id\\":\\"evt_0\\"}",'
                 '"req_sha256":"%064x"}' % (i, now + i // 1000, i))
            chunk.append("%08x %s\n" % (zlib.crc32(j.encode()), j))
            if len(chunk) >= 50000:
                f.write("".join(chunk))
                chunk = []
        f.write("".join(chunk))


def wrk_lua(path, method, body, token, idem):
    with open(path, "w") as f:
        f.write('wrk.method = "%s"\n' % method)
        if body is not None:
            f.write("wrk.body = %s\n" % json.dumps(body))
            f.write('wrk.headers["Content-Type"] = "application/json"\n')
        f.write('wrk.headers["Authorization"] = "Bearer %s"\n' % token)
        if idem:
            # A new key each request: a lookup that misses, then an insert.
            f.write("n = 0\nrequest = function()\n  n = n + 1\n"
                    '  wrk.headers["Idempotency-Key"] = "new-" .. n\n'
                    "  return wrk.format()\nend\n")
    return path


def wrk_us(port, script, path, seconds=3, conns=16):
    """Microseconds per request under wrk -t1 -cN: 1e6 / req/s (hookd is
    one thread, so this is the loop's cost of one request)."""
    out = subprocess.run(["wrk", "-t1", "-c%d" % conns, "-d%ds" % seconds,
                          "-s", script, "http://127.0.0.1:%d%s"
                          % (port, path)], capture_output=True, text=True,
                         timeout=seconds + 60).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if rps is None or bad is not None:
        raise RuntimeError("wrk said: " + out)
    return 1e6 / float(rps.group(1))


def timed(h, method, path, body=None):
    """Seconds from sending a request to reading its whole answer."""
    c = http.client.HTTPConnection("127.0.0.1", h.port, timeout=600)
    hdr = {"Authorization": "Bearer " + TOKEN}
    if body is not None:
        hdr["Content-Type"] = "application/json"
    c.connect()
    t = time.monotonic()
    c.request(method, path, body=body, headers=hdr)
    r = c.getresponse()
    r.read()
    t = time.monotonic() - t
    c.close()
    if r.status >= 300:
        raise RuntimeError("%s %s: %d" % (method, path, r.status))
    return t


def post_seconds(h, n, body):
    """Seconds per event for n events posted one after another on one
    keep-alive connection (hbench post)."""
    out = subprocess.run([HBENCH, "post", str(h.port), TOKEN, str(n), "1",
                          body], check=True, capture_output=True,
                         text=True).stdout
    m = re.search(r"non202=(\d+) seconds=([\d.]+)", out)
    if m is None or m.group(1) != "0":
        raise RuntimeError("hbench said: " + out)
    return float(m.group(2)) / n


# The longest loop pass (ms) of the hookd a scale_* function ran last,
# read from /metrics just before it stopped, and the most CPU time (ms) one
# of its passes used: the wall figure less any wait for a core, which on a
# shared 2-core machine tells hookd's work from the machine's load.
LAST_PASS = [None]
LAST_CPU = [None]


def note_pass(h):
    LAST_PASS[0] = h.metric("hookd_loop_pass_max_seconds") * 1000.0
    LAST_CPU[0] = h.metric("hookd_loop_pass_max_cpu_seconds") * 1000.0


def scale_fanout(k, hole_port):
    """Accept time of one event matching k endpoints, per endpoint (us):
    the time of events that match them all less that of events that match
    none, over k."""
    h = Hookd("scale-fanout", "fsync never\ntimeout 1h\n"
              "max_endpoints_per_client %d\n" % (k + 10),
              data=os.path.join(SHM, "scale-fanout-%d" % k))
    h.client()
    for i in range(k):
        h.endpoint("http://127.0.0.1:%d/ep%d" % (hole_port, i),
                   events=("t",))
    other = EVENT.replace('"type":"t"', '"type":"u"')
    n = max(50, 50000 // k)
    miss = post_seconds(h, n, other)
    hit = post_seconds(h, n, EVENT)
    note_pass(h)
    h.stop()
    shutil.rmtree(h.data)
    return max(hit - miss, 1e-9) * 1e6 / k


def scale_delete(n, hole_port):
    """DELETE of an endpoint with n queued deliveries, per delivery (us).
    They wait for the one outbound slot on the global list, each behind a
    delivery of another endpoint (every event matches both), as when
    receivers are slow."""
    small = json.dumps({"client": "bench", "type": "t",
                        "data": {"n": 1}}, separators=(",", ":"))
    h = Hookd("scale-delete", "fsync never\ntimeout 1h\n"
              "max_outbound 1\n",
              data=os.path.join(SHM, "scale-delete-%d" % n))
    h.client()
    h.endpoint("http://127.0.0.1:%d/kept" % hole_port)
    ep = h.endpoint("http://127.0.0.1:%d/queued" % hole_port)["id"]
    subprocess.run([HBENCH, "post", str(h.port), TOKEN, str(n), "16",
                    small], check=True, capture_output=True)
    wait_count(lambda: h.metric("hookd_pending_deliveries"), 2 * n)
    time.sleep(1.0)         # every delivery announced and waiting
    # The DELETE is answered at once and its deliveries fail over the
    # next passes (1,000 a pass): the figure is the time until the last
    # has failed, which the loop keeps serving through (the metric).
    t0 = time.monotonic()
    timed(h, "DELETE", "/v1/endpoints/" + ep)
    deadline = t0 + 120
    while h.metric("hookd_pending_deliveries") != n:
        if time.monotonic() > deadline:
            raise RuntimeError("deliveries left pending after the DELETE")
        time.sleep(0.001)
    t = time.monotonic() - t0
    note_pass(h)
    h.stop()
    shutil.rmtree(h.data)
    return t * 1e6 / n


def scale_idem(nkeys):
    """A request with a new Idempotency-Key beside nkeys stored (us)."""
    data = os.path.join(SHM, "scale-idem-%d" % nkeys)
    write_clients(data, 1)
    write_idem(data, nkeys)
    h = Hookd("scale-idem", "fsync never\n", data=data)
    script = wrk_lua(os.path.join(TMP, "idem.lua"), "POST", EVENT, TOKEN, 1)
    us = wrk_us(h.port, script, "/v1/events")
    note_pass(h)
    h.stop()
    shutil.rmtree(data)
    return us


def scale_token(nclients):
    """A client-token request among nclients clients (us)."""
    data = os.path.join(SHM, "scale-token-%d" % nclients)
    write_clients(data, nclients)
    h = Hookd("scale-token", "fsync never\n", data=data)
    script = wrk_lua(os.path.join(TMP, "token.lua"), "GET", None,
                     "hkc_bench_%d" % (nclients - 1), 0)
    us = wrk_us(h.port, script, "/v1/events?limit=1")
    note_pass(h)
    h.stop()
    shutil.rmtree(data)
    return us


def scale_compact(nev, conf=""):
    """The longest loop pass (ms) of a compaction of a journal of nev
    events (each with a delivered attempt) while events are posted: from
    the POST /v1/compact to the "compacted" line, less the pass of the
    POST itself (the registry's rewrite and the fork point), which is its
    own figure. conf: more config
    (scale_drop's retention)."""
    data = os.path.join(SHM, "scale-compact-%d" % nev)
    write_journal(data, 2 * nev)
    h = Hookd("scale-compact", "fsync never\n" + conf, data=data)
    logpath = log_path("scale-compact")
    with open(logpath, "rb") as f:
        seen = f.read().count(b"msg=compacted")
    small = json.dumps({"client": "bench", "type": "t",
                        "data": {"n": 1}}, separators=(",", ":"))
    nposts = max(20000, nev // 5)
    ingest = subprocess.Popen([HBENCH, "post", str(h.port), TOKEN,
                               str(nposts), "4", small],
                              stdout=subprocess.PIPE, text=True)
    time.sleep(0.5)             # ingest running before the compaction
    h.call("POST", "/v1/compact")
    before = h.metric("hookd_loop_pass_max_seconds") * 1000.0

    def compacted():
        with open(logpath, "rb") as f:
            return f.read().count(b"msg=compacted") > seen
    deadline = time.monotonic() + 600
    while not compacted():
        if time.monotonic() > deadline or h.proc.poll() is not None:
            raise RuntimeError("compaction did not end: see " + logpath)
        time.sleep(0.05)
    out = ingest.communicate(timeout=600)[0]
    if "non202=0" not in out:
        raise RuntimeError("hbench said: " + out)
    note_pass(h)
    with open(logpath, "rb") as f:
        tail = f.read().decode(errors="replace").splitlines()
    log("compact %d: %s; longest pass up to its start %.1f ms" % (
        nev, [l for l in tail if "msg=compacted" in l][-1][:300], before))
    h.stop()
    shutil.rmtree(data)
    return LAST_PASS[0]


def scale_drop(nev):
    """scale_compact with retention 30m: every event of the hour-old
    journal expires, so the compaction drops all nev (in steps since
    issue 20 item 7; in one pass before)."""
    return scale_compact(nev, "retention 30m\n")


def write_registry_eps(data_dir, nclients, hole_port):
    """A registry of nclients clients (bench and c1...), one endpoint each
    taking every type; bench's goes to the hole, the others' to port 9."""
    os.makedirs(data_dir, mode=0o700)
    now = int(time.time() * 1000) - 3600 * 1000
    ep = (now - 1000) << 16
    with open(os.path.join(data_dir, "registry.log"), "w") as f:
        for i in range(nclients):
            cid = "bench" if i == 0 else "c%d" % i
            f.write(rec_line({
                "t": "client", "id": cid, "name": "",
                "token_sha256": hashlib.sha256(b"hkc_bench_%d" % i)
                .hexdigest(),
                "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                "created": now - 2000, "updated": now - 2000}))
            f.write(rec_line({
                "t": "endpoint", "id": "ep_%016x" % (ep + i), "client": cid,
                "url": "http://127.0.0.1:%d/e%d" % (hole_port if i == 0
                                                     else 9, i),
                "method": "POST", "events": ["*"], "headers": None,
                "description": None,
                "secret": "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
                "prev_secret": "", "prev_until": 0, "enabled": True,
                "created": now - 1000, "updated": now - 1000}))


def scale_match(nother, hole_port):
    """Accept time of an event of a client with one endpoint while
    nother other clients have one each (us per event)."""
    data = os.path.join(SHM, "scale-match-%d" % nother)
    write_registry_eps(data, nother + 1, hole_port)
    h = Hookd("scale-match", "fsync never\ntimeout 1h\n", data=data)
    # Small events on 16 connections: the loop's cost, not a round trip.
    small = json.dumps({"client": "bench", "type": "t", "data": {"n": 1}},
                       separators=(",", ":"))
    n = 50000
    out = subprocess.run([HBENCH, "post", str(h.port), TOKEN, str(n), "16",
                          small], check=True, capture_output=True,
                         text=True).stdout
    m = re.search(r"non202=(\d+) seconds=([\d.]+)", out)
    if m is None or m.group(1) != "0":
        raise RuntimeError("hbench said: " + out)
    us = float(m.group(2)) * 1e6 / n
    note_pass(h)
    h.stop()
    shutil.rmtree(data)
    return us


# The stores the list figures read, by size (made once per bench run).
LIST_STORES = {}


def list_store(n):
    """A data directory with n events of client bench (type t, one
    delivery each, delivered) and, spread among them, 10 events of client
    few (type rare) whose deliveries failed: filters with few matches."""
    if n in LIST_STORES:
        return LIST_STORES[n]
    data = os.path.join(SHM, "scale-list-%d" % n)
    os.makedirs(data, mode=0o700)
    now = int(time.time() * 1000) - 3600 * 1000
    ep = (now - 1000) << 16
    with open(os.path.join(data, "registry.log"), "w") as f:
        for i, cid in enumerate(("bench", "few")):
            f.write(rec_line({
                "t": "client", "id": cid, "name": "",
                "token_sha256": hashlib.sha256(b"hkc_list_%d" % i)
                .hexdigest(),
                "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                "created": now - 2000, "updated": now - 2000}))
            f.write(rec_line({
                "t": "endpoint", "id": "ep_%016x" % (ep + i), "client": cid,
                "url": "http://127.0.0.1:9/e", "method": "POST",
                "events": ["*"], "headers": None, "description": None,
                "secret": "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
                "prev_secret": "", "prev_until": 0, "enabled": True,
                "created": now - 1000, "updated": now - 1000}))
    every = n // 10
    with open(os.path.join(data, "journal.log"), "w") as f:
        chunk = []
        for i in range(n):
            at = now + i // 1000
            eid = (at << 16) | (i % 1000) * 2
            few = i % every == every // 2
            ev = ('{"t":"event","id":"evt_%016x","client":"%s","type":"%s",'
                  '"at":%d,"dlv":[["dlv_%016x","ep_%016x"]],'
                  '"data_s":"{}"}' % (eid, "few" if few else "bench",
                                      "rare" if few else "t", at, eid + 1,
                                      ep + few))
            att = ('{"t":"attempt","d":"dlv_%016x","prev":-1,"n":1,"at":%d,'
                   '"status":%d,"error":null,"ms":1,"body":"","state":"%s",'
                   '"next":0}' % (eid + 1, at, 500 if few else 200,
                                  "failed" if few else "delivered"))
            for j in (ev, att):
                chunk.append("%08x %s\n" % (zlib.crc32(j.encode()), j))
            if len(chunk) >= 20000:
                f.write("".join(chunk))
                chunk = []
        f.write("".join(chunk))
    LIST_STORES[n] = data
    return data


def scale_list(n, path):
    """GET path (a filter matching 10 records) in a store of n events and
    n deliveries: us per request (wrk -t1 -c16)."""
    h = Hookd("scale-list", "fsync never\nretention 3650d\n",
              data=list_store(n))
    script = wrk_lua(os.path.join(TMP, "list.lua"), "GET", None, TOKEN, 0)
    us = wrk_us(h.port, script, path)
    note_pass(h)
    h.stop()
    return us


def delayed_store(n):
    """A data directory with n events of client bench, each with one
    delivery held back a day by deliver_at (contract §15): n pending
    deliveries in the timer heap once replayed."""
    data = os.path.join(SHM, "scale-delayed-%d" % n)
    os.makedirs(data, mode=0o700)
    now = int(time.time() * 1000) - 3600 * 1000
    later = now + 25 * 3600 * 1000
    ep = (now - 1000) << 16
    with open(os.path.join(data, "registry.log"), "w") as f:
        f.write(rec_line({
            "t": "client", "id": "bench", "name": "",
            "token_sha256": hashlib.sha256(b"hkc_delayed").hexdigest(),
            "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "created": now - 2000, "updated": now - 2000}))
        f.write(rec_line({
            "t": "endpoint", "id": "ep_%016x" % ep, "client": "bench",
            "url": "http://127.0.0.1:9/e", "method": "POST",
            "events": ["*"], "headers": None, "description": None,
            "secret": "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
            "prev_secret": "", "prev_until": 0, "enabled": True,
            "created": now - 1000, "updated": now - 1000}))
    with open(os.path.join(data, "journal.log"), "w") as f:
        chunk = []
        for i in range(n):
            at = now + i // 1000
            eid = (at << 16) | (i % 1000) * 2
            ev = ('{"t":"event","id":"evt_%016x","client":"bench","type":'
                  '"t","at":%d,"deliver_at":%d,"dlv":[["dlv_%016x",'
                  '"ep_%016x"]],"data_s":"{}"}' % (eid, at, later + i,
                                                    eid + 1, ep))
            chunk.append("%08x %s\n" % (zlib.crc32(ev.encode()), ev))
            if len(chunk) >= 20000:
                f.write("".join(chunk))
                chunk = []
        f.write("".join(chunk))
    return data


def scale_delayed(n):
    """Ingest of events delayed a day (us per event, one connection)
    beside n delayed pending deliveries in the timer heap; the longest
    loop pass is the heap's cost per pass (contract §15)."""
    data = delayed_store(n)
    h = Hookd("scale-delayed", "fsync never\ntimeout 1h\n", data=data)
    wait_count(lambda: h.metric("hookd_pending_deliveries"), n)
    body = EVENT[:-1] + ',"delay":"1d"}'
    us = post_seconds(h, 20000, body) * 1e6
    note_pass(h)
    h.stop()
    shutil.rmtree(data)
    return us


SHARD_CLIENTS = 30


def shard_script(path):
    """A wrk script posting the 1 KiB event for SHARD_CLIENTS clients in
    turn ("b0000".., as long as "bench", so every body is 1 KiB), each with
    its Hookd-Client header: the requests are made once, in init."""
    with open(path, "w") as f:
        f.write("local body = %s\n" % json.dumps(EVENT))
        f.write("local n = %d\nlocal reqs = {}\nlocal k = 0\n"
                % SHARD_CLIENTS)
        f.write("init = function(args)\n"
                "  for i = 0, n - 1 do\n"
                "    local c = string.format(\"b%%04d\", i)\n"
                "    local b = body:gsub('\"client\":\"bench\"', "
                "'\"client\":\"' .. c .. '\"')\n"
                "    reqs[i + 1] = wrk.format(\"POST\", nil, {"
                "[\"Authorization\"] = \"Bearer %s\", "
                "[\"Content-Type\"] = \"application/json\", "
                "[\"Hookd-Client\"] = c}, b)\n"
                "  end\nend\n"
                "request = function()\n  k = k %% n + 1\n"
                "  return reqs[k]\nend\n" % TOKEN)
    return path


class ShardProxy:
    """nginx from deploy/nginx.conf, its three example nodes replaced by
    ports (the same port thrice: every client on that one node)."""

    def __init__(self, name, ports):
        self.dir = os.path.join(TMP, name)
        os.makedirs(os.path.join(self.dir, "tmp"), exist_ok=True)
        self.port = free_port()
        with open(os.path.join(ROOT, "deploy", "nginx.conf")) as f:
            text = f.read()
        for example, port in zip(("18081", "18082", "18083"), ports):
            text = text.replace(example, str(port))
        text = text.replace("18080", str(self.port))
        self.conf = os.path.join(self.dir, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(text)
        shutil.copy(os.path.join(ROOT, "deploy", "nginx-pinned.map"),
                    self.dir)
        self.proc = spawn(["nginx", "-e", os.path.join(self.dir,
                                                        "startup.log"),
                           "-p", self.dir + "/", "-c", self.conf, "-g",
                           "daemon off;"], name)
        wait_port(self.port, self.proc)

    def call(self, method, path, body, client):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        c.request(method, path, body=json.dumps(body), headers={
            "Authorization": "Bearer " + TOKEN, "Hookd-Client": client,
            "Content-Type": "application/json"})
        r = c.getresponse()
        data = r.read()
        c.close()
        if r.status >= 300:
            raise RuntimeError("%s %s through nginx: %d %s"
                               % (method, path, r.status, data[:200]))

    def stop(self):
        stop(self.proc, signal.SIGQUIT)


def bench_shard():
    """Contract §17: durable ingest (fsync always, no endpoint) of
    SHARD_CLIENTS clients on 3 nodes behind nginx (deploy/nginx.conf),
    against 1 node behind the same nginx and 1 node direct."""
    script = shard_script(os.path.join(TMP, "shard.lua"))
    cids = ["b%04d" % i for i in range(SHARD_CLIENTS)]
    direct, one, three, share = [], [], [], []
    for i in range(RUNS):
        h = Hookd("shard-direct", "fsync always\n")
        for c in cids:
            h.call("POST", "/v1/clients", {"id": c})
        direct.append(wrk(h.port, script=script)[1])
        h.stop()
        h = Hookd("shard-one", "fsync always\n")
        px = ShardProxy("shard-nginx1", [h.port] * 3)
        for c in cids:
            px.call("POST", "/v1/clients", {"id": c}, c)
        one.append(wrk(px.port, script=script)[1])
        px.stop()
        h.stop()
        hs = [Hookd("shard-node%d" % k, "fsync always\n") for k in range(3)]
        px = ShardProxy("shard-nginx3", [x.port for x in hs])
        for c in cids:
            px.call("POST", "/v1/clients", {"id": c}, c)
        three.append(wrk(px.port, script=script)[1])
        share.append([x.metric("hookd_events_total") for x in hs])
        px.stop()
        for x in hs:
            x.stop()
        log("shard run %d: 1 node direct %.0f, 1 node behind nginx %.0f, 3 "
            "nodes behind nginx %.0f req/s (events per node %s)"
            % (i + 1, direct[-1], one[-1], three[-1],
               ", ".join("%.0f" % e for e in share[-1])))
    d = med(direct)
    record("shard_direct", "ingest, 30 clients, 1 node direct (info)",
           "req/s", d, d, 1.0, "-", None, direct)
    record("shard_1", "ingest, 30 clients, 1 node behind nginx (info)",
           "req/s", d, med(one), med(one) / d, "-", None, one)
    record("shard_3", "ingest, 30 clients, 3 nodes behind nginx (info)",
           "req/s", d, med(three), med(three) / d, "-", None, three)
    NOTES.append("shard: durable ingest (fsync always, 1 KiB events, no "
                 "endpoint) of 30 clients sent with Hookd-Client, by wrk "
                 "-t1 -c64; nginx from deploy/nginx.conf (%d workers on %d "
                 "cores); reference: 1 node direct; events per node in the "
                 "last run: %s" % (os.cpu_count(), os.cpu_count(),
                                   ", ".join("%.0f" % e for e in share[-1])))


def bench_scaling():
    hole = spawn([HBENCH, "hole", "1"], "hole", stdout=subprocess.PIPE)
    hole_port = int(hole.stdout.readline())
    figures = [
        ("scale_fanout", "fan-out: accept time per matching endpoint",
         "us", 100, 1000, lambda k: scale_fanout(k, hole_port), 1.3,
         "linear"),
        ("scale_delete", "DELETE endpoint: time per queued delivery",
         "us", 10000, 100000, lambda n: scale_delete(n, hole_port), 1.3,
         "linear"),
        ("scale_idem", "request with Idempotency-Key, per request", "us",
         10000, 1000000, scale_idem, 2.0, "O(1)"),
        ("scale_token", "client-token request, per request", "us", 100,
         10000, scale_token, 2.0, "O(1)"),
        ("scale_compact", "compaction under ingest: longest loop pass",
         "ms", 100000, 1000000, scale_compact, None, "<= 10 ms"),
        ("scale_drop", "compaction dropping every event: longest loop "
         "pass", "ms", 100000, 1000000, scale_drop, None, "<= 10 ms"),
        ("scale_match", "ingest beside other clients' endpoints, per "
         "event", "us", 100, 10000, lambda n: scale_match(n, hole_port),
         2.0, "O(1)"),
        ("scale_failed", "?status=failed page with 10 matches, per request",
         "us", 10000, 500000,
         lambda n: scale_list(n, "/v1/deliveries?status=failed"), 2.0,
         "O(log n)"),
        ("scale_type", "events ?client=&type= page with 10 matches, per "
         "request", "us", 10000, 500000,
         lambda n: scale_list(n, "/v1/events?client=few&type=rare"), 2.0,
         "O(log n)"),
        ("scale_delayed", "ingest beside delayed pending deliveries, per "
         "event", "us", 10000, 1000000, scale_delayed, 2.0, "O(log n)"),
    ]
    only = set(filter(None, os.environ.get("BENCH_SCALE", "").split(",")))
    for (name, label, unit, n0, n1, fn, goal, kind) in figures:
        if only and name[len("scale_"):] not in only:
            continue
        lo, hi, ratios, plo, phi, clo, chi = [], [], [], [], [], [], []
        for i in range(RUNS):
            lo.append(fn(n0))
            plo.append(LAST_PASS[0])
            clo.append(LAST_CPU[0])
            hi.append(fn(n1))
            phi.append(LAST_PASS[0])
            chi.append(LAST_CPU[0])
            ratios.append(hi[-1] / lo[-1])
            log("%s run %d: %.3f %s at %d, %.3f %s at %d: ratio %.2f; "
                "longest loop pass %.1f ms at %d, %.1f ms at %d; most CPU "
                "in a pass %.1f ms at %d, %.1f ms at %d"
                % (name, i + 1, lo[-1], unit, n0, hi[-1], unit, n1,
                   ratios[-1], plo[-1], n0, phi[-1], n1, clo[-1], n0,
                   chi[-1], n1))
        sizes = "%s vs %s" % ("{:,}".format(n0), "{:,}".format(n1))
        if goal is not None:
            r = med(hi) / med(lo)
            record(name, "%s (%s)" % (label, sizes), unit, med(lo),
                   med(hi), r, "<= %.1fx (%s)" % (goal, kind), r <= goal,
                   hi)
        record(name + "_pass", "longest loop pass: %s (%s)"
               % (label.split(":")[0], sizes), "ms", med(plo), med(phi),
               med(phi) / 10.0, "<= 10 ms", med(phi) <= 10.0, phi)
        record(name + "_cpu", "most CPU in a loop pass: %s (%s)"
               % (label.split(":")[0], sizes), "ms", med(clo), med(chi),
               med(chi) / 10.0, "<= 10 ms", med(chi) <= 10.0, chi)
    stop(hole, signal.SIGKILL)
    for data in LIST_STORES.values():
        shutil.rmtree(data)
    LIST_STORES.clear()


def fmt(v, unit):
    if v is None:
        return "-"
    if unit in ("req/s", "deliveries/s", "bytes", "kB"):
        return "{:,.0f}".format(v)
    if unit == "ms":
        return "%.3f" % v
    if unit in ("us", "percent"):
        return "%.1f" % v
    return "%.2f" % v


def report(load0, disk0, took):
    lines = ["hookd benchmark: median of %d runs (wrk -t1 -c64, %d s each)"
             % (RUNS, SECONDS), "machine: " + machine(),
             "load average before: %s, after: %s; took %.0f s%s"
             % (load0, loadavg(), took, ", niced -10" if os.nice(0) < 0
                else ""),
             "disk (median) before: %s; after: %s" % (disk0, disk())]
    if FSYNC_RAN:
        lines.append("fsync the runs had, in their data directory: median "
                     "%.3f ms (runs %s)" % (med(FSYNC_RAN), ", ".join(
                         "%.3f" % x for x in FSYNC_RAN)))
    lines.append("")
    head = ("figure", "unit", "reference", "hookd", "ratio", "goal", "met")
    rows = [head]
    for (name, label, unit, ref, value, ratio, goal, ok, runs) in RESULTS:
        rows.append((label, unit, fmt(ref, unit), fmt(value, unit),
                     "%.2f" % ratio if ref is not None else "-", goal,
                     "-" if ok is None else "yes" if ok else "NO"))
    w = [max(len(r[i]) for r in rows) for i in range(len(head))]
    for r in rows:
        lines.append("  ".join(c.ljust(w[i]) if i in (0, 1, 5) else
                               c.rjust(w[i]) for i, c in enumerate(r))
                     .rstrip())
    lines.append("")
    lines.append("reference: nginx %s, one worker (ingest: echo module "
                 "reading the body, answering 202; relay: proxy_pass to the "
                 "same nginx receiver; gateway: proxy_pass of /api/ to the "
                 "same upstream as hookd's route; idle RSS: its idle "
                 "worker); isolation: the same run without the dead "
                 "endpoints; tls: nginx "
                 "proxy_pass over https to the same nginx https receiver; "
                 "both verify it with the tests' throw-away CA"
                 % nginx_version())
    lines.extend(NOTES)
    lines.append("")
    for (name, label, unit, ref, value, ratio, goal, ok, runs) in RESULTS:
        lines.append("BENCH name=%s value=%s ratio=%.3f unit=%s met=%s "
                     "runs=%s" % (name, ("%.3f" % value).rstrip("0")
                                  .rstrip("."), ratio, unit.replace("/", "_per_"),
                                  "na" if ok is None else
                                  "yes" if ok else "no",
                                  ",".join(("%.3f" % x).rstrip("0").rstrip(".")
                                           for x in runs)))
    return "\n".join(lines) + "\n"


def nginx_version():
    out = subprocess.run(["nginx", "-v"], capture_output=True, text=True)
    return out.stderr.strip().split("/")[-1]


def main():
    global TMP, SHM, HOOKD
    TMP = tempfile.mkdtemp(prefix="hookd-bench-")
    # A copy: a rebuild of ./hookd during the run must not change (or,
    # half-written, break) what is measured.
    shutil.copy2(HOOKD, os.path.join(TMP, "hookd"))
    HOOKD = os.path.join(TMP, "hookd")
    SHM = TMP
    if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
        SHM = tempfile.mkdtemp(prefix="hookd-bench-", dir="/dev/shm")
    groups = [("ingest", bench_ingest), ("relay", bench_relay),
              ("gateway", bench_gateway),
              ("latency", bench_latency), ("isolation", bench_isolation),
              ("memory", bench_memory), ("recovery", bench_recovery),
              ("size", bench_size), ("tls", bench_tls),
              ("shard", bench_shard), ("scaling", bench_scaling)]
    t = time.monotonic()
    load0 = loadavg()
    disk0 = disk()
    try:
        for name, fn in groups:
            # The scaling group takes minutes: only when asked for.
            if (not ONLY and name != "scaling") or name in ONLY:
                log("== %s" % name)
                fn()
        text = report(load0, disk0, time.monotonic() - t)
    finally:
        for p in list(PROCS):
            stop(p, signal.SIGKILL)
        for d in (SHM, TMP):
            shutil.rmtree(d, ignore_errors=True)
    sys.stdout.write(text)
    if not ONLY:
        with open(os.path.join(ROOT, "bench", "results.txt"), "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
