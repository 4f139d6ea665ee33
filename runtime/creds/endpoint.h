/* runtime/creds/endpoint.h - the task's credentials and metadata endpoint.
 *
 * ECS serves a task's role credentials and its metadata at
 * http://169.254.170.2 (docs/credentials.md, "The endpoint"). berth serves
 * it from a listening socket inside each task's own network namespace, held
 * by the task's shim: no other task can connect to it, whatever id it
 * guesses, because no other task's traffic ever reaches that socket. This
 * module is the server: non-blocking HTTP/1.1 (one request per connection,
 * answered with Connection: close), the routes and ECS's answers to them,
 * a rate limit and an audit hook. The caller owns the listening socket and
 * the event loop; it passes each fd event here.
 *
 *   GET /v2/credentials/<credsId>   the role's credentials (RoleArn,
 *                                   AccessKeyId, SecretAccessKey, Token,
 *                                   Expiration)
 *   GET /v4/<containerId>           the container's metadata
 *   GET /v4/<containerId>/stats     its stats
 *   GET /v4/<containerId>/task      the task's metadata
 *   GET /v4/<containerId>/task/stats  every container's stats
 *
 * Errors are the ECS agent's JSON bodies: credentials
 * {"code":"NoIdInRequest"|"InvalidIdInRequest"|"CredentialsUninitialized",
 *  "message":...,"HTTPErrorCode":N}; metadata a JSON string with the reason.
 */
#ifndef BERTH_RUNTIME_CREDS_ENDPOINT_H
#define BERTH_RUNTIME_CREDS_ENDPOINT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define CREDS_EP_ADDR "169.254.170.2"
#define CREDS_EP_PORT 80
#define CREDS_EP_ID_LEN 36          /* ids are UUID-shaped, as the agent's */
#define CREDS_EP_MAX_CONNS 32       /* open connections at once; more wait in the backlog */
#define CREDS_EP_REQUEST_MAX 8192   /* request line + headers */
#define CREDS_EP_IDLE_SECONDS 5.0   /* a connection that has not sent its request by then is closed */
/* Requests per second a task may make (sustained) and its burst: the
 * agent throttles its endpoints similarly (botocore retries 3 times). */
#define CREDS_EP_RATE 40.0
#define CREDS_EP_BURST 80.0

enum creds_ep_route {
	CREDS_EP_CREDENTIALS,
	CREDS_EP_CONTAINER,
	CREDS_EP_CONTAINER_STATS,
	CREDS_EP_TASK,
	CREDS_EP_TASK_STATS,
};

struct creds_ep_ops {
	/* The role's credentials as ECS shapes them (a new reference), or NULL
	 * with *message (xmalloc'd) when there are none yet: answered 503
	 * CredentialsUninitialized. */
	json_t *(*credentials)(void *ctx, char **message);
	/* Metadata for route (container: its name for the container routes,
	 * NULL for the task ones): a new reference, or NULL with *message
	 * (xmalloc'd): answered 500 with it. */
	json_t *(*metadata)(void *ctx, enum creds_ep_route route, const char *container, char **message);
	/* One line per request answered (may be NULL): "GET /v2/credentials/... 200". */
	void (*audit)(void *ctx, const char *line);
};

struct creds_ep_config {
	const char *creds_id;                   /* NULL: the task has no role */
	/* When set (host-mode tasks, whose endpoint is on the host's loopback),
	 * a credentials request must carry "Authorization: <auth_token>"
	 * (AWS_CONTAINER_AUTHORIZATION_TOKEN), or it is answered 401. */
	const char *auth_token;
	const char *const *container_ids;       /* n_containers v4 ids ... */
	const char *const *container_names;     /* ... and the containers they name */
	size_t n_containers;
	double rate, burst;                     /* 0: CREDS_EP_RATE, CREDS_EP_BURST */
};

struct creds_ep;

/* A server on listen_fd (non-blocking, listening; the caller keeps it
 * open until creds_ep_free, which does not close it). cfg is copied. */
int creds_ep_new(int listen_fd, const struct creds_ep_config *cfg, const struct creds_ep_ops *ops,
		 void *ctx, struct creds_ep **out, struct berr **err);
void creds_ep_free(struct creds_ep *ep);

/* Register the listening socket (and later each connection) with epfd,
 * with epoll_data.fd set to the fd. */
int creds_ep_attach(struct creds_ep *ep, int epfd, struct berr **err);

/* Handle an event on fd at time now (a monotonic clock, seconds): true
 * when fd is the endpoint's (listener or connection), false otherwise. */
bool creds_ep_handle(struct creds_ep *ep, int fd, uint32_t events, double now);

/* Close connections idle longer than CREDS_EP_IDLE_SECONDS; returns when
 * the next one would time out (seconds from now), or -1 when none is open. */
double creds_ep_tick(struct creds_ep *ep, double now);

size_t creds_ep_n_conns(const struct creds_ep *ep);

/* ---- the pieces, for tests and fuzzing ---- */

/* The head of a request in buf[0..len): 1 complete (method and path
 * filled, pointing into buf, not NUL-terminated), 0 more bytes needed, -1
 * malformed (*status: 400, 405, 414 or 431). Only GET (and HEAD) are
 * served; the path is the target up to '?'. */
struct creds_ep_req {
	const char *method, *path;
	size_t method_len, path_len;
	const char *auth;          /* the Authorization header's value, or NULL */
	size_t auth_len;
	int n_auth;                /* how many Authorization headers */
	size_t head_len;
};
int creds_ep_parse(const char *buf, size_t len, struct creds_ep_req *req, int *status);

/* The response to a parsed request (a whole HTTP/1.1 message, xmalloc'd,
 * *len bytes) and its status. Consumes one token of the rate limit at now. */
char *creds_ep_respond(struct creds_ep *ep, const struct creds_ep_req *req, double now, size_t *len,
		       int *status);

/* A fresh random UUID-shaped id (36 characters and the NUL). */
void creds_ep_new_id(char out[CREDS_EP_ID_LEN + 1]);

#endif
