/* runtime/daemon/api_task.c - RunTask, StartTask, StopTask, DescribeTasks, ListTasks.
 *
 * RunTask validates everything it can before anything exists (the task
 * definition with the overrides, the launch type's rules, the network,
 * the host's remaining capacity), records every task PROVISIONING in one
 * transaction, and only then starts their shims: a berthd killed at any
 * point leaves either no task or a recorded one that live restore
 * (shimmgr_restore) adopts or marks STOPPED. */
#include "runtime/daemon/api.h"
#include "runtime/daemon/cstate.h"
#include "runtime/daemon/discovery.h"
#include "runtime/daemon/daemon.h"
#include "runtime/daemon/shimmgr.h"
#include "runtime/daemon/store.h"

#include "common/cleanup.h"
#include "common/json.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "runtime/task/task.h"
#include "scheduler/model.h"
#include "scheduler/place.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define RUN_TASK_MAX_COUNT 10
#define DESCRIBE_TASKS_MAX 100

static void hex_id(char *buf, size_t n_bytes)
{
	unsigned char r[32];

	if (getrandom(r, n_bytes, 0) != (ssize_t)n_bytes)
		abort();   /* getrandom on the urandom pool cannot fail after boot */
	for (size_t i = 0; i < n_bytes; i++)
		snprintf(buf + 2 * i, 3, "%02x", r[i]);
}

static void uuid(char *buf)
{
	unsigned char r[16];

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		abort();
	r[6] = (r[6] & 0x0f) | 0x40;
	r[8] = (r[8] & 0x3f) | 0x80;
	snprintf(buf, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12],
		 r[13], r[14], r[15]);
}

/* "family", "family:3" or a task-definition ARN -> (family, revision; 0 = latest) */
static int split_taskdef(const char *ref, char *family, size_t len, int64_t *rev)
{
	const char *p = strstr(ref, ":task-definition/");
	const char *colon;
	char *end;

	if (!strncmp(ref, "arn:", 4)) {
		if (!p)
			return -1;
		ref = p + strlen(":task-definition/");
	}
	colon = strrchr(ref, ':');
	*rev = 0;
	if (colon) {
		long long v;

		errno = 0;
		v = strtoll(colon + 1, &end, 10);
		if (errno || *end || end == colon + 1 || v < 1)
			return -1;
		*rev = v;
	}
	if ((colon ? (size_t)(colon - ref) : strlen(ref)) >= len || ref == colon || !*ref)
		return -1;
	snprintf(family, len, "%.*s", (int)(colon ? colon - ref : (long)strlen(ref)), ref);
	return 0;
}

/* The task definition document a request names; NULL with *e set. */
static json_t *find_taskdef(struct berthd *d, const char *ref, struct api_error *e)
{
	cleanup_berr struct berr *err = NULL;
	char family[256];
	int64_t rev;
	json_t *doc = NULL;
	int r;

	if (split_taskdef(ref, family, sizeof(family), &rev) < 0)
		return api_fail(e, "InvalidParameterException",
				"taskDefinition: \"%s\" is not a family, family:revision or "
				"task definition ARN", ref);
	r = store_taskdef_get(d->st, family, rev, &doc, &err);
	if (r < 0)
		return api_fail_berr(e, &err, "read task definition");
	if (r == 0)
		return api_fail(e, "ClientException", "TaskDefinition not found.");
	return doc;
}

/* The task definition in a stored doc, as runtime/task parses it: the
 * fields the API adds (ARN, revision, status, ...) are not part of it. */
static json_t *taskdef_body(const json_t *doc)
{
	static const char *const added[] = {
		"taskDefinitionArn", "revision", "status", "registeredAt", "registeredBy",
		"deregisteredAt", "compatibilities", "requiresAttributes", NULL,
	};
	json_t *body = json_deep_copy(doc);

	for (size_t i = 0; added[i]; i++)
		json_object_del(body, added[i]);
	return body;
}

static int64_t reservation_memory(const struct task_def *td)
{
	int64_t sum = 0;

	if (td->memory > 0)
		return td->memory;
	for (size_t i = 0; i < td->n_containers; i++) {
		const struct task_container *c = &td->containers[i];

		if (c->memory > 0)
			sum += c->memory;
		else if (c->memory_reservation > 0)
			sum += c->memory_reservation;
	}
	return sum;
}

static int64_t reservation_cpu(const struct task_def *td)
{
	int64_t sum = 0;

	if (td->cpu > 0)
		return td->cpu;
	for (size_t i = 0; i < td->n_containers; i++)
		sum += td->containers[i].cpu;
	return sum;
}

struct run_req {
	char cluster_arn[400];
	const char *cluster;
	json_t *taskdef;                /* stored doc */
	struct task_def *td;
	const char *launch_type;        /* "EC2" | "FARGATE" */
	const char *group, *started_by, *client_token;
	json_t *overrides;              /* as given, or NULL */
	json_t *tags;
	json_t *security_groups;        /* strings, or NULL */
	int64_t cpu, memory;            /* the task's reservation */
	char group_buf[300];
	json_t *strategy, *constraints; /* placementStrategy, placementConstraints (a cluster) */
	const char *instance_arn;       /* the instance that runs it; NULL: this one */
};

static json_t *container_doc(struct berthd *d, const struct run_req *q, const char *task_arn,
			     const char *task_id, const struct task_container *c)
{
	char u[37];
	cleanup_free char *arn = NULL;
	json_t *o;

	uuid(u);
	arn = api_arn(d, "container/%s/%s/%s", q->cluster, task_id, u);
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:s}",
		      "containerArn", arn, "taskArn", task_arn, "name", c->name, "image", c->image,
		      "lastStatus", "PENDING", "networkInterfaces", json_array(),
		      "networkBindings", json_array(), "cpu", "0");
	if (c->cpu > 0)
		json_object_set_new(o, "cpu", json_sprintf("%lld", (long long)c->cpu));
	if (c->memory > 0)
		json_object_set_new(o, "memory", json_sprintf("%lld", (long long)c->memory));
	if (c->memory_reservation > 0)
		json_object_set_new(o, "memoryReservation",
				    json_sprintf("%lld", (long long)c->memory_reservation));
	if (c->health_check.set)
		json_object_set_new(o, "healthStatus", json_string("UNKNOWN"));
	return o;
}

static json_t *task_doc(struct berthd *d, const struct run_req *q, const char *id, double now)
{
	cleanup_free char *arn = api_arn(d, "task/%s/%s", q->cluster, id);
	const char *td_arn = json_string_value(json_object_get(q->taskdef, "taskDefinitionArn"));
	json_t *containers = json_array();
	json_t *o;

	for (size_t i = 0; i < q->td->n_containers; i++)
		json_array_append_new(containers, container_doc(d, q, arn, id, &q->td->containers[i]));
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:s, s:o, s:i, s:b, s:s}",
		      "taskArn", arn, "clusterArn", q->cluster_arn, "taskDefinitionArn", td_arn,
		      "lastStatus", "PROVISIONING", "desiredStatus", "RUNNING",
		      "containers", containers, "launchType", q->launch_type,
		      "group", q->group, "createdAt", json_real(now), "version", 1,
		      "enableExecuteCommand", 0, "availabilityZone", "local");
	json_object_set_new(o, "cpu", json_sprintf("%lld", (long long)q->cpu));
	json_object_set_new(o, "memory", json_sprintf("%lld", (long long)q->memory));
	json_object_set_new(o, "healthStatus", json_string("UNKNOWN"));
	json_object_set_new(o, "connectivity", json_string("CONNECTED"));
	/* in a cluster every task names the instance that runs it, FARGATE
	 * ones too: that instance alone writes its state (cstate.h) */
	if (!strcmp(q->launch_type, "EC2") || cstate_on(d))
		json_object_set_new(o, "containerInstanceArn",
				    json_string(q->instance_arn ? q->instance_arn : d->instance_arn));
	if (strcmp(q->launch_type, "EC2"))
		json_object_set_new(o, "platformVersion", json_string("1.4.0"));
	if (q->started_by)
		json_object_set_new(o, "startedBy", json_string(q->started_by));
	json_object_set_new(o, "overrides", q->overrides ? json_deep_copy(q->overrides)
				: json_pack("{s:[], s:[]}", "containerOverrides",
					    "inferenceAcceleratorOverrides"));
	json_object_set_new(o, "attachments", json_array());
	if (q->td->network_mode == TASK_NET_AWSVPC) {
		char att[37];

		uuid(att);
		json_array_append_new(json_object_get(o, "attachments"),
			json_pack("{s:s, s:s, s:s, s:[{s:s, s:s}]}", "id", att,
				  "type", "ElasticNetworkInterface", "status", "PRECREATED",
				  "details", "name", "networkInterfaceId", "value", att));
	}
	if (q->td->ephemeral_storage_gib > 0)
		json_object_set_new(o, "ephemeralStorage",
				    json_pack("{s:I}", "sizeInGiB", (json_int_t)q->td->ephemeral_storage_gib));
	return o;
}

/* The shim's config.json for one task (runtime/shim/shim.h). */
static json_t *shim_config(struct berthd *d, const struct run_req *q, const char *id)
{
	json_t *c = json_pack("{s:s, s:o, s:s, s:s, s:s, s:s, s:s, s:b, s:s}",
			      "taskId", id, "taskDefinition", taskdef_body(q->taskdef),
			      "mode", q->launch_type, "root", d->cfg.root, "runDir", d->cfg.run_dir,
			      "logDir", d->cfg.log_dir, "cgroupRoot", d->cfg.cgroup_root,
			      "noLimits", d->cfg.no_limits, "storage", d->cfg.storage);

	if (d->cfg.pids_max)
		json_object_set_new(c, "pidsMax", json_integer((json_int_t)d->cfg.pids_max));
	if (q->overrides)
		json_object_set_new(c, "overrides", json_deep_copy(q->overrides));
	if (q->security_groups)
		json_object_set_new(c, "securityGroups", json_deep_copy(q->security_groups));
	if (d->cfg.net_json)
		json_object_set_new(c, "network", json_deep_copy(d->cfg.net_json));
	/* awsvpc and bridge tasks ask berthd's DNS responder (service discovery) */
	if (discovery_dns_address(d))
		json_object_set_new(c, "dnsServer", json_string(discovery_dns_address(d)));
	/* image pulls at task start (docs/images.md) */
	json_object_set_new(c, "imagePullPolicy", json_string(d->cfg.pull_policy));
	if (d->cfg.berth_path)
		json_object_set_new(c, "berthPath", json_string(d->cfg.berth_path));
	if (d->cfg.insecure_registries && d->cfg.insecure_registries[0]) {
		json_t *a = json_array();

		for (char **i = d->cfg.insecure_registries; *i; i++)
			json_array_append_new(a, json_string(*i));
		json_object_set_new(c, "insecureRegistries", a);
	}
	if (d->cfg.registry_credentials)
		json_object_set_new(c, "registryCredentials", json_string(d->cfg.registry_credentials));
	if (d->cfg.docker_config)
		json_object_set_new(c, "dockerConfig", json_string(d->cfg.docker_config));
	if (d->cfg.pull_timeout > 0)
		json_object_set_new(c, "imagePullTimeoutSeconds", json_integer((json_int_t)d->cfg.pull_timeout));
	/* the task endpoint (169.254.170.2 in the task's netns, docs/credentials.md) */
	{
		cleanup_free char *arn = api_arn(d, "task/%s/%s", q->cluster, id);
		cleanup_free char *az = api_availability_zone(d);
		json_t *ep = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "taskArn", arn,
				       "clusterArn", q->cluster_arn, "region", d->cfg.region,
				       "launchType", q->launch_type, "family", q->td->family,
				       "availabilityZone", az, "revision", "0");
		const struct creds_role *role = creds_roles_find(&d->cfg.roles, q->td->task_role_arn);
		json_t *rev = json_object_get(q->taskdef, "revision");

		if (json_is_integer(rev))
			json_object_set_new(ep, "revision", json_sprintf("%lld", (long long)json_integer_value(rev)));
		if (d->cfg.host_key_file)
			json_object_set_new(ep, "hostKeyFile", json_string(d->cfg.host_key_file));
		if (!d->cfg.no_limits)
			json_object_set_new(ep, "cgroupPath", json_sprintf("%s/%s", d->cfg.cgroup_root, id));
		if (d->cfg.roles.static_file)
			json_object_set_new(ep, "roleCredentialsFile", json_string(d->cfg.roles.static_file));
		if (role)
			json_object_set_new(ep, "role", json_pack("{s:s, s:s, s:I}", "roleArn", role->arn,
				"source", creds_source_name(role->source), "durationSeconds",
				(json_int_t)role->duration));
		json_object_set_new(c, "endpoint", ep);
	}
	return c;
}

static void req_free(struct run_req *q)
{
	json_decref(q->taskdef);
	task_def_free(q->td);
}

/* Everything RunTask/StartTask check before anything exists. */
static json_t *prepare(struct berthd *d, json_t *in, struct run_req *q, char *cluster,
		       size_t cluster_len, bool allow_inactive, struct api_error *e)
{
	cleanup_berr struct berr *err = NULL;
	cleanup_json json_t *cdoc = NULL;
	cleanup_free char *tdbuf = NULL, *obuf = NULL;
	const char *ref = NULL;
	json_t *v, *placement = NULL;
	int r;

	if (api_cluster_name(d, in, cluster, cluster_len, e) < 0)
		return NULL;
	q->cluster = cluster;
	if (api_cluster_active(d, cluster, &cdoc, e) < 0)
		return NULL;
	snprintf(q->cluster_arn, sizeof(q->cluster_arn), "%s",
		 json_string_value(json_object_get(cdoc, "clusterArn")) ?: "");
	if (api_get_string(in, "taskDefinition", true, &ref, e) < 0)
		return NULL;
	if (!(q->taskdef = find_taskdef(d, ref, e)))
		return NULL;
	if (!allow_inactive && strcmp(json_string_value(json_object_get(q->taskdef, "status")) ?: "", "ACTIVE"))
		return api_fail(e, "ClientException",
				"TaskDefinition is inactive: register a new revision to run it");

	q->launch_type = "EC2";
	if (api_get_string(in, "launchType", false, &q->launch_type, e) < 0)
		return NULL;
	if (strcmp(q->launch_type, "EC2") && strcmp(q->launch_type, "FARGATE"))
		return api_fail(e, "InvalidParameterException",
				"launchType: \"%s\" is not supported by berth (EC2 or FARGATE)",
				q->launch_type);
	if (json_object_get(in, "capacityProviderStrategy") &&
	    json_array_size(json_object_get(in, "capacityProviderStrategy")))
		return api_fail(e, "InvalidParameterException",
				"capacityProviderStrategy: not supported yet; use launchType");
	if (api_get_array(in, "placementConstraints", false, &placement, e) < 0)
		return NULL;
	if (placement && json_array_size(placement) && !cstate_on(d))
		return api_fail(e, "InvalidParameterException",
				"placementConstraints: not supported yet on one host (berthd.json has no "
				"\"cluster\")");
	q->constraints = placement;
	if (api_get_array(in, "placementStrategy", false, &q->strategy, e) < 0)
		return NULL;
	if (api_get_string(in, "group", false, &q->group, e) < 0 ||
	    api_get_string(in, "startedBy", false, &q->started_by, e) < 0 ||
	    api_get_string(in, "clientToken", false, &q->client_token, e) < 0 ||
	    api_get_object(in, "overrides", false, &q->overrides, e) < 0 ||
	    api_get_array(in, "tags", false, &q->tags, e) < 0)
		return NULL;
	if (q->started_by && strlen(q->started_by) > 128)
		return api_fail(e, "InvalidParameterException",
				"startedBy: at most 128 characters");
	if (q->client_token && (!*q->client_token || strlen(q->client_token) > 64))
		return api_fail(e, "InvalidParameterException", "clientToken: 1-64 characters");
	if (q->tags && api_check_tags(q->tags, e) < 0)
		return NULL;

	/* the definition with the overrides, by the launch type's rules */
	{
		cleanup_json json_t *body = taskdef_body(q->taskdef);

		tdbuf = bjson_dumps(body);
		if (q->overrides)
			obuf = bjson_dumps(q->overrides);
		r = task_def_parse_with_overrides(tdbuf, strlen(tdbuf), "taskDefinition",
						  obuf, obuf ? strlen(obuf) : 0, "overrides",
						  !strcmp(q->launch_type, "FARGATE") ? TASK_MODE_FARGATE
										      : TASK_MODE_EC2,
						  &q->td, &err);
		if (r < 0)
			return api_fail(e, !strcmp(q->launch_type, "FARGATE")
					? "PlatformTaskDefinitionIncompatibilityException"
					: "InvalidParameterException", "%s", berr_msg(err));
	}
	/* a task role berthd cannot serve would be a task without the
	 * credentials it expects: refuse it here (executionRoleArn is only
	 * needed for secrets, and checked when they are read) */
	if (q->td->task_role_arn && !creds_roles_find(&d->cfg.roles, q->td->task_role_arn))
		return api_fail(e, "ClientException", "taskRoleArn: role %s is not defined in berthd's "
				"configuration (\"roles\" in berthd.json): define it, or run the task "
				"without a role", berr_q(q->td->task_role_arn));
	if (!q->group) {
		snprintf(q->group_buf, sizeof(q->group_buf), "family:%s", q->td->family);
		q->group = q->group_buf;
	}

	/* awsvpc: the subnets are this host's; securityGroups are berth's */
	if ((v = json_object_get(in, "networkConfiguration")) && !json_is_null(v)) {
		json_t *aws = json_object_get(v, "awsvpcConfiguration");

		if (!json_is_object(v) || (aws && !json_is_object(aws)))
			return api_fail(e, "InvalidParameterException",
					"networkConfiguration.awsvpcConfiguration: expected object");
		if (aws && q->td->network_mode != TASK_NET_AWSVPC)
			return api_fail(e, "InvalidParameterException",
					"Network Configuration is not valid for the given networkMode "
					"of this task definition.");
		if (aws && (q->security_groups = json_object_get(aws, "securityGroups")) &&
		    !json_is_null(q->security_groups)) {
			size_t i;

			if (!json_is_array(q->security_groups))
				return api_fail(e, "InvalidParameterException",
						"networkConfiguration.awsvpcConfiguration.securityGroups: "
						"expected array");
			json_array_foreach(q->security_groups, i, v) {
				if (!json_is_string(v) ||
				    !netns_sg_find(&d->cfg.net.groups, json_string_value(v)))
					return api_fail(e, "InvalidParameterException",
							"networkConfiguration.awsvpcConfiguration."
							"securityGroups[%zu]: no such security group in "
							"berthd.json's network.securityGroups", i);
			}
			if (!json_array_size(q->security_groups))
				q->security_groups = NULL;
		} else {
			q->security_groups = NULL;
		}
	}
	if (!strcmp(q->launch_type, "EC2") && strcmp(cluster, "default"))
		return api_fail(e, "InvalidParameterException",
				"No Container Instances were found in your cluster.");
	q->cpu = reservation_cpu(q->td);
	q->memory = reservation_memory(q->td);
	return json_true();
}

static json_t *failure(const char *arn, const char *reason, const char *detail)
{
	json_t *f = json_pack("{s:s, s:s}", "arn", arn, "reason", reason);

	if (detail)
		json_object_set_new(f, "detail", json_string(detail));
	return f;
}

void api_task_set_stopped(json_t *doc, const char *stop_code, const char *why, double now)
{
	json_t *c;
	size_t i;

	json_object_set_new(doc, "lastStatus", json_string("STOPPED"));
	json_object_set_new(doc, "desiredStatus", json_string("STOPPED"));
	json_object_set_new(doc, "stopCode", json_string(stop_code));
	json_object_set_new(doc, "stoppedReason", json_string(why));
	if (!json_object_get(doc, "stoppingAt"))
		json_object_set_new(doc, "stoppingAt", json_real(now));
	json_object_set_new(doc, "executionStoppedAt", json_real(now));
	json_object_set_new(doc, "stoppedAt", json_real(now));
	json_array_foreach(json_object_get(doc, "containers"), i, c)
		json_object_set_new(c, "lastStatus", json_string("STOPPED"));
}

/* Record a task that could not start as STOPPED (in its own transaction). */
static void fail_task(struct berthd *d, json_t *doc, const char *why)
{
	cleanup_berr struct berr *err = NULL;

	api_task_set_stopped(doc, "TaskFailedToStart", why, api_now());
	if (store_task_put(d->st, doc, NULL, &err) < 0)
		log_error("record failed task: %s", berr_msg(err));
}

/* Start recorded tasks' shims, side by side (shimmgr_start_many); a
 * failure shows in its task, not the call. */
static void start_shims(struct berthd *d, const struct run_req *q, json_t *const *docs, size_t n)
{
	struct shimmgr_launch *l;
	json_t **cfgs;

	if (!n)
		return;
	l = xcalloc(n, sizeof(*l));
	cfgs = xcalloc(n, sizeof(*cfgs));
	for (size_t i = 0; i < n; i++) {
		l[i].id = api_arn_tail(json_string_value(json_object_get(docs[i], "taskArn")) ?: "");
		cfgs[i] = shim_config(d, q, l[i].id);
		l[i].config = cfgs[i];
		l[i].cpu = q->cpu;
		l[i].memory = q->memory;
	}
	shimmgr_start_many(d->shims, l, n);
	for (size_t i = 0; i < n; i++) {
		if (l[i].r < 0) {
			log_error("task %s: start: %s", l[i].id, berr_msg(l[i].err));
			fail_task(d, docs[i], berr_msg(l[i].err));
			berr_free(l[i].err);
		}
		json_decref(cfgs[i]);
	}
	free(cfgs);
	free(l);
}

static int placement_args(json_t *a, const char *what, bool strategy, struct sched_strategy *st,
			  struct sched_constraint *co, size_t max, size_t *n, struct api_error *e)
{
	json_t *v;
	size_t i;

	*n = 0;
	if (!a)
		return 0;
	if (json_array_size(a) > max) {
		api_fail(e, "InvalidParameterException", "%s: at most %zu", what, max);
		return -1;
	}
	json_array_foreach(a, i, v) {
		const char *type = json_string_value(json_object_get(v, "type"));
		json_t *f = json_object_get(v, strategy ? "field" : "expression");

		if (!json_is_object(v) || !type || (f && !json_is_string(f))) {
			api_fail(e, "InvalidParameterException", "%s[%zu]: expected {\"type\": string, "
				 "\"%s\": string}", what, i, strategy ? "field" : "expression");
			return -1;
		}
		if (strategy)
			st[i] = (struct sched_strategy){ .type = type, .field = json_string_value(f) };
		else
			co[i] = (struct sched_constraint){ .type = type, .expression = json_string_value(f) };
		(*n)++;
	}
	return 0;
}

/* Hand a recorded task to another instance through etcd: its document and
 * the run command (the request for this one task) in one transaction; if
 * etcd does not take it, the task is recorded STOPPED with why. */
static void hand_over(struct berthd *d, const struct run_req *q, json_t *in, json_t *doc,
		      const char *instance_id)
{
	cleanup_berr struct berr *err = NULL;
	cleanup_json json_t *input = json_deep_copy(in);
	static const char *const drop[] = { "count", "clientToken", "placementStrategy",
					    "placementConstraints", "tags" };

	for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
		json_object_del(input, drop[i]);
	json_object_set_new(input, "group", json_string(q->group));
	if (cstate_assign(d, instance_id, doc, input, &err) < 0) {
		cleanup_free char *why = xasprintf("could not hand the task to container instance %s: %s",
						   instance_id, berr_msg(err));

		log_error("task %s: %s", api_arn_tail(json_string_value(json_object_get(doc, "taskArn")) ?: ""),
			  why);
		fail_task(d, doc, why);
	}
}

/* RunTask in a cluster: the scheduler places each task on an instance of
 * the cluster by the request's strategies and constraints; a task for this
 * host starts here, one for another is recorded PROVISIONING and handed to
 * it through etcd (cstate_assign), which starts it and reports from then
 * on. */
static json_t *run_placed(struct berthd *d, json_t *in, struct run_req *q, int64_t count, double now,
			  struct api_error *e)
{
	cleanup_berr struct berr *err = NULL;
	struct sched_strategy st[SCHED_MAX_STRATEGIES];
	struct sched_constraint co[SCHED_MAX_CONSTRAINTS];
	size_t nst, nco;
	struct sched_plan *plan = NULL;
	struct sched_cluster *cl = NULL;
	struct sched_result res = { 0 };
	char **ids = NULL, **arns = NULL;
	char tid[RUN_TASK_MAX_COUNT][33];
	const char *tids[RUN_TASK_MAX_COUNT];
	json_t *tasks = NULL, *failures = NULL, *out = NULL;
	cleanup_free char *family_rev = NULL;

	if (placement_args(q->strategy, "placementStrategy", true, st, NULL, SCHED_MAX_STRATEGIES, &nst,
			   e) < 0 ||
	    placement_args(q->constraints, "placementConstraints", false, NULL, co,
			   SCHED_MAX_CONSTRAINTS, &nco, e) < 0)
		return NULL;
	if (sched_plan_compile(co, nco, st, nst, &plan, &err) < 0)
		return api_fail(e, "InvalidParameterException", "%s", berr_msg(err));
	if (cstate_view(d, &cl, &ids, &arns, &err) < 0) {
		sched_plan_free(plan);
		return api_fail(e, "ServerException", "cluster state: %s", berr_msg(err));
	}
	for (int64_t i = 0; i < count; i++) {
		hex_id(tid[i], 16);
		tids[i] = tid[i];
	}
	family_rev = xasprintf("%s:%lld", q->td->family,
			       (long long)json_integer_value(json_object_get(q->taskdef, "revision")));
	{
		struct sched_request rq = {
			.cpu = (int32_t)q->cpu, .memory = (int32_t)q->memory, .group = q->group,
			.family_rev = family_rev, .started_by = q->started_by,
		};

		if (sched_place(cl, plan, &rq, tids, (uint32_t)count, &res, &err) < 0) {
			api_fail(e, "ServerException", "placement: %s", berr_msg(err));
			goto done;
		}
	}
	tasks = json_array();
	failures = json_array();
	/* every task recorded in one transaction before any starts (as on one
	 * host): a failure leaves none behind */
	if (res.placed && store_begin(d->st, &err) < 0) {
		api_fail_berr(e, &err, "begin");
		goto done;
	}
	for (uint32_t i = 0; i < res.placed; i++) {
		uint32_t idx = res.instance[i];
		bool here = !strcmp(ids[idx], d->instance_id);
		json_t *doc;

		q->instance_arn = arns[idx];
		doc = task_doc(d, q, tid[i], now);
		q->instance_arn = NULL;
		json_array_append_new(tasks, doc);
		if (store_task_put(d->st, doc, here ? q->client_token : NULL, &err) < 0 ||
		    (q->tags && json_array_size(q->tags) &&
		     store_tags_set(d->st, json_string_value(json_object_get(doc, "taskArn")), q->tags,
				    &err) < 0)) {
			store_rollback(d->st);
			api_fail_berr(e, &err, "record task");
			goto done;
		}
	}
	if (res.placed && store_commit(d->st, &err) < 0) {
		store_rollback(d->st);
		api_fail_berr(e, &err, "commit");
		goto done;
	}
	{
		json_t **local = xcalloc(res.placed ? res.placed : 1, sizeof(*local));
		size_t n_local = 0;

		for (uint32_t i = 0; i < res.placed; i++) {
			uint32_t idx = res.instance[i];

			if (!strcmp(ids[idx], d->instance_id))
				local[n_local++] = json_array_get(tasks, i);
			else
				hand_over(d, q, in, json_array_get(tasks, i), ids[idx]);
		}
		start_shims(d, q, local, n_local);
		free(local);
	}
	if (res.failed) {
		const char *reason = sched_reason_str(res.failure.reason);
		const char *arn = res.failure.closest != SCHED_NONE ? arns[res.failure.closest] : q->cluster_arn;

		for (int64_t i = res.placed; i < count; i++)
			json_array_append_new(failures, failure(arn, reason, res.failure.message));
	}
	out = json_pack("{s:o, s:o}", "tasks", tasks, "failures", failures);
	tasks = failures = NULL;
done:
	json_decref(tasks);
	json_decref(failures);
	sched_result_free(&res);
	sched_cluster_free(cl);
	sched_plan_free(plan);
	cstate_strv_free(ids);
	cstate_strv_free(arns);
	return out;
}

/* fixed_id: the one task's id (count 1), chosen by the caller (a service's
 * controller names the tasks it starts); NULL: random ids. */
static json_t *run(struct berthd *d, json_t *in, int64_t count, const char *fixed_id,
		   struct api_error *e)
{
	cleanup_berr struct berr *err = NULL;
	struct run_req q = { 0 };
	char cluster[256];
	json_t *ok, *tasks = NULL, *failures = NULL, *docs = NULL, *out = NULL;
	int64_t res_cpu = 0, res_mem = 0;
	double now = api_now();

	ok = prepare(d, in, &q, cluster, sizeof(cluster), fixed_id != NULL, e);
	if (!ok)
		goto out;
	/* clientToken: the same request again returns what the first made */
	if (q.client_token) {
		if (store_task_by_token(d->st, cluster, q.client_token, &docs, &err) < 0) {
			api_fail_berr(e, &err, "look up clientToken");
			goto out;
		}
		if (json_array_size(docs)) {
			out = json_pack("{s:O, s:[]}", "tasks", docs, "failures");
			goto out;
		}
	}
	if (cstate_on(d) && !fixed_id) {
		out = run_placed(d, in, &q, count, now, e);
		goto out;
	}
	shimmgr_reserved(d->shims, &res_cpu, &res_mem);
	tasks = json_array();
	failures = json_array();
	{
		int64_t fit = count;

		if (q.memory > 0 && d->cfg.instance_memory > 0)
			while (fit > 0 && res_mem + fit * q.memory > d->cfg.instance_memory)
				fit--;
		if (fit < count)
			for (int64_t i = fit; i < count; i++)
				json_array_append_new(failures, failure(d->instance_arn, "RESOURCE:MEMORY",
									NULL));
		count = fit;
		fit = count;
		if (q.cpu > 0 && d->cfg.instance_cpu > 0)
			while (fit > 0 && res_cpu + fit * q.cpu > d->cfg.instance_cpu)
				fit--;
		for (int64_t i = fit; i < count; i++)
			json_array_append_new(failures, failure(d->instance_arn, "RESOURCE:CPU", NULL));
		count = fit;
	}

	if (count && store_begin(d->st, &err) < 0) {
		api_fail_berr(e, &err, "begin");
		goto out;
	}
	for (int64_t i = 0; i < count; i++) {
		char id[33];
		json_t *doc;

		if (fixed_id)
			snprintf(id, sizeof(id), "%s", fixed_id);
		else
			hex_id(id, 16);
		doc = task_doc(d, &q, id, now);
		if (store_task_put(d->st, doc, q.client_token, &err) < 0 ||
		    (q.tags && json_array_size(q.tags) &&
		     store_tags_set(d->st, json_string_value(json_object_get(doc, "taskArn")), q.tags,
				    &err) < 0)) {
			json_decref(doc);
			store_rollback(d->st);
			api_fail_berr(e, &err, "record task");
			goto out;
		}
		json_array_append_new(tasks, doc);
	}
	if (count && store_commit(d->st, &err) < 0) {
		store_rollback(d->st);
		api_fail_berr(e, &err, "commit");
		goto out;
	}
	/* recorded: now start them; a failure shows in the task, not the call */
	{
		size_t n = json_array_size(tasks);
		json_t **recorded = xcalloc(n ? n : 1, sizeof(*recorded));

		for (size_t i = 0; i < n; i++)
			recorded[i] = json_array_get(tasks, i);
		start_shims(d, &q, recorded, n);
		free(recorded);
	}
	out = json_pack("{s:O, s:O}", "tasks", tasks, "failures", failures);
out:
	json_decref(tasks);
	json_decref(failures);
	json_decref(docs);
	if (ok)
		json_decref(ok);
	req_free(&q);
	return out;
}

json_t *api_run_task(struct berthd *d, json_t *in, struct api_error *e)
{
	int64_t count = 1;

	if (api_get_int(in, "count", false, 1, RUN_TASK_MAX_COUNT, &count, e) < 0)
		return NULL;
	return run(d, in, count, NULL, e);
}

json_t *api_start_task(struct berthd *d, json_t *in, struct api_error *e)
{
	json_t *ci = NULL, *v;
	size_t i;

	if (api_get_array(in, "containerInstances", true, &ci, e) < 0)
		return NULL;
	if (!json_array_size(ci) || json_array_size(ci) > 10)
		return api_fail(e, "InvalidParameterException",
				"containerInstances: 1 to 10 container instances");
	json_array_foreach(ci, i, v) {
		if (!json_is_string(v) || strcmp(api_arn_tail(json_string_value(v)), d->instance_id))
			return api_fail(e, "InvalidParameterException",
					"containerInstances[%zu]: not a container instance of this "
					"cluster (berthd is one host: %s)", i, d->instance_arn);
	}
	if (json_object_get(in, "launchType"))
		return api_fail(e, "InvalidParameterException",
				"launchType: StartTask takes no launch type");
	return run(d, in, (int64_t)json_array_size(ci), NULL, e);
}

/* The task a request names in `cluster`; NULL with *e set. */
static json_t *find_task(struct berthd *d, const char *cluster, const char *ref, int *missing,
			 struct api_error *e)
{
	cleanup_berr struct berr *err = NULL;
	const char *id = api_arn_tail(ref);
	json_t *doc = NULL;
	const char *carn;
	int r;

	*missing = 0;
	if (strlen(id) != 32 || strspn(id, "0123456789abcdef") != 32) {
		*missing = 1;
		return NULL;
	}
	r = store_task_get(d->st, id, &doc, &err);
	if (r < 0)
		return api_fail_berr(e, &err, "read task");
	carn = r ? json_string_value(json_object_get(doc, "clusterArn")) : NULL;
	if (!r || !carn || strcmp(api_arn_tail(carn), cluster)) {
		json_decref(doc);
		*missing = 1;
		return NULL;
	}
	return doc;
}

static json_t *cluster_checked(struct berthd *d, json_t *in, char *cluster, size_t len,
			       struct api_error *e)
{
	json_t *cdoc = NULL;

	if (api_cluster_name(d, in, cluster, len, e) < 0 ||
	    api_cluster_active(d, cluster, &cdoc, e) < 0)
		return NULL;
	return cdoc;
}

/* Ask a task to stop (desiredStatus STOPPED, stopCode, stoppedReason, then
 * its shim); a task already stopped or stopping is left as it is. doc is
 * updated in place. */
static int stop_doc(struct berthd *d, json_t *doc, const char *stop_code, const char *reason,
		    struct api_error *e)
{
	cleanup_berr struct berr *err = NULL;
	const char *status = json_string_value(json_object_get(doc, "lastStatus")) ?: "";
	const char *id = api_arn_tail(json_string_value(json_object_get(doc, "taskArn")) ?: "");
	int r;

	if (!strcmp(status, "STOPPED") ||
	    !strcmp(json_string_value(json_object_get(doc, "desiredStatus")) ?: "", "STOPPED"))
		return 0;
	json_object_set_new(doc, "desiredStatus", json_string("STOPPED"));
	json_object_set_new(doc, "stopCode", json_string(stop_code));
	json_object_set_new(doc, "stoppedReason", json_string(reason));
	json_object_set_new(doc, "stoppingAt", json_real(api_now()));
	json_object_set_new(doc, "version",
			    json_integer(json_integer_value(json_object_get(doc, "version")) + 1));
	if (store_task_put(d->st, doc, NULL, &err) < 0) {
		api_fail_berr(e, &err, "record stop");
		return -1;
	}
	/* another host's task (a cluster): that host stops it and reports */
	if (cstate_on(d) && cstate_owner(doc) && strcmp(cstate_owner(doc), d->instance_id)) {
		if (cstate_stop_remote(d, cstate_owner(doc),
				       api_arn_tail(json_string_value(json_object_get(doc, "clusterArn")) ?: ""),
				       id, stop_code, reason, &err) < 0) {
			api_fail(e, "ServerException", "could not reach container instance %s through "
				 "etcd: %s", cstate_owner(doc), berr_msg(err));
			return -1;
		}
		return 0;
	}
	r = d->shims ? shimmgr_stop(d->shims, id, reason, &err) : -ENOENT;
	if (r < 0 && r != -ENOENT)
		log_warn("stop task %s: %s", id, berr_msg(err));
	return 0;
}

void api_task_fail_as(struct berthd *d, const char *id, const char *why)
{
	cleanup_berr struct berr *err = NULL;
	cleanup_json json_t *doc = NULL;

	if (store_task_get(d->st, id, &doc, &err) <= 0)
		return;
	if (!strcmp(json_string_value(json_object_get(doc, "lastStatus")) ?: "", "STOPPED"))
		return;
	fail_task(d, doc, why);
}

json_t *api_stop_task(struct berthd *d, json_t *in, struct api_error *e)
{
	cleanup_json json_t *cdoc = NULL;
	const char *ref = NULL, *reason = NULL;
	char cluster[256];
	json_t *doc;
	int missing;

	if (!(cdoc = cluster_checked(d, in, cluster, sizeof(cluster), e)))
		return NULL;
	if (api_get_string(in, "task", true, &ref, e) < 0 ||
	    api_get_string(in, "reason", false, &reason, e) < 0)
		return NULL;
	if (reason && strlen(reason) > 255)
		return api_fail(e, "InvalidParameterException", "reason: at most 255 characters");
	doc = find_task(d, cluster, ref, &missing, e);
	if (!doc)
		return missing ? api_fail(e, "InvalidParameterException", "The referenced task was "
					  "not found.") : NULL;
	if (stop_doc(d, doc, "UserInitiated", reason && *reason ? reason : "Task stopped by user",
		     e) < 0) {
		json_decref(doc);
		return NULL;
	}
	return json_pack("{s:o}", "task", doc);
}

json_t *api_run_task_as(struct berthd *d, json_t *in, const char *id, struct api_error *e)
{
	if (!id || strlen(id) != 32 || strspn(id, "0123456789abcdef") != 32)
		return api_fail(e, "ServerException", "internal: task id \"%s\" is not 32 hex digits",
				id ? id : "");
	return run(d, in, 1, id, e);
}

json_t *api_run_task_on(struct berthd *d, json_t *in, const char *id, const char *instance_id,
			const char *instance_arn, struct api_error *e)
{
	cleanup_berr struct berr *err = NULL;
	struct run_req q = { 0 };
	char cluster[256];
	json_t *ok, *doc, *out = NULL;

	if (!instance_id || !strcmp(instance_id, d->instance_id) || !cstate_on(d))
		return api_run_task_as(d, in, id, e);
	if (!id || strlen(id) != 32 || strspn(id, "0123456789abcdef") != 32)
		return api_fail(e, "ServerException", "internal: task id \"%s\" is not 32 hex digits",
				id ? id : "");
	if (!(ok = prepare(d, in, &q, cluster, sizeof(cluster), true, e)))
		goto out;
	json_decref(ok);
	q.instance_arn = instance_arn;
	doc = task_doc(d, &q, id, api_now());
	if (store_task_put(d->st, doc, NULL, &err) < 0) {
		json_decref(doc);
		api_fail_berr(e, &err, "record task");
		goto out;
	}
	hand_over(d, &q, in, doc, instance_id);
	out = json_pack("{s:[o], s:[]}", "tasks", doc, "failures");
out:
	req_free(&q);
	return out;
}

int api_task_stop_as(struct berthd *d, const char *cluster, const char *id, const char *stop_code,
		     const char *reason, struct api_error *e)
{
	json_t *doc;
	int missing, r;

	doc = find_task(d, cluster, id, &missing, e);
	if (!doc) {
		if (missing)
			api_fail(e, "InvalidParameterException", "The referenced task was not found.");
		return -1;
	}
	r = stop_doc(d, doc, stop_code, reason, e);
	json_decref(doc);
	return r;
}

int api_task_needs(struct berthd *d, const char *ref, const char *launch_type, struct api_task_needs *out,
		   struct api_error *e)
{
	cleanup_berr struct berr *err = NULL;
	cleanup_json json_t *doc = NULL, *body = NULL;
	cleanup_free char *text = NULL;
	struct task_def *td = NULL;
	size_t ntcp = 0, nudp = 0;

	*out = (struct api_task_needs){ 0 };
	if (!(doc = find_taskdef(d, ref, e)))
		return -1;
	body = taskdef_body(doc);
	text = bjson_dumps(body);
	if (task_def_parse_with_overrides(text, strlen(text), "taskDefinition", NULL, 0, "overrides",
					  launch_type && !strcmp(launch_type, "FARGATE") ? TASK_MODE_FARGATE
											 : TASK_MODE_EC2,
					  &td, &err) < 0) {
		api_fail(e, launch_type && !strcmp(launch_type, "FARGATE")
			 ? "PlatformTaskDefinitionIncompatibilityException" : "InvalidParameterException",
			 "%s", berr_msg(err));
		return -1;
	}
	out->td_arn = xstrdup(json_string_value(json_object_get(doc, "taskDefinitionArn")) ?: ref);
	out->active = !strcmp(json_string_value(json_object_get(doc, "status")) ?: "", "ACTIVE");
	out->taskdef = json_incref(doc);
	out->cpu = reservation_cpu(td);
	out->memory = reservation_memory(td);
	out->awsvpc = td->network_mode == TASK_NET_AWSVPC;
	for (size_t i = 0; i < td->n_containers; i++)
		if (td->containers[i].essential && td->containers[i].health_check.set)
			out->health_check = true;
	for (size_t i = 0; i < td->n_containers; i++)
		for (size_t j = 0; j < td->containers[i].n_port_mappings; j++) {
			const struct task_port_mapping *pm = &td->containers[i].port_mappings[j];
			bool udp = pm->protocol && !strcmp(pm->protocol, "udp");

			/* host ports are the instance's only outside awsvpc; dynamic
			 * ones (0) are not known before the task runs */
			if (out->awsvpc || pm->host_port <= 0 || pm->host_port > 65535)
				continue;
			if (udp) {
				out->udp = xreallocarray(out->udp, ++nudp, sizeof(*out->udp));
				out->udp[nudp - 1] = (uint16_t)pm->host_port;
			} else {
				out->tcp = xreallocarray(out->tcp, ++ntcp, sizeof(*out->tcp));
				out->tcp[ntcp - 1] = (uint16_t)pm->host_port;
			}
		}
	out->ntcp = ntcp;
	out->nudp = nudp;
	task_def_free(td);
	return 0;
}

void api_task_needs_free(struct api_task_needs *n)
{
	free(n->td_arn);
	json_decref(n->taskdef);
	free(n->tcp);
	free(n->udp);
	*n = (struct api_task_needs){ 0 };
}

json_t *api_describe_tasks(struct berthd *d, json_t *in, struct api_error *e)
{
	cleanup_berr struct berr *err = NULL;
	cleanup_json json_t *cdoc = NULL;
	json_t *refs = NULL, *include = NULL, *v, *tasks, *failures;
	bool tags = false;
	char cluster[256];
	size_t i;

	if (!(cdoc = cluster_checked(d, in, cluster, sizeof(cluster), e)))
		return NULL;
	if (api_get_array(in, "tasks", true, &refs, e) < 0 ||
	    api_get_array(in, "include", false, &include, e) < 0)
		return NULL;
	if (json_array_size(refs) > DESCRIBE_TASKS_MAX)
		return api_fail(e, "InvalidParameterException", "tasks: at most %d tasks",
				DESCRIBE_TASKS_MAX);
	json_array_foreach(include, i, v) {
		if (!json_is_string(v) || strcmp(json_string_value(v), "TAGS"))
			return api_fail(e, "InvalidParameterException", "include[%zu]: only \"TAGS\"", i);
		tags = true;
	}
	tasks = json_array();
	failures = json_array();
	json_array_foreach(refs, i, v) {
		int missing;
		json_t *doc;

		if (!json_is_string(v)) {
			json_decref(tasks);
			json_decref(failures);
			return api_fail(e, "InvalidParameterException", "tasks[%zu]: expected string", i);
		}
		doc = find_task(d, cluster, json_string_value(v), &missing, e);
		if (!doc && !missing) {
			json_decref(tasks);
			json_decref(failures);
			return NULL;
		}
		if (!doc) {
			json_array_append_new(failures, failure(json_string_value(v), "MISSING", NULL));
			continue;
		}
		if (tags) {
			json_t *t = NULL;

			if (store_tags_get(d->st, json_string_value(json_object_get(doc, "taskArn")), &t,
					   &err) == 0 || t)
				json_object_set_new(doc, "tags", t ? t : json_array());
			berr_clear(&err);
		} else {
			json_object_del(doc, "tags");
		}
		json_array_append_new(tasks, doc);
	}
	return json_pack("{s:o, s:o}", "tasks", tasks, "failures", failures);
}

json_t *api_list_tasks(struct berthd *d, json_t *in, struct api_error *e)
{
	cleanup_berr struct berr *err = NULL;
	cleanup_json json_t *cdoc = NULL, *docs = NULL;
	cleanup_free char *after = NULL;
	struct store_task_filter f = { 0 };
	const char *service = NULL;
	char cluster[256], group[300];
	json_t *arns, *doc, *out;
	int64_t limit;
	bool more = false;
	size_t i;

	if (!(cdoc = cluster_checked(d, in, cluster, sizeof(cluster), e)))
		return NULL;
	f.cluster = cluster;
	f.desired_status = "RUNNING";
	if (api_get_string(in, "family", false, &f.family, e) < 0 ||
	    api_get_string(in, "startedBy", false, &f.started_by, e) < 0 ||
	    api_get_string(in, "serviceName", false, &service, e) < 0 ||
	    api_get_string(in, "desiredStatus", false, &f.desired_status, e) < 0 ||
	    api_get_string(in, "containerInstance", false, &f.container_instance, e) < 0 ||
	    api_get_string(in, "launchType", false, &f.launch_type, e) < 0 ||
	    api_page_start(in, 100, 100, &after, &limit, e) < 0)
		return NULL;
	if (strcmp(f.desired_status, "RUNNING") && strcmp(f.desired_status, "PENDING") &&
	    strcmp(f.desired_status, "STOPPED"))
		return api_fail(e, "InvalidParameterException",
				"desiredStatus: expected RUNNING, PENDING or STOPPED");
	if (!strcmp(f.desired_status, "PENDING")) {
		/* ECS: desired RUNNING, not yet RUNNING */
		f.desired_status = "RUNNING";
		f.last_status = "PENDING";
	}
	if (service) {
		snprintf(group, sizeof(group), "service:%s", service);
		f.group = group;
	}
	if (f.container_instance)
		f.container_instance = api_arn_tail(f.container_instance);
	if (store_task_list(d->st, &f, &(struct store_page){ .after = after, .limit = limit }, &docs,
			    &more, &err) < 0)
		return api_fail_berr(e, &err, "list tasks");
	arns = json_array();
	json_array_foreach(docs, i, doc)
		json_array_append(arns, json_object_get(doc, "taskArn"));
	out = json_pack("{s:o}", "taskArns", arns);
	if (more && json_array_size(docs)) {
		const char *last = json_string_value(json_object_get(
			json_array_get(docs, json_array_size(docs) - 1), "taskArn"));
		char *tok = api_page_token(api_arn_tail(last));

		json_object_set_new(out, "nextToken", json_string(tok));
		free(tok);
	}
	return out;
}
