/*
 * store_compact: retention and compaction. The registry is rewritten in
 * place; the journal by a forked child while the parent serves, then the
 * records written meanwhile are appended and the new file renamed in.
 */
#include "store_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* The journal is not compacted below this size: rewriting a small file buys
 * nothing. */
#define STORE_COMPACT_MIN ((off_t)8 << 20)

/* A compaction in progress: its child, and the journal as it was at the
 * fork (the child copies events [0, fork_events) of bytes [0, fork_size)). */
static struct {
	pid_t child;
	int64_t compact_now, compact_retention;
	off_t fork_size;
	size_t fork_events, fork_deliveries;
} st_compact;

void
compact_stop(void)
{
	if (st_compact.child > 0) {
		kill(st_compact.child, SIGKILL);
		waitpid(st_compact.child, NULL, 0);
	}
	memset(&st_compact, 0, sizeof(st_compact));
}

/* An event the retention rules let go: nothing pending, nothing changed
 * within retention. */
static int
expired(const struct event *ev, int64_t now, int64_t retention)
{
	const struct delivery *d;

	if (ev->pending > 0 || now - ev->created_at < retention)
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

/* The child: write the retained records of the journal as it was at the
 * fork to path, and the new offsets (each retained event's, then each of its
 * deliveries' newest attempt) to map. Exits 0 on success. It only reads the
 * old journal (made durable before the fork) and writes new files: a crash
 * or kill of the child, or of the parent meanwhile, leaves the old journal
 * whole and in use; the parent sees a failed child and removes its files. */
static void
compact_child(const char *path, const char *mappath)
{
	struct logfile n = { .fd = -1 };
	struct buf rb = {0};
	struct json_tok *toks = NULL;
	const struct idem *key;
	size_t ntoks = 0, i, nmap = 0;
	off_t *chain = NULL, *map = NULL;
	size_t chain_cap = 0, map_cap = 0;
	int mfd;

	n.fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	mfd = open(mappath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC |
	    O_NOFOLLOW, 0600);
	if (n.fd < 0 || mfd < 0)
		_exit(1);
	/* In the queue's order, oldest first: the new journal replays them
	 * in time order. */
	for (key = st_idem.head; key != NULL; key = key->qnext) {
		if (st_compact.compact_now - key->at >= STORE_IDEM_MS)
			continue;
		rec_begin("idem");
		idem_members(key->client, key->key, strlen(key->key),
		    key->has_req ? key->req : NULL, key->status, key->body,
		    key->at);
		if (rec_write(&n) < 0)
			_exit(1);
	}
	for (i = 0; i < st_compact.fork_events; i++) {
		struct event *ev = st_journal.events.v[i];
		struct delivery *d;
		off_t o;

		if (ev->dropping)
			continue;
		if (nmap + 1 + ev->ndeliveries > map_cap) {
			map_cap = (nmap + 1 + ev->ndeliveries) * 2;
			if ((map = realloc(map, map_cap * sizeof(*map))) == NULL)
				_exit(1);
		}
		if ((o = copy_record(&n, ev->off, -2, &rb, &toks, &ntoks)) < 0)
			_exit(1);
		map[nmap++] = o;
		for (d = ev->deliveries; d != NULL; d = d->next_in_event) {
			size_t nc = 0, k;
			off_t c = d->last_off, prev = -1;

			/* The attempts, newest first along the chain; only
			 * the newest max_log_attempts are kept. */
			while (c >= 0 && nc < store_max_log) {
				int v;
				uint64_t p;

				if (nc == chain_cap) {
					chain_cap = chain_cap ? chain_cap * 2 : 16;
					chain = realloc(chain, chain_cap *
					    sizeof(*chain));
					if (chain == NULL)
						_exit(1);
				}
				chain[nc++] = c;
				buf_reset(&rb);
				if (read_record(c, &rb, &toks, &ntoks) <= 0)
					_exit(1);
				v = json_get(rb.data + 9, toks, 0, "prev");
				if (v < 0 || rb.data[9 + toks[v].start] == '-' ||
				    util_parse_u64(rb.data + 9 + toks[v].start,
				    toks[v].len, (uint64_t)c - 1, &p) != 0)
					break;
				c = (off_t)p;
			}
			for (k = nc; k-- > 0;) {
				prev = copy_record(&n, chain[k], prev, &rb,
				    &toks, &ntoks);
				if (prev < 0)
					_exit(1);
			}
			map[nmap++] = nc > 0 ? prev : -1;
			if (d->status == STORE_PENDING && nc > 0) {
				/* Pending again after a final attempt (retry,
				 * replay): say so after its attempts. */
				rec_begin("requeue");
				rec_id("d", STORE_DLV, d->id);
				rec_num("next", d->next_at);
				if (rec_write(&n) < 0)
					_exit(1);
			}
		}
	}
	if (io_fsync(n.fd) != 0 ||
	    write(mfd, map, nmap * sizeof(*map)) != (ssize_t)(nmap *
	    sizeof(*map)) || io_fsync(mfd) != 0)
		_exit(1);
	/* Freed although _exit would drop them, so that a leak checker
	 * following the fork (valgrind does) sees a clean child. */
	free(map);
	free(chain);
	free(toks);
	buf_free(&rb);
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
int
store_compact_start(int64_t now, int64_t retention_ms, int force)
{
	static off_t last_size;
	char path[1200], mappath[1200];
	size_t i;
	pid_t pid;

	/* Called once a minute: the expired Idempotency-Keys go even when no
	 * request comes to free them. */
	idem_expire(now, 16 * IDEM_EXPIRE_MAX);
	if (st_compact.child > 0) {
		errno = EBUSY;
		return -1;
	}
	/* The registry's file is about to be replaced: no fsync of it may be
	 * under way in the sync thread. */
	if (store_sync_end() != 0)
		return -1;
	if (!force && (st_files.jrn.size < STORE_COMPACT_MIN ||
	    st_files.jrn.size < 2 * last_size))
		return 0;
	if (compact_paths(path, mappath, sizeof(path)) != 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (compact_registry() != 0)
		return -1;
	/* Everything the child copies must be on disk first. */
	if (store_sync() != 0)
		return -1;
	for (i = 0; i < st_journal.events.n; i++) {
		struct event *ev = st_journal.events.v[i];

		ev->dropping = (uint8_t)expired(ev, now, retention_ms);
	}
	st_compact.compact_now = now;
	st_compact.compact_retention = retention_ms;
	st_compact.fork_size = st_files.jrn.size;
	st_compact.fork_events = st_journal.events.n;
	st_compact.fork_deliveries = st_journal.deliveries.n;
	pid = fork();
	if (pid < 0) {
		for (i = 0; i < st_journal.events.n; i++)
			((struct event *)st_journal.events.v[i])->dropping = 0;
		return -1;
	}
	if (pid == 0)
		compact_child(path, mappath);
	st_compact.child = pid;
	last_size = st_compact.fork_size;
	return 1;
}

/* The mapped (new) offset of pre-fork delivery id, from the parallel arrays
 * ids/offs (in id order). */
static off_t
map_lookup(const uint64_t *ids, const off_t *offs, size_t n, uint64_t id)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ids[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && ids[lo] == id ? offs[lo] : -1;
}

/* Append the records written since the fork to n, with their offsets and
 * chain pointers moved to n. It runs in the loop, so nothing is written to
 * the old journal between this copy and the rename that follows. */
static int
compact_tail(struct logfile *n, const uint64_t *ids, const off_t *offs,
    size_t nids)
{
	struct buf rb = {0};
	struct json_tok *toks = NULL;
	size_t ntoks = 0;
	off_t off = st_compact.fork_size;
	off_t shift = n->size - st_compact.fork_size;
	int ok = 0;

	while (off < st_files.jrn.size) {
		int nt, v;
		off_t prev = -2, got;
		size_t len;

		buf_reset(&rb);
		nt = read_record(off, &rb, &toks, &ntoks);
		if (nt <= 0)
			goto out;
		len = rb.len + 1;
		v = json_get(rb.data + 9, toks, 0, "prev");
		if (v >= 0) {
			const char *p = rb.data + 9 + toks[v].start;
			uint64_t u;

			if (p[0] == '-')
				prev = -1;
			else if (util_parse_u64(p, toks[v].len, INT64_MAX,
			    &u) != 0)
				goto out;
			else if ((off_t)u >= st_compact.fork_size)
				prev = (off_t)u + shift;
			else {
				int dv = json_get(rb.data + 9, toks, 0, "d");
				uint64_t did;

				if (dv < 0 || store_parse_id(STORE_DLV,
				    rb.data + 9 + toks[dv].start, toks[dv].len,
				    &did) != 0)
					goto out;
				prev = map_lookup(ids, offs, nids, did);
			}
		}
		got = copy_record(n, off, prev, &rb, &toks, &ntoks);
		if (got < 0)
			goto out;
		off += (off_t)len;
	}
	ok = 1;
out:
	free(toks);
	buf_free(&rb);
	return ok ? 0 : -1;
}

/* Steps once the child exited: read the map, append the records written
 * since the fork (compact_tail), fsync the new file, rename it over
 * journal.log, fsync the directory, then move every offset in memory over.
 * A crash before the rename leaves the old journal, which holds every
 * record (those written since the fork too); after it, the new journal
 * holds them all except what retention dropped, fsync'd before the rename,
 * including tail records the old file had not fsync'd yet. */
int
store_compact_poll(char *err, size_t errsz)
{
	char path[1200], mappath[1200];
	struct logfile n = { .fd = -1 };
	uint64_t *ids = NULL;
	off_t *map = NULL, *offs = NULL, shift;
	size_t nmap = 0, nids = 0, i, j, k, dropped = 0;
	int status, mfd = -1;
	struct stat sb;
	pid_t pid;

	if (st_compact.child <= 0)
		return 0;
	pid = waitpid(st_compact.child, &status, WNOHANG);
	if (pid == 0)
		return 0;
	st_compact.child = 0;
	/* The journal's file is about to be replaced: finish any fsync of it
	 * in the sync thread first. */
	if (store_sync_end() != 0) {
		snprintf(err, errsz, "fsync failed");
		pid = -1;
	}
	compact_paths(path, mappath, sizeof(path));
	if (pid < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		snprintf(err, errsz, "compaction child failed");
		goto fail;
	}
	mfd = open(mappath, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (mfd < 0 || fstat(mfd, &sb) != 0 ||
	    (map = malloc((size_t)sb.st_size + 1)) == NULL ||
	    read(mfd, map, (size_t)sb.st_size) != (ssize_t)sb.st_size) {
		snprintf(err, errsz, "compaction map unreadable");
		goto fail;
	}
	nmap = (size_t)sb.st_size / sizeof(*map);
	ids = malloc((st_compact.fork_deliveries + 1) * sizeof(*ids));
	offs = malloc((st_compact.fork_deliveries + 1) * sizeof(*offs));
	if (ids == NULL || offs == NULL) {
		snprintf(err, errsz, "out of memory");
		goto fail;
	}
	/* Pair the map with the retained pre-fork objects, in the child's
	 * order. */
	for (i = 0, k = 0; i < st_compact.fork_events; i++) {
		struct event *ev = st_journal.events.v[i];
		struct delivery *d;

		if (ev->dropping)
			continue;
		if (k >= nmap)
			break;
		k++;
		for (d = ev->deliveries; d != NULL && k < nmap;
		    d = d->next_in_event) {
			ids[nids] = d->id;
			offs[nids++] = map[k++];
		}
	}
	if (k != nmap) {
		snprintf(err, errsz, "compaction map does not match");
		goto fail;
	}
	n.fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (n.fd < 0 || fstat(n.fd, &sb) != 0) {
		util_err_set(err, errsz, path, strerror(errno));
		goto fail;
	}
	/* The records batched since the fork are copied from the file. */
	if (file_flush(&st_files.jrn) != 0) {
		snprintf(err, errsz, "compaction: %s", strerror(errno));
		sync_lost();
		goto fail;
	}
	memcpy(n.path, st_files.jrn.path, sizeof(n.path));
	n.size = sb.st_size;
	shift = n.size - st_compact.fork_size;
	if (compact_tail(&n, ids, offs, nids) != 0 || io_fsync(n.fd) != 0 ||
	    io_rename(path, st_files.jrn.path) != 0) {
		snprintf(err, errsz, "compaction: %s", strerror(errno));
		goto fail;
	}
	/* Renamed: from here on n is the journal (as in compact_registry). */
	if (util_fsync_dir(st_files.dir, io_fsync) != 0)
		sync_lost();
	/* The new file is the journal now: move every offset over. */
	for (i = 0, k = 0, j = 0; i < st_journal.events.n; i++) {
		struct event *ev = st_journal.events.v[i];
		struct delivery *d;

		if (i >= st_compact.fork_events) {
			ev->off += shift;
			for (d = ev->deliveries; d != NULL;
			    d = d->next_in_event)
				if (d->last_off >= 0)
					d->last_off += shift;
			continue;
		}
		if (ev->dropping)
			continue;
		ev->off = map[k++];
		for (d = ev->deliveries; d != NULL; d = d->next_in_event) {
			if (d->last_off >= st_compact.fork_size)
				d->last_off += shift;
			else
				d->last_off = offs[j];
			j++;
			k++;
		}
	}
	close(st_files.jrn.fd);
	st_files.jrn.fd = n.fd;
	st_files.jrn.size = n.size;
	st_files.jrn.reserved = 0;	/* the new file reserves afresh */
	st_files.jrn.dirty = 0;
	/* Drop what retention let go, keeping the arrays in id order. */
	index_forget_dropping();
	for (i = 0, k = 0; i < st_journal.deliveries.n; i++) {
		struct delivery *d = st_journal.deliveries.v[i];

		if (!d->event->dropping)
			st_journal.deliveries.v[k++] = d;
	}
	st_journal.deliveries.n = k;
	for (i = 0, k = 0; i < st_journal.events.n; i++) {
		struct event *ev = st_journal.events.v[i];

		if (ev->dropping) {
			event_free(ev);
			dropped++;
		} else
			st_journal.events.v[k++] = ev;
	}
	st_journal.events.n = k;
	snprintf(err, errsz, "journal compacted: %zu events dropped, "
	    "%lld bytes", dropped, (long long)st_files.jrn.size);
	unlink(mappath);
	free(map);
	free(ids);
	free(offs);
	close(mfd);
	return 1;
fail:
	for (i = 0; i < st_journal.events.n; i++)
		((struct event *)st_journal.events.v[i])->dropping = 0;
	if (n.fd >= 0)
		close(n.fd);
	if (mfd >= 0)
		close(mfd);
	unlink(path);
	unlink(mappath);
	free(map);
	free(ids);
	free(offs);
	return -1;
}
