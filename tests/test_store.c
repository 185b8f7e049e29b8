/*
 * Tests of store.c: records survive a reopen, a torn tail is dropped, a
 * corrupt middle stops the start, injected faults change nothing in memory,
 * and compaction keeps pending work and attempt histories.
 */
#ifdef __linux__
/* store_file.c, included below, needs fallocate(2) from the first header
 * on. */
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../store_file.c"
#include "../store_replay.c"
#include "../store_registry.c"
#include "../store_idem.c"
#include "../store_journal.c"
#include "../store_jreplay.c"
#include "../store_index.c"
#include "../store_compact.c"
#include "../store_copy.c"
#include "../store_drop.c"
#include "../store.c"
#include "../store_check.c"
#include "../store_move.c"
#include "unit.h"

static char tdir[256];
static int notices;

static void
count_notice(const char *msg)
{
	(void)msg;
	notices++;
}

static int
reopen(char *err, size_t errsz)
{
	store_close();
	return store_open(tdir, 1, err, errsz, count_notice);
}

static struct endpoint *
make_endpoint(struct client *c, const char *url, const char *filter)
{
	struct endpoint t;
	char *events[1];

	memset(&t, 0, sizeof(t));
	events[0] = (char *)(uintptr_t)filter;
	t.client = c;
	t.url = (char *)(uintptr_t)url;
	t.events = events;
	t.nevents = 1;
	t.enabled = 1;
	t.headers = (char *)(uintptr_t)"{\"X-Api-Key\":\"k\"}";
	memcpy(t.secret, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", 39);
	return store_endpoint_create(&t);
}

static void
file_append(const char *name, const char *text)
{
	char p[512];
	int fd;

	snprintf(p, sizeof(p), "%s/%s", tdir, name);
	fd = open(p, O_WRONLY | O_APPEND);
	CHECK(fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
}

static off_t
file_size(const char *name)
{
	char p[512];
	struct stat sb;

	snprintf(p, sizeof(p), "%s/%s", tdir, name);
	return stat(p, &sb) == 0 ? sb.st_size : -1;
}

static void
test_roundtrip(void)
{
	char err[256];
	uint8_t h[32] = { 1, 2, 3 };
	struct client *c;
	struct endpoint *e, *eps[2];
	struct event *ev;
	struct delivery *d;
	struct store_attempt a;
	struct buf b = {0}, last = {0}, ack = {0}, log = {0};
	const char *data;
	size_t len;
	uint64_t evid, did;
	static const char payload[] = "{\"refId\": \"3283191\",\n \"x\": [1, 2]}";

	CHECK(store_open(tdir, 1, err, sizeof(err), count_notice) == 0);
	c = store_client_create("acme", "Acme Store", h, "whsec_abc");
	CHECK(c != NULL);
	CHECK(store_client_create("acme", "again", h, "whsec_abc") != NULL ||
	    1);	/* duplicates are the API's business */
	e = make_endpoint(c, "http://example.com/cb/{refId}", "order.*");
	CHECK(e != NULL);
	CHECK(store_endpoint_matches(e, "order.paid", 10));
	CHECK(!store_endpoint_matches(e, "user.created", 12));
	eps[0] = e;
	ev = store_event_create(c, "order.paid", 10, payload,
	    sizeof(payload) - 1, eps, 1, "http://other.example/x", NULL, 0,
	    util_wall_ms());
	CHECK(ev != NULL && ev->ndeliveries == 2 && ev->pending == 2);
	CHECK(store_pending_count() == 2);
	evid = ev->id;
	d = ev->deliveries;
	did = d->id;
	memset(&a, 0, sizeof(a));
	a.at = util_wall_ms();
	a.status = 500;
	a.body = "oops";
	a.body_len = 4;
	a.new_status = STORE_PENDING;
	a.next_at = a.at + 5000;
	CHECK(store_delivery_attempted(d, &a) == 0);
	a.status = 200;
	a.body = "{\"ack\":true}";
	a.body_len = 12;
	a.ack = a.body;
	a.ack_len = a.body_len;
	a.new_status = STORE_DELIVERED;
	CHECK(store_delivery_attempted(d, &a) == 0);
	CHECK(store_pending_count() == 1);
	CHECK(store_sync() == 0);
	CHECK(store_durable_seq() == store_written_seq());

	CHECK(reopen(err, sizeof(err)) == 0);
	CHECK(store_client_count() == 1);
	c = store_client_find("acme", 4);
	CHECK(c != NULL && strcmp(c->name, "again") == 0);
	CHECK(store_endpoint_count() == 1);
	e = store_endpoint_at(0);
	CHECK(e != NULL && strcmp(e->url, "http://example.com/cb/{refId}") == 0 &&
	    e->nevents == 1 && strcmp(e->events[0], "order.*") == 0 &&
	    e->headers != NULL && strcmp(e->headers, "{\"X-Api-Key\":\"k\"}") == 0);
	ev = store_event_find(evid);
	CHECK(ev != NULL && ev->pending == 1 && store_pending_count() == 1);
	data = ev != NULL ? store_event_data(ev, &b, &len) : NULL;
	CHECK(data != NULL && len == sizeof(payload) - 1 &&
	    memcmp(data, payload, len) == 0);
	d = store_delivery_find(did);
	CHECK(d != NULL && d->status == STORE_DELIVERED && d->attempts == 2);
	CHECK(d != NULL && store_delivery_history(d, &last, &ack, &log) == 0);
	CHECK(ack.data != NULL && strcmp(ack.data, "{\"ack\":true}") == 0);
	CHECK(log.data != NULL && strstr(log.data, "\"status\":500") != NULL &&
	    strstr(log.data, "\"status\":200") != NULL &&
	    strstr(log.data, "\"status\":500") < strstr(log.data, "\"status\":200"));
	CHECK(last.data != NULL && strstr(last.data, "\"status\":200") != NULL);
	buf_free(&b);
	buf_free(&last);
	buf_free(&ack);
	buf_free(&log);

	/* Deleting the endpoint fails nothing already delivered, and the
	 * deletion survives. */
	CHECK(store_endpoint_delete(e) == 0);
	CHECK(reopen(err, sizeof(err)) == 0);
	CHECK(store_endpoint_count() == 0);
	CHECK(store_pending_count() == 1);
}

static void
test_torn_and_corrupt(void)
{
	char err[256];
	off_t before;

	store_close();
	before = file_size("journal.log");
	file_append("journal.log", "deadbeef {\"t\":\"requ");
	notices = 0;
	CHECK(store_open(tdir, 1, err, sizeof(err), count_notice) == 0);
	CHECK(notices == 1);
	CHECK(file_size("journal.log") == before);

	/* A whole line with a bad checksum at the end is torn too. */
	store_close();
	file_append("journal.log", "00000000 {\"t\":\"requeue\"}\n");
	notices = 0;
	CHECK(store_open(tdir, 1, err, sizeof(err), count_notice) == 0);
	CHECK(notices == 1 && file_size("journal.log") == before);

	/* The same line followed by a good one is corruption. */
	store_close();
	{
		char p[512], line[256];
		int fd;
		ssize_t n;

		snprintf(p, sizeof(p), "%s/journal.log", tdir);
		fd = open(p, O_RDWR);
		n = pread(fd, line, sizeof(line), 0);
		CHECK(n > 20);
		line[12] ^= 1;	/* inside the first record's JSON */
		CHECK(pwrite(fd, line + 12, 1, 12) == 1);
		close(fd);
		err[0] = '\0';
		CHECK(store_open(tdir, 1, err, sizeof(err), NULL) == -1);
		CHECKF(strncmp(err, "journal.log:1: checksum mismatch; run "
		    "hookd check --fix -d ", 59) == 0, "%s", err);
		line[12] ^= 1;
		fd = open(p, O_RDWR);
		CHECK(pwrite(fd, line + 12, 1, 12) == 1);
		close(fd);
	}
	CHECK(reopen(err, sizeof(err)) == 0);
}

/* Found by fuzz_journal: an event record that goes bad after some of its
 * deliveries were indexed fails the start without leaking them (the unit
 * binary runs under LeakSanitizer in make check) or leaving them indexed. */
static void
test_bad_event(void)
{
	static const char rec[] = "{\"t\":\"event\",\"id\":"
	    "\"evt_7000000000000000\",\"client\":\"acme\",\"type\":\"t\","
	    "\"at\":1,\"dlv\":[[\"dlv_7000000000000001\",null,\"http://h/\"],"
	    "[\"dlv_7000000000000002\",null,7]],\"data\":{}}";
	char err[256], line[sizeof(rec) + 16], p[512];
	off_t before;

	store_close();
	before = file_size("journal.log");
	snprintf(line, sizeof(line), "%08x %s\n",
	    (unsigned)crc32(rec, sizeof(rec) - 1), rec);
	file_append("journal.log", line);
	err[0] = '\0';
	CHECK(store_open(tdir, 1, err, sizeof(err), NULL) == -1);
	CHECKF(strstr(err, "bad event record") != NULL, "%s", err);
	CHECK(store_delivery_find(0x7000000000000001ULL) == NULL);
	store_close();
	snprintf(p, sizeof(p), "%s/journal.log", tdir);
	CHECK(truncate(p, before) == 0);
	CHECK(store_open(tdir, 1, err, sizeof(err), NULL) == 0);
}

static int dues;

static void
count_due(struct delivery *d)
{
	(void)d;
	dues++;
}

/* New events reach the engine only once durable: never when their fsync
 * failed, so no receiver hears of an event whose 202 was withheld. */
static void
test_due_after_durable(void)
{
	char err[256];
	uint8_t h[32] = { 5 };
	struct client *c;
	struct endpoint *e, *eps[1];

	CHECK(reopen(err, sizeof(err)) == 0);
	c = store_client_create("due", "d", h, "whsec_x");
	e = c != NULL ? make_endpoint(c, "http://example.com/", "*") : NULL;
	CHECK(e != NULL && store_sync() == 0);
	if (e == NULL)
		return;
	eps[0] = e;
	store_on_due = count_due;
	dues = 0;
	CHECK(store_event_create(c, "t", 1, "{}", 2, eps, 1, NULL, NULL, 0,
	    util_wall_ms()) != NULL);
	CHECK(dues == 0);
	CHECK(store_sync() == 0);
	CHECK(dues == 1);

	/* The same through the sync thread. */
	CHECK(store_sync_fd() >= 0);
	CHECK(store_event_create(c, "t", 1, "{}", 2, eps, 1, NULL, NULL, 0,
	    util_wall_ms()) != NULL);
	CHECK(store_sync_begin() == 1 && store_sync_busy());
	CHECK(dues == 1);
	CHECK(store_sync_end() == 0 && dues == 2 && !store_sync_busy());

	/* A failed fsync announces nothing, now or later. */
	CHECK(store_event_create(c, "t", 1, "{}", 2, eps, 1, NULL, NULL, 0,
	    util_wall_ms()) != NULL);
	st_files.fault_fsync = st_files.n_fsync + 1;
	CHECK(store_sync_begin() == 1);
	CHECK(store_sync_end() == -1);
	CHECK(store_sync() == -1 && dues == 2);
	st_files.fault_fsync = 0;
	store_on_due = NULL;
}

static void
test_faults(void)
{
	char err[256];
	uint8_t h[32] = { 9 };
	size_t n;

	CHECK(reopen(err, sizeof(err)) == 0);
	n = store_client_count();
	st_files.fault_write = st_files.n_write + 1;
	errno = 0;
	CHECK(store_client_create("faulty", "x", h, "whsec_x") == NULL);
	CHECK(errno == EIO && store_client_count() == n);
	st_files.fault_write = 0;
	st_files.fault_enospc = st_files.n_write + 1;
	CHECK(store_client_create("full", "x", h, "whsec_x") == NULL);
	CHECK(errno == ENOSPC && !store_writable());
	st_files.fault_enospc = 0;
	CHECK(store_client_create("full", "x", h, "whsec_x") != NULL);
	CHECK(store_writable());
	st_files.fault_fsync = st_files.n_fsync + 1;
	CHECK(store_sync() == -1);
	st_files.fault_fsync = 0;
	/* A later fsync cannot vouch for pages the failed one dropped: the
	 * failure sticks until the files are read again. */
	CHECK(store_sync() == -1 && errno == EIO);
	CHECK(reopen(err, sizeof(err)) == 0);
	CHECK(store_sync() == 0);
	CHECK(store_client_find("full", 4) != NULL);
	CHECK(store_client_find("faulty", 6) == NULL);
}

/* test_compaction, test_compact_settle, test_compact_drop_steps. */
#include "store_compact_cases.c"

/* The types of test_gateway_requests. */
static const char *const gw_types[] = { "api.result", "api.other",
	"api.result.failed" };

/*
 * The walks list pages take for client id client (its events, its events
 * of each type in types, its deliveries) and for endpoint epid's
 * deliveries yield exactly what a scan of the arrays does, in the same
 * order; and the client's one-off list is in id order. 1 when they do.
 */
static int
walks_match_scan(const char *client, const char *const *types,
    size_t ntypes, uint64_t epid)
{
	struct store_walk w;
	struct client *c = store_client_find(client, strlen(client));
	struct delivery *d, *prev = NULL;
	size_t i, j, t;

	for (t = 0; t <= ntypes; t++) {
		store_walk_events(&w, client, t < ntypes ? types[t] : NULL,
		    NULL);
		for (j = store_event_count(); j-- > 0;) {
			struct event *ev = store_event_at(j);

			if (strcmp(ev->client_id, client) != 0 ||
			    (t < ntypes && strcmp(ev->type, types[t]) != 0))
				continue;
			if (store_walk_event(&w) != ev)
				return 0;
		}
		if (store_walk_event(&w) != NULL)
			return 0;
	}
	store_walk_deliveries(&w, client, NULL, NULL, -1, NULL);
	for (i = 0; i < store_delivery_count(); i++) {
		d = store_delivery_at(i);
		if (strcmp(d->event->client_id, client) == 0 &&
		    store_walk_delivery(&w) != d)
			return 0;
	}
	if (store_walk_delivery(&w) != NULL)
		return 0;
	store_walk_deliveries(&w, NULL, &epid, NULL, -1, NULL);
	for (i = 0; i < store_delivery_count(); i++) {
		d = store_delivery_at(i);
		if (d->endpoint != NULL && d->endpoint->id == epid &&
		    store_walk_delivery(&w) != d)
			return 0;
	}
	if (store_walk_delivery(&w) != NULL)
		return 0;
	for (d = c != NULL ? c->oneoff_head : NULL; d != NULL; d = d->ep_next) {
		if (prev != NULL && prev->id >= d->id)
			return 0;
		prev = d;
	}
	return c == NULL || c->oneoff_tail == prev;
}

/* What a completed gateway request must look like, after anything. */
static void
check_completed(uint64_t evid, uint64_t upid, const char *why)
{
	struct event *ev = store_event_find(evid);
	struct delivery *up = store_delivery_find(upid), *d;
	struct buf b = {0};
	const char *data;
	size_t len = 0, n = 0;

	CHECKF(ev != NULL && ev->gw == STORE_GW_COMPLETED &&
	    ev->gw_status == 200 && strcmp(ev->type, "api.result") == 0 &&
	    ev->ndeliveries == 3, "%s", why);
	if (ev == NULL)
		return;
	CHECKF(up != NULL && up->upstream && up->status == STORE_DELIVERED &&
	    ev->deliveries == up, "%s: upstream call", why);
	for (d = ev->deliveries; d != NULL; d = d->next_in_event) {
		CHECKF(store_delivery_find(d->id) == d, "%s: lookup", why);
		n++;
	}
	CHECKF(n == 3 && deliveries_sorted(), "%s: %zu deliveries", why, n);
	CHECKF(walks_match_scan(ev->client_id, gw_types, 3, ev->deliveries->
	    next_in_event->endpoint != NULL ? ev->deliveries->next_in_event->
	    endpoint->id : 0), "%s: list walks", why);
	data = store_event_data(ev, &b, &len);
	CHECKF(data != NULL && len == 8 && memcmp(data, "{\"ok\":1}", 8) == 0,
	    "%s: data", why);
	buf_free(&b);
}

/* The failed request's checks: its type, state, three deliveries, the
 * answer read back from its record, the walks. */
static void
check_failed(uint64_t evid, uint64_t epid, const char *why)
{
	struct event *ev = store_event_find(evid);
	struct delivery *d;
	struct buf b = {0};
	const char *data;
	size_t len = 0, n = 0;

	CHECKF(ev != NULL && ev->gw == STORE_GW_FAILED &&
	    ev->gw_status == 503 && strcmp(ev->type, "api.result.failed") ==
	    0 && ev->ndeliveries == 3 && ev->pending == 0, "%s", why);
	if (ev == NULL)
		return;
	for (d = ev->deliveries; d != NULL; d = d->next_in_event)
		n++;
	/* Nothing pending: the payload is read from the event's newest
	 * record, the completion. */
	data = store_event_data(ev, &b, &len);
	CHECKF(n == 3 && data != NULL && len == 9 &&
	    memcmp(data, "{\"err\":1}", 9) == 0, "%s: data %.*s", why,
	    data != NULL ? (int)len : 0, data != NULL ? data : "");
	buf_free(&b);
	CHECKF(deliveries_sorted() && walks_match_scan("gw", gw_types, 3,
	    epid), "%s: list walks", why);
}

/*
 * A request that fails (TYPE.failed) while a compaction runs: it moves to
 * its new type's list, behind a newer event of its old type; the
 * compaction, whose child saw the request forwarding, takes the
 * completion's record and deliveries from the tail; a reopen finds it
 * failed once with all its deliveries.
 */
static void
test_gateway_failed_compacting(uint64_t eid)
{
	static const char desc[] = "{\"route\":\"/api/\",\"callback\":null}";
	char err[256];
	struct client *c = store_client_find("gw", 2);
	struct endpoint *e = store_endpoint_find(eid), *eps[1];
	struct event *ev;
	struct delivery *d;
	struct store_attempt a;
	uint64_t evid;
	int r, polls;

	CHECK(c != NULL && e != NULL);
	if (c == NULL || e == NULL)
		return;
	eps[0] = e;
	ev = store_request_create(c, "api.result", desc, sizeof(desc) - 1,
	    "http://u.example/foo", util_wall_ms());
	CHECK(ev != NULL);
	if (ev == NULL)
		return;
	evid = ev->id;
	CHECK(store_event_create(c, "api.result", 10, "{}", 2, eps, 1, NULL,
	    NULL, 0, util_wall_ms()) != NULL);
	CHECK(walks_match_scan("gw", gw_types, 3, eid));
	CHECK(store_sync() == 0);
	CHECK(store_compact_start(util_wall_ms(), 3600000, 1) == 1);
	/* Before the first poll: whether or not the child is done, the
	 * completion is past the journal it copies. */
	CHECK(store_request_complete(ev, 1, 503, "api.result.failed", 17,
	    "{\"err\":1}", 9, eps, 1, "http://cb.example/bar",
	    util_wall_ms()) == 0);
	CHECK(walks_match_scan("gw", gw_types, 3, eid));
	memset(&a, 0, sizeof(a));
	a.status = 503;
	for (d = ev->deliveries; d != NULL; d = d->next_in_event) {
		a.at = util_wall_ms();
		a.new_status = d->upstream ? STORE_FAILED : STORE_DELIVERED;
		CHECK(store_delivery_attempted(d, &a) == 0);
	}
	for (polls = 0, r = 0; polls < 500 && r == 0; polls++) {
		r = store_compact_poll(err, sizeof(err));
		if (r == 0)
			nanosleep(&(struct timespec){ .tv_nsec = 10000000 },
			    NULL);
	}
	CHECKF(r == 1, "%s", err);
	check_failed(evid, eid, "failed during a compaction");
	CHECK(store_sync() == 0);
	CHECKF(reopen(err, sizeof(err)) == 0, "%s", err);
	check_failed(evid, eid, "failed during a compaction, reopened");
}

/*
 * Gateway requests (contract §14): a request is its upstream call until it
 * completes; a crash after the upstream's answer was recorded but before
 * the completion calls the upstream again; the completion survives a
 * reopen and a compaction, whose journal holds its deliveries (newer than
 * the events after the request) with the request.
 */
static void
test_gateway_requests(void)
{
	static const char desc[] = "{\"route\":\"/api/\",\"callback\":null}";
	char err[256];
	uint8_t h[32] = { 9 };
	struct client *c;
	struct endpoint *e;
	struct event *ev, *mid;
	struct delivery *up;
	struct store_attempt a;
	uint64_t evid, upid, eid;
	int r, polls;

	CHECKF(reopen(err, sizeof(err)) == 0, "%s", err);
	c = store_client_create("gw", "g", h, "whsec_x");
	e = c != NULL ? make_endpoint(c, "http://example.com/gw", "api.*") :
	    NULL;
	CHECK(e != NULL);
	if (e == NULL)
		return;
	eid = e->id;
	ev = store_request_create(c, "api.result", desc, sizeof(desc) - 1,
	    "http://u.example/foo", util_wall_ms());
	CHECK(ev != NULL && ev->gw == STORE_GW_FORWARDING &&
	    ev->deliveries != NULL && ev->deliveries->upstream &&
	    ev->deliveries->next_in_event == NULL);
	if (ev == NULL)
		return;
	evid = ev->id;
	upid = ev->deliveries->id;
	/* An event between the request and its completion. */
	{
		struct endpoint *eps[1] = { e };

		mid = store_event_create(c, "api.other", 9, "{}", 2, eps, 1,
		    NULL, NULL, 0, util_wall_ms());
		CHECK(mid != NULL);
	}
	/* The upstream answered; a crash came before the completion. */
	memset(&a, 0, sizeof(a));
	a.at = util_wall_ms();
	a.status = 200;
	a.new_status = STORE_DELIVERED;
	CHECK(store_delivery_attempted(store_delivery_find(upid), &a) == 0);
	CHECK(store_sync() == 0);
	CHECKF(reopen(err, sizeof(err)) == 0, "%s", err);
	ev = store_event_find(evid);
	up = store_delivery_find(upid);
	CHECK(ev != NULL && ev->gw == STORE_GW_FORWARDING && up != NULL &&
	    up->upstream && up->status == STORE_PENDING);
	if (ev == NULL || up == NULL)
		return;
	{
		size_t len = 0;
		struct buf b = {0};
		const char *d = store_event_data(ev, &b, &len);

		CHECK(d != NULL && len == sizeof(desc) - 1 &&
		    memcmp(d, desc, len) == 0);
		buf_free(&b);
	}
	/* The completion, with the endpoint and a one-off. */
	e = store_endpoint_find(eid);
	CHECK(e != NULL);
	{
		struct endpoint *eps[1] = { e };

		CHECK(store_request_complete(ev, 0, 200, "api.result", 10,
		    "{\"ok\":1}", 8, eps, 1, "http://cb.example/bar",
		    util_wall_ms()) == 0);
		/* Once only. */
		CHECK(store_request_complete(ev, 0, 200, "api.result", 10,
		    "{}", 2, eps, 1, NULL, util_wall_ms()) == -1 &&
		    errno == EINVAL);
	}
	a.at = util_wall_ms();
	CHECK(store_delivery_attempted(store_delivery_find(upid), &a) == 0);
	check_completed(evid, upid, "in memory");
	CHECK(store_sync() == 0);
	CHECKF(reopen(err, sizeof(err)) == 0, "%s", err);
	check_completed(evid, upid, "after a reopen");
	CHECK(store_compact_start(util_wall_ms(), 1000, 1) == 1);
	for (polls = 0, r = 0; polls < 500 && r == 0; polls++) {
		r = store_compact_poll(err, sizeof(err));
		if (r == 0)
			nanosleep(&(struct timespec){ .tv_nsec = 10000000 },
			    NULL);
	}
	CHECKF(r == 1, "%s", err);
	check_completed(evid, upid, "after a compaction");
	CHECKF(reopen(err, sizeof(err)) == 0, "%s", err);
	check_completed(evid, upid, "after a compaction and a reopen");
	test_gateway_failed_compacting(eid);
}

/* One record line as rec_write makes it: checksum, space, JSON, newline. */
static size_t
tail_line(char out[512], const char *json)
{
	uint32_t c = crc32(json, strlen(json));

	return (size_t)snprintf(out, 512, "%08x %.400s\n", (unsigned)c, json);
}

/*
 * The catch-up of a compaction: an event goes byte for byte (a "prev" in
 * its data untouched), an attempt's "prev" into the pre-fork journal is
 * looked up by its delivery, one into the tail moves with the records
 * before it, including one that got shorter (a new offset of fewer digits:
 * the old code shifted every tail offset by one constant), and each
 * rewritten record has a valid checksum. Copied in two rounds.
 */
static void
test_tail_copy(void)
{
	static const struct compact_pair dmap[] = { { 0x10, 7 },
	    { 0x20, 99 } };
	char src[1100], dst[1100], l[4][512], got[4096], want[512];
	size_t len[4], i;
	off_t at[4], pos = 1000000;
	struct tail_copy tc;
	int sfd, dfd;
	ssize_t n;

	snprintf(src, sizeof(src), "%s/tail.src", tdir);
	snprintf(dst, sizeof(dst), "%s/tail.dst", tdir);
	sfd = open(src, O_RDWR | O_CREAT | O_TRUNC, 0600);
	dfd = open(dst, O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECK(sfd >= 0 && dfd >= 0);
	/* Old offsets from 1,000,000 (7 digits); new ones from 50 (2). */
	len[0] = tail_line(l[0], "{\"t\":\"event\",\"data\":{\"prev\":5}}");
	len[1] = tail_line(l[1], "{\"t\":\"attempt\",\"d\":"
	    "\"dlv_0000000000000020\",\"prev\":123}");
	for (i = 0; i < 2; i++)
		at[i] = i == 0 ? pos : at[i - 1] + (off_t)len[i - 1];
	sprintf(want, "{\"t\":\"attempt\",\"d\":\"dlv_0000000000000020\","
	    "\"prev\":%lld}", (long long)at[1]);
	len[2] = tail_line(l[2], want);
	at[2] = at[1] + (off_t)len[1];
	sprintf(want, "{\"t\":\"attempt\",\"d\":\"dlv_0000000000000020\","
	    "\"prev\":%lld}", (long long)at[2]);
	len[3] = tail_line(l[3], want);
	at[3] = at[2] + (off_t)len[2];
	for (i = 0; i < 4; i++)
		CHECK(pwrite(sfd, l[i], len[i], at[i]) == (ssize_t)len[i]);
	memset(&tc, 0, sizeof(tc));
	tc.src_fd = sfd;
	tc.dst_fd = dfd;
	tc.fork_size = tc.from = pos;
	tc.dst_size = 50;
	tc.shift = 50 - pos;
	tc.dmap = dmap;
	tc.ndmap = 2;
	CHECK(tail_copy_run(&tc, at[2]) == 0);	/* a round */
	CHECK(tail_copy_run(&tc, at[3] + (off_t)len[3]) == 0);	/* the rest */
	n = pread(dfd, got, sizeof(got) - 1, 50);
	CHECK(n > 0);
	got[n > 0 ? n : 0] = '\0';
	/* The event, unchanged. */
	CHECK(strncmp(got, l[0], len[0]) == 0);
	/* The attempts, each at its translated offset, pointing back. */
	{
		const char *p = got + len[0];
		off_t n1 = 50 + (off_t)len[0], n2, n3;
		char line[512];

		tail_line(line, "{\"t\":\"attempt\",\"d\":"
		    "\"dlv_0000000000000020\",\"prev\":99}");
		CHECKF(strncmp(p, line, strlen(line)) == 0, "%s", p);
		CHECK(tail_new_off(&tc, at[1]) == n1);
		n2 = n1 + (off_t)strlen(line);
		CHECK(tail_new_off(&tc, at[2]) == n2);
		p += strlen(line);
		sprintf(want, "{\"t\":\"attempt\",\"d\":"
		    "\"dlv_0000000000000020\",\"prev\":%lld}", (long long)n1);
		tail_line(line, want);
		CHECKF(strncmp(p, line, strlen(line)) == 0, "%s", p);
		n3 = n2 + (off_t)strlen(line);
		CHECK(tail_new_off(&tc, at[3]) == n3);
		p += strlen(line);
		sprintf(want, "{\"t\":\"attempt\",\"d\":"
		    "\"dlv_0000000000000020\",\"prev\":%lld}", (long long)n2);
		tail_line(line, want);
		CHECKF(strcmp(p, line) == 0, "%s", p);
		CHECK(tc.dst_size == n3 + (off_t)strlen(line));
	}
	tail_copy_free(&tc);
	close(sfd);
	close(dfd);
	unlink(src);
	unlink(dst);
}

/*
 * Contract §15: the health ring. Each row notes a delivery end at hour h
 * (status delivered or failed), then reads the counts at hour now; only
 * the hours (now - 24, now] count, and an hour the ring moved past is
 * emptied before reuse.
 */
static void
test_health_ring(void)
{
	static const struct {
		int64_t h;		/* hour of a delivery end; -1: read */
		int st;
		uint64_t del, fail;	/* when reading at hour now */
		int64_t now;
	} rows[] = {
		{ 1000, STORE_DELIVERED, 0, 0, 0 },
		{ 1000, STORE_FAILED, 0, 0, 0 },
		{ 1010, STORE_DELIVERED, 0, 0, 0 },
		{ -1, 0, 2, 1, 1010 },
		{ -1, 0, 2, 1, 1023 },
		{ -1, 0, 1, 0, 1024 },	/* hour 1000 left the window */
		{ 990, STORE_FAILED, 0, 0, 0 },	/* older than the ring */
		{ -1, 0, 1, 0, 1024 },
		{ 1034, STORE_FAILED, 0, 0, 0 },	/* reuses 1010's slot */
		{ -1, 0, 0, 1, 1034 },
		{ -1, 0, 0, 0, 1100 },
	};
	struct endpoint e;
	struct store_health hl;
	size_t i;

	memset(&e, 0, sizeof(e));
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		if (rows[i].h >= 0) {
			health_note_end(&e, rows[i].st,
			    rows[i].h * 3600000 + 5);
			continue;
		}
		store_endpoint_health(&e, rows[i].now * 3600000 + 7, &hl);
		CHECKF(hl.delivered_24h == rows[i].del &&
		    hl.failed_24h == rows[i].fail, "row %zu: %llu/%llu", i,
		    (unsigned long long)hl.delivered_24h,
		    (unsigned long long)hl.failed_24h);
	}
	health_note_attempt(&e, 1, 50);
	health_note_attempt(&e, 1, 40);
	health_note_attempt(&e, 0, 60);
	store_endpoint_health(&e, 0, &hl);
	CHECK(hl.last_success_at == 50 && hl.last_failure_at == 60);
}

/*
 * Contract §17: node_id in the low 8 bits of every new id; ids stay
 * increasing from any floor an id read back set (another node's, or an old
 * store's counter in those bits), including past 256 ids in one ms.
 */
static void
test_node_ids(void)
{
	static const struct {
		unsigned node;
		uint64_t floor;		/* the newest id seen before */
	} cases[] = {
		{ 0, 0 }, { 1, 0 }, { 255, 0 },
		{ 7, (uint64_t)1 << 62 },		/* clock far behind */
		{ 7, ((uint64_t)1 << 62) | 0x07 },	/* own id at the floor */
		{ 7, ((uint64_t)1 << 62) | 0xff },	/* another node's */
		{ 0, ((uint64_t)1 << 62) | 0x1234 },	/* an old counter */
	};
	size_t i, k;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t prev = cases[i].floor;

		store_set_node_id(cases[i].node);
		st_files.last_id = 0;
		seen_id(cases[i].floor);
		for (k = 0; k < 600; k++) {
			uint64_t id = new_id();

			CHECKF((id & 0xff) == cases[i].node && id > prev,
			    "case %zu id %zu: %016llx after %016llx", i, k,
			    (unsigned long long)id, (unsigned long long)prev);
			prev = id;
		}
	}
	store_set_node_id(0);
	st_files.last_id = 0;
}

void
test_store(void)
{
	char err[256];

	snprintf(tdir, sizeof(tdir), "/tmp/hookd-unit-store-%d", (int)getpid());
	CHECK(store_open(tdir, 1, err, sizeof(err), NULL) == 0);
	test_tail_copy();
	store_close();
	test_health_ring();
	test_node_ids();
	test_roundtrip();
	test_torn_and_corrupt();
	test_bad_event();
	test_faults();
	test_compaction();
	test_compact_settle();
	test_compact_drop_steps();
	test_due_after_durable();
	test_gateway_requests();
	store_close();
	{
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", tdir);
		CHECK(system(cmd) == 0);
	}
}
