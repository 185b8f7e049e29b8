/*
 * deliver: the delivery engine: the timer heap of pending deliveries, the
 * slots per endpoint, per client and in all, the outcome of each attempt
 * (contract §5, §12), the retry schedule and disabling. Requests are built
 * by webhook, sent by outbound, and names looked up by resolve.
 */
#ifndef HOOKD_DELIVER_H
#define HOOKD_DELIVER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "store.h"

/* Start the engine: the resolver thread, the store hooks, and every pending
 * delivery of the store scheduled. 0, or -1 with err set. */
int deliver_init(char *err, size_t errsz);

/*
 * Advance: start the attempts that are due (within endpoint_concurrency and
 * max_outbound), end those past their deadline. Called once per loop pass.
 * Returns the monotonic ms of the next deadline, or -1 when none.
 */
int64_t deliver_tick(void);

/* Attempt d as soon as possible (POST /v1/deliveries/{id}/retry). */
void deliver_now(struct delivery *d);

/* When d is next attempted, as GET shows it (next_attempt_at): epoch ms,
 * 0 when it is not pending. Its next_at, or, while it waits on its
 * endpoint for a rate_limit token, the time of the endpoint's next token
 * (one further back in line goes at a later one). */
int64_t deliver_next_attempt(const struct delivery *d);

/* An endpoint was enabled again (PATCH): its held deliveries may go. */
void deliver_endpoint_enabled(struct endpoint *e);

/* An endpoint's delivery policy (contract §15) may have changed (PATCH,
 * a reload's endpoint line): a rate_limit or ordering now in force takes
 * the deliveries it holds or frees into account. */
void deliver_endpoint_changed(struct endpoint *e);

/* Start no new attempts (SIGTERM): those in flight may finish; the rest
 * stay pending on disk for the next start. */
void deliver_drain(void);

/* Attempts in flight now (for draining and /metrics). */
size_t deliver_inflight(void);

/*
 * Contract §11: what the resolver says of host now, for the check at
 * registration (the connect-time check of §8 stays the guard). Returns 0
 * with the cached addresses copied to ss[0..*n) (at most max, ports 0;
 * *n is 0 when the name did not resolve, or could not be asked about);
 * or 1 when the lookup is under way (started now when needed, on the
 * resolver threads, within client's lookup slots; client may be NULL):
 * the hook of deliver_on_lookup runs when it ends, and a call then finds
 * the answer cached. Never blocks.
 */
int deliver_host_addrs(const char *host, const char *client,
    struct sockaddr_storage *ss, size_t max, size_t *n);

/* Have fn called after lookups that deliver_host_addrs was asked about
 * have ended (NULL: none). It runs on the loop thread inside the resolver's
 * poll callback, so it should only take note, and act after the pass's
 * callbacks. */
void deliver_on_lookup(void (*fn)(void));

/* Stop: close every outbound connection (attempts in flight stay pending
 * and are made again after the next start) and the resolver thread. */
void deliver_shutdown(void);

#endif
