/*
 * gateway: a gateway request (contract §14) as pure code: the description
 * the API stores, the request its upstream gets, what the answer means and
 * the event data it becomes.
 */
#include "gateway.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "http.h"
#include "json.h"
#include "sign.h"
#include "url.h"
#include "version.h"

/* Put "key":value-or-null, with a comma unless first. Not buf_printf:
 * this runs eight times on each accepted request (callgrind, issue 13). */
static void
gw_put(struct buf *b, const char *key, const char *s, size_t n, int first)
{
	buf_puts(b, first ? "\"" : ",\"");
	buf_puts(b, key);
	buf_puts(b, "\":");
	if (s == NULL)
		buf_puts(b, "null");
	else
		json_put_str(b, s, n);
}

int
gateway_describe(const struct gateway_desc *d, struct buf *out)
{
	char *b64;
	size_t i;

	buf_reset(out);
	buf_puts(out, "{");
	gw_put(out, "route", d->route, strlen(d->route), 1);
	gw_put(out, "method", d->method, d->method_len, 0);
	gw_put(out, "path", d->path, d->path_len, 0);
	gw_put(out, "query", d->query, d->query_len, 0);
	gw_put(out, "content_type", d->content_type, d->content_type_len, 0);
	gw_put(out, "accept", d->accept, d->accept_len, 0);
	gw_put(out, "content_encoding", d->content_encoding,
	    d->content_encoding_len, 0);
	gw_put(out, "callback", d->callback, d->callback != NULL ?
	    strlen(d->callback) : 0, 0);
	buf_puts(out, ",\"headers\":[");
	for (i = 0; i < d->nheaders; i++) {
		if (i > 0)
			buf_puts(out, ",");
		json_put_cstr(out, d->headers[i]);
	}
	buf_printf(out, "],\"timeout_ms\":%lld", (long long)d->timeout_ms);
	b64 = malloc(BASE64_LEN(d->body_len));
	if (b64 == NULL)
		return -1;
	base64_encode(d->body, d->body_len, b64);
	gw_put(out, "body_b64", b64, strlen(b64), 0);
	free(b64);
	buf_puts(out, "}");
	return out->oom ? -1 : 0;
}

/* The byte at p[i] (of n) as a request path carries it: a "%XY" escape
 * decoded (*step 3), else itself (*step 1); -1 for a '%' without two hex
 * digits. */
static int
gw_path_byte(const char *p, size_t n, size_t i, size_t *step)
{
	int hi, lo;

	*step = 1;
	if (p[i] != '%')
		return (unsigned char)p[i];
	if (i + 2 >= n)
		return -1;
	if ((hi = util_hex_digit(p[i + 1], 0)) < 0 ||
	    (lo = util_hex_digit(p[i + 2], 0)) < 0)
		return -1;
	*step = 3;
	return hi * 16 + lo;
}

const char *
gateway_path_problem(const char *p, size_t n)
{
	size_t i = 0, step;

	while (i <= n) {
		/* One segment: from i to the next '/' or the end. */
		size_t dots = 0, other = 0;
		int params = 0;

		while (i < n && p[i] != '/') {
			int b = gw_path_byte(p, n, i, &step);

			if (b == '/' || b == '\\')
				return "the path after the route's prefix may "
				    "not hold an encoded / or \\ (%2F, %5C) or "
				    "a \\: the upstream could read other "
				    "segments than hookd checked";
			/* Servlet containers (Tomcat, Jetty, Spring) drop a
			 * segment's ";parameters" (RFC 3986 §3.3) before
			 * they resolve it: "..;x" is ".." to them. */
			if (b == ';')
				params = 1;
			else if (params)
				;
			else if (b == '.')
				dots++;
			else
				other++;
			i += step;
		}
		if (other == 0 && (dots == 1 || dots == 2))
			return "the path after the route's prefix may not "
			    "hold a \".\" or \"..\" segment (plain, "
			    "percent-encoded as %2E, or before a \";\" as in "
			    "\"..;x\"): it would reach the upstream outside "
			    "the route's base path";
		i++;
	}
	return NULL;
}

/* The string member key of the description's object (tokens t) decoded
 * into b: 1, 0 when it is null or absent, -1 when of another type or out of
 * memory. */
static int
gw_member(const char *s, const struct json_tok *t, const char *key,
    struct buf *b)
{
	int v = json_get(s, t, 0, key);

	buf_reset(b);
	if (v < 0 || t[v].type == JSON_NULL)
		return 0;
	if (t[v].type != JSON_STRING || json_str_buf(s, &t[v], b) != 0)
		return -1;
	return 1;
}

/* The string member key of desc into out, as gateway_callback. */
static int
gw_string(const char *desc, size_t desc_len, const char *key, char *out,
    size_t outsz)
{
	struct json_tok t[GATEWAY_DESC_TOKS];
	struct buf b = {0};
	int n, rc;

	n = json_parse(desc, desc_len, t, GATEWAY_DESC_TOKS);
	if (n <= 0 || t[0].type != JSON_OBJECT)
		return -1;
	rc = gw_member(desc, t, key, &b);
	if (rc == 1 && (b.len >= outsz || memchr(b.data, '\0', b.len)))
		rc = -1;
	if (rc == 1) {
		memcpy(out, b.data, b.len);
		out[b.len] = '\0';
	}
	buf_free(&b);
	return rc;
}

int
gateway_callback(const char *desc, size_t desc_len, char *out, size_t outsz)
{
	return gw_string(desc, desc_len, "callback", out, outsz);
}

int
gateway_route(const char *desc, size_t desc_len, char *out, size_t outsz)
{
	return gw_string(desc, desc_len, "route", out, outsz);
}

/* Append the recorded header= values (the array at token v of desc) to
 * out, each as "Name: Value" CRLF. Each is checked again as config_route
 * checked it, so that a damaged record cannot split the request. 0, or -1
 * when one is not a string or not a header line. */
static int
gw_put_headers(const char *desc, const struct json_tok *t, int v,
    struct buf *out)
{
	struct buf h = {0};
	uint32_t k;
	int i = v + 1, rc = 0;

	for (k = 0; k < t[v].size && rc == 0; k++, i = (int)t[i].next) {
		const char *colon;

		buf_reset(&h);
		if (t[i].type != JSON_STRING || json_str_buf(desc, &t[i],
		    &h) != 0 || (colon = memchr(h.data, ':', h.len)) == NULL ||
		    !http_name_ok(h.data, (size_t)(colon - h.data)) ||
		    !http_value_ok(colon + 1, h.len - (size_t)(colon + 1 -
		    h.data))) {
			rc = -1;
			break;
		}
		buf_append(out, h.data, h.len);
		buf_puts(out, "\r\n");
	}
	buf_free(&h);
	return rc;
}

/* The route in force with prefix exactly, or NULL. */
static const struct config_route *
gw_route(const char *prefix, size_t len)
{
	const struct config *c = config_current();
	size_t i;

	for (i = 0; c != NULL && i < c->nroutes; i++)
		if (util_span_eq(prefix, len, c->routes[i].prefix))
			return &c->routes[i];
	return NULL;
}

int
gateway_build(const struct delivery *d, const char *desc, size_t desc_len,
    struct buf *out, struct webhook_target *t, int64_t *timeout_ms,
    char *err, size_t errsz)
{
	struct json_tok tk[GATEWAY_DESC_TOKS];
	struct buf m = {0}, ct = {0}, ac = {0}, ce = {0}, rt = {0}, body = {0};
	const struct config_route *route;
	const char *uerr = "invalid url";
	char id[STORE_XID_MAX];
	struct url u;
	uint8_t *raw = NULL;
	int n, rc = -1, blen = 0, hv, tv;
	uint64_t tmo = 0;
	size_t i;

	*timeout_ms = 0;
	n = json_parse(desc, desc_len, tk, GATEWAY_DESC_TOKS);
	if (n <= 0 || tk[0].type != JSON_OBJECT ||
	    gw_member(desc, tk, "method", &m) != 1 ||
	    gw_member(desc, tk, "route", &rt) != 1 ||
	    gw_member(desc, tk, "content_type", &ct) < 0 ||
	    gw_member(desc, tk, "accept", &ac) < 0 ||
	    gw_member(desc, tk, "content_encoding", &ce) < 0 ||
	    gw_member(desc, tk, "body_b64", &body) != 1 ||
	    ((hv = json_get(desc, tk, 0, "headers")) >= 0 &&
	    tk[hv].type != JSON_ARRAY) ||
	    ((tv = json_get(desc, tk, 0, "timeout_ms")) >= 0 &&
	    (tk[tv].type != JSON_NUMBER || util_parse_u64(desc +
	    tk[tv].start, tk[tv].len, CONFIG_ROUTE_TIMEOUT_MAX, &tmo) != 0))) {
		snprintf(err, errsz, "invalid request record");
		goto out;
	}
	if (body.len > 0) {
		raw = malloc(body.len);
		if (raw == NULL)
			goto nomem;
		blen = base64_decode(body.data, body.len, raw, body.len);
		if (blen < 0) {
			snprintf(err, errsz, "invalid request record");
			goto out;
		}
	}
	if (d->url == NULL || url_parse(d->url, strlen(d->url), &u,
	    &uerr) != 0) {
		snprintf(err, errsz, "%s", uerr);
		goto out;
	}
	/* A description from before the route's headers were recorded:
	 * those of the route in force, only while it still goes to the
	 * upstream this request goes to. */
	*timeout_ms = (int64_t)tmo;
	route = NULL;
	if (hv < 0 && (route = gw_route(rt.data, rt.len)) != NULL &&
	    strncmp(d->url, route->upstream, strlen(route->upstream)) != 0)
		route = NULL;
	if (route != NULL && tv < 0)
		*timeout_ms = route->timeout_ms;

	webhook_buf_reset(out);
	buf_append(out, m.data, m.len);
	buf_puts(out, " ");
	buf_append(out, u.path, u.path_len);
	buf_puts(out, " HTTP/1.1\r\nHost: ");
	if (u.is_literal && strchr(u.host, ':') != NULL)
		buf_printf(out, "[%s]", u.host);
	else
		buf_puts(out, u.host);
	if (u.port != url_default_port(&u))
		buf_printf(out, ":%u", (unsigned)u.port);
	buf_puts(out, "\r\nUser-Agent: hookd/" HOOKD_VERSION "\r\n");
	/* The caller's own headers, as they passed the inbound parser's
	 * checks (no controls can be in them). */
	if (ct.len > 0 && http_value_ok(ct.data, ct.len)) {
		buf_puts(out, "Content-Type: ");
		buf_append(out, ct.data, ct.len);
		buf_puts(out, "\r\n");
	}
	if (ac.len > 0 && http_value_ok(ac.data, ac.len)) {
		buf_puts(out, "Accept: ");
		buf_append(out, ac.data, ac.len);
		buf_puts(out, "\r\n");
	}
	if (ce.len > 0 && http_value_ok(ce.data, ce.len)) {
		buf_puts(out, "Content-Encoding: ");
		buf_append(out, ce.data, ce.len);
		buf_puts(out, "\r\n");
	}
	/* A body, or a method that carries one: its length says where it
	 * ends (RFC 9112 §6.3). */
	if (blen > 0 || !util_span_eq(m.data, m.len, "GET"))
		buf_printf(out, "Content-Length: %d\r\n", blen);
	store_fmt_id(STORE_EVT, d->event->id, id);
	buf_printf(out, "hookd-client: %s\r\nIdempotency-Key: %s\r\n",
	    d->event->client_id, id);
	for (i = 0; route != NULL && i < route->nheaders; i++) {
		buf_puts(out, route->headers[i]);
		buf_puts(out, "\r\n");
	}
	if (hv >= 0 && gw_put_headers(desc, tk, hv, out) != 0) {
		snprintf(err, errsz, "invalid request record");
		goto out;
	}
	buf_puts(out, "\r\n");
	if (blen > 0)
		buf_append(out, (const char *)raw, (size_t)blen);
	if (out->oom)
		goto nomem;
	snprintf(t->host, sizeof(t->host), "%s", u.host);
	t->port = u.port;
	t->literal = u.is_literal;
	t->tls = u.tls;
	rc = 0;
	goto out;
nomem:
	snprintf(err, errsz, "out of memory");
	rc = -2;
out:
	free(raw);
	buf_free(&m);
	buf_free(&ct);
	buf_free(&ac);
	buf_free(&ce);
	buf_free(&rt);
	buf_free(&body);
	return rc;
}

enum webhook_result
gateway_judge(int status)
{
	if (status == 429 || status >= 500)
		return WEBHOOK_RETRY;
	return WEBHOOK_OK;
}

/* 1 when body is a JSON object (whitespace around it allowed). */
static int
gw_is_object(const char *body, size_t len)
{
	size_t i = 0;

	while (i < len && (body[i] == ' ' || body[i] == '\t' ||
	    body[i] == '\r' || body[i] == '\n'))
		i++;
	if (i == len || body[i] != '{')
		return 0;
	return json_parse(body, len, NULL, 0) > 0;
}

/* 1 when body goes through json_put_str and back unchanged: it is UTF-8
 * text (json_put_str writes U+FFFD for bytes that are not), so the
 * envelope can carry it as a string. -1 out of memory. */
static int
gw_is_text(const char *body, size_t len)
{
	struct buf q = {0}, back = {0};
	struct json_tok t;
	int rc = -1;

	if (json_put_str(&q, body, len) != 0 || q.oom)
		goto out;
	rc = json_parse(q.data, q.len, &t, 1) == 1 &&
	    json_str_buf(q.data, &t, &back) == 0 && back.len == len &&
	    (len == 0 || memcmp(back.data, body, len) == 0);
out:
	buf_free(&q);
	buf_free(&back);
	return rc;
}

int
gateway_event_data(int status, const char *ctype, const char *body,
    size_t body_len, const char *error, struct buf *out)
{
	int text;

	buf_reset(out);
	if (error != NULL) {
		buf_puts(out, "{\"error\":");
		json_put_cstr(out, error);
		buf_puts(out, "}");
		return out->oom ? -1 : 0;
	}
	/* Byte for byte, as the upstream sent it (contract §4). */
	if (gw_is_object(body, body_len)) {
		buf_append(out, body, body_len);
		return out->oom ? -1 : 0;
	}
	if ((text = gw_is_text(body, body_len)) < 0)
		return -1;
	buf_printf(out, "{\"status\":%d,\"content_type\":", status);
	json_put_cstr(out, ctype != NULL && ctype[0] != '\0' ? ctype : NULL);
	if (text) {
		buf_puts(out, ",\"body\":");
		json_put_str(out, body, body_len);
	} else {
		/* Not text: in base64, so that no byte is lost. */
		char *b64 = malloc(BASE64_LEN(body_len));

		if (b64 == NULL)
			return -1;
		base64_encode(body, body_len, b64);
		buf_puts(out, ",\"body_base64\":");
		json_put_cstr(out, b64);
		free(b64);
	}
	buf_puts(out, "}");
	return out->oom ? -1 : 0;
}
