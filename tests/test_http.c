/*
 * test_http: tables for request and response heads (valid, every prefix,
 * byte by byte, limits, smuggling forms), the chunked decoder and the
 * writers; then llhttp's own request and response cases from the test data.
 */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "../http.c"
#include "unit.h"

/* A string literal with its length, NUL bytes included. */
#define S(s) s, sizeof(s) - 1

static const struct http_limits t_lim = { 16384, 100 };

static int
t_span(const char *s, size_t n, const char *lit)
{
	return s != NULL && util_span_eq(s, n, lit);
}

/* Parse a fresh copy of exactly n bytes. Spans are not kept. */
static int
t_req(const char *s, size_t n, const struct http_limits *lim, int *status)
{
	static struct http_request req;
	char *c = unit_dup(s, n);
	int r;

	*status = 0;
	r = c == NULL ? -100 : http_parse_request(c, n, lim, &req, status);
	free(c);
	return r;
}

static int
t_res(const char *s, size_t n, const struct http_limits *lim)
{
	static struct http_response res;
	char *c = unit_dup(s, n);
	int r = c == NULL ? -100 : http_parse_response(c, n, lim, &res);

	free(c);
	return r;
}

/*
 * Feed a request as it would arrive one byte at a time: 1, 2, ... n bytes,
 * each an exact copy. Returns the first answer that is not -2 (or -2), with
 * *at the length that gave it. Every shorter feed must have said -2.
 */
static int
t_req_grow(const char *s, size_t n, const struct http_limits *lim,
    int *status, size_t *at)
{
	size_t k;
	int r = -2;

	for (k = 1; k <= n; k++)
		if ((r = t_req(s, k, lim, status)) != -2)
			break;
	*at = k;
	return r;
}

/* ---- valid requests ---- */

static const struct {
	const char *raw;
	const char *method, *target;
	int minor;
	size_t nh;
	int64_t cl;
	int chunked, ka, expect;
} t_req_ok[] = {
	{ "GET / HTTP/1.1\r\nHost: a\r\n\r\n", "GET", "/", 1, 1, -1, 0, 1, 0 },
	{ "POST /v1/events?callbackURL=http%3A%2F%2Fx HTTP/1.1\r\n"
	  "Host: hookd:8080\r\nContent-Type: application/json\r\n"
	  "Content-Length: 17\r\nAuthorization: Bearer hk_abc\r\n\r\n",
	  "POST", "/v1/events?callbackURL=http%3A%2F%2Fx", 1, 4, 17, 0, 1, 0 },
	{ "PUT /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
	  "PUT", "/x", 1, 2, -1, 1, 1, 0 },
	{ "PATCH /x HTTP/1.1\r\nhost: a\r\ntransfer-encoding: \t CHUNKED \r\n\r\n",
	  "PATCH", "/x", 1, 2, -1, 1, 1, 0 },
	{ "DELETE /v1/endpoints/ep_1 HTTP/1.1\r\nHost: a\r\n"
	  "Connection: close\r\n\r\n",
	  "DELETE", "/v1/endpoints/ep_1", 1, 2, -1, 0, 0, 0 },
	{ "HEAD / HTTP/1.0\r\n\r\n", "HEAD", "/", 0, 0, -1, 0, 0, 0 },
	{ "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
	  "GET", "/", 0, 1, -1, 0, 1, 0 },
	{ "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", "OPTIONS", "*", 1, 1, -1, 0,
	  1, 0 },
	{ "GET http://example.com/a?b HTTP/1.1\r\nHost: example.com\r\n\r\n",
	  "GET", "http://example.com/a?b", 1, 1, -1, 0, 1, 0 },
	{ "POST /e HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\n"
	  "Content-Length: 0\r\n\r\n", "POST", "/e", 1, 3, 0, 0, 1, 1 },
	{ "POST /e HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
	  "POST", "/e", 0, 2, 5, 0, 0, 0 },
	{ "\r\n\r\nGET /a HTTP/1.1\r\nHost: a\r\n\r\n", "GET", "/a", 1, 1, -1, 0,
	  1, 0 },
	{ "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, close\r\n\r\n",
	  "GET", "/", 1, 2, -1, 0, 0, 0 },
	{ "GET / HTTP/1.0\r\nConnection: Upgrade ,\tKeep-Alive \r\n\r\n",
	  "GET", "/", 0, 1, -1, 0, 1, 0 },
	{ "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n"
	  "Connection: keep-alive\r\n\r\n", "GET", "/", 1, 3, -1, 0, 0, 0 },
	{ "GET /q?a=\"b\"&c=|{}~ HTTP/1.1\r\nHost: a\r\nX-Empty:\r\n"
	  "X-Tab:\tv 1\t\r\nX-Obs: caf\xc3\xa9\xff\r\nX-Sp:   \r\n\r\n",
	  "GET", "/q?a=\"b\"&c=|{}~", 1, 5, -1, 0, 1, 0 },
	{ "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0042\r\n\r\n",
	  "GET", "/", 1, 2, 42, 0, 1, 0 },
	{ "POST / HTTP/1.1\r\nHost: a\r\n"
	  "Content-Length: 9223372036854775807\r\n\r\n",
	  "POST", "/", 1, 2, INT64_MAX, 0, 1, 0 },
	{ "GET / HTTP/1.1\r\nHost: a\r\nContent-Length:\t7 \r\n\r\n",
	  "GET", "/", 1, 2, 7, 0, 1, 0 },
	{ "GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  " HTTP/1.1\r\nHost: a\r\nX-Long: 0123456789abcdef0123456789abcdef"
	  "0123456789abcdef\t0123456789abcdef\r\n\r\n", "GET",
	  "/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	  1, 2, -1, 0, 1, 0 },
};

static void
test_requests_valid(void)
{
	size_t i, k, n, at;
	int r, st;

	for (i = 0; i < sizeof(t_req_ok) / sizeof(t_req_ok[0]); i++) {
		struct http_request req;
		char *c, *more;

		n = strlen(t_req_ok[i].raw);
		c = unit_dup(t_req_ok[i].raw, n);
		memset(&req, 0xa5, sizeof(req));
		r = http_parse_request(c, n, &t_lim, &req, &st);
		CHECKF(r == (int)n, "valid request %zu: %d (status %d)", i, r,
		    st);
		if (r == (int)n) {
			CHECKF(t_span(req.method, req.method_len,
			    t_req_ok[i].method) && t_span(req.target,
			    req.target_len, t_req_ok[i].target),
			    "request %zu: method/target", i);
			CHECKF(req.minor_version == t_req_ok[i].minor &&
			    req.num_headers == t_req_ok[i].nh &&
			    req.content_length == t_req_ok[i].cl &&
			    req.chunked == t_req_ok[i].chunked &&
			    req.keep_alive == t_req_ok[i].ka &&
			    req.expect_continue == t_req_ok[i].expect,
			    "request %zu: minor %d nh %zu cl %lld chunked %d "
			    "ka %d expect %d", i, req.minor_version,
			    req.num_headers, (long long)req.content_length,
			    req.chunked, req.keep_alive, req.expect_continue);
			/* Spans stay inside the message. */
			for (k = 0; k < req.num_headers; k++)
				CHECK(req.headers[k].name >= c &&
				    req.headers[k].value + req.headers[k].value_len
				    <= c + n);
		}
		free(c);

		/* Bytes after the head are left alone. */
		more = malloc(n + 6);
		memcpy(more, t_req_ok[i].raw, n);
		memcpy(more + n, "hello\r", 6);
		CHECKF(http_parse_request(more, n + 6, &t_lim, &req, &st) ==
		    (int)n, "request %zu with a body", i);
		free(more);

		/* Every proper prefix needs more; growing feeds agree. */
		for (k = 0; k < n; k++)
			CHECKF(t_req(t_req_ok[i].raw, k, &t_lim, &st) == -2,
			    "request %zu, prefix %zu", i, k);
		CHECKF(t_req_grow(t_req_ok[i].raw, n, &t_lim, &st, &at) ==
		    (int)n && at == n, "request %zu fed byte by byte", i);
	}

	/* Header spans, trimmed. */
	{
		static const char m[] = "GET / HTTP/1.1\r\nHost: a\r\nX-Empty:\r\n"
		    "X-Tab:\tv 1\t\r\nX-Sp:   \r\n\r\n";
		struct http_request req;
		const struct http_header *h;

		CHECK(http_parse_request(m, sizeof(m) - 1, &t_lim, &req, &st) ==
		    (int)sizeof(m) - 1);
		h = http_find_header(req.headers, req.num_headers, "x-tab");
		CHECK(h != NULL && t_span(h->value, h->value_len, "v 1") &&
		    t_span(h->name, h->name_len, "X-Tab"));
		h = http_find_header(req.headers, req.num_headers, "X-EMPTY");
		CHECK(h != NULL && h->value_len == 0);
		h = http_find_header(req.headers, req.num_headers, "x-sp");
		CHECK(h != NULL && h->value_len == 0);
		CHECK(http_find_header(req.headers, req.num_headers, "x") ==
		    NULL);
		CHECK(http_find_header(req.headers, req.num_headers,
		    "x-tabs") == NULL);
		CHECK(http_find_header(req.headers, 0, "host") == NULL);
	}
}

/* ---- refused requests: the smuggling forms of contract §8 and more ---- */

static const struct {
	const char *raw;
	size_t len;
	int status;
} t_req_bad[] = {
#define H "GET / HTTP/1.1\r\nHost: a\r\n"
#define P "POST / HTTP/1.1\r\nHost: a\r\n"
	/* Two framings, or one twice. */
	{ S(P "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"), 400 },
	{ S(P "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"), 400 },
	{ S(P "Transfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n"), 400 },
	{ S(P "Content-Length: 5\r\nContent-Length: 5\r\n\r\n"), 400 },
	{ S(P "Content-Length: 5\r\nContent-Length: 6\r\n\r\n"), 400 },
	{ S(P "Content-Length: 5\r\ncontent-length: 5\r\n\r\n"), 400 },
	/* Content-Length that is not plain digits. */
	{ S(P "Content-Length: +5\r\n\r\n"), 400 },
	{ S(P "Content-Length: -5\r\n\r\n"), 400 },
	{ S(P "Content-Length: 5 5\r\n\r\n"), 400 },
	{ S(P "Content-Length: 5, 5\r\n\r\n"), 400 },
	{ S(P "Content-Length: 5,5\r\n\r\n"), 400 },
	{ S(P "Content-Length: 0x5\r\n\r\n"), 400 },
	{ S(P "Content-Length: 5.0\r\n\r\n"), 400 },
	{ S(P "Content-Length:\r\n\r\n"), 400 },
	{ S(P "Content-Length: 9223372036854775808\r\n\r\n"), 400 },
	{ S(P "Content-Length: 99999999999999999999999\r\n\r\n"), 400 },
	/* Transfer codings. */
	{ S(P "Transfer-Encoding: gzip, chunked\r\n\r\n"), 501 },
	{ S(P "Transfer-Encoding: gzip\r\n\r\n"), 501 },
	{ S(P "Transfer-Encoding: identity\r\n\r\n"), 501 },
	{ S(P "Transfer-Encoding: chunkedchunked\r\n\r\n"), 501 },
	{ S(P "Transfer-Encoding: chunked, gzip\r\n\r\n"), 400 },
	{ S(P "Transfer-Encoding: chunked, chunked\r\n\r\n"), 400 },
	{ S(P "Transfer-Encoding: chunked,\r\n\r\n"), 400 },
	{ S(P "Transfer-Encoding:\r\n\r\n"), 400 },
	{ S(P "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"),
	  400 },
	{ S(P "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n"),
	  400 },
	/* An unsupported coding is refused as soon as its line is in. */
	{ S(P "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n"),
	  501 },
	{ S("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), 400 },
	/* Folding, bare CR and LF, control bytes. */
	{ S(H "X: a\r\n b\r\n\r\n"), 400 },
	{ S(H "X: a\r\n\tb\r\n\r\n"), 400 },
	{ S("GET / HTTP/1.1\r\n Host: a\r\n\r\n"), 400 },
	{ S(H "X: a\rb\r\n\r\n"), 400 },
	{ S(H "X: a\r\r\n\r\n"), 400 },
	{ S(H "\rX: a\r\n\r\n"), 400 },
	{ S(H "X: a\r\n\r\r\n"), 400 },
	{ S("GET / HTTP/1.1\rHost: a\r\n\r\n"), 400 },
	{ S("GET / HTTP/1.1\nHost: a\n\n"), 400 },
	{ S(H "X: a\nY: b\r\n\r\n"), 400 },
	{ S(H "X: a\r\n\n"), 400 },
	{ S(H "\n"), 400 },
	{ S("\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("\rGET / HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S(H "X: a\0b\r\n\r\n"), 400 },
	{ S(H "X: a\x01" "b\r\n\r\n"), 400 },
	{ S(H "X: a\x7f\r\n\r\n"), 400 },
	{ S(H "X: \f\r\n\r\n"), 400 },
	{ S(H "X\0: a\r\n\r\n"), 400 },
	/* Header names. */
	{ S(H "X a\r\n\r\n"), 400 },
	{ S(H "X\r\n\r\n"), 400 },
	{ S(H ": a\r\n\r\n"), 400 },
	{ S(H "X : a\r\n\r\n"), 400 },
	{ S(H "X\t: a\r\n\r\n"), 400 },
	{ S(H "X(y): a\r\n\r\n"), 400 },
	{ S(H "X\xc3\xa9: a\r\n\r\n"), 400 },
	/* Host. */
	{ S("GET / HTTP/1.1\r\n\r\n"), 400 },
	{ S("GET / HTTP/1.1\r\nX-Host: a\r\n\r\n"), 400 },
	{ S(H "Host: a\r\n\r\n"), 400 },
	{ S(H "host: b\r\n\r\n"), 400 },
	{ S("GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n"), 400 },
	/* Fields that must not repeat: which one a reader takes differs. */
	{ S(H "Authorization: Bearer a\r\nauthorization: Bearer b\r\n\r\n"),
	    400 },
	{ S(H "Idempotency-Key: a\r\nIdempotency-Key: a\r\n\r\n"), 400 },
	/* Versions. */
	{ S("GET / HTTP/1.2\r\nHost: a\r\n\r\n"), 505 },
	{ S("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), 505 },
	{ S("GET / HTTP/0.9\r\n\r\n"), 505 },
	{ S("GET / HTTP/5.6"), 505 },
	{ S("GET / HTTP/1\r\nHost: a\r\n\r\n"), 400 },
	{ S("GET / HTTP/1.10\r\nHost: a\r\n\r\n"), 400 },
	{ S("GET / HTTP/11.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("GET / HTTP/1.1 \r\nHost: a\r\n\r\n"), 400 },
	{ S("GET / http/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("GET / HTTPS/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("GET / RTSP/1.0\r\nHost: a\r\n\r\n"), 400 },
	{ S("GET /\r\n\r\n"), 400 },
	/* Request line. */
	{ S("GET  / HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("GET /  HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S(" GET / HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("G(T / HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("GET /a b HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("GET /a\0 HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("GET a/b HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("CONNECT a.example:443 HTTP/1.1\r\nHost: a\r\n\r\n"), 501 },
	{ S("MKCOLA / HTTP/1.1\r\nHost: a\r\n\r\n"), 501 },
	{ S("M-SEARCH * HTTP/1.1\r\nHost: a\r\n\r\n"), 501 },
	{ S("GET ** HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("GET 1http://a/ HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("GET http:// HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
#undef H
#undef P
};

static void
test_requests_bad(void)
{
	size_t i, at;
	int r, st, st2;

	for (i = 0; i < sizeof(t_req_bad) / sizeof(t_req_bad[0]); i++) {
		r = t_req(t_req_bad[i].raw, t_req_bad[i].len, &t_lim, &st);
		CHECKF(r == -1 && st == t_req_bad[i].status,
		    "bad request %zu: %d status %d, want %d", i, r, st,
		    t_req_bad[i].status);
		r = t_req_grow(t_req_bad[i].raw, t_req_bad[i].len, &t_lim,
		    &st2, &at);
		CHECKF(r == -1 && st2 == st, "bad request %zu fed byte by "
		    "byte: %d status %d", i, r, st2);
	}
}

/* ---- limits: exactly at each one, and one past ---- */

/* A request head of exactly n bytes with h header lines, the last a long
 * Host. */
static size_t
t_make(char *m, size_t n, size_t h)
{
	size_t len, i;

	len = (size_t)sprintf(m, "GET / HTTP/1.1\r\n");
	for (i = 1; i < h; i++)
		len += (size_t)sprintf(m + len, "X%zu: y\r\n", i);
	len += (size_t)sprintf(m + len, "Host: ");
	while (len < n - 4)
		m[len++] = 'p';
	memcpy(m + len, "\r\n\r\n", 4);
	return len + 4;
}

static void
test_limits(void)
{
	static char m[8192];
	struct http_limits lim;
	size_t n, at, k;
	int r, st;

	/* Head of exactly max_head bytes: accepted; one byte more: 431. */
	n = t_make(m, 300, 1);
	lim.max_head = 300;
	lim.max_headers = 100;
	CHECK(n == 300 && t_req(m, n, &lim, &st) == 300);
	lim.max_head = 299;
	CHECK(t_req(m, n, &lim, &st) == -1 && st == 431);
	/* Fed byte by byte, refused as soon as max_head bytes are in. */
	CHECK(t_req_grow(m, n, &lim, &st, &at) == -1 && st == 431 &&
	    at == 299);
	CHECK(t_req(m, 298, &lim, &st) == -2);
	/* The scan stops at max_head: a bad byte past it is never seen. */
	m[299] = 'X';
	CHECK(t_req(m, n, &lim, &st) == -1 && st == 431);
	m[299] = '\n';

	/* Request line that does not fit: 414; one that just fits: 431. */
	memset(m, 'a', 400);
	memcpy(m, "GET /", 5);
	lim.max_head = 100;
	CHECK(t_req(m, 400, &lim, &st) == -1 && st == 414);
	CHECK(t_req(m, 100, &lim, &st) == -1 && st == 414);
	CHECK(t_req(m, 99, &lim, &st) == -2);
	memcpy(m + 89, " HTTP/1.1\r\n", 11);	/* line ends at byte 100 */
	CHECK(t_req(m, 400, &lim, &st) == -1 && st == 431);

	/* max_headers lines: accepted; one more: 431. */
	lim.max_head = 16384;
	for (k = 1; k <= HTTP_MAX_HEADERS; k += 9) {
		n = t_make(m, 2000, k);
		lim.max_headers = k;
		r = t_req(m, n, &lim, &st);
		CHECKF(r == (int)n, "%zu headers, max %zu: %d", k, k, r);
		lim.max_headers = k - 1;
		r = t_req(m, n, &lim, &st);
		CHECKF(r == -1 && st == 431, "%zu headers, max %zu: %d %d", k,
		    k - 1, r, st);
	}
	/* The header array's size wins over a larger configured limit. */
	lim.max_headers = 1000;
	n = t_make(m, 4000, HTTP_MAX_HEADERS);
	CHECK(t_req(m, n, &lim, &st) == (int)n);
	n = t_make(m, 4000, HTTP_MAX_HEADERS + 1);
	CHECK(t_req(m, n, &lim, &st) == -1 && st == 431);

	/* Responses: the same bound, without a status. */
	n = (size_t)sprintf(m, "HTTP/1.1 200 OK\r\nX: 0123456789\r\n\r\n");
	lim.max_head = n;
	lim.max_headers = 1;
	CHECK(t_res(m, n, &lim) == (int)n);
	lim.max_head = n - 1;
	CHECK(t_res(m, n, &lim) == -1);
	CHECK(t_res(m, n - 2, &lim) == -2);
	lim.max_head = n;
	lim.max_headers = 0;
	CHECK(t_res(m, n, &lim) == -1);
}

/* ---- the chunked decoder ---- */

/*
 * Decode in pieces of step bytes, as a connection receives them: decoded
 * bytes stay at the front of the buffer and new ones are appended after
 * them. Returns the decoder's last answer; out gets the decoded body and
 * *rest the bytes after it (checked to be the input's tail, else -1).
 */
static ssize_t
t_decode(const char *in, size_t n, size_t step, char *out, size_t *out_len,
    size_t *rest)
{
	struct http_chunked d;
	char *b = malloc(n + 1);
	size_t have = 0, i = 0;
	ssize_t r = -2;

	memset(&d, 0, sizeof(d));
	*rest = 0;
	while (i < n) {
		size_t k = n - i < step ? n - i : step, l = k;

		memcpy(b + have, in + i, k);
		i += k;
		r = http_decode_chunked(&d, b + have, &l);
		CHECK(l <= k);
		have += l;
		if (r == -1)
			break;
		if (r >= 0) {
			*rest = (size_t)r + (n - i);
			if (memcmp(b + have, in + i - (size_t)r, (size_t)r) != 0)
				*rest = (size_t)-1;
			break;
		}
	}
	memcpy(out, b, have);
	*out_len = have;
	free(b);
	return r;
}

static const struct {
	const char *in;
	size_t in_len;
	const char *out;
	size_t out_len;
	size_t rest;
} t_chunk_ok[] = {
	{ S("0\r\n\r\n"), S(""), 0 },
	{ S("5\r\nhello\r\n0\r\n\r\n"), S("hello"), 0 },
	{ S("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"), S("hello world"), 0 },
	{ S("A\r\n0123456789\r\na\r\n0123456789\r\n0\r\n\r\n"),
	  S("01234567890123456789"), 0 },
	{ S("4\r\n\r\n\r\n\r\n0\r\n\r\n"), S("\r\n\r\n"), 0 },
	{ S("3\r\n\0\xff\n\r\n0\r\n\r\n"), S("\0\xff\n"), 0 },
	{ S("0000000000000005\r\nhello\r\n000\r\n\r\n"), S("hello"), 0 },
	{ S("5;foo=bar;baz\r\nhello\r\n0;last\r\n\r\n"), S("hello"), 0 },
	{ S("5;ilovew3=\"I \\\"love\\\"; \\\\extensions\\\\\";somuchlove="
	    "\"aretheseparametersfor\";blah;foo=bar\r\nhello\r\n"
	    "6;blahblah;blah\r\n world\r\n0\r\n\r\n"), S("hello world"), 0 },
	{ S("5;a=\"\"\r\nhello\r\n0;b=\"\t x\x80\"\r\n\r\n"), S("hello"), 0 },
	{ S("5\r\nhello\r\n0\r\nVary: *\r\nContent-Type: text/plain\r\n\r\n"),
	  S("hello"), 0 },
	{ S("5\r\nhello\r\n0\r\nX:\r\n\r\n"), S("hello"), 0 },
	{ S("5\r\nhello\r\n0\r\n\r\nGET / HTTP/1.1\r\n"), S("hello"), 16 },
	{ S("0\r\n\r\n0\r\n\r\n"), S(""), 5 },
};

static const struct {
	const char *in;
	size_t len;
} t_chunk_bad[] = {
	{ S("x\r\n") }, { S("\r\n") }, { S(";a\r\n") }, { S("-5\r\n") },
	{ S("+5\r\n") }, { S("0x5\r\n") }, { S(" 5\r\n") }, { S("5 \r\n") },
	{ S("5\t\r\n") }, { S("5 ;a\r\n") }, { S("5\n") }, { S("5\r\r\n") },
	{ S("5\rhello") },
	{ S("5\r\nhello\n0\r\n\r\n") }, { S("5\r\nhelloX\r\n0\r\n\r\n") },
	{ S("5\r\nhello\r\r\n") }, { S("5\r\nhello\r\n\r\n") },
	{ S("3\r\nfoo\r\n\r\n") },
	{ S("10000000000000000\r\n") }, { S("00000000000000001\r\n") },
	{ S("8000000000000000\r\n") }, { S("ffffffffffffffff\r\n") },
	{ S("5;\r\n") }, { S("5;=a\r\n") }, { S("5;a=\r\n") }, { S("5;a;\r\n") },
	{ S("5;a b\r\n") }, { S("5;a=b c\r\n") }, { S("5;a=\"x\r\nhello") },
	{ S("5;a=\"x\"y\r\n") }, { S("5;a=\"x\n\"\r\n") }, { S("5;a\n") },
	{ S("5;a=\"\\\n\"\r\n") }, { S("5;a=\"x\0\"\r\n") },
	{ S("2 erfrferferf\r\naa\r\n0 rrrr\r\n\r\n") },
	{ S("0\r\n\r\r") }, { S("0\r\n\n") }, { S("0\r\nX: a\nY\r\n\r\n") },
	{ S("0\r\n X: a\r\n\r\n") }, { S("0\r\n: a\r\n\r\n") },
	{ S("0\r\nX a\r\n\r\n") }, { S("0\r\nX: a\x01\r\n\r\n") },
	{ S("0\r\nX: a\r\r\n\r\n") },
};

static void
test_chunked(void)
{
	static char big[3 * HTTP_TRAILER_MAX], out[3 * HTTP_TRAILER_MAX];
	size_t i, ol, rest, step;
	ssize_t r;

	for (i = 0; i < sizeof(t_chunk_ok) / sizeof(t_chunk_ok[0]); i++) {
		for (step = 1; step <= t_chunk_ok[i].in_len; step++) {
			r = t_decode(t_chunk_ok[i].in, t_chunk_ok[i].in_len,
			    step, out, &ol, &rest);
			CHECKF(r >= 0 && ol == t_chunk_ok[i].out_len &&
			    memcmp(out, t_chunk_ok[i].out, ol) == 0 &&
			    rest == t_chunk_ok[i].rest,
			    "chunked %zu in steps of %zu: %zd, %zu bytes, "
			    "rest %zu", i, step, r, ol, rest);
			/* Byte by byte and all at once; a few sizes between. */
			if (step == 3)
				step = t_chunk_ok[i].in_len - 1;
		}
		/* Every proper prefix needs more. */
		for (step = 0; step < t_chunk_ok[i].in_len - t_chunk_ok[i].rest;
		    step++) {
			r = t_decode(t_chunk_ok[i].in, step, step + 1, out, &ol,
			    &rest);
			CHECKF(r == -2, "chunked %zu, prefix %zu: %zd", i, step,
			    r);
		}
	}
	for (i = 0; i < sizeof(t_chunk_bad) / sizeof(t_chunk_bad[0]); i++) {
		r = t_decode(t_chunk_bad[i].in, t_chunk_bad[i].len,
		    t_chunk_bad[i].len, out, &ol, &rest);
		CHECKF(r == -1, "bad chunked %zu: %zd", i, r);
		r = t_decode(t_chunk_bad[i].in, t_chunk_bad[i].len, 1, out, &ol,
		    &rest);
		CHECKF(r == -1, "bad chunked %zu byte by byte: %zd", i, r);
	}

	/* The largest size is accepted (and waits for its data). */
	r = t_decode(S("7fffffffffffffff\r\nabc"), 64, out, &ol, &rest);
	CHECK(r == -2 && ol == 3);
	r = t_decode(S("7FFFFFFFFFFFFFFF;x=y\r\n"), 1, out, &ol, &rest);
	CHECK(r == -2 && ol == 0);

	/* A size line of exactly HTTP_CHUNK_LINE_MAX bytes, and one more. */
	memset(big, 'a', sizeof(big));
	memcpy(big, "1;", 2);
	memcpy(big + HTTP_CHUNK_LINE_MAX - 2, "\r\nx\r\n0\r\n\r\n", 10);
	r = t_decode(big, HTTP_CHUNK_LINE_MAX + 8, 4096, out, &ol, &rest);
	CHECK(r == 0 && ol == 1 && out[0] == 'x');
	memset(big, 'a', sizeof(big));
	memcpy(big, "1;", 2);
	memcpy(big + HTTP_CHUNK_LINE_MAX - 1, "\r\nx\r\n0\r\n\r\n", 10);
	r = t_decode(big, HTTP_CHUNK_LINE_MAX + 9, 4096, out, &ol, &rest);
	CHECK(r == -1);
	/* Trailers: HTTP_TRAILER_MAX bytes in all, then refused. */
	memcpy(big, "0\r\n", 3);
	for (i = 3; i + 1000 < HTTP_TRAILER_MAX; i += 10)
		memcpy(big + i, "X: 12345\r\n", 10);
	memcpy(big + i, "\r\n", 2);
	r = t_decode(big, i + 2, 100, out, &ol, &rest);
	CHECK(r == 0);
	for (i = 3; i < 2 * HTTP_TRAILER_MAX; i += 10)
		memcpy(big + i, "X: 12345\r\n", 10);
	r = t_decode(big, i, 100, out, &ol, &rest);
	CHECK(r == -1);

	/* After the end everything is left for the next message. */
	{
		struct http_chunked d;
		char b[] = "abc";
		size_t l = 3;

		memset(&d, 0, sizeof(d));
		d.state = CH_DONE;
		CHECK(http_decode_chunked(&d, b, &l) == 3 && l == 0 &&
		    memcmp(b, "abc", 3) == 0);
	}
}

/* ---- responses ---- */

static const struct {
	const char *raw;
	int minor, status;
	const char *reason;
	size_t nh;
	int64_t cl;
	int chunked, ka;
} t_res_ok[] = {
	{ "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", 1, 200, "OK", 1, 5,
	  0, 1 },
	{ "HTTP/1.1 204 No Content\r\n\r\n", 1, 204, "No Content", 0, -1, 0,
	  1 },
	{ "HTTP/1.0 200 OK\r\n\r\n", 0, 200, "OK", 0, -1, 0, 0 },
	{ "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
	  0, 200, "OK", 2, 0, 0, 1 },
	{ "HTTP/1.1 200 OK\r\nConnection: close\r\n"
	  "Transfer-Encoding: chunked\r\n\r\n", 1, 200, "OK", 2, -1, 1, 0 },
	{ "HTTP/1.1 410 Gone\r\nConnection: Keep-Alive, Close\r\n\r\n", 1, 410,
	  "Gone", 1, -1, 0, 0 },
	{ "HTTP/1.1 301\r\nLocation: /x\r\n\r\n", 1, 301, "", 1, -1, 0, 1 },
	{ "HTTP/1.1 200 \r\n\r\n", 1, 200, "", 0, -1, 0, 1 },
	{ "HTTP/1.1 200  OK \r\n\r\n", 1, 200, " OK ", 0, -1, 0, 1 },
	{ "HTTP/1.1 500 Ori\xc3\xabntatie\tprobleem\r\n\r\n", 1, 500,
	  "Ori\xc3\xabntatie\tprobleem", 0, -1, 0, 1 },
	{ "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n",
	  1, 200, "OK", 2, 3, 0, 1 },
	{ "\r\nHTTP/1.1 999 Whatever\r\n\r\n", 1, 999, "Whatever", 0, -1, 0,
	  1 },
	{ "HTTP/1.1 100 Continue\r\n\r\n", 1, 100, "Continue", 0, -1, 0, 1 },
};

static const struct {
	const char *raw;
	size_t len;
} t_res_bad[] = {
	{ S("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n") },
	{ S("HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\n") },
	{ S("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n") },
	{ S("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n") },
	{ S("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n") },
	{ S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n") },
	{ S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n") },
	{ S("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n") },
	{ S("HTTP/2.0 200 OK\r\n\r\n") }, { S("HTTP/0.9 200 OK\r\n\r\n") },
	{ S("HTP/1.1 200 OK\r\n\r\n") }, { S("HTTP/01.1 200 OK\r\n\r\n") },
	{ S("HTTP/1.01 200 OK\r\n\r\n") }, { S("RTSP/1.1 200 OK\r\n\r\n") },
	{ S("HTTP/1.1 20 OK\r\n\r\n") }, { S("HTTP/1.1 2000 OK\r\n\r\n") },
	{ S("HTTP/1.1 099 OK\r\n\r\n") }, { S("HTTP/1.1  200 OK\r\n\r\n") },
	{ S("HTTP/1.1\t200 OK\r\n\r\n") }, { S("HTTP/1.1 2x0 OK\r\n\r\n") },
	{ S("HTTP/1.1 200 OK\rX: y") },
	{ S("HTTP/1.1 200 O\x01K\r\n\r\n") }, { S("HTTP/1.1 200 OK\r\n y\r\n") },
	{ S("HTTP/1.1 200 OK\r\nX: a\0\r\n\r\n") },
	{ S("HTTP/1.1 200 OK\r\nX : a\r\n\r\n") },
	{ S("\rHTTP/1.1 200 OK\r\n\r\n") }, { S("\nHTTP/1.1 200 OK\r\n\r\n") },
	/* Tolerance ends where framing or bare CR begins (contract §12). */
	{ S("HTTP/1.1 200 OK\nX: a\r\r\n\n") },
	{ S("HTTP/1.1 200 OK\nX: a\n\r\r\n") },
	{ S("HTTP/1.1 200 OK\nContent-Length: 3\n 4\n\n") },
	{ S("HTTP/1.1 200 OK\n\tX: a\n\n") },
	{ S("HTTP/1.1 200 OK\nX : a\n\n") },
};

/*
 * Responses read tolerantly (contract §12, RFC 9112 §2.2 and §5.2): bare LF
 * line ends, obsolete folds replaced by spaces. hdr is the index of the
 * header checked, value its value after unfolding.
 */
static const struct {
	const char *raw;
	int status;
	size_t nh, hdr;
	const char *value;
	int64_t cl;
} t_res_tolerant[] = {
	{ "HTTP/1.1 200 OK\nContent-Length: 2\n\n", 200, 1, 0, "2", 2 },
	{ "HTTP/1.1 200 OK\r\nX: y\nContent-Length: 0\r\n\n", 200, 2, 0,
	  "y", 0 },
	{ "HTTP/1.1 204\n\n", 204, 0, 0, NULL, -1 },
	{ "HTTP/1.1 503 Busy\r\nRetry-After: Sun, 06 Nov\r\n 1994 08:49:37"
	  " GMT\r\n\r\n", 503, 1, 0, "Sun, 06 Nov   1994 08:49:37 GMT", -1 },
	{ "HTTP/1.1 200 OK\nX: a\n\tb\n  c\nY: d\n\n", 200, 2, 0,
	  "a \tb   c", -1 },
	{ "HTTP/1.1 200 OK\r\nX: a \r\n \r\nY: d\r\n\r\n", 200, 2, 0,
	  "a", -1 },
	{ "HTTP/1.1 200 OK\r\nContent-Length:\r\n 7\r\n\r\n", 200, 1, 0,
	  "7", 7 },
	{ "HTTP/1.1 100 Continue\n\n", 100, 0, 0, NULL, -1 },
};

static void
test_responses_tolerant(void)
{
	struct http_response res;
	size_t i, k, n;
	int r;

	for (i = 0; i < sizeof(t_res_tolerant) / sizeof(t_res_tolerant[0]);
	    i++) {
		const char *v = t_res_tolerant[i].value;
		char *c;

		n = strlen(t_res_tolerant[i].raw);
		/* Every prefix needs more, even one that ends right after a
		 * line end (the next line may fold it). */
		for (k = 0; k < n; k++)
			CHECKF(t_res(t_res_tolerant[i].raw, k, &t_lim) == -2,
			    "tolerant response %zu, prefix %zu", i, k);
		c = unit_dup(t_res_tolerant[i].raw, n);
		/* Fed byte by byte into one buffer, folds already replaced
		 * by earlier calls: the same answer. */
		for (k = 1; k < n; k++)
			(void)http_parse_response(c, k, &t_lim, &res);
		r = http_parse_response(c, n, &t_lim, &res);
		CHECKF(r == (int)n && res.status == t_res_tolerant[i].status &&
		    res.num_headers == t_res_tolerant[i].nh &&
		    res.content_length == t_res_tolerant[i].cl &&
		    (v == NULL || t_span(res.headers[t_res_tolerant[i].hdr].value,
		    res.headers[t_res_tolerant[i].hdr].value_len, v)),
		    "tolerant response %zu: %d status %d", i, r, res.status);
		free(c);
	}
}

/* Retry-After (RFC 9110 §10.2.3, §5.6.7) from a fixed now: Sun, 29 Nov 2026
 * 15:46:59 GMT; max 24 h. */
#define T_NOW 1795967219000LL
#define T_DAY 86400000LL
static const struct {
	const char *v;
	int ok;
	int64_t ms;
} t_retry_after[] = {
	{ "0", 1, 0 }, { "120", 1, 120000 }, { "86400", 1, T_DAY },
	{ "86401", 1, T_DAY }, { "1000000001", 1, T_DAY },
	{ "99999999999999999999999999999", 1, T_DAY },
	{ "Sun, 29 Nov 2026 15:47:59 GMT", 1, 60000 },
	{ "Sunday, 29-Nov-26 15:47:59 GMT", 1, 60000 },
	{ "Sun Nov 29 15:47:59 2026", 1, 60000 },
	{ "Sun Nov  6 08:49:37 1994", 1, 0 },
	{ "Sun Nov 29 15:46:59 2026", 1, 0 },
	{ "Monday, 30-Nov-26 15:46:59 GMT", 1, T_DAY },
	/* Two-digit years: 76 is 50 years ahead, 2076; 77 is more, so the
	 * last 1977; 94 is 1994. All in the past or capped. */
	{ "Sunday, 06-Nov-94 08:49:37 GMT", 1, 0 },
	{ "Thursday, 01-Jan-76 00:00:00 GMT", 1, T_DAY },
	{ "Saturday, 01-Jan-77 00:00:00 GMT", 1, 0 },
	{ "", 0, 0 }, { "-1", 0, 0 }, { "1.5", 0, 0 }, { "12s", 0, 0 },
	{ " 12", 0, 0 }, { "soon", 0, 0 },
	{ "Sun, 29 Nov 2026 15:47:59 UTC", 0, 0 },
	{ "Sun, 29 Foo 2026 15:47:59 GMT", 0, 0 },
	{ "Xyz, 29 Nov 2026 15:47:59 GMT", 0, 0 },
	{ "Sun, 32 Nov 2026 15:47:59 GMT", 0, 0 },
	{ "Sun, 29 Nov 2026 24:47:59 GMT", 0, 0 },
	{ "Sunday, 29-Nov-2026 15:47:59 GMT", 0, 0 },
	{ "Sundae, 29-Nov-26 15:47:59 GMT", 0, 0 },
	{ "Sun Nov 29 15:47:59 26", 0, 0 },
	{ "Sun Nov 9 15:47:59 2026", 0, 0 },
	{ "Sun Nov x9 15:47:59 2026", 0, 0 },
};

static void
test_retry_after(void)
{
	size_t i;

	for (i = 0; i < sizeof(t_retry_after) / sizeof(t_retry_after[0]);
	    i++) {
		int64_t ms = -5;
		int r = http_retry_after(t_retry_after[i].v,
		    strlen(t_retry_after[i].v), T_NOW, T_DAY, &ms);

		CHECKF(t_retry_after[i].ok ? r == 0 &&
		    ms == t_retry_after[i].ms : r == -1,
		    "retry-after %zu (%s): %d %lld", i, t_retry_after[i].v, r,
		    (long long)ms);
	}
}

static void
test_responses(void)
{
	static char two[] = "HTTP/1.1 100 Continue\r\n\r\n"
	    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
	struct http_response res;
	size_t i, k, n;
	int r;

	for (i = 0; i < sizeof(t_res_ok) / sizeof(t_res_ok[0]); i++) {
		char *c;

		n = strlen(t_res_ok[i].raw);
		c = unit_dup(t_res_ok[i].raw, n);
		r = http_parse_response(c, n, &t_lim, &res);
		CHECKF(r == (int)n && res.minor_version == t_res_ok[i].minor &&
		    res.status == t_res_ok[i].status &&
		    t_span(res.reason, res.reason_len, t_res_ok[i].reason) &&
		    res.num_headers == t_res_ok[i].nh &&
		    res.content_length == t_res_ok[i].cl &&
		    res.chunked == t_res_ok[i].chunked &&
		    res.keep_alive == t_res_ok[i].ka,
		    "response %zu: %d status %d ka %d", i, r, res.status,
		    res.keep_alive);
		free(c);
		for (k = 0; k < n; k++)
			CHECKF(t_res(t_res_ok[i].raw, k, &t_lim) == -2,
			    "response %zu, prefix %zu", i, k);
	}
	for (i = 0; i < sizeof(t_res_bad) / sizeof(t_res_bad[0]); i++) {
		CHECKF(t_res(t_res_bad[i].raw, t_res_bad[i].len, &t_lim) == -1,
		    "bad response %zu", i);
		/* Growing feeds never accept it. */
		for (k = 1; k <= t_res_bad[i].len; k++) {
			r = t_res(t_res_bad[i].raw, k, &t_lim);
			if (r != -2)
				break;
		}
		CHECKF(r == -1, "bad response %zu fed byte by byte", i);
	}

	/* 100 Continue, then the real answer in the same buffer. */
	r = http_parse_response(two, sizeof(two) - 1, &t_lim, &res);
	CHECK(r == 25 && res.status == 100);
	n = (size_t)r;
	r = http_parse_response(two + n, sizeof(two) - 1 - n, &t_lim, &res);
	CHECK(r == 38 && res.status == 200 && res.content_length == 2 &&
	    res.keep_alive == 1 && memcmp(two + n + r, "ok", 2) == 0);
}

/* ---- writing, reasons, the byte classes ---- */

static void
test_write(void)
{
	struct buf b = {0};
	int c;

	CHECK(http_write_head(&b, 200, "application/json", 17, 1) == 0);
	CHECK(b.data != NULL && strcmp(b.data, "HTTP/1.1 200 OK\r\n"
	    "Content-Type: application/json\r\nContent-Length: 17\r\n\r\n") ==
	    0);
	buf_reset(&b);
	CHECK(http_write_head(&b, 431, NULL, 0, 0) == 0);
	CHECK(strcmp(b.data, "HTTP/1.1 431 Request Header Fields Too Large\r\n"
	    "Content-Length: 0\r\nConnection: close\r\n\r\n") == 0);
	buf_reset(&b);
	CHECK(http_write_head(&b, 204, NULL, 0, 1) == 0);
	CHECK(strcmp(b.data, "HTTP/1.1 204 No Content\r\n\r\n") == 0);
	buf_reset(&b);
	CHECK(http_write_head(&b, 799, NULL, 5, 1) == 0);
	CHECK(strcmp(b.data, "HTTP/1.1 799 Unknown\r\nContent-Length: 5\r\n"
	    "\r\n") == 0);
	buf_free(&b);

	CHECK(strcmp(http_reason(404), "Not Found") == 0);
	CHECK(strcmp(http_reason(505), "HTTP Version Not Supported") == 0);
	CHECK(strcmp(http_reason(0), "Unknown") == 0);

	/* The class table against the RFC 9110 grammar, byte by byte. */
	for (c = 0; c < 256; c++) {
		int token = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || (c != 0 &&
		    strchr("!#$%&'*+-.^_`|~", c) != NULL);
		int vchar = c > 0x20 && c < 0x7f;
		int hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
		    (c >= 'A' && c <= 'F');

		CHECKF(!!(http_class[c] & C_TOKEN) == token &&
		    !!(http_class[c] & C_TARGET) == vchar &&
		    !!(http_class[c] & C_VALUE) == (vchar || c == ' ' ||
		    c == '\t' || c >= 0x80) && !!(http_class[c] & C_HEX) == hex,
		    "class of byte %d", c);
	}
}

/* The one set of header rules: names, values and the reserved list that
 * both the API and delivery call (contract §11). */
static void
test_header_rules(void)
{
	static const struct {
		const char *s;
		size_t n;	/* 0: strlen */
		int name_ok, value_ok, reserved;
	} t[] = {
		{ "X-Api-Key", 0, 1, 1, 0 },
		{ "x_trace!#$%&'*+-.^`|~", 0, 1, 1, 0 },
		{ "", 0, 0, 1, 0 },
		{ "X Api", 0, 0, 1, 0 },
		{ "X:Api", 0, 0, 1, 0 },
		{ "X\0Api", 5, 0, 0, 0 },	/* NUL: neither name nor value */
		{ "a\tb", 0, 0, 1, 0 },	/* tab: a value, not a name */
		{ "a\rb", 0, 0, 0, 0 },
		{ "a\nb", 0, 0, 0, 0 },
		{ "a\x7f", 0, 0, 0, 0 },
		{ "caf\xc3\xa9", 0, 0, 1, 0 },	/* obs-text value */
		{ "(x)", 0, 0, 1, 0 },
		{ "Host", 0, 1, 1, 1 },
		{ "Content-Length", 0, 1, 1, 1 },
		{ "TRANSFER-ENCODING", 0, 1, 1, 1 },
		{ "Connection", 0, 1, 1, 1 },
		{ "Keep-Alive", 0, 1, 1, 1 },
		{ "Proxy-Connection", 0, 1, 1, 1 },
		{ "TE", 0, 1, 1, 1 },
		{ "Trailer", 0, 1, 1, 1 },
		{ "Upgrade", 0, 1, 1, 1 },
		{ "Expect", 0, 1, 1, 1 },
		{ "User-Agent", 0, 1, 1, 1 },
		{ "content-type", 0, 1, 1, 1 },
		{ "webhook-signature", 0, 1, 1, 1 },
		{ "Webhook-Foo", 0, 1, 1, 1 },
		{ "webhook-", 0, 1, 1, 1 },
		{ "Hookd-Foo", 0, 1, 1, 1 },
		{ "hookd-endpoint", 0, 1, 1, 1 },
		{ "webhook", 0, 1, 1, 0 },
		{ "hookd", 0, 1, 1, 0 },
		{ "X-Webhook-Id", 0, 1, 1, 0 },
		{ "Hostname", 0, 1, 1, 0 },
		{ "Content-Type-X", 0, 1, 1, 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		size_t n = t[i].n != 0 ? t[i].n : strlen(t[i].s);
		char *s = unit_dup(t[i].s, n);

		CHECKF(http_name_ok(s, n) == t[i].name_ok, "name %zu", i);
		CHECKF(http_value_ok(s, n) == t[i].value_ok, "value %zu", i);
		CHECKF(http_header_reserved(s, n) == t[i].reserved,
		    "reserved %zu", i);
		free(s);
	}
}

void
test_http(void)
{
	test_header_rules();
	test_requests_valid();
	test_requests_bad();
	test_limits();
	test_chunked();
	test_responses();
	test_responses_tolerant();
	test_retry_after();
	test_write();
}
