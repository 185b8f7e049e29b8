/*
 * token: where the admin token comes from (contract §1, §10), one policy
 * for the daemon, which serves with it, and the command line, which sends
 * it: HOOKD_ADMIN_TOKEN, else the file admin_token_file names, else
 * DATADIR/admin.token.
 */
#ifndef HOOKD_TOKEN_H
#define HOOKD_TOKEN_H

#include <stddef.h>

#include "config.h"

/* Longest admin token read from a file or the environment, with its NUL. */
#define TOKEN_MAX 512

/*
 * Read a token file: one line, printable, trailing newline trimmed, into
 * tok (toksz bytes with the NUL). nofollow: refuse a symbolic link (the
 * data directory's own file, contract §18). warn: log a warning when group
 * or others may read the file (the daemon does; the command line does not
 * write log lines). 0, or -1 with err set ("PATH: reason"); errno is ENOENT
 * when the file does not exist.
 */
int token_read(const char *path, int nofollow, int warn, char *tok,
    size_t toksz, char *err, size_t errsz);

/*
 * The admin token an operator gave: HOOKD_ADMIN_TOKEN, else the file named
 * by cfg's admin_token_file, read into tok (toksz bytes). warn: log a
 * warning when it is shorter than 16 characters (the daemon's start and
 * -n do, contract §10; the token itself is never logged). 1 when a token
 * was given, 0 when neither is set (DATADIR/admin.token is then the
 * source), -1 with err set.
 */
int token_admin_given(const struct config *cfg, int warn, char *tok,
    size_t toksz, char *err, size_t errsz);

/*
 * The path of DATADIR/admin.token for cfg in path (pathsz bytes). 0, or -1
 * with err set when data_dir is too long.
 */
int token_admin_path(const struct config *cfg, char *path, size_t pathsz,
    char *err, size_t errsz);

#endif
