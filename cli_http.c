/*
 * cli_http: the command line's HTTP client: connect with a deadline, send
 * one request, read one answer with http_parse_response and
 * http_decode_chunked, close.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "cli_http.h"
#include "config.h"
#include "http.h"
#include "util.h"

/* The head of an answer: hookd's are small; the bound is the daemon's own
 * default for request heads. */
#define CLI_HTTP_MAX_HEAD 16384

/* Wait for fd to be ready for events within CLI_HTTP_TIMEOUT_MS. 1 ready,
 * 0 timed out, -1 error (errno). */
static int
cli_wait(int fd, short events)
{
	struct pollfd p;
	int r;

	p.fd = fd;
	p.events = events;
	p.revents = 0;
	do
		r = poll(&p, 1, CLI_HTTP_TIMEOUT_MS);
	while (r < 0 && errno == EINTR);
	return r;
}

/* A wildcard listen address is reached on loopback: hookd listens on
 * every address, so the machine's own one is among them. */
static void
cli_unwild(struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)(void *)ss;

		if (a->sin_addr.s_addr == htonl(INADDR_ANY))
			a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	} else if (ss->ss_family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)(void *)ss;

		if (memcmp(&a->sin6_addr, &in6addr_any, sizeof(a->sin6_addr))
		    == 0)
			a->sin6_addr = in6addr_loopback;
	}
}

/* Connect to addr within the deadline. The socket, or -1 with err set. */
static int
cli_connect(const char *addr, char *err, size_t errsz)
{
	struct sockaddr_storage ss;
	socklen_t len, elen;
	int fd, r, soerr = 0;

	if (config_listen_addr(addr, &ss, &len) != 0) {
		snprintf(err, errsz, "bad address \"%s\": want IPV4:PORT or "
		    "[IPV6]:PORT (-l HOST:PORT)", addr);
		return -1;
	}
	cli_unwild(&ss);
	fd = socket(ss.ss_family, SOCK_STREAM, 0);
	if (fd < 0 || util_fd_nonblock(fd) != 0) {
		soerr = errno;
		goto fail;
	}
	if (connect(fd, (struct sockaddr *)(void *)&ss, len) != 0) {
		if (errno != EINPROGRESS) {
			soerr = errno;
			goto fail;
		}
		r = cli_wait(fd, POLLOUT);
		if (r == 0) {
			snprintf(err, errsz, "cannot connect to %s: no answer "
			    "within %d s; is hookd running? (-l HOST:PORT)",
			    addr, CLI_HTTP_TIMEOUT_MS / 1000);
			close(fd);
			return -1;
		}
		elen = sizeof(soerr);
		if (r < 0)
			soerr = errno;
		else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr,
		    &elen) != 0)
			soerr = errno;
		if (soerr != 0)
			goto fail;
	}
	return fd;
fail:
	snprintf(err, errsz, "cannot connect to %s: %s; is hookd running? "
	    "(-l HOST:PORT)", addr, strerror(soerr));
	if (fd >= 0)
		close(fd);
	return -1;
}

/* Write all of p within the deadline for each step. 0 or -1. */
static int
cli_send(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			if (cli_wait(fd, POLLOUT) <= 0) {
				errno = ETIMEDOUT;
				return -1;
			}
			continue;
		}
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Read more into b: bytes read, 0 at the end, -1 with errno (ETIMEDOUT
 * when nothing came within the deadline). */
static ssize_t
cli_recv(int fd, struct buf *b)
{
	ssize_t r;

	if (buf_reserve(b, 65536) != 0) {
		errno = ENOMEM;
		return -1;
	}
	for (;;) {
		r = recv(fd, b->data + b->len, b->cap - b->len - 1, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN) {
			int w = cli_wait(fd, POLLIN);

			if (w == 0)
				errno = ETIMEDOUT;
			if (w <= 0)
				return -1;
			continue;
		}
		if (r > 0) {
			b->len += (size_t)r;
			b->data[b->len] = '\0';
		}
		return r;
	}
}

int
cli_http_call(const char *addr, const char *token, const char *method,
    const char *target, const char *extra, const char *body, size_t body_len,
    struct cli_http_answer *ans, char *err, size_t errsz)
{
	const struct http_limits lim = { CLI_HTTP_MAX_HEAD, HTTP_MAX_HEADERS };
	struct http_response res;
	struct http_chunked ch;
	struct buf req = { 0 }, in = { 0 };
	ssize_t head = -2, r;
	size_t have, dec = 0;	/* dec: decoded chunked bytes at in's front */
	int fd;

	memset(ans, 0, sizeof(*ans));
	if ((fd = cli_connect(addr, err, errsz)) < 0)
		return -1;
	buf_printf(&req, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n"
	    "User-Agent: hookd-cli/%s\r\n", method, target, addr,
	    HOOKD_VERSION);
	if (token != NULL)
		buf_printf(&req, "Authorization: Bearer %s\r\n", token);
	if (extra != NULL)
		buf_puts(&req, extra);
	if (body != NULL)
		buf_printf(&req, "Content-Type: application/json\r\n"
		    "Content-Length: %zu\r\n\r\n", body_len);
	else
		buf_puts(&req, "Content-Length: 0\r\n\r\n");
	if (body != NULL)
		buf_append(&req, body, body_len);
	if (req.oom) {
		snprintf(err, errsz, "out of memory");
		goto fail;
	}
	if (cli_send(fd, req.data, req.len) != 0) {
		snprintf(err, errsz, "%s: cannot send the request: %s", addr,
		    strerror(errno));
		goto fail;
	}
	/* The head (skipping any 1xx). */
	for (;;) {
		if (in.len > 0)
			head = http_parse_response(in.data, in.len, &lim, &res);
		if (head > 0 && res.status < 200) {
			buf_consume(&in, (size_t)head);
			head = -2;
			continue;
		}
		if (head != -2)
			break;
		if ((r = cli_recv(fd, &in)) <= 0) {
			snprintf(err, errsz, "%s: %s before an answer", addr,
			    r == 0 ? "connection closed" : errno == ETIMEDOUT ?
			    "no answer in time" : strerror(errno));
			goto fail;
		}
	}
	if (head < 0) {
		snprintf(err, errsz, "%s: not an HTTP answer (is it hookd?)",
		    addr);
		goto fail;
	}
	ans->status = res.status;
	buf_consume(&in, (size_t)head);
	/* The body: chunked, Content-Length, or to the end. */
	memset(&ch, 0, sizeof(ch));
	for (;;) {
		if (in.len > CLI_HTTP_MAX_ANSWER) {
			snprintf(err, errsz, "%s: answer over %u MiB", addr,
			    CLI_HTTP_MAX_ANSWER >> 20);
			goto fail;
		}
		if (res.chunked) {
			have = in.len - dec;
			r = http_decode_chunked(&ch, in.data + dec, &have);
			if (r == -1) {
				snprintf(err, errsz, "%s: bad chunked answer",
				    addr);
				goto fail;
			}
			dec += have;
			in.len = dec;
			if (r >= 0)
				break;
		} else if (res.content_length >= 0 &&
		    in.len >= (uint64_t)res.content_length) {
			in.len = (size_t)res.content_length;
			break;
		}
		r = cli_recv(fd, &in);
		if (r == 0 && !res.chunked && res.content_length < 0)
			break;
		if (r <= 0) {
			snprintf(err, errsz, "%s: answer cut short (%s)", addr,
			    r == 0 ? "connection closed" : errno == ETIMEDOUT ?
			    "no more bytes in time" : strerror(errno));
			goto fail;
		}
	}
	if (in.data != NULL)
		in.data[in.len] = '\0';
	ans->body = in;
	close(fd);
	buf_free(&req);
	return 0;
fail:
	close(fd);
	buf_free(&req);
	buf_free(&in);
	memset(&ans->body, 0, sizeof(ans->body));
	return -1;
}
