/*
 * deliver_attempt: one attempt in flight, from start to outcome: the spare
 * attempt structures, the in-flight list by deadline, building the request
 * (a delivery's or a gateway request's upstream call), waiting for its name
 * and outbound's report on its exchange.
 */
#include "deliver_impl.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "config.h"
#include "gateway.h"
#include "outbound.h"
#include "resolve.h"
#include "url.h"
#include "webhook.h"

/* Spare attempt structures kept for reuse (their buffers are trimmed to
 * WEBHOOK_SPARE_BUF): no malloc per attempt, yet no pinned megabyte
 * payload buffers. */
#define DELIVER_SPARE_ATTEMPTS	64

static struct attempt *
attempt_alloc(void)
{
	struct attempt *a = eng.spare;
	struct buf req, in, whole;

	if (a == NULL)
		return calloc(1, sizeof(*a));
	eng.spare = a->next;
	eng.nspare--;
	req = a->x.req;
	in = a->x.in;
	whole = a->x.whole;
	memset(a, 0, sizeof(*a));
	a->x.req = req;
	a->x.in = in;
	a->x.whole = whole;
	buf_reset(&a->x.req);
	buf_reset(&a->x.in);
	buf_reset(&a->x.whole);
	return a;
}

static void
attempt_free(struct attempt *a)
{
	webhook_buf_reset(&a->x.req);
	webhook_buf_reset(&a->x.in);
	webhook_buf_reset(&a->x.whole);
	if (eng.nspare >= DELIVER_SPARE_ATTEMPTS) {
		buf_free(&a->x.req);
		buf_free(&a->x.in);
		buf_free(&a->x.whole);
		free(a);
		return;
	}
	a->next = eng.spare;
	eng.spare = a;
	eng.nspare++;
}

/* Insert into the in-flight list by deadline: from the tail, where a new
 * attempt belongs unless the timeout was shortened by a reload or its
 * endpoint has a shorter one of its own (contract §15). */
static void
active_insert(struct attempt *a)
{
	struct attempt *p = eng.act_tail;

	while (p != NULL && p->deadline > a->deadline)
		p = p->prev;
	a->prev = p;
	a->next = p != NULL ? p->next : eng.act_head;
	if (a->next != NULL)
		a->next->prev = a;
	else
		eng.act_tail = a;
	if (p != NULL)
		p->next = a;
	else
		eng.act_head = a;
}

static void
active_unlink(struct attempt *a)
{
	if (a->prev != NULL)
		a->prev->next = a->next;
	else
		eng.act_head = a->next;
	if (a->next != NULL)
		a->next->prev = a->prev;
	else
		eng.act_tail = a->prev;
	a->prev = a->next = NULL;
}

/* Undo everything a in flight holds: its dns wait, its connection (kept
 * when reusable), its place in the list and the counters. */
static void
attempt_detach(struct attempt *a, int reusable)
{
	resolve_unwait(&a->rw);
	active_unlink(a);
	out_release(&a->x, reusable);
	eng.inflight_total--;
	if (a->ep != NULL)
		a->ep->inflight--;
	if (a->tn != NULL)
		a->tn->inflight--;
	a->d->inflight = 0;
}

/* Drop a without recording anything: its delivery stays pending (shutdown)
 * or has already been failed by the store (engine_forget). */
void
attempt_abort(struct attempt *a)
{
	attempt_detach(a, 0);
	attempt_free(a);
}

/* End a with outcome o, then let waiting deliveries use the slot. */
static void
attempt_end(struct attempt *a, struct outcome *o, int reusable)
{
	struct delivery *d = a->d;
	struct endpoint *e = a->ep;
	struct tenant *t = a->tn;
	int64_t ms = util_mono_ms() - a->start;

	attempt_detach(a, reusable);
	outcome_record(d, e, a->number, a->at, ms < 0 ? 0 : ms, o);
	attempt_free(a);
	pull_after(e, t);
}

/* End a with a transport error (no HTTP answer). */
void
attempt_fail(struct attempt *a, const char *error, enum webhook_result r)
{
	struct outcome o;

	memset(&o, 0, sizeof(o));
	o.result = r;
	o.error = error;
	o.retry_after = -1;
	attempt_end(a, &o, 0);
}

/* The attempt that x belongs to. */
static struct attempt *
attempt_of_exchange(struct out_exchange *x)
{
	return (struct attempt *)(void *)((char *)x -
	    offsetof(struct attempt, x));
}

/*
 * outbound's report on a's exchange: an answer is judged by the rules of
 * §5 and §12 (webhook_judge) and recorded; a transport failure is recorded
 * as such (OUT_DENIED: the destination is not allowed, failed at once).
 */
static void
attempt_done(struct out_exchange *x, enum out_result r, const char *error)
{
	struct attempt *a = attempt_of_exchange(x);
	struct webhook_answer ans;
	struct webhook_verdict v;
	struct outcome o;

	switch (r) {
	case OUT_DENIED:
		attempt_fail(a, error, WEBHOOK_REJECT);
		return;
	case OUT_TIMEOUT:
		attempt_fail(a, error, WEBHOOK_TIMEOUT);
		return;
	case OUT_ERROR:
		/* Contract §14: an upstream's answer is final, also one too
		 * large to keep; its status stays the request's. */
		if (a->d->upstream && x->too_large) {
			memset(&o, 0, sizeof(o));
			o.result = WEBHOOK_REJECT;
			o.status = x->status;
			o.error = "upstream answer over 1 MiB";
			o.retry_after = -1;
			attempt_end(a, &o, 0);
			return;
		}
		attempt_fail(a, error, WEBHOOK_ERROR);
		return;
	case OUT_ANSWER:
		break;
	}
	if (a->d->upstream) {
		/* Contract §14: 429 and 5xx are retried, any other answer
		 * is the request's result. */
		memset(&o, 0, sizeof(o));
		o.result = gateway_judge(x->status);
		o.status = x->status;
		o.retry_after = x->retry_after;
		o.body = x->body;
		o.body_len = x->body_len;
		o.whole = x->whole.data;
		o.whole_len = x->whole.len;
		o.ctype = x->ctype;
		attempt_end(a, &o, x->reusable);
		return;
	}
	memset(&ans, 0, sizeof(ans));
	ans.status = x->status;
	ans.body = x->body;
	ans.body_len = x->body_len;
	ans.body_total = x->body_total;
	ans.whole = x->whole.data;
	ans.whole_len = x->whole.len;
	webhook_judge(&ans, &eng.ws, &v);
	memset(&o, 0, sizeof(o));
	o.result = v.result;
	o.status = x->status;
	o.error = v.error;
	o.disable = v.disable;
	o.retry_after = x->retry_after;
	o.body = x->body;
	o.body_len = x->body_len;
	o.ack = v.ack;
	o.ack_len = v.ack_len;
	attempt_end(a, &o, x->reusable);
}

/*
 * request_build for a gateway request's upstream call (contract §14):
 * the request is gateway_build's, the whole answer is kept, and the
 * route's timeout= replaces the global one.
 */
static int
request_build_upstream(struct attempt *a)
{
	struct webhook_target tg;
	const char *desc;
	size_t dl;
	int64_t tmo;
	int rc;

	/* Its client was deleted (a stop before the request completed):
	 * it fails now, durably, and is never called again. */
	if (store_event_client(a->d->event) == NULL) {
		snprintf(a->error, sizeof(a->error), "client deleted");
		return -1;
	}
	webhook_buf_reset(&eng.scratch_data);
	desc = store_event_data(a->d->event, &eng.scratch_data, &dl);
	if (desc == NULL) {
		snprintf(a->error, sizeof(a->error), "storage error");
		return -2;
	}
	rc = gateway_build(a->d, desc, dl, &a->x.req, &tg, &tmo, a->error,
	    sizeof(a->error));
	if (rc != 0)
		return rc;
	if (tmo > 0) {
		active_unlink(a);
		a->deadline = a->start + tmo;
		active_insert(a);
	}
	a->x.keep_all = 1;
	snprintf(a->x.host, sizeof(a->x.host), "%s", tg.host);
	a->x.port = tg.port;
	a->x.tls = tg.tls;
	a->x.literal = tg.literal;
	a->literal = tg.literal;
	return 0;
}

/*
 * Build a's request into a->x.req and note where it goes, from the
 * delivery's endpoint (or its client, for a one-off) as they are now.
 * Returns 0; -1 when the delivery cannot be made at all (a->error set: it
 * fails without an attempt); -2 for a passing failure (a->error set: an
 * attempt that is retried).
 */
static int
request_build(struct attempt *a)
{
	struct delivery *d = a->d;
	struct event *ev = d->event;
	struct endpoint *e = d->endpoint;
	struct webhook_input in;
	struct webhook_target tg;
	char id[STORE_XID_MAX], epid[STORE_XID_MAX];
	int rc;

	memset(&in, 0, sizeof(in));
	if (d->upstream)
		return request_build_upstream(a);
	if (ev->gw > STORE_GW_FORWARDING)
		in.upstream_status = ev->gw_status;
	if (e != NULL) {
		in.url = e->url;
		in.get = e->method_get;
		in.secret = e->secret;
		in.prev_secret = e->prev_secret;
		in.prev_until = e->prev_until;
		store_fmt_id(STORE_EP, e->id, epid);
		in.endpoint_id = epid;
		in.headers = e->headers;
	} else if (d->url != NULL && store_event_is_ops(ev)) {
		/* Contract §15: hookd's own events, signed with ops_secret
		 * as it is now (a reload may have changed it). */
		const struct config *cf = config_current();

		if (cf->ops_secret[0] == '\0') {
			snprintf(a->error, sizeof(a->error), "ops_secret is "
			    "not set");
			return -1;
		}
		in.url = d->url;
		in.secret = cf->ops_secret;
		in.prev_secret = "";
	} else if (d->url != NULL) {
		/* A one-off is signed with its client's secret. */
		const struct client *cl = store_event_client(ev);

		if (cl == NULL) {
			snprintf(a->error, sizeof(a->error), "client deleted");
			return -1;
		}
		in.url = d->url;
		in.secret = cl->secret;
		in.prev_secret = cl->prev_secret;
		in.prev_until = cl->prev_until;
	} else {
		snprintf(a->error, sizeof(a->error), "endpoint deleted");
		return -1;
	}

	webhook_buf_reset(&eng.scratch_data);
	in.data = store_event_data(ev, &eng.scratch_data, &in.data_len);
	if (in.data == NULL) {
		snprintf(a->error, sizeof(a->error), "storage error");
		return -2;
	}
	store_fmt_id(STORE_EVT, ev->id, id);
	in.event_id = id;
	in.event_type = ev->type;
	in.at = a->at;
	in.number = a->number;
	rc = webhook_build(&in, &eng.ws, &a->x.req, &tg, a->error,
	    sizeof(a->error));
	if (rc != 0)
		return rc;
	snprintf(a->x.host, sizeof(a->x.host), "%s", tg.host);
	a->x.port = tg.port;
	a->x.tls = tg.tls;
	a->x.literal = tg.literal;
	a->literal = tg.literal;
	return 0;
}

static void attempt_resolved(struct resolve_wait *w,
    struct resolve_entry *en);

void
attempt_start(struct delivery *d)
{
	struct endpoint *e = d->endpoint;
	struct attempt *a;
	int rc;

	a = attempt_alloc();
	if (a == NULL) {
		struct outcome o;

		memset(&o, 0, sizeof(o));
		o.result = WEBHOOK_ERROR;
		o.error = "out of memory";
		o.retry_after = -1;
		outcome_record(d, e, (unsigned)d->attempts + 1,
		    util_wall_ms(), 0, &o);
		return;
	}
	a->d = d;
	a->ep = e;
	a->tn = tenant_of(d);
	a->number = (unsigned)d->attempts + 1;
	a->at = util_wall_ms();
	a->start = util_mono_ms();
	/* Contract §15: the endpoint's own timeout, else the global one. */
	a->deadline = a->start + (e != NULL && e->timeout_ms != 0 ?
	    e->timeout_ms : config_current()->timeout_ms);
	rate_take(e, d->manual);
	d->manual = 0;
	a->x.retry_after = -1;
	a->x.ep = e != NULL ? e->id : 0;
	a->x.client = d->event->client_id;
	a->x.done = attempt_done;
	a->rw.cb = attempt_resolved;
	d->inflight = 1;
	eng.inflight_total++;
	if (e != NULL)
		e->inflight++;
	if (a->tn != NULL)
		a->tn->inflight++;
	active_insert(a);

	rc = request_build(a);
	if (rc == -1) {
		struct tenant *t = a->tn;

		attempt_detach(a, 0);
		delivery_fail_now(d, a->error);
		attempt_free(a);
		pull_after(e, t);
		return;
	}
	if (rc != 0) {
		attempt_fail(a, a->error, WEBHOOK_ERROR);
		return;
	}
	if (a->literal) {
		struct sockaddr_storage ss;

		if (url_host_literal(a->x.host, &ss) != 0 ||
		    url_addr_from_sockaddr(&ss, &a->x.addr[0]) != 0) {
			attempt_fail(a, "invalid url", WEBHOOK_ERROR);
			return;
		}
		a->x.naddr = 1;
		out_connect(&a->x);
	} else {
		struct resolve_entry *en = resolve_get(a->x.host,
		    d->event->client_id, util_mono_ms());

		if (en == NULL) {
			attempt_fail(a, "out of memory", WEBHOOK_ERROR);
		} else if (en->state == RESOLVE_RESOLVING ||
		    en->state == RESOLVE_QUEUED) {
			resolve_wait_on(en, &a->rw);
		} else {
			attempt_resolved(&a->rw, en);
		}
	}
}

/* The name of a is resolved (or failed): go on. */
static void
attempt_resolved(struct resolve_wait *w, struct resolve_entry *en)
{
	struct attempt *a = (struct attempt *)(void *)((char *)w -
	    offsetof(struct attempt, rw));

	if (en->state != RESOLVE_OK) {
		snprintf(a->error, sizeof(a->error), "%s", en->error);
		attempt_fail(a, a->error, WEBHOOK_ERROR);
		return;
	}
	a->x.naddr = en->naddr;
	memcpy(a->x.addr, en->addr, en->naddr * sizeof(en->addr[0]));
	a->x.next_addr = 0;
	out_connect(&a->x);
}
