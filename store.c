/*
 * store: the registry (clients, endpoints) and the journal (events,
 * deliveries, attempts) in memory and on disk. Both files are append-only
 * plain text, one record a line: "<crc32 hex> <JSON object>\n". Group commit,
 * replay at start with a torn tail cut off, and compaction by a forked child.
 */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "json.h"

/*
 * Idempotency keys are remembered for 24 h (contract §3); the rotated-out
 * secret of an endpoint keeps signing as long (contract §3).
 */
#define STORE_IDEM_MS (24LL * 3600 * 1000)
#define STORE_ROTATE_MS (24LL * 3600 * 1000)
/* A record line longer than this is corruption, not data: the largest real
 * record is an event with a max_body payload escaped (at most 6x). */
#define STORE_LINE_MAX ((size_t)64 << 20)
/* How much of an unreadable line hookd check reads looking for the id that
 * a later record depends on: ids lead a record, payloads end it. */
#define STORE_CHECK_HEAD 16384
/* Attempts kept in a delivery's log unless store_set_max_log says
 * otherwise (contract §18: max_log_attempts). */
#define STORE_MAX_LOG_DEFAULT 50

/* Free space that counts as "space returned" after a full disk: more than a
 * few blocks, so that /healthz does not flap between 200 and 503. */
#define STORE_SPACE_MIN ((unsigned long long)1 << 20)

/* The journal is not compacted below this size: rewriting a small file buys
 * nothing. */
#define STORE_COMPACT_MIN ((off_t)8 << 20)

/* One append-only file. */
struct logfile {
	int fd;
	char path[1100];
	off_t size;
	int dirty;		/* written since the last fsync */
	int dir_dirty;		/* created or renamed: fsync the directory */
};

/* An Idempotency-Key's first answer, and the request it answered. */
struct idem {
	struct idem *next;
	char *client;
	char *key;
	int status;
	char *body;
	int64_t at;
	uint8_t req[32];	/* SHA-256 of the request (store_idem_put) */
	int has_req;		/* 0: a record from before hashes were kept */
};

#define IDEM_BUCKETS 4096

/* The Idempotency-Key table, outside st: st has non-zero initial values,
 * which puts all of it in the binary's data section, and these 32 KiB of
 * NULL pointers belong in .bss. */
static struct idem *idem_tab[IDEM_BUCKETS];

/* An event whose deliveries wait for it to be durable. */
struct announce {
	struct event *ev;
	uint64_t seq;		/* durable once durable_seq reaches this */
};

/* A record hookd check found unreadable. */
struct store_bad {
	int journal;		/* which file */
	off_t off;		/* where its line starts */
	size_t len;		/* its bytes, with the newline if any */
	size_t line;		/* its line number in the file */
	size_t dep;		/* 0: unreadable itself; else the line of the
				   unreadable record it depends on */
	char why[256];		/* "file:line: reason" */
};

/* A delivery whose endpoint the registry does not hold and never deleted:
 * hookd check --fix moved the endpoint aside (or the registry lost it). */
struct store_orphan {
	struct delivery *d;
	uint64_t endpoint;
};

/* A growable array of pointers, kept in id order. */
struct vec {
	void **v;
	size_t n, cap;
};

static struct {
	char dir[1024];
	int fsync_always;
	struct logfile reg, jrn;
	uint64_t written_seq, durable_seq;
	int writable;
	int sync_failed;	/* an fsync of a live file failed: sync_lost */
	/* Events written but not yet durable: their deliveries are handed
	 * to the engine (store_on_due) only once they are, so no receiver
	 * hears of an event whose 202 a failed fsync would withhold. */
	struct announce *unannounced;
	size_t nunannounced, capunannounced;
	uint64_t last_id;
	struct vec clients, endpoints, events, deliveries;
	size_t pending;
	struct buf rec;		/* the record being written */
	struct json_tok *toks;	/* the replay's token array */
	size_t ntoks;
	/* Compaction in progress: */
	pid_t child;
	int64_t compact_now, compact_retention;
	off_t fork_size;
	size_t fork_events, fork_deliveries;
	/* hookd check: replay notes bad records here and goes on. */
	int checking;
	struct store_bad *bad;
	size_t nbad, capbad;
	int check_fd;		/* the file being checked, to read bad lines */
	/* Replay: endpoint ids the registry deleted (sorted once the registry
	 * is read), and deliveries left without an endpoint it never deleted.
	 */
	uint64_t *gone;
	size_t ngone, capgone;
	struct store_orphan *orphans;
	size_t norphans, caporphans;
	/* Fault injection (HOOKD_FAULT): */
	long fault_write, fault_fsync, fault_rename, fault_enospc;
	long n_write, n_fsync, n_rename;
} st = { .reg = { .fd = -1 }, .jrn = { .fd = -1 }, .writable = 1 };

void (*store_on_due)(struct delivery *d);
void (*store_on_fail)(struct delivery *d);

/* Outside st, whose store_close resets it: a setting, not state. */
static size_t store_max_log = STORE_MAX_LOG_DEFAULT;

void
store_set_max_log(size_t n)
{
	store_max_log = n > 0 ? n : 1;
}

/* ---- CRC-32 (IEEE 802.3, reflected), for torn and corrupt records ---- */

static uint32_t crc_table[8][256];

static void
crc_init(void)
{
	uint32_t i, j, c;

	for (i = 0; i < 256; i++) {
		c = i;
		for (j = 0; j < 8; j++)
			c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
		crc_table[0][i] = c;
	}
	for (i = 0; i < 256; i++)
		for (j = 1; j < 8; j++)
			crc_table[j][i] = (crc_table[j - 1][i] >> 8) ^
			    crc_table[0][crc_table[j - 1][i] & 0xff];
}

static uint32_t
crc32(const char *p, size_t n)
{
	const unsigned char *s = (const unsigned char *)p;
	uint32_t c = 0xffffffffu;

	/* Slicing by 8: the journal replay checks every byte at start. */
	while (n >= 8) {
		c ^= (uint32_t)s[0] | (uint32_t)s[1] << 8 |
		    (uint32_t)s[2] << 16 | (uint32_t)s[3] << 24;
		c = crc_table[7][c & 0xff] ^ crc_table[6][(c >> 8) & 0xff] ^
		    crc_table[5][(c >> 16) & 0xff] ^ crc_table[4][c >> 24] ^
		    crc_table[3][s[4]] ^ crc_table[2][s[5]] ^
		    crc_table[1][s[6]] ^ crc_table[0][s[7]];
		s += 8;
		n -= 8;
	}
	while (n-- > 0)
		c = crc_table[0][(c ^ *s++) & 0xff] ^ (c >> 8);
	return c ^ 0xffffffffu;
}

/* ---- I/O with fault injection ---- */

static int
enospc_cleared(void)
{
	char p[1100];

	if (snprintf(p, sizeof(p), "%s/.enospc-clear", st.dir) >=
	    (int)sizeof(p))
		return 0;
	return access(p, F_OK) == 0;
}

/* Write all of p, or fail leaving the file as it was. */
static int
io_write(struct logfile *f, const char *p, size_t n)
{
	size_t done = 0;
	ssize_t w;

	st.n_write++;
	if (st.fault_write > 0 && st.n_write == st.fault_write) {
		errno = EIO;
		return -1;
	}
	if (st.fault_enospc > 0 && st.n_write >= st.fault_enospc &&
	    !enospc_cleared()) {
		errno = ENOSPC;
		return -1;
	}
	while (done < n) {
		w = pwrite(f->fd, p + done, n - done, f->size + (off_t)done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			int e = w < 0 ? errno : ENOSPC;

			/* Cut a partial record back so that the file never
			 * holds half a line ahead of a later whole one. */
			if (ftruncate(f->fd, f->size) != 0) {
				/* The next start drops the torn tail. */
			}
			errno = e;
			return -1;
		}
		done += (size_t)w;
	}
	f->size += (off_t)n;
	f->dirty = 1;
	return 0;
}

static int
io_fsync(int fd)
{
	st.n_fsync++;
	if (st.fault_fsync > 0 && st.n_fsync == st.fault_fsync) {
		errno = EIO;
		return -1;
	}
	while (fsync(fd) != 0) {
		if (errno != EINTR)
			return -1;
	}
	return 0;
}

static int
io_rename(const char *from, const char *to)
{
	st.n_rename++;
	if (st.fault_rename > 0 && st.n_rename == st.fault_rename) {
		errno = EIO;
		return -1;
	}
	return rename(from, to);
}

static int
fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY);
	int r;

	if (fd < 0)
		return -1;
	r = io_fsync(fd);
	if (close(fd) != 0)
		r = -1;
	return r;
}

static long
fault_get(const char *spec, const char *name)
{
	const char *p = spec;
	size_t n = strlen(name);
	uint64_t v;

	while (p != NULL && *p != '\0') {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		if (len > n + 1 && memcmp(p, name, n) == 0 && p[n] == '=' &&
		    util_parse_u64(p + n + 1, len - n - 1, 1000000000, &v) == 0)
			return (long)v;
		p = end ? end + 1 : NULL;
	}
	return 0;
}

/* ---- ids and small helpers ---- */

static const char *const id_prefix[] = { "ep_", "evt_", "dlv_" };

void
store_fmt_id(enum store_kind k, uint64_t id, char out[STORE_XID_MAX])
{
	static const char hex[] = "0123456789abcdef";
	size_t n = strlen(id_prefix[k]);
	int i;

	memcpy(out, id_prefix[k], n);
	for (i = 15; i >= 0; i--) {
		out[n + (size_t)i] = hex[id & 0xf];
		id >>= 4;
	}
	out[n + 16] = '\0';
}

int
store_parse_id(enum store_kind k, const char *s, size_t len, uint64_t *id)
{
	size_t n = strlen(id_prefix[k]), i;
	uint64_t v = 0;

	if (len != n + 16 || memcmp(s, id_prefix[k], n) != 0)
		return -1;
	for (i = n; i < len; i++) {
		int d = util_hex_digit((unsigned char)s[i], 1);

		if (d < 0)
			return -1;
		v = v << 4 | (uint64_t)d;
	}
	*id = v;
	return 0;
}

/* Ids are the creation time in ms shifted left 16 bits plus a counter, so
 * they sort in creation order and stay unique across restarts. */
static uint64_t
new_id(void)
{
	uint64_t t = (uint64_t)util_wall_ms() << 16;

	st.last_id = t > st.last_id ? t : st.last_id + 1;
	return st.last_id;
}

static void
seen_id(uint64_t id)
{
	if (id > st.last_id)
		st.last_id = id;
}

static int
vec_push(struct vec *v, void *p)
{
	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 64;
		void **nv = realloc(v->v, cap * sizeof(*nv));

		if (nv == NULL)
			return -1;
		v->v = nv;
		v->cap = cap;
	}
	v->v[v->n++] = p;
	return 0;
}

static void
vec_remove(struct vec *v, size_t i)
{
	memmove(v->v + i, v->v + i + 1, (v->n - i - 1) * sizeof(*v->v));
	v->n--;
}

/* The objects with numeric ids all start with uint64_t id, so one binary
 * search serves endpoints, events and deliveries: the first index whose id is
 * >= id. */
static size_t
vec_lower(const struct vec *v, uint64_t id)
{
	size_t lo = 0, hi = v->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (*(const uint64_t *)v->v[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The first index whose id is > after: where a page after it starts. */
static size_t
vec_after(const struct vec *v, uint64_t after)
{
	size_t i = vec_lower(v, after);

	return i < v->n && *(const uint64_t *)v->v[i] == after ? i + 1 : i;
}

static void *
vec_find(const struct vec *v, uint64_t id)
{
	size_t i = vec_lower(v, id);

	return i < v->n && *(const uint64_t *)v->v[i] == id ? v->v[i] : NULL;
}

static char *
dup_or_null(const char *s)
{
	return s != NULL ? util_strndup(s, strlen(s)) : NULL;
}

static void
hex32(const uint8_t in[32], char out[65])
{
	static const char hex[] = "0123456789abcdef";
	int i;

	for (i = 0; i < 32; i++) {
		out[2 * i] = hex[in[i] >> 4];
		out[2 * i + 1] = hex[in[i] & 0xf];
	}
	out[64] = '\0';
}

static int
unhex32(const char *s, size_t len, uint8_t out[32])
{
	size_t i;

	if (len != 64)
		return -1;
	for (i = 0; i < 64; i++) {
		int v = util_hex_digit((unsigned char)s[i], 1);

		if (v < 0)
			return -1;
		if (i % 2 == 0)
			out[i / 2] = (uint8_t)(v << 4);
		else
			out[i / 2] |= (uint8_t)v;
	}
	return 0;
}

/* ---- writing records ---- */

static struct buf *
rec_begin(const char *type)
{
	buf_reset(&st.rec);
	buf_puts(&st.rec, "00000000 {\"t\":");
	json_put_cstr(&st.rec, type);
	return &st.rec;
}

static void
rec_str(const char *key, const char *val)
{
	buf_printf(&st.rec, ",\"%s\":", key);
	json_put_cstr(&st.rec, val);
}

static void
rec_num(const char *key, int64_t v)
{
	buf_printf(&st.rec, ",\"%s\":%lld", key, (long long)v);
}

static void
rec_id(const char *key, enum store_kind k, uint64_t id)
{
	char x[STORE_XID_MAX];

	store_fmt_id(k, id, x);
	buf_printf(&st.rec, ",\"%s\":\"%s\"", key, x);
}

/*
 * A JSON value that others wrote (a receiver's ack, an endpoint's headers)
 * as member key: re-encoded compactly by json_put_json, one level less deep
 * than the parser allows since the record adds its own; a value that is not
 * JSON or nests deeper is kept as the string member key + "_s" instead.
 * Either way no byte of it reaches the file except through the encoder, so
 * no newline can split the record and no depth can make it unreadable.
 * NULL is written as null.
 */
static void
rec_json(const char *key, const char *val, size_t len)
{
	buf_printf(&st.rec, ",\"%s\":", key);
	if (val == NULL) {
		buf_puts(&st.rec, "null");
		return;
	}
	if (json_put_json(&st.rec, val, len, JSON_MAX_DEPTH - 1) == 0 ||
	    st.rec.oom)
		return;	/* out of memory: rec_write fails the record */
	/* Take the key back and write the string form. */
	st.rec.len -= strlen(key) + 4;
	buf_printf(&st.rec, ",\"%s_s\":", key);
	json_put_str(&st.rec, val, len);
}

/* Close the record (checksum, newline) and append it to f. Returns the
 * record's offset, or -1 (errno set; nothing was added to the file). */
static off_t
rec_write(struct logfile *f)
{
	static const char hex[] = "0123456789abcdef";
	struct buf *b = &st.rec;
	uint32_t c;
	off_t off;
	int i;

	if (buf_puts(b, "}\n") != 0) {
		errno = ENOMEM;
		return -1;
	}
	c = crc32(b->data + 9, b->len - 10);
	for (i = 7; i >= 0; i--) {
		b->data[i] = hex[c & 0xf];
		c >>= 4;
	}
	off = f->size;
	if (io_write(f, b->data, b->len) != 0) {
		if (errno == ENOSPC)
			st.writable = 0;
		return -1;
	}
	st.writable = 1;
	st.written_seq++;
	return off;
}

/* ---- group commit ---- */

uint64_t
store_written_seq(void)
{
	return st.written_seq;
}

uint64_t
store_durable_seq(void)
{
	return st.durable_seq;
}

/* 1 when a disk that was full has room again: free space, or in a test the
 * fault's clear file (the real disk is not full then). */
static int
space_returned(void)
{
	struct statvfs sv;

	if (st.fault_enospc > 0)
		return enospc_cleared();
	return statvfs(st.dir, &sv) == 0 &&
	    (unsigned long long)sv.f_bavail * sv.f_frsize >= STORE_SPACE_MIN;
}

int
store_writable(void)
{
	/* Only a write that works used to clear a full disk, so an idle
	 * hookd answered 503 forever after space returned, and a balancer
	 * heeding /healthz would never send that write. Look again instead;
	 * if the space is gone by the write, it fails and we are back. */
	if (!st.writable && space_returned())
		st.writable = 1;
	return st.writable;
}

static int
sync_file(struct logfile *f)
{
	if (f->dirty) {
		if (st.fsync_always && io_fsync(f->fd) != 0)
			return -1;
		f->dirty = 0;
	}
	if (f->dir_dirty) {
		if (st.fsync_always && fsync_dir(st.dir) != 0)
			return -1;
		f->dir_dirty = 0;
	}
	return 0;
}

/* An fsync of a live file failed: every later store_sync fails, and one is
 * made due so that the server's next commit ends the process (contract §6)
 * even when nothing else is written. */
static void
sync_lost(void)
{
	st.sync_failed = 1;
	st.written_seq++;
}

/* Hand the deliveries of events now durable to the engine. */
static void
announce_durable(void)
{
	size_t i, k;

	for (i = 0; i < st.nunannounced &&
	    st.unannounced[i].seq <= st.durable_seq; i++) {
		struct delivery *d;

		for (d = st.unannounced[i].ev->deliveries; d != NULL;
		    d = d->next_in_event)
			if (d->status == STORE_PENDING && store_on_due != NULL)
				store_on_due(d);
	}
	for (k = 0; i < st.nunannounced; i++, k++)
		st.unannounced[k] = st.unannounced[i];
	st.nunannounced = k;
}

/*
 * The asynchronous group commit: one thread runs the fsyncs while the loop
 * goes on reading and answering, so the disk's fsync time and the loop's
 * work overlap instead of adding up. Jobs and results cross by pipes; only
 * one sync runs at a time, and the synchronous path (store_sync) waits for
 * it first, so the files are never fsynced from two threads at once.
 */
struct sync_job {
	int reg_fd, jrn_fd;
	uint8_t reg, jrn, dir;
};

static struct {
	pthread_t thread;
	int req[2], done[2];
	int running;
	int busy;
	uint64_t seq;		/* what the running sync makes durable */
} as = { .req = { -1, -1 }, .done = { -1, -1 } };

static void *
sync_thread(void *arg)
{
	struct sync_job job;
	int r;

	(void)arg;
	while (read(as.req[0], &job, sizeof(job)) == (ssize_t)sizeof(job)) {
		r = 0;
		if (st.fsync_always && ((job.reg && io_fsync(job.reg_fd) != 0) ||
		    (job.jrn && io_fsync(job.jrn_fd) != 0) ||
		    (job.dir && fsync_dir(st.dir) != 0)))
			r = -1;
		if (write(as.done[1], &r, sizeof(r)) != (ssize_t)sizeof(r))
			break;
	}
	return NULL;
}

int
store_sync_fd(void)
{
	if (as.running)
		return as.done[0];
	if (pipe(as.req) != 0)
		return -1;
	if (pipe(as.done) != 0)
		goto fail;
	(void)fcntl(as.req[0], F_SETFD, FD_CLOEXEC);
	(void)fcntl(as.req[1], F_SETFD, FD_CLOEXEC);
	(void)fcntl(as.done[0], F_SETFD, FD_CLOEXEC);
	(void)fcntl(as.done[1], F_SETFD, FD_CLOEXEC);
	if (pthread_create(&as.thread, NULL, sync_thread, NULL) != 0)
		goto fail;
	as.running = 1;
	return as.done[0];
fail:
	close(as.req[0]);
	close(as.req[1]);
	if (as.done[0] >= 0) {
		close(as.done[0]);
		close(as.done[1]);
	}
	as.req[0] = as.req[1] = as.done[0] = as.done[1] = -1;
	return -1;
}

int
store_sync_busy(void)
{
	return as.busy;
}

int
store_sync_begin(void)
{
	struct sync_job job;

	if (as.busy || st.written_seq == st.durable_seq)
		return 0;
	if (st.sync_failed || !as.running) {
		errno = EIO;
		return -1;
	}
	memset(&job, 0, sizeof(job));
	job.reg_fd = st.reg.fd;
	job.jrn_fd = st.jrn.fd;
	job.reg = (uint8_t)st.reg.dirty;
	job.jrn = (uint8_t)st.jrn.dirty;
	job.dir = (uint8_t)(st.reg.dir_dirty || st.jrn.dir_dirty);
	if (write(as.req[1], &job, sizeof(job)) != (ssize_t)sizeof(job))
		return -1;
	st.reg.dirty = st.jrn.dirty = 0;
	st.reg.dir_dirty = st.jrn.dir_dirty = 0;
	as.seq = st.written_seq;
	as.busy = 1;
	return 1;
}

int
store_sync_end(void)
{
	int r;
	ssize_t n;

	if (!as.busy)
		return 0;
	do
		n = read(as.done[0], &r, sizeof(r));
	while (n < 0 && errno == EINTR);
	as.busy = 0;
	if (n != (ssize_t)sizeof(r) || r != 0) {
		sync_lost();
		errno = EIO;
		return -1;
	}
	if (!st.sync_failed && as.seq > st.durable_seq)
		st.durable_seq = as.seq;
	announce_durable();
	return 0;
}

static void
sync_thread_stop(void)
{
	if (!as.running)
		return;
	(void)store_sync_end();
	close(as.req[1]);
	pthread_join(as.thread, NULL);
	close(as.req[0]);
	close(as.done[0]);
	close(as.done[1]);
	as.req[0] = as.req[1] = as.done[0] = as.done[1] = -1;
	as.running = 0;
}

int
store_sync(void)
{
	uint64_t seq = st.written_seq;

	/* A failed fsync may have dropped the pages it was to write (Linux
	 * marks them clean), so a later fsync that succeeds proves nothing:
	 * once failed, every sync fails and nothing more is acknowledged. */
	if (st.sync_failed) {
		errno = EIO;
		return -1;
	}
	if (store_sync_end() != 0)
		return -1;
	if (sync_file(&st.reg) != 0 || sync_file(&st.jrn) != 0) {
		sync_lost();
		return -1;
	}
	st.durable_seq = seq;
	announce_durable();
	return 0;
}

/* ---- clients ---- */

static size_t
client_lower(const char *id, size_t len)
{
	size_t lo = 0, hi = st.clients.n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct client *c = st.clients.v[mid];
		size_t cl = strlen(c->id);
		int r = memcmp(c->id, id, cl < len ? cl : len);

		if (r < 0 || (r == 0 && cl < len))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct client *
store_client_find(const char *id, size_t len)
{
	size_t i = client_lower(id, len);
	struct client *c;

	if (i >= st.clients.n)
		return NULL;
	c = st.clients.v[i];
	return util_span_eq(id, len, c->id) ? c : NULL;
}

struct client *
store_client_by_token(const uint8_t hash[32])
{
	struct client *found = NULL;
	size_t i;

	/* Every client is compared, so the time does not tell which matched. */
	for (i = 0; i < st.clients.n; i++) {
		struct client *c = st.clients.v[i];

		if (sign_equal(c->token_hash, hash, 32))
			found = c;
	}
	return found;
}

size_t
store_client_count(void)
{
	return st.clients.n;
}

struct client *
store_client_at(size_t i)
{
	return i < st.clients.n ? st.clients.v[i] : NULL;
}

size_t
store_client_after(const char *after, size_t len)
{
	size_t i;

	if (after == NULL)
		return 0;
	i = client_lower(after, len);
	if (i < st.clients.n &&
	    util_span_eq(after, len, ((struct client *)st.clients.v[i])->id))
		i++;
	return i;
}

static int
client_insert(struct client *c)
{
	size_t i = client_lower(c->id, strlen(c->id));

	if (vec_push(&st.clients, c) != 0)
		return -1;
	memmove(st.clients.v + i + 1, st.clients.v + i,
	    (st.clients.n - 1 - i) * sizeof(void *));
	st.clients.v[i] = c;
	return 0;
}

static off_t
client_record(const struct client *c)
{
	char hex[65];

	rec_begin("client");
	rec_str("id", c->id);
	rec_str("name", c->name);
	hex32(c->token_hash, hex);
	rec_str("token_sha256", hex);
	rec_str("secret", c->secret);
	if (c->prev_secret[0] != '\0') {
		rec_str("prev_secret", c->prev_secret);
		rec_num("prev_until", c->prev_until);
	}
	rec_num("created", c->created_at);
	rec_num("updated", c->updated_at);
	return rec_write(&st.reg);
}

static void
client_free(struct client *c)
{
	if (c == NULL)
		return;
	free(c->name);
	free(c);
}

struct client *
store_client_create(const char *id, const char *name,
    const uint8_t token_hash[32], const char *secret)
{
	struct client *c = calloc(1, sizeof(*c));

	if (c == NULL || strlen(id) > UTIL_ID_MAX ||
	    strlen(secret) >= sizeof(c->secret))
		goto fail;
	memcpy(c->id, id, strlen(id) + 1);
	c->name = dup_or_null(name != NULL ? name : "");
	if (c->name == NULL)
		goto fail;
	memcpy(c->token_hash, token_hash, 32);
	memcpy(c->secret, secret, strlen(secret) + 1);
	c->created_at = c->updated_at = util_wall_ms();
	if (vec_push(&st.clients, NULL) != 0)	/* room for the insert */
		goto fail;
	st.clients.n--;
	if (client_record(c) < 0)
		goto fail;
	client_insert(c);
	return c;
fail:
	if (errno == 0)
		errno = ENOMEM;
	client_free(c);
	return NULL;
}

int
store_client_id_held(const char *id, size_t len, int64_t now)
{
	size_t i;

	for (i = 0; i < st.events.n; i++) {
		const struct event *ev = st.events.v[i];

		if (util_span_eq(id, len, ev->client_id))
			return 1;
	}
	for (i = 0; i < IDEM_BUCKETS; i++) {
		const struct idem *k;

		for (k = idem_tab[i]; k != NULL; k = k->next)
			if (now - k->at < STORE_IDEM_MS &&
			    util_span_eq(id, len, k->client))
				return 1;
	}
	return 0;
}

int
store_client_set_token(struct client *c, const uint8_t token_hash[32])
{
	struct client tmp = *c;

	memcpy(tmp.token_hash, token_hash, 32);
	tmp.updated_at = util_wall_ms();
	if (client_record(&tmp) < 0)
		return -1;
	memcpy(c->token_hash, token_hash, 32);
	c->updated_at = tmp.updated_at;
	return 0;
}

/* ---- endpoints ---- */

struct endpoint *
store_endpoint_find(uint64_t id)
{
	return vec_find(&st.endpoints, id);
}

size_t
store_endpoint_count(void)
{
	return st.endpoints.n;
}

struct endpoint *
store_endpoint_at(size_t i)
{
	return i < st.endpoints.n ? st.endpoints.v[i] : NULL;
}

size_t
store_endpoint_after(uint64_t after)
{
	return vec_after(&st.endpoints, after);
}

static off_t
endpoint_record(const struct endpoint *e)
{
	struct buf *b;
	size_t i;

	rec_begin("endpoint");
	rec_id("id", STORE_EP, e->id);
	b = &st.rec;
	rec_str("client", e->client->id);
	rec_str("url", e->url);
	rec_str("method", e->method_get ? "GET" : "POST");
	buf_puts(b, ",\"events\":[");
	for (i = 0; i < e->nevents; i++) {
		if (i > 0)
			buf_puts(b, ",");
		json_put_cstr(b, e->events[i]);
	}
	buf_puts(b, "]");
	rec_json("headers", e->headers, e->headers != NULL ?
	    strlen(e->headers) : 0);
	rec_str("description", e->description);
	rec_str("secret", e->secret);
	rec_str("prev_secret", e->prev_secret);
	rec_num("prev_until", e->prev_until);
	buf_puts(b, e->enabled ? ",\"enabled\":true" : ",\"enabled\":false");
	rec_num("created", e->created_at);
	rec_num("updated", e->updated_at);
	return rec_write(&st.reg);
}

static void
endpoint_free_fields(struct endpoint *e)
{
	size_t i;

	free(e->url);
	for (i = 0; i < e->nevents; i++)
		free(e->events[i]);
	free(e->events);
	free(e->headers);
	free(e->description);
	e->url = e->headers = e->description = NULL;
	e->events = NULL;
	e->nevents = 0;
}

/* Deep-copy the mutable fields of src into dst. 0 or -1 (dst left with what
 * was copied; free it with endpoint_free_fields). */
static int
endpoint_copy_fields(struct endpoint *dst, const struct endpoint *src)
{
	size_t i;

	dst->url = dup_or_null(src->url);
	dst->headers = dup_or_null(src->headers);
	dst->description = dup_or_null(src->description);
	dst->events = calloc(src->nevents ? src->nevents : 1, sizeof(char *));
	if (dst->url == NULL || dst->events == NULL ||
	    (src->headers != NULL && dst->headers == NULL) ||
	    (src->description != NULL && dst->description == NULL))
		return -1;
	for (i = 0; i < src->nevents; i++) {
		dst->events[i] = dup_or_null(src->events[i]);
		if (dst->events[i] == NULL)
			return -1;
		dst->nevents = i + 1;
	}
	dst->method_get = src->method_get;
	dst->enabled = src->enabled;
	return 0;
}

struct endpoint *
store_endpoint_create(const struct endpoint *tmpl)
{
	struct endpoint *e = calloc(1, sizeof(*e));

	if (e == NULL)
		goto fail;
	if (endpoint_copy_fields(e, tmpl) != 0 ||
	    vec_push(&st.endpoints, NULL) != 0) {
		errno = ENOMEM;
		goto fail;
	}
	st.endpoints.n--;
	e->id = new_id();
	e->client = tmpl->client;
	memcpy(e->secret, tmpl->secret, sizeof(e->secret));
	e->secret[sizeof(e->secret) - 1] = '\0';
	e->created_at = e->updated_at = util_wall_ms();
	if (endpoint_record(e) < 0)
		goto fail;
	vec_push(&st.endpoints, e);	/* ids grow: the array stays sorted */
	return e;
fail:
	if (e != NULL) {
		endpoint_free_fields(e);
		free(e);
	}
	return NULL;
}

int
store_endpoint_update(struct endpoint *e, const struct endpoint *tmpl)
{
	struct endpoint n = *e;
	int was_enabled = e->enabled;

	if (endpoint_copy_fields(&n, tmpl) != 0) {
		endpoint_free_fields(&n);
		errno = ENOMEM;
		return -1;
	}
	n.updated_at = util_wall_ms();
	if (endpoint_record(&n) < 0) {
		endpoint_free_fields(&n);
		return -1;
	}
	endpoint_free_fields(e);
	*e = n;
	if (!was_enabled && e->enabled)
		e->failing_since = 0;
	return 0;
}

/* End every pending delivery of endpoint e (or, with e NULL, of client c)
 * as failed with error. */
static void
fail_pending_of(const struct endpoint *e, const struct client *c,
    const char *error)
{
	int64_t now = util_wall_ms();
	size_t i;

	for (i = 0; i < st.deliveries.n; i++) {
		struct delivery *d = st.deliveries.v[i];

		if (d->status != STORE_PENDING)
			continue;
		if (e != NULL ? d->endpoint == e : d->event->client == c)
			store_delivery_fail(d, error, now);
	}
}

static int
endpoint_remove(struct endpoint *e, const char *why)
{
	size_t i;

	fail_pending_of(e, NULL, why);
	for (i = 0; i < st.deliveries.n; i++) {
		struct delivery *d = st.deliveries.v[i];

		if (d->endpoint == e)
			d->endpoint = NULL;
	}
	i = vec_lower(&st.endpoints, e->id);
	vec_remove(&st.endpoints, i);
	endpoint_free_fields(e);
	free(e);
	return 0;
}

int
store_endpoint_delete(struct endpoint *e)
{
	rec_begin("endpoint-");
	rec_id("id", STORE_EP, e->id);
	if (rec_write(&st.reg) < 0)
		return -1;
	return endpoint_remove(e, "endpoint deleted");
}

int
store_endpoint_disable(struct endpoint *e, const char *reason)
{
	struct endpoint n = *e;

	n.enabled = 0;
	n.updated_at = util_wall_ms();
	if (endpoint_record(&n) < 0)
		return -1;
	e->enabled = 0;
	e->updated_at = n.updated_at;
	if (reason != NULL)
		fail_pending_of(e, NULL, reason);
	return 0;
}

/* Set a rotation on a copy: the new secret, the old one kept as previous
 * for STORE_ROTATE_MS. 0, or -1 (EINVAL) when the new one does not fit. */
static int
secret_rotate(char secret[SIGN_SECRET_MAX], char prev[SIGN_SECRET_MAX],
    int64_t *prev_until, const char *new_secret, int64_t now)
{
	if (strlen(new_secret) >= SIGN_SECRET_MAX) {
		errno = EINVAL;
		return -1;
	}
	memcpy(prev, secret, SIGN_SECRET_MAX);
	memcpy(secret, new_secret, strlen(new_secret) + 1);
	*prev_until = now + STORE_ROTATE_MS;
	return 0;
}

int
store_client_rotate(struct client *c, const char *secret, int64_t now)
{
	struct client n = *c;

	if (secret_rotate(n.secret, n.prev_secret, &n.prev_until, secret,
	    now) != 0)
		return -1;
	n.updated_at = now;
	if (client_record(&n) < 0)
		return -1;
	*c = n;		/* the same name pointer: a shallow copy is whole */
	return 0;
}

int
store_endpoint_rotate(struct endpoint *e, const char *secret, int64_t now)
{
	struct endpoint n = *e;

	if (secret_rotate(n.secret, n.prev_secret, &n.prev_until, secret,
	    now) != 0)
		return -1;
	n.updated_at = now;
	if (endpoint_record(&n) < 0)
		return -1;
	memcpy(e->prev_secret, n.prev_secret, sizeof(e->prev_secret));
	memcpy(e->secret, n.secret, sizeof(e->secret));
	e->prev_until = n.prev_until;
	e->updated_at = now;
	return 0;
}

void
store_endpoint_note(struct endpoint *e, int ok, int64_t now)
{
	if (ok)
		e->failing_since = 0;
	else if (e->failing_since == 0)
		e->failing_since = now;
}

int
store_endpoint_matches(const struct endpoint *e, const char *type, size_t len)
{
	size_t i;

	for (i = 0; i < e->nevents; i++) {
		const char *f = e->events[i];
		size_t fl = strlen(f);

		if (fl > 0 && f[fl - 1] == '*') {
			if (len >= fl - 1 && memcmp(type, f, fl - 1) == 0)
				return 1;
		} else if (util_span_eq(type, len, f))
			return 1;
	}
	return 0;
}

int
store_client_delete(struct client *c)
{
	size_t i;

	rec_begin("client-");
	rec_str("id", c->id);
	if (rec_write(&st.reg) < 0)
		return -1;
	fail_pending_of(NULL, c, "client deleted");
	for (i = st.endpoints.n; i-- > 0;) {
		struct endpoint *e = st.endpoints.v[i];

		if (e->client == c)
			endpoint_remove(e, "client deleted");
	}
	for (i = 0; i < st.events.n; i++) {
		struct event *ev = st.events.v[i];

		if (ev->client == c)
			ev->client = NULL;
	}
	i = client_lower(c->id, strlen(c->id));
	vec_remove(&st.clients, i);
	client_free(c);
	return 0;
}

/* ---- events and deliveries ---- */

struct event *
store_event_find(uint64_t id)
{
	return vec_find(&st.events, id);
}

size_t
store_event_count(void)
{
	return st.events.n;
}

struct event *
store_event_at(size_t i)
{
	return i < st.events.n ? st.events.v[i] : NULL;
}

size_t
store_event_after(uint64_t after)
{
	return vec_after(&st.events, after);
}

struct delivery *
store_delivery_find(uint64_t id)
{
	return vec_find(&st.deliveries, id);
}

size_t
store_delivery_count(void)
{
	return st.deliveries.n;
}

struct delivery *
store_delivery_at(size_t i)
{
	return i < st.deliveries.n ? st.deliveries.v[i] : NULL;
}

size_t
store_delivery_after(uint64_t after)
{
	return vec_after(&st.deliveries, after);
}

size_t
store_pending_count(void)
{
	return st.pending;
}

static void
event_free(struct event *ev)
{
	struct delivery *d, *next;

	for (d = ev->deliveries; d != NULL; d = next) {
		next = d->next_in_event;
		free(d->url);
		free(d);
	}
	free(ev->data);
	free(ev);
}

/*
 * A new event with its client id and type in the same allocation: a pending
 * delivery's memory is mostly its event's, and an inline 65-byte id plus a
 * separate type made a third of it (the goal is <= 256 bytes per pending
 * delivery beyond the payload). NULL when out of memory.
 */
static struct event *
event_alloc(const char *client_id, const char *type, size_t type_len)
{
	size_t cl = strlen(client_id);
	struct event *ev = calloc(1, sizeof(*ev) + cl + 1 + type_len + 1);

	if (ev == NULL)
		return NULL;
	ev->client_id = ev->strs;
	memcpy(ev->client_id, client_id, cl + 1);
	ev->type = ev->strs + cl + 1;
	memcpy(ev->type, type, type_len);
	ev->type[type_len] = '\0';
	return ev;
}

/* A delivery left pending: the event's payload may go once none remains. */
static void
delivery_settled(struct delivery *d)
{
	struct event *ev = d->event;

	st.pending--;
	if (--ev->pending == 0) {
		free(ev->data);
		ev->data = NULL;
	}
}

static struct delivery *
delivery_new(struct event *ev, struct endpoint *e, const char *url)
{
	struct delivery *d = calloc(1, sizeof(*d));

	if (d == NULL)
		return NULL;
	if (url != NULL && (d->url = dup_or_null(url)) == NULL) {
		free(d);
		return NULL;
	}
	d->id = new_id();
	d->event = ev;
	d->endpoint = e;
	d->created_at = d->updated_at = ev->created_at;
	d->next_at = ev->created_at;
	d->last_off = -1;
	return d;
}

/* Link a new delivery into its event and the indexes. */
static int
delivery_link(struct delivery *d)
{
	struct event *ev = d->event;
	struct delivery **tail = &ev->deliveries;

	if (vec_push(&st.deliveries, d) != 0)
		return -1;
	while (*tail != NULL)
		tail = &(*tail)->next_in_event;
	*tail = d;
	ev->ndeliveries++;
	if (d->status == STORE_PENDING) {
		ev->pending++;
		st.pending++;
	}
	return 0;
}

struct event *
store_event_create(struct client *c, const char *type, size_t type_len,
    const char *data, size_t data_len, struct endpoint **eps, size_t neps,
    const char *oneoff_url, const char *idem, size_t idem_len, int64_t now)
{
	struct event *ev = event_alloc(c->id, type, type_len);
	struct delivery *d, *list = NULL, **tail = &list;
	size_t i, nd = neps + (oneoff_url != NULL);
	struct buf *b;
	off_t off;

	(void)idem;
	(void)idem_len;
	if (ev == NULL)
		goto nomem;
	ev->id = new_id();
	ev->client = c;
	ev->created_at = now;
	for (i = 0; i < nd; i++) {
		d = delivery_new(ev, i < neps ? eps[i] : NULL,
		    i < neps ? NULL : oneoff_url);
		if (d == NULL)
			goto nomem;
		*tail = d;
		tail = &d->next_in_event;
	}
	if (st.deliveries.cap - st.deliveries.n < nd) {
		size_t cap = (st.deliveries.n + nd) * 2;
		void **v = realloc(st.deliveries.v, cap * sizeof(void *));

		if (v == NULL)
			goto nomem;
		st.deliveries.v = v;
		st.deliveries.cap = cap;
	}
	if (vec_push(&st.events, NULL) != 0)
		goto nomem;
	st.events.n--;
	if (nd > 0 && (ev->data = util_strndup(data, data_len)) == NULL)
		goto nomem;
	ev->data_len = data_len;

	b = rec_begin("event");
	rec_id("id", STORE_EVT, ev->id);
	rec_str("client", c->id);
	buf_puts(b, ",\"type\":");
	json_put_str(b, type, type_len);
	rec_num("at", now);
	buf_puts(b, ",\"dlv\":[");
	for (d = list; d != NULL; d = d->next_in_event) {
		char x[STORE_XID_MAX];

		store_fmt_id(STORE_DLV, d->id, x);
		buf_printf(b, "%s[\"%s\",", d == list ? "" : ",", x);
		if (d->endpoint != NULL) {
			store_fmt_id(STORE_EP, d->endpoint->id, x);
			buf_printf(b, "\"%s\"]", x);
		} else {
			buf_puts(b, "null,");
			json_put_cstr(b, d->url);
			buf_puts(b, "]");
		}
	}
	buf_puts(b, "]");
	/* The payload is kept as a string, not embedded: its bytes must go
	 * to receivers exactly as sent, so it cannot be re-encoded, and
	 * embedded it would sit one level deeper than the producer nested it
	 * (a 64-deep payload would make the record unreadable). */
	buf_puts(b, ",\"data_s\":");
	json_put_str(b, data, data_len);
	if (st.nunannounced == st.capunannounced) {
		size_t cap = st.capunannounced ? st.capunannounced * 2 : 64;
		struct announce *a = realloc(st.unannounced, cap * sizeof(*a));

		if (a == NULL)
			goto nomem;
		st.unannounced = a;
		st.capunannounced = cap;
	}
	off = rec_write(&st.jrn);
	if (off < 0)
		goto fail;
	ev->off = off;
	vec_push(&st.events, ev);
	while (list != NULL) {
		d = list;
		list = d->next_in_event;
		d->next_in_event = NULL;
		delivery_link(d);
	}
	/* The engine hears of the deliveries once the event is durable. */
	st.unannounced[st.nunannounced].ev = ev;
	st.unannounced[st.nunannounced++].seq = st.written_seq;
	return ev;
nomem:
	errno = ENOMEM;
fail:
	if (ev != NULL) {
		int e = errno;

		ev->deliveries = list;
		event_free(ev);
		errno = e;
	}
	return NULL;
}

/* Find a value in a record by key; -1 when absent. */
static int
rget(const char *s, const struct json_tok *t, const char *key)
{
	return json_get(s, t, 0, key);
}

const char *
store_event_data(struct event *ev, struct buf *b, size_t *len)
{
	char *line = NULL;
	size_t cap = 4096, n = 0;
	int ntok, v;
	const char *ret = NULL;
	struct json_tok *toks = NULL;

	if (ev->data != NULL) {
		*len = ev->data_len;
		return ev->data;
	}
	/* Read the record back: up to its newline. */
	for (;;) {
		char *p = realloc(line, cap);
		ssize_t r;

		if (p == NULL)
			goto out;
		line = p;
		r = pread(st.jrn.fd, line + n, cap - n, ev->off + (off_t)n);
		if (r <= 0)
			goto out;
		n += (size_t)r;
		if (memchr(line + n - (size_t)r, '\n', (size_t)r) != NULL)
			break;
		if (n == cap) {
			if (cap >= STORE_LINE_MAX)
				goto out;
			cap *= 2;
		}
	}
	n = (size_t)((char *)memchr(line, '\n', n) - line);
	if (n < 10)
		goto out;
	ntok = json_parse(line + 9, n - 9, NULL, 0);
	if (ntok <= 0 || (toks = malloc((size_t)ntok * sizeof(*toks))) == NULL)
		goto out;
	json_parse(line + 9, n - 9, toks, (size_t)ntok);
	buf_reset(b);
	if ((v = rget(line + 9, toks, "data")) >= 0) {
		if (buf_append(b, line + 9 + toks[v].start, toks[v].len) != 0)
			goto out;
	} else if ((v = rget(line + 9, toks, "data_s")) >= 0) {
		if (json_str_buf(line + 9, &toks[v], b) != 0)
			goto out;
	} else
		goto out;
	*len = b->len;
	ret = b->data;
	/* Keep it while deliveries still need it: held at most once. */
	if (ev->pending > 0 && (ev->data = util_strndup(b->data, b->len)))
		ev->data_len = b->len;
out:
	free(toks);
	free(line);
	return ret;
}

/* Write an attempt record for d; the outcome in a. */
static off_t
attempt_record(const struct delivery *d, const struct store_attempt *a,
    int attempts, int64_t next_at)
{
	static const char *const names[] = { "pending", "delivered", "failed" };
	struct buf *b = rec_begin("attempt");

	rec_id("d", STORE_DLV, d->id);
	rec_num("prev", (int64_t)d->last_off);
	rec_num("n", attempts);
	rec_num("at", a->at);
	if (a->status > 0)
		rec_num("status", a->status);
	else
		buf_puts(b, ",\"status\":null");
	rec_str("error", a->error);
	rec_num("ms", a->ms);
	buf_puts(b, ",\"body\":");
	json_put_str(b, a->body != NULL ? a->body : "", a->body_len);
	rec_str("state", names[a->new_status]);
	rec_num("next", next_at);
	if (a->ack != NULL && a->ack_len > 0)
		rec_json("ack", a->ack, a->ack_len);
	return rec_write(&st.jrn);
}

static void
apply_state(struct delivery *d, int status, int64_t next_at, int64_t at)
{
	int was = d->status;

	d->status = (uint8_t)status;
	d->next_at = status == STORE_PENDING ? next_at : 0;
	d->updated_at = at;
	if (was == STORE_PENDING && status != STORE_PENDING)
		delivery_settled(d);
	else if (was != STORE_PENDING && status == STORE_PENDING) {
		st.pending++;
		d->event->pending++;
	}
}

int
store_delivery_attempted(struct delivery *d, const struct store_attempt *a)
{
	int n = d->attempts < 255 ? d->attempts + 1 : 255;
	off_t off = attempt_record(d, a, n, a->next_at);

	/* The outcome stands in memory even when it could not be written (a
	 * full disk): the receiver has it, and at worst a restart repeats the
	 * attempt, which at-least-once delivery allows. */
	d->attempts = (uint8_t)n;
	if (off >= 0)
		d->last_off = off;
	apply_state(d, a->new_status, a->next_at, a->at + a->ms);
	return off >= 0 ? 0 : -1;
}

int
store_delivery_fail(struct delivery *d, const char *error, int64_t now)
{
	struct store_attempt a = { .at = now, .error = error,
	    .new_status = STORE_FAILED };
	off_t off;

	if (d->status != STORE_PENDING)
		return 0;
	off = attempt_record(d, &a, d->attempts, 0);
	if (off >= 0)
		d->last_off = off;
	if (store_on_fail != NULL)
		store_on_fail(d);
	apply_state(d, STORE_FAILED, 0, now);
	return off >= 0 ? 0 : -1;
}

int
store_delivery_requeue(struct delivery *d, int64_t next_at)
{
	if (d->event->dropping) {
		/* Past retention and being compacted away. */
		errno = ENOENT;
		return -1;
	}
	rec_begin("requeue");
	rec_id("d", STORE_DLV, d->id);
	rec_num("next", next_at);
	if (rec_write(&st.jrn) < 0)
		return -1;
	apply_state(d, STORE_PENDING, next_at, util_wall_ms());
	if (store_on_due != NULL)
		store_on_due(d);
	return 0;
}

void
store_foreach_pending(void (*fn)(struct delivery *d, void *arg), void *arg)
{
	size_t i;

	for (i = 0; i < st.deliveries.n; i++) {
		struct delivery *d = st.deliveries.v[i];

		if (d->status == STORE_PENDING)
			fn(d, arg);
	}
}

/* Read the record at off into b (without its newline and checksum prefix)
 * and parse it into toks. Returns the token count or -1. */
static int
read_record(off_t off, struct buf *b, struct json_tok **toks, size_t *ntoks)
{
	size_t start = b->len, n = 0;
	int r;

	for (;;) {
		ssize_t got;

		if (buf_reserve(b, 4096) != 0)
			return -1;
		got = pread(st.jrn.fd, b->data + b->len, b->cap - b->len - 1,
		    off + (off_t)n);
		if (got <= 0)
			return -1;
		b->len += (size_t)got;
		n += (size_t)got;
		if (memchr(b->data + b->len - (size_t)got, '\n',
		    (size_t)got) != NULL)
			break;
		if (n > STORE_LINE_MAX)
			return -1;
	}
	n = (size_t)((char *)memchr(b->data + start, '\n', n) -
	    (b->data + start));
	b->len = start + n;
	b->data[b->len] = '\0';
	if (n < 10)
		return -1;
	r = *ntoks > 0 ? json_parse(b->data + start + 9, n - 9, *toks, *ntoks)
	    : JSON_ERR_NOMEM;
	if (r == JSON_ERR_NOMEM) {
		int need = json_parse(b->data + start + 9, n - 9, NULL, 0);
		struct json_tok *t;

		if (need <= 0 || (t = realloc(*toks, (size_t)need *
		    sizeof(*t))) == NULL)
			return -1;
		*toks = t;
		*ntoks = (size_t)need;
		r = json_parse(b->data + start + 9, n - 9, *toks, *ntoks);
	}
	return r;
}

static void
put_member(struct buf *out, const char *s, const struct json_tok *t,
    const char *key, const char *name)
{
	int v = rget(s, t, key);

	buf_printf(out, "\"%s\":", name);
	if (v < 0)
		buf_puts(out, "null");
	else if (t[v].type == JSON_STRING)
		buf_append(out, s + t[v].start - 1, t[v].len + 2);
	else
		buf_append(out, s + t[v].start, t[v].len);
}

/* Append one attempt record as the API's attempt object. */
static void
put_attempt(struct buf *out, const char *s, const struct json_tok *t,
    int with_body)
{
	int v = rget(s, t, "at");
	char tm[UTIL_TIME_MAX];
	uint64_t at = 0;

	if (v >= 0)
		util_parse_u64(s + t[v].start, t[v].len, UINT64_MAX, &at);
	buf_printf(out, "{\"at\":\"%s\",", util_fmt_time((int64_t)at, tm));
	put_member(out, s, t, "status", "status");
	buf_puts(out, ",");
	put_member(out, s, t, "error", "error");
	buf_puts(out, ",");
	put_member(out, s, t, "ms", "ms");
	if (with_body) {
		buf_puts(out, ",");
		put_member(out, s, t, "body", "body");
	}
	buf_puts(out, "}");
}

/* The ack of an attempt record as JSON text: the object, or one kept as a
 * string (rec_json) re-encoded, or null. */
static void
put_ack(struct buf *out, const char *s, const struct json_tok *t)
{
	struct buf tmp = {0};
	int v = rget(s, t, "ack");

	if (v >= 0 && t[v].type != JSON_NULL) {
		buf_append(out, s + t[v].start, t[v].len);
		return;
	}
	v = rget(s, t, "ack_s");
	if (v < 0 || t[v].type != JSON_STRING ||
	    json_str_buf(s, &t[v], &tmp) != 0 ||
	    json_put_json(out, tmp.data != NULL ? tmp.data : "", tmp.len,
	    JSON_MAX_DEPTH) != 0)
		buf_puts(out, "null");
	buf_free(&tmp);
}

int
store_delivery_history(const struct delivery *d, struct buf *last,
    struct buf *ack, struct buf *log)
{
	struct buf rb = {0};
	struct json_tok *toks = NULL;
	size_t ntoks = 0, nrec = 0, i;
	off_t off = d->last_off, *offs = NULL;
	int r = -1;

	if (off < 0) {
		buf_puts(last, "null");
		buf_puts(ack, "null");
		return 0;
	}
	/* Walk the chain back, newest first. */
	while (off >= 0) {
		int nt, v;
		uint64_t prev;
		off_t *no;

		buf_reset(&rb);
		nt = read_record(off, &rb, &toks, &ntoks);
		if (nt <= 0)
			goto out;
		if (nrec == 0) {
			put_attempt(last, rb.data + 9, toks, 0);
			put_ack(ack, rb.data + 9, toks);
		}
		no = realloc(offs, (nrec + 1) * sizeof(*offs));
		if (no == NULL)
			goto out;
		offs = no;
		offs[nrec++] = off;
		if (log == NULL || nrec >= store_max_log)
			break;
		v = rget(rb.data + 9, toks, "prev");
		if (v < 0 || rb.data[9 + toks[v].start] == '-' ||
		    util_parse_u64(rb.data + 9 + toks[v].start, toks[v].len,
		    (uint64_t)off - 1, &prev) != 0)
			break;
		off = (off_t)prev;
	}
	for (i = nrec; log != NULL && i-- > 0;) {
		buf_reset(&rb);
		if (read_record(offs[i], &rb, &toks, &ntoks) <= 0)
			goto out;
		if (i + 1 < nrec)
			buf_puts(log, ",");
		put_attempt(log, rb.data + 9, toks, 1);
	}
	r = 0;
out:
	free(offs);
	free(toks);
	buf_free(&rb);
	return r;
}

/* ---- idempotency keys ---- */

static uint32_t
idem_hash(const char *client, const char *key, size_t len)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; client[i] != '\0'; i++)
		h = (h ^ (unsigned char)client[i]) * 16777619u;
	h = (h ^ 0xff) * 16777619u;
	for (i = 0; i < len; i++)
		h = (h ^ (unsigned char)key[i]) * 16777619u;
	return h % IDEM_BUCKETS;
}

static struct idem *
idem_lookup(const char *client, const char *key, size_t len, int64_t now)
{
	struct idem *i;

	for (i = idem_tab[idem_hash(client, key, len)]; i != NULL; i = i->next)
		if (now - i->at < STORE_IDEM_MS && strcmp(i->client, client) ==
		    0 && util_span_eq(key, len, i->key))
			return i;
	return NULL;
}

static int
idem_add(const char *client, const char *key, size_t len,
    const uint8_t *req, int status, const char *body, int64_t at)
{
	struct idem *i = calloc(1, sizeof(*i));
	uint32_t h = idem_hash(client, key, len);

	if (i == NULL || (i->client = dup_or_null(client)) == NULL ||
	    (i->key = util_strndup(key, len)) == NULL ||
	    (i->body = dup_or_null(body)) == NULL) {
		if (i != NULL) {
			free(i->client);
			free(i->key);
			free(i);
		}
		return -1;
	}
	i->status = status;
	i->at = at;
	if (req != NULL) {
		memcpy(i->req, req, 32);
		i->has_req = 1;
	}
	i->next = idem_tab[h];
	idem_tab[h] = i;
	return 0;
}

int
store_idem_find(const struct client *c, const char *key, size_t len,
    const uint8_t req[32], int64_t now, int *status, const char **body)
{
	struct idem *i = idem_lookup(c->id, key, len, now);

	if (i == NULL)
		return -1;
	if (i->has_req && !sign_equal(i->req, req, 32))
		return 1;
	*status = i->status;
	*body = i->body;
	return 0;
}

/* The members of an idem record after "t" (store_idem_put, compaction). */
static void
idem_members(const char *client, const char *key, size_t len,
    const uint8_t *req, int status, const char *body, int64_t at)
{
	char hex[65];

	rec_str("client", client);
	buf_puts(&st.rec, ",\"key\":");
	json_put_str(&st.rec, key, len);
	rec_num("at", at);
	rec_num("status", status);
	rec_str("body", body);
	if (req != NULL) {
		hex32(req, hex);
		rec_str("req_sha256", hex);
	}
}

int
store_idem_put(const struct client *c, const char *key, size_t len,
    const uint8_t req[32], int status, const char *body, int64_t now)
{
	rec_begin("idem");
	idem_members(c->id, key, len, req, status, body, now);
	if (rec_write(&st.jrn) < 0)
		return -1;
	return idem_add(c->id, key, len, req, status, body, now);
}

/* ---- replay ---- */

struct replay {
	const char *file;
	size_t line;
	const char *s;		/* the JSON text of the record */
	const struct json_tok *t;
	off_t off;
	char *err;
	size_t errsz;
	int journal;		/* which file: 0 registry, 1 journal */
	size_t dep;		/* checking: the line this record depends on */
};

static int
replay_fail(struct replay *r, const char *why)
{
	snprintf(r->err, r->errsz, "%s:%zu: %s", r->file, r->line, why);
	errno = EINVAL;
	return -1;
}

/*
 * Checking: the line of the unreadable record that the readable record at
 * r->line depends on (an endpoint on its client, an attempt on its event),
 * or 0 when none came before it in this file. The one whose text still
 * holds needle (the quoted id) when there is one, else the nearest.
 */
static size_t
check_depends(struct replay *r, const char *needle)
{
	/* Ids come before an event's payload: the head of a line is enough,
	 * and a damaged line of megabytes is not read whole. */
	char head[STORE_CHECK_HEAD + 1];
	size_t i, k, nearest = 0, nl = strlen(needle);

	for (i = st.nbad; i-- > 0;) {
		const struct store_bad *b = &st.bad[i];
		ssize_t got;

		if (b->journal != r->journal || b->dep != 0)
			continue;
		if (nearest == 0)
			nearest = b->line;
		got = pread(st.check_fd, head, b->len < STORE_CHECK_HEAD ?
		    b->len : STORE_CHECK_HEAD, b->off);
		for (k = 0; got > 0 && k + nl <= (size_t)got; k++)
			if (memcmp(head + k, needle, nl) == 0)
				return b->line;
	}
	return nearest;
}

/* Fail the record at r as depending on an unreadable one when checking
 * and there is one (the record itself reads fine), else with why. */
static int
replay_fail_dep(struct replay *r, const char *needle, const char *why)
{
	char msg[64];

	if (st.checking && (r->dep = check_depends(r, needle)) != 0) {
		snprintf(msg, sizeof(msg), "depends on line %zu", r->dep);
		return replay_fail(r, msg);
	}
	return replay_fail(r, why);
}

/* Note endpoint id as deleted by the registry. 0 or -1 out of memory. */
static int
gone_add(uint64_t id)
{
	if (st.ngone == st.capgone) {
		size_t cap = st.capgone ? st.capgone * 2 : 16;
		uint64_t *g = realloc(st.gone, cap * sizeof(*g));

		if (g == NULL)
			return -1;
		st.gone = g;
		st.capgone = cap;
	}
	st.gone[st.ngone++] = id;
	return 0;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* 1 when the registry deleted endpoint id (st.gone sorted). */
static int
gone_has(uint64_t id)
{
	return st.ngone > 0 && bsearch(&id, st.gone, st.ngone,
	    sizeof(*st.gone), cmp_u64) != NULL;
}

static int
get_num(struct replay *r, const char *key, int64_t *out)
{
	int v = rget(r->s, r->t, key);
	uint64_t u;
	const char *p;
	size_t n;

	if (v < 0 || r->t[v].type != JSON_NUMBER)
		return -1;
	p = r->s + r->t[v].start;
	n = r->t[v].len;
	if (n > 0 && p[0] == '-') {
		if (util_parse_u64(p + 1, n - 1, INT64_MAX, &u) != 0)
			return -1;
		*out = -(int64_t)u;
		return 0;
	}
	if (util_parse_u64(p, n, INT64_MAX, &u) != 0)
		return -1;
	*out = (int64_t)u;
	return 0;
}

/* A string member into out (NUL-terminated); -1 when absent or too long. */
static int
get_str(struct replay *r, const char *key, char *out, size_t outsz)
{
	int v = rget(r->s, r->t, key);

	if (v < 0 || r->t[v].type != JSON_STRING)
		return -1;
	return json_str(r->s, &r->t[v], out, outsz) < 0 ? -1 : 0;
}

/* A string member as a new heap string, NULL stored for JSON null. */
static int
get_dup(struct replay *r, const char *key, char **out)
{
	int v = rget(r->s, r->t, key);
	struct buf b = {0};

	*out = NULL;
	if (v < 0)
		return -1;
	if (r->t[v].type == JSON_NULL)
		return 0;
	if (r->t[v].type != JSON_STRING || json_str_buf(r->s, &r->t[v], &b))
		goto fail;
	/* A buf starts at 256 bytes; replay keeps one of these strings for
	 * every event (its type), so keep only the string's own length. */
	*out = util_strndup(b.data != NULL ? b.data : "", b.len);
	buf_free(&b);
	return *out != NULL ? 0 : -1;
fail:
	buf_free(&b);
	return -1;
}

static int
get_xid(struct replay *r, const char *key, enum store_kind k, uint64_t *id)
{
	int v = rget(r->s, r->t, key);

	if (v < 0 || r->t[v].type != JSON_STRING)
		return -1;
	return store_parse_id(k, r->s + r->t[v].start, r->t[v].len, id);
}

static int
replay_client(struct replay *r)
{
	char id[UTIL_ID_MAX + 1], hex[65];
	struct client *c, *old;
	int64_t v;

	if (get_str(r, "id", id, sizeof(id)) != 0 || id[0] == '\0')
		return replay_fail(r, "client record without id");
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return replay_fail(r, "out of memory");
	memcpy(c->id, id, sizeof(id));
	if (get_dup(r, "name", &c->name) != 0 || c->name == NULL ||
	    get_str(r, "token_sha256", hex, sizeof(hex)) != 0 ||
	    unhex32(hex, strlen(hex), c->token_hash) != 0 ||
	    get_str(r, "secret", c->secret, sizeof(c->secret)) != 0) {
		client_free(c);
		return replay_fail(r, "bad client record");
	}
	/* Absent before client secrets could be rotated: then none. */
	if (get_str(r, "prev_secret", c->prev_secret,
	    sizeof(c->prev_secret)) != 0 || get_num(r, "prev_until", &v) != 0)
		c->prev_secret[0] = '\0';
	else
		c->prev_until = v;
	if (get_num(r, "created", &v) == 0)
		c->created_at = v;
	if (get_num(r, "updated", &v) == 0)
		c->updated_at = v;
	old = store_client_find(id, strlen(id));
	if (old != NULL) {
		/* A later record replaces the client's fields in place, so
		 * that endpoints keep pointing at it. */
		free(old->name);
		*old = *c;
		free(c);
		return 0;
	}
	if (client_insert(c) != 0) {
		client_free(c);
		return replay_fail(r, "out of memory");
	}
	return 0;
}

static int
replay_endpoint(struct replay *r)
{
	struct endpoint *e, *old;
	char cid[UTIL_ID_MAX + 1], m[8];
	int v, i;
	int64_t n;

	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return replay_fail(r, "out of memory");
	if (get_xid(r, "id", STORE_EP, &e->id) != 0 ||
	    get_str(r, "client", cid, sizeof(cid)) != 0)
		goto bad;
	if ((e->client = store_client_find(cid, strlen(cid))) == NULL) {
		char needle[UTIL_ID_MAX + 3];

		endpoint_free_fields(e);
		free(e);
		snprintf(needle, sizeof(needle), "\"%s\"", cid);
		return replay_fail_dep(r, needle, "bad endpoint record");
	}
	if (get_dup(r, "url", &e->url) != 0 || e->url == NULL ||
	    get_str(r, "method", m, sizeof(m)) != 0 ||
	    get_dup(r, "description", &e->description) != 0 ||
	    get_str(r, "secret", e->secret, sizeof(e->secret)) != 0 ||
	    get_str(r, "prev_secret", e->prev_secret,
	    sizeof(e->prev_secret)) != 0 ||
	    (v = rget(r->s, r->t, "events")) < 0 ||
	    r->t[v].type != JSON_ARRAY)
		goto bad;
	e->method_get = strcmp(m, "GET") == 0;
	e->events = calloc(r->t[v].size + 1, sizeof(char *));
	if (e->events == NULL)
		goto bad;
	for (i = v + 1; e->nevents < r->t[v].size; i = (int)r->t[i].next) {
		struct buf b = {0};

		if (r->t[i].type != JSON_STRING ||
		    json_str_buf(r->s, &r->t[i], &b) != 0 || b.data == NULL) {
			buf_free(&b);
			goto bad;
		}
		e->events[e->nevents++] = b.data;
	}
	v = rget(r->s, r->t, "headers");
	if (v >= 0 && r->t[v].type != JSON_NULL &&
	    (e->headers = util_strndup(r->s + r->t[v].start,
	    r->t[v].len)) == NULL)
		goto bad;
	if (v < 0 && rget(r->s, r->t, "headers_s") >= 0 &&
	    (get_dup(r, "headers_s", &e->headers) != 0 || e->headers == NULL))
		goto bad;
	v = rget(r->s, r->t, "enabled");
	e->enabled = v >= 0 && r->t[v].type == JSON_TRUE;
	if (get_num(r, "prev_until", &n) == 0)
		e->prev_until = n;
	if (get_num(r, "created", &n) == 0)
		e->created_at = n;
	if (get_num(r, "updated", &n) == 0)
		e->updated_at = n;
	seen_id(e->id);
	old = store_endpoint_find(e->id);
	if (old != NULL) {
		endpoint_free_fields(old);
		*old = *e;
		free(e);
		return 0;
	}
	if (st.endpoints.n > 0 && ((struct endpoint *)
	    st.endpoints.v[st.endpoints.n - 1])->id > e->id)
		goto bad;
	if (vec_push(&st.endpoints, e) != 0)
		goto bad;
	return 0;
bad:
	endpoint_free_fields(e);
	free(e);
	return replay_fail(r, "bad endpoint record");
}

static int
replay_registry(struct replay *r, const char *t, size_t tl)
{
	char id[UTIL_ID_MAX + 1];
	uint64_t x;

	if (util_span_eq(t, tl, "client"))
		return replay_client(r);
	if (util_span_eq(t, tl, "endpoint"))
		return replay_endpoint(r);
	if (util_span_eq(t, tl, "client-")) {
		struct client *c;
		size_t i;

		if (get_str(r, "id", id, sizeof(id)) != 0)
			return replay_fail(r, "bad client- record");
		c = store_client_find(id, strlen(id));
		if (c == NULL)
			return 0;
		for (i = st.endpoints.n; i-- > 0;) {
			struct endpoint *e = st.endpoints.v[i];

			if (e->client == c) {
				if (gone_add(e->id) != 0)
					return replay_fail(r, "out of memory");
				vec_remove(&st.endpoints, i);
				endpoint_free_fields(e);
				free(e);
			}
		}
		vec_remove(&st.clients, client_lower(id, strlen(id)));
		client_free(c);
		return 0;
	}
	if (util_span_eq(t, tl, "endpoint-")) {
		struct endpoint *e;

		if (get_xid(r, "id", STORE_EP, &x) != 0)
			return replay_fail(r, "bad endpoint- record");
		if (gone_add(x) != 0)
			return replay_fail(r, "out of memory");
		e = store_endpoint_find(x);
		if (e != NULL) {
			vec_remove(&st.endpoints, vec_lower(&st.endpoints, x));
			endpoint_free_fields(e);
			free(e);
		}
		return 0;
	}
	return replay_fail(r, "unknown record type");
}

/* Note d as left without endpoint eid, which the registry never deleted.
 * 0 or -1 out of memory. */
static int
orphan_add(struct delivery *d, uint64_t eid)
{
	if (st.norphans == st.caporphans) {
		size_t cap = st.caporphans ? st.caporphans * 2 : 16;
		struct store_orphan *o = realloc(st.orphans, cap * sizeof(*o));

		if (o == NULL)
			return -1;
		st.orphans = o;
		st.caporphans = cap;
	}
	st.orphans[st.norphans].d = d;
	st.orphans[st.norphans++].endpoint = eid;
	return 0;
}

/*
 * Contract §18: hookd check --fix moves an endpoint whose record (or whose
 * client's record) cannot be read, and the journal still names it. Its
 * deliveries that are not settled end failed now, saying why, rather than
 * staying pending for an endpoint that is not there. 0, or -1 when a record
 * cannot be written.
 */
static int
orphans_settle(void)
{
	char x[STORE_XID_MAX], why[160];
	int64_t now = util_wall_ms();
	size_t i;
	int ret = 0;

	for (i = 0; i < st.norphans; i++) {
		struct delivery *d = st.orphans[i].d;

		if (d->status == STORE_DELIVERED ||
		    (d->status == STORE_FAILED && d->last_off >= 0))
			continue;
		apply_state(d, STORE_PENDING, 0, d->updated_at);
		store_fmt_id(STORE_EP, st.orphans[i].endpoint, x);
		snprintf(why, sizeof(why), "endpoint %s is not in the registry "
		    "(hookd check --fix moved it to damaged-*.log)", x);
		if (store_delivery_fail(d, why, now) != 0)
			ret = -1;
	}
	free(st.orphans);
	st.orphans = NULL;
	st.norphans = st.caporphans = 0;
	return ret;
}

static int
replay_event(struct replay *r)
{
	struct event *ev;
	char cid[UTIL_ID_MAX + 1], *type = NULL;
	int v, i;
	uint32_t k;
	int64_t at;

	if (get_str(r, "client", cid, sizeof(cid)) != 0 ||
	    get_dup(r, "type", &type) != 0 || type == NULL) {
		free(type);
		return replay_fail(r, "bad event record");
	}
	ev = event_alloc(cid, type, strlen(type));
	free(type);
	if (ev == NULL)
		return replay_fail(r, "out of memory");
	if (get_xid(r, "id", STORE_EVT, &ev->id) != 0 ||
	    get_num(r, "at", &at) != 0 ||
	    (v = rget(r->s, r->t, "dlv")) < 0 || r->t[v].type != JSON_ARRAY ||
	    (st.events.n > 0 && ((struct event *)
	    st.events.v[st.events.n - 1])->id >= ev->id))
		goto bad;
	ev->client = store_client_find(ev->client_id, strlen(ev->client_id));
	ev->created_at = at;
	ev->off = r->off;
	seen_id(ev->id);
	for (i = v + 1, k = 0; k < r->t[v].size; k++, i = (int)r->t[i].next) {
		const struct json_tok *a = &r->t[i];
		struct delivery *d;
		uint64_t did, eid;

		if (a->type != JSON_ARRAY || a->size < 2 ||
		    r->t[i + 1].type != JSON_STRING ||
		    store_parse_id(STORE_DLV, r->s + r->t[i + 1].start,
		    r->t[i + 1].len, &did) != 0)
			goto bad;
		d = calloc(1, sizeof(*d));
		if (d == NULL)
			goto bad;
		d->id = did;
		d->event = ev;
		d->created_at = d->updated_at = d->next_at = at;
		d->last_off = -1;
		if (r->t[i + 2].type == JSON_STRING &&
		    store_parse_id(STORE_EP, r->s + r->t[i + 2].start,
		    r->t[i + 2].len, &eid) == 0) {
			d->endpoint = store_endpoint_find(eid);
			if (d->endpoint == NULL) {
				/* Deleted while the journal was not told:
				 * settle it now (open writes the record). */
				d->status = STORE_FAILED;
				d->next_at = 0;
				if (!st.checking && !gone_has(eid) &&
				    orphan_add(d, eid) != 0) {
					free(d);
					goto bad;
				}
			}
		} else if (a->size >= 3 && r->t[i + 3].type == JSON_STRING) {
			struct buf b = {0};

			if (json_str_buf(r->s, &r->t[i + 3], &b) != 0 ||
			    (d->url = util_strndup(b.data != NULL ? b.data :
			    "", b.len)) == NULL) {
				buf_free(&b);
				free(d);
				goto bad;
			}
			/* Its own length, not the buf's 256 bytes. */
			buf_free(&b);
		} else {
			free(d);
			goto bad;
		}
		seen_id(did);
		if ((st.deliveries.n > 0 && ((struct delivery *)
		    st.deliveries.v[st.deliveries.n - 1])->id >= did) ||
		    delivery_link(d) != 0) {
			free(d->url);
			free(d);
			goto bad;
		}
	}
	if (vec_push(&st.events, ev) != 0)
		goto bad;
	return 0;
bad:
	/* The start fails, but the caller still calls store_close(), which
	 * frees deliveries through their events: take the ones linked so far
	 * (the last in the index) back out and free the event with them. */
	st.deliveries.n -= ev->ndeliveries;
	st.pending -= ev->pending;
	event_free(ev);
	return replay_fail(r, "bad event record");
}

static int
replay_journal(struct replay *r, const char *t, size_t tl)
{
	struct delivery *d;
	uint64_t id;
	int64_t n, next, at;
	char state[16];

	if (util_span_eq(t, tl, "event"))
		return replay_event(r);
	if (util_span_eq(t, tl, "idem")) {
		char cid[UTIL_ID_MAX + 1], hex[65];
		char *key = NULL, *body = NULL;
		uint8_t req[32];
		int64_t status;
		int ok, has_req = 0;

		ok = get_str(r, "client", cid, sizeof(cid)) == 0 &&
		    get_dup(r, "key", &key) == 0 && key != NULL &&
		    get_dup(r, "body", &body) == 0 && body != NULL &&
		    get_num(r, "at", &at) == 0 &&
		    get_num(r, "status", &status) == 0;
		/* Without the hash (an older record) any request matches. */
		if (ok && rget(r->s, r->t, "req_sha256") >= 0)
			ok = has_req = get_str(r, "req_sha256", hex,
			    sizeof(hex)) == 0 && unhex32(hex, strlen(hex),
			    req) == 0;
		if (ok && util_wall_ms() - at < STORE_IDEM_MS)
			ok = idem_add(cid, key, strlen(key), has_req ? req :
			    NULL, (int)status, body, at) == 0;
		free(key);
		free(body);
		return ok ? 0 : replay_fail(r, "bad idem record");
	}
	if (get_xid(r, "d", STORE_DLV, &id) != 0)
		return replay_fail(r, "record without delivery id");
	d = store_delivery_find(id);
	if (d == NULL) {
		char x[STORE_XID_MAX], needle[STORE_XID_MAX + 2];

		store_fmt_id(STORE_DLV, id, x);
		snprintf(needle, sizeof(needle), "\"%s\"", x);
		return replay_fail_dep(r, needle,
		    "record of an unknown delivery");
	}
	if (util_span_eq(t, tl, "attempt")) {
		if (get_num(r, "n", &n) != 0 || get_num(r, "at", &at) != 0 ||
		    get_num(r, "next", &next) != 0 ||
		    get_str(r, "state", state, sizeof(state)) != 0)
			return replay_fail(r, "bad attempt record");
		d->attempts = (uint8_t)(n > 255 ? 255 : n);
		d->last_off = r->off;
		apply_state(d, strcmp(state, "pending") == 0 ? STORE_PENDING :
		    strcmp(state, "delivered") == 0 ? STORE_DELIVERED :
		    STORE_FAILED, next, at);
		return 0;
	}
	if (util_span_eq(t, tl, "requeue")) {
		if (get_num(r, "next", &next) != 0)
			return replay_fail(r, "bad requeue record");
		apply_state(d, STORE_PENDING, next, next);
		return 0;
	}
	return replay_fail(r, "unknown record type");
}

/*
 * Read a file of records and apply each. A last line that is incomplete or
 * fails its checksum is a torn write: it is cut off (notice). Anything wrong
 * before the last line is corruption and fails the start.
 */
/*
 * How much of journal record s[0..len) replay tokenizes. An event's payload
 * is the last member of its record (event_create writes it so) and is read
 * back only when a delivery needs it, while it is most of a journal's bytes:
 * with the checksum vouching for it, an event record is parsed up to it,
 * the comma before it turned into the closing brace (*fix says where, to be
 * put back). A raw `,"` cannot occur inside a JSON string, so the first
 * `,"data` is the member. Any other record is parsed whole.
 */
static size_t
replay_span(char *s, size_t len, char **fix)
{
	static const char ev[] = "{\"t\":\"event\",";
	char *p = s, *end = s + len;

	*fix = NULL;
	if (len < sizeof(ev) - 1 || memcmp(s, ev, sizeof(ev) - 1) != 0)
		return len;
	while ((p = memchr(p, ',', (size_t)(end - p))) != NULL) {
		if (end - p > 10 && memcmp(p, ",\"data", 6) == 0 &&
		    (memcmp(p + 6, "\":", 2) == 0 ||
		    memcmp(p + 6, "_s\":", 4) == 0)) {
			*p = '}';
			*fix = p;
			return (size_t)(p - s) + 1;
		}
		p++;
	}
	return len;
}

/* In check mode: note the line at r->off (len bytes) as bad, with the
 * reason replay_fail left in r->err. 0, or -1 out of memory. */
static int
check_note(struct replay *r, int journal, size_t len)
{
	struct store_bad *b;

	if (st.nbad == st.capbad) {
		size_t cap = st.capbad ? st.capbad * 2 : 16;

		b = realloc(st.bad, cap * sizeof(*b));
		if (b == NULL)
			return -1;
		st.bad = b;
		st.capbad = cap;
	}
	b = &st.bad[st.nbad++];
	b->journal = journal;
	b->off = r->off;
	b->len = len;
	b->line = r->line;
	b->dep = r->dep;
	snprintf(b->why, sizeof(b->why), "%s", r->err);
	return 0;
}

static int
replay_file(struct logfile *f, const char *name, int journal, char *err,
    size_t errsz, void (*notice)(const char *))
{
	struct replay r = { .file = name, .err = err, .errsz = errsz,
	    .journal = journal };
	struct buf b = {0};
	size_t pos = 0, cut;
	off_t base = 0;
	int ret = -1;

	for (;;) {
		ssize_t got;
		char *nl;

		if (buf_reserve(&b, 1 << 20) != 0) {
			replay_fail(&r, "out of memory");
			goto out;
		}
		got = read(f->fd, b.data + b.len, b.cap - b.len - 1);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			replay_fail(&r, strerror(errno));
			goto out;
		}
		b.len += (size_t)got;
		b.data[b.len] = '\0';
		while ((nl = memchr(b.data + pos, '\n', b.len - pos)) != NULL) {
			size_t len = (size_t)(nl - (b.data + pos));
			char *line = b.data + pos;
			uint64_t want;
			int nt, tv;
			size_t plen;
			char *fix;

			r.line++;
			r.off = base + (off_t)pos;
			r.dep = 0;
			want = 0;
			for (cut = 0; cut < 8 && len >= 10; cut++) {
				int v = util_hex_digit((unsigned char)line[cut],
				    1);

				if (v < 0)
					break;
				want = want << 4 | (uint64_t)v;
			}
			if (len < 12 || cut != 8 || line[8] != ' ' ||
			    crc32(line + 9, len - 9) != (uint32_t)want) {
				/* Torn only when nothing follows. */
				if (pos + len + 1 == b.len && got == 0)
					goto torn;
				if (pos + len + 1 == b.len) {
					/* Maybe more follows: read on. */
					r.line--;
					break;
				}
				replay_fail(&r, "checksum mismatch");
				goto bad;
			}
			fix = NULL;
			plen = journal ? replay_span(line + 9, len - 9, &fix) :
			    len - 9;
			nt = json_parse(line + 9, plen, st.toks, st.ntoks);
			if (nt == JSON_ERR_NOMEM) {
				int need = json_parse(line + 9, plen, NULL, 0);
				struct json_tok *t = need > 0 ? realloc(st.toks,
				    (size_t)need * sizeof(*t)) : NULL;

				if (t == NULL) {
					replay_fail(&r, "out of memory");
					goto out;
				}
				st.toks = t;
				st.ntoks = (size_t)need;
				nt = json_parse(line + 9, plen, st.toks,
				    st.ntoks);
			}
			if (fix != NULL)
				*fix = ',';
			if (nt <= 0 || st.toks[0].type != JSON_OBJECT ||
			    (tv = json_get(line + 9, st.toks, 0, "t")) < 0 ||
			    st.toks[tv].type != JSON_STRING) {
				replay_fail(&r, "not a record");
				goto bad;
			}
			r.s = line + 9;
			r.t = st.toks;
			if ((journal ? replay_journal : replay_registry)(&r,
			    line + 9 + st.toks[tv].start, st.toks[tv].len))
				goto bad;
			pos += len + 1;
			continue;
bad:
			/* hookd check lists it and reads on; a start stops. */
			if (!st.checking || check_note(&r, journal, len + 1))
				goto out;
			pos += len + 1;
		}
		if (got == 0)
			break;
		/* Keep the partial line; drop what was applied. */
		base += (off_t)pos;
		buf_consume(&b, pos);
		pos = 0;
		if (b.len > STORE_LINE_MAX) {
			replay_fail(&r, "record too long");
			goto out;
		}
	}
	if (pos < b.len) {
		r.line++;
		r.off = base + (off_t)pos;
		r.dep = 0;
		goto torn;
	}
	f->size = base + (off_t)pos;
	ret = 0;
	goto out;
torn:
	if (st.checking) {
		replay_fail(&r, "torn record (an incomplete last line)");
		if (check_note(&r, journal, (size_t)(base + (off_t)b.len -
		    r.off)) != 0)
			goto out;
		ret = 0;
		goto out;
	}
	{
		char msg[1200];

		snprintf(msg, sizeof(msg), "%s:%zu: torn record dropped "
		    "(%lld bytes)", name, r.line,
		    (long long)(base + (off_t)b.len - r.off));
		if (ftruncate(f->fd, r.off) != 0 || io_fsync(f->fd) != 0) {
			replay_fail(&r, "cannot cut the torn record");
			goto out;
		}
		if (notice != NULL)
			notice(msg);
		f->size = r.off;
		ret = 0;
	}
out:
	buf_free(&b);
	return ret;
}

/* Why a file of the data directory did not open (errno), into err. */
static void
open_error(const char *path, char *err, size_t errsz)
{
	if (errno == ELOOP)
		snprintf(err, errsz, "%s: is a symbolic link; hookd opens no "
		    "links in its data directory (put the file itself there)",
		    path);
	else
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
}

static int
open_log(struct logfile *f, const char *dir, const char *name, char *err,
    size_t errsz)
{
	struct stat sb;
	int existed;

	if (snprintf(f->path, sizeof(f->path), "%s/%s", dir, name) >=
	    (int)sizeof(f->path)) {
		snprintf(err, errsz, "%s: path too long", dir);
		return -1;
	}
	existed = lstat(f->path, &sb) == 0;
	/* O_NOFOLLOW: a link planted in the directory must not make hookd
	 * append to (or, compacting, replace) a file elsewhere. */
	f->fd = open(f->path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (f->fd < 0) {
		open_error(f->path, err, errsz);
		return -1;
	}
	f->dir_dirty = !existed;
	return 0;
}

/* The data directory's lock (contract §10), held until the process ends,
 * and the directory it is for. */
static int lock_fd = -1;
static char lock_dir[1024];

int
store_lock(const char *dir, char *err, size_t errsz)
{
	char path[1100], pidtxt[32];
	struct flock fl;
	struct stat sb;
	ssize_t n;

	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		snprintf(err, errsz, "%s: %s", dir, strerror(errno));
		return -1;
	}
	if (stat(dir, &sb) != 0) {
		snprintf(err, errsz, "%s: %s", dir, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(sb.st_mode)) {
		snprintf(err, errsz, "data directory %s is not a directory",
		    dir);
		return -1;
	}
	/* Another user who can write the directory can replace the journal
	 * or plant links in it, and so forge deliveries and read secrets. */
	if (sb.st_uid != geteuid()) {
		snprintf(err, errsz, "data directory %s is owned by uid %ld, "
		    "not by hookd's user (uid %ld): chown it, then chmod 700 %s",
		    dir, (long)sb.st_uid, (long)geteuid(), dir);
		return -1;
	}
	if ((sb.st_mode & 022) != 0) {
		snprintf(err, errsz, "data directory %s is writable by other "
		    "users (mode %03o): run chmod 700 %s", dir,
		    (unsigned)(sb.st_mode & 0777), dir);
		return -1;
	}
	if (snprintf(path, sizeof(path), "%s/lock", dir) >= (int)sizeof(path)) {
		snprintf(err, errsz, "%s: path too long", dir);
		return -1;
	}
	if (lock_fd >= 0 && strcmp(lock_dir, dir) == 0)
		return 0;
	if (lock_fd >= 0)
		close(lock_fd);		/* another directory (tests) */
	snprintf(lock_dir, sizeof(lock_dir), "%s", dir);
	lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (lock_fd < 0) {
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		return -1;
	}
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	if (fcntl(lock_fd, F_SETLK, &fl) == 0)
		return 0;
	if (errno != EACCES && errno != EAGAIN) {
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		goto fail;
	}
	/* The kernel knows the holder; the pid in the file is for people. */
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	if (fcntl(lock_fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK)
		snprintf(pidtxt, sizeof(pidtxt), "%ld", (long)fl.l_pid);
	else if ((n = pread(lock_fd, pidtxt, sizeof(pidtxt) - 1, 0)) > 0) {
		pidtxt[n] = '\0';
		pidtxt[strcspn(pidtxt, "\n")] = '\0';
	} else
		snprintf(pidtxt, sizeof(pidtxt), "?");
	snprintf(err, errsz, "data directory %s is in use by pid %s", dir,
	    pidtxt);
fail:
	close(lock_fd);
	lock_fd = -1;
	return -1;
}

int
store_lock_note_pid(void)
{
	char txt[32];
	int n = snprintf(txt, sizeof(txt), "%ld\n", (long)getpid());

	if (lock_fd < 0 || ftruncate(lock_fd, 0) != 0 ||
	    pwrite(lock_fd, txt, (size_t)n, 0) != n)
		return -1;
	return 0;
}

int
store_open(const char *dir, int fsync_always, char *err, size_t errsz,
    void (*notice)(const char *msg))
{
	const char *fault = getenv("HOOKD_FAULT");
	size_t i;

	crc_init();
	if (strlen(dir) >= sizeof(st.dir)) {
		snprintf(err, errsz, "%s: path too long", dir);
		return -1;
	}
	memcpy(st.dir, dir, strlen(dir) + 1);
	st.fsync_always = fsync_always;
	st.sync_failed = 0;	/* the files are read afresh below */
	if (fault != NULL) {
		st.fault_write = fault_get(fault, "write");
		st.fault_fsync = fault_get(fault, "fsync");
		st.fault_rename = fault_get(fault, "rename");
		st.fault_enospc = fault_get(fault, "enospc");
	}
	st.ntoks = 256;
	st.toks = malloc(st.ntoks * sizeof(*st.toks));
	if (st.toks == NULL) {
		snprintf(err, errsz, "out of memory");
		return -1;
	}
	if (store_lock(dir, err, errsz) != 0)
		return -1;
	if (open_log(&st.reg, dir, "registry.log", err, errsz) != 0)
		return -1;
	errno = 0;
	if (replay_file(&st.reg, "registry.log", 0, err, errsz, notice) != 0)
		goto damaged;
	if (st.ngone > 0)
		qsort(st.gone, st.ngone, sizeof(*st.gone), cmp_u64);
	if (open_log(&st.jrn, dir, "journal.log", err, errsz) != 0)
		return -1;
	errno = 0;
	if (replay_file(&st.jrn, "journal.log", 1, err, errsz, notice) != 0)
		goto damaged;
	free(st.gone);
	st.gone = NULL;
	st.ngone = st.capgone = 0;
	if (orphans_settle() != 0) {
		snprintf(err, errsz, "%s: cannot write the journal: %s", dir,
		    strerror(errno));
		return -1;
	}
	/* Deliveries to endpoints deleted without their journal records
	 * (a crash between the two files) are settled now. */
	for (i = 0; i < st.deliveries.n; i++) {
		struct delivery *d = st.deliveries.v[i];

		if (d->status == STORE_FAILED && d->endpoint == NULL &&
		    d->url == NULL && d->last_off < 0) {
			d->status = STORE_PENDING;
			st.pending++;
			d->event->pending++;
			store_delivery_fail(d, "endpoint deleted",
			    util_wall_ms());
		}
	}
	if (store_sync() != 0) {
		snprintf(err, errsz, "%s: fsync: %s", dir, strerror(errno));
		return -1;
	}
	return 0;
damaged:
	/* A record that cannot be read (replay_fail sets EINVAL): say what
	 * sets the files right. */
	if (errno == EINVAL) {
		size_t n = strlen(err);

		snprintf(err + n, errsz - n, "; run hookd check --fix -d %s "
		    "(it moves unreadable records aside)", dir);
	}
	return -1;
}

static off_t copy_record(struct logfile *f, off_t off, off_t prev,
    struct buf *rb, struct json_tok **toks, size_t *ntoks);

/* Move the bad records of file f (journal or registry) to dmg and rewrite
 * f without them, attempt chains ("prev") moved to the new offsets. 0 or -1
 * with err set. */
static int
check_rewrite(struct logfile *f, int journal, int dmg, char *err,
    size_t errsz)
{
	struct logfile n = { .fd = -1 }, saved = st.jrn;
	struct buf rb = {0};
	struct json_tok *toks = NULL;
	size_t ntoks = 0, i, nmap = 0, k;
	off_t off = 0, *olds = NULL, *news = NULL;
	char tmp[1200];
	int ok = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.fix", f->path) >= (int)sizeof(tmp))
		goto fail;
	n.fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	olds = malloc((st.nbad + 1) * sizeof(*olds));
	if (n.fd < 0 || olds == NULL)
		goto fail;
	/* read_record reads the journal's descriptor: point it at f. */
	st.jrn = *f;
	for (i = 0; i < st.nbad; i++) {
		const struct store_bad *b = &st.bad[i];

		if (b->journal != journal)
			continue;
		buf_reset(&rb);
		if (buf_reserve(&rb, b->len + 1) != 0 ||
		    pread(f->fd, rb.data, b->len, b->off) != (ssize_t)b->len)
			goto fail;
		rb.len = b->len;
		if (rb.len == 0 || rb.data[rb.len - 1] != '\n')
			buf_append(&rb, "\n", 1);
		if (write(dmg, rb.data, rb.len) != (ssize_t)rb.len)
			goto fail;
	}
	/* Copy the good lines in order, noting each one's new offset. */
	k = 0;
	while (off < f->size) {
		const struct store_bad *b = NULL;
		off_t got, prev = -2;
		size_t len;
		int v;

		while (k < st.nbad && (st.bad[k].journal != journal ||
		    st.bad[k].off < off))
			k++;
		if (k < st.nbad && st.bad[k].off == off)
			b = &st.bad[k];
		if (b != NULL) {
			off += (off_t)b->len;
			continue;
		}
		buf_reset(&rb);
		if (read_record(off, &rb, &toks, &ntoks) <= 0)
			goto fail;
		len = rb.len + 1;
		v = journal ? json_get(rb.data + 9, toks, 0, "prev") : -1;
		if (v >= 0 && rb.data[9 + toks[v].start] != '-') {
			uint64_t u;
			size_t lo = 0, hi = nmap;

			if (util_parse_u64(rb.data + 9 + toks[v].start,
			    toks[v].len, INT64_MAX, &u) != 0)
				goto fail;
			while (lo < hi) {
				size_t mid = lo + (hi - lo) / 2;

				if (olds[mid] < (off_t)u)
					lo = mid + 1;
				else
					hi = mid;
			}
			/* A chain through a moved record ends there. */
			prev = lo < nmap && olds[lo] == (off_t)u ? news[lo] : -1;
		}
		got = copy_record(&n, off, prev, &rb, &toks, &ntoks);
		if (got < 0)
			goto fail;
		if (journal) {
			off_t *no = realloc(news, (nmap + 1) * sizeof(*no));
			off_t *oo;

			if (no == NULL)
				goto fail;
			news = no;
			oo = realloc(olds, (nmap + 1 + st.nbad) * sizeof(*oo));
			if (oo == NULL)
				goto fail;
			olds = oo;
			olds[nmap] = off;
			news[nmap++] = got;
		}
		off += (off_t)len;
	}
	if (io_fsync(n.fd) != 0 || fsync(dmg) != 0 ||
	    io_rename(tmp, f->path) != 0 || fsync_dir(st.dir) != 0)
		goto fail;
	ok = 1;
fail:
	if (!ok) {
		snprintf(err, errsz, "%s: cannot rewrite: %s", f->path,
		    strerror(errno));
		if (n.fd >= 0)
			unlink(tmp);
	}
	st.jrn = saved;
	if (n.fd >= 0)
		close(n.fd);
	free(olds);
	free(news);
	free(toks);
	buf_free(&rb);
	return ok ? 0 : -1;
}

int
store_check(const char *dir, int fix, void (*report)(const char *line),
    char *moved, size_t movedsz, char *err, size_t errsz)
{
	static const char *const names[2] = { "registry.log", "journal.log" };
	struct logfile *files[2] = { &st.reg, &st.jrn };
	struct stat dsb;
	int i, dmg = -1, r = -1;
	size_t k;

	moved[0] = '\0';
	crc_init();
	/* Checking a directory that is not there creates nothing (store_lock
	 * would create it, and a lock file in it). */
	if (stat(dir, &dsb) != 0 && errno == ENOENT) {
		snprintf(err, errsz, "data directory %s does not exist", dir);
		return -1;
	}
	if (store_lock(dir, err, errsz) != 0)
		return -1;
	if (snprintf(st.dir, sizeof(st.dir), "%s", dir) >= (int)sizeof(st.dir)) {
		snprintf(err, errsz, "%s: path too long", dir);
		return -1;
	}
	st.ntoks = 256;
	st.toks = malloc(st.ntoks * sizeof(*st.toks));
	if (st.toks == NULL) {
		snprintf(err, errsz, "out of memory");
		return -1;
	}
	st.checking = 1;
	for (i = 0; i < 2; i++) {
		struct logfile *f = files[i];
		struct stat sb;

		snprintf(f->path, sizeof(f->path), "%s/%s", dir, names[i]);
		/* Read only: checking changes nothing. */
		f->fd = open(f->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (f->fd < 0 && errno == ENOENT)
			continue;
		if (f->fd < 0 || fstat(f->fd, &sb) != 0) {
			open_error(f->path, err, errsz);
			goto out;
		}
		st.check_fd = f->fd;
		if (replay_file(f, names[i], i, err, errsz, NULL) != 0)
			goto out;
		f->size = sb.st_size;	/* the torn tail too */
	}
	for (k = 0; k < st.nbad; k++) {
		const struct store_bad *b = &st.bad[k];
		char line[300];

		/* A record that reads fine but needs an unreadable one goes
		 * with it, and is named apart so the operator sees why. */
		if (b->dep != 0 && fix)
			snprintf(line, sizeof(line), "%s:%zu: moved with line "
			    "%zu: depends on it", names[b->journal], b->line,
			    b->dep);
		else if (b->dep != 0)
			snprintf(line, sizeof(line), "%s:%zu: depends on line "
			    "%zu (--fix moves it with that line)",
			    names[b->journal], b->line, b->dep);
		else
			snprintf(line, sizeof(line), "%s", b->why);
		report(line);
	}
	r = st.nbad > 0;
	if (!fix || st.nbad == 0)
		goto out;
	{
		/* damaged-20261129T171146Z.log: no colons, which scp and
		 * Windows read as something else; -2, -3... when taken. */
		char path[1100], tm[32];
		time_t now = (time_t)(util_wall_ms() / 1000);
		struct tm utc;
		int n;

		if (gmtime_r(&now, &utc) == NULL ||
		    strftime(tm, sizeof(tm), "%Y%m%dT%H%M%SZ", &utc) == 0) {
			snprintf(err, errsz, "cannot format the time");
			r = -1;
			goto out;
		}
		for (n = 1; n < 100; n++) {
			if ((n == 1 ? snprintf(path, sizeof(path),
			    "%s/damaged-%s.log", dir, tm) : snprintf(path,
			    sizeof(path), "%s/damaged-%s-%d.log", dir, tm,
			    n)) >= (int)sizeof(path)) {
				snprintf(err, errsz, "%s: path too long", dir);
				r = -1;
				goto out;
			}
			dmg = open(path, O_WRONLY | O_CREAT | O_EXCL |
			    O_CLOEXEC | O_NOFOLLOW, 0600);
			if (dmg >= 0 || errno != EEXIST)
				break;
		}
		if (dmg < 0) {
			snprintf(err, errsz, "%s: %s", path, strerror(errno));
			r = -1;
			goto out;
		}
		snprintf(moved, movedsz, "%s", path);
	}
	for (i = 0; i < 2; i++) {
		for (k = 0; k < st.nbad && st.bad[k].journal != i; k++)
			;
		if (k == st.nbad)
			continue;
		if (check_rewrite(files[i], i, dmg, err, errsz) != 0) {
			r = -1;
			goto out;
		}
	}
	r = 1;
out:
	if (dmg >= 0 && close(dmg) != 0 && r == 0) {
		snprintf(err, errsz, "%s: %s", moved, strerror(errno));
		r = -1;
	}
	free(st.bad);
	st.bad = NULL;
	st.nbad = st.capbad = 0;
	st.checking = 0;
	store_close();
	return r;
}

void
store_close(void)
{
	size_t i;

	sync_thread_stop();
	if (st.child > 0) {
		kill(st.child, SIGKILL);
		waitpid(st.child, NULL, 0);
	}
	if (st.reg.fd >= 0)
		close(st.reg.fd);
	if (st.jrn.fd >= 0)
		close(st.jrn.fd);
	for (i = 0; i < st.events.n; i++)
		event_free(st.events.v[i]);
	for (i = 0; i < st.endpoints.n; i++) {
		endpoint_free_fields(st.endpoints.v[i]);
		free(st.endpoints.v[i]);
	}
	for (i = 0; i < st.clients.n; i++)
		client_free(st.clients.v[i]);
	for (i = 0; i < IDEM_BUCKETS; i++) {
		struct idem *k, *next;

		for (k = idem_tab[i]; k != NULL; k = next) {
			next = k->next;
			free(k->client);
			free(k->key);
			free(k->body);
			free(k);
		}
		idem_tab[i] = NULL;
	}
	free(st.events.v);
	free(st.endpoints.v);
	free(st.clients.v);
	free(st.deliveries.v);
	free(st.toks);
	free(st.unannounced);
	free(st.gone);
	free(st.orphans);
	buf_free(&st.rec);
	memset(&st, 0, sizeof(st));
	st.reg.fd = st.jrn.fd = -1;
	st.writable = 1;
}

uint64_t
store_journal_bytes(void)
{
	return (uint64_t)st.jrn.size + (uint64_t)st.reg.size;
}

/* ---- compaction ---- */

/* An event the retention rules let go: nothing pending, nothing changed
 * within retention. */
static int
expired(const struct event *ev, int64_t now, int64_t retention)
{
	const struct delivery *d;

	if (ev->pending > 0 || now - ev->created_at < retention)
		return 0;
	for (d = ev->deliveries; d != NULL; d = d->next_in_event)
		if (d->inflight || now - d->updated_at < retention)
			return 0;
	return 1;
}

/* Rewrite the registry from memory: it is small, so this is done in place
 * and synchronously. 0 or -1. */
static int
compact_registry(void)
{
	char tmp[1200];
	struct logfile n = { .fd = -1 }, old = st.reg;
	size_t i;

	if (snprintf(tmp, sizeof(tmp), "%s.compact", st.reg.path) >=
	    (int)sizeof(tmp))
		return -1;
	n.fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	if (n.fd < 0)
		return -1;
	memcpy(n.path, st.reg.path, sizeof(n.path));
	st.reg = n;
	for (i = 0; i < st.clients.n; i++)
		if (client_record(st.clients.v[i]) < 0)
			goto fail;
	for (i = 0; i < st.endpoints.n; i++)
		if (endpoint_record(st.endpoints.v[i]) < 0)
			goto fail;
	if (io_fsync(st.reg.fd) != 0 || io_rename(tmp, old.path) != 0)
		goto fail;
	/* Renamed: the new file is the registry now, whatever the directory
	 * fsync says; going back to old.fd would append to an unlinked file.
	 * If the rename may not be durable, nothing more is acknowledged. */
	if (fsync_dir(st.dir) != 0)
		sync_lost();
	close(old.fd);
	st.reg.dirty = 0;
	return 0;
fail:
	close(st.reg.fd);
	unlink(tmp);
	st.reg = old;
	return -1;
}

/* Copy the record at off to f, with its "prev" member replaced by prev when
 * prev != -2. Returns the new offset or -1. */
static off_t
copy_record(struct logfile *f, off_t off, off_t prev, struct buf *rb,
    struct json_tok **toks, size_t *ntoks)
{
	int v;

	buf_reset(rb);
	if (read_record(off, rb, toks, ntoks) <= 0)
		return -1;
	buf_reset(&st.rec);
	v = prev == -2 ? -1 : json_get(rb->data + 9, *toks, 0, "prev");
	if (v < 0) {
		buf_append(&st.rec, rb->data, rb->len);
	} else {
		size_t at = 9 + (*toks)[v].start;

		buf_append(&st.rec, rb->data, at);
		buf_printf(&st.rec, "%lld", (long long)prev);
		buf_append(&st.rec, rb->data + at + (*toks)[v].len,
		    rb->len - at - (*toks)[v].len);
	}
	/* rec_write closes with "}\n": take the record's own brace off. */
	st.rec.len--;
	return rec_write(f);
}

/* The child: write the retained records of the journal as it was at the
 * fork to path, and the new offsets (each retained event's, then each of its
 * deliveries' newest attempt) to map. Exits 0 on success. */
static void
compact_child(const char *path, const char *mappath)
{
	struct logfile n = { .fd = -1 };
	struct buf rb = {0};
	struct json_tok *toks = NULL;
	size_t ntoks = 0, i, nmap = 0;
	off_t *chain = NULL, *map = NULL;
	size_t chain_cap = 0, map_cap = 0;
	int mfd;

	n.fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	mfd = open(mappath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC |
	    O_NOFOLLOW, 0600);
	if (n.fd < 0 || mfd < 0)
		_exit(1);
	for (i = 0; i < IDEM_BUCKETS; i++) {
		const struct idem *k;

		for (k = idem_tab[i]; k != NULL; k = k->next) {
			if (st.compact_now - k->at >= STORE_IDEM_MS)
				continue;
			rec_begin("idem");
			idem_members(k->client, k->key, strlen(k->key),
			    k->has_req ? k->req : NULL, k->status, k->body,
			    k->at);
			if (rec_write(&n) < 0)
				_exit(1);
		}
	}
	for (i = 0; i < st.fork_events; i++) {
		struct event *ev = st.events.v[i];
		struct delivery *d;
		off_t o;

		if (ev->dropping)
			continue;
		if (nmap + 1 + ev->ndeliveries > map_cap) {
			map_cap = (nmap + 1 + ev->ndeliveries) * 2;
			if ((map = realloc(map, map_cap * sizeof(*map))) == NULL)
				_exit(1);
		}
		if ((o = copy_record(&n, ev->off, -2, &rb, &toks, &ntoks)) < 0)
			_exit(1);
		map[nmap++] = o;
		for (d = ev->deliveries; d != NULL; d = d->next_in_event) {
			size_t nc = 0, k;
			off_t c = d->last_off, prev = -1;

			/* The attempts, newest first along the chain; only
			 * the newest max_log_attempts are kept. */
			while (c >= 0 && nc < store_max_log) {
				int v;
				uint64_t p;

				if (nc == chain_cap) {
					chain_cap = chain_cap ? chain_cap * 2 : 16;
					chain = realloc(chain, chain_cap *
					    sizeof(*chain));
					if (chain == NULL)
						_exit(1);
				}
				chain[nc++] = c;
				buf_reset(&rb);
				if (read_record(c, &rb, &toks, &ntoks) <= 0)
					_exit(1);
				v = json_get(rb.data + 9, toks, 0, "prev");
				if (v < 0 || rb.data[9 + toks[v].start] == '-' ||
				    util_parse_u64(rb.data + 9 + toks[v].start,
				    toks[v].len, (uint64_t)c - 1, &p) != 0)
					break;
				c = (off_t)p;
			}
			for (k = nc; k-- > 0;) {
				prev = copy_record(&n, chain[k], prev, &rb,
				    &toks, &ntoks);
				if (prev < 0)
					_exit(1);
			}
			map[nmap++] = nc > 0 ? prev : -1;
			if (d->status == STORE_PENDING && nc > 0) {
				/* Pending again after a final attempt (retry,
				 * replay): say so after its attempts. */
				rec_begin("requeue");
				rec_id("d", STORE_DLV, d->id);
				rec_num("next", d->next_at);
				if (rec_write(&n) < 0)
					_exit(1);
			}
		}
	}
	if (io_fsync(n.fd) != 0 ||
	    write(mfd, map, nmap * sizeof(*map)) != (ssize_t)(nmap *
	    sizeof(*map)) || io_fsync(mfd) != 0)
		_exit(1);
	_exit(0);
}

static int
compact_paths(char *path, char *mappath, size_t sz)
{
	if (snprintf(path, sz, "%s.compact", st.jrn.path) >= (int)sz ||
	    snprintf(mappath, sz, "%s.map", st.jrn.path) >= (int)sz)
		return -1;
	return 0;
}

int
store_compact_start(int64_t now, int64_t retention_ms, int force)
{
	static off_t last_size;
	char path[1200], mappath[1200];
	size_t i;
	pid_t pid;

	if (st.child > 0) {
		errno = EBUSY;
		return -1;
	}
	/* The registry's file is about to be replaced: no fsync of it may be
	 * under way in the sync thread. */
	if (store_sync_end() != 0)
		return -1;
	if (!force && (st.jrn.size < STORE_COMPACT_MIN ||
	    st.jrn.size < 2 * last_size))
		return 0;
	if (compact_paths(path, mappath, sizeof(path)) != 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (compact_registry() != 0)
		return -1;
	/* Everything the child copies must be on disk first. */
	if (store_sync() != 0)
		return -1;
	for (i = 0; i < st.events.n; i++) {
		struct event *ev = st.events.v[i];

		ev->dropping = (uint8_t)expired(ev, now, retention_ms);
	}
	st.compact_now = now;
	st.compact_retention = retention_ms;
	st.fork_size = st.jrn.size;
	st.fork_events = st.events.n;
	st.fork_deliveries = st.deliveries.n;
	pid = fork();
	if (pid < 0) {
		for (i = 0; i < st.events.n; i++)
			((struct event *)st.events.v[i])->dropping = 0;
		return -1;
	}
	if (pid == 0)
		compact_child(path, mappath);
	st.child = pid;
	last_size = st.fork_size;
	return 1;
}

/* The mapped (new) offset of pre-fork delivery id, from the parallel arrays
 * ids/offs (in id order). */
static off_t
map_lookup(const uint64_t *ids, const off_t *offs, size_t n, uint64_t id)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ids[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && ids[lo] == id ? offs[lo] : -1;
}

/* Append the records written since the fork to n, with their offsets and
 * chain pointers moved to n. */
static int
compact_tail(struct logfile *n, const uint64_t *ids, const off_t *offs,
    size_t nids)
{
	struct buf rb = {0};
	struct json_tok *toks = NULL;
	size_t ntoks = 0;
	off_t off = st.fork_size, shift = n->size - st.fork_size;
	int ok = 0;

	while (off < st.jrn.size) {
		int nt, v;
		off_t prev = -2, got;
		size_t len;

		buf_reset(&rb);
		nt = read_record(off, &rb, &toks, &ntoks);
		if (nt <= 0)
			goto out;
		len = rb.len + 1;
		v = json_get(rb.data + 9, toks, 0, "prev");
		if (v >= 0) {
			const char *p = rb.data + 9 + toks[v].start;
			uint64_t u;

			if (p[0] == '-')
				prev = -1;
			else if (util_parse_u64(p, toks[v].len, INT64_MAX,
			    &u) != 0)
				goto out;
			else if ((off_t)u >= st.fork_size)
				prev = (off_t)u + shift;
			else {
				int dv = json_get(rb.data + 9, toks, 0, "d");
				uint64_t did;

				if (dv < 0 || store_parse_id(STORE_DLV,
				    rb.data + 9 + toks[dv].start, toks[dv].len,
				    &did) != 0)
					goto out;
				prev = map_lookup(ids, offs, nids, did);
			}
		}
		got = copy_record(n, off, prev, &rb, &toks, &ntoks);
		if (got < 0)
			goto out;
		off += (off_t)len;
	}
	ok = 1;
out:
	free(toks);
	buf_free(&rb);
	return ok ? 0 : -1;
}

int
store_compact_poll(char *err, size_t errsz)
{
	char path[1200], mappath[1200];
	struct logfile n = { .fd = -1 };
	uint64_t *ids = NULL;
	off_t *map = NULL, *offs = NULL, shift;
	size_t nmap = 0, nids = 0, i, j, k, dropped = 0;
	int status, mfd = -1;
	struct stat sb;
	pid_t pid;

	if (st.child <= 0)
		return 0;
	pid = waitpid(st.child, &status, WNOHANG);
	if (pid == 0)
		return 0;
	st.child = 0;
	/* The journal's file is about to be replaced: finish any fsync of it
	 * in the sync thread first. */
	if (store_sync_end() != 0) {
		snprintf(err, errsz, "fsync failed");
		pid = -1;
	}
	compact_paths(path, mappath, sizeof(path));
	if (pid < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		snprintf(err, errsz, "compaction child failed");
		goto fail;
	}
	mfd = open(mappath, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (mfd < 0 || fstat(mfd, &sb) != 0 ||
	    (map = malloc((size_t)sb.st_size + 1)) == NULL ||
	    read(mfd, map, (size_t)sb.st_size) != (ssize_t)sb.st_size) {
		snprintf(err, errsz, "compaction map unreadable");
		goto fail;
	}
	nmap = (size_t)sb.st_size / sizeof(*map);
	ids = malloc((st.fork_deliveries + 1) * sizeof(*ids));
	offs = malloc((st.fork_deliveries + 1) * sizeof(*offs));
	if (ids == NULL || offs == NULL) {
		snprintf(err, errsz, "out of memory");
		goto fail;
	}
	/* Pair the map with the retained pre-fork objects, in the child's
	 * order. */
	for (i = 0, k = 0; i < st.fork_events; i++) {
		struct event *ev = st.events.v[i];
		struct delivery *d;

		if (ev->dropping)
			continue;
		if (k >= nmap)
			break;
		k++;
		for (d = ev->deliveries; d != NULL && k < nmap;
		    d = d->next_in_event) {
			ids[nids] = d->id;
			offs[nids++] = map[k++];
		}
	}
	if (k != nmap) {
		snprintf(err, errsz, "compaction map does not match");
		goto fail;
	}
	n.fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (n.fd < 0 || fstat(n.fd, &sb) != 0) {
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		goto fail;
	}
	memcpy(n.path, st.jrn.path, sizeof(n.path));
	n.size = sb.st_size;
	shift = n.size - st.fork_size;
	if (compact_tail(&n, ids, offs, nids) != 0 || io_fsync(n.fd) != 0 ||
	    io_rename(path, st.jrn.path) != 0) {
		snprintf(err, errsz, "compaction: %s", strerror(errno));
		goto fail;
	}
	/* Renamed: from here on n is the journal (as in compact_registry). */
	if (fsync_dir(st.dir) != 0)
		sync_lost();
	/* The new file is the journal now: move every offset over. */
	for (i = 0, k = 0, j = 0; i < st.events.n; i++) {
		struct event *ev = st.events.v[i];
		struct delivery *d;

		if (i >= st.fork_events) {
			ev->off += shift;
			for (d = ev->deliveries; d != NULL;
			    d = d->next_in_event)
				if (d->last_off >= 0)
					d->last_off += shift;
			continue;
		}
		if (ev->dropping)
			continue;
		ev->off = map[k++];
		for (d = ev->deliveries; d != NULL; d = d->next_in_event) {
			if (d->last_off >= st.fork_size)
				d->last_off += shift;
			else
				d->last_off = offs[j];
			j++;
			k++;
		}
	}
	close(st.jrn.fd);
	st.jrn.fd = n.fd;
	st.jrn.size = n.size;
	st.jrn.dirty = 0;
	/* Drop what retention let go, keeping the arrays in id order. */
	for (i = 0, k = 0; i < st.deliveries.n; i++) {
		struct delivery *d = st.deliveries.v[i];

		if (!d->event->dropping)
			st.deliveries.v[k++] = d;
	}
	st.deliveries.n = k;
	for (i = 0, k = 0; i < st.events.n; i++) {
		struct event *ev = st.events.v[i];

		if (ev->dropping) {
			event_free(ev);
			dropped++;
		} else
			st.events.v[k++] = ev;
	}
	st.events.n = k;
	snprintf(err, errsz, "journal compacted: %zu events dropped, "
	    "%lld bytes", dropped, (long long)st.jrn.size);
	unlink(mappath);
	free(map);
	free(ids);
	free(offs);
	close(mfd);
	return 1;
fail:
	for (i = 0; i < st.events.n; i++)
		((struct event *)st.events.v[i])->dropping = 0;
	if (n.fd >= 0)
		close(n.fd);
	if (mfd >= 0)
		close(mfd);
	unlink(path);
	unlink(mappath);
	free(map);
	free(ids);
	free(offs);
	return -1;
}
