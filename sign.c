/*
 * sign: SHA-256 (FIPS 180-4), HMAC-SHA256 (RFC 2104), strict base64
 * (RFC 4648), random secrets and tokens, Standard Webhooks signatures, and the
 * `hookd sign` / `hookd verify` commands that let receivers check them.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "http.h"
#include "sign.h"
#include "util.h"

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
/* Default --tolerance, the Standard Webhooks' five minutes: a captured
 * delivery cannot be replayed to the receiver later than this. */
#define SIGN_CLI_TOLERANCE 300

static const char sign_b64_std[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char sign_b64_url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Clear key material through a volatile pointer so that the compiler cannot
 * drop the stores as dead. */
static void
sign_wipe(void *p, size_t n)
{
	volatile unsigned char *v = p;

	while (n-- > 0)
		*v++ = 0;
}

/* ---- SHA-256 ---- */

/* First 32 bits of the fractional parts of the cube roots of the first 64
 * primes (FIPS 180-4 §4.2.2). */
static const uint32_t sha256_k[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
	0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
	0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
	0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
	0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
	0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
	0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
	0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
	0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
};

static uint32_t
sha256_rotr(uint32_t x, unsigned n)
{
	return (x >> n) | (x << (32 - n));
}

/* One 64-byte block into the state (FIPS 180-4 §6.2.2). */
static void
sha256_block(uint32_t h[8], const uint8_t p[64])
{
	uint32_t w[64], a, b, c, d, e, f, g, hh, t1, t2;
	int i;

	for (i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		    (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
	for (i = 16; i < 64; i++) {
		uint32_t s0 = sha256_rotr(w[i - 15], 7) ^
		    sha256_rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
		uint32_t s1 = sha256_rotr(w[i - 2], 17) ^
		    sha256_rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);

		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}
	a = h[0]; b = h[1]; c = h[2]; d = h[3];
	e = h[4]; f = h[5]; g = h[6]; hh = h[7];
	for (i = 0; i < 64; i++) {
		t1 = hh + (sha256_rotr(e, 6) ^ sha256_rotr(e, 11) ^
		    sha256_rotr(e, 25)) + ((e & f) ^ (~e & g)) + sha256_k[i] +
		    w[i];
		t2 = (sha256_rotr(a, 2) ^ sha256_rotr(a, 13) ^
		    sha256_rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
		hh = g; g = f; f = e; e = d + t1;
		d = c; c = b; b = a; a = t1 + t2;
	}
	h[0] += a; h[1] += b; h[2] += c; h[3] += d;
	h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
	/* The schedule holds message words, which may be key material. */
	sign_wipe(w, sizeof(w));
}

void
sha256_init(struct sha256_ctx *c)
{
	/* First 32 bits of the fractional parts of the square roots of the
	 * first 8 primes (FIPS 180-4 §5.3.3). */
	static const uint32_t iv[8] = {
		0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
		0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19
	};

	memcpy(c->h, iv, sizeof(iv));
	c->bytes = 0;
	c->fill = 0;
}

void
sha256_update(struct sha256_ctx *c, const void *p, size_t n)
{
	const uint8_t *in = p;

	if (n == 0)
		return;
	c->bytes += n;
	if (c->fill > 0) {
		size_t take = 64 - c->fill < n ? 64 - c->fill : n;

		memcpy(c->block + c->fill, in, take);
		c->fill += take;
		in += take;
		n -= take;
		if (c->fill < 64)
			return;
		sha256_block(c->h, c->block);
		c->fill = 0;
	}
	for (; n >= 64; in += 64, n -= 64)
		sha256_block(c->h, in);
	if (n > 0) {
		memcpy(c->block, in, n);
		c->fill = n;
	}
}

void
sha256_final(struct sha256_ctx *c, uint8_t out[32])
{
	uint64_t bits = c->bytes * 8;
	int i;

	/* Padding: 0x80, zeros up to 56 mod 64, the bit length big-endian. */
	c->block[c->fill++] = 0x80;
	if (c->fill > 56) {
		memset(c->block + c->fill, 0, 64 - c->fill);
		sha256_block(c->h, c->block);
		c->fill = 0;
	}
	memset(c->block + c->fill, 0, 56 - c->fill);
	for (i = 0; i < 8; i++)
		c->block[56 + i] = (uint8_t)(bits >> (56 - 8 * i));
	sha256_block(c->h, c->block);
	for (i = 0; i < 8; i++) {
		out[4 * i] = (uint8_t)(c->h[i] >> 24);
		out[4 * i + 1] = (uint8_t)(c->h[i] >> 16);
		out[4 * i + 2] = (uint8_t)(c->h[i] >> 8);
		out[4 * i + 3] = (uint8_t)c->h[i];
	}
	sign_wipe(c, sizeof(*c));
}

void
sha256(const void *p, size_t n, uint8_t out[32])
{
	struct sha256_ctx c;

	sha256_init(&c);
	sha256_update(&c, p, n);
	sha256_final(&c, out);
}

/* ---- HMAC-SHA256 (RFC 2104) ---- */

void
hmac_sha256_init(struct hmac_sha256_ctx *c, const void *key, size_t klen)
{
	uint8_t k[64], pad[64];
	size_t i;

	/* Keys longer than the block are replaced by their hash; shorter ones
	 * are padded with zeros. */
	memset(k, 0, sizeof(k));
	if (klen > sizeof(k))
		sha256(key, klen, k);
	else if (klen > 0)
		memcpy(k, key, klen);
	for (i = 0; i < 64; i++)
		pad[i] = k[i] ^ 0x36;
	sha256_init(&c->inner);
	sha256_update(&c->inner, pad, 64);
	for (i = 0; i < 64; i++)
		pad[i] = k[i] ^ 0x5c;
	sha256_init(&c->outer);
	sha256_update(&c->outer, pad, 64);
	sign_wipe(k, sizeof(k));
	sign_wipe(pad, sizeof(pad));
}

void
hmac_sha256_update(struct hmac_sha256_ctx *c, const void *p, size_t n)
{
	sha256_update(&c->inner, p, n);
}

void
hmac_sha256_final(struct hmac_sha256_ctx *c, uint8_t out[32])
{
	uint8_t ih[32];

	sha256_final(&c->inner, ih);
	sha256_update(&c->outer, ih, sizeof(ih));
	sha256_final(&c->outer, out);
	sign_wipe(ih, sizeof(ih));
}

void
hmac_sha256(const void *key, size_t klen, const void *p, size_t n,
    uint8_t out[32])
{
	struct hmac_sha256_ctx c;

	hmac_sha256_init(&c, key, klen);
	hmac_sha256_update(&c, p, n);
	hmac_sha256_final(&c, out);
}

/* ---- base64 (RFC 4648) ---- */

/* Encode with the given alphabet; pad with '=' when pad is set. Returns the
 * length written, without the NUL. */
static size_t
sign_b64_encode(const uint8_t *in, size_t n, char *out, const char *alpha,
    int pad)
{
	size_t i, o = 0;

	for (i = 0; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 |
		    in[i + 2];

		out[o++] = alpha[v >> 18];
		out[o++] = alpha[(v >> 12) & 63];
		out[o++] = alpha[(v >> 6) & 63];
		out[o++] = alpha[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;

		out[o++] = alpha[v >> 18];
		out[o++] = alpha[(v >> 12) & 63];
		if (pad) {
			out[o++] = '=';
			out[o++] = '=';
		}
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;

		out[o++] = alpha[v >> 18];
		out[o++] = alpha[(v >> 12) & 63];
		out[o++] = alpha[(v >> 6) & 63];
		if (pad)
			out[o++] = '=';
	}
	out[o] = '\0';
	return o;
}

size_t
base64_encode(const void *in, size_t n, char *out)
{
	return sign_b64_encode(in, n, out, sign_b64_std, 1);
}

/* The value of one standard-alphabet character, or -1. */
static int
sign_b64_value(unsigned char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+')
		return 62;
	if (ch == '/')
		return 63;
	return -1;
}

int
base64_decode(const char *in, size_t n, uint8_t *out, size_t outsz)
{
	size_t pad = 0, len, i, o = 0;

	/* Strict: only whole quads, '=' only as the last one or two
	 * characters. One text then has one meaning, so a secret cannot be
	 * written two ways that compare unequal. */
	if (n % 4 != 0)
		return -1;
	if (n == 0)
		return 0;
	if (in[n - 1] == '=')
		pad = in[n - 2] == '=' ? 2 : 1;
	len = n / 4 * 3 - pad;
	if (len > outsz || len > INT_MAX)
		return -1;
	for (i = 0; i < n; i += 4) {
		int v0, v1, v2, v3;
		int last = i + 4 == n;
		uint32_t v;

		v0 = sign_b64_value((unsigned char)in[i]);
		v1 = sign_b64_value((unsigned char)in[i + 1]);
		v2 = last && pad == 2 ? 0 :
		    sign_b64_value((unsigned char)in[i + 2]);
		v3 = last && pad >= 1 ? 0 :
		    sign_b64_value((unsigned char)in[i + 3]);
		if (v0 < 0 || v1 < 0 || v2 < 0 || v3 < 0)
			return -1;
		/* Bits below the last whole byte must be zero (§3.5), or
		 * "Zg==" and "Zh==" would both mean "f". */
		if (last && pad == 2 && (v1 & 15) != 0)
			return -1;
		if (last && pad == 1 && (v2 & 3) != 0)
			return -1;
		v = (uint32_t)v0 << 18 | (uint32_t)v1 << 12 |
		    (uint32_t)v2 << 6 | (uint32_t)v3;
		out[o++] = (uint8_t)(v >> 16);
		if (!(last && pad == 2))
			out[o++] = (uint8_t)(v >> 8);
		if (!(last && pad >= 1))
			out[o++] = (uint8_t)v;
	}
	return (int)o;
}

/* ---- comparison and randomness ---- */

int
sign_equal(const void *a, const void *b, size_t n)
{
	const volatile unsigned char *x = a, *y = b;
	unsigned d = 0;
	size_t i;

	/* No early exit: every byte is looked at whatever the first
	 * difference, so timing says nothing about where it is. */
	for (i = 0; i < n; i++)
		d |= (unsigned)(x[i] ^ y[i]);
	return (int)(1 & ((d - 1) >> 8));
}

/* Read /dev/urandom, for kernels before getrandom() (Linux < 3.17) or
 * sandboxes that forbid it. */
static int
sign_urandom(uint8_t *p, size_t n)
{
	int fd;

	do
		fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	while (fd < 0 && errno == EINTR);
	if (fd < 0)
		return -1;
	while (n > 0) {
		ssize_t r = read(fd, p, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			(void)close(fd);
			return -1;
		}
		p += r;
		n -= (size_t)r;
	}
	return close(fd) == 0 ? 0 : -1;
}

int
sign_random(void *buf, size_t n)
{
	uint8_t *p = buf;

	/* getrandom() without flags blocks only until the kernel pool is
	 * first seeded, never returns guessable early-boot bytes, needs no
	 * file descriptor, and may return short for large requests. */
	while (n > 0) {
		ssize_t r = getrandom(p, n, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return sign_urandom(p, n);
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* ---- secrets, signatures, tokens ---- */

int
sign_secret_new(char out[SIGN_SECRET_MAX])
{
	uint8_t k[SIGN_SECRET_MIN_BYTES];

	if (sign_random(k, sizeof(k)) != 0)
		return -1;
	memcpy(out, "whsec_", 6);
	base64_encode(k, sizeof(k), out + 6);
	sign_wipe(k, sizeof(k));
	return 0;
}

int
sign_secret_key(const char *secret, size_t len, int strict,
    uint8_t key[SIGN_SECRET_MAX_BYTES])
{
	int n;

	if (len >= 6 && memcmp(secret, "whsec_", 6) == 0) {
		secret += 6;
		len -= 6;
	} else if (strict) {
		return -1;
	}
	n = base64_decode(secret, len, key, SIGN_SECRET_MAX_BYTES);
	/* An empty key would sign with nothing secret at all; short keys
	 * from the API are refused because they could be guessed. */
	if (n <= 0 || (strict && n < SIGN_SECRET_MIN_BYTES)) {
		sign_wipe(key, SIGN_SECRET_MAX_BYTES);
		return -1;
	}
	return n;
}

/* The signature over "<id>.<timestamp>.<payload>" with a decoded key. */
static int
sign_compute(const uint8_t *key, size_t klen, const char *id, size_t idlen,
    int64_t timestamp, const void *payload, size_t plen,
    char out[SIGN_SIG_MAX])
{
	struct hmac_sha256_ctx c;
	uint8_t mac[32];
	char ts[24];
	int tl;

	tl = snprintf(ts, sizeof(ts), "%lld", (long long)timestamp);
	if (tl < 0 || (size_t)tl >= sizeof(ts))
		return -1;
	hmac_sha256_init(&c, key, klen);
	hmac_sha256_update(&c, id, idlen);
	hmac_sha256_update(&c, ".", 1);
	hmac_sha256_update(&c, ts, (size_t)tl);
	hmac_sha256_update(&c, ".", 1);
	hmac_sha256_update(&c, payload, plen);
	hmac_sha256_final(&c, mac);
	memcpy(out, "v1,", 3);
	base64_encode(mac, sizeof(mac), out + 3);
	sign_wipe(mac, sizeof(mac));
	return 0;
}

int
sign_webhook(const char *secret, const char *id, int64_t timestamp,
    const void *payload, size_t plen, char out[SIGN_SIG_MAX])
{
	uint8_t key[SIGN_SECRET_MAX_BYTES];
	int klen, rc;

	klen = sign_secret_key(secret, strlen(secret), 0, key);
	if (klen < 0)
		return -1;
	rc = sign_compute(key, (size_t)klen, id, strlen(id), timestamp,
	    payload, plen, out);
	sign_wipe(key, sizeof(key));
	return rc;
}

int
sign_token_new(const char *prefix, char *out, size_t outsz)
{
	uint8_t r[24];
	size_t plen = strlen(prefix);

	if (outsz < plen + 33 || sign_random(r, sizeof(r)) != 0)
		return -1;
	memcpy(out, prefix, plen);
	/* 24 bytes are exactly 32 characters of the URL-safe alphabet, no
	 * padding, so tokens fit in URLs and headers unescaped. */
	sign_b64_encode(r, sizeof(r), out + plen, sign_b64_url, 0);
	sign_wipe(r, sizeof(r));
	return 0;
}

/* ---- hookd sign / hookd verify ---- */

static const char sign_usage[] =
    "usage: hookd sign --secret whsec_... --id ID [--timestamp UNIX] < PAYLOAD\n"
    "       hookd verify --secret whsec_... [--id ID] [--timestamp UNIX]\n"
    "                    [--signature \"v1,... v1,...\"] [--headers FILE]\n"
    "                    [--tolerance SECONDS] [--now UNIX] < PAYLOAD\n"
    "\n"
    "The payload is standard input, byte for byte: the body of a POST\n"
    "delivery, or for a GET delivery the query string without '?', e.g.\n"
    "  printf %s 'success=true&refId=3283191' | hookd verify ...\n"
    "\n"
    "sign prints the webhook-id, webhook-timestamp and webhook-signature\n"
    "headers (timestamp defaults to now).\n"
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
	SIGN_OPT_COUNT
};

static const char *const sign_opt_names[SIGN_OPT_COUNT] = {
	"secret", "id", "timestamp", "signature", "headers", "tolerance", "now"
};

/* The three headers verify reads, in the order of their HDR_ index. */
enum { SIGN_HDR_ID, SIGN_HDR_TIMESTAMP, SIGN_HDR_SIGNATURE, SIGN_HDR_COUNT };

static const char *const sign_hdr_names[SIGN_HDR_COUNT] = {
	"webhook-id", "webhook-timestamp", "webhook-signature"
};

struct sign_hdrs {
	const char *v[SIGN_HDR_COUNT];
	size_t len[SIGN_HDR_COUNT];
	int count[SIGN_HDR_COUNT];
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
sign_parse_head(const char *p, size_t n, struct sign_hdrs *h)
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
		for (k = 0; k < SIGN_HDR_COUNT; k++) {
			if (!util_span_ieq(line, nlen, sign_hdr_names[k]))
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

		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
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

static int
sign_cmd_verify(const char *opts[SIGN_OPT_COUNT])
{
	static const char *const missing[SIGN_HDR_COUNT] = {
		"missing webhook-id", "missing webhook-timestamp",
		"missing webhook-signature"
	};
	static const char *const repeated[SIGN_HDR_COUNT] = {
		"repeated webhook-id header",
		"repeated webhook-timestamp header",
		"repeated webhook-signature header"
	};
	static const int flag_of[SIGN_HDR_COUNT] = {
		SIGN_OPT_ID, SIGN_OPT_TIMESTAMP, SIGN_OPT_SIGNATURE
	};
	uint8_t key[SIGN_SECRET_MAX_BYTES];
	char want[SIGN_SIG_MAX];
	struct buf in = {0}, head = {0};
	struct sign_hdrs h;
	const char *reason = NULL;
	int64_t now, tol = SIGN_CLI_TOLERANCE, ts = 0;
	int klen, k, rc, saw_v1 = 0;

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
	for (k = 0; k < SIGN_HDR_COUNT; k++) {
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
	if (sign_read_all(STDIN_FILENO, &in, SIGN_CLI_PAYLOAD_MAX) != 0) {
		sign_wipe(key, sizeof(key));
		buf_free(&head);
		buf_free(&in);
		return sign_cli_fail("verify", errno == EFBIG ?
		    "payload too large" : "cannot read standard input");
	}

	/* Checks in the reference libraries' order: headers, the time window,
	 * then the signature. */
	for (k = 0; k < SIGN_HDR_COUNT && reason == NULL; k++) {
		if (h.count[k] == 0 || h.len[k] == 0)
			reason = missing[k];
		else if (h.count[k] > 1)
			reason = repeated[k];
	}
	if (reason == NULL && sign_parse_secs(h.v[SIGN_HDR_TIMESTAMP],
	    h.len[SIGN_HDR_TIMESTAMP], &ts) != 0)
		reason = "bad webhook-timestamp";
	/* Both values are in 0..INT64_MAX, so the differences cannot
	 * overflow. */
	if (reason == NULL && now - ts > tol)
		reason = "timestamp too old";
	if (reason == NULL && ts - now > tol)
		reason = "timestamp in the future";
	if (reason == NULL && sign_compute(key, (size_t)klen,
	    h.v[SIGN_HDR_ID], h.len[SIGN_HDR_ID], ts, in.data, in.len,
	    want) != 0)
		reason = "cannot compute the signature";
	if (reason == NULL && !sign_match_any(h.v[SIGN_HDR_SIGNATURE],
	    h.len[SIGN_HDR_SIGNATURE], want, &saw_v1))
		reason = saw_v1 ? "no signature matches" : "no v1 signature";
	sign_wipe(key, sizeof(key));
	sign_wipe(want, sizeof(want));
	buf_free(&head);
	buf_free(&in);
	return sign_verdict(reason);
}

int
sign_main(int argc, char **argv)
{
	const char *opts[SIGN_OPT_COUNT], *why = "";
	const char *cmd;
	unsigned allowed;
	int rc;

	if (argc < 1 || argv[0] == NULL) {
		fputs(sign_usage, stderr);
		return 1;
	}
	cmd = argv[0];
	if (strcmp(cmd, "sign") == 0) {
		allowed = 1u << SIGN_OPT_SECRET | 1u << SIGN_OPT_ID |
		    1u << SIGN_OPT_TIMESTAMP;
	} else if (strcmp(cmd, "verify") == 0) {
		allowed = (1u << SIGN_OPT_COUNT) - 1;
	} else {
		fputs(sign_usage, stderr);
		return 1;
	}
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
