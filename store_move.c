/*
 * store_move: hookd export and hookd import (contract §17), one client moved
 * from one node's data directory into another's, offline, under each
 * directory's lock. An export is records in the store's own line format.
 */
#include "store_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The export format's version, in its header line; import refuses others
 * rather than guess at records a later hookd may write differently. */
#define MOVE_VERSION 1

/* ---- export ---- */

int
store_export(const char *dir, const char *client, int fd,
    const char *tmp, const char *outpath, int del,
    struct store_move_stats *st, char *err, size_t errsz)
{
	struct logfile out = { .fd = fd };
	struct event_copy ec = {0};
	struct endpoint *e;
	struct client *c;
	uint64_t seq0;
	size_t i;
	off_t o;
	int ret = -1;

	memset(st, 0, sizeof(*st));
	if (store_dir_present(dir, err, errsz) != 0 ||
	    store_open(dir, 1, err, errsz, NULL) != 0)
		goto out;
	c = store_client_find(client, strlen(client));
	if (c == NULL) {
		snprintf(err, errsz, "no client \"%s\" in %s (GET /v1/clients "
		    "on that node lists its clients)", client, dir);
		goto out;
	}
	memcpy(st->client, c->id, sizeof(st->client));
	seq0 = store_written_seq();
	rec_begin("export");
	rec_num("v", MOVE_VERSION);
	rec_str("client", c->id);
	rec_str("source", dir);
	rec_num("at", util_wall_ms());
	if (rec_write(&out) < 0)
		goto io;
	client_rec(c);
	if (rec_write(&out) < 0)
		goto io;
	for (e = c->ep_head; e != NULL; e = e->c_next) {
		endpoint_rec(e);
		if (rec_write(&out) < 0)
			goto io;
		st->endpoints++;
	}
	/* Every event of the client the store still holds: the pending ones
	 * and those that ended within the retention window (compaction drops
	 * the older ones), each as a compaction would copy it, so "prev" in
	 * an attempt record is the offset of the one before it in the
	 * export. */
	for (i = 0; i < st_journal.events.n; i++) {
		struct event *ev = st_journal.events.v[i];

		if (strcmp(ev->client_id, c->id) != 0)
			continue;
		if (event_copy(&out, ev, &ec, &o) != 0)
			goto io;
		st->events++;
		st->deliveries += ev->ndeliveries;
		st->pending += ev->pending;
	}
	/* The count of the lines before it: a file cut at a line boundary
	 * is told from a whole one. */
	rec_begin("end");
	rec_num("records", (int64_t)(store_written_seq() - seq0));
	if (rec_write(&out) < 0 || io_fsync(fd) != 0)
		goto io;
	if (tmp != NULL) {
		char d[1100];
		const char *sl = strrchr(outpath, '/');

		snprintf(d, sizeof(d), "%.*s", sl == NULL ? 1 : sl == outpath ?
		    1 : (int)(sl - outpath), sl == NULL ? "." : outpath);
		if (io_rename(tmp, outpath) != 0 ||
		    util_fsync_dir(d, io_fsync) != 0) {
			util_err_set(err, errsz, outpath, strerror(errno));
			goto out;
		}
	}
	if (del) {
		/* After the export is on disk: the client's pending deliveries
		 * end failed ("client deleted") here, offline, so this node
		 * never sends them once it runs again. */
		if (store_client_delete(c) != 0)
			goto io;
		store_reap_all();
		if (store_sync() != 0)
			goto io;
	}
	ret = 0;
	goto out;
io:
	snprintf(err, errsz, "%s: %s", del ? dir : "export", strerror(errno));
out:
	event_copy_free(&ec);
	store_close();
	return ret;
}

/* ---- import ---- */

/* The file that says an import has begun changing the data directory and
 * not finished (its content: the export's path, or "-" for standard
 * input). While it exists no start, export or check opens the directory:
 * the client would be there without its events. */
#define MOVE_MARKER "import.incomplete"

/* The longest export path the marker holds: it is read back into a buffer
 * of this size (a marker file grown by hand cannot make a reader run
 * past it); a longer path is written as "-" (the message then says to
 * run the same import again). */
#define MOVE_MARKER_MAX 1024

int st_importing;

/* DIR/import.incomplete into out. 0, or -1 (err) when too long. */
static int
marker_path(const char *dir, char *out, size_t outsz, char *err,
    size_t errsz)
{
	if (snprintf(out, outsz, "%s/" MOVE_MARKER, dir) >= (int)outsz) {
		snprintf(err, errsz, "%s: path too long", dir);
		return -1;
	}
	return 0;
}

/* The marker's content (the export's path, or "-") into name (at least
 * MOVE_MARKER_MAX + 1 bytes): 1 when the marker exists, 0 when not, -1
 * (err) when it cannot be read. */
static int
marker_read(const char *dir, char *name, char *err, size_t errsz)
{
	char path[1100];
	ssize_t n;
	int fd;

	if (marker_path(dir, path, sizeof(path), err, errsz) != 0)
		return -1;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0) {
		util_err_set(err, errsz, path, strerror(errno));
		return -1;
	}
	do
		n = read(fd, name, MOVE_MARKER_MAX);
	while (n < 0 && errno == EINTR);
	close(fd);
	if (n < 0) {
		util_err_set(err, errsz, path, strerror(errno));
		return -1;
	}
	name[n] = '\0';
	name[strcspn(name, "\n")] = '\0';
	if (name[0] == '\0')
		snprintf(name, MOVE_MARKER_MAX + 1, "-");
	return 1;
}

/* The message of an interrupted import of name into dir, into err. */
static void
marker_message(const char *dir, const char *name, char *err, size_t errsz)
{
	if (strcmp(name, "-") == 0)
		snprintf(err, errsz, "an import from standard input was "
		    "interrupted: run the same import (`hookd import -d %s - "
		    "< FILE`) again to finish it", dir);
	else
		snprintf(err, errsz, "an import of %s was interrupted: run "
		    "`hookd import -d %s %s` again to finish it", name, dir,
		    name);
}

int
store_import_interrupted(const char *dir, char *err, size_t errsz)
{
	char name[MOVE_MARKER_MAX + 1];
	int r = marker_read(dir, name, err, errsz);

	if (r == 1)
		marker_message(dir, name, err, errsz);
	return r;
}

/* Write the marker naming name, durably (the file, then its directory
 * entry). 0, or -1 (err; no marker left behind). */
static int
marker_write(const char *dir, const char *name, char *err, size_t errsz)
{
	char path[1100];
	size_t n = strlen(name);
	int fd;

	if (marker_path(dir, path, sizeof(path), err, errsz) != 0)
		return -1;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	if (fd < 0 || write(fd, name, n) != (ssize_t)n ||
	    write(fd, "\n", 1) != 1 || io_fsync(fd) != 0 ||
	    util_fsync_dir(dir, io_fsync) != 0) {
		util_err_set(err, errsz, path, strerror(errno));
		if (fd >= 0)
			close(fd);
		(void)unlink(path);
		return -1;
	}
	close(fd);
	return 0;
}

/* Remove the marker and a journal.log.import an interrupted import left,
 * durably. 0, or -1 (err). */
static int
marker_remove(const char *dir, char *err, size_t errsz)
{
	char path[1100];

	if (snprintf(path, sizeof(path), "%s/journal.log.import", dir) >=
	    (int)sizeof(path)) {
		snprintf(err, errsz, "%s: path too long", dir);
		return -1;
	}
	(void)unlink(path);
	if (marker_path(dir, path, sizeof(path), err, errsz) != 0)
		return -1;
	if ((unlink(path) != 0 && errno != ENOENT) ||
	    util_fsync_dir(dir, io_fsync) != 0) {
		util_err_set(err, errsz, path, strerror(errno));
		return -1;
	}
	return 0;
}

/* What an import does with a line of the export (struct mv_line.kind). */
enum { MV_REG, MV_EVENT, MV_ATTEMPT, MV_REQUEUE };

/* A line of the export to append: where it is, where it went, and for an
 * attempt the index of the delivery's attempt before it (-1: none). */
struct mv_line {
	off_t off;
	off_t noff;
	long prev;
	int kind;
};

/* An event of the export to merge into the journal: its lines. */
struct mv_event {
	uint64_t id;
	size_t first, n;
};

/* The import under way: the first pass's findings, then the second's plan. */
static struct {
	char client[UTIL_ID_MAX + 1];
	int has_client, ended, new_client;
	size_t lastline;
	struct store_move_stats *st;
	void (*report)(const char *line);
	struct mv_line *lines;
	size_t nlines, caplines;
	struct mv_event *evs;
	size_t nevs, capevs;
	/* The event being read: skipped (already on the target), its
	 * deliveries and each one's latest attempt line (-1 none). */
	int skip;
	uint64_t last_event;
	uint64_t *dlv;
	long *dlv_last;
	size_t ndlv, capdlv;
	struct buf rb;
	struct json_tok *toks;
	size_t ntoks;
} mv;

static void
mv_free(void)
{
	free(mv.lines);
	free(mv.evs);
	free(mv.dlv);
	free(mv.dlv_last);
	free(mv.toks);
	buf_free(&mv.rb);
	memset(&mv, 0, sizeof(mv));
}

/* Fail the record at r and stop reading (the replay lists bad lines and
 * reads on only while checking). -1. */
static int
header_fail(struct replay *r, const char *why)
{
	st_replay.checking = 0;
	return replay_fail(r, why);
}

/* The first pass, on an empty store: every line is read back with the
 * checks a start makes (replay_registry, replay_journal), and the export's
 * own shape is checked: a header first, one client, its records only, and
 * the end line. */
static int
check_apply(struct replay *r, const char *t, size_t tl)
{
	char cid[UTIL_ID_MAX + 1];
	int64_t v;
	int ep;

	mv.lastline = r->line;
	if (mv.ended)
		return replay_fail(r, "a record after the export's end line");
	if (r->line == 1 || util_span_eq(t, tl, "export")) {
		/* A file that is not an export of this version is refused
		 * at its header, not line by line: each of its other lines
		 * would be judged by rules it was not written to. */
		if (r->line != 1 || !util_span_eq(t, tl, "export"))
			return header_fail(r, "not a hookd export: its first "
			    "line is the header hookd export writes");
		if (get_num(r, "v", &v) != 0 || v != MOVE_VERSION)
			return header_fail(r, "export format version is not 1 "
			    "(written by another hookd version)");
		if (get_str(r, "client", mv.client, sizeof(mv.client)) != 0 ||
		    !util_client_id_ok(mv.client, strlen(mv.client)))
			return replay_fail(r, "the header names no client");
		return 0;
	}
	if (util_span_eq(t, tl, "end")) {
		if (get_num(r, "records", &v) != 0 || v < 0 ||
		    (uint64_t)v != r->line - 1)
			return replay_fail(r, "the end line's count of records "
			    "is not the number of lines before it (lines "
			    "were added or removed)");
		mv.ended = 1;
		return 0;
	}
	if (util_span_eq(t, tl, "client")) {
		if (mv.has_client || get_str(r, "id", cid, sizeof(cid)) != 0 ||
		    strcmp(cid, mv.client) != 0)
			return replay_fail(r, "a client record other than the "
			    "exported client's");
		mv.has_client = 1;
		return replay_registry(r, t, tl);
	}
	ep = util_span_eq(t, tl, "endpoint");
	if (ep || util_span_eq(t, tl, "event")) {
		if (get_str(r, "client", cid, sizeof(cid)) != 0 ||
		    strcmp(cid, mv.client) != 0)
			return replay_fail(r, "a record of another client than "
			    "the export's");
		return ep ? replay_registry(r, t, tl) :
		    replay_journal(r, t, tl);
	}
	if (util_span_eq(t, tl, "attempt") || util_span_eq(t, tl, "requeue"))
		return replay_journal(r, t, tl);
	return replay_fail(r, "not a record of an export (client, endpoint, "
	    "event, attempt, requeue)");
}

/* 1 when the record built in st_rec (not closed) is the line at r. */
static int
same_as_built(const struct replay *r)
{
	const struct buf *b = &st_rec;
	const char *nl = strchr(r->s, '\n');
	size_t n = b->len - 9;

	return nl != NULL && (size_t)(nl - r->s) == n + 1 &&
	    memcmp(b->data + 9, r->s, n) == 0 && r->s[n] == '}';
}

static int
add_line(struct replay *r, int kind, long prev)
{
	struct mv_line *l = util_grow(mv.lines, &mv.caplines, mv.nlines + 1,
	    sizeof(*l), 64);

	if (l == NULL)
		return replay_fail(r, "out of memory");
	mv.lines = l;
	mv.lines[mv.nlines].off = r->off;
	mv.lines[mv.nlines].noff = -1;
	mv.lines[mv.nlines].prev = prev;
	mv.lines[mv.nlines++].kind = kind;
	if (kind != MV_REG)
		mv.evs[mv.nevs - 1].n++;
	return 0;
}

/* A new event of the export: its deliveries must be new to the target
 * too; they become the ones its following records may name. */
static int
plan_new_event(struct replay *r, uint64_t id)
{
	char x[STORE_XID_MAX], msg[200];
	int v, i;
	uint32_t k;

	/* Read once already by the first pass; looked at again in case the
	 * file changed in between. */
	v = rget(r->s, r->t, "dlv");
	if (v < 0 || r->t[v].type != JSON_ARRAY)
		return replay_fail(r, "bad event record");
	mv.ndlv = 0;
	for (i = v + 1, k = 0; k < r->t[v].size; k++, i = (int)r->t[i].next) {
		uint64_t did;

		if (r->t[i].type != JSON_ARRAY || r->t[i].size < 1 ||
		    r->t[i + 1].type != JSON_STRING ||
		    store_parse_id(STORE_DLV, r->s + r->t[i + 1].start,
		    r->t[i + 1].len, &did) != 0)
			return replay_fail(r, "bad event record");
		if (store_delivery_find(did) != NULL) {
			store_fmt_id(STORE_DLV, did, x);
			snprintf(msg, sizeof(msg), "delivery %s is on the "
			    "target already, of another event (the nodes' "
			    "ids collided: give each node its own node_id)",
			    x);
			return replay_fail(r, msg);
		}
		if (mv.ndlv == mv.capdlv) {
			/* Two arrays of one capacity: each grows from it. */
			size_t cap = mv.capdlv, lcap = mv.capdlv;
			uint64_t *d = util_grow(mv.dlv, &cap, mv.ndlv + 1,
			    sizeof(*d), 16);
			long *l = d != NULL ? util_grow(mv.dlv_last, &lcap,
			    mv.ndlv + 1, sizeof(*l), 16) : NULL;

			if (d != NULL)
				mv.dlv = d;
			if (l == NULL)
				return replay_fail(r, "out of memory");
			mv.dlv_last = l;
			mv.capdlv = cap;
		}
		mv.dlv[mv.ndlv] = did;
		mv.dlv_last[mv.ndlv++] = -1;
	}
	mv.st->deliveries += mv.ndlv;
	{
		struct mv_event *ev = util_grow(mv.evs, &mv.capevs,
		    mv.nevs + 1, sizeof(*ev), 64);

		if (ev == NULL)
			return replay_fail(r, "out of memory");
		mv.evs = ev;
	}
	mv.evs[mv.nevs].id = id;
	mv.evs[mv.nevs].first = mv.nlines;
	mv.evs[mv.nevs++].n = 0;
	return add_line(r, MV_EVENT, -1);
}

/* An event of the export: skipped when the target holds the same record,
 * refused when it holds another under its id. */
static int
plan_event(struct replay *r)
{
	char x[STORE_XID_MAX], msg[200];
	struct event *ev;
	uint64_t id;
	size_t n;

	if (get_xid(r, "id", STORE_EVT, &id) != 0 ||
	    (mv.last_event != 0 && id <= mv.last_event))
		return replay_fail(r, "events out of id order");
	mv.last_event = id;
	ev = store_event_find(id);
	if (ev == NULL) {
		mv.skip = 0;
		return plan_new_event(r, id);
	}
	buf_reset(&mv.rb);
	n = (size_t)(strchr(r->s, '\n') - r->s);
	if (read_record(ev->off, &mv.rb, &mv.toks, &mv.ntoks) <= 0 ||
	    mv.rb.len - 9 != n || memcmp(mv.rb.data + 9, r->s, n) != 0) {
		store_fmt_id(STORE_EVT, id, x);
		snprintf(msg, sizeof(msg), "event %s is on the target already "
		    "with other content (the nodes' ids collided: give each "
		    "node its own node_id)", x);
		return replay_fail(r, msg);
	}
	mv.skip = 1;
	mv.ndlv = 0;
	mv.st->skipped++;
	return 0;
}

/* An attempt or requeue: of a delivery of the event just before it; an
 * attempt's "prev" names that delivery's attempt before it in the export
 * (-1 for its first), as hookd export writes them. */
static int
plan_delivery_record(struct replay *r, int attempt)
{
	uint64_t did;
	int64_t prev;
	size_t k;
	long last;

	if (get_xid(r, "d", STORE_DLV, &did) != 0)
		return replay_fail(r, "record without delivery id");
	if (mv.skip)
		return 0;
	for (k = 0; k < mv.ndlv && mv.dlv[k] != did; k++)
		;
	if (k == mv.ndlv)
		return replay_fail(r, "a record of a delivery of another "
		    "event than the one before it");
	if (!attempt)
		return add_line(r, MV_REQUEUE, -1);
	last = mv.dlv_last[k];
	if (get_num(r, "prev", &prev) != 0 ||
	    prev != (last < 0 ? -1 : (int64_t)mv.lines[last].off))
		return replay_fail(r, "the attempt's prev is not the offset "
		    "of its delivery's attempt before it in this file");
	mv.dlv_last[k] = (long)mv.nlines;
	return add_line(r, MV_ATTEMPT, last);
}

/* The second pass, on the target's store: what is new, what is there
 * already (skipped), and what collides (refused, nothing written). */
static int
plan_apply(struct replay *r, const char *t, size_t tl)
{
	char x[STORE_XID_MAX], msg[300];

	if (util_span_eq(t, tl, "export") || util_span_eq(t, tl, "end"))
		return 0;
	if (util_span_eq(t, tl, "client")) {
		struct client *c = store_client_find(mv.client,
		    strlen(mv.client));

		if (c == NULL) {
			if (store_client_id_held(mv.client, strlen(mv.client),
			    util_wall_ms())) {
				snprintf(msg, sizeof(msg), "client %s was "
				    "deleted on the target and its records "
				    "remain until retention drops them: its id "
				    "cannot be taken again before", mv.client);
				return replay_fail(r, msg);
			}
			mv.new_client = 1;
			return add_line(r, MV_REG, -1);
		}
		client_rec(c);
		if (!same_as_built(r)) {
			snprintf(msg, sizeof(msg), "client %s is on the target "
			    "already with other data (token, secret, name or "
			    "times): delete it there first, or import it "
			    "elsewhere", mv.client);
			return replay_fail(r, msg);
		}
		mv.st->skipped++;
		return 0;
	}
	if (util_span_eq(t, tl, "endpoint")) {
		struct endpoint *e;
		uint64_t id;

		if (get_xid(r, "id", STORE_EP, &id) != 0)
			return replay_fail(r, "bad endpoint record");
		if ((e = store_endpoint_find(id)) == NULL)
			return add_line(r, MV_REG, -1);
		endpoint_rec(e);
		if (!same_as_built(r)) {
			store_fmt_id(STORE_EP, id, x);
			snprintf(msg, sizeof(msg), "endpoint %s is on the "
			    "target already with other data (changed since, or "
			    "the nodes' ids collided: give each node its own "
			    "node_id)", x);
			return replay_fail(r, msg);
		}
		mv.st->skipped++;
		return 0;
	}
	if (util_span_eq(t, tl, "event"))
		return plan_event(r);
	return plan_delivery_record(r, util_span_eq(t, tl, "attempt"));
}

/* Copy line l of the export (src) to f with its prev set to prev (-2: as
 * it is): through copy_record, which reads the journal, pointed at the
 * export for the call (as compact_registry points the registry at its new
 * file). */
static off_t
copy_line(struct logfile *f, struct logfile *src, const struct mv_line *l,
    off_t prev)
{
	struct logfile jrn = st_files.jrn;
	off_t o;

	st_files.jrn = *src;
	buf_reset(&mv.rb);
	o = copy_record(f, l->off, prev, &mv.rb, &mv.toks, &mv.ntoks);
	st_files.jrn = jrn;
	return o;
}

/* The journal written anew: the target's records as a compaction copies
 * them and the export's events, merged in id order (a start replays a
 * journal's events in id order only), then renamed in. 0 or -1 (err). */
static int
rewrite_journal(const char *dir, struct logfile *src, char *err,
    size_t errsz)
{
	struct logfile n = { .fd = -1 };
	struct event_copy ec = {0};
	char tmp[1200];
	size_t i = 0, j = 0, k;
	off_t o;

	if (snprintf(tmp, sizeof(tmp), "%s.import", st_files.jrn.path) >=
	    (int)sizeof(tmp)) {
		snprintf(err, errsz, "%s: path too long", dir);
		return -1;
	}
	(void)unlink(tmp);
	n.fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	if (n.fd < 0)
		goto fail;
	if (idem_copy_all(&n, util_wall_ms()) != 0)
		goto fail;
	while (i < st_journal.events.n || j < mv.nevs) {
		const struct event *ev = i < st_journal.events.n ?
		    st_journal.events.v[i] : NULL;
		const struct mv_event *me = &mv.evs[j];

		if (ev != NULL && (j == mv.nevs || ev->id < me->id)) {
			if (event_copy(&n, ev, &ec, &o) != 0)
				goto fail;
			i++;
			continue;
		}
		for (k = me->first; k < me->first + me->n; k++) {
			struct mv_line *l = &mv.lines[k];
			off_t prev = l->kind != MV_ATTEMPT ? -2 :
			    l->prev < 0 ? -1 : mv.lines[l->prev].noff;

			if ((l->noff = copy_line(&n, src, l, prev)) < 0)
				goto fail;
		}
		j++;
	}
	if (io_fsync(n.fd) != 0 || io_rename(tmp, st_files.jrn.path) != 0)
		goto fail;
	close(n.fd);
	event_copy_free(&ec);
	if (util_fsync_dir(dir, io_fsync) != 0) {
		util_err_set(err, errsz, dir, strerror(errno));
		return -1;
	}
	return 0;
fail:
	util_err_set(err, errsz, tmp, strerror(errno));
	if (n.fd >= 0) {
		close(n.fd);
		unlink(tmp);
	}
	event_copy_free(&ec);
	return -1;
}

int
store_import(const char *dir, int fd, const char *name, const char *path,
    void (*report)(const char *line), struct store_move_stats *st,
    char *err, size_t errsz)
{
	struct logfile src = { .fd = fd };
	char marked[MOVE_MARKER_MAX + 1], prior[MOVE_MARKER_MAX + 1];
	int had_files[2] = { 1, 1 };
	size_t i, n;
	int ret = -1, had_marker = 0, changing = 0;

	snprintf(marked, sizeof(marked), "%s", path != NULL &&
	    strlen(path) <= MOVE_MARKER_MAX && strchr(path, '\n') == NULL ?
	    path : "-");

	memset(st, 0, sizeof(*st));
	memset(&mv, 0, sizeof(mv));
	mv.st = st;
	mv.report = report;
	/* The lock first, as a start and hookd check take it: nothing of
	 * the target is read while its hookd runs. */
	if (store_lock(dir, err, errsz) != 0)
		return -1;
	crc_init();
	st_replay.ntoks = 256;
	st_replay.toks = malloc(st_replay.ntoks * sizeof(*st_replay.toks));
	if (st_replay.toks == NULL) {
		snprintf(err, errsz, "out of memory");
		return -1;
	}
	/* First pass: the export alone, read as hookd check reads a data
	 * directory, every bad line listed. */
	st_replay.checking = 1;
	st_replay.check_fd = fd;
	if (lseek(fd, 0, SEEK_SET) != 0 || replay_file(&src, name, 1,
	    check_apply, err, errsz, NULL) != 0) {
		n = strlen(err);
		snprintf(err + n, errsz - n, "; nothing was imported");
		goto out;
	}
	for (i = 0; i < st_replay.nbad; i++)
		report(st_replay.bad[i].why);
	if (st_replay.nbad > 0) {
		snprintf(err, errsz, "%s: %zu line%s cannot be imported (above); "
		    "nothing was imported", name, st_replay.nbad,
		    st_replay.nbad > 1 ? "s" : "");
		goto out;
	}
	if (mv.lastline == 0 || !mv.ended) {
		snprintf(err, errsz, "%s:%zu: the export ends without its end "
		    "line: the file was cut short (copy it again); nothing was "
		    "imported", name, mv.lastline);
		goto out;
	}
	if (!mv.has_client) {
		snprintf(err, errsz, "%s: no client record; nothing was "
		    "imported", name);
		goto out;
	}
	free(st_replay.bad);
	st_replay.bad = NULL;
	store_close();
	/* An interrupted import is finished by this one only: another
	 * export would leave it half done. */
	if ((had_marker = marker_read(dir, prior, err, errsz)) < 0)
		goto out;
	if (had_marker && strcmp(prior, "-") != 0 && strcmp(marked, "-") != 0 &&
	    strcmp(prior, marked) != 0) {
		marker_message(dir, prior, err, errsz);
		n = strlen(err);
		snprintf(err + n, errsz - n, " before importing %s; nothing "
		    "was imported", name);
		goto out;
	}
	for (i = 0; i < 2; i++) {
		char p[1100];

		snprintf(p, sizeof(p), "%s/%s", dir, i ? "journal.log" :
		    "registry.log");
		had_files[i] = access(p, F_OK) == 0;
	}
	/* Second pass: the target as a start reads it, and the plan. */
	st_importing = 1;
	if (store_open(dir, 1, err, errsz, NULL) != 0)
		goto out;
	if (lseek(fd, 0, SEEK_SET) != 0 || replay_file(&src, name, 1,
	    plan_apply, err, errsz, NULL) != 0) {
		n = strlen(err);
		snprintf(err + n, errsz - n, "; nothing was imported");
		goto out;
	}
	for (i = 0; i < mv.nlines; i++)
		if (mv.lines[i].kind == MV_REG)
			st->endpoints++;
	st->endpoints -= (size_t)mv.new_client;
	memcpy(st->client, mv.client, sizeof(st->client));
	st->events = mv.nevs;
	st->new_client = mv.new_client;
	if (mv.nlines == 0) {
		/* All there: an interrupted run of this import had made its
		 * last change and not yet removed the marker. */
		if (had_marker && marker_remove(dir, err, errsz) != 0)
			goto out;
		ret = 0;
		goto out;
	}
	/* All or nothing as the user sees it: the marker, on disk before
	 * the first change and removed after the last, keeps every start,
	 * export and check off the directory in between, and says to run
	 * this import again, which finishes it (it skips what is there). */
	if (marker_write(dir, marked, err, errsz) != 0) {
		n = strlen(err);
		snprintf(err + n, errsz - n, "; nothing was imported");
		goto out;
	}
	changing = 1;
	/* The registry first, made durable: the other way round a start
	 * would fail the deliveries of endpoints it does not know. */
	for (i = 0; i < mv.nlines; i++)
		if (mv.lines[i].kind == MV_REG &&
		    copy_line(&st_files.reg, &src, &mv.lines[i], -2) < 0) {
			util_err_set(err, errsz, st_files.reg.path,
			    strerror(errno));
			goto out;
		}
	if (store_sync() != 0) {
		util_err_set(err, errsz, st_files.reg.path, strerror(errno));
		goto out;
	}
	if (mv.nevs > 0 && rewrite_journal(dir, &src, err, errsz) != 0)
		goto out;
	if (marker_remove(dir, err, errsz) != 0)
		goto out;
	ret = 0;
out:
	if (ret != 0 && changing) {
		char how[1200];

		n = strlen(err);
		marker_message(dir, marked, how, sizeof(how));
		snprintf(err + n, errsz - n, "; the import did not complete "
		    "(hookd will not start on %s until it does): fix the "
		    "cause (free disk space), then %s", dir,
		    strstr(how, "run "));
	} else if (ret != 0 && !had_files[0] && !had_files[1]) {
		/* A refused import into a new directory leaves no files a
		 * start would take for a store. */
		for (i = 0; i < 2; i++) {
			char p[1100];

			if (snprintf(p, sizeof(p), "%s/%s", dir, i ?
			    "journal.log" : "registry.log") < (int)sizeof(p))
				(void)unlink(p);
		}
	}
	free(st_replay.bad);
	st_replay.bad = NULL;
	mv_free();
	store_close();
	st_importing = 0;
	return ret;
}
