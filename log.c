/*
 * log: the logfmt line writer (lines gathered per loop pass, warnings and
 * errors written at once) and log_quote, the one logfmt value quoter.
 */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

/* Log lines gathered before one write (see log_line). */
#define LOG_BATCH 32768
/* One log line; longer ones are cut and marked, so that one hostile value
 * cannot make a line without bound. */
#define LOG_LINE_MAX 2048

static int verbose;	/* -v: debug lines too */
static struct buf log_pending;	/* lines not yet written */

void
log_set_verbose(int on)
{
	verbose = on;
}

int
log_verbose(void)
{
	return verbose;
}

void
log_line(const char *level, const char *msg, const char *fmt, ...)
{
	char line[LOG_LINE_MAX], ts[UTIL_TIME_MAX], m[512];
	size_t n, cap = sizeof(line) - 1, i;	/* one byte kept for '\n' */
	int k, saved = errno;
	va_list ap;

	if (!verbose && strcmp(level, "debug") == 0)
		return;
	k = snprintf(line, cap, "ts=%s level=%s msg=%s",
	    util_fmt_time(util_wall_ms(), ts), level, LOG_QUOTE(m, msg));
	n = k < 0 ? 0 : (size_t)k >= cap ? cap - 1 : (size_t)k;
	if (fmt != NULL && fmt[0] != '\0' && n + 1 < cap) {
		size_t start = n;

		line[n++] = ' ';
		va_start(ap, fmt);
		k = vsnprintf(line + n, cap - n, fmt, ap);
		va_end(ap);
		if (k < 0)
			n = start;
		else if ((size_t)k >= cap - n) {
			n = cap - 1;
			memcpy(line + n - 3, "...", 3);
		} else
			n += (size_t)k;
		/* Callers quote their values; this is the last line of
		 * defence for "one event, one line". */
		for (i = start; i < n; i++)
			if ((unsigned char)line[i] < ' ')
				line[i] = ' ';
	}
	line[n++] = '\n';
	/* Lines are gathered and written once per loop pass (a delivery
	 * each is a system call each at thousands a second); warnings and
	 * errors go out at once, after what was gathered before them. */
	if (buf_append(&log_pending, line, n) != 0 || log_pending.len >
	    LOG_BATCH || strcmp(level, "warn") == 0 ||
	    strcmp(level, "error") == 0)
		log_flush();
	if (log_pending.oom) {
		(void)util_write_all(2, line, n);
		buf_free(&log_pending);
	}
	errno = saved;
}

void
log_flush(void)
{
	if (log_pending.len > 0)
		(void)util_write_all(2, log_pending.data, log_pending.len);
	buf_reset(&log_pending);
}

char *
log_quote(char *out, size_t outsz, const char *s, size_t len)
{
	size_t i, o = 0, limit;
	int bare = len > 0 && len < outsz;

	for (i = 0; i < len && bare; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch <= ' ' || ch >= 0x7f || ch == '"' || ch == '=' ||
		    ch == '\\')
			bare = 0;
	}
	if (bare) {
		memcpy(out, s, len);
		out[len] = '\0';
		return out;
	}
	if (outsz < 8) {
		if (outsz > 0)
			out[0] = '\0';
		return out;
	}
	limit = outsz - 5;	/* room for `..."` and the NUL */
	out[o++] = '"';
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		char esc[4];
		size_t n = 1;

		esc[0] = (char)ch;
		if (ch == '"' || ch == '\\') {
			esc[0] = '\\';
			esc[1] = (char)ch;
			n = 2;
		} else if (ch < ' ' || ch >= 0x7f) {
			esc[0] = '\\';
			esc[1] = 'x';
			esc[2] = util_hex_char(ch >> 4);
			esc[3] = util_hex_char(ch);
			n = 4;
		}
		if (o + n > limit) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		memcpy(out + o, esc, n);
		o += n;
	}
	out[o++] = '"';
	out[o] = '\0';
	return out;
}
