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
 * or what went wrong reading the answer.
 */
int cli_http_call(const char *addr, const char *token, const char *method,
    const char *target, const char *extra, const char *body, size_t body_len,
    struct cli_http_answer *ans, char *err, size_t errsz);

#endif
