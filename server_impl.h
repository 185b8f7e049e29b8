/*
 * server_impl: private to the inbound side (server.c and server_conn.c):
 * a connection, its states, and the lists both files walk. No other module
 * includes this header.
 */
#ifndef HOOKD_SERVER_IMPL_H
#define HOOKD_SERVER_IMPL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "http.h"
#include "loop.h"
#include "util.h"

enum conn_state {
	CONN_READ_HEAD,		/* waiting for a whole request head */
	CONN_READ_BODY,		/* head parsed, body still arriving */
	CONN_PARKED,		/* complete; the API waits for a lookup */
	CONN_WAIT_DURABLE,	/* answered; waiting for the group commit */
	CONN_WRITE,		/* sending the answer */
	CONN_CLOSE		/* answered; dropping what the client sends */
};

/* What a step of a connection's state machine asks of its caller. */
enum conn_step {
	STEP_NEXT,		/* state changed: advance again */
	STEP_WAIT,		/* wait for the socket or the commit */
	STEP_GONE		/* the connection was closed and freed */
};

struct conn {
	struct watch w;			/* first: the loop hands us &c->w */
	enum conn_state state;
	struct conn *prev, *next;	/* every connection */
	struct conn *wprev, *wnext;	/* waiting for durability, in
					   wait_seq order */
	int64_t deadline;		/* closed when passed (PARKED: run
					   again, late) */
	int64_t body_deadline;		/* READ_BODY: the whole body by then */
	int head_started;		/* header_timeout is running */
	int peer_eof;			/* the client shut down its side */
	int resolve_late;		/* PARKED past its deadline */

	/* The request: in holds its bytes (and any pipelined ones after). */
	struct buf in;
	size_t scan;			/* in: searched for the head's end */
	size_t lines_parsed;		/* partial heads parsed at a line end */
	int parsed;			/* req holds a parsed head */
	size_t parsed_cap;		/* in.cap when parsed: if in moved,
					   req's spans must be parsed again */
	struct http_request req;
	size_t head_len;
	size_t msg_len;			/* head + body, once known */
	size_t body_len;		/* chunked: decoded so far */
	struct http_chunked chunk;
	int64_t started;		/* head complete (for the debug log) */

	/* The answer: out (status line, headers, maybe a 100 Continue
	 * first) then body, sent with one writev. */
	struct buf out;
	struct buf body;
	size_t sent;			/* bytes of out, then body, sent */
	int send_body;			/* 0 for HEAD */
	int keep_alive;
	int status;
	uint64_t wait_seq;		/* store_written_seq() at answer */
};

/* Defined in server.c. */
extern int draining;		/* server_drain: no keep-alive, no accept */
extern int sync_async;		/* the store's sync thread runs */
extern struct conn *conns;	/* every connection */
extern size_t nconns;
extern size_t nparked;		/* requests parked for a lookup */
extern struct conn *wait_head, *wait_tail;	/* waiting for durability */

/* server.c: a group commit's write or fsync failed (errno says why): the
 * answers waiting for it are withheld or answered 500, and main hears of
 * it. */
void sync_failed(void);

/* server_conn.c: take c off the list of answers waiting for durability. */
void wait_unlink(struct conn *c);

/* server_conn.c: close c and free it. */
void conn_close(struct conn *c);

/* server_conn.c: a connection for the accepted socket fd (closed when it
 * cannot be served). */
void conn_new(int fd);

/* server_conn.c: enter state s and start the deadline that goes with it. */
void conn_set_state(struct conn *c, enum conn_state s);

/* server_conn.c: poll for what c's state waits on. */
void conn_update_events(struct conn *c);

/* server_conn.c: one writev of what is left of c's answer: the bytes sent,
 * or -1 (errno). */
ssize_t conn_try_send(struct conn *c);

/* server_conn.c: put the answer's status line and headers in c->out, for
 * the body in c->body. 0, or -1 out of memory. */
int conn_respond(struct conn *c, int status, const char *ctype,
    int keep_alive);

/* server_conn.c: the request of c is complete: let the API answer it, then
 * wait for the group commit when needed. */
enum conn_step conn_answer(struct conn *c);

/* server_conn.c: run c's state machine until it has to wait (or c is
 * gone). */
void conn_advance(struct conn *c);

#endif
