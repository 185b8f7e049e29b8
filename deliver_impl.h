/*
 * deliver_impl: private to the delivery engine (deliver.c and
 * deliver_queue.c): the due queue (a timer heap of pending deliveries by
 * next_at), the wait lists of deliveries held back by a slot limit, and the
 * engine's state per client. No other module includes this header.
 */
#ifndef HOOKD_DELIVER_IMPL_H
#define HOOKD_DELIVER_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* Values of delivery.waiting: which list it is on. */
#define WAIT_ENDPOINT 1
#define WAIT_GLOBAL 2
#define WAIT_CLIENT 3

/*
 * The engine's state for one client, by id: its attempts in flight
 * (against max_inflight_per_client) and the deliveries waiting for one of
 * its slots. Kept by id rather than in struct client, as the event keeps
 * its client's id once the client is deleted. Idle ones are freed by the
 * periodic sweep, never while a loop over them may run. (The client's
 * lookups are resolve's.)
 */
struct tenant {
	struct util_client c;		/* first: the table's entry, by id */
	uint32_t inflight;		/* attempts in flight */
	struct delivery *wait_head;	/* due, held by the client's cap */
	struct delivery *wait_tail;
};

/* The due queue, the global wait list and the clients' states; part of the
 * engine's one struct, zero-initialised. */
struct deliver_queue {
	/* The timer heap, heap[1..heap_len]; d->heap_index is d's slot. */
	struct delivery **heap;
	size_t heap_len, heap_cap;
	/* Deliveries held by max_outbound. */
	struct delivery *gwait_head, *gwait_tail;
	struct util_clients tenants;
};

/* Add d to the heap by its next_at (earlier first, ties by id). 0, or -1
 * out of memory (d not added). */
int deliver_heap_push(struct deliver_queue *q, struct delivery *d);

/* Take d out of the heap (safe when it is not in it); the array shrinks
 * after a large backlog has drained. */
void deliver_heap_remove(struct deliver_queue *q, struct delivery *d);

/* d, in the heap, has a new next_at: move it to its place. */
void deliver_heap_fix(struct deliver_queue *q, struct delivery *d);

/* Append d to a wait list: its endpoint's (WAIT_ENDPOINT), its client's
 * (WAIT_CLIENT, t) or the global one (WAIT_GLOBAL). */
void deliver_wait_push(struct deliver_queue *q, struct delivery *d,
    uint8_t which, struct tenant *t);

/* The first delivery of the list head..tail, taken off it; NULL when
 * empty. */
struct delivery *deliver_wait_pop(struct delivery **head,
    struct delivery **tail);

/* Take d off whichever wait list holds it, in O(1) (doubly linked). */
void deliver_wait_unlink(struct deliver_queue *q, struct delivery *d);

/* The engine's state of client id; created when create is set. NULL when
 * there is none, or no memory (the client is then not capped, which errs on
 * delivering). */
struct tenant *deliver_tenant_get(struct deliver_queue *q, const char *id,
    int create);

/* Free the client states that hold nothing; all of them when all is set
 * (stop). */
void deliver_tenant_sweep(struct deliver_queue *q, int all);

/* The client state after t (the first when t is NULL), in no particular
 * order; NULL after the last. The sweep must not run while walking. */
struct tenant *deliver_tenant_next(struct deliver_queue *q, struct tenant *t);

#endif
