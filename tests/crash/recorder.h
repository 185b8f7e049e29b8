/*
 * recorder.h: what the two halves of tests/crash/recorder.so share: the
 * record log and its lock, the descriptor table, the real functions found
 * with dlsym(RTLD_NEXT), and the records (recorder_log.c); the functions
 * hookd calls are wrapped in recorder.c. See recorder.c for the format.
 */
#ifndef HOOKD_RECORDER_H
#define HOOKD_RECORDER_H

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

/* Descriptors above this are not tracked (hookd's files and connections
 * in a test workload stay far below it). */
#define REC_MAXFD 65536
/* The bytes of a request or answer kept per call: the status line, the
 * headers and a body with the ids of a small test request. */
#define REC_NET_MAX 8192

enum { FD_NONE, FD_FILE, FD_DIR, FD_SOCK };

struct rec_fd {
	unsigned char kind;
	unsigned long long ino;
};

/* Hidden: a preloaded library's globals must not stand in for names of
 * the program's own (die, active, fds...). */
#pragma GCC visibility push(hidden)

extern struct rec_fd fds[REC_MAXFD];
extern pthread_mutex_t mu;
extern int log_fd;
extern char rec_dir[PATH_MAX * 4];
extern size_t rec_dir_len;
extern int active;

/* The real functions, found with dlsym(RTLD_NEXT) on first use (the
 * 64-bit and fortified names call the same ones). */
#ifndef REAL
#define REAL(name) extern __typeof__(name) *real_##name
#endif
REAL(open); REAL(openat);
REAL(write); REAL(pwrite); REAL(writev); REAL(pwritev);
REAL(fsync); REAL(fdatasync); REAL(sync_file_range); REAL(rename);
REAL(renameat); REAL(renameat2); REAL(unlink); REAL(unlinkat);
REAL(rmdir); REAL(ftruncate); REAL(fallocate);
REAL(posix_fallocate); REAL(mkdirat); REAL(close);
REAL(dup); REAL(dup2); REAL(dup3); REAL(fcntl); REAL(accept);
REAL(accept4); REAL(read); REAL(send); REAL(sendmsg); REAL(recv);
REAL(link); REAL(socket); REAL(linkat); REAL(truncate); REAL(symlink);

#define RESOLVE(name) do { if (real_##name == NULL) \
	real_##name = (__typeof__(real_##name))dlsym(RTLD_NEXT, #name); \
	} while (0)

struct rbuf {
	char *p;
	size_t len, cap;
};

/* The records (recorder_log.c); each is called with mu held. */
void die(const char *what, int err);
void rb_begin(struct rbuf *b, const char *op);
void rb_end(struct rbuf *b);
void rb_num(struct rbuf *b, const char *key, long long v);
void rb_str(struct rbuf *b, const char *key, const char *s);
int rel_path(int dirfd, const char *path, char *rel, size_t relsz);
unsigned long long ino_of_path(int dirfd, const char *path, int *exists);
struct rec_fd *tracked(int fd);
void rec_open(const char *rel, int fd, int flags, int existed);
void rec_write(int fd, const struct rec_fd *t, long long off, const void *p,
    size_t n);
void rec_net(const char *op, int fd, const void *p, size_t n);
void rec_fdop(const char *op, int fd, const struct rec_fd *t, const char *k1,
    long long v1, const char *k2, long long v2, const char *k3, long long v3);
void rec_path(const char *op, const char *rel, int has_ino,
    unsigned long long ino);
void rec_outside(const char *call, const char *rel);

#pragma GCC visibility pop

#endif
