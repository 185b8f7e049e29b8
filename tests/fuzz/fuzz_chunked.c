/* Fuzz target: the in-place chunked decoder. The input decoded in one call
 * and fed one byte per call (the worst trickle a peer can send) must give
 * the same result, the same body and the same bytes left over; and what
 * http_chunked_announced promises along the way (callers refuse bodies over
 * their limit with it) never exceeds the body that arrives. */
#include <stdlib.h>
#include <string.h>

#include "../../http.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_chunked a, b;
	char *p = malloc(size + 1), *q = malloc(size + 1);
	size_t la = size, lb = 0, i, one;
	ssize_t ra, rb = -2;

	if (p == NULL || q == NULL)
		goto out;
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	memcpy(p, data, size);
	ra = http_decode_chunked(&a, p, &la);
	if (ra < -2 || la > size || (ra >= 0 && (size_t)ra > size - la))
		abort();
	/* The bytes after the body are the next message's, unchanged. */
	if (ra > 0 && memcmp(p + la, data + size - (size_t)ra,
	    (size_t)ra) != 0)
		abort();
	for (i = 0; i < size && rb == -2; i++) {
		q[lb] = (char)data[i];
		one = 1;
		rb = http_decode_chunked(&b, q + lb, &one);
		lb += one;
		if (ra >= 0 && lb + http_chunked_announced(&b) > la)
			abort();
	}
	if (rb >= 0)
		rb += (ssize_t)(size - i);
	if (ra != rb || la != lb || memcmp(p, q, la) != 0)
		abort();
out:
	free(p);
	free(q);
	return 0;
}
