/*
 * Tests of gateway.c (contract §14): the request an upstream gets, what
 * its answer means, and the event data it becomes.
 */
#include <stdlib.h>
#include <string.h>

#include "../gateway.c"
#include "unit.h"

void test_gateway(void);

static void
t_judge(void)
{
	static const struct {
		int status;
		enum webhook_result want;
	} t[] = {
		{ 200, WEBHOOK_OK }, { 201, WEBHOOK_OK }, { 204, WEBHOOK_OK },
		{ 301, WEBHOOK_OK }, { 400, WEBHOOK_OK }, { 404, WEBHOOK_OK },
		{ 410, WEBHOOK_OK }, { 422, WEBHOOK_OK }, { 428, WEBHOOK_OK },
		{ 429, WEBHOOK_RETRY }, { 500, WEBHOOK_RETRY },
		{ 502, WEBHOOK_RETRY }, { 503, WEBHOOK_RETRY },
		{ 599, WEBHOOK_RETRY },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		CHECKF(gateway_judge(t[i].status) == t[i].want, "status %d",
		    t[i].status);
}

static void
t_event_data(void)
{
	static const struct {
		int status;
		const char *ctype, *body;
		size_t len;
		const char *error, *want;
	} t[] = {
		/* A JSON object goes byte for byte. */
		{ 200, "application/json", " {\"a\": 1 }\n", 11, NULL,
		    " {\"a\": 1 }\n" },
		{ 404, NULL, "{\"e\":\"x\"}", 9, NULL, "{\"e\":\"x\"}" },
		/* Anything else goes in the envelope. */
		{ 200, "text/plain", "hi\n", 3, NULL,
		    "{\"status\":200,\"content_type\":\"text/plain\","
		    "\"body\":\"hi\\n\"}" },
		{ 204, "", "", 0, NULL,
		    "{\"status\":204,\"content_type\":null,\"body\":\"\"}" },
		{ 200, "application/json", "[1,2]", 5, NULL,
		    "{\"status\":200,\"content_type\":\"application/json\","
		    "\"body\":\"[1,2]\"}" },
		{ 200, NULL, "{not json", 9, NULL,
		    "{\"status\":200,\"content_type\":null,"
		    "\"body\":\"{not json\"}" },
		/* Bytes that are not UTF-8: base64. */
		{ 200, NULL, "\xff\xfe", 2, NULL,
		    "{\"status\":200,\"content_type\":null,"
		    "\"body_base64\":\"//4=\"}" },
		{ 503, NULL, "x", 1, "timeout", "{\"error\":\"timeout\"}" },
	};
	struct buf b = {0};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		CHECK(gateway_event_data(t[i].status, t[i].ctype, t[i].body,
		    t[i].len, t[i].error, &b) == 0);
		CHECKF(b.len == strlen(t[i].want) &&
		    memcmp(b.data, t[i].want, b.len) == 0, "row %zu: %.*s",
		    i, (int)b.len, b.data);
	}
	buf_free(&b);
}

/* A description round trip: the upstream request built from it. */
static void
t_build(void)
{
	struct gateway_desc gd;
	struct buf desc = {0}, out = {0};
	struct event ev;
	struct delivery d;
	struct webhook_target tg;
	struct config cfg;
	char err[128], cb[256];
	int64_t tmo = -1;
	const char *want;

	memset(&gd, 0, sizeof(gd));
	gd.route = "/api/";
	gd.method = "POST";
	gd.method_len = 4;
	gd.path = "foo";
	gd.path_len = 3;
	gd.query = "a=1";
	gd.query_len = 3;
	gd.content_type = "application/json";
	gd.content_type_len = 16;
	gd.callback = "http://cb.example/bar";
	gd.body = "{\"n\":\x01}";
	gd.body_len = 7;
	CHECK(gateway_describe(&gd, &desc) == 0);
	CHECK(gateway_callback(desc.data, desc.len, cb, sizeof(cb)) == 1 &&
	    strcmp(cb, "http://cb.example/bar") == 0);
	CHECK(gateway_callback(desc.data, desc.len, cb, 5) == -1);
	CHECK(gateway_callback("{}", 2, cb, sizeof(cb)) == 0);

	/* No route in force: no headers, the global timeout. */
	config_defaults(&cfg);
	config_set_current(&cfg);
	memset(&ev, 0, sizeof(ev));
	memset(&d, 0, sizeof(d));
	ev.id = 0x1234;
	ev.client_id = (char *)(uintptr_t)"acme";
	d.event = &ev;
	d.upstream = 1;
	d.url = (char *)(uintptr_t)"http://u.example:9000/base/foo?a=1";
	CHECK(gateway_build(&d, desc.data, desc.len, &out, &tg, &tmo, err,
	    sizeof(err)) == 0);
	want = "POST /base/foo?a=1 HTTP/1.1\r\nHost: u.example:9000\r\n"
	    "User-Agent: hookd/" HOOKD_VERSION "\r\n"
	    "Content-Type: application/json\r\nContent-Length: 7\r\n"
	    "hookd-client: acme\r\n"
	    "Idempotency-Key: evt_0000000000001234\r\n\r\n{\"n\":\x01}";
	CHECKF(out.len == strlen(want) && memcmp(out.data, want, out.len) == 0,
	    "%.*s", (int)out.len, out.data);
	CHECK(tmo == 0 && tg.port == 9000 && strcmp(tg.host, "u.example") == 0);
	CHECK(gateway_build(&d, "{}", 2, &out, &tg, &tmo, err,
	    sizeof(err)) == -1 && strstr(err, "invalid") != NULL);

	/* The route as it was when the request was accepted: its recorded
	 * headers and timeout, not those of the route now in force with that
	 * prefix (a reload gave it another upstream and another key). */
	{
		static char h1[] = "X-Api-Key: key-of-A";
		static char h2[] = "X-Other: b";
		static char hb[] = "X-Api-Key: key-of-B";
		char *rec[] = { h1, h2 }, *now[] = { hb };
		struct config_route r;

		memset(&r, 0, sizeof(r));
		r.prefix = (char *)(uintptr_t)"/api/";
		r.upstream = (char *)(uintptr_t)"http://b.example/";
		r.timeout_ms = 9000;
		r.headers = now;
		r.nheaders = 1;
		cfg.routes = &r;
		cfg.nroutes = 1;
		gd.headers = rec;
		gd.nheaders = 2;
		gd.timeout_ms = 5000;
		CHECK(gateway_describe(&gd, &desc) == 0);
		CHECK(gateway_build(&d, desc.data, desc.len, &out, &tg, &tmo,
		    err, sizeof(err)) == 0);
		CHECKF(strstr(out.data, "\r\nX-Api-Key: key-of-A\r\nX-Other: "
		    "b\r\n\r\n") != NULL && strstr(out.data, "key-of-B") ==
		    NULL && tmo == 5000, "%.*s", (int)out.len, out.data);
		/* A header line that a damaged record would split. */
		want = "{\"route\":\"/api/\",\"method\":\"GET\","
		    "\"body_b64\":\"\",\"headers\":[\"X: a\\r\\nY: b\"]}";
		CHECK(gateway_build(&d, want, strlen(want), &out, &tg, &tmo,
		    err, sizeof(err)) == -1);
		cfg.routes = NULL;
		cfg.nroutes = 0;
	}
	config_set_current(NULL);
	config_free(&cfg);
	buf_free(&desc);
	buf_free(&out);
}

/* The rest of a path after a route's prefix: dot segments, plain or
 * encoded or before a ";", and encoded slashes are refused. */
static void
t_path(void)
{
	static const struct {
		const char *p;
		int bad;
	} t[] = {
		{ "", 0 }, { "foo", 0 }, { "foo/bar", 0 }, { "a..b", 0 },
		{ "...", 0 }, { ".x", 0 }, { "foo//bar", 0 }, { "%41", 0 },
		{ "%", 0 }, { "%2", 0 }, { "x%2", 0 }, { "foo/", 0 },
		{ ".", 1 }, { "..", 1 }, { "../admin", 1 }, { "/../admin", 1 },
		{ "a/./b", 1 }, { "a/..", 1 }, { "%2e%2e/admin", 1 },
		{ "%2E./admin", 1 }, { ".%2e", 1 }, { "a/%2e", 1 },
		{ "a%2fb", 1 }, { "a%2Fb", 1 }, { "a%5cb", 1 }, { "a\\b", 1 },
		/* ";parameters" that servlet containers drop first. */
		{ "..;/y", 1 }, { ".;", 1 }, { "%2e%2e;", 1 }, { "..;x", 1 },
		{ "a/..;x/b", 1 }, { "..%3b", 1 }, { "x;..", 0 }, { "a;b", 0 },
		{ ";", 0 }, { ";x", 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		CHECKF((gateway_path_problem(t[i].p, strlen(t[i].p)) != NULL) ==
		    t[i].bad, "%s", t[i].p);
}

void
test_gateway(void)
{
	t_path();
	t_judge();
	t_event_data();
	t_build();
}
