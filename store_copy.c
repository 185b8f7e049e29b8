/*
 * store_copy: a compaction's copying, off the loop. The plan's copy (the
 * records still needed of the journal as it was at the fork point, from
 * the offsets the marking gathered) and the tail's (what was written
 * since), each on a thread of its own, touching only its own buffers, the
 * two files' descriptors and what the loop hands it and no longer changes.
 */
#ifndef _XOPEN_SOURCE
/* nice(2), XSI: the copy thread lowers its own priority (Linux). */
#define _XOPEN_SOURCE 700
#endif
/* MAP_ANONYMOUS (POSIX.1-2024; glibc shows it with the defaults). */
#define _DEFAULT_SOURCE 1
#include "store_impl.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* How much the plan's thread raises its nice value, where a thread has
 * one of its own (Linux: nice(2), NOTES; elsewhere the nice value is the
 * process's and it is left alone). Ten steps are a tenth of the loop's
 * CPU weight (sched(7): each step about 1.25 times), so on a machine with
 * fewer free cores than busy tasks the loop preempts it at once, and it
 * still gets about a tenth of a core. */
#define COPY_THREAD_NICE 10

int
compact_pair_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct compact_pair *)a)->id;
	uint64_t y = ((const struct compact_pair *)b)->id;

	return x < y ? -1 : x > y;
}

off_t
compact_pair_find(const struct compact_pair *v, size_t n, uint64_t id,
    size_t *hint)
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

off_t
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

/* Write the output buffered at the new file's end. 0 or -1 (errno). */
static int
tc_drain(struct tail_copy *tc)
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

/* The new file's offset of the next byte tc_out writes. */
static off_t
tc_end(const struct tail_copy *tc)
{
	return tc->dst_size + (off_t)tc->out.len;
}

/* Append n bytes to the output, written out past STORE_COMPACT_OUT. 0 or
 * -1 (errno). */
static int
tc_out(struct tail_copy *tc, const char *p, size_t n)
{
	if (buf_append(&tc->out, p, n) != 0) {
		errno = ENOMEM;
		return -1;
	}
	tc->nrec++;
	return tc->out.len >= STORE_COMPACT_OUT ? tc_drain(tc) : 0;
}

/* Parse a record's JSON j (jl bytes) into tc->toks, grown as needed. The
 * token count, or <= 0 (errno: EINVAL not JSON, ENOMEM). */
static int
tc_parse(struct tail_copy *tc, const char *j, size_t jl)
{
	int nt;

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
	if (nt <= 0)
		errno = EINVAL;
	return nt;
}

/* 1 when p (len bytes) has a record line's frame: 8 hex digits of
 * checksum, a space, the JSON, a newline (store_file.c, rec_write). */
static int
tc_framed(const char *p, size_t len)
{
	return len >= 11 && p[8] == ' ' && p[len - 1] == '\n';
}

/* Write record line p (len bytes) with the number at [at, at + olen) of
 * its JSON (p + 9) replaced by prev, and its checksum made anew. The new
 * number's length in digits, or -1 (errno). */
static int
tc_relink(struct tail_copy *tc, const char *p, size_t len, size_t at,
    size_t olen, off_t prev)
{
	char num[32];
	int nl = snprintf(num, sizeof(num), "%lld", (long long)prev);
	uint32_t c;
	int i;

	buf_reset(&tc->rec);
	buf_append(&tc->rec, p, 9 + at);
	buf_append(&tc->rec, num, (size_t)nl);
	buf_append(&tc->rec, p + 9 + at + olen, len - 9 - at - olen);
	if (tc->rec.oom) {
		errno = ENOMEM;
		return -1;
	}
	c = crc32(tc->rec.data + 9, tc->rec.len - 10);
	for (i = 7; i >= 0; i--) {
		tc->rec.data[i] = util_hex_char(c);
		c >>= 4;
	}
	return tc_out(tc, tc->rec.data, tc->rec.len) == 0 ? nl : -1;
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
	size_t jl, olen;
	int v, nl;
	uint64_t u;
	off_t prev;

	if (!tc_framed(p, len)) {
		errno = EINVAL;
		return -1;
	}
	jl = len - 10;
	if (jl >= sizeof(ev) - 1 && memcmp(j, ev, sizeof(ev) - 1) == 0)
		return tc_out(tc, p, len);
	if (tc_parse(tc, j, jl) <= 0)
		return -1;
	v = json_get(j, tc->toks, 0, "prev");
	if (v < 0 || j[tc->toks[v].start] == '-')
		return tc_out(tc, p, len);
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
		prev = compact_pair_find(tc->dmap, tc->ndmap, did, NULL);
	}
	olen = tc->toks[v].len;
	nl = tc_relink(tc, p, len, tc->toks[v].start, olen, prev);
	if (nl < 0)
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
	return tc_drain(tc);
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

/* ---- the plan ---- */

int
plan_add(struct compact_plan *p, const struct event *ev, int early)
{
	struct plan_ent **v = early ? &p->early : &p->v;
	size_t *n = early ? &p->nearly : &p->n;
	size_t *cap = early ? &p->capearly : &p->cap;
	const struct delivery *d;
	size_t at = *n, nd = 0;
	struct plan_ent *e;

	for (d = ev->deliveries; d != NULL; d = d->next_in_event)
		nd++;
	e = util_grow(*v, cap, at + 1 + nd, sizeof(*e), 4096);
	if (e == NULL) {
		errno = ENOMEM;
		return -1;
	}
	*v = e;
	e += at;
	e->id = ev->id;
	e->off = ev->off;
	e->n = (int64_t)nd;
	for (d = ev->deliveries; d != NULL; d = d->next_in_event) {
		e++;
		e->id = d->id;
		e->off = d->last_off;
		e->n = d->status == STORE_PENDING ? d->next_at : -1;
	}
	*n = at + 1 + nd;
	p->nev++;
	p->ndlv += nd;
	return 0;
}

/* 1 when the loop asked the thread to stop (plan_free). */
static int
plan_stopping(struct compact_plan *p)
{
	int s;

	pthread_mutex_lock(&p->mu);
	s = p->stop;
	pthread_mutex_unlock(&p->mu);
	return s;
}

/* Read the old journal's record line at off (below the fork point),
 * appended to b: its length with the newline, or 0 (errno) when no whole
 * line lies there below the fork point. */
static size_t
plan_read_line(struct tail_copy *tc, struct buf *b, off_t off)
{
	size_t start = b->len, want = 4096;

	for (;;) {
		off_t at = off + (off_t)(b->len - start);
		ssize_t got;
		char *nl;

		if (at >= tc->fork_size || b->len - start > STORE_LINE_MAX) {
			errno = EINVAL;
			return 0;
		}
		if ((off_t)want > tc->fork_size - at)
			want = (size_t)(tc->fork_size - at);
		if (buf_reserve(b, want) != 0) {
			errno = ENOMEM;
			return 0;
		}
		got = pread(tc->src_fd, b->data + b->len, want, at);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			if (got == 0)
				errno = EIO;	/* the file is short */
			return 0;
		}
		nl = memchr(b->data + b->len, '\n', (size_t)got);
		b->len += (size_t)got;
		if (nl != NULL) {
			b->len = (size_t)(nl - b->data) + 1;
			return b->len - start;
		}
		want = b->len - start;
	}
}

/* One link of a chain being copied: its line in the thread's buffer, and
 * its "prev" number (at, olen in its JSON; olen 0: no "prev" member). */
struct plan_link {
	size_t start, len, at, olen;
};

/* Copy one delivery's attempts (plan entry e): its chain from e->off back
 * (all below the fork point: the marking plans an event before any record
 * of it is written), the newest p->max_log written oldest first with
 * their "prev" linked anew; then a requeue record when it is pending again
 * after them. Its newest attempt's new offset (or -1)
 * into *newest. 0 or -1 (errno). */
static int
plan_copy_chain(struct compact_plan *p, const struct plan_ent *e,
    off_t *newest)
{
	struct tail_copy *tc = p->tc;
	off_t c = (off_t)e->off, prev = -1;
	size_t nc = 0, k;

	buf_reset(&tc->in);
	while (c >= 0 && nc < p->max_log) {
		struct plan_link *l;
		size_t start = tc->in.len, len = plan_read_line(tc, &tc->in, c);
		const char *j = tc->in.data + start + 9;
		uint64_t u;
		int v;

		if (len == 0)
			return -1;
		if (!tc_framed(tc->in.data + start, len) ||
		    tc_parse(tc, j, len - 10) <= 0) {
			errno = EINVAL;
			return -1;
		}
		v = json_get(j, tc->toks, 0, "prev");
		l = util_grow(p->links, &p->caplinks, nc + 1, sizeof(*l), 16);
		if (l == NULL) {
			errno = ENOMEM;
			return -1;
		}
		p->links = l;
		l += nc++;
		l->start = start;
		l->len = len;
		l->at = v >= 0 ? tc->toks[v].start : 0;
		l->olen = v >= 0 ? tc->toks[v].len : 0;
		if (v < 0 || j[tc->toks[v].start] == '-' ||
		    util_parse_u64(j + tc->toks[v].start, tc->toks[v].len,
		    (uint64_t)c - 1, &u) != 0)
			break;
		c = (off_t)u;
	}
	for (k = nc; k-- > 0;) {
		const struct plan_link *l = &p->links[k];
		off_t at = tc_end(tc);

		if (l->olen == 0 ? tc_out(tc, tc->in.data + l->start,
		    l->len) != 0 : tc_relink(tc, tc->in.data + l->start,
		    l->len, l->at, l->olen, prev) < 0)
			return -1;
		prev = at;
	}
	*newest = nc > 0 ? prev : -1;
	if (e->n >= 0 && nc > 0) {
		requeue_rec(e->id, e->n);
		if (rec_close() != 0 || tc_out(tc, st_rec.data,
		    st_rec.len) != 0)
			return -1;
	}
	return 0;
}

/* Copy one event of the plan: g, its entry, then its deliveries'. Its new
 * offset into *em, its deliveries' newest attempts' into dm[0..g->n). 0
 * or -1 (errno). */
static int
plan_copy_event(struct compact_plan *p, const struct plan_ent *g,
    struct compact_pair *em, struct compact_pair *dm)
{
	struct tail_copy *tc = p->tc;
	size_t len;
	int64_t k;

	if (g->off < 0 || g->off >= tc->fork_size) {
		errno = EINVAL;
		return -1;
	}
	buf_reset(&tc->in);
	len = plan_read_line(tc, &tc->in, (off_t)g->off);
	if (len == 0)
		return -1;
	if (!tc_framed(tc->in.data, len)) {
		errno = EINVAL;
		return -1;
	}
	em->id = g->id;
	em->off = tc_end(tc);
	if (tc_out(tc, tc->in.data, len) != 0)
		return -1;
	for (k = 0; k < g->n; k++) {
		off_t newest;

		if (plan_copy_chain(p, g + 1 + k, &newest) != 0)
			return -1;
		dm[k].id = g[1 + k].id;
		dm[k].off = newest;
	}
	return 0;
}

/* HOOKD_FAULT compact_slow=MS (tests): the copy waits that long before it
 * writes, leaving early when stopped. 0, or -1 (ECANCELED) when stopped. */
static int
plan_wait_fault(struct compact_plan *p)
{
	struct timespec ts = { 0, 50 * 1000000L };
	long waited;

	for (waited = 0; waited < p->slow_ms; waited += 50) {
		if (plan_stopping(p)) {
			errno = ECANCELED;
			return -1;
		}
		nanosleep(&ts, NULL);
	}
	return 0;
}

/* The copy itself (plan_thread). 0 or -1 (errno). */
static int
plan_copy(struct compact_plan *p)
{
	struct tail_copy *tc = p->tc;
	const struct idem *key;
	struct compact_pair *groups = NULL, *em, *dm;
	size_t ng = 0, i = 0, j = 0, ne = 0, nd = 0, x;
	uint64_t *hdr;

	if (plan_wait_fault(p) != 0)
		return -1;
	/* The Idempotency-Keys queued at the fork point, oldest first: the
	 * new journal replays them in time order. */
	for (key = p->idem_first; key != NULL; key = key->qnext) {
		if (p->now - key->at < STORE_IDEM_MS) {
			idem_record(key);
			if (rec_close() != 0 || tc_out(tc, st_rec.data,
			    st_rec.len) != 0)
				return -1;
		}
		if (key == p->idem_last)
			break;
	}
	p->maplen = 2 * sizeof(uint64_t) + (p->nev + p->ndlv) *
	    sizeof(struct compact_pair);
	p->map = mmap(NULL, p->maplen, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p->map == MAP_FAILED) {
		p->map = NULL;
		return -1;
	}
	hdr = p->map;
	em = (struct compact_pair *)(hdr + 2);
	dm = em + p->nev;
	/* The events planned ahead of the cursor, in id order by their
	 * first entries' positions. */
	for (x = 0; x < p->nearly; x += 1 + (size_t)p->early[x].n)
		ng++;
	if (ng > 0 && (groups = malloc(ng * sizeof(*groups))) == NULL)
		return -1;
	for (x = 0, ng = 0; x < p->nearly; x += 1 + (size_t)p->early[x].n) {
		groups[ng].id = p->early[x].id;
		groups[ng++].off = (int64_t)x;
	}
	if (ng > 1)
		qsort(groups, ng, sizeof(*groups), compact_pair_cmp);
	/* Both in id order, merged: the new journal's events are too. */
	while (i < p->n || j < ng) {
		const struct plan_ent *g;

		if (j >= ng || (i < p->n && p->v[i].id < groups[j].id)) {
			g = p->v + i;
			i += 1 + (size_t)g->n;
		} else
			g = p->early + groups[j++].off;
		if ((ne & 1023) == 0 && plan_stopping(p)) {
			errno = ECANCELED;
			goto fail;
		}
		if (ne >= p->nev || nd + (size_t)g->n > p->ndlv ||
		    plan_copy_event(p, g, em + ne, dm + nd) != 0)
			goto fail;
		ne++;
		nd += (size_t)g->n;
	}
	free(groups);
	/* Almost sorted already: only a gateway request's deliveries, made
	 * at its completion, are newer than the next events'. */
	if (nd > 1)
		qsort(dm, nd, sizeof(*dm), compact_pair_cmp);
	hdr[0] = ne;
	hdr[1] = nd;
	return tc_drain(tc) == 0 && util_fsync(tc->dst_fd) == 0 ? 0 : -1;
fail:
	free(groups);
	return -1;
}

/* The plan's thread: the copy, its buffers let go, its outcome said. */
static void *
plan_thread(void *arg)
{
	struct compact_plan *p = arg;
	int r;

#ifdef __linux__
	/* Bulk work with no one waiting on it: on a small machine the loop
	 * must not wait for a core behind it. Linux keeps a nice value per
	 * thread (nice(2), NOTES), so this lowers this thread alone. */
	errno = 0;
	if (nice(COPY_THREAD_NICE) == -1 && errno != 0)
		errno = 0;	/* kept at the loop's priority: only slower */
#endif
	r = plan_copy(p) != 0 ? (errno != 0 ? errno : EIO) : 0;
	/* The thread's own record buffer, and the plan, which only it reads
	 * now: freed here, off the loop. */
	buf_free(&st_rec);
	free(p->v);
	free(p->early);
	free(p->links);
	p->v = p->early = NULL;
	p->links = NULL;
	pthread_mutex_lock(&p->mu);
	p->err = r;
	p->done = 1;
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

int
plan_copy_start(struct compact_plan *p)
{
	p->done = p->err = p->stop = 0;
	if (pthread_create(&p->thread, NULL, plan_thread, p) != 0)
		return -1;
	p->running = 1;
	return 0;
}

int
plan_copy_finished(struct compact_plan *p)
{
	int done;

	if (!p->running)
		return 1;
	pthread_mutex_lock(&p->mu);
	done = p->done;
	pthread_mutex_unlock(&p->mu);
	if (!done)
		return 0;
	pthread_join(p->thread, NULL);
	p->running = 0;
	return 1;
}

void
plan_free(struct compact_plan *p)
{
	if (p->running) {
		pthread_mutex_lock(&p->mu);
		p->stop = 1;
		pthread_mutex_unlock(&p->mu);
		pthread_join(p->thread, NULL);
		p->running = 0;
	}
	free(p->v);
	free(p->early);
	free(p->links);
	if (p->map != NULL)
		munmap(p->map, p->maplen);
	p->v = p->early = NULL;
	p->links = NULL;
	p->map = NULL;
	p->n = p->cap = p->nearly = p->capearly = p->caplinks = 0;
	p->nev = p->ndlv = 0;
}

/* ---- one event, on the caller's thread (hookd export and import) ---- */

int
event_copy(struct logfile *f, const struct event *ev, struct event_copy *s,
    off_t *off)
{
	struct tail_copy *tc = &s->tc;
	struct compact_pair em, *dm;

	/* The copy reads the file: what is batched goes there first. */
	if (file_flush(&st_files.jrn) != 0)
		return -1;
	tc->src_fd = st_files.jrn.fd;
	tc->fork_size = st_files.jrn.size;
	tc->dst_fd = f->fd;
	tc->dst_size = f->size;
	tc->nrec = 0;
	s->plan.tc = tc;
	s->plan.max_log = store_max_log;
	s->plan.n = s->plan.nev = s->plan.ndlv = 0;
	if (plan_add(&s->plan, ev, 0) != 0)
		return -1;
	dm = util_grow(s->dm, &s->capdm, s->plan.ndlv + 1, sizeof(*dm), 16);
	if (dm == NULL) {
		errno = ENOMEM;
		return -1;
	}
	s->dm = dm;
	if (plan_copy_event(&s->plan, s->plan.v, &em, dm) != 0 ||
	    tc_drain(tc) != 0)
		return -1;
	f->size = tc->dst_size;
	f->dirty = 1;
	st_files.written_seq += tc->nrec;
	*off = (off_t)em.off;
	return 0;
}

void
event_copy_free(struct event_copy *s)
{
	plan_free(&s->plan);
	tail_copy_free(&s->tc);
	free(s->dm);
	memset(s, 0, sizeof(*s));
}
