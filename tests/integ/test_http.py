"""HTTP/1.1 behaviour of the API server with clients this project did not
write (curl, http.client) and raw sockets: keep-alive, pipelining,
100-continue, chunked bodies and the limits of contract §7."""

import http.client
import json
import os

from .harness import RawConn, check, curl, eq, status_lines


def get(path, token=None, extra=""):
    auth = "Authorization: Bearer %s\r\n" % token if token else ""
    return ("GET %s HTTP/1.1\r\nHost: x\r\n%s%s\r\n" % (path, auth, extra)
            ).encode()


def post(path, body, token, extra=""):
    return ("POST %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
            "Content-Type: application/json\r\nContent-Length: %d\r\n%s\r\n"
            % (path, token, len(body), extra)).encode() + body


def test_keep_alive(t):
    h = t.hookd()
    c = RawConn(h.port)
    for path, want in (("/healthz", 200), ("/v1/clients", 200),
                       ("/v1/nope", 404), ("/healthz", 200)):
        c.send(get(path, h.admin))
        status, hdrs, _ = c.read_response()
        eq(status, want, "GET %s on a kept-alive connection" % path)
        check(hdrs.get("connection", "").lower() != "close",
              "hookd closes after GET %s" % path)
    c.send(post("/v1/clients", b'{"id": "ka", "name": "n"}', h.admin))
    eq(c.read_response()[0], 201, "POST on the same connection")
    c.close()
    # http.client reuses its socket when the server keeps it open.
    conn = http.client.HTTPConnection("127.0.0.1", h.port, timeout=5)
    conn.request("GET", "/healthz")
    conn.getresponse().read()
    sock = conn.sock
    conn.request("GET", "/healthz")
    r = conn.getresponse()
    r.read()
    eq(r.status, 200, "second request")
    check(conn.sock is sock and sock is not None,
          "http.client had to reconnect: not kept alive")
    conn.close()


def test_pipelining(t):
    h = t.hookd()
    c = RawConn(h.port)
    c.send(get("/healthz") + get("/v1/nope", h.admin) +
           post("/v1/clients", b'{"id": "p", "name": "n"}', h.admin) +
           get("/v1/clients/p", h.admin))
    got = [c.read_response()[0] for _ in range(4)]
    eq(got, [200, 404, 201, 200], "pipelined answers in order")
    c.close()


def test_connection_close_and_http10(t):
    h = t.hookd()
    c = RawConn(h.port)
    c.send(get("/healthz", extra="Connection: close\r\n"))
    eq(c.read_response()[0], 200, "status")
    check(c.closed_within(5), "not closed after Connection: close")
    c = RawConn(h.port)
    c.send(b"GET /healthz HTTP/1.0\r\n\r\n")
    eq(c.read_response()[0], 200, "HTTP/1.0 status")
    check(c.closed_within(5), "HTTP/1.0 without keep-alive not closed")


def test_expect_100_continue(t):
    h = t.hookd()
    # Names are short; JSON whitespace makes the body big.
    body = '{"id": "big",%s"name": "Big"}' % (" " * 3000)
    r = curl("-v", "-o", "-", "-w", "\n%{http_code}", "-X", "POST",
             "-H", "Authorization: Bearer " + h.admin,
             "-H", "Content-Type: application/json",
             "-H", "Expect: 100-continue", "--expect100-timeout", "5",
             "--data-binary", body, h.url("/v1/clients"))
    eq(r.returncode, 0, "curl exit (%s)" % r.stderr[-300:])
    eq(r.stdout.rsplit("\n", 1)[1], "201", "curl status")
    check("< HTTP/1.1 100" in r.stderr, "no 100 Continue seen by curl:\n%s"
          % r.stderr[-800:])
    eq(h.req(200, "GET", "/v1/clients/big")["name"], "Big", "name")
    # Raw: the 100 comes before the body is sent.
    c = RawConn(h.port)
    b = b'{"id": "raw", "name": "n"}'
    head = post("/v1/clients", b, h.admin, "Expect: 100-continue\r\n")
    c.send(head[:-len(b)])
    eq(c.read_response()[0], 100, "interim answer to Expect: 100-continue")
    c.send(b)
    eq(c.read_response()[0], 201, "final answer")


def test_body_too_large_413(t):
    h = t.hookd("max_body 1024\n")
    body = b'{"id": "x",%s"name": "n"}' % (b" " * 2000)
    c = RawConn(h.port)
    c.send(post("/v1/clients", body, h.admin))
    eq(c.read_response()[0], 413, "body over max_body")
    check(c.closed_within(5), "connection not closed after 413")
    # Exactly at the limit is fine.
    fill = 1024 - len(b'{"id": "y","name": "n"}')
    body = b'{"id": "y",%s"name": "n"}' % (b" " * fill)
    eq(len(body), 1024, "test body size")
    h.req(201, "POST", "/v1/clients", body)
    # curl sees 413 too.
    big = os.path.join(t.tmp, "big.json")
    with open(big, "w") as f:
        f.write('{"id": "z",%s"name": "n"}' % (" " * 5000))
    r = curl("-o", "/dev/null", "-w", "%{http_code}",
             "-H", "Authorization: Bearer " + h.admin,
             "-H", "Content-Type: application/json",
             "--data-binary", "@" + big, h.url("/v1/clients"))
    eq(r.stdout, "413", "curl status (%s)" % r.stderr)
    # A chunked body over the limit.
    c = RawConn(h.port)
    c.send(b"POST /v1/clients HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
           + h.admin.encode() + b"\r\nTransfer-Encoding: chunked\r\n\r\n" +
           b"400\r\n" + b"a" * 1024 + b"\r\n10\r\n" + b"b" * 16 +
           b"\r\n0\r\n\r\n")
    eq(c.read_response()[0], 413, "chunked body over max_body")
    check(c.closed_within(5), "connection not closed after chunked 413")
    h.req(200, "GET", "/healthz", token=None)


def test_headers_too_large_431(t):
    h = t.hookd("max_headers 20\n")
    c = RawConn(h.port)
    c.send(get("/healthz", extra="X-Big: %s\r\n" % ("a" * 20000)))
    eq(c.read_response()[0], 431, "head over max_header_bytes (16384)")
    check(c.closed_within(5), "connection not closed after 431")
    c = RawConn(h.port)
    c.send(get("/healthz", extra="".join("X-H%d: v\r\n" % i
                                         for i in range(25))))
    eq(c.read_response()[0], 431, "more than max_headers headers")
    check(c.closed_within(5), "connection not closed after 431")
    # Just under both limits is fine.
    c = RawConn(h.port)
    c.send(get("/healthz", extra="".join("X-H%d: v\r\n" % i
                                         for i in range(18))))
    eq(c.read_response()[0], 200, "18 extra headers")
    r = curl("-o", "/dev/null", "-w", "%{http_code}", "-H",
             "X-Big: " + "b" * 17000, h.url("/healthz"))
    eq(r.stdout, "431", "curl status (%s)" % r.stderr)


def test_chunked_request_body(t):
    h = t.hookd()
    conn = http.client.HTTPConnection("127.0.0.1", h.port, timeout=5)
    parts = [b'{"id": ', b'"chunky", ', b'"name": "Chunky Bacon"}']
    conn.request("POST", "/v1/clients", body=iter(parts), encode_chunked=True,
                 headers={"Authorization": "Bearer " + h.admin,
                          "Content-Type": "application/json",
                          "Transfer-Encoding": "chunked"})
    r = conn.getresponse()
    body = json.loads(r.read())
    eq(r.status, 201, "chunked POST status")
    eq(body["name"], "Chunky Bacon", "name")
    conn.close()
    # With chunk extensions and a trailer, on a raw socket.
    c = RawConn(h.port)
    c.send(b"POST /v1/clients HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
           h.admin.encode() + b"\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"8;ext=1\r\n{\"id\": \"\r\n" b"13\r\nc2\", \"name\": \"two\"}\r\n"
           b"0\r\nX-Trailer: y\r\n\r\n")
    eq(c.read_response()[0], 201, "chunked POST with extension and trailer")
    c.send(get("/v1/clients/c2", h.admin))
    eq(c.read_response()[0], 200, "next request on the same connection")


def test_header_timeout_closes(t):
    h = t.hookd("header_timeout 1s\n")
    c = RawConn(h.port)
    c.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    check(c.closed_within(6), "a head that never ends is not closed "
          "after header_timeout")
    check(all(s in (400, 408) for s in status_lines(c.buf)),
          "unexpected answer %r" % c.buf[:100])
    h.req(200, "GET", "/healthz", token=None)
