/*
 * store_compact: retention and compaction. The registry is rewritten in
 * place; the journal by a thread while the loop serves (the records kept
 * of the journal as it was when the compaction began, gathered in steps),
 * then the records written meanwhile are appended and the new file renamed
 * in.
 */
#include "store_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The journal is not compacted below this size: rewriting a small file buys
 * nothing. */
#define STORE_COMPACT_MIN ((off_t)8 << 20)
/* The catch-up copies what was written since the fork point in rounds on a
 * thread, each round what the one before let accumulate; once what is
 * left is this small, the loop copies it itself and renames the file in
 * (nothing may be written meanwhile). 256 KiB copy in about a millisecond:
 * the last step stays well within a loop pass of 10 ms. */
#define STORE_COMPACT_SYNC_MAX ((off_t)256 << 10)
/* Rounds before the loop copies the rest whatever its size: when the
 * journal grows faster than a thread copies it, rounds would never end and
 * the old journal never be replaced. */
#define STORE_COMPACT_ROUNDS 16
/* Events whose offsets one loop pass moves to the new journal once it is
 * renamed in (settling): 2,048 cost about a millisecond (a walk of the
 * events, their deliveries and the map, in order), so a journal of a
 * million events settles in about 500 passes (2.5 s when idle, a pass
 * every MAIN_COMPACT_ROUND_MS) without one of them nearing 10 ms. An event
 * needed before the cursor reaches it is moved on demand. */
#define STORE_SETTLE_PER_PASS 2048
/* Records (events and deliveries) the marking judges and plans a pass: a
 * walk of the events and their deliveries is a cache miss or two each,
 * plus a plan entry written; 16,384 take about 1 ms (issue 20: no pass
 * over 10 ms), a million-event journal about 125 passes. A variable so
 * that the unit tests can take smaller steps. */
static size_t compact_mark_per_pass = 16384;

/* A compaction in progress. The fork point: the journal's size and its
 * events when it started (the new journal keeps what it needs of bytes
 * [0, fork_size), the rest comes by the tail's copy). The marking: events
 * [0, mark_i) of the array are judged (dropping, or planned), a step a
 * pass; an event about to change before the cursor reaches it is judged
 * at once (compact_settle). The copy: the plan's thread writes the new
 * file. Once it is done, the catch-up: the map, and the rounds on their
 * thread; once the new file is renamed in, the settling: the offsets in
 * memory still point into the old journal until the cursor (or
 * compact_settle) moves them, by the map and the tail's changes. */
static struct {
	int64_t compact_now, compact_retention;
	off_t fork_size;
	size_t fork_events;
	uint64_t fork_last_event;	/* the newest event's id at the fork
					   point (0: none) */
	size_t ndropping;	/* events marked dropping */
	int marking;
	size_t mark_i, mark_passes;
	off_t last_size;	/* the journal's size at the last fork point */
	int copying;		/* the plan's thread runs */
	struct compact_plan plan;
	int64_t copy_us;	/* when the copy began, then how long it took */
	int catching_up;
	struct logfile n;
	/* The plan's map (plan.map): the retained events' new offsets and
	 * their deliveries' newest attempts', each in id order. */
	const struct compact_pair *emap, *dmap;
	size_t nemap, ndmap;
	struct tail_copy tc;
	pthread_t thread;
	pthread_mutex_t mu;	/* round_done, round_err */
	int round_running, round_done, round_err, rounds;
	off_t round_to;
	off_t sync_bytes;	/* what the loop copied itself, at the end */
	/* Settling: events [settle_i, settle_n) of the array, ids up to
	 * settle_last_id, may still hold old offsets; the hints are where
	 * the cursor's next lookups in emap and dmap should land. */
	int settling;
	size_t settle_i, settle_n, ehint, dhint;
	uint64_t settle_last_id;
	char done[320];		/* the "compacted" detail, once settled */
	/* The drop's steps (drop_step): how many, the longest (CPU). */
	size_t drop_passes;
	int64_t drop_max_us;
} st_compact = { .mu = PTHREAD_MUTEX_INITIALIZER, .n = { .fd = -1 },
    .plan = { .mu = PTHREAD_MUTEX_INITIALIZER } };

static int round_finished(void);
static int compact_path(char *path, size_t sz);

/* Free what the catch-up holds (the new file's name is unlinked by the
 * caller when it was not renamed in), the plan and its map with it. */
static void
catchup_free(void)
{
	if (st_compact.round_running) {
		/* Only at a stop or a failure: let the round end. */
		pthread_join(st_compact.thread, NULL);
		st_compact.round_running = 0;
	}
	/* The copy's thread stopped before its file is closed: it must not
	 * write to a descriptor the number of which is another file's. */
	plan_free(&st_compact.plan);
	st_compact.copying = 0;
	if (st_compact.n.fd >= 0)
		close(st_compact.n.fd);
	st_compact.n.fd = -1;
	st_idem.held = 0;
	st_compact.emap = st_compact.dmap = NULL;
	st_compact.nemap = st_compact.ndmap = 0;
	tail_copy_free(&st_compact.tc);
	st_compact.catching_up = 0;
	st_compact.settling = 0;
}

void
compact_stop(void)
{
	char path[1200];

	if (st_compact.copying || st_compact.catching_up) {
		catchup_free();
		if (compact_path(path, sizeof(path)) == 0)
			unlink(path);
	}
	/* Settling (and dropping): the new journal is in place; what is
	 * left is memory. */
	if (drop_running()) {
		drop_stop();
		st_compact.ndropping = 0;
	}
	if (st_compact.settling || st_compact.marking)
		catchup_free();
	file_release_finished(1);
	st_compact.marking = 0;	/* the marks are memory only */
	st_compact.rounds = st_compact.round_done = st_compact.round_err = 0;
}

/* An event the retention rules let go: nothing pending, nothing changed
 * within retention. */
static int
expired(const struct event *ev, int64_t now, int64_t retention)
{
	const struct delivery *d;

	/* A gateway request not yet completed is kept whatever its age: its
	 * completion is still to come. */
	if (ev->pending > 0 || ev->gw == STORE_GW_FORWARDING ||
	    now - ev->created_at < retention)
		return 0;
	for (d = ev->deliveries; d != NULL; d = d->next_in_event)
		if (d->inflight || now - d->updated_at < retention)
			return 0;
	return 1;
}

/*
 * Crash safety of compaction: each new file is written beside the old one
 * (.compact), fsync'd, then renamed over it, and the directory fsync'd.
 * Before the rename the old file is whole and in use; after it the new one
 * holds every record still needed, durable before the rename, so whichever
 * name a power loss leaves is a whole file. Leftover .compact and .map files
 * are never read at start and are truncated by the next compaction.
 */

/* Rewrite the registry from memory: it is small, so this is done in place
 * and synchronously. 0 or -1. After a crash before the rename the old
 * registry is used; after it the new one, which has each client and
 * endpoint's current record and no deletions (they are applied). If the
 * directory fsync fails, nothing more is acknowledged (sync_lost). */
static int
compact_registry(void)
{
	char tmp[1200];
	struct logfile n = { .fd = -1 }, old = st_files.reg;
	size_t i;

	if (snprintf(tmp, sizeof(tmp), "%s.compact", st_files.reg.path) >=
	    (int)sizeof(tmp))
		return -1;
	n.fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	if (n.fd < 0)
		return -1;
	memcpy(n.path, st_files.reg.path, sizeof(n.path));
	st_files.reg = n;
	for (i = 0; i < st_registry.clients.n; i++)
		if (client_record(st_registry.clients.v[i]) < 0)
			goto fail;
	for (i = 0; i < st_registry.endpoints.n; i++)
		if (endpoint_record(st_registry.endpoints.v[i]) < 0)
			goto fail;
	if (io_fsync(st_files.reg.fd) != 0 || io_rename(tmp, old.path) != 0)
		goto fail;
	/* Renamed: the new file is the registry now, whatever the directory
	 * fsync says; going back to old.fd would append to an unlinked file.
	 * If the rename may not be durable, nothing more is acknowledged. */
	if (util_fsync_dir(st_files.dir, io_fsync) != 0)
		sync_lost();
	close(old.fd);
	st_files.reg.dirty = 0;
	return 0;
fail:
	close(st_files.reg.fd);
	unlink(tmp);
	st_files.reg = old;
	return -1;
}

static int
compact_path(char *path, size_t sz)
{
	if (snprintf(path, sz, "%s.compact", st_files.jrn.path) >= (int)sz) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

/* Why the plan could not grow (compact_settle cannot say it): the next
 * marking step fails the compaction. 0: nothing. */
static int plan_errno;

/* Judge ev: dropping when retention lets it go, else planned (early: ahead
 * of the marking's cursor). 0, or -1 out of memory. */
static int
mark_one(struct event *ev, int early)
{
	ev->dropping = (uint8_t)expired(ev, st_compact.compact_now,
	    st_compact.compact_retention);
	st_compact.ndropping += ev->dropping;
	return ev->dropping ? 0 : plan_add(&st_compact.plan, ev, early);
}

/* Clear every mark after a compaction that could not start or failed.
 * O(n) in one pass, on failures only. */
static void
compact_unmark(void)
{
	size_t i;

	for (i = 0; i < st_journal.events.n; i++) {
		struct event *ev = st_journal.events.v[i];

		ev->dropping = 0;
		if (st_compact.marking)
			ev->moved = 0;
	}
	st_compact.ndropping = 0;
	st_compact.marking = 0;
	plan_free(&st_compact.plan);
	st_idem.held = 0;
}

/*
 * Steps: the registry is compacted (synchronously); the fork point is
 * taken (the journal's batch written out: the copy reads the file, not
 * memory); the events are judged and the kept ones planned, a step a pass
 * (compact_mark_step); then a thread copies the plan to the new file. A
 * crash at any step leaves the journal as it was; see compact_registry for
 * the registry.
 *
 * The plan is the journal as it was at the fork point: an event is
 * planned either by the cursor, unchanged since, or, when it is about to
 * change first (a record of it written, its offsets moved: every such
 * place calls compact_settle), right then, as it still is. What changes
 * after is in the records past the fork point, which the tail's copy
 * brings. A requeue (store_delivery_requeue) writes no offset and plans
 * nothing: the cursor then plans the delivery pending, with a requeue
 * record as the tail's, and the state after both is the tail's.
 */
int
store_compact_start(int64_t now, int64_t retention_ms, int force)
{
	char path[1200];

	/* Called once a minute: the expired Idempotency-Keys go even when no
	 * request comes to free them. */
	idem_expire(now, 16 * IDEM_EXPIRE_MAX);
	if (st_compact.copying || st_compact.catching_up ||
	    st_compact.settling || st_compact.marking ||
	    !file_release_finished(0)) {
		errno = EBUSY;
		return -1;
	}
	/* The registry's file is about to be replaced: no fsync of it may be
	 * under way in the sync thread. */
	if (store_sync_end() != 0)
		return -1;
	if (!force && (st_files.jrn.size < STORE_COMPACT_MIN ||
	    st_files.jrn.size < 2 * st_compact.last_size))
		return 0;
	/* Removals under way end first: the new registry lacks a deleted
	 * endpoint, so its deliveries must be settled in the journal as it
	 * is at the fork point (else replay would take them for orphans).
	 * Those deleted from here on are deletion records in the new
	 * registry. */
	store_reap_all();
	if (compact_path(path, sizeof(path)) != 0 || compact_registry() != 0)
		return -1;
	/* The fork point. */
	if (file_flush(&st_files.jrn) != 0) {
		int e = errno;

		sync_lost();
		errno = e;
		return -1;
	}
	st_compact.fork_size = st_files.jrn.size;
	st_compact.last_size = st_compact.fork_size;
	st_compact.fork_events = st_journal.events.n;
	st_compact.fork_last_event = st_journal.events.n > 0 ? ((struct event *)
	    st_journal.events.v[st_journal.events.n - 1])->id : 0;
	plan_free(&st_compact.plan);
	st_compact.plan.now = now;
	st_compact.plan.idem_first = st_idem.head;
	st_compact.plan.idem_last = st_idem.tail;
	st_compact.plan.slow_ms = st_files.fault_compact_slow;
	st_compact.plan.max_log = store_max_log;
	st_idem.held = st_idem.head != NULL;
	plan_errno = 0;
	/* Judged a step a pass. A marked event is frozen until the
	 * compaction ends: nothing requeues or replays it
	 * (store_delivery_requeue, replay's filter). Events appended
	 * meanwhile are newer than retention, never expired, and in the
	 * tail. */
	st_compact.ndropping = 0;
	st_compact.mark_i = 0;
	st_compact.mark_passes = 0;
	st_compact.marking = 1;
	st_compact.compact_now = now;
	st_compact.compact_retention = retention_ms;
	return 1;
}

/* Open the new file and start the plan's thread. 0, or -1 (errno). */
static int
copy_start(void)
{
	char path[1200], map[1200];
	struct tail_copy *tc = &st_compact.tc;

	if (compact_path(path, sizeof(path)) != 0)
		return -1;
	/*
	 * A .compact left by a hookd killed midway is unlinked and made anew
	 * (O_EXCL): an inode of its own, whatever had it open. A .map file
	 * left by a version that forked a child is no use to anyone.
	 */
	(void)unlink(path);
	if (snprintf(map, sizeof(map), "%s.map", st_files.jrn.path) <
	    (int)sizeof(map))
		(void)unlink(map);
	st_compact.n.fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC |
	    O_NOFOLLOW, 0600);
	if (st_compact.n.fd < 0)
		return -1;
	memcpy(st_compact.n.path, st_files.jrn.path,
	    sizeof(st_compact.n.path));
	tail_copy_free(tc);
	tc->src_fd = st_files.jrn.fd;
	tc->dst_fd = st_compact.n.fd;
	tc->fork_size = st_compact.fork_size;
	st_compact.plan.tc = tc;
	st_compact.copy_us = util_mono_us();
	if (plan_copy_start(&st_compact.plan) != 0) {
		close(st_compact.n.fd);
		st_compact.n.fd = -1;
		unlink(path);
		return -1;
	}
	st_compact.copying = 1;
	return 0;
}

/* One pass of marking: events judged and planned until
 * compact_mark_per_pass records (each event and its deliveries) are; once
 * all are, the copy starts. 0 while marking or started, -1 with err set
 * when the copy cannot start (the marks are cleared). */
static int
compact_mark_step(char *err, size_t errsz)
{
	size_t budget = compact_mark_per_pass;

	/* HOOKD_FAULT mark_per_pass=N (tests): smaller steps, so that a
	 * test changes events ahead of the cursor. */
	if (st_files.fault_mark_per_pass > 0)
		budget = (size_t)st_files.fault_mark_per_pass;
	st_compact.mark_passes++;
	while (st_compact.mark_i < st_compact.fork_events && budget > 0 &&
	    plan_errno == 0) {
		struct event *ev = st_journal.events.v[st_compact.mark_i++];
		size_t cost = 1 + ev->ndeliveries;

		if (ev->moved) {
			ev->moved = 0;	/* planned ahead, when it changed */
			continue;
		}
		if (mark_one(ev, 0) != 0)
			plan_errno = errno;
		budget = cost >= budget ? 0 : budget - cost;
	}
	if (plan_errno != 0) {
		errno = plan_errno;
		goto fail;
	}
	if (st_compact.mark_i < st_compact.fork_events)
		return 0;
	st_compact.marking = 0;
	if (copy_start() == 0)
		return 0;
fail:
	snprintf(err, errsz, "cannot start the compaction's copy: %s",
	    strerror(errno));
	st_compact.marking = 1;	/* the moved flags too */
	compact_unmark();
	return -1;
}

/* A round of the catch-up, on its own thread: copy up to round_to, then
 * make it durable, so that the last step's fsync has little left. It
 * touches only its tail_copy (the old journal's bytes below round_to are
 * written and never change; the new file is the round's alone). */
static void *
round_thread(void *arg)
{
	struct tail_copy *tc = arg;
	int r;

	r = tail_copy_run(tc, st_compact.round_to);
	if (r == 0)
		r = util_fsync(tc->dst_fd);
	pthread_mutex_lock(&st_compact.mu);
	st_compact.round_err = r != 0 ? errno : 0;
	st_compact.round_done = 1;
	pthread_mutex_unlock(&st_compact.mu);
	return NULL;
}

/* Start a round of the catch-up up to the journal's written end. 0, or -1
 * (errno) when no thread can start: the caller copies synchronously. */
static int
round_start(void)
{
	st_compact.round_to = st_files.jrn.size - (off_t)st_files.jrn.pend.len;
	st_compact.round_done = 0;
	st_compact.round_err = 0;
	st_compact.rounds++;
	if (pthread_create(&st_compact.thread, NULL, round_thread,
	    &st_compact.tc) != 0)
		return -1;
	st_compact.round_running = 1;
	return 0;
}

/* 1 when the round running is done (joined; round_err says how), 0 while
 * it runs. */
static int
round_finished(void)
{
	int done;

	pthread_mutex_lock(&st_compact.mu);
	done = st_compact.round_done;
	pthread_mutex_unlock(&st_compact.mu);
	if (!done)
		return 0;
	pthread_join(st_compact.thread, NULL);
	st_compact.round_running = 0;
	return 1;
}

int
store_compact_catching_up(void)
{
	return st_compact.round_running || st_compact.settling ||
	    st_compact.marking || st_compact.copying;
}

/* The plan's copy is done: take its map and set up the catch-up. O(1) on
 * the loop: the map is looked up by id where needed, never walked here.
 * 0, or -1 with err set (the caller abandons the compaction). */
static int
catchup_begin(char *err, size_t errsz)
{
	const uint64_t *hdr = st_compact.plan.map;
	struct tail_copy *tc = &st_compact.tc;

	st_compact.copying = 0;
	st_compact.catching_up = 1;
	st_idem.held = 0;	/* the keys are copied */
	st_compact.copy_us = util_mono_us() - st_compact.copy_us;
	if (st_compact.plan.err != 0) {
		snprintf(err, errsz, "compaction: %s",
		    strerror(st_compact.plan.err));
		return -1;
	}
	/* It copied every event and delivery planned. */
	if (hdr == NULL || hdr[0] != st_compact.plan.nev ||
	    hdr[1] != st_compact.plan.ndlv) {
		snprintf(err, errsz, "compaction map does not match its plan");
		return -1;
	}
	st_compact.nemap = (size_t)hdr[0];
	st_compact.ndmap = (size_t)hdr[1];
	st_compact.emap = (const struct compact_pair *)(hdr + 2);
	st_compact.dmap = st_compact.emap + st_compact.nemap;
	tc->from = st_compact.fork_size;
	tc->shift = tc->dst_size - st_compact.fork_size;
	tc->dmap = st_compact.dmap;
	tc->ndmap = st_compact.ndmap;
	st_compact.rounds = 0;
	return 0;
}

/* Offset off (an old journal's, of object id) in the new journal: below
 * the fork point by the plan's map v (n pairs), past it by the tail's
 * shift and changes; -1 stays -1. An id missing from the map (which has
 * every retained object of before the fork point) gives -1: a read then fails
 * cleanly rather than read another record. */
static off_t
settle_off(off_t off, uint64_t id, const struct compact_pair *v, size_t n,
    size_t *hint)
{
	if (off < 0)
		return off;
	if (off >= st_compact.fork_size)
		return tail_new_off(&st_compact.tc, off);
	return compact_pair_find(v, n, id, hint);
}

/* Move ev's offsets and its deliveries' to the new journal. With hints
 * (the cursor, walking in id order) each lookup is O(1); without, a
 * binary search. */
static void
settle_event(struct event *ev, int hints)
{
	struct delivery *d;

	ev->off = settle_off(ev->off, ev->id, st_compact.emap,
	    st_compact.nemap, hints ? &st_compact.ehint : NULL);
	for (d = ev->deliveries; d != NULL; d = d->next_in_event)
		d->last_off = settle_off(d->last_off, d->id, st_compact.dmap,
		    st_compact.ndmap, hints ? &st_compact.dhint : NULL);
}

void
compact_settle(struct event *ev)
{
	const struct event *cur;

	if (st_compact.marking) {
		/* Not yet judged, and about to change: planned as it is
		 * (the cursor skips it). */
		if (ev->moved || ev->id > st_compact.fork_last_event ||
		    st_compact.mark_i >= st_compact.fork_events ||
		    ev->id < ((const struct event *)st_journal.events.v[
		    st_compact.mark_i])->id)
			return;
		if (mark_one(ev, 1) != 0 && plan_errno == 0)
			plan_errno = errno;
		ev->moved = 1;
		return;
	}
	if (!st_compact.settling || ev->id > st_compact.settle_last_id ||
	    ev->moved || st_compact.settle_i >= st_compact.settle_n)
		return;
	/* Behind the cursor: moved already (the array is in id order and
	 * keeps its events while settling: only a compaction removes). */
	cur = st_journal.events.v[st_compact.settle_i];
	if (ev->id < cur->id)
		return;
	settle_event(ev, 0);
	ev->moved = 1;
}

/* One pass's share of the settling: the cursor moves the next
 * STORE_SETTLE_PER_PASS events (those moved on demand it only unmarks).
 * 1 with err set to the compaction's summary when it is done (the map
 * is then let go), else 0. */
static int
settle_step(char *err, size_t errsz)
{
	size_t end = st_compact.settle_i + STORE_SETTLE_PER_PASS;

	if (end > st_compact.settle_n)
		end = st_compact.settle_n;
	for (; st_compact.settle_i < end; st_compact.settle_i++) {
		struct event *ev = st_journal.events.v[st_compact.settle_i];

		if (ev->moved)
			ev->moved = 0;
		else
			settle_event(ev, 1);
	}
	if (st_compact.settle_i < st_compact.settle_n || !file_release_finished(0))
		return 0;
	file_release_start(-1, st_compact.plan.map, st_compact.plan.maplen);
	st_compact.plan.map = NULL;
	catchup_free();
	snprintf(err, errsz, "%s", st_compact.done);
	return 1;
}

/* The last step, on the loop: copy what is left (flushed first), fsync the
 * new file, rename it over journal.log, fsync the directory, drop what
 * retention let go, then start the settling (settle_step): the offsets in
 * memory move over in steps, each event's at the latest when it is next
 * read or written (compact_settle). 1 when settled already, 0 while
 * settling, or -1 with err set. A crash before the rename leaves the old
 * journal, which holds every record (those written since the fork point
 * too);
 * after it, the new journal holds them all except what retention dropped,
 * fsync'd before the rename, including tail records the old file had not
 * fsync'd yet. Settling changes nothing on disk: a restart meanwhile
 * replays the new journal. */
static int
catchup_end(const char *path, char *err, size_t errsz)
{
	struct tail_copy *tc = &st_compact.tc;
	off_t from = tc->from;
	size_t dropped = 0;

	/* The journal's file is about to be replaced: finish any fsync of it
	 * in the sync thread first. */
	if (store_sync_end() != 0) {
		snprintf(err, errsz, "fsync failed");
		return -1;
	}
	/* The records batched since the last round are copied from the
	 * file. */
	if (file_flush(&st_files.jrn) != 0) {
		snprintf(err, errsz, "compaction: %s", strerror(errno));
		sync_lost();
		return -1;
	}
	if (tail_copy_run(tc, st_files.jrn.size) != 0 ||
	    io_fsync(st_compact.n.fd) != 0 ||
	    io_rename(path, st_files.jrn.path) != 0) {
		snprintf(err, errsz, "compaction: %s", strerror(errno));
		return -1;
	}
	st_compact.sync_bytes = st_files.jrn.size - from;
	/* Renamed: from here on n is the journal (as in compact_registry). */
	if (util_fsync_dir(st_files.dir, io_fsync) != 0)
		sync_lost();
	file_release_start(st_files.jrn.fd, NULL, 0);
	st_files.jrn.fd = st_compact.n.fd;
	st_files.jrn.size = tc->dst_size;
	st_files.jrn.reserved = 0;	/* the new file reserves afresh */
	st_files.jrn.dirty = 0;
	st_compact.n.fd = -1;
	st_compact.catching_up = 0;
	dropped = st_compact.ndropping;
	if (dropped > 0) {
		st_compact.drop_passes = 0;
		st_compact.drop_max_us = 0;
		drop_begin(dropped);
	}
	/* The tail's copy buffers go; its changes stay for the settling. */
	buf_free(&tc->in);
	buf_free(&tc->out);
	buf_free(&tc->rec);
	free(tc->toks);
	tc->toks = NULL;
	tc->ntoks = 0;
	snprintf(st_compact.done, sizeof(st_compact.done),
	    "journal compacted: %zu events dropped, %lld bytes; marked in "
	    "%zu passes, copied in %.1f s off the loop; %d rounds off the "
	    "loop, %lld bytes copied in it", dropped,
	    (long long)st_files.jrn.size, st_compact.mark_passes,
	    (double)st_compact.copy_us / 1e6, st_compact.rounds,
	    (long long)st_compact.sync_bytes);
	st_compact.settling = 1;
	st_compact.settle_i = 0;
	st_compact.settle_n = st_journal.events.n;
	st_compact.settle_last_id = st_journal.events.n > 0 ?
	    ((struct event *)st_journal.events.v[st_journal.events.n - 1])->id :
	    0;
	st_compact.ehint = st_compact.dhint = 0;
	/* The drop's steps first, then the settling's (store_compact_poll);
	 * until then compact_settle moves an event on demand. */
	if (drop_running())
		return 0;
	return settle_step(err, errsz);
}

/* Steps once the plan's copy is done: catchup_begin, then rounds of the
 * catch-up on a thread (each copies what was written during the one
 * before) until what is left is small, then catchup_end on the loop,
 * then settle_step each pass until every offset is moved. */
int
store_compact_poll(char *err, size_t errsz)
{
	char path[1200];
	int r;

	if (drop_running()) {
		/* CPU, not wall: on a loaded machine a step preempted
		 * midway would say nothing about the step. */
		int64_t t0 = util_thread_cpu_us();
		int swapped = 0, done = drop_step(&swapped);
		size_t len = strlen(st_compact.done);

		/* The events array changed: the settling's cursor, still
		 * at its start, goes over what is left of the events it is
		 * to move (compact_settle reads its first). */
		if (swapped)
			st_compact.settle_n = vec_after(&st_journal.events,
			    st_compact.settle_last_id);
		if (done)
			st_compact.ndropping = 0;

		t0 = util_thread_cpu_us() - t0;
		st_compact.drop_passes++;
		if (t0 > st_compact.drop_max_us)
			st_compact.drop_max_us = t0;
		/* The "compacted" line says how the drop went. */
		if (done)
			snprintf(st_compact.done + len,
			    sizeof(st_compact.done) - len, "; dropped in %zu "
			    "passes, the longest %.1f ms of CPU",
			    st_compact.drop_passes,
			    (double)st_compact.drop_max_us / 1000);
		return 0;
	}
	if (st_compact.settling)
		return settle_step(err, errsz);
	if (st_compact.marking)
		return compact_mark_step(err, errsz);
	if (!st_compact.copying && !st_compact.catching_up)
		return 0;
	(void)compact_path(path, sizeof(path));
	if (st_compact.copying) {
		if (!plan_copy_finished(&st_compact.plan))
			return 0;
		if (catchup_begin(err, errsz) != 0)
			goto fail;
	} else if (st_compact.round_running) {
		if (!round_finished())
			return 0;
		if (st_compact.round_err != 0) {
			snprintf(err, errsz, "compaction: %s",
			    strerror(st_compact.round_err));
			goto fail;
		}
	}
	/* Another round while much is left (and rounds remain); a thread
	 * that cannot start leaves the copy to the loop. */
	if (st_files.jrn.size - (off_t)st_files.jrn.pend.len -
	    st_compact.tc.from > STORE_COMPACT_SYNC_MAX &&
	    st_compact.rounds < STORE_COMPACT_ROUNDS && round_start() == 0)
		return 0;
	r = catchup_end(path, err, errsz);
	if (r >= 0)
		return r;
fail:
	compact_unmark();
	catchup_free();
	unlink(path);
	return -1;
}
