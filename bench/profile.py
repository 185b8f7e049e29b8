"""bench/profile.py: instruction counts per request of hookd's user space,
with valgrind's callgrind, for the profile-driven work of issue 12.

    python3 bench/profile.py ingest|relay [N] [OUT]

ingest posts N 1 KiB events (default 2000; the event of bench.py) to hookd
running under callgrind with `fsync never` and no endpoint; relay adds one
endpoint on a Python receiver and waits until all N were delivered. The
counters are zeroed after start-up and set-up (callgrind_control -z) and
dumped once the load is done (-d), so the dump holds only the load. Prints
"Ir per request" and writes the dump to OUT (default /tmp/cg.<mode>), to read
with callgrind_annotate. Instruction counts do not depend on how busy the
machine is, unlike req/s. Needs valgrind and bench/hbench (make bench, or cc
-O2 -o bench/hbench bench/hbench.c).
"""

import glob
import http.server
import os
import re
import shutil
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
    count = 0
    lock = threading.Lock()

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
        with Sink.lock:
            Sink.count += 1

    def log_message(self, *a):
        pass


def main():
    mode = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    out = sys.argv[3] if len(sys.argv) > 3 else "/tmp/cg." + mode
    tmp = tempfile.mkdtemp(prefix="hookd-prof-", dir="/dev/shm")
    bench.TMP = tmp
    port = bench.free_port()
    conf = os.path.join(tmp, "hookd.conf")
    with open(conf, "w") as f:
        f.write("allow_destinations 127.0.0.0/8\nfsync never\n")
    cgout = os.path.join(tmp, "cg.out")
    env = dict(os.environ, HOOKD_ADMIN_TOKEN=bench.TOKEN)
    proc = subprocess.Popen(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + cgout,
         bench.HOOKD, "-l", "127.0.0.1:%d" % port, "-d",
         os.path.join(tmp, "data"), "-c", conf], env=env,
        stderr=open(os.path.join(tmp, "hookd.log"), "w"))
    srv = None
    try:
        bench.wait_port(port, proc, timeout=60)
        h = bench.Hookd.__new__(bench.Hookd)
        h.port = port
        h.client()
        if mode == "relay":
            srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Sink)
            threading.Thread(target=srv.serve_forever, daemon=True).start()
            h.endpoint("http://127.0.0.1:%d/hook" % srv.server_address[1])
        subprocess.run(["callgrind_control", "-z", str(proc.pid)],
                       check=True, capture_output=True)
        r = subprocess.run([bench.HBENCH, "post", str(port), bench.TOKEN,
                            str(n), "16", bench.EVENT], capture_output=True,
                           text=True, check=True)
        if "non202=0" not in r.stdout:
            raise RuntimeError("hbench: " + r.stdout)
        if mode == "relay":
            deadline = time.monotonic() + 120
            while Sink.count < n and time.monotonic() < deadline:
                time.sleep(0.1)
            if Sink.count < n:
                raise RuntimeError("only %d of %d delivered" % (Sink.count,
                                                                 n))
        subprocess.run(["callgrind_control", "-d", str(proc.pid)],
                       check=True, capture_output=True)
    finally:
        # The dump is written: no drain to wait for (under valgrind a
        # SIGTERM'd hookd may take long to close its keep-alive pools).
        proc.kill()
        proc.wait()
        if srv is not None:
            srv.shutdown()
    dumps = sorted(glob.glob(cgout + ".*"))
    shutil.copy(dumps[0], out)
    shutil.rmtree(tmp)
    with open(out) as f:
        m = re.search(r"^summary: (\d+)", f.read(), re.M)
    print("%s: %d requests, %d Ir, %.0f Ir per request; dump in %s"
          % (mode, n, int(m.group(1)), int(m.group(1)) / n, out))


if __name__ == "__main__":
    main()
