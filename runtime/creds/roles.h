/* runtime/creds/roles.h - task roles: berthd.json's "roles" and the keys of
 * static roles.
 *
 * A task definition's taskRoleArn / executionRoleArn names a role that
 * berthd's configuration must define (docs/credentials.md, "Roles"):
 *
 *     "roles": [
 *       {"roleArn": "arn:aws:iam::123456789012:role/web",
 *        "source": "berth", "durationSeconds": 21600,
 *        "policies": [{"Version": "2012-10-17", "Statement": [...]}]},
 *       {"roleArn": "arn:aws:iam::123456789012:role/s3-reader", "source": "static"}],
 *     "roleCredentialsFile": "/etc/berth/role-credentials.json"
 *
 * source "berth" (the default): berthd's issuer mints session credentials
 * that berthd's own API accepts and authorizes with the role's policies.
 * source "static": fixed keys from roleCredentialsFile (root-only), handed
 * to the task unchanged; berthd's API does not accept them. source
 * "process" (an operator's STS broker) is refused as not supported yet.
 */
#ifndef BERTH_RUNTIME_CREDS_ROLES_H
#define BERTH_RUNTIME_CREDS_ROLES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "runtime/creds/policy.h"

#define CREDS_ROLES_MAX 1024
#define CREDS_ROLE_POLICIES_MAX 10       /* IAM: 10 managed policies per role */
#define CREDS_STATIC_FILE_MAX (1u << 20)

enum creds_source_kind {
	CREDS_SOURCE_BERTH,
	CREDS_SOURCE_STATIC,
};

/* Keys of a static role, from roleCredentialsFile. */
struct creds_static_keys {
	char *access_key_id;
	char *secret_access_key;   /* wiped on free */
	char *session_token;       /* or NULL */
};

struct creds_role {
	char *arn;
	char *name;                    /* the part after "role/" (its last path element) */
	enum creds_source_kind source;
	struct creds_policy **policies;   /* berth source: n_policies of them */
	size_t n_policies;
	int64_t duration;              /* berth source: lifetime of minted sets, seconds */
	struct creds_static_keys keys; /* static source, after creds_roles_load_static */
	bool have_keys;
};

struct creds_roles {
	struct creds_role *v;
	size_t n;
	char *static_file;             /* "roleCredentialsFile", or NULL */
};

/* Parse "roles" (an array, or NULL/JSON null for none) and
 * "roleCredentialsFile" (a string or NULL) of berthd.json into *out
 * (initialised here). Errors name the JSON path: `roles[1].policies[0].
 * Statement[0].Effect: ...`, `roles[2].roleArn: "x" is not a role ARN
 * (arn:aws:iam::ACCOUNT:role/NAME)`, duplicate role ARNs, a static role
 * without roleCredentialsFile. On failure *out is left empty. */
int creds_roles_parse(const json_t *roles, const json_t *static_file, struct creds_roles *out,
		      struct berr **err);
void creds_roles_free(struct creds_roles *r);

/* Read roleCredentialsFile: {"ROLE_ARN": {"AccessKeyId": ..., "SecretAccessKey": ...,
 * "SessionToken": ...optional}, ...}. The file must be a regular file owned
 * by the caller's euid with no group/other permission bits (as the host
 * key); every static role must have an entry, and every entry must name a
 * static role. No file configured and no static role: 0. */
int creds_roles_load_static(struct creds_roles *r, struct berr **err);

/* The keys of one static role from roleCredentialsFile path (the same
 * checks), for the shim serving the task's endpoint. */
int creds_static_keys_load(const char *path, const char *arn, struct creds_static_keys *out,
			   struct berr **err);
void creds_static_keys_clear(struct creds_static_keys *k);

/* The role called arn, or NULL. */
const struct creds_role *creds_roles_find(const struct creds_roles *r, const char *arn);

/* Is `arn` a well-formed IAM role ARN (arn:PARTITION:iam::12DIGITS:role/[PATH/]NAME)?
 * When it is not, *why (if not NULL) points at a static reason. */
bool creds_role_arn_valid(const char *arn, const char **why);

/* The role's policies on (action, resource); a static role, whose calls
 * berthd never sees, has none and denies implicitly. */
enum creds_decision creds_role_authorize(const struct creds_role *role, const char *action,
					 const char *resource, struct creds_verdict *v);

const char *creds_source_name(enum creds_source_kind k);

#endif
