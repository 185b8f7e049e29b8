"""Contract §17: beyond one machine. The Hookd-Client checks that need a
store (the token, the owners of endpoints, events and deliveries, a
gateway route), the deploy/ configurations as committed (nginx -t, haproxy
-c), and three hookd nodes behind nginx: each client on one node, a killed
node stopping only its own clients, its pending deliveries going out after
its restart.

The Shard class holds what a later step (moving one client, README: Moving
a client) needs: start_node(i), kill_node(i), write_proxy_conf(pins),
reload_proxy(), nodes_with(cid) and proxy(...).
"""

import json
import os
import secrets
import shutil
import signal
import subprocess
import time

from .harness import (ALL_PROCS, ROOT, SLOW_RETRY, Reply, Skip, check, eq,
                      free_port, run_hookd, wait_until)
import http.client

DEPLOY = os.path.join(ROOT, "deploy")
# The example ports the deploy/ files are written with: the test replaces
# these, and nothing else.
EXAMPLE_PROXY = "18080"
EXAMPLE_NODES = ("18081", "18082", "18083")


def render(name, tmp, proxy_port, node_ports):
    """deploy/NAME with the example ports replaced, written to tmp."""
    with open(os.path.join(DEPLOY, name)) as f:
        text = f.read()
    for example, port in zip(EXAMPLE_NODES, node_ports):
        check(example in text, "deploy/%s names no node %s" % (name, example))
        text = text.replace(example, str(port))
    check(EXAMPLE_PROXY in text, "deploy/%s listens on no %s"
          % (name, EXAMPLE_PROXY))
    text = text.replace(EXAMPLE_PROXY, str(proxy_port))
    with open(os.path.join(tmp, name), "w") as f:
        f.write(text)
    return os.path.join(tmp, name)


def need(cmd):
    if shutil.which(cmd) is None and not os.path.exists("/usr/sbin/" + cmd):
        raise Skip("%s is not installed (apt-get install %s; .ci/run "
                   "installs it)" % (cmd, cmd))
    return shutil.which(cmd) or "/usr/sbin/" + cmd


class Shard:
    """n hookd nodes with one admin token, behind nginx run from
    deploy/nginx.conf (as this user, under ctx.tmp, in the foreground)."""

    def __init__(self, ctx, n=3, extra=""):
        self.ctx = ctx
        self.nginx = need("nginx")
        # An operator sets admin_token (HOOKD_ADMIN_TOKEN) the same on
        # every node: one request may reach any of them.
        self.admin = "adm_" + secrets.token_hex(16)
        # And its own node_id (README: More than one machine), so that
        # a client moved between nodes meets no id of the other's.
        self.nodes = [ctx.hookd("fsync never\nnode_id %d\n" % (i + 1) +
                                extra, start=False, admin_token=self.admin)
                      for i in range(n)]
        self.proxy_port = free_port()
        self.prefix = os.path.join(ctx.tmp, "nginx")
        os.makedirs(os.path.join(self.prefix, "tmp"))
        self.proc = None

    # -- nodes

    def start_node(self, i):
        """Start (or start again) node i on its port and data directory."""
        return self.nodes[i].start()

    def stop_node(self, i):
        """SIGTERM to node i; asserts it exits 0."""
        self.nodes[i].stop()

    def kill_node(self, i):
        self.nodes[i].kill9()

    def nodes_with(self, cid):
        """The indexes of the running nodes that have client cid, asked
        directly (not through the proxy)."""
        out = []
        for i, h in enumerate(self.nodes):
            if not h.running:
                continue
            st, _, _ = h.api("GET", "/v1/clients/" + cid)
            check(st in (200, 404), "node %d: GET /v1/clients/%s: %d"
                  % (i, cid, st))
            if st == 200:
                out.append(i)
        return out

    # -- the proxy

    def write_proxy_conf(self, pins=None):
        """nginx.conf and nginx-pinned.map in the prefix; pins: {client
        id: node index} written to the map (which wins over the hash)."""
        self.conf = render("nginx.conf", self.prefix, self.proxy_port,
                           [h.port for h in self.nodes])
        with open(os.path.join(self.prefix, "nginx-pinned.map"), "w") as f:
            # The README's case-sensitive form: a regex, anchored, its
            # dots escaped (a plain map key ignores case).
            for cid, i in sorted((pins or {}).items()):
                f.write("~^%s$ hookd_node%d;\n"
                        % (cid.replace(".", "\\."), i + 1))

    def nginx_cmd(self, *extra):
        return [self.nginx, "-e", os.path.join(self.prefix, "startup.log"),
                "-p", self.prefix + "/", "-c", self.conf] + list(extra)

    def start_proxy(self):
        self.write_proxy_conf()
        log = open(os.path.join(self.prefix, "nginx.out"), "ab")
        self.proc = subprocess.Popen(self.nginx_cmd("-g", "daemon off;"),
                                     stdin=subprocess.DEVNULL, stdout=log,
                                     stderr=log)
        log.close()
        ALL_PROCS.append(self.proc)

        def up():
            check(self.proc.poll() is None, "nginx exited with %r: %s"
                  % (self.proc.returncode, self.proxy_log()))
            try:
                return self.proxy("GET", "/healthz", token=None)[0] == 200
            except OSError:
                return False
        wait_until(up, 15, 0.1, "nginx on port %d" % self.proxy_port)

    def reload_proxy_as_documented(self):
        """nginx -s reload, as deploy/nginx.conf says (the signal to the
        master named in its pid file, under the prefix)."""
        p = subprocess.run(self.nginx_cmd("-s", "reload"),
                           capture_output=True, text=True, timeout=30)
        eq(p.returncode, 0, "nginx -s reload: %s%s"
           % (p.stderr, self.proxy_log()))

    def reload_proxy(self):
        """Read the config (and pins) again: SIGHUP to nginx's master.
        The old workers finish what they hold; wait for the new
        behaviour by its effect."""
        self.proc.send_signal(signal.SIGHUP)

    def stop_proxy(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def proxy_log(self):
        text = ""
        for name in ("startup.log", "error.log", "nginx.out"):
            try:
                with open(os.path.join(self.prefix, name)) as f:
                    text += f.read()[-2000:]
            except OSError:
                pass
        return text

    def proxy(self, method, path, body=None, client=None, token="admin",
              timeout=30):
        """One request through the proxy, with Hookd-Client: client when
        given. A generous timeout: a test asserts the status, never the
        time. Returns (status, parsed JSON or text)."""
        hdrs = {}
        if token == "admin":
            token = self.admin
        if token is not None:
            hdrs["Authorization"] = "Bearer " + token
        if client is not None:
            hdrs["Hookd-Client"] = client
        if body is not None:
            body = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        conn = http.client.HTTPConnection("127.0.0.1", self.proxy_port,
                                          timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=hdrs)
            resp = conn.getresponse()
            raw = resp.read()
            ctype = resp.getheader("Content-Type", "")
        finally:
            conn.close()
        data = raw.decode("utf-8", "replace")
        if "json" in ctype and raw:
            data = json.loads(raw)
        return resp.status, data


# ------------------------------------------------ Hookd-Client, one node


def test_hookd_client_token_and_owners(ctx):
    """A client token is its client; the owner of the endpoint, event or
    delivery in the path is the request's client; another client's thing
    stays a 404 (the header never tells a client token what exists)."""
    h = ctx.hookd(SLOW_RETRY + "route /api/ http://127.0.0.1:9/\n")
    r = ctx.receiver()
    acme = h.client("acme")
    h.client("beta")
    ep = h.endpoint("acme", r.url("/a"))
    ep_b = h.endpoint("beta", r.url("/b"))
    evt = h.event("acme")
    r.wait_for(1, "/a")
    dlv = h.deliveries("?client=acme")[0]["id"]

    def st(method, path, hc, token="admin", body=None):
        s, data, _ = h.api(method, path, body, token=token,
                           headers={"Hookd-Client": hc})
        return s, data

    ok = [("GET", "/v1/endpoints/" + ep["id"]),
          ("GET", "/v1/events/" + evt["id"]),
          ("GET", "/v1/deliveries/" + dlv),
          ("POST", "/v1/deliveries/%s/retry" % dlv),
          ("GET", "/v1/deliveries?client=acme"),
          ("GET", "/v1/clients/acme")]
    for method, path in ok:
        s, data = st(method, path, "acme")
        check(s in (200, 202), "%s %s with Hookd-Client: acme: %d %r"
              % (method, path, s, data))
        s, data = st(method, path, "acme", token=acme["token"])
        check(s in (200, 202), "%s %s, client token and Hookd-Client: "
              "acme: %d %r" % (method, path, s, data))
    # The owner disagrees (admin): 400 naming both.
    for what, path in (("endpoint", "/v1/endpoints/" + ep["id"]),
                       ("event", "/v1/events/" + evt["id"]),
                       ("delivery", "/v1/deliveries/" + dlv)):
        s, data = st("GET", path, "beta")
        eq((s, data), (400, {"error": "Hookd-Client says beta but the "
                             "path's %s belongs to acme: both must name "
                             "the client the request is about" % what}),
           "GET %s with Hookd-Client: beta" % path)
    # The owner of ?event= or ?endpoint= (GET /v1/deliveries) likewise.
    for what, q in (("event", "?event=" + evt["id"]),
                    ("endpoint", "?endpoint=" + ep["id"]),
                    ("endpoint", "?status=delivered&endpoint=" + ep["id"])):
        s, data = st("GET", "/v1/deliveries" + q, "beta")
        eq((s, data), (400, {"error": "Hookd-Client says beta but the %s "
                             "in ?%s= belongs to acme: both must name the "
                             "client the request is about" % (what, what)}),
           "GET /v1/deliveries%s with Hookd-Client: beta" % q)
        s, data = st("GET", "/v1/deliveries" + q, "acme")
        eq(s, 200, "GET /v1/deliveries%s with Hookd-Client: acme" % q)
    # An unknown one lists nothing, as without the header.
    s, data = st("GET", "/v1/deliveries?event=evt_0000000000000001", "beta")
    eq((s, data.get("data")), (200, []), "an unknown ?event= with the header")
    s, data = st("PATCH", "/v1/endpoints/" + ep["id"], "beta",
                 body={"enabled": False})
    eq(s, 400, "PATCH of acme's endpoint with Hookd-Client: beta")
    eq(h.req(200, "GET", "/v1/endpoints/" + ep["id"])["enabled"], True,
       "the refused PATCH changed nothing")
    # The token disagrees.
    s, data = st("GET", "/v1/endpoints", "beta", token=acme["token"])
    eq((s, data), (400, {"error": "Hookd-Client says beta but the token "
                         "is acme: both must name the client the request "
                         "is about"}), "acme's token with Hookd-Client: beta")
    s, data = st("POST", "/v1/endpoints", "beta", token=acme["token"],
                 body={"url": r.url("/x")})
    eq(s, 400, "acme's token registering with Hookd-Client: beta")
    # A client token asking for another client's endpoint: the usual
    # 404, whatever the header says (its own id, agreeing with the token).
    s, data = st("GET", "/v1/endpoints/" + ep_b["id"], "acme",
                 token=acme["token"])
    eq(s, 404, "acme's token, beta's endpoint")
    # Unknown things with the header: the usual 404.
    eq(st("GET", "/v1/clients/nobody", "nobody")[0], 404,
       "an unknown client with Hookd-Client naming it")
    eq(st("GET", "/v1/events/evt_0000000000000001", "acme")[0], 404,
       "an unknown event with Hookd-Client")
    # A request under a gateway route: checked against the token.
    s, data = st("POST", "/api/x", "beta", token=acme["token"], body={})
    eq(s, 400, "a route's request, acme's token, Hookd-Client: beta")
    s, data = st("POST", "/api/x", "acme", token=acme["token"], body={})
    eq(s, 202, "a route's request, acme's token, Hookd-Client: acme")
    # POST /v1/events: the body's client.
    s, data = st("POST", "/v1/events", "beta",
                 body={"client": "acme", "type": "t", "data": {}})
    eq((s, data), (400, {"error": "Hookd-Client says beta but the body's "
                         "client is acme: both must name the client the "
                         "request is about"}), "an event for acme, beta's "
       "Hookd-Client")
    eq(h.req(200, "GET", "/v1/events?client=acme&type=t")["data"], [],
       "acme's events of the refused type")
    # Twice through a real HTTP parser (http.client sends both lines).
    conn = http.client.HTTPConnection("127.0.0.1", h.port, timeout=10)
    conn.putrequest("GET", "/v1/clients/acme")
    conn.putheader("Authorization", "Bearer " + h.admin)
    conn.putheader("Hookd-Client", "acme")
    conn.putheader("Hookd-Client", "acme")
    conn.endheaders()
    resp = conn.getresponse()
    eq(resp.status, 400, "Hookd-Client twice")
    check(b"given twice" in resp.read(), "the 400 says it came twice")
    conn.close()
    # And the daemon keeps serving.
    eq(h.req(200, "GET", "/v1/clients/acme")["id"], "acme", "still serving")


def test_node_id_in_force(ctx):
    """hookd -n shows node_id with the other settings in force (each node
    needs its own)."""
    conf = os.path.join(ctx.tmp, "n.conf")
    with open(conf, "w") as f:
        f.write("node_id 7\n")
    r = run_hookd("-n", "-c", conf, "-d", os.path.join(ctx.tmp, "d"),
                  admin="adm_" + "x" * 32)
    eq(r.returncode, 0, "hookd -n (stderr %r)" % r.stderr)
    check(" node_id=7 " in r.stdout, "-n output %r" % r.stdout)


# ------------------------------------------------------------- deploy/


def test_deploy_configs_valid(ctx):
    """deploy/nginx.conf and deploy/haproxy.cfg, with only their example
    ports replaced, pass nginx -t and haproxy -c."""
    nodes = [free_port() for _ in range(3)]
    proxy = free_port()
    nginx = need("nginx")
    d = os.path.join(ctx.tmp, "nginx")
    os.makedirs(os.path.join(d, "tmp"))
    conf = render("nginx.conf", d, proxy, nodes)
    shutil.copy(os.path.join(DEPLOY, "nginx-pinned.map"), d)
    p = subprocess.run([nginx, "-e", os.path.join(d, "startup.log"), "-p",
                        d + "/", "-c", conf, "-t"], capture_output=True,
                       text=True, timeout=30)
    eq(p.returncode, 0, "nginx -t on deploy/nginx.conf: %s" % p.stderr)
    haproxy = shutil.which("haproxy") or (
        "/usr/sbin/haproxy" if os.path.exists("/usr/sbin/haproxy") else None)
    if haproxy is None:
        ctx.note("haproxy is not installed: deploy/haproxy.cfg not checked "
                 "(.ci/run installs it)")
        return
    d = os.path.join(ctx.tmp, "haproxy")
    os.makedirs(d)
    conf = render("haproxy.cfg", d, proxy, nodes)
    shutil.copy(os.path.join(DEPLOY, "pinned.map"), d)
    p = subprocess.run([haproxy, "-c", "-f", conf], capture_output=True,
                       text=True, timeout=30)
    eq(p.returncode, 0, "haproxy -c on deploy/haproxy.cfg: %s%s"
       % (p.stdout, p.stderr))


# ------------------------------------------------- three nodes, nginx


def test_three_nodes_behind_nginx(ctx):
    shard = Shard(ctx, 3, SLOW_RETRY)
    try:
        three_nodes(ctx, shard)
    finally:
        shard.stop_proxy()


def register(shard, r, cids):
    """Start the nodes and the proxy; register each client of cids, with
    an endpoint r.url("/c/" + cid), through the proxy, and check each is
    on exactly one node and every node has some. Returns ({client id:
    token}, {client id: its node's index}, the count on each node)."""
    for i in range(3):
        shard.start_node(i)
    shard.start_proxy()
    tokens = {}
    for cid in cids:
        s, data = shard.proxy("POST", "/v1/clients", {"id": cid},
                              client=cid)
        eq(s, 201, "POST /v1/clients %s through the proxy: %r" % (cid, data))
        tokens[cid] = data["token"]
        s, data = shard.proxy("POST", "/v1/endpoints",
                              {"url": r.url("/c/" + cid)}, client=cid,
                              token=tokens[cid])
        eq(s, 201, "POST /v1/endpoints for %s: %r" % (cid, data))
    home = {}
    for cid in cids:
        where = shard.nodes_with(cid)
        eq(len(where), 1, "nodes that have client %s" % cid)
        home[cid] = where[0]
    spread = [sum(1 for c in cids if home[c] == i) for i in range(3)]
    check(all(n > 0 for n in spread), "%d clients over 3 nodes: %r"
          % (len(cids), spread))
    return tokens, home, spread


def three_nodes(ctx, shard):
    r = ctx.receiver()
    cids = ["c%02d" % k for k in range(60)]
    # 1. Clients and endpoints through the proxy, each on one node.
    tokens, home, spread = register(shard, r, cids)
    ctx.note("60 clients over the three nodes: %r" % spread)

    # 2. Events through the proxy reach their receivers.
    posted = {cid: [] for cid in cids}

    def post(cid, expect=202):
        s, data = shard.proxy("POST", "/v1/events",
                              {"client": cid, "type": "t",
                               "data": {"n": len(posted[cid])}}, client=cid)
        if expect is not None:
            eq(s, expect, "an event for %s through the proxy: %r"
               % (cid, data))
        if s == 202:
            posted[cid].append(data["id"])
        return s

    for cid in cids:
        post(cid)
    for cid in cids:
        r.wait_for(len(posted[cid]), "/c/" + cid)

    # 3. The victim's receivers fail (503, retried) for a while; events for
    # its clients are acknowledged (202) before the kill, some pending.
    victim = max(range(3), key=lambda i: spread[i])
    vcids = [c for c in cids if home[c] == victim]
    others = [c for c in cids if home[c] != victim]
    for cid in vcids:
        r.on("/c/" + cid, Reply(503))
    for cid in vcids:
        post(cid)
    for cid in vcids:
        r.wait_for(len(posted[cid]), "/c/" + cid)   # the 503s
    for cid in vcids:
        post(cid)           # posted just before the kill: 202 is on disk
    shard.kill_node(victim)
    # Nothing of the victim's reaches the receiver from here on: whatever
    # arrives later got the 200.
    up_again = time.monotonic()
    for cid in vcids:
        r.on("/c/" + cid, Reply(200))

    # 4. Its clients fail fast at the proxy (an error status, no hang, never
    # another node); the others' events keep flowing.
    for cid in vcids[:5]:
        s = post(cid, expect=None)
        check(s in (502, 503, 504), "an event for %s of the killed node: "
              "%d, want 502/503/504" % (cid, s))
        s, _ = shard.proxy("GET", "/v1/clients/" + cid, client=cid)
        check(s in (502, 503, 504), "GET client %s of the killed node: %d"
              % (cid, s))
    for cid in others:
        post(cid)
    for cid in others:
        r.wait_for(len(posted[cid]), "/c/" + cid)
    eq([c for c in vcids if shard.nodes_with(c)], [],
       "the killed node's clients on the nodes that stayed up")

    # 5. Restarted: its pending deliveries go out (each event at least
    # once: kill -9 may cut an attempt that had reached the receiver).
    shard.start_node(victim)
    wait_until(lambda: shard.proxy("GET", "/v1/clients/" + vcids[0],
                                   client=vcids[0])[0] == 200, 15, 0.1,
               "the proxy reaching the restarted node")

    def acked_ids(cid):
        """The webhook-ids cid's receiver answered 200: all of them on a
        node that stayed up, those after the restart on the victim (the
        first event of each went out before its receivers failed)."""
        return {q.headers.get("webhook-id") for q in r.got("/c/" + cid)
                if home[cid] != victim or q.at >= up_again or
                q.headers.get("webhook-id") == posted[cid][0]}

    for cid in vcids:
        wait_until(lambda: set(posted[cid]) <= acked_ids(cid), 30, 0.1,
                   "the events of %s after its node's restart" % cid)
        ds = shard.proxy("GET", "/v1/deliveries?client=" + cid,
                         client=cid)[1]["data"]
        eq(sorted(d["status"] for d in ds), ["delivered"] * len(posted[cid]),
           "%s's deliveries after the restart" % cid)

    # 6. No event was delivered by two nodes: each webhook-id a client's
    # receiver got is an event of that client on its node alone, and the
    # clients of the nodes that stayed up got each event exactly once.
    for cid in cids:
        got = [q.headers.get("webhook-id") for q in r.got("/c/" + cid)]
        check(set(got) == set(posted[cid]), "%s: got %r, posted %r"
              % (cid, sorted(set(got)), posted[cid]))
        for evt in set(got):
            owners = []
            for i, h in enumerate(shard.nodes):
                s, data, _ = h.api("GET", "/v1/events/" + evt)
                if s == 200 and data["client"] == cid:
                    owners.append(i)
            eq(owners, [home[cid]], "nodes holding %s's event %s"
               % (cid, evt))
        if cid in others:
            # Once each, unless its own node retried it (an attempt that
            # timed out on a loaded machine reached the receiver too):
            # never more often than its node's attempts.
            ds = shard.proxy("GET", "/v1/deliveries?client=" + cid,
                             client=cid)[1]["data"]
            tries = {d["event"]: d["attempts"] for d in ds}
            for evt in set(got):
                check(1 <= got.count(evt) <= tries.get(evt, 0),
                      "deliveries to %s (its node stayed up) of %s: %d, "
                      "its node's attempts %r" % (cid, evt, got.count(evt),
                                                  tries.get(evt)))

    # 7. A pin (deploy/nginx-pinned.map) wins over the hash once nginx has
    # reloaded: the client's requests go to the pinned node, which does not
    # have it (moving a client starts here).
    # Client ids are case-sensitive: the pin of c00 does not pin C00, a
    # client of its own on its own node (the pin goes to a third node).
    cid = cids[0]
    upper = cid.upper()
    s, data = shard.proxy("POST", "/v1/clients", {"id": upper}, client=upper)
    eq(s, 201, "POST /v1/clients %s through the proxy: %r" % (upper, data))
    where = shard.nodes_with(upper)
    eq(len(where), 1, "nodes that have client %s" % upper)
    other = ({0, 1, 2} - {home[cid], where[0]}).pop()
    shard.write_proxy_conf({cid: other})
    shard.reload_proxy()
    wait_until(lambda: shard.proxy("GET", "/v1/clients/" + cid,
                                   client=cid)[0] == 404, 15, 0.1,
               "the pin of %s to node %d in force" % (cid, other))
    eq(shard.proxy("GET", "/v1/clients/" + cids[1], client=cids[1])[0], 200,
       "an unpinned client after the reload")
    eq(shard.proxy("GET", "/v1/clients/" + upper, client=upper)[0], 200,
       "%s after the pin of %s (ids are case-sensitive)" % (upper, cid))


# --------------------------------------- moving a client, README as written


def test_move_client_behind_nginx(ctx):
    """One client moved from node A to node B by README: Moving a client
    to another node, its steps as written (the test's paths): it has
    pending deliveries (its receiver answers 500) when the move starts;
    afterwards its requests through the proxy (pinned) reach B, its new
    events are on B alone, its old pending deliveries are delivered by B
    once each and never attempted by A (failed there, 'client deleted'),
    and every other client's events keep flowing."""
    shard = Shard(ctx, 3, SLOW_RETRY)
    try:
        move_client(ctx, shard)
    finally:
        shard.stop_proxy()


def move_client(ctx, shard):
    r = ctx.receiver()
    cids = ["m%02d" % k for k in range(30)]
    _, home, spread = register(shard, r, cids)
    a = max(range(3), key=lambda i: spread[i])
    b = (a + 1) % 3
    cid = [c for c in cids if home[c] == a][0]
    path = "/c/" + cid
    others = [c for c in cids if c != cid]
    node_a, node_b = shard.nodes[a], shard.nodes[b]

    # C's deliveries pending when the move starts: its receiver answers
    # 500, and its endpoint retries every second for 32 attempts, far
    # longer than the move takes.
    s, eps = shard.proxy("GET", "/v1/endpoints?client=" + cid, client=cid)
    eq(s, 200, "C's endpoints through the proxy: %r" % eps)
    ep = eps["data"][0]["id"]
    s, data = shard.proxy("PATCH", "/v1/endpoints/" + ep,
                          {"retry_schedule": ["1s"] * 32}, client=cid)
    eq(s, 200, "C's retry schedule: %r" % data)
    r.on(path, Reply(500))
    old = []
    for n in range(3):
        s, data = shard.proxy("POST", "/v1/events",
                              {"client": cid, "type": "t", "data": {"n": n}},
                              client=cid)
        eq(s, 202, "an event for C through the proxy: %r" % data)
        old.append(data["id"])
    r.wait_for(len(old), path)              # an attempt of each, 500
    wait_until(lambda: set(q.headers.get("webhook-id") for q in r.got(path))
               >= set(old), 15, 0.05, "a first attempt of each of C's events")
    ds = node_a.req(200, "GET", "/v1/deliveries?client=" + cid)["data"]
    eq(sorted(d["status"] for d in ds), ["pending"] * len(old),
       "C's deliveries on A when the move starts")

    # The README's order, step by step.
    # 1. Stop A (SIGTERM).
    shard.stop_node(a)
    # 2. hookd export --client C -d A-DATA -o c.export
    exp = os.path.join(ctx.tmp, "c.export")
    p = run_hookd("export", "--client", cid, "-d", node_a.data, "-o", exp)
    eq(p.returncode, 0, "step 2, export (stderr %r)" % p.stderr)
    # 3. Stop B; hookd import -d B-DATA c.export (exit 0 before going on).
    shard.stop_node(b)
    p = run_hookd("import", "-d", node_b.data, exp)
    eq(p.returncode, 0, "step 3, import (stderr %r)" % p.stderr)
    # 4. hookd export --client C -d A-DATA -o c-final.export --delete
    p = run_hookd("export", "--client", cid, "-d", node_a.data, "-o",
                  os.path.join(ctx.tmp, "c-final.export"), "--delete")
    eq(p.returncode, 0, "step 4, export --delete (stderr %r)" % p.stderr)
    # 5. Pin C to B in the proxy and reload it (deploy/nginx.conf: edit
    # nginx-pinned.map, nginx -s reload).
    shard.write_proxy_conf({cid: b})
    shard.reload_proxy_as_documented()
    # The receiver heals while neither node runs: every callback from here
    # on is answered 200, and none is in flight.
    r.on(path, Reply(200))
    healed = len(r.got(path))
    # 6. Start B: it delivers C's pending deliveries. Start A.
    shard.start_node(b)
    # A is down: a 200 for C through the proxy can only come from B.
    wait_until(lambda: shard.proxy("GET", "/v1/clients/" + cid,
                                   client=cid)[0] == 200, 15, 0.1,
               "C's requests through the proxy reaching B (the pin)")
    shard.start_node(a)

    # B delivers each old pending delivery, once.
    def after():
        return r.got(path)[healed:]
    wait_until(lambda: {q.headers.get("webhook-id") for q in after()}
               >= set(old), 30, 0.1, "C's old events delivered after the "
               "move")
    ds = node_b.req(200, "GET", "/v1/deliveries?client=" + cid)["data"]
    eq(sorted((d["event"], d["status"]) for d in ds),
       sorted((e, "delivered") for e in old), "C's deliveries on B")
    for d in ds:
        check(d["attempts"] >= 2, "%s on B kept A's attempts: %r"
              % (d["id"], d))
    # A attempts none of them: failed there before it ran again, nothing
    # in its attempts since its start, C gone from it.
    ds = node_a.req(200, "GET", "/v1/deliveries?client=" + cid)["data"]
    eq(sorted(d["event"] for d in ds), sorted(old), "C's deliveries on A")
    for d in ds:
        d = node_a.req(200, "GET", "/v1/deliveries/" + d["id"])
        eq((d["status"], d["last"]["error"]), ("failed", "client deleted"),
           "C's delivery %s on A after the move" % d["id"])
    eq(node_a.req(200, "GET", "/v1/attempts?client=" + cid)["data"], [],
       "A's attempts for C since its restart")
    eq(shard.nodes_with(cid), [b], "the nodes that have C after the move")

    # New events for C, through the proxy: on B alone, delivered.
    new = []
    for n in range(2):
        s, data = shard.proxy("POST", "/v1/events",
                              {"client": cid, "type": "t",
                               "data": {"n": 10 + n}}, client=cid)
        eq(s, 202, "an event for C after the move: %r" % data)
        new.append(data["id"])
    for evt in new:
        where = [i for i, h in enumerate(shard.nodes)
                 if h.api("GET", "/v1/events/" + evt)[0] == 200]
        eq(where, [b], "the nodes holding C's new event %s" % evt)
    wait_until(lambda: {q.headers.get("webhook-id") for q in after()}
               >= set(new), 15, 0.1, "C's new events delivered")

    # Every other client's events keep flowing, A's other clients too.
    posted = {}
    for c in others:
        s, data = shard.proxy("POST", "/v1/events",
                              {"client": c, "type": "t", "data": {}},
                              client=c)
        eq(s, 202, "an event for %s after the move: %r" % (c, data))
        posted[c] = data["id"]
    for c in others:
        wait_until(lambda: posted[c] in {q.headers.get("webhook-id")
                                         for q in r.got("/c/" + c)},
                   15, 0.05, "%s's event after the move" % c)

    # Nothing lost or delivered twice: after the heal, each of C's events
    # reached its receiver exactly once (all from B: A failed them before
    # it ran, and a 200 ends a delivery); before it, only 500s.
    got = sorted(q.headers.get("webhook-id") for q in after())
    eq(got, sorted(old + new), "C's callbacks answered 200, one per event")
    eq(node_a.req(200, "GET", "/v1/attempts?client=" + cid)["data"], [],
       "A's attempts for C at the end")
