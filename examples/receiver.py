#!/usr/bin/env python3
"""A webhook receiver that verifies hookd's signatures (Standard Webhooks),
Python standard library only. Run: HOOKD_SECRET=whsec_... python3 receiver.py 9000
Several secrets, space-separated, are all tried (during a rotation)."""
import base64, hashlib, hmac, http.server, os, sys, time

def verify(secrets, headers, payload, tolerance=300):
    """headers: case-insensitive .get(); payload: bytes (POST: the raw body,
    GET: the query string as received, without '?'). True when valid."""
    msg_id = headers.get("webhook-id") or ""
    ts = headers.get("webhook-timestamp") or ""
    if not msg_id or not (ts.isascii() and ts.isdigit()):
        return False
    if abs(time.time() - int(ts)) > tolerance:  # a replayed old request
        return False
    sigs = (headers.get("webhook-signature") or "").split(" ")
    for secret in secrets:
        key = base64.b64decode(secret.removeprefix("whsec_"))
        signed = f"{msg_id}.{ts}.".encode() + payload
        want = b"v1," + base64.b64encode(hmac.digest(key, signed, hashlib.sha256))
        # compare_digest: constant time; any v1 signature of the list may match.
        if any(hmac.compare_digest(s.encode(), want) for s in sigs):
            return True
    return False

class Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        query = self.path.partition("?")[2].encode()  # self.path is as received
        payload = query if self.command == "GET" else body
        if not verify(os.environ["HOOKD_SECRET"].split(), self.headers, payload):
            print("rejected", self.headers.get("webhook-id"), flush=True)
            self.send_response(401)  # hookd retries: time to fix a wrong secret
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        # Deduplicate on webhook-id (delivery is at least once), then handle it.
        print("verified", self.headers.get("webhook-id"), flush=True)
        ack = b'{"ack": true}'  # hookd keeps a JSON object answer as the ack
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(ack)))
        self.end_headers()
        self.wfile.write(ack)

    do_GET = do_POST

if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 9000
    server = http.server.HTTPServer(("127.0.0.1", port), Receiver)
    print("listening on", port, flush=True)
    server.serve_forever()
