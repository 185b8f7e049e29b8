/*
 * store_journal: events, deliveries, attempts and Idempotency-Keys, in
 * memory and in journal.log: the records they write, reading payloads and
 * attempt histories back, and their replay.
 */
#include "store_impl.h"
#include "sign.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Attempts kept in a delivery's log unless store_set_max_log says
 * otherwise (contract §18: max_log_attempts). */
#define STORE_MAX_LOG_DEFAULT 50

struct store_journal st_journal;

struct store_idem st_idem;

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

/* ---- events and deliveries ---- */

struct event *
store_event_find(uint64_t id)
{
	return vec_find(&st_journal.events, id);
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
	return vec_find(&st_journal.deliveries, id);
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

static struct event *
event_alloc(const char *client_id, const char *type, size_t type_len)
{
	return event_alloc_room(client_id, type, type_len, 0);
}

/* A gateway request's event: room for any type, as completing it sets
 * another in place (deliveries point at the event, so it cannot move). */
static struct event *
event_alloc_gw(const char *client_id, const char *type, size_t type_len)
{
	return event_alloc_room(client_id, type, type_len, UTIL_TYPE_MAX);
}

/* Make room in the announce list for one more event. 0 or -1. */
static int
announce_room(void)
{
	size_t cap;
	struct announce *a;

	if (st_journal.nunannounced < st_journal.capunannounced)
		return 0;
	cap = st_journal.capunannounced ? st_journal.capunannounced * 2 : 64;
	a = realloc(st_journal.unannounced, cap * sizeof(*a));
	if (a == NULL)
		return -1;
	st_journal.unannounced = a;
	st_journal.capunannounced = cap;
	return 0;
}

/* A delivery left pending: the event's payload may go once none remains. */
static void
delivery_settled(struct delivery *d)
{
	struct event *ev = d->event;

	st_journal.pending--;
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
static void
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
static int
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
	}
	return 0;
}

/* Drop from the list head..tail the deliveries whose events a compaction
 * is removing; returns how many remain. */
static size_t
dlv_list_forget(struct delivery **head, struct delivery **tail)
{
	struct delivery **pp = head, *last = NULL;
	size_t n = 0;

	while (*pp != NULL) {
		if ((*pp)->event->dropping) {
			*pp = (*pp)->ep_next;
		} else {
			last = *pp;
			pp = &(*pp)->ep_next;
			n++;
		}
	}
	*tail = last;
	return n;
}

void
index_forget_dropping(void)
{
	size_t i;

	for (i = 0; i < st_registry.endpoints.n; i++) {
		struct endpoint *e = st_registry.endpoints.v[i];

		e->ndlv = dlv_list_forget(&e->dlv_head, &e->dlv_tail);
	}
	for (i = 0; i < st_registry.clients.n; i++) {
		struct client *c = st_registry.clients.v[i];

		dlv_list_forget(&c->oneoff_head, &c->oneoff_tail);
	}
	event_index_forget();
}

/* The names of enum store_gw in records and answers. */
static const char *const gw_names[] = { NULL, "forwarding", "completed",
	"failed" };

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
	buf_puts(b, ",\"dlv\":[");
	for (d = list; d != NULL; d = d->next_in_event) {
		char x[STORE_XID_MAX];

		store_fmt_id(STORE_DLV, d->id, x);
		buf_printf(b, "%s[\"%s\",", d == list ? "" : ",", x);
		if (d->endpoint != NULL) {
			store_fmt_id(STORE_EP, d->endpoint->id, x);
			buf_printf(b, "\"%s\"]", x);
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

struct event *
store_event_create(struct client *c, const char *type, size_t type_len,
    const char *data, size_t data_len, struct endpoint **eps, size_t neps,
    const char *oneoff_url, const char *idem, size_t idem_len, int64_t now)
{
	struct event *ev = event_alloc(c->id, type, type_len);
	struct delivery *d, *list = NULL, **tail = &list;
	size_t i, nd = neps + (oneoff_url != NULL);
	off_t off;

	(void)idem;
	(void)idem_len;
	if (ev == NULL)
		goto nomem;
	ev->id = new_id();
	ev->created_at = now;
	for (i = 0; i < nd; i++) {
		d = delivery_new(ev, i < neps ? eps[i] : NULL,
		    i < neps ? NULL : oneoff_url);
		if (d == NULL)
			goto nomem;
		*tail = d;
		tail = &d->next_in_event;
	}
	if (st_journal.deliveries.cap - st_journal.deliveries.n < nd) {
		size_t cap = (st_journal.deliveries.n + nd) * 2;
		void **v = realloc(st_journal.deliveries.v,
		    cap * sizeof(void *));

		if (v == NULL)
			goto nomem;
		st_journal.deliveries.v = v;
		st_journal.deliveries.cap = cap;
	}
	if (vec_push(&st_journal.events, NULL) != 0)
		goto nomem;
	st_journal.events.n--;
	if (event_index_prepare(ev) != 0)
		goto nomem;
	if (nd > 0 && (ev->data = util_strndup(data, data_len)) == NULL)
		goto nomem;
	ev->data_len = data_len;

	event_rec(ev, list, data, data_len);
	if (st_journal.nunannounced == st_journal.capunannounced) {
		size_t cap = st_journal.capunannounced ?
		    st_journal.capunannounced * 2 : 64;
		struct announce *a = realloc(st_journal.unannounced,
		    cap * sizeof(*a));

		if (a == NULL)
			goto nomem;
		st_journal.unannounced = a;
		st_journal.capunannounced = cap;
	}
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
	/* The engine hears of the deliveries once the event is durable. */
	st_journal.unannounced[st_journal.nunannounced].ev = ev;
	st_journal.unannounced[st_journal.nunannounced++].seq =
	    st_files.written_seq;
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
	st_journal.unannounced[st_journal.nunannounced].ev = ev;
	st_journal.unannounced[st_journal.nunannounced++].seq =
	    st_files.written_seq;
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
	if (st_journal.deliveries.cap - st_journal.deliveries.n < nd) {
		size_t cap = (st_journal.deliveries.n + nd) * 2;
		void **v = realloc(st_journal.deliveries.v,
		    cap * sizeof(void *));

		if (v == NULL)
			goto nomem;
		st_journal.deliveries.v = v;
		st_journal.deliveries.cap = cap;
	}
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
	st_journal.unannounced[st_journal.nunannounced].ev = ev;
	st_journal.unannounced[st_journal.nunannounced++].seq =
	    st_files.written_seq;
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
	static const char *const names[] = { "pending", "delivered", "failed" };
	struct buf *b = rec_begin("attempt");

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
	rec_str("state", names[a->new_status]);
	rec_num("next", next_at);
	if (a->ack != NULL && a->ack_len > 0)
		rec_json("ack", a->ack, a->ack_len);
	return rec_write(&st_files.jrn);
}

static void
apply_state(struct delivery *d, int status, int64_t next_at, int64_t at)
{
	int was = d->status;

	d->status = (uint8_t)status;
	sidx_move(d, was, status);
	d->next_at = status == STORE_PENDING ? next_at : 0;
	d->updated_at = at;
	if (was == STORE_PENDING && status != STORE_PENDING)
		delivery_settled(d);
	else if (was != STORE_PENDING && status == STORE_PENDING) {
		st_journal.pending++;
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
	apply_state(d, a->new_status, a->next_at, a->at + a->ms);
	return off >= 0 ? 0 : -1;
}

int
store_delivery_fail(struct delivery *d, const char *error, int64_t now)
{
	struct store_attempt a = { .at = now, .error = error,
	    .new_status = STORE_FAILED };
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

int
store_delivery_requeue(struct delivery *d, int64_t next_at)
{
	if (d->event->dropping) {
		/* Past retention and being compacted away. */
		errno = ENOENT;
		return -1;
	}
	rec_begin("requeue");
	rec_id("d", STORE_DLV, d->id);
	rec_num("next", next_at);
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
	off_t off = d->last_off, *offs = NULL;
	int r = -1;

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

/* ---- idempotency keys ---- */

/* A random seed for idem_hash, drawn once per process, so that a client
 * cannot work out offline which keys would share a bucket. */
static uint32_t idem_seed;
static int idem_seeded;

/* The table's hash of a key: the seed, its client's id, then 0xff, which
 * no client id holds, then the key, FNV-1a over all of it; then
 * MurmurHash3's finaliser, so that every bit of the state reaches the low
 * bits the bucket index is taken from (FNV-1a's low bits depend only on
 * the low bits before them). Keys are the client's choice: without the
 * seed, keys picked to share a bucket would make each lookup walk them
 * all (hash flooding). */
static uint32_t
idem_hash(const char *client, const char *key, size_t len)
{
	uint32_t h;

	if (!idem_seeded) {
		/* Without randomness the hash is only unkeyed, as before. */
		if (sign_random(&idem_seed, sizeof(idem_seed)) != 0)
			idem_seed = 0;
		idem_seeded = 1;
	}
	h = util_hash(UTIL_HASH_START ^ idem_seed, client, strlen(client));
	h = util_hash(h, "\xff", 1);
	h = util_hash(h, key, len);
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

static struct idem *
idem_lookup(const char *client, const char *key, size_t len, int64_t now)
{
	struct util_hent *h;

	for (h = util_htab_first(&st_idem.tab, idem_hash(client, key, len));
	    h != NULL; h = util_htab_next(h)) {
		struct idem *i = UTIL_CONTAINER(h, struct idem, h);

		if (now - i->at < STORE_IDEM_MS && strcmp(i->client, client) ==
		    0 && util_span_eq(key, len, i->key))
			return i;
	}
	return NULL;
}

/* The keys' record of client id (len bytes), or NULL. The table is not
 * seeded as idem_hash is: client ids are the admin's choice. */
static struct idem_owner *
idem_owner_find(const char *id, size_t len)
{
	struct util_hent *x;

	for (x = util_htab_first(&st_idem.owners, util_hash(UTIL_HASH_START,
	    id, len)); x != NULL; x = util_htab_next(x)) {
		struct idem_owner *o = UTIL_CONTAINER(x, struct idem_owner, h);

		if (util_span_eq(id, len, o->id))
			return o;
	}
	return NULL;
}

/* Count key i toward its client id's record, made when missing. 0, or -1
 * out of memory. */
static int
idem_owner_add(const struct idem *i)
{
	size_t len = strlen(i->client);
	struct idem_owner *o = idem_owner_find(i->client, len);

	if (o == NULL) {
		o = calloc(1, sizeof(*o) + len + 1);
		if (o == NULL)
			return -1;
		memcpy(o->id, i->client, len + 1);
		if (util_htab_add(&st_idem.owners, &o->h,
		    util_hash(UTIL_HASH_START, o->id, len)) != 0) {
			free(o);
			return -1;
		}
		o->next = st_idem.owners_all;
		if (o->next != NULL)
			o->next->prev = o;
		st_idem.owners_all = o;
	}
	if (o->n++ == 0 || i->at > o->newest)
		o->newest = i->at;
	return 0;
}

/* Key i leaves the table: its client id's record counts one less, and goes
 * with the last. */
static void
idem_owner_del(const struct idem *i)
{
	struct idem_owner *o = idem_owner_find(i->client, strlen(i->client));

	if (o == NULL || --o->n > 0)
		return;
	util_htab_del(&st_idem.owners, &o->h);
	if (o->prev != NULL)
		o->prev->next = o->next;
	else
		st_idem.owners_all = o->next;
	if (o->next != NULL)
		o->next->prev = o->prev;
	free(o);
}

int
idem_id_held(const char *id, size_t len, int64_t now)
{
	const struct idem_owner *o = idem_owner_find(id, len);

	return o != NULL && now - o->newest < STORE_IDEM_MS;
}

static void
idem_free(struct idem *i)
{
	free(i->client);
	free(i->key);
	free(i->body);
	free(i);
}

static int
idem_add(const char *client, const char *key, size_t len,
    const uint8_t *req, int status, const char *body, int64_t at)
{
	struct idem *i = calloc(1, sizeof(*i));

	if (i == NULL || (i->client = dup_or_null(client)) == NULL ||
	    (i->key = util_strndup(key, len)) == NULL ||
	    (i->body = dup_or_null(body)) == NULL ||
	    util_htab_add(&st_idem.tab, &i->h, idem_hash(client, key,
	    len)) != 0) {
		if (i != NULL)
			idem_free(i);
		return -1;
	}
	i->status = status;
	i->at = at;
	if (idem_owner_add(i) != 0) {
		util_htab_del(&st_idem.tab, &i->h);
		idem_free(i);
		return -1;
	}
	if (req != NULL) {
		memcpy(i->req, req, 32);
		i->has_req = 1;
	}
	if (st_idem.tail != NULL) {
		if (at < st_idem.tail->at)
			st_idem.unsorted = 1;
		st_idem.tail->qnext = i;
	} else
		st_idem.head = i;
	st_idem.tail = i;
	return 0;
}

void
idem_expire(int64_t now, size_t max)
{
	struct idem *i;

	while ((i = st_idem.head) != NULL && now - i->at >= STORE_IDEM_MS &&
	    max-- > 0) {
		st_idem.head = i->qnext;
		if (st_idem.head == NULL)
			st_idem.tail = NULL;
		util_htab_del(&st_idem.tab, &i->h);
		idem_owner_del(i);
		idem_free(i);
	}
}

/* Merge two queues sorted by time into one (stable: a first on ties). */
static struct idem *
idem_merge(struct idem *a, struct idem *b)
{
	struct idem *head = NULL, **tail = &head;

	while (a != NULL && b != NULL) {
		struct idem **min = b->at < a->at ? &b : &a;

		*tail = *min;
		tail = &(*min)->qnext;
		*min = (*min)->qnext;
	}
	*tail = a != NULL ? a : b;
	return head;
}

void
idem_sort(void)
{
	/* A bottom-up merge sort of the list: runs[k] holds a sorted run of
	 * 2^k keys; O(n log n) with no recursion and no allocation. */
	struct idem *runs[64] = {0}, *i, *next;
	size_t k;

	if (!st_idem.unsorted)
		return;
	for (i = st_idem.head; i != NULL; i = next) {
		next = i->qnext;
		i->qnext = NULL;
		for (k = 0; k < 63 && runs[k] != NULL; k++) {
			i = idem_merge(runs[k], i);
			runs[k] = NULL;
		}
		runs[k] = runs[k] != NULL ? idem_merge(runs[k], i) : i;
	}
	for (i = NULL, k = 0; k < 64; k++)
		if (runs[k] != NULL)
			i = idem_merge(runs[k], i);
	st_idem.head = i;
	while (i != NULL && i->qnext != NULL)
		i = i->qnext;
	st_idem.tail = i;
	st_idem.unsorted = 0;
}

void
idem_free_all(void)
{
	struct idem *i, *next;
	struct idem_owner *o, *onext;

	for (i = st_idem.head; i != NULL; i = next) {
		next = i->qnext;
		idem_free(i);
	}
	for (o = st_idem.owners_all; o != NULL; o = onext) {
		onext = o->next;
		free(o);
	}
	util_htab_free(&st_idem.tab);
	util_htab_free(&st_idem.owners);
	memset(&st_idem, 0, sizeof(st_idem));
}

int
store_idem_find(const struct client *c, const char *key, size_t len,
    const uint8_t req[32], int64_t now, int *status, const char **body)
{
	struct idem *i;

	idem_expire(now, IDEM_EXPIRE_MAX);
	i = idem_lookup(c->id, key, len, now);
	if (i == NULL)
		return -1;
	if (i->has_req && !sign_equal(i->req, req, 32))
		return 1;
	*status = i->status;
	*body = i->body;
	return 0;
}

/* The members of an idem record after "t" (store_idem_put, compaction). */
void
idem_members(const char *client, const char *key, size_t len,
    const uint8_t *req, int status, const char *body, int64_t at)
{
	char hex[65];

	rec_str("client", client);
	buf_puts(&st_files.rec, ",\"key\":");
	json_put_str(&st_files.rec, key, len);
	rec_num("at", at);
	rec_num("status", status);
	rec_str("body", body);
	if (req != NULL) {
		hex32(req, hex);
		rec_str("req_sha256", hex);
	}
}

int
store_idem_put(const struct client *c, const char *key, size_t len,
    const uint8_t req[32], int status, const char *body, int64_t now)
{
	rec_begin("idem");
	idem_members(c->id, key, len, req, status, body, now);
	if (rec_write(&st_files.jrn) < 0)
		return -1;
	return idem_add(c->id, key, len, req, status, body, now);
}

/* ---- replay ---- */

/* Note d as left without endpoint eid, which the registry never deleted.
 * 0 or -1 out of memory. */
static int
orphan_add(struct delivery *d, uint64_t eid)
{
	if (st_journal.norphans == st_journal.caporphans) {
		size_t cap = st_journal.caporphans ?
		    st_journal.caporphans * 2 : 16;
		struct store_orphan *o = realloc(st_journal.orphans,
		    cap * sizeof(*o));

		if (o == NULL)
			return -1;
		st_journal.orphans = o;
		st_journal.caporphans = cap;
	}
	st_journal.orphans[st_journal.norphans].d = d;
	st_journal.orphans[st_journal.norphans++].endpoint = eid;
	return 0;
}

/*
 * Contract §18: hookd check --fix moves an endpoint whose record (or whose
 * client's record) cannot be read, and the journal still names it. Its
 * deliveries that are not settled end failed now, saying why, rather than
 * staying pending for an endpoint that is not there. 0, or -1 when a record
 * cannot be written. After a crash while settling: the deliveries whose
 * failure records were written are failed with an attempt record and are
 * skipped next time; the rest are settled again at the next start.
 */
int
orphans_settle(void)
{
	char x[STORE_XID_MAX], why[160];
	int64_t now = util_wall_ms();
	size_t i;
	int ret = 0;

	for (i = 0; i < st_journal.norphans; i++) {
		struct delivery *d = st_journal.orphans[i].d;

		if (d->status == STORE_DELIVERED ||
		    (d->status == STORE_FAILED && d->last_off >= 0))
			continue;
		apply_state(d, STORE_PENDING, 0, d->updated_at);
		store_fmt_id(STORE_EP, st_journal.orphans[i].endpoint, x);
		snprintf(why, sizeof(why), "endpoint %s is not in the registry "
		    "(hookd check --fix moved it to damaged-*.log)", x);
		if (store_delivery_fail(d, why, now) != 0)
			ret = -1;
	}
	free(st_journal.orphans);
	st_journal.orphans = NULL;
	st_journal.norphans = st_journal.caporphans = 0;
	return ret;
}

/* The name of a gateway state in a record, STORE_GW_NONE when unknown. */
static int
gw_parse(const char *s)
{
	int k;

	for (k = STORE_GW_FORWARDING; k <= STORE_GW_FAILED; k++)
		if (strcmp(s, gw_names[k]) == 0)
			return k;
	return STORE_GW_NONE;
}

/*
 * One entry (token i) of an event record's "dlv" for ev (recorded at at,
 * gateway state gw): a new delivery into *out, or *out NULL when it names
 * one ev already has (the upstream call of a request whose completion
 * this record is; its state is then the request's). 0, or -1 when bad.
 */
static int
replay_dlv(struct replay *r, int i, struct event *ev, int64_t at, int gw,
    struct delivery **out)
{
	const struct json_tok *a = &r->t[i];
	struct delivery *d;
	uint64_t did, eid;

	*out = NULL;
	if (a->type != JSON_ARRAY || a->size < 2 ||
	    r->t[i + 1].type != JSON_STRING ||
	    store_parse_id(STORE_DLV, r->s + r->t[i + 1].start,
	    r->t[i + 1].len, &did) != 0)
		return -1;
	if (gw != STORE_GW_NONE && (d = store_delivery_find(did)) != NULL) {
		if (d->event != ev || !d->upstream)
			return -1;
		if (gw > STORE_GW_FORWARDING)
			apply_state(d, gw == STORE_GW_COMPLETED ?
			    STORE_DELIVERED : STORE_FAILED, 0, d->updated_at);
		return 0;
	}
	d = calloc(1, sizeof(*d));
	if (d == NULL)
		return -1;
	d->id = did;
	d->event = ev;
	d->updated_at = d->next_at = at;
	d->last_off = -1;
	if (r->t[i + 2].type == JSON_STRING &&
	    store_parse_id(STORE_EP, r->s + r->t[i + 2].start,
	    r->t[i + 2].len, &eid) == 0) {
		d->endpoint = store_endpoint_find(eid);
		if (d->endpoint == NULL) {
			/* Deleted while the journal was not told:
			 * settle it now (open writes the record). */
			d->status = STORE_FAILED;
			d->next_at = 0;
			if (!st_replay.checking && !gone_has(eid) &&
			    orphan_add(d, eid) != 0) {
				free(d);
				return -1;
			}
		}
	} else if (a->size >= 3 && r->t[i + 3].type == JSON_STRING) {
		struct buf b = {0};

		if (json_str_buf(r->s, &r->t[i + 3], &b) != 0 ||
		    (d->url = util_strndup(b.data != NULL ? b.data :
		    "", b.len)) == NULL) {
			buf_free(&b);
			free(d);
			return -1;
		}
		/* Its own length, not the buf's 256 bytes. */
		buf_free(&b);
		if (a->size >= 4 && r->t[i + 4].type == JSON_STRING &&
		    json_str_eq(r->s, &r->t[i + 4], "upstream")) {
			d->upstream = 1;
			/* Settled with the request (requests_settle). */
			if (gw > STORE_GW_FORWARDING) {
				d->status = gw == STORE_GW_COMPLETED ?
				    STORE_DELIVERED : STORE_FAILED;
				d->next_at = 0;
			}
		}
	} else {
		free(d);
		return -1;
	}
	seen_id(did);
	*out = d;
	return 0;
}

/*
 * A gateway request's completion (store_request_complete): the event
 * record again, whole, with the request's new state and type, the upstream
 * call settled with it, and the new deliveries. Their ids are newer than
 * those of events recorded in between, and a compacted journal keeps them
 * with their event: delivery_link keeps the array in id order.
 */
static int
replay_request_done(struct replay *r, struct event *ev, const char *type,
    int gw, int64_t gwst)
{
	struct delivery **tail, *d, *first_new = NULL;
	char oldtype[UTIL_TYPE_MAX + 1];
	int64_t at;
	int v, i;
	uint32_t k;

	if (ev->gw != STORE_GW_FORWARDING || gw == STORE_GW_FORWARDING ||
	    get_num(r, "at", &at) != 0 ||
	    (v = rget(r->s, r->t, "dlv")) < 0 || r->t[v].type != JSON_ARRAY)
		return replay_fail(r, "bad gateway completion record");
	for (tail = &ev->deliveries; *tail != NULL;
	    tail = &(*tail)->next_in_event)
		;
	ev->gw = (uint8_t)gw;
	ev->gw_status = (uint16_t)gwst;
	snprintf(oldtype, sizeof(oldtype), "%s", ev->type);
	snprintf(ev->type, UTIL_TYPE_MAX + 1, "%s", type);
	if (event_index_prepare(ev) != 0)
		return replay_fail(r, "out of memory");
	event_index_retype(ev, oldtype);
	ev->off = r->off;
	free(ev->data);
	ev->data = NULL;
	for (i = v + 1, k = 0; k < r->t[v].size; k++, i = (int)r->t[i].next) {
		if (replay_dlv(r, i, ev, at, gw, &d) != 0)
			return replay_fail(r, "bad gateway completion record");
		if (d == NULL)
			continue;
		if (delivery_link(d, &tail) != 0) {
			free(d->url);
			free(d);
			return replay_fail(r, "out of memory");
		}
		if (first_new == NULL)
			first_new = d;
	}
	for (d = first_new; d != NULL; d = d->next_in_event)
		dlv_index(d, store_event_client(ev));
	event_index_add_deliveries(ev, first_new);
	return 0;
}

/*
 * An "event" record: the event, all its deliveries (endpoint ids or one-off
 * URLs) and its payload in one line, so after a crash at any point either
 * the event and all its deliveries exist or none does; the 202 is answered
 * only once the line is durable, so an event lost in a crash was never
 * acknowledged. Its deliveries start pending at its time. A delivery whose
 * endpoint the registry deleted before the crash (gone) ends failed; one
 * whose endpoint is missing without a deletion (hookd check --fix moved
 * it) is noted as an orphan for orphans_settle.
 */
static int
replay_event(struct replay *r)
{
	struct event *ev, *prior;
	struct delivery **tail, *dl;
	struct client *c;
	char cid[UTIL_ID_MAX + 1], *type = NULL, gws[16];
	int v, i, gw = STORE_GW_NONE;
	uint32_t k;
	int64_t at, gwst = 0;
	uint64_t eid0;

	if (get_str(r, "client", cid, sizeof(cid)) != 0 ||
	    get_dup(r, "type", &type) != 0 || type == NULL) {
		free(type);
		return replay_fail(r, "bad event record");
	}
	if (rget(r->s, r->t, "gw") >= 0 && (get_str(r, "gw", gws,
	    sizeof(gws)) != 0 || get_num(r, "gw_status", &gwst) != 0 ||
	    (gw = gw_parse(gws)) == STORE_GW_NONE)) {
		free(type);
		return replay_fail(r, "bad gateway request record");
	}
	if (gw != STORE_GW_NONE && get_xid(r, "id", STORE_EVT, &eid0) == 0 &&
	    (prior = store_event_find(eid0)) != NULL) {
		/* A gateway request completed: the record holds the whole
		 * event again. */
		int rc = replay_request_done(r, prior, type, gw, gwst);

		free(type);
		return rc;
	}
	ev = gw != STORE_GW_NONE ? event_alloc_gw(cid, type, strlen(type)) :
	    event_alloc(cid, type, strlen(type));
	free(type);
	if (ev == NULL)
		return replay_fail(r, "out of memory");
	ev->gw = (uint8_t)gw;
	ev->gw_status = (uint16_t)gwst;
	if (get_xid(r, "id", STORE_EVT, &ev->id) != 0 ||
	    get_num(r, "at", &at) != 0 ||
	    (v = rget(r->s, r->t, "dlv")) < 0 || r->t[v].type != JSON_ARRAY ||
	    (st_journal.events.n > 0 && ((struct event *)
	    st_journal.events.v[st_journal.events.n - 1])->id >= ev->id))
		goto bad;
	c = store_client_find(ev->client_id, strlen(ev->client_id));
	tail = &ev->deliveries;
	ev->created_at = at;
	ev->off = r->off;
	seen_id(ev->id);
	for (i = v + 1, k = 0; k < r->t[v].size; k++, i = (int)r->t[i].next) {
		struct delivery *d;

		if (replay_dlv(r, i, ev, at, gw, &d) != 0)
			goto bad;
		if (d == NULL)
			continue;
		/* Ids grow, except after a completed gateway request's,
		 * which a compaction keeps with it (delivery_link sorts
		 * those in); a repeated id is corruption. */
		if ((st_journal.deliveries.n > 0 && ((struct delivery *)
		    st_journal.deliveries.v[st_journal.deliveries.n - 1])->id >=
		    d->id && store_delivery_find(d->id) != NULL) ||
		    delivery_link(d, &tail) != 0) {
			free(d->url);
			free(d);
			goto bad;
		}
	}
	if (event_index_prepare(ev) != 0 ||
	    vec_push(&st_journal.events, ev) != 0)
		goto bad;
	/* Indexed only once the whole record is in: a bad one (hookd check
	 * goes on past it) leaves no freed delivery on a list. */
	for (dl = ev->deliveries; dl != NULL; dl = dl->next_in_event)
		dlv_index(dl, c);
	event_index_add(ev);
	return 0;
bad:
	/* The start fails, but the caller still calls store_close(), which
	 * frees deliveries through their events: take the ones linked so far
	 * (the last in the index) back out and free the event with them. */
	st_journal.deliveries.n -= ev->ndeliveries;
	st_journal.pending -= ev->pending;
	event_free(ev);
	return replay_fail(r, "bad event record");
}

void
requests_settle(void)
{
	size_t i;

	for (i = 0; i < st_journal.events.n; i++) {
		struct event *ev = st_journal.events.v[i];
		struct delivery *d = ev->deliveries;

		if (ev->gw == STORE_GW_FORWARDING && d != NULL && d->upstream &&
		    d->status != STORE_PENDING)
			apply_state(d, STORE_PENDING, util_wall_ms(),
			    d->updated_at);
	}
}

/*
 * One journal record: event (replay_event), idem, attempt or requeue. An
 * attempt record carries the delivery's state after it (attempts, state,
 * next), so the newest one wins and the chain ("prev") links the older ones
 * for the history. After a crash: an attempt whose record did not reach the
 * disk replays as not made, and the delivery is tried again (at least once,
 * contract §5); a requeue lost the same way leaves the delivery as its last
 * attempt left it, and the retry or replay call was not acknowledged. An
 * idem record older than 24 h is skipped; one lost in a crash was not
 * acknowledged (its answer waits for the same group commit).
 */
int
replay_journal(struct replay *r, const char *t, size_t tl)
{
	struct delivery *d;
	uint64_t id;
	int64_t n, next, at;
	char state[16];

	if (util_span_eq(t, tl, "event"))
		return replay_event(r);
	if (util_span_eq(t, tl, "idem")) {
		char cid[UTIL_ID_MAX + 1], hex[65];
		char *key = NULL, *body = NULL;
		uint8_t req[32];
		int64_t status;
		int ok, has_req = 0;

		ok = get_str(r, "client", cid, sizeof(cid)) == 0 &&
		    get_dup(r, "key", &key) == 0 && key != NULL &&
		    get_dup(r, "body", &body) == 0 && body != NULL &&
		    get_num(r, "at", &at) == 0 &&
		    get_num(r, "status", &status) == 0;
		/* Without the hash (an older record) any request matches. */
		if (ok && rget(r->s, r->t, "req_sha256") >= 0)
			ok = has_req = get_str(r, "req_sha256", hex,
			    sizeof(hex)) == 0 && unhex32(hex, strlen(hex),
			    req) == 0;
		if (ok && util_wall_ms() - at < STORE_IDEM_MS)
			ok = idem_add(cid, key, strlen(key), has_req ? req :
			    NULL, (int)status, body, at) == 0;
		free(key);
		free(body);
		return ok ? 0 : replay_fail(r, "bad idem record");
	}
	if (get_xid(r, "d", STORE_DLV, &id) != 0)
		return replay_fail(r, "record without delivery id");
	d = store_delivery_find(id);
	if (d == NULL) {
		char x[STORE_XID_MAX], needle[STORE_XID_MAX + 2];

		store_fmt_id(STORE_DLV, id, x);
		snprintf(needle, sizeof(needle), "\"%s\"", x);
		return replay_fail_dep(r, needle,
		    "record of an unknown delivery");
	}
	if (util_span_eq(t, tl, "attempt")) {
		if (get_num(r, "n", &n) != 0 || get_num(r, "at", &at) != 0 ||
		    get_num(r, "next", &next) != 0 ||
		    get_str(r, "state", state, sizeof(state)) != 0)
			return replay_fail(r, "bad attempt record");
		d->attempts = (uint8_t)(n > 255 ? 255 : n);
		d->last_off = r->off;
		apply_state(d, strcmp(state, "pending") == 0 ? STORE_PENDING :
		    strcmp(state, "delivered") == 0 ? STORE_DELIVERED :
		    STORE_FAILED, next, at);
		return 0;
	}
	if (util_span_eq(t, tl, "requeue")) {
		if (get_num(r, "next", &next) != 0)
			return replay_fail(r, "bad requeue record");
		apply_state(d, STORE_PENDING, next, next);
		return 0;
	}
	return replay_fail(r, "unknown record type");
}
