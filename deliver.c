/*
 * deliver: the delivery engine. It owns the timer heap of pending
 * deliveries, the slots per endpoint, per client and in all, the outcome of
 * each attempt as the store records it (contract §5, §12), the retry
 * schedule and disabling. Requests are built by webhook, sent by outbound,
 * and names looked up by resolve; their results come back through
 * callbacks this file sets.
 *
 * Scheduling. Every pending delivery that is not yet due sits in one binary
 * min-heap keyed by its next_at (wall-clock ms, so a restart or a changed
 * clock keeps the promised times); d->heap_index is its 1-based slot, 0 when
 * it is not in the heap. The heap is an array of pointers grown by doubling:
 * no allocation per delivery beyond the store's own struct. The store calls
 * engine_due (store_on_due) when a delivery is requeued, or once the event
 * that created it is durable (so no receiver hears of an unacknowledged
 * event), and engine_forget (store_on_fail) when one leaves pending without
 * an attempt.
 * deliver_tick pops what is due and dispatches it: an attempt starts at once
 * unless its endpoint is disabled or has endpoint_concurrency attempts in
 * flight (then it waits on that endpoint's list), or its client has
 * max_inflight_per_client in flight (then on the client's list), or
 * max_outbound attempts are in flight in all (then on the global list).
 * When an attempt ends, the global list is pulled first (the starved
 * deliveries: nothing of their endpoint or client is in flight), then its
 * endpoint's list and its client's. Waiting lists are intrusive and doubly
 * linked (d->wait_next, d->wait_prev), so they cost no memory either, and a
 * delete or disable takes each failed delivery off in O(1).
 *
 * An attempt (deliver_attempt.c). It reads the endpoint's current url,
 * method, headers and secret (so a PATCH fixes deliveries still pending),
 * has webhook build the whole request in one buffer, and hands it to an
 * outbound exchange. Its state exists only while it is in flight; spare
 * attempt structures and their buffers are reused. One deadline, start +
 * timeout, covers resolving, connecting, sending and reading. Literal IP
 * hosts skip the resolver. Destinations are checked by outbound on each
 * address actually connected to (contract §8, no DNS rebinding).
 *
 * Isolation: everything is non-blocking and every wait is a deadline, so a
 * slow or dead receiver costs only its own endpoint's slots, and one
 * client's receivers and names at most its own client's share (contract
 * §18).
 *
 * Re-entrancy: the store may call engine_forget from inside any store call
 * this file makes (disabling an endpoint fails its other deliveries). So
 * before calling the store about a delivery, this file first detaches it
 * from all of its own structures; engine_forget then finds nothing to undo
 * for it. Attempts never start from inside engine_forget; freed slots are
 * refilled by the next deliver_tick.
 *
 * The store is expected to call store_on_fail before it clears
 * d->endpoint or frees the endpoint (the endpoint's wait list and counters
 * are reached through it).
 */
#include "deliver.h"
#include "deliver_impl.h"
#include "deliver_tail.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "outbound.h"
#include "resolve.h"
#include "config.h"
#include "gateway.h"
#include "log.h"
#include "metrics.h"
#include "sign.h"
#include "url.h"
#include "webhook.h"

/*
 * Limits. Each bounds what a busy day can make the engine hold.
 */
/* When the store cannot record an outcome (disk full), the delivery is tried
 * again no sooner than this, so a full disk does not become a hot loop of
 * duplicate deliveries. */
#define DELIVER_STORE_BACKOFF_MS 10000
/* Due deliveries one loop pass takes from the timer heap (each started, at
 * some microseconds for its request and connect, or put on a wait list):
 * an event matching thousands of endpoints, or thousands of retries come
 * due together, would otherwise hold every connection for one long pass
 * (issue 20: no pass over 10 ms). The rest go in the next passes, which
 * follow at once. */
#define DELIVER_DUE_PER_PASS 256

/* The engine's state (deliver_impl.h). */
struct engine eng;

/* ---------------------------------------------------------------------- */
/* Small helpers                                                          */

/*
 * The attempts e may have in flight. An endpoint whose attempts are failing
 * (timeouts, refusals, errors) gets one at a time until one succeeds: a
 * dead receiver then holds one outbound slot instead of
 * endpoint_concurrency, so a hundred of them cannot take max_outbound from
 * the healthy ones (contract §5: a dead receiver never delays others).
 */
static size_t
endpoint_slots(const struct endpoint *e)
{
	/* Contract §15: a fifo endpoint has one attempt in flight at most. */
	return e->failing_since != 0 || e->fifo ? 1 :
	    outbound_endpoint_cap();
}

/* The attempts one client may have in flight (contract §18): its hanging
 * receivers can never take every outbound slot from the other clients. */
static size_t
client_cap(void)
{
	return config_client_inflight(config_current());
}

/* The state of d's client (the event keeps its id even once the client is
 * deleted). */
struct tenant *
tenant_of(const struct delivery *d)
{
	return deliver_tenant_get(&eng.q, d->event->client_id, 1);
}

/* A uniform double in [0, 1) from xorshift64*: jitter needs no more, and
 * a private generator leaves the process's rand() state alone. */
static double
rng_unit(void)
{
	uint64_t x = eng.rng_state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	eng.rng_state = x;
	return (double)((x * 2685821657736338717ULL) >> 11) /
	    9007199254740992.0;
}

/* A NUL-terminated string (NULL as "") as a logfmt value: log_quote, so
 * that a receiver's or resolver's text cannot forge a key or a line. */
static const char *
logq(char *out, size_t outsz, const char *s)
{
	return log_quote(out, outsz, s != NULL ? s : "",
	    s != NULL ? strlen(s) : 0);
}

/* ---------------------------------------------------------------------- */
/* Scheduling                                                             */

/* store_on_due: (re)insert d by its next_at. Idempotent: a delivery in
 * flight or already waiting for a slot is left where it is. */
void
engine_due(struct delivery *d)
{
	if (d->status != STORE_PENDING || d->inflight || d->waiting)
		return;
	if (!fifo_ok(d))
		return;
	if (d->heap_index != 0) {
		deliver_heap_fix(&eng.q, d);
		return;
	}
	/* Out of memory for the heap: hold it on the global wait list, which
	 * needs none. It is then attempted when a slot frees, early rather
	 * than never. */
	if (deliver_heap_push(&eng.q, d) != 0)
		deliver_wait_push(&eng.q, d, WAIT_GLOBAL, NULL);
}

/* The in-flight attempt of d (at most max_outbound to look through). */
static struct attempt *
attempt_of(const struct delivery *d)
{
	struct attempt *a;

	for (a = eng.act_head; a != NULL; a = a->next)
		if (a->d == d)
			return a;
	return NULL;
}

/* store_on_fail: d left pending without an attempt (a delete or a
 * disable failed it); forget it. */
static void
engine_forget(struct delivery *d)
{
	/* The store may call this for the delivery this file is itself
	 * eng.recording; that one is counted where it is recorded. */
	if (d != eng.recording && !d->upstream)
		metrics.failed++;
	/* A gateway request's call failed by its client's deletion: the
	 * request completes as TYPE.failed (gateway_finish) at the next tick,
	 * once this store call is over. Without memory it is completed at the
	 * next start instead (request_build_upstream: its client is gone). */
	if (d->upstream && d != eng.recording) {
		struct delivery **v = util_grow(eng.cancelled,
		    &eng.cancelled_cap, eng.ncancelled + 1, sizeof(*v), 16);

		if (v != NULL)
			eng.cancelled = v;
		if (eng.ncancelled < eng.cancelled_cap)
			eng.cancelled[eng.ncancelled++] = d;
	}
	if (d->heap_index != 0)
		deliver_heap_remove(&eng.q, d);
	if (d->waiting)
		deliver_wait_unlink(&eng.q, d);
	if (d->inflight) {
		struct attempt *a = attempt_of(d);

		if (a != NULL)
			attempt_abort(a);
		d->inflight = 0;
		eng.sweep_endpoints = 1;
	}
	fifo_next(d->endpoint, d);
}

/* store_on_remove: the attempts in flight to e (or, e NULL, of client
 * client_id's one-offs) fail now with error, as before removals in steps;
 * the engine starts no new one (e is disabled; a one-off finds no
 * client). */
static void
engine_removed(struct endpoint *e, const char *client_id, const char *error)
{
	struct attempt *a, *next;
	int64_t now = util_wall_ms();

	if (e != NULL)
		rate_unhold(e);
	for (a = eng.act_head; a != NULL; a = next) {
		struct delivery *d = a->d;

		next = a->next;
		if (e != NULL ? d->endpoint == e : (d->url != NULL &&
		    strcmp(d->event->client_id, client_id) == 0))
			(void)store_delivery_fail(d, error, now);
	}
}

/*
 * Start d now, or put it on the wait list of the first limit that holds it
 * back: its endpoint's (disabled, or endpoint_slots in flight), its
 * client's (max_inflight_per_client in flight), or the global one
 * (max_outbound). A list is pulled when a slot of its kind frees, and what
 * is pulled is dispatched again, so a delivery moves on to the next limit
 * that holds it; it never waits on two lists, and never fails for a limit.
 */
static void
dispatch(struct delivery *d)
{
	struct endpoint *e = d->endpoint;
	struct tenant *t;

	if (!fifo_ok(d))
		return;
	t = tenant_of(d);
	if (e != NULL && (!e->enabled || e->inflight >= endpoint_slots(e) ||
	    (!d->manual && !rate_ready(e))))
		deliver_wait_push(&eng.q, d, WAIT_ENDPOINT, NULL);
	else if (t != NULL && t->inflight >= client_cap())
		deliver_wait_push(&eng.q, d, WAIT_CLIENT, t);
	else if (eng.inflight_total >= outbound_cap() && e != NULL &&
	    e->inflight > 0)
		/* Its own attempts pull it when they end, so a busy endpoint
		 * keeps its slots instead of queueing behind every other
		 * endpoint's deliveries on the global list. */
		deliver_wait_push(&eng.q, d, WAIT_ENDPOINT, NULL);
	else if (eng.inflight_total >= outbound_cap())
		deliver_wait_push(&eng.q, d, WAIT_GLOBAL, NULL);
	else
		attempt_start(d);
}

static void
pull_endpoint(struct endpoint *e)
{
	while (e->enabled && e->wait_head != NULL &&
	    e->inflight < endpoint_slots(e)) {
		struct delivery *d = e->wait_head;
		struct tenant *t = tenant_of(d);

		/* Contract §15: no token, no start; the token's time wakes
		 * the loop to pull again. A manual retry goes without. */
		if (!d->manual && !rate_ready(e))
			return;
		if (t != NULL && t->inflight >= client_cap()) {
			/* Its client has no slot. With none of the
			 * endpoint's own attempts in flight, nothing would
			 * pull it again: hand one delivery to the client's
			 * list, whose turn comes when a slot of the client
			 * frees (and whose attempt pulls this list again). */
			if (e->inflight == 0) {
				d = deliver_wait_pop(&e->wait_head, &e->wait_tail);
				deliver_wait_push(&eng.q, d, WAIT_CLIENT, t);
			}
			return;
		}
		if (eng.inflight_total >= outbound_cap()) {
			/* No global slot. With none of its own attempts in
			 * flight, nothing would pull this endpoint again:
			 * hand one delivery to the global list, whose turn
			 * comes when any slot frees. */
			if (e->inflight == 0) {
				d = deliver_wait_pop(&e->wait_head, &e->wait_tail);
				deliver_wait_push(&eng.q, d, WAIT_GLOBAL, NULL);
			}
			return;
		}
		d = deliver_wait_pop(&e->wait_head, &e->wait_tail);
		if (fifo_ok(d))
			attempt_start(d);
	}
}

/* The endpoints whose next token has come (contract §15): pull them. */
static void
rate_wake(int64_t now)
{
	struct endpoint **pp = &eng.rl_head, *e;

	while ((e = *pp) != NULL) {
		if (e->rl_wake > now) {
			pp = &e->rl_next;
			continue;
		}
		*pp = e->rl_next;
		e->rl_held = 0;
		e->rl_next = NULL;
		/* It may go back on the list, at its head: already past. */
		pull_endpoint(e);
	}
}

/* A slot of client t may be free: dispatch what waits for one. */
static void
pull_client(struct tenant *t)
{
	while (t->wait_head != NULL && t->inflight < client_cap()) {
		if (eng.inflight_total >= outbound_cap()) {
			/* As in pull_endpoint: with none of the client's
			 * attempts in flight, the global list takes one. */
			if (t->inflight == 0)
				deliver_wait_push(&eng.q, deliver_wait_pop(&t->wait_head,
				    &t->wait_tail), WAIT_GLOBAL, NULL);
			return;
		}
		/* Goes to its endpoint's list, or starts. */
		dispatch(deliver_wait_pop(&t->wait_head, &t->wait_tail));
	}
}

static void
pull_global(void)
{
	while (eng.q.gwait_head != NULL && eng.inflight_total < outbound_cap())
		dispatch(deliver_wait_pop(&eng.q.gwait_head, &eng.q.gwait_tail));
}

/*
 * A slot of e and of t (either may be NULL) freed: let waiting deliveries
 * go. The global list goes first: it holds the deliveries whose endpoint
 * and client have nothing in flight to pull them (contract §5, §18). Were
 * e's and t's own lists first, a freed slot would go back to the client
 * that held it, and two clients with hanging receivers would keep every
 * slot until all their attempts and retries were done. What e's and t's
 * lists cannot start then stays theirs (their other attempts pull it) or
 * is handed to the global list (when none is in flight), so nothing is
 * stuck; the global list is pulled again for slots that an attempt ending
 * at once gave back meanwhile.
 */
void
pull_after(struct endpoint *e, struct tenant *t)
{
	if (eng.pulling) {
		/* An attempt started by a pull ended at once; the pull in
		 * progress goes on, and the tick covers what it misses. */
		if ((e != NULL && e->wait_head != NULL) ||
		    (t != NULL && t->wait_head != NULL))
			eng.sweep_endpoints = 1;
		return;
	}
	eng.pulling = 1;
	pull_global();
	if (e != NULL)
		pull_endpoint(e);
	if (t != NULL)
		pull_client(t);
	pull_global();
	eng.pulling = 0;
}

/* ---------------------------------------------------------------------- */
/* Outcomes                                                               */

/* The delay before attempt n + 1 after n attempts (1 <= n <= the length
 * of schedule). */
static int64_t
retry_delay(const int64_t *schedule, unsigned n, int64_t retry_after)
{
	return webhook_retry_delay(schedule[n - 1], rng_unit(), retry_after);
}

static void
metrics_attempt(enum webhook_result r, int64_t ms)
{
	size_t i;

	switch (r) {
	case WEBHOOK_OK:
		metrics.att_ok++;
		break;
	case WEBHOOK_REJECT:
		metrics.att_rejected++;
		break;
	case WEBHOOK_RETRY:
		metrics.att_retry++;
		break;
	case WEBHOOK_TIMEOUT:
		metrics.att_timeout++;
		break;
	case WEBHOOK_ERROR:
		metrics.att_error++;
		break;
	}
	/* The exporter makes the buckets cumulative. */
	for (i = 0; i < METRICS_LATENCY_BUCKETS; i++) {
		if (ms <= metrics_bounds[i]) {
			metrics.latency_le[i]++;
			break;
		}
	}
	metrics.latency_count++;
	metrics.latency_sum += (double)ms / 1000.0;
}

/*
 * Contract §14: the upstream call d of a gateway request has ended (o: its
 * last outcome; d is delivered when the upstream answered, failed when the
 * schedule ran out or it could not be made). The request becomes its
 * event: the answer (or TYPE.failed with the error), delivered to the
 * request's callbackURL and to its client's endpoints that match. When
 * that cannot be written, the call is made again later (the upstream sees
 * the same Idempotency-Key), as after a crash.
 */
static void
gateway_finish(struct delivery *d, const struct outcome *o)
{
	struct event *ev = d->event;
	struct client *cl = store_event_client(ev);
	struct endpoint **eps = NULL;
	char cb[URL_MAX + 1], type[UTIL_TYPE_MAX + 1], xid[STORE_XID_MAX];
	char why[160], eq[200];
	const char *desc, *error = NULL;
	size_t dl, i, neps = 0, total = store_endpoint_count();
	int failed = d->status == STORE_FAILED, has_cb = 0, rc = -1;
	int64_t now = util_wall_ms();
	struct buf data = {0};

	if (ev->gw != STORE_GW_FORWARDING)
		return;
	store_fmt_id(STORE_EVT, ev->id, xid);
	webhook_buf_reset(&eng.scratch_data);
	desc = store_event_data(ev, &eng.scratch_data, &dl);
	/* A deleted client's callback would fail unsigned ("client
	 * deleted"): none is made. */
	if (desc != NULL && cl != NULL)
		has_cb = gateway_callback(desc, dl, cb, sizeof(cb)) == 1;
	snprintf(type, sizeof(type), "%s%s", ev->type, failed ? ".failed" :
	    "");
	if (failed) {
		if (o->status > 0 && o->error != NULL)
			snprintf(why, sizeof(why), "%s", o->error);
		else if (o->status > 0)
			snprintf(why, sizeof(why), "the upstream answered %d "
			    "on every attempt of the retry schedule",
			    o->status);
		else
			snprintf(why, sizeof(why), "%s%s", o->error != NULL ?
			    o->error : "no answer", o->result ==
			    WEBHOOK_REJECT ? "" : " (the retry schedule ran "
			    "out)");
		error = why;
	}
	if (gateway_event_data(o->status, o->ctype, o->whole != NULL ?
	    o->whole : "", o->whole_len, error, &data) != 0)
		goto out;
	if (cl != NULL && total > 0 &&
	    (eps = calloc(total, sizeof(*eps))) == NULL)
		goto out;
	for (i = 0; cl != NULL && i < total; i++) {
		struct endpoint *e = store_endpoint_at(i);

		if (e->client == cl && e->enabled &&
		    store_endpoint_matches(e, type, strlen(type)))
			eps[neps++] = e;
	}
	rc = store_request_complete(ev, failed, o->status, type, strlen(type),
	    data.data, data.len, eps, neps, has_cb ? cb : NULL, now);
out:
	if (rc == 0) {
		char eq2[200];

		if (failed)
			metrics.gw_failed++;
		else
			metrics.gw_completed++;
		if (failed)
			log_line("warn", "request failed", "request=%s type=%s "
			    "status=%d error=%s deliveries=%u", xid,
			    logq(eq, sizeof(eq), type), o->status,
			    logq(eq2, sizeof(eq2), why), ev->ndeliveries - 1);
		else
			log_line("info", "request completed", "request=%s "
			    "type=%s status=%d deliveries=%u", xid,
			    logq(eq, sizeof(eq), type), o->status,
			    ev->ndeliveries - 1);
	} else {
		log_line("error", "store write failed", "event=%s error=%s",
		    xid, logq(eq, sizeof(eq), strerror(errno)));
		if (store_delivery_requeue(d, now + DELIVER_STORE_BACKOFF_MS) ==
		    0)
			engine_due(d);
	}
	free(eps);
	buf_free(&data);
}

/*
 * How the log names d: "delivery=dlv_..." (xid), or for a gateway
 * request's upstream call, which has no id of its own in the API,
 * "request=evt_... route=PREFIX upstream=HOST:PORT" (contract §14).
 */
static void
log_who(struct delivery *d, const char *xid, char *out, size_t outsz)
{
	char eid[STORE_XID_MAX], route[200], rq[220], hq[URL_HOST_MAX + 40];
	const char *desc, *uerr;
	size_t dl;
	struct url u;

	if (!d->upstream) {
		snprintf(out, outsz, "delivery=%s", xid);
		return;
	}
	store_fmt_id(STORE_EVT, d->event->id, eid);
	webhook_buf_reset(&eng.scratch_data);
	desc = store_event_data(d->event, &eng.scratch_data, &dl);
	if (desc == NULL || gateway_route(desc, dl, route, sizeof(route)) != 1)
		snprintf(route, sizeof(route), "?");
	if (d->url == NULL || url_parse(d->url, strlen(d->url), &u,
	    &uerr) != 0)
		snprintf(hq, sizeof(hq), "?");
	else if (strchr(u.host, ':') != NULL)
		snprintf(hq, sizeof(hq), "[%s]:%u", u.host, (unsigned)u.port);
	else
		snprintf(hq, sizeof(hq), "%s:%u", u.host, (unsigned)u.port);
	snprintf(out, outsz, "request=%s route=%s upstream=%s", eid,
	    logq(rq, sizeof(rq), route), hq);
}

/*
 * Record the outcome of attempt number n of d (e: d's endpoint or NULL),
 * started at wall time at and lasting ms. The caller has already detached
 * d from the engine. Applies §5: the new status, the next attempt time, the
 * endpoint's failure clock and disabling.
 */
void
outcome_record(struct delivery *d, struct endpoint *e, unsigned n,
    int64_t at, int64_t ms, const struct outcome *o)
{
	struct store_attempt sa;
	char xid[STORE_XID_MAX], eq[160], stq[16], who[URL_HOST_MAX + 512];
	int64_t now = util_wall_ms();
	size_t nsched;
	const int64_t *sched = policy_schedule(e, &nsched);
	int rc;

	memset(&sa, 0, sizeof(sa));
	sa.at = at;
	sa.status = o->status;
	sa.error = o->error;
	sa.ms = ms;
	sa.body = o->body;
	sa.body_len = o->body_len < STORE_LOG_BODY ? o->body_len :
	    STORE_LOG_BODY;
	sa.ack = o->ack;
	sa.ack_len = o->ack_len;
	sa.new_status = (uint8_t)webhook_next_status(o->result, n, nsched);
	if (sa.new_status == STORE_PENDING)
		sa.next_at = now + retry_delay(sched, n, o->retry_after);
	/* A gateway request's upstream call is no delivery: counted apart
	 * (its request's outcome in gateway_finish). */
	if (d->upstream)
		metrics.gw_attempts++;
	else {
		metrics_attempt(o->result, ms);
		/* Issue 16: GET /v1/attempts and `hookd tail`. */
		deliver_tail_record(d, n, at, ms, o->status, o->error,
		    sa.new_status);
		if (sa.new_status == STORE_DELIVERED)
			metrics.delivered++;
		else if (sa.new_status == STORE_FAILED)
			metrics.failed++;
	}

	store_fmt_id(STORE_DLV, d->id, xid);
	/* " error=..." only when there is one (an HTTP status says it). */
	eq[0] = '\0';
	if (o->error != NULL) {
		memcpy(eq, " error=", 7);
		logq(eq + 7, sizeof(eq) - 7, o->error);
	}
	/* status=none when no HTTP answer came (the API's null), never a
	 * status=0 that reads like a number a receiver sent. */
	if (o->status > 0)
		snprintf(stq, sizeof(stq), "%d", o->status);
	else
		memcpy(stq, "none", 5);
	log_who(d, xid, who, sizeof(who));
	if (sa.new_status == STORE_DELIVERED)
		log_line("info", d->upstream ? "upstream answered" :
		    "delivered", "%s status=%s ms=%lld attempt=%u", who, stq,
		    (long long)ms, n);
	else if (sa.new_status == STORE_PENDING)
		log_line("info", d->upstream ? "upstream retry" : "retry",
		    "%s status=%s%s ms=%lld attempt=%u next_in_ms=%lld", who,
		    stq, eq, (long long)ms, n, (long long)(sa.next_at - now));
	else
		log_line("warn", d->upstream ? "upstream failed" : "failed",
		    "%s status=%s%s ms=%lld attempt=%u", who, stq, eq,
		    (long long)ms, n);

	eng.recording = d;
	rc = store_delivery_attempted(d, &sa);
	eng.recording = NULL;
	if (rc != 0) {
		/* Disk full or I/O error. The store keeps the outcome in
		 * memory anyway; at worst a restart repeats the attempt,
		 * which receivers deduplicate on webhook-id. A delivery that
		 * stays pending waits a little longer, so a full disk does
		 * not speed up retries. */
		log_line("error", "store write failed", "delivery=%s error=%s",
		    xid, logq(eq, sizeof(eq), strerror(errno)));
		if (d->status == STORE_PENDING)
			d->next_at = (d->next_at > now ? d->next_at : now) +
			    DELIVER_STORE_BACKOFF_MS;
	}
	/* The store may already have rescheduled it through store_on_due;
	 * engine_due is idempotent. */
	engine_due(d);
	if (d->status != STORE_PENDING)
		fifo_next(d->endpoint, d);
	if (d->upstream && d->status != STORE_PENDING)
		gateway_finish(d, o);
	/* Contract §15: the attempt that ended it failed, once. */
	if (d->status == STORE_FAILED)
		ops_delivery_failed(d, o->status, o->error);

	if (e != NULL) {
		store_endpoint_note(e, o->result == WEBHOOK_OK, now);
		if (o->disable || (e->failing_since != 0 &&
		    now - e->failing_since >= config_current()->disable_after_ms)) {
			int64_t since = e->failing_since;

			store_fmt_id(STORE_EP, e->id, xid);
			log_line("warn", "endpoint disabled", "endpoint=%s "
			    "reason=%s", xid, o->disable ? "gone" : "failing");
			if (store_endpoint_disable(e, "endpoint disabled") != 0)
				log_line("error", "store write failed",
				    "endpoint=%s error=%s", xid,
				    logq(eq, sizeof(eq), strerror(errno)));
			else
				ops_endpoint_disabled(e, o->disable ? "gone" :
				    "failing", since);
		}
	}
}

/* d cannot be delivered at all (template, URL, client gone): it fails
 * without an attempt. d is detached from the engine. */
void
delivery_fail_now(struct delivery *d, const char *error)
{
	char xid[STORE_XID_MAX], eq[160];
	int64_t now = util_wall_ms();

	int rc;

	store_fmt_id(STORE_DLV, d->id, xid);
	eng.recording = d;
	rc = store_delivery_fail(d, error, now);
	eng.recording = NULL;
	if (rc != 0) {
		log_line("error", "store write failed", "delivery=%s error=%s",
		    xid, logq(eq, sizeof(eq), strerror(errno)));
		/* Still pending in memory: look at it again later. */
		if (d->status == STORE_PENDING) {
			d->next_at = now + DELIVER_STORE_BACKOFF_MS;
			engine_due(d);
			return;
		}
	}
	if (!d->upstream) {
		metrics.failed++;
		log_line("warn", "failed", "delivery=%s error=%s attempt=0", xid,
		    logq(eq, sizeof(eq), error));
		ops_delivery_failed(d, 0, error);
	}
	if (d->upstream) {
		struct outcome o;

		memset(&o, 0, sizeof(o));
		o.result = WEBHOOK_REJECT;
		o.error = error;
		gateway_finish(d, &o);
	}
}

/* ---------------------------------------------------------------------- */
/* The interface                                                          */

static void
init_each(struct delivery *d, void *arg)
{
	(void)arg;
	/* Attempts in flight at the last stop are simply due again. */
	d->inflight = 0;
	d->waiting = 0;
	d->wait_next = d->wait_prev = NULL;
	d->heap_index = 0;
	engine_due(d);
}

int
deliver_init(char *err, size_t errsz)
{
	if (sign_random(&eng.rng_state, sizeof(eng.rng_state)) != 0 ||
	    eng.rng_state == 0)
		eng.rng_state = (uint64_t)util_wall_ms() * 2654435761u + 1;
	if (resolve_start(err, errsz) != 0) {
		deliver_shutdown();
		return -1;
	}
	store_on_due = engine_due;
	store_on_fail = engine_forget;
	store_on_remove = engine_removed;
	store_foreach_pending(init_each, NULL);
	return 0;
}

void
deliver_drain(void)
{
	eng.draining = 1;
}

int64_t
deliver_tick(void)
{
	int64_t now = util_mono_ms(), wall = util_wall_ms(), next = -1, idle;
	int64_t rl_next = -1;
	size_t due;
	int reaping;

	/* A removal's queued deliveries fail STORE_REAP_PER_PASS a pass;
	 * while some remain, the loop does not sleep. */
	reaping = store_reap(STORE_REAP_PER_PASS);
	while (eng.ncancelled > 0) {
		struct delivery *d = eng.cancelled[--eng.ncancelled];
		struct outcome o;

		memset(&o, 0, sizeof(o));
		o.result = WEBHOOK_REJECT;
		o.error = "client deleted";
		if (d->status == STORE_FAILED)
			gateway_finish(d, &o);
	}

	/* Attempts past their deadline. Always take the head again: ending
	 * one may abort others. */
	while (eng.act_head != NULL && eng.act_head->deadline <= now)
		attempt_fail(eng.act_head, "timeout", WEBHOOK_TIMEOUT);
	outbound_tick(now);
	if (resolve_tick(now))
		deliver_tenant_sweep(&eng.q, 0);

	if (eng.draining)
		goto deadlines;
	/* A reload that raised a cap frees slots no attempt's end reports. */
	if (outbound_endpoint_cap() != eng.last_endpoint_cap ||
	    client_cap() != eng.last_client_cap ||
	    outbound_cap() != eng.last_outbound_cap) {
		eng.last_endpoint_cap = outbound_endpoint_cap();
		eng.last_client_cap = client_cap();
		eng.last_outbound_cap = outbound_cap();
		eng.sweep_endpoints = 1;
	}
	eng.pulling = 1;
	/* The global list first, as in pull_after; again after the sweep
	 * for what it handed over. */
	pull_global();
	if (eng.sweep_endpoints) {
		struct tenant *t;
		size_t i;

		eng.sweep_endpoints = 0;
		for (i = 0; i < store_endpoint_count(); i++)
			pull_endpoint(store_endpoint_at(i));
		for (t = deliver_tenant_next(&eng.q, NULL); t != NULL;
		    t = deliver_tenant_next(&eng.q, t))
			pull_client(t);
	}
	pull_global();
	rate_wake(now);
	eng.pulling = 0;

	/* At most DELIVER_DUE_PER_PASS due deliveries a pass: a fan-out to
	 * thousands of endpoints, or a backlog come due at once, is started
	 * over several passes, between which the loop serves its
	 * connections. */
	for (due = 0; due < DELIVER_DUE_PER_PASS && eng.q.heap_len > 0 &&
	    eng.q.heap[1]->next_at <= wall; due++) {
		struct delivery *d = eng.q.heap[1];

		deliver_heap_remove(&eng.q, d);
		if (d->status == STORE_PENDING)
			dispatch(d);
	}

deadlines:
	if (eng.q.heap_len > 0 && !eng.draining)
		next = now + (eng.q.heap[1]->next_at > wall ?
		    eng.q.heap[1]->next_at - wall : 0);
	if (eng.act_head != NULL &&
	    (next < 0 || eng.act_head->deadline < next))
		next = eng.act_head->deadline;
	idle = outbound_idle_deadline();
	if (idle >= 0 && (next < 0 || idle < next))
		next = idle;
	/* The next token an endpoint's deliveries wait for (contract §15):
	 * a timer, not a poll. */
	if (!eng.draining && eng.rl_head != NULL) {
		struct endpoint *e;

		for (e = eng.rl_head; e != NULL; e = e->rl_next)
			if (rl_next < 0 || e->rl_wake < rl_next)
				rl_next = e->rl_wake;
		if (next < 0 || rl_next < next)
			next = rl_next;
	}
	if (reaping)
		next = now;
	return next;
}

void
deliver_on_lookup(void (*fn)(void))
{
	resolve_on_lookup(fn);
}

int
deliver_host_addrs(const char *host, const char *client,
    struct sockaddr_storage *ss, size_t max, size_t *n)
{
	return resolve_host_addrs(host, client, ss, max, n);
}

void
deliver_now(struct delivery *d)
{
	struct endpoint *e = d->endpoint;

	if (d->status != STORE_PENDING || d->inflight)
		return;
	/* An operator's "now": its attempt waits for no rate_limit token
	 * (contract §15), though it takes one if there is one. A delivery
	 * already waiting on its endpoint for only a token leaves the line;
	 * one waiting for a slot keeps its place (the flag lets it go
	 * without a token once it has one); a parked one of a fifo endpoint
	 * keeps its turn. */
	d->manual = 1;
	if (d->waiting == WAIT_ENDPOINT && e != NULL && e->enabled &&
	    e->inflight < endpoint_slots(e))
		deliver_wait_unlink(&eng.q, d);
	if (d->waiting)
		return;
	if (d->heap_index != 0)
		deliver_heap_remove(&eng.q, d);
	dispatch(d);
}

int64_t
deliver_next_attempt(const struct delivery *d)
{
	const struct endpoint *e = d->endpoint;
	int64_t at;

	if (d->status != STORE_PENDING)
		return 0;
	/* Waiting on its endpoint for a token: not before the next one. */
	if (d->waiting == WAIT_ENDPOINT && e != NULL && e->rl_held) {
		at = util_wall_ms() + (e->rl_wake - util_mono_ms());
		if (at > d->next_at)
			return at;
	}
	return d->next_at;
}

void
deliver_endpoint_enabled(struct endpoint *e)
{
	pull_after(e, NULL);
}

void
deliver_endpoint_changed(struct endpoint *e)
{
	struct delivery *d;

	if (!e->fifo) {
		/* No longer fifo: the parked deliveries go at their own times
		 * again. */
		e->fifo_cur = NULL;
		while ((d = deliver_wait_pop(&e->park_head, &e->park_tail)) !=
		    NULL)
			engine_due(d);
	} else if (e->fifo_cur == NULL && e->park_head == NULL) {
		/* Fifo already in force keeps a fifo_cur while anything is
		 * pending: with none, ordering has just become fifo (or
		 * nothing is pending, and the walk finds nothing). */
		fifo_adopt(e);
	}
	/* A rate set anew starts with a full bucket; a changed one keeps
	 * its tokens, cut to its new size. */
	if (e->rate_milli == 0)
		e->rl_mono = 0;
	else
		rl_refill(e, util_mono_ms());
	pull_after(e, NULL);
}

size_t
deliver_inflight(void)
{
	return eng.inflight_total;
}

void
deliver_shutdown(void)
{
	size_t i;
	struct delivery *d;
	struct tenant *t;

	store_on_due = NULL;
	store_on_fail = NULL;
	store_on_remove = NULL;
	/* In-flight deliveries stay pending: due again at the next start. */
	while (eng.act_head != NULL)
		attempt_abort(eng.act_head);
	outbound_close_idle();
	while ((d = deliver_wait_pop(&eng.q.gwait_head, &eng.q.gwait_tail)) != NULL)
		;
	for (i = 0; i < store_endpoint_count(); i++) {
		struct endpoint *e = store_endpoint_at(i);

		while ((d = deliver_wait_pop(&e->wait_head, &e->wait_tail)) != NULL)
			;
		e->inflight = 0;
		/* Delivery policy (contract §15): */
		while ((d = deliver_wait_pop(&e->park_head, &e->park_tail)) !=
		    NULL)
			;
		e->fifo_cur = NULL;
		e->rl_held = 0;
		e->rl_next = NULL;
	}
	eng.rl_head = NULL;
	for (t = deliver_tenant_next(&eng.q, NULL); t != NULL;
	    t = deliver_tenant_next(&eng.q, t))
		while ((d = deliver_wait_pop(&t->wait_head, &t->wait_tail)) !=
		    NULL)
			;
	for (i = 1; i <= eng.q.heap_len; i++)
		eng.q.heap[i]->heap_index = 0;
	free(eng.q.heap);
	eng.q.heap = NULL;
	eng.q.heap_len = eng.q.heap_cap = 0;
	resolve_stop();
	deliver_tenant_sweep(&eng.q, 1);
	while (eng.spare != NULL) {
		struct attempt *a = eng.spare;

		eng.spare = a->next;
		buf_free(&a->x.req);
		buf_free(&a->x.in);
		buf_free(&a->x.whole);
		free(a);
	}
	eng.nspare = 0;
	free(eng.cancelled);
	eng.cancelled = NULL;
	eng.ncancelled = eng.cancelled_cap = 0;
	buf_free(&eng.scratch_data);
	webhook_scratch_free(&eng.ws);
	eng.inflight_total = 0;
	eng.sweep_endpoints = 0;
	eng.pulling = 0;
}

