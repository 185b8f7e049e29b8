/*
 * Tests of the indexes that keep costs growing with the work (issue 20):
 * the growable hash table, the Idempotency-Keys' table and expiry queue,
 * the token table, an event's delivery list and the endpoints' and
 * clients' delivery lists (built on create and on replay, emptied by
 * deletes), and the engine's doubly linked wait lists.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../store_impl.h"
#include "../deliver_queue.c"
#include "unit.h"

static char xdir[256];

static int
x_reopen(void)
{
	char err[256];

	store_close();
	return store_open(xdir, 0, err, sizeof(err), NULL);
}

/* An entry of the test table: its key is its index. */
struct x_ent {
	struct util_hent h;
	size_t key;
	int in;
};

/* Insert n entries (hash: the key modulo mod, so mod 1 puts every one on
 * one chain; 0: FNV of the key), find each, delete every other one, find
 * again, delete the rest: the table follows its entries. */
static void
test_htab(void)
{
	static const struct {
		size_t n, mod;
	} cases[] = {
		{ 0, 0 }, { 1, 0 }, { 15, 0 }, { 16, 0 }, { 17, 0 },
		{ 1000, 0 }, { 100000, 0 }, { 50, 1 }, { 1000, 7 },
	};
	size_t c, i;

	for (c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct util_htab t = {0};
		struct x_ent *e = calloc(cases[c].n + 1, sizeof(*e));
		size_t n = cases[c].n, found = 0, max_nb = 0, resizing = 0;

		CHECK(e != NULL);
		if (e == NULL)
			return;
		for (i = 0; i < n; i++) {
			uint32_t h = cases[c].mod ? (uint32_t)(i % cases[c].mod) :
			    util_hash(UTIL_HASH_START, &i, sizeof(i));

			struct util_hent **was_old = t.old;
			size_t was_moved = t.moved;

			e[i].key = i;
			e[i].in = 1;
			CHECK(util_htab_add(&t, &e[i].h, h) == 0);
			/* At most one entry per bucket on average. */
			CHECKF(t.n <= t.nbucket, "n %zu nbucket %zu", t.n,
			    t.nbucket);
			/* A resize moves at most UTIL_HTAB_STEP buckets a
			 * call, never the whole table at once (issue 20). */
			CHECKF(was_old == NULL || t.old != was_old ||
			    t.moved - was_moved <= UTIL_HTAB_STEP,
			    "case %zu: %zu buckets moved in one add", c,
			    t.moved - was_moved);
			resizing += t.old != NULL;
			/* An earlier entry is found meanwhile, in whichever
			 * array it is. */
			{
				struct util_hent *x;

				for (x = util_htab_first(&t, e[i / 2].h.hash);
				    x != NULL && UTIL_CONTAINER(x, struct x_ent,
				    h)->key != i / 2; x = util_htab_next(x))
					;
				if (x == NULL)
					CHECKF(0, "case %zu: entry %zu lost at "
					    "add %zu", c, i / 2, i);
			}
		}
		max_nb = t.nbucket;
		/* The lookups below ran beside resizes in steps too. */
		CHECKF(n < 1000 || resizing > 0, "case %zu: no resize in steps",
		    c);
		for (i = 0; i < n; i++) {
			struct util_hent *h;

			for (h = util_htab_first(&t, e[i].h.hash); h != NULL;
			    h = util_htab_next(h))
				if (UTIL_CONTAINER(h, struct x_ent, h)->key == i)
					break;
			found += h != NULL;
		}
		CHECKF(found == n, "case %zu: %zu of %zu found", c, found, n);
		for (i = 0; i < n; i += 2) {
			util_htab_del(&t, &e[i].h);
			e[i].in = 0;
		}
		for (i = 0, found = 0; i < n; i++) {
			struct util_hent *h;

			for (h = util_htab_first(&t, e[i].h.hash); h != NULL;
			    h = util_htab_next(h))
				if (UTIL_CONTAINER(h, struct x_ent, h)->key == i)
					break;
			found += (h != NULL) == e[i].in;
		}
		CHECKF(found == n, "case %zu: %zu of %zu right after deletes",
		    c, found, n);
		CHECK(t.n == n / 2);
		for (i = 1; i < n; i += 2)
			util_htab_del(&t, &e[i].h);
		CHECK(t.n == 0);
		/* Emptied, it gave its buckets back. */
		CHECKF(t.nbucket <= 16 || t.nbucket < max_nb,
		    "case %zu: nbucket %zu", c, t.nbucket);
		util_htab_free(&t);
		free(e);
	}
}

/* Keys of several ages: the ones 24 h old or older are neither found nor
 * kept; expiry frees oldest first, at most max per call; a replay in any
 * order leaves the queue in time order. */
static void
test_idem_expiry(void)
{
	static const struct {
		int64_t age_ms;		/* before now */
		int found;		/* store_idem_find's answer */
	} keys[] = {
		{ 25LL * 3600 * 1000, -1 },
		{ STORE_IDEM_MS, -1 },
		{ STORE_IDEM_MS - 60000, 0 },
		{ 3600 * 1000, 0 },
		{ 5 * 3600 * 1000, 0 },		/* out of time order */
		{ 0, 0 },
	};
	uint8_t th[32] = { 0x1d, 0x2e }, req[32] = { 7 };
	int64_t now = util_wall_ms();
	struct client *c;
	struct idem *i;
	size_t k, n;
	char key[32];
	int status, sorted;
	const char *body;

	CHECK(x_reopen() == 0);
	c = store_client_create("idem-c", NULL, th, "whsec_x");
	CHECK(c != NULL);
	if (c == NULL)
		return;
	for (k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
		snprintf(key, sizeof(key), "key-%zu", k);
		CHECK(store_idem_put(c, key, strlen(key), req, 202, "{}",
		    now - keys[k].age_ms) == 0);
	}
	for (k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
		snprintf(key, sizeof(key), "key-%zu", k);
		CHECKF(store_idem_find(c, key, strlen(key), req, now, &status,
		    &body) == keys[k].found, "key %zu", k);
	}
	/* The two expired keys were first in the queue: the find freed them. */
	CHECKF(st_idem.tab.n == 4, "%zu keys kept", st_idem.tab.n);
	/* Replay (expired ones are skipped) sorts the queue by time. */
	CHECK(x_reopen() == 0);
	c = store_client_find("idem-c", 6);
	CHECK(c != NULL && st_idem.tab.n == 4);
	for (i = st_idem.head, sorted = 1, n = 0; i != NULL; i = i->qnext, n++)
		if (i->qnext != NULL && i->qnext->at < i->at)
			sorted = 0;
	CHECK(sorted && n == 4 && st_idem.tail != NULL &&
	    st_idem.tail->qnext == NULL && st_idem.tail->at == now);
	/* A day later every key has expired; each call frees at most max. */
	idem_expire(now + STORE_IDEM_MS, 3);
	CHECK(st_idem.tab.n == 1);
	idem_expire(now + STORE_IDEM_MS, 3);
	CHECK(st_idem.tab.n == 0 && st_idem.head == NULL &&
	    st_idem.tail == NULL);
	/* Many keys, then all found, then all freed. */
	for (k = 0; k < 20000; k++) {
		snprintf(key, sizeof(key), "many-%zu", k);
		CHECK(store_idem_put(c, key, strlen(key), NULL, 202, "{}",
		    now) == 0);
	}
	for (k = 0, n = 0; k < 20000; k++) {
		snprintf(key, sizeof(key), "many-%zu", k);
		n += store_idem_find(c, key, strlen(key), req, now, &status,
		    &body) == 0;
	}
	CHECK(n == 20000);
	while (st_idem.head != NULL)
		idem_expire(now + STORE_IDEM_MS, IDEM_EXPIRE_MAX);
	CHECK(st_idem.tab.n == 0 && st_idem.tab.nbucket <= 16);
}

/* Whether a client id is held by its Idempotency-Keys is one lookup of
 * the id (idem_owner), not a walk of every client's keys: the answer is
 * the walk's (held while the newest key is in its window), the record goes
 * with the id's last key, and other ids' keys cost nothing. */
static void
test_idem_owner_held(void)
{
	static const struct {
		const char *client;
		int64_t age_ms;		/* of each of its keys, before now */
	} keys[] = {
		{ "old", 25LL * 3600 * 1000 },
		{ "old", STORE_IDEM_MS },
		{ "mixed", 30LL * 3600 * 1000 },
		{ "mixed", STORE_IDEM_MS - 60000 },	/* the newest */
		{ "mixed", 26LL * 3600 * 1000 },
		{ "young", 0 },
	};
	static const struct {
		const char *id;
		int held;
	} want[] = {
		{ "old", 0 }, { "mixed", 1 }, { "young", 1 }, { "other", 0 },
		{ "mixe", 0 }, { "youngs", 0 },
	};
	uint8_t th[32] = { 0x3d, 0x4e }, req[32] = { 9 };
	int64_t now = util_wall_ms();
	struct client *c;
	size_t k;
	char key[32];

	CHECK(x_reopen() == 0);
	/* Without the keys earlier tests left in the journal. */
	idem_free_all();
	for (k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
		snprintf(key, sizeof(key), "k%zu", k);
		th[2] = (uint8_t)k;
		c = store_client_find(keys[k].client, strlen(keys[k].client));
		if (c == NULL)
			c = store_client_create(keys[k].client, NULL, th,
			    "whsec_x");
		CHECK(c != NULL);
		if (c == NULL)
			return;
		CHECK(store_idem_put(c, key, strlen(key), req, 202, "{}",
		    now - keys[k].age_ms) == 0);
	}
	CHECKF(st_idem.owners.n == 3, "%zu ids", st_idem.owners.n);
	for (k = 0; k < sizeof(want) / sizeof(want[0]); k++)
		CHECKF(idem_id_held(want[k].id, strlen(want[k].id), now) ==
		    want[k].held, "%s", want[k].id);
	/* The keys of "old" leave, and its record with them (and "mixed"'s
	 * first: the queue stops at its younger second one). */
	idem_expire(now, IDEM_EXPIRE_MAX);
	CHECKF(st_idem.owners.n == 2 && st_idem.tab.n == 3, "%zu ids, %zu keys",
	    st_idem.owners.n, st_idem.tab.n);
	CHECK(idem_id_held("mixed", 5, now) && idem_id_held("young", 5, now));
	/* A day on, nothing is held; freeing the keys frees every record. */
	CHECK(!idem_id_held("mixed", 5, now + STORE_IDEM_MS));
	while (st_idem.head != NULL)
		idem_expire(now + STORE_IDEM_MS, IDEM_EXPIRE_MAX);
	CHECK(st_idem.owners.n == 0 && st_idem.owners_all == NULL);
}

/* Keys chosen, as an attacker could offline, so that the unseeded FNV-1a
 * of (client, 0xff, key) shares its low 12 bits (the bucket index of a
 * table of 4,096) do not share them in the table: the seed and the mixer
 * scatter them (hash flooding). */
static void
test_idem_flooding(void)
{
	uint8_t th[32] = { 0x3c }, req[32] = { 9 };
	int64_t now = util_wall_ms();
	struct client *c;
	struct idem *i;
	uint32_t h, want = 0;
	unsigned n, k, same;
	static unsigned buckets[4096];
	char key[32];

	CHECK(x_reopen() == 0);
	c = store_client_create("flood-c", NULL, th, "whsec_x");
	CHECK(c != NULL);
	if (c == NULL)
		return;
	for (n = 0, k = 0; n < 32; k++) {
		snprintf(key, sizeof(key), "f-%u", k);
		h = util_hash(UTIL_HASH_START, "flood-c", 7);
		h = util_hash(h, "\xff", 1);
		h = util_hash(h, key, strlen(key)) & 0xfff;
		if (n == 0)
			want = h;
		if (h != want)
			continue;
		CHECK(store_idem_put(c, key, strlen(key), req, 202, "{}",
		    now) == 0);
		n++;
	}
	/* The store holds other tests' keys too: count the chosen ones. */
	memset(buckets, 0, sizeof(buckets));
	for (i = st_idem.head, same = 0; i != NULL; i = i->qnext)
		if (strcmp(i->client, "flood-c") == 0 &&
		    ++buckets[i->h.hash & 0xfff] > same)
			same = buckets[i->h.hash & 0xfff];
	CHECKF(same < 8, "%u of 32 chosen keys share a bucket", same);
	while (st_idem.head != NULL)
		idem_expire(now + STORE_IDEM_MS, IDEM_EXPIRE_MAX);
}

/* Tokens by their SHA-256: found, replaced, gone with the client, and found
 * again after a replay; clients whose hashes share the table's four bytes
 * are told apart by the full comparison. */
static void
test_tokens(void)
{
	static const struct {
		const char *id;
		uint8_t b0, b5;		/* the hash's first and sixth bytes */
	} cl[] = {
		{ "tok-a", 1, 1 }, { "tok-b", 1, 2 }, { "tok-c", 2, 1 },
		{ "tok-d", 3, 3 },
	};
	uint8_t h[32];
	size_t k;
	struct client *c;

	CHECK(x_reopen() == 0);
	for (k = 0; k < sizeof(cl) / sizeof(cl[0]); k++) {
		memset(h, 0xa0, sizeof(h));
		h[0] = cl[k].b0;
		h[5] = cl[k].b5;
		CHECK(store_client_create(cl[k].id, NULL, h, "whsec_x") != NULL);
	}
	for (k = 0; k < 2 * sizeof(cl) / sizeof(cl[0]); k++) {
		size_t j = k % (sizeof(cl) / sizeof(cl[0]));

		memset(h, 0xa0, sizeof(h));
		h[0] = cl[j].b0;
		h[5] = cl[j].b5;
		c = store_client_by_token(h);
		CHECKF(c != NULL && strcmp(c->id, cl[j].id) == 0, "%s",
		    cl[j].id);
		if (k + 1 == sizeof(cl) / sizeof(cl[0]))
			CHECK(x_reopen() == 0);	/* the second round replayed */
	}
	memset(h, 0xa0, sizeof(h));
	h[0] = 1;
	h[5] = 9;			/* same four bytes, other token */
	CHECK(store_client_by_token(h) == NULL);
	/* A new token: the old one stops working at once. */
	c = store_client_find("tok-a", 5);
	CHECK(c != NULL && store_client_set_token(c, h) == 0);
	CHECK(store_client_by_token(h) == c);
	h[5] = 1;
	CHECK(store_client_by_token(h) == NULL);
	CHECK(store_client_delete(c) == 0);
	h[5] = 9;
	CHECK(store_client_by_token(h) == NULL);
	CHECK(x_reopen() == 0);
	CHECK(store_client_by_token(h) == NULL);
	h[0] = 1;
	h[5] = 2;
	c = store_client_by_token(h);
	CHECK(c != NULL && strcmp(c->id, "tok-b") == 0);
}

/* The length of a list through ep_next, and whether it is in id order
 * with every delivery of the endpoint e (NULL: one-offs). */
static size_t
x_list(const struct delivery *d, const struct endpoint *e, int *ok)
{
	size_t n = 0;

	*ok = 1;
	for (; d != NULL; d = d->ep_next, n++)
		if ((d->ep_next != NULL && d->ep_next->id <= d->id) ||
		    d->endpoint != e || (e == NULL && d->url == NULL))
			*ok = 0;
	return n;
}

/* An event matching k endpoints and a one-off: its list holds them in id
 * order, each endpoint's list and the client's one-offs hold theirs, as
 * created and as replayed; deleting an endpoint fails its pending ones
 * only; deleting the client fails the rest. */
static void
test_fanout_index(void)
{
	static const size_t ks[] = { 1, 3, 1000 };
	size_t c, i;

	for (c = 0; c < sizeof(ks) / sizeof(ks[0]); c++) {
		size_t k = ks[c], nev = 3, n;
		struct endpoint **eps = calloc(k, sizeof(*eps)), *t;
		struct client *cl;
		struct event *ev = NULL;
		struct delivery *d;
		uint8_t th[32] = { 0x55, (uint8_t)c };
		char url[64], id[16];
		int ok, round;

		CHECK(eps != NULL && x_reopen() == 0);
		if (eps == NULL)
			return;
		/* An id of its own: the API gives no deleted client's id to a
		 * new one while its events remain. */
		snprintf(id, sizeof(id), "fan%zu", c);
		cl = store_client_create(id, NULL, th, "whsec_x");
		CHECK(cl != NULL);
		for (i = 0; i < k; i++) {
			struct endpoint tmpl;
			char *f = (char *)(uintptr_t)"*";

			memset(&tmpl, 0, sizeof(tmpl));
			snprintf(url, sizeof(url), "http://127.0.0.1:9/%zu", i);
			tmpl.client = cl;
			tmpl.url = url;
			tmpl.events = &f;
			tmpl.nevents = 1;
			tmpl.enabled = 1;
			memcpy(tmpl.secret, "whsec_x", 8);
			eps[i] = store_endpoint_create(&tmpl);
			CHECK(eps[i] != NULL);
		}
		for (i = 0; i < nev; i++)
			CHECK((ev = store_event_create(cl, "t", 1, "{}", 2, eps,
			    k, "http://127.0.0.1:9/once", NULL, 0,
			    util_wall_ms())) != NULL);
		for (round = 0; round < 2; round++) {
			if (round == 1) {
				CHECK(x_reopen() == 0);
				cl = store_client_find(id, strlen(id));
				ev = store_event_at(store_event_count() - 1);
				for (i = 0; i < k; i++)
					eps[i] = store_endpoint_at(i);
			}
			CHECK(cl != NULL && ev != NULL &&
			    ev->ndeliveries == k + 1);
			if (cl == NULL || ev == NULL)
				return;
			for (d = ev->deliveries, n = 0, ok = 1; d != NULL;
			    d = d->next_in_event, n++)
				if ((d->next_in_event != NULL &&
				    d->next_in_event->id <= d->id) ||
				    (n < k && d->endpoint != eps[n]))
					ok = 0;
			CHECKF(ok && n == k + 1, "k %zu round %d: %zu", k,
			    round, n);
			for (i = 0, ok = 1; i < k; i++) {
				int one;

				if (x_list(eps[i]->dlv_head, eps[i], &one) !=
				    nev || !one || eps[i]->dlv_tail == NULL ||
				    eps[i]->dlv_tail->ep_next != NULL)
					ok = 0;
			}
			CHECKF(ok, "k %zu round %d: endpoint lists", k, round);
			CHECK(x_list(cl->oneoff_head, NULL, &ok) == nev && ok);
		}
		n = store_pending_count();
		t = eps[k / 2];
		CHECK(store_endpoint_delete(t) == 0);
		/* Removed at once, its deliveries failed in steps by the
		 * loop's passes (store_reap). */
		CHECK(store_endpoint_count() == k - 1);
		CHECK(store_pending_count() == n);
		CHECK(store_reap(1) == (nev > 1));
		CHECK(store_pending_count() == n - 1);
		store_reap_all();
		CHECK(store_reap(1) == 0);
		CHECKF(store_pending_count() == n - nev, "k %zu: %zu of %zu",
		    k, store_pending_count(), n);
		for (d = ev->deliveries, ok = 1, i = 0; d != NULL;
		    d = d->next_in_event, i++)
			if ((i == k / 2) != (d->status == STORE_FAILED) ||
			    (i == k / 2 && d->endpoint != NULL))
				ok = 0;
		CHECK(ok);
		/* The endpoint is gone from its deliveries; the others keep
		 * theirs. */
		CHECK(store_endpoint_count() == k - 1);
		CHECK(store_client_delete(cl) == 0);
		store_reap_all();
		CHECK(store_pending_count() == 0);
		CHECK(store_event_client(ev) == NULL);
		/* The one-offs are failed too, and stay so after a replay. */
		CHECK(x_reopen() == 0 && store_pending_count() == 0);
		free(eps);
	}
}

/* Wait lists: push n, take them off in a given order (head first, tail
 * first, middle first, every other), checking the links both ways after
 * each step. */
static void
test_wait_lists(void)
{
	static const struct {
		size_t n;
		int order;	/* 0 head first, 1 tail first, 2 middle out,
				   3 even then odd */
	} cases[] = {
		{ 1, 0 }, { 2, 1 }, { 5, 0 }, { 5, 1 }, { 5, 2 }, { 6, 3 },
		{ 1000, 2 }, { 1000, 3 },
	};
	size_t c, i, j;

	for (c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct deliver_queue q;
		size_t n = cases[c].n;
		struct delivery *d = calloc(n, sizeof(*d));
		int ok = 1;

		memset(&q, 0, sizeof(q));
		CHECK(d != NULL);
		if (d == NULL)
			return;
		for (i = 0; i < n; i++)
			deliver_wait_push(&q, &d[i], WAIT_GLOBAL, NULL);
		for (j = 0; j < n; j++) {
			struct delivery *p, *prev = NULL;
			size_t cnt = 0, x;

			switch (cases[c].order) {
			case 0: x = j; break;
			case 1: x = n - 1 - j; break;
			case 2: x = j % 2 ? n / 2 - (j + 1) / 2 :
			    n / 2 + j / 2; break;
			default: x = j < (n + 1) / 2 ? 2 * j :
			    2 * (j - (n + 1) / 2) + 1; break;
			}
			if (x >= n || !d[x].waiting) {
				ok = 0;
				break;
			}
			deliver_wait_unlink(&q, &d[x]);
			for (p = q.gwait_head; p != NULL; p = p->wait_next) {
				if (p->wait_prev != prev || !p->waiting)
					ok = 0;
				prev = p;
				cnt++;
			}
			if (q.gwait_tail != prev || cnt != n - 1 - j ||
			    d[x].waiting || d[x].wait_next != NULL ||
			    d[x].wait_prev != NULL)
				ok = 0;
		}
		CHECKF(ok && q.gwait_head == NULL && q.gwait_tail == NULL,
		    "case %zu", c);
		free(d);
	}
}

void
test_index(void)
{
	char cmd[300];

	snprintf(xdir, sizeof(xdir), "/tmp/hookd-unit-index-%d", (int)getpid());
	test_htab();
	test_wait_lists();
	test_idem_expiry();
	test_idem_owner_held();
	test_idem_flooding();
	test_tokens();
	test_fanout_index();
	store_close();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", xdir);
	CHECK(system(cmd) == 0);
}
