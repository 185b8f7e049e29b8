/*
 * test_json: JSONTestSuite's parsing cases, then tables for token layout,
 * lookups, decoding, limits (depth, tokens), prefixes and encoder round trips.
 */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "../json.c"
#include "unit.h"

#define T_MAXTOK 512

static int
t_parse(const char *s, size_t n, struct json_tok *toks, size_t max)
{
	char *c = unit_dup(s, n);
	int r;

	if (c == NULL)
		return -100;
	r = json_parse(c, n, toks, max);
	free(c);
	return r;
}

/*
 * Structural invariants of a successful parse of n tokens: spans inside the
 * text, strings between quotes, containers bracketed, sizes and next links
 * consistent with the subtree layout. Returns 1 when all hold.
 */
static int
t_tree_ok(const char *s, size_t len, const struct json_tok *t, int n)
{
	int i, j, m;

	for (i = 0; i < n; i++) {
		if ((size_t)t[i].start + t[i].len > len)
			return 0;
		if (t[i].next <= (uint32_t)i || t[i].next > (uint32_t)n)
			return 0;
		switch (t[i].type) {
		case JSON_STRING:
			if (t[i].start == 0 || s[t[i].start - 1] != '"' ||
			    t[i].start + t[i].len >= len ||
			    s[t[i].start + t[i].len] != '"')
				return 0;
			/* fallthrough */
		case JSON_NULL: case JSON_TRUE: case JSON_FALSE:
		case JSON_NUMBER:
			if (t[i].size != 0 || t[i].next != (uint32_t)i + 1)
				return 0;
			break;
		case JSON_ARRAY:
		case JSON_OBJECT:
			if (t[i].len < 2 || s[t[i].start] !=
			    (t[i].type == JSON_ARRAY ? '[' : '{') ||
			    s[t[i].start + t[i].len - 1] !=
			    (t[i].type == JSON_ARRAY ? ']' : '}'))
				return 0;
			/* Walking the children must land exactly on next. */
			j = i + 1;
			for (m = 0; m < (int)t[i].size; m++) {
				if (j >= n)
					return 0;
				if (t[i].type == JSON_OBJECT) {
					if (t[j].type != JSON_STRING ||
					    j + 1 >= n)
						return 0;
					j++;
				}
				j = (int)t[j].next;
			}
			if (j != (int)t[i].next)
				return 0;
			break;
		default:
			return 0;
		}
	}
	return n > 0 && t[0].next == (uint32_t)n;
}

/* Decode every string token, encode it again, parse that and decode it
 * again: the bytes must survive. Returns the number of mismatches. */
static int
t_strings_round_trip(const char *s, const struct json_tok *t, int n)
{
	static char a[1 << 16], c[1 << 16];
	struct json_tok t2[2];
	struct buf b = { 0 };
	int i, la, lc, bad = 0;

	for (i = 0; i < n; i++) {
		if (t[i].type != JSON_STRING)
			continue;
		la = json_str(s, &t[i], a, sizeof(a));
		buf_reset(&b);
		if (la < 0 || json_put_str(&b, a, (size_t)la) != 0 ||
		    json_parse(b.data, b.len, t2, 2) != 1 ||
		    (lc = json_str(b.data, &t2[0], c, sizeof(c))) != la ||
		    memcmp(a, c, (size_t)la) != 0 ||
		    !json_tok_eq(s, &t[i], a, (size_t)la))
			bad++;
	}
	buf_free(&b);
	return bad;
}

/* (1) Every JSONTestSuite parsing case. */
static void
t_suite(void)
{
	static struct json_tok toks[T_MAXTOK];
	char dir[1024], path[2048];
	struct dirent *de;
	DIR *d;
	int ny = 0, nn = 0, ni = 0, yfail = 0, nfail = 0, mismatch = 0;
	int treebad = 0, rtbad = 0, prefixbad = 0, scanbad = 0;

	snprintf(dir, sizeof(dir), "%s/json/test_parsing", unit_testdata());
	d = opendir(dir);
	CHECKF(d != NULL, "cannot open %s", dir);
	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		const char *name = de->d_name;
		FILE *f;
		char *data;
		long sz;
		size_t len, k;
		int rc, rf, ok;

		if (strlen(name) < 3 || name[1] != '_' ||
		    (name[0] != 'y' && name[0] != 'n' && name[0] != 'i'))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		f = fopen(path, "rb");
		CHECKF(f != NULL, "cannot open %s", path);
		if (f == NULL)
			continue;
		fseek(f, 0, SEEK_END);
		sz = ftell(f);
		fseek(f, 0, SEEK_SET);
		len = sz > 0 ? (size_t)sz : 0;
		data = malloc(len > 0 ? len : 1);
		if (data == NULL || fread(data, 1, len, f) != len) {
			CHECKF(0, "cannot read %s", path);
			free(data);
			fclose(f);
			continue;
		}
		fclose(f);

		rc = json_parse(data, len, NULL, 0);
		rf = json_parse(data, len, toks, T_MAXTOK);
		/* Counting and filling agree whenever the array is big enough. */
		if (rc != rf && !(rf == JSON_ERR_NOMEM && rc > T_MAXTOK)) {
			fprintf(stderr, "json: %s: count %d, fill %d\n",
			    name, rc, rf);
			mismatch++;
		}
		ok = rf >= 1;
		/* The member scan and the parser agree on what is one
		 * JSON object (nothing in the suite nests too deep for the
		 * parser while being an object). */
		if ((json_member_false(data, len, "ack") >= 0) !=
		    (rc >= 1 && data[json_ws((const unsigned char *)data,
		    len, 0)] == '{')) {
			fprintf(stderr, "json: %s: member scan %d, parse %d\n",
			    name, json_member_false(data, len, "ack"), rc);
			scanbad++;
		}
		switch (name[0]) {
		case 'y':
			ny++;
			if (!ok) {
				fprintf(stderr, "json: %s refused (%d)\n",
				    name, rf);
				yfail++;
				break;
			}
			if (!t_tree_ok(data, len, toks, rf)) {
				fprintf(stderr, "json: %s: bad tree\n", name);
				treebad++;
			}
			rtbad += t_strings_round_trip(data, toks, rf);
			/* No proper prefix of an array or object is a JSON
			 * text (trailing whitespace aside). */
			if (toks[0].type == JSON_ARRAY ||
			    toks[0].type == JSON_OBJECT) {
				size_t end = toks[0].start + toks[0].len;

				for (k = 0; k < end; k++)
					if (t_parse(data, k, NULL, 0) >= 0)
						prefixbad++;
				if (t_parse(data, end, NULL, 0) != rf)
					prefixbad++;
			}
			break;
		case 'n':
			nn++;
			if (ok) {
				fprintf(stderr, "json: %s accepted\n", name);
				nfail++;
			}
			break;
		default:
			ni++;	/* either answer; it only must not crash */
			if (ok && !t_tree_ok(data, len, toks, rf))
				treebad++;
			break;
		}
		free(data);
	}
	closedir(d);
	CHECKF(ny == 95, "%d y_ files", ny);
	CHECKF(nn == 188, "%d n_ files", nn);
	CHECKF(ni == 35, "%d i_ files", ni);
	CHECKF(yfail == 0, "%d y_ files refused", yfail);
	CHECKF(nfail == 0, "%d n_ files accepted", nfail);
	CHECK(mismatch == 0);
	CHECK(treebad == 0);
	CHECKF(rtbad == 0, "%d strings did not round-trip", rtbad);
	CHECKF(prefixbad == 0, "%d prefixes misjudged", prefixbad);
	CHECKF(scanbad == 0, "%d member scans disagree", scanbad);
}

/* (2) Token layout: type, size, next and the exact text each span covers. */
static void
t_layout(void)
{
	static const struct {
		const char *doc;
		int n;
		struct {
			int type, size, next;
			const char *text;
		} t[14];
	} cases[] = {
		{ "{\"a\":[1,true,{\"b\":null}],\"c\":\"x\\\"y\",\"d\":{}}", 12, {
			{ JSON_OBJECT, 3, 12, "{\"a\":[1,true,{\"b\":null}],"
			    "\"c\":\"x\\\"y\",\"d\":{}}" },
			{ JSON_STRING, 0, 2, "a" },
			{ JSON_ARRAY, 3, 8, "[1,true,{\"b\":null}]" },
			{ JSON_NUMBER, 0, 4, "1" },
			{ JSON_TRUE, 0, 5, "true" },
			{ JSON_OBJECT, 1, 8, "{\"b\":null}" },
			{ JSON_STRING, 0, 7, "b" },
			{ JSON_NULL, 0, 8, "null" },
			{ JSON_STRING, 0, 9, "c" },
			{ JSON_STRING, 0, 10, "x\\\"y" },
			{ JSON_STRING, 0, 11, "d" },
			{ JSON_OBJECT, 0, 12, "{}" },
		} },
		{ " \t\r\n[ -1.5e+3 , \"\" ,[ ] , false ]\n ", 5, {
			{ JSON_ARRAY, 4, 5, "[ -1.5e+3 , \"\" ,[ ] , false ]" },
			{ JSON_NUMBER, 0, 2, "-1.5e+3" },
			{ JSON_STRING, 0, 3, "" },
			{ JSON_ARRAY, 0, 4, "[ ]" },
			{ JSON_FALSE, 0, 5, "false" },
		} },
		{ "[[[]],[{}],0]", 6, {
			{ JSON_ARRAY, 3, 6, "[[[]],[{}],0]" },
			{ JSON_ARRAY, 1, 3, "[[]]" },
			{ JSON_ARRAY, 0, 3, "[]" },
			{ JSON_ARRAY, 1, 5, "[{}]" },
			{ JSON_OBJECT, 0, 5, "{}" },
			{ JSON_NUMBER, 0, 6, "0" },
		} },
		{ "\"\\u00e9\"", 1, { { JSON_STRING, 0, 1, "\\u00e9" } } },
		{ " 0 ", 1, { { JSON_NUMBER, 0, 1, "0" } } },
	};
	struct json_tok toks[16];
	size_t i;
	int j, r;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *doc = cases[i].doc;

		r = json_parse(doc, strlen(doc), toks, 16);
		CHECKF(r == cases[i].n, "case %zu: %d tokens", i, r);
		CHECKF(json_parse(doc, strlen(doc), NULL, 0) == cases[i].n,
		    "case %zu: count", i);
		if (r != cases[i].n)
			continue;
		CHECK(t_tree_ok(doc, strlen(doc), toks, r));
		for (j = 0; j < r; j++) {
			const char *want = cases[i].t[j].text;

			CHECKF(toks[j].type == cases[i].t[j].type &&
			    toks[j].size == (uint32_t)cases[i].t[j].size &&
			    toks[j].next == (uint32_t)cases[i].t[j].next &&
			    toks[j].len == strlen(want) &&
			    memcmp(doc + toks[j].start, want, toks[j].len) == 0,
			    "case %zu token %d: type %d size %u next %u "
			    "'%.*s'", i, j, toks[j].type, toks[j].size,
			    toks[j].next, (int)toks[j].len,
			    doc + toks[j].start);
		}
	}
}

/* Accepted and refused texts, beyond the suite: numbers, literals,
 * whitespace, strings, UTF-8, trailing garbage. */
static void
t_accept_refuse(void)
{
	static const struct {
		const char *doc;
		size_t len;	/* 0: strlen */
		int want;	/* token count, or a JSON_ERR_ */
	} cases[] = {
		/* numbers */
		{ "0", 0, 1 }, { "-0", 0, 1 }, { "1.5", 0, 1 },
		{ "-1.5e10", 0, 1 }, { "1E+2", 0, 1 }, { "1e-2", 0, 1 },
		{ "0.0", 0, 1 }, { "0e0", 0, 1 },
		{ "123456789012345678901234567890", 0, 1 },
		{ "01", 0, JSON_ERR_SYNTAX }, { "-", 0, JSON_ERR_SYNTAX },
		{ "+1", 0, JSON_ERR_SYNTAX }, { "1.", 0, JSON_ERR_SYNTAX },
		{ ".5", 0, JSON_ERR_SYNTAX }, { "1e", 0, JSON_ERR_SYNTAX },
		{ "1e+", 0, JSON_ERR_SYNTAX }, { "-01", 0, JSON_ERR_SYNTAX },
		{ "0x1", 0, JSON_ERR_SYNTAX }, { "1.e1", 0, JSON_ERR_SYNTAX },
		{ "- 1", 0, JSON_ERR_SYNTAX }, { "Infinity", 0, JSON_ERR_SYNTAX },
		{ "NaN", 0, JSON_ERR_SYNTAX }, { "-Infinity", 0, JSON_ERR_SYNTAX },
		{ "[1,]", 0, JSON_ERR_SYNTAX }, { "[01]", 0, JSON_ERR_SYNTAX },
		/* literals */
		{ "true", 0, 1 }, { "false", 0, 1 }, { "null", 0, 1 },
		{ "True", 0, JSON_ERR_SYNTAX }, { "nul", 0, JSON_ERR_SYNTAX },
		{ "nulll", 0, JSON_ERR_SYNTAX }, { "truefalse", 0, JSON_ERR_SYNTAX },
		{ "[tru]", 0, JSON_ERR_SYNTAX },
		/* whitespace: only space, tab, LF, CR */
		{ " \t\r\n1 \t\r\n", 0, 1 }, { "\f1", 0, JSON_ERR_SYNTAX },
		{ "\v1", 0, JSON_ERR_SYNTAX }, { "\xc2\xa0" "1", 0, JSON_ERR_SYNTAX },
		{ "\xef\xbb\xbf{}", 0, JSON_ERR_SYNTAX },
		{ "", 0, JSON_ERR_SYNTAX }, { " ", 0, JSON_ERR_SYNTAX },
		/* trailing garbage */
		{ "{}x", 0, JSON_ERR_SYNTAX }, { "{} {}", 0, JSON_ERR_SYNTAX },
		{ "1 2", 0, JSON_ERR_SYNTAX }, { "\"a\"\"b\"", 0, JSON_ERR_SYNTAX },
		{ "[]]", 0, JSON_ERR_SYNTAX }, { "{}\0", 3, JSON_ERR_SYNTAX },
		{ "[1]\0", 4, JSON_ERR_SYNTAX }, { "{}}", 0, JSON_ERR_SYNTAX },
		/* structure */
		{ "{\"a\" 1}", 0, JSON_ERR_SYNTAX }, { "{1:1}", 0, JSON_ERR_SYNTAX },
		{ "{\"a\":1,}", 0, JSON_ERR_SYNTAX }, { "[1 2]", 0, JSON_ERR_SYNTAX },
		{ "[}", 0, JSON_ERR_SYNTAX }, { "{]", 0, JSON_ERR_SYNTAX },
		{ "{\"a\"}", 0, JSON_ERR_SYNTAX }, { "[,]", 0, JSON_ERR_SYNTAX },
		{ "{\"a\":}", 0, JSON_ERR_SYNTAX },
		/* string escapes */
		{ "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", 0, 1 },
		{ "\"\\u0041\\u00E9\\uFFFF\"", 0, 1 },
		{ "\"\\ud83d\\ude00\"", 0, 1 }, { "\"\\uDBFF\\uDFFF\"", 0, 1 },
		{ "\"\\x41\"", 0, JSON_ERR_SYNTAX }, { "\"\\U0041\"", 0, JSON_ERR_SYNTAX },
		{ "\"\\u00\"", 0, JSON_ERR_SYNTAX }, { "\"\\u00g0\"", 0, JSON_ERR_SYNTAX },
		{ "\"\\ud800\"", 0, JSON_ERR_SYNTAX }, { "\"\\udc00\"", 0, JSON_ERR_SYNTAX },
		{ "\"\\ud800\\u0041\"", 0, JSON_ERR_SYNTAX },
		{ "\"\\ud800\\ud800\"", 0, JSON_ERR_SYNTAX },
		{ "\"\\ude00\\ud83d\"", 0, JSON_ERR_SYNTAX },
		{ "\"\\ud800x\"", 0, JSON_ERR_SYNTAX }, { "\"\\\"", 0, JSON_ERR_SYNTAX },
		{ "\"\\'\"", 0, JSON_ERR_SYNTAX }, { "\"\\\n\"", 0, JSON_ERR_SYNTAX },
		/* raw bytes in strings */
		{ "\"a\x1f\"", 0, JSON_ERR_SYNTAX }, { "\"\t\"", 0, JSON_ERR_SYNTAX },
		{ "\"\n\"", 0, JSON_ERR_SYNTAX }, { "\"\0\"", 3, JSON_ERR_SYNTAX },
		{ "\"\x7f\"", 0, 1 }, { "\"\xc3\xa9\"", 0, 1 },
		{ "\"\xe2\x82\xac\"", 0, 1 }, { "\"\xf0\x9f\x98\x80\"", 0, 1 },
		{ "\"\xf4\x8f\xbf\xbf\"", 0, 1 }, { "\"\xed\x9f\xbf\"", 0, 1 },
		{ "\"\xee\x80\x80\"", 0, 1 },
		{ "\"\xc0\x80\"", 0, JSON_ERR_SYNTAX },	/* overlong NUL */
		{ "\"\xc1\xbf\"", 0, JSON_ERR_SYNTAX },
		{ "\"\xe0\x80\xaf\"", 0, JSON_ERR_SYNTAX },
		{ "\"\xf0\x80\x80\xaf\"", 0, JSON_ERR_SYNTAX },
		{ "\"\xed\xa0\x80\"", 0, JSON_ERR_SYNTAX },	/* U+D800 */
		{ "\"\xed\xbf\xbf\"", 0, JSON_ERR_SYNTAX },	/* U+DFFF */
		{ "\"\xf4\x90\x80\x80\"", 0, JSON_ERR_SYNTAX },	/* U+110000 */
		{ "\"\xf5\x80\x80\x80\"", 0, JSON_ERR_SYNTAX },
		{ "\"\xff\"", 0, JSON_ERR_SYNTAX }, { "\"\x80\"", 0, JSON_ERR_SYNTAX },
		{ "\"\xc3\"", 0, JSON_ERR_SYNTAX }, { "\"\xe2\x82\"", 0, JSON_ERR_SYNTAX },
		{ "\"\xc3\x28\"", 0, JSON_ERR_SYNTAX },
		{ "\"\xf0\x9f\x98\"", 0, JSON_ERR_SYNTAX },
		{ "\"\xc3", 0, JSON_ERR_SYNTAX }, { "\"abc", 0, JSON_ERR_SYNTAX },
		/* UTF-8 outside strings is not JSON either */
		{ "[\xc3\xa9]", 0, JSON_ERR_SYNTAX },
	};
	struct json_tok toks[8];
	size_t i, n;
	int r, rc;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		n = cases[i].len ? cases[i].len : strlen(cases[i].doc);
		r = t_parse(cases[i].doc, n, toks, 8);
		rc = t_parse(cases[i].doc, n, NULL, 0);
		CHECKF(r == cases[i].want && rc == r, "case %zu (%.*s): %d, "
		    "count %d, want %d", i, (int)n, cases[i].doc, r, rc,
		    cases[i].want);
	}
}

/* json_get: escaped keys, duplicates, misses, non-objects, nesting. */
static void
t_get(void)
{
	static const char doc[] = "{\"a\":1,\"b\\u0063\":2,\"\\n\":3,"
	    "\"\xc3\xa9\":4,\"\\u00e9x\":5,\"dup\":6,\"dup\":7,\"\":8,"
	    "\"o\":{\"a\":[9,{\"a\":10}],\"z\":11},\"\\\\\":12,\"\\/\":13,"
	    "\"a\\\"b\":14}";
	static const struct {
		const char *key;
		const char *val;	/* NULL: absent */
	} cases[] = {
		{ "a", "1" }, { "bc", "2" }, { "\n", "3" },
		{ "\xc3\xa9", "4" }, { "\xc3\xa9x", "5" }, { "dup", "6" },
		{ "", "8" }, { "\\", "12" }, { "/", "13" }, { "a\"b", "14" },
		{ "o", "{\"a\":[9,{\"a\":10}],\"z\":11}" },
		{ "z", NULL }, { "b", NULL }, { "bcd", NULL },
		{ "b\\u0063", NULL }, { "\\n", NULL }, { "A", NULL },
		{ "dupx", NULL }, { "1", NULL }, { "\xc3", NULL },
	};
	struct json_tok toks[64];
	size_t i;
	int n, v, o;

	n = json_parse(doc, sizeof(doc) - 1, toks, 64);
	CHECKF(n > 0, "parse: %d", n);
	if (n <= 0)
		return;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		v = json_get(doc, toks, 0, cases[i].key);
		if (cases[i].val == NULL) {
			CHECKF(v == -1, "key '%s': %d", cases[i].key, v);
			continue;
		}
		CHECKF(v > 0 && v < n &&
		    toks[v].len == strlen(cases[i].val) &&
		    memcmp(doc + toks[v].start, cases[i].val, toks[v].len) == 0,
		    "key '%s': %d", cases[i].key, v);
	}
	/* Nested lookups skip over whole subtrees of siblings. */
	o = json_get(doc, toks, 0, "o");
	CHECK(o > 0 && json_get(doc, toks, o, "z") > 0 &&
	    util_span_eq(doc + toks[json_get(doc, toks, o, "z")].start,
	    toks[json_get(doc, toks, o, "z")].len, "11"));
	CHECK(json_get(doc, toks, o, "dup") == -1);
	/* Not an object: an array, a number, a string, a bad index. */
	v = json_get(doc, toks, o, "a");
	CHECK(v > 0 && toks[v].type == JSON_ARRAY);
	CHECK(json_get(doc, toks, v, "a") == -1);
	CHECK(json_get(doc, toks, v + 1, "a") == -1);
	CHECK(json_get(doc, toks, 1, "a") == -1);
	CHECK(json_get(doc, toks, -1, "a") == -1);
	/* An empty object and a key that is a value elsewhere. */
	n = json_parse("{}", 2, toks, 64);
	CHECK(n == 1 && json_get("{}", toks, 0, "") == -1);
	n = json_parse("[\"a\",1]", 7, toks, 64);
	CHECK(n == 3 && json_get("[\"a\",1]", toks, 0, "a") == -1);
}

/* json_str, json_str_buf and json_str_eq. */
static void
t_decode(void)
{
	static const struct {
		const char *doc;
		const char *want;
		int len;	/* decoded length; the NUL case needs it */
	} cases[] = {
		{ "\"\"", "", 0 },
		{ "\"plain\"", "plain", 5 },
		{ "\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"", "a\"b\\c/d\b\f\n\r\t", 12 },
		{ "\"\\u0041\\u00e9\\u20ac\\ud83d\\ude00\"",
		    "A\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 10 },
		{ "\"\\u007F\\u0080\\u07ff\\u0800\\uFFFF\"",
		    "\x7f\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf", 11 },
		{ "\"\\ud800\\udc00\\udbff\\udfff\"",
		    "\xf0\x90\x80\x80\xf4\x8f\xbf\xbf", 8 },
		{ "\"\\u0000x\"", "\0x", 2 },
		{ "\"\xc3\xa9t\xc3\xa9 \\u00e9\"", "\xc3\xa9t\xc3\xa9 \xc3\xa9", 8 },
		{ "\"\\\\u0041\"", "\\u0041", 6 },
	};
	struct json_tok tok;
	struct buf b = { 0 };
	char out[64];
	size_t i;
	int r, L;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *doc = cases[i].doc;

		L = cases[i].len;
		CHECKF(json_parse(doc, strlen(doc), &tok, 1) == 1,
		    "case %zu parse", i);
		r = json_str(doc, &tok, out, sizeof(out));
		CHECKF(r == L && memcmp(out, cases[i].want, (size_t)L) == 0 &&
		    out[L] == '\0', "case %zu: %d", i, r);
		/* Exactly enough room (the NUL included), then one short. */
		CHECKF(json_str(doc, &tok, out, (size_t)L + 1) == L,
		    "case %zu exact", i);
		CHECKF(json_str(doc, &tok, out, (size_t)L) == -1,
		    "case %zu short", i);
		buf_reset(&b);
		buf_puts(&b, "pre");
		CHECKF(json_str_buf(doc, &tok, &b) == 0 &&
		    b.len == 3 + (size_t)L && memcmp(b.data, "pre", 3) == 0 &&
		    memcmp(b.data + 3, cases[i].want, (size_t)L) == 0,
		    "case %zu buf", i);
		/* json_str_eq sees a C string: equal only without a NUL. */
		CHECKF(json_str_eq(doc, &tok, cases[i].want) ==
		    (memchr(cases[i].want, '\0', (size_t)L) == NULL),
		    "case %zu eq", i);
		CHECK(json_tok_eq(doc, &tok, cases[i].want, (size_t)L));
	}
	CHECK(json_str("\"a\"", &tok, out, 0) == -1);

	/* Not a string. */
	CHECK(json_parse("12", 2, &tok, 1) == 1);
	CHECK(json_str("12", &tok, out, sizeof(out)) == -1);
	CHECK(json_str_buf("12", &tok, &b) == -1);
	CHECK(json_str_eq("12", &tok, "12") == 0);

	/* json_str_eq against near misses. */
	{
		static const char doc[] = "\"ab\\u0063\"";
		static const struct {
			const char *lit;
			int eq;
		} eqs[] = {
			{ "abc", 1 }, { "ab", 0 }, { "abcd", 0 }, { "abd", 0 },
			{ "", 0 }, { "ab\\u0063", 0 }, { "ABC", 0 },
		};

		CHECK(json_parse(doc, sizeof(doc) - 1, &tok, 1) == 1);
		for (i = 0; i < sizeof(eqs) / sizeof(eqs[0]); i++)
			CHECKF(json_str_eq(doc, &tok, eqs[i].lit) == eqs[i].eq,
			    "eq '%s'", eqs[i].lit);
	}
	buf_free(&b);
}

/*
 * Every code point, raw and as escapes, decodes to its UTF-8 form; every
 * surrogate as raw UTF-8 is refused. One CHECK each, counting mismatches.
 */
static void
t_code_points(void)
{
	char doc[32], want[4], out[8];
	struct json_tok tok;
	long cp;
	int bad_raw = 0, bad_esc = 0, bad_sur = 0, n, wn;

	for (cp = 1; cp <= 0x10ffff; cp++) {
		if (cp < 0x80) {
			want[0] = (char)cp;
			wn = 1;
		} else if (cp < 0x800) {
			want[0] = (char)(0xc0 | (cp >> 6));
			want[1] = (char)(0x80 | (cp & 0x3f));
			wn = 2;
		} else if (cp < 0x10000) {
			want[0] = (char)(0xe0 | (cp >> 12));
			want[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
			want[2] = (char)(0x80 | (cp & 0x3f));
			wn = 3;
		} else {
			want[0] = (char)(0xf0 | (cp >> 18));
			want[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
			want[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
			want[3] = (char)(0x80 | (cp & 0x3f));
			wn = 4;
		}
		/* raw */
		doc[0] = '"';
		memcpy(doc + 1, want, (size_t)wn);
		doc[wn + 1] = '"';
		n = json_parse(doc, (size_t)wn + 2, &tok, 1);
		if (cp >= 0xd800 && cp <= 0xdfff) {
			if (n >= 0)
				bad_sur++;
			continue;
		}
		if (cp >= 0x20 && cp != '"' && cp != '\\') {
			if (n != 1 || json_str(doc, &tok, out, sizeof(out)) !=
			    wn || memcmp(out, want, (size_t)wn) != 0)
				bad_raw++;
		} else if (n >= 0 && cp < 0x20) {
			bad_raw++;
		}
		/* escaped */
		if (cp < 0x10000)
			n = snprintf(doc, sizeof(doc), "\"\\u%04lx\"", cp);
		else
			n = snprintf(doc, sizeof(doc), "\"\\u%04lX\\u%04lx\"",
			    0xd800 + ((cp - 0x10000) >> 10),
			    0xdc00 + ((cp - 0x10000) & 0x3ff));
		if (json_parse(doc, (size_t)n, &tok, 1) != 1 ||
		    json_str(doc, &tok, out, sizeof(out)) != wn ||
		    memcmp(out, want, (size_t)wn) != 0)
			bad_esc++;
	}
	CHECKF(bad_raw == 0, "%d raw code points", bad_raw);
	CHECKF(bad_esc == 0, "%d escaped code points", bad_esc);
	CHECKF(bad_sur == 0, "%d raw surrogates accepted", bad_sur);
}

/* Depth exactly at the limit and one past, for arrays and objects. */
static void
t_depth(void)
{
	static char doc[4 * (JSON_MAX_DEPTH + 2) * 8];
	static struct json_tok toks[2 * JSON_MAX_DEPTH + 4];
	size_t n, k;
	int d, r;

	for (d = JSON_MAX_DEPTH; d <= JSON_MAX_DEPTH + 1; d++) {
		int want = d <= JSON_MAX_DEPTH ? d : JSON_ERR_DEPTH;

		/* [[[...]]] */
		n = 0;
		for (k = 0; k < (size_t)d; k++)
			doc[n++] = '[';
		for (k = 0; k < (size_t)d; k++)
			doc[n++] = ']';
		r = t_parse(doc, n, toks, sizeof(toks) / sizeof(toks[0]));
		CHECKF(r == want, "arrays %d: %d", d, r);
		CHECK(t_parse(doc, n, NULL, 0) == want);
		if (r == want && r > 0)
			CHECK(toks[d - 1].type == JSON_ARRAY &&
			    toks[d - 1].size == 0 && toks[0].next == (uint32_t)d &&
			    toks[0].len == n);
		/* unclosed: deeper than the limit is the error, not the end */
		r = t_parse(doc, (size_t)d, NULL, 0);
		CHECK(r == (d <= JSON_MAX_DEPTH ? JSON_ERR_SYNTAX :
		    JSON_ERR_DEPTH));
		/* {"a":{"a":...[1]...}}: objects and arrays share the count */
		n = 0;
		for (k = 0; k + 1 < (size_t)d; k++) {
			memcpy(doc + n, "{\"a\":", 5);
			n += 5;
		}
		memcpy(doc + n, "[1]", 3);
		n += 3;
		for (k = 0; k + 1 < (size_t)d; k++)
			doc[n++] = '}';
		r = t_parse(doc, n, toks, sizeof(toks) / sizeof(toks[0]));
		want = d <= JSON_MAX_DEPTH ? 2 * (d - 1) + 2 : JSON_ERR_DEPTH;
		CHECKF(r == want, "objects %d: %d", d, r);
	}
	/* Depth 64 in the middle of a wider document, then back to 0. */
	n = 0;
	doc[n++] = '[';
	for (k = 0; k < JSON_MAX_DEPTH - 1; k++)
		doc[n++] = '[';
	for (k = 0; k < JSON_MAX_DEPTH - 1; k++)
		doc[n++] = ']';
	memcpy(doc + n, ",[[]]]", 6);
	n += 6;
	CHECK(t_parse(doc, n, NULL, 0) == JSON_MAX_DEPTH + 2);
}

/* max tokens: exactly enough, one short; syntax errors still win. */
static void
t_max_tokens(void)
{
	static const char *docs[] = {
		"{\"a\":[1,2,{\"b\":null}],\"c\":\"d\"}",
		"[[],[[]],{}]",
		"1",
		"\"x\"",
		"[1,2,3,4,5,6,7,8,9,10]",
	};
	struct json_tok toks[32], ref[32];
	size_t i, m;
	int n, r, j, same;

	for (i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		const char *doc = docs[i];
		size_t len = strlen(doc);

		n = json_parse(doc, len, NULL, 0);
		CHECKF(n > 0 && json_parse(doc, len, ref, 32) == n,
		    "doc %zu: count %d", i, n);
		if (n <= 0)
			continue;
		for (m = 0; m <= (size_t)n + 1; m++) {
			memset(toks, 0xa5, sizeof(toks));
			r = json_parse(doc, len, toks, m);
			if (m < (size_t)n) {
				CHECKF(r == JSON_ERR_NOMEM, "doc %zu max %zu: "
				    "%d", i, m, r);
				/* nothing written past max */
				CHECK(m >= 32 || toks[m].start == 0xa5a5a5a5);
				continue;
			}
			CHECKF(r == n, "doc %zu max %zu: %d", i, m, r);
			same = 1;
			for (j = 0; j < n; j++)
				if (toks[j].start != ref[j].start ||
				    toks[j].len != ref[j].len ||
				    toks[j].size != ref[j].size ||
				    toks[j].next != ref[j].next ||
				    toks[j].type != ref[j].type)
					same = 0;
			CHECKF(same, "doc %zu max %zu: layout differs", i, m);
		}
	}
	/* Too few tokens, but the text is not JSON anyway: say so. */
	CHECK(json_parse("[1,2,3,]", 8, toks, 1) == JSON_ERR_SYNTAX);
	CHECK(json_parse("[1,2,3] x", 9, toks, 1) == JSON_ERR_SYNTAX);
	CHECK(json_parse("[1,2,3]", 7, toks, 0) == JSON_ERR_NOMEM);
	/* Counting mode ignores max. */
	CHECK(json_parse("[1,2,3]", 7, NULL, 0) == 4);
	CHECK(json_parse("[1,2,3]", 7, NULL, 1) == 4);
}

/* Every proper prefix of a document whose value is an object or array is
 * refused; the whole is accepted; one byte more (garbage) is refused. */
static void
t_prefixes(void)
{
	static const char *docs[] = {
		("{\"a\":[1,-2.5e+10,{\"b\":null}],\"c\":\"x\\\"y\\u00e9\\ud83d"
		    "\\ude00\",\"d\":{},\"e\":true,\"f\":false,\"g\":0}"),
		"[[],[[]],{},\"\xe2\x82\xac\",123,0.5,1e5]",
		" [ \"\\\\\" , null ] ",
		"{\"\":\"\"}",
		"\"\\u00e9 \xf0\x9f\x98\x80\"",
	};
	size_t i, k, len;
	int whole, bad;
	char *tmp;

	for (i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		len = strlen(docs[i]);
		whole = t_parse(docs[i], len, NULL, 0);
		CHECKF(whole > 0, "doc %zu: %d", i, whole);
		bad = 0;
		/* Trailing whitespace would make shorter prefixes valid:
		 * stop before it. */
		while (len > 0 && docs[i][len - 1] == ' ')
			len--;
		for (k = 0; k < len; k++)
			if (t_parse(docs[i], k, NULL, 0) != JSON_ERR_SYNTAX)
				bad++;
		CHECKF(bad == 0, "doc %zu: %d prefixes accepted", i, bad);
		tmp = malloc(len + 1);
		if (tmp == NULL)
			continue;
		memcpy(tmp, docs[i], len);
		tmp[len] = ',';
		CHECK(json_parse(tmp, len + 1, NULL, 0) == JSON_ERR_SYNTAX);
		free(tmp);
	}
}

/* The encoder: exact output for the escapes, round trips for tricky input. */
static void
t_encode(void)
{
	static const struct {
		const char *in;
		size_t len;	/* 0: strlen */
		const char *out;
	} exact[] = {
		{ "", 0, "\"\"" },
		{ "plain text", 0, "\"plain text\"" },
		{ "a\"b\\c/d", 0, "\"a\\\"b\\\\c/d\"" },
		{ "\b\f\n\r\t", 0, "\"\\b\\f\\n\\r\\t\"" },
		{ "\x01\x1f\x7f", 0, "\"\\u0001\\u001f\x7f\"" },
		{ "\0a", 2, "\"\\u0000a\"" },
		{ "\xc3\xa9\xe2\x80\xa8\xf0\x9f\x98\x80", 0,
		    "\"\xc3\xa9\xe2\x80\xa8\xf0\x9f\x98\x80\"" },
		/* not UTF-8: each bad byte becomes U+FFFD */
		{ "a\xff" "b", 0, "\"a\\ufffdb\"" },
		{ "\xc3", 0, "\"\\ufffd\"" },
		{ "\xe2\x82", 0, "\"\\ufffd\\ufffd\"" },
		{ "\xed\xa0\x80", 0, "\"\\ufffd\\ufffd\\ufffd\"" },
		{ "\xc0\x80", 0, "\"\\ufffd\\ufffd\"" },
	};
	static const char *trips[] = {
		"", "\"", "\\", "\\\"", "\"\\\"\\", "\\u0041", "/", "</script>",
		"\xe2\x80\xa8\xe2\x80\xa9", "\xef\xbf\xbf", "\xf4\x8f\xbf\xbf",
		"tab\there", "{\"json\": [1, 2]}",
	};
	struct json_tok tok;
	struct buf b = { 0 };
	char all[128], out[512];
	size_t i, n;
	int r;

	for (i = 0; i < sizeof(exact) / sizeof(exact[0]); i++) {
		n = exact[i].len ? exact[i].len : strlen(exact[i].in);
		buf_reset(&b);
		r = json_put_str(&b, exact[i].in, n);
		CHECKF(r == 0 && b.len == strlen(exact[i].out) &&
		    memcmp(b.data, exact[i].out, b.len) == 0,
		    "case %zu: %s", i, b.data != NULL ? b.data : "(null)");
		/* and it is JSON */
		CHECKF(json_parse(b.data, b.len, &tok, 1) == 1,
		    "case %zu parse", i);
	}
	/* Round trips: every byte 0-127 in one string, then tricky strings. */
	for (i = 0; i < 128; i++)
		all[i] = (char)i;
	for (i = 0; i <= sizeof(trips) / sizeof(trips[0]); i++) {
		const char *in = i < sizeof(trips) / sizeof(trips[0]) ?
		    trips[i] : all;

		n = in == all ? sizeof(all) : strlen(in);
		buf_reset(&b);
		r = json_put_str(&b, in, n);
		CHECKF(r == 0 && json_parse(b.data, b.len, &tok, 1) == 1 &&
		    json_str(b.data, &tok, out, sizeof(out)) == (int)n &&
		    memcmp(out, in, n) == 0 && json_tok_eq(b.data, &tok, in, n),
		    "round trip %zu", i);
	}
	/* Appends after what is there; NULL is null. */
	buf_reset(&b);
	CHECK(json_put_cstr(&b, "k") == 0 && buf_puts(&b, ":") == 0 &&
	    json_put_cstr(&b, NULL) == 0 && strcmp(b.data, "\"k\":null") == 0);
	buf_free(&b);
}

/*
 * Text bound for a terminal (json_term_text, json_term_json): C0, DEL, C1
 * (U+0080-U+009F), bidi overrides and isolates and bytes that are not
 * UTF-8 never pass as they are; other characters, and JSON's whitespace in
 * JSON, do.
 */
static void
t_term(void)
{
	static const struct {
		const char *in;
		const char *text;	/* json_term_text */
		const char *json;	/* json_term_json */
	} cases[] = {
		{ "plain", "plain", "plain" },
		{ "", "", "" },
		{ "a\x1b[2Jb", "a?[2Jb", "a\\u001b[2Jb" },
		{ "\x7f\t\n\r", "????", "\\u007f\t\n\r" },
		{ "\xc2\x9b" "31m", "?31m", "\\u009b31m" },	/* U+009B CSI */
		{ "\xc2\x80\xc2\x9f\xc2\xa0", "??\xc2\xa0",
		    "\\u0080\\u009f\xc2\xa0" },	/* C1 ends at U+009F */
		{ "\xe2\x80\xaa\xe2\x80\xae\xe2\x80\xaf", "??\xe2\x80\xaf",
		    "\\u202a\\u202e\xe2\x80\xaf" },	/* U+202A-U+202E */
		{ "\xe2\x81\xa5\xe2\x81\xa6\xe2\x81\xa9\xe2\x81\xaa",
		    "\xe2\x81\xa5??\xe2\x81\xaa",
		    "\xe2\x81\xa5\\u2066\\u2069\xe2\x81\xaa" },	/* U+2066-9 */
		{ "Z\xc3\xbcrich \xe6\xbc\xa2 \xf0\x9f\x98\x80",
		    "Z\xc3\xbcrich \xe6\xbc\xa2 \xf0\x9f\x98\x80",
		    "Z\xc3\xbcrich \xe6\xbc\xa2 \xf0\x9f\x98\x80" },
		/* not UTF-8: a byte at a time */
		{ "a\xff" "b\xc2", "a?b?", "a?b?" },
		{ "\xc0\x9b", "??", "??" },		/* overlong CSI */
		{ "\xed\xa0\x80", "???", "???" },	/* a surrogate */
	};
	struct buf b = { 0 };
	char s[64];
	size_t i, n;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(s, sizeof(s), "%s", cases[i].in);
		n = json_term_text(s, strlen(s));
		CHECKF(n == strlen(cases[i].text) &&
		    memcmp(s, cases[i].text, n) == 0, "text case %zu", i);
		buf_reset(&b);
		CHECKF(json_term_json(&b, cases[i].in, strlen(cases[i].in)) ==
		    0 && b.len == strlen(cases[i].json) && (b.len == 0 ||
		    memcmp(b.data, cases[i].json, b.len) == 0),
		    "json case %zu: %.*s", i, (int)b.len, b.data != NULL ?
		    b.data : "");
	}
	/* Through json_term_json, JSON stays the same JSON. */
	buf_reset(&b);
	{
		static const char doc[] = "{\"n\": \"a\xc2\x9b" "b\xe2\x80\xae"
		    "\", \"k\": [1, \"\\u001b\"]}";
		struct json_tok tok[8];
		char v[16];
		int nt;

		CHECK(json_term_json(&b, doc, strlen(doc)) == 0);
		nt = json_parse(b.data, b.len, tok, 8);
		CHECK(nt > 0 && json_str(b.data, &tok[json_get(b.data, tok, 0,
		    "n")], v, sizeof(v)) == 7 && memcmp(v, "a\xc2\x9b"
		    "b\xe2\x80\xae", 7) == 0);
	}
	buf_free(&b);
}

/*
 * Mutations of a few documents (deterministic pseudo-random byte changes,
 * cuts and insertions): never a crash, counting and filling agree, and every
 * accepted text has a consistent tree.
 */
static void
t_mutations(void)
{
	static const char *seeds[] = {
		("{\"a\":[1,-2.5e+10,{\"b\":null}],\"c\":\"x\\\"y\\u00e9\\ud83d"
		    "\\ude00\",\"d\":{},\"e\":true,\"f\":false,\"g\":0}"),
		"[[],[[]],{},\"\xe2\x82\xac\",123,0.5,1e5]",
	};
	static const char alphabet[] = "{}[]\",:\\u0e1-+. tfn\xc3\xa9\xed\xf4";
	struct json_tok toks[64];
	char buf[128];
	uint32_t x = 12345;
	size_t len, k;
	int i, j, rc, rf, bad = 0, ok = 0;

	for (i = 0; i < 40000; i++) {
		const char *seed = seeds[i % 2];

		len = strlen(seed);
		memcpy(buf, seed, len);
		for (j = 0; j < 1 + i % 3; j++) {
			x = x * 1103515245u + 12345u;
			k = (x >> 8) % len;
			switch ((x >> 4) % 3) {
			case 0:
				buf[k] = alphabet[(x >> 16) %
				    (sizeof(alphabet) - 1)];
				break;
			case 1:
				len = k;	/* cut */
				break;
			default:
				if (len + 1 < sizeof(buf)) {
					memmove(buf + k + 1, buf + k, len - k);
					buf[k] = (char)(x >> 24);
					len++;
				}
				break;
			}
			if (len == 0)
				break;
		}
		rc = t_parse(buf, len, NULL, 0);
		rf = t_parse(buf, len, toks, 64);
		if (rc != rf)
			bad++;
		else if (rf > 0 && (!t_tree_ok(buf, len, toks, rf) ||
		    t_strings_round_trip(buf, toks, rf) != 0))
			bad++;
		if (rf > 0)
			ok++;
	}
	CHECKF(bad == 0, "%d mutations misjudged", bad);
	CHECK(ok > 0);
}

/* A text of pre, then n copies of open, then mid, n copies of close, post
 * (malloc'd, length in *len), for nesting past any depth limit. */
static char *
t_nest(const char *pre, const char *open, const char *mid, const char *close,
    const char *post, size_t n, size_t *len)
{
	size_t lp = strlen(pre), lo = strlen(open), lm = strlen(mid);
	size_t lc = strlen(close), lq = strlen(post), i, o = 0;
	char *s = malloc(lp + n * (lo + lc) + lm + lq + 1);

	if (s == NULL)
		return NULL;
	memcpy(s + o, pre, lp), o += lp;
	for (i = 0; i < n; i++)
		memcpy(s + o, open, lo), o += lo;
	memcpy(s + o, mid, lm), o += lm;
	for (i = 0; i < n; i++)
		memcpy(s + o, close, lc), o += lc;
	memcpy(s + o, post, lq), o += lq;
	*len = o;
	return s;
}

/* json_member_false: any top-level member of that name being false, at
 * any nesting of the other values; the same verdict as json_parse on what is
 * an object. */
static void
t_member_false(void)
{
	static const struct {
		const char *text;
		int want;
	} cases[] = {
		{ "{\"ack\":false}", 1 },
		{ " \t\r\n{ \"ack\" : false } \n", 1 },
		{ "{\"ack\":true}", 0 },
		{ "{}", 0 },
		{ " { } ", 0 },
		/* Duplicates: any false one counts, first or last. */
		{ "{\"ack\":true,\"ack\":false}", 1 },
		{ "{\"ack\":false,\"ack\":true}", 1 },
		{ "{\"ack\":true,\"ack\":true}", 0 },
		/* Only top-level members count. */
		{ "{\"ok\":1,\"a\":{\"ack\":false}}", 0 },
		{ "{\"a\":[\"ack\",false],\"b\":\"\\\"ack\\\":false\"}", 0 },
		/* Keys compare decoded; values only as the literal. */
		{ "{\"\\u0061ck\":false}", 1 },
		{ "{\"ack \":false}", 0 },
		{ "{\"Ack\":false}", 0 },
		{ "{\"ack\":\"false\"}", 0 },
		{ "{\"ack\":0}", 0 },
		{ "{\"ack\":null}", 0 },
		{ "{\"ack\":[false]}", 0 },
		{ "{\"x\":{\"y\":[1,2.5e-3,\"}]\",null,true]},\"ack\":false}", 1 },
		/* Not one JSON object. */
		{ "", JSON_ERR_SYNTAX },
		{ "[{\"ack\":false}]", JSON_ERR_SYNTAX },
		{ "\"ack\"", JSON_ERR_SYNTAX },
		{ "false", JSON_ERR_SYNTAX },
		{ "{\"ack\":false", JSON_ERR_SYNTAX },
		{ "{\"ack\":false,}", JSON_ERR_SYNTAX },
		{ "{\"ack\":false}{}", JSON_ERR_SYNTAX },
		{ "{\"ack\":false} x", JSON_ERR_SYNTAX },
		{ "{\"ack\":fals}", JSON_ERR_SYNTAX },
		{ "{\"ack\":falsee}", JSON_ERR_SYNTAX },
		{ "{\"ack\" false}", JSON_ERR_SYNTAX },
		{ "{ack:false}", JSON_ERR_SYNTAX },
		{ "{\"ack\":false,\"a\":[1,]}", JSON_ERR_SYNTAX },
		{ "{\"ack\":false,\"a\":[1 2]}", JSON_ERR_SYNTAX },
		{ "{\"ack\":false,\"a\":[}", JSON_ERR_SYNTAX },
		{ "{\"ack\":false,\"a\":\"\\x\"}", JSON_ERR_SYNTAX },
		{ "{\"ack\":false,\"a\":\"\xff\"}", JSON_ERR_SYNTAX },
		{ "{\"ack\":false,\"a\":[\"\xc0\xaf\"]}", JSON_ERR_SYNTAX },
		{ "{\"ack\":false,\"a\":01}", JSON_ERR_SYNTAX },
		{ "{\"ack\":false,\"a\":[NaN]}", JSON_ERR_SYNTAX },
		{ "{\"ack\":false,\"a\":[tru]}", JSON_ERR_SYNTAX },
		{ "{\"ack\":false,\"a\":x}", JSON_ERR_SYNTAX },
		{ "{\"ack\":false\f}", JSON_ERR_SYNTAX },
	};
	/* Nested far past JSON_MAX_DEPTH: the depth of the other values
	 * does not hide a top-level member, nor make the body "not JSON". */
	static const struct {
		const char *pre, *open, *mid, *close, *post;
		int want;
	} deep[] = {
		{ "{\"ack\":false,\"d\":", "[", "", "]", "}", 1 },
		{ "{\"d\":", "[", "", "]", ",\"ack\":false}", 1 },
		{ "{\"d\":", "{\"a\":", "1", "}", ",\"ack\":false}", 1 },
		{ "{\"d\":", "[\"]\",", "\"[\"", "]", ",\"ack\":false}", 1 },
		{ "{\"ack\":true,\"d\":", "[", "", "]", "}", 0 },
		{ "{\"d\":", "{\"ack\":", "false", "}", "}", 0 },
		/* Unbalanced or with bytes JSON does not allow. */
		{ "{\"ack\":false,\"d\":", "[", "", "]", "]}", JSON_ERR_SYNTAX },
		{ "{\"ack\":false,\"d\":[", "[", "", "]", "}", JSON_ERR_SYNTAX },
		{ "{\"ack\":false,\"d\":", "[", "x", "]", "}", JSON_ERR_SYNTAX },
		{ "{\"ack\":false,\"d\":", "[", "\"\xff\"", "]", "}",
		    JSON_ERR_SYNTAX },
	};
	static const size_t depths[] = { JSON_MAX_DEPTH - 1, JSON_MAX_DEPTH,
	    JSON_MAX_DEPTH + 1, 5000, 200000 };
	size_t i, j, len;
	char *c;
	int r;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		len = strlen(cases[i].text);
		c = unit_dup(cases[i].text, len);
		r = c != NULL ? json_member_false(c, len, "ack") : -100;
		CHECKF(r == cases[i].want, "'%s': %d, want %d", cases[i].text,
		    r, cases[i].want);
		/* Whatever the parser takes for an object, so does the scan. */
		CHECKF((r >= 0) == (c != NULL && json_parse(c, len, NULL, 0) >= 1
		    && cases[i].text[json_ws((const unsigned char *)c, len, 0)]
		    == '{'), "'%s': scan and parse disagree", cases[i].text);
		free(c);
	}
	for (i = 0; i < sizeof(deep) / sizeof(deep[0]); i++)
		for (j = 0; j < sizeof(depths) / sizeof(depths[0]); j++) {
			c = t_nest(deep[i].pre, deep[i].open, deep[i].mid,
			    deep[i].close, deep[i].post, depths[j], &len);
			r = c != NULL ? json_member_false(c, len, "ack") : -100;
			CHECKF(r == deep[i].want, "deep %zu at %zu: %d, want %d",
			    i, depths[j], r, deep[i].want);
			free(c);
		}
	/* A NUL byte is no JSON byte, and the scan never reads past len. */
	CHECK(json_member_false("{\"ack\":false,\"a\":[\0]}", 21, "ack") ==
	    JSON_ERR_SYNTAX);
	CHECK(json_member_false("{\"ack\":false}", 12, "ack") ==
	    JSON_ERR_SYNTAX);
}

/* The word-at-a-time run of plain bytes agrees with the class table for
 * every byte value at every offset of a word and of the bytewise tail. */
static void
t_ok_run(void)
{
	unsigned char buf[24];
	size_t k, n, bad = 0;
	unsigned v;

	for (v = 0; v < 256; v++) {
		for (k = 0; k < sizeof(buf); k++) {
			memset(buf, 'a', sizeof(buf));
			buf[k] = (unsigned char)v;
			n = json_ok_run(buf, sizeof(buf));
			if (n != (json_class[v] == JC_OK ? sizeof(buf) : k))
				bad++;
			/* The bound is kept: a run stops at n. */
			if (json_ok_run(buf, k) != k)
				bad++;
		}
	}
	CHECKF(bad == 0, "json_ok_run disagrees with json_class %zu times", bad);
	/* Two special bytes in one word: the first counts. */
	memcpy(buf, "abc\"de\\fghijklmnop", 19);
	CHECK(json_ok_run(buf, 19) == 3);
	/* Words mixing bytes next to the edges (0x1f/0x20, 0x7f/0x80, the
	 * quote and backslash and their neighbours), where the word test's
	 * borrows could flag a byte that is plain: the run still ends at the
	 * first byte the table calls special. */
	{
		static const unsigned char pick[] = { 0x00, 0x01, 0x1f, 0x20,
		    0x21, '"', 0x23, 0x5b, '\\', 0x5d, 0x7e, 0x7f, 0x80, 0xff,
		    'a', 'a', 'a', 'a', 'a', 'a' };
		uint32_t r = 12345;
		size_t t, want;

		bad = 0;
		for (t = 0; t < 200000; t++) {
			for (k = 0; k < sizeof(buf); k++) {
				r = r * 1103515245u + 12345u;
				buf[k] = pick[(r >> 16) % sizeof(pick)];
			}
			for (want = 0; want < sizeof(buf) &&
			    json_class[buf[want]] == JC_OK; want++)
				;
			if (json_ok_run(buf, sizeof(buf)) != want)
				bad++;
		}
		CHECKF(bad == 0, "json_ok_run ends elsewhere than the table "
		    "%zu times", bad);
	}
}

void
test_json(void)
{
	t_ok_run();
	t_suite();
	t_layout();
	t_accept_refuse();
	t_get();
	t_decode();
	t_code_points();
	t_depth();
	t_max_tokens();
	t_prefixes();
	t_encode();
	t_term();
	t_mutations();
	t_member_false();
}
