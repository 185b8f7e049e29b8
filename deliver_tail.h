/*
 * deliver_tail: the most recent delivery attempts, in memory, for
 * GET /v1/attempts and `hookd tail` (issue 16): a fixed ring of
 * DELIVER_TAIL_SIZE entries, each with a sequence number that only grows
 * while the process runs. Nothing of it is on disk: the journal keeps each
 * delivery's own log; this is the cross-delivery view of what just happened.
 */
#ifndef HOOKD_DELIVER_TAIL_H
#define HOOKD_DELIVER_TAIL_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "util.h"

/* Entries kept: about 1.2 MiB (fixed, allocated once by the loader). A
 * bound, so that a flood of failing attempts costs memory once; a reader
 * slower than this many attempts between two polls is told how many it
 * missed. */
#define DELIVER_TAIL_SIZE 4096
/* An attempt's error ("timeout", "connect: Connection refused", "dns:
 * ...") is kept up to this many bytes with its NUL: enough for every
 * error hookd writes, and a bound on a copied string. */
#define DELIVER_TAIL_ERROR_MAX 96

/* One attempt as it ended. */
struct deliver_tail_entry {
	uint64_t seq;			/* 1, 2, ... since the process started */
	int64_t at;			/* wall ms the attempt started */
	int64_t ms;			/* its duration */
	uint64_t delivery, event;
	uint64_t endpoint;		/* 0: a one-off callback */
	uint32_t attempt;		/* the delivery's attempt number */
	int status;			/* HTTP status, 0 when none came */
	int result;			/* enum store_status it left the
					   delivery in: pending is a retry */
	char client[UTIL_ID_MAX + 1];
	char type[UTIL_TYPE_MAX + 1];
	char error[DELIVER_TAIL_ERROR_MAX];	/* "" when none */
};

/*
 * Record attempt number n of d, started at wall time at and lasting ms,
 * answered status (0: none) or failed with error (NULL: none), leaving d
 * in status result. O(1); copies what it keeps (a string longer than its
 * slot is cut). A gateway request's upstream call is not a delivery and is
 * not recorded (the caller skips it).
 */
void deliver_tail_record(const struct delivery *d, unsigned n, int64_t at,
    int64_t ms, int status, const char *error, int result);

/* The sequence number of the newest entry (0 before the first attempt),
 * and of the oldest still held (newest + 1 when none). */
uint64_t deliver_tail_newest(void);
uint64_t deliver_tail_oldest(void);

/* The entry of sequence number seq, or NULL when it is not held (not yet
 * made, or overwritten). Valid until the next deliver_tail_record. */
const struct deliver_tail_entry *deliver_tail_get(uint64_t seq);

/* Wall ms when this process first touched the ring (its first attempt or
 * its first reader): a reader that sees it change knows hookd restarted
 * and its sequence numbers started again at 1. */
int64_t deliver_tail_started(void);

#endif
