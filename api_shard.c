/*
 * api_shard: the Hookd-Client header (contract §17). A proxy in front of
 * several hookd nodes routes each request on it; every node checks that it
 * names the client the request is about, so that a request the proxy sent
 * to one client's node can never act on another client there.
 */
#include <stdio.h>
#include <string.h>

#include "api_impl.h"
#include "store.h"
#include "util.h"

#define SHARD_HEADER "Hookd-Client"

/* What a route names its client by, besides the token and ?client=. */
enum shard_about {
	SHARD_NONE,		/* no one client: lists, compaction, routes */
	SHARD_BODY_ID,		/* POST /v1/clients: the body's "id" */
	SHARD_BODY_CLIENT,	/* the body's "client" */
	SHARD_PATH_CLIENT,	/* /v1/clients/{id}... */
	SHARD_PATH_EP,		/* the owner of /v1/endpoints/{id}... */
	SHARD_PATH_EVT,		/* the owner of /v1/events/{id} */
	SHARD_PATH_DLV		/* the owner of /v1/deliveries/{id}... */
};

/*
 * The routing table's patterns, by what they name. A pattern matches an
 * entry when it equals it or, for an entry without a method, starts with
 * it followed by '/': the endpoint entry covers the endpoint's replay,
 * test and rotate-secret routes and any sub-route added later.
 */
static const struct {
	const char *method;
	const char *pattern;
	enum shard_about about;
} shard_table[] = {
	{ "POST", "/v1/clients", SHARD_BODY_ID },
	{ "POST", "/v1/endpoints", SHARD_BODY_CLIENT },
	{ "POST", "/v1/events", SHARD_BODY_CLIENT },
	{ NULL, "/v1/clients/*", SHARD_PATH_CLIENT },
	{ NULL, "/v1/endpoints/*", SHARD_PATH_EP },
	{ NULL, "/v1/events/*", SHARD_PATH_EVT },
	{ NULL, "/v1/deliveries/*", SHARD_PATH_DLV },
};

static enum shard_about
shard_about(const char *method, const char *pattern)
{
	size_t i, n;

	if (pattern == NULL)
		return SHARD_NONE;
	for (i = 0; i < sizeof(shard_table) / sizeof(shard_table[0]); i++) {
		if (shard_table[i].method != NULL &&
		    strcmp(shard_table[i].method, method) != 0)
			continue;
		n = strlen(shard_table[i].pattern);
		if (strncmp(pattern, shard_table[i].pattern, n) == 0 &&
		    (pattern[n] == '\0' ||
		    (pattern[n] == '/' && shard_table[i].method == NULL)))
			return shard_table[i].about;
	}
	return SHARD_NONE;
}

/*
 * The body's string member name as a client id into out (UTIL_ID_MAX + 1
 * bytes): 1 when it is there and a valid id, 0 when not (absent, of
 * another type, not an id: the handler's own checks answer those), or the
 * 400 of a body that is not JSON (the same answer the handler would give).
 * The tokens stay in c for the handler (api_body does not parse again).
 */
static int
shard_body_member(struct api_ctx *c, const char *name, char *out, int *st)
{
	const struct json_tok *t;
	size_t i, m;
	int n;

	*st = 0;
	if (api_body_is_empty(c))
		return 0;
	if ((*st = api_parse_body(c)) != 0)
		return 0;
	t = c->toks;
	if (t[0].type != JSON_OBJECT)
		return 0;
	for (i = 1, m = 0; m < t[0].size; m++, i = t[i + 1].next) {
		if (!json_str_eq(c->json, &t[i], name))
			continue;
		if (t[i + 1].type != JSON_STRING)
			return 0;
		n = api_str(c, (int)(i + 1), out, UTIL_ID_MAX + 1);
		return n >= 0 && util_client_id_ok(out, (size_t)n);
	}
	return 0;
}

/* The client that owns the thing id (the path's {id}, or a query
 * parameter's value) names, when the caller may see it; NULL when there is
 * none (the handler answers 404, or lists nothing, and a client token
 * learns nothing of other clients' ids). */
static const char *
shard_owner(const struct api_ctx *c, enum shard_about about,
    const char *seg, size_t seg_len)
{
	const struct endpoint *e;
	const struct event *ev;
	const struct delivery *d;
	const char *owner = NULL;
	uint64_t id;

	switch (about) {
	case SHARD_PATH_EP:
		if (store_parse_id(STORE_EP, seg, seg_len, &id) == 0 &&
		    (e = store_endpoint_find(id)) != NULL)
			owner = e->client->id;
		break;
	case SHARD_PATH_EVT:
		if (store_parse_id(STORE_EVT, seg, seg_len, &id) == 0 &&
		    (ev = store_event_find(id)) != NULL)
			owner = ev->client_id;
		break;
	case SHARD_PATH_DLV:
		if (store_parse_id(STORE_DLV, seg, seg_len, &id) == 0 &&
		    (d = store_delivery_find(id)) != NULL && !d->upstream)
			owner = d->event->client_id;
		break;
	default:
		break;
	}
	return owner != NULL && api_sees(c, owner) ? owner : NULL;
}

/* The 400 of a disagreement: both values (ids, checked by
 * util_client_id_ok, never other request data) and where the second came
 * from. */
static int
shard_disagree(struct api_ctx *c, const char *hdr, const char *where,
    const char *other)
{
	return api_errorf(c, 400, SHARD_HEADER " says %s but %s %s: both "
	    "must name the client the request is about", hdr, where, other);
}

/* Query parameter name (an event or endpoint id, about says which): its
 * owner must be hdr, as the path's is. 0, or the 400 (or the parameter's
 * own 400) answered. */
static int
shard_param(struct api_ctx *c, const char *hdr, const char *name,
    enum shard_about about)
{
	char v[STORE_XID_MAX + 8], where[40];
	const char *owner;
	int n, st = 0;

	if ((n = api_param(c, name, v, sizeof(v), &st)) == -2)
		return st;
	if (n < 0 || (owner = shard_owner(c, about, v, (size_t)n)) == NULL ||
	    strcmp(owner, hdr) == 0)
		return 0;
	snprintf(where, sizeof(where), "the %s in ?%s= belongs to", name,
	    name);
	return shard_disagree(c, hdr, where, owner);
}

int
api_client_header(struct api_ctx *c, const char *method,
    const char *pattern)
{
	const struct http_header *h = NULL;
	enum shard_about about;
	char hdr[UTIL_ID_MAX + 1], other[UTIL_ID_MAX + 1];
	const char *owner;
	size_t i;
	int n, st;

	for (i = 0; i < c->r->num_headers; i++) {
		const struct http_header *x = &c->r->headers[i];

		if (!util_span_ieq(x->name, x->name_len, SHARD_HEADER))
			continue;
		/* Two values could route the request on one and act on the
		 * other: refused, as a repeated query parameter is. */
		if (h != NULL)
			return api_error(c, 400, SHARD_HEADER " given twice: "
			    "send it once, with the id of the client the "
			    "request is about");
		h = x;
	}
	if (h == NULL)
		return 0;
	if (!util_client_id_ok(h->value, h->value_len))
		return api_error(c, 400, SHARD_HEADER " must be a client id: "
		    "1-64 of A-Z a-z 0-9 . _ -");
	memcpy(hdr, h->value, h->value_len);
	hdr[h->value_len] = '\0';

	/* A client token is its client. */
	if (c->client != NULL && strcmp(c->client->id, hdr) != 0)
		return shard_disagree(c, hdr, "the token is", c->client->id);
	about = shard_about(method, pattern);
	if (about == SHARD_PATH_CLIENT) {
		/* The segment is compared as sent; an id has no characters
		 * that would need percent-encoding. */
		if (!util_span_eq(c->seg, c->seg_len, hdr)) {
			if (!util_client_id_ok(c->seg, c->seg_len))
				return api_error(c, 400, SHARD_HEADER " does "
				    "not match the client id in the path");
			memcpy(other, c->seg, c->seg_len);
			other[c->seg_len] = '\0';
			return shard_disagree(c, hdr, "the path's client is",
			    other);
		}
	} else if (about == SHARD_PATH_EP || about == SHARD_PATH_EVT ||
	    about == SHARD_PATH_DLV) {
		owner = shard_owner(c, about, c->seg, c->seg_len);
		if (owner != NULL && strcmp(owner, hdr) != 0)
			return shard_disagree(c, hdr, about == SHARD_PATH_EP ?
			    "the path's endpoint belongs to" : about ==
			    SHARD_PATH_EVT ? "the path's event belongs to" :
			    "the path's delivery belongs to", owner);
	} else if (about == SHARD_BODY_ID || about == SHARD_BODY_CLIENT) {
		const char *name = about == SHARD_BODY_ID ? "id" : "client";

		if (shard_body_member(c, name, other, &st) &&
		    strcmp(other, hdr) != 0)
			return shard_disagree(c, hdr, about == SHARD_BODY_ID ?
			    "the body's id is" : "the body's client is",
			    other);
		if (st != 0)
			return st;
	}
	/* ?client= only reaches here on routes that take it (the query was
	 * checked first); a value that is not an id is the handler's 400. */
	n = api_param(c, "client", other, sizeof(other), &st);
	if (n == -2)
		return st;
	if (n > 0 && util_client_id_ok(other, (size_t)n) &&
	    strcmp(other, hdr) != 0)
		return shard_disagree(c, hdr, "?client= is", other);
	/* ?event= and ?endpoint= (GET /v1/deliveries) name a client by
	 * their owner, as an id in the path does; likewise only on the
	 * routes that take them. */
	if ((st = shard_param(c, hdr, "event", SHARD_PATH_EVT)) != 0)
		return st;
	return shard_param(c, hdr, "endpoint", SHARD_PATH_EP);
}
