/*
 * util: growable buffers, clocks, RFC 3339 and HTTP dates, and the
 * range-checked number parsing that replaces atoi everywhere in hookd, the
 * client-id rule, and the write that does not stop short.
 */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <unistd.h>

int
buf_reserve(struct buf *b, size_t n)
{
	size_t want, cap;
	char *p;

	if (b->oom)
		return -1;
	if (n > SIZE_MAX / 2 - b->len - 1)
		goto fail;
	want = b->len + n + 1;
	if (want <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 256;
	while (cap < want)
		cap *= 2;
	p = realloc(b->data, cap);
	if (p == NULL)
		goto fail;
	b->data = p;
	b->cap = cap;
	/* util.h promises a NUL after len once there is memory, even before
	 * the first append: an empty decoded JSON string is such a buffer. */
	b->data[b->len] = '\0';
	return 0;
fail:
	b->oom = 1;
	return -1;
}

int
buf_append(struct buf *b, const void *p, size_t n)
{
	if (buf_reserve(b, n) != 0)
		return -1;
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int
buf_puts(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

int
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (buf_reserve(b, 64) != 0)
		return -1;
	va_start(ap, fmt);
	n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->data[b->len] = '\0';
		return -1;
	}
	if ((size_t)n >= b->cap - b->len) {
		if (buf_reserve(b, (size_t)n) != 0)
			return -1;
		va_start(ap, fmt);
		n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0 || (size_t)n >= b->cap - b->len)
			return -1;
	}
	b->len += (size_t)n;
	return 0;
}

/* The digits of v, written backwards from end; returns where they start. */
static char *
fmt_u64_back(uint64_t v, char *end)
{
	do {
		*--end = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	return end;
}

void
util_close_from(int low, const int *keep, size_t nkeep)
{
	struct rlimit rl;
	long fd, top = 1024;
	size_t k;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		top = (long)rl.rlim_cur;
	if (top > 1048576)
		top = 1048576;
	for (fd = low; fd < top; fd++) {
		for (k = 0; k < nkeep && keep[k] != fd; k++)
			;
		if (k == nkeep)
			(void)close((int)fd);
	}
}

size_t
util_fmt_i64(int64_t v, char out[UTIL_I64_MAX])
{
	char d[UTIL_I64_MAX], *p;
	size_t n;

	/* -(v + 1) + 1 stays in range for INT64_MIN. */
	p = fmt_u64_back(v >= 0 ? (uint64_t)v : (uint64_t)-(v + 1) + 1,
	    d + sizeof(d));
	if (v < 0)
		*--p = '-';
	n = (size_t)(d + sizeof(d) - p);
	memcpy(out, p, n);
	out[n] = '\0';
	return n;
}

int
buf_put_u64(struct buf *b, uint64_t v)
{
	char d[20];		/* 18446744073709551615 */
	char *p = fmt_u64_back(v, d + sizeof(d));

	return buf_append(b, p, (size_t)(d + sizeof(d) - p));
}

int
buf_put_i64(struct buf *b, int64_t v)
{
	char d[UTIL_I64_MAX];

	return buf_append(b, d, util_fmt_i64(v, d));
}

void
buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		buf_reset(b);
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
	b->data[b->len] = '\0';
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

void
buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
	b->oom = 0;
}

int64_t
util_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
util_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t
util_thread_cpu_us(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
		return 0;
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t
util_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * days_from_civil), so no timegm() or TZ games are needed. */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void
put_digits(char *p, unsigned v, int n)
{
	while (n-- > 0) {
		p[n] = (char)('0' + v % 10);
		v /= 10;
	}
}

char *
util_fmt_time(int64_t ms, char out[UTIL_TIME_MAX])
{
	time_t secs;
	struct tm tm;

	if (ms < 0)
		ms = 0;
	secs = (time_t)(ms / 1000);
	gmtime_r(&secs, &tm);
	memcpy(out, "0000-00-00T00:00:00.000Z", UTIL_TIME_MAX);
	put_digits(out, (unsigned)(tm.tm_year + 1900) % 10000, 4);
	put_digits(out + 5, (unsigned)tm.tm_mon + 1, 2);
	put_digits(out + 8, (unsigned)tm.tm_mday, 2);
	put_digits(out + 11, (unsigned)tm.tm_hour, 2);
	put_digits(out + 14, (unsigned)tm.tm_min, 2);
	put_digits(out + 17, (unsigned)tm.tm_sec, 2);
	put_digits(out + 20, (unsigned)(ms % 1000), 3);
	return out;
}

static int
digits(const char *s, size_t n, int *out)
{
	int v = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/* The days of month mo (1-12) of year y, leap years by the Gregorian rule
 * (every 4th, but not every 100th, but every 400th). */
static int
month_days(int y, int mo)
{
	static const unsigned char days[12] = { 31, 28, 31, 30, 31, 30, 31,
	    31, 30, 31, 30, 31 };

	if (mo == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))
		return 29;
	return days[mo - 1];
}

int
util_parse_time(const char *s, size_t len, int64_t *ms)
{
	int y, mo, d, h, mi, sec, frac = 0, fd = 0, oh = 0, om = 0;
	size_t i = 19;
	int64_t t;

	if (len < 20 || s[4] != '-' || s[7] != '-' ||
	    (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':')
		return -1;
	if (digits(s, 4, &y) || digits(s + 5, 2, &mo) || digits(s + 8, 2, &d) ||
	    digits(s + 11, 2, &h) || digits(s + 14, 2, &mi) ||
	    digits(s + 17, 2, &sec))
		return -1;
	/* A day past its month's end (2027-02-29, 2026-11-31) is refused, not
	 * rolled over into the next month. So is second 60: RFC 3339 allows
	 * a leap second, but hookd's clock (POSIX time) never shows one, so
	 * no time hookd writes has it and none it schedules needs it. */
	if (mo < 1 || mo > 12 || d < 1 || d > month_days(y, mo) || h > 23 ||
	    mi > 59 || sec > 59)
		return -1;
	if (s[i] == '.') {
		i++;
		while (i < len && s[i] >= '0' && s[i] <= '9') {
			if (fd < 3) {
				frac = frac * 10 + (s[i] - '0');
				fd++;
			}
			i++;
		}
		if (fd == 0)
			return -1;
		while (fd < 3) {
			frac *= 10;
			fd++;
		}
	}
	if (i == len - 1 && (s[i] == 'Z' || s[i] == 'z')) {
		/* UTC */
	} else if (i + 6 == len && (s[i] == '+' || s[i] == '-') &&
	    s[i + 3] == ':') {
		if (digits(s + i + 1, 2, &oh) || digits(s + i + 4, 2, &om) ||
		    oh > 23 || om > 59)
			return -1;
		if (s[i] == '-') {
			oh = -oh;
			om = -om;
		}
	} else
		return -1;
	t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
	t -= oh * 3600 + om * 60;
	*ms = t * 1000 + frac;
	return 0;
}

/* Index of the three-letter name at s in names (n names of 3), or -1. */
static int
name3(const char *names, int n, const char *s)
{
	int i;

	for (i = 0; i < n; i++)
		if (memcmp(names + i * 3, s, 3) == 0)
			return i;
	return -1;
}

static const char util_months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
static const char util_wdays[] = "MonTueWedThuFriSatSun";

/* "hh:mm:ss" at s. 0 ok, -1 not a time of day. */
static int
time_of_day(const char *s, int *h, int *mi, int *sec)
{
	if (s[2] != ':' || s[5] != ':' || digits(s, 2, h) ||
	    digits(s + 3, 2, mi) || digits(s + 6, 2, sec))
		return -1;
	return *h > 23 || *mi > 59 || *sec > 60 ? -1 : 0;
}

int
util_parse_http_date_at(const char *s, size_t len, int64_t now_ms,
    int64_t *ms)
{
	static const char *const long_days[] = { "Monday", "Tuesday",
	    "Wednesday", "Thursday", "Friday", "Saturday", "Sunday" };
	int d, y, h, mi, sec, mo;
	size_t i, dl = 0;
	const char *t;

	if (len == 29 && s[3] == ',') {
		/* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
		if (name3(util_wdays, 7, s) < 0 || s[4] != ' ' ||
		    s[7] != ' ' || s[11] != ' ' || s[16] != ' ' ||
		    memcmp(s + 25, " GMT", 4) != 0 || digits(s + 5, 2, &d) ||
		    digits(s + 12, 4, &y) ||
		    time_of_day(s + 17, &h, &mi, &sec) != 0)
			return -1;
		mo = name3(util_months, 12, s + 8);
	} else if (len == 24 && s[3] == ' ') {
		/* asctime: "Sun Nov  6 08:49:37 1994", day padded by SP. */
		if (name3(util_wdays, 7, s) < 0 || s[7] != ' ' ||
		    s[10] != ' ' || s[19] != ' ' ||
		    digits(s + 20, 4, &y) ||
		    time_of_day(s + 11, &h, &mi, &sec) != 0)
			return -1;
		if (s[8] == ' ' ? digits(s + 9, 1, &d) : digits(s + 8, 2, &d))
			return -1;
		mo = name3(util_months, 12, s + 4);
	} else {
		/* RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT" */
		for (i = 0; i < 7; i++) {
			dl = strlen(long_days[i]);
			if (len == dl + 24 && memcmp(s, long_days[i], dl) == 0)
				break;
		}
		if (i == 7)
			return -1;
		t = s + dl;
		if (t[0] != ',' || t[1] != ' ' || t[4] != '-' || t[8] != '-' ||
		    t[11] != ' ' || memcmp(t + 20, " GMT", 4) != 0 ||
		    digits(t + 2, 2, &d) || digits(t + 9, 2, &y) ||
		    time_of_day(t + 12, &h, &mi, &sec) != 0)
			return -1;
		mo = name3(util_months, 12, t + 5);
		/* RFC 9110 §5.6.7: a two-digit year more than 50 years in the
		 * future means the latest past year with those digits. */
		{
			int64_t days = now_ms / 86400000;
			int64_t cy = 1970 + days / 366;	/* a lower bound */

			while (days_from_civil(cy + 1, 1, 1) <= days)
				cy++;
			y += (int)(cy - cy % 100);
			if (y > cy + 50)
				y -= 100;
		}
	}
	if (mo < 0 || d < 1 || d > 31)
		return -1;
	*ms = (days_from_civil(y, mo + 1, d) * 86400 + h * 3600 + mi * 60 +
	    sec) * 1000;
	return 0;
}

int
util_parse_http_date(const char *s, size_t len, int64_t *ms)
{
	return util_parse_http_date_at(s, len, util_wall_ms(), ms);
}

int
util_parse_u64(const char *s, size_t len, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (len == 0 || len > 20)
		return -1;
	for (i = 0; i < len; i++) {
		unsigned dgt;

		if (s[i] < '0' || s[i] > '9')
			return -1;
		dgt = (unsigned)(s[i] - '0');
		if (dgt > max || v > (max - dgt) / 10)
			return -1;
		v = v * 10 + dgt;
	}
	*out = v;
	return 0;
}

int
util_parse_duration(const char *s, size_t len, int64_t max_ms, int64_t *ms)
{
	size_t n = 0;
	uint64_t v, mult = 1000;

	while (n < len && s[n] >= '0' && s[n] <= '9')
		n++;
	if (n == len)
		mult = 1000;
	else if (util_span_eq(s + n, len - n, "ms"))
		mult = 1;
	else if (util_span_eq(s + n, len - n, "s"))
		mult = 1000;
	else if (util_span_eq(s + n, len - n, "m"))
		mult = 60000;
	else if (util_span_eq(s + n, len - n, "h"))
		mult = 3600000;
	else if (util_span_eq(s + n, len - n, "d"))
		mult = 86400000;
	else
		return -1;
	if (max_ms < 0 || util_parse_u64(s, n, (uint64_t)max_ms / mult, &v))
		return -1;
	*ms = (int64_t)(v * mult);
	return 0;
}

int
util_span_ieq(const char *s, size_t len, const char *lit)
{
	size_t i;

	for (i = 0; i < len; i++) {
		char a = s[i], b = lit[i];

		if (b == '\0')
			return 0;
		if (a >= 'A' && a <= 'Z')
			a = (char)(a - 'A' + 'a');
		if (b >= 'A' && b <= 'Z')
			b = (char)(b - 'A' + 'a');
		if (a != b)
			return 0;
	}
	return lit[len] == '\0';
}

int
util_span_eq(const char *s, size_t len, const char *lit)
{
	return strlen(lit) == len && memcmp(s, lit, len) == 0;
}

void *
util_grow(void *v, size_t *cap, size_t need, size_t size, size_t min)
{
	size_t n = *cap;

	if (need <= n && v != NULL)
		return v;
	if (n < min)
		n = min;
	if (n == 0)
		n = 1;
	while (n < need) {
		if (n > SIZE_MAX / 2)
			return NULL;
		n *= 2;
	}
	if (size != 0 && n > SIZE_MAX / size)
		return NULL;
	if ((v = realloc(v, n * size)) == NULL)
		return NULL;
	*cap = n;
	return v;
}

char *
util_strndup(const char *s, size_t len)
{
	char *p = malloc(len + 1);

	if (p == NULL)
		return NULL;
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

int
util_hex_digit(int c, int lower_only)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (!lower_only && c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

char
util_hex_char(unsigned v)
{
	return "0123456789abcdef"[v & 0xf];
}

int
util_type_ok(const char *s, size_t n, int filter)
{
	size_t i;

	if (n == 0 || n > UTIL_TYPE_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		if (s[i] <= 0x20 || s[i] >= 0x7f)
			return 0;
		if (filter && s[i] == '*' && i != n - 1)
			return 0;
	}
	return 1;
}

int
util_client_id_ok(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > UTIL_ID_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
		    ch == '-'))
			return 0;
	}
	return 1;
}

int64_t
util_min64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

void
util_err_set(char *err, size_t errsz, const char *what, const char *reason)
{
	if (snprintf(err, errsz, "%s: %s", what, reason) < 0)
		err[0] = '\0';
}

int
util_write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;

	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

uint32_t
util_hash(uint32_t h, const void *p, size_t n)
{
	const unsigned char *s = p;
	size_t i;

	for (i = 0; i < n; i++)
		h = (h ^ s[i]) * 16777619u;	/* FNV-1a's 32-bit prime */
	return h;
}

static size_t
util_clients_bucket(const char *id)
{
	return util_hash(UTIL_HASH_START, id, strlen(id)) % UTIL_CLIENT_BUCKETS;
}

struct util_client *
util_clients_get(struct util_clients *tab, const char *id, size_t size)
{
	struct util_client **slot, *c;

	if (id == NULL)
		return NULL;
	slot = &tab->bucket[util_clients_bucket(id)];
	for (c = *slot; c != NULL; c = c->next)
		if (strcmp(c->id, id) == 0)
			return c;
	if (size < sizeof(*c) || id[0] == '\0')
		return NULL;
	c = calloc(1, size);
	if (c == NULL)
		return NULL;
	snprintf(c->id, sizeof(c->id), "%s", id);
	c->next = *slot;
	*slot = c;
	return c;
}

struct util_client *
util_clients_next(const struct util_clients *tab,
    const struct util_client *prev)
{
	size_t i = 0;

	if (prev != NULL) {
		if (prev->next != NULL)
			return prev->next;
		i = util_clients_bucket(prev->id) + 1;
	}
	for (; i < UTIL_CLIENT_BUCKETS; i++)
		if (tab->bucket[i] != NULL)
			return tab->bucket[i];
	return NULL;
}

void
util_clients_sweep(struct util_clients *tab,
    int (*idle)(const struct util_client *c))
{
	size_t i;

	for (i = 0; i < UTIL_CLIENT_BUCKETS; i++) {
		struct util_client **pp = &tab->bucket[i];

		while (*pp != NULL) {
			struct util_client *c = *pp;

			if (idle == NULL || idle(c)) {
				*pp = c->next;
				free(c);
			} else {
				pp = &c->next;
			}
		}
	}
}

/* The smallest table: below it, a resize would cost more than it saves. */
#define UTIL_HTAB_MIN 16

/* Where entries of hash live: the old array's bucket while it is not
 * moved yet, else the new array's. */
static struct util_hent **
htab_slot(const struct util_htab *t, uint32_t hash)
{
	if (t->old != NULL && (hash & (t->nold - 1)) >= t->moved)
		return &t->old[hash & (t->nold - 1)];
	return &t->bucket[hash & (t->nbucket - 1)];
}

/* Move up to k buckets of the old array into the new one (each bucket's
 * whole chain); the old array is freed once all are. */
static void
htab_step(struct util_htab *t, size_t k)
{
	while (t->old != NULL && k-- > 0) {
		struct util_hent *e, *next;

		for (e = t->old[t->moved]; e != NULL; e = next) {
			next = e->next;
			e->next = t->bucket[e->hash & (t->nbucket - 1)];
			t->bucket[e->hash & (t->nbucket - 1)] = e;
		}
		t->old[t->moved] = NULL;
		if (++t->moved == t->nold) {
			free(t->old);
			t->old = NULL;
			t->nold = t->moved = 0;
		}
	}
}

/* Begin a resize to nb buckets (none may be under way): the entries move
 * in the steps of the adds and deletes that follow. 0, or -1 out of memory
 * (t unchanged). */
static int
htab_resize(struct util_htab *t, size_t nb)
{
	struct util_hent **b = calloc(nb, sizeof(*b));

	if (b == NULL)
		return -1;
	t->old = t->bucket;
	t->nold = t->old != NULL ? t->nbucket : 0;
	t->moved = 0;
	t->bucket = b;
	t->nbucket = nb;
	return 0;
}

int
util_htab_add(struct util_htab *t, struct util_hent *e, uint32_t hash)
{
	struct util_hent **slot;

	/* Twice as many buckets once every bucket holds an entry on average
	 * (unless the last resize is still moving: it ends long before the
	 * table doubles again); a table that cannot grow still works, with
	 * longer chains. */
	if (t->n >= t->nbucket && t->old == NULL && htab_resize(t,
	    t->nbucket != 0 ? t->nbucket * 2 : UTIL_HTAB_MIN) != 0 &&
	    t->nbucket == 0)
		return -1;
	e->hash = hash;
	slot = htab_slot(t, hash);
	e->next = *slot;
	*slot = e;
	t->n++;
	htab_step(t, UTIL_HTAB_STEP);
	return 0;
}

void
util_htab_del(struct util_htab *t, struct util_hent *e)
{
	struct util_hent **pp = htab_slot(t, e->hash);

	while (*pp != NULL && *pp != e)
		pp = &(*pp)->next;
	if (*pp == NULL)
		return;
	*pp = e->next;
	e->next = NULL;
	t->n--;
	htab_step(t, UTIL_HTAB_STEP);
	if (t->old == NULL && t->nbucket > UTIL_HTAB_MIN &&
	    t->n < t->nbucket / 8)
		(void)htab_resize(t, t->nbucket / 2);
}

struct util_hent *
util_htab_first(const struct util_htab *t, uint32_t hash)
{
	struct util_hent *e;

	if (t->nbucket == 0)
		return NULL;
	for (e = *htab_slot(t, hash); e != NULL; e = e->next)
		if (e->hash == hash)
			return e;
	return NULL;
}

struct util_hent *
util_htab_next(const struct util_hent *e)
{
	struct util_hent *x;

	for (x = e->next; x != NULL; x = x->next)
		if (x->hash == e->hash)
			return x;
	return NULL;
}

void
util_htab_free(struct util_htab *t)
{
	free(t->bucket);
	free(t->old);
	t->bucket = t->old = NULL;
	t->nbucket = t->n = t->nold = t->moved = 0;
}

int
util_fd_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -1;
	return 0;
}

int
util_fd_cloexec(int fd)
{
	return fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 ? -1 : 0;
}

int
util_fsync(int fd)
{
	while (fsync(fd) != 0)
		if (errno != EINTR)
			return -1;
	return 0;
}

int
util_fsync_dir(const char *dir, int (*fsync_fn)(int fd))
{
	int fd, rc, e;

	do
		fd = open(dir, O_RDONLY | O_DIRECTORY);
	while (fd < 0 && errno == EINTR);
	if (fd < 0)
		return -1;
	rc = (fsync_fn != NULL ? fsync_fn : util_fsync)(fd);
	e = errno;
	if (close(fd) != 0 && rc == 0)
		return -1;
	errno = e;
	return rc;
}

int
util_fsync_parent(const char *path, int (*fsync_fn)(int fd))
{
	char dir[UTIL_PATH_MAX];
	size_t n = strlen(path);

	while (n > 1 && path[n - 1] == '/')
		n--;		/* "data/" is the entry data */
	while (n > 0 && path[n - 1] != '/')
		n--;		/* its name */
	while (n > 1 && path[n - 1] == '/')
		n--;		/* "a//b" is in a; "/b" in / */
	if (n == 0)
		return util_fsync_dir(".", fsync_fn);
	if (n >= sizeof(dir)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(dir, path, n);
	dir[n] = '\0';
	return util_fsync_dir(dir, fsync_fn);
}

int
util_write_file_durable(const char *path, const void *data, size_t n,
    unsigned mode)
{
	char tmp[UTIL_PATH_MAX];
	int fd, e;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	do
		fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, (mode_t)mode);
	while (fd < 0 && errno == EINTR);
	if (fd < 0)
		return -1;
	if (util_write_all(fd, data, n) != 0 || util_fsync(fd) != 0) {
		e = errno;
		close(fd);
		goto fail;
	}
	if (close(fd) != 0 || rename(tmp, path) != 0) {
		e = errno;
		goto fail;
	}
	return util_fsync_parent(path, NULL);
fail:
	unlink(tmp);
	errno = e;
	return -1;
}

static int
util_lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

int
util_nearest(const char *word, size_t len, const char *const *list,
    size_t n)
{
	size_t row[UTIL_NEAREST_MAX + 1];
	size_t i, j, k, best = (size_t)-1;
	int at = -1;

	if (len > UTIL_NEAREST_MAX)
		return -1;
	for (k = 0; k < n; k++) {
		size_t m = strlen(list[k]), diag, longer, limit;

		if (m > UTIL_NEAREST_MAX)
			continue;
		/* Levenshtein distance, one row at a time. */
		for (j = 0; j <= m; j++)
			row[j] = j;
		for (i = 1; i <= len; i++) {
			diag = row[0];
			row[0] = i;
			for (j = 1; j <= m; j++) {
				size_t up = row[j], d = diag + (util_lower(
				    (unsigned char)word[i - 1]) != util_lower(
				    (unsigned char)list[k][j - 1]));

				if (up + 1 < d)
					d = up + 1;
				if (row[j - 1] + 1 < d)
					d = row[j - 1] + 1;
				diag = up;
				row[j] = d;
			}
		}
		longer = len > m ? len : m;
		limit = longer / 3 > 1 ? longer / 3 : 1;
		if (row[m] <= limit && row[m] < best) {
			best = row[m];
			at = (int)k;
		}
	}
	return at;
}
