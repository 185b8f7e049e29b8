#!/usr/bin/env python3
"""A sample webhook receiver for hookd's demo (make demo) and the README's
walk-through. Python 3 standard library only.

    python3 tests/demo_receiver.py [--port N] [--port-file FILE] [--dump DIR]

Listens on 127.0.0.1 (port 9000 by default; 0 picks a free one, written to
--port-file) and prints one line per request it gets. It answers:

  /callback/REFID  200 with an acknowledgement in the shape of the seed's,
                   {"ack": true, "timestamp": "1644730268220",
                    "reqRefId": "1292101282", "refId": "REFID"}
  /flaky/REFID     500 to the first request for that path, then as
                   /callback/ does: a receiver that is down for a moment
  anything else    404

--dump DIR keeps the last request to each first path segment as
DIR/SEGMENT.head (request line and headers) and DIR/SEGMENT.body, for
`hookd verify --headers DIR/callback.head < DIR/callback.body`.
"""

import argparse
import http.server
import os
import sys
import threading

# The seed's acknowledgement, with refId taken from the request's path.
ACK = '{"ack": true, "timestamp": "1644730268220", ' \
      '"reqRefId": "1292101282", "refId": "%s"}'


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen = {}
    lock = threading.Lock()
    dump = None

    def log_message(self, *args):
        pass

    def answer(self, status, body):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        print("receiver: %s %s webhook-id=%s attempt=%s -> %d %s"
              % (self.command, self.path,
                 self.headers.get("webhook-id", "-"),
                 self.headers.get("hookd-attempt", "-"), status, body),
              flush=True)

    def keep(self, body):
        if self.dump is None:
            return
        seg = self.path.split("?")[0].strip("/").split("/")[0] or "root"
        head = "%s %s %s\n" % (self.command, self.path, self.request_version)
        head += "".join("%s: %s\n" % (k, v) for k, v in self.headers.items())
        with open(os.path.join(self.dump, seg + ".head"), "w") as f:
            f.write(head)
        with open(os.path.join(self.dump, seg + ".body"), "wb") as f:
            f.write(body)

    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n > 0 else b""
        self.keep(body)
        parts = self.path.split("?")[0].strip("/").split("/")
        if len(parts) != 2 or parts[0] not in ("callback", "flaky"):
            self.answer(404, '{"error": "no such callback"}')
            return
        if parts[0] == "flaky":
            with self.lock:
                first = self.path not in self.seen
                self.seen[self.path] = True
            if first:
                self.answer(500, '{"error": "database busy, try later"}')
                return
        self.answer(200, ACK % parts[1])

    do_GET = do_POST = handle_any


def main():
    ap = argparse.ArgumentParser(description="hookd's sample receiver")
    ap.add_argument("--port", type=int, default=9000)
    ap.add_argument("--port-file")
    ap.add_argument("--dump")
    args = ap.parse_args()
    Handler.dump = args.dump
    try:
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", args.port),
                                              Handler)
    except OSError as e:
        sys.exit("receiver: cannot listen on 127.0.0.1:%d: %s; stop what "
                 "holds it (ss -ltnp 'sport = :%d') or pass --port N"
                 % (args.port, e.strerror, args.port))
    srv.daemon_threads = True
    port = srv.server_address[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.rename(tmp, args.port_file)
    print("receiver: listening on http://127.0.0.1:%d" % port, flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
