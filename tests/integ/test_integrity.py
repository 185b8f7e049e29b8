"""The store's integrity and the data directory (issues 19 and 9, contract
§10 and §18): what receivers answer cannot make a record unreadable; `hookd
check` finds and moves damaged records; the data directory is locked,
checked and left untouched by a start that fails."""

import json
import os
import socket
import subprocess
import time

from .harness import HOOKD, Reply, check, eq, wait_until


def read_all(h):
    """GET the list and every delivery one by one; all must answer 200."""
    ds = h.deliveries()
    for d in ds:
        h.delivery(d["id"])
    return ds


def test_pretty_and_deep_acks_survive_restart(t):
    h = t.hookd()
    r = t.receiver()
    pretty = b'{\n  "ack": true,\n  "note": "line\\nbreak"\r\n}'
    deep = b'{"a":' * 63 + b'{"ack": true}' + b'}' * 63   # 64 deep
    r.on("/pretty", Reply(200, pretty,
                          {"Content-Type": "application/json"}))
    r.on("/deep", Reply(200, deep, {"Content-Type": "application/json"}))
    h.client("acme")
    h.endpoint("acme", r.url("/pretty"))
    h.endpoint("acme", r.url("/deep"))
    ev = h.event("acme", data={"refId": "1"})
    ds = h.wait_all(ev["id"], n=2)
    acks = {}
    for d in ds:
        one = h.delivery(d["id"])
        acks[one["url"].rsplit("/", 1)[1]] = one["ack"]
    eq(acks["pretty"], json.loads(pretty), "the pretty ack as kept")
    eq(acks["deep"], json.loads(deep), "the 64-deep ack as kept")
    read_all(h)
    h.req(202, "POST", "/v1/compact")
    h.restart()
    ds = read_all(h)
    eq(len(ds), 2, "deliveries after restart")
    for d in ds:
        one = h.delivery(d["id"])
        eq(one["status"], "delivered", "status after restart")
        check(one["ack"] is not None and one["log"][0]["status"] == 200,
              "ack and log after restart: %r" % one)
    h.restart(kill=True)
    eq(len(read_all(h)), 2, "deliveries after a second restart")
