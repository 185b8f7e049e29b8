/*
 * web: the files under web/ (the console and the OpenAPI document,
 * contract §16), embedded in the binary at build time by web/embed.sh into
 * the generated web_assets.c. Read-only data; nothing is read from disk at
 * run time.
 */
#ifndef HOOKD_WEB_H
#define HOOKD_WEB_H

#include <stddef.h>

struct web_asset {
	const char *path;		/* where it is served: "/console" */
	const char *content_type;	/* the Content-Type to answer with */
	const unsigned char *data;	/* len bytes, then a NUL */
	size_t len;
};

/* Every embedded file, in the order web/embed.sh was given them. */
extern const struct web_asset web_assets[];
extern const size_t web_asset_count;

#endif
