/*
 * replay: runs a fuzz target over files and directories of inputs, so the
 * committed corpora are replayed under ASan/UBSan with any compiler.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int
run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	unsigned char *p = NULL;
	size_t n = 0, cap = 0;
	size_t got;

	if (f == NULL)
		return -1;
	for (;;) {
		if (n == cap) {
			unsigned char *q;

			cap = cap ? cap * 2 : 4096;
			q = realloc(p, cap);
			if (q == NULL) {
				free(p);
				fclose(f);
				return -1;
			}
			p = q;
		}
		got = fread(p + n, 1, cap - n, f);
		if (got == 0)
			break;
		n += got;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(p, n);
	free(p);
	return 0;
}

int
main(int argc, char **argv)
{
	int i, runs = 0;

	for (i = 1; i < argc; i++) {
		struct stat sb;
		DIR *d;
		struct dirent *e;

		if (stat(argv[i], &sb) != 0) {
			fprintf(stderr, "%s: cannot stat\n", argv[i]);
			return 1;
		}
		if (!S_ISDIR(sb.st_mode)) {
			runs += run_file(argv[i]) == 0;
			continue;
		}
		d = opendir(argv[i]);
		while (d != NULL && (e = readdir(d)) != NULL) {
			char path[4096];

			if (e->d_name[0] == '.')
				continue;
			if (snprintf(path, sizeof(path), "%s/%s", argv[i],
			    e->d_name) >= (int)sizeof(path))
				continue;
			runs += run_file(path) == 0;
		}
		if (d != NULL)
			closedir(d);
	}
	printf("replayed %d inputs\n", runs);
	return 0;
}
