/*
 * api_static: the config file's static registrations (contract §7, §10):
 * `client` and `endpoint` lines checked (-n) and applied at start and on
 * SIGHUP, through the same endpoint drafts and checks as the API.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "api_impl.h"
#include "config.h"
#include "deliver.h"
#include "http.h"
#include "sign.h"
#include "store.h"
#include "url.h"

/* ---- static registrations (contract §7) ---- */

/* A store failure as a registration error. */
static const char *
api_static_store_error(void)
{
	return errno == ENOSPC ? "disk full" : "cannot write the registry";
}

/* A client line: created with a fresh token nobody sees (the admin gets one
 * with rotate-token) when missing. NULL, or the reason it failed. */
static const char *
api_static_client(const struct config_reg *g, int apply)
{
	char tok[API_TOKEN_MAX], secret[SIGN_SECRET_MAX];
	uint8_t hash[32];
	const char *why = NULL;
	size_t n = strlen(g->client);

	if (!util_client_id_ok(g->client, n))
		return "client id must be 1-64 characters of A-Z a-z 0-9 . _ -";
	if (g->name != NULL && strlen(g->name) > API_NAME_MAX)
		return "client name is too long";
	if (store_client_find(g->client, n) != NULL)
		return NULL;
	if (store_client_id_held(g->client, n, util_wall_ms()))
		return "a deleted client had this id and its events are still "
		    "kept (until retention drops them); choose another id";
	if (!apply)
		return NULL;
	if (api_new_token(tok, hash) != 0 || sign_secret_new(secret) != 0)
		return "no randomness";
	if (store_client_create(g->client, g->name, hash, secret) == NULL)
		why = api_static_store_error();
	sign_wipe(tok, sizeof(tok));
	sign_wipe(secret, sizeof(secret));
	return why;
}

/* The events=a,b list of an endpoint line into the draft. */
static const char *
api_static_filters(struct api_draft *d, const char *list)
{
	const char *p = list != NULL ? list : "*", *comma;
	size_t n;

	for (;;) {
		comma = strchr(p, ',');
		n = comma != NULL ? (size_t)(comma - p) : strlen(p);
		if (!api_type_ok(p, n, 1))
			return "events: each filter must be visible ASCII, "
			    "'*' only at the end";
		if (api_draft_add_filter(d, p, n) != 0)
			return d->e.nevents == UTIL_MAX_FILTERS ?
			    "events: too many filters" : "out of memory";
		if (comma == NULL)
			return NULL;
		p = comma + 1;
	}
}

/* Client cl's endpoint with this URL, or NULL. */
static struct endpoint *
api_static_find(const struct client *cl, const char *url)
{
	struct endpoint *e;

	for (e = cl->ep_head; e != NULL; e = e->c_next)
		if (strcmp(e->url, url) == 0)
			return e;
	return NULL;
}

/* The delivery policy members an endpoint line names (contract §15) into
 * the draft; those it does not name stay as they are. 0 or -1 out of
 * memory. */
static int
api_static_policy(struct api_draft *d, const struct config_reg *g)
{
	if (g->has_policy & CONFIG_POL_RATE)
		d->e.rate_milli = g->rate_milli;
	if (g->has_policy & CONFIG_POL_ORDERING)
		d->e.fifo = (uint8_t)g->fifo;
	if (g->has_policy & CONFIG_POL_TIMEOUT)
		d->e.timeout_ms = g->timeout_ms;
	if (g->has_policy & CONFIG_POL_RETRY)
		return api_draft_set_retry(d, g->retry_ms, g->nretry);
	return 0;
}

/* 1 when e already holds every policy member the line names. */
static int
api_static_policy_same(const struct endpoint *e, const struct config_reg *g)
{
	return (!(g->has_policy & CONFIG_POL_RATE) ||
	    e->rate_milli == g->rate_milli) &&
	    (!(g->has_policy & CONFIG_POL_ORDERING) || e->fifo == g->fifo) &&
	    (!(g->has_policy & CONFIG_POL_TIMEOUT) ||
	    e->timeout_ms == g->timeout_ms) &&
	    (!(g->has_policy & CONFIG_POL_RETRY) || (e->nretry == g->nretry &&
	    memcmp(e->retry_ms, g->retry_ms, g->nretry *
	    sizeof(g->retry_ms[0])) == 0));
}

/* An existing endpoint of a line: the policy members the line names are
 * configuration, so a start or a reload puts them back in force (an API
 * PATCH of them lasts until then); one put back is named in changed (may
 * be NULL; changedsz bytes). NULL, or the reason it failed. */
static const char *
api_static_update(struct endpoint *e, const struct config_reg *g,
    char *changed, size_t changedsz)
{
	struct api_draft d;
	const char *why = NULL;

	if (api_static_policy_same(e, g))
		return NULL;
	api_draft_init(&d);
	if (api_draft_copy(&d, e) != 0 || api_static_policy(&d, g) != 0)
		why = "out of memory";
	else if (store_endpoint_update(e, &d.e) != 0)
		why = api_static_store_error();
	else {
		deliver_endpoint_changed(e);
		if (changed != NULL) {
			char xid[STORE_XID_MAX];
			size_t n = strlen(changed);

			store_fmt_id(STORE_EP, e->id, xid);
			snprintf(changed + n, changedsz - n, "%sendpoint:%s",
			    n > 0 ? "," : "", xid);
		}
	}
	api_draft_free(&d);
	return why;
}

/* 1 when the config in force declares client id in a client line. */
static int
api_static_declared(const char *id)
{
	size_t i;

	for (i = 0; i < config_current()->nregs; i++)
		if (!config_current()->regs[i].is_endpoint &&
		    strcmp(config_current()->regs[i].client, id) == 0)
			return 1;
	return 0;
}

/* What an endpoint line is checked for without the store: its URL (the
 * literal-address destination rule of api_url_problem, the one the API
 * applies) and its secret. NULL, or the reason (static, or in buf). */
static const char *
api_static_endpoint_form(const struct config_reg *g, char *buf,
    size_t bufsz)
{
	const char *why;

	if ((why = api_url_problem(g->url, strlen(g->url), buf, bufsz)) !=
	    NULL)
		return why;
	if (g->secret != NULL && !api_secret_ok(g->secret, strlen(g->secret)))
		return "secret must be whsec_ followed by the base64 of 24 to "
		    "64 bytes";
	return NULL;
}

/* An endpoint line: created when its client has no endpoint with that URL.
 * Without apply, only checked: its client may then be one that a client
 * line of the same config is about to create. */
static const char *
api_static_endpoint(const struct config_reg *g, int apply, char *changed,
    size_t changedsz)
{
	struct api_draft d;
	struct client *cl = store_client_find(g->client, strlen(g->client));
	struct endpoint *e;
	size_t n = strlen(g->url);
	const char *why;
	static char wbuf[API_ERR_MAX];	/* the answer outlives the call */

	/* The config checked the id's characters: it is safe to echo. A
	 * client created through the API is fine too, so only the store can
	 * tell, and -n cannot. */
	if (cl == NULL && (apply || !api_static_declared(g->client))) {
		snprintf(wbuf, sizeof(wbuf), "no such client \"%s\": declare "
		    "it with a client line, or create it with POST "
		    "/v1/clients first", g->client);
		return wbuf;
	}

	if ((why = api_static_endpoint_form(g, wbuf, sizeof(wbuf))) != NULL)
		return why;
	if (!apply)
		return NULL;
	if ((e = api_static_find(cl, g->url)) != NULL)
		return api_static_update(e, g, changed, changedsz);
	api_draft_init(&d);
	d.e.client = cl;
	d.e.method_get = g->method_get;
	if ((why = api_static_filters(&d, g->events)) != NULL)
		goto done;
	if (api_static_policy(&d, g) != 0) {
		why = "out of memory";
		goto done;
	}
	if (api_draft_set(&d.e.url, g->url, n) != 0) {
		why = "out of memory";
		goto done;
	}
	if (g->secret != NULL)
		memcpy(d.e.secret, g->secret, strlen(g->secret) + 1);
	else if (sign_secret_new(d.e.secret) != 0) {
		why = "no randomness";
		goto done;
	}
	if (store_endpoint_create(&d.e) == NULL)
		why = api_static_store_error();
done:
	api_draft_free(&d);
	return why;
}

int
api_check_static(char *err, size_t errsz)
{
	const struct config_reg *g;
	const char *why;
	char buf[API_ERR_MAX];
	size_t i;

	for (i = 0; i < config_current()->nregs; i++) {
		g = &config_current()->regs[i];
		if (!g->is_endpoint)
			continue;
		if ((why = api_static_endpoint_form(g, buf, sizeof(buf))) !=
		    NULL) {
			snprintf(err, errsz, "%d: %s", g->line, why);
			return -1;
		}
	}
	return 0;
}

int
api_apply_static(char *err, size_t errsz, char *changed, size_t changedsz)
{
	const struct config_reg *g;
	const char *why;
	size_t i;
	int pass;

	/*
	 * Passes 0 and 1 check every line and write nothing, so that a bad
	 * line leaves the registry as it was (contract §10: a failed start
	 * writes nothing); passes 2 and 3 create what is missing. Clients
	 * first, so an endpoint line may come before its client.
	 */
	for (pass = 0; pass < 4; pass++) {
		for (i = 0; i < config_current()->nregs; i++) {
			g = &config_current()->regs[i];
			if (g->is_endpoint != (pass & 1))
				continue;
			why = (pass & 1) ? api_static_endpoint(g, pass >= 2,
			    changed, changedsz) :
			    api_static_client(g, pass >= 2);
			if (why != NULL) {
				snprintf(err, errsz, "%d: %s", g->line, why);
				return -1;
			}
		}
	}
	return 0;
}
