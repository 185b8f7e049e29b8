/*
 * server: the inbound side: the listening socket and the accepted
 * connections (read, parse, hand to the API, wait for durability, write),
 * and the group commit their answers wait for. Driven by main.
 */
#ifndef HOOKD_SERVER_H
#define HOOKD_SERVER_H

#include <stddef.h>
#include <stdint.h>

/*
 * Bind the listening socket to value ("ADDR:PORT" or "[V6]:PORT"), without
 * listening yet. It is bound before the store is opened, so that a taken
 * port fails the start before anything is written (contract §10), and
 * listens (server_listen) only once hookd is ready, so that a connection
 * that succeeds finds the admin token written and the store open. 0, or -1
 * with the reason in err (errsz bytes).
 */
int server_listen_bind(const char *value, char *err, size_t errsz);

/*
 * Listen on the socket server_listen_bind bound, log the address actually
 * bound ("listening", port 0 picks one) and start accepting. 0, or -1 with
 * the reason in err (errsz bytes).
 */
int server_listen(const char *value, char *err, size_t errsz);

/* Hook the inbound side to the engine's lookups and the store's sync
 * thread (without one, every fsync runs in the loop). After deliver_init. */
void server_start(void);

/* Run again the requests parked for a lookup that was answered or whose
 * deadline passed (contract §11). Once a pass, after the callbacks. */
void server_parked_run(void);

/*
 * Group commit: all set syncs whatever was written, now (at exit); else a
 * sync starts when an answer waits, or when the oldest unsynced write is a
 * little old. Then every answer the durable writes cover goes out. A failed
 * fsync is never acknowledged: it goes to the server_on_sync_fail callback
 * (main logs it and exits 1), and the next start recovers from the files
 * (contract §6).
 */
void server_commit(int all);

/* Register fn, called with errno when a group commit's fsync fails. Only
 * main exits, so fn is main's: it logs "fsync failed" and exits 1. Were fn
 * to return (or none set), the answers waiting for that commit would never
 * go out: the store fails every sync after a failed one. Set before the
 * first server_commit. */
void server_on_sync_fail(void (*fn)(int err));

/*
 * Once a pass, after the engine: close connections past their deadline
 * (while draining, the idle ones too), poll the listener only while a
 * connection could be taken. Returns the nearest inbound deadline (loop
 * ms: connections, a paused accept, a lazy sync; loop_now when an answer
 * waits for a sync that can start now).
 */
int64_t server_tick(void);

/* Connections busy with a request (not idle, not lingering after their
 * answer), as counted by the last server_tick. */
size_t server_busy(void);
/* Connections open. */
size_t server_nconns(void);

/* Start draining: close the listener, answer without keep-alive, and let
 * server_tick close idle connections. */
void server_drain(void);

/* Close every connection (at exit, after the last commit). */
void server_close_all(void);

#endif
