/*
 * loop: the fd watches, one poll() pass over them with their callbacks, the
 * monotonic clock read once per pass, and the time each pass took.
 */
#include "loop.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>

#include "metrics.h"
#include "util.h"

int64_t loop_now;

void
loop_init(void)
{
	loop_now = util_mono_ms();
}

/*
 * watches[i] is polled through pfds[i]. A removed watch leaves a NULL hole
 * until the next pass compacts the array, so a callback may remove any
 * watch (itself, or others) while the loop is still walking this pass's
 * results; watches added meanwhile land past the walked range.
 */
static struct watch **watches;
static struct pollfd *pfds;
static size_t nwatches, watches_cap, watch_holes;
/* When the last poll() returned (µs), 0 before the first: the pass that
 * began then ends when the next poll() is called; and the loop thread's
 * CPU time then (µs). */
static int64_t pass_began_us, pass_began_cpu_us;

int
loop_watch_add(struct watch *w)
{
	if (w->slot < nwatches && watches[w->slot] == w)
		return 0;	/* already watched */
	if (nwatches == watches_cap) {
		/* Two arrays of one capacity: each grows from it. */
		size_t cap = watches_cap, pcap = watches_cap;
		struct watch **nw;
		struct pollfd *np;

		nw = util_grow(watches, &cap, nwatches + 1, sizeof(*nw), 64);
		if (nw == NULL)
			return -1;
		watches = nw;
		np = util_grow(pfds, &pcap, nwatches + 1, sizeof(*np), 64);
		if (np == NULL)
			return -1;
		pfds = np;
		watches_cap = cap;
	}
	w->slot = nwatches;
	watches[nwatches++] = w;
	return 0;
}

void
loop_watch_del(struct watch *w)
{
	if (w->slot >= nwatches || watches[w->slot] != w)
		return;
	watches[w->slot] = NULL;
	w->slot = LOOP_WATCH_NONE;
	watch_holes++;
}

/* Close the holes left by removals (between passes only). */
static void
watch_compact(void)
{
	size_t i, n = 0;

	if (watch_holes == 0)
		return;
	for (i = 0; i < nwatches; i++)
		if (watches[i] != NULL) {
			watches[n] = watches[i];
			watches[n]->slot = n;
			n++;
		}
	nwatches = n;
	watch_holes = 0;
}

int
loop_pass(int timeout_ms)
{
	size_t i, npfd;
	int n;

	/* The pass since the last poll(): its callbacks and everything the
	 * caller did after them (ticks, commits, compaction steps). */
	if (pass_began_us != 0)
		metrics_loop_pass(util_mono_us() - pass_began_us,
		    util_thread_cpu_us() - pass_began_cpu_us);
	watch_compact();
	npfd = nwatches;
	for (i = 0; i < npfd; i++) {
		pfds[i].fd = watches[i]->fd;
		pfds[i].events = watches[i]->events;
		pfds[i].revents = 0;
	}
	n = poll(pfds, (nfds_t)npfd, timeout_ms);
	if (n < 0 && errno != EINTR)
		return -1;
	loop_now = util_mono_ms();
	pass_began_us = util_mono_us();
	pass_began_cpu_us = util_thread_cpu_us();
	for (i = 0; n > 0 && i < npfd; i++) {
		struct watch *w = watches[i];

		/* NULL: removed by an earlier callback this pass. */
		if (pfds[i].revents != 0 && w != NULL)
			w->cb(w, pfds[i].revents);
	}
	return 0;
}

void
loop_free(void)
{
	free(watches);
	free(pfds);
	watches = NULL;
	pfds = NULL;
	nwatches = watches_cap = watch_holes = 0;
	pass_began_us = 0;
}
