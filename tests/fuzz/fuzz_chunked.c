/* Fuzz target: the in-place chunked decoder, fed whole and in two pieces
 * (the split point taken from the first byte), which must agree. */
#include <stdlib.h>
#include <string.h>

#include "../../http.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_chunked a, b;
	char *p, *q;
	size_t la, lb1, lb2, split;
	ssize_t ra, rb;

	if (size < 1)
		return 0;
	split = data[0] % size;
	data++;
	size--;
	p = malloc(size + 1);
	q = malloc(size + 1);
	if (p == NULL || q == NULL)
		goto out;
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	memcpy(p, data, size);
	memcpy(q, data, size);
	la = size;
	ra = http_decode_chunked(&a, p, &la);
	if (split > size)
		split = size;
	lb1 = split;
	rb = http_decode_chunked(&b, q, &lb1);
	if (rb == -2) {
		/* Feed the rest after the decoded bytes. */
		lb2 = size - split;
		memmove(q + lb1, q + split, lb2);
		rb = http_decode_chunked(&b, q + lb1, &lb2);
		if (ra >= 0 && rb >= 0 && (la != lb1 + lb2 ||
		    memcmp(p, q, la) != 0))
			abort();
	}
out:
	free(p);
	free(q);
	return 0;
}
