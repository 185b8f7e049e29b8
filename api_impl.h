/*
 * api_impl: what the pieces of the api module share and nothing else
 * includes: the limits, the request context, the answer and JSON helpers of
 * api.c, the checks of api_check.c, and the handlers the routing table names.
 */
#ifndef HOOKD_API_IMPL_H
#define HOOKD_API_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "api.h"
#include "json.h"
#include "store.h"
#include "url.h"
#include "util.h"

/*
 * Limits. Each bounds what one request can make hookd store, send on every
 * delivery, or spend in one answer.
 */
/* Tokens parsed on the stack; larger bodies get a heap array sized by a
 * counting pass (bounded by max_body, so a hostile body cannot ask for more
 * than a fixed multiple of what it sent). */
#define API_STACK_TOKS 256
/* Lists: contract §3. A page larger than this would make one request read
 * and serialize an unbounded slice of the journal. */
#define API_LIST_DEFAULT 100
#define API_LIST_MAX 1000
/* Extra headers of an endpoint go out with every attempt: receivers commonly
 * refuse request heads over 8 KiB, and a large set would bloat the registry.
 * Their number is max_endpoint_headers (at most HTTP_MAX_HEADERS); their
 * lines ("name: value" and CRLF) at most API_HEADERS_BYTES_MAX in all. */
#define API_HEADER_NAME_MAX 64
#define API_HEADER_VALUE_MAX 1024
#define API_HEADERS_BYTES_MAX 8192
/* A list page stops growing past this much JSON, "next" set: limit=1000
 * items with 1 KiB logs or large headers must not build an answer of
 * unbounded size in memory. */
#define API_PAGE_BYTES_MAX (4u << 20)
/* Client names and endpoint descriptions are stored in the registry and
 * echoed in every listing: a bound keeps one request from bloating both. */
#define API_NAME_MAX 256
#define API_DESC_MAX 1024
/* A client token is "hkc_" plus 32 characters; room for its NUL. */
#define API_TOKEN_MAX 40
/* Longest error reason built from a format (names only, never data). */
#define API_ERR_MAX 256
/* Addresses of a name judged at registration (contract §11): as many as
 * the resolver keeps, all named in a refusal, which is therefore longer
 * than API_ERR_MAX (a 253-byte name and eight IPv6 addresses). */
#define API_NAME_ADDRS 8
#define API_NAME_ERR_MAX (URL_HOST_MAX + API_NAME_ADDRS * 64 + 128)

#define API_JSON "application/json"
#define API_TEXT "text/plain"
#define API_PROM "text/plain; version=0.0.4"

/* Member types accepted by a body field (bits of enum json_type). */
#define API_T_NULL (1u << JSON_NULL)
#define API_T_BOOL ((1u << JSON_TRUE) | (1u << JSON_FALSE))
#define API_T_NUM (1u << JSON_NUMBER)
#define API_T_STR (1u << JSON_STRING)
#define API_T_ARR (1u << JSON_ARRAY)
#define API_T_OBJ (1u << JSON_OBJECT)

/* What a body member may be: types 0 means the member is known but refused
 * (say, "secret" in a PATCH), so the answer can say why. */
struct api_field {
	const char *name;
	unsigned types;
	int required;
};

/* List filters from the query string (contract §3). */
#define API_F_CLIENT	1u
#define API_F_TYPE	2u
#define API_F_ENDPOINT	4u
#define API_F_EVENT	8u
#define API_F_STATUS	16u

struct api_filter {
	unsigned set;			/* API_F_ bits present */
	char client[UTIL_ID_MAX + 1];
	char type[UTIL_TYPE_MAX + 1];
	uint64_t endpoint, event;
	int status;
};

/* One request being answered. */
struct api_ctx {
	const struct api_request *r;
	struct buf *out;
	size_t mark;			/* out->len on entry: errors cut back to it */
	const char **ctype;
	struct client *client;		/* caller's client; NULL for the admin */
	const char *query;		/* after '?', NULL when none */
	size_t query_len;
	const char *seg;		/* the {id} segment of the path */
	size_t seg_len;
	struct api_filter f;
	const char *json;		/* the body the tokens describe */
	struct json_tok *toks;
	struct json_tok tokstack[API_STACK_TOKS];
};

/* ?limit= and ?after= of a list, as api_page parsed them. */
struct api_page {
	size_t limit;
	int has_after;
	char after[UTIL_ID_MAX + 1];
	size_t after_len;
	uint64_t after_id;		/* for ep/evt/dlv lists */
};

/* How a list walks one kind of thing. */
struct api_list {
	void *(*at)(size_t i);
	int (*keep)(const struct api_ctx *c, void *item);
	int (*put)(struct api_ctx *c, void *item);	/* 0 or -1 */
	void (*id)(void *item, char out[UTIL_ID_MAX + 1]);
};

/* ---- api.c: answers ---- */

/* The answer being built carries Retry-After: s seconds (at least 1);
 * api_retry_after reads it back. */
void api_set_retry_after(int64_t s);

/* The answer being built carries these header lines too (each ending in
 * CRLF; a static string, not copied); api_extra_head reads them back. */
void api_set_extra_head(const char *lines);

/* Drop whatever was written to c->out for this request (a half-built answer,
 * or an allocation failure) so that an error body can replace it. */
void api_rewind(struct api_ctx *c);

/*
 * Replace the answer with {"error": msg} (msg is copied; a fixed reason or
 * API member names, never request data: contract §8). Returns status, for
 * "return api_error(c, 422, ...)". api_errorf formats the reason first (at
 * most API_ERR_MAX bytes; longer is cut).
 */
int api_error(struct api_ctx *c, int status, const char *msg);
int api_errorf(struct api_ctx *c, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The 404 answer. Returns 404. */
int api_not_found(struct api_ctx *c);

/* The 500 "out of memory" answer. Returns 500. */
int api_nomem(struct api_ctx *c);

/* The answer to a store mutation that returned -1, by errno: ENOSPC 503
 * (contract §6), ENOMEM 500, ENOENT 404 (compacted away), else 500. Returns
 * that status. */
int api_store_error(struct api_ctx *c);

/* The JSON answer in c->out is complete: sets the content type and returns
 * status. */
int api_done(struct api_ctx *c, int status);

/* An answer without a body or content type. Returns 204. */
int api_no_content(struct api_ctx *c);

/* ---- api.c: writing JSON into a buf (allocation failures set b->oom,
 * which api_handle answers as 500) ---- */

/* A comma unless b ends in '{' or '[': members need no "first" flag. */
void api_sep(struct buf *b);
/* The separator and "key": (key is a literal, not escaped). */
void api_key(struct buf *b, const char *key);
/* "key":"s" escaped, or "key":null when s is NULL. */
void api_kv_str(struct buf *b, const char *key, const char *s);
/* "key":json where json is JSON text already; NULL gives null. */
void api_kv_raw(struct buf *b, const char *key, const char *json);
/* "key":v as a decimal number, and "key":true or false. */
void api_kv_u64(struct buf *b, const char *key, uint64_t v);
void api_kv_bool(struct buf *b, const char *key, int v);
/* An RFC 3339 time from wall-clock ms; with or_null, 0 gives null. */
void api_kv_time(struct buf *b, const char *key, int64_t ms, int or_null);
/* An id in its external form ("ep_...", "evt_...", "dlv_..."). */
void api_kv_id(struct buf *b, const char *key, enum store_kind k,
    uint64_t id);

/* ---- api.c: the request ---- */

/*
 * The percent-decoded value of query parameter name in out (outsz with the
 * NUL). Returns its length, or -1 when absent; when it is badly encoded or
 * too long, -2 with the 400 answer written and *st set to 400.
 */
int api_param(struct api_ctx *c, const char *name, char *out, size_t outsz,
    int *st);

/* The request header name (case-insensitive), or NULL. Points into the
 * request. */
const struct http_header *api_header(const struct api_ctx *c,
    const char *name);

/* 1 when the caller may see things of client client_id: the admin sees
 * everything, a client token its own client (contract §2, §11). */
int api_sees(const struct api_ctx *c, const char *client_id);

/* JSON tokens for json[0..len): the token count n > 0 with *toks on the heap
 * (the caller frees it), or a JSON_ERR_ code with *toks NULL. */
int api_parse_alloc(const char *json, size_t len, struct json_tok **toks);

/*
 * Load the body as a JSON object whose members are all in the table f (nf
 * entries) with the listed types, none repeated, the required ones present.
 * idx[i] receives the token index of member f[i]'s value, or -1 when absent;
 * the tokens are c->toks over c->json (freed by api_handle). Returns 0, or
 * the 400/422 answer's status; an empty body (or only whitespace) is a 400
 * "a JSON body is needed: {...}" naming the table's required members
 * (issue 9.5).
 */
int api_body(struct api_ctx *c, const struct api_field *f, size_t nf,
    int *idx);

/* Parse the body into c->toks over c->json (freed by api_handle): 0, or
 * the 400 answer (not JSON, or nested too deeply). api_body calls it; a
 * caller that ran it first leaves api_body nothing to parse again. */
int api_parse_body(struct api_ctx *c);

/* 1 when the body is empty or only JSON whitespace (RFC 8259). */
int api_body_is_empty(const struct api_ctx *c);

/* Decode the string token at idx into out (outsz with the NUL): its length,
 * or -1 when it does not fit or holds a NUL (hookd keeps C strings). */
int api_str(const struct api_ctx *c, int idx, char *out, size_t outsz);

/* ---- api.c: lists (contract §3) ---- */

/* ?limit= (1..API_LIST_MAX, default API_LIST_DEFAULT) and ?after= into p;
 * kind is the enum store_kind of the list's ids, or -1 for client ids.
 * Returns 0, or the 400/422 answer's status. */
int api_page(struct api_ctx *c, int kind, struct api_page *p);

/* The filters named by the API_F_ bits in which, from the query into c->f.
 * Returns 0, or the 400/422 answer's status. */
int api_filters(struct api_ctx *c, unsigned which);

/* 1 when client id is visible to the caller and within the ?client=
 * filter. */
int api_keep_client_id(const struct api_ctx *c, const char *id);

/*
 * Answer 200 {"data": [...], "next": ...} with up to limit items l keeps,
 * from index start upward, or (newest_first) from start - 1 down to 0, out
 * of count; a page also stops past API_PAGE_BYTES_MAX. "next" is the last
 * item shown when another kept item follows, else null. Returns 200, or 500
 * when an item cannot be read back.
 */
int api_list_run(struct api_ctx *c, const struct api_list *l, size_t start,
    size_t count, int newest_first, size_t limit);
/* The same over any walk: next(walk) gives the candidates in the list's
 * order (NULL at the end), a superset of what l->keep keeps; l->at is not
 * used. */
int api_list_walk(struct api_ctx *c, const struct api_list *l,
    void *(*next)(void *walk), void *walk, size_t limit);

/* ---- api_check.c: what the API and the static registrations accept ---- */

/* 1 when s (n bytes) is an event type (filter 0) or an endpoint's event
 * filter (filter 1: '*' allowed at the end only). */
int api_type_ok(const char *s, size_t n, int filter);

/*
 * NULL when the callback URL s (n bytes) is acceptable (contract §3, §8:
 * syntax, template, literal addresses and localhost against the destination
 * rules of the config in force), else the reason: a static string, or buf
 * (bufsz bytes) filled.
 */
const char *api_url_problem(const char *s, size_t n, char *buf,
    size_t bufsz);

/*
 * Contract §11: 0 when url (checked by api_url_problem) may be registered
 * for client; 422 answered (prefix before the reason) when its host name
 * resolves only to denied addresses; API_RESOLVING while the lookup is under
 * way (nothing written: the caller runs the request again).
 */
int api_url_resolves(struct api_ctx *c, const char *url, const char *client,
    const char *prefix);

/* 1 when s (n bytes) is a secret the admin may supply: "whsec_" and base64
 * of 24..64 bytes. */
int api_secret_ok(const char *s, size_t n);

/* NULL when name (n bytes) may be an endpoint's extra header name, else the
 * reason (static). */
const char *api_header_name_problem(const char *name, size_t n);

/* ---- api_registry.c ---- */

/* The endpoint named by the {id} segment when the caller may see it, or
 * NULL. */
struct endpoint *api_path_endpoint(const struct api_ctx *c);

/*
 * The handlers the routing table of api.c names. Each answers one request
 * (contract §3, §18) into c->out and returns the HTTP status, or
 * API_RESOLVING; the route's method, role and query parameters have been
 * checked, the {id} segment is c->seg.
 */
int api_clients_list(struct api_ctx *c);
int api_clients_create(struct api_ctx *c);
int api_client_get(struct api_ctx *c);
int api_client_delete(struct api_ctx *c);
int api_client_rotate(struct api_ctx *c);
int api_client_rotate_secret(struct api_ctx *c);
/* GET /v1/whoami: {"role": "admin" | "client", "client": its id or
 * null}, so a token learns what it is without owning anything yet. */
int api_whoami(struct api_ctx *c);
int api_endpoints_list(struct api_ctx *c);
int api_endpoints_create(struct api_ctx *c);
int api_endpoint_get(struct api_ctx *c);
int api_endpoint_patch(struct api_ctx *c);
int api_endpoint_delete(struct api_ctx *c);
int api_endpoint_rotate(struct api_ctx *c);

/* An endpoint being built: the template handed to the store, which owns
 * every string it points to (the store copies them deeply). The API's
 * POST and PATCH and the config file's endpoint lines (api_static.c) build
 * one the same way. */
struct api_draft {
	struct endpoint e;
	char *events[UTIL_MAX_FILTERS];
};

/* An empty draft: no filters, enabled. */
void api_draft_init(struct api_draft *d);
/* Free what the draft owns (its strings, its schedule) and wipe its
 * secrets; the draft may be initialized again. */
void api_draft_free(struct api_draft *d);
/* Replace the string in *slot with a copy of s (n bytes), or NULL when s
 * is NULL. 0, or -1 out of memory (*slot unchanged). */
int api_draft_set(char **slot, const char *s, size_t n);
/* Replace the draft's retry schedule with a copy of ms[0..n) (n 0: the
 * global one). 0 or -1 out of memory. */
int api_draft_set_retry(struct api_draft *d, const int64_t *ms, size_t n);
/* Add one event filter (n bytes). 0, or -1 when the draft has
 * UTIL_MAX_FILTERS already or out of memory. */
int api_draft_add_filter(struct api_draft *d, const char *s, size_t n);
/* Start a PATCH from copies of everything e holds now, so that the store
 * never copies from strings it is about to free. 0 or -1 out of memory. */
int api_draft_copy(struct api_draft *d, const struct endpoint *e);
/* A new client token: the text in tok, its SHA-256 (all that is stored)
 * in hash. 0 or -1 (no randomness). */
int api_new_token(char tok[API_TOKEN_MAX], uint8_t hash[32]);

/* ---- api_events.c ---- */
int api_endpoint_replay(struct api_ctx *c);
int api_endpoint_test(struct api_ctx *c);
int api_events_create(struct api_ctx *c);
int api_events_list(struct api_ctx *c);
int api_event_get(struct api_ctx *c);
int api_deliveries_list(struct api_ctx *c);
/* ---- api_attempts.c (issue 16) ---- */
int api_attempts_list(struct api_ctx *c);
int api_delivery_get(struct api_ctx *c);
int api_delivery_retry(struct api_ctx *c);
/* ---- api_events.c: Idempotency-Key (contract §11), one policy for
 * POST /v1/events and requests under a route ---- */
/* The Idempotency-Key header into key (STORE_IDEM_MAX + 1 bytes) and
 * *key_len (0 when absent): 1..255 visible ASCII (spaces inside allowed),
 * since it is stored and compared. 0, or the 400 answer. */
int api_idem_header(struct api_ctx *c, char *key, size_t *key_len);
/* With a key (key_len > 0) client cl used within 24 h: the first answer
 * again when req (SHA-256 of the request, as the caller defines it)
 * matches, or 422 "reused with a different request"; that status, or 0
 * when the request is new (or has no key). */
int api_idem_replay(struct api_ctx *c, const struct client *cl,
    const char *key, size_t key_len, const uint8_t req[32], int64_t now);
/* A query parameter's name (nlen bytes at p) percent-decoded into out
 * (API_QNAME_MAX + 1 bytes): its length, or -1 when badly encoded or
 * longer than API_QNAME_MAX (api.c). */
#define API_QNAME_MAX 64
int api_query_name(const char *p, size_t nlen, char *out);

/* ---- api_gateway.c ---- */
struct config_route;
/* The methods a route takes (the Allow of its 405): every method the
 * parser knows but HEAD, whose answer could not carry the reqRefId. */
#define API_GATEWAY_ALLOW "GET, POST, PUT, PATCH, DELETE, OPTIONS"
/* A request to path (len bytes, without the query) under route rt, by an
 * authenticated caller (contract §14): 202 {"reqRefId", "status":
 * "accepted"} once written, or the error's status. */
int api_gateway(struct api_ctx *c, const struct config_route *rt,
    const char *path, size_t len);
/* ---- api_shard.c ---- */
/*
 * Contract §17: the Hookd-Client header of an authenticated request, on the
 * route of the table with method and pattern (both NULL for a request under
 * a gateway route). Absent: 0. Given twice, or not a client id: 400. Else
 * it must agree with the client the request is about: the token's (a
 * client token), the path's (/v1/clients/{id}, or the owner of the
 * endpoint, event or delivery {id} when the caller may see it), the body's
 * "id" (POST /v1/clients) or "client" (POST /v1/endpoints, /v1/events),
 * and ?client=; a disagreement is a 400 naming both values. Routes about no
 * one client (lists without ?client=, compaction) accept and ignore it.
 * Returns 0 or the 400 answer's status; a body it parsed stays in c.
 */
int api_client_header(struct api_ctx *c, const char *method,
    const char *pattern);

/* ---- api_ops.c ---- */
int api_healthz(struct api_ctx *c);
int api_metrics(struct api_ctx *c);
int api_compact(struct api_ctx *c);

/* ---- api_web.c ---- */
/* GET of an embedded file under web/ (contract §16: /console, its files,
 * /openapi.json): 200 with the file and its Content-Type, the console's
 * security headers (api_extra_head), or 404. */
int api_web_asset(struct api_ctx *c);

#endif
