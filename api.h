/*
 * api: the HTTP API of contract §2 and §3: authentication, routing and the
 * handlers for clients, endpoints, events and deliveries, plus /healthz and
 * /metrics. It answers from the store and never touches sockets.
 */
#ifndef HOOKD_API_H
#define HOOKD_API_H

#include <stddef.h>
#include <stdint.h>

#include "http.h"
#include "util.h"

/* One request as the inbound side parsed it; every pointer is the
 * caller's and only read while api_handle or api_auth_head runs. */
struct api_request {
	const char *method;
	size_t method_len;
	const char *target;		/* path and query as received */
	size_t target_len;
	const struct http_header *headers;
	size_t num_headers;
	const char *body;		/* decoded body (chunks joined) */
	size_t body_len;
	/* Set when the caller waited API_RESOLVE_WAIT_MS for a lookup: a
	 * name still unresolved is then accepted (contract §11). */
	int resolve_late;
};

/*
 * Not an HTTP status: api_handle's answer when a registration names a host
 * whose lookup is under way (contract §11). Nothing was written and out
 * holds nothing to send; the caller holds the request (reads nothing more
 * from its connection) and calls api_handle again with the same request
 * once deliver_on_lookup's hook has run, or with resolve_late set once
 * API_RESOLVE_WAIT_MS have passed since the first call.
 */
#define API_RESOLVING 1
/* How long a registration waits for its host name's lookup. Names usually
 * answer in milliseconds; a name server that does not answer would hold
 * the request (and its connection) for glibc's 10-30 s, and the
 * connect-time check guards the delivery in any case. */
#define API_RESOLVE_WAIT_MS 2000

/* Set the admin token (copied; a previous copy is wiped), once at start.
 * NULL, or no memory for the copy, leaves no admin token: every admin
 * request is then refused with 401. */
void api_set_admin_token(const char *token);

/*
 * Answer one request: returns the HTTP status and appends the body to out,
 * with *content_type set (a static string). State changes are written to the
 * store before this returns; the caller sends the answer once
 * store_durable_seq() reaches store_written_seq() as it was on return.
 * Failures of memory or disk answer 500 or 503 with a JSON error.
 */
int api_handle(const struct api_request *r, struct buf *out,
    const char **content_type);

/* The Retry-After (RFC 9110 §10.2.3) in seconds that api_handle's last
 * answer carries (a 429 of max_retries_per_minute), or 0 for none. */
int64_t api_retry_after(void);

/* Header lines (each ending in CRLF) that api_handle's last answer carries
 * beyond those the server writes: the console's Content-Security-Policy
 * and the like (contract §16). A static string, or NULL for none. */
const char *api_extra_head(void);

/*
 * The value of the Allow header for a 405 that api_handle answered r (RFC
 * 9110 §15.5.6): the methods a route's prefix takes (contract §14, every
 * method hookd parses but HEAD), or NULL when r is not under a route. A
 * static string.
 */
const char *api_allow(const struct api_request *r);

/*
 * Contract §18: authenticate a request on its head alone, before its body is
 * read (r->body is not looked at). Returns 0 when the request may go on (it
 * is not under /v1, or its token is valid), else the status to answer (401,
 * or 500 when out of memory) with the JSON error appended to out and
 * *content_type set (a static string). api_handle checks again: this only
 * lets the caller refuse early.
 */
int api_auth_head(const struct api_request *r, struct buf *out,
    const char **content_type);

/* What `hookd -n` can check of the static endpoint lines of the config in
 * force without the store (the same checks a start makes on them, apart
 * from whether their client exists): the URL with its literal-address
 * destination rule, and the secret. Writes nothing. Returns 0, or -1 with
 * err set to "LINE: reason" (as api_apply_static). */
int api_check_static(char *err, size_t errsz);

/* Create the static registrations of the config that are missing, after
 * checking every line first: a bad line writes nothing. Returns 0, or -1
 * with err set to "LINE: reason" (the caller puts the config file's name
 * and a colon in front: "FILE:LINE: reason"). When changed is not NULL,
 * each existing endpoint whose policy a line put back in force is appended
 * to it as "endpoint:ep_..." (comma-separated; cut at changedsz bytes,
 * NUL-terminated). */
int api_apply_static(char *err, size_t errsz, char *changed,
    size_t changedsz);

#endif
