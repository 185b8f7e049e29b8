/*
 * gateway: the engine's side of a gateway request (contract §14): the
 * request to the upstream built from what the API stored, what the
 * upstream's answer means, and the event it becomes. No sockets and no
 * state of its own; deliver.c makes the calls.
 */
#ifndef HOOKD_GATEWAY_H
#define HOOKD_GATEWAY_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "util.h"
#include "webhook.h"

/* Longest request description the API stores (its members are bounded by
 * max_body and URL_MAX; this bounds the tokens of a description: 10
 * members and CONFIG_ROUTE_HEADERS header strings, so that a record made
 * up to hold more tokens is refused, not parsed at length). */
#define GATEWAY_DESC_TOKS 48

/*
 * The description of a request that the API stores as its event's data
 * while it is forwarded: a JSON object {"route", "method", "path" (the rest
 * after the route's prefix), "query" (without callbackURL), "content_type",
 * "accept", "content_encoding", "callback" (each a string or null), "headers" (the route's
 * header= values as "Name: Value" strings), "timeout_ms" (the route's
 * timeout=, 0 for the global one) and "body_b64" (the body in base64,
 * since a body need not be text)}. The request is forwarded as its route
 * was when it was accepted: the upstream URL is its delivery's, and the
 * headers and timeout are these, so that a reload never sends one
 * upstream's credential to another (the values are then in the journal,
 * in the 0700 data directory, as endpoint headers are in the registry).
 * gateway_describe writes it into out (reset first); the pointers are the
 * caller's. 0, or -1 out of memory.
 */
struct gateway_desc {
	const char *route;
	const char *method;
	size_t method_len;
	const char *path;		/* after the prefix, raw */
	size_t path_len;
	const char *query;		/* raw, without callbackURL; or NULL */
	size_t query_len;
	const char *content_type;	/* or NULL */
	size_t content_type_len;
	const char *accept;		/* or NULL */
	size_t accept_len;
	const char *content_encoding;	/* or NULL */
	size_t content_encoding_len;
	const char *callback;		/* decoded URL, or NULL */
	char *const *headers;		/* the route's, "Name: Value" */
	size_t nheaders;
	int64_t timeout_ms;		/* the route's; 0: the global one */
	const char *body;
	size_t body_len;
};
int gateway_describe(const struct gateway_desc *d, struct buf *out);

/*
 * Why the rest of a request's path after its route's prefix (p, n bytes,
 * raw) may not be forwarded, or NULL when it may: a "." or ".." segment,
 * plain or percent-encoded (it would take the upstream outside the route's
 * base path, RFC 3986 §5.2.4), or an encoded "/" or "\\" (%2F, %5C), or
 * a "\\" (an upstream that decodes or folds them would see other
 * segments than hookd checked). A static string that says how to fix it.
 */
const char *gateway_path_problem(const char *p, size_t n);

/*
 * Build the upstream request of d (an upstream call, d->upstream) into out
 * (reset first) from its event's description desc (desc_len bytes): the
 * method, d->url (the upstream URL with the path and query appended), the
 * body, Content-Type, Accept and Content-Encoding as the caller sent
 * them, the route's
 * header= values recorded in desc, hookd-client and
 * Idempotency-Key: <reqRefId>; never the caller's Authorization. Fills t
 * and *timeout_ms (the recorded timeout=, 0 for the global one). A
 * description written before headers were recorded (no "headers" member)
 * gets those of the route in force with its prefix only while that
 * route's upstream is still the one d->url starts with. Returns 0,
 * or -1 with err set when the request cannot be made at all (a description
 * that does not parse: it fails without an attempt), -2 out of memory.
 */
int gateway_build(const struct delivery *d, const char *desc,
    size_t desc_len, struct buf *out, struct webhook_target *t,
    int64_t *timeout_ms, char *err, size_t errsz);

/*
 * Contract §14: what the upstream's answer of HTTP status st means. 429
 * and 5xx are retried like a transport failure; any other answer is
 * final (WEBHOOK_OK: the request completes with it).
 */
enum webhook_result gateway_judge(int status);

/*
 * The callback URL of the request described by desc (desc_len bytes),
 * decoded into out (outsz bytes with the NUL): 1 when there is one, 0 when
 * none, -1 when the description does not parse or it does not fit.
 */
int gateway_callback(const char *desc, size_t desc_len, char *out,
    size_t outsz);
/* The route prefix the request described by desc was accepted under, as
 * gateway_callback (for the log). */
int gateway_route(const char *desc, size_t desc_len, char *out,
    size_t outsz);

/*
 * The event data of a completed request into out (reset first): the
 * upstream's body when it is a JSON object, else {"status": N,
 * "content_type": "..." or null, "body": "<text>"} (a body that is not
 * UTF-8 text goes as "body_base64" instead, so that no byte is lost). For a failed request, error
 * not NULL: {"error": "..."}. 0, or -1 out of memory.
 */
int gateway_event_data(int status, const char *ctype, const char *body,
    size_t body_len, const char *error, struct buf *out);

#endif
