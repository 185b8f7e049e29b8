/* Fuzz target: the config file. The input is a config file's text, read by
 * config_load's own parser (config_load_stream) from an fmemopen stream,
 * on top of the defaults. A refused file must say why ("NAME:LINE: reason");
 * an accepted one must hold every setting within the range hookd(8) and
 * config.c's table give it, registrations and routes that are whole, a
 * summary line, and the same result when read a second time. Leaks are
 * ASan's to find (config_free releases everything). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../config.h"
#include "../../http.h"
#include "../../util.h"
#include "fuzz.h"

#define SEC ((int64_t)1000)
#define HOUR (3600 * SEC)
#define DAY (24 * HOUR)

/* The documented range of each scalar, written out again on purpose: an
 * oracle that shares config.c's table would share its mistakes. */
static void
check_ranges(const struct config *c)
{
	static const struct {
		size_t off, min, max;
	} sizes[] = {
		{ offsetof(struct config, max_header_bytes), 1024, 1048576 },
		{ offsetof(struct config, max_headers), 1, HTTP_MAX_HEADERS },
		{ offsetof(struct config, max_body), 1024, 64 * 1048576 },
		{ offsetof(struct config, max_connections), 1, 100000 },
		{ offsetof(struct config, endpoint_concurrency), 1, 1024 },
		{ offsetof(struct config, max_outbound), 1, 65536 },
		{ offsetof(struct config, max_endpoints_per_client), 1,
		    100000 },
		{ offsetof(struct config, max_endpoint_headers), 0,
		    HTTP_MAX_HEADERS },
		{ offsetof(struct config, max_retries_per_minute), 1,
		    1000000 },
		{ offsetof(struct config, max_log_attempts), 1, 1000 },
		/* 0: not set (half of max_outbound). */
		{ offsetof(struct config, max_inflight_per_client), 0,
		    65536 },
		{ offsetof(struct config, node_id), 0, 255 },
	};
	static const struct {
		size_t off;
		int64_t min, max;
	} durations[] = {
		{ offsetof(struct config, header_timeout_ms), 1, HOUR },
		{ offsetof(struct config, idle_timeout_ms), 1, DAY },
		{ offsetof(struct config, body_timeout_ms), 1, HOUR },
		{ offsetof(struct config, timeout_ms), 1, HOUR },
		{ offsetof(struct config, disable_after_ms), 1, 365 * DAY },
		{ offsetof(struct config, retention_ms), 0, 3650 * DAY },
		{ offsetof(struct config, drain_timeout_ms), 0, HOUR },
	};
	struct sockaddr_storage ss;
	socklen_t sl;
	size_t i, k;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t v;

		memcpy(&v, (const char *)c + sizes[i].off, sizeof(v));
		if (v < sizes[i].min || v > sizes[i].max)
			abort();
	}
	for (i = 0; i < sizeof(durations) / sizeof(durations[0]); i++) {
		int64_t v;

		memcpy(&v, (const char *)c + durations[i].off, sizeof(v));
		if (v < durations[i].min || v > durations[i].max)
			abort();
	}
	if (c->nretry < 1 || c->nretry > CONFIG_MAX_RETRIES ||
	    c->nallow > CONFIG_MAX_ALLOW)
		abort();
	for (i = 0; i < c->nretry; i++)
		if (c->retry_ms[i] < 0 || c->retry_ms[i] > 7 * DAY)
			abort();
	if (config_listen_addr(c->listen, &ss, &sl) != 0 ||
	    c->data_dir[0] == '\0' || (c->fsync_always & ~1) != 0 ||
	    (c->metrics & ~1) != 0)
		abort();
	/* Contract §15: both ops keys or neither. */
	if ((c->ops_url[0] == '\0') != (c->ops_secret[0] == '\0'))
		abort();
	for (i = 0; i < c->nregs; i++) {
		const struct config_reg *r = &c->regs[i];

		if (r->client == NULL || !util_client_id_ok(r->client,
		    strlen(r->client)) || (r->is_endpoint && r->url == NULL) ||
		    r->line < 1 || r->nretry > CONFIG_MAX_RETRIES)
			abort();
		if ((r->has_policy & CONFIG_POL_RATE) && (r->rate_milli < 1 ||
		    r->rate_milli > CONFIG_RATE_MAX * 1000))
			abort();
		if ((r->has_policy & CONFIG_POL_TIMEOUT) &&
		    (r->timeout_ms < 1 || r->timeout_ms > HOUR))
			abort();
		if ((r->has_policy & CONFIG_POL_RETRY) && r->nretry < 1)
			abort();
	}
	if (c->nroutes > CONFIG_MAX_ROUTES)
		abort();
	for (i = 0; i < c->nroutes; i++) {
		const struct config_route *r = &c->routes[i];

		if (r->prefix == NULL || r->prefix[0] != '/' ||
		    r->upstream == NULL || r->type == NULL ||
		    r->type[0] == '\0' || r->timeout_ms < 0 ||
		    r->timeout_ms > CONFIG_ROUTE_TIMEOUT_MAX ||
		    r->nheaders > CONFIG_ROUTE_HEADERS)
			abort();
		for (k = 0; k < r->nheaders; k++)
			if (r->headers[k] == NULL)
				abort();
		/* A route is found by its own prefix. */
		if (config_route_find(c, r->prefix, strlen(r->prefix)) == NULL)
			abort();
	}
}

/* Parse data on top of the defaults into c. 0 or -1, err filled. */
static int
parse(const uint8_t *data, size_t size, struct config *c, char *err,
    size_t errsz)
{
	/* fmemopen refuses a size of 0 on some libcs: an empty file is
	 * given as a file of one newline, which reads the same. */
	static const char empty[] = "\n";
	FILE *f = fmemopen(size > 0 ? (void *)(uintptr_t)data :
	    (void *)(uintptr_t)empty, size > 0 ? size : 1, "r");
	int rc;

	if (f == NULL)
		abort();
	config_defaults(c);
	err[0] = '\0';
	rc = config_load_stream(c, f, "fuzz.conf", 1, err, errsz);
	fclose(f);
	return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct config c, again;
	char err[1024], err2[1024], summary[4096], changed[1024] = "";
	int rc;

	rc = parse(data, size, &c, err, sizeof(err));
	if (rc != 0) {
		/* Refused: "fuzz.conf:LINE: reason", a reason there. */
		if (rc != -1 || strncmp(err, "fuzz.conf:", 10) != 0 ||
		    strlen(err) < 13)
			abort();
		config_free(&c);
		return 0;
	}
	if (err[0] != '\0')
		abort();
	check_ranges(&c);
	(void)config_summary(&c, summary, sizeof(summary));
	if (summary[0] == '\0' || config_client_inflight(&c) < 1)
		abort();
	/* The same text reads the same way twice. */
	if (parse(data, size, &again, err2, sizeof(err2)) != 0 ||
	    config_changed_scalars(&c, &again, changed,
	    sizeof(changed)) != 0 || config_routes_differ(&c, &again) ||
	    c.nregs != again.nregs || c.nallow != again.nallow ||
	    c.nretry != again.nretry)
		abort();
	config_free(&again);
	config_free(&c);
	return 0;
}
