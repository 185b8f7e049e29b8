/* Fuzz target: records written from untrusted input read back (issue 19.1,
 * contract §18). The input is split at 0x1e bytes into the fields a
 * receiver, upstream, tenant or producer controls (name, URL, filter,
 * headers, description, type, payload, one-off URL, idempotency key, stored
 * answer, error, response body, ack; missing ones are empty); every store
 * write function gets them, and the files must replay, compact and replay
 * again with every field as written (tests/records.h). Any difference
 * aborts. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../records.h"
#include "fuzz.h"

static char dir[64];

static void
cleanup(void)
{
	rec_clean(dir);
	rmdir(dir);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	struct rec_input in;
	char why[512];
	int f;

	if (dir[0] == '\0') {
		const char *tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" :
		    "/tmp";

		snprintf(dir, sizeof(dir), "%s/hookd-fuzz-rec-%d", tmp,
		    (int)getpid());
		mkdir(dir, 0700);
		atexit(cleanup);
	}
	for (f = 0; f < RF_NFIELDS; f++) {
		const char *sep = p < end ? memchr(p, 0x1e,
		    (size_t)(end - p)) : NULL;
		const char *stop = sep != NULL ? sep : end;

		in.p[f] = p < end ? p : "";
		in.n[f] = p < end ? (size_t)(stop - p) : 0;
		p = sep != NULL ? sep + 1 : end;
	}
	/* A response body and an ack are cut by the engine before the store
	 * sees them; keep to those bounds. */
	if (in.n[RF_BODY] > STORE_LOG_BODY)
		in.n[RF_BODY] = STORE_LOG_BODY;
	if (in.n[RF_ACK] > STORE_ACK_MAX)
		in.n[RF_ACK] = STORE_ACK_MAX;
	if (rec_roundtrip(dir, &in, why, sizeof(why)) != 0) {
		fprintf(stderr, "fuzz_records: %s\n", why);
		abort();
	}
	return 0;
}
