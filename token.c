/*
 * token: the admin token's sources (contract §1, §10): the environment, a
 * named file, the data directory's file. The daemon and the command line
 * (cli_api.c) both read it here, so they agree on where it is.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "log.h"
#include "token.h"
#include "util.h"

/* Shortest admin token not warned about (contract §10): a guessable token
 * is the whole API to whoever guesses it. */
#define TOKEN_WARN 16

int
token_read(const char *path, int nofollow, int warn, char *tok,
    size_t toksz, char *err, size_t errsz)
{
	struct stat st;
	size_t len = 0, i;
	ssize_t n;
	int fd, saved;

	/* In the data directory no link is followed (contract §18). */
	fd = open(path, O_RDONLY | (nofollow ? O_NOFOLLOW : 0));
	if (fd < 0) {
		saved = errno;
		util_err_set(err, errsz, path, strerror(errno));
		errno = saved;
		return -1;
	}
	if (warn && fstat(fd, &st) == 0 && (st.st_mode & 077) != 0) {
		char q[1100];

		log_line("warn", "admin token file is readable by others",
		    "path=%s", LOG_QUOTE(q, path));
	}
	for (;;) {
		n = read(fd, tok + len, toksz - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (len == toksz - 1)
			break;
	}
	saved = errno;
	close(fd);
	if (n < 0) {
		util_err_set(err, errsz, path, strerror(saved));
		errno = EIO;
		return -1;
	}
	while (len > 0 && (tok[len - 1] == '\n' || tok[len - 1] == '\r' ||
	    tok[len - 1] == ' ' || tok[len - 1] == '\t'))
		len--;
	tok[len] = '\0';
	for (i = 0; i < len; i++)
		if (tok[i] <= ' ' || tok[i] == 0x7f)
			break;
	if (len == 0 || i < len || len >= toksz - 2) {
		snprintf(err, errsz, "%s: not a token (one line of at most "
		    "%zu printable characters)", path, toksz - 3);
		errno = EINVAL;
		return -1;
	}
	return 0;
}

/* Contract §10: warn about an admin token an attacker could guess. The
 * token itself is never logged, only where it came from. */
static void
token_warn_short(const char *tok, const char *source)
{
	if (strlen(tok) < TOKEN_WARN)
		log_line("warn", "the admin token is shorter than 16 "
		    "characters; use a long random one (openssl rand -hex 32)",
		    "source=%s", source);
}

int
token_admin_given(const struct config *cfg, int warn, char *tok,
    size_t toksz, char *err, size_t errsz)
{
	const char *env = getenv("HOOKD_ADMIN_TOKEN");

	if (env != NULL && env[0] != '\0') {
		if ((size_t)snprintf(tok, toksz, "%s", env) >= toksz) {
			snprintf(err, errsz, "HOOKD_ADMIN_TOKEN is too long");
			return -1;
		}
		if (warn)
			token_warn_short(tok, "HOOKD_ADMIN_TOKEN");
		return 1;
	}
	if (cfg->admin_token_file[0] != '\0') {
		if (token_read(cfg->admin_token_file, 0, warn, tok, toksz, err,
		    errsz) != 0)
			return -1;
		if (warn)
			token_warn_short(tok, "admin_token_file");
		return 1;
	}
	return 0;
}

int
token_admin_path(const struct config *cfg, char *path, size_t pathsz,
    char *err, size_t errsz)
{
	if ((size_t)snprintf(path, pathsz, "%s/admin.token", cfg->data_dir) >=
	    pathsz) {
		snprintf(err, errsz, "data_dir is too long");
		return -1;
	}
	return 0;
}
