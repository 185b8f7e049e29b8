/*
 * json: a strict RFC 8259 parser that does not allocate (it fills a caller's
 * token array with spans into the caller's buffer, jsmn-style) and a small
 * encoder that appends correctly escaped JSON to a struct buf.
 */
#ifndef HOOKD_JSON_H
#define HOOKD_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* Deepest nesting of arrays and objects accepted (contract §7): deeper input
 * is refused so that hostile bodies cannot exhaust the stack or the tokens. */
#define JSON_MAX_DEPTH 64

enum json_type {
	JSON_NULL = 1,
	JSON_FALSE,
	JSON_TRUE,
	JSON_NUMBER,
	JSON_STRING,
	JSON_ARRAY,
	JSON_OBJECT
};

/*
 * One value. Tokens are laid out in document order: an object is followed by
 * its members as (key string token, value tokens...) pairs, an array by its
 * elements. For strings, start/len span the raw text between the quotes
 * (escapes not decoded); for every other type they span the value's whole
 * text (an object's span runs from '{' to '}' inclusive).
 */
struct json_tok {
	uint32_t start;
	uint32_t len;
	uint32_t size;	/* members of an object, elements of an array, else 0 */
	uint32_t next;	/* index of the first token after this value's subtree */
	uint8_t type;	/* enum json_type */
};

/* Results of json_parse besides a token count. */
#define JSON_ERR_SYNTAX	(-1)	/* not valid JSON (or not valid UTF-8) */
#define JSON_ERR_NOMEM	(-2)	/* more than max tokens are needed */
#define JSON_ERR_DEPTH	(-3)	/* nested deeper than JSON_MAX_DEPTH */

/*
 * Parse exactly one JSON text (optional whitespace around one value, nothing
 * else) of len bytes. Strings must be valid UTF-8 and escapes valid (a lone
 * surrogate escape is refused). Returns the number of tokens written (>= 1), or
 * a JSON_ERR_ code. With toks == NULL nothing is written and the return value
 * is the number of tokens the text needs, so a caller can size the array.
 * Inputs longer than UINT32_MAX - 1 bytes are refused as JSON_ERR_NOMEM.
 */
int json_parse(const char *s, size_t len, struct json_tok *toks, size_t max);

/* Index of the value of member key in the object at toks[obj], or -1 when
 * absent (or toks[obj] is not an object). Keys are compared after decoding
 * their escapes. */
int json_get(const char *s, const struct json_tok *toks, int obj,
    const char *key);

/*
 * Whether the JSON object text s (len bytes) has a top-level member named key
 * (compared after decoding escapes) whose value is false: 1 when any member of
 * that name is false (duplicates included), 0 when none is, JSON_ERR_SYNTAX
 * when s is not one JSON object. Unlike json_parse it has no depth limit: the
 * members' values are skipped in one pass with a bracket count, using no
 * stack, so a receiver's deep body is still read for its top-level members.
 * A value nested at most JSON_MAX_DEPTH deep is checked as strictly as
 * json_parse checks it; one nested deeper is checked for valid strings,
 * bytes that JSON allows outside strings and balanced brackets. Allocates
 * nothing; time is linear in len.
 */
int json_member_false(const char *s, size_t len, const char *key);

/* Decode the string at tok (escapes resolved, UTF-8 out) into out, which
 * holds outsz bytes, NUL-terminated. Returns the decoded length, or -1 when it
 * does not fit or tok is not a string. A decoded NUL (\u0000) is kept; callers
 * that need C strings check with json_str_has_nul. */
int json_str(const char *s, const struct json_tok *tok, char *out,
    size_t outsz);
/* Decoded string appended to b. 0 ok, -1 not a string or out of memory. */
int json_str_buf(const char *s, const struct json_tok *tok, struct buf *b);
/* 1 when the string token decodes to exactly lit. */
int json_str_eq(const char *s, const struct json_tok *tok, const char *lit);

/* Append s (n bytes, UTF-8) as a quoted JSON string with the escapes RFC 8259
 * requires (", \, and control characters; "/" is left alone). 0 or -1. */
int json_put_str(struct buf *b, const char *s, size_t n);
/*
 * Text bound for a terminal, with nothing in it that a terminal acts on: C0
 * controls and DEL, the C1 controls U+0080-U+009F (U+009B is a CSI that
 * starts a cursor or colour sequence on many terminals) and the bidi
 * embeddings, overrides and isolates U+202A-U+202E and U+2066-U+2069 (which
 * make a line read otherwise than its bytes). The one rule for everything
 * the command line prints that a client, a receiver or a sender wrote.
 * json_term_text: s (n bytes) rewritten in place, each such character and
 * each byte that is not UTF-8 (RFC 3629) replaced by '?'; returns the new
 * length (at most n; s is not NUL-terminated by it).
 */
size_t json_term_text(char *s, size_t n);
/*
 * json_term_json: the JSON text s (n bytes, as json_put_str and the API
 * write it) appended to b with each such character written as \uXXXX, which
 * keeps it the same JSON (in valid JSON they can stand only inside strings;
 * tab, CR and LF, JSON's whitespace, are kept). A byte that is not UTF-8
 * becomes '?'. 0, or -1 out of memory.
 */
int json_term_json(struct buf *b, const char *s, size_t n);
/* json_put_str of a NUL-terminated string, or "null" when s is NULL. */
int json_put_cstr(struct buf *b, const char *s);
/*
 * Append the JSON text s (len bytes) re-encoded compactly by this encoder:
 * no whitespace, every string decoded and encoded again, so that no byte of
 * s reaches b except through json_put_str. Arrays and objects may nest at
 * most max_depth deep (a record that embeds the value adds its own levels,
 * and what it writes must stay within JSON_MAX_DEPTH to be read back).
 * 0, or -1 when s is not JSON, is too deep, or memory ran out (b is then
 * left as it was unless b->oom is set). Allocates its tokens.
 */
int json_put_json(struct buf *b, const char *s, size_t len, int max_depth);

#endif
