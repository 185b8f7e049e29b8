/*
 * cli_listen: `hookd listen`, a local receiver for trying callbacks out (it
 * checks each request's signature with the check of `hookd verify`, prints
 * the request and answers 200 or 401), and `hookd sign --curl`'s command.
 */
#include "cli.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http.h"
#include "json.h"
#include "log.h"
#include "sign.h"
#include "url.h"
#include "util.h"

/*
 * Limits of hookd listen.
 * LISTEN_CONNS: connections served at once, so memory stays bounded at
 *   this many buffers. When all are open a new one replaces the oldest
 *   that has sent no whole request (listen_slot); only when all are
 *   writing answers do new ones wait in the kernel's backlog.
 * LISTEN_HEAD_MAX: a request head's bytes (hookd's own are far smaller);
 *   a longer head is answered 431 instead of being buffered without end.
 * LISTEN_BODY_MAX: a body's bytes, above hookd's default max_body; a larger
 *   one is answered 413 before it is read.
 * LISTEN_TIMEOUT_MS: how long one connection may take to send its request
 *   and read the answer. A slow or silent client is closed after it; the
 *   others are served meanwhile by the one poll().
 * LISTEN_SECRETS: --secret at most twice, the old and new secret of a
 *   rotation; a third would be a mistake, not a rotation.
 */
#define LISTEN_CONNS 32
#define LISTEN_HEAD_MAX 65536
#define LISTEN_BODY_MAX (4u * 1024 * 1024)
#define LISTEN_TIMEOUT_MS 10000
#define LISTEN_SECRETS 2

static const char listen_usage[] =
    "usage: hookd listen [-p PORT] [-l HOST] --secret whsec_... "
    "[--secret whsec_...]\n"
    "                    [--ack] [--json]\n"
    "\n"
    "A local receiver for trying callbacks: it verifies the signature of\n"
    "every request (POST: the body; GET: the query string), prints it and\n"
    "answers 200, or 401 when no signature matches.\n"
    "  -p PORT        port (default 9000; 0 lets the system choose)\n"
    "  -l HOST        address to listen on (default 127.0.0.1)\n"
    "  --secret S     the endpoint's (or client's) secret; twice during a\n"
    "                 rotation: a request signed with either is verified\n"
    "  --ack          answer 200 with an acknowledgement JSON, which hookd\n"
    "                 keeps as the delivery's ack\n"
    "  --json         one JSON line per request instead of the text\n";

struct listen_conn {
	int fd;			/* -1 when the slot is free */
	int writing;		/* the answer is in out */
	int continued;		/* a 100 Continue was sent */
	int64_t deadline;	/* CLOCK_MONOTONIC ms */
	struct buf in;
	struct buf out;
	size_t out_off;
};

struct listen_state {
	uint8_t key[LISTEN_SECRETS][SIGN_SECRET_MAX_BYTES];
	const uint8_t *keys[LISTEN_SECRETS];
	size_t klens[LISTEN_SECRETS];
	size_t nkeys;
	int ack;
	int json;
	struct listen_conn conn[LISTEN_CONNS];
};

static volatile sig_atomic_t listen_stop;

static void
listen_on_signal(int sig)
{
	(void)sig;
	listen_stop = 1;
}

/* The message of a usage error and the usage, into err (errsz bytes). 2,
 * the exit code of a usage error. */
static int
listen_usage_error(char *err, size_t errsz, const char *msg, const char *arg)
{
	if (arg != NULL)
		snprintf(err, errsz, "hookd listen: %s \"%s\"\n%s", msg, arg,
		    listen_usage);
	else
		snprintf(err, errsz, "hookd listen: %s\n%s", msg, listen_usage);
	return 2;
}

/* Write s (n bytes) in single quotes for sh: every byte stands for itself
 * there except the quote, written as '\'' (close, escaped quote, open). */
static void
listen_shell_quote(const char *s, size_t n)
{
	size_t i;

	putchar('\'');
	for (i = 0; i < n; i++) {
		if (s[i] == '\'')
			fputs("'\\''", stdout);
		else
			putchar(s[i]);
	}
	putchar('\'');
}

int
cli_sign_curl(const char *url, const char *id, int64_t ts, const char *sig,
    const char *payload, size_t plen)
{
	struct buf hid = {0}, hsig = {0};
	char tsbuf[UTIL_I64_MAX];
	const char *err = NULL;
	struct url u;
	int n;

	/* https:// is for curl to speak, whatever this build of hookd can:
	 * the rest of the URL is checked as the http:// one would be. */
	if (strncmp(url, "https://", 8) == 0) {
		char plain[URL_MAX + 8];

		n = snprintf(plain, sizeof(plain), "http://%s", url + 8);
		if (n < 0 || (size_t)n >= sizeof(plain) ||
		    url_parse(plain, (size_t)n, &u, &err) != 0)
			err = err != NULL ? err : "url: too long";
	} else if (url_parse(url, strlen(url), &u, &err) != 0) {
		err = err != NULL ? err : "url: invalid";
	}
	if (err != NULL) {
		fprintf(stderr, "hookd sign: --curl %s; give an absolute "
		    "http:// URL such as http://127.0.0.1:9000/callback\n", err);
		return 1;
	}
	/* A shell word cannot carry a NUL byte: the command would send
	 * another payload than the one signed. */
	if (memchr(payload, '\0', plen) != NULL) {
		fputs("hookd sign: --curl: the payload has a NUL byte, which a "
		    "shell command cannot carry; print the headers without "
		    "--curl and send the file with curl --data-binary @FILE\n",
		    stderr);
		return 1;
	}
	if (buf_printf(&hid, "webhook-id: %s", id) != 0 ||
	    buf_printf(&hsig, "webhook-signature: %s", sig) != 0) {
		buf_free(&hid);
		buf_free(&hsig);
		fputs("hookd sign: out of memory\n", stderr);
		return 1;
	}
	(void)util_fmt_i64(ts, tsbuf);
	/* printf '%s' WORD writes the word's bytes as they are (no newline
	 * added, no escapes read), and --data-binary @- sends them as they
	 * are; curl's -d would drop newlines and read a leading @ as a file
	 * name. */
	fputs("printf '%s' ", stdout);
	listen_shell_quote(payload, plen);
	fputs(" |\n  curl -sS -i ", stdout);
	listen_shell_quote(url, strlen(url));
	fputs(" \\\n    -H 'content-type: application/json' \\\n    -H ",
	    stdout);
	listen_shell_quote(hid.data, hid.len);
	printf(" \\\n    -H 'webhook-timestamp: %s' \\\n    -H ", tsbuf);
	listen_shell_quote(hsig.data, hsig.len);
	fputs(" \\\n    --data-binary @-\n", stdout);
	buf_free(&hid);
	buf_free(&hsig);
	return 0;
}

/* ------------------------------------------------------------------ */
/* The receiver */

static void
listen_close(struct listen_conn *c)
{
	(void)close(c->fd);
	c->fd = -1;
	c->writing = 0;
	c->continued = 0;
	c->out_off = 0;
	buf_free(&c->in);
	buf_free(&c->out);
}

/* Queue the answer (status, JSON body or none) and switch to writing it.
 * Every answer closes the connection: one request each keeps the receiver
 * a simple loop, and hookd opens a new connection when it must. */
static void
listen_answer(struct listen_conn *c, int status, const char *body,
    size_t blen)
{
	buf_reset(&c->out);
	if (http_write_head(&c->out, status, blen > 0 ? "application/json" :
	    NULL, blen, 0) != 0 || buf_append(&c->out, body, blen) != 0) {
		listen_close(c);
		return;
	}
	c->writing = 1;
	c->out_off = 0;
}

/* Answer an error status with {"error": why}, and say so on stderr. */
static void
listen_refuse(struct listen_conn *c, int status, const char *why)
{
	struct buf b = {0};

	fprintf(stderr, "hookd listen: answered %d: %s\n", status, why);
	if (buf_puts(&b, "{\"error\":") != 0 || json_put_cstr(&b, why) != 0 ||
	    buf_puts(&b, "}") != 0) {
		buf_free(&b);
		listen_close(c);
		return;
	}
	listen_answer(c, status, b.data, b.len);
	buf_free(&b);
}

/* The refId of the data, as a receiver of the seed's callbacks finds it:
 * a top-level member of the JSON body, or a parameter of a GET's query
 * string (percent-decoded). Appended to out as text; 0 when found, -1
 * when not (or not a string, number or boolean). */
static int
listen_ref_id(int is_get, const char *p, size_t n, struct buf *out)
{
	struct json_tok *toks;
	size_t i = 0;
	int count, v, rc = -1;

	if (is_get) {
		while (i < n) {
			size_t e = i;

			while (e < n && p[e] != '&')
				e++;
			if (e - i > 6 && memcmp(p + i, "refId=", 6) == 0) {
				for (i += 6; i < e; i++) {
					int h = i + 2 < e ?
					    util_hex_digit(p[i + 1], 0) : -1;
					int l = i + 2 < e ?
					    util_hex_digit(p[i + 2], 0) : -1;
					char ch = p[i];

					if (ch == '%' && h >= 0 && l >= 0) {
						ch = (char)(h << 4 | l);
						i += 2;
					} else if (ch == '+') {
						ch = ' ';
					}
					if (buf_append(out, &ch, 1) != 0)
						return -1;
				}
				return 0;
			}
			i = e + 1;
		}
		return -1;
	}
	count = json_parse(p, n, NULL, 0);
	if (count <= 0)
		return -1;
	toks = malloc((size_t)count * sizeof(*toks));
	if (toks == NULL)
		return -1;
	if (json_parse(p, n, toks, (size_t)count) == count &&
	    (v = json_get(p, toks, 0, "refId")) >= 0) {
		if (toks[v].type == JSON_STRING)
			rc = json_str_buf(p, &toks[v], out);
		else if (toks[v].type == JSON_NUMBER ||
		    toks[v].type == JSON_TRUE || toks[v].type == JSON_FALSE)
			rc = buf_append(out, p + toks[v].start, toks[v].len);
	}
	free(toks);
	return rc;
}

/* The seed's acknowledgement (contract §5) into b: ack, the time now,
 * reqRefId the webhook-id, refId the data's refId when it has one. */
static int
listen_ack(struct buf *b, const struct cli_sig_hdrs *h, int is_get,
    const char *payload, size_t plen)
{
	char t[UTIL_TIME_MAX];
	struct buf ref = {0};
	int rc = 0;

	rc |= buf_puts(b, "{\"ack\":true,\"timestamp\":");
	rc |= json_put_cstr(b, util_fmt_time(util_wall_ms(), t));
	if (h->count[CLI_HDR_ID] > 0) {
		rc |= buf_puts(b, ",\"reqRefId\":");
		rc |= json_put_str(b, h->v[CLI_HDR_ID], h->len[CLI_HDR_ID]);
	}
	if (listen_ref_id(is_get, payload, plen, &ref) == 0) {
		rc |= buf_puts(b, ",\"refId\":");
		rc |= json_put_str(b, ref.data != NULL ? ref.data : "",
		    ref.len);
	}
	rc |= buf_puts(b, "}");
	buf_free(&ref);
	return rc != 0 || b->oom ? -1 : 0;
}

/* One header's value quoted for a terminal line (log_quote: no control
 * byte of a sender reaches the terminal), "-" when absent. */
static const char *
listen_hval(const struct http_request *req, const char *name, char *out,
    size_t outsz)
{
	const struct http_header *hd;

	hd = http_find_header(req->headers, req->num_headers, name);
	if (hd == NULL)
		return "-";
	return log_quote(out, outsz, hd->value, hd->value_len);
}

/* Append "name":value-or-null of a header to b. */
static int
listen_json_hdr(struct buf *b, const struct http_request *req,
    const char *key, const char *name)
{
	const struct http_header *hd;

	hd = http_find_header(req->headers, req->num_headers, name);
	if (buf_printf(b, ",\"%s\":", key) != 0)
		return -1;
	if (hd == NULL)
		return buf_puts(b, "null");
	return json_put_str(b, hd->value, hd->value_len);
}

/* Print one request: a text block, or with --json one JSON line. */
static void
listen_print(const struct listen_state *st, const struct http_request *req,
    const char *reason, int status, const char *body, size_t blen)
{
	char t[UTIL_TIME_MAX], q[4][512];
	struct buf b = {0}, safe = {0};

	(void)util_fmt_time(util_wall_ms(), t);
	if (st->json) {
		int rc = 0;

		rc |= buf_puts(&b, "{\"time\":");
		rc |= json_put_cstr(&b, t);
		rc |= buf_puts(&b, ",\"method\":");
		rc |= json_put_str(&b, req->method, req->method_len);
		rc |= buf_puts(&b, ",\"path\":");
		rc |= json_put_str(&b, req->target, req->target_len);
		rc |= listen_json_hdr(&b, req, "webhook_id", "webhook-id");
		rc |= listen_json_hdr(&b, req, "event_type",
		    "hookd-event-type");
		rc |= listen_json_hdr(&b, req, "attempt", "hookd-attempt");
		rc |= listen_json_hdr(&b, req, "endpoint", "hookd-endpoint");
		rc |= buf_printf(&b, ",\"verified\":%s,\"reason\":",
		    reason == NULL ? "true" : "false");
		rc |= json_put_cstr(&b, reason);
		rc |= buf_printf(&b, ",\"status\":%d,\"body\":", status);
		rc |= json_put_str(&b, body, blen);
		rc |= buf_puts(&b, "}\n");
		/* The line as JSON, with what a terminal acts on escaped. */
		if (rc == 0 && !b.oom && json_term_json(&safe, b.data,
		    b.len) == 0)
			fwrite(safe.data, 1, safe.len, stdout);
		buf_free(&b);
		buf_free(&safe);
		(void)fflush(stdout);
		return;
	}
	printf("%s %.*s %s webhook-id=%s hookd-event-type=%s "
	    "hookd-attempt=%s\n", t, (int)req->method_len, req->method,
	    log_quote(q[0], sizeof(q[0]), req->target, req->target_len),
	    listen_hval(req, "webhook-id", q[1], sizeof(q[1])),
	    listen_hval(req, "hookd-event-type", q[2], sizeof(q[2])),
	    listen_hval(req, "hookd-attempt", q[3], sizeof(q[3])));
	if (reason == NULL)
		printf("verified\n");
	else
		printf("NOT verified: %s (answered %d)\n", reason, status);
	/* A JSON body is shown as sent, but for what a terminal acts on
	 * (C1 controls, bidi overrides), written as \uXXXX: the same JSON.
	 * Anything else is quoted, so that no byte of it can drive the
	 * terminal. */
	if (blen == 0) {
		printf("(no body)\n");
	} else if (json_parse(body, blen, NULL, 0) > 0) {
		if (json_term_json(&b, body, blen) == 0)
			fwrite(b.data, 1, b.len, stdout);
		putchar('\n');
	} else if (buf_reserve(&b, blen * 4 + 8) == 0) {
		printf("%s\n", log_quote(b.data, blen * 4 + 8, body, blen));
	}
	putchar('\n');
	buf_free(&b);
	(void)fflush(stdout);
}

/* A whole request is in c->in: verify it, print it and queue the answer. */
static void
listen_handle(struct listen_state *st, struct listen_conn *c,
    const struct http_request *req, const char *body, size_t blen)
{
	struct cli_sig_hdrs h;
	struct buf ans = {0};
	const char *payload = body, *reason, *qm;
	size_t i, plen = blen;
	int is_get, k, status = 200;

	memset(&h, 0, sizeof(h));
	for (i = 0; i < req->num_headers; i++) {
		const struct http_header *hd = &req->headers[i];

		for (k = 0; k < CLI_HDR_COUNT; k++) {
			if (!util_span_ieq(hd->name, hd->name_len,
			    cli_sig_hdr_names[k]))
				continue;
			h.v[k] = hd->value;
			h.len[k] = hd->value_len;
			h.count[k]++;
		}
	}
	/* Contract §4: a GET delivery signs its query string, without '?'. */
	is_get = util_span_eq(req->method, req->method_len, "GET") ||
	    util_span_eq(req->method, req->method_len, "HEAD");
	if (is_get) {
		qm = memchr(req->target, '?', req->target_len);
		payload = qm != NULL ? qm + 1 : "";
		plen = qm != NULL ? req->target_len -
		    (size_t)(qm + 1 - req->target) : 0;
	}
	reason = cli_verify_sig(&h, st->keys, st->klens, st->nkeys,
	    util_wall_ms() / 1000, CLI_VERIFY_TOLERANCE, payload, plen);
	if (reason != NULL) {
		status = 401;
		if (buf_puts(&ans, "{\"error\":\"signature not verified: ") !=
		    0 || buf_puts(&ans, reason) != 0 || buf_puts(&ans, "\"}"))
			status = 500;
	} else if (st->ack && listen_ack(&ans, &h, is_get, payload,
	    plen) != 0) {
		status = 500;
	}
	listen_print(st, req, reason, status, body, blen);
	if (status == 500)
		listen_refuse(c, 500, "out of memory");
	else
		listen_answer(c, status, ans.data, ans.len);
	buf_free(&ans);
}

/* Look at what c has received: wait for more, answer a bad request, or
 * handle a whole one. */
static void
listen_try(struct listen_state *st, struct listen_conn *c)
{
	static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
	static const struct http_limits lim = {
		LISTEN_HEAD_MAX, HTTP_MAX_HEADERS
	};
	struct http_request req;
	int status = 400, r;
	uint64_t cl;

	r = http_parse_request(c->in.data, c->in.len, &lim, &req, &status);
	if (r == -2)
		return;
	if (r < 0) {
		listen_refuse(c, status, "not a valid HTTP/1.1 request "
		    "(hookd listen parses strictly, as hookd does)");
		return;
	}
	if (req.chunked) {
		listen_refuse(c, 411, "send the body with Content-Length, "
		    "not chunked");
		return;
	}
	cl = req.content_length > 0 ? (uint64_t)req.content_length : 0;
	if (cl > LISTEN_BODY_MAX) {
		listen_refuse(c, 413, "body over 4 MiB");
		return;
	}
	if (c->in.len - (size_t)r < cl) {
		/* The client waits for this before sending the body; it is
		 * small enough for any socket's empty send buffer. */
		if (req.expect_continue && !c->continued) {
			c->continued = 1;
			if (write(c->fd, cont, sizeof(cont) - 1) !=
			    (ssize_t)(sizeof(cont) - 1))
				listen_close(c);
		}
		return;
	}
	listen_handle(st, c, &req, c->in.data + r, (size_t)cl);
}

static void
listen_read(struct listen_state *st, struct listen_conn *c)
{
	ssize_t n;

	if (buf_reserve(&c->in, 65536) != 0) {
		listen_close(c);
		return;
	}
	n = read(c->fd, c->in.data + c->in.len, 65536);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
	    errno == EINTR))
		return;
	if (n <= 0) {
		listen_close(c);
		return;
	}
	c->in.len += (size_t)n;
	c->in.data[c->in.len] = '\0';
	listen_try(st, c);
}

static void
listen_write(struct listen_conn *c)
{
	ssize_t n;

	n = write(c->fd, c->out.data + c->out_off, c->out.len - c->out_off);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
	    errno == EINTR))
		return;
	if (n <= 0) {
		listen_close(c);
		return;
	}
	c->out_off += (size_t)n;
	if (c->out_off == c->out.len)
		listen_close(c);
}

/* A slot for a new connection: a free one, else the oldest idle one (it
 * has sent no whole request yet), which is closed to make room: 32 idle
 * connections (a browser's preconnects, a port scan, a slow client) must
 * not stall the callbacks behind them. -1 when every connection is busy
 * writing its answer. */
static int
listen_slot(struct listen_state *st)
{
	int i, oldest = -1;

	for (i = 0; i < LISTEN_CONNS; i++) {
		if (st->conn[i].fd < 0)
			return i;
		if (!st->conn[i].writing && (oldest < 0 ||
		    st->conn[i].deadline < st->conn[oldest].deadline))
			oldest = i;
	}
	return oldest;
}

static void
listen_accept(struct listen_state *st, int lfd, int64_t now)
{
	int i, fd;

	if ((i = listen_slot(st)) < 0)
		return;
	fd = accept(lfd, NULL, NULL);
	if (fd < 0)
		return;
	if (util_fd_nonblock(fd) != 0 || util_fd_cloexec(fd) != 0) {
		(void)close(fd);
		return;
	}
	if (st->conn[i].fd >= 0)
		listen_close(&st->conn[i]);
	memset(&st->conn[i], 0, sizeof(st->conn[i]));
	st->conn[i].fd = fd;
	st->conn[i].deadline = now + LISTEN_TIMEOUT_MS;
}

/* Bind and listen on host:port. The socket, or -1 with the message said
 * (the port in use says how to choose another). */
static int
listen_bind(const char *host, const char *port, char *shown, size_t shownsz)
{
	struct addrinfo hints, *res = NULL, *ai;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char h[INET6_ADDRSTRLEN], p[8];
	int fd = -1, err = 0, one = 1, rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0) {
		fprintf(stderr, "hookd listen: -l %s: %s; give an address "
		    "such as 127.0.0.1 or ::1\n", host, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
		if (fd < 0) {
			err = errno;
			continue;
		}
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
		    sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 ||
		    listen(fd, 128) != 0 || util_fd_nonblock(fd) != 0 ||
		    util_fd_cloexec(fd) != 0) {
			err = errno;
			(void)close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	if (fd < 0) {
		if (err == EADDRINUSE)
			fprintf(stderr, "hookd listen: cannot listen on %s:%s: "
			    "port %s is in use; choose another with -p PORT "
			    "(or stop what holds it: ss -ltnp 'sport = :%s')\n",
			    host, port, port, port);
		else
			fprintf(stderr, "hookd listen: cannot listen on "
			    "%s:%s: %s\n", host, port, strerror(err));
		return -1;
	}
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0 ||
	    getnameinfo((struct sockaddr *)&ss, sl, h, sizeof(h), p,
	    sizeof(p), NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		rc = snprintf(shown, shownsz, "%s:%s", host, port);
	else if (strchr(h, ':') != NULL)
		rc = snprintf(shown, shownsz, "[%s]:%s", h, p);
	else
		rc = snprintf(shown, shownsz, "%s:%s", h, p);
	if (rc < 0 || (size_t)rc >= shownsz)
		shown[0] = '\0';
	return fd;
}

static int
listen_serve(struct listen_state *st, int lfd)
{
	struct pollfd pfd[LISTEN_CONNS + 1];
	int idx[LISTEN_CONNS + 1];
	int i, n, np;

	while (!listen_stop) {
		int64_t now = util_mono_ms(), next = -1;
		int timeout, free_slot = 0;

		np = 0;
		for (i = 0; i < LISTEN_CONNS; i++) {
			struct listen_conn *c = &st->conn[i];

			if (c->fd < 0 || !c->writing)
				free_slot = 1;
			if (c->fd < 0)
				continue;
			pfd[np].fd = c->fd;
			pfd[np].events = c->writing ? POLLOUT : POLLIN;
			pfd[np].revents = 0;
			idx[np++] = i;
			if (next < 0 || c->deadline < next)
				next = c->deadline;
		}
		/* A new connection takes a free slot or the oldest idle
		 * one's (listen_slot); only while every connection is
		 * writing its answer do new ones wait in the backlog. */
		pfd[np].fd = free_slot ? lfd : -1;
		pfd[np].events = POLLIN;
		pfd[np].revents = 0;
		/* At most a second: a signal that lands between the check
		 * of listen_stop and poll() is seen by the next pass. */
		timeout = 1000;
		if (next >= 0)
			timeout = next <= now ? 0 : (int)util_min64(next - now,
			    1000);
		n = poll(pfd, (nfds_t)np + 1, timeout);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "hookd listen: poll: %s\n",
			    strerror(errno));
			return 1;
		}
		now = util_mono_ms();
		for (i = 0; i < np; i++) {
			struct listen_conn *c = &st->conn[idx[i]];

			if (pfd[i].revents == 0 || c->fd < 0)
				continue;
			if (c->writing)
				listen_write(c);
			else
				listen_read(st, c);
		}
		if (pfd[np].revents & POLLIN)
			listen_accept(st, lfd, now);
		for (i = 0; i < LISTEN_CONNS; i++)
			if (st->conn[i].fd >= 0 && st->conn[i].deadline <= now)
				listen_close(&st->conn[i]);
	}
	return 0;
}

/* What hookd listen's words ask for. */
struct listen_opts {
	const char *host, *port;
	int ack, json;
	size_t nsec;
	uint8_t key[LISTEN_SECRETS][SIGN_SECRET_MAX_BYTES];
	size_t klens[LISTEN_SECRETS];
};

/*
 * hookd listen's words into o, its secrets decoded: 0; 1 for --help; or 2
 * (a usage error) with the message and the usage in err (errsz bytes).
 * Nothing is printed, bound or run. The caller wipes o->key.
 */
static int
listen_parse(int argc, char **argv, struct listen_opts *o, char *err,
    size_t errsz)
{
	const char *secrets[LISTEN_SECRETS];
	uint64_t pv;
	size_t k;
	int i;

	memset(o, 0, sizeof(*o));
	o->host = "127.0.0.1";
	o->port = "9000";
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *val = NULL;

		if (cli_is_help(a))
			return 1;
		if (strcmp(a, "--ack") == 0) {
			o->ack = 1;
			continue;
		}
		if (strcmp(a, "--json") == 0) {
			o->json = 1;
			continue;
		}
		if (strncmp(a, "--secret=", 9) == 0) {
			val = a + 9;
		} else if (strcmp(a, "-p") == 0 || strcmp(a, "-l") == 0 ||
		    strcmp(a, "--secret") == 0) {
			if (i + 1 >= argc)
				return listen_usage_error(err, errsz,
				    "option needs a value:", a);
			val = argv[++i];
		} else {
			return listen_usage_error(err, errsz, a[0] == '-' ?
			    "unknown option" : "unexpected argument", a);
		}
		if (strcmp(a, "-p") == 0) {
			if (util_parse_u64(val, strlen(val), 65535, &pv) != 0)
				return listen_usage_error(err, errsz, "-p needs "
				    "a port number 0..65535, not", val);
			o->port = val;
		} else if (strcmp(a, "-l") == 0) {
			o->host = val;
		} else {
			if (o->nsec == LISTEN_SECRETS)
				return listen_usage_error(err, errsz, "--secret "
				    "at most twice (the old and the new secret "
				    "of a rotation)", NULL);
			secrets[o->nsec++] = val;
		}
	}
	if (o->nsec == 0)
		return listen_usage_error(err, errsz, "--secret is required: "
		    "the endpoint's secret (GET /v1/endpoints/ID) or the "
		    "client's", NULL);
	for (k = 0; k < o->nsec; k++) {
		int klen = sign_secret_key(secrets[k], strlen(secrets[k]), 0,
		    o->key[k]);

		if (klen < 0)
			return listen_usage_error(err, errsz, "--secret is not a "
			    "valid secret (whsec_ and base64)", NULL);
		o->klens[k] = (size_t)klen;
	}
	return 0;
}

int
cli_listen_args(int argc, char **argv, char *err, size_t errsz)
{
	static struct listen_opts o;
	int rc = listen_parse(argc, argv, &o, err, errsz);

	sign_wipe(o.key, sizeof(o.key));
	return rc == 1 ? 0 : rc;
}

int
cli_listen_main(int argc, char **argv)
{
	static struct listen_state st;
	static struct listen_opts o;
	const char *host, *port;
	struct sigaction sa;
	/* err: room for a word of the command line quoted whole. */
	char shown[INET6_ADDRSTRLEN + 16], err[8192];
	size_t nsec, k;
	int i, lfd, rc;

	rc = listen_parse(argc, argv, &o, err, sizeof(err));
	if (rc == 1) {
		fputs(listen_usage, stdout);
		return fflush(stdout) == 0 ? 0 : 1;
	}
	if (rc != 0) {
		sign_wipe(o.key, sizeof(o.key));
		fputs(err, stderr);
		return rc;
	}
	host = o.host;
	port = o.port;
	nsec = o.nsec;
	st.ack = o.ack;
	st.json = o.json;
	for (k = 0; k < nsec; k++) {
		/* Any base64 is a key (as in Standard Webhooks' libraries),
		 * so a pasted word is one too; hookd's secrets are never
		 * shorter, and every callback would then be refused. */
		if (o.klens[k] < SIGN_SECRET_MIN_BYTES)
			fprintf(stderr, "hookd listen: warning: --secret %zu "
			    "decodes to %zu bytes; hookd's secrets are %d to %d "
			    "(GET /v1/endpoints/ID shows the endpoint's)\n",
			    k + 1, o.klens[k], SIGN_SECRET_MIN_BYTES,
			    SIGN_SECRET_MAX_BYTES);
		memcpy(st.key[k], o.key[k], sizeof(st.key[k]));
		st.keys[k] = st.key[k];
		st.klens[k] = o.klens[k];
	}
	sign_wipe(o.key, sizeof(o.key));
	st.nkeys = nsec;
	for (i = 0; i < LISTEN_CONNS; i++)
		st.conn[i].fd = -1;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = listen_on_signal;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGINT, &sa, NULL) != 0 ||
	    sigaction(SIGTERM, &sa, NULL) != 0)
		return 1;
	sa.sa_handler = SIG_IGN;
	(void)sigaction(SIGPIPE, &sa, NULL);

	lfd = listen_bind(host, port, shown, sizeof(shown));
	if (lfd < 0)
		return 1;
	printf("listening on http://%s/ (%zu secret%s%s; Ctrl-C stops)\n",
	    shown, nsec, nsec > 1 ? "s" : "", st.ack ? ", --ack" : "");
	if (fflush(stdout) != 0) {
		(void)close(lfd);
		return 1;
	}
	rc = listen_serve(&st, lfd);
	for (i = 0; i < LISTEN_CONNS; i++)
		if (st.conn[i].fd >= 0)
			listen_close(&st.conn[i]);
	(void)close(lfd);
	for (k = 0; k < nsec; k++)
		sign_wipe(st.key[k], sizeof(st.key[k]));
	return rc;
}
