/*
 * main: the top of hookd: options, the start-up order (bind, lock, token,
 * store, static registrations, engine, listen), the admin token, signals,
 * reload on SIGHUP, the loop's pass order, drain and the exit codes. The
 * subcommands are in cli.c. Nothing includes a header of main.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "api.h"
#include "cli.h"
#include "config.h"
#include "deliver.h"
#include "log.h"
#include "loop.h"
#include "server.h"
#include "sign.h"
#include "store.h"
#include "tls.h"
#include "token.h"
#include "util.h"
#include "version.h"

/*
 * The limits of main (the configurable ones are in config.c, the inbound
 * ones in server.c).
 */
/* The poll timeout's ceiling: signals, compaction and drain are looked at
 * least this often (a signal may land just before poll() blocks). */
#define MAIN_HOUSEKEEPING_MS 1000
#define MAIN_COMPACT_EVERY_MS (60 * 1000)
#define MAIN_COMPACT_FORCE_MS (60 * 60 * 1000)
/* How soon a compaction's catch-up round, running on its thread, is looked
 * at again: the sooner it is seen done, the less the next round (or the
 * loop's own last step) has to copy. */
#define MAIN_COMPACT_ROUND_MS 5

/* The command line, kept for SIGHUP: flags win over the file each time. */
static const char *opt_config;
static const char *opt_listen;
static const char *opt_data_dir;

static struct config *config_now;	/* what config_current() returns */

static volatile sig_atomic_t got_term, got_hup;

static int draining;
static int64_t drain_deadline;

/*
 * The data directory this start created, "" when it existed before or the
 * start is over. Contract §10: a start that fails writes nothing, so a
 * directory made for a start that then failed (a bad static registration,
 * no token source) is removed with the files the start put there, and
 * nothing else: rmdir fails when anything more is in it.
 */
static char start_fresh_dir[1024];

static void
start_undo(void)
{
	static const char *const made[] = {
		"registry.log", "journal.log", "admin.token", "lock",
	};
	char path[1100];
	size_t i;

	if (start_fresh_dir[0] == '\0')
		return;
	for (i = 0; i < sizeof(made) / sizeof(made[0]); i++)
		if ((size_t)snprintf(path, sizeof(path), "%s/%s",
		    start_fresh_dir, made[i]) < sizeof(path))
			(void)unlink(path);
	(void)rmdir(start_fresh_dir);
	start_fresh_dir[0] = '\0';
}

/* Log an error and end the process (start-up failures, a failed fsync). */
static void
fatal(const char *msg, const char *detail)
{
	char q[1024];

	log_line("error", msg, "error=%s", LOG_QUOTE(q, detail));
	start_undo();
	exit(1);
}

/* server_on_sync_fail's callback: a group commit's fsync failed, so nothing
 * more may be acknowledged; the next start recovers from the files. */
static void
main_sync_failed(int err)
{
	fatal("fsync failed", strerror(err));
}

/* store_open's report of a repaired file (a torn tail dropped). */
static void
store_notice(const char *msg)
{
	char q[1024];

	log_line("warn", "store repaired", "detail=%s", LOG_QUOTE(q, msg));
}

/* A static registration's "LINE: reason" as "FILE:LINE: reason", the form
 * of every config error (contract §10). */
static void
static_error(char *out, size_t outsz, const char *err)
{
	if (snprintf(out, outsz, "%s:%s", opt_config != NULL ? opt_config :
	    "-", err) < 0)
		out[0] = '\0';
}

/* ------------------------------------------------------------------ */
/* The admin token */

/*
 * The admin token (contract §1): HOOKD_ADMIN_TOKEN, else admin_token_file,
 * else DATADIR/admin.token, made on first start. A made token is only in
 * tok: *path_out is set to where admin_token_save must write it once the
 * start can no longer fail (contract §10), and is "" otherwise. 0 or -1
 * with err set.
 */
static int
admin_token_setup(const struct config *cfg, char *tok, size_t toksz,
    char *path_out, size_t pathsz, char *err, size_t errsz)
{
	char path[1100];
	int given;

	path_out[0] = '\0';
	if ((given = token_admin_given(cfg, 1, tok, toksz, err, errsz)) != 0)
		return given < 0 ? -1 : 0;
	if (token_admin_path(cfg, path, sizeof(path), err, errsz) != 0)
		return -1;
	if (token_read(path, 1, 1, tok, toksz, err, errsz) == 0)
		return 0;
	if (errno != ENOENT)
		return -1;
	if (sign_token_new("hka_", tok, toksz) != 0) {
		snprintf(err, errsz, "no randomness for the admin token");
		return -1;
	}
	if ((size_t)snprintf(path_out, pathsz, "%s", path) >= pathsz) {
		snprintf(err, errsz, "data_dir is too long");
		return -1;
	}
	return 0;
}

/* Write the token admin_token_setup made to path (nothing when path is
 * ""), and say where once. 0 or -1 with err set. */
static int
admin_token_save(const char *path, const char *tok, char *err, size_t errsz)
{
	char msg[1200], line[TOKEN_MAX + 1];
	int n;

	if (path[0] == '\0')
		return 0;
	/* tok came from a buffer of TOKEN_MAX bytes, so its line fits. */
	n = snprintf(line, sizeof(line), "%s\n", tok);
	if (n < 0 || (size_t)n >= sizeof(line))
		errno = EOVERFLOW;
	else if (util_write_file_durable(path, line, (size_t)n, 0600) == 0)
		n = 0;
	if (n != 0) {
		util_err_set(err, errsz, path, strerror(errno));
		sign_wipe(line, sizeof(line));
		return -1;
	}
	sign_wipe(line, sizeof(line));
	snprintf(msg, sizeof(msg), "admin token written to %s", path);
	log_line("info", msg, NULL);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Configuration: load, flags, reload */

static int
str_differs(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a != b;
	return strcmp(a, b) != 0;
}

static int
regs_differ(const struct config *a, const struct config *b)
{
	size_t i;

	if (a->nregs != b->nregs)
		return 1;
	for (i = 0; i < a->nregs; i++) {
		const struct config_reg *x = &a->regs[i], *y = &b->regs[i];

		if (x->is_endpoint != y->is_endpoint ||
		    x->method_get != y->method_get ||
		    str_differs(x->client, y->client) ||
		    str_differs(x->name, y->name) ||
		    str_differs(x->url, y->url) ||
		    str_differs(x->events, y->events) ||
		    str_differs(x->secret, y->secret))
			return 1;
		/* Delivery policy (contract §15): */
		if (x->has_policy != y->has_policy ||
		    x->rate_milli != y->rate_milli || x->fifo != y->fifo ||
		    x->timeout_ms != y->timeout_ms || x->nretry != y->nretry ||
		    memcmp(x->retry_ms, y->retry_ms, x->nretry *
		    sizeof(x->retry_ms[0])) != 0)
			return 1;
	}
	return 0;
}

/* Append key to a comma-separated list. */
static void
list_add(char *list, size_t sz, const char *key)
{
	size_t n = strlen(list);

	snprintf(list + n, sz - n, "%s%s", n > 0 ? "," : "", key);
}

/*
 * SIGHUP: read the file again (and the flags); on error keep what runs.
 * listen, data_dir, fsync and admin_token_file are bound at start: a
 * change to them is reported and waits for a restart.
 */
static void
main_reload(void)
{
	struct config *next, *old = config_now;
	char err[1024], changed[1024] = "", restart[128] = "";
	int rc;
	char q[1100], qerr[1100];

	next = config_read(opt_config, opt_listen, opt_data_dir, err,
	    sizeof(err));
	if (next == NULL) {
		log_line("error", "reload failed", "error=%s", LOG_QUOTE(q, err));
		return;
	}
	/* The TLS context is made again (the CA file may have changed in
	 * place) for new connections; open ones keep theirs. On failure the
	 * old one stays, with the old config. */
	if (tls_init(next->tls_ca_file, err, sizeof(err)) != 0) {
		log_line("error", "reload failed", "error=%s", LOG_QUOTE(q, err));
		config_free(next);
		free(next);
		return;
	}

	if (strcmp(old->listen, next->listen) != 0)
		list_add(restart, sizeof(restart), "listen");
	if (strcmp(old->data_dir, next->data_dir) != 0)
		list_add(restart, sizeof(restart), "data_dir");
	if (old->fsync_always != next->fsync_always)
		list_add(restart, sizeof(restart), "fsync");
	if (strcmp(old->admin_token_file, next->admin_token_file) != 0)
		list_add(restart, sizeof(restart), "admin_token_file");
	memcpy(next->listen, old->listen, sizeof(next->listen));
	memcpy(next->data_dir, old->data_dir, sizeof(next->data_dir));
	memcpy(next->admin_token_file, old->admin_token_file,
	    sizeof(next->admin_token_file));
	next->fsync_always = old->fsync_always;

	/* Every scalar key, from the config's own table (none forgotten). */
	config_changed_scalars(old, next, changed, sizeof(changed));
	if (old->nretry != next->nretry ||
	    memcmp(old->retry_ms, next->retry_ms,
	    next->nretry * sizeof(next->retry_ms[0])) != 0)
		list_add(changed, sizeof(changed), "retry_schedule");
	if (old->nallow != next->nallow ||
	    memcmp(old->allow, next->allow,
	    next->nallow * sizeof(next->allow[0])) != 0)
		list_add(changed, sizeof(changed), "allow_destinations");
	if (old->metrics != next->metrics)
		list_add(changed, sizeof(changed), "metrics");
	if (strcmp(old->tls_ca_file, next->tls_ca_file) != 0)
		list_add(changed, sizeof(changed), "tls_ca_file");
	if (regs_differ(old, next))
		list_add(changed, sizeof(changed), "registrations");
	if (config_routes_differ(old, next))
		list_add(changed, sizeof(changed), "route");
	if (strcmp(old->ops_url, next->ops_url) != 0)
		list_add(changed, sizeof(changed), "ops_url");
	if (strcmp(old->ops_secret, next->ops_secret) != 0)
		list_add(changed, sizeof(changed), "ops_secret");

	config_now = next;
	config_set_current(next);
	store_set_max_log(next->max_log_attempts);
	store_set_node_id((unsigned)next->node_id);
	/* The static lines first: the endpoints whose policy they put back
	 * (an API PATCH undone) are among what changed. */
	rc = api_apply_static(err, sizeof(err), changed, sizeof(changed));
	log_line("info", "reloaded", "changed=%s",
	    changed[0] != '\0' ? changed : "none");
	if (restart[0] != '\0')
		log_line("warn", "restart needed to change", "keys=%s",
		    restart);
	if (rc != 0) {
		static_error(q, sizeof(q), err);
		log_line("error", "static registration failed",
		    "error=%s", LOG_QUOTE(qerr, q));
	}
	config_free(old);
	free(old);
}

/* ------------------------------------------------------------------ */
/* Signals, the loop, start and stop */

static void
on_term(int sig)
{
	(void)sig;
	got_term = 1;
}

static void
on_hup(int sig)
{
	(void)sig;
	got_hup = 1;
}

/* No SA_RESTART: a signal interrupts poll() so it is seen at once. */
static void
signals_setup(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = on_hup;
	sigaction(SIGHUP, &sa, NULL);
}

static void
drain_begin(void)
{
	draining = 1;
	deliver_drain();
	drain_deadline = loop_now + config_current()->drain_timeout_ms;
	server_drain();
	log_line("info", "draining", "connections=%zu deliveries=%zu",
	    server_nconns(), deliver_inflight());
}

/* Fold in a finished compaction and say what it did. */
static void
compact_poll(void)
{
	char err[512], q[600];
	int r = store_compact_poll(err, sizeof(err));

	if (r > 0)
		log_line("info", "compacted", "detail=%s", LOG_QUOTE(q, err));
	else if (r < 0)
		log_line("error", "compaction failed", "error=%s",
		    LOG_QUOTE(q, err));
}

/*
 * Called once a minute. The store compacts when its journal has doubled;
 * forcing one every retention period (between a minute and an hour) also
 * drops expired records from a journal that grows slowly.
 */
static void
compact_start(void)
{
	static int64_t last_forced;
	int64_t every = config_current()->retention_ms;
	int force, r;
	char q[256];

	if (every < MAIN_COMPACT_EVERY_MS)
		every = MAIN_COMPACT_EVERY_MS;
	if (every > MAIN_COMPACT_FORCE_MS)
		every = MAIN_COMPACT_FORCE_MS;
	if (last_forced == 0)
		last_forced = loop_now;
	force = loop_now - last_forced >= every;
	r = store_compact_start(util_wall_ms(), config_current()->retention_ms,
	    force);
	if (r < 0 && errno != EBUSY)
		log_line("warn", "compaction not started", "error=%s",
		    LOG_QUOTE(q, strerror(errno)));
	else if (r > 0 && force)
		last_forced = loop_now;
}

/* One thread, one poll(): until a drain ends. */
static void
main_loop(void)
{
	int64_t next_compact = loop_now + MAIN_COMPACT_EVERY_MS;
	int64_t next, deliver_next, server_next;
	int timeout = 0;

	for (;;) {
		if (loop_pass(timeout) != 0)
			fatal("poll failed", strerror(errno));

		if (got_hup) {
			got_hup = 0;
			if (!draining)
				main_reload();
		}
		if (got_term) {
			got_term = 0;
			if (!draining)
				drain_begin();
			else
				drain_deadline = loop_now;	/* twice: now */
		}

		server_parked_run();

		/* Commit, then deliver: the store hands new events to the
		 * engine only once they are durable, so no receiver hears of
		 * an event whose 202 a failed fsync would withhold. */
		server_commit(0);
		deliver_next = deliver_tick();
		compact_poll();
		if (!draining && loop_now >= next_compact) {
			next_compact = loop_now + MAIN_COMPACT_EVERY_MS;
			compact_start();
		}
		server_next = server_tick();

		/* Lingering connections have had their answers. */
		if (draining && ((server_busy() == 0 &&
		    deliver_inflight() == 0) || loop_now >= drain_deadline))
			return;

		next = util_min64(loop_now + MAIN_HOUSEKEEPING_MS, server_next);
		next = util_min64(next, next_compact);
		if (store_compact_catching_up())
			next = util_min64(next, loop_now + MAIN_COMPACT_ROUND_MS);
		if (deliver_next >= 0)
			next = util_min64(next, deliver_next);
		if (draining)
			next = util_min64(next, drain_deadline);
		timeout = next <= loop_now ? 0 : (int)(next - loop_now);
		log_flush();
	}
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: hookd [-l ADDR:PORT] [-d DATADIR] [-c CONFIG] [-n] [-v] "
	    "[-V] [-h]\n"
	    "       hookd sign --secret whsec_... --id ID [--timestamp UNIX] "
	    "[--curl URL] < PAYLOAD\n"
	    "       hookd verify --secret whsec_... [--headers FILE] ... < PAYLOAD\n"
	    "       hookd check [-d DATADIR] [-c CONFIG] [--fix]\n"
	    "       hookd export --client ID [-d DATADIR] [-c CONFIG] [-o FILE] "
	    "[--delete]\n"
	    "       hookd import [-d DATADIR] [-c CONFIG] [FILE|-]\n"
	    "       hookd listen [-p PORT] [-l HOST] --secret whsec_... "
	    "[--secret whsec_...] [--ack] [--json]\n"
	    );
	cli_api_usage(f);
	fprintf(f,
	    "  -l ADDR:PORT    listen here (default 127.0.0.1:8080)\n"
	    "  -d DATADIR      data directory (default ./hookd-data)\n"
	    "  -c CONFIG       config file\n"
	    "  -n              check the config, say what is in force, exit\n"
	    "  -v              log debug lines too\n"
	    "  -V, --version   print the version\n"
	    "  -h, --help      this help\n");
}

/* Contract §10 and issue 19.8: what in the config puts tokens or secrets
 * at risk, said at start (and by -n) without refusing to run. */
static void
start_warnings(const struct config *cfg)
{
	char q[1100];

	if (!config_listen_is_loopback(cfg->listen))
		log_line("warn", "listen is not a loopback address: tokens "
		    "and /metrics travel in clear; put a TLS proxy in front",
		    "listen=%s",
		    LOG_QUOTE(q, cfg->listen));
	if (cfg->file_exposes_secret)
		log_line("warn", "the config file holds a secret and group "
		    "or others may read it; chmod 600 it", "path=%s",
		    LOG_QUOTE(q, opt_config != NULL ? opt_config : "-"));
}

/* Start in the order the modules need, serve, drain, stop. */
static int
main_run(void)
{
	char err[1024], tok[TOKEN_MAX], q[1100], tokpath[1100];

	signals_setup();
	/* Every way out (return from main, exit) writes the last lines. */
	(void)atexit(log_flush);
	loop_init();
	/*
	 * Contract §10: the socket first, so that a taken port ends the start
	 * before anything is created (not even a new data directory or its
	 * lock file); then the lock, so that nothing in the directory is read
	 * or written while another hookd uses it (a second hookd used to
	 * append its static registrations to a registry the first was
	 * writing, which then failed its checksum); then the store.
	 */
	if (server_listen_bind(config_now->listen, err, sizeof(err)) != 0)
		fatal("listen failed", err);
	/* Contract §13: the CA store https receivers are verified against. */
	if (tls_init(config_now->tls_ca_file, err, sizeof(err)) != 0)
		fatal("cannot set up TLS", err);
	if (access(config_now->data_dir, F_OK) != 0 && errno == ENOENT)
		snprintf(start_fresh_dir, sizeof(start_fresh_dir), "%s",
		    config_now->data_dir);
	if (store_lock(config_now->data_dir, err, sizeof(err)) != 0)
		fatal("cannot use the data directory", err);
	/* The token is read (or made, in memory) before the store opens and
	 * written only after the static registrations went in, so that
	 * neither a bad token source nor a bad static line leaves a file
	 * behind (contract §10). */
	if (admin_token_setup(config_now, tok, sizeof(tok), tokpath,
	    sizeof(tokpath), err, sizeof(err)) != 0)
		fatal("no admin token", err);
	store_set_max_log(config_now->max_log_attempts);
	store_set_node_id((unsigned)config_now->node_id);
	if (store_open(config_now->data_dir, config_now->fsync_always, err,
	    sizeof(err), store_notice) != 0)
		fatal("cannot open the store", err);
	if (api_apply_static(err, sizeof(err), NULL, 0) != 0) {
		static_error(q, sizeof(q), err);
		fatal("static registration failed", q);
	}
	if (admin_token_save(tokpath, tok, err, sizeof(err)) != 0)
		fatal("no admin token", err);
	api_set_admin_token(tok);
	memset(tok, 0, sizeof(tok));
	if (deliver_init(err, sizeof(err)) != 0)
		fatal("cannot start deliveries", err);
	server_on_sync_fail(main_sync_failed);
	server_start();
	if (store_lock_note_pid() != 0)
		log_line("warn", "cannot write the pid into the lock file",
		    "error=%s", LOG_QUOTE(q, strerror(errno)));
	if (server_listen(config_now->listen, err, sizeof(err)) != 0)
		fatal("listen failed", err);
	start_fresh_dir[0] = '\0';	/* started: nothing to undo */

	main_loop();

	/* Contract §1: everything acknowledged is made durable before
	 * exit; attempts still in flight are made again after a start. */
	server_commit(1);
	deliver_shutdown();
	server_commit(1);
	store_close();
	server_close_all();
	log_line("info", "stopped", NULL);
	tls_free();
	config_free(config_now);
	free(config_now);
	loop_free();
	return 0;
}

/* -V: the version, the TLS library https:// deliveries use (contract
 * §13) or "none" in the plain build, and the SHA-256 code signatures run
 * on this CPU. */
static void
print_version(void)
{
	printf("hookd %s\nTLS: %s\nSHA-256: %s\n", HOOKD_VERSION,
	    tls_library() != NULL ? tls_library() : "none",
	    sign_sha256_name());
}

int
main(int argc, char **argv)
{
	struct cli_daemon_opts o;
	/* err: room for a word of the command line quoted whole. */
	char err[8192], summary[4096];
	int st, check_only;

	switch (cli_command_of(argc, argv)) {
	case CLI_SIGN:
		return cli_sign_main(argc - 1, argv + 1);
	case CLI_CHECK:
		return cli_check_main(argc - 1, argv + 1);
	case CLI_API:
		return cli_api_main(argc - 1, argv + 1);
	case CLI_EXPORT:
		return cli_export_main(argc - 1, argv + 1);
	case CLI_IMPORT:
		return cli_import_main(argc - 1, argv + 1);
	case CLI_LISTEN:
		return cli_listen_main(argc - 1, argv + 1);
	case CLI_DAEMON:
		break;
	}

	if ((st = cli_daemon_parse(argc, argv, &o, err, sizeof(err))) != 0) {
		fprintf(stderr, "%s\n", err);
		usage(stderr);
		return st;
	}
	if (o.help) {
		usage(stdout);
		return 0;
	}
	if (o.version) {
		print_version();
		return 0;
	}
	opt_config = o.config;
	opt_listen = o.listen;
	opt_data_dir = o.data_dir;
	check_only = o.check_only;
	if (o.verbose)
		log_set_verbose(1);

	config_now = config_read(opt_config, opt_listen, opt_data_dir, err,
	    sizeof(err));
	if (config_now == NULL) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	config_set_current(config_now);
	start_warnings(config_now);
	if (check_only) {
		char tok[TOKEN_MAX], q[1100];

		st = 0;
		/* The checks a start makes that need no store or socket: the
		 * static endpoint lines (their destinations), and the admin
		 * token given, warned about when short (never printed). A
		 * token file that cannot be read here is not an error: -n
		 * may check a config meant for another machine, where the
		 * file exists (as a client the store holds, -n cannot know). */
		if (api_check_static(err, sizeof(err)) != 0) {
			static_error(q, sizeof(q), err);
			fprintf(stderr, "%s\n", q);
			st = 1;
		} else if (tls_init(config_now->tls_ca_file, err,
		    sizeof(err)) != 0) {
			fprintf(stderr, "%s\n", err);
			st = 1;
		} else
			(void)token_admin_given(config_now, 1, tok,
			    sizeof(tok), err, sizeof(err));
		memset(tok, 0, sizeof(tok));
		log_flush();
		if (st == 0)
			printf("config ok: %s\n", config_summary(config_now,
			    summary, sizeof(summary)));
		tls_free();
		config_free(config_now);
		free(config_now);
		return st;
	}
	return main_run();
}
