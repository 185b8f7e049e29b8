/*
 * api_events: the handlers of /v1/events and /v1/deliveries (create with
 * idempotency, list, get, retry) and of an endpoint's replay (contract §3,
 * §11, §18), with the JSON of events and deliveries.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_impl.h"
#include "deliver.h"
#include "json.h"
#include "config.h"
#include "metrics.h"
#include "sign.h"
#include "store.h"
#include "url.h"

/* ---- looking things up from the path ---- */

static struct event *
api_path_event(const struct api_ctx *c)
{
	struct event *ev;
	uint64_t id;

	if (store_parse_id(STORE_EVT, c->seg, c->seg_len, &id) != 0 ||
	    (ev = store_event_find(id)) == NULL || !api_sees(c, ev->client_id))
		return NULL;
	return ev;
}

static struct delivery *
api_path_delivery(const struct api_ctx *c)
{
	struct delivery *d;
	uint64_t id;

	if (store_parse_id(STORE_DLV, c->seg, c->seg_len, &id) != 0 ||
	    (d = store_delivery_find(id)) == NULL || d->upstream ||
	    !api_sees(c, d->event->client_id))
		return NULL;
	return d;
}


/* ---- serializers ---- */

/*
 * The URL an endpoint delivery goes to (contract §4): the template filled
 * from the event's data and, for GET, the data's query string appended. When
 * a member is missing or a dot segment (the delivery fails with "template:
 * ...") or the data cannot be read, the template itself. 0, or -1 out of
 * memory.
 */
static int
api_sent_url(struct buf *u, const struct endpoint *e, struct event *ev)
{
	struct buf data = {0};
	struct json_tok *toks = NULL;
	const char *json;
	char missing[8];
	size_t len = 0, at;
	int rc = -1;

	json = store_event_data(ev, &data, &len);
	if (json == NULL || api_parse_alloc(json, len, &toks) <= 0 ||
	    toks[0].type != JSON_OBJECT)
		goto raw;
	rc = url_expand(u, e->url, strlen(e->url), json, toks, 0, missing,
	    sizeof(missing));
	if (rc == -1 || rc == -3)	/* the delivery failed on it */
		goto raw;
	if (rc == 0 && e->method_get) {
		at = u->len;
		buf_puts(u, memchr(u->data, '?', u->len) != NULL ? "&" : "?");
		rc = url_query(u, json, toks, 0);
		if (rc == 0 && u->len == at + 1) {	/* nothing to add */
			u->len = at;
			u->data[at] = '\0';
		}
	}
	goto done;
raw:
	buf_reset(u);
	rc = buf_puts(u, e->url);
done:
	free(toks);
	buf_free(&data);
	return rc < 0 ? -1 : 0;
}

static void
api_put_delivery_url(struct buf *b, const struct delivery *d)
{
	const struct endpoint *e = d->endpoint;
	struct buf u = {0};

	if (d->url != NULL) {
		json_put_cstr(b, d->url);
	} else if (e == NULL) {
		buf_puts(b, "null");	/* the endpoint was deleted */
	} else if (strchr(e->url, '{') == NULL && !e->method_get) {
		json_put_cstr(b, e->url);
	} else if (api_sent_url(&u, e, d->event) != 0) {
		b->oom = 1;		/* answered as 500 by api_handle */
	} else {
		json_put_str(b, u.data, u.len);
	}
	buf_free(&u);
}

/* A delivery as in contract §3, with "log" when asked. 0, or -1 when its
 * attempts cannot be read back. */
static int
api_put_delivery(struct api_ctx *c, struct delivery *d, int with_log)
{
	struct buf *b = c->out;
	struct buf last = {0}, ack = {0}, hist = {0};
	int rc;

	rc = store_delivery_history(d, &last, &ack, with_log ? &hist : NULL);
	if (rc == 0) {
		buf_puts(b, "{");
		api_kv_id(b, "id", STORE_DLV, d->id);
		api_kv_id(b, "event", STORE_EVT, d->event->id);
		if (d->endpoint != NULL)
			api_kv_id(b, "endpoint", STORE_EP, d->endpoint->id);
		else
			api_kv_raw(b, "endpoint", "null");
		api_kv_str(b, "client", d->event->client_id);
		api_key(b, "url");
		api_put_delivery_url(b, d);
		api_kv_str(b, "status", d->status <= STORE_FAILED ?
		    store_status_names[d->status] : "unknown");
		api_kv_u64(b, "attempts", d->attempts);
		api_kv_time(b, "next_attempt_at", deliver_next_attempt(d),
		    1);
		api_kv_raw(b, "last", last.len > 0 ? last.data : NULL);
		api_kv_raw(b, "ack", ack.len > 0 ? ack.data : NULL);
		api_kv_time(b, "created_at", d->event->created_at, 0);
		api_kv_time(b, "updated_at", d->updated_at, 0);
		if (with_log) {
			api_key(b, "log");
			buf_puts(b, "[");
			buf_append(b, hist.data != NULL ? hist.data : "",
			    hist.len);
			buf_puts(b, "]");
		}
		buf_puts(b, "}");
	}
	buf_free(&last);
	buf_free(&ack);
	buf_free(&hist);
	return rc;
}

/* An event; with_all adds its data and its deliveries. 0 or -1 (I/O). */
/*
 * Contract §14: a gateway request's "request" member: its state
 * (forwarding, completed, failed), the upstream's status, its upstream
 * calls so far with the next one's time, and the last call
 * ("last_attempt": {"at", "status", "error", "ms", "body"} as a delivery's
 * "last", or null). While it is forwarding, upstream_status is the last
 * call's (a 429 or 5xx waiting for its retry). 0, or -1 (I/O).
 */
static int
api_put_request(struct buf *b, const struct event *ev)
{
	static const char *const names[] = { "", "forwarding", "completed",
		"failed" };
	const struct delivery *up = ev->deliveries;
	struct buf last = {0}, ack = {0};
	unsigned status = ev->gw_status;
	int gw = ev->gw;

	if (up == NULL || !up->upstream)
		up = NULL;
	if (up != NULL && store_delivery_history(up, &last, &ack, NULL) != 0) {
		buf_free(&last);
		buf_free(&ack);
		return -1;
	}
	if (status == 0 && last.len > 0) {
		struct json_tok t[16];
		int v;
		uint64_t n;

		if (json_parse(last.data, last.len, t, 16) > 0 &&
		    t[0].type == JSON_OBJECT &&
		    (v = json_get(last.data, t, 0, "status")) >= 0 &&
		    t[v].type == JSON_NUMBER && util_parse_u64(last.data +
		    t[v].start, t[v].len, 999, &n) == 0)
			status = (unsigned)n;
	}
	/* Its upstream call ended without the request completing: the
	 * client was deleted (the engine completes it at once). */
	if (gw == STORE_GW_FORWARDING && up != NULL &&
	    up->status == STORE_FAILED)
		gw = STORE_GW_FAILED;
	api_key(b, "request");
	buf_puts(b, "{");
	api_kv_str(b, "state", names[gw]);
	api_key(b, "upstream_status");
	if (status > 0)
		buf_printf(b, "%u", status);
	else
		buf_puts(b, "null");
	api_kv_u64(b, "upstream_attempts", up != NULL ? up->attempts : 0);
	api_kv_time(b, "next_attempt_at", up != NULL &&
	    up->status == STORE_PENDING ? up->next_at : 0, 1);
	api_kv_raw(b, "last_attempt", last.len > 0 ? last.data : NULL);
	buf_puts(b, "}");
	buf_free(&last);
	buf_free(&ack);
	return 0;
}

static int
api_put_event(struct api_ctx *c, struct event *ev, int with_all)
{
	struct buf *b = c->out, data = {0};
	struct delivery *d;
	const char *json;
	size_t len = 0;

	buf_puts(b, "{");
	api_kv_id(b, "id", STORE_EVT, ev->id);
	api_kv_str(b, "client", ev->client_id);
	api_kv_str(b, "type", ev->type);
	api_kv_time(b, "created_at", ev->created_at, 0);
	api_kv_time(b, "deliver_at", ev->deliver_at, 1);
	if (ev->gw != STORE_GW_NONE && api_put_request(b, ev) != 0)
		return -1;
	if (with_all) {
		/* Copied out before the next store call invalidates it. */
		json = store_event_data(ev, &data, &len);
		if (json == NULL) {
			buf_free(&data);
			return -1;
		}
		/* A request being forwarded has no event data yet (what
		 * it holds meanwhile is the request, hookd's own). */
		api_key(b, "data");
		if (ev->gw == STORE_GW_FORWARDING)
			buf_puts(b, "null");
		else
			buf_append(b, json, len);
		buf_free(&data);
		api_key(b, "deliveries");
		buf_puts(b, "[");
		for (d = ev->deliveries; d != NULL; d = d->next_in_event) {
			if (d->upstream)
				continue;
			api_sep(b);
			if (api_put_delivery(c, d, 0) != 0)
				return -1;
		}
		buf_puts(b, "]");
	}
	buf_puts(b, "}");
	return 0;
}

/* ---- lists: events and deliveries, adapted to struct api_list ---- */

static void *
api_event_at(size_t i)
{
	return store_event_at(i);
}

static int
api_event_keep(const struct api_ctx *c, void *item)
{
	const struct event *ev = item;

	return api_keep_client_id(c, ev->client_id) &&
	    (!(c->f.set & API_F_TYPE) || strcmp(c->f.type, ev->type) == 0);
}

static int
api_event_put(struct api_ctx *c, void *item)
{
	return api_put_event(c, item, 0);
}

static void
api_event_id(void *item, char out[UTIL_ID_MAX + 1])
{
	store_fmt_id(STORE_EVT, ((struct event *)item)->id, out);
}

static void *
api_delivery_at(size_t i)
{
	return store_delivery_at(i);
}

static int
api_delivery_keep(const struct api_ctx *c, void *item)
{
	const struct delivery *d = item;
	const struct api_filter *f = &c->f;

	/* A gateway request's upstream call is not a delivery: its event
	 * shows it (contract §14). */
	return !d->upstream && api_keep_client_id(c, d->event->client_id) &&
	    (!(f->set & API_F_EVENT) || d->event->id == f->event) &&
	    (!(f->set & API_F_ENDPOINT) || (d->endpoint != NULL &&
	    d->endpoint->id == f->endpoint)) &&
	    (!(f->set & API_F_STATUS) || d->status == f->status);
}

static int
api_delivery_put(struct api_ctx *c, void *item)
{
	return api_put_delivery(c, item, 0);
}

static void
api_delivery_id(void *item, char out[UTIL_ID_MAX + 1])
{
	store_fmt_id(STORE_DLV, ((struct delivery *)item)->id, out);
}

static const struct api_list api_list_events = {
	api_event_at, api_event_keep, api_event_put, api_event_id,
};
static const struct api_list api_list_deliveries = {
	api_delivery_at, api_delivery_keep, api_delivery_put, api_delivery_id,
};

static void *
api_walk_event(void *w)
{
	return store_walk_event(w);
}

static void *
api_walk_delivery(void *w)
{
	return store_walk_delivery(w);
}

/* The one client id a list can show, or NULL when any: a client token
 * sees only its own, the admin what ?client= names. */
static const char *
api_list_client(const struct api_ctx *c)
{
	if (c->client != NULL)
		return c->client->id;
	return (c->f.set & API_F_CLIENT) ? c->f.client : NULL;
}

/* ---- retry and replay (contract §18) ---- */

static const struct api_field api_replay_fields[] = {
	{ "since", API_T_STR, 1 },
};

/*
 * Contract §18: retry, replay and test calls made with the token of client
 * cl are counted per minute; past max_retries_per_minute they are answered
 * 429 with Retry-After, so
 * one tenant cannot keep the journal and the engine busy requeueing. The
 * admin's calls are neither counted nor limited: the limit protects against
 * a tenant, and the operator must still be able to act once a tenant has
 * used its share. 0, or the 429 answer.
 */
static int
api_retry_rate(struct api_ctx *c, struct client *cl)
{
	int64_t minute = util_mono_ms() / 60000;

	if (cl == NULL || c->client == NULL)
		return 0;
	if (cl->retry_minute != minute) {
		cl->retry_minute = minute;
		cl->retry_calls = 0;
	}
	if (cl->retry_calls >= config_current()->max_retries_per_minute) {
		/* Retry-After (RFC 9110 §10.2.3): when the next minute's
		 * count starts. */
		api_set_retry_after(60 - util_mono_ms() / 1000 % 60);
		return api_errorf(c, 429, "too many retry, replay and test "
		    "calls for client %s: at most %zu a minute "
		    "(max_retries_per_minute)", cl->id,
		    config_current()->max_retries_per_minute);
	}
	cl->retry_calls++;
	return 0;
}

int
api_endpoint_replay(struct api_ctx *c)
{
	struct endpoint *e = api_path_endpoint(c);
	const struct json_tok *t;
	struct delivery *d;
	int64_t since, now = util_wall_ms();
	uint64_t requeued = 0;
	int idx[1], st;

	if (e == NULL)
		return api_not_found(c);
	if ((st = api_body(c, api_replay_fields, 1, idx)) != 0 ||
	    (st = api_retry_rate(c, e->client)) != 0)
		return st;
	t = &c->toks[idx[0]];
	/* The raw span is the text: a time needs no escapes, and one with
	 * escapes is not a valid time anyway. */
	if (util_parse_time(c->json + t->start, t->len, &since) != 0)
		return api_error(c, 422, "since must be an RFC 3339 time");
	/* The endpoint's own deliveries, in id order: no other is looked
	 * at. A requeue changes no list. */
	for (d = e->dlv_head; d != NULL; d = d->ep_next) {
		if (d->status != STORE_FAILED ||
		    d->event->created_at < since || d->event->dropping)
			continue;
		if (store_delivery_requeue(d, now) != 0)
			return api_store_error(c);
		requeued++;
	}
	buf_puts(c->out, "{");
	api_kv_u64(c->out, "requeued", requeued);
	buf_puts(c->out, "}");
	return api_done(c, 202);
}

/* A created event's 202 body, {"id","deliveries"}, counted in
 * hookd_events_total: POST /v1/events and POST /v1/endpoints/{id}/test. */
static void
api_put_accepted(struct api_ctx *c, const struct event *ev)
{
	metrics.events++;
	buf_puts(c->out, "{");
	api_kv_id(c->out, "id", STORE_EVT, ev->id);
	api_kv_u64(c->out, "deliveries", ev->ndeliveries);
	buf_puts(c->out, "}");
}

/*
 * Contract §15: POST /v1/endpoints/{id}/test. An event of type hookd.test,
 * data {"test": true, "endpoint": "ep_..."}, with one delivery, to this
 * endpoint, whatever its filters: a receiver can be checked before it
 * subscribes to anything. A disabled endpoint is refused (409): its
 * delivery would only wait, and enabling it is the fix. Calls by a client
 * token count against max_retries_per_minute, as a retry does: each one
 * writes an event and makes an outbound request. 202 once durable.
 */
int
api_endpoint_test(struct api_ctx *c)
{
	struct endpoint *e = api_path_endpoint(c);
	struct event *ev;
	char xid[STORE_XID_MAX], data[64];
	int st, n;

	if (e == NULL)
		return api_not_found(c);
	if (!e->enabled)
		return api_error(c, 409, "the endpoint is disabled: enable it "
		    "(PATCH {\"enabled\": true}) before testing it");
	if ((st = api_retry_rate(c, e->client)) != 0)
		return st;
	store_fmt_id(STORE_EP, e->id, xid);
	n = snprintf(data, sizeof(data), "{\"test\":true,\"endpoint\":\"%s\"}",
	    xid);
	if (n < 0 || (size_t)n >= sizeof(data))
		return api_nomem(c);
	ev = store_event_create(e->client, "hookd.test", 10, data, (size_t)n,
	    &e, 1, NULL, NULL, 0, util_wall_ms());
	if (ev == NULL)
		return api_store_error(c);
	api_put_accepted(c, ev);
	return api_done(c, 202);
}

/* ---- /v1/events ---- */

enum { EV_CLIENT, EV_TYPE, EV_DATA, EV_DELIVER_AT, EV_DELAY, EV_NFIELDS };

static const struct api_field api_event_fields[EV_NFIELDS] = {
	[EV_CLIENT] = { "client", API_T_STR, 1 },
	[EV_TYPE] = { "type", API_T_STR, 1 },
	[EV_DATA] = { "data", API_T_OBJ, 1 },
	[EV_DELIVER_AT] = { "deliver_at", API_T_STR | API_T_NULL, 0 },
	[EV_DELAY] = { "delay", API_T_STR | API_T_NUM | API_T_NULL, 0 },
};

/* Contract §15: the furthest an event's deliveries can be put off. A
 * pending delivery holds its event's payload in memory (or a journal
 * record that compaction must keep), so an unbounded delay would let a
 * producer pin storage for ever; a year covers any real schedule. */
#define API_DELAY_MAX_MS (365LL * 24 * 3600 * 1000)

/* What POST /v1/events was asked to create, once validated. */
struct api_new_event {
	struct client *client;
	char type[UTIL_TYPE_MAX + 1];
	size_t type_len;
	const struct json_tok *data;
	char callback[URL_MAX + 1];
	int has_callback;
	char key[STORE_IDEM_MAX + 1];
	size_t key_len;			/* 0: no Idempotency-Key */
	uint8_t req[32];		/* what a repeat must match (api_idem_key) */
	int64_t deliver_at;		/* contract §15; 0: at once */
};

int
api_idem_header(struct api_ctx *c, char *key, size_t *key_len)
{
	const struct http_header *h = api_header(c, "Idempotency-Key");
	size_t i;

	*key_len = 0;
	if (h == NULL)
		return 0;
	if (h->value_len == 0 || h->value_len > STORE_IDEM_MAX)
		goto bad;
	for (i = 0; i < h->value_len; i++)
		if (h->value[i] < 0x20 || h->value[i] >= 0x7f)
			goto bad;
	memcpy(key, h->value, h->value_len);
	key[h->value_len] = '\0';
	*key_len = h->value_len;
	return 0;
bad:
	return api_error(c, 400,
	    "Idempotency-Key must be 1-255 visible ASCII characters");
}

int
api_idem_replay(struct api_ctx *c, const struct client *cl, const char *key,
    size_t key_len, const uint8_t req[32], int64_t now)
{
	const char *body;
	int st, status;

	if (key_len == 0)
		return 0;
	st = store_idem_find(cl, key, key_len, req, now, &status, &body);
	if (st == 1)
		return api_error(c, 422, "Idempotency-Key reused with a "
		    "different request");
	if (st == 0) {
		buf_puts(c->out, body);
		return api_done(c, status);
	}
	return 0;
}

/* The Idempotency-Key of ne's request, and the hash a repeat must match. */
static int
api_idem_key(struct api_ctx *c, struct api_new_event *ne)
{
	int st;

	if ((st = api_idem_header(c, ne->key, &ne->key_len)) != 0 ||
	    ne->key_len == 0)
		return st;
	/* The request a repeat must match (contract §11): the body's bytes
	 * and the callbackURL, each with its length so that no split of the
	 * bytes between them hashes the same. */
	{
		struct sha256_ctx sc;
		uint64_t n[2];

		n[0] = c->r->body_len;
		n[1] = ne->has_callback ? strlen(ne->callback) + 1 : 0;
		sha256_init(&sc);
		sha256_update(&sc, n, sizeof(n));
		sha256_update(&sc, c->r->body != NULL ? c->r->body : "",
		    c->r->body_len);
		if (ne->has_callback)
			sha256_update(&sc, ne->callback, n[1] - 1);
		sha256_final(&sc, ne->req);
	}
	return 0;
}

/*
 * Contract §15: "deliver_at" (RFC 3339) or "delay" (a duration as in the
 * config, "90s", "15m", "2d", or a number of seconds), token indexes ia and
 * id (-1: absent), into *at (epoch ms; 0 when neither; a time not after now
 * is now). A null one is as absent: "at once", as the event object shows
 * it. Both, a bad value or one more than 365 days ahead: 422 saying how to
 * write it. Returns 0 or the answer's status.
 */
static int
api_event_when(struct api_ctx *c, int ia, int id, int64_t now, int64_t *at)
{
	const struct json_tok *t;
	int64_t ms;

	*at = 0;
	if (ia >= 0 && c->toks[ia].type == JSON_NULL)
		ia = -1;
	if (id >= 0 && c->toks[id].type == JSON_NULL)
		id = -1;
	if (ia >= 0 && id >= 0)
		return api_error(c, 422, "give deliver_at or delay, not both");
	if (ia >= 0) {
		t = &c->toks[ia];
		/* The raw span is the text: a time has no escapes. */
		if (util_parse_time(c->json + t->start, t->len, &ms) != 0)
			return api_error(c, 422, "deliver_at must be an RFC "
			    "3339 time, e.g. 2030-01-02T03:04:05Z");
		if (ms - now > API_DELAY_MAX_MS)
			return api_error(c, 422, "deliver_at must be at most "
			    "365 days ahead");
		*at = ms > now ? ms : 0;
	} else if (id >= 0) {
		t = &c->toks[id];
		if (util_parse_duration(c->json + t->start, t->len,
		    API_DELAY_MAX_MS, &ms) != 0)
			return api_error(c, 422, "delay must be a duration of "
			    "at most 365 days: seconds (90) or a number and a "
			    "unit ms, s, m, h or d (\"15m\", \"2d\")");
		*at = ms > 0 ? now + ms : 0;
	}
	return 0;
}

/* Validate the body, ?callbackURL= and Idempotency-Key into ne. */
static int
api_event_parse(struct api_ctx *c, struct api_new_event *ne)
{
	char id[UTIL_ID_MAX + 1];
	const char *why;
	int idx[EV_NFIELDS], st = 0, n;

	if ((st = api_body(c, api_event_fields, EV_NFIELDS, idx)) != 0)
		return st;
	n = api_str(c, idx[EV_CLIENT], id, sizeof(id));
	if (n < 0 || (ne->client = store_client_find(id, (size_t)n)) == NULL)
		return api_error(c, 422, "client: no such client");
	n = api_str(c, idx[EV_TYPE], ne->type, sizeof(ne->type));
	if (n < 0 || !api_type_ok(ne->type, (size_t)n, 0))
		return api_errorf(c, 422, "type must be 1-%d visible ASCII "
		    "characters", UTIL_TYPE_MAX);
	ne->type_len = (size_t)n;
	ne->data = &c->toks[idx[EV_DATA]];
	if ((st = api_event_when(c, idx[EV_DELIVER_AT], idx[EV_DELAY],
	    util_wall_ms(), &ne->deliver_at)) != 0)
		return st;
	n = api_param(c, "callbackURL", ne->callback, sizeof(ne->callback),
	    &st);
	if (n == -2)
		return st;
	if (n >= 0) {
		char wbuf[API_ERR_MAX];

		if ((why = api_url_problem(ne->callback, (size_t)n, wbuf,
		    sizeof(wbuf))) != NULL)
			return api_errorf(c, 422, "callbackURL: %s", why);
		ne->has_callback = 1;
	}
	return api_idem_key(c, ne);
}

/* Create the event with a delivery to each matching enabled endpoint of its
 * client (and the one-off), answer 202, remember the answer for the key. */
static int
api_event_store(struct api_ctx *c, struct api_new_event *ne, int64_t now)
{
	size_t neps = 0;
	struct endpoint **eps = NULL;
	struct event *ev;

	/* Through the client's filter index: other clients' endpoints are
	 * not looked at. */
	if (store_match(ne->client, ne->type, ne->type_len, &eps, &neps) != 0)
		return api_nomem(c);
	ev = store_event_create_at(ne->client, ne->type, ne->type_len,
	    c->json + ne->data->start, ne->data->len, eps, neps,
	    ne->has_callback ? ne->callback : NULL, now, ne->deliver_at);
	free(eps);
	if (ev == NULL)
		return api_store_error(c);
	api_put_accepted(c, ev);
	/* The event is durable whatever happens here: a failure to remember
	 * the answer only risks a duplicate event on a retry, which at least
	 * once delivery allows; refusing the 202 would risk more. */
	if (ne->key_len > 0 && !c->out->oom)
		(void)store_idem_put(ne->client, ne->key, ne->key_len,
		    ne->req, 202, c->out->data + c->mark, now);
	return api_done(c, 202);
}

int
api_events_create(struct api_ctx *c)
{
	struct api_new_event ne;
	int64_t now = util_wall_ms();
	int st;

	memset(&ne, 0, sizeof(ne));
	if ((st = api_event_parse(c, &ne)) != 0)
		return st;
	if ((st = api_idem_replay(c, ne.client, ne.key, ne.key_len, ne.req,
	    now)) != 0)
		return st;
	/* After the replay of a kept answer, which needs no lookup. */
	if (ne.has_callback && (st = api_url_resolves(c, ne.callback,
	    ne.client->id, "callbackURL: ")) != 0)
		return st;
	return api_event_store(c, &ne, now);
}

int
api_events_list(struct api_ctx *c)
{
	struct api_page p;
	struct store_walk w;
	int st;

	if ((st = api_page(c, STORE_EVT, &p)) != 0 ||
	    (st = api_filters(c, API_F_CLIENT | API_F_TYPE)) != 0)
		return st;
	/* Newest first: ?after= means older than that id. The walk goes
	 * through the client's (and type's) own events when named. */
	store_walk_events(&w, api_list_client(c), (c->f.set & API_F_TYPE) ?
	    c->f.type : NULL, p.has_after ? &p.after_id : NULL);
	return api_list_walk(c, &api_list_events, api_walk_event, &w,
	    p.limit);
}

int
api_event_get(struct api_ctx *c)
{
	struct event *ev = api_path_event(c);

	if (ev == NULL)
		return api_not_found(c);
	if (api_put_event(c, ev, 1) != 0)
		return api_error(c, 500, "cannot read the journal");
	return api_done(c, 200);
}

/* ---- /v1/deliveries ---- */

int
api_deliveries_list(struct api_ctx *c)
{
	struct api_page p;
	struct store_walk w;
	const struct api_filter *f = &c->f;
	int st;

	if ((st = api_page(c, STORE_DLV, &p)) != 0 ||
	    (st = api_filters(c, API_F_CLIENT | API_F_ENDPOINT | API_F_EVENT |
	    API_F_STATUS)) != 0)
		return st;
	/* Through the index with the fewest candidates (store.h). */
	store_walk_deliveries(&w, api_list_client(c),
	    (f->set & API_F_ENDPOINT) ? &f->endpoint : NULL,
	    (f->set & API_F_EVENT) ? &f->event : NULL,
	    (f->set & API_F_STATUS) ? f->status : -1,
	    p.has_after ? &p.after_id : NULL);
	return api_list_walk(c, &api_list_deliveries, api_walk_delivery, &w,
	    p.limit);
}

int
api_delivery_get(struct api_ctx *c)
{
	struct delivery *d = api_path_delivery(c);

	if (d == NULL)
		return api_not_found(c);
	if (api_put_delivery(c, d, 1) != 0)
		return api_error(c, 500, "cannot read the journal");
	return api_done(c, 200);
}

/* Attempt now, whatever the status (contract §3): a finished delivery is
 * made pending again first, which is what makes the retry durable. */
int
api_delivery_retry(struct api_ctx *c)
{
	struct delivery *d = api_path_delivery(c);
	int st;

	if (d == NULL)
		return api_not_found(c);
	if ((st = api_retry_rate(c, store_event_client(d->event))) != 0)
		return st;
	if (d->url == NULL && (d->endpoint == NULL || d->endpoint->removed))
		return api_error(c, 409, "its endpoint was deleted");
	if (d->status != STORE_PENDING &&
	    store_delivery_requeue(d, util_wall_ms()) != 0)
		return api_store_error(c);
	deliver_now(d);
	buf_puts(c->out, "{");
	api_kv_id(c->out, "id", STORE_DLV, d->id);
	api_kv_str(c->out, "status", "pending");
	buf_puts(c->out, "}");
	return api_done(c, 202);
}
