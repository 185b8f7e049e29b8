/*
 * llhttp's own test cases (../shared/testdata, data only) run through
 * hookd's parsers: what strict llhttp refuses hookd refuses too, and every
 * valid case hookd refuses is counted under a stated policy.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../http.h"
#include "../util.h"
#include "unit.h"

static const struct http_limits t_lim = { 16384, 100 };

static int
t_span(const char *s, size_t n, const char *lit)
{
	return s != NULL && util_span_eq(s, n, lit);
}

/* ---- llhttp's test cases (test data README) ---- */

#define LLH_MAX 65536
#define LLH_SPANS 16

/* One case: its title, its raw bytes and what llhttp logged about them. */
struct llh {
	char title[160];
	char raw[LLH_MAX];
	size_t raw_len;
	char method[LLH_SPANS][64], url[LLH_SPANS][256];
	int nmethod, nurl, status[LLH_SPANS], nstatus;
	int error;		/* the log ends in an error that is one */
	int pause;		/* ... or in a pause (upgrade): stop after one */
	char reason[128];
};

/* Totals printed at the end. */
struct llh_count {
	int valid, parsed, with_host, invalid, refused;
	int tolerated;		/* invalid to llhttp, accepted by §12 */
	int policy[4];
};

/* Valid llhttp cases hookd may refuse, and why. */
static const char *const llh_policy_why[] = {
	"protocol other than HTTP/1.0 and 1.1 (RTSP, ICE, HTTP/0.9)",
	"authority-form CONNECT: hookd is not a proxy",
	"transfer coding other than chunked (501; responses: bad response)",
	"method hookd does not serve (501)",
};

/* Append the block line s[0..n) to raw with the README's escapes. */
static void
llh_unescape(struct llh *c, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n && c->raw_len < LLH_MAX; i++) {
		char e = i + 1 < n && s[i] == '\\' ? s[i + 1] : 0;
		unsigned v = 0, j;

		if (e == 'r' || e == 'n' || e == 't' || e == 'f') {
			c->raw[c->raw_len++] = e == 'r' ? '\r' : e == 'n' ?
			    '\n' : e == 't' ? '\t' : '\f';
			i++;
		} else if (e == 'x' && i + 3 < n && util_hex_digit(s[i + 2], 0) >= 0 &&
		    util_hex_digit(s[i + 3], 0) >= 0) {
			for (j = 2; j < 4; j++)
				v = v * 16 +
				    (unsigned)util_hex_digit(s[i + j], 0);
			c->raw[c->raw_len++] = (char)v;
			i += 3;
		} else if (e >= '0' && e <= '7') {
			for (j = 1; j < 4 && i + j < n && s[i + j] >= '0' &&
			    s[i + j] <= '7'; j++)
				v = v * 8 + (unsigned)(s[i + j] - '0');
			c->raw[c->raw_len++] = (char)v;
			i += j - 1;
		} else {
			c->raw[c->raw_len++] = s[i];
		}
	}
}

/* Copy the text of a log line's span[...]="text" into out. */
static void
llh_span(const char *line, char *out, size_t size)
{
	const char *b = strstr(line, "=\""), *e = strrchr(line, '"');
	size_t n = b != NULL && e > b + 1 ? (size_t)(e - b - 2) : 0;

	if (n >= size)
		n = size - 1;
	memcpy(out, b != NULL ? b + 2 : "", n);
	out[n] = '\0';
}

static int
llh_num(const char *s)
{
	uint64_t v = 0;
	size_t n = 0;

	while (s[n] >= '0' && s[n] <= '9')
		n++;
	return util_parse_u64(s, n, 1000, &v) == 0 ? (int)v : -1;
}

static void
llh_log_line(struct llh *c, const char *l)
{
	const char *p;

	if (strstr(l, "span[method]=") && c->nmethod < LLH_SPANS)
		llh_span(l, c->method[c->nmethod++], sizeof(c->method[0]));
	if (strstr(l, "span[url]=") && c->nurl < LLH_SPANS)
		llh_span(l, c->url[c->nurl++], sizeof(c->url[0]));
	if ((p = strstr(l, "headers complete status=")) && c->nstatus <
	    LLH_SPANS)
		c->status[c->nstatus++] = llh_num(p + 24);
	/* Only the last line counts: reset on every line. */
	c->error = c->pause = 0;
	if ((p = strstr(l, "error code=")) != NULL) {
		int code = llh_num(p + 11);

		/* 21-23 are pauses (upgrade, CONNECT, PRI), not errors. */
		c->pause = code >= 21 && code <= 23;
		c->error = !c->pause;
		llh_span(p, c->reason, sizeof(c->reason));
	}
}

/* Bytes of a message's first line, after empty lines. */
static const char *
llh_first_line(const char *m, size_t n, size_t *len)
{
	size_t i = 0, b;

	while (i + 1 < n && m[i] == '\r' && m[i + 1] == '\n')
		i += 2;
	for (b = i; i < n && m[i] != '\r' && m[i] != '\n'; i++)
		;
	*len = i - b;
	return m + b;
}

/* Count the message's head lines named name; value of the last in out. */
static int
llh_header(const char *m, size_t n, const char *name, char *out,
    size_t size)
{
	size_t i, k = strlen(name), b, e;
	int count = 0;

	for (i = 0; i + k + 1 < n; i++) {
		if (m[i] != '\n')
			continue;
		if (m[i + 1] == '\r' || m[i + 1] == '\n')
			break;
		if (!util_span_ieq(m + i + 1, k, name) || m[i + 1 + k] != ':')
			continue;
		for (b = i + 2 + k; b < n && (m[b] == ' ' || m[b] == '\t'); b++)
			;
		for (e = b; e < n && m[e] != '\r' && m[e] != '\n'; e++)
			;
		while (e > b && (m[e - 1] == ' ' || m[e - 1] == '\t'))
			e--;
		if (e - b >= size)
			e = b + size - 1;
		memcpy(out, m + b, e - b);
		out[e - b] = '\0';
		count++;
	}
	return count;
}

/* Which llh_policy_why a refused valid message falls under, or -1. */
static int
llh_policy(const char *m, size_t n, int request)
{
	char te[64];
	size_t l;
	const char *line = llh_first_line(m, n, &l);

	if (request ? l < 9 || (memcmp(line + l - 9, " HTTP/1.1", 9) != 0 &&
	    memcmp(line + l - 9, " HTTP/1.0", 9) != 0) :
	    l < 9 || (memcmp(line, "HTTP/1.1 ", 9) != 0 &&
	    memcmp(line, "HTTP/1.0 ", 9) != 0))
		return 0;
	if (request && l > 8 && memcmp(line, "CONNECT ", 8) == 0)
		return 1;
	if (request && !http_method_known(line, (size_t)((const char *)
	    memchr(line, ' ', l) - line)))
		return 3;
	l = (size_t)llh_header(m, n, "transfer-encoding", te, sizeof(te));
	if (l > 1 || (l == 1 && !util_span_ieq(te, strlen(te), "chunked")))
		return 2;
	return -1;
}

/*
 * Run a case's bytes through hookd as a connection would: a head, its body
 * (Content-Length or chunked; for responses none after 1xx, 204 and 304,
 * else until close), and again for pipelined messages. A 1.1 request that
 * has no Host is given one (llhttp does not require it, hookd must), so the
 * rest of the message is still tested. Returns 1 when hookd refused it, 0
 * when not; *at is where the refused message starts.
 */
static int
llh_run(struct llh *c, int request, char *m, size_t *mlen, size_t *at,
    int *added_host)
{
	struct http_request req;
	struct http_response res;
	size_t p = 0, n = c->raw_len, k = 0;
	int r, st, injected = 0, refused = 0;
	char host[8];

	memcpy(m, c->raw, n);
	while (p < n) {
		*at = p;
		r = request ? http_parse_request(m + p, n - p, &t_lim, &req, &st) :
		    http_parse_response(m + p, n - p, &t_lim, &res);
		if (r == -1 && request && st == 400 && injected <= (int)k &&
		    llh_header(m + p, n - p, "host", host, sizeof(host)) == 0) {
			size_t l;
			const char *line = llh_first_line(m + p, n - p, &l);
			size_t eol = (size_t)(line - m) + l;

			if (l > 9 && memcmp(line + l - 9, " HTTP/1.1", 9) == 0 &&
			    n + 9 <= LLH_MAX + 9 * LLH_SPANS && eol + 1 < n && m[eol] == '\r' && m[eol + 1] == '\n') {
				memmove(m + eol + 11, m + eol + 2, n - eol - 2);
				memcpy(m + eol + 2, "Host: h\r\n", 9);
				n += 9;
				injected = (int)k + 1;
				*added_host = 1;
				continue;
			}
		}
		if (r == -1) {
			refused = 1;
			break;
		}
		if (r == -2)
			break;
		if (request && k < (size_t)c->nmethod && k < (size_t)c->nurl)
			CHECKF(t_span(req.method, req.method_len,
			    c->method[k]) && t_span(req.target, req.target_len,
			    c->url[k]), "llhttp '%s': message %zu method/url",
			    c->title, k);
		if (!request && k < (size_t)c->nstatus)
			CHECKF(res.status == c->status[k], "llhttp '%s': "
			    "status %d, log says %d", c->title, res.status,
			    c->status[k]);
		p += (size_t)r;
		k++;
		if (request ? req.chunked : res.chunked && res.status >= 200 &&
		    res.status != 204 && res.status != 304) {
			struct http_chunked d;
			size_t l = n - p;
			ssize_t rr;

			memset(&d, 0, sizeof(d));
			if ((rr = http_decode_chunked(&d, m + p, &l)) < 0) {
				refused = rr == -1;
				break;
			}
			n = p + l + (size_t)rr;
			p += l;
		} else if (!request && (res.status < 200 || res.status == 204 ||
		    res.status == 304)) {
			;
		} else if (request ? req.content_length > 0 :
		    res.content_length >= 0) {
			int64_t cl = request ? req.content_length :
			    res.content_length;

			if ((uint64_t)cl > n - p)
				break;
			p += (size_t)cl;
		} else if (!request) {
			break;	/* the body runs until the close */
		}
		/* After "close" hookd reads no more: left-over bytes are
		 * what llhttp calls "Data after Connection: close". */
		if (!(request ? req.keep_alive : res.keep_alive)) {
			*at = p;
			refused = p < n;
			break;
		}
		if (c->pause)
			break;
	}
	*mlen = n;
	return refused;
}

static void
llh_case(struct llh *c, int request, struct llh_count *cnt)
{
	static char m[LLH_MAX + 9 * LLH_SPANS];
	size_t mlen = c->raw_len, at = 0;
	int refused, added = 0, why;

	refused = llh_run(c, request, m, &mlen, &at, &added);
	if (c->error) {
		cnt->invalid++;
		/* llhttp's strict mode refuses bare LF line ends; hookd
		 * accepts them in responses (contract §12, RFC 9112 §2.2). */
		if (!refused && !request && strcmp(c->reason,
		    "Missing expected CR after response line") == 0) {
			cnt->tolerated++;
			return;
		}
		cnt->refused += refused;
		CHECKF(refused, "llhttp '%s' (%s) must be refused", c->title,
		    c->reason);
		return;
	}
	cnt->valid++;
	if (!refused) {
		cnt->parsed++;
		cnt->with_host += added;
		return;
	}
	why = llh_policy(m + at, mlen - at, request);
	CHECKF(why >= 0, "valid llhttp '%s' refused for no listed reason",
	    c->title);
	if (why >= 0)
		cnt->policy[why]++;
}

/* Every case of one file whose meta type is exactly want. */
static void
llh_file(const char *path, const char *want, struct llh_count *cnt)
{
	static struct llh c;
	FILE *f = fopen(path, "r");
	char line[16384], type[64] = "";
	int block = 0;		/* 1 in ```http, 2 in ```log */
	int first = 1, cont = 0;

	CHECKF(f != NULL, "open %s", path);
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		size_t n = strcspn(line, "\n");
		char *p, *q;

		line[n] = '\0';
		if (block == 0 && line[0] == '#') {
			for (p = line; *p == '#' || *p == ' '; p++)
				;
			snprintf(c.title, sizeof(c.title), "%.150s", p);
		} else if (block == 0 && (p = strstr(line, "\"type\"")) &&
		    (p = strchr(p + 6, '"')) && (q = strchr(p + 1, '"'))) {
			snprintf(type, sizeof(type), "%.*s", (int)(q - p - 1),
			    p + 1);
		} else if (block == 0 && strcmp(line, "```http") == 0) {
			block = 1;
			c.raw_len = 0;
			first = 1;
		} else if (block == 0 && strcmp(line, "```log") == 0) {
			block = 2;
			c.nmethod = c.nurl = c.nstatus = 0;
			c.error = c.pause = 0;
		} else if (block != 0 && strcmp(line, "```") == 0) {
			if (block == 2 && strcmp(type, want) == 0)
				llh_case(&c, want[2] == 'q', cnt);
			if (block == 2)
				type[0] = '\0';
			block = 0;
		} else if (block == 1) {
			/* Lines end in CRLF except the last; "\" joins. */
			if (!first && !cont && c.raw_len + 2 <= LLH_MAX) {
				memcpy(c.raw + c.raw_len, "\r\n", 2);
				c.raw_len += 2;
			}
			first = 0;
			cont = n > 0 && line[n - 1] == '\\';
			llh_unescape(&c, line, cont ? n - 1 : n);
		} else if (block == 2) {
			llh_log_line(&c, line);
		}
	}
	fclose(f);
}

void
test_llhttp(void)
{
	static const char *const kinds[] = { "request", "response" };
	char dir[512], path[1024];
	int i, j;

	for (i = 0; i < 2; i++) {
		struct llh_count cnt;
		struct dirent *e;
		DIR *d;

		memset(&cnt, 0, sizeof(cnt));
		snprintf(dir, sizeof(dir), "%s/http/llhttp/%s", unit_testdata(),
		    kinds[i]);
		CHECKF((d = opendir(dir)) != NULL, "open %s", dir);
		if (d == NULL)
			continue;
		while ((e = readdir(d)) != NULL) {
			size_t n = strlen(e->d_name);

			if (n < 3 || strcmp(e->d_name + n - 3, ".md") != 0)
				continue;
			snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			llh_file(path, kinds[i], &cnt);
		}
		closedir(d);
		fprintf(stderr, "http: llhttp %ss: %d valid, %d parsed (%d "
		    "after adding Host), %d refused by policy (", kinds[i],
		    cnt.valid, cnt.parsed, cnt.with_host, cnt.valid - cnt.parsed);
		for (j = 0; j < 4; j++)
			fprintf(stderr, "%s%d %s", j ? "; " : "", cnt.policy[j],
			    llh_policy_why[j]);
		fprintf(stderr, "); %d invalid, %d refused, %d tolerated "
		    "(bare LF in a response, contract §12)\n", cnt.invalid,
		    cnt.refused, cnt.tolerated);
		CHECK(cnt.refused + cnt.tolerated == cnt.invalid);
		CHECKF(cnt.valid > 0 && cnt.parsed * 10 >= cnt.valid * 6,
		    "llhttp %ss: %d of %d valid cases parsed", kinds[i],
		    cnt.parsed, cnt.valid);
		CHECK(cnt.invalid > 0);
	}
}
