/* Fuzz target: the command line. The input, split at NUL bytes, is the
 * words after "hookd" (argv[1..]); they go through main's dispatch
 * (cli_command_of) and the parsing of the daemon's flags or of the
 * subcommand they name, the functions main and the subcommands call
 * before they run anything: nothing is started, sent or written. A
 * refusal must come with a message and one of the command's exit codes; an
 * accepted daemon line must hold a valid -l and -d; and the same words
 * must be judged the same way twice (getopt's state is reset). */
#include <stdlib.h>
#include <string.h>

#include "../../cli.h"
#include "../../config.h"
#include "fuzz.h"

/* Words at most: far more than any command takes. */
#define FUZZ_MAX_WORDS 256

/* The words of data as argv (argv[0] "hookd") in mem, which holds a copy
 * of data with a NUL after each word. Returns argc. */
static int
split(const uint8_t *data, size_t size, char *mem, char **argv)
{
	static char prog[] = "hookd";
	size_t i, start = 0;
	int argc = 1;

	argv[0] = prog;
	if (size > 0)
		memcpy(mem, data, size);
	mem[size] = '\0';
	argv[1] = NULL;
	if (size == 0)
		return argc;
	for (i = 0; i <= size && argc < FUZZ_MAX_WORDS; i++)
		if (i == size || mem[i] == '\0') {
			argv[argc++] = mem + start;
			start = i + 1;
		}
	argv[argc] = NULL;
	return argc;
}

/* One parse of argv as main does it. The exit code, err filled when it
 * is not 0. */
static int
parse(int argc, char **argv, char *err, size_t errsz)
{
	struct cli_daemon_opts o;
	struct sockaddr_storage ss;
	socklen_t sl;
	int rc = 0;

	err[0] = '\0';
	switch (cli_command_of(argc, argv)) {
	case CLI_SIGN:
		rc = cli_sign_args(argc - 1, argv + 1, err, errsz);
		if (rc != 0 && rc != 1)
			abort();
		break;
	case CLI_CHECK:
		rc = cli_check_args(argc - 1, argv + 1, err, errsz);
		if (rc != 0 && rc != 1)
			abort();
		break;
	case CLI_API:
		rc = cli_api_args(argc - 1, argv + 1, err, errsz);
		if (rc != 0 && rc != 2)
			abort();
		break;
	case CLI_EXPORT:
		rc = cli_export_args(argc - 1, argv + 1, err, errsz);
		if (rc != 0 && rc != 1)
			abort();
		break;
	case CLI_IMPORT:
		rc = cli_import_args(argc - 1, argv + 1, err, errsz);
		if (rc != 0 && rc != 1)
			abort();
		break;
	case CLI_LISTEN:
		rc = cli_listen_args(argc - 1, argv + 1, err, errsz);
		if (rc != 0 && rc != 2)
			abort();
		break;
	case CLI_DAEMON:
		rc = cli_daemon_parse(argc, argv, &o, err, errsz);
		if (rc < 0 || rc > 2)
			abort();
		if (rc != 0 || o.help || o.version)
			break;
		/* What the start is given is what the parse checked. */
		if (o.listen != NULL && config_listen_addr(o.listen, &ss,
		    &sl) != 0)
			abort();
		if (o.data_dir != NULL && (o.data_dir[0] == '\0' ||
		    strlen(o.data_dir) > 1023))
			abort();
		break;
	}
	if (rc != 0 && err[0] == '\0')
		abort();
	return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char *argv[FUZZ_MAX_WORDS + 1], *argv2[FUZZ_MAX_WORDS + 1];
	static char err[8192], err2[8192];
	char *mem = malloc(size + 1), *mem2 = malloc(size + 1);
	int argc, rc;

	if (mem == NULL || mem2 == NULL)
		abort();
	argc = split(data, size, mem, argv);
	rc = parse(argc, argv, err, sizeof(err));
	/* A fresh copy (getopt may have permuted the first) is judged the
	 * same: no state is left from one parse to the next. */
	(void)split(data, size, mem2, argv2);
	if (parse(argc, argv2, err2, sizeof(err2)) != rc ||
	    strcmp(err, err2) != 0)
		abort();
	free(mem);
	free(mem2);
	return 0;
}
