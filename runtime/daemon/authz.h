/* runtime/daemon/authz.h - calls signed with task credentials: the session
 * token check behind SigV4, and the role's policies on each call
 * (docs/credentials.md, "Calls to berthd with task credentials"). */
#ifndef BERTH_RUNTIME_DAEMON_AUTHZ_H
#define BERTH_RUNTIME_DAEMON_AUTHZ_H

#include <jansson.h>
#include <stddef.h>

#include "runtime/creds/issuer.h"
#include "runtime/daemon/api.h"
#include "runtime/daemon/daemon.h"
#include "runtime/daemon/sigv4.h"

/* Context for sigv4_keys.session: after a verified session request,
 * claims holds the token's claims (authz_session_clear frees them). */
struct authz_session {
	struct berthd *d;
	time_t now;
	struct creds_claims claims;
	bool have_claims;
};

/* sigv4_keys.session for berthd: creds_verify the token with d's host key,
 * the Credential's key id must be the token's, and the token's role must be
 * a configured "berth" role; the signing secret is creds_derive_secret's. */
int authz_session_cb(void *ctx, const char *akid, const char *token, size_t token_len, char *secret,
		     size_t secret_len, struct sigv4_result *res);
void authz_session_clear(struct authz_session *s);

/* The IAM action and resources of a call: action "ecs:<Op>" (berth's own
 * operations: "berth:<Op>"), resources the ARNs the request names (tasks,
 * clusters, container instances, the task definition it runs, the resource
 * it tags), or "*" for an operation without resource-level permissions.
 * *out is a new JSON array of strings. */
int authz_resources(struct berthd *d, const char *op, json_t *in, char **action, json_t **out);

/* May the role in claims call op with in? 0, or -1 with *e =
 * AccessDeniedException worded as AWS's ("User: arn:aws:sts::ACCOUNT:
 * assumed-role/ROLE/TASK is not authorized to perform: ecs:RunTask on
 * resource: ARN because no identity-based policy allows the ecs:RunTask
 * action"). Every denial is logged with the deciding statement. */
int authz_check(struct berthd *d, const struct creds_claims *claims, const char *op, json_t *in,
		struct api_error *e);

/* The role's policies on (action, resource) for another part of berthd
 * (secrets: the execution role reading a secret): 0 allowed, -1 denied with
 * *why (xmalloc'd) saying by what. A role not in berthd's configuration is
 * denied. */
int berthd_role_authorize(struct berthd *d, const char *role_arn, const char *action,
			  const char *resource, char **why);

#endif
