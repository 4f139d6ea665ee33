/* runtime/daemon/services.c - ECS services: the API operations and the loop
 * that drives each service's controller (services.h). */
#include "runtime/daemon/services.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/json.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "netns/tasknet.h"
#include "runtime/daemon/api.h"
#include "runtime/daemon/cstate.h"
#include "runtime/daemon/daemon.h"
#include "runtime/daemon/discovery.h"
#include "runtime/daemon/lbclient.h"
#include "runtime/daemon/server.h"
#include "runtime/daemon/shimmgr.h"
#include "runtime/daemon/store.h"
#include "scheduler/model.h"
#include "scheduler/place.h"
#include "scheduler/service.h"

/* ECS: "Tasks per service" quota */
#define SVC_MAX_DESIRED 5000
/* api_fail for the checks that answer 0 or -1 */
#define FAIL(e, ...) (api_fail((e), __VA_ARGS__), -1)
/* a task whose targets do not drain is stopped after this anyway
 * (ELBv2's largest deregistration delay is 3600 s) */
#define SVC_DRAIN_MAX_SECONDS 3600

/* One service being driven. */
struct svc {
	char *cluster;              /* cluster name */
	char *cluster_arn;
	char *name, *arn;
	char status[16];            /* ACTIVE | DRAINING */
	double created_at;
	json_t *spec;               /* normalized request fields (state.spec) */
	char *client_token;
	struct sched_svc *ctl;
	char **expect;              /* task ids seen live or started last step */
	size_t nexpect;
	int32_t running, pending;   /* as of the last step */
	char *saved;                /* doc + state text as last written */
	bool broken;                /* a step failed: logged once */
	/* tasks the controller stopped that are still registered in berth-lb:
	 * deregistered, stopped once their targets have drained */
	struct drain { char *id, *reason; int64_t until; } *drain;
	size_t ndrain;
	bool lb_broken;             /* berth-lb did not answer: logged once */
};

struct svcctl {
	struct berthd *d;
	struct svc **v;
	size_t n;
	int timerfd;
	struct ev_handler h;
	bool stepping;              /* in svcctl_step_all: saves are the leader's */
};

/* ------------------------------------------------------------ helpers */

static char *random_task_id(void *ctx)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t b[16];
	char *s = xmalloc(33);

	(void)ctx;
	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
		abort();   /* getrandom of 16 bytes does not fail after boot */
	for (size_t i = 0; i < 16; i++) {
		s[2 * i] = hex[b[i] >> 4];
		s[2 * i + 1] = hex[b[i] & 15];
	}
	s[32] = 0;
	return s;
}

static void expect_clear(struct svc *s)
{
	for (size_t i = 0; i < s->nexpect; i++)
		free(s->expect[i]);
	free(s->expect);
	s->expect = NULL;
	s->nexpect = 0;
}

static void svc_free(struct svc *s)
{
	if (!s)
		return;
	free(s->cluster);
	free(s->cluster_arn);
	free(s->name);
	free(s->arn);
	json_decref(s->spec);
	free(s->client_token);
	sched_svc_free(s->ctl);
	expect_clear(s);
	free(s->saved);
	for (size_t i = 0; i < s->ndrain; i++) {
		free(s->drain[i].id);
		free(s->drain[i].reason);
	}
	free(s->drain);
	free(s);
}

static struct svc *find_svc(struct svcctl *c, const char *cluster, const char *name)
{
	for (size_t i = 0; c && i < c->n; i++)
		if (!strcmp(c->v[i]->cluster, cluster) && !strcmp(c->v[i]->name, name))
			return c->v[i];
	return NULL;
}

static void drop_svc(struct svcctl *c, struct svc *s)
{
	for (size_t i = 0; i < c->n; i++)
		if (c->v[i] == s) {
			memmove(c->v + i, c->v + i + 1, (c->n - i - 1) * sizeof(*c->v));
			c->n--;
			break;
		}
	svc_free(s);
}

static const char *sget(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

/* ---------------------------------------------------- spec <-> controller */

/* What sched_svc_new/update take, from a normalized spec; the strings and
 * arrays live in *hold and *needs until the call is made. */
struct spec_hold {
	struct sched_constraint cons[SCHED_MAX_CONSTRAINTS];
	struct sched_strategy strat[SCHED_MAX_STRATEGIES];
	struct api_task_needs needs;
};

static int spec_build(struct berthd *d, const struct svc *s, const json_t *spec, struct sched_svc_spec *out,
		      struct spec_hold *h, struct api_error *e)
{
	const json_t *dc = json_object_get(spec, "deploymentConfiguration");
	const json_t *cb = json_object_get(dc, "deploymentCircuitBreaker");
	json_t *v;
	size_t i;

	memset(h, 0, sizeof(*h));
	if (api_task_needs(d, sget(spec, "taskDefinition"), sget(spec, "launchType"), &h->needs, e) < 0)
		return -1;
	*out = (struct sched_svc_spec){
		.name = s->name, .arn = s->arn,
		.scheduling = !strcmp(sget(spec, "schedulingStrategy") ?: "", "DAEMON") ? SCHED_SVC_DAEMON
											: SCHED_SVC_REPLICA,
		.desired_count = (int32_t)json_integer_value(json_object_get(spec, "desiredCount")),
		.min_healthy_percent = json_is_integer(json_object_get(dc, "minimumHealthyPercent"))
			? (int32_t)json_integer_value(json_object_get(dc, "minimumHealthyPercent")) : -1,
		.max_percent = json_is_integer(json_object_get(dc, "maximumPercent"))
			? (int32_t)json_integer_value(json_object_get(dc, "maximumPercent")) : -1,
		.circuit_breaker = json_is_true(json_object_get(cb, "enable")),
		.rollback = json_is_true(json_object_get(cb, "rollback")),
		.grace_period = json_integer_value(json_object_get(spec, "healthCheckGracePeriodSeconds")),
		.task_definition = h->needs.td_arn,
		.cpu = (int32_t)h->needs.cpu, .memory = (int32_t)h->needs.memory,
		.tcp_ports = h->needs.tcp, .ntcp = h->needs.ntcp,
		.udp_ports = h->needs.udp, .nudp = h->needs.nudp,
		.constraints = h->cons, .strategies = h->strat,
	};
	json_array_foreach(json_object_get(spec, "placementConstraints"), i, v) {
		h->cons[i].type = sget(v, "type");
		h->cons[i].expression = sget(v, "expression");
		out->nconstraints = i + 1;
	}
	json_array_foreach(json_object_get(spec, "placementStrategy"), i, v) {
		h->strat[i].type = sget(v, "type");
		h->strat[i].field = sget(v, "field");
		out->nstrategies = i + 1;
	}
	return 0;
}

static json_t *dep_json(const struct sched_svc_deployment *p, bool full)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:i, s:i, s:i, s:i, s:f, s:f, s:s}",
			      "id", p->id, "status", sched_svc_dstatus_str(p->status),
			      "taskDefinition", p->task_definition, "desiredCount", p->desired_count,
			      "pendingCount", p->pending_count, "runningCount", p->running_count,
			      "failedTasks", p->failed_tasks, "createdAt", (double)p->created_at,
			      "updatedAt", (double)p->updated_at,
			      "rolloutState", sched_svc_rollout_str(p->rollout));

	if (p->rollout_reason)
		json_object_set_new(o, "rolloutStateReason", json_string(p->rollout_reason));
	if (full) {
		json_t *tcp = json_array(), *udp = json_array();

		for (size_t i = 0; i < p->ntcp; i++)
			json_array_append_new(tcp, json_integer(p->tcp_ports[i]));
		for (size_t i = 0; i < p->nudp; i++)
			json_array_append_new(udp, json_integer(p->udp_ports[i]));
		json_object_set_new(o, "cpu", json_integer(p->cpu));
		json_object_set_new(o, "memory", json_integer(p->memory));
		json_object_set_new(o, "tcpPorts", tcp);
		json_object_set_new(o, "udpPorts", udp);
	}
	return o;
}

/* The controller's state, as kept in the store beside the document. */
static json_t *state_json(const struct svc *s)
{
	struct sched_svc_state st;
	json_t *deps = json_array(), *evs = json_array(), *o;

	sched_svc_state(s->ctl, &st);
	for (size_t i = 0; i < st.ndeployments; i++)
		json_array_append_new(deps, dep_json(&st.deployments[i], true));
	for (size_t i = 0; i < st.nevents; i++)
		json_array_append_new(evs, json_pack("{s:s, s:I, s:s}", "id", st.events[i].id,
						     "createdAt", (json_int_t)st.events[i].created_at,
						     "message", st.events[i].message));
	o = json_pack("{s:O, s:o, s:o, s:I, s:b, s:I}", "spec", s->spec, "deployments", deps,
		      "events", evs, "seq", (json_int_t)st.seq, "steady", st.steady,
		      "steadySaid", (json_int_t)st.steady_said);
	if (st.completed.id[0])
		json_object_set_new(o, "completed", dep_json(&st.completed, true));
	if (s->client_token)
		json_object_set_new(o, "clientToken", json_string(s->client_token));
	return o;
}

static void ports_from(const json_t *a, uint16_t **out, size_t *n)
{
	json_t *v;
	size_t i;

	*out = NULL;
	*n = json_array_size(a);
	if (!*n)
		return;
	*out = xcalloc(*n, sizeof(**out));
	json_array_foreach(a, i, v)
		(*out)[i] = (uint16_t)json_integer_value(v);
}

static const struct { const char *s; int v; } dstatus_names[] = {
	{ "PRIMARY", SCHED_SVC_PRIMARY }, { "ACTIVE", SCHED_SVC_ACTIVE }, { "INACTIVE", SCHED_SVC_INACTIVE },
}, rollout_names[] = {
	{ "IN_PROGRESS", SCHED_SVC_IN_PROGRESS }, { "COMPLETED", SCHED_SVC_COMPLETED },
	{ "FAILED", SCHED_SVC_FAILED },
};

static int name_value(const char *s, const void *tab, size_t n, int def)
{
	const struct { const char *s; int v; } *t = tab;

	for (size_t i = 0; s && i < n; i++)
		if (!strcmp(t[i].s, s))
			return t[i].v;
	return def;
}

static void dep_from(const json_t *o, struct sched_svc_deployment *p)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->id, sizeof(p->id), "%s", sget(o, "id") ?: "");
	p->status = (enum sched_svc_dstatus)name_value(sget(o, "status"), dstatus_names, 3, -1);
	p->task_definition = (char *)sget(o, "taskDefinition");
	p->desired_count = (int32_t)json_integer_value(json_object_get(o, "desiredCount"));
	p->pending_count = (int32_t)json_integer_value(json_object_get(o, "pendingCount"));
	p->running_count = (int32_t)json_integer_value(json_object_get(o, "runningCount"));
	p->failed_tasks = (int32_t)json_integer_value(json_object_get(o, "failedTasks"));
	p->rollout = (enum sched_svc_rollout)name_value(sget(o, "rolloutState"), rollout_names, 3, 0);
	p->rollout_reason = (char *)sget(o, "rolloutStateReason");
	p->created_at = (int64_t)json_number_value(json_object_get(o, "createdAt"));
	p->updated_at = (int64_t)json_number_value(json_object_get(o, "updatedAt"));
	p->cpu = (int32_t)json_integer_value(json_object_get(o, "cpu"));
	p->memory = (int32_t)json_integer_value(json_object_get(o, "memory"));
	ports_from(json_object_get(o, "tcpPorts"), &p->tcp_ports, &p->ntcp);
	ports_from(json_object_get(o, "udpPorts"), &p->udp_ports, &p->nudp);
}

/* A controller from a stored state. */
static int ctl_restore(struct berthd *d, struct svc *s, const json_t *state, struct berr **err)
{
	const json_t *deps = json_object_get(state, "deployments"), *evs = json_object_get(state, "events");
	size_t nd = json_array_size(deps), ne = json_array_size(evs), i;
	struct sched_svc_deployment *dv = xcalloc(nd ? nd : 1, sizeof(*dv));
	struct sched_svc_event *ev = xcalloc(ne ? ne : 1, sizeof(*ev));
	struct sched_svc_state st = { .deployments = dv, .ndeployments = nd, .events = ev, .nevents = ne };
	struct api_error e = { 0 };
	struct sched_svc_spec spec;
	struct spec_hold h;
	json_t *v;
	int r = -EINVAL;

	json_array_foreach(deps, i, v)
		dep_from(v, &dv[i]);
	json_array_foreach(evs, i, v) {
		snprintf(ev[i].id, sizeof(ev[i].id), "%s", sget(v, "id") ?: "");
		ev[i].created_at = json_integer_value(json_object_get(v, "createdAt"));
		ev[i].message = (char *)sget(v, "message");
	}
	if (json_object_get(state, "completed"))
		dep_from(json_object_get(state, "completed"), &st.completed);
	st.seq = (uint64_t)json_integer_value(json_object_get(state, "seq"));
	st.steady = json_is_true(json_object_get(state, "steady"));
	st.steady_said = json_integer_value(json_object_get(state, "steadySaid"));
	if (spec_build(d, s, s->spec, &spec, &h, &e) < 0) {
		r = berr_set(err, EINVAL, "%s: %s", e.type, e.message);
		api_error_clear(&e);
	} else {
		r = sched_svc_restore(&spec, &st, &s->ctl, err);
		api_task_needs_free(&h.needs);
	}
	for (i = 0; i < nd; i++) {
		free(dv[i].tcp_ports);
		free(dv[i].udp_ports);
	}
	free(st.completed.tcp_ports);
	free(st.completed.udp_ports);
	free(dv);
	free(ev);
	if (r == 0)
		sched_svc_set_id_fn(s->ctl, random_task_id, NULL);
	return r;
}

/* ----------------------------------------------------------- the document */

/* loadBalancers as the API shows them (without berth's own keys) */
static json_t *lbs_public(const json_t *lbs)
{
	json_t *out = json_array(), *v;
	size_t i;

	json_array_foreach(lbs, i, v)
		json_array_append_new(out, json_pack("{s:O, s:O, s:O}", "targetGroupArn",
						     json_object_get(v, "targetGroupArn"), "containerName",
						     json_object_get(v, "containerName"), "containerPort",
						     json_object_get(v, "containerPort")));
	return out;
}

static json_t *service_doc(const struct svc *s)
{
	const json_t *spec = s->spec;
	const json_t *dc = json_object_get(spec, "deploymentConfiguration");
	const json_t *cb = json_object_get(dc, "deploymentCircuitBreaker");
	json_t *deps = json_array(), *evs = json_array(), *o, *v;
	size_t n;
	const struct sched_svc_deployment *dv = sched_svc_deployments(s->ctl, &n);
	const struct sched_svc_event *ev;

	for (size_t i = 0; i < n; i++) {
		json_t *dj = dep_json(&dv[i], false);

		json_object_set_new(dj, "launchType", json_string(sget(spec, "launchType")));
		if ((v = json_object_get(spec, "networkConfiguration")))
			json_object_set(dj, "networkConfiguration", v);
		json_array_append_new(deps, dj);
	}
	ev = sched_svc_events(s->ctl, &n);
	for (size_t i = n; i-- > 0;)
		json_array_append_new(evs, json_pack("{s:s, s:f, s:s}", "id", ev[i].id, "createdAt",
						     (double)ev[i].created_at, "message", ev[i].message));
	o = json_pack("{s:s, s:s, s:s, s:o, s:[], s:s, s:I, s:i, s:i, s:s, s:s, s:o, s:o, s:o, s:f,"
		      " s:O, s:O, s:s, s:{s:s}, s:b, s:s, s:b}",
		      "serviceArn", s->arn, "serviceName", s->name, "clusterArn", s->cluster_arn,
		      "loadBalancers", lbs_public(json_object_get(spec, "loadBalancers")),
		      "serviceRegistries", "status", s->status,
		      "desiredCount", json_integer_value(json_object_get(spec, "desiredCount")),
		      "runningCount", s->running, "pendingCount", s->pending,
		      "launchType", sget(spec, "launchType"),
		      "taskDefinition", sched_svc_task_definition(s->ctl),
		      "deploymentConfiguration",
		      json_pack("{s:{s:b, s:b}, s:i, s:i}", "deploymentCircuitBreaker",
				"enable", json_is_true(json_object_get(cb, "enable")),
				"rollback", json_is_true(json_object_get(cb, "rollback")),
				"maximumPercent", sched_svc_max_percent(s->ctl),
				"minimumHealthyPercent", sched_svc_min_healthy(s->ctl)),
		      "deployments", deps, "events", evs, "createdAt", s->created_at,
		      "placementConstraints", json_object_get(spec, "placementConstraints"),
		      "placementStrategy", json_object_get(spec, "placementStrategy"),
		      "schedulingStrategy", sget(spec, "schedulingStrategy"),
		      "deploymentController", "type", "ECS", "enableECSManagedTags", 0,
		      "propagateTags", "NONE", "enableExecuteCommand", 0);
	if ((v = json_object_get(spec, "networkConfiguration")))
		json_object_set(o, "networkConfiguration", v);
	if (json_array_size(json_object_get(spec, "serviceRegistries")))
		json_object_set_new(o, "serviceRegistries", json_deep_copy(json_object_get(spec, "serviceRegistries")));
	if ((v = json_object_get(spec, "healthCheckGracePeriodSeconds")))
		json_object_set(o, "healthCheckGracePeriodSeconds", v);
	if (!strcmp(sget(spec, "launchType") ?: "", "FARGATE"))
		json_object_set_new(o, "platformVersion", json_string("1.4.0"));
	return o;
}

/* Write the document and state when they changed (or always, force). */
static int svc_save(struct berthd *d, struct svc *s, bool force, struct berr **err)
{
	cleanup_json json_t *doc = service_doc(s), *state = state_json(s);
	cleanup_free char *a = bjson_dumps(doc), *b = bjson_dumps(state);
	cleanup_free char *both = xasprintf("%s\n%s", a, b);
	int r;

	if (!force && s->saved && !strcmp(s->saved, both))
		return 0;
	/* in a cluster etcd first, compared with the record this host last saw
	 * (and, from a step, with its leadership) */
	if (cstate_on(d)) {
		r = cstate_service_write(d, doc, state, d->svcs && d->svcs->stepping, err);
		if (r < 0)
			return berr_wrap(err, "service %s: write to the cluster", s->name);
		if (r == 0)
			return berr_set(err, EAGAIN, "service %s changed on another host meanwhile: "
					"try again", s->name);
	}
	r = store_service_put(d->st, doc, state, err);
	if (r < 0)
		return r;
	free(s->saved);
	s->saved = steal_pointer(&both);
	return 0;
}

/* ----------------------------------------------------------- one step */

static enum sched_svc_last_status last_status_of(const char *s)
{
	static const char *const names[] = {
		"PROVISIONING", "PENDING", "ACTIVATING", "RUNNING", "DEACTIVATING", "STOPPING",
		"DEPROVISIONING", "STOPPED",
	};

	for (size_t i = 0; s && i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(names[i], s))
			return (enum sched_svc_last_status)i;
	return SCHED_SVC_PROVISIONING;
}

static enum sched_svc_stop_code stop_code_of(const char *s)
{
	if (!s)
		return SCHED_SVC_STOP_NONE;
	if (!strcmp(s, "TaskFailedToStart"))
		return SCHED_SVC_STOP_TASK_FAILED_TO_START;
	if (!strcmp(s, "EssentialContainerExited"))
		return SCHED_SVC_STOP_ESSENTIAL_CONTAINER_EXITED;
	if (!strcmp(s, "UserInitiated"))
		return SCHED_SVC_STOP_USER_INITIATED;
	if (!strcmp(s, "ServiceSchedulerInitiated"))
		return SCHED_SVC_STOP_SERVICE_SCHEDULER_INITIATED;
	return SCHED_SVC_STOP_NONE;
}

/* Whether tasks of a task definition have a container health check (an
 * essential container's healthCheck): the task's healthStatus counts then.
 * The documents cannot say it: every container of a running task has a
 * healthStatus. Cached per step in *cache ({ARN: bool}). */
static bool td_health_check(struct berthd *d, json_t *cache, const char *td_arn)
{
	struct api_task_needs n;
	struct api_error e = { 0 };
	json_t *v = json_object_get(cache, td_arn ?: "");
	bool hc = false;

	if (v)
		return json_is_true(v);
	if (td_arn && api_task_needs(d, td_arn, NULL, &n, &e) == 0) {
		hc = n.health_check;
		api_task_needs_free(&n);
	}
	api_error_clear(&e);
	json_object_set_new(cache, td_arn ?: "", json_boolean(hc));
	return hc;
}

static void task_view(const json_t *doc, bool has_health_check, struct sched_svc_task *t)
{
	const char *h = sget(doc, "healthStatus");

	*t = (struct sched_svc_task){
		.id = api_arn_tail(sget(doc, "taskArn") ?: ""),
		.deployment = sget(doc, "startedBy"),
		.last_status = last_status_of(sget(doc, "lastStatus")),
		.desired_stopped = !strcmp(sget(doc, "desiredStatus") ?: "", "STOPPED"),
		.health = !strcmp(h ?: "", "HEALTHY") ? SCHED_SVC_HEALTH_HEALTHY
			: !strcmp(h ?: "", "UNHEALTHY") ? SCHED_SVC_HEALTH_UNHEALTHY : SCHED_SVC_HEALTH_UNKNOWN,
		.lb = SCHED_SVC_LB_NONE,
		.started_at = (int64_t)json_number_value(json_object_get(doc, "startedAt")),
		.stopped_at = (int64_t)json_number_value(json_object_get(doc, "stoppedAt")),
		.stop_code = stop_code_of(sget(doc, "stopCode")),
		.has_health_check = has_health_check,
	};
}

/* The one-host cluster: this container instance with its attributes and
 * state, what all its tasks reserve, and the service's live tasks (for the
 * instance they are on, their group and their static host ports). */
static struct sched_cluster *build_cluster(struct berthd *d, const struct svc *s, const json_t *live,
					   struct berr **err)
{
	struct sched_cluster *cl = sched_cluster_new(0x62657274);   /* fixed seed: "bert" */
	cleanup_json json_t *inst = NULL;
	const char *names[SCHED_ATTR_MAX], *values[SCHED_ATTR_MAX];
	size_t na = 0, i, nd;
	const struct sched_svc_deployment *deps = sched_svc_deployments(s->ctl, &nd);
	json_t *v;
	int64_t rc = 0, rm = 0;
	uint32_t idx;
	int r;

	if ((r = store_instance_get(d->st, d->instance_id, &inst, err)) < 0)
		goto fail;
	json_array_foreach(json_object_get(inst, "attributes"), i, v) {
		if (na == SCHED_ATTR_MAX || !sget(v, "name"))
			continue;
		names[na] = sget(v, "name");
		values[na++] = sget(v, "value");
	}
	{
		/* the resources the instance registered (DescribeContainerInstances) */
		int64_t cpu = 0, mem = 0;

		json_array_foreach(json_object_get(inst, "registeredResources"), i, v) {
			if (!strcmp(sget(v, "name") ?: "", "CPU"))
				cpu = json_integer_value(json_object_get(v, "integerValue"));
			else if (!strcmp(sget(v, "name") ?: "", "MEMORY"))
				mem = json_integer_value(json_object_get(v, "integerValue"));
		}
		struct sched_instance_spec is = {
			.id = d->instance_id,
			.cpu = (int32_t)(cpu > INT32_MAX ? INT32_MAX : cpu),
			.memory = (int32_t)(mem > INT32_MAX ? INT32_MAX : mem),
			.draining = !strcmp(sget(inst, "status") ?: "", "DRAINING"),
			.attr_names = names, .attr_values = values, .nattrs = na,
			.reserved_tcp = sched_ecs_reserved_ports, .nreserved_tcp = 5,
		};

		if ((r = sched_cluster_add_instance(cl, &is, &idx, err)) < 0)
			goto fail;
	}
	if (d->shims)
		shimmgr_reserved(d->shims, &rc, &rm);
	if (rc > 0 || rm > 0) {
		struct sched_task_spec t = {
			.id = "berthd:reserved", .cpu = (int32_t)rc, .memory = (int32_t)rm,
		};

		if ((r = sched_cluster_add_task(cl, idx, &t, err)) < 0)
			goto fail;
	}
	json_array_foreach(live, i, v) {
		const char *dep = sget(v, "startedBy");
		struct sched_task_spec t = {
			.id = api_arn_tail(sget(v, "taskArn") ?: ""), .group = sget(v, "group"),
			.started_by = dep,
		};

		for (size_t k = 0; k < nd; k++)
			if (dep && !strcmp(deps[k].id, dep)) {
				t.tcp_ports = deps[k].tcp_ports;
				t.ntcp = deps[k].ntcp;
				t.udp_ports = deps[k].udp_ports;
				t.nudp = deps[k].nudp;
			}
		if ((r = sched_cluster_add_task(cl, idx, &t, err)) < 0)
			goto fail;
	}
	return cl;
fail:
	sched_cluster_free(cl);
	return NULL;
}

static bool in_list(char *const *v, size_t n, const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i], id))
			return true;
	return false;
}

/* A deleted DAEMON service: its tasks are stopped (it has no desired count
 * to scale to 0); INACTIVE once none is left. */
static int drain_daemon(struct svcctl *c, struct svc *s, const json_t *live, struct berr **err)
{
	size_t nd, i;
	const struct sched_svc_deployment *deps = sched_svc_deployments(s->ctl, &nd);
	cleanup_free char *reason = xasprintf("Scaling activity initiated by (deployment %s)", deps[0].id);
	json_t *v;

	s->running = s->pending = 0;
	json_array_foreach(live, i, v) {
		struct api_error e = { 0 };

		if (!strcmp(sget(v, "desiredStatus") ?: "", "STOPPED"))
			continue;
		if (!strcmp(sget(v, "lastStatus") ?: "", "RUNNING"))
			s->running++;
		else
			s->pending++;
		if (api_task_stop_as(c->d, s->cluster, api_arn_tail(sget(v, "taskArn") ?: ""),
				     "ServiceSchedulerInitiated", reason, &e) < 0) {
			log_warn("service %s: stop task: %s: %s", s->name, e.type, e.message ?: "");
			api_error_clear(&e);
		}
	}
	if (!json_array_size(live))
		snprintf(s->status, sizeof(s->status), "INACTIVE");
	return svc_save(c->d, s, false, err);
}

/* ---- berth-lb: service tasks as targets ---- */

/* One step's view of berth-lb: per loadBalancers entry, {address: TargetHealth}. */
struct lbview {
	const json_t *lbs;      /* the spec's loadBalancers */
	json_t *health;         /* array, one object per entry */
	bool ok;                /* berth-lb answered for every entry */
};

static const char *task_ip(const json_t *doc, const char *container)
{
	json_t *c;
	size_t i;

	json_array_foreach(json_object_get(doc, "containers"), i, c)
		if (!strcmp(sget(c, "name") ?: "", container))
			return sget(json_array_get(json_object_get(c, "networkInterfaces"), 0),
				    "privateIpv4Address");
	return NULL;
}

static void lb_fetch(struct berthd *d, struct svc *s, struct lbview *lv)
{
	json_t *v;
	size_t i;

	lv->lbs = json_object_get(s->spec, "loadBalancers");
	lv->health = json_array();
	lv->ok = true;
	json_array_foreach(lv->lbs, i, v) {
		cleanup_json json_t *req = json_pack("{s:s, s:s}", "Action", "DescribeTargetHealth",
						     "TargetGroup", sget(v, "targetGroup") ?: "");
		cleanup_json json_t *resp = NULL;
		cleanup_berr struct berr *err = NULL;
		json_t *m = json_object(), *t;
		size_t k;

		if (lbc_call(d->cfg.lb_control, req, &resp, &err) < 0) {
			if (!s->lb_broken)
				log_error("service %s: %s", s->name, berr_msg(err));
			s->lb_broken = true;
			lv->ok = false;
		}
		json_array_foreach(json_object_get(resp, "TargetHealthDescriptions"), k, t)
			json_object_set(m, sget(json_object_get(t, "Target"), "Address") ?: "",
					json_object_get(t, "TargetHealth"));
		json_array_append_new(lv->health, m);
	}
	if (lv->ok)
		s->lb_broken = false;
}

static void lb_targets(struct berthd *d, struct svc *s, const char *action, const char *tg, const char *addr)
{
	cleanup_json json_t *req = json_pack("{s:s, s:s, s:[s]}", "Action", action, "TargetGroup", tg,
					     "Targets", addr);
	cleanup_json json_t *resp = NULL;
	cleanup_berr struct berr *err = NULL;

	if (lbc_call(d->cfg.lb_control, req, &resp, &err) < 0)
		log_warn("service %s: %s %s in %s: %s", s->name, action, addr, tg, berr_msg(err));
	else
		log_info("service %s: %s %s in target group %s", s->name,
			 action[0] == 'R' ? "registered" : "deregistered (draining)", addr, tg);
}

static bool draining(const struct svc *s, const char *id)
{
	for (size_t i = 0; i < s->ndrain; i++)
		if (!strcmp(s->drain[i].id, id))
			return true;
	return false;
}

/* Register a live task's targets while it runs and is wanted, deregister
 * them otherwise; its load balancer health for the controller. doc NULL
 * or t NULL: only the registration side. */
static void lb_apply(struct berthd *d, struct svc *s, const struct lbview *lv, const json_t *doc,
		     struct sched_svc_task *t)
{
	const char *id = api_arn_tail(sget(doc, "taskArn") ?: "");
	bool stopped = !strcmp(sget(doc, "lastStatus") ?: "", "STOPPED");
	bool want = !stopped && !strcmp(sget(doc, "lastStatus") ?: "", "RUNNING") &&
		    strcmp(sget(doc, "desiredStatus") ?: "", "STOPPED") && !draining(s, id);
	bool any_unhealthy = false, all_healthy = true;
	json_t *v;
	size_t i;

	if (t && draining(s, id))
		t->desired_stopped = true;
	json_array_foreach(lv->lbs, i, v) {
		const char *ip = task_ip(doc, sget(v, "containerName") ?: "");
		const char *tg = sget(v, "targetGroup") ?: "";
		json_t *th;
		const char *state;
		char addr[80];

		all_healthy = all_healthy && ip;
		if (!ip)
			continue;
		snprintf(addr, sizeof(addr), "%s:%lld", ip,
			 (long long)json_integer_value(json_object_get(v, "containerPort")));
		th = json_object_get(json_array_get(lv->health, i), addr);
		state = sget(th, "State");
		if (want && lv->ok && !state) {
			lb_targets(d, s, "RegisterTargets", tg, addr);
			state = "initial";
		} else if (!want && lv->ok && state && strcmp(state, "draining")) {
			lb_targets(d, s, "DeregisterTargets", tg, addr);
			state = "draining";
		}
		if (!t)
			continue;
		t->lb_target_group = sget(v, "targetGroupArn");
		t->lb_port = (int32_t)json_integer_value(json_object_get(v, "containerPort"));
		if (state && !strcmp(state, "unhealthy")) {
			any_unhealthy = true;
			t->lb_reason = !strcmp(sget(th, "Reason") ?: "", "Target.Timeout") ? "Request timed out"
												: "Health checks failed";
		}
		if (!state || strcmp(state, "healthy"))
			all_healthy = false;
	}
	if (t && json_array_size(lv->lbs))
		t->lb = any_unhealthy ? SCHED_SVC_LB_UNHEALTHY : all_healthy ? SCHED_SVC_LB_HEALTHY
									   : SCHED_SVC_LB_INITIAL;
}

/* Whether any target of the task is still known to berth-lb */
static bool lb_registered(const struct lbview *lv, const json_t *doc)
{
	json_t *v;
	size_t i;

	json_array_foreach(lv->lbs, i, v) {
		const char *ip = task_ip(doc, sget(v, "containerName") ?: "");
		char addr[80];

		if (!ip)
			continue;
		snprintf(addr, sizeof(addr), "%s:%lld", ip,
			 (long long)json_integer_value(json_object_get(v, "containerPort")));
		if (json_object_get(json_array_get(lv->health, i), addr))
			return true;
	}
	return false;
}

static json_t *doc_by_id(const json_t *docs, const char *id)
{
	json_t *v;
	size_t i;

	json_array_foreach(docs, i, v)
		if (!strcmp(api_arn_tail(sget(v, "taskArn") ?: ""), id))
			return v;
	return NULL;
}

/* Tasks waiting for their targets to drain: stopped once berth-lb has let
 * go of every target (after the group's deregistration delay), or at the
 * latest at `until`. */
static void drain_step(struct berthd *d, struct svc *s, const struct lbview *lv, const json_t *live)
{
	int64_t now = (int64_t)api_now();

	for (size_t i = 0; i < s->ndrain;) {
		struct drain *x = &s->drain[i];
		json_t *doc = doc_by_id(live, x->id);
		bool go = !doc || now >= x->until || (lv->ok && !lb_registered(lv, doc));

		if (!go) {
			i++;
			continue;
		}
		if (doc) {
			struct api_error e = { 0 };

			log_info("service %s: task %s %s, stopping it", s->name, x->id,
				 now >= x->until ? "did not drain in time" : "drained from berth-lb");
			if (api_task_stop_as(d, s->cluster, x->id, "ServiceSchedulerInitiated", x->reason, &e) < 0) {
				log_warn("service %s: stop task %s: %s: %s", s->name, x->id, e.type,
					 e.message ?: "");
				api_error_clear(&e);
			}
		}
		free(x->id);
		free(x->reason);
		memmove(s->drain + i, s->drain + i + 1, (s->ndrain - i - 1) * sizeof(*s->drain));
		s->ndrain--;
	}
}

/* Application Auto Scaling (autoscaling.c) may change the desired count:
 * as UpdateService would, without a new deployment. */
static void autoscale(struct berthd *d, struct svc *s, const json_t *live)
{
	size_t nd;
	const struct sched_svc_deployment *deps = sched_svc_deployments(s->ctl, &nd);
	int32_t current = (int32_t)json_integer_value(json_object_get(s->spec, "desiredCount")), want;
	cleanup_free char *cause = NULL;
	cleanup_json json_t *spec = NULL;
	cleanup_berr struct berr *err = NULL;
	struct api_error e = { 0 };
	struct sched_svc_spec sp;
	struct spec_hold h;
	int r;

	if (autoscaling_service_step(d, s->cluster, s->name, live, current,
				     nd > 1 || deps[0].rollout == SCHED_SVC_IN_PROGRESS, &want, &cause) <= 0)
		return;
	spec = json_deep_copy(s->spec);
	json_object_set_new(spec, "desiredCount", json_integer(want));
	if (spec_build(d, s, spec, &sp, &h, &e) < 0) {
		log_warn("service %s: autoscaling to %d: %s: %s", s->name, want, e.type, e.message ?: "");
		api_error_clear(&e);
		return;
	}
	r = sched_svc_update(s->ctl, &sp, false, (int64_t)api_now(), &err);
	api_task_needs_free(&h.needs);
	if (r < 0) {
		log_warn("service %s: autoscaling to %d: %s", s->name, want, berr_msg(err));
		return;
	}
	json_decref(s->spec);
	s->spec = json_incref(spec);
}

/* Service discovery: the tasks that answer for the service are RUNNING,
 * not being stopped (nor drained from berth-lb, nor chosen to stop in this
 * step) and, with a container health check, HEALTHY. tv[i] is live[i]. */
static void publish(struct berthd *d, struct svc *s, const json_t *live, const struct sched_svc_task *tv,
		    const struct sched_svc_actions *a)
{
	const json_t *regs = json_object_get(s->spec, "serviceRegistries");
	struct discovery_task *v;
	const char *reg_c = sget(json_array_get(regs, 0), "containerName");
	json_t *doc;
	size_t i, n = 0;

	if (!json_array_size(regs))
		return;
	v = xcalloc(json_array_size(live) + 1, sizeof(*v));
	json_array_foreach(live, i, doc) {
		const struct sched_svc_task *t = &tv[i];
		const char *ip = NULL;
		bool stopping = false;
		json_t *c;
		size_t k;

		if (t->last_status != SCHED_SVC_RUNNING || t->desired_stopped || draining(s, t->id) ||
		    (t->has_health_check && t->health != SCHED_SVC_HEALTH_HEALTHY))
			continue;
		for (k = 0; k < a->nstop; k++)
			stopping = stopping || !strcmp(a->stop[k].task_id, t->id);
		if (stopping)
			continue;
		/* awsvpc: every container has the task's address */
		json_array_foreach(json_object_get(doc, "containers"), k, c) {
			if (reg_c && strcmp(sget(c, "name") ?: "", reg_c))
				continue;
			ip = sget(json_array_get(json_object_get(c, "networkInterfaces"), 0), "privateIpv4Address");
			if (ip)
				break;
		}
		if (!ip)
			continue;
		v[n].task_id = t->id;
		v[n].ipv4 = ip;
		v[n].td_arn = sget(doc, "taskDefinitionArn");
		n++;
	}
	discovery_publish(d, s->cluster, s->name, regs, v, n);
	free(v);
}

/* A cluster: the tasks of an instance that is away (disconnected) are
 * replaced: taken out of live, so the controller starts others, and
 * written desiredStatus STOPPED, so that the instance stops them if it
 * comes back (cstate.c, apply_task). */
static void away_filter(struct berthd *d, struct svc *s, json_t *live)
{
	for (size_t i = 0; i < json_array_size(live);) {
		json_t *v = json_array_get(live, i);
		const char *owner = cstate_owner(v);

		if (!owner || !strcmp(owner, d->instance_id) || !cstate_instance_down(d, owner)) {
			i++;
			continue;
		}
		if (strcmp(sget(v, "desiredStatus") ?: "", "STOPPED")) {
			cleanup_free char *why = xasprintf("Container instance %s is disconnected: the "
							   "service replaces the task", owner);
			cleanup_berr struct berr *err = NULL;
			const char *id = api_arn_tail(sget(v, "taskArn") ?: "");

			if (cstate_mark_task(d, v, false, "ServiceSchedulerInitiated", why, &err) < 0)
				log_warn("service %s: task %s: %s", s->name, id, berr_msg(err));
			else
				log_info("service %s: task %s is on disconnected instance %s: replacing it",
					 s->name, id, owner);
		}
		json_array_remove(live, i);
	}
}

static bool on_away_instance(struct berthd *d, const json_t *doc)
{
	const char *owner = cstate_owner(doc);

	return owner && strcmp(owner, d->instance_id) && cstate_instance_down(d, owner);
}

static int svc_step(struct svcctl *c, struct svc *s, struct berr **err)
{
	struct berthd *d = c->d;
	char group[300];
	struct store_task_filter f = { .cluster = s->cluster, .group = group, .not_stopped = true };
	cleanup_json json_t *live = NULL, *gone = json_array(), *hc_cache = json_object();
	struct lbview lv = { 0 };
	struct sched_svc_task *tv = NULL;
	struct sched_cluster *cl = NULL;
	struct sched_svc_actions a = { 0 };
	char **vids = NULL, **varns = NULL;   /* a cluster: its instances (cstate_view) */
	char **next = NULL;
	size_t nt = 0, nnext = 0, i;
	bool more;
	json_t *v;
	int r;

	snprintf(group, sizeof(group), "service:%s", s->name);
	if ((r = store_task_list(d->st, &f, NULL, &live, &more, err)) < 0)
		return r;
	/* a cluster: every instance with every task (also marks who is away) */
	if (cstate_on(d)) {
		if ((r = cstate_view(d, &cl, &vids, &varns, err)) < 0)
			return r;
		away_filter(d, s, live);
	}
	if (!strcmp(s->status, "DRAINING") &&
	    !strcmp(sget(s->spec, "schedulingStrategy") ?: "", "DAEMON"))
	{
		r = drain_daemon(c, s, live, err);
		goto fail_view;
	}
	/* tasks live last step (or started) and not live now: shown once more,
	 * as they are now (STOPPED), so their ends count */
	for (i = 0; i < s->nexpect; i++) {
		bool found = false;
		json_t *doc = NULL;
		size_t k;

		json_array_foreach(live, k, v)
			if (!strcmp(api_arn_tail(sget(v, "taskArn") ?: ""), s->expect[i]))
				found = true;
		if (found)
			continue;
		if ((r = store_task_get(d->st, s->expect[i], &doc, err)) < 0)
			goto fail_view;
		if (r > 0 && on_away_instance(d, doc))
			json_decref(doc);   /* replaced: not an end that counts */
		else if (r > 0)
			json_array_append_new(gone, doc);
	}
	nt = json_array_size(live) + json_array_size(gone);
	tv = xcalloc(nt ? nt : 1, sizeof(*tv));
	nt = 0;
	if (json_array_size(json_object_get(s->spec, "loadBalancers"))) {
		lb_fetch(d, s, &lv);
		drain_step(d, s, &lv, live);
	}
	json_array_foreach(live, i, v) {
		task_view(v, td_health_check(d, hc_cache, sget(v, "taskDefinitionArn")), &tv[nt]);
		if (lv.lbs)
			lb_apply(d, s, &lv, v, &tv[nt]);
		nt++;
	}
	json_array_foreach(gone, i, v) {
		task_view(v, td_health_check(d, hc_cache, sget(v, "taskDefinitionArn")), &tv[nt++]);
		if (lv.lbs)
			lb_apply(d, s, &lv, v, NULL);
	}
	/* target tracking: a new desired count before the step (REPLICA, ACTIVE) */
	if (!strcmp(s->status, "ACTIVE") && !strcmp(sget(s->spec, "schedulingStrategy") ?: "", "REPLICA"))
		autoscale(d, s, live);
	if (!cl && !(cl = build_cluster(d, s, live, err))) {
		free(tv);
		json_decref(lv.health);
		return -EIO;
	}
	r = sched_svc_step(s->ctl, tv, nt, cl, (int64_t)api_now(), &a, err);
	sched_cluster_free(cl);
	cl = NULL;
	if (r < 0) {
		free(tv);
		json_decref(lv.health);
		goto fail_view;
	}
	s->running = a.running_count;
	s->pending = a.pending_count;
	publish(d, s, live, tv, &a);

	next = xcalloc(json_array_size(live) + a.nstart + 1, sizeof(*next));
	json_array_foreach(live, i, v)
		next[nnext++] = xstrdup(api_arn_tail(sget(v, "taskArn") ?: ""));
	free(tv);

	for (i = 0; i < a.nstop; i++) {
		struct api_error e = { 0 };
		json_t *doc = lv.lbs ? doc_by_id(live, a.stop[i].task_id) : NULL;

		/* behind a load balancer: deregistered first, stopped once drained */
		if (doc && lv.ok && lb_registered(&lv, doc)) {
			s->drain = xreallocarray(s->drain, s->ndrain + 1, sizeof(*s->drain));
			s->drain[s->ndrain++] = (struct drain){
				.id = xstrdup(a.stop[i].task_id), .reason = xstrdup(a.stop[i].reason),
				.until = (int64_t)api_now() + SVC_DRAIN_MAX_SECONDS,
			};
			lb_apply(d, s, &lv, doc, NULL);
			continue;
		}
		if (api_task_stop_as(d, s->cluster, a.stop[i].task_id, "ServiceSchedulerInitiated",
				     a.stop[i].reason, &e) < 0) {
			log_warn("service %s: stop task %s: %s: %s", s->name, a.stop[i].task_id, e.type,
				 e.message ?: "");
			api_error_clear(&e);
		}
	}
	for (i = 0; i < a.nstart; i++) {
		struct api_error e = { 0 };
		cleanup_json json_t *in = json_pack("{s:s, s:s, s:s, s:s, s:s}", "cluster", s->cluster,
						    "taskDefinition", a.start[i].task_definition,
						    "launchType", sget(s->spec, "launchType"),
						    "startedBy", a.start[i].deployment, "group", group);
		cleanup_json json_t *res = NULL;
		json_t *nc = json_object_get(s->spec, "networkConfiguration");

		if (nc)
			json_object_set(in, "networkConfiguration", nc);
		if (vids && a.start[i].instance != SCHED_NONE)
			res = api_run_task_on(d, in, a.start[i].task_id, vids[a.start[i].instance],
					      varns[a.start[i].instance], &e);
		else
			res = api_run_task_as(d, in, a.start[i].task_id, &e);
		if (!res) {
			log_warn("service %s: start a task of %s: %s: %s", s->name, a.start[i].task_definition,
				 e.type, e.message ?: "");
			api_error_clear(&e);
			continue;
		}
		if (json_array_size(json_object_get(res, "failures")))
			log_warn("service %s: task %s not started: %s", s->name, a.start[i].task_id,
				 sget(json_array_get(json_object_get(res, "failures"), 0), "reason") ?: "?");
		else if (!in_list(next, nnext, a.start[i].task_id))
			next[nnext++] = xstrdup(a.start[i].task_id);
	}
	sched_svc_actions_free(&a);
	json_decref(lv.health);
	cstate_strv_free(vids);
	cstate_strv_free(varns);
	expect_clear(s);
	s->expect = next;
	s->nexpect = nnext;

	/* a deleted service is INACTIVE once its last task is gone */
	if (!strcmp(s->status, "DRAINING") && !json_array_size(live)) {
		snprintf(s->status, sizeof(s->status), "INACTIVE");
		discovery_publish(d, s->cluster, s->name, NULL, NULL, 0);
	}
	return svc_save(d, s, false, err);
fail_view:
	sched_cluster_free(cl);
	cstate_strv_free(vids);
	cstate_strv_free(varns);
	return r;
}

void svcctl_step_all(struct svcctl *c)
{
	/* in a cluster only the leader drives the services */
	if (cstate_on(c->d) && !c->d->cluster_leader)
		return;
	c->stepping = true;
	for (size_t i = 0; i < c->n;) {
		struct svc *s = c->v[i];
		cleanup_berr struct berr *err = NULL;

		if (svc_step(c, s, &err) < 0) {
			if (!s->broken)
				log_error("service %s (cluster %s): %s", s->name, s->cluster, berr_msg(err));
			s->broken = true;
		} else {
			s->broken = false;
		}
		if (!strcmp(s->status, "INACTIVE")) {
			log_info("service %s (cluster %s): deleted, no task left: INACTIVE", s->name, s->cluster);
			drop_svc(c, s);
			continue;
		}
		i++;
	}
	c->stepping = false;
}

static struct svc *svc_from_store(struct berthd *d, const json_t *doc, const json_t *state,
				  struct berr **err);

int svcctl_reload(struct berthd *d, const json_t *doc, const json_t *state, struct berr **err)
{
	const char *carn = sget(doc, "clusterArn") ?: "";
	const char *slash = strrchr(carn, '/');
	const char *cluster = slash ? slash + 1 : carn;
	struct svc *s, *n, tmp;

	if (!d->svcs)
		return svcctl_new(d, &d->svcs, err);   /* loads it from the store */
	s = find_svc(d->svcs, cluster, sget(doc, "serviceName") ?: "");
	if (!strcmp(sget(doc, "status") ?: "", "INACTIVE")) {
		if (s)
			drop_svc(d->svcs, s);
		return 0;
	}
	if (!(n = svc_from_store(d, doc, state, err)))
		return -EINVAL;
	if (!s) {
		d->svcs->v = xreallocarray(d->svcs->v, d->svcs->n + 1, sizeof(*d->svcs->v));
		d->svcs->v[d->svcs->n++] = n;
		log_info("service %s (cluster %s): created on another host", n->name, n->cluster);
		return 0;
	}
	/* in place (callers may hold s): the record's part from n, this host's
	 * own bookkeeping (expected tasks, draining, logged failures) kept */
	tmp = *s;
	*s = *n;
	s->expect = tmp.expect;
	s->nexpect = tmp.nexpect;
	s->drain = tmp.drain;
	s->ndrain = tmp.ndrain;
	s->broken = tmp.broken;
	s->lb_broken = tmp.lb_broken;
	tmp.expect = NULL;
	tmp.nexpect = 0;
	tmp.drain = NULL;
	tmp.ndrain = 0;
	*n = tmp;
	svc_free(n);
	{
		cleanup_json json_t *d2 = service_doc(s), *s2 = state_json(s);
		cleanup_free char *a = bjson_dumps(d2), *b = bjson_dumps(s2);

		free(s->saved);
		s->saved = xasprintf("%s\n%s", a, b);
	}
	return 0;
}

static void timer_event(struct ev_handler *h, uint32_t events)
{
	struct svcctl *c = (struct svcctl *)((char *)h - offsetof(struct svcctl, h));
	uint64_t n;

	(void)events;
	if (read(c->timerfd, &n, sizeof(n)) < 0)
		return;
	if (c->d->stopping)
		return;
	svcctl_step_all(c);
	schedules_step(c->d);
}

/* ------------------------------------------------------------ lifecycle */

static struct svc *svc_from_store(struct berthd *d, const json_t *doc, const json_t *state, struct berr **err)
{
	struct svc *s = xzalloc(sizeof(*s));
	const char *carn = sget(doc, "clusterArn") ?: "";
	const char *slash = strrchr(carn, '/');

	s->cluster = xstrdup(slash ? slash + 1 : carn);
	s->cluster_arn = xstrdup(carn);
	s->name = xstrdup(sget(doc, "serviceName") ?: "");
	s->arn = xstrdup(sget(doc, "serviceArn") ?: "");
	snprintf(s->status, sizeof(s->status), "%s", sget(doc, "status") ?: "ACTIVE");
	s->created_at = json_number_value(json_object_get(doc, "createdAt"));
	s->running = (int32_t)json_integer_value(json_object_get(doc, "runningCount"));
	s->pending = (int32_t)json_integer_value(json_object_get(doc, "pendingCount"));
	s->spec = json_incref(json_object_get(state, "spec"));
	if (sget(state, "clientToken"))
		s->client_token = xstrdup(sget(state, "clientToken"));
	if (!json_is_object(s->spec) || ctl_restore(d, s, state, err) < 0) {
		if (!json_is_object(s->spec))
			berr_set(err, EINVAL, "stored state has no spec");
		svc_free(s);
		return NULL;
	}
	return s;
}

int svcctl_new(struct berthd *d, struct svcctl **out, struct berr **err)
{
	struct svcctl *c = xzalloc(sizeof(*c));
	cleanup_json json_t *docs = NULL, *states = NULL;
	struct itimerspec its = { 0 };
	json_t *v;
	size_t i;
	int r;

	c->d = d;
	c->timerfd = -1;
	c->h.fn = timer_event;
	if ((r = store_service_live(d->st, &docs, &states, err)) < 0)
		goto fail;
	json_array_foreach(docs, i, v) {
		cleanup_berr struct berr *e2 = NULL;
		struct svc *s = svc_from_store(d, v, json_array_get(states, i), &e2);

		if (!s) {
			log_error("service %s: its saved state does not load, it is not driven: %s",
				  sget(v, "serviceArn") ?: "?", berr_msg(e2));
			continue;
		}
		/* the tasks live now are the ones it had */
		c->v = xreallocarray(c->v, c->n + 1, sizeof(*c->v));
		c->v[c->n++] = s;
	}
	if (d->epfd < 0) {
		/* no event loop (unit tests): steps are the caller's */
		*out = c;
		return 0;
	}
	c->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (c->timerfd < 0) {
		r = berr_set(err, errno, "services: timerfd");
		goto fail;
	}
	its.it_value.tv_sec = its.it_interval.tv_sec = d->cfg.service_interval_ms / 1000;
	its.it_value.tv_nsec = its.it_interval.tv_nsec = (d->cfg.service_interval_ms % 1000) * 1000000;
	if (timerfd_settime(c->timerfd, 0, &its, NULL) < 0) {
		r = berr_set(err, errno, "services: timerfd_settime");
		goto fail;
	}
	if ((r = server_watch(d, c->timerfd, EPOLLIN, &c->h)) < 0)
		goto fail;
	if (c->n)
		log_info("services: %zu loaded", c->n);
	*out = c;
	return 0;
fail:
	svcctl_free(c);
	return r;
}

void svcctl_free(struct svcctl *c)
{
	if (!c)
		return;
	if (c->timerfd >= 0) {
		if (c->d->epfd >= 0)
			server_unwatch(c->d, c->timerfd);
		close(c->timerfd);
	}
	for (size_t i = 0; i < c->n; i++)
		svc_free(c->v[i]);
	free(c->v);
	free(c);
}

/* ---------------------------------------------------------------- the API */

static bool service_name_ok(const char *s)
{
	size_t n = strlen(s);

	return n >= 1 && n <= 255 &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") == n;
}

/* Fields no service of berth takes yet, and the ones that only take one value. */
static int refuse_unbuilt(json_t *in, struct api_error *e)
{
	static const char *const lists[] = {
		"capacityProviderStrategy", "volumeConfigurations",
		"vpcLatticeConfigurations", NULL,
	};
	json_t *v;

	for (size_t i = 0; lists[i]; i++)
		if ((v = json_object_get(in, lists[i])) && !json_is_null(v) &&
		    (!json_is_array(v) || json_array_size(v)))
			return FAIL(e, "InvalidParameterException",
					"%s: not supported yet by berth's services", lists[i]);
	if ((v = json_object_get(in, "serviceConnectConfiguration")) && !json_is_null(v) &&
	    json_is_true(json_object_get(v, "enabled")))
		return FAIL(e, "InvalidParameterException",
				"serviceConnectConfiguration: not supported yet by berth's services");
	if (json_is_true(json_object_get(in, "enableExecuteCommand")))
		return FAIL(e, "InvalidParameterException",
				"enableExecuteCommand: ECS Exec is not supported by berth (use `berth exec`)");
	if (json_is_true(json_object_get(in, "enableECSManagedTags")))
		return FAIL(e, "InvalidParameterException",
				"enableECSManagedTags: not supported yet by berth's services");
	if ((v = json_object_get(in, "propagateTags")) && !json_is_null(v) &&
	    strcmp(json_string_value(v) ?: "", "NONE"))
		return FAIL(e, "InvalidParameterException",
				"propagateTags: only NONE is supported by berth's services yet");
	if ((v = json_object_get(in, "deploymentController")) && !json_is_null(v) &&
	    strcmp(sget(v, "type") ?: "ECS", "ECS"))
		return FAIL(e, "InvalidParameterException",
				"deploymentController.type: only ECS (rolling updates) is supported by berth");
	if ((v = json_object_get(in, "role")) && !json_is_null(v))
		return FAIL(e, "InvalidParameterException",
				"role: berth needs no service role (berthd registers targets in berth-lb "
				"itself); leave it out");
	if ((v = json_object_get(in, "platformVersion")) && !json_is_null(v) &&
	    strcmp(json_string_value(v) ?: "", "LATEST") && strcmp(json_string_value(v) ?: "", "1.4.0"))
		return FAIL(e, "InvalidParameterException",
				"platformVersion: berth runs FARGATE tasks as platform version 1.4.0 (LATEST)");
	return 0;
}

static bool pct_ok(json_t *v)
{
	return !v || json_is_null(v) || (json_is_integer(v) && json_integer_value(v) >= 0 &&
					 json_integer_value(v) <= 10000);
}

/* deploymentConfiguration as ECS takes it, normalized into *out (new ref). */
static int check_deploy_config(json_t *v, json_t **out, struct api_error *e)
{
	json_t *cb, *x;

	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_object(v))
		return FAIL(e, "InvalidParameterException", "deploymentConfiguration: expected object");
	if (!pct_ok(json_object_get(v, "maximumPercent")) || !pct_ok(json_object_get(v, "minimumHealthyPercent")))
		return FAIL(e, "InvalidParameterException", "deploymentConfiguration: maximumPercent and "
				"minimumHealthyPercent are integers");
	if ((x = json_object_get(v, "alarms")) && json_is_true(json_object_get(x, "enable")))
		return FAIL(e, "InvalidParameterException",
				"deploymentConfiguration.alarms: CloudWatch alarms are not supported by berth");
	if ((x = json_object_get(v, "strategy")) && !json_is_null(x) && strcmp(json_string_value(x) ?: "", "ROLLING"))
		return FAIL(e, "InvalidParameterException",
				"deploymentConfiguration.strategy: only ROLLING is supported by berth yet");
	if ((x = json_object_get(v, "lifecycleHooks")) && json_array_size(x))
		return FAIL(e, "InvalidParameterException",
				"deploymentConfiguration.lifecycleHooks: not supported by berth yet");
	*out = json_object();
	if ((x = json_object_get(v, "maximumPercent")) && json_is_integer(x))
		json_object_set(*out, "maximumPercent", x);
	if ((x = json_object_get(v, "minimumHealthyPercent")) && json_is_integer(x))
		json_object_set(*out, "minimumHealthyPercent", x);
	if ((cb = json_object_get(v, "deploymentCircuitBreaker")) && !json_is_null(cb)) {
		if (!json_is_object(cb) || !json_is_boolean(json_object_get(cb, "enable")) ||
		    !json_is_boolean(json_object_get(cb, "rollback"))) {
			json_decref(*out);
			*out = NULL;
			return FAIL(e, "InvalidParameterException",
					"deploymentConfiguration.deploymentCircuitBreaker: enable and rollback "
					"are required booleans");
		}
		json_object_set_new(*out, "deploymentCircuitBreaker",
				    json_pack("{s:O, s:O}", "enable", json_object_get(cb, "enable"),
					      "rollback", json_object_get(cb, "rollback")));
	}
	return 0;
}

/* placementConstraints / placementStrategy: shapes checked here, meaning
 * (expressions, fields) by the controller */
static int check_placement(json_t *in, const char *launch_type, json_t *spec, struct api_error *e)
{
	static const struct { const char *key; int max; } lists[] = {
		{ "placementConstraints", SCHED_MAX_CONSTRAINTS },
		{ "placementStrategy", SCHED_MAX_STRATEGIES },
	};
	json_t *a, *v;
	size_t i;

	for (size_t k = 0; k < 2; k++) {
		const char *key = lists[k].key;

		if (!(a = json_object_get(in, key)) || json_is_null(a))
			continue;
		if (!json_is_array(a) || json_array_size(a) > (size_t)lists[k].max)
			return FAIL(e, "InvalidParameterException", "%s: an array of at most %d", key,
					lists[k].max);
		json_array_foreach(a, i, v)
			if (!json_is_object(v) || !sget(v, "type"))
				return FAIL(e, "InvalidParameterException", "%s[%zu].type: required", key, i);
		if (json_array_size(a) && !strcmp(launch_type, "FARGATE"))
			return FAIL(e, "InvalidParameterException", "%s: not supported with launchType FARGATE",
					key);
		json_object_set(spec, key, a);
	}
	return 0;
}

/* networkConfiguration against the task definition (as RunTask checks it) */
static int check_network(struct berthd *d, json_t *nc, bool awsvpc, struct api_error *e)
{
	json_t *aws, *sg, *v;
	size_t i;

	if (!nc || json_is_null(nc))
		return 0;
	aws = json_object_get(nc, "awsvpcConfiguration");
	if (!json_is_object(nc) || (aws && !json_is_object(aws)))
		return FAIL(e, "InvalidParameterException",
				"networkConfiguration.awsvpcConfiguration: expected object");
	if (aws && !awsvpc)
		return FAIL(e, "InvalidParameterException", "Network Configuration is not valid for the "
				"given networkMode of this task definition.");
	if ((sg = json_object_get(aws, "securityGroups")) && !json_is_null(sg)) {
		if (!json_is_array(sg))
			return FAIL(e, "InvalidParameterException",
					"networkConfiguration.awsvpcConfiguration.securityGroups: expected array");
		json_array_foreach(sg, i, v)
			if (!json_is_string(v) || !netns_sg_find(&d->cfg.net.groups, json_string_value(v)))
				return FAIL(e, "InvalidParameterException",
						"networkConfiguration.awsvpcConfiguration.securityGroups[%zu]: no "
						"such security group in berthd.json's network.securityGroups", i);
	}
	return 0;
}

/* loadBalancers: each names a target group of berth-lb (by its ELBv2 ARN
 * or name) and a container port of the task definition; berthd registers
 * the awsvpc task IP with that port. Normalized into spec (with the group's
 * berth-lb name), or NULL with *e. */
static int check_lbs(struct berthd *d, json_t *lbs, const struct api_task_needs *needs, json_t *spec,
			 struct api_error *e)
{
	json_t *out, *v, *c, *pm;
	size_t i, j, k;

	if (!lbs || json_is_null(lbs) || (json_is_array(lbs) && !json_array_size(lbs))) {
		json_object_set_new(spec, "loadBalancers", json_array());
		return 0;
	}
	if (!json_is_array(lbs) || json_array_size(lbs) > 5)
		return FAIL(e, "InvalidParameterException", "loadBalancers: an array of at most 5");
	if (!d->cfg.lb_control)
		return FAIL(e, "InvalidParameterException", "loadBalancers: berthd has no load balancer: "
				"set lbControlSocket in berthd.json to berth-lb's --control socket");
	if (!needs->awsvpc)
		return FAIL(e, "InvalidParameterException", "loadBalancers: berth registers awsvpc tasks "
				"(task IP and containerPort); this task definition's networkMode is not awsvpc");
	out = json_array();
	json_array_foreach(lbs, i, v) {
		const char *arn = sget(v, "targetGroupArn"), *cname = sget(v, "containerName");
		json_t *port = json_object_get(v, "containerPort");
		cleanup_json json_t *req = NULL, *resp = NULL;
		cleanup_berr struct berr *err = NULL;
		bool found = false;
		char tg[64];

		if (!arn || lbc_target_group_name(arn, tg, sizeof(tg)) < 0) {
			json_decref(out);
			return FAIL(e, "InvalidParameterException", "loadBalancers[%zu].targetGroupArn: a "
					"target group ARN (arn:aws:elasticloadbalancing:...:targetgroup/NAME/ID) "
					"or a berth-lb target group name", i);
		}
		if (sget(v, "loadBalancerName")) {
			json_decref(out);
			return FAIL(e, "InvalidParameterException", "loadBalancers[%zu].loadBalancerName: "
					"Classic Load Balancers are not supported; use targetGroupArn", i);
		}
		if (!cname || !json_is_integer(port)) {
			json_decref(out);
			return FAIL(e, "InvalidParameterException", "loadBalancers[%zu]: containerName and "
					"containerPort are required", i);
		}
		json_array_foreach(json_object_get(needs->taskdef, "containerDefinitions"), j, c) {
			if (strcmp(sget(c, "name") ?: "", cname))
				continue;
			json_array_foreach(json_object_get(c, "portMappings"), k, pm)
				if (json_integer_value(json_object_get(pm, "containerPort")) ==
				    json_integer_value(port))
					found = true;
		}
		if (!found) {
			json_decref(out);
			return FAIL(e, "InvalidParameterException", "loadBalancers[%zu]: the task definition "
					"has no container %s with a port mapping for containerPort %lld", i, cname,
					(long long)json_integer_value(port));
		}
		req = json_pack("{s:s, s:s}", "Action", "DescribeTargetHealth", "TargetGroup", tg);
		if (lbc_call(d->cfg.lb_control, req, &resp, &err) < 0) {
			json_decref(out);
			return FAIL(e, "InvalidParameterException", "loadBalancers[%zu].targetGroupArn: %s",
					i, berr_msg(err));
		}
		json_array_append_new(out, json_pack("{s:s, s:s, s:O, s:s}", "targetGroupArn", arn,
						     "containerName", cname, "containerPort", port,
						     "targetGroup", tg));
	}
	json_object_set_new(spec, "loadBalancers", out);
	return 0;
}

/* The service a request names (`service`: a name or an ARN) in cluster. */
static int name_of(json_t *in, const char *key, const char *cluster, const char **name,
		       struct api_error *e)
{
	const char *ref = NULL, *p;

	if (api_get_string(in, key, true, &ref, e) < 0)
		return -1;
	*name = api_arn_tail(ref);
	if (!strncmp(ref, "arn:", 4)) {
		/* arn:...:service/<cluster>/<name>, or the old arn:...:service/<name> */
		p = strstr(ref, ":service/");
		if (!p)
			return FAIL(e, "ServiceNotFoundException", "Service not found.");
		p += strlen(":service/");
		if (strchr(p, '/') && (strncmp(p, cluster, strlen(cluster)) || p[strlen(cluster)] != '/'))
			return FAIL(e, "ServiceNotFoundException", "Service not found.");
	}
	if (!service_name_ok(*name))
		return FAIL(e, "ServiceNotFoundException", "Service not found.");
	return 0;
}

static int ensure_ctl(struct berthd *d, struct berr **err)
{
	if (d->svcs)
		return 0;
	return svcctl_new(d, &d->svcs, err);
}

static json_t *respond(struct svc *s)
{
	return json_pack("{s:o}", "service", service_doc(s));
}

json_t *api_create_service(struct berthd *d, json_t *in, struct api_error *e)
{
	cleanup_berr struct berr *err = NULL;
	cleanup_json json_t *spec = json_object(), *dconf = NULL, *old = NULL, *oldstate = NULL;
	struct api_task_needs needs = { 0 };
	char cluster[256];
	const char *name = NULL, *td = NULL, *lt = "EC2", *sched = "REPLICA", *token = NULL;
	json_t *ok = NULL, *tags = NULL, *nc, *cdoc = NULL;
	int64_t desired = 0, grace = -1;
	struct svc *s = NULL;
	struct sched_svc_spec sp;
	struct spec_hold h;
	int r;

	if (api_cluster_name(d, in, cluster, sizeof(cluster), e) < 0 ||
	    api_cluster_active(d, cluster, &cdoc, e) < 0)
		return NULL;
	if (api_get_string(in, "serviceName", true, &name, e) < 0 ||
	    api_get_string(in, "taskDefinition", false, &td, e) < 0 ||
	    api_get_string(in, "launchType", false, &lt, e) < 0 ||
	    api_get_string(in, "schedulingStrategy", false, &sched, e) < 0 ||
	    api_get_string(in, "clientToken", false, &token, e) < 0 ||
	    api_get_int(in, "healthCheckGracePeriodSeconds", false, 0, INT32_MAX, &grace, e) < 0 ||
	    api_get_array(in, "tags", false, &tags, e) < 0)
		goto out;
	if (!service_name_ok(name)) {
		api_fail(e, "InvalidParameterException", "serviceName: 1-255 letters, digits, hyphens and "
			 "underscores");
		goto out;
	}
	if (!td) {
		api_fail(e, "InvalidParameterException", "taskDefinition: required (berth's services use the "
			 "ECS deployment controller)");
		goto out;
	}
	if (strcmp(lt, "EC2") && strcmp(lt, "FARGATE")) {
		api_fail(e, "InvalidParameterException", "launchType: \"%s\" is not supported by berth (EC2 or "
			 "FARGATE)", lt);
		goto out;
	}
	if (strcmp(sched, "REPLICA") && strcmp(sched, "DAEMON")) {
		api_fail(e, "InvalidParameterException", "schedulingStrategy: REPLICA or DAEMON");
		goto out;
	}
	if (!strcmp(sched, "DAEMON") && !strcmp(lt, "FARGATE")) {
		api_fail(e, "InvalidParameterException", "The daemon scheduling strategy is not supported "
			 "with the FARGATE launch type.");
		goto out;
	}
	if (!strcmp(sched, "REPLICA")) {
		if (!json_object_get(in, "desiredCount")) {
			api_fail(e, "InvalidParameterException", "desiredCount: required with the REPLICA "
				 "scheduling strategy");
			goto out;
		}
		if (api_get_int(in, "desiredCount", true, 0, SVC_MAX_DESIRED, &desired, e) < 0)
			goto out;
	} else if (json_object_get(in, "desiredCount") && !json_is_null(json_object_get(in, "desiredCount"))) {
		api_fail(e, "InvalidParameterException", "desiredCount: a DAEMON service places one task on "
			 "each instance; leave desiredCount out");
		goto out;
	}
	if (refuse_unbuilt(in, e) < 0)
		goto out;
	if (check_deploy_config(json_object_get(in, "deploymentConfiguration"), &dconf, e) < 0)
		goto out;
	if (check_placement(in, lt, spec, e) < 0)
		goto out;
	if (tags && api_check_tags(tags, e) < 0)
		goto out;
	if (token && (!*token || strlen(token) > 36)) {
		api_fail(e, "InvalidParameterException", "clientToken: 1-36 characters");
		goto out;
	}
	if (api_task_needs(d, td, lt, &needs, e) < 0)
		goto out;
	if (!needs.active) {
		api_fail(e, "ClientException", "TaskDefinition is inactive: register a new revision to use it");
		goto out;
	}
	nc = json_object_get(in, "networkConfiguration");
	if (check_network(d, nc, needs.awsvpc, e) < 0)
		goto out;
	if (check_lbs(d, json_object_get(in, "loadBalancers"), &needs, spec, e) < 0)
		goto out;
	{
		json_t *regs = NULL;

		if (discovery_check_registries(d, json_object_get(in, "serviceRegistries"), &needs, &regs, e) < 0)
			goto out;
		json_object_set_new(spec, "serviceRegistries", regs);
	}

	/* an existing service of that name: the same request again (same
	 * clientToken) gets it back; anything else is an error */
	r = store_service_get(d->st, cluster, name, &old, &oldstate, &err);
	if (r < 0) {
		api_fail_berr(e, &err, "read service");
		goto out;
	}
	if (r > 0 && strcmp(sget(old, "status") ?: "", "INACTIVE")) {
		if (token && sget(oldstate, "clientToken") && !strcmp(token, sget(oldstate, "clientToken"))) {
			ok = json_pack("{s:O}", "service", old);
			goto out;
		}
		api_fail(e, "InvalidParameterException", "Creation of service was not idempotent.");
		goto out;
	}
	if ((r = ensure_ctl(d, &err)) < 0) {
		api_fail_berr(e, &err, "services");
		goto out;
	}

	json_object_set_new(spec, "serviceName", json_string(name));
	json_object_set_new(spec, "taskDefinition", json_string(needs.td_arn));
	json_object_set_new(spec, "launchType", json_string(lt));
	json_object_set_new(spec, "schedulingStrategy", json_string(sched));
	json_object_set_new(spec, "desiredCount", json_integer(desired));
	if (dconf)
		json_object_set(spec, "deploymentConfiguration", dconf);
	if (grace >= 0 && json_object_get(in, "healthCheckGracePeriodSeconds"))
		json_object_set_new(spec, "healthCheckGracePeriodSeconds", json_integer(grace));
	if (nc && !json_is_null(nc))
		json_object_set(spec, "networkConfiguration", nc);
	if (!json_object_get(spec, "placementConstraints"))
		json_object_set_new(spec, "placementConstraints", json_array());
	if (!json_object_get(spec, "placementStrategy"))
		json_object_set_new(spec, "placementStrategy", json_array());

	s = xzalloc(sizeof(*s));
	s->cluster = xstrdup(cluster);
	s->cluster_arn = xstrdup(sget(cdoc, "clusterArn") ?: "");
	s->name = xstrdup(name);
	s->arn = api_arn(d, "service/%s/%s", cluster, name);
	snprintf(s->status, sizeof(s->status), "ACTIVE");
	s->created_at = api_now();
	s->spec = json_incref(spec);
	s->client_token = token ? xstrdup(token) : NULL;
	if (spec_build(d, s, spec, &sp, &h, e) < 0)
		goto out;
	r = sched_svc_new(&sp, (int64_t)s->created_at, &s->ctl, &err);
	api_task_needs_free(&h.needs);
	if (r < 0) {
		api_fail(e, "InvalidParameterException", "%s", berr_msg(err));
		goto out;
	}
	sched_svc_set_id_fn(s->ctl, random_task_id, NULL);
	if (store_begin(d->st, &err) < 0) {
		api_fail_berr(e, &err, "begin");
		goto out;
	}
	if (svc_save(d, s, true, &err) < 0 ||
	    store_tags_drop(d->st, s->arn, &err) < 0 ||
	    (tags && json_array_size(tags) && store_tags_set(d->st, s->arn, tags, &err) < 0) ||
	    store_commit(d->st, &err) < 0) {
		store_rollback(d->st);
		api_fail_berr(e, &err, "record service");
		goto out;
	}
	d->svcs->v = xreallocarray(d->svcs->v, d->svcs->n + 1, sizeof(*d->svcs->v));
	d->svcs->v[d->svcs->n++] = s;
	log_info("service %s (cluster %s): created, %s, desired %lld", name, cluster, needs.td_arn,
		 (long long)desired);
	ok = respond(s);
	s = NULL;
out:
	json_decref(cdoc);
	api_task_needs_free(&needs);
	svc_free(s);
	return ok;
}

/* The service a request names, driven by this berthd. */
static struct svc *live_svc(struct berthd *d, json_t *in, const char *key, char *cluster, size_t len,
			    struct api_error *e)
{
	cleanup_berr struct berr *err = NULL;
	cleanup_json json_t *doc = NULL;
	const char *name;
	struct svc *s;
	int r;

	if (api_cluster_name(d, in, cluster, len, e) < 0 || api_cluster_active(d, cluster, NULL, e) < 0)
		return NULL;
	if (name_of(in, key, cluster, &name, e) < 0)
		return NULL;
	if ((s = find_svc(d->svcs, cluster, name)))
		return s;
	r = store_service_get(d->st, cluster, name, &doc, NULL, &err);
	if (r < 0) {
		api_fail_berr(e, &err, "read service");
		return NULL;
	}
	if (r == 0)
		api_fail(e, "ServiceNotFoundException", "Service not found.");
	else if (!strcmp(sget(doc, "status") ?: "", "INACTIVE"))
		api_fail(e, "ServiceNotActiveException", "Service was not ACTIVE.");
	else
		api_fail(e, "ServerException", "service %s: its saved state did not load at berthd's start "
			 "(see berthd's log)", name);
	return NULL;
}

json_t *api_update_service(struct berthd *d, json_t *in, struct api_error *e)
{
	cleanup_berr struct berr *err = NULL;
	cleanup_json json_t *spec = NULL, *dconf = NULL;
	struct api_task_needs needs = { 0 };
	char cluster[256];
	const char *td = NULL;
	json_t *ok = NULL, *nc, *v;
	int64_t desired = -1, grace = -1;
	bool force = false, net_changed = false;
	struct sched_svc_spec sp;
	struct spec_hold h;
	struct svc *s;
	int r;

	if (!(s = live_svc(d, in, "service", cluster, sizeof(cluster), e)))
		return NULL;
	if (strcmp(s->status, "ACTIVE"))
		return api_fail(e, "ServiceNotActiveException", "Service was not ACTIVE.");
	if (api_get_string(in, "taskDefinition", false, &td, e) < 0 ||
	    api_get_int(in, "desiredCount", false, 0, SVC_MAX_DESIRED, &desired, e) < 0 ||
	    api_get_int(in, "healthCheckGracePeriodSeconds", false, 0, INT32_MAX, &grace, e) < 0 ||
	    api_get_bool(in, "forceNewDeployment", false, &force, e) < 0)
		return NULL;
	if (json_object_get(in, "launchType") || json_object_get(in, "schedulingStrategy"))
		return api_fail(e, "InvalidParameterException", "launchType and schedulingStrategy cannot be "
				"changed by UpdateService");
	if (refuse_unbuilt(in, e) < 0)
		return NULL;
	if (check_deploy_config(json_object_get(in, "deploymentConfiguration"), &dconf, e) < 0)
		return NULL;
	spec = json_deep_copy(s->spec);
	if (check_placement(in, sget(spec, "launchType"), spec, e) < 0)
		return NULL;
	if (desired >= 0 && json_object_get(in, "desiredCount")) {
		if (!strcmp(sget(spec, "schedulingStrategy") ?: "", "DAEMON"))
			return api_fail(e, "InvalidParameterException", "desiredCount: a DAEMON service has one "
					"task per instance");
		json_object_set_new(spec, "desiredCount", json_integer(desired));
	}
	if (td) {
		if (api_task_needs(d, td, sget(spec, "launchType"), &needs, e) < 0)
			return NULL;
		if (!needs.active) {
			api_task_needs_free(&needs);
			return api_fail(e, "ClientException",
					"TaskDefinition is inactive: register a new revision to use it");
		}
		json_object_set_new(spec, "taskDefinition", json_string(needs.td_arn));
	} else if (api_task_needs(d, sget(spec, "taskDefinition"), sget(spec, "launchType"), &needs, e) < 0) {
		return NULL;
	}
	if (dconf)
		json_object_set(spec, "deploymentConfiguration", dconf);
	if (grace >= 0 && json_object_get(in, "healthCheckGracePeriodSeconds"))
		json_object_set_new(spec, "healthCheckGracePeriodSeconds", json_integer(grace));
	if ((nc = json_object_get(in, "networkConfiguration")) && !json_is_null(nc)) {
		if (check_network(d, nc, needs.awsvpc, e) < 0)
			goto out;
		v = json_object_get(spec, "networkConfiguration");
		net_changed = !v || !json_equal(v, nc);
		json_object_set(spec, "networkConfiguration", nc);
	}
	if (json_object_get(in, "loadBalancers") || td) {
		/* new ones, or the old ones against the new task definition */
		cleanup_json json_t *lbs = json_incref(json_object_get(in, "loadBalancers") ?:
						       json_object_get(spec, "loadBalancers"));

		if (check_lbs(d, lbs, &needs, spec, e) < 0)
			goto out;
	}
	if (json_object_get(in, "serviceRegistries") || td) {
		/* the same for the registries */
		json_t *regs = json_object_get(in, "serviceRegistries") ?: json_object_get(spec, "serviceRegistries");
		json_t *norm = NULL;

		if (discovery_check_registries(d, regs, &needs, &norm, e) < 0)
			goto out;
		json_object_set_new(spec, "serviceRegistries", norm);
	}
	if (spec_build(d, s, spec, &sp, &h, e) < 0)
		goto out;
	/* ECS starts a new deployment for a new task definition, a new
	 * network configuration or forceNewDeployment */
	r = sched_svc_update(s->ctl, &sp, force || net_changed, (int64_t)api_now(), &err);
	api_task_needs_free(&h.needs);
	if (r < 0) {
		api_fail(e, "InvalidParameterException", "%s", berr_msg(err));
		goto out;
	}
	json_decref(s->spec);
	s->spec = json_incref(spec);
	if (svc_save(d, s, true, &err) < 0) {
		api_fail_berr(e, &err, "record service");
		goto out;
	}
	log_info("service %s (cluster %s): updated", s->name, cluster);
	ok = respond(s);
out:
	api_task_needs_free(&needs);
	return ok;
}

json_t *api_delete_service(struct berthd *d, json_t *in, struct api_error *e)
{
	cleanup_berr struct berr *err = NULL;
	cleanup_json json_t *spec = NULL;
	char cluster[256];
	bool force = false;
	struct sched_svc_spec sp;
	struct spec_hold h;
	struct svc *s;
	int r;

	if (!(s = live_svc(d, in, "service", cluster, sizeof(cluster), e)))
		return NULL;
	if (api_get_bool(in, "force", false, &force, e) < 0)
		return NULL;
	if (!strcmp(s->status, "DRAINING"))
		return respond(s);
	if (!strcmp(sget(s->spec, "schedulingStrategy") ?: "", "REPLICA") && !force &&
	    json_integer_value(json_object_get(s->spec, "desiredCount")) > 0)
		return api_fail(e, "InvalidParameterException",
				"The service cannot be stopped while it is scaled above 0.");
	/* draining: the controller scales it to 0; INACTIVE when no task is left */
	spec = json_deep_copy(s->spec);
	json_object_set_new(spec, "desiredCount", json_integer(0));
	if (!strcmp(sget(spec, "schedulingStrategy") ?: "", "REPLICA")) {
		if (spec_build(d, s, spec, &sp, &h, e) < 0)
			return NULL;
		r = sched_svc_update(s->ctl, &sp, false, (int64_t)api_now(), &err);
		api_task_needs_free(&h.needs);
		if (r < 0)
			return api_fail_berr(e, &err, "service %s: scale to 0", s->name);
	}
	json_decref(s->spec);
	s->spec = json_incref(spec);
	snprintf(s->status, sizeof(s->status), "DRAINING");
	if (svc_save(d, s, true, &err) < 0)
		return api_fail_berr(e, &err, "record service");
	log_info("service %s (cluster %s): deleted, draining", s->name, cluster);
	return respond(s);
}

json_t *api_describe_services(struct berthd *d, json_t *in, struct api_error *e)
{
	cleanup_berr struct berr *err = NULL;
	char cluster[256];
	json_t *refs = NULL, *include = NULL, *v, *services, *failures;
	bool tags = false;
	size_t i;

	if (api_cluster_name(d, in, cluster, sizeof(cluster), e) < 0 ||
	    api_cluster_active(d, cluster, NULL, e) < 0 ||
	    api_get_array(in, "services", true, &refs, e) < 0 ||
	    api_get_array(in, "include", false, &include, e) < 0)
		return NULL;
	if (!json_array_size(refs) || json_array_size(refs) > 10)
		return api_fail(e, "InvalidParameterException", "services: 1 to 10 names or ARNs");
	json_array_foreach(include, i, v) {
		if (strcmp(json_string_value(v) ?: "", "TAGS"))
			return api_fail(e, "InvalidParameterException", "include[%zu]: only \"TAGS\"", i);
		tags = true;
	}
	services = json_array();
	failures = json_array();
	json_array_foreach(refs, i, v) {
		const char *ref = json_string_value(v), *name;
		struct api_error e2 = { 0 };
		json_t *doc = NULL;
		struct svc *s;
		int r, bad;

		if (!ref) {
			json_decref(services);
			json_decref(failures);
			return api_fail(e, "InvalidParameterException", "services[%zu]: expected string", i);
		}
		{
			/* name_of takes an object: its checks, on the string */
			cleanup_json json_t *o = json_pack("{s:s}", "service", ref);

			bad = name_of(o, "service", cluster, &name, &e2) < 0;
			api_error_clear(&e2);
		}
		if (bad) {
			json_array_append_new(failures, json_pack("{s:s, s:s}", "arn", ref, "reason", "MISSING"));
			continue;
		}
		name = api_arn_tail(ref);
		if ((s = find_svc(d->svcs, cluster, name))) {
			doc = service_doc(s);
		} else {
			r = store_service_get(d->st, cluster, name, &doc, NULL, &err);
			if (r < 0) {
				json_decref(services);
				json_decref(failures);
				return api_fail_berr(e, &err, "read service");
			}
			if (r == 0) {
				cleanup_free char *arn = strncmp(ref, "arn:", 4)
					? api_arn(d, "service/%s/%s", cluster, name) : xstrdup(ref);

				json_array_append_new(failures, json_pack("{s:s, s:s}", "arn", arn, "reason",
									  "MISSING"));
				continue;
			}
		}
		if (tags) {
			json_t *t = NULL;

			if (store_tags_get(d->st, sget(doc, "serviceArn"), &t, &err) < 0) {
				json_decref(doc);
				json_decref(services);
				json_decref(failures);
				return api_fail_berr(e, &err, "read tags");
			}
			json_object_set_new(doc, "tags", t);
		}
		json_array_append_new(services, doc);
	}
	return json_pack("{s:o, s:o}", "services", services, "failures", failures);
}

json_t *api_list_services(struct berthd *d, json_t *in, struct api_error *e)
{
	cleanup_berr struct berr *err = NULL;
	cleanup_free char *after = NULL;
	char cluster[256];
	const char *lt = NULL, *sched = NULL;
	struct store_service_filter f = { .cluster = cluster };
	json_t *arns = NULL, *out;
	int64_t limit;
	bool more = false;

	if (api_cluster_name(d, in, cluster, sizeof(cluster), e) < 0 ||
	    api_cluster_active(d, cluster, NULL, e) < 0 ||
	    api_get_string(in, "launchType", false, &lt, e) < 0 ||
	    api_get_string(in, "schedulingStrategy", false, &sched, e) < 0 ||
	    api_page_start(in, 10, 100, &after, &limit, e) < 0)
		return NULL;
	if (lt && strcmp(lt, "EC2") && strcmp(lt, "FARGATE") && strcmp(lt, "EXTERNAL"))
		return api_fail(e, "InvalidParameterException", "launchType: EC2, FARGATE or EXTERNAL");
	if (sched && strcmp(sched, "REPLICA") && strcmp(sched, "DAEMON"))
		return api_fail(e, "InvalidParameterException", "schedulingStrategy: REPLICA or DAEMON");
	f.launch_type = lt;
	f.scheduling = sched;
	{
		struct store_page pg = { .after = after, .limit = limit };

		if (store_service_list(d->st, &f, &pg, &arns, &more, &err) < 0)
			return api_fail_berr(e, &err, "list services");
	}
	out = json_pack("{s:o}", "serviceArns", arns);
	if (more && json_array_size(arns)) {
		const char *last = api_arn_tail(json_string_value(json_array_get(arns, json_array_size(arns) - 1)));

		char *tok = api_page_token(last);

		json_object_set_new(out, "nextToken", json_string(tok));
		free(tok);
	}
	return out;
}
