/*
 * url: parses http:// callback URLs strictly, fills their {name} templates and
 * GET query strings from an event's data, and decides which destination
 * addresses hookd may connect to (contract §8, the SSRF rules).
 */
#include "url.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "version.h"

/*
 * Limits. URL_MAX and URL_HOST_MAX are in url.h.
 * URL_LABEL_MAX: RFC 1035's longest DNS label; a longer one can never
 * resolve, and refusing it early keeps odd names out of logs and resolvers.
 * URL_NAME_MAX: RFC 1035's longest name (without a trailing dot).
 * URL_V6_TEXT_MAX: longest textual IPv6 address (INET6_ADDRSTRLEN - 1), the
 * bound checked before a bracketed literal is copied for inet_pton.
 * URL_CIDR_TEXT_MAX: longest "address/bits" accepted by url_cidr_parse, so
 * the copy for inet_pton is bounded.
 */
#define URL_LABEL_MAX		63
#define URL_NAME_MAX		253
#define URL_V6_TEXT_MAX		45
#define URL_CIDR_TEXT_MAX	64

static const char url_hex[] = "0123456789ABCDEF";

static int
url_is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int
url_is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static int
url_is_hexdig(unsigned char c)
{
	return util_hex_digit(c, 0) >= 0;
}

/* RFC 3986 unreserved: the bytes url_encode leaves alone. */
static int
url_is_unreserved(unsigned char c)
{
	return url_is_alpha(c) || url_is_digit(c) || c == '-' || c == '.' ||
	    c == '_' || c == '~';
}

/*
 * Bytes allowed as themselves in the path and query: RFC 3986 pchar, '/' and
 * '?', plus '{' and '}' for templates ('%' is checked separately). Anything
 * else (quotes, '<', '\\', '|', ...) is refused rather than passed on: such
 * bytes are read differently by different receivers and proxies.
 */
static int
url_is_path_char(unsigned char c)
{
	if (url_is_unreserved(c))
		return 1;
	switch (c) {
	case '!': case '$': case '&': case '\'': case '(': case ')':
	case '*': case '+': case ',': case ';': case '=':
	case ':': case '@': case '/': case '?': case '{': case '}':
		return 1;
	default:
		return 0;
	}
}

/*
 * Strict dotted quad: exactly four decimal parts of 0..255 with no leading
 * zeros. inet_aton() also reads "127.1", "0x7f.1" and "017.0.0.1" (octal);
 * refusing every such spelling keeps one address from having many names
 * that slip past a check written for one of them.
 */
static int
url_parse_v4(const char *s, size_t len, uint8_t out[4])
{
	size_t i = 0;
	int part;

	for (part = 0; part < 4; part++) {
		unsigned v = 0;
		size_t n = 0;

		if (part > 0) {
			if (i >= len || s[i] != '.')
				return -1;
			i++;
		}
		while (i < len && url_is_digit((unsigned char)s[i]) && n < 4) {
			v = v * 10 + (unsigned)(s[i] - '0');
			i++;
			n++;
		}
		if (n == 0 || n > 3 || v > 255 || (n > 1 && s[i - n] == '0'))
			return -1;
		out[part] = (uint8_t)v;
	}
	return i == len ? 0 : -1;
}

/* A textual IPv6 address (no brackets, no zone) of len bytes. */
static int
url_parse_v6(const char *s, size_t len, uint8_t out[16])
{
	char tmp[URL_V6_TEXT_MAX + 1];
	struct in6_addr a;

	/* A NUL would end the copy early for inet_pton: "::1\0junk". */
	if (len == 0 || len > URL_V6_TEXT_MAX || memchr(s, '%', len) != NULL ||
	    memchr(s, '\0', len) != NULL)
		return -1;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	if (inet_pton(AF_INET6, tmp, &a) != 1)
		return -1;
	memcpy(out, a.s6_addr, 16);
	return 0;
}

/*
 * 1 when a host label reads as a number to inet_aton(): decimal digits
 * (octal with a leading 0), or "0x" and hex digits. A host whose last label
 * is such a number is an IPv4 address to resolvers and must be a strict
 * dotted quad: "127.1", "2130706433" or "0x7f.0.0.1" would otherwise reach
 * 127.0.0.1 under a name that does not look like it.
 */
static int
url_label_is_number(const char *s, size_t len)
{
	size_t i = 0;

	if (len >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		for (i = 2; i < len; i++)
			if (!url_is_hexdig((unsigned char)s[i]))
				return 0;
		return 1;
	}
	if (len == 0)
		return 0;
	for (i = 0; i < len; i++)
		if (!url_is_digit((unsigned char)s[i]))
			return 0;
	return 1;
}

/*
 * A registered name: labels of letters, digits, underscores and inner
 * hyphens (RFC 3986 reg-name, as container and service names use them:
 * "hook_receiver"), separated by single dots, none empty, within the RFC
 * 1035 lengths. One trailing dot is allowed: "example.com." is the fully
 * qualified form of the same name (RFC 1034 §3.1). 0 or -1.
 */
static int
url_check_reg_name(const char *s, size_t len)
{
	size_t i, start = 0;

	if (len > 1 && s[len - 1] == '.')
		len--;
	if (len == 0 || len > URL_NAME_MAX)
		return -1;
	for (i = 0; i <= len; i++) {
		size_t n;

		if (i < len && s[i] != '.') {
			unsigned char c = (unsigned char)s[i];

			if (!url_is_alpha(c) && !url_is_digit(c) && c != '-' &&
			    c != '_')
				return -1;
			continue;
		}
		n = i - start;
		if (n == 0 || n > URL_LABEL_MAX || s[start] == '-' ||
		    s[i - 1] == '-')
			return -1;
		start = i + 1;
	}
	return 0;
}

/* Parse the authority (host and optional port) of len bytes into u. */
static int
url_parse_authority(const char *s, size_t len, struct url *u,
    const char **err)
{
	const char *host, *port = NULL;
	size_t hlen, plen = 0, i;
	uint8_t a[16];
	uint64_t v;

	/* Userinfo ("user:pass@host") is refused: it would be sent nowhere, and
	 * "http://good.example@evil.example/" misleads whoever reads it. */
	if (memchr(s, '@', len) != NULL) {
		*err = "url: userinfo is not allowed";
		return -1;
	}
	if (len > 0 && s[0] == '[') {
		const char *end = memchr(s, ']', len);

		if (end == NULL) {
			*err = "url: invalid host";
			return -1;
		}
		host = s + 1;
		hlen = (size_t)(end - host);
		/* A zone id names an interface of this machine: link-local
		 * destinations are never wanted, and "%25" parsing differs
		 * between implementations. */
		if (memchr(host, '%', hlen) != NULL) {
			*err = "url: IPv6 zone ids are not allowed";
			return -1;
		}
		if (url_parse_v6(host, hlen, a) != 0) {
			*err = "url: invalid IPv6 address";
			return -1;
		}
		if ((size_t)(end + 1 - s) < len) {
			if (end[1] != ':') {
				*err = "url: invalid host";
				return -1;
			}
			port = end + 2;
			plen = len - (size_t)(port - s);
		}
		u->is_literal = 1;
	} else {
		const char *colon = memchr(s, ':', len);
		const char *last;
		size_t nlen;

		host = s;
		hlen = colon != NULL ? (size_t)(colon - s) : len;
		if (colon != NULL) {
			port = colon + 1;
			plen = len - hlen - 1;
		}
		if (hlen == 0) {
			*err = "url: empty host";
			return -1;
		}
		if (url_check_reg_name(host, hlen) != 0) {
			*err = "url: invalid host";
			return -1;
		}
		/* The last label is the one before a trailing dot: "1.2.3.4."
		 * is a number to resolvers too, so it is held to the dotted
		 * quad rule (and, with its dot, refused by it). */
		nlen = host[hlen - 1] == '.' ? hlen - 1 : hlen;
		last = host + nlen;
		while (last > host && last[-1] != '.')
			last--;
		if (url_label_is_number(last, nlen - (size_t)(last - host))) {
			if (url_parse_v4(host, hlen, a) != 0) {
				*err = "url: numeric host is not a dotted quad";
				return -1;
			}
			u->is_literal = 1;
		}
	}
	if (hlen >= sizeof(u->host)) {
		*err = "url: invalid host";
		return -1;
	}
	for (i = 0; i < hlen; i++) {
		char c = host[i];

		u->host[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
	}
	u->host[hlen] = '\0';
	u->port = u->tls ? 443 : 80;
	if (port != NULL) {
		/* An empty port ("host:") is legal RFC 3986 but almost always a
		 * mistake; port 0 cannot be connected to. */
		if (plen > 5 || util_parse_u64(port, plen, 65535, &v) != 0 ||
		    v == 0) {
			*err = "url: invalid port";
			return -1;
		}
		u->port = (uint16_t)v;
	}
	return 0;
}

uint16_t
url_default_port(const struct url *u)
{
	return u->tls ? 443 : 80;
}

int
url_parse(const char *s, size_t len, struct url *u, const char **err)
{
	size_t i, alen;
	const char *auth, *rest, *end = s + len;

	memset(u, 0, sizeof(*u));
	/* Bound before scanning: a callback URL is stored with every delivery. */
	if (len > URL_MAX) {
		*err = "url: too long";
		return -1;
	}
	if (len >= 8 && util_span_ieq(s, 8, "https://")) {
		/* Contract §13: the plain build has no TLS to speak. */
		if (!HOOKD_HAS_TLS) {
			*err = "https needs hookd built with TLS "
			    "(make TLS=openssl)";
			return -1;
		}
		u->tls = 1;
	} else if (len < 7 || !util_span_ieq(s, 7, "http://")) {
		*err = HOOKD_HAS_TLS ?
		    "url: only http:// and https:// are supported" :
		    "url: only http:// is supported";
		return -1;
	}
	/* Printable ASCII only: spaces, CR/LF and other controls would split
	 * the request line or inject headers; non-ASCII bytes have no single
	 * meaning on the wire. */
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= 0x20 || c >= 0x7f) {
			*err = "url: invalid character";
			return -1;
		}
	}
	/* A fragment is never sent to the server; accepting one would make the
	 * stored URL differ from what is delivered. */
	if (memchr(s, '#', len) != NULL) {
		*err = "url: fragments are not allowed";
		return -1;
	}
	auth = s + (u->tls ? 8 : 7);
	rest = auth;
	while (rest < end && *rest != '/' && *rest != '?')
		rest++;
	alen = (size_t)(rest - auth);
	if (alen == 0) {
		*err = "url: empty host";
		return -1;
	}
	if (url_parse_authority(auth, alen, u, err) != 0)
		return -1;
	if (rest < end && *rest == '?') {
		/* The request target would have to be "/?..." which is not a span
		 * of the input; asking for the '/' keeps parsing allocation-free. */
		*err = "url: a query needs a path (http://host/?...)";
		return -1;
	}
	for (i = (size_t)(rest - s); i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '%') {
			if (i + 2 >= len || !url_is_hexdig((unsigned char)s[i + 1]) ||
			    !url_is_hexdig((unsigned char)s[i + 2])) {
				*err = "url: invalid percent-encoding";
				return -1;
			}
			i += 2;
		} else if (!url_is_path_char(c)) {
			*err = "url: invalid character";
			return -1;
		}
	}
	if (rest == end) {
		u->path = "/";
		u->path_len = 1;
	} else {
		u->path = rest;
		u->path_len = (size_t)(end - rest);
	}
	return 0;
}

int
url_normalize(const char *s, size_t len, char *out, size_t outsz,
    const char **err)
{
	char v6[INET6_ADDRSTRLEN];
	const char *host;
	struct url u;
	uint8_t a[16];
	size_t i, k;
	int n, bracket;

	if (url_parse(s, len, &u, err) != 0)
		return -1;
	/* url_parse lowered the host; a v4 literal is a strict dotted quad
	 * already, a v6 one may be spelt many ways ("::1", "0:0::1"). */
	host = u.host;
	bracket = u.is_literal && strchr(u.host, ':') != NULL;
	if (bracket) {
		if (url_parse_v6(u.host, strlen(u.host), a) != 0 ||
		    inet_ntop(AF_INET6, a, v6, sizeof(v6)) == NULL) {
			*err = "url: invalid IPv6 address";
			return -1;
		}
		host = v6;
	}
	n = snprintf(out, outsz, "%s://%s%s%s", u.tls ? "https" : "http",
	    bracket ? "[" : "", host, bracket ? "]" : "");
	if (n < 0 || (size_t)n >= outsz)
		goto too_long;
	k = (size_t)n;
	if (u.port != url_default_port(&u)) {
		n = snprintf(out + k, outsz - k, ":%u", (unsigned)u.port);
		if (n < 0 || (size_t)n >= outsz - k)
			goto too_long;
		k += (size_t)n;
	}
	/* url_parse checked every escape: '%' and two hex digits. */
	for (i = 0; i < u.path_len; i++) {
		int hi, lo;

		if (u.path[i] != '%') {
			if (outsz - k < 2)
				goto too_long;
			out[k++] = u.path[i];
			continue;
		}
		hi = util_hex_digit((unsigned char)u.path[i + 1], 0);
		lo = util_hex_digit((unsigned char)u.path[i + 2], 0);
		i += 2;
		if (url_is_unreserved((unsigned char)(hi * 16 + lo))) {
			if (outsz - k < 2)
				goto too_long;
			out[k++] = (char)(hi * 16 + lo);
		} else {
			if (outsz - k < 4)
				goto too_long;
			out[k++] = '%';
			out[k++] = url_hex[hi];
			out[k++] = url_hex[lo];
		}
	}
	out[k] = '\0';
	return 0;
too_long:
	*err = "url: too long";
	return -1;
}

int
url_template_check(const char *s, size_t len, const char **err)
{
	size_t i;
	int open = 0;

	/* A stray brace would be sent as it is, or swallow text up to the
	 * next one: either way not what the registrant meant. */
	for (i = 0; i < len; i++) {
		if (s[i] == '{') {
			if (open) {
				*err = "url: unbalanced { in a template (a "
				    "{name} cannot hold another {)";
				return -1;
			}
			open = 1;
		} else if (s[i] == '}') {
			if (!open) {
				*err = "url: unbalanced } in a template (no { "
				    "before it)";
				return -1;
			}
			if (s[i - 1] == '{') {
				*err = "url: empty {} in a template (write "
				    "{name})";
				return -1;
			}
			open = 0;
		}
	}
	if (open) {
		*err = "url: unbalanced { in a template (no } after it)";
		return -1;
	}
	return 0;
}

int
url_encode(struct buf *out, const char *s, size_t n)
{
	char *p;
	size_t i;

	if (n > SIZE_MAX / 3 || buf_reserve(out, n * 3) != 0)
		return -1;
	p = out->data + out->len;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (url_is_unreserved(c)) {
			*p++ = (char)c;
		} else {
			*p++ = '%';
			*p++ = url_hex[c >> 4];
			*p++ = url_hex[c & 15];
		}
	}
	out->len = (size_t)(p - out->data);
	out->data[out->len] = '\0';
	return 0;
}

/*
 * Percent-encode the value toks[v] onto out: strings decoded first (scratch
 * holds the decoded text), every other type as its JSON text. 0 or -1.
 */
static int
url_encode_value(struct buf *out, struct buf *scratch, const char *json,
    const struct json_tok *t)
{
	if (t->type == JSON_STRING) {
		buf_reset(scratch);
		if (json_str_buf(json, t, scratch) != 0)
			return -1;
		return url_encode(out, scratch->data, scratch->len);
	}
	return url_encode(out, json + t->start, t->len);
}

/*
 * Index of the value of the first member of object toks[obj] whose decoded
 * key is exactly the n bytes at name, or -1. Unlike json_get, the name is a
 * span that may hold any byte, so the comparison is length and bytes.
 */
static int
url_find_member(const char *json, const struct json_tok *toks, int obj,
    const char *name, size_t n)
{
	char key[URL_MAX + 1];
	uint32_t m, i;

	if (toks[obj].type != JSON_OBJECT || n > URL_MAX)
		return -1;
	i = (uint32_t)obj + 1;
	for (m = 0; m < toks[obj].size; m++) {
		int klen = json_str(json, &toks[i], key, n + 1);

		if (klen >= 0 && (size_t)klen == n && memcmp(key, name, n) == 0)
			return (int)i + 1;
		i = toks[i + 1].next;
	}
	return -1;
}

int
url_expand(struct buf *out, const char *url, size_t len,
    const char *json, const struct json_tok *toks, int obj,
    char *missing, size_t missing_sz)
{
	struct buf scratch = {0};
	size_t i = 0, start = out->len, vstart;
	int rc = 0;

	while (i < len) {
		const char *open = memchr(url + i, '{', len - i);
		const char *close, *name;
		size_t n;
		int v;

		if (open == NULL) {
			buf_append(out, url + i, len - i);
			break;
		}
		buf_append(out, url + i, (size_t)(open - (url + i)));
		i = (size_t)(open - url);
		name = open + 1;
		close = NULL;
		for (n = 0; i + 1 + n < len; n++) {
			if (name[n] == '}') {
				close = name + n;
				break;
			}
			if (name[n] == '{')
				break;
		}
		/* '{' with no '}' before the next '{' or the end, and "{}", are
		 * plain text: there is no name to fill in. */
		if (close == NULL || n == 0) {
			buf_append(out, "{", 1);
			i++;
			continue;
		}
		v = url_find_member(json, toks, obj, name, n);
		/* null counts as missing: "/orders/null" or "/orders/" would
		 * reach the wrong resource instead of failing visibly. */
		if (v < 0 || toks[v].type == JSON_NULL) {
			if (missing_sz > 0) {
				size_t k = n < missing_sz - 1 ? n : missing_sz - 1;

				memcpy(missing, name, k);
				missing[k] = '\0';
			}
			rc = -1;
			break;
		}
		/* Fails only for lack of memory: json_parse's strings decode. */
		vstart = out->len;
		if (url_encode_value(out, &scratch, json, &toks[v]) != 0) {
			rc = -2;
			break;
		}
		/* "." and ".." are left as they are by percent-encoding and
		 * would move the request to another path (RFC 3986 §5.2.4). */
		if (util_span_eq(out->data + vstart, out->len - vstart, ".") ||
		    util_span_eq(out->data + vstart, out->len - vstart, "..")) {
			rc = -3;
			break;
		}
		i += n + 2;
	}
	if (out->oom || scratch.oom)
		rc = -2;
	buf_free(&scratch);
	if ((rc == -1 || rc == -3) && out->data != NULL) {
		out->len = start;
		out->data[start] = '\0';
	}
	return rc;
}

int
url_query(struct buf *out, const char *json, const struct json_tok *toks,
    int obj)
{
	struct buf scratch = {0};
	uint32_t m, i;
	int first = 1, rc = 0;

	if (toks[obj].type != JSON_OBJECT)
		return 0;
	i = (uint32_t)obj + 1;
	for (m = 0; m < toks[obj].size && rc == 0; m++) {
		const struct json_tok *k = &toks[i], *v = &toks[i + 1];

		i = v->next;
		if (v->type == JSON_NULL)
			continue;
		if (!first)
			buf_append(out, "&", 1);
		first = 0;
		if (url_encode_value(out, &scratch, json, k) != 0 ||
		    buf_append(out, "=", 1) != 0 ||
		    url_encode_value(out, &scratch, json, v) != 0)
			rc = -1;
	}
	if (out->oom || scratch.oom)
		rc = -1;
	buf_free(&scratch);
	return rc;
}

int
url_cidr_parse(const char *s, size_t len, struct url_cidr *c)
{
	const char *slash = memchr(s, '/', len);
	size_t alen = slash != NULL ? (size_t)(slash - s) : len;
	int max, i;
	uint64_t bits;

	memset(c, 0, sizeof(*c));
	if (util_span_eq(s, len, "all")) {
		c->family = AF_UNSPEC;
		return 0;
	}
	if (len > URL_CIDR_TEXT_MAX)
		return -1;
	if (url_parse_v4(s, alen, c->addr) == 0) {
		c->family = AF_INET;
		max = 32;
	} else if (url_parse_v6(s, alen, c->addr) == 0) {
		c->family = AF_INET6;
		max = 128;
	} else
		return -1;
	c->bits = max;
	if (slash != NULL) {
		const char *b = slash + 1;
		size_t blen = len - alen - 1;

		/* No leading zeros: "/08" is more likely a typo than a /8. */
		if ((blen > 1 && b[0] == '0') ||
		    util_parse_u64(b, blen, (uint64_t)max, &bits) != 0)
			return -1;
		c->bits = (int)bits;
	}
	/* Host bits set ("10.0.0.1/8") are refused, not masked: the entry
	 * would not mean what it says, and an allow list must be exact. */
	for (i = c->bits; i < max; i++)
		if (c->addr[i / 8] & (0x80 >> (i % 8)))
			return -1;
	return 0;
}

int
url_host_literal(const char *host, struct sockaddr_storage *ss)
{
	size_t len = strlen(host);
	uint8_t a[16];

	memset(ss, 0, sizeof(*ss));
	if (url_parse_v4(host, len, a) == 0) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, a, 4);
		return 0;
	}
	if (memchr(host, ':', len) != NULL && url_parse_v6(host, len, a) == 0) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		memcpy(sin6->sin6_addr.s6_addr, a, 16);
		return 0;
	}
	return -1;
}

/* 1 when the first bits bits of a and p agree. */
static int
url_prefix_match(const uint8_t *a, const uint8_t *p, int bits)
{
	int whole = bits / 8, rest = bits % 8;

	if (memcmp(a, p, (size_t)whole) != 0)
		return 0;
	if (rest == 0)
		return 1;
	return ((a[whole] ^ p[whole]) & (0xff00 >> rest) & 0xff) == 0;
}

/* 1 when an allow entry of family covers addr (AF_UNSPEC entries cover
 * everything). */
static int
url_allowed_by(const uint8_t *addr, int family, const struct url_cidr *allow,
    size_t nallow)
{
	size_t i;

	for (i = 0; i < nallow; i++) {
		if (allow[i].family == AF_UNSPEC)
			return 1;
		if (allow[i].family == family &&
		    url_prefix_match(addr, allow[i].addr, allow[i].bits))
			return 1;
	}
	return 0;
}

struct url_range {
	uint8_t addr[16];
	int bits;
	const char *cls;	/* the class named in "destination not allowed" */
};

/*
 * IPv4 destinations refused (IANA IPv4 special-purpose registry, RFC 6890
 * and its updates, plus multicast): none of them is a public web server, and
 * each reaches this host, its network, or something that is not a host.
 * The registry's few globally reachable blocks (AS112, AMT, 192.0.0.9/.10)
 * are not listed except as part of 192.0.0.0/24, which is refused whole.
 */
static const struct url_range url_deny4[] = {
	{ { 0, 0, 0, 0 }, 8, "unspecified" },		/* "this network" */
	{ { 10, 0, 0, 0 }, 8, "private" },		/* RFC 1918 */
	{ { 100, 64, 0, 0 }, 10, "CGNAT" },	/* CGNAT, RFC 6598 */
	{ { 127, 0, 0, 0 }, 8, "loopback" },	/* loopback */
	{ { 169, 254, 0, 0 }, 16, "link-local" },	/* link-local, cloud metadata */
	{ { 172, 16, 0, 0 }, 12, "private" },	/* RFC 1918 */
	{ { 192, 0, 0, 0 }, 24, "reserved" },	/* IETF protocol assignments */
	{ { 192, 0, 2, 0 }, 24, "documentation" },	/* TEST-NET-1 */
	{ { 192, 88, 99, 0 }, 24, "reserved" },	/* 6to4 relay anycast (deprecated) */
	{ { 192, 168, 0, 0 }, 16, "private" },	/* RFC 1918 */
	{ { 198, 18, 0, 0 }, 15, "benchmarking" },	/* benchmarking */
	{ { 198, 51, 100, 0 }, 24, "documentation" },	/* TEST-NET-2 */
	{ { 203, 0, 113, 0 }, 24, "documentation" },	/* TEST-NET-3 */
	{ { 224, 0, 0, 0 }, 4, "multicast" },	/* multicast */
	{ { 240, 0, 0, 0 }, 4, "reserved" },	/* reserved, and broadcast */
};

/*
 * IPv6 destinations refused. Only 2000::/3 is global unicast today (IANA
 * IPv6 address space registry), so everything outside it is refused as well
 * (url_v6_denied); the entries outside 2000::/3 are listed anyway so the
 * table reads as the registry does. The forms that embed an IPv4 address
 * (IPv4-mapped ::ffff:0:0/96, IPv4-compatible ::/96, NAT64 64:ff9b::/96,
 * 6to4 2002::/16) are judged by that address instead.
 */
static const struct url_range url_deny6[] = {
	/* NAT64 local-use */
	{ { 0x00, 0x64, 0xff, 0x9b, 0x00, 0x01 }, 48, "private" },
	{ { 0x01, 0x00 }, 64, "reserved" },		/* discard-only */
	{ { 0x01, 0x00, 0, 0, 0, 0, 0, 0x01 }, 64, "reserved" },	/* dummy prefix */
	{ { 0x20, 0x01, 0x00, 0x00 }, 23, "reserved" },	/* IETF protocol assignments:
						   Teredo, benchmarking,
						   ORCHID, AS112, ... */
	{ { 0x20, 0x01, 0x0d, 0xb8 }, 32, "documentation" },	/* documentation */
	{ { 0x3f, 0xff }, 20, "documentation" },		/* documentation */
	{ { 0x5f, 0x00 }, 16, "reserved" },		/* SRv6 SIDs */
	{ { 0xfc, 0x00 }, 7, "private" },		/* unique local */
	{ { 0xfe, 0x80 }, 10, "link-local" },		/* link-local */
	{ { 0xfe, 0xc0 }, 10, "private" },		/* site-local (deprecated) */
	{ { 0xff, 0x00 }, 8, "multicast" },		/* multicast */
};

/* The class of the first range of r holding a, or NULL. */
static const char *
url_in_ranges(const uint8_t *a, const struct url_range *r, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (url_prefix_match(a, r[i].addr, r[i].bits))
			return r[i].cls;
	return NULL;
}

static const char *
url_v4_denied(const uint8_t a[4])
{
	return url_in_ranges(a, url_deny4,
	    sizeof(url_deny4) / sizeof(url_deny4[0]));
}

static const char *
url_v6_denied(const uint8_t a[16])
{
	static const uint8_t nat64[12] = { 0x00, 0x64, 0xff, 0x9b };
	static const uint8_t zero[15];
	const char *cls;

	/* ::1 and :: by their own names, not as the 0.0.0.0/8 they embed. */
	if (memcmp(a, zero, 15) == 0)
		return a[15] == 1 ? "loopback" : "unspecified";
	/* IPv4-compatible (deprecated) ::a.b.c.d: stacks with automatic
	 * tunnelling send it to the embedded IPv4 address, so it is judged as
	 * that address. */
	if (memcmp(a, zero, 12) == 0)
		return url_v4_denied(a + 12);
	/* NAT64 well-known prefix: the translator connects to the embedded
	 * IPv4 address, so 64:ff9b::7f00:1 is 127.0.0.1 on its network. */
	if (memcmp(a, nat64, 12) == 0)
		return url_v4_denied(a + 12);
	/* 6to4: the packet is tunnelled to the IPv4 address in bits 16..47.
	 * Judging it (rather than refusing all of 2002::/16) keeps public 6to4
	 * hosts reachable while 2002:7f00:1:: and 2002:a00:1:: stay refused. */
	if (a[0] == 0x20 && a[1] == 0x02)
		return url_v4_denied(a + 2);
	if ((cls = url_in_ranges(a, url_deny6,
	    sizeof(url_deny6) / sizeof(url_deny6[0]))) != NULL)
		return cls;
	/* Outside 2000::/3: reserved. */
	return (a[0] & 0xe0) != 0x20 ? "reserved" : NULL;
}

/* The first 96 bits of an IPv4-mapped IPv6 address, ::ffff:0:0/96
 * (RFC 4291 §2.5.5.2). */
static const uint8_t url_mapped[12] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
};

const char *
url_addr_denied(const struct sockaddr *sa, const struct url_cidr *allow,
    size_t nallow)
{
	const uint8_t *a;

	if (sa == NULL)
		return "unspecified";
	if (sa->sa_family == AF_INET) {
		a = (const uint8_t *)&((const struct sockaddr_in *)
		    (const void *)sa)->sin_addr;
		if (url_allowed_by(a, AF_INET, allow, nallow))
			return NULL;
		return url_v4_denied(a);
	}
	if (sa->sa_family != AF_INET6)
		return "not an IP address";
	a = ((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr.s6_addr;
	if (url_allowed_by(a, AF_INET6, allow, nallow))
		return NULL;
	/* IPv4-mapped: a dual-stack socket connects to the IPv4 address
	 * itself, so it is judged, and allowed, exactly as that address. The
	 * other embedding forms reach a different machine (a translator or a
	 * relay) and are not exempted by IPv4 allow entries. */
	if (memcmp(a, url_mapped, 12) == 0) {
		if (url_allowed_by(a + 12, AF_INET, allow, nallow))
			return NULL;
		return url_v4_denied(a + 12);
	}
	return url_v6_denied(a);
}

int
url_addr_is_loopback(const struct sockaddr *sa)
{
	const uint8_t *a;

	if (sa->sa_family == AF_INET) {
		a = (const uint8_t *)&((const struct sockaddr_in *)
		    (const void *)sa)->sin_addr;
		return a[0] == 127;
	}
	if (sa->sa_family != AF_INET6)
		return 0;
	a = ((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr.s6_addr;
	if (memcmp(a, url_mapped, sizeof(url_mapped)) == 0)
		return a[12] == 127;
	return memcmp(a, &in6addr_loopback, 16) == 0;
}

int
url_addr_allowed(const struct sockaddr *sa, const struct url_cidr *allow,
    size_t nallow)
{
	return url_addr_denied(sa, allow, nallow) == NULL;
}

const char *
url_addr_text(const struct sockaddr *sa, char *out, size_t outsz)
{
	const void *p = sa->sa_family == AF_INET ?
	    (const void *)&((const struct sockaddr_in *)
	    (const void *)sa)->sin_addr :
	    (const void *)&((const struct sockaddr_in6 *)
	    (const void *)sa)->sin6_addr;

	if ((sa->sa_family != AF_INET && sa->sa_family != AF_INET6) ||
	    inet_ntop(sa->sa_family, p, out, (socklen_t)outsz) == NULL)
		(void)snprintf(out, outsz, "?");
	return out;
}

int
url_denied_error(const struct sockaddr *sa, const char *what,
    const struct url_cidr *allow, size_t nallow, char *out, size_t outsz)
{
	const char *cls = url_addr_denied(sa, allow, nallow);
	char text[INET6_ADDRSTRLEN];

	if (cls == NULL)
		return 0;
	if (what == NULL)
		what = url_addr_text(sa, text, sizeof(text));
	/* Truncation only shortens the message. */
	(void)snprintf(out, outsz, "destination not allowed: %s is %s; "
	    "allow_destinations opens it", what, cls);
	return 1;
}

int
url_host_is_localhost(const char *host)
{
	size_t n = strlen(host);

	/* "localhost." is the same name, fully qualified. */
	if (n > 1 && host[n - 1] == '.')
		n--;
	/* RFC 6761 §6.3: these names are loopback, and resolvers must say
	 * so without asking anyone. */
	return util_span_ieq(host, n, "localhost") ||
	    (n > 10 && util_span_ieq(host + n - 10, 10, ".localhost"));
}

int
url_addr_from_sockaddr(const struct sockaddr_storage *ss, struct url_addr *x)
{
	memset(x, 0, sizeof(*x));
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin =
		    (const struct sockaddr_in *)(const void *)ss;

		x->family = AF_INET;
		memcpy(x->addr, &sin->sin_addr, 4);
		return 0;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 =
		    (const struct sockaddr_in6 *)(const void *)ss;

		x->family = AF_INET6;
		memcpy(x->addr, &sin6->sin6_addr, 16);
		return 0;
	}
	return -1;
}

socklen_t
url_addr_to_sockaddr(const struct url_addr *x, uint16_t port,
    struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (x->family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)(void *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		memcpy(&sin->sin_addr, x->addr, 4);
		return (socklen_t)sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)(void *)ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		memcpy(&sin6->sin6_addr, x->addr, 16);
		return (socklen_t)sizeof(*sin6);
	}
}
