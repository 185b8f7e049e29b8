/* Fuzz target: inbound requests the way server.c reads them: a head parsed
 * with the default limits, then its body (Content-Length, or chunked decoded
 * in place), then the next pipelined request from the bytes after it. */
#include <stdlib.h>
#include <string.h>

#include "../../http.h"
#include "fuzz.h"

/* Within: every span of a parsed head lies inside the head. */
static int
within(const char *s, size_t n, const char *head, size_t len)
{
	return s >= head && n <= len && (size_t)(s - head) <= len - n;
}

static void
check_head(const char *buf, size_t len, const struct http_request *req)
{
	size_t i;

	if (!within(req->method, req->method_len, buf, len) ||
	    !within(req->target, req->target_len, buf, len) ||
	    req->method_len == 0 || req->target_len == 0 ||
	    (req->minor_version != 0 && req->minor_version != 1) ||
	    req->num_headers > 100 || req->content_length < -1 ||
	    (req->chunked && req->content_length != -1))
		abort();
	for (i = 0; i < req->num_headers; i++)
		if (!within(req->headers[i].name, req->headers[i].name_len,
		    buf, len) || !within(req->headers[i].value,
		    req->headers[i].value_len, buf, len))
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct http_limits lim = { 16384, 100 };
	static struct http_request req;
	char *buf = malloc(size + 1), *p;
	size_t len = size, msgs;
	int status, n;

	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	p = buf;
	for (msgs = 0; msgs < 64 && len > 0; msgs++) {
		status = 0;
		n = http_parse_request(p, len, &lim, &req, &status);
		if (n == -1 && status != 400 && status != 414 &&
		    status != 431 && status != 501 && status != 505)
			abort();
		if (n < 0)
			break;
		check_head(p, (size_t)n, &req);
		/* One byte short of a complete head is "need more". */
		if (http_parse_request(p, (size_t)n - 1, &lim, &req,
		    &status) != -2)
			abort();
		n = http_parse_request(p, len, &lim, &req, &status);
		p += n;
		len -= (size_t)n;
		if (req.chunked) {
			struct http_chunked d;
			size_t blen = len;
			ssize_t rest;

			memset(&d, 0, sizeof(d));
			rest = http_decode_chunked(&d, p, &blen);
			if (rest < 0)
				break;
			p += blen;
			len = (size_t)rest;
		} else if (req.content_length > 0) {
			if ((uint64_t)req.content_length > len)
				break;
			p += req.content_length;
			len -= (size_t)req.content_length;
		}
	}
	free(buf);
	return 0;
}
