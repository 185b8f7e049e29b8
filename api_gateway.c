/*
 * api_gateway: requests under a route's prefix (contract §14): made for a
 * client with its token, written durably as a gateway request, answered
 * 202 {"reqRefId", "status": "accepted"}; the engine calls the upstream.
 */
#include <stdlib.h>
#include <string.h>

#include "api_impl.h"
#include "config.h"
#include "gateway.h"
#include "metrics.h"
#include "sign.h"
#include "store.h"
#include "url.h"

/* 1 when the query pair p (n bytes, "name" or "name=value") is named
 * callbackURL once percent-decoded, as api_param reads it: that one is
 * hookd's, and is not sent upstream, however it is spelt. */
static int
gw_is_callback_pair(const char *p, size_t n)
{
	const char *eq = memchr(p, '=', n);
	char name[API_QNAME_MAX + 1];
	int nl = api_query_name(p, eq != NULL ? (size_t)(eq - p) : n, name);

	return nl >= 0 && util_span_eq(name, (size_t)nl, "callbackURL");
}

/* Append the query without its callbackURL pairs to b (nothing when
 * none is left). Returns how many callbackURL pairs it held. */
static int
gw_query_rest(const char *q, size_t n, struct buf *b)
{
	const char *p = q, *end = q + n;
	int ncb = 0;

	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *stop = amp != NULL ? amp : end;

		if (stop > p && gw_is_callback_pair(p, (size_t)(stop - p)))
			ncb++;
		else if (stop > p) {
			if (b->len > 0)
				buf_puts(b, "&");
			buf_append(b, p, (size_t)(stop - p));
		}
		p = stop + 1;
	}
	return ncb;
}

/* The caller's header name: NULL when absent, else the one value; *twice
 * set when it came more than once (a request that says two things is
 * refused rather than forwarded with either). */
static const struct http_header *
gw_header(const struct api_ctx *c, const char *name, int *twice)
{
	const struct http_header *h = NULL;
	size_t i;

	for (i = 0; i < c->r->num_headers; i++) {
		const struct http_header *x = &c->r->headers[i];

		if (!util_span_ieq(x->name, x->name_len, name))
			continue;
		if (h != NULL)
			*twice = 1;
		h = x;
	}
	return h;
}

/* The SHA-256 a repeat with the same Idempotency-Key must match: the
 * request as it is stored (desc, written without the route's headers and
 * timeout, so that a reload does not make a repeat "different"). */
static void
gw_idem_hash(const char *desc, size_t len, uint8_t out[32])
{
	struct sha256_ctx sc;

	sha256_init(&sc);
	sha256_update(&sc, desc, len);
	sha256_final(&sc, out);
}

int
api_gateway(struct api_ctx *c, const struct config_route *rt,
    const char *path, size_t len)
{
	struct buf query = {0}, url = {0}, desc = {0};
	struct gateway_desc gd;
	const struct http_header *ct, *ac, *ce;
	char cb[URL_MAX + 1], key[STORE_IDEM_MAX + 1];
	const char *why, *uerr = "invalid url";
	size_t plen = strlen(rt->prefix), key_len = 0;
	uint8_t req[32];
	int64_t now = util_wall_ms();
	struct url u;
	struct event *ev;
	int n, st, twice = 0;

	/* HEAD: its answer has no body, so the caller could not learn the
	 * reqRefId, and the upstream's answer to it none either (the Allow
	 * header is the server's, api_allow). */
	if (util_span_eq(c->r->method, c->r->method_len, "HEAD"))
		return api_error(c, 405, "HEAD is not forwarded on a route "
		    "(its answer could not carry the reqRefId): use GET");
	/* Contract §14: the request is made for a client, whose callbacks
	 * and endpoints get its result. */
	if (c->client == NULL)
		return api_error(c, 403, "forbidden: a request under a route "
		    "is made for a client: send it with that client's token, "
		    "not the admin token");
	if ((why = gateway_path_problem(path + plen, len - plen)) != NULL)
		return api_error(c, 400, why);
	ct = gw_header(c, "Content-Type", &twice);
	ac = gw_header(c, "Accept", &twice);
	ce = gw_header(c, "Content-Encoding", &twice);
	if (twice)
		return api_error(c, 400, "Content-Type, Accept and "
		    "Content-Encoding may each be given once on a route: send "
		    "one header with the whole value");
	if ((st = api_idem_header(c, key, &key_len)) != 0)
		return st;
	if (c->query != NULL &&
	    gw_query_rest(c->query, c->query_len, &query) > 1) {
		st = api_error(c, 400, "query parameter \"callbackURL\" given "
		    "twice");
		goto out;
	}
	n = api_param(c, "callbackURL", cb, sizeof(cb), &st);
	if (n == -2)
		goto out;
	if (n == 0) {
		st = api_error(c, 422, "callbackURL is empty: give the URL the "
		    "result goes to, percent-encoded (callbackURL=https%3A%2F%2F"
		    "...), or leave it out to use the client's endpoints");
		goto out;
	}
	if (n > 0) {
		char wbuf[API_ERR_MAX];

		if ((why = api_url_problem(cb, (size_t)n, wbuf,
		    sizeof(wbuf))) != NULL) {
			st = api_errorf(c, 422, "callbackURL: %s", why);
			goto out;
		}
	}
	/* UPSTREAM + the rest of the path + the query left. */
	buf_puts(&url, rt->upstream);
	buf_append(&url, path + plen, len - plen);
	if (query.len > 0) {
		buf_puts(&url, "?");
		buf_append(&url, query.data, query.len);
	}
	buf_append(&url, "", 1);
	url.len--;
	if (url.oom || query.oom) {
		st = api_nomem(c);
		goto out;
	}
	if (url.len > URL_MAX) {
		st = api_errorf(c, 414, "the upstream URL (the route's upstream, "
		    "the rest of the path and the query) would be longer than "
		    "%d bytes", URL_MAX);
		goto out;
	}
	if (url_parse(url.data, url.len, &u, &uerr) != 0) {
		st = api_errorf(c, 400, "the path or query cannot be sent to "
		    "the upstream (%s)", uerr);
		goto out;
	}
	memset(&gd, 0, sizeof(gd));
	gd.route = rt->prefix;
	gd.method = c->r->method;
	gd.method_len = c->r->method_len;
	gd.path = path + plen;
	gd.path_len = len - plen;
	gd.query = query.len > 0 ? query.data : NULL;
	gd.query_len = query.len;
	if (ct != NULL) {
		gd.content_type = ct->value;
		gd.content_type_len = ct->value_len;
	}
	if (ac != NULL) {
		gd.accept = ac->value;
		gd.accept_len = ac->value_len;
	}
	if (ce != NULL) {
		gd.content_encoding = ce->value;
		gd.content_encoding_len = ce->value_len;
	}
	gd.callback = n >= 0 ? cb : NULL;
	gd.body = c->r->body != NULL ? c->r->body : "";
	gd.body_len = c->r->body_len;
	/* Contract §11 on a route too: a repeat of a request with its
	 * Idempotency-Key gets the first 202 and creates nothing. The
	 * request is hashed as the caller sent it (no route headers). */
	if (key_len > 0) {
		if (gateway_describe(&gd, &desc) != 0) {
			st = api_nomem(c);
			goto out;
		}
		gw_idem_hash(desc.data, desc.len, req);
		if ((st = api_idem_replay(c, c->client, key, key_len, req,
		    now)) != 0)
			goto out;
	}
	/* After the replay of a kept answer, which needs no lookup. */
	if (n > 0 && (st = api_url_resolves(c, cb, c->client->id,
	    "callbackURL: ")) != 0)
		goto out;
	gd.headers = rt->headers;
	gd.nheaders = rt->nheaders;
	gd.timeout_ms = rt->timeout_ms;
	if (gateway_describe(&gd, &desc) != 0) {
		st = api_nomem(c);
		goto out;
	}
	ev = store_request_create(c->client, rt->type, desc.data, desc.len,
	    url.data, now);
	if (ev == NULL) {
		st = api_store_error(c);
		goto out;
	}
	metrics.events++;
	metrics.gw_accepted++;
	buf_puts(c->out, "{");
	api_kv_id(c->out, "reqRefId", STORE_EVT, ev->id);
	api_kv_str(c->out, "status", "accepted");
	buf_puts(c->out, "}");
	/* The request is durable whatever happens here: a failure to
	 * remember the answer only risks a second request on a repeat, as
	 * for POST /v1/events. */
	if (key_len > 0 && !c->out->oom)
		(void)store_idem_put(c->client, key, key_len, req, 202,
		    c->out->data + c->mark, now);
	st = api_done(c, 202);
out:
	buf_free(&query);
	buf_free(&url);
	buf_free(&desc);
	return st;
}
