/* Fuzz target: receiver responses the way deliver.c reads them: heads
 * parsed with its limits, interim 1xx answers skipped, Retry-After read,
 * and a chunked body decoded. */
#include <stdlib.h>
#include <string.h>

#include "../../http.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct http_limits lim = { 65536, HTTP_MAX_HEADERS };
	static struct http_response res;
	char *buf = malloc(size + 1), *p;
	size_t len = size, i;
	int n;

	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	p = buf;
	for (;;) {
		n = http_parse_response(p, len, &lim, &res);
		if (n <= 0)
			goto out;
		if (res.status < 100 || res.status > 999 ||
		    res.num_headers > HTTP_MAX_HEADERS ||
		    res.reason < p || res.reason + res.reason_len > p + n ||
		    res.content_length < -1 ||
		    (res.chunked && res.content_length != -1))
			abort();
		for (i = 0; i < res.num_headers; i++)
			if (res.headers[i].name < p || res.headers[i].value +
			    res.headers[i].value_len > p + n)
				abort();
		/* One byte short of a complete head is "need more". */
		if (http_parse_response(p, (size_t)n - 1, &lim, &res) != -2)
			abort();
		n = http_parse_response(p, len, &lim, &res);
		p += n;
		len -= (size_t)n;
		if (res.status >= 200 || res.status == 101)
			break;
	}
	if (res.status == 429 || res.status == 503) {
		const struct http_header *h = http_find_header(res.headers,
		    res.num_headers, "Retry-After");
		int64_t ms;

		if (h != NULL && http_retry_after(h->value, h->value_len,
		    1795881600000LL, 86400000, &ms) == 0 &&
		    (ms < 0 || ms > 86400000))
			abort();
	}
	if (res.chunked && res.status >= 200 && res.status != 204 &&
	    res.status != 304) {
		struct http_chunked d;
		size_t blen = len;

		memset(&d, 0, sizeof(d));
		(void)http_decode_chunked(&d, p, &blen);
	}
out:
	free(buf);
	return 0;
}
