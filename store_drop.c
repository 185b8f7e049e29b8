/*
 * store_drop: a compaction's drop of what retention let go, in steps, once
 * the new journal is renamed in (store_compact.c starts it and runs a step
 * a pass before the settling).
 */
#include "store_impl.h"

#include <stdlib.h>
#include <string.h>

/*
 * Dropping what retention let go, in steps (issue 20 item 7: at 1 M
 * expiring events one pass took 0.3 s). From the rename on, the events
 * marked dropping (final, frozen since the marking: nothing requeues them,
 * none of their deliveries waits in a list or the timer heap or is in
 * flight) are gone to every reader: lookups by id, walks and list pages
 * skip them (event_gone). Then, each pass at most compact_drop_per_pass
 * records looked at:
 *   DROP_EP: unlinked from the endpoints' and the clients' one-off lists
 *     (dlv_forget_step: a cursor that a removal moves off its list);
 *   DROP_IDX: from the client-id and (client id, type) lists
 *     (event_index_forget_step);
 *   DROP_ARRAYS: the events and deliveries arrays are copied without them
 *     into new arrays, the status counts of the new one made as it grows
 *     (sidx_next_add; a status change of a delivery copied already is
 *     counted in both). The old arrays only get appends meanwhile (only a
 *     compaction removes, and delivery_link inserts out of id order only
 *     in replay), which the cursors reach in turn; once both are at the
 *     end, the new arrays and counts replace the old ones (O(1)).
 *   DROP_FREE: once no removal is being reaped (a detached list may still
 *     lead through dropped deliveries), the dropped events are freed from
 *     the old events array, which nothing else reads any more.
 * Settling waits meanwhile (an event read or written is moved on demand:
 * compact_settle), then runs as before. Nothing on disk changes in these
 * steps: a crash replays the new journal, which lacks what was dropped.
 */
enum { DROP_NONE, DROP_EP, DROP_IDX, DROP_ARRAYS, DROP_FREE };

/* Records looked at per pass: unlinking, copying a pointer or freeing an
 * event (its deliveries count too) is a cache miss or two each, so
 * 16,384 take 1-3 ms of CPU (measured at 1 M, README); 1 M expiring events
 * take about 500 passes, none near 10 ms. A variable so that the unit
 * tests can take smaller steps. */
static size_t compact_drop_per_pass = 16384;

static struct {
	int stage;
	size_t ei, di;		/* DROP_ARRAYS: the next of each old array */
	struct vec old_events;	/* DROP_FREE: the array before the swap */
	size_t fi;		/* its next event to look at */
	size_t ndropping;	/* events marked dropping */
} st_drop;

void
drop_begin(size_t ndropping)
{
	st_drop.ndropping = ndropping;
	st_journal.drop_hidden = 1;
	dlv_forget_begin();
	st_drop.stage = DROP_EP;
}

/* Set up the new arrays, with room for what is kept (pushes beyond it
 * grow them as usual). 0, or -1 out of memory. */
static int
drop_arrays_begin(void)
{
	size_t ne = st_journal.events.n - st_drop.ndropping;
	struct vec *ve = &st_journal.events_new;
	struct vec *vd = &st_journal.deliveries_new;

	memset(ve, 0, sizeof(*ve));
	memset(vd, 0, sizeof(*vd));
	if ((ve->v = util_grow(NULL, &ve->cap, ne + 1, sizeof(void *),
	    64)) == NULL || (vd->v = util_grow(NULL, &vd->cap,
	    st_journal.deliveries.n + 1, sizeof(void *), 64)) == NULL) {
		free(ve->v);
		memset(ve, 0, sizeof(*ve));
		return -1;
	}
	st_drop.ei = st_drop.di = 0;
	sidx_next_begin();
	return 0;
}

/* Let the new arrays and their status counts go (none, or half built). */
static void
drop_arrays_free(void)
{
	free(st_journal.events_new.v);
	free(st_journal.deliveries_new.v);
	memset(&st_journal.events_new, 0, sizeof(st_journal.events_new));
	memset(&st_journal.deliveries_new, 0,
	    sizeof(st_journal.deliveries_new));
	sidx_next_free();
}

/* Out of memory for the new arrays: filter the old ones in place and free
 * the dropped events, in one pass (as before the steps; only then). The
 * status index is built again at its next use. */
static void
drop_arrays_at_once(void)
{
	size_t i, k;

	drop_arrays_free();
	store_reap_all();
	for (i = 0, k = 0; i < st_journal.deliveries.n; i++) {
		struct delivery *d = st_journal.deliveries.v[i];

		if (!d->event->dropping)
			st_journal.deliveries.v[k++] = d;
	}
	st_journal.deliveries.n = k;
	st_index.sidx_built = 0;
	for (i = 0, k = 0; i < st_journal.events.n; i++) {
		struct event *ev = st_journal.events.v[i];

		if (ev->dropping)
			event_free(ev);
		else
			st_journal.events.v[k++] = ev;
	}
	st_journal.events.n = k;
}

/* One pass's share of DROP_ARRAYS; 1 once the new arrays are in, -1 when
 * they could not be made (drop_arrays_at_once did all), else 0. */
static int
drop_arrays_step(size_t *budget)
{
	struct vec *ve = &st_journal.events_new;
	struct vec *vd = &st_journal.deliveries_new;

	while (*budget > 0 && st_drop.ei < st_journal.events.n) {
		struct event *ev = st_journal.events.v[st_drop.ei];

		(*budget)--;
		if (!ev->dropping && vec_push(ve, ev) != 0)
			goto oom;
		st_drop.ei++;
	}
	while (*budget > 0 && st_drop.di < st_journal.deliveries.n) {
		struct delivery *d = st_journal.deliveries.v[st_drop.di];

		(*budget)--;
		if (!d->event->dropping) {
			if (vec_push(vd, d) != 0)
				goto oom;
			sidx_next_add(d);
		}
		st_drop.di++;
	}
	if (st_drop.ei < st_journal.events.n ||
	    st_drop.di < st_journal.deliveries.n)
		return 0;
	/* Both copied to their end, appends included: swap. */
	st_drop.old_events = st_journal.events;
	st_journal.events = *ve;
	free(st_journal.deliveries.v);
	st_journal.deliveries = *vd;
	memset(ve, 0, sizeof(*ve));
	memset(vd, 0, sizeof(*vd));
	sidx_next_swap();
	return 1;
oom:
	drop_arrays_at_once();
	return -1;
}

void
drop_stop(void)
{
	size_t i;

	if (st_drop.stage == DROP_NONE)
		return;
	dlv_forget_stop();
	event_index_forget_stop();
	drop_arrays_free();
	if (st_drop.old_events.v != NULL) {
		/* A removal's list may still lead through them. */
		store_reap_all();
		for (i = st_drop.fi; i < st_drop.old_events.n; i++) {
			struct event *ev = st_drop.old_events.v[i];

			if (ev->dropping)
				event_free(ev);
		}
		free(st_drop.old_events.v);
	}
	memset(&st_drop, 0, sizeof(st_drop));
	st_journal.drop_hidden = 0;
}

int
drop_running(void)
{
	return st_drop.stage != DROP_NONE;
}

int
drop_step(int *swapped)
{
	size_t budget = compact_drop_per_pass, i;
	int r;

	/* HOOKD_FAULT drop_per_pass=N (tests): smaller steps, so that a
	 * client sees the store between them. */
	if (st_files.fault_drop_per_pass > 0)
		budget = (size_t)st_files.fault_drop_per_pass;

	if (st_drop.stage == DROP_EP) {
		if (!dlv_forget_step(&budget))
			return 0;
		event_index_forget_begin();
		st_drop.stage = DROP_IDX;
	}
	if (st_drop.stage == DROP_IDX) {
		if (!event_index_forget_step(&budget))
			return 0;
		st_drop.stage = DROP_ARRAYS;
		if (drop_arrays_begin() != 0)
			drop_arrays_at_once();
	}
	if (st_drop.stage == DROP_ARRAYS) {
		r = st_journal.events_new.v == NULL ? -1 :
		    drop_arrays_step(&budget);
		if (r == 0)
			return 0;
		/* The events array changed: the caller's settling cursor
		 * is to be set again. */
		*swapped = 1;
		if (r < 0)
			goto done;
		st_drop.fi = 0;
		st_drop.stage = DROP_FREE;
	}
	/* A removal being reaped may lead through dropped deliveries (its
	 * list was detached with them): it ends first, STORE_REAP_PER_PASS
	 * a pass. */
	if (store_reap(0))
		return 0;
	for (i = st_drop.fi; budget > 0 && i < st_drop.old_events.n; i++) {
		struct event *ev = st_drop.old_events.v[i];

		budget--;
		if (ev->dropping) {
			budget -= budget < ev->ndeliveries ? budget :
			    ev->ndeliveries;
			event_free(ev);
		}
	}
	st_drop.fi = i;
	if (i < st_drop.old_events.n)
		return 0;
	free(st_drop.old_events.v);
done:
	memset(&st_drop, 0, sizeof(st_drop));
	st_journal.drop_hidden = 0;
	return 1;
}
