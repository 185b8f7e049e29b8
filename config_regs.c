/*
 * config_regs: the lines of the config file that declare things rather than
 * set them: `client` and `endpoint` (the static registrations) and `route`
 * (the gateway's prefixes and upstreams); the route a request path takes.
 */
#include "config.h"
#include "config_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "http.h"
#include "sign.h"
#include "url.h"
#include "util.h"

/* The paths hookd serves itself: a route prefix that is one of them, lies
 * under one, or has one under it would take requests meant for the API,
 * the probes or the console (contract §14), so it is refused. */
static const char *const config_own_paths[] = {
	"/v1", "/healthz", "/metrics", "/console", "/openapi.json",
};
/* The event type of a route without type= (contract §14). */
#define CONFIG_ROUTE_TYPE "request.completed"
/* Room a route's type leaves for the ".failed" of a request that never got
 * an answer (contract §14), within the one bound on types. */
#define CONFIG_ROUTE_TYPE_MAX (UTIL_TYPE_MAX - 7)

/* An events= filter list "a,b.*,*": no empty entries, '*' only last in an
 * entry, bounded like the API's filters. */
static int
config_valid_events(const char *s)
{
	size_t n = 0;

	for (;;) {
		const char *end = strchr(s, ',');
		size_t len = end != NULL ? (size_t)(end - s) : strlen(s);
		const char *star = memchr(s, '*', len);

		if (len == 0 || len > UTIL_TYPE_MAX ||
		    (star != NULL && star != s + len - 1))
			return 0;
		if (++n > UTIL_MAX_FILTERS)
			return 0;
		if (end == NULL)
			return 1;
		s = end + 1;
	}
}

/* If word is "name=value", point *value past the '='. */
static int
config_option(const char *word, const char *name, const char **value)
{
	size_t n = strlen(name);

	if (strncmp(word, name, n) != 0 || word[n] != '=')
		return 0;
	*value = word + n + 1;
	return 1;
}

void
config_reg_free(struct config_reg *r)
{
	free(r->client);
	free(r->name);
	free(r->url);
	free(r->events);
	free(r->secret);
}

/* Keep a copy of a value, or NULL when value is NULL. -1 when out of memory. */
static int
config_dup(char **dst, const char *value)
{
	if (value == NULL)
		return 0;
	*dst = util_strndup(value, strlen(value));
	return *dst != NULL ? 0 : -1;
}

/*
 * An endpoint line's delivery policy option (contract §15) in word:
 * rate_limit=N, ordering=fifo|none, timeout=DURATION or
 * retry_schedule="5s 1m 1h" (one word thanks to its quotes; its delays are
 * space-separated, as in the global key). Checked by the checkers the API
 * uses, noted in r. 1 when word was one of them, 0 when not, -1 with
 * *why set when its value is refused (a repeat is too).
 */
static int
config_endpoint_policy(struct config_reg *r, const char *word,
    const char **why, char *whybuf, size_t whysz)
{
	const char *val, *words[CONFIG_MAX_RETRIES + 1];
	char copy[CONFIG_LINE_MAX], *p, *save = NULL;
	unsigned bit;
	size_t n = 0;
	int fifo = 0, rc;

	if (config_option(word, "rate_limit", &val))
		bit = CONFIG_POL_RATE;
	else if (config_option(word, "ordering", &val))
		bit = CONFIG_POL_ORDERING;
	else if (config_option(word, "timeout", &val))
		bit = CONFIG_POL_TIMEOUT;
	else if (config_option(word, "retry_schedule", &val))
		bit = CONFIG_POL_RETRY;
	else
		return 0;
	if (r->has_policy & bit) {
		*why = "option given twice";
		return -1;
	}
	r->has_policy |= bit;
	switch (bit) {
	case CONFIG_POL_RATE:
		return config_check_rate(val, strlen(val), &r->rate_milli,
		    why) == 0 ? 1 : -1;
	case CONFIG_POL_ORDERING:
		rc = config_check_ordering(val, strlen(val), &fifo, why);
		r->fifo = fifo;
		return rc == 0 ? 1 : -1;
	case CONFIG_POL_TIMEOUT:
		return config_check_timeout(val, &r->timeout_ms, why, whybuf,
		    whysz) == 0 ? 1 : -1;
	default:
		break;
	}
	if (strchr(val, ',') != NULL) {
		*why = "retry_schedule= takes space-separated delays in "
		    "quotes, not commas (e.g. retry_schedule=\"5s 1m 1h\")";
		return -1;
	}
	/* The line is at most CONFIG_LINE_MAX bytes, so the value fits. */
	snprintf(copy, sizeof(copy), "%s", val);
	for (p = strtok_r(copy, " \t", &save); p != NULL;
	    p = strtok_r(NULL, " \t", &save)) {
		if (n == CONFIG_MAX_RETRIES) {
			n++;
			break;
		}
		words[n++] = p;
	}
	if (config_check_retry(words, n, r->retry_ms, why) != 0)
		return -1;
	r->nretry = n;
	return 1;
}

/*
 * `client ID [name=...]` and `endpoint CLIENT URL [method=GET|POST]
 * [events=a,b] [secret=whsec_...]` and the delivery policy options of
 * config_endpoint_policy. why may point into whybuf. Values are
 * never echoed back: a secret= in an error message would end up in logs.
 */
int
config_registration(struct config *c, char **v, int n, int line,
    const char **why, char *whybuf, size_t whysz)
{
	struct config_reg r;
	const char *name = NULL, *method = NULL, *events = NULL, *secret = NULL;
	const char *val, **slot;
	int is_endpoint = strcmp(v[0], "endpoint") == 0;
	int i, pol, first_opt = is_endpoint ? 3 : 2;
	struct config_reg *regs;

	memset(&r, 0, sizeof(r));
	if (n < first_opt) {
		*why = is_endpoint ? "endpoint needs CLIENT and URL" :
		    "client needs an ID";
		return -1;
	}
	if (!util_client_id_ok(v[1], strlen(v[1]))) {
		*why = "client id must be 1-64 of A-Z a-z 0-9 . _ -";
		return -1;
	}
	if (is_endpoint) {
		struct url u;
		const char *uerr = "invalid url";

		if (url_parse(v[2], strlen(v[2]), &u, &uerr) != 0) {
			*why = uerr;
			return -1;
		}
	}
	for (i = first_opt; i < n; i++) {
		slot = NULL;
		if (!is_endpoint && config_option(v[i], "name", &val))
			slot = &name;
		else if (is_endpoint && config_option(v[i], "method", &val))
			slot = &method;
		else if (is_endpoint && config_option(v[i], "events", &val))
			slot = &events;
		else if (is_endpoint && config_option(v[i], "secret", &val))
			slot = &secret;
		else if (is_endpoint && (pol = config_endpoint_policy(&r,
		    v[i], why, whybuf, whysz)) != 0) {
			if (pol < 0)
				return -1;
			continue;
		}
		if (slot == NULL) {
			const char *eq = strchr(v[i], '=');
			char kq[CONFIG_QUOTE_MAX + 3];

			if (eq == NULL || eq == v[i])
				snprintf(whybuf, whysz, "%s options are "
				    "name=value with no spaces around \"=\" "
				    "(e.g. %s)", v[0], is_endpoint ?
				    "method=GET events=order.*" :
				    "name=\"Acme Store\"");
			else
				snprintf(whybuf, whysz, "unknown %s option "
				    "%s (%s)", v[0], config_quote(kq,
				    sizeof(kq), v[i], (size_t)(eq - v[i]), 1),
				    is_endpoint ?
				    "known: method=, events=, secret=, "
				    "rate_limit=, ordering=, timeout=, "
				    "retry_schedule=" :
				    "known: name=");
			*why = whybuf;
			return -1;
		}
		if (*slot != NULL) {
			*why = "option given twice";
			return -1;
		}
		*slot = val;
	}
	if (method != NULL && !util_span_ieq(method, strlen(method), "GET") &&
	    !util_span_ieq(method, strlen(method), "POST")) {
		*why = "method must be GET or POST";
		return -1;
	}
	if (events != NULL && !config_valid_events(events)) {
		*why = "events must be a comma-separated list of event types";
		return -1;
	}
	if (secret != NULL) {
		uint8_t key[SIGN_SECRET_MAX_BYTES];

		if (strlen(secret) >= SIGN_SECRET_MAX ||
		    sign_secret_key(secret, strlen(secret), 1, key) < 0) {
			*why = "secret must be whsec_ + base64 of 24-64 bytes";
			return -1;
		}
	}
	/* Two lines for one client: which name= holds is not clear, and the
	 * second is most likely a copy-paste slip meant for another id. */
	for (i = 0; !is_endpoint && (size_t)i < c->nregs; i++)
		if (!c->regs[i].is_endpoint &&
		    strcmp(c->regs[i].client, v[1]) == 0) {
			snprintf(whybuf, whysz, "client \"%s\" is declared "
			    "twice (first at line %d)", v[1], c->regs[i].line);
			*why = whybuf;
			return -1;
		}
	if (c->nregs >= CONFIG_MAX_REGS) {
		*why = "too many static registrations";
		return -1;
	}

	r.is_endpoint = is_endpoint;
	r.line = line;
	r.method_get = method != NULL &&
	    util_span_ieq(method, strlen(method), "GET");
	regs = realloc(c->regs, (c->nregs + 1) * sizeof(*regs));
	if (regs == NULL)
		goto oom;
	c->regs = regs;
	if (config_dup(&r.client, v[1]) != 0 ||
	    config_dup(&r.name, name) != 0 ||
	    config_dup(&r.url, is_endpoint ? v[2] : NULL) != 0 ||
	    config_dup(&r.events, events) != 0 ||
	    config_dup(&r.secret, secret) != 0)
		goto oom;
	c->regs[c->nregs++] = r;
	return 0;
oom:
	config_reg_free(&r);
	*why = "out of memory";
	return -1;
}

void
config_route_free(struct config_route *r)
{
	size_t i;

	free(r->prefix);
	free(r->upstream);
	free(r->type);
	for (i = 0; i < r->nheaders; i++)
		free(r->headers[i]);
	free(r->headers);
	memset(r, 0, sizeof(*r));
}

/* NULL when prefix may be a route's prefix, else why not (in whybuf). A
 * prefix is matched against the raw request path, so it is held to the
 * bytes a path may carry unescaped (RFC 3986 pchar and '/'); a '%' would
 * compare escapes with their decoded forms, '?' and '#' are no part of a
 * path. */
static const char *
config_route_prefix_problem(const char *p, char *whybuf, size_t whysz)
{
	size_t i, n = strlen(p), k;

	if (n == 0 || p[0] != '/' || n > URL_MAX)
		return "route PREFIX must start with / (e.g. route /api/ "
		    "http://10.0.0.5:9000/)";
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)p[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || strchr("/-._~!$&'()*+,;=:@",
		    ch) != NULL))
			return "route PREFIX may hold only letters, digits "
			    "and / - . _ ~ ! $ & ' ( ) * + , ; = : @ (no %, ?, "
			    "# or spaces)";
	}
	for (k = 0; k < sizeof(config_own_paths) /
	    sizeof(config_own_paths[0]); k++) {
		const char *own = config_own_paths[k];
		size_t on = strlen(own);

		/* "/" or "/v" covers "/v1"; "/v1/x" is under it. */
		if ((n <= on && memcmp(own, p, n) == 0) ||
		    (n > on && memcmp(p, own, on) == 0 && (p[on] == '/' ||
		    p[on] == '.' || p[on] == '?'))) {
			snprintf(whybuf, whysz, "route PREFIX would take "
			    "requests meant for hookd's own %s: choose a "
			    "prefix outside /v1/, /healthz, /metrics, "
			    "/console and /openapi.json (e.g. /api/)", own);
			return whybuf;
		}
	}
	return NULL;
}

/*
 * `route PREFIX UPSTREAM [type=TYPE] [timeout=DURATION]
 * [header=Name:Value]...` (contract §14). Header values are never echoed
 * back: they often hold an API key for the upstream.
 */
int
config_route(struct config *c, char **v, int n, int line, const char **why,
    char *whybuf, size_t whysz)
{
	struct config_route r, *routes;
	const char *val, *type = NULL, *timeout = NULL, *uerr = "invalid url";
	char kq[CONFIG_QUOTE_MAX + 3];
	struct url u;
	int i;

	memset(&r, 0, sizeof(r));
	if (n < 3) {
		*why = "route needs PREFIX and UPSTREAM (e.g. route /api/ "
		    "http://10.0.0.5:9000/ type=api.result)";
		return -1;
	}
	if ((*why = config_route_prefix_problem(v[1], whybuf, whysz)) != NULL)
		return -1;
	/* The upstream is an http:// (https:// with TLS) URL by the one set
	 * of URL rules; the rest of the request path and its query are
	 * appended to it, so it has neither a query nor template braces. */
	if (url_parse(v[2], strlen(v[2]), &u, &uerr) != 0) {
		snprintf(whybuf, whysz, "route UPSTREAM: %s", uerr);
		*why = whybuf;
		return -1;
	}
	if (strpbrk(v[2], "?{}") != NULL) {
		*why = "route UPSTREAM is a base URL without a query or {} "
		    "(the rest of the request's path and its query are "
		    "appended to it)";
		return -1;
	}
	for (i = 0; i < (int)c->nroutes; i++)
		if (strcmp(c->routes[i].prefix, v[1]) == 0) {
			snprintf(whybuf, whysz, "route %s is declared twice "
			    "(first at line %d)", config_quote(kq, sizeof(kq),
			    v[1], strlen(v[1]), 1), c->routes[i].line);
			*why = whybuf;
			return -1;
		}
	if (c->nroutes >= CONFIG_MAX_ROUTES) {
		*why = "too many routes (at most 64)";
		return -1;
	}
	r.line = line;
	if (config_dup(&r.prefix, v[1]) != 0 ||
	    config_dup(&r.upstream, v[2]) != 0)
		goto oom;
	for (i = 3; i < n; i++) {
		if (config_option(v[i], "type", &val)) {
			if (type != NULL)
				goto twice;
			type = val;
		} else if (config_option(v[i], "timeout", &val)) {
			if (timeout != NULL)
				goto twice;
			timeout = val;
		} else if (config_option(v[i], "header", &val)) {
			const char *colon = strchr(val, ':'), *hv;
			char **hs;

			if (colon == NULL || colon == val) {
				*why = "route header= is Name:Value (e.g. "
				    "header=\"X-Api-Key: k\")";
				goto fail;
			}
			hv = colon + 1;
			while (*hv == ' ' || *hv == '\t')
				hv++;
			if (!http_name_ok(val, (size_t)(colon - val)) ||
			    !http_value_ok(hv, strlen(hv))) {
				*why = "route header= needs an HTTP token as "
				    "its name and a value without control "
				    "characters";
				goto fail;
			}
			/* The same set an endpoint may not add, and the
			 * three the gateway passes on or sets itself. */
			if (http_header_reserved(val, (size_t)(colon - val)) ||
			    util_span_ieq(val, (size_t)(colon - val),
			    "idempotency-key") ||
			    util_span_ieq(val, (size_t)(colon - val),
			    "accept") ||
			    util_span_ieq(val, (size_t)(colon - val),
			    "content-encoding")) {
				snprintf(whybuf, whysz, "route header= may not "
				    "set %s: hookd sets it itself (or it is "
				    "hop-by-hop)", config_quote(kq, sizeof(kq),
				    val, (size_t)(colon - val), 1));
				*why = whybuf;
				goto fail;
			}
			if (r.nheaders >= CONFIG_ROUTE_HEADERS) {
				*why = "a route has at most 16 header= options";
				goto fail;
			}
			hs = realloc(r.headers, (r.nheaders + 1) *
			    sizeof(*hs));
			if (hs == NULL)
				goto oom;
			r.headers = hs;
			hs[r.nheaders] = malloc((size_t)(colon - val) + 2 +
			    strlen(hv) + 1);
			if (hs[r.nheaders] == NULL)
				goto oom;
			sprintf(hs[r.nheaders++], "%.*s: %s",
			    (int)(colon - val), val, hv);
		} else {
			const char *eq = strchr(v[i], '=');

			if (eq == NULL || eq == v[i])
				snprintf(whybuf, whysz, "route options are "
				    "name=value with no spaces around \"=\" "
				    "(e.g. type=api.result timeout=30s)");
			else
				snprintf(whybuf, whysz, "unknown route option "
				    "%s (known: type=, timeout=, header=)",
				    config_quote(kq, sizeof(kq), v[i],
				    (size_t)(eq - v[i]), 1));
			*why = whybuf;
			goto fail;
		}
	}
	if (type != NULL && (!util_type_ok(type, strlen(type), 0) ||
	    strchr(type, '*') != NULL ||
	    strlen(type) > CONFIG_ROUTE_TYPE_MAX)) {
		*why = "route type= must be 1-121 visible characters without "
		    "spaces or * (e.g. type=api.result)";
		goto fail;
	}
	if (config_dup(&r.type, type != NULL ? type : CONFIG_ROUTE_TYPE) != 0)
		goto oom;
	if (timeout != NULL && (strchr(timeout, ',') != NULL ||
	    util_parse_duration(timeout, strlen(timeout),
	    CONFIG_ROUTE_TIMEOUT_MAX, &r.timeout_ms) != 0 || r.timeout_ms < 1)) {
		*why = "route timeout= must be one duration from 1ms to 1h "
		    "(e.g. timeout=30s)";
		goto fail;
	}
	routes = realloc(c->routes, (c->nroutes + 1) * sizeof(*routes));
	if (routes == NULL)
		goto oom;
	c->routes = routes;
	c->routes[c->nroutes++] = r;
	return 0;
twice:
	*why = "route option given twice";
	goto fail;
oom:
	*why = "out of memory";
fail:
	config_route_free(&r);
	return -1;
}

/*
 * Contract §8 and §14: an upstream named by an address the destination
 * rules deny (or by localhost) would only ever fail its calls, as a
 * receiver's URL would be refused at registration: say so now, with what
 * opens it. NULL when allowed (names are judged after each lookup, at
 * connect time), else the reason in whybuf.
 */
/* NULL when url (what: how a message names it) is allowed by c's
 * allow_destinations as far as can be told before a lookup, else why not
 * (in whybuf). */
static const char *
config_url_denied(const struct config *c, const char *url, const char *what,
    char *whybuf, size_t whysz)
{
	struct sockaddr_storage ss;
	struct url u;
	const char *uerr;
	char msg[200];

	if (url_parse(url, strlen(url), &u, &uerr) != 0)
		return NULL;
	if (url_host_literal(u.host, &ss) != 0) {
		if (!url_host_is_localhost(u.host) ||
		    url_host_literal("127.0.0.1", &ss) != 0)
			return NULL;
	}
	if (!url_denied_error((const struct sockaddr *)(const void *)&ss,
	    u.host, c->allow, c->nallow, msg, sizeof(msg)))
		return NULL;
	snprintf(whybuf, whysz, "%s: %s", what, msg);
	return whybuf;
}

const char *
config_route_denied(const struct config *c, const struct config_route *r,
    char *whybuf, size_t whysz)
{
	return config_url_denied(c, r->upstream, "route UPSTREAM", whybuf,
	    whysz);
}

/* ---- operational webhooks (contract §15) ---- */

int
config_ops_set(struct config *c, const char *key, const char *value,
    const char **why, char *whybuf, size_t whysz)
{
	struct url u;
	const char *uerr;
	uint8_t k[SIGN_SECRET_MAX_BYTES];
	int ok;

	if (strcmp(key, "ops_url") == 0) {
		/* The URL rules of a one-off callback: no template, as
		 * hookd's own events have nothing to fill it from. */
		if (url_parse(value, strlen(value), &u, &uerr) != 0) {
			snprintf(whybuf, whysz, "ops_url: %s", uerr);
			*why = whybuf;
			return -1;
		}
		if (strpbrk(value, "{}") != NULL) {
			*why = "ops_url is a plain URL without {} templates";
			return -1;
		}
		snprintf(c->ops_url, sizeof(c->ops_url), "%s", value);
		return 0;
	}
	/* The rule of an endpoint's secret= (and the API's). */
	ok = strlen(value) < SIGN_SECRET_MAX && strlen(value) <
	    sizeof(c->ops_secret) && sign_secret_key(value, strlen(value), 1,
	    k) >= 0;
	sign_wipe(k, sizeof(k));
	if (!ok) {
		*why = "ops_secret must be whsec_ and the base64 of 24-64 "
		    "random bytes (e.g. from openssl rand -base64 32)";
		return -1;
	}
	snprintf(c->ops_secret, sizeof(c->ops_secret), "%s", value);
	return 0;
}

int
config_ops_check(const struct config *c, const char **why, char *whybuf,
    size_t whysz)
{
	if ((c->ops_url[0] != '\0') != (c->ops_secret[0] != '\0')) {
		*why = "ops_url and ops_secret go together: set both (hookd "
		    "signs its operational events with ops_secret) or neither";
		return -1;
	}
	if (c->ops_url[0] != '\0' &&
	    (*why = config_url_denied(c, c->ops_url, "ops_url", whybuf,
	    whysz)) != NULL)
		return -1;
	return 0;
}

int
config_routes_differ(const struct config *a, const struct config *b)
{
	size_t i, k;

	if (a->nroutes != b->nroutes)
		return 1;
	for (i = 0; i < a->nroutes; i++) {
		const struct config_route *x = &a->routes[i], *y = &b->routes[i];

		if (strcmp(x->prefix, y->prefix) != 0 ||
		    strcmp(x->upstream, y->upstream) != 0 ||
		    strcmp(x->type, y->type) != 0 ||
		    x->timeout_ms != y->timeout_ms ||
		    x->nheaders != y->nheaders)
			return 1;
		for (k = 0; k < x->nheaders; k++)
			if (strcmp(x->headers[k], y->headers[k]) != 0)
				return 1;
	}
	return 0;
}

const struct config_route *
config_route_find(const struct config *c, const char *path, size_t len)
{
	const struct config_route *best = NULL;
	size_t i, bl = 0;

	for (i = 0; c != NULL && i < c->nroutes; i++) {
		size_t pl = strlen(c->routes[i].prefix);

		if (pl <= len && pl > bl &&
		    memcmp(c->routes[i].prefix, path, pl) == 0 &&
		    (path[pl - 1] == '/' || pl == len || path[pl] == '/')) {
			best = &c->routes[i];
			bl = pl;
		}
	}
	return best;
}
