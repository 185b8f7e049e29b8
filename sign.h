/*
 * sign: SHA-256, HMAC-SHA256 and base64 written here, the random secrets
 * and tokens hookd hands out, and Standard Webhooks signatures. No I/O but
 * reading randomness; the `hookd sign` and `hookd verify` commands are in
 * cli.c.
 */
#ifndef HOOKD_SIGN_H
#define HOOKD_SIGN_H

#include <stddef.h>
#include <stdint.h>

struct sha256_ctx {
	uint32_t h[8];
	uint64_t bytes;
	uint8_t block[64];
	size_t fill;
};

/* SHA-256 (FIPS 180-4): init a caller-owned context, feed it n bytes at a
 * time (any n, any number of calls), and final writes the 32-byte digest
 * (the context must be initialised again before reuse). sha256 is the three
 * in one call. None can fail; nothing is allocated. */
void sha256_init(struct sha256_ctx *c);
void sha256_update(struct sha256_ctx *c, const void *p, size_t n);
void sha256_final(struct sha256_ctx *c, uint8_t out[32]);
void sha256(const void *p, size_t n, uint8_t out[32]);
/* Which SHA-256 code the functions above run, chosen once from what the CPU
 * has: "sha-ni" (the x86 SHA extensions) or "portable". A static string. */
const char *sign_sha256_name(void);

struct hmac_sha256_ctx {
	struct sha256_ctx inner;
	struct sha256_ctx outer;
};

/* HMAC-SHA256 (RFC 2104) with a key of klen bytes (any length; a key over
 * 64 bytes is hashed first), in the same three steps as sha256 and in one
 * call. The context holds state derived from the key, which final does not
 * clear (sign_wipe it when that matters). None can fail. */
void hmac_sha256_init(struct hmac_sha256_ctx *c, const void *key, size_t klen);
void hmac_sha256_update(struct hmac_sha256_ctx *c, const void *p, size_t n);
void hmac_sha256_final(struct hmac_sha256_ctx *c, uint8_t out[32]);
void hmac_sha256(const void *key, size_t klen, const void *p, size_t n,
    uint8_t out[32]);

/* Bytes base64_encode writes for n input bytes, NUL included. */
#define BASE64_LEN(n) ((((n) + 2) / 3) * 4 + 1)
/* Standard alphabet with padding (RFC 4648 §4). Writes BASE64_LEN(n) bytes
 * into out, NUL-terminated; returns the length without the NUL. */
size_t base64_encode(const void *in, size_t n, char *out);
/* Strict decode (padding required, no whitespace, canonical trailing bits):
 * writes at most outsz bytes. Returns the decoded length, or -1 invalid or
 * too long for out. */
int base64_decode(const char *in, size_t n, uint8_t *out, size_t outsz);

/* Constant-time comparison of n bytes: 1 when equal. The time depends only on
 * n, so tokens and signatures cannot be guessed byte by byte. */
int sign_equal(const void *a, const void *b, size_t n);

/* Fill buf with n bytes from getrandom() or /dev/urandom. 0 ok, -1 failed. */
int sign_random(void *buf, size_t n);

/* Secrets are "whsec_" + base64 of 24..64 random bytes. */
#define SIGN_SECRET_MIN_BYTES 24
#define SIGN_SECRET_MAX_BYTES 64
#define SIGN_SECRET_MAX (6 + BASE64_LEN(SIGN_SECRET_MAX_BYTES))
/* A new secret of 24 random bytes into out (NUL-terminated). 0 or -1. */
int sign_secret_new(char out[SIGN_SECRET_MAX]);
/* Decode a secret's key ("whsec_" prefix then base64; Standard Webhooks'
 * libraries also accept the bare base64, and so does this). Writes the key to
 * key (SIGN_SECRET_MAX_BYTES), returns its length, or -1 when the text is not
 * a valid secret. With strict set, the prefix is required and the key must be
 * 24..64 bytes, as for secrets supplied through the API. */
int sign_secret_key(const char *secret, size_t len, int strict,
    uint8_t key[SIGN_SECRET_MAX_BYTES]);

/* Length of "v1," + base64 of 32 bytes, NUL included. */
#define SIGN_SIG_MAX (3 + BASE64_LEN(32))
/* The Standard Webhooks signature "v1,<base64 HMAC-SHA256(key,
 * "<id>.<timestamp>.<payload>")>" into out. 0 ok, -1 invalid secret. */
int sign_webhook(const char *secret, const char *id, int64_t timestamp,
    const void *payload, size_t plen, char out[SIGN_SIG_MAX]);

/* A random token: prefix then 32 URL-safe characters (24 bytes of
 * randomness, RFC 4648 §5 alphabet, no padding), NUL-terminated in out.
 * 0, or -1 when outsz < strlen(prefix) + 33 or no randomness could be
 * read. */
int sign_token_new(const char *prefix, char *out, size_t outsz);

/* Clear n bytes of key material at p through a volatile pointer, so that
 * the compiler cannot drop the stores as dead. */
void sign_wipe(void *p, size_t n);

/* The Standard Webhooks signature over "<id>.<timestamp>.<payload>" with an
 * already decoded key (klen bytes, as sign_secret_key gives), "v1,<base64>"
 * NUL-terminated into out. 0 ok, -1 when the timestamp does not format. */
int sign_compute(const uint8_t *key, size_t klen, const char *id,
    size_t idlen, int64_t timestamp, const void *payload, size_t plen,
    char out[SIGN_SIG_MAX]);

#endif
