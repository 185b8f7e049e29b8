"""Crash loop (issue 5 §7, contract §6): under a steady stream of events,
hookd is killed with SIGKILL at random moments 50 times and restarted each
time. Afterwards every event it acknowledged (202) has reached the
receiver. Duplicates are allowed (delivery is at least once) and counted;
a loss fails the test. CRASH_SEED=N replays a run's kill timings."""

import http.client
import json
import os
import random
import threading
import time

from .harness import RawReceiver, check, wait_until

KILLS = 50


class Producer(threading.Thread):
    """Posts events one after another on fresh connections, recording the
    id of every one answered 202. hookd being down is expected."""

    def __init__(self, h):
        super().__init__(daemon=True)
        self.h = h
        self.acked = []
        self.refused = 0        # no answer: hookd was down or died
        self.other = {}         # status -> count, for anything not 202
        self.stopping = threading.Event()

    def run(self):
        i = 0
        hdrs = {"Authorization": "Bearer " + self.h.admin,
                "Content-Type": "application/json"}
        while not self.stopping.is_set():
            i += 1
            body = json.dumps({"client": "acme", "type": "crash",
                               "data": {"i": i}})
            conn = http.client.HTTPConnection("127.0.0.1", self.h.port,
                                              timeout=5)
            try:
                conn.request("POST", "/v1/events", body, hdrs)
                resp = conn.getresponse()
                data = resp.read()
                if resp.status == 202:
                    self.acked.append(json.loads(data)["id"])
                else:
                    self.other[resp.status] = self.other.get(
                        resp.status, 0) + 1
            except (OSError, http.client.HTTPException):
                self.refused += 1
                time.sleep(0.005)
            finally:
                conn.close()


def test_crash_loop_loses_nothing_acknowledged(t):
    seed = int(os.environ.get("CRASH_SEED") or
               int.from_bytes(os.urandom(4), "big"))
    rng = random.Random(seed)
    rcv = RawReceiver()
    t.receivers.append(rcv)
    # Quick retries, so attempts cut short by a kill are made again soon.
    h = t.hookd("retry_schedule" + " 200ms" * 30 + "\n")
    h.client("acme")
    h.endpoint("acme", rcv.url("/cb"))
    prod = Producer(h)
    prod.start()
    wait_until(lambda: len(prod.acked) >= 5, 10, what="the first events")
    t0 = time.monotonic()
    for k in range(KILLS):
        time.sleep(rng.uniform(0.05, 0.3))
        h.kill9()
        h.start()       # asserts it starts: no torn file stops it
    crash_time = time.monotonic() - t0
    time.sleep(0.3)
    prod.stopping.set()
    prod.join(10)
    acked = set(prod.acked)
    check(len(acked) == len(prod.acked), "an event id was acknowledged "
          "twice")
    check(len(acked) >= 100, "only %d events acknowledged in %d kills: "
          "too few to mean much" % (len(acked), KILLS))
    check(not prod.other, "answers other than 202: %r" % prod.other)

    def received():
        with rcv.lock:
            return [r.headers.get("webhook-id") for r in rcv.requests]
    try:
        wait_until(lambda: acked <= set(received()), 60, 0.2,
                   "every acknowledged event at the receiver")
    except AssertionError:
        lost = sorted(acked - set(received()))
        raise AssertionError("%d of %d acknowledged events never reached "
                             "the receiver (seed %d), e.g. %s" % (
                                 len(lost), len(acked), seed, lost[:5]))
    ids = received()
    unknown = set(ids) - acked
    dups = len([i for i in ids if i in acked]) - len(acked)
    # The stores agree: every acknowledged event ends delivered.
    for evt in rng.sample(sorted(acked), 20):
        h.wait_all(evt, n=1, timeout=20)
    torn = h.log().count("torn")
    t.note("seed %d: %d kills in %.1fs, %d events acknowledged, %d posts "
           "unanswered (hookd down), %d deliveries, %d duplicates, %d "
           "delivered events never acknowledged (posted as hookd died), "
           "%d torn tails dropped at start"
           % (seed, KILLS, crash_time, len(acked), prod.refused, len(ids),
              dups, len(unknown), torn))
