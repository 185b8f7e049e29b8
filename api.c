/*
 * api: the HTTP API's front (contract §2, §3): routing and dispatch,
 * bearer-token authentication, error answers, the query string, the JSON
 * body and list pages. The handlers live in api_registry.c, api_events.c
 * and api_ops.c; what the pieces share is api_impl.h.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "api_impl.h"
#include "config.h"
#include "json.h"
#include "sign.h"
#include "store.h"

static char *api_admin;
static size_t api_admin_len;

/* ---- answers ---- */

/* Drop whatever was written for this request (a half-built answer, or an
 * allocation failure) so that an error body can replace it. */
void
api_rewind(struct api_ctx *c)
{
	c->out->oom = 0;
	c->out->len = c->mark;
	if (c->out->data != NULL)
		c->out->data[c->mark] = '\0';
}

/* Answer status with {"error": msg}. msg is a fixed reason or names API
 * members: request data is never echoed (contract §8). */
int
api_error(struct api_ctx *c, int status, const char *msg)
{
	api_rewind(c);
	*c->ctype = API_JSON;
	buf_puts(c->out, "{\"error\":");
	json_put_cstr(c->out, msg);
	buf_puts(c->out, "}");
	return status;
}

int
api_errorf(struct api_ctx *c, int status, const char *fmt, ...)
{
	char msg[API_ERR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);	/* truncation is harmless */
	va_end(ap);
	return api_error(c, status, msg);
}

int
api_not_found(struct api_ctx *c)
{
	return api_error(c, 404, "not found");
}

int
api_nomem(struct api_ctx *c)
{
	return api_error(c, 500, "out of memory");
}

/* A store mutation returned -1: a full disk is the one failure a client can
 * usefully wait out (contract §6), so it alone answers 503. */
int
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
int
api_done(struct api_ctx *c, int status)
{
	*c->ctype = API_JSON;
	return status;
}

/* An answer without a body (204): no Content-Type either. */
int
api_no_content(struct api_ctx *c)
{
	api_rewind(c);
	*c->ctype = NULL;
	return 204;
}

/* ---- JSON writing: members are separated by looking at the last byte, so
 * serializers need no "first member" bookkeeping. ---- */

void
api_sep(struct buf *b)
{
	if (b->len > 0 && b->data[b->len - 1] != '{' &&
	    b->data[b->len - 1] != '[')
		buf_append(b, ",", 1);
}

void
api_key(struct buf *b, const char *key)
{
	api_sep(b);
	buf_append(b, "\"", 1);
	buf_puts(b, key);
	buf_append(b, "\":", 2);
}

/* A string member, null when s is NULL. */
void
api_kv_str(struct buf *b, const char *key, const char *s)
{
	api_key(b, key);
	json_put_cstr(b, s);
}

/* A member whose value is JSON text already (stored objects, null). */
void
api_kv_raw(struct buf *b, const char *key, const char *json)
{
	api_key(b, key);
	buf_puts(b, json != NULL ? json : "null");
}

void
api_kv_u64(struct buf *b, const char *key, uint64_t v)
{
	api_key(b, key);
	buf_put_u64(b, v);
}

void
api_kv_bool(struct buf *b, const char *key, int v)
{
	api_kv_raw(b, key, v ? "true" : "false");
}

/* A time member; with or_null, 0 stands for "none". */
void
api_kv_time(struct buf *b, const char *key, int64_t ms, int or_null)
{
	char t[UTIL_TIME_MAX];

	if (or_null && ms == 0) {
		api_kv_raw(b, key, "null");
		return;
	}
	api_kv_str(b, key, util_fmt_time(ms, t));
}

void
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

/* API_QNAME_MAX (api_impl.h), the longest query parameter name decoded
 * for matching: every known name is shorter, so a longer one is unknown
 * whatever it holds, and the bound keeps the decoded copy on the stack. */

/*
 * A query parameter's name, percent-decoded (RFC 3986 §2.1: "%6cimit" and
 * "limit" are the same name to hookd, which matches and echoes the decoded
 * form), into out (API_QNAME_MAX + 1 bytes). Its length, or -1 when badly
 * encoded or longer than API_QNAME_MAX.
 */
int
api_query_name(const char *p, size_t nlen, char *out)
{
	return api_pct_decode(p, nlen, out, API_QNAME_MAX + 1);
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
		char qn[API_QNAME_MAX + 1];
		int qlen = api_query_name(p, (size_t)(nend - p), qn);

		if (qlen >= 0 && util_span_eq(qn, (size_t)qlen, name)) {
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
int
api_param(struct api_ctx *c, const char *name, char *out, size_t outsz,
    int *st)
{
	int n = api_query(c, name, out, outsz);

	if (n == -2)
		*st = api_errorf(c, 400,
		    "query parameter %s is badly encoded or too long", name);
	return n;
}

const struct http_header *
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
	sign_wipe(hash, sizeof(hash));
	if (c->client == NULL)
		return api_error(c, 401, "unknown token: it is neither the "
		    "admin token nor a client's current token");
	return 0;
}

/* 1 when the caller may see things of client id (contract §2). */
int
api_sees(const struct api_ctx *c, const char *client_id)
{
	return c->client == NULL || strcmp(c->client->id, client_id) == 0;
}

/* ---- the JSON body ---- */

/* Tokens for json[0..len): n > 0 with *toks on the heap (caller frees), or a
 * JSON_ERR_ code. */
int
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
int
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
 * The 400 for an empty body on a route that takes members (issue 9.5): it
 * says what is needed, from the route's own table f (nf entries): the
 * required members with their types, or the members allowed when none is
 * required.
 */
static int
api_body_needed(struct api_ctx *c, const struct api_field *f, size_t nf)
{
	char need[API_ERR_MAX - 40], words[80];
	size_t i, k = 0;
	int any_required = 0;

	for (i = 0; i < nf; i++)
		if (f[i].types != 0 && f[i].required)
			any_required = 1;
	need[0] = '\0';
	for (i = 0; i < nf && k < sizeof(need); i++) {
		if (f[i].types == 0 || (any_required && !f[i].required))
			continue;
		if (any_required) {
			api_type_words(f[i].types, words, sizeof(words));
			k += (size_t)snprintf(need + k, sizeof(need) - k,
			    "%s\"%s\": <%s>", k > 0 ? ", " : "", f[i].name,
			    words);
		} else
			k += (size_t)snprintf(need + k, sizeof(need) - k,
			    "%s%s", k > 0 ? ", " : "", f[i].name);
	}
	if (any_required)
		return api_errorf(c, 400, "a JSON body is needed: {%s}", need);
	return api_errorf(c, 400, "a JSON body is needed: an object with "
	    "any of %s", need);
}

/* 1 when the body is empty or only JSON whitespace (RFC 8259 ws). */
int
api_body_is_empty(const struct api_ctx *c)
{
	size_t i;

	for (i = 0; i < c->r->body_len; i++)
		if (strchr(" \t\r\n", c->r->body[i]) == NULL ||
		    c->r->body[i] == '\0')
			return 0;
	return 1;
}

/*
 * Load the body as a JSON object whose members are all in the table f (nf
 * entries) with the listed types, none repeated, the required ones present.
 * idx[i] receives the token index of member f[i]'s value, or -1 when absent.
 * Returns 0, or the 400/422 answer; an empty body is a 400 that names what
 * the table needs.
 */
int
api_body(struct api_ctx *c, const struct api_field *f, size_t nf, int *idx)
{
	const struct json_tok *t;
	char words[80];
	size_t i, k, m;
	int st;

	if (nf > 0 && api_body_is_empty(c))
		return api_body_needed(c, f, nf);
	/* The Hookd-Client check may have parsed it already. */
	if (c->json == NULL && (st = api_parse_body(c)) != 0)
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
int
api_str(const struct api_ctx *c, int idx, char *out, size_t outsz)
{
	int n = json_str(c->json, &c->toks[idx], out, outsz);

	if (n < 0 || memchr(out, '\0', (size_t)n) != NULL)
		return -1;
	return n;
}

/* ---- lists (contract §3) ---- */

/* ?limit= and ?after=; kind is the id kind of the list, or -1 for client
 * ids. 0, or the 400/422 answer. */
int
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
	if ((s = store_status_parse(v)) < 0)
		return api_error(c, 422,
		    "status must be pending, delivered or failed");
	c->f.status = s;
	c->f.set |= API_F_STATUS;
	return 0;
}

/* Parse the filters named in which into c->f. 0 or the error answer. */
int
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
int
api_keep_client_id(const struct api_ctx *c, const char *id)
{
	return api_sees(c, id) && (!(c->f.set & API_F_CLIENT) ||
	    strcmp(c->f.client, id) == 0);
}

/* api_list_run's walk: indexes start upward, or start - 1 down to 0. */
struct api_range {
	const struct api_list *l;
	size_t i, end;
	int down;
};

static void *
api_range_next(void *arg)
{
	struct api_range *r = arg;

	if (r->down)
		return r->i > 0 ? r->l->at(--r->i) : NULL;
	return r->i < r->end ? r->l->at(r->i++) : NULL;
}

int
api_list_run(struct api_ctx *c, const struct api_list *l, size_t start,
    size_t count, int newest_first, size_t limit)
{
	struct api_range r = { l, start, count, newest_first };

	return api_list_walk(c, l, api_range_next, &r, limit);
}

/*
 * Answer {"data": [...], "next": ...} with up to limit kept items of the
 * walk. "next" is the last item shown when another kept item follows,
 * else null.
 */
int
api_list_walk(struct api_ctx *c, const struct api_list *l,
    void *(*next)(void *walk), void *walk, size_t limit)
{
	struct buf *b = c->out;
	char nid[UTIL_ID_MAX + 1];
	size_t shown = 0;
	void *item, *last = NULL;
	int more = 0;

	buf_puts(b, "{\"data\":[");
	while ((item = next(walk)) != NULL) {
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
		l->id(last, nid);
		json_put_cstr(b, nid);
	} else {
		buf_puts(b, "null");
	}
	buf_puts(b, "}");
	return api_done(c, 200);
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
	{ "GET", "/console", API_OPEN, api_web_asset, api_q_none, NULL },
	{ "GET", "/console/", API_OPEN, api_web_asset, api_q_none, NULL },
	{ "GET", "/console/*", API_OPEN, api_web_asset, api_q_none, NULL },
	{ "GET", "/openapi.json", API_OPEN, api_web_asset, api_q_none, NULL },
	{ "GET", "/v1/clients", API_ADMIN, api_clients_list, api_q_page,
	    "list clients" },
	{ "POST", "/v1/clients", API_ADMIN, api_clients_create, api_q_none,
	    "create clients" },
	{ "GET", "/v1/clients/*", API_ANY, api_client_get, api_q_none, NULL },
	{ "GET", "/v1/whoami", API_ANY, api_whoami, api_q_none, NULL },
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
	{ "POST", "/v1/endpoints/*/test", API_ANY, api_endpoint_test,
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
	{ "GET", "/v1/attempts", API_ANY, api_attempts_list, api_q_endpoints,
	    NULL },
};

/*
 * Contract §11: a query parameter the route does not take is refused (400)
 * instead of ignored, since a misspelt ?callbackUrl= or ?staus= would
 * otherwise silently do something other than asked. The answer names it
 * and the nearest known one. Names are percent-decoded before they are
 * matched or named (?%6cimit=5 is ?limit=5). A known one given twice is refused too (400
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
		size_t rawlen = (size_t)((eq != NULL ? eq : stop) - p), k;
		size_t nlen = 0;
		char name[API_QNAME_MAX + 1];
		int near, dlen = api_query_name(p, rawlen, name);

		/* The name is matched and echoed decoded; one that does not
		 * decode (or is too long to be any known name) is unknown and
		 * never echoed. */
		if (dlen >= 0)
			nlen = (size_t)dlen;
		for (k = 0; k < nknown && dlen >= 0; k++)
			if (util_span_eq(name, nlen, known[k]))
				break;
		if (rawlen > 0 && (dlen < 0 || k == nknown)) {
			/* Named only when it is a plain word of the shape of
			 * an id: errors do not echo arbitrary request data. */
			if (dlen <= 0 || !util_client_id_ok(name, nlen))
				return api_error(c, 400, nknown == 0 ?
				    "unknown query parameter: this path takes "
				    "none" : "unknown query parameter");
			near = util_nearest(name, nlen, known, nknown);
			if (near >= 0)
				return api_errorf(c, 400, "unknown query "
				    "parameter \"%s\" (did you mean %s?)",
				    name, known[near]);
			return api_errorf(c, 400, "unknown query parameter "
			    "\"%s\"%s", name, nknown == 0 ?
			    ": this path takes none" : "");
		}
		if (rawlen > 0) {
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
	return (len >= 3 && memcmp(path, "/v1", 3) == 0 &&
	    (len == 3 || path[3] == '/')) ||
	    config_route_find(config_current(), path, len) != NULL;
}

/*
 * 1 when c is a HEAD of the embedded files' GET route rt: the same answer
 * without its body (RFC 9110 §9.3.2; server_conn.c sends the head only).
 * Only those files: they change nothing and are what browsers and link
 * checkers probe; the API's routes stay the methods the document lists.
 */
static int
api_head_ok(const struct api_ctx *c, const struct api_route *rt)
{
	return rt->fn == api_web_asset && strcmp(rt->method, "GET") == 0 &&
	    util_span_eq(c->r->method, c->r->method_len, "HEAD");
}

static int
api_route(struct api_ctx *c, const char *path, size_t len)
{
	const struct api_route *rt, *hit = NULL;
	size_t i;
	int known = 0, st;

	/* Authenticate before telling known paths from unknown ones, so
	 * that an anonymous caller learns nothing about the API. */
	const struct config_route *gr;

	if (api_needs_auth(path, len) && (st = api_auth(c)) != 0)
		return st;
	/* Contract §14: a route's prefix never overlaps hookd's own paths
	 * (config_route refuses that), so it is looked at first. Its
	 * Hookd-Client can only be checked against the token. */
	if ((gr = config_route_find(config_current(), path, len)) != NULL) {
		if ((st = api_client_header(c, NULL, NULL)) != 0)
			return st;
		return api_gateway(c, gr, path, len);
	}
	for (i = 0; i < sizeof(api_routes) / sizeof(api_routes[0]); i++) {
		rt = &api_routes[i];
		if (!api_match(rt->pattern, path, len, &c->seg, &c->seg_len))
			continue;
		known = 1;
		if (util_span_eq(c->r->method, c->r->method_len, rt->method) ||
		    api_head_ok(c, rt)) {
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
	/* Contract §17, on every /v1 request: once the route is known (what
	 * it names its client by) and the query checked. */
	if (hit->role != API_OPEN &&
	    (st = api_client_header(c, hit->method, hit->pattern)) != 0)
		return st;
	return hit->fn(c);
}

/* The length of r's target up to its '?' (all of it when none). */
static size_t
api_path_len(const struct api_request *r)
{
	const char *q = memchr(r->target, '?', r->target_len);

	return q != NULL ? (size_t)(q - r->target) : r->target_len;
}

/* A request context for r answering into out, on the heap (it holds the
 * small-body token array, several KiB, and the loop's stack is not ours to
 * spend): errors cut back to out's length now, *content_type is set to
 * JSON, and the query string after the path of plen bytes is split off.
 * Free it with api_ctx_free. NULL when out of memory, with the error body
 * written to out (answer 500). */
static struct api_ctx *
api_ctx_new(const struct api_request *r, struct buf *out,
    const char **content_type, size_t plen)
{
	struct api_ctx *c;

	*content_type = API_JSON;
	c = malloc(sizeof(*c));
	if (c == NULL) {
		buf_puts(out, "{\"error\":\"out of memory\"}");
		return NULL;
	}
	/* Everything but the token stack, which the JSON parser fills before
	 * anything reads it: zeroing its 5 KiB was a seventh of an event's
	 * instructions (callgrind, bench/profile.py ingest). */
	memset(c, 0, offsetof(struct api_ctx, tokstack));
	c->r = r;
	c->out = out;
	c->mark = out->len;
	c->ctype = content_type;
	if (plen < r->target_len) {
		c->query = r->target + plen + 1;
		c->query_len = r->target_len - plen - 1;
	}
	return c;
}

/* Free c and the token array a large body took. */
static void
api_ctx_free(struct api_ctx *c)
{
	if (c->toks != c->tokstack)
		free(c->toks);
	free(c);
}

/* The Retry-After of api_handle's last answer, in seconds; 0: none. The
 * API runs on the loop thread only. */
static int64_t api_last_retry_after;

void
api_set_retry_after(int64_t s)
{
	api_last_retry_after = s > 0 ? s : 1;
}

int64_t
api_retry_after(void)
{
	return api_last_retry_after;
}

/* The extra header lines of api_handle's last answer; NULL: none. */
static const char *api_last_extra_head;

void
api_set_extra_head(const char *lines)
{
	api_last_extra_head = lines;
}

const char *
api_extra_head(void)
{
	return api_last_extra_head;
}

int
api_handle(const struct api_request *r, struct buf *out,
    const char **content_type)
{
	struct api_ctx *c;
	size_t plen = api_path_len(r);
	int status;

	api_last_retry_after = 0;
	api_last_extra_head = NULL;
	if ((c = api_ctx_new(r, out, content_type, plen)) == NULL)
		return 500;
	status = api_route(c, r->target, plen);
	if (out->oom)
		status = api_nomem(c);
	api_ctx_free(c);
	return status;
}

const char *
api_allow(const struct api_request *r)
{
	return config_route_find(config_current(), r->target,
	    api_path_len(r)) != NULL ? API_GATEWAY_ALLOW : NULL;
}

int
api_auth_head(const struct api_request *r, struct buf *out,
    const char **content_type)
{
	struct api_ctx *c;
	size_t plen = api_path_len(r);
	int status;

	*content_type = API_JSON;
	if (!api_needs_auth(r->target, plen))
		return 0;
	if ((c = api_ctx_new(r, out, content_type, plen)) == NULL)
		return 500;
	status = api_auth(c);
	if (status != 0 && out->oom)
		status = api_nomem(c);
	api_ctx_free(c);
	return status;
}

void
api_set_admin_token(const char *token)
{
	if (api_admin != NULL) {
		sign_wipe(api_admin, api_admin_len);
		free(api_admin);
	}
	api_admin = NULL;
	api_admin_len = 0;
	if (token != NULL && (api_admin = strdup(token)) != NULL)
		api_admin_len = strlen(token);
}
