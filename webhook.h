/*
 * webhook: the receiver's side of one attempt, as pure code with no sockets
 * and no state of its own: the request it gets (contract §4, §11) and what
 * its answer means (the outcome rules of §5 and §12).
 */
#ifndef HOOKD_WEBHOOK_H
#define HOOKD_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

#include "json.h"
#include "url.h"
#include "util.h"

/* Retry-After cannot push the next attempt further than this (§5). */
#define WEBHOOK_RETRY_AFTER_MAX_MS (24LL * 3600 * 1000)
/* Longest extra header name taken from an endpoint's headers. */
#define WEBHOOK_HEADER_NAME_MAX	256
/* Scratch buffers larger than this are released after use, and token
 * arrays longer than WEBHOOK_SPARE_TOKS: one huge payload should not pin
 * its memory forever. */
#define WEBHOOK_SPARE_BUF	65536
#define WEBHOOK_SPARE_TOKS	65536

/*
 * Scratch space for building requests and judging answers, owned by the
 * caller (zero-initialised before first use) and reused call after call so
 * that an attempt costs no allocation. Nothing in it outlives one call.
 */
struct webhook_scratch {
	struct buf url, query, str;
	struct json_tok *toks;
	size_t ntoks;
};

/* What one attempt's request is made of; every pointer is the caller's and
 * only read during webhook_build. */
struct webhook_input {
	const char *url;		/* the URL template, NUL-terminated */
	int get;			/* GET with the payload as query */
	const char *secret;		/* "whsec_..." that signs */
	const char *prev_secret;	/* the one before a rotation, or NULL */
	int64_t prev_until;		/* wall ms until which it signs too */
	const char *event_id;		/* "evt_..." (webhook-id) */
	const char *event_type;		/* or NULL */
	const char *endpoint_id;	/* "ep_..."; NULL for one-offs (§11) */
	const char *headers;		/* the endpoint's JSON object, or NULL */
	const char *data;		/* the event's payload */
	size_t data_len;
	int64_t at;			/* wall ms of this attempt */
	unsigned number;		/* 1 for the first attempt */
	int upstream_status;		/* a gateway request's upstream
					   status (contract §14), 0: none */
};

/* Where the request goes: from the expanded URL. */
struct webhook_target {
	char host[URL_HOST_MAX];	/* without brackets */
	uint16_t port;
	int literal;			/* host is an IP literal */
	int tls;			/* https:// (contract §13) */
};

/*
 * Build the whole request (head and body) of one attempt into out (reset
 * first) and fill t. Returns 0; -1 when the delivery cannot be made at all
 * (err set, e.g. "template: missing refId", "invalid payload", "invalid
 * url", "invalid secret": it fails without an attempt, contract §4); -2 for
 * a passing failure (err set to "out of memory": an attempt that is
 * retried). Reserved headers among in->headers and unsafe ones are left out
 * (contract §4: endpoint headers cannot replace hookd's).
 */
int webhook_build(const struct webhook_input *in, struct webhook_scratch *s,
    struct buf *out, struct webhook_target *t, char *err, size_t errsz);

/* Release what s holds (its struct may then be reused). */
void webhook_scratch_free(struct webhook_scratch *s);

/* Reset a scratch buffer, releasing it when it grew past
 * WEBHOOK_SPARE_BUF or failed, so a past failure does not stick. */
void webhook_buf_reset(struct buf *b);

/* What an attempt came to, as far as the rules of §5 care. */
enum webhook_result {
	WEBHOOK_OK,			/* 2xx acknowledged */
	WEBHOOK_REJECT,			/* failed at once */
	WEBHOOK_RETRY,			/* an HTTP answer worth retrying */
	WEBHOOK_TIMEOUT,
	WEBHOOK_ERROR			/* other transport and dns errors */
};

/* A whole HTTP answer as read. */
struct webhook_answer {
	int status;
	const char *body;		/* its first bytes, body_len of them */
	size_t body_len;
	size_t body_total;		/* decoded body bytes in all */
	const char *whole;		/* all of a longer 2xx JSON object body */
	size_t whole_len;		/* (0 when not kept) */
};

/* The meaning of an answer (contract §5, §12). */
struct webhook_verdict {
	enum webhook_result result;
	const char *error;		/* "ack false", or NULL */
	int disable;			/* 410: disable the endpoint */
	const char *ack;		/* in a->body: the JSON object kept */
	size_t ack_len;			/* as ack, 0 when none */
};

/*
 * Judge an answer by contract §5 and §12: 2xx is delivered unless its JSON
 * object body has a top-level "ack": false anywhere in all of it (then
 * retried); a JSON object body that fits a->body is kept as ack; 400, 413
 * and 422 fail at once, 410 too and disables the endpoint; anything else
 * (3xx, other 4xx, 5xx) is retried. v's pointers point into a->body.
 */
void webhook_judge(const struct webhook_answer *a, struct webhook_scratch *s,
    struct webhook_verdict *v);

/*
 * The delivery's status after attempt number n (1-based) came to r, with
 * nretry retries configured (§5): STORE_DELIVERED, STORE_FAILED (rejected,
 * or the last attempt), or STORE_PENDING (another attempt follows).
 */
int webhook_next_status(enum webhook_result r, unsigned n, size_t nretry);

/*
 * The delay in ms before the next attempt (§5): base_ms of the schedule
 * with ±20 % jitter (unit is uniform in [0, 1)), or retry_after_ms (-1:
 * none) when that is longer, at most WEBHOOK_RETRY_AFTER_MAX_MS.
 */
int64_t webhook_retry_delay(int64_t base_ms, double unit,
    int64_t retry_after_ms);

#endif
