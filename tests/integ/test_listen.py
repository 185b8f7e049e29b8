"""Issue 16 (contract §16): `hookd listen`, a local receiver verifying real
deliveries from hookd (POST and GET, rotation, --ack kept by hookd, a
tampered request answered 401); `hookd sign --curl`'s command run through
sh; the README's receiver snippets, equal to examples/receiver.{js,py} and
run against real deliveries; `make dev`'s dev.conf; the command line's
usage errors and help."""

import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time

from .harness import (ALL_PROCS, HOOKD, ROOT, Skip, check, eq, free_port,
                      run_hookd, sign, wait_until)


class Listen:
    """A `hookd listen -p 0 ARGS` process; its port read from the first
    line, its stdout gathered by a thread."""

    def __init__(self, t, *args):
        self.proc = subprocess.Popen(
            [HOOKD, "listen", "-p", "0"] + list(args),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        ALL_PROCS.append(self.proc)
        t.receivers.append(self)
        first = self.proc.stdout.readline()
        m = re.match(r"listening on http://127\.0\.0\.1:(\d+)/ ", first)
        check(m, "first line of hookd listen: %r (stderr %r)"
              % (first, self.proc.stderr.read() if not first else ""))
        self.port = int(m.group(1))
        self.lines = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line)

    def url(self, path="/"):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def text(self):
        return "".join(self.lines)

    def records(self):
        return [json.loads(x) for x in list(self.lines) if x.startswith("{")]

    def wait_text(self, what, timeout=15):
        return wait_until(lambda: what in self.text(), timeout,
                          what="%r in hookd listen's output:\n%s"
                          % (what, self.text()))

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            eq(self.proc.wait(10), 0, "hookd listen's exit code on SIGTERM")


def post(port, path, body, headers):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("POST", path, body=body, headers=headers)
    r = c.getresponse()
    out = (r.status, r.read())
    c.close()
    return out


def signed_headers(secret, msg_id, payload, ts=None):
    ts = ts if ts is not None else int(time.time())
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts),
            "webhook-signature": sign(secret, msg_id, ts, payload),
            "Content-Type": "application/json"}


# ------------------------------------------------------- hookd listen


def test_listen_verifies_post_and_get_deliveries(t):
    h = t.hookd()
    h.client("acme")
    # Two endpoints, two secrets: listen is given both (as during a
    # rotation, any of its secrets verifies).
    lst_port = free_port()
    ep_post = h.endpoint("acme", "http://127.0.0.1:%d/cb/{refId}" % lst_port)
    ep_get = h.endpoint("acme", "http://127.0.0.1:%d/get" % lst_port,
                        method="GET")
    lst = subprocess.Popen(
        [HOOKD, "listen", "-p", str(lst_port), "--secret", ep_post["secret"],
         "--secret", ep_get["secret"]],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ALL_PROCS.append(lst)
    first = lst.stdout.readline()
    eq(first.split(" (")[0], "listening on http://127.0.0.1:%d/" % lst_port,
       "first line")
    out = []
    threading.Thread(target=lambda: out.extend(lst.stdout),
                     daemon=True).start()
    try:
        evt = h.event(data={"refId": "3283191", "note": "a b&c"})
        dls = h.wait_all(evt["id"], "delivered", n=2)
        eq(len(dls), 2, "deliveries")
        wait_until(lambda: "".join(out).count("\nverified\n") >= 2, 15,
                   what="two verified callbacks")
        text = "".join(out)
        blocks = text.split("\n\n")
        post_head = ("POST /cb/3283191 webhook-id=%s hookd-event-type="
                     "order.paid hookd-attempt=1\nverified\n"
                     '{"refId": "3283191", "note": "a b&c"}' % evt["id"])
        get_head = ('GET "/get?refId=3283191&note=a%%20b%%26c" webhook-id=%s '
                    "hookd-event-type=order.paid hookd-attempt=1\n"
                    "verified\n(no body)" % evt["id"])
        for want in (post_head, get_head):
            check(any(b.split(" ", 1)[-1] == want for b in blocks),
                  "no block %r in:\n%s" % (want, text))
        check("NOT verified" not in text, "a delivery not verified:\n" + text)
    finally:
        lst.terminate()
        eq(lst.wait(10), 0, "exit code on SIGTERM")


def endpoint_for(h, t, *args, method="POST", path="/cb"):
    """An endpoint whose URL is a hookd listen started with its secret
    (and ARGS): created first on a placeholder URL, then pointed at it."""
    ep = h.endpoint("acme", "http://127.0.0.1:1/placeholder" + path,
                    method=method)
    lst = Listen(t, "--secret", ep["secret"], *args)
    h.req(200, "PATCH", "/v1/endpoints/" + ep["id"], {"url": lst.url(path)})
    return ep, lst


def test_listen_tampered_401_and_not_verified(t):
    h = t.hookd()
    h.client("acme")
    ep = h.endpoint("acme", "http://127.0.0.1:1/x")
    wrong = h.endpoint("acme", "http://127.0.0.1:1/y")["secret"]
    good = ep["secret"]
    # The listener knows another secret than this endpoint's: hookd's
    # attempts are answered 401, retried, and end failed.
    bad = Listen(t, "--secret", wrong, "--json")
    h.req(200, "PATCH", "/v1/endpoints/" + ep["id"], {"url": bad.url("/cb")})
    evt = h.event(data={"refId": 1}, type="order.paid")
    ds = [d for d in h.wait_all(evt["id"], "failed", timeout=30)
          if d["endpoint"] == ep["id"]]
    eq(h.delivery(ds[0]["id"])["log"][0]["status"], 401, "status of an "
       "attempt signed with a secret listen does not know")
    recs = wait_until(lambda: [r for r in bad.records()
                               if r["webhook_id"] == evt["id"]], 15,
                      what="records of " + evt["id"])
    eq((recs[0]["verified"], recs[0]["reason"], recs[0]["status"]),
       (False, "no signature matches", 401), "listen's record")
    eq((recs[0]["event_type"], recs[0]["attempt"], recs[0]["endpoint"]),
       ("order.paid", "1", ep["id"]), "listen's record")
    bad.close()
    # A request signed right is verified; the same with one byte of the
    # body changed is not (sent by http.client, not by hookd).
    lst = Listen(t, "--secret", good, "--json")
    body = b'{"refId": "77", "amount": 10}'
    hdrs = signed_headers(good, "msg_ok", body)
    st, resp = post(lst.port, "/cb", body, hdrs)
    eq(st, 200, "answer to a good signature")
    st, resp = post(lst.port, "/cb", body.replace(b"10", b"99"), hdrs)
    eq(st, 401, "answer to a changed body")
    eq(json.loads(resp), {"error": "signature not verified: no signature "
                          "matches"}, "401 body")
    # An old timestamp is refused however right the signature.
    old = int(time.time()) - 3600
    st, _ = post(lst.port, "/cb", body,
                 signed_headers(good, "msg_old", body, ts=old))
    eq(st, 401, "answer to an hour-old timestamp")
    recs = wait_until(lambda: len(lst.records()) >= 3 and lst.records(), 15,
                      what="three records")
    got = [(r["webhook_id"], r["verified"], r["reason"], r["body"])
           for r in recs]
    eq(got, [("msg_ok", True, None, body.decode()),
             ("msg_ok", False, "no signature matches",
              body.replace(b"10", b"99").decode()),
             ("msg_old", False, "timestamp too old", body.decode())],
       "records of the hand-made requests")


def test_listen_ack_is_kept_by_hookd(t):
    h = t.hookd()
    h.client("acme")
    ep, lst = endpoint_for(h, t, "--ack", path="/cb/{refId}")
    evt = h.event(data={"refId": "3283191", "success": True})
    d = h.wait_all(evt["id"], "delivered", n=1)[0]
    ack = h.delivery(d["id"])["ack"]
    eq((ack["ack"], ack["reqRefId"], ack["refId"]),
       (True, evt["id"], "3283191"), "the ack hookd kept")
    check(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$",
                   ack["timestamp"]), "ack timestamp %r" % ack["timestamp"])
    lst.wait_text("verified\n")
    # GET: the refId comes from the (signed) query string, decoded.
    h.req(204, "DELETE", "/v1/endpoints/" + ep["id"])
    ep_get, lst_get = endpoint_for(h, t, "--ack", method="GET", path="/g")
    evt = h.event(data={"refId": "a/b 1"})
    d = h.wait_all(evt["id"], "delivered", n=1)[0]
    eq(h.delivery(d["id"])["ack"]["refId"], "a/b 1", "refId from a GET")
    # Without --ack the answer is an empty 200: hookd keeps no ack.
    h.req(204, "DELETE", "/v1/endpoints/" + ep_get["id"])
    endpoint_for(h, t)
    evt = h.event(data={"refId": "5"})
    d = h.wait_all(evt["id"], "delivered", n=1)[0]
    eq(h.delivery(d["id"])["ack"], None, "ack without --ack")


def test_listen_rotation_two_secrets(t):
    h = t.hookd()
    h.client("acme")
    ep = h.endpoint("acme", "http://127.0.0.1:1/x")
    old = ep["secret"]
    new = h.req(200, "POST", "/v1/endpoints/%s/rotate-secret"
                % ep["id"])["secret"]
    tmp = h.endpoint("acme", "http://127.0.0.1:1/y")
    other = tmp["secret"]
    h.req(204, "DELETE", "/v1/endpoints/" + tmp["id"])
    lst = Listen(t, "--secret", old, "--secret", new, "--json")
    h.req(200, "PATCH", "/v1/endpoints/" + ep["id"], {"url": lst.url("/r")})
    evt = h.event(data={"n": 1})
    h.wait_all(evt["id"], "delivered", n=1)
    # By hand: a request signed only by the old, only by the new, or by a
    # secret listen was not given.
    body = b'{"n": 2}'
    for secret, want in ((old, 200), (new, 200), (other, 401)):
        st, _ = post(lst.port, "/r", body, signed_headers(secret, "m", body))
        eq(st, want, "a request signed only by %s" %
           {old: "the old secret", new: "the new secret"}.get(secret,
                                                              "another"))
    recs = wait_until(lambda: len(lst.records()) >= 4 and lst.records(), 15,
                      what="four records")
    eq([r["verified"] for r in recs], [True, True, True, False],
       "verified: the rotated delivery, old, new, another")
    # Both of hookd's signatures were on the delivery.
    check(recs[0]["webhook_id"] == evt["id"], "first record is hookd's")


def test_listen_warns_of_a_short_secret(t):
    """A pasted word is valid base64 and so a key, as in Standard Webhooks'
    libraries; listen says so rather than refusing every callback
    silently. hookd's own secrets give no warning."""
    h = t.hookd()
    h.client("acme")
    good = h.endpoint("acme", "http://127.0.0.1:1/x")["secret"]
    for secret, warned in (("acme", True), (good, False)):
        lst = Listen(t, "--secret", secret)
        lst.close()
        err = lst.proc.stderr.read()
        eq("decodes to 3 bytes; hookd's secrets are 24 to 64" in err,
           warned, "warning for --secret %r (stderr %r)" % (secret, err))


def test_listen_slow_client_does_not_block_others(t):
    sec = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    lst = Listen(t, "--secret", sec)
    slow = socket.create_connection(("127.0.0.1", lst.port), timeout=10)
    slow.sendall(b"POST /slow HTTP/1.1\r\nHost: x\r\nContent-Le")
    try:
        body = b'{"a": 1}'
        st, _ = post(lst.port, "/fast", body, signed_headers(sec, "f", body))
        eq(st, 200, "a request while another client is half-way")
    finally:
        slow.close()
    lst.wait_text("POST /fast webhook-id=f")


def test_listen_usage_errors_exit_2_and_port_in_use_exit_1(t):
    sec = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    cases = [
        ([], "--secret is required"),
        (["--secret", "nope!"], "--secret is not a valid secret"),
        (["--secret", sec, "--bogus"], 'unknown option "--bogus"'),
        (["--secret", sec, "-p", "http"], '-p needs a port number'),
        (["--secret", sec, "-p", "70000"], '-p needs a port number'),
        (["--secret", sec, "-p"], 'option needs a value: "-p"'),
        (["--secret", sec, "--secret", sec, "--secret", sec],
         "--secret at most twice"),
        (["--secret", sec, "extra"], 'unexpected argument "extra"'),
    ]
    for args, msg in cases:
        r = run_hookd("listen", *args)
        eq(r.returncode, 2, "exit code of hookd listen %s" % args)
        check(msg in r.stderr and "usage: hookd listen" in r.stderr,
              "stderr of hookd listen %s: %r" % (args, r.stderr))
    r = run_hookd("listen", "--help")
    eq(r.returncode, 0, "listen --help")
    check(r.stdout.startswith("usage: hookd listen"), r.stdout)
    # A port someone holds: exit 1 and how to choose another.
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    port = s.getsockname()[1]
    try:
        r = run_hookd("listen", "-p", str(port), "--secret", sec)
    finally:
        s.close()
    eq(r.returncode, 1, "exit code when the port is taken")
    check("port %d is in use; choose another with -p PORT" % port
          in r.stderr, "message: %r" % r.stderr)
    eq(r.stdout, "", "nothing on stdout when it cannot listen")


def test_help_and_man_page_name_listen_and_curl(t):
    r = run_hookd("--help")
    eq(r.returncode, 0, "--help")
    for word in ("hookd listen", "hookd sign", "--curl", "hookd verify",
                 "hookd check"):
        check(word in r.stdout, "%r in hookd --help:\n%s" % (word, r.stdout))
    with open(os.path.join(ROOT, "hookd.8")) as f:
        man = f.read()
    for word in (".B hookd listen", "\\-\\-curl", "\\-\\-ack",
                 "make static", "make dev"):
        check(word in man, "%r in hookd.8" % word)


# ----------------------------------------------------- hookd sign --curl


def test_sign_curl_command_runs_through_sh(t):
    if shutil.which("curl") is None:
        raise Skip("curl is not installed")
    sec = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    lst = Listen(t, "--secret", sec, "--json")
    # Quotes, spaces, a newline, $, backslashes, a leading @ and a %:
    # every one must reach curl as it is.
    payload = ('@{"who": "O\'Brien\'s", "cmd": "$(touch pwned) `x` \\\\n '
               '%s %%d",\n "t": "a\tb"}')
    r = subprocess.run([HOOKD, "sign", "--secret", sec, "--id", "msg_sh",
                        "--curl", lst.url("/hook?x=1")],
                       input=payload, capture_output=True, text=True,
                       timeout=10)
    eq(r.returncode, 0, "hookd sign --curl: " + r.stderr)
    check(r.stdout.startswith("printf '%s' '@{"), r.stdout)
    run = subprocess.run(["sh", "-c", r.stdout], capture_output=True,
                         text=True, timeout=20, cwd=t.tmp)
    eq(run.returncode, 0, "sh of the printed command: " + run.stderr)
    check(run.stdout.startswith("HTTP/1.1 200"), run.stdout)
    check(not os.path.exists(os.path.join(t.tmp, "pwned")),
          "the payload ran a command")
    rec = wait_until(lambda: lst.records(), 10, what="a record")[0]
    eq((rec["verified"], rec["body"], rec["path"]),
       (True, payload, "/hook?x=1"), "what listen got")
    # A payload a shell word cannot carry, and a URL that is none.
    r = subprocess.run([HOOKD, "sign", "--secret", sec, "--id", "m",
                        "--curl", lst.url("/")], input=b"a\0b",
                       capture_output=True, timeout=10)
    eq(r.returncode, 1, "a NUL byte")
    check(b"NUL byte" in r.stderr, r.stderr)
    r = subprocess.run([HOOKD, "sign", "--secret", sec, "--id", "m",
                        "--curl", "ftp://x/"], input=b"{}",
                       capture_output=True, timeout=10)
    eq(r.returncode, 1, "an ftp URL")
    check(b"http://" in r.stderr, r.stderr)
    # verify does not take --curl.
    r = run_hookd("verify", "--secret", sec, "--curl", "http://x/")
    eq(r.returncode, 1, "verify --curl")
    check("unknown option" in r.stderr, r.stderr)


# ----------------------------------------------- README receiver snippets


def readme():
    with open(os.path.join(ROOT, "README.md")) as f:
        return f.read()


def example(name):
    with open(os.path.join(ROOT, "examples", name)) as f:
        return f.read()


def test_readme_snippets_equal_examples(t):
    text = readme()
    for name, lang in (("receiver.py", "python"), ("receiver.js", "js")):
        block = "```%s\n%s```\n" % (lang, example(name))
        check(block in text, "README.md does not show examples/%s verbatim "
              "(in a ```%s block): edit both together" % (name, lang))
    for lang in ("go", "php", "ruby"):
        check("```%s\n" % lang in text, "a %s snippet in README" % lang)


def run_example(t, argv, secret, port):
    env = dict(os.environ, HOOKD_SECRET=secret)
    p = subprocess.Popen(argv + [str(port)], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    ALL_PROCS.append(p)
    first = p.stdout.readline()
    check(first.startswith("listening on"), "%s: %r%s" % (
        argv, first, p.stdout.read() if p.poll() is not None else ""))
    lines = []
    threading.Thread(target=lambda: lines.extend(p.stdout),
                     daemon=True).start()
    return p, lines


def check_example(t, argv):
    h = t.hookd()
    h.client("acme")
    port = free_port()
    ep_post = h.endpoint("acme", "http://127.0.0.1:%d/p" % port)
    ep_get = h.endpoint("acme", "http://127.0.0.1:%d/g?k=v" % port,
                        method="GET")
    p, lines = run_example(t, argv, ep_post["secret"] + " " +
                           ep_get["secret"], port)
    try:
        evt = h.event(data={"refId": "9", "s": "x y/z"})
        dls = h.wait_all(evt["id"], "delivered", n=2)
        for d in dls:
            eq(h.delivery(d["id"])["ack"], {"ack": True}, "ack kept")
        eq(sorted(x for x in lines if x.startswith("verified")),
           ["verified %s\n" % evt["id"]] * 2, "the example's output")
        # Tampered: a good signature over another body.
        body = b'{"refId": "9"}'
        hdrs = signed_headers(ep_post["secret"], "msg_t", body)
        st, _ = post(port, "/p", body, hdrs)
        eq(st, 200, "a good hand-made request")
        st, _ = post(port, "/p", body.replace(b"9", b"8"), hdrs)
        eq(st, 401, "a tampered body")
        st, _ = post(port, "/p", body,
                     signed_headers("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
                                    "msg_w", body))
        eq(st, 401, "a wrong secret")
        wait_until(lambda: sum(x.startswith("rejected") for x in lines) == 2,
                   10, what="two rejected lines in %r" % lines)
    finally:
        p.terminate()
        p.wait(10)


def test_example_receiver_py_against_hookd(t):
    import sys
    check_example(t, [sys.executable, os.path.join(ROOT, "examples",
                                                   "receiver.py")])


def test_example_receiver_js_against_hookd(t):
    node = shutil.which("node")
    if node is None:
        raise Skip("node is not installed")
    check_example(t, [node, os.path.join(ROOT, "examples", "receiver.js")])


# ------------------------------------------------------------- make dev


def test_dev_conf_passes_hookd_n(t):
    r = run_hookd("-n", "-c", os.path.join(ROOT, "dev.conf"), cwd=t.tmp)
    eq(r.returncode, 0, "hookd -n -c dev.conf: " + r.stderr)
    check(r.stdout.startswith("config ok"), r.stdout)
    for want in ("127.0.0.1:8080", "dev-data", "127.0.0.0/8"):
        check(want in r.stdout, "%r in the summary: %s" % (want, r.stdout))
    with open(os.path.join(ROOT, "dev.conf")) as f:
        conf = f.read()
    check(re.search(r"^retry_schedule 1s 2s 5s", conf, re.M), conf)
    with open(os.path.join(ROOT, "Makefile")) as f:
        mk = f.read()
    check(re.search(r"^dev:", mk, re.M) and "-c dev.conf" in mk,
          "make dev starts hookd -c dev.conf")
    clean = re.search(r"^clean:[^\n]*\n(\t[^\n]*\n)*", mk, re.M)
    check(clean and "dev-data" in clean.group(0), "make clean removes "
          "dev-data")
