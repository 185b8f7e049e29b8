/*
 * tls: the client side of TLS for outbound connections (contract §13), a
 * thin layer over OpenSSL 3 in the build made with `make TLS=openssl`. It
 * owns the one verifying context (CA store, TLS 1.2 minimum) and the
 * sessions kept for resumption; outbound.c drives it over its own
 * non-blocking sockets. In the plain build nothing of it is compiled: the
 * functions below are the inline ones at the end, which say "no TLS", and
 * no https:// URL gets this far (url_parse refuses them).
 */
#ifndef HOOKD_TLS_H
#define HOOKD_TLS_H

#include <stddef.h>

/* What one step of a TLS connection came to. */
enum tls_result {
	TLS_OK,				/* done (bytes moved, handshake over) */
	TLS_WANT_READ,			/* wait for POLLIN, then call again */
	TLS_WANT_WRITE,			/* wait for POLLOUT, then call again */
	TLS_EOF,			/* the peer closed: see tls_eof_clean */
	TLS_FAIL			/* see tls_error; the connection is dead */
};

/* One TLS connection over a connected socket; opaque. */
struct tls_conn;

#ifdef HOOKD_TLS

/* The TLS library's name and version ("OpenSSL 3.0.13 30 Jan 2024"), for
 * hookd -V; NULL in the plain build. Static. */
const char *tls_library(void);

/*
 * (Re)build the context every new connection uses: certificates verified
 * against ca_file (PEM, one or more CAs) or, when ca_file is NULL or "",
 * the system's default store; TLS 1.2 or later. Connections already open
 * keep the context they were made with; kept sessions are dropped (they
 * were verified against the old store). Returns 0, or -1 with err set
 * ("tls_ca_file /x: no CA certificate in it") and the old context kept.
 */
int tls_init(const char *ca_file, char *err, size_t errsz);

/* Release the context and the kept sessions (at exit). */
void tls_free(void);

/*
 * Start the client side of TLS on fd (connected, non-blocking; still the
 * caller's to close). host is what the certificate must name: a DNS name
 * (also sent as SNI) or, when literal is set, an IPv4 or IPv6 address
 * (checked against the certificate's IP addresses; no SNI, RFC 6066 §3).
 * session_key (e.g. "host:port") names the session to resume and to keep
 * for the next connection. Returns the connection (free with tls_close),
 * or NULL when out of memory or tls_init never succeeded, with err set.
 */
struct tls_conn *tls_connect(int fd, const char *host, int literal,
    const char *session_key, char *err, size_t errsz);

/* One step of the handshake: TLS_OK when it is over (certificate
 * verified), TLS_WANT_*, or TLS_FAIL. */
enum tls_result tls_handshake(struct tls_conn *t);

/* Read up to len bytes into buf (*got set on TLS_OK, at least 1). Also
 * processes records that carry no data (session tickets): TLS_WANT_READ
 * then. TLS_EOF when the peer closed. */
enum tls_result tls_read(struct tls_conn *t, char *buf, size_t len,
    size_t *got);

/* Write up to len bytes of buf (*put set on TLS_OK, at least 1). A
 * TLS_WANT_* must be answered by calling again with the same bytes. */
enum tls_result tls_write(struct tls_conn *t, const char *buf, size_t len,
    size_t *put);

/* Decrypted bytes held inside the library that poll() cannot see: read
 * them before waiting on the socket again. */
size_t tls_pending(const struct tls_conn *t);

/* For an idle connection: process what arrived (a late session ticket is
 * not data) without taking any data. TLS_WANT_READ when nothing but such
 * records came, so the connection may carry another request; TLS_OK when
 * data is waiting, TLS_EOF or TLS_FAIL otherwise. */
enum tls_result tls_idle_check(struct tls_conn *t);

/* After TLS_EOF: 1 when the peer ended with close_notify, 0 when the
 * socket closed without it (RFC 9112 §9.8: only a length-delimited
 * response is then known to be whole). */
int tls_eof_clean(const struct tls_conn *t);

/* 1 when the handshake resumed a kept session. */
int tls_resumed(const struct tls_conn *t);

/*
 * After TLS_FAIL: the error text ("tls: certificate verify failed:
 * certificate has expired", "tls: handshake failed: unsupported
 * protocol"), static or t's own; NULL when the failure was the socket's
 * (errno is then set: a reset, a refused write).
 */
const char *tls_error(const struct tls_conn *t);

/* Send close_notify when the connection is healthy (one try, never
 * waits) and free t. The socket stays the caller's. Safe with NULL. */
void tls_close(struct tls_conn *t);

#else /* the plain build: no TLS, and nothing calls these on a connection */

static inline const char *tls_library(void) { return NULL; }
static inline int
tls_init(const char *ca_file, char *err, size_t errsz)
{
	(void)ca_file; (void)err; (void)errsz;
	return 0;
}
static inline void tls_free(void) { }
static inline struct tls_conn *
tls_connect(int fd, const char *host, int literal, const char *key,
    char *err, size_t errsz)
{
	(void)fd; (void)host; (void)literal; (void)key;
	if (errsz > 0)
		err[0] = '\0';
	return NULL;
}
static inline enum tls_result
tls_handshake(struct tls_conn *t) { (void)t; return TLS_FAIL; }
static inline enum tls_result
tls_read(struct tls_conn *t, char *buf, size_t len, size_t *got)
{
	(void)t; (void)buf; (void)len; (void)got;
	return TLS_FAIL;
}
static inline enum tls_result
tls_write(struct tls_conn *t, const char *buf, size_t len, size_t *put)
{
	(void)t; (void)buf; (void)len; (void)put;
	return TLS_FAIL;
}
static inline size_t tls_pending(const struct tls_conn *t) { (void)t; return 0; }
static inline enum tls_result
tls_idle_check(struct tls_conn *t) { (void)t; return TLS_FAIL; }
static inline int tls_eof_clean(const struct tls_conn *t) { (void)t; return 0; }
static inline int tls_resumed(const struct tls_conn *t) { (void)t; return 0; }
static inline const char *
tls_error(const struct tls_conn *t) { (void)t; return "tls: not built in"; }
static inline void tls_close(struct tls_conn *t) { (void)t; }

#endif /* HOOKD_TLS */

#endif
