/*
 * metrics: the counters behind /metrics (contract §3), bumped by the engine
 * and the API and read by the API's /metrics handler, and the latency
 * histogram's bucket bounds.
 */
#ifndef HOOKD_METRICS_H
#define HOOKD_METRICS_H

#include <stdint.h>

/* Counters for /metrics (contract §3). */
#define METRICS_LATENCY_BUCKETS 12
#define METRICS_PASS_BUCKETS 9
struct metrics {
	uint64_t events;			/* events accepted */
	uint64_t delivered, failed;		/* deliveries by outcome */
	uint64_t att_ok, att_rejected, att_retry, att_timeout, att_error;
	/* Gateway requests (contract §14), apart from deliveries: accepted,
	 * completed, failed, and their upstream calls. */
	uint64_t gw_accepted, gw_completed, gw_failed, gw_attempts;
	/* Attempts whose ms fell in bucket i alone (above bound i-1, at most
	 * bound i); /metrics adds them up into the cumulative buckets. */
	uint64_t latency_le[METRICS_LATENCY_BUCKETS];
	uint64_t latency_count;
	double latency_sum;			/* seconds */
	uint64_t http_by_class[6];		/* 1xx..5xx by status / 100 */
	uint64_t open_connections;
	/* Loop passes: the time from poll() returning to the next poll()
	 * call, the work one pass did (metrics_loop_pass). Passes of at
	 * most bound i (metrics_pass_bounds) alone in bucket i, as above;
	 * the longest since the start in µs, and the most CPU time one
	 * pass used (less than the longest when the loop waited for a core
	 * or in the kernel: a busy machine, not hookd's work). */
	uint64_t pass_le[METRICS_PASS_BUCKETS];
	uint64_t pass_count;
	uint64_t pass_sum_us;
	uint64_t pass_max_us;
	uint64_t pass_max_cpu_us;
};
/* The counters of this process (zero at start; one thread writes them). */
extern struct metrics metrics;
/* Upper bounds (ms) of the latency histogram buckets, ascending. */
extern const int64_t metrics_bounds[METRICS_LATENCY_BUCKETS];
/* Upper bounds (µs) of the loop pass histogram's buckets, ascending: around
 * the goal of 10 ms a pass (issue 20), beyond which every connection
 * waits noticeably. */
extern const int64_t metrics_pass_bounds[METRICS_PASS_BUCKETS];

/* Count one loop pass that took us microseconds, cpu_us of them on the CPU
 * (the loop calls it; a negative value counts as 0). */
void metrics_loop_pass(int64_t us, int64_t cpu_us);

#endif
