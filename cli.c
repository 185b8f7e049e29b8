/*
 * cli: the subcommands of hookd that are not the daemon: `hookd sign` and
 * `hookd verify` (Standard Webhooks signatures for receivers, on top of
 * sign.c; the check itself, cli_verify_sig, is shared with hookd listen in
 * cli_listen.c) and `hookd check` (the data directory's unreadable records).
 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "http.h"
#include "sign.h"
#include "store.h"
#include "util.h"

/* ------------------------------------------------------------------ */
/* hookd sign / hookd verify */

/*
 * Limits of the command-line tools.
 * SIGN_CLI_PAYLOAD_MAX: standard input is read whole; the cap makes a
 *   mistaken `< /dev/zero` or an endless pipe fail instead of eating memory.
 *   It is far above max_body, so every real delivery fits.
 * SIGN_CLI_HEADERS_MAX: the same for --headers; a captured request with its
 *   body still fits.
 */
#define SIGN_CLI_PAYLOAD_MAX (64u * 1024 * 1024)
#define SIGN_CLI_HEADERS_MAX (4u * 1024 * 1024)

static const char sign_usage[] =
    "usage: hookd sign --secret whsec_... --id ID [--timestamp UNIX]\n"
    "                  [--curl URL] < PAYLOAD\n"
    "       hookd verify --secret whsec_... [--id ID] [--timestamp UNIX]\n"
    "                    [--signature \"v1,... v1,...\"] [--headers FILE]\n"
    "                    [--tolerance SECONDS] [--now UNIX] < PAYLOAD\n"
    "\n"
    "The payload is standard input, byte for byte: the body of a POST\n"
    "delivery, or for a GET delivery the query string without '?', e.g.\n"
    "  printf %s 'success=true&refId=3283191' | hookd verify ...\n"
    "\n"
    "sign prints the webhook-id, webhook-timestamp and webhook-signature\n"
    "headers (timestamp defaults to now); with --curl URL, instead, a\n"
    "shell command that POSTs the payload to URL with those headers.\n"
    "verify takes webhook-id, webhook-timestamp and webhook-signature from\n"
    "--headers FILE (a header dump, as from `curl -D` or a copied request\n"
    "head) and/or the flags, which win. It prints \"valid\" and exits 0, or\n"
    "\"invalid: REASON\" and exits 1. The timestamp must be within\n"
    "--tolerance seconds (default 300) of now (--now overrides, for tests).\n"
    "Any other error exits 1 too.\n";

enum {
	SIGN_OPT_SECRET,
	SIGN_OPT_ID,
	SIGN_OPT_TIMESTAMP,
	SIGN_OPT_SIGNATURE,
	SIGN_OPT_HEADERS,
	SIGN_OPT_TOLERANCE,
	SIGN_OPT_NOW,
	SIGN_OPT_CURL,
	SIGN_OPT_COUNT
};

static const char *const sign_opt_names[SIGN_OPT_COUNT] = {
	"secret", "id", "timestamp", "signature", "headers", "tolerance", "now",
	"curl"
};

const char *const cli_sig_hdr_names[CLI_HDR_COUNT] = {
	"webhook-id", "webhook-timestamp", "webhook-signature"
};

static int
sign_cli_fail(const char *cmd, const char *msg)
{
	fprintf(stderr, "hookd %s: %s\n", cmd, msg);
	return 1;
}

static int
sign_cli_usage(const char *cmd, const char *msg)
{
	fprintf(stderr, "hookd %s: %s\n%s", cmd, msg, sign_usage);
	return 1;
}

/* Flush stdout and turn a failed write (full disk, closed pipe) into exit 1
 * rather than a silent success. */
static int
sign_cli_done(int rc)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fputs("hookd: cannot write standard output\n", stderr);
		return 1;
	}
	return rc;
}

/* Read all of fd into b, at most max bytes. 0 ok, -1 error (with errno) or
 * too long (errno EFBIG). */
static int
sign_read_all(int fd, struct buf *b, size_t max)
{
	for (;;) {
		ssize_t r;

		if (b->len > max) {
			errno = EFBIG;
			return -1;
		}
		if (buf_reserve(b, 65536) != 0) {
			errno = ENOMEM;
			return -1;
		}
		r = read(fd, b->data + b->len, 65536);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			return 0;
		b->len += (size_t)r;
		b->data[b->len] = '\0';
	}
}

/*
 * Pick webhook-id, -timestamp and -signature out of a header dump: lines
 * "Name: value" ending in LF or CRLF, names case-insensitive. Lines that are
 * not headers (the status or request line) are skipped; the first empty line
 * after a header ends the head, so a request body pasted below cannot
 * supply headers. Values are spans into p; repeats are counted.
 */
static void
sign_parse_head(const char *p, size_t n, struct cli_sig_hdrs *h)
{
	size_t i = 0;
	int seen = 0;

	memset(h, 0, sizeof(*h));
	while (i < n) {
		const char *line = p + i, *nl, *colon;
		size_t len, nlen, vs, ve;
		int k;

		nl = memchr(line, '\n', n - i);
		len = nl != NULL ? (size_t)(nl - line) : n - i;
		i += len + (nl != NULL);
		if (len > 0 && line[len - 1] == '\r')
			len--;
		if (len == 0) {
			if (seen)
				return;
			continue;
		}
		colon = memchr(line, ':', len);
		if (colon == NULL || colon == line)
			continue;
		nlen = (size_t)(colon - line);
		if (!http_name_ok(line, nlen))
			continue;
		seen = 1;
		vs = nlen + 1;
		while (vs < len && (line[vs] == ' ' || line[vs] == '\t'))
			vs++;
		ve = len;
		while (ve > vs && (line[ve - 1] == ' ' || line[ve - 1] == '\t'))
			ve--;
		for (k = 0; k < CLI_HDR_COUNT; k++) {
			if (!util_span_ieq(line, nlen, cli_sig_hdr_names[k]))
				continue;
			h->v[k] = line + vs;
			h->len[k] = ve - vs;
			h->count[k]++;
		}
	}
}

/* Parse argv[1..] into opts (allowed: a bitmask of SIGN_OPT_). 0 ok, 1 -h
 * seen, -1 bad usage with the reason in *why. */
static int
sign_parse_args(int argc, char **argv, unsigned allowed,
    const char *opts[SIGN_OPT_COUNT], const char **why)
{
	int i, k;

	for (k = 0; k < SIGN_OPT_COUNT; k++)
		opts[k] = NULL;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *val, *eq;
		size_t nlen;

		if (cli_is_help(a))
			return 1;
		if (strncmp(a, "--", 2) != 0) {
			*why = "unexpected argument";
			return -1;
		}
		a += 2;
		eq = strchr(a, '=');
		nlen = eq != NULL ? (size_t)(eq - a) : strlen(a);
		for (k = 0; k < SIGN_OPT_COUNT; k++)
			if ((allowed & (1u << k)) &&
			    util_span_eq(a, nlen, sign_opt_names[k]))
				break;
		if (k == SIGN_OPT_COUNT) {
			*why = "unknown option";
			return -1;
		}
		if (eq != NULL) {
			val = eq + 1;
		} else if (i + 1 < argc) {
			val = argv[++i];
		} else {
			*why = "option needs a value";
			return -1;
		}
		/* A repeated flag is refused rather than silently using one of
		 * them: which one wins would be a guess. */
		if (opts[k] != NULL) {
			*why = "option given twice";
			return -1;
		}
		opts[k] = val;
	}
	return 0;
}

/* Parse a Unix time or a count of seconds, 0..INT64_MAX. */
static int
sign_parse_secs(const char *s, size_t len, int64_t *out)
{
	uint64_t v;

	if (util_parse_u64(s, len, INT64_MAX, &v) != 0)
		return -1;
	*out = (int64_t)v;
	return 0;
}

static int
sign_cmd_sign(const char *opts[SIGN_OPT_COUNT])
{
	uint8_t key[SIGN_SECRET_MAX_BYTES];
	char sig[SIGN_SIG_MAX];
	struct buf in = {0};
	const char *id = opts[SIGN_OPT_ID], *s;
	int64_t ts;
	int klen, rc;

	if (opts[SIGN_OPT_SECRET] == NULL || id == NULL)
		return sign_cli_usage("sign", "--secret and --id are required");
	/* The id is printed as a header value: a control character or space
	 * in it would break or forge the header lines. */
	for (s = id; *s != '\0'; s++)
		if ((unsigned char)*s <= ' ' || (unsigned char)*s == 0x7f)
			break;
	if (*id == '\0' || *s != '\0')
		return sign_cli_fail("sign", "--id must be printable, no spaces");
	if (opts[SIGN_OPT_TIMESTAMP] == NULL)
		ts = util_wall_ms() / 1000;
	else if (sign_parse_secs(opts[SIGN_OPT_TIMESTAMP],
	    strlen(opts[SIGN_OPT_TIMESTAMP]), &ts) != 0)
		return sign_cli_usage("sign", "bad --timestamp");
	klen = sign_secret_key(opts[SIGN_OPT_SECRET],
	    strlen(opts[SIGN_OPT_SECRET]), 0, key);
	if (klen < 0)
		return sign_cli_fail("sign", "--secret is not a valid secret");
	if (sign_read_all(STDIN_FILENO, &in, SIGN_CLI_PAYLOAD_MAX) != 0) {
		sign_wipe(key, sizeof(key));
		buf_free(&in);
		return sign_cli_fail("sign", errno == EFBIG ?
		    "payload too large" : "cannot read standard input");
	}
	rc = sign_compute(key, (size_t)klen, id, strlen(id), ts, in.data,
	    in.len, sig);
	sign_wipe(key, sizeof(key));
	if (rc == 0 && opts[SIGN_OPT_CURL] != NULL) {
		rc = cli_sign_curl(opts[SIGN_OPT_CURL], id, ts, sig, in.data,
		    in.len);
		buf_free(&in);
		return rc != 0 ? rc : sign_cli_done(0);
	}
	buf_free(&in);
	if (rc != 0)
		return sign_cli_fail("sign", "cannot sign");
	printf("webhook-id: %s\nwebhook-timestamp: %lld\n"
	    "webhook-signature: %s\n", id, (long long)ts, sig);
	return sign_cli_done(0);
}

/* Print the verdict on stdout: it is the command's answer, not an error. */
static int
sign_verdict(const char *reason)
{
	if (reason == NULL) {
		puts("valid");
		return sign_cli_done(0);
	}
	printf("invalid: %s\n", reason);
	return sign_cli_done(1);
}

/* Whether any "v1,..." in the space-separated list equals want. */
static int
sign_match_any(const char *list, size_t len, const char *want, int *saw_v1)
{
	size_t i = 0, wlen = strlen(want);
	int ok = 0;

	*saw_v1 = 0;
	while (i < len) {
		size_t s, e;

		while (i < len && list[i] == ' ')
			i++;
		s = i;
		while (i < len && list[i] != ' ')
			i++;
		e = i;
		if (e - s < 3 || memcmp(list + s, "v1,", 3) != 0)
			continue;
		*saw_v1 = 1;
		/* Lengths are public (every v1 signature has the same), the
		 * bytes are compared in constant time. */
		if (e - s == wlen && sign_equal(list + s, want, wlen))
			ok = 1;
	}
	return ok;
}

const char *
cli_verify_sig(const struct cli_sig_hdrs *h, const uint8_t *const *keys,
    const size_t *klens, size_t nkeys, int64_t now, int64_t tol,
    const void *payload, size_t plen)
{
	static const char *const missing[CLI_HDR_COUNT] = {
		"missing webhook-id", "missing webhook-timestamp",
		"missing webhook-signature"
	};
	static const char *const repeated[CLI_HDR_COUNT] = {
		"repeated webhook-id header",
		"repeated webhook-timestamp header",
		"repeated webhook-signature header"
	};
	char want[SIGN_SIG_MAX];
	int64_t ts = 0;
	size_t i;
	int k, saw_v1 = 0, ok = 0;

	/* Checks in the reference libraries' order: headers, the time window,
	 * then the signature. */
	for (k = 0; k < CLI_HDR_COUNT; k++) {
		if (h->count[k] == 0 || h->len[k] == 0)
			return missing[k];
		if (h->count[k] > 1)
			return repeated[k];
	}
	if (sign_parse_secs(h->v[CLI_HDR_TIMESTAMP], h->len[CLI_HDR_TIMESTAMP],
	    &ts) != 0)
		return "bad webhook-timestamp";
	/* Both values are in 0..INT64_MAX, so the differences cannot
	 * overflow. */
	if (now - ts > tol)
		return "timestamp too old";
	if (ts - now > tol)
		return "timestamp in the future";
	/* Every key is tried (the receiver's side of a rotation): which one
	 * matched is not revealed by an early exit. */
	for (i = 0; i < nkeys; i++) {
		if (sign_compute(keys[i], klens[i], h->v[CLI_HDR_ID],
		    h->len[CLI_HDR_ID], ts, payload, plen, want) != 0) {
			sign_wipe(want, sizeof(want));
			return "cannot compute the signature";
		}
		if (sign_match_any(h->v[CLI_HDR_SIGNATURE],
		    h->len[CLI_HDR_SIGNATURE], want, &saw_v1))
			ok = 1;
	}
	sign_wipe(want, sizeof(want));
	if (ok)
		return NULL;
	return saw_v1 ? "no signature matches" : "no v1 signature";
}

static int
sign_cmd_verify(const char *opts[SIGN_OPT_COUNT])
{
	static const int flag_of[CLI_HDR_COUNT] = {
		SIGN_OPT_ID, SIGN_OPT_TIMESTAMP, SIGN_OPT_SIGNATURE
	};
	uint8_t key[SIGN_SECRET_MAX_BYTES];
	const uint8_t *keys[1] = { key };
	size_t klens[1];
	struct buf in = {0}, head = {0};
	struct cli_sig_hdrs h;
	const char *reason;
	int64_t now, tol = CLI_VERIFY_TOLERANCE;
	int klen, k, rc;

	memset(&h, 0, sizeof(h));
	if (opts[SIGN_OPT_SECRET] == NULL)
		return sign_cli_usage("verify", "--secret is required");
	if (opts[SIGN_OPT_TOLERANCE] != NULL &&
	    sign_parse_secs(opts[SIGN_OPT_TOLERANCE],
	    strlen(opts[SIGN_OPT_TOLERANCE]), &tol) != 0)
		return sign_cli_usage("verify", "bad --tolerance");
	if (opts[SIGN_OPT_NOW] == NULL)
		now = util_wall_ms() / 1000;
	else if (sign_parse_secs(opts[SIGN_OPT_NOW],
	    strlen(opts[SIGN_OPT_NOW]), &now) != 0)
		return sign_cli_usage("verify", "bad --now");
	if (opts[SIGN_OPT_HEADERS] != NULL) {
		int fd, err;

		do
			fd = open(opts[SIGN_OPT_HEADERS], O_RDONLY | O_CLOEXEC);
		while (fd < 0 && errno == EINTR);
		if (fd < 0)
			return sign_cli_fail("verify", "cannot open --headers");
		rc = sign_read_all(fd, &head, SIGN_CLI_HEADERS_MAX);
		err = errno;
		(void)close(fd);
		if (rc != 0) {
			buf_free(&head);
			return sign_cli_fail("verify", err == EFBIG ?
			    "--headers file too large" :
			    "cannot read --headers");
		}
		sign_parse_head(head.data, head.len, &h);
	}
	for (k = 0; k < CLI_HDR_COUNT; k++) {
		const char *f = opts[flag_of[k]];

		if (f != NULL) {
			h.v[k] = f;
			h.len[k] = strlen(f);
			h.count[k] = 1;
		}
	}
	klen = sign_secret_key(opts[SIGN_OPT_SECRET],
	    strlen(opts[SIGN_OPT_SECRET]), 0, key);
	if (klen < 0) {
		buf_free(&head);
		return sign_cli_fail("verify", "--secret is not a valid secret");
	}
	klens[0] = (size_t)klen;
	if (sign_read_all(STDIN_FILENO, &in, SIGN_CLI_PAYLOAD_MAX) != 0) {
		sign_wipe(key, sizeof(key));
		buf_free(&head);
		buf_free(&in);
		return sign_cli_fail("verify", errno == EFBIG ?
		    "payload too large" : "cannot read standard input");
	}
	reason = cli_verify_sig(&h, keys, klens, 1, now, tol, in.data, in.len);
	sign_wipe(key, sizeof(key));
	buf_free(&head);
	buf_free(&in);
	return sign_verdict(reason);
}

/* The options sign (cmd "sign") or verify takes, a bitmask of SIGN_OPT_;
 * 0 for any other cmd. */
static unsigned
sign_allowed(const char *cmd)
{
	if (strcmp(cmd, "sign") == 0)
		return 1u << SIGN_OPT_SECRET | 1u << SIGN_OPT_ID |
		    1u << SIGN_OPT_TIMESTAMP | 1u << SIGN_OPT_CURL;
	if (strcmp(cmd, "verify") == 0)
		return ((1u << SIGN_OPT_COUNT) - 1) & ~(1u << SIGN_OPT_CURL);
	return 0;
}

int
cli_sign_args(int argc, char **argv, char *err, size_t errsz)
{
	const char *opts[SIGN_OPT_COUNT], *why = "";
	unsigned allowed = argc >= 1 ? sign_allowed(argv[0]) : 0;

	if (allowed == 0) {
		snprintf(err, errsz, "%s", sign_usage);
		return 1;
	}
	if (sign_parse_args(argc, argv, allowed, opts, &why) < 0) {
		snprintf(err, errsz, "hookd %s: %s", argv[0], why);
		return 1;
	}
	return 0;
}

int
cli_sign_main(int argc, char **argv)
{
	const char *opts[SIGN_OPT_COUNT], *why = "";
	const char *cmd;
	unsigned allowed;
	int rc;

	if (argc < 1 || argv[0] == NULL ||
	    (allowed = sign_allowed(argv[0])) == 0) {
		fputs(sign_usage, stderr);
		return 1;
	}
	cmd = argv[0];
	rc = sign_parse_args(argc, argv, allowed, opts, &why);
	if (rc == 1) {
		fputs(sign_usage, stdout);
		return sign_cli_done(0);
	}
	if (rc != 0)
		return sign_cli_usage(cmd, why);
	if (strcmp(cmd, "sign") == 0)
		return sign_cmd_sign(opts);
	return sign_cmd_verify(opts);
}

/* ------------------------------------------------------------------ */
/* hookd check */

/* hookd check's report: one unreadable record a line. */
static void
check_report(const char *line)
{
	printf("%s\n", line);
}

int
cli_is_help(const char *w)
{
	return strcmp(w, "-h") == 0 || strcmp(w, "--help") == 0;
}

/* hookd check's words: 0 with the options set (*help when -h or --help
 * asks for the usage, which is then in err), or 1 with the message and
 * the usage (ending in a newline) in err (errsz bytes). Nothing is run. */
static int
check_parse(int argc, char **argv, const char **config,
    const char **data_dir, int *fix, int *help, char *err, size_t errsz)
{
	static const char usage[] = "usage: hookd check [-d DATADIR] "
	    "[-c CONFIG] [--fix]\n";
	int i;

	*config = *data_dir = NULL;
	*fix = *help = 0;
	for (i = 1; i < argc; i++) {
		if (cli_is_help(argv[i])) {
			snprintf(err, errsz, "%s", usage);
			*help = 1;
			return 0;
		} else if (strcmp(argv[i], "--fix") == 0)
			*fix = 1;
		else if (strcmp(argv[i], "-d") == 0 && i + 1 < argc)
			*data_dir = argv[++i];
		else if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			*config = argv[++i];
		else {
			/* Say which word is wrong, as the start does. */
			if (argv[i][0] == '-' && (strcmp(argv[i], "-d") == 0 ||
			    strcmp(argv[i], "-c") == 0))
				snprintf(err, errsz, "hookd: %s needs a "
				    "value\n%s", argv[i], usage);
			else if (argv[i][0] == '-')
				snprintf(err, errsz, "hookd: unknown option "
				    "\"%s\"\n%s", argv[i], usage);
			else
				snprintf(err, errsz, "hookd: unknown argument "
				    "\"%s\"\n%s", argv[i], usage);
			return 1;
		}
	}
	return 0;
}

int
cli_check_args(int argc, char **argv, char *err, size_t errsz)
{
	const char *config, *data_dir;
	int fix, help;

	return check_parse(argc, argv, &config, &data_dir, &fix, &help, err,
	    errsz);
}

int
cli_check_main(int argc, char **argv)
{
	const char *opt_config, *opt_data_dir;
	struct config *c;
	/* msg: room for a word of the command line quoted whole. */
	char err[1024], moved[1200], msg[8192];
	int fix, help, r;

	if (check_parse(argc, argv, &opt_config, &opt_data_dir, &fix, &help,
	    msg, sizeof(msg)) != 0) {
		fputs(msg, stderr);
		return 1;
	}
	if (help) {
		fputs(msg, stdout);
		return 0;
	}
	c = config_read(opt_config, NULL, opt_data_dir, err, sizeof(err));
	if (c == NULL) {
		fprintf(stderr, "hookd: %s\n", err);
		return 1;
	}
	r = store_check(c->data_dir, fix, check_report, moved, sizeof(moved),
	    err, sizeof(err));
	if (r < 0)
		fprintf(stderr, "hookd: %s\n", err);
	else if (r == 0)
		fprintf(stderr, "hookd: %s: every record reads back\n",
		    c->data_dir);
	else if (fix)
		fprintf(stderr, "hookd: moved the records above to %s; the "
		    "rest is kept\n", moved);
	else
		fprintf(stderr, "hookd: unreadable records in %s; hookd check "
		    "--fix -d %s moves them aside\n", c->data_dir,
		    c->data_dir);
	config_free(c);
	free(c);
	if (r < 0)
		return 1;
	return r > 0 && !fix ? 1 : 0;
}


/* ------------------------------------------------------------------ */
/* The command line: the daemon's own flags (which command argv names
 * is cli_command_of's, in cli_api.c beside cli_api_is) */

int
cli_daemon_parse(int argc, char **argv, struct cli_daemon_opts *o,
    char *err, size_t errsz)
{
	struct config flags;
	int ch, i;

	memset(o, 0, sizeof(*o));
	err[0] = '\0';
	/* Contract §10: the long forms of -h and -V. Only option words are
	 * looked at, not the values of -l, -d and -c. */
	for (i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
		if (strcmp(argv[i], "--help") == 0) {
			o->help = 1;
			return 0;
		}
		if (strcmp(argv[i], "--version") == 0) {
			o->version = 1;
			return 0;
		}
		if (strncmp(argv[i], "--", 2) == 0) {
			snprintf(err, errsz, "hookd: unknown option \"%s\"",
			    argv[i]);
			return 1;
		}
		if (argv[i][0] == '-' && argv[i][1] != '\0' &&
		    strchr("ldc", argv[i][1]) != NULL && argv[i][2] == '\0')
			i++;
	}

	/* optind 0 starts the scan over in glibc and musl (the fuzz target
	 * parses many command lines in one process); getopt's own message
	 * is made here, in its words, so that nothing is printed. */
	optind = 0;
	opterr = 0;
	while ((ch = getopt(argc, argv, ":l:d:c:nvVh")) != -1) {
		switch (ch) {
		case 'l':
			o->listen = optarg;
			break;
		case 'd':
			o->data_dir = optarg;
			break;
		case 'c':
			o->config = optarg;
			break;
		case 'n':
			o->check_only = 1;
			break;
		case 'v':
			o->verbose = 1;
			break;
		case 'V':
			o->version = 1;
			return 0;
		case 'h':
			o->help = 1;
			return 0;
		case ':':
			snprintf(err, errsz, "%s: option requires an argument "
			    "-- '%c'", argv[0], optopt);
			return 1;
		default:
			snprintf(err, errsz, "%s: invalid option -- '%c'",
			    argv[0], optopt);
			return 1;
		}
	}
	if (optind != argc) {
		/* A usage error of the command line, as the subcommands'
		 * are (exit 2); a bad option of the daemon stays 1
		 * (contract §10). */
		snprintf(err, errsz, "hookd: unknown command \"%s\"",
		    argv[optind]);
		return 2;
	}
	/* The flags alone are checked first: a bad one is a usage error. */
	config_defaults(&flags);
	if (o->listen != NULL && config_set_listen(&flags, o->listen) != 0) {
		snprintf(err, errsz, "hookd: -l wants "
		    CONFIG_LISTEN_FORMS);
		return 1;
	}
	if (config_apply_flags(&flags, o->listen, o->data_dir) != 0) {
		snprintf(err, errsz, "hookd: -d wants a path of 1 to %zu bytes",
		    sizeof(flags.data_dir) - 1);
		return 1;
	}
	return 0;
}
