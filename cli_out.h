/*
 * cli_out: reading hookd's JSON answers and printing them for a person or
 * a script (the command line's subcommands, contract §16). Everything that
 * reaches the terminal goes through json_term_text or json_term_json, so a
 * receiver's or a client's bytes never act on it.
 */
#ifndef HOOKD_CLI_OUT_H
#define HOOKD_CLI_OUT_H

#include <stddef.h>

#include "json.h"
#include "util.h"

/* A cell of a table is cut to this many bytes: a long URL or name keeps
 * its row on one line of a terminal. */
#define CLI_CELL_MAX 200

/* A parsed JSON answer. */
struct cli_doc {
	const char *s;
	struct json_tok *t;
	int n;
};

/* A table: cells row by row, printed with aligned columns. */
struct cli_table {
	size_t ncol, nrows;
	struct buf cells;	/* NUL-separated cells */
};

/* A column of a listing: its header and the member shown ("a|b": the
 * first that is not null). */
struct cli_col {
	const char *head;
	const char *member;
};

/* Parse the JSON answer of len bytes at s (not copied: it must outlive d)
 * into d. 0, or -1 when it is not JSON or memory ran out; free d with
 * cli_doc_free either way. */
int cli_doc_parse(struct cli_doc *d, const char *s, size_t len);
void cli_doc_free(struct cli_doc *d);

/* The token of the member at a dotted path ("last.status") under the
 * object token obj, or -1 when absent. */
int cli_member(const struct cli_doc *d, int obj, const char *path);

/* Text of the value at token i (-1: absent) for a person, written into out
 * (outsz bytes, cut to fit) and returned: a string decoded, an array of
 * strings joined with commas, null or absent as "-", anything else its
 * JSON; control characters, C1 controls, bidi overrides and bytes that are
 * not UTF-8 become '?' (json_term_text). */
const char *cli_text(const struct cli_doc *d, int i, char *out,
    size_t outsz);

/* Write the JSON of n bytes at s to stdout, with what a terminal acts on
 * escaped as \uXXXX (json_term_json): the same JSON document. */
void cli_put_json(const char *s, size_t n);

/* Add a cell (copied) to tb; rows are ncol cells, the first row the
 * headers. */
void cli_table_cell(struct cli_table *tb, const char *s);
/* Print tb with each column as wide as its widest cell (in characters,
 * not bytes) and free its cells. At most 16 columns. */
void cli_table_print(struct cli_table *tb);
/* Add the row of the object token item: for each of tb->ncol columns, the
 * cli_text of its member ("a|b": the first of the two that is not null). */
void cli_row(struct cli_table *tb, const struct cli_doc *d, int item,
    const struct cli_col *cols);

/* Print a "member  value" line for each of members (NULL-terminated)
 * present in the object answer d. */
void cli_print_fields(const struct cli_doc *d, const char *const *members);

#endif
