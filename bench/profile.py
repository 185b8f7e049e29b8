"""bench/profile.py: instruction counts per request of hookd's user space,
with valgrind's callgrind, for the profile-driven work of issue 12.

    python3 bench/profile.py ingest|relay|gateway [N] [OUT] [--strace]

ingest posts N 1 KiB events (default 2000; the event of bench.py) to hookd
running under callgrind with `fsync never` and no endpoint; relay adds one
endpoint on a Python receiver and waits until all N were delivered. gateway
posts the same 1 KiB body N times to /api/foo with a client's token, under
`route /api/ http://RECEIVER/` with the client's endpoint for
request.completed on the same receiver, and waits until all N upstream
calls and all N callbacks arrived. The
counters are zeroed after start-up and set-up (callgrind_control -z) and
dumped once the load is done (-d), so the dump holds only the load. Prints
"Ir per request" and writes the dump to OUT (default /tmp/cg.<mode>), to read
with callgrind_annotate. Instruction counts do not depend on how busy the
machine is, unlike req/s. Needs valgrind and bench/hbench (make bench, or cc
-O2 -o bench/hbench bench/hbench.c).

--strace runs hookd under `strace -c -f` instead, with `fsync always` (as
shipped) and its data on disk (in /tmp), and prints strace's table and the
calls per request of each syscall (set-up included: two API calls).
"""

import glob
import http.server
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import bench  # noqa: E402  (the event, the token, free ports, Hookd.call)

ROOT = bench.ROOT


class Sink(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    count = 0           # deliveries (and upstream calls), all paths
    callbacks = 0       # of them to /callback
    lock = threading.Lock()

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
        with Sink.lock:
            Sink.count += 1
            if self.path == "/callback":
                Sink.callbacks += 1

    def log_message(self, *a):
        pass


def main():
    use_strace = "--strace" in sys.argv
    args = [a for a in sys.argv[1:] if a != "--strace"]
    mode = args[0]
    n = int(args[1]) if len(args) > 1 else 2000
    out = args[2] if len(args) > 2 else "/tmp/%s.%s" % (
        "strace" if use_strace else "cg", mode)
    # strace measures the shipped durability: fsync always, on disk.
    tmp = tempfile.mkdtemp(prefix="hookd-prof-",
                           dir="/tmp" if use_strace else "/dev/shm")
    bench.TMP = tmp
    port = bench.free_port()
    srv = None
    if mode in ("relay", "gateway"):
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Sink)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    conf = os.path.join(tmp, "hookd.conf")
    with open(conf, "w") as f:
        f.write("allow_destinations 127.0.0.0/8\nfsync %s\n"
                % ("always" if use_strace else "never"))
        if mode == "gateway":
            f.write("route /api/ http://127.0.0.1:%d/\n"
                    % srv.server_address[1])
    cgout = os.path.join(tmp, "cg.out")
    env = dict(os.environ, HOOKD_ADMIN_TOKEN=bench.TOKEN)
    tool = (["strace", "-c", "-f", "-o", out] if use_strace else
            ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + cgout])
    proc = subprocess.Popen(
        tool + [bench.HOOKD, "-l", "127.0.0.1:%d" % port, "-d",
                os.path.join(tmp, "data"), "-c", conf], env=env,
        stderr=open(os.path.join(tmp, "hookd.log"), "w"))
    try:
        bench.wait_port(port, proc, timeout=60)
        h = bench.Hookd.__new__(bench.Hookd)
        h.port = port
        token, path, want = bench.TOKEN, "/v1/events", n
        if mode == "gateway":
            token = h.call("POST", "/v1/clients", {
                "id": "bench", "name": "bench"})["token"]
            h.endpoint("http://127.0.0.1:%d/callback"
                       % srv.server_address[1],
                       events=("request.completed",))
            path, want = "/api/foo", 2 * n
        else:
            h.client()
        if mode == "relay":
            h.endpoint("http://127.0.0.1:%d/hook" % srv.server_address[1])
        if not use_strace:
            subprocess.run(["callgrind_control", "-z", str(proc.pid)],
                           check=True, capture_output=True)
        r = subprocess.run([bench.HBENCH, "post", str(port), token,
                            str(n), "16", bench.EVENT, path],
                           capture_output=True, text=True, check=True)
        if "non202=0" not in r.stdout:
            raise RuntimeError("hbench: " + r.stdout)
        if srv is not None:
            deadline = time.monotonic() + 120
            while Sink.count < want and time.monotonic() < deadline:
                time.sleep(0.1)
            if Sink.count < want or (mode == "gateway" and
                                     Sink.callbacks < n):
                raise RuntimeError("only %d of %d arrived (%d callbacks)"
                                   % (Sink.count, want, Sink.callbacks))
        if not use_strace:
            subprocess.run(["callgrind_control", "-d", str(proc.pid)],
                           check=True, capture_output=True)
    finally:
        if use_strace:
            # strace writes its table when hookd exits: stop hookd, its
            # child (a SIGTERM to strace would detach it and leave it).
            with open("/proc/%d/task/%d/children" % (proc.pid,
                                                      proc.pid)) as f:
                for pid in f.read().split():
                    os.kill(int(pid), signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        else:
            # The dump is written: no drain to wait for (under valgrind a
            # SIGTERM'd hookd may take long to close its keep-alive pools).
            proc.kill()
            proc.wait()
        if srv is not None:
            srv.shutdown()
    if use_strace:
        shutil.rmtree(tmp)
        with open(out) as f:
            table = f.read()
        print(table, end="")
        for line in table.splitlines():
            f = line.split()
            if len(f) >= 5 and f[-1].isidentifier() and f[3].isdigit():
                print("%-16s %.3f per request" % (f[-1], int(f[3]) / n))
        return
    dumps = sorted(glob.glob(cgout + ".*"))
    shutil.copy(dumps[0], out)
    shutil.rmtree(tmp)
    with open(out) as f:
        m = re.search(r"^summary: (\d+)", f.read(), re.M)
    print("%s: %d requests, %d Ir, %.0f Ir per request; dump in %s"
          % (mode, n, int(m.group(1)), int(m.group(1)) / n, out))


if __name__ == "__main__":
    main()
