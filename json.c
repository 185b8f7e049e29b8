/*
 * json: the strict RFC 8259 parser (tokens are spans into the caller's buffer,
 * nothing is allocated), string decoding for those tokens, and the escaping
 * string encoder every JSON answer of hookd goes through.
 */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "util.h"

/*
 * Limits. JSON_MAX_DEPTH (json.h) bounds the explicit stack below, so hostile
 * nesting cannot grow anything. Spans are uint32_t, so inputs of
 * JSON_MAX_INPUT bytes or more are refused instead of silently truncating an
 * offset; and a return value is an int, so a text needing more than INT_MAX
 * tokens is refused instead of overflowing the count.
 */
#define JSON_MAX_INPUT	((size_t)UINT32_MAX - 1)

/* Scanner result meaning "not valid": no real offset can be SIZE_MAX. */
#define JSON_BAD	SIZE_MAX

/*
 * Byte classes inside a string, looked up once per byte so that the common
 * case (printable ASCII) costs one load and one compare in a tight loop,
 * which matters because 1 MiB event bodies are parsed on every ingest.
 */
enum {
	JC_OK,		/* printable ASCII other than '"' and '\\', and DEL */
	JC_QUOTE,	/* '"' */
	JC_BSLASH,	/* '\\' */
	JC_CTRL,	/* 0x00-0x1f: must be escaped (RFC 8259 §7) */
	JC_HIGH		/* 0x80-0xff: start of a UTF-8 sequence, or invalid */
};

#define JC_CTRL16 JC_CTRL, JC_CTRL, JC_CTRL, JC_CTRL, JC_CTRL, JC_CTRL, \
	JC_CTRL, JC_CTRL, JC_CTRL, JC_CTRL, JC_CTRL, JC_CTRL, JC_CTRL, \
	JC_CTRL, JC_CTRL, JC_CTRL
#define JC_OK16 JC_OK, JC_OK, JC_OK, JC_OK, JC_OK, JC_OK, JC_OK, JC_OK, \
	JC_OK, JC_OK, JC_OK, JC_OK, JC_OK, JC_OK, JC_OK, JC_OK
#define JC_HIGH16 JC_HIGH, JC_HIGH, JC_HIGH, JC_HIGH, JC_HIGH, JC_HIGH, \
	JC_HIGH, JC_HIGH, JC_HIGH, JC_HIGH, JC_HIGH, JC_HIGH, JC_HIGH, \
	JC_HIGH, JC_HIGH, JC_HIGH

static const uint8_t json_class[256] = {
	JC_CTRL16, JC_CTRL16,
	/* 0x20-0x2f: '"' is 0x22 */
	JC_OK, JC_OK, JC_QUOTE, JC_OK, JC_OK, JC_OK, JC_OK, JC_OK,
	JC_OK, JC_OK, JC_OK, JC_OK, JC_OK, JC_OK, JC_OK, JC_OK,
	JC_OK16, JC_OK16,
	/* 0x50-0x5f: '\\' is 0x5c */
	JC_OK, JC_OK, JC_OK, JC_OK, JC_OK, JC_OK, JC_OK, JC_OK,
	JC_OK, JC_OK, JC_OK, JC_OK, JC_BSLASH, JC_OK, JC_OK, JC_OK,
	JC_OK16, JC_OK16,
	JC_HIGH16, JC_HIGH16, JC_HIGH16, JC_HIGH16,
	JC_HIGH16, JC_HIGH16, JC_HIGH16, JC_HIGH16
};

/*
 * Length of the well-formed UTF-8 sequence at p (n > 0 bytes available), or 0
 * when it is not one (Unicode Table 3-7): overlong forms, UTF-16 surrogates
 * and code points past U+10FFFF are refused, because a filter or a receiver
 * that decodes them differently from us could be fooled by them.
 */
static size_t
json_utf8_len(const unsigned char *p, size_t n)
{
	unsigned char c = p[0], lo = 0x80, hi = 0xbf;

	if (c < 0x80)
		return 1;
	if (c < 0xc2)
		return 0;
	if (c < 0xe0)
		return n >= 2 && (p[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c < 0xf0) {
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
		return n >= 3 && p[1] >= lo && p[1] <= hi &&
		    (p[2] & 0xc0) == 0x80 ? 3 : 0;
	}
	if (c < 0xf5) {
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
		return n >= 4 && p[1] >= lo && p[1] <= hi &&
		    (p[2] & 0xc0) == 0x80 && (p[3] & 0xc0) == 0x80 ? 4 : 0;
	}
	return 0;
}

/* The code point of the well-formed sequence at p, k bytes long (k from
 * json_utf8_len). */
static uint32_t
json_utf8_cp(const unsigned char *p, size_t k)
{
	static const unsigned char lead[5] = { 0, 0x7f, 0x1f, 0x0f, 0x07 };
	uint32_t cp = p[0] & lead[k];
	size_t i;

	for (i = 1; i < k; i++)
		cp = cp << 6 | (p[i] & 0x3f);
	return cp;
}

/* 1 when a terminal acts on code point cp (json_term_text's list). */
static int
json_term_unsafe(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) ||
	    (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

size_t
json_term_text(char *s, size_t n)
{
	unsigned char *p = (unsigned char *)s;
	size_t i = 0, o = 0, k;

	while (i < n) {
		k = json_utf8_len(p + i, n - i);
		if (k == 0 || json_term_unsafe(json_utf8_cp(p + i, k))) {
			p[o++] = '?';
			i += k == 0 ? 1 : k;
			continue;
		}
		memmove(p + o, p + i, k);
		o += k;
		i += k;
	}
	return o;
}

int
json_term_json(struct buf *b, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, run, k;
	uint32_t cp;

	while (i < n) {
		for (run = i; i < n; i += k) {
			k = json_utf8_len(p + i, n - i);
			if (k == 0)
				break;
			cp = json_utf8_cp(p + i, k);
			if (json_term_unsafe(cp) && cp != '\t' && cp != '\n' &&
			    cp != '\r')
				break;
		}
		if (buf_append(b, s + run, i - run) != 0)
			return -1;
		if (i >= n)
			break;
		if (k == 0) {
			i++;
			if (buf_puts(b, "?") != 0)
				return -1;
		} else {
			i += k;
			if (buf_printf(b, "\\u%04x", (unsigned)cp) != 0)
				return -1;
		}
	}
	return b->oom ? -1 : 0;
}

/* The four hex digits at p (n bytes available) as 0-0xffff, or -1. */
static long
json_hex4(const unsigned char *p, size_t n)
{
	long v = 0;
	size_t i;

	if (n < 4)
		return -1;
	for (i = 0; i < 4; i++) {
		int d = util_hex_digit(p[i], 0);

		if (d < 0)
			return -1;
		v = v * 16 + d;
	}
	return v;
}

/*
 * The code point of the \u escape (or surrogate pair of escapes) at p, where
 * p[0] == '\\' and p[1] == 'u', with n bytes available; *used gets the bytes
 * it takes (6 or 12). -1 when malformed. Lone surrogates are refused: they
 * cannot be turned into UTF-8, so accepting them would make json_str lossy.
 */
static long
json_unicode_escape(const unsigned char *p, size_t n, size_t *used)
{
	long hi, lo;

	hi = json_hex4(p + 2, n - 2);
	if (hi < 0 || (hi >= 0xdc00 && hi <= 0xdfff))
		return -1;
	if (hi < 0xd800 || hi > 0xdbff) {
		*used = 6;
		return hi;
	}
	if (n < 12 || p[6] != '\\' || p[7] != 'u')
		return -1;
	lo = json_hex4(p + 8, n - 8);
	if (lo < 0xdc00 || lo > 0xdfff)
		return -1;
	*used = 12;
	return 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
}

/*
 * The length of the run of JC_OK bytes at the start of p[0..n). Eight bytes
 * at a time while none of them is special, then byte by byte through the
 * class table, which stays the one definition of JC_OK: the word test only
 * says "all eight are JC_OK" when the table would. The scan of strings and
 * the escaping encoder spend most of an ingest here (callgrind, issue 12).
 */
static size_t
json_ok_run(const unsigned char *p, size_t n)
{
	const uint64_t ones = 0x0101010101010101u, high = 0x8080808080808080u;
	size_t i = 0;
	uint64_t x, m;

	/*
	 * (v - ones) & ~v & high is nonzero exactly when a byte of v is zero,
	 * and (x - 0x20 * ones) & ~x & high when a byte of x is below 0x20;
	 * or'ing x itself in flags the bytes >= 0x80, and with those ruled
	 * out ~x, ~(x ^ '"') and ~(x ^ '\\') all have every high bit set.
	 */
	while (n - i >= 8) {
		memcpy(&x, p + i, 8);
		m = ((x - 0x20 * ones) | ((x ^ ('"' * ones)) - ones) |
		    ((x ^ ('\\' * ones)) - ones) | x) & high;
		if (m != 0) {
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && \
    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
			/*
			 * Borrows run from low bytes to high ones and no byte
			 * below the first special one makes one, so the
			 * lowest flagged byte (the first in memory here) is
			 * exactly the first special byte; flags above it may
			 * be false, and are not looked at.
			 */
			return i + (size_t)__builtin_ctzll(m) / 8;
#else
			break;
#endif
		}
		i += 8;
	}
	while (i < n && json_class[p[i]] == JC_OK)
		i++;
	return i;
}

/*
 * Scan a string's contents from pos (just after the opening quote). Returns
 * the offset of the closing quote, or JSON_BAD when the string is unterminated,
 * holds a raw control character, an invalid escape or invalid UTF-8.
 */
static size_t
json_scan_string(const unsigned char *p, size_t len, size_t pos)
{
	size_t n;

	for (;;) {
		pos += json_ok_run(p + pos, len - pos);
		if (pos >= len)
			return JSON_BAD;
		switch (json_class[p[pos]]) {
		case JC_QUOTE:
			return pos;
		case JC_HIGH:
			n = json_utf8_len(p + pos, len - pos);
			if (n == 0)
				return JSON_BAD;
			pos += n;
			break;
		case JC_BSLASH:
			if (len - pos < 2)
				return JSON_BAD;
			switch (p[pos + 1]) {
			case '"': case '\\': case '/': case 'b':
			case 'f': case 'n': case 'r': case 't':
				pos += 2;
				break;
			case 'u':
				if (json_unicode_escape(p + pos, len - pos, &n) < 0)
					return JSON_BAD;
				pos += n;
				break;
			default:
				return JSON_BAD;
			}
			break;
		default:	/* JC_CTRL */
			return JSON_BAD;
		}
	}
}

/* Skip the four whitespace bytes RFC 8259 allows; nothing else (no \f, \v,
 * NBSP or BOM), so that every JSON reader agrees on where a value is. */
static size_t
json_ws(const unsigned char *p, size_t len, size_t pos)
{
	while (pos < len && (p[pos] == ' ' || p[pos] == '\n' ||
	    p[pos] == '\r' || p[pos] == '\t'))
		pos++;
	return pos;
}

/*
 * Parser state. Tokens past cap are counted but not written: cap is 0 in
 * counting mode, and once a caller's array is full the parse goes on counting
 * so that a syntax error later in the text is still reported as one.
 */
struct json_parser {
	struct json_tok *toks;
	size_t cap;
	size_t ntok;
	int full;
};

static size_t
json_add(struct json_parser *jp, uint8_t type, size_t start, size_t len)
{
	size_t i = jp->ntok++;

	if (i < jp->cap) {
		struct json_tok *t = &jp->toks[i];

		t->start = (uint32_t)start;
		t->len = (uint32_t)len;
		t->size = 0;
		t->next = (uint32_t)(i + 1);
		t->type = type;
	} else if (jp->toks != NULL) {
		jp->full = 1;
	}
	return i;
}

int
json_parse(const char *s, size_t len, struct json_tok *toks, size_t max)
{
	const unsigned char *p = (const unsigned char *)s;
	struct {
		size_t tok;
		int is_obj;
	} stack[JSON_MAX_DEPTH];
	struct json_parser jp;
	size_t depth = 0, pos, start, end, i;
	unsigned char c, want;

	if (len > JSON_MAX_INPUT)
		return JSON_ERR_NOMEM;
	jp.toks = toks;
	jp.cap = toks != NULL ? max : 0;
	jp.ntok = 0;
	jp.full = 0;
	pos = json_ws(p, len, 0);

value:
	if (pos >= len)
		return JSON_ERR_SYNTAX;
	/* An array counts its elements here; an object counts at each key. */
	if (depth > 0 && !stack[depth - 1].is_obj &&
	    stack[depth - 1].tok < jp.cap)
		toks[stack[depth - 1].tok].size++;
	c = p[pos];
	switch (c) {
	case '{':
	case '[':
		if (depth == JSON_MAX_DEPTH)
			return JSON_ERR_DEPTH;
		stack[depth].tok = json_add(&jp,
		    c == '{' ? JSON_OBJECT : JSON_ARRAY, pos, 0);
		stack[depth].is_obj = c == '{';
		depth++;
		pos = json_ws(p, len, pos + 1);
		if (pos < len && p[pos] == (c == '{' ? '}' : ']'))
			goto closing;
		if (c == '{')
			goto key;
		goto value;
	case '"':
		end = json_scan_string(p, len, pos + 1);
		if (end == JSON_BAD)
			return JSON_ERR_SYNTAX;
		json_add(&jp, JSON_STRING, pos + 1, end - pos - 1);
		pos = end + 1;
		break;
	case 't':
		if (len - pos < 4 || memcmp(p + pos, "true", 4) != 0)
			return JSON_ERR_SYNTAX;
		json_add(&jp, JSON_TRUE, pos, 4);
		pos += 4;
		break;
	case 'f':
		if (len - pos < 5 || memcmp(p + pos, "false", 5) != 0)
			return JSON_ERR_SYNTAX;
		json_add(&jp, JSON_FALSE, pos, 5);
		pos += 5;
		break;
	case 'n':
		if (len - pos < 4 || memcmp(p + pos, "null", 4) != 0)
			return JSON_ERR_SYNTAX;
		json_add(&jp, JSON_NULL, pos, 4);
		pos += 4;
		break;
	default:
		/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? and no more:
		 * no leading zeros, '+', bare '.', hex, Infinity or NaN. */
		start = pos;
		if (p[pos] == '-' && ++pos >= len)
			return JSON_ERR_SYNTAX;
		if (p[pos] == '0')
			pos++;
		else if (p[pos] >= '1' && p[pos] <= '9')
			while (++pos < len && p[pos] >= '0' && p[pos] <= '9')
				;
		else
			return JSON_ERR_SYNTAX;
		if (pos < len && p[pos] == '.') {
			if (++pos >= len || p[pos] < '0' || p[pos] > '9')
				return JSON_ERR_SYNTAX;
			while (++pos < len && p[pos] >= '0' && p[pos] <= '9')
				;
		}
		if (pos < len && (p[pos] | 0x20) == 'e') {
			if (++pos < len && (p[pos] == '+' || p[pos] == '-'))
				pos++;
			if (pos >= len || p[pos] < '0' || p[pos] > '9')
				return JSON_ERR_SYNTAX;
			while (++pos < len && p[pos] >= '0' && p[pos] <= '9')
				;
		}
		json_add(&jp, JSON_NUMBER, start, pos - start);
		break;
	}

after:
	pos = json_ws(p, len, pos);
	if (depth == 0) {
		/* Exactly one value: anything after it (a second value,
		 * stray bytes, a NUL) is refused, not ignored, so two readers
		 * never disagree on what the body was. */
		if (pos != len)
			return JSON_ERR_SYNTAX;
		if (jp.full || jp.ntok > INT_MAX)
			return JSON_ERR_NOMEM;
		return (int)jp.ntok;
	}
	if (pos >= len)
		return JSON_ERR_SYNTAX;
	want = stack[depth - 1].is_obj ? '}' : ']';
	if (p[pos] == ',') {
		pos = json_ws(p, len, pos + 1);
		if (stack[depth - 1].is_obj)
			goto key;
		goto value;
	}
	if (p[pos] != want)
		return JSON_ERR_SYNTAX;

closing:
	/* p[pos] closes the innermost container. */
	depth--;
	i = stack[depth].tok;
	if (i < jp.cap) {
		toks[i].len = (uint32_t)(pos + 1 - toks[i].start);
		toks[i].next = (uint32_t)(jp.ntok < UINT32_MAX ?
		    jp.ntok : UINT32_MAX);
	}
	pos++;
	goto after;

key:
	if (pos >= len || p[pos] != '"')
		return JSON_ERR_SYNTAX;
	end = json_scan_string(p, len, pos + 1);
	if (end == JSON_BAD)
		return JSON_ERR_SYNTAX;
	if (stack[depth - 1].tok < jp.cap)
		toks[stack[depth - 1].tok].size++;
	json_add(&jp, JSON_STRING, pos + 1, end - pos - 1);
	pos = json_ws(p, len, end + 1);
	if (pos >= len || p[pos] != ':')
		return JSON_ERR_SYNTAX;
	pos = json_ws(p, len, pos + 1);
	goto value;
}

/*
 * Decoding a string token: runs of plain bytes come out as they are, each
 * escape as the 1-4 UTF-8 bytes it stands for. The token came from
 * json_parse, but the decoder still never reads outside the token's span and
 * reports a malformed escape instead of trusting it.
 */
struct json_dec {
	const unsigned char *p;
	const unsigned char *end;
	char tmp[4];
};

static void
json_dec_init(struct json_dec *d, const char *s, const struct json_tok *tok)
{
	d->p = (const unsigned char *)s + tok->start;
	d->end = d->p + tok->len;
}

/* The next decoded run in *chunk and *n: 1, or 0 at the end, -1 malformed. */
static int
json_dec_next(struct json_dec *d, const char **chunk, size_t *n)
{
	const unsigned char *q;
	size_t left = (size_t)(d->end - d->p), used;
	long cp;

	if (left == 0)
		return 0;
	if (d->p[0] != '\\') {
		q = memchr(d->p, '\\', left);
		if (q == NULL)
			q = d->end;
		*chunk = (const char *)d->p;
		*n = (size_t)(q - d->p);
		d->p = q;
		return 1;
	}
	if (left < 2)
		return -1;
	*chunk = d->tmp;
	*n = 1;
	used = 2;
	switch (d->p[1]) {
	case '"': case '\\': case '/':
		d->tmp[0] = (char)d->p[1];
		break;
	case 'b': d->tmp[0] = '\b'; break;
	case 'f': d->tmp[0] = '\f'; break;
	case 'n': d->tmp[0] = '\n'; break;
	case 'r': d->tmp[0] = '\r'; break;
	case 't': d->tmp[0] = '\t'; break;
	case 'u':
		cp = json_unicode_escape(d->p, left, &used);
		if (cp < 0)
			return -1;
		if (cp < 0x80) {
			d->tmp[0] = (char)cp;
		} else if (cp < 0x800) {
			d->tmp[0] = (char)(0xc0 | (cp >> 6));
			d->tmp[1] = (char)(0x80 | (cp & 0x3f));
			*n = 2;
		} else if (cp < 0x10000) {
			d->tmp[0] = (char)(0xe0 | (cp >> 12));
			d->tmp[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
			d->tmp[2] = (char)(0x80 | (cp & 0x3f));
			*n = 3;
		} else {
			d->tmp[0] = (char)(0xf0 | (cp >> 18));
			d->tmp[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
			d->tmp[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
			d->tmp[3] = (char)(0x80 | (cp & 0x3f));
			*n = 4;
		}
		break;
	default:
		return -1;
	}
	d->p += used;
	return 1;
}

/* 1 when the string token decodes to exactly the n bytes at lit. */
static int
json_tok_eq(const char *s, const struct json_tok *tok, const char *lit,
    size_t n)
{
	struct json_dec d;
	const char *chunk;
	size_t k, off = 0;
	int r;

	if (tok->type != JSON_STRING || n > tok->len)
		return 0;	/* decoding never makes a string longer */
	/* Without a backslash the raw text is the string: the common case
	 * of every key lookup, which replay makes for each record. */
	if (memchr(s + tok->start, '\\', tok->len) == NULL)
		return tok->len == n && memcmp(s + tok->start, lit, n) == 0;
	json_dec_init(&d, s, tok);
	while ((r = json_dec_next(&d, &chunk, &k)) > 0) {
		if (k > n - off || memcmp(lit + off, chunk, k) != 0)
			return 0;
		off += k;
	}
	return r == 0 && off == n;
}

int
json_get(const char *s, const struct json_tok *toks, int obj, const char *key)
{
	size_t i, m, n = strlen(key);

	if (obj < 0 || toks[obj].type != JSON_OBJECT)
		return -1;
	i = (size_t)obj + 1;
	for (m = 0; m < toks[obj].size; m++) {
		if (json_tok_eq(s, &toks[i], key, n))
			return i + 1 <= INT_MAX ? (int)(i + 1) : -1;
		i = toks[i + 1].next;
	}
	return -1;
}

/* 1 for the bytes a number or a literal (true, false, null) is made of. */
static int
json_scalar_byte(unsigned char c)
{
	return (c >= '0' && c <= '9') || strchr("+-.eEtruefalsn", c) != NULL;
}

/*
 * The end of the value at pos (just past it), or JSON_BAD. A container is
 * found by counting brackets outside strings rather than with the parser's
 * stack, so that no depth is too deep to skip; then the value's text is
 * parsed strictly, and only its nesting past JSON_MAX_DEPTH goes unchecked
 * beyond the bytes and brackets counted here.
 */
static size_t
json_skip_value(const char *s, size_t len, size_t pos)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t start = pos, depth = 0, end;
	int r;

	if (pos >= len)
		return JSON_BAD;
	if (p[pos] == '"') {
		end = json_scan_string(p, len, pos + 1);
		return end == JSON_BAD ? JSON_BAD : end + 1;
	}
	if (p[pos] != '[' && p[pos] != '{') {
		while (pos < len && p[pos] != 0 && json_scalar_byte(p[pos]))
			pos++;
	} else {
		do {
			if (pos >= len)
				return JSON_BAD;
			switch (p[pos]) {
			case '"':
				end = json_scan_string(p, len, pos + 1);
				if (end == JSON_BAD)
					return JSON_BAD;
				pos = end;
				break;
			case '[': case '{':
				depth++;
				break;
			case ']': case '}':
				depth--;
				break;
			case ' ': case '\t': case '\r': case '\n':
			case ',': case ':':
				break;
			default:
				if (p[pos] == 0 || !json_scalar_byte(p[pos]))
					return JSON_BAD;
				break;
			}
			pos++;
		} while (depth > 0);
	}
	r = json_parse(s + start, pos - start, NULL, 0);
	return r >= 1 || r == JSON_ERR_DEPTH ? pos : JSON_BAD;
}

int
json_member_false(const char *s, size_t len, const char *key)
{
	const unsigned char *p = (const unsigned char *)s;
	struct json_tok k;
	size_t pos, end, n = strlen(key);
	int found = 0;

	if (len > JSON_MAX_INPUT)
		return JSON_ERR_SYNTAX;
	pos = json_ws(p, len, 0);
	if (pos >= len || p[pos] != '{')
		return JSON_ERR_SYNTAX;
	pos = json_ws(p, len, pos + 1);
	if (pos < len && p[pos] == '}')
		return json_ws(p, len, pos + 1) == len ? 0 : JSON_ERR_SYNTAX;
	for (;;) {
		if (pos >= len || p[pos] != '"')
			return JSON_ERR_SYNTAX;
		end = json_scan_string(p, len, pos + 1);
		if (end == JSON_BAD)
			return JSON_ERR_SYNTAX;
		k.type = JSON_STRING;
		k.start = (uint32_t)(pos + 1);
		k.len = (uint32_t)(end - pos - 1);
		pos = json_ws(p, len, end + 1);
		if (pos >= len || p[pos] != ':')
			return JSON_ERR_SYNTAX;
		pos = json_ws(p, len, pos + 1);
		end = json_skip_value(s, len, pos);
		if (end == JSON_BAD)
			return JSON_ERR_SYNTAX;
		if (end - pos == 5 && memcmp(p + pos, "false", 5) == 0 &&
		    json_tok_eq(s, &k, key, n))
			found = 1;
		pos = json_ws(p, len, end);
		if (pos < len && p[pos] == ',') {
			pos = json_ws(p, len, pos + 1);
			continue;
		}
		if (pos >= len || p[pos] != '}')
			return JSON_ERR_SYNTAX;
		return json_ws(p, len, pos + 1) == len ? found : JSON_ERR_SYNTAX;
	}
}

int
json_str(const char *s, const struct json_tok *tok, char *out, size_t outsz)
{
	struct json_dec d;
	const char *chunk;
	size_t k, off = 0;
	int r;

	if (tok->type != JSON_STRING || outsz == 0)
		return -1;
	json_dec_init(&d, s, tok);
	while ((r = json_dec_next(&d, &chunk, &k)) > 0) {
		if (k >= outsz - off)
			return -1;	/* no room for it and the NUL */
		memcpy(out + off, chunk, k);
		off += k;
	}
	out[off] = '\0';
	return r == 0 && off <= INT_MAX ? (int)off : -1;
}

int
json_str_buf(const char *s, const struct json_tok *tok, struct buf *b)
{
	struct json_dec d;
	const char *chunk;
	size_t k;
	int r;

	if (tok->type != JSON_STRING)
		return -1;
	/* Decoding never grows a string: one reservation is enough. */
	if (buf_reserve(b, tok->len) != 0)
		return -1;
	json_dec_init(&d, s, tok);
	while ((r = json_dec_next(&d, &chunk, &k)) > 0)
		if (buf_append(b, chunk, k) != 0)
			return -1;
	return r;
}

int
json_str_eq(const char *s, const struct json_tok *tok, const char *lit)
{
	return json_tok_eq(s, tok, lit, strlen(lit));
}

int
json_put_str(struct buf *b, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, run, k;
	char *o;

	/*
	 * Written straight into the buffer: one reservation for the common
	 * case (nothing to escape), and at each byte that needs an escape
	 * room for that escape (at most 6 bytes: \u00XX, \ufffd) plus the
	 * rest unescaped, the closing quote and the NUL. So the room left at
	 * the top of the loop always holds n - i + 2 bytes.
	 */
	if (n > SIZE_MAX / 2 - 8 || buf_reserve(b, n + 2) != 0)
		return -1;
	o = b->data + b->len;
	*o++ = '"';
	while (i < n) {
		run = i;
		i += json_ok_run(p + i, n - i);
		memcpy(o, p + run, i - run);
		o += i - run;
		if (i >= n)
			break;
		b->len = (size_t)(o - b->data);
		if (b->cap - b->len < n - i + 8) {
			if (buf_reserve(b, n - i + 8) != 0)
				return -1;
			o = b->data + b->len;
		}
		switch (json_class[p[i]]) {
		case JC_QUOTE:
		case JC_BSLASH:
			*o++ = '\\';
			*o++ = (char)p[i++];
			break;
		case JC_HIGH:
			/*
			 * Bytes that are not UTF-8 (a receiver's body cut at
			 * 1 KiB may end mid-character) become U+FFFD, so what
			 * hookd writes is always JSON its own parser accepts.
			 */
			k = json_utf8_len(p + i, n - i);
			if (k == 0) {
				memcpy(o, "\\ufffd", 6);
				o += 6;
				i++;
			} else {
				memcpy(o, p + i, k);
				o += k;
				i += k;
			}
			break;
		default:	/* JC_CTRL */
			*o++ = '\\';
			switch (p[i]) {
			case '\b': *o++ = 'b'; break;
			case '\f': *o++ = 'f'; break;
			case '\n': *o++ = 'n'; break;
			case '\r': *o++ = 'r'; break;
			case '\t': *o++ = 't'; break;
			default:
				*o++ = 'u';
				*o++ = '0';
				*o++ = '0';
				*o++ = util_hex_char(p[i] >> 4);
				*o++ = util_hex_char(p[i]);
				break;
			}
			i++;
			break;
		}
	}
	*o++ = '"';
	b->len = (size_t)(o - b->data);
	b->data[b->len] = '\0';
	return 0;
}

int
json_put_cstr(struct buf *b, const char *s)
{
	if (s == NULL)
		return buf_append(b, "null", 4);
	return json_put_str(b, s, strlen(s));
}

/* Re-encode the value at toks[i] at nesting depth (1 for a top-level
 * object or array); -1 when deeper than max_depth or out of memory. */
static int
json_put_tok(struct buf *b, const char *s, const struct json_tok *toks,
    uint32_t i, int depth, int max_depth, struct buf *tmp)
{
	const struct json_tok *t = &toks[i];
	uint32_t k, m;

	switch (t->type) {
	case JSON_STRING:
		/* Decoded and encoded again: the text written is the
		 * encoder's, whatever escapes the input chose. */
		buf_reset(tmp);
		if (json_str_buf(s, t, tmp) != 0)
			return -1;
		return json_put_str(b, tmp->data != NULL ? tmp->data : "",
		    tmp->len);
	case JSON_ARRAY:
	case JSON_OBJECT:
		if (depth > max_depth)
			return -1;
		buf_append(b, t->type == JSON_ARRAY ? "[" : "{", 1);
		for (k = i + 1, m = 0; m < t->size; m++) {
			if (m > 0)
				buf_append(b, ",", 1);
			if (t->type == JSON_OBJECT) {
				if (json_put_tok(b, s, toks, k, depth,
				    max_depth, tmp) != 0)
					return -1;
				buf_append(b, ":", 1);
				k++;
			}
			if (json_put_tok(b, s, toks, k, depth + 1, max_depth,
			    tmp) != 0)
				return -1;
			k = toks[k].next;
		}
		buf_append(b, t->type == JSON_ARRAY ? "]" : "}", 1);
		return b->oom ? -1 : 0;
	default:
		/* Numbers and literals: the parser checked their grammar,
		 * which has no byte that needs escaping. */
		return buf_append(b, s + t->start, t->len);
	}
}

int
json_put_json(struct buf *b, const char *s, size_t len, int max_depth)
{
	struct json_tok *toks = NULL;
	struct buf tmp = {0};
	size_t mark = b->len;
	int n, r = -1;

	n = json_parse(s, len, NULL, 0);
	if (n <= 0 || (toks = malloc((size_t)n * sizeof(*toks))) == NULL ||
	    json_parse(s, len, toks, (size_t)n) != n)
		goto out;
	r = json_put_tok(b, s, toks, 0, 1, max_depth, &tmp);
out:
	if (r != 0 && !b->oom) {
		/* Leave b as it was, so the caller can write something
		 * else instead. */
		b->len = mark;
		if (b->cap > 0)
			b->data[mark] = '\0';
	}
	free(toks);
	buf_free(&tmp);
	return r;
}
