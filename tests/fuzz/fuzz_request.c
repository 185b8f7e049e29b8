/* Fuzz target: the request head parser, then the body framing it implies. */
#include <stdlib.h>
#include <string.h>

#include "../../http.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_limits lim = { 16384, 100 };
	struct http_request req;
	int status = 0, n;

	n = http_parse_request((const char *)data, size, &lim, &req, &status);
	if (n > 0 && req.chunked) {
		struct http_chunked d;
		char *body = malloc(size - (size_t)n + 1);
		size_t len = size - (size_t)n;

		if (body != NULL) {
			memset(&d, 0, sizeof(d));
			memcpy(body, data + n, len);
			http_decode_chunked(&d, body, &len);
			free(body);
		}
	}
	return 0;
}
