/*
 * deliver_policy: an endpoint's delivery policy in the engine (contract
 * §15): the token bucket of rate_limit, the one-at-a-time order of
 * ordering "fifo", and the retry schedule in force. deliver.c asks these
 * before it starts an attempt and tells them when a delivery settles.
 */
#include "deliver_impl.h"

#include "config.h"

/*
 * rate_limit: a token bucket per endpoint, in millionths of a token so
 * that a rate of 0.001 a second still gains a whole number of them each
 * ms. It holds rate_limit tokens (a burst of one second), at least one,
 * and starts full. An attempt takes a token as it starts; a delivery that
 * finds none waits on its endpoint's list (pending, never failed, no
 * attempt counted) and the endpoint goes on eng.rl_head with the time of
 * its next token, which bounds the loop's sleep: no polling, no pass until
 * then. Only that endpoint's deliveries wait.
 */
#define RL_TOKEN 1000000

static int64_t
rl_capacity(const struct endpoint *e)
{
	int64_t cap = (int64_t)e->rate_milli * 1000;

	return cap < RL_TOKEN ? RL_TOKEN : cap;
}

/* Add the tokens gained since e's bucket was last counted. */
void
rl_refill(struct endpoint *e, int64_t now)
{
	if (e->rl_mono == 0) {
		e->rl_units = rl_capacity(e);
		e->rl_mono = now;
		return;
	}
	if (now > e->rl_mono) {
		/* rate_milli thousandths a second: as many millionths a ms.
		 * At most CONFIG_RATE_MAX * 1000 a ms: the elapsed time would
		 * need centuries to overflow. */
		e->rl_units += (now - e->rl_mono) * (int64_t)e->rate_milli;
		e->rl_mono = now;
	}
	if (e->rl_units > rl_capacity(e))
		e->rl_units = rl_capacity(e);
}

/* 1 when e's rate lets an attempt start now; else 0, with e on the list
 * of endpoints awaiting a token (its wake time set). */
int
rate_ready(struct endpoint *e)
{
	int64_t now;

	if (e->rate_milli == 0)
		return 1;
	now = util_mono_ms();
	rl_refill(e, now);
	if (e->rl_units >= RL_TOKEN)
		return 1;
	e->rl_wake = now + (RL_TOKEN - e->rl_units + e->rate_milli - 1) /
	    e->rate_milli;
	if (!e->rl_held) {
		e->rl_held = 1;
		e->rl_next = eng.rl_head;
		eng.rl_head = e;
	}
	return 0;
}

void
rate_take(struct endpoint *e, int manual)
{
	if (e == NULL || e->rate_milli == 0)
		return;
	rl_refill(e, util_mono_ms());
	if (!manual || e->rl_units >= RL_TOKEN)
		e->rl_units -= RL_TOKEN;
}

/* Take e off the list of endpoints awaiting a token (a removal). */
void
rate_unhold(struct endpoint *e)
{
	struct endpoint **pp;

	if (!e->rl_held)
		return;
	for (pp = &eng.rl_head; *pp != NULL; pp = &(*pp)->rl_next)
		if (*pp == e) {
			*pp = e->rl_next;
			break;
		}
	e->rl_held = 0;
	e->rl_next = NULL;
}

/*
 * ordering "fifo": of a fifo endpoint's pending deliveries only one, the
 * first in id (event) order the engine knows of, is scheduled: fifo_cur.
 * Its retries hold back the rest, which are parked on the endpoint's park
 * list in id order, taking no heap slot and no pass. When fifo_cur
 * settles (delivered, failed, forgotten) the first parked one becomes
 * fifo_cur and is scheduled at its own next_at. A delivery made pending
 * again ahead of fifo_cur (a manual retry or replay of an older failed
 * one) takes its place in order: it becomes fifo_cur, and the old one is
 * parked, unless that one's attempt is in flight (the older one then goes
 * next). Other endpoints are never held back.
 */
/* Park d (pending, of fifo endpoint e, not its fifo_cur) in id order: from
 * the tail, where a new delivery belongs. */
static void
fifo_park(struct endpoint *e, struct delivery *d)
{
	struct delivery *p = e->park_tail;

	if (d->heap_index != 0)
		deliver_heap_remove(&eng.q, d);
	while (p != NULL && p->id > d->id)
		p = p->wait_prev;
	d->wait_prev = p;
	d->wait_next = p != NULL ? p->wait_next : e->park_head;
	if (d->wait_next != NULL)
		d->wait_next->wait_prev = d;
	else
		e->park_tail = d;
	if (p != NULL)
		p->wait_next = d;
	else
		e->park_head = d;
	d->waiting = WAIT_PARKED;
}

/* 1 when d (pending, not waiting) may be scheduled as fifo endpoint e's
 * one delivery; 0 when it was parked. */
static int
fifo_admit(struct endpoint *e, struct delivery *d)
{
	struct delivery *cur = e->fifo_cur;

	if (cur == d)
		return 1;
	if (cur != NULL && (cur->id < d->id || cur->inflight)) {
		fifo_park(e, d);
		return 0;
	}
	if (cur != NULL) {
		/* d comes first in event order: cur steps back in line. */
		if (cur->waiting)
			deliver_wait_unlink(&eng.q, cur);
		fifo_park(e, cur);
	}
	e->fifo_cur = d;
	return 1;
}

/* d no longer waits its turn on e (it settled, or was forgotten): when it
 * was e's fifo_cur, the next one in order is scheduled. */
void
fifo_next(struct endpoint *e, struct delivery *d)
{
	struct delivery *n;

	if (e == NULL || e->fifo_cur != d)
		return;
	e->fifo_cur = NULL;
	if ((n = deliver_wait_pop(&e->park_head, &e->park_tail)) != NULL)
		engine_due(n);
}

/*
 * e has just become fifo (a PATCH or a reload of ordering): its pending
 * deliveries were scheduled each at its own time. Its first one in event
 * order becomes fifo_cur, keeping its next_at and its place (heap or wait
 * list); an attempt already in flight counts as the current one instead
 * (the first such in id order). Every other pending one that is not in
 * flight leaves the heap or its wait list and is parked in id order. Only
 * e's own list of deliveries is walked, not the store.
 */
void
fifo_adopt(struct endpoint *e)
{
	struct delivery *d, *cur = NULL;

	for (d = e->dlv_head; d != NULL; d = d->ep_next) {
		if (d->status != STORE_PENDING)
			continue;
		if (cur == NULL || (d->inflight && !cur->inflight) ||
		    (d->inflight == cur->inflight && d->id < cur->id))
			cur = d;
	}
	if (cur == NULL)
		return;
	e->fifo_cur = cur;
	for (d = e->dlv_head; d != NULL; d = d->ep_next) {
		if (d == cur || d->status != STORE_PENDING || d->inflight)
			continue;
		if (d->waiting)
			deliver_wait_unlink(&eng.q, d);
		fifo_park(e, d);
	}
}

/* Of fifo endpoints only: 1 when d may go on, 0 when it was parked. */
int
fifo_ok(struct delivery *d)
{
	return d->endpoint == NULL || !d->endpoint->fifo ||
	    fifo_admit(d->endpoint, d);
}

/* The retry schedule in force for attempts to e (NULL: a one-off or a
 * gateway call): its own, else the global one. */
const int64_t *
policy_schedule(const struct endpoint *e, size_t *n)
{
	if (e != NULL && e->nretry != 0) {
		*n = e->nretry;
		return e->retry_ms;
	}
	*n = config_current()->nretry;
	return config_current()->retry_ms;
}
