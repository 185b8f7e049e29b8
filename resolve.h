/*
 * resolve: name resolution that never blocks the loop: the resolver
 * threads, the cache of their answers, the per-client lookup cap (contract
 * §18) and the HOOKD_FAULT dns_slow test fault. Answers are reported to
 * whoever waits through the callback of its struct resolve_wait.
 */
#ifndef HOOKD_RESOLVE_H
#define HOOKD_RESOLVE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "store.h"
#include "url.h"

enum resolve_state {
	RESOLVE_QUEUED,			/* in its owner's queue, not yet asked */
	RESOLVE_RESOLVING,		/* with the resolver threads */
	RESOLVE_OK,
	RESOLVE_FAILED
};

struct resolve_wait;

/* A cached name, or one being resolved with someone waiting for it. Owned
 * by this module; valid until the next loop pass. */
struct resolve_entry {
	struct resolve_entry *next;	/* hash chain */
	char host[URL_HOST_MAX];
	enum resolve_state state;
	int64_t expires;		/* monotonic ms */
	char error[96];			/* "dns: ..." when failed */
	size_t naddr;
	struct url_addr addr[URL_MAX_ADDRS];
	struct resolve_wait *waiters;	/* through resolve_wait.next */
	/* The client whose lookup asked for it while queued or resolving
	 * ("" when none): its lookup slot is taken until the answer. An id,
	 * not a pointer, since a lookup outlives a deleted client. */
	char owner[UTIL_ID_MAX + 1];
	struct resolve_entry *qnext;	/* in the owner's queue */
	/* A registration waits for the answer (resolve_host_addrs): it is
	 * looked up even when no attempt waits, and its answer runs the
	 * hook of resolve_on_lookup. Cleared when answered. */
	int asked;
};

/* One waiter for a name, embedded in the waiter's own state. cb runs on
 * the loop thread once the name is answered or failed (w is then no longer
 * waiting); it may end other waiters, which unlink themselves. */
struct resolve_wait {
	struct resolve_wait *next;
	struct resolve_entry *en;	/* the name waited for, or NULL */
	void (*cb)(struct resolve_wait *w, struct resolve_entry *en);
};

/* Start the resolver threads and watch their answers. 0, or -1 with err
 * set (resolve_stop then undoes what was started). */
int resolve_start(char *err, size_t errsz);

/* Stop the threads (waiting at most 1 s for one stuck in a lookup) and
 * forget the cache. */
void resolve_stop(void);

/*
 * The entry for host, asked for by client (its id; "" or NULL: none): fresh
 * from the cache (RESOLVE_OK or RESOLVE_FAILED), or being resolved, or
 * queued behind the client's own lookups when it has two with the threads
 * already (contract §18). NULL when out of memory. now: monotonic ms.
 */
struct resolve_entry *resolve_get(const char *host, const char *client,
    int64_t now);

/* Have w's callback run when en (queued or resolving) is answered. */
void resolve_wait_on(struct resolve_entry *en, struct resolve_wait *w);

/* w no longer waits (safe when it does not). */
void resolve_unwait(struct resolve_wait *w);

/* Sweep expired names and idle client states every 10 s (now: monotonic
 * ms). Returns 1 when it swept. */
int resolve_tick(int64_t now);

/*
 * Contract §11: what the resolver says of host now (deliver_host_addrs
 * documents it). 0 with the cached addresses in ss[0..*n) (ports 0); or 1
 * when the lookup is under way. Never blocks.
 */
int resolve_host_addrs(const char *host, const char *client,
    struct sockaddr_storage *ss, size_t max, size_t *n);

/* Have fn called after lookups that resolve_host_addrs was asked about
 * have ended (NULL: none), once per read of answers, on the loop thread. */
void resolve_on_lookup(void (*fn)(void));

#endif
