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

int
store_client_id_held(const char *id, size_t len, int64_t now)
{
	const struct idem *k;

	if (event_index_holds(id, len))
		return 1;
	idem_expire(now, IDEM_EXPIRE_MAX);
	for (k = st_idem.head; k != NULL; k = k->qnext)
		if (now - k->at < STORE_IDEM_MS &&
		    util_span_eq(id, len, k->client))
			return 1;
	return 0;
}

/* End every pending delivery of the list d (through ep_next: an endpoint's
 * or a client's one-offs) as failed with error: the work is the list's
 * length, not the store's size. */
static void
fail_pending_of(struct delivery *d, const char *error)
{
	int64_t now = util_wall_ms();

	for (; d != NULL; d = d->ep_next)
		if (d->status == STORE_PENDING)
			store_delivery_fail(d, error, now);
}

/* Empty the list head..tail, its deliveries told it is gone (with
 * endpoint, their endpoint pointer too). */
static void
dlv_list_clear(struct delivery **head, struct delivery **tail, int endpoint)
{
	struct delivery *d, *next;

	for (d = *head; d != NULL; d = next) {
		next = d->ep_next;
		d->ep_next = NULL;
		if (endpoint)
			d->endpoint = NULL;
	}
	*head = *tail = NULL;
}

static int
endpoint_remove(struct endpoint *e, const char *why)
{
	size_t i;

	fail_pending_of(e->dlv_head, why);
	dlv_list_clear(&e->dlv_head, &e->dlv_tail, 1);
	e->ndlv = 0;
	ep_unindex(e);
	i = vec_lower(&st_registry.endpoints, e->id);
	vec_remove(&st_registry.endpoints, i);
	endpoint_free_fields(e);
	free(e);
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
		fail_pending_of(e->dlv_head, reason);
	return 0;
}

int
store_client_delete(struct client *c)
{
	struct endpoint *e;
	size_t i;

	rec_begin("client-");
	rec_str("id", c->id);
	if (rec_write(&st_files.reg) < 0)
		return -1;
	/* Its deliveries are its one-offs and those to its endpoints: each
	 * list is walked once. Its events find it by id, and find none. */
	fail_pending_of(c->oneoff_head, "client deleted");
	dlv_list_clear(&c->oneoff_head, &c->oneoff_tail, 0);
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
	}
	st_replay.ntoks = 256;
	st_replay.toks = malloc(st_replay.ntoks * sizeof(*st_replay.toks));
	if (st_replay.toks == NULL) {
		snprintf(err, errsz, "out of memory");
		return -1;
	}
	if (store_lock(dir, err, errsz) != 0)
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
	buf_free(&st_files.rec);
	memset(&st_files, 0, sizeof(st_files));
	memset(&st_replay, 0, sizeof(st_replay));
	memset(&st_registry, 0, sizeof(st_registry));
	memset(&st_journal, 0, sizeof(st_journal));
	st_files.reg.fd = st_files.jrn.fd = -1;
	st_files.writable = 1;
}
