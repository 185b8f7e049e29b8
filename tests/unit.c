/*
 * unit: runs every module's table-driven tests and prints the closing line
 * "N passed, N failed"; exits non-zero when anything failed.
 */
#include <stdlib.h>
#include <string.h>

#include "unit.h"

int unit_passed, unit_failed;

char *
unit_dup(const char *s, size_t n)
{
	char *p = malloc(n > 0 ? n : 1);

	if (p != NULL && n > 0)
		memcpy(p, s, n);
	return p;
}

const char *
unit_testdata(void)
{
	const char *d = getenv("HOOKD_TESTDATA");

	return d != NULL && d[0] != '\0' ? d : "../shared/testdata";
}

int
main(int argc, char **argv)
{
	static const struct {
		const char *name;
		void (*fn)(void);
	} suites[] = {
		{ "util", test_util },
		{ "json", test_json },
		{ "http", test_http },
		{ "llhttp", test_llhttp },
		{ "sign", test_sign },
		{ "url", test_url },
		{ "store", test_store },
		{ "index", test_index },
		{ "match", test_match },
		{ "records", test_records },
		{ "config", test_config },
		{ "api", test_api },
		{ "webhook", test_webhook },
		{ "gateway", test_gateway },
	};
	size_t i;

	for (i = 0; i < sizeof(suites) / sizeof(suites[0]); i++) {
		int before = unit_failed;

		if (argc > 1 && strcmp(argv[1], suites[i].name) != 0)
			continue;
		suites[i].fn();
		fprintf(stderr, "unit: %s %s\n", suites[i].name,
		    unit_failed == before ? "ok" : "FAILED");
	}
	printf("%d passed, %d failed\n", unit_passed, unit_failed);
	return unit_failed == 0 ? 0 : 1;
}
