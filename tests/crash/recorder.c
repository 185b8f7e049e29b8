/*
 * recorder: an LD_PRELOAD shim that records, in order, every file operation
 * a process makes under one directory (hookd's DATADIR), and the bytes of
 * every HTTP request read and answer written on the connections it
 * accepted, for the crash-state explorer (tests/crash/explore.py).
 *
 * Why a shim and not the store's own I/O layer: it sees every call the
 * binary makes (the compaction threads' writes, the registry rewrite, hookd
 * check's rewrite, the lock file, the sync thread's fsyncs) without
 * trusting the code under test to report itself, and the binary runs
 * unmodified. The cost: it works only with dynamically linked glibc
 * builds; hookd-static (musl, static) cannot be preloaded.
 *
 * Environment: HOOKD_REC_DIR, the directory to watch (it need not exist
 * yet); HOOKD_REC_LOG, the file the records are appended to. Without both
 * the shim passes every call through and records nothing.
 *
 * Format: one JSON object a line, each line written by one write(2) to a
 * descriptor opened O_APPEND (shared with forked children). Every line has
 * "op", "pid" and "tid"; file operations name the file by "path" (relative
 * to HOOKD_REC_DIR, "" for the directory itself) and/or by "ino" (the
 * inode, from fstat or lstat); bytes are lowercase hex in "data".
 *
 *   {"op":"start","dir":ABS}                     the shim's first record
 *   {"op":"open","path":P,"fd":N,"flags":F,"ino":I,"isdir":0|1,"existed":0|1}
 *   {"op":"write","fd":N,"ino":I,"off":O,"n":LEN,"data":HEX}
 *   {"op":"fsync_begin","fd":N,"ino":I,"isdir":0|1}  an fsync called
 *   {"op":"fsync","fd":N,"ino":I,"isdir":0|1,"call":"fsync"|"fdatasync"}
 *                                                and returned 0
 *   {"op":"sync_file_range","fd":N,"ino":I}       (no durability promised)
 *   {"op":"truncate","fd":N,"ino":I,"len":L}
 *   {"op":"fallocate","fd":N,"ino":I,"mode":M,"off":O,"len":L}
 *   {"op":"rename","from":P,"to":P,"ino":I,"flags":F}  (-1 "from": outside)
 *   {"op":"unlink","path":P,"ino":I}  {"op":"rmdir","path":P,"ino":I}
 *   {"op":"mkdir","path":P}
 *   {"op":"close","fd":N,"ino":I}   {"op":"dup","fd":N,"newfd":M}
 *   {"op":"fork","ppid":P}                        (written by the child)
 *   {"op":"accept","fd":N}  {"op":"in","fd":N,"n":LEN,"data":HEX}
 *   {"op":"out","fd":N,"n":LEN,"data":HEX}  {"op":"sclose","fd":N}
 *   {"op":"outside","call":NAME,"path":P}        a call the explorer cannot
 *                                                model (e.g. a rename into
 *                                                the directory from outside)
 *
 * Ordering: one process-wide mutex is held around the real call and the
 * appending of its record, so the log is a linearization across threads
 * (the loop, the sync thread, the releaser thread, a compaction's copy
 * threads). A forked child (hookd forks none since its compaction became a
 * thread) would append to the same O_APPEND descriptor (pthread_atfork
 * keeps the mutex sane across the fork) under its own copy of the mutex,
 * unordered against the parent's records. An fsync is two records with the mutex let go between them:
 * "fsync_begin" when it is called and "fsync" once it returned 0, so that
 * an answer or a write of another thread while it runs is logged between
 * the two (not covered by it). A failed fsync has no end record (it changed
 * nothing the model needs, or the file size check at the end of a workload
 * catches it).
 */
#define _GNU_SOURCE
#include "recorder.h"

/*
 * The shape of every recorded call on a tracked descriptor: the real call
 * (call, its result into res) and its record (the rest, run when ok holds)
 * under the mutex, so that the log orders the threads; errno as the call
 * left it.
 */
#define LOCKED_CALL(res, call, ok, ...) do { \
	int saved_; \
	pthread_mutex_lock(&mu); \
	(res) = (call); \
	saved_ = errno; \
	if (ok) { \
		__VA_ARGS__ \
	} \
	pthread_mutex_unlock(&mu); \
	errno = saved_; \
} while (0)

/* ---- open ---- */

static int
do_openat(int dirfd, const char *path, int flags, mode_t mode)
{
	char rel[PATH_MAX];
	int fd, existed = 0, saved;

	if (!rel_path(dirfd, path, rel, sizeof(rel))) {
		RESOLVE(openat);
		fd = real_openat(dirfd, path, flags, mode);
		/* A descriptor closed behind the shim's back (fclose)
		 * is untracked once its number is given out again. */
		if (fd >= 0 && fd < REC_MAXFD)
			fds[fd].kind = FD_NONE;
		return fd;
	}
	pthread_mutex_lock(&mu);
	(void)ino_of_path(dirfd, path, &existed);
	RESOLVE(openat);
	fd = real_openat(dirfd, path, flags, mode);
	saved = errno;
	if (fd >= 0)
		rec_open(rel, fd, flags, existed);
	pthread_mutex_unlock(&mu);
	errno = saved;
	return fd;
}

#define OPEN_MODE(flags, mode) do { \
	if ((flags) & (O_CREAT | __O_TMPFILE)) { \
		va_list ap; \
		va_start(ap, flags); \
		mode = va_arg(ap, mode_t); \
		va_end(ap); \
	} } while (0)

int
open(const char *path, int flags, ...)
{
	mode_t mode = 0;

	OPEN_MODE(flags, mode);
	return do_openat(AT_FDCWD, path, flags, mode);
}

int
open64(const char *path, int flags, ...)
{
	mode_t mode = 0;

	OPEN_MODE(flags, mode);
	return do_openat(AT_FDCWD, path, flags, mode);
}

int
openat(int dirfd, const char *path, int flags, ...)
{
	mode_t mode = 0;

	OPEN_MODE(flags, mode);
	return do_openat(dirfd, path, flags, mode);
}

int
openat64(int dirfd, const char *path, int flags, ...)
{
	mode_t mode = 0;

	OPEN_MODE(flags, mode);
	return do_openat(dirfd, path, flags, mode);
}

int
creat(const char *path, mode_t mode)
{
	return do_openat(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC,
	    mode);
}

int __open_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);

int
__open_2(const char *path, int flags)
{
	return do_openat(AT_FDCWD, path, flags, 0);
}

int
__openat_2(int dirfd, const char *path, int flags)
{
	return do_openat(dirfd, path, flags, 0);
}

/* ---- writes ---- */

static long long
pos_after(int fd, ssize_t n)
{
	int saved = errno;
	off_t at = lseek(fd, 0, SEEK_CUR);

	errno = saved;
	return (long long)at - (long long)n;
}

ssize_t
write(int fd, const void *p, size_t n)
{
	struct rec_fd *t = tracked(fd);
	ssize_t w;

	RESOLVE(write);
	if (t == NULL)
		return real_write(fd, p, n);
	LOCKED_CALL(w, real_write(fd, p, n), w > 0, {
		if (t->kind == FD_SOCK)
			rec_net("out", fd, p, (size_t)w);
		else
			rec_write(fd, t, pos_after(fd, w), p, (size_t)w);
	});
	return w;
}

static ssize_t
do_pwrite(int fd, const void *p, size_t n, off_t off)
{
	struct rec_fd *t = tracked(fd);
	ssize_t w;

	RESOLVE(pwrite);
	if (t == NULL)
		return real_pwrite(fd, p, n, off);
	LOCKED_CALL(w, real_pwrite(fd, p, n, off), w > 0, {
		rec_write(fd, t, (long long)off, p, (size_t)w);
	});
	return w;
}

ssize_t
pwrite(int fd, const void *p, size_t n, off_t off)
{
	return do_pwrite(fd, p, n, off);
}

ssize_t
pwrite64(int fd, const void *p, size_t n, off_t off)
{
	return do_pwrite(fd, p, n, off);
}

/* The first n bytes of an iovec as one buffer (malloc'd). */
static char *
gather(const struct iovec *iov, int cnt, size_t n)
{
	char *p = malloc(n ? n : 1);
	size_t done = 0;
	int i;

	if (p == NULL)
		die("out of memory", ENOMEM);
	for (i = 0; i < cnt && done < n; i++) {
		size_t k = iov[i].iov_len < n - done ? iov[i].iov_len :
		    n - done;

		memcpy(p + done, iov[i].iov_base, k);
		done += k;
	}
	return p;
}

ssize_t
writev(int fd, const struct iovec *iov, int cnt)
{
	struct rec_fd *t = tracked(fd);
	ssize_t w;

	RESOLVE(writev);
	if (t == NULL)
		return real_writev(fd, iov, cnt);
	LOCKED_CALL(w, real_writev(fd, iov, cnt), w > 0, {
		char *p = gather(iov, cnt, (size_t)w);

		if (t->kind == FD_SOCK)
			rec_net("out", fd, p, (size_t)w);
		else
			rec_write(fd, t, pos_after(fd, w), p, (size_t)w);
		free(p);
	});
	return w;
}

ssize_t
pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
	struct rec_fd *t = tracked(fd);
	ssize_t w;

	RESOLVE(pwritev);
	if (t == NULL)
		return real_pwritev(fd, iov, cnt, off);
	LOCKED_CALL(w, real_pwritev(fd, iov, cnt, off), w > 0, {
		char *p = gather(iov, cnt, (size_t)w);

		rec_write(fd, t, (long long)off, p, (size_t)w);
		free(p);
	});
	return w;
}

ssize_t
send(int fd, const void *p, size_t n, int flags)
{
	struct rec_fd *t = tracked(fd);
	ssize_t w;

	RESOLVE(send);
	if (t == NULL)
		return real_send(fd, p, n, flags);
	LOCKED_CALL(w, real_send(fd, p, n, flags), w > 0, {
		rec_net("out", fd, p, (size_t)w);
	});
	return w;
}

ssize_t
sendmsg(int fd, const struct msghdr *m, int flags)
{
	struct rec_fd *t = tracked(fd);
	ssize_t w;

	RESOLVE(sendmsg);
	if (t == NULL)
		return real_sendmsg(fd, m, flags);
	LOCKED_CALL(w, real_sendmsg(fd, m, flags), w > 0, {
		char *p = gather(m->msg_iov, (int)m->msg_iovlen, (size_t)w);

		rec_net("out", fd, p, (size_t)w);
		free(p);
	});
	return w;
}

/* ---- reads of requests ---- */

ssize_t
read(int fd, void *p, size_t n)
{
	struct rec_fd *t = tracked(fd);
	ssize_t r;

	RESOLVE(read);
	if (t == NULL || t->kind != FD_SOCK)
		return real_read(fd, p, n);
	LOCKED_CALL(r, real_read(fd, p, n), r > 0, {
		rec_net("in", fd, p, (size_t)r);
	});
	return r;
}

ssize_t
recv(int fd, void *p, size_t n, int flags)
{
	struct rec_fd *t = tracked(fd);
	ssize_t r;

	RESOLVE(recv);
	if (t == NULL || t->kind != FD_SOCK)
		return real_recv(fd, p, n, flags);
	LOCKED_CALL(r, real_recv(fd, p, n, flags), r > 0 && !(flags & MSG_PEEK), {
		rec_net("in", fd, p, (size_t)r);
	});
	return r;
}

/* ---- durability ---- */

static int
do_sync(int fd, int data_only)
{
	struct rec_fd *t = tracked(fd);
	int r, saved;

	RESOLVE(fsync);
	RESOLVE(fdatasync);
	if (t == NULL)
		return data_only ? real_fdatasync(fd) : real_fsync(fd);
	/* Two records, the mutex let go between them: what other threads
	 * write or answer while the fsync runs is logged between its begin
	 * and its end, and the explorer counts only what came before the
	 * begin as made durable by it. */
	pthread_mutex_lock(&mu);
	rec_fdop("fsync_begin", fd, t, "isdir", t->kind == FD_DIR, NULL, 0,
	    NULL, 0);
	pthread_mutex_unlock(&mu);
	r = data_only ? real_fdatasync(fd) : real_fsync(fd);
	saved = errno;
	pthread_mutex_lock(&mu);
	if (r == 0) {
		struct rbuf b;

		rb_begin(&b, "fsync");
		rb_num(&b, "fd", fd);
		rb_num(&b, "ino", (long long)t->ino);
		rb_num(&b, "isdir", t->kind == FD_DIR);
		rb_str(&b, "call", data_only ? "fdatasync" : "fsync");
		rb_end(&b);
	}
	pthread_mutex_unlock(&mu);
	errno = saved;
	return r;
}

int
fsync(int fd)
{
	return do_sync(fd, 0);
}

int
fdatasync(int fd)
{
	return do_sync(fd, 1);
}

int
sync_file_range(int fd, off_t off, off_t n, unsigned int flags)
{
	struct rec_fd *t = tracked(fd);
	int r;

	RESOLVE(sync_file_range);
	if (t == NULL)
		return real_sync_file_range(fd, off, n, flags);
	LOCKED_CALL(r, real_sync_file_range(fd, off, n, flags), r == 0, {
		rec_fdop("sync_file_range", fd, t, "off", (long long)off, "len",
		    (long long)n, NULL, 0);
	});
	return r;
}

/* ---- sizes ---- */

static int
do_ftruncate(int fd, off_t len)
{
	struct rec_fd *t = tracked(fd);
	int r;

	RESOLVE(ftruncate);
	if (t == NULL)
		return real_ftruncate(fd, len);
	LOCKED_CALL(r, real_ftruncate(fd, len), r == 0, {
		rec_fdop("truncate", fd, t, "len", (long long)len, NULL, 0,
		    NULL, 0);
	});
	return r;
}

int
ftruncate(int fd, off_t len)
{
	return do_ftruncate(fd, len);
}

int
ftruncate64(int fd, off_t len)
{
	return do_ftruncate(fd, len);
}

int
truncate(const char *path, off_t len)
{
	char rel[PATH_MAX];

	RESOLVE(truncate);
	if (rel_path(AT_FDCWD, path, rel, sizeof(rel))) {
		pthread_mutex_lock(&mu);
		rec_outside("truncate", rel);
		pthread_mutex_unlock(&mu);
	}
	return real_truncate(path, len);
}

int
fallocate(int fd, int mode, off_t off, off_t len)
{
	struct rec_fd *t = tracked(fd);
	int r;

	RESOLVE(fallocate);
	if (t == NULL)
		return real_fallocate(fd, mode, off, len);
	LOCKED_CALL(r, real_fallocate(fd, mode, off, len), r == 0, {
		rec_fdop("fallocate", fd, t, "mode", mode, "off",
		    (long long)off, "len", (long long)len);
	});
	return r;
}

int
posix_fallocate(int fd, off_t off, off_t len)
{
	struct rec_fd *t = tracked(fd);
	int r;

	RESOLVE(posix_fallocate);
	if (t == NULL)
		return real_posix_fallocate(fd, off, len);
	pthread_mutex_lock(&mu);
	r = real_posix_fallocate(fd, off, len);
	if (r == 0)
		rec_fdop("fallocate", fd, t, "mode", 0, "off", (long long)off,
		    "len", (long long)len);
	pthread_mutex_unlock(&mu);
	return r;
}

/* ---- names ---- */

static int
do_rename(int olddir, const char *from, int newdir, const char *to,
    unsigned int flags, int how)
{
	char rf[PATH_MAX], rt[PATH_MAX];
	int in_f = rel_path(olddir, from, rf, sizeof(rf));
	int in_t = rel_path(newdir, to, rt, sizeof(rt));
	unsigned long long ino;
	int r, saved, ex;

	RESOLVE(rename);
	RESOLVE(renameat);
	RESOLVE(renameat2);
	if (!in_f && !in_t)
		return how == 0 ? real_rename(from, to) : how == 1 ?
		    real_renameat(olddir, from, newdir, to) :
		    real_renameat2(olddir, from, newdir, to, flags);
	pthread_mutex_lock(&mu);
	ino = ino_of_path(olddir, from, &ex);
	r = how == 0 ? real_rename(from, to) : how == 1 ?
	    real_renameat(olddir, from, newdir, to) :
	    real_renameat2(olddir, from, newdir, to, flags);
	saved = errno;
	if (r == 0) {
		if (in_f && in_t) {
			struct rbuf b;

			rb_begin(&b, "rename");
			rb_str(&b, "from", rf);
			rb_str(&b, "to", rt);
			rb_num(&b, "ino", (long long)ino);
			rb_num(&b, "flags", flags);
			rb_end(&b);
		} else
			rec_outside("rename", in_f ? rf : rt);
	}
	pthread_mutex_unlock(&mu);
	errno = saved;
	return r;
}

int
rename(const char *from, const char *to)
{
	return do_rename(AT_FDCWD, from, AT_FDCWD, to, 0, 0);
}

int
renameat(int olddir, const char *from, int newdir, const char *to)
{
	return do_rename(olddir, from, newdir, to, 0, 1);
}

int
renameat2(int olddir, const char *from, int newdir, const char *to,
    unsigned int flags)
{
	return do_rename(olddir, from, newdir, to, flags, 2);
}

static int
do_unlinkat(int dirfd, const char *path, int flags, int how)
{
	char rel[PATH_MAX];
	unsigned long long ino;
	int r, saved, ex;

	RESOLVE(unlink);
	RESOLVE(unlinkat);
	RESOLVE(rmdir);
	if (!rel_path(dirfd, path, rel, sizeof(rel)))
		return how == 0 ? real_unlink(path) : how == 1 ?
		    real_unlinkat(dirfd, path, flags) : real_rmdir(path);
	pthread_mutex_lock(&mu);
	ino = ino_of_path(dirfd, path, &ex);
	r = how == 0 ? real_unlink(path) : how == 1 ?
	    real_unlinkat(dirfd, path, flags) : real_rmdir(path);
	saved = errno;
	if (r == 0)
		rec_path(how == 2 || (flags & AT_REMOVEDIR) ? "rmdir" :
		    "unlink", rel, 1, ino);
	pthread_mutex_unlock(&mu);
	errno = saved;
	return r;
}

int
unlink(const char *path)
{
	return do_unlinkat(AT_FDCWD, path, 0, 0);
}

int
unlinkat(int dirfd, const char *path, int flags)
{
	return do_unlinkat(dirfd, path, flags, 1);
}

int
rmdir(const char *path)
{
	return do_unlinkat(AT_FDCWD, path, AT_REMOVEDIR, 2);
}

static int
do_mkdirat(int dirfd, const char *path, mode_t mode)
{
	char rel[PATH_MAX];
	int r;

	RESOLVE(mkdirat);
	if (!rel_path(dirfd, path, rel, sizeof(rel)))
		return real_mkdirat(dirfd, path, mode);
	LOCKED_CALL(r, real_mkdirat(dirfd, path, mode), r == 0, {
		rec_path("mkdir", rel, 0, 0);
	});
	return r;
}

int
mkdir(const char *path, mode_t mode)
{
	return do_mkdirat(AT_FDCWD, path, mode);
}

int
mkdirat(int dirfd, const char *path, mode_t mode)
{
	return do_mkdirat(dirfd, path, mode);
}

/* Links are not modeled: hookd makes none; one would be seen. */
int
link(const char *from, const char *to)
{
	char rel[PATH_MAX];

	RESOLVE(link);
	if (rel_path(AT_FDCWD, from, rel, sizeof(rel)) ||
	    rel_path(AT_FDCWD, to, rel, sizeof(rel))) {
		pthread_mutex_lock(&mu);
		rec_outside("link", rel);
		pthread_mutex_unlock(&mu);
	}
	return real_link(from, to);
}

int
linkat(int od, const char *from, int nd, const char *to, int flags)
{
	char rel[PATH_MAX];

	RESOLVE(linkat);
	if (rel_path(od, from, rel, sizeof(rel)) ||
	    rel_path(nd, to, rel, sizeof(rel))) {
		pthread_mutex_lock(&mu);
		rec_outside("linkat", rel);
		pthread_mutex_unlock(&mu);
	}
	return real_linkat(od, from, nd, to, flags);
}

int
symlink(const char *target, const char *path)
{
	char rel[PATH_MAX];

	RESOLVE(symlink);
	if (rel_path(AT_FDCWD, path, rel, sizeof(rel))) {
		pthread_mutex_lock(&mu);
		rec_outside("symlink", rel);
		pthread_mutex_unlock(&mu);
	}
	return real_symlink(target, path);
}

/* ---- descriptors ---- */

int
close(int fd)
{
	struct rec_fd *t;
	int r, saved;

	RESOLVE(close);
	/* A program that closes every descriptor but its own (as hookd's
	 * compaction child did) must not close the log. */
	if (active && fd == log_fd)
		return 0;
	t = tracked(fd);
	if (t == NULL)
		return real_close(fd);
	pthread_mutex_lock(&mu);
	if (t->kind == FD_SOCK)
		rec_net("sclose", fd, "", 0);
	else
		rec_fdop("close", fd, t, NULL, 0, NULL, 0, NULL, 0);
	t->kind = FD_NONE;
	r = real_close(fd);
	saved = errno;
	pthread_mutex_unlock(&mu);
	errno = saved;
	return r;
}

/* newfd now names what fd named (dup, dup2, dup3, F_DUPFD). */
static void
dup_note(int fd, int newfd)
{
	struct rec_fd *t = tracked(fd);
	struct rbuf b;

	if (newfd < 0 || newfd >= REC_MAXFD || newfd == fd)
		return;
	if (t == NULL) {
		fds[newfd].kind = FD_NONE;
		return;
	}
	fds[newfd] = *t;
	rb_begin(&b, "dup");
	rb_num(&b, "fd", fd);
	rb_num(&b, "newfd", newfd);
	rb_end(&b);
}

int
dup(int fd)
{
	int r;

	RESOLVE(dup);
	LOCKED_CALL(r, real_dup(fd), r >= 0 && active, {
		dup_note(fd, r);
	});
	return r;
}

int
dup2(int fd, int newfd)
{
	int r;

	RESOLVE(dup2);
	if (active && newfd == log_fd) {
		errno = EBADF;
		return -1;
	}
	LOCKED_CALL(r, real_dup2(fd, newfd), r >= 0 && active, {
		dup_note(fd, r);
	});
	return r;
}

int
dup3(int fd, int newfd, int flags)
{
	int r;

	RESOLVE(dup3);
	if (active && newfd == log_fd) {
		errno = EBADF;
		return -1;
	}
	LOCKED_CALL(r, real_dup3(fd, newfd, flags), r >= 0 && active, {
		dup_note(fd, r);
	});
	return r;
}

int
fcntl(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;
	int r;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	RESOLVE(fcntl);
	if (!active || (cmd != F_DUPFD && cmd != F_DUPFD_CLOEXEC))
		return real_fcntl(fd, cmd, arg);
	LOCKED_CALL(r, real_fcntl(fd, cmd, arg), r >= 0, {
		dup_note(fd, r);
	});
	return r;
}

/* ---- connections ---- */

static void
accept_note(int fd)
{
	struct rbuf b;

	if (fd < 0 || fd >= REC_MAXFD)
		return;
	fds[fd].kind = FD_SOCK;
	fds[fd].ino = 0;
	rb_begin(&b, "accept");
	rb_num(&b, "fd", fd);
	rb_end(&b);
}

/* A new socket takes a number a connection may have had. */
int
socket(int domain, int type, int proto)
{
	int fd;

	RESOLVE(socket);
	fd = real_socket(domain, type, proto);
	if (fd >= 0 && fd < REC_MAXFD)
		fds[fd].kind = FD_NONE;
	return fd;
}

int
accept(int s, struct sockaddr *a, socklen_t *al)
{
	int fd, saved;

	RESOLVE(accept);
	fd = real_accept(s, a, al);
	if (fd < 0 || !active)
		return fd;
	saved = errno;
	pthread_mutex_lock(&mu);
	accept_note(fd);
	pthread_mutex_unlock(&mu);
	errno = saved;
	return fd;
}

int
accept4(int s, struct sockaddr *a, socklen_t *al, int flags)
{
	int fd, saved;

	RESOLVE(accept4);
	fd = real_accept4(s, a, al, flags);
	if (fd < 0 || !active)
		return fd;
	saved = errno;
	pthread_mutex_lock(&mu);
	accept_note(fd);
	pthread_mutex_unlock(&mu);
	errno = saved;
	return fd;
}
