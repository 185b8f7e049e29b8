/*
 * store: the façade. Opening (replay of both files in order) and closing,
 * and the mutations that span the registry and the journal (deleting or
 * disabling an endpoint or a client fails its pending deliveries).
 */
#include "store_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *const store_status_names[STORE_FAILED + 1] = {
	[STORE_PENDING] = "pending",
	[STORE_DELIVERED] = "delivered",
	[STORE_FAILED] = "failed",
};

int
store_status_parse(const char *s)
{
	int k;

	for (k = STORE_PENDING; k <= STORE_FAILED; k++)
		if (strcmp(s, store_status_names[k]) == 0)
			return k;
	return -1;
}

int
store_client_id_held(const char *id, size_t len, int64_t now)
{
	if (event_index_holds(id, len))
		return 1;
	idem_expire(now, IDEM_EXPIRE_MAX);
	/* One lookup: the store may hold millions of other clients' keys. */
	return idem_id_held(id, len, now);
}

/*
 * Removals in steps: a queue of lists of deliveries to fail (an endpoint's
 * or a client's one-offs, through ep_next), each with its error and, for a
 * deleted endpoint, the endpoint itself, kept (removed, disabled) until its
 * list is done so that the engine's pointers to it stay valid. The queue is
 * worked in order, so two removals of one endpoint (a disable, then a
 * delete) end in the order they were made.
 */
struct reap {
	struct reap *next;
	struct delivery *cur;		/* the next delivery to visit */
	struct endpoint *e;		/* its endpoint, or NULL (one-offs) */
	int free_e;			/* a delete: free e at the end */
	char error[64];			/* the failure's error text */
};

static struct reap *reap_head, *reap_tail;

void (*store_on_remove)(struct endpoint *e, const char *client_id,
    const char *error);

/* Queue the failure of the list from head (e's, or one-offs when e is
 * NULL) with error; with free_e, e is freed when its list is done. 0, or
 * -1 (ENOMEM: nothing queued). */
static int
reap_add(struct delivery *head, struct endpoint *e, int free_e,
    const char *error)
{
	struct reap *r = calloc(1, sizeof(*r));

	if (r == NULL) {
		errno = ENOMEM;
		return -1;
	}
	r->cur = head;
	r->e = e;
	r->free_e = free_e;
	snprintf(r->error, sizeof(r->error), "%s", error);
	if (e != NULL)
		e->reaping++;
	if (reap_tail != NULL)
		reap_tail->next = r;
	else
		reap_head = r;
	reap_tail = r;
	return 0;
}

int
store_reap(size_t max)
{
	int64_t now = util_wall_ms();
	size_t n = 0;

	while (reap_head != NULL && n < max) {
		struct reap *r = reap_head;

		for (; r->cur != NULL && n < max; n++) {
			struct delivery *d = r->cur;

			r->cur = d->ep_next;
			if (d->status == STORE_PENDING)
				store_delivery_fail(d, r->error, now);
			if (r->free_e || r->e == NULL) {
				/* Its list is gone with the endpoint (or the
				 * client): the delivery is told so. */
				d->ep_next = NULL;
				if (r->free_e)
					d->endpoint = NULL;
			}
		}
		if (r->cur != NULL)
			break;
		reap_head = r->next;
		if (reap_head == NULL)
			reap_tail = NULL;
		if (r->e != NULL) {
			r->e->reaping--;
			if (r->free_e) {
				endpoint_free_fields(r->e);
				free(r->e);
			}
		}
		free(r);
	}
	return reap_head != NULL;
}

void
store_reap_all(void)
{
	(void)store_reap(SIZE_MAX);
}

/* Fail the list from head (e's, or a client's one-offs) in steps, e's
 * in-flight attempts at once. With no memory for the step, at once (as
 * before steps: correct, only slower). */
static void
fail_pending_of(struct delivery *head, struct endpoint *e, int free_e,
    const char *client_id, const char *error)
{
	if (store_on_remove != NULL)
		store_on_remove(e, client_id, error);
	if (reap_add(head, e, free_e, error) != 0) {
		int64_t now = util_wall_ms();
		struct delivery *d;

		for (d = head; d != NULL; d = d->ep_next)
			if (d->status == STORE_PENDING)
				store_delivery_fail(d, error, now);
		if (free_e) {
			struct delivery *next;

			for (d = head; d != NULL; d = next) {
				next = d->ep_next;
				d->ep_next = NULL;
				d->endpoint = NULL;
			}
			endpoint_free_fields(e);
			free(e);
		}
	}
}

/* Take e out of the registry at once: nothing finds, lists or matches it
 * any more, and the engine holds its deliveries (disabled) until the
 * reaper has failed them and frees it. */
static int
endpoint_remove(struct endpoint *e, const char *why)
{
	size_t i;
	struct delivery *head = e->dlv_head;

	/* A compaction's drop walking e's list goes on with the next. */
	dlv_forget_detach(e, NULL);
	e->ndlv = 0;
	ep_unindex(e);
	i = vec_lower(&st_registry.endpoints, e->id);
	vec_remove(&st_registry.endpoints, i);
	e->removed = 1;
	e->enabled = 0;
	e->dlv_head = e->dlv_tail = NULL;
	fail_pending_of(head, e, 1, NULL, why);
	return 0;
}

int
store_endpoint_delete(struct endpoint *e)
{
	rec_begin("endpoint-");
	rec_id("id", STORE_EP, e->id);
	if (rec_write(&st_files.reg) < 0)
		return -1;
	return endpoint_remove(e, "endpoint deleted");
}

int
store_endpoint_disable(struct endpoint *e, const char *reason)
{
	struct endpoint n = *e;

	n.enabled = 0;
	n.updated_at = util_wall_ms();
	if (endpoint_record(&n) < 0)
		return -1;
	e->enabled = 0;
	e->updated_at = n.updated_at;
	if (reason != NULL)
		fail_pending_of(e->dlv_head, e, 0, NULL, reason);
	return 0;
}

int
store_client_delete(struct client *c)
{
	struct endpoint *e;
	size_t i;
	struct delivery *head;

	rec_begin("client-");
	rec_str("id", c->id);
	if (rec_write(&st_files.reg) < 0)
		return -1;
	/* Its deliveries are its one-offs and those to its endpoints: each
	 * list is walked once, in steps. Its events find it by id, and find
	 * none (a one-off the engine starts meanwhile fails "client
	 * deleted", as the reaper would fail it). */
	dlv_forget_detach(NULL, c);
	head = c->oneoff_head;
	c->oneoff_head = c->oneoff_tail = NULL;
	fail_pending_of(head, NULL, 0, c->id, "client deleted");
	/* Its endpoints are on its own list: none of the others is looked
	 * at. */
	while ((e = c->ep_tail) != NULL)
		endpoint_remove(e, "client deleted");
	token_unindex(c);
	i = client_lower(c->id, strlen(c->id));
	vec_remove(&st_registry.clients, i);
	client_free(c);
	return 0;
}

int
store_open(const char *dir, int fsync_always, char *err, size_t errsz,
    void (*notice)(const char *msg))
{
	const char *fault = getenv("HOOKD_FAULT");
	size_t i;

	crc_init();
	file_on_durable = announce_durable;
	if (strlen(dir) >= sizeof(st_files.dir)) {
		snprintf(err, errsz, "%s: path too long", dir);
		return -1;
	}
	memcpy(st_files.dir, dir, strlen(dir) + 1);
	st_files.fsync_always = fsync_always;
	st_files.sync_failed = 0;	/* the files are read afresh below */
	if (fault != NULL) {
		st_files.fault_write = fault_get(fault, "write");
		st_files.fault_fsync = fault_get(fault, "fsync");
		st_files.fault_rename = fault_get(fault, "rename");
		st_files.fault_enospc = fault_get(fault, "enospc");
		st_files.fault_compact_slow = fault_get(fault, "compact_slow");
		st_files.fault_drop_per_pass = fault_get(fault,
		    "drop_per_pass");
		st_files.fault_mark_per_pass = fault_get(fault,
		    "mark_per_pass");
	}
	st_replay.ntoks = 256;
	st_replay.toks = malloc(st_replay.ntoks * sizeof(*st_replay.toks));
	if (st_replay.toks == NULL) {
		snprintf(err, errsz, "out of memory");
		return -1;
	}
	if (store_lock(dir, err, errsz) != 0)
		return -1;
	if (!st_importing && store_import_interrupted(dir, err, errsz) != 0)
		return -1;
	if (open_log(&st_files.reg, dir, "registry.log", err, errsz) != 0)
		return -1;
	errno = 0;
	if (replay_file(&st_files.reg, "registry.log", 0, replay_registry, err,
	    errsz, notice) != 0)
		goto damaged;
	if (st_registry.ngone > 0)
		qsort(st_registry.gone, st_registry.ngone,
		    sizeof(*st_registry.gone), cmp_u64);
	if (open_log(&st_files.jrn, dir, "journal.log", err, errsz) != 0)
		return -1;
	errno = 0;
	if (replay_file(&st_files.jrn, "journal.log", 1, replay_journal, err,
	    errsz, notice) != 0)
		goto damaged;
	/* A compacted journal's completed gateway requests came before the
	 * events after them, with newer deliveries. */
	index_sort_lists();
	index_status_build();
	free(st_registry.gone);
	st_registry.gone = NULL;
	st_registry.ngone = st_registry.capgone = 0;
	idem_sort();
	/* Records batch in memory and reach the file in one write per group
	 * commit; without space reservation each is written at once. */
	(void)file_batch_start(&st_files.jrn);
	requests_settle();
	if (orphans_settle() != 0) {
		snprintf(err, errsz, "%s: cannot write the journal: %s", dir,
		    strerror(errno));
		return -1;
	}
	/* Deliveries to endpoints deleted without their journal records
	 * (a crash between the two files) are settled now: their failure
	 * records are written and made durable below; a crash before that
	 * repeats this at the next start. */
	for (i = 0; i < st_journal.deliveries.n; i++) {
		struct delivery *d = st_journal.deliveries.v[i];

		if (d->status == STORE_FAILED && d->endpoint == NULL &&
		    d->url == NULL && d->last_off < 0) {
			sidx_move(d, d->status, STORE_PENDING);
			d->status = STORE_PENDING;
			st_journal.pending++;
			d->event->pending++;
			store_delivery_fail(d, "endpoint deleted",
			    util_wall_ms());
		}
	}
	if (store_sync() != 0) {
		snprintf(err, errsz, "%s: fsync: %s", dir, strerror(errno));
		return -1;
	}
	return 0;
damaged:
	/* A record that cannot be read (replay_fail sets EINVAL): say what
	 * sets the files right. */
	if (errno == EINVAL) {
		size_t n = strlen(err);

		snprintf(err + n, errsz - n, "; run hookd check --fix -d %s "
		    "(it moves unreadable records aside)", dir);
	}
	return -1;
}

void
store_close(void)
{
	size_t i;

	sync_thread_stop();
	compact_stop();
	/* Removals under way end now: their records are written below. */
	store_reap_all();
	/* What waits in the batch is written, as it was written at once
	 * before batching (unless a write or fsync failed: then nothing). */
	(void)file_flush(&st_files.jrn);
	file_batch_free(&st_files.jrn);
	if (st_files.reg.fd >= 0)
		close(st_files.reg.fd);
	if (st_files.jrn.fd >= 0)
		close(st_files.jrn.fd);
	for (i = 0; i < st_journal.events.n; i++)
		event_free(st_journal.events.v[i]);
	for (i = 0; i < st_registry.endpoints.n; i++) {
		struct endpoint *e = st_registry.endpoints.v[i];

		endpoint_free_fields(e);
		free(e->fidx);
		free(e);
	}
	index_free_all();
	for (i = 0; i < st_registry.clients.n; i++)
		client_free(st_registry.clients.v[i]);
	idem_free_all();
	util_htab_free(&st_registry.tokens);
	free(st_journal.events.v);
	free(st_registry.endpoints.v);
	free(st_registry.clients.v);
	free(st_journal.deliveries.v);
	free(st_replay.toks);
	free(st_journal.unannounced);
	free(st_registry.gone);
	free(st_journal.orphans);
	buf_free(&st_rec);
	memset(&st_files, 0, sizeof(st_files));
	memset(&st_replay, 0, sizeof(st_replay));
	memset(&st_registry, 0, sizeof(st_registry));
	memset(&st_journal, 0, sizeof(st_journal));
	st_files.reg.fd = st_files.jrn.fd = -1;
	st_files.writable = 1;
}
