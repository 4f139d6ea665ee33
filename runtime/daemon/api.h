/* runtime/daemon/api.h - the ECS API (JSON 1.1) as berthd serves it.
 *
 * One request is one operation: `X-Amz-Target:
 * AmazonEC2ContainerServiceV20141113.<Op>` with a JSON object body. The
 * server (server.c) finds the operation in api_ops[] and calls its handler
 * with the parsed body. A handler returns a new JSON object (the response
 * body, `{}` at least) or NULL after filling *e with the ECS error type
 * and message; botocore turns `{"__type": ..., "message": ...}` into the
 * exception of that name. Handlers never half-apply a change: everything
 * they change in the store is in one transaction.
 *
 * Shapes and names follow botocore's model (service-2.json, ECS
 * 2014-11-13): timestamps are epoch seconds as JSON reals, cpu and memory
 * of tasks are strings, optional fields are omitted rather than null. */
#ifndef BERTH_RUNTIME_DAEMON_API_H
#define BERTH_RUNTIME_DAEMON_API_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

struct berthd;

#define API_TARGET_PREFIX "AmazonEC2ContainerServiceV20141113."
/* berth's own operations, which ECS has no counterpart for (events, stats):
 * `X-Amz-Target: BerthV1.<Op>`, same protocol, same authentication. */
#define API_BERTH_PREFIX "BerthV1."

struct api_error {
	int status;          /* HTTP status: 400 client errors, 500 ServerException */
	char type[64];       /* "ClientException", "ClusterNotFoundException", ... */
	char *message;       /* xmalloc'd */
};

/* Fill *e (status 400, or 500 for "ServerException") and return NULL, so a
 * handler can `return api_fail(e, "ClientException", "...")`. */
json_t *api_fail(struct api_error *e, const char *type, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void api_error_clear(struct api_error *e);

/* A handler: `in` is the request body (an object, borrowed). */
typedef json_t *(*api_handler)(struct berthd *d, json_t *in, struct api_error *e);

struct api_op {
	const char *name;    /* "RunTask" */
	api_handler fn;      /* NULL: known to ECS, not built yet -> UnsupportedFeatureException */
};

/* The operation called `name` ("RunTask", or "BerthV1.ListEvents" for
 * berth's own), or NULL when there is no such operation (the server
 * answers UnknownOperationException then). */
const struct api_op *api_find(const char *name);

/* The operation name of an X-Amz-Target value (not NUL-terminated, len
 * bytes) into buf[buflen]: API_TARGET_PREFIX "RunTask" -> "RunTask",
 * API_BERTH_PREFIX "ListEvents" -> "BerthV1.ListEvents". NULL for any other
 * prefix, an empty name, a NUL byte, or a name that does not fit. */
const char *api_target_op(const char *target, size_t len, char *buf, size_t buflen);

/* Run one operation: parse-checked body in, response body out (new
 * reference) or NULL with *e filled. Unknown and unbuilt operations and
 * non-object bodies are answered here. */
json_t *api_call(struct berthd *d, const char *op, json_t *in, struct api_error *e);

/* ---- helpers shared by the handlers (api.c) ---- */

/* Time as ECS returns it: epoch seconds, real, millisecond precision. */
double api_now(void);
json_t *api_time(double t);           /* json_real(t), or NULL when t == 0 */

/* Typed input getters: 1 present, 0 absent (or null), NULL-returning-style
 * failure as -1 with *e = InvalidParameterException naming the field:
 * "maxResults: expected integer, got string". */
int api_get_string(json_t *in, const char *key, bool required, const char **out,
		   struct api_error *e);
int api_get_int(json_t *in, const char *key, bool required, int64_t min, int64_t max,
		int64_t *out, struct api_error *e);
int api_get_bool(json_t *in, const char *key, bool required, bool *out, struct api_error *e);
int api_get_array(json_t *in, const char *key, bool required, json_t **out,
		  struct api_error *e);
int api_get_object(json_t *in, const char *key, bool required, json_t **out,
		   struct api_error *e);

/* ARNs: arn:aws:ecs:<region>:<account>:<rest>. xmalloc'd. */
char *api_arn(const struct berthd *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The cluster a request names (`cluster`: a name or an ARN; absent: "default").
 * Writes the bare name into name[len]. Returns 0, or -1 with *e =
 * InvalidParameterException for a malformed ARN or name. Does not check
 * that the cluster exists. */
int api_cluster_name(const struct berthd *d, json_t *in, char *name, size_t len,
		     struct api_error *e);
/* The last ARN component after `kind/` (task/<cluster>/<id> -> id;
 * container-instance/<cluster>/<id> -> id), or the string itself when it
 * is not an ARN. Borrowed pointer into s. */
const char *api_arn_tail(const char *s);

/* Pagination over sorted keys: nextToken is an opaque base64 of the last
 * key returned. api_page_start decodes `nextToken` (InvalidParameterException
 * when it is not one of ours) into an xmalloc'd key or NULL; maxResults
 * defaults to `def` and must be in [1, max]. */
int api_page_start(json_t *in, int64_t def, int64_t max, char **after, int64_t *limit,
		   struct api_error *e);
char *api_page_token(const char *last_key);   /* xmalloc'd */

/* Tags: [{key, value}] (ECS spells them lower case). Validates AWS's rules
 * (at most 50, key 1-128 chars, value 0-256 chars, no "aws:" prefix):
 * InvalidParameterException naming tags[i].key otherwise. */
int api_check_tags(json_t *tags, struct api_error *e);

/* A store (or other internal) failure: logs berr_msg(*err) with the
 * context, frees *err and answers ServerException (HTTP 500)
 * "<context>: <message>". */
json_t *api_fail_berr(struct api_error *e, struct berr **err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The cluster called `name` when it exists and is not INACTIVE: 0 with
 * *doc (new reference; NULL allowed to only check), or -1 with *e =
 * ClusterNotFoundException "Cluster not found." (ServerException when
 * the store fails). */
int api_cluster_active(struct berthd *d, const char *name, json_t **doc, struct api_error *e);

/* At startup, after store_open: make sure cluster "default" exists and
 * register this host as its container instance (created once, its id kept
 * in the store, so d->instance_id and d->instance_arn are the same after
 * every restart; resources, version and built-in attributes refreshed). */
int api_bootstrap(struct berthd *d, struct berr **err);

/* ---- handler families (one file each) ---- */
/* api_cluster.c */
json_t *api_create_cluster(struct berthd *d, json_t *in, struct api_error *e);
json_t *api_describe_clusters(struct berthd *d, json_t *in, struct api_error *e);
json_t *api_list_clusters(struct berthd *d, json_t *in, struct api_error *e);
json_t *api_delete_cluster(struct berthd *d, json_t *in, struct api_error *e);
/* api_taskdef.c */
json_t *api_register_task_definition(struct berthd *d, json_t *in, struct api_error *e);
json_t *api_deregister_task_definition(struct berthd *d, json_t *in, struct api_error *e);
json_t *api_describe_task_definition(struct berthd *d, json_t *in, struct api_error *e);
json_t *api_list_task_definitions(struct berthd *d, json_t *in, struct api_error *e);
json_t *api_list_task_definition_families(struct berthd *d, json_t *in, struct api_error *e);
/* api_instance.c */
json_t *api_register_container_instance(struct berthd *d, json_t *in, struct api_error *e);
json_t *api_describe_container_instances(struct berthd *d, json_t *in, struct api_error *e);
json_t *api_list_container_instances(struct berthd *d, json_t *in, struct api_error *e);
json_t *api_update_container_instances_state(struct berthd *d, json_t *in, struct api_error *e);
json_t *api_put_attributes(struct berthd *d, json_t *in, struct api_error *e);
json_t *api_delete_attributes(struct berthd *d, json_t *in, struct api_error *e);
json_t *api_list_attributes(struct berthd *d, json_t *in, struct api_error *e);
/* api_tags.c */
json_t *api_tag_resource(struct berthd *d, json_t *in, struct api_error *e);
json_t *api_untag_resource(struct berthd *d, json_t *in, struct api_error *e);
json_t *api_list_tags_for_resource(struct berthd *d, json_t *in, struct api_error *e);
/* api_task.c */
json_t *api_run_task(struct berthd *d, json_t *in, struct api_error *e);
json_t *api_start_task(struct berthd *d, json_t *in, struct api_error *e);
json_t *api_stop_task(struct berthd *d, json_t *in, struct api_error *e);
json_t *api_describe_tasks(struct berthd *d, json_t *in, struct api_error *e);
json_t *api_list_tasks(struct berthd *d, json_t *in, struct api_error *e);
/* This host's availability zone: instance.availabilityZone, or <region>a
 * (xmalloc'd). */
char *api_availability_zone(const struct berthd *d);
/* for services.c: RunTask of one task whose id the caller chose (32 hex
 * digits; an INACTIVE task definition revision is allowed, as ECS lets a
 * service keep using one), and a stop with the caller's stopCode */
json_t *api_run_task_as(struct berthd *d, json_t *in, const char *id, struct api_error *e);
/* The same on the container instance the caller chose (a service's
 * controller in a cluster): another instance gets it through etcd
 * (cstate_assign); this one, or no cluster, is api_run_task_as. */
json_t *api_run_task_on(struct berthd *d, json_t *in, const char *id, const char *instance_id,
			const char *instance_arn, struct api_error *e);
int api_task_stop_as(struct berthd *d, const char *cluster, const char *id, const char *stop_code,
		     const char *reason, struct api_error *e);
/* Record task id STOPPED (TaskFailedToStart, why) unless it is already:
 * a task handed to this host that could not start (cstate.c). */
void api_task_fail_as(struct berthd *d, const char *id, const char *why);
/* doc as a STOPPED task: lastStatus and desiredStatus, stopCode and
 * stoppedReason, the times (stoppingAt kept if set), every container. */
void api_task_set_stopped(json_t *doc, const char *stop_code, const char *why, double now);
/* What a task of a task definition (family, family:rev or ARN) needs on
 * an instance: its reservation and its static host ports (none in awsvpc,
 * none for dynamic ones) */
struct api_task_needs {
	char *td_arn;
	bool active;          /* the revision is ACTIVE */
	bool awsvpc;
	bool health_check;    /* an essential container has a health check */
	json_t *taskdef;      /* the stored TaskDefinition document (a reference) */
	int64_t cpu, memory;
	uint16_t *tcp, *udp;
	size_t ntcp, nudp;
};
int api_task_needs(struct berthd *d, const char *ref, const char *launch_type, struct api_task_needs *out,
		   struct api_error *e);
void api_task_needs_free(struct api_task_needs *n);
/* api_service.c: services (docs/berthd.md, "Services") */
json_t *api_create_service(struct berthd *d, json_t *in, struct api_error *e);
json_t *api_update_service(struct berthd *d, json_t *in, struct api_error *e);
json_t *api_delete_service(struct berthd *d, json_t *in, struct api_error *e);
json_t *api_describe_services(struct berthd *d, json_t *in, struct api_error *e);
json_t *api_list_services(struct berthd *d, json_t *in, struct api_error *e);
/* api_berth.c: berth's own operations (BerthV1.*, docs/berthd.md) */
json_t *api_berth_list_events(struct berthd *d, json_t *in, struct api_error *e);
json_t *api_berth_get_task_stats(struct berthd *d, json_t *in, struct api_error *e);
/* schedules.c: scheduled tasks (docs/berthd.md, "Scheduled tasks") */
json_t *api_berth_create_schedule(struct berthd *d, json_t *in, struct api_error *e);
json_t *api_berth_describe_schedule(struct berthd *d, json_t *in, struct api_error *e);
json_t *api_berth_list_schedules(struct berthd *d, json_t *in, struct api_error *e);
json_t *api_berth_delete_schedule(struct berthd *d, json_t *in, struct api_error *e);
/* Run what is due: every schedule whose next fire time has come (the
 * services timer calls it). */
void schedules_step(struct berthd *d);
/* autoscaling.c: Application Auto Scaling for ECS services (docs/berthd.md,
 * "Service autoscaling"): `X-Amz-Target: AnyScaleFrontendService.<Op>`,
 * SigV4 service application-autoscaling; api_find takes them with that prefix. */
#define API_AAS_PREFIX "AnyScaleFrontendService."
json_t *api_aas_register_scalable_target(struct berthd *d, json_t *in, struct api_error *e);
json_t *api_aas_describe_scalable_targets(struct berthd *d, json_t *in, struct api_error *e);
json_t *api_aas_deregister_scalable_target(struct berthd *d, json_t *in, struct api_error *e);
json_t *api_aas_put_scaling_policy(struct berthd *d, json_t *in, struct api_error *e);
json_t *api_aas_describe_scaling_policies(struct berthd *d, json_t *in, struct api_error *e);
json_t *api_aas_delete_scaling_policy(struct berthd *d, json_t *in, struct api_error *e);
json_t *api_aas_describe_scaling_activities(struct berthd *d, json_t *in, struct api_error *e);
/* For services.c, each step of a REPLICA service: measures its tasks, and
 * when its scalable target's policies decide, 1 with *desired (and *cause,
 * xmalloc'd, the activity's words); 0: no change. */
int autoscaling_service_step(struct berthd *d, const char *cluster, const char *service, const json_t *live,
			     int32_t current, bool deployment_in_progress, int32_t *desired, char **cause);
void autoscaling_free(struct berthd *d);
/* api_secret.c: secrets (docs/credentials.md, "Secrets") */
json_t *api_berth_put_secret(struct berthd *d, json_t *in, struct api_error *e);
json_t *api_berth_list_secrets(struct berthd *d, json_t *in, struct api_error *e);
json_t *api_berth_delete_secret(struct berthd *d, json_t *in, struct api_error *e);
/* May role_arn do action ("secretsmanager:GetSecretValue",
 * "ssm:GetParameters") on resource_arn? 0 yes; otherwise *why (xmalloc'd or
 * NULL) says why not. */
typedef int (*api_secret_authorize_fn)(void *ctx, const char *role_arn, const char *action,
				       const char *resource_arn, char **why);
/* berthd's: the role's policies in berthd.json (berthd_role_authorize);
 * ctx is the struct berthd. */
int api_secret_authorize_role(void *ctx, const char *role_arn, const char *action,
			      const char *resource_arn, char **why);
struct task_def;
struct secret_payload;
/* Every container's secrets of td: each allowed by authorize for the task's
 * executionRoleArn, looked up, decrypted, into *out (empty when td has
 * none). An error is the task's stoppedReason, ECS's words:
 * "ResourceInitializationError: unable to pull secrets or registry auth:
 * ..." naming the container and secret, never a value. */
int api_secret_resolve(struct berthd *d, const struct task_def *td,
		       api_secret_authorize_fn authorize, void *actx, struct secret_payload *out,
		       struct berr **err);
/* api_secret_resolve for a shim's config.json document (taskDefinition,
 * overrides, mode, read as berth-shim reads them): *fd = a sealed memfd of
 * the values for `berth-shim --secrets-fd`, or -1 when the task has no
 * secrets. */
int api_secret_task_fd(struct berthd *d, const json_t *config, api_secret_authorize_fn authorize,
		       void *actx, int *fd, struct berr **err);

#endif
