/*
 * util: the small pieces every module shares: a growable byte buffer, clocks,
 * RFC 3339 and HTTP dates, range-checked number and duration parsing, the
 * one hex-digit decoder, the client-id rule, the table of per-client states
 * by id, the one hash (FNV-1a), the growable hash table of intrusive
 * entries, non-blocking and close-on-exec descriptors
 * and a write that does not stop short.
 */
#ifndef HOOKD_UTIL_H
#define HOOKD_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* A growable byte buffer. Always NUL-terminated after len (when cap > 0), so
 * its contents can be used as a C string when they contain no NUL. */
struct buf {
	char *data;
	size_t len;
	size_t cap;
	int oom;	/* set once an allocation failed; later appends are ignored */
};

/* Ensure room for n more bytes. 0 ok, -1 out of memory (b->oom set). */
int buf_reserve(struct buf *b, size_t n);
/* Append n bytes. 0 ok, -1 out of memory. */
int buf_append(struct buf *b, const void *p, size_t n);
/* Append a NUL-terminated string. 0 ok, -1 out of memory (b->oom set). */
int buf_puts(struct buf *b, const char *s);
/* Append printf-formatted text. 0 ok, -1 out of memory (b->oom set) or a
 * format error (b left as it was). */
int buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Append v in decimal (a '-' first when negative), as printf's "%lld" and
 * "%llu" would, without printf's cost: these run for every record, every
 * answer and every delivery's request. 0 ok, -1 out of memory (b->oom
 * set). */
int buf_put_i64(struct buf *b, int64_t v);
int buf_put_u64(struct buf *b, uint64_t v);
/* Drop the first n bytes (n <= len). */
void buf_consume(struct buf *b, size_t n);
/* Empty the buffer, keeping its memory. */
void buf_reset(struct buf *b);
/* Release the memory; the buffer is empty and usable again. */
void buf_free(struct buf *b);

/* Milliseconds on CLOCK_MONOTONIC: for deadlines and durations. */
int64_t util_mono_ms(void);
/* Microseconds on CLOCK_MONOTONIC: for timing work shorter than a
 * millisecond (a loop pass). */
int64_t util_mono_us(void);
/* Microseconds of CPU time the calling thread has used
 * (CLOCK_THREAD_CPUTIME_ID, POSIX Thread CPU-Time Clocks): a loop pass's
 * own work, without the time it waited for a core. 0 where the clock is
 * missing. */
int64_t util_thread_cpu_us(void);
/* Milliseconds since the Unix epoch on CLOCK_REALTIME: for timestamps. */
int64_t util_wall_ms(void);

/* Close every descriptor from low up to the soft RLIMIT_NOFILE (at most
 * 1,048,576) except the nkeep in keep: a forked child that must not hold
 * what its parent owns (listening sockets, connections). Errors are
 * ignored (most of those numbers are not open). */
void util_close_from(int low, const int *keep, size_t nkeep);

/* Length of "-9223372036854775808" plus its NUL. */
#define UTIL_I64_MAX 21
/* Write v in decimal, as "%lld" would, NUL-terminated, into out. Returns
 * its length (without the NUL). */
size_t util_fmt_i64(int64_t v, char out[UTIL_I64_MAX]);

/* Length of "2026-11-28T16:00:00.123Z" plus its NUL. */
#define UTIL_TIME_MAX 25
/* Format epoch milliseconds as RFC 3339 UTC with milliseconds. Returns out. */
char *util_fmt_time(int64_t ms, char out[UTIL_TIME_MAX]);
/* Parse RFC 3339 ("...Z" or "+hh:mm", fraction optional) into epoch ms.
 * 0 ok, -1 not a valid time: also a day past its month's end (leap years
 * by the Gregorian rule) and second 60 (a leap second, which hookd's POSIX
 * clock never shows). */
int util_parse_time(const char *s, size_t len, int64_t *ms);
/* Parse an HTTP date into epoch ms, in any of the three forms a recipient
 * must accept (RFC 9110 §5.6.7): IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT",
 * RFC 850 "Sunday, 06-Nov-94 08:49:37 GMT" (its two-digit year is the one
 * nearest now_ms that is not more than 50 years ahead of it), asctime
 * "Sun Nov  6 08:49:37 1994". 0 ok, -1 invalid. */
int util_parse_http_date_at(const char *s, size_t len, int64_t now_ms,
    int64_t *ms);
/* The same, with the year of two-digit dates judged from the clock now. */
int util_parse_http_date(const char *s, size_t len, int64_t *ms);

/* Parse an unsigned decimal of exactly len bytes, no sign, no spaces, within
 * [0, max]. 0 ok, -1 invalid or out of range. */
int util_parse_u64(const char *s, size_t len, uint64_t max, uint64_t *out);
/* Parse a duration: a number with an optional unit ms, s, m, h, d (seconds
 * when none) into milliseconds, at most max_ms. 0 ok, -1 invalid. */
int util_parse_duration(const char *s, size_t len, int64_t max_ms, int64_t *ms);

/* Case-insensitive ASCII comparison of a span with a NUL-terminated string:
 * 1 when equal. */
int util_span_ieq(const char *s, size_t len, const char *lit);
/* Exact comparison of a span with a NUL-terminated string: 1 when equal. */
int util_span_eq(const char *s, size_t len, const char *lit);

/* Copy a span into a NUL-terminated heap string. NULL when out of memory. */
char *util_strndup(const char *s, size_t len);
/*
 * Room for need elements of size bytes in the array v (heap, the caller's;
 * *cap elements now, 0 with v NULL at first): v itself when it has it,
 * else v realloc'd to a capacity doubled from *cap (at least min) until it
 * holds need, with *cap set. NULL, with v and *cap untouched, when out of
 * memory or the bytes overflow a size_t. The one growth rule of hookd's
 * arrays (amortised O(1) appends).
 */
void *util_grow(void *v, size_t *cap, size_t need, size_t size, size_t min);

/* Longest word util_nearest compares: the distance costs len * len steps. */
#define UTIL_NEAREST_MAX 64

/* The index of the word of list (n NUL-terminated words) nearest to
 * word[0..len) by case-insensitive edit distance, when it is near enough to
 * be a slip of the keyboard (at most a third of the longer word, at least 1;
 * a different case alone always is); -1 when none is, or word is longer than
 * UTIL_NEAREST_MAX. For "did you mean ...?" in errors. */
int util_nearest(const char *word, size_t len, const char *const *list,
    size_t n);

/* The value (0-15) of the hex digit c, or -1 when c is none. lower_only
 * refuses 'A'-'F': hookd's own hex (ids, checksums, hashes) is lower case,
 * and a second spelling would be a second name for one record. The one hex
 * decoder of hookd: every parser of hex digits calls it. */
int util_hex_digit(int c, int lower_only);

/* The lowercase hex digit ('0'..'9', 'a'..'f') of the low 4 bits of v: the
 * one encoder for JSON \u escapes, log quoting, ids and checksums (url.c
 * writes RFC 3986's uppercase). */
char util_hex_char(unsigned v);

/* Client ids are chosen by the admin: 1..64 of [A-Za-z0-9._-]. */
#define UTIL_ID_MAX 64
/* Longest event type accepted: types are matched against endpoint filters,
 * and a bound keeps a hostile producer from bloating every delivery. */
#define UTIL_TYPE_MAX 128
/* Most entries in an endpoint's events filter. */
#define UTIL_MAX_FILTERS 64
/* 1 when s (n bytes) is a valid client id: 1..UTIL_ID_MAX of
 * [A-Za-z0-9._-], since ids appear in URLs, file records, config lines and
 * log lines. The one rule for client ids: the store, the API and the config
 * all call it. */
int util_client_id_ok(const char *s, size_t n);
/* 1 when s (n bytes) is a valid event type (or, with filter, an events
 * filter entry, where '*' may only end it): 1..UTIL_TYPE_MAX printable
 * ASCII bytes without spaces. The one rule for types: the API and the
 * config's routes call it. */
int util_type_ok(const char *s, size_t n, int filter);

/* The smaller of a and b (deadlines in milliseconds, mostly). */
int64_t util_min64(int64_t a, int64_t b);

/* "what: reason" into err (errsz bytes, NUL-terminated), the form of every
 * error about a file or an address; a long what is cut, which the message
 * survives. err is "" when the text cannot be formatted. */
void util_err_set(char *err, size_t errsz, const char *what,
    const char *reason);

/* Hash buckets of a table keyed by client id (struct util_clients): a
 * client's entry is found in a short chain with thousands of clients. */
#define UTIL_CLIENT_BUCKETS 256

/* An entry of a table keyed by client id: the first member of its owner's
 * per-client struct (the engine's struct tenant, the resolver's struct
 * dns_client), which a pointer to the entry converts back to. */
struct util_client {
	struct util_client *next;	/* hash chain */
	char id[UTIL_ID_MAX + 1];
};

/* Per-client states by client id, for state kept by id rather than in the
 * store's struct client (an event keeps its client's id once the client is
 * deleted). Zero-initialised, it is empty. Not thread-safe. */
struct util_clients {
	struct util_client *bucket[UTIL_CLIENT_BUCKETS];
};

/* The entry of client id in tab; when there is none and size > 0, a new
 * one of size bytes (at least sizeof(struct util_client), zeroed, its id
 * set), owned by tab until util_clients_sweep frees it. NULL when id is
 * NULL, when there is none and size is 0 or id is "", or out of memory. */
struct util_client *util_clients_get(struct util_clients *tab, const char *id,
    size_t size);

/* The entry after prev in tab (the first when prev is NULL), in no
 * particular order; NULL after the last. Entries added while walking may
 * or may not be visited; none may be freed. */
struct util_client *util_clients_next(const struct util_clients *tab,
    const struct util_client *prev);

/* Free the entries for which idle returns 1 (they hold nothing); every
 * entry when idle is NULL (at stop). */
void util_clients_sweep(struct util_clients *tab,
    int (*idle)(const struct util_client *c));

/* The seed of util_hash: FNV-1a's 32-bit offset basis. */
#define UTIL_HASH_START 2166136261u
/* FNV-1a of n bytes at p, continuing from h (start with UTIL_HASH_START):
 * the one hash of hookd's in-memory tables (the engine's and resolver's
 * clients, the keep-alive pools, the resolver cache, Idempotency-Keys). Not
 * for anything an attacker must not predict collisions of beyond a chain
 * walk; every table bounds its chains' work by its own limits. */
uint32_t util_hash(uint32_t h, const void *p, size_t n);

/*
 * A growable hash table of intrusive entries (Idempotency-Keys, client
 * tokens): an owner embeds a struct util_hent and finds its struct back
 * with UTIL_CONTAINER. Each entry stores its full 32-bit hash, so a lookup
 * compares keys only of entries whose hash is equal, and growing the table
 * never hashes a key again. The table doubles when it holds as many
 * entries as buckets (chains average at most one entry) and halves when it
 * holds fewer than one per eight, so lookups stay O(1) from ten keys to
 * millions and the memory follows the entries. Zero-initialised, it is
 * empty. Not thread-safe. A resize moves the entries in steps: at most
 * UTIL_HTAB_STEP buckets of the old array each add or delete, so no call
 * is O(n) (issue 20: at 1 M Idempotency-Keys a doubling at once was one
 * loop pass of 90 ms). Meanwhile an entry is in the old array while its
 * bucket there is not moved yet, else in the new one, and a lookup looks
 * where that rule says.
 */
#define UTIL_HTAB_STEP 64
struct util_hent {
	struct util_hent *next;		/* chain */
	uint32_t hash;
};
struct util_htab {
	struct util_hent **bucket;	/* NULL while empty */
	size_t nbucket;			/* a power of two, or 0 */
	size_t n;			/* entries, in both arrays */
	/* A resize under way: the array being emptied into bucket (NULL:
	 * none), its size, and how many of its buckets, from the first,
	 * are moved. */
	struct util_hent **old;
	size_t nold, moved;
};
/* The struct of type whose member member is at p. */
#define UTIL_CONTAINER(p, type, member) \
	((type *)(void *)((char *)(p) - offsetof(type, member)))
/* Add e (not in any table) with hash hash. 0, or -1 out of memory (e not
 * added). Equal keys are the caller's to refuse; the table keeps both. */
int util_htab_add(struct util_htab *t, struct util_hent *e, uint32_t hash);
/* Take e (in t) out of t. When the table would be mostly empty it shrinks;
 * if that allocation fails it simply stays as large. */
void util_htab_del(struct util_htab *t, struct util_hent *e);
/* The first entry whose stored hash is hash, NULL when none; then
 * util_htab_next(e) the next one after e with the same hash. The caller
 * compares the keys. */
struct util_hent *util_htab_first(const struct util_htab *t, uint32_t hash);
struct util_hent *util_htab_next(const struct util_hent *e);
/* Free the bucket arrays (the entries are their owners'); t is empty. */
void util_htab_free(struct util_htab *t);

/* Set O_NONBLOCK on fd, keeping its other status flags. 0, or -1 with
 * errno. */
int util_fd_nonblock(int fd);
/* Set FD_CLOEXEC on fd, so a forked child (the compaction) or an exec does
 * not inherit it. 0, or -1 with errno. */
int util_fd_cloexec(int fd);

/* write(2) all n bytes of buf to fd, retrying on EINTR and short writes.
 * 0, or -1 with errno set. */
int util_write_all(int fd, const void *buf, size_t n);

/* fsync(2) fd, retrying on EINTR. 0, or -1 with errno set. */
int util_fsync(int fd);

/* fsync the directory dir (opened O_DIRECTORY, so a file by that name is
 * refused with ENOTDIR), so that a name created or renamed in it is durable.
 * fsync_fn does the fsync (the store passes its fault-counting one); NULL is
 * util_fsync. 0, or -1 with errno set (a failed close counts). */
int util_fsync_dir(const char *dir, int (*fsync_fn)(int fd));
/* fsync the directory that holds path ("." for a bare name; trailing
 * slashes name the same entry), so that path's creation or renaming is
 * durable (a new DATADIR, a file renamed into place). fsync_fn as for
 * util_fsync_dir. 0, or -1 with errno set (ENAMETOOLONG past
 * UTIL_PATH_MAX). */
int util_fsync_parent(const char *path, int (*fsync_fn)(int fd));

/* Longest path util_write_file_durable takes (its temporary name adds
 * ".tmp"); the data directory is at most 1023 bytes (config.h). */
#define UTIL_PATH_MAX 1100

/* Replace the file at path with the n bytes at data, atomically and
 * durably: path.tmp created with mode (truncated if it was left over),
 * written, fsynced, closed, renamed over path, then the directory holding
 * path fsynced. Every step retries EINTR and checks close(2). For small
 * files (the admin token). 0, or -1 with errno set (ENAMETOOLONG when path
 * is UTIL_PATH_MAX - 4 bytes or longer) and path.tmp removed. */
int util_write_file_durable(const char *path, const void *data, size_t n,
    unsigned mode);

#endif
