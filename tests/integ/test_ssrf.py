"""SSRF (issue 5 §4, contract §8): literal-IP URLs in denied ranges are
refused at registration with 422 in every spelling (IPv4, IPv6,
IPv4-mapped, NAT64, 6to4, numeric shorthands); a name that resolves to
loopback is refused on the address actually connected to, before any
connection reaches the receiver; allow_destinations exempts exactly its
CIDRs; redirects to internal addresses are never followed. The address
table itself is tests/test_url.c."""

import signal
import time
import urllib.parse

from .harness import BASE_CONF, RawReceiver, check, eq, wait_until

# Destinations that must be refused with 422 wherever a URL is given.
DENIED = [
    "http://127.0.0.1/cb",
    "http://127.255.255.254:8080/cb",
    "http://0.0.0.0/",
    "http://10.1.2.3/",
    "http://172.16.0.1/",
    "http://192.168.1.1/",
    "http://169.254.169.254/latest/meta-data/",  # cloud metadata
    "http://100.64.0.1/",                        # CGNAT
    "http://224.0.0.1/",                         # multicast
    "http://255.255.255.255/",
    "http://192.0.2.10/",                        # documentation
    "http://198.18.0.1/",                        # benchmarking
    "http://[::1]/cb",
    "http://[::]/",
    "http://[0:0:0:0:0:0:0:1]/",
    "http://[::ffff:127.0.0.1]/cb",              # IPv4-mapped
    "http://[::ffff:7f00:1]/",                   # the same, in hex
    "http://[::ffff:169.254.169.254]/",
    "http://[::ffff:10.0.0.1]/",
    "http://[::127.0.0.1]/",                     # IPv4-compatible
    "http://[64:ff9b::7f00:1]/",                 # NAT64 of 127.0.0.1
    "http://[64:ff9b::a9fe:a9fe]/",              # NAT64 of 169.254.169.254
    "http://[2002:7f00:1::]/",                   # 6to4 of 127.0.0.1
    "http://[2002:a00:1::1]/",                   # 6to4 of 10.0.0.1
    "http://[fe80::1]/",
    "http://[fc00::1]/",
    "http://[fd12:3456::1]/",
    "http://[ff02::1]/",
    "http://[2001:db8::1]/",
    # Spellings a resolver reads as 127.0.0.1: refused as invalid hosts or
    # as denied literals, never accepted as "names".
    "http://2130706433/",
    "http://0x7f000001/",
    "http://0x7f.0.0.1/",
    "http://0177.0.0.1/",
    "http://017700000001/",
    "http://127.1/",
    "http://127.0.1/",
]

# Public literals: accepted (nothing is posted, so nothing connects).
PUBLIC = [
    "http://93.184.215.14/cb",
    "http://[2606:4700:4700::1111]/cb",
    "http://[::ffff:8.8.8.8]/cb",
    "http://[64:ff9b::808:808]/cb",
    "http://[2002:808:808::1]/cb",
]


def test_denied_literals_refused_at_registration(t):
    h = t.hookd(allow=False)
    h.client("acme")
    ep = h.endpoint("acme", "http://93.184.215.14/ok")
    problems = []
    for url in DENIED:
        status, body, _ = h.api("POST", "/v1/endpoints",
                                {"client": "acme", "url": url})
        if status != 422:
            problems.append("POST /v1/endpoints %s: %d %r" % (url, status,
                                                              body))
        status, body, _ = h.api("PATCH", "/v1/endpoints/" + ep["id"],
                                {"url": url})
        if status != 422:
            problems.append("PATCH url=%s: %d %r" % (url, status, body))
        status, body, _ = h.api(
            "POST", "/v1/events?callbackURL=" + urllib.parse.quote(url, ""),
            {"client": "acme", "type": "t", "data": {}})
        if status != 422:
            problems.append("callbackURL=%s: %d %r" % (url, status, body))
    check(not problems, "%d refusals missing:\n      %s" % (
        len(problems), "\n      ".join(problems)))
    # Nothing of the above was stored: the endpoint kept its URL and no
    # event was created.
    eq(h.req(200, "GET", "/v1/endpoints/" + ep["id"])["url"], ep["url"],
       "endpoint URL after refused PATCHes")
    eq(h.req(200, "GET", "/v1/events")["data"], [], "events")
    eq(len(h.req(200, "GET", "/v1/endpoints")["data"]), 1, "endpoints")
    for url in PUBLIC:
        status, body, _ = h.api("POST", "/v1/endpoints",
                                {"client": "acme", "url": url,
                                 "enabled": False})
        eq(status, 201, "registration of public %s (%r)" % (url, body))
    t.note("%d denied spellings refused at 3 entry points, %d public "
           "literals accepted" % (len(DENIED), len(PUBLIC)))


def test_name_resolving_to_loopback_never_connects(t):
    rcv = RawReceiver()
    t.receivers.append(rcv)
    h = t.hookd()
    h.client("acme")
    # Registered while loopback is allowed; then the config stops allowing
    # it: the check after resolution, on the address that would have been
    # connected to, is the guard (localhost is refused at registration by
    # name when not allowed: test_api_v2).
    h.endpoint("acme", "http://localhost:%d/cb" % rcv.port)
    h.write_conf(BASE_CONF)
    h.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "allow_destinations" in h.log(), 10,
               what="the reload logged")
    evt = h.event(data={})
    eq(evt["deliveries"], 1, "deliveries")
    for d in h.wait_all(evt["id"], "failed", n=1):
        err = d["last"]["error"]
        check(err in ("destination not allowed: %s is loopback; "
                      "allow_destinations opens it" % a
                      for a in ("127.0.0.1", "::1")), "error %r" % err)
        eq(d["attempts"], 1, "attempts (failed at once, no retry)")
    time.sleep(0.5)
    eq(rcv.accepted, 0, "TCP connections that reached the receiver")
    check("destination" in h.log(), "no log line about the refusal")


def test_allow_destinations_exempts_exactly_its_cidrs(t):
    v4 = RawReceiver()
    v6 = RawReceiver("::1")
    t.receivers += [v4, v6]
    h = t.hookd("allow_destinations 127.0.0.1/32 ::1/128\n", allow=False)
    h.client("acme")
    urls = [v4.url("/v4"), "http://localhost:%d/name" % v4.port,
            v6.url("/v6"), "http://[::ffff:127.0.0.1]:%d/mapped" % v4.port]
    for u in urls:
        h.endpoint("acme", u)
    evt = h.event(data={"n": 1})
    eq(evt["deliveries"], len(urls), "deliveries")
    ds = h.wait_all(evt["id"], n=len(urls))
    eq(sorted(d["url"] for d in ds), sorted(urls), "delivered URLs")
    eq(sorted(r.path for r in v4.got()), ["/mapped", "/name", "/v4"],
       "paths at the IPv4 receiver")
    eq([r.path for r in v6.got()], ["/v6"], "paths at the IPv6 receiver")
    # Just outside the exempted CIDRs: still refused.
    for url in ("http://127.0.0.2:%d/" % v4.port, "http://[::2]/",
                "http://[64:ff9b::7f00:1]/", "http://[2002:7f00:1::]/",
                "http://10.0.0.1/"):
        status, body, _ = h.api("POST", "/v1/endpoints",
                                {"client": "acme", "url": url})
        eq(status, 422, "registration of %s next to the exemption (%r)"
           % (url, body))


def test_ipv4_exemption_does_not_cover_ipv6_loopback(t):
    v6 = RawReceiver("::1")
    t.receivers.append(v6)
    h = t.hookd("allow_destinations 127.0.0.0/8\n", allow=False)
    h.client("acme")
    status, body, _ = h.api("POST", "/v1/endpoints",
                            {"client": "acme", "url": v6.url("/v6")})
    eq(status, 422, "[::1] with only 127.0.0.0/8 exempt (%r)" % (body,))
    # IPv4-mapped loopback is the IPv4 address itself: covered.
    h.endpoint("acme", "http://[::ffff:127.0.0.1]:%d/m" % v6.port)
    time.sleep(0.2)
    eq(v6.accepted, 0, "connections to the IPv6 receiver")


def test_redirect_to_internal_not_followed(t):
    inside = RawReceiver("::1")
    front = RawReceiver()
    t.receivers += [inside, front]
    h = t.hookd("allow_destinations 127.0.0.1/32\n", allow=False)
    h.client("acme")
    location = inside.url("/secret").encode()

    def redirect(sock, req, n):
        code = (301, 302, 303, 307, 308)[(n - 1) % 5]
        sock.sendall(b"HTTP/1.1 %d Moved\r\nLocation: %s\r\n"
                     b"Content-Length: 0\r\n\r\n" % (code, location))
        return True
    front.on("/cb", redirect)
    h.endpoint("acme", front.url("/cb"))
    d = h.wait_all(h.event(data={})["id"], "failed", n=1)[0]
    eq(d["attempts"], 4, "attempts (1 + the 3 retries of the schedule)")
    eq(sorted(a["status"] for a in h.delivery(d["id"])["log"]),
       [301, 302, 303, 307], "statuses in the log")
    eq(inside.accepted, 0, "connections to the redirect target")
