/* Fuzz target: callback URLs. The input is a URL (or template), optionally
 * followed by a NUL and an event's JSON object (a fixed one otherwise). The
 * URL is parsed and its literal host judged, alone and under an allow list
 * made of itself; its normal form must exist exactly when it parses, and be
 * its own normal form; the template is filled from the event as deliver.c
 * does, and a valid template filled in must stay a valid URL; the GET query
 * is built; the input is also read as an allow-list CIDR. */
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>

#include "../../url.h"
#include "fuzz.h"

static void
check_cidr(const char *s, size_t n)
{
	struct url_cidr c;
	struct sockaddr_storage ss;

	if (url_cidr_parse(s, n, &c) != 0)
		return;
	if (c.family == AF_UNSPEC)
		return;
	if ((c.family != AF_INET && c.family != AF_INET6) || c.bits < 0 ||
	    c.bits > (c.family == AF_INET ? 32 : 128))
		abort();
	/* The range's first address is allowed by the range. */
	memset(&ss, 0, sizeof(ss));
	ss.ss_family = (sa_family_t)c.family;
	if (c.family == AF_INET)
		memcpy(&((struct sockaddr_in *)&ss)->sin_addr, c.addr, 4);
	else
		memcpy(((struct sockaddr_in6 *)&ss)->sin6_addr.s6_addr,
		    c.addr, 16);
	if (!url_addr_allowed((struct sockaddr *)&ss, &c, 1))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char fixed[] =
	    "{\"refId\":\"3283191\",\"n\":-1.5e3,\"ok\":true,\"x\":null,"
	    "\"o\":{\"a\":[1,\"b c\"]},\"s\":\"\\u00e9/?&=#\"}";
	static struct json_tok t[256];
	static char norm[URL_NORM_MAX], norm2[URL_NORM_MAX];
	const char *s = (const char *)data, *ev = fixed, *err;
	const uint8_t *nul = memchr(data, '\0', size);
	size_t n = nul != NULL ? (size_t)(nul - data) : size;
	size_t evlen = sizeof(fixed) - 1;
	struct url u;
	struct url_cidr all = { .family = AF_UNSPEC };
	struct buf b = {0};
	struct sockaddr_storage ss;
	char missing[64];
	int ok, rc;

	if (nul != NULL) {
		ev = (const char *)nul + 1;
		evlen = size - n - 1;
	}
	if (json_parse(ev, evlen, t, 256) < 1 || t[0].type != JSON_OBJECT) {
		ev = fixed;
		evlen = sizeof(fixed) - 1;
		if (json_parse(ev, evlen, t, 256) < 1)
			abort();
	}
	ok = url_parse(s, n, &u, &err) == 0;
	if (ok && (u.host[0] == '\0' || strlen(u.host) >= URL_HOST_MAX ||
	    u.path_len == 0 || u.path[0] != '/' || u.port == 0))
		abort();
	/* Every URL url_parse takes has a normal form, and the normal form
	 * is its own (while it still fits URL_MAX). */
	if (url_normalize(s, n, norm, sizeof(norm), &err) != (ok ? 0 : -1))
		abort();
	if (ok && strlen(norm) <= URL_MAX &&
	    (url_normalize(norm, strlen(norm), norm2, sizeof(norm2),
	    &err) != 0 || strcmp(norm, norm2) != 0))
		abort();
	if (ok && url_host_literal(u.host, &ss) == 0) {
		(void)url_addr_allowed((struct sockaddr *)&ss, NULL, 0);
		if (!url_addr_allowed((struct sockaddr *)&ss, &all, 1))
			abort();
		check_cidr(u.host, strlen(u.host));
	}
	rc = url_expand(&b, s, n, ev, t, 0, missing, sizeof(missing));
	if (rc == 0 && ok && b.len <= URL_MAX &&
	    url_parse(b.data, b.len, &u, &err) != 0)
		abort();
	buf_reset(&b);
	if (url_query(&b, ev, t, 0) != 0 || url_encode(&b, s, n) != 0)
		abort();
	check_cidr(s, n);
	buf_free(&b);
	return 0;
}
