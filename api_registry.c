/*
 * api_registry: the handlers of /v1/clients and /v1/endpoints (contract §3),
 * their JSON, and the endpoint drafts that create and patch them (shared
 * with api_static.c, the config file's static registrations).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "api_impl.h"
#include "config.h"
#include "deliver.h"
#include "http.h"
#include "sign.h"
#include "store.h"
#include "url.h"

/* ---- looking things up from the path ---- */

/* The client named by the {id} segment (admin routes only), or NULL. */
static struct client *
api_path_client(const struct api_ctx *c)
{
	struct client *cl = store_client_find(c->seg, c->seg_len);

	/* A client token sees only its own client (contract §11). */
	return cl != NULL && api_sees(c, cl->id) ? cl : NULL;
}

struct endpoint *
api_path_endpoint(const struct api_ctx *c)
{
	struct endpoint *e;
	uint64_t id;

	if (store_parse_id(STORE_EP, c->seg, c->seg_len, &id) != 0 ||
	    (e = store_endpoint_find(id)) == NULL || !api_sees(c, e->client->id))
		return NULL;
	return e;
}


/* ---- serializers: one per kind, shared by lists and single answers ---- */

/* A client; token only in the creation answer, secret only to the admin
 * asking for this one client. */
static void
api_put_client(struct buf *b, const struct client *cl, const char *token,
    int with_secret)
{
	buf_puts(b, "{");
	api_kv_str(b, "id", cl->id);
	api_kv_str(b, "name", cl->name);
	if (token != NULL)
		api_kv_str(b, "token", token);
	if (with_secret)
		api_kv_str(b, "secret", cl->secret);
	api_kv_time(b, "created_at", cl->created_at, 0);
	buf_puts(b, "}");
}

/* An endpoint's delivery policy (contract §15): null where the global
 * one holds; durations in the form the checkers read back. */
static void
api_put_policy(struct buf *b, const struct endpoint *e)
{
	char t[32];
	size_t i;

	api_kv_raw(b, "rate_limit", e->rate_milli != 0 ?
	    config_fmt_rate(e->rate_milli, t, sizeof(t)) : NULL);
	api_kv_str(b, "ordering", e->fifo ? "fifo" : "none");
	api_key(b, "retry_schedule");
	if (e->nretry == 0)
		buf_puts(b, "null");
	else {
		buf_puts(b, "[");
		for (i = 0; i < e->nretry; i++) {
			api_sep(b);
			json_put_cstr(b, config_fmt_duration(e->retry_ms[i], t,
			    sizeof(t)));
		}
		buf_puts(b, "]");
	}
	api_kv_str(b, "timeout", e->timeout_ms != 0 ?
	    config_fmt_duration(e->timeout_ms, t, sizeof(t)) : NULL);
}

static void
api_put_endpoint(struct buf *b, const struct endpoint *e, int with_secret)
{
	size_t i;

	buf_puts(b, "{");
	api_kv_id(b, "id", STORE_EP, e->id);
	api_kv_str(b, "client", e->client->id);
	api_kv_str(b, "url", e->url);
	api_kv_str(b, "method", e->method_get ? "GET" : "POST");
	api_key(b, "events");
	buf_puts(b, "[");
	for (i = 0; i < e->nevents; i++) {
		api_sep(b);
		json_put_cstr(b, e->events[i]);
	}
	buf_puts(b, "]");
	/* Extra headers often hold credentials: like the secret, they are
	 * shown for one endpoint, not in lists (contract §19.8). */
	if (with_secret)
		api_kv_raw(b, "headers", e->headers);
	api_kv_str(b, "description", e->description);
	if (with_secret)
		api_kv_str(b, "secret", e->secret);
	api_kv_bool(b, "enabled", e->enabled);
	api_kv_time(b, "created_at", e->created_at, 0);
	api_kv_time(b, "updated_at", e->updated_at, 0);
	api_put_policy(b, e);
	/* Health (contract §15): kept by the store as attempts end, so
	 * a list of 1000 endpoints costs no scan. */
	{
		struct store_health h;

		store_endpoint_health(e, util_wall_ms(), &h);
		api_key(b, "health");
		buf_puts(b, "{");
		api_kv_time(b, "last_success_at", h.last_success_at, 1);
		api_kv_time(b, "last_failure_at", h.last_failure_at, 1);
		api_kv_time(b, "failing_since", e->failing_since, 1);
		api_kv_u64(b, "delivered_24h", h.delivered_24h);
		api_kv_u64(b, "failed_24h", h.failed_24h);
		buf_puts(b, "}");
	}
	buf_puts(b, "}");
}

/* Clients and endpoints, adapted to struct api_list. */

static void *
api_client_at(size_t i)
{
	return store_client_at(i);
}

static int
api_client_keep(const struct api_ctx *c, void *item)
{
	(void)c;
	(void)item;
	return 1;
}

static int
api_client_put(struct api_ctx *c, void *item)
{
	api_put_client(c->out, item, NULL, 0);
	return 0;
}

static void
api_client_id(void *item, char out[UTIL_ID_MAX + 1])
{
	snprintf(out, UTIL_ID_MAX + 1, "%s", ((struct client *)item)->id);
}

static void *
api_endpoint_at(size_t i)
{
	return store_endpoint_at(i);
}

static int
api_endpoint_keep(const struct api_ctx *c, void *item)
{
	return api_keep_client_id(c, ((struct endpoint *)item)->client->id);
}

static int
api_endpoint_put(struct api_ctx *c, void *item)
{
	api_put_endpoint(c->out, item, 0);
	return 0;
}

static void
api_endpoint_id(void *item, char out[UTIL_ID_MAX + 1])
{
	store_fmt_id(STORE_EP, ((struct endpoint *)item)->id, out);
}

static const struct api_list api_list_clients = {
	api_client_at, api_client_keep, api_client_put, api_client_id,
};
static const struct api_list api_list_endpoints = {
	api_endpoint_at, api_endpoint_keep, api_endpoint_put, api_endpoint_id,
};

/* ---- /v1/clients (admin) ---- */

enum { CL_ID, CL_NAME, CL_NFIELDS };

static const struct api_field api_client_fields[CL_NFIELDS] = {
	[CL_ID] = { "id", API_T_STR, 1 },
	[CL_NAME] = { "name", API_T_STR | API_T_NULL, 0 },
};

/* A new client token: the text in tok, its SHA-256 (all that is stored) in
 * hash. 0 or -1. */
int
api_new_token(char tok[API_TOKEN_MAX], uint8_t hash[32])
{
	if (sign_token_new("hkc_", tok, API_TOKEN_MAX) != 0)
		return -1;
	sha256(tok, strlen(tok), hash);
	return 0;
}

int
api_clients_list(struct api_ctx *c)
{
	struct api_page p;
	size_t start;
	int st;

	if ((st = api_page(c, -1, &p)) != 0)
		return st;
	start = p.has_after ? store_client_after(p.after, p.after_len) : 0;
	return api_list_run(c, &api_list_clients, start, store_client_count(),
	    0, p.limit);
}

int
api_clients_create(struct api_ctx *c)
{
	int idx[CL_NFIELDS], st, n;
	char id[UTIL_ID_MAX + 1], name[API_NAME_MAX + 1];
	char tok[API_TOKEN_MAX], secret[SIGN_SECRET_MAX];
	const char *namep = NULL;
	uint8_t hash[32];
	struct client *cl;

	if ((st = api_body(c, api_client_fields, CL_NFIELDS, idx)) != 0)
		return st;
	n = api_str(c, idx[CL_ID], id, sizeof(id));
	if (n < 0 || !util_client_id_ok(id, (size_t)n))
		return api_error(c, 422,
		    "id must be 1-64 characters of A-Z a-z 0-9 . _ -");
	if (idx[CL_NAME] >= 0 && c->toks[idx[CL_NAME]].type == JSON_STRING) {
		if (api_str(c, idx[CL_NAME], name, sizeof(name)) < 0)
			return api_errorf(c, 422,
			    "name must be at most %d bytes", API_NAME_MAX);
		namep = name;
	}
	if (store_client_find(id, (size_t)n) != NULL)
		return api_error(c, 409, "a client with this id exists");
	if (store_client_id_held(id, (size_t)n, util_wall_ms()))
		return api_error(c, 409, "a deleted client had this id and "
		    "its events or idempotency keys are still kept (until "
		    "retention drops them); choose another id");
	if (api_new_token(tok, hash) != 0 || sign_secret_new(secret) != 0)
		return api_error(c, 500, "no randomness");
	cl = store_client_create(id, namep, hash, secret);
	if (cl == NULL) {
		st = api_store_error(c);
	} else {
		api_put_client(c->out, cl, tok, 1);
		st = api_done(c, 201);
	}
	sign_wipe(tok, sizeof(tok));
	sign_wipe(secret, sizeof(secret));
	return st;
}

int
api_client_get(struct api_ctx *c)
{
	struct client *cl = api_path_client(c);

	if (cl == NULL)
		return api_not_found(c);
	api_put_client(c->out, cl, NULL, 1);
	return api_done(c, 200);
}

int
api_whoami(struct api_ctx *c)
{
	buf_puts(c->out, "{");
	api_kv_str(c->out, "role", c->client != NULL ? "client" : "admin");
	api_kv_str(c->out, "client", c->client != NULL ? c->client->id : NULL);
	buf_puts(c->out, "}");
	return api_done(c, 200);
}

int
api_client_delete(struct api_ctx *c)
{
	struct client *cl = api_path_client(c);

	if (cl == NULL)
		return api_not_found(c);
	if (store_client_delete(cl) != 0)
		return api_store_error(c);
	return api_no_content(c);
}

int
api_client_rotate(struct api_ctx *c)
{
	struct client *cl = api_path_client(c);
	char tok[API_TOKEN_MAX];
	uint8_t hash[32];
	int st;

	if (cl == NULL)
		return api_not_found(c);
	if (api_new_token(tok, hash) != 0)
		return api_error(c, 500, "no randomness");
	if (store_client_set_token(cl, hash) != 0) {
		st = api_store_error(c);
	} else {
		buf_puts(c->out, "{");
		api_kv_str(c->out, "token", tok);
		buf_puts(c->out, "}");
		st = api_done(c, 200);
	}
	sign_wipe(tok, sizeof(tok));
	return st;
}

/*
 * Answer 200 {"secret"} with a new secret for the client cl or, when cl is
 * NULL, the endpoint e; the previous one signs too for 24 h (contract §4,
 * §11: an endpoint's deliveries, or the client's one-off callbacks). 404
 * when both are NULL.
 */
static int
api_rotate_secret(struct api_ctx *c, struct client *cl, struct endpoint *e)
{
	char secret[SIGN_SECRET_MAX];
	int64_t now = util_wall_ms();
	int st, rc;

	if (cl == NULL && e == NULL)
		return api_not_found(c);
	if (sign_secret_new(secret) != 0)
		return api_error(c, 500, "no randomness");
	rc = cl != NULL ? store_client_rotate(cl, secret, now) :
	    store_endpoint_rotate(e, secret, now);
	if (rc != 0) {
		st = api_store_error(c);
	} else {
		buf_puts(c->out, "{");
		api_kv_str(c->out, "secret", secret);
		buf_puts(c->out, "}");
		st = api_done(c, 200);
	}
	sign_wipe(secret, sizeof(secret));
	return st;
}

int
api_client_rotate_secret(struct api_ctx *c)
{
	return api_rotate_secret(c, api_path_client(c), NULL);
}

/* ---- /v1/endpoints ---- */

enum {
	EP_ID, EP_CLIENT, EP_URL, EP_METHOD, EP_EVENTS, EP_HEADERS,
	EP_DESCRIPTION, EP_SECRET, EP_ENABLED,
	/* Delivery policy (contract §15): */
	EP_RATE, EP_ORDERING, EP_RETRY, EP_TIMEOUT,
	EP_NFIELDS
};

/* The policy members, the same in POST and PATCH; null is the global
 * policy ("none" for ordering). */
#define API_EP_POLICY_FIELDS \
	[EP_RATE] = { "rate_limit", API_T_NUM | API_T_NULL, 0 }, \
	[EP_ORDERING] = { "ordering", API_T_STR | API_T_NULL, 0 }, \
	[EP_RETRY] = { "retry_schedule", API_T_ARR | API_T_NULL, 0 }, \
	[EP_TIMEOUT] = { "timeout", API_T_STR | API_T_NUM | API_T_NULL, 0 }

static const struct api_field api_ep_create_fields[EP_NFIELDS] = {
	[EP_ID] = { "id", 0, 0 },
	[EP_CLIENT] = { "client", API_T_STR, 0 },
	[EP_URL] = { "url", API_T_STR, 1 },
	[EP_METHOD] = { "method", API_T_STR, 0 },
	[EP_EVENTS] = { "events", API_T_ARR, 0 },
	[EP_HEADERS] = { "headers", API_T_OBJ | API_T_NULL, 0 },
	[EP_DESCRIPTION] = { "description", API_T_STR | API_T_NULL, 0 },
	[EP_SECRET] = { "secret", API_T_STR, 0 },
	[EP_ENABLED] = { "enabled", API_T_BOOL, 0 },
	API_EP_POLICY_FIELDS,
};

/* PATCH: the same members, but id, client and secret are not patchable
 * (rotate-secret changes the secret with the 24 h overlap). */
static const struct api_field api_ep_patch_fields[EP_NFIELDS] = {
	[EP_ID] = { "id", 0, 0 },
	[EP_CLIENT] = { "client", 0, 0 },
	[EP_URL] = { "url", API_T_STR, 0 },
	[EP_METHOD] = { "method", API_T_STR, 0 },
	[EP_EVENTS] = { "events", API_T_ARR, 0 },
	[EP_HEADERS] = { "headers", API_T_OBJ | API_T_NULL, 0 },
	[EP_DESCRIPTION] = { "description", API_T_STR | API_T_NULL, 0 },
	[EP_SECRET] = { "secret", 0, 0 },
	[EP_ENABLED] = { "enabled", API_T_BOOL, 0 },
	API_EP_POLICY_FIELDS,
};

void
api_draft_init(struct api_draft *d)
{
	memset(d, 0, sizeof(*d));
	d->e.events = d->events;
	d->e.enabled = 1;
}

static void
api_draft_clear_events(struct api_draft *d)
{
	while (d->e.nevents > 0)
		free(d->events[--d->e.nevents]);
}

void
api_draft_free(struct api_draft *d)
{
	api_draft_clear_events(d);
	free(d->e.url);
	free(d->e.headers);
	free(d->e.description);
	free(d->e.retry_ms);
	sign_wipe(d->e.secret, sizeof(d->e.secret));
	sign_wipe(d->e.prev_secret, sizeof(d->e.prev_secret));
}

/* Replace the string in *slot with a copy of s (n bytes), or NULL. */
int
api_draft_set(char **slot, const char *s, size_t n)
{
	char *p = NULL;

	if (s != NULL && (p = util_strndup(s, n)) == NULL)
		return -1;
	free(*slot);
	*slot = p;
	return 0;
}

/* Replace the draft's retry schedule with a copy of ms[0..n) (n 0: the
 * global one). 0 or -1 out of memory. */
int
api_draft_set_retry(struct api_draft *d, const int64_t *ms, size_t n)
{
	int64_t *p = NULL;

	if (n > 0 && (p = malloc(n * sizeof(*p))) == NULL)
		return -1;
	if (n > 0)
		memcpy(p, ms, n * sizeof(*p));
	free(d->e.retry_ms);
	d->e.retry_ms = p;
	d->e.nretry = (uint8_t)n;
	return 0;
}

int
api_draft_add_filter(struct api_draft *d, const char *s, size_t n)
{
	if (d->e.nevents == UTIL_MAX_FILTERS ||
	    (d->events[d->e.nevents] = util_strndup(s, n)) == NULL)
		return -1;
	d->e.nevents++;
	return 0;
}

/* Start a PATCH from copies of everything e holds now, so that the store
 * never copies from strings it is about to free. 0 or -1. */
int
api_draft_copy(struct api_draft *d, const struct endpoint *e)
{
	size_t i;

	d->e = *e;
	d->e.events = d->events;
	d->e.nevents = 0;
	d->e.url = d->e.headers = d->e.description = NULL;
	d->e.retry_ms = NULL;
	d->e.nretry = 0;
	if (api_draft_set_retry(d, e->retry_ms, e->nretry) != 0 ||
	    api_draft_set(&d->e.url, e->url, strlen(e->url)) != 0 ||
	    (e->headers != NULL && api_draft_set(&d->e.headers, e->headers,
	    strlen(e->headers)) != 0) ||
	    (e->description != NULL && api_draft_set(&d->e.description,
	    e->description, strlen(e->description)) != 0))
		return -1;
	for (i = 0; i < e->nevents; i++)
		if (api_draft_add_filter(d, e->events[i],
		    strlen(e->events[i])) != 0)
			return -1;
	return 0;
}

static int
api_ep_url(struct api_ctx *c, struct api_draft *d, int idx)
{
	char url[URL_MAX + 1];
	const char *why;
	char wbuf[API_ERR_MAX];
	int n = api_str(c, idx, url, sizeof(url));

	if (n < 0)
		return api_error(c, 422, "url: too long");
	if ((why = api_url_problem(url, (size_t)n, wbuf, sizeof(wbuf))) != NULL)
		return api_error(c, 422, why);
	if (api_draft_set(&d->e.url, url, (size_t)n) != 0)
		return api_nomem(c);
	return 0;
}

static int
api_ep_method(struct api_ctx *c, struct api_draft *d, int idx)
{
	const struct json_tok *t = &c->toks[idx];

	if (json_str_eq(c->json, t, "POST"))
		d->e.method_get = 0;
	else if (json_str_eq(c->json, t, "GET"))
		d->e.method_get = 1;
	else
		return api_error(c, 422, "method must be POST or GET");
	return 0;
}

static int
api_ep_events(struct api_ctx *c, struct api_draft *d, int idx)
{
	const struct json_tok *arr = &c->toks[idx];
	char type[UTIL_TYPE_MAX + 1];
	size_t m, i = (size_t)idx + 1;
	int n;

	if (arr->size == 0 || arr->size > UTIL_MAX_FILTERS)
		return api_errorf(c, 422, "events must hold 1 to %d filters",
		    UTIL_MAX_FILTERS);
	api_draft_clear_events(d);
	for (m = 0; m < arr->size; m++, i = c->toks[i].next) {
		if (c->toks[i].type != JSON_STRING ||
		    (n = api_str(c, (int)i, type, sizeof(type))) < 0 ||
		    !api_type_ok(type, (size_t)n, 1))
			return api_errorf(c, 422, "events: each filter must be "
			    "1-%d visible ASCII characters, '*' only at the "
			    "end", UTIL_TYPE_MAX);
		if (api_draft_add_filter(d, type, (size_t)n) != 0)
			return api_nomem(c);
	}
	return 0;
}

/* One extra header: check it and append "name":"value" to hb. names holds
 * the names seen so far (for refusing repeats). 0 or the 422 answer. */
static int
api_ep_header(struct api_ctx *c, size_t k, struct buf *hb,
    char names[][API_HEADER_NAME_MAX + 1], size_t nnames, size_t *bytes)
{
	char value[API_HEADER_VALUE_MAX + 1];
	const char *why;
	size_t j;
	int nl, vl;

	nl = api_str(c, (int)k, names[nnames], API_HEADER_NAME_MAX + 1);
	if (nl < 0)	/* too long, or a NUL: no tchar either way */
		return api_errorf(c, 422, "headers: a name must be an HTTP "
		    "token of at most %d characters", API_HEADER_NAME_MAX);
	if ((why = api_header_name_problem(names[nnames], (size_t)nl)) != NULL)
		return api_error(c, 422, why);
	/* Refused here, not dropped at delivery: the same list decides. */
	if (http_header_reserved(names[nnames], (size_t)nl))
		return api_errorf(c, 422, "headers: \"%s\" is set by hookd "
		    "itself or is a hop-by-hop or framing header; an endpoint "
		    "cannot send it", names[nnames]);
	for (j = 0; j < nnames; j++)
		if (util_span_ieq(names[nnames], (size_t)nl, names[j]))
			return api_error(c, 422, "headers: a name is repeated");
	if (c->toks[k + 1].type != JSON_STRING)
		return api_error(c, 422, "headers: values must be strings");
	vl = api_str(c, (int)k + 1, value, sizeof(value));
	if (vl < 0 || !http_value_ok(value, (size_t)vl))
		return api_errorf(c, 422, "headers: values must be at most %d "
		    "bytes without control characters", API_HEADER_VALUE_MAX);
	*bytes += (size_t)nl + 2 + (size_t)vl + 2;	/* "n: v" CRLF */
	if (*bytes > API_HEADERS_BYTES_MAX)
		return api_errorf(c, 422, "headers: at most %d bytes in all "
		    "(max_endpoint_headers)", API_HEADERS_BYTES_MAX);
	api_sep(hb);
	json_put_str(hb, names[nnames], (size_t)nl);
	buf_puts(hb, ":");
	json_put_str(hb, value, (size_t)vl);
	return 0;
}

/* headers: null clears them; an object is checked and stored re-encoded,
 * so what deliveries parse later is hookd's own canonical JSON. */
static int
api_ep_headers(struct api_ctx *c, struct api_draft *d, int idx)
{
	char names[HTTP_MAX_HEADERS][API_HEADER_NAME_MAX + 1];
	const struct json_tok *obj = &c->toks[idx];
	size_t bytes = 0;
	struct buf hb = {0};
	size_t m, k = (size_t)idx + 1;
	int st = 0;

	if (obj->type == JSON_NULL)
		return api_draft_set(&d->e.headers, NULL, 0);
	if (obj->size > config_current()->max_endpoint_headers)
		return api_errorf(c, 422, "headers: at most %zu "
		    "(max_endpoint_headers)", config_current()->max_endpoint_headers);
	buf_puts(&hb, "{");
	for (m = 0; m < obj->size && st == 0; m++) {
		st = api_ep_header(c, k, &hb, names, m, &bytes);
		k = c->toks[k + 1].next;
	}
	buf_puts(&hb, "}");
	if (st == 0 && hb.oom)
		st = api_nomem(c);
	if (st == 0) {
		free(d->e.headers);
		d->e.headers = hb.data;
	} else {
		buf_free(&hb);
	}
	return st;
}

static int
api_ep_description(struct api_ctx *c, struct api_draft *d, int idx)
{
	char desc[API_DESC_MAX + 1];
	int n;

	if (c->toks[idx].type == JSON_NULL)
		return api_draft_set(&d->e.description, NULL, 0);
	n = api_str(c, idx, desc, sizeof(desc));
	if (n < 0)
		return api_errorf(c, 422, "description must be at most %d "
		    "bytes", API_DESC_MAX);
	if (api_draft_set(&d->e.description, desc, (size_t)n) != 0)
		return api_nomem(c);
	return 0;
}

static int
api_ep_secret(struct api_ctx *c, struct api_draft *d, int idx)
{
	char secret[SIGN_SECRET_MAX];
	int n = api_str(c, idx, secret, sizeof(secret));

	if (n < 0 || !api_secret_ok(secret, (size_t)n)) {
		sign_wipe(secret, sizeof(secret));
		return api_error(c, 422, "secret must be whsec_ followed by "
		    "the base64 of 24 to 64 bytes");
	}
	memcpy(d->e.secret, secret, (size_t)n + 1);
	sign_wipe(secret, sizeof(secret));
	return 0;
}

/* ---- the delivery policy members (contract §15), checked by config's
 * checkers: one rule for the API and the config file ---- */

/* A scalar token's text (a number or a string's decoded bytes) into out,
 * NUL-terminated. Its length, or -1 when it does not fit. */
static int
api_ep_scalar(struct api_ctx *c, int idx, char *out, size_t outsz)
{
	const struct json_tok *t = &c->toks[idx];

	if (t->type == JSON_STRING)
		return api_str(c, idx, out, outsz);
	if (t->len >= outsz)
		return -1;
	memcpy(out, c->json + t->start, t->len);
	out[t->len] = '\0';
	return (int)t->len;
}

static int
api_ep_rate(struct api_ctx *c, struct api_draft *d, int idx)
{
	const char *why;
	/* A rate's text: room for trailing zeros ("2.50000"), while one
	 * longer is refused before it is read. */
	char v[64];
	int n;

	d->e.rate_milli = 0;
	if (c->toks[idx].type == JSON_NULL)
		return 0;
	n = api_ep_scalar(c, idx, v, sizeof(v));
	if (n < 0 || config_check_rate(v, (size_t)n, &d->e.rate_milli,
	    &why) != 0)
		return api_error(c, 422, n < 0 ? "rate_limit must be a number "
		    "of deliveries a second from 0.001 to 10000" : why);
	return 0;
}

static int
api_ep_ordering(struct api_ctx *c, struct api_draft *d, int idx)
{
	const char *why;
	char v[8];
	int n, fifo = 0;

	if (c->toks[idx].type != JSON_NULL &&
	    ((n = api_str(c, idx, v, sizeof(v))) < 0 ||
	    config_check_ordering(v, (size_t)n, &fifo, &why) != 0))
		return api_error(c, 422, "ordering must be \"fifo\" or "
		    "\"none\"");
	d->e.fifo = (uint8_t)fifo;
	return 0;
}

static int
api_ep_timeout(struct api_ctx *c, struct api_draft *d, int idx)
{
	const char *why;
	char v[32], wbuf[API_ERR_MAX];

	d->e.timeout_ms = 0;
	if (c->toks[idx].type == JSON_NULL)
		return 0;
	if (api_ep_scalar(c, idx, v, sizeof(v)) < 0)
		snprintf(v, sizeof(v), "x");	/* refused below */
	if (config_check_timeout(v, &d->e.timeout_ms, &why, wbuf,
	    sizeof(wbuf)) != 0)
		return api_error(c, 422, why);
	return 0;
}

/* retry_schedule: an array of durations, each a string ("5s", "1m",
 * "250ms") or a number of seconds, the words of the global key. */
static int
api_ep_retry(struct api_ctx *c, struct api_draft *d, int idx)
{
	const struct json_tok *arr = &c->toks[idx];
	char words[CONFIG_MAX_RETRIES][32];
	const char *w[CONFIG_MAX_RETRIES], *why;
	int64_t ms[CONFIG_MAX_RETRIES];
	size_t m, i = (size_t)idx + 1;

	if (arr->type == JSON_NULL)
		return api_draft_set_retry(d, NULL, 0) == 0 ? 0 :
		    api_nomem(c);
	if (arr->size > CONFIG_MAX_RETRIES) {
		/* The checker refuses the count before it reads a word. */
		(void)config_check_retry(NULL, arr->size, ms, &why);
		return api_error(c, 422, why);
	}
	for (m = 0; m < arr->size; m++, i = c->toks[i].next) {
		int t = c->toks[i].type;

		if ((t != JSON_STRING && t != JSON_NUMBER) ||
		    api_ep_scalar(c, (int)i, words[m], sizeof(words[m])) < 0)
			snprintf(words[m], sizeof(words[m]), "x");
		w[m] = words[m];
	}
	if (config_check_retry(w, arr->size, ms, &why) != 0)
		return api_error(c, 422, why);
	return api_draft_set_retry(d, ms, arr->size) == 0 ? 0 : api_nomem(c);
}

/* Apply the members present (idx from api_body) to the draft. */
static int
api_ep_apply(struct api_ctx *c, struct api_draft *d, const int *idx)
{
	static int (*const apply[EP_NFIELDS])(struct api_ctx *,
	    struct api_draft *, int) = {
		[EP_URL] = api_ep_url,
		[EP_METHOD] = api_ep_method,
		[EP_EVENTS] = api_ep_events,
		[EP_HEADERS] = api_ep_headers,
		[EP_DESCRIPTION] = api_ep_description,
		[EP_SECRET] = api_ep_secret,
		[EP_RATE] = api_ep_rate,
		[EP_ORDERING] = api_ep_ordering,
		[EP_RETRY] = api_ep_retry,
		[EP_TIMEOUT] = api_ep_timeout,
	};
	size_t k;
	int st;

	for (k = 0; k < EP_NFIELDS; k++)
		if (idx[k] >= 0 && apply[k] != NULL &&
		    (st = apply[k](c, d, idx[k])) != 0)
			return st > 0 ? st : api_nomem(c);
	if (idx[EP_ENABLED] >= 0)
		d->e.enabled = c->toks[idx[EP_ENABLED]].type == JSON_TRUE;
	return 0;
}

/*
 * Contract §11: another endpoint (not self) of the draft's client with its
 * method and URL, or NULL. A second one would deliver every event twice.
 * URLs are compared in their url_normalize form, since
 * "http://EXAMPLE.com:80/d" reaches the same receiver as
 * "http://example.com/d"; a URL that does not normalize (none that
 * registration accepts) is compared as written.
 */
static const struct endpoint *
api_ep_duplicate(const struct endpoint *draft, const struct endpoint *self)
{
	char want[URL_NORM_MAX], have[URL_NORM_MAX];
	const struct endpoint *e;
	const char *err;
	int norm;

	norm = url_normalize(draft->url, strlen(draft->url), want,
	    sizeof(want), &err) == 0;
	/* Its client's own list: other clients' endpoints are not looked
	 * at. */
	for (e = draft->client->ep_head; e != NULL; e = e->c_next) {
		if (e == self || e->method_get != draft->method_get)
			continue;
		if (strcmp(e->url, draft->url) == 0 ||
		    (norm && url_normalize(e->url, strlen(e->url), have,
		    sizeof(have), &err) == 0 && strcmp(have, want) == 0))
			return e;
	}
	return NULL;
}

/* How many endpoints cl has (its list's count, kept by the store). */
static size_t
api_ep_count(const struct client *cl)
{
	return cl->nendpoints;
}

/* The 409 answer naming the existing endpoint. */
static int
api_ep_conflict(struct api_ctx *c, const struct endpoint *e)
{
	api_rewind(c);
	buf_puts(c->out, "{");
	api_kv_str(c->out, "error", "an endpoint of this client with this "
	    "method and url exists");
	api_kv_id(c->out, "id", STORE_EP, e->id);
	buf_puts(c->out, "}");
	return 409;
}

/* The owner of a new endpoint: the admin names it; a client token implies
 * its own and naming any other is answered as if it did not exist. */
static int
api_ep_owner(struct api_ctx *c, struct api_draft *d, int idx)
{
	char id[UTIL_ID_MAX + 1];
	int n;

	if (idx < 0) {
		if (c->client == NULL)
			return api_error(c, 422, "client is required");
		d->e.client = c->client;
		return 0;
	}
	n = api_str(c, idx, id, sizeof(id));
	d->e.client = n < 0 ? NULL : store_client_find(id, (size_t)n);
	if (d->e.client == NULL || !api_sees(c, d->e.client->id))
		return api_error(c, 422, "client: no such client");
	return 0;
}

/* A client's endpoints in id order (its list), those after a cursor. */
struct api_ep_walk {
	struct endpoint *e;
	int has_after;
	uint64_t after;
};

static void *
api_ep_walk_next(void *arg)
{
	struct api_ep_walk *w = arg;
	struct endpoint *e;

	while ((e = w->e) != NULL) {
		w->e = e->c_next;
		if (!w->has_after || e->id > w->after)
			return e;
	}
	return NULL;
}

int
api_endpoints_list(struct api_ctx *c)
{
	struct api_page p;
	struct api_ep_walk w;
	const struct client *cl = c->client;
	size_t start;
	int st;

	if ((st = api_page(c, STORE_EP, &p)) != 0 ||
	    (st = api_filters(c, API_F_CLIENT)) != 0)
		return st;
	/* A client token or ?client= walks that client's own list, so a
	 * page does not cost every other client's endpoints. */
	if (cl == NULL && (c->f.set & API_F_CLIENT))
		cl = store_client_find(c->f.client, strlen(c->f.client));
	if (cl != NULL || (c->f.set & API_F_CLIENT)) {
		w.e = cl != NULL ? cl->ep_head : NULL;
		w.has_after = p.has_after;
		w.after = p.after_id;
		return api_list_walk(c, &api_list_endpoints, api_ep_walk_next,
		    &w, p.limit);
	}
	start = p.has_after ? store_endpoint_after(p.after_id) : 0;
	return api_list_run(c, &api_list_endpoints, start,
	    store_endpoint_count(), 0, p.limit);
}

int
api_endpoints_create(struct api_ctx *c)
{
	struct api_draft d;
	struct endpoint *e;
	const struct endpoint *dup;
	int idx[EP_NFIELDS], st;

	if ((st = api_body(c, api_ep_create_fields, EP_NFIELDS, idx)) != 0)
		return st;
	api_draft_init(&d);
	if ((st = api_ep_owner(c, &d, idx[EP_CLIENT])) != 0 ||
	    (st = api_ep_apply(c, &d, idx)) != 0)
		goto done;
	if ((dup = api_ep_duplicate(&d.e, NULL)) != NULL) {
		st = api_ep_conflict(c, dup);
		goto done;
	}
	if (api_ep_count(d.e.client) >= config_current()->max_endpoints_per_client) {
		st = api_errorf(c, 422, "client %s has %zu endpoints already "
		    "(max_endpoints_per_client)", d.e.client->id,
		    config_current()->max_endpoints_per_client);
		goto done;
	}
	if ((st = api_url_resolves(c, d.e.url, d.e.client->id, "")) != 0)
		goto done;
	if (d.e.nevents == 0 && api_draft_add_filter(&d, "*", 1) != 0) {
		st = api_nomem(c);
		goto done;
	}
	if (d.e.secret[0] == '\0' && sign_secret_new(d.e.secret) != 0) {
		st = api_error(c, 500, "no randomness");
		goto done;
	}
	if ((e = store_endpoint_create(&d.e)) == NULL) {
		st = api_store_error(c);
		goto done;
	}
	api_put_endpoint(c->out, e, 1);
	st = api_done(c, 201);
done:
	api_draft_free(&d);
	return st;
}

int
api_endpoint_get(struct api_ctx *c)
{
	struct endpoint *e = api_path_endpoint(c);

	if (e == NULL)
		return api_not_found(c);
	api_put_endpoint(c->out, e, 1);
	return api_done(c, 200);
}

int
api_endpoint_patch(struct api_ctx *c)
{
	struct endpoint *e = api_path_endpoint(c);
	const struct endpoint *dup;
	struct api_draft d;
	int idx[EP_NFIELDS], st, was_enabled;

	if (e == NULL)
		return api_not_found(c);
	if ((st = api_body(c, api_ep_patch_fields, EP_NFIELDS, idx)) != 0)
		return st;
	api_draft_init(&d);
	if (api_draft_copy(&d, e) != 0) {
		st = api_nomem(c);
		goto done;
	}
	if ((st = api_ep_apply(c, &d, idx)) != 0)
		goto done;
	if ((dup = api_ep_duplicate(&d.e, e)) != NULL) {
		st = api_ep_conflict(c, dup);
		goto done;
	}
	if (idx[EP_URL] >= 0 &&
	    (st = api_url_resolves(c, d.e.url, e->client->id, "")) != 0)
		goto done;
	was_enabled = e->enabled;
	if (store_endpoint_update(e, &d.e) != 0) {
		st = api_store_error(c);
		goto done;
	}
	if (!was_enabled && e->enabled)
		deliver_endpoint_enabled(e);
	deliver_endpoint_changed(e);
	api_put_endpoint(c->out, e, 1);
	st = api_done(c, 200);
done:
	api_draft_free(&d);
	return st;
}

int
api_endpoint_delete(struct api_ctx *c)
{
	struct endpoint *e = api_path_endpoint(c);

	if (e == NULL)
		return api_not_found(c);
	if (store_endpoint_delete(e) != 0)
		return api_store_error(c);
	return api_no_content(c);
}

int
api_endpoint_rotate(struct api_ctx *c)
{
	return api_rotate_secret(c, NULL, api_path_endpoint(c));
}
