/*
 * server: the inbound side (contract §7) as a whole: the listener, the list
 * of connections and their deadlines, the requests parked for a lookup
 * (§11), the group commit, and what main drives. One connection's state
 * machine is server_conn.c.
 */
#include "server.h"
#include "server_impl.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "api.h"
#include "config.h"
#include "deliver.h"
#include "http.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "store.h"
#include "util.h"
#include "version.h"

/*
 * The server's own limits (the configurable ones are in config.c).
 */
/* Connections the kernel queues while we are at max_connections. */
#define SERVER_BACKLOG 1024
/* After EMFILE/ENFILE the listener stays ready; not polling it for a while
 * keeps that from becoming a busy loop. */
#define SERVER_ACCEPT_PAUSE_MS 100
/* Writes that no answer waits for (attempt outcomes, retries) are made
 * durable within this long rather than in the pass that wrote them: losing
 * them in a crash only means an attempt is made again (at least once,
 * contract §5), while an fsync per pass tied the delivery rate to the
 * disk's fsync latency (endpoint_concurrency deliveries per fsync). */
#define SERVER_LAZY_SYNC_MS 200

/* Shared with server_conn.c (server_impl.h). */
int draining;
int sync_async;
struct conn *conns;
size_t nconns;
size_t nparked;
struct conn *wait_head, *wait_tail;

static void commit_release(void);

static size_t nconns_busy;		/* not just lingering (CONN_CLOSE) */
/* Whether the resolver answered one of the names the parked requests
 * (CONN_PARKED) wait for since they last ran. */
static int lookups_answered;

static int listen_fd = -1;
static struct watch listen_w;
static int listen_watched;
static int64_t accept_paused_until;

/* The resolver answered a name a parked request may wait for (the hook of
 * deliver_on_lookup): server_parked_run runs them after this pass's callbacks. */
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
void
server_parked_run(void)
{
	struct conn *c, *next;
	enum conn_step step;
	int answered = lookups_answered;

	lookups_answered = 0;
	for (c = conns; c != NULL && nparked > 0; c = next) {
		next = c->next;		/* c may be freed; no other is */
		if (c->state != CONN_PARKED ||
		    (!answered && c->deadline > loop_now))
			continue;
		c->resolve_late = c->deadline <= loop_now;
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
		if (c->deadline <= loop_now && c->state != CONN_PARKED) {
			log_line("debug", "connection timed out", "state=%d",
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
	while (nconns < config_current()->max_connections) {
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
			accept_paused_until = loop_now +
			    SERVER_ACCEPT_PAUSE_MS;
		if (loop_now - warned_at >= 10000) {
			warned_at = loop_now;
			log_line("warn", "accept failed", "error=%s",
			    LOG_QUOTE(q, strerror(errno)));
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
	    nconns < config_current()->max_connections &&
	    loop_now >= accept_paused_until;

	if (want && !listen_watched) {
		if (loop_watch_add(&listen_w) == 0)
			listen_watched = 1;
	} else if (!want && listen_watched) {
		loop_watch_del(&listen_w);
		listen_watched = 0;
	}
}

int
server_listen_bind(const char *value, char *err, size_t errsz)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char addr[INET6_ADDRSTRLEN + 16];
	int one = 1;

	if (config_listen_addr(value, &ss, &len) != 0) {
		snprintf(err, errsz, "bad listen address");
		return -1;
	}
	listen_fd = socket(ss.ss_family, SOCK_STREAM, 0);
	if (listen_fd < 0 ||
	    setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one,
	    sizeof(one)) != 0 ||
	    bind(listen_fd, (struct sockaddr *)&ss, len) != 0 ||
	    util_fd_nonblock(listen_fd) != 0 ||
	    util_fd_cloexec(listen_fd) != 0) {
		util_err_set(addr, sizeof(addr), value, strerror(errno));
		snprintf(err, errsz, "%s", addr);
		return -1;
	}
	return 0;
}

int
server_listen(const char *value, char *err, size_t errsz)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char host[INET6_ADDRSTRLEN], addr[INET6_ADDRSTRLEN + 16], q[128];
	int port;

	if (listen(listen_fd, SERVER_BACKLOG) != 0) {
		util_err_set(addr, sizeof(addr), value, strerror(errno));
		snprintf(err, errsz, "%s", addr);
		return -1;
	}
	listen_w.fd = listen_fd;
	listen_w.events = POLLIN;
	listen_w.cb = listen_cb;
	listen_w.slot = LOOP_WATCH_NONE;

	/* Name the address actually bound (port 0 picks one). */
	len = sizeof(ss);
	if (getsockname(listen_fd, (struct sockaddr *)&ss, &len) != 0) {
		snprintf(err, errsz, "%s", strerror(errno));
		return -1;
	}
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
	log_line("info", "listening", "addr=%s version=%s", LOG_QUOTE(q, addr),
	    HOOKD_VERSION);
	listen_update();
	return 0;
}

static void
listen_close(void)
{
	if (listen_watched) {
		loop_watch_del(&listen_w);
		listen_watched = 0;
	}
	if (listen_fd >= 0) {
		close(listen_fd);
		listen_fd = -1;
	}
}

/*
 * Group commit: one fsync for everything written this pass, then every
 * answer it covers goes out. A failed fsync is never acknowledged: it goes
 * up to main's callback, which logs it and exits, and the next start
 * recovers from the files (contract §6).
 */
static int64_t synced_at;	/* when the last group commit started */
static struct watch sync_w;	/* the store's sync thread's answers */
static void (*sync_fail_cb)(int err);

void
server_on_sync_fail(void (*fn)(int err))
{
	sync_fail_cb = fn;
}

/*
 * A group commit's write or fsync failed (errno says why): none of the
 * answers waiting for it may go out, and main hears of it and ends the
 * process. When the store says nothing of what they wait for can be on
 * disk (the batch's write failed and was cut back), each waiting request
 * gets a 500 first, sent with one try (the connection is not freed here:
 * this may run inside conn_answer); after a failed fsync their writes may
 * reach the disk yet, so they get no answer, which says "unknown".
 */
void
sync_failed(void)
{
	int e = errno;
	struct conn *c;
	char q[128];

	if (store_sync_lost_nothing_kept())
		log_line("error", "journal write failed", "error=%s",
		    LOG_QUOTE(q, strerror(e)));
	/* Answers already durable go out as they are. */
	commit_release();
	while (store_sync_lost_nothing_kept() && (c = wait_head) != NULL) {
		wait_unlink(c);
		/* Nothing of the withheld answer went out (sent is 0). */
		buf_reset(&c->out);
		c->sent = 0;
		buf_reset(&c->body);
		c->send_body = !util_span_eq(c->req.method,
		    c->req.method_len, "HEAD");
		if (buf_puts(&c->body, "{\"error\": \"storage error\"}") != 0 ||
		    conn_respond(c, 500, "application/json", 0) != 0) {
			conn_set_state(c, CONN_CLOSE);
			conn_update_events(c);
			continue;
		}
		conn_set_state(c, CONN_WRITE);
		conn_update_events(c);
		(void)conn_try_send(c);
	}
	errno = e;
	if (sync_fail_cb != NULL)
		sync_fail_cb(e);
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
void
server_commit(int all)
{
	if (store_written_seq() > store_durable_seq() && (all ||
	    wait_head != NULL || loop_now - synced_at >= SERVER_LAZY_SYNC_MS)) {
		if (all || !sync_async) {
			if (store_sync() != 0)
				sync_failed();
			synced_at = loop_now;
		} else if (!store_sync_busy()) {
			if (store_sync_begin() < 0)
				sync_failed();
			synced_at = loop_now;
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
		sync_failed();
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
	sync_async = loop_watch_add(&sync_w) == 0;
}

/* ------------------------------------------------------------------ */
/* What main drives: start, each pass, drain, stop */

void
server_start(void)
{
	deliver_on_lookup(lookup_answered);
	sync_setup();
}

int64_t
server_tick(void)
{
	int64_t next = conns_sweep();

	listen_update();
	if (accept_paused_until > loop_now)
		next = util_min64(next, accept_paused_until);
	/* Answers released by the commit may have written again; writes no
	 * answer waits for are synced a little later. */
	if (store_written_seq() > store_durable_seq() && !store_sync_busy())
		next = wait_head != NULL ? loop_now :
		    util_min64(next, synced_at + SERVER_LAZY_SYNC_MS);
	return next;
}

size_t
server_busy(void)
{
	return nconns_busy;
}

size_t
server_nconns(void)
{
	return nconns;
}

void
server_drain(void)
{
	draining = 1;
	listen_close();
}

void
server_close_all(void)
{
	while (conns != NULL)
		conn_close(conns);
}
