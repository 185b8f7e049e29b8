/*
 * url: callback URLs (parsing http:// URLs, filling {name} templates from an
 * event's data, building GET query strings) and the destination rules of
 * contract §8 that keep hookd from being used to reach internal networks,
 * and the addresses a name resolves to with their sockaddr form.
 */
#ifndef HOOKD_URL_H
#define HOOKD_URL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "json.h"
#include "util.h"

/* Longest callback URL accepted: a bound on what one delivery stores. */
#define URL_MAX 2048
/* Longest host name (RFC 1035) plus brackets for an IPv6 literal. */
#define URL_HOST_MAX 256

struct url {
	char host[URL_HOST_MAX];	/* without brackets, NUL-terminated */
	uint16_t port;			/* 80 (443 for https) when not given */
	const char *path;		/* "/..." path and query, into the input;
					   "/" when the URL has none */
	size_t path_len;
	int is_literal;			/* host is an IPv4 or IPv6 literal */
	int tls;			/* https:// (only in the TLS build) */
};

/*
 * Parse an absolute callback URL of len bytes. Accepted: "http://" (or, in
 * the TLS build, "https://", contract §13) host [":" port] [path-abempty]
 * ["?" query]; no userinfo, no fragment, printable ASCII only, at most
 * URL_MAX bytes. Braces are allowed in the path and query (templates).
 * Returns 0, or -1 with *err set to a static reason such as "https needs
 * hookd built with TLS (make TLS=openssl)" (the plain build) or "url:
 * invalid host".
 */
int url_parse(const char *s, size_t len, struct url *u, const char **err);

/* The port u's scheme implies: 443 for https, 80 for http (RFC 9110 §4.2):
 * a Host header or normal form leaves it out. */
uint16_t url_default_port(const struct url *u);

/* Room url_normalize needs for any URL url_parse accepts, with the NUL:
 * the input, one '/' for an empty path, and an IPv6 literal whose RFC 5952
 * text is longer than the one given ("::ffff:7f00:1" is written
 * "::ffff:127.0.0.1"). */
#define URL_NORM_MAX (URL_MAX + 64)

/*
 * The normal form of the callback URL s (len bytes), for telling whether two
 * URLs name the same resource (RFC 3986 §6.2.2 and §6.2.3, RFC 9110 §4.2.3):
 * the scheme in lower case, the host in lower case (an IPv6 literal in its
 * RFC 5952 text), the port only when it is not the scheme's default, an empty path as "/", percent-encoded
 * unreserved characters decoded and the hex digits of every other escape in
 * upper case. Nothing else changes: dot segments stay (hookd sends the path
 * as written), and so does an empty query ("/d?" is not "/d"). Written
 * NUL-terminated into out (outsz bytes; URL_NORM_MAX is always enough).
 * Returns 0, or -1 with *err set as by url_parse ("url: too long" also when
 * out is too small).
 */
int url_normalize(const char *s, size_t len, char *out, size_t outsz,
    const char **err);

/* Templates of len bytes: every '{' closed by a '}' before the next '{',
 * no '}' without its '{', no empty "{}". 0, or -1 with *err set (static). */
int url_template_check(const char *s, size_t len, const char **err);

/*
 * Append url (len bytes) to out with every {name} replaced by the
 * percent-encoded top-level member name of the JSON object toks[obj] of
 * json: strings unquoted, numbers and booleans as written, other values as
 * their JSON text. Returns 0, -1 when a member is missing (its name copied to
 * missing, NUL-terminated, truncated to missing_sz), -2 out of memory, -3
 * when a value is "." or ".." (a dot segment, which would change the path).
 */
int url_expand(struct buf *out, const char *url, size_t len,
    const char *json, const struct json_tok *toks, int obj,
    char *missing, size_t missing_sz);

/*
 * Append the query string for a GET delivery (without '?'): the top-level
 * members of the object toks[obj] in order, name=value, percent-encoded,
 * strings unquoted, numbers and booleans as written, nested values as their
 * JSON text, null members left out. 0 or -1 (out of memory).
 */
int url_query(struct buf *out, const char *json, const struct json_tok *toks,
    int obj);

/* Percent-encode n bytes (unreserved characters of RFC 3986 kept). */
int url_encode(struct buf *out, const char *s, size_t n);

/* An address range: family AF_INET or AF_INET6, prefix length bits. */
struct url_cidr {
	int family;
	uint8_t addr[16];
	int bits;
};

/* Parse "10.0.0.0/8", "::1/128", a bare address (a host route), or "all"
 * (sets family to AF_UNSPEC: every address). 0 or -1. */
int url_cidr_parse(const char *s, size_t len, struct url_cidr *c);

/*
 * 1 when a connection to sa may be made: the address is public, or an entry
 * of allow covers it. Denied: unspecified, loopback, private (RFC 1918, ULA),
 * link-local, CGNAT (100.64/10), multicast, broadcast, reserved, 0/8,
 * documentation and benchmark ranges, IETF protocol assignments, and the
 * IPv4-mapped, IPv4-compatible, NAT64 (64:ff9b::/96, 64:ff9b:1::/48) and 6to4
 * (2002::/16) forms of the IPv4 ones, Teredo, discard-only and ORCHID too.
 */
int url_addr_allowed(const struct sockaddr *sa, const struct url_cidr *allow,
    size_t nallow);

/* 1 when sa is a loopback address: 127.0.0.0/8, ::1, or the IPv4-mapped
 * form of 127.0.0.0/8 (which a dual-stack socket reaches as that address);
 * 0 otherwise, and for a family other than IPv4 and IPv6. */
int url_addr_is_loopback(const struct sockaddr *sa);

/* The class of a denied sa ("loopback", "private", "link-local", "CGNAT",
 * "multicast", "reserved", "documentation", "benchmarking", "unspecified")
 * by the rules of url_addr_allowed; NULL when sa is allowed. Static. */
const char *url_addr_denied(const struct sockaddr *sa,
    const struct url_cidr *allow, size_t nallow);

/* sa's address as text (inet_ntop) in out, which is returned; "?" when it
 * is not an IPv4 or IPv6 address or out is too small (INET6_ADDRSTRLEN is
 * enough). */
const char *url_addr_text(const struct sockaddr *sa, char *out, size_t outsz);

/* When sa is denied: 1, with out set to "destination not allowed: WHAT is
 * CLASS; allow_destinations opens it" (WHAT: what, or the address when
 * what is NULL), truncated to outsz. 0 when sa is allowed. */
int url_denied_error(const struct sockaddr *sa, const char *what,
    const struct url_cidr *allow, size_t nallow, char *out, size_t outsz);

/* 1 when host is "localhost" or ends in ".localhost": loopback by name
 * alone (RFC 6761 §6.3), so it is judged without a resolver. */
int url_host_is_localhost(const char *host);

/* For an IP-literal host: fill ss with the address (port left 0) and return
 * 0; -1 when host is not a literal. */
int url_host_literal(const char *host, struct sockaddr_storage *ss);

/* Addresses kept per name: enough to fall back, and keeps the resolver's
 * answer record small enough for an atomic pipe write. */
#define URL_MAX_ADDRS		8

/* One address to connect to, without a port: what the resolver answers
 * and an outbound exchange tries in turn. */
struct url_addr {
	int family;			/* AF_INET or AF_INET6 */
	uint8_t addr[16];
};

/* The address in ss (AF_INET or AF_INET6) as x (zeroed first). 0, or -1
 * for another family. */
int url_addr_from_sockaddr(const struct sockaddr_storage *ss,
    struct url_addr *x);

/* Fill ss from x and port (in host order; ss zeroed first, so pools can
 * memcmp it); returns its length. x's family is AF_INET or AF_INET6
 * (anything else is taken as AF_INET6). */
socklen_t url_addr_to_sockaddr(const struct url_addr *x, uint16_t port,
    struct sockaddr_storage *ss);

#endif
