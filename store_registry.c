/*
 * store_registry: clients and endpoints, in memory and in registry.log:
 * lookups, the mutations that write a record first, each record's encoder
 * and, next to it, its replay.
 */
#include "store_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct store_registry st_registry;

/* ---- clients ---- */

size_t
client_lower(const char *id, size_t len)
{
	size_t lo = 0, hi = st_registry.clients.n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct client *c = st_registry.clients.v[mid];
		size_t cl = strlen(c->id);
		int r = memcmp(c->id, id, cl < len ? cl : len);

		if (r < 0 || (r == 0 && cl < len))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct client *
store_client_find(const char *id, size_t len)
{
	size_t i = client_lower(id, len);
	struct client *c;

	if (i >= st_registry.clients.n)
		return NULL;
	c = st_registry.clients.v[i];
	return util_span_eq(id, len, c->id) ? c : NULL;
}

/*
 * The token table's hash: the first four bytes of the token's SHA-256.
 * SHA-256 spreads them evenly without another hash, and no one can choose
 * them without finding a preimage, so the chains stay short whatever the
 * tokens are.
 */
static uint32_t
token_hash32(const uint8_t hash[32])
{
	return (uint32_t)hash[0] | (uint32_t)hash[1] << 8 |
	    (uint32_t)hash[2] << 16 | (uint32_t)hash[3] << 24;
}

int
token_index(struct client *c)
{
	return util_htab_add(&st_registry.tokens, &c->token_h,
	    token_hash32(c->token_hash));
}

void
token_unindex(struct client *c)
{
	util_htab_del(&st_registry.tokens, &c->token_h);
}

/*
 * The table narrows the candidates to the clients whose token hash starts
 * with the same four bytes (almost always one), and each is compared in
 * full in constant time. What the time can tell is only whether such a
 * client exists: four bytes of the SHA-256 of the token sent, which no one
 * can steer toward a stored token's hash without breaking SHA-256, and
 * which say nothing about the rest of a stored token.
 */
struct client *
store_client_by_token(const uint8_t hash[32])
{
	struct client *found = NULL;
	struct util_hent *h;

	for (h = util_htab_first(&st_registry.tokens, token_hash32(hash));
	    h != NULL; h = util_htab_next(h)) {
		struct client *c = UTIL_CONTAINER(h, struct client, token_h);

		if (sign_equal(c->token_hash, hash, 32))
			found = c;
	}
	return found;
}

size_t
store_client_count(void)
{
	return st_registry.clients.n;
}

struct client *
store_client_at(size_t i)
{
	return i < st_registry.clients.n ? st_registry.clients.v[i] : NULL;
}

size_t
store_client_after(const char *after, size_t len)
{
	size_t i;

	if (after == NULL)
		return 0;
	i = client_lower(after, len);
	if (i < st_registry.clients.n &&
	    util_span_eq(after, len,
	    ((struct client *)st_registry.clients.v[i])->id))
		i++;
	return i;
}

static int
client_insert(struct client *c)
{
	size_t i = client_lower(c->id, strlen(c->id));

	if (vec_push(&st_registry.clients, c) != 0)
		return -1;
	memmove(st_registry.clients.v + i + 1, st_registry.clients.v + i,
	    (st_registry.clients.n - 1 - i) * sizeof(void *));
	st_registry.clients.v[i] = c;
	return 0;
}

void
client_rec(const struct client *c)
{
	char hex[65];

	rec_begin("client");
	rec_str("id", c->id);
	rec_str("name", c->name);
	hex32(c->token_hash, hex);
	rec_str("token_sha256", hex);
	rec_str("secret", c->secret);
	if (c->prev_secret[0] != '\0') {
		rec_str("prev_secret", c->prev_secret);
		rec_num("prev_until", c->prev_until);
	}
	rec_num("created", c->created_at);
	rec_num("updated", c->updated_at);
}

off_t
client_record(const struct client *c)
{
	client_rec(c);
	return rec_write(&st_files.reg);
}

void
client_free(struct client *c)
{
	if (c == NULL)
		return;
	free(c->name);
	free(c);
}

struct client *
store_client_create(const char *id, const char *name,
    const uint8_t token_hash[32], const char *secret)
{
	struct client *c = calloc(1, sizeof(*c));

	if (c == NULL || strlen(id) > UTIL_ID_MAX ||
	    strlen(secret) >= sizeof(c->secret))
		goto fail;
	memcpy(c->id, id, strlen(id) + 1);
	c->name = dup_or_null(name != NULL ? name : "");
	if (c->name == NULL)
		goto fail;
	memcpy(c->token_hash, token_hash, 32);
	memcpy(c->secret, secret, strlen(secret) + 1);
	c->created_at = c->updated_at = util_wall_ms();
	/* Room for the insert, and its token indexed before the record is
	 * written: nothing can fail once it is. */
	if (vec_push(&st_registry.clients, NULL) != 0)
		goto fail;
	st_registry.clients.n--;
	if (token_index(c) != 0)
		goto fail;
	if (client_record(c) < 0) {
		token_unindex(c);
		goto fail;
	}
	client_insert(c);
	return c;
fail:
	if (errno == 0)
		errno = ENOMEM;
	client_free(c);
	return NULL;
}

int
store_client_set_token(struct client *c, const uint8_t token_hash[32])
{
	struct client tmp = *c;

	memcpy(tmp.token_hash, token_hash, 32);
	tmp.updated_at = util_wall_ms();
	if (client_record(&tmp) < 0)
		return -1;
	/* Back in the table at once: its table has buckets, so this cannot
	 * fail. */
	token_unindex(c);
	memcpy(c->token_hash, token_hash, 32);
	(void)token_index(c);
	c->updated_at = tmp.updated_at;
	return 0;
}

/* ---- endpoints ---- */

struct endpoint *
store_endpoint_find(uint64_t id)
{
	return vec_find(&st_registry.endpoints, id);
}

size_t
store_endpoint_count(void)
{
	return st_registry.endpoints.n;
}

struct endpoint *
store_endpoint_at(size_t i)
{
	return i < st_registry.endpoints.n ? st_registry.endpoints.v[i] : NULL;
}

size_t
store_endpoint_after(uint64_t after)
{
	return vec_after(&st_registry.endpoints, after);
}

void
endpoint_rec(const struct endpoint *e)
{
	struct buf *b;
	size_t i;

	rec_begin("endpoint");
	rec_id("id", STORE_EP, e->id);
	b = &st_rec;
	rec_str("client", e->client->id);
	rec_str("url", e->url);
	rec_str("method", e->method_get ? "GET" : "POST");
	buf_puts(b, ",\"events\":[");
	for (i = 0; i < e->nevents; i++) {
		if (i > 0)
			buf_puts(b, ",");
		json_put_cstr(b, e->events[i]);
	}
	buf_puts(b, "]");
	rec_json("headers", e->headers, e->headers != NULL ?
	    strlen(e->headers) : 0);
	rec_str("description", e->description);
	rec_str("secret", e->secret);
	rec_str("prev_secret", e->prev_secret);
	rec_num("prev_until", e->prev_until);
	buf_puts(b, e->enabled ? ",\"enabled\":true" : ",\"enabled\":false");
	rec_num("created", e->created_at);
	rec_num("updated", e->updated_at);
	/* Delivery policy (contract §15): only what is set, so a record
	 * without it reads as the global policy. */
	if (e->rate_milli != 0)
		rec_num("rate_limit_milli", e->rate_milli);
	if (e->fifo)
		buf_puts(b, ",\"ordering\":\"fifo\"");
	if (e->timeout_ms != 0)
		rec_num("timeout_ms", e->timeout_ms);
	if (e->nretry != 0) {
		buf_puts(b, ",\"retry_ms\":[");
		for (i = 0; i < e->nretry; i++)
			buf_printf(b, "%s%lld", i > 0 ? "," : "",
			    (long long)e->retry_ms[i]);
		buf_puts(b, "]");
	}
}

off_t
endpoint_record(const struct endpoint *e)
{
	endpoint_rec(e);
	return rec_write(&st_files.reg);
}

void
endpoint_free_fields(struct endpoint *e)
{
	size_t i;

	free(e->url);
	for (i = 0; i < e->nevents; i++)
		free(e->events[i]);
	free(e->events);
	free(e->headers);
	free(e->description);
	e->url = e->headers = e->description = NULL;
	e->events = NULL;
	e->nevents = 0;
	free(e->retry_ms);
	e->retry_ms = NULL;
	e->nretry = 0;
}

/* Copy the delivery policy (contract §15) of src into dst: its values and
 * its own copy of the retry schedule. 0 or -1 out of memory (dst then has
 * no schedule of its own). */
static int
endpoint_copy_policy(struct endpoint *dst, const struct endpoint *src)
{
	dst->rate_milli = src->rate_milli;
	dst->fifo = src->fifo;
	dst->timeout_ms = src->timeout_ms;
	dst->retry_ms = NULL;
	dst->nretry = 0;
	if (src->nretry == 0)
		return 0;
	dst->retry_ms = malloc(src->nretry * sizeof(*dst->retry_ms));
	if (dst->retry_ms == NULL)
		return -1;
	memcpy(dst->retry_ms, src->retry_ms,
	    src->nretry * sizeof(*dst->retry_ms));
	dst->nretry = src->nretry;
	return 0;
}

/* Deep-copy the mutable fields of src into dst. 0 or -1 (dst left with what
 * was copied; free it with endpoint_free_fields). */
static int
endpoint_copy_fields(struct endpoint *dst, const struct endpoint *src)
{
	size_t i;

	/* dst may start as a shallow copy: it shares no schedule. */
	dst->retry_ms = NULL;
	dst->nretry = 0;
	dst->url = dup_or_null(src->url);
	dst->headers = dup_or_null(src->headers);
	dst->description = dup_or_null(src->description);
	dst->events = calloc(src->nevents ? src->nevents : 1, sizeof(char *));
	if (dst->url == NULL || dst->events == NULL ||
	    (src->headers != NULL && dst->headers == NULL) ||
	    (src->description != NULL && dst->description == NULL))
		return -1;
	for (i = 0; i < src->nevents; i++) {
		dst->events[i] = dup_or_null(src->events[i]);
		if (dst->events[i] == NULL)
			return -1;
		dst->nevents = i + 1;
	}
	dst->method_get = src->method_get;
	dst->enabled = src->enabled;
	return endpoint_copy_policy(dst, src);
}

struct endpoint *
store_endpoint_create(const struct endpoint *tmpl)
{
	struct endpoint *e = calloc(1, sizeof(*e));

	if (e == NULL)
		goto fail;
	if (endpoint_copy_fields(e, tmpl) != 0 ||
	    vec_push(&st_registry.endpoints, NULL) != 0) {
		errno = ENOMEM;
		goto fail;
	}
	st_registry.endpoints.n--;
	e->id = new_id();
	e->client = tmpl->client;
	memcpy(e->secret, tmpl->secret, sizeof(e->secret));
	e->secret[sizeof(e->secret) - 1] = '\0';
	e->created_at = e->updated_at = util_wall_ms();
	if (endpoint_record(e) < 0)
		goto fail;
	/* Ids grow: the array stays sorted. */
	vec_push(&st_registry.endpoints, e);
	ep_index(e);
	return e;
fail:
	if (e != NULL) {
		endpoint_free_fields(e);
		free(e);
	}
	return NULL;
}

int
store_endpoint_update(struct endpoint *e, const struct endpoint *tmpl)
{
	struct endpoint n = *e;
	int was_enabled = e->enabled;

	/* A re-enable after a disable whose deliveries are still being
	 * failed: they fail first, so that none of them starts now. */
	if (e->reaping > 0 && tmpl->enabled)
		store_reap_all();
	if (endpoint_copy_fields(&n, tmpl) != 0) {
		endpoint_free_fields(&n);
		errno = ENOMEM;
		return -1;
	}
	n.updated_at = util_wall_ms();
	if (endpoint_record(&n) < 0) {
		endpoint_free_fields(&n);
		return -1;
	}
	/* Its filters leave the table before they are freed, and the new
	 * ones go in (which cannot fail: see ep_filters_add). */
	ep_filters_del(e);
	n.fidx = NULL;
	endpoint_free_fields(e);
	*e = n;
	ep_filters_add(e);
	if (!was_enabled && e->enabled)
		e->failing_since = 0;
	return 0;
}

/* Set a rotation on a copy: the new secret, the old one kept as previous
 * for STORE_ROTATE_MS. 0, or -1 (EINVAL) when the new one does not fit. */
static int
secret_rotate(char secret[SIGN_SECRET_MAX], char prev[SIGN_SECRET_MAX],
    int64_t *prev_until, const char *new_secret, int64_t now)
{
	if (strlen(new_secret) >= SIGN_SECRET_MAX) {
		errno = EINVAL;
		return -1;
	}
	memcpy(prev, secret, SIGN_SECRET_MAX);
	memcpy(secret, new_secret, strlen(new_secret) + 1);
	*prev_until = now + STORE_ROTATE_MS;
	return 0;
}

int
store_client_rotate(struct client *c, const char *secret, int64_t now)
{
	struct client n = *c;

	if (secret_rotate(n.secret, n.prev_secret, &n.prev_until, secret,
	    now) != 0)
		return -1;
	n.updated_at = now;
	if (client_record(&n) < 0)
		return -1;
	*c = n;		/* the same name pointer: a shallow copy is whole */
	return 0;
}

int
store_endpoint_rotate(struct endpoint *e, const char *secret, int64_t now)
{
	struct endpoint n = *e;

	if (secret_rotate(n.secret, n.prev_secret, &n.prev_until, secret,
	    now) != 0)
		return -1;
	n.updated_at = now;
	if (endpoint_record(&n) < 0)
		return -1;
	memcpy(e->prev_secret, n.prev_secret, sizeof(e->prev_secret));
	memcpy(e->secret, n.secret, sizeof(e->secret));
	e->prev_until = n.prev_until;
	e->updated_at = now;
	return 0;
}

void
store_endpoint_note(struct endpoint *e, int ok, int64_t now)
{
	if (ok)
		e->failing_since = 0;
	else if (e->failing_since == 0)
		e->failing_since = now;
}

/* ---- endpoint health (contract §15) ---- */

#define HEALTH_HOUR_MS (3600LL * 1000)

void
health_note_attempt(struct endpoint *e, int ok, int64_t t)
{
	int64_t *last = ok ? &e->last_success_at : &e->last_failure_at;

	if (t > *last)
		*last = t;
}

/* Move e's ring forward to hour h: the buckets of the hours it skips (at
 * most all 24) are emptied. */
static void
health_advance(struct endpoint *e, int64_t h)
{
	int64_t k;

	if (h <= e->health_hour)
		return;
	for (k = e->health_hour + 1; k <= h &&
	    k <= e->health_hour + STORE_HEALTH_HOURS; k++) {
		e->delivered_h[k % STORE_HEALTH_HOURS] = 0;
		e->failed_h[k % STORE_HEALTH_HOURS] = 0;
	}
	e->health_hour = h;
}

void
health_note_end(struct endpoint *e, int status, int64_t t)
{
	int64_t h = t / HEALTH_HOUR_MS;
	uint32_t *b;

	if (t <= 0)
		return;
	health_advance(e, h);
	/* Older than the ring (a replayed old record, a clock stepped
	 * back a day): out of the window. */
	if (h <= e->health_hour - STORE_HEALTH_HOURS)
		return;
	b = status == STORE_DELIVERED ? e->delivered_h : e->failed_h;
	if (b[h % STORE_HEALTH_HOURS] < UINT32_MAX)
		b[h % STORE_HEALTH_HOURS]++;
}

void
store_endpoint_health(const struct endpoint *e, int64_t now,
    struct store_health *hl)
{
	int64_t h = now / HEALTH_HOUR_MS, k;

	hl->last_success_at = e->last_success_at;
	hl->last_failure_at = e->last_failure_at;
	hl->delivered_24h = hl->failed_24h = 0;
	/* The hours (h - 24, h] that the ring still holds. */
	for (k = h - STORE_HEALTH_HOURS + 1; k <= h; k++) {
		if (k > e->health_hour ||
		    k <= e->health_hour - STORE_HEALTH_HOURS)
			continue;
		hl->delivered_24h += e->delivered_h[k % STORE_HEALTH_HOURS];
		hl->failed_24h += e->failed_h[k % STORE_HEALTH_HOURS];
	}
}

int
store_endpoint_matches(const struct endpoint *e, const char *type, size_t len)
{
	size_t i;

	for (i = 0; i < e->nevents; i++) {
		const char *f = e->events[i];
		size_t fl = strlen(f);

		if (fl > 0 && f[fl - 1] == '*') {
			if (len >= fl - 1 && memcmp(type, f, fl - 1) == 0)
				return 1;
		} else if (util_span_eq(type, len, f))
			return 1;
	}
	return 0;
}

/* Note endpoint id as deleted by the registry. 0 or -1 out of memory. */
static int
gone_add(uint64_t id)
{
	uint64_t *g = util_grow(st_registry.gone, &st_registry.capgone,
	    st_registry.ngone + 1, sizeof(*g), 16);

	if (g == NULL)
		return -1;
	st_registry.gone = g;
	st_registry.gone[st_registry.ngone++] = id;
	return 0;
}

int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* 1 when the registry deleted endpoint id (st_registry.gone sorted). */
int
gone_has(uint64_t id)
{
	return st_registry.ngone > 0 && bsearch(&id, st_registry.gone,
	    st_registry.ngone, sizeof(*st_registry.gone), cmp_u64) != NULL;
}

/*
 * A "client" record: the client's whole state as of that change. A later
 * record of the same id replaces the fields in place, so the last one wins.
 * After a crash: every change that was acknowledged was fsync'd before its
 * answer (group commit), so its record is here; a change whose record did
 * not reach the disk was never acknowledged, and the client replays as it
 * was before it. A record half written is the torn tail replay_file cut.
 */
static int
replay_client(struct replay *r)
{
	char id[UTIL_ID_MAX + 1], hex[65];
	struct client *c, *old;
	int64_t v;

	if (get_str(r, "id", id, sizeof(id)) != 0 || id[0] == '\0')
		return replay_fail(r, "client record without id");
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return replay_fail(r, "out of memory");
	memcpy(c->id, id, sizeof(id));
	if (get_dup(r, "name", &c->name) != 0 || c->name == NULL ||
	    get_str(r, "token_sha256", hex, sizeof(hex)) != 0 ||
	    unhex32(hex, strlen(hex), c->token_hash) != 0 ||
	    get_str(r, "secret", c->secret, sizeof(c->secret)) != 0) {
		client_free(c);
		return replay_fail(r, "bad client record");
	}
	/* Absent before client secrets could be rotated: then none. */
	if (get_str(r, "prev_secret", c->prev_secret,
	    sizeof(c->prev_secret)) != 0 || get_num(r, "prev_until", &v) != 0)
		c->prev_secret[0] = '\0';
	else
		c->prev_until = v;
	if (get_num(r, "created", &v) == 0)
		c->created_at = v;
	if (get_num(r, "updated", &v) == 0)
		c->updated_at = v;
	old = store_client_find(id, strlen(id));
	if (old != NULL) {
		/* A later record replaces the client's fields in place, so
		 * that endpoints keep pointing at it; it keeps its lists, and
		 * its token is indexed again (its table has buckets: this
		 * cannot fail). */
		token_unindex(old);
		free(old->name);
		c->oneoff_head = old->oneoff_head;
		c->oneoff_tail = old->oneoff_tail;
		c->ep_head = old->ep_head;
		c->ep_tail = old->ep_tail;
		c->nendpoints = old->nendpoints;
		c->nscan = old->nscan;
		memcpy(c->plen, old->plen, sizeof(c->plen));
		*old = *c;
		free(c);
		(void)token_index(old);
		return 0;
	}
	if (token_index(c) != 0) {
		client_free(c);
		return replay_fail(r, "out of memory");
	}
	if (client_insert(c) != 0) {
		token_unindex(c);
		client_free(c);
		return replay_fail(r, "out of memory");
	}
	return 0;
}


/* The delivery policy (contract §15) of an endpoint record into e: what is
 * absent is the global policy. 0, or -1 when a member is malformed (the
 * record is then bad: hookd's encoder never writes one so). */
static int
replay_endpoint_policy(struct replay *r, struct endpoint *e)
{
	int64_t n;
	int v, i;

	if (get_num(r, "rate_limit_milli", &n) == 0) {
		if (n <= 0 || n > UINT32_MAX)
			return -1;
		e->rate_milli = (uint32_t)n;
	}
	v = rget(r->s, r->t, "ordering");
	e->fifo = v >= 0 && json_str_eq(r->s, &r->t[v], "fifo");
	if (get_num(r, "timeout_ms", &n) == 0) {
		if (n <= 0)
			return -1;
		e->timeout_ms = n;
	}
	v = rget(r->s, r->t, "retry_ms");
	if (v < 0)
		return 0;
	/* nretry is 8 bits wide; the checkers allow far fewer. */
	if (r->t[v].type != JSON_ARRAY || r->t[v].size == 0 ||
	    r->t[v].size > UINT8_MAX)
		return -1;
	e->retry_ms = calloc(r->t[v].size, sizeof(*e->retry_ms));
	if (e->retry_ms == NULL)
		return -1;
	for (i = v + 1; e->nretry < r->t[v].size; i = (int)r->t[i].next) {
		uint64_t u;

		if (r->t[i].type != JSON_NUMBER || util_parse_u64(r->s +
		    r->t[i].start, r->t[i].len, INT64_MAX, &u) != 0)
			return -1;
		e->retry_ms[e->nretry++] = (int64_t)u;
	}
	return 0;
}

/*
 * An "endpoint" record: the endpoint's whole state, naming its client, which
 * an earlier record of this file created (the registry is written in that
 * order, and compaction keeps it). The last record of an id wins; a new id
 * must be above the last one. After a crash, as replay_client: the endpoint
 * is as its newest durable record says, which includes every acknowledged
 * change. A disable written here whose journal records (the failed
 * deliveries) were lost in the crash leaves those deliveries as the journal
 * last said (pending), as if the disable had come after them.
 */
static int
replay_endpoint(struct replay *r)
{
	struct endpoint *e, *old;
	char cid[UTIL_ID_MAX + 1], m[8];
	int v, i;
	int64_t n;

	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return replay_fail(r, "out of memory");
	if (get_xid(r, "id", STORE_EP, &e->id) != 0 ||
	    get_str(r, "client", cid, sizeof(cid)) != 0)
		goto bad;
	if ((e->client = store_client_find(cid, strlen(cid))) == NULL) {
		char needle[UTIL_ID_MAX + 3];

		endpoint_free_fields(e);
		free(e);
		snprintf(needle, sizeof(needle), "\"%s\"", cid);
		return replay_fail_dep(r, needle, "bad endpoint record");
	}
	if (get_dup(r, "url", &e->url) != 0 || e->url == NULL ||
	    get_str(r, "method", m, sizeof(m)) != 0 ||
	    get_dup(r, "description", &e->description) != 0 ||
	    get_str(r, "secret", e->secret, sizeof(e->secret)) != 0 ||
	    get_str(r, "prev_secret", e->prev_secret,
	    sizeof(e->prev_secret)) != 0 ||
	    (v = rget(r->s, r->t, "events")) < 0 ||
	    r->t[v].type != JSON_ARRAY)
		goto bad;
	e->method_get = strcmp(m, "GET") == 0;
	e->events = calloc(r->t[v].size + 1, sizeof(char *));
	if (e->events == NULL)
		goto bad;
	for (i = v + 1; e->nevents < r->t[v].size; i = (int)r->t[i].next) {
		struct buf b = {0};

		if (r->t[i].type != JSON_STRING ||
		    json_str_buf(r->s, &r->t[i], &b) != 0 || b.data == NULL) {
			buf_free(&b);
			goto bad;
		}
		e->events[e->nevents++] = b.data;
	}
	v = rget(r->s, r->t, "headers");
	if (v >= 0 && r->t[v].type != JSON_NULL &&
	    (e->headers = util_strndup(r->s + r->t[v].start,
	    r->t[v].len)) == NULL)
		goto bad;
	if (v < 0 && rget(r->s, r->t, "headers_s") >= 0 &&
	    (get_dup(r, "headers_s", &e->headers) != 0 || e->headers == NULL))
		goto bad;
	v = rget(r->s, r->t, "enabled");
	e->enabled = v >= 0 && r->t[v].type == JSON_TRUE;
	if (get_num(r, "prev_until", &n) == 0)
		e->prev_until = n;
	if (get_num(r, "created", &n) == 0)
		e->created_at = n;
	if (get_num(r, "updated", &n) == 0)
		e->updated_at = n;
	if (replay_endpoint_policy(r, e) != 0)
		goto bad;
	seen_id(e->id);
	old = store_endpoint_find(e->id);
	if (old != NULL) {
		/* Replaced in place; it keeps its list of deliveries, and
		 * joins its client's list and the filter table again. */
		ep_unindex(old);
		endpoint_free_fields(old);
		e->dlv_head = old->dlv_head;
		e->dlv_tail = old->dlv_tail;
		e->ndlv = old->ndlv;
		*old = *e;
		free(e);
		ep_index(old);
		return 0;
	}
	/* Ids grow along the file, except after hookd import (contract
	 * §17), which appends another node's endpoints: those go in at
	 * their place in id order (a client's few endpoints, moved once). */
	i = (int)vec_lower(&st_registry.endpoints, e->id);
	if (vec_push(&st_registry.endpoints, e) != 0)
		goto bad;
	if ((size_t)i + 1 < st_registry.endpoints.n) {
		memmove(st_registry.endpoints.v + i + 1,
		    st_registry.endpoints.v + i,
		    (st_registry.endpoints.n - 1 - (size_t)i) * sizeof(void *));
		st_registry.endpoints.v[i] = e;
	}
	ep_index(e);
	return 0;
bad:
	endpoint_free_fields(e);
	free(e);
	return replay_fail(r, "bad endpoint record");
}

/*
 * One registry record: client, endpoint, or their deletions "client-" (with
 * its endpoints) and "endpoint-". A deletion is written to the registry
 * before the journal hears of it (the failed deliveries), so after a crash
 * between the two the registry has the deletion and the journal still has
 * the deliveries pending: the ids deleted are noted (gone) and
 * replay_event ends those deliveries as failed, and store_open writes the
 * records that say so. Deleting what is not there is not an error.
 */
int
replay_registry(struct replay *r, const char *t, size_t tl)
{
	char id[UTIL_ID_MAX + 1];
	uint64_t x;

	if (util_span_eq(t, tl, "client"))
		return replay_client(r);
	if (util_span_eq(t, tl, "endpoint"))
		return replay_endpoint(r);
	if (util_span_eq(t, tl, "client-")) {
		struct client *c;
		struct endpoint *e;

		if (get_str(r, "id", id, sizeof(id)) != 0)
			return replay_fail(r, "bad client- record");
		c = store_client_find(id, strlen(id));
		if (c == NULL)
			return 0;
		/* Its own list: no walk of other clients' endpoints. */
		while ((e = c->ep_tail) != NULL) {
			if (gone_add(e->id) != 0)
				return replay_fail(r, "out of memory");
			ep_unindex(e);
			vec_remove(&st_registry.endpoints,
			    vec_lower(&st_registry.endpoints, e->id));
			endpoint_free_fields(e);
			free(e);
		}
		vec_remove(&st_registry.clients, client_lower(id, strlen(id)));
		token_unindex(c);
		client_free(c);
		return 0;
	}
	if (util_span_eq(t, tl, "endpoint-")) {
		struct endpoint *e;

		if (get_xid(r, "id", STORE_EP, &x) != 0)
			return replay_fail(r, "bad endpoint- record");
		if (gone_add(x) != 0)
			return replay_fail(r, "out of memory");
		e = store_endpoint_find(x);
		if (e != NULL) {
			ep_unindex(e);
			vec_remove(&st_registry.endpoints,
			    vec_lower(&st_registry.endpoints, x));
			endpoint_free_fields(e);
			free(e);
		}
		return 0;
	}
	return replay_fail(r, "unknown record type");
}
