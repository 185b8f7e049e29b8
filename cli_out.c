/*
 * cli_out: how the command line (cli_api.c, contract §16) reads hookd's
 * JSON answers and shows them to a person: members by dotted path, text
 * with nothing a terminal acts on (json_term_text), aligned tables, and
 * `--json` output with such characters escaped (json_term_json).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_out.h"
#include "json.h"
#include "util.h"


int
cli_doc_parse(struct cli_doc *d, const char *s, size_t len)
{
	int n = json_parse(s, len, NULL, 0);

	d->s = s;
	d->t = NULL;
	d->n = 0;
	if (n <= 0 || (d->t = calloc((size_t)n, sizeof(*d->t))) == NULL)
		return -1;
	d->n = json_parse(s, len, d->t, (size_t)n);
	return d->n > 0 ? 0 : -1;
}

void
cli_doc_free(struct cli_doc *d)
{
	free(d->t);
	d->t = NULL;
}

/* The token of a dotted member path ("last.status") under obj, or -1. */
int
cli_member(const struct cli_doc *d, int obj, const char *path)
{
	char key[64];
	const char *dot;
	size_t n;

	while (obj >= 0 && path[0] != '\0') {
		dot = strchr(path, '.');
		n = dot != NULL ? (size_t)(dot - path) : strlen(path);
		if (n >= sizeof(key))
			return -1;
		memcpy(key, path, n);
		key[n] = '\0';
		obj = json_get(d->s, d->t, obj, key);
		path += n + (dot != NULL);
	}
	return obj;
}

/* Text for the value at token i, for a person: a string decoded, an array
 * of strings joined with commas, null as "-", anything else as its JSON.
 * What a terminal acts on (control characters, C1 controls, bidi
 * overrides) and bytes that are not UTF-8 become '?' (json_term_text), so
 * that nothing a receiver or a client wrote can move a terminal's cursor
 * or reorder a line. Written into out (outsz bytes). */
const char *
cli_text(const struct cli_doc *d, int i, char *out, size_t outsz)
{
	const struct json_tok *t;
	size_t n = 0;
	int j, m;

	out[0] = '\0';
	if (i < 0 || d->t[i].type == JSON_NULL) {
		snprintf(out, outsz, "-");
		return out;
	}
	t = &d->t[i];
	if (t->type == JSON_STRING) {
		if (json_str(d->s, t, out, outsz) < 0)
			snprintf(out, outsz, "%.*s...", (int)(outsz > 8 ?
			    outsz - 8 : 0), d->s + t->start);
	} else if (t->type == JSON_ARRAY) {
		for (j = i + 1, m = 0; m < (int)t->size; m++,
		    j = (int)d->t[j].next) {
			n = strlen(out);
			if (n + 2 >= outsz)
				break;
			if (m > 0)
				out[n++] = ',';
			out[n] = '\0';
			if (d->t[j].type != JSON_STRING ||
			    json_str(d->s, &d->t[j], out + n, outsz - n) < 0)
				snprintf(out + n, outsz - n, "%.*s",
				    (int)d->t[j].len, d->s + d->t[j].start);
		}
	} else {
		snprintf(out, outsz, "%.*s", (int)t->len, d->s + t->start);
	}
	out[json_term_text(out, strlen(out))] = '\0';
	return out;
}

/* JSON of an answer (n bytes at s) on stdout for --json: the same JSON,
 * with what a terminal acts on escaped (json_term_json). */
void
cli_put_json(const char *s, size_t n)
{
	struct buf b = { 0 };

	if (json_term_json(&b, s, n) == 0)
		fwrite(b.data, 1, b.len, stdout);
	buf_free(&b);
}

void
cli_table_cell(struct cli_table *tb, const char *s)
{
	buf_append(&tb->cells, s, strlen(s) + 1);
}

/* The characters of a cell (valid UTF-8 after cli_text): its bytes less
 * the continuation bytes, so that a column of "Zürich" lines up with one
 * of "Zurich". (A wide character, e.g. CJK, still counts one.) */
static size_t
cli_width(const char *p)
{
	size_t w = 0;

	for (; *p != '\0'; p++)
		w += ((unsigned char)*p & 0xc0) != 0x80;
	return w;
}

void
cli_table_print(struct cli_table *tb)
{
	size_t w[16] = { 0 }, c, i, n, cw, total = tb->ncol * (tb->nrows + 1);
	const char *p;

	for (p = tb->cells.data, i = 0; i < total; i++, p += n + 1) {
		n = strlen(p);
		if ((cw = cli_width(p)) > w[i % tb->ncol])
			w[i % tb->ncol] = cw;
	}
	for (p = tb->cells.data, i = 0; i < total; i++, p += n + 1) {
		n = strlen(p);
		c = i % tb->ncol;
		if (c + 1 < tb->ncol)
			printf("%s%*s  ", p, (int)(w[c] - cli_width(p)), "");
		else
			printf("%s\n", p);
	}
	buf_free(&tb->cells);
}

void
cli_row(struct cli_table *tb, const struct cli_doc *d, int item,
    const struct cli_col *cols)
{
	char cell[CLI_CELL_MAX + 1], path[64];
	const char *bar;
	size_t c;
	int i;

	for (c = 0; c < tb->ncol; c++) {
		snprintf(path, sizeof(path), "%s", cols[c].member);
		bar = strchr(path, '|');
		if (bar != NULL)
			path[bar - path] = '\0';
		i = cli_member(d, item, path);
		if (bar != NULL && (i < 0 || d->t[i].type == JSON_NULL))
			i = cli_member(d, item, cols[c].member + (bar - path) +
			    1);
		cli_table_cell(tb, cli_text(d, i, cell, sizeof(cell)));
	}
	tb->nrows++;
}

/* Print "member  value" lines of the object answer, for a person. */
void
cli_print_fields(const struct cli_doc *d, const char *const *members)
{
	char cell[4096];
	size_t i;

	for (i = 0; members[i] != NULL; i++) {
		int t = cli_member(d, 0, members[i]);

		if (t >= 0)
			printf("%-12s %s\n", members[i], cli_text(d, t, cell,
			    sizeof(cell)));
	}
}
