/* Fuzz target: store_open's replay. The input is registry.log, a NUL byte,
 * then journal.log (with no NUL, all of it is journal.log and the registry
 * is empty). Opening must succeed or fail cleanly; after a success every
 * payload and attempt history reads back, and when the open changed the
 * files (a torn tail cut, a record written) opening them again succeeds with
 * the same contents. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../store.h"
#include "fuzz.h"

static char dir[64];
static int repaired;

static void
notice(const char *msg)
{
	(void)msg;
	repaired = 1;
}

static void
cleanup(void)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/registry.log", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/journal.log", dir);
	unlink(path);
	rmdir(dir);
}

static int
put_file(const char *name, const uint8_t *p, size_t n)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return -1;
	if (write(fd, p, n) != (ssize_t)n) {
		close(fd);
		return -1;
	}
	return close(fd);
}

/* Read back what the API shows; returns a digest of the counts. */
static size_t
read_back(void)
{
	struct buf b = {0}, last = {0}, ack = {0}, log = {0};
	size_t i, len, sum = 0;

	/* The strings the API prints: each must be a whole C string. */
	for (i = 0; i < store_client_count(); i++)
		sum += strlen(store_client_at(i)->name);
	for (i = 0; i < store_endpoint_count(); i++) {
		const struct endpoint *e = store_endpoint_at(i);
		size_t k;

		sum += strlen(e->url) + (e->headers ? strlen(e->headers) : 0) +
		    (e->description ? strlen(e->description) : 0);
		for (k = 0; k < e->nevents; k++)
			sum += strlen(e->events[k]);
	}
	for (i = 0; i < store_event_count(); i++)
		(void)store_event_data(store_event_at(i), &b, &len);
	for (i = 0; i < store_delivery_count(); i++) {
		buf_reset(&last);
		buf_reset(&ack);
		buf_reset(&log);
		(void)store_delivery_history(store_delivery_at(i), &last,
		    &ack, &log);
	}
	sum += store_client_count() + 1000 * store_endpoint_count() +
	    1000000 * store_event_count() + 7 * store_delivery_count() +
	    13 * store_pending_count();
	buf_free(&b);
	buf_free(&last);
	buf_free(&ack);
	buf_free(&log);
	return sum;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, '\0', size);
	size_t rlen = nul != NULL ? (size_t)(nul - data) : 0;
	size_t jstart = nul != NULL ? rlen + 1 : 0, sum;
	char err[256];
	int changed;

	if (dir[0] == '\0') {
		const char *tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" :
		    "/tmp";

		snprintf(dir, sizeof(dir), "%s/hookd-fuzz-%d", tmp,
		    (int)getpid());
		mkdir(dir, 0700);
		atexit(cleanup);
	}
	if (put_file("registry.log", data, rlen) != 0 ||
	    put_file("journal.log", data + jstart, size - jstart) != 0)
		return 0;
	repaired = 0;
	if (store_open(dir, 0, err, sizeof(err), notice) != 0) {
		store_close();
		return 0;
	}
	sum = read_back();
	changed = repaired || store_written_seq() > 0;
	store_close();
	if (changed && (store_open(dir, 0, err, sizeof(err), NULL) != 0 ||
	    read_back() != sum))
		abort();
	store_close();
	return 0;
}
