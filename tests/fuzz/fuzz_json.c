/* Fuzz target: the JSON parser. Counting and filling agree, one token too
 * few is JSON_ERR_NOMEM, every token's span is in the input, every string
 * decodes (json_str, json_str_buf, json_str_eq agree) and survives
 * json_put_str and a parse back, and json_get finds every member key.
 * json_member_false agrees with the parse: on what is one JSON object (a
 * syntax error is never taken for one) and on its members "ack" that are
 * false. */
#include <stdlib.h>
#include <string.h>

#include "../../json.h"
#include "fuzz.h"

/* Encode the decoded string d, parse it back, decode again: same bytes. */
static void
round_trip(const struct buf *d)
{
	struct buf e = {0}, back = {0};
	struct json_tok t;

	if (json_put_str(&e, d->data ? d->data : "", d->len) != 0 ||
	    json_parse(e.data, e.len, &t, 1) != 1 || t.type != JSON_STRING ||
	    json_str_buf(e.data, &t, &back) != 0 || back.len != d->len ||
	    (d->len > 0 && memcmp(back.data, d->data, d->len) != 0))
		abort();
	buf_free(&e);
	buf_free(&back);
}

/* The string toks[i], a key of the object toks[obj] when obj >= 0. */
static void
check_string(const char *s, const struct json_tok *toks, int i, int obj)
{
	const struct json_tok *t = &toks[i];
	struct buf d = {0};
	char *out;
	int k;

	if (json_str_buf(s, t, &d) != 0)
		abort();
	out = malloc(d.len + 1);
	if (out == NULL || json_str(s, t, out, d.len + 1) != (int)d.len ||
	    (d.len > 0 && memcmp(out, d.data, d.len) != 0) ||
	    json_str(s, t, out, d.len) != -1)
		abort();
	round_trip(&d);
	if (d.data != NULL && memchr(d.data, '\0', d.len) == NULL) {
		if (!json_str_eq(s, t, d.data))
			abort();
		/* A key: json_get finds a member with it (the first one). */
		if (obj >= 0) {
			k = json_get(s, toks, obj, d.data);
			if (k < 0 || k > i + 1 ||
			    !json_str_eq(s, &toks[k - 1], d.data))
				abort();
		}
	}
	free(out);
	buf_free(&d);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct json_tok *t;
	int need, n, i, mf, *obj_of;
	uint32_t m, k;

	need = json_parse(s, size, NULL, 0);
	mf = json_member_false(s, size, "ack");
	if (need == JSON_ERR_SYNTAX && mf != JSON_ERR_SYNTAX)
		abort();
	if (need <= 0)
		return 0;
	t = malloc((size_t)need * sizeof(*t));
	obj_of = malloc((size_t)need * sizeof(*obj_of));
	if (t == NULL || obj_of == NULL)
		goto out;
	if (json_parse(s, size, t, (size_t)need - 1) != JSON_ERR_NOMEM ||
	    (n = json_parse(s, size, t, (size_t)need)) != need ||
	    t[0].next != (uint32_t)n)
		abort();
	for (i = 0; i < n; i++) {
		obj_of[i] = -1;
		if (t[i].start > size || t[i].len > size - t[i].start ||
		    t[i].next <= (uint32_t)i || t[i].next > (uint32_t)n)
			abort();
	}
	/* Mark each object's keys; a member is a key, then a subtree. */
	for (i = 0; i < n; i++) {
		if (t[i].type != JSON_OBJECT) {
			if (json_get(s, t, i, "") != -1)
				abort();
			continue;
		}
		for (m = 0, k = (uint32_t)i + 1; m < t[i].size; m++) {
			if (t[k].type != JSON_STRING)
				abort();
			obj_of[k] = i;
			k = t[k + 1].next;
		}
		if (k != t[i].next)
			abort();
	}
	for (i = 0; i < n; i++)
		if (t[i].type == JSON_STRING)
			check_string(s, t, i, obj_of[i]);
	if (t[0].type != JSON_OBJECT) {
		if (mf != JSON_ERR_SYNTAX)
			abort();
	} else {
		int want = 0;

		for (m = 0, k = 1; m < t[0].size; m++) {
			if (json_str_eq(s, &t[k], "ack") &&
			    t[k + 1].type == JSON_FALSE)
				want = 1;
			k = t[k + 1].next;
		}
		if (mf != want)
			abort();
	}
out:
	free(obj_of);
	free(t);
	return 0;
}
