/*
 * deliver: the delivery engine: the timer heap of pending deliveries, the
 * outbound HTTP/1.1 client with its keep-alive pools, the resolver thread,
 * the destination checks, signing, and the outcome rules of contract §5.
 */
#ifndef HOOKD_DELIVER_H
#define HOOKD_DELIVER_H

#include <stddef.h>
#include <stdint.h>

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

/* An endpoint was enabled again (PATCH): its held deliveries may go. */
void deliver_endpoint_enabled(struct endpoint *e);

/* Start no new attempts (SIGTERM): those in flight may finish; the rest
 * stay pending on disk for the next start. */
void deliver_drain(void);

/* Attempts in flight now (for draining and /metrics). */
size_t deliver_inflight(void);

/* Stop: close every outbound connection (attempts in flight stay pending
 * and are made again after the next start) and the resolver thread. */
void deliver_shutdown(void);

#endif
