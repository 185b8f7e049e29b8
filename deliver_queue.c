/*
 * deliver_queue: the engine's data structures, with no policy: the timer
 * heap of pending deliveries, the intrusive wait lists (endpoint, client,
 * global) and the table of per-client states. deliver.c decides what goes
 * where and when.
 */
#include "deliver_impl.h"

#include <stdlib.h>

/* The engine's state of client id; created when create is set. NULL when
 * there is none, or no memory (the client is then not capped, which errs on
 * delivering). */
struct tenant *
deliver_tenant_get(struct deliver_queue *q, const char *id, int create)
{
	return (struct tenant *)(void *)util_clients_get(&q->tenants, id,
	    create ? sizeof(struct tenant) : 0);
}

struct tenant *
deliver_tenant_next(struct deliver_queue *q, struct tenant *t)
{
	return (struct tenant *)(void *)util_clients_next(&q->tenants,
	    t != NULL ? &t->c : NULL);
}

/* 1 when the state of c holds nothing: no attempt, no waiting delivery. */
static int
tenant_idle(const struct util_client *c)
{
	const struct tenant *t = (const struct tenant *)(const void *)c;

	return t->inflight == 0 && t->wait_head == NULL;
}

/* Free the states that hold nothing; all of them when all is set (stop). */
void
deliver_tenant_sweep(struct deliver_queue *q, int all)
{
	util_clients_sweep(&q->tenants, all ? NULL : tenant_idle);
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
heap_set(struct deliver_queue *q, size_t i, struct delivery *d)
{
	q->heap[i] = d;
	d->heap_index = (uint32_t)i;
}

static void
heap_up(struct deliver_queue *q, size_t i)
{
	struct delivery *d = q->heap[i];

	while (i > 1 && heap_less(d, q->heap[i / 2])) {
		heap_set(q, i, q->heap[i / 2]);
		i /= 2;
	}
	heap_set(q, i, d);
}

static void
heap_down(struct deliver_queue *q, size_t i)
{
	struct delivery *d = q->heap[i];

	for (;;) {
		size_t c = 2 * i;

		if (c > q->heap_len)
			break;
		if (c + 1 <= q->heap_len && heap_less(q->heap[c + 1], q->heap[c]))
			c++;
		if (!heap_less(q->heap[c], d))
			break;
		heap_set(q, i, q->heap[c]);
		i = c;
	}
	heap_set(q, i, d);
}

int
deliver_heap_push(struct deliver_queue *q, struct delivery *d)
{
	struct delivery **h;

	/* heap_index is 32 bits wide; slot 0 is unused. */
	if (q->heap_len + 2 > UINT32_MAX)
		return -1;
	h = util_grow(q->heap, &q->heap_cap, q->heap_len + 2, sizeof(*h),
	    1024);
	if (h == NULL)
		return -1;
	q->heap = h;
	q->heap_len++;
	heap_set(q, q->heap_len, d);
	heap_up(q, q->heap_len);
	return 0;
}

void
deliver_heap_remove(struct deliver_queue *q, struct delivery *d)
{
	size_t i = d->heap_index;
	struct delivery *last;

	if (i == 0 || i > q->heap_len || q->heap[i] != d)
		return;
	d->heap_index = 0;
	last = q->heap[q->heap_len--];
	if (last != d) {
		heap_set(q, i, last);
		heap_up(q, i);
		heap_down(q, last->heap_index);
	}
	/* Give memory back after a large backlog has drained. */
	if (q->heap_cap > 4096 && q->heap_len < q->heap_cap / 4) {
		struct delivery **h = realloc(q->heap, q->heap_cap / 2 * sizeof(*h));

		if (h != NULL) {
			q->heap = h;
			q->heap_cap /= 2;
		}
	}
}

/* ---------------------------------------------------------------------- */
/* Wait lists                                                             */

/* Append d to a wait list: its endpoint's, its client's (t) or the
 * global one. */
void
deliver_wait_push(struct deliver_queue *q, struct delivery *d, uint8_t which,
    struct tenant *t)
{
	struct delivery **head = &q->gwait_head, **tail = &q->gwait_tail;

	if (which == WAIT_ENDPOINT) {
		head = &d->endpoint->wait_head;
		tail = &d->endpoint->wait_tail;
	} else if (which == WAIT_CLIENT) {
		head = &t->wait_head;
		tail = &t->wait_tail;
	}
	d->wait_next = NULL;
	d->wait_prev = *tail;
	d->waiting = which;
	if (*tail != NULL)
		(*tail)->wait_next = d;
	else
		*head = d;
	*tail = d;
}

struct delivery *
deliver_wait_pop(struct delivery **head, struct delivery **tail)
{
	struct delivery *d = *head;

	if (d == NULL)
		return NULL;
	*head = d->wait_next;
	if (*head == NULL)
		*tail = NULL;
	else
		(*head)->wait_prev = NULL;
	d->wait_next = NULL;
	d->waiting = 0;
	return d;
}

/*
 * Take d off whichever list holds it, in O(1): the lists are doubly linked,
 * so a delete or disable that fails n waiting deliveries costs n steps, not
 * a walk from the head for each (n * n / 2).
 */
void
deliver_wait_unlink(struct deliver_queue *q, struct delivery *d)
{
	struct delivery **head = &q->gwait_head, **tail = &q->gwait_tail;

	if (d->waiting == WAIT_ENDPOINT) {
		if (d->endpoint == NULL) {
			d->waiting = 0;
			return;
		}
		head = &d->endpoint->wait_head;
		tail = &d->endpoint->wait_tail;
	} else if (d->waiting == WAIT_CLIENT) {
		struct tenant *t = deliver_tenant_get(q, d->event->client_id, 0);

		if (t == NULL) {
			d->waiting = 0;
			return;
		}
		head = &t->wait_head;
		tail = &t->wait_tail;
	} else if (d->waiting == WAIT_PARKED) {
		if (d->endpoint == NULL) {
			d->waiting = 0;
			return;
		}
		head = &d->endpoint->park_head;
		tail = &d->endpoint->park_tail;
	}
	if (d->wait_prev != NULL)
		d->wait_prev->wait_next = d->wait_next;
	else if (*head == d)
		*head = d->wait_next;
	if (d->wait_next != NULL)
		d->wait_next->wait_prev = d->wait_prev;
	else if (*tail == d)
		*tail = d->wait_prev;
	d->wait_next = d->wait_prev = NULL;
	d->waiting = 0;
}

void
deliver_heap_fix(struct deliver_queue *q, struct delivery *d)
{
	heap_up(q, d->heap_index);
	heap_down(q, d->heap_index);
}
