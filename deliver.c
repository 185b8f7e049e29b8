/*
 * deliver: the delivery engine. It owns the timer heap of pending deliveries,
 * the outbound HTTP/1.1 client with its keep-alive pools, the resolver
 * thread, the destination checks of contract §8 and the outcome rules of §5.
 *
 * How it works (the README's "delivery engine" section says the same):
 *
 * Scheduling. Every pending delivery that is not yet due sits in one binary
 * min-heap keyed by its next_at (wall-clock ms, so a restart or a changed
 * clock keeps the promised times); d->heap_index is its 1-based slot, 0 when
 * it is not in the heap. The heap is an array of pointers grown by doubling:
 * no allocation per delivery beyond the store's own struct. The store calls
 * engine_due (store_on_due) when a delivery is requeued, or once the event
 * that created it is durable (so no receiver hears of an unacknowledged
 * event), and engine_forget (store_on_fail) when one leaves pending without
 * an attempt.
 * deliver_tick pops what is due and dispatches it: an attempt starts at once
 * unless its endpoint is disabled or has endpoint_concurrency attempts in
 * flight (then it waits on that endpoint's list), or its client has
 * max_inflight_per_client in flight (then on the client's list), or
 * max_outbound attempts are in flight in all (then on the global list).
 * When an attempt ends, its endpoint's list, its client's and then the
 * global list are pulled. Waiting lists are intrusive (d->wait_next), so
 * they cost no memory either.
 *
 * An attempt. It reads the endpoint's current url, method, headers and
 * secret (so a PATCH fixes deliveries still pending), fills the URL template,
 * signs, builds the whole request in one buffer and sends it with one write.
 * Its state (the request, the response buffer, the body's first 4 KiB for the
 * log and the ack) exists only while it is in flight; spare attempt
 * structures and their buffers are reused. One deadline, start + timeout,
 * covers resolving, connecting, sending and reading.
 *
 * Name resolution never blocks the loop: DELIVER_DNS_THREADS resolver
 * threads read lookup requests from one pipe (one whole record each, under
 * a lock), call getaddrinfo, and write answers to a second pipe that the
 * loop watches. Requests and answers are fixed-size records copied by value
 * (smaller than PIPE_BUF, so each write is atomic); the only pointer
 * crossing is an opaque cookie the threads never dereference, so they share
 * no memory with the loop beyond the read lock and the exit flags of the
 * stop. Answers are cached per host (30 s, failures 5 s) and literal IP
 * hosts skip the threads. A client has at most DELIVER_DNS_PER_CLIENT
 * lookups with the threads; its further names wait in its own queue
 * (struct tenant), so one client's slow names hold at most that many
 * threads. Closing the request pipe is the stop request; a thread stuck in
 * a lookup is not waited for past DELIVER_DNS_STOP_MS. The API asks the
 * same cache when a URL is registered (deliver_host_addrs, contract §11);
 * such a name is looked up even with no attempt waiting, and its answer
 * runs the hook of deliver_on_lookup, with which the inbound layer runs
 * the waiting request again (this layer does not know it).
 *
 * Destinations are checked after resolution, on each address actually
 * connected to (no DNS rebinding): denied addresses are skipped, and when
 * none is allowed the delivery fails at once with "destination not allowed".
 * Allowed addresses are tried in order until one connects.
 *
 * Connections are non-blocking with TCP_NODELAY and kept alive in pools keyed
 * by (address, port, Host, owner), the owner being the endpoint (or, for
 * one-off callbacks, the client): tenants never share a connection. An
 * idle pooled connection is watched for input (the receiver closed it, or
 * sent what nobody asked for: drop it), is checked for unread bytes when
 * parked and again when reused, and closed after 30 s; a pool keeps at
 * most endpoint_concurrency idle ones and all pools together max_outbound.
 * A reused connection that fails before any response byte arrives (the
 * receiver closed it as we sent) is replaced once by a fresh one; that is
 * not counted as an attempt.
 *
 * Isolation: everything is non-blocking and every wait is a deadline, so a
 * slow or dead receiver costs only its own endpoint's slots, and one
 * client's receivers and names at most its own client's share (contract
 * §18).
 *
 * Re-entrancy: the store may call engine_forget from inside any store call
 * this file makes (disabling an endpoint fails its other deliveries). So
 * before calling the store about a delivery, this file first detaches it
 * from all of its own structures; engine_forget then finds nothing to undo
 * for it. Attempts never start from inside engine_forget; freed slots are
 * refilled by the next deliver_tick.
 *
 * The store is expected to call store_on_fail before it clears
 * d->endpoint or frees the endpoint (the endpoint's wait list and counters
 * are reached through it).
 */
#include "deliver.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "sign.h"
#include "url.h"

#ifndef HOOKD_VERSION
#define HOOKD_VERSION "dev"
#endif

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0
#endif

/*
 * Limits. Each bounds what a receiver, a name server or a busy day can make
 * the engine hold.
 */
/* Response head (contract §5): a receiver cannot make hookd buffer more. */
#define DELIVER_MAX_HEAD	65536
/* Interim (1xx) responses before the final one: their bytes count toward
 * DELIVER_MAX_HEAD, and more than this many is "bad response". Real servers
 * send one or two (100 Continue, 103 Early Hints); without a cap a receiver
 * could keep an attempt busy with empty 1xx heads until its timeout, and
 * every one costs a parse. */
#define DELIVER_MAX_INTERIM	16
/* Response body (contract §5): beyond it the answer is "bad response", so
 * a receiver cannot keep an attempt reading forever. */
#define DELIVER_MAX_BODY	(1024 * 1024)
/* Answers are cached this long: a burst to one host costs one lookup, and a
 * changed record is still picked up within half a minute. */
#define DELIVER_DNS_TTL_MS	30000
/* Failures are remembered briefly: a dead name does not queue a lookup per
 * delivery, and recovers quickly. */
#define DELIVER_DNS_NEG_TTL_MS	5000
/* Addresses kept per name: enough to fall back, and keeps the answer record
 * small enough for an atomic pipe write. */
#define DELIVER_DNS_MAX_ADDRS	8
/* Beyond this many cached names an answer serves its waiters and is
 * dropped: bounds memory when callback hosts are many. */
#define DELIVER_DNS_CACHE_MAX	4096
/* How often expired names are swept out. */
#define DELIVER_DNS_SWEEP_MS	10000
#define DELIVER_DNS_BUCKETS	512
/* Idle keep-alive connections are closed after this: receivers usually drop
 * them sooner anyway, and each holds a descriptor and a poll slot. */
#define DELIVER_IDLE_MS		30000
#define DELIVER_POOL_BUCKETS	512
/* Retry-After cannot push the next attempt further than this (§5). */
#define DELIVER_RETRY_AFTER_MAX_MS (24LL * 3600 * 1000)
/* When the store cannot record an outcome (disk full), the delivery is tried
 * again no sooner than this, so a full disk does not become a hot loop of
 * duplicate deliveries. */
#define DELIVER_STORE_BACKOFF_MS 10000
/* Bytes asked of read() at a time, and reads per readiness event so one
 * fast receiver cannot monopolise a loop pass. */
#define DELIVER_READ_CHUNK	16384
#define DELIVER_READS_PER_EVENT	8
/* Spare attempt structures kept for reuse, and the largest buffer a spare
 * keeps: no malloc per attempt, yet no pinned megabyte payload buffers. */
#define DELIVER_SPARE_ATTEMPTS	64
#define DELIVER_SPARE_BUF	65536
/* Scratch token arrays larger than this are released after use: one huge
 * payload should not pin its token array forever. */
#define DELIVER_SPARE_TOKS	65536
/*
 * Resolver threads. getaddrinfo cannot be interrupted and may take its
 * resolver's full timeout (glibc: 5 s per try and server, often 10-30 s in
 * all) for a name whose DNS server does not answer, so with one thread one
 * slow name held every lookup queued behind it. Eight threads let seven
 * other lookups go on past a slow one; each idle thread costs a stack
 * reserved but hardly touched, and lookups are cached, so more would buy
 * little. A client gets at most DELIVER_DNS_PER_CLIENT lookups with the
 * threads at once (the rest of its names wait in its own queue), so one
 * client with many slow names holds at most two threads: it takes four such
 * clients at once to leave none for the others (contract §18).
 */
#define DELIVER_DNS_THREADS	8
#define DELIVER_DNS_PER_CLIENT	2
/* At stop, how long to wait for the resolver threads to leave. A thread
 * stuck in a lookup that never ends is then left behind (the process is
 * exiting), so a hanging name cannot hang a shutdown. */
#define DELIVER_DNS_STOP_MS	1000
/* Hash buckets of the per-client engine state (struct tenant). */
#define DELIVER_TENANT_BUCKETS	256

/* Longest extra header name taken from an endpoint's headers. */
#define DELIVER_HEADER_NAME_MAX	256

/* ---------------------------------------------------------------------- */
/* Types                                                                  */

/* One resolved address, without a port. */
struct dns_addr {
	int family;			/* AF_INET or AF_INET6 */
	uint8_t addr[16];
};

/* The records crossing the resolver pipes, copied by value. */
struct dns_req {
	void *cookie;			/* the dns_entry; never dereferenced */
	char host[URL_HOST_MAX];
};

struct dns_res {
	void *cookie;
	int gai;			/* getaddrinfo's result */
	size_t naddr;
	struct dns_addr addr[DELIVER_DNS_MAX_ADDRS];
};

/* POSIX promises atomic pipe writes up to _POSIX_PIPE_BUF bytes: each record
 * arrives whole, and the two threads never see half a message. */
_Static_assert(sizeof(struct dns_req) <= _POSIX_PIPE_BUF, "dns_req size");
_Static_assert(sizeof(struct dns_res) <= _POSIX_PIPE_BUF, "dns_res size");

enum dns_state {
	DNS_QUEUED,			/* in its owner's queue, not yet asked */
	DNS_RESOLVING,			/* with the resolver threads */
	DNS_OK,
	DNS_FAILED
};

/* A cached name, or one being resolved with attempts waiting for it. */
struct dns_entry {
	struct dns_entry *next;		/* hash chain */
	char host[URL_HOST_MAX];
	enum dns_state state;
	int64_t expires;		/* monotonic ms */
	char error[96];			/* "dns: ..." when failed */
	size_t naddr;
	struct dns_addr addr[DELIVER_DNS_MAX_ADDRS];
	struct attempt *waiters;	/* through attempt.dns_next */
	/* The client whose attempt asked for it while queued or resolving
	 * ("" when none): its lookup slot is taken until the answer. An id,
	 * not a pointer, since a lookup outlives a deleted client. */
	char owner[UTIL_ID_MAX + 1];
	struct dns_entry *qnext;	/* in the owner's queue */
	/* A registration waits for the answer (deliver_host_addrs): it is
	 * looked up even when no attempt waits, and its answer runs the
	 * hook of deliver_on_lookup. Cleared when answered. */
	int asked;
};

/*
 * The engine's state for one client, by id: its attempts in flight
 * (against max_inflight_per_client), the deliveries waiting for one of its
 * slots, and its lookups with the resolver threads and queued. Kept here by
 * id rather than in struct client, as a lookup under way outlives a deleted
 * client. Idle ones are freed by the periodic sweep, never while a loop
 * over them may run.
 */
struct tenant {
	struct tenant *next;		/* hash chain */
	char id[UTIL_ID_MAX + 1];
	uint32_t inflight;		/* attempts in flight */
	struct delivery *wait_head;	/* due, held by the client's cap */
	struct delivery *wait_tail;
	uint32_t dns_inflight;		/* lookups with the threads */
	struct dns_entry *dns_head;	/* lookups waiting for a slot */
	struct dns_entry *dns_tail;
};

/* Keep-alive connections to one (address, port, Host) for one owner: an
 * endpoint, or a client's one-off callbacks. Connections are never shared
 * between owners, so one tenant's receiver can never answer (or hold an
 * answer waiting) for another tenant's delivery. */
struct pool {
	struct pool *next;		/* hash chain */
	uint32_t hash;
	uint64_t ep;			/* the endpoint's id, 0 for one-offs */
	char client[UTIL_ID_MAX + 1];	/* the owning client's id */
	char host[URL_HOST_MAX];
	struct sockaddr_storage sa;	/* zero-filled, so memcmp compares */
	socklen_t salen;
	struct conn *idle;		/* idle ones, most recently used first */
	size_t nidle;
	size_t nconn;			/* all of them, busy or idle */
};

/* An outbound connection. */
struct conn {
	struct watch w;			/* first: the callback gets &w */
	struct pool *pool;
	struct attempt *att;		/* the attempt using it, or NULL */
	int idle;			/* on the idle lists */
	struct conn *pnext, *pprev;	/* the pool's idle list */
	struct conn *lnext, *lprev;	/* all idle ones, oldest first */
	int64_t idle_since;		/* monotonic ms */
};

enum att_state {
	ATT_RESOLVING,			/* waiting for the resolver */
	ATT_CONNECTING,			/* non-blocking connect under way */
	ATT_SENDING,			/* request partly written */
	ATT_HEAD,			/* reading the response head */
	ATT_BODY			/* reading the response body */
};

enum body_mode {
	BODY_NONE,			/* 204, 304: nothing follows the head */
	BODY_LENGTH,			/* Content-Length */
	BODY_CHUNKED,
	BODY_CLOSE			/* until the receiver closes */
};

/* One attempt in flight. */
struct attempt {
	struct attempt *prev, *next;	/* in-flight list, by deadline */
	struct attempt *dns_next;	/* waiting on dns */
	struct dns_entry *dns;		/* the name waited for, or NULL */
	struct delivery *d;
	struct endpoint *ep;		/* d's endpoint at the start, or NULL */
	struct tenant *tn;		/* d's client's state, or NULL */
	struct conn *conn;
	enum att_state state;
	unsigned number;		/* 1 for a delivery's first attempt */
	int64_t at;			/* wall ms when it started */
	int64_t start, deadline;	/* monotonic ms */

	/* Where to. */
	char host[URL_HOST_MAX];
	uint16_t port;
	int literal;
	struct dns_addr addr[DELIVER_DNS_MAX_ADDRS];
	size_t naddr, next_addr, cur_addr;
	int allowed;			/* addresses the §8 rules let through */
	int last_errno;			/* the latest connect failure */
	int reused;			/* conn came from a pool */
	int refreshed;			/* already replaced a stale conn */

	/* The request. */
	struct buf req;
	size_t req_off;
	int sent_all;

	/* The response. */
	struct buf in;
	size_t scan;			/* where to look for the head's end */
	int got_bytes;			/* any response byte arrived */
	size_t head_bytes;		/* of interim heads already consumed */
	unsigned interim;		/* interim (1xx) heads so far */
	int status;
	int keep_alive;
	int64_t retry_after;		/* ms, -1 when none */
	enum body_mode mode;
	uint64_t remaining;		/* BODY_LENGTH: bytes still to come */
	struct http_chunked chunk;
	size_t body_total;		/* decoded body bytes seen */
	size_t body_len;		/* of them kept in body */
	char body[STORE_ACK_MAX];
	/* A 2xx JSON object body longer than body[], kept whole (up to
	 * DELIVER_MAX_BODY) so that "ack": false is found anywhere in it
	 * (contract §12); empty for every other answer. */
	struct buf whole;

	char error[128];
};

/* What an attempt came to, as far as the rules of §5 care. */
enum result {
	RES_OK,				/* 2xx acknowledged */
	RES_REJECT,			/* failed at once */
	RES_RETRY,			/* an HTTP answer worth retrying */
	RES_TIMEOUT,
	RES_ERROR			/* other transport and dns errors */
};

struct outcome {
	enum result result;
	int status;			/* HTTP status, 0 when none */
	const char *error;		/* NULL when none */
	int disable;			/* 410: disable the endpoint */
	int64_t retry_after;		/* ms, -1 when none */
	const char *body;
	size_t body_len;
	const char *ack;
	size_t ack_len;
};

/* ---------------------------------------------------------------------- */
/* State                                                                  */

/* The timer heap: heap[1..heap_len]. */
/* Set by deliver_drain: no new attempts start. */
static int draining;

static struct delivery **heap;
static size_t heap_len, heap_cap;

/* Values of delivery.waiting: which list it is on. */
#define WAIT_ENDPOINT 1
#define WAIT_GLOBAL 2
#define WAIT_CLIENT 3
static struct delivery *gwait_head, *gwait_tail;

/* Attempts in flight, soonest deadline first. */
static struct attempt *act_head, *act_tail;
static size_t inflight_total;
static struct attempt *spare;		/* through next */
static size_t nspare;
/* Set when a slot was freed where no pull could follow (an abort): the next
 * tick looks at every endpoint's wait list. */
static int sweep_endpoints;
/* Set while the wait lists are being pulled: attempts ending meanwhile do
 * not pull again (no recursion through synchronous failures). */
static int pulling;
/* The delivery whose outcome is being written to the store right now. */
static struct delivery *recording;

static struct pool *pools[DELIVER_POOL_BUCKETS];
static struct conn *lru_head, *lru_tail;
static size_t nidle_total;

static struct tenant *tenants[DELIVER_TENANT_BUCKETS];
/* The caps last applied: a reload that changes one sweeps the wait lists. */
static size_t last_endpoint_cap, last_client_cap, last_outbound_cap;

static struct dns_entry *dns_table[DELIVER_DNS_BUCKETS];
static size_t dns_count;
static int64_t dns_next_sweep;
static int dns_req_fd = -1;		/* the loop's end of the request pipe */
static struct watch dns_watch = { .fd = -1 };	/* the answer pipe */
static pthread_t dns_threads[DELIVER_DNS_THREADS];
static size_t dns_nthreads;		/* started */
/* The threads' ends of the pipes, shared by all of them; set before the
 * first starts, closed at stop once every thread has left. */
static int dns_thread_in = -1, dns_thread_out = -1;
/* Each thread reads a whole request under this lock: with several readers
 * on one pipe, POSIX makes writes of a record atomic but not reads. */
static pthread_mutex_t dns_read_lock = PTHREAD_MUTEX_INITIALIZER;
/* Which threads have left, for the bounded wait at stop. */
static pthread_mutex_t dns_exit_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t dns_exit_cond = PTHREAD_COND_INITIALIZER;
static int dns_exited[DELIVER_DNS_THREADS];
/* Run on the loop thread after an answer to a name a registration asked
 * for (deliver_on_lookup); dns_hook_due says one came in this read. */
static void (*dns_hook)(void);
static int dns_hook_due;
/* HOOKD_FAULT dns_slow=SUFFIX: set before the threads start, read-only
 * after ("" when not set). */
static char dns_fault_slow[URL_HOST_MAX];

static uint64_t rng_state;

/* Scratch space for building requests and checking acks; used within one
 * call on the loop thread, never across passes. */
static struct buf scratch_data, scratch_url, scratch_query, scratch_str;
static struct json_tok *scratch_toks;
static size_t scratch_ntoks;
static struct http_response scratch_res;

static const struct http_limits response_limits = {
	DELIVER_MAX_HEAD, HTTP_MAX_HEADERS
};

static void attempt_start(struct delivery *d);
static void attempt_connect(struct attempt *a);
static void attempt_abort(struct attempt *a);
static void conn_close(struct conn *c);

/* ---------------------------------------------------------------------- */
/* Small helpers                                                          */

static size_t
endpoint_cap(void)
{
	return config_current()->endpoint_concurrency > 0 ?
	    config_current()->endpoint_concurrency : 1;
}

/*
 * The attempts e may have in flight. An endpoint whose attempts are failing
 * (timeouts, refusals, errors) gets one at a time until one succeeds: a
 * dead receiver then holds one outbound slot instead of
 * endpoint_concurrency, so a hundred of them cannot take max_outbound from
 * the healthy ones (contract §5: a dead receiver never delays others).
 */
static size_t
endpoint_slots(const struct endpoint *e)
{
	return e->failing_since != 0 ? 1 : endpoint_cap();
}

static size_t
outbound_cap(void)
{
	return config_current()->max_outbound > 0 ?
	    config_current()->max_outbound : 1;
}

/* The attempts one client may have in flight (contract §18): its hanging
 * receivers can never take every outbound slot from the other clients. */
static size_t
client_cap(void)
{
	return config_client_inflight(config_current());
}

static uint32_t
hash_bytes(uint32_t h, const void *p, size_t n)
{
	const unsigned char *s = p;
	size_t i;

	for (i = 0; i < n; i++)
		h = (h ^ s[i]) * 16777619u;	/* FNV-1a */
	return h;
}

/* The engine's state of client id; created when create is set. NULL when
 * there is none, or no memory (the client is then not capped, which errs on
 * delivering). */
static struct tenant *
tenant_get(const char *id, int create)
{
	struct tenant **slot, *t;

	slot = &tenants[hash_bytes(2166136261u, id, strlen(id)) %
	    DELIVER_TENANT_BUCKETS];
	for (t = *slot; t != NULL; t = t->next)
		if (strcmp(t->id, id) == 0)
			return t;
	if (!create || id[0] == '\0')
		return NULL;
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	snprintf(t->id, sizeof(t->id), "%s", id);
	t->next = *slot;
	*slot = t;
	return t;
}

/* The state of d's client (the event keeps its id even once the client is
 * deleted). */
static struct tenant *
tenant_of(const struct delivery *d)
{
	return tenant_get(d->event->client_id, 1);
}

/* Free the states that hold nothing; all of them when all is set (stop). */
static void
tenant_sweep(int all)
{
	size_t i;

	for (i = 0; i < DELIVER_TENANT_BUCKETS; i++) {
		struct tenant **pp = &tenants[i];

		while (*pp != NULL) {
			struct tenant *t = *pp;

			if (all || (t->inflight == 0 && t->wait_head == NULL &&
			    t->dns_inflight == 0 && t->dns_head == NULL)) {
				*pp = t->next;
				free(t);
			} else {
				pp = &t->next;
			}
		}
	}
}

/* A uniform double in [0, 1) from xorshift64*: jitter needs no more, and
 * a private generator leaves the process's rand() state alone. */
static double
rng_unit(void)
{
	uint64_t x = rng_state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return (double)((x * 2685821657736338717ULL) >> 11) /
	    9007199254740992.0;
}

/* Reset a scratch buffer, releasing it when it grew big or failed, so one
 * huge payload does not pin memory and a past failure does not stick. */
static void
scratch_reset(struct buf *b)
{
	if (b->oom || b->cap > DELIVER_SPARE_BUF)
		buf_free(b);
	else
		buf_reset(b);
}

/* Room for n tokens in scratch_toks. 0 or -1. */
static int
toks_reserve(size_t n)
{
	struct json_tok *t;

	if (n <= scratch_ntoks)
		return 0;
	t = realloc(scratch_toks, n * sizeof(*t));
	if (t == NULL)
		return -1;
	scratch_toks = t;
	scratch_ntoks = n;
	return 0;
}

static void
toks_trim(void)
{
	if (scratch_ntoks > DELIVER_SPARE_TOKS) {
		free(scratch_toks);
		scratch_toks = NULL;
		scratch_ntoks = 0;
	}
}

/* Parse JSON text into scratch_toks: the token count, or < 1 when it is not
 * JSON (or memory ran out). */
static int
json_scratch_parse(const char *s, size_t len)
{
	int n = json_parse(s, len, NULL, 0);

	if (n < 1 || toks_reserve((size_t)n) != 0)
		return -1;
	return json_parse(s, len, scratch_toks, scratch_ntoks);
}

/* A NUL-terminated string (NULL as "") as a logfmt value: log_quote, so
 * that a receiver's or resolver's text cannot forge a key or a line. */
static const char *
logq(char *out, size_t outsz, const char *s)
{
	return log_quote(out, outsz, s != NULL ? s : "",
	    s != NULL ? strlen(s) : 0);
}

/* Error text and result for a socket errno. */
static const char *
errno_error(int err, enum result *r)
{
	*r = RES_ERROR;
	switch (err) {
	case ECONNREFUSED:
		return "connection refused";
	case ECONNRESET:
	case EPIPE:
		return "connection reset";
	case ETIMEDOUT:
		*r = RES_TIMEOUT;
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
/* The timer heap                                                         */

/* Earlier next_at first; ties in creation order, for best-effort order. */
static int
heap_less(const struct delivery *a, const struct delivery *b)
{
	if (a->next_at != b->next_at)
		return a->next_at < b->next_at;
	return a->id < b->id;
}

static void
heap_set(size_t i, struct delivery *d)
{
	heap[i] = d;
	d->heap_index = (uint32_t)i;
}

static void
heap_up(size_t i)
{
	struct delivery *d = heap[i];

	while (i > 1 && heap_less(d, heap[i / 2])) {
		heap_set(i, heap[i / 2]);
		i /= 2;
	}
	heap_set(i, d);
}

static void
heap_down(size_t i)
{
	struct delivery *d = heap[i];

	for (;;) {
		size_t c = 2 * i;

		if (c > heap_len)
			break;
		if (c + 1 <= heap_len && heap_less(heap[c + 1], heap[c]))
			c++;
		if (!heap_less(heap[c], d))
			break;
		heap_set(i, heap[c]);
		i = c;
	}
	heap_set(i, d);
}

/* 0, or -1 out of memory (d not added). */
static int
heap_push(struct delivery *d)
{
	if (heap_len + 1 >= heap_cap) {
		size_t cap = heap_cap != 0 ? heap_cap * 2 : 1024;
		struct delivery **h;

		/* heap_index is 32 bits wide. */
		if (cap > UINT32_MAX)
			return -1;
		h = realloc(heap, cap * sizeof(*h));
		if (h == NULL)
			return -1;
		heap = h;
		heap_cap = cap;
	}
	heap_len++;
	heap_set(heap_len, d);
	heap_up(heap_len);
	return 0;
}

static void
heap_remove(struct delivery *d)
{
	size_t i = d->heap_index;
	struct delivery *last;

	if (i == 0 || i > heap_len || heap[i] != d)
		return;
	d->heap_index = 0;
	last = heap[heap_len--];
	if (last != d) {
		heap_set(i, last);
		heap_up(i);
		heap_down(last->heap_index);
	}
	/* Give memory back after a large backlog has drained. */
	if (heap_cap > 4096 && heap_len < heap_cap / 4) {
		struct delivery **h = realloc(heap, heap_cap / 2 * sizeof(*h));

		if (h != NULL) {
			heap = h;
			heap_cap /= 2;
		}
	}
}

/* ---------------------------------------------------------------------- */
/* Wait lists                                                             */

/* Append d to a wait list: its endpoint's, its client's (t) or the
 * global one. */
static void
wait_push(struct delivery *d, uint8_t which, struct tenant *t)
{
	struct delivery **head = &gwait_head, **tail = &gwait_tail;

	if (which == WAIT_ENDPOINT) {
		head = &d->endpoint->wait_head;
		tail = &d->endpoint->wait_tail;
	} else if (which == WAIT_CLIENT) {
		head = &t->wait_head;
		tail = &t->wait_tail;
	}
	d->wait_next = NULL;
	d->waiting = which;
	if (*tail != NULL)
		(*tail)->wait_next = d;
	else
		*head = d;
	*tail = d;
}

static struct delivery *
wait_pop(struct delivery **head, struct delivery **tail)
{
	struct delivery *d = *head;

	if (d == NULL)
		return NULL;
	*head = d->wait_next;
	if (*head == NULL)
		*tail = NULL;
	d->wait_next = NULL;
	d->waiting = 0;
	return d;
}

/*
 * Take d off whichever list holds it. The lists are singly linked (the
 * store's struct has one link), so this walks from the head: deliveries
 * leave a list from the head in normal operation, and only deletes and
 * disables remove from the middle.
 */
static void
wait_unlink(struct delivery *d)
{
	struct delivery **head = &gwait_head, **tail = &gwait_tail;
	struct delivery *p, *prev = NULL;

	if (d->waiting == WAIT_ENDPOINT) {
		if (d->endpoint == NULL) {
			d->waiting = 0;
			return;
		}
		head = &d->endpoint->wait_head;
		tail = &d->endpoint->wait_tail;
	} else if (d->waiting == WAIT_CLIENT) {
		struct tenant *t = tenant_get(d->event->client_id, 0);

		if (t == NULL) {
			d->waiting = 0;
			return;
		}
		head = &t->wait_head;
		tail = &t->wait_tail;
	}
	for (p = *head; p != NULL && p != d; p = p->wait_next)
		prev = p;
	if (p != NULL) {
		if (prev != NULL)
			prev->wait_next = d->wait_next;
		else
			*head = d->wait_next;
		if (*tail == d)
			*tail = prev;
	}
	d->wait_next = NULL;
	d->waiting = 0;
}

/* ---------------------------------------------------------------------- */
/* Scheduling                                                             */

/* store_on_due: (re)insert d by its next_at. Idempotent: a delivery in
 * flight or already waiting for a slot is left where it is. */
static void
engine_due(struct delivery *d)
{
	if (d->status != STORE_PENDING || d->inflight || d->waiting)
		return;
	if (d->heap_index != 0) {
		heap_up(d->heap_index);
		heap_down(d->heap_index);
		return;
	}
	/* Out of memory for the heap: hold it on the global wait list, which
	 * needs none. It is then attempted when a slot frees, early rather
	 * than never. */
	if (heap_push(d) != 0)
		wait_push(d, WAIT_GLOBAL, NULL);
}

/* The in-flight attempt of d (at most max_outbound to look through). */
static struct attempt *
attempt_of(const struct delivery *d)
{
	struct attempt *a;

	for (a = act_head; a != NULL; a = a->next)
		if (a->d == d)
			return a;
	return NULL;
}

/* store_on_fail: d left pending without an attempt (a delete or a
 * disable failed it); forget it. */
static void
engine_forget(struct delivery *d)
{
	/* The store may call this for the delivery this file is itself
	 * recording; that one is counted where it is recorded. */
	if (d != recording)
		metrics.failed++;
	if (d->heap_index != 0)
		heap_remove(d);
	if (d->waiting)
		wait_unlink(d);
	if (d->inflight) {
		struct attempt *a = attempt_of(d);

		if (a != NULL)
			attempt_abort(a);
		d->inflight = 0;
		sweep_endpoints = 1;
	}
}

/*
 * Start d now, or put it on the wait list of the first limit that holds it
 * back: its endpoint's (disabled, or endpoint_slots in flight), its
 * client's (max_inflight_per_client in flight), or the global one
 * (max_outbound). A list is pulled when a slot of its kind frees, and what
 * is pulled is dispatched again, so a delivery moves on to the next limit
 * that holds it; it never waits on two lists, and never fails for a limit.
 */
static void
dispatch(struct delivery *d)
{
	struct endpoint *e = d->endpoint;
	struct tenant *t = tenant_of(d);

	if (e != NULL && (!e->enabled || e->inflight >= endpoint_slots(e)))
		wait_push(d, WAIT_ENDPOINT, NULL);
	else if (t != NULL && t->inflight >= client_cap())
		wait_push(d, WAIT_CLIENT, t);
	else if (inflight_total >= outbound_cap() && e != NULL &&
	    e->inflight > 0)
		/* Its own attempts pull it when they end, so a busy endpoint
		 * keeps its slots instead of queueing behind every other
		 * endpoint's deliveries on the global list. */
		wait_push(d, WAIT_ENDPOINT, NULL);
	else if (inflight_total >= outbound_cap())
		wait_push(d, WAIT_GLOBAL, NULL);
	else
		attempt_start(d);
}

static void
pull_endpoint(struct endpoint *e)
{
	while (e->enabled && e->wait_head != NULL &&
	    e->inflight < endpoint_slots(e)) {
		struct delivery *d = e->wait_head;
		struct tenant *t = tenant_of(d);

		if (t != NULL && t->inflight >= client_cap()) {
			/* Its client has no slot. With none of the
			 * endpoint's own attempts in flight, nothing would
			 * pull it again: hand one delivery to the client's
			 * list, whose turn comes when a slot of the client
			 * frees (and whose attempt pulls this list again). */
			if (e->inflight == 0) {
				d = wait_pop(&e->wait_head, &e->wait_tail);
				wait_push(d, WAIT_CLIENT, t);
			}
			return;
		}
		if (inflight_total >= outbound_cap()) {
			/* No global slot. With none of its own attempts in
			 * flight, nothing would pull this endpoint again:
			 * hand one delivery to the global list, whose turn
			 * comes when any slot frees. */
			if (e->inflight == 0) {
				d = wait_pop(&e->wait_head, &e->wait_tail);
				wait_push(d, WAIT_GLOBAL, NULL);
			}
			return;
		}
		d = wait_pop(&e->wait_head, &e->wait_tail);
		attempt_start(d);
	}
}

/* A slot of client t may be free: dispatch what waits for one. */
static void
pull_client(struct tenant *t)
{
	while (t->wait_head != NULL && t->inflight < client_cap()) {
		if (inflight_total >= outbound_cap()) {
			/* As in pull_endpoint: with none of the client's
			 * attempts in flight, the global list takes one. */
			if (t->inflight == 0)
				wait_push(wait_pop(&t->wait_head,
				    &t->wait_tail), WAIT_GLOBAL, NULL);
			return;
		}
		/* Goes to its endpoint's list, or starts. */
		dispatch(wait_pop(&t->wait_head, &t->wait_tail));
	}
}

static void
pull_global(void)
{
	while (gwait_head != NULL && inflight_total < outbound_cap())
		dispatch(wait_pop(&gwait_head, &gwait_tail));
}

/* A slot of e and of t (either may be NULL) freed: let waiting deliveries
 * go. */
static void
pull_after(struct endpoint *e, struct tenant *t)
{
	if (pulling) {
		/* An attempt started by a pull ended at once; the pull in
		 * progress goes on, and the tick covers what it misses. */
		if ((e != NULL && e->wait_head != NULL) ||
		    (t != NULL && t->wait_head != NULL))
			sweep_endpoints = 1;
		return;
	}
	pulling = 1;
	if (e != NULL)
		pull_endpoint(e);
	if (t != NULL)
		pull_client(t);
	pull_global();
	pulling = 0;
}

/* ---------------------------------------------------------------------- */
/* The resolver                                                           */

static int
fd_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -1;
	return 0;
}

static int
fd_cloexec(int fd)
{
	return fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 ? -1 : 0;
}

static int
addr_from_sockaddr(const struct sockaddr_storage *ss, struct dns_addr *x)
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

/* Fill ss (zeroed first, so pools can memcmp it) and return its length. */
static socklen_t
addr_to_sockaddr(const struct dns_addr *x, uint16_t port,
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

/* 1 when host ends with suffix. */
static int
host_has_suffix(const char *host, const char *suffix)
{
	size_t h = strlen(host), n = strlen(suffix);

	return n > 0 && h >= n && memcmp(host + h - n, suffix, n) == 0;
}

/*
 * A resolver thread: one lookup at a time, until the request pipe ends.
 * arg is its index in dns_exited, set when it leaves.
 */
static void *
dns_main(void *arg)
{
	size_t self = (size_t)(uintptr_t)arg;
	int in = dns_thread_in, out = dns_thread_out;
	struct dns_req q;
	struct dns_res r;

	for (;;) {
		struct addrinfo hints, *res = NULL, *ai;
		ssize_t n;

		pthread_mutex_lock(&dns_read_lock);
		do
			n = read(in, &q, sizeof(q));
		while (n < 0 && errno == EINTR);
		pthread_mutex_unlock(&dns_read_lock);
		if (n != (ssize_t)sizeof(q))
			break;		/* end of file: the stop request */
		q.host[sizeof(q.host) - 1] = '\0';
		memset(&r, 0, sizeof(r));
		r.cookie = q.cookie;
		/* The test fault: a lookup that never answers. */
		while (host_has_suffix(q.host, dns_fault_slow))
			pause();
		memset(&hints, 0, sizeof(hints));
		hints.ai_family = AF_UNSPEC;
		hints.ai_socktype = SOCK_STREAM;
		r.gai = getaddrinfo(q.host, NULL, &hints, &res);
		for (ai = r.gai == 0 ? res : NULL; ai != NULL &&
		    r.naddr < DELIVER_DNS_MAX_ADDRS; ai = ai->ai_next) {
			struct sockaddr_storage ss;

			if (ai->ai_addrlen > sizeof(ss))
				continue;
			memset(&ss, 0, sizeof(ss));
			memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
			if (addr_from_sockaddr(&ss, &r.addr[r.naddr]) == 0)
				r.naddr++;
		}
		if (res != NULL)
			freeaddrinfo(res);
		do
			n = write(out, &r, sizeof(r));
		while (n < 0 && errno == EINTR);
		if (n != (ssize_t)sizeof(r))
			break;		/* the loop closed its end */
	}
	pthread_mutex_lock(&dns_exit_lock);
	dns_exited[self] = 1;
	pthread_cond_broadcast(&dns_exit_cond);
	pthread_mutex_unlock(&dns_exit_lock);
	return NULL;
}

static struct dns_entry **
dns_slot(const char *host)
{
	uint32_t h = hash_bytes(2166136261u, host, strlen(host));

	return &dns_table[h % DELIVER_DNS_BUCKETS];
}

static void
dns_entry_fail(struct dns_entry *en, const char *reason, int64_t ttl)
{
	en->state = DNS_FAILED;
	en->naddr = 0;
	en->expires = util_mono_ms() + ttl;
	snprintf(en->error, sizeof(en->error), "dns: %s", reason);
}

/* Hand en's name to the resolver threads for client t (may be NULL),
 * whose lookup slot it takes until the answer. */
static void
dns_send(struct dns_entry *en, struct tenant *t)
{
	struct dns_req q;
	ssize_t n;

	en->state = DNS_RESOLVING;
	en->naddr = 0;
	en->qnext = NULL;
	snprintf(en->owner, sizeof(en->owner), "%s", t != NULL ? t->id : "");
	memset(&q, 0, sizeof(q));
	q.cookie = en;
	snprintf(q.host, sizeof(q.host), "%s", en->host);
	do
		n = write(dns_req_fd, &q, sizeof(q));
	while (n < 0 && errno == EINTR);
	/* The pipe is full (hundreds of names queued) or the threads are
	 * gone: fail this name for now rather than block the loop. */
	if (n != (ssize_t)sizeof(q)) {
		en->owner[0] = '\0';
		dns_entry_fail(en, "resolver busy", 0);
		return;
	}
	if (t != NULL)
		t->dns_inflight++;
}

/* Take the queued en out of its owner's queue. */
static void
dns_dequeue(struct dns_entry *en)
{
	struct tenant *t = tenant_get(en->owner, 0);
	struct dns_entry **pp, *prev = NULL;

	if (t == NULL)
		return;
	for (pp = &t->dns_head; *pp != NULL && *pp != en; pp = &(*pp)->qnext)
		prev = *pp;
	if (*pp == en) {
		*pp = en->qnext;
		if (t->dns_tail == en)
			t->dns_tail = prev;
	}
	en->qnext = NULL;
}

/*
 * The entry for host, asked for by client t (may be NULL): fresh from the
 * cache, or being resolved, or queued behind t's own lookups when t has
 * DELIVER_DNS_PER_CLIENT with the threads already. NULL when out of memory.
 */
static struct dns_entry *
dns_get(const char *host, struct tenant *t, int64_t now)
{
	struct dns_entry **slot = dns_slot(host), *en;

	for (en = *slot; en != NULL; en = en->next)
		if (strcmp(en->host, host) == 0)
			break;
	if (en != NULL && en->state == DNS_RESOLVING)
		return en;
	if (en != NULL && en->state == DNS_QUEUED) {
		/* Queued behind another client's lookups: a client with a
		 * slot free takes it over, so that no client can hold a name
		 * others need behind its own slow ones. */
		if (t != NULL && strcmp(en->owner, t->id) != 0 &&
		    t->dns_inflight < DELIVER_DNS_PER_CLIENT) {
			dns_dequeue(en);
			dns_send(en, t);
		}
		return en;
	}
	if (en != NULL && en->expires > now)
		return en;
	if (en == NULL) {
		en = calloc(1, sizeof(*en));
		if (en == NULL)
			return NULL;
		snprintf(en->host, sizeof(en->host), "%s", host);
		en->next = *slot;
		*slot = en;
		dns_count++;
	}
	if (t != NULL && t->dns_inflight >= DELIVER_DNS_PER_CLIENT) {
		en->state = DNS_QUEUED;
		en->naddr = 0;
		en->qnext = NULL;
		snprintf(en->owner, sizeof(en->owner), "%s", t->id);
		if (t->dns_tail != NULL)
			t->dns_tail->qnext = en;
		else
			t->dns_head = en;
		t->dns_tail = en;
		return en;
	}
	dns_send(en, t);
	return en;
}

static void
dns_free_entry(struct dns_entry *en)
{
	struct dns_entry **pp = dns_slot(en->host);

	while (*pp != NULL && *pp != en)
		pp = &(*pp)->next;
	if (*pp == en)
		*pp = en->next;
	free(en);
	dns_count--;
}

/* Drop expired names; names queued or being resolved stay (their answer
 * is due). */
static void
dns_sweep(int64_t now)
{
	size_t i;

	for (i = 0; i < DELIVER_DNS_BUCKETS; i++) {
		struct dns_entry **pp = &dns_table[i];

		while (*pp != NULL) {
			struct dns_entry *en = *pp;

			if ((en->state == DNS_OK || en->state == DNS_FAILED) &&
			    en->expires <= now) {
				*pp = en->next;
				free(en);
				dns_count--;
			} else {
				pp = &en->next;
			}
		}
	}
	dns_next_sweep = now + DELIVER_DNS_SWEEP_MS;
}

static void
dns_unwait(struct attempt *a)
{
	struct attempt **pp = &a->dns->waiters;

	while (*pp != NULL && *pp != a)
		pp = &(*pp)->dns_next;
	if (*pp == a)
		*pp = a->dns_next;
	a->dns = NULL;
	a->dns_next = NULL;
}

static void attempt_resolved(struct attempt *a, struct dns_entry *en);

/* en is answered (or failed): the attempts waiting for it go on. */
static void
dns_wake(struct dns_entry *en)
{
	struct attempt *a;

	if (en->asked) {
		en->asked = 0;
		dns_hook_due = 1;
	}
	/* Take waiters one at a time from the entry itself: an attempt that
	 * ends here may abort others (a 410 disables their endpoint), and
	 * those unlink themselves from this same list. */
	while ((a = en->waiters) != NULL) {
		en->waiters = a->dns_next;
		a->dns = NULL;
		a->dns_next = NULL;
		attempt_resolved(a, en);
	}
}

/* Send t's queued lookups while it has slots free. A queued name nobody
 * waits for any more (its attempts timed out, and no registration asked
 * for it) is dropped, not looked up. */
static void
dns_pump(struct tenant *t)
{
	while (t->dns_head != NULL &&
	    t->dns_inflight < DELIVER_DNS_PER_CLIENT) {
		struct dns_entry *en = t->dns_head;

		t->dns_head = en->qnext;
		if (t->dns_head == NULL)
			t->dns_tail = NULL;
		en->qnext = NULL;
		if (en->waiters == NULL && !en->asked) {
			en->owner[0] = '\0';
			dns_entry_fail(en, "not looked up", 0);
			en->expires = 0;	/* swept; asked again */
			continue;
		}
		dns_send(en, t);
		if (en->state == DNS_FAILED)
			dns_wake(en);
	}
}

static void
dns_answer(const struct dns_res *r)
{
	struct dns_entry *en = r->cookie;
	struct tenant *t = tenant_get(en->owner, 0);

	en->owner[0] = '\0';
	if (t != NULL && t->dns_inflight > 0)
		t->dns_inflight--;
	if (r->gai != 0) {
		dns_entry_fail(en, gai_strerror(r->gai), DELIVER_DNS_NEG_TTL_MS);
	} else if (r->naddr == 0) {
		dns_entry_fail(en, "no address", DELIVER_DNS_NEG_TTL_MS);
	} else {
		en->state = DNS_OK;
		en->naddr = r->naddr;
		memcpy(en->addr, r->addr, r->naddr * sizeof(r->addr[0]));
		en->expires = util_mono_ms() + DELIVER_DNS_TTL_MS;
	}
	/* The client's next queued name first, then the waiters (whose new
	 * attempts queue behind it). */
	if (t != NULL)
		dns_pump(t);
	dns_wake(en);
	if (dns_count > DELIVER_DNS_CACHE_MAX)
		dns_free_entry(en);
}

static void
dns_cb(struct watch *w, short revents)
{
	struct dns_res r;
	ssize_t n;

	(void)revents;
	for (;;) {
		n = read(w->fd, &r, sizeof(r));
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0) {
			/* The thread is gone (it only leaves when its pipes
			 * fail): stop polling an end of file. Lookups then
			 * fail as "resolver busy" and are retried. */
			loop_watch_del(w);
			break;
		}
		if (n != (ssize_t)sizeof(r))
			break;		/* EAGAIN: all read */
		dns_answer(&r);
	}
	/* Once per read, not per answer: the registrations waiting are run
	 * again by the hook, and most of them find their answer at once. */
	if (dns_hook_due && dns_hook != NULL) {
		dns_hook_due = 0;
		dns_hook();
	}
}

void
deliver_on_lookup(void (*fn)(void))
{
	dns_hook = fn;
}

int
deliver_host_addrs(const char *host, const char *client,
    struct sockaddr_storage *ss, size_t max, size_t *n)
{
	struct tenant *t = client != NULL ? tenant_get(client, 1) : NULL;
	struct dns_entry *en;
	size_t i;

	*n = 0;
	/* Without the threads (not started, or stopping) nothing would
	 * answer: the name is not judged now. */
	if (dns_req_fd < 0)
		return 0;
	/* The same cache and per-client slots as the deliveries' lookups:
	 * registering many slow names costs a client its own two slots, as
	 * delivering to them would. */
	en = dns_get(host, t, util_mono_ms());
	if (en == NULL)
		return 0;	/* out of memory: not judged now */
	if (en->state == DNS_QUEUED || en->state == DNS_RESOLVING) {
		en->asked = 1;
		return 1;
	}
	for (i = 0; i < en->naddr && i < max; i++)
		(void)addr_to_sockaddr(&en->addr[i], 0, &ss[i]);
	*n = i;
	return 0;
}

/* Read HOOKD_FAULT's dns_slow=SUFFIX (tests only, like the store's faults):
 * a lookup of a name ending in SUFFIX never answers, as with a DNS server
 * that does not reply, so tests can show that one client's slow names do
 * not hold up the others' and that a stop does not wait for them. */
static void
dns_fault_init(void)
{
	const char *p = getenv("HOOKD_FAULT");
	static const char key[] = "dns_slow=";
	size_t k = sizeof(key) - 1;

	dns_fault_slow[0] = '\0';
	while (p != NULL && *p != '\0') {
		const char *end = strchr(p, ',');
		size_t len = end != NULL ? (size_t)(end - p) : strlen(p);

		if (len > k && memcmp(p, key, k) == 0 &&
		    len - k < sizeof(dns_fault_slow)) {
			memcpy(dns_fault_slow, p + k, len - k);
			dns_fault_slow[len - k] = '\0';
		}
		p = end != NULL ? end + 1 : NULL;
	}
}

/* Start the resolver threads with every signal blocked in them, so that
 * the loop thread is the one whose poll a signal interrupts, and a write to
 * a closed pipe fails with EPIPE instead of killing the process. On
 * failure, deliver_shutdown stops the threads already started. */
static int
dns_start(char *err, size_t errsz)
{
	int req[2] = { -1, -1 }, res[2] = { -1, -1 };
	sigset_t all, old;
	size_t i;
	int rc = 0;

	dns_fault_init();
	if (pipe(req) != 0 || pipe(res) != 0) {
		snprintf(err, errsz, "resolver pipe: %s", strerror(errno));
		goto fail;
	}
	if (fd_cloexec(req[0]) != 0 || fd_cloexec(req[1]) != 0 ||
	    fd_cloexec(res[0]) != 0 || fd_cloexec(res[1]) != 0 ||
	    fd_nonblock(req[1]) != 0 || fd_nonblock(res[0]) != 0) {
		snprintf(err, errsz, "resolver pipe: %s", strerror(errno));
		goto fail;
	}
	/* From here on req[0] and res[1] belong to the threads, the other
	 * ends to the loop; dns_stop closes them all. */
	dns_thread_in = req[0];
	dns_thread_out = res[1];
	dns_req_fd = req[1];
	memset(&dns_watch, 0, sizeof(dns_watch));
	dns_watch.fd = res[0];
	dns_watch.events = POLLIN;
	dns_watch.cb = dns_cb;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (i = 0; i < DELIVER_DNS_THREADS && rc == 0; i++) {
		dns_exited[i] = 0;
		rc = pthread_create(&dns_threads[i], NULL, dns_main,
		    (void *)(uintptr_t)i);
		if (rc == 0)
			dns_nthreads++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		snprintf(err, errsz, "resolver thread: %s", strerror(rc));
		return -1;
	}
	if (loop_watch_add(&dns_watch) != 0) {
		snprintf(err, errsz, "resolver watch: out of memory");
		return -1;
	}
	return 0;
fail:
	if (req[0] >= 0) {
		close(req[0]);
		close(req[1]);
	}
	if (res[0] >= 0) {
		close(res[0]);
		close(res[1]);
	}
	return -1;
}

/*
 * Stop the threads: end the request pipe (idle threads leave), close the
 * answer pipe (a write one is blocked in fails), and wait up to
 * DELIVER_DNS_STOP_MS for them. A thread still in a lookup then is left to
 * the process's exit (getaddrinfo cannot be interrupted): a name that never
 * answers cannot hang a stop. The threads' pipe ends stay open for such a
 * thread; nothing else it touches is freed.
 */
static void
dns_stop(void)
{
	size_t i, left = 0;

	if (dns_req_fd >= 0) {
		close(dns_req_fd);
		dns_req_fd = -1;
	}
	if (dns_watch.fd >= 0) {
		loop_watch_del(&dns_watch);
		close(dns_watch.fd);
		dns_watch.fd = -1;
	}
	if (dns_nthreads > 0) {
		struct timespec until;
		int rc = 0;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += DELIVER_DNS_STOP_MS / 1000;
		until.tv_nsec += (DELIVER_DNS_STOP_MS % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_mutex_lock(&dns_exit_lock);
		for (;;) {
			for (i = 0, left = 0; i < dns_nthreads; i++)
				left += !dns_exited[i];
			if (left == 0 || rc == ETIMEDOUT)
				break;
			rc = pthread_cond_timedwait(&dns_exit_cond,
			    &dns_exit_lock, &until);
		}
		for (i = 0; i < dns_nthreads; i++) {
			if (dns_exited[i])
				pthread_join(dns_threads[i], NULL);
			else
				pthread_detach(dns_threads[i]);
		}
		pthread_mutex_unlock(&dns_exit_lock);
		dns_nthreads = 0;
	}
	if (left == 0 && dns_thread_in >= 0) {
		close(dns_thread_in);
		close(dns_thread_out);
	}
	dns_thread_in = dns_thread_out = -1;
	for (i = 0; i < DELIVER_DNS_BUCKETS; i++) {
		while (dns_table[i] != NULL) {
			struct dns_entry *en = dns_table[i];

			dns_table[i] = en->next;
			free(en);
		}
	}
	dns_count = 0;
}

/* ---------------------------------------------------------------------- */
/* Connections and pools                                                  */

/* The pool of a's connections to sa: keyed by address, Host and owner. */
static struct pool *
pool_get(const struct attempt *a, const struct sockaddr_storage *sa,
    socklen_t salen)
{
	const char *host = a->host, *client = a->d->event->client_id;
	uint64_t ep = a->ep != NULL ? a->ep->id : 0;
	uint32_t h = hash_bytes(hash_bytes(hash_bytes(hash_bytes(2166136261u,
	    host, strlen(host)), sa, salen), client, strlen(client)), &ep,
	    sizeof(ep));
	struct pool **slot = &pools[h % DELIVER_POOL_BUCKETS], *p;

	for (p = *slot; p != NULL; p = p->next)
		if (p->hash == h && p->salen == salen && p->ep == ep &&
		    memcmp(&p->sa, sa, salen) == 0 &&
		    strcmp(p->host, host) == 0 && strcmp(p->client, client) == 0)
			return p;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return NULL;
	p->hash = h;
	p->ep = ep;
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
pool_release(struct pool *p)
{
	struct pool **pp = &pools[p->hash % DELIVER_POOL_BUCKETS];

	if (p->nconn != 0)
		return;
	while (*pp != NULL && *pp != p)
		pp = &(*pp)->next;
	if (*pp == p)
		*pp = p->next;
	free(p);
}

static void
idle_unlink(struct conn *c)
{
	struct pool *p = c->pool;

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
conn_close(struct conn *c)
{
	struct pool *p = c->pool;

	if (c->idle)
		idle_unlink(c);
	loop_watch_del(&c->w);
	close(c->w.fd);
	p->nconn--;
	free(c);
	pool_release(p);
}

/* 1 when nothing is waiting unread on c and the receiver has not closed
 * it: only then may c carry another request. A byte there now (a stray
 * second response, the start of a close) would otherwise be read as the
 * next delivery's answer. */
static int
conn_quiet(const struct conn *c)
{
	char b;
	ssize_t n;

	do
		n = recv(c->w.fd, &b, 1, MSG_PEEK);
	while (n < 0 && errno == EINTR);
	return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

/* Keep c for the next attempt to its pool, within the idle caps. */
static void
conn_park(struct conn *c)
{
	struct pool *p = c->pool;

	c->att = NULL;
	if (p->nidle >= endpoint_cap() || !conn_quiet(c)) {
		conn_close(c);
		return;
	}
	if (nidle_total >= outbound_cap() && lru_head != NULL)
		conn_close(lru_head);
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
 * (or sent what nobody asked for). Either way it cannot be reused. */
static void
conn_idle_event(struct conn *c, short revents)
{
	if (revents != 0)
		conn_close(c);
}

static void conn_cb(struct watch *w, short revents);

/* Open a connection to p for a, non-blocking. 0 (connecting, a->conn set),
 * or an errno value. */
static int
conn_open(struct attempt *a, struct pool *p)
{
	struct conn *c;
	int fd, one = 1, err;

	fd = socket(p->sa.ss_family, SOCK_STREAM, 0);
	if (fd < 0)
		return errno;
	if (fd_cloexec(fd) != 0 || fd_nonblock(fd) != 0) {
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
	c->w.cb = conn_cb;
	if (loop_watch_add(&c->w) != 0) {
		close(fd);
		free(c);
		return ENOMEM;
	}
	c->pool = p;
	p->nconn++;
	c->att = a;
	a->conn = c;
	a->reused = 0;
	a->state = ATT_CONNECTING;
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Building the request                                                   */

/* Append the endpoint's extra headers (a JSON object's text). Members that
 * are not safe header lines are skipped: the API validates them, this is
 * the last line of defence against header injection. */
static void
put_extra_headers(struct buf *b, const char *json)
{
	char name[DELIVER_HEADER_NAME_MAX];
	int n, m, i, k, v, nlen;

	n = json_scratch_parse(json, strlen(json));
	if (n < 1 || scratch_toks[0].type != JSON_OBJECT)
		return;
	i = 1;
	for (m = 0; m < (int)scratch_toks[0].size; m++) {
		const char *val;
		size_t vlen;

		k = i;
		v = i + 1;
		i = (int)scratch_toks[v].next;
		nlen = json_str(json, &scratch_toks[k], name, sizeof(name));
		/* Checked to the decoded length: a \u0000 is no tchar. The
		 * same rules as the API's, so nothing it accepted is dropped
		 * here. */
		if (nlen < 1 || !http_name_ok(name, (size_t)nlen) ||
		    http_header_reserved(name, (size_t)nlen))
			continue;
		switch (scratch_toks[v].type) {
		case JSON_STRING:
			scratch_reset(&scratch_str);
			if (json_str_buf(json, &scratch_toks[v], &scratch_str))
				continue;
			val = scratch_str.data != NULL ? scratch_str.data : "";
			vlen = scratch_str.len;
			break;
		case JSON_NUMBER:
		case JSON_TRUE:
		case JSON_FALSE:
			val = json + scratch_toks[v].start;
			vlen = scratch_toks[v].len;
			break;
		default:
			continue;
		}
		if (!http_value_ok(val, vlen))
			continue;
		buf_puts(b, name);
		buf_append(b, ": ", 2);
		buf_append(b, val, vlen);
		buf_append(b, "\r\n", 2);
	}
}

/*
 * Build a's request into a->req and note where it goes. Returns 0; -1 when
 * the delivery cannot be made at all (err set: it fails without an
 * attempt); -2 for a passing failure (err set: an attempt that is retried).
 */
static int
request_build(struct attempt *a, char *err, size_t errsz)
{
	struct delivery *d = a->d;
	struct event *ev = d->event;
	struct endpoint *e = d->endpoint;
	struct buf *b = &a->req;
	const char *tmpl, *secret, *data, *url, *uerr, *payload, *prev = NULL;
	char id[STORE_XID_MAX], sig[SIGN_SIG_MAX], sig2[SIGN_SIG_MAX];
	int64_t prev_until = 0;
	char missing[64];
	size_t dlen, ulen, plen, qlen, qstart;
	int get = 0, templated;
	struct url u;
	int64_t ts;

	if (e != NULL) {
		tmpl = e->url;
		get = e->method_get;
		secret = e->secret;
		prev = e->prev_secret;
		prev_until = e->prev_until;
	} else if (d->url != NULL) {
		/* A one-off is signed with its client's secret. */
		if (ev->client == NULL) {
			snprintf(err, errsz, "client deleted");
			return -1;
		}
		tmpl = d->url;
		secret = ev->client->secret;
		prev = ev->client->prev_secret;
		prev_until = ev->client->prev_until;
	} else {
		snprintf(err, errsz, "endpoint deleted");
		return -1;
	}

	scratch_reset(&scratch_data);
	data = store_event_data(ev, &scratch_data, &dlen);
	if (data == NULL) {
		snprintf(err, errsz, "storage error");
		return -2;
	}

	/* Only templates and GET need the payload's members: a plain POST
	 * sends the bytes as they are, without parsing them again. */
	templated = strchr(tmpl, '{') != NULL;
	if ((get || templated) && (json_scratch_parse(data, dlen) < 1 ||
	    scratch_toks[0].type != JSON_OBJECT)) {
		snprintf(err, errsz, "invalid payload");
		return -1;
	}
	url = tmpl;
	ulen = strlen(tmpl);
	if (templated) {
		int rc;

		scratch_reset(&scratch_url);
		rc = url_expand(&scratch_url, tmpl, ulen, data, scratch_toks,
		    0, missing, sizeof(missing));
		if (rc == -1) {
			snprintf(err, errsz, "template: missing %s", missing);
			return -1;
		}
		if (rc == -3) {
			snprintf(err, errsz, "template: dot segment");
			return -1;
		}
		if (rc != 0) {
			snprintf(err, errsz, "out of memory");
			return -2;
		}
		url = scratch_url.data;
		ulen = scratch_url.len;
	}
	if (url_parse(url, ulen, &u, &uerr) != 0) {
		snprintf(err, errsz, "invalid url");
		return -1;
	}
	payload = data;
	plen = dlen;
	qlen = 0;
	if (get) {
		const char *q = memchr(u.path, '?', u.path_len);

		/* The receiver verifies the query string it gets (contract
		 * §4), so the signed payload is all of it: the URL's own
		 * query, then "&" and the members when there are any. */
		scratch_reset(&scratch_query);
		if (q != NULL)
			buf_append(&scratch_query, q + 1,
			    u.path_len - (size_t)(q + 1 - u.path));
		qstart = scratch_query.len;
		if (q != NULL)
			buf_puts(&scratch_query, "&");
		if (url_query(&scratch_query, data, scratch_toks, 0) != 0 ||
		    scratch_query.oom) {
			snprintf(err, errsz, "out of memory");
			return -2;
		}
		qlen = scratch_query.len - qstart - (q != NULL);
		if (qlen == 0)
			scratch_query.len = qstart;	/* no members: no "&" */
		payload = scratch_query.data != NULL ? scratch_query.data : "";
		plen = scratch_query.len;
	}

	/* Standard Webhooks: the event id on every attempt and endpoint,
	 * this attempt's time, and during a rotation both signatures. */
	store_fmt_id(STORE_EVT, ev->id, id);
	ts = a->at / 1000;
	if (sign_webhook(secret, id, ts, payload, plen, sig) != 0) {
		snprintf(err, errsz, "invalid secret");
		return -1;
	}
	/* Within 24 h of a rotation, the previous secret signs too: the
	 * endpoint's, or for a one-off the client's. */
	sig2[0] = '\0';
	if (prev != NULL && prev[0] != '\0' && a->at < prev_until &&
	    sign_webhook(prev, id, ts, payload, plen, sig2) != 0)
		sig2[0] = '\0';

	scratch_reset(b);
	buf_puts(b, get ? "GET " : "POST ");
	buf_append(b, u.path, u.path_len);
	if (get && qlen > 0) {
		buf_puts(b, memchr(u.path, '?', u.path_len) ? "&" : "?");
		buf_append(b, payload + plen - qlen, qlen);
	}
	buf_puts(b, " HTTP/1.1\r\nHost: ");
	if (u.is_literal && strchr(u.host, ':') != NULL)
		buf_printf(b, "[%s]", u.host);
	else
		buf_puts(b, u.host);
	if (u.port != 80)
		buf_printf(b, ":%u", (unsigned)u.port);
	buf_puts(b, "\r\nUser-Agent: hookd/" HOOKD_VERSION "\r\n");
	if (!get)
		buf_printf(b, "Content-Type: application/json\r\n"
		    "Content-Length: %zu\r\n", dlen);
	buf_printf(b, "webhook-id: %s\r\nwebhook-timestamp: %lld\r\n"
	    "webhook-signature: %s%s%s\r\n", id, (long long)ts, sig,
	    sig2[0] != '\0' ? " " : "", sig2);
	if (ev->type != NULL && http_value_ok(ev->type, strlen(ev->type)))
		buf_printf(b, "hookd-event-type: %s\r\n", ev->type);
	buf_printf(b, "hookd-attempt: %u\r\n", a->number);
	/* Contract §11: which secret signed it; one-offs (the client's
	 * secret) carry none. */
	if (e != NULL) {
		char epid[STORE_XID_MAX];

		store_fmt_id(STORE_EP, e->id, epid);
		buf_printf(b, "hookd-endpoint: %s\r\n", epid);
	}
	if (e != NULL && e->headers != NULL)
		put_extra_headers(b, e->headers);
	buf_append(b, "\r\n", 2);
	if (!get)
		buf_append(b, data, dlen);
	toks_trim();
	if (b->oom) {
		snprintf(err, errsz, "out of memory");
		return -2;
	}
	snprintf(a->host, sizeof(a->host), "%s", u.host);
	a->port = u.port;
	a->literal = u.is_literal;
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Outcomes                                                               */

/* The delay before attempt n + 1 after n attempts (1 <= n <= nretry). */
static int64_t
retry_delay(unsigned n, int64_t retry_after)
{
	double base = (double)config_current()->retry_ms[n - 1];
	int64_t delay = (int64_t)(base * (0.8 + 0.4 * rng_unit()));

	/* Retry-After wins when longer, up to a day (contract §5). */
	if (retry_after > delay)
		delay = retry_after < DELIVER_RETRY_AFTER_MAX_MS ? retry_after :
		    (DELIVER_RETRY_AFTER_MAX_MS > delay ?
		    DELIVER_RETRY_AFTER_MAX_MS : delay);
	return delay;
}

static void
metrics_attempt(enum result r, int64_t ms)
{
	size_t i;

	switch (r) {
	case RES_OK:
		metrics.att_ok++;
		break;
	case RES_REJECT:
		metrics.att_rejected++;
		break;
	case RES_RETRY:
		metrics.att_retry++;
		break;
	case RES_TIMEOUT:
		metrics.att_timeout++;
		break;
	case RES_ERROR:
		metrics.att_error++;
		break;
	}
	/* The exporter makes the buckets cumulative. */
	for (i = 0; i < METRICS_LATENCY_BUCKETS; i++) {
		if (ms <= metrics_bounds[i]) {
			metrics.latency_le[i]++;
			break;
		}
	}
	metrics.latency_count++;
	metrics.latency_sum += (double)ms / 1000.0;
}

/*
 * Record the outcome of attempt number n of d (e: d's endpoint or NULL),
 * started at wall time at and lasting ms. The caller has already detached
 * d from the engine. Applies §5: the new status, the next attempt time, the
 * endpoint's failure clock and disabling.
 */
static void
outcome_record(struct delivery *d, struct endpoint *e, unsigned n,
    int64_t at, int64_t ms, const struct outcome *o)
{
	struct store_attempt sa;
	char xid[STORE_XID_MAX], eq[160];
	int64_t now = util_wall_ms();
	int rc;

	memset(&sa, 0, sizeof(sa));
	sa.at = at;
	sa.status = o->status;
	sa.error = o->error;
	sa.ms = ms;
	sa.body = o->body;
	sa.body_len = o->body_len < STORE_LOG_BODY ? o->body_len :
	    STORE_LOG_BODY;
	sa.ack = o->ack;
	sa.ack_len = o->ack_len;
	if (o->result == RES_OK) {
		sa.new_status = STORE_DELIVERED;
	} else if (o->result == RES_REJECT || n > config_current()->nretry) {
		sa.new_status = STORE_FAILED;
	} else {
		sa.new_status = STORE_PENDING;
		sa.next_at = now + retry_delay(n, o->retry_after);
	}
	metrics_attempt(o->result, ms);
	if (sa.new_status == STORE_DELIVERED)
		metrics.delivered++;
	else if (sa.new_status == STORE_FAILED)
		metrics.failed++;

	store_fmt_id(STORE_DLV, d->id, xid);
	/* " error=..." only when there is one (an HTTP status says it). */
	eq[0] = '\0';
	if (o->error != NULL) {
		memcpy(eq, " error=", 7);
		logq(eq + 7, sizeof(eq) - 7, o->error);
	}
	if (sa.new_status == STORE_DELIVERED)
		log_line("info", "delivered",
		    "delivery=%s status=%d ms=%lld attempt=%u", xid, o->status,
		    (long long)ms, n);
	else if (sa.new_status == STORE_PENDING)
		log_line("info", "retry", "delivery=%s status=%d%s ms=%lld "
		    "attempt=%u next_in_ms=%lld", xid, o->status, eq,
		    (long long)ms, n, (long long)(sa.next_at - now));
	else
		log_line("warn", "failed", "delivery=%s status=%d%s ms=%lld "
		    "attempt=%u", xid, o->status, eq, (long long)ms, n);

	recording = d;
	rc = store_delivery_attempted(d, &sa);
	recording = NULL;
	if (rc != 0) {
		/* Disk full or I/O error. The store keeps the outcome in
		 * memory anyway; at worst a restart repeats the attempt,
		 * which receivers deduplicate on webhook-id. A delivery that
		 * stays pending waits a little longer, so a full disk does
		 * not speed up retries. */
		log_line("error", "store write failed", "delivery=%s error=%s",
		    xid, logq(eq, sizeof(eq), strerror(errno)));
		if (d->status == STORE_PENDING)
			d->next_at = (d->next_at > now ? d->next_at : now) +
			    DELIVER_STORE_BACKOFF_MS;
	}
	/* The store may already have rescheduled it through store_on_due;
	 * engine_due is idempotent. */
	engine_due(d);

	if (e != NULL) {
		store_endpoint_note(e, o->result == RES_OK, now);
		if (o->disable || (e->failing_since != 0 &&
		    now - e->failing_since >= config_current()->disable_after_ms)) {
			store_fmt_id(STORE_EP, e->id, xid);
			log_line("warn", "endpoint disabled", "endpoint=%s "
			    "reason=%s", xid, o->disable ? "gone" : "failing");
			if (store_endpoint_disable(e, "endpoint disabled") != 0)
				log_line("error", "store write failed",
				    "endpoint=%s error=%s", xid,
				    logq(eq, sizeof(eq), strerror(errno)));
		}
	}
}

/* d cannot be delivered at all (template, URL, client gone): it fails
 * without an attempt. d is detached from the engine. */
static void
delivery_fail_now(struct delivery *d, const char *error)
{
	char xid[STORE_XID_MAX], eq[160];
	int64_t now = util_wall_ms();

	int rc;

	store_fmt_id(STORE_DLV, d->id, xid);
	recording = d;
	rc = store_delivery_fail(d, error, now);
	recording = NULL;
	if (rc != 0) {
		log_line("error", "store write failed", "delivery=%s error=%s",
		    xid, logq(eq, sizeof(eq), strerror(errno)));
		/* Still pending in memory: look at it again later. */
		if (d->status == STORE_PENDING) {
			d->next_at = now + DELIVER_STORE_BACKOFF_MS;
			engine_due(d);
			return;
		}
	}
	metrics.failed++;
	log_line("warn", "failed", "delivery=%s error=%s attempt=0", xid,
	    logq(eq, sizeof(eq), error));
}

/* ---------------------------------------------------------------------- */
/* Attempts                                                               */

static struct attempt *
attempt_alloc(void)
{
	struct attempt *a = spare;
	struct buf req, in, whole;

	if (a == NULL)
		return calloc(1, sizeof(*a));
	spare = a->next;
	nspare--;
	req = a->req;
	in = a->in;
	whole = a->whole;
	memset(a, 0, sizeof(*a));
	a->req = req;
	a->in = in;
	a->whole = whole;
	buf_reset(&a->req);
	buf_reset(&a->in);
	buf_reset(&a->whole);
	return a;
}

static void
attempt_free(struct attempt *a)
{
	scratch_reset(&a->req);
	scratch_reset(&a->in);
	scratch_reset(&a->whole);
	if (nspare >= DELIVER_SPARE_ATTEMPTS) {
		buf_free(&a->req);
		buf_free(&a->in);
		buf_free(&a->whole);
		free(a);
		return;
	}
	a->next = spare;
	spare = a;
	nspare++;
}

/* Insert into the in-flight list by deadline: from the tail, where a new
 * attempt belongs unless the timeout was shortened by a reload. */
static void
active_insert(struct attempt *a)
{
	struct attempt *p = act_tail;

	while (p != NULL && p->deadline > a->deadline)
		p = p->prev;
	a->prev = p;
	a->next = p != NULL ? p->next : act_head;
	if (a->next != NULL)
		a->next->prev = a;
	else
		act_tail = a;
	if (p != NULL)
		p->next = a;
	else
		act_head = a;
}

static void
active_unlink(struct attempt *a)
{
	if (a->prev != NULL)
		a->prev->next = a->next;
	else
		act_head = a->next;
	if (a->next != NULL)
		a->next->prev = a->prev;
	else
		act_tail = a->prev;
	a->prev = a->next = NULL;
}

/* Undo everything a in flight holds: its dns wait, its connection (kept
 * when reusable), its place in the list and the counters. */
static void
attempt_detach(struct attempt *a, int reusable)
{
	if (a->dns != NULL)
		dns_unwait(a);
	active_unlink(a);
	if (a->conn != NULL) {
		struct conn *c = a->conn;

		a->conn = NULL;
		c->att = NULL;
		if (reusable)
			conn_park(c);
		else
			conn_close(c);
	}
	inflight_total--;
	if (a->ep != NULL)
		a->ep->inflight--;
	if (a->tn != NULL)
		a->tn->inflight--;
	a->d->inflight = 0;
}

/* Drop a without recording anything: its delivery stays pending (shutdown)
 * or has already been failed by the store (engine_forget). */
static void
attempt_abort(struct attempt *a)
{
	attempt_detach(a, 0);
	attempt_free(a);
}

/* End a with outcome o, then let waiting deliveries use the slot. */
static void
attempt_end(struct attempt *a, struct outcome *o, int reusable)
{
	struct delivery *d = a->d;
	struct endpoint *e = a->ep;
	struct tenant *t = a->tn;
	int64_t ms = util_mono_ms() - a->start;

	attempt_detach(a, reusable);
	outcome_record(d, e, a->number, a->at, ms < 0 ? 0 : ms, o);
	attempt_free(a);
	pull_after(e, t);
}

/* End a with a transport error (no HTTP answer). */
static void
attempt_fail(struct attempt *a, const char *error, enum result r)
{
	struct outcome o;

	memset(&o, 0, sizeof(o));
	o.result = r;
	o.error = error;
	o.retry_after = -1;
	attempt_end(a, &o, 0);
}

static void
attempt_start(struct delivery *d)
{
	struct endpoint *e = d->endpoint;
	struct attempt *a;
	int rc;

	a = attempt_alloc();
	if (a == NULL) {
		struct outcome o;

		memset(&o, 0, sizeof(o));
		o.result = RES_ERROR;
		o.error = "out of memory";
		o.retry_after = -1;
		outcome_record(d, e, (unsigned)d->attempts + 1,
		    util_wall_ms(), 0, &o);
		return;
	}
	a->d = d;
	a->ep = e;
	a->tn = tenant_of(d);
	a->number = (unsigned)d->attempts + 1;
	a->at = util_wall_ms();
	a->start = util_mono_ms();
	a->deadline = a->start + config_current()->timeout_ms;
	a->retry_after = -1;
	d->inflight = 1;
	inflight_total++;
	if (e != NULL)
		e->inflight++;
	if (a->tn != NULL)
		a->tn->inflight++;
	active_insert(a);

	rc = request_build(a, a->error, sizeof(a->error));
	if (rc == -1) {
		struct tenant *t = a->tn;

		attempt_detach(a, 0);
		delivery_fail_now(d, a->error);
		attempt_free(a);
		pull_after(e, t);
		return;
	}
	if (rc != 0) {
		attempt_fail(a, a->error, RES_ERROR);
		return;
	}
	if (a->literal) {
		struct sockaddr_storage ss;

		if (url_host_literal(a->host, &ss) != 0 ||
		    addr_from_sockaddr(&ss, &a->addr[0]) != 0) {
			attempt_fail(a, "invalid url", RES_ERROR);
			return;
		}
		a->naddr = 1;
		attempt_connect(a);
	} else {
		struct dns_entry *en = dns_get(a->host, a->tn, util_mono_ms());

		if (en == NULL) {
			attempt_fail(a, "out of memory", RES_ERROR);
		} else if (en->state == DNS_RESOLVING ||
		    en->state == DNS_QUEUED) {
			a->state = ATT_RESOLVING;
			a->dns = en;
			a->dns_next = en->waiters;
			en->waiters = a;
		} else {
			attempt_resolved(a, en);
		}
	}
}

/* The name of a is resolved (or failed): go on. */
static void
attempt_resolved(struct attempt *a, struct dns_entry *en)
{
	if (en->state != DNS_OK) {
		snprintf(a->error, sizeof(a->error), "%s", en->error);
		attempt_fail(a, a->error, RES_ERROR);
		return;
	}
	a->naddr = en->naddr;
	memcpy(a->addr, en->addr, en->naddr * sizeof(en->addr[0]));
	a->next_addr = 0;
	attempt_connect(a);
}

static void attempt_send(struct attempt *a);
static void attempt_answered(struct attempt *a);

/*
 * Connect a to its next allowed address (contract §8: checked on the
 * address itself, after resolution): an idle pooled connection when there
 * is one, else a new one. When every address is denied, the delivery fails
 * at once; when every allowed one failed to connect, the last error counts.
 */
static void
attempt_connect(struct attempt *a)
{
	while (a->next_addr < a->naddr) {
		struct sockaddr_storage ss;
		socklen_t len;
		struct pool *p;
		int err;

		a->cur_addr = a->next_addr++;
		len = addr_to_sockaddr(&a->addr[a->cur_addr], a->port, &ss);
		if (!url_addr_allowed((const struct sockaddr *)(void *)&ss,
		    config_current()->allow, config_current()->nallow))
			continue;
		a->allowed++;
		p = pool_get(a, &ss, len);
		if (p == NULL) {
			attempt_fail(a, "out of memory", RES_ERROR);
			return;
		}
		/* Idle ones with something unread (it came since the last
		 * poll) are closed, not reused. */
		while (p->idle != NULL && !a->refreshed &&
		    !conn_quiet(p->idle)) {
			p->nconn++;	/* keep p while closing its conn */
			conn_close(p->idle);
			p->nconn--;
		}
		if (p->idle != NULL && !a->refreshed) {
			struct conn *c = p->idle;

			idle_unlink(c);
			c->att = a;
			a->conn = c;
			a->reused = 1;
			attempt_send(a);
			return;
		}
		err = conn_open(a, p);
		if (err == 0)
			return;
		pool_release(p);
		a->last_errno = err;
	}
	if (a->allowed == 0) {
		/* Name the class of the first address and the way out. */
		struct sockaddr_storage ss;

		(void)addr_to_sockaddr(&a->addr[0], a->port, &ss);
		if (a->naddr == 0 || url_denied_error((const struct sockaddr *)
		    (void *)&ss, NULL, config_current()->allow,
		    config_current()->nallow, a->error, sizeof(a->error)) == 0)
			snprintf(a->error, sizeof(a->error),
			    "destination not allowed");
		attempt_fail(a, a->error, RES_REJECT);
	} else {
		enum result r;
		const char *msg = errno_error(a->last_errno, &r);

		attempt_fail(a, msg, r);
	}
}

/* The pooled connection a reused was closed by the receiver before it
 * answered: try once more on a fresh one, in the same attempt. */
static void
attempt_refresh(struct attempt *a)
{
	struct conn *c = a->conn;

	a->conn = NULL;
	conn_close(c);
	a->refreshed = 1;
	a->reused = 0;
	a->req_off = 0;
	a->sent_all = 0;
	buf_reset(&a->in);
	a->scan = 0;
	a->got_bytes = 0;
	a->head_bytes = 0;
	a->interim = 0;
	a->state = ATT_SENDING;
	a->next_addr = a->cur_addr;
	attempt_connect(a);
}

/* A connection or read error on a's connection. */
static void
attempt_io_error(struct attempt *a, int err)
{
	enum result r;
	const char *msg;

	if (a->reused && !a->refreshed && !a->got_bytes) {
		attempt_refresh(a);
		return;
	}
	/* A receiver that answered before taking the whole request resets
	 * the connection when it closes with our bytes unread (RFC 9112
	 * §9.6): an answer read until then, whose body runs to the close,
	 * is whole, and is judged (contract §12). */
	if (a->state == ATT_BODY && a->mode == BODY_CLOSE && !a->sent_all &&
	    (err == ECONNRESET || err == EPIPE)) {
		attempt_answered(a);
		return;
	}
	msg = errno_error(err, &r);
	attempt_fail(a, msg, r);
}

static int attempt_read(struct attempt *a);

/*
 * Write more of a's request. Interim answers that come meanwhile are read
 * and skipped by the caller (conn_cb), and sending goes on; a final answer
 * ends the sending. When the receiver resets the connection as we write
 * (it answered early and closed), what it answered is read before the
 * reset is taken as the outcome.
 */
static void
attempt_send(struct attempt *a)
{
	struct conn *c = a->conn;

	a->state = ATT_SENDING;
	while (a->req_off < a->req.len) {
		ssize_t n = send(c->w.fd, a->req.data + a->req_off,
		    a->req.len - a->req_off, MSG_NOSIGNAL);

		if (n > 0) {
			a->req_off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			/* Also watch for input: a receiver may answer (413)
			 * before taking the whole body. */
			c->w.events = POLLOUT | POLLIN;
			return;
		}
		if (n < 0 && (errno == ECONNRESET || errno == EPIPE) &&
		    !(a->reused && !a->refreshed && !a->got_bytes)) {
			a->state = ATT_HEAD;
			c->w.events = POLLIN;
			(void)attempt_read(a);
			return;
		}
		attempt_io_error(a, n < 0 ? errno : EPIPE);
		return;
	}
	a->sent_all = 1;
	a->state = ATT_HEAD;
	c->w.events = POLLIN;
}

/* A whole response arrived: apply the rules of §5. */
static void
attempt_answered(struct attempt *a)
{
	struct outcome o;
	int s = a->status, reusable;

	memset(&o, 0, sizeof(o));
	o.status = s;
	o.retry_after = a->retry_after;
	o.body = a->body;
	o.body_len = a->body_len;
	if (s >= 200 && s <= 299) {
		o.result = RES_OK;
		/* Only a JSON object counts as an answer. It is not one
		 * when any top-level member "ack" is false (duplicates
		 * too), looked for in all of the body (kept whole when
		 * longer than body[]) at any depth (contract §5, §12).
		 * Otherwise one that fits body[] and parses strictly is
		 * kept as ack, all of its members re-encoded by the
		 * store: the ack kept never says false to a delivery that
		 * counted as delivered. */
		const char *b = a->body;
		size_t bl = a->body_len;
		int f;

		if (a->body_total > a->body_len) {
			b = a->whole.data;
			bl = a->whole.len == a->body_total ? a->whole.len : 0;
		}
		f = bl > 0 ? json_member_false(b, bl, "ack") : JSON_ERR_SYNTAX;
		if (f == 1) {
			o.result = RES_RETRY;
			o.error = "ack false";
		} else if (f == 0 && b == a->body &&
		    json_scratch_parse(b, bl) >= 1) {
			o.ack = a->body + scratch_toks[0].start;
			o.ack_len = scratch_toks[0].len;
		}
		toks_trim();
	} else if (s == 400 || s == 413 || s == 422) {
		o.result = RES_REJECT;
	} else if (s == 410) {
		o.result = RES_REJECT;
		o.disable = 1;
	} else {
		/* 3xx (redirects are never followed), other 4xx, 5xx. */
		o.result = RES_RETRY;
	}
	reusable = a->keep_alive && a->sent_all && a->mode != BODY_CLOSE;
	attempt_end(a, &o, reusable);
}

/* 1 when the body so far may be a JSON object: its first byte that is not
 * JSON whitespace is '{'. */
static int
body_object(const struct attempt *a)
{
	size_t i;

	for (i = 0; i < a->body_len; i++)
		if (a->body[i] != ' ' && a->body[i] != '\t' &&
		    a->body[i] != '\r' && a->body[i] != '\n')
			return a->body[i] == '{';
	return 0;
}

/* Keep the body's first bytes (for the log and the ack) and count the
 * rest; a 2xx JSON object body that outgrows them is kept whole, for the
 * "ack": false check (at most DELIVER_MAX_BODY, checked by the caller).
 * 0, or -1 out of memory. */
static int
body_keep(struct attempt *a, const char *p, size_t n)
{
	size_t room = sizeof(a->body) - a->body_len;

	if (n < room)
		room = n;
	memcpy(a->body + a->body_len, p, room);
	a->body_len += room;
	a->body_total += n;
	if (a->body_total == a->body_len || a->status < 200 ||
	    a->status > 299 || !body_object(a))
		return 0;
	if (a->whole.len == 0 &&
	    buf_append(&a->whole, a->body, a->body_len) != 0)
		return -1;
	return buf_append(&a->whole, p + room, n - room);
}

/* Retry-After as a delay in ms (seconds of any size or an HTTP date in any
 * of its three forms, contract §12), at most the 24 h cap; -1 when absent
 * or not understood, which is then ignored. */
static int64_t
retry_after_ms(const struct http_response *res)
{
	const struct http_header *h;
	int64_t ms;

	h = http_find_header(res->headers, res->num_headers, "Retry-After");
	if (h == NULL || http_retry_after(h->value, h->value_len,
	    util_wall_ms(), DELIVER_RETRY_AFTER_MAX_MS, &ms) != 0)
		return -1;
	return ms;
}

/* Take the parsed head of a's response. 0, or -1 when it is unusable. */
static int
head_accept(struct attempt *a, const struct http_response *res)
{
	a->status = res->status;
	a->keep_alive = res->keep_alive;
	if (res->status == 429 || res->status == 503)
		a->retry_after = retry_after_ms(res);
	if (res->status == 204 || res->status == 304) {
		a->mode = BODY_NONE;
	} else if (res->chunked) {
		a->mode = BODY_CHUNKED;
		memset(&a->chunk, 0, sizeof(a->chunk));
	} else if (res->content_length >= 0) {
		/* Known to exceed the limit: no need to read it first. */
		if (res->content_length > DELIVER_MAX_BODY)
			return -1;
		a->mode = BODY_LENGTH;
		a->remaining = (uint64_t)res->content_length;
	} else {
		a->mode = BODY_CLOSE;
	}
	return 0;
}

/* 1 when the bytes from a->scan on hold the end of a head: a line end
 * followed by an empty line, LF LF or LF CR LF (bare LF line ends are
 * accepted in responses, contract §12). Only then is the head parsed, so a
 * receiver trickling bytes costs a scan of the new ones rather than a
 * parse of everything each time. */
static int
head_complete(struct attempt *a)
{
	const char *p = a->in.data;
	size_t i = a->scan;

	for (; i + 2 <= a->in.len; i++) {
		if (p[i] != '\n')
			continue;
		if (p[i + 1] == '\n')
			return 1;
		if (p[i + 1] == '\r') {
			if (i + 3 > a->in.len)
				break;
			if (p[i + 2] == '\n')
				return 1;
		}
	}
	a->scan = i;
	return 0;
}

/* Body bytes in a->in: consume them. 1 when the attempt ended. */
static int
body_input(struct attempt *a)
{
	char *p = a->in.data;
	size_t n = a->in.len, extra = 0, take;
	int done = 0;

	switch (a->mode) {
	case BODY_NONE:
		extra = n;
		done = 1;
		break;
	case BODY_LENGTH:
		take = (uint64_t)n < a->remaining ? n : (size_t)a->remaining;
		if (body_keep(a, p, take) != 0)
			goto oom;
		a->remaining -= take;
		extra = n - take;
		done = a->remaining == 0;
		break;
	case BODY_CHUNKED:
		if (n > 0) {
			size_t len = n;
			ssize_t r = http_decode_chunked(&a->chunk, p, &len);

			if (r == -1) {
				attempt_fail(a, "bad response", RES_ERROR);
				return 1;
			}
			if (body_keep(a, p, len) != 0)
				goto oom;
			if (r >= 0) {
				done = 1;
				extra = (size_t)r;
			}
		}
		break;
	case BODY_CLOSE:
		if (body_keep(a, p, n) != 0)
			goto oom;
		break;
	}
	buf_reset(&a->in);
	/* As with a Content-Length past the limit, a chunk announced past it
	 * ends the attempt now rather than after a megabyte has trickled. */
	if (a->body_total > DELIVER_MAX_BODY || (a->mode == BODY_CHUNKED &&
	    http_chunked_announced(&a->chunk) >
	    DELIVER_MAX_BODY - a->body_total)) {
		attempt_fail(a, "bad response", RES_ERROR);
		return 1;
	}
	if (done) {
		/* Bytes after the response: the receiver is out of step, so
		 * the connection is not reused. */
		if (extra > 0)
			a->keep_alive = 0;
		attempt_answered(a);
		return 1;
	}
	return 0;
oom:
	attempt_fail(a, "out of memory", RES_ERROR);
	return 1;
}

/* New response bytes in a->in. 1 when the attempt ended. */
static int
response_input(struct attempt *a)
{
	/* While sending too: interim answers are skipped whenever they
	 * come (contract §12). */
	while (a->state == ATT_HEAD || a->state == ATT_SENDING) {
		struct http_limits lim = response_limits;
		int h;

		/* Interim heads count toward the head limit. */
		lim.max_head = DELIVER_MAX_HEAD - a->head_bytes;
		if (!head_complete(a)) {
			if (a->in.len >= lim.max_head) {
				attempt_fail(a, "bad response: head over 64 KiB "
				    "(interim 1xx heads included)", RES_ERROR);
				return 1;
			}
			return 0;
		}
		h = http_parse_response(a->in.data, a->in.len, &lim,
		    &scratch_res);
		/* The head's end is there, so -2 cannot be right either; a
		 * head that ends past the limit is -1. */
		if (h < 0 && a->in.len >= lim.max_head) {
			attempt_fail(a, "bad response: head over 64 KiB "
			    "(interim 1xx heads included)", RES_ERROR);
			return 1;
		}
		if (h <= 0 || scratch_res.status == 101) {
			attempt_fail(a, "bad response", RES_ERROR);
			return 1;
		}
		if (scratch_res.status < 200) {
			/* 100 Continue and other interim answers. */
			if (++a->interim > DELIVER_MAX_INTERIM) {
				attempt_fail(a, "bad response: more than 16 "
				    "interim (1xx) responses", RES_ERROR);
				return 1;
			}
			a->head_bytes += (size_t)h;
			buf_consume(&a->in, (size_t)h);
			a->scan = 0;
			continue;
		}
		if (head_accept(a, &scratch_res) != 0) {
			attempt_fail(a, "bad response", RES_ERROR);
			return 1;
		}
		buf_consume(&a->in, (size_t)h);
		a->state = ATT_BODY;
	}
	return body_input(a);
}

/* The receiver closed the connection. */
static void
attempt_eof(struct attempt *a)
{
	if (a->state == ATT_BODY && a->mode == BODY_CLOSE) {
		attempt_answered(a);
		return;
	}
	if (!a->got_bytes) {
		if (a->reused && !a->refreshed) {
			attempt_refresh(a);
			return;
		}
		attempt_fail(a, "connection closed", RES_ERROR);
		return;
	}
	attempt_fail(a, "bad response", RES_ERROR);
}

/* Read what a's connection has. 1 when a is done with that connection
 * (the attempt ended, or moved to a fresh one), 0 when it waits for more. */
static int
attempt_read(struct attempt *a)
{
	int i;

	for (i = 0; i < DELIVER_READS_PER_EVENT; i++) {
		size_t room;
		ssize_t n;

		if (buf_reserve(&a->in, DELIVER_READ_CHUNK) != 0) {
			attempt_fail(a, "out of memory", RES_ERROR);
			return 1;
		}
		room = a->in.cap - a->in.len - 1;
		n = read(a->conn->w.fd, a->in.data + a->in.len, room);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			attempt_io_error(a, errno);
			return 1;
		}
		if (n == 0) {
			attempt_eof(a);
			return 1;
		}
		a->got_bytes = 1;
		a->in.len += (size_t)n;
		a->in.data[a->in.len] = '\0';
		if (response_input(a))
			return 1;
		/* A short read drained the socket: poll reports what comes
		 * next, which saves a read() that would say EAGAIN. */
		if ((size_t)n < room)
			return 0;
	}
	return 0;
}

/* The loop's callback for every outbound connection. */
static void
conn_cb(struct watch *w, short revents)
{
	struct conn *c = (struct conn *)(void *)w;
	struct attempt *a = c->att;
	int err = 0;
	socklen_t len = sizeof(err);

	if (a == NULL) {
		conn_idle_event(c, revents);
		return;
	}
	switch (a->state) {
	case ATT_CONNECTING:
		if (getsockopt(w->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
			err = errno;
		if (err != 0) {
			/* Try the next allowed address, if any. */
			a->last_errno = err;
			a->conn = NULL;
			conn_close(c);
			attempt_connect(a);
			return;
		}
		attempt_send(a);
		break;
	case ATT_SENDING:
		if (revents & POLLIN) {
			/* Interim answers are skipped and sending goes on;
			 * a final one ends it: the request was cut short,
			 * so the connection is not reused. */
			if (attempt_read(a))
				return;
			if (a->state != ATT_SENDING) {
				w->events = POLLIN;
				return;
			}
		}
		if (revents & (POLLOUT | POLLERR | POLLHUP))
			attempt_send(a);
		break;
	case ATT_HEAD:
	case ATT_BODY:
		(void)attempt_read(a);
		break;
	case ATT_RESOLVING:
		break;
	}
}

/* ---------------------------------------------------------------------- */
/* The interface                                                          */

static void
init_each(struct delivery *d, void *arg)
{
	(void)arg;
	/* Attempts in flight at the last stop are simply due again. */
	d->inflight = 0;
	d->waiting = 0;
	d->wait_next = NULL;
	d->heap_index = 0;
	engine_due(d);
}

int
deliver_init(char *err, size_t errsz)
{
	if (sign_random(&rng_state, sizeof(rng_state)) != 0 || rng_state == 0)
		rng_state = (uint64_t)util_wall_ms() * 2654435761u + 1;
	if (dns_start(err, errsz) != 0) {
		deliver_shutdown();
		return -1;
	}
	dns_next_sweep = util_mono_ms() + DELIVER_DNS_SWEEP_MS;
	store_on_due = engine_due;
	store_on_fail = engine_forget;
	store_foreach_pending(init_each, NULL);
	return 0;
}

void
deliver_drain(void)
{
	draining = 1;
}

int64_t
deliver_tick(void)
{
	int64_t now = util_mono_ms(), wall = util_wall_ms(), next = -1;

	/* Attempts past their deadline. Always take the head again: ending
	 * one may abort others. */
	while (act_head != NULL && act_head->deadline <= now)
		attempt_fail(act_head, "timeout", RES_TIMEOUT);
	while (lru_head != NULL && lru_head->idle_since + DELIVER_IDLE_MS <= now)
		conn_close(lru_head);
	if (now >= dns_next_sweep) {
		dns_sweep(now);
		tenant_sweep(0);
	}

	if (draining)
		goto deadlines;
	/* A reload that raised a cap frees slots no attempt's end reports. */
	if (endpoint_cap() != last_endpoint_cap ||
	    client_cap() != last_client_cap ||
	    outbound_cap() != last_outbound_cap) {
		last_endpoint_cap = endpoint_cap();
		last_client_cap = client_cap();
		last_outbound_cap = outbound_cap();
		sweep_endpoints = 1;
	}
	pulling = 1;
	if (sweep_endpoints) {
		size_t i;

		sweep_endpoints = 0;
		for (i = 0; i < store_endpoint_count(); i++)
			pull_endpoint(store_endpoint_at(i));
		for (i = 0; i < DELIVER_TENANT_BUCKETS; i++) {
			struct tenant *t;

			for (t = tenants[i]; t != NULL; t = t->next)
				pull_client(t);
		}
	}
	pull_global();
	pulling = 0;

	while (heap_len > 0 && heap[1]->next_at <= wall) {
		struct delivery *d = heap[1];

		heap_remove(d);
		if (d->status == STORE_PENDING)
			dispatch(d);
	}

deadlines:
	if (heap_len > 0 && !draining)
		next = now + (heap[1]->next_at > wall ?
		    heap[1]->next_at - wall : 0);
	if (act_head != NULL && (next < 0 || act_head->deadline < next))
		next = act_head->deadline;
	if (lru_head != NULL && (next < 0 ||
	    lru_head->idle_since + DELIVER_IDLE_MS < next))
		next = lru_head->idle_since + DELIVER_IDLE_MS;
	return next;
}

void
deliver_now(struct delivery *d)
{
	if (d->status != STORE_PENDING || d->inflight || d->waiting)
		return;
	if (d->heap_index != 0)
		heap_remove(d);
	dispatch(d);
}

void
deliver_endpoint_enabled(struct endpoint *e)
{
	pull_after(e, NULL);
}

size_t
deliver_inflight(void)
{
	return inflight_total;
}

void
deliver_shutdown(void)
{
	size_t i;
	struct delivery *d;

	store_on_due = NULL;
	store_on_fail = NULL;
	/* In-flight deliveries stay pending: due again at the next start. */
	while (act_head != NULL)
		attempt_abort(act_head);
	while (lru_head != NULL)
		conn_close(lru_head);
	while ((d = wait_pop(&gwait_head, &gwait_tail)) != NULL)
		;
	for (i = 0; i < store_endpoint_count(); i++) {
		struct endpoint *e = store_endpoint_at(i);

		while ((d = wait_pop(&e->wait_head, &e->wait_tail)) != NULL)
			;
		e->inflight = 0;
	}
	for (i = 0; i < DELIVER_TENANT_BUCKETS; i++) {
		struct tenant *t;

		for (t = tenants[i]; t != NULL; t = t->next)
			while ((d = wait_pop(&t->wait_head, &t->wait_tail)) !=
			    NULL)
				;
	}
	for (i = 1; i <= heap_len; i++)
		heap[i]->heap_index = 0;
	free(heap);
	heap = NULL;
	heap_len = heap_cap = 0;
	dns_stop();
	tenant_sweep(1);
	while (spare != NULL) {
		struct attempt *a = spare;

		spare = a->next;
		buf_free(&a->req);
		buf_free(&a->in);
		buf_free(&a->whole);
		free(a);
	}
	nspare = 0;
	buf_free(&scratch_data);
	buf_free(&scratch_url);
	buf_free(&scratch_query);
	buf_free(&scratch_str);
	free(scratch_toks);
	scratch_toks = NULL;
	scratch_ntoks = 0;
	inflight_total = 0;
	sweep_endpoints = 0;
	pulling = 0;
}
