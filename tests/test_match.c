/*
 * Tests of the matching and list indexes (issue 20 item 6): store_match
 * against a walk of every endpoint with store_endpoint_matches, and each
 * filtered walk against a scan of the whole array: the walk must yield
 * exactly the records of its index (no more: that is the point of it), in
 * id order, as made, after status changes and as replayed.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../store_impl.h"
#include "unit.h"

static char mdir[256];

static int
m_reopen(void)
{
	char err[256];

	store_close();
	return store_open(mdir, 0, err, sizeof(err), NULL);
}

static struct endpoint *
m_endpoint(struct client *c, const char *const *f, size_t nf, int enabled)
{
	struct endpoint tmpl;
	static int seq;
	char url[64];

	memset(&tmpl, 0, sizeof(tmpl));
	snprintf(url, sizeof(url), "http://127.0.0.1:9/%d", seq++);
	tmpl.client = c;
	tmpl.url = url;
	tmpl.events = (char **)(uintptr_t)f;
	tmpl.nevents = nf;
	tmpl.enabled = enabled;
	memcpy(tmpl.secret, "whsec_x", 8);
	return store_endpoint_create(&tmpl);
}

/* store_match(c, type) is what a walk of every endpoint picks. */
static int
m_match_ok(struct client *c, const char *type)
{
	struct endpoint **eps = NULL;
	size_t n = 0, i, k = 0;
	int ok;

	if (store_match(c, type, strlen(type), &eps, &n) != 0)
		return 0;
	ok = 1;
	for (i = 0; i < store_endpoint_count(); i++) {
		struct endpoint *e = store_endpoint_at(i);

		if (e->client != c || !e->enabled ||
		    !store_endpoint_matches(e, type, strlen(type)))
			continue;
		if (k >= n || eps[k] != e)
			ok = 0;
		k++;
	}
	free(eps);
	return ok && k == n;
}

static void
test_match_filters(void)
{
	static const char *const f[][3] = {
		{ "*" }, { "order.*" }, { "order.paid" }, { "ord*" },
		{ "order.paid", "order.*" }, { "user.created", "x" },
		{ "o*", "order.refunded" }, { "order." }, { "", "*" },
		{ "order.paid.late" },
	};
	static const size_t nf[] = { 1, 1, 1, 1, 2, 2, 2, 1, 2, 1 };
	static const char *const types[] = {
		"order.paid", "order.refunded", "order.", "order", "ord", "o",
		"user.created", "x", "order.paid.late", "zzz",
	};
	char longp[260];
	const char *lf[1] = { longp };
	struct client *c[2];
	uint8_t th[32] = { 0x77 };
	size_t i, k, round;
	struct endpoint *e;

	CHECK(m_reopen() == 0);
	for (k = 0; k < 2; k++) {
		char id[8];

		snprintf(id, sizeof(id), "m%zu", k);
		th[1] = (uint8_t)k;
		c[k] = store_client_create(id, NULL, th, "whsec_x");
		CHECK(c[k] != NULL);
		if (c[k] == NULL)
			return;
		for (i = 0; i < 3 * sizeof(nf) / sizeof(nf[0]); i++)
			CHECK(m_endpoint(c[k], f[i % 10], nf[i % 10],
			    i % 7 != 3) != NULL);
	}
	for (round = 0; round < 4; round++) {
		if (round == 1) {
			/* New filters for one, and a disable. */
			struct endpoint t;
			const char *nfl[2] = { "user.*", "order.paid" };

			e = c[0]->ep_head->c_next;
			t = *e;
			t.events = (char **)(uintptr_t)nfl;
			t.nevents = 2;
			CHECK(store_endpoint_update(e, &t) == 0);
			CHECK(store_endpoint_disable(c[0]->ep_tail, NULL) == 0);
		}
		if (round == 2) {
			/* A prefix past the bits: its client walks. */
			memset(longp, 'o', 250);
			longp[250] = '*';
			longp[251] = '\0';
			CHECK(m_endpoint(c[0], lf, 1, 1) != NULL);
			CHECK(c[0]->nscan == 1 && c[1]->nscan == 0);
		}
		if (round == 3) {
			CHECK(m_reopen() == 0);
			c[0] = store_client_find("m0", 2);
			c[1] = store_client_find("m1", 2);
			CHECK(c[0] != NULL && c[1] != NULL && c[0]->nscan == 1);
			if (c[0] == NULL || c[1] == NULL)
				return;
		}
		for (k = 0; k < 2; k++)
			for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
				CHECKF(m_match_ok(c[k], types[i]),
				    "round %zu client %zu type %s", round, k,
				    types[i]);
	}
	/* The client's list: every endpoint, in id order. */
	for (e = c[0]->ep_head, k = 0; e != NULL; e = e->c_next, k++)
		CHECK(e->client == c[0] && (e->c_next == NULL ||
		    e->c_next->id > e->id));
	CHECK(k == c[0]->nendpoints && k == 31);
	/* Deleting the client takes exactly its endpoints. */
	k = store_endpoint_count();
	CHECK(store_client_delete(c[0]) == 0);
	CHECK(store_endpoint_count() == k - 31);
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		CHECK(m_match_ok(c[1], types[i]));
}

/* Walk all deliveries of status s after *after (NULL: all): exactly those
 * the array holds, in order? */
static int
m_status_walk_ok(int s, const uint64_t *after)
{
	struct store_walk w;
	struct delivery *d;
	size_t i = after != NULL ? store_delivery_after(*after) : 0;

	store_walk_deliveries(&w, NULL, NULL, NULL, s, after);
	for (; i < store_delivery_count(); i++) {
		if (store_delivery_at(i)->status != s)
			continue;
		if (store_walk_delivery(&w) != store_delivery_at(i))
			return 0;
	}
	d = store_walk_delivery(&w);
	return d == NULL;
}

static void
test_status_walks(void)
{
	static const size_t sizes[] = { 1, 63, 64, 65, 4097, 20000 };
	size_t c, i, round;

	for (c = 0; c < sizeof(sizes) / sizeof(sizes[0]); c++) {
		size_t n = sizes[c];
		struct endpoint *e, *eps[1];
		struct client *cl;
		uint8_t th[32] = { 0x78, (uint8_t)c };
		const char *star[1] = { "*" };
		char id[16];
		int ok;

		CHECK(m_reopen() == 0);
		snprintf(id, sizeof(id), "st%zu", c);
		cl = store_client_create(id, NULL, th, "whsec_x");
		CHECK(cl != NULL);
		if (cl == NULL)
			return;
		e = m_endpoint(cl, star, 1, 1);
		eps[0] = e;
		for (i = 0; i < n; i++)
			CHECK(store_event_create(cl, "t", 1, "{}", 2, eps, 1,
			    NULL, NULL, 0, util_wall_ms()) != NULL);
		for (round = 0; round < 3; round++) {
			uint64_t mid;

			/* Round 1: the index is built; statuses change. */
			if (round == 1)
				for (i = 0; i < store_delivery_count(); i++) {
					struct delivery *d = store_delivery_at(i);
					struct store_attempt a = {
						.at = util_wall_ms(),
						.new_status = (uint8_t)
						    (i * 7 % 13 == 0 ? 2 :
						    i % 5 == 1 ? 1 : 0),
						.next_at = util_wall_ms(),
					};

					if (a.new_status != 0 || i % 3 == 0)
						store_delivery_attempted(d, &a);
					if (i % 11 == 0 && d->status == 2)
						store_delivery_requeue(d,
						    util_wall_ms());
				}
			if (round == 2)
				CHECK(m_reopen() == 0);
			mid = store_delivery_at(n / 2)->id;
			for (ok = 1, i = 0; i < 3; i++)
				if (!m_status_walk_ok((int)i, NULL) ||
				    !m_status_walk_ok((int)i, &mid))
					ok = 0;
			CHECKF(ok, "size %zu round %zu", n, round);
		}
	}
}

/* Events of a few clients and types: the client and (client, type) walks
 * yield exactly theirs, newest first; the client's delivery walk exactly
 * its deliveries, oldest first; also after a deleted client and a
 * restart. */
static void
test_client_walks(void)
{
	static const char *const ids[] = { "ca", "cb", "cc" };
	static const char *const types[] = { "a", "b", "c.d" };
	struct client *cl[3];
	struct endpoint *eps[3][1];
	const char *star[1] = { "*" };
	uint8_t th[32] = { 0x79 };
	size_t i, k, t, round;

	CHECK(m_reopen() == 0);
	for (k = 0; k < 3; k++) {
		th[1] = (uint8_t)k;
		cl[k] = store_client_create(ids[k], NULL, th, "whsec_x");
		CHECK(cl[k] != NULL);
		if (cl[k] == NULL)
			return;
		eps[k][0] = m_endpoint(cl[k], star, 1, 1);
	}
	for (i = 0; i < 300; i++) {
		k = i * 7 % 3;
		t = i % 3;
		CHECK(store_event_create(cl[k], types[t], strlen(types[t]),
		    "{}", 2, eps[k], i % 4 != 0, i % 5 == 0 ?
		    "http://127.0.0.1:9/x" : NULL, NULL, 0, util_wall_ms()) !=
		    NULL);
	}
	CHECK(store_client_delete(cl[2]) == 0);
	for (round = 0; round < 2; round++) {
		if (round == 1)
			CHECK(m_reopen() == 0);
		for (k = 0; k < 3; k++) {
			struct store_walk w;
			int ok = 1;

			for (t = 0; t <= 3; t++) {
				size_t j = store_event_count();

				store_walk_events(&w, ids[k], t < 3 ? types[t] :
				    NULL, NULL);
				while (j-- > 0) {
					struct event *ev = store_event_at(j);

					if (strcmp(ev->client_id, ids[k]) != 0 ||
					    (t < 3 && strcmp(ev->type,
					    types[t]) != 0))
						continue;
					if (store_walk_event(&w) != ev)
						ok = 0;
				}
				if (store_walk_event(&w) != NULL)
					ok = 0;
			}
			store_walk_deliveries(&w, ids[k], NULL, NULL, -1, NULL);
			for (i = 0; i < store_delivery_count(); i++) {
				struct delivery *d = store_delivery_at(i);

				if (strcmp(d->event->client_id, ids[k]) == 0 &&
				    store_walk_delivery(&w) != d)
					ok = 0;
			}
			if (store_walk_delivery(&w) != NULL)
				ok = 0;
			CHECKF(ok, "client %s round %zu", ids[k], round);
		}
		CHECK(store_client_id_held("cc", 2, util_wall_ms()) == 1);
		CHECK(store_client_id_held("cd", 2, util_wall_ms()) == 0);
	}
}

void
test_match(void)
{
	char cmd[300];

	snprintf(mdir, sizeof(mdir), "/tmp/hookd-unit-match-%d", (int)getpid());
	test_match_filters();
	test_status_walks();
	test_client_walks();
	store_close();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", mdir);
	CHECK(system(cmd) == 0);
}
