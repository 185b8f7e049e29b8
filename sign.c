/*
 * sign: SHA-256 (FIPS 180-4), HMAC-SHA256 (RFC 2104), strict base64
 * (RFC 4648), random secrets and tokens, and Standard Webhooks signatures.
 * The `hookd sign` / `hookd verify` commands that use them are in cli.c.
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
#include "sign_impl.h"
#include "util.h"

static const char sign_b64_std[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char sign_b64_url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void
sign_wipe(void *p, size_t n)
{
	volatile unsigned char *v = p;

	while (n-- > 0)
		*v++ = 0;
}

/* ---- SHA-256 ---- */

/* First 32 bits of the fractional parts of the cube roots of the first 64
 * primes (FIPS 180-4 §4.2.2). Shared with sign_x86.c. */
const uint32_t sign_sha256_k[64] = {
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

/* One 64-byte block into the state (FIPS 180-4 §6.2.2), in portable C:
 * the reference every faster implementation is tested against. */
static void
sha256_block_portable(uint32_t h[8], const uint8_t p[64])
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
		    sha256_rotr(e, 25)) + ((e & f) ^ (~e & g)) + sign_sha256_k[i] +
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

/* The block functions sha256 can use. */
enum {
	SIGN_SHA_UNKNOWN,	/* not chosen yet */
	SIGN_SHA_PORTABLE,	/* sha256_block_portable, everywhere */
	SIGN_SHA_X86		/* sign_x86.c, x86 with the SHA extensions */
};

/* The one in use: chosen at the first hash from what the CPU has, and then
 * kept (asking costs a cpuid). hookd hashes on its main thread only, so the
 * choice is not raced. The unit tests set it to run every implementation
 * over the same vectors. */
static int sign_sha_impl = SIGN_SHA_UNKNOWN;

static void
sign_sha_choose(void)
{
	sign_sha_impl = SIGN_SHA_PORTABLE;
#if SIGN_HAVE_X86_SHA
	if (sign_x86_sha_available())
		sign_sha_impl = SIGN_SHA_X86;
#endif
}

const char *
sign_sha256_name(void)
{
	if (sign_sha_impl == SIGN_SHA_UNKNOWN)
		sign_sha_choose();
	return sign_sha_impl == SIGN_SHA_X86 ? "sha-ni" : "portable";
}

/* n whole 64-byte blocks at p into the state, with the implementation in
 * use. */
static void
sha256_blocks(uint32_t h[8], const uint8_t *p, size_t n)
{
	if (sign_sha_impl == SIGN_SHA_UNKNOWN)
		sign_sha_choose();
#if SIGN_HAVE_X86_SHA
	if (sign_sha_impl == SIGN_SHA_X86) {
		sign_x86_sha256_blocks(h, p, n);
		return;
	}
#endif
	for (; n > 0; n--, p += 64)
		sha256_block_portable(h, p);
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
		sha256_blocks(c->h, c->block, 1);
		c->fill = 0;
	}
	if (n >= 64) {
		sha256_blocks(c->h, in, n / 64);
		in += n / 64 * 64;
		n %= 64;
	}
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
		sha256_blocks(c->h, c->block, 1);
		c->fill = 0;
	}
	memset(c->block + c->fill, 0, 56 - c->fill);
	for (i = 0; i < 8; i++)
		c->block[56 + i] = (uint8_t)(bits >> (56 - 8 * i));
	sha256_blocks(c->h, c->block, 1);
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

/* Each byte's value in the standard alphabet plus one (0: not in it),
 * filled from sign_b64_std at the first decode so that the alphabet has one
 * definition. A table: a gateway request's body is decoded at each upstream
 * call, and the comparisons cost 22 instructions a character (callgrind,
 * issue 13). Only the loop thread decodes. */
static signed char sign_b64_rev[256];
static int sign_b64_rev_ready;

/* The value of one standard-alphabet character, or -1. */
static int
sign_b64_value(unsigned char ch)
{
	return sign_b64_rev[ch] - 1;
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
	if (!sign_b64_rev_ready) {
		for (i = 0; i < 64; i++)
			sign_b64_rev[(unsigned char)sign_b64_std[i]] =
			    (signed char)(i + 1);
		sign_b64_rev_ready = 1;
	}
	if (in[n - 1] == '=')
		pad = in[n - 2] == '=' ? 2 : 1;
	len = n / 4 * 3 - pad;
	if (len > outsz || len > INT_MAX)
		return -1;
	/* Every quad but the last is four characters of the alphabet. */
	for (i = 0; i + 4 < n; i += 4) {
		int v0 = sign_b64_value((unsigned char)in[i]);
		int v1 = sign_b64_value((unsigned char)in[i + 1]);
		int v2 = sign_b64_value((unsigned char)in[i + 2]);
		int v3 = sign_b64_value((unsigned char)in[i + 3]);
		uint32_t v;

		if ((v0 | v1 | v2 | v3) < 0)
			return -1;
		v = (uint32_t)v0 << 18 | (uint32_t)v1 << 12 |
		    (uint32_t)v2 << 6 | (uint32_t)v3;
		out[o++] = (uint8_t)(v >> 16);
		out[o++] = (uint8_t)(v >> 8);
		out[o++] = (uint8_t)v;
	}
	/* The last quad, with its padding. */
	for (; i < n; i += 4) {
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

int
sign_compute(const uint8_t *key, size_t klen, const char *id, size_t idlen,
    int64_t timestamp, const void *payload, size_t plen,
    char out[SIGN_SIG_MAX])
{
	struct hmac_sha256_ctx c;
	uint8_t mac[32];
	char ts[UTIL_I64_MAX];
	size_t tl = util_fmt_i64(timestamp, ts);

	hmac_sha256_init(&c, key, klen);
	hmac_sha256_update(&c, id, idlen);
	hmac_sha256_update(&c, ".", 1);
	hmac_sha256_update(&c, ts, tl);
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
