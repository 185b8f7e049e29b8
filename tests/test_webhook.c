/*
 * test_webhook: one attempt's request built from tables (POST and GET,
 * template values, reserved endpoint headers, both signatures during a
 * rotation, hookd-endpoint only on endpoint deliveries), and every row of
 * the outcome rules of contract §5 and §12.
 */
#include "../webhook.c"

#include <stdlib.h>
#include <string.h>

#include "unit.h"

#define SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define OLD "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"

/* The request's text as a NUL-terminated copy (the caller frees it). */
static char *
req_text(const struct buf *b)
{
	char *s = malloc(b->len + 1);

	if (s != NULL) {
		memcpy(s, b->data, b->len);
		s[b->len] = '\0';
	}
	return s;
}

static void
test_build_table(void)
{
	static const struct {
		const char *name;
		const char *url;
		int get;
		const char *data;
		const char *endpoint_id;	/* NULL: a one-off */
		const char *headers;
		int rc;
		const char *err;		/* when rc != 0 */
		const char *start;		/* the request line and Host */
		const char *has[4];		/* lines the request holds */
		const char *lacks[3];		/* text it must not hold */
		const char *body;		/* what follows the head */
		const char *signed_payload;
		const char *host;
		unsigned port;
		int literal;
	} t[] = {
		{ "POST keeps the bytes as sent", "http://h.example/cb", 0,
		  "{ \"a\":1 }", "ep_1", NULL, 0, NULL,
		  "POST /cb HTTP/1.1\r\nHost: h.example\r\n",
		  { "Content-Type: application/json\r\n",
		    "Content-Length: 9\r\n", "hookd-endpoint: ep_1\r\n",
		    "hookd-attempt: 3\r\n" },
		  { NULL }, "{ \"a\":1 }", "{ \"a\":1 }", "h.example", 80, 0 },
		{ "GET: members as query after the URL's own", 
		  "http://h.example:8080/cb?x=1", 1,
		  "{\"success\":true,\"refId\":3283191,\"n\":null}", "ep_1",
		  NULL, 0, NULL,
		  "GET /cb?x=1&success=true&refId=3283191 HTTP/1.1\r\n"
		  "Host: h.example:8080\r\n",
		  { "hookd-endpoint: ep_1\r\n" },
		  { "Content-Type", "Content-Length" }, "",
		  "x=1&success=true&refId=3283191", "h.example", 8080, 0 },
		{ "GET without members adds no ?", "http://h.example/cb", 1,
		  "{}", "ep_1", NULL, 0, NULL,
		  "GET /cb HTTP/1.1\r\nHost: h.example\r\n", { NULL },
		  { "?" }, "", "", "h.example", 80, 0 },
		{ "template values are filled and encoded",
		  "http://[::1]:9/callback/{refId}/{s}", 0,
		  "{\"refId\":3283191,\"s\":\"a b\"}", "ep_1", NULL, 0, NULL,
		  "POST /callback/3283191/a%20b HTTP/1.1\r\nHost: [::1]:9\r\n",
		  { NULL }, { NULL }, "{\"refId\":3283191,\"s\":\"a b\"}",
		  "{\"refId\":3283191,\"s\":\"a b\"}", "::1", 9, 1 },
		{ "a missing member fails at once", "http://h.example/{refId}",
		  0, "{\"x\":1}", "ep_1", NULL, -1, "template: missing refId",
		  NULL, { NULL }, { NULL }, NULL, NULL, NULL, 0, 0 },
		{ "GET of a payload that is no object", "http://h.example/", 1,
		  "[1]", "ep_1", NULL, -1, "invalid payload", NULL, { NULL },
		  { NULL }, NULL, NULL, NULL, 0, 0 },
		{ "endpoint headers: reserved and unsafe ones left out",
		  "http://h.example/", 0, "{}", "ep_1",
		  "{\"X-Tenant\":\"acme\",\"X-N\":7,\"webhook-id\":\"forged\","
		  "\"Host\":\"evil\",\"hookd-attempt\":\"9\","
		  "\"Content-Length\":\"0\",\"X-Bad\":\"a\\r\\nb\"}",
		  0, NULL, "POST / HTTP/1.1\r\nHost: h.example\r\n",
		  { "X-Tenant: acme\r\n", "X-N: 7\r\n" },
		  { "forged", "evil", "X-Bad" }, "{}", "{}", "h.example", 80,
		  0 },
		{ "one-off: no hookd-endpoint, headers ignored",
		  "http://10.0.0.1/x", 0, "{}", NULL, "{\"X-T\":\"1\"}", 0,
		  NULL, "POST /x HTTP/1.1\r\nHost: 10.0.0.1\r\n", { NULL },
		  { "hookd-endpoint", "X-T" }, "{}", "{}", "10.0.0.1", 80,
		  1 },
	};
	struct webhook_scratch s;
	struct buf out;
	size_t i, k;

	memset(&s, 0, sizeof(s));
	memset(&out, 0, sizeof(out));
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct webhook_input in;
		struct webhook_target tg;
		char err[128] = "", sig[SIGN_SIG_MAX], want[512], *text;
		int rc;

		memset(&in, 0, sizeof(in));
		in.url = t[i].url;
		in.get = t[i].get;
		in.secret = SECRET;
		in.event_id = "evt_1";
		in.event_type = "order.paid";
		in.endpoint_id = t[i].endpoint_id;
		in.headers = t[i].headers;
		in.data = t[i].data;
		in.data_len = strlen(t[i].data);
		in.at = 1700000000123LL;
		in.number = 3;
		memset(&tg, 0, sizeof(tg));
		rc = webhook_build(&in, &s, &out, &tg, err, sizeof(err));
		CHECKF(rc == t[i].rc, "%s: rc %d", t[i].name, rc);
		if (t[i].rc != 0) {
			CHECKF(strcmp(err, t[i].err) == 0, "%s: %s", t[i].name,
			    err);
			continue;
		}
		if (rc != 0)
			continue;
		text = req_text(&out);
		if (text == NULL)
			continue;
		CHECKF(strncmp(text, t[i].start, strlen(t[i].start)) == 0,
		    "%s: %s", t[i].name, text);
		for (k = 0; k < 4 && t[i].has[k] != NULL; k++)
			CHECKF(strstr(text, t[i].has[k]) != NULL, "%s: no %s",
			    t[i].name, t[i].has[k]);
		for (k = 0; k < 3 && t[i].lacks[k] != NULL; k++)
			CHECKF(strstr(text, t[i].lacks[k]) == NULL,
			    "%s: has %s", t[i].name, t[i].lacks[k]);
		CHECKF(strstr(text, "\r\nUser-Agent: hookd/") != NULL &&
		    strstr(text, "\r\nwebhook-id: evt_1\r\n") != NULL &&
		    strstr(text, "\r\nwebhook-timestamp: 1700000000\r\n") !=
		    NULL && strstr(text, "\r\nhookd-event-type: order.paid\r\n")
		    != NULL, "%s: standard headers", t[i].name);
		/* The signature is over the body, or for GET the query. */
		CHECK(sign_webhook(SECRET, "evt_1", 1700000000,
		    t[i].signed_payload, strlen(t[i].signed_payload), sig) == 0);
		snprintf(want, sizeof(want), "\r\nwebhook-signature: %s\r\n",
		    sig);
		CHECKF(strstr(text, want) != NULL, "%s: signature", t[i].name);
		CHECKF(strstr(text, "\r\n\r\n") != NULL &&
		    strcmp(strstr(text, "\r\n\r\n") + 4, t[i].body) == 0,
		    "%s: body", t[i].name);
		CHECKF(strcmp(tg.host, t[i].host) == 0 &&
		    tg.port == t[i].port && tg.literal == t[i].literal,
		    "%s: target %s:%u", t[i].name, tg.host, tg.port);
		free(text);
	}
	buf_free(&out);
	webhook_scratch_free(&s);
}

/* Within a rotation both secrets sign, space-separated; after it only the
 * new one; an invalid secret fails the delivery. */
static void
test_build_rotation(void)
{
	static const struct {
		int64_t prev_until;
		const char *secret;
		int rc;
		int two;
	} t[] = {
		{ 1700000000124LL, SECRET, 0, 1 },	/* still rotating */
		{ 1700000000123LL, SECRET, 0, 0 },	/* just ended */
		{ 0, SECRET, 0, 0 },
		{ 1700000000124LL, "whsec_not base64", -1, 0 },
	};
	struct webhook_scratch s;
	struct buf out;
	size_t i;

	memset(&s, 0, sizeof(s));
	memset(&out, 0, sizeof(out));
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct webhook_input in;
		struct webhook_target tg;
		char err[128], s1[SIGN_SIG_MAX], s2[SIGN_SIG_MAX], want[512];
		char *text;
		int rc;

		memset(&in, 0, sizeof(in));
		in.url = "http://h.example/";
		in.secret = t[i].secret;
		in.prev_secret = OLD;
		in.prev_until = t[i].prev_until;
		in.event_id = "evt_2";
		in.data = "{}";
		in.data_len = 2;
		in.at = 1700000000123LL;
		in.number = 1;
		rc = webhook_build(&in, &s, &out, &tg, err, sizeof(err));
		CHECKF(rc == t[i].rc, "rotation %zu: rc %d", i, rc);
		if (rc != 0) {
			CHECK(strcmp(err, "invalid secret") == 0);
			continue;
		}
		CHECK(sign_webhook(SECRET, "evt_2", 1700000000, "{}", 2, s1) ==
		    0);
		CHECK(sign_webhook(OLD, "evt_2", 1700000000, "{}", 2, s2) == 0);
		if (t[i].two)
			snprintf(want, sizeof(want),
			    "\r\nwebhook-signature: %s %s\r\n", s1, s2);
		else
			snprintf(want, sizeof(want),
			    "\r\nwebhook-signature: %s\r\n", s1);
		text = req_text(&out);
		CHECKF(text != NULL && strstr(text, want) != NULL,
		    "rotation %zu", i);
		free(text);
	}
	buf_free(&out);
	webhook_scratch_free(&s);
}

/* Every row of contract §5's table, with §12's whole-body ack rule. */
static void
test_judge(void)
{
	static const struct {
		const char *name;
		int status;
		const char *body;
		int whole;		/* body is longer than the kept part */
		enum webhook_result result;
		const char *error;
		int disable;
		const char *ack;	/* the ack kept, NULL when none */
	} t[] = {
		{ "2xx, empty", 200, "", 0, WEBHOOK_OK, NULL, 0, NULL },
		{ "2xx, not JSON", 204, "ok", 0, WEBHOOK_OK, NULL, 0, NULL },
		{ "2xx, JSON array", 200, "[false]", 0, WEBHOOK_OK, NULL, 0,
		  NULL },
		{ "2xx, object kept as ack", 201,
		  " {\"ack\": true, \"refId\": \"3283191\"}\n", 0, WEBHOOK_OK,
		  NULL, 0, "{\"ack\": true, \"refId\": \"3283191\"}" },
		{ "2xx, object without ack", 299, "{\"x\":1}", 0, WEBHOOK_OK,
		  NULL, 0, "{\"x\":1}" },
		{ "2xx, nested ack false is not top-level", 200,
		  "{\"x\":{\"ack\":false}}", 0, WEBHOOK_OK, NULL, 0,
		  "{\"x\":{\"ack\":false}}" },
		{ "2xx, ack false", 200, "{\"ack\": false}", 0, WEBHOOK_RETRY,
		  "ack false", 0, NULL },
		{ "2xx, ack false in a duplicate", 200,
		  "{\"ack\":true,\"ack\":false}", 0, WEBHOOK_RETRY,
		  "ack false", 0, NULL },
		{ "2xx, ack false beyond the kept part (§12)", 200,
		  "{\"pad\":\"xxxxxxxx\",\"ack\":false}", 1, WEBHOOK_RETRY,
		  "ack false", 0, NULL },
		{ "2xx, long object acknowledged, not kept", 200,
		  "{\"pad\":\"xxxxxxxx\",\"ack\":true}", 1, WEBHOOK_OK, NULL, 0,
		  NULL },
		{ "400", 400, "", 0, WEBHOOK_REJECT, NULL, 0, NULL },
		{ "413", 413, "", 0, WEBHOOK_REJECT, NULL, 0, NULL },
		{ "422", 422, "{\"ack\":false}", 0, WEBHOOK_REJECT, NULL, 0,
		  NULL },
		{ "410 disables", 410, "", 0, WEBHOOK_REJECT, NULL, 1, NULL },
		{ "301 (never followed)", 301, "", 0, WEBHOOK_RETRY, NULL, 0,
		  NULL },
		{ "404", 404, "", 0, WEBHOOK_RETRY, NULL, 0, NULL },
		{ "429", 429, "", 0, WEBHOOK_RETRY, NULL, 0, NULL },
		{ "500", 500, "{\"ack\":true}", 0, WEBHOOK_RETRY, NULL, 0,
		  NULL },
		{ "503", 503, "", 0, WEBHOOK_RETRY, NULL, 0, NULL },
	};
	struct webhook_scratch s;
	size_t i;

	memset(&s, 0, sizeof(s));
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct webhook_answer a;
		struct webhook_verdict v;
		size_t n = strlen(t[i].body);
		char whole[64];

		memset(&a, 0, sizeof(a));
		a.status = t[i].status;
		a.body = t[i].body;
		/* A long body: only its first 8 bytes are kept, the whole of
		 * it beside them. */
		a.body_len = t[i].whole ? 8 : n;
		a.body_total = n;
		if (t[i].whole) {
			/* A buffer of its own, as the exchange keeps it. */
			memcpy(whole, t[i].body, n);
			a.whole = whole;
			a.whole_len = n;
		}
		webhook_judge(&a, &s, &v);
		CHECKF(v.result == t[i].result, "%s: result %d", t[i].name,
		    (int)v.result);
		CHECKF((v.error == NULL && t[i].error == NULL) ||
		    (v.error != NULL && t[i].error != NULL &&
		    strcmp(v.error, t[i].error) == 0), "%s: error", t[i].name);
		CHECKF(v.disable == t[i].disable, "%s: disable", t[i].name);
		CHECKF(t[i].ack == NULL ? v.ack_len == 0 :
		    (v.ack_len == strlen(t[i].ack) &&
		    memcmp(v.ack, t[i].ack, v.ack_len) == 0), "%s: ack",
		    t[i].name);
	}
	webhook_scratch_free(&s);
}

/* The transport rows of §5 and what each result makes of the delivery
 * after attempt n of nretry + 1. */
static void
test_next_status(void)
{
	static const struct {
		enum webhook_result r;
		unsigned n;
		int status;
	} t[] = {
		{ WEBHOOK_OK, 1, STORE_DELIVERED },
		{ WEBHOOK_OK, 8, STORE_DELIVERED },
		{ WEBHOOK_REJECT, 1, STORE_FAILED },	/* 400/413/422/410/§8 */
		{ WEBHOOK_RETRY, 1, STORE_PENDING },
		{ WEBHOOK_RETRY, 7, STORE_PENDING },
		{ WEBHOOK_RETRY, 8, STORE_FAILED },	/* after the last */
		{ WEBHOOK_TIMEOUT, 1, STORE_PENDING },
		{ WEBHOOK_TIMEOUT, 8, STORE_FAILED },
		{ WEBHOOK_ERROR, 7, STORE_PENDING },	/* refused, reset, dns */
		{ WEBHOOK_ERROR, 8, STORE_FAILED },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		CHECKF(webhook_next_status(t[i].r, t[i].n, 7) == t[i].status,
		    "row %zu", i);
}

/* ±20 % jitter; Retry-After wins when longer, up to 24 h. */
static void
test_retry_delay(void)
{
	static const struct {
		int64_t base;
		double unit;
		int64_t retry_after;
		int64_t want;
	} t[] = {
		{ 5000, 0.0, -1, 4000 },
		{ 5000, 0.5, -1, 5000 },
		{ 5000, 0.999999, -1, 5999 },
		{ 5000, 0.5, 3000, 5000 },		/* shorter: schedule */
		{ 5000, 0.5, 60000, 60000 },		/* longer: wins */
		{ 5000, 0.5, 200LL * 3600 * 1000, WEBHOOK_RETRY_AFTER_MAX_MS },
		{ 36000000, 0.999999, 100LL * 3600 * 1000,
		  WEBHOOK_RETRY_AFTER_MAX_MS },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		CHECKF(webhook_retry_delay(t[i].base, t[i].unit,
		    t[i].retry_after) == t[i].want, "row %zu: %lld", i,
		    (long long)webhook_retry_delay(t[i].base, t[i].unit,
		    t[i].retry_after));
}

void
test_webhook(void)
{
	test_build_table();
	test_build_rotation();
	test_judge();
	test_next_status();
	test_retry_delay();
}
