/*
 * webhook: one attempt's request (method, target with the URL template and
 * the GET query, Standard Webhooks signatures, hookd's and the endpoint's
 * headers, body) and the meaning of its answer (contract §4, §5, §11, §12).
 * Pure code: no sockets, no globals; the caller passes everything in.
 */
#include "webhook.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "sign.h"
#include "store.h"
#include "version.h"

void
webhook_buf_reset(struct buf *b)
{
	if (b->oom || b->cap > WEBHOOK_SPARE_BUF)
		buf_free(b);
	else
		buf_reset(b);
}

/* Room for n tokens in s->toks. 0 or -1. */
static int
toks_reserve(struct webhook_scratch *s, size_t n)
{
	struct json_tok *t;

	if (n <= s->ntoks)
		return 0;
	t = realloc(s->toks, n * sizeof(*t));
	if (t == NULL)
		return -1;
	s->toks = t;
	s->ntoks = n;
	return 0;
}

static void
toks_trim(struct webhook_scratch *s)
{
	if (s->ntoks > WEBHOOK_SPARE_TOKS) {
		free(s->toks);
		s->toks = NULL;
		s->ntoks = 0;
	}
}

/* Parse JSON text into s->toks: the token count, or < 1 when it is not
 * JSON (or memory ran out). */
static int
json_scratch_parse(struct webhook_scratch *s, const char *text, size_t len)
{
	int n = json_parse(text, len, NULL, 0);

	if (n < 1 || toks_reserve(s, (size_t)n) != 0)
		return -1;
	return json_parse(text, len, s->toks, s->ntoks);
}

void
webhook_scratch_free(struct webhook_scratch *s)
{
	buf_free(&s->url);
	buf_free(&s->query);
	buf_free(&s->str);
	free(s->toks);
	s->toks = NULL;
	s->ntoks = 0;
}

/* Append the endpoint's extra headers (a JSON object's text). Members that
 * are not safe header lines are skipped: the API validates them, this is
 * the last line of defence against header injection. */
static void
put_extra_headers(struct buf *b, const char *json, struct webhook_scratch *s)
{
	char name[WEBHOOK_HEADER_NAME_MAX];
	int n, m, i, k, v, nlen;

	n = json_scratch_parse(s, json, strlen(json));
	if (n < 1 || s->toks[0].type != JSON_OBJECT)
		return;
	i = 1;
	for (m = 0; m < (int)s->toks[0].size; m++) {
		const char *val;
		size_t vlen;

		k = i;
		v = i + 1;
		i = (int)s->toks[v].next;
		nlen = json_str(json, &s->toks[k], name, sizeof(name));
		/* Checked to the decoded length: a \u0000 is no tchar. The
		 * same rules as the API's, so nothing it accepted is dropped
		 * here. */
		if (nlen < 1 || !http_name_ok(name, (size_t)nlen) ||
		    http_header_reserved(name, (size_t)nlen))
			continue;
		switch (s->toks[v].type) {
		case JSON_STRING:
			webhook_buf_reset(&s->str);
			if (json_str_buf(json, &s->toks[v], &s->str))
				continue;
			val = s->str.data != NULL ? s->str.data : "";
			vlen = s->str.len;
			break;
		case JSON_NUMBER:
		case JSON_TRUE:
		case JSON_FALSE:
			val = json + s->toks[v].start;
			vlen = s->toks[v].len;
			break;
		default:
			continue;
		}
		if (!http_value_ok(val, vlen))
			continue;
		buf_puts(b, name);
		buf_append(b, ": ", 2);
		buf_append(b, val, vlen);
		buf_append(b, "\r\n", 2);
	}
}

int
webhook_build(const struct webhook_input *in, struct webhook_scratch *s,
    struct buf *b, struct webhook_target *t, char *err, size_t errsz)
{
	const char *tmpl = in->url, *data = in->data, *url, *uerr, *payload;
	const char *prev = in->prev_secret;
	char sig[SIGN_SIG_MAX], sig2[SIGN_SIG_MAX];
	char missing[64];
	size_t dlen = in->data_len, ulen, plen, qlen, qstart;
	int get = in->get, templated;
	struct url u;
	int64_t ts;

	/* Only templates and GET need the payload's members: a plain POST
	 * sends the bytes as they are, without parsing them again. */
	templated = strchr(tmpl, '{') != NULL;
	if ((get || templated) && (json_scratch_parse(s, data, dlen) < 1 ||
	    s->toks[0].type != JSON_OBJECT)) {
		snprintf(err, errsz, "invalid payload");
		return -1;
	}
	url = tmpl;
	ulen = strlen(tmpl);
	if (templated) {
		int rc;

		webhook_buf_reset(&s->url);
		rc = url_expand(&s->url, tmpl, ulen, data, s->toks,
		    0, missing, sizeof(missing));
		if (rc == -1) {
			snprintf(err, errsz, "template: missing %s", missing);
			return -1;
		}
		if (rc == -3) {
			snprintf(err, errsz, "template: dot segment");
			return -1;
		}
		if (rc != 0) {
			snprintf(err, errsz, "out of memory");
			return -2;
		}
		url = s->url.data;
		ulen = s->url.len;
	}
	if (url_parse(url, ulen, &u, &uerr) != 0) {
		snprintf(err, errsz, "invalid url");
		return -1;
	}
	payload = data;
	plen = dlen;
	qlen = 0;
	if (get) {
		const char *q = memchr(u.path, '?', u.path_len);

		/* The receiver verifies the query string it gets (contract
		 * §4), so the signed payload is all of it: the URL's own
		 * query, then "&" and the members when there are any. */
		webhook_buf_reset(&s->query);
		if (q != NULL)
			buf_append(&s->query, q + 1,
			    u.path_len - (size_t)(q + 1 - u.path));
		qstart = s->query.len;
		if (q != NULL)
			buf_puts(&s->query, "&");
		if (url_query(&s->query, data, s->toks, 0) != 0 ||
		    s->query.oom) {
			snprintf(err, errsz, "out of memory");
			return -2;
		}
		qlen = s->query.len - qstart - (q != NULL);
		if (qlen == 0)
			s->query.len = qstart;	/* no members: no "&" */
		payload = s->query.data != NULL ? s->query.data : "";
		plen = s->query.len;
	}

	/* Standard Webhooks: the event id on every attempt and endpoint,
	 * this attempt's time, and during a rotation both signatures. */
	ts = in->at / 1000;
	if (sign_webhook(in->secret, in->event_id, ts, payload, plen,
	    sig) != 0) {
		snprintf(err, errsz, "invalid secret");
		return -1;
	}
	/* Within 24 h of a rotation, the previous secret signs too: the
	 * endpoint's, or for a one-off the client's. */
	sig2[0] = '\0';
	if (prev != NULL && prev[0] != '\0' && in->at < in->prev_until &&
	    sign_webhook(prev, in->event_id, ts, payload, plen, sig2) != 0)
		sig2[0] = '\0';

	webhook_buf_reset(b);
	buf_puts(b, get ? "GET " : "POST ");
	buf_append(b, u.path, u.path_len);
	if (get && qlen > 0) {
		buf_puts(b, memchr(u.path, '?', u.path_len) ? "&" : "?");
		buf_append(b, payload + plen - qlen, qlen);
	}
	buf_puts(b, " HTTP/1.1\r\nHost: ");
	/* Appends, not printf: this runs for every attempt. */
	if (u.is_literal && strchr(u.host, ':') != NULL) {
		buf_append(b, "[", 1);
		buf_puts(b, u.host);
		buf_append(b, "]", 1);
	} else {
		buf_puts(b, u.host);
	}
	if (u.port != url_default_port(&u)) {
		buf_append(b, ":", 1);
		buf_put_u64(b, u.port);
	}
	buf_puts(b, "\r\nUser-Agent: hookd/" HOOKD_VERSION "\r\n");
	if (!get) {
		buf_puts(b, "Content-Type: application/json\r\n"
		    "Content-Length: ");
		buf_put_u64(b, dlen);
		buf_append(b, "\r\n", 2);
	}
	buf_puts(b, "webhook-id: ");
	buf_puts(b, in->event_id);
	buf_puts(b, "\r\nwebhook-timestamp: ");
	buf_put_i64(b, ts);
	buf_puts(b, "\r\nwebhook-signature: ");
	buf_puts(b, sig);
	if (sig2[0] != '\0') {
		buf_append(b, " ", 1);
		buf_puts(b, sig2);
	}
	buf_append(b, "\r\n", 2);
	if (in->event_type != NULL &&
	    http_value_ok(in->event_type, strlen(in->event_type))) {
		buf_puts(b, "hookd-event-type: ");
		buf_puts(b, in->event_type);
		buf_append(b, "\r\n", 2);
	}
	buf_puts(b, "hookd-attempt: ");
	buf_put_u64(b, in->number);
	buf_append(b, "\r\n", 2);
	/* Contract §14: the answer of a gateway request's upstream. */
	if (in->upstream_status > 0) {
		buf_puts(b, "hookd-upstream-status: ");
		buf_put_i64(b, in->upstream_status);
		buf_append(b, "\r\n", 2);
	}
	/* Contract §11: which secret signed it; one-offs (the client's
	 * secret) carry none. */
	if (in->endpoint_id != NULL) {
		buf_puts(b, "hookd-endpoint: ");
		buf_puts(b, in->endpoint_id);
		buf_append(b, "\r\n", 2);
	}
	if (in->endpoint_id != NULL && in->headers != NULL)
		put_extra_headers(b, in->headers, s);
	buf_append(b, "\r\n", 2);
	if (!get)
		buf_append(b, data, dlen);
	toks_trim(s);
	if (b->oom) {
		snprintf(err, errsz, "out of memory");
		return -2;
	}
	snprintf(t->host, sizeof(t->host), "%s", u.host);
	t->port = u.port;
	t->literal = u.is_literal;
	t->tls = u.tls;
	return 0;
}

void
webhook_judge(const struct webhook_answer *a, struct webhook_scratch *s,
    struct webhook_verdict *v)
{
	int st = a->status;

	memset(v, 0, sizeof(*v));
	if (st >= 200 && st <= 299) {
		/* Only a JSON object counts as an answer. It is not one
		 * when any top-level member "ack" is false (duplicates
		 * too), looked for in all of the body (kept whole when
		 * longer than body[]) at any depth (contract §5, §12).
		 * Otherwise one that fits body[] and parses strictly is
		 * kept as ack, all of its members re-encoded by the
		 * store: the ack kept never says false to a delivery that
		 * counted as delivered. */
		const char *b = a->body;
		size_t bl = a->body_len;
		int f;

		v->result = WEBHOOK_OK;
		if (a->body_total > a->body_len) {
			b = a->whole;
			bl = a->whole_len == a->body_total ? a->whole_len : 0;
		}
		f = bl > 0 ? json_member_false(b, bl, "ack") : JSON_ERR_SYNTAX;
		if (f == 1) {
			v->result = WEBHOOK_RETRY;
			v->error = "ack false";
		} else if (f == 0 && b == a->body &&
		    json_scratch_parse(s, b, bl) >= 1) {
			v->ack = a->body + s->toks[0].start;
			v->ack_len = s->toks[0].len;
		}
		toks_trim(s);
	} else if (st == 400 || st == 413 || st == 422) {
		v->result = WEBHOOK_REJECT;
	} else if (st == 410) {
		v->result = WEBHOOK_REJECT;
		v->disable = 1;
	} else {
		/* 3xx (redirects are never followed), other 4xx, 5xx. */
		v->result = WEBHOOK_RETRY;
	}
}

int
webhook_next_status(enum webhook_result r, unsigned n, size_t nretry)
{
	if (r == WEBHOOK_OK)
		return STORE_DELIVERED;
	if (r == WEBHOOK_REJECT || n > nretry)
		return STORE_FAILED;
	return STORE_PENDING;
}

int64_t
webhook_retry_delay(int64_t base_ms, double unit, int64_t retry_after)
{
	int64_t delay = (int64_t)((double)base_ms * (0.8 + 0.4 * unit));

	/* Retry-After wins when longer, up to a day (contract §5). */
	if (retry_after > delay)
		delay = retry_after < WEBHOOK_RETRY_AFTER_MAX_MS ? retry_after :
		    (WEBHOOK_RETRY_AFTER_MAX_MS > delay ?
		    WEBHOOK_RETRY_AFTER_MAX_MS : delay);
	return delay;
}
