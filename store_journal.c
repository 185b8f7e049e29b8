/*
 * store_journal: events, deliveries and attempts, in memory and in
 * journal.log: the records they write, reading payloads and attempt
 * histories back, an event's records copied to a new file (event_copy, for
 * compaction and export/import). Their replay is store_jreplay.c's; the
 * keys, store_idem.c's.
 */
#include "store_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Attempts kept in a delivery's log unless store_set_max_log says
 * otherwise (contract §18: max_log_attempts). */
#define STORE_MAX_LOG_DEFAULT 50

struct store_journal st_journal;

void (*store_on_due)(struct delivery *d);
void (*store_on_fail)(struct delivery *d);

/* Outside st_journal, whose store_close resets it: a setting, not state. */
size_t store_max_log = STORE_MAX_LOG_DEFAULT;

void
store_set_max_log(size_t n)
{
	store_max_log = n > 0 ? n : 1;
}

/* Hand the deliveries of events now durable to the engine. */
void
announce_durable(void)
{
	size_t i, k;

	for (i = 0; i < st_journal.nunannounced &&
	    st_journal.unannounced[i].seq <= st_files.durable_seq; i++) {
		struct delivery *d;

		for (d = st_journal.unannounced[i].ev->deliveries; d != NULL;
		    d = d->next_in_event)
			if (d->status == STORE_PENDING && store_on_due != NULL)
				store_on_due(d);
	}
	for (k = 0; i < st_journal.nunannounced; i++, k++)
		st_journal.unannounced[k] = st_journal.unannounced[i];
	st_journal.nunannounced = k;
}

/* The engine hears of ev's deliveries once the record just written is
 * durable (announce_room made the room). */
static void
announce_when_durable(struct event *ev)
{
	st_journal.unannounced[st_journal.nunannounced].ev = ev;
	st_journal.unannounced[st_journal.nunannounced++].seq =
	    st_files.written_seq;
}

/* ---- events and deliveries ---- */

struct event *
store_event_find(uint64_t id)
{
	struct event *ev = vec_find(&st_journal.events, id);

	return ev != NULL && event_gone(ev) ? NULL : ev;
}

size_t
store_event_count(void)
{
	return st_journal.events.n;
}

struct event *
store_event_at(size_t i)
{
	return i < st_journal.events.n ? st_journal.events.v[i] : NULL;
}

size_t
store_event_after(uint64_t after)
{
	return vec_after(&st_journal.events, after);
}

struct delivery *
store_delivery_find(uint64_t id)
{
	struct delivery *d = vec_find(&st_journal.deliveries, id);

	return d != NULL && event_gone(d->event) ? NULL : d;
}

size_t
store_delivery_count(void)
{
	return st_journal.deliveries.n;
}

struct delivery *
store_delivery_at(size_t i)
{
	return i < st_journal.deliveries.n ? st_journal.deliveries.v[i] : NULL;
}

size_t
store_delivery_after(uint64_t after)
{
	return vec_after(&st_journal.deliveries, after);
}

size_t
store_pending_count(void)
{
	return st_journal.pending;
}

size_t
store_upstream_pending_count(void)
{
	return st_journal.upstream_pending;
}

void
event_free(struct event *ev)
{
	struct delivery *d, *next;

	for (d = ev->deliveries; d != NULL; d = next) {
		next = d->next_in_event;
		free(d->url);
		free(d);
	}
	free(ev->data);
	free(ev);
}

/*
 * A new event with its client id and type in the same allocation: a pending
 * delivery's memory is mostly its event's, and an inline 65-byte id plus a
 * separate type made a third of it (the goal is <= 256 bytes per pending
 * delivery beyond the payload). NULL when out of memory.
 */
static struct event *
event_alloc_room(const char *client_id, const char *type, size_t type_len,
    size_t room)
{
	size_t cl = strlen(client_id);
	struct event *ev = calloc(1, sizeof(*ev) + cl + 1 +
	    (room > type_len ? room : type_len) + 1);

	if (ev == NULL)
		return NULL;
	ev->client_id = ev->strs;
	memcpy(ev->client_id, client_id, cl + 1);
	ev->type = ev->strs + cl + 1;
	memcpy(ev->type, type, type_len);
	ev->type[type_len] = '\0';
	return ev;
}

struct event *
event_alloc(const char *client_id, const char *type, size_t type_len)
{
	return event_alloc_room(client_id, type, type_len, 0);
}

/* A gateway request's event: room for any type, as completing it sets
 * another in place (deliveries point at the event, so it cannot move). */
struct event *
event_alloc_gw(const char *client_id, const char *type, size_t type_len)
{
	return event_alloc_room(client_id, type, type_len, UTIL_TYPE_MAX);
}

/* Make room in the announce list for one more event. 0 or -1. */
static int
announce_room(void)
{
	struct announce *a = util_grow(st_journal.unannounced,
	    &st_journal.capunannounced, st_journal.nunannounced + 1,
	    sizeof(*a), 64);

	if (a == NULL)
		return -1;
	st_journal.unannounced = a;
	return 0;
}

/* A delivery left pending: the event's payload may go once none remains. */
static void
delivery_settled(struct delivery *d)
{
	struct event *ev = d->event;

	st_journal.pending--;
	st_journal.upstream_pending -= d->upstream;
	if (--ev->pending == 0) {
		free(ev->data);
		ev->data = NULL;
	}
}

static struct delivery *
delivery_new(struct event *ev, struct endpoint *e, const char *url)
{
	struct delivery *d = calloc(1, sizeof(*d));

	if (d == NULL)
		return NULL;
	if (url != NULL && (d->url = dup_or_null(url)) == NULL) {
		free(d);
		return NULL;
	}
	d->id = new_id();
	d->event = ev;
	d->endpoint = e;
	d->updated_at = ev->created_at;
	d->next_at = ev->created_at;
	d->last_off = -1;
	return d;
}

/* Append d to the list head..tail through ep_next. */
static void
dlv_append(struct delivery **head, struct delivery **tail,
    struct delivery *d)
{
	d->ep_next = NULL;
	if (*tail != NULL)
		(*tail)->ep_next = d;
	else
		*head = d;
	*tail = d;
}

/* Append d to its endpoint's list or, a one-off, to its client c's (NULL:
 * deleted, then none). Ids grow, so the lists stay in id order; a replay
 * that links one out of order sorts them after (index_sort_lists). */
void
dlv_index(struct delivery *d, struct client *c)
{
	if (d->endpoint != NULL) {
		dlv_append(&d->endpoint->dlv_head, &d->endpoint->dlv_tail, d);
		d->endpoint->ndlv++;
	} else if (d->url != NULL && c != NULL)
		dlv_append(&c->oneoff_head, &c->oneoff_tail, d);
}

/*
 * Link a new delivery into the id-ordered array and the counts. Its
 * event's list is the caller's: with tail, *tail is where d goes, and it is
 * moved past d, so a fan-out of K deliveries costs K appends, not K walks
 * to the list's end. 0, or -1 out of memory (nothing linked).
 */
int
delivery_link(struct delivery *d, struct delivery ***tail)
{
	struct event *ev = d->event;

	size_t n;

	if (vec_push(&st_journal.deliveries, d) != 0)
		return -1;
	n = st_journal.deliveries.n;
	if (n > 1 && ((struct delivery *)st_journal.deliveries.v[n - 2])->id >
	    d->id) {
		/* Only a completed gateway request's deliveries come out of
		 * order (replay_request_done): put d in its place. */
		struct vec before = st_journal.deliveries;
		size_t at;

		before.n--;
		at = vec_lower(&before, d->id);
		memmove(st_journal.deliveries.v + at + 1,
		    st_journal.deliveries.v + at, (n - 1 - at) * sizeof(void *));
		st_journal.deliveries.v[at] = d;
		/* The status index counts by place in the array: it is
		 * made again when next used; the lists d joins are
		 * sorted after the replay. */
		st_index.sidx_built = 0;
		st_index.lists_unsorted = 1;
	} else
		sidx_append(d);
	if (tail != NULL) {
		d->next_in_event = NULL;
		**tail = d;
		*tail = &d->next_in_event;
	}
	ev->ndeliveries++;
	if (d->status == STORE_PENDING) {
		ev->pending++;
		st_journal.pending++;
		st_journal.upstream_pending += d->upstream;
	}
	return 0;
}

/*
 * The drop's cursor on the lists through ep_next: each registered
 * endpoint's (in id order), then each client's one-offs (in id order).
 * pp is the link to the next delivery to look at: the list's head, or the
 * ep_next of last, its last kept delivery. Between steps only these can
 * change the list: an append at its tail (tail->ep_next, or the head when
 * empty), and a removal of the endpoint or the client, which detaches the
 * whole list (dlv_forget_detach first moves the cursor off it). A kept
 * delivery never leaves a list that stays, so last and pp stay valid; the
 * step that unlinks the list's last delivery sets its tail again, so an
 * append never follows a dropped one.
 */
static struct {
	struct endpoint *e;		/* the endpoint whose list, or NULL */
	struct client *c;		/* then the client's one-offs, or
					   NULL */
	struct delivery **pp, *last;
} dfg;

/* Put the cursor at the head of e's list, or (e NULL) of c's one-offs. */
static void
dfg_at(struct endpoint *e, struct client *c)
{
	dfg.e = e;
	dfg.c = e != NULL ? NULL : c;
	dfg.pp = e != NULL ? &e->dlv_head : c != NULL ? &c->oneoff_head : NULL;
	dfg.last = NULL;
}

/* Move the cursor to the list after its own (its endpoint or client still
 * registered). */
static void
dfg_next(void)
{
	size_t i;

	if (dfg.e != NULL) {
		i = vec_lower(&st_registry.endpoints, dfg.e->id) + 1;
		if (i < st_registry.endpoints.n)
			dfg_at(st_registry.endpoints.v[i], NULL);
		else
			dfg_at(NULL, st_registry.clients.n > 0 ?
			    st_registry.clients.v[0] : NULL);
	} else if (dfg.c != NULL) {
		i = client_lower(dfg.c->id, strlen(dfg.c->id)) + 1;
		dfg_at(NULL, i < st_registry.clients.n ?
		    st_registry.clients.v[i] : NULL);
	}
}

void
dlv_forget_begin(void)
{
	dfg_at(st_registry.endpoints.n > 0 ? st_registry.endpoints.v[0] :
	    NULL, st_registry.clients.n > 0 ? st_registry.clients.v[0] : NULL);
}

void
dlv_forget_stop(void)
{
	dfg_at(NULL, NULL);
}

void
dlv_forget_detach(const struct endpoint *e, const struct client *c)
{
	if ((e != NULL && dfg.e == e) || (c != NULL && dfg.c == c))
		dfg_next();
}

int
dlv_forget_step(size_t *budget)
{
	struct delivery *d;

	while (*budget > 0 && dfg.pp != NULL) {
		while (*budget > 0 && (d = *dfg.pp) != NULL) {
			(*budget)--;
			if (d->event->dropping) {
				*dfg.pp = d->ep_next;
				if (dfg.e != NULL)
					dfg.e->ndlv--;
			} else {
				dfg.last = d;
				dfg.pp = &d->ep_next;
			}
		}
		if (*dfg.pp != NULL)
			return 0;
		if (dfg.e != NULL)
			dfg.e->dlv_tail = dfg.last;
		else
			dfg.c->oneoff_tail = dfg.last;
		dfg_next();
	}
	return dfg.pp == NULL;
}

/* The names of enum store_gw in records and answers. */
static const char *const gw_names[] = { NULL, "forwarding", "completed",
	"failed" };

/* The name of a gateway state in a record, STORE_GW_NONE when unknown. */
int
gw_parse(const char *s)
{
	int k;

	for (k = STORE_GW_FORWARDING; k <= STORE_GW_FAILED; k++)
		if (strcmp(s, gw_names[k]) == 0)
			return k;
	return STORE_GW_NONE;
}

/*
 * Begin the "event" record of ev with the deliveries list (ev's, or the
 * ones about to be), its payload data, and for a gateway request its state
 * and upstream status; the caller writes it (rec_write).
 */
static void
event_rec(const struct event *ev, const struct delivery *list,
    const char *data, size_t data_len)
{
	const struct delivery *d;
	struct buf *b = rec_begin("event");

	rec_id("id", STORE_EVT, ev->id);
	rec_str("client", ev->client_id);
	buf_puts(b, ",\"type\":");
	json_put_str(b, ev->type, strlen(ev->type));
	rec_num("at", ev->created_at);
	/* Contract §15: in the event's own record, which compaction copies
	 * as it is, so the time holds across restarts and compactions. */
	if (ev->deliver_at != 0)
		rec_num("deliver_at", ev->deliver_at);
	buf_puts(b, ",\"dlv\":[");
	for (d = list; d != NULL; d = d->next_in_event) {
		char x[STORE_XID_MAX];

		store_fmt_id(STORE_DLV, d->id, x);
		buf_puts(b, d == list ? "[\"" : ",[\"");
		buf_puts(b, x);
		buf_append(b, "\",", 2);
		if (d->endpoint != NULL) {
			store_fmt_id(STORE_EP, d->endpoint->id, x);
			buf_append(b, "\"", 1);
			buf_puts(b, x);
			buf_append(b, "\"]", 2);
		} else {
			buf_puts(b, "null,");
			json_put_cstr(b, d->url);
			buf_puts(b, d->upstream ? ",\"upstream\"]" : "]");
		}
	}
	buf_puts(b, "]");
	if (ev->gw != STORE_GW_NONE) {
		rec_str("gw", gw_names[ev->gw]);
		rec_num("gw_status", ev->gw_status);
	}
	/* The payload is kept as a string, not embedded: its bytes must go
	 * to receivers exactly as sent, so it cannot be re-encoded, and
	 * embedded it would sit one level deeper than the producer nested it
	 * (a 64-deep payload would make the record unreadable). */
	buf_puts(b, ",\"data_s\":");
	json_put_str(b, data, data_len);
}

struct client *
store_event_client(const struct event *ev)
{
	return store_client_find(ev->client_id, strlen(ev->client_id));
}

/*
 * An event of client id cid (c: its client, NULL for hookd's operational
 * events, whose one-off is then on no client's list) as store_event_create
 * and store_event_create_at describe.
 */
static struct event *
event_create(const char *cid, struct client *c, const char *type,
    size_t type_len, const char *data, size_t data_len, struct endpoint **eps,
    size_t neps, const char *oneoff_url, int64_t now, int64_t deliver_at)
{
	struct event *ev = event_alloc(cid, type, type_len);
	struct delivery *d, *list = NULL, **tail = &list;
	void **dv;
	size_t i, nd = neps + (oneoff_url != NULL);
	off_t off;

	if (ev == NULL)
		goto nomem;
	ev->id = new_id();
	ev->created_at = now;
	/* Contract §15: a time not after now is now. */
	ev->deliver_at = deliver_at > now ? deliver_at : 0;
	for (i = 0; i < nd; i++) {
		d = delivery_new(ev, i < neps ? eps[i] : NULL,
		    i < neps ? NULL : oneoff_url);
		if (d == NULL)
			goto nomem;
		if (ev->deliver_at != 0)
			d->next_at = ev->deliver_at;
		*tail = d;
		tail = &d->next_in_event;
	}
	/* Room for the deliveries now: nothing can fail once the record
	 * is written. */
	dv = util_grow(st_journal.deliveries.v, &st_journal.deliveries.cap,
	    st_journal.deliveries.n + nd, sizeof(void *), 64);
	if (dv == NULL)
		goto nomem;
	st_journal.deliveries.v = dv;
	if (vec_push(&st_journal.events, NULL) != 0)
		goto nomem;
	st_journal.events.n--;
	if (event_index_prepare(ev) != 0)
		goto nomem;
	if (nd > 0 && (ev->data = util_strndup(data, data_len)) == NULL)
		goto nomem;
	ev->data_len = data_len;

	event_rec(ev, list, data, data_len);
	if (announce_room() != 0)
		goto nomem;
	off = rec_write(&st_files.jrn);
	if (off < 0)
		goto fail;
	ev->off = off;
	vec_push(&st_journal.events, ev);
	/* The list built above is the event's, handed over whole; each
	 * delivery joins the indexes (room in the array was made above). */
	ev->deliveries = list;
	for (d = list; d != NULL; d = d->next_in_event) {
		delivery_link(d, NULL);
		dlv_index(d, c);
	}
	event_index_add(ev);
	idem_expire(now, IDEM_EXPIRE_MAX);
	announce_when_durable(ev);
	return ev;
nomem:
	errno = ENOMEM;
fail:
	if (ev != NULL) {
		int e = errno;

		ev->deliveries = list;
		event_free(ev);
		errno = e;
	}
	return NULL;
}

struct event *
store_event_create(struct client *c, const char *type, size_t type_len,
    const char *data, size_t data_len, struct endpoint **eps, size_t neps,
    const char *oneoff_url, const char *idem, size_t idem_len, int64_t now)
{
	(void)idem;
	(void)idem_len;
	return event_create(c->id, c, type, type_len, data, data_len, eps,
	    neps, oneoff_url, now, 0);
}

struct event *
store_event_create_at(struct client *c, const char *type, size_t type_len,
    const char *data, size_t data_len, struct endpoint **eps, size_t neps,
    const char *oneoff_url, int64_t now, int64_t deliver_at)
{
	return event_create(c->id, c, type, type_len, data, data_len, eps,
	    neps, oneoff_url, now, deliver_at);
}

struct event *
store_ops_event_create(const char *type, const char *data, size_t data_len,
    const char *url, int64_t now)
{
	return event_create(STORE_OPS_CLIENT, NULL, type, strlen(type), data,
	    data_len, NULL, 0, url, now, 0);
}

int
store_event_is_ops(const struct event *ev)
{
	return strcmp(ev->client_id, STORE_OPS_CLIENT) == 0;
}

struct event *
store_request_create(struct client *c, const char *type, const char *req,
    size_t req_len, const char *upstream_url, int64_t now)
{
	struct event *ev = event_alloc_gw(c->id, type, strlen(type));
	struct delivery *d = NULL;
	off_t off;

	if (ev == NULL)
		goto nomem;
	ev->id = new_id();
	ev->created_at = now;
	ev->gw = STORE_GW_FORWARDING;
	if ((d = delivery_new(ev, NULL, upstream_url)) == NULL)
		goto nomem;
	d->upstream = 1;
	if (vec_push(&st_journal.events, NULL) != 0)
		goto nomem;
	st_journal.events.n--;
	if (vec_push(&st_journal.deliveries, NULL) != 0)
		goto nomem;
	st_journal.deliveries.n--;
	if (event_index_prepare(ev) != 0)
		goto nomem;
	if ((ev->data = util_strndup(req, req_len)) == NULL ||
	    announce_room() != 0)
		goto nomem;
	ev->data_len = req_len;
	event_rec(ev, d, req, req_len);
	off = rec_write(&st_files.jrn);
	if (off < 0)
		goto fail;
	ev->off = off;
	vec_push(&st_journal.events, ev);
	ev->deliveries = d;
	delivery_link(d, NULL);
	/* On its client's one-off list: a client's deletion fails it. */
	dlv_index(d, c);
	event_index_add(ev);
	announce_when_durable(ev);
	return ev;
nomem:
	errno = ENOMEM;
fail:
	if (ev != NULL) {
		int e = errno;

		ev->deliveries = d;
		event_free(ev);
		errno = e;
	}
	return NULL;
}

int
store_request_complete(struct event *ev, int failed, int status,
    const char *type, size_t type_len, const char *data, size_t data_len,
    struct endpoint **eps, size_t neps, const char *oneoff_url, int64_t now)
{
	struct delivery *d, *list = NULL, **tail = &list, *last;
	void **dv;
	struct client *c = store_event_client(ev);
	size_t i, nd = neps + (oneoff_url != NULL);
	char *copy = NULL, oldtype[UTIL_TYPE_MAX + 1];
	uint8_t oldgw = ev->gw;
	uint16_t oldst = ev->gw_status;
	off_t off;

	if (ev->gw != STORE_GW_FORWARDING || type_len == 0 ||
	    type_len > UTIL_TYPE_MAX) {
		errno = EINVAL;
		return -1;
	}
	compact_settle(ev);	/* its offsets are about to change */
	(void)now;
	for (i = 0; i < nd; i++) {
		d = delivery_new(ev, i < neps ? eps[i] : NULL,
		    i < neps ? NULL : oneoff_url);
		if (d == NULL)
			goto nomem;
		d->updated_at = d->next_at = now;
		*tail = d;
		tail = &d->next_in_event;
	}
	/* Room for the deliveries now: nothing can fail once the record
	 * is written. */
	dv = util_grow(st_journal.deliveries.v, &st_journal.deliveries.cap,
	    st_journal.deliveries.n + nd, sizeof(void *), 64);
	if (dv == NULL)
		goto nomem;
	st_journal.deliveries.v = dv;
	if ((copy = util_strndup(data, data_len)) == NULL ||
	    announce_room() != 0)
		goto nomem;
	/* The record holds the whole event: the upstream call first, then
	 * the new deliveries, so that a compaction, which copies an event's
	 * newest record, keeps them all. */
	for (last = ev->deliveries; last->next_in_event != NULL;
	    last = last->next_in_event)
		;
	last->next_in_event = list;
	memcpy(oldtype, ev->type, strlen(ev->type) + 1);
	memcpy(ev->type, type, type_len);
	ev->type[type_len] = '\0';
	ev->gw = failed ? STORE_GW_FAILED : STORE_GW_COMPLETED;
	ev->gw_status = (uint16_t)(status > 0 && status < 1000 ? status : 0);
	/* The (client id, new type) list, before the record. */
	if (event_index_prepare(ev) != 0) {
		errno = ENOMEM;
		off = -1;
	} else {
		event_rec(ev, ev->deliveries, data, data_len);
		off = rec_write(&st_files.jrn);
	}
	last->next_in_event = NULL;
	if (off < 0) {
		memcpy(ev->type, oldtype, strlen(oldtype) + 1);
		ev->gw = oldgw;
		ev->gw_status = oldst;
		goto fail;
	}
	event_index_retype(ev, oldtype);
	ev->off = off;
	/* The payload is now the answer: kept while deliveries need it. */
	free(ev->data);
	ev->data = NULL;
	ev->data_len = 0;
	if (nd > 0) {
		ev->data = copy;
		ev->data_len = data_len;
		copy = NULL;
	}
	free(copy);
	last->next_in_event = list;
	for (d = list; d != NULL; d = d->next_in_event) {
		delivery_link(d, NULL);
		dlv_index(d, c);
	}
	event_index_add_deliveries(ev, list);
	announce_when_durable(ev);
	return 0;
nomem:
	errno = ENOMEM;
fail:
	{
		int e = errno;

		free(copy);
		while (list != NULL) {
			d = list->next_in_event;
			free(list->url);
			free(list);
			list = d;
		}
		errno = e;
	}
	return -1;
}

const char *
store_event_data(struct event *ev, struct buf *b, size_t *len)
{
	char *line = NULL;
	size_t cap = 4096, n = 0;
	int ntok, v;
	const char *ret = NULL;
	struct json_tok *toks = NULL;

	if (ev->data != NULL) {
		*len = ev->data_len;
		return ev->data;
	}
	compact_settle(ev);
	/* Read the record back: up to its newline. */
	for (;;) {
		char *p = realloc(line, cap);
		ssize_t r;

		if (p == NULL)
			goto out;
		line = p;
		r = log_pread(&st_files.jrn, line + n, cap - n,
		    ev->off + (off_t)n);
		if (r <= 0)
			goto out;
		n += (size_t)r;
		if (memchr(line + n - (size_t)r, '\n', (size_t)r) != NULL)
			break;
		if (n == cap) {
			if (cap >= STORE_LINE_MAX)
				goto out;
			cap *= 2;
		}
	}
	n = (size_t)((char *)memchr(line, '\n', n) - line);
	if (n < 10)
		goto out;
	ntok = json_parse(line + 9, n - 9, NULL, 0);
	if (ntok <= 0 || (toks = malloc((size_t)ntok * sizeof(*toks))) == NULL)
		goto out;
	json_parse(line + 9, n - 9, toks, (size_t)ntok);
	buf_reset(b);
	if ((v = rget(line + 9, toks, "data")) >= 0) {
		if (buf_append(b, line + 9 + toks[v].start, toks[v].len) != 0)
			goto out;
	} else if ((v = rget(line + 9, toks, "data_s")) >= 0) {
		if (json_str_buf(line + 9, &toks[v], b) != 0)
			goto out;
	} else
		goto out;
	*len = b->len;
	ret = b->data;
	/* Keep it while deliveries still need it: held at most once. */
	if (ev->pending > 0 && (ev->data = util_strndup(b->data, b->len)))
		ev->data_len = b->len;
out:
	free(toks);
	free(line);
	return ret;
}

/* Write an attempt record for d; the outcome in a. */
static off_t
attempt_record(const struct delivery *d, const struct store_attempt *a,
    int attempts, int64_t next_at)
{
	struct buf *b;

	compact_settle(d->event);	/* "prev" is in the journal now */
	b = rec_begin("attempt");
	rec_id("d", STORE_DLV, d->id);
	rec_num("prev", (int64_t)d->last_off);
	rec_num("n", attempts);
	rec_num("at", a->at);
	if (a->status > 0)
		rec_num("status", a->status);
	else
		buf_puts(b, ",\"status\":null");
	rec_str("error", a->error);
	rec_num("ms", a->ms);
	buf_puts(b, ",\"body\":");
	json_put_str(b, a->body != NULL ? a->body : "", a->body_len);
	rec_str("state", store_status_names[a->new_status]);
	rec_num("next", next_at);
	if (a->ack != NULL && a->ack_len > 0)
		rec_json("ack", a->ack, a->ack_len);
	/* A delivery failed without an attempt (a delete, a disable, a
	 * template): replay must not count it as an attempt's outcome in the
	 * endpoint's health. */
	if (a->no_attempt)
		rec_num("made", 0);
	return rec_write(&st_files.jrn);
}

void
apply_state(struct delivery *d, int status, int64_t next_at, int64_t at)
{
	int was = d->status;

	d->status = (uint8_t)status;
	sidx_move(d, was, status);
	d->next_at = status == STORE_PENDING ? next_at : 0;
	d->updated_at = at;
	if (was == STORE_PENDING && status != STORE_PENDING) {
		delivery_settled(d);
		if (d->endpoint != NULL)
			health_note_end(d->endpoint, status, at);
	}
	else if (was != STORE_PENDING && status == STORE_PENDING) {
		st_journal.pending++;
		st_journal.upstream_pending += d->upstream;
		d->event->pending++;
	}
}

int
store_delivery_attempted(struct delivery *d, const struct store_attempt *a)
{
	int n = d->attempts < 255 ? d->attempts + 1 : 255;
	off_t off = attempt_record(d, a, n, a->next_at);

	/* The outcome stands in memory even when it could not be written (a
	 * full disk): the receiver has it, and at worst a restart repeats the
	 * attempt, which at-least-once delivery allows. */
	d->attempts = (uint8_t)n;
	if (off >= 0)
		d->last_off = off;
	if (d->endpoint != NULL)
		health_note_attempt(d->endpoint, a->new_status ==
		    STORE_DELIVERED, a->at + a->ms);
	apply_state(d, a->new_status, a->next_at, a->at + a->ms);
	return off >= 0 ? 0 : -1;
}

int
store_delivery_fail(struct delivery *d, const char *error, int64_t now)
{
	struct store_attempt a = { .at = now, .error = error,
	    .new_status = STORE_FAILED, .no_attempt = 1 };
	off_t off;

	if (d->status != STORE_PENDING)
		return 0;
	off = attempt_record(d, &a, d->attempts, 0);
	if (off >= 0)
		d->last_off = off;
	if (store_on_fail != NULL)
		store_on_fail(d);
	apply_state(d, STORE_FAILED, 0, now);
	return off >= 0 ? 0 : -1;
}

void
requeue_rec(uint64_t did, int64_t next_at)
{
	rec_begin("requeue");
	rec_id("d", STORE_DLV, did);
	rec_num("next", next_at);
}

int
store_delivery_requeue(struct delivery *d, int64_t next_at)
{
	if (d->event->dropping) {
		/* Past retention and being compacted away. */
		errno = ENOENT;
		return -1;
	}
	requeue_rec(d->id, next_at);
	if (rec_write(&st_files.jrn) < 0)
		return -1;
	apply_state(d, STORE_PENDING, next_at, util_wall_ms());
	if (store_on_due != NULL)
		store_on_due(d);
	return 0;
}

void
store_foreach_pending(void (*fn)(struct delivery *d, void *arg), void *arg)
{
	size_t i;

	for (i = 0; i < st_journal.deliveries.n; i++) {
		struct delivery *d = st_journal.deliveries.v[i];

		if (d->status == STORE_PENDING)
			fn(d, arg);
	}
}

static void
put_member(struct buf *out, const char *s, const struct json_tok *t,
    const char *key, const char *name)
{
	int v = rget(s, t, key);

	buf_printf(out, "\"%s\":", name);
	if (v < 0)
		buf_puts(out, "null");
	else if (t[v].type == JSON_STRING)
		buf_append(out, s + t[v].start - 1, t[v].len + 2);
	else
		buf_append(out, s + t[v].start, t[v].len);
}

/* Append one attempt record as the API's attempt object. */
static void
put_attempt(struct buf *out, const char *s, const struct json_tok *t,
    int with_body)
{
	int v = rget(s, t, "at");
	char tm[UTIL_TIME_MAX];
	uint64_t at = 0;

	if (v >= 0)
		util_parse_u64(s + t[v].start, t[v].len, UINT64_MAX, &at);
	buf_printf(out, "{\"at\":\"%s\",", util_fmt_time((int64_t)at, tm));
	put_member(out, s, t, "status", "status");
	buf_puts(out, ",");
	put_member(out, s, t, "error", "error");
	buf_puts(out, ",");
	put_member(out, s, t, "ms", "ms");
	if (with_body) {
		buf_puts(out, ",");
		put_member(out, s, t, "body", "body");
	}
	buf_puts(out, "}");
}

/* The ack of an attempt record as JSON text: the object, or one kept as a
 * string (rec_json) re-encoded, or null. */
static void
put_ack(struct buf *out, const char *s, const struct json_tok *t)
{
	struct buf tmp = {0};
	int v = rget(s, t, "ack");

	if (v >= 0 && t[v].type != JSON_NULL) {
		buf_append(out, s + t[v].start, t[v].len);
		return;
	}
	v = rget(s, t, "ack_s");
	if (v < 0 || t[v].type != JSON_STRING ||
	    json_str_buf(s, &t[v], &tmp) != 0 ||
	    json_put_json(out, tmp.data != NULL ? tmp.data : "", tmp.len,
	    JSON_MAX_DEPTH) != 0)
		buf_puts(out, "null");
	buf_free(&tmp);
}

int
store_delivery_history(const struct delivery *d, struct buf *last,
    struct buf *ack, struct buf *log)
{
	struct buf rb = {0};
	struct json_tok *toks = NULL;
	size_t ntoks = 0, nrec = 0, i;
	off_t off, *offs = NULL;
	int r = -1;

	compact_settle(d->event);
	off = d->last_off;
	if (off < 0) {
		buf_puts(last, "null");
		buf_puts(ack, "null");
		return 0;
	}
	/* Walk the chain back, newest first. */
	while (off >= 0) {
		int nt, v;
		uint64_t prev;
		off_t *no;

		buf_reset(&rb);
		nt = read_record(off, &rb, &toks, &ntoks);
		if (nt <= 0)
			goto out;
		if (nrec == 0) {
			put_attempt(last, rb.data + 9, toks, 0);
			put_ack(ack, rb.data + 9, toks);
		}
		no = realloc(offs, (nrec + 1) * sizeof(*offs));
		if (no == NULL)
			goto out;
		offs = no;
		offs[nrec++] = off;
		if (log == NULL || nrec >= store_max_log)
			break;
		v = rget(rb.data + 9, toks, "prev");
		if (v < 0 || rb.data[9 + toks[v].start] == '-' ||
		    util_parse_u64(rb.data + 9 + toks[v].start, toks[v].len,
		    (uint64_t)off - 1, &prev) != 0)
			break;
		off = (off_t)prev;
	}
	for (i = nrec; log != NULL && i-- > 0;) {
		buf_reset(&rb);
		if (read_record(offs[i], &rb, &toks, &ntoks) <= 0)
			goto out;
		if (i + 1 < nrec)
			buf_puts(log, ",");
		put_attempt(log, rb.data + 9, toks, 1);
	}
	r = 0;
out:
	free(offs);
	free(toks);
	buf_free(&rb);
	return r;
}

