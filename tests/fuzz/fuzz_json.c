/* Fuzz target: the JSON parser in both modes, which must agree, and the
 * string decoder and encoder on every string token. */
#include <stdlib.h>
#include <string.h>

#include "../../json.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct json_tok *t;
	int need, n, i;
	struct buf b = {0}, e = {0};

	need = json_parse(s, size, NULL, 0);
	if (need <= 0)
		return 0;
	t = malloc((size_t)need * sizeof(*t));
	if (t == NULL)
		return 0;
	n = json_parse(s, size, t, (size_t)need);
	if (n != need)
		abort();
	for (i = 0; i < n; i++) {
		if (t[i].type != JSON_STRING)
			continue;
		buf_reset(&b);
		buf_reset(&e);
		if (json_str_buf(s, &t[i], &b) != 0)
			abort();
		json_put_str(&e, b.data ? b.data : "", b.len);
	}
	if (t[0].type == JSON_OBJECT)
		json_get(s, t, 0, "ack");
	buf_free(&b);
	buf_free(&e);
	free(t);
	return 0;
}
