/*
 * config_impl.h: what config.c and config_regs.c share, and only they
 * include: the limits of the file, the units of its values, and the
 * functions one calls in the other.
 */
#ifndef HOOKD_CONFIG_IMPL_H
#define HOOKD_CONFIG_IMPL_H

#include <stddef.h>

#include "config.h"

/*
 * Limits of the file itself. A config file is written by the operator, but a
 * bound keeps a corrupt or wrong file (a binary, /dev/zero) from making the
 * parser allocate without end.
 */
#define CONFIG_LINE_MAX 8192	/* bytes in one line */
#define CONFIG_MAX_WORDS 80	/* words in one line: a key, CIDRs, delays */
#define CONFIG_MAX_REGS 10000	/* static registrations in one file */
/* Longest quoted word an error message echoes (log_quote's form, with its
 * quotes): a key or option name is short, and a line of megabytes must
 * not be echoed into a log whole. */
#define CONFIG_QUOTE_MAX 72
/* Longest word compared with the known keys for "did you mean": no key is
 * longer, and the bound keeps the distance table on the stack, so a long
 * word cannot cost time or memory. */
#define CONFIG_KEY_MAX 64

#define KIB ((uint64_t)1024)
#define MIB (1024 * KIB)
#define SEC ((int64_t)1000)
#define MINUTE (60 * SEC)
#define HOUR (60 * MINUTE)
#define DAY (24 * HOUR)

/* ---- config.c ---- */

/*
 * Words of the file (len bytes of s) as an error message shows them,
 * through log_quote: in_quotes: always in double quotes, else bare when
 * printable; cut at CONFIG_QUOTE_MAX bytes. Returns out (outsz bytes, at
 * least CONFIG_QUOTE_MAX + 3).
 */
const char *config_quote(char *out, size_t outsz, const char *s, size_t len,
    int in_quotes);

/* ---- config_regs.c: the client, endpoint and route lines ---- */

/* A `client` or `endpoint` line (v[0] says which, n words) at line, added
 * to c. 0, or -1 with *why set (it may point into whybuf). */
int config_registration(struct config *c, char **v, int n, int line,
    const char **why, char *whybuf, size_t whysz);
/* A `route PREFIX UPSTREAM [options]` line, added to c. 0, or -1 with *why
 * set (it may point into whybuf). */
int config_route(struct config *c, char **v, int n, int line,
    const char **why, char *whybuf, size_t whysz);
/* Free what a registration or a route holds. */
void config_reg_free(struct config_reg *r);
void config_route_free(struct config_route *r);
/* NULL when route r's upstream is allowed by c's allow_destinations as far
 * as can be told before a lookup, else why not (in whybuf). */
const char *config_route_denied(const struct config *c,
    const struct config_route *r, char *whybuf, size_t whysz);
/* ops_url and ops_secret (contract §15): 0 when both are set and valid or
 * neither is, else -1 with *why set (it may point into whybuf). Called once
 * the whole file is read (allow_destinations may follow ops_url). */
int config_ops_check(const struct config *c, const char **why, char *whybuf,
    size_t whysz);
/* A `ops_url` or `ops_secret` line's value into c. 0, or -1 with *why set
 * (never quoting the secret). */
int config_ops_set(struct config *c, const char *key, const char *value,
    const char **why, char *whybuf, size_t whysz);

#endif
