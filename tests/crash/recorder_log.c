/*
 * recorder_log.c: the record log of tests/crash/recorder.so: one record a
 * line, built in a buffer and appended under mu; paths made relative to
 * DATADIR; the set-up at load and across fork. See recorder.c.
 */
#define _GNU_SOURCE
#define REAL(name) __typeof__(name) *real_##name
#include "recorder.h"

struct rec_fd fds[REC_MAXFD];
pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
int log_fd = -1;
char rec_dir[PATH_MAX * 4];
size_t rec_dir_len;
int active;


/*
 * A record that cannot be kept makes the model false, so the process ends;
 * first say why on standard error (a full /dev/shm, a bad HOOKD_REC_LOG),
 * or the user sees only a daemon that vanished.
 */
void
die(const char *what, int err)
{
	char t[512];
	int n;

	n = snprintf(t, sizeof(t), "hookd recorder (tests/crash/recorder.so): "
	    "%s: %s; the recording is incomplete\n", what, strerror(err));
	if (n > 0) {
		RESOLVE(write);
		(void)real_write(2, t, (size_t)n < sizeof(t) ? (size_t)n :
		    sizeof(t) - 1);
	}
	abort();
}

/* ---- the record buffer (one per call, under mu) ---- */


static void
rb_put(struct rbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = (b->len + n + 1) * 2 + 256;
		char *q = realloc(b->p, cap);

		if (q == NULL)	/* a lost record would make a false model */
			die("out of memory", ENOMEM);
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

static void
rb_puts(struct rbuf *b, const char *s)
{
	rb_put(b, s, strlen(s));
}

void
rb_num(struct rbuf *b, const char *key, long long v)
{
	char t[64];

	snprintf(t, sizeof(t), ",\"%s\":%lld", key, v);
	rb_puts(b, t);
}

/* A JSON string member: paths are escaped byte by byte. */
void
rb_str(struct rbuf *b, const char *key, const char *s)
{
	char t[8];

	rb_puts(b, ",\"");
	rb_puts(b, key);
	rb_puts(b, "\":\"");
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
			snprintf(t, sizeof(t), "\\u%04x", c);
			rb_puts(b, t);
		} else
			rb_put(b, (const char *)&c, 1);
	}
	rb_puts(b, "\"");
}

static void
rb_hex(struct rbuf *b, const void *p, size_t n)
{
	static const char hx[] = "0123456789abcdef";
	const unsigned char *s = p;
	char t[512];
	size_t i, k = 0;

	rb_puts(b, ",\"data\":\"");
	for (i = 0; i < n; i++) {
		t[k++] = hx[s[i] >> 4];
		t[k++] = hx[s[i] & 15];
		if (k == sizeof(t)) {
			rb_put(b, t, k);
			k = 0;
		}
	}
	rb_put(b, t, k);
	rb_puts(b, "\"");
}

void
rb_begin(struct rbuf *b, const char *op)
{
	char t[160];

	b->p = NULL;
	b->len = b->cap = 0;
	snprintf(t, sizeof(t), "{\"op\":\"%s\",\"pid\":%ld,\"tid\":%ld", op,
	    (long)getpid(), (long)syscall(SYS_gettid));
	rb_puts(b, t);
}

/* End the line and append it with one write(2). */
void
rb_end(struct rbuf *b)
{
	size_t done = 0;

	rb_puts(b, "}\n");
	RESOLVE(write);
	while (done < b->len) {
		ssize_t w = real_write(log_fd, b->p + done, b->len - done);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			die("cannot append to HOOKD_REC_LOG",
			    w < 0 ? errno : ENOSPC);
		done += (size_t)w;
	}
	free(b->p);
}

/* ---- paths ---- */

/* Normalize an absolute path in place: no "//", ".", "..". */
static void
norm(char *p)
{
	char *out = p, *s = p;

	while (*s != '\0') {
		char *e;
		size_t n;

		while (*s == '/')
			s++;
		if (*s == '\0')
			break;
		e = strchr(s, '/');
		n = e ? (size_t)(e - s) : strlen(s);
		if (n == 1 && s[0] == '.') {
			/* nothing */
		} else if (n == 2 && s[0] == '.' && s[1] == '.') {
			while (out > p && *--out != '/')
				;
		} else {
			*out++ = '/';
			memmove(out, s, n);
			out += n;
		}
		s += n;
	}
	if (out == p)
		*out++ = '/';
	*out = '\0';
}

/*
 * The path of (dirfd, path) relative to the watched directory into rel:
 * 1 when it is inside ("" for the directory itself), 0 when not.
 */
int
rel_path(int dirfd, const char *path, char *rel, size_t relsz)
{
	char abs[PATH_MAX * 2], base[PATH_MAX];
	int saved = errno;

	if (!active || path == NULL)
		return 0;
	if (path[0] == '/')
		base[0] = '\0';
	else if (dirfd == AT_FDCWD) {
		if (getcwd(base, sizeof(base)) == NULL) {
			errno = saved;
			return 0;
		}
	} else {
		char lnk[64];
		ssize_t n;

		snprintf(lnk, sizeof(lnk), "/proc/self/fd/%d", dirfd);
		n = readlink(lnk, base, sizeof(base) - 1);
		if (n < 0) {
			errno = saved;
			return 0;
		}
		base[n] = '\0';
	}
	errno = saved;
	if ((size_t)snprintf(abs, sizeof(abs), "%s/%s", base, path) >=
	    sizeof(abs))
		return 0;
	norm(abs);
	if (strncmp(abs, rec_dir, rec_dir_len) != 0 ||
	    (abs[rec_dir_len] != '\0' && abs[rec_dir_len] != '/'))
		return 0;
	snprintf(rel, relsz, "%s", abs[rec_dir_len] == '/' ?
	    abs + rec_dir_len + 1 : "");
	return 1;
}

unsigned long long
ino_of_path(int dirfd, const char *path, int *exists)
{
	struct stat sb;
	int saved = errno;

	*exists = fstatat(dirfd, path, &sb, AT_SYMLINK_NOFOLLOW) == 0;
	errno = saved;
	return *exists ? (unsigned long long)sb.st_ino : 0;
}

struct rec_fd *
tracked(int fd)
{
	if (!active || fd < 0 || fd >= REC_MAXFD || fds[fd].kind == FD_NONE)
		return NULL;
	return &fds[fd];
}

/* ---- set-up ---- */

static void
at_prepare(void)
{
	pthread_mutex_lock(&mu);
}

static void
at_parent(void)
{
	pthread_mutex_unlock(&mu);
}

static void
at_child(void)
{
	struct rbuf b;
	char t[64];

	pthread_mutex_unlock(&mu);
	if (!active)
		return;
	pthread_mutex_lock(&mu);
	rb_begin(&b, "fork");
	snprintf(t, sizeof(t), ",\"ppid\":%ld", (long)getppid());
	rb_puts(&b, t);
	rb_end(&b);
	pthread_mutex_unlock(&mu);
}

__attribute__((constructor)) static void
rec_init(void)
{
	const char *dir = getenv("HOOKD_REC_DIR");
	const char *logp = getenv("HOOKD_REC_LOG");
	char abs[PATH_MAX * 2], parent[PATH_MAX * 2], *slash;
	struct rbuf b;

	RESOLVE(open);
	if (dir == NULL || logp == NULL || *dir == '\0')
		return;
	if (dir[0] != '/' && getcwd(parent, PATH_MAX) == NULL)
		die("getcwd", errno);
	if ((size_t)snprintf(abs, sizeof(abs), "%s/%s", dir[0] == '/' ? "" :
	    parent, dir) >= sizeof(abs))
		die("HOOKD_REC_DIR", ENAMETOOLONG);
	norm(abs);
	/* The directory may not exist yet: resolve its parent's links. */
	slash = strrchr(abs, '/');
	*slash = '\0';
	if (realpath(abs[0] ? abs : "/", parent) == NULL)
		snprintf(parent, sizeof(parent), "%s", abs);
	if ((size_t)snprintf(rec_dir, sizeof(rec_dir), "%s/%s",
	    strcmp(parent, "/") == 0 ? "" : parent, slash + 1) >=
	    sizeof(rec_dir))
		die("HOOKD_REC_DIR", ENAMETOOLONG);
	rec_dir_len = strlen(rec_dir);
	log_fd = real_open(logp, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
	    0600);
	if (log_fd < 0)
		die("cannot open HOOKD_REC_LOG", errno);
	/* Keep the log above the descriptors the program uses. */
	RESOLVE(fcntl);
	RESOLVE(close);
	{
		int hi = real_fcntl(log_fd, F_DUPFD_CLOEXEC, 1000);

		if (hi >= 0) {
			real_close(log_fd);
			log_fd = hi;
		}
	}
	pthread_atfork(at_prepare, at_parent, at_child);
	active = 1;
	rb_begin(&b, "start");
	rb_str(&b, "dir", rec_dir);
	rb_end(&b);
}

/* ---- records of file operations ---- */

void
rec_open(const char *rel, int fd, int flags, int existed)
{
	struct stat sb;
	struct rbuf b;
	int isdir;

	if (fd < 0 || fd >= REC_MAXFD || fstat(fd, &sb) != 0)
		return;
	isdir = S_ISDIR(sb.st_mode);
	fds[fd].kind = isdir ? FD_DIR : FD_FILE;
	fds[fd].ino = (unsigned long long)sb.st_ino;
	rb_begin(&b, "open");
	rb_str(&b, "path", rel);
	rb_num(&b, "fd", fd);
	rb_num(&b, "flags", flags);
	rb_num(&b, "ino", (long long)sb.st_ino);
	rb_num(&b, "isdir", isdir);
	rb_num(&b, "existed", existed);
	rb_end(&b);
}

void
rec_write(int fd, const struct rec_fd *t, long long off, const void *p,
    size_t n)
{
	struct rbuf b;

	rb_begin(&b, "write");
	rb_num(&b, "fd", fd);
	rb_num(&b, "ino", (long long)t->ino);
	rb_num(&b, "off", off);
	rb_num(&b, "n", (long long)n);
	rb_hex(&b, p, n);
	rb_end(&b);
}

void
rec_net(const char *op, int fd, const void *p, size_t n)
{
	struct rbuf b;

	rb_begin(&b, op);
	rb_num(&b, "fd", fd);
	rb_num(&b, "n", (long long)n);
	rb_hex(&b, p, n < REC_NET_MAX ? n : REC_NET_MAX);
	rb_end(&b);
}

void
rec_fdop(const char *op, int fd, const struct rec_fd *t, const char *k1,
    long long v1, const char *k2, long long v2, const char *k3,
    long long v3)
{
	struct rbuf b;

	rb_begin(&b, op);
	rb_num(&b, "fd", fd);
	rb_num(&b, "ino", (long long)t->ino);
	if (k1)
		rb_num(&b, k1, v1);
	if (k2)
		rb_num(&b, k2, v2);
	if (k3)
		rb_num(&b, k3, v3);
	rb_end(&b);
}

void
rec_path(const char *op, const char *rel, int has_ino,
    unsigned long long ino)
{
	struct rbuf b;

	rb_begin(&b, op);
	rb_str(&b, "path", rel);
	if (has_ino)
		rb_num(&b, "ino", (long long)ino);
	rb_end(&b);
}

void
rec_outside(const char *call, const char *rel)
{
	struct rbuf b;

	rb_begin(&b, "outside");
	rb_str(&b, "call", call);
	rb_str(&b, "path", rel);
	rb_end(&b);
}

