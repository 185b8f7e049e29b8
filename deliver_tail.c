/*
 * deliver_tail: the ring of the most recent delivery attempts behind
 * GET /v1/attempts (issue 16). One writer, the loop thread, when an
 * attempt's outcome is recorded; readers on the same thread.
 */
#include <stdlib.h>
#include <string.h>

#include "deliver_tail.h"

static struct deliver_tail_entry *tail_ring;
static uint64_t tail_seq;		/* the newest entry's, 0: none */
static int64_t tail_started;
static int tail_nomem;

/* The ring, allocated once on first use (a hookd that delivers nothing
 * spends nothing on it); NULL when that failed, and the tail then stays
 * empty rather than taking the daemon down. */
static struct deliver_tail_entry *
tail_ring_get(void)
{
	if (tail_ring == NULL && !tail_nomem) {
		tail_ring = calloc(DELIVER_TAIL_SIZE, sizeof(*tail_ring));
		tail_nomem = tail_ring == NULL;
	}
	return tail_ring;
}

/* Copy s into out (outsz bytes with the NUL), cut when longer. */
static void
tail_copy(char *out, size_t outsz, const char *s)
{
	size_t n = s != NULL ? strnlen(s, outsz - 1) : 0;

	if (n > 0)
		memcpy(out, s, n);
	out[n] = '\0';
}

void
deliver_tail_record(const struct delivery *d, unsigned n, int64_t at,
    int64_t ms, int status, const char *error, int result)
{
	struct deliver_tail_entry *r = tail_ring_get(), *e;

	(void)deliver_tail_started();
	if (r == NULL)
		return;
	e = &r[tail_seq % DELIVER_TAIL_SIZE];
	e->seq = ++tail_seq;
	e->at = at;
	e->ms = ms;
	e->delivery = d->id;
	e->event = d->event->id;
	e->endpoint = d->endpoint != NULL ? d->endpoint->id : 0;
	e->attempt = n;
	e->status = status;
	e->result = result;
	tail_copy(e->client, sizeof(e->client), d->event->client_id);
	tail_copy(e->type, sizeof(e->type), d->event->type);
	tail_copy(e->error, sizeof(e->error), error);
}

uint64_t
deliver_tail_newest(void)
{
	return tail_seq;
}

uint64_t
deliver_tail_oldest(void)
{
	return tail_seq > DELIVER_TAIL_SIZE ? tail_seq - DELIVER_TAIL_SIZE + 1 :
	    1;
}

const struct deliver_tail_entry *
deliver_tail_get(uint64_t seq)
{
	if (tail_ring == NULL || seq == 0 || seq > tail_seq ||
	    seq < deliver_tail_oldest())
		return NULL;
	return &tail_ring[(seq - 1) % DELIVER_TAIL_SIZE];
}

int64_t
deliver_tail_started(void)
{
	if (tail_started == 0)
		tail_started = util_wall_ms();
	return tail_started;
}
