/*
 * server_conn: one accepted connection, advanced through explicit states in
 * a switch (read, parse, hand to the API, wait for the group commit,
 * write), with its limits and timeouts (contract §7).
 */
#include "server_impl.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "api.h"
#include "config.h"
#include "http.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "store.h"
#include "util.h"

/*
 * The connection's own limits (the configurable ones are in config.c).
 */
/* One read(2) while receiving a head or a chunked body. */
#define SERVER_READ_CHUNK 16384
/* Largest single read of a body of known length (already <= max_body). */
#define SERVER_READ_MAX (1024 * 1024)
/* Buffers grown past this by one big request are given back afterwards, so
 * a thousand idle keep-alive connections do not each pin a megabyte. */
#define SERVER_KEEP_BUF (64 * 1024)
/* How long a closing connection may still send before we drop it: reading
 * its leftovers keeps the kernel from answering them with a reset that can
 * destroy our error answer before the client has read it. */
#define SERVER_LINGER_MS 2000

void
wait_unlink(struct conn *c)
{
	if (c->wprev != NULL)
		c->wprev->wnext = c->wnext;
	else
		wait_head = c->wnext;
	if (c->wnext != NULL)
		c->wnext->wprev = c->wprev;
	else
		wait_tail = c->wprev;
	c->wprev = c->wnext = NULL;
}

void
conn_close(struct conn *c)
{
	if (c->state == CONN_WAIT_DURABLE)
		wait_unlink(c);
	if (c->state == CONN_PARKED)
		nparked--;
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	loop_watch_del(&c->w);
	close(c->w.fd);
	buf_free(&c->in);
	buf_free(&c->out);
	buf_free(&c->body);
	free(c);
	nconns--;
	metrics.open_connections--;
}

static enum conn_step
conn_gone(struct conn *c)
{
	conn_close(c);
	return STEP_GONE;
}

/* Enter state s and start the deadline that goes with it. */
void
conn_set_state(struct conn *c, enum conn_state s)
{
	const struct config *cfg = config_current();

	if (c->state == CONN_PARKED)
		nparked--;
	c->state = s;
	switch (s) {
	case CONN_READ_HEAD:
		/* Between requests the idle timeout runs; from the first
		 * byte of a head, the (shorter) header timeout, which later
		 * bytes do not extend: a slow drip cannot hold us. */
		c->head_started = c->in.len > 0;
		c->deadline = loop_now + (c->head_started ?
		    cfg->header_timeout_ms : cfg->idle_timeout_ms);
		break;
	case CONN_READ_BODY:
		/* Contract §18: the body must arrive within body_timeout in
		 * all, and without a pause of idle_timeout: a client
		 * trickling a byte a second cannot hold us for ever. */
		c->body_deadline = loop_now + cfg->body_timeout_ms;
		c->deadline = util_min64(c->body_deadline,
		    loop_now + cfg->idle_timeout_ms);
		break;
	case CONN_PARKED:
		/* Contract §11: the request is run again when the resolver
		 * answers, and at the latest at this deadline, accepting a
		 * name still unresolved (the connect-time check stays the
		 * guard). Nothing is read meanwhile, and no client timeout
		 * runs: the wait is ours. */
		c->deadline = loop_now + API_RESOLVE_WAIT_MS;
		c->resolve_late = 0;
		nparked++;
		break;
	case CONN_WRITE:
		c->deadline = loop_now + cfg->idle_timeout_ms;
		break;
	case CONN_WAIT_DURABLE:
		/* Durability is our side's business: no client timeout. */
		c->deadline = INT64_MAX;
		c->wprev = wait_tail;
		c->wnext = NULL;
		if (wait_tail != NULL)
			wait_tail->wnext = c;
		else
			wait_head = c;
		wait_tail = c;
		break;
	case CONN_CLOSE:
		c->deadline = loop_now + SERVER_LINGER_MS;
		break;
	}
}

/* Poll for what the state waits on. */
void
conn_update_events(struct conn *c)
{
	short ev = 0;

	switch (c->state) {
	case CONN_READ_HEAD:
	case CONN_READ_BODY:
		if (!c->peer_eof)
			ev |= POLLIN;
		if (c->sent < c->out.len)	/* a 100 Continue */
			ev |= POLLOUT;
		break;
	case CONN_PARKED:
	case CONN_WAIT_DURABLE:
		break;
	case CONN_WRITE:
		ev = POLLOUT;
		break;
	case CONN_CLOSE:
		ev = POLLIN;
		break;
	}
	c->w.events = ev;
}

/*
 * One writev of what is left of out and body: the bytes sent, or -1 (errno;
 * EINTR is retried). The connection stays as it is.
 */
ssize_t
conn_try_send(struct conn *c)
{
	size_t blen = c->send_body ? c->body.len : 0;
	struct iovec iov[2];
	int k = 0;
	ssize_t n;

	if (c->sent < c->out.len) {
		iov[k].iov_base = c->out.data + c->sent;
		iov[k].iov_len = c->out.len - c->sent;
		k++;
	}
	if (blen > 0) {
		size_t off = c->sent > c->out.len ? c->sent - c->out.len : 0;

		iov[k].iov_base = c->body.data + off;
		iov[k].iov_len = blen - off;
		k++;
	}
	do
		n = writev(c->w.fd, iov, k);
	while (n < 0 && errno == EINTR);
	if (n > 0)
		c->sent += (size_t)n;
	return n;
}

/*
 * Send what is left of out and body. STEP_NEXT when all is sent, STEP_WAIT
 * when the socket is full, STEP_GONE when the peer is gone.
 */
static enum conn_step
conn_flush(struct conn *c)
{
	size_t total = c->out.len + (c->send_body ? c->body.len : 0);

	while (c->sent < total) {
		ssize_t n = conn_try_send(c);

		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return STEP_WAIT;
			return conn_gone(c);
		}
		/* A client that stops reading is closed after idle_timeout
		 * without progress, not after idle_timeout in all. */
		c->deadline = loop_now + config_current()->idle_timeout_ms;
	}
	return STEP_NEXT;
}

/*
 * Read once from the socket into in. 0, or -1 when the connection is gone.
 * End of input only sets peer_eof: what was received is still answered.
 */
static int
conn_read(struct conn *c)
{
	size_t want = SERVER_READ_CHUNK;
	ssize_t n;

	/* A body of known length (<= max_body) is read in big steps. */
	if (c->state == CONN_READ_BODY && !c->req.chunked &&
	    c->msg_len > c->in.len + want)
		want = c->msg_len - c->in.len < SERVER_READ_MAX ?
		    c->msg_len - c->in.len : SERVER_READ_MAX;
	if (buf_reserve(&c->in, want) != 0) {
		conn_close(c);
		return -1;
	}
	for (;;) {
		n = read(c->w.fd, c->in.data + c->in.len,
		    c->in.cap - c->in.len - 1);
		if (n >= 0 || errno != EINTR)
			break;
	}
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		conn_close(c);
		return -1;
	}
	if (n == 0) {
		c->peer_eof = 1;
		return 0;
	}
	c->in.len += (size_t)n;
	c->in.data[c->in.len] = '\0';
	if (c->state == CONN_READ_HEAD && !c->head_started) {
		c->head_started = 1;
		c->deadline = loop_now + config_current()->header_timeout_ms;
	} else if (c->state == CONN_READ_BODY)
		c->deadline = util_min64(c->body_deadline,
		    loop_now + config_current()->idle_timeout_ms);
	return 0;
}

/* The "error" text of a status the server answers by itself. */
static const char *
conn_error_text(int status)
{
	switch (status) {
	case 400: return "bad request";
	case 408: return "request timeout";
	case 413: return "request body too large";
	case 414: return "request target too long";
	case 431: return "request header fields too large";
	case 501: return "transfer coding not implemented";
	case 505: return "http version not supported";
	default: return "internal error";
	}
}

/*
 * Put the status line and headers for body into out, after whatever of a
 * 100 Continue is still unsent. 0, or -1 when out of memory.
 */
int
conn_respond(struct conn *c, int status, const char *ctype, int keep_alive)
{
	buf_consume(&c->out, c->sent < c->out.len ? c->sent : c->out.len);
	c->sent = 0;
	c->status = status;
	c->keep_alive = keep_alive;
	/* These statuses never carry a body (RFC 9110 §6.4.1). */
	if (status < 200 || status == 204 || status == 304)
		c->send_body = 0;
	if (http_write_head(&c->out, status, ctype, c->body.len,
	    keep_alive) != 0)
		return -1;
	/* HTTP/1.0 closes unless the answer says otherwise. */
	if (keep_alive && c->parsed && c->req.minor_version == 0) {
		c->out.len -= 2;	/* before the head's blank line */
		if (buf_puts(&c->out, "Connection: keep-alive\r\n\r\n") != 0)
			return -1;
	}
	if (status / 100 < 6)
		metrics.http_by_class[status / 100]++;
	return 0;
}

/* Answer status with a JSON error (never echoing the request) and close
 * after it is sent. */
static enum conn_step
conn_fail(struct conn *c, int status)
{
	const char *text = conn_error_text(status);

	/* 501 is also the parser's answer to a method hookd does not know
	 * (RFC 9110 §9.1; the method was parsed before it was refused). */
	if (status == 501 && c->req.method != NULL &&
	    !http_method_known(c->req.method, c->req.method_len))
		text = "method not implemented";
	buf_reset(&c->body);
	if (buf_printf(&c->body, "{\"error\": \"%s\"}", text) != 0 ||
	    conn_respond(c, status, "application/json", 0) != 0)
		return conn_gone(c);
	conn_set_state(c, CONN_WRITE);
	return STEP_NEXT;
}

/*
 * Whether the head is worth parsing now: its first bytes arrived (a bad
 * request line is refused at once), a line was completed (a bad header line
 * is refused at once), or more than max_header_bytes arrived (the parser
 * answers 431). Only new bytes are searched, and lines are parsed for at most
 * max_headers + 2 of them, after which only the blank line that ends the head
 * triggers a parse: a client dripping its head a byte at a time cannot make
 * us parse the whole head again for every byte (quadratic CPU).
 */
static int
conn_head_ready(struct conn *c)
{
	const char *d = c->in.data;
	size_t i = c->scan;
	int first = c->scan == 0, line = 0;

	while (i < c->in.len) {
		const char *nl = memchr(d + i, '\n', c->in.len - i);

		if (nl == NULL)
			break;
		i = (size_t)(nl - d);
		line = 1;
		if ((i >= 1 && d[i - 1] == '\n') ||
		    (i >= 2 && d[i - 1] == '\r' && d[i - 2] == '\n')) {
			c->scan = i + 1;
			return 1;
		}
		i++;
	}
	c->scan = c->in.len;
	if (line && c->lines_parsed <= config_current()->max_headers + 2) {
		c->lines_parsed++;
		return 1;
	}
	return first || c->in.len > config_current()->max_header_bytes;
}

static int
conn_parse(struct conn *c, int *status)
{
	const struct config *cfg = config_current();
	struct http_limits lim;

	lim.max_head = cfg->max_header_bytes;
	lim.max_headers = cfg->max_headers;
	return http_parse_request(c->in.data, c->in.len, &lim, &c->req,
	    status);
}

/* The API's view of the parsed request: its body is what follows the head
 * up to msg_len. */
static void
conn_api_request(const struct conn *c, struct api_request *r)
{
	r->method = c->req.method;
	r->method_len = c->req.method_len;
	r->target = c->req.target;
	r->target_len = c->req.target_len;
	r->headers = c->req.headers;
	r->num_headers = c->req.num_headers;
	r->body = c->in.data + c->head_len;
	r->body_len = c->msg_len - c->head_len;
	r->resolve_late = c->resolve_late;
}

/*
 * Contract §18: a /v1 request without a valid token is answered on its head,
 * before a byte of its body is waited for, and gets no 100 Continue: an
 * anonymous client cannot make us hold memory or a connection for a body
 * nobody will read. The connection stays open only when the whole body is
 * already here (it is skipped like any answered request's); else the body
 * is unread and the connection closes after the answer. 0 when the request
 * may go on, 1 when the answer is set up, -1 when the connection is gone.
 */
static int
conn_refuse_anonymous(struct conn *c)
{
	struct api_request r;
	const char *ctype = NULL;
	int status, keep_alive;

	conn_api_request(c, &r);	/* msg_len is head_len: no body */
	buf_reset(&c->body);
	status = api_auth_head(&r, &c->body, &ctype);
	if (status == 0)
		return 0;
	if (c->body.oom)
		return conn_fail(c, 500) == STEP_GONE ? -1 : 1;
	keep_alive = c->req.keep_alive && !draining && !c->req.chunked &&
	    (c->req.content_length <= 0 ||
	    ((uint64_t)c->req.content_length <= config_current()->max_body &&
	    c->in.len >= c->head_len + (size_t)c->req.content_length));
	if (keep_alive)
		c->msg_len = c->head_len + (c->req.content_length > 0 ?
		    (size_t)c->req.content_length : 0);
	if (conn_respond(c, status, ctype, keep_alive) != 0) {
		conn_close(c);
		return -1;
	}
	conn_set_state(c, CONN_WRITE);
	return 1;
}

/* READ_HEAD: parse the head once it is complete, refuse it without a valid
 * token, check the body's size, and move on to the body. */
static enum conn_step
conn_head(struct conn *c)
{
	int status = 400, r;

	if (c->in.len == 0 || !conn_head_ready(c))
		return c->peer_eof ? conn_gone(c) : STEP_WAIT;
	r = conn_parse(c, &status);
	if (r == -2 && c->in.len > config_current()->max_header_bytes)
		return conn_fail(c, 431);	/* never buffer without end */
	if (r == -2)
		return c->peer_eof ? conn_gone(c) : STEP_WAIT;
	if (r < 0)
		return conn_fail(c, status);
	c->parsed = 1;
	c->parsed_cap = c->in.cap;
	c->head_len = (size_t)r;
	c->started = loop_now;
	c->send_body = !util_span_eq(c->req.method, c->req.method_len, "HEAD");
	c->msg_len = c->head_len;
	r = conn_refuse_anonymous(c);
	if (r != 0)
		return r < 0 ? STEP_GONE : STEP_NEXT;
	/* Refused before a byte of it is read: memory is committed only to
	 * bodies within the limit. */
	if (c->req.content_length > 0 &&
	    (uint64_t)c->req.content_length > config_current()->max_body)
		return conn_fail(c, 413);
	c->msg_len = c->head_len;
	if (c->req.content_length > 0)
		c->msg_len += (size_t)c->req.content_length;
	c->body_len = 0;
	memset(&c->chunk, 0, sizeof(c->chunk));
	conn_set_state(c, CONN_READ_BODY);

	if (c->req.expect_continue && c->req.minor_version == 1 &&
	    (c->req.chunked ? c->in.len == c->head_len :
	    c->in.len < c->msg_len)) {
		if (buf_puts(&c->out, "HTTP/1.1 100 Continue\r\n\r\n") != 0)
			return conn_gone(c);
		if (conn_flush(c) == STEP_GONE)
			return STEP_GONE;
	}
	return STEP_NEXT;
}

/* READ_BODY: wait for a Content-Length body, or decode chunks in place as
 * they come (the decoded body stays right after the head). */
static enum conn_step
conn_body(struct conn *c)
{
	if (c->req.chunked) {
		char *raw = c->in.data + c->head_len + c->body_len;
		size_t len = c->in.len - c->head_len - c->body_len;
		ssize_t rest;

		if (len == 0)
			return c->peer_eof ? conn_gone(c) : STEP_WAIT;
		rest = http_decode_chunked(&c->chunk, raw, &len);
		if (rest == -1)
			return conn_fail(c, 400);
		c->body_len += len;
		/* A chunk announced past max_body is refused now: a slow
		 * client is not waited for to reach the limit. */
		if (c->body_len > config_current()->max_body ||
		    http_chunked_announced(&c->chunk) >
		    config_current()->max_body - c->body_len)
			return conn_fail(c, 413);
		if (rest == -2) {
			/* All raw bytes were consumed; keep only the body. */
			c->in.len = c->head_len + c->body_len;
			c->in.data[c->in.len] = '\0';
			return c->peer_eof ? conn_gone(c) : STEP_WAIT;
		}
		/* What follows the body is the next pipelined request. */
		c->msg_len = c->head_len + c->body_len;
		c->in.len = c->msg_len + (size_t)rest;
		c->in.data[c->in.len] = '\0';
	} else if (c->in.len < c->msg_len)
		return c->peer_eof ? conn_gone(c) : STEP_WAIT;
	return conn_answer(c);
}

/* The request is complete: let the API answer it, then wait for the group
 * commit when the answer reports a change not yet on disk. */
enum conn_step
conn_answer(struct conn *c)
{
	struct api_request r;
	const char *ctype = NULL, *allow, *extra;
	int status, keep_alive;

	if (c->in.cap != c->parsed_cap) {
		int ignored;

		/* Reading the body moved in: req's spans point into the old
		 * memory. The head has not changed, so this cannot fail. */
		if (conn_parse(c, &ignored) != (int)c->head_len)
			return conn_fail(c, 500);
		c->parsed_cap = c->in.cap;
	}
	conn_api_request(c, &r);

	buf_reset(&c->body);
	status = api_handle(&r, &c->body, &ctype);
	if (status == API_RESOLVING) {
		/* Parked until the lookup ends (server_parked_run); a request run
		 * again and still waiting keeps its first deadline. */
		if (c->state != CONN_PARKED)
			conn_set_state(c, CONN_PARKED);
		return STEP_WAIT;
	}
	if (c->body.oom)
		return conn_fail(c, 500);
	keep_alive = c->req.keep_alive && !draining;
	if (conn_respond(c, status, ctype, keep_alive) != 0)
		return conn_gone(c);
	/* A 405 names the methods its target takes (RFC 9110 §15.5.6):
	 * before the head's blank line. */
	if (status == 405 && (allow = api_allow(&r)) != NULL) {
		c->out.len -= 2;
		if (buf_puts(&c->out, "Allow: ") != 0 ||
		    buf_puts(&c->out, allow) != 0 ||
		    buf_puts(&c->out, "\r\n\r\n") != 0)
			return conn_gone(c);
	}
	/* A 429 says when to come back (RFC 9110 §10.2.3), likewise. */
	if (status == 429 && api_retry_after() > 0) {
		c->out.len -= 2;
		if (buf_printf(&c->out, "Retry-After: %lld\r\n\r\n",
		    (long long)api_retry_after()) != 0)
			return conn_gone(c);
	}
	if ((extra = api_extra_head()) != NULL) {
		c->out.len -= 2;
		if (buf_puts(&c->out, extra) != 0 ||
		    buf_puts(&c->out, "\r\n") != 0)
			return conn_gone(c);
	}

	/* Contract §6: a 2xx means on disk. Every answer waits for what was
	 * written before it, so a read never shows what a crash could undo. */
	c->wait_seq = store_written_seq();
	if (c->wait_seq > store_durable_seq()) {
		conn_set_state(c, CONN_WAIT_DURABLE);
		/* Start a sync now when none runs, rather than at the end of
		 * the pass: the requests handled while it runs form the next
		 * batch, so fsyncs and request handling overlap. */
		if (sync_async && !store_sync_busy() &&
		    store_sync_begin() < 0)
			sync_failed();
		return STEP_WAIT;
	}
	conn_set_state(c, CONN_WRITE);
	return STEP_NEXT;
}

/* Debug log of one answered request: never the query, headers or body,
 * where tokens and data live. */
static void
conn_log_request(const struct conn *c)
{
	char m[64], p[512];
	const char *q;
	size_t plen;

	if (!log_verbose())
		return;
	if (!c->parsed) {
		log_line("debug", "request", "status=%d", c->status);
		return;
	}
	q = memchr(c->req.target, '?', c->req.target_len);
	plen = q != NULL ? (size_t)(q - c->req.target) : c->req.target_len;
	log_line("debug", "request", "method=%s path=%s status=%d ms=%lld",
	    log_quote(m, sizeof(m), c->req.method, c->req.method_len),
	    log_quote(p, sizeof(p), c->req.target, plen), c->status,
	    (long long)(loop_now - c->started));
}

/* Give back a buffer that one big request grew, keeping its bytes. */
static void
conn_shrink(struct buf *b)
{
	struct buf small = { NULL, 0, 0, 0 };

	if (b->cap <= SERVER_KEEP_BUF || b->len > SERVER_KEEP_BUF / 2)
		return;
	if (b->len > 0 && buf_append(&small, b->data, b->len) != 0)
		return;		/* keep the big one */
	buf_free(b);
	*b = small;
}

/* The answer is sent: close, or go on with the next (maybe already
 * buffered) request on this connection. */
static enum conn_step
conn_finish(struct conn *c)
{
	conn_log_request(c);
	if (!c->keep_alive) {
		(void)shutdown(c->w.fd, SHUT_WR);
		conn_set_state(c, CONN_CLOSE);
		return STEP_WAIT;
	}
	buf_consume(&c->in, c->msg_len);
	buf_reset(&c->out);
	buf_reset(&c->body);
	conn_shrink(&c->in);
	conn_shrink(&c->out);
	conn_shrink(&c->body);
	c->scan = 0;
	c->lines_parsed = 0;
	c->parsed = 0;
	c->head_len = c->msg_len = c->body_len = 0;
	c->sent = 0;
	c->send_body = 1;
	c->status = 0;
	conn_set_state(c, CONN_READ_HEAD);
	return STEP_NEXT;
}

/* Run the state machine until it has to wait (or the connection is gone).
 * Only one request per connection is handled at a time, in order. */
void
conn_advance(struct conn *c)
{
	enum conn_step step = STEP_NEXT;

	while (step == STEP_NEXT) {
		switch (c->state) {
		case CONN_READ_HEAD:
			step = conn_head(c);
			break;
		case CONN_READ_BODY:
			step = conn_body(c);
			break;
		case CONN_WRITE:
			step = conn_flush(c);
			if (step == STEP_NEXT)
				step = conn_finish(c);
			break;
		case CONN_PARKED:
		case CONN_WAIT_DURABLE:
		case CONN_CLOSE:
			step = STEP_WAIT;
			break;
		}
	}
	if (step == STEP_WAIT)
		conn_update_events(c);
}

/* CLOSE: read and drop what the client still sends until it closes. */
static void
conn_linger(struct conn *c)
{
	static char sink[SERVER_READ_CHUNK];
	ssize_t n = read(c->w.fd, sink, sizeof(sink));

	if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN &&
	    errno != EWOULDBLOCK))
		conn_close(c);
}

static void
conn_cb(struct watch *w, short revents)
{
	struct conn *c = (struct conn *)(void *)w;	/* w is the first
							   member */

	if (revents & POLLNVAL) {
		conn_close(c);
		return;
	}
	switch (c->state) {
	case CONN_READ_HEAD:
	case CONN_READ_BODY:
		if ((revents & POLLOUT) && conn_flush(c) == STEP_GONE)
			return;
		if ((revents & (POLLIN | POLLHUP | POLLERR)) &&
		    conn_read(c) != 0)
			return;
		break;
	case CONN_PARKED:
		/* Nothing is polled for, but a reset or hang-up is reported
		 * anyway: nobody is left to answer, and nothing was written,
		 * so the request is dropped (else poll would return at once
		 * on every pass until the deadline). */
		if (revents & (POLLHUP | POLLERR))
			conn_close(c);
		return;
	case CONN_WAIT_DURABLE:
		/* Ends in this same pass at the group commit; a dead peer is
		 * noticed when the answer is written. */
		return;
	case CONN_WRITE:
		break;
	case CONN_CLOSE:
		conn_linger(c);
		return;
	}
	conn_advance(c);
}

void
conn_new(int fd)
{
	struct conn *c;
	int one = 1;

	if (util_fd_nonblock(fd) != 0) {
		close(fd);
		return;
	}
	/* Each answer is one writev; Nagle would only delay the next. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		log_line("warn", "out of memory", "where=accept");
		close(fd);
		return;
	}
	c->w.fd = fd;
	c->w.cb = conn_cb;
	c->w.slot = LOOP_WATCH_NONE;
	c->send_body = 1;
	if (loop_watch_add(&c->w) != 0) {
		log_line("warn", "out of memory", "where=accept");
		free(c);
		close(fd);
		return;
	}
	c->next = conns;
	if (conns != NULL)
		conns->prev = c;
	conns = c;
	nconns++;
	metrics.open_connections++;
	/* The header timeout runs from accept: a silent client is not
	 * given the longer idle timeout. */
	conn_set_state(c, CONN_READ_HEAD);
	c->head_started = 1;
	c->deadline = loop_now + config_current()->header_timeout_ms;
	conn_update_events(c);
}

