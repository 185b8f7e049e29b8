/*
 * api_ops: the operations answers: GET /healthz, GET /metrics (the counters
 * in Prometheus text, contract §3) and POST /v1/compact.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "api_impl.h"
#include "config.h"
#include "log.h"
#include "metrics.h"
#include "store.h"

/* ---- operations ---- */

/* POST /v1/compact (an extension): start compaction now instead of waiting
 * for the journal to double. */
int
api_compact(struct api_ctx *c)
{
	int rc = store_compact_start(util_wall_ms(),
	    config_current()->retention_ms, 1);
	char why[160], q[200];

	if (rc < 0 && errno == EBUSY)
		return api_error(c, 409, "a compaction is running");
	if (rc < 0) {
		/* The answer and the log say why (the registry's rewrite or
		 * the journal's write failed: an I/O error to look into). */
		int e = errno;

		snprintf(why, sizeof(why), "cannot start compaction: %s",
		    strerror(e));
		log_line("warn", "compaction not started", "error=%s",
		    LOG_QUOTE(q, strerror(e)));
		return e == ENOSPC ? api_error(c, 503, "disk full: a "
		    "compaction needs room for the new files beside the old "
		    "ones") : api_error(c, 500, why);
	}
	buf_puts(c->out, "{");
	api_kv_bool(c->out, "started", rc > 0);
	buf_puts(c->out, "}");
	return api_done(c, 202);
}

int
api_healthz(struct api_ctx *c)
{
	int ok = store_writable();

	*c->ctype = API_TEXT;
	buf_puts(c->out, ok ? "ok\n" : "unavailable\n");
	return ok ? 200 : 503;
}

/* One metric's HELP and TYPE lines. */
static void
api_metric_head(struct buf *b, const char *name, const char *type,
    const char *help)
{
	buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
api_metric_u64(struct buf *b, const char *name, const char *labels,
    uint64_t v)
{
	buf_printf(b, "%s%s %llu\n", name, labels, (unsigned long long)v);
}

/* A histogram of Prometheus' text format: le[i] counts the observations
 * in bucket i alone (at most bounds[i] units, of which scale make a
 * second), Prometheus wants running totals; then the count and the sum
 * (seconds). */
static void
api_metric_histogram(struct buf *b, const char *h, const char *help,
    const uint64_t *le, const int64_t *bounds, size_t n, double scale,
    uint64_t count, double sum_s)
{
	uint64_t sum = 0;
	size_t i;

	api_metric_head(b, h, "histogram", help);
	for (i = 0; i < n; i++) {
		sum += le[i];
		buf_printf(b, "%s_bucket{le=\"%g\"} %llu\n", h,
		    (double)bounds[i] / scale, (unsigned long long)sum);
	}
	buf_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n", h,
	    (unsigned long long)count);
	buf_printf(b, "%s_sum %.6f\n", h, sum_s);
	buf_printf(b, "%s_count %llu\n", h, (unsigned long long)count);
}

/* The loop passes (issue 20: none should exceed 10 ms), from µs. */
static void
api_metric_passes(struct buf *b)
{
	const char *m = "hookd_loop_pass_max_seconds";
	const char *c = "hookd_loop_pass_max_cpu_seconds";

	api_metric_histogram(b, "hookd_loop_pass_seconds",
	    "Work of one poll loop pass.", metrics.pass_le,
	    metrics_pass_bounds, METRICS_PASS_BUCKETS, 1e6, metrics.pass_count,
	    (double)metrics.pass_sum_us / 1e6);
	api_metric_head(b, m, "gauge",
	    "Longest poll loop pass since the start.");
	buf_printf(b, "%s %.6f\n", m, (double)metrics.pass_max_us / 1e6);
	api_metric_head(b, c, "gauge", "Most CPU time one poll loop pass "
	    "used since the start (the longest pass less any wait for a core).");
	buf_printf(b, "%s %.6f\n", c, (double)metrics.pass_max_cpu_us / 1e6);
}

int
api_metrics(struct api_ctx *c)
{
	static const char *const classes[] = {
		"", "{code=\"1xx\"}", "{code=\"2xx\"}", "{code=\"3xx\"}",
		"{code=\"4xx\"}", "{code=\"5xx\"}",
	};
	const char *dt = "hookd_deliveries_total", *at = "hookd_attempts_total";
	const char *gr = "hookd_gateway_requests_total";
	struct buf *b = c->out;
	size_t i;

	if (!config_current()->metrics)
		return api_not_found(c);
	api_metric_head(b, "hookd_events_total", "counter", "Events accepted.");
	api_metric_u64(b, "hookd_events_total", "", metrics.events);
	api_metric_head(b, dt, "counter", "Deliveries finished, by outcome.");
	api_metric_u64(b, dt, "{outcome=\"delivered\"}", metrics.delivered);
	api_metric_u64(b, dt, "{outcome=\"failed\"}", metrics.failed);
	api_metric_head(b, at, "counter", "Delivery attempts, by result.");
	api_metric_u64(b, at, "{result=\"ok\"}", metrics.att_ok);
	api_metric_u64(b, at, "{result=\"rejected\"}", metrics.att_rejected);
	api_metric_u64(b, at, "{result=\"retry\"}", metrics.att_retry);
	api_metric_u64(b, at, "{result=\"timeout\"}", metrics.att_timeout);
	api_metric_u64(b, at, "{result=\"error\"}", metrics.att_error);
	api_metric_head(b, "hookd_pending_deliveries", "gauge",
	    "Deliveries waiting to be delivered.");
	api_metric_u64(b, "hookd_pending_deliveries", "",
	    store_pending_count() - store_upstream_pending_count());
	api_metric_head(b, gr, "counter", "Gateway requests, by state "
	    "reached.");
	api_metric_u64(b, gr, "{state=\"accepted\"}", metrics.gw_accepted);
	api_metric_u64(b, gr, "{state=\"completed\"}", metrics.gw_completed);
	api_metric_u64(b, gr, "{state=\"failed\"}", metrics.gw_failed);
	api_metric_head(b, "hookd_gateway_upstream_attempts_total", "counter",
	    "Calls of gateway requests' upstreams.");
	api_metric_u64(b, "hookd_gateway_upstream_attempts_total", "",
	    metrics.gw_attempts);
	api_metric_histogram(b, "hookd_delivery_duration_seconds",
	    "Duration of delivery attempts.", metrics.latency_le,
	    metrics_bounds, METRICS_LATENCY_BUCKETS, 1000.0,
	    metrics.latency_count, metrics.latency_sum);
	api_metric_head(b, "hookd_http_requests_total", "counter",
	    "API requests answered, by status class.");
	for (i = 1; i < 6; i++)
		api_metric_u64(b, "hookd_http_requests_total", classes[i],
		    metrics.http_by_class[i]);
	api_metric_head(b, "hookd_open_connections", "gauge",
	    "Inbound connections open.");
	api_metric_u64(b, "hookd_open_connections", "",
	    metrics.open_connections);
	api_metric_head(b, "hookd_journal_bytes", "gauge",
	    "Bytes in the journal and the registry.");
	api_metric_u64(b, "hookd_journal_bytes", "", store_journal_bytes());
	api_metric_passes(b);
	*c->ctype = API_PROM;
	return 200;
}
