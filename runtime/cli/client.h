/* runtime/cli/client.h - the berth CLI's client of berthd.
 *
 * One ECS JSON 1.1 call is one blocking HTTP/1.1 exchange on berthd's unix
 * socket (no signature there: the socket is root-only):
 *
 *     POST / HTTP/1.1
 *     X-Amz-Target: AmazonEC2ContainerServiceV20141113.<Op>
 *     Content-Type: application/x-amz-json-1.1
 *     Content-Length: N
 *     Connection: close
 *
 * and a response framed by Content-Length: the whole body is read (a
 * connection closed before it is complete is an error, never a short
 * answer). A 2xx body is the operation's JSON object; any other status
 * carries {"__type": "...", "message": "..."}, which becomes a client_error
 * of kind CLIENT_API with that type and message.
 *
 * This file depends on common/ and jansson only (no CLI globals), so the
 * unit tests link it on its own. */
#ifndef BERTH_RUNTIME_CLI_CLIENT_H
#define BERTH_RUNTIME_CLI_CLIENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define CLIENT_DEFAULT_SOCKET "/run/berth/berthd.sock"
#define CLIENT_DEFAULT_TIMEOUT_MS 60000
/* the largest response head and body accepted */
#define CLIENT_MAX_HEAD (64u << 10)
#define CLIENT_MAX_BODY (64u << 20)

enum client_error_kind {
	CLIENT_OK = 0,
	CLIENT_UNREACHABLE,   /* no socket, nobody listening, no permission */
	CLIENT_PROTOCOL,      /* timeout, truncated or malformed response */
	CLIENT_API,           /* berthd answered with an ECS error */
};

struct client_error {
	enum client_error_kind kind;
	int http_status;      /* CLIENT_API: the response's status */
	char type[64];        /* CLIENT_API: __type without a "namespace#" prefix */
	char *message;        /* for people, control bytes replaced; xmalloc'd */
};

/* The API socket: `opt` (the --socket option) when set, else $BERTH_SOCKET
 * when set and not empty, else CLIENT_DEFAULT_SOCKET. */
const char *client_socket_path(const char *opt);

/* Call `op` ("ListClusters") with `req` (an object; NULL sends {}).
 * timeout_ms bounds the whole exchange (<= 0: CLIENT_DEFAULT_TIMEOUT_MS).
 * Returns 0 with *resp a new reference to the response object, or -1
 * with *e filled (clear it with client_error_clear). */
int client_call(const char *socket_path, int timeout_ms, const char *op, const json_t *req,
		json_t **resp, struct client_error *e);

/* berth's own operations (events, stats) are X-Amz-Target: BerthV1.<Op>. */
#define CLIENT_BERTH_PREFIX "BerthV1."
/* client_call with another target prefix ("BerthV1.": letters, digits and
 * dots; NULL: ECS's). */
int client_call_target(const char *socket_path, int timeout_ms, const char *prefix,
		       const char *op, const json_t *req, json_t **resp, struct client_error *e);

void client_error_clear(struct client_error *e);

/* True when the error says the thing asked for does not exist: a
 * *NotFoundException, or an ECS ClientException/InvalidParameterException
 * whose message says "not found" / "does not exist" (that is how ECS
 * reports a missing task definition or task). */
bool client_error_not_found(const struct client_error *e);

#endif
