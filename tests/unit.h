/*
 * unit: the tiny harness of hookd's one unit-test binary. Test files include
 * the module under test (`#include "../json.c"`) to reach its static
 * functions, and report through CHECK.
 */
#ifndef HOOKD_TESTS_UNIT_H
#define HOOKD_TESTS_UNIT_H

#include <stddef.h>
#include <stdio.h>

extern int unit_passed, unit_failed;

/* Count one check; on failure print where and what, and go on. */
#define CHECK(cond) do { \
	if (cond) { \
		unit_passed++; \
	} else { \
		unit_failed++; \
		fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); \
	} \
} while (0)

/* The same with a printf-style explanation on failure. */
#define CHECKF(cond, ...) do { \
	if (cond) { \
		unit_passed++; \
	} else { \
		unit_failed++; \
		fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
		fprintf(stderr, __VA_ARGS__); \
		fputc('\n', stderr); \
	} \
} while (0)

/* A copy of n bytes in a buffer of exactly n bytes, so that AddressSanitizer
 * catches any read past the end of the input. The caller frees it. */
char *unit_dup(const char *s, size_t n);

/* Where ../shared/testdata is (HOOKD_TESTDATA overrides). */
const char *unit_testdata(void);

void test_util(void);
void test_json(void);
void test_http(void);
void test_llhttp(void);
void test_sign(void);
void test_url(void);
void test_store(void);
void test_index(void);
void test_match(void);
void test_records(void);
void test_config(void);
void test_api(void);
void test_webhook(void);
void test_gateway(void);

#endif
