/*
 * store_idem: the Idempotency-Keys in memory (a seeded hash table, the
 * expiry queue, the count of keys per client id) and their idem records.
 */
#include "store_impl.h"
#include "sign.h"

#include <stdlib.h>
#include <string.h>

struct store_idem st_idem;

/* A random seed for idem_hash, drawn once per process, so that a client
 * cannot work out offline which keys would share a bucket. */
static uint32_t idem_seed;
static int idem_seeded;

/* The table's hash of a key: the seed, its client's id, then 0xff, which
 * no client id holds, then the key, FNV-1a over all of it; then
 * MurmurHash3's finaliser, so that every bit of the state reaches the low
 * bits the bucket index is taken from (FNV-1a's low bits depend only on
 * the low bits before them). Keys are the client's choice: without the
 * seed, keys picked to share a bucket would make each lookup walk them
 * all (hash flooding). */
static uint32_t
idem_hash(const char *client, const char *key, size_t len)
{
	uint32_t h;

	if (!idem_seeded) {
		/* Without randomness the hash is only unkeyed, as before. */
		if (sign_random(&idem_seed, sizeof(idem_seed)) != 0)
			idem_seed = 0;
		idem_seeded = 1;
	}
	h = util_hash(UTIL_HASH_START ^ idem_seed, client, strlen(client));
	h = util_hash(h, "\xff", 1);
	h = util_hash(h, key, len);
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

static struct idem *
idem_lookup(const char *client, const char *key, size_t len, int64_t now)
{
	struct util_hent *h;

	for (h = util_htab_first(&st_idem.tab, idem_hash(client, key, len));
	    h != NULL; h = util_htab_next(h)) {
		struct idem *i = UTIL_CONTAINER(h, struct idem, h);

		if (now - i->at < STORE_IDEM_MS && strcmp(i->client, client) ==
		    0 && util_span_eq(key, len, i->key))
			return i;
	}
	return NULL;
}

/* The keys' record of client id (len bytes), or NULL. The table is not
 * seeded as idem_hash is: client ids are the admin's choice. */
static struct idem_owner *
idem_owner_find(const char *id, size_t len)
{
	struct util_hent *x;

	for (x = util_htab_first(&st_idem.owners, util_hash(UTIL_HASH_START,
	    id, len)); x != NULL; x = util_htab_next(x)) {
		struct idem_owner *o = UTIL_CONTAINER(x, struct idem_owner, h);

		if (util_span_eq(id, len, o->id))
			return o;
	}
	return NULL;
}

/* Count key i toward its client id's record, made when missing. 0, or -1
 * out of memory. */
static int
idem_owner_add(const struct idem *i)
{
	size_t len = strlen(i->client);
	struct idem_owner *o = idem_owner_find(i->client, len);

	if (o == NULL) {
		o = calloc(1, sizeof(*o) + len + 1);
		if (o == NULL)
			return -1;
		memcpy(o->id, i->client, len + 1);
		if (util_htab_add(&st_idem.owners, &o->h,
		    util_hash(UTIL_HASH_START, o->id, len)) != 0) {
			free(o);
			return -1;
		}
		o->next = st_idem.owners_all;
		if (o->next != NULL)
			o->next->prev = o;
		st_idem.owners_all = o;
	}
	if (o->n++ == 0 || i->at > o->newest)
		o->newest = i->at;
	return 0;
}

/* Key i leaves the table: its client id's record counts one less, and goes
 * with the last. */
static void
idem_owner_del(const struct idem *i)
{
	struct idem_owner *o = idem_owner_find(i->client, strlen(i->client));

	if (o == NULL || --o->n > 0)
		return;
	util_htab_del(&st_idem.owners, &o->h);
	if (o->prev != NULL)
		o->prev->next = o->next;
	else
		st_idem.owners_all = o->next;
	if (o->next != NULL)
		o->next->prev = o->prev;
	free(o);
}

int
idem_id_held(const char *id, size_t len, int64_t now)
{
	const struct idem_owner *o = idem_owner_find(id, len);

	return o != NULL && now - o->newest < STORE_IDEM_MS;
}

static void
idem_free(struct idem *i)
{
	free(i->client);
	free(i->key);
	free(i->body);
	free(i);
}

int
idem_add(const char *client, const char *key, size_t len,
    const uint8_t *req, int status, const char *body, int64_t at)
{
	struct idem *i = calloc(1, sizeof(*i));

	if (i == NULL || (i->client = dup_or_null(client)) == NULL ||
	    (i->key = util_strndup(key, len)) == NULL ||
	    (i->body = dup_or_null(body)) == NULL ||
	    util_htab_add(&st_idem.tab, &i->h, idem_hash(client, key,
	    len)) != 0) {
		if (i != NULL)
			idem_free(i);
		return -1;
	}
	i->status = status;
	i->at = at;
	if (idem_owner_add(i) != 0) {
		util_htab_del(&st_idem.tab, &i->h);
		idem_free(i);
		return -1;
	}
	if (req != NULL) {
		memcpy(i->req, req, 32);
		i->has_req = 1;
	}
	if (st_idem.tail != NULL) {
		if (at < st_idem.tail->at)
			st_idem.unsorted = 1;
		st_idem.tail->qnext = i;
	} else
		st_idem.head = i;
	st_idem.tail = i;
	return 0;
}

void
idem_expire(int64_t now, size_t max)
{
	struct idem *i;

	/* Held by a compaction's thread: freed once it is done (the next
	 * call, at most a minute later). */
	if (st_idem.held)
		return;
	while ((i = st_idem.head) != NULL && now - i->at >= STORE_IDEM_MS &&
	    max-- > 0) {
		st_idem.head = i->qnext;
		if (st_idem.head == NULL)
			st_idem.tail = NULL;
		util_htab_del(&st_idem.tab, &i->h);
		idem_owner_del(i);
		idem_free(i);
	}
}

/* Merge two queues sorted by time into one (stable: a first on ties). */
static struct idem *
idem_merge(struct idem *a, struct idem *b)
{
	struct idem *head = NULL, **tail = &head;

	while (a != NULL && b != NULL) {
		struct idem **min = b->at < a->at ? &b : &a;

		*tail = *min;
		tail = &(*min)->qnext;
		*min = (*min)->qnext;
	}
	*tail = a != NULL ? a : b;
	return head;
}

void
idem_sort(void)
{
	/* A bottom-up merge sort of the list: runs[k] holds a sorted run of
	 * 2^k keys; O(n log n) with no recursion and no allocation. */
	struct idem *runs[64] = {0}, *i, *next;
	size_t k;

	if (!st_idem.unsorted)
		return;
	for (i = st_idem.head; i != NULL; i = next) {
		next = i->qnext;
		i->qnext = NULL;
		for (k = 0; k < 63 && runs[k] != NULL; k++) {
			i = idem_merge(runs[k], i);
			runs[k] = NULL;
		}
		runs[k] = runs[k] != NULL ? idem_merge(runs[k], i) : i;
	}
	for (i = NULL, k = 0; k < 64; k++)
		if (runs[k] != NULL)
			i = idem_merge(runs[k], i);
	st_idem.head = i;
	while (i != NULL && i->qnext != NULL)
		i = i->qnext;
	st_idem.tail = i;
	st_idem.unsorted = 0;
}

void
idem_free_all(void)
{
	struct idem *i, *next;
	struct idem_owner *o, *onext;

	for (i = st_idem.head; i != NULL; i = next) {
		next = i->qnext;
		idem_free(i);
	}
	for (o = st_idem.owners_all; o != NULL; o = onext) {
		onext = o->next;
		free(o);
	}
	util_htab_free(&st_idem.tab);
	util_htab_free(&st_idem.owners);
	memset(&st_idem, 0, sizeof(st_idem));
}

int
store_idem_find(const struct client *c, const char *key, size_t len,
    const uint8_t req[32], int64_t now, int *status, const char **body)
{
	struct idem *i;

	idem_expire(now, IDEM_EXPIRE_MAX);
	i = idem_lookup(c->id, key, len, now);
	if (i == NULL)
		return -1;
	if (i->has_req && !sign_equal(i->req, req, 32))
		return 1;
	*status = i->status;
	*body = i->body;
	return 0;
}

/* The members of an idem record after "t" (store_idem_put, compaction). */
void
idem_members(const char *client, const char *key, size_t len,
    const uint8_t *req, int status, const char *body, int64_t at)
{
	char hex[65];

	rec_str("client", client);
	buf_puts(&st_rec, ",\"key\":");
	json_put_str(&st_rec, key, len);
	rec_num("at", at);
	rec_num("status", status);
	rec_str("body", body);
	if (req != NULL) {
		hex32(req, hex);
		rec_str("req_sha256", hex);
	}
}

void
idem_record(const struct idem *key)
{
	rec_begin("idem");
	idem_members(key->client, key->key, strlen(key->key),
	    key->has_req ? key->req : NULL, key->status, key->body, key->at);
}

int
idem_copy_all(struct logfile *f, int64_t now)
{
	const struct idem *key;

	/* In the queue's order, oldest first: the new journal replays them
	 * in time order. */
	for (key = st_idem.head; key != NULL; key = key->qnext) {
		if (now - key->at >= STORE_IDEM_MS)
			continue;
		idem_record(key);
		if (rec_write(f) < 0)
			return -1;
	}
	return 0;
}

int
store_idem_put(const struct client *c, const char *key, size_t len,
    const uint8_t req[32], int status, const char *body, int64_t now)
{
	rec_begin("idem");
	idem_members(c->id, key, len, req, status, body, now);
	if (rec_write(&st_files.jrn) < 0)
		return -1;
	return idem_add(c->id, key, len, req, status, body, now);
}
