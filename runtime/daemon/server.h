/* runtime/daemon/server.h - berthd's event loop and API listeners.
 *
 * One epoll set: the root-only unix socket, the optional SigV4 TCP
 * listener on loopback, their connections (HTTP/1.1 keep-alive, JSON 1.1
 * requests), the shims' control connections (shimmgr.c), a signalfd and an
 * idle-connection sweep. */
#ifndef BERTH_RUNTIME_DAEMON_SERVER_H
#define BERTH_RUNTIME_DAEMON_SERVER_H

#include <stdint.h>

#include "common/error.h"

struct berthd;
struct ev_handler;

/* Create d->epfd and bind the listeners (the unix socket replaces a stale
 * one, refuses a live one: "another berthd is serving ..."). */
int server_init(struct berthd *d, struct berr **err);
/* Serve until SIGTERM/SIGINT: then stop accepting, finish the responses
 * in flight and return 0. Tasks keep running (their shims are not ours). */
int server_run(struct berthd *d, struct berr **err);
/* Close listeners and connections; remove the unix socket. */
void server_fini(struct berthd *d);

/* Add/modify/remove an fd in the loop (for shimmgr). */
int server_watch(struct berthd *d, int fd, uint32_t events, struct ev_handler *h);
void server_unwatch(struct berthd *d, int fd);

/* Free obj with fn(obj) once the loop is done with the current batch of
 * events, and skip that batch's remaining events for its handlers h1 and
 * h2 (either may be NULL). An object that owns watched fds must be freed
 * this way (after closing them) whenever it can be freed from inside an
 * event handler: another event of the same batch may point at it. Outside
 * a batch fn runs at once. */
void server_release(struct berthd *d, const struct ev_handler *h1, const struct ev_handler *h2,
		    void *obj, void (*fn)(void *obj));

#endif
