/*
 * store: hookd's state and its files. The registry (clients, endpoints) and
 * the journal (events, deliveries, attempts) are in memory for serving and on
 * disk as append-only plain-text files, one checksummed record a line, made
 * durable by group commit, replayed at start and compacted in the background.
 */
#ifndef HOOKD_STORE_H
#define HOOKD_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sign.h"
#include "util.h"

/* Longest Idempotency-Key (contract §3). */
#define STORE_IDEM_MAX 255
/* How much of a receiver's response body an attempt keeps (contract §3). */
#define STORE_LOG_BODY 1024
/* Largest acknowledgement object kept (contract §5). */
#define STORE_ACK_MAX 4096
/* Room for "dlv_" + 16 hex digits and a NUL. */
#define STORE_XID_MAX 24
/* Endpoint health counts deliveries that ended in the last 24 clock hours
 * (contract §15), one bucket an hour: a fixed ring, so the count costs
 * neither a scan nor memory that grows with the traffic. */
#define STORE_HEALTH_HOURS 24
/* The client id of hookd's own operational events (contract §15): not a
 * valid client id (util_client_id_ok refuses ':'), so no client can own
 * them or see them; the admin does. */
#define STORE_OPS_CLIENT "hookd:ops"

/* Kinds of numeric id; each formats as prefix + 16 hex digits, so ids sort
 * in creation order as strings. */
enum store_kind { STORE_EP, STORE_EVT, STORE_DLV };

enum store_status {
	STORE_PENDING = 0,
	STORE_DELIVERED = 1,
	STORE_FAILED = 2
};

/* The names of enum store_status, indexed by it: "pending", "delivered",
 * "failed" (contract §3: answers, ?status= and the journal's "state"). */
extern const char *const store_status_names[STORE_FAILED + 1];

/* The enum store_status named by the NUL-terminated s (store_status_names),
 * or -1 when s names none. */
int store_status_parse(const char *s);

struct client {
	char id[UTIL_ID_MAX + 1];
	char *name;
	uint8_t token_hash[32];		/* SHA-256 of the client token */
	char secret[SIGN_SECRET_MAX];	/* signs one-off callbacks */
	char prev_secret[SIGN_SECRET_MAX];	/* "" when none */
	int64_t prev_until;		/* prev_secret signs until then (ms) */
	int64_t created_at, updated_at;	/* epoch ms */
	/* Memory only: the API's count of retry and replay calls in the
	 * current minute (max_retries_per_minute). */
	int64_t retry_minute;		/* monotonic ms / 60000 */
	size_t retry_calls;
	/* The store's indexes: its entry in the token table (by the token's
	 * SHA-256), and its one-off deliveries (through ep_next, id order),
	 * so a deletion fails them without scanning the store. */
	struct util_hent token_h;
	struct delivery *oneoff_head, *oneoff_tail;
	/* Its endpoints, in id order (through endpoint.c_next), for matching
	 * and deletion without looking at other clients' endpoints; plen bit
	 * k is set when one of their filters is a prefix k bytes long ("p*"),
	 * and nscan counts those of its endpoints that the filter table does
	 * not hold (a prefix past plen's bits, or no memory): while it is not
	 * 0 an event of this client is matched by a walk of its endpoints. */
	struct endpoint *ep_head, *ep_tail;
	size_t nendpoints, nscan;
	uint64_t plen[3];
};

struct endpoint {
	uint64_t id;
	struct client *client;
	char *url;
	int method_get;
	char **events;			/* filters; "*" and "prefix.*" */
	size_t nevents;
	char *headers;			/* a JSON object's text, or NULL */
	char *description;		/* or NULL */
	char secret[SIGN_SECRET_MAX];
	char prev_secret[SIGN_SECRET_MAX];	/* "" when none */
	int64_t prev_until;		/* prev_secret signs until then (ms) */
	int enabled;
	int64_t created_at, updated_at;
	int64_t failing_since;		/* first failure in a row, 0 if none */
	/* Delivery policy (contract §15): */
	uint32_t rate_milli;		/* rate_limit in 1/1000 a second; 0:
					   none (STORE_RATE_MAX_MILLI at most) */
	uint8_t fifo;			/* ordering "fifo" (else "none") */
	uint8_t nretry;			/* retry_ms entries; 0: the global */
	int64_t *retry_ms;		/* its retry_schedule (ms), owned */
	int64_t timeout_ms;		/* one attempt; 0: the global timeout */
	/* The policy's runtime state, not stored; the engine's: a token
	 * bucket in millionths of a token, counted at rl_mono (monotonic
	 * ms; 0: full), and, while a delivery waits for a token, rl_wake
	 * (when the next one comes) on the engine's list through rl_next.
	 * A fifo endpoint's one delivery that may go is fifo_cur; its later
	 * pending ones are parked, in id order, on park_head..park_tail
	 * (through delivery.wait_next, waiting WAIT_PARKED). */
	int64_t rl_units, rl_mono, rl_wake;
	struct endpoint *rl_next;
	uint8_t rl_held;
	struct delivery *fifo_cur;
	struct delivery *park_head, *park_tail;
	/* Health (contract §15): */
	/* The newest attempts' outcomes and, per clock hour, the deliveries
	 * that ended; not stored, rebuilt by the journal's replay
	 * (store_endpoint_health). */
	int64_t last_success_at, last_failure_at;	/* epoch ms, 0: none */
	int64_t health_hour;		/* the newest bucket's hour, ms/3600000 */
	uint32_t delivered_h[STORE_HEALTH_HOURS];	/* by hour % 24 */
	uint32_t failed_h[STORE_HEALTH_HOURS];
	/* Runtime, not stored; owned by the delivery engine: */
	uint32_t inflight;		/* attempts in flight */
	struct delivery *wait_head;	/* due, waiting for a free slot */
	struct delivery *wait_tail;
	/* The store's index: every delivery to it, in id order, through
	 * delivery.ep_next (a delete or disable visits only these). */
	struct delivery *dlv_head, *dlv_tail;
	size_t ndlv;			/* deliveries on that list */
	/* Its client's list of endpoints (client.ep_head), doubly linked. */
	struct endpoint *c_next, *c_prev;
	/* Its filters' entries in the filter table, one per events[i], or
	 * NULL when not in the table (client.nscan counts it). */
	struct store_filter *fidx;
	uint64_t match_mark;		/* store_match's last pass that took it */
	/* Removal in steps (store_reap): removed once deleted (it is out of
	 * the registry; the reaper frees it), reaping while a removal is
	 * failing its deliveries. */
	uint8_t removed;
	uint32_t reaping;
};

/* Its client is found by client_id (store_event_client), not held by a
 * pointer: a client's deletion then touches none of its events, and the id
 * is not given to a new client while its events remain
 * (store_client_id_held). The fields are ordered so that the strings start
 * right after the last one (a pending delivery's memory is mostly its
 * event's). */
struct event {
	uint64_t id;
	char *client_id;		/* both in strs: one allocation, as */
	char *type;			/* pending events are most of memory */
	int64_t created_at;
	int64_t deliver_at;		/* deliver_at or delay asked, 0: none */
	off_t off;			/* its record in the journal */
	char *data;			/* the payload as sent, while needed */
	struct delivery *deliveries;	/* list through delivery.next_in_event,
					   in id order */
	/* The next older event of its client id, and of its client id and
	 * type (the indexes of GET /v1/events?client=&type=). */
	struct event *c_older, *ct_older;
	uint32_t pending;		/* deliveries still pending */
	uint32_t ndeliveries;
	/* data's length: at most max_body (64 MiB) or a gateway answer's
	 * 1 MiB. 32 bits and the two flags in one byte keep the struct at
	 * 96 bytes (the bench's memory per pending delivery). */
	uint32_t data_len;
	uint8_t dropping : 1;		/* a compaction is removing it */
	/* Its offsets (off, its deliveries' last_off) were moved to the
	 * compacted journal ahead of the settling's cursor (store_compact.c:
	 * compact_settle); the cursor clears it when it passes. */
	uint8_t moved : 1;
	uint8_t gw;			/* enum store_gw: a gateway request */
	uint16_t gw_status;		/* the upstream's last status, 0 none */
	char strs[];			/* client_id and type */
};

struct delivery {
	uint64_t id;
	struct event *event;
	struct endpoint *endpoint;	/* NULL: one-off, or endpoint deleted */
	char *url;			/* one-off URL; NULL for endpoint ones */
	/* Created when its event was: event->created_at. */
	int64_t updated_at;
	int64_t next_at;		/* next attempt (ms), 0 when none */
	off_t last_off;			/* its newest attempt record, -1 none */
	struct delivery *next_in_event;
	/* The next delivery of its endpoint (endpoint.dlv_head) or, for a
	 * one-off, of its client (client.oneoff_head); NULL at the end or
	 * once the endpoint or the client is deleted. */
	struct delivery *ep_next;
	/* The next delivery of its event's client id, in id order (the index
	 * of GET /v1/deliveries?client=); kept after the client's deletion,
	 * as its events are. */
	struct delivery *c_next;
	/* Runtime, owned by the delivery engine: */
	struct delivery *wait_next;	/* in its endpoint's, its client's or
					   the global wait list, doubly */
	struct delivery *wait_prev;	/* linked: one leaves in O(1) */
	uint32_t heap_index;		/* position in the timer heap, 0: none */
	uint8_t status;			/* enum store_status */
	uint8_t attempts;
	/* Four flags in one byte: 104 bytes in all, which malloc serves
	 * from a 112-byte chunk (a pending delivery's memory, issue 12). */
	uint8_t inflight : 1;		/* an attempt is under way */
	uint8_t waiting : 3;		/* in a wait list: WAIT_* (0-4) */
	uint8_t upstream : 1;		/* a gateway request's call of its
					   upstream (url), not a delivery */
	uint8_t manual : 1;		/* a manual retry's: its next attempt
					   waits for no rate_limit token */
};

/* A gateway request's state (contract §14): event.gw. */
enum store_gw {
	STORE_GW_NONE = 0,		/* an event posted by the admin */
	STORE_GW_FORWARDING = 1,	/* accepted, the upstream not done */
	STORE_GW_COMPLETED = 2,		/* the upstream's answer is the event */
	STORE_GW_FAILED = 3		/* no answer within the schedule */
};

/* The outcome of one attempt, as the delivery engine records it. */
struct store_attempt {
	int64_t at;			/* when it started (ms) */
	int status;			/* HTTP status, 0 when none */
	const char *error;		/* "timeout", ... or NULL */
	int64_t ms;			/* how long it took */
	const char *body;		/* the response body's first bytes */
	size_t body_len;		/* <= STORE_LOG_BODY */
	const char *ack;		/* the ack object's text, or NULL */
	size_t ack_len;
	uint8_t new_status;		/* what the delivery becomes */
	int64_t next_at;		/* when pending: the next attempt */
	int no_attempt;			/* store_delivery_fail's: none made */
};

/*
 * Take the data directory's lock (contract §10) before anything in it is read
 * or written: creates the directory (mode 0700) when missing, refuses one
 * that another user owns or can write ("... chmod 700 DIR"), and takes an
 * exclusive fcntl lock on DIR/lock (opened without following links), held
 * until the process exits. 0, or -1 with err set; when another process holds
 * it, err is "data directory DIR is in use by pid N". Calling it again once
 * held only repeats the directory checks.
 */
int store_lock(const char *dir, char *err, size_t errsz);
/* For the offline commands that read a store (hookd check, export): 0 when
 * dir exists, else -1 with err "data directory DIR does not exist", so that
 * they create nothing (store_lock would make it and a lock file in it). */
int store_dir_present(const char *dir, char *err, size_t errsz);
/* Write this process's pid into DIR/lock (after a start that succeeded, so
 * a failed start leaves the file as it was). 0 or -1. */
int store_lock_note_pid(void);

/* Open the data directory (store_lock first, if not yet taken), replay the registry and the
 * journal into memory, dropping a torn last record. 0, or -1 with err set to
 * "file:line: reason" (or the failing call). notice receives one line for
 * each repaired file (a dropped torn tail), may be NULL. */
int store_open(const char *dir, int fsync_always, char *err, size_t errsz,
    void (*notice)(const char *msg));
/*
 * hookd check (contract §18): under the data directory's lock, read both
 * files as a start would and call report("file:line: reason") for every
 * record that cannot be read (bad checksum, not a record, one that replay
 * refuses, a torn last line). With fix, those records are moved to
 * DIR/damaged-<time>.log (its path into moved) and each file is rewritten
 * without them, attempt chains kept (written, fsync'd, renamed, directory
 * fsync'd). Returns 1 when records were found (and, with fix, moved), 0
 * when none, -1 with err set (I/O, lock taken). Leaves the store closed.
 */
int store_check(const char *dir, int fix, void (*report)(const char *line),
    char *moved, size_t movedsz, char *err, size_t errsz);
/*
 * Moving a client between nodes (contract §17, store_move.c). What an
 * export wrote, or what an import added (new_client: the client record;
 * skipped: records the target held already, the same).
 */
struct store_move_stats {
	char client[UTIL_ID_MAX + 1];
	size_t endpoints, events, deliveries, pending, skipped;
	int new_client;
};
/*
 * hookd export: under DIR's lock, DIR read as a start reads it, write to
 * fd (a new regular file, from offset 0) the client's records: a header
 * line (format version, client, source DIR), the client's registry record
 * (token hash, secrets), its endpoints' (secrets, policies), every event of
 * the client the store holds (pending, and ended within the retention
 * window) with its deliveries' attempt records and requeues as a
 * compaction copies them, and an end line with the count of the lines
 * before it. Each line is a record in the journal's format (checksum,
 * space, JSON object), written by the store's encoder. fd is fsync'd;
 * when tmp is not NULL, fd's file (at path tmp) is then renamed to out and
 * the directory fsync'd, so out is an earlier export until a whole new one
 * replaces it. With del, the client is then deleted in DIR (its pending
 * deliveries end failed, "client deleted"; offline, so nothing is sent or
 * notified). 0, or -1 with err set (no such client: "no client ...").
 */
int store_export(const char *dir, const char *client, int fd,
    const char *tmp, const char *out, int del, struct store_move_stats *st,
    char *err, size_t errsz);
/*
 * hookd import: under DIR's lock, read the export in fd (named name in
 * messages; opened read-only, seekable) twice: alone, with the checks a
 * start makes, every bad line passed to report as "name:line: reason"
 * (then -1, nothing written); then against DIR as a start reads it:
 * records DIR holds already, the same, are skipped (counted); a client,
 * endpoint, event or delivery id DIR holds with other content refuses the
 * whole import, naming it. The new registry records are appended to the
 * registry and fsync'd, then the journal is written anew with the new
 * events merged in id order (fsync'd, renamed in, directory fsync'd).
 * path is the export's absolute path (NULL: standard input), written into
 * DIR/import.incomplete while the import changes DIR (see below); an
 * import whose run was interrupted is finished by running it again, and
 * another export is refused until then. A refused import into a directory
 * without a store leaves no registry.log or journal.log there.
 * 0, or -1 with err set.
 */
int store_import(const char *dir, int fd, const char *name,
    const char *path, void (*report)(const char *line),
    struct store_move_stats *st, char *err, size_t errsz);
/*
 * 1 when an import into DIR began changing it and did not finish (killed,
 * disk full): DIR/import.incomplete exists, written and fsync'd before an
 * import's first change and removed after its last. err then says "an
 * import of FILE was interrupted: run `hookd import -d DIR FILE` again to
 * finish it". 0 when not; -1 (err) when the file cannot be read. A start
 * (store_open), hookd export and hookd check refuse such a directory.
 */
int store_import_interrupted(const char *dir, char *err, size_t errsz);
/* Close the files (after a final store_sync). */
void store_close(void);

/*
 * Group commit. A registry record is written to its file at once; journal
 * records are batched in memory (their space reserved, so a full disk
 * fails the record itself) and reach the file in one write when a sync
 * starts. store_sync() writes the batch and fsyncs whatever was written
 * since the last call (files and, for new files, their directory). A 2xx
 * may be answered to requests whose writes are <= store_durable_seq().
 * store_sync returns 0, or -1 when the batch's write or an fsync failed
 * (the caller must exit: contract §6).
 */
uint64_t store_written_seq(void);
uint64_t store_durable_seq(void);
int store_sync(void);
/* After a failed sync: 1 when nothing written since the last good one can
 * be on disk (the batch's write failed and the file was cut back, and no
 * other write waited for an fsync), so every request waiting for it may
 * be answered 5xx; 0 otherwise (after a failed fsync its writes may yet
 * reach the disk: the waiting requests get no answer). */
int store_sync_lost_nothing_kept(void);

/*
 * The same, asynchronously: the fsyncs run in a helper thread while the
 * loop goes on. store_sync_fd starts it and returns the descriptor to poll
 * for completion (-1: no thread; use store_sync). store_sync_begin writes
 * the batch and starts a sync of what was written so far (1 started, 0 nothing to do or one is
 * under way, -1 failed: exit). When the descriptor is readable,
 * store_sync_end finishes it: 0, or -1 when an fsync failed (exit: contract
 * §6). store_sync waits for a running one first. Deliveries of new events
 * reach the engine (store_on_due) only once their event is durable.
 */
int store_sync_fd(void);
/* 1 while a sync started by store_sync_begin has not been ended. */
int store_sync_busy(void);
int store_sync_begin(void);
int store_sync_end(void);
/* 1 while writes succeed; 0 after a write failed for lack of space until a
 * later write succeeds (healthz answers 503 meanwhile). */
int store_writable(void);

/* node_id (contract §17): 0-255, put in the low 8 bits of every new id, so
 * that nodes with different node_ids never give out the same id. Set it
 * before store_open; the default is 0. */
#define STORE_NODE_MASK 0xffu
void store_set_node_id(unsigned node);

/* Ids: "ep_" / "evt_" / "dlv_" + 16 hex digits. */
void store_fmt_id(enum store_kind k, uint64_t id, char out[STORE_XID_MAX]);
/* Parse an id of kind k; 0 ok, -1 not such an id. */
int store_parse_id(enum store_kind k, const char *s, size_t len, uint64_t *id);

/*
 * Every mutation below writes its record first and changes memory only when
 * the write succeeded; -1 (or NULL from a create) means nothing changed
 * (errno: ENOSPC or EIO for the file, ENOMEM). Strings are copied. The
 * objects returned are the store's, valid until they are deleted or
 * compacted away; lookups return NULL when there is none. Times are epoch
 * ms unless said otherwise. The ..._count / ..._at / ..._after triples walk
 * a kind in its order for list pages: how many there are, the i-th (NULL
 * past the end), and the index of the first one after a page's last id.
 */

/* Clients, kept sorted by id. */
struct client *store_client_find(const char *id, size_t len);
/* The client whose token hashes to hash, or NULL: found through a table by
 * the stored SHA-256, then compared in constant time (sign_equal). */
struct client *store_client_by_token(const uint8_t hash[32]);
size_t store_client_count(void);
struct client *store_client_at(size_t i);	/* i-th in id order */
/* Index of the first client with id > after (0 when after is NULL). */
size_t store_client_after(const char *after, size_t len);
/* A new client (id already checked by util_client_id_ok; name may be NULL;
 * the token only as its SHA-256). The client, or NULL with errno. */
struct client *store_client_create(const char *id, const char *name,
    const uint8_t token_hash[32], const char *secret);
/* 1 when records that name client id remain (its events, until retention
 * compacts them away; its Idempotency-Keys, for 24 h): a deleted client's id
 * may not be given to a new client before then, or the new one would see
 * the old one's events, deliveries and keys (contract §18). Else 0. Two
 * lookups by id, whatever the store holds. */
int store_client_id_held(const char *id, size_t len, int64_t now);
/* Replace the client's token (its SHA-256): the old token stops working
 * at once. 0 or -1. */
int store_client_set_token(struct client *c, const uint8_t token_hash[32]);
/* New client secret (one-off callbacks); the old one keeps signing until
 * now + 24 h, as store_endpoint_rotate. 0, or -1 with errno set. */
int store_client_rotate(struct client *c, const char *secret, int64_t now);
/* Deletes its endpoints and fails its pending deliveries ("client deleted";
 * the engine is told through store_on_fail). */
int store_client_delete(struct client *c);

/* Endpoints, kept in id (creation) order. */
struct endpoint *store_endpoint_find(uint64_t id);
size_t store_endpoint_count(void);
struct endpoint *store_endpoint_at(size_t i);
size_t store_endpoint_after(uint64_t after);	/* first index with id > */
/* Create from a filled template (id, times, runtime fields are set here;
 * the pointers are copied deeply). The endpoint, or NULL with errno. */
struct endpoint *store_endpoint_create(const struct endpoint *tmpl);
/* Replace the mutable fields of e with those of tmpl (deep copies). 0 or
 * -1 (e unchanged). */
int store_endpoint_update(struct endpoint *e, const struct endpoint *tmpl);
/* Deletes e and fails its pending deliveries ("endpoint deleted"). */
int store_endpoint_delete(struct endpoint *e);
/* Disable e; with reason != NULL its pending deliveries fail with it. */
int store_endpoint_disable(struct endpoint *e, const char *reason);
/* New secret; the old one keeps signing until now + 24 h. */
int store_endpoint_rotate(struct endpoint *e, const char *secret, int64_t now);
/* Record whether the newest attempt to e failed (for disable_after). Memory
 * only: after a restart the clock starts again, which errs on keeping
 * endpoints enabled. */
void store_endpoint_note(struct endpoint *e, int ok, int64_t now);
/* Endpoint health (contract §15) at now: the newest attempt's outcomes,
 * and the deliveries that ended delivered or failed in the current clock
 * hour and the 23 before it. Kept by the store as attempts and deliveries
 * end, live and in replay: O(24), no scan. */
struct store_health {
	int64_t last_success_at, last_failure_at;	/* 0: none */
	uint64_t delivered_24h, failed_24h;
};
void store_endpoint_health(const struct endpoint *e, int64_t now,
    struct store_health *h);
/* 1 when the endpoint's filters match type. */
int store_endpoint_matches(const struct endpoint *e, const char *type,
    size_t len);
/*
 * The enabled endpoints of client c whose filters match type (len bytes),
 * exactly as store_endpoint_matches decides, in id order, each once: found
 * through the filter table (an exact filter by one lookup, a prefix filter
 * by one lookup per prefix length the client's filters hold), so other
 * clients' endpoints cost nothing and the client's own cost only what
 * matches. *out is a new array of *n pointers (NULL when none; the caller
 * frees it). 0, or -1 with errno ENOMEM.
 */
int store_match(struct client *c, const char *type, size_t len,
    struct endpoint ***out, size_t *n);

/* Events, kept in id order. */
struct event *store_event_find(uint64_t id);
/* The client of ev, found by its id (O(log n)); NULL once deleted. */
struct client *store_event_client(const struct event *ev);
size_t store_event_count(void);
struct event *store_event_at(size_t i);
size_t store_event_after(uint64_t after);
/*
 * Create an event and one delivery for each endpoint in eps and, when
 * oneoff_url is not NULL, a one-off delivery to that URL; all in one record,
 * so they are durable together. idem (may be NULL) is the Idempotency-Key,
 * with the answer to replay (status, body) kept for 24 h. The event, or
 * NULL with errno; its deliveries reach the engine (store_on_due) once the
 * record is durable.
 */
struct event *store_event_create(struct client *c, const char *type,
    size_t type_len, const char *data, size_t data_len,
    struct endpoint **eps, size_t neps, const char *oneoff_url,
    const char *idem, size_t idem_len, int64_t now);
/*
 * The same, with the event's deliveries held back until deliver_at (epoch
 * ms, contract §15; 0 or a time not after now: at once). deliver_at is in
 * the event's record, so replay and compaction keep it.
 */
struct event *store_event_create_at(struct client *c, const char *type,
    size_t type_len, const char *data, size_t data_len,
    struct endpoint **eps, size_t neps, const char *oneoff_url, int64_t now,
    int64_t deliver_at);
/*
 * An operational event (contract §15) of client id STORE_OPS_CLIENT with
 * one one-off delivery to url, in one journal record like any event (its
 * delivery reaches the engine once durable). The event, or NULL with errno.
 */
struct event *store_ops_event_create(const char *type, const char *data,
    size_t data_len, const char *url, int64_t now);
/* 1 when ev is an operational event (STORE_OPS_CLIENT), else 0. */
int store_event_is_ops(const struct event *ev);
/*
 * Gateway requests (contract §14). store_request_create makes an event of
 * client c whose id is the request's reqRefId, in state
 * STORE_GW_FORWARDING, with type (the route's), the request's description
 * req (JSON text, the event's data until it completes) and one upstream
 * delivery to upstream_url; one record, announced to the engine once
 * durable like store_event_create. The event, or NULL with errno.
 */
struct event *store_request_create(struct client *c, const char *type,
    const char *req, size_t req_len, const char *upstream_url, int64_t now);
/*
 * Complete a forwarding request ev (failed: STORE_GW_FAILED, else
 * COMPLETED): its type becomes type (at most UTIL_TYPE_MAX bytes), its data
 * data, the upstream's last status status (0: none), and it gets one
 * delivery per endpoint in eps plus the one-off to oneoff_url (may be
 * NULL); all in one record that holds the whole event, so that a crash
 * leaves either the request (called again: the upstream sees the same
 * Idempotency-Key) or the completed event, never two events. Its
 * deliveries reach the engine once durable. 0, or -1 with errno (EINVAL:
 * not forwarding; nothing changed).
 */
int store_request_complete(struct event *ev, int failed, int status,
    const char *type, size_t type_len, const char *data, size_t data_len,
    struct endpoint **eps, size_t neps, const char *oneoff_url, int64_t now);

/* The answer first given to an Idempotency-Key of client c within 24 h:
 * when req (SHA-256 of the request, as the caller defines it) matches the
 * one stored with it, fills *status and *body (borrowed) and returns 0;
 * 1 when the key was used with a different request (contract §11: 422);
 * -1 when none. */
int store_idem_find(const struct client *c, const char *key, size_t len,
    const uint8_t req[32], int64_t now, int *status, const char **body);
/* Remember the answer given to an Idempotency-Key and the hash of the
 * request it answered (memory and journal; kept across restarts and
 * compactions). req may be NULL: then any request matches. */
int store_idem_put(const struct client *c, const char *key, size_t len,
    const uint8_t req[32], int status, const char *body, int64_t now);
/* The event's payload: from memory, or read back from the journal into b.
 * Returns a pointer valid until b changes or the next store call, NULL on
 * failure. */
const char *store_event_data(struct event *ev, struct buf *b, size_t *len);

/* Deliveries, kept in id order. */
struct delivery *store_delivery_find(uint64_t id);
size_t store_delivery_count(void);
struct delivery *store_delivery_at(size_t i);
size_t store_delivery_after(uint64_t after);
/*
 * Filtered walks for list pages (contract §3), through the index that holds
 * the fewest candidates: a delivery walk through its event's list, its
 * endpoint's, its client id's or its status's (a tree of counts over the id
 * order), an event walk through its client id's or its (client id, type)'s
 * list; the whole array when no filter has one. A walk yields, in id order,
 * a superset of the records that pass the filters (every one that does):
 * the caller still applies them. The walk reads the store; it must end
 * before the next change. Deliveries come oldest first with id > *after;
 * events newest first with id < *before. NULL pointers: no such filter
 * (status: -1). client is a client id, which may be a deleted client's.
 */
struct store_walk {
	int how;			/* which index (store_index.c) */
	void *cur;			/* a list's next record */
	size_t i;			/* an array's next index */
	int status;
	uint64_t bound;			/* after / before */
	int has_bound;
};
void store_walk_deliveries(struct store_walk *w, const char *client,
    const uint64_t *endpoint, const uint64_t *event, int status,
    const uint64_t *after);
struct delivery *store_walk_delivery(struct store_walk *w);
void store_walk_events(struct store_walk *w, const char *client,
    const char *type, const uint64_t *before);
struct event *store_walk_event(struct store_walk *w);

/* Deliveries still pending (for /metrics), gateway requests' upstream
 * calls included; store_upstream_pending_count: those calls alone. */
size_t store_pending_count(void);
size_t store_upstream_pending_count(void);
/* Record an attempt's outcome and apply a->new_status / a->next_at. 0 or
 * -1. */
int store_delivery_attempted(struct delivery *d, const struct store_attempt *a);
/* Set a delivery pending again with its next attempt at next_at (retry,
 * replay); the engine hears of it through store_on_due. 0 or -1. */
int store_delivery_requeue(struct delivery *d, int64_t next_at);
/* End a pending delivery as failed with error (no attempt made). 0 or
 * -1. */
int store_delivery_fail(struct delivery *d, const char *error, int64_t now);
/*
 * Read back the newest attempt (log == NULL), or every attempt oldest first,
 * as JSON objects {"at","status","error","ms","body"} appended to log as a
 * JSON array's members separated by commas. *last / *ack receive the newest
 * attempt and its ack as JSON text (caller's buffers; "null" when none).
 * 0 or -1 (I/O error).
 */
int store_delivery_history(const struct delivery *d, struct buf *last,
    struct buf *ack, struct buf *log);

/* Keep at most n (>= 1) attempts in each delivery's log (max_log_attempts):
 * store_delivery_history reads back only the newest n, and compaction drops
 * older ones; a delivery's attempts count keeps counting them all. */
void store_set_max_log(size_t n);

/* The engine's hooks: called when a delivery becomes due (created, requeued)
 * or leaves pending without an attempt (failed by a delete or disable). Set
 * by the delivery engine; both may be NULL. */
extern void (*store_on_due)(struct delivery *d);
extern void (*store_on_fail)(struct delivery *d);
/* The engine's hook at a removal (delete, disable with a reason): end as
 * failed with error, at once, the deliveries in flight to e (or, with e
 * NULL, the one-off callbacks of client client_id); the rest are failed by
 * store_reap in the next passes. May be NULL. */
extern void (*store_on_remove)(struct endpoint *e, const char *client_id,
    const char *error);

/*
 * Removals in steps (issue 20 item 7). A delete or a disable with a reason
 * takes effect at once (the endpoint or client is gone from the registry, or
 * disabled, and its record is written), and its pending deliveries are
 * failed by store_reap, at most max a call, in removal order, with the same
 * records as when they were failed at once: 100k queued deliveries do not
 * stall the loop for half a second. A crash midway leaves a deleted
 * endpoint's remaining deliveries pending in the journal, and replay fails
 * them (the registry has the deletion). store_reap returns 1 while work
 * remains, else 0; store_reap_all finishes it (before a compaction, a
 * re-enable, and at close).
 */
#define STORE_REAP_PER_PASS 1000	/* a pass fails ~5 ms of deliveries */
int store_reap(size_t max);
void store_reap_all(void);

/* Iterate pending deliveries (for the engine at start). */
void store_foreach_pending(void (*fn)(struct delivery *d, void *arg),
    void *arg);

/*
 * Retention and compaction: drop finished events (and their deliveries) whose
 * newest change is older than retention_ms, and rewrite the journal and the
 * registry. Unless force is set, it only starts when the journal has doubled
 * since the last compaction (and is past a few MiB). The journal is written
 * by a thread while the loop keeps serving (the records kept of the journal
 * as it was at the start, gathered a step a pass, then those written since);
 * store_compact_poll() folds the result in. Returns 1 started, 0 not needed,
 * or -1 with errno (EBUSY: one is running).
 */
int store_compact_start(int64_t now, int64_t retention_ms, int force);
/* Called once per loop pass: advances a compaction (a step of its marking;
 * once its thread has copied what was planned, the records written
 * meanwhile are copied in rounds on a thread, the last small remainder by
 * this call, then the new file is renamed in, then the offsets in memory
 * are moved to it a few thousand events a call).
 * Returns 1 when one finished (err says what it did), 0 when there was
 * nothing to do or it goes on, -1 when it failed (err says why; the old
 * files stay). */
int store_compact_poll(char *err, size_t errsz);
/* 1 while a compaction marks (a step a pass), its plan or a round of its
 * catch-up is copied on a thread, or the offsets in memory are moved to
 * the new journal in steps (settling):
 * the loop should call store_compact_poll again soon (within a few ms),
 * not only at its next event. */
int store_compact_catching_up(void);

/* Size in bytes of the journal and the registry together, for /metrics. */
uint64_t store_journal_bytes(void);

/* Fault injection for tests (contract §6, issue 5): HOOKD_FAULT in the
 * environment, e.g. "fsync=3" (the 3rd fsync fails with EIO), "write=5",
 * "rename=1", "enospc=10" (writes fail with ENOSPC from the 10th on, until
 * the file DATADIR/.enospc-clear exists). Read once by store_open. */

#endif
