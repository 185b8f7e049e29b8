/*
 * cli: the subcommands of the hookd command line other than the daemon.
 * Each takes argv with argv[0] the subcommand's name, prints to stdout and
 * stderr, and returns the process's exit code. Only main and the cli
 * files include this.
 */
#ifndef HOOKD_CLI_H
#define HOOKD_CLI_H

#include <stdio.h>
#include <stddef.h>
#include <stdint.h>

/* 1 when the word w asks a subcommand for its usage (-h or --help, as
 * the daemon's own; printed on stdout, exit 0), else 0. The one test of it
 * every subcommand's parser calls. */
int cli_is_help(const char *w);

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

/* ---- hookd listen and the verification it shares with hookd verify ---- */
/* The Standard Webhooks headers a receiver checks, by index, and their
 * names (lower case). */
enum { CLI_HDR_ID, CLI_HDR_TIMESTAMP, CLI_HDR_SIGNATURE, CLI_HDR_COUNT };
extern const char *const cli_sig_hdr_names[CLI_HDR_COUNT];
/* Their values as spans into the caller's memory (v NULL when absent), and
 * how many times each header was seen. */
struct cli_sig_hdrs {
	const char *v[CLI_HDR_COUNT];
	size_t len[CLI_HDR_COUNT];
	int count[CLI_HDR_COUNT];
};
/* The Standard Webhooks' default tolerance in seconds: a captured delivery
 * cannot be replayed to the receiver later than this. */
#define CLI_VERIFY_TOLERANCE 300
/*
 * The one check of a delivery's signature (hookd verify and hookd listen):
 * each header present once, the timestamp within tol seconds of now (Unix
 * seconds), and any v1 signature of the list equal, in constant time, to
 * the one computed with any of the nkeys decoded keys (keys[i], klens[i]
 * bytes; two during a rotation) over payload (plen bytes). Returns NULL
 * when valid, else the reason ("no signature matches", "timestamp too
 * old", ...; a static string).
 */
const char *cli_verify_sig(const struct cli_sig_hdrs *h,
    const uint8_t *const *keys, const size_t *klens, size_t nkeys,
    int64_t now, int64_t tol, const void *payload, size_t plen);
/* `hookd sign --curl URL`: print a command for sh (printf piped into curl)
 * that POSTs payload (plen bytes) to url with the webhook-* headers id, ts
 * and sig, every word shell-quoted. Returns 0, or 1 with the reason on
 * stderr (a URL that is not http(s), a payload with a NUL byte). */
int cli_sign_curl(const char *url, const char *id, int64_t ts,
    const char *sig, const char *payload, size_t plen);
/* `hookd listen [-p PORT] [-l HOST] --secret whsec_... [--secret ...]
 * [--ack] [--json]`: a local receiver that verifies and prints every
 * request until SIGINT or SIGTERM. Returns 0 then, 1 when it cannot
 * listen, 2 on a usage error. */
int cli_listen_main(int argc, char **argv);

/* ---- the command line, parsed without running anything ----
 * main calls these to decide what to run, and tests/fuzz/fuzz_cmdline.c
 * calls them on arbitrary words: none prints, opens, binds or exits. */

/* The command argv names (argv[1]): a subcommand, else the daemon. */
enum cli_command {
	CLI_DAEMON, CLI_SIGN, CLI_CHECK, CLI_API, CLI_EXPORT, CLI_IMPORT,
	CLI_LISTEN
};
enum cli_command cli_command_of(int argc, char **argv);

/* The daemon's flags (hookd(8)); pointers into argv. */
struct cli_daemon_opts {
	const char *config;	/* -c, NULL when not given */
	const char *listen;	/* -l, checked as ADDR:PORT */
	const char *data_dir;	/* -d, 1 to 1023 bytes */
	int check_only;		/* -n */
	int verbose;		/* -v */
	int help;		/* -h or --help: print the usage, exit 0 */
	int version;		/* -V or --version: print it, exit 0 */
};

/*
 * The daemon's command line (argv[0] the program) into o. Returns 0, or
 * the exit code of a usage error (1: a bad option or value, 2: a word that
 * is no command) with its message line in err (errsz bytes, no newline),
 * the usage to be printed after it. Uses getopt (optind is reset, opterr
 * set to 0; argv may be permuted, as getopt does).
 */
int cli_daemon_parse(int argc, char **argv, struct cli_daemon_opts *o,
    char *err, size_t errsz);

/*
 * The argument parsing of each subcommand, alone: argv as its cli_*_main
 * takes it. Each returns 0 when the words are valid or ask for --help, else
 * the exit code its main returns for them, with what it prints in err
 * (errsz bytes; the message, and for most the usage). Their mains parse
 * through the same code.
 */
int cli_sign_args(int argc, char **argv, char *err, size_t errsz);
int cli_check_args(int argc, char **argv, char *err, size_t errsz);
int cli_api_args(int argc, char **argv, char *err, size_t errsz);
int cli_export_args(int argc, char **argv, char *err, size_t errsz);
int cli_import_args(int argc, char **argv, char *err, size_t errsz);
int cli_listen_args(int argc, char **argv, char *err, size_t errsz);

#endif
