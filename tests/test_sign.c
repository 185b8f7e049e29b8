/*
 * Tests of sign.c: published vectors for SHA-256 (FIPS 180-4), HMAC-SHA256
 * (RFC 4231), base64 (RFC 4648) and Standard Webhooks, then secrets, tokens
 * and the `hookd sign` / `hookd verify` commands (cli.c) run in-process.
 */
#include "../sign.c"
#include "../sign_x86.c"
#include "../cli.c"
#include "../cli_listen.c"

#include <stdlib.h>

#include "unit.h"

/* Decode hex into out; returns the byte count. */
static size_t
t_unhex(const char *hex, uint8_t *out)
{
	size_t n = 0;

	for (; hex[0] != '\0' && hex[1] != '\0'; hex += 2) {
		unsigned v;

		if (sscanf(hex, "%2x", &v) != 1)
			break;
		out[n++] = (uint8_t)v;
	}
	return n;
}

static void
t_hex(const uint8_t *p, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", p[i]);
	out[2 * n] = '\0';
}

static void
t_sha256(void)
{
	static const struct {
		const char *msg;
		size_t rep;	/* the message repeated this many times */
		const char *hex;
	} v[] = {
		{ "", 1, "e3b0c44298fc1c149afbf4c8996fb924"
		    "27ae41e4649b934ca495991b7852b855" },
		{ "abc", 1, "ba7816bf8f01cfea414140de5dae2223"
		    "b00361a396177a9cb410ff61f20015ad" },
		{ "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 1,
		    "248d6a61d20638b8e5c026930c3e6039"
		    "a33ce45964ff2167f6ecedd419db06c1" },
		{ "a", 1000000, "cdc76e5c9914fb9281a1c7e284d73e67"
		    "f1809a48a497200e046d39ccc7112cd0" },
	};
	/* Splits around the 55/56-byte padding edge and the block edges. */
	static const size_t splits[] = {
		0, 1, 3, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129, 511,
		999, 1000
	};
	uint8_t msg[1000], one[32], part[32];
	char hex[65];
	size_t i, j, bad;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct sha256_ctx c;
		size_t len = strlen(v[i].msg);

		sha256_init(&c);
		for (j = 0; j < v[i].rep; j++)
			sha256_update(&c, v[i].msg, len);
		sha256_final(&c, one);
		t_hex(one, 32, hex);
		CHECKF(strcmp(hex, v[i].hex) == 0, "sha256 #%zu: %s", i, hex);
		if (v[i].rep == 1) {
			sha256(v[i].msg, len, part);
			CHECK(memcmp(one, part, 32) == 0);
		}
	}

	for (i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(i * 7 + 3);
	/* A 1000-byte message split three ways at odd points, and every
	 * length from 0 to 200 fed byte by byte, agree with the one-shot. */
	for (i = 0; i < sizeof(splits) / sizeof(splits[0]); i++) {
		size_t s = splits[i], len = sizeof(msg);
		struct sha256_ctx c;

		sha256(msg, len, one);
		sha256_init(&c);
		sha256_update(&c, msg, s);
		sha256_update(&c, msg + s, (len - s) / 3);
		sha256_update(&c, msg + s + (len - s) / 3,
		    len - s - (len - s) / 3);
		sha256_final(&c, part);
		CHECKF(memcmp(one, part, 32) == 0, "split at %zu", s);
	}
	for (i = 0, bad = 0; i <= 200; i++) {
		struct sha256_ctx c;

		sha256(msg, i, one);
		sha256_init(&c);
		for (j = 0; j < i; j++)
			sha256_update(&c, msg + j, 1);
		sha256_final(&c, part);
		bad += memcmp(one, part, 32) != 0;
	}
	CHECKF(bad == 0, "byte by byte: %zu lengths differ", bad);
}

static void
t_hmac(void)
{
	/* RFC 4231 §4.2-4.8. key and data are hex, repeated krep/drep times;
	 * data is text when drep is 0. Case 5 checks only 128 bits. */
	static const struct {
		const char *key;
		size_t krep;
		const char *data;
		size_t drep;
		const char *mac;
	} v[] = {
		{ "0b", 20, "Hi There", 0,
		    "b0344c61d8db38535ca8afceaf0bf12b"
		    "881dc200c9833da726e9376c2e32cff7" },
		{ "4a656665", 1, "what do ya want for nothing?", 0,
		    "5bdcc146bf60754e6a042426089575c7"
		    "5a003f089d2739839dec58b964ec3843" },
		{ "aa", 20, "dd", 50,
		    "773ea91e36800e46854db8ebd09181a7"
		    "2959098b3ef8c122d9635514ced565fe" },
		{ "0102030405060708090a0b0c0d0e0f10111213141516171819", 1,
		    "cd", 50,
		    "82558a389a443c0ea4cc819899f2083a"
		    "85f0faa3e578f8077a2e3ff46729665b" },
		{ "0c", 20, "Test With Truncation", 0,
		    "a3b6167473100ee06e0c796c2955552b" },
		{ "aa", 131, "Test Using Larger Than Block-Size Key - Hash Key "
		    "First", 0,
		    "60e431591ee0b67f0d8a26aacbf5b77f"
		    "8e0bc6213728c5140546040f0ee37f54" },
		{ "aa", 131, "This is a test using a larger than block-size key "
		    "and a larger than block-size data. The key needs to be "
		    "hashed before being used by the HMAC algorithm.", 0,
		    "9b09ffa71b942fcb27635fbcd5b0e944"
		    "bfdc63644f0713938a7f51535c3a35e2" },
	};
	uint8_t key[256], data[256], unit[64], mac[32], mac2[32];
	char hex[65];
	size_t i, j, klen, dlen, u;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct hmac_sha256_ctx c;

		u = t_unhex(v[i].key, unit);
		for (klen = 0, j = 0; j < v[i].krep; j++, klen += u)
			memcpy(key + klen, unit, u);
		if (v[i].drep == 0) {
			dlen = strlen(v[i].data);
			memcpy(data, v[i].data, dlen);
		} else {
			u = t_unhex(v[i].data, unit);
			for (dlen = 0, j = 0; j < v[i].drep; j++, dlen += u)
				memcpy(data + dlen, unit, u);
		}
		hmac_sha256(key, klen, data, dlen, mac);
		t_hex(mac, 32, hex);
		CHECKF(strncmp(hex, v[i].mac, strlen(v[i].mac)) == 0,
		    "RFC 4231 case %zu: %s", i + 1, hex);
		/* Incremental, split at an odd point, gives the same. */
		hmac_sha256_init(&c, key, klen);
		hmac_sha256_update(&c, data, dlen / 3);
		hmac_sha256_update(&c, data + dlen / 3, dlen - dlen / 3);
		hmac_sha256_final(&c, mac2);
		CHECKF(memcmp(mac, mac2, 32) == 0, "incremental case %zu", i + 1);
	}
}

/* The choice between implementations: what the CPU reports decides it, and
 * hookd -V names it. */
static void
t_sha_choice(void)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[4096];
	int sha_ni = 0;

	/* Linux names the SHA extensions "sha_ni" in the flags. */
	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "flags", 5) == 0 && strstr(line, " sha_ni") !=
		    NULL)
			sha_ni = 1;
	if (f != NULL)
		fclose(f);
#if SIGN_HAVE_X86_SHA
	/* Valgrind hides SHA from cpuid while Linux still lists it: only a
	 * CPU without it must get the portable code. */
	if (!sha_ni)
		CHECK(strcmp(sign_sha256_name(), "portable") == 0);
	CHECK(strcmp(sign_sha256_name(), sign_x86_sha_available() ?
	    "sha-ni" : "portable") == 0);
#else
	(void)sha_ni;
	CHECK(strcmp(sign_sha256_name(), "portable") == 0);
#endif
}

static void
t_base64(void)
{
	static const struct {
		const char *raw, *b64;
	} ok[] = {
		{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
		{ "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" },
		{ "foobar", "Zm9vYmFy" },
	};
	static const char *const bad[] = {
		"Zm9v!A==",	/* character outside the alphabet */
		"Zm9-",		/* URL-safe character in standard base64 */
		"Zg",		/* padding missing */
		"Zm8",		/* padding missing */
		"Zm9vY",	/* wrong length */
		"Zg===",	/* wrong length */
		"Zh==",		/* non-canonical trailing bits */
		"Zm9=",		/* non-canonical trailing bits */
		"=Zg=",		/* padding first */
		"Zg=A",		/* padding in the middle of a quad */
		"Zg==Zm9v",	/* padding before the end */
		"Z===",		/* three pads */
		"====",
		"Zm9v Zg==",	/* whitespace */
		"Zm9v\nZg==",
		"Zm9v\r\n",
	};
	char enc[BASE64_LEN(6)];
	uint8_t dec[16];
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		size_t n = strlen(ok[i].raw);
		int d;

		CHECK(base64_encode(ok[i].raw, n, enc) == strlen(ok[i].b64));
		CHECKF(strcmp(enc, ok[i].b64) == 0, "encode %s: %s", ok[i].raw,
		    enc);
		d = base64_decode(ok[i].b64, strlen(ok[i].b64), dec, n);
		CHECKF(d == (int)n && memcmp(dec, ok[i].raw, n) == 0,
		    "decode %s: %d", ok[i].b64, d);
		/* One byte short of room is refused, not truncated. */
		if (n > 0)
			CHECK(base64_decode(ok[i].b64, strlen(ok[i].b64), dec,
			    n - 1) == -1);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECKF(base64_decode(bad[i], strlen(bad[i]), dec, sizeof(dec)) ==
		    -1, "accepted \"%s\"", bad[i]);
	/* A NUL inside the span is just a bad character. */
	CHECK(base64_decode("Zm\0v", 4, dec, sizeof(dec)) == -1);
	CHECK(base64_decode("Zg==", 4, dec, 0) == -1);
	/* Every byte value round-trips. */
	for (i = 0; i < 256; i++) {
		uint8_t b[3] = { (uint8_t)i, (uint8_t)(255 - i), (uint8_t)(i * 3) };
		size_t k;

		for (k = 1; k <= 3; k++) {
			base64_encode(b, k, enc);
			if (base64_decode(enc, strlen(enc), dec, 3) != (int)k ||
			    memcmp(dec, b, k) != 0)
				CHECKF(0, "round trip %zu/%zu", i, k);
		}
	}
}

static void
t_webhook(void)
{
	/* contract.md §9, from the Standard Webhooks reference libraries. */
	static const struct {
		const char *secret, *id;
		int64_t ts;
		const char *payload, *sig;
	} v[] = {
		{ "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
		    "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330,
		    "{\"test\": 2432232314}",
		    "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=" },
		{ "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
		    "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk", 1649367553,
		    "{\"email\":\"test@example.com\",\"username\":\"test_user\"}",
		    "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=" },
	};
	char sig[SIGN_SIG_MAX];
	size_t i;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		CHECK(sign_webhook(v[i].secret, v[i].id, v[i].ts, v[i].payload,
		    strlen(v[i].payload), sig) == 0);
		CHECKF(strcmp(sig, v[i].sig) == 0, "vector %zu: %s", i, sig);
		CHECK(strlen(sig) + 1 == SIGN_SIG_MAX);
		/* The bare base64 secret signs the same. */
		CHECK(sign_webhook(v[i].secret + 6, v[i].id, v[i].ts,
		    v[i].payload, strlen(v[i].payload), sig) == 0 &&
		    strcmp(sig, v[i].sig) == 0);
		/* Any change to the payload or the timestamp changes it. */
		CHECK(sign_webhook(v[i].secret, v[i].id, v[i].ts + 1,
		    v[i].payload, strlen(v[i].payload), sig) == 0 &&
		    strcmp(sig, v[i].sig) != 0);
		CHECK(sign_webhook(v[i].secret, v[i].id, v[i].ts, v[i].payload,
		    strlen(v[i].payload) - 1, sig) == 0 &&
		    strcmp(sig, v[i].sig) != 0);
	}
	CHECK(sign_webhook("whsec_not base64", "msg_1", 1, "", 0, sig) == -1);
	CHECK(sign_webhook("whsec_", "msg_1", 1, "", 0, sig) == -1);
}

static void
t_secrets(void)
{
	uint8_t raw[80], key[SIGN_SECRET_MAX_BYTES];
	char s1[SIGN_SECRET_MAX], s2[SIGN_SECRET_MAX], t[8 + BASE64_LEN(80)];
	static const struct {
		size_t bytes;	/* a key of this many bytes, "whsec_" prefixed */
		int strict, want;
	} lens[] = {
		{ 0, 0, -1 }, { 1, 0, 1 }, { 23, 0, 23 }, { 23, 1, -1 },
		{ 24, 1, 24 }, { 64, 1, 64 }, { 64, 0, 64 }, { 65, 1, -1 },
		{ 65, 0, -1 },
	};
	static const char *const bad[] = {
		"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",	/* no prefix */
		"whsec:MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
		"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS",	/* length */
		"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS!",
		"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw ",
		"whsec_",
		"",
	};
	size_t i;
	int n;

	CHECK(sign_secret_new(s1) == 0);
	CHECK(sign_secret_new(s2) == 0);
	CHECK(strncmp(s1, "whsec_", 6) == 0 && strlen(s1) == 6 + 32);
	CHECK(strcmp(s1, s2) != 0);
	CHECK(sign_secret_key(s1, strlen(s1), 1, key) == 24);

	for (i = 0; i < sizeof(raw); i++)
		raw[i] = (uint8_t)(i * 37 + 1);
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		memcpy(t, "whsec_", 6);
		base64_encode(raw, lens[i].bytes, t + 6);
		n = sign_secret_key(t, strlen(t), lens[i].strict, key);
		CHECKF(n == lens[i].want, "%zu bytes strict=%d: %d",
		    lens[i].bytes, lens[i].strict, n);
		if (n > 0)
			CHECK(memcmp(key, raw, (size_t)n) == 0);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECKF(sign_secret_key(bad[i], strlen(bad[i]), 1, key) == -1,
		    "strict accepted \"%s\"", bad[i]);
	/* Not strict: the bare base64 is accepted (Standard Webhooks). */
	CHECK(sign_secret_key(bad[0], strlen(bad[0]), 0, key) == 24);
	/* The length bounds the span: the rest of the string is not read. */
	CHECK(sign_secret_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwXXXX", 38,
	    1, key) == 24);
}

static void
t_tokens(void)
{
	char a[64], b[64];
	size_t i;
	int ok = 1;

	CHECK(sign_token_new("hkc_", a, sizeof(a)) == 0);
	CHECK(sign_token_new("hkc_", b, sizeof(b)) == 0);
	CHECK(strlen(a) == 4 + 32 && strncmp(a, "hkc_", 4) == 0);
	for (i = 4; a[i] != '\0'; i++)
		if (strchr(sign_b64_url, a[i]) == NULL)
			ok = 0;
	CHECKF(ok, "token %s", a);
	CHECK(strcmp(a, b) != 0);
	CHECK(sign_token_new("", a, 33) == 0 && strlen(a) == 32);
	CHECK(sign_token_new("hkc_", a, 37) == 0 && strlen(a) == 36);
	CHECK(sign_token_new("hkc_", a, 36) == -1);

	CHECK(sign_random(a, 0) == 0);
	CHECK(sign_random(a, 32) == 0 && sign_random(b, 32) == 0 &&
	    memcmp(a, b, 32) != 0);
	{
		/* Large requests may come back short from getrandom(). */
		size_t big = 1 << 20;
		uint8_t *p = calloc(1, big);
		size_t zeros = 0;

		CHECK(p != NULL && sign_random(p, big) == 0);
		for (i = 0; p != NULL && i < big; i++)
			zeros += p[i] == 0;
		CHECKF(zeros < big / 128, "%zu zero bytes", zeros);
		free(p);
	}
	CHECK(sign_urandom((uint8_t *)a, 32) == 0);
}

static void
t_equal(void)
{
	static const struct {
		const char *a, *b;
		size_t n;
		int want;
	} v[] = {
		{ "", "", 0, 1 },
		{ "abc", "xyz", 0, 1 },
		{ "abcdef", "abcdef", 6, 1 },
		{ "abcdef", "xbcdef", 6, 0 },
		{ "abcdef", "abcdex", 6, 0 },
		{ "abcdef", "abcdef\x01", 7, 0 },
		{ "\x80", "\x00", 1, 0 },
		{ "\xff", "\xfe", 1, 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		CHECKF(sign_equal(v[i].a, v[i].b, v[i].n) == v[i].want,
		    "case %zu", i);
}

/* ---- the commands, run in-process with redirected descriptors ---- */

static char t_dir[] = "/tmp/hookd-test-sign-XXXXXX";

/* Write n bytes to a new file in t_dir; returns its path (static). */
static const char *
t_file(const char *name, const void *p, size_t n)
{
	static char path[4][128];
	static int next;
	char *out = path[next++ % 4];
	FILE *f;

	snprintf(out, 128, "%s/%s", t_dir, name);
	f = fopen(out, "wb");
	if (f == NULL || fwrite(p, 1, n, f) != n || fclose(f) != 0)
		CHECKF(0, "cannot write %s", out);
	return out;
}

static void
t_slurp(const char *path, char *out, size_t outsz)
{
	FILE *f = fopen(path, "rb");
	size_t n = 0;

	if (f != NULL) {
		n = fread(out, 1, outsz - 1, f);
		fclose(f);
	}
	out[n] = '\0';
}

/*
 * Run cli_sign_main with args (NULL-terminated) and stdin from payload;
 * stdout and stderr land in out and err. Returns the exit code.
 */
static int
t_run(const char *const *args, const void *payload, size_t plen, char *out,
    char *err, size_t sz)
{
	static char argbuf[16][512];
	char *argv[16];
	const char *in = t_file("stdin", payload, plen);
	char opath[128], epath[128];
	int argc, rc, save[3], fd[3], i;

	for (argc = 0; args[argc] != NULL && argc < 15; argc++) {
		snprintf(argbuf[argc], sizeof(argbuf[argc]), "%s", args[argc]);
		argv[argc] = argbuf[argc];
	}
	argv[argc] = NULL;
	snprintf(opath, sizeof(opath), "%s/stdout", t_dir);
	snprintf(epath, sizeof(epath), "%s/stderr", t_dir);
	fflush(stdout);
	fflush(stderr);
	fd[0] = open(in, O_RDONLY);
	fd[1] = open(opath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	fd[2] = open(epath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	for (i = 0; i < 3; i++) {
		save[i] = dup(i);
		dup2(fd[i], i);
		close(fd[i]);
	}
	rc = cli_sign_main(argc, argv);
	fflush(stdout);
	fflush(stderr);
	for (i = 0; i < 3; i++) {
		dup2(save[i], i);
		close(save[i]);
	}
	t_slurp(opath, out, sz);
	t_slurp(epath, err, sz);
	return rc;
}

#define T_ARGS(...) ((const char *const[]){ __VA_ARGS__, NULL })

static void
t_cli(void)
{
	static const char secret[] = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
	static const char id[] = "msg_p5jXN8AQM9LWM0D4loKWxJek";
	static const char body[] = "{\"test\": 2432232314}";
	static const char good[] =
	    "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
	static const char bin[] = "a\0b\r\n\xff";	/* byte for byte */
	static const struct {
		const char *now, *tolerance, *signature, *body;
		int rc;
		const char *out;
	} v[] = {
		{ "1614265330", NULL, good, body, 0, "valid\n" },
		{ "1614265340", NULL, good, body, 0, "valid\n" },
		{ "1614265630", NULL, good, body, 0, "valid\n" },
		{ "1614265631", NULL, good, body, 1,
		    "invalid: timestamp too old\n" },
		{ "1614265029", NULL, good, body, 1,
		    "invalid: timestamp in the future\n" },
		{ "1614265631", "301", good, body, 0, "valid\n" },
		{ "1614265340", NULL, good, "{\"test\": 2432232315}", 1,
		    "invalid: no signature matches\n" },
		{ "1614265340", NULL, good, "{\"test\": 2432232314}\n", 1,
		    "invalid: no signature matches\n" },
		{ "1614265340", NULL,
		    "v1,AAAA v2,x v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE= "
		    "v1a,foo", body, 0, "valid\n" },
		{ "1614265340", NULL,
		    "  v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=  ",
		    body, 0, "valid\n" },
		{ "1614265340", NULL,
		    "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE", body, 1,
		    "invalid: no signature matches\n" },
		{ "1614265340", NULL, "v2,whatever", body, 1,
		    "invalid: no v1 signature\n" },
	};
	char out[4096], err[4096], want[256], sig[SIGN_SIG_MAX];
	const char *hdr;
	size_t i;
	int rc;

	if (mkdtemp(t_dir) == NULL) {
		CHECKF(0, "mkdtemp");
		return;
	}

	/* sign: the §9 vector, exact output. */
	rc = t_run(T_ARGS("sign", "--secret", secret, "--id", id,
	    "--timestamp", "1614265330"), body, strlen(body), out, err,
	    sizeof(out));
	snprintf(want, sizeof(want), "webhook-id: %s\nwebhook-timestamp: "
	    "1614265330\nwebhook-signature: %s\n", id, good);
	CHECKF(rc == 0 && strcmp(out, want) == 0, "sign: %d %s%s", rc, out,
	    err);
	/* sign --opt=value, and a payload with NUL, CR, LF and 0xff. */
	rc = t_run(T_ARGS("sign", "--secret=" "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2"
	    "LaLaSw", "--id=msg_1", "--timestamp=5"), bin, sizeof(bin) - 1,
	    out, err, sizeof(out));
	CHECK(sign_webhook(secret, "msg_1", 5, bin, sizeof(bin) - 1, sig) == 0);
	snprintf(want, sizeof(want), "webhook-id: msg_1\nwebhook-timestamp: "
	    "5\nwebhook-signature: %s\n", sig);
	CHECKF(rc == 0 && strcmp(out, want) == 0, "sign binary: %d %s%s", rc,
	    out, err);
	/* Default timestamp is now. */
	rc = t_run(T_ARGS("sign", "--secret", secret, "--id", id), "", 0, out,
	    err, sizeof(out));
	CHECK(rc == 0 && strstr(out, "webhook-timestamp: 1") != NULL);

	/* verify with flags, the time window and tampering. */
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		if (v[i].tolerance != NULL)
			rc = t_run(T_ARGS("verify", "--secret", secret, "--id",
			    id, "--timestamp", "1614265330", "--signature",
			    v[i].signature, "--now", v[i].now, "--tolerance",
			    v[i].tolerance), v[i].body, strlen(v[i].body),
			    out, err, sizeof(out));
		else
			rc = t_run(T_ARGS("verify", "--secret", secret, "--id",
			    id, "--timestamp", "1614265330", "--signature",
			    v[i].signature, "--now", v[i].now), v[i].body,
			    strlen(v[i].body), out, err, sizeof(out));
		CHECKF(rc == v[i].rc && strcmp(out, v[i].out) == 0,
		    "verify #%zu: %d %s%s", i, rc, out, err);
	}

	/* verify from a header dump: request line, CRLF, mixed case, a body
	 * below the blank line that must not count. */
	{
		static const char head[] =
		    "POST /callback/3283191 HTTP/1.1\r\n"
		    "Host: mystore.example.com\r\n"
		    "Content-Type: application/json\r\n"
		    "Webhook-Id: msg_p5jXN8AQM9LWM0D4loKWxJek\r\n"
		    "WEBHOOK-TIMESTAMP:1614265330\r\n"
		    "webhook-signature:   v1,bogus= "
		    "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=  \r\n"
		    "\r\n"
		    "webhook-id: msg_other\r\n";

		hdr = t_file("head1", head, sizeof(head) - 1);
	}
	rc = t_run(T_ARGS("verify", "--secret", secret, "--headers", hdr,
	    "--now", "1614265400"), body, strlen(body), out, err, sizeof(out));
	CHECKF(rc == 0 && strcmp(out, "valid\n") == 0, "headers: %d %s%s", rc,
	    out, err);
	/* Flags win over the file. */
	rc = t_run(T_ARGS("verify", "--secret", secret, "--headers", hdr,
	    "--now", "1614265400", "--id", "msg_other"), body, strlen(body),
	    out, err, sizeof(out));
	CHECK(rc == 1 && strcmp(out, "invalid: no signature matches\n") == 0);
	rc = t_run(T_ARGS("verify", "--secret", secret, "--headers", hdr),
	    body, strlen(body), out, err, sizeof(out));
	CHECK(rc == 1 && strcmp(out, "invalid: timestamp too old\n") == 0);
	/* A response-style dump with LF only (curl -D) and the bare secret. */
	{
		static const char head[] =
		    "HTTP/1.1 200 OK\n"
		    "webhook-id: msg_p5jXN8AQM9LWM0D4loKWxJek\n"
		    "webhook-timestamp: 1614265330\n"
		    "webhook-signature: "
		    "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=\n";

		hdr = t_file("head2", head, sizeof(head) - 1);
	}
	rc = t_run(T_ARGS("verify", "--secret", secret + 6, "--headers", hdr,
	    "--now", "1614265330"), body, strlen(body), out, err, sizeof(out));
	CHECKF(rc == 0 && strcmp(out, "valid\n") == 0, "curl -D: %d %s%s", rc,
	    out, err);
	/* Missing and repeated headers. */
	{
		static const char head[] =
		    "webhook-timestamp: 1614265330\n"
		    "webhook-signature: v1,x\n";

		hdr = t_file("head3", head, sizeof(head) - 1);
	}
	rc = t_run(T_ARGS("verify", "--secret", secret, "--headers", hdr,
	    "--now", "1614265330"), body, strlen(body), out, err, sizeof(out));
	CHECK(rc == 1 && strcmp(out, "invalid: missing webhook-id\n") == 0);
	{
		static const char head[] =
		    "webhook-id: a\nwebhook-id: b\n"
		    "webhook-timestamp: 1614265330\n"
		    "webhook-signature: v1,x\n";

		hdr = t_file("head4", head, sizeof(head) - 1);
	}
	rc = t_run(T_ARGS("verify", "--secret", secret, "--headers", hdr,
	    "--now", "1614265330"), body, strlen(body), out, err, sizeof(out));
	CHECK(rc == 1 && strcmp(out, "invalid: repeated webhook-id header\n") ==
	    0);
	rc = t_run(T_ARGS("verify", "--secret", secret, "--id", id,
	    "--signature", good, "--now", "1614265330"), body, strlen(body),
	    out, err, sizeof(out));
	CHECK(rc == 1 && strcmp(out, "invalid: missing webhook-timestamp\n") ==
	    0);
	rc = t_run(T_ARGS("verify", "--secret", secret, "--id", id,
	    "--timestamp", "1614265330", "--now", "1614265330"), body,
	    strlen(body), out, err, sizeof(out));
	CHECK(rc == 1 && strcmp(out, "invalid: missing webhook-signature\n") ==
	    0);
	rc = t_run(T_ARGS("verify", "--secret", secret, "--id", id,
	    "--timestamp", "-5", "--signature", good), body, strlen(body),
	    out, err, sizeof(out));
	CHECK(rc == 1 && strcmp(out, "invalid: bad webhook-timestamp\n") == 0);

	/* Usage: -h for both commands, bad flags, bad values. */
	rc = t_run(T_ARGS("sign", "-h"), "", 0, out, err, sizeof(out));
	CHECK(rc == 0 && strstr(out, "usage:") != NULL &&
	    strstr(out, "query string") != NULL);
	rc = t_run(T_ARGS("verify", "--help"), "", 0, out, err, sizeof(out));
	CHECK(rc == 0 && strstr(out, "hookd verify") != NULL);
	{
		static const char *const usage[][8] = {
			{ "verify", "--bogus", "1", NULL },
			{ "verify", "--secret", NULL },
			{ "verify", "stray", NULL },
			{ "verify", "--id", "x", NULL },
			{ "sign", "--secret", secret, NULL },
			{ "sign", "--secret", secret, "--id", id, "--now", "1",
			    NULL },
			{ "sign", "--secret", secret, "--id", id, "--id", id,
			    NULL },
			{ "sign", "--secret", secret, "--id", id,
			    "--timestamp", "x", NULL },
			{ "verify", "--secret", secret, "--tolerance", "5m",
			    NULL },
		};

		for (i = 0; i < sizeof(usage) / sizeof(usage[0]); i++) {
			rc = t_run(usage[i], body, strlen(body), out, err,
			    sizeof(out));
			CHECKF(rc == 1 && out[0] == '\0' &&
			    strstr(err, "usage:") != NULL, "usage #%zu: %d %s",
			    i, rc, err);
		}
	}
	rc = t_run(T_ARGS("bogus"), "", 0, out, err, sizeof(out));
	CHECK(rc == 1 && strstr(err, "usage:") != NULL);
	rc = t_run(T_ARGS("sign", "--secret", "whsec_!!", "--id", id), "", 0,
	    out, err, sizeof(out));
	CHECK(rc == 1 && out[0] == '\0' && err[0] != '\0');
	rc = t_run(T_ARGS("sign", "--secret", secret, "--id", "a\r\nX: y"), "",
	    0, out, err, sizeof(out));
	CHECK(rc == 1 && out[0] == '\0');
	rc = t_run(T_ARGS("verify", "--secret", secret, "--headers",
	    "/nonexistent/hookd"), "", 0, out, err, sizeof(out));
	CHECK(rc == 1 && out[0] == '\0' && err[0] != '\0');

	for (i = 0; i < 4; i++) {
		static const char *const names[] = {
			"stdin", "stdout", "stderr", "head1"
		};

		snprintf(want, sizeof(want), "%s/%s", t_dir, names[i]);
		unlink(want);
	}
	for (i = 2; i <= 4; i++) {
		snprintf(want, sizeof(want), "%s/head%zu", t_dir, i);
		unlink(want);
	}
	rmdir(t_dir);
}

/* cli_verify_sig with the keys of a rotation (hookd listen --secret twice):
 * a signature by either key verifies, a list holding a good one among bad
 * ones too, and the reasons of the rest are those of hookd verify. */
static void
t_verify_keys(void)
{
	static const char *const secret[2] = {
		"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
		"whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
	};
	static const char id[] = "msg_p5jXN8AQM9LWM0D4loKWxJek";
	static const char body[] = "{\"test\": 2432232314}";
	static const char good1[] =
	    "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
	static const struct {
		size_t nkeys, first;	/* keys secret[first..first+nkeys) */
		const char *sigs;
		const char *ts;
		int count_ts;
		const char *reason;	/* NULL: valid */
	} v[] = {
		{ 1, 0, good1, "1614265330", 1, NULL },
		{ 1, 1, good1, "1614265330", 1, "no signature matches" },
		{ 2, 0, good1, "1614265330", 1, NULL },
		/* The old key second: still found. */
		{ 2, 0, "v1,AAAA v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
		    "1614265330", 1, NULL },
		{ 2, 0, "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
		    "1614265330", 1, "no v1 signature" },
		{ 2, 0, good1, "1614264000", 1, "timestamp too old" },
		{ 2, 0, good1, "1614265330", 2,
		    "repeated webhook-timestamp header" },
		{ 2, 0, good1, "16142x5330", 1, "bad webhook-timestamp" },
		{ 0, 0, good1, "1614265330", 1, "no v1 signature" },
	};
	uint8_t key[2][SIGN_SECRET_MAX_BYTES];
	const uint8_t *keys[2];
	size_t klens[2], i, k;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct cli_sig_hdrs h;
		const char *r;

		for (k = 0; k < v[i].nkeys; k++) {
			const char *s = secret[v[i].first + k];
			int n = sign_secret_key(s, strlen(s), 0, key[k]);

			CHECK(n > 0);
			keys[k] = key[k];
			klens[k] = (size_t)n;
		}
		memset(&h, 0, sizeof(h));
		h.v[CLI_HDR_ID] = id;
		h.len[CLI_HDR_ID] = strlen(id);
		h.count[CLI_HDR_ID] = 1;
		h.v[CLI_HDR_TIMESTAMP] = v[i].ts;
		h.len[CLI_HDR_TIMESTAMP] = strlen(v[i].ts);
		h.count[CLI_HDR_TIMESTAMP] = v[i].count_ts;
		h.v[CLI_HDR_SIGNATURE] = v[i].sigs;
		h.len[CLI_HDR_SIGNATURE] = strlen(v[i].sigs);
		h.count[CLI_HDR_SIGNATURE] = 1;
		r = cli_verify_sig(&h, keys, klens, v[i].nkeys, 1614265330,
		    CLI_VERIFY_TOLERANCE, body, strlen(body));
		if (v[i].reason == NULL)
			CHECKF(r == NULL, "case %zu: %s", i, r);
		else
			CHECKF(r != NULL && strcmp(r, v[i].reason) == 0,
			    "case %zu: %s, want %s", i, r ? r : "valid",
			    v[i].reason);
	}
}

void
test_sign(void)
{
	static const int impls[] = { SIGN_SHA_PORTABLE, SIGN_SHA_X86 };
	int saved;
	size_t i;

	/* Every SHA-256 implementation this CPU can run, over the same
	 * vectors: the portable one forced, then the accelerated one where
	 * the CPU has it; then the choice sha256 makes by itself. */
	sign_sha_choose();
	saved = sign_sha_impl;
	for (i = 0; i < sizeof(impls) / sizeof(impls[0]); i++) {
		if (impls[i] == SIGN_SHA_X86 && saved != SIGN_SHA_X86)
			continue;
		sign_sha_impl = impls[i];
		t_sha256();
		t_hmac();
		t_webhook();
	}
	sign_sha_impl = saved;
	t_sha_choice();
	t_base64();
	t_secrets();
	t_verify_keys();
	t_tokens();
	t_equal();
	t_cli();
}
