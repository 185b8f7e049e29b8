/*
 * hbench: the load tools of `make bench` that wrk and nginx cannot be: a
 * fixed-rate poster that is also the receiver (delivery latency), a poster of
 * exactly N events (memory), and receivers that never answer (isolation).
 * libc and POSIX only, one thread, one poll() loop per mode.
 *
 *   hbench latency PORT TOKEN RATE SECONDS RECV_PORT BODY
 *       post BODY to 127.0.0.1:PORT/v1/events RATE times a second for
 *       SECONDS while receiving deliveries on 127.0.0.1:RECV_PORT; print
 *       "sent=N matched=N p50_us=.. p90_us=.. p99_us=.. max_us=..", the time
 *       from reading the 202 to the delivery's arrival, matched by event id.
 *   hbench post PORT TOKEN N CONNS BODY [PATH]
 *       post BODY exactly N times over CONNS keep-alive connections to PATH
 *       (default /v1/events); print "posted=N non202=N seconds=.. rate=..".
 *   hbench hole N
 *       listen on N free loopback ports, print them one a line, then accept
 *       and hold every connection without ever answering, until killed.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>

/* Connections a mode may hold: posters' pools, receivers, held sockets. */
#define MAXCONN 4096
#define BUFSZ 65536

struct conn {
	int fd;
	int busy;		/* poster: a request is out */
	int64_t sent_at;	/* poster: when it went out (ns) */
	size_t len;		/* bytes in buf */
	char buf[BUFSZ];
};

static struct conn *conns[MAXCONN];
static struct pollfd pfd[MAXCONN + 2];

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void
die(const char *what)
{
	fprintf(stderr, "hbench: %s: %s\n", what, strerror(errno));
	exit(2);
}

static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static long
num(const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *s == '\0' || *end != '\0' || v < 0) {
		fprintf(stderr, "hbench: bad number \"%s\"\n", s);
		exit(2);
	}
	return v;
}

static int
listen_on(int port)
{
	struct sockaddr_in a;
	int fd, one = 1;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		die("socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		die("bind");
	if (listen(fd, 1024) < 0)
		die("listen");
	fcntl(fd, F_SETFL, O_NONBLOCK);
	return fd;
}

static int
connect_to(int port)
{
	struct sockaddr_in a;
	int fd, one = 1;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		die("socket");
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		die("connect");
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	fcntl(fd, F_SETFL, O_NONBLOCK);
	return fd;
}

static void
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			struct pollfd x = { .fd = fd, .events = POLLOUT };

			poll(&x, 1, 1000);
			continue;
		}
		if (w <= 0)
			die("write");
		p += w;
		n -= (size_t)w;
	}
}

static struct conn *
conn_new(int fd)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (c == NULL)
		die("calloc");
	c->fd = fd;
	return c;
}

/* The first n2 bytes of s2 in s1[0..n1), or NULL (memmem is not POSIX
 * 2008). */
static const char *
find(const char *s1, size_t n1, const char *s2, size_t n2)
{
	size_t i;

	for (i = 0; i + n2 <= n1; i++)
		if (s1[i] == s2[0] && memcmp(s1 + i, s2, n2) == 0)
			return s1 + i;
	return NULL;
}

/* The value of header name in the head [p, p+n), or NULL. */
static const char *
header(const char *p, size_t n, const char *name, size_t *vlen)
{
	size_t nl = strlen(name);
	const char *end = p + n, *line = memchr(p, '\n', n);

	while (line != NULL && line + 1 < end) {
		const char *s = line + 1, *e = memchr(s, '\n', (size_t)(end - s));

		if (e == NULL)
			break;
		if ((size_t)(e - s) > nl && s[nl] == ':' &&
		    strncasecmp(s, name, nl) == 0) {
			s += nl + 1;
			while (*s == ' ')
				s++;
			*vlen = (size_t)(e - s);
			if (*vlen > 0 && s[*vlen - 1] == '\r')
				(*vlen)--;
			return s;
		}
		line = e;
	}
	return NULL;
}

/*
 * A whole message in c->buf: returns its length (head + Content-Length
 * body) and sets *head to the head's length, or 0 when more is needed.
 */
static size_t
message(struct conn *c, size_t *head)
{
	const char *e, *v;
	size_t vlen = 0, cl = 0;

	e = find(c->buf, c->len, "\r\n\r\n", 4);
	if (e == NULL)
		return 0;
	*head = (size_t)(e - c->buf) + 4;
	if ((v = header(c->buf, *head, "content-length", &vlen)) != NULL)
		cl = strtoul(v, NULL, 10);
	if (c->len < *head + cl)
		return 0;
	return *head + cl;
}

/* Read what is there; -1 when the peer closed or failed. */
static int
conn_fill(struct conn *c)
{
	ssize_t r;

	if (c->len == sizeof(c->buf)) {
		fprintf(stderr, "hbench: message too large\n");
		exit(2);
	}
	r = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (r <= 0)
		return -1;
	c->len += (size_t)r;
	return 0;
}

static void
conn_consume(struct conn *c, size_t n)
{
	memmove(c->buf, c->buf + n, c->len - n);
	c->len -= n;
}

/* Event id from "evt_<16 hex>" anywhere in p[0..n). */
static int
event_id(const char *p, size_t n, uint64_t *id)
{
	const char *s = find(p, n, "evt_", 4);
	char hex[17];

	if (s == NULL || (size_t)(p + n - s) < 20)
		return -1;
	memcpy(hex, s + 4, 16);
	hex[16] = '\0';
	*id = strtoull(hex, NULL, 16);
	return 0;
}

static char *request;
static size_t request_len;

static void
build_request(const char *path, const char *token, const char *body)
{
	size_t n = strlen(path) + strlen(body) + strlen(token) + 256;

	if ((request = malloc(n)) == NULL)
		die("malloc");
	request_len = (size_t)snprintf(request, n,
	    "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	    "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
	    "Content-Length: %zu\r\n\r\n%s", path, token, strlen(body),
	    body);
}

/* ---- latency: a hash of event id -> (202 time, arrival time) ---- */

struct slot {
	uint64_t id;
	int64_t acked, arrived, sent;
};

static struct slot *table;
static size_t table_mask;

static struct slot *
slot_of(uint64_t id)
{
	size_t i = (size_t)(id * 0x9e3779b97f4a7c15ull) & table_mask;

	while (table[i].id != 0 && table[i].id != id)
		i = (i + 1) & table_mask;
	table[i].id = id;
	return &table[i];
}

static int
cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static int
mode_latency(int port, const char *token, long rate, long seconds,
    int recv_port, const char *body)
{
	enum { POOL = 64 };
	struct conn *pool[POOL];
	int lfd = listen_on(recv_port), i;
	size_t nrecv = 0, k, cap = 1;
	long total = rate * seconds, sent = 0, acked = 0, arrived = 0, bad = 0;
	int64_t start, step = 1000000000 / rate, deadline = 0;
	int64_t *lat, *ack;
	long matched = 0, nack = 0;

	while (cap < (size_t)total * 4)
		cap <<= 1;
	if ((table = calloc(cap, sizeof(*table))) == NULL)
		die("calloc");
	table_mask = cap - 1;
	build_request("/v1/events", token, body);
	for (i = 0; i < POOL; i++)
		pool[i] = conn_new(connect_to(port));
	start = now_ns();
	for (;;) {
		int64_t t = now_ns(), next = start + sent * step;
		int timeout, n = 0;

		/* Open loop: every request due by now goes out on a free
		 * connection (a late one is sent as soon as one frees). */
		while (sent < total && t >= start + sent * step) {
			for (i = 0; i < POOL && pool[i]->busy; i++)
				;
			if (i == POOL)
				break;
			write_all(pool[i]->fd, request, request_len);
			pool[i]->busy = 1;
			pool[i]->sent_at = t;
			sent++;
		}
		if (sent == total && acked + bad == total) {
			if (deadline == 0)
				deadline = t + 10000000000LL;
			if (arrived >= acked || t > deadline)
				break;
		}
		next = start + sent * step;
		timeout = sent < total ? (int)((next - t) / 1000000) : 100;
		if (timeout < 0)
			timeout = 0;
		for (i = 0; i < POOL; i++) {
			pfd[n].fd = pool[i]->fd;
			pfd[n++].events = POLLIN;
		}
		pfd[n].fd = lfd;
		pfd[n++].events = POLLIN;
		for (k = 0; k < nrecv; k++) {
			pfd[n].fd = conns[k]->fd;
			pfd[n++].events = POLLIN;
		}
		if (poll(pfd, (nfds_t)n, timeout) < 0 && errno != EINTR)
			die("poll");
		/* The 202s first, then the arrivals, each stamped when read:
		 * hookd sends an attempt only after its event's 202, and one
		 * stamp per wake-up would give both the same time. */
		for (i = 0; i < POOL; i++) {
			struct conn *c = pool[i];
			size_t head, m;

			if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			if (conn_fill(c) < 0) {
				if (c->busy) {
					fprintf(stderr, "hbench: hookd "
					    "closed\n");
					exit(2);
				}
				/* An idle connection past hookd's
				 * header_timeout: open a fresh one. */
				close(c->fd);
				c->fd = connect_to(port);
				c->len = 0;
				continue;
			}
			if ((m = message(c, &head)) == 0)
				continue;
			t = now_ns();
			if (strncmp(c->buf + 9, "202", 3) == 0) {
				uint64_t id;

				if (event_id(c->buf + head, m - head, &id) ==
				    0) {
					struct slot *s = slot_of(id);

					s->acked = t;
					s->sent = c->sent_at;
					acked++;
				} else
					bad++;
			} else
				bad++;
			c->busy = 0;
			conn_consume(c, m);
		}
		/* Then the arrivals, each stamped as it is read. */
		for (k = 0; k < nrecv; k++) {
			struct conn *c = conns[k];
			size_t head, m;

			if (!(pfd[POOL + 1 + k].revents & (POLLIN | POLLHUP |
			    POLLERR)))
				continue;
			if (conn_fill(c) < 0) {
				close(c->fd);
				free(c);
				conns[k] = conns[--nrecv];
				pfd[POOL + 1 + k] = pfd[POOL + 1 + nrecv];
				k--;
				continue;
			}
			while ((m = message(c, &head)) > 0) {
				size_t vl;
				const char *v = header(c->buf, head,
				    "webhook-id", &vl);
				uint64_t id;
				static const char ok[] = "HTTP/1.1 200 OK\r\n"
				    "Content-Length: 0\r\n\r\n";

				if (v != NULL && event_id(v, vl, &id) == 0) {
					struct slot *s = slot_of(id);

					if (s->arrived == 0) {
						s->arrived = now_ns();
						arrived++;
					}
				}
				write_all(c->fd, ok, sizeof(ok) - 1);
				conn_consume(c, m);
			}
		}
		if (pfd[POOL].revents & POLLIN) {
			int fd;

			while ((fd = accept(lfd, NULL, NULL)) >= 0) {
				int one = 1;

				if (nrecv == MAXCONN)
					die("too many receiver connections");
				setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
				    sizeof(one));
				fcntl(fd, F_SETFL, O_NONBLOCK);
				conns[nrecv++] = conn_new(fd);
			}
		}
	}
	if ((lat = malloc(sizeof(*lat) * (size_t)total + 1)) == NULL ||
	    (ack = malloc(sizeof(*ack) * (size_t)total + 1)) == NULL)
		die("malloc");
	for (k = 0; k <= table_mask; k++) {
		if (table[k].acked != 0)
			ack[nack++] = table[k].acked - table[k].sent;
		if (table[k].acked != 0 && table[k].arrived != 0) {
			int64_t d = table[k].arrived - table[k].acked;

			/* A delivery can arrive before its 202 is read: the
			 * wait from the 202 is then none. */
			lat[matched++] = d > 0 ? d : 0;
		}
	}
	qsort(lat, (size_t)matched, sizeof(*lat), cmp64);
	qsort(ack, (size_t)nack, sizeof(*ack), cmp64);
	if (matched == 0) {
		printf("sent=%ld acked=%ld bad=%ld matched=0\n", sent, acked,
		    bad);
		return 1;
	}
	printf("sent=%ld acked=%ld bad=%ld matched=%ld p50_us=%.1f "
	    "p90_us=%.1f p99_us=%.1f max_us=%.1f ack_p50_us=%.1f "
	    "ack_p99_us=%.1f\n", sent, acked, bad,
	    matched, lat[matched / 2] / 1e3, lat[matched * 9 / 10] / 1e3,
	    lat[matched * 99 / 100] / 1e3, lat[matched - 1] / 1e3,
	    ack[nack / 2] / 1e3, ack[nack * 99 / 100] / 1e3);
	return bad == 0 && matched == acked ? 0 : 1;
}

static int
mode_post(int port, const char *token, long total, long nconn,
    const char *body, const char *path)
{
	long sent = 0, done = 0, non202 = 0;
	int64_t start;
	int i;

	if (nconn < 1 || nconn > MAXCONN)
		nconn = 8;
	build_request(path, token, body);
	for (i = 0; i < nconn; i++)
		conns[i] = conn_new(connect_to(port));
	start = now_ns();
	while (done < total) {
		for (i = 0; i < nconn; i++) {
			if (!conns[i]->busy && sent < total) {
				write_all(conns[i]->fd, request, request_len);
				conns[i]->busy = 1;
				sent++;
			}
			pfd[i].fd = conns[i]->fd;
			pfd[i].events = POLLIN;
		}
		if (poll(pfd, (nfds_t)nconn, 10000) <= 0)
			die("poll (no answer in 10 s)");
		for (i = 0; i < nconn; i++) {
			struct conn *c = conns[i];
			size_t head, m;

			if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			if (conn_fill(c) < 0) {
				fprintf(stderr, "hbench: hookd closed\n");
				exit(2);
			}
			if ((m = message(c, &head)) == 0)
				continue;
			if (strncmp(c->buf + 9, "202", 3) != 0)
				non202++;
			c->busy = 0;
			done++;
			conn_consume(c, m);
		}
	}
	printf("posted=%ld non202=%ld seconds=%.3f rate=%.0f\n", done, non202,
	    (now_ns() - start) / 1e9, done / ((now_ns() - start) / 1e9));
	return non202 == 0 ? 0 : 1;
}

static int
mode_hole(long n)
{
	long i, held = 0;

	if (n < 1 || n > 1000)
		n = 1;
	for (i = 0; i < n; i++) {
		struct sockaddr_in a;
		socklen_t al = sizeof(a);

		pfd[i].fd = listen_on(0);
		pfd[i].events = POLLIN;
		if (getsockname(pfd[i].fd, (struct sockaddr *)&a, &al) < 0)
			die("getsockname");
		printf("%d\n", ntohs(a.sin_port));
	}
	fflush(stdout);
	/* Accepted connections are kept open and never read: the sender sees
	 * a receiver that takes the request and never answers. */
	for (;;) {
		if (poll(pfd, (nfds_t)n, -1) < 0 && errno != EINTR)
			die("poll");
		for (i = 0; i < n; i++) {
			int fd;

			if (!(pfd[i].revents & POLLIN))
				continue;
			while ((fd = accept(pfd[i].fd, NULL, NULL)) >= 0)
				held++;
		}
	}
	return 0;
}

int
main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();
	if (argc == 8 && strcmp(argv[1], "latency") == 0)
		return mode_latency((int)num(argv[2]), argv[3], num(argv[4]),
		    num(argv[5]), (int)num(argv[6]), argv[7]);
	if ((argc == 7 || argc == 8) && strcmp(argv[1], "post") == 0)
		return mode_post((int)num(argv[2]), argv[3], num(argv[4]),
		    num(argv[5]), argv[6], argc == 8 ? argv[7] : "/v1/events");
	if (argc == 3 && strcmp(argv[1], "hole") == 0)
		return mode_hole(num(argv[2]));
	fprintf(stderr, "usage: hbench latency PORT TOKEN RATE SECONDS "
	    "RECV_PORT BODY\n       hbench post PORT TOKEN N CONNS BODY [PATH]\n"
	    "       hbench hole N\n");
	return 2;
}
