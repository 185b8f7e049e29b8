/*
 * records: the round trip that tests/test_records.c (hostile tables) and
 * tests/fuzz/fuzz_records.c (random inputs) share. Every store function that
 * writes a record is called with the given untrusted bytes in every field a
 * receiver, upstream, tenant or producer controls; the files are replayed,
 * compacted and replayed again, and each time every field must read back as
 * the encoder keeps it (contract §18: no input can make a record unreadable).
 * Static functions, included by both; they use only store.h and json.h.
 */
#ifndef HOOKD_TESTS_RECORDS_H
#define HOOKD_TESTS_RECORDS_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../json.h"
#include "../store.h"

/* The untrusted fields, each as bytes (NUL and invalid UTF-8 allowed). */
enum rec_field {
	RF_NAME, RF_URL, RF_FILTER, RF_HEADERS, RF_DESC, RF_TYPE, RF_DATA,
	RF_ONEOFF, RF_KEY, RF_ANSWER, RF_ERROR, RF_BODY, RF_ACK, RF_NFIELDS
};

struct rec_input {
	const char *p[RF_NFIELDS];
	size_t n[RF_NFIELDS];
};

/* The request hash stored with the idempotency key. */
static const uint8_t rec_req[32] = { 1, 2, 3 };

/* Set why and return -1. */
static int
rec_fail(char *why, size_t whysz, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, whysz, fmt, ap);
	va_end(ap);
	return -1;
}

/* Bytes up to the first NUL as a new C string: what a store function that
 * takes a C string is given. */
static char *
rec_cstr(const char *p, size_t n)
{
	const char *z = memchr(p, '\0', n);
	size_t k = z != NULL ? (size_t)(z - p) : n;
	char *s = malloc(k + 1);

	if (s != NULL) {
		memcpy(s, p, k);
		s[k] = '\0';
	}
	return s;
}

/* What a string reads back as once through the encoder and the parser
 * (invalid UTF-8 becomes U+FFFD). Appended to out; 0 or -1. */
static int
rec_norm(struct buf *out, const char *p, size_t n)
{
	struct buf enc = {0};
	struct json_tok t[1];
	int r = -1;

	if (json_put_str(&enc, p, n) == 0 &&
	    json_parse(enc.data, enc.len, t, 1) == 1)
		r = json_str_buf(enc.data, &t[0], out);
	buf_free(&enc);
	return r;
}

/* 1 when C string s equals the normalised p[0..n) cut at its first NUL. */
static int
rec_same_cstr(const char *s, const char *p, size_t n)
{
	struct buf b = {0};
	int eq;

	if (rec_norm(&b, p, n) != 0) {
		buf_free(&b);
		return 0;
	}
	eq = s != NULL && strcmp(s, b.data != NULL ? b.data : "") == 0;
	buf_free(&b);
	return eq;
}

/* A member of the JSON object text s, decoded when a string, into out. */
static int
rec_member(const char *s, size_t len, const char *key, struct buf *out)
{
	struct json_tok *t;
	int n = json_parse(s, len, NULL, 0), v, r = -1;

	if (n <= 0 || (t = malloc((size_t)n * sizeof(*t))) == NULL)
		return -1;
	json_parse(s, len, t, (size_t)n);
	v = json_get(s, t, 0, key);
	if (v >= 0 && t[v].type == JSON_STRING)
		r = json_str_buf(s, &t[v], out);
	else if (v >= 0)
		r = buf_append(out, s + t[v].start, t[v].len);
	free(t);
	return r;
}

/* s re-encoded when it is JSON within the record's budget, else as is. */
static int
rec_canon(struct buf *out, const char *s)
{
	buf_reset(out);
	if (json_put_json(out, s, strlen(s), JSON_MAX_DEPTH - 1) == 0)
		return 0;
	return buf_puts(out, s);
}

/* What the ack should read back as: re-encoded, or null. */
static void
rec_want_ack(struct buf *out, const char *p, size_t n)
{
	struct buf norm = {0};

	if (json_put_json(out, p, n, JSON_MAX_DEPTH - 1) == 0)
		return;
	/* Kept as a string: what the encoder made of it, if JSON then. */
	if (rec_norm(&norm, p, n) == 0 && json_put_json(out, norm.data !=
	    NULL ? norm.data : "", norm.len, JSON_MAX_DEPTH) == 0) {
		buf_free(&norm);
		return;
	}
	buf_free(&norm);
	buf_reset(out);
	buf_puts(out, "null");
}

/* Check everything the writes left, as memory holds it after a replay. */
static int
rec_verify(const struct rec_input *in, uint64_t evid, uint64_t d1,
    uint64_t d2, char *why, size_t whysz)
{
	struct buf b = {0}, last = {0}, ack = {0}, log = {0}, m = {0},
	    want = {0};
	struct client *c = store_client_find("hostile", 7);
	struct endpoint *e = store_endpoint_count() > 0 ?
	    store_endpoint_at(0) : NULL;
	struct event *ev = store_event_find(evid);
	struct delivery *da = store_delivery_find(d1);
	struct delivery *db = store_delivery_find(d2);
	const char *data, *ans;
	char *key = NULL;
	size_t len;
	int r = -1, status;

	if (c == NULL || e == NULL || ev == NULL || da == NULL || db == NULL) {
		rec_fail(why, whysz, "an object is missing after replay");
		goto out;
	}
	if (store_client_find("gone", 4) != NULL) {
		rec_fail(why, whysz, "a deleted client came back");
		goto out;
	}
	if (!rec_same_cstr(c->name, in->p[RF_NAME], in->n[RF_NAME]) ||
	    !rec_same_cstr(e->url, in->p[RF_URL], in->n[RF_URL]) ||
	    e->nevents != 1 ||
	    !rec_same_cstr(e->events[0], in->p[RF_FILTER], in->n[RF_FILTER]) ||
	    !rec_same_cstr(e->description, in->p[RF_DESC], in->n[RF_DESC]) ||
	    !rec_same_cstr(ev->type, in->p[RF_TYPE], in->n[RF_TYPE])) {
		rec_fail(why, whysz, "a registry string or the type changed");
		goto out;
	}
	/* Headers: re-encoded when JSON within the budget, else the string
	 * (which a later rewrite re-encodes once the encoder has made it
	 * JSON, invalid UTF-8 replaced): compared in canonical form. */
	key = rec_cstr(in->p[RF_HEADERS], in->n[RF_HEADERS]);
	if (key == NULL || (json_put_json(&want, key, strlen(key),
	    JSON_MAX_DEPTH - 1) != 0 && rec_norm(&want, key,
	    strlen(key)) != 0) || e->headers == NULL ||
	    rec_canon(&m, e->headers) != 0 || rec_canon(&b, want.data !=
	    NULL ? want.data : "") != 0 || strcmp(m.data, b.data) != 0) {
		rec_fail(why, whysz, "headers changed: %s", e->headers);
		goto out;
	}
	buf_reset(&m);
	buf_reset(&b);
	free(key);
	key = NULL;
	data = store_event_data(ev, &b, &len);
	buf_reset(&want);
	rec_norm(&want, in->p[RF_DATA], in->n[RF_DATA]);
	if (data == NULL || len != want.len || memcmp(data, want.data != NULL ?
	    want.data : "", len) != 0) {
		rec_fail(why, whysz, "the payload changed");
		goto out;
	}
	if (!rec_same_cstr(db->url, in->p[RF_ONEOFF], in->n[RF_ONEOFF])) {
		rec_fail(why, whysz, "the one-off URL changed");
		goto out;
	}
	/* The key as replay keeps it: normalised, up to a NUL. */
	buf_reset(&want);
	rec_norm(&want, in->p[RF_KEY], in->n[RF_KEY]);
	key = rec_cstr(want.data != NULL ? want.data : "", want.len);
	if (key == NULL || (key[0] != '\0' &&
	    (store_idem_find(c, key, strlen(key), rec_req, util_wall_ms(),
	    &status,
	    &ans) != 0 || status != 202 ||
	    !rec_same_cstr(ans, in->p[RF_ANSWER], in->n[RF_ANSWER])))) {
		rec_fail(why, whysz, "the idempotency key or answer changed");
		goto out;
	}
	if (store_delivery_history(da, &last, &ack, &log) != 0) {
		rec_fail(why, whysz, "the attempts do not read back");
		goto out;
	}
	buf_reset(&want);
	rec_want_ack(&want, in->p[RF_ACK], in->n[RF_ACK]);
	if (ack.data == NULL || strcmp(ack.data, want.data) != 0) {
		rec_fail(why, whysz, "the ack changed: %s", ack.data);
		goto out;
	}
	if (rec_member(last.data, last.len, "error", &m) != 0 ||
	    !rec_same_cstr(m.data, in->p[RF_ERROR], in->n[RF_ERROR])) {
		rec_fail(why, whysz, "the error changed");
		goto out;
	}
	/* The log holds the one attempt's object, with the body. */
	buf_reset(&m);
	buf_reset(&want);
	rec_norm(&want, in->p[RF_BODY], in->n[RF_BODY]);
	if (log.data == NULL || rec_member(log.data, log.len, "body", &m) != 0 ||
	    m.len != want.len || memcmp(m.data != NULL ? m.data : "",
	    want.data != NULL ? want.data : "", m.len) != 0) {
		rec_fail(why, whysz, "the response body changed");
		goto out;
	}
	buf_reset(&last);
	buf_reset(&ack);
	buf_reset(&m);
	if (store_delivery_history(db, &last, &ack, NULL) != 0 ||
	    rec_member(last.data, last.len, "error", &m) != 0 ||
	    !rec_same_cstr(m.data, in->p[RF_ERROR], in->n[RF_ERROR]) ||
	    db->status != STORE_PENDING) {
		rec_fail(why, whysz, "the failed-then-requeued delivery changed");
		goto out;
	}
	r = 0;
out:
	free(key);
	buf_free(&b);
	buf_free(&last);
	buf_free(&ack);
	buf_free(&log);
	buf_free(&m);
	buf_free(&want);
	return r;
}

/* Remove what a round trip leaves in dir. */
static void
rec_clean(const char *dir)
{
	static const char *const names[] = { "registry.log", "journal.log",
	    "registry.log.compact", "journal.log.compact", "journal.log.map" };
	char p[512];
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
		unlink(p);
	}
}

/*
 * The round trip in dir (made empty first): write, replay, compact, replay.
 * 0, or -1 with why set. The store is closed on return.
 */
static int
rec_roundtrip(const char *dir, const struct rec_input *in, char *why,
    size_t whysz)
{
	char err[256], *s[RF_NFIELDS];
	uint8_t h[32] = { 9 };
	struct client *c, *gone;
	struct endpoint t, *e, *eps[1];
	struct event *ev;
	struct store_attempt a;
	uint64_t evid = 0, d1 = 0, d2 = 0;
	int i, r = -1, polls;

	rec_clean(dir);
	for (i = 0; i < RF_NFIELDS; i++)
		s[i] = rec_cstr(in->p[i], in->n[i]);
	for (i = 0; i < RF_NFIELDS; i++)
		if (s[i] == NULL)
			goto out;
	if (store_open(dir, 0, err, sizeof(err), NULL) != 0) {
		rec_fail(why, whysz, "open: %s", err);
		goto out;
	}
	c = store_client_create("hostile", s[RF_NAME], h, "whsec_x");
	gone = store_client_create("gone", s[RF_NAME], h, "whsec_y");
	if (c == NULL || gone == NULL || store_client_set_token(c, h) != 0 ||
	    store_client_delete(gone) != 0) {
		rec_fail(why, whysz, "client writes failed");
		goto out;
	}
	memset(&t, 0, sizeof(t));
	t.client = c;
	t.url = s[RF_URL];
	t.events = &s[RF_FILTER];
	t.nevents = 1;
	t.headers = s[RF_HEADERS];
	t.description = NULL;
	t.enabled = 1;
	memcpy(t.secret, "whsec_a", 8);
	e = store_endpoint_create(&t);
	t.description = s[RF_DESC];
	if (e == NULL || store_endpoint_update(e, &t) != 0 ||
	    store_endpoint_rotate(e, "whsec_b", util_wall_ms()) != 0 ||
	    store_endpoint_disable(e, NULL) != 0) {
		rec_fail(why, whysz, "endpoint writes failed");
		goto out;
	}
	t.enabled = 1;
	eps[0] = e;
	if (store_endpoint_update(e, &t) != 0 ||
	    (ev = store_event_create(c, in->p[RF_TYPE], in->n[RF_TYPE],
	    in->p[RF_DATA], in->n[RF_DATA], eps, 1, s[RF_ONEOFF],
	    in->p[RF_KEY], in->n[RF_KEY], util_wall_ms())) == NULL ||
	    store_idem_put(c, in->p[RF_KEY], in->n[RF_KEY], rec_req, 202,
	    s[RF_ANSWER], util_wall_ms()) != 0) {
		rec_fail(why, whysz, "event writes failed");
		goto out;
	}
	evid = ev->id;
	d1 = ev->deliveries->id;
	d2 = ev->deliveries->next_in_event->id;
	memset(&a, 0, sizeof(a));
	a.at = util_wall_ms();
	a.status = 200;
	a.error = s[RF_ERROR];
	a.body = in->p[RF_BODY];
	a.body_len = in->n[RF_BODY];
	a.ack = in->p[RF_ACK];
	a.ack_len = in->n[RF_ACK];
	a.new_status = STORE_DELIVERED;
	if (store_delivery_attempted(ev->deliveries, &a) != 0 ||
	    store_delivery_fail(ev->deliveries->next_in_event, s[RF_ERROR],
	    util_wall_ms()) != 0 ||
	    store_delivery_requeue(ev->deliveries->next_in_event,
	    util_wall_ms() + 60000) != 0) {
		rec_fail(why, whysz, "delivery writes failed");
		goto out;
	}
	store_close();
	if (store_open(dir, 0, err, sizeof(err), NULL) != 0) {
		rec_fail(why, whysz, "replay: %s", err);
		goto out;
	}
	if (rec_verify(in, evid, d1, d2, why, whysz) != 0)
		goto out;
	if (store_compact_start(util_wall_ms(), 365LL * 86400000, 1) != 1) {
		rec_fail(why, whysz, "compaction did not start");
		goto out;
	}
	for (polls = 0, i = 0; polls < 3000 && i == 0; polls++) {
		i = store_compact_poll(err, sizeof(err));
		if (i == 0)
			nanosleep(&(struct timespec){ .tv_nsec = 1000000 },
			    NULL);
	}
	if (i != 1) {
		rec_fail(why, whysz, "compaction: %s", err);
		goto out;
	}
	store_close();
	if (store_open(dir, 0, err, sizeof(err), NULL) != 0) {
		rec_fail(why, whysz, "replay after compaction: %s", err);
		goto out;
	}
	r = rec_verify(in, evid, d1, d2, why, whysz);
out:
	store_close();
	for (i = 0; i < RF_NFIELDS; i++)
		free(s[i]);
	return r;
}

#endif
