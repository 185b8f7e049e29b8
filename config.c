/*
 * config: hookd's settings: the defaults of contract §7, the config file (one
 * `key value...` per line, `#` comments) and the static registrations it
 * declares, the flags laid over it, and the settings in force. Every value is
 * range-checked here so the rest can trust it.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "http.h"
#include "log.h"
#include "sign.h"
#include "util.h"
#include "version.h"

/*
 * Limits of the file itself. A config file is written by the operator, but a
 * bound keeps a corrupt or wrong file (a binary, /dev/zero) from making the
 * parser allocate without end.
 */
#define CONFIG_LINE_MAX 8192	/* bytes in one line */
#define CONFIG_MAX_WORDS 80	/* words in one line: a key, CIDRs, delays */
#define CONFIG_MAX_REGS 10000	/* static registrations in one file */
/* Longest quoted word an error message echoes (log_quote's form, with its
 * quotes): a key or option name is short, and a line of megabytes must
 * not be echoed into a log whole. */
#define CONFIG_QUOTE_MAX 72
/* Longest word compared with the known keys for "did you mean": no key is
 * longer, and the bound keeps the distance table on the stack, so a long
 * word cannot cost time or memory. */
#define CONFIG_KEY_MAX 64

#define KIB ((uint64_t)1024)
#define MIB (1024 * KIB)
#define SEC ((int64_t)1000)
#define MINUTE (60 * SEC)
#define HOUR (60 * MINUTE)
#define DAY (24 * HOUR)

/* What kind of value a scalar setting takes. */
enum config_type {
	CONFIG_SIZE,		/* a size_t count or byte size */
	CONFIG_DURATION		/* an int64_t of milliseconds */
};

/*
 * The scalar settings with their bounds. The maxima are the failures they
 * prevent: heads, bodies and connections bound the memory one client (or
 * many) can make hookd hold; the timeouts bound how long a slow peer can pin
 * a connection or a delivery slot.
 */
static const struct config_scalar {
	const char *key;
	enum config_type type;
	size_t off;
	uint64_t min, max;	/* sizes: bytes or counts; durations: ms */
} config_scalars[] = {
	/* A head needs room for a request line, Host and Authorization. */
	{ "max_header_bytes", CONFIG_SIZE,
	    offsetof(struct config, max_header_bytes), 1 * KIB, 1 * MIB },
	/* The header array is fixed-size (HTTP_MAX_HEADERS). */
	{ "max_headers", CONFIG_SIZE,
	    offsetof(struct config, max_headers), 1, HTTP_MAX_HEADERS },
	/* Each connection holds its whole body in memory. */
	{ "max_body", CONFIG_SIZE,
	    offsetof(struct config, max_body), 1 * KIB, 64 * MIB },
	/* Each connection costs a descriptor and its buffers. */
	{ "max_connections", CONFIG_SIZE,
	    offsetof(struct config, max_connections), 1, 100000 },
	{ "endpoint_concurrency", CONFIG_SIZE,
	    offsetof(struct config, endpoint_concurrency), 1, 1024 },
	{ "max_outbound", CONFIG_SIZE,
	    offsetof(struct config, max_outbound), 1, 65536 },
	/* Per-client limits (contract §18): one tenant cannot fill the
	 * registry, make every delivery's head huge, or keep the engine and
	 * the journal busy with retry and replay calls. */
	{ "max_endpoints_per_client", CONFIG_SIZE,
	    offsetof(struct config, max_endpoints_per_client), 1, 100000 },
	/* At most HTTP_MAX_HEADERS: more would not fit a receiver's parser. */
	{ "max_endpoint_headers", CONFIG_SIZE,
	    offsetof(struct config, max_endpoint_headers), 0,
	    HTTP_MAX_HEADERS },
	{ "max_retries_per_minute", CONFIG_SIZE,
	    offsetof(struct config, max_retries_per_minute), 1, 1000000 },
	/* A delivery's kept log is read back (and compacted) whole: a
	 * receiver that fails forever must not grow it, nor the answer to
	 * GET /v1/deliveries/{id}, without bound (contract §18). */
	{ "max_log_attempts", CONFIG_SIZE,
	    offsetof(struct config, max_log_attempts), 1, 1000 },
	/* One client's attempts in flight: without a cap one tenant's
	 * hanging receivers could hold every outbound slot (contract §18).
	 * 0 (not set) means the default, config_client_inflight. */
	{ "max_inflight_per_client", CONFIG_SIZE,
	    offsetof(struct config, max_inflight_per_client), 1, 65536 },
	{ "header_timeout", CONFIG_DURATION,
	    offsetof(struct config, header_timeout_ms), 1, HOUR },
	{ "idle_timeout", CONFIG_DURATION,
	    offsetof(struct config, idle_timeout_ms), 1, DAY },
	/* A body trickled a byte at a time holds a connection and its
	 * buffer; this bounds how long in all (contract §18). */
	{ "body_timeout", CONFIG_DURATION,
	    offsetof(struct config, body_timeout_ms), 1, HOUR },
	/* One attempt may hold a delivery slot this long at most. */
	{ "timeout", CONFIG_DURATION,
	    offsetof(struct config, timeout_ms), 1, HOUR },
	{ "disable_after", CONFIG_DURATION,
	    offsetof(struct config, disable_after_ms), 1, 365 * DAY },
	{ "retention", CONFIG_DURATION,
	    offsetof(struct config, retention_ms), 0, 3650 * DAY },
	{ "drain_timeout", CONFIG_DURATION,
	    offsetof(struct config, drain_timeout_ms), 0, HOUR },
};

/* The keys that are not in config_scalars: with it, every key there is,
 * for the "did you mean" of an unknown one. */
static const char *const config_other_keys[] = {
	"listen", "data_dir", "admin_token_file", "tls_ca_file", "retry_schedule",
	"allow_destinations", "fsync", "metrics", "client", "endpoint",
	"route",
};

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

/* Longest single delay in retry_schedule. */
#define CONFIG_RETRY_MAX_MS (7 * DAY)

/* Contract §5: seconds after the previous attempt. */
static const int64_t config_default_retry[] = {
	5 * SEC, 300 * SEC, 1800 * SEC, 7200 * SEC, 18000 * SEC, 36000 * SEC,
	36000 * SEC
};

void
config_defaults(struct config *c)
{
	size_t i;

	memset(c, 0, sizeof(*c));
	snprintf(c->listen, sizeof(c->listen), "%s", "127.0.0.1:8080");
	snprintf(c->data_dir, sizeof(c->data_dir), "%s", "./hookd-data");
	c->max_header_bytes = 16384;
	c->max_headers = 100;
	c->max_body = 1048576;
	c->header_timeout_ms = 10 * SEC;
	c->idle_timeout_ms = 60 * SEC;
	c->body_timeout_ms = 30 * SEC;
	c->max_connections = 1024;
	c->timeout_ms = 15 * SEC;
	for (i = 0; i < sizeof(config_default_retry) /
	    sizeof(config_default_retry[0]); i++)
		c->retry_ms[i] = config_default_retry[i];
	c->nretry = i;
	c->disable_after_ms = 5 * DAY;
	c->endpoint_concurrency = 8;
	c->max_outbound = 256;
	c->max_endpoints_per_client = 100;
	c->max_endpoint_headers = 16;
	c->max_retries_per_minute = 600;
	c->max_log_attempts = 50;
	c->max_inflight_per_client = 0;	/* max_outbound / 2 */
	c->retention_ms = 7 * DAY;
	c->drain_timeout_ms = 5 * SEC;
	c->fsync_always = 1;
	c->nallow = 0;
	c->metrics = 1;
}

/*
 * Copy a string into a fixed field, zero-filling the rest so that two
 * configs can be compared field by field. 0, or -1 when it does not fit.
 */
static int
config_set_str(char *dst, size_t dstsz, const char *src)
{
	size_t len = strlen(src);

	if (len >= dstsz)
		return -1;
	memset(dst, 0, dstsz);
	memcpy(dst, src, len);
	return 0;
}

int
config_listen_addr(const char *value, struct sockaddr_storage *ss,
    socklen_t *len)
{
	char host[URL_HOST_MAX];
	const char *colon = strrchr(value, ':');
	const char *h = value;
	size_t hlen;
	uint64_t port;

	if (colon == NULL)
		return -1;
	hlen = (size_t)(colon - value);
	/* IPv6 literals are bracketed so that the port is unambiguous. */
	if (value[0] == '[') {
		if (hlen < 2 || value[hlen - 1] != ']')
			return -1;
		h = value + 1;
		hlen -= 2;
	}
	if (hlen == 0 || hlen >= sizeof(host))
		return -1;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	if (url_host_literal(host, ss) != 0)
		return -1;
	if ((ss->ss_family == AF_INET6) != (value[0] == '['))
		return -1;
	/* Port 0 lets the kernel pick one (tests); the log names it. */
	if (util_parse_u64(colon + 1, strlen(colon + 1), 65535, &port) != 0)
		return -1;
	if (ss->ss_family == AF_INET) {
		((struct sockaddr_in *)(void *)ss)->sin_port =
		    htons((uint16_t)port);
		*len = sizeof(struct sockaddr_in);
	} else {
		((struct sockaddr_in6 *)(void *)ss)->sin6_port =
		    htons((uint16_t)port);
		*len = sizeof(struct sockaddr_in6);
	}
	return 0;
}

int
config_set_listen(struct config *c, const char *value)
{
	struct sockaddr_storage ss;
	socklen_t len;

	if (config_listen_addr(value, &ss, &len) != 0)
		return -1;
	return config_set_str(c->listen, sizeof(c->listen), value);
}

/*
 * Split a line into words in place: runs of characters other than space and
 * tab. A double-quoted stretch may hold spaces (name="Acme Store") and loses
 * its quotes; there are no escapes. A word starting with '#' begins a
 * comment. Returns the number of words, or -1 with *why set.
 */
static int
config_split(char *line, char **words, int max, const char **why)
{
	char *r = line, *w;
	int n = 0, quoted;

	for (;;) {
		while (*r == ' ' || *r == '\t')
			r++;
		if (*r == '\0' || *r == '#')
			return n;
		if (n == max) {
			*why = "too many values";
			return -1;
		}
		words[n++] = w = r;
		quoted = 0;
		while (*r != '\0' && (quoted || (*r != ' ' && *r != '\t'))) {
			if (*r == '"')
				quoted = !quoted;
			else
				*w++ = *r;
			r++;
		}
		if (quoted) {
			*why = "unterminated quote";
			return -1;
		}
		/* w <= r here: ending the word may overwrite the separator
		 * only after r has stepped past it. */
		if (*r != '\0')
			r++;
		*w = '\0';
	}
}

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

static void
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
 * Words of the file (len bytes of s) as an error message shows them:
 * through log_quote, the one quoter of hookd, so that invalid UTF-8 or
 * control bytes in a broken or hostile file never reach a terminal or a log
 * raw. in_quotes: always in double quotes, else bare when printable. Cut at
 * CONFIG_QUOTE_MAX bytes (a key is short; a longer word is not one).
 * Returns out (outsz bytes, at least CONFIG_QUOTE_MAX + 3).
 */
static const char *
config_quote(char *out, size_t outsz, const char *s, size_t len,
    int in_quotes)
{
	char q[CONFIG_QUOTE_MAX];

	log_quote(q, sizeof(q), s, len);
	if (!in_quotes || q[0] == '"')
		snprintf(out, outsz, "%s", q);
	else
		snprintf(out, outsz, "\"%s\"", q);
	return out;
}

/*
 * `client ID [name=...]` and `endpoint CLIENT URL [method=GET|POST]
 * [events=a,b] [secret=whsec_...]`. why may point into whybuf. Values are
 * never echoed back: a secret= in an error message would end up in logs.
 */
static int
config_registration(struct config *c, char **v, int n, int line,
    const char **why, char *whybuf, size_t whysz)
{
	struct config_reg r;
	const char *name = NULL, *method = NULL, *events = NULL, *secret = NULL;
	const char *val, **slot;
	int is_endpoint = strcmp(v[0], "endpoint") == 0;
	int i, first_opt = is_endpoint ? 3 : 2;
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
				    "known: method=, events=, secret=" :
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

static void
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
static int
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
			 * two the gateway sets itself. */
			if (http_header_reserved(val, (size_t)(colon - val)) ||
			    util_span_ieq(val, (size_t)(colon - val),
			    "idempotency-key") ||
			    util_span_ieq(val, (size_t)(colon - val),
			    "accept")) {
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
	    util_parse_duration(timeout, strlen(timeout), HOUR,
	    &r.timeout_ms) != 0 || r.timeout_ms < 1)) {
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
static const char *
config_route_denied(const struct config *c, const struct config_route *r,
    char *whybuf, size_t whysz)
{
	struct sockaddr_storage ss;
	struct url u;
	const char *uerr;
	char msg[200];

	if (url_parse(r->upstream, strlen(r->upstream), &u, &uerr) != 0)
		return NULL;
	if (url_host_literal(u.host, &ss) != 0) {
		if (!url_host_is_localhost(u.host) ||
		    url_host_literal("127.0.0.1", &ss) != 0)
			return NULL;
	}
	if (!url_denied_error((const struct sockaddr *)(const void *)&ss,
	    u.host, c->allow, c->nallow, msg, sizeof(msg)))
		return NULL;
	snprintf(whybuf, whysz, "route UPSTREAM: %s", msg);
	return whybuf;
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
		    memcmp(c->routes[i].prefix, path, pl) == 0) {
			best = &c->routes[i];
			bl = pl;
		}
	}
	return best;
}

/* A scalar setting from config_scalars. */
static int
config_scalar(struct config *c, const struct config_scalar *s,
    const char *value, const char **why, char *whybuf, size_t whysz)
{
	char *field = (char *)c + s->off;
	uint64_t u;
	int64_t ms;

	if (s->type == CONFIG_SIZE) {
		if (util_parse_u64(value, strlen(value), s->max, &u) != 0 ||
		    u < s->min) {
			snprintf(whybuf, whysz, "%s must be a number "
			    "from %llu to %llu", s->key,
			    (unsigned long long)s->min,
			    (unsigned long long)s->max);
			*why = whybuf;
			return -1;
		}
		*(size_t *)(void *)field = (size_t)u;
		return 0;
	}
	if (strchr(value, ',') != NULL) {
		snprintf(whybuf, whysz, "%s takes one duration, and a comma "
		    "is no part of one (e.g. %s 15s; lists of durations are "
		    "space-separated)", s->key, s->key);
		*why = whybuf;
		return -1;
	}
	if (util_parse_duration(value, strlen(value), (int64_t)s->max,
	    &ms) != 0 || ms < (int64_t)s->min) {
		snprintf(whybuf, whysz, "%s must be one duration, a number "
		    "with an optional unit (ms, s, m, h, d; seconds when none) "
		    "from %llums to %llums, e.g. %s 15s", s->key,
		    (unsigned long long)s->min, (unsigned long long)s->max,
		    s->key);
		*why = whybuf;
		return -1;
	}
	*(int64_t *)(void *)field = ms;
	return 0;
}

/* "on"/"off" into *out. */
static int
config_bool(const char *value, int *out)
{
	if (strcmp(value, "on") == 0)
		*out = 1;
	else if (strcmp(value, "off") == 0)
		*out = 0;
	else
		return -1;
	return 0;
}

/* The known key nearest to word (util_nearest: the one "did you mean"
 * rule), or NULL when none is near enough to be what was meant. */
static const char *
config_nearest_key(const char *word)
{
	enum { NSCALARS = sizeof(config_scalars) / sizeof(config_scalars[0]),
	    NOTHER = sizeof(config_other_keys) / sizeof(config_other_keys[0]) };
	const char *keys[NSCALARS + NOTHER];
	size_t i;
	int at;

	for (i = 0; i < NSCALARS; i++)
		keys[i] = config_scalars[i].key;
	for (i = 0; i < NOTHER; i++)
		keys[NSCALARS + i] = config_other_keys[i];
	at = util_nearest(word, strlen(word), keys, NSCALARS + NOTHER);
	return at < 0 ? NULL : keys[at];
}

size_t
config_changed_scalars(const struct config *a, const struct config *b,
    char *list, size_t listsz)
{
	size_t i, n = 0, len;
	int w;

	for (i = 0; i < sizeof(config_scalars) / sizeof(config_scalars[0]);
	    i++) {
		const struct config_scalar *s = &config_scalars[i];
		size_t width = s->type == CONFIG_SIZE ? sizeof(size_t) :
		    sizeof(int64_t);

		if (memcmp((const char *)a + s->off, (const char *)b + s->off,
		    width) == 0)
			continue;
		n++;
		len = strlen(list);
		if (len >= listsz)
			continue;
		w = snprintf(list + len, listsz - len, "%s%s",
		    len > 0 ? "," : "", s->key);
		if (w < 0 || (size_t)w >= listsz - len)
			list[len] = '\0';	/* no half key */
	}
	return n;
}

/* 1 when key is one whose values are never secret, so that an error may
 * quote them: the scalars (numbers and durations). */
static int
config_key_is_scalar(const char *key)
{
	size_t i;

	for (i = 0; i < sizeof(config_scalars) / sizeof(config_scalars[0]);
	    i++)
		if (strcmp(key, config_scalars[i].key) == 0)
			return 1;
	return 0;
}

/*
 * "key=value" or "key = value": contract §1 lines are `key value`. Says
 * how to write it, quoting the value only for the scalars (a secret must
 * not end up in an error message). 1 when the line has that mistake.
 */
static int
config_equals_mistake(char **v, int n, char *whybuf, size_t whysz)
{
	const char *eq = strchr(v[0], '=');
	const char *value = NULL;
	char key[CONFIG_KEY_MAX + 1], kq[CONFIG_QUOTE_MAX + 3];
	char vq[CONFIG_QUOTE_MAX + 3];
	size_t klen;

	if (eq != NULL) {
		klen = (size_t)(eq - v[0]);
		value = eq[1] != '\0' ? eq + 1 : n >= 2 ? v[1] : NULL;
	} else if (n >= 2 && v[1][0] == '=') {
		klen = strlen(v[0]);
		value = v[1][1] != '\0' ? v[1] + 1 : n >= 3 ? v[2] : NULL;
	} else
		return 0;
	if (klen == 0 || klen > CONFIG_KEY_MAX)
		return 0;
	memcpy(key, v[0], klen);
	key[klen] = '\0';
	if (value != NULL && config_key_is_scalar(key) && strlen(value) <= 64)
		snprintf(whybuf, whysz, "a setting is \"key value\" with no "
		    "\"=\": write %s %s", config_quote(kq, sizeof(kq), key,
		    klen, 0), config_quote(vq, sizeof(vq), value,
		    strlen(value), 0));
	else
		snprintf(whybuf, whysz, "a setting is \"key value\" with no "
		    "\"=\": write %s followed by a space and the value",
		    config_quote(kq, sizeof(kq), key, klen, 0));
	return 1;
}

/* A value list with a comma where the words should be space-separated. */
static int
config_comma_mistake(char **v, int n, const char *what, char *whybuf,
    size_t whysz)
{
	int k;

	for (k = 1; k < n; k++)
		if (strchr(v[k], ',') != NULL) {
			snprintf(whybuf, whysz, "%s: separate the %s with "
			    "spaces, not commas (e.g. %s)", v[0], what,
			    strcmp(v[0], "retry_schedule") == 0 ?
			    "retry_schedule 1s 5s 1m" :
			    "allow_destinations 10.0.0.0/8 192.168.0.0/16");
			return 1;
		}
	return 0;
}

/*
 * Apply one line's words (v[0] is the key). Returns 0, or -1 with *why set
 * (possibly to whybuf).
 */
static int
config_apply(struct config *c, char **v, int n, int line, const char **why,
    char *whybuf, size_t whysz)
{
	const char *key = v[0];
	char kq[CONFIG_QUOTE_MAX + 3];
	size_t i;
	int k;

	if (config_equals_mistake(v, n, whybuf, whysz)) {
		*why = whybuf;
		return -1;
	}
	if (strcmp(key, "client") == 0 || strcmp(key, "endpoint") == 0)
		return config_registration(c, v, n, line, why, whybuf, whysz);
	if (strcmp(key, "route") == 0)
		return config_route(c, v, n, line, why, whybuf, whysz);
	if (n < 2) {
		snprintf(whybuf, whysz, "%s needs a value", config_quote(kq,
		    sizeof(kq), key, strlen(key), 0));
		*why = whybuf;
		return -1;
	}

	if (strcmp(key, "retry_schedule") == 0) {
		if (config_comma_mistake(v, n, "delays", whybuf, whysz)) {
			*why = whybuf;
			return -1;
		}
		if (n - 1 > CONFIG_MAX_RETRIES) {
			*why = "retry_schedule has at most 32 delays";
			return -1;
		}
		for (k = 1; k < n; k++)
			if (util_parse_duration(v[k], strlen(v[k]),
			    CONFIG_RETRY_MAX_MS, &c->retry_ms[k - 1]) != 0) {
				*why = "retry_schedule takes space-separated "
				    "durations (ms, s, m, h, d) of at most 7d, "
				    "e.g. retry_schedule 5s 5m 30m";
				return -1;
			}
		c->nretry = (size_t)(n - 1);
		return 0;
	}
	if (strcmp(key, "allow_destinations") == 0) {
		/* "none" is the default: no exemption from contract §8. */
		if (n == 2 && strcmp(v[1], "none") == 0) {
			c->nallow = 0;
			return 0;
		}
		if (config_comma_mistake(v, n, "CIDRs", whybuf, whysz)) {
			*why = whybuf;
			return -1;
		}
		if (n - 1 > CONFIG_MAX_ALLOW) {
			*why = "allow_destinations takes at most 64 CIDRs";
			return -1;
		}
		for (k = 1; k < n; k++)
			if (url_cidr_parse(v[k], strlen(v[k]),
			    &c->allow[k - 1]) != 0) {
				snprintf(whybuf, whysz, "allow_destinations: "
				    "%s is not a CIDR or all", config_quote(kq,
				    sizeof(kq), v[k], strlen(v[k]), 1));
				*why = whybuf;
				return -1;
			}
		c->nallow = (size_t)(n - 1);
		return 0;
	}

	/* The rest take exactly one value. */
	if (n > 2) {
		snprintf(whybuf, whysz, "%s takes one value (only "
		    "retry_schedule and allow_destinations take several)",
		    config_quote(kq, sizeof(kq), key, strlen(key), 0));
		*why = whybuf;
		return -1;
	}
	for (i = 0; i < sizeof(config_scalars) / sizeof(config_scalars[0]);
	    i++)
		if (strcmp(key, config_scalars[i].key) == 0)
			return config_scalar(c, &config_scalars[i], v[1], why,
			    whybuf, whysz);
	if (strcmp(key, "listen") == 0) {
		if (config_set_listen(c, v[1]) != 0) {
			*why = "listen must be IPV4:PORT or [IPV6]:PORT";
			return -1;
		}
		return 0;
	}
	if (strcmp(key, "data_dir") == 0 ||
	    strcmp(key, "admin_token_file") == 0) {
		int is_dir = key[0] == 'd';
		char *dst = is_dir ? c->data_dir : c->admin_token_file;
		size_t dstsz = is_dir ? sizeof(c->data_dir) :
		    sizeof(c->admin_token_file);

		if (v[1][0] == '\0' || config_set_str(dst, dstsz, v[1]) != 0) {
			snprintf(whybuf, whysz, "%s must be a path of 1-%zu "
			    "bytes", key, dstsz - 1);
			*why = whybuf;
			return -1;
		}
		return 0;
	}
	if (strcmp(key, "tls_ca_file") == 0) {
		struct stat st;
		int fd;

		/* Contract §13: the plain build speaks no TLS, so a CA file
		 * there is a mistake about which binary runs. */
		if (!HOOKD_HAS_TLS) {
			*why = "tls_ca_file needs hookd built with TLS (make "
			    "TLS=openssl); this hookd only delivers http://";
			return -1;
		}
		if (v[1][0] == '\0' || config_set_str(c->tls_ca_file,
		    sizeof(c->tls_ca_file), v[1]) != 0) {
			snprintf(whybuf, whysz, "tls_ca_file must be a path of "
			    "1-%zu bytes", sizeof(c->tls_ca_file) - 1);
			*why = whybuf;
			return -1;
		}
		/* Checked now (at start, -n and SIGHUP) rather than at the
		 * first https delivery; its PEM is read by the TLS layer. */
		fd = open(v[1], O_RDONLY | O_CLOEXEC);
		if (fd >= 0 && (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))) {
			(void)close(fd);
			fd = -1;
			errno = EISDIR;
		}
		if (fd < 0) {
			snprintf(whybuf, whysz, "tls_ca_file %s: %s (want a "
			    "readable PEM file of CA certificates)",
			    config_quote(kq, sizeof(kq), v[1], strlen(v[1]), 1),
			    errno == EISDIR ? "not a regular file" :
			    strerror(errno));
			*why = whybuf;
			return -1;
		}
		(void)close(fd);
		return 0;
	}
	if (strcmp(key, "fsync") == 0) {
		if (strcmp(v[1], "always") == 0)
			c->fsync_always = 1;
		else if (strcmp(v[1], "never") == 0)
			c->fsync_always = 0;
		else {
			*why = "fsync must be always or never";
			return -1;
		}
		return 0;
	}
	if (strcmp(key, "metrics") == 0) {
		if (config_bool(v[1], &c->metrics) != 0) {
			*why = "metrics must be on or off";
			return -1;
		}
		return 0;
	}
	{
		const char *near = config_nearest_key(key);

		if (near != NULL)
			snprintf(whybuf, whysz, "unknown key %s: did you mean "
			    "%s?", config_quote(kq, sizeof(kq), key,
			    strlen(key), 1), near);
		else
			snprintf(whybuf, whysz, "unknown key %s (the keys are "
			    "listed in hookd(8) and hookd.conf.example)",
			    config_quote(kq, sizeof(kq), key, strlen(key), 1));
	}
	*why = whybuf;
	return -1;
}

int
config_load(struct config *c, const char *path, char *err, size_t errsz)
{
	FILE *f;
	char *line = NULL, *words[CONFIG_MAX_WORDS];
	char whybuf[256];
	const char *why = NULL;
	size_t cap = 0, i;
	ssize_t len;
	int lineno = 0, n, k, rc = -1, shared = 0;
	struct stat st;

	f = fopen(path, "r");
	if (f == NULL) {
		util_err_set(err, errsz, path, strerror(errno));
		return -1;
	}
	if (fstat(fileno(f), &st) == 0)
		shared = (st.st_mode & 077) != 0;
	while ((len = getline(&line, &cap, f)) > 0) {
		lineno++;
		if ((size_t)len > CONFIG_LINE_MAX) {
			why = "line too long";
			goto fail;
		}
		if (line[len - 1] == '\n')
			line[--len] = '\0';
		if (len > 0 && line[len - 1] == '\r')
			line[--len] = '\0';
		for (i = 0; i < (size_t)len; i++) {
			unsigned char ch = (unsigned char)line[i];

			/* NUL and other control bytes mean this is not the
			 * text file it should be; tabs separate words. */
			if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
				why = "control character";
				goto fail;
			}
		}
		n = config_split(line, words, CONFIG_MAX_WORDS, &why);
		if (n < 0)
			goto fail;
		if (n == 0)
			continue;
		for (k = 0; k < n && shared; k++)
			if (strstr(words[k], "secret=") != NULL ||
			    (k == 0 && strstr(words[0], "secret") != NULL))
				c->file_exposes_secret = 1;
		if (config_apply(c, words, n, lineno, &why, whybuf,
		    sizeof(whybuf)) != 0)
			goto fail;
	}
	if (ferror(f)) {
		util_err_set(err, errsz, path, strerror(errno));
		goto out;
	}
	/* Once allow_destinations is known, wherever it stands in the
	 * file. */
	for (i = 0; i < c->nroutes; i++)
		if ((why = config_route_denied(c, &c->routes[i], whybuf,
		    sizeof(whybuf))) != NULL) {
			lineno = c->routes[i].line;
			goto fail;
		}
	rc = 0;
	goto out;
fail:
	snprintf(err, errsz, "%s:%d: %s", path, lineno, why);
out:
	free(line);
	fclose(f);
	return rc;
}

int
config_listen_is_loopback(const char *value)
{
	struct sockaddr_storage ss;
	socklen_t len;

	if (config_listen_addr(value, &ss, &len) != 0)
		return 0;
	return url_addr_is_loopback((const struct sockaddr *)(void *)&ss);
}

/* A duration in its largest whole unit: "15s", "250ms", "7d". */
static const char *
config_fmt_duration(int64_t ms, char *out, size_t outsz)
{
	static const struct {
		int64_t ms;
		const char *unit;
	} units[] = {
		{ DAY, "d" }, { HOUR, "h" }, { MINUTE, "m" }, { SEC, "s" },
	};
	size_t i;

	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (ms > 0 && ms % units[i].ms == 0) {
			snprintf(out, outsz, "%lld%s",
			    (long long)(ms / units[i].ms), units[i].unit);
			return out;
		}
	snprintf(out, outsz, "%lldms", (long long)ms);
	return out;
}

char *
config_summary(const struct config *c, char *out, size_t outsz)
{
	char allow[CONFIG_MAX_ALLOW * 48], a[INET6_ADDRSTRLEN];
	char t1[32], t2[32], t3[32];
	size_t i, n = 0, clients = 0, endpoints = 0;

	allow[0] = '\0';
	for (i = 0; i < c->nallow; i++) {
		const struct url_cidr *r = &c->allow[i];
		int k;

		if (r->family == AF_UNSPEC)
			snprintf(a, sizeof(a), "all");
		else if (inet_ntop(r->family, r->addr, a, sizeof(a)) == NULL)
			snprintf(a, sizeof(a), "?");
		if (r->family == AF_UNSPEC)
			k = snprintf(allow + n, sizeof(allow) - n, "%s%s",
			    n > 0 ? "," : "", a);
		else
			k = snprintf(allow + n, sizeof(allow) - n, "%s%s/%d",
			    n > 0 ? "," : "", a, r->bits);
		if (k < 0 || (size_t)k >= sizeof(allow) - n)
			break;
		n += (size_t)k;
	}
	for (i = 0; i < c->nregs; i++) {
		if (c->regs[i].is_endpoint)
			endpoints++;
		else
			clients++;
	}
	snprintf(out, outsz, "listen=%s data_dir=%s fsync=%s "
	    "allow_destinations=%s metrics=%s max_body=%zu "
	    "max_connections=%zu timeout=%s retries=%zu body_timeout=%s "
	    "max_outbound=%zu max_inflight_per_client=%zu "
	    "retention=%s static_clients=%zu static_endpoints=%zu "
	    "routes=%zu",
	    c->listen, c->data_dir, c->fsync_always ? "always" : "never",
	    c->nallow > 0 ? allow : "none", c->metrics ? "on" : "off",
	    c->max_body, c->max_connections,
	    config_fmt_duration(c->timeout_ms, t1, sizeof(t1)), c->nretry,
	    config_fmt_duration(c->body_timeout_ms, t2, sizeof(t2)),
	    c->max_outbound, config_client_inflight(c),
	    config_fmt_duration(c->retention_ms, t3, sizeof(t3)), clients,
	    endpoints, c->nroutes);
	return out;
}

size_t
config_client_inflight(const struct config *c)
{
	if (c->max_inflight_per_client > 0)
		return c->max_inflight_per_client;
	return c->max_outbound / 2 > 0 ? c->max_outbound / 2 : 1;
}

void
config_free(struct config *c)
{
	size_t i;

	for (i = 0; i < c->nregs; i++)
		config_reg_free(&c->regs[i]);
	free(c->regs);
	c->regs = NULL;
	c->nregs = 0;
	for (i = 0; i < c->nroutes; i++)
		config_route_free(&c->routes[i]);
	free(c->routes);
	c->routes = NULL;
	c->nroutes = 0;
}

/* What config_current returns: main sets it at start and on SIGHUP. */
static const struct config *config_in_force;

const struct config *
config_current(void)
{
	return config_in_force;
}

void
config_set_current(const struct config *c)
{
	config_in_force = c;
}

int
config_apply_flags(struct config *c, const char *listen, const char *data_dir)
{
	if (listen != NULL && config_set_listen(c, listen) != 0)
		return -1;
	if (data_dir != NULL && (data_dir[0] == '\0' ||
	    (size_t)snprintf(c->data_dir, sizeof(c->data_dir), "%s",
	    data_dir) >= sizeof(c->data_dir)))
		return -1;
	return 0;
}

struct config *
config_read(const char *path, const char *listen, const char *data_dir,
    char *err, size_t errsz)
{
	struct config *c = malloc(sizeof(*c));

	if (c == NULL) {
		snprintf(err, errsz, "out of memory");
		return NULL;
	}
	config_defaults(c);
	if (path != NULL && config_load(c, path, err, errsz) != 0)
		goto fail;
	if (config_apply_flags(c, listen, data_dir) != 0) {
		snprintf(err, errsz, "bad -l or -d value");
		goto fail;
	}
	return c;
fail:
	config_free(c);
	free(c);
	return NULL;
}
