"""The OpenAPI document (issue 15 items 3 and 4; contract §16): the
document hookd serves at GET /openapi.json is web/openapi.json, validates as
OpenAPI 3.1 (npm @seriousme/openapi-schema-validator), names exactly the
routes of api.c's api_routes table with exactly their query parameters and
roles, and real answers of a running hookd to every route (successes and
the main errors) validate against its response schemas (ajv), with every
object hookd writes closed, so that an undocumented member fails; and
every /v1 operation takes contract §17's Hookd-Client header.

The npm packages are installed on first use into tests/openapi/node_modules
(git ignored) from tests/openapi/package-lock.json with `npm ci`. When npm
cannot reach its registry the test SKIPS with the reason; any other npm
failure fails it.
"""

import json
import os
import re
import subprocess
import urllib.parse

from . import harness
from .harness import ROOT, check, eq

NODE_DIR = os.path.join(ROOT, "tests", "openapi")
DOC_PATH = os.path.join(ROOT, "web", "openapi.json")

def ensure_node():
    """The pinned validators in tests/openapi, once."""
    harness.npm_ready(NODE_DIR, "tests/openapi", "the OpenAPI test")


# ------------------------------------------------- what the router serves

ROLES = {"API_OPEN": "open", "API_ANY": "any", "API_ADMIN": "admin"}


def router_routes(api_c):
    """{(METHOD, /path/{}): (role, [query params])} from api.c's text: the
    api_routes table's `{ "METHOD", "/path", ROLE, fn, api_q_x, ...}` lines
    with each '*' segment as '{}', and the api_q_* lists."""
    lists = {}
    for m in re.finditer(r"static const char \*const (api_q_\w+)\[\] = "
                         r"\{([^}]*)\}", api_c):
        lists[m.group(1)] = re.findall(r'"([^"]*)"', m.group(2))
    table = re.search(r"api_routes\[\] = \{(.*?)\n\};", api_c, re.S)
    check(table is not None, "api.c has no api_routes table")
    routes = {}
    for m in re.finditer(r'\{\s*"([A-Z]+)",\s*"(/[^"]*)",\s*(API_\w+),\s*'
                         r'\w+,\s*(api_q_\w+)', table.group(1)):
        method, path, role, q = m.groups()
        check(q in lists, "api.c: %s has no list" % q)
        key = (method, re.sub(r"(?<=/)\*(?=/|$)", "{}", path))
        check(key not in routes, "api.c: %s %s twice" % key)
        routes[key] = (ROLES[role], sorted(lists[q]))
    # Every route line of the table was read: a line the regex missed
    # would hide a route from the comparison.
    eq(len(routes), len(re.findall(r'\{\s*"[A-Z]+",\s*"/', table.group(1))),
       "routes parsed from api_routes")
    return routes


def resolve(doc, obj):
    if "$ref" in obj:
        node = doc
        for part in obj["$ref"][2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node
    return obj


def doc_routes(doc):
    """The same map from the document's paths and operations."""
    routes = {}
    for path, item in doc["paths"].items():
        shared = [resolve(doc, p) for p in item.get("parameters", [])]
        for method, op in item.items():
            if method == "parameters":
                continue
            params = shared + [resolve(doc, p) for p in
                               op.get("parameters", [])]
            sec = op.get("security", doc.get("security"))
            role = ("open" if sec == [] else
                    "admin" if sec == [{"bearer": ["admin"]}] else
                    "any" if sec == [{"bearer": []}] else repr(sec))
            routes[(method.upper(), re.sub(r"\{[^}]*\}", "{}", path))] = (
                role, sorted(p["name"] for p in params
                             if p["in"] == "query"))
    return routes


def route_diff(served, documented):
    """Problems between the two maps: routes missing or extra, query
    parameters or roles that differ."""
    problems = []
    for k in sorted(set(served) - set(documented)):
        problems.append("served but not documented: %s %s" % k)
    for k in sorted(set(documented) - set(served)):
        problems.append("documented but not served: %s %s" % k)
    for k in sorted(set(served) & set(documented)):
        if served[k][0] != documented[k][0]:
            problems.append("%s %s: role %s in api.c, %s in the document"
                            % (k + (served[k][0], documented[k][0])))
        if served[k][1] != documented[k][1]:
            problems.append("%s %s: query parameters %s in api.c, %s in the "
                            "document" % (k + (served[k][1],
                                               documented[k][1])))
    return problems


def read_api_c():
    with open(os.path.join(ROOT, "api.c")) as f:
        return f.read()


def test_document_names_every_route_with_its_parameters(t):
    """Check b and d, without a hookd: the (method, path) set of the
    document equals api_routes', and each operation's query parameters and
    role (security: [] open, bearer [admin] admin only, bearer [] any token)
    equal the route's api_q_* list and API_ role. It also shows that the
    comparison sees a route added to the table or a parameter added to a
    list: it runs on an altered copy of api.c and must complain."""
    with open(DOC_PATH) as f:
        doc = json.load(f)
    api_c = read_api_c()
    problems = route_diff(router_routes(api_c), doc_routes(doc))
    check(not problems, "the document and api.c's api_routes differ:\n  " +
          "\n  ".join(problems))
    # The comparison would see drift: a new route, a new parameter.
    added = api_c.replace(
        '{ "POST", "/v1/compact",',
        '{ "GET", "/v1/new/*/thing", API_ANY, api_compact, api_q_none, '
        'NULL },\n\t{ "POST", "/v1/compact",')
    eq(route_diff(router_routes(added), doc_routes(doc)),
       ["served but not documented: GET /v1/new/{}/thing"],
       "the comparison with a route added to api.c")
    more = api_c.replace('"callbackURL", NULL', '"callbackURL", "x", NULL')
    check(route_diff(router_routes(more), doc_routes(doc)) != [],
          "a query parameter added to api_q_post_event goes unseen")
    eq(doc["info"]["version"], makefile_version(), "info.version")
    problems = client_header_problems(doc)
    check(not problems, "the Hookd-Client header (contract 17):\n  " +
          "\n  ".join(problems))


HOOKD_CLIENT = "#/components/parameters/hookdClient"


def client_header_problems(doc):
    """Contract 17's Hookd-Client header in the document: one reusable
    header parameter, referenced by every /v1 operation (each of which
    lists the 400 of a disagreement), and by no operation outside /v1."""
    problems = []
    p = doc["components"]["parameters"].get("hookdClient")
    if p is None or (p.get("name"), p.get("in")) != ("Hookd-Client",
                                                     "header"):
        problems.append("components/parameters/hookdClient is not the "
                        "Hookd-Client header: %r" % (p,))
    for path, item in doc["paths"].items():
        shared = item.get("parameters", [])
        for method, op in item.items():
            if method == "parameters":
                continue
            refs = [x.get("$ref") for x in shared + op.get("parameters", [])]
            v1 = path.startswith("/v1/")
            if v1 and refs.count(HOOKD_CLIENT) != 1:
                problems.append("%s %s does not reference %s once"
                                % (method.upper(), path, HOOKD_CLIENT))
            if not v1 and HOOKD_CLIENT in refs:
                problems.append("%s %s (not /v1) references %s"
                                % (method.upper(), path, HOOKD_CLIENT))
            if v1 and "400" not in op["responses"]:
                problems.append("%s %s does not list 400"
                                % (method.upper(), path))
    return problems


def makefile_version():
    with open(os.path.join(ROOT, "Makefile")) as f:
        return re.search(r"^VERSION = (\S+)", f.read(), re.M).group(1)


def console_files():
    """The console's files served under /console/ (the Makefile's WEB_FILES
    under web/console/ but index.html, which is /console itself)."""
    with open(os.path.join(ROOT, "Makefile")) as f:
        m = re.search(r"^WEB_FILES = ((?:.*\\\n)*.*)$", f.read(), re.M)
    files = re.findall(r"web/console/(\S+)", m.group(1))
    return [f for f in files if f != "index.html"]


# ------------------------------------------------- driving a real hookd


class Recorder:
    """Sends requests with http.client and keeps (method, path template,
    status, content type, body, headers) of each answer."""

    def __init__(self, h, doc):
        self.h = h
        self.records = []
        self.templates = [(re.compile("^" + re.sub(
            r"\\\{[^}]*\\\}", "[^/]+", re.escape(p)) + "$"), p)
            for p in doc["paths"]]

    def template(self, path):
        for rx, p in self.templates:
            if rx.match(path):
                return p
        return None

    def call(self, method, target, body=None, token="admin", headers=None,
             expect=None, component=None):
        status, raw, rh = self.h.api_raw(method, target, body, token,
                                         headers)
        path = urllib.parse.urlsplit(target).path
        rec = {"method": method, "target": target,
               "path": self.template(path), "status": status,
               "ctype": rh.get("content-type"),
               "body": raw.decode("utf-8", "replace"), "headers": rh}
        if component is not None:
            rec["component"] = component
        self.records.append(rec)
        if expect is not None and status != expect:
            raise AssertionError("%s %s: status %d, want %d: %s"
                                 % (method, target, status, expect,
                                    raw[:300]))
        if rec["ctype"] == "application/json":
            return json.loads(raw)
        return raw

    def statuses(self):
        return {(r["method"], r["path"], r["status"]) for r in self.records}


def run_check(t, doc_bytes, records, name="records"):
    """check.mjs over the served document and the records."""
    doc_file = os.path.join(t.tmp, "served-openapi.json")
    rec_file = os.path.join(t.tmp, name + ".json")
    with open(doc_file, "wb") as f:
        f.write(doc_bytes)
    with open(rec_file, "w") as f:
        json.dump(records, f)
    p = subprocess.run(["node", os.path.join(NODE_DIR, "check.mjs"),
                        doc_file, rec_file], cwd=NODE_DIR,
                       capture_output=True, text=True, timeout=120,
                       stdin=subprocess.DEVNULL)
    check(p.returncode == 0, "check.mjs failed (exit %d): %s"
          % (p.returncode, p.stderr[-3000:]))
    return json.loads(p.stdout)


def test_real_answers_validate_against_the_document(t):
    """Checks a and c: the served document is web/openapi.json byte for
    byte and valid OpenAPI 3.1; every route is driven (successes and the
    main errors: 400 unknown parameter and bad JSON, 401, 403, 404, 405,
    409, 422, 429 with Retry-After), with a delivered event and its ack, a
    failed delivery with its attempt log, a retry and a replay, the
    attempts ring (GET /v1/attempts, its 422 of a bad cursor), a
    Hookd-Client header agreeing and disagreeing (400, on /v1 and on a
    gateway request), and a gateway request, and each answer validates against the operation's
    schema for its status (a status the document does not list fails)."""
    ensure_node()
    with open(DOC_PATH) as f:
        doc = json.load(f)
    rcv = t.receiver()
    rcv.on("/ok", harness.Reply(200, b'{"ack": true, "refId": "3283191"}',
                                {"Content-Type": "application/json"}))
    rcv.on("/fail", harness.Reply(500, b"<b>down</b>"))
    rcv.on("/bad", harness.Reply(400, b"no"))
    up = rcv.url("/")
    h = t.hookd("max_retries_per_minute 3\nroute /api/ %s type=api.result\n"
                % up)
    r = Recorder(h, doc)

    # Operations, without a token.
    eq(r.call("GET", "/openapi.json", token=None, expect=200),
       doc, "the served document")
    with open(DOC_PATH, "rb") as f:
        want = f.read()
    eq(r.records[-1]["body"].encode(), want, "GET /openapi.json bytes")
    r.call("GET", "/healthz", token=None, expect=200)
    r.call("GET", "/healthz?verbose=1", token=None, expect=400)
    r.call("GET", "/metrics", token=None, expect=200)
    r.call("GET", "/console", token=None, expect=200)
    for f in console_files():
        r.call("GET", "/console/" + f, token=None, expect=200)
    r.call("GET", "/console/", token=None, expect=200)
    r.call("GET", "/console/nothing.js", token=None, expect=404)
    r.call("PUT", "/healthz", token=None, expect=405)
    r.call("GET", "/nowhere", token=None, expect=404)

    # Clients.
    r.call("GET", "/v1/clients", token=None, expect=401)
    r.call("GET", "/v1/clients", token="hkc_nobody", expect=401)
    acme = r.call("POST", "/v1/clients", {"id": "acme", "name": "Acme"},
                  expect=201)
    tok = acme["token"]
    r.call("POST", "/v1/clients", {"id": "acme"}, expect=409)
    r.call("POST", "/v1/clients", {"name": "x"}, expect=422)
    r.call("POST", "/v1/clients", "{not json", expect=400)
    r.call("POST", "/v1/clients", {"id": "b"}, token=tok, expect=403)
    r.call("POST", "/v1/clients", {"id": "other"}, expect=201)
    r.call("POST", "/v1/clients", {"id": "tmp", "name": None}, expect=201)
    r.call("GET", "/v1/clients", expect=200)
    r.call("GET", "/v1/clients?limit=1", expect=200)
    r.call("GET", "/v1/clients?limit=0", expect=422)
    r.call("GET", "/v1/clients?limt=5", expect=400)
    r.call("GET", "/v1/clients", token=tok, expect=403)
    r.call("GET", "/v1/clients/acme", expect=200)
    r.call("GET", "/v1/clients/acme", token=tok, expect=200)
    r.call("GET", "/v1/clients/other", token=tok, expect=404)
    eq(r.call("GET", "/v1/whoami", expect=200),
       {"role": "admin", "client": None}, "whoami of the admin")
    eq(r.call("GET", "/v1/whoami", token=tok, expect=200),
       {"role": "client", "client": "acme"}, "whoami of acme's token")
    r.call("GET", "/v1/whoami", token="hkc_nobody", expect=401)
    r.call("GET", "/v1/whoami?x=1", token=tok, expect=400)
    r.call("POST", "/v1/clients/tmp/rotate-token", expect=200)
    r.call("POST", "/v1/clients/tmp/rotate-secret", expect=200)
    r.call("POST", "/v1/clients/tmp/rotate-secret", token=tok, expect=403)
    r.call("DELETE", "/v1/clients/tmp", expect=204)
    r.call("DELETE", "/v1/clients/tmp", expect=404)
    r.call("PUT", "/v1/clients/acme", expect=405)

    # Endpoints.
    ok = r.call("POST", "/v1/endpoints", {
        "client": "acme", "url": rcv.url("/ok"), "events": ["order.*"],
        "headers": {"X-Api-Key": "k"}, "description": "store",
        "rate_limit": 50, "timeout": "5s"}, expect=201)
    r.call("POST", "/v1/endpoints", {"client": "acme",
                                     "url": rcv.url("/ok")}, expect=409)
    r.call("POST", "/v1/endpoints", {"client": "acme", "url": "ftp://x/"},
           expect=422)
    fail = r.call("POST", "/v1/endpoints", {
        "url": rcv.url("/fail"), "events": ["order.paid"],
        "retry_schedule": ["100ms"], "ordering": "fifo"}, token=tok,
        expect=201)
    bad = r.call("POST", "/v1/endpoints", {
        "client": "acme", "url": rcv.url("/bad"), "events": ["order.paid"]},
        expect=201)
    r.call("GET", "/v1/endpoints", expect=200)
    r.call("GET", "/v1/endpoints?client=acme&limit=2", token=tok, expect=200)
    r.call("GET", "/v1/endpoints?after=nope", expect=422)
    r.call("GET", "/v1/endpoints/" + ok["id"], expect=200)
    r.call("GET", "/v1/endpoints/ep_0000000000000fff", expect=404)
    r.call("PATCH", "/v1/endpoints/" + ok["id"],
           {"description": None, "retry_schedule": ["1s", 2]}, expect=200)
    r.call("PATCH", "/v1/endpoints/" + ok["id"], {"secret": "x"},
           expect=422)
    r.call("PATCH", "/v1/endpoints/" + bad["id"],
           {"url": rcv.url("/ok")}, expect=409)
    r.call("POST", "/v1/endpoints/%s/rotate-secret" % ok["id"], token=tok,
           expect=200)
    r.call("POST", "/v1/endpoints/%s/test" % ok["id"], expect=202)

    # Events: a delivered one with an ack, a failed one with its log.
    key = {"Idempotency-Key": "order-1"}
    body = {"client": "acme", "type": "order.paid",
            "data": {"refId": "3283191"}}
    evt = r.call("POST", "/v1/events?callbackURL=" + urllib.parse.quote(
        rcv.url("/ok"), safe=""), body, headers=key, expect=202)
    r.call("POST", "/v1/events?callbackURL=" + urllib.parse.quote(
        rcv.url("/ok"), safe=""), body, headers=key, expect=202)
    r.call("POST", "/v1/events", dict(body, type="order.other"),
           headers=key, expect=422)
    r.call("POST", "/v1/events?callbackUrl=x", body, expect=400)
    r.call("POST", "/v1/events", body, token=tok, expect=403)
    r.call("POST", "/v1/events", dict(body, data=[]), expect=422)
    r.call("POST", "/v1/events", dict(body, delay="1d"), expect=202)
    dl = h.deliveries("?event=" + evt["id"])
    eq(len(dl), 4, "deliveries of the event (ok, fail, bad, one-off)")
    by_ep = {d["endpoint"]: d for d in dl}
    h.wait_delivery(by_ep[ok["id"]]["id"], status="delivered", timeout=30)
    h.wait_delivery(by_ep[fail["id"]]["id"], status="failed", timeout=30)
    h.wait_delivery(by_ep[bad["id"]]["id"], status="failed", timeout=30)
    h.wait_delivery(by_ep[None]["id"], status="delivered", timeout=30)
    r.call("GET", "/v1/events", expect=200)
    r.call("GET", "/v1/events?client=acme&type=order.paid&limit=1",
           expect=200)
    r.call("GET", "/v1/events?after=x", expect=422)
    r.call("GET", "/v1/events/" + evt["id"], expect=200)
    r.call("GET", "/v1/events/" + evt["id"], token=tok, expect=200)
    r.call("GET", "/v1/events/evt_0000000000000fff", expect=404)
    r.call("DELETE", "/v1/events", expect=405)
    for d in dl:
        r.call("GET", "/v1/deliveries/" + d["id"], expect=200)
    r.call("GET", "/v1/deliveries", expect=200)
    r.call("GET", "/v1/deliveries?status=failed&client=acme&endpoint=%s"
           "&event=%s&limit=5" % (fail["id"], evt["id"]), expect=200)
    r.call("GET", "/v1/deliveries?status=lost", expect=422)
    r.call("GET", "/v1/deliveries/dlv_0000000000000fff", expect=404)
    # The attempts ring (GET /v1/attempts): every attempt so far, among
    # them a one-off's (endpoint null) and a receiver's 500.
    att = r.call("GET", "/v1/attempts", expect=200)
    check(any(a["endpoint"] is None for a in att["data"]) and
          any(a["status"] == 500 for a in att["data"]),
          "GET /v1/attempts has no one-off's attempt or no 500: %r" % att)
    r.call("GET", "/v1/attempts?client=acme&after=1&limit=2", token=tok,
           expect=200)
    r.call("GET", "/v1/attempts?after=%d" % att["next"], expect=200)
    r.call("GET", "/v1/attempts?after=nope", expect=422)
    r.call("GET", "/v1/attempts?limit=0", expect=422)
    r.call("GET", "/v1/attempts?limt=5", expect=400)
    # Hookd-Client (contract 17): agreeing, it changes nothing; naming
    # another client than ?client=, the body's client or the path's owner,
    # a 400 naming both.
    r.call("GET", "/v1/attempts?client=acme", headers={
        "Hookd-Client": "acme"}, expect=200)
    r.call("GET", "/v1/deliveries/" + by_ep[ok["id"]]["id"], token=tok,
           headers={"Hookd-Client": "acme"}, expect=200)
    for target, sent in (("/v1/attempts?client=acme", None),
                         ("/v1/events", dict(body, type="order.x"))):
        err = r.call("POST" if sent else "GET", target, sent, headers={
            "Hookd-Client": "other"}, expect=400)
        check("other" in err["error"] and "acme" in err["error"],
              "the 400 of %s does not name both clients: %r"
              % (target, err))
    r.call("GET", "/v1/endpoints/" + ok["id"], headers={
        "Hookd-Client": "other"}, expect=400)
    r.call("GET", "/v1/clients", headers={"Hookd-Client": "not an id"},
           expect=400)
    r.call("POST", "/v1/endpoints/%s/replay" % fail["id"],
           {"since": "2000-01-01T00:00:00Z"}, expect=202)
    r.call("POST", "/v1/endpoints/%s/replay" % fail["id"], "", expect=400)
    r.call("POST", "/v1/endpoints/%s/replay" % fail["id"],
           {"since": "yesterday"}, expect=422)
    r.call("POST", "/v1/deliveries/%s/retry" % by_ep[ok["id"]]["id"],
           expect=202)
    r.call("PATCH", "/v1/endpoints/" + ok["id"], {"enabled": False},
           expect=200)
    r.call("POST", "/v1/endpoints/%s/test" % ok["id"], expect=409)
    r.call("DELETE", "/v1/endpoints/" + bad["id"], expect=204)
    r.call("DELETE", "/v1/endpoints/" + bad["id"], expect=404)
    r.call("POST", "/v1/deliveries/%s/retry" % by_ep[bad["id"]]["id"],
           expect=409)
    # A client's retries past max_retries_per_minute (3): 429.
    for _ in range(20):
        r.call("POST", "/v1/deliveries/%s/retry" % by_ep[fail["id"]]["id"],
               token=tok)
        if r.records[-1]["status"] == 429:
            break
    eq(r.records[-1]["status"], 429, "retries past the limit")
    r.call("POST", "/v1/compact", token=tok, expect=403)
    r.call("POST", "/v1/compact")
    check(r.records[-1]["status"] in (202, 409), "POST /v1/compact: %r"
          % r.records[-1])

    # A gateway request (its answer is components/schemas/GatewayAccepted,
    # its outcome the event's "request").
    acc = r.call("POST", "/api/orders", {"n": 1}, token=tok, expect=202,
                 headers={"Hookd-Client": "acme"},
                 component="#/components/schemas/GatewayAccepted")
    r.call("POST", "/api/orders", {"n": 1}, token=tok, expect=400,
           headers={"Hookd-Client": "other"},
           component="#/components/schemas/Error")
    r.call("POST", "/api/orders", {"n": 1}, expect=403,
           component="#/components/schemas/Error")

    def completed():
        st, ev, _ = h.api("GET", "/v1/events/" + acc["reqRefId"])
        return st == 200 and ev["request"]["state"] == "completed"
    harness.wait_until(completed, timeout=30, what="the gateway request "
                       "completed")
    r.call("GET", "/v1/events/" + acc["reqRefId"], expect=200)
    r.call("GET", "/v1/events?client=acme", expect=200)

    # Every route was driven, each with a success.
    served = router_routes(read_api_c())
    hit = {(m, re.sub(r"\{[^}]*\}", "{}", p)) for m, p, s in r.statuses()
           if p is not None and s < 300}
    missing = sorted(set(served) - hit)
    check(not missing, "routes not driven to a success: %r" % missing)
    got = {s for _, _, s in r.statuses()}
    for s in (200, 201, 202, 204, 400, 401, 403, 404, 405, 409, 422, 429):
        check(s in got, "no answer with status %d was checked" % s)

    res = run_check(t, r.records[0]["body"].encode(), r.records)
    check(res["valid"], "the served document is not valid OpenAPI 3.1 "
          "(%s): %s" % (res["version"], json.dumps(res["errors"])[:3000]))
    eq(res["checked"], len(r.records), "records checked")
    check(not res["failures"], "%d answers do not match the document:\n  %s"
          % (len(res["failures"]), "\n  ".join(res["failures"][:40])))
    t.note("%d answers validated" % res["checked"])

    # The check fails on drift: an answer with an undocumented member, a
    # status the operation does not list.
    rec = next(x for x in r.records if x["path"] == "/v1/clients/{id}"
               and x["status"] == 200)
    drift = [dict(rec, body=json.dumps(dict(json.loads(rec["body"]),
                                            region="eu"))),
             dict(rec, status=418)]
    res = run_check(t, r.records[0]["body"].encode(), drift, "drift")
    eq(len(res["failures"]), 2, "failures for an undocumented member and "
       "status: %r" % res["failures"])
