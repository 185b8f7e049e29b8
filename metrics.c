/*
 * metrics: the process's /metrics counters and the latency buckets' bounds.
 * The Prometheus text of them is written by the API's /metrics handler.
 */
#include "metrics.h"

struct metrics metrics;
const int64_t metrics_bounds[METRICS_LATENCY_BUCKETS] = {
	5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000
};
