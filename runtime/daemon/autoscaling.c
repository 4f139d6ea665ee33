/* runtime/daemon/autoscaling.c - Application Auto Scaling for ECS services
 * (issue 12): the API subset the AWS CLI's `application-autoscaling`
 * commands use for target tracking (X-Amz-Target
 * AnyScaleFrontendService.<Op>, SigV4 service application-autoscaling),
 * and the loop side: per-period CPU and memory utilization of each scaled
 * service's tasks from their cgroups, fed to scheduler/autoscale.c, whose
 * decisions change the service's desired count. docs/berthd.md,
 * "Service autoscaling". */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/json.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "runtime/daemon/api.h"
#include "runtime/daemon/daemon.h"
#include "runtime/daemon/stats.h"
#include "runtime/daemon/store.h"
#include "scheduler/autoscale.h"

#define AAS_DIMENSION "ecs:service:DesiredCount"

/* One scalable target: its definition (as stored), the decision engine and
 * the utilization samples of the period in progress. */
struct scaled {
	char *resource_id;          /* service/<cluster>/<name> */
	json_t *doc;                /* stored: target and policies */
	struct sched_as *as;
	int64_t period_start;       /* the period being measured */
	json_t *samples;            /* {task id: [cpu usec, t]} at period_start */
	struct scaled *next;
};

/* berthd's scalable targets (d->aas) */
struct aas_state {
	struct scaled *list;
	bool loaded;
};

static const char *sget(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static void scaled_free(struct scaled *s)
{
	if (!s)
		return;
	free(s->resource_id);
	json_decref(s->doc);
	sched_as_free(s->as);
	json_decref(s->samples);
	free(s);
}

static struct scaled *find(struct berthd *d, const char *rid)
{
	for (struct scaled *s = d->aas ? d->aas->list : NULL; s; s = s->next)
		if (!strcmp(s->resource_id, rid))
			return s;
	return NULL;
}

static int32_t period_of(const struct berthd *d)
{
	return (int32_t)d->cfg.autoscaling_period;
}

/* The engine from a stored doc: the target, then each policy. */
static int build(struct berthd *d, struct scaled *s, struct berr **err)
{
	const json_t *doc = s->doc;
	json_t *susp = json_object_get(doc, "SuspendedState"), *p;
	struct sched_as_target_spec t = {
		.resource_id = s->resource_id,
		.min_capacity = (int32_t)json_integer_value(json_object_get(doc, "MinCapacity")),
		.max_capacity = (int32_t)json_integer_value(json_object_get(doc, "MaxCapacity")),
		.dynamic_in_suspended = json_is_true(json_object_get(susp, "DynamicScalingInSuspended")),
		.dynamic_out_suspended = json_is_true(json_object_get(susp, "DynamicScalingOutSuspended")),
		.scheduled_suspended = json_is_true(json_object_get(susp, "ScheduledScalingSuspended")),
		.period = period_of(d),
	};
	struct sched_as *as = NULL;
	size_t i;
	int r;

	if ((r = sched_as_new(&t, &as, err)) < 0)
		return r;
	json_array_foreach(json_object_get(doc, "Policies"), i, p) {
		const json_t *c = json_object_get(p, "TargetTrackingScalingPolicyConfiguration");
		const json_t *pm = json_object_get(c, "PredefinedMetricSpecification");
		struct sched_as_policy_spec ps = {
			.name = sget(p, "PolicyName"),
			.resource_label = sget(pm, "ResourceLabel"),
			.target_value = json_number_value(json_object_get(c, "TargetValue")),
			.scale_out_cooldown = json_is_integer(json_object_get(c, "ScaleOutCooldown"))
				? (int32_t)json_integer_value(json_object_get(c, "ScaleOutCooldown")) : -1,
			.scale_in_cooldown = json_is_integer(json_object_get(c, "ScaleInCooldown"))
				? (int32_t)json_integer_value(json_object_get(c, "ScaleInCooldown")) : -1,
			.disable_scale_in = json_is_true(json_object_get(c, "DisableScaleIn")),
		};

		if (!sched_as_metric_parse(sget(pm, "PredefinedMetricType") ?: "", &ps.metric) ||
		    (r = sched_as_put_policy(as, &ps, err)) < 0) {
			if (!*err)
				berr_set(err, EINVAL, "policy %s: unknown metric", ps.name ?: "?");
			sched_as_free(as);
			return -EINVAL;
		}
	}
	sched_as_free(s->as);
	s->as = as;
	return 0;
}

static void load(struct berthd *d)
{
	cleanup_berr struct berr *err = NULL;
	cleanup_json json_t *docs = NULL;
	json_t *v;
	size_t i;

	if (!d->aas)
		d->aas = xzalloc(sizeof(*d->aas));
	if (d->aas->loaded)
		return;
	d->aas->loaded = true;
	if (store_scaling_list(d->st, &docs, &err) < 0) {
		log_error("autoscaling: %s", berr_msg(err));
		return;
	}
	json_array_foreach(docs, i, v) {
		struct scaled *s = xzalloc(sizeof(*s));

		s->resource_id = xstrdup(sget(v, "ResourceId") ?: "");
		s->doc = json_incref(v);
		s->samples = json_object();
		if (build(d, s, &err) < 0) {
			log_error("autoscaling %s: its saved definition does not load: %s", s->resource_id,
				  berr_msg(err));
			berr_clear(&err);
			scaled_free(s);
			continue;
		}
		s->next = d->aas->list;
		d->aas->list = s;
	}
}

void autoscaling_free(struct berthd *d)
{
	if (!d->aas)
		return;
	while (d->aas->list) {
		struct scaled *n = d->aas->list->next;

		scaled_free(d->aas->list);
		d->aas->list = n;
	}
	free(d->aas);
	d->aas = NULL;
}

/* ---------------------------------------------------------------- the loop */

/* The service's tasks' mean CPU and memory utilization (percent of their
 * reservations) over the period that just ended; false when none could be
 * measured (no task ran the whole period). */
static bool measure(struct berthd *d, struct scaled *s, const json_t *live, int64_t now, double *cpu,
		    double *mem)
{
	json_t *next = json_object(), *v;
	double csum = 0, msum = 0;
	int cn = 0, mn = 0;
	size_t i;

	json_array_foreach(live, i, v) {
		const char *id = api_arn_tail(sget(v, "taskArn") ?: "");
		struct stats_cgroup cg;
		cleanup_berr struct berr *err = NULL;
		cleanup_free char *dir = NULL;
		double units = atof(sget(v, "cpu") ?: "0"), mib = atof(sget(v, "memory") ?: "0");
		json_t *prev;

		if (strcmp(sget(v, "lastStatus") ?: "", "RUNNING") || !d->cfg.cgroup_root)
			continue;
		dir = xasprintf("%s/%s", d->cfg.cgroup_root, id);
		memset(&cg, 0, sizeof(cg));
		if (stats_read_cgroup(dir, &cg, &err) < 0 || !cg.have_cpu)
			continue;
		prev = json_object_get(s->samples, id);
		if (prev && units > 0) {
			double du = (double)cg.cpu_usage_usec - json_number_value(json_array_get(prev, 0));
			double dt = (double)now - json_number_value(json_array_get(prev, 1));

			if (dt > 0 && du >= 0) {
				csum += du / 1e6 / dt / (units / 1024.0) * 100.0;
				cn++;
			}
		}
		if (cg.have_memory && mib > 0) {
			msum += (double)cg.memory_current / (mib * 1048576.0) * 100.0;
			mn++;
		}
		json_object_set_new(next, id, json_pack("[f, I]", (double)cg.cpu_usage_usec, (json_int_t)now));
	}
	json_decref(s->samples);
	s->samples = next;
	*cpu = cn ? csum / cn : NAN;
	*mem = mn ? msum / mn : NAN;
	return cn > 0;
}

int autoscaling_service_step(struct berthd *d, const char *cluster, const char *service, const json_t *live,
			     int32_t current, bool deployment_in_progress, int32_t *desired, char **cause)
{
	cleanup_free char *rid = xasprintf("service/%s/%s", cluster, service);
	int64_t now = (int64_t)api_now(), period = period_of(d);
	struct sched_as_decision dec;
	struct scaled *s;
	double cpu, mem;

	*desired = current;
	*cause = NULL;
	load(d);
	if (!(s = find(d, rid)))
		return 0;
	if (!s->period_start) {
		/* the first period starts now: this sample is its baseline */
		s->period_start = now - now % period;
		measure(d, s, live, now, &cpu, &mem);
		return 0;
	}
	if (now >= s->period_start + period) {
		bool have = measure(d, s, live, now, &cpu, &mem);

		if (have) {
			sched_as_put_datapoint(s->as, SCHED_AS_CPU, s->period_start, cpu);
			if (!isnan(mem))
				sched_as_put_datapoint(s->as, SCHED_AS_MEMORY, s->period_start, mem);
			log_debug("autoscaling %s: period %" PRId64 ": cpu %.1f%%, memory %.1f%%", rid,
				  s->period_start, cpu, mem);
		}
		s->period_start = now - now % period;
	}
	sched_as_step(s->as, now, current, deployment_in_progress, &dec);
	if (dec.action == SCHED_AS_NONE || dec.desired == current)
		return 0;
	*desired = dec.desired;
	if (dec.activity)
		*cause = xasprintf("%s %s", dec.activity->description ?: "", dec.activity->cause ?: "");
	log_info("autoscaling %s: desired count %d -> %d (%s)", rid, current, dec.desired,
		 dec.activity && dec.activity->cause ? dec.activity->cause : "limits");
	return 1;
}

/* ---------------------------------------------------------------- the API */

static int aas_fail(struct api_error *e, const char *type, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int aas_fail(struct api_error *e, const char *type, const char *fmt, ...)
{
	cleanup_free char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	api_fail(e, type, "%s", msg);
	return -1;
}

/* ServiceNamespace ecs, ScalableDimension ecs:service:DesiredCount (when
 * required), ResourceId service/<cluster>/<name> of a service that exists. */
static int target_key(struct berthd *d, json_t *in, bool dimension_required, bool need_service,
		      const char **rid, struct api_error *e)
{
	const char *ns = NULL, *dim = NULL, *p, *slash;
	cleanup_json json_t *doc = NULL;
	cleanup_berr struct berr *err = NULL;
	char cluster[256], name[256];

	if (api_get_string(in, "ServiceNamespace", true, &ns, e) < 0 ||
	    api_get_string(in, "ResourceId", true, rid, e) < 0 ||
	    api_get_string(in, "ScalableDimension", dimension_required, &dim, e) < 0)
		return -1;
	if (strcmp(ns, "ecs"))
		return aas_fail(e, "ValidationException", "ServiceNamespace %s: berth scales ECS services "
				"only (ecs)", ns);
	if (dim && strcmp(dim, AAS_DIMENSION))
		return aas_fail(e, "ValidationException", "ScalableDimension %s: ECS services scale on "
				AAS_DIMENSION, dim);
	p = *rid;
	if (strncmp(p, "service/", 8) || !(slash = strchr(p + 8, '/')) || slash == p + 8 || !slash[1] ||
	    strchr(slash + 1, '/') || (size_t)(slash - p - 8) >= sizeof(cluster) ||
	    strlen(slash + 1) >= sizeof(name))
		return aas_fail(e, "ValidationException", "ResourceId %s: service/<cluster>/<service>", p);
	if (!need_service)
		return 0;
	snprintf(cluster, sizeof(cluster), "%.*s", (int)(slash - p - 8), p + 8);
	snprintf(name, sizeof(name), "%s", slash + 1);
	if (store_service_get(d->st, cluster, name, &doc, NULL, &err) <= 0 ||
	    strcmp(sget(doc, "status") ?: "", "ACTIVE"))
		return aas_fail(e, "ValidationException", "ECS service doesn't exist: %s", p);
	return 0;
}

/* Application Auto Scaling's words for what is not there */
static json_t *no_target(struct api_error *e, const char *rid)
{
	return api_fail(e, "ObjectNotFoundException", "No scalable target registered for service namespace: "
			"ecs, resource ID: %s, scalable dimension: " AAS_DIMENSION, rid);
}

static json_t *no_policy(struct api_error *e, const char *rid, const char *name)
{
	return api_fail(e, "ObjectNotFoundException", "No scaling policy found for service namespace: ecs, "
			"resource ID: %s, scalable dimension: " AAS_DIMENSION ", policy name: %s", rid, name);
}

static char *target_arn(const struct berthd *d, const char *rid)
{
	/* AWS: scalable-target/<id>; berth derives the id from the resource */
	uint64_t h = 1469598103934665603ULL;

	for (const char *c = rid; *c; c++)
		h = (h ^ (uint8_t)*c) * 1099511628211ULL;
	return xasprintf("arn:aws:application-autoscaling:%s:%s:scalable-target/0ec5%016" PRIx64,
			 d->cfg.region ? d->cfg.region : "us-east-1",
			 d->cfg.account_id ? d->cfg.account_id : "000000000000", h);
}

static int save(struct berthd *d, struct scaled *s, struct api_error *e)
{
	cleanup_berr struct berr *err = NULL;

	if (store_scaling_put(d->st, s->resource_id, s->doc, &err) < 0) {
		api_fail_berr(e, &err, "record scalable target");
		return -1;
	}
	return 0;
}

json_t *api_aas_register_scalable_target(struct berthd *d, json_t *in, struct api_error *e)
{
	cleanup_berr struct berr *err = NULL;
	cleanup_free char *arn = NULL;
	const char *rid;
	int64_t minc = -1, maxc = -1;
	json_t *susp = NULL, *old_doc;
	struct scaled *s;
	bool fresh;

	load(d);
	if (target_key(d, in, true, true, &rid, e) < 0 ||
	    api_get_int(in, "MinCapacity", false, 0, SCHED_AS_MAX_CAPACITY, &minc, e) < 0 ||
	    api_get_int(in, "MaxCapacity", false, 0, SCHED_AS_MAX_CAPACITY, &maxc, e) < 0 ||
	    api_get_object(in, "SuspendedState", false, &susp, e) < 0)
		return NULL;
	s = find(d, rid);
	fresh = !s;
	if (fresh && (minc < 0 || maxc < 0))
		return api_fail(e, "ValidationException", "MinCapacity and MaxCapacity are required to "
				"register a new scalable target");
	arn = target_arn(d, rid);
	if (fresh) {
		s = xzalloc(sizeof(*s));
		s->resource_id = xstrdup(rid);
		s->samples = json_object();
		s->doc = json_pack("{s:s, s:s, s:s, s:s, s:f, s:[]}", "ServiceNamespace", "ecs",
				   "ResourceId", rid, "ScalableDimension", AAS_DIMENSION,
				   "ScalableTargetARN", arn, "CreationTime", api_now(), "Policies");
	}
	old_doc = json_deep_copy(s->doc);
	if (minc >= 0)
		json_object_set_new(s->doc, "MinCapacity", json_integer(minc));
	if (maxc >= 0)
		json_object_set_new(s->doc, "MaxCapacity", json_integer(maxc));
	if (susp)
		json_object_set(s->doc, "SuspendedState", susp);
	if (build(d, s, &err) < 0) {
		json_decref(s->doc);
		s->doc = old_doc;
		if (fresh)
			scaled_free(s);
		return api_fail(e, "ValidationException", "%s", berr_msg(err));
	}
	json_decref(old_doc);
	if (save(d, s, e) < 0) {
		if (fresh)
			scaled_free(s);
		return NULL;
	}
	if (fresh) {
		s->next = d->aas->list;
		d->aas->list = s;
	}
	log_info("autoscaling %s: scalable target %lld-%lld", rid,
		 (long long)json_integer_value(json_object_get(s->doc, "MinCapacity")),
		 (long long)json_integer_value(json_object_get(s->doc, "MaxCapacity")));
	return json_pack("{s:s}", "ScalableTargetARN", arn);
}

static json_t *target_view(const struct scaled *s)
{
	json_t *o = json_deep_copy(s->doc);

	json_object_del(o, "Policies");
	json_object_set_new(o, "RoleARN", json_string("arn:aws:iam::000000000000:role/aws-service-role/"
						      "ecs.application-autoscaling.amazonaws.com/"
						      "AWSServiceRoleForApplicationAutoScaling_ECSService"));
	if (!json_object_get(o, "SuspendedState"))
		json_object_set_new(o, "SuspendedState", json_pack("{s:b, s:b, s:b}",
				    "DynamicScalingInSuspended", 0, "DynamicScalingOutSuspended", 0,
				    "ScheduledScalingSuspended", 0));
	return o;
}

/* ResourceIds (optional) as a filter */
static bool wanted(json_t *in, const char *rid)
{
	json_t *ids = json_object_get(in, "ResourceIds"), *v;
	const char *one = sget(in, "ResourceId");
	size_t i;

	if (one)
		return !strcmp(one, rid);
	if (!json_array_size(ids))
		return true;
	json_array_foreach(ids, i, v)
		if (!strcmp(json_string_value(v) ?: "", rid))
			return true;
	return false;
}

json_t *api_aas_describe_scalable_targets(struct berthd *d, json_t *in, struct api_error *e)
{
	const char *ns = NULL;
	json_t *out = json_array();

	load(d);
	if (api_get_string(in, "ServiceNamespace", true, &ns, e) < 0) {
		json_decref(out);
		return NULL;
	}
	for (struct scaled *s = d->aas->list; s && !strcmp(ns, "ecs"); s = s->next)
		if (wanted(in, s->resource_id))
			json_array_append_new(out, target_view(s));
	return json_pack("{s:o}", "ScalableTargets", out);
}

json_t *api_aas_deregister_scalable_target(struct berthd *d, json_t *in, struct api_error *e)
{
	cleanup_berr struct berr *err = NULL;
	const char *rid;
	struct scaled **pp, *s;

	load(d);
	if (target_key(d, in, true, false, &rid, e) < 0)
		return NULL;
	for (pp = &d->aas->list; *pp && strcmp((*pp)->resource_id, rid); pp = &(*pp)->next)
		;
	if (!(s = *pp))
		return no_target(e, rid);
	if (store_scaling_delete(d->st, rid, &err) < 0)
		return api_fail_berr(e, &err, "delete scalable target");
	*pp = s->next;
	scaled_free(s);
	log_info("autoscaling %s: deregistered", rid);
	return json_object();
}

json_t *api_aas_put_scaling_policy(struct berthd *d, json_t *in, struct api_error *e)
{
	cleanup_berr struct berr *err = NULL;
	cleanup_free char *arn = NULL;
	const char *rid, *name = NULL, *type = "StepScaling";
	json_t *cfg = NULL, *pm, *pols, *p, *old, *alarms;
	enum sched_as_metric m;
	struct scaled *s;
	size_t i, n;
	const struct sched_as_policy *ap;

	load(d);
	if (target_key(d, in, true, false, &rid, e) < 0 ||
	    api_get_string(in, "PolicyName", true, &name, e) < 0 ||
	    api_get_string(in, "PolicyType", false, &type, e) < 0)
		return NULL;
	if (strcmp(type, "TargetTrackingScaling"))
		return api_fail(e, "ValidationException", "PolicyType %s: berth supports "
				"TargetTrackingScaling only (step and predictive scaling are not built)", type);
	if (!(s = find(d, rid)))
		return no_target(e, rid);
	if (api_get_object(in, "TargetTrackingScalingPolicyConfiguration", true, &cfg, e) < 0)
		return NULL;
	if (json_object_get(cfg, "CustomizedMetricSpecification"))
		return api_fail(e, "ValidationException", "CustomizedMetricSpecification: not supported by "
				"berth; use PredefinedMetricSpecification");
	pm = json_object_get(cfg, "PredefinedMetricSpecification");
	if (!sched_as_metric_parse(sget(pm, "PredefinedMetricType") ?: "", &m))
		return api_fail(e, "ValidationException", "PredefinedMetricSpecification.PredefinedMetricType: "
				"ECSServiceAverageCPUUtilization, ECSServiceAverageMemoryUtilization or "
				"ALBRequestCountPerTarget");
	if (m == SCHED_AS_ALB_REQUESTS)
		return api_fail(e, "ValidationException", "ALBRequestCountPerTarget: not supported yet by "
				"berth (berth-lb's request counts are not collected yet)");
	if (!json_is_number(json_object_get(cfg, "TargetValue")))
		return api_fail(e, "ValidationException", "TargetTrackingScalingPolicyConfiguration."
				"TargetValue: required (a number)");
	/* replace or add the policy, then rebuild the engine from the doc */
	old = json_deep_copy(s->doc);
	pols = json_object_get(s->doc, "Policies");
	json_array_foreach(pols, i, p)
		if (!strcmp(sget(p, "PolicyName") ?: "", name))
			break;
	arn = xasprintf("arn:aws:autoscaling:%s:%s:scalingPolicy:00000000-0000-0000-0000-000000000000:"
			"resource/ecs/%s:policyName/%s", d->cfg.region ? d->cfg.region : "us-east-1",
			d->cfg.account_id ? d->cfg.account_id : "000000000000", rid, name);
	p = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:O, s:f}", "PolicyARN", arn, "PolicyName", name,
		      "ServiceNamespace", "ecs", "ResourceId", rid, "ScalableDimension", AAS_DIMENSION,
		      "PolicyType", "TargetTrackingScaling", "TargetTrackingScalingPolicyConfiguration", cfg,
		      "CreationTime", api_now());
	if (i < json_array_size(pols))
		json_array_set_new(pols, i, p);
	else
		json_array_append_new(pols, p);
	if (build(d, s, &err) < 0) {
		json_decref(s->doc);
		s->doc = old;
		return api_fail(e, "ValidationException", "%s", berr_msg(err));
	}
	json_decref(old);
	if (save(d, s, e) < 0)
		return NULL;
	alarms = json_array();
	ap = sched_as_policies(s->as, &n);
	for (i = 0; i < n; i++) {
		if (strcmp(ap[i].name, name))
			continue;
		json_array_append_new(alarms, json_pack("{s:s, s:s}", "AlarmName", ap[i].alarm_high, "AlarmARN",
							"berth:alarm"));
		json_array_append_new(alarms, json_pack("{s:s, s:s}", "AlarmName", ap[i].alarm_low, "AlarmARN",
							"berth:alarm"));
	}
	json_object_set(p, "Alarms", alarms);
	log_info("autoscaling %s: policy %s: %s %.1f", rid, name, sched_as_metric_str(m),
		 json_number_value(json_object_get(cfg, "TargetValue")));
	return json_pack("{s:s, s:o}", "PolicyARN", arn, "Alarms", alarms);
}

json_t *api_aas_describe_scaling_policies(struct berthd *d, json_t *in, struct api_error *e)
{
	const char *ns = NULL;
	json_t *out = json_array(), *p, *names = NULL;
	size_t i, j;

	load(d);
	if (api_get_string(in, "ServiceNamespace", true, &ns, e) < 0 ||
	    api_get_array(in, "PolicyNames", false, &names, e) < 0) {
		json_decref(out);
		return NULL;
	}
	for (struct scaled *s = d->aas->list; s && !strcmp(ns, "ecs"); s = s->next) {
		if (!wanted(in, s->resource_id))
			continue;
		json_array_foreach(json_object_get(s->doc, "Policies"), i, p) {
			bool ok = !json_array_size(names);
			json_t *nm;

			json_array_foreach(names, j, nm)
				ok = ok || !strcmp(json_string_value(nm) ?: "", sget(p, "PolicyName") ?: "");
			if (ok)
				json_array_append(out, p);
		}
	}
	return json_pack("{s:o}", "ScalingPolicies", out);
}

json_t *api_aas_delete_scaling_policy(struct berthd *d, json_t *in, struct api_error *e)
{
	cleanup_berr struct berr *err = NULL;
	const char *rid, *name = NULL;
	struct scaled *s;
	json_t *pols, *p, *old;
	size_t i;

	load(d);
	if (target_key(d, in, true, false, &rid, e) < 0 || api_get_string(in, "PolicyName", true, &name, e) < 0)
		return NULL;
	if (!(s = find(d, rid)))
		return no_policy(e, rid, name);
	pols = json_object_get(s->doc, "Policies");
	json_array_foreach(pols, i, p)
		if (!strcmp(sget(p, "PolicyName") ?: "", name))
			break;
	if (i == json_array_size(pols))
		return no_policy(e, rid, name);
	old = json_deep_copy(s->doc);
	json_array_remove(pols, i);
	if (build(d, s, &err) < 0) {
		json_decref(s->doc);
		s->doc = old;
		return api_fail_berr(e, &err, "delete scaling policy");
	}
	json_decref(old);
	if (save(d, s, e) < 0)
		return NULL;
	return json_object();
}

json_t *api_aas_describe_scaling_activities(struct berthd *d, json_t *in, struct api_error *e)
{
	const char *ns = NULL;
	json_t *out = json_array();

	load(d);
	if (api_get_string(in, "ServiceNamespace", true, &ns, e) < 0) {
		json_decref(out);
		return NULL;
	}
	for (struct scaled *s = d->aas->list; s && !strcmp(ns, "ecs"); s = s->next) {
		size_t n;
		const struct sched_as_activity *a;

		if (!wanted(in, s->resource_id))
			continue;
		a = sched_as_activities(s->as, &n);
		/* newest first */
		for (size_t i = n; i-- > 0;) {
			json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:f, s:s}", "ActivityId", a[i].id,
					      "ServiceNamespace", "ecs", "ResourceId", s->resource_id,
					      "ScalableDimension", AAS_DIMENSION, "Description",
					      a[i].description ?: "", "Cause", a[i].cause ?: "", "StartTime",
					      (double)a[i].start_time, "StatusCode", "Successful");

			if (a[i].end_time)
				json_object_set_new(o, "EndTime", json_real((double)a[i].end_time));
			if (a[i].status_message)
				json_object_set_new(o, "StatusMessage", json_string(a[i].status_message));
			json_array_append_new(out, o);
		}
	}
	return json_pack("{s:o}", "ScalingActivities", out);
}
