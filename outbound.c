/*
 * outbound: one outbound HTTP/1.1 exchange (connect, send, read the
 * response), over TLS for https (tls.h: the handshake is part of the
 * exchange), and the keep-alive pools, keyed by (scheme, address, port,
 * Host, owner) so that tenants never share a connection and a plain one is
 * never taken for a TLS one. Results go to the exchange's done callback;
 * this file knows nothing of deliveries.
 */
#include "outbound.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "loop.h"
#include "tls.h"
#include "webhook.h"

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0
#endif

/*
 * Limits. Each bounds what a receiver can make an exchange hold.
 */
/* Response head (contract §5): a receiver cannot make hookd buffer more. */
#define OUT_MAX_HEAD	65536
/* Interim (1xx) responses before the final one: their bytes count toward
 * OUT_MAX_HEAD, and more than this many is "bad response". Real servers
 * send one or two (100 Continue, 103 Early Hints); without a cap a receiver
 * could keep an attempt busy with empty 1xx heads until its timeout, and
 * every one costs a parse. */
#define OUT_MAX_INTERIM	16
/* Idle keep-alive connections are closed after this: receivers usually drop
 * them sooner anyway, and each holds a descriptor and a poll slot. */
#define OUT_IDLE_MS		30000
#define OUT_POOL_BUCKETS	512
/* Bytes asked of read() at a time, and reads per readiness event so one
 * fast receiver cannot monopolise a loop pass. */
#define OUT_READ_CHUNK	16384
#define OUT_READS_PER_EVENT	8

/*
 * Connections are non-blocking with TCP_NODELAY and kept alive in pools
 * keyed by (address, port, Host, owner), the owner being the endpoint (or,
 * for one-off callbacks, the client): tenants never share a connection. An
 * idle pooled connection is watched for input (the receiver closed it, or
 * sent what nobody asked for: drop it), is checked for unread bytes when
 * parked and again when reused, and closed after 30 s; a pool keeps at most
 * endpoint_concurrency idle ones and all pools together max_outbound. A
 * reused connection that fails before any response byte arrives (the
 * receiver closed it as we sent) is replaced once by a fresh one; that is
 * not counted as an attempt.
 */
/* Keep-alive connections to one (address, port, Host) for one owner: an
 * endpoint, or a client's one-off callbacks. Connections are never shared
 * between owners, so one tenant's receiver can never answer (or hold an
 * answer waiting) for another tenant's delivery. */
struct out_pool {
	struct out_pool *next;		/* hash chain */
	uint32_t hash;
	uint64_t ep;			/* the endpoint's id, 0 for one-offs */
	int tls;			/* https: its connections speak TLS */
	char client[UTIL_ID_MAX + 1];	/* the owning client's id */
	char host[URL_HOST_MAX];
	struct sockaddr_storage sa;	/* zero-filled, so memcmp compares */
	socklen_t salen;
	struct out_conn *idle;		/* idle ones, most recently used first */
	size_t nidle;
	size_t nconn;			/* all of them, busy or idle */
};

/* An outbound connection. */
struct out_conn {
	struct watch w;			/* first: the callback gets &w */
	struct out_pool *pool;
	struct tls_conn *tls;		/* https, once connected; else NULL */
	struct out_exchange *att;	/* the exchange using it, or NULL */
	int idle;			/* on the idle lists */
	struct out_conn *pnext, *pprev;	/* the pool's idle list */
	struct out_conn *lnext, *lprev;	/* all idle ones, oldest first */
	int64_t idle_since;		/* monotonic ms */
};

static struct out_pool *pools[OUT_POOL_BUCKETS];
static struct out_conn *lru_head, *lru_tail;
static size_t nidle_total;
/* The parsed head of the response being read; used within one call. */
static struct http_response scratch_res;

static const struct http_limits response_limits = {
	OUT_MAX_HEAD, HTTP_MAX_HEADERS
};

static void out_conn_close(struct out_conn *c);
static void out_conn_park(struct out_conn *c);

size_t
outbound_endpoint_cap(void)
{
	return config_current()->endpoint_concurrency > 0 ?
	    config_current()->endpoint_concurrency : 1;
}

size_t
outbound_cap(void)
{
	return config_current()->max_outbound > 0 ?
	    config_current()->max_outbound : 1;
}

/* Error text and result for a socket errno. */
static const char *
out_errno_error(int err, enum out_result *r)
{
	*r = OUT_ERROR;
	switch (err) {
	case ECONNREFUSED:
		return "connection refused";
	case ECONNRESET:
	case EPIPE:
		return "connection reset";
	case ETIMEDOUT:
		*r = OUT_TIMEOUT;
		return "timeout";
	case ENETUNREACH:
	case EHOSTUNREACH:
		return "unreachable";
	case ENOMEM:
	case ENOBUFS:
		return "out of memory";
	default:
		return "connection failed";
	}
}

/* ---------------------------------------------------------------------- */
/* Connections and pools                                                  */

/* The pool of x's connections to sa: keyed by scheme, address, Host and
 * owner. */
static struct out_pool *
out_pool_get(const struct out_exchange *x, const struct sockaddr_storage *sa,
    socklen_t salen)
{
	const char *host = x->host, *client = x->client;
	uint64_t ep = x->ep;
	int tls = x->tls != 0;
	uint32_t h = util_hash(util_hash(util_hash(util_hash(util_hash(
	    UTIL_HASH_START, host, strlen(host)), sa, salen), client,
	    strlen(client)), &ep, sizeof(ep)), &tls, sizeof(tls));
	struct out_pool **slot = &pools[h % OUT_POOL_BUCKETS], *p;

	for (p = *slot; p != NULL; p = p->next)
		if (p->hash == h && p->salen == salen && p->ep == ep &&
		    p->tls == tls && memcmp(&p->sa, sa, salen) == 0 &&
		    strcmp(p->host, host) == 0 && strcmp(p->client, client) == 0)
			return p;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return NULL;
	p->hash = h;
	p->ep = ep;
	p->tls = tls;
	snprintf(p->client, sizeof(p->client), "%s", client);
	snprintf(p->host, sizeof(p->host), "%s", host);
	memcpy(&p->sa, sa, salen);
	p->salen = salen;
	p->next = *slot;
	*slot = p;
	return p;
}

/* Free p once it holds no connection. */
static void
out_pool_release(struct out_pool *p)
{
	struct out_pool **pp = &pools[p->hash % OUT_POOL_BUCKETS];

	if (p->nconn != 0)
		return;
	while (*pp != NULL && *pp != p)
		pp = &(*pp)->next;
	if (*pp == p)
		*pp = p->next;
	free(p);
}

static void
out_idle_unlink(struct out_conn *c)
{
	struct out_pool *p = c->pool;

	if (c->pprev != NULL)
		c->pprev->pnext = c->pnext;
	else
		p->idle = c->pnext;
	if (c->pnext != NULL)
		c->pnext->pprev = c->pprev;
	p->nidle--;
	c->idle = 0;
	if (c->lprev != NULL)
		c->lprev->lnext = c->lnext;
	else
		lru_head = c->lnext;
	if (c->lnext != NULL)
		c->lnext->lprev = c->lprev;
	else
		lru_tail = c->lprev;
	nidle_total--;
	c->pnext = c->pprev = c->lnext = c->lprev = NULL;
}

static void
out_conn_close(struct out_conn *c)
{
	struct out_pool *p = c->pool;

	if (c->idle)
		out_idle_unlink(c);
	loop_watch_del(&c->w);
	tls_close(c->tls);
	close(c->w.fd);
	p->nconn--;
	free(c);
	out_pool_release(p);
}

/* 1 when nothing is waiting unread on c and the receiver has not closed
 * it: only then may c carry another request. A byte there now (a stray
 * second response, the start of a close) would otherwise be read as the
 * next delivery's answer. Over TLS, records that carry no data (a session
 * ticket that came late) are processed and do not count. */
static int
out_conn_quiet(struct out_conn *c)
{
	char b;
	ssize_t n;

	if (c->tls != NULL)
		return tls_idle_check(c->tls) == TLS_WANT_READ;
	do
		n = recv(c->w.fd, &b, 1, MSG_PEEK);
	while (n < 0 && errno == EINTR);
	return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

/* Keep c for the next attempt to its pool, within the idle caps. */
static void
out_conn_park(struct out_conn *c)
{
	struct out_pool *p = c->pool;

	c->att = NULL;
	if (p->nidle >= outbound_endpoint_cap() || !out_conn_quiet(c)) {
		out_conn_close(c);
		return;
	}
	if (nidle_total >= outbound_cap() && lru_head != NULL)
		out_conn_close(lru_head);
	c->idle = 1;
	c->w.events = POLLIN;
	c->idle_since = util_mono_ms();
	c->pprev = NULL;
	c->pnext = p->idle;
	if (p->idle != NULL)
		p->idle->pprev = c;
	p->idle = c;
	p->nidle++;
	c->lnext = NULL;
	c->lprev = lru_tail;
	if (lru_tail != NULL)
		lru_tail->lnext = c;
	else
		lru_head = c;
	lru_tail = c;
	nidle_total++;
}

/* An idle connection became readable or hung up: the receiver closed it
 * (or sent what nobody asked for). Either way it cannot be reused; but over
 * TLS what came may be a session ticket only, and then it stays. */
static void
out_conn_idle_event(struct out_conn *c, short revents)
{
	if (revents == 0)
		return;
	if (c->tls != NULL && !(revents & (POLLERR | POLLHUP | POLLNVAL)) &&
	    out_conn_quiet(c))
		return;
	out_conn_close(c);
}

static void out_conn_cb(struct watch *w, short revents);

/* Open a connection to p for x, non-blocking. 0 (connecting, x->conn set),
 * or an errno value. */
static int
out_conn_open(struct out_exchange *x, struct out_pool *p)
{
	struct out_conn *c;
	int fd, one = 1, err;

	fd = socket(p->sa.ss_family, SOCK_STREAM, 0);
	if (fd < 0)
		return errno;
	if (util_fd_cloexec(fd) != 0 || util_fd_nonblock(fd) != 0) {
		err = errno;
		close(fd);
		return err;
	}
	/* The request goes out in one write; Nagle would only delay it. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (const struct sockaddr *)(const void *)&p->sa,
	    p->salen) != 0 && errno != EINPROGRESS && errno != EINTR) {
		err = errno;
		close(fd);
		return err;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		close(fd);
		return ENOMEM;
	}
	c->w.fd = fd;
	c->w.events = POLLOUT;	/* writable: connected or failed */
	c->w.cb = out_conn_cb;
	if (loop_watch_add(&c->w) != 0) {
		close(fd);
		free(c);
		return ENOMEM;
	}
	c->pool = p;
	p->nconn++;
	c->att = x;
	x->conn = c;
	x->reused = 0;
	x->state = OUT_CONNECTING;
	return 0;
}

static void out_send(struct out_exchange *x);

/* x ended without an answer: tell its owner. Nothing of x or its
 * connection is touched after this. */
static void
out_fail(struct out_exchange *x, const char *error, enum out_result r)
{
	x->reusable = 0;
	x->done(x, r, error);
}

/* A whole response arrived: tell x's owner, which judges it (contract §5)
 * and gives the connection back, to the pool when reusable. */
static void
out_answered(struct out_exchange *x)
{
	x->reusable = x->keep_alive && x->sent_all &&
	    x->mode != OUT_BODY_CLOSE;
	x->done(x, OUT_ANSWER, NULL);
}

void
out_connect(struct out_exchange *x)
{
	while (x->next_addr < x->naddr) {
		struct sockaddr_storage ss;
		socklen_t len;
		struct out_pool *p;
		int err;

		x->cur_addr = x->next_addr++;
		len = url_addr_to_sockaddr(&x->addr[x->cur_addr], x->port, &ss);
		if (!url_addr_allowed((const struct sockaddr *)(void *)&ss,
		    config_current()->allow, config_current()->nallow))
			continue;
		x->allowed++;
		p = out_pool_get(x, &ss, len);
		if (p == NULL) {
			out_fail(x, "out of memory", OUT_ERROR);
			return;
		}
		/* Idle ones with something unread (it came since the last
		 * poll) are closed, not reused. */
		while (p->idle != NULL && !x->refreshed &&
		    !out_conn_quiet(p->idle)) {
			p->nconn++;	/* keep p while closing its conn */
			out_conn_close(p->idle);
			p->nconn--;
		}
		if (p->idle != NULL && !x->refreshed) {
			struct out_conn *c = p->idle;

			out_idle_unlink(c);
			c->att = x;
			x->conn = c;
			x->reused = 1;
			out_send(x);
			return;
		}
		err = out_conn_open(x, p);
		if (err == 0)
			return;
		out_pool_release(p);
		x->last_errno = err;
	}
	if (x->allowed == 0) {
		/* Name the class of the first address and the way out. */
		struct sockaddr_storage ss;

		(void)url_addr_to_sockaddr(&x->addr[0], x->port, &ss);
		if (x->naddr == 0 || url_denied_error((const struct sockaddr *)
		    (void *)&ss, NULL, config_current()->allow,
		    config_current()->nallow, x->error, sizeof(x->error)) == 0)
			snprintf(x->error, sizeof(x->error),
			    "destination not allowed");
		out_fail(x, x->error, OUT_DENIED);
	} else {
		enum out_result r;
		const char *msg = out_errno_error(x->last_errno, &r);

		out_fail(x, msg, r);
	}
}

/* The pooled connection x reused was closed by the receiver before it
 * answered: try once more on a fresh one, in the same attempt. */
static void
out_refresh(struct out_exchange *x)
{
	struct out_conn *c = x->conn;

	x->conn = NULL;
	out_conn_close(c);
	x->refreshed = 1;
	x->reused = 0;
	x->req_off = 0;
	x->sent_all = 0;
	buf_reset(&x->in);
	x->scan = 0;
	x->got_bytes = 0;
	x->head_bytes = 0;
	x->interim = 0;
	x->state = OUT_SENDING;
	x->next_addr = x->cur_addr;
	out_connect(x);
}

/* A connection or read error on x's connection. */
static void
out_io_error(struct out_exchange *x, int err)
{
	enum out_result r;
	const char *msg;

	if (x->reused && !x->refreshed && !x->got_bytes) {
		out_refresh(x);
		return;
	}
	/* A receiver that answered before taking the whole request resets
	 * the connection when it closes with our bytes unread (RFC 9112
	 * §9.6): an answer read until then, whose body runs to the close,
	 * is whole, and is judged (contract §12). */
	if (x->state == OUT_BODY && x->mode == OUT_BODY_CLOSE && !x->sent_all &&
	    (err == ECONNRESET || err == EPIPE)) {
		out_answered(x);
		return;
	}
	msg = out_errno_error(err, &r);
	out_fail(x, msg, r);
}

/* A TLS failure on x's connection (tls_error has its text): on a reused
 * connection before any answer, the receiver most likely dropped it as we
 * reused it, so a fresh one is tried as for a reset; else the attempt
 * fails with the text (contract §13), which its owner retries (§5). */
static void
out_tls_fail(struct out_exchange *x)
{
	if (x->reused && !x->refreshed && !x->got_bytes) {
		out_refresh(x);
		return;
	}
	snprintf(x->error, sizeof(x->error), "%s", tls_error(x->conn->tls));
	out_fail(x, x->error, OUT_ERROR);
}

static void out_send(struct out_exchange *x);

/* One step of the TLS handshake of x's new connection; on to sending once
 * it is over. It runs within the attempt's timeout like the connect. */
static void
out_handshake(struct out_exchange *x)
{
	struct out_conn *c = x->conn;

	x->state = OUT_HANDSHAKE;
	switch (tls_handshake(c->tls)) {
	case TLS_OK:
		out_send(x);
		return;
	case TLS_WANT_READ:
		c->w.events = POLLIN;
		return;
	case TLS_WANT_WRITE:
		c->w.events = POLLOUT;
		return;
	case TLS_EOF:
	case TLS_FAIL:
		if (tls_error(c->tls) == NULL) {
			out_io_error(x, errno);
			return;
		}
		out_tls_fail(x);
		return;
	}
}

/* x's new connection is up: start TLS on it when x is https, then send.
 * The session kept for the same host:port is offered for resumption. */
static void
out_connected(struct out_exchange *x)
{
	struct out_conn *c = x->conn;
	char key[URL_HOST_MAX + 8];

	if (!x->tls) {
		out_send(x);
		return;
	}
	snprintf(key, sizeof(key), "%s:%u", x->host, (unsigned)x->port);
	c->tls = tls_connect(c->w.fd, x->host, x->literal, key, x->error,
	    sizeof(x->error));
	if (c->tls == NULL) {
		out_fail(x, x->error, OUT_ERROR);
		return;
	}
	out_handshake(x);
}

static int out_read(struct out_exchange *x);

/* Write up to len bytes of p on c: the count (> 0); 0 when c must wait
 * (c->w.events set); -1 with errno on a socket error; -2 on a TLS error
 * (tls_error says which). */
static ssize_t
out_conn_write(struct out_conn *c, const char *p, size_t len)
{
	ssize_t n;
	size_t put = 0;

	if (c->tls == NULL) {
		do
			n = send(c->w.fd, p, len, MSG_NOSIGNAL);
		while (n < 0 && errno == EINTR);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			/* Also watch for input: a receiver may answer (413)
			 * before taking the whole body. */
			c->w.events = POLLOUT | POLLIN;
			return 0;
		}
		if (n == 0) {
			errno = EPIPE;
			return -1;
		}
		return n;
	}
	switch (tls_write(c->tls, p, len, &put)) {
	case TLS_OK:
		return (ssize_t)put;
	case TLS_WANT_WRITE:
		c->w.events = POLLOUT | POLLIN;
		return 0;
	case TLS_WANT_READ:
		c->w.events = POLLIN;
		return 0;
	case TLS_EOF:
		errno = EPIPE;
		return -1;
	case TLS_FAIL:
		break;
	}
	return tls_error(c->tls) == NULL ? -1 : -2;
}

/*
 * Write more of x's request. Interim answers that come meanwhile are read
 * and skipped by the caller (out_conn_cb), and sending goes on; a final answer
 * ends the sending. When the receiver resets the connection as we write
 * (it answered early and closed), what it answered is read before the
 * reset is taken as the outcome.
 */
static void
out_send(struct out_exchange *x)
{
	struct out_conn *c = x->conn;

	x->state = OUT_SENDING;
	while (x->req_off < x->req.len) {
		ssize_t n = out_conn_write(c, x->req.data + x->req_off,
		    x->req.len - x->req_off);

		if (n > 0) {
			x->req_off += (size_t)n;
			continue;
		}
		if (n == 0)
			return;
		if (n == -2) {
			out_tls_fail(x);
			return;
		}
		if ((errno == ECONNRESET || errno == EPIPE) &&
		    !(x->reused && !x->refreshed && !x->got_bytes)) {
			x->state = OUT_HEAD;
			c->w.events = POLLIN;
			(void)out_read(x);
			return;
		}
		out_io_error(x, errno);
		return;
	}
	x->sent_all = 1;
	x->state = OUT_HEAD;
	c->w.events = POLLIN;
}

/* A whole response arrived: apply the rules of §5. */


/* 1 when the body so far may be a JSON object: its first byte that is not
 * JSON whitespace is '{'. */
static int
out_body_object(const struct out_exchange *x)
{
	size_t i;

	for (i = 0; i < x->body_len; i++)
		if (x->body[i] != ' ' && x->body[i] != '\t' &&
		    x->body[i] != '\r' && x->body[i] != '\n')
			return x->body[i] == '{';
	return 0;
}

/* Keep the body's first bytes (for the log and the ack) and count the
 * rest; a 2xx JSON object body that outgrows them is kept whole, for the
 * "ack": false check (at most OUT_MAX_BODY, checked by the caller).
 * 0, or -1 out of memory. */
static int
out_body_keep(struct out_exchange *x, const char *p, size_t n)
{
	size_t room = sizeof(x->body) - x->body_len;

	if (n < room)
		room = n;
	memcpy(x->body + x->body_len, p, room);
	x->body_len += room;
	x->body_total += n;
	if (x->keep_all)
		return buf_append(&x->whole, p, n);
	if (x->body_total == x->body_len || x->status < 200 ||
	    x->status > 299 || !out_body_object(x))
		return 0;
	if (x->whole.len == 0 &&
	    buf_append(&x->whole, x->body, x->body_len) != 0)
		return -1;
	return buf_append(&x->whole, p + room, n - room);
}

/* Retry-After as a delay in ms (seconds of any size or an HTTP date in any
 * of its three forms, contract §12), at most the 24 h cap; -1 when absent
 * or not understood, which is then ignored. */
static int64_t
out_retry_after_ms(const struct http_response *res)
{
	const struct http_header *h;
	int64_t ms;

	h = http_find_header(res->headers, res->num_headers, "Retry-After");
	if (h == NULL || http_retry_after(h->value, h->value_len,
	    util_wall_ms(), WEBHOOK_RETRY_AFTER_MAX_MS, &ms) != 0)
		return -1;
	return ms;
}

/* Take the parsed head of x's response. 0, or -1 when it is unusable. */
static int
out_head_accept(struct out_exchange *x, const struct http_response *res)
{
	const struct http_header *ct;

	x->status = res->status;
	x->keep_alive = res->keep_alive;
	ct = http_find_header(res->headers, res->num_headers, "Content-Type");
	x->ctype[0] = '\0';
	if (ct != NULL && ct->value_len < sizeof(x->ctype)) {
		memcpy(x->ctype, ct->value, ct->value_len);
		x->ctype[ct->value_len] = '\0';
	}
	if (res->status == 429 || res->status == 503)
		x->retry_after = out_retry_after_ms(res);
	/* An answer to HEAD has no body whatever its head says (RFC 9112
	 * §6.3). */
	if (res->status == 204 || res->status == 304 || (x->req.len >= 5 &&
	    memcmp(x->req.data, "HEAD ", 5) == 0)) {
		x->mode = OUT_BODY_NONE;
	} else if (res->chunked) {
		x->mode = OUT_BODY_CHUNKED;
		memset(&x->chunk, 0, sizeof(x->chunk));
	} else if (res->content_length >= 0) {
		/* Known to exceed the limit: no need to read it first. */
		if (res->content_length > OUT_MAX_BODY) {
			x->too_large = 1;
			return -1;
		}
		x->mode = OUT_BODY_LENGTH;
		x->remaining = (uint64_t)res->content_length;
	} else {
		x->mode = OUT_BODY_CLOSE;
	}
	return 0;
}

/* 1 when the bytes from x->scan on hold the end of a head: a line end
 * followed by an empty line, LF LF or LF CR LF (bare LF line ends are
 * accepted in responses, contract §12). Only then is the head parsed, so a
 * receiver trickling bytes costs a scan of the new ones rather than a
 * parse of everything each time. */
static int
out_head_complete(struct out_exchange *x)
{
	const char *p = x->in.data;
	size_t i = x->scan;

	for (; i + 2 <= x->in.len; i++) {
		if (p[i] != '\n')
			continue;
		if (p[i + 1] == '\n')
			return 1;
		if (p[i + 1] == '\r') {
			if (i + 3 > x->in.len)
				break;
			if (p[i + 2] == '\n')
				return 1;
		}
	}
	x->scan = i;
	return 0;
}

/* Body bytes in x->in: consume them. 1 when the attempt ended. */
static int
out_body_input(struct out_exchange *x)
{
	char *p = x->in.data;
	size_t n = x->in.len, extra = 0, take;
	int done = 0;

	switch (x->mode) {
	case OUT_BODY_NONE:
		extra = n;
		done = 1;
		break;
	case OUT_BODY_LENGTH:
		take = (uint64_t)n < x->remaining ? n : (size_t)x->remaining;
		if (out_body_keep(x, p, take) != 0)
			goto oom;
		x->remaining -= take;
		extra = n - take;
		done = x->remaining == 0;
		break;
	case OUT_BODY_CHUNKED:
		if (n > 0) {
			size_t len = n;
			ssize_t r = http_decode_chunked(&x->chunk, p, &len);

			if (r == -1) {
				out_fail(x, "bad response", OUT_ERROR);
				return 1;
			}
			if (out_body_keep(x, p, len) != 0)
				goto oom;
			if (r >= 0) {
				done = 1;
				extra = (size_t)r;
			}
		}
		break;
	case OUT_BODY_CLOSE:
		if (out_body_keep(x, p, n) != 0)
			goto oom;
		break;
	}
	buf_reset(&x->in);
	/* As with a Content-Length past the limit, a chunk announced past it
	 * ends the attempt now rather than after a megabyte has trickled. */
	if (x->body_total > OUT_MAX_BODY || (x->mode == OUT_BODY_CHUNKED &&
	    http_chunked_announced(&x->chunk) >
	    OUT_MAX_BODY - x->body_total)) {
		x->too_large = 1;
		out_fail(x, "bad response", OUT_ERROR);
		return 1;
	}
	if (done) {
		/* Bytes after the response: the receiver is out of step, so
		 * the connection is not reused. */
		if (extra > 0)
			x->keep_alive = 0;
		out_answered(x);
		return 1;
	}
	return 0;
oom:
	out_fail(x, "out of memory", OUT_ERROR);
	return 1;
}

/* New response bytes in x->in. 1 when the attempt ended. */
static int
out_response_input(struct out_exchange *x)
{
	/* While sending too: interim answers are skipped whenever they
	 * come (contract §12). */
	while (x->state == OUT_HEAD || x->state == OUT_SENDING) {
		struct http_limits lim = response_limits;
		int h;

		/* Interim heads count toward the head limit. */
		lim.max_head = OUT_MAX_HEAD - x->head_bytes;
		if (!out_head_complete(x)) {
			if (x->in.len >= lim.max_head) {
				out_fail(x, "bad response: head over 64 KiB "
				    "(interim 1xx heads included)", OUT_ERROR);
				return 1;
			}
			return 0;
		}
		h = http_parse_response(x->in.data, x->in.len, &lim,
		    &scratch_res);
		/* The head's end is there, so -2 cannot be right either; a
		 * head that ends past the limit is -1. */
		if (h < 0 && x->in.len >= lim.max_head) {
			out_fail(x, "bad response: head over 64 KiB "
			    "(interim 1xx heads included)", OUT_ERROR);
			return 1;
		}
		if (h <= 0 || scratch_res.status == 101) {
			out_fail(x, "bad response", OUT_ERROR);
			return 1;
		}
		if (scratch_res.status < 200) {
			/* 100 Continue and other interim answers. */
			if (++x->interim > OUT_MAX_INTERIM) {
				out_fail(x, "bad response: more than 16 "
				    "interim (1xx) responses", OUT_ERROR);
				return 1;
			}
			x->head_bytes += (size_t)h;
			buf_consume(&x->in, (size_t)h);
			x->scan = 0;
			continue;
		}
		if (out_head_accept(x, &scratch_res) != 0) {
			out_fail(x, "bad response", OUT_ERROR);
			return 1;
		}
		buf_consume(&x->in, (size_t)h);
		x->state = OUT_BODY;
	}
	return out_body_input(x);
}

/* The receiver closed the connection; clean is 0 when a TLS connection
 * closed without close_notify. */
static void
out_eof(struct out_exchange *x, int clean)
{
	if (x->state == OUT_BODY && x->mode == OUT_BODY_CLOSE) {
		/* RFC 9112 §9.8: over TLS, a body that runs to the close is
		 * whole only when the close was the TLS close_notify; a bare
		 * TCP close may be an attacker cutting it short. (A
		 * length-delimited answer ended before the close, which then
		 * needs no close_notify.) */
		if (!clean) {
			out_fail(x, "bad response: closed without TLS "
			    "close_notify, so the body may be cut short "
			    "(RFC 9112 §9.8)", OUT_ERROR);
			return;
		}
		out_answered(x);
		return;
	}
	if (!x->got_bytes) {
		if (x->reused && !x->refreshed) {
			out_refresh(x);
			return;
		}
		out_fail(x, "connection closed", OUT_ERROR);
		return;
	}
	out_fail(x, "bad response", OUT_ERROR);
}

/* Read up to len bytes from c into p: the count (> 0); 0 when c must wait
 * (for TLS, c->w.events gains POLLOUT when the library wants to write);
 * -1 with errno on a socket error; -2 on a TLS error (tls_error); -3 at
 * the end, with *clean 0 when TLS ended without close_notify. */
static ssize_t
out_conn_read(struct out_conn *c, char *p, size_t len, int *clean)
{
	ssize_t n;
	size_t got = 0;

	*clean = 1;
	if (c->tls == NULL) {
		do
			n = read(c->w.fd, p, len);
		while (n < 0 && errno == EINTR);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		return n == 0 ? -3 : n;
	}
	switch (tls_read(c->tls, p, len, &got)) {
	case TLS_OK:
		return (ssize_t)got;
	case TLS_WANT_READ:
		return 0;
	case TLS_WANT_WRITE:
		c->w.events |= POLLOUT;
		return 0;
	case TLS_EOF:
		*clean = tls_eof_clean(c->tls);
		return -3;
	case TLS_FAIL:
		break;
	}
	return tls_error(c->tls) == NULL ? -1 : -2;
}

/* Read what x's connection has. 1 when x is done with that connection
 * (the attempt ended, or moved to a fresh one), 0 when it waits for more.
 * Over TLS it reads until the library wants the socket again: bytes it
 * decrypted already raise no poll event (tls_pending), so it never waits
 * with them inside. */
static int
out_read(struct out_exchange *x)
{
	int i, clean;

	for (i = 0; i < OUT_READS_PER_EVENT || (x->conn->tls != NULL &&
	    tls_pending(x->conn->tls) > 0); i++) {
		size_t room;
		ssize_t n;

		if (buf_reserve(&x->in, OUT_READ_CHUNK) != 0) {
			out_fail(x, "out of memory", OUT_ERROR);
			return 1;
		}
		room = x->in.cap - x->in.len - 1;
		n = out_conn_read(x->conn, x->in.data + x->in.len, room,
		    &clean);
		if (n == 0)
			return 0;
		if (n == -1) {
			out_io_error(x, errno);
			return 1;
		}
		if (n == -2) {
			out_tls_fail(x);
			return 1;
		}
		if (n == -3) {
			out_eof(x, clean);
			return 1;
		}
		x->got_bytes = 1;
		x->in.len += (size_t)n;
		x->in.data[x->in.len] = '\0';
		if (out_response_input(x))
			return 1;
		/* A short read drained the socket: poll reports what comes
		 * next, which saves a read() that would say EAGAIN. Not so
		 * over TLS, where a short read is one record of several. */
		if ((size_t)n < room && x->conn->tls == NULL)
			return 0;
	}
	return 0;
}

/* The loop's callback for every outbound connection. */
static void
out_conn_cb(struct watch *w, short revents)
{
	struct out_conn *c = (struct out_conn *)(void *)w;
	struct out_exchange *x = c->att;
	int err = 0;
	socklen_t len = sizeof(err);

	if (x == NULL) {
		out_conn_idle_event(c, revents);
		return;
	}
	switch (x->state) {
	case OUT_CONNECTING:
		if (getsockopt(w->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
			err = errno;
		if (err != 0) {
			/* Try the next allowed address, if any. */
			x->last_errno = err;
			x->conn = NULL;
			out_conn_close(c);
			out_connect(x);
			return;
		}
		out_connected(x);
		break;
	case OUT_HANDSHAKE:
		out_handshake(x);
		break;
	case OUT_SENDING:
		if (revents & POLLIN) {
			/* Interim answers are skipped and sending goes on;
			 * a final one ends it: the request was cut short,
			 * so the connection is not reused. */
			if (out_read(x))
				return;
			if (x->state != OUT_SENDING) {
				w->events = POLLIN;
				return;
			}
		}
		/* Over TLS what came may be what a waiting write wanted
		 * (TLS_WANT_READ), or a session ticket (TLS 1.3 sends them
		 * after the handshake, maybe while a large request is still
		 * going out): the read above took it, and is no answer. */
		if ((revents & (POLLOUT | POLLERR | POLLHUP)) || c->tls != NULL)
			out_send(x);
		break;
	case OUT_HEAD:
	case OUT_BODY:
		if (c->tls != NULL)
			w->events = POLLIN;
		(void)out_read(x);
		break;
	case OUT_IDLE:
		break;
	}
}

void
out_release(struct out_exchange *x, int reusable)
{
	if (x->conn != NULL) {
		struct out_conn *c = x->conn;

		x->conn = NULL;
		c->att = NULL;
		if (reusable)
			out_conn_park(c);
		else
			out_conn_close(c);
	}
}

void
outbound_tick(int64_t now)
{
	while (lru_head != NULL && lru_head->idle_since + OUT_IDLE_MS <= now)
		out_conn_close(lru_head);
}

int64_t
outbound_idle_deadline(void)
{
	return lru_head != NULL ? lru_head->idle_since + OUT_IDLE_MS : -1;
}

void
outbound_close_idle(void)
{
	while (lru_head != NULL)
		out_conn_close(lru_head);
}
