/*
 * Tests of util.c: buffers, times, numbers and durations at their limits.
 */
#include <string.h>

#include "../util.c"
#include "unit.h"

void
test_util(void)
{
	struct buf b = {0};
	char t[UTIL_TIME_MAX];
	int64_t ms;
	uint64_t v;
	int i;

	for (i = 0; i < 1000; i++)
		CHECK(buf_printf(&b, "%d,", i) == 0);
	CHECK(strncmp(b.data, "0,1,2,", 6) == 0);
	buf_consume(&b, 2);
	CHECK(strncmp(b.data, "1,2,", 4) == 0);
	buf_free(&b);
	/* Found by fuzz_json: memory reserved but nothing appended yet (an
	 * empty decoded string) is still an empty C string. */
	CHECK(buf_reserve(&b, 10) == 0 && b.data != NULL && b.data[0] == '\0');
	buf_free(&b);

	CHECK(strcmp(util_fmt_time(1795881600123LL, t),
	    "2026-11-28T16:00:00.123Z") == 0);
	CHECK(util_parse_time("2026-11-28T16:00:00.123Z", 24, &ms) == 0 &&
	    ms == 1795881600123LL);
	CHECK(util_parse_time("2026-11-28T17:00:00+01:00", 25, &ms) == 0 &&
	    ms == 1795881600000LL);
	CHECK(util_parse_time("2026-11-28T16:00:00", 19, &ms) == -1);
	CHECK(util_parse_time("2026-13-28T16:00:00Z", 20, &ms) == -1);
	CHECK(util_parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT", 29, &ms) ==
	    0 && ms == 784111777000LL);

	CHECK(util_parse_u64("18446744073709551615", 20, UINT64_MAX, &v) == 0 &&
	    v == UINT64_MAX);
	CHECK(util_parse_u64("18446744073709551616", 20, UINT64_MAX, &v) == -1);
	CHECK(util_parse_u64("100", 3, 100, &v) == 0 && v == 100);
	CHECK(util_parse_u64("101", 3, 100, &v) == -1);
	CHECK(util_parse_u64("", 0, 100, &v) == -1);
	CHECK(util_parse_u64("-1", 2, 100, &v) == -1);
	CHECK(util_parse_u64(" 1", 2, 100, &v) == -1);

	CHECK(util_parse_duration("15", 2, INT64_MAX, &ms) == 0 && ms == 15000);
	CHECK(util_parse_duration("250ms", 5, INT64_MAX, &ms) == 0 && ms == 250);
	CHECK(util_parse_duration("5m", 2, INT64_MAX, &ms) == 0 && ms == 300000);
	CHECK(util_parse_duration("7d", 2, INT64_MAX, &ms) == 0 &&
	    ms == 604800000);
	CHECK(util_parse_duration("2h", 2, 3600000, &ms) == -1);
	CHECK(util_parse_duration("1x", 2, INT64_MAX, &ms) == -1);
	CHECK(util_parse_duration("ms", 2, INT64_MAX, &ms) == -1);

	CHECK(util_span_ieq("Content-Length", 14, "content-length"));
	CHECK(!util_span_ieq("Content-Lengt", 13, "content-length"));
}
