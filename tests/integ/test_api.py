"""The HTTP API (contract §2, §3): auth, clients, endpoints, lists, errors,
persistence of registrations across restarts and kills."""

import os
import stat

from .harness import RFC3339_MS, check, eq


def error_of(body):
    """The reason of an error answer, asserting its {"error": "..."} shape."""
    check(isinstance(body, dict) and isinstance(body.get("error"), str)
          and body["error"], "error body %r is not {\"error\": reason}"
          % (body,))
    return body["error"]


def test_healthz(t):
    h = t.hookd()
    status, body, hdrs = h.api("GET", "/healthz", token=None)
    eq(status, 200, "GET /healthz status")
    check(body in ("ok", "ok\n"), "GET /healthz body %r, want ok" % body)


def test_auth_required(t):
    h = t.hookd()
    for token in (None, "wrong", h.admin + "x", h.admin[:-1]):
        status, body, _ = h.api("GET", "/v1/clients", token=token)
        eq(status, 401, "GET /v1/clients with token %r" % token)
        error_of(body)
    # A scheme other than Bearer is no token.
    status, body, _ = h.api("GET", "/v1/clients", token=None,
                            headers={"Authorization": "Basic " + h.admin})
    eq(status, 401, "Authorization: Basic")
    status, _, _ = h.api("POST", "/v1/events", {"client": "a"}, token=None)
    eq(status, 401, "POST /v1/events without token")


def test_client_create(t):
    h = t.hookd()
    status, c, hdrs = h.api("POST", "/v1/clients",
                            {"id": "acme", "name": "Acme Store"})
    eq(status, 201, "POST /v1/clients status")
    check(hdrs.get("content-type", "").startswith("application/json"),
          "content-type %r" % hdrs.get("content-type"))
    eq(c["id"], "acme", "id")
    eq(c["name"], "Acme Store", "name")
    check(c["token"].startswith("hkc_") and len(c["token"]) > 10,
          "token %r" % c["token"])
    check(c["secret"].startswith("whsec_"), "secret %r" % c["secret"])
    check(RFC3339_MS.match(c["created_at"]), "created_at %r is not RFC 3339 "
          "with milliseconds" % c["created_at"])
    # Every valid id shape is accepted.
    for cid in ("a", "A.b_c-9", "x" * 64):
        h.req(201, "POST", "/v1/clients", {"id": cid, "name": "n"})


def test_client_duplicate_409(t):
    h = t.hookd()
    h.client("acme")
    status, body, _ = h.api("POST", "/v1/clients", {"id": "acme", "name": "B"})
    eq(status, 409, "duplicate client")
    error_of(body)


def test_client_bad_id_422(t):
    h = t.hookd()
    for cid in ("", "a b", "x" * 65, "a/b", "é", "a?b"):
        status, body, _ = h.api("POST", "/v1/clients", {"id": cid, "name": "n"})
        eq(status, 422, "client id %r" % cid)
        error_of(body)


def test_client_non_json_400(t):
    h = t.hookd()
    for raw in (b"{oops", b"[1, 2", b'{"id": "a",}', b"\xff\xfe", b"{} x"):
        status, body, _ = h.api("POST", "/v1/clients", raw)
        eq(status, 400, "body %r" % raw)
        error_of(body)


def test_client_wrong_shape_422(t):
    h = t.hookd()
    for body in ([], b'"acme"', 5, {"id": 5, "name": "n"}, {"name": "n"},
                 {"id": ["a"]}):
        status, b, _ = h.api("POST", "/v1/clients", body)
        eq(status, 422, "body %r" % (body,))
        error_of(b)


def test_client_list_get(t):
    h = t.hookd()
    h.client("acme", "Acme Store")
    h.client("bolt", "Bolt")
    lst = h.req(200, "GET", "/v1/clients")
    eq([c["id"] for c in lst["data"]], ["acme", "bolt"], "client list ids")
    eq(lst["next"], None, "next")
    for c in lst["data"]:
        check("token" not in c, "client list shows a token: %r" % c)
    c = h.req(200, "GET", "/v1/clients/acme")
    eq(c["id"], "acme", "id")
    eq(c["name"], "Acme Store", "name")
    check("token" not in c, "GET client shows the token: %r" % c)
    check(RFC3339_MS.match(c["created_at"]), "created_at %r" % c["created_at"])
    error_of(h.req(404, "GET", "/v1/clients/nobody"))


def test_client_rotate_token(t):
    h = t.hookd()
    old = h.client("acme")["token"]
    h.req(200, "GET", "/v1/endpoints", token=old)
    new = h.req(200, "POST", "/v1/clients/acme/rotate-token")["token"]
    check(new.startswith("hkc_") and new != old, "new token %r" % new)
    h.req(401, "GET", "/v1/endpoints", token=old)
    h.req(200, "GET", "/v1/endpoints", token=new)
    h.req(404, "POST", "/v1/clients/nobody/rotate-token")


def test_client_delete(t):
    h = t.hookd()
    tok = h.client("acme")["token"]
    status, body, _ = h.api("DELETE", "/v1/clients/acme")
    eq(status, 204, "DELETE client")
    eq(body, "", "204 body")
    h.req(404, "GET", "/v1/clients/acme")
    h.req(404, "DELETE", "/v1/clients/acme")
    h.req(401, "GET", "/v1/endpoints", token=tok)
    # The id is free again.
    h.client("acme")


# ------------------------------------------------------------- endpoints


def test_endpoint_admin_create(t):
    h = t.hookd()
    h.client("acme")
    url = "http://127.0.0.1:9/callback/{refId}"
    ep = h.endpoint("acme", url)
    check(ep["id"].startswith("ep_") and len(ep["id"]) <= 64, "id %r"
          % ep["id"])
    eq(ep["client"], "acme", "client")
    eq(ep["url"], url, "url")
    check(ep["secret"].startswith("whsec_"), "secret %r" % ep["secret"])
    eq(ep["method"], "POST", "default method")
    eq(ep["events"], ["*"], "default events")
    eq(ep["enabled"], True, "enabled")
    for k in ("created_at", "updated_at"):
        check(RFC3339_MS.match(ep[k]), "%s %r" % (k, ep[k]))
    got = h.req(200, "GET", "/v1/endpoints/" + ep["id"])
    eq(got["secret"], ep["secret"], "GET endpoint secret")
    eq(got["url"], url, "GET endpoint url")
    # The admin must name the client, and it must exist.
    error_of(h.req(422, "POST", "/v1/endpoints", {"url": url}))
    status, _, _ = h.api("POST", "/v1/endpoints",
                         {"client": "nobody", "url": url})
    check(status in (404, 422), "endpoint for a missing client: %d" % status)


def test_endpoint_full_fields(t):
    h = t.hookd()
    h.client("acme")
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    ep = h.endpoint("acme", "http://127.0.0.1:9/g", method="GET",
                    events=["order.paid", "order.*"], headers={"X-Api-Key":
                                                               "k"},
                    description="shop", secret=secret, enabled=False)
    eq(ep["method"], "GET", "method")
    eq(ep["events"], ["order.paid", "order.*"], "events")
    eq(ep["headers"], {"X-Api-Key": "k"}, "headers")
    eq(ep["description"], "shop", "description")
    eq(ep["secret"], secret, "secret")
    eq(ep["enabled"], False, "enabled")


def test_endpoint_client_token(t):
    h = t.hookd()
    a = h.client("acme")["token"]
    b = h.client("bolt")["token"]
    ea = h.endpoint("acme", "http://127.0.0.1:9/a", token=a)
    eq(ea["client"], "acme", "client implied by the token")
    eb = h.endpoint("bolt", "http://127.0.0.1:9/b")
    # Another client's endpoint does not exist for acme: 404, never 403.
    for method, body in (("GET", None), ("PATCH", {"enabled": False}),
                         ("DELETE", None)):
        status, _, _ = h.api(method, "/v1/endpoints/" + eb["id"], body,
                             token=a)
        eq(status, 404, "%s bolt's endpoint with acme's token" % method)
    h.req(404, "POST", "/v1/endpoints/%s/rotate-secret" % eb["id"], token=a)
    ids = [e["id"] for e in h.req(200, "GET", "/v1/endpoints",
                                   token=a)["data"]]
    eq(ids, [ea["id"]], "acme's endpoint list")
    ids = [e["id"] for e in h.req(200, "GET", "/v1/endpoints")["data"]]
    eq(ids, [ea["id"], eb["id"]], "admin's endpoint list")
    ids = [e["id"] for e in h.req(200, "GET", "/v1/endpoints?client=bolt")
           ["data"]]
    eq(ids, [eb["id"]], "?client=bolt")
    h.req(200, "GET", "/v1/endpoints/" + eb["id"], token=b)


def test_client_forbidden_admin_things(t):
    h = t.hookd()
    a = h.client("acme")["token"]
    for method, path, body in (
            ("POST", "/v1/clients", {"id": "x", "name": "x"}),
            ("GET", "/v1/clients", None),
            ("POST", "/v1/clients/acme/rotate-token", None),
            ("DELETE", "/v1/clients/acme", None),
            ("POST", "/v1/events", {"client": "acme", "type": "t",
                                    "data": {}})):
        status, body, _ = h.api(method, path, body, token=a)
        eq(status, 403, "%s %s with a client token" % (method, path))
        error_of(body)
    h.req(200, "GET", "/v1/clients/acme")  # still there


def test_endpoint_bad_urls_422(t):
    h = t.hookd()
    h.client("acme")
    for url in ("ftp://example.com/", "http://", "example.com/x", "", 5,
                "http://exa mple.com/"):
        status, body, _ = h.api("POST", "/v1/endpoints",
                                {"client": "acme", "url": url})
        eq(status, 422, "url %r" % (url,))
        error_of(body)


def test_endpoint_private_ip_422(t):
    h = t.hookd(allow=False)
    h.client("acme")
    for url in ("http://10.0.0.1/x", "http://127.0.0.1:8080/x",
                "http://169.254.169.254/latest", "http://[::1]/x",
                "http://192.168.1.1/"):
        status, body, _ = h.api("POST", "/v1/endpoints",
                                {"client": "acme", "url": url})
        eq(status, 422, "literal private destination %s" % url)
        error_of(body)
    # A public literal address is fine.
    h.endpoint("acme", "http://93.184.216.34/x")


def test_endpoint_private_ip_allowed(t):
    h = t.hookd()  # allows 127.0.0.0/8 only
    h.client("acme")
    h.endpoint("acme", "http://127.0.0.1:9/x")
    h.req(422, "POST", "/v1/endpoints", {"client": "acme",
                                         "url": "http://10.0.0.1/x"})


def test_endpoint_bad_fields_422(t):
    h = t.hookd()
    h.client("acme")
    url = "http://127.0.0.1:9/x"
    for extra in ({"secret": "nope"}, {"secret": "whsec_!!!"},
                  {"secret": "whsec_"}, {"method": "PUT"},
                  {"events": "order.paid"}, {"events": [5]},
                  {"headers": {"X": 5}}, {"headers": ["X"]},
                  {"enabled": "yes"}):
        status, body, _ = h.api("POST", "/v1/endpoints",
                                dict({"client": "acme", "url": url}, **extra))
        eq(status, 422, "endpoint with %r" % (extra,))
        error_of(body)


def test_endpoint_patch(t):
    h = t.hookd()
    h.client("acme")
    ep = h.endpoint("acme", "http://127.0.0.1:9/a")
    path = "/v1/endpoints/" + ep["id"]
    changes = {"url": "http://127.0.0.1:9/b/{refId}", "method": "GET",
               "events": ["order.*"], "headers": {"X-K": "v"},
               "description": "changed", "enabled": False}
    got = h.req(200, "PATCH", path, changes)
    for k, v in changes.items():
        eq(got[k], v, "PATCH answer " + k)
    eq(got["secret"], ep["secret"], "secret kept")
    eq(got["created_at"], ep["created_at"], "created_at kept")
    check(got["updated_at"] >= ep["updated_at"], "updated_at moved back")
    again = h.req(200, "GET", path)
    for k, v in changes.items():
        eq(again[k], v, "GET after PATCH " + k)
    # Only the named field changes.
    got = h.req(200, "PATCH", path, {"enabled": True})
    eq((got["enabled"], got["method"], got["url"]),
       (True, "GET", changes["url"]), "single-field PATCH")
    h.req(422, "PATCH", path, {"method": "PUT"})
    h.req(422, "PATCH", path, {"url": "ftp://example.com/"})
    h.req(400, "PATCH", path, b"{nope")
    h.req(404, "PATCH", "/v1/endpoints/ep_0000000000000999", {"enabled": True})


def test_endpoint_list_pagination(t):
    h = t.hookd()
    h.client("acme")
    ids = [h.endpoint("acme", "http://127.0.0.1:9/%d" % i)["id"]
           for i in range(5)]
    check(ids == sorted(ids), "ids do not sort in creation order: %r" % ids)
    seen = []
    after = None
    pages = 0
    while True:
        q = "?limit=2" + ("&after=" + after if after else "")
        page = h.req(200, "GET", "/v1/endpoints" + q)
        pages += 1
        check(len(page["data"]) <= 2, "page larger than limit: %r" % page)
        for e in page["data"]:
            check("secret" not in e, "endpoint list shows a secret: %r" % e)
        seen += [e["id"] for e in page["data"]]
        after = page["next"]
        if after is None:
            break
        eq(after, seen[-1], "next is the last id of the page")
        check(pages < 10, "pagination does not end")
    eq(seen, ids, "all pages")
    eq(pages, 3, "pages for 5 items by 2")
    full = h.req(200, "GET", "/v1/endpoints")
    eq([e["id"] for e in full["data"]], ids, "default list")
    eq(full["next"], None, "next of a complete list")
    for bad in ("0", "1001", "x", "-1"):
        status, _, _ = h.api("GET", "/v1/endpoints?limit=" + bad)
        check(status in (400, 422), "limit=%s answered %d" % (bad, status))


def test_endpoint_delete(t):
    h = t.hookd()
    h.client("acme")
    ep = h.endpoint("acme", "http://127.0.0.1:9/a")
    status, body, _ = h.api("DELETE", "/v1/endpoints/" + ep["id"])
    eq(status, 204, "DELETE endpoint")
    h.req(404, "GET", "/v1/endpoints/" + ep["id"])
    h.req(404, "DELETE", "/v1/endpoints/" + ep["id"])
    eq(h.req(200, "GET", "/v1/endpoints")["data"], [], "list after delete")


def test_endpoint_rotate_secret(t):
    h = t.hookd()
    h.client("acme")
    ep = h.endpoint("acme", "http://127.0.0.1:9/a")
    got = h.req(200, "POST", "/v1/endpoints/%s/rotate-secret" % ep["id"])
    check(got["secret"].startswith("whsec_") and got["secret"] != ep["secret"],
          "rotated secret %r" % got)
    eq(h.req(200, "GET", "/v1/endpoints/" + ep["id"])["secret"],
       got["secret"], "GET after rotate")


def test_unknown_path_404_wrong_method_405(t):
    h = t.hookd()
    h.client("acme")
    for path in ("/v1/nope", "/nope", "/v1/clients/acme/nope", "/v2/clients",
                 "/v1/endpoints/ep_x/y/z"):
        status, body, _ = h.api("GET", path)
        eq(status, 404, "GET " + path)
    for method, path in (("PUT", "/v1/clients"), ("DELETE", "/v1/events"),
                         ("POST", "/healthz"), ("PATCH", "/v1/clients/acme"),
                         ("GET", "/v1/clients/acme/rotate-token"),
                         ("DELETE", "/v1/endpoints")):
        status, body, _ = h.api(method, path, {} if method != "GET" else None)
        eq(status, 405, "%s %s" % (method, path))


def test_error_body_does_not_echo(t):
    h = t.hookd()
    marker = "zq<script>marker"
    for method, path, body in (("GET", "/v1/" + marker, None),
                               ("POST", "/v1/clients", {"id": marker}),
                               ("POST", "/v1/clients", "{" + marker)):
        _, b, _ = h.api(method, path, body)
        check(marker not in str(b), "error echoes request data: %r" % b)


# ----------------------------------------------------------- persistence


def test_restart_keeps_registrations(t):
    h = t.hookd()
    c = h.client("acme", "Acme Store")
    ep = h.endpoint("acme", "http://127.0.0.1:9/a", events=["order.*"],
                    headers={"X-K": "v"})
    h.restart()
    eq(h.req(200, "GET", "/v1/clients/acme")["name"], "Acme Store", "name")
    got = h.req(200, "GET", "/v1/endpoints/" + ep["id"], token=c["token"])
    for k in ("url", "secret", "events", "headers", "method", "created_at"):
        eq(got[k], ep[k], "after restart " + k)
    ep2 = h.endpoint("acme", "http://127.0.0.1:9/b")
    check(ep2["id"] > ep["id"], "ids after restart do not sort after the "
          "old ones: %s <= %s" % (ep2["id"], ep["id"]))


def test_kill9_keeps_acknowledged(t):
    h = t.hookd()
    c = h.client("acme")
    h.kill9()
    h.start()
    h.req(200, "GET", "/v1/clients/acme")
    ep = h.endpoint("acme", "http://127.0.0.1:9/a")
    h.kill9()
    h.start()
    h.req(200, "GET", "/v1/endpoints/" + ep["id"], token=c["token"])
    h.req(204, "DELETE", "/v1/endpoints/" + ep["id"])
    h.kill9()
    h.start()
    h.req(404, "GET", "/v1/endpoints/" + ep["id"])


def test_secrets_files_mode_0600(t):
    h = t.hookd()
    h.client("acme")
    h.endpoint("acme", "http://127.0.0.1:9/a")
    for name in sorted(os.listdir(h.data)):
        p = os.path.join(h.data, name)
        if os.path.isfile(p):
            mode = stat.S_IMODE(os.stat(p).st_mode)
            check(mode & 0o077 == 0, "%s has mode %o" % (name, mode))
    mode = stat.S_IMODE(os.stat(h.data).st_mode)
    eq(mode, 0o700, "data dir mode")
    log = h.log()
    check(h.admin not in log, "the admin token is in the log")
