/*
 * api_check: what the API and the static registrations accept: event types
 * and filters, callback URLs against the destination rules (contract §8,
 * §11, with the lookup at registration), supplied secrets, header names.
 */
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "api_impl.h"
#include "deliver.h"
#include "http.h"
#include "config.h"
#include "sign.h"
#include "url.h"

/* ---- validation shared by the API and the static registrations ---- */

/*
 * Event types and filters: 1..UTIL_TYPE_MAX visible ASCII characters. The
 * type goes out in the hookd-event-type header and into log lines, so CR,
 * LF, spaces and other controls would inject headers or fields. In a filter
 * '*' may only end it (contract §3: a trailing * matches a prefix); one
 * elsewhere would never match, which is surely a typo.
 */
int
api_type_ok(const char *s, size_t n, int filter)
{
	return util_type_ok(s, n, filter);
}

/* A callback URL (contract §3): NULL when acceptable, else the reason
 * (static, or in buf). A literal address is checked against §8 now, and
 * localhost by name; other names by api_url_resolves where the API
 * registers a URL, and after each resolution by the delivery engine. */
const char *
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
int
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
int
api_secret_ok(const char *s, size_t n)
{
	uint8_t key[SIGN_SECRET_MAX_BYTES];
	int ok = n < SIGN_SECRET_MAX && sign_secret_key(s, n, 1, key) >= 0;

	sign_wipe(key, sizeof(key));
	return ok;
}

/* NULL when name (n bytes) may be an endpoint's extra header. */
const char *
api_header_name_problem(const char *name, size_t n)
{
	if (n == 0 || n > API_HEADER_NAME_MAX)
		return "headers: a name is empty or too long";
	if (!http_name_ok(name, n))
		return "headers: a name is not an HTTP token";
	return NULL;
}
