/*
 * store_compact: retention and compaction. The registry is rewritten in
 * place; the journal by a forked child while the parent serves, then the
 * records written meanwhile are appended and the new file renamed in.
 */
#ifndef _XOPEN_SOURCE
/* nice(2), XSI: the compaction child lowers its own priority. */
#define _XOPEN_SOURCE 700
#endif
#include "store_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* The journal is not compacted below this size: rewriting a small file buys
 * nothing. */
#define STORE_COMPACT_MIN ((off_t)8 << 20)
/* The catch-up copies what was written while the child ran in rounds on a
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
/* How much the compaction child raises its nice value: ten steps are a
 * tenth of the loop's CPU weight (sched(7): each step about 1.25 times),
 * so on a machine with fewer free cores than busy tasks the loop preempts
 * it at once, and it still gets about a tenth of a core. */
#define COMPACT_CHILD_NICE 10

/* A compaction in progress: its child, and the journal as it was at the
 * fork (the child copies events [0, fork_events) of bytes [0, fork_size));
 * once the child is done, the catch-up: the new file, the map, and the
 * round on its thread; once the new file is renamed in, the settling:
 * the offsets in memory still point into the old journal until the cursor
 * (or compact_settle) moves them, by the map and the tail's changes. */
static struct {
	pid_t child;
	pid_t parent;		/* the child's hookd, to see it gone */
	int64_t compact_now, compact_retention;
	off_t fork_size;
	size_t fork_events, fork_deliveries;
	/* The newest delivery id at the fork: a pre-fork gateway request
	 * completed since has newer deliveries, which the child did not see
	 * (their records are in the tail). */
	uint64_t fork_last_dlv;
	size_t ndropping;	/* events marked dropping */
	/* Marking: events [0, mark_i) of the array are marked; the fork
	 * comes once every event is (compact_mark_step). */
	int marking;
	size_t mark_i;
	off_t last_size;	/* the journal's size at the last fork */
	int64_t fork_us;	/* how long fork() took, for the log */
	int catching_up;
	struct logfile n;
	/* The child's map file, mapped: two counts, then the retained
	 * events' new offsets and their deliveries' newest attempts', each
	 * in id order (compact_child). */
	void *mapmem;
	size_t maplen;
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
} st_compact = { .mu = PTHREAD_MUTEX_INITIALIZER, .n = { .fd = -1 } };

static int round_finished(void);
static int compact_paths(char *path, char *mappath, size_t sz);

/* Free what the catch-up holds (the new file's name is unlinked by the
 * caller when it was not renamed in). */
static void
catchup_free(void)
{
	if (st_compact.round_running) {
		/* Only at a stop or a failure: let the round end. */
		pthread_join(st_compact.thread, NULL);
		st_compact.round_running = 0;
	}
	if (st_compact.n.fd >= 0)
		close(st_compact.n.fd);
	st_compact.n.fd = -1;
	if (st_compact.mapmem != NULL)
		munmap(st_compact.mapmem, st_compact.maplen);
	st_compact.mapmem = NULL;
	st_compact.emap = st_compact.dmap = NULL;
	st_compact.nemap = st_compact.ndmap = 0;
	tail_copy_free(&st_compact.tc);
	st_compact.catching_up = 0;
	st_compact.settling = 0;
}

void
compact_stop(void)
{
	char path[1200], mappath[1200];

	if (st_compact.child > 0) {
		kill(st_compact.child, SIGKILL);
		waitpid(st_compact.child, NULL, 0);
	}
	if (st_compact.catching_up) {
		catchup_free();
		if (compact_paths(path, mappath, sizeof(path)) == 0) {
			unlink(path);
			unlink(mappath);
		}
	}
	/* Settling (and dropping): the new journal is in place; what is
	 * left is memory. */
	if (drop_running()) {
		drop_stop();
		st_compact.ndropping = 0;
	}
	if (st_compact.settling)
		catchup_free();
	file_release_finished(1);
	st_compact.marking = 0;	/* the marks are memory only */
	st_compact.child = 0;
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

/* Order of struct compact_pair by id (qsort). */
static int
pair_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct compact_pair *)a)->id;
	uint64_t y = ((const struct compact_pair *)b)->id;

	return x < y ? -1 : x > y;
}

/* Write all n bytes of p to fd. 0 or -1. */
static int
write_full(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = write(fd, c, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

/* The child: write the retained records of the journal as it was at the
 * fork to path, and the new offsets to map: the number of retained events
 * and of their deliveries (two uint64_t), then each event's id and new
 * offset (struct compact_pair, in id order as the array is), then each
 * delivery's id and newest attempt's new offset (-1 none), sorted by id,
 * so that the parent looks either up by id. Exits 0 on success. It only
 * reads the old journal (made durable before the fork) and writes new
 * files: a crash or kill of the child, or of the parent meanwhile, leaves
 * the old journal whole and in use; the parent sees a failed child and
 * removes its files. */
/* HOOKD_FAULT compact_slow=MS (tests): the child waits that long before it
 * writes, leaving when its parent is gone, as the copy loop does. */
static void
child_wait_fault(void)
{
	struct timespec ts = { 0, 50 * 1000000L };
	long waited;

	for (waited = 0; waited < st_files.fault_compact_slow; waited += 50) {
		if (getppid() != st_compact.parent)
			_exit(1);
		nanosleep(&ts, NULL);
	}
}

/* The child's map of deliveries (event_copy's note): dm grown as needed. */
struct child_dmap {
	struct compact_pair *dm;
	size_t ndm, cap;
};

static int
child_note(uint64_t id, off_t off, void *arg)
{
	struct child_dmap *m = arg;

	struct compact_pair *dm = util_grow(m->dm, &m->cap, m->ndm + 1,
	    sizeof(*dm), 1024);

	if (dm == NULL)
		return -1;
	m->dm = dm;
	m->dm[m->ndm].id = id;
	m->dm[m->ndm++].off = off;
	return 0;
}

static void
compact_child(const char *path, const char *mappath)
{
	struct logfile n = { .fd = -1 };
	struct event_copy ec = {0};
	struct child_dmap m = {0};
	size_t i, nem = 0;
	struct compact_pair *em = NULL;
	size_t em_cap = 0;
	uint64_t hdr[2];
	int mfd, keep[3];

	/*
	 * A .compact or .map left by a hookd killed while its child ran may
	 * still be written by that child until it sees its parent gone:
	 * unlinked and made anew (O_EXCL), these are other inodes, which the
	 * old child's writes never reach (opened with O_TRUNC it would have
	 * written into the journal once renamed).
	 */
	(void)unlink(path);
	(void)unlink(mappath);
	n.fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	mfd = open(mappath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
	    O_NOFOLLOW, 0600);
	if (n.fd < 0 || mfd < 0)
		_exit(1);
	/* Nothing of the parent's but the journal it reads: a child that
	 * outlives a killed hookd must not hold its listening socket (a
	 * restart would find the port taken) or its connections. */
	keep[0] = n.fd;
	keep[1] = mfd;
	keep[2] = st_files.jrn.fd;
	util_close_from(3, keep, 3);
	/* The copy is bulk work with no one waiting on it: on a small
	 * machine the loop it was forked from must not wait for a core
	 * behind it (a niced task still gets its share when contended, so
	 * the copy ends). */
	errno = 0;
	if (nice(COMPACT_CHILD_NICE) == -1 && errno != 0)
		errno = 0;	/* kept at the parent's priority: only slower */
	child_wait_fault();
	if (idem_copy_all(&n, st_compact.compact_now) != 0)
		_exit(1);
	for (i = 0; i < st_compact.fork_events; i++) {
		struct event *ev = st_journal.events.v[i];
		off_t o;

		/* Its hookd gone (killed), the work is for nobody. */
		if ((i & 1023) == 0 && getppid() != st_compact.parent)
			_exit(1);
		if (ev->dropping)
			continue;
		if ((em = util_grow(em, &em_cap, nem + 1, sizeof(*em),
		    1024)) == NULL)
			_exit(1);
		if (event_copy(&n, ev, &ec, &o, child_note, &m) != 0)
			_exit(1);
		em[nem].id = ev->id;
		em[nem++].off = o;
	}
	/* Almost sorted already: only a gateway request's deliveries, made
	 * at its completion, are newer than the next events'. */
	if (m.ndm > 0)
		qsort(m.dm, m.ndm, sizeof(*m.dm), pair_cmp);
	hdr[0] = nem;
	hdr[1] = m.ndm;
	if (io_fsync(n.fd) != 0 || write_full(mfd, hdr, sizeof(hdr)) != 0 ||
	    (nem > 0 && write_full(mfd, em, nem * sizeof(*em)) != 0) ||
	    (m.ndm > 0 && write_full(mfd, m.dm, m.ndm * sizeof(*m.dm)) != 0) ||
	    io_fsync(mfd) != 0)
		_exit(1);
	/* Freed although _exit would drop them, so that a leak checker
	 * following the fork (valgrind does) sees a clean child. */
	free(em);
	free(m.dm);
	event_copy_free(&ec);
	_exit(0);
}

static int
compact_paths(char *path, char *mappath, size_t sz)
{
	if (snprintf(path, sz, "%s.compact", st_files.jrn.path) >= (int)sz ||
	    snprintf(mappath, sz, "%s.map", st_files.jrn.path) >= (int)sz)
		return -1;
	return 0;
}

/* Steps: the registry is compacted (synchronously), everything written is
 * made durable (the child copies from the file, not from memory), the
 * expired events are marked, then the child is forked. A crash at any step
 * leaves the journal as it was; see compact_registry for the registry. */
/* Events marked per pass: a walk of 1 M events and their deliveries is
 * about 40 ms of cache misses, beyond any pass's budget (issue 20: 10 ms);
 * 32,768 take about 1 ms. A variable so that the unit tests can take
 * smaller steps. */
static size_t compact_mark_per_pass = 32768;

/* Clear every mark after a compaction that could not start or failed.
 * O(n) in one pass, on failures only. */
static void
compact_unmark(void)
{
	size_t i;

	for (i = 0; i < st_journal.events.n; i++)
		((struct event *)st_journal.events.v[i])->dropping = 0;
	st_compact.ndropping = 0;
	st_compact.marking = 0;
}

int
store_compact_start(int64_t now, int64_t retention_ms, int force)
{
	char path[1200], mappath[1200];

	/* Called once a minute: the expired Idempotency-Keys go even when no
	 * request comes to free them. */
	idem_expire(now, 16 * IDEM_EXPIRE_MAX);
	if (st_compact.child > 0 || st_compact.catching_up ||
	    st_compact.settling || st_compact.marking || !file_release_finished(0)) {
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
	 * endpoint, so its deliveries must be settled in the journal the
	 * child copies (else replay would take them for orphans). */
	store_reap_all();
	if (compact_paths(path, mappath, sizeof(path)) != 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (compact_registry() != 0)
		return -1;
	/* The events are marked a step a pass, then the child forked
	 * (compact_mark_step). A marked event is frozen until the compaction
	 * ends: nothing requeues or replays it (store_delivery_requeue,
	 * replay's filter), and an event unmarked yet when it changes is
	 * judged as it is when its step comes. Events appended meanwhile are
	 * newer than retention, never expired. */
	st_compact.ndropping = 0;
	st_compact.mark_i = 0;
	st_compact.marking = 1;
	st_compact.compact_now = now;
	st_compact.compact_retention = retention_ms;
	return 1;
}

/* One pass of marking: the next compact_mark_per_pass events; once all are,
 * and no removal is under way (store_reap: the registry the child's
 * journal goes with lacks the endpoints removed), fork the child. 0 while
 * marking or started, -1 with err set when the child cannot start (the
 * marks are cleared). */
static int
compact_mark_step(char *err, size_t errsz)
{
	char path[1200], mappath[1200];
	size_t end = st_compact.mark_i + compact_mark_per_pass;
	pid_t pid;

	/* The fork has a pass of its own: at 1 M events it is most of the
	 * 10 ms a pass may take, so no marking goes with it. */
	if (st_compact.mark_i < st_journal.events.n) {
		if (end > st_journal.events.n)
			end = st_journal.events.n;
		for (; st_compact.mark_i < end; st_compact.mark_i++) {
			struct event *ev =
			    st_journal.events.v[st_compact.mark_i];

			ev->dropping = (uint8_t)expired(ev,
			    st_compact.compact_now,
			    st_compact.compact_retention);
			st_compact.ndropping += ev->dropping;
		}
		return 0;
	}
	if (store_reap(0))
		return 0;
	/* Everything the child copies must be on disk first. */
	if (compact_paths(path, mappath, sizeof(path)) != 0 ||
	    store_sync() != 0)
		goto fail;
	st_compact.fork_size = st_files.jrn.size;
	st_compact.fork_events = st_journal.events.n;
	st_compact.fork_deliveries = st_journal.deliveries.n;
	st_compact.fork_last_dlv = st_journal.deliveries.n > 0 ?
	    ((struct delivery *)st_journal.deliveries.v[
	    st_journal.deliveries.n - 1])->id : 0;
	st_compact.parent = getpid();
	st_compact.fork_us = util_mono_us();
	pid = fork();
	if (pid < 0)
		goto fail;
	if (pid == 0)
		compact_child(path, mappath);
	/* A fork copies the page tables: its cost grows with the memory
	 * in use (tens of ms at 1 M events with 4 KiB pages), and it is one
	 * loop pass. The log says it, so an operator can see it. */
	st_compact.fork_us = util_mono_us() - st_compact.fork_us;
	st_compact.marking = 0;
	st_compact.child = pid;
	st_compact.last_size = st_compact.fork_size;
	return 0;
fail:
	snprintf(err, errsz, "cannot start the compaction's child: %s",
	    strerror(errno));
	compact_unmark();
	return -1;
}

/* The new offset of id in the map v (n pairs, in id order), -1 when it is
 * not there. hint, when not NULL, is where the caller's previous lookup
 * ended: a walk in id order finds each next one there at once (O(1)
 * instead of the binary search's O(log n) cache misses). */
static off_t
pair_find(const struct compact_pair *v, size_t n, uint64_t id, size_t *hint)
{
	size_t lo = 0, hi = n;

	if (hint != NULL && *hint < n && v[*hint].id == id)
		return (off_t)v[(*hint)++].off;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (v[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo >= n || v[lo].id != id)
		return -1;
	if (hint != NULL)
		*hint = lo + 1;
	return (off_t)v[lo].off;
}

/* The new offset of the record at old offset off >= fork_size, copied
 * already: shifted like the first tail record, plus what the records
 * before it that changed length added (binary search of the changes). */
static off_t
tail_new_off(const struct tail_copy *tc, off_t off)
{
	size_t lo = 0, hi = tc->nchg;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (tc->chg_old[mid] < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return off + tc->shift + (lo > 0 ? tc->chg_cum[lo - 1] : 0);
}

static int tail_drain(struct tail_copy *tc);

/* Append n bytes to the round's output, written out past
 * STORE_COMPACT_OUT. 0 or -1 (errno). */
static int
tail_out(struct tail_copy *tc, const char *p, size_t n)
{
	if (buf_append(&tc->out, p, n) != 0) {
		errno = ENOMEM;
		return -1;
	}
	return tc->out.len >= STORE_COMPACT_OUT ? tail_drain(tc) : 0;
}

/* Write the round's output at the new file's end. 0 or -1 (errno). */
static int
tail_drain(struct tail_copy *tc)
{
	size_t done = 0;

	while (done < tc->out.len) {
		ssize_t w = pwrite(tc->dst_fd, tc->out.data + done,
		    tc->out.len - done, tc->dst_size + (off_t)done);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = ENOSPC;
			return -1;
		}
		done += (size_t)w;
	}
	tc->dst_size += (off_t)done;
	buf_reset(&tc->out);
	return 0;
}

/* Copy one record line (len bytes, with its newline) from old offset off.
 * An event record goes byte for byte, unparsed: it has no chain pointer
 * (and its data may hold any member names). Another record is parsed
 * once; one with a "prev" at or past 0 gets the new offset of that
 * attempt and a new checksum, and a length change is noted for the
 * offsets of the records after it. 0 or -1 (errno). */
static int
tail_record(struct tail_copy *tc, const char *p, size_t len, off_t off)
{
	static const char ev[] = "{\"t\":\"event\"";
	const char *j = p + 9;
	size_t jl, at, olen;
	int nt, v;
	uint64_t u;
	off_t prev;
	char num[32];
	uint32_t c;
	int i, nl;

	if (len < 11 || p[8] != ' ' || p[len - 1] != '\n') {
		errno = EINVAL;
		return -1;
	}
	jl = len - 10;
	if (jl >= sizeof(ev) - 1 && memcmp(j, ev, sizeof(ev) - 1) == 0)
		return tail_out(tc, p, len);
	for (;;) {
		/* No array yet counts as too small (the parser only counts
		 * without one). */
		nt = tc->ntoks > 0 ? json_parse(j, jl, tc->toks, tc->ntoks) :
		    JSON_ERR_NOMEM;
		if (nt != JSON_ERR_NOMEM)
			break;
		nt = json_parse(j, jl, NULL, 0);
		if (nt <= 0)
			break;
		free(tc->toks);
		if ((tc->toks = malloc((size_t)nt * sizeof(*tc->toks))) ==
		    NULL) {
			tc->ntoks = 0;
			errno = ENOMEM;
			return -1;
		}
		tc->ntoks = (size_t)nt;
	}
	if (nt <= 0) {
		errno = EINVAL;
		return -1;
	}
	v = json_get(j, tc->toks, 0, "prev");
	if (v < 0 || j[tc->toks[v].start] == '-')
		return tail_out(tc, p, len);
	if (util_parse_u64(j + tc->toks[v].start, tc->toks[v].len,
	    (uint64_t)off, &u) != 0) {
		errno = EINVAL;
		return -1;
	}
	if ((off_t)u >= tc->fork_size)
		prev = tail_new_off(tc, (off_t)u);
	else {
		int dv = json_get(j, tc->toks, 0, "d");
		uint64_t did;

		if (dv < 0 || store_parse_id(STORE_DLV, j + tc->toks[dv].start,
		    tc->toks[dv].len, &did) != 0) {
			errno = EINVAL;
			return -1;
		}
		prev = pair_find(tc->dmap, tc->ndmap, did, NULL);
	}
	nl = snprintf(num, sizeof(num), "%lld", (long long)prev);
	at = tc->toks[v].start;
	olen = tc->toks[v].len;
	/* The record with the new number, and its new checksum. */
	buf_reset(&tc->rec);
	buf_append(&tc->rec, p, 9 + at);
	buf_append(&tc->rec, num, (size_t)nl);
	buf_append(&tc->rec, j + at + olen, jl - at - olen + 1);
	if (tc->rec.oom) {
		errno = ENOMEM;
		return -1;
	}
	c = crc32(tc->rec.data + 9, tc->rec.len - 10);
	for (i = 7; i >= 0; i--) {
		tc->rec.data[i] = util_hex_char(c);
		c >>= 4;
	}
	if (tail_out(tc, tc->rec.data, tc->rec.len) != 0)
		return -1;
	if ((size_t)nl != olen) {
		if (tc->nchg == tc->capchg) {
			/* Two arrays of one capacity: each grows from it. */
			size_t cap = tc->capchg, ccap = tc->capchg;
			off_t *a = util_grow(tc->chg_old, &cap, tc->nchg + 1,
			    sizeof(*a), 256);

			if (a == NULL)
				goto oom;
			tc->chg_old = a;
			a = util_grow(tc->chg_cum, &ccap, tc->nchg + 1,
			    sizeof(*a), 256);
			if (a == NULL)
				goto oom;
			tc->chg_cum = a;
			tc->capchg = cap;
		}
		tc->chg_cum[tc->nchg] = (tc->nchg > 0 ?
		    tc->chg_cum[tc->nchg - 1] : 0) + (off_t)nl - (off_t)olen;
		/* Every record after this one moves by the new sum. */
		tc->chg_old[tc->nchg++] = off;
	}
	return 0;
oom:
	errno = ENOMEM;
	return -1;
}

int
tail_copy_run(struct tail_copy *tc, off_t to)
{
	while (tc->from < to) {
		size_t want = STORE_COMPACT_OUT, used = 0;
		ssize_t got;
		char *nlp;

		if ((off_t)want > to - tc->from)
			want = (size_t)(to - tc->from);
		buf_reset(&tc->in);
		for (;;) {
			if (buf_reserve(&tc->in, want) != 0) {
				errno = ENOMEM;
				return -1;
			}
			got = pread(tc->src_fd, tc->in.data + tc->in.len, want,
			    tc->from + (off_t)tc->in.len);
			if (got < 0 && errno == EINTR)
				continue;
			if (got <= 0) {
				if (got == 0)
					errno = EIO;	/* the file is short */
				return -1;
			}
			tc->in.len += (size_t)got;
			/* At least one whole line, or read on. */
			if (memchr(tc->in.data, '\n', tc->in.len) != NULL)
				break;
			if (tc->in.len > STORE_LINE_MAX ||
			    tc->from + (off_t)tc->in.len >= to) {
				errno = EINVAL;
				return -1;
			}
			want = tc->in.len;
		}
		while (used < tc->in.len && (nlp = memchr(tc->in.data + used,
		    '\n', tc->in.len - used)) != NULL) {
			size_t len = (size_t)(nlp - (tc->in.data + used)) + 1;

			if (tail_record(tc, tc->in.data + used, len,
			    tc->from) != 0)
				return -1;
			tc->from += (off_t)len;
			used += len;
		}
	}
	return tail_drain(tc);
}

void
tail_copy_free(struct tail_copy *tc)
{
	buf_free(&tc->in);
	buf_free(&tc->out);
	buf_free(&tc->rec);
	free(tc->toks);
	free(tc->chg_old);
	free(tc->chg_cum);
	memset(tc, 0, sizeof(*tc));
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
	    st_compact.marking;
}

/* The child exited: map its map, open the new file and set up the
 * catch-up. O(1) on the loop: the map is looked up by id where needed,
 * never walked here. 0, or -1 with err set (the caller abandons the
 * compaction). */
static int
catchup_begin(int status, const char *path, const char *mappath, char *err,
    size_t errsz)
{
	struct stat sb;
	const uint64_t *hdr;
	int mfd = -1;
	struct tail_copy *tc = &st_compact.tc;

	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		snprintf(err, errsz, "compaction child failed");
		return -1;
	}
	st_compact.catching_up = 1;
	mfd = open(mappath, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (mfd < 0 || fstat(mfd, &sb) != 0 ||
	    sb.st_size < (off_t)(2 * sizeof(uint64_t))) {
		snprintf(err, errsz, "compaction map unreadable");
		goto fail;
	}
	st_compact.maplen = (size_t)sb.st_size;
	st_compact.mapmem = mmap(NULL, st_compact.maplen, PROT_READ,
	    MAP_PRIVATE, mfd, 0);
	if (st_compact.mapmem == MAP_FAILED) {
		st_compact.mapmem = NULL;
		snprintf(err, errsz, "compaction map unreadable");
		goto fail;
	}
	close(mfd);
	mfd = -1;
	hdr = st_compact.mapmem;
	/* The child saw no more than there was at the fork, and the file
	 * holds exactly what its counts say. */
	if (hdr[0] > st_compact.fork_events ||
	    hdr[1] > st_compact.fork_deliveries ||
	    st_compact.maplen != 2 * sizeof(uint64_t) + (size_t)(hdr[0] +
	    hdr[1]) * sizeof(struct compact_pair)) {
		snprintf(err, errsz, "compaction map does not match");
		goto fail;
	}
	st_compact.nemap = (size_t)hdr[0];
	st_compact.ndmap = (size_t)hdr[1];
	st_compact.emap = (const struct compact_pair *)(hdr + 2);
	st_compact.dmap = st_compact.emap + st_compact.nemap;
	st_compact.n.fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (st_compact.n.fd < 0 || fstat(st_compact.n.fd, &sb) != 0) {
		util_err_set(err, errsz, path, strerror(errno));
		goto fail;
	}
	memcpy(st_compact.n.path, st_files.jrn.path,
	    sizeof(st_compact.n.path));
	tc->src_fd = st_files.jrn.fd;
	tc->dst_fd = st_compact.n.fd;
	tc->fork_size = st_compact.fork_size;
	tc->from = st_compact.fork_size;
	tc->dst_size = sb.st_size;
	tc->shift = sb.st_size - st_compact.fork_size;
	tc->dmap = st_compact.dmap;
	tc->ndmap = st_compact.ndmap;
	st_compact.rounds = 0;
	return 0;
fail:
	if (mfd >= 0)
		close(mfd);
	return -1;
}

/* Offset off (an old journal's, of object id) in the new journal: below
 * the fork by the child's map v (n pairs), past it by the tail's shift
 * and changes; -1 stays -1. An id missing from the map (which the child
 * wrote for every retained pre-fork object) gives -1: a read then fails
 * cleanly rather than read another record. */
static off_t
settle_off(off_t off, uint64_t id, const struct compact_pair *v, size_t n,
    size_t *hint)
{
	if (off < 0)
		return off;
	if (off >= st_compact.fork_size)
		return tail_new_off(&st_compact.tc, off);
	return pair_find(v, n, id, hint);
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
	file_release_start(-1, st_compact.mapmem, st_compact.maplen);
	st_compact.mapmem = NULL;
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
 * journal, which holds every record (those written since the fork too);
 * after it, the new journal holds them all except what retention dropped,
 * fsync'd before the rename, including tail records the old file had not
 * fsync'd yet. Settling changes nothing on disk: a restart meanwhile
 * replays the new journal. */
static int
catchup_end(const char *path, const char *mappath, char *err, size_t errsz)
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
	unlink(mappath);	/* mapped: readable until unmapped */
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
	    "journal compacted: %zu events dropped, %lld bytes; fork %.1f "
	    "ms; %d rounds off the loop, %lld bytes copied in it", dropped,
	    (long long)st_files.jrn.size, (double)st_compact.fork_us / 1000,
	    st_compact.rounds, (long long)st_compact.sync_bytes);
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

/* Steps once the child exited: catchup_begin, then rounds of the
 * catch-up on a thread (each copies what was written during the one
 * before) until what is left is small, then catchup_end on the loop,
 * then settle_step each pass until every offset is moved. */
int
store_compact_poll(char *err, size_t errsz)
{
	char path[1200], mappath[1200];
	int status, r;
	pid_t pid;

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
	if (st_compact.child <= 0 && !st_compact.catching_up)
		return 0;
	compact_paths(path, mappath, sizeof(path));
	if (st_compact.child > 0) {
		pid = waitpid(st_compact.child, &status, WNOHANG);
		if (pid == 0)
			return 0;
		st_compact.child = 0;
		if (pid < 0) {
			snprintf(err, errsz, "compaction child failed");
			goto fail;
		}
		if (catchup_begin(status, path, mappath, err, errsz) != 0)
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
	r = catchup_end(path, mappath, err, errsz);
	if (r >= 0)
		return r;
fail:
	compact_unmark();
	catchup_free();
	unlink(path);
	unlink(mappath);
	return -1;
}
