"""Operations and packaging (issue 6; contract §1, §3, §7): /metrics parsed
strictly as Prometheus text 0.0.4 with counters that move, logfmt logs,
SIGHUP reloads, SIGTERM drains, make install with the man page, the example
config and the systemd unit, and make demo."""

import json
import math
import os
import re
import shutil
import signal
import socket
import stat
import struct
import subprocess
import time

from .harness import (ALL_PROCS, ALLOW_LOOPBACK, BASE_CONF, HOOKD, ROOT,
                      Hookd, Reply, check, eq, free_port, wait_until)

SEED_ACK = {"ack": True, "timestamp": "1644730268220",
            "reqRefId": "1292101282", "refId": "3283191"}
SEED_ACK_TEXT = ('{"ack": true, "timestamp": "1644730268220", '
                 '"reqRefId": "1292101282", "refId": "3283191"}')

# ------------------------------------------------ Prometheus text 0.0.4

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
VALUE = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|[+-]?Inf|NaN"
SAMPLE_RE = re.compile(r"^(%s)(?:\{((?:%s)(?:,(?:%s))*)?,?\})? (%s)"
                       r"(?: -?\d+)?$" % (NAME, LABEL, LABEL, VALUE))
HELP_RE = re.compile(r"^# HELP (%s) (.*)$" % NAME)
TYPE_RE = re.compile(r"^# TYPE (%s) (counter|gauge|histogram|summary|"
                     r"untyped)$" % NAME)
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\.)*)"')


def parse_value(s):
    return float(s.replace("Inf", "inf"))


def family_of(name, types):
    """The family a sample belongs to: itself, or a histogram/summary
    whose name it extends with _bucket, _sum or _count."""
    if name in types:
        return name
    for suffix in ("_bucket", "_sum", "_count"):
        base = name[:-len(suffix)]
        if name.endswith(suffix) and types.get(base) in ("histogram",
                                                          "summary"):
            return base
    return None


def parse_metrics(text):
    """Parse text strictly; return {family: {"type", "help", "samples":
    [(name, labels dict, value)]}}. Fails on any line that is not HELP,
    TYPE or a sample, a sample before its TYPE, a family split in two, a
    repeated series, and on histograms that break the format's rules."""
    check(text.endswith("\n"), "/metrics does not end with a newline")
    fams, types, seen, closed = {}, {}, set(), set()
    current = None

    def enter(name, where):
        """A HELP or TYPE line: name's block starts (or goes on)."""
        nonlocal current
        if name != current:
            check(name not in closed, "%s: family seen before" % where)
            if current is not None:
                closed.add(current)
            current = name
        fams.setdefault(name, {"samples": []})

    for n, line in enumerate(text[:-1].split("\n"), 1):
        where = "/metrics line %d %r" % (n, line)
        m = HELP_RE.match(line)
        if m:
            name = m.group(1)
            enter(name, where)
            check("help" not in fams[name], "%s: second HELP" % where)
            fams[name]["help"] = m.group(2)
            continue
        m = TYPE_RE.match(line)
        if m:
            name = m.group(1)
            enter(name, where)
            check(name not in types, "%s: second TYPE" % where)
            check(not fams[name]["samples"], "%s: TYPE after samples"
                  % where)
            types[name] = fams[name]["type"] = m.group(2)
            continue
        check(not line.startswith("#"), "%s: a comment that is neither "
              "HELP nor TYPE" % where)
        m = SAMPLE_RE.match(line)
        check(m, "%s: not a sample" % where)
        name, labels = m.group(1), dict(LABEL_RE.findall(m.group(2) or ""))
        fam = family_of(name, types)
        check(fam is not None, "%s: sample without a TYPE line" % where)
        check(fam == current, "%s: sample outside its family's block"
              % where)
        key = (name, tuple(sorted(labels.items())))
        check(key not in seen, "%s: repeated series" % where)
        seen.add(key)
        fams[fam]["samples"].append((name, labels, parse_value(m.group(3))))
    for name, f in fams.items():
        check("type" in f, "family %s has HELP but no TYPE" % name)
        check(f["samples"], "family %s has no samples" % name)
        if f["type"] == "counter":
            check(name.endswith("_total"), "counter %s does not end in "
                  "_total" % name)
            for s in f["samples"]:
                check(s[2] >= 0, "counter %s is negative" % name)
        if f["type"] == "histogram":
            check_histogram(name, f["samples"])
    return fams


def check_histogram(name, samples):
    buckets = [(s[1], s[2]) for s in samples if s[0] == name + "_bucket"]
    sums = [s[2] for s in samples if s[0] == name + "_sum"]
    counts = [s[2] for s in samples if s[0] == name + "_count"]
    eq(len(sums), 1, "%s_sum samples" % name)
    eq(len(counts), 1, "%s_count samples" % name)
    check(buckets, "%s has no buckets" % name)
    les = []
    for labels, _ in buckets:
        check("le" in labels, "%s_bucket without le" % name)
        les.append(parse_value(labels["le"]))
    eq(les, sorted(les), "%s bucket bounds in order" % name)
    eq(len(set(les)), len(les), "%s bucket bounds distinct" % name)
    check(math.isinf(les[-1]), "%s has no le=\"+Inf\" bucket" % name)
    values = [v for _, v in buckets]
    for a, b in zip(values, values[1:]):
        check(a <= b, "%s buckets not cumulative: %r" % (name, values))
    eq(values[-1], counts[0], "%s +Inf bucket vs _count" % name)
    check(sums[0] >= 0, "%s_sum negative" % name)


def scrape(h):
    status, text, hdrs = h.api("GET", "/metrics", token=None)
    eq(status, 200, "GET /metrics")
    ctype = hdrs.get("content-type", "")
    check(ctype.startswith("text/plain") and "version=0.0.4" in ctype,
          "/metrics content-type %r" % ctype)
    return parse_metrics(text)


def value(fams, fam, **labels):
    """One series' value: the family's sample with exactly these labels."""
    check(fam in fams, "no metric family %s in /metrics" % fam)
    for name, ls, v in fams[fam]["samples"]:
        if name == fam and ls == {k: str(x) for k, x in labels.items()}:
            return v
    raise AssertionError("no series %s%r in /metrics" % (fam, labels))


# The families contract §3 asks for, with their types and labels.
FAMILIES = {
    "hookd_events_total": ("counter", None),
    "hookd_deliveries_total": ("counter", "outcome"),
    "hookd_attempts_total": ("counter", "result"),
    "hookd_pending_deliveries": ("gauge", None),
    "hookd_delivery_duration_seconds": ("histogram", None),
    "hookd_http_requests_total": ("counter", "code"),
    "hookd_open_connections": ("gauge", None),
    "hookd_journal_bytes": ("gauge", None),
}
OUTCOMES = ("delivered", "failed")
RESULTS = ("ok", "rejected", "retry", "timeout", "error")


def test_metrics_strict_and_counters_move(t):
    rcv = t.receiver()
    rcv.on("/ok", 200)
    rcv.on("/bad", 400)
    rcv.on("/e500", 500)
    rcv.on("/slow", Reply(200, delay=3.0))
    closed = free_port()
    h = t.hookd("timeout 500ms\nretry_schedule 100ms\n")
    h.client("acme")
    before = scrape(h)
    for fam, (typ, label) in FAMILIES.items():
        check(fam in before, "no %s in /metrics" % fam)
        eq(before[fam]["type"], typ, "TYPE of %s" % fam)
        check(before[fam].get("help"), "no HELP for %s" % fam)
    for o in OUTCOMES:
        value(before, "hookd_deliveries_total", outcome=o)
    for r in RESULTS:
        value(before, "hookd_attempts_total", result=r)
    for c in ("2xx", "4xx", "5xx"):
        value(before, "hookd_http_requests_total", code=c)

    # One one-off callback each: delivered; rejected at once; 500 twice;
    # timeout twice; refused twice (retry_schedule: one retry).
    urls = [rcv.url("/ok"), rcv.url("/bad"), rcv.url("/e500"),
            rcv.url("/slow"), "http://127.0.0.1:%d/refused" % closed]
    evts = [h.event(data={"i": i}, callback=u)["id"]
            for i, u in enumerate(urls)]
    eq(h.api("GET", "/v1/clients", token="wrong")[0], 401, "bad token")
    # The pending gauge counts the deliveries still waiting.
    mid = scrape(h)
    check(value(mid, "hookd_pending_deliveries") >= 1, "pending deliveries "
          "right after posting (the slow ones are still in flight)")
    h.wait_all(evts[0], "delivered", n=1)
    for e in evts[1:]:
        h.wait_all(e, "failed", n=1, timeout=20)
    after = scrape(h)

    def moved(fam, **labels):
        return value(after, fam, **labels) - value(before, fam, **labels)

    eq(moved("hookd_events_total"), 5, "events_total moved by")
    eq(moved("hookd_deliveries_total", outcome="delivered"), 1, "delivered")
    eq(moved("hookd_deliveries_total", outcome="failed"), 4, "failed")
    want = {"ok": 1, "rejected": 1, "retry": 2, "timeout": 2, "error": 2}
    for r, n in want.items():
        eq(moved("hookd_attempts_total", result=r), n,
           "attempts_total{result=%s} moved by" % r)
    h_name = "hookd_delivery_duration_seconds"
    count = [s[2] for s in after[h_name]["samples"]
             if s[0] == h_name + "_count"][0]
    count0 = [s[2] for s in before[h_name]["samples"]
              if s[0] == h_name + "_count"][0]
    eq(count - count0, 8, "latency histogram count moved by (8 attempts)")
    total = [s[2] for s in after[h_name]["samples"]
             if s[0] == h_name + "_sum"][0]
    check(total >= 2 * 0.5, "latency sum %.3f s, but two attempts timed "
          "out after 0.5 s each" % total)
    eq(value(after, "hookd_pending_deliveries"), 0, "pending at the end")
    check(moved("hookd_http_requests_total", code="2xx") >= 5 + 2,
          "2xx answers moved by %d" % moved("hookd_http_requests_total",
                                            code="2xx"))
    check(moved("hookd_http_requests_total", code="4xx") >= 1,
          "the 401 is not counted")
    check(value(after, "hookd_journal_bytes") >
          value(before, "hookd_journal_bytes"), "journal bytes did not grow")
    check(value(after, "hookd_open_connections") >= 1,
          "open connections: the scrape itself is one")

    # metrics off: 404, and the API still answers.
    h.stop()
    with open(h.conf_path, "a") as f:
        f.write("metrics off\n")
    h.start()
    eq(h.api("GET", "/metrics", token=None)[0], 404, "/metrics when off")
    eq(h.api("GET", "/healthz", token=None)[0], 200, "/healthz")


def test_parser_rejects_bad_exposition(t):
    """The strict parser above is what the metrics test trusts: it must
    refuse what Prometheus refuses (or what breaks histograms)."""
    good = ("# HELP a_total A.\n# TYPE a_total counter\na_total 1\n"
            "# HELP h H.\n# TYPE h histogram\n"
            'h_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 3.5\n'
            "h_count 2\n")
    parse_metrics(good)
    bad = [
        good.replace("# TYPE a_total counter\n", ""),        # no TYPE
        good.replace("a_total 1\n", "a_total one\n"),         # value
        good.replace("a_total 1\n", "a_total{x=1} 1\n"),      # label
        good + "\n",                                          # blank line
        good[:-1],                                            # no final \n
        good.replace('h_bucket{le="+Inf"} 2\n', ""),         # no +Inf
        good.replace('h_bucket{le="1"} 1', 'h_bucket{le="1"} 3'),
        good.replace("h_count 2", "h_count 3"),               # count
        good + "a_total 2\n",                                 # split family
        good.replace("# TYPE a_total counter\na_total 1\n",
                     "a_total 1\n# TYPE a_total counter\n"),  # TYPE after
        good.replace("# HELP a_total A.\n", "# a comment\n"),
    ]
    for text in bad:
        try:
            parse_metrics(text)
        except AssertionError:
            continue
        raise AssertionError("the parser accepted %r" % text)


# ----------------------------------------------------------------- logs

TS = r"ts=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
LVAL = r'(?:[^\s"=\\]+|"(?:[^"\\\x00-\x1f\x7f]|\\["\\]|\\x[0-9a-f]{2})*")'
LOG_RE = re.compile(r"^%s level=(debug|info|warn|error) msg=%s"
                    r"(?: [a-z_][a-z0-9_]*=%s)*$" % (TS, LVAL, LVAL))
DELIVERED_RE = re.compile(r"^%s level=info msg=delivered "
                          r"delivery=dlv_[A-Za-z0-9_-]+ status=200 "
                          r"ms=\d+(?: |$)" % TS)


class VerboseHookd(Hookd):
    """A hookd started with -v: its debug lines are logs too."""

    flags = ["-v"]


def check_log_lines(text):
    lines = text.split("\n")
    eq(lines[-1], "", "the log ends with a newline")
    for line in lines[:-1]:
        check(LOG_RE.match(line), "log line is not logfmt as contract §1 "
              "shows: %r" % line)
    return lines[:-1]


def test_logs_are_logfmt(t):
    rcv = t.receiver()
    rcv.on("/flaky", 500, 200)
    h = VerboseHookd(t.tmp, BASE_CONF + ALLOW_LOOPBACK, admin_token=None)
    t.hookds.append(h)
    h.start()
    wait_until(lambda: os.path.exists(os.path.join(h.data, "admin.token")),
               what="admin.token")
    with open(os.path.join(h.data, "admin.token")) as f:
        h.admin = f.read().strip()
    cl = h.client("acme")
    ep = h.endpoint("acme", rcv.url("/cb"), description='say "hi"\n=x')
    e1 = h.event(data={"refId": "3283191"})["id"]
    e2 = h.event(data={"n": 2}, callback=rcv.url("/flaky"))["id"]
    h.wait_all(e1, n=1)
    h.wait_all(e2, n=2)  # the endpoint and the one-off callback
    # Some failures: a wrong token, a bad body, a query with a secret in
    # it, a request head that is not HTTP.
    eq(h.api("GET", "/v1/clients?token=s3cr3t-in-query",
             token="wrong-token-xyz")[0], 401, "wrong token")
    eq(h.api("POST", "/v1/events", b"{nope")[0], 400, "bad JSON")
    # A path that needs quoting in logfmt ('=' would forge a key).
    eq(h.api("GET", "/v1/clients/a=b")[0], 404, "odd client id")
    s = socket.create_connection(("127.0.0.1", h.port), timeout=5)
    s.sendall(b"\x01\x02 garbage \"quoted\"\r\n\r\n")
    s.recv(4096)
    s.close()
    h.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "msg=reloaded" in h.log(), 10, what="reloaded")
    h.stop()

    lines = check_log_lines(h.log())
    check(any(DELIVERED_RE.match(x) for x in lines),
          "no `msg=delivered delivery=dlv_... status=200 ms=N` line:\n%s"
          % "\n".join(lines))
    check(any(" level=debug msg=request " in x for x in lines),
          "-v logged no request lines")
    check(any(' path="/v1/clients/a=b" ' in x for x in lines),
          "no quoted path=\"/v1/clients/a=b\" line")
    check(any(" msg=retry " in x and " status=500" in x for x in lines),
          "no retry line for the 500")
    for word in ("listening", "draining", "stopped", "reloaded"):
        check(any(" msg=%s" % word in x for x in lines), "no msg=%s" % word)
    # Contract §1: secrets and tokens are never logged.
    log = h.log()
    for secret in (h.admin, cl["token"], cl["secret"], ep["secret"],
                   "s3cr3t-in-query", "wrong-token-xyz", "3283191"):
        check(secret not in log, "the log contains %r" % secret)


# ---------------------------------------------------------------- SIGHUP


def attempts_until_failed(h, rcv_url):
    evt = h.event(data={}, callback=rcv_url)["id"]
    d = h.wait_all(evt, "failed", n=1, timeout=20)[0]
    return d["attempts"]


def test_sighup_reload_and_broken_config(t):
    rcv = t.receiver()
    rcv.on("/e500", 500)
    base = "timeout 2s\ndrain_timeout 2s\n" + ALLOW_LOOPBACK
    h = t.hookd(base="", allow=False,
                extra=base + "retry_schedule 100ms 100ms 100ms\n")
    h.client("acme")
    url = rcv.url("/e500")
    eq(attempts_until_failed(h, url), 4, "attempts with 3 retries")
    eq(h.api("GET", "/metrics", token=None)[0], 200, "/metrics before")

    # A changed config: fewer retries, metrics off. It takes effect at
    # once and the log names what changed.
    h.write_conf(base + "retry_schedule 100ms\nmetrics off\n")
    h.proc.send_signal(signal.SIGHUP)
    line = wait_until(lambda: [x for x in h.log().split("\n")
                               if " msg=reloaded " in x], 10,
                      what="msg=reloaded")[0]
    m = re.search(r" changed=(\S+)", line)
    check(m, "no changed= in %r" % line)
    eq(sorted(m.group(1).split(",")), ["metrics", "retry_schedule"],
       "changed keys in %r" % line)
    eq(h.api("GET", "/metrics", token=None)[0], 404, "/metrics after reload")
    eq(attempts_until_failed(h, url), 2, "attempts with 1 retry")

    # A broken config: logged as an error, the running one stays.
    h.write_conf(base + "retry_schedule 100ms 100ms 100ms\n"
                 "metrics on\nretry_schedule banana\n")
    h.proc.send_signal(signal.SIGHUP)
    line = wait_until(lambda: [x for x in h.log().split("\n")
                               if " level=error " in x], 10,
                      what="an error line for the broken config")[0]
    check('msg="reload failed"' in line, "error line %r" % line)
    check("hookd.conf:6:" in line, "no file:line in %r" % line)
    check(h.running, "hookd died on a broken config")
    eq(h.api("GET", "/healthz", token=None)[0], 200, "/healthz")
    eq(h.api("GET", "/metrics", token=None)[0], 404, "metrics still off")
    eq(attempts_until_failed(h, url), 2, "still 1 retry")
    eq(h.log().count(" msg=reloaded "), 1, "reloaded lines")
    check_log_lines(h.log())


# --------------------------------------------------------------- SIGTERM


def test_sigterm_drains_in_flight(t):
    rcv = t.receiver()
    rcv.on("/slow", Reply(200, body=SEED_ACK, delay=1.0))
    h = t.hookd("drain_timeout 5s\n")
    h.client("acme")
    h.endpoint("acme", rcv.url("/slow"))
    evt = h.event(data={})["id"]
    rcv.wait_for(1, "/slow")
    h.proc.send_signal(signal.SIGTERM)
    wait_until(lambda: "msg=draining" in h.log(), 5, what="msg=draining")
    # Draining: no new connections.
    try:
        socket.create_connection(("127.0.0.1", h.port), timeout=2).close()
        refused = False
    except OSError:
        refused = True
    check(refused, "hookd accepted a connection while draining")
    eq(h.proc.wait(15), 0, "exit code after draining")
    log = h.log()
    i_drain, i_dlv, i_stop = (log.find(" msg=draining"),
                              log.find(" msg=delivered"),
                              log.find(" msg=stopped"))
    check(0 <= i_drain < i_dlv < i_stop, "draining, delivered, stopped "
          "in that order:\n" + log)
    # The acknowledgement was made durable before exit: after a restart
    # the delivery is delivered with the ack, and not attempted again.
    h.start()
    d = h.wait_all(evt, n=1)[0]
    eq(d["attempts"], 1, "attempts")
    eq(d["ack"], SEED_ACK, "ack")
    time.sleep(0.5)
    eq(len(rcv.got("/slow")), 1, "requests to the receiver")


def test_sigterm_drain_timeout_then_resume(t):
    rcv = t.receiver()
    rcv.on("/slow", Reply(200, delay=8.0))
    h = t.hookd("drain_timeout 300ms\ntimeout 10s\n")
    h.client("acme")
    h.endpoint("acme", rcv.url("/slow"))
    evt = h.event(data={})["id"]
    rcv.wait_for(1, "/slow")
    t0 = time.monotonic()
    h.proc.send_signal(signal.SIGTERM)
    eq(h.proc.wait(15), 0, "exit code")
    took = time.monotonic() - t0
    check(took < 4.0, "exit took %.1fs with drain_timeout 300ms and a "
          "receiver that takes 8s" % took)
    rcv.on("/slow", 200)
    h.start()
    h.wait_all(evt, n=1)
    got = rcv.wait_for(2, "/slow")
    eq(got[0].headers["webhook-id"], got[1].headers["webhook-id"],
       "the same event attempted again after the start")


# ------------------------------------------------------------ packaging

# Every key config.c knows, from its source, so a new key cannot go
# undocumented.
def config_keys():
    with open(os.path.join(ROOT, "config.c")) as f:
        src = f.read()
    keys = set(re.findall(r'\{ "([a-z_]+)", CONFIG_(?:SIZE|DURATION)', src))
    keys |= set(re.findall(r'strcmp\((?:key|v\[0\]), "([a-z_]+)"\)', src))
    check(len(keys) >= 20, "found only %d keys in config.c: %r"
          % (len(keys), sorted(keys)))
    return keys


def run(args, timeout=120, **kw):
    return subprocess.run(args, capture_output=True, text=True,
                          timeout=timeout, **kw)


def test_example_config(t):
    path = os.path.join(ROOT, "hookd.conf.example")
    r = run([HOOKD, "-n", "-c", path], cwd=t.tmp)
    eq((r.returncode, r.stderr), (0, ""), "hookd -n -c hookd.conf.example")
    with open(path) as f:
        text = f.read()
    for key in sorted(config_keys()):
        check(re.search(r"^#?%s( |$)" % key, text, re.M),
              "hookd.conf.example has no %s line" % key)
    # The commented examples are valid too once uncommented.
    keys = "|".join(sorted(config_keys()))
    opened = re.sub(r"^#(%s) " % keys, r"\1 ", text, flags=re.M)
    check(opened != text, "no commented keys to try")
    # tls_ca_file: refused by the plain build (contract §13); in the TLS
    # build its PEM is read, so it names the system bundle when there is one.
    bundle = "/etc/ssl/certs/ca-certificates.crt"
    if "TLS: none" in run([HOOKD, "-V"]).stdout or not os.path.exists(bundle):
        opened = re.sub(r"^tls_ca_file .*\n", "", opened, flags=re.M)
    else:
        opened = re.sub(r"^tls_ca_file .*$", "tls_ca_file " + bundle, opened,
                        flags=re.M)
    with open(os.path.join(t.tmp, "all.conf"), "w") as f:
        f.write(opened)
    r = run([HOOKD, "-n", "-c", os.path.join(t.tmp, "all.conf")], cwd=t.tmp)
    eq((r.returncode, r.stderr), (0, ""), "the example, all uncommented")


HARDENING = ["DynamicUser=yes", "StateDirectory=hookd",
             "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes",
             "NoNewPrivileges=yes",
             "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
             "PrivateDevices=yes", "ProtectKernelTunables=yes",
             "ProtectKernelModules=yes", "ProtectControlGroups=yes",
             "LockPersonality=yes", "MemoryDenyWriteExecute=yes",
             "SystemCallArchitectures=native", "RestrictNamespaces=yes",
             "CapabilityBoundingSet=", "UMask=0077",
             "ExecReload=/bin/kill -HUP $MAINPID", "KillSignal=SIGTERM"]


def check_man_page(page):
    """hookd.8 renders with groff -ww and man -l without a warning, fits
    80 columns, and describes every option, key and signal."""
    r = run(["groff", "-man", "-Tutf8", "-ww", "-z", page])
    eq((r.returncode, r.stderr), (0, ""), "groff -ww warnings")
    env = dict(os.environ, MANWIDTH="80")
    env.pop("MAN_KEEP_FORMATTING", None)
    r = run(["man", "--warnings", "-l", page], env=env)
    eq((r.returncode, r.stderr), (0, ""), "man -l")
    text = re.sub(r".\x08", "", r.stdout)
    for sect in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "COMMANDS",
                 "CONFIGURATION", "SIGNALS", "FILES", "ENVIRONMENT",
                 "EXIT STATUS", "EXAMPLES", "SEE ALSO"):
        check(re.search(r"^%s$" % sect, text, re.M),
              "the man page has no %s section" % sect)
    long_lines = [x for x in text.split("\n") if len(x) > 80]
    eq(long_lines, [], "lines wider than MANWIDTH=80")
    for key in sorted(config_keys()):
        check(re.search(r"^ {7}%s( |$)" % key, text, re.M),
              "the man page does not describe %s" % key)
    for opt in ("-l", "-d", "-c", "-n", "-v", "-V", "-h", "HOOKD_FAULT",
                "HOOKD_ADMIN_TOKEN", "SIGHUP", "SIGTERM", "sign", "verify"):
        check(re.search(r"^ {7}%s\b" % re.escape(opt), text, re.M),
              "the man page does not describe %s" % opt)


def elf_sections(path):
    """The section names of a 64- or 32-bit ELF file."""
    with open(path, "rb") as f:
        data = f.read()
    check(data[:4] == b"\x7fELF", "%s is not ELF" % path)
    is64, end = data[4] == 2, "<" if data[5] == 1 else ">"
    if is64:
        shoff, = struct.unpack_from(end + "Q", data, 0x28)
        shentsize, shnum, shstrndx = struct.unpack_from(end + "HHH", data,
                                                        0x3a)
    else:
        shoff, = struct.unpack_from(end + "I", data, 0x20)
        shentsize, shnum, shstrndx = struct.unpack_from(end + "HHH", data,
                                                        0x2e)

    def header(i):
        o = shoff + i * shentsize
        name, = struct.unpack_from(end + "I", data, o)
        off, = (struct.unpack_from(end + "Q", data, o + 0x18) if is64 else
                struct.unpack_from(end + "I", data, o + 0x10))
        return name, off

    strtab = header(shstrndx)[1]
    names = set()
    for i in range(shnum):
        n = header(i)[0]
        names.add(data[strtab + n:data.index(b"\0", strtab + n)].decode())
    return names


def same_build():
    """The TLS= of the hookd under test, for a make run from a test: a
    different one would rebuild ./hookd as the other build mid-suite."""
    return ["TLS=openssl" if "TLS: OpenSSL" in run([HOOKD, "-V"]).stdout
            else "TLS="]


def test_make_install(t):
    dest = os.path.join(t.tmp, "dest")
    r = run(["make", "-s", "install", "DESTDIR=" + dest, "PREFIX=/usr"] +
            same_build(), cwd=ROOT, timeout=300)
    eq(r.returncode, 0, "make install: %s" % r.stderr)
    want = {"usr/bin/hookd": 0o755,
            "usr/share/man/man8/hookd.8": 0o644,
            "usr/share/hookd/hookd.conf.example": 0o644,
            "usr/lib/systemd/system/hookd.service": 0o644}
    got = sorted(os.path.relpath(os.path.join(d, f), dest)
                 for d, _, fs in os.walk(dest) for f in fs)
    eq(got, sorted(want), "installed files")
    for rel, mode in want.items():
        eq(stat.S_IMODE(os.stat(os.path.join(dest, rel)).st_mode), mode,
           "mode of " + rel)
    r = run([os.path.join(dest, "usr/bin/hookd"), "-V"])
    check(r.returncode == 0 and r.stdout.startswith("hookd "),
          "installed hookd -V: %r" % r.stdout)
    # The installed binary is stripped (the built one keeps -g for gdb).
    sections = elf_sections(os.path.join(dest, "usr/bin/hookd"))
    check(".text" in sections, "no ELF sections read: %r" % sections)
    check(".symtab" not in sections and ".debug_info" not in sections,
          "installed hookd is not stripped: %r" % sorted(sections))

    with open(os.path.join(dest, "usr/lib/systemd/system/hookd.service")) \
            as f:
        unit = f.read()
    check("@PREFIX@" not in unit, "@PREFIX@ left in the installed unit")
    lines = set(x.strip() for x in unit.split("\n"))
    for d in HARDENING:
        check(d in lines, "hookd.service lacks %s" % d)
    m = re.search(r"^ExecStart=(\S+) (.*)$", unit, re.M)
    check(m, "no ExecStart")
    eq(m.group(1), "/usr/bin/hookd", "ExecStart binary")
    check("-c /etc/hookd/hookd.conf" in m.group(2) and "-d " in m.group(2),
          "ExecStart options %r" % m.group(2))

    # The man page renders without warnings.
    page = os.path.join(dest, "usr/share/man/man8/hookd.8")
    if shutil.which("groff") is None or shutil.which("man") is None:
        t.note("SKIPPED rendering hookd.8: no man or groff here "
               "(apt-get install man-db groff-base)")
    else:
        check_man_page(page)

    # systemd's own check, where systemd is installed: with a real
    # prefix, so that ExecStart names a file that exists.
    if shutil.which("systemd-analyze") and os.path.exists("/bin/kill"):
        pre = os.path.join(t.tmp, "prefix")
        r = run(["make", "-s", "install", "PREFIX=" + pre] + same_build(),
                cwd=ROOT, timeout=300)
        eq(r.returncode, 0, "make install PREFIX=: %s" % r.stderr)
        r = run(["systemd-analyze", "verify", "--man=no",
                 os.path.join(pre, "lib/systemd/system/hookd.service")])
        eq((r.returncode, r.stderr.strip()), (0, ""),
           "systemd-analyze verify")
    else:
        t.note("SKIPPED systemd-analyze verify: no systemd-analyze or "
               "/bin/kill here")


# ------------------------------------------------------------------ demo


def test_make_demo(t):
    env = dict(os.environ, HOOKD_BIN=HOOKD, TMPDIR=t.tmp)
    env.pop("HOOKD_ADMIN_TOKEN", None)
    t0 = time.monotonic()
    r = run(["sh", os.path.join(ROOT, "tests", "demo.sh")], env=env,
            timeout=90, cwd=ROOT)
    took = time.monotonic() - t0
    eq(r.returncode, 0, "demo exit code; stderr %r; stdout tail %r"
       % (r.stderr, r.stdout[-2000:]))
    check(took < 30, "the demo took %.1fs" % took)
    out = r.stdout
    check(SEED_ACK_TEXT in out, "the seed acknowledgement is not in the "
          "demo's output")
    steps = re.findall(r"^==> (\d+)\. ", out, re.M)
    eq(steps, [str(i) for i in range(1, len(steps) + 1)], "steps in order")

    def answer_after(heading):
        part = out.split("==> %s. " % heading, 1)[1].split("\n==> ", 1)[0]
        docs = [json.loads(x) for x in part.split("\n") if x.startswith("{")]
        check(docs, "no JSON answer in step %s" % heading)
        return docs[-1]

    d1, d2 = answer_after(8), answer_after(9)
    eq(d1["status"], "delivered", "first delivery")
    eq(d1["ack"], SEED_ACK, "first delivery's ack")
    eq([a["status"] for a in d1["log"]], [200], "first delivery's log")
    eq(d2["status"], "delivered", "second delivery")
    eq([a["status"] for a in d2["log"]], [500, 200], "second delivery's log")
    check(re.search(r"^valid$", out, re.M), "signature not verified")
    check("msg=stopped" in out, "hookd's log does not end with stopped")
    check(out.rstrip().endswith("demo: done"), "demo did not finish")
    eq([x for x in os.listdir(t.tmp) if x.startswith("hookd-demo")], [],
       "the demo left its temp dir")
