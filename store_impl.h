/*
 * store_impl.h: what the pieces of the store share, and only they include.
 * Bottom up: store_file.c (files, records, group commit, the lock),
 * store_replay.c (reading a file of records back), store_registry.c (clients
 * and endpoints), store_idem.c (Idempotency-Keys), store_journal.c (events,
 * deliveries, attempts), store_jreplay.c (the journal read back),
 * store_compact.c, then store.c and store_check.c on top. A piece calls only
 * the pieces below it; a lower one tells an upper one something through a
 * hook the upper one set (file_on_durable, the apply of replay_file).
 */
#ifndef HOOKD_STORE_IMPL_H
#define HOOKD_STORE_IMPL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "json.h"
#include "store.h"
#include "util.h"

/*
 * Idempotency keys are remembered for 24 h (contract §3); the rotated-out
 * secret of an endpoint keeps signing as long (contract §3).
 */
#define STORE_IDEM_MS (24LL * 3600 * 1000)
#define STORE_ROTATE_MS (24LL * 3600 * 1000)
/* A record line longer than this is corruption, not data: the largest real
 * record is an event with a max_body payload escaped (at most 6x). */
#define STORE_LINE_MAX ((size_t)64 << 20)
/* Expired Idempotency-Keys freed by one call of idem_expire from a request
 * (and 16 times as many by the once-a-minute call): keys expire in the
 * order they came, so a burst of a million keys made in one minute would
 * otherwise be freed in one pass 24 h later, stalling every connection. */
#define IDEM_EXPIRE_MAX 1024

/* Space the journal reserves ahead of its end (fallocate, keeping the
 * size), so that a record batched in memory can be refused for a full disk
 * when it is made, not when its batch is written with others. Bigger steps
 * mean fewer calls; a full disk is found with up to a step still free, so
 * the record's own size is tried before a record is refused. */
#define STORE_RESERVE_STEP ((off_t)1 << 20)
/* A batch buffer grown past this by one big record is given back after its
 * write, so one 64 MiB event does not pin 64 MiB for ever. */
#define STORE_BATCH_KEEP ((size_t)1 << 20)

/* One append-only file. */
struct logfile {
	int fd;
	char path[1100];
	off_t size;		/* its end, with the batched records */
	int dirty;		/* written since the last fsync */
	int dir_dirty;		/* created or renamed: fsync the directory */
	/* Batching (the journal): records wait in pend, the file's bytes
	 * [size - pend.len, size), until file_flush writes them in one
	 * pwrite; space up to reserved is allocated for them already. */
	int batch;
	struct buf pend;
	off_t reserved;
};

/* An Idempotency-Key's first answer, and the request it answered. */
struct idem {
	struct util_hent h;	/* in st_idem.tab, by client and key */
	struct idem *qnext;	/* the expiry queue (st_idem), oldest first */
	char *client;
	char *key;
	int status;
	char *body;
	int64_t at;
	uint8_t req[32];	/* SHA-256 of the request (store_idem_put) */
	int has_req;		/* 0: a record from before hashes were kept */
};

/* A client id's keys in st_idem.tab: how many, and the newest one's time,
 * so the id is held while now - newest < STORE_IDEM_MS (the newest key is
 * the last to leave its window). Freed with its last key. */
struct idem_owner {
	struct util_hent h;	/* in st_idem.owners, by id */
	struct idem_owner *prev, *next;	/* st_idem.owners_all */
	size_t n;
	int64_t newest;
	char id[];
};

/* An event whose deliveries wait for it to be durable. */
struct announce {
	struct event *ev;
	uint64_t seq;		/* durable once durable_seq reaches this */
};

/* A record hookd check found unreadable. */
struct store_bad {
	int journal;		/* which file */
	off_t off;		/* where its line starts */
	size_t len;		/* its bytes, with the newline if any */
	size_t line;		/* its line number in the file */
	size_t dep;		/* 0: unreadable itself; else the line of the
				   unreadable record it depends on */
	char why[256];		/* "file:line: reason" */
};

/* A delivery whose endpoint the registry does not hold and never deleted:
 * hookd check --fix moved the endpoint aside (or the registry lost it). */
struct store_orphan {
	struct delivery *d;
	uint64_t endpoint;
};

/* A growable array of pointers, kept in id order. */
struct vec {
	void **v;
	size_t n, cap;
};

/* One record being replayed: where it is, and its parsed JSON. */
struct replay {
	const char *file;
	size_t line;
	const char *s;		/* the JSON text of the record */
	const struct json_tok *t;
	off_t off;
	char *err;
	size_t errsz;
	int journal;		/* which file: 0 registry, 1 journal */
	size_t dep;		/* checking: the line this record depends on */
};

/* ---- state, one struct per piece; store_close resets each ---- */

/* The files and what of them is durable (store_file.c). */
struct store_files {
	char dir[1024];
	int fsync_always;
	struct logfile reg, jrn;
	uint64_t written_seq, durable_seq;
	int writable;
	int sync_failed;	/* an fsync of a live file failed: sync_lost */
	int lost_nothing_kept;	/* the failure was a batch's write, cut
				   back: store_sync_lost_nothing_kept */
	uint64_t last_id;	/* the newest id given out or replayed */
	/* Fault injection (HOOKD_FAULT): */
	long fault_write, fault_fsync, fault_rename, fault_enospc;
	long fault_mark_per_pass;	/* a compaction judges this many
					   records a pass (tests; 0: its
					   own) */
	long fault_drop_per_pass;	/* a compaction drops this many
					   records a pass (tests; 0: its own) */
	long fault_compact_slow;	/* the compaction's copy waits this
					   many ms before it writes (tests) */
	long n_write, n_fsync, n_rename;
};
extern struct store_files st_files;
/* The record being built (rec_begin ... rec_write), one per thread: the
 * compaction's copy thread builds its records while the loop builds its own
 * (store_plan.c). A thread that built one frees it (buf_free) before it
 * ends. */
extern _Thread_local struct buf st_rec;

/* Replay's tokens, and what hookd check notes (store_replay.c). */
struct store_replay {
	struct json_tok *toks;	/* the replay's token array */
	size_t ntoks;
	/* hookd check: replay notes bad records here and goes on. */
	int checking;
	struct store_bad *bad;
	size_t nbad, capbad;
	int check_fd;		/* the file being checked, to read bad lines */
};
extern struct store_replay st_replay;

/* The registry in memory (store_registry.c). */
struct store_registry {
	struct vec clients, endpoints;
	/* Clients by the SHA-256 of their token (client.token_h). */
	struct util_htab tokens;
	/* Replay: endpoint ids the registry deleted (sorted once the registry
	 * is read, freed once the journal is). */
	uint64_t *gone;
	size_t ngone, capgone;
};
extern struct store_registry st_registry;

/* The journal in memory (store_journal.c). */
struct store_journal {
	struct vec events, deliveries;
	size_t pending;
	size_t upstream_pending;	/* of them, gateway upstream calls */
	/* Events written but not yet durable: their deliveries are handed
	 * to the engine (store_on_due) only once they are, so no receiver
	 * hears of an event whose 202 a failed fsync would withhold. */
	struct announce *unannounced;
	size_t nunannounced, capunannounced;
	/* Replay: deliveries left without an endpoint the registry never
	 * deleted. */
	struct store_orphan *orphans;
	size_t norphans, caporphans;
	/* A compaction's drop in steps (store_compact.c): from the rename of
	 * the new journal until they are freed, the events marked dropping
	 * and their deliveries are gone to every reader (event_gone), while
	 * the lists lose them and these arrays are built without them, then
	 * swapped in. */
	int drop_hidden;
	struct vec events_new, deliveries_new;
};
extern struct store_journal st_journal;

/* 1 when a compaction is dropping ev (retention let it go) and its new
 * journal is in place: no lookup, list or walk may return it, or its
 * deliveries, any more. */
static inline int
event_gone(const struct event *ev)
{
	return ev->dropping && st_journal.drop_hidden;
}

/*
 * The Idempotency-Keys (store_idem.c): a hash table by client and key,
 * and a queue in the order of their times, oldest first, from whose head
 * the keys are freed once STORE_IDEM_MS old (idem_expire). Keys are added
 * with the clock's time, so the queue is in time order unless the wall
 * clock steps back; then a key may wait behind a younger one and is freed
 * that much later (a lookup checks each key's own time, so it is never
 * answered past its window). Replay appends in file order and sorts the
 * queue once at the end when a record was out of order (a journal compacted
 * by a version that wrote keys in table order).
 */
struct store_idem {
	struct util_htab tab;
	struct idem *head, *tail;
	int unsorted;		/* replay appended one out of time order */
	/* A compaction's copy thread reads the keys queued up to its fork
	 * point (store_plan.c): while held, idem_expire frees none, and
	 * nothing else frees or relinks a key. */
	int held;
	/* Each client id with keys in the table (struct idem_owner, by id):
	 * whether an id is held (store_client_id_held) is one lookup, not a
	 * walk of every client's keys. */
	struct util_htab owners;
	struct idem_owner *owners_all;
};
extern struct store_idem st_idem;
/* Attempts kept per delivery (store_set_max_log). */
extern size_t store_max_log;

/* ---- store_file.c: checksums, I/O, ids, records, group commit ---- */

/* Called after durable_seq advances (store_sync, store_sync_end); set by
 * store_open to the journal's announce_durable. May be NULL. */
extern void (*file_on_durable)(void);

/* 1 while hookd import opens the store: it may finish an interrupted
 * import, which store_open otherwise refuses (store_move.c). */
extern int st_importing;

/* Fill the CRC-32 tables (idempotent). */
void crc_init(void);
/* CRC-32 (IEEE 802.3) of n bytes at p. */
uint32_t crc32(const char *p, size_t n);
/* util_fsync, counting toward HOOKD_FAULT "fsync" (the directory fsyncs
 * too: util_fsync_dir(st_files.dir, io_fsync)). 0 or -1. */
int io_fsync(int fd);
/* rename(2), counting toward HOOKD_FAULT "rename". 0 or -1. */
int io_rename(const char *from, const char *to);
/* The number after "name=" in a HOOKD_FAULT spec, 0 when absent. */
long fault_get(const char *spec, const char *name);
/* A new id (creation ms << 16 plus a counter), greater than any seen. */
uint64_t new_id(void);
/* Note an id read back, so new_id stays above it. */
void seen_id(uint64_t id);
/* Append p to v. 0, or -1 out of memory (v unchanged). */
int vec_push(struct vec *v, void *p);
/* Remove the i-th element, keeping the order. */
void vec_remove(struct vec *v, size_t i);
/* For vecs of objects that start with uint64_t id: the first index whose id
 * is >= id; the first whose id is > after; the object with id or NULL. */
size_t vec_lower(const struct vec *v, uint64_t id);
size_t vec_after(const struct vec *v, uint64_t after);
void *vec_find(const struct vec *v, uint64_t id);
/* A heap copy of s, NULL for NULL (or out of memory). */
char *dup_or_null(const char *s);
/* 32 bytes as 64 lower-case hex digits plus NUL, and back (0 or -1 when s
 * is not 64 hex digits). */
void hex32(const uint8_t in[32], char out[65]);
int unhex32(const char *s, size_t len, uint8_t out[32]);
/* Build a record in st_rec: rec_begin starts one of type type (and
 * returns the buffer), the others add a member (key is a literal, not
 * escaped): a string (NULL: null), a number, an id in its external form,
 * and JSON text re-encoded by json_put_json (or kept as the string member
 * key + "_s" when it is not JSON or nests too deep). None reports a
 * failure: an allocation failure sets rec.oom and rec_write fails. */
struct buf *rec_begin(const char *type);
void rec_str(const char *key, const char *val);
void rec_num(const char *key, int64_t v);
void rec_id(const char *key, enum store_kind k, uint64_t id);
void rec_json(const char *key, const char *val, size_t len);
/* Close the record in st_rec: "}", the newline, and its checksum in front
 * (the journal's line format, store_file.c). 0, or -1 out of memory
 * (ENOMEM). Safe on any thread: it touches only the thread's st_rec. */
int rec_close(void);
/* Close the record (checksum, newline) and append it to f: written now,
 * or for a batching file (f->batch) added to its batch in memory with its
 * space reserved, so a full disk fails this record (ENOSPC) and not a
 * whole batch later. Returns its offset, or -1 (errno set; nothing was
 * added to the file). */
off_t rec_write(struct logfile *f);
/* Write f's batched records in one pwrite at their offsets. 0 (also when
 * none wait), or -1 (errno set): the batch is dropped, the file cut back to
 * where it started, and the caller calls sync_lost, since requests already
 * answered in memory wait for those records (nothing of them is
 * acknowledged). After sync_lost nothing more is written: -1, EIO. */
int file_flush(struct logfile *f);
/* Batch f's records from now on: 0, or -1 (errno) where no space can be
 * reserved (another system, or a file system without fallocate), and each
 * record is written as it is made. */
int file_batch_start(struct logfile *f);
/* Batching off, and the batch buffer freed (what waits is dropped). */
void file_batch_free(struct logfile *f);
/* pread(2) of f that sees its batched records too: up to n bytes at off
 * into p. Returns the count (0 at the end), or -1 (errno). */
ssize_t log_pread(struct logfile *f, char *p, size_t n, off_t off);
/* An fsync of a live file failed: nothing more is acknowledged. */
void sync_lost(void);
/* Stop the sync thread (after finishing a sync under way). */
void sync_thread_stop(void);
/* The index of member key in record s (tokens t), or -1 when absent. */
int rget(const char *s, const struct json_tok *t, const char *key);
/* Read the journal record at off into b and parse it into *toks (grown as
 * needed). Returns the token count, or -1. */
int read_record(off_t off, struct buf *b, struct json_tok **toks,
    size_t *ntoks);
/* Copy the journal record at off to f with its "prev" set to prev (unless
 * prev is -2). Returns its new offset, or -1. */
off_t copy_record(struct logfile *f, off_t off, off_t prev, struct buf *rb,
    struct json_tok **toks, size_t *ntoks);
/* Why path did not open (errno), into err. */
void open_error(const char *path, char *err, size_t errsz);
/* Open (or create) DIR/name for appending, without following links. 0, or
 * -1 with err set. */
int open_log(struct logfile *f, const char *dir, const char *name, char *err,
    size_t errsz);

/* ---- store_replay.c: reading a file of records back ---- */

/* Set r's error to "file:line: why"; returns -1 with errno EINVAL. */
int replay_fail(struct replay *r, const char *why);
/* The same, but when checking and the record depends on an unreadable one
 * (needle: the quoted id it names), "depends on line N". Returns -1. */
int replay_fail_dep(struct replay *r, const char *needle, const char *why);
/* Members of the record being replayed: a number; a string into out (NUL
 * terminated); a string as a heap copy (NULL for null); an id of kind k.
 * Each 0, or -1 when absent, of another type or too long. */
int get_num(struct replay *r, const char *key, int64_t *out);
int get_str(struct replay *r, const char *key, char *out, size_t outsz);
int get_dup(struct replay *r, const char *key, char **out);
int get_xid(struct replay *r, const char *key, enum store_kind k,
    uint64_t *id);
/* Read file f (named name; journal: 1 for the journal) and call apply for
 * every whole record; a torn last record is cut off (notice). 0, or -1
 * with err set. */
int replay_file(struct logfile *f, const char *name, int journal,
    int (*apply)(struct replay *r, const char *t, size_t tl), char *err,
    size_t errsz, void (*notice)(const char *));

/* ---- store_registry.c: clients and endpoints ---- */

/* The index in st_registry.clients of the first client whose id (len
 * bytes) is >= id, by byte order: where id is or would be inserted. */
size_t client_lower(const char *id, size_t len);
/* Add c to the token table (st_registry.tokens) by its token_hash: 0, or
 * -1 out of memory, which only the table's first entry can meet; take it
 * out (it must be in). */
int token_index(struct client *c);
void token_unindex(struct client *c);
/* Free a client and its name (NULL is fine); it must not be in the table. */
void client_free(struct client *c);
/* Free what an endpoint points to (url, filters, headers, description) and
 * set those fields NULL; the struct itself stays the caller's. */
void endpoint_free_fields(struct endpoint *e);
/* Append a client's / an endpoint's record to the registry. Returns its
 * offset or -1 (errno). */
off_t client_record(const struct client *c);
off_t endpoint_record(const struct endpoint *e);
/* The same records built in st_rec (rec_begin and the members, not
 * closed): rec_write(f) writes one to any file f, and hookd import
 * compares one with a record of an export (store_move.c). */
void client_rec(const struct client *c);
void endpoint_rec(const struct endpoint *e);
/* qsort/bsearch order of uint64_t. */
int cmp_u64(const void *a, const void *b);
/* 1 when the registry deleted endpoint id (once sorted by store_open). */
int gone_has(uint64_t id);
/* Apply one registry record of type t (tl bytes). 0 or -1 (r's error). */
int replay_registry(struct replay *r, const char *t, size_t tl);

/* ---- store_idem.c: Idempotency-Keys ---- */

/* Free the Idempotency-Keys older than STORE_IDEM_MS at now, oldest first,
 * at most max of them; none while st_idem.held. */
void idem_expire(int64_t now, size_t max);
/* After replay: put the keys' queue in time order, when a record came out
 * of order. O(n log n), no allocation. */
void idem_sort(void);
/* Free every key and the table (store_close). */
void idem_free_all(void);
/* 1 when client id (len bytes) has an Idempotency-Key younger than
 * STORE_IDEM_MS at now, else 0. One lookup (idem_owner). */
int idem_id_held(const char *id, size_t len, int64_t now);
/* Build key's idem record in st_rec (rec_begin and the members, not
 * closed). Reads only the key's own fields: safe on the compaction's copy
 * thread while the keys are held (st_idem.held). */
void idem_record(const struct idem *key);
/* Write the members of an idem record after "t" into the record. */
void idem_members(const char *client, const char *key, size_t len,
    const uint8_t *req, int status, const char *body, int64_t at);
/* Add a key to the table and the queue (req NULL: matches any request).
 * 0, or -1 out of memory (nothing added). */
int idem_add(const char *client, const char *key, size_t len,
    const uint8_t *req, int status, const char *body, int64_t at);
/* Write the Idempotency-Keys younger than STORE_IDEM_MS at now to f as
 * idem records, oldest first. 0, or -1 (errno). */
int idem_copy_all(struct logfile *f, int64_t now);

/* ---- store_journal.c: events, deliveries, attempts ---- */

/* Hand the deliveries of events now durable to the engine. */
void announce_durable(void);
/* Free an event with its deliveries. */
void event_free(struct event *ev);
/* Take the deliveries of events a compaction drops (event.dropping) off
 * their endpoints' and clients' one-off lists (ep_next), in steps:
 * dlv_forget_begin starts at the first endpoint; each dlv_forget_step
 * unlinks or passes at most *budget deliveries (taken from it) and
 * returns 1 once every list is done, else 0. Between steps a cursor holds
 * a place in one list: dlv_forget_detach(e, c) is called before endpoint
 * e (or client c, NULL: none) leaves the registry with its list, and moves
 * the cursor to the next list (the reaper then walks the detached list;
 * the dropped deliveries on it stay allocated until it is done). */
void dlv_forget_begin(void);
int dlv_forget_step(size_t *budget);
/* Forget the cursor (a stop before the steps are done). */
void dlv_forget_stop(void);
void dlv_forget_detach(const struct endpoint *e, const struct client *c);
/* A new event (a gateway request's: room for any type it may take), its
 * client id and type in the same allocation. NULL when out of memory. */
struct event *event_alloc(const char *client_id, const char *type,
    size_t type_len);
struct event *event_alloc_gw(const char *client_id, const char *type,
    size_t type_len);
/* Put d on its endpoint's or client's list. */
void dlv_index(struct delivery *d, struct client *c);
/* Link a new delivery into the id-ordered array and the counts; with tail,
 * at *tail on its event's list, moving tail past it. 0, or -1 out of
 * memory (nothing linked). */
int delivery_link(struct delivery *d, struct delivery ***tail);
/* Set d's state (enum store_status), next try (pending only) and time,
 * keeping the status index and the pending counts. */
void apply_state(struct delivery *d, int status, int64_t next_at, int64_t at);
/* Endpoint health (contract §15, store_registry.c): an attempt to e ended at
 * t (ms), ok or not; a delivery to e ended at t with status (delivered or
 * failed), counted in the hour of t when within the last 24. Called live
 * and by replay alike, so a restart rebuilds the same figures. */
void health_note_attempt(struct endpoint *e, int ok, int64_t t);
void health_note_end(struct endpoint *e, int status, int64_t t);
/* The name of a gateway state in a record, STORE_GW_NONE when unknown. */
int gw_parse(const char *s);
/* Build a requeue record in st_rec (not closed): delivery did is pending
 * again, its next try at next_at (ms). One builder for the live record,
 * event_copy's and the compaction thread's (store_copy.c). */
void requeue_rec(uint64_t did, int64_t next_at);

/* ---- store_jreplay.c: the journal read back ---- */

/* End the deliveries replay left without an endpoint, writing why. 0, or
 * -1 when a record cannot be written. */
int orphans_settle(void);
/* After replay: a gateway request still forwarding whose upstream call
 * ended (its answer was recorded, the completion was not: a crash between
 * the two) calls its upstream again (memory only; the next attempt writes
 * its record). */
void requests_settle(void);
/* Apply one journal record of type t (tl bytes). 0 or -1 (r's error). */
int replay_journal(struct replay *r, const char *t, size_t tl);

/* ---- store_index.c: matching, per-client and per-type lists, status ---- */

/* One filter of an endpoint in the filter table (endpoint.fidx[i] for
 * events[i]): hashed by client id, kind (exact, or prefix for "p*") and
 * text, so an event's type finds the filters it satisfies by lookups. */
struct store_filter {
	struct util_hent h;
	struct endpoint *e;
};

/* Levels of the status index: level L counts each status over runs of
 * 64^(L+1) deliveries of the id-ordered array; five levels cover 64^5
 * (a billion) deliveries per top-level run and any number of runs. */
#define SIDX_LEVELS 5

struct sidx_level {
	uint32_t (*cnt)[3];		/* per run: count of each status */
	size_t n, cap;			/* runs */
};

/* The indexes (store_index.c). The client-id and (client id, type) lists
 * outlive a deleted client: its events stay until retention drops them. */
struct store_index {
	struct util_htab filters;	/* struct store_filter */
	uint64_t match_mark;		/* store_match's passes */
	struct util_htab clients;	/* struct cidx, by client id */
	struct util_htab types;		/* struct ctidx, by client id, type */
	struct cidx *all_c;		/* every cidx, to visit them */
	struct ctidx *all_ct;
	int sidx_built;			/* the status counts below are right */
	/* While a compaction drops events in steps (store_compact.c), the
	 * counts over the deliveries array being built without them
	 * (st_journal.deliveries_new): sidx_next_add counts each delivery
	 * copied, sidx_move keeps both sets, sidx_next_swap makes these the
	 * index when the arrays are swapped. sidx_next_ok: no allocation
	 * failed (else the index is built again at its next use). */
	int sidx_next_on, sidx_next_ok;
	struct sidx_level next_lv[SIDX_LEVELS];
	size_t next_total[3];
	/* A delivery was linked below a newer one (a compacted journal's
	 * completed gateway request, replay_request_done): the delivery
	 * lists are sorted once the replay is done (index_sort_lists). */
	int lists_unsorted;
	struct sidx_level lv[SIDX_LEVELS];
	size_t total[3];		/* deliveries of each status */
};
extern struct store_index st_index;

/* Put e on its client's endpoint list (at its place in id order) and its
 * filters in the table; take them out again. Neither fails: an endpoint
 * whose filters cannot be indexed is matched by a walk (client.nscan). */
void ep_index(struct endpoint *e);
void ep_unindex(struct endpoint *e);
/* Take e's filters out of the table (before they change), and put them
 * in (after): when one cannot be (a prefix too long for client.plen, no
 * memory), none is, and its client's events are matched by a walk of its
 * endpoints (client.nscan) instead. */
void ep_filters_del(struct endpoint *e);
void ep_filters_add(struct endpoint *e);
/* Make sure ev's client id and (client id, type) have their lists: 0, or
 * -1 out of memory (call before ev's record is written, so that
 * event_index_add cannot fail). */
int event_index_prepare(const struct event *ev);
/* Put ev (newest) and its deliveries on their lists (after prepare). */
void event_index_add(struct event *ev);
/* Append first and the deliveries after it on its event's list (a gateway
 * request's completion's) to ev's client id's delivery list. */
void event_index_add_deliveries(struct event *ev, struct delivery *first);
/* ev's type changed from oldtype (a gateway request completed as
 * TYPE.failed): move it to its new (client id, type) list, at its place
 * newest first (event_index_prepare made that list). Costs a walk past the
 * newer events of either type. */
void event_index_retype(struct event *ev, const char *oldtype);
/* After a replay that linked deliveries out of id order
 * (st_index.lists_unsorted): sort each endpoint's, each client's one-off
 * and each client id's delivery list by id, as list pages and their
 * "after" cursors need. O(n) per list in order, O(n log n) otherwise; no
 * memory. */
void index_sort_lists(void);
/* Build the status index now, at the end of a start, where its O(n) walk
 * of the deliveries is part of the replay rather than of the first
 * ?status= page's loop pass (issue 20: 19 ms at 500,000 deliveries). Out of
 * memory, it is left to be built at its first use. */
void index_status_build(void);
/* 1 when events of client id (len bytes) are in the store (those a drop
 * has made gone do not count). O(1); while a drop runs, O(the id's events
 * being dropped) when all of them are. */
int event_index_holds(const char *id, size_t len);
/* Take the records a compaction drops (event.dropping) off the client-id
 * and (client id, type) lists in steps, freeing the lists left empty:
 * event_index_forget_begin starts; each event_index_forget_step visits at
 * most *budget records (taken from it) and returns 1 once every list is
 * done, else 0. Only these steps free a list, new lists are put at the
 * head of the chains and new records at a list's newest end, and a
 * retyped event moves the cursor off it (event_index_retype): the cursor's
 * place stays valid between steps. */
void event_index_forget_begin(void);
int event_index_forget_step(size_t *budget);
void event_index_forget_stop(void);
/* The status index: d was appended to the deliveries array, or its status
 * changes from from to to. Only while the index is built; it is built from
 * the array at its first use after store_open or a compaction. */
void sidx_append(const struct delivery *d);
void sidx_move(const struct delivery *d, int from, int to);
/* The status counts of the deliveries array a compaction builds without
 * the dropped ones (st_journal.deliveries_new): begin them; count d, just
 * appended to it; make them the index once that array replaces the old
 * one (O(1)); or let them go (a stop). */
void sidx_next_begin(void);
void sidx_next_add(const struct delivery *d);
void sidx_next_swap(void);
void sidx_next_free(void);
/* Free every index (store_close). */
void index_free_all(void);

/* ---- store_compact.c ---- */

/* The output of the catch-up is written in pieces of this size, and the old
 * journal read in as large: bounded memory whatever the tail's size. */
#define STORE_COMPACT_OUT ((size_t)1 << 20)

/* An object's id and its record's offset in the compacted journal: the
 * compaction's map, in id order (store_copy.c). */
struct compact_pair {
	uint64_t id;
	int64_t off;
};
/* Order of struct compact_pair by id (qsort): -1, 0 or 1. */
int compact_pair_cmp(const void *a, const void *b);
/* The new offset of id in the map v (n pairs, in id order), -1 when it is
 * not there. hint, when not NULL, is where the caller's previous lookup
 * ended: a walk in id order finds each next one there at once (O(1)
 * instead of the binary search's O(log n) cache misses). */
off_t compact_pair_find(const struct compact_pair *v, size_t n, uint64_t id,
    size_t *hint);

/*
 * Copying the records written since a compaction's fork point (the old
 * journal's bytes [fork_size, ...)) to the end of the new file, with every
 * attempt's "prev" moved to the new file. Self-contained (its own
 * buffers, plain pread/pwrite on its two descriptors, read-only dmap), so
 * that a round runs on a thread while the loop serves.
 */
struct tail_copy {
	int src_fd, dst_fd;	/* the old journal; the new file */
	off_t fork_size;	/* old offsets below it are in dmap */
	off_t from;		/* the next old offset to copy */
	off_t dst_size;		/* the new file's end */
	off_t shift;		/* new less old offset of the first tail
				   record */
	/* The pre-fork deliveries' newest attempts in the new file, by
	 * delivery id (ascending). */
	const struct compact_pair *dmap;
	size_t ndmap;
	/* Tail records whose length changed (a "prev" of other digits):
	 * their old offsets, ascending, and the sum of the changes up to and
	 * including each. */
	off_t *chg_old, *chg_cum;
	size_t nchg, capchg;
	struct buf in, out, rec;
	struct json_tok *toks;
	size_t ntoks;
	size_t nrec;		/* records written (each tc_out is one) */
};

/* Copy the old journal's records [tc->from, to) (whole records) to the new
 * file, written out. 0, or -1 (errno; the new file is then abandoned). */
int tail_copy_run(struct tail_copy *tc, off_t to);
/* Free tc's buffers and zero it. */
void tail_copy_free(struct tail_copy *tc);
/* The new offset of the record at old offset off >= tc->fork_size, copied
 * already: shifted like the first tail record, plus what the records
 * before it that changed length added (binary search of the changes). */
off_t tail_new_off(const struct tail_copy *tc, off_t off);

/*
 * A compaction's plan (store_copy.c): what the new journal keeps of the
 * journal as it was at the fork point, gathered by the marking's steps on
 * the loop, then copied by a thread. One entry per kept event (id; off,
 * its record; n, how many entries of its deliveries follow) and per
 * delivery (id; off, its newest attempt record or -1; n, its next try
 * when pending, else -1).
 */
struct plan_ent {
	uint64_t id;
	int64_t off;
	int64_t n;
};
struct plan_link;
struct compact_plan {
	/* Built on the loop: the events the marking's cursor planned, in id
	 * order (v), and those planned ahead of it when they were about to
	 * change (early), in the order that came. */
	struct plan_ent *v, *early;
	size_t n, cap, nearly, capearly;
	size_t nev, ndlv;	/* event and delivery entries in both */
	int64_t now;		/* older Idempotency-Keys are not kept */
	/* The keys queued at the fork point, oldest first (held meanwhile:
	 * st_idem.held); NULL: none. */
	const struct idem *idem_first, *idem_last;
	long slow_ms;		/* HOOKD_FAULT compact_slow */
	size_t max_log;		/* store_max_log when it began (a reload
				   may change that one meanwhile) */
	/* The copy: src_fd, fork_size, dst_fd and the output (dst_size
	 * starts at 0); the thread's alone until it is done. */
	struct tail_copy *tc;
	/* The thread's result: an anonymous mapping of maplen bytes, the
	 * events' and the deliveries' counts (two uint64_t), then the
	 * events' new offsets and their deliveries' newest attempts', each
	 * in id order (struct compact_pair). */
	void *map;
	size_t maplen;
	/* The thread's own: a chain's links. */
	struct plan_link *links;
	size_t caplinks;
	pthread_t thread;
	pthread_mutex_t mu;	/* done, err, stop */
	int running, done, err, stop;
};
/* Add ev (and its deliveries, as they are now) to p: early when ahead of
 * the marking's cursor. 0, or -1 out of memory (ENOMEM; p unchanged). */
int plan_add(struct compact_plan *p, const struct event *ev, int early);
/* Start the copy of p on a thread (nothing of p may change until it is
 * done). 0, or -1 (errno) when no thread starts. */
int plan_copy_start(struct compact_plan *p);
/* 1 when the copy is done (joined; p->err: 0 or the errno it failed with,
 * p->map its map), or none runs; 0 while it runs. */
int plan_copy_finished(struct compact_plan *p);
/* Stop a copy running (it ends at its next event) and free the plan and
 * its map. */
void plan_free(struct compact_plan *p);
/* event_copy's plan and buffers, reused from one event to the next; zero
 * to start, event_copy_free to end. */
struct event_copy {
	struct compact_plan plan;
	struct tail_copy tc;
	struct compact_pair *dm;
	size_t capdm;
};
/*
 * What a compaction keeps of an event, copied from the journal to f: ev's
 * record, then for each delivery its newest store_max_log attempt records,
 * oldest first with their "prev" linked anew in f, and a requeue record
 * after them when it is pending again: the plan's copy of one event
 * (plan_copy_event), on the caller's thread. The event record's offset in
 * f into *off. Used by hookd export and import (store_move.c). 0, or -1
 * (errno).
 */
int event_copy(struct logfile *f, const struct event *ev,
    struct event_copy *s, off_t *off);
void event_copy_free(struct event_copy *s);

/* Stop a compaction's threads and forget it; its new file is unlinked
 * unless renamed in (store_close). */
void compact_stop(void);
/* Before ev's offsets (ev->off, its deliveries' last_off) are read or
 * replaced, or a record of it is written: while a compaction marks, plan
 * ev as it still is if the marking's cursor has not judged it yet (O(its
 * deliveries)); while one settles, move its offsets to the new journal now
 * if the settling's cursor has not yet (O(log n)); a no-op otherwise. */
void compact_settle(struct event *ev);

/* ---- store_drop.c: a compaction's drop, in steps ---- */

/* Start dropping the ndropping events marked dropping, once the new
 * journal (which lacks them) is renamed in: from here on every reader
 * skips them (event_gone). None may run already. */
void drop_begin(size_t ndropping);
/* 1 from drop_begin until the drop is done or stopped, else 0. */
int drop_running(void);
/* One loop pass's share: at most compact_drop_per_pass records looked at
 * (HOOKD_FAULT drop_per_pass=N: N). Sets *swapped to 1 when the events
 * array was replaced in this step (its indexes moved). Returns 1 once
 * done, everything dropped freed; else 0. */
int drop_step(int *swapped);
/* Stop a drop midway (store_close): free what it has not yet; no-op when
 * none runs. */
void drop_stop(void);

/* ---- store_file.c: the releaser thread ---- */

/* Close fd (-1: none) and unmap map (len bytes; NULL: none) on a thread of
 * its own, or here when none can start: the last close of a renamed-over
 * file, or the unmapping of an unlinked one, frees its blocks, which can
 * take hundreds of ms. None may run already (file_release_finished). */
void file_release_start(int fd, void *map, size_t len);
/* 1 when no release runs any more (joined), 0 while one runs; with wait,
 * it is waited for (a stop). */
int file_release_finished(int wait);

#endif
