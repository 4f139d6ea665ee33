/* scheduler/autoscale.c - see autoscale.h */
#include "scheduler/autoscale.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/sha256.h"
#include "common/xalloc.h"

/* datapoints kept per metric: enough for the low alarm */
#define RING 16
#define MAX_COOLDOWN (365 * 86400)
#define MAX_NAME 256

struct datapoint {
	int64_t period;     /* start / period; -1: empty */
	double value;
};

struct sched_as {
	char *resource_id;
	int32_t min, max;
	bool in_suspended, out_suspended, scheduled_suspended;
	int32_t period;
	struct sched_as_policy *policies;
	size_t npolicies;
	struct datapoint dp[SCHED_AS_NMETRICS][RING];
	/* scale-out cooldown: started by the last scale-out at out_at; out_base is
	 * the capacity before the scale-out that began the chain */
	bool out_active;
	int64_t out_at;
	int32_t out_base;
	/* scale-in cooldown: the last scale-in and its cooldown */
	bool in_active;
	int64_t in_at;
	int32_t in_cooldown;
	struct sched_as_activity *acts;
	size_t nacts;
	uint64_t counter;   /* activity ids */
};

static const char *const metric_names[SCHED_AS_NMETRICS] = {
	[SCHED_AS_CPU] = "ECSServiceAverageCPUUtilization",
	[SCHED_AS_MEMORY] = "ECSServiceAverageMemoryUtilization",
	[SCHED_AS_ALB_REQUESTS] = "ALBRequestCountPerTarget",
};

const char *sched_as_metric_str(enum sched_as_metric m)
{
	return (unsigned)m < SCHED_AS_NMETRICS ? metric_names[m] : "?";
}

bool sched_as_metric_parse(const char *s, enum sched_as_metric *out)
{
	for (int i = 0; i < SCHED_AS_NMETRICS; i++) {
		if (strcmp(s, metric_names[i]) == 0) {
			*out = (enum sched_as_metric)i;
			return true;
		}
	}
	return false;
}

const char *sched_as_alarm_str(enum sched_as_alarm a)
{
	switch (a) {
	case SCHED_AS_ALARM_OK: return "OK";
	case SCHED_AS_ALARM_ALARM: return "ALARM";
	case SCHED_AS_ALARM_INSUFFICIENT_DATA: break;
	}
	return "INSUFFICIENT_DATA";
}

/* 8-4-4-4-12 hex from a hash of the parts: stable names for the alarms,
 * deterministic activity ids */
static void uuid_of(char out[40], const char *a, const char *b, uint64_t n)
{
	struct sha256 c;
	unsigned char h[SHA256_LEN];
	char hex[33];

	sha256_init(&c);
	sha256_update(&c, a, strlen(a) + 1);
	sha256_update(&c, b, strlen(b) + 1);
	sha256_update(&c, &n, sizeof(n));
	sha256_final(&c, h);
	for (int i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", h[i]);
	snprintf(out, 40, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
}

static bool is_finite(double v)
{
	return v == v && v < 1e300 && v > -1e300;
}

static int check_target(const struct sched_as_target_spec *t, struct berr **err)
{
	if (!t->resource_id || !t->resource_id[0])
		return berr_set(err, EINVAL, "scalable target: ResourceId is required");
	if (strncmp(t->resource_id, "service/", 8) != 0 || !strchr(t->resource_id + 8, '/'))
		return berr_set(err, EINVAL, "scalable target %s: ResourceId must be service/<cluster>/<service>",
		                berr_q(t->resource_id));
	if (t->min_capacity < 0 || t->min_capacity > SCHED_AS_MAX_CAPACITY)
		return berr_set(err, EINVAL, "scalable target %s: MinCapacity %d is out of range 0-%d",
		                berr_q(t->resource_id), t->min_capacity, SCHED_AS_MAX_CAPACITY);
	if (t->max_capacity < 0 || t->max_capacity > SCHED_AS_MAX_CAPACITY)
		return berr_set(err, EINVAL, "scalable target %s: MaxCapacity %d is out of range 0-%d",
		                berr_q(t->resource_id), t->max_capacity, SCHED_AS_MAX_CAPACITY);
	if (t->max_capacity < t->min_capacity)
		return berr_set(err, EINVAL, "scalable target %s: MaxCapacity (%d) is below MinCapacity (%d)",
		                berr_q(t->resource_id), t->max_capacity, t->min_capacity);
	if (t->period < 0 || t->period > 3600)
		return berr_set(err, EINVAL, "scalable target %s: the datapoint period %d is out of range 1-3600",
		                berr_q(t->resource_id), t->period);
	return 0;
}

static void clear_datapoints(struct sched_as *as)
{
	for (int m = 0; m < SCHED_AS_NMETRICS; m++)
		for (int i = 0; i < RING; i++)
			as->dp[m][i].period = -1;
}

static void apply_target(struct sched_as *as, const struct sched_as_target_spec *t)
{
	int32_t period = t->period ? t->period : 60;

	if (period != as->period)
		clear_datapoints(as);
	as->period = period;
	as->min = t->min_capacity;
	as->max = t->max_capacity;
	as->in_suspended = t->dynamic_in_suspended;
	as->out_suspended = t->dynamic_out_suspended;
	as->scheduled_suspended = t->scheduled_suspended;
}

int sched_as_new(const struct sched_as_target_spec *t, struct sched_as **out, struct berr **err)
{
	struct sched_as *as;
	int r;

	*out = NULL;
	if ((r = check_target(t, err)) < 0)
		return r;
	as = xzalloc(sizeof(*as));
	as->resource_id = xstrdup(t->resource_id);
	clear_datapoints(as);
	apply_target(as, t);
	*out = as;
	return 0;
}

int sched_as_update_target(struct sched_as *as, const struct sched_as_target_spec *t, struct berr **err)
{
	int r;

	if ((r = check_target(t, err)) < 0)
		return r;
	if (strcmp(t->resource_id, as->resource_id) != 0)
		return berr_set(err, EINVAL, "scalable target %s: cannot become %s", berr_q(as->resource_id),
		                berr_q(t->resource_id));
	apply_target(as, t);
	return 0;
}

static void policy_clear(struct sched_as_policy *p)
{
	free(p->name);
	free(p->resource_label);
	free(p->alarm_high);
	free(p->alarm_low);
}

static void activity_clear(struct sched_as_activity *a)
{
	free(a->description);
	free(a->cause);
	free(a->status_message);
}

void sched_as_free(struct sched_as *as)
{
	if (!as)
		return;
	for (size_t i = 0; i < as->npolicies; i++)
		policy_clear(&as->policies[i]);
	free(as->policies);
	for (size_t i = 0; i < as->nacts; i++)
		activity_clear(&as->acts[i]);
	free(as->acts);
	free(as->resource_id);
	free(as);
}

static int32_t cooldown_of(int32_t v)
{
	return v < 0 ? SCHED_AS_DEFAULT_COOLDOWN : v;
}

int sched_as_put_policy(struct sched_as *as, const struct sched_as_policy_spec *p, struct berr **err)
{
	size_t slot = as->npolicies;

	if (!p->name || !p->name[0])
		return berr_set(err, EINVAL, "scaling policy: PolicyName is required");
	if (strlen(p->name) > MAX_NAME)
		return berr_set(err, EINVAL, "scaling policy %s: PolicyName is longer than %d characters",
		                berr_q(p->name), MAX_NAME);
	if ((unsigned)p->metric >= SCHED_AS_NMETRICS)
		return berr_set(err, EINVAL, "scaling policy %s: unknown PredefinedMetricType", berr_q(p->name));
	if (!is_finite(p->target_value) || p->target_value <= 0 || p->target_value > 1e9)
		return berr_set(err, EINVAL, "scaling policy %s: TargetValue must be above 0 and at most 1e9",
		                berr_q(p->name));
	if ((p->metric == SCHED_AS_CPU || p->metric == SCHED_AS_MEMORY) && p->target_value > 100)
		return berr_set(err, EINVAL, "scaling policy %s: TargetValue %g is above 100 percent of %s",
		                berr_q(p->name), p->target_value, metric_names[p->metric]);
	if (p->metric == SCHED_AS_ALB_REQUESTS && (!p->resource_label || !p->resource_label[0]))
		return berr_set(err, EINVAL, "scaling policy %s: ALBRequestCountPerTarget needs a ResourceLabel",
		                berr_q(p->name));
	if (p->scale_out_cooldown > MAX_COOLDOWN || p->scale_in_cooldown > MAX_COOLDOWN)
		return berr_set(err, EINVAL, "scaling policy %s: a cooldown is longer than %d seconds", berr_q(p->name),
		                MAX_COOLDOWN);
	for (size_t i = 0; i < as->npolicies; i++) {
		if (strcmp(as->policies[i].name, p->name) == 0)
			slot = i;
		else if (as->policies[i].metric == p->metric)
			return berr_set(err, EINVAL, "scaling policy %s: %s is already tracked by policy %s",
			                berr_q(p->name), metric_names[p->metric], berr_q(as->policies[i].name));
	}
	if (slot == as->npolicies) {
		if (as->npolicies >= SCHED_AS_MAX_POLICIES)
			return berr_set(err, EINVAL, "scaling policy %s: the target has %d policies already",
			                berr_q(p->name), SCHED_AS_MAX_POLICIES);
		as->policies = xreallocarray(as->policies, as->npolicies + 1, sizeof(*as->policies));
		as->npolicies++;
	} else {
		policy_clear(&as->policies[slot]);
	}
	struct sched_as_policy *q = &as->policies[slot];
	char u[40];

	memset(q, 0, sizeof(*q));
	q->name = xstrdup(p->name);
	q->metric = p->metric;
	q->resource_label = p->resource_label ? xstrdup(p->resource_label) : NULL;
	q->target_value = p->target_value;
	q->scale_out_cooldown = cooldown_of(p->scale_out_cooldown);
	q->scale_in_cooldown = cooldown_of(p->scale_in_cooldown);
	q->disable_scale_in = p->disable_scale_in;
	uuid_of(u, as->resource_id, p->name, 1);
	q->alarm_high = xasprintf("TargetTracking-%s-AlarmHigh-%s", as->resource_id, u);
	uuid_of(u, as->resource_id, p->name, 2);
	q->alarm_low = xasprintf("TargetTracking-%s-AlarmLow-%s", as->resource_id, u);
	q->high = q->low = SCHED_AS_ALARM_INSUFFICIENT_DATA;
	q->last_period = -1;
	return 0;
}

int sched_as_delete_policy(struct sched_as *as, const char *name, struct berr **err)
{
	for (size_t i = 0; i < as->npolicies; i++) {
		if (strcmp(as->policies[i].name, name) != 0)
			continue;
		policy_clear(&as->policies[i]);
		memmove(&as->policies[i], &as->policies[i + 1], (as->npolicies - i - 1) * sizeof(*as->policies));
		as->npolicies--;
		return 0;
	}
	return berr_set(err, ENOENT, "scaling policy %s: no such policy on %s", berr_q(name), berr_q(as->resource_id));
}

const struct sched_as_policy *sched_as_policies(const struct sched_as *as, size_t *n)
{
	*n = as->npolicies;
	return as->policies;
}

static int64_t period_index(const struct sched_as *as, int64_t t)
{
	int64_t q = t / as->period;

	return (t % as->period != 0 && t < 0) ? q - 1 : q;
}

void sched_as_put_datapoint(struct sched_as *as, enum sched_as_metric m, int64_t start, double value)
{
	if ((unsigned)m >= SCHED_AS_NMETRICS || !is_finite(value) || value < 0 || start < 0)
		return;
	int64_t k = period_index(as, start);
	struct datapoint *d = &as->dp[m][k % RING];

	d->period = k;
	d->value = value;
}

static const struct datapoint *datapoint(const struct sched_as *as, enum sched_as_metric m, int64_t k)
{
	const struct datapoint *d;

	if (k < 0)
		return NULL;
	d = &as->dp[m][k % RING];
	return d->period == k ? d : NULL;
}

/* the alarm over n datapoints ending with period k: ALARM when all n are
 * there and breach (above the threshold for high, below it for low);
 * INSUFFICIENT_DATA when the latest is missing */
static enum sched_as_alarm alarm_state(const struct sched_as *as, enum sched_as_metric m, int64_t k, int n,
                                       double threshold, bool above)
{
	if (!datapoint(as, m, k))
		return SCHED_AS_ALARM_INSUFFICIENT_DATA;
	for (int i = 0; i < n; i++) {
		const struct datapoint *d = datapoint(as, m, k - i);

		if (!d || (above ? !(d->value > threshold) : !(d->value < threshold)))
			return SCHED_AS_ALARM_OK;
	}
	return SCHED_AS_ALARM_ALARM;
}

int32_t sched_as_proposal(int32_t current, double metric, double target, int32_t min, int32_t max)
{
	/* a hair below the exact quotient, so that 3 x 70 / 70 is 3 and not 4 */
	double x = (double)current * metric / target - 1e-9;
	int32_t w;

	if (x != x || x <= 0) {        /* NaN too */
		w = 0;
	} else if (x >= SCHED_AS_MAX_CAPACITY) {
		w = SCHED_AS_MAX_CAPACITY;
	} else {
		w = (int32_t)x;       /* x > 0: truncation is the floor */
		if ((double)w < x)
			w++;
	}
	if (w < min)
		w = min;
	if (w > max)
		w = max;
	return w;
}

static struct sched_as_activity *add_activity(struct sched_as *as, int64_t now, int32_t from, int32_t to,
                                              char *cause)
{
	struct sched_as_activity *a;

	if (as->nacts == SCHED_AS_MAX_ACTIVITIES) {
		activity_clear(&as->acts[0]);
		memmove(&as->acts[0], &as->acts[1], (as->nacts - 1) * sizeof(*as->acts));
		as->nacts--;
	}
	as->acts = xreallocarray(as->acts, as->nacts + 1, sizeof(*as->acts));
	a = &as->acts[as->nacts++];
	memset(a, 0, sizeof(*a));
	uuid_of(a->id, as->resource_id, "activity", ++as->counter);
	a->description = xasprintf("Setting desired count to %d.", to);
	a->cause = cause;
	a->status_message = xasprintf("Successfully set desired count to %d. Change successfully fulfilled by ecs.", to);
	a->start_time = a->end_time = now;
	a->from = from;
	a->to = to;
	return a;
}

void sched_as_step(struct sched_as *as, int64_t now, int32_t current, bool deployment_in_progress,
                   struct sched_as_decision *out)
{
	int64_t k = period_index(as, now) - 1;     /* the last complete period */
	struct sched_as_policy *out_by = NULL, *in_by = NULL;
	int32_t out_to = current, in_to = -1;
	bool out_wanted = false, in_fresh = false, in_all = true, in_any_enabled = false, high_any = false;
	int32_t in_cool = 0;

	memset(out, 0, sizeof(*out));
	out->desired = current;

	/* the capacity limits first: a new MinCapacity or MaxCapacity applies
	 * at once, whatever the alarms say */
	if (current < as->min || current > as->max) {
		int32_t to = current < as->min ? as->min : as->max;

		out->action = current < as->min ? SCHED_AS_TO_MIN : SCHED_AS_TO_MAX;
		out->desired = to;
		out->activity = add_activity(as, now, current, to,
		                             xasprintf("%s capacity was set to %d",
		                                       current < as->min ? "minimum" : "maximum", to));
		return;
	}

	/* the alarms of every policy, on the datapoints up to period k */
	for (size_t i = 0; i < as->npolicies; i++) {
		struct sched_as_policy *p = &as->policies[i];
		const struct datapoint *d = datapoint(as, p->metric, k);
		bool fresh = d && p->last_period != k;

		p->high = alarm_state(as, p->metric, k, SCHED_AS_HIGH_DATAPOINTS, p->target_value, true);
		p->low = alarm_state(as, p->metric, k, SCHED_AS_LOW_DATAPOINTS, p->target_value * SCHED_AS_LOW_FACTOR,
		                     false);
		if (!p->disable_scale_in) {
			in_any_enabled = true;
			if (p->low != SCHED_AS_ALARM_ALARM) {
				in_all = false;
			} else {
				int32_t w = sched_as_proposal(current, d->value, p->target_value, as->min, as->max);

				if (w >= current)
					in_all = false;    /* this policy would not remove anything */
				if (w > in_to) {
					in_to = w;
					in_by = p;
				}
				in_fresh |= fresh;
				if (p->scale_in_cooldown > in_cool)
					in_cool = p->scale_in_cooldown;
			}
		}
		high_any |= p->high == SCHED_AS_ALARM_ALARM;
		if (!fresh || p->high != SCHED_AS_ALARM_ALARM)
			continue;
		/* scale out: the alarm invokes the policy once per period */
		out_wanted = true;
		int32_t base = current;
		bool cooling = as->out_active && now < as->out_at + p->scale_out_cooldown;

		/* in the scale-out cooldown the capacity added by the scale-out that
		 * began it counts as already there: compute from the capacity
		 * before it, and act only when that asks for more than now */
		if (cooling)
			base = as->out_base;
		int32_t w = sched_as_proposal(base, d->value, p->target_value, as->min, as->max);

		if (w > out_to) {
			out_to = w;
			out_by = p;
		} else if (!out_by && out->blocked_out == SCHED_AS_NOT_BLOCKED) {
			out->blocked_out = cooling ? SCHED_AS_BLOCKED_COOLDOWN : SCHED_AS_BLOCKED_LIMIT;
		}
	}
	/* every policy that saw the datapoint of period k has now acted on it */
	for (size_t i = 0; i < as->npolicies; i++) {
		if (datapoint(as, as->policies[i].metric, k))
			as->policies[i].last_period = k;
	}

	if (out_wanted && as->out_suspended) {
		out->blocked_out = SCHED_AS_BLOCKED_SUSPENDED;
		out_by = NULL;
	}
	if (out_by) {
		out->blocked_out = SCHED_AS_NOT_BLOCKED;
		if (!(as->out_active && now < as->out_at + out_by->scale_out_cooldown))
			as->out_base = current;    /* a new chain */
		as->out_active = true;
		as->out_at = now;
		as->in_active = false;         /* a scale-out ends the scale-in cooldown */
		out->action = SCHED_AS_SCALE_OUT;
		out->desired = out_to;
		out->policy = out_by->name;
		out->activity = add_activity(as, now, current, out_to,
		                             xasprintf("monitor alarm %s in state ALARM triggered policy %s",
		                                       out_by->alarm_high, out_by->name));
		return;
	}

	/* scale in: every policy with scale-in enabled has its low alarm in
	 * ALARM and would remove capacity; the one that removes least wins. A
	 * policy whose high alarm is in ALARM (DisableScaleIn or not) is not
	 * ready to scale in: berth does not remove what it would add back. */
	if (!in_any_enabled || !in_all || !in_fresh || !in_by || high_any)
		return;
	if (as->in_suspended)
		out->blocked_in = SCHED_AS_BLOCKED_SUSPENDED;
	else if (deployment_in_progress)
		out->blocked_in = SCHED_AS_BLOCKED_DEPLOYMENT;
	else if (as->in_active && now < as->in_at + as->in_cooldown)
		out->blocked_in = SCHED_AS_BLOCKED_COOLDOWN;
	if (out->blocked_in != SCHED_AS_NOT_BLOCKED)
		return;
	as->in_active = true;
	as->in_at = now;
	as->in_cooldown = in_cool;
	out->action = SCHED_AS_SCALE_IN;
	out->desired = in_to;
	out->policy = in_by->name;
	out->activity = add_activity(as, now, current, in_to,
	                             xasprintf("monitor alarm %s in state ALARM triggered policy %s", in_by->alarm_low,
	                                       in_by->name));
}

const struct sched_as_activity *sched_as_activities(const struct sched_as *as, size_t *n)
{
	*n = as->nacts;
	return as->acts;
}
