/*
 * cli_http: the command line's HTTP client: connect with a deadline, send
 * one request, read one answer with http_parse_response and
 * http_decode_chunked, close.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
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

/* The self-pipe of the stop signals (cli_http_catch_stop): -1 until set. */
static int cli_stop_pipe[2] = { -1, -1 };
static volatile sig_atomic_t cli_stop_flag;
/* The deadline of the exchange under way (CLOCK_MONOTONIC ms), and
 * whether it, rather than the wait for the next bytes, ran out. */
static int64_t cli_deadline;
static int cli_deadline_hit;

static void
cli_on_stop(int sig)
{
	int saved = errno;

	(void)sig;
	cli_stop_flag = 1;
	if (cli_stop_pipe[1] >= 0)
		(void)write(cli_stop_pipe[1], "x", 1);
	errno = saved;
}

int
cli_http_catch_stop(void)
{
	struct sigaction sa;

	if (cli_stop_pipe[0] < 0) {
		if (pipe(cli_stop_pipe) != 0)
			return -1;
		if (util_fd_nonblock(cli_stop_pipe[0]) != 0 ||
		    util_fd_nonblock(cli_stop_pipe[1]) != 0 ||
		    util_fd_cloexec(cli_stop_pipe[0]) != 0 ||
		    util_fd_cloexec(cli_stop_pipe[1]) != 0)
			return -1;
	}
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = cli_on_stop;
	if (sigaction(SIGINT, &sa, NULL) != 0 ||
	    sigaction(SIGTERM, &sa, NULL) != 0)
		return -1;
	return 0;
}

int
cli_http_stopped(void)
{
	return cli_stop_flag != 0;
}

/*
 * Wait for fd (-1: none) to be ready for events, at most timeout ms (-1:
 * no limit but the stop), or a stop signal. 1 ready, 0 timed out, -1 with
 * errno (EINTR: a stop signal came).
 */
static int
cli_poll(int fd, short events, int timeout)
{
	struct pollfd p[2];
	int r;

	p[0].fd = fd;
	p[0].events = events;
	p[0].revents = 0;
	p[1].fd = cli_stop_pipe[0];
	p[1].events = POLLIN;
	p[1].revents = 0;
	for (;;) {
		if (cli_stop_flag) {
			errno = EINTR;
			return -1;
		}
		r = poll(p, 2, timeout);
		if (r < 0 && errno == EINTR)
			continue;
		if (r > 0 && p[1].revents != 0 && cli_stop_flag) {
			errno = EINTR;
			return -1;
		}
		return r < 0 ? -1 : r > 0 && p[0].revents != 0 ? 1 : r > 0 ?
		    -1 : 0;
	}
}

void
cli_http_pause(int ms)
{
	int64_t end = util_mono_ms() + ms, now;

	while (!cli_stop_flag && (now = util_mono_ms()) < end)
		(void)cli_poll(-1, 0, (int)(end - now));
}

/* Wait for fd to be ready for events within CLI_HTTP_TIMEOUT_MS, and
 * within the exchange's deadline. 1 ready, 0 timed out (cli_deadline_hit
 * set when it was the deadline), -1 error (errno; EINTR a stop signal). */
static int
cli_wait(int fd, short events)
{
	int64_t left = cli_deadline - util_mono_ms();
	int r;

	if (left <= 0) {
		cli_deadline_hit = 1;
		return 0;
	}
	r = cli_poll(fd, events, (int)util_min64(left, CLI_HTTP_TIMEOUT_MS));
	if (r == 0 && left <= CLI_HTTP_TIMEOUT_MS)
		cli_deadline_hit = 1;
	return r;
}

/* HOOKD_CLI_TIMEOUT's seconds into *s: 1 when it is set (not empty) to a
 * number 1-CLI_HTTP_DEADLINE_MAX_S, 0 when unset or empty, -1 otherwise. */
static int
cli_timeout_env(uint64_t *s)
{
	const char *v = getenv("HOOKD_CLI_TIMEOUT");

	if (v == NULL || v[0] == '\0')
		return 0;
	if (util_parse_u64(v, strlen(v), CLI_HTTP_DEADLINE_MAX_S, s) == 0 &&
	    *s > 0)
		return 1;
	return -1;
}

int
cli_http_timeout_check(char *err, size_t errsz)
{
	uint64_t s;

	if (cli_timeout_env(&s) >= 0)
		return 0;
	snprintf(err, errsz, "HOOKD_CLI_TIMEOUT wants whole seconds from 1 "
	    "to %d, not \"%s\" (unset it for the default %d)",
	    CLI_HTTP_DEADLINE_MAX_S, getenv("HOOKD_CLI_TIMEOUT"),
	    CLI_HTTP_DEADLINE_MS / 1000);
	return -1;
}

/* The deadline of one exchange in ms: HOOKD_CLI_TIMEOUT's seconds when it
 * is set (cli_http_timeout_check refused a bad one first), else the
 * default. */
static int64_t
cli_deadline_ms(void)
{
	uint64_t s;

	if (cli_timeout_env(&s) == 1)
		return (int64_t)s * 1000;
	return CLI_HTTP_DEADLINE_MS;
}

/* Why a wait ended without bytes, for a message: "no answer within N s
 * (...)", "nothing for N s", "interrupted", or errno's text. */
static const char *
cli_why(ssize_t r, char *out, size_t outsz)
{
	if (r == 0)
		return "connection closed";
	if (errno == EINTR)
		return "interrupted";
	if (errno != ETIMEDOUT)
		return strerror(errno);
	if (cli_deadline_hit)
		snprintf(out, outsz, "not done within %lld s (the command's "
		    "deadline; HOOKD_CLI_TIMEOUT=SECONDS sets another)",
		    (long long)(cli_deadline_ms() / 1000));
	else
		snprintf(out, outsz, "nothing came for %d s",
		    CLI_HTTP_TIMEOUT_MS / 1000);
	return out;
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
		snprintf(err, errsz, "bad address \"%s\": want "
		    CONFIG_LISTEN_FORMS " (-l)", addr);
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
			errno = ETIMEDOUT;
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
	    "(-l HOST:PORT)", addr, soerr == EINTR ? "interrupted" :
	    strerror(soerr));
	if (fd >= 0)
		close(fd);
	errno = soerr;
	return -1;
}

/* Write all of p within the deadlines. 0 or -1 (errno). */
static int
cli_send(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			int ready = cli_wait(fd, POLLOUT);

			if (ready == 0)
				errno = ETIMEDOUT;
			if (ready <= 0)
				return -1;
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
	char why[160];
	int fd, interim = 0;

	memset(ans, 0, sizeof(*ans));
	cli_deadline = util_mono_ms() + cli_deadline_ms();
	cli_deadline_hit = 0;
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
		    cli_why(-1, why, sizeof(why)));
		goto fail;
	}
	/* The head (skipping any 1xx). */
	for (;;) {
		if (in.len > 0)
			head = http_parse_response(in.data, in.len, &lim, &res);
		if (head > 0 && res.status < 200) {
			if (++interim > CLI_HTTP_MAX_INTERIM) {
				snprintf(err, errsz, "%s: over %d interim (1xx) "
				    "answers and no answer (is it hookd?)",
				    addr, CLI_HTTP_MAX_INTERIM);
				goto fail;
			}
			buf_consume(&in, (size_t)head);
			head = -2;
			continue;
		}
		if (head != -2)
			break;
		if ((r = cli_recv(fd, &in)) <= 0) {
			snprintf(err, errsz, "%s: no answer: %s", addr,
			    cli_why(r, why, sizeof(why)));
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
			snprintf(err, errsz, "%s: answer cut short: %s", addr,
			    cli_why(r, why, sizeof(why)));
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
	r = errno;
	close(fd);
	buf_free(&req);
	buf_free(&in);
	memset(&ans->body, 0, sizeof(ans->body));
	errno = (int)r;
	return -1;
}
