/*
 * loop: the one poll() of hookd (the redis ae.c role): the file descriptors
 * it watches, one pass of poll and callbacks, and the CLOCK_MONOTONIC time
 * read once per pass.
 */
#ifndef HOOKD_LOOP_H
#define HOOKD_LOOP_H

#include <stddef.h>
#include <stdint.h>

/*
 * A file descriptor the loop polls. The owner embeds it in its own state,
 * sets fd, events (POLLIN/POLLOUT) and cb, and adds it; cb runs with the
 * revents poll reported (POLLHUP/POLLERR included). The loop's slot is its
 * own business (LOOP_WATCH_NONE when not watched, or 0 from a zeroed
 * struct). A watch may be removed (and freed) from inside any callback.
 */
struct watch {
	int fd;
	short events;
	void (*cb)(struct watch *w, short revents);
	size_t slot;
};

/* The slot of a watch that is not watched. */
#define LOOP_WATCH_NONE ((size_t)-1)

/* CLOCK_MONOTONIC ms read once at the top of this loop pass (and by
 * loop_init): every deadline of one pass is judged from the same now. */
extern int64_t loop_now;

/* Read the clock into loop_now, before the first pass. */
void loop_init(void);
/* Start watching w (w stays the caller's). 0, or -1 when out of memory. */
int loop_watch_add(struct watch *w);
/* Stop watching w (safe when it is not watched, and from a callback). */
void loop_watch_del(struct watch *w);
/*
 * One pass: poll every watch for at most timeout_ms (0: do not block; a
 * signal ends the wait early), read the clock into loop_now, then run the
 * callback of each watch with events. 0, or -1 with errno when poll()
 * failed other than by EINTR (the callbacks did not run). The time from
 * the previous poll() returning to this call (the previous pass's work,
 * the caller's too) is counted in metrics (metrics_loop_pass).
 */
int loop_pass(int timeout_ms);
/* Release the loop's arrays (at exit; watches stay their owners'). */
void loop_free(void);

#endif
