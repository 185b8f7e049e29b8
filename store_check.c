/*
 * store_check: hookd check and --fix (contract §18): list the records that
 * cannot be read, move them to damaged-<time>.log and rewrite the files
 * without them.
 */
#include "store_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Move the bad records of file f (journal or registry) to dmg and rewrite
 * f without them, attempt chains ("prev") moved to the new offsets. 0 or -1
 * with err set. The damaged file and FILE.fix are fsync'd before the rename
 * over f, so a crash before it leaves f as it was (running --fix again
 * moves the same records to a new damaged file), and after it f without
 * them and the damaged file with them. */
static int
check_rewrite(struct logfile *f, int journal, int dmg, char *err,
    size_t errsz)
{
	struct logfile n = { .fd = -1 }, saved = st_files.jrn;
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
	olds = malloc((st_replay.nbad + 1) * sizeof(*olds));
	if (n.fd < 0 || olds == NULL)
		goto fail;
	/* read_record reads the journal's descriptor: point it at f. */
	st_files.jrn = *f;
	for (i = 0; i < st_replay.nbad; i++) {
		const struct store_bad *b = &st_replay.bad[i];

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

		while (k < st_replay.nbad &&
		    (st_replay.bad[k].journal != journal ||
		    st_replay.bad[k].off < off))
			k++;
		if (k < st_replay.nbad && st_replay.bad[k].off == off)
			b = &st_replay.bad[k];
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
			oo = realloc(olds, (nmap + 1 + st_replay.nbad) *
			    sizeof(*oo));
			if (oo == NULL)
				goto fail;
			olds = oo;
			olds[nmap] = off;
			news[nmap++] = got;
		}
		off += (off_t)len;
	}
	if (io_fsync(n.fd) != 0 || util_fsync(dmg) != 0 ||
	    io_rename(tmp, f->path) != 0 ||
	    util_fsync_dir(st_files.dir, io_fsync) != 0)
		goto fail;
	ok = 1;
fail:
	if (!ok) {
		snprintf(err, errsz, "%s: cannot rewrite: %s", f->path,
		    strerror(errno));
		if (n.fd >= 0)
			unlink(tmp);
	}
	st_files.jrn = saved;
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
	struct logfile *files[2] = { &st_files.reg, &st_files.jrn };
	int i, dmg = -1, r = -1;
	size_t k;

	moved[0] = '\0';
	crc_init();
	if (store_dir_present(dir, err, errsz) != 0)
		return -1;
	if (store_lock(dir, err, errsz) != 0)
		return -1;
	/* Half an import reads back record by record: said apart. */
	if (store_import_interrupted(dir, err, errsz) != 0)
		return -1;
	if (snprintf(st_files.dir, sizeof(st_files.dir), "%s", dir) >=
	    (int)sizeof(st_files.dir)) {
		snprintf(err, errsz, "%s: path too long", dir);
		return -1;
	}
	st_replay.ntoks = 256;
	st_replay.toks = malloc(st_replay.ntoks * sizeof(*st_replay.toks));
	if (st_replay.toks == NULL) {
		snprintf(err, errsz, "out of memory");
		return -1;
	}
	st_replay.checking = 1;
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
		st_replay.check_fd = f->fd;
		if (replay_file(f, names[i], i, i ? replay_journal :
		    replay_registry, err, errsz, NULL) != 0)
			goto out;
		f->size = sb.st_size;	/* the torn tail too */
	}
	for (k = 0; k < st_replay.nbad; k++) {
		const struct store_bad *b = &st_replay.bad[k];
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
	r = st_replay.nbad > 0;
	if (!fix || st_replay.nbad == 0)
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
			util_err_set(err, errsz, path, strerror(errno));
			r = -1;
			goto out;
		}
		snprintf(moved, movedsz, "%s", path);
	}
	for (i = 0; i < 2; i++) {
		for (k = 0; k < st_replay.nbad &&
		    st_replay.bad[k].journal != i; k++)
			;
		if (k == st_replay.nbad)
			continue;
		if (check_rewrite(files[i], i, dmg, err, errsz) != 0) {
			r = -1;
			goto out;
		}
	}
	r = 1;
out:
	if (dmg >= 0 && close(dmg) != 0 && r == 0) {
		util_err_set(err, errsz, moved, strerror(errno));
		r = -1;
	}
	free(st_replay.bad);
	st_replay.bad = NULL;
	st_replay.nbad = st_replay.capbad = 0;
	st_replay.checking = 0;
	store_close();
	return r;
}
