/* Fuzz target: the journal reader. The input becomes journal.log of a fresh
 * data directory; opening it must succeed or fail cleanly, never crash. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../store.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char dir[64];
	char path[128], err[256];
	int fd;

	if (dir[0] == '\0') {
		snprintf(dir, sizeof(dir), "/tmp/hookd-fuzz-%d", (int)getpid());
		mkdir(dir, 0700);
	}
	snprintf(path, sizeof(path), "%s/registry.log", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/journal.log", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return 0;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	close(fd);
	if (store_open(dir, 0, err, sizeof(err), NULL) == 0) {
		struct buf b = {0};
		size_t i, len;

		for (i = 0; i < store_event_count(); i++)
			store_event_data(store_event_at(i), &b, &len);
		buf_free(&b);
	}
	store_close();
	return 0;
}
