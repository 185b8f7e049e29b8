/*
 * cli_move: `hookd export` and `hookd import` (contract §17), the command
 * line of moving a client from one node to another; the store does the
 * work (store_move.c), offline, under each data directory's lock.
 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "store.h"
#include "util.h"

static const char export_usage[] = "usage: hookd export --client ID "
    "[-d DATADIR] [-c CONFIG] [-o FILE] [--delete]\n";
static const char import_usage[] = "usage: hookd import [-d DATADIR] "
    "[-c CONFIG] [FILE|-]\n";

/* The words of export or import: what the command does with them. */
struct move_opts {
	const char *config, *data_dir;
	const char *client;	/* export --client */
	const char *out;	/* export -o; NULL: standard output */
	int del;		/* export --delete */
	int help;		/* -h or --help: the usage is in err */
	const char *in;		/* import FILE; NULL or "-": standard input */
};

/* Say which word of the command line is wrong, into err (errsz bytes),
 * the usage after it. 1. */
static int
bad_word(const char *w, const char *usage, char *err, size_t errsz)
{
	if (strcmp(w, "-d") == 0 || strcmp(w, "-c") == 0 ||
	    strcmp(w, "-o") == 0 || strcmp(w, "--client") == 0)
		snprintf(err, errsz, "hookd: %s needs a value\n%s", w, usage);
	else if (w[0] == '-' && w[1] != '\0')
		snprintf(err, errsz, "hookd: unknown option \"%s\"\n%s", w,
		    usage);
	else
		snprintf(err, errsz, "hookd: unknown argument \"%s\"\n%s", w,
		    usage);
	return 1;
}

/* hookd export's words into o: 0 (o->help when -h asked for the usage,
 * which is then in err), or 1 with what to print (the message and the
 * usage, ending in a newline) in err. Nothing is run. */
static int
export_parse(int argc, char **argv, struct move_opts *o, char *err,
    size_t errsz)
{
	int i;

	memset(o, 0, sizeof(*o));
	for (i = 1; i < argc; i++) {
		if (cli_is_help(argv[i])) {
			snprintf(err, errsz, "%s", export_usage);
			o->help = 1;
			return 0;
		} else if (strcmp(argv[i], "--delete") == 0)
			o->del = 1;
		else if (strcmp(argv[i], "--client") == 0 && i + 1 < argc)
			o->client = argv[++i];
		else if (strcmp(argv[i], "-d") == 0 && i + 1 < argc)
			o->data_dir = argv[++i];
		else if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			o->config = argv[++i];
		else if (strcmp(argv[i], "-o") == 0 && i + 1 < argc)
			o->out = argv[++i];
		else
			return bad_word(argv[i], export_usage, err, errsz);
	}
	/* "-o -" is standard output, as import's "-" is standard input. */
	if (o->out != NULL && strcmp(o->out, "-") == 0)
		o->out = NULL;
	if (o->client == NULL) {
		snprintf(err, errsz, "hookd: export needs --client ID (the "
		    "client to move)\n%s", export_usage);
		return 1;
	}
	/* The deletion must follow an export that is on disk, not one in a
	 * pipe whose reader may yet fail. */
	if (o->del && o->out == NULL) {
		snprintf(err, errsz, "hookd: --delete needs -o FILE: the client "
		    "is deleted only once its export is on disk\n%s",
		    export_usage);
		return 1;
	}
	return 0;
}

/* hookd import's words into o, as export_parse. */
static int
import_parse(int argc, char **argv, struct move_opts *o, char *err,
    size_t errsz)
{
	int i;

	memset(o, 0, sizeof(*o));
	for (i = 1; i < argc; i++) {
		if (cli_is_help(argv[i])) {
			snprintf(err, errsz, "%s", import_usage);
			o->help = 1;
			return 0;
		} else if (strcmp(argv[i], "-d") == 0 && i + 1 < argc)
			o->data_dir = argv[++i];
		else if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			o->config = argv[++i];
		else if (o->in == NULL && (argv[i][0] != '-' ||
		    strcmp(argv[i], "-") == 0))
			o->in = argv[i];
		else
			return bad_word(argv[i], import_usage, err, errsz);
	}
	return 0;
}

int
cli_export_args(int argc, char **argv, char *err, size_t errsz)
{
	struct move_opts o;

	return export_parse(argc, argv, &o, err, errsz);
}

int
cli_import_args(int argc, char **argv, char *err, size_t errsz)
{
	struct move_opts o;

	return import_parse(argc, argv, &o, err, errsz);
}

/* A new unlinked file in TMPDIR (or /tmp), read-write. The descriptor, or
 * -1 with err set. */
static int
temp_file(char *err, size_t errsz)
{
	const char *d = getenv("TMPDIR");
	char path[1100];
	int fd;

	if (d == NULL || d[0] == '\0')
		d = "/tmp";
	if (snprintf(path, sizeof(path), "%s/hookd-move.XXXXXX", d) >=
	    (int)sizeof(path)) {
		snprintf(err, errsz, "%s: path too long", d);
		return -1;
	}
	if ((fd = mkstemp(path)) < 0) {
		util_err_set(err, errsz, path, strerror(errno));
		return -1;
	}
	(void)unlink(path);
	return fd;
}

/* Copy all of fd (from its start) to standard output. 0 or -1. */
static int
copy_out(int fd)
{
	char b[65536];
	ssize_t n;
	off_t off = 0;

	while ((n = pread(fd, b, sizeof(b), off)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || fwrite(b, 1, (size_t)n, stdout) != (size_t)n)
			return -1;
		off += n;
	}
	return fflush(stdout) == 0 ? 0 : -1;
}

/* The directory part of path ("." when none) into out. */
static void
dir_of(const char *path, char *out, size_t outsz)
{
	const char *s = strrchr(path, '/');

	if (s == NULL)
		snprintf(out, outsz, ".");
	else if (s == path)
		snprintf(out, outsz, "/");
	else
		snprintf(out, outsz, "%.*s", (int)(s - path), path);
}

/* 1 when directory d is the data directory dd (the same device and
 * inode: "." or a symbolic link naming it is caught too), 0 when not or
 * when either does not exist (then nothing of dd can be overwritten
 * through d). */
static int
in_data_dir(const char *d, const char *dd)
{
	struct stat a, b;

	return stat(d, &a) == 0 && stat(dd, &b) == 0 &&
	    a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* path made absolute (the current directory before it) into out, for
 * the message of an interrupted import, which may be read elsewhere. 0, or
 * -1 when it does not fit. */
static int
abs_path(const char *path, char *out, size_t outsz)
{
	char cwd[1100];

	if (path[0] == '/')
		return snprintf(out, outsz, "%s", path) < (int)outsz ? 0 : -1;
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		return -1;
	return snprintf(out, outsz, "%s/%s", cwd, path) < (int)outsz ? 0 : -1;
}

/* The start export and import share: the words by parse into o, then the
 * config they name into *c (the caller frees it). -1 to go on, else the
 * exit code, with what to say printed: 0 after the usage (-h), 1 after a
 * usage error or a config that cannot be read. */
static int
move_setup(int (*parse)(int, char **, struct move_opts *, char *, size_t),
    int argc, char **argv, struct move_opts *o, struct config **c)
{
	/* msg: room for a word of the command line quoted whole. */
	char err[1400], msg[8192];

	*c = NULL;
	if (parse(argc, argv, o, msg, sizeof(msg)) != 0) {
		fputs(msg, stderr);
		return 1;
	}
	if (o->help) {
		fputs(msg, stdout);
		return 0;
	}
	*c = config_read(o->config, NULL, o->data_dir, err, sizeof(err));
	if (*c == NULL) {
		fprintf(stderr, "hookd: %s\n", err);
		return 1;
	}
	store_set_max_log((*c)->max_log_attempts);
	return -1;
}

int
cli_export_main(int argc, char **argv)
{
	const char *out, *client;
	struct store_move_stats st;
	struct move_opts o;
	struct config *c;
	char err[1400], dir[1100], tmp[1100];
	int fd, del, ret;

	if ((ret = move_setup(export_parse, argc, argv, &o, &c)) >= 0)
		return ret;
	ret = 1;
	out = o.out;
	client = o.client;
	del = o.del;
	if (out != NULL) {
		/* The export is written to FILE.tmp and renamed to FILE once
		 * whole: a refused export (the node runs, no such client)
		 * leaves an earlier FILE as it was. */
		dir_of(out, dir, sizeof(dir));
		if (in_data_dir(dir, c->data_dir)) {
			fprintf(stderr, "hookd: -o %s is inside the data "
			    "directory %s: write the export elsewhere (it "
			    "could replace the node's own files)\n", out,
			    c->data_dir);
			goto done;
		}
		if (snprintf(tmp, sizeof(tmp), "%s.tmp", out) >=
		    (int)sizeof(tmp)) {
			fprintf(stderr, "hookd: %s: path too long\n", out);
			goto done;
		}
		fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC |
		    O_NOFOLLOW, 0600);
		if (fd < 0 && errno == EEXIST) {
			fprintf(stderr, "hookd: %s exists: another export to %s "
			    "runs, or one was interrupted (then remove %s)\n",
			    tmp, out, tmp);
			goto done;
		}
		if (fd < 0) {
			fprintf(stderr, "hookd: %s: %s\n", tmp,
			    strerror(errno));
			goto done;
		}
	} else if ((fd = temp_file(err, sizeof(err))) < 0) {
		fprintf(stderr, "hookd: %s\n", err);
		goto done;
	}
	if (store_export(c->data_dir, client, fd, out != NULL ? tmp : NULL,
	    out, del, &st, err, sizeof(err)) != 0) {
		fprintf(stderr, "hookd: %s\n", err);
		close(fd);
		if (out != NULL)
			(void)unlink(tmp);
		goto done;
	}
	if (out == NULL && copy_out(fd) != 0) {
		fprintf(stderr, "hookd: standard output: %s\n",
		    strerror(errno));
		close(fd);
		goto done;
	}
	close(fd);
	fprintf(stderr, "hookd: exported client %s from %s: %zu endpoint%s, "
	    "%zu event%s, %zu deliver%s (%zu pending)%s%s%s\n", st.client,
	    c->data_dir, st.endpoints, st.endpoints == 1 ? "" : "s",
	    st.events, st.events == 1 ? "" : "s", st.deliveries,
	    st.deliveries == 1 ? "y" : "ies", st.pending,
	    out != NULL ? " to " : "", out != NULL ? out : "",
	    del ? "; deleted it here: start this node again only now" : "");
	ret = 0;
done:
	config_free(c);
	free(c);
	return ret;
}

static void
import_report(const char *line)
{
	fprintf(stderr, "hookd: %s\n", line);
}

int
cli_import_main(int argc, char **argv)
{
	const char *in, *abs = NULL;
	struct store_move_stats st;
	struct move_opts o;
	struct config *c;
	char err[1400], path[2200];
	int fd, ret;

	if ((ret = move_setup(import_parse, argc, argv, &o, &c)) >= 0)
		return ret;
	ret = 1;
	in = o.in;
	if (in == NULL || strcmp(in, "-") == 0) {
		/* Read twice (checked alone, then against the target): a
		 * pipe is kept in a file first. */
		char b[65536];
		ssize_t n;

		in = "stdin";
		if ((fd = temp_file(err, sizeof(err))) < 0) {
			fprintf(stderr, "hookd: %s\n", err);
			goto done;
		}
		while ((n = read(0, b, sizeof(b))) != 0) {
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 || write(fd, b, (size_t)n) != n) {
				fprintf(stderr, "hookd: stdin: %s\n",
				    strerror(errno));
				close(fd);
				goto done;
			}
		}
	} else if ((fd = open(in, O_RDONLY | O_CLOEXEC)) < 0) {
		fprintf(stderr, "hookd: %s: %s\n", in, strerror(errno));
		goto done;
	} else if (abs_path(in, path, sizeof(path)) == 0)
		abs = path;
	if (store_import(c->data_dir, fd, in, abs, import_report, &st, err,
	    sizeof(err)) != 0) {
		fprintf(stderr, "hookd: %s\n", err);
		close(fd);
		goto done;
	}
	close(fd);
	if (st.new_client + st.endpoints + st.events == 0)
		fprintf(stderr, "hookd: nothing new in %s: client %s and its "
		    "records are in %s already (%zu record%s skipped)\n", in,
		    st.client, c->data_dir, st.skipped,
		    st.skipped == 1 ? "" : "s");
	else
		fprintf(stderr, "hookd: imported client %s into %s: %s%zu "
		    "endpoint%s, %zu event%s, %zu deliver%s; %zu record%s "
		    "already there skipped\n", st.client, c->data_dir,
		    st.new_client ? "the client, " : "", st.endpoints,
		    st.endpoints == 1 ? "" : "s", st.events,
		    st.events == 1 ? "" : "s", st.deliveries,
		    st.deliveries == 1 ? "y" : "ies", st.skipped,
		    st.skipped == 1 ? "" : "s");
	ret = 0;
done:
	config_free(c);
	free(c);
	return ret;
}
