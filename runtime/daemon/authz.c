/* runtime/daemon/authz.c - task credentials on berthd's API (authz.h). */
#include "runtime/daemon/authz.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/error.h"
#include "common/json.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "runtime/daemon/api.h"
#include "runtime/daemon/discovery.h"
#include "runtime/creds/policy.h"
#include "runtime/creds/roles.h"
#include "runtime/daemon/store.h"

void authz_session_clear(struct authz_session *s)
{
	if (s->have_claims)
		creds_claims_clear(&s->claims);
	s->have_claims = false;
}

int authz_session_cb(void *ctx, const char *akid, const char *token, size_t token_len, char *secret,
		     size_t secret_len, struct sigv4_result *res)
{
	struct authz_session *s = ctx;
	struct berthd *d = s->d;
	cleanup_berr struct berr *err = NULL;
	enum creds_token_status why = CREDS_TOKEN_OK;
	const struct creds_role *role;
	char derived[CREDS_SECRET_LEN + 1];

	authz_session_clear(s);
	if (!d->have_host_key)
		return sigv4_refuse(res, SIGV4_UNRECOGNIZED, "The security token included in the request is "
				    "invalid.");
	if (creds_verify(d->host_key, token, token_len, (int64_t)s->now, &s->claims, &why, &err) < 0) {
		log_info("api: session token refused (key \"%s\"): %s", akid, berr_msg(err));
		if (why == CREDS_TOKEN_EXPIRED)
			return sigv4_refuse(res, SIGV4_EXPIRED_TOKEN, "The security token included in the "
					    "request is expired");
		return sigv4_refuse(res, SIGV4_UNRECOGNIZED, "The security token included in the request "
				    "is invalid.");
	}
	s->have_claims = true;
	if (strcmp(s->claims.access_key_id, akid)) {
		authz_session_clear(s);
		return sigv4_refuse(res, SIGV4_UNRECOGNIZED, "The security token included in the request "
				    "is invalid.");
	}
	role = creds_roles_find(&d->cfg.roles, s->claims.role_arn);
	if (!role || role->source != CREDS_SOURCE_BERTH) {
		log_info("api: session token of key \"%s\" is for role %s, which berthd's configuration "
			 "no longer defines (as a \"berth\" role): refused", akid, s->claims.role_arn);
		authz_session_clear(s);
		return sigv4_refuse(res, SIGV4_UNRECOGNIZED, "The security token included in the request "
				    "is invalid.");
	}
	creds_derive_secret(d->host_key, &s->claims, derived);
	if (secret_len <= strlen(derived)) {
		explicit_bzero(derived, sizeof(derived));
		authz_session_clear(s);
		return sigv4_refuse(res, SIGV4_UNRECOGNIZED, "The security token included in the request "
				    "is invalid.");
	}
	memcpy(secret, derived, strlen(derived) + 1);
	explicit_bzero(derived, sizeof(derived));
	return 0;
}

/* ------------------------------------------------------------- resources */

static void add(json_t *out, char *arn)
{
	json_array_append_new(out, json_string(arn));
	free(arn);
}

/* the request's cluster name ("default" when absent); a malformed one is
 * kept as written (the operation itself rejects it after authorization) */
static char *cluster_of(struct berthd *d, json_t *in, const char *key)
{
	const char *s = json_string_value(json_object_get(in, key));
	const char *slash;

	if (!s)
		return xstrdup("default");
	if (!strncmp(s, "arn:", 4) && (slash = strstr(s, ":cluster/")))
		return xstrdup(slash + strlen(":cluster/"));
	(void)d;
	return xstrdup(s);
}

/* task refs (ids or ARNs) -> task ARNs */
static void add_task(struct berthd *d, json_t *out, const char *cluster, const char *ref)
{
	if (!strncmp(ref, "arn:", 4))
		add(out, xstrdup(ref));
	else
		add(out, api_arn(d, "task/%s/%s", cluster, ref));
}

static void add_instance(struct berthd *d, json_t *out, const char *cluster, const char *ref)
{
	if (!strncmp(ref, "arn:", 4))
		add(out, xstrdup(ref));
	else
		add(out, api_arn(d, "container-instance/%s/%s", cluster, ref));
}

/* "family", "family:3" or an ARN -> the task definition's ARN; a bare
 * family names its latest ACTIVE revision (what RunTask would run) */
static void add_taskdef(struct berthd *d, json_t *out, const char *ref)
{
	cleanup_berr struct berr *err = NULL;
	cleanup_json json_t *doc = NULL;
	const char *arn;

	if (!strncmp(ref, "arn:", 4) || strchr(ref, ':')) {
		add(out, strncmp(ref, "arn:", 4) ? api_arn(d, "task-definition/%s", ref) : xstrdup(ref));
		return;
	}
	if (store_taskdef_get(d->st, ref, 0, &doc, &err) > 0 &&
	    (arn = json_string_value(json_object_get(doc, "taskDefinitionArn")))) {
		add(out, xstrdup(arn));
		return;
	}
	add(out, api_arn(d, "task-definition/%s", ref));
}

static void each_string(json_t *arr, void (*fn)(struct berthd *, json_t *, const char *, const char *),
			struct berthd *d, json_t *out, const char *cluster)
{
	size_t i;
	json_t *v;

	json_array_foreach(arr, i, v)
		if (json_is_string(v))
			fn(d, out, cluster, json_string_value(v));
}

int authz_resources(struct berthd *d, const char *op, json_t *in, char **action, json_t **out)
{
	cleanup_free char *cluster = cluster_of(d, in, "cluster");
	json_t *res = json_array();
	const char *s;

	if (!strncmp(op, "BerthV1.", 8))
		*action = xasprintf("berth:%s", op + 8);
	else if (!strncmp(op, API_AAS_PREFIX, strlen(API_AAS_PREFIX)))
		*action = xasprintf("application-autoscaling:%s", op + strlen(API_AAS_PREFIX));
	else if (!strncmp(op, API_SD_PREFIX, strlen(API_SD_PREFIX)))
		*action = xasprintf("servicediscovery:%s", op + strlen(API_SD_PREFIX));
	else
		*action = xasprintf("ecs:%s", op);
	if (!strcmp(op, "RunTask") || !strcmp(op, "StartTask")) {
		if ((s = json_string_value(json_object_get(in, "taskDefinition"))))
			add_taskdef(d, res, s);
	} else if (!strcmp(op, "DescribeTaskDefinition") || !strcmp(op, "DeregisterTaskDefinition")) {
		if ((s = json_string_value(json_object_get(in, "taskDefinition"))))
			add_taskdef(d, res, s);
	} else if (!strcmp(op, "StopTask")) {
		if ((s = json_string_value(json_object_get(in, "task"))))
			add_task(d, res, cluster, s);
	} else if (!strcmp(op, "DescribeTasks")) {
		each_string(json_object_get(in, "tasks"), add_task, d, res, cluster);
	} else if (!strcmp(op, "DescribeContainerInstances") ||
		   !strcmp(op, "UpdateContainerInstancesState")) {
		each_string(json_object_get(in, "containerInstances"), add_instance, d, res, cluster);
	} else if (!strcmp(op, "CreateCluster")) {
		s = json_string_value(json_object_get(in, "clusterName"));
		add(res, api_arn(d, "cluster/%s", s ? s : "default"));
	} else if (!strcmp(op, "DeleteCluster") || !strcmp(op, "ListTasks") ||
		   !strcmp(op, "ListContainerInstances") || !strcmp(op, "PutAttributes") ||
		   !strcmp(op, "DeleteAttributes") || !strcmp(op, "ListAttributes")) {
		add(res, api_arn(d, "cluster/%s", cluster));
	} else if (!strcmp(op, "DescribeClusters")) {
		json_t *a = json_object_get(in, "clusters");
		size_t i;
		json_t *v;

		if (!json_array_size(a))
			add(res, api_arn(d, "cluster/default"));
		json_array_foreach(a, i, v)
			if (json_is_string(v))
				add(res, !strncmp(json_string_value(v), "arn:", 4)
					 ? xstrdup(json_string_value(v))
					 : api_arn(d, "cluster/%s", json_string_value(v)));
	} else if (!strcmp(op, "TagResource") || !strcmp(op, "UntagResource") ||
		   !strcmp(op, "ListTagsForResource")) {
		if ((s = json_string_value(json_object_get(in, "resourceArn"))))
			add(res, xstrdup(s));
	}
	if (json_array_size(res) == 0)
		json_array_append_new(res, json_string("*"));
	*out = res;
	return 0;
}

/* ------------------------------------------------------------------ check */

static char *principal(struct berthd *d, const struct creds_claims *c)
{
	const char *role = strrchr(c->role_arn, '/');
	const char *task = strrchr(c->task_arn, '/');

	return xasprintf("arn:aws:sts::%s:assumed-role/%s/%s", d->cfg.account_id, role ? role + 1 : c->role_arn,
			 task ? task + 1 : c->task_arn);
}

int authz_check(struct berthd *d, const struct creds_claims *claims, const char *op, json_t *in,
		struct api_error *e)
{
	const struct creds_role *role = creds_roles_find(&d->cfg.roles, claims->role_arn);
	cleanup_free char *action = NULL, *who = NULL;
	cleanup_json json_t *res = NULL;
	size_t i;
	json_t *v;

	authz_resources(d, op, in, &action, &res);
	who = principal(d, claims);
	json_array_foreach(res, i, v) {
		const char *r = json_string_value(v);
		struct creds_verdict verdict;
		enum creds_decision dec;
		cleanup_free char *how = NULL;

		dec = role ? creds_role_authorize(role, action, r, &verdict) : CREDS_DENY_IMPLICIT;
		if (dec == CREDS_ALLOW)
			continue;
		if (role)
			how = creds_verdict_describe(&verdict);
		log_info("api: %s by %s (task %s): %s on %s: %s", op, claims->role_arn, claims->task_arn,
			 dec == CREDS_DENY_EXPLICIT ? "explicitly denied" : "denied", r,
			 how ? how : "the role is not configured");
		if (dec == CREDS_DENY_EXPLICIT)
			api_fail(e, "AccessDeniedException", "User: %s is not authorized to perform: %s on "
				 "resource: %s with an explicit deny in an identity-based policy", who, action, r);
		else
			api_fail(e, "AccessDeniedException", "User: %s is not authorized to perform: %s on "
				 "resource: %s because no identity-based policy allows the %s action", who,
				 action, r, action);
		return -1;
	}
	log_debug("api: %s by %s (task %s): allowed", op, claims->role_arn, claims->task_arn);
	return 0;
}

int berthd_role_authorize(struct berthd *d, const char *role_arn, const char *action,
			  const char *resource, char **why)
{
	const struct creds_role *role = role_arn ? creds_roles_find(&d->cfg.roles, role_arn) : NULL;
	struct creds_verdict v;

	*why = NULL;
	if (!role) {
		*why = xasprintf("role %s is not defined in berthd's configuration (\"roles\")",
				 role_arn ? role_arn : "(none)");
		return -1;
	}
	if (role->source != CREDS_SOURCE_BERTH) {
		*why = xasprintf("role %s is a static role: berthd has no policies for it", role_arn);
		return -1;
	}
	if (creds_role_authorize(role, action, resource, &v) == CREDS_ALLOW)
		return 0;
	{
		cleanup_free char *how = creds_verdict_describe(&v);

		*why = xasprintf("role %s may not %s on %s: %s", role_arn, action, resource, how);
	}
	return -1;
}
