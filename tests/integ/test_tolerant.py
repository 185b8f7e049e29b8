"""What hookd accepts from receivers (contract §12), its pools (§5, 19.7),
resolver (19.6) and per-client slots (19.5): each against a raw-socket
receiver whose answer no HTTP library would give. The receivers' small
socket buffers keep hookd mid-send when they answer, whatever the
machine's speed."""

import datetime
import http.client
import json
import socket
import threading
import time

from .harness import RawReceiver, check, eq, stop_listener, wait_until

OK200 = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
# A body larger than any send buffer the kernel gives (tcp_wmem's maximum
# is 4 MiB) plus the receiver's small receive buffer: hookd is still
# sending it when the receiver answers after the head.
BIG = {"pad": "x" * (8 << 20)}
BIG_CONF = "max_body 16777216\n"


class HeadReceiver:
    """A receiver that hands fn(sock, head, rest) the request head as soon
    as it is in (RawReceiver waits for the whole body). Its accepted
    sockets have a small receive buffer, so hookd cannot have sent much of
    a large body when fn answers. Counts accepted connections."""

    def __init__(self, fn):
        self.fn = fn
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.port = self.lsock.getsockname()[1]
        self.accepted = 0
        self.stopping = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, path="/"):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def _accept(self):
        while not self.stopping.is_set():
            try:
                s, _ = self.lsock.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._serve, args=(s,),
                             daemon=True).start()

    def _serve(self, s):
        s.settimeout(30)
        buf = b""
        try:
            while b"\r\n\r\n" not in buf:
                data = s.recv(4096)
                if not data:
                    return
                buf += data
            head, rest = buf.split(b"\r\n\r\n", 1)
            self.fn(s, head, rest)
        except OSError:
            pass
        finally:
            try:
                s.close()
            except OSError:
                pass

    def close(self):
        stop_listener(self.stopping, self.lsock)


def content_length(head):
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            return int(v)
    return 0


def reset_close(s):
    """Close with a reset, as a server does that closes with our bytes
    unread (RFC 9112 §9.6)."""
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
    s.close()


def one_delivery(h, client, url, data=None):
    """A new endpoint of client at url, an event, and its delivery to url
    (the client's older endpoints get one too)."""
    h.endpoint(client, url)
    evt = h.event(client, data=data if data is not None else {})["id"]

    def mine():
        return [d for d in h.deliveries_of(evt) if d["url"] == url]
    wait_until(lambda: len(mine()) == 1, what="a delivery")
    return mine()[0]["id"]


def first_log(h, did):
    wait_until(lambda: h.delivery(did)["attempts"] >= 1,
               what="a first attempt")
    return h.delivery(did)["log"][0]


def test_100_continue_mid_body_sending_goes_on(t):
    """IIS sends 100 Continue after the head, mid-body: hookd goes on
    sending (before: it stopped writing, and every attempt timed out)."""
    def fn(s, head, rest):
        s.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        n = content_length(head) - len(rest)
        while n > 0:
            data = s.recv(65536)
            if not data:
                return
            n -= len(data)
        s.sendall(b"HTTP/1.1 102 Processing\r\n\r\n" + OK200)
    r = HeadReceiver(fn)
    t.receivers.append(r)
    h = t.hookd(BIG_CONF)
    h.client("acme")
    did = one_delivery(h, "acme", r.url("/iis"), BIG)
    d = h.wait_delivery(did, timeout=20)
    eq(d["attempts"], 1, "attempts")
    eq(d["log"][0]["status"], 200, "status")


def test_early_final_answer_then_reset_is_judged(t):
    """A 413 sent from the head alone, then a reset (the receiver closes
    with the body unread): the 413 is judged by §5, failed at once (before:
    'connection reset', retried)."""
    def body_to_close(s, head, rest):
        s.sendall(b"HTTP/1.1 413 Payload Too Large\r\nConnection: close\r\n"
                  b"\r\ntoo big")
        time.sleep(0.2)
        reset_close(s)

    def with_length(s, head, rest):
        s.sendall(b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 7\r\n"
                  b"Connection: close\r\n\r\ntoo big")
        reset_close(s)
    a, b = HeadReceiver(body_to_close), HeadReceiver(with_length)
    t.receivers += [a, b]
    h = t.hookd(BIG_CONF)
    h.client("acme")
    for r in (a, b):
        did = one_delivery(h, "acme", r.url("/upload"), BIG)
        d = h.wait_delivery(did, status="failed", timeout=20)
        eq((d["attempts"], d["log"][0]["status"], d["log"][0]["error"]),
           (1, 413, None), "attempts, status, error")


def test_retry_after_rfc850_date_delays_next_attempt(t):
    """503 with Retry-After as an RFC 850 date three hours ahead: the next
    attempt is due then (before: the date was ignored, 200 ms later)."""
    when = (datetime.datetime.now(datetime.timezone.utc) +
            datetime.timedelta(hours=3))
    value = when.strftime("%A, %d-%b-%y %H:%M:%S GMT").encode()
    r = RawReceiver()
    t.receivers.append(r)
    r.on("/busy", lambda s, req, n: s.sendall(
        b"HTTP/1.1 503 Busy\r\nRetry-After: " + value +
        b"\r\nContent-Length: 0\r\n\r\n") or True)
    h = t.hookd()
    h.client("acme")
    did = one_delivery(h, "acme", r.url("/busy"))
    first_log(h, did)
    d = h.delivery(did)
    eq(d["status"], "pending", "status")
    nxt = datetime.datetime.strptime(d["next_attempt_at"],
                                     "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc)
    check(nxt >= when - datetime.timedelta(minutes=5),
          "next_attempt_at %s, want about %s" % (nxt, when))


def test_bare_lf_and_obs_fold_in_response_accepted(t):
    """Bare LF line ends and folded header values (RFC 9112 §2.2, §5.2)
    are read, not 'bad response'; a folded Retry-After is still read."""
    r = RawReceiver()
    t.receivers.append(r)
    r.on("/lf", lambda s, req, n: s.sendall(
        b"HTTP/1.1 200 OK\nX-A: a\n b\nContent-Length: 2\n\nok") or True)
    r.on("/fold", lambda s, req, n: s.sendall(
        b"HTTP/1.1 200 OK\r\nX-A: a\r\n\tb\r\nContent-Length:\r\n 0\r\n\r\n")
        or True)
    r.on("/fold503", lambda s, req, n: s.sendall(
        b"HTTP/1.1 503 Busy\r\nRetry-After:\r\n 7200\r\n"
        b"Content-Length: 0\r\n\r\n") or True)
    h = t.hookd()
    h.client("acme")
    for path in ("/lf", "/fold"):
        did = one_delivery(h, "acme", r.url(path))
        d = h.wait_delivery(did)
        eq(d["log"][0]["status"], 200, path)
    did = one_delivery(h, "acme", r.url("/fold503"))
    log = first_log(h, did)
    eq((log["status"], log["error"]), (503, None), "folded 503")
    nxt = datetime.datetime.strptime(h.delivery(did)["next_attempt_at"],
                                     "%Y-%m-%dT%H:%M:%S.%fZ")
    check(nxt > datetime.datetime.utcnow() + datetime.timedelta(hours=1),
          "folded Retry-After ignored: next attempt %s" % nxt)


def test_ack_false_beyond_4k_is_not_delivered(t):
    """"ack": false at the start of a 2xx JSON body larger than the 4 KiB
    kept as ack: retried, not delivered (before: delivered)."""
    body = b'{"ack": false, "pad": "' + b"p" * 20000 + b'"}'
    late = b'{"pad": "' + b"p" * 20000 + b'", "ack": false}'
    r = RawReceiver()
    t.receivers.append(r)
    for path, b in (("/early", body), ("/late", late)):
        r.on(path, lambda s, req, n, b=b: s.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(b) + b)
            or True)
    r.on("/chunked", lambda s, req, n: s.sendall(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" +
        b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 3000]), body[i:i + 3000])
                 for i in range(0, len(body), 3000)) + b"0\r\n\r\n") or True)
    r.on("/big-ok", lambda s, req, n: s.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(late) +
        late.replace(b"false", b"true ")) or True)
    h = t.hookd()
    h.client("acme")
    for path in ("/early", "/late", "/chunked"):
        did = one_delivery(h, "acme", r.url(path))
        log = first_log(h, did)
        eq((log["status"], log["error"]), (200, "ack false"), path)
        check(h.delivery(did)["status"] != "delivered", path + " delivered")
    did = one_delivery(h, "acme", r.url("/big-ok"))
    d = h.wait_delivery(did)
    eq(d["attempts"], 1, "a large ack true is delivered at once")


def test_interim_heads_are_bounded(t):
    """More than 16 interim heads, or interim heads over 64 KiB in all,
    end the attempt as 'bad response' with the reason (before: the first
    held it until its timeout, the second was delivered)."""
    r = RawReceiver()
    t.receivers.append(r)

    def many(s, req, n):
        s.sendall(b"HTTP/1.1 102 Processing\r\n\r\n" * 17)
        time.sleep(5)
        return False

    def large(s, req, n):
        pad = b"X-Pad: " + b"v" * 8000 + b"\r\n"
        s.sendall((b"HTTP/1.1 103 Early Hints\r\n" + pad + b"\r\n") * 9 +
                  OK200)
        return True
    r.on("/many", many)
    r.on("/large", large)
    h = t.hookd("timeout 10s\n")
    h.client("acme")
    for path, why in (("/many", "more than 16 interim (1xx) responses"),
                      ("/large", "head over 64 KiB")):
        did = one_delivery(h, "acme", r.url(path))
        log = first_log(h, did)
        err = log["error"] or ""
        check(err.startswith("bad response: ") and why in err,
              "%s: error %r, want bad response: ...%s" % (path, err, why))


def test_pooled_connections_not_shared_between_clients(t):
    """Two clients' endpoints on one host:port get separate keep-alive
    connections (before: the second reused the first's)."""
    r = RawReceiver()
    t.receivers.append(r)
    h = t.hookd()
    for c in ("acme", "bolt"):
        h.client(c)
    for c in ("acme", "bolt"):
        h.wait_delivery(one_delivery(h, c, r.url("/" + c)))
    eq(r.accepted, 2, "connections accepted")
    # Each client's second delivery reuses its own connection.
    for c in ("acme", "bolt"):
        evt = h.event(c, data={"again": 1})["id"]
        h.wait_all(evt, n=1)
    eq(r.accepted, 2, "connections accepted after reuse")


def test_stray_response_after_answer_not_taken_for_next(t):
    """A receiver sends an unsolicited second response after the first:
    the connection is closed, and the next delivery gets its own answer."""
    r = RawReceiver()
    t.receivers.append(r)
    stray_sent = threading.Event()

    def fn(s, req, n):
        if n == 1:
            s.sendall(OK200)
            time.sleep(0.3)
            s.sendall(b"HTTP/1.1 410 Gone\r\nContent-Length: 0\r\n\r\n")
            stray_sent.set()
            return True
        s.sendall(OK200)
        return True
    r.on("/s", fn)
    h = t.hookd()
    h.client("acme")
    h.wait_delivery(one_delivery(h, "acme", r.url("/s")))
    check(stray_sent.wait(10), "stray sent")
    evt = h.event("acme", data={"n": 2})["id"]
    d = h.wait_all(evt, n=1)[0]
    d = h.delivery(d["id"])
    eq((d["status"], d["log"][0]["status"]), ("delivered", 200),
       "second delivery")
    eq(r.accepted, 2, "connections accepted")


def answer_200(r, path, body):
    """Make r answer path with 200 and body (a JSON object or not)."""
    r.on(path, lambda s, req, n: s.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body) + body) or True)


def raw_ack_members(h, did):
    """The kept ack of delivery did as the API sends it, with every member
    in order (duplicates kept): a list of (name, value) pairs, or None."""
    conn = http.client.HTTPConnection("127.0.0.1", h.port, timeout=10)
    try:
        conn.request("GET", "/v1/deliveries/" + did,
                     headers={"Authorization": "Bearer " + h.admin})
        raw = conn.getresponse().read()
    finally:
        conn.close()
    d = json.loads(raw, object_pairs_hook=list)
    return [v for k, v in d if k == "ack"][0]


def test_ack_false_in_any_duplicate_member_is_not_delivered(t):
    """A 2xx body {"ack":true,"ack":false}: retried as "ack false", as for
    {"ack":false,"ack":true} (before: delivered, while the ack it kept read
    as false to every reader that takes the last duplicate). An ack of
    duplicates that are all true is delivered and kept whole."""
    r = RawReceiver()
    t.receivers.append(r)
    answer_200(r, "/true-false", b'{"ack":true,"ack":false}')
    answer_200(r, "/false-true", b'{"ack": false, "ack": true}')
    answer_200(r, "/true-true", b'{"ack":true, "n":1, "ack":true}')
    h = t.hookd()
    h.client("acme")
    for path in ("/true-false", "/false-true"):
        did = one_delivery(h, "acme", r.url(path))
        log = first_log(h, did)
        eq((log["status"], log["error"]), (200, "ack false"), path)
        d = h.delivery(did)
        check(d["status"] != "delivered", path + " delivered")
        eq(d["ack"], None, path + " kept an ack")
    did = one_delivery(h, "acme", r.url("/true-true"))
    d = h.wait_delivery(did)
    eq(d["attempts"], 1, "an ack of true duplicates is delivered at once")
    eq(raw_ack_members(h, did), [("ack", True), ("n", 1), ("ack", True)],
       "the kept ack, every member")


def test_ack_false_beside_deep_nesting_is_not_delivered(t):
    """A 2xx body with "ack": false beside (before or after) a value nested
    5000 deep, past the parser's depth limit: retried as "ack false"
    (before: taken for a body that is not JSON, and delivered). The same
    body with "ack": true is delivered, with no ack kept."""
    deep = b"[" * 5000 + b"]" * 5000
    r = RawReceiver()
    t.receivers.append(r)
    answer_200(r, "/before", b'{"ack":false,"d":' + deep + b'}')
    answer_200(r, "/after", b'{"d":' + deep + b', "ack": false}')
    answer_200(r, "/true", b'{"ack":true,"d":' + deep + b'}')
    h = t.hookd()
    h.client("acme")
    for path in ("/before", "/after"):
        did = one_delivery(h, "acme", r.url(path))
        log = first_log(h, did)
        eq((log["status"], log["error"]), (200, "ack false"), path)
        check(h.delivery(did)["status"] != "delivered", path + " delivered")
    did = one_delivery(h, "acme", r.url("/true"))
    d = h.wait_delivery(did)
    eq((d["attempts"], d["ack"]), (1, None), "deep ack true")
