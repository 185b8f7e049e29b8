/*
 * config: hookd's settings: defaults, the config file of contract §1 and §7
 * (one `key value...` per line), and the static registrations it declares.
 */
#ifndef HOOKD_CONFIG_H
#define HOOKD_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "url.h"

/* Most entries in retry_schedule: each is one more attempt. */
#define CONFIG_MAX_RETRIES 32
/* Most CIDRs in allow_destinations. */
#define CONFIG_MAX_ALLOW 64

/* A static registration from the config file, created at start (and on
 * SIGHUP) when missing. */
struct config_reg {
	int is_endpoint;	/* 0: client line, 1: endpoint line */
	char *client;		/* client id */
	char *name;		/* client: name= (may be NULL) */
	char *url;		/* endpoint: URL */
	int method_get;		/* endpoint: method=GET */
	char *events;		/* endpoint: events=a,b (NULL: "*") */
	char *secret;		/* endpoint: secret= (may be NULL) */
	int line;		/* where it was declared, for messages */
	/* Delivery policy (contract §15) of an endpoint line; each only
	 * when has_policy names it (CONFIG_POL_ bits). */
	unsigned has_policy;
	uint32_t rate_milli;	/* rate_limit= */
	int fifo;		/* ordering= */
	int64_t timeout_ms;	/* timeout= */
	int64_t retry_ms[CONFIG_MAX_RETRIES];	/* retry_schedule="..." */
	size_t nretry;
};

/* Which policy members an endpoint line sets (config_reg.has_policy). */
#define CONFIG_POL_RATE 1u
#define CONFIG_POL_ORDERING 2u
#define CONFIG_POL_TIMEOUT 4u
#define CONFIG_POL_RETRY 8u

/* Most routes (contract §14) in one file: each is a prefix compared with
 * every inbound request path, so a bound keeps routing cheap. */
#define CONFIG_MAX_ROUTES 64
/* Most header= options on one route. */
#define CONFIG_ROUTE_HEADERS 16
/* Longest route timeout= (ms): one hour, the bound of the global timeout,
 * so that no route holds an outbound slot longer than any delivery may
 * (a recorded request is held to it again when it is read back). */
#define CONFIG_ROUTE_TIMEOUT_MAX (3600 * 1000)

/*
 * A gateway route (contract §14): `route PREFIX UPSTREAM [type=TYPE]
 * [timeout=DURATION] [header=Name:Value]...`. Requests under prefix are
 * accepted for a client, sent to upstream + the rest of the path, and the
 * answer becomes an event of type.
 */
struct config_route {
	char *prefix;		/* "/api/": starts with '/' */
	char *upstream;		/* "http://host:port/path" (no query) */
	char *type;		/* the event type; "request.completed" */
	int64_t timeout_ms;	/* one upstream call; 0: timeout in force */
	char **headers;		/* "Name: Value", sent to the upstream */
	size_t nheaders;
	int line;		/* where it was declared, for messages */
};

struct config {
	char listen[128];		/* "ADDR:PORT", "[v6]:PORT" */
	char data_dir[1024];
	char admin_token_file[1024];	/* "" when not set */
	/* CA certificates (PEM) that https receivers are verified against
	 * instead of the system store (contract §13); "" when not set. */
	char tls_ca_file[1024];
	size_t max_header_bytes;
	size_t max_headers;
	size_t max_body;
	int64_t header_timeout_ms;
	int64_t idle_timeout_ms;
	int64_t body_timeout_ms;	/* a whole request body, in all */
	size_t max_connections;
	int64_t timeout_ms;		/* one delivery attempt */
	int64_t retry_ms[CONFIG_MAX_RETRIES];	/* delays after attempts */
	size_t nretry;
	int64_t disable_after_ms;
	size_t endpoint_concurrency;
	size_t max_outbound;
	size_t max_endpoints_per_client;	/* contract §18 */
	size_t max_endpoint_headers;
	size_t max_retries_per_minute;
	size_t max_log_attempts;	/* attempts kept in a delivery's log */
	/* Attempts in flight for one client; 0 when not set: see
	 * config_client_inflight. */
	size_t max_inflight_per_client;
	int64_t retention_ms;
	int64_t drain_timeout_ms;
	size_t node_id;			/* 0-255, in new ids' low bits */
	int fsync_always;		/* fsync always (1) or never (0) */
	struct url_cidr allow[CONFIG_MAX_ALLOW];
	size_t nallow;
	int metrics;
	struct config_reg *regs;
	size_t nregs;
	struct config_route *routes;	/* in file order */
	size_t nroutes;
	/* Operational webhooks (contract §15): where hookd posts its own
	 * events, and the secret that signs them; both "" when not set. */
	char ops_url[URL_MAX + 1];
	char ops_secret[128];
	int ops_line;			/* the last of the two, for messages */
	/* Set by config_load: the file holds a secret (secret=, a *secret
	 * key) and its mode lets group or others read it (issue 19.8). */
	int file_exposes_secret;
};

/*
 * Delivery policy (contract §15): the one check of each endpoint member,
 * used by the config file (its global keys and its endpoint lines) and by
 * the API, so that both accept and refuse the same values with the same
 * words. Each returns 0, or -1 with *why set (it may point into whybuf)
 * naming the member and how to write it. None logs.
 */
/* Largest rate_limit in deliveries a second: beyond what one receiver is
 * sent in practice, it catches a slip like 1e9 and keeps the token
 * bucket's arithmetic (millionths of a token) far from overflowing. */
#define CONFIG_RATE_MAX 10000

/* rate_limit: a JSON number (len bytes of s; RFC 8259 §6, an exponent and
 * trailing zeros allowed, no sign) whose value is from 0.001 to
 * CONFIG_RATE_MAX with at most three decimals ("2.50000", "1e3", "1E-3"),
 * into *milli (thousandths of a delivery a second). */
int config_check_rate(const char *s, size_t len, uint32_t *milli,
    const char **why);

/* ordering: "fifo" (*fifo = 1) or "none" (*fifo = 0). */
int config_check_ordering(const char *s, size_t len, int *fifo,
    const char **why);

/* timeout: one duration (a NUL-terminated string) in the range of the
 * global timeout key, into *ms. */
int config_check_timeout(const char *s, int64_t *ms, const char **why,
    char *whybuf, size_t whysz);

/* retry_schedule: n durations (words[i], NUL-terminated), 1 to
 * CONFIG_MAX_RETRIES of them, each at most 7 d, into ms[0..n) (ms has room
 * for CONFIG_MAX_RETRIES). The rule of the global key and of endpoints. */
int config_check_retry(const char *const *words, size_t n, int64_t *ms,
    const char **why);

/* A duration in its largest whole unit ("15s", "250ms", "7d"), the form
 * the checkers read back, into out (outsz bytes). Returns out. */
const char *config_fmt_duration(int64_t ms, char *out, size_t outsz);

/* A rate_limit (thousandths a second) as the decimal config_check_rate
 * reads ("20", "0.5"), into out (outsz bytes, 16 is enough). Returns
 * out. */
const char *config_fmt_rate(uint32_t milli, char *out, size_t outsz);

/* Fill c with the defaults of contract §7. */
void config_defaults(struct config *c);

/*
 * Read the config file at path into c (on top of what c holds). Returns 0, or
 * -1 with "file:line: reason" in err (errsz bytes). A key that appears twice
 * keeps the last value; static registration lines accumulate.
 */
int config_load(struct config *c, const char *path, char *err, size_t errsz);

/*
 * config_load's parser, on an open stream f (the caller's; not closed):
 * the text of the file named path (for messages only, nothing is opened),
 * shared 1 when its mode lets group or others read it (then a secret in it
 * sets c->file_exposes_secret). Returns 0, or -1 with "path:line: reason"
 * in err. The fuzz target gives it an fmemopen stream, so that it tests
 * the file reader's own code.
 */
int config_load_stream(struct config *c, FILE *f, const char *path,
    int shared, char *err, size_t errsz);

/* Parse a "ADDR:PORT" listen value for the -l flag. 0 or -1. */
int config_set_listen(struct config *c, const char *value);

/* Parse a listen value "ADDR:PORT" or "[V6]:PORT" (literal addresses, and
 * "localhost", which is 127.0.0.1 without asking a resolver: RFC 6761
 * §6.3) into ss and len. 0 or -1. */
/* The forms config_listen_addr takes, as every message that refuses one
 * names them. */
#define CONFIG_LISTEN_FORMS "IPV4:PORT, [IPV6]:PORT or localhost:PORT"

int config_listen_addr(const char *value, struct sockaddr_storage *ss,
    socklen_t *len);

/* 1 when a valid listen value names a loopback address (127.0.0.0/8, ::1,
 * or ::ffff:127.0.0.0/104), where tokens in clear stay on the machine. */
int config_listen_is_loopback(const char *value);

/*
 * One line (no newline) on what c puts in force, for `hookd -n`: listen,
 * data_dir, fsync, allow_destinations, metrics, the main limits, the
 * number of static registrations and ops_url (without its query, which
 * may hold a token). Never a secret. Written into out (outsz
 * bytes, cut when too small). Returns out.
 */
char *config_summary(const struct config *c, char *out, size_t outsz);

/*
 * The attempts one client may have in flight: max_inflight_per_client when
 * set, else half of max_outbound (at least 1), so that one tenant's hanging
 * receivers leave at least half of the outbound slots to the others
 * (contract §18). A value above max_outbound caps nothing.
 */
size_t config_client_inflight(const struct config *c);

/*
 * Append to list (a NUL-terminated comma-separated list, listsz bytes) the
 * name of every scalar key (every key of the config's table of numbers and
 * durations) whose value differs between a and b, in table order, so that a
 * key added to the table is reported without a second list to keep. A name
 * that does not fit whole is left out. Returns the number of keys that
 * differ.
 */
size_t config_changed_scalars(const struct config *a, const struct config *b,
    char *list, size_t listsz);

/*
 * The route whose prefix starts path (len bytes, the request target's
 * path without the query) at a segment boundary (the prefix ends with '/',
 * or path is the prefix or goes on with '/': "/apiraw" takes "/apiraw/x"
 * but not "/apirawx"), the longest such prefix when several do; NULL when
 * none (or c is NULL).
 */
const struct config_route *config_route_find(const struct config *c,
    const char *path, size_t len);

/* 1 when a and b hold different routes (in file order), for the log of a
 * reload; else 0. */
int config_routes_differ(const struct config *a, const struct config *b);

/* Release what config_load allocated (registrations, routes). */
void config_free(struct config *c);

/*
 * Lay the command-line flags over c: listen (-l, "ADDR:PORT") and data_dir
 * (-d, 1 to sizeof(c->data_dir) - 1 bytes); NULL leaves a setting as it is.
 * Flags win over the file, at start and on every reload. 0, or -1 when a
 * value is invalid (c may then hold part of it).
 */
int config_apply_flags(struct config *c, const char *listen,
    const char *data_dir);

/*
 * A new config: the defaults, then the file at path (none when NULL), then
 * the flags (config_apply_flags). The caller owns the result and releases
 * it with config_free and free. NULL with the reason in err (errsz bytes):
 * the file's "file:line: reason", "bad -l or -d value" or "out of memory".
 */
struct config *config_read(const char *path, const char *listen,
    const char *data_dir, char *err, size_t errsz);

/*
 * The settings in force: what config_set_current was last given (NULL
 * before). Replaced on SIGHUP, between loop passes: a pointer kept across
 * passes may dangle, so read it again each time.
 */
const struct config *config_current(void);
/* Put c in force (c stays the caller's, and must outlive its use). */
void config_set_current(const struct config *c);

#endif
