/*
 * store_jreplay: journal.log read back at start (event, idem, attempt and
 * requeue records), and what a crash left half done settled after it.
 */
#include "store_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Note d as left without endpoint eid, which the registry never deleted.
 * 0 or -1 out of memory. */
static int
orphan_add(struct delivery *d, uint64_t eid)
{
	struct store_orphan *o = util_grow(st_journal.orphans,
	    &st_journal.caporphans, st_journal.norphans + 1, sizeof(*o), 16);

	if (o == NULL)
		return -1;
	st_journal.orphans = o;
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
	/* Contract §15: held back until deliver_at, whenever replayed. */
	if (rget(r->s, r->t, "deliver_at") >= 0 &&
	    (get_num(r, "deliver_at", &ev->deliver_at) != 0 ||
	    ev->deliver_at < 0))
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
		if (d->status == STORE_PENDING && ev->deliver_at > at)
			d->next_at = ev->deliver_at;
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
	int64_t n, next, at, ms, made;
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
		/* Contract §15: the endpoint's health, as it was noted live
		 * (an attempt ends at its start plus its ms). */
		if (get_num(r, "ms", &ms) != 0)
			ms = 0;
		if (d->endpoint != NULL && (get_num(r, "made", &made) != 0 ||
		    made != 0))
			health_note_attempt(d->endpoint,
			    store_status_parse(state) == STORE_DELIVERED,
			    at + ms);
		/* A state this version does not name reads as failed. */
		apply_state(d, store_status_parse(state) < 0 ? STORE_FAILED :
		    store_status_parse(state), next, at + ms);
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
