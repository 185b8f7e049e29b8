/*
 * outbound: one outbound HTTP/1.1 exchange (connect to the first allowed
 * address, send the request, read the response), over TLS for https
 * (tls.h), and the keep-alive pools its connections are parked in and
 * reused from.
 * It reports how an exchange ended through the callback its owner set.
 */
#ifndef HOOKD_OUTBOUND_H
#define HOOKD_OUTBOUND_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "http.h"
#include "store.h"
#include "url.h"
#include "util.h"

/* How an exchange ended. */
/* Response body (contract §5): beyond it the answer is "bad response", so
 * a receiver cannot keep an attempt reading forever (a gateway request's
 * upstream answer fails with "upstream answer over 1 MiB"). */
#define OUT_MAX_BODY	(1024 * 1024)

enum out_result {
	OUT_ANSWER,			/* a whole response: see the fields */
	OUT_DENIED,			/* no address allowed (contract §8) */
	OUT_TIMEOUT,
	OUT_ERROR			/* other transport errors */
};

enum out_state {
	OUT_IDLE,			/* not connected yet */
	OUT_CONNECTING,			/* non-blocking connect under way */
	OUT_HANDSHAKE,			/* TLS handshake under way */
	OUT_SENDING,			/* request partly written */
	OUT_HEAD,			/* reading the response head */
	OUT_BODY			/* reading the response body */
};

enum out_body_mode {
	OUT_BODY_NONE,			/* 204, 304: nothing follows the head */
	OUT_BODY_LENGTH,		/* Content-Length */
	OUT_BODY_CHUNKED,
	OUT_BODY_CLOSE			/* until the receiver closes */
};

struct out_conn;

/*
 * One request and its response. The owner embeds it, fills the fields
 * under "set by the owner" (the rest zero, retry_after -1), and calls
 * out_connect; done then runs exactly once, possibly before out_connect
 * returns. The owner gives the connection back with out_release (from
 * done, or when it gives up: a timeout, a stop). The buffers req, in and
 * whole are the owner's to keep between exchanges and to free.
 */
struct out_exchange {
	/* Set by the owner. */
	char host[URL_HOST_MAX];	/* the Host, part of the pool key */
	uint16_t port;
	int tls;			/* https: TLS over the connection, and
					   part of the pool key (contract §13) */
	int literal;			/* host is an IP literal: the
					   certificate must name the address */
	uint64_t ep;			/* owning endpoint's id, 0: one-off */
	int keep_all;			/* keep any body whole in whole (a
					   gateway's upstream answer) */
	const char *client;		/* owning client's id (pool key) */
	struct url_addr addr[URL_MAX_ADDRS];
	size_t naddr;
	struct buf req;			/* the whole request */
	/* How it ended; error is a static string or x->error. */
	void (*done)(struct out_exchange *x, enum out_result r,
	    const char *error);

	/* The exchange's own state. */
	struct out_conn *conn;
	enum out_state state;
	size_t next_addr, cur_addr;
	int allowed;			/* addresses the §8 rules let through */
	int last_errno;			/* the latest connect failure */
	int reused;			/* conn came from a pool */
	int refreshed;			/* already replaced a stale conn */
	size_t req_off;
	int sent_all;
	struct buf in;
	size_t scan;			/* where to look for the head's end */
	int got_bytes;			/* any response byte arrived */
	size_t head_bytes;		/* of interim heads already consumed */
	unsigned interim;		/* interim (1xx) heads so far */
	enum out_body_mode mode;
	uint64_t remaining;		/* OUT_BODY_LENGTH: bytes to come */
	struct http_chunked chunk;

	/* The answer, on OUT_ANSWER. */
	int status;
	int keep_alive;
	int reusable;			/* the connection may carry another */
	int64_t retry_after;		/* ms (429, 503), -1 when none */
	size_t body_total;		/* decoded body bytes seen */
	size_t body_len;		/* of them kept in body */
	char body[STORE_ACK_MAX];
	/* A 2xx JSON object body longer than body[], kept whole (up to
	 * OUT_MAX_BODY) so that "ack": false is found anywhere in it
	 * (contract §12); empty for every other answer unless keep_all,
	 * then every body (up to OUT_MAX_BODY). */
	struct buf whole;
	/* Set with OUT_ERROR when the answer (status set) was refused for a
	 * body over OUT_MAX_BODY. */
	int too_large;
	/* The answer's Content-Type ("" when none; cut at its size). */
	char ctype[128];

	char error[128];
};

/*
 * Connect x to its next allowed address (contract §8: checked on the
 * address itself, after resolution): an idle pooled connection when there
 * is one, else a new one; then send and read. When every address is denied
 * done gets OUT_DENIED with the reason; when every allowed one failed to
 * connect, the last error.
 */
void out_connect(struct out_exchange *x);

/* Give x's connection back: parked for reuse when reusable (within the
 * idle caps), else closed. Safe when x has none. */
void out_release(struct out_exchange *x, int reusable);

/* Close the connections idle for OUT_IDLE_MS (30 s) by now (monotonic
 * ms). Call once per loop pass. */
void outbound_tick(int64_t now);

/* The monotonic ms when the oldest idle connection is due to close, or -1
 * when none is idle: a deadline for the loop's poll. */
int64_t outbound_idle_deadline(void);

/* The idle connections a pool may keep, and the attempts one endpoint may
 * have in flight: endpoint_concurrency in force, at least 1. */
size_t outbound_endpoint_cap(void);

/* The idle connections all pools may keep, and the attempts in flight in
 * all: max_outbound in force, at least 1. */
size_t outbound_cap(void);

/* Close every idle connection (at stop; busy ones go with out_release). */
void outbound_close_idle(void);

#endif
