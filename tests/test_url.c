/*
 * Tests of url.c: URL parsing at its limits and against SSRF spellings,
 * templates, GET query strings, CIDR parsing and the destination rules.
 */
#include <stdlib.h>
#include <string.h>

#include "../url.c"
#include "unit.h"

#define T_TOKS 64

/* Contract §13: https:// is a URL in the TLS build (make TLS=openssl), and
 * refused with this in the plain one; the rows below hold for the build
 * they are compiled in. */
#define T_NO_TLS "https needs hookd built with TLS (make TLS=openssl)"
#if HOOKD_HAS_TLS
#define T_ONLY_HTTP "url: only http:// and https:// are supported"
#else
#define T_ONLY_HTTP "url: only http:// is supported"
#endif

struct t_parse {
	const char *s;
	const char *host;	/* NULL: the URL is refused with err */
	int port;
	const char *path;
	int lit;
	const char *err;
};

static const struct t_parse t_parse_rows[] = {
	{ "http://example.com", "example.com", 80, "/", 0, NULL },
	{ "HTTP://Example.COM/Path?x=1", "example.com", 80, "/Path?x=1", 0,
	    NULL },
	{ "hTtP://example.com:8080/cb/{refId}?a={b}", "example.com", 8080,
	    "/cb/{refId}?a={b}", 0, NULL },
	{ "http://127.0.0.1/", "127.0.0.1", 80, "/", 1, NULL },
	{ "http://255.255.255.255:1/x", "255.255.255.255", 1, "/x", 1, NULL },
	{ "http://[::1]/x", "::1", 80, "/x", 1, NULL },
	{ "http://[::1]", "::1", 80, "/", 1, NULL },
	{ "http://[2001:DB8::1]:8443/", "2001:db8::1", 8443, "/", 1, NULL },
	{ "http://[::ffff:127.0.0.1]/", "::ffff:127.0.0.1", 80, "/", 1, NULL },
	{ "http://a.b-c.d:65535", "a.b-c.d", 65535, "/", 0, NULL },
	{ "http://h/", "h", 80, "/", 0, NULL },
	{ "http://1.2.3.4.example/", "1.2.3.4.example", 80, "/", 0, NULL },
	{ "http://0x7f.example/", "0x7f.example", 80, "/", 0, NULL },
	{ "http://xn--bcher-kva.example/", "xn--bcher-kva.example", 80, "/", 0,
	    NULL },
	{ "http://example.com/a%2Fb%7e", "example.com", 80, "/a%2Fb%7e", 0,
	    NULL },
	{ "http://example.com/?", "example.com", 80, "/?", 0, NULL },
	/* RFC 3986 reg-names may hold underscores (contract §11). */
	{ "http://hook_receiver:8080/", "hook_receiver", 8080, "/", 0, NULL },
	{ "http://a_b.com/", "a_b.com", 80, "/", 0, NULL },
	/* RFC 3986 §3.2.2 reg-name: the fully qualified form, one trailing
	 * dot, kept as written (lower-cased). */
	{ "http://example.com./x", "example.com.", 80, "/x", 0, NULL },
	{ "http://LOCALHOST.:9/", "localhost.", 9, "/", 0, NULL },
	{ "http://h.:80", "h.", 80, "/", 0, NULL },
	{ "http://_a._b_/", "_a._b_", 80, "/", 0, NULL },
	{ "http://example.com/p:@!$&'()*+,;=-._~/?q=/?", "example.com", 80,
	    "/p:@!$&'()*+,;=-._~/?q=/?", 0, NULL },

#if HOOKD_HAS_TLS
	{ "https://example.com/", "example.com", 443, "/", 0, NULL },
	{ "HTTPS://Example.com", "example.com", 443, "/", 0, NULL },
	{ "https://example.com:80/x?y=1", "example.com", 80, "/x?y=1", 0,
	    NULL },
	{ "https://[::1]:8443/", "::1", 8443, "/", 1, NULL },
	{ "https://10.0.0.1/cb/{id}", "10.0.0.1", 443, "/cb/{id}", 1, NULL },
	{ "https://user@example.com/", NULL, 0, NULL, 0,
	    "url: userinfo is not allowed" },
	{ "https://", NULL, 0, NULL, 0, "url: empty host" },
#else
	{ "https://example.com/", NULL, 0, NULL, 0, T_NO_TLS },
	{ "HTTPS://example.com/", NULL, 0, NULL, 0, T_NO_TLS },
	{ "https://", NULL, 0, NULL, 0, T_NO_TLS },
#endif
	{ "https:/example.com/", NULL, 0, NULL, 0, T_ONLY_HTTP },
	{ "httpss://example.com/", NULL, 0, NULL, 0, T_ONLY_HTTP },
	{ "ftp://example.com/", NULL, 0, NULL, 0,
	    T_ONLY_HTTP },
	{ "http:/example.com/", NULL, 0, NULL, 0,
	    T_ONLY_HTTP },
	{ "example.com", NULL, 0, NULL, 0, T_ONLY_HTTP },
	{ "", NULL, 0, NULL, 0, T_ONLY_HTTP },
	{ "http://user:pw@example.com/", NULL, 0, NULL, 0,
	    "url: userinfo is not allowed" },
	{ "http://example.com@evil.example/", NULL, 0, NULL, 0,
	    "url: userinfo is not allowed" },
	{ "http://@example.com/", NULL, 0, NULL, 0,
	    "url: userinfo is not allowed" },
	{ "http://example.com/#frag", NULL, 0, NULL, 0,
	    "url: fragments are not allowed" },
	{ "http://example.com#", NULL, 0, NULL, 0,
	    "url: fragments are not allowed" },
	{ "http://example.com:0/", NULL, 0, NULL, 0, "url: invalid port" },
	{ "http://example.com:65536/", NULL, 0, NULL, 0, "url: invalid port" },
	{ "http://example.com:abc/", NULL, 0, NULL, 0, "url: invalid port" },
	{ "http://example.com:/", NULL, 0, NULL, 0, "url: invalid port" },
	{ "http://example.com:-1/", NULL, 0, NULL, 0, "url: invalid port" },
	{ "http://example.com:+80/", NULL, 0, NULL, 0, "url: invalid port" },
	{ "http://example.com:000080/", NULL, 0, NULL, 0, "url: invalid port" },
	{ "http://example.com:80:81/", NULL, 0, NULL, 0, "url: invalid port" },
	{ "http://[::1]:/", NULL, 0, NULL, 0, "url: invalid port" },
	{ "http:///path", NULL, 0, NULL, 0, "url: empty host" },
	{ "http://", NULL, 0, NULL, 0, "url: empty host" },
	{ "http://:80/", NULL, 0, NULL, 0, "url: empty host" },
	{ "http://[fe80::1%eth0]/", NULL, 0, NULL, 0,
	    "url: IPv6 zone ids are not allowed" },
	{ "http://[fe80::1%25eth0]:80/", NULL, 0, NULL, 0,
	    "url: IPv6 zone ids are not allowed" },
	{ "http://[::1/", NULL, 0, NULL, 0, "url: invalid host" },
	{ "http://[::1]x/", NULL, 0, NULL, 0, "url: invalid host" },
	{ "http://[1.2.3.4]/", NULL, 0, NULL, 0, "url: invalid IPv6 address" },
	{ "http://[v1.x]/", NULL, 0, NULL, 0, "url: invalid IPv6 address" },
	{ "http://[]/", NULL, 0, NULL, 0, "url: invalid IPv6 address" },
	{ "http://[::1::2]/", NULL, 0, NULL, 0, "url: invalid IPv6 address" },
	{ "http://::1/", NULL, 0, NULL, 0, "url: empty host" },
	{ "http://127.1/", NULL, 0, NULL, 0,
	    "url: numeric host is not a dotted quad" },
	{ "http://2130706433/", NULL, 0, NULL, 0,
	    "url: numeric host is not a dotted quad" },
	{ "http://0x7f.0.0.1/", NULL, 0, NULL, 0,
	    "url: numeric host is not a dotted quad" },
	{ "http://0x7f000001/", NULL, 0, NULL, 0,
	    "url: numeric host is not a dotted quad" },
	{ "http://0X7F000001/", NULL, 0, NULL, 0,
	    "url: numeric host is not a dotted quad" },
	{ "http://017700000001/", NULL, 0, NULL, 0,
	    "url: numeric host is not a dotted quad" },
	{ "http://0177.0.0.1/", NULL, 0, NULL, 0,
	    "url: numeric host is not a dotted quad" },
	{ "http://127.0.0.01/", NULL, 0, NULL, 0,
	    "url: numeric host is not a dotted quad" },
	{ "http://256.0.0.1/", NULL, 0, NULL, 0,
	    "url: numeric host is not a dotted quad" },
	{ "http://1.2.3.4.5/", NULL, 0, NULL, 0,
	    "url: numeric host is not a dotted quad" },
	{ "http://1.2.3.0x4/", NULL, 0, NULL, 0,
	    "url: numeric host is not a dotted quad" },
	{ "http://foo.123/", NULL, 0, NULL, 0,
	    "url: numeric host is not a dotted quad" },
	{ "http://foo.0x/", NULL, 0, NULL, 0,
	    "url: numeric host is not a dotted quad" },
	/* One trailing dot is the fully qualified form of a name; a number
	 * before it is still held to the dotted quad rule. */
	{ "http://127.0.0.1./", NULL, 0, NULL, 0,
	    "url: numeric host is not a dotted quad" },
	{ "http://foo.123./", NULL, 0, NULL, 0,
	    "url: numeric host is not a dotted quad" },
	{ "http://example.com../", NULL, 0, NULL, 0, "url: invalid host" },
	{ "http://./", NULL, 0, NULL, 0, "url: invalid host" },
	{ "http://a-./", NULL, 0, NULL, 0, "url: invalid host" },
	{ "http://a..b/", NULL, 0, NULL, 0, "url: invalid host" },
	{ "http://.a/", NULL, 0, NULL, 0, "url: invalid host" },
	{ "http://-a.com/", NULL, 0, NULL, 0, "url: invalid host" },
	{ "http://a-.com/", NULL, 0, NULL, 0, "url: invalid host" },
	{ "http://exa\\mple.com/", NULL, 0, NULL, 0, "url: invalid host" },
	{ "http://{host}/x", NULL, 0, NULL, 0, "url: invalid host" },
	{ "http://a.{b}.com/x", NULL, 0, NULL, 0, "url: invalid host" },
	{ "http://exa mple.com/", NULL, 0, NULL, 0, "url: invalid character" },
	{ "http://example.com/a b", NULL, 0, NULL, 0,
	    "url: invalid character" },
	{ "http://example.com/a\tb", NULL, 0, NULL, 0,
	    "url: invalid character" },
	{ "http://example.com/\r\nX-Evil: 1", NULL, 0, NULL, 0,
	    "url: invalid character" },
	{ "http://ex\xc3\xa4mple.com/", NULL, 0, NULL, 0,
	    "url: invalid character" },
	{ "http://example.com/caf\xc3\xa9", NULL, 0, NULL, 0,
	    "url: invalid character" },
	{ "http://example.com/\x7f", NULL, 0, NULL, 0,
	    "url: invalid character" },
	{ "http://example.com/a\"b", NULL, 0, NULL, 0,
	    "url: invalid character" },
	{ "http://example.com/a<b>", NULL, 0, NULL, 0,
	    "url: invalid character" },
	{ "http://example.com/a\\b", NULL, 0, NULL, 0,
	    "url: invalid character" },
	{ "http://example.com/?a|b", NULL, 0, NULL, 0,
	    "url: invalid character" },
	{ "http://example.com/a^b`", NULL, 0, NULL, 0,
	    "url: invalid character" },
	{ "http://example.com/%zz", NULL, 0, NULL, 0,
	    "url: invalid percent-encoding" },
	{ "http://example.com/%4", NULL, 0, NULL, 0,
	    "url: invalid percent-encoding" },
	{ "http://example.com/%", NULL, 0, NULL, 0,
	    "url: invalid percent-encoding" },
	{ "http://example.com?x=1", NULL, 0, NULL, 0,
	    "url: a query needs a path (http://host/?...)" },
};

static void
t_url_parse(void)
{
	static char big[URL_MAX + 2];
	struct url u;
	const char *err;
	size_t i;
	char label[80], host[300];

	for (i = 0; i < sizeof(t_parse_rows) / sizeof(t_parse_rows[0]); i++) {
		const struct t_parse *r = &t_parse_rows[i];
		int rc;

		err = NULL;
		rc = url_parse(r->s, strlen(r->s), &u, &err);
		if (r->host == NULL) {
			CHECKF(rc == -1 && err != NULL &&
			    strcmp(err, r->err) == 0, "%s: rc %d err %s", r->s,
			    rc, err ? err : "(null)");
			continue;
		}
		CHECKF(rc == 0, "%s: %s", r->s, err ? err : "");
		if (rc != 0)
			continue;
		CHECKF(strcmp(u.host, r->host) == 0, "%s: host %s", r->s,
		    u.host);
		CHECKF(u.port == r->port, "%s: port %d", r->s, u.port);
		CHECKF(u.path_len == strlen(r->path) &&
		    memcmp(u.path, r->path, u.path_len) == 0, "%s: path %.*s",
		    r->s, (int)u.path_len, u.path);
		CHECKF(u.is_literal == r->lit, "%s: literal %d", r->s,
		    u.is_literal);
		CHECKF(u.tls == (r->s[4] == 's' || r->s[4] == 'S'),
		    "%s: tls %d", r->s, u.tls);
	}

	/* An embedded NUL is a control byte like any other. */
	CHECK(url_parse("http://a\0b/", 11, &u, &err) == -1 &&
	    strcmp(err, "url: invalid character") == 0);
	CHECK(url_parse("http://ab/\0", 11, &u, &err) == -1);

	/* Exactly URL_MAX is accepted, one more is not. */
	memset(big, 'a', sizeof(big));
	memcpy(big, "http://example.com/", 19);
	CHECK(url_parse(big, URL_MAX, &u, &err) == 0 &&
	    u.path_len == URL_MAX - 18);
	CHECK(url_parse(big, URL_MAX + 1, &u, &err) == -1 &&
	    strcmp(err, "url: too long") == 0);

	/* A 63-byte label is fine, 64 is not; a 253-byte name is fine, 254
	 * is not. */
	memset(label, 'a', sizeof(label));
	memcpy(host, "http://", 7);
	memcpy(host + 7, label, 63);
	memcpy(host + 70, ".com/", 6);
	CHECK(url_parse(host, strlen(host), &u, &err) == 0);
	memcpy(host + 7, label, 64);
	memcpy(host + 71, ".com/", 6);
	CHECK(url_parse(host, strlen(host), &u, &err) == -1 &&
	    strcmp(err, "url: invalid host") == 0);
	for (i = 0; i < 4; i++) {
		memcpy(host + 7 + i * 62, label, 61);
		host[7 + i * 62 + 61] = '.';
	}
	/* four labels of 61 plus dots: 248 bytes, then "abcde" = 253 */
	memcpy(host + 7 + 248, "abcde/", 7);
	CHECK(url_parse(host, strlen(host), &u, &err) == 0 &&
	    strlen(u.host) == 253);
	memcpy(host + 7 + 248, "abcdef/", 8);
	CHECK(url_parse(host, strlen(host), &u, &err) == -1 &&
	    strcmp(err, "url: invalid host") == 0);
}

static int
t_json(const char *s, struct json_tok *toks)
{
	int n = json_parse(s, strlen(s), toks, T_TOKS);

	CHECKF(n > 0, "json_parse(%s) = %d", s, n);
	return n;
}

struct t_expand {
	const char *tmpl;
	int rc;
	const char *out;	/* expansion, or the missing name when rc -1 */
};

static const char t_expand_data[] =
    "{\"refId\": \"3283191\", \"name\": \"a b/c?d&e=f\", \"n\": 42,"
    " \"f\": -1.5e+3, \"ok\": true, \"no\": false,"
    " \"obj\": {\"x\": [1, 2]}, \"arr\": [1,\"a\"], \"nil\": null,"
    " \"esc\": \"caf\\u00e9 \\\"q\\\"\", \"k\\/s\": \"slash\","
    " \"empty\": \"\", \"\": \"nameless\","
    " \"dot\": \".\", \"dots\": \"..\", \"dot3\": \"...\", \"pdot\": \"%2e\"}";

static const struct t_expand t_expand_rows[] = {
	{ "http://h/cb/{refId}", 0, "http://h/cb/3283191" },
	{ "http://h/{name}", 0, "http://h/a%20b%2Fc%3Fd%26e%3Df" },
	{ "/{n}/{f}", 0, "/42/-1.5e%2B3" },
	{ "/{ok}/{no}", 0, "/true/false" },
	{ "/{obj}", 0, "/%7B%22x%22%3A%20%5B1%2C%202%5D%7D" },
	{ "/{arr}", 0, "/%5B1%2C%22a%22%5D" },
	{ "/{esc}", 0, "/caf%C3%A9%20%22q%22" },
	{ "/{k/s}", 0, "/slash" },
	{ "/x{empty}y", 0, "/xy" },
	{ "/{refId}/{n}?x={ok}&y={refId}", 0, "/3283191/42?x=true&y=3283191" },
	{ "{refId}{n}", 0, "328319142" },
	{ "/no/templates?a=b", 0, "/no/templates?a=b" },
	{ "", 0, "" },
	{ "/{ref", 0, "/{ref" },
	{ "/{", 0, "/{" },
	{ "/{{refId}", 0, "/{3283191" },
	{ "/{a{refId}", 0, "/{a3283191" },
	{ "/{}", 0, "/{}" },
	{ "/{refId}}", 0, "/3283191}" },
	{ "/}{n}", 0, "/}42" },
	{ "/{missing}", -1, "missing" },
	{ "/{refId}/{other}", -1, "other" },
	{ "/{REFID}", -1, "REFID" },
	{ "/{nil}", -1, "nil" },
	{ "/{ refId}", -1, " refId" },
	/* Dot segments would move the request (contract §18). */
	{ "/a/{dot}/b", -3, "?" },
	{ "/a/{dots}/b", -3, "?" },
	{ "/a/{dots}", -3, "?" },
	{ "/a?x={dot}", -3, "?" },
	{ "/a/{dot3}", 0, "/a/..." },
	{ "/a/{pdot}", 0, "/a/%252e" },
	{ "/a/x{dot}", -3, "?" },	/* the value, wherever it stands */
};

static int t_addr(const char *s, struct sockaddr_storage *ss);

/* Templates refused at registration (contract §11). */
static void
t_url_template_check(void)
{
	static const struct {
		const char *s;
		const char *err;	/* NULL: accepted */
	} t[] = {
		{ "http://h/", NULL },
		{ "http://h/{a}/{b}?x={c}", NULL },
		{ "http://h/{a}{b}", NULL },
		{ "http://h/{a", "url: unbalanced { in a template (no } after "
		    "it)" },
		{ "http://h/a}", "url: unbalanced } in a template (no { before "
		    "it)" },
		{ "http://h/{a}}", "url: unbalanced } in a template (no { "
		    "before it)" },
		{ "http://h/{{a}", "url: unbalanced { in a template (a {name} "
		    "cannot hold another {)" },
		{ "http://h/{a{b}}", "url: unbalanced { in a template (a {name} "
		    "cannot hold another {)" },
		{ "http://h/{}", "url: empty {} in a template (write {name})" },
		{ "}", "url: unbalanced } in a template (no { before it)" },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		const char *err = NULL;
		int rc = url_template_check(t[i].s, strlen(t[i].s), &err);

		CHECKF(rc == (t[i].err != NULL ? -1 : 0) && (t[i].err == NULL ||
		    (err != NULL && strcmp(err, t[i].err) == 0)), "%s: %d %s",
		    t[i].s, rc, err != NULL ? err : "-");
	}
}

/* The class a denied address is named by, and the message built on it. */
static void
t_url_denied_class(void)
{
	static const struct {
		const char *addr, *cls;
	} t[] = {
		{ "127.0.0.1", "loopback" }, { "::1", "loopback" },
		{ "::ffff:127.0.0.1", "loopback" }, { "10.1.2.3", "private" },
		{ "172.16.0.1", "private" }, { "192.168.1.1", "private" },
		{ "fd00::1", "private" }, { "169.254.169.254", "link-local" },
		{ "fe80::1", "link-local" }, { "100.64.0.1", "CGNAT" },
		{ "224.0.0.1", "multicast" }, { "ff02::1", "multicast" },
		{ "240.0.0.1", "reserved" }, { "255.255.255.255", "reserved" },
		{ "192.0.2.1", "documentation" }, { "2001:db8::1",
		"documentation" }, { "198.18.0.1", "benchmarking" },
		{ "0.0.0.0", "unspecified" }, { "::", "unspecified" },
		{ "64:ff9b::a00:1", "private" }, { "2002:7f00:1::", "loopback" },
		{ "8.8.8.8", NULL }, { "2606:4700::1111", NULL },
	};
	struct sockaddr_storage ss;
	char msg[128];
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		const char *cls;

		if (t_addr(t[i].addr, &ss) != 0)
			continue;
		cls = url_addr_denied((struct sockaddr *)&ss, NULL, 0);
		CHECKF(t[i].cls == NULL ? cls == NULL : cls != NULL &&
		    strcmp(cls, t[i].cls) == 0, "%s: %s", t[i].addr,
		    cls != NULL ? cls : "allowed");
	}
	if (t_addr("10.0.0.1", &ss) == 0) {
		CHECK(url_denied_error((struct sockaddr *)&ss, NULL, NULL, 0,
		    msg, sizeof(msg)) == 1 && strcmp(msg, "destination not "
		    "allowed: 10.0.0.1 is private; allow_destinations opens "
		    "it") == 0);
		CHECK(url_denied_error((struct sockaddr *)&ss, "db.internal",
		    NULL, 0, msg, sizeof(msg)) == 1 && strcmp(msg, "destination "
		    "not allowed: db.internal is private; allow_destinations "
		    "opens it") == 0);
	}
	CHECK(url_host_is_localhost("localhost"));
	CHECK(url_host_is_localhost("LocalHost"));
	CHECK(url_host_is_localhost("a.b.localhost"));
	CHECK(!url_host_is_localhost("localhost.example.com"));
	CHECK(!url_host_is_localhost("mylocalhost"));
	/* The fully qualified forms are the same names. */
	CHECK(url_host_is_localhost("localhost."));
	CHECK(url_host_is_localhost("a.localhost."));
	CHECK(!url_host_is_localhost("localhost.."));
	CHECK(!url_host_is_localhost("."));
}

static void
t_url_expand(void)
{
	struct json_tok toks[T_TOKS];
	struct buf b = {0};
	char missing[32];
	size_t i;
	int rc;

	if (t_json(t_expand_data, toks) <= 0)
		return;
	for (i = 0; i < sizeof(t_expand_rows) / sizeof(t_expand_rows[0]); i++) {
		const struct t_expand *r = &t_expand_rows[i];

		buf_reset(&b);
		strcpy(missing, "?");
		rc = url_expand(&b, r->tmpl, strlen(r->tmpl), t_expand_data,
		    toks, 0, missing, sizeof(missing));
		CHECKF(rc == r->rc, "%s: rc %d", r->tmpl, rc);
		if (r->rc == 0)
			CHECKF(b.len == strlen(r->out) &&
			    memcmp(b.data, r->out, b.len) == 0,
			    "%s: got %s", r->tmpl, b.data);
		else
			CHECKF(strcmp(missing, r->out) == 0 && b.len == 0,
			    "%s: missing %s, out %zu bytes", r->tmpl, missing,
			    b.len);
	}

	/* Appends; on a missing member out is left as it was. */
	buf_reset(&b);
	buf_puts(&b, "pre:");
	CHECK(url_expand(&b, "{n}", 3, t_expand_data, toks, 0, missing,
	    sizeof(missing)) == 0 && strcmp(b.data, "pre:42") == 0);
	CHECK(url_expand(&b, "/{n}/{zz}", 9, t_expand_data, toks, 0, missing,
	    sizeof(missing)) == -1 && strcmp(b.data, "pre:42") == 0);

	/* The missing name is truncated to fit, and NUL-terminated. */
	CHECK(url_expand(&b, "/{missing}", 10, t_expand_data, toks, 0,
	    missing, 4) == -1 && strcmp(missing, "mis") == 0);
	CHECK(url_expand(&b, "/{missing}", 10, t_expand_data, toks, 0,
	    missing, 0) == -1);

	/* The template is a span: bytes past len are not read. */
	buf_reset(&b);
	CHECK(url_expand(&b, "/{n}/{zz}", 4, t_expand_data, toks, 0, missing,
	    sizeof(missing)) == 0 && strcmp(b.data, "/42") == 0);

	/* Not an object: every template is missing, plain text is kept. */
	if (t_json("[1, 2]", toks) > 0) {
		buf_reset(&b);
		CHECK(url_expand(&b, "/{a}", 4, "[1, 2]", toks, 0, missing,
		    sizeof(missing)) == -1 && strcmp(missing, "a") == 0);
		CHECK(url_expand(&b, "/a", 2, "[1, 2]", toks, 0, missing,
		    sizeof(missing)) == 0 && strcmp(b.data, "/a") == 0);
	}

	/* The object need not be the first token. */
	{
		static const char nested[] = "{\"data\": {\"id\": \"x y\"}}";

		if (t_json(nested, toks) > 0) {
			buf_reset(&b);
			CHECK(url_expand(&b, "/{id}", 5, nested, toks, 2, missing,
			    sizeof(missing)) == 0 &&
			    strcmp(b.data, "/x%20y") == 0);
			CHECK(url_expand(&b, "/{data}", 7, nested, toks, 2,
			    missing, sizeof(missing)) == -1);
		}
	}
	buf_free(&b);
}

struct t_query {
	const char *json;
	const char *out;
};

static const struct t_query t_query_rows[] = {
	{ "{\"success\": true, \"refId\": \"3283191\"}",
	    "success=true&refId=3283191" },
	{ "{\"a\": null, \"b\": 1, \"c\": null}", "b=1" },
	{ "{\"a\": 1, \"b\": null}", "a=1" },
	{ "{\"x\": null}", "" },
	{ "{}", "" },
	{ "{\"n\": {\"x\": [1, 2]}}", "n=%7B%22x%22%3A%20%5B1%2C%202%5D%7D" },
	{ "{\"a\":[]}", "a=%5B%5D" },
	{ "{\"u\": \"\\u00e9\\u4e2d\"}", "u=%C3%A9%E4%B8%AD" },
	{ "{\"s\": \"\\ud83d\\ude00\"}", "s=%F0%9F%98%80" },
	{ "{\"raw\": \"\xc3\xa9\"}", "raw=%C3%A9" },
	{ "{\"k y\": \"a&b=c\", \"f\": 1.5e+3, \"no\": false}",
	    "k%20y=a%26b%3Dc&f=1.5e%2B3&no=false" },
	{ "{\"t\": \"~-._\", \"e\": \"\", \"\": \"v\"}", "t=~-._&e=&=v" },
	{ "{\"q\": \"a\\nb\\t\\\"\\\\/\"}", "q=a%0Ab%09%22%5C%2F" },
	{ "{\"n\": -0.5, \"z\": 0}", "n=-0.5&z=0" },
	{ "[1, 2]", "" },
};

static void
t_url_query(void)
{
	struct json_tok toks[T_TOKS];
	struct buf b = {0};
	size_t i;

	for (i = 0; i < sizeof(t_query_rows) / sizeof(t_query_rows[0]); i++) {
		const struct t_query *r = &t_query_rows[i];

		if (t_json(r->json, toks) <= 0)
			continue;
		buf_reset(&b);
		CHECKF(url_query(&b, r->json, toks, 0) == 0, "%s", r->json);
		CHECKF(b.len == strlen(r->out) &&
		    (b.len == 0 || memcmp(b.data, r->out, b.len) == 0),
		    "%s: got %s", r->json, b.len ? b.data : "");
	}
	/* Appending after a query the URL already has is the caller's job:
	 * url_query only appends name=value pairs, never '?' or '&' first. */
	buf_reset(&b);
	buf_puts(&b, "/cb?x=1&");
	if (t_json(t_query_rows[0].json, toks) > 0)
		CHECK(url_query(&b, t_query_rows[0].json, toks, 0) == 0 &&
		    strcmp(b.data, "/cb?x=1&success=true&refId=3283191") == 0);
	buf_free(&b);
}

static void
t_url_encode(void)
{
	static const struct {
		const char *in;
		size_t n;
		const char *out;
	} rows[] = {
		{ "", 0, "" },
		{ "AZaz09-._~", 10, "AZaz09-._~" },
		{ " ", 1, "%20" },
		{ "\xff\0", 2, "%FF%00" },
		{ ":/?#[]@", 7, "%3A%2F%3F%23%5B%5D%40" },
		{ "!$&'()*+,;=", 11, "%21%24%26%27%28%29%2A%2B%2C%3B%3D" },
		{ "%{}", 3, "%25%7B%7D" },
		{ "\x7f\x80\n", 3, "%7F%80%0A" },
	};
	struct buf b = {0};
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		buf_reset(&b);
		CHECK(url_encode(&b, rows[i].in, rows[i].n) == 0);
		CHECKF(b.len == strlen(rows[i].out) &&
		    (b.len == 0 || strcmp(b.data, rows[i].out) == 0),
		    "row %zu: got %s", i, b.len ? b.data : "");
	}
	buf_free(&b);
}

struct t_cidr {
	const char *s;
	size_t len;		/* 0: strlen */
	int family;		/* -1: refused */
	int bits;
};

static const struct t_cidr t_cidr_rows[] = {
	{ "10.0.0.0/8", 0, AF_INET, 8 },
	{ "100.64.0.0/10", 0, AF_INET, 10 },
	{ "192.168.1.1", 0, AF_INET, 32 },
	{ "192.168.1.1/32", 0, AF_INET, 32 },
	{ "0.0.0.0/0", 0, AF_INET, 0 },
	{ "::1/128", 0, AF_INET6, 128 },
	{ "::/0", 0, AF_INET6, 0 },
	{ "fd00::", 0, AF_INET6, 128 },
	{ "2001:db8::/32", 0, AF_INET6, 32 },
	{ "::ffff:10.0.0.0/104", 0, AF_INET6, 104 },
	{ "all", 0, AF_UNSPEC, 0 },
	{ "", 0, -1, 0 },
	{ "/8", 0, -1, 0 },
	{ "10.0.0.0/", 0, -1, 0 },
	{ "10.0.0.0/33", 0, -1, 0 },
	{ "::/129", 0, -1, 0 },
	{ "10.0.0.1/8", 0, -1, 0 },
	{ "fd00::1/8", 0, -1, 0 },
	{ "10.0.0.0/08", 0, -1, 0 },
	{ "10.0.0.0/-1", 0, -1, 0 },
	{ "10.0.0.0/+8", 0, -1, 0 },
	{ "10.0.0.0/8/8", 0, -1, 0 },
	{ "10.0.0.0 /8", 0, -1, 0 },
	{ "127.1", 0, -1, 0 },
	{ "0x7f.0.0.1", 0, -1, 0 },
	{ "010.0.0.0/8", 0, -1, 0 },
	{ "256.0.0.0/8", 0, -1, 0 },
	{ "1.2.3.4.5", 0, -1, 0 },
	{ "fe80::1%eth0", 0, -1, 0 },
	{ "[::1]", 0, -1, 0 },
	{ "ALL", 0, -1, 0 },
	{ "all ", 0, -1, 0 },
	{ "::1\0garbage", 11, -1, 0 },
	{ "example.com", 0, -1, 0 },
};

static void
t_url_cidr(void)
{
	struct url_cidr c;
	size_t i;

	for (i = 0; i < sizeof(t_cidr_rows) / sizeof(t_cidr_rows[0]); i++) {
		const struct t_cidr *r = &t_cidr_rows[i];
		size_t len = r->len ? r->len : strlen(r->s);
		int rc = url_cidr_parse(r->s, len, &c);

		if (r->family == -1) {
			CHECKF(rc == -1, "%s accepted", r->s);
			continue;
		}
		CHECKF(rc == 0 && c.family == r->family &&
		    (r->family == AF_UNSPEC || c.bits == r->bits),
		    "%s: rc %d family %d bits %d", r->s, rc, c.family, c.bits);
	}
	CHECK(url_cidr_parse("10.1.2.0/24", 11, &c) == 0 && c.addr[0] == 10 &&
	    c.addr[1] == 1 && c.addr[2] == 2 && c.addr[3] == 0);
}

static void
t_url_host_literal(void)
{
	struct sockaddr_storage ss;

	CHECK(url_host_literal("127.0.0.1", &ss) == 0 &&
	    ss.ss_family == AF_INET &&
	    ((struct sockaddr_in *)&ss)->sin_port == 0 &&
	    memcmp(&((struct sockaddr_in *)&ss)->sin_addr, "\x7f\0\0\1", 4) == 0);
	CHECK(url_host_literal("::1", &ss) == 0 && ss.ss_family == AF_INET6 &&
	    ((struct sockaddr_in6 *)&ss)->sin6_port == 0 &&
	    ((struct sockaddr_in6 *)&ss)->sin6_addr.s6_addr[15] == 1);
	CHECK(url_host_literal("2001:db8::1", &ss) == 0 &&
	    ss.ss_family == AF_INET6);
	CHECK(url_host_literal("example.com", &ss) == -1);
	CHECK(url_host_literal("127.1", &ss) == -1);
	CHECK(url_host_literal("2130706433", &ss) == -1);
	CHECK(url_host_literal("[::1]", &ss) == -1);
	CHECK(url_host_literal("fe80::1%eth0", &ss) == -1);
	CHECK(url_host_literal("", &ss) == -1);
}

struct t_ssrf {
	const char *addr;
	int allowed;
};

/* Without allow entries. Each refused range is probed at its first and last
 * address and just outside it. */
static const struct t_ssrf t_ssrf_rows[] = {
	{ "8.8.8.8", 1 },
	{ "1.1.1.1", 1 },
	{ "93.184.216.34", 1 },
	{ "0.0.0.0", 0 },
	{ "0.255.255.255", 0 },
	{ "1.0.0.0", 1 },
	{ "9.255.255.255", 1 },
	{ "10.0.0.0", 0 },
	{ "10.255.255.255", 0 },
	{ "11.0.0.0", 1 },
	{ "100.63.255.255", 1 },
	{ "100.64.0.0", 0 },
	{ "100.127.255.255", 0 },
	{ "100.128.0.0", 1 },
	{ "126.255.255.255", 1 },
	{ "127.0.0.0", 0 },
	{ "127.0.0.1", 0 },
	{ "127.255.255.255", 0 },
	{ "128.0.0.0", 1 },
	{ "169.253.255.255", 1 },
	{ "169.254.0.0", 0 },
	{ "169.254.169.254", 0 },
	{ "169.254.255.255", 0 },
	{ "169.255.0.0", 1 },
	{ "172.15.255.255", 1 },
	{ "172.16.0.0", 0 },
	{ "172.31.255.255", 0 },
	{ "172.32.0.0", 1 },
	{ "191.255.255.255", 1 },
	{ "192.0.0.0", 0 },
	{ "192.0.0.255", 0 },
	{ "192.0.1.0", 1 },
	{ "192.0.2.0", 0 },
	{ "192.0.2.255", 0 },
	{ "192.0.3.0", 1 },
	{ "192.88.98.255", 1 },
	{ "192.88.99.0", 0 },
	{ "192.88.99.255", 0 },
	{ "192.88.100.0", 1 },
	{ "192.167.255.255", 1 },
	{ "192.168.0.0", 0 },
	{ "192.168.255.255", 0 },
	{ "192.169.0.0", 1 },
	{ "198.17.255.255", 1 },
	{ "198.18.0.0", 0 },
	{ "198.19.255.255", 0 },
	{ "198.20.0.0", 1 },
	{ "198.51.99.255", 1 },
	{ "198.51.100.0", 0 },
	{ "198.51.100.255", 0 },
	{ "198.51.101.0", 1 },
	{ "203.0.112.255", 1 },
	{ "203.0.113.0", 0 },
	{ "203.0.113.255", 0 },
	{ "203.0.114.0", 1 },
	{ "223.255.255.255", 1 },
	{ "224.0.0.0", 0 },
	{ "239.255.255.255", 0 },
	{ "240.0.0.0", 0 },
	{ "255.255.255.254", 0 },
	{ "255.255.255.255", 0 },

	{ "2606:4700:4700::1111", 1 },
	{ "2001:4860:4860::8888", 1 },
	{ "2620:4f:8000::1", 1 },	/* AS112: globally reachable */
	{ "::", 0 },
	{ "::1", 0 },
	{ "::ffff:127.0.0.1", 0 },
	{ "::ffff:10.0.0.1", 0 },
	{ "::ffff:169.254.169.254", 0 },
	{ "::ffff:0.0.0.0", 0 },
	{ "::ffff:8.8.8.8", 1 },
	{ "::ffff:0:7f00:1", 0 },	/* SIIT ::ffff:0:0/96: reserved */
	{ "::127.0.0.1", 0 },		/* IPv4-compatible */
	{ "::10.0.0.1", 0 },
	{ "::8.8.8.8", 1 },
	{ "::1:0:0:1", 0 },		/* rest of ::/8 */
	{ "64:ff9b::7f00:1", 0 },	/* NAT64 of 127.0.0.1 */
	{ "64:ff9b::a9fe:a9fe", 0 },
	{ "64:ff9b::808:808", 1 },
	{ "64:ff9b:1::", 0 },		/* NAT64 local-use /48 */
	{ "64:ff9b:1:ffff:ffff:ffff:ffff:ffff", 0 },
	{ "64:ff9b:2::808:808", 0 },	/* outside both NAT64 prefixes */
	{ "2002:7f00:1::", 0 },		/* 6to4 of 127.0.0.1 */
	{ "2002:a00:1::1", 0 },
	{ "2002:c0a8:101::", 0 },
	{ "2002:808:808::", 1 },	/* 6to4 of 8.8.8.8: judged, allowed */
	{ "2002:808:808:ffff::1", 1 },
	{ "100::", 0 },			/* discard-only */
	{ "100::ffff:ffff:ffff:ffff", 0 },
	{ "100:0:0:1::1", 0 },		/* dummy prefix */
	{ "2001::1", 0 },		/* Teredo */
	{ "2001:0:ffff:ffff:ffff:ffff:ffff:ffff", 0 },
	{ "2001:2::1", 0 },		/* benchmarking */
	{ "2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff", 0 },
	{ "2001:200::1", 1 },		/* first past 2001::/23 */
	{ "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", 1 },
	{ "2001:db8::", 0 },
	{ "2001:db8::1", 0 },
	{ "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", 0 },
	{ "2001:db9::", 1 },
	{ "3ffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 1 },
	{ "3fff::", 0 },
	{ "3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff", 0 },
	{ "3fff:1000::", 1 },
	{ "1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 0 },
	{ "4000::1", 0 },		/* outside 2000::/3 */
	{ "5f00::1", 0 },
	{ "e000::1", 0 },
	{ "fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 0 },
	{ "fc00::", 0 },
	{ "fc00::1", 0 },
	{ "fd12::1", 0 },
	{ "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 0 },
	{ "fe80::", 0 },
	{ "fe80::1", 0 },
	{ "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 0 },
	{ "fec0::1", 0 },
	{ "ff00::", 0 },
	{ "ff02::1", 0 },
	{ "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 0 },
};

struct t_allow {
	const char *allow;	/* comma-separated url_cidr_parse entries */
	const char *addr;
	int allowed;
};

static const struct t_allow t_allow_rows[] = {
	{ "127.0.0.0/8", "127.0.0.1", 1 },
	{ "127.0.0.0/8", "127.255.255.255", 1 },
	{ "127.0.0.0/8", "::ffff:127.0.0.1", 1 },
	{ "127.0.0.0/8", "10.0.0.1", 0 },
	{ "127.0.0.0/8", "::1", 0 },
	{ "127.0.0.0/8", "64:ff9b::7f00:1", 0 },
	{ "127.0.0.0/8", "::127.0.0.1", 0 },
	{ "127.0.0.0/8", "2002:7f00:1::", 0 },
	{ "127.0.0.0/8", "8.8.8.8", 1 },
	{ "all", "127.0.0.1", 1 },
	{ "all", "::1", 1 },
	{ "all", "fe80::1", 1 },
	{ "all", "10.0.0.1", 1 },
	{ "all", "255.255.255.255", 1 },
	{ "::1/128", "::1", 1 },
	{ "::1/128", "::2", 0 },
	{ "::1/128", "127.0.0.1", 0 },
	{ "10.1.0.0/16,fd00::/8", "10.1.2.3", 1 },
	{ "10.1.0.0/16,fd00::/8", "10.2.0.0", 0 },
	{ "10.1.0.0/16,fd00::/8", "fd00::1", 1 },
	{ "10.1.0.0/16,fd00::/8", "fc00::1", 0 },
	{ "192.168.1.5", "192.168.1.5", 1 },
	{ "192.168.1.5", "192.168.1.6", 0 },
	{ "172.16.0.0/13", "172.23.255.255", 1 },
	{ "172.16.0.0/13", "172.24.0.0", 0 },
	{ "::ffff:10.0.0.0/104", "::ffff:10.9.9.9", 1 },
	{ "::ffff:10.0.0.0/104", "10.9.9.9", 0 },
	{ "0.0.0.0/0", "10.0.0.1", 1 },
	{ "0.0.0.0/0", "::1", 0 },
};

static int
t_addr(const char *s, struct sockaddr_storage *ss)
{
	int rc = url_host_literal(s, ss);

	CHECKF(rc == 0, "not a literal: %s", s);
	return rc;
}

static void
t_url_ssrf(void)
{
	struct sockaddr_storage ss;
	struct url_cidr allow[4];
	struct sockaddr_un_like {
		sa_family_t family;
		char path[32];
	} other;
	size_t i;

	for (i = 0; i < sizeof(t_ssrf_rows) / sizeof(t_ssrf_rows[0]); i++) {
		const struct t_ssrf *r = &t_ssrf_rows[i];

		if (t_addr(r->addr, &ss) != 0)
			continue;
		CHECKF(url_addr_allowed((struct sockaddr *)&ss, NULL, 0) ==
		    r->allowed, "%s: expected %s", r->addr,
		    r->allowed ? "allowed" : "denied");
	}
	for (i = 0; i < sizeof(t_allow_rows) / sizeof(t_allow_rows[0]); i++) {
		const struct t_allow *r = &t_allow_rows[i];
		const char *p = r->allow, *comma;
		size_t n = 0, len;

		while (n < 4) {
			comma = strchr(p, ',');
			len = comma ? (size_t)(comma - p) : strlen(p);
			CHECKF(url_cidr_parse(p, len, &allow[n]) == 0, "%s",
			    r->allow);
			n++;
			if (comma == NULL)
				break;
			p = comma + 1;
		}
		if (t_addr(r->addr, &ss) != 0)
			continue;
		CHECKF(url_addr_allowed((struct sockaddr *)&ss, allow, n) ==
		    r->allowed, "allow %s, %s: expected %s", r->allow, r->addr,
		    r->allowed ? "allowed" : "denied");
	}
	/* Neither IPv4 nor IPv6 (a Unix socket, say), or no address at all. */
	memset(&other, 0, sizeof(other));
	other.family = AF_UNIX;
	CHECK(url_addr_allowed((struct sockaddr *)(void *)&other, NULL, 0) ==
	    0);
	CHECK(url_addr_allowed(NULL, NULL, 0) == 0);
}

struct t_norm {
	const char *s;
	const char *norm;	/* NULL: refused with err */
	const char *err;
};

/* Contract §11: URLs one registrant means as the same one get the same
 * normal form, so a second endpoint for them is a duplicate (409). */
static const struct t_norm t_norm_rows[] = {
	{ "http://example.com/d", "http://example.com/d", NULL },
	{ "http://example.com:80/d", "http://example.com/d", NULL },
	{ "http://EXAMPLE.com/d", "http://example.com/d", NULL },
	{ "HTTP://Example.COM:80/d", "http://example.com/d", NULL },
	{ "http://example.com:00080/d", "http://example.com/d", NULL },
	{ "http://example.com", "http://example.com/", NULL },
	{ "http://example.com:80", "http://example.com/", NULL },
	{ "http://example.com:8080", "http://example.com:8080/", NULL },
	{ "http://example.com:8080/d", "http://example.com:8080/d", NULL },
	/* Only the host and scheme are case-insensitive. */
	{ "http://example.com/D?Q=A", "http://example.com/D?Q=A", NULL },
	/* Escapes: hex digits in upper case, unreserved ones decoded. */
	{ "http://example.com/a%2fb", "http://example.com/a%2Fb", NULL },
	{ "http://example.com/a%2Fb", "http://example.com/a%2Fb", NULL },
	{ "http://example.com/%7e%41%2d%2E%5F%30", "http://example.com/~A-._0",
	    NULL },
	{ "http://example.com/?q=%3d%26", "http://example.com/?q=%3D%26",
	    NULL },
	{ "http://example.com/%7b{id}%7d", "http://example.com/%7B{id}%7D",
	    NULL },
	{ "http://example.com/%25", "http://example.com/%25", NULL },
	/* Kept as written: an empty query, dot segments, '+'. */
	{ "http://example.com/d?", "http://example.com/d?", NULL },
	{ "http://example.com/a/../d", "http://example.com/a/../d", NULL },
	{ "http://example.com/a+b", "http://example.com/a+b", NULL },
	{ "http://h_r:8080/cb/{refId}", "http://h_r:8080/cb/{refId}", NULL },
	/* Literals: IPv4 is one spelling already, IPv6 takes RFC 5952's. */
	{ "http://10.0.0.1:80/", "http://10.0.0.1/", NULL },
	{ "http://[::1]/", "http://[::1]/", NULL },
	{ "http://[0:0:0:0:0:0:0:1]:80", "http://[::1]/", NULL },
	{ "http://[2001:DB8:0::1]:8443/x", "http://[2001:db8::1]:8443/x",
	    NULL },
	{ "http://[::ffff:7f00:1]/", "http://[::ffff:127.0.0.1]/", NULL },
#if HOOKD_HAS_TLS
	/* The port left out is the scheme's own; the schemes stay apart. */
	{ "https://example.com", "https://example.com/", NULL },
	{ "HTTPS://Example.com:443/d", "https://example.com/d", NULL },
	{ "https://example.com:80/d", "https://example.com:80/d", NULL },
	{ "http://example.com:443/d", "http://example.com:443/d", NULL },
	{ "https://[0::1]:443/", "https://[::1]/", NULL },
#else
	{ "https://example.com/", NULL, T_NO_TLS },
#endif
	{ "http://example.com/#", NULL, "url: fragments are not allowed" },
	{ "http://example.com/%zz", NULL, "url: invalid percent-encoding" },
};

static void
t_url_normalize(void)
{
	static char big[URL_MAX + 1];
	char out[URL_NORM_MAX], small[21];
	const char *err;
	size_t i;

	for (i = 0; i < sizeof(t_norm_rows) / sizeof(t_norm_rows[0]); i++) {
		const struct t_norm *r = &t_norm_rows[i];
		char *s = unit_dup(r->s, strlen(r->s));
		int rc;

		err = NULL;
		rc = url_normalize(s, strlen(r->s), out, sizeof(out), &err);
		if (r->norm == NULL)
			CHECKF(rc == -1 && err != NULL &&
			    strcmp(err, r->err) == 0, "%s: rc %d err %s", r->s,
			    rc, err ? err : "(null)");
		else
			CHECKF(rc == 0 && strcmp(out, r->norm) == 0,
			    "%s: rc %d %s (%s)", r->s, rc, rc == 0 ? out : "",
			    err ? err : "");
		free(s);
	}

	/* The longest URL fits in URL_NORM_MAX, even growing by a '/'. */
	memset(big, 'a', sizeof(big));
	memcpy(big, "http://example.com/", 19);
	CHECK(url_normalize(big, URL_MAX, out, sizeof(out), &err) == 0 &&
	    strlen(out) == URL_MAX);
	/* A short out is refused, never overrun: exactly 20 bytes and the
	 * NUL fit, one more does not. */
	CHECK(url_normalize("http://example.com/a", 20, small, sizeof(small),
	    &err) == 0 && strcmp(small, "http://example.com/a") == 0);
	CHECK(url_normalize("http://example.com/ab", 21, small, sizeof(small),
	    &err) == -1 && strcmp(err, "url: too long") == 0);
	CHECK(url_normalize("http://example.com", 18, small, sizeof(small),
	    &err) == 0 && strcmp(small, "http://example.com/") == 0);
}

/* url_addr_from_sockaddr and url_addr_to_sockaddr: an IP literal's
 * address survives the round trip with the port set, and a family other
 * than IPv4 or IPv6 is refused. */
static void
t_url_addr_sockaddr(void)
{
	static const struct {
		const char *host;
		uint16_t port;
		int family;
		socklen_t len;
	} t[] = {
		{ "192.0.2.7", 8080, AF_INET, sizeof(struct sockaddr_in) },
		{ "0.0.0.0", 1, AF_INET, sizeof(struct sockaddr_in) },
		{ "2001:db8::1", 443, AF_INET6, sizeof(struct sockaddr_in6) },
		{ "::1", 65535, AF_INET6, sizeof(struct sockaddr_in6) },
	};
	struct sockaddr_storage in, out, want;
	struct url_addr a;
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		CHECKF(url_host_literal(t[i].host, &in) == 0, "%s", t[i].host);
		memset(&a, 0xaa, sizeof(a));
		CHECKF(url_addr_from_sockaddr(&in, &a) == 0, "%s", t[i].host);
		CHECKF(a.family == t[i].family, "%s", t[i].host);
		CHECKF(url_addr_to_sockaddr(&a, t[i].port, &out) == t[i].len,
		    "%s", t[i].host);
		want = in;
		if (t[i].family == AF_INET)
			((struct sockaddr_in *)(void *)&want)->sin_port =
			    htons(t[i].port);
		else
			((struct sockaddr_in6 *)(void *)&want)->sin6_port =
			    htons(t[i].port);
		CHECKF(memcmp(&out, &want, t[i].len) == 0, "%s", t[i].host);
	}
	memset(&in, 0, sizeof(in));
	in.ss_family = AF_UNIX;
	CHECK(url_addr_from_sockaddr(&in, &a) == -1);
}

/* The loopback rule config_listen_is_loopback asks: 127/8, ::1 and the
 * IPv4-mapped 127/8; not the other forms that embed 127/8, nor ::. */
static void
t_url_loopback(void)
{
	static const struct {
		const char *addr;
		int loopback;
	} t[] = {
		{ "127.0.0.1", 1 }, { "127.255.255.254", 1 }, { "127.0.0.0", 1 },
		{ "::1", 1 }, { "::ffff:127.0.0.1", 1 }, { "::ffff:127.9.9.9", 1 },
		{ "128.0.0.1", 0 }, { "126.255.255.255", 0 }, { "0.0.0.0", 0 },
		{ "10.0.0.1", 0 }, { "::", 0 }, { "::2", 0 },
		{ "::ffff:10.0.0.1", 0 }, { "::127.0.0.1", 0 },
		{ "64:ff9b::7f00:1", 0 }, { "2002:7f00:1::", 0 },
		{ "1::1", 0 },
	};
	struct sockaddr_storage ss;
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (t_addr(t[i].addr, &ss) != 0)
			continue;
		CHECKF(url_addr_is_loopback((struct sockaddr *)&ss) ==
		    t[i].loopback, "%s", t[i].addr);
	}
	memset(&ss, 0, sizeof(ss));
	ss.ss_family = AF_UNIX;
	CHECK(url_addr_is_loopback((struct sockaddr *)&ss) == 0);
}

void
test_url(void)
{
	t_url_parse();
	t_url_normalize();
	t_url_expand();
	t_url_template_check();
	t_url_denied_class();
	t_url_query();
	t_url_encode();
	t_url_cidr();
	t_url_host_literal();
	t_url_ssrf();
	t_url_addr_sockaddr();
	t_url_loopback();
}
