"""A tester's findings on the compaction without a fork (store_copy.c).

test_max_log_reload_races_the_copy: the plan's thread read the global
store_max_log (plan_copy_chain) while the loop may write it (a SIGHUP
reload of max_log_attempts: main_reload -> store_set_max_log), a data race.
The thread now reads the value the plan took when the compaction began
(compact_plan.max_log). The plain build cannot see a data race: make check
runs this test with the ThreadSanitizer build (make hookd-tsan), where it
failed ("WARNING: ThreadSanitizer: data race ... store_set_max_log ...
thread created at plan_copy_start"). It also checks that the logs read the
same after the compaction and after a restart."""

import signal
import time

from .harness import check, eq, wait_until
from .test_compact_settle import write_store

N = 3000
CONF = "retention 1d\nretry_schedule 3600\nmax_log_attempts %d\n"


def test_max_log_reload_races_the_copy(t):
    h = t.hookd(CONF % 5, start=False,
                env={"HOOKD_FAULT": "mark_per_pass=500,compact_slow=300",
                     "TSAN_OPTIONS": "halt_on_error=0 exitcode=0"})
    evs, dlvs = write_store(h.data, N, 0)
    h.start()
    for k in range(2):
        seen = h.log().count("msg=compacted")
        h.req(202, "POST", "/v1/compact")
        i = 0
        while h.log().count("msg=compacted") == seen:
            check("compaction failed" not in h.log(), "compaction failed")
            h.write_conf(CONF % (1 + 2 * (i % 3)))
            h.proc.send_signal(signal.SIGHUP)
            i += 1
            time.sleep(0.05)
    h.write_conf(CONF % 5)
    h.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: h.log().count("msg=reloaded") >= 1, 10,
               what="a reload")
    got = {d: h.delivery(d)["log"] for d in dlvs[::100]}
    h.restart()
    for d, log in got.items():
        eq(h.delivery(d)["log"], log, "log of %s after a restart" % d)
    check("ThreadSanitizer" not in h.log(),
          "a data race: " + h.log()[h.log().find("WARNING: Thread"):][:600])
