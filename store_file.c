/*
 * store_file: the store's files and how a record reaches the disk. CRC-32,
 * writes with fault injection (HOOKD_FAULT), ids, encoding a record line and
 * reading one back, opening files without following links, the data
 * directory's lock, and group commit with its sync thread.
 */
#if defined(__linux__) && !defined(_GNU_SOURCE)
/* fallocate(2) with FALLOC_FL_KEEP_SIZE, for the journal's reservation
 * (io_reserve); elsewhere the journal writes each record at once. */
#define _GNU_SOURCE
#endif
#include "store_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

/* Free space that counts as "space returned" after a full disk: more than a
 * few blocks, so that /healthz does not flap between 200 and 503. */
#define STORE_SPACE_MIN ((unsigned long long)1 << 20)

struct store_files st_files = { .reg = { .fd = -1 }, .jrn = { .fd = -1 },
    .writable = 1 };
_Thread_local struct buf st_rec;

void (*file_on_durable)(void);

/* ---- CRC-32 (IEEE 802.3, reflected), for torn and corrupt records ---- */

static uint32_t crc_table[8][256];

void
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

uint32_t
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

	if (snprintf(p, sizeof(p), "%s/.enospc-clear", st_files.dir) >=
	    (int)sizeof(p))
		return 0;
	return access(p, F_OK) == 0;
}

/* A write counts toward HOOKD_FAULT "write" (the N-th fails with EIO)
 * and, unless it goes into space reserved before, "enospc" (every one from
 * the N-th on fails until the clear file exists). 0, or -1 (errno). */
static int
fault_write_hit(int reserved)
{
	st_files.n_write++;
	if (st_files.fault_write > 0 &&
	    st_files.n_write == st_files.fault_write) {
		errno = EIO;
		return -1;
	}
	if (!reserved && st_files.fault_enospc > 0 &&
	    st_files.n_write >= st_files.fault_enospc && !enospc_cleared()) {
		errno = ENOSPC;
		return -1;
	}
	return 0;
}

/* Write all of p at off, or fail leaving the file cut back to off (*cut
 * says whether it is: 0 only when part was written and ftruncate failed). */
static int
io_pwrite(struct logfile *f, const char *p, size_t n, off_t off, int reserved,
    int *cut)
{
	size_t done = 0;
	ssize_t w;

	*cut = 1;
	if (fault_write_hit(reserved) != 0)
		return -1;
	while (done < n) {
		w = pwrite(f->fd, p + done, n - done, off + (off_t)done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			int e = w < 0 ? errno : ENOSPC;

			/* Cut a partial write back so that the file never
			 * holds half a line ahead of a later whole one. */
			if (done > 0 && ftruncate(f->fd, off) != 0) {
				/* The next start drops a torn tail. */
				*cut = 0;
			}
			errno = e;
			return -1;
		}
		done += (size_t)w;
	}
	f->dirty = 1;
	return 0;
}

/* Append all of p, or fail leaving the file as it was. */
static int
io_write(struct logfile *f, const char *p, size_t n)
{
	int cut;

	if (io_pwrite(f, p, n, f->size, 0, &cut) != 0)
		return -1;
	f->size += (off_t)n;
	return 0;
}

/*
 * Allocate f's space up to end at least, and STORE_RESERVE_STEP beyond when
 * the disk has it, keeping the file's size: the file reads exactly as
 * before (replay and hookd check see no preallocated tail), and a write
 * into the space cannot fail for a full disk. 0, or -1 (errno: ENOSPC, or
 * EOPNOTSUPP where neither the system nor the file system can).
 */
static int
io_reserve(struct logfile *f, off_t end)
{
#ifdef __linux__
	off_t from = f->size - (off_t)f->pend.len;
	int r;

	if (f->reserved > from)
		from = f->reserved;
	do
		r = fallocate(f->fd, FALLOC_FL_KEEP_SIZE, from,
		    end + STORE_RESERVE_STEP - from);
	while (r != 0 && errno == EINTR);
	if (r == 0) {
		f->reserved = end + STORE_RESERVE_STEP;
		return 0;
	}
	if (errno != ENOSPC)
		return -1;
	do
		r = fallocate(f->fd, FALLOC_FL_KEEP_SIZE, from, end - from);
	while (r != 0 && errno == EINTR);
	if (r != 0)
		return -1;
	f->reserved = end;
	return 0;
#else
	(void)f;
	(void)end;
	errno = EOPNOTSUPP;
	return -1;
#endif
}

/* Add a closed record to f's batch, its space reserved first. */
static int
batch_add(struct logfile *f, const char *p, size_t n)
{
	off_t end = f->size + (off_t)n;

	/* Once a write or fsync failed, nothing more is written. */
	if (st_files.sync_failed) {
		errno = EIO;
		return -1;
	}
	if (fault_write_hit(0) != 0)
		return -1;
	if (end > f->reserved && io_reserve(f, end) != 0)
		return -1;
	if (buf_append(&f->pend, p, n) != 0) {
		errno = ENOMEM;
		return -1;
	}
	f->size = end;
	return 0;
}

/* Empty the batch buffer, giving back one that a big record grew. */
static void
batch_reset(struct logfile *f)
{
	if (f->pend.cap > STORE_BATCH_KEEP)
		buf_free(&f->pend);
	else
		buf_reset(&f->pend);
}

int
file_flush(struct logfile *f)
{
	size_t n = f->pend.len;
	off_t at = f->size - (off_t)n;
	int cut;

	if (n == 0)
		return 0;
	if (st_files.sync_failed) {
		batch_reset(f);
		errno = EIO;
		return -1;
	}
	if (io_pwrite(f, f->pend.data, n, at, 1, &cut) != 0) {
		int e = errno;

		/* Nothing of it is on disk, and nothing else unsynced: the
		 * requests waiting for it can be told it failed. */
		st_files.lost_nothing_kept = cut && !f->dirty &&
		    !f->dir_dirty && !st_files.reg.dirty &&
		    !st_files.reg.dir_dirty;

		/* The size stays: no offset given out is given again. */
		batch_reset(f);
		f->reserved = at;
		errno = e;
		return -1;
	}
	batch_reset(f);
	return 0;
}

void
file_batch_free(struct logfile *f)
{
	buf_free(&f->pend);
	f->batch = 0;
}

int
file_batch_start(struct logfile *f)
{
	/* A full disk now still batches: each record will be refused. */
	if (io_reserve(f, f->size) != 0 && errno != ENOSPC)
		return -1;
	f->batch = 1;
	return 0;
}

ssize_t
log_pread(struct logfile *f, char *p, size_t n, off_t off)
{
	off_t flushed = f->size - (off_t)f->pend.len;
	ssize_t r;

	if (off >= flushed) {
		size_t at = (size_t)(off - flushed);

		if (at >= f->pend.len)
			return 0;
		if (n > f->pend.len - at)
			n = f->pend.len - at;
		memcpy(p, f->pend.data + at, n);
		return (ssize_t)n;
	}
	if ((off_t)n > flushed - off)
		n = (size_t)(flushed - off);
	do
		r = pread(f->fd, p, n, off);
	while (r < 0 && errno == EINTR);
	return r;
}

int
io_fsync(int fd)
{
	st_files.n_fsync++;
	if (st_files.fault_fsync > 0 &&
	    st_files.n_fsync == st_files.fault_fsync) {
		errno = EIO;
		return -1;
	}
	return util_fsync(fd);
}

int
io_rename(const char *from, const char *to)
{
	st_files.n_rename++;
	if (st_files.fault_rename > 0 &&
	    st_files.n_rename == st_files.fault_rename) {
		errno = EIO;
		return -1;
	}
	return rename(from, to);
}

long
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
	size_t n = strlen(id_prefix[k]);
	int i;

	memcpy(out, id_prefix[k], n);
	for (i = 15; i >= 0; i--) {
		out[n + (size_t)i] = util_hex_char((unsigned)id);
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

/* This node's node_id (contract §17), the low 8 bits of every id it gives
 * out; not reset by store_close, as it is the config's. */
static uint64_t store_node;

void
store_set_node_id(unsigned node)
{
	store_node = node & STORE_NODE_MASK;
}

/* Ids are the creation time in ms shifted left 16 bits, then a counter in
 * bits 8-15 and the node_id in bits 0-7, so they sort in creation order,
 * stay unique across restarts, and two nodes with different node_ids never
 * give out the same id (hookd import of a client from one into the other
 * then meets no collision). More than 256 ids in one ms carry into the ms
 * bits: the ids run ahead of the clock for a moment, still unique and
 * sorted. Ids read back from a store of any node only raise the floor. */
uint64_t
new_id(void)
{
	uint64_t t = (uint64_t)util_wall_ms() << 16 | store_node;
	uint64_t next = (st_files.last_id & ~(uint64_t)STORE_NODE_MASK) |
	    store_node;

	if (next <= st_files.last_id)
		next += (uint64_t)STORE_NODE_MASK + 1;
	st_files.last_id = t > next ? t : next;
	return st_files.last_id;
}

void
seen_id(uint64_t id)
{
	if (id > st_files.last_id)
		st_files.last_id = id;
}

int
vec_push(struct vec *v, void *p)
{
	void **nv = util_grow(v->v, &v->cap, v->n + 1, sizeof(*nv), 64);

	if (nv == NULL)
		return -1;
	v->v = nv;
	v->v[v->n++] = p;
	return 0;
}

void
vec_remove(struct vec *v, size_t i)
{
	memmove(v->v + i, v->v + i + 1, (v->n - i - 1) * sizeof(*v->v));
	v->n--;
}

/* The objects with numeric ids all start with uint64_t id, so one binary
 * search serves endpoints, events and deliveries: the first index whose id is
 * >= id. */
size_t
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
size_t
vec_after(const struct vec *v, uint64_t after)
{
	size_t i = vec_lower(v, after);

	return i < v->n && *(const uint64_t *)v->v[i] == after ? i + 1 : i;
}

void *
vec_find(const struct vec *v, uint64_t id)
{
	size_t i = vec_lower(v, id);

	return i < v->n && *(const uint64_t *)v->v[i] == id ? v->v[i] : NULL;
}

char *
dup_or_null(const char *s)
{
	return s != NULL ? util_strndup(s, strlen(s)) : NULL;
}

void
hex32(const uint8_t in[32], char out[65])
{
	int i;

	for (i = 0; i < 32; i++) {
		out[2 * i] = util_hex_char(in[i] >> 4);
		out[2 * i + 1] = util_hex_char(in[i]);
	}
	out[64] = '\0';
}

int
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

struct buf *
rec_begin(const char *type)
{
	buf_reset(&st_rec);
	buf_puts(&st_rec, "00000000 {\"t\":");
	json_put_cstr(&st_rec, type);
	return &st_rec;
}

/* Append ,"key": to the record. Keys are the store's own literals (no
 * quoting needed). Not buf_printf: a record has a dozen members, and
 * printf's format walk cost more than the rest of writing them (callgrind,
 * issues 12 and 13). */
static void
rec_key(const char *key)
{
	buf_append(&st_rec, ",\"", 2);
	buf_puts(&st_rec, key);
	buf_append(&st_rec, "\":", 2);
}

void
rec_str(const char *key, const char *val)
{
	rec_key(key);
	json_put_cstr(&st_rec, val);
}

void
rec_num(const char *key, int64_t v)
{
	rec_key(key);
	buf_put_i64(&st_rec, v);
}

void
rec_id(const char *key, enum store_kind k, uint64_t id)
{
	char x[STORE_XID_MAX];

	store_fmt_id(k, id, x);
	rec_key(key);
	buf_append(&st_rec, "\"", 1);
	buf_puts(&st_rec, x);
	buf_append(&st_rec, "\"", 1);
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
void
rec_json(const char *key, const char *val, size_t len)
{
	rec_key(key);
	if (val == NULL) {
		buf_puts(&st_rec, "null");
		return;
	}
	if (json_put_json(&st_rec, val, len, JSON_MAX_DEPTH - 1) == 0 ||
	    st_rec.oom)
		return;	/* out of memory: rec_write fails the record */
	/* Take the key back and write the string form. */
	st_rec.len -= strlen(key) + 4;
	buf_printf(&st_rec, ",\"%s_s\":", key);
	json_put_str(&st_rec, val, len);
}

int
rec_close(void)
{
	struct buf *b = &st_rec;
	uint32_t c;
	int i;

	if (buf_puts(b, "}\n") != 0) {
		errno = ENOMEM;
		return -1;
	}
	c = crc32(b->data + 9, b->len - 10);
	for (i = 7; i >= 0; i--) {
		b->data[i] = util_hex_char(c);
		c >>= 4;
	}
	return 0;
}

/* Close the record (checksum, newline) and append it to f. Returns the
 * record's offset, or -1 (errno set; nothing was added to the file). */
off_t
rec_write(struct logfile *f)
{
	struct buf *b = &st_rec;
	off_t off;

	if (rec_close() != 0)
		return -1;
	off = f->size;
	if ((f->batch ? batch_add(f, b->data, b->len) :
	    io_write(f, b->data, b->len)) != 0) {
		if (errno == ENOSPC)
			st_files.writable = 0;
		return -1;
	}
	st_files.writable = 1;
	st_files.written_seq++;
	return off;
}

/* ---- group commit ---- */

uint64_t
store_written_seq(void)
{
	return st_files.written_seq;
}

uint64_t
store_durable_seq(void)
{
	return st_files.durable_seq;
}

int
store_sync_lost_nothing_kept(void)
{
	return st_files.sync_failed && st_files.lost_nothing_kept;
}

/* 1 when a disk that was full has room again: free space, or in a test the
 * fault's clear file (the real disk is not full then). */
static int
space_returned(void)
{
	struct statvfs sv;

	if (st_files.fault_enospc > 0)
		return enospc_cleared();
	return statvfs(st_files.dir, &sv) == 0 &&
	    (unsigned long long)sv.f_bavail * sv.f_frsize >= STORE_SPACE_MIN;
}

int
store_writable(void)
{
	/* Only a write that works used to clear a full disk, so an idle
	 * hookd answered 503 forever after space returned, and a balancer
	 * heeding /healthz would never send that write. Look again instead;
	 * if the space is gone by the write, it fails and we are back. */
	if (!st_files.writable && space_returned())
		st_files.writable = 1;
	return st_files.writable;
}

static int
sync_file(struct logfile *f)
{
	if (f->dirty) {
		if (st_files.fsync_always && io_fsync(f->fd) != 0)
			return -1;
		f->dirty = 0;
	}
	if (f->dir_dirty) {
		if (st_files.fsync_always &&
		    util_fsync_dir(st_files.dir, io_fsync) != 0)
			return -1;
		f->dir_dirty = 0;
	}
	return 0;
}

/* An fsync of a live file failed: every later store_sync fails, and one is
 * made due so that the server's next commit ends the process (contract §6)
 * even when nothing else is written. */
void
sync_lost(void)
{
	st_files.sync_failed = 1;
	st_files.written_seq++;
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
		if (st_files.fsync_always &&
		    ((job.reg && io_fsync(job.reg_fd) != 0) ||
		    (job.jrn && io_fsync(job.jrn_fd) != 0) ||
		    (job.dir && util_fsync_dir(st_files.dir, io_fsync) != 0)))
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
	(void)util_fd_cloexec(as.req[0]);
	(void)util_fd_cloexec(as.req[1]);
	(void)util_fd_cloexec(as.done[0]);
	(void)util_fd_cloexec(as.done[1]);
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

	if (as.busy || st_files.written_seq == st_files.durable_seq)
		return 0;
	if (st_files.sync_failed || !as.running) {
		errno = EIO;
		return -1;
	}
	/* The batch this sync covers reaches the file in one write. */
	if (file_flush(&st_files.jrn) != 0) {
		int e = errno;

		sync_lost();
		errno = e;
		return -1;
	}
	memset(&job, 0, sizeof(job));
	job.reg_fd = st_files.reg.fd;
	job.jrn_fd = st_files.jrn.fd;
	job.reg = (uint8_t)st_files.reg.dirty;
	job.jrn = (uint8_t)st_files.jrn.dirty;
	job.dir = (uint8_t)(st_files.reg.dir_dirty || st_files.jrn.dir_dirty);
	if (write(as.req[1], &job, sizeof(job)) != (ssize_t)sizeof(job))
		return -1;
	st_files.reg.dirty = st_files.jrn.dirty = 0;
	st_files.reg.dir_dirty = st_files.jrn.dir_dirty = 0;
	as.seq = st_files.written_seq;
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
	if (!st_files.sync_failed && as.seq > st_files.durable_seq)
		st_files.durable_seq = as.seq;
	if (file_on_durable != NULL)
		file_on_durable();
	return 0;
}

void
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
	uint64_t seq = st_files.written_seq;

	/* A failed fsync may have dropped the pages it was to write (Linux
	 * marks them clean), so a later fsync that succeeds proves nothing:
	 * once failed, every sync fails and nothing more is acknowledged. */
	if (st_files.sync_failed) {
		errno = EIO;
		return -1;
	}
	if (store_sync_end() != 0)
		return -1;
	if (file_flush(&st_files.jrn) != 0 || sync_file(&st_files.reg) != 0 ||
	    sync_file(&st_files.jrn) != 0) {
		sync_lost();
		return -1;
	}
	st_files.durable_seq = seq;
	if (file_on_durable != NULL)
		file_on_durable();
	return 0;
}

/* ---- reading records back ---- */

/* Find a value in a record by key; -1 when absent. */
int
rget(const char *s, const struct json_tok *t, const char *key)
{
	return json_get(s, t, 0, key);
}

/* Read the record at off into b (without its newline and checksum prefix)
 * and parse it into toks. Returns the token count or -1. */
int
read_record(off_t off, struct buf *b, struct json_tok **toks, size_t *ntoks)
{
	size_t start = b->len, n = 0;
	int r;

	for (;;) {
		ssize_t got;

		if (buf_reserve(b, 4096) != 0)
			return -1;
		got = log_pread(&st_files.jrn, b->data + b->len,
		    b->cap - b->len - 1, off + (off_t)n);
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

/* Copy the record at off to f, with its "prev" member replaced by prev when
 * prev != -2. Returns the new offset or -1. */
off_t
copy_record(struct logfile *f, off_t off, off_t prev, struct buf *rb,
    struct json_tok **toks, size_t *ntoks)
{
	int v;

	buf_reset(rb);
	if (read_record(off, rb, toks, ntoks) <= 0)
		return -1;
	buf_reset(&st_rec);
	v = prev == -2 ? -1 : json_get(rb->data + 9, *toks, 0, "prev");
	if (v < 0) {
		buf_append(&st_rec, rb->data, rb->len);
	} else {
		size_t at = 9 + (*toks)[v].start;

		buf_append(&st_rec, rb->data, at);
		buf_printf(&st_rec, "%lld", (long long)prev);
		buf_append(&st_rec, rb->data + at + (*toks)[v].len,
		    rb->len - at - (*toks)[v].len);
	}
	/* rec_write closes with "}\n": take the record's own brace off. */
	st_rec.len--;
	return rec_write(f);
}

/* ---- opening files, the lock ---- */

/* Why a file of the data directory did not open (errno), into err. */
void
open_error(const char *path, char *err, size_t errsz)
{
	if (errno == ELOOP)
		snprintf(err, errsz, "%s: is a symbolic link; hookd opens no "
		    "links in its data directory (put the file itself there)",
		    path);
	else
		util_err_set(err, errsz, path, strerror(errno));
}

int
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
store_dir_present(const char *dir, char *err, size_t errsz)
{
	struct stat sb;

	if (stat(dir, &sb) != 0 && errno == ENOENT) {
		snprintf(err, errsz, "data directory %s does not exist", dir);
		return -1;
	}
	return 0;
}

int
store_lock(const char *dir, char *err, size_t errsz)
{
	char path[1100], pidtxt[32];
	struct flock fl;
	struct stat sb;
	ssize_t n;

	if (mkdir(dir, 0700) == 0) {
		/* A new DATADIR: its name must outlive a power loss like
		 * the files in it, whose fsyncs do not cover it. */
		if (util_fsync_parent(dir, io_fsync) != 0) {
			util_err_set(err, errsz, dir, strerror(errno));
			return -1;
		}
	} else if (errno != EEXIST) {
		util_err_set(err, errsz, dir, strerror(errno));
		return -1;
	}
	if (stat(dir, &sb) != 0) {
		util_err_set(err, errsz, dir, strerror(errno));
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
		util_err_set(err, errsz, path, strerror(errno));
		return -1;
	}
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	if (fcntl(lock_fd, F_SETLK, &fl) == 0)
		return 0;
	if (errno != EACCES && errno != EAGAIN) {
		util_err_set(err, errsz, path, strerror(errno));
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

uint64_t
store_journal_bytes(void)
{
	return (uint64_t)st_files.jrn.size + (uint64_t)st_files.reg.size;
}

/* ---- the releaser thread ----
 *
 * The old journal's descriptor is closed, and a compaction's map unmapped,
 * on a thread of its own: the last close of a renamed-over file frees all
 * its blocks (hundreds of ms for a GiB in tmpfs), as the unmapping of an
 * unlinked map does its own, which no loop pass should wait for. */
static struct {
	pthread_t thread;
	pthread_mutex_t mu;	/* done */
	int running, done;
	int fd;
	void *map;
	size_t maplen;
} st_release = { .mu = PTHREAD_MUTEX_INITIALIZER, .fd = -1 };

static void *
release_thread(void *arg)
{
	(void)arg;
	if (st_release.fd >= 0)
		close(st_release.fd);
	if (st_release.map != NULL)
		munmap(st_release.map, st_release.maplen);
	pthread_mutex_lock(&st_release.mu);
	st_release.done = 1;
	pthread_mutex_unlock(&st_release.mu);
	return NULL;
}

void
file_release_start(int fd, void *map, size_t len)
{
	st_release.fd = fd;
	st_release.map = map;
	st_release.maplen = len;
	st_release.done = 0;
	if (pthread_create(&st_release.thread, NULL, release_thread, NULL) ==
	    0)
		st_release.running = 1;
	else
		release_thread(NULL);
}

int
file_release_finished(int wait)
{
	int done;

	if (!st_release.running)
		return 1;
	pthread_mutex_lock(&st_release.mu);
	done = st_release.done;
	pthread_mutex_unlock(&st_release.mu);
	if (!done && !wait)
		return 0;
	pthread_join(st_release.thread, NULL);
	st_release.running = 0;
	return 1;
}
