/*
 * Tests of config.c: the defaults, every key at its bounds and one past,
 * quoting and comments, static registrations, and the "file:line: reason"
 * of each refusal.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../config.c"
#include "../config_regs.c"
#include "unit.h"

void test_config(void);

/* Write text to a fresh file and load it on top of the defaults. */
static int
t_load(const char *text, struct config *c, char *err, size_t errsz)
{
	char path[64];
	FILE *f;
	int rc;

	snprintf(path, sizeof(path), "/tmp/hookd-unit-config-%d",
	    (int)getpid());
	f = fopen(path, "w");
	if (f == NULL)
		return -2;
	fputs(text, f);
	fclose(f);
	config_defaults(c);
	err[0] = '\0';
	rc = config_load(c, path, err, errsz);
	unlink(path);
	return rc;
}

struct t_row {
	const char *text;
	const char *err;	/* NULL: accepted; else the reason after
				   "file:line: " must contain this */
	int line;
};

static const struct t_row t_rows[] = {
	{ "", NULL, 0 },
	{ "# only a comment\n\n   \t\n", NULL, 0 },
	{ "max_body 2048   # trailing comment\n", NULL, 0 },
	{ "max_body 2048\r\n", NULL, 0 },
	{ "listen 0.0.0.0:80\n", NULL, 0 },
	{ "listen [::1]:8080\n", NULL, 0 },
	{ "listen [::]:0\n", NULL, 0 },
	{ "listen ::1:8080\n", "listen", 1 },
	{ "listen [127.0.0.1]:8080\n", "listen", 1 },
	{ "listen localhost:8080\n", NULL, 0 },
	{ "listen localhost.example:8080\n", "listen", 1 },
	{ "listen 127.0.0.1\n", "listen", 1 },
	{ "listen 127.0.0.1:65536\n", "listen", 1 },
	{ "listen 127.0.0.1:\n", "listen", 1 },
	{ "listen 127.0.0.1:80 x\n", "one value", 1 },
	{ "max_header_bytes 1024\n", NULL, 0 },
	{ "max_header_bytes 1023\n", "max_header_bytes", 1 },
	{ "max_header_bytes 1048576\n", NULL, 0 },
	{ "max_header_bytes 1048577\n", "max_header_bytes", 1 },
	{ "max_headers 128\n", NULL, 0 },
	{ "max_headers 129\n", "max_headers", 1 },
	{ "max_headers 0\n", "max_headers", 1 },
	{ "max_body -1\n", "max_body", 1 },
	{ "max_body 1k\n", "max_body", 1 },
	{ "max_connections 100000\n", NULL, 0 },
	{ "max_inflight_per_client 1\n", NULL, 0 },
	{ "max_inflight_per_client 65536\n", NULL, 0 },
	{ "max_inflight_per_client 0\n", "max_inflight_per_client", 1 },
	{ "max_inflight_per_client 65537\n", "max_inflight_per_client", 1 },
	{ "max_connections 100001\n", "max_connections", 1 },
	{ "header_timeout 1h\n", NULL, 0 },
	{ "header_timeout 61m\n", "header_timeout", 1 },
	{ "header_timeout 0\n", "header_timeout", 1 },
	{ "idle_timeout 250ms\n", NULL, 0 },
	{ "idle_timeout 5x\n", "idle_timeout", 1 },
	{ "timeout\n", "needs a value", 1 },
	{ "retention 0\n", NULL, 0 },
	{ "drain_timeout 0\n", NULL, 0 },
	{ "retry_schedule 1 2s 3m 4h 5d\n", NULL, 0 },
	{ "retry_schedule 8d\n", "retry_schedule", 1 },
	{ "retry_schedule\n", "needs a value", 1 },
	{ "retry_schedule 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 "
	    "1 1 1 1 1 1 1 1\n", NULL, 0 },
	{ "retry_schedule 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 "
	    "1 1 1 1 1 1 1 1 1\n", "at most 32", 1 },
	{ "fsync never\n", NULL, 0 },
	{ "fsync sometimes\n", "fsync", 1 },
	{ "metrics off\n", NULL, 0 },
	{ "metrics no\n", "metrics", 1 },
	{ "allow_destinations all\n", NULL, 0 },
	{ "allow_destinations none\n", NULL, 0 },
	{ "allow_destinations 10.0.0.0/8 ::1/128 192.168.1.1\n", NULL, 0 },
	{ "allow_destinations 10.0.0.1/8\n", "allow_destinations", 1 },
	{ "data_dir /var/lib/hookd\n", NULL, 0 },
	{ "data_dir \"\"\n", "data_dir", 1 },
	{ "admin_token_file /etc/hookd/token\n", NULL, 0 },
	{ "bogus 1\n", "unknown key \"bogus\"", 1 },
	{ "\n\nmax_body 10\n", "max_body", 3 },
	{ "max_body 2048\nmax_body\n", "needs a value", 2 },
	{ "client acme name=\"Acme\n", "unterminated quote", 1 },
	{ "max_body \x01\n", "control character", 1 },
	{ "client acme\n", NULL, 0 },
	{ "client acme name=\"Acme Store\"\n", NULL, 0 },
	{ "client\n", "client needs an ID", 1 },
	{ "client bad/id\n", "client id", 1 },
	{ "client acme colour=red\n", "unknown client option \"colour\"", 1 },
	{ "client acme name=a name=b\n", "twice", 1 },
	{ "endpoint acme http://example.com/cb\n", NULL, 0 },
	{ "endpoint acme http://example.com/cb/{refId} method=GET "
	    "events=order.paid,order.* "
	    "secret=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n", NULL, 0 },
	{ "endpoint acme\n", "endpoint needs", 1 },
#if HOOKD_HAS_TLS
	{ "endpoint acme https://example.com/\n", NULL, 0 },
	/* Contract §13: the CA file is checked when the config is read. */
	{ "tls_ca_file /etc/passwd\n", NULL, 0 },
	{ "\ntls_ca_file /nonexistent/ca.pem\n", "tls_ca_file "
	    "\"/nonexistent/ca.pem\": No such file or directory (want a "
	    "readable PEM file of CA certificates)", 2 },
	{ "tls_ca_file /\n", "\"/\": not a regular file", 1 },
	{ "tls_ca_file\n", "needs a value", 1 },
#else
	{ "endpoint acme https://example.com/\n", "https needs hookd built "
	    "with TLS (make TLS=openssl)", 1 },
	{ "tls_ca_file /etc/passwd\n", "tls_ca_file needs hookd built with "
	    "TLS (make TLS=openssl)", 1 },
#endif
	{ "endpoint acme http://example.com/ method=PUT\n", "method", 1 },
	{ "endpoint acme http://example.com/ events=a,,b\n", "events", 1 },
	{ "endpoint acme http://example.com/ events=a*b\n", "events", 1 },
	{ "endpoint acme http://example.com/ secret=whsec_short\n", "secret",
	    1 },
	{ "endpoint acme http://example.com/ name=x\n",
	    "unknown endpoint option \"name\"", 1 },
	{ "body_timeout 1h\n", NULL, 0 },
	{ "body_timeout 61m\n", "body_timeout", 1 },
	{ "body_timeout 0\n", "body_timeout", 1 },
	/* Contract §10: each error says how to write it right. */
	{ "retry_schedule 1s,5s\n", "separate the delays with spaces, not "
	    "commas", 1 },
	{ "retry_schedule 1s 5s,1m\n", "not commas", 1 },
	{ "retry_schedule soon\n", "e.g. retry_schedule 5s 5m 30m", 1 },
	{ "allow_destinations 10.0.0.0/8,1.2.3.4/32\n", "separate the CIDRs "
	    "with spaces, not commas", 1 },
	{ "timeout 1s,5s\n", "a comma is no part of one", 1 },
	{ "timeout soon\n", "e.g. timeout 15s", 1 },
	{ "timeout 2s 3s\n", "only retry_schedule and allow_destinations", 1 },
	{ "timeout = 15s\n", "no \"=\": write timeout 15s", 1 },
	{ "timeout=15s\n", "no \"=\": write timeout 15s", 1 },
	{ "timeout =15s\n", "no \"=\": write timeout 15s", 1 },
	{ "timeout= 15s\n", "no \"=\": write timeout 15s", 1 },
	{ "listen = 0.0.0.0:80\n", "no \"=\": write listen followed by a "
	    "space", 1 },
	{ "allow_destination 10.0.0.0/8\n", "unknown key "
	    "\"allow_destination\": did you mean allow_destinations?", 1 },
	{ "timout 2s\n", "did you mean timeout?", 1 },
	{ "idle_timout 2s\n", "did you mean idle_timeout?", 1 },
	{ "max_bdy 2048\n", "did you mean max_body?", 1 },
	{ "Metrics on\n", "did you mean metrics?", 1 },
	{ "xyzzy 1\n", "keys are listed in hookd(8)", 1 },
	/* Bytes that are not text are quoted, never echoed raw. */
	{ "tim\xffout 15s\n", "unknown key \"tim\\xffout\"", 1 },
	{ "\xc3( 1\n", "unknown key \"\\xc3(\"", 1 },
	{ "ti\xffme=1\n", "write \"ti\\xffme\" followed by", 1 },
	{ "client acme colo\xffr=red\n", "option \"colo\\xffr\"", 1 },
	/* One client, one line: a second is refused where it stands. */
	{ "client acme name=A\nclient beta\nclient acme\n", "client "
	    "\"acme\" is declared twice (first at line 1)", 3 },
	{ "client acme\nendpoint acme http://example.com/a\n"
	    "endpoint acme http://example.com/b\n", NULL, 0 },
	{ "endpoint acme http://example.com/ method = GET\n",
	    "name=value with no spaces around", 1 },
	{ "client acme Acme\n", "client options are name=value", 1 },
	/* Delivery policy (contract §15) on endpoint lines: the checkers of
	 * the API, a schedule as one quoted word. */
	{ "endpoint acme http://example.com/ rate_limit=0.5 ordering=fifo "
	    "timeout=3s retry_schedule=\"5s 1m 1h\"\n", NULL, 0 },
	{ "endpoint acme http://example.com/ rate_limit=10000 "
	    "ordering=none\n", NULL, 0 },
	{ "endpoint acme http://example.com/ rate_limit=0\n", "rate_limit "
	    "must be a number of deliveries a second from 0.001 to 10000", 1 },
	{ "endpoint acme http://example.com/ rate_limit=10000.001\n",
	    "rate_limit", 1 },
	{ "endpoint acme http://example.com/ rate_limit=1e9\n", "rate_limit",
	    1 },
	{ "endpoint acme http://example.com/ ordering=lifo\n", "ordering must "
	    "be \"fifo\" or \"none\"", 1 },
	{ "endpoint acme http://example.com/ timeout=2h\n", "timeout must be "
	    "one duration", 1 },
	{ "endpoint acme http://example.com/ retry_schedule=\"5s,1m\"\n",
	    "not commas (e.g. retry_schedule=\"5s 1m 1h\")", 1 },
	{ "endpoint acme http://example.com/ retry_schedule=\"\"\n",
	    "at least 1 and at most 32", 1 },
	{ "endpoint acme http://example.com/ retry_schedule=\"1 1 1 1 1 1 1 1 "
	    "1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1\"\n",
	    "at most 32", 1 },
	{ "endpoint acme http://example.com/ retry_schedule=\"8d\"\n",
	    "of at most 7d", 1 },
	{ "endpoint acme http://example.com/ rate_limit=1 rate_limit=2\n",
	    "option given twice", 1 },
	{ "endpoint acme http://example.com/ rate=1\n", "known: method=, "
	    "events=, secret=, rate_limit=, ordering=, timeout=, "
	    "retry_schedule=", 1 },
};

/* rate_limit: the decimal form read and written back (contract §15). */
static void
t_rate(void)
{
	static const struct {
		const char *in;
		uint32_t milli;		/* 0: refused */
		const char *out;
	} rows[] = {
		{ "20", 20000, "20" }, { "0.5", 500, "0.5" },
		{ "0.001", 1, "0.001" }, { "10000", 10000000, "10000" },
		{ "2.50", 2500, "2.5" }, { "1.125", 1125, "1.125" },
		{ "0", 0, NULL }, { "0.0001", 0, NULL }, { "10000.001", 0, NULL },
		{ "-1", 0, NULL }, { "1e9", 0, NULL }, { "x", 0, NULL },
		{ "1.", 0, NULL }, { ".5", 0, NULL }, { "1.2.3", 0, NULL },
		{ "", 0, NULL }, { "99999999999999999999", 0, NULL },
		/* Judged by value: any JSON number 0.001..10000, at most 3
		 * decimals. */
		{ "2.50000", 2500, "2.5" }, { "0.0010", 1, "0.001" },
		{ "1e3", 1000000, "1000" }, { "1E-3", 1, "0.001" },
		{ "1e+3", 1000000, "1000" }, { "100e-2", 1000, "1" },
		{ "1.5e1", 15000, "15" }, { "0.00001e4", 100, "0.1" },
		{ "10000.000000000000", 10000000, "10000" },
		{ "000020", 20000, "20" }, { "1000000e-2", 10000000, "10000" },
		{ "0.0005", 0, NULL }, { "1e5", 0, NULL }, { "1e4", 10000000,
		"10000" }, { "1.0001e4", 0, NULL }, { "0e5", 0, NULL },
		{ "1e", 0, NULL }, { "1e-", 0, NULL }, { "1e-4", 0, NULL },
		{ "1e99999999999999", 0, NULL }, { "5e-99999999999", 0, NULL },
		{ "1.23456789e3", 0, NULL }, { "+1", 0, NULL }, { "1e3x", 0,
		NULL }, { "1 ", 0, NULL }, { "e3", 0, NULL },
	};
	const char *why;
	char out[16];
	uint32_t m;
	size_t i;
	int rc;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		m = 0;
		rc = config_check_rate(rows[i].in, strlen(rows[i].in), &m,
		    &why);
		if (rows[i].milli == 0) {
			CHECKF(rc == -1 && strstr(why, "rate_limit") != NULL,
			    "rate %s accepted", rows[i].in);
			continue;
		}
		CHECKF(rc == 0 && m == rows[i].milli, "rate %s: rc %d %u",
		    rows[i].in, rc, (unsigned)m);
		CHECKF(strcmp(config_fmt_rate(m, out, sizeof(out)),
		    rows[i].out) == 0, "rate %s written %s", rows[i].in, out);
	}
}

static void
t_table(void)
{
	char err[512], want[600];
	struct config c;
	size_t i;

	for (i = 0; i < sizeof(t_rows) / sizeof(t_rows[0]); i++) {
		const struct t_row *r = &t_rows[i];
		int rc = t_load(r->text, &c, err, sizeof(err));

		if (r->err == NULL) {
			CHECKF(rc == 0, "row %zu: %s", i, err);
		} else {
			snprintf(want, sizeof(want), ":%d: ", r->line);
			CHECKF(rc == -1 && strstr(err, want) != NULL &&
			    strstr(err, r->err) != NULL,
			    "row %zu: rc %d err \"%s\", want line %d \"%s\"",
			    i, rc, err, r->line, r->err);
		}
		config_free(&c);
	}
}

/* Near slips get the key meant, and keys too far from any known one get no
 * guess (the distance itself is util_nearest's, tested in test_util.c). */
static void
t_nearest(void)
{
	static const struct {
		const char *word, *key;
	} rows[] = {
		{ "timout", "timeout" }, { "timeout", "timeout" },
		{ "fsyn", "fsync" }, { "TIMEOUT", "timeout" },
		{ "allow_destination", "allow_destinations" },
		{ "max_outbund", "max_outbound" },
	};
	static const char *const far[] = {
		"xyzzy", "colour", "a", "bogus", "retry", "",
	};
	char err[512];
	struct config c;
	size_t i;
	const char *got;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		got = config_nearest_key(rows[i].word);
		CHECKF(got != NULL && strcmp(got, rows[i].key) == 0,
		    "nearest %s: %s", rows[i].word, got ? got : "(none)");
	}
	for (i = 0; i < sizeof(far) / sizeof(far[0]); i++)
		CHECKF(config_nearest_key(far[i]) == NULL, "a guess for %s",
		    far[i]);
	/* Over UTIL_NEAREST_MAX: no comparison, no guess. */
	CHECK(config_nearest_key("allow_destinationsallow_destinations"
	    "allow_destinationsallow_destinations") == NULL);
	/* A value after "=" is quoted only for the scalars: a secret is
	 * never echoed into an error (and so into a log). */
	CHECK(t_load("ops_secret = whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n",
	    &c, err, sizeof(err)) == -1);
	CHECKF(strstr(err, "whsec_") == NULL && strstr(err, "ops_secret") !=
	    NULL, "%s", err);
	config_free(&c);
	CHECK(t_load("xyzzy 1\n", &c, err, sizeof(err)) == -1);
	CHECKF(strstr(err, "did you mean") == NULL, "%s", err);
	config_free(&c);
}

static void
t_defaults(void)
{
	struct config c;

	config_defaults(&c);
	CHECK(strcmp(c.listen, "127.0.0.1:8080") == 0);
	CHECK(strcmp(c.data_dir, "./hookd-data") == 0);
	CHECK(c.admin_token_file[0] == '\0');
	CHECK(c.max_header_bytes == 16384 && c.max_headers == 100);
	CHECK(c.max_body == 1048576 && c.max_connections == 1024);
	CHECK(c.header_timeout_ms == 10000 && c.idle_timeout_ms == 60000);
	CHECK(c.body_timeout_ms == 30000);
	CHECK(c.timeout_ms == 15000);
	CHECK(c.nretry == 7 && c.retry_ms[0] == 5000 &&
	    c.retry_ms[6] == 36000000);
	CHECK(c.disable_after_ms == 5LL * 86400000);
	CHECK(c.endpoint_concurrency == 8 && c.max_outbound == 256);
	CHECK(c.retention_ms == 7LL * 86400000);
	CHECK(c.drain_timeout_ms == 5000);
	CHECK(c.fsync_always == 1 && c.nallow == 0 && c.metrics == 1);
	CHECK(c.nregs == 0 && c.regs == NULL);
}

static void
t_values(void)
{
	static const char text[] =
	    "# a full file\n"
	    "listen [::1]:9090\n"
	    "data_dir \"/var/lib/hook d\"\n"
	    "max_body 4096\n"
	    "max_body 8192\n"			/* the last one wins */
	    "idle_timeout 2m\n"
	    "retry_schedule 1 500ms\n"
	    "allow_destinations 10.0.0.0/8 all\n"
	    "allow_destinations 192.168.0.0/16\n"
	    "fsync never\n"
	    "metrics off\n"
	    "client acme name=\"Acme Store\"\t# the shop\n"
	    "endpoint acme http://example.com/{refId} method=get "
	    "events=order.*\n"
	    "client beta\n";
	struct config c;
	char err[256];

	CHECKF(t_load(text, &c, err, sizeof(err)) == 0, "%s", err);
	CHECK(strcmp(c.listen, "[::1]:9090") == 0);
	CHECK(strcmp(c.data_dir, "/var/lib/hook d") == 0);
	CHECK(c.max_body == 8192);
	CHECK(c.idle_timeout_ms == 120000);
	CHECK(c.nretry == 2 && c.retry_ms[0] == 1000 && c.retry_ms[1] == 500);
	CHECK(c.nallow == 1 && c.allow[0].family == AF_INET &&
	    c.allow[0].bits == 16);
	CHECK(c.fsync_always == 0 && c.metrics == 0);
	CHECK(c.nregs == 3);
	if (c.nregs == 3) {
		CHECK(!c.regs[0].is_endpoint &&
		    strcmp(c.regs[0].client, "acme") == 0 &&
		    strcmp(c.regs[0].name, "Acme Store") == 0 &&
		    c.regs[0].line == 12);
		CHECK(c.regs[1].is_endpoint && c.regs[1].method_get &&
		    strcmp(c.regs[1].url, "http://example.com/{refId}") == 0 &&
		    strcmp(c.regs[1].events, "order.*") == 0 &&
		    c.regs[1].secret == NULL && c.regs[1].line == 13);
		CHECK(!c.regs[2].is_endpoint && c.regs[2].name == NULL);
	}
	config_free(&c);
	CHECK(c.regs == NULL && c.nregs == 0);
}

static void
t_listen(void)
{
	static const struct {
		const char *v;
		int ok;
	} rows[] = {
		{ "127.0.0.1:8080", 1 }, { "[::1]:1", 1 },
		{ "[2001:db8::1]:65535", 1 }, { "0.0.0.0:0", 1 },
		{ "127.0.0.1:08080", 1 },
		{ "", 0 }, { ":8080", 0 }, { "127.0.0.1:-1", 0 },
		{ "[::1:8080", 0 }, { "::1]:8080", 0 }, { "[]:80", 0 },
		{ "1.2.3:80", 0 }, { "127.0.0.1:80:80", 0 },
		{ "127.0.0.1: 80", 0 },
		/* localhost is 127.0.0.1 (RFC 6761 §6.3); other names are
		 * not looked up. */
		{ "localhost:8080", 1 }, { "LocalHost:0", 1 },
		{ "[localhost]:80", 0 }, { "localhost:", 0 },
		{ "localhost.:80", 0 }, { "example.com:80", 0 },
	};
	struct config c;
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		config_defaults(&c);
		CHECKF((config_set_listen(&c, rows[i].v) == 0) == rows[i].ok,
		    "listen \"%s\"", rows[i].v);
		if (rows[i].ok)
			CHECK(strcmp(c.listen, rows[i].v) == 0);
		else
			CHECK(strcmp(c.listen, "127.0.0.1:8080") == 0);
	}
	/* localhost:PORT binds or connects to the IPv4 loopback. */
	{
		struct sockaddr_storage ss;
		socklen_t len;

		CHECK(config_listen_addr("localhost:8081", &ss, &len) == 0 &&
		    ss.ss_family == AF_INET && ntohl(((struct sockaddr_in *)
		    (void *)&ss)->sin_addr.s_addr) == INADDR_LOOPBACK &&
		    ntohs(((struct sockaddr_in *)(void *)&ss)->sin_port) ==
		    8081);
	}
}

/* The default per-client cap is half of max_outbound, at least 1; a set
 * value is taken as it is. */
static void
t_client_inflight(void)
{
	static const struct {
		size_t max_outbound, set, want;
	} rows[] = {
		{ 256, 0, 128 }, { 4, 0, 2 }, { 3, 0, 1 }, { 2, 0, 1 },
		{ 1, 0, 1 }, { 65536, 0, 32768 }, { 256, 1, 1 },
		{ 256, 300, 300 }, { 4, 3, 3 },
	};
	struct config c;
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		config_defaults(&c);
		c.max_outbound = rows[i].max_outbound;
		c.max_inflight_per_client = rows[i].set;
		CHECKF(config_client_inflight(&c) == rows[i].want,
		    "max_outbound %zu, set %zu", rows[i].max_outbound,
		    rows[i].set);
	}
	config_defaults(&c);
	CHECK(c.max_inflight_per_client == 0);
}

static void
t_missing_file(void)
{
	struct config c;
	char err[256];

	config_defaults(&c);
	CHECK(config_load(&c, "/nonexistent/hookd.conf", err,
	    sizeof(err)) == -1);
	CHECK(strstr(err, "/nonexistent/hookd.conf") == err);
}

/* Gateway routes (contract §14): each refusal with its line and a reason
 * that says how to write it right. */
static const struct t_row t_route_rows[] = {
	{ "route /api/ http://u.example:9000/\n", NULL, 0 },
	{ "route /api/ http://u.example:9000/base type=api.result "
	    "timeout=30s header=\"X-Api-Key: k 1\" header=X-B:2\n", NULL, 0 },
	{ "route /a/ http://u.example/\nroute /b/ http://u.example/b/\n",
	    NULL, 0 },
	{ "route /api/\n", "route needs PREFIX and UPSTREAM", 1 },
	{ "route api/ http://u.example/\n", "must start with /", 1 },
	{ "route /a%20b/ http://u.example/\n", "no %, ?", 1 },
	{ "route /a?b http://u.example/\n", "no %, ?", 1 },
	{ "route / http://u.example/\n", "hookd's own /v1", 1 },
	{ "route /v1/ http://u.example/\n", "hookd's own /v1", 1 },
	{ "route /v1/api/ http://u.example/\n", "hookd's own /v1", 1 },
	{ "route /v http://u.example/\n", "hookd's own /v1", 1 },
	{ "route /healthz http://u.example/\n", "hookd's own /healthz", 1 },
	{ "route /metrics/x http://u.example/\n", "hookd's own /metrics", 1 },
	{ "route /console/ http://u.example/\n", "hookd's own /console", 1 },
	{ "route /openapi.json http://u.example/\n", "/openapi.json", 1 },
	{ "route /v2/ http://u.example/\n", NULL, 0 },
	{ "route /healthzz/ http://u.example/\n", NULL, 0 },
	{ "route /api/ ftp://u.example/\n", "route UPSTREAM:", 1 },
	{ "route /api/ http://u.example/?a=1\n", "without a query", 1 },
	{ "route /api/ http://u.example/{x}\n", "without a query or {}", 1 },
	{ "route /api/ http://u.example/\nroute /api/ http://v.example/\n",
	    "route \"/api/\" is declared twice (first at line 1)", 2 },
	{ "route /api/ http://u.example/ type=a*\n", "route type=", 1 },
	{ "route /api/ http://u.example/ type=\n", "route type=", 1 },
	{ "route /api/ http://u.example/ timeout=0\n", "route timeout=", 1 },
	{ "route /api/ http://u.example/ timeout=1,2\n", "route timeout=", 1 },
	{ "route /api/ http://u.example/ timeout=2h\n", "route timeout=", 1 },
	{ "route /api/ http://u.example/ type=a type=b\n", "given twice", 1 },
	{ "route /api/ http://u.example/ header=NoColon\n", "Name:Value", 1 },
	{ "route /api/ http://u.example/ header=\"Bad Name: v\"\n",
	    "HTTP token", 1 },
	{ "route /api/ http://u.example/ header=Host:x\n",
	    "may not set \"Host\"", 1 },
	{ "route /api/ http://u.example/ header=hookd-client:x\n",
	    "may not set", 1 },
	{ "route /api/ http://u.example/ header=Idempotency-Key:x\n",
	    "may not set", 1 },
	{ "route /api/ http://u.example/ header=Content-Type:x\n",
	    "may not set", 1 },
	{ "route /api/ http://u.example/ header=Content-Encoding:gzip\n",
	    "may not set \"Content-Encoding\"", 1 },
	{ "route /api/ http://u.example/ colour=red\n",
	    "unknown route option \"colour\"", 1 },
	{ "route /api/ http://u.example/ type = a\n", "no spaces around", 1 },
	{ "rout /api/\n", "did you mean route?", 1 },
	/* An upstream the destination rules deny, wherever
	 * allow_destinations stands. */
	{ "max_body 2048\nroute /api/ http://127.0.0.1:9000/\n",
	    "route UPSTREAM: destination not allowed: 127.0.0.1 is loopback; "
	    "allow_destinations opens it", 2 },
	{ "route /api/ http://localhost:9000/\n", "allow_destinations", 1 },
	{ "route /api/ http://10.0.0.5/\n", "is private", 1 },
	{ "route /api/ http://127.0.0.1:9000/\n"
	    "allow_destinations 127.0.0.0/8\n", NULL, 0 },
	{ "allow_destinations all\nroute /api/ http://localhost/\n", NULL, 0 },
};

static void
t_routes(void)
{
	char err[512], want[600];
	struct config c;
	const struct config_route *r;
	size_t i;

	for (i = 0; i < sizeof(t_route_rows) / sizeof(t_route_rows[0]); i++) {
		const struct t_row *row = &t_route_rows[i];
		int rc = t_load(row->text, &c, err, sizeof(err));

		if (row->err == NULL) {
			CHECKF(rc == 0, "route row %zu: %s", i, err);
		} else {
			snprintf(want, sizeof(want), ":%d: ", row->line);
			CHECKF(rc == -1 && strstr(err, want) != NULL &&
			    strstr(err, row->err) != NULL,
			    "route row %zu: rc %d err \"%s\", want line %d "
			    "\"%s\"", i, rc, err, row->line, row->err);
		}
		config_free(&c);
	}
	/* What a route holds, and the longest prefix wins. */
	CHECK(t_load("route /api/ http://u.example/b type=api.result "
	    "timeout=30s header=\"X-Api-Key: k 1\"\n"
	    "route /api/slow/ http://v.example/\n", &c, err,
	    sizeof(err)) == 0);
	CHECK(c.nroutes == 2);
	r = config_route_find(&c, "/api/x", 6);
	CHECK(r != NULL && strcmp(r->upstream, "http://u.example/b") == 0 &&
	    strcmp(r->type, "api.result") == 0 && r->timeout_ms == 30000 &&
	    r->nheaders == 1 && strcmp(r->headers[0], "X-Api-Key: k 1") == 0);
	r = config_route_find(&c, "/api/slow/1", 11);
	CHECK(r != NULL && strcmp(r->prefix, "/api/slow/") == 0 &&
	    strcmp(r->type, "request.completed") == 0 && r->timeout_ms == 0);
	CHECK(config_route_find(&c, "/apx", 4) == NULL);
	CHECK(config_route_find(&c, "/api", 4) == NULL);
	config_free(&c);
	/* A prefix without a trailing slash matches at a segment boundary
	 * only: itself and what goes on with '/', not "/apirawx". */
	CHECK(t_load("route /apiraw http://u.example/\n", &c, err,
	    sizeof(err)) == 0);
	CHECK(config_route_find(&c, "/apiraw", 7) != NULL);
	CHECK(config_route_find(&c, "/apiraw/x", 9) != NULL);
	CHECK(config_route_find(&c, "/apirawx", 8) == NULL);
	CHECK(config_route_find(&c, "/apiraw.x", 9) == NULL);
	config_free(&c);
}

/* config_load_stream: the file reader's parser on any stream, as the
 * fuzz target drives it (tests/fuzz/fuzz_config.c): the name given is the
 * one in messages, and shared alone decides whether a secret is exposed. */
static void
t_stream(void)
{
	static const struct {
		const char *text;
		int shared, rc, exposed;
		const char *err;	/* "": none */
	} rows[] = {
		{ "max_body 2048\n", 0, 0, 0, "" },
		{ "\nmax_body 1\n", 0, -1, 0, "mem.conf:2: max_body must be" },
		{ "ops_secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n"
		    "ops_url http://127.0.0.1:9/o\n", 1, -1, 1,
		    "mem.conf:2: " },
		{ "client c1 name=x\nendpoint c1 http://example.com/ "
		    "secret=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n", 1, 0, 1,
		    "" },
		{ "client c1 name=x\nendpoint c1 http://example.com/ "
		    "secret=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n", 0, 0, 0,
		    "" },
		{ "listen 127.0.0.1:80\001\n", 0, -1, 0,
		    "mem.conf:1: control character" },
	};
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct config c;
		char err[512] = "";
		FILE *f = fmemopen((void *)(uintptr_t)rows[i].text,
		    strlen(rows[i].text), "r");
		int rc;

		CHECK(f != NULL);
		if (f == NULL)
			continue;
		config_defaults(&c);
		rc = config_load_stream(&c, f, "mem.conf", rows[i].shared, err,
		    sizeof(err));
		fclose(f);
		CHECKF(rc == rows[i].rc, "row %zu: rc %d (%s)", i, rc, err);
		CHECKF(c.file_exposes_secret == rows[i].exposed, "row %zu", i);
		CHECKF(strncmp(err, rows[i].err, strlen(rows[i].err)) == 0 &&
		    (rows[i].err[0] != '\0' || err[0] == '\0'), "row %zu: %s",
		    i, err);
		config_free(&c);
	}
}

/* A line over CONFIG_LINE_MAX is refused once that much of it is read:
 * an endless line (a 50 MB one here stands for it) is never held whole
 * (getline, used before, read it all first). Lines of exactly the
 * limit, with or without their newline, are read. */
static void
t_long_line(void)
{
	static const size_t sizes[] = { (size_t)50 << 20, 8193, 8192 };
	size_t i;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct config c;
		char err[512] = "";
		size_t n = sizes[i];
		char *text = malloc(n);
		FILE *f;
		int rc;

		CHECK(text != NULL);
		if (text == NULL)
			continue;
		/* "#aaa...": a comment, valid at any length within the
		 * limit. */
		memset(text, 'a', n);
		text[0] = '#';
		f = fmemopen(text, n, "r");
		CHECK(f != NULL);
		if (f == NULL) {
			free(text);
			continue;
		}
		config_defaults(&c);
		rc = config_load_stream(&c, f, "mem.conf", 0, err,
		    sizeof(err));
		if (n > 8192) {
			CHECKF(rc == -1 && strcmp(err,
			    "mem.conf:1: line too long") == 0, "%zu: %s", n,
			    err);
			CHECKF(ftell(f) <= 8193, "%zu bytes: read %ld", n,
			    ftell(f));
		} else
			CHECKF(rc == 0, "%zu: %s", n, err);
		fclose(f);
		free(text);
		config_free(&c);
	}
}

void
test_config(void)
{
	t_stream();
	t_long_line();
	t_defaults();
	t_table();
	t_rate();
	t_nearest();
	t_values();
	t_listen();
	t_client_inflight();
	t_missing_file();
	t_routes();
}
