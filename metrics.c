/*
 * metrics: the process's /metrics counters and the latency buckets' bounds.
 * The Prometheus text of them is written by the API's /metrics handler.
 * The loop pass histogram is fed by loop.c.
 */
#include "metrics.h"

#include <stddef.h>

struct metrics metrics;
const int64_t metrics_bounds[METRICS_LATENCY_BUCKETS] = {
	5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000
};
const int64_t metrics_pass_bounds[METRICS_PASS_BUCKETS] = {
	1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 1000000
};

void
metrics_loop_pass(int64_t us, int64_t cpu_us)
{
	size_t i;

	if (us < 0)
		us = 0;	/* cannot happen on CLOCK_MONOTONIC; kept safe */
	if (cpu_us > 0 && (uint64_t)cpu_us > metrics.pass_max_cpu_us)
		metrics.pass_max_cpu_us = (uint64_t)cpu_us;
	for (i = 0; i < METRICS_PASS_BUCKETS; i++)
		if (us <= metrics_pass_bounds[i]) {
			metrics.pass_le[i]++;
			break;
		}
	metrics.pass_count++;
	metrics.pass_sum_us += (uint64_t)us;
	if ((uint64_t)us > metrics.pass_max_us)
		metrics.pass_max_us = (uint64_t)us;
}
