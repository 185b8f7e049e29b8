/*
 * deliver_impl: private to the delivery engine (deliver.c,
 * deliver_attempt.c and deliver_queue.c): the due queue (a timer heap of
 * pending deliveries by next_at), the wait lists of deliveries held back by
 * a slot limit, the engine's state per client, the engine's one state and
 * its attempts in flight. No other module includes this header.
 */
#ifndef HOOKD_DELIVER_IMPL_H
#define HOOKD_DELIVER_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "outbound.h"
#include "resolve.h"
#include "store.h"
#include "util.h"
#include "webhook.h"

/* Values of delivery.waiting: which list it is on. */
#define WAIT_ENDPOINT 1
#define WAIT_GLOBAL 2
#define WAIT_CLIENT 3
/* Parked behind its fifo endpoint's fifo_cur (contract §15), in id order on
 * endpoint.park_head; not due until it is the first. */
#define WAIT_PARKED 4

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

/* ---------------------------------------------------------------------- */
/* The engine and its attempts (deliver.c, deliver_attempt.c)             */

/* One attempt in flight. */
struct attempt {
	struct attempt *prev, *next;	/* in-flight list, by deadline */
	struct resolve_wait rw;		/* waiting for its name */
	struct delivery *d;
	struct endpoint *ep;		/* d's endpoint at the start, or NULL */
	struct tenant *tn;		/* d's client's state, or NULL */
	unsigned number;		/* 1 for a delivery's first attempt */
	int64_t at;			/* wall ms when it started */
	int64_t start, deadline;	/* monotonic ms */
	int literal;			/* the host is an IP literal */
	struct out_exchange x;		/* the request and its response */
	char error[128];
};

/* What an attempt came to, as the store records it. */
struct outcome {
	enum webhook_result result;
	int status;			/* HTTP status, 0 when none */
	const char *error;		/* NULL when none */
	int disable;			/* 410: disable the endpoint */
	int64_t retry_after;		/* ms, -1 when none */
	const char *body;
	size_t body_len;
	const char *ack;
	size_t ack_len;
	/* A gateway request's upstream answer (contract §14): all of its
	 * body and its Content-Type. */
	const char *whole;
	size_t whole_len;
	const char *ctype;
};

/* The engine's state: one instance, on the loop thread only. */
struct engine {
	/* Set by deliver_drain: no new attempts start. */
	int draining;
	/* The timer heap, the global wait list and the clients' states. */
	struct deliver_queue q;
	/* Attempts in flight, soonest deadline first. */
	struct attempt *act_head, *act_tail;
	size_t inflight_total;
	struct attempt *spare;		/* through next */
	size_t nspare;
	/* Set when a slot was freed where no pull could follow (an abort):
	 * the next tick looks at every endpoint's wait list. */
	int sweep_endpoints;
	/* Set while the wait lists are being pulled: attempts ending
	 * meanwhile do not pull again (no recursion through synchronous
	 * failures). */
	int pulling;
	/* Delivery policy (contract §15): the endpoints whose next token is
	 * awaited by a delivery (endpoint.rl_held, through rl_next). */
	struct endpoint *rl_head;
	/* The delivery whose outcome is being written to the store now. */
	struct delivery *recording;
	/* Gateway requests' upstream calls that a client's deletion failed
	 * (engine_forget): completed as TYPE.failed at the next tick, outside
	 * the store call that failed them. */
	struct delivery **cancelled;
	size_t ncancelled, cancelled_cap;
	/* The caps last applied: a reload that changes one sweeps the wait
	 * lists. */
	size_t last_endpoint_cap, last_client_cap, last_outbound_cap;
	uint64_t rng_state;
	/* Scratch space for building requests and judging answers; used
	 * within one call, never across passes. */
	struct buf scratch_data;
	struct webhook_scratch ws;
};

/* The engine's one state, defined in deliver.c. */
extern struct engine eng;

/* deliver.c: the state of d's client (created when there is none; NULL
 * without memory). */
struct tenant *tenant_of(const struct delivery *d);

/* deliver.c: record the outcome o of attempt number n of d (e: d's
 * endpoint or NULL), started at wall time at and lasting ms; d is already
 * detached from the engine. */
void outcome_record(struct delivery *d, struct endpoint *e, unsigned n,
    int64_t at, int64_t ms, const struct outcome *o);

/* deliver.c: d cannot be delivered at all; it fails without an attempt.
 * d is detached from the engine. */
void delivery_fail_now(struct delivery *d, const char *error);

/* deliver.c: a slot of e and of t (either may be NULL) freed: let waiting
 * deliveries go. */
void pull_after(struct endpoint *e, struct tenant *t);

/* deliver.c: store_on_due: (re)insert d by its next_at; a delivery in
 * flight or already waiting for a slot is left where it is. */
void engine_due(struct delivery *d);

/* deliver_policy.c (contract §15). An attempt to e (may be NULL) starts:
 * it takes one token of e's rate_limit. A manual retry's attempt (manual
 * set), which did not wait for one, takes one only if there is one. */
void rate_take(struct endpoint *e, int manual);
/* Add the tokens e's bucket gained up to now (monotonic ms). */
void rl_refill(struct endpoint *e, int64_t now);
/* 1 when e's rate lets an attempt start now; else 0, with e on the
 * engine's list of endpoints awaiting a token (its wake time set). */
int rate_ready(struct endpoint *e);
/* Take e off the list of endpoints awaiting a token (a removal). */
void rate_unhold(struct endpoint *e);
/* d settled or was forgotten: when it was fifo endpoint e's current
 * delivery (e may be NULL), the next one in order is scheduled. */
void fifo_next(struct endpoint *e, struct delivery *d);
/* e has just become fifo: its first pending delivery in event order goes
 * first, the others are parked in id order. Walks e's deliveries only. */
void fifo_adopt(struct endpoint *e);
/* 1 when d may go on (not of a fifo endpoint, or its turn); 0 when it was
 * parked behind an earlier one. */
int fifo_ok(struct delivery *d);
/* The retry schedule in force for attempts to e (NULL: a one-off or a
 * gateway call): its own, else the global one; *n its length. */
const int64_t *policy_schedule(const struct endpoint *e, size_t *n);
/*
 * deliver_ops.c: operational webhooks (contract §15). When ops_url is set,
 * post an event delivery.failed for d, which just ended failed (status,
 * error: its last attempt's HTTP status, 0 none, and error, may be NULL),
 * or endpoint.disabled for e, which hookd just disabled (reason "failing"
 * or "gone"; failing_since: its failure clock, 0 none). Called only where
 * the engine itself ends a delivery or disables an endpoint, never by
 * replay, so a cause gives one event; never for an operational event's own
 * delivery or a gateway's upstream call, so an ops_url that fails never
 * feeds itself; never for a delivery of a deleted client (the operator's
 * cause, as an endpoint's delete or disable, which never call it). A store failure is logged; nothing is retried.
 */
void ops_delivery_failed(const struct delivery *d, int status,
    const char *error);
void ops_endpoint_disabled(const struct endpoint *e, const char *reason,
    int64_t failing_since);

/* deliver_attempt.c: start an attempt of d now (the caller checked the
 * slots). */
void attempt_start(struct delivery *d);

/* deliver_attempt.c: drop a without recording anything. */
void attempt_abort(struct attempt *a);

/* deliver_attempt.c: end a with a transport error (no HTTP answer). */
void attempt_fail(struct attempt *a, const char *error,
    enum webhook_result r);

#endif
