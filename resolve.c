/*
 * resolve: the resolver threads, the cache of their answers and each
 * client's lookup slots (contract §18), and the HOOKD_FAULT dns_slow fault.
 *
 * Name resolution never blocks the loop: resolver threads (RESOLVE_THREADS
 * at the start, more while every one is busy, up to RESOLVE_THREADS_MAX)
 * read lookup requests from one pipe (one whole record each, under
 * a lock), call getaddrinfo, and write answers to a second pipe that the
 * loop watches. Requests and answers are fixed-size records copied by value
 * (smaller than PIPE_BUF, so each write is atomic); the only pointer
 * crossing is an opaque cookie the threads never dereference, so they share
 * no memory with the loop beyond the read lock and the exit flags of the
 * stop. Answers are cached per host (30 s, failures 5 s). A client has at
 * most RESOLVE_PER_CLIENT lookups with the threads; its further names wait
 * in its own queue (struct dns_client), so one client's slow names hold at
 * most that many threads, and the others' lookups get threads of their
 * own. Closing the request pipe is the stop request; a
 * thread stuck in a lookup is not waited for past RESOLVE_STOP_MS. The API
 * asks the same cache when a URL is registered (resolve_host_addrs,
 * contract §11); such a name is looked up even with nobody waiting, and its
 * answer runs the hook of resolve_on_lookup.
 */
#include "resolve.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"
#include "util.h"

/* Answers are cached this long: a burst to one host costs one lookup, and a
 * changed record is still picked up within half a minute. */
#define RESOLVE_TTL_MS	30000
/* Failures are remembered briefly: a dead name does not queue a lookup per
 * delivery, and recovers quickly. */
#define RESOLVE_NEG_TTL_MS	5000
/* Beyond this many cached names an answer serves its waiters and is
 * dropped: bounds memory when callback hosts are many. */
#define RESOLVE_CACHE_MAX	4096
/* How often expired names are swept out. */
#define RESOLVE_SWEEP_MS	10000
#define RESOLVE_BUCKETS	512
/*
 * Resolver threads. getaddrinfo cannot be interrupted and may take its
 * resolver's full timeout (glibc: 5 s per try and server, often 10-30 s in
 * all) for a name whose DNS server does not answer, so with one thread one
 * slow name held every lookup queued behind it. RESOLVE_THREADS start with
 * hookd; lookups are cached, so they are enough while names answer. A
 * client gets at most RESOLVE_PER_CLIENT lookups with the threads at once
 * (the rest of its names wait in its own queue), so one client with many
 * slow names holds at most two threads. When every thread is busy and a
 * lookup waits for one, another thread starts, up to RESOLVE_THREADS_MAX:
 * with a fixed eight, four clients with names that never answer held every
 * thread and stopped all other lookups (contract §18); now it takes more
 * than RESOLVE_THREADS_MAX / RESOLVE_PER_CLIENT such clients at once. The
 * maximum bounds what those clients can cost (a thread's stack is reserved
 * but hardly touched); threads started stay, idle, until the stop.
 */
#define RESOLVE_THREADS	8
#define RESOLVE_THREADS_MAX	64
#define RESOLVE_PER_CLIENT	2
/* At stop, how long to wait for the resolver threads to leave. A thread
 * stuck in a lookup that never ends is then left behind (the process is
 * exiting), so a hanging name cannot hang a shutdown. */
#define RESOLVE_STOP_MS	1000

/* The records crossing the resolver pipes, copied by value. */
struct dns_req {
	void *cookie;			/* the dns_entry; never dereferenced */
	char host[URL_HOST_MAX];
};

struct dns_res {
	void *cookie;
	int gai;			/* getaddrinfo's result */
	size_t naddr;
	struct url_addr addr[URL_MAX_ADDRS];
};

/* POSIX promises atomic pipe writes up to _POSIX_PIPE_BUF bytes: each record
 * arrives whole, and the two threads never see half a message. */
_Static_assert(sizeof(struct dns_req) <= _POSIX_PIPE_BUF, "dns_req size");
_Static_assert(sizeof(struct dns_res) <= _POSIX_PIPE_BUF, "dns_res size");

/* A client's lookups, by id: those with the threads (against
 * RESOLVE_PER_CLIENT) and those queued. Idle ones are freed by the
 * periodic sweep. */
struct dns_client {
	struct util_client c;		/* first: the table's entry, by id */
	uint32_t dns_inflight;		/* lookups with the threads */
	struct resolve_entry *dns_head;	/* lookups waiting for a slot */
	struct resolve_entry *dns_tail;
};

static struct util_clients clients;
static struct resolve_entry *dns_table[RESOLVE_BUCKETS];
static size_t dns_count;
static int64_t dns_next_sweep;
static int dns_req_fd = -1;		/* the loop's end of the request pipe */
static struct watch dns_watch = { .fd = -1 };	/* the answer pipe */
static pthread_t dns_threads[RESOLVE_THREADS_MAX];
static size_t dns_nthreads;		/* started */
/* Lookups written to the request pipe and not yet answered: those with a
 * thread and those waiting in the pipe for one. */
static size_t dns_busy;
/* The threads' ends of the pipes, shared by all of them; set before the
 * first starts, closed at stop once every thread has left. */
static int dns_thread_in = -1, dns_thread_out = -1;
/* Each thread reads a whole request under this lock: with several readers
 * on one pipe, POSIX makes writes of a record atomic but not reads. */
static pthread_mutex_t dns_read_lock = PTHREAD_MUTEX_INITIALIZER;
/* Which threads have left, for the bounded wait at stop. */
static pthread_mutex_t dns_exit_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t dns_exit_cond = PTHREAD_COND_INITIALIZER;
static int dns_exited[RESOLVE_THREADS_MAX];
/* Run on the loop thread after an answer to a name a registration asked
 * for (resolve_on_lookup); dns_hook_due says one came in this read. */
static void (*dns_hook)(void);
static int dns_hook_due;
/* HOOKD_FAULT dns_slow=SUFFIX: set before the threads start, read-only
 * after ("" when not set). */
static char dns_fault_slow[URL_HOST_MAX];


/* The client state of id; created when create is set. NULL when there is
 * none, or no memory (the client's lookups are then not capped, which errs
 * on delivering). */
static struct dns_client *
dns_client_get(const char *id, int create)
{
	return (struct dns_client *)(void *)util_clients_get(&clients, id,
	    create ? sizeof(struct dns_client) : 0);
}

/* 1 when the state of c holds nothing: no lookup with the threads or
 * waiting. */
static int
dns_client_idle(const struct util_client *c)
{
	const struct dns_client *t = (const struct dns_client *)(const void *)c;

	return t->dns_inflight == 0 && t->dns_head == NULL;
}

/* Free the states that hold nothing; all of them when all is set (stop). */
static void
dns_client_sweep(int all)
{
	util_clients_sweep(&clients, all ? NULL : dns_client_idle);
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
		    r.naddr < URL_MAX_ADDRS; ai = ai->ai_next) {
			struct sockaddr_storage ss;

			if (ai->ai_addrlen > sizeof(ss))
				continue;
			memset(&ss, 0, sizeof(ss));
			memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
			if (url_addr_from_sockaddr(&ss, &r.addr[r.naddr]) == 0)
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

/*
 * Start one more resolver thread, with every signal blocked in it, so that
 * the loop thread is the one whose poll a signal interrupts, and a write to
 * a closed pipe fails with EPIPE instead of killing the process. 0, or the
 * error number of pthread_create (nothing started).
 */
static int
dns_thread_add(void)
{
	sigset_t all, old;
	size_t i = dns_nthreads;
	int rc;

	if (i >= RESOLVE_THREADS_MAX)
		return EAGAIN;
	pthread_mutex_lock(&dns_exit_lock);
	dns_exited[i] = 0;
	pthread_mutex_unlock(&dns_exit_lock);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&dns_threads[i], NULL, dns_main,
	    (void *)(uintptr_t)i);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc == 0)
		dns_nthreads++;
	return rc;
}

static struct resolve_entry **
dns_slot(const char *host)
{
	uint32_t h = util_hash(UTIL_HASH_START, host, strlen(host));

	return &dns_table[h % RESOLVE_BUCKETS];
}

static void
dns_entry_fail(struct resolve_entry *en, const char *reason, int64_t ttl)
{
	en->state = RESOLVE_FAILED;
	en->naddr = 0;
	en->expires = util_mono_ms() + ttl;
	snprintf(en->error, sizeof(en->error), "dns: %s", reason);
}

/* Hand en's name to the resolver threads for client t (may be NULL),
 * whose lookup slot it takes until the answer. */
static void
dns_send(struct resolve_entry *en, struct dns_client *t)
{
	struct dns_req q;
	ssize_t n;

	en->state = RESOLVE_RESOLVING;
	en->naddr = 0;
	en->qnext = NULL;
	snprintf(en->owner, sizeof(en->owner), "%s", t != NULL ? t->c.id : "");
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
	/* Every thread busy: this lookup would wait in the pipe behind
	 * lookups that may never end, so another thread takes it. When none
	 * can start, it waits for the first thread that frees. */
	if (++dns_busy > dns_nthreads && dns_nthreads < RESOLVE_THREADS_MAX)
		(void)dns_thread_add();
}

/* Take the queued en out of its owner's queue. */
static void
dns_dequeue(struct resolve_entry *en)
{
	struct dns_client *t = dns_client_get(en->owner, 0);
	struct resolve_entry **pp, *prev = NULL;

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
 * RESOLVE_PER_CLIENT with the threads already. NULL when out of memory.
 */
static struct resolve_entry *
dns_get(const char *host, struct dns_client *t, int64_t now)
{
	struct resolve_entry **slot = dns_slot(host), *en;

	for (en = *slot; en != NULL; en = en->next)
		if (strcmp(en->host, host) == 0)
			break;
	if (en != NULL && en->state == RESOLVE_RESOLVING)
		return en;
	if (en != NULL && en->state == RESOLVE_QUEUED) {
		/* Queued behind another client's lookups: a client with a
		 * slot free takes it over, so that no client can hold a name
		 * others need behind its own slow ones. */
		if (t != NULL && strcmp(en->owner, t->c.id) != 0 &&
		    t->dns_inflight < RESOLVE_PER_CLIENT) {
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
	if (t != NULL && t->dns_inflight >= RESOLVE_PER_CLIENT) {
		en->state = RESOLVE_QUEUED;
		en->naddr = 0;
		en->qnext = NULL;
		snprintf(en->owner, sizeof(en->owner), "%s", t->c.id);
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
dns_free_entry(struct resolve_entry *en)
{
	struct resolve_entry **pp = dns_slot(en->host);

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

	for (i = 0; i < RESOLVE_BUCKETS; i++) {
		struct resolve_entry **pp = &dns_table[i];

		while (*pp != NULL) {
			struct resolve_entry *en = *pp;

			if ((en->state == RESOLVE_OK || en->state == RESOLVE_FAILED) &&
			    en->expires <= now) {
				*pp = en->next;
				free(en);
				dns_count--;
			} else {
				pp = &en->next;
			}
		}
	}
	dns_next_sweep = now + RESOLVE_SWEEP_MS;
}

struct resolve_entry *
resolve_get(const char *host, const char *client, int64_t now)
{
	return dns_get(host, dns_client_get(client, 1), now);
}

int
resolve_tick(int64_t now)
{
	if (now < dns_next_sweep)
		return 0;
	dns_sweep(now);
	dns_client_sweep(0);
	return 1;
}

void
resolve_wait_on(struct resolve_entry *en, struct resolve_wait *w)
{
	w->en = en;
	w->next = en->waiters;
	en->waiters = w;
}

void
resolve_unwait(struct resolve_wait *w)
{
	struct resolve_wait **pp;

	if (w->en == NULL)
		return;
	pp = &w->en->waiters;
	while (*pp != NULL && *pp != w)
		pp = &(*pp)->next;
	if (*pp == w)
		*pp = w->next;
	w->en = NULL;
	w->next = NULL;
}

/* en is answered (or failed): the attempts waiting for it go on. */
static void
dns_wake(struct resolve_entry *en)
{
	struct resolve_wait *w;

	if (en->asked) {
		en->asked = 0;
		dns_hook_due = 1;
	}
	/* Take waiters one at a time from the entry itself: an attempt that
	 * ends here may abort others (a 410 disables their endpoint), and
	 * those unlink themselves from this same list. */
	while ((w = en->waiters) != NULL) {
		en->waiters = w->next;
		w->en = NULL;
		w->next = NULL;
		w->cb(w, en);
	}
}

/* Send t's queued lookups while it has slots free. A queued name nobody
 * waits for any more (its attempts timed out, and no registration asked
 * for it) is dropped, not looked up. */
static void
dns_pump(struct dns_client *t)
{
	while (t->dns_head != NULL &&
	    t->dns_inflight < RESOLVE_PER_CLIENT) {
		struct resolve_entry *en = t->dns_head;

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
		if (en->state == RESOLVE_FAILED)
			dns_wake(en);
	}
}

static void
dns_answer(const struct dns_res *r)
{
	struct resolve_entry *en = r->cookie;
	struct dns_client *t = dns_client_get(en->owner, 0);

	en->owner[0] = '\0';
	if (t != NULL && t->dns_inflight > 0)
		t->dns_inflight--;
	if (dns_busy > 0)
		dns_busy--;
	if (r->gai != 0) {
		dns_entry_fail(en, gai_strerror(r->gai), RESOLVE_NEG_TTL_MS);
	} else if (r->naddr == 0) {
		dns_entry_fail(en, "no address", RESOLVE_NEG_TTL_MS);
	} else {
		en->state = RESOLVE_OK;
		en->naddr = r->naddr;
		memcpy(en->addr, r->addr, r->naddr * sizeof(r->addr[0]));
		en->expires = util_mono_ms() + RESOLVE_TTL_MS;
	}
	/* The client's next queued name first, then the waiters (whose new
	 * attempts queue behind it). */
	if (t != NULL)
		dns_pump(t);
	dns_wake(en);
	if (dns_count > RESOLVE_CACHE_MAX)
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
resolve_on_lookup(void (*fn)(void))
{
	dns_hook = fn;
}

int
resolve_host_addrs(const char *host, const char *client,
    struct sockaddr_storage *ss, size_t max, size_t *n)
{
	struct dns_client *t = dns_client_get(client, 1);
	struct resolve_entry *en;
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
	if (en->state == RESOLVE_QUEUED || en->state == RESOLVE_RESOLVING) {
		en->asked = 1;
		return 1;
	}
	for (i = 0; i < en->naddr && i < max; i++)
		(void)url_addr_to_sockaddr(&en->addr[i], 0, &ss[i]);
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

/* Start the first RESOLVE_THREADS resolver threads (dns_thread_add). On
 * failure, resolve_stop stops the threads already started. */
int
resolve_start(char *err, size_t errsz)
{
	int req[2] = { -1, -1 }, res[2] = { -1, -1 };
	size_t i;
	int rc = 0;

	dns_fault_init();
	if (pipe(req) != 0 || pipe(res) != 0) {
		snprintf(err, errsz, "resolver pipe: %s", strerror(errno));
		goto fail;
	}
	if (util_fd_cloexec(req[0]) != 0 || util_fd_cloexec(req[1]) != 0 ||
	    util_fd_cloexec(res[0]) != 0 || util_fd_cloexec(res[1]) != 0 ||
	    util_fd_nonblock(req[1]) != 0 || util_fd_nonblock(res[0]) != 0) {
		snprintf(err, errsz, "resolver pipe: %s", strerror(errno));
		goto fail;
	}
	/* From here on req[0] and res[1] belong to the threads, the other
	 * ends to the loop; resolve_stop closes them all. */
	dns_thread_in = req[0];
	dns_thread_out = res[1];
	dns_req_fd = req[1];
	memset(&dns_watch, 0, sizeof(dns_watch));
	dns_watch.fd = res[0];
	dns_watch.events = POLLIN;
	dns_watch.cb = dns_cb;
	dns_busy = 0;
	for (i = 0; i < RESOLVE_THREADS && rc == 0; i++)
		rc = dns_thread_add();
	if (rc != 0) {
		snprintf(err, errsz, "resolver thread: %s", strerror(rc));
		return -1;
	}
	if (loop_watch_add(&dns_watch) != 0) {
		snprintf(err, errsz, "resolver watch: out of memory");
		return -1;
	}
	dns_next_sweep = util_mono_ms() + RESOLVE_SWEEP_MS;
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
 * RESOLVE_STOP_MS for them. A thread still in a lookup then is left to
 * the process's exit (getaddrinfo cannot be interrupted): a name that never
 * answers cannot hang a stop. The threads' pipe ends stay open for such a
 * thread; nothing else it touches is freed.
 */
void
resolve_stop(void)
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
		until.tv_sec += RESOLVE_STOP_MS / 1000;
		until.tv_nsec += (RESOLVE_STOP_MS % 1000) * 1000000L;
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
	dns_busy = 0;
	if (left == 0 && dns_thread_in >= 0) {
		close(dns_thread_in);
		close(dns_thread_out);
	}
	dns_thread_in = dns_thread_out = -1;
	for (i = 0; i < RESOLVE_BUCKETS; i++) {
		while (dns_table[i] != NULL) {
			struct resolve_entry *en = dns_table[i];

			dns_table[i] = en->next;
			free(en);
		}
	}
	dns_count = 0;
	dns_client_sweep(1);
}
