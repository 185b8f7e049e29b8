/*
 * server: main, options, signals, the admin token, the one-thread poll() loop
 * (fd watches, group commit, housekeeping, drain) and the inbound HTTP
 * connections, each advanced through explicit states in a switch.
 */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include "api.h"
#include "config.h"
#include "deliver.h"
#include "http.h"
#include "sign.h"
#include "store.h"
#include "url.h"
#include "util.h"

#ifndef HOOKD_VERSION
#define HOOKD_VERSION "dev"
#endif

/*
 * The server's own limits (the configurable ones are in config.c).
 */
/* Connections the kernel queues while we are at max_connections. */
#define SERVER_BACKLOG 1024
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
/* After EMFILE/ENFILE the listener stays ready; not polling it for a while
 * keeps that from becoming a busy loop. */
#define SERVER_ACCEPT_PAUSE_MS 100
/* The poll timeout's ceiling: signals, compaction and drain are looked at
 * least this often (a signal may land just before poll() blocks). */
#define SERVER_HOUSEKEEPING_MS 1000
/* Writes that no answer waits for (attempt outcomes, retries) are made
 * durable within this long rather than in the pass that wrote them: losing
 * them in a crash only means an attempt is made again (at least once,
 * contract §5), while an fsync per pass tied the delivery rate to the
 * disk's fsync latency (endpoint_concurrency deliveries per fsync). */
#define SERVER_LAZY_SYNC_MS 200
#define SERVER_COMPACT_EVERY_MS (60 * 1000)
#define SERVER_COMPACT_FORCE_MS (60 * 60 * 1000)
/* Log lines gathered before one write (see server_log). */
#define SERVER_LOG_BATCH 32768
/* One log line; longer ones are cut and marked. */
#define SERVER_LOG_LINE 2048
/* Longest admin token read from a file. */
#define SERVER_TOKEN_MAX 512
/* Shortest admin token not warned about (contract §10): a guessable token
 * is the whole API to whoever guesses it. */
#define SERVER_TOKEN_WARN 16

/* What server.h promises the other modules. */
struct metrics metrics;
const int64_t metrics_bounds[METRICS_LATENCY_BUCKETS] = {
	5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000
};
const struct config *server_config;
int64_t server_now;

/* The command line, kept for SIGHUP: flags win over the file each time. */
static const char *opt_config;
static const char *opt_listen;
static const char *opt_data_dir;
static int log_verbose;

static struct config *config_now;	/* what server_config points to */

static volatile sig_atomic_t got_term, got_hup;

static int draining;
static int64_t drain_deadline;

static int64_t
min64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

/* ------------------------------------------------------------------ */
/* Logging */

/* A NUL-terminated string as a logfmt value (see util_logq). */
#define LOGQ(buf, s) util_logq((buf), sizeof(buf), (s), strlen(s))

/* write(2) all of p, retrying on EINTR and short writes. 0 or -1. */
static int
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int sync_async;		/* the store's sync thread runs */
static void sync_fatal(void);
static struct buf log_pending;	/* lines not yet written */
static void server_log_flush(void);

void
server_log(const char *level, const char *msg, const char *fmt, ...)
{
	char line[SERVER_LOG_LINE], ts[UTIL_TIME_MAX], m[512];
	size_t n, cap = sizeof(line) - 1, i;	/* one byte kept for '\n' */
	int k, saved = errno;
	va_list ap;

	if (!log_verbose && strcmp(level, "debug") == 0)
		return;
	k = snprintf(line, cap, "ts=%s level=%s msg=%s",
	    util_fmt_time(util_wall_ms(), ts), level, LOGQ(m, msg));
	n = k < 0 ? 0 : (size_t)k >= cap ? cap - 1 : (size_t)k;
	if (fmt != NULL && fmt[0] != '\0' && n + 1 < cap) {
		size_t start = n;

		line[n++] = ' ';
		va_start(ap, fmt);
		k = vsnprintf(line + n, cap - n, fmt, ap);
		va_end(ap);
		if (k < 0)
			n = start;
		else if ((size_t)k >= cap - n) {
			n = cap - 1;
			memcpy(line + n - 3, "...", 3);
		} else
			n += (size_t)k;
		/* Callers quote their values; this is the last line of
		 * defence for "one event, one line". */
		for (i = start; i < n; i++)
			if ((unsigned char)line[i] < ' ')
				line[i] = ' ';
	}
	line[n++] = '\n';
	/* Lines are gathered and written once per loop pass (a delivery
	 * each is a system call each at thousands a second); warnings and
	 * errors go out at once, after what was gathered before them. */
	if (buf_append(&log_pending, line, n) != 0 || log_pending.len >
	    SERVER_LOG_BATCH || strcmp(level, "warn") == 0 ||
	    strcmp(level, "error") == 0)
		server_log_flush();
	if (log_pending.oom) {
		(void)write_all(2, line, n);
		buf_free(&log_pending);
	}
	errno = saved;
}

/* Write the gathered log lines. */
static void
server_log_flush(void)
{
	if (log_pending.len > 0)
		(void)write_all(2, log_pending.data, log_pending.len);
	buf_reset(&log_pending);
}

/*
 * The data directory this start created, "" when it existed before or the
 * start is over. Contract §10: a start that fails writes nothing, so a
 * directory made for a start that then failed (a bad static registration,
 * no token source) is removed with the files the start put there, and
 * nothing else: rmdir fails when anything more is in it.
 */
static char start_fresh_dir[1024];

static void
start_undo(void)
{
	static const char *const made[] = {
		"registry.log", "journal.log", "admin.token", "lock",
	};
	char path[1100];
	size_t i;

	if (start_fresh_dir[0] == '\0')
		return;
	for (i = 0; i < sizeof(made) / sizeof(made[0]); i++)
		if ((size_t)snprintf(path, sizeof(path), "%s/%s",
		    start_fresh_dir, made[i]) < sizeof(path))
			(void)unlink(path);
	(void)rmdir(start_fresh_dir);
	start_fresh_dir[0] = '\0';
}

/* Log an error and end the process (start-up failures, a failed fsync). */
static void
fatal(const char *msg, const char *detail)
{
	char q[1024];

	server_log("error", msg, "error=%s", LOGQ(q, detail));
	start_undo();
	exit(1);
}

/* store_open's report of a repaired file (a torn tail dropped). */
static void
store_notice(const char *msg)
{
	char q[1024];

	server_log("warn", "store repaired", "detail=%s", LOGQ(q, msg));
}

/* "what: reason" into err; a long path is cut, which a message survives. */
static void
err_set(char *err, size_t errsz, const char *what, const char *reason)
{
	if (snprintf(err, errsz, "%s: %s", what, reason) < 0)
		err[0] = '\0';
}

/* A static registration's "LINE: reason" as "FILE:LINE: reason", the form
 * of every config error (contract §10). */
static void
static_error(char *out, size_t outsz, const char *err)
{
	if (snprintf(out, outsz, "%s:%s", opt_config != NULL ? opt_config :
	    "-", err) < 0)
		out[0] = '\0';
}

/* ------------------------------------------------------------------ */
/* Watches: the descriptors the loop polls */

/*
 * watches[i] is polled through pfds[i]. A removed watch leaves a NULL hole
 * until the next pass compacts the array, so a callback may remove any
 * watch (itself, or others) while the loop is still walking this pass's
 * results; watches added meanwhile land past the walked range.
 */
static struct watch **watches;
static struct pollfd *pfds;
static size_t nwatches, watches_cap, watch_holes;

#define WATCH_NONE ((size_t)-1)

int
server_watch_add(struct watch *w)
{
	if (w->slot < nwatches && watches[w->slot] == w)
		return 0;	/* already watched */
	if (nwatches == watches_cap) {
		size_t cap = watches_cap ? watches_cap * 2 : 64;
		struct watch **nw;
		struct pollfd *np;

		nw = realloc(watches, cap * sizeof(*nw));
		if (nw == NULL)
			return -1;
		watches = nw;
		np = realloc(pfds, cap * sizeof(*np));
		if (np == NULL)
			return -1;
		pfds = np;
		watches_cap = cap;
	}
	w->slot = nwatches;
	watches[nwatches++] = w;
	return 0;
}

void
server_watch_del(struct watch *w)
{
	if (w->slot >= nwatches || watches[w->slot] != w)
		return;
	watches[w->slot] = NULL;
	w->slot = WATCH_NONE;
	watch_holes++;
}

/* Close the holes left by removals (between passes only). */
static void
watch_compact(void)
{
	size_t i, n = 0;

	if (watch_holes == 0)
		return;
	for (i = 0; i < nwatches; i++)
		if (watches[i] != NULL) {
			watches[n] = watches[i];
			watches[n]->slot = n;
			n++;
		}
	nwatches = n;
	watch_holes = 0;
}

/* ------------------------------------------------------------------ */
/* Inbound connections */

enum conn_state {
	CONN_READ_HEAD,		/* waiting for a whole request head */
	CONN_READ_BODY,		/* head parsed, body still arriving */
	CONN_PARKED,		/* complete; the API waits for a lookup */
	CONN_WAIT_DURABLE,	/* answered; waiting for the group commit */
	CONN_WRITE,		/* sending the answer */
	CONN_CLOSE		/* answered; dropping what the client sends */
};

/* What a step of a connection's state machine asks of its caller. */
enum conn_step {
	STEP_NEXT,		/* state changed: advance again */
	STEP_WAIT,		/* wait for the socket or the commit */
	STEP_GONE		/* the connection was closed and freed */
};

struct conn {
	struct watch w;			/* first: the loop hands us &c->w */
	enum conn_state state;
	struct conn *prev, *next;	/* every connection */
	struct conn *wprev, *wnext;	/* waiting for durability, in
					   wait_seq order */
	int64_t deadline;		/* closed when passed (PARKED: run
					   again, late) */
	int64_t body_deadline;		/* READ_BODY: the whole body by then */
	int head_started;		/* header_timeout is running */
	int peer_eof;			/* the client shut down its side */
	int resolve_late;		/* PARKED past its deadline */

	/* The request: in holds its bytes (and any pipelined ones after). */
	struct buf in;
	size_t scan;			/* in: searched for the head's end */
	size_t lines_parsed;		/* partial heads parsed at a line end */
	int parsed;			/* req holds a parsed head */
	size_t parsed_cap;		/* in.cap when parsed: if in moved,
					   req's spans must be parsed again */
	struct http_request req;
	size_t head_len;
	size_t msg_len;			/* head + body, once known */
	size_t body_len;		/* chunked: decoded so far */
	struct http_chunked chunk;
	int64_t started;		/* head complete (for the debug log) */

	/* The answer: out (status line, headers, maybe a 100 Continue
	 * first) then body, sent with one writev. */
	struct buf out;
	struct buf body;
	size_t sent;			/* bytes of out, then body, sent */
	int send_body;			/* 0 for HEAD */
	int keep_alive;
	int status;
	uint64_t wait_seq;		/* store_written_seq() at answer */
};

static struct conn *conns;		/* every connection */
static size_t nconns;
static size_t nconns_busy;		/* not just lingering (CONN_CLOSE) */
/* Requests parked for a lookup (CONN_PARKED), and whether the resolver
 * answered one of the names they wait for since they last ran. */
static size_t nparked;
static int lookups_answered;
static struct conn *wait_head, *wait_tail;	/* waiting for durability */

static int listen_fd = -1;
static struct watch listen_w;
static int listen_watched;
static int64_t accept_paused_until;

static void conn_advance(struct conn *c);

static void
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

static void
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
	server_watch_del(&c->w);
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
static void
conn_set_state(struct conn *c, enum conn_state s)
{
	const struct config *cfg = server_config;

	if (c->state == CONN_PARKED)
		nparked--;
	c->state = s;
	switch (s) {
	case CONN_READ_HEAD:
		/* Between requests the idle timeout runs; from the first
		 * byte of a head, the (shorter) header timeout, which later
		 * bytes do not extend: a slow drip cannot hold us. */
		c->head_started = c->in.len > 0;
		c->deadline = server_now + (c->head_started ?
		    cfg->header_timeout_ms : cfg->idle_timeout_ms);
		break;
	case CONN_READ_BODY:
		/* Contract §18: the body must arrive within body_timeout in
		 * all, and without a pause of idle_timeout: a client
		 * trickling a byte a second cannot hold us for ever. */
		c->body_deadline = server_now + cfg->body_timeout_ms;
		c->deadline = min64(c->body_deadline,
		    server_now + cfg->idle_timeout_ms);
		break;
	case CONN_PARKED:
		/* Contract §11: the request is run again when the resolver
		 * answers, and at the latest at this deadline, accepting a
		 * name still unresolved (the connect-time check stays the
		 * guard). Nothing is read meanwhile, and no client timeout
		 * runs: the wait is ours. */
		c->deadline = server_now + API_RESOLVE_WAIT_MS;
		c->resolve_late = 0;
		nparked++;
		break;
	case CONN_WRITE:
		c->deadline = server_now + cfg->idle_timeout_ms;
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
		c->deadline = server_now + SERVER_LINGER_MS;
		break;
	}
}

/* Poll for what the state waits on. */
static void
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
 * Send what is left of out and body. STEP_NEXT when all is sent, STEP_WAIT
 * when the socket is full, STEP_GONE when the peer is gone.
 */
static enum conn_step
conn_flush(struct conn *c)
{
	size_t blen = c->send_body ? c->body.len : 0;
	size_t total = c->out.len + blen;

	while (c->sent < total) {
		struct iovec iov[2];
		int k = 0;
		ssize_t n;

		if (c->sent < c->out.len) {
			iov[k].iov_base = c->out.data + c->sent;
			iov[k].iov_len = c->out.len - c->sent;
			k++;
		}
		if (blen > 0) {
			size_t off = c->sent > c->out.len ?
			    c->sent - c->out.len : 0;

			iov[k].iov_base = c->body.data + off;
			iov[k].iov_len = blen - off;
			k++;
		}
		n = writev(c->w.fd, iov, k);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return STEP_WAIT;
			return conn_gone(c);
		}
		c->sent += (size_t)n;
		/* A client that stops reading is closed after idle_timeout
		 * without progress, not after idle_timeout in all. */
		c->deadline = server_now + server_config->idle_timeout_ms;
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
		c->deadline = server_now + server_config->header_timeout_ms;
	} else if (c->state == CONN_READ_BODY)
		c->deadline = min64(c->body_deadline,
		    server_now + server_config->idle_timeout_ms);
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
static int
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
	buf_reset(&c->body);
	if (buf_printf(&c->body, "{\"error\": \"%s\"}",
	    conn_error_text(status)) != 0 ||
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
	if (line && c->lines_parsed <= server_config->max_headers + 2) {
		c->lines_parsed++;
		return 1;
	}
	return first || c->in.len > server_config->max_header_bytes;
}

static int
conn_parse(struct conn *c, int *status)
{
	const struct config *cfg = server_config;
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
	    ((uint64_t)c->req.content_length <= server_config->max_body &&
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
	if (r == -2 && c->in.len > server_config->max_header_bytes)
		return conn_fail(c, 431);	/* never buffer without end */
	if (r == -2)
		return c->peer_eof ? conn_gone(c) : STEP_WAIT;
	if (r < 0)
		return conn_fail(c, status);
	c->parsed = 1;
	c->parsed_cap = c->in.cap;
	c->head_len = (size_t)r;
	c->started = server_now;
	c->send_body = !util_span_eq(c->req.method, c->req.method_len, "HEAD");
	c->msg_len = c->head_len;
	r = conn_refuse_anonymous(c);
	if (r != 0)
		return r < 0 ? STEP_GONE : STEP_NEXT;
	/* Refused before a byte of it is read: memory is committed only to
	 * bodies within the limit. */
	if (c->req.content_length > 0 &&
	    (uint64_t)c->req.content_length > server_config->max_body)
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

static enum conn_step conn_answer(struct conn *c);

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
		if (c->body_len > server_config->max_body ||
		    http_chunked_announced(&c->chunk) >
		    server_config->max_body - c->body_len)
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
static enum conn_step
conn_answer(struct conn *c)
{
	struct api_request r;
	const char *ctype = NULL;
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
		/* Parked until the lookup ends (parked_run); a request run
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
			sync_fatal();
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

	if (!log_verbose)
		return;
	if (!c->parsed) {
		server_log("debug", "request", "status=%d", c->status);
		return;
	}
	q = memchr(c->req.target, '?', c->req.target_len);
	plen = q != NULL ? (size_t)(q - c->req.target) : c->req.target_len;
	server_log("debug", "request", "method=%s path=%s status=%d ms=%lld",
	    util_logq(m, sizeof(m), c->req.method, c->req.method_len),
	    util_logq(p, sizeof(p), c->req.target, plen), c->status,
	    (long long)(server_now - c->started));
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
static void
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

static void
conn_new(int fd)
{
	struct conn *c;
	int one = 1;

	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) {
		close(fd);
		return;
	}
	/* Each answer is one writev; Nagle would only delay the next. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		server_log("warn", "out of memory", "where=accept");
		close(fd);
		return;
	}
	c->w.fd = fd;
	c->w.cb = conn_cb;
	c->w.slot = WATCH_NONE;
	c->send_body = 1;
	if (server_watch_add(&c->w) != 0) {
		server_log("warn", "out of memory", "where=accept");
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
	c->deadline = server_now + server_config->header_timeout_ms;
	conn_update_events(c);
}

/* The resolver answered a name a parked request may wait for (the hook of
 * deliver_on_lookup): parked_run runs them after this pass's callbacks. */
static void
lookup_answered(void)
{
	lookups_answered = 1;
}

/*
 * Run again the parked requests (contract §11): all of them after the
 * resolver answered (each finds its answer cached, or parks again), and
 * those past their deadline with resolve_late set, so that the API accepts
 * a name still unresolved. Outside the callbacks, so that a request's
 * store writes and attempts never start inside the resolver's own.
 */
static void
parked_run(void)
{
	struct conn *c, *next;
	enum conn_step step;
	int answered = lookups_answered;

	lookups_answered = 0;
	for (c = conns; c != NULL && nparked > 0; c = next) {
		next = c->next;		/* c may be freed; no other is */
		if (c->state != CONN_PARKED ||
		    (!answered && c->deadline > server_now))
			continue;
		c->resolve_late = c->deadline <= server_now;
		step = conn_answer(c);
		if (step == STEP_NEXT)
			conn_advance(c);
		else if (step == STEP_WAIT)
			conn_update_events(c);
	}
}

/* Close connections past their deadline (and, while draining, the idle
 * ones); count those still busy with a request; return the nearest
 * remaining deadline. */
static int64_t
conns_sweep(void)
{
	struct conn *c, *next;
	int64_t soonest = INT64_MAX;

	nconns_busy = 0;
	for (c = conns; c != NULL; c = next) {
		next = c->next;
		if (c->deadline <= server_now && c->state != CONN_PARKED) {
			server_log("debug", "connection timed out", "state=%d",
			    (int)c->state);
			conn_close(c);
			continue;
		}
		if (draining && c->state == CONN_READ_HEAD && c->in.len == 0) {
			conn_close(c);
			continue;
		}
		if (c->state != CONN_CLOSE)
			nconns_busy++;
		if (c->deadline < soonest)
			soonest = c->deadline;
	}
	return soonest;
}

/* ------------------------------------------------------------------ */
/* The listener */

static void
listen_cb(struct watch *w, short revents)
{
	static int64_t warned_at = INT64_MIN / 2;
	char q[128];
	int fd;

	(void)w;
	(void)revents;
	while (nconns < server_config->max_connections) {
		fd = accept(listen_fd, NULL, NULL);
		if (fd >= 0) {
			conn_new(fd);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			break;
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
		    errno == ENOMEM)
			accept_paused_until = server_now +
			    SERVER_ACCEPT_PAUSE_MS;
		if (server_now - warned_at >= 10000) {
			warned_at = server_now;
			server_log("warn", "accept failed", "error=%s",
			    LOGQ(q, strerror(errno)));
		}
		break;
	}
}

/* Poll the listener only while a new connection could be taken: at
 * max_connections new ones wait in the kernel's backlog. */
static void
listen_update(void)
{
	int want = listen_fd >= 0 &&
	    nconns < server_config->max_connections &&
	    server_now >= accept_paused_until;

	if (want && !listen_watched) {
		if (server_watch_add(&listen_w) == 0)
			listen_watched = 1;
	} else if (!want && listen_watched) {
		server_watch_del(&listen_w);
		listen_watched = 0;
	}
}

/* Bind the listening socket; on failure log and exit. It is bound before
 * the store is opened, so that a taken port fails the start before anything
 * is written (contract §10), and listens only once hookd is ready, so that a
 * connection that succeeds finds the admin token written and the store
 * open. */
static void
listen_bind(const char *value)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char addr[INET6_ADDRSTRLEN + 16];
	int one = 1;

	if (config_listen_addr(value, &ss, &len) != 0)
		fatal("listen failed", "bad listen address");
	listen_fd = socket(ss.ss_family, SOCK_STREAM, 0);
	if (listen_fd < 0 ||
	    setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one,
	    sizeof(one)) != 0 ||
	    bind(listen_fd, (struct sockaddr *)&ss, len) != 0 ||
	    fcntl(listen_fd, F_SETFL, O_NONBLOCK) != 0 ||
	    fcntl(listen_fd, F_SETFD, FD_CLOEXEC) != 0) {
		err_set(addr, sizeof(addr), value, strerror(errno));
		fatal("listen failed", addr);
	}
}

/* Start listening on the socket listen_bind bound; on failure log and
 * exit. */
static void
listen_open(const char *value)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char host[INET6_ADDRSTRLEN], addr[INET6_ADDRSTRLEN + 16], q[128];
	int port;

	if (listen(listen_fd, SERVER_BACKLOG) != 0) {
		err_set(addr, sizeof(addr), value, strerror(errno));
		fatal("listen failed", addr);
	}
	listen_w.fd = listen_fd;
	listen_w.events = POLLIN;
	listen_w.cb = listen_cb;
	listen_w.slot = WATCH_NONE;

	/* Name the address actually bound (port 0 picks one). */
	len = sizeof(ss);
	if (getsockname(listen_fd, (struct sockaddr *)&ss, &len) != 0)
		fatal("listen failed", strerror(errno));
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)(void *)&ss;

		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		port = ntohs(sin->sin_port);
		snprintf(addr, sizeof(addr), "%s:%d", host, port);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)(void *)&ss;

		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		port = ntohs(sin6->sin6_port);
		snprintf(addr, sizeof(addr), "[%s]:%d", host, port);
	}
	server_log("info", "listening", "addr=%s version=%s", LOGQ(q, addr),
	    HOOKD_VERSION);
}

static void
listen_close(void)
{
	if (listen_watched) {
		server_watch_del(&listen_w);
		listen_watched = 0;
	}
	if (listen_fd >= 0) {
		close(listen_fd);
		listen_fd = -1;
	}
}

/* ------------------------------------------------------------------ */
/* The admin token */

/*
 * Read a token file: one line, printable, trailing newline trimmed. 0, -1
 * with err set; errno is ENOENT when the file does not exist.
 */
static int
token_read(const char *path, int nofollow, char *tok, size_t toksz,
    char *err, size_t errsz)
{
	struct stat st;
	size_t len = 0, i;
	ssize_t n;
	int fd, saved;

	/* In the data directory no link is followed (contract §18). */
	fd = open(path, O_RDONLY | (nofollow ? O_NOFOLLOW : 0));
	if (fd < 0) {
		saved = errno;
		err_set(err, errsz, path, strerror(errno));
		errno = saved;
		return -1;
	}
	if (fstat(fd, &st) == 0 && (st.st_mode & 077) != 0) {
		char q[1100];

		server_log("warn", "admin token file is readable by others",
		    "path=%s", LOGQ(q, path));
	}
	for (;;) {
		n = read(fd, tok + len, toksz - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (len == toksz - 1)
			break;
	}
	saved = errno;
	close(fd);
	if (n < 0) {
		err_set(err, errsz, path, strerror(saved));
		errno = EIO;
		return -1;
	}
	while (len > 0 && (tok[len - 1] == '\n' || tok[len - 1] == '\r' ||
	    tok[len - 1] == ' ' || tok[len - 1] == '\t'))
		len--;
	tok[len] = '\0';
	for (i = 0; i < len; i++)
		if (tok[i] <= ' ' || tok[i] == 0x7f)
			break;
	if (len == 0 || i < len || len >= toksz - 2) {
		snprintf(err, errsz, "%s: not a token (one line of at most "
		    "%zu printable characters)", path, toksz - 3);
		errno = EINVAL;
		return -1;
	}
	return 0;
}

/* fsync the directory holding path, so a new name in it is durable. */
static int
fsync_dir_of(const char *path)
{
	char dir[1100];
	const char *slash = strrchr(path, '/');
	int fd, rc;

	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if ((size_t)(slash - path) >= sizeof(dir))
		return -1;
	else
		snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 :
		    (int)(slash - path), path);
	fd = open(dir, O_RDONLY);
	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

/* Write a new token to path (0600) atomically and durably: a temporary
 * file, fsync, rename, fsync of the directory. 0 or -1 with err set. */
static int
token_write(const char *path, const char *tok, char *err, size_t errsz)
{
	char tmp[1100];
	int fd;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		goto fail;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		goto fail;
	if (write_all(fd, tok, strlen(tok)) != 0 ||
	    write_all(fd, "\n", 1) != 0 || fsync(fd) != 0) {
		close(fd);
		goto fail;
	}
	if (close(fd) != 0 || rename(tmp, path) != 0 ||
	    fsync_dir_of(path) != 0)
		goto fail;
	return 0;
fail:
	err_set(err, errsz, path, strerror(errno));
	return -1;
}

/* Contract §10: warn about an admin token an attacker could guess. The
 * token itself is never logged, only where it came from. */
static void
token_warn_short(const char *tok, const char *source)
{
	if (strlen(tok) < SERVER_TOKEN_WARN)
		server_log("warn", "the admin token is shorter than 16 "
		    "characters; use a long random one (openssl rand -hex 32)",
		    "source=%s", source);
}

/*
 * The admin token (contract §1): HOOKD_ADMIN_TOKEN, else admin_token_file,
 * else DATADIR/admin.token, made on first start. A made token is only in
 * tok: *path_out is set to where admin_token_save must write it once the
 * start can no longer fail (contract §10), and is "" otherwise. 0 or -1
 * with err set.
 */
static int
admin_token_setup(const struct config *cfg, char *tok, size_t toksz,
    char *path_out, size_t pathsz, char *err, size_t errsz)
{
	const char *env = getenv("HOOKD_ADMIN_TOKEN");
	char path[1100];

	path_out[0] = '\0';
	if (env != NULL && env[0] != '\0') {
		if ((size_t)snprintf(tok, toksz, "%s", env) >= toksz) {
			snprintf(err, errsz, "HOOKD_ADMIN_TOKEN is too long");
			return -1;
		}
		token_warn_short(tok, "HOOKD_ADMIN_TOKEN");
		return 0;
	}
	if (cfg->admin_token_file[0] != '\0') {
		if (token_read(cfg->admin_token_file, 0, tok, toksz, err,
		    errsz) != 0)
			return -1;
		token_warn_short(tok, "admin_token_file");
		return 0;
	}
	if ((size_t)snprintf(path, sizeof(path), "%s/admin.token",
	    cfg->data_dir) >= sizeof(path)) {
		snprintf(err, errsz, "data_dir is too long");
		return -1;
	}
	if (token_read(path, 1, tok, toksz, err, errsz) == 0)
		return 0;
	if (errno != ENOENT)
		return -1;
	if (sign_token_new("hka_", tok, toksz) != 0) {
		snprintf(err, errsz, "no randomness for the admin token");
		return -1;
	}
	if ((size_t)snprintf(path_out, pathsz, "%s", path) >= pathsz) {
		snprintf(err, errsz, "data_dir is too long");
		return -1;
	}
	return 0;
}

/* Write the token admin_token_setup made to path (nothing when path is
 * ""), and say where once. 0 or -1 with err set. */
static int
admin_token_save(const char *path, const char *tok, char *err, size_t errsz)
{
	char msg[1200];

	if (path[0] == '\0')
		return 0;
	if (token_write(path, tok, err, errsz) != 0)
		return -1;
	snprintf(msg, sizeof(msg), "admin token written to %s", path);
	server_log("info", msg, NULL);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Configuration: load, flags, reload */

/* Apply the command-line flags on top of a loaded config. 0 or -1. */
static int
apply_flags(struct config *c)
{
	if (opt_listen != NULL && config_set_listen(c, opt_listen) != 0)
		return -1;
	if (opt_data_dir != NULL && (opt_data_dir[0] == '\0' ||
	    (size_t)snprintf(c->data_dir, sizeof(c->data_dir), "%s",
	    opt_data_dir) >= sizeof(c->data_dir)))
		return -1;
	return 0;
}

/* A new config from the defaults, the file and the flags; NULL with err. */
static struct config *
config_read(char *err, size_t errsz)
{
	struct config *c = malloc(sizeof(*c));

	if (c == NULL) {
		snprintf(err, errsz, "out of memory");
		return NULL;
	}
	config_defaults(c);
	if (opt_config != NULL && config_load(c, opt_config, err, errsz) != 0)
		goto fail;
	if (apply_flags(c) != 0) {
		snprintf(err, errsz, "bad -l or -d value");
		goto fail;
	}
	return c;
fail:
	config_free(c);
	free(c);
	return NULL;
}

static int
str_differs(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a != b;
	return strcmp(a, b) != 0;
}

static int
regs_differ(const struct config *a, const struct config *b)
{
	size_t i;

	if (a->nregs != b->nregs)
		return 1;
	for (i = 0; i < a->nregs; i++) {
		const struct config_reg *x = &a->regs[i], *y = &b->regs[i];

		if (x->is_endpoint != y->is_endpoint ||
		    x->method_get != y->method_get ||
		    str_differs(x->client, y->client) ||
		    str_differs(x->name, y->name) ||
		    str_differs(x->url, y->url) ||
		    str_differs(x->events, y->events) ||
		    str_differs(x->secret, y->secret))
			return 1;
	}
	return 0;
}

/* Append key to a comma-separated list. */
static void
list_add(char *list, size_t sz, const char *key)
{
	size_t n = strlen(list);

	snprintf(list + n, sz - n, "%s%s", n > 0 ? "," : "", key);
}

/*
 * SIGHUP: read the file again (and the flags); on error keep what runs.
 * listen, data_dir, fsync and admin_token_file are bound at start: a
 * change to them is reported and waits for a restart.
 */
static void
server_reload(void)
{
	struct config *next, *old = config_now;
	char err[1024], changed[512] = "", restart[128] = "";
	char q[1100], qerr[1100];

	next = config_read(err, sizeof(err));
	if (next == NULL) {
		server_log("error", "reload failed", "error=%s", LOGQ(q, err));
		return;
	}

	if (strcmp(old->listen, next->listen) != 0)
		list_add(restart, sizeof(restart), "listen");
	if (strcmp(old->data_dir, next->data_dir) != 0)
		list_add(restart, sizeof(restart), "data_dir");
	if (old->fsync_always != next->fsync_always)
		list_add(restart, sizeof(restart), "fsync");
	if (strcmp(old->admin_token_file, next->admin_token_file) != 0)
		list_add(restart, sizeof(restart), "admin_token_file");
	memcpy(next->listen, old->listen, sizeof(next->listen));
	memcpy(next->data_dir, old->data_dir, sizeof(next->data_dir));
	memcpy(next->admin_token_file, old->admin_token_file,
	    sizeof(next->admin_token_file));
	next->fsync_always = old->fsync_always;

#define CHANGED(f) (memcmp(&old->f, &next->f, sizeof(old->f)) != 0)
	if (CHANGED(max_header_bytes))
		list_add(changed, sizeof(changed), "max_header_bytes");
	if (CHANGED(max_headers))
		list_add(changed, sizeof(changed), "max_headers");
	if (CHANGED(max_body))
		list_add(changed, sizeof(changed), "max_body");
	if (CHANGED(header_timeout_ms))
		list_add(changed, sizeof(changed), "header_timeout");
	if (CHANGED(idle_timeout_ms))
		list_add(changed, sizeof(changed), "idle_timeout");
	if (CHANGED(body_timeout_ms))
		list_add(changed, sizeof(changed), "body_timeout");
	if (CHANGED(max_connections))
		list_add(changed, sizeof(changed), "max_connections");
	if (CHANGED(timeout_ms))
		list_add(changed, sizeof(changed), "timeout");
	if (old->nretry != next->nretry ||
	    memcmp(old->retry_ms, next->retry_ms,
	    next->nretry * sizeof(next->retry_ms[0])) != 0)
		list_add(changed, sizeof(changed), "retry_schedule");
	if (CHANGED(disable_after_ms))
		list_add(changed, sizeof(changed), "disable_after");
	if (CHANGED(endpoint_concurrency))
		list_add(changed, sizeof(changed), "endpoint_concurrency");
	if (CHANGED(max_outbound))
		list_add(changed, sizeof(changed), "max_outbound");
	if (CHANGED(max_log_attempts))
		list_add(changed, sizeof(changed), "max_log_attempts");
	if (CHANGED(max_inflight_per_client))
		list_add(changed, sizeof(changed), "max_inflight_per_client");
	if (CHANGED(retention_ms))
		list_add(changed, sizeof(changed), "retention");
	if (CHANGED(drain_timeout_ms))
		list_add(changed, sizeof(changed), "drain_timeout");
	if (old->nallow != next->nallow ||
	    memcmp(old->allow, next->allow,
	    next->nallow * sizeof(next->allow[0])) != 0)
		list_add(changed, sizeof(changed), "allow_destinations");
	if (CHANGED(metrics))
		list_add(changed, sizeof(changed), "metrics");
	if (regs_differ(old, next))
		list_add(changed, sizeof(changed), "registrations");
#undef CHANGED

	config_now = next;
	server_config = next;
	store_set_max_log(next->max_log_attempts);
	server_log("info", "reloaded", "changed=%s",
	    changed[0] != '\0' ? changed : "none");
	if (restart[0] != '\0')
		server_log("warn", "restart needed to change", "keys=%s",
		    restart);
	if (api_apply_static(err, sizeof(err)) != 0) {
		static_error(q, sizeof(q), err);
		server_log("error", "static registration failed",
		    "error=%s", LOGQ(qerr, q));
	}
	config_free(old);
	free(old);
}

/* ------------------------------------------------------------------ */
/* Signals, the loop, start and stop */

static void
on_term(int sig)
{
	(void)sig;
	got_term = 1;
}

static void
on_hup(int sig)
{
	(void)sig;
	got_hup = 1;
}

/* No SA_RESTART: a signal interrupts poll() so it is seen at once. */
static void
signals_setup(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = on_hup;
	sigaction(SIGHUP, &sa, NULL);
}

/*
 * Group commit: one fsync for everything written this pass, then every
 * answer it covers goes out. A failed fsync is never acknowledged: exit,
 * and the next start recovers from the files (contract §6).
 */
static int64_t synced_at;	/* when the last group commit started */
static struct watch sync_w;	/* the store's sync thread's answers */

static void
sync_fatal(void)
{
	char q[256];

	server_log("error", "fsync failed", "error=%s",
	    LOGQ(q, strerror(errno)));
	exit(1);
}

/* Send the answers whose writes are durable now. */
static void
commit_release(void)
{
	uint64_t durable = store_durable_seq();
	struct conn *c;

	while ((c = wait_head) != NULL && c->wait_seq <= durable) {
		wait_unlink(c);
		conn_set_state(c, CONN_WRITE);
		conn_advance(c);
	}
}

/* all: sync whatever was written, now (at exit); else start a sync when an
 * answer waits or the oldest unsynced write is SERVER_LAZY_SYNC_MS old. The
 * fsyncs run in the store's sync thread when there is one, so that the
 * loop keeps reading requests and receivers' answers meanwhile. */
static void
server_commit(int all)
{
	if (store_written_seq() > store_durable_seq() && (all ||
	    wait_head != NULL || server_now - synced_at >= SERVER_LAZY_SYNC_MS)) {
		if (all || !sync_async) {
			if (store_sync() != 0)
				sync_fatal();
			synced_at = server_now;
		} else if (!store_sync_busy()) {
			if (store_sync_begin() < 0)
				sync_fatal();
			synced_at = server_now;
		}
	}
	commit_release();
}

/* The sync thread finished: release what it made durable, and start the
 * next sync at once if answers wait for more. */
static void
sync_done(struct watch *w, short revents)
{
	(void)w;
	(void)revents;
	if (store_sync_end() != 0)
		sync_fatal();
	server_commit(0);
}

/* Start the store's sync thread; without it every fsync runs in the loop. */
static void
sync_setup(void)
{
	int fd = store_sync_fd();

	if (fd < 0)
		return;
	sync_w.fd = fd;
	sync_w.events = POLLIN;
	sync_w.cb = sync_done;
	sync_async = server_watch_add(&sync_w) == 0;
}

static void
drain_begin(void)
{
	draining = 1;
	deliver_drain();
	drain_deadline = server_now + server_config->drain_timeout_ms;
	listen_close();
	server_log("info", "draining", "connections=%zu deliveries=%zu",
	    nconns, deliver_inflight());
}

/* Fold in a finished compaction and say what it did. */
static void
compact_poll(void)
{
	char err[512], q[600];
	int r = store_compact_poll(err, sizeof(err));

	if (r > 0)
		server_log("info", "compacted", "detail=%s", LOGQ(q, err));
	else if (r < 0)
		server_log("error", "compaction failed", "error=%s",
		    LOGQ(q, err));
}

/*
 * Called once a minute. The store compacts when its journal has doubled;
 * forcing one every retention period (between a minute and an hour) also
 * drops expired records from a journal that grows slowly.
 */
static void
compact_start(void)
{
	static int64_t last_forced;
	int64_t every = server_config->retention_ms;
	int force, r;
	char q[256];

	if (every < SERVER_COMPACT_EVERY_MS)
		every = SERVER_COMPACT_EVERY_MS;
	if (every > SERVER_COMPACT_FORCE_MS)
		every = SERVER_COMPACT_FORCE_MS;
	if (last_forced == 0)
		last_forced = server_now;
	force = server_now - last_forced >= every;
	r = store_compact_start(util_wall_ms(), server_config->retention_ms,
	    force);
	if (r < 0 && errno != EBUSY)
		server_log("warn", "compaction not started", "error=%s",
		    LOGQ(q, strerror(errno)));
	else if (r > 0 && force)
		last_forced = server_now;
}

/* One thread, one poll(): until a drain ends. */
static void
server_loop(void)
{
	int64_t next_compact = server_now + SERVER_COMPACT_EVERY_MS;
	int64_t next, deliver_next, conn_next;
	int timeout = 0, n;
	size_t i, npfd;

	for (;;) {
		watch_compact();
		npfd = nwatches;
		for (i = 0; i < npfd; i++) {
			pfds[i].fd = watches[i]->fd;
			pfds[i].events = watches[i]->events;
			pfds[i].revents = 0;
		}
		n = poll(pfds, (nfds_t)npfd, timeout);
		if (n < 0 && errno != EINTR)
			fatal("poll failed", strerror(errno));
		server_now = util_mono_ms();
		for (i = 0; n > 0 && i < npfd; i++) {
			struct watch *w = watches[i];

			/* NULL: removed by an earlier callback this pass. */
			if (pfds[i].revents != 0 && w != NULL)
				w->cb(w, pfds[i].revents);
		}

		if (got_hup) {
			got_hup = 0;
			if (!draining)
				server_reload();
		}
		if (got_term) {
			got_term = 0;
			if (!draining)
				drain_begin();
			else
				drain_deadline = server_now;	/* twice: now */
		}

		parked_run();

		/* Commit, then deliver: the store hands new events to the
		 * engine only once they are durable, so no receiver hears of
		 * an event whose 202 a failed fsync would withhold. */
		server_commit(0);
		deliver_next = deliver_tick();
		compact_poll();
		if (!draining && server_now >= next_compact) {
			next_compact = server_now + SERVER_COMPACT_EVERY_MS;
			compact_start();
		}
		conn_next = conns_sweep();
		listen_update();

		/* Lingering connections have had their answers. */
		if (draining && ((nconns_busy == 0 &&
		    deliver_inflight() == 0) || server_now >= drain_deadline))
			return;

		next = min64(server_now + SERVER_HOUSEKEEPING_MS, conn_next);
		next = min64(next, next_compact);
		if (deliver_next >= 0)
			next = min64(next, deliver_next);
		if (accept_paused_until > server_now)
			next = min64(next, accept_paused_until);
		if (draining)
			next = min64(next, drain_deadline);
		/* Answers released by the commit may have written again;
		 * writes no answer waits for are synced a little later. */
		if (store_written_seq() > store_durable_seq() &&
		    !store_sync_busy())
			next = wait_head != NULL ? server_now :
			    min64(next, synced_at + SERVER_LAZY_SYNC_MS);
		timeout = next <= server_now ? 0 : (int)(next - server_now);
		server_log_flush();
	}
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: hookd [-l ADDR:PORT] [-d DATADIR] [-c CONFIG] [-n] [-v] "
	    "[-V] [-h]\n"
	    "       hookd sign|verify ...\n"
	    "       hookd check [-d DATADIR] [-c CONFIG] [--fix]\n"
	    "  -l ADDR:PORT    listen here (default 127.0.0.1:8080)\n"
	    "  -d DATADIR      data directory (default ./hookd-data)\n"
	    "  -c CONFIG       config file\n"
	    "  -n              check the config, say what is in force, exit\n"
	    "  -v              log debug lines too\n"
	    "  -V, --version   print the version\n"
	    "  -h, --help      this help\n");
}

/* Contract §10 and issue 19.8: what in the config puts tokens or secrets
 * at risk, said at start (and by -n) without refusing to run. */
static void
start_warnings(const struct config *cfg)
{
	char q[1100];

	if (!config_listen_is_loopback(cfg->listen))
		server_log("warn", "listen is not a loopback address: tokens "
		    "and /metrics travel in clear; put a TLS proxy in front",
		    "listen=%s",
		    LOGQ(q, cfg->listen));
	if (cfg->file_exposes_secret)
		server_log("warn", "the config file holds a secret and group "
		    "or others may read it; chmod 600 it", "path=%s",
		    LOGQ(q, opt_config != NULL ? opt_config : "-"));
}

/* Start in the order the modules need, serve, drain, stop. */
static int
server_run(void)
{
	char err[1024], tok[SERVER_TOKEN_MAX], q[1100], tokpath[1100];
	struct conn *c;

	signals_setup();
	/* Every way out (return from main, exit) writes the last lines. */
	(void)atexit(server_log_flush);
	server_now = util_mono_ms();
	/*
	 * Contract §10: the socket first, so that a taken port ends the start
	 * before anything is created (not even a new data directory or its
	 * lock file); then the lock, so that nothing in the directory is read
	 * or written while another hookd uses it (a second hookd used to
	 * append its static registrations to a registry the first was
	 * writing, which then failed its checksum); then the store.
	 */
	listen_bind(config_now->listen);
	if (access(config_now->data_dir, F_OK) != 0 && errno == ENOENT)
		snprintf(start_fresh_dir, sizeof(start_fresh_dir), "%s",
		    config_now->data_dir);
	if (store_lock(config_now->data_dir, err, sizeof(err)) != 0)
		fatal("cannot use the data directory", err);
	/* The token is read (or made, in memory) before the store opens and
	 * written only after the static registrations went in, so that
	 * neither a bad token source nor a bad static line leaves a file
	 * behind (contract §10). */
	if (admin_token_setup(config_now, tok, sizeof(tok), tokpath,
	    sizeof(tokpath), err, sizeof(err)) != 0)
		fatal("no admin token", err);
	store_set_max_log(config_now->max_log_attempts);
	if (store_open(config_now->data_dir, config_now->fsync_always, err,
	    sizeof(err), store_notice) != 0)
		fatal("cannot open the store", err);
	if (api_apply_static(err, sizeof(err)) != 0) {
		static_error(q, sizeof(q), err);
		fatal("static registration failed", q);
	}
	if (admin_token_save(tokpath, tok, err, sizeof(err)) != 0)
		fatal("no admin token", err);
	api_set_admin_token(tok);
	memset(tok, 0, sizeof(tok));
	if (deliver_init(err, sizeof(err)) != 0)
		fatal("cannot start deliveries", err);
	deliver_on_lookup(lookup_answered);
	sync_setup();
	if (store_lock_note_pid() != 0)
		server_log("warn", "cannot write the pid into the lock file",
		    "error=%s", LOGQ(q, strerror(errno)));
	listen_open(config_now->listen);
	listen_update();
	start_fresh_dir[0] = '\0';	/* started: nothing to undo */

	server_loop();

	/* Contract §1: everything acknowledged is made durable before
	 * exit; attempts still in flight are made again after a start. */
	server_commit(1);
	deliver_shutdown();
	server_commit(1);
	store_close();
	while ((c = conns) != NULL)
		conn_close(c);
	server_log("info", "stopped", NULL);
	config_free(config_now);
	free(config_now);
	free(watches);
	free(pfds);
	return 0;
}

/* hookd check's report: one unreadable record a line. */
static void
check_report(const char *line)
{
	printf("%s\n", line);
}

/*
 * hookd check [-d DATADIR] [-c CONFIG] [--fix] (contract §18): list the
 * records that cannot be read; exit 1 when any, 0 when none. --fix moves
 * them to DATADIR/damaged-<time>.log and exits 0.
 */
static int
check_main(int argc, char **argv)
{
	struct config *c;
	char err[1024], moved[1200];
	int i, fix = 0, r;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--fix") == 0)
			fix = 1;
		else if (strcmp(argv[i], "-d") == 0 && i + 1 < argc)
			opt_data_dir = argv[++i];
		else if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			opt_config = argv[++i];
		else {
			/* Say which word is wrong, as the start does. */
			if (argv[i][0] == '-' && (strcmp(argv[i], "-d") == 0 ||
			    strcmp(argv[i], "-c") == 0))
				fprintf(stderr, "hookd: %s needs a value\n",
				    argv[i]);
			else if (argv[i][0] == '-')
				fprintf(stderr, "hookd: unknown option \"%s\"\n",
				    argv[i]);
			else
				fprintf(stderr, "hookd: unknown argument "
				    "\"%s\"\n", argv[i]);
			fprintf(stderr, "usage: hookd check [-d DATADIR] "
			    "[-c CONFIG] [--fix]\n");
			return 1;
		}
	}
	c = config_read(err, sizeof(err));
	if (c == NULL) {
		fprintf(stderr, "hookd: %s\n", err);
		return 1;
	}
	r = store_check(c->data_dir, fix, check_report, moved, sizeof(moved),
	    err, sizeof(err));
	if (r < 0)
		fprintf(stderr, "hookd: %s\n", err);
	else if (r == 0)
		fprintf(stderr, "hookd: %s: every record reads back\n",
		    c->data_dir);
	else if (fix)
		fprintf(stderr, "hookd: moved the records above to %s; the "
		    "rest is kept\n", moved);
	else
		fprintf(stderr, "hookd: unreadable records in %s; hookd check "
		    "--fix -d %s moves them aside\n", c->data_dir,
		    c->data_dir);
	config_free(c);
	free(c);
	if (r < 0)
		return 1;
	return r > 0 && !fix ? 1 : 0;
}

int
main(int argc, char **argv)
{
	struct config flags;
	char err[1024], summary[4096];
	int ch, i, check_only = 0;

	if (argc > 1 && (strcmp(argv[1], "sign") == 0 ||
	    strcmp(argv[1], "verify") == 0))
		return sign_main(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "check") == 0)
		return check_main(argc - 1, argv + 1);

	/* Contract §10: the long forms of -h and -V. Only option words are
	 * looked at, not the values of -l, -d and -c. */
	for (i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
		if (strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		}
		if (strcmp(argv[i], "--version") == 0) {
			printf("hookd %s\n", HOOKD_VERSION);
			return 0;
		}
		if (strncmp(argv[i], "--", 2) == 0) {
			fprintf(stderr, "hookd: unknown option \"%s\"\n",
			    argv[i]);
			usage(stderr);
			return 1;
		}
		if (argv[i][0] == '-' && argv[i][1] != '\0' &&
		    strchr("ldc", argv[i][1]) != NULL && argv[i][2] == '\0')
			i++;
	}

	while ((ch = getopt(argc, argv, "l:d:c:nvVh")) != -1) {
		switch (ch) {
		case 'l':
			opt_listen = optarg;
			break;
		case 'd':
			opt_data_dir = optarg;
			break;
		case 'c':
			opt_config = optarg;
			break;
		case 'n':
			check_only = 1;
			break;
		case 'v':
			log_verbose = 1;
			break;
		case 'V':
			printf("hookd %s\n", HOOKD_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "hookd: unknown command \"%s\"\n",
		    argv[optind]);
		usage(stderr);
		return 1;
	}
	/* The flags alone are checked first: a bad one is a usage error. */
	config_defaults(&flags);
	if (opt_listen != NULL && config_set_listen(&flags, opt_listen) != 0) {
		fprintf(stderr, "hookd: -l wants IPV4:PORT or [IPV6]:PORT\n");
		usage(stderr);
		return 1;
	}
	if (apply_flags(&flags) != 0) {
		fprintf(stderr, "hookd: -d wants a path of 1 to %zu bytes\n",
		    sizeof(flags.data_dir) - 1);
		usage(stderr);
		return 1;
	}

	config_now = config_read(err, sizeof(err));
	if (config_now == NULL) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	server_config = config_now;
	start_warnings(config_now);
	if (check_only) {
		printf("config ok: %s\n", config_summary(config_now, summary,
		    sizeof(summary)));
		config_free(config_now);
		free(config_now);
		return 0;
	}
	return server_run();
}
