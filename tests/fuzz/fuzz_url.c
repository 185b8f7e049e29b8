/* Fuzz target: URL parsing, and template filling and query building from a
 * fixed event. */
#include <stdlib.h>
#include <string.h>

#include "../../url.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char ev[] = "{\"refId\":\"3283191\",\"n\":1,\"o\":{\"a\":[1]}}";
	struct json_tok t[16];
	struct url u;
	struct buf b = {0};
	const char *err;
	char missing[64];
	struct sockaddr_storage ss;

	if (url_parse((const char *)data, size, &u, &err) == 0 &&
	    url_host_literal(u.host, &ss) == 0)
		url_addr_allowed((struct sockaddr *)&ss, NULL, 0);
	if (json_parse(ev, sizeof(ev) - 1, t, 16) > 0) {
		url_expand(&b, (const char *)data, size, ev, t, 0, missing,
		    sizeof(missing));
		url_query(&b, ev, t, 0);
	}
	url_cidr_parse((const char *)data, size, &(struct url_cidr){0});
	buf_free(&b);
	return 0;
}
