/*
 * Tests of util.c: buffers, times, numbers and durations at their limits.
 */
#include <fcntl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../util.c"
#include "../log.c"
#include "../metrics.c"
#include "unit.h"

/* A loop pass lands in the first bucket whose bound it does not pass (a
 * pass exactly at a bound is in it), past the last only in the count; the
 * longest is kept. */
static void
test_metrics_loop_pass(void)
{
	static const struct {
		int64_t us;
		int bucket;	/* -1: only +Inf */
	} t[] = {
		{ 0, 0 }, { 1000, 0 }, { 1001, 1 }, { 9999, 3 }, { 10000, 3 },
		{ 10001, 4 }, { 1000000, 8 }, { 1000001, -1 }, { -5, 0 },
	};
	size_t i, k;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		memset(&metrics, 0, sizeof(metrics));
		metrics_loop_pass(t[i].us, t[i].us / 2);
		for (k = 0; k < METRICS_PASS_BUCKETS; k++)
			CHECKF(metrics.pass_le[k] == (t[i].bucket == (int)k),
			    "pass %zu bucket %zu", i, k);
		CHECKF(metrics.pass_count == 1, "pass %zu count", i);
		CHECKF(metrics.pass_max_us == (uint64_t)(t[i].us < 0 ? 0 :
		    t[i].us), "pass %zu max", i);
		CHECKF(metrics.pass_max_cpu_us == (uint64_t)(t[i].us < 0 ? 0 :
		    t[i].us / 2), "pass %zu max cpu", i);
	}
	memset(&metrics, 0, sizeof(metrics));
	metrics_loop_pass(7000, 1000);
	metrics_loop_pass(3000, 2500);
	CHECK(metrics.pass_max_us == 7000 && metrics.pass_sum_us == 10000 &&
	    metrics.pass_count == 2 && metrics.pass_max_cpu_us == 2500);
	memset(&metrics, 0, sizeof(metrics));
}

/* The directory util_fsync_parent fsyncs, as /proc/self/fd names it. */
static char fsynced[4096];

static int
fsync_note(int fd)
{
	char link[64];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, fsynced, sizeof(fsynced) - 1);
	fsynced[n < 0 ? 0 : n] = '\0';
	return 0;
}

/* A name's parent: the directory before its last component, whatever
 * slashes trail or double; "." for a bare name; "/" for a top-level one. */
static void
test_util_fsync_parent(void)
{
	char cwd[4096], base[4096], path[4200];
	static const struct {
		const char *rel, *parent;	/* under base */
	} t[] = {
		{ "a/b", "/a" }, { "a/b/", "/a" }, { "a//b", "/a" },
		{ "a/b//", "/a" }, { "a", "" },
	};
	size_t i;

	CHECK(getcwd(cwd, sizeof(cwd)) != NULL);
	snprintf(base, sizeof(base), "/tmp/hookd-unit-parent-%ld",
	    (long)getpid());
	snprintf(path, sizeof(path), "%s/a", base);
	CHECK(mkdir(base, 0700) == 0 && mkdir(path, 0700) == 0);
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", base, t[i].rel);
		fsynced[0] = '\0';
		CHECKF(util_fsync_parent(path, fsync_note) == 0, "%s", path);
		snprintf(path, sizeof(path), "%s%s", base, t[i].parent);
		CHECKF(strcmp(fsynced, path) == 0, "%s: fsynced %s", t[i].rel,
		    fsynced);
	}
	/* A bare name is in the working directory; "/x" is in /. */
	CHECK(chdir(base) == 0);
	CHECK(util_fsync_parent("a", fsync_note) == 0 &&
	    strcmp(fsynced, base) == 0);
	CHECK(chdir(cwd) == 0);
	CHECK(util_fsync_parent("/tmp", fsync_note) == 0 &&
	    strcmp(fsynced, "/") == 0);
	snprintf(path, sizeof(path), "%s/a", base);
	rmdir(path);
	rmdir(base);
}

/* The one growth rule: untouched when there is room, doubled from the
 * capacity (at least min) until need fits, and NULL with nothing changed
 * when the bytes would overflow. */
static void
test_util_grow(void)
{
	static const struct {
		size_t cap, need, min, want;
	} t[] = {
		{ 0, 1, 64, 64 }, { 0, 0, 64, 64 }, { 64, 64, 64, 64 },
		{ 64, 65, 64, 128 }, { 0, 5, 0, 8 }, { 16, 1000, 16, 1024 },
		{ 3, 4, 1, 6 },
	};
	size_t i, cap;
	char *v, *w;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		cap = t[i].cap;
		v = cap ? malloc(cap) : NULL;
		w = util_grow(v, &cap, t[i].need, 1, t[i].min);
		CHECKF(w != NULL && cap == t[i].want, "grow %zu: cap %zu", i,
		    cap);
		if (t[i].cap >= t[i].need && t[i].cap > 0)
			CHECKF(w == v, "grow %zu moved", i);
		if (w != NULL && t[i].need > 0)
			w[t[i].need - 1] = 'x';	/* the room is there */
		free(w);
	}
	cap = 4;
	v = malloc(4 * 8);
	CHECK(util_grow(v, &cap, SIZE_MAX / 4, 8, 1) == NULL && cap == 4);
	CHECK(util_grow(v, &cap, (SIZE_MAX >> 1) + 2, 1, 1) == NULL &&
	    cap == 4);
	free(v);
}

/* The one hex decoder: every digit, both cases, and the lower-only mode
 * hookd's own ids and checksums use. */
/* buf_put_i64/u64 and util_fmt_i64 write what printf's %lld/%llu write,
 * at the edges too. */
static void
test_util_put_num(void)
{
	static const int64_t is[] = { 0, 1, -1, 9, 10, -10, 1795881600123LL,
	    INT64_MAX, INT64_MIN, INT64_MIN + 1 };
	static const uint64_t us[] = { 0, 7, 10, 99, 100, UINT64_MAX,
	    UINT64_MAX - 1, (uint64_t)INT64_MAX + 1 };
	struct buf b = {0};
	char want[32], d[UTIL_I64_MAX];
	size_t i;

	for (i = 0; i < sizeof(is) / sizeof(is[0]); i++) {
		buf_reset(&b);
		snprintf(want, sizeof(want), "%lld", (long long)is[i]);
		CHECKF(buf_put_i64(&b, is[i]) == 0 && strcmp(b.data, want) == 0,
		    "%s: %s", want, b.data);
		CHECK(util_fmt_i64(is[i], d) == strlen(want) &&
		    strcmp(d, want) == 0);
	}
	for (i = 0; i < sizeof(us) / sizeof(us[0]); i++) {
		buf_reset(&b);
		buf_puts(&b, "x");
		snprintf(want, sizeof(want), "x%llu", (unsigned long long)us[i]);
		CHECKF(buf_put_u64(&b, us[i]) == 0 && strcmp(b.data, want) == 0,
		    "%s: %s", want, b.data);
	}
	buf_free(&b);
}

static void
test_util_hex(void)
{
	static const struct {
		int c, any, lower;
	} t[] = {
		{ '0', 0, 0 }, { '9', 9, 9 }, { 'a', 10, 10 }, { 'f', 15, 15 },
		{ 'A', 10, -1 }, { 'F', 15, -1 }, { 'g', -1, -1 }, { 'G', -1, -1 },
		{ '/', -1, -1 }, { ':', -1, -1 }, { '@', -1, -1 }, { '`', -1, -1 },
		{ 0, -1, -1 }, { 0xff, -1, -1 }, { ' ', -1, -1 }, { 'x', -1, -1 },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		CHECKF(util_hex_digit(t[i].c, 0) == t[i].any, "any %zu", i);
		CHECKF(util_hex_digit(t[i].c, 1) == t[i].lower, "lower %zu", i);
	}
}

/* The one hex encoder: lowercase, the low 4 bits only, and the inverse
 * of the decoder's lower-only mode. */
static void
test_util_hex_char(void)
{
	static const struct {
		unsigned v;
		char want;
	} t[] = {
		{ 0, '0' }, { 9, '9' }, { 10, 'a' }, { 15, 'f' }, { 16, '0' },
		{ 0x1a, 'a' }, { 0xff, 'f' }, { 0x7f, 'f' }, { 0xfffffff3u, '3' },
	};
	unsigned v;
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		CHECKF(util_hex_char(t[i].v) == t[i].want, "hex_char %zu", i);
	for (v = 0; v < 16; v++)
		CHECKF(util_hex_digit(util_hex_char(v), 1) == (int)v,
		    "round trip %u", v);
}

/* The one log quoter: nothing a peer sends can start a line or a key. */
static void
test_util_logq(void)
{
	static const struct {
		const char *in;
		size_t n;	/* 0: strlen */
		size_t outsz;
		const char *want;
	} t[] = {
		{ "plain", 0, 64, "plain" },
		{ "two words", 0, 64, "\"two words\"" },
		{ "a=b", 0, 64, "\"a=b\"" },
		{ "say \"hi\"", 0, 64, "\"say \\\"hi\\\"\"" },
		{ "back\\slash", 0, 64, "\"back\\\\slash\"" },
		{ "line\nforged=1", 0, 64, "\"line\\x0aforged=1\"" },
		{ "cr\r", 0, 64, "\"cr\\x0d\"" },
		{ "nul\0x", 5, 64, "\"nul\\x00x\"" },
		{ "\x1b[31m", 0, 64, "\"\\x1b[31m\"" },
		{ "caf\xc3\xa9", 0, 64, "\"caf\\xc3\\xa9\"" },
		{ "", 0, 64, "\"\"" },
		{ "0123456789 0123456789", 0, 16, "\"0123456789...\"" },
		{ "x y", 0, 4, "" },
	};
	char out[64];
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		size_t n = t[i].n != 0 ? t[i].n : strlen(t[i].in);

		log_quote(out, t[i].outsz, t[i].in, n);
		CHECKF(strcmp(out, t[i].want) == 0, "logq %zu: %s", i, out);
		CHECKF(strchr(out, '\n') == NULL, "logq %zu: newline", i);
	}
}

/* The smaller of two deadlines, at the ends of the range too. */
static void
test_util_min64(void)
{
	static const struct {
		int64_t a, b, want;
	} t[] = {
		{ 1, 2, 1 }, { 2, 1, 1 }, { 5, 5, 5 }, { -1, 0, -1 },
		{ INT64_MAX, 7, 7 }, { INT64_MIN, INT64_MAX, INT64_MIN },
		{ INT64_MAX, INT64_MAX, INT64_MAX },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		CHECKF(util_min64(t[i].a, t[i].b) == t[i].want, "min64 %zu", i);
}

/* "what: reason", cut to the buffer and always NUL-terminated. */
static void
test_util_err_set(void)
{
	static const struct {
		const char *what, *reason;
		size_t errsz;
		const char *want;
	} t[] = {
		{ "/d/journal.log", "Permission denied", 64,
		    "/d/journal.log: Permission denied" },
		{ "", "x", 64, ": x" },
		{ "a", "", 64, "a: " },
		{ "/a/very/long/path", "No such file", 10, "/a/very/l" },
		{ "ab", "cd", 7, "ab: cd" },
		{ "ab", "cd", 1, "" },
	};
	char err[64];
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		memset(err, 'Z', sizeof(err));
		util_err_set(err, t[i].errsz, t[i].what, t[i].reason);
		CHECKF(strcmp(err, t[i].want) == 0, "err_set %zu: %s", i, err);
	}
}

static int t_fsyncs;

/* A counting fsync, as the store's io_fsync counts for fault injection. */
static int
t_count_fsync(int fd)
{
	t_fsyncs++;
	return util_fsync(fd);
}

/* The one durable small-file writer and the one directory fsync, in a
 * fresh directory: replacing, refusing, and leaving no .tmp behind. */
static void
test_util_durable(void)
{
	static const struct {
		const char *name;	/* under the test directory */
		const char *data;
		int want_errno;		/* 0: written */
	} t[] = {
		{ "/token", "abc\n", 0 },
		{ "/token", "replaced\n", 0 },
		{ "/empty", "", 0 },
		{ "/no/such/dir/token", "x", ENOENT },
		{ "/file/token", "x", ENOTDIR },
	};
	static const struct {
		const char *name;	/* under the test directory */
		int counted, want_errno;
	} d[] = {
		{ "", 0, 0 }, { "", 1, 0 }, { "/file", 0, ENOTDIR },
		{ "/missing", 1, ENOENT },
	};
	char dir[] = "/tmp/hookd-unit-XXXXXX", path[UTIL_PATH_MAX * 2];
	char got[64];
	struct stat st;
	size_t i;
	ssize_t n;
	int fd, rc;

	if (mkdtemp(dir) == NULL) {
		CHECKF(0, "mkdtemp: %s", strerror(errno));
		return;
	}
	snprintf(path, sizeof(path), "%s/file", dir);
	CHECK(util_write_file_durable(path, "f", 1, 0600) == 0);
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		snprintf(path, sizeof(path), "%s%s", dir, t[i].name);
		errno = 0;
		rc = util_write_file_durable(path, t[i].data,
		    strlen(t[i].data), 0600);
		CHECKF(rc == (t[i].want_errno ? -1 : 0) &&
		    (rc == 0 || errno == t[i].want_errno), "write %zu: %d %s",
		    i, rc, strerror(errno));
		if (rc != 0)
			continue;
		CHECKF(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600,
		    "mode %zu", i);
		fd = open(path, O_RDONLY);
		n = fd >= 0 ? read(fd, got, sizeof(got) - 1) : -1;
		if (fd >= 0)
			close(fd);
		CHECKF(n == (ssize_t)strlen(t[i].data) &&
		    memcmp(got, t[i].data, (size_t)n) == 0, "content %zu", i);
		snprintf(path, sizeof(path), "%s%s.tmp", dir, t[i].name);
		CHECKF(access(path, F_OK) != 0, "tmp left %zu", i);
	}
	/* A path whose temporary name does not fit. */
	memset(path, 'a', UTIL_PATH_MAX);
	path[0] = '/';
	path[UTIL_PATH_MAX] = '\0';
	errno = 0;
	CHECK(util_write_file_durable(path, "x", 1, 0600) == -1 &&
	    errno == ENAMETOOLONG);
	for (i = 0; i < sizeof(d) / sizeof(d[0]); i++) {
		snprintf(path, sizeof(path), "%s%s", dir, d[i].name);
		t_fsyncs = 0;
		errno = 0;
		rc = util_fsync_dir(path, d[i].counted ? t_count_fsync : NULL);
		CHECKF(rc == (d[i].want_errno ? -1 : 0) &&
		    (rc == 0 || errno == d[i].want_errno), "dir %zu: %s", i,
		    strerror(errno));
		CHECKF(t_fsyncs == (d[i].counted && rc == 0), "count %zu", i);
	}
	snprintf(path, sizeof(path), "%s/token", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/empty", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/file", dir);
	unlink(path);
	CHECKF(rmdir(dir) == 0, "rmdir %s: %s", dir, strerror(errno));
}

/* util_hash is FNV-1a: the published 32-bit test vectors, and a hash
 * continued over two pieces equals the hash of the whole. */
static void
test_util_hash(void)
{
	static const struct {
		const char *in;
		uint32_t want;
	} t[] = {
		{ "", 0x811c9dc5u },
		{ "a", 0xe40c292cu },
		{ "foobar", 0xbf9cf968u },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		CHECKF(util_hash(UTIL_HASH_START, t[i].in, strlen(t[i].in)) ==
		    t[i].want, "%s", t[i].in);
	CHECK(util_hash(util_hash(UTIL_HASH_START, "foo", 3), "bar", 3) ==
	    util_hash(UTIL_HASH_START, "foobar", 6));
}

/* util_fd_nonblock and util_fd_cloexec set their flag and keep the others;
 * both fail with -1 on a closed descriptor. */
static void
test_util_fd(void)
{
	int p[2], fl;

	if (pipe(p) != 0) {
		CHECK(!"pipe");
		return;
	}
	CHECK(fcntl(p[1], F_SETFL, fcntl(p[1], F_GETFL) | O_APPEND) == 0);
	CHECK(util_fd_nonblock(p[1]) == 0);
	fl = fcntl(p[1], F_GETFL);
	CHECK((fl & O_NONBLOCK) != 0 && (fl & O_APPEND) != 0);
	CHECK((fcntl(p[0], F_GETFL) & O_NONBLOCK) == 0);
	CHECK(util_fd_cloexec(p[0]) == 0);
	CHECK((fcntl(p[0], F_GETFD) & FD_CLOEXEC) != 0);
	CHECK((fcntl(p[1], F_GETFD) & FD_CLOEXEC) == 0);
	close(p[0]);
	close(p[1]);
	CHECK(util_fd_nonblock(p[0]) == -1);
	CHECK(util_fd_cloexec(p[0]) == -1);
}

/* A per-client state as the engine and the resolver keep them: the
 * table's entry first, then the owner's payload. */
struct test_client {
	struct util_client c;
	int busy;
};

static int
test_client_idle(const struct util_client *c)
{
	return ((const struct test_client *)(const void *)c)->busy == 0;
}

/* util_clients: get creates only when asked, finds again by id, refuses
 * NULL and ""; next walks every entry once; sweep frees the idle ones, or
 * all. */
static void
test_util_clients(void)
{
	static const struct {
		const char *id;
		size_t size;	/* what get is asked to create, 0 none */
		int found;	/* an entry comes back */
		size_t count;	/* entries in the table after it */
	} t[] = {
		{ "acme", 0, 0, 0 },
		{ "acme", sizeof(struct test_client), 1, 1 },
		{ "acme", 0, 1, 1 },
		{ "acme", sizeof(struct test_client), 1, 1 },
		{ "beta", sizeof(struct test_client), 1, 2 },
		{ "", sizeof(struct test_client), 0, 2 },
		{ NULL, sizeof(struct test_client), 0, 2 },
		{ "c", sizeof(struct util_client) - 1, 0, 2 },
		{ "c", sizeof(struct test_client), 1, 3 },
	};
	struct util_clients tab;
	struct util_client *c, *acme = NULL;
	struct test_client *tc;
	size_t i, n;
	char id[16];

	memset(&tab, 0, sizeof(tab));
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		c = util_clients_get(&tab, t[i].id, t[i].size);
		CHECKF((c != NULL) == t[i].found, "row %zu", i);
		if (c != NULL)
			CHECKF(strcmp(c->id, t[i].id) == 0, "row %zu", i);
		if (c != NULL && strcmp(t[i].id, "acme") == 0) {
			CHECKF(acme == NULL || acme == c, "row %zu", i);
			acme = c;
		}
		n = 0;
		for (c = util_clients_next(&tab, NULL); c != NULL;
		    c = util_clients_next(&tab, c))
			n++;
		CHECKF(n == t[i].count, "row %zu: %zu entries", i, n);
	}
	/* Many entries, so that chains and empty buckets both occur. */
	for (i = 0; i < 1000; i++) {
		snprintf(id, sizeof(id), "client-%zu", i);
		tc = (struct test_client *)(void *)util_clients_get(&tab, id,
		    sizeof(*tc));
		CHECK(tc != NULL && tc->busy == 0);
		if (tc != NULL)
			tc->busy = (int)(i % 2);
	}
	n = 0;
	for (c = util_clients_next(&tab, NULL); c != NULL;
	    c = util_clients_next(&tab, c))
		n++;
	CHECK(n == 1003);
	util_clients_sweep(&tab, test_client_idle);
	n = 0;
	for (c = util_clients_next(&tab, NULL); c != NULL;
	    c = util_clients_next(&tab, c)) {
		CHECK(test_client_idle(c) == 0);
		n++;
	}
	CHECK(n == 500);
	CHECK(util_clients_get(&tab, "client-1", 0) != NULL);
	CHECK(util_clients_get(&tab, "client-2", 0) == NULL);
	util_clients_sweep(&tab, NULL);
	CHECK(util_clients_next(&tab, NULL) == NULL);
}

void
test_util(void)
{
	struct buf b = {0};
	char t[UTIL_TIME_MAX];
	int64_t ms;
	uint64_t v;
	int i;

	test_util_put_num();
	for (i = 0; i < 1000; i++)
		CHECK(buf_printf(&b, "%d,", i) == 0);
	CHECK(strncmp(b.data, "0,1,2,", 6) == 0);
	buf_consume(&b, 2);
	CHECK(strncmp(b.data, "1,2,", 4) == 0);
	buf_free(&b);
	/* Found by fuzz_json: memory reserved but nothing appended yet (an
	 * empty decoded string) is still an empty C string. */
	CHECK(buf_reserve(&b, 10) == 0 && b.data != NULL && b.data[0] == '\0');
	buf_free(&b);

	CHECK(strcmp(util_fmt_time(1795881600123LL, t),
	    "2026-11-28T16:00:00.123Z") == 0);
	CHECK(util_parse_time("2026-11-28T16:00:00.123Z", 24, &ms) == 0 &&
	    ms == 1795881600123LL);
	CHECK(util_parse_time("2026-11-28T17:00:00+01:00", 25, &ms) == 0 &&
	    ms == 1795881600000LL);
	CHECK(util_parse_time("2026-11-28T16:00:00", 19, &ms) == -1);
	CHECK(util_parse_time("2026-13-28T16:00:00Z", 20, &ms) == -1);
	/* Impossible dates are refused, not rolled into the next month;
	 * leap years by the Gregorian rule; no leap second. */
	{
		static const struct {
			const char *s;
			int rc;
			int64_t ms;
		} rows[] = {
			{ "2027-02-29T00:00:00Z", -1, 0 },
			{ "2026-02-30T00:00:00Z", -1, 0 },
			{ "2026-11-31T00:00:00Z", -1, 0 },
			{ "2026-04-31T00:00:00Z", -1, 0 },
			{ "1900-02-29T00:00:00Z", -1, 0 },
			{ "2026-12-31T12:00:60Z", -1, 0 },
			{ "2026-12-31T23:59:60Z", -1, 0 },
			{ "2026-01-32T00:00:00Z", -1, 0 },
			{ "2028-02-29T00:00:00Z", 0, 1835395200000LL },
			{ "2000-02-29T00:00:00Z", 0, 951782400000LL },
			{ "2026-11-30T00:00:00Z", 0, 1795996800000LL },
			{ "2026-12-31T23:59:59Z", 0, 1798761599000LL },
			{ "2027-02-28T00:00:00Z", 0, 1803772800000LL },
		};
		size_t r;

		for (r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
			ms = 0;
			CHECK(util_parse_time(rows[r].s, strlen(rows[r].s),
			    &ms) == rows[r].rc);
			CHECK(rows[r].rc != 0 || ms == rows[r].ms);
		}
	}
	CHECK(util_parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT", 29, &ms) ==
	    0 && ms == 784111777000LL);

	CHECK(util_parse_u64("18446744073709551615", 20, UINT64_MAX, &v) == 0 &&
	    v == UINT64_MAX);
	CHECK(util_parse_u64("18446744073709551616", 20, UINT64_MAX, &v) == -1);
	CHECK(util_parse_u64("100", 3, 100, &v) == 0 && v == 100);
	CHECK(util_parse_u64("101", 3, 100, &v) == -1);
	CHECK(util_parse_u64("", 0, 100, &v) == -1);
	CHECK(util_parse_u64("-1", 2, 100, &v) == -1);
	CHECK(util_parse_u64(" 1", 2, 100, &v) == -1);

	CHECK(util_parse_duration("15", 2, INT64_MAX, &ms) == 0 && ms == 15000);
	CHECK(util_parse_duration("250ms", 5, INT64_MAX, &ms) == 0 && ms == 250);
	CHECK(util_parse_duration("5m", 2, INT64_MAX, &ms) == 0 && ms == 300000);
	CHECK(util_parse_duration("7d", 2, INT64_MAX, &ms) == 0 &&
	    ms == 604800000);
	CHECK(util_parse_duration("2h", 2, 3600000, &ms) == -1);
	CHECK(util_parse_duration("1x", 2, INT64_MAX, &ms) == -1);
	CHECK(util_parse_duration("ms", 2, INT64_MAX, &ms) == -1);

	CHECK(util_span_ieq("Content-Length", 14, "content-length"));
	CHECK(!util_span_ieq("Content-Lengt", 13, "content-length"));

	test_util_hex();
	test_metrics_loop_pass();
	test_util_grow();
	test_util_fsync_parent();
	test_util_hex_char();
	test_util_min64();
	test_util_err_set();
	test_util_durable();
	test_util_logq();
	test_util_hash();
	test_util_fd();
	test_util_clients();
}
