/*
 * cli_http: one blocking HTTP/1.1 exchange with a running hookd, for the
 * command line's subcommands (cli_api.c). The head and the body's framing
 * are read by http.c's parsers, the same the daemon uses.
 */
#ifndef HOOKD_CLI_HTTP_H
#define HOOKD_CLI_HTTP_H

#include <stddef.h>

#include "util.h"

/* How long a connect, and then each wait for the answer's next bytes, may
 * take: a wrong address or a stopped hookd fails within it, with a message
 * that says so, instead of hanging the command. */
#define CLI_HTTP_TIMEOUT_MS 10000
/* How long one request may take in all, connect to the answer's last
 * byte: a server that dribbles a byte every few seconds, or sends an
 * endless chunked body or endless 1xx lines, is left after it instead of
 * holding the command forever. HOOKD_CLI_TIMEOUT (whole seconds, 1-3600)
 * sets another, e.g. for a page of many deliveries over a slow link. */
#define CLI_HTTP_DEADLINE_MS 30000
#define CLI_HTTP_DEADLINE_MAX_S 3600
/* Interim (1xx) answers skipped before the real one: hookd sends none,
 * HTTP servers at most one or two; past this the server is not answering
 * but stalling. */
#define CLI_HTTP_MAX_INTERIM 32
/* Largest answer read: an API page stops near 4 MiB (API_PAGE_BYTES_MAX)
 * plus its last item; beyond this an answer is refused rather than held. */
#define CLI_HTTP_MAX_ANSWER (64u << 20)

/* An answer: its status and its body (decoded from chunked if it was). */
struct cli_http_answer {
	int status;
	struct buf body;	/* the caller frees it with buf_free */
};

/*
 * Send method target (a path with its query, already percent-encoded) to
 * hookd listening at addr ("IPV4:PORT" or "[IPV6]:PORT", a listen value;
 * a wildcard address 0.0.0.0 or [::] is reached on loopback), with
 * "Authorization: Bearer token" when token is not NULL, extra (NULL or
 * "Name: value\r\n" lines) and body (body_len bytes, sent as
 * application/json) when body is not NULL. One connection per call
 * ("Connection: close"). 0 with *ans filled (any status), or -1 with err
 * set: "cannot connect to ADDR: REASON; is hookd running? (-l HOST:PORT)",
 * or what went wrong reading the answer; with errno EINTR when a stop
 * signal interrupted it (cli_http_catch_stop). The whole exchange ends
 * within CLI_HTTP_DEADLINE_MS (or HOOKD_CLI_TIMEOUT).
 */
/*
 * Catch SIGINT and SIGTERM from now on: each sets the stop flag and wakes
 * every wait of cli_http_call and cli_http_pause at once (a self-pipe, so
 * that a signal landing just before a wait is not missed). 0, or -1 with
 * errno when the pipe or the handlers could not be set up.
 */
int cli_http_catch_stop(void);
/* 1 once SIGINT or SIGTERM came (after cli_http_catch_stop), else 0. */
int cli_http_stopped(void);
/* Wait ms milliseconds, or less when a stop signal comes. */
void cli_http_pause(int ms);

/*
 * 0 when HOOKD_CLI_TIMEOUT is unset, empty or whole seconds 1-3600; else
 * -1 with err naming the range (the command's usage error, said before
 * anything is sent).
 */
int cli_http_timeout_check(char *err, size_t errsz);

int cli_http_call(const char *addr, const char *token, const char *method,
    const char *target, const char *extra, const char *body, size_t body_len,
    struct cli_http_answer *ans, char *err, size_t errsz);

#endif
