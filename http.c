/*
 * http: HTTP/1.1 request and response heads parsed into spans of the caller's
 * buffer, the in-place chunked body decoder, and the heads hookd writes. No
 * sockets, no allocation, no logging: callers get a length, -2 or -1.
 */
#include <limits.h>
#include <string.h>

#include "http.h"

/*
 * Limits of this module. The caller's struct http_limits bounds the head:
 * max_head so a slow or hostile peer cannot make a connection hold or scan
 * an ever larger head (capped at INT_MAX, as the length is returned as an
 * int), max_headers capped at HTTP_MAX_HEADERS, the size of the caller's
 * array. HTTP_CHUNK_LINE_MAX (http.h) bounds a chunk-size line, extensions
 * included: they are skipped, not stored, but must not be endless.
 *
 * HTTP_CHUNK_DIGITS_MAX: 16 hex digits hold every size up to 2^63 - 1; more
 * digits are either padding meant to confuse a proxy that counts differently
 * or an overflow attempt, so they are refused outright.
 * HTTP_TRAILER_MAX: the whole trailer section after the last chunk; without
 * a bound a peer could stream trailer lines forever on one request.
 */
#define HTTP_CHUNK_DIGITS_MAX 16
#define HTTP_TRAILER_MAX 8192

/* Results of the internal scanners besides 0; -1 and -2 match the API. */
#define HTTP_BAD (-1)
#define HTTP_MORE (-2)
#define HTTP_MANY (-3)	/* more header lines than allowed: 431 */
#define HTTP_UNSUP (-4)	/* well-formed but unsupported version: 505 */

/* Byte classes, one table lookup per byte in the scanning loops. */
enum {
	C_TOKEN = 1,	/* tchar (RFC 9110 §5.6.2) */
	C_VALUE = 2,	/* field-vchar, SP or HTAB: VCHAR and obs-text */
	C_TARGET = 4,	/* VCHAR: a request-target byte */
	C_HEX = 8	/* HEXDIG (its value: util_hex_digit) */
};

static const unsigned char http_class[256] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	2, 7, 6, 7, 7, 7, 7, 7, 6, 6, 7, 7, 6, 7, 7, 6,
	15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 6, 6, 6, 6, 6, 6,
	6, 15, 15, 15, 15, 15, 15, 7, 7, 7, 7, 7, 7, 7, 7, 7,
	7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 6, 6, 7, 7,
	7, 15, 15, 15, 15, 15, 15, 7, 7, 7, 7, 7, 7, 7, 7, 7,
	7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 7, 6, 7, 0,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
};

#define HTTP_IS(c, cls) (http_class[(unsigned char)(c)] & (cls))

/*
 * Word-at-a-time tests, used to skip eight clean bytes of a header value or
 * a target at once: values are most of a head. HTTP_BELOW is non-zero when
 * some byte of w is below n (n <= 128); it is exact about whether one is.
 */
#define HTTP_ONES UINT64_C(0x0101010101010101)
#define HTTP_HIGHS UINT64_C(0x8080808080808080)
#define HTTP_BELOW(w, n) (((w) - HTTP_ONES * (n)) & ~(w) & HTTP_HIGHS)

/* First byte at or after p that is not a field-value byte, or end. */
static const char *
http_skip_value(const char *p, const char *end)
{
	for (;;) {
		const char *stop;

		while (end - p >= 8) {
			uint64_t w;

			memcpy(&w, p, 8);
			/* A control byte (HTAB too, rare) or DEL: look closer. */
			if ((HTTP_BELOW(w, 0x20) |
			    HTTP_BELOW(w ^ (HTTP_ONES * 0x7f), 1)) != 0)
				break;
			p += 8;
		}
		stop = end - p > 8 ? p + 8 : end;
		while (p < stop && HTTP_IS(*p, C_VALUE))
			p++;
		if (p < stop || p == end)
			return p;
	}
}

/* First byte at or after p that is not a request-target byte, or end. */
static const char *
http_skip_target(const char *p, const char *end)
{
	for (;;) {
		const char *stop;

		while (end - p >= 8) {
			uint64_t w;

			memcpy(&w, p, 8);
			/* Below '!' (space, controls) or from DEL up. */
			if ((HTTP_BELOW(w, 0x21) |
			    (((w + HTTP_ONES) | w) & HTTP_HIGHS)) != 0)
				break;
			p += 8;
		}
		stop = end - p > 8 ? p + 8 : end;
		while (p < stop && HTTP_IS(*p, C_TARGET))
			p++;
		if (p < stop || p == end)
			return p;
	}
}

static const char *
http_skip_token(const char *p, const char *end)
{
	while (p < end && HTTP_IS(*p, C_TOKEN))
		p++;
	return p;
}

/* Skip the empty lines RFC 9112 §2.2 lets a server ignore before the start
 * line (some clients send CRLF after a POST body). Only whole CRLF pairs: a
 * lone CR or LF stays an error. Returns NULL when the bytes end in a CR that
 * may be the first half of a pair. */
static const char *
http_skip_empty_lines(const char *p, const char *end)
{
	while (end - p >= 2 && p[0] == '\r' && p[1] == '\n')
		p += 2;
	return end - p == 1 && p[0] == '\r' ? NULL : p;
}

/* Expect CRLF at *pp and step over it. */
static int
http_crlf(const char **pp, const char *end)
{
	const char *p = *pp;

	if (p == end)
		return HTTP_MORE;
	if (p[0] != '\r')
		return HTTP_BAD;
	if (end - p < 2)
		return HTTP_MORE;
	if (p[1] != '\n')
		return HTTP_BAD;
	*pp = p + 2;
	return 0;
}

/* A line end at *pp: CRLF, or, when lf_ok, also a bare LF (RFC 9112 §2.2
 * lets a recipient take one as a line terminator; hookd does so only for
 * responses). A bare CR stays an error. */
static int
http_eol(const char **pp, const char *end, int lf_ok)
{
	if (lf_ok && *pp < end && **pp == '\n') {
		(*pp)++;
		return 0;
	}
	return http_crlf(pp, end);
}

/*
 * "HTTP/" DIGIT "." DIGIT at *pp. Returns the minor version (0 or 1) and
 * steps over it, HTTP_UNSUP for any other well-formed version (HTTP/2.0,
 * HTTP/1.2): decided as soon as the digits are in, so the answer does not
 * depend on how the bytes arrive.
 */
static int
http_parse_version(const char **pp, const char *end)
{
	static const char pat[] = "HTTP/0.0";
	const char *p = *pp;
	int i;

	for (i = 0; i < 8; i++) {
		if (p + i == end)
			return HTTP_MORE;
		if (pat[i] == '0' ? p[i] < '0' || p[i] > '9' : p[i] != pat[i])
			return HTTP_BAD;
	}
	*pp = p + 8;
	if (p[5] != '1' || (p[7] != '0' && p[7] != '1'))
		return HTTP_UNSUP;
	return p[7] - '0';
}

/* What the framing and connection headers say, taken in line by line. */
struct http_facts {
	int request, minor;	/* what is being parsed */
	/* A response's head is read tolerantly (RFC 9112 §2.2, §5.2): bare
	 * LF line ends are accepted and obsolete folds are overwritten with
	 * spaces through fold, the writable alias of the bytes at base. NULL
	 * for a request, whose parse stays strict. */
	char *fold;
	const char *base;
	const struct http_header *cl, *te;
	int64_t content_length;	/* -1 when absent */
	int hosts, chunked, close, keep_alive, expect_continue;
	int auths, idem_keys;	/* request fields that must not repeat */
};

/* Call fn for each element of a comma-separated list, OWS trimmed; stops
 * and returns -1 at an empty element. */
static int
http_list(const char *s, size_t n, void (*fn)(const char *, size_t, void *),
    void *arg)
{
	size_t i = 0;

	for (;;) {
		size_t b, e;

		while (i < n && (s[i] == ' ' || s[i] == '\t'))
			i++;
		b = i;
		while (i < n && s[i] != ',')
			i++;
		e = i;
		while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t'))
			e--;
		if (e == b)
			return -1;
		fn(s + b, e - b, arg);
		if (i == n)
			return 0;
		i++;
	}
}

static void
http_connection_token(const char *s, size_t n, void *arg)
{
	struct http_facts *f = arg;

	if (util_span_ieq(s, n, "close"))
		f->close = 1;
	else if (util_span_ieq(s, n, "keep-alive"))
		f->keep_alive = 1;
}

struct http_te {
	size_t count;
	int chunked_last, chunked_early;
};

static void
http_te_coding(const char *s, size_t n, void *arg)
{
	struct http_te *t = arg;

	if (t->chunked_last)
		t->chunked_early = 1;
	t->chunked_last = util_span_ieq(s, n, "chunked");
	t->count++;
}

/*
 * Status for a Transfer-Encoding value: 0 for exactly "chunked" (the only
 * coding hookd decodes), 400 when chunked is not the final coding or the
 * list is malformed (the body length cannot be determined, RFC 9112 §6.3),
 * 501 for any other coding ("gzip, chunked", "gzip").
 */
static int
http_te_status(const char *s, size_t n)
{
	struct http_te t = {0, 0, 0};

	if (http_list(s, n, http_te_coding, &t) != 0 || t.chunked_early)
		return 400;
	return t.chunked_last && t.count == 1 ? 0 : 501;
}

/*
 * Take in one complete header line. Returns 0, or the status to refuse the
 * message with at once: a framing error is reported when its line is in,
 * not when the head is, so a peer cannot hold a bad head open. Two
 * framings, or one given twice, are read differently by different parsers:
 * these are the smuggling forms of contract §8.
 */
static int
http_fact(struct http_facts *f, const struct http_header *x)
{
	uint64_t v;
	int st;

	/* The length first: most names match none of these. */
	switch (x->name_len) {
	case 4:
		/* RFC 9112 §3.2: two Host lines could route one request
		 * to two virtual hosts. */
		if (util_span_ieq(x->name, 4, "host") && ++f->hosts > 1 &&
		    f->request)
			return 400;
		break;
	case 6:
		if (util_span_ieq(x->name, 6, "expect") &&
		    util_span_ieq(x->value, x->value_len, "100-continue"))
			f->expect_continue = 1;
		break;
	case 10:
		/* An empty list element changes nothing here: ignored. */
		if (util_span_ieq(x->name, 10, "connection"))
			(void)http_list(x->value, x->value_len,
			    http_connection_token, f);
		break;
	case 13:
		/* RFC 9110 §11.6.2: one set of credentials. Two lines are
		 * read as the first by one reader and the last by another:
		 * which token was checked must not depend on that. */
		if (util_span_ieq(x->name, 13, "authorization") &&
		    ++f->auths > 1 && f->request)
			return 400;
		break;
	case 15:
		/* One key per request (contract §3): two would make the
		 * repeat check depend on which one is read. */
		if (util_span_ieq(x->name, 15, "idempotency-key") &&
		    ++f->idem_keys > 1 && f->request)
			return 400;
		break;
	case 14:
		if (!util_span_ieq(x->name, 14, "content-length"))
			break;
		/* Digits only: no sign, space or list; at most 2^63 - 1. A
		 * response may repeat the same value (RFC 9110 §8.6, some
		 * frameworks do); a request may not. */
		if (f->te != NULL || util_parse_u64(x->value, x->value_len,
		    INT64_MAX, &v) != 0 || (f->cl != NULL && (f->request ||
		    (uint64_t)f->content_length != v)))
			return 400;
		f->cl = x;
		f->content_length = (int64_t)v;
		break;
	case 17:
		if (!util_span_ieq(x->name, 17, "transfer-encoding"))
			break;
		/* HTTP/1.0 has no transfer codings (RFC 9112 §6.1). */
		if (f->te != NULL || f->cl != NULL || f->minor == 0)
			return 400;
		if ((st = http_te_status(x->value, x->value_len)) != 0)
			return st;
		f->te = x;
		f->chunked = 1;
		break;
	}
	return 0;
}

/*
 * Header field lines from *pp through the blank line ending the head; on 0
 * *pp is past it. A name is a non-empty token followed directly by ':':
 * whitespace before the colon and lines starting with whitespace (obsolete
 * folding) are refused, since intermediaries disagree on them and that is
 * how requests are smuggled (RFC 9112 §5.1, §5.2). Values end in CRLF only;
 * a bare CR or LF, NUL or another control byte is refused. Returns a status
 * (> 0) when http_fact refuses a line.
 *
 * A response (f->fold set) is read as RFC 9112 lets a user agent read it:
 * a bare LF ends a line too, and a line starting with SP or HTAB after a
 * field continues that field's value: the line end before it is
 * overwritten with spaces (§5.2), so the value is one span and a re-parse
 * of the same bytes gives the same result. A field is taken in only once
 * the byte after its line end shows it is not folded.
 */
static int
http_parse_fields(const char **pp, const char *end, struct http_header *h,
    size_t max, size_t *num, struct http_facts *f)
{
	const char *p = *pp, *name, *value, *vend;
	size_t n = 0;
	int r;

	f->cl = f->te = NULL;
	f->content_length = -1;
	f->hosts = f->chunked = f->close = 0;
	f->keep_alive = f->expect_continue = 0;
	f->auths = f->idem_keys = 0;
	for (;;) {
		if (p == end)
			break;
		if (*p == '\r' || (f->fold != NULL && *p == '\n')) {
			if ((r = http_eol(&p, end, f->fold != NULL)) != 0)
				return r;
			*pp = p;
			*num = n;
			return 0;
		}
		if (n == max)
			return HTTP_MANY;
		name = p;
		p = http_skip_token(p, end);
		if (p == end)
			break;
		if (*p != ':' || p == name)
			return HTTP_BAD;
		h[n].name = name;
		h[n].name_len = (size_t)(p - name);
		p++;
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		value = p;
		for (;;) {
			p = http_skip_value(p, end);
			vend = p;
			if ((r = http_eol(&p, end, f->fold != NULL)) != 0)
				return r;
			if (f->fold == NULL)
				break;
			if (p == end)
				return HTTP_MORE;
			if (*p != ' ' && *p != '\t')
				break;
			memset(f->fold + (vend - f->base), ' ',
			    (size_t)(p - vend));
		}
		/* A value that began on a folded line: its spaces now lead. */
		while (value < vend && (*value == ' ' || *value == '\t'))
			value++;
		while (vend > value && (vend[-1] == ' ' || vend[-1] == '\t'))
			vend--;
		h[n].value = value;
		h[n].value_len = (size_t)(vend - value);
		if ((r = http_fact(f, &h[n])) != 0)
			return r;
		*num = ++n;
	}
	return HTTP_MORE;
}

/*
 * The request target in one of the forms a server is sent (RFC 9112 §3.2):
 * origin-form "/path?query", asterisk-form "*", or absolute-form with a
 * scheme and "://" (http and https URIs always have an authority).
 * Authority-form (host:port) is only for CONNECT through a proxy, which
 * hookd is not.
 */
static int
http_target_ok(const char *t, size_t n)
{
	size_t i;

	if (t[0] == '/' || (n == 1 && t[0] == '*'))
		return 1;
	for (i = 0; i < n; i++) {
		char c = t[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
			continue;
		if (i == 0 || !((c >= '0' && c <= '9') || c == '+' ||
		    c == '-' || c == '.'))
			break;
	}
	return i > 0 && n - i > 3 && memcmp(t + i, "://", 3) == 0;
}

int
http_method_known(const char *m, size_t n)
{
	static const char *const known[] = { "GET", "HEAD", "POST", "PUT",
	    "PATCH", "DELETE", "OPTIONS" };
	size_t i;

	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (util_span_eq(m, n, known[i]))
			return 1;
	return 0;
}

int
http_parse_request(const char *buf, size_t len,
    const struct http_limits *lim, struct http_request *req, int *status)
{
	/* The head length is returned as an int. */
	size_t max_head = lim->max_head < INT_MAX ? lim->max_head : INT_MAX;
	size_t max_headers = lim->max_headers < HTTP_MAX_HEADERS ?
	    lim->max_headers : HTTP_MAX_HEADERS;
	const char *p, *end = buf + (len < max_head ? len : max_head);
	struct http_facts f;
	int r, in_line = 1;

	req->num_headers = 0;
	if ((p = http_skip_empty_lines(buf, end)) == NULL)
		goto more;

	/* method SP: a token, and one of the methods hookd knows. Others are
	 * 501 (RFC 9110 §9.1): accepting any token would let requests with
	 * methods of other protocols (RTSP, WebDAV) through to the router. */
	req->method = p;
	p = http_skip_token(p, end);
	if (p == end)
		goto more;
	if (*p != ' ' || p == req->method)
		goto bad;
	req->method_len = (size_t)(p - req->method);
	if (!http_method_known(req->method, req->method_len)) {
		*status = 501;
		return -1;
	}

	/* request-target SP: printable ASCII only. */
	req->target = ++p;
	p = http_skip_target(p, end);
	if (p == end)
		goto more;
	if (*p != ' ' || p == req->target)
		goto bad;
	req->target_len = (size_t)(p - req->target);
	if (!http_target_ok(req->target, req->target_len))
		goto bad;
	p++;

	if ((r = http_parse_version(&p, end)) == HTTP_UNSUP) {
		*status = 505;
		return -1;
	}
	if (r < 0)
		goto fail;
	req->minor_version = r;
	if ((r = http_crlf(&p, end)) != 0)
		goto fail;
	in_line = 0;

	f.request = 1;
	f.minor = req->minor_version;
	f.fold = NULL;
	f.base = buf;
	r = http_parse_fields(&p, end, req->headers, max_headers,
	    &req->num_headers, &f);
	if (r > 0 || r == HTTP_MANY) {
		*status = r > 0 ? r : 431;
		return -1;
	}
	if (r != 0)
		goto fail;
	/* RFC 9112 §3.2: a 1.1 request without Host is 400. */
	if (req->minor_version == 1 && f.hosts == 0)
		goto bad;
	req->content_length = f.content_length;
	req->chunked = f.chunked;
	req->keep_alive = !f.close &&
	    (req->minor_version == 1 || f.keep_alive);
	/* RFC 9110 §10.1.1: a 1.0 request's 100-continue is ignored. */
	req->expect_continue = req->minor_version == 1 && f.expect_continue;
	return (int)(p - buf);
fail:
	if (r != HTTP_MORE)
		goto bad;
more:
	/* The scan stopped at max_head: the head cannot fit any more. */
	if (len >= max_head) {
		*status = in_line ? 414 : 431;
		return -1;
	}
	return -2;
bad:
	*status = 400;
	return -1;
}

int
http_parse_response(char *buf, size_t len,
    const struct http_limits *lim, struct http_response *res)
{
	size_t max_head = lim->max_head < INT_MAX ? lim->max_head : INT_MAX;
	size_t max_headers = lim->max_headers < HTTP_MAX_HEADERS ?
	    lim->max_headers : HTTP_MAX_HEADERS;
	const char *p, *end = buf + (len < max_head ? len : max_head);
	struct http_facts f;
	int r, i;

	res->num_headers = 0;
	if ((p = http_skip_empty_lines(buf, end)) == NULL)
		return len >= max_head ? -1 : -2;

	/* HTTP/1.x SP 3DIGIT [SP reason] CRLF; a missing reason (with its
	 * space) is tolerated, as some servers send "HTTP/1.1 200". */
	if ((r = http_parse_version(&p, end)) < 0)
		goto fail;
	res->minor_version = r;
	r = HTTP_MORE;
	if (p == end)
		goto fail;
	if (*p++ != ' ')
		return -1;
	res->status = 0;
	for (i = 0; i < 3; i++, p++) {
		if (p == end)
			goto fail;
		if (*p < '0' || *p > '9' || (i == 0 && *p == '0'))
			return -1;
		res->status = res->status * 10 + (*p - '0');
	}
	res->reason = p;
	if (p < end && *p == ' ') {
		res->reason = ++p;
		p = http_skip_value(p, end);
	}
	res->reason_len = (size_t)(p - res->reason);
	if ((r = http_eol(&p, end, 1)) != 0)
		goto fail;
	f.request = 0;
	f.minor = res->minor_version;
	f.fold = buf;
	f.base = buf;
	r = http_parse_fields(&p, end, res->headers, max_headers,
	    &res->num_headers, &f);
	if (r > 0)
		return -1;
	if (r != 0)
		goto fail;
	res->content_length = f.content_length;
	res->chunked = f.chunked;
	res->keep_alive = !f.close &&
	    (res->minor_version == 1 || f.keep_alive);
	return (int)(p - buf);
fail:
	if (r != HTTP_MORE || len >= max_head)
		return -1;
	return -2;
}

int
http_retry_after(const char *v, size_t n, int64_t now_ms, int64_t max_ms,
    int64_t *ms)
{
	int64_t when, secs = 0;
	size_t i;

	if (n > 0 && v[0] >= '0' && v[0] <= '9') {
		/* delay-seconds = 1*DIGIT, of any length: counted until the
		 * cap is reached, so a huge number means "as long as
		 * allowed" rather than "absent". */
		for (i = 0; i < n; i++) {
			if (v[i] < '0' || v[i] > '9')
				return -1;
			if (secs <= max_ms / 1000)
				secs = secs * 10 + (v[i] - '0');
		}
		*ms = secs > max_ms / 1000 ? max_ms : secs * 1000;
		return 0;
	}
	if (util_parse_http_date_at(v, n, now_ms, &when) != 0)
		return -1;
	when = when > now_ms ? when - now_ms : 0;
	*ms = when < max_ms ? when : max_ms;
	return 0;
}

/* Decoder states, in the order a chunk goes through them. The size line
 * states come first so that one comparison tells them apart. */
enum {
	CH_SIZE,	/* hex digits; ext_len counts the line so far */
	CH_EXT_NAME0,	/* after ';': the first byte of a name */
	CH_EXT_NAME,
	CH_EXT_VALUE0,	/* after '=': a token or a quoted string */
	CH_EXT_TOKEN,
	CH_EXT_QUOTED,
	CH_EXT_ESCAPE,	/* after a backslash in a quoted string */
	CH_EXT_END,	/* after the closing quote */
	CH_SIZE_LF,
	CH_DATA,
	CH_DATA_CR,
	CH_DATA_LF,
	CH_TRAILER,	/* start of a trailer line or of the final CRLF */
	CH_TRAILER_NAME,
	CH_TRAILER_VALUE,
	CH_TRAILER_LF,
	CH_END_LF,
	CH_DONE
};

ssize_t
http_decode_chunked(struct http_chunked *d, char *buf, size_t *len)
{
	size_t src = 0, dst = 0, n = *len, rest;

	while (src < n && d->state != CH_DONE) {
		unsigned char c;
		int st = d->state;

		if (st == CH_DATA) {
			size_t take = n - src;

			if (d->remaining < take)
				take = (size_t)d->remaining;
			if (dst != src)
				memmove(buf + dst, buf + src, take);
			dst += take;
			src += take;
			d->remaining -= take;
			if (d->remaining == 0)
				d->state = CH_DATA_CR;
			continue;
		}
		c = (unsigned char)buf[src++];
		if (st <= CH_SIZE_LF && ++d->ext_len > HTTP_CHUNK_LINE_MAX)
			goto bad;
		/* In the trailers, remaining (free there) counts their bytes. */
		if (st >= CH_TRAILER && ++d->remaining > HTTP_TRAILER_MAX)
			goto bad;
		switch (st) {
		case CH_SIZE:
			if (HTTP_IS(c, C_HEX)) {
				uint64_t v = (uint64_t)util_hex_digit(c, 0);

				if (d->ext_len > HTTP_CHUNK_DIGITS_MAX ||
				    d->remaining > (uint64_t)INT64_MAX >> 4)
					goto bad;
				d->remaining = d->remaining << 4 | v;
				break;
			}
			/* No whitespace before ';' or CR: strict, as a
			 * lenient size line is a smuggling vector. */
			if (d->ext_len == 1 || (c != ';' && c != '\r'))
				goto bad;
			d->state = c == ';' ? CH_EXT_NAME0 : CH_SIZE_LF;
			break;
		case CH_EXT_NAME0:
			if (!HTTP_IS(c, C_TOKEN))
				goto bad;
			d->state = CH_EXT_NAME;
			break;
		case CH_EXT_NAME:
		case CH_EXT_TOKEN:
		case CH_EXT_END:
			if (st != CH_EXT_END && HTTP_IS(c, C_TOKEN))
				break;
			if (st == CH_EXT_NAME && c == '=')
				d->state = CH_EXT_VALUE0;
			else if (c == ';')
				d->state = CH_EXT_NAME0;
			else if (c == '\r')
				d->state = CH_SIZE_LF;
			else
				goto bad;
			break;
		case CH_EXT_VALUE0:
			if (c == '"')
				d->state = CH_EXT_QUOTED;
			else if (HTTP_IS(c, C_TOKEN))
				d->state = CH_EXT_TOKEN;
			else
				goto bad;
			break;
		case CH_EXT_QUOTED:
			if (c == '"')
				d->state = CH_EXT_END;
			else if (c == '\\')
				d->state = CH_EXT_ESCAPE;
			else if (!HTTP_IS(c, C_VALUE))
				goto bad;
			break;
		case CH_EXT_ESCAPE:
			if (!HTTP_IS(c, C_VALUE))
				goto bad;
			d->state = CH_EXT_QUOTED;
			break;
		case CH_SIZE_LF:
			if (c != '\n')
				goto bad;
			d->ext_len = 0;
			d->state = d->remaining == 0 ? CH_TRAILER : CH_DATA;
			break;
		case CH_DATA_CR:
		case CH_DATA_LF:
			if (c != (st == CH_DATA_CR ? '\r' : '\n'))
				goto bad;
			d->state = st == CH_DATA_CR ? CH_DATA_LF : CH_SIZE;
			break;
		case CH_TRAILER:
			/* A trailer line starting with whitespace would be
			 * obsolete folding: refused as in the head. */
			if (c == '\r')
				d->state = CH_END_LF;
			else if (HTTP_IS(c, C_TOKEN))
				d->state = CH_TRAILER_NAME;
			else
				goto bad;
			break;
		case CH_TRAILER_NAME:
			if (c == ':')
				d->state = CH_TRAILER_VALUE;
			else if (!HTTP_IS(c, C_TOKEN))
				goto bad;
			break;
		case CH_TRAILER_VALUE:
			if (c == '\r')
				d->state = CH_TRAILER_LF;
			else if (!HTTP_IS(c, C_VALUE))
				goto bad;
			break;
		case CH_TRAILER_LF:
		case CH_END_LF:
			if (c != '\n')
				goto bad;
			d->state = st == CH_END_LF ? CH_DONE : CH_TRAILER;
			break;
		default:
			goto bad;
		}
	}
	*len = dst;
	if (d->state != CH_DONE)
		return -2;
	rest = n - src;
	if (rest > 0 && dst != src)
		memmove(buf + dst, buf + src, rest);
	return (ssize_t)rest;
bad:
	*len = dst;
	return -1;
}

uint64_t
http_chunked_announced(const struct http_chunked *d)
{
	/* In the trailers remaining counts trailer bytes, not body. */
	return d->state < CH_TRAILER ? d->remaining : 0;
}

int
http_name_ok(const char *name, size_t n)
{
	return n > 0 && http_skip_token(name, name + n) == name + n;
}

int
http_value_ok(const char *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!HTTP_IS(v[i], C_VALUE))
			return 0;
	return 1;
}

int
http_header_reserved(const char *name, size_t n)
{
	/* Hop-by-hop (RFC 9110 §7.6.1) and framing fields first, then the
	 * ones hookd writes on every delivery. */
	static const char *const names[] = {
		"connection", "keep-alive", "proxy-connection", "te",
		"trailer", "transfer-encoding", "upgrade", "content-length",
		"expect", "host", "user-agent", "content-type",
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (util_span_ieq(name, n, names[i]))
			return 1;
	return (n >= 8 && util_span_ieq(name, 8, "webhook-")) ||
	    (n >= 6 && util_span_ieq(name, 6, "hookd-"));
}

const struct http_header *
http_find_header(const struct http_header *h, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (util_span_ieq(h[i].name, h[i].name_len, name))
			return &h[i];
	return NULL;
}

const char *
http_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 417: return "Expectation Failed";
	case 422: return "Unprocessable Content";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	}
	return "Unknown";
}

int
http_write_head(struct buf *b, int status, const char *content_type,
    size_t content_length, int keep_alive)
{
	/* This runs once per answer: appends, not printf. A 204 carries no
	 * Content-Length (RFC 9110 §8.6). */
	buf_puts(b, "HTTP/1.1 ");
	buf_put_u64(b, (uint64_t)status);
	buf_append(b, " ", 1);
	buf_puts(b, http_reason(status));
	buf_append(b, "\r\n", 2);
	if (status != 204) {
		if (content_type != NULL) {
			buf_puts(b, "Content-Type: ");
			buf_puts(b, content_type);
			buf_append(b, "\r\n", 2);
		}
		buf_puts(b, "Content-Length: ");
		buf_put_u64(b, content_length);
		buf_append(b, "\r\n", 2);
	}
	if (!keep_alive)
		buf_puts(b, "Connection: close\r\n");
	return buf_append(b, "\r\n", 2);
}
