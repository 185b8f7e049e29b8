/*
 * tls: the client side of TLS over OpenSSL 3 for outbound connections: the
 * verifying context, one connection's handshake, reads and writes, and the
 * sessions kept per host:port for resumption. Compiled only in the build
 * made with `make TLS=openssl` (HOOKD_TLS); the plain build is libc+POSIX.
 */
#ifdef HOOKD_TLS

#include "tls.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "util.h"

/*
 * Limits.
 */
/* Sessions kept for resumption, one per host:port slot (a newer one for
 * another host in the same slot replaces it): receivers cannot make hookd
 * keep more than this many, whatever the number of hosts they name. */
#define TLS_SESSIONS		1024
/* Longest session key (a host name of 255 and ":65535"). */
#define TLS_KEY_MAX		272

struct tls_conn {
	SSL *ssl;
	char key[TLS_KEY_MAX];		/* "host:port", the session's slot */
	int dead;			/* a fatal error: no close_notify */
	int eof_clean;			/* TLS_EOF came with close_notify */
	int sys_errno;			/* a socket error, 0 for none */
	char err[160];			/* the error text of TLS_FAIL */
};

struct tls_session {
	char key[TLS_KEY_MAX];
	SSL_SESSION *s;
};

static SSL_CTX *tls_ctx;
static struct tls_session tls_sessions[TLS_SESSIONS];

const char *
tls_library(void)
{
	return OpenSSL_version(OPENSSL_VERSION);
}

/* The slot of key in tls_sessions. */
static struct tls_session *
tls_session_slot(const char *key)
{
	return &tls_sessions[util_hash(UTIL_HASH_START, key, strlen(key)) %
	    TLS_SESSIONS];
}

static void
tls_sessions_drop(void)
{
	size_t i;

	for (i = 0; i < TLS_SESSIONS; i++) {
		SSL_SESSION_free(tls_sessions[i].s);
		tls_sessions[i].s = NULL;
		tls_sessions[i].key[0] = '\0';
	}
}

/* OpenSSL's new-session callback: a ticket or session of the connection
 * came (in TLS 1.3 after the handshake, possibly while a request is still
 * being written): keep it for the next connection to the same host:port,
 * unless the connection's context is no longer the current one. Returns
 * 1 when the reference is ours now, else 0. */
static int
tls_session_new(SSL *ssl, SSL_SESSION *s)
{
	struct tls_conn *t = SSL_get_app_data(ssl);
	struct tls_session *slot;

	/* A connection made before a reload was verified against the old
	 * CA store: resuming its session would skip the new one. */
	if (t == NULL || !SSL_SESSION_is_resumable(s) ||
	    SSL_get_SSL_CTX(ssl) != tls_ctx)
		return 0;
	slot = tls_session_slot(t->key);
	SSL_SESSION_free(slot->s);
	slot->s = s;
	snprintf(slot->key, sizeof(slot->key), "%s", t->key);
	return 1;
}

/* 1 when store holds at least one certificate. */
static int
tls_store_has_cert(X509_STORE *store)
{
	STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(store);
	int i;

	for (i = 0; i < sk_X509_OBJECT_num(objs); i++)
		if (X509_OBJECT_get_type(sk_X509_OBJECT_value(objs, i)) ==
		    X509_LU_X509)
			return 1;
	return 0;
}

int
tls_init(const char *ca_file, char *err, size_t errsz)
{
	SSL_CTX *ctx;
	unsigned long e;

	ERR_clear_error();
	ctx = SSL_CTX_new(TLS_client_method());
	if (ctx == NULL) {
		snprintf(err, errsz, "tls: cannot make a context: %s",
		    ERR_reason_error_string(ERR_get_error()));
		return -1;
	}
	/* Contract §13: TLS 1.2 or later, the peer always verified (no
	 * switch turns this off), and the verify result kept for the error
	 * text rather than a bare handshake failure. */
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1)
		goto fail;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (ca_file != NULL && ca_file[0] != '\0') {
		if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
			e = ERR_peek_last_error();
			snprintf(err, errsz, "tls_ca_file %s: %s (want a PEM "
			    "file of CA certificates)", ca_file,
			    e != 0 && ERR_reason_error_string(e) != NULL ?
			    ERR_reason_error_string(e) : "cannot load");
			SSL_CTX_free(ctx);
			ERR_clear_error();
			return -1;
		}
		/* A PEM file of CRLs only loads without error, and then
		 * every https delivery would fail verification. */
		if (!tls_store_has_cert(SSL_CTX_get_cert_store(ctx))) {
			snprintf(err, errsz, "tls_ca_file %s: no CA certificate "
			    "in it (want a PEM file of CA certificates)",
			    ca_file);
			SSL_CTX_free(ctx);
			ERR_clear_error();
			return -1;
		}
	} else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
		goto fail;
	}
	/*
	 * An idle pooled connection gives its 2 x 16 KiB record buffers back
	 * (RELEASE_BUFFERS); writes return as records go out, and a retried
	 * write may come from a buffer that moved (the request buffer grows
	 * while an answer is read).
	 */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS |
	    SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* Renegotiation is a server's way to make a client do work it did
	 * not ask for; HTTP/1.1 over TLS 1.2 never needs it from us. */
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
	/* Sessions are kept by tls_session_new, per host:port. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT |
	    SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(ctx, tls_session_new);

	/* Open connections hold their own reference to the old context. */
	SSL_CTX_free(tls_ctx);
	tls_ctx = ctx;
	tls_sessions_drop();
	return 0;
fail:
	e = ERR_get_error();
	snprintf(err, errsz, "tls: cannot set up the context: %s",
	    e != 0 && ERR_reason_error_string(e) != NULL ?
	    ERR_reason_error_string(e) : "unknown error");
	SSL_CTX_free(ctx);
	ERR_clear_error();
	return -1;
}

void
tls_free(void)
{
	tls_sessions_drop();
	SSL_CTX_free(tls_ctx);
	tls_ctx = NULL;
}

struct tls_conn *
tls_connect(int fd, const char *host, int literal, const char *session_key,
    char *err, size_t errsz)
{
	struct tls_conn *t;
	struct tls_session *slot;
	int ok;

	if (tls_ctx == NULL) {
		snprintf(err, errsz, "tls: no context");
		return NULL;
	}
	t = calloc(1, sizeof(*t));
	if (t == NULL) {
		snprintf(err, errsz, "out of memory");
		return NULL;
	}
	ERR_clear_error();
	t->ssl = SSL_new(tls_ctx);
	if (t->ssl == NULL)
		goto fail;
	snprintf(t->key, sizeof(t->key), "%s", session_key);
	SSL_set_app_data(t->ssl, t);
	ok = SSL_set_fd(t->ssl, fd) == 1;
	if (ok && literal) {
		/* RFC 6066 §3: no SNI for an address; the certificate must
		 * name the address itself (an iPAddress entry). */
		ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl),
		    host) == 1;
	} else if (ok) {
		/* OpenSSL's SNI macro takes a char *: a copy of the name
		 * (at most a DNS name's 255 bytes). */
		char sni[TLS_KEY_MAX];

		/* "*.example.com" matches one whole label, never part of
		 * one ("f*.example.com" is refused). */
		SSL_set_hostflags(t->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		ok = (size_t)snprintf(sni, sizeof(sni), "%s", host) <
		    sizeof(sni) && SSL_set_tlsext_host_name(t->ssl, sni) == 1 &&
		    SSL_set1_host(t->ssl, host) == 1;
	}
	if (!ok)
		goto fail;
	slot = tls_session_slot(t->key);
	if (slot->s != NULL && strcmp(slot->key, t->key) == 0)
		(void)SSL_set_session(t->ssl, slot->s);
	SSL_set_connect_state(t->ssl);
	return t;
fail:
	snprintf(err, errsz, "tls: cannot start: %s",
	    ERR_peek_error() != 0 ? ERR_reason_error_string(ERR_peek_error()) :
	    "out of memory");
	ERR_clear_error();
	SSL_free(t->ssl);
	free(t);
	return NULL;
}

/* The reason of the first queued OpenSSL error, or fallback. */
static const char *
tls_reason(const char *fallback)
{
	unsigned long e = ERR_peek_error();
	const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;

	return r != NULL ? r : fallback;
}

/*
 * What the result rc of an SSL call means. during_handshake picks the
 * error text for TLS_FAIL. The error queue is cleared after.
 */
static enum tls_result
tls_outcome(struct tls_conn *t, int rc, int during_handshake)
{
	int e = SSL_get_error(t->ssl, rc), saved = errno;
	enum tls_result r = TLS_FAIL;
	long v;

	switch (e) {
	case SSL_ERROR_NONE:
		r = TLS_OK;
		break;
	case SSL_ERROR_WANT_READ:
		r = TLS_WANT_READ;
		break;
	case SSL_ERROR_WANT_WRITE:
		r = TLS_WANT_WRITE;
		break;
	case SSL_ERROR_ZERO_RETURN:
		/* close_notify: a clean end. */
		t->eof_clean = 1;
		r = during_handshake ? TLS_FAIL : TLS_EOF;
		if (during_handshake)
			snprintf(t->err, sizeof(t->err), "tls: handshake "
			    "failed: the receiver closed the connection");
		break;
	case SSL_ERROR_SYSCALL:
		t->dead = 1;
		if (saved != 0 && saved != EAGAIN && saved != EWOULDBLOCK) {
			t->sys_errno = saved;
			if (during_handshake)
				snprintf(t->err, sizeof(t->err), "tls: "
				    "handshake failed: %s", strerror(saved));
		} else {
			snprintf(t->err, sizeof(t->err), "tls: %s failed: %s",
			    during_handshake ? "handshake" : "connection",
			    tls_reason("the receiver closed the connection"));
		}
		break;
	case SSL_ERROR_SSL:
	default:
		t->dead = 1;
		/* The peer closed the socket without close_notify: an end,
		 * whose meaning the caller judges (tls_eof_clean). */
		if (!during_handshake && ERR_GET_REASON(ERR_peek_error()) ==
		    SSL_R_UNEXPECTED_EOF_WHILE_READING) {
			r = TLS_EOF;
			break;
		}
		v = SSL_get_verify_result(t->ssl);
		if (during_handshake && v != X509_V_OK)
			snprintf(t->err, sizeof(t->err), "tls: certificate "
			    "verify failed: %s", X509_verify_cert_error_string(v));
		else
			snprintf(t->err, sizeof(t->err), "tls: %s failed: %s",
			    during_handshake ? "handshake" : "connection",
			    tls_reason("unknown error"));
		break;
	}
	ERR_clear_error();
	errno = saved;
	return r;
}

enum tls_result
tls_handshake(struct tls_conn *t)
{
	int rc;

	ERR_clear_error();
	errno = 0;
	rc = SSL_do_handshake(t->ssl);
	return rc == 1 ? TLS_OK : tls_outcome(t, rc, 1);
}

enum tls_result
tls_read(struct tls_conn *t, char *buf, size_t len, size_t *got)
{
	size_t n = 0;
	/* Asked before the call: a fatal error puts OpenSSL's state
	 * machine back "in init", so asking after it would call any failure
	 * (an unexpected EOF too) a handshake's. */
	int in_init = !SSL_is_init_finished(t->ssl);
	int rc;

	ERR_clear_error();
	errno = 0;
	rc = SSL_read_ex(t->ssl, buf, len, &n);
	if (rc == 1) {
		*got = n;
		return TLS_OK;
	}
	return tls_outcome(t, rc, in_init);
}

enum tls_result
tls_write(struct tls_conn *t, const char *buf, size_t len, size_t *put)
{
	size_t n = 0;
	int in_init = !SSL_is_init_finished(t->ssl);	/* as in tls_read */
	int rc;

	ERR_clear_error();
	errno = 0;
	rc = SSL_write_ex(t->ssl, buf, len, &n);
	if (rc == 1) {
		*put = n;
		return TLS_OK;
	}
	return tls_outcome(t, rc, in_init);
}

size_t
tls_pending(const struct tls_conn *t)
{
	return (size_t)SSL_pending(t->ssl);
}

enum tls_result
tls_idle_check(struct tls_conn *t)
{
	char b;
	size_t n = 0;
	int rc;

	if (t->dead)
		return TLS_FAIL;
	if (SSL_pending(t->ssl) > 0)
		return TLS_OK;
	ERR_clear_error();
	errno = 0;
	/* SSL_peek processes what came (tickets) and leaves data unread. */
	rc = SSL_peek_ex(t->ssl, &b, 1, &n);
	if (rc == 1)
		return TLS_OK;
	return tls_outcome(t, rc, 0);
}

int
tls_eof_clean(const struct tls_conn *t)
{
	return t->eof_clean;
}

int
tls_resumed(const struct tls_conn *t)
{
	return SSL_session_reused(t->ssl);
}

const char *
tls_error(const struct tls_conn *t)
{
	if (t->err[0] != '\0')
		return t->err;
	return t->sys_errno != 0 ? NULL : "tls: connection failed";
}

void
tls_close(struct tls_conn *t)
{
	if (t == NULL)
		return;
	if (!t->dead && SSL_is_init_finished(t->ssl)) {
		/* One non-blocking try: the receiver learns the end was
		 * meant; a full send buffer or a closed socket only loses
		 * the alert (SIGPIPE is ignored by main). */
		ERR_clear_error();
		(void)SSL_shutdown(t->ssl);
	}
	ERR_clear_error();
	SSL_free(t->ssl);
	free(t);
}

#endif /* HOOKD_TLS */
