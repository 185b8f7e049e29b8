/*
 * api_attempts: GET /v1/attempts (issue 16), the most recent delivery
 * attempts across deliveries from the ring of deliver_tail, read with a
 * sequence-number cursor: what `hookd tail` polls.
 */
#include <stdint.h>
#include <string.h>

#include "api_impl.h"
#include "deliver_tail.h"
#include "store.h"
#include "util.h"

/* One ring entry as the answer shows it. */
static void
api_put_attempt(struct buf *b, const struct deliver_tail_entry *e)
{
	buf_puts(b, "{");
	api_kv_u64(b, "seq", e->seq);
	api_kv_time(b, "at", e->at, 0);
	api_kv_id(b, "delivery", STORE_DLV, e->delivery);
	api_kv_id(b, "event", STORE_EVT, e->event);
	if (e->endpoint != 0)
		api_kv_id(b, "endpoint", STORE_EP, e->endpoint);
	else
		api_kv_raw(b, "endpoint", NULL);
	api_kv_str(b, "client", e->client);
	api_kv_str(b, "type", e->type);
	api_kv_u64(b, "attempt", e->attempt);
	if (e->status > 0)
		api_kv_u64(b, "status", (uint64_t)e->status);
	else
		api_kv_raw(b, "status", NULL);
	api_kv_str(b, "error", e->error[0] != '\0' ? e->error : NULL);
	api_kv_u64(b, "ms", e->ms > 0 ? (uint64_t)e->ms : 0);
	api_kv_str(b, "result", store_status_names[e->result]);
	buf_puts(b, "}");
}

/*
 * ?after=SEQ (default 0: from the oldest held), ?limit=N (1..1000, default
 * 100), ?client=ID. Answers {"data": [...], "next": SEQ, "missed": N,
 * "started_at": TIME}: next is the cursor for the following call (the last
 * entry looked at, so entries another client's token cannot see are not
 * looked at again), missed the attempts after the cursor that the ring no
 * longer holds. A client token sees its own client's attempts only.
 */
int
api_attempts_list(struct api_ctx *c)
{
	struct api_page p;
	uint64_t after = 0, s, next, newest, oldest, missed = 0;
	const struct deliver_tail_entry *e;
	size_t shown = 0;
	int st;

	if ((st = api_page(c, -1, &p)) != 0 ||
	    (st = api_filters(c, API_F_CLIENT)) != 0)
		return st;
	if (p.has_after && util_parse_u64(p.after, p.after_len, UINT64_MAX,
	    &after) != 0)
		return api_error(c, 422, "after must be a sequence number "
		    "(the next of the previous answer, or 0)");
	newest = deliver_tail_newest();
	oldest = deliver_tail_oldest();
	s = after + 1;
	if (s < oldest) {
		missed = oldest - s;
		s = oldest;
	}
	next = after > newest ? after : s - 1;
	buf_puts(c->out, "{\"data\":[");
	for (; s <= newest && shown < p.limit; s++) {
		next = s;
		if ((e = deliver_tail_get(s)) == NULL ||
		    !api_keep_client_id(c, e->client))
			continue;
		api_sep(c->out);
		api_put_attempt(c->out, e);
		shown++;
	}
	buf_puts(c->out, "]");
	api_kv_u64(c->out, "next", next);
	api_kv_u64(c->out, "missed", missed);
	api_kv_time(c->out, "started_at", deliver_tail_started(), 0);
	buf_puts(c->out, "}");
	return api_done(c, 200);
}
