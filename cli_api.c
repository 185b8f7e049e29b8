/*
 * cli_api: the subcommands that talk to a running hookd over its HTTP API
 * (contract §16, issue 16): client, endpoint, send, deliveries, retry,
 * replay and tail. The address and the admin token are found as the
 * daemon finds them (config_read, token.c); requests go through cli_http.c;
 * answers are read with json.c and bodies written with its encoder.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "cli_http.h"
#include "cli_out.h"
#include "config.h"
#include "http.h"
#include "json.h"
#include "store.h"
#include "token.h"
#include "url.h"
#include "util.h"

/* Exit codes (issue 16): 0 done, 1 an API or connection error, 2 usage. */
#define CLI_OK 0
#define CLI_FAIL 1
#define CLI_USAGE 2
/* Options given to one command: far more than any command takes, and a
 * bound on a hostile argv. */
#define CLI_MAX_OPTS 64
#define CLI_MAX_POS 8
/* `hookd tail` asks this often: cheap for hookd (a ring read), and soon
 * enough for a person watching. */
#define CLI_TAIL_POLL_MS 1000

struct cli_opt {
	const char *name;	/* "--events" */
	const char *value;	/* NULL for a flag */
};

/* One run of a subcommand: its words, options and connection. */
struct cli_run {
	const struct cli_cmd *cmd;
	const char *pos[CLI_MAX_POS];
	size_t npos;
	struct cli_opt opt[CLI_MAX_OPTS];
	size_t nopt;
	int json;
	char addr[128];
	char token[TOKEN_MAX];
	/* "Hookd-Client: ID\r\n" on every request of a command that names a
	 * client (cli_shard_setup), so that a sharding proxy (contract §17)
	 * sends it to the client's node; "" when none is named. */
	char shard[UTIL_ID_MAX + 20];
};

struct cli_cmd {
	const char *name;	/* "client add" */
	const char *args;	/* the usage after the name */
	const char *what;	/* one line on what it does */
	const char *const *opts;	/* options taking a value */
	size_t minpos, maxpos;
	int (*run)(struct cli_run *r);
};

/* ------------------------------------------------------------------ */
/* Options and the connection */

static const char *
cli_opt(const struct cli_run *r, const char *name)
{
	size_t i;

	for (i = 0; i < r->nopt; i++)
		if (strcmp(r->opt[i].name, name) == 0)
			return r->opt[i].value;
	return NULL;
}

/* Where the token and address come from: the daemon's own rules. 0, or
 * CLI_FAIL with the reason printed. */
static int
cli_connect_setup(struct cli_run *r)
{
	struct config *cfg;
	char err[1400], path[1100];
	int given;

	cfg = config_read(cli_opt(r, "-c"), cli_opt(r, "-l"), cli_opt(r, "-d"),
	    err, sizeof(err));
	if (cfg == NULL) {
		fprintf(stderr, "hookd: %s\n", err);
		return CLI_FAIL;
	}
	snprintf(r->addr, sizeof(r->addr), "%s", cfg->listen);
	given = token_admin_given(cfg, 0, r->token, sizeof(r->token), err,
	    sizeof(err));
	if (given == 0 && token_admin_path(cfg, path, sizeof(path), err,
	    sizeof(err)) == 0) {
		if (token_read(path, 1, 0, r->token, sizeof(r->token), err,
		    sizeof(err)) == 0)
			given = 1;
		else if (errno == ENOENT)
			snprintf(err, sizeof(err), "HOOKD_ADMIN_TOKEN is not "
			    "set%s and %s does not exist (give the running "
			    "hookd's -d DATADIR or -c CONFIG, or set "
			    "HOOKD_ADMIN_TOKEN)", cfg->admin_token_file[0] ?
			    "" : ", no admin_token_file is configured", path);
	}
	config_free(cfg);
	free(cfg);
	if (given != 1) {
		fprintf(stderr, "hookd: no admin token: %s\n", err);
		return CLI_FAIL;
	}
	return 0;
}

/*
 * One request. 0 when hookd answered 2xx (ans filled, the caller frees
 * ans->body), else CLI_FAIL with the error printed: the API's message and
 * status, or why hookd could not be reached.
 */
static int
cli_call(struct cli_run *r, const char *method, const char *target,
    const char *extra, const struct buf *body, struct cli_http_answer *ans)
{
	char err[1200], msg[1024];
	struct cli_doc d;
	struct buf h = { 0 };
	int rc;

	buf_puts(&h, r->shard);
	if (extra != NULL)
		buf_puts(&h, extra);
	if (h.oom) {
		fprintf(stderr, "hookd: out of memory\n");
		return CLI_FAIL;
	}
	rc = cli_http_call(r->addr, r->token, method, target, h.len > 0 ?
	    h.data : NULL, body != NULL ? body->data : NULL, body != NULL ?
	    body->len : 0, ans, err, sizeof(err));
	buf_free(&h);
	if (rc != 0) {
		fprintf(stderr, "hookd: %s\n", err);
		return CLI_FAIL;
	}
	if (ans->status >= 200 && ans->status < 300)
		return 0;
	msg[0] = '\0';
	if (cli_doc_parse(&d, ans->body.data != NULL ? ans->body.data : "",
	    ans->body.len) == 0 && d.t[0].type == JSON_OBJECT)
		cli_text(&d, json_get(d.s, d.t, 0, "error"), msg, sizeof(msg));
	cli_doc_free(&d);
	fprintf(stderr, "hookd: %s %s: %d %s: %s\n", method, target,
	    ans->status, http_reason(ans->status), msg[0] != '\0' ? msg :
	    "(no error message)");
	buf_free(&ans->body);
	return CLI_FAIL;
}

/* A percent-encoded path segment or query value appended to b. */
static void
cli_enc(struct buf *b, const char *s)
{
	if (url_encode(b, s, strlen(s)) != 0)
		b->oom = 1;
}

/* Call, then print an object answer: its JSON as is with --json, else the
 * members named. */
static int
cli_call_print(struct cli_run *r, const char *method, const struct buf *t,
    const char *extra, const struct buf *body, const char *const *members,
    const char *done)
{
	struct cli_http_answer a;
	struct cli_doc d;
	int st;

	if (t->oom || (body != NULL && body->oom)) {
		fprintf(stderr, "hookd: out of memory\n");
		return CLI_FAIL;
	}
	if ((st = cli_call(r, method, t->data, extra, body, &a)) != 0)
		return st;
	if (r->json && a.body.len > 0) {
		cli_put_json(a.body.data, a.body.len);
		putchar('\n');
	}
	else if (!r->json && done != NULL)
		printf("%s\n", done);
	if (!r->json && members != NULL && a.body.len > 0) {
		if (cli_doc_parse(&d, a.body.data, a.body.len) == 0)
			cli_print_fields(&d, members);
		cli_doc_free(&d);
	}
	buf_free(&a.body);
	return CLI_OK;
}

/*
 * A list: every page, following "next" to the end, or the first --limit
 * items. With --json one JSON array of the items as the API wrote them;
 * else a table of cols.
 */
/* The --limit of r into *limit (UINT64_MAX when not given): 0, or -1 when
 * it is no number from 1 to 2^32-1. */
static int
cli_limit_of(const struct cli_run *r, uint64_t *limit)
{
	const char *lim = cli_opt(r, "--limit");

	*limit = UINT64_MAX;
	return lim != NULL && (util_parse_u64(lim, strlen(lim), UINT32_MAX,
	    limit) != 0 || *limit == 0) ? -1 : 0;
}

static int
cli_list(struct cli_run *r, const char *base, const struct cli_col *cols,
    size_t ncol)
{
	struct cli_table tb = { ncol, 0, { 0 } };
	struct buf t = { 0 };
	struct cli_http_answer a;
	struct cli_doc d;
	char next[UTIL_ID_MAX * 3 + 1] = "", prev[sizeof(next)];
	uint64_t limit, shown = 0;
	size_t c;
	int st = CLI_OK, data, i, m, nx;

	/* Checked by cli_api_parse already. */
	(void)cli_limit_of(r, &limit);
	for (c = 0; c < ncol; c++)
		cli_table_cell(&tb, cols[c].head);
	if (r->json)
		printf("[");
	do {
		buf_reset(&t);
		buf_printf(&t, "%s%climit=%llu", base, strchr(base, '?') ?
		    '&' : '?', (unsigned long long)(limit - shown < 1000 ?
		    limit - shown : 1000));
		if (next[0] != '\0') {
			buf_puts(&t, "&after=");
			cli_enc(&t, next);
		}
		if (t.oom || (st = cli_call(r, "GET", t.data, NULL, NULL,
		    &a)) != 0)
			break;
		if (cli_doc_parse(&d, a.body.data, a.body.len) != 0 ||
		    (data = json_get(d.s, d.t, 0, "data")) < 0 ||
		    d.t[data].type != JSON_ARRAY) {
			fprintf(stderr, "hookd: GET %s: not a list answer\n",
			    t.data);
			cli_doc_free(&d);
			buf_free(&a.body);
			st = CLI_FAIL;
			break;
		}
		for (i = data + 1, m = 0; m < (int)d.t[data].size &&
		    shown < limit; m++, i = (int)d.t[i].next, shown++) {
			if (r->json) {
				if (shown > 0)
					putchar(',');
				cli_put_json(d.s + d.t[i].start, d.t[i].len);
			}
			else
				cli_row(&tb, &d, i, cols);
		}
		memcpy(prev, next, sizeof(prev));
		nx = json_get(d.s, d.t, 0, "next");
		next[0] = '\0';
		if (nx >= 0 && d.t[nx].type == JSON_STRING &&
		    json_str(d.s, &d.t[nx], next, sizeof(next)) < 0)
			next[0] = '\0';
		cli_doc_free(&d);
		buf_free(&a.body);
		/* A cursor that does not move would page for ever (a broken
		 * or hostile server): stop, and say so. */
		if (next[0] != '\0' && strcmp(next, prev) == 0 &&
		    shown < limit) {
			fprintf(stderr, "hookd: GET %s: the answer's next "
			    "cursor is the one asked with; stopped paging "
			    "(is it hookd?)\n", t.data);
			st = CLI_FAIL;
			break;
		}
	} while (next[0] != '\0' && shown < limit);
	buf_free(&t);
	if (r->json) {
		printf("]\n");
		buf_free(&tb.cells);
	} else if (st == CLI_OK)
		cli_table_print(&tb);
	else
		buf_free(&tb.cells);
	return st;
}

/* ------------------------------------------------------------------ */
/* The subcommands */

static int
cmd_client_add(struct cli_run *r)
{
	static const char *const show[] = { "id", "name", "token", "secret",
		"created_at", NULL };
	struct buf t = { 0 }, b = { 0 };
	int st;

	buf_puts(&t, "/v1/clients");
	buf_puts(&b, "{\"id\":");
	json_put_cstr(&b, r->pos[0]);
	buf_puts(&b, ",\"name\":");
	json_put_cstr(&b, r->npos > 1 ? r->pos[1] : NULL);
	buf_puts(&b, "}");
	st = cli_call_print(r, "POST", &t, NULL, &b, show, NULL);
	buf_free(&t);
	buf_free(&b);
	return st;
}

static int
cmd_client_ls(struct cli_run *r)
{
	static const struct cli_col cols[] = { { "ID", "id" },
		{ "NAME", "name" }, { "CREATED", "created_at" } };

	return cli_list(r, "/v1/clients", cols, 3);
}

/* A DELETE or POST of /v1/KIND/ID[/ACTION], printing what it did. */
static int
cli_on_id(struct cli_run *r, const char *method, const char *kind,
    const char *action, const struct buf *body, const char *const *show,
    const char *done)
{
	struct buf t = { 0 };
	char msg[300];
	int st;

	buf_printf(&t, "/v1/%s/", kind);
	cli_enc(&t, r->pos[0]);
	if (action != NULL)
		buf_printf(&t, "/%s", action);
	msg[0] = '\0';
	if (done != NULL)
		snprintf(msg, sizeof(msg), "%s %s", done, r->pos[0]);
	st = cli_call_print(r, method, &t, NULL, body, show, done != NULL ?
	    msg : NULL);
	buf_free(&t);
	return st;
}

static int
cmd_client_rm(struct cli_run *r)
{
	return cli_on_id(r, "DELETE", "clients", NULL, NULL, NULL,
	    "deleted client");
}

/* "Name: value" of --header into the headers object being written. */
static int
cli_put_header(struct buf *b, const char *h)
{
	const char *colon = strchr(h, ':'), *v;

	if (colon == NULL || colon == h) {
		fprintf(stderr, "hookd: --header wants \"Name: value\", not "
		    "\"%s\"\n", h);
		return -1;
	}
	for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
		;
	if (b->len > 0 && b->data[b->len - 1] != '{')
		buf_puts(b, ",");
	json_put_str(b, h, (size_t)(colon - h));
	buf_puts(b, ":");
	json_put_cstr(b, v);
	return 0;
}

static int
cmd_endpoint_add(struct cli_run *r)
{
	static const char *const show[] = { "id", "client", "url", "method",
		"events", "secret", NULL };
	struct buf t = { 0 }, b = { 0 };
	const char *ev = cli_opt(r, "--events"), *p, *comma;
	size_t i;
	int st = CLI_USAGE, nh = 0;

	buf_puts(&t, "/v1/endpoints");
	buf_puts(&b, "{\"client\":");
	json_put_cstr(&b, r->pos[0]);
	buf_puts(&b, ",\"url\":");
	json_put_cstr(&b, r->pos[1]);
	if (cli_opt(r, "--method") != NULL) {
		buf_puts(&b, ",\"method\":");
		json_put_cstr(&b, cli_opt(r, "--method"));
	}
	if (ev != NULL) {
		/* --events a,b: the API's array, one type a word. */
		buf_puts(&b, ",\"events\":[");
		for (p = ev; ; p = comma + 1) {
			comma = strchr(p, ',');
			if (p != ev)
				buf_puts(&b, ",");
			json_put_str(&b, p, comma != NULL ? (size_t)(comma - p)
			    : strlen(p));
			if (comma == NULL)
				break;
		}
		buf_puts(&b, "]");
	}
	if (cli_opt(r, "--description") != NULL) {
		buf_puts(&b, ",\"description\":");
		json_put_cstr(&b, cli_opt(r, "--description"));
	}
	if (cli_opt(r, "--secret") != NULL) {
		buf_puts(&b, ",\"secret\":");
		json_put_cstr(&b, cli_opt(r, "--secret"));
	}
	for (i = 0; i < r->nopt; i++) {
		if (strcmp(r->opt[i].name, "--header") != 0)
			continue;
		if (nh++ == 0)
			buf_puts(&b, ",\"headers\":{");
		if (cli_put_header(&b, r->opt[i].value) != 0)
			goto out;
	}
	if (nh > 0)
		buf_puts(&b, "}");
	buf_puts(&b, "}");
	st = cli_call_print(r, "POST", &t, NULL, &b, show, NULL);
out:
	buf_free(&t);
	buf_free(&b);
	return st;
}

static int
cmd_endpoint_ls(struct cli_run *r)
{
	static const struct cli_col cols[] = { { "ID", "id" },
		{ "CLIENT", "client" }, { "METHOD", "method" },
		{ "EVENTS", "events" }, { "ENABLED", "enabled" },
		{ "URL", "url" } };
	struct buf t = { 0 };
	int st;

	buf_puts(&t, "/v1/endpoints");
	if (r->npos > 0) {
		buf_puts(&t, "?client=");
		cli_enc(&t, r->pos[0]);
	}
	st = t.oom ? CLI_FAIL : cli_list(r, t.data, cols, 6);
	buf_free(&t);
	return st;
}

static int
cmd_endpoint_rm(struct cli_run *r)
{
	return cli_on_id(r, "DELETE", "endpoints", NULL, NULL, NULL,
	    "deleted endpoint");
}

static int
cmd_endpoint_rotate(struct cli_run *r)
{
	static const char *const show[] = { "secret", NULL };
	struct buf b = { 0 };
	int st;

	buf_puts(&b, "{}");
	st = cli_on_id(r, "POST", "endpoints", "rotate-secret", &b, show,
	    NULL);
	buf_free(&b);
	return st;
}

static int
cmd_send(struct cli_run *r)
{
	static const char *const show[] = { "id", "deliveries", NULL };
	struct buf t = { 0 }, b = { 0 }, h = { 0 };
	const char *cb = cli_opt(r, "--callback");
	const char *key = cli_opt(r, "--idempotency-key");
	int st = CLI_USAGE;

	buf_puts(&t, "/v1/events");
	if (cb != NULL) {
		buf_puts(&t, "?callbackURL=");
		cli_enc(&t, cb);
	}
	if (key != NULL) {
		/* The one header rule: a CR or LF would inject a header. */
		if (key[0] == '\0' || !http_value_ok(key, strlen(key))) {
			fprintf(stderr, "hookd: --idempotency-key wants 1-255 "
			    "visible characters\n");
			goto out;
		}
		buf_printf(&h, "Idempotency-Key: %s\r\n", key);
	}
	buf_puts(&b, "{\"client\":");
	json_put_cstr(&b, r->pos[0]);
	buf_puts(&b, ",\"type\":");
	json_put_cstr(&b, r->pos[1]);
	buf_puts(&b, ",\"data\":");
	if (json_put_json(&b, r->pos[2], strlen(r->pos[2]), JSON_MAX_DEPTH -
	    1) != 0) {
		fprintf(stderr, "hookd: the event's data is not JSON: give "
		    "an object, e.g. '{\"refId\": \"42\"}'\n");
		goto out;
	}
	buf_puts(&b, "}");
	st = cli_call_print(r, "POST", &t, h.data, &b, show, NULL);
out:
	buf_free(&t);
	buf_free(&b);
	buf_free(&h);
	return st;
}

static int
cmd_deliveries(struct cli_run *r)
{
	static const struct cli_col cols[] = { { "ID", "id" },
		{ "STATUS", "status" }, { "ATTEMPTS", "attempts" },
		{ "LAST", "last.status|last.error" }, { "EVENT", "event" },
		{ "ENDPOINT", "endpoint" }, { "UPDATED", "updated_at" } };
	static const char *const filters[] = { "status", "client", "endpoint",
		"event", NULL };
	struct buf t = { 0 };
	const char *v;
	size_t i;
	int st;

	buf_puts(&t, "/v1/deliveries");
	for (i = 0; filters[i] != NULL; i++) {
		char name[32];

		snprintf(name, sizeof(name), "--%s", filters[i]);
		if ((v = cli_opt(r, name)) == NULL)
			continue;
		buf_printf(&t, "%c%s=", strchr(t.data, '?') ? '&' : '?',
		    filters[i]);
		cli_enc(&t, v);
	}
	st = t.oom ? CLI_FAIL : cli_list(r, t.data, cols, 7);
	buf_free(&t);
	return st;
}

static int
cmd_retry(struct cli_run *r)
{
	static const char *const show[] = { "id", "status", NULL };
	struct buf b = { 0 };
	int st;

	buf_puts(&b, "{}");
	st = cli_on_id(r, "POST", "deliveries", "retry", &b, show, NULL);
	buf_free(&b);
	return st;
}

/* replay's --since, checked with hookd's own time parser before the token
 * is looked for: a typo is a usage error (2) said before anything is
 * sent. 0 or CLI_USAGE with the message in err (errsz bytes). */
static int
cli_replay_since(const struct cli_run *r, char *err, size_t errsz)
{
	const char *since = cli_opt(r, "--since");
	int64_t ms;

	if (since != NULL && util_parse_time(since, strlen(since), &ms) == 0)
		return 0;
	snprintf(err, errsz, "hookd: replay needs --since TIME, an RFC 3339 "
	    "time such as 2026-11-28T00:00:00Z%s%s%s", since != NULL ?
	    ", not \"" : "", since != NULL ? since : "", since != NULL ?
	    "\"" : "");
	return CLI_USAGE;
}

static int
cmd_replay(struct cli_run *r)
{
	static const char *const show[] = { "requeued", NULL };
	const char *since = cli_opt(r, "--since");
	struct buf b = { 0 };
	int st;

	buf_puts(&b, "{\"since\":");
	json_put_cstr(&b, since);
	buf_puts(&b, "}");
	st = cli_on_id(r, "POST", "endpoints", "replay", &b, show, NULL);
	buf_free(&b);
	return st;
}

/* One line of `hookd tail` for the entry at token i. */
static void
cli_tail_line(const struct cli_doc *d, int i)
{
	static const char *const m[] = { "at", "delivery", "endpoint", "type",
		"attempt", "status|error", "ms", "result" };
	char cell[8][CLI_CELL_MAX + 1];
	size_t k;

	for (k = 0; k < 8; k++) {
		const char *bar = strchr(m[k], '|');
		int t;

		if (bar == NULL)
			t = cli_member(d, i, m[k]);
		else {
			t = cli_member(d, i, "status");
			if (t < 0 || d->t[t].type == JSON_NULL)
				t = cli_member(d, i, "error");
		}
		cli_text(d, t, cell[k], sizeof(cell[k]));
	}
	printf("%s  %s  %-20s  %-20s  #%-3s %-24s %6sms  %s\n", cell[0],
	    cell[1], cell[2], cell[3], cell[4], cell[5], cell[6], cell[7]);
}

/*
 * `hookd tail`: poll GET /v1/attempts every second from the newest
 * attempt on. A cursor, not a held connection: hookd keeps nothing per
 * reader, and a restart (started_at changes) starts the cursor again at 0.
 * While hookd cannot be reached it says so once and keeps asking.
 */
static int
cmd_tail(struct cli_run *r)
{
	struct buf t = { 0 };
	struct cli_http_answer a;
	struct cli_doc d;
	char started[64] = "", now_started[64], err[1200];
	const char *cl = cli_opt(r, "--client");
	uint64_t after = 0, v;
	int first = 1, down = 0, data, i, m, k;

	/* Ctrl-C (or SIGTERM) ends the tail at once, with 0, even in the
	 * middle of a request to a hookd that does not answer. */
	if (cli_http_catch_stop() != 0) {
		fprintf(stderr, "hookd: cannot catch SIGINT: %s\n",
		    strerror(errno));
		return CLI_FAIL;
	}
	while (!cli_http_stopped()) {
		buf_reset(&t);
		buf_printf(&t, "/v1/attempts?limit=1000&after=%llu",
		    (unsigned long long)after);
		if (cl != NULL) {
			buf_puts(&t, "&client=");
			cli_enc(&t, cl);
		}
		if (t.oom)
			break;
		if (cli_http_call(r->addr, r->token, "GET", t.data,
		    r->shard[0] != '\0' ? r->shard : NULL, NULL, 0, &a, err,
		    sizeof(err)) != 0) {
			if (cli_http_stopped())
				break;
			if (first) {
				fprintf(stderr, "hookd: %s\n", err);
				buf_free(&t);
				return CLI_FAIL;
			}
			if (!down)
				fprintf(stderr, "hookd: %s (asking again every "
				    "second)\n", err);
			down = 1;
			goto wait;
		}
		down = 0;
		if (a.status != 200) {
			buf_free(&a.body);
			/* Once more through cli_call for the message. */
			if (cli_call(r, "GET", t.data, NULL, NULL, &a) == 0)
				buf_free(&a.body);
			buf_free(&t);
			return CLI_FAIL;
		}
		if (cli_doc_parse(&d, a.body.data, a.body.len) != 0 ||
		    (data = json_get(d.s, d.t, 0, "data")) < 0) {
			fprintf(stderr, "hookd: GET /v1/attempts: not an "
			    "attempts answer (is hookd older than the tail?)\n");
			cli_doc_free(&d);
			buf_free(&a.body);
			buf_free(&t);
			return CLI_FAIL;
		}
		cli_text(&d, json_get(d.s, d.t, 0, "started_at"), now_started,
		    sizeof(now_started));
		if (started[0] != '\0' && strcmp(started, now_started) != 0) {
			/* Restarted: its sequence began at 1 again. */
			snprintf(started, sizeof(started), "%s", now_started);
			after = 0;
			cli_doc_free(&d);
			buf_free(&a.body);
			continue;
		}
		snprintf(started, sizeof(started), "%s", now_started);
		k = json_get(d.s, d.t, 0, "missed");
		if (!first && k >= 0 && d.t[k].type == JSON_NUMBER &&
		    util_parse_u64(d.s + d.t[k].start, d.t[k].len, UINT64_MAX,
		    &v) == 0 && v > 0)
			fprintf(stderr, "hookd: %llu attempts went by unseen "
			    "(the ring holds the newest 4096)\n",
			    (unsigned long long)v);
		/* The first answer sets the cursor: attempts from now on. */
		for (i = data + 1, m = 0; !first && m < (int)d.t[data].size;
		    m++, i = (int)d.t[i].next) {
			if (r->json) {
				cli_put_json(d.s + d.t[i].start, d.t[i].len);
				putchar('\n');
			} else
				cli_tail_line(&d, i);
		}
		k = json_get(d.s, d.t, 0, "next");
		if (k >= 0 && util_parse_u64(d.s + d.t[k].start, d.t[k].len,
		    UINT64_MAX, &v) == 0)
			after = v;
		m = (int)d.t[data].size;
		cli_doc_free(&d);
		buf_free(&a.body);
		fflush(stdout);
		/* A full page: ask again at once, the rest is waiting (on
		 * the first call: the past, skipped to the newest). */
		if (m >= 1000)
			continue;
		if (first) {
			first = 0;
			/* Said once the cursor is set: from here on nothing
			 * is missed (a script may wait for this line). */
			fprintf(stderr, "hookd: tailing the attempts of %s "
			    "from now on (Ctrl-C stops)\n", r->addr);
		}
wait:
		cli_http_pause(CLI_TAIL_POLL_MS);
	}
	buf_free(&t);
	fflush(stdout);
	return CLI_OK;
}

/* ------------------------------------------------------------------ */
/* The table of subcommands, usage, dispatch */

static const char *const o_none[] = { NULL };
/* --client C: the client an EP_ID or DLV_ID belongs to, sent as
 * Hookd-Client for a sharding proxy (the command names no client). */
static const char *const o_route[] = { "--client", NULL };
static const char *const o_list[] = { "--limit", NULL };
static const char *const o_ep_add[] = { "--events", "--method", "--header",
	"--description", "--secret", NULL };
static const char *const o_send[] = { "--callback", "--idempotency-key",
	NULL };
static const char *const o_dlv[] = { "--status", "--client", "--endpoint",
	"--event", "--limit", NULL };
static const char *const o_replay[] = { "--since", "--client", NULL };
static const char *const o_tail[] = { "--client", NULL };

static const struct cli_cmd cli_cmds[] = {
	{ "client add", "ID [NAME]", "create a client; prints its token "
	    "and secret", o_none, 1, 2, cmd_client_add },
	{ "client ls", "[--limit N]", "list the clients", o_list, 0, 0,
	    cmd_client_ls },
	{ "client rm", "ID", "delete a client, its endpoints with it",
	    o_none, 1, 1, cmd_client_rm },
	{ "endpoint add", "CLIENT URL [--events a,b] [--method GET] "
	    "[--header 'Name: value']... [--description TEXT] "
	    "[--secret whsec_...]", "register a callback URL", o_ep_add, 2, 2,
	    cmd_endpoint_add },
	{ "endpoint ls", "[CLIENT] [--limit N]", "list endpoints (of one "
	    "client)", o_list, 0, 1, cmd_endpoint_ls },
	{ "endpoint rm", "EP_ID [--client C]", "delete an endpoint", o_route,
	    1, 1, cmd_endpoint_rm },
	{ "endpoint rotate", "EP_ID [--client C]", "new signing secret (the "
	    "old one signs too for 24 h)", o_route, 1, 1,
	    cmd_endpoint_rotate },
	{ "send", "CLIENT TYPE JSON [--callback URL] [--idempotency-key K]",
	    "post an event", o_send, 3, 3, cmd_send },
	{ "deliveries", "[--status pending|delivered|failed] [--client C] "
	    "[--endpoint EP_ID] [--event EVT_ID] [--limit N]",
	    "list deliveries", o_dlv, 0, 0, cmd_deliveries },
	{ "retry", "DLV_ID [--client C]", "attempt a delivery again now",
	    o_route, 1, 1, cmd_retry },
	{ "replay", "EP_ID --since TIME [--client C]", "attempt again every failed "
	    "delivery of an endpoint since TIME (RFC 3339, e.g. "
	    "2026-11-28T00:00:00Z or 2026-11-28T01:00:00+01:00)", o_replay, 1,
	    1, cmd_replay },
	{ "tail", "[--client C]", "print attempts as they end, until "
	    "interrupted", o_tail, 0, 0, cmd_tail },
};
#define CLI_NCMDS (sizeof(cli_cmds) / sizeof(cli_cmds[0]))

static const char cli_common[] = "[-l ADDR:PORT] [-c CONFIG] [-d DATADIR] "
    "[--json]";

void
cli_api_usage(FILE *f)
{
	size_t i;

	for (i = 0; i < CLI_NCMDS; i++)
		fprintf(f, "       hookd %s %s\n", cli_cmds[i].name,
		    cli_cmds[i].args);
	fprintf(f, "  (each also takes %s; hookd CMD --help)\n", cli_common);
}

static void
cli_cmd_usage(FILE *f, const struct cli_cmd *c)
{
	fprintf(f, "usage: hookd %s %s\n       %s\n  %s\n", c->name, c->args,
	    cli_common, c->what);
	fprintf(f, "  -l ADDR:PORT  the running hookd (default: the config's "
	    "listen, else 127.0.0.1:8080)\n"
	    "  -c CONFIG     its config file (listen, data_dir, "
	    "admin_token_file)\n"
	    "  -d DATADIR    its data directory (admin.token)\n"
	    "  --json        print the API's JSON (a list: one array of "
	    "its items)\n"
	    "  the admin token: HOOKD_ADMIN_TOKEN, else admin_token_file, "
	    "else DATADIR/admin.token\n"
	    "  the client named (CLIENT, ID or --client C) is sent as "
	    "Hookd-Client: a sharding proxy routes on it\n");
}

/* The usage of every command whose name starts with word. */
static int
cli_usage_of(FILE *f, const char *word, int st)
{
	size_t i, n = strlen(word);

	for (i = 0; i < CLI_NCMDS; i++)
		if (strncmp(cli_cmds[i].name, word, n) == 0 &&
		    (cli_cmds[i].name[n] == ' ' || cli_cmds[i].name[n] == '\0'))
			fprintf(f, "usage: hookd %s %s\n", cli_cmds[i].name,
			    cli_cmds[i].args);
	fprintf(f, "  (each also takes %s; hookd CMD --help)\n", cli_common);
	return st;
}

int
cli_api_is(const char *word)
{
	size_t i, n = strlen(word);

	for (i = 0; i < CLI_NCMDS; i++)
		if (strncmp(cli_cmds[i].name, word, n) == 0 &&
		    (cli_cmds[i].name[n] == ' ' || cli_cmds[i].name[n] == '\0'))
			return 1;
	return 0;
}

/* main's dispatch: here, beside cli_api_is, which names the API's
 * commands. */
enum cli_command
cli_command_of(int argc, char **argv)
{
	if (argc < 2)
		return CLI_DAEMON;
	if (strcmp(argv[1], "sign") == 0 || strcmp(argv[1], "verify") == 0)
		return CLI_SIGN;
	if (strcmp(argv[1], "check") == 0)
		return CLI_CHECK;
	if (cli_api_is(argv[1]))
		return CLI_API;
	if (strcmp(argv[1], "export") == 0)
		return CLI_EXPORT;
	if (strcmp(argv[1], "import") == 0)
		return CLI_IMPORT;
	if (strcmp(argv[1], "listen") == 0)
		return CLI_LISTEN;
	return CLI_DAEMON;
}

/* 1 when name is an option of c taking a value, or -l -c -d. */
static int
cli_takes_value(const struct cli_cmd *c, const char *name)
{
	size_t i;

	if (strcmp(name, "-l") == 0 || strcmp(name, "-c") == 0 ||
	    strcmp(name, "-d") == 0)
		return 1;
	for (i = 0; c->opts[i] != NULL; i++)
		if (strcmp(c->opts[i], name) == 0)
			return 1;
	return 0;
}

/*
 * The client a command is about, for the Hookd-Client header (contract
 * §17): the CLIENT or ID it names (client add/rm, endpoint add/ls, send),
 * else its --client (deliveries, tail, and the commands that name only an
 * EP_ID or DLV_ID). A --client that is not a client id is a usage error
 * (CLI_USAGE, said); a named one that is not is sent without the header,
 * and the API answers what is wrong with it. 0 or CLI_USAGE with the
 * message in err (errsz bytes).
 */
static int
cli_shard_setup(struct cli_run *r, char *err, size_t errsz)
{
	const char *id = cli_opt(r, "--client");
	int (*run)(struct cli_run *) = r->cmd->run;

	if (id != NULL && !util_client_id_ok(id, strlen(id))) {
		snprintf(err, errsz, "hookd: --client wants a client id (1-%d "
		    "of A-Z a-z 0-9 . _ -), not \"%s\"", UTIL_ID_MAX, id);
		return CLI_USAGE;
	}
	if (r->npos > 0 && (run == cmd_client_add || run == cmd_client_rm ||
	    run == cmd_endpoint_add || run == cmd_endpoint_ls ||
	    run == cmd_send))
		id = util_client_id_ok(r->pos[0], strlen(r->pos[0])) ?
		    r->pos[0] : NULL;
	if (id != NULL)
		snprintf(r->shard, sizeof(r->shard), "Hookd-Client: %s\r\n",
		    id);
	return 0;
}

/* What cli_api_parse asks its caller to print besides err: nothing, the
 * usage of the command's group ("client ...") or of the command. */
enum cli_usage_kind { CLI_SHOW_NONE, CLI_SHOW_GROUP, CLI_SHOW_CMD };

/*
 * The words of a subcommand (argv[0] is its first word) into r, checked as
 * far as can be without the network: the command, its options and
 * arguments, -l, replay's --since, HOOKD_CLI_TIMEOUT and --client. Nothing
 * is printed or run. Returns CLI_OK with *help set (1: --help, print *show
 * on stdout) or not (0: run it); or CLI_USAGE with the message line in err
 * (errsz bytes, no newline) and *show to print after it on stderr.
 */
static int
cli_api_parse(int argc, char **argv, struct cli_run *r, int *help,
    enum cli_usage_kind *show, char *err, size_t errsz)
{
	char name[64], optname[64], terr[300];
	const char *eq;
	uint64_t limit;
	size_t i, k;
	int a = 1, only_pos = 0;

	memset(r, 0, sizeof(*r));
	*help = 0;
	*show = CLI_SHOW_NONE;
	err[0] = '\0';
	/* The command: one word, or two ("client add"). */
	snprintf(name, sizeof(name), "%s", argv[0]);
	for (i = 0; i < CLI_NCMDS; i++)
		if (strcmp(cli_cmds[i].name, name) == 0)
			break;
	if (i == CLI_NCMDS) {
		*show = CLI_SHOW_GROUP;
		if (argc < 2 || argv[1][0] == '-') {
			if (argc >= 2 && cli_is_help(argv[1])) {
				*help = 1;
				return CLI_OK;
			}
			snprintf(err, errsz, "hookd: %s needs a command",
			    argv[0]);
			return CLI_USAGE;
		}
		snprintf(name, sizeof(name), "%s %s", argv[0], argv[1]);
		for (i = 0; i < CLI_NCMDS; i++)
			if (strcmp(cli_cmds[i].name, name) == 0)
				break;
		if (i == CLI_NCMDS) {
			snprintf(err, errsz, "hookd: unknown command \"%s\"",
			    name);
			return CLI_USAGE;
		}
		a = 2;
	}
	r->cmd = &cli_cmds[i];
	*show = CLI_SHOW_CMD;
	for (; a < argc; a++) {
		const char *w = argv[a];

		if (!only_pos && strcmp(w, "--") == 0) {
			only_pos = 1;
			continue;
		}
		if (only_pos || w[0] != '-' || w[1] == '\0') {
			if (r->npos == r->cmd->maxpos) {
				snprintf(err, errsz, "hookd: %s: unexpected "
				    "argument \"%s\"", r->cmd->name, w);
				return CLI_USAGE;
			}
			r->pos[r->npos++] = w;
			continue;
		}
		if (cli_is_help(w)) {
			*help = 1;
			return CLI_OK;
		}
		if (strcmp(w, "--json") == 0) {
			r->json = 1;
			continue;
		}
		/* --name=value or --name value. */
		eq = strncmp(w, "--", 2) == 0 ? strchr(w, '=') : NULL;
		k = eq != NULL ? (size_t)(eq - w) : strlen(w);
		snprintf(optname, sizeof(optname), "%.*s", (int)k, w);
		if (!cli_takes_value(r->cmd, optname)) {
			snprintf(err, errsz, "hookd: %s: unknown option "
			    "\"%s\"", r->cmd->name, optname);
			return CLI_USAGE;
		}
		/* "--events -c": the next word is an option, not the value
		 * forgotten here (one that starts with '-' goes as
		 * --name=VALUE). */
		if (eq == NULL && (a + 1 >= argc || argv[a + 1][0] == '-')) {
			snprintf(err, errsz, "hookd: %s needs a value%s",
			    optname, a + 1 < argc && strncmp(optname, "--",
			    2) == 0 ? " (one that starts with '-' is given as "
			    "--name=VALUE)" : "");
			return CLI_USAGE;
		}
		if (r->nopt == CLI_MAX_OPTS) {
			*show = CLI_SHOW_NONE;
			snprintf(err, errsz, "hookd: too many options");
			return CLI_USAGE;
		}
		/* The name: the table's own string (optname is local). */
		r->opt[r->nopt].name = strcmp(optname, "-l") == 0 ? "-l" :
		    strcmp(optname, "-c") == 0 ? "-c" : strcmp(optname, "-d") ==
		    0 ? "-d" : NULL;
		for (k = 0; r->opt[r->nopt].name == NULL; k++)
			if (strcmp(r->cmd->opts[k], optname) == 0)
				r->opt[r->nopt].name = r->cmd->opts[k];
		r->opt[r->nopt++].value = eq != NULL ? eq + 1 : argv[++a];
	}
	if (r->npos < r->cmd->minpos) {
		snprintf(err, errsz, "hookd: %s: missing arguments",
		    r->cmd->name);
		return CLI_USAGE;
	}
	/* Values the command can judge itself are judged before anything
	 * is read or connected to. */
	if (cli_limit_of(r, &limit) != 0) {
		snprintf(err, errsz, "hookd: --limit wants a number from 1");
		return CLI_USAGE;
	}
	if (cli_opt(r, "--status") != NULL &&
	    store_status_parse(cli_opt(r, "--status")) < 0) {
		snprintf(err, errsz, "hookd: --status wants pending, delivered "
		    "or failed");
		return CLI_USAGE;
	}
	*show = CLI_SHOW_NONE;
	if (cli_opt(r, "-l") != NULL) {
		struct config probe;

		config_defaults(&probe);
		if (config_set_listen(&probe, cli_opt(r, "-l")) != 0) {
			snprintf(err, errsz, "hookd: -l wants "
			    CONFIG_LISTEN_FORMS);
			return CLI_USAGE;
		}
	}
	if (r->cmd->run == cmd_replay &&
	    cli_replay_since(r, err, errsz) != 0)
		return CLI_USAGE;
	if (cli_http_timeout_check(terr, sizeof(terr)) != 0) {
		snprintf(err, errsz, "hookd: %s", terr);
		return CLI_USAGE;
	}
	return cli_shard_setup(r, err, errsz);
}

int
cli_api_args(int argc, char **argv, char *err, size_t errsz)
{
	struct cli_run r;
	enum cli_usage_kind show;
	int help;

	return cli_api_parse(argc, argv, &r, &help, &show, err, errsz);
}

int
cli_api_main(int argc, char **argv)
{
	struct cli_run r;
	enum cli_usage_kind show;
	/* Room for a word of the command line quoted whole in a message. */
	char err[8192];
	int help, st;

	st = cli_api_parse(argc, argv, &r, &help, &show, err, sizeof(err));
	if (st == CLI_OK && help) {
		if (show == CLI_SHOW_GROUP)
			return cli_usage_of(stdout, argv[0], CLI_OK);
		cli_cmd_usage(stdout, r.cmd);
		return CLI_OK;
	}
	if (st != CLI_OK) {
		fprintf(stderr, "%s\n", err);
		if (show == CLI_SHOW_GROUP)
			return cli_usage_of(stderr, argv[0], st);
		if (show == CLI_SHOW_CMD)
			cli_cmd_usage(stderr, r.cmd);
		return st;
	}
	if ((st = cli_connect_setup(&r)) != 0)
		return st;
	st = r.cmd->run(&r);
	memset(r.token, 0, sizeof(r.token));
	fflush(stdout);
	return st;
}
