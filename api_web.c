/*
 * api_web: GET /console, the console's files under /console/, and GET
 * /openapi.json (contract §16): the files under web/, embedded in the
 * binary at build time (web/embed.sh), answered without a token. The
 * console signs in with a token the browser keeps; these answers carry
 * none of hookd's data.
 */
#include "api_impl.h"
#include "web.h"

/*
 * The headers every embedded file is answered with. The Content-Security-
 * Policy allows scripts, styles, images and fetches from hookd itself only:
 * no inline script runs (an injected <script> or onerror= does nothing even
 * if a value were ever rendered as HTML), and frame-ancestors 'none' keeps
 * the console out of other sites' frames (clickjacking). nosniff stops a
 * browser from reading a file as a type other than the one given;
 * no-referrer keeps the console's address out of the receivers' logs when
 * a link is followed; no-cache makes a browser ask again after an upgrade
 * (the files change with the binary).
 */
static const char api_web_head[] =
    "Content-Security-Policy: default-src 'self'; frame-ancestors 'none'\r\n"
    "X-Content-Type-Options: nosniff\r\n"
    "X-Frame-Options: DENY\r\n"
    "Referrer-Policy: no-referrer\r\n"
    "Cache-Control: no-cache\r\n";

int
api_web_asset(struct api_ctx *c)
{
	const char *path = c->r->target;
	size_t len = c->query != NULL ?
	    (size_t)(c->query - 1 - path) : c->r->target_len, i;

	/* "/console/" is "/console": the address as often typed or linked. */
	if (len > 1 && path[len - 1] == '/')
		len--;

	for (i = 0; i < web_asset_count; i++) {
		const struct web_asset *a = &web_assets[i];

		if (!util_span_eq(path, len, a->path))
			continue;
		if (buf_append(c->out, a->data, a->len) != 0)
			return api_nomem(c);
		*c->ctype = a->content_type;
		api_set_extra_head(api_web_head);
		return 200;
	}
	return api_not_found(c);
}
