"""The API's validations and amendments of contract §11 and §18: one policy
for header names, client secrets, refused query parameters, templates and
duplicates, destination classes, 401/403 reasons, per-client limits."""

import json
import subprocess
import socket
import time
import urllib.parse

from .harness import (HOOKD, RawConn, Reply, Skip, check, check_signature,
                      eq, wait_until)


def error(h, expect, method, path, body=None, **kw):
    """The request's {"error": ...} text, asserting its status; then that
    the server still answers."""
    status, data, _ = h.api(method, path, body, **kw)
    check(status == expect, "%s %s: status %d, want %d; body %r"
          % (method, path, status, expect, data))
    check(isinstance(data, dict) and isinstance(data.get("error"), str),
          "error body %r" % (data,))
    eq(h.api("GET", "/healthz", token=None)[0], 200, "healthz after")
    return data["error"]


def test_reserved_headers_refused(t):
    h = t.hookd()
    h.client("acme")
    for name in ("Keep-Alive", "Proxy-Connection", "Webhook-Foo",
                 "Hookd-Foo", "hookd-endpoint", "Host", "User-Agent",
                 "Content-Type", "Transfer-Encoding", "TE", "Upgrade"):
        msg = error(h, 422, "POST", "/v1/endpoints",
                    {"client": "acme", "url": "http://127.0.0.1:9/x",
                     "headers": {name: "v"}})
        eq(msg, 'headers: "%s" is set by hookd itself or is a hop-by-hop '
           'or framing header; an endpoint cannot send it' % name,
           "error for " + name)
    ep = h.endpoint("acme", "http://127.0.0.1:9/x",
                    headers={"X-Api-Key": "k"})
    msg = error(h, 422, "PATCH", "/v1/endpoints/" + ep["id"],
                {"headers": {"keep-alive": "timeout=5"}})
    check('"keep-alive"' in msg, msg)
    # A NUL in a name is no token, decoded or not.
    msg = error(h, 422, "POST", "/v1/endpoints",
                '{"client": "acme", "url": "http://127.0.0.1:9/x", '
                '"headers": {"X-A\\u0000b": "v"}}')
    eq(msg, "headers: a name must be an HTTP token of at most 64 "
       "characters", "NUL in a name")


def test_accepted_headers_are_sent(t):
    """What registration accepts, delivery sends (the same rules)."""
    h = t.hookd()
    r = t.receiver()
    h.client("acme")
    h.endpoint("acme", r.url("/in"),
               headers={"X-Api-Key": "k", "X-Tab": "a\tb",
                        "x_under~": "1"})
    h.event("acme", data={"a": 1})
    got = r.wait_for(1)[0]
    eq(got.headers.get("x-api-key"), "k", "X-Api-Key")
    eq(got.headers.get("x-tab"), "a\tb", "X-Tab")
    eq(got.headers.get("x_under~"), "1", "x_under~")


def test_endpoint_header_and_oneoff(t):
    """Endpoint deliveries carry hookd-endpoint; one-offs do not."""
    h = t.hookd()
    r = t.receiver()
    h.client("acme")
    ep = h.endpoint("acme", r.url("/ep"))
    h.event("acme", data={"a": 1}, callback=r.url("/one"))
    r.wait_for(2)
    eq(r.got("/ep")[0].headers.get("hookd-endpoint"), ep["id"],
       "hookd-endpoint on an endpoint delivery")
    eq(r.got("/one")[0].headers.get("hookd-endpoint"), None,
       "hookd-endpoint on a one-off")


def test_client_reads_itself(t):
    h = t.hookd()
    a = h.client("acme")
    b = h.client("other")
    got = h.req(200, "GET", "/v1/clients/acme", token=a["token"])
    eq(got["id"], "acme", "id")
    eq(got["secret"], a["secret"], "secret")
    check("token" not in got, "no token in %r" % got)
    # Another client's id is not found, as every other object (no 403).
    msg = error(h, 404, "GET", "/v1/clients/other", token=a["token"])
    eq(msg, "not found", "another client")
    error(h, 404, "GET", "/v1/clients/nobody", token=a["token"])
    # The rest of /v1/clients stays the admin's.
    msg = error(h, 403, "GET", "/v1/clients", token=a["token"])
    eq(msg, "forbidden: only the admin may list clients", "403 list")
    msg = error(h, 403, "POST", "/v1/clients/acme/rotate-secret",
                token=b["token"])
    eq(msg, "forbidden: only the admin may rotate a client's secret",
       "403 rotate-secret")


def test_client_secret_rotation(t):
    h = t.hookd()
    r = t.receiver()
    a = h.client("acme")
    old = a["secret"]
    got = h.req(200, "POST", "/v1/clients/acme/rotate-secret")
    new = got["secret"]
    check(new.startswith("whsec_") and new != old, "new secret %r" % new)
    eq(list(got), ["secret"], "answer members")
    eq(h.req(200, "GET", "/v1/clients/acme")["secret"], new, "GET secret")

    def both(req):
        sigs = req.headers["webhook-signature"].split(" ")
        eq(len(sigs), 2, "two signatures")
        check_signature(req, new)
        check_signature(req, old)

    h.event("acme", data={"n": 1}, callback=r.url("/one"))
    both(r.wait_for(1)[0])
    # The previous secret survives a restart.
    h.restart()
    h.event("acme", data={"n": 2}, callback=r.url("/one"))
    both(r.wait_for(2)[1])
    error(h, 404, "POST", "/v1/clients/nobody/rotate-secret")


def test_auth_reasons(t):
    h = t.hookd()
    h.client("acme")
    eq(error(h, 401, "GET", "/v1/endpoints", token=None),
       'missing Authorization header: send "Authorization: Bearer <token>"',
       "missing")
    for bad in ("Basic abc", "Bearer", "Bearer    ", "bearer:x", "token"):
        eq(error(h, 401, "GET", "/v1/endpoints", token=None,
                 headers={"Authorization": bad}),
           'malformed Authorization header: it must be "Bearer <token>"',
           "malformed %r" % bad)
    eq(error(h, 401, "GET", "/v1/endpoints", token="hkc_nope"),
       "unknown token: it is neither the admin token nor a client's "
       "current token", "unknown")
    tok = h.client("b")["token"]
    eq(error(h, 403, "POST", "/v1/events", {"client": "b", "type": "x",
             "data": {}}, token=tok),
       "forbidden: only the admin may post events", "403 events")
    eq(error(h, 403, "POST", "/v1/clients", {"id": "z"}, token=tok),
       "forbidden: only the admin may create clients", "403 create")
    eq(error(h, 403, "POST", "/v1/compact", token=tok),
       "forbidden: only the admin may start a compaction", "403 compact")


def test_unknown_query_parameter(t):
    h = t.hookd()
    h.client("acme")
    body = {"client": "acme", "type": "a", "data": {}}
    eq(error(h, 400, "POST", "/v1/events?callbackUrl=http%3A%2F%2Fx%2F",
             body),
       'unknown query parameter "callbackUrl" (did you mean callbackURL?)',
       "callbackUrl")
    eq(error(h, 400, "GET", "/v1/deliveries?staus=failed"),
       'unknown query parameter "staus" (did you mean status?)', "staus")
    eq(error(h, 400, "GET", "/v1/endpoints?limt=5"),
       'unknown query parameter "limt" (did you mean limit?)', "limt")
    eq(error(h, 400, "GET", "/v1/events?zzzzzz=1"),
       'unknown query parameter "zzzzzz"', "no near one")
    eq(error(h, 400, "GET", "/v1/clients/acme?x=1"),
       'unknown query parameter "x": this path takes none', "none taken")
    eq(error(h, 400, "GET", "/healthz?x=1", token=None),
       'unknown query parameter "x": this path takes none', "healthz")
    eq(error(h, 400, "GET", "/v1/events?a%0Ab=1"),
       "unknown query parameter", "odd name not echoed")
    # Known ones still work; nothing was created by the refused post.
    h.req(200, "GET", "/v1/deliveries?status=failed&limit=5")
    eq(h.req(200, "GET", "/v1/events")["data"], [], "no event created")


def test_unbalanced_template_refused(t):
    h = t.hookd()
    h.client("acme")
    for url, want in (
            ("http://127.0.0.1:9/{refId", "url: unbalanced { in a template "
             "(no } after it)"),
            ("http://127.0.0.1:9/refId}", "url: unbalanced } in a template "
             "(no { before it)"),
            ("http://127.0.0.1:9/{a{b}}", "url: unbalanced { in a template "
             "(a {name} cannot hold another {)")):
        eq(error(h, 422, "POST", "/v1/endpoints",
                 {"client": "acme", "url": url}), want, url)
    ep = h.endpoint("acme", "http://127.0.0.1:9/{refId}")
    eq(error(h, 422, "PATCH", "/v1/endpoints/" + ep["id"],
             {"url": "http://127.0.0.1:9/{x"}),
       "url: unbalanced { in a template (no } after it)", "PATCH")
    eq(error(h, 422, "POST", "/v1/events?callbackURL=" +
             urllib.parse.quote("http://127.0.0.1:9/}", safe=""),
             {"client": "acme", "type": "a", "data": {}}),
       "callbackURL: url: unbalanced } in a template (no { before it)",
       "callbackURL")


def test_duplicate_endpoint_409(t):
    h = t.hookd()
    a = h.client("acme")
    h.client("other")
    url = "http://127.0.0.1:9/cb/{refId}"
    first = h.endpoint("acme", url)
    status, body, _ = h.api("POST", "/v1/endpoints",
                            {"url": url, "events": ["x"]}, token=a["token"])
    eq(status, 409, "second endpoint, same method and url")
    eq(body, {"error": "an endpoint of this client with this method and "
              "url exists", "id": first["id"]}, "409 body")
    # Another method, or another client, is another endpoint.
    get = h.endpoint("acme", url, method="GET")
    h.endpoint("other", url)
    # PATCH into a duplicate is refused the same way; onto itself is fine.
    status, body, _ = h.api("PATCH", "/v1/endpoints/" + get["id"],
                            {"method": "POST"})
    eq((status, body.get("id")), (409, first["id"]), "PATCH duplicate")
    h.req(200, "PATCH", "/v1/endpoints/" + first["id"], {"url": url})
    eq(len(h.req(200, "GET", "/v1/endpoints?client=acme")["data"]), 2,
       "endpoints of acme")


def test_destination_class_named(t):
    h = t.hookd(allow=False)
    h.client("acme")
    cases = (
        ("http://127.0.0.1:9/", "127.0.0.1 is loopback"),
        ("http://[::1]:9/", "::1 is loopback"),
        ("http://10.0.0.1/", "10.0.0.1 is private"),
        ("http://169.254.169.254/latest", "169.254.169.254 is link-local"),
        ("http://100.64.0.1/", "100.64.0.1 is CGNAT"),
        ("http://224.0.0.1/", "224.0.0.1 is multicast"),
        ("http://240.0.0.1/", "240.0.0.1 is reserved"),
        ("http://192.0.2.1/", "192.0.2.1 is documentation"),
        ("http://localhost:9/", "localhost is loopback"),
        ("http://api.localhost:9/", "api.localhost is loopback"),
        ("http://LOCALHOST/", "localhost is loopback"),
    )
    for url, what in cases:
        eq(error(h, 422, "POST", "/v1/endpoints",
                 {"client": "acme", "url": url}),
           "destination not allowed: %s; allow_destinations opens it"
           % what, url)
    eq(error(h, 422, "POST", "/v1/events?callbackURL=" +
             urllib.parse.quote("http://localhost/x", safe=""),
             {"client": "acme", "type": "a", "data": {}}),
       "callbackURL: destination not allowed: localhost is loopback; "
       "allow_destinations opens it", "callbackURL")
    # A name not under .localhost is left to the connect-time check.
    h.endpoint("acme", "http://mylocalhost.example/", enabled=False)


def test_localhost_accepted_when_allowed(t):
    h = t.hookd()          # allow_destinations 127.0.0.0/8
    r = t.receiver()
    h.client("acme")
    port = int(r.url("/").split(":")[2].split("/")[0])
    h.endpoint("acme", "http://localhost:%d/cb" % port)
    h.event("acme", data={})
    eq(r.wait_for(1)[0].target, "/cb", "delivered to localhost")


def test_underscore_host(t):
    h = t.hookd()
    h.client("acme")
    ep = h.endpoint("acme", "http://hook_receiver:8080/in", enabled=False)
    eq(ep["url"], "http://hook_receiver:8080/in", "url kept")
    h.req(201, "POST", "/v1/endpoints",
          {"client": "acme", "url": "http://a_b.example/x", "enabled": False})


def test_dot_segment_fails_delivery(t):
    h = t.hookd()
    r = t.receiver()
    h.client("acme")
    h.endpoint("acme", r.url("/orders/{refId}/cb"))
    for v in (".", ".."):
        evt = h.event("acme", data={"refId": v})
        d = h.wait_all(evt["id"], "failed", n=1)[0]
        eq((d["last"]["error"], d["attempts"]),
           ("template: dot segment", 0), "delivery of refId %r" % v)
    evt = h.event("acme", data={"refId": "..."})
    h.wait_all(evt["id"], "delivered", n=1)
    eq([x.target for x in r.got()], ["/orders/.../cb"], "what arrived")


def test_headers_only_on_single_get(t):
    h = t.hookd()
    a = h.client("acme")
    ep = h.endpoint("acme", "http://127.0.0.1:9/x",
                    headers={"X-Api-Key": "secret-k"}, enabled=False)
    eq(ep["headers"], {"X-Api-Key": "secret-k"}, "in the creation answer")
    one = h.req(200, "GET", "/v1/endpoints/" + ep["id"], token=a["token"])
    eq(one["headers"], {"X-Api-Key": "secret-k"}, "single GET")
    for tok in ("admin", a["token"]):
        lst = h.req(200, "GET", "/v1/endpoints", token=tok)["data"]
        eq(len(lst), 1, "listed")
        check("headers" not in lst[0] and "secret" not in lst[0],
              "list item %r" % lst[0])


def test_per_client_limits(t):
    h = t.hookd("max_endpoints_per_client 2\nmax_endpoint_headers 3\n"
                "max_retries_per_minute 3\n")
    a = h.client("acme")
    h.client("other")
    e1 = h.endpoint("acme", "http://127.0.0.1:9/1", enabled=False)
    h.endpoint("acme", "http://127.0.0.1:9/2", enabled=False)
    eq(error(h, 422, "POST", "/v1/endpoints",
             {"url": "http://127.0.0.1:9/3"}, token=a["token"]),
       "client acme has 2 endpoints already (max_endpoints_per_client)",
       "third endpoint")
    h.endpoint("other", "http://127.0.0.1:9/3", enabled=False)
    # Headers: a count, and 8 KiB in all.
    eq(error(h, 422, "PATCH", "/v1/endpoints/" + e1["id"],
             {"headers": {"A": "1", "B": "2", "C": "3", "D": "4"}}),
       "headers: at most 3 (max_endpoint_headers)", "4 headers")
    big = {"X-%d" % i: "v" * 1000 for i in range(3)}
    h.req(200, "PATCH", "/v1/endpoints/" + e1["id"], {"headers": big})
    h2 = t.hookd("max_endpoint_headers 16\n")
    h2.client("acme")
    eq(error(h2, 422, "POST", "/v1/endpoints",
             {"client": "acme", "url": "http://127.0.0.1:9/x",
              "headers": {"X-%d" % i: "v" * 1000 for i in range(9)}}),
       "headers: at most 8192 bytes in all (max_endpoint_headers)",
       "9 KB of headers")
    # Retry and replay calls: 3 a minute with acme's token (the admin's
    # are not counted: test_admin_retries_not_limited).
    evt = h.event("acme", data={}, callback="http://127.0.0.1:9/cb")
    dl = h.deliveries_of(evt["id"])
    check(dl, "deliveries of the event")
    did = dl[0]["id"]
    h.req(202, "POST", "/v1/deliveries/%s/retry" % did, token=a["token"])
    h.req(202, "POST", "/v1/deliveries/%s/retry" % did, token=a["token"])
    h.req(202, "POST", "/v1/endpoints/%s/replay" % e1["id"],
          {"since": "2020-01-01T00:00:00Z"}, token=a["token"])
    want = ("too many retry, replay and test calls for client acme: "
            "at most 3 a "
            "minute (max_retries_per_minute)")
    eq(error(h, 429, "POST", "/v1/deliveries/%s/retry" % did,
             token=a["token"]), want, "fourth retry")
    eq(error(h, 429, "POST", "/v1/endpoints/%s/replay" % e1["id"],
             {"since": "2020-01-01T00:00:00Z"}, token=a["token"]), want,
       "replay over the limit")


def test_limit_keys_checked(t):
    h = t.hookd(start=False)
    for line, key in (("max_endpoints_per_client 0", "max_endpoints_per_client"),
                      ("max_endpoint_headers 129", "max_endpoint_headers"),
                      ("max_retries_per_minute x", "max_retries_per_minute")):
        h.write_conf(line + "\n")
        p = subprocess.run([HOOKD, "-n", "-c", h.conf_path], capture_output=True,
                           text=True, timeout=20)
        eq(p.returncode, 1, line)
        check(key in p.stderr, "%r names %s: %r" % (line, key, p.stderr))
    h.write_conf("max_endpoints_per_client 5\nmax_endpoint_headers 0\n"
                 "max_retries_per_minute 1000000\n")
    p = subprocess.run([HOOKD, "-n", "-c", h.conf_path], capture_output=True,
                       text=True, timeout=20)
    eq(p.returncode, 0, "valid limits: %r" % p.stderr)


def test_duplicate_endpoint_normalized_url(t):
    """Contract §11, RFC 3986 §6.2.2/§6.2.3: URLs that differ only in the
    case of scheme or host, a default port, the case of an escape's hex
    digits, an escaped unreserved character or an empty path are the same
    endpoint: 409 naming the first, not a second copy of every event."""
    h = t.hookd()
    a = h.client("acme")
    h.client("other")
    first = h.endpoint("acme", "http://127.0.0.1/d")
    for url in ("http://127.0.0.1:80/d", "HTTP://127.0.0.1/d",
                "http://127.0.0.1/%64"):
        status, body, _ = h.api("POST", "/v1/endpoints",
                                {"client": "acme", "url": url})
        eq((status, body.get("id")), (409, first["id"]), url)
    local = h.endpoint("acme", "http://localhost:8080")
    for url in ("http://LocalHost:8080/", "http://LOCALHOST:8080"):
        status, body, _ = h.api("POST", "/v1/endpoints", {"url": url},
                                token=a["token"])
        eq((status, body.get("id")), (409, local["id"]), url)
    esc = h.endpoint("acme", "http://127.0.0.1:9/a%2fb/{refId}")
    status, body, _ = h.api("POST", "/v1/endpoints",
                            {"client": "acme",
                             "url": "http://127.0.0.1:9/a%2Fb/{refId}"})
    eq((status, body.get("id")), (409, esc["id"]), "escape hex case")
    # Not the same: the path's case, an empty query, another port or
    # method, an escaped slash, another client.
    for url in ("http://127.0.0.1/D", "http://127.0.0.1/d?",
                "http://127.0.0.1:8080/d", "http://127.0.0.1:9/a/b/{refId}"):
        h.endpoint("acme", url)
    h.endpoint("acme", "http://127.0.0.1:80/d", method="GET")
    h.endpoint("other", "http://127.0.0.1:80/d")
    # PATCH into a normalized duplicate is refused the same way.
    other = h.endpoint("acme", "http://127.0.0.1/e")
    status, body, _ = h.api("PATCH", "/v1/endpoints/" + other["id"],
                            {"url": "http://127.0.0.1:80/D"})
    eq(status, 409, "PATCH to /D: %r" % (body,))
    status, body, _ = h.api("PATCH", "/v1/endpoints/" + other["id"],
                            {"url": "http://127.0.0.1:80/d"})
    eq((status, body.get("id")), (409, first["id"]), "PATCH duplicate")
    # Each event reaches http://127.0.0.1/d once for acme: one endpoint.
    eq(sum(1 for e in h.req(200, "GET", "/v1/endpoints?client=acme")["data"]
           if e["url"] in ("http://127.0.0.1/d", "http://127.0.0.1:80/d",
                           "HTTP://127.0.0.1/d", "http://127.0.0.1/%64")
           and e["method"] == "POST"), 1, "POST endpoints for /d")


def test_admin_retries_not_limited(t):
    """Contract §18: max_retries_per_minute limits what a tenant does with
    its token; the operator's (admin token) retries and replays are neither
    refused nor counted against the client."""
    limit = 3
    h = t.hookd("max_retries_per_minute %d\n" % limit)
    a = h.client("acme")
    ep = h.endpoint("acme", "http://127.0.0.1:9/ep", enabled=False)
    evt = h.event("acme", data={}, callback="http://127.0.0.1:9/cb")
    did = h.deliveries_of(evt["id"])[0]["id"]
    retry = "/v1/deliveries/%s/retry" % did
    replay = ("/v1/endpoints/%s/replay" % ep["id"],
              {"since": "2020-01-01T00:00:00Z"})
    # The admin first: many calls, none refused, none counted...
    for _ in range(2 * limit + 2):
        h.req(202, "POST", retry)
        h.req(202, "POST", *replay)
    # ...so the client still has its whole share (a new minute starting
    # meanwhile could only give it more), and then is refused.
    ok = 0
    while True:
        status, body, _ = h.api("POST", retry, token=a["token"])
        if status == 429:
            break
        eq(status, 202, "client retry: %r" % (body,))
        ok += 1
        check(ok <= 2 * limit + 2, "the client was never limited")
    check(ok >= limit, "client retries before 429: %d, want %d" % (ok, limit))
    eq(error(h, 429, "POST", replay[0], replay[1], token=a["token"]),
       "too many retry, replay and test calls for client acme: at most %d a "
       "minute (max_retries_per_minute)" % limit, "client replay")
    # With the client at its limit, the admin still retries and replays.
    h.req(202, "POST", retry)
    h.req(202, "POST", *replay)


def test_repeated_query_parameter_refused(t):
    """A known query parameter given twice has no one meaning: 400 naming
    it, on every route (one check in the query parsing), and nothing done."""
    h = t.hookd()
    a = h.client("acme")
    h.client("other")
    cb = urllib.parse.quote("http://127.0.0.1:9/a", safe="")
    cb2 = urllib.parse.quote("http://127.0.0.1:9/b", safe="")
    body = {"client": "acme", "type": "t", "data": {}}
    for method, path, b, tok in (
            ("POST", "/v1/events?callbackURL=%s&callbackURL=%s" % (cb, cb2),
             body, "admin"),
            ("POST", "/v1/events?callbackURL=%s&callbackURL=%s" % (cb, cb),
             body, "admin"),
            ("GET", "/v1/endpoints?limit=5&limit=6", None, "admin"),
            ("GET", "/v1/endpoints?client=acme&limit=1&client=other", None,
             "admin"),
            ("GET", "/v1/events?client=acme&client=other", None, "admin"),
            ("GET", "/v1/events?type=a&type=", None, a["token"]),
            ("GET", "/v1/deliveries?status=failed&status=delivered", None,
             a["token"]),
            ("GET", "/v1/clients?after=a&after=b", None, "admin")):
        name = path.split("?")[1].split("&")[-1].split("=")[0]
        eq(error(h, 400, method, path, b, token=tok),
           'query parameter "%s" given twice' % name, path)
    eq(h.req(200, "GET", "/v1/events")["data"], [], "no event created")
    # Once each is fine, and so are empty pieces between them.
    h.req(202, "POST", "/v1/events?callbackURL=" + cb, body)
    eq(len(h.req(200, "GET", "/v1/events?client=acme&&type=t&limit=5")
           ["data"]), 1, "events")


def test_idempotency_key_per_client(t):
    """An Idempotency-Key is the producer's token within one client: the
    same key for another client is another request (a new event), and each
    client's repeat answers its own first answer."""
    h = t.hookd()
    h.client("acme")
    h.client("other")
    key = {"Idempotency-Key": "order-1"}
    first = h.event("acme", data={"n": 1}, headers=key)
    other = h.event("other", data={"n": 1}, headers=key)
    check(other["id"] != first["id"], "a new event for the other client: "
          "%r %r" % (first, other))
    eq(h.event("acme", data={"n": 1}, headers=key), first, "acme repeat")
    eq(h.event("other", data={"n": 1}, headers=key), other, "other repeat")
    eq(len(h.req(200, "GET", "/v1/events")["data"]), 2, "events in all")
    # The check of the request's hash is per client too.
    eq(error(h, 422, "POST", "/v1/events",
             {"client": "other", "type": "order.paid", "data": {"n": 2}},
             headers=key),
       "Idempotency-Key reused with a different request", "other, new body")
# ---------------------------------------------- names judged at registration


def loopback_names():
    """Names of /etc/hosts, other than localhost (judged by name alone),
    that resolve only to loopback addresses: (name, [addresses in
    getaddrinfo's order]). Raises Skip when the machine has none."""
    found = []
    try:
        with open("/etc/hosts") as f:
            lines = f.read().splitlines()
    except OSError:
        lines = []
    for line in lines:
        for name in line.split("#")[0].split()[1:]:
            low = name.lower()
            if low == "localhost" or low.endswith(".localhost") or \
                    any(n == low for n, _ in found):
                continue
            try:
                infos = socket.getaddrinfo(name, None, 0, socket.SOCK_STREAM)
            except OSError:
                continue
            addrs = [i[4][0] for i in infos]
            if addrs and all(a.startswith("127.") or a == "::1"
                             for a in addrs):
                found.append((low, addrs))
    if not found:
        raise Skip("no name other than localhost resolves only to "
                           "loopback in /etc/hosts")
    return found


def refusal(name, addrs, prefix=""):
    return ("%sdestination not allowed: %s resolves only to %s; "
            "allow_destinations opens it"
            % (prefix, name, ", ".join("%s (loopback)" % a for a in addrs)))


def test_name_resolving_only_to_denied_refused(t):
    """Contract §11: refused at registration (POST and PATCH of an
    endpoint, ?callbackURL=), not only when delivered."""
    name, addrs = loopback_names()[0]
    h = t.hookd(allow=False)
    h.client("acme")
    eq(error(h, 422, "POST", "/v1/endpoints",
             {"client": "acme", "url": "http://%s:9/in" % name}),
       refusal(name, addrs), "POST /v1/endpoints")
    ep = h.endpoint("acme", "http://93.184.216.34/in", enabled=False)
    eq(error(h, 422, "PATCH", "/v1/endpoints/" + ep["id"],
             {"url": "http://%s/in" % name.upper()}),
       refusal(name, addrs), "PATCH /v1/endpoints")
    eq(h.req(200, "GET", "/v1/endpoints/" + ep["id"])["url"],
       "http://93.184.216.34/in", "the url after the refused PATCH")
    eq(error(h, 422, "POST", "/v1/events?callbackURL=" +
             urllib.parse.quote("http://%s/cb" % name, safe=""),
             {"client": "acme", "type": "a", "data": {}}),
       refusal(name, addrs, "callbackURL: "), "callbackURL")
    eq(h.req(200, "GET", "/v1/events")["data"], [], "events after")
    eq(len(h.req(200, "GET", "/v1/endpoints")["data"]), 1, "endpoints")


def test_name_resolving_to_allowed_accepted(t):
    name, addrs = loopback_names()[0]
    h = t.hookd("allow_destinations 127.0.0.0/8 ::1/128\n", allow=False)
    r = t.receiver()
    h.client("acme")
    port = int(r.url("/").split(":")[2].split("/")[0])
    h.endpoint("acme", "http://%s:%d/in" % (name, port))
    evt = h.event("acme", data={},
                  callback="http://%s:%d/cb" % (name, port))
    if any(a.startswith("127.") for a in addrs):   # the receiver's address
        h.wait_all(evt["id"], "delivered", n=2)
        eq(sorted(x.target for x in r.got()), ["/cb", "/in"],
           "delivered through the name")


def test_unresolvable_name_accepted(t):
    """A name may be registered before it exists (RFC 6761: .invalid never
    resolves); the delivery then says dns: ..."""
    h = t.hookd(allow=False)
    h.client("acme")
    h.endpoint("acme", "http://nonexistent.invalid/in")
    evt = h.event("acme", data={},
                  callback="http://cb.nonexistent.invalid/x")
    for d in h.wait_all(evt["id"], "failed", n=2):
        check(d["last"]["error"].startswith("dns: "), "delivery %r" % (d,))


def test_slow_name_accepted_after_bound(t):
    """A lookup that never answers (HOOKD_FAULT dns_slow) holds the
    registration for the bound only, then it is accepted; meanwhile the
    server answers other requests, including ones that need a lookup."""
    name, addrs = loopback_names()[0]
    h = t.hookd(allow=False, env={"HOOKD_FAULT": "dns_slow=.slow.test"})
    h.client("acme")
    h.client("other")
    # Each try is a fresh name: a fresh wait. A try can only be
    # inconclusive (the wait ended before the other requests did), never
    # pass wrongly.
    for i in range(3):
        host = "n%d.slow.test" % i
        body = json.dumps({"client": "acme", "url": "http://%s/in" % host,
                           "enabled": False}).encode()
        slow = RawConn(h.port, timeout=30)
        slow.send(b"POST /v1/endpoints HTTP/1.1\r\nHost: x\r\n"
                  b"Authorization: Bearer " + h.admin.encode() +
                  b"\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(body) + body)
        eq(h.api("GET", "/healthz", token=None)[0], 200, "healthz")
        eq(error(h, 422, "POST", "/v1/endpoints",
                 {"client": "other", "url": "http://%s/x" % name}),
           refusal(name, addrs), "a lookup while the slow one hangs")
        h.endpoint("other", "http://93.184.216.34/x%d" % i, enabled=False)
        slow.sock.setblocking(False)
        try:
            early = slow.sock.recv(1)
        except BlockingIOError:
            early = b""
        slow.sock.setblocking(True)
        slow.buf += early
        status, _, raw = slow.read_response()
        slow.close()
        eq(status, 201, "the slow name's registration: %r" % raw)
        eq(json.loads(raw)["url"], "http://%s/in" % host, "its url")
        if not early:
            break
    else:
        raise AssertionError("the slow registration answered before the "
                             "others three times")


def test_list_page_cut_at_4_mib(t):
    """Contract §18: a list page ends, with next set, once it holds 4 MiB
    of JSON, even when limit allows more; following next reads every item
    once. Deliveries with a long URL and a 4 KiB ack are over 6 KiB each,
    so 800 of them (limit 1000) cannot fit one page."""
    h = t.hookd()
    r = t.receiver()
    path = "/cb/" + "x" * 1900
    ack = {"ack": True, "pad": "p" * 4050}
    r.on(path, Reply(200, ack))
    h.client("acme")
    h.endpoint("acme", r.url(path))
    n = 800
    ids = [h.event("acme", data={"n": i})["id"] for i in range(n)]
    wait_until(lambda: len(r.got(path)) >= n, timeout=120,
               what="%d deliveries" % n)
    wait_until(lambda: not h.deliveries("?status=pending&limit=1"),
               timeout=60, what="no delivery pending")
    seen, after, pages = [], None, []
    while True:
        q = "?limit=1000" + ("&after=" + after if after else "")
        status, body, _ = h.api("GET", "/v1/deliveries" + q)
        eq(status, 200, "list status")
        size = len(json.dumps(body, separators=(",", ":")))
        pages.append((len(body["data"]), size))
        seen.extend(d["id"] for d in body["data"])
        after = body["next"]
        if after is None:
            break
        check(size <= 4 * 1024 * 1024 + 16 * 1024,
              "a page of %d bytes (over 4 MiB and one item)" % size)
    check(len(pages) >= 2 and pages[0][0] < n,
          "pages (items, bytes): %r: the first page was not cut" % pages)
    eq(len(seen), n, "deliveries read over all pages")
    eq(len(set(seen)), n, "distinct deliveries over all pages")
    eq(len(ids), n, "events posted")


def test_repeated_authorization_refused(t):
    """A request with two Authorization lines is 400, whichever comes
    first: one reader takes the first, another the last, so the token that
    was checked must not depend on that (RFC 9110 §11.6.2). Likewise two
    Idempotency-Key lines. The server keeps answering."""
    h = t.hookd()
    h.client("acme")
    for first, second in ((h.admin, "bad"), ("bad", h.admin)):
        c = RawConn(h.port)
        c.send(b"GET /v1/clients HTTP/1.1\r\nHost: x\r\n"
               b"Authorization: Bearer " + first.encode() + b"\r\n"
               b"Authorization: Bearer " + second.encode() + b"\r\n\r\n")
        status, _, body = c.read_response()
        eq(status, 400, "two Authorization lines (%s first)"
           % ("the admin's" if first == h.admin else "a bad one"))
    body = b'{"client":"acme","type":"t","data":{}}'
    c = RawConn(h.port)
    c.send(b"POST /v1/events HTTP/1.1\r\nHost: x\r\n"
           b"Authorization: Bearer " + h.admin.encode() + b"\r\n"
           b"Idempotency-Key: k1\r\nIdempotency-Key: k2\r\n"
           b"Content-Type: application/json\r\n"
           b"Content-Length: %d\r\n\r\n" % len(body) + body)
    status, _, body = c.read_response()
    eq(status, 400, "two Idempotency-Key lines")
    eq(h.req(200, "GET", "/v1/events")["data"], [], "events created")


def test_empty_body_says_what_is_needed(t):
    # Issue 9.5: a route that takes members answers an empty body with
    # what it needs, from the route's field table.
    h = t.hookd()
    h.client("acme")
    ep = h.endpoint("acme", "http://127.0.0.1:9/x")["id"]
    for body in (None, b"", b" \r\n"):
        kw = {} if body is not None else {"headers": {
            "Content-Type": "application/json"}}
        msg = error(h, 400, "POST", "/v1/endpoints/%s/replay" % ep, body,
                    **kw)
        eq(msg, 'a JSON body is needed: {"since": <a string>}',
           "replay with body %r" % (body,))
    msg = error(h, 400, "POST", "/v1/clients", b"")
    check(msg.startswith('a JSON body is needed: {"id": <a string>'),
          "client create with no body: %r" % msg)
    # A body that is there but broken keeps its own message.
    eq(error(h, 400, "POST", "/v1/endpoints/%s/replay" % ep, b"{"),
       "body is not valid JSON", "a broken body")


def test_query_parameter_names_are_percent_decoded(t):
    # Contract §11: a refused parameter is named, in its decoded form; a
    # known name written with escapes is that name.
    h = t.hookd()
    h.client("acme")
    for i in range(3):
        h.event(client="acme", data={"i": i})
    st, data, _ = h.api("GET", "/v1/events?%6cimit=2")
    eq(st, 200, "?%%6cimit=2: %r" % (data,))
    eq(len(data["data"]), 2, "events with ?%6cimit=2")
    eq(error(h, 400, "GET", "/v1/events?%6cimt=2"),
       'unknown query parameter "limt" (did you mean limit?)',
       "a misspelt escaped name")
    eq(error(h, 400, "GET", "/v1/events?limit=2&%6c%69mit=3"),
       'query parameter "limit" given twice', "plain and escaped limit")
    # Not a plain word once decoded, or not decodable: not echoed.
    for q in ("%3Cb%3E=1", "%zz=1", "a%00b=1"):
        eq(error(h, 400, "GET", "/v1/events?" + q),
           "unknown query parameter", "name %s" % q)


def test_log_says_status_none_without_an_answer(t):
    # An attempt with no HTTP answer (connection refused) has status null
    # in the API; the log says status=none, never status=0.
    import re
    h = t.hookd()
    h.client("acme")
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()       # nothing listens there: refused
    evt = h.event(client="acme", data={},
                  callback="http://127.0.0.1:%d/x" % port)["id"]
    d = h.wait_all(evt, "failed", n=1, timeout=30)[0]
    st, full, _ = h.api("GET", "/v1/deliveries/" + d["id"])
    eq(st, 200, "delivery")
    check(len(full["log"]) == full["attempts"] and
          all(a["status"] is None for a in full["log"]),
          "API statuses %r" % full["log"])
    lines = [x for x in h.log().split("\n")
             if "delivery=" + d["id"] in x and
             (" msg=retry " in x or " msg=failed " in x)]
    eq(len(lines), full["attempts"], "attempt lines: %r" % lines)
    for line in lines:
        check(re.search(r" status=none ", line) and " status=0" not in line,
              "log line %r" % line)


def test_fqdn_localhost_is_loopback_by_class(t):
    # "LOCALHOST." is the fully qualified localhost: loopback, named by
    # class, not an invalid host; opened by allow_destinations like it.
    h = t.hookd(allow=False)
    h.client("acme")
    msg = error(h, 422, "POST", "/v1/endpoints",
                {"client": "acme", "url": "http://LOCALHOST.:9/x"})
    check("destination not allowed: localhost. is loopback" in msg,
          "error for LOCALHOST.: %r" % msg)
    h2 = t.hookd()
    h2.client("acme")
    st, data, _ = h2.api("POST", "/v1/endpoints",
                         {"client": "acme", "url": "http://localhost.:9/x"})
    eq(st, 201, "localhost. with loopback allowed: %r" % (data,))
