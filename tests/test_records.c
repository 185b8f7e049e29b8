/*
 * Tests that no untrusted bytes make a record unreadable (issue 19.1,
 * contract §18): every store write function gets hostile bytes in every
 * field a receiver, upstream, tenant or producer controls, and the files
 * must replay, compact and replay again with every field as written.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "records.h"
#include "unit.h"

#define S(x) { x, sizeof(x) - 1 }

/* An array or object nest of depth levels around "1": [[...1...]]. */
static char *
nest(int depth, int objects)
{
	size_t n = (size_t)depth * (objects ? 6 : 2) + 2;
	char *s = malloc(n), *p = s;
	int i;

	if (s == NULL)
		return NULL;
	for (i = 0; i < depth; i++) {
		if (objects) {
			memcpy(p, "{\"a\":", 5);
			p += 5;
		} else
			*p++ = '[';
	}
	*p++ = '1';
	for (i = 0; i < depth; i++)
		*p++ = objects ? '}' : ']';
	*p = '\0';
	return s;
}

void
test_records(void)
{
	static const struct { const char *p; size_t n; } hostile[] = {
		S("a\nb\r\nc"),
		S("{\n  \"ack\": true\n}"),
		S("\"quote\" and \\backslash\\ and \\u0000"),
		S("nul\0inside"),
		S("\xff\xfe not UTF-8 \xc3"),
		S("\xe2\x82"),			/* cut mid-character */
		S("tab\there\x01\x1f\x7f"),
		S("}\n00000000 {\"t\":\"client\",\"id\":\"evil\"}\n"),
		S(""),
	};
	struct rec_input in;
	char dir[256], why[512], *deep_arr, *deep_obj, *deep_hdr, *big;
	size_t i, f;

	snprintf(dir, sizeof(dir), "/tmp/hookd-unit-records-%d",
	    (int)getpid());
	mkdir(dir, 0700);
	deep_arr = nest(JSON_MAX_DEPTH, 0);
	deep_obj = nest(JSON_MAX_DEPTH, 1);	/* the 64-deep ack */
	deep_hdr = nest(JSON_MAX_DEPTH - 1, 1);
	big = malloc(64 * 1024);
	CHECK(deep_arr != NULL && deep_obj != NULL && deep_hdr != NULL &&
	    big != NULL);
	if (deep_arr == NULL || deep_obj == NULL || deep_hdr == NULL ||
	    big == NULL)
		goto out;
	/* Maximal length: a whole kept body of newlines and quotes. */
	for (i = 0; i < 64 * 1024; i++)
		big[i] = "\n\"\\x"[i % 4];

	/* Each hostile string in every field at once. */
	for (i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
		for (f = 0; f < RF_NFIELDS; f++) {
			in.p[f] = hostile[i].p;
			in.n[f] = hostile[i].n;
		}
		CHECKF(rec_roundtrip(dir, &in, why, sizeof(why)) == 0,
		    "hostile[%zu]: %s", i, why);
	}
	/* Sound values, then maximal nesting where JSON is embedded. */
	{
		static const struct rec_input ok = { .p = {
			"Acme", "http://example.com/cb", "order.*",
			"{\"X-Api-Key\": \"k\"}", "desc", "order.paid",
			"{\"refId\": 1}", "http://example.com/one", "key-1",
			"{\"id\":\"evt_1\"}", "timeout", "{\"ack\": true}",
			"{\"ack\": true}" } };
		const char *deep[] = { deep_arr, deep_obj, deep_hdr };
		size_t k;

		for (k = 0; k < 3; k++) {
			memcpy(in.p, ok.p, sizeof(in.p));
			for (f = 0; f < RF_NFIELDS; f++)
				in.n[f] = strlen(ok.p[f]);
			in.p[RF_ACK] = in.p[RF_DATA] = in.p[RF_HEADERS] =
			    in.p[RF_BODY] = deep[k];
			in.n[RF_ACK] = in.n[RF_DATA] = in.n[RF_HEADERS] =
			    in.n[RF_BODY] = strlen(deep[k]);
			CHECKF(rec_roundtrip(dir, &in, why, sizeof(why)) == 0,
			    "deep[%zu]: %s", k, why);
		}
		/* Maximal length in every field. */
		for (f = 0; f < RF_NFIELDS; f++) {
			in.p[f] = big;
			in.n[f] = f == RF_BODY ? STORE_LOG_BODY :
			    f == RF_ACK ? STORE_ACK_MAX : 64 * 1024;
		}
		CHECKF(rec_roundtrip(dir, &in, why, sizeof(why)) == 0,
		    "big: %s", why);
	}
out:
	rec_clean(dir);
	rmdir(dir);
	free(deep_arr);
	free(deep_obj);
	free(deep_hdr);
	free(big);
}
