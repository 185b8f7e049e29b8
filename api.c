/*
 * api: the HTTP API of contract §2 and §3: bearer-token authentication,
 * routing, request validation, and the JSON answers for clients, endpoints,
 * events and deliveries, plus /healthz, /metrics and the static registrations.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "api.h"
#include "config.h"
#include "deliver.h"
#include "json.h"
#include "metrics.h"
#include "sign.h"
#include "store.h"
#include "url.h"

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

static char *api_admin;
static size_t api_admin_len;

static const char *const api_status_names[] = {
	[STORE_PENDING] = "pending",
	[STORE_DELIVERED] = "delivered",
	[STORE_FAILED] = "failed",
};

/* ---- answers ---- */

static int api_errorf(struct api_ctx *c, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Overwrite secrets on the stack once they are no longer needed. */
static void
api_wipe(void *p, size_t n)
{
	volatile unsigned char *v = p;

	while (n-- > 0)
		*v++ = 0;
}

/* Drop whatever was written for this request (a half-built answer, or an
 * allocation failure) so that an error body can replace it. */
static void
api_rewind(struct api_ctx *c)
{
	c->out->oom = 0;
	c->out->len = c->mark;
	if (c->out->data != NULL)
		c->out->data[c->mark] = '\0';
}

/* Answer status with {"error": msg}. msg is a fixed reason or names API
 * members: request data is never echoed (contract §8). */
static int
api_error(struct api_ctx *c, int status, const char *msg)
{
	api_rewind(c);
	*c->ctype = API_JSON;
	buf_puts(c->out, "{\"error\":");
	json_put_cstr(c->out, msg);
	buf_puts(c->out, "}");
	return status;
}

static int
api_errorf(struct api_ctx *c, int status, const char *fmt, ...)
{
	char msg[API_ERR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);	/* truncation is harmless */
	va_end(ap);
	return api_error(c, status, msg);
}

static int
api_not_found(struct api_ctx *c)
{
	return api_error(c, 404, "not found");
}

static int
api_nomem(struct api_ctx *c)
{
	return api_error(c, 500, "out of memory");
}

/* A store mutation returned -1: a full disk is the one failure a client can
 * usefully wait out (contract §6), so it alone answers 503. */
static int
api_store_error(struct api_ctx *c)
{
	if (errno == ENOSPC)
		return api_error(c, 503, "disk full");
	if (errno == ENOMEM)
		return api_nomem(c);
	if (errno == ENOENT)	/* past retention, being compacted away */
		return api_not_found(c);
	return api_error(c, 500, "storage error");
}

/* The answer is complete in c->out. */
static int
api_done(struct api_ctx *c, int status)
{
	*c->ctype = API_JSON;
	return status;
}

/* An answer without a body (204): no Content-Type either. */
static int
api_no_content(struct api_ctx *c)
{
	api_rewind(c);
	*c->ctype = NULL;
	return 204;
}

/* ---- JSON writing: members are separated by looking at the last byte, so
 * serializers need no "first member" bookkeeping. ---- */

static void
api_sep(struct buf *b)
{
	if (b->len > 0 && b->data[b->len - 1] != '{' &&
	    b->data[b->len - 1] != '[')
		buf_append(b, ",", 1);
}

static void
api_key(struct buf *b, const char *key)
{
	api_sep(b);
	buf_printf(b, "\"%s\":", key);
}

/* A string member, null when s is NULL. */
static void
api_kv_str(struct buf *b, const char *key, const char *s)
{
	api_key(b, key);
	json_put_cstr(b, s);
}

/* A member whose value is JSON text already (stored objects, null). */
static void
api_kv_raw(struct buf *b, const char *key, const char *json)
{
	api_key(b, key);
	buf_puts(b, json != NULL ? json : "null");
}

static void
api_kv_u64(struct buf *b, const char *key, uint64_t v)
{
	api_key(b, key);
	buf_printf(b, "%llu", (unsigned long long)v);
}

static void
api_kv_bool(struct buf *b, const char *key, int v)
{
	api_kv_raw(b, key, v ? "true" : "false");
}

/* A time member; with or_null, 0 stands for "none". */
static void
api_kv_time(struct buf *b, const char *key, int64_t ms, int or_null)
{
	char t[UTIL_TIME_MAX];

	if (or_null && ms == 0) {
		api_kv_raw(b, key, "null");
		return;
	}
	api_kv_str(b, key, util_fmt_time(ms, t));
}

static void
api_kv_id(struct buf *b, const char *key, enum store_kind k, uint64_t id)
{
	char x[STORE_XID_MAX];

	store_fmt_id(k, id, x);
	api_kv_str(b, key, x);
}

/* ---- the request: query string, headers, token ---- */

/*
 * Percent-decode n bytes into out (outsz with the NUL). '+' is kept as it is:
 * it means a space only in HTML forms, and a callbackURL may contain one.
 * Returns the length, or -1 for a bad escape, a NUL, or no room.
 */
static int
api_pct_decode(const char *s, size_t n, char *out, size_t outsz)
{
	size_t i, k = 0;

	for (i = 0; i < n; i++) {
		char ch = s[i];

		if (ch == '%') {
			int hi, lo;

			if (n - i < 3 ||
			    (hi = util_hex_digit((unsigned char)s[i + 1], 0)) < 0 ||
			    (lo = util_hex_digit((unsigned char)s[i + 2], 0)) < 0)
				return -1;
			ch = (char)(hi * 16 + lo);
			i += 2;
		}
		if (ch == '\0' || k + 1 >= outsz)
			return -1;
		out[k++] = ch;
	}
	out[k] = '\0';
	return (int)k;
}

/*
 * The decoded value of query parameter name in out (api_check_params has
 * refused a repeated one): its length, -1 when absent, -2 when badly encoded
 * or too long.
 */
static int
api_query(const struct api_ctx *c, const char *name, char *out, size_t outsz)
{
	const char *p = c->query, *end;

	if (p == NULL)
		return -1;
	end = p + c->query_len;
	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *stop = amp != NULL ? amp : end;
		const char *eq = memchr(p, '=', (size_t)(stop - p));
		const char *nend = eq != NULL ? eq : stop;

		if (util_span_eq(p, (size_t)(nend - p), name)) {
			const char *v = eq != NULL ? eq + 1 : stop;
			int n = api_pct_decode(v, (size_t)(stop - v), out,
			    outsz);

			return n < 0 ? -2 : n;
		}
		p = stop + 1;
	}
	return -1;
}

/* api_query for handlers: -1 absent, else the length; on a bad value the
 * 400 answer is written and *st set. */
static int
api_param(struct api_ctx *c, const char *name, char *out, size_t outsz,
    int *st)
{
	int n = api_query(c, name, out, outsz);

	if (n == -2)
		*st = api_errorf(c, 400,
		    "query parameter %s is badly encoded or too long", name);
	return n;
}

static const struct http_header *
api_header(const struct api_ctx *c, const char *name)
{
	return http_find_header(c->r->headers, c->r->num_headers, name);
}

/* 1 when the token is the admin's. The comparison takes the same time
 * whatever the token holds; only its length can be learnt from timing, and
 * that is no secret (tokens have a fixed shape). */
static int
api_is_admin(const char *tok, size_t n)
{
	if (api_admin == NULL)
		return 0;
	if (n != api_admin_len) {
		(void)sign_equal(api_admin, api_admin, api_admin_len);
		return 0;
	}
	return sign_equal(tok, api_admin, n);
}

/* Authenticate (contract §2): 0 with c->client set (NULL for the admin),
 * or the 401 answer, which says whether the header is missing, malformed or
 * carries a token hookd does not know (contract §11), never the token. */
static int
api_auth(struct api_ctx *c)
{
	const struct http_header *h = api_header(c, "Authorization");
	const char *tok;
	size_t n, i = 6;
	uint8_t hash[32];

	if (h == NULL)
		return api_error(c, 401, "missing Authorization header: send "
		    "\"Authorization: Bearer <token>\"");
	if (h->value_len <= 7 ||
	    !util_span_ieq(h->value, 6, "bearer") || h->value[6] != ' ')
		return api_error(c, 401, "malformed Authorization header: it "
		    "must be \"Bearer <token>\"");
	while (i < h->value_len && h->value[i] == ' ')
		i++;
	tok = h->value + i;
	n = h->value_len - i;
	if (n == 0)
		return api_error(c, 401, "malformed Authorization header: it "
		    "must be \"Bearer <token>\"");
	if (api_is_admin(tok, n)) {
		c->client = NULL;
		return 0;
	}
	sha256(tok, n, hash);
	c->client = store_client_by_token(hash);
	api_wipe(hash, sizeof(hash));
	if (c->client == NULL)
		return api_error(c, 401, "unknown token: it is neither the "
		    "admin token nor a client's current token");
	return 0;
}

/* 1 when the caller may see things of client id (contract §2). */
static int
api_sees(const struct api_ctx *c, const char *client_id)
{
	return c->client == NULL || strcmp(c->client->id, client_id) == 0;
}

/* ---- the JSON body ---- */

/* Tokens for json[0..len): n > 0 with *toks on the heap (caller frees), or a
 * JSON_ERR_ code. */
static int
api_parse_alloc(const char *json, size_t len, struct json_tok **toks)
{
	int n = json_parse(json, len, NULL, 0);

	*toks = NULL;
	if (n < 0)
		return n;
	*toks = calloc((size_t)n, sizeof(**toks));
	if (*toks == NULL)
		return JSON_ERR_NOMEM;
	return json_parse(json, len, *toks, (size_t)n);
}

/* Parse the body into c->toks: 0, or the 400 answer. */
static int
api_parse_body(struct api_ctx *c)
{
	const char *s = c->r->body != NULL ? c->r->body : "";
	size_t len = c->r->body_len;
	int n = json_parse(s, len, NULL, 0);

	if (n == JSON_ERR_DEPTH)
		return api_error(c, 400, "body nests too deeply");
	if (n < 0)
		return api_error(c, 400, "body is not valid JSON");
	c->toks = (size_t)n <= API_STACK_TOKS ? c->tokstack :
	    calloc((size_t)n, sizeof(*c->toks));
	if (c->toks == NULL)
		return api_nomem(c);
	/* Cannot fail: the counting pass accepted the same text. */
	(void)json_parse(s, len, c->toks, (size_t)n);
	c->json = s;
	return 0;
}

/* "a string or null" for a types mask. */
static void
api_type_words(unsigned types, char *out, size_t outsz)
{
	static const struct {
		unsigned bits;
		const char *words;
	} w[] = {
		{ API_T_STR, "a string" }, { API_T_NUM, "a number" },
		{ API_T_BOOL, "true or false" }, { API_T_OBJ, "an object" },
		{ API_T_ARR, "an array" }, { API_T_NULL, "null" },
	};
	size_t i, k = 0;

	out[0] = '\0';
	for (i = 0; i < sizeof(w) / sizeof(w[0]); i++) {
		if ((types & w[i].bits) == 0)
			continue;
		k += (size_t)snprintf(out + k, outsz - k, "%s%s",
		    k > 0 ? " or " : "", w[i].words);
		if (k >= outsz)
			return;
	}
}

/* The 422 for a member that is not in the table: it lists what is allowed
 * rather than echoing the unknown name. */
static int
api_unknown_member(struct api_ctx *c, const struct api_field *f, size_t nf)
{
	char names[API_ERR_MAX - 40];
	size_t i, k = 0;

	names[0] = '\0';
	for (i = 0; i < nf && k < sizeof(names); i++)
		if (f[i].types != 0)
			k += (size_t)snprintf(names + k, sizeof(names) - k,
			    "%s%s", k > 0 ? ", " : "", f[i].name);
	return api_errorf(c, 422, "unknown member (expected: %s)", names);
}

/*
 * Load the body as a JSON object whose members are all in the table f (nf
 * entries) with the listed types, none repeated, the required ones present.
 * idx[i] receives the token index of member f[i]'s value, or -1 when absent.
 * Returns 0, or the 400/422 answer.
 */
static int
api_body(struct api_ctx *c, const struct api_field *f, size_t nf, int *idx)
{
	const struct json_tok *t;
	char words[80];
	size_t i, k, m;
	int st;

	if ((st = api_parse_body(c)) != 0)
		return st;
	t = c->toks;
	if (t[0].type != JSON_OBJECT)
		return api_error(c, 422, "body must be a JSON object");
	for (k = 0; k < nf; k++)
		idx[k] = -1;
	i = 1;
	for (m = 0; m < t[0].size; m++) {
		for (k = 0; k < nf; k++)
			if (json_str_eq(c->json, &t[i], f[k].name))
				break;
		if (k == nf)
			return api_unknown_member(c, f, nf);
		if (idx[k] >= 0)
			return api_errorf(c, 422, "%s is repeated", f[k].name);
		if (f[k].types == 0)
			return api_errorf(c, 422, "%s cannot be set here",
			    f[k].name);
		if ((f[k].types & (1u << t[i + 1].type)) == 0) {
			api_type_words(f[k].types, words, sizeof(words));
			return api_errorf(c, 422, "%s must be %s", f[k].name,
			    words);
		}
		idx[k] = (int)(i + 1);
		i = t[i + 1].next;
	}
	for (k = 0; k < nf; k++)
		if (f[k].required && idx[k] < 0)
			return api_errorf(c, 422, "%s is required", f[k].name);
	return 0;
}

/* Decode the string token at idx into out: its length, or -1 when it does
 * not fit or holds a NUL (hookd keeps C strings). */
static int
api_str(const struct api_ctx *c, int idx, char *out, size_t outsz)
{
	int n = json_str(c->json, &c->toks[idx], out, outsz);

	if (n < 0 || memchr(out, '\0', (size_t)n) != NULL)
		return -1;
	return n;
}

/* ---- validation shared by the API and the static registrations ---- */

/*
 * Event types and filters: 1..UTIL_TYPE_MAX visible ASCII characters. The
 * type goes out in the hookd-event-type header and into log lines, so CR,
 * LF, spaces and other controls would inject headers or fields. In a filter
 * '*' may only end it (contract §3: a trailing * matches a prefix); one
 * elsewhere would never match, which is surely a typo.
 */
static int
api_type_ok(const char *s, size_t n, int filter)
{
	size_t i;

	if (n == 0 || n > UTIL_TYPE_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		if (s[i] <= 0x20 || s[i] >= 0x7f)
			return 0;
		if (filter && s[i] == '*' && i != n - 1)
			return 0;
	}
	return 1;
}

/* A callback URL (contract §3): NULL when acceptable, else the reason
 * (static, or in buf). A literal address is checked against §8 now, and
 * localhost by name; other names by api_url_resolves where the API
 * registers a URL, and after each resolution by the delivery engine. */
static const char *
api_url_problem(const char *s, size_t n, char *buf, size_t bufsz)
{
	struct sockaddr_storage ss;
	struct url u;
	const char *why = "url: invalid";
	const struct url_cidr *allow = config_current()->allow;
	size_t nallow = config_current()->nallow;

	if (url_parse(s, n, &u, &why) != 0 ||
	    url_template_check(s, n, &why) != 0)
		return why;
	if (url_host_literal(u.host, &ss) == 0) {
		if (url_denied_error((const struct sockaddr *)(const void *)&ss,
		    NULL, allow, nallow, buf, bufsz))
			return buf;
	} else if (url_host_is_localhost(u.host)) {
		/* Contract §11 and §8: a name that resolves only to denied
		 * addresses is refused now; localhost needs no resolver (RFC
		 * 6761). Refused when neither 127.0.0.1 nor ::1 is allowed.
		 * Other names are looked up by api_url_resolves, and meet
		 * the connect-time check, which is the guard in any case. */
		struct sockaddr_storage v6;

		if (url_host_literal("127.0.0.1", &ss) == 0 &&
		    url_host_literal("::1", &v6) == 0 &&
		    url_addr_denied((const struct sockaddr *)(const void *)&v6,
		    allow, nallow) != NULL &&
		    url_denied_error((const struct sockaddr *)(const void *)&ss,
		    u.host, allow, nallow, buf, bufsz))
			return buf;
	}
	return NULL;
}

/*
 * Contract §11: a host name that resolves only to denied addresses is
 * refused at registration, not only at delivery. url (checked already by
 * api_url_problem) is looked up through the delivery engine's resolver
 * threads and cache, on behalf of client (its lookup slots), so the loop
 * never blocks (§8). Returns 0 when the URL may be registered: its host
 * is a literal or localhost (judged by name in api_url_problem), or any
 * of its addresses is allowed, or the name does not resolve (it may be
 * registered before it exists; the delivery then fails with "dns: ..."),
 * or the caller stopped waiting (r->resolve_late: a slow name server
 * cannot hold a registration; the connect-time check stays the guard).
 * Returns 422 (answered, prefix before the reason) when every address is
 * denied, and API_RESOLVING while the lookup is under way: the caller runs
 * the request again when the resolver answers. Nothing may be written to
 * the store before this check, so that the second run is the first one
 * that counts.
 */
static int
api_url_resolves(struct api_ctx *c, const char *url, const char *client,
    const char *prefix)
{
	struct sockaddr_storage ss[API_NAME_ADDRS];
	char msg[API_NAME_ERR_MAX], text[INET6_ADDRSTRLEN];
	const char *why, *cls = NULL;
	size_t n, i, len;
	struct url u;

	if (url_parse(url, strlen(url), &u, &why) != 0 || u.is_literal ||
	    url_host_is_localhost(u.host))
		return 0;
	if (deliver_host_addrs(u.host, client, ss, API_NAME_ADDRS, &n) == 1)
		return c->r->resolve_late ? 0 : API_RESOLVING;
	for (i = 0; i < n; i++)
		if (url_addr_denied((const struct sockaddr *)(const void *)
		    &ss[i], config_current()->allow, config_current()->nallow) ==
		    NULL)
			return 0;
	if (n == 0)
		return 0;
	/* Truncation only shortens the message. */
	len = (size_t)snprintf(msg, sizeof(msg), "%sdestination not allowed: "
	    "%s resolves only to ", prefix, u.host);
	for (i = 0; i < n && len < sizeof(msg); i++) {
		const struct sockaddr *sa =
		    (const struct sockaddr *)(const void *)&ss[i];

		cls = url_addr_denied(sa, config_current()->allow,
		    config_current()->nallow);
		len += (size_t)snprintf(msg + len, sizeof(msg) - len, "%s%s (%s)",
		    i > 0 ? ", " : "", url_addr_text(sa, text, sizeof(text)),
		    cls);
	}
	if (len < sizeof(msg))
		(void)snprintf(msg + len, sizeof(msg) - len,
		    "; allow_destinations opens it");
	return api_error(c, 422, msg);
}

/* A secret supplied by the admin: "whsec_" and base64 of 24..64 bytes. */
static int
api_secret_ok(const char *s, size_t n)
{
	uint8_t key[SIGN_SECRET_MAX_BYTES];
	int ok = n < SIGN_SECRET_MAX && sign_secret_key(s, n, 1, key) >= 0;

	api_wipe(key, sizeof(key));
	return ok;
}

/* NULL when name (n bytes) may be an endpoint's extra header. */
static const char *
api_header_name_problem(const char *name, size_t n)
{
	if (n == 0 || n > API_HEADER_NAME_MAX)
		return "headers: a name is empty or too long";
	if (!http_name_ok(name, n))
		return "headers: a name is not an HTTP token";
	return NULL;
}

/* ---- looking things up from the path ---- */

/* The client named by the {id} segment (admin routes only), or NULL. */
static struct client *
api_path_client(const struct api_ctx *c)
{
	struct client *cl = store_client_find(c->seg, c->seg_len);

	/* A client token sees only its own client (contract §11). */
	return cl != NULL && api_sees(c, cl->id) ? cl : NULL;
}

static struct endpoint *
api_path_endpoint(const struct api_ctx *c)
{
	struct endpoint *e;
	uint64_t id;

	if (store_parse_id(STORE_EP, c->seg, c->seg_len, &id) != 0 ||
	    (e = store_endpoint_find(id)) == NULL || !api_sees(c, e->client->id))
		return NULL;
	return e;
}

static struct event *
api_path_event(const struct api_ctx *c)
{
	struct event *ev;
	uint64_t id;

	if (store_parse_id(STORE_EVT, c->seg, c->seg_len, &id) != 0 ||
	    (ev = store_event_find(id)) == NULL || !api_sees(c, ev->client_id))
		return NULL;
	return ev;
}

static struct delivery *
api_path_delivery(const struct api_ctx *c)
{
	struct delivery *d;
	uint64_t id;

	if (store_parse_id(STORE_DLV, c->seg, c->seg_len, &id) != 0 ||
	    (d = store_delivery_find(id)) == NULL ||
	    !api_sees(c, d->event->client_id))
		return NULL;
	return d;
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
	buf_puts(b, "}");
}

/*
 * The URL an endpoint delivery goes to (contract §4): the template filled
 * from the event's data and, for GET, the data's query string appended. When
 * a member is missing or a dot segment (the delivery fails with "template:
 * ...") or the data cannot be read, the template itself. 0, or -1 out of
 * memory.
 */
static int
api_sent_url(struct buf *u, const struct endpoint *e, struct event *ev)
{
	struct buf data = {0};
	struct json_tok *toks = NULL;
	const char *json;
	char missing[8];
	size_t len = 0, at;
	int rc = -1;

	json = store_event_data(ev, &data, &len);
	if (json == NULL || api_parse_alloc(json, len, &toks) <= 0 ||
	    toks[0].type != JSON_OBJECT)
		goto raw;
	rc = url_expand(u, e->url, strlen(e->url), json, toks, 0, missing,
	    sizeof(missing));
	if (rc == -1 || rc == -3)	/* the delivery failed on it */
		goto raw;
	if (rc == 0 && e->method_get) {
		at = u->len;
		buf_puts(u, memchr(u->data, '?', u->len) != NULL ? "&" : "?");
		rc = url_query(u, json, toks, 0);
		if (rc == 0 && u->len == at + 1) {	/* nothing to add */
			u->len = at;
			u->data[at] = '\0';
		}
	}
	goto done;
raw:
	buf_reset(u);
	rc = buf_puts(u, e->url);
done:
	free(toks);
	buf_free(&data);
	return rc < 0 ? -1 : 0;
}

static void
api_put_delivery_url(struct buf *b, const struct delivery *d)
{
	const struct endpoint *e = d->endpoint;
	struct buf u = {0};

	if (d->url != NULL) {
		json_put_cstr(b, d->url);
	} else if (e == NULL) {
		buf_puts(b, "null");	/* the endpoint was deleted */
	} else if (strchr(e->url, '{') == NULL && !e->method_get) {
		json_put_cstr(b, e->url);
	} else if (api_sent_url(&u, e, d->event) != 0) {
		b->oom = 1;		/* answered as 500 by api_handle */
	} else {
		json_put_str(b, u.data, u.len);
	}
	buf_free(&u);
}

/* A delivery as in contract §3, with "log" when asked. 0, or -1 when its
 * attempts cannot be read back. */
static int
api_put_delivery(struct api_ctx *c, struct delivery *d, int with_log)
{
	struct buf *b = c->out;
	struct buf last = {0}, ack = {0}, hist = {0};
	int rc;

	rc = store_delivery_history(d, &last, &ack, with_log ? &hist : NULL);
	if (rc == 0) {
		buf_puts(b, "{");
		api_kv_id(b, "id", STORE_DLV, d->id);
		api_kv_id(b, "event", STORE_EVT, d->event->id);
		if (d->endpoint != NULL)
			api_kv_id(b, "endpoint", STORE_EP, d->endpoint->id);
		else
			api_kv_raw(b, "endpoint", "null");
		api_kv_str(b, "client", d->event->client_id);
		api_key(b, "url");
		api_put_delivery_url(b, d);
		api_kv_str(b, "status", d->status <= STORE_FAILED ?
		    api_status_names[d->status] : "unknown");
		api_kv_u64(b, "attempts", d->attempts);
		api_kv_time(b, "next_attempt_at",
		    d->status == STORE_PENDING ? d->next_at : 0, 1);
		api_kv_raw(b, "last", last.len > 0 ? last.data : NULL);
		api_kv_raw(b, "ack", ack.len > 0 ? ack.data : NULL);
		api_kv_time(b, "created_at", d->created_at, 0);
		api_kv_time(b, "updated_at", d->updated_at, 0);
		if (with_log) {
			api_key(b, "log");
			buf_puts(b, "[");
			buf_append(b, hist.data != NULL ? hist.data : "",
			    hist.len);
			buf_puts(b, "]");
		}
		buf_puts(b, "}");
	}
	buf_free(&last);
	buf_free(&ack);
	buf_free(&hist);
	return rc;
}

/* An event; with_all adds its data and its deliveries. 0 or -1 (I/O). */
static int
api_put_event(struct api_ctx *c, struct event *ev, int with_all)
{
	struct buf *b = c->out, data = {0};
	struct delivery *d;
	const char *json;
	size_t len = 0;

	buf_puts(b, "{");
	api_kv_id(b, "id", STORE_EVT, ev->id);
	api_kv_str(b, "client", ev->client_id);
	api_kv_str(b, "type", ev->type);
	api_kv_time(b, "created_at", ev->created_at, 0);
	if (with_all) {
		/* Copied out before the next store call invalidates it. */
		json = store_event_data(ev, &data, &len);
		if (json == NULL) {
			buf_free(&data);
			return -1;
		}
		api_key(b, "data");
		buf_append(b, json, len);
		buf_free(&data);
		api_key(b, "deliveries");
		buf_puts(b, "[");
		for (d = ev->deliveries; d != NULL; d = d->next_in_event) {
			api_sep(b);
			if (api_put_delivery(c, d, 0) != 0)
				return -1;
		}
		buf_puts(b, "]");
	}
	buf_puts(b, "}");
	return 0;
}

/* ---- lists (contract §3) ---- */

struct api_page {
	size_t limit;
	int has_after;
	char after[UTIL_ID_MAX + 1];
	size_t after_len;
	uint64_t after_id;		/* for ep/evt/dlv lists */
};

/* ?limit= and ?after=; kind is the id kind of the list, or -1 for client
 * ids. 0, or the 400/422 answer. */
static int
api_page(struct api_ctx *c, int kind, struct api_page *p)
{
	char v[UTIL_ID_MAX + 1];
	uint64_t lim;
	int n, st = 0;

	memset(p, 0, sizeof(*p));
	p->limit = API_LIST_DEFAULT;
	if ((n = api_param(c, "limit", v, sizeof(v), &st)) == -2)
		return st;
	if (n >= 0) {
		if (util_parse_u64(v, (size_t)n, API_LIST_MAX, &lim) != 0 ||
		    lim == 0)
			return api_errorf(c, 422, "limit must be 1 to %d",
			    API_LIST_MAX);
		p->limit = (size_t)lim;
	}
	if ((n = api_param(c, "after", p->after, sizeof(p->after), &st)) ==
	    -2)
		return st;
	if (n < 0)
		return 0;
	p->has_after = 1;
	p->after_len = (size_t)n;
	if (kind >= 0 && store_parse_id((enum store_kind)kind, p->after,
	    p->after_len, &p->after_id) != 0)
		return api_error(c, 422, "after is not an id of this list");
	return 0;
}

/* An id filter parameter of kind k into *id. */
static int
api_id_param(struct api_ctx *c, const char *name, enum store_kind k,
    uint64_t *id, unsigned bit)
{
	char v[STORE_XID_MAX + 8];
	int n, st = 0;

	if ((n = api_param(c, name, v, sizeof(v), &st)) == -2)
		return st;
	if (n < 0)
		return 0;
	if (store_parse_id(k, v, (size_t)n, id) != 0)
		return api_errorf(c, 422, "%s is not a valid id", name);
	c->f.set |= bit;
	return 0;
}

static int
api_status_param(struct api_ctx *c)
{
	char v[16];
	int n, st = 0, s;

	if ((n = api_param(c, "status", v, sizeof(v), &st)) == -2)
		return st;
	if (n < 0)
		return 0;
	for (s = 0; s < 3; s++)
		if (strcmp(v, api_status_names[s]) == 0)
			break;
	if (s == 3)
		return api_error(c, 422,
		    "status must be pending, delivered or failed");
	c->f.status = s;
	c->f.set |= API_F_STATUS;
	return 0;
}

/* Parse the filters named in which into c->f. 0 or the error answer. */
static int
api_filters(struct api_ctx *c, unsigned which)
{
	int n, st = 0;

	if (which & API_F_CLIENT) {
		n = api_param(c, "client", c->f.client, sizeof(c->f.client),
		    &st);
		if (n == -2)
			return st;
		if (n >= 0)
			c->f.set |= API_F_CLIENT;
	}
	if (which & API_F_TYPE) {
		n = api_param(c, "type", c->f.type, sizeof(c->f.type), &st);
		if (n == -2)
			return st;
		if (n >= 0)
			c->f.set |= API_F_TYPE;
	}
	if ((which & API_F_ENDPOINT) && (st = api_id_param(c, "endpoint",
	    STORE_EP, &c->f.endpoint, API_F_ENDPOINT)) != 0)
		return st;
	if ((which & API_F_EVENT) && (st = api_id_param(c, "event",
	    STORE_EVT, &c->f.event, API_F_EVENT)) != 0)
		return st;
	if (which & API_F_STATUS)
		return api_status_param(c);
	return 0;
}

/* Visible to the caller and within the ?client= filter. */
static int
api_keep_client_id(const struct api_ctx *c, const char *id)
{
	return api_sees(c, id) && (!(c->f.set & API_F_CLIENT) ||
	    strcmp(c->f.client, id) == 0);
}

/* How a list walks one kind of thing. */
struct api_list {
	void *(*at)(size_t i);
	int (*keep)(const struct api_ctx *c, void *item);
	int (*put)(struct api_ctx *c, void *item);	/* 0 or -1 */
	void (*id)(void *item, char out[UTIL_ID_MAX + 1]);
};

/*
 * Answer {"data": [...], "next": ...} with up to limit kept items, from
 * index start upward, or (newest_first) from start - 1 down to 0. "next" is
 * the last item shown when another kept item follows, else null.
 */
static int
api_list_run(struct api_ctx *c, const struct api_list *l, size_t start,
    size_t count, int newest_first, size_t limit)
{
	struct buf *b = c->out;
	char next[UTIL_ID_MAX + 1];
	size_t i, todo, shown = 0;
	void *item, *last = NULL;
	int more = 0;

	todo = newest_first ? start : (start < count ? count - start : 0);
	buf_puts(b, "{\"data\":[");
	for (i = 0; i < todo; i++) {
		item = l->at(newest_first ? start - 1 - i : start + i);
		if (!l->keep(c, item))
			continue;
		if (shown == limit || (shown > 0 &&
		    b->len - c->mark > API_PAGE_BYTES_MAX)) {
			more = 1;
			break;
		}
		api_sep(b);
		if (l->put(c, item) != 0)
			return api_error(c, 500, "cannot read the journal");
		last = item;
		shown++;
	}
	buf_puts(b, "],\"next\":");
	if (more) {
		l->id(last, next);
		json_put_cstr(b, next);
	} else {
		buf_puts(b, "null");
	}
	buf_puts(b, "}");
	return api_done(c, 200);
}

/* The four kinds, adapted to struct api_list. */

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

static void *
api_event_at(size_t i)
{
	return store_event_at(i);
}

static int
api_event_keep(const struct api_ctx *c, void *item)
{
	const struct event *ev = item;

	return api_keep_client_id(c, ev->client_id) &&
	    (!(c->f.set & API_F_TYPE) || strcmp(c->f.type, ev->type) == 0);
}

static int
api_event_put(struct api_ctx *c, void *item)
{
	return api_put_event(c, item, 0);
}

static void
api_event_id(void *item, char out[UTIL_ID_MAX + 1])
{
	store_fmt_id(STORE_EVT, ((struct event *)item)->id, out);
}

static void *
api_delivery_at(size_t i)
{
	return store_delivery_at(i);
}

static int
api_delivery_keep(const struct api_ctx *c, void *item)
{
	const struct delivery *d = item;
	const struct api_filter *f = &c->f;

	return api_keep_client_id(c, d->event->client_id) &&
	    (!(f->set & API_F_EVENT) || d->event->id == f->event) &&
	    (!(f->set & API_F_ENDPOINT) || (d->endpoint != NULL &&
	    d->endpoint->id == f->endpoint)) &&
	    (!(f->set & API_F_STATUS) || d->status == f->status);
}

static int
api_delivery_put(struct api_ctx *c, void *item)
{
	return api_put_delivery(c, item, 0);
}

static void
api_delivery_id(void *item, char out[UTIL_ID_MAX + 1])
{
	store_fmt_id(STORE_DLV, ((struct delivery *)item)->id, out);
}

static const struct api_list api_list_clients = {
	api_client_at, api_client_keep, api_client_put, api_client_id,
};
static const struct api_list api_list_endpoints = {
	api_endpoint_at, api_endpoint_keep, api_endpoint_put, api_endpoint_id,
};
static const struct api_list api_list_events = {
	api_event_at, api_event_keep, api_event_put, api_event_id,
};
static const struct api_list api_list_deliveries = {
	api_delivery_at, api_delivery_keep, api_delivery_put, api_delivery_id,
};

/* ---- /v1/clients (admin) ---- */

enum { CL_ID, CL_NAME, CL_NFIELDS };

static const struct api_field api_client_fields[CL_NFIELDS] = {
	[CL_ID] = { "id", API_T_STR, 1 },
	[CL_NAME] = { "name", API_T_STR | API_T_NULL, 0 },
};

/* A new client token: the text in tok, its SHA-256 (all that is stored) in
 * hash. 0 or -1. */
static int
api_new_token(char tok[API_TOKEN_MAX], uint8_t hash[32])
{
	if (sign_token_new("hkc_", tok, API_TOKEN_MAX) != 0)
		return -1;
	sha256(tok, strlen(tok), hash);
	return 0;
}

static int
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

static int
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
	api_wipe(tok, sizeof(tok));
	api_wipe(secret, sizeof(secret));
	return st;
}

static int
api_client_get(struct api_ctx *c)
{
	struct client *cl = api_path_client(c);

	if (cl == NULL)
		return api_not_found(c);
	api_put_client(c->out, cl, NULL, 1);
	return api_done(c, 200);
}

static int
api_client_delete(struct api_ctx *c)
{
	struct client *cl = api_path_client(c);

	if (cl == NULL)
		return api_not_found(c);
	if (store_client_delete(cl) != 0)
		return api_store_error(c);
	return api_no_content(c);
}

static int
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
	api_wipe(tok, sizeof(tok));
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
	api_wipe(secret, sizeof(secret));
	return st;
}

static int
api_client_rotate_secret(struct api_ctx *c)
{
	return api_rotate_secret(c, api_path_client(c), NULL);
}

/* ---- /v1/endpoints ---- */

enum {
	EP_ID, EP_CLIENT, EP_URL, EP_METHOD, EP_EVENTS, EP_HEADERS,
	EP_DESCRIPTION, EP_SECRET, EP_ENABLED, EP_NFIELDS
};

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
};

/* An endpoint being built: the template handed to the store, which owns
 * every string it points to (the store copies them deeply). */
struct api_draft {
	struct endpoint e;
	char *events[UTIL_MAX_FILTERS];
};

static void
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

static void
api_draft_free(struct api_draft *d)
{
	api_draft_clear_events(d);
	free(d->e.url);
	free(d->e.headers);
	free(d->e.description);
	api_wipe(d->e.secret, sizeof(d->e.secret));
	api_wipe(d->e.prev_secret, sizeof(d->e.prev_secret));
}

/* Replace the string in *slot with a copy of s (n bytes), or NULL. */
static int
api_draft_set(char **slot, const char *s, size_t n)
{
	char *p = NULL;

	if (s != NULL && (p = util_strndup(s, n)) == NULL)
		return -1;
	free(*slot);
	*slot = p;
	return 0;
}

static int
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
static int
api_draft_copy(struct api_draft *d, const struct endpoint *e)
{
	size_t i;

	d->e = *e;
	d->e.events = d->events;
	d->e.nevents = 0;
	d->e.url = d->e.headers = d->e.description = NULL;
	if (api_draft_set(&d->e.url, e->url, strlen(e->url)) != 0 ||
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
		api_wipe(secret, sizeof(secret));
		return api_error(c, 422, "secret must be whsec_ followed by "
		    "the base64 of 24 to 64 bytes");
	}
	memcpy(d->e.secret, secret, (size_t)n + 1);
	api_wipe(secret, sizeof(secret));
	return 0;
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
	size_t i, n = store_endpoint_count();
	const char *err;
	int norm;

	norm = url_normalize(draft->url, strlen(draft->url), want,
	    sizeof(want), &err) == 0;
	for (i = 0; i < n; i++) {
		const struct endpoint *e = store_endpoint_at(i);

		if (e == self || e->client != draft->client ||
		    e->method_get != draft->method_get)
			continue;
		if (strcmp(e->url, draft->url) == 0 ||
		    (norm && url_normalize(e->url, strlen(e->url), have,
		    sizeof(have), &err) == 0 && strcmp(have, want) == 0))
			return e;
	}
	return NULL;
}

/* How many endpoints cl has. */
static size_t
api_ep_count(const struct client *cl)
{
	size_t i, n = store_endpoint_count(), k = 0;

	for (i = 0; i < n; i++)
		k += store_endpoint_at(i)->client == cl;
	return k;
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

static int
api_endpoints_list(struct api_ctx *c)
{
	struct api_page p;
	size_t start;
	int st;

	if ((st = api_page(c, STORE_EP, &p)) != 0 ||
	    (st = api_filters(c, API_F_CLIENT)) != 0)
		return st;
	start = p.has_after ? store_endpoint_after(p.after_id) : 0;
	return api_list_run(c, &api_list_endpoints, start,
	    store_endpoint_count(), 0, p.limit);
}

static int
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

static int
api_endpoint_get(struct api_ctx *c)
{
	struct endpoint *e = api_path_endpoint(c);

	if (e == NULL)
		return api_not_found(c);
	api_put_endpoint(c->out, e, 1);
	return api_done(c, 200);
}

static int
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
	api_put_endpoint(c->out, e, 1);
	st = api_done(c, 200);
done:
	api_draft_free(&d);
	return st;
}

static int
api_endpoint_delete(struct api_ctx *c)
{
	struct endpoint *e = api_path_endpoint(c);

	if (e == NULL)
		return api_not_found(c);
	if (store_endpoint_delete(e) != 0)
		return api_store_error(c);
	return api_no_content(c);
}

static int
api_endpoint_rotate(struct api_ctx *c)
{
	return api_rotate_secret(c, NULL, api_path_endpoint(c));
}

static const struct api_field api_replay_fields[] = {
	{ "since", API_T_STR, 1 },
};

/*
 * Contract §18: retry and replay calls made with the token of client cl are
 * counted per minute; past max_retries_per_minute they are answered 429, so
 * one tenant cannot keep the journal and the engine busy requeueing. The
 * admin's calls are neither counted nor limited: the limit protects against
 * a tenant, and the operator must still be able to act once a tenant has
 * used its share. 0, or the 429 answer.
 */
static int
api_retry_rate(struct api_ctx *c, struct client *cl)
{
	int64_t minute = util_mono_ms() / 60000;

	if (cl == NULL || c->client == NULL)
		return 0;
	if (cl->retry_minute != minute) {
		cl->retry_minute = minute;
		cl->retry_calls = 0;
	}
	if (cl->retry_calls >= config_current()->max_retries_per_minute)
		return api_errorf(c, 429, "too many retry and replay calls for "
		    "client %s: at most %zu a minute (max_retries_per_minute)",
		    cl->id, config_current()->max_retries_per_minute);
	cl->retry_calls++;
	return 0;
}

static int
api_endpoint_replay(struct api_ctx *c)
{
	struct endpoint *e = api_path_endpoint(c);
	const struct json_tok *t;
	struct delivery *d;
	int64_t since, now = util_wall_ms();
	uint64_t requeued = 0;
	size_t i, n;
	int idx[1], st;

	if (e == NULL)
		return api_not_found(c);
	if ((st = api_body(c, api_replay_fields, 1, idx)) != 0 ||
	    (st = api_retry_rate(c, e->client)) != 0)
		return st;
	t = &c->toks[idx[0]];
	/* The raw span is the text: a time needs no escapes, and one with
	 * escapes is not a valid time anyway. */
	if (util_parse_time(c->json + t->start, t->len, &since) != 0)
		return api_error(c, 422, "since must be an RFC 3339 time");
	n = store_delivery_count();
	for (i = 0; i < n; i++) {
		d = store_delivery_at(i);
		if (d->endpoint != e || d->status != STORE_FAILED ||
		    d->created_at < since || d->event->dropping)
			continue;
		if (store_delivery_requeue(d, now) != 0)
			return api_store_error(c);
		requeued++;
	}
	buf_puts(c->out, "{");
	api_kv_u64(c->out, "requeued", requeued);
	buf_puts(c->out, "}");
	return api_done(c, 202);
}

/* ---- /v1/events ---- */

enum { EV_CLIENT, EV_TYPE, EV_DATA, EV_NFIELDS };

static const struct api_field api_event_fields[EV_NFIELDS] = {
	[EV_CLIENT] = { "client", API_T_STR, 1 },
	[EV_TYPE] = { "type", API_T_STR, 1 },
	[EV_DATA] = { "data", API_T_OBJ, 1 },
};

/* What POST /v1/events was asked to create, once validated. */
struct api_new_event {
	struct client *client;
	char type[UTIL_TYPE_MAX + 1];
	size_t type_len;
	const struct json_tok *data;
	char callback[URL_MAX + 1];
	int has_callback;
	char key[STORE_IDEM_MAX + 1];
	size_t key_len;			/* 0: no Idempotency-Key */
	uint8_t req[32];		/* what a repeat must match (api_idem_key) */
};

/* The Idempotency-Key header: 1..255 visible ASCII (spaces inside allowed);
 * it is stored and compared, so controls and unbounded keys are refused. */
static int
api_idem_key(struct api_ctx *c, struct api_new_event *ne)
{
	const struct http_header *h = api_header(c, "Idempotency-Key");
	size_t i;

	if (h == NULL)
		return 0;
	if (h->value_len == 0 || h->value_len > STORE_IDEM_MAX)
		goto bad;
	for (i = 0; i < h->value_len; i++)
		if (h->value[i] < 0x20 || h->value[i] >= 0x7f)
			goto bad;
	memcpy(ne->key, h->value, h->value_len);
	ne->key[h->value_len] = '\0';
	ne->key_len = h->value_len;
	/* The request a repeat must match (contract §11): the body's bytes
	 * and the callbackURL, each with its length so that no split of the
	 * bytes between them hashes the same. */
	{
		struct sha256_ctx sc;
		uint64_t n[2];

		n[0] = c->r->body_len;
		n[1] = ne->has_callback ? strlen(ne->callback) + 1 : 0;
		sha256_init(&sc);
		sha256_update(&sc, n, sizeof(n));
		sha256_update(&sc, c->r->body != NULL ? c->r->body : "",
		    c->r->body_len);
		if (ne->has_callback)
			sha256_update(&sc, ne->callback, n[1] - 1);
		sha256_final(&sc, ne->req);
	}
	return 0;
bad:
	return api_error(c, 400,
	    "Idempotency-Key must be 1-255 visible ASCII characters");
}

/* Validate the body, ?callbackURL= and Idempotency-Key into ne. */
static int
api_event_parse(struct api_ctx *c, struct api_new_event *ne)
{
	char id[UTIL_ID_MAX + 1];
	const char *why;
	int idx[EV_NFIELDS], st = 0, n;

	if ((st = api_body(c, api_event_fields, EV_NFIELDS, idx)) != 0)
		return st;
	n = api_str(c, idx[EV_CLIENT], id, sizeof(id));
	if (n < 0 || (ne->client = store_client_find(id, (size_t)n)) == NULL)
		return api_error(c, 422, "client: no such client");
	n = api_str(c, idx[EV_TYPE], ne->type, sizeof(ne->type));
	if (n < 0 || !api_type_ok(ne->type, (size_t)n, 0))
		return api_errorf(c, 422, "type must be 1-%d visible ASCII "
		    "characters", UTIL_TYPE_MAX);
	ne->type_len = (size_t)n;
	ne->data = &c->toks[idx[EV_DATA]];
	n = api_param(c, "callbackURL", ne->callback, sizeof(ne->callback),
	    &st);
	if (n == -2)
		return st;
	if (n >= 0) {
		char wbuf[API_ERR_MAX];

		if ((why = api_url_problem(ne->callback, (size_t)n, wbuf,
		    sizeof(wbuf))) != NULL)
			return api_errorf(c, 422, "callbackURL: %s", why);
		ne->has_callback = 1;
	}
	return api_idem_key(c, ne);
}

/* Create the event with a delivery to each matching enabled endpoint of its
 * client (and the one-off), answer 202, remember the answer for the key. */
static int
api_event_store(struct api_ctx *c, struct api_new_event *ne, int64_t now)
{
	size_t i, neps = 0, total = store_endpoint_count();
	struct endpoint **eps = NULL, *e;
	struct event *ev;

	if (total > 0 && (eps = calloc(total, sizeof(*eps))) == NULL)
		return api_nomem(c);
	for (i = 0; i < total; i++) {
		e = store_endpoint_at(i);
		if (e->client == ne->client && e->enabled &&
		    store_endpoint_matches(e, ne->type, ne->type_len))
			eps[neps++] = e;
	}
	ev = store_event_create(ne->client, ne->type, ne->type_len,
	    c->json + ne->data->start, ne->data->len, eps, neps,
	    ne->has_callback ? ne->callback : NULL,
	    ne->key_len > 0 ? ne->key : NULL, ne->key_len, now);
	free(eps);
	if (ev == NULL)
		return api_store_error(c);
	metrics.events++;
	buf_puts(c->out, "{");
	api_kv_id(c->out, "id", STORE_EVT, ev->id);
	api_kv_u64(c->out, "deliveries", ev->ndeliveries);
	buf_puts(c->out, "}");
	/* The event is durable whatever happens here: a failure to remember
	 * the answer only risks a duplicate event on a retry, which at least
	 * once delivery allows; refusing the 202 would risk more. */
	if (ne->key_len > 0 && !c->out->oom)
		(void)store_idem_put(ne->client, ne->key, ne->key_len,
		    ne->req, 202, c->out->data + c->mark, now);
	return api_done(c, 202);
}

static int
api_events_create(struct api_ctx *c)
{
	struct api_new_event ne;
	const char *body;
	int64_t now = util_wall_ms();
	int st, status;

	memset(&ne, 0, sizeof(ne));
	if ((st = api_event_parse(c, &ne)) != 0)
		return st;
	if (ne.key_len > 0) {
		st = store_idem_find(ne.client, ne.key, ne.key_len, ne.req,
		    now, &status, &body);
		if (st == 1)
			return api_error(c, 422, "Idempotency-Key reused with "
			    "a different request");
		if (st == 0) {
			buf_puts(c->out, body);
			return api_done(c, status);
		}
	}
	/* After the replay of a kept answer, which needs no lookup. */
	if (ne.has_callback && (st = api_url_resolves(c, ne.callback,
	    ne.client->id, "callbackURL: ")) != 0)
		return st;
	return api_event_store(c, &ne, now);
}

static int
api_events_list(struct api_ctx *c)
{
	struct api_page p;
	size_t start;
	int st;

	if ((st = api_page(c, STORE_EVT, &p)) != 0 ||
	    (st = api_filters(c, API_F_CLIENT | API_F_TYPE)) != 0)
		return st;
	/* Newest first: ?after= means older than that id. */
	start = store_event_count();
	if (p.has_after) {
		start = store_event_after(p.after_id);
		if (start > 0 && store_event_at(start - 1)->id == p.after_id)
			start--;
	}
	return api_list_run(c, &api_list_events, start, start, 1, p.limit);
}

static int
api_event_get(struct api_ctx *c)
{
	struct event *ev = api_path_event(c);

	if (ev == NULL)
		return api_not_found(c);
	if (api_put_event(c, ev, 1) != 0)
		return api_error(c, 500, "cannot read the journal");
	return api_done(c, 200);
}

/* ---- /v1/deliveries ---- */

static int
api_deliveries_list(struct api_ctx *c)
{
	struct api_page p;
	size_t start;
	int st;

	if ((st = api_page(c, STORE_DLV, &p)) != 0 ||
	    (st = api_filters(c, API_F_CLIENT | API_F_ENDPOINT | API_F_EVENT |
	    API_F_STATUS)) != 0)
		return st;
	start = p.has_after ? store_delivery_after(p.after_id) : 0;
	return api_list_run(c, &api_list_deliveries, start,
	    store_delivery_count(), 0, p.limit);
}

static int
api_delivery_get(struct api_ctx *c)
{
	struct delivery *d = api_path_delivery(c);

	if (d == NULL)
		return api_not_found(c);
	if (api_put_delivery(c, d, 1) != 0)
		return api_error(c, 500, "cannot read the journal");
	return api_done(c, 200);
}

/* Attempt now, whatever the status (contract §3): a finished delivery is
 * made pending again first, which is what makes the retry durable. */
static int
api_delivery_retry(struct api_ctx *c)
{
	struct delivery *d = api_path_delivery(c);
	int st;

	if (d == NULL)
		return api_not_found(c);
	if ((st = api_retry_rate(c, d->event->client)) != 0)
		return st;
	if (d->url == NULL && d->endpoint == NULL)
		return api_error(c, 409, "its endpoint was deleted");
	if (d->status != STORE_PENDING &&
	    store_delivery_requeue(d, util_wall_ms()) != 0)
		return api_store_error(c);
	deliver_now(d);
	buf_puts(c->out, "{");
	api_kv_id(c->out, "id", STORE_DLV, d->id);
	api_kv_str(c->out, "status", "pending");
	buf_puts(c->out, "}");
	return api_done(c, 202);
}

/* ---- operations ---- */

/* POST /v1/compact (an extension): start compaction now instead of waiting
 * for the journal to double. */
static int
api_compact(struct api_ctx *c)
{
	int rc = store_compact_start(util_wall_ms(),
	    config_current()->retention_ms, 1);

	if (rc < 0)
		return errno == EBUSY ?
		    api_error(c, 409, "a compaction is running") :
		    api_error(c, 500, "cannot start compaction");
	buf_puts(c->out, "{");
	api_kv_bool(c->out, "started", rc > 0);
	buf_puts(c->out, "}");
	return api_done(c, 202);
}

static int
api_healthz(struct api_ctx *c)
{
	int ok = store_writable();

	*c->ctype = API_TEXT;
	buf_puts(c->out, ok ? "ok\n" : "unavailable\n");
	return ok ? 200 : 503;
}

/* One metric's HELP and TYPE lines. */
static void
api_metric_head(struct buf *b, const char *name, const char *type,
    const char *help)
{
	buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
api_metric_u64(struct buf *b, const char *name, const char *labels,
    uint64_t v)
{
	buf_printf(b, "%s%s %llu\n", name, labels, (unsigned long long)v);
}

/* The latency histogram: metrics.latency_le[i] counts attempts whose
 * duration fell in bucket i alone; Prometheus wants running totals. */
static void
api_metric_latency(struct buf *b)
{
	const char *h = "hookd_delivery_duration_seconds";
	uint64_t sum = 0;
	size_t i;

	api_metric_head(b, h, "histogram", "Duration of delivery attempts.");
	for (i = 0; i < METRICS_LATENCY_BUCKETS; i++) {
		sum += metrics.latency_le[i];
		buf_printf(b, "%s_bucket{le=\"%g\"} %llu\n", h,
		    (double)metrics_bounds[i] / 1000.0,
		    (unsigned long long)sum);
	}
	buf_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n", h,
	    (unsigned long long)metrics.latency_count);
	buf_printf(b, "%s_sum %.6f\n", h, metrics.latency_sum);
	buf_printf(b, "%s_count %llu\n", h,
	    (unsigned long long)metrics.latency_count);
}

static int
api_metrics(struct api_ctx *c)
{
	static const char *const classes[] = {
		"", "{code=\"1xx\"}", "{code=\"2xx\"}", "{code=\"3xx\"}",
		"{code=\"4xx\"}", "{code=\"5xx\"}",
	};
	const char *dt = "hookd_deliveries_total", *at = "hookd_attempts_total";
	struct buf *b = c->out;
	size_t i;

	if (!config_current()->metrics)
		return api_not_found(c);
	api_metric_head(b, "hookd_events_total", "counter", "Events accepted.");
	api_metric_u64(b, "hookd_events_total", "", metrics.events);
	api_metric_head(b, dt, "counter", "Deliveries finished, by outcome.");
	api_metric_u64(b, dt, "{outcome=\"delivered\"}", metrics.delivered);
	api_metric_u64(b, dt, "{outcome=\"failed\"}", metrics.failed);
	api_metric_head(b, at, "counter", "Delivery attempts, by result.");
	api_metric_u64(b, at, "{result=\"ok\"}", metrics.att_ok);
	api_metric_u64(b, at, "{result=\"rejected\"}", metrics.att_rejected);
	api_metric_u64(b, at, "{result=\"retry\"}", metrics.att_retry);
	api_metric_u64(b, at, "{result=\"timeout\"}", metrics.att_timeout);
	api_metric_u64(b, at, "{result=\"error\"}", metrics.att_error);
	api_metric_head(b, "hookd_pending_deliveries", "gauge",
	    "Deliveries waiting to be delivered.");
	api_metric_u64(b, "hookd_pending_deliveries", "",
	    store_pending_count());
	api_metric_latency(b);
	api_metric_head(b, "hookd_http_requests_total", "counter",
	    "API requests answered, by status class.");
	for (i = 1; i < 6; i++)
		api_metric_u64(b, "hookd_http_requests_total", classes[i],
		    metrics.http_by_class[i]);
	api_metric_head(b, "hookd_open_connections", "gauge",
	    "Inbound connections open.");
	api_metric_u64(b, "hookd_open_connections", "",
	    metrics.open_connections);
	api_metric_head(b, "hookd_journal_bytes", "gauge",
	    "Bytes in the journal and the registry.");
	api_metric_u64(b, "hookd_journal_bytes", "", store_journal_bytes());
	*c->ctype = API_PROM;
	return 200;
}

/* ---- routing ---- */

enum api_role { API_OPEN, API_ANY, API_ADMIN };

/* The query parameters each route takes (NULL-terminated lists). */
static const char *const api_q_none[] = { NULL };
static const char *const api_q_page[] = { "limit", "after", NULL };
static const char *const api_q_endpoints[] = { "client", "limit", "after",
	NULL };
static const char *const api_q_events[] = { "client", "type", "limit",
	"after", NULL };
static const char *const api_q_deliveries[] = { "client", "endpoint",
	"event", "status", "limit", "after", NULL };
static const char *const api_q_post_event[] = { "callbackURL", NULL };

struct api_route {
	const char *method;
	const char *pattern;		/* '*' matches one non-empty segment */
	enum api_role role;
	int (*fn)(struct api_ctx *c);
	const char *const *params;	/* the query parameters it takes */
	const char *admin_what;		/* API_ADMIN: "only the admin may ..." */
};

static const struct api_route api_routes[] = {
	{ "GET", "/healthz", API_OPEN, api_healthz, api_q_none, NULL },
	{ "GET", "/metrics", API_OPEN, api_metrics, api_q_none, NULL },
	{ "GET", "/v1/clients", API_ADMIN, api_clients_list, api_q_page,
	    "list clients" },
	{ "POST", "/v1/clients", API_ADMIN, api_clients_create, api_q_none,
	    "create clients" },
	{ "GET", "/v1/clients/*", API_ANY, api_client_get, api_q_none, NULL },
	{ "DELETE", "/v1/clients/*", API_ADMIN, api_client_delete, api_q_none,
	    "delete clients" },
	{ "POST", "/v1/clients/*/rotate-token", API_ADMIN, api_client_rotate,
	    api_q_none, "rotate a client's token" },
	{ "POST", "/v1/clients/*/rotate-secret", API_ADMIN,
	    api_client_rotate_secret, api_q_none, "rotate a client's secret" },
	{ "GET", "/v1/endpoints", API_ANY, api_endpoints_list,
	    api_q_endpoints, NULL },
	{ "POST", "/v1/endpoints", API_ANY, api_endpoints_create, api_q_none,
	    NULL },
	{ "GET", "/v1/endpoints/*", API_ANY, api_endpoint_get, api_q_none,
	    NULL },
	{ "PATCH", "/v1/endpoints/*", API_ANY, api_endpoint_patch, api_q_none,
	    NULL },
	{ "DELETE", "/v1/endpoints/*", API_ANY, api_endpoint_delete,
	    api_q_none, NULL },
	{ "POST", "/v1/endpoints/*/rotate-secret", API_ANY,
	    api_endpoint_rotate, api_q_none, NULL },
	{ "POST", "/v1/endpoints/*/replay", API_ANY, api_endpoint_replay,
	    api_q_none, NULL },
	{ "GET", "/v1/events", API_ANY, api_events_list, api_q_events, NULL },
	{ "POST", "/v1/events", API_ADMIN, api_events_create,
	    api_q_post_event, "post events" },
	{ "GET", "/v1/events/*", API_ANY, api_event_get, api_q_none, NULL },
	{ "GET", "/v1/deliveries", API_ANY, api_deliveries_list,
	    api_q_deliveries, NULL },
	{ "GET", "/v1/deliveries/*", API_ANY, api_delivery_get, api_q_none,
	    NULL },
	{ "POST", "/v1/deliveries/*/retry", API_ANY, api_delivery_retry,
	    api_q_none, NULL },
	{ "POST", "/v1/compact", API_ADMIN, api_compact, api_q_none,
	    "start a compaction" },
};

/*
 * Contract §11: a query parameter the route does not take is refused (400)
 * instead of ignored, since a misspelt ?callbackUrl= or ?staus= would
 * otherwise silently do something other than asked. The answer names it
 * and the nearest known one. A known one given twice is refused too (400
 * naming it): "?callbackURL=A&callbackURL=B" or "?limit=5&limit=6" has no
 * one meaning, and keeping either value silently drops the other. Returns
 * 0 or the 400 answer.
 */
static int
api_check_params(struct api_ctx *c, const char *const *known)
{
	const char *p = c->query, *end;
	size_t nknown = 0;
	uint32_t seen = 0;		/* bit k: known[k] was given */

	if (p == NULL)
		return 0;
	while (known[nknown] != NULL)
		nknown++;
	/* The routes' lists are short; a longer one could not be tracked in
	 * seen, and refusing every query shows that in any test of it. */
	if (nknown > 32)
		return api_error(c, 500, "internal: too many query parameters");
	end = p + c->query_len;
	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *stop = amp != NULL ? amp : end;
		const char *eq = memchr(p, '=', (size_t)(stop - p));
		size_t nlen = (size_t)((eq != NULL ? eq : stop) - p), k;
		int near;

		for (k = 0; k < nknown; k++)
			if (util_span_eq(p, nlen, known[k]))
				break;
		if (nlen > 0 && k == nknown) {
			/* Named only when it is a plain word of the shape of
			 * an id: errors do not echo arbitrary request data. */
			if (!util_client_id_ok(p, nlen))
				return api_error(c, 400, nknown == 0 ?
				    "unknown query parameter: this path takes "
				    "none" : "unknown query parameter");
			near = util_nearest(p, nlen, known, nknown);
			if (near >= 0)
				return api_errorf(c, 400, "unknown query "
				    "parameter \"%.*s\" (did you mean %s?)",
				    (int)nlen, p, known[near]);
			return api_errorf(c, 400, "unknown query parameter "
			    "\"%.*s\"%s", (int)nlen, p, nknown == 0 ?
			    ": this path takes none" : "");
		}
		if (nlen > 0) {
			if (seen & (UINT32_C(1) << k))
				return api_errorf(c, 400, "query parameter "
				    "\"%s\" given twice", known[k]);
			seen |= UINT32_C(1) << k;
		}
		p = stop + 1;
	}
	return 0;
}

/* 1 when path matches pattern; the '*' segment goes to *seg. */
static int
api_match(const char *pattern, const char *path, size_t len,
    const char **seg, size_t *seg_len)
{
	size_t i = 0, s;

	for (; *pattern != '\0'; pattern++) {
		if (*pattern == '*') {
			for (s = i; i < len && path[i] != '/'; i++)
				;
			if (i == s)
				return 0;
			*seg = path + s;
			*seg_len = i - s;
		} else if (i < len && path[i] == *pattern) {
			i++;
		} else {
			return 0;
		}
	}
	return i == len;
}

/* 1 when path is under /v1, where every request needs a token (contract
 * §2): the one test both api_route and api_auth_head use. */
static int
api_needs_auth(const char *path, size_t len)
{
	return len >= 3 && memcmp(path, "/v1", 3) == 0 &&
	    (len == 3 || path[3] == '/');
}

static int
api_route(struct api_ctx *c, const char *path, size_t len)
{
	const struct api_route *rt, *hit = NULL;
	size_t i;
	int known = 0, st;

	/* Authenticate before telling known paths from unknown ones, so
	 * that an anonymous caller learns nothing about the API. */
	if (api_needs_auth(path, len) && (st = api_auth(c)) != 0)
		return st;
	for (i = 0; i < sizeof(api_routes) / sizeof(api_routes[0]); i++) {
		rt = &api_routes[i];
		if (!api_match(rt->pattern, path, len, &c->seg, &c->seg_len))
			continue;
		known = 1;
		if (util_span_eq(c->r->method, c->r->method_len, rt->method)) {
			hit = rt;
			break;
		}
	}
	if (hit == NULL)
		return known ? api_error(c, 405, "method not allowed") :
		    api_not_found(c);
	if (hit->role == API_ADMIN && c->client != NULL)
		return api_errorf(c, 403, "forbidden: only the admin may %s",
		    hit->admin_what);
	if ((st = api_check_params(c, hit->params)) != 0)
		return st;
	return hit->fn(c);
}

int
api_handle(const struct api_request *r, struct buf *out,
    const char **content_type)
{
	struct api_ctx *c;
	const char *q;
	size_t plen;
	int status;

	/* The context holds the small-body token array: on the heap, since
	 * it is several KiB and the loop's stack is not ours to spend. */
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		*content_type = API_JSON;
		buf_puts(out, "{\"error\":\"out of memory\"}");
		return 500;
	}
	c->r = r;
	c->out = out;
	c->mark = out->len;
	c->ctype = content_type;
	*content_type = API_JSON;
	q = memchr(r->target, '?', r->target_len);
	plen = q != NULL ? (size_t)(q - r->target) : r->target_len;
	if (q != NULL) {
		c->query = q + 1;
		c->query_len = r->target_len - plen - 1;
	}
	status = api_route(c, r->target, plen);
	if (out->oom)
		status = api_nomem(c);
	if (c->toks != c->tokstack)
		free(c->toks);
	free(c);
	return status;
}

int
api_auth_head(const struct api_request *r, struct buf *out,
    const char **content_type)
{
	struct api_ctx *c;
	const char *q = memchr(r->target, '?', r->target_len);
	size_t plen = q != NULL ? (size_t)(q - r->target) : r->target_len;
	int status;

	*content_type = API_JSON;
	if (!api_needs_auth(r->target, plen))
		return 0;
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		buf_puts(out, "{\"error\":\"out of memory\"}");
		return 500;
	}
	c->r = r;
	c->out = out;
	c->mark = out->len;
	c->ctype = content_type;
	status = api_auth(c);
	if (status != 0 && out->oom)
		status = api_nomem(c);
	free(c);
	return status;
}

void
api_set_admin_token(const char *token)
{
	if (api_admin != NULL) {
		api_wipe(api_admin, api_admin_len);
		free(api_admin);
	}
	api_admin = NULL;
	api_admin_len = 0;
	if (token != NULL && (api_admin = strdup(token)) != NULL)
		api_admin_len = strlen(token);
}

/* ---- static registrations (contract §7) ---- */

/* A store failure as a registration error. */
static const char *
api_static_store_error(void)
{
	return errno == ENOSPC ? "disk full" : "cannot write the registry";
}

/* A client line: created with a fresh token nobody sees (the admin gets one
 * with rotate-token) when missing. NULL, or the reason it failed. */
static const char *
api_static_client(const struct config_reg *g, int apply)
{
	char tok[API_TOKEN_MAX], secret[SIGN_SECRET_MAX];
	uint8_t hash[32];
	const char *why = NULL;
	size_t n = strlen(g->client);

	if (!util_client_id_ok(g->client, n))
		return "client id must be 1-64 characters of A-Z a-z 0-9 . _ -";
	if (g->name != NULL && strlen(g->name) > API_NAME_MAX)
		return "client name is too long";
	if (store_client_find(g->client, n) != NULL)
		return NULL;
	if (store_client_id_held(g->client, n, util_wall_ms()))
		return "a deleted client had this id and its events are still "
		    "kept (until retention drops them); choose another id";
	if (!apply)
		return NULL;
	if (api_new_token(tok, hash) != 0 || sign_secret_new(secret) != 0)
		return "no randomness";
	if (store_client_create(g->client, g->name, hash, secret) == NULL)
		why = api_static_store_error();
	api_wipe(tok, sizeof(tok));
	api_wipe(secret, sizeof(secret));
	return why;
}

/* The events=a,b list of an endpoint line into the draft. */
static const char *
api_static_filters(struct api_draft *d, const char *list)
{
	const char *p = list != NULL ? list : "*", *comma;
	size_t n;

	for (;;) {
		comma = strchr(p, ',');
		n = comma != NULL ? (size_t)(comma - p) : strlen(p);
		if (!api_type_ok(p, n, 1))
			return "events: each filter must be visible ASCII, "
			    "'*' only at the end";
		if (api_draft_add_filter(d, p, n) != 0)
			return d->e.nevents == UTIL_MAX_FILTERS ?
			    "events: too many filters" : "out of memory";
		if (comma == NULL)
			return NULL;
		p = comma + 1;
	}
}

/* 1 when client cl has an endpoint with this URL already. */
static int
api_static_exists(const struct client *cl, const char *url)
{
	size_t i, n = store_endpoint_count();

	for (i = 0; i < n; i++) {
		const struct endpoint *e = store_endpoint_at(i);

		if (e->client == cl && strcmp(e->url, url) == 0)
			return 1;
	}
	return 0;
}

/* 1 when the config in force declares client id in a client line. */
static int
api_static_declared(const char *id)
{
	size_t i;

	for (i = 0; i < config_current()->nregs; i++)
		if (!config_current()->regs[i].is_endpoint &&
		    strcmp(config_current()->regs[i].client, id) == 0)
			return 1;
	return 0;
}

/* An endpoint line: created when its client has no endpoint with that URL.
 * Without apply, only checked: its client may then be one that a client
 * line of the same config is about to create. */
static const char *
api_static_endpoint(const struct config_reg *g, int apply)
{
	struct api_draft d;
	struct client *cl = store_client_find(g->client, strlen(g->client));
	size_t n = strlen(g->url);
	const char *why;
	static char wbuf[API_ERR_MAX];	/* the answer outlives the call */

	/* The config checked the id's characters: it is safe to echo. A
	 * client created through the API is fine too, so only the store can
	 * tell, and -n cannot. */
	if (cl == NULL && (apply || !api_static_declared(g->client))) {
		snprintf(wbuf, sizeof(wbuf), "no such client \"%s\": declare "
		    "it with a client line, or create it with POST "
		    "/v1/clients first", g->client);
		return wbuf;
	}

	if ((why = api_url_problem(g->url, n, wbuf, sizeof(wbuf))) != NULL)
		return why;
	if (g->secret != NULL && !api_secret_ok(g->secret, strlen(g->secret)))
		return "secret must be whsec_ followed by the base64 of 24 to "
		    "64 bytes";
	if (!apply || api_static_exists(cl, g->url))
		return NULL;
	api_draft_init(&d);
	d.e.client = cl;
	d.e.method_get = g->method_get;
	if ((why = api_static_filters(&d, g->events)) != NULL)
		goto done;
	if (api_draft_set(&d.e.url, g->url, n) != 0) {
		why = "out of memory";
		goto done;
	}
	if (g->secret != NULL)
		memcpy(d.e.secret, g->secret, strlen(g->secret) + 1);
	else if (sign_secret_new(d.e.secret) != 0) {
		why = "no randomness";
		goto done;
	}
	if (store_endpoint_create(&d.e) == NULL)
		why = api_static_store_error();
done:
	api_draft_free(&d);
	return why;
}

int
api_apply_static(char *err, size_t errsz)
{
	const struct config_reg *g;
	const char *why;
	size_t i;
	int pass;

	/*
	 * Passes 0 and 1 check every line and write nothing, so that a bad
	 * line leaves the registry as it was (contract §10: a failed start
	 * writes nothing); passes 2 and 3 create what is missing. Clients
	 * first, so an endpoint line may come before its client.
	 */
	for (pass = 0; pass < 4; pass++) {
		for (i = 0; i < config_current()->nregs; i++) {
			g = &config_current()->regs[i];
			if (g->is_endpoint != (pass & 1))
				continue;
			why = (pass & 1) ? api_static_endpoint(g, pass >= 2) :
			    api_static_client(g, pass >= 2);
			if (why != NULL) {
				snprintf(err, errsz, "%d: %s", g->line, why);
				return -1;
			}
		}
	}
	return 0;
}
