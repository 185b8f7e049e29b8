"""Command line and config file (contract §1, §7): -n checks, usage, static
registrations, the admin token, SIGHUP."""

import os
import signal
import stat

from .harness import (BASE_CONF, ALLOW_LOOPBACK, check, eq,
                      run_hookd, wait_until)


def write(t, name, text):
    with open(os.path.join(t.tmp, name), "w") as f:
        f.write(text)


# Each: config text, the line that is wrong.
BAD_CONFIGS = [
    ("timeout 2s\nno_such_key 1\n", 2),
    ("# comment\n\ntimeout soon\n", 3),
    ("max_body -5\n", 1),
    ("max_body\n", 1),
    ("timeout 2s 3s\n", 1),
    ("retry_schedule 1s never\n", 1),
    ("allow_destinations 10.0.0.0/33\n", 1),
    ("fsync sometimes\n", 1),
    ("metrics maybe\n", 1),
    ("listen nowhere\n", 1),
    ("timeout 2s\nclient bad/id\n", 2),
    ("client acme\nendpoint acme ftp://x/\n", 2),
    ("client acme\nendpoint acme http://127.0.0.1:9/ method=PUT\n", 2),
    ("client acme\nendpoint acme http://127.0.0.1:9/ secret=nope\n", 2),
    ("client acme name=\"Acme\n", 1),
    ("client acme colour=red\n", 1),
]


def test_config_check_bad(t):
    for i, (text, line) in enumerate(BAD_CONFIGS):
        write(t, "bad.conf", text)
        r = run_hookd("-n", "-c", "bad.conf", cwd=t.tmp)
        eq(r.returncode, 1, "hookd -n exit code for %r" % text)
        want = "bad.conf:%d: " % line
        check(want in r.stderr, "stderr %r lacks %r (config %r)"
              % (r.stderr, want, text))
        reason = r.stderr.split(want, 1)[1].strip()
        check(reason, "no reason after %r for %r" % (want, text))
    t.note("%d bad configs refused with file:line: reason" % len(BAD_CONFIGS))


def test_config_check_valid(t):
    write(t, "good.conf", """\
# every key, with its units
listen 127.0.0.1:18080
data_dir ./d
max_header_bytes 16384
max_headers 100
max_body 1048576
header_timeout 10s
idle_timeout 1m
max_connections 1024
timeout 15s
retry_schedule 5 300 1800 7200 18000 36000 36000
disable_after 5d
endpoint_concurrency 8
max_outbound 256
retention 7d
drain_timeout 5000ms
fsync always
allow_destinations 127.0.0.0/8 10.0.0.0/8 ::1/128
metrics on
client acme name="Acme Store"
endpoint acme http://127.0.0.1:9/cb/{refId} method=GET events=order.*,refund
""")
    r = run_hookd("-n", "-c", "good.conf", cwd=t.tmp)
    eq(r.returncode, 0, "hookd -n on a valid config (stderr %r)" % r.stderr)


def test_usage_errors(t):
    for args in (["-Z"], ["--bogus"], ["-l", "nowhere"], ["-l"]):
        r = run_hookd(*args, cwd=t.tmp)
        eq(r.returncode, 1, "exit code of hookd %s" % " ".join(args))
        check("usage" in r.stderr.lower(), "hookd %s: no usage on stderr: %r"
              % (" ".join(args), r.stderr))
    r = run_hookd("-V", cwd=t.tmp)
    eq(r.returncode, 0, "hookd -V exit code")
    check("0.1.0" in r.stdout + r.stderr, "hookd -V output %r" % r.stdout)
    r = run_hookd("-h", cwd=t.tmp)
    check("usage" in (r.stdout + r.stderr).lower(), "hookd -h: %r" % r.stdout)
    r = run_hookd("-n", "-c", "missing.conf", cwd=t.tmp)
    eq(r.returncode, 1, "hookd -n with a missing config")


def test_static_registrations(t):
    rcv = t.receiver()
    h = t.hookd(extra='client acme name="Acme Store"\n'
                'endpoint acme %s\n'
                'endpoint acme %s method=GET events=order.*\n'
                % (rcv.url("/cb"), rcv.url("/g")))
    eq(h.req(200, "GET", "/v1/clients/acme")["name"], "Acme Store", "name")
    eps = h.req(200, "GET", "/v1/endpoints?client=acme")["data"]
    eq(sorted((e["url"], e["method"], e["events"][0]) for e in eps),
       [(rcv.url("/cb"), "POST", "*"), (rcv.url("/g"), "GET", "order.*")],
       "static endpoints")
    h.restart()
    eps2 = h.req(200, "GET", "/v1/endpoints?client=acme")["data"]
    eq([e["id"] for e in eps2], [e["id"] for e in eps],
       "static endpoints after restart (none added, none lost)")
    evt = h.event("acme", "order.paid", {"refId": "1"})
    eq(evt["deliveries"], 2, "deliveries to static endpoints")
    rcv.wait_for(1, "/cb")
    rcv.wait_for(1, "/g")


def test_admin_token_generated(t):
    h = t.hookd(admin_token=None, start=False)
    h.start()
    path = os.path.join(h.data, "admin.token")
    check(os.path.exists(path), "no DATADIR/admin.token")
    eq(stat.S_IMODE(os.stat(path).st_mode), 0o600, "admin.token mode")
    with open(path) as f:
        token = f.read().strip()
    check(token, "admin.token is empty")
    h.admin = token
    h.req(200, "GET", "/v1/clients")
    h.req(401, "GET", "/v1/clients", token="x" + token)
    log = h.log()
    check("admin.token" in log, "the token's path is not printed: %r" % log)
    check(token not in log, "the admin token itself is logged")
    h.restart()
    with open(path) as f:
        eq(f.read().strip(), token, "admin.token after restart")
    h.req(200, "GET", "/v1/clients")
    eq(h.log().count("admin.token"), log.count("admin.token"),
       "the path is printed once (not again on the second start)")


def test_admin_token_file(t):
    write(t, "tok", "file-token-0123456789abcdef\n")
    os.chmod(os.path.join(t.tmp, "tok"), 0o600)
    h = t.hookd(extra="admin_token_file %s\n" % os.path.join(t.tmp, "tok"),
                admin_token=None)
    h.admin = "file-token-0123456789abcdef"
    h.req(200, "GET", "/v1/clients")


def test_sighup_reload(t):
    h = t.hookd()
    h.write_conf(BASE_CONF + ALLOW_LOOPBACK + 'client late name="Late"\n')
    h.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: h.api("GET", "/v1/clients/late")[0] == 200, 10,
               what="client from the reloaded config")
    check(h.running, "hookd died on SIGHUP")


def test_config_not_a_regular_file(t):
    """A FIFO or a directory named as the config is refused at once with a
    reason, at start (-n) and at a SIGHUP reload, where hookd keeps serving
    with the config it has. Before, open(2) of a FIFO blocked: -n hung,
    and a reload hung the whole daemon."""
    fifo = os.path.join(t.tmp, "fifo.conf")
    os.mkfifo(fifo)
    r = run_hookd("-n", "-c", fifo, timeout=20)
    eq(r.returncode, 1, "hookd -n -c FIFO")
    check("not a regular file" in r.stderr, r.stderr)
    r = run_hookd("-n", "-c", t.tmp, timeout=20)
    eq(r.returncode, 1, "hookd -n -c DIR")
    check("is a directory" in r.stderr, r.stderr)
    # /dev/null stays "no config": the defaults.
    r = run_hookd("-n", "-c", "/dev/null", timeout=20)
    eq(r.returncode, 0, "hookd -n -c /dev/null: " + r.stderr)
    check("config ok" in r.stdout, r.stdout)
    h = t.hookd()
    os.unlink(h.conf_path)
    os.mkfifo(h.conf_path)
    h.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "not a regular file" in h.log(), 10,
               what="the reload's refusal in the log")
    h.req(200, "GET", "/healthz", token=None)
    check(h.running, "hookd died on SIGHUP with a FIFO as its config")
