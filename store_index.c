/*
 * store_index: the indexes that keep one client's work from paying for the
 * rest of the store (issue 20): matching an event's type through a table of
 * endpoint filters, each client's endpoint list, the lists of events and
 * deliveries by client id and by (client id, type), a tree of status counts
 * over the deliveries' id order, and the walks list pages take over them.
 */
#include "store_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct store_index st_index;

/* Bits of client.plen: prefixes of 0..STORE_PLEN_BITS-1 bytes. A type is
 * at most UTIL_TYPE_MAX bytes, so every prefix that can match one fits;
 * a longer one (a registry written by hand) makes its client walk. */
#define STORE_PLEN_BITS 192

/* Kinds of filter in the table's hash. */
#define FILTER_EXACT 'e'
#define FILTER_PREFIX 'p'

/* ---- matching ---- */

/*
 * The hash of a filter: its client's id, 0xff (in no client id), its kind,
 * then its text (a prefix filter's without the '*'). FNV-1a runs on, so
 * store_match hashes every prefix of a type in one pass. It is not keyed:
 * a client may choose filters that share a chain with another client's
 * type; a walk past them costs one integer comparison each, and they are
 * at most max_endpoints_per_client times 64 filters (UTIL_MAX_FILTERS).
 */
static uint32_t
filter_hash0(const char *client, int kind)
{
	uint32_t h = util_hash(UTIL_HASH_START, client, strlen(client));
	unsigned char k = (unsigned char)kind;

	h = util_hash(h, "\xff", 1);
	return util_hash(h, &k, 1);
}

/* The length of filter f's text, and its kind. */
static size_t
filter_text(const char *f, int *kind)
{
	size_t fl = strlen(f);

	if (fl > 0 && f[fl - 1] == '*') {
		*kind = FILTER_PREFIX;
		return fl - 1;
	}
	*kind = FILTER_EXACT;
	return fl;
}

/* Set c's prefix-length bits from its indexed endpoints' filters. */
static void
plen_recount(struct client *c)
{
	struct endpoint *e;
	size_t i, len;
	int kind;

	memset(c->plen, 0, sizeof(c->plen));
	for (e = c->ep_head; e != NULL; e = e->c_next) {
		if (e->fidx == NULL)
			continue;
		for (i = 0; i < e->nevents; i++) {
			len = filter_text(e->events[i], &kind);
			if (kind == FILTER_PREFIX)
				c->plen[len / 64] |= (uint64_t)1 << (len % 64);
		}
	}
}

void
ep_filters_add(struct endpoint *e)
{
	struct store_filter *f;
	size_t i, len;
	int kind;

	e->fidx = NULL;
	f = calloc(e->nevents > 0 ? e->nevents : 1, sizeof(*f));
	if (f == NULL)
		goto scan;
	for (i = 0; i < e->nevents; i++) {
		len = filter_text(e->events[i], &kind);
		f[i].e = e;
		if ((kind == FILTER_PREFIX && len >= STORE_PLEN_BITS) ||
		    util_htab_add(&st_index.filters, &f[i].h,
		    util_hash(filter_hash0(e->client->id, kind), e->events[i],
		    len)) != 0) {
			while (i-- > 0)
				util_htab_del(&st_index.filters, &f[i].h);
			free(f);
			goto scan;
		}
	}
	e->fidx = f;
	plen_recount(e->client);
	return;
scan:
	e->client->nscan++;
}

void
ep_filters_del(struct endpoint *e)
{
	size_t i;

	if (e->fidx == NULL) {
		e->client->nscan--;
		return;
	}
	for (i = 0; i < e->nevents; i++)
		util_htab_del(&st_index.filters, &e->fidx[i].h);
	free(e->fidx);
	e->fidx = NULL;
	plen_recount(e->client);
}

void
ep_index(struct endpoint *e)
{
	struct client *c = e->client;
	struct endpoint *at = c->ep_tail;

	/* Ids grow, so this is the tail but for a hand-written registry
	 * that moves an endpoint to another client. */
	while (at != NULL && at->id > e->id)
		at = at->c_prev;
	e->c_prev = at;
	e->c_next = at != NULL ? at->c_next : c->ep_head;
	if (e->c_next != NULL)
		e->c_next->c_prev = e;
	else
		c->ep_tail = e;
	if (at != NULL)
		at->c_next = e;
	else
		c->ep_head = e;
	c->nendpoints++;
	ep_filters_add(e);
}

void
ep_unindex(struct endpoint *e)
{
	struct client *c = e->client;

	ep_filters_del(e);
	if (e->c_prev != NULL)
		e->c_prev->c_next = e->c_next;
	else
		c->ep_head = e->c_next;
	if (e->c_next != NULL)
		e->c_next->c_prev = e->c_prev;
	else
		c->ep_tail = e->c_prev;
	e->c_next = e->c_prev = NULL;
	c->nendpoints--;
}


/* Take e for this pass of store_match, once. */
static void
match_take(struct endpoint *e, struct endpoint **out, size_t *n)
{
	if (e->enabled && e->match_mark != st_index.match_mark) {
		e->match_mark = st_index.match_mark;
		out[(*n)++] = e;
	}
}

/* The filters of client c of kind whose text is type's first len bytes,
 * found by the hash h of that text, into out. */
static void
match_lookup(struct client *c, int kind, uint32_t h, const char *type,
    size_t len, struct endpoint **out, size_t *n)
{
	struct util_hent *x;

	for (x = util_htab_first(&st_index.filters, h); x != NULL;
	    x = util_htab_next(x)) {
		struct store_filter *f = UTIL_CONTAINER(x, struct store_filter,
		    h);
		struct endpoint *e = f->e;
		const char *ft = e->events[f - e->fidx];
		int k;

		if (e->client == c && filter_text(ft, &k) == len &&
		    k == kind && memcmp(ft, type, len) == 0)
			match_take(e, out, n);
	}
}

static int
cmp_endpoint_id(const void *a, const void *b)
{
	const struct endpoint *x = *(const struct endpoint *const *)a;
	const struct endpoint *y = *(const struct endpoint *const *)b;

	return x->id < y->id ? -1 : x->id > y->id;
}

int
store_match(struct client *c, const char *type, size_t len,
    struct endpoint ***out, size_t *n)
{
	struct endpoint **eps, *e;
	uint32_t h;
	size_t k;

	*out = NULL;
	*n = 0;
	if (c->nendpoints == 0)
		return 0;
	eps = calloc(c->nendpoints, sizeof(*eps));
	if (eps == NULL) {
		errno = ENOMEM;
		return -1;
	}
	st_index.match_mark++;
	if (c->nscan > 0) {
		/* Some filters are not in the table: the client's own
		 * endpoints, each asked (still no other client's). */
		for (e = c->ep_head; e != NULL; e = e->c_next)
			if (store_endpoint_matches(e, type, len))
				match_take(e, eps, n);
	} else {
		match_lookup(c, FILTER_EXACT, util_hash(filter_hash0(c->id,
		    FILTER_EXACT), type, len), type, len, eps, n);
		h = filter_hash0(c->id, FILTER_PREFIX);
		for (k = 0; k <= len && k < STORE_PLEN_BITS; k++) {
			if (c->plen[k / 64] & (uint64_t)1 << (k % 64))
				match_lookup(c, FILTER_PREFIX, h, type, k,
				    eps, n);
			if (k < len)
				h = util_hash(h, type + k, 1);
		}
	}
	/* In id order, as deliveries are made: already so when one filter
	 * kind found them all in the order the table keeps. */
	for (k = 1; k < *n && eps[k - 1]->id < eps[k]->id; k++)
		;
	if (k < *n)
		qsort(eps, *n, sizeof(*eps), cmp_endpoint_id);
	if (*n == 0) {
		free(eps);
		eps = NULL;
	}
	*out = eps;
	return 0;
}

/* ---- lists by client id and by (client id, type) ---- */

/*
 * A client id's events (newest first, through event.c_older) and
 * deliveries (oldest first, through delivery.c_next). Made at the id's
 * first event, freed when a compaction leaves it empty: at most one per
 * event, and only the admin posts events.
 */
struct cidx {
	struct util_hent h;
	struct cidx *all_next;
	struct event *ev_head;
	struct delivery *d_head, *d_tail;
	size_t nev, ndlv;
	char id[];
};

/* A (client id, type)'s events, newest first (event.ct_older). */
struct ctidx {
	struct util_hent h;
	struct ctidx *all_next;
	struct event *head;
	size_t n;
	size_t type_off;		/* where type starts in key */
	char key[];			/* client id, NUL, type */
};

/*
 * The drop in steps (event_index_forget_step): the chain of client-id
 * lists, then that of (client id, type) lists, each walked by a cursor
 * that holds the link to the list it is on (pc, pt: new lists are put at
 * the chain's head, so the cursor finds its list again a few links on,
 * and only these steps free one) and, in that list, the link to the next
 * record to look at. A link belongs to a record that is kept (never
 * unlinked: events leave these lists only here, but for a retyped event,
 * whose ct_older the retype hands back, below) or is the list's head;
 * new records join at the head of an event list (newest first) and at the
 * tail of a delivery list, whose tail is set again in the step that
 * unlinks its last record. Counts (nev, ndlv, n) fall by each record
 * unlinked.
 */
static struct {
	int on;
	struct cidx **pc, *ci;
	struct event **epp;		/* ci's events: the next to look at */
	struct delivery **dpp, *dlast;	/* ci's deliveries; the last kept */
	struct ctidx **pt, *ct;
	struct event **tpp;		/* ct's events */
} efg;

static uint32_t
ct_hash(const char *client, const char *type)
{
	uint32_t h = util_hash(UTIL_HASH_START, client, strlen(client));

	h = util_hash(h, "\xff", 1);
	return util_hash(h, type, strlen(type));
}

static struct cidx *
cidx_find(const char *id, size_t len)
{
	struct util_hent *x;

	for (x = util_htab_first(&st_index.clients, util_hash(UTIL_HASH_START,
	    id, len)); x != NULL; x = util_htab_next(x)) {
		struct cidx *ci = UTIL_CONTAINER(x, struct cidx, h);

		if (util_span_eq(id, len, ci->id))
			return ci;
	}
	return NULL;
}

static struct ctidx *
ctidx_find(const char *client, const char *type)
{
	struct util_hent *x;

	for (x = util_htab_first(&st_index.types, ct_hash(client, type));
	    x != NULL; x = util_htab_next(x)) {
		struct ctidx *ct = UTIL_CONTAINER(x, struct ctidx, h);

		if (strcmp(ct->key, client) == 0 &&
		    strcmp(ct->key + ct->type_off, type) == 0)
			return ct;
	}
	return NULL;
}

int
event_index_prepare(const struct event *ev)
{
	size_t cl = strlen(ev->client_id), tl = strlen(ev->type);
	struct cidx *ci;
	struct ctidx *ct;

	if (cidx_find(ev->client_id, cl) == NULL) {
		ci = calloc(1, sizeof(*ci) + cl + 1);
		if (ci == NULL)
			return -1;
		memcpy(ci->id, ev->client_id, cl + 1);
		if (util_htab_add(&st_index.clients, &ci->h,
		    util_hash(UTIL_HASH_START, ci->id, cl)) != 0) {
			free(ci);
			return -1;
		}
		ci->all_next = st_index.all_c;
		st_index.all_c = ci;
	}
	if (ctidx_find(ev->client_id, ev->type) == NULL) {
		ct = calloc(1, sizeof(*ct) + cl + 1 + tl + 1);
		if (ct == NULL)
			return -1;
		memcpy(ct->key, ev->client_id, cl + 1);
		memcpy(ct->key + cl + 1, ev->type, tl + 1);
		ct->type_off = cl + 1;
		if (util_htab_add(&st_index.types, &ct->h,
		    ct_hash(ev->client_id, ev->type)) != 0) {
			free(ct);
			return -1;
		}
		ct->all_next = st_index.all_ct;
		st_index.all_ct = ct;
	}
	return 0;
}

/* Append first and the deliveries after it in its event's list to the
 * client id's delivery list ci. */
static void
cidx_add_dlv(struct cidx *ci, struct delivery *first)
{
	struct delivery *d;

	for (d = first; d != NULL; d = d->next_in_event) {
		d->c_next = NULL;
		if (ci->d_tail != NULL)
			ci->d_tail->c_next = d;
		else
			ci->d_head = d;
		ci->d_tail = d;
		ci->ndlv++;
	}
}

void
event_index_add(struct event *ev)
{
	struct cidx *ci = cidx_find(ev->client_id, strlen(ev->client_id));
	struct ctidx *ct = ctidx_find(ev->client_id, ev->type);

	/* Both exist: event_index_prepare made them. */
	if (ci == NULL || ct == NULL)
		return;
	ev->c_older = ci->ev_head;
	ci->ev_head = ev;
	ci->nev++;
	ev->ct_older = ct->head;
	ct->head = ev;
	ct->n++;
	cidx_add_dlv(ci, ev->deliveries);
}

void
event_index_add_deliveries(struct event *ev, struct delivery *first)
{
	struct cidx *ci = cidx_find(ev->client_id, strlen(ev->client_id));

	if (ci != NULL)
		cidx_add_dlv(ci, first);
}

void
event_index_retype(struct event *ev, const char *oldtype)
{
	struct ctidx *from = ctidx_find(ev->client_id, oldtype);
	struct ctidx *to = ctidx_find(ev->client_id, ev->type);
	struct event **pp;

	/* to exists: event_index_prepare made it. */
	if (from == to || to == NULL)
		return;
	/* Walks past the newer events of each type only. */
	if (from != NULL) {
		for (pp = &from->head; *pp != NULL && *pp != ev;
		    pp = &(*pp)->ct_older)
			;
		if (*pp == ev) {
			*pp = ev->ct_older;
			from->n--;
			/* A drop's cursor right after ev goes on from ev's
			 * place in from, not into to. */
			if (efg.on && efg.tpp == &ev->ct_older)
				efg.tpp = pp;
		}
	}
	for (pp = &to->head; *pp != NULL && (*pp)->id > ev->id;
	    pp = &(*pp)->ct_older)
		;
	ev->ct_older = *pp;
	*pp = ev;
	to->n++;
}

/* The delivery after d on the list through the link at offset link
 * (ep_next or c_next). */
#define DLV_LINK(d, link) (*(struct delivery **)(void *)((char *)(d) + (link)))

/*
 * Sort the list head..tail (through the link at offset link) by id: a
 * bottom-up merge sort in place, O(n log n) and no memory, run only on a
 * list found out of order (an O(n) check). *tail is set to its last.
 */
static void
dlv_list_sort(struct delivery **head, struct delivery **tail, size_t link)
{
	struct delivery *d, *list = *head;
	size_t width, nmerges;

	for (d = list; d != NULL && DLV_LINK(d, link) != NULL; d = DLV_LINK(d,
	    link))
		if (d->id > DLV_LINK(d, link)->id)
			break;
	if (d == NULL || DLV_LINK(d, link) == NULL)
		return;
	for (width = 1;; width *= 2) {
		struct delivery *p = list, *out = NULL, *last = NULL;

		nmerges = 0;
		while (p != NULL) {
			struct delivery *q = p;
			size_t pn = 0, qn = width, i;

			nmerges++;
			for (i = 0; i < width && q != NULL; i++) {
				pn++;
				q = DLV_LINK(q, link);
			}
			while (pn > 0 || (qn > 0 && q != NULL)) {
				struct delivery *e;

				if (pn == 0) {
					e = q;
					q = DLV_LINK(q, link);
					qn--;
				} else if (qn == 0 || q == NULL ||
				    p->id <= q->id) {
					e = p;
					p = DLV_LINK(p, link);
					pn--;
				} else {
					e = q;
					q = DLV_LINK(q, link);
					qn--;
				}
				if (last != NULL)
					DLV_LINK(last, link) = e;
				else
					out = e;
				last = e;
			}
			p = q;
		}
		DLV_LINK(last, link) = NULL;
		list = out;
		if (nmerges <= 1) {
			*head = list;
			*tail = last;
			return;
		}
	}
}

void
index_sort_lists(void)
{
	struct cidx *ci;
	size_t i;

	if (!st_index.lists_unsorted)
		return;
	st_index.lists_unsorted = 0;
	for (i = 0; i < st_registry.endpoints.n; i++) {
		struct endpoint *e = st_registry.endpoints.v[i];

		dlv_list_sort(&e->dlv_head, &e->dlv_tail,
		    offsetof(struct delivery, ep_next));
	}
	for (i = 0; i < st_registry.clients.n; i++) {
		struct client *c = st_registry.clients.v[i];

		dlv_list_sort(&c->oneoff_head, &c->oneoff_tail,
		    offsetof(struct delivery, ep_next));
	}
	for (ci = st_index.all_c; ci != NULL; ci = ci->all_next)
		dlv_list_sort(&ci->d_head, &ci->d_tail,
		    offsetof(struct delivery, c_next));
}

int
event_index_holds(const char *id, size_t len)
{
	const struct cidx *ci = cidx_find(id, len);
	const struct event *ev;

	if (ci == NULL || ci->nev == 0)
		return 0;
	if (!st_journal.drop_hidden)
		return 1;
	/* A drop under way: its count still includes the events dropped
	 * but not yet unlinked, which are gone to every reader. Newest
	 * first, a kept event (retention drops the oldest) ends the walk at
	 * once; only an id whose events are all being dropped walks them
	 * all, once, to say the id is free (a client created again with
	 * the id of a deleted one, for the seconds a drop runs). */
	for (ev = ci->ev_head; ev != NULL; ev = ev->c_older)
		if (!event_gone(ev))
			return 1;
	return 0;
}

/* Set the cursor to the start of the lists of *efg.pc, or of *efg.pt. */
static void
efg_at_ci(void)
{
	efg.ci = *efg.pc;
	if (efg.ci != NULL) {
		efg.epp = &efg.ci->ev_head;
		efg.dpp = &efg.ci->d_head;
	}
	efg.dlast = NULL;
}

static void
efg_at_ct(void)
{
	efg.ct = *efg.pt;
	if (efg.ct != NULL)
		efg.tpp = &efg.ct->head;
}

void
event_index_forget_begin(void)
{
	memset(&efg, 0, sizeof(efg));
	efg.on = 1;
	efg.pc = &st_index.all_c;
	efg_at_ci();
	efg.pt = &st_index.all_ct;
	efg_at_ct();
}

void
event_index_forget_stop(void)
{
	efg.on = 0;
}

/* Unlink the dropped events on the list from *pp (through c_older or
 * ct_older, at offset link), *budget at most; the count *n falls by each.
 * Returns the link where it stopped (its target NULL: the list is done). */
static struct event **
ev_list_forget_step(struct event **pp, size_t link, size_t *n, size_t *budget)
{
	struct event *ev;

	while (*budget > 0 && (ev = *pp) != NULL) {
		struct event **next = (struct event **)(void *)((char *)ev +
		    link);

		(*budget)--;
		if (ev->dropping) {
			*pp = *next;
			(*n)--;
		} else
			pp = next;
	}
	return pp;
}

int
event_index_forget_step(size_t *budget)
{
	struct delivery *d;

	while (*budget > 0 && efg.ci != NULL) {
		/* Lists made since the last step went in before it. */
		while (*efg.pc != efg.ci)
			efg.pc = &(*efg.pc)->all_next;
		efg.epp = ev_list_forget_step(efg.epp,
		    offsetof(struct event, c_older), &efg.ci->nev, budget);
		if (*efg.epp != NULL)
			return 0;
		while (*budget > 0 && (d = *efg.dpp) != NULL) {
			(*budget)--;
			if (d->event->dropping) {
				*efg.dpp = d->c_next;
				efg.ci->ndlv--;
			} else {
				efg.dlast = d;
				efg.dpp = &d->c_next;
			}
		}
		if (*efg.dpp != NULL)
			return 0;
		efg.ci->d_tail = efg.dlast;
		if (efg.ci->nev == 0) {
			/* Its events are all gone, so are its deliveries. */
			*efg.pc = efg.ci->all_next;
			util_htab_del(&st_index.clients, &efg.ci->h);
			free(efg.ci);
		} else
			efg.pc = &efg.ci->all_next;
		efg_at_ci();
	}
	if (efg.ci != NULL)
		return 0;
	while (*budget > 0 && efg.ct != NULL) {
		while (*efg.pt != efg.ct)
			efg.pt = &(*efg.pt)->all_next;
		efg.tpp = ev_list_forget_step(efg.tpp,
		    offsetof(struct event, ct_older), &efg.ct->n, budget);
		if (*efg.tpp != NULL)
			return 0;
		if (efg.ct->n == 0) {
			*efg.pt = efg.ct->all_next;
			util_htab_del(&st_index.types, &efg.ct->h);
			free(efg.ct);
		} else
			efg.pt = &efg.ct->all_next;
		efg_at_ct();
	}
	if (efg.ct != NULL)
		return 0;
	efg.on = 0;
	return 1;
}

/* ---- the status index ---- */

/* How many deliveries one run of level L spans, as a shift. */
#define SIDX_SHIFT(L) (6 * ((unsigned)(L) + 1))

/* Count status s at index i of the array in each level's run of lv, and
 * in total. 0, or -1 out of memory. */
static int
sidx_count_in(struct sidx_level *lvs, size_t *total, size_t i, int s)
{
	int L;

	for (L = 0; L < SIDX_LEVELS; L++) {
		struct sidx_level *lv = &lvs[L];
		size_t run = i >> SIDX_SHIFT(L);

		if (run >= lv->n) {
			uint32_t (*c)[3] = util_grow(lv->cnt, &lv->cap,
			    run + 1, sizeof(*c), 64);

			if (c == NULL)
				return -1;
			lv->cnt = c;
			memset(lv->cnt + lv->n, 0, (run + 1 - lv->n) *
			    sizeof(*lv->cnt));
			lv->n = run + 1;
		}
		lv->cnt[run][s]++;
	}
	total[s]++;
	return 0;
}

/* Count d's status at index i in each level's run. 0, or -1 out of memory
 * (the index is then unbuilt, to be built again when next needed). */
static int
sidx_count(size_t i, int s)
{
	if (sidx_count_in(st_index.lv, st_index.total, i, s) != 0) {
		st_index.sidx_built = 0;
		return -1;
	}
	return 0;
}

/* Build the counts from the deliveries array: O(n), once after start (and
 * after a compaction whose steps could not count, out of memory). 0 or -1
 * out of memory. */
static int
sidx_build(void)
{
	size_t i;
	int L;

	for (L = 0; L < SIDX_LEVELS; L++)
		st_index.lv[L].n = 0;
	memset(st_index.total, 0, sizeof(st_index.total));
	st_index.sidx_built = 1;
	for (i = 0; i < st_journal.deliveries.n; i++) {
		const struct delivery *d = st_journal.deliveries.v[i];

		if (sidx_count(i, d->status) != 0)
			return -1;
	}
	return 0;
}

void
index_status_build(void)
{
	if (!st_index.sidx_built)
		(void)sidx_build();
}

void
sidx_append(const struct delivery *d)
{
	if (st_index.sidx_built)
		(void)sidx_count(st_journal.deliveries.n - 1, d->status);
}

/* Move d at index i of the counts lv from status from to to. */
static void
sidx_move_in(struct sidx_level *lv, size_t *total, size_t i, int from, int to)
{
	int L;

	for (L = 0; L < SIDX_LEVELS; L++) {
		uint32_t *c = lv[L].cnt[i >> SIDX_SHIFT(L)];

		c[from]--;
		c[to]++;
	}
	total[from]--;
	total[to]++;
}

void
sidx_move(const struct delivery *d, int from, int to)
{
	const struct vec *nv = &st_journal.deliveries_new;
	size_t i;

	if (from == to)
		return;
	/* The array being built: d counts there once copied (a delivery
	 * not copied yet is counted with its status when it is). */
	if (st_index.sidx_next_on && st_index.sidx_next_ok) {
		i = vec_lower(nv, d->id);
		if (i < nv->n && nv->v[i] == d)
			sidx_move_in(st_index.next_lv, st_index.next_total, i,
			    from, to);
	}
	if (!st_index.sidx_built)
		return;
	i = vec_lower(&st_journal.deliveries, d->id);
	if (i >= st_journal.deliveries.n || st_journal.deliveries.v[i] != d) {
		st_index.sidx_built = 0;	/* not in the array yet */
		return;
	}
	sidx_move_in(st_index.lv, st_index.total, i, from, to);
}

void
sidx_next_begin(void)
{
	int L;

	for (L = 0; L < SIDX_LEVELS; L++)
		st_index.next_lv[L].n = 0;
	memset(st_index.next_total, 0, sizeof(st_index.next_total));
	st_index.sidx_next_on = 1;
	st_index.sidx_next_ok = 1;
}

void
sidx_next_add(const struct delivery *d)
{
	if (st_index.sidx_next_ok && sidx_count_in(st_index.next_lv,
	    st_index.next_total, st_journal.deliveries_new.n - 1,
	    d->status) != 0)
		st_index.sidx_next_ok = 0;
}

void
sidx_next_swap(void)
{
	struct sidx_level t;
	int L;

	/* The old counts' memory is kept for the next compaction's. */
	for (L = 0; L < SIDX_LEVELS; L++) {
		t = st_index.lv[L];
		st_index.lv[L] = st_index.next_lv[L];
		st_index.next_lv[L] = t;
		st_index.next_lv[L].n = 0;
	}
	memcpy(st_index.total, st_index.next_total, sizeof(st_index.total));
	st_index.sidx_built = st_index.sidx_next_ok;
	st_index.sidx_next_on = 0;
}

void
sidx_next_free(void)
{
	int L;

	for (L = 0; L < SIDX_LEVELS; L++) {
		free(st_index.next_lv[L].cnt);
		memset(&st_index.next_lv[L], 0, sizeof(st_index.next_lv[L]));
	}
	st_index.sidx_next_on = 0;
}

/* 1 when run q of level L (L -1: the delivery at q) holds status s. */
static int
sidx_has(int L, size_t q, int s)
{
	if (L < 0)
		return ((const struct delivery *)
		    st_journal.deliveries.v[q])->status == s;
	return st_index.lv[L].cnt[q][s] > 0;
}

/*
 * The index of the first delivery at or after i with status s, or the
 * array's length when none: climb from i through the runs that follow it
 * at each level until one holds s, then descend into it. O(64 x levels).
 */
static size_t
sidx_next(int s, size_t i)
{
	size_t n = st_journal.deliveries.n, p = i, q, units, limit;
	int L = -1;

	if (i >= n)
		return n;
	for (;;) {
		units = L < 0 ? n : st_index.lv[L].n;
		limit = L == SIDX_LEVELS - 1 ? units :
		    (((p >> 6) + 1) << 6 < units ? ((p >> 6) + 1) << 6 : units);
		for (q = p; q < limit; q++)
			if (sidx_has(L, q, s))
				goto down;
		if (limit >= units)
			return n;
		p = limit >> 6;
		L++;
	}
down:
	while (L >= 0) {
		L--;
		q <<= 6;
		units = L < 0 ? n : st_index.lv[L].n;
		while (q < units && !sidx_has(L, q, s))
			q++;
		if (q >= units)
			return n;	/* counts out of step: cannot be */
	}
	return q;
}

/* ---- walks ---- */

enum {
	WALK_NONE,		/* nothing can match */
	WALK_ARRAY,		/* every record, in array order */
	WALK_STATUS,		/* the status index */
	WALK_EVENT,		/* an event's deliveries (next_in_event) */
	WALK_ENDPOINT,		/* an endpoint's (ep_next) */
	WALK_CLIENT,		/* a client id's (c_next / c_older) */
	WALK_TYPE		/* a (client id, type)'s events (ct_older) */
};

void
store_walk_deliveries(struct store_walk *w, const char *client,
    const uint64_t *endpoint, const uint64_t *event, int status,
    const uint64_t *after)
{
	size_t best = st_journal.deliveries.n;
	const struct event *ev;
	const struct endpoint *e;
	const struct cidx *ci;
	struct delivery *x;

	memset(w, 0, sizeof(*w));
	w->how = WALK_ARRAY;
	w->has_bound = after != NULL;
	w->bound = after != NULL ? *after : 0;
	w->i = after != NULL ? store_delivery_after(*after) : 0;
	w->status = status;
	/* The index with the fewest candidates; a filter naming nothing
	 * leaves nothing to walk. */
	if (event != NULL) {
		if ((ev = store_event_find(*event)) == NULL)
			goto none;
		if (ev->ndeliveries <= best) {
			best = ev->ndeliveries;
			w->how = WALK_EVENT;
			w->cur = ev->deliveries;
		}
	}
	if (endpoint != NULL) {
		if ((e = store_endpoint_find(*endpoint)) == NULL)
			goto none;
		if (e->ndlv < best) {
			best = e->ndlv;
			w->how = WALK_ENDPOINT;
			w->cur = e->dlv_head;
			/* The cursor of the page before is usually on the
			 * list: start right after it. */
			if (after != NULL &&
			    (x = store_delivery_find(*after)) != NULL &&
			    x->endpoint == e)
				w->cur = x->ep_next;
		}
	}
	if (client != NULL) {
		if ((ci = cidx_find(client, strlen(client))) == NULL)
			goto none;
		if (ci->ndlv < best) {
			best = ci->ndlv;
			w->how = WALK_CLIENT;
			w->cur = ci->d_head;
			if (after != NULL &&
			    (x = store_delivery_find(*after)) != NULL &&
			    strcmp(x->event->client_id, client) == 0)
				w->cur = x->c_next;
		}
	}
	if (status >= STORE_PENDING && status <= STORE_FAILED &&
	    (st_index.sidx_built || sidx_build() == 0) &&
	    st_index.total[status] < best) {
		best = st_index.total[status];
		w->how = WALK_STATUS;
	}
	return;
none:
	w->how = WALK_NONE;
}

/* The next delivery of the walk, gone ones included. */
static struct delivery *
walk_delivery(struct store_walk *w)
{
	struct delivery *d;

	switch (w->how) {
	case WALK_ARRAY:
		return w->i < st_journal.deliveries.n ?
		    st_journal.deliveries.v[w->i++] : NULL;
	case WALK_STATUS:
		w->i = sidx_next(w->status, w->i);
		return w->i < st_journal.deliveries.n ?
		    st_journal.deliveries.v[w->i++] : NULL;
	case WALK_EVENT:
	case WALK_ENDPOINT:
	case WALK_CLIENT:
		/* Past the bound: a list is in id order. */
		while ((d = w->cur) != NULL) {
			w->cur = w->how == WALK_EVENT ? d->next_in_event :
			    w->how == WALK_ENDPOINT ? d->ep_next : d->c_next;
			if (!w->has_bound || d->id > w->bound)
				return d;
		}
		return NULL;
	default:
		return NULL;
	}
}

struct delivery *
store_walk_delivery(struct store_walk *w)
{
	struct delivery *d;

	/* A compaction's steps unlink what it drops over several passes;
	 * meanwhile none of it is shown. */
	while ((d = walk_delivery(w)) != NULL && event_gone(d->event))
		;
	return d;
}

void
store_walk_events(struct store_walk *w, const char *client,
    const char *type, const uint64_t *before)
{
	const struct cidx *ci;
	const struct ctidx *ct;
	struct event *x = NULL;

	memset(w, 0, sizeof(*w));
	w->has_bound = before != NULL;
	w->bound = before != NULL ? *before : 0;
	if (before != NULL)
		x = store_event_find(*before);
	if (client == NULL) {
		/* Newest first: from the last event below the bound. */
		w->how = WALK_ARRAY;
		w->i = st_journal.events.n;
		if (before != NULL)
			w->i = vec_lower(&st_journal.events, *before);
		return;
	}
	if (type != NULL) {
		if ((ct = ctidx_find(client, type)) == NULL) {
			w->how = WALK_NONE;
			return;
		}
		w->how = WALK_TYPE;
		w->cur = ct->head;
		if (x != NULL && strcmp(x->client_id, client) == 0 &&
		    strcmp(x->type, type) == 0)
			w->cur = x->ct_older;
		return;
	}
	if ((ci = cidx_find(client, strlen(client))) == NULL) {
		w->how = WALK_NONE;
		return;
	}
	w->how = WALK_CLIENT;
	w->cur = ci->ev_head;
	if (x != NULL && strcmp(x->client_id, client) == 0)
		w->cur = x->c_older;
}

/* The next event of the walk, gone ones included. */
static struct event *
walk_event(struct store_walk *w)
{
	struct event *ev;

	switch (w->how) {
	case WALK_ARRAY:
		return w->i > 0 ? st_journal.events.v[--w->i] : NULL;
	case WALK_CLIENT:
	case WALK_TYPE:
		while ((ev = w->cur) != NULL) {
			w->cur = w->how == WALK_CLIENT ? ev->c_older :
			    ev->ct_older;
			if (!w->has_bound || ev->id < w->bound)
				return ev;
		}
		return NULL;
	default:
		return NULL;
	}
}

struct event *
store_walk_event(struct store_walk *w)
{
	struct event *ev;

	while ((ev = walk_event(w)) != NULL && event_gone(ev))
		;
	return ev;
}

/* ---- closing ---- */

void
index_free_all(void)
{
	struct cidx *ci, *cn;
	struct ctidx *ct, *tn;
	int L;

	for (ci = st_index.all_c; ci != NULL; ci = cn) {
		cn = ci->all_next;
		free(ci);
	}
	for (ct = st_index.all_ct; ct != NULL; ct = tn) {
		tn = ct->all_next;
		free(ct);
	}
	util_htab_free(&st_index.filters);
	util_htab_free(&st_index.clients);
	util_htab_free(&st_index.types);
	for (L = 0; L < SIDX_LEVELS; L++) {
		free(st_index.lv[L].cnt);
		free(st_index.next_lv[L].cnt);
	}
	memset(&st_index, 0, sizeof(st_index));
}
