/*
 * log: logfmt lines on stderr ("ts=... level=... msg=... key=value ..."),
 * gathered and written once per loop pass, and the one value quoter of
 * hookd, so that no logged value can forge another key or another line.
 */
#ifndef HOOKD_LOG_H
#define HOOKD_LOG_H

#include <stddef.h>
#include <string.h>

/*
 * Log one logfmt line on stderr: "ts=... level=LEVEL msg=MSG" followed by the
 * formatted key=value pairs (the caller formats them, quoting values with
 * log_quote). LEVEL is "debug", "info", "warn" or "error"; debug lines are
 * dropped unless log_set_verbose(1). Lines are gathered and written by
 * log_flush; warn and error lines are written at once (with what was
 * gathered before them). Never pass secrets or tokens. errno is kept.
 */
void log_line(const char *level, const char *msg, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Write the gathered lines to stderr (once per loop pass, and at exit).
 * A failed write is dropped: there is nowhere left to report it. */
void log_flush(void);

/* Log debug lines too (on: -v), or not (off: 0, the default). */
void log_set_verbose(int on);
/* 1 when debug lines are logged: a caller may skip preparing one. */
int log_verbose(void);

/*
 * Write s (len bytes) into out (outsz bytes with the NUL) as a logfmt value:
 * bare when it holds only safe characters, else double-quoted with '"' and
 * '\' escaped and every control or non-ASCII byte as \xNN, so that no value
 * can forge another key or another log line. Cut with "..." when out is too
 * small (outsz under 8 gives ""). Returns out.
 */
char *log_quote(char *out, size_t outsz, const char *s, size_t len);

/* log_quote of a NUL-terminated string into the array buf. */
#define LOG_QUOTE(buf, s) log_quote((buf), sizeof(buf), (s), strlen(s))

#endif
