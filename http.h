/*
 * http: HTTP/1.1 message parsing and writing. The parsers are incremental and
 * do not allocate: they fill structures with spans into the caller's buffer
 * (picohttpparser-style) and never touch sockets. Strict by default: every
 * request-smuggling form of contract §8 is an error.
 */
#ifndef HOOKD_HTTP_H
#define HOOKD_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util.h"

/* Hard ceiling on headers in one message, whatever the configuration says:
 * the header array lives in the caller's fixed-size structure. */
#define HTTP_MAX_HEADERS 128

struct http_header {
	const char *name;
	size_t name_len;
	const char *value;	/* leading and trailing spaces/tabs removed */
	size_t value_len;
};

/* What a caller allows: exceeding max_head (request/status line plus headers,
 * including the blank line) or max_headers (<= HTTP_MAX_HEADERS) is an
 * error with status 431 (414 when the request line alone is over max_head). */
struct http_limits {
	size_t max_head;
	size_t max_headers;
};

struct http_request {
	const char *method;
	size_t method_len;
	const char *target;
	size_t target_len;
	int minor_version;	/* 0 or 1: HTTP/1.0 or HTTP/1.1 */
	struct http_header headers[HTTP_MAX_HEADERS];
	size_t num_headers;
	/* Framing and connection facts derived from the headers: */
	int64_t content_length;	/* -1 when absent */
	int chunked;		/* Transfer-Encoding: chunked (final) */
	int keep_alive;		/* 1.1 without "close", or 1.0 with keep-alive */
	int expect_continue;	/* Expect: 100-continue */
};

struct http_response {
	int minor_version;
	int status;		/* 100..999 */
	const char *reason;
	size_t reason_len;
	struct http_header headers[HTTP_MAX_HEADERS];
	size_t num_headers;
	int64_t content_length;	/* -1 when absent */
	int chunked;
	int keep_alive;		/* the server lets the connection be reused */
};

/* 1 when m (n bytes) is a method hookd serves (GET, HEAD, POST, PUT,
 * PATCH, DELETE, OPTIONS; case-sensitive, RFC 9110 §9.1), else 0: the
 * request parser answers 501 to the others. */
int http_method_known(const char *m, size_t n);

/*
 * Parse a request head from buf[0..len). Returns the head's length in bytes
 * (> 0) when complete, -2 when more bytes are needed, -1 when invalid, with
 * *status set to the answer to give (400, 414, 431, 501 for an unsupported
 * transfer coding, 505 for an unsupported version). Refused: bare CR or LF,
 * obsolete line folding, whitespace before a colon, control characters,
 * Content-Length with Transfer-Encoding, repeated or invalid Content-Length,
 * a Transfer-Encoding other than chunked (501), missing Host on HTTP/1.1 or
 * repeated Host (400). Bounds are checked before scanning past them.
 */
int http_parse_request(const char *buf, size_t len,
    const struct http_limits *lim, struct http_request *req, int *status);

/*
 * Parse a response head the same way. Returns the head's length, -2, or -1.
 * A 1xx response is returned like any other; the caller skips it and parses
 * again. Body framing (content_length, chunked) is as sent: the caller
 * decides that HEAD answers, 1xx, 204 and 304 have no body and that without
 * either the body runs until the connection closes.
 * Tolerant where RFC 9112 lets a user agent be (contract §12), strict
 * otherwise: a bare LF ends a line as CRLF does (§2.2), and an obsolete
 * line fold in a field value (a line end followed by SP or HTAB, §5.2) is
 * overwritten with spaces in buf, which is why buf is writable; parsing
 * the same bytes again gives the same answer. Framing rules stay those of
 * the request parser (one Content-Length value, chunked last, no bare CR).
 */
int http_parse_response(char *buf, size_t len,
    const struct http_limits *lim, struct http_response *res);

/*
 * A Retry-After value (RFC 9110 §10.2.3) as a delay in ms from now_ms (epoch
 * ms), at most max_ms: delay-seconds of any length (a number past max_ms is
 * max_ms, not an error) or an HTTP date in any of its three forms (see
 * util_parse_http_date_at; a past date is 0). 0 ok, -1 when the value is
 * neither, and is to be ignored.
 */
int http_retry_after(const char *v, size_t n, int64_t now_ms, int64_t max_ms,
    int64_t *ms);

/* State of a chunked body decoder; zero it before the first call. */
struct http_chunked {
	int state;
	uint64_t remaining;	/* bytes left in the current chunk */
	size_t ext_len;		/* bytes of the current size line seen */
};

/* Longest chunk-size line accepted (size, extensions, CRLF). */
#define HTTP_CHUNK_LINE_MAX 4096

/*
 * Decode chunked data in place. On entry buf[0..*len) holds received bytes;
 * on return buf[0..*len) holds the decoded body bytes from them (chunk
 * framing removed). Returns the number of bytes after the end of the chunked
 * body (>= 0: they stay at buf[*len ..*len + ret) for the next message) when
 * the terminating chunk and trailers have been consumed, -2 when more input
 * is needed (all input was consumed), -1 on invalid framing (a size that is
 * not hex or overflows 2^63, a bad or overlong size line, a bare LF, missing
 * CRLF after data).
 */
ssize_t http_decode_chunked(struct http_chunked *d, char *buf, size_t *len);

/*
 * Body bytes of the current chunk not yet decoded, as its size line
 * announced them (while the size is still being read: the digits so far,
 * which only grow). 0 between chunks and in the trailers. Lets a caller
 * refuse a chunk beyond its body limit before waiting for its bytes.
 */
uint64_t http_chunked_announced(const struct http_chunked *d);

/* First header named name (case-insensitive), or NULL. */
const struct http_header *http_find_header(const struct http_header *h,
    size_t n, const char *name);

/*
 * The one set of header rules of hookd (RFC 9110 §5.1, §5.5), used by the
 * parsers, the API's checks of endpoint headers, delivery and hookd verify:
 * http_name_ok: 1 when name[0..n) is a field name: one or more tchars
 * (NUL is none). http_value_ok: 1 when v[0..n) is a field value: visible
 * characters, obs-text, spaces and tabs; CR, LF, NUL and other controls
 * would inject a header or a request.
 */
int http_name_ok(const char *name, size_t n);
int http_value_ok(const char *v, size_t n);

/*
 * 1 when the header named name (n bytes, any case) is one an endpoint may not
 * add to its deliveries (contract §4, §11): hop-by-hop and framing headers
 * (they would break or smuggle the request), webhook-* and hookd-* (hookd's
 * own, so a signature cannot be forged), user-agent, content-type, host.
 * The API refuses these at registration and delivery leaves them out.
 */
int http_header_reserved(const char *name, size_t n);

/* The reason phrase for a status code ("Unknown" when there is none). */
const char *http_reason(int status);

/* Append a response status line and the headers hookd always sends
 * (Content-Length, Connection: close when !keep_alive, Content-Type when not
 * NULL), ending with the blank line. 0 ok, -1 out of memory. */
int http_write_head(struct buf *b, int status, const char *content_type,
    size_t content_length, int keep_alive);

#endif
