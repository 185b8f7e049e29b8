/*
 * The store's compaction cases: included by tests/test_store.c after its
 * helpers (reopen, make_endpoint, file_append, file_size), which these use
 * as the rest of the store's tests do. A file of its own so that each
 * stays under the house's length; not a test_*.c, so the Makefile does not
 * build it alone.
 */

static void
test_compaction(void)
{
	char err[256];
	uint8_t h[32] = { 7 };
	struct client *c;
	struct endpoint *e;
	struct event *ev;
	struct store_attempt a;
	uint64_t keep_id = 0, kept_dlv = 0;
	int i, r, polls;
	struct buf last = {0}, ack = {0}, log = {0};

	CHECK(reopen(err, sizeof(err)) == 0);
	c = store_client_create("comp", "c", h, "whsec_x");
	e = c != NULL ? make_endpoint(c, "http://example.com/", "*") : NULL;
	CHECK(e != NULL);
	for (i = 0; i < 50 && e != NULL; i++) {
		struct endpoint *eps[1] = { e };

		ev = store_event_create(c, "t", 1, "{\"i\":1}", 7, eps, 1,
		    NULL, NULL, 0, util_wall_ms() - 10000);
		CHECK(ev != NULL);
		if (ev == NULL)
			break;
		memset(&a, 0, sizeof(a));
		a.at = util_wall_ms() - 10000;
		a.status = 503;
		a.new_status = STORE_PENDING;
		a.next_at = a.at;
		store_delivery_attempted(ev->deliveries, &a);
		if (i == 25) {
			/* One stays pending with one attempt. */
			keep_id = ev->id;
			kept_dlv = ev->deliveries->id;
			continue;
		}
		a.status = 200;
		a.new_status = STORE_DELIVERED;
		store_delivery_attempted(ev->deliveries, &a);
	}
	CHECK(store_idem_put(c, "key-1", 5, h, 202, "{\"id\":\"x\"}",
	    util_wall_ms()) == 0);
	CHECK(store_compact_start(util_wall_ms(), 1000, 1) == 1);
	/* The first poll marks the few events and starts the copy's
	 * thread. */
	CHECK(store_compact_poll(err, sizeof(err)) == 0 &&
	    !st_compact.marking && st_compact.copying);
	/* Work after the fork point must survive the swap. */
	{
		struct endpoint *eps[1] = { e };

		ev = store_event_create(c, "after", 5, "{}", 2, eps, 1, NULL,
		    NULL, 0, util_wall_ms());
		CHECK(ev != NULL);
		memset(&a, 0, sizeof(a));
		a.at = util_wall_ms();
		a.status = 500;
		a.new_status = STORE_PENDING;
		a.next_at = a.at + 1000;
		CHECK(store_delivery_attempted(store_delivery_find(kept_dlv),
		    &a) == 0);
	}
	for (polls = 0, r = 0; polls < 500 && r == 0; polls++) {
		r = store_compact_poll(err, sizeof(err));
		if (r == 0)
			nanosleep(&(struct timespec){ .tv_nsec = 10000000 }, NULL);
	}
	CHECKF(r == 1, "%s", err);
	CHECK(store_event_find(keep_id) != NULL);
	CHECK(store_event_count() == 2 + 1 /* the first test's */);
	CHECK(reopen(err, sizeof(err)) == 0);
	/* The status index is built by the start, not by the first
	 * ?status= page's loop pass (issue 20 item 7). */
	CHECK(st_index.sidx_built);
	CHECK(store_event_find(keep_id) != NULL);
	CHECK(store_event_count() == 3);
	CHECK(store_delivery_find(kept_dlv) != NULL &&
	    store_delivery_find(kept_dlv)->status == STORE_PENDING &&
	    store_delivery_find(kept_dlv)->attempts == 2);
	CHECK(store_delivery_history(store_delivery_find(kept_dlv), &last, &ack,
	    &log) == 0);
	CHECKF(log.data != NULL && strstr(log.data, "503") != NULL &&
	    strstr(log.data, "500") != NULL, "%s", log.data);
	{
		int status;
		const char *body;

		uint8_t other[32] = { 8 };

		CHECK(store_idem_find(store_client_find("comp", 4), "key-1", 5,
		    h, util_wall_ms(), &status, &body) == 0 && status == 202);
		/* The request's hash survives replay and compaction. */
		CHECK(store_idem_find(store_client_find("comp", 4), "key-1", 5,
		    other, util_wall_ms(), &status, &body) == 1);
	}
	buf_free(&last);
	buf_free(&ack);
	buf_free(&log);
}

/* The payload of event ev reads back as {"i":i}. */
static int
settle_data_ok(struct event *ev, int i)
{
	struct buf b = {0};
	char want[32];
	size_t len = 0;
	const char *p;
	int ok;

	snprintf(want, sizeof(want), "{\"i\":%d}", i);
	p = ev != NULL ? store_event_data(ev, &b, &len) : NULL;
	ok = p != NULL && len == strlen(want) && memcmp(p, want, len) == 0;
	buf_free(&b);
	return ok;
}

/* The attempt log of ev's delivery holds want (a status). */
static int
settle_log_has(struct event *ev, const char *want)
{
	struct buf last = {0}, ack = {0}, log = {0};
	int ok;

	ok = ev != NULL && store_delivery_history(ev->deliveries, &last, &ack,
	    &log) == 0 && log.data != NULL && strstr(log.data, want) != NULL;
	buf_free(&last);
	buf_free(&ack);
	buf_free(&log);
	return ok;
}

/* Poll a compaction until it settles (returns 1) or, when stop_settling,
 * until its offsets start moving; the poll's last result. */
static int
settle_poll(int stop_settling, char *err, size_t errsz)
{
	int r = 0, polls;

	for (polls = 0; polls < 30000 && r == 0; polls++) {
		r = store_compact_poll(err, errsz);
		/* Past the drop's steps (which come first): the cursor
		 * has moved a step's events. */
		if (r == 0 && stop_settling && st_compact.settling &&
		    st_compact.settle_i > 0)
			break;
		if (r == 0)
			nanosleep(&(struct timespec){ .tv_nsec = 500000 },
			    NULL);
	}
	return r;
}

/*
 * A compaction's settling: once the new journal is renamed in, the offsets
 * in memory move over STORE_SETTLE_PER_PASS events a poll. Before the
 * cursor reaches an event, its payload, its attempt log and a new attempt
 * (whose "prev" must point into the new file) are right, and so after; no
 * compaction starts meanwhile; expired events are gone; a restart in the
 * middle loses nothing.
 */
static void
test_compact_settle(void)
{
	enum { NEV = 2 * STORE_SETTLE_PER_PASS + 300, OLD = 100 };
	char err[256];
	uint8_t h[32] = { 5 };
	struct client *c;
	struct endpoint *e, *eps[1];
	struct event *ev, *late, *after;
	struct store_attempt a;
	uint64_t ids[NEV], after_id;
	int i, r, bad;

	CHECK(reopen(err, sizeof(err)) == 0);
	c = store_client_create("settle", "s", h, "whsec_x");
	e = c != NULL ? make_endpoint(c, "http://example.com/s", "*") : NULL;
	CHECK(e != NULL);
	if (e == NULL)
		return;
	eps[0] = e;
	for (i = 0; i < NEV; i++) {
		char data[32];
		/* The first OLD are past retention; the last is left
		 * pending. */
		int64_t at = util_wall_ms() - (i < OLD ? 100000 : 0);

		snprintf(data, sizeof(data), "{\"i\":%d}", i);
		ev = store_event_create(c, "t", 1, data, strlen(data), eps, 1,
		    NULL, NULL, 0, at);
		CHECK(ev != NULL);
		if (ev == NULL)
			return;
		ids[i] = ev->id;
		memset(&a, 0, sizeof(a));
		a.at = at;
		a.status = i == NEV - 1 ? 503 : 200;
		a.new_status = i == NEV - 1 ? STORE_PENDING : STORE_DELIVERED;
		a.next_at = i == NEV - 1 ? at + 3600000 : 0;
		CHECK(store_delivery_attempted(ev->deliveries, &a) == 0);
	}
	/* Payloads are read from the journal, not from memory. */
	CHECK(reopen(err, sizeof(err)) == 0);
	c = store_client_find("settle", 6);
	/* Marking in steps (issue 20): 64 records a poll (32 events of one
	 * delivery), no copy until all are; a marked event is frozen (no
	 * requeue). */
	compact_mark_per_pass = 64;
	CHECK(store_compact_start(util_wall_ms(), 50000, 1) == 1);
	r = store_compact_poll(err, sizeof(err));
	CHECKF(r == 0 && st_compact.marking && !st_compact.copying &&
	    st_compact.mark_i == 32, "%d %s", r, err);
	ev = store_event_find(ids[0]);
	CHECK(ev != NULL && ev->dropping && !store_event_find(ids[64])->dropping);
	errno = 0;
	CHECK(ev != NULL && store_delivery_requeue(ev->deliveries,
	    util_wall_ms()) == -1 && errno == ENOENT);
	errno = 0;
	CHECK(store_compact_start(util_wall_ms(), 50000, 1) == -1 &&
	    errno == EBUSY);
	/* Ahead of the cursor, about to change: planned as it is now, the
	 * change in the tail. A requeue plans nothing (the cursor plans the
	 * delivery pending). */
	ev = store_event_find(ids[NEV - 3]);
	memset(&a, 0, sizeof(a));
	a.at = util_wall_ms();
	a.status = 201;
	a.new_status = STORE_DELIVERED;
	CHECK(ev != NULL && !ev->moved &&
	    store_delivery_attempted(ev->deliveries, &a) == 0 && ev->moved &&
	    st_compact.plan.nearly == 2);
	ev = store_event_find(ids[NEV - 4]);
	CHECK(ev != NULL && store_delivery_requeue(ev->deliveries,
	    util_wall_ms() + 3600000) == 0 && !ev->moved);
	for (i = 0; i < NEV && st_compact.marking; i++)
		CHECK(store_compact_poll(err, sizeof(err)) == 0);
	CHECKF(!st_compact.marking && st_compact.copying &&
	    st_compact.ndropping == OLD, "%zu", st_compact.ndropping);
	CHECK(!store_event_find(ids[NEV - 3])->moved);
	compact_mark_per_pass = 32768;
	/* An event and an attempt in the tail (written after the fork). */
	after = store_event_create(c, "t", 1, "{\"i\":-1}", 8, NULL, 0,
	    "http://example.com/one", NULL, 0, util_wall_ms());
	CHECK(after != NULL);
	after_id = after != NULL ? after->id : 0;
	r = settle_poll(1, err, sizeof(err));
	CHECKF(r == 0 && st_compact.settling, "%d %s", r, err);
	CHECK(st_compact.settle_i == STORE_SETTLE_PER_PASS &&
	    st_compact.settle_n > st_compact.settle_i);
	CHECK(store_event_find(ids[0]) == NULL &&
	    store_event_find(ids[OLD - 1]) == NULL);
	/* No second compaction while settling. */
	errno = 0;
	CHECK(store_compact_start(util_wall_ms(), 50000, 1) == -1 &&
	    errno == EBUSY);
	/* Not reached by the cursor: read, then written to. */
	late = store_event_find(ids[NEV - 1]);
	CHECK(late != NULL && !late->moved);
	CHECK(settle_data_ok(late, NEV - 1) && late->moved);
	CHECK(settle_log_has(late, "503"));
	ev = store_event_find(ids[NEV - 2]);
	CHECK(ev != NULL && settle_log_has(ev, "200") && ev->moved);
	memset(&a, 0, sizeof(a));
	a.at = util_wall_ms();
	a.status = 202;
	a.new_status = STORE_DELIVERED;
	CHECK(store_delivery_attempted(late->deliveries, &a) == 0);
	CHECK(settle_log_has(late, "503") && settle_log_has(late, "202"));
	/* Passed by the cursor. */
	CHECK(settle_data_ok(store_event_find(ids[OLD]), OLD));
	CHECK(settle_log_has(store_event_find(ids[OLD + 1]), "200"));
	after = store_event_find(after_id);
	CHECK(after != NULL && after->deliveries != NULL);
	r = settle_poll(0, err, sizeof(err));
	CHECKF(r == 1 && strstr(err, "100 events dropped") != NULL, "%s", err);
	CHECK(!st_compact.settling && st_compact.plan.map == NULL);
	for (i = OLD, bad = 0; i < NEV; i++) {
		ev = store_event_find(ids[i]);
		if (ev == NULL || ev->moved || !settle_data_ok(ev, i) ||
		    (i % 97 == 0 && !settle_log_has(ev, "200")))
			bad++;
	}
	CHECK(bad == 0);
	CHECK(settle_log_has(store_event_find(ids[NEV - 1]), "202"));
	{
		struct buf b = {0};
		size_t len;
		const char *p = store_event_data(store_event_find(after_id), &b,
		    &len);

		CHECK(p != NULL && len == 8 && memcmp(p, "{\"i\":-1}", 8) == 0);
		buf_free(&b);
	}

	/* Again, stopped by a restart while settling: nothing lost. (The
	 * map of the first is unmapped on a thread: no compaction starts
	 * before that is done.) */
	file_release_finished(1);
	CHECK(store_compact_start(util_wall_ms(), 50000, 1) == 1);
	r = settle_poll(1, err, sizeof(err));
	CHECKF(r == 0 && st_compact.settling, "%d %s", r, err);
	CHECK(reopen(err, sizeof(err)) == 0);
	CHECK(!st_compact.settling);
	for (i = OLD, bad = 0; i < NEV; i++) {
		ev = store_event_find(ids[i]);
		if (ev == NULL || !settle_data_ok(ev, i))
			bad++;
	}
	CHECK(bad == 0);
	CHECK(settle_log_has(store_event_find(ids[NEV - 1]), "503") &&
	    settle_log_has(store_event_find(ids[NEV - 1]), "202"));
	CHECK(store_event_find(after_id) != NULL);
	/* What changed while marking, planned ahead or not. */
	ev = store_event_find(ids[NEV - 3]);
	CHECK(ev != NULL && settle_log_has(ev, "200") &&
	    settle_log_has(ev, "201") && ev->deliveries->attempts == 2 &&
	    ev->deliveries->status == STORE_DELIVERED);
	ev = store_event_find(ids[NEV - 4]);
	CHECK(ev != NULL && ev->deliveries->status == STORE_PENDING &&
	    ev->deliveries->next_at > util_wall_ms() + 3000000);
	/* And a compaction after a settled one starts. */
	CHECK(store_compact_start(util_wall_ms(), 50000, 1) == 1);
	r = settle_poll(0, err, sizeof(err));
	CHECKF(r == 1, "%d %s", r, err);
	CHECK(settle_data_ok(store_event_find(ids[NEV - 1]), NEV - 1));
}

/* The deliveries array is in id order (lookups bisect it). */
static int
deliveries_sorted(void)
{
	size_t i;

	for (i = 1; i < store_delivery_count(); i++)
		if (store_delivery_at(i - 1)->id >= store_delivery_at(i)->id)
			return 0;
	return 1;
}

/* Events of test_compact_drop_steps: its ids, which expire, whose
 * delivery failed, and which went to dropb's endpoint; pending ones. */
enum { DS_N = 600, DS_MAX = DS_N + 200 };
static struct {
	uint64_t ev[DS_MAX], dlv[DS_MAX];
	int old[DS_MAX], failed[DS_MAX], to_b[DS_MAX], oneoff[DS_MAX];
	int client_a[DS_MAX], type_u[DS_MAX];
	size_t n;
	struct endpoint *ea, *eb;
} ds;

/* Count what walk w yields, 0 when it yields a dropped event or delivery,
 * a record twice or out of order (events newest first, deliveries oldest
 * first): -1 then. */
static long
ds_walk_events(const char *client, const char *type)
{
	struct store_walk w;
	struct event *ev;
	uint64_t prev = UINT64_MAX;
	long n = 0;

	store_walk_events(&w, client, type, NULL);
	while ((ev = store_walk_event(&w)) != NULL) {
		if (ev->dropping || ev->id >= prev)
			return -1;
		prev = ev->id;
		n++;
	}
	return n;
}

static long
ds_walk_dlv(const char *client, const uint64_t *ep, const uint64_t *evid,
    int status)
{
	struct store_walk w;
	struct delivery *d;
	uint64_t prev = 0;
	long n = 0;

	store_walk_deliveries(&w, client, ep, evid, status, NULL);
	while ((d = store_walk_delivery(&w)) != NULL) {
		if (d->event->dropping || d->id <= prev)
			return -1;
		prev = d->id;
		n++;
	}
	return n;
}

/* Every lookup, list and count agrees with what is kept. 1 when so. */
static int
ds_consistent(const char *when)
{
	long want_a = 0, want_au = 0, want_ad = 0, want_b = 0, want_fail = 0;
	long want_all = 0, want_del = 0, got;
	size_t i;
	int ok = 1;

	for (i = 0; i < ds.n; i++) {
		struct event *ev = store_event_find(ds.ev[i]);
		struct delivery *d = store_delivery_find(ds.dlv[i]);

		if (ds.old[i]) {
			if (ev != NULL || d != NULL) {
				fprintf(stderr, "%s: dropped %zu found\n", when,
				    i);
				ok = 0;
			}
			continue;
		}
		if (ev == NULL || d == NULL || d->event != ev) {
			fprintf(stderr, "%s: kept %zu not found\n", when, i);
			ok = 0;
		}
		want_all++;
		want_a += ds.client_a[i];
		want_au += ds.client_a[i] && ds.type_u[i];
		want_ad += ds.client_a[i];
		want_b += ds.to_b[i];
		want_fail += ds.failed[i];
		want_del += !ds.failed[i] && !(ds.n > DS_N && i >= DS_N);
		if (i % 37 == 0 && ds_walk_dlv(NULL, NULL, &ds.ev[i], -1) != 1) {
			fprintf(stderr, "%s: ?event= of %zu\n", when, i);
			ok = 0;
		}
	}
#define DS_EQ(expr, want) do { got = (expr); if (got != (want)) { \
	fprintf(stderr, "%s: %s: %ld, want %ld\n", when, #expr, got, \
	    (long)(want)); ok = 0; } } while (0)
	DS_EQ(ds_walk_events(NULL, NULL), want_all);
	DS_EQ(ds_walk_events("dropa", NULL), want_a);
	DS_EQ(ds_walk_events("dropa", "u"), want_au);
	DS_EQ(ds_walk_dlv("dropa", NULL, NULL, -1), want_ad);
	if (ds.eb != NULL)
		DS_EQ(ds_walk_dlv(NULL, &ds.eb->id, NULL, -1), want_b);
	DS_EQ(ds_walk_dlv(NULL, NULL, NULL, STORE_FAILED), want_fail);
	DS_EQ(ds_walk_dlv(NULL, NULL, NULL, STORE_DELIVERED), want_del);
	DS_EQ((long)store_pending_count(), (long)(ds.n - DS_N));
#undef DS_EQ
	if (!deliveries_sorted()) {
		fprintf(stderr, "%s: deliveries out of order\n", when);
		ok = 0;
	}
	for (i = 1; i < store_event_count(); i++)
		if (store_event_at(i - 1)->id >= store_event_at(i)->id) {
			fprintf(stderr, "%s: events out of order\n", when);
			ok = 0;
			break;
		}
	return ok;
}

/* A new pending event of dropa (to its endpoint), kept. */
static void
ds_add_new(struct client *a)
{
	struct endpoint *eps[1] = { ds.ea };
	struct event *ev = store_event_create(a, "t", 1, "{}", 2, eps, 1, NULL,
	    NULL, 0, util_wall_ms());

	CHECK(ev != NULL);
	if (ev == NULL)
		return;
	ds.ev[ds.n] = ev->id;
	ds.dlv[ds.n] = ev->deliveries->id;
	ds.client_a[ds.n] = 1;
	ds.n++;
}

/*
 * Dropping in steps (issue 20 item 7): with a small per-pass budget, a
 * compaction that drops most events takes many polls after the rename;
 * between any two, dropped events and deliveries are found by no lookup
 * and no list (events, by client, by client and type; deliveries by
 * client, endpoint, status, event), kept ones by all, the arrays stay in
 * id order, the pending count is right, events made meanwhile are kept
 * and listed, and an endpoint deleted midway (its list under the drop's
 * cursor) is no trouble. At the end the counts are exact, and everything
 * dropped is freed (the ASan build's leak check).
 */
static void
test_compact_drop_steps(void)
{
	char err[256];
	uint8_t h[32] = { 9 }, hb[32] = { 10 };
	struct client *a, *b;
	struct store_attempt at;
	size_t i, polls, drop_polls = 0;
	int r = 0, ok = 1, deleted = 0, stage;
	uint64_t eb_id, ea_id;
	char saved[sizeof(tdir)], cmd[300];

	/* A store of its own, so that every count is this test's. */
	memcpy(saved, tdir, sizeof(saved));
	snprintf(tdir, sizeof(tdir), "/tmp/hookd-unit-drop-%d", (int)getpid());
	CHECK(reopen(err, sizeof(err)) == 0);
	memset(&ds, 0, sizeof(ds));
	a = store_client_create("dropa", "a", h, "whsec_x");
	b = store_client_create("dropb", "b", hb, "whsec_y");
	ds.ea = a != NULL ? make_endpoint(a, "http://example.com/a", "*") :
	    NULL;
	ds.eb = b != NULL ? make_endpoint(b, "http://example.com/b", "*") :
	    NULL;
	CHECK(ds.ea != NULL && ds.eb != NULL);
	if (ds.ea == NULL || ds.eb == NULL)
		return;
	eb_id = ds.eb->id;
	for (i = 0; i < DS_N; i++) {
		/* Most expire; every seventh is recent, so kept and dropped
		 * records interleave in every list. */
		int old = i % 7 != 3;
		int64_t t = util_wall_ms() - (old ? 100000 : 0);
		struct client *c = i % 2 ? a : b;
		struct endpoint *eps[1] = { c == a ? ds.ea : ds.eb };
		int oneoff = c == a && i % 6 == 1;
		struct event *ev = store_event_create(c, i % 3 ? "t" : "u", 1,
		    "{}", 2, oneoff ? NULL : eps, oneoff ? 0 : 1,
		    oneoff ? "http://example.com/one" : NULL, NULL, 0, t);

		CHECK(ev != NULL);
		if (ev == NULL)
			return;
		ds.ev[i] = ev->id;
		ds.dlv[i] = ev->deliveries->id;
		ds.old[i] = old;
		ds.client_a[i] = c == a;
		ds.type_u[i] = i % 3 == 0;
		ds.to_b[i] = c == b && !old;
		ds.oneoff[i] = oneoff;
		ds.failed[i] = i % 5 == 0;
		memset(&at, 0, sizeof(at));
		at.at = t;
		at.status = ds.failed[i] ? 410 : 200;
		at.new_status = ds.failed[i] ? STORE_FAILED : STORE_DELIVERED;
		CHECK(store_delivery_attempted(ev->deliveries, &at) == 0);
	}
	ds.n = DS_N;
	/* The status index is in use (built) when the compaction starts. */
	CHECK(ds_walk_dlv(NULL, NULL, NULL, STORE_FAILED) == DS_N / 5 &&
	    st_index.sidx_built);
	compact_drop_per_pass = 16;
	CHECK(store_compact_start(util_wall_ms(), 50000, 1) == 1);
	for (polls = 0; polls < 30000 && r == 0; polls++) {
		/* As the loop's passes do (deliver_tick). */
		(void)store_reap(STORE_REAP_PER_PASS);
		r = store_compact_poll(err, sizeof(err));
		if (st_drop.stage != DROP_NONE) {
			char when[64];

			drop_polls++;
			snprintf(when, sizeof(when), "drop poll %zu stage %d",
			    drop_polls, st_drop.stage);
			if (ok)
				ok = ds_consistent(when);
			if (drop_polls % 5 == 0 && ds.n < DS_MAX)
				ds_add_new(a);
			/* dropb's endpoint goes while the cursor may be on
			 * its list (the endpoints' lists come first). */
			if (drop_polls == 12 && !deleted) {
				CHECK(store_endpoint_delete(ds.eb) == 0);
				ds.eb = NULL;
				deleted = 1;
				for (i = 0; i < DS_N; i++)
					ds.to_b[i] = 0;
			}
		} else if (r == 0)
			nanosleep(&(struct timespec){ .tv_nsec = 500000 },
			    NULL);
	}
	compact_drop_per_pass = 16384;
	CHECKF(r == 1, "%d %s", r, err);
	CHECK(ok);
	/* Several hundred records at 16 a poll. */
	CHECKF(drop_polls > 100 && deleted, "%zu polls", drop_polls);
	CHECK(st_drop.stage == DROP_NONE && !st_journal.drop_hidden &&
	    st_compact.ndropping == 0);
	CHECK(ds_consistent("after"));
	{
		size_t kept_ev = 0, kept_a = 0, kept_a_ep = 0;
		const struct cidx *ci = cidx_find("dropa", 5);

		for (i = 0; i < ds.n; i++) {
			kept_ev += !ds.old[i];
			kept_a += !ds.old[i] && ds.client_a[i];
			kept_a_ep += !ds.old[i] && ds.client_a[i] &&
			    !ds.oneoff[i];
		}
		CHECKF(store_event_count() == kept_ev, "%zu %zu",
		    store_event_count(), kept_ev);
		CHECKF(ds.ea->ndlv == kept_a_ep, "%zu %zu", ds.ea->ndlv,
		    kept_a_ep);
		CHECK(ci != NULL && ci->nev == kept_a && ci->ndlv == kept_a);
		CHECK(st_index.sidx_built);
		CHECK(store_endpoint_find(eb_id) == NULL);
	}
	/* A restart reads the same. */
	ea_id = ds.ea->id;
	CHECK(reopen(err, sizeof(err)) == 0);
	ds.ea = store_endpoint_find(ea_id);
	CHECK(ds.ea != NULL && ds_consistent("reopened"));
	/* A stop midway (hookd stopped, or killed: the new journal is in
	 * place either way) in each stage: the reopened store holds what
	 * was kept, and nothing is leaked or freed twice (ASan). */
	for (stage = DROP_EP; stage <= DROP_FREE; stage++) {
		struct client *sa = store_client_find("dropa", 5);
		size_t nev0 = store_event_count(), ndlv0 = ds.ea->ndlv;
		char when[32];

		for (i = 0; i < 40 && sa != NULL; i++) {
			struct endpoint *eps[1] = { ds.ea };
			struct event *ev = store_event_create(sa, "t", 1, "{}",
			    2, eps, 1, NULL, NULL, 0, util_wall_ms() - 100000);

			CHECK(ev != NULL);
			if (ev == NULL)
				break;
			memset(&at, 0, sizeof(at));
			at.at = util_wall_ms() - 100000;
			at.status = 200;
			at.new_status = STORE_DELIVERED;
			CHECK(store_delivery_attempted(ev->deliveries, &at) ==
			    0);
		}
		compact_drop_per_pass = 4;
		CHECK(store_compact_start(util_wall_ms(), 50000, 1) == 1);
		for (polls = 0, r = 0; polls < 30000 && r == 0 &&
		    st_drop.stage != stage; polls++) {
			r = store_compact_poll(err, sizeof(err));
			if (r == 0 && st_drop.stage == DROP_NONE)
				nanosleep(&(struct timespec){ .tv_nsec =
				    500000 }, NULL);
		}
		compact_drop_per_pass = 16384;
		CHECKF(r == 0 && st_drop.stage == stage, "%d %d %s", r,
		    st_drop.stage, err);
		CHECK(reopen(err, sizeof(err)) == 0);
		ds.ea = store_endpoint_find(ea_id);
		snprintf(when, sizeof(when), "stopped in stage %d", stage);
		CHECK(ds.ea != NULL && ds_consistent(when) &&
		    store_event_count() == nev0 && ds.ea->ndlv == ndlv0);
	}
	store_close();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tdir);
	CHECK(system(cmd) == 0);
	memcpy(tdir, saved, sizeof(tdir));
	CHECK(reopen(err, sizeof(err)) == 0);
}
