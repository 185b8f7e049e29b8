/*
 * Tests of api.c without sockets: the routing table (path and method to
 * handler, 404, 405, the token before either) and the query-parameter checks
 * (contract §11: unknown or repeated parameters are refused with 400).
 */
#include <string.h>
#include <unistd.h>

#include "../api.c"
#include "../api_shard.c"
#include "unit.h"

/*
 * The handlers are stand-ins that record which one ran and the {id} segment
 * it was given: the routing is under test here, not the handlers (those are
 * driven over HTTP by the integration tests). api_registry.c, api_events.c,
 * api_ops.c and api_web.c are therefore not part of the unit binary.
 */
static const char *api_test_hit;
static char api_test_seg[64];

#define API_TEST_STUB(fn) \
	int fn(struct api_ctx *c) \
	{ \
		api_test_hit = #fn; \
		snprintf(api_test_seg, sizeof(api_test_seg), "%.*s", \
		    (int)c->seg_len, c->seg != NULL ? c->seg : ""); \
		return 200; \
	}

API_TEST_STUB(api_healthz)
API_TEST_STUB(api_metrics)
API_TEST_STUB(api_compact)
API_TEST_STUB(api_clients_list)
API_TEST_STUB(api_clients_create)
API_TEST_STUB(api_client_get)
API_TEST_STUB(api_client_delete)
API_TEST_STUB(api_client_rotate)
API_TEST_STUB(api_client_rotate_secret)
API_TEST_STUB(api_whoami)
API_TEST_STUB(api_endpoints_list)
API_TEST_STUB(api_endpoints_create)
API_TEST_STUB(api_endpoint_get)
API_TEST_STUB(api_endpoint_patch)
API_TEST_STUB(api_endpoint_delete)
API_TEST_STUB(api_endpoint_rotate)
API_TEST_STUB(api_endpoint_replay)
API_TEST_STUB(api_endpoint_test)
API_TEST_STUB(api_events_create)
API_TEST_STUB(api_events_list)
API_TEST_STUB(api_event_get)
API_TEST_STUB(api_deliveries_list)
API_TEST_STUB(api_delivery_get)
API_TEST_STUB(api_delivery_retry)
API_TEST_STUB(api_web_asset)
API_TEST_STUB(api_attempts_list)

/* The gateway's handler (api_gateway.c) is a stand-in too. */
int
api_gateway(struct api_ctx *c, const struct config_route *rt,
    const char *path, size_t len)
{
	api_test_hit = "api_gateway";
	snprintf(api_test_seg, sizeof(api_test_seg), "%s|%.*s", rt->prefix,
	    (int)len, path);
	(void)c;
	return 202;
}

#define API_TEST_ADMIN "hka_unit_test_admin_token"

/* Answer one request; its body (NUL-terminated) stays in out. */
static int
api_test_run(const char *method, const char *target, const char *auth,
    struct buf *out)
{
	struct http_header h = { "Authorization", 13, auth,
	    auth != NULL ? strlen(auth) : 0 };
	struct api_request r;
	const char *ctype = NULL;

	memset(&r, 0, sizeof(r));
	r.method = method;
	r.method_len = strlen(method);
	r.target = target;
	r.target_len = strlen(target);
	r.headers = auth != NULL ? &h : NULL;
	r.num_headers = auth != NULL ? 1 : 0;
	api_test_hit = NULL;
	api_test_seg[0] = '\0';
	buf_reset(out);
	buf_puts(out, "");	/* data is never NULL below */
	return api_handle(&r, out, &ctype);
}

/* Path and method to handler, or to the refusal (handler NULL), with a part
 * of the error that the answer must hold. */
static void
test_api_routes(void)
{
	static const char *const A = "Bearer " API_TEST_ADMIN;
	static const struct {
		const char *method, *target, *auth;
		int status;
		const char *handler;	/* NULL: none may run */
		const char *seg;	/* the {id} the handler got */
		const char *error;	/* in the answer when handler is NULL */
	} t[] = {
		/* Every route of the table, as the admin. */
		{ "GET", "/healthz", NULL, 200, "api_healthz", "", NULL },
		{ "GET", "/metrics", NULL, 200, "api_metrics", "", NULL },
		/* The console and the OpenAPI document: no token. */
		{ "GET", "/console", NULL, 200, "api_web_asset", "", NULL },
		{ "GET", "/console/console.js", NULL, 200, "api_web_asset",
		    "console.js", NULL },
		{ "GET", "/openapi.json", NULL, 200, "api_web_asset", "", NULL },
		{ "GET", "/console/", NULL, 200, "api_web_asset", "", NULL },
		/* HEAD of the console's files only (server_conn.c drops the
		 * body); the API's routes stay 405. */
		{ "HEAD", "/console", NULL, 200, "api_web_asset", "", NULL },
		{ "HEAD", "/console/console.js", NULL, 200, "api_web_asset",
		    "console.js", NULL },
		{ "HEAD", "/healthz", NULL, 405, NULL, NULL,
		    "method not allowed" },
		{ "HEAD", "/v1/events", A, 405, NULL, NULL,
		    "method not allowed" },
		{ "GET", "/v1/whoami", A, 200, "api_whoami", "", NULL },
		{ "GET", "/v1/clients", A, 200, "api_clients_list", "", NULL },
		{ "POST", "/v1/clients", A, 200, "api_clients_create", "", NULL },
		{ "GET", "/v1/clients/acme", A, 200, "api_client_get", "acme",
		    NULL },
		{ "DELETE", "/v1/clients/acme", A, 200, "api_client_delete",
		    "acme", NULL },
		{ "POST", "/v1/clients/acme/rotate-token", A, 200,
		    "api_client_rotate", "acme", NULL },
		{ "POST", "/v1/clients/acme/rotate-secret", A, 200,
		    "api_client_rotate_secret", "acme", NULL },
		{ "GET", "/v1/endpoints", A, 200, "api_endpoints_list", "", NULL },
		{ "POST", "/v1/endpoints", A, 200, "api_endpoints_create", "",
		    NULL },
		{ "GET", "/v1/endpoints/ep_1", A, 200, "api_endpoint_get",
		    "ep_1", NULL },
		{ "PATCH", "/v1/endpoints/ep_1", A, 200, "api_endpoint_patch",
		    "ep_1", NULL },
		{ "DELETE", "/v1/endpoints/ep_1", A, 200, "api_endpoint_delete",
		    "ep_1", NULL },
		{ "POST", "/v1/endpoints/ep_1/rotate-secret", A, 200,
		    "api_endpoint_rotate", "ep_1", NULL },
		{ "POST", "/v1/endpoints/ep_1/replay", A, 200,
		    "api_endpoint_replay", "ep_1", NULL },
		{ "POST", "/v1/endpoints/ep_1/test", A, 200,
		    "api_endpoint_test", "ep_1", NULL },
		{ "GET", "/v1/events", A, 200, "api_events_list", "", NULL },
		{ "POST", "/v1/events", A, 200, "api_events_create", "", NULL },
		{ "GET", "/v1/events/evt_7", A, 200, "api_event_get", "evt_7",
		    NULL },
		{ "GET", "/v1/deliveries", A, 200, "api_deliveries_list", "",
		    NULL },
		{ "GET", "/v1/deliveries/dlv_9", A, 200, "api_delivery_get",
		    "dlv_9", NULL },
		{ "POST", "/v1/deliveries/dlv_9/retry", A, 200,
		    "api_delivery_retry", "dlv_9", NULL },
		{ "POST", "/v1/compact", A, 200, "api_compact", "", NULL },
		{ "GET", "/v1/attempts", A, 200, "api_attempts_list", "",
		    NULL },
		/* A known path with another method: 405. */
		{ "PUT", "/v1/clients", A, 405, NULL, NULL, "method not allowed" },
		{ "DELETE", "/v1/events", A, 405, NULL, NULL,
		    "method not allowed" },
		{ "GET", "/v1/compact", A, 405, NULL, NULL, "method not allowed" },
		{ "POST", "/healthz", NULL, 405, NULL, NULL,
		    "method not allowed" },
		{ "GET", "/v1/clients/acme/rotate-token", A, 405, NULL, NULL,
		    "method not allowed" },
		{ "get", "/v1/events", A, 405, NULL, NULL, "method not allowed" },
		/* No route: 404. '*' is one non-empty segment. */
		{ "GET", "/v1/nope", A, 404, NULL, NULL, "not found" },
		{ "GET", "/v1", A, 404, NULL, NULL, "not found" },
		{ "GET", "/v1/events/", A, 404, NULL, NULL, "not found" },
		{ "GET", "/v1/clients/a/b", A, 404, NULL, NULL, "not found" },
		{ "GET", "/v1/events/evt_7/", A, 404, NULL, NULL, "not found" },
		{ "GET", "/healthz/", NULL, 404, NULL, NULL, "not found" },
		{ "GET", "/nope", NULL, 404, NULL, NULL, "not found" },
		{ "GET", "/v1x", NULL, 404, NULL, NULL, "not found" },
		/* Under /v1 the token comes first: an anonymous caller cannot
		 * tell known paths from unknown ones (contract §2, §11). */
		{ "GET", "/v1/nope", NULL, 401, NULL, NULL,
		    "missing Authorization header" },
		{ "PUT", "/v1/clients", NULL, 401, NULL, NULL,
		    "missing Authorization header" },
		{ "GET", "/v1", NULL, 401, NULL, NULL,
		    "missing Authorization header" },
		{ "GET", "/v1/events", "Basic " API_TEST_ADMIN, 401, NULL, NULL,
		    "malformed Authorization header" },
		{ "GET", "/v1/events", "Bearer ", 401, NULL, NULL,
		    "malformed Authorization header" },
		{ "GET", "/v1/events", "bearer   " API_TEST_ADMIN, 200,
		    "api_events_list", "", NULL },
		{ "GET", "/v1/events", "Bearer " API_TEST_ADMIN "x", 401, NULL,
		    NULL, "unknown token" },
	};
	struct buf out = {0};
	size_t i;
	int st;

	api_set_admin_token(API_TEST_ADMIN);
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		st = api_test_run(t[i].method, t[i].target, t[i].auth, &out);
		CHECKF(st == t[i].status, "%s %s: %d, want %d", t[i].method,
		    t[i].target, st, t[i].status);
		if (t[i].handler != NULL) {
			CHECKF(api_test_hit != NULL &&
			    strcmp(api_test_hit, t[i].handler) == 0,
			    "%s %s ran %s", t[i].method, t[i].target,
			    api_test_hit != NULL ? api_test_hit : "nothing");
			CHECKF(strcmp(api_test_seg, t[i].seg) == 0,
			    "%s %s: seg %s", t[i].method, t[i].target,
			    api_test_seg);
		} else {
			CHECKF(api_test_hit == NULL, "%s %s ran %s",
			    t[i].method, t[i].target, api_test_hit);
			CHECKF(out.data != NULL &&
			    strstr(out.data, t[i].error) != NULL,
			    "%s %s: %s", t[i].method, t[i].target,
			    out.data != NULL ? out.data : "(none)");
		}
	}
	api_set_admin_token(NULL);
	buf_free(&out);
}

/*
 * Contract §11: each route takes its own query parameters; another one is
 * refused with 400 naming the nearest known one when it looks like a slip,
 * a known one given twice is refused too, and the handler never runs.
 */
static void
test_api_params(void)
{
	static const struct {
		const char *method, *target;
		int status;
		const char *error;	/* NULL: the handler runs */
	} t[] = {
		{ "GET", "/v1/events?client=a&type=b&limit=3&after=evt_1", 200,
		    NULL },
		{ "GET", "/v1/events?", 200, NULL },
		{ "GET", "/v1/events?&limit=1&", 200, NULL },
		{ "GET", "/v1/deliveries?client=a&endpoint=ep_1&event=evt_1&"
		    "status=failed&limit=5&after=dlv_1", 200, NULL },
		{ "GET", "/v1/clients?limit=2&after=acme", 200, NULL },
		{ "POST", "/v1/events?callbackURL=http%3A%2F%2Fx", 200, NULL },
		{ "GET", "/v1/events?limt=5", 400,
		    "{\"error\":\"unknown query parameter \\\"limt\\\" (did you "
		    "mean limit?)\"}" },
		{ "GET", "/v1/deliveries?staus=failed", 400,
		    "{\"error\":\"unknown query parameter \\\"staus\\\" (did you "
		    "mean status?)\"}" },
		{ "POST", "/v1/events?callbackUrl=http://x", 400,
		    "{\"error\":\"unknown query parameter \\\"callbackUrl\\\" "
		    "(did you mean callbackURL?)\"}" },
		{ "GET", "/v1/events?zebra=1", 400,
		    "{\"error\":\"unknown query parameter \\\"zebra\\\"\"}" },
		{ "GET", "/v1/clients?client=a", 400,
		    "{\"error\":\"unknown query parameter \\\"client\\\"\"}" },
		{ "GET", "/healthz?x=1", 400,
		    "{\"error\":\"unknown query parameter \\\"x\\\": this path "
		    "takes none\"}" },
		{ "GET", "/v1/clients/acme?limit=1", 400,
		    "{\"error\":\"unknown query parameter \\\"limit\\\": this "
		    "path takes none\"}" },
		/* A name that is not a plain word is not echoed. */
		{ "GET", "/v1/events?a%22b=1", 400,
		    "{\"error\":\"unknown query parameter\"}" },
		{ "GET", "/metrics?%3Cx%3E", 400,
		    "{\"error\":\"unknown query parameter: this path takes "
		    "none\"}" },
		/* Repeated, with or without values. */
		{ "GET", "/v1/events?limit=5&limit=6", 400,
		    "{\"error\":\"query parameter \\\"limit\\\" given twice\"}" },
		{ "GET", "/v1/events?limit=5&type=a&limit=5", 400,
		    "{\"error\":\"query parameter \\\"limit\\\" given twice\"}" },
		{ "POST", "/v1/events?callbackURL=a&callbackURL=b", 400,
		    "{\"error\":\"query parameter \\\"callbackURL\\\" given "
		    "twice\"}" },
		{ "GET", "/v1/deliveries?status&status", 400,
		    "{\"error\":\"query parameter \\\"status\\\" given twice\"}" },
	};
	struct buf out = {0};
	size_t i;
	int st;

	api_set_admin_token(API_TEST_ADMIN);
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		st = api_test_run(t[i].method, t[i].target,
		    "Bearer " API_TEST_ADMIN, &out);
		CHECKF(st == t[i].status, "%s: %d, want %d", t[i].target, st,
		    t[i].status);
		if (t[i].error == NULL) {
			CHECKF(api_test_hit != NULL, "%s: no handler ran",
			    t[i].target);
		} else {
			CHECKF(api_test_hit == NULL, "%s ran %s", t[i].target,
			    api_test_hit);
			CHECKF(strcmp(out.data, t[i].error) == 0, "%s: %s",
			    t[i].target, out.data);
		}
	}
	api_set_admin_token(NULL);
	buf_free(&out);
}

/* Contract §18: the head alone is enough to refuse a request under /v1
 * without a valid token; other paths are not looked at. */
static void
test_api_auth_head(void)
{
	static const struct {
		const char *target, *auth;
		int status;
	} t[] = {
		{ "/healthz", NULL, 0 },
		{ "/nope", NULL, 0 },
		{ "/v1x", NULL, 0 },
		{ "/v1", NULL, 401 },
		{ "/v1/events", NULL, 401 },
		{ "/v1/events?limit=1", NULL, 401 },
		{ "/v1/nope", NULL, 401 },
		{ "/v1/events", "Bearer " API_TEST_ADMIN, 0 },
		{ "/v1/events", "Bearer nope", 401 },
		{ "/v1/events", "Token " API_TEST_ADMIN, 401 },
	};
	struct http_header h = { "Authorization", 13, NULL, 0 };
	struct api_request r;
	struct buf out = {0};
	const char *ctype;
	size_t i;
	int st;

	api_set_admin_token(API_TEST_ADMIN);
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		memset(&r, 0, sizeof(r));
		r.method = "POST";
		r.method_len = 4;
		r.target = t[i].target;
		r.target_len = strlen(t[i].target);
		if (t[i].auth != NULL) {
			h.value = t[i].auth;
			h.value_len = strlen(t[i].auth);
			r.headers = &h;
			r.num_headers = 1;
		}
		buf_reset(&out);
		st = api_auth_head(&r, &out, &ctype);
		CHECKF(st == t[i].status, "%s %s: %d", t[i].target,
		    t[i].auth != NULL ? t[i].auth : "-", st);
		CHECKF((st == 0) == (out.len == 0), "%s: body %zu bytes",
		    t[i].target, out.len);
	}
	api_set_admin_token(NULL);
	buf_free(&out);
}

/*
 * Contract §14: a path under a route's prefix goes to the gateway, with
 * the token checked first (on the head too); other paths route as before.
 */
static void
test_api_gateway_route(void)
{
	static const char *const A = "Bearer " API_TEST_ADMIN;
	struct config cfg;
	char err[256];
	struct buf out = {0};
	const char *ctype;
	struct api_request r;
	int st;
	FILE *f;
	char path[64];

	snprintf(path, sizeof(path), "/tmp/hookd-unit-api-%d", (int)getpid());
	f = fopen(path, "w");
	CHECK(f != NULL);
	if (f == NULL)
		return;
	fputs("route /api/ http://u.example/\nroute /api/v2/ http://v.example/\n",
	    f);
	fclose(f);
	config_defaults(&cfg);
	CHECKF(config_load(&cfg, path, err, sizeof(err)) == 0, "%s", err);
	unlink(path);
	config_set_current(&cfg);
	api_set_admin_token(API_TEST_ADMIN);

	api_test_hit = NULL;
	st = api_test_run("POST", "/api/foo?x=1", NULL, &out);
	CHECKF(st == 401 && api_test_hit == NULL, "no token: %d", st);
	st = api_test_run("POST", "/api/foo?x=1", A, &out);
	CHECKF(st == 202 && api_test_hit != NULL &&
	    strcmp(api_test_seg, "/api/|/api/foo") == 0, "%d %s", st,
	    api_test_seg);
	st = api_test_run("DELETE", "/api/v2/x", A, &out);
	CHECKF(st == 202 && strcmp(api_test_seg, "/api/v2/|/api/v2/x") == 0,
	    "longest prefix: %s", api_test_seg);
	api_test_hit = NULL;
	st = api_test_run("GET", "/apx", A, &out);
	CHECKF(st == 404 && api_test_hit == NULL, "not a route: %d", st);
	st = api_test_run("GET", "/healthz", NULL, &out);
	CHECKF(st == 200 && strcmp(api_test_hit, "api_healthz") == 0,
	    "healthz: %d", st);
	/* On the head alone: 401 before the body is read. */
	memset(&r, 0, sizeof(r));
	r.method = "POST";
	r.method_len = 4;
	r.target = "/api/foo";
	r.target_len = 8;
	buf_reset(&out);
	st = api_auth_head(&r, &out, &ctype);
	CHECKF(st == 401, "head without a token: %d", st);

	api_set_admin_token(NULL);
	config_set_current(NULL);
	config_free(&cfg);
	buf_free(&out);
}

/*
 * Contract §17: Hookd-Client agrees with the path, the body and ?client=,
 * or the request is refused with 400 naming both values before any
 * handler runs; malformed or repeated it is refused too; a route about no
 * one client accepts it. (The token and the owners of endpoints, events
 * and deliveries need a store: tests/integ/test_shard.py.)
 */
static void
test_api_client_header(void)
{
	static const struct {
		const char *method, *target, *hc, *hc2, *body;
		int status;
		const char *error;	/* NULL: the handler runs */
	} t[] = {
		/* Agreement, and no header at all. */
		{ "POST", "/v1/clients", "acme", NULL, "{\"id\":\"acme\"}",
		    200, NULL },
		{ "POST", "/v1/clients", NULL, NULL, "{\"id\":\"acme\"}", 200,
		    NULL },
		{ "POST", "/v1/events", "acme", NULL,
		    "{\"type\":\"t\",\"client\":\"acme\",\"data\":{}}", 200,
		    NULL },
		{ "POST", "/v1/endpoints", "acme", NULL,
		    "{\"client\":\"acme\",\"url\":\"http://x/\"}", 200, NULL },
		{ "GET", "/v1/clients/acme", "acme", NULL, NULL, 200, NULL },
		{ "POST", "/v1/clients/acme/rotate-token", "acme", NULL, NULL,
		    200, NULL },
		{ "GET", "/v1/events?client=acme", "acme", NULL, NULL, 200, NULL },
		{ "GET", "/v1/deliveries?client=acme&status=failed", "acme",
		    NULL, NULL, 200, NULL },
		/* ?event= and ?endpoint= naming nothing in the store: no
		 * owner to disagree with; the handler lists nothing. */
		{ "GET", "/v1/deliveries?event=evt_0000000000000001", "acme",
		    NULL, NULL, 200, NULL },
		{ "GET", "/v1/deliveries?endpoint=ep_0000000000000001&client="
		    "acme", "acme", NULL, NULL, 200, NULL },
		/* Routes about no one client: accepted and ignored. */
		{ "GET", "/v1/clients", "acme", NULL, NULL, 200, NULL },
		{ "GET", "/v1/events", "acme", NULL, NULL, 200, NULL },
		{ "POST", "/v1/compact", "acme", NULL, NULL, 200, NULL },
		/* The body's client or id is left to the handler when it is
		 * absent, not a string or not an id, or the body not an
		 * object. */
		{ "POST", "/v1/events", "acme", NULL, "{\"type\":\"t\"}", 200,
		    NULL },
		{ "POST", "/v1/events", "acme", NULL, "{\"client\":5}", 200,
		    NULL },
		{ "POST", "/v1/events", "acme", NULL, "[1]", 200, NULL },
		{ "POST", "/v1/events", "acme", NULL, "", 200, NULL },
		{ "POST", "/v1/clients", "acme", NULL, "{\"id\":\"a b\"}", 200,
		    NULL },
		/* Disagreements. */
		{ "POST", "/v1/clients", "acme", NULL, "{\"id\":\"beta\"}",
		    400, "{\"error\":\"Hookd-Client says acme but the body's id "
		    "is beta: both must name the client the request is "
		    "about\"}" },
		{ "POST", "/v1/events", "acme", NULL,
		    "{\"type\":\"t\",\"client\":\"beta\",\"data\":{}}", 400,
		    "{\"error\":\"Hookd-Client says acme but the body's client "
		    "is beta: both must name the client the request is "
		    "about\"}" },
		{ "POST", "/v1/endpoints", "acme", NULL,
		    "{\"url\":\"http://x/\",\"client\":\"beta\"}", 400,
		    "{\"error\":\"Hookd-Client says acme but the body's client "
		    "is beta: both must name the client the request is "
		    "about\"}" },
		{ "DELETE", "/v1/clients/beta", "acme", NULL, NULL, 400,
		    "{\"error\":\"Hookd-Client says acme but the path's client "
		    "is beta: both must name the client the request is "
		    "about\"}" },
		{ "POST", "/v1/clients/beta/rotate-secret", "acme", NULL, NULL,
		    400, "{\"error\":\"Hookd-Client says acme but the path's "
		    "client is beta: both must name the client the request is "
		    "about\"}" },
		{ "GET", "/v1/clients/a%20b", "acme", NULL, NULL, 400,
		    "{\"error\":\"Hookd-Client does not match the client id in "
		    "the path\"}" },
		{ "GET", "/v1/endpoints?client=beta", "acme", NULL, NULL, 400,
		    "{\"error\":\"Hookd-Client says acme but ?client= is beta: "
		    "both must name the client the request is about\"}" },
		{ "GET", "/v1/deliveries?status=failed&client=be%74a", "acme",
		    NULL, NULL, 400, "{\"error\":\"Hookd-Client says acme but "
		    "?client= is beta: both must name the client the request is "
		    "about\"}" },
		/* A body that is not JSON: the handler's own 400. */
		{ "POST", "/v1/events", "acme", NULL, "{", 400,
		    "{\"error\":\"body is not valid JSON\"}" },
		/* Malformed, or given twice (even with one value). */
		{ "GET", "/v1/clients", "", NULL, NULL, 400,
		    "{\"error\":\"Hookd-Client must be a client id: 1-64 of A-Z "
		    "a-z 0-9 . _ -\"}" },
		{ "GET", "/v1/clients/acme", "ac/me", NULL, NULL, 400,
		    "{\"error\":\"Hookd-Client must be a client id: 1-64 of A-Z "
		    "a-z 0-9 . _ -\"}" },
		{ "GET", "/v1/clients/acme", "acme", "acme", NULL, 400,
		    "{\"error\":\"Hookd-Client given twice: send it once, with "
		    "the id of the client the request is about\"}" },
		/* Not under /v1: not looked at. */
		{ "GET", "/healthz", "a b", NULL, NULL, 200, NULL },
	};
	struct http_header h[3];
	struct api_request r;
	struct buf out = {0};
	const char *ctype;
	size_t i;
	int st;

	api_set_admin_token(API_TEST_ADMIN);
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		memset(&r, 0, sizeof(r));
		r.method = t[i].method;
		r.method_len = strlen(t[i].method);
		r.target = t[i].target;
		r.target_len = strlen(t[i].target);
		h[0] = (struct http_header){ "Authorization", 13,
		    "Bearer " API_TEST_ADMIN,
		    strlen("Bearer " API_TEST_ADMIN) };
		r.num_headers = 1;
		if (t[i].hc != NULL)
			h[r.num_headers++] = (struct http_header){
			    "hookd-client", 12, t[i].hc, strlen(t[i].hc) };
		if (t[i].hc2 != NULL)
			h[r.num_headers++] = (struct http_header){
			    "Hookd-Client", 12, t[i].hc2, strlen(t[i].hc2) };
		r.headers = h;
		r.body = t[i].body;
		r.body_len = t[i].body != NULL ? strlen(t[i].body) : 0;
		api_test_hit = NULL;
		buf_reset(&out);
		buf_puts(&out, "");
		st = api_handle(&r, &out, &ctype);
		CHECKF(st == t[i].status, "%s %s [%s]: %d, want %d",
		    t[i].method, t[i].target, t[i].hc ? t[i].hc : "-", st,
		    t[i].status);
		if (t[i].error == NULL) {
			CHECKF(api_test_hit != NULL, "%s %s: no handler ran",
			    t[i].method, t[i].target);
		} else {
			CHECKF(api_test_hit == NULL, "%s %s ran %s",
			    t[i].method, t[i].target, api_test_hit);
			CHECKF(strcmp(out.data, t[i].error) == 0, "%s %s: %s",
			    t[i].method, t[i].target, out.data);
		}
	}
	api_set_admin_token(NULL);
	buf_free(&out);
}

void
test_api(void)
{
	test_api_client_header();
	test_api_routes();
	test_api_gateway_route();
	test_api_params();
	test_api_auth_head();
}
