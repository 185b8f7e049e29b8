/*
 * deliver_ops: hookd's operational webhooks (contract §15): the events
 * delivery.failed and endpoint.disabled, written to the journal as events
 * of the pseudo-client STORE_OPS_CLIENT with one delivery to ops_url, so
 * they are durable, retried on the global schedule and survive restarts
 * like any delivery.
 */
#include "deliver_impl.h"

#include <errno.h>
#include <string.h>

#include "config.h"
#include "json.h"
#include "log.h"
#include "metrics.h"

/* Write the event type with data b (a JSON object) for ops_url. */
static void
ops_post(const char *type, struct buf *b)
{
	const struct config *c = config_current();
	char eq[160];
	struct event *ev;

	if (b->oom) {
		errno = ENOMEM;
		goto fail;
	}
	ev = store_ops_event_create(type, b->data, b->len, c->ops_url,
	    util_wall_ms());
	if (ev == NULL)
		goto fail;
	metrics.events++;
	return;
fail:
	log_line("error", "ops event not written", "type=%s error=%s", type,
	    log_quote(eq, sizeof(eq), strerror(errno),
	    strlen(strerror(errno))));
}

/* "key": and a separator, as the API writes members. */
static void
ops_key(struct buf *b, const char *key)
{
	buf_printf(b, "%s\"%s\":", b->len > 1 ? "," : "", key);
}

static void
ops_id(struct buf *b, const char *key, enum store_kind k, uint64_t id)
{
	char x[STORE_XID_MAX];

	store_fmt_id(k, id, x);
	ops_key(b, key);
	json_put_cstr(b, x);
}

static void
ops_time(struct buf *b, const char *key, int64_t ms)
{
	char t[UTIL_TIME_MAX];

	ops_key(b, key);
	if (ms > 0)
		json_put_cstr(b, util_fmt_time(ms, t));
	else
		buf_puts(b, "null");
}

void
ops_delivery_failed(const struct delivery *d, int status, const char *error)
{
	const struct endpoint *e = d->endpoint;
	struct buf b = {0};

	/* A delivery of a deleted client is the operator's doing, as one of
	 * a deleted or disabled endpoint: no event, however it is failed (by
	 * the reaper, or by an attempt that starts meanwhile and finds its
	 * client gone). */
	if (config_current()->ops_url[0] == '\0' || d->upstream ||
	    store_event_is_ops(d->event) ||
	    store_event_client(d->event) == NULL)
		return;
	buf_puts(&b, "{");
	ops_id(&b, "delivery", STORE_DLV, d->id);
	ops_id(&b, "event", STORE_EVT, d->event->id);
	if (e != NULL)
		ops_id(&b, "endpoint", STORE_EP, e->id);
	else {
		ops_key(&b, "endpoint");
		buf_puts(&b, "null");
	}
	ops_key(&b, "client");
	json_put_cstr(&b, d->event->client_id);
	ops_key(&b, "type");
	json_put_cstr(&b, d->event->type);
	ops_key(&b, "url");
	json_put_cstr(&b, d->url != NULL ? d->url : e != NULL ? e->url : NULL);
	ops_key(&b, "attempts");
	buf_printf(&b, "%u", (unsigned)d->attempts);
	ops_key(&b, "status");
	if (status > 0)
		buf_printf(&b, "%d", status);
	else
		buf_puts(&b, "null");
	ops_key(&b, "error");
	json_put_cstr(&b, error);
	buf_puts(&b, "}");
	ops_post("delivery.failed", &b);
	buf_free(&b);
}

void
ops_endpoint_disabled(const struct endpoint *e, const char *reason,
    int64_t failing_since)
{
	struct buf b = {0};

	if (config_current()->ops_url[0] == '\0')
		return;
	buf_puts(&b, "{");
	ops_id(&b, "endpoint", STORE_EP, e->id);
	ops_key(&b, "client");
	json_put_cstr(&b, e->client->id);
	ops_key(&b, "url");
	json_put_cstr(&b, e->url);
	ops_key(&b, "reason");
	json_put_cstr(&b, reason);
	ops_time(&b, "failing_since", failing_since);
	buf_puts(&b, "}");
	ops_post("endpoint.disabled", &b);
	buf_free(&b);
}
