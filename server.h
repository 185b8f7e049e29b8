/*
 * server: main, options, signals, the poll() loop, inbound connections. This
 * header is what the loop offers the modules that share it (api, deliver): fd
 * watches, logging and the metrics counters.
 */
#ifndef HOOKD_SERVER_H
#define HOOKD_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

/*
 * A file descriptor the loop polls. The owner embeds it in its own state,
 * sets fd, events (POLLIN/POLLOUT) and cb, and adds it; cb runs with the
 * revents poll reported (POLLHUP/POLLERR included). The loop's slot is its
 * own business. A watch may be removed (and freed) from inside any callback.
 */
struct watch {
	int fd;
	short events;
	void (*cb)(struct watch *w, short revents);
	size_t slot;
};

/* Start watching w. 0, or -1 when out of memory. */
int server_watch_add(struct watch *w);
/* Stop watching w (safe when it is not watched). */
void server_watch_del(struct watch *w);

/* The settings in force (replaced on SIGHUP). */
extern const struct config *server_config;
/* CLOCK_MONOTONIC ms read once at the top of this loop pass. */
extern int64_t server_now;

/*
 * Log one logfmt line on stderr: "ts=... level=LEVEL msg=MSG" followed by the
 * formatted key=value pairs (the caller formats them, quoting values with
 * spaces in double quotes). Never pass secrets or tokens.
 */
void server_log(const char *level, const char *msg, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Counters for /metrics (contract §3). */
#define METRICS_LATENCY_BUCKETS 12
struct metrics {
	uint64_t events;			/* events accepted */
	uint64_t delivered, failed;		/* deliveries by outcome */
	uint64_t att_ok, att_rejected, att_retry, att_timeout, att_error;
	/* Attempts whose ms fell in bucket i alone (above bound i-1, at most
	 * bound i); /metrics adds them up into the cumulative buckets. */
	uint64_t latency_le[METRICS_LATENCY_BUCKETS];
	uint64_t latency_count;
	double latency_sum;			/* seconds */
	uint64_t http_by_class[6];		/* 1xx..5xx by status / 100 */
	uint64_t open_connections;
};
extern struct metrics metrics;
/* Upper bounds (ms) of the latency histogram buckets. */
extern const int64_t metrics_bounds[METRICS_LATENCY_BUCKETS];

#endif
