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
#include "store.h"
#include "url.h"

/* 1 when the query pair p (n bytes, "name" or "name=value") is named
 * callbackURL: that one is hookd's, and is not sent upstream. */
static int
gw_is_callback_pair(const char *p, size_t n)
{
	const char *eq = memchr(p, '=', n);

	return util_span_eq(p, eq != NULL ? (size_t)(eq - p) : n,
	    "callbackURL");
}

/* Append the query without its callbackURL pairs to b (nothing when
 * none is left). */
static void
gw_query_rest(const char *q, size_t n, struct buf *b)
{
	const char *p = q, *end = q + n;

	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *stop = amp != NULL ? amp : end;

		if (stop > p && !gw_is_callback_pair(p, (size_t)(stop - p))) {
			if (b->len > 0)
				buf_puts(b, "&");
			buf_append(b, p, (size_t)(stop - p));
		}
		p = stop + 1;
	}
}

int
api_gateway(struct api_ctx *c, const struct config_route *rt,
    const char *path, size_t len)
{
	struct buf query = {0}, url = {0}, desc = {0};
	struct gateway_desc gd;
	const struct http_header *ct, *ac;
	char cb[URL_MAX + 1];
	const char *why, *uerr = "invalid url";
	size_t plen = strlen(rt->prefix);
	struct url u;
	struct event *ev;
	int n, st;

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
	n = api_param(c, "callbackURL", cb, sizeof(cb), &st);
	if (n == -2)
		return st;
	if (n >= 0) {
		char wbuf[API_ERR_MAX];

		if ((why = api_url_problem(cb, (size_t)n, wbuf,
		    sizeof(wbuf))) != NULL)
			return api_errorf(c, 422, "callbackURL: %s", why);
		if ((st = api_url_resolves(c, cb, c->client->id,
		    "callbackURL: ")) != 0)
			return st;
	}
	if (c->query != NULL)
		gw_query_rest(c->query, c->query_len, &query);
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
	ct = api_header(c, "Content-Type");
	ac = api_header(c, "Accept");
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
	gd.callback = n >= 0 ? cb : NULL;
	gd.headers = rt->headers;
	gd.nheaders = rt->nheaders;
	gd.timeout_ms = rt->timeout_ms;
	gd.body = c->r->body != NULL ? c->r->body : "";
	gd.body_len = c->r->body_len;
	if (gateway_describe(&gd, &desc) != 0) {
		st = api_nomem(c);
		goto out;
	}
	ev = store_request_create(c->client, rt->type, desc.data, desc.len,
	    url.data, util_wall_ms());
	if (ev == NULL) {
		st = api_store_error(c);
		goto out;
	}
	metrics.events++;
	buf_puts(c->out, "{");
	api_kv_id(c->out, "reqRefId", STORE_EVT, ev->id);
	api_kv_str(c->out, "status", "accepted");
	buf_puts(c->out, "}");
	st = api_done(c, 202);
out:
	buf_free(&query);
	buf_free(&url);
	buf_free(&desc);
	return st;
}
