/*
 * config: hookd's settings: the defaults of contract §7, the config file (one
 * `key value...` per line, `#` comments; its client, endpoint and route lines
 * are config_regs.c's), the flags laid over it, and the settings in force.
 * Every value is range-checked here so the rest can trust it.
 */
#include "config.h"
#include "config_impl.h"

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
#include "util.h"
#include "version.h"

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
	/* Contract §17: the low 8 bits of every id this node gives out, so
	 * that nodes with different values never give out the same id and a
	 * client moved between them (hookd import) meets no collision. */
	{ "node_id", CONFIG_SIZE,
	    offsetof(struct config, node_id), 0, 255 },
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
	"route", "ops_url", "ops_secret",
};

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
	/* What an operator types most; it names the loopback whatever
	 * /etc/hosts says (RFC 6761 §6.3), so no lookup is needed. */
	if (value[0] != '[' && util_span_ieq(host, hlen, "localhost"))
		snprintf(host, sizeof(host), "127.0.0.1");
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

/*
 * Words of the file (len bytes of s) as an error message shows them:
 * through log_quote, the one quoter of hookd, so that invalid UTF-8 or
 * control bytes in a broken or hostile file never reach a terminal or a log
 * raw. in_quotes: always in double quotes, else bare when printable. Cut at
 * CONFIG_QUOTE_MAX bytes (a key is short; a longer word is not one).
 * Returns out (outsz bytes, at least CONFIG_QUOTE_MAX + 3).
 */
const char *
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

/* A duration setting of config_scalars (s) into *ms. */
static int
config_duration(const struct config_scalar *s, const char *value,
    int64_t *ms, const char **why, char *whybuf, size_t whysz)
{
	if (strchr(value, ',') != NULL) {
		snprintf(whybuf, whysz, "%s takes one duration, and a comma "
		    "is no part of one (e.g. %s 15s; lists of durations are "
		    "space-separated)", s->key, s->key);
		*why = whybuf;
		return -1;
	}
	if (util_parse_duration(value, strlen(value), (int64_t)s->max,
	    ms) != 0 || *ms < (int64_t)s->min) {
		snprintf(whybuf, whysz, "%s must be one duration, a number "
		    "with an optional unit (ms, s, m, h, d; seconds when none) "
		    "from %llums to %llums, e.g. %s 15s", s->key,
		    (unsigned long long)s->min, (unsigned long long)s->max,
		    s->key);
		*why = whybuf;
		return -1;
	}
	return 0;
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
	if (config_duration(s, value, &ms, why, whybuf, whysz) != 0)
		return -1;
	*(int64_t *)(void *)field = ms;
	return 0;
}

/* ---- delivery policy (contract §15) ---- */

/* An exponent beyond this many digits' worth is out of range whatever the
 * mantissa (the text is at most a line long): clamping it keeps a huge
 * "1e99999999999" from overflowing the sum below. */
#define RATE_EXP_CLAMP 100000

/* One digit c of a rate's mantissa, whole part or fraction alike: leading
 * zeros skipped, the first 9 significant digits into *m, a later zero
 * only raises *exp. -1 for a later nonzero digit (too precise). */
static int
rate_digit(char c, uint64_t *m, size_t *nsig, long *exp)
{
	if (*nsig == 0 && c == '0')
		return 0;
	if ((*nsig)++ < 9)
		*m = *m * 10 + (uint64_t)(c - '0');
	else if (c != '0')
		return -1;
	else
		(*exp)++;
	return 0;
}

int
config_check_rate(const char *s, size_t len, uint32_t *milli,
    const char **why)
{
	size_t i = 0, nsig = 0;
	uint64_t m = 0;
	long exp = 0, e = 0;
	int eneg = 0, digits = 0;

	*why = "rate_limit must be a number of deliveries a second from "
	    "0.001 to 10000 (at most 3 decimals, e.g. 20 or 0.5)";
	/* Judged by its value, not its text: a JSON number (RFC 8259 §6,
	 * leading zeros allowed), the value m * 10^exp with m its
	 * significant digits. Digits past the 8 a rate in range can have
	 * must be trailing zeros, which only move exp. */
	for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, digits++)
		if (rate_digit(s[i], &m, &nsig, &exp) != 0)
			return -1;
	if (digits == 0)
		return -1;
	if (i < len && s[i] == '.') {
		for (i++, digits = 0; i < len && s[i] >= '0' && s[i] <= '9';
		    i++, digits++) {
			if (rate_digit(s[i], &m, &nsig, &exp) != 0)
				return -1;
			exp--;
		}
		if (digits == 0)
			return -1;
	}
	if (i < len && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < len && (s[i] == '+' || s[i] == '-'))
			eneg = s[i++] == '-';
		for (digits = 0; i < len && s[i] >= '0' && s[i] <= '9';
		    i++, digits++)
			if (e < RATE_EXP_CLAMP)
				e = e * 10 + (s[i] - '0');
		if (digits == 0)
			return -1;
		exp += eneg ? -e : e;
	}
	if (i != len || m == 0)
		return -1;
	/* Thousandths: m * 10^(exp + 3), a whole number from 1 to
	 * CONFIG_RATE_MAX * 1000. */
	for (exp += 3; exp < 0; exp++) {
		if (m % 10 != 0)
			return -1;	/* more than 3 decimals */
		m /= 10;
	}
	for (; exp > 0; exp--)
		if ((m *= 10) > (uint64_t)CONFIG_RATE_MAX * 1000)
			return -1;
	if (m > (uint64_t)CONFIG_RATE_MAX * 1000)
		return -1;
	*milli = (uint32_t)m;
	return 0;
}

int
config_check_ordering(const char *s, size_t len, int *fifo, const char **why)
{
	if (util_span_eq(s, len, "fifo"))
		*fifo = 1;
	else if (util_span_eq(s, len, "none"))
		*fifo = 0;
	else {
		*why = "ordering must be \"fifo\" or \"none\"";
		return -1;
	}
	return 0;
}

int
config_check_timeout(const char *s, int64_t *ms, const char **why,
    char *whybuf, size_t whysz)
{
	size_t i;

	for (i = 0; strcmp(config_scalars[i].key, "timeout") != 0; i++)
		;
	return config_duration(&config_scalars[i], s, ms, why, whybuf,
	    whysz);
}

int
config_check_retry(const char *const *words, size_t n, int64_t *ms,
    const char **why)
{
	size_t k;

	/* Each delay is one more attempt: a bound keeps a delivery's log
	 * and its attempt count (8 bits) small. */
	if (n == 0 || n > CONFIG_MAX_RETRIES) {
		*why = "retry_schedule needs at least 1 and at most 32 "
		    "delays";
		return -1;
	}
	for (k = 0; k < n; k++)
		if (util_parse_duration(words[k], strlen(words[k]),
		    CONFIG_RETRY_MAX_MS, &ms[k]) != 0) {
			*why = "retry_schedule takes durations (ms, s, m, h, "
			    "d; seconds when none) of at most 7d, e.g. "
			    "retry_schedule 5s 5m 30m";
			return -1;
		}
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
		int64_t ms[CONFIG_MAX_RETRIES];

		if (config_comma_mistake(v, n, "delays", whybuf, whysz)) {
			*why = whybuf;
			return -1;
		}
		if (config_check_retry((const char *const *)(v + 1),
		    (size_t)(n - 1), ms, why) != 0)
			return -1;
		memcpy(c->retry_ms, ms, (size_t)(n - 1) * sizeof(ms[0]));
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
			*why = "listen must be " CONFIG_LISTEN_FORMS;
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
		/* O_NONBLOCK: a FIFO put there must not hang a start or a
		 * SIGHUP reload in open(2); it is then refused below. */
		fd = open(v[1], O_RDONLY | O_CLOEXEC | O_NONBLOCK);
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
	if (strcmp(key, "ops_url") == 0 || strcmp(key, "ops_secret") == 0) {
		c->ops_line = line;
		return config_ops_set(c, key, v[1], why, whybuf, whysz);
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

/* The next line of f into line (room for CONFIG_LINE_MAX + 1 bytes), its
 * newline kept and a NUL after it, its length (NUL bytes in it counted) in
 * *len. 1, 0 at the end of f (or a read error: ferror), or -1 when the line
 * is longer than CONFIG_LINE_MAX: at most that much is read of it, so a
 * file of one endless line costs no memory (getline would hold it all). */
static int
config_read_line(FILE *f, char *line, size_t *len)
{
	int ch;

	*len = 0;
	while ((ch = getc(f)) != EOF) {
		if (*len == CONFIG_LINE_MAX)
			return -1;
		line[(*len)++] = (char)ch;
		if (ch == '\n')
			break;
	}
	line[*len] = '\0';
	return *len > 0;
}

int
config_load_stream(struct config *c, FILE *f, const char *path, int shared,
    char *err, size_t errsz)
{
	char line[CONFIG_LINE_MAX + 1], *words[CONFIG_MAX_WORDS];
	char whybuf[256];
	const char *why = NULL;
	size_t len, i;
	int lineno = 0, n, k, r, rc = -1;

	while ((r = config_read_line(f, line, &len)) != 0) {
		lineno++;
		if (r < 0) {
			why = "line too long";
			goto fail;
		}
		if (line[len - 1] == '\n')
			line[--len] = '\0';
		if (len > 0 && line[len - 1] == '\r')
			line[--len] = '\0';
		for (i = 0; i < len; i++) {
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
	if (config_ops_check(c, &why, whybuf, sizeof(whybuf)) != 0) {
		lineno = c->ops_line;
		goto fail;
	}
	rc = 0;
	goto out;
fail:
	snprintf(err, errsz, "%s:%d: %s", path, lineno, why);
out:
	return rc;
}

/* 1 when st is /dev/null's: "no config" (-c /dev/null), read as empty. */
static int
config_is_dev_null(const struct stat *st)
{
	struct stat null;

	return S_ISCHR(st->st_mode) && stat("/dev/null", &null) == 0 &&
	    S_ISCHR(null.st_mode) && st->st_rdev == null.st_rdev;
}

int
config_load(struct config *c, const char *path, char *err, size_t errsz)
{
	FILE *f;
	struct stat st;
	int fd, rc, shared;

	/* O_NONBLOCK: a FIFO or a device named as the config must not hang
	 * a start or a SIGHUP reload in open(2) or in reading; only a
	 * regular file is read (its reads never block). */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		util_err_set(err, errsz, path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0) {
		util_err_set(err, errsz, path, strerror(errno));
		(void)close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode) && !config_is_dev_null(&st)) {
		util_err_set(err, errsz, path, S_ISDIR(st.st_mode) ?
		    "is a directory, not a config file" :
		    "not a regular file (a config file is read whole at start "
		    "and at each SIGHUP)");
		(void)close(fd);
		return -1;
	}
	if ((f = fdopen(fd, "r")) == NULL) {
		util_err_set(err, errsz, path, strerror(errno));
		(void)close(fd);
		return -1;
	}
	shared = (st.st_mode & 077) != 0;
	rc = config_load_stream(c, f, path, shared, err, errsz);
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

const char *
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

const char *
config_fmt_rate(uint32_t milli, char *out, size_t outsz)
{
	char frac[8];
	size_t n;

	snprintf(frac, sizeof(frac), "%03u", (unsigned)(milli % 1000));
	for (n = 3; n > 0 && frac[n - 1] == '0'; n--)
		frac[n - 1] = '\0';
	snprintf(out, outsz, "%u%s%s", (unsigned)(milli / 1000),
	    n > 0 ? "." : "", frac);
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
	snprintf(out, outsz, "listen=%s data_dir=%s node_id=%zu fsync=%s "
	    "allow_destinations=%s metrics=%s max_body=%zu "
	    "max_connections=%zu timeout=%s retries=%zu body_timeout=%s "
	    "max_outbound=%zu max_inflight_per_client=%zu "
	    "retention=%s static_clients=%zu static_endpoints=%zu "
	    "routes=%zu ops_url=%.*s",
	    c->listen, c->data_dir, c->node_id,
	    c->fsync_always ? "always" : "never",
	    c->nallow > 0 ? allow : "none", c->metrics ? "on" : "off",
	    c->max_body, c->max_connections,
	    config_fmt_duration(c->timeout_ms, t1, sizeof(t1)), c->nretry,
	    config_fmt_duration(c->body_timeout_ms, t2, sizeof(t2)),
	    c->max_outbound, config_client_inflight(c),
	    config_fmt_duration(c->retention_ms, t3, sizeof(t3)), clients,
	    endpoints, c->nroutes, c->ops_url[0] != '\0' ?
	    (int)strcspn(c->ops_url, "?#") : 4,
	    c->ops_url[0] != '\0' ? c->ops_url : "none");
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
