/*
 * cli: the subcommands of the hookd command line other than the daemon.
 * Each takes argv with argv[0] the subcommand's name, prints to stdout and
 * stderr, and returns the process's exit code. Only main includes this.
 */
#ifndef HOOKD_CLI_H
#define HOOKD_CLI_H

#include <stdio.h>

/* `hookd sign ...` and `hookd verify ...`: argv[0] is "sign" or "verify".
 * Reads the payload from standard input (at most 64 MiB), prints the
 * webhook-* headers (sign) or "valid" / "invalid: REASON" (verify). Returns
 * 0, or 1 on an invalid signature or any error (said on stderr). */
int cli_sign_main(int argc, char **argv);

/*
 * `hookd check [-d DATADIR] [-c CONFIG] [--fix]` (contract §18): list the
 * records of the data directory that cannot be read, one a line on stdout.
 * Returns 1 when any (or on an error), 0 when none; with --fix they are
 * moved to DATADIR/damaged-<time>.log and 0 is returned.
 */
int cli_check_main(int argc, char **argv);

/*
 * The subcommands that talk to a running hookd (contract §16, cli_api.c):
 * cli_api_is is 1 when word starts one (client, endpoint, send,
 * deliveries, retry, replay, tail); cli_api_main runs it (argv[0] is that
 * word) and returns the exit code: 0, 1 on an API or connection error (said
 * on stderr), 2 on a usage error; cli_api_usage lists them all on f.
 */
int cli_api_is(const char *word);
int cli_api_main(int argc, char **argv);
void cli_api_usage(FILE *f);

/*
 * `hookd export --client ID [-d DATADIR] [-c CONFIG] [-o FILE] [--delete]`
 * and `hookd import [-d DATADIR] [-c CONFIG] [FILE|-]` (contract §17,
 * cli_move.c): a client's records out of a stopped node's data directory,
 * and into another's. Return 0, or 1 on any error (said on stderr).
 */
int cli_export_main(int argc, char **argv);
int cli_import_main(int argc, char **argv);

#endif
