/* scheduler/autoscale.h - Application Auto Scaling target tracking for ECS
 * services, as a pure state machine.
 *
 * One struct sched_as is one scalable target (a service's desired count,
 * RegisterScalableTarget) with its target-tracking policies
 * (PutScalingPolicy). The caller feeds it metric datapoints, one per period
 * (as CloudWatch: the average over a minute) and calls sched_as_step() with
 * the service's desired count and `now`; it answers with the new desired
 * count and records a scaling activity (DescribeScalingActivities). No I/O,
 * no clock. docs/scheduler.md ("Autoscaling decisions") has the rules and
 * where each comes from.
 *
 * Contract with the caller (berthd, or the tests):
 *   - datapoints are averages over [start, start + period), start a multiple
 *     of the period; one per metric and period (a second one replaces it);
 *     a period without a datapoint is missing data (no action on it);
 *   - the step's decision is carried out (UpdateService desiredCount) before
 *     the next step, which passes the new count as `current`. */
#ifndef BERTH_SCHEDULER_AUTOSCALE_H
#define BERTH_SCHEDULER_AUTOSCALE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

/* Application Auto Scaling's default cooldowns for ECS services */
#define SCHED_AS_DEFAULT_COOLDOWN 300
/* the alarms target tracking creates: AlarmHigh in ALARM after 3 datapoints
 * above the target value, AlarmLow after 15 below 90% of it */
#define SCHED_AS_HIGH_DATAPOINTS 3
#define SCHED_AS_LOW_DATAPOINTS 15
#define SCHED_AS_LOW_FACTOR 0.9
/* Application Auto Scaling quota: scaling policies per scalable target */
#define SCHED_AS_MAX_POLICIES 50
/* activities kept (the oldest go first) */
#define SCHED_AS_MAX_ACTIVITIES 100
/* ECS: desiredCount at most */
#define SCHED_AS_MAX_CAPACITY 5000

enum sched_as_metric {
	SCHED_AS_CPU,             /* ECSServiceAverageCPUUtilization (percent) */
	SCHED_AS_MEMORY,          /* ECSServiceAverageMemoryUtilization (percent) */
	SCHED_AS_ALB_REQUESTS,    /* ALBRequestCountPerTarget (requests per target per period) */
	SCHED_AS_NMETRICS,
};

/* RegisterScalableTarget */
struct sched_as_target_spec {
	const char *resource_id;          /* "service/<cluster>/<service>" */
	int32_t min_capacity, max_capacity;
	/* SuspendedState */
	bool dynamic_in_suspended, dynamic_out_suspended, scheduled_suspended;
	/* seconds per datapoint: CloudWatch's 60 (0 is 60); a test configuration
	 * shortens it, as seconds_per_minute does for schedules */
	int32_t period;
};

/* PutScalingPolicy, PolicyType TargetTrackingScaling */
struct sched_as_policy_spec {
	const char *name;
	enum sched_as_metric metric;
	const char *resource_label;       /* ALBRequestCountPerTarget: app/.../targetgroup/... */
	double target_value;
	int32_t scale_out_cooldown, scale_in_cooldown;   /* < 0: SCHED_AS_DEFAULT_COOLDOWN */
	bool disable_scale_in;
};

enum sched_as_alarm {
	SCHED_AS_ALARM_INSUFFICIENT_DATA,
	SCHED_AS_ALARM_OK,
	SCHED_AS_ALARM_ALARM,
};

/* a policy as DescribeScalingPolicies and the alarms show it */
struct sched_as_policy {
	char *name;
	enum sched_as_metric metric;
	char *resource_label;
	double target_value;
	int32_t scale_out_cooldown, scale_in_cooldown;
	bool disable_scale_in;
	char *alarm_high, *alarm_low;     /* "TargetTracking-service/c/web-AlarmHigh-<uuid>" */
	enum sched_as_alarm high, low;    /* as of the last step */
	int64_t last_period;              /* the last period this policy acted on; -1: none */
};

struct sched_as_activity {
	char id[40];                      /* 8-4-4-4-12 hex */
	char *description;                /* "Setting desired count to 4." */
	char *cause;                      /* "monitor alarm ... in state ALARM triggered policy cpu50" */
	char *status_message;             /* "Successfully set desired count to 4. Change successfully fulfilled by ecs." */
	int64_t start_time, end_time;
	int32_t from, to;
};

enum sched_as_action {
	SCHED_AS_NONE,
	SCHED_AS_SCALE_OUT,
	SCHED_AS_SCALE_IN,
	SCHED_AS_TO_MIN,                  /* below the minimum capacity */
	SCHED_AS_TO_MAX,                  /* above the maximum capacity */
};

/* why a scaling the alarms asked for did not happen (tests, events) */
enum sched_as_blocked {
	SCHED_AS_NOT_BLOCKED,
	SCHED_AS_BLOCKED_COOLDOWN,
	SCHED_AS_BLOCKED_DEPLOYMENT,      /* scale-in during a deployment */
	SCHED_AS_BLOCKED_SUSPENDED,       /* DynamicScalingIn/OutSuspended */
	SCHED_AS_BLOCKED_LIMIT,           /* already at the minimum or maximum capacity */
};

struct sched_as_decision {
	enum sched_as_action action;
	int32_t desired;                  /* the new desired count (current when NONE) */
	const char *policy;               /* the policy that acted (scale out/in), else NULL */
	const struct sched_as_activity *activity;   /* the activity recorded, else NULL */
	enum sched_as_blocked blocked_out, blocked_in;
};

struct sched_as;

int sched_as_new(const struct sched_as_target_spec *t, struct sched_as **out, struct berr **err);
void sched_as_free(struct sched_as *as);
/* RegisterScalableTarget again: capacity limits and suspended state change
 * in place (a new min or max is applied by the next step). On error nothing
 * changes. */
int sched_as_update_target(struct sched_as *as, const struct sched_as_target_spec *t, struct berr **err);

/* PutScalingPolicy: a new policy, or the one of that name replaced. Each
 * policy tracks a different metric (as ECS requires). */
int sched_as_put_policy(struct sched_as *as, const struct sched_as_policy_spec *p, struct berr **err);
/* DeleteScalingPolicy; -ENOENT when there is none of that name */
int sched_as_delete_policy(struct sched_as *as, const char *name, struct berr **err);
const struct sched_as_policy *sched_as_policies(const struct sched_as *as, size_t *n);

/* A datapoint: the metric's average over [start, start + period). start is
 * rounded down to the period; non-finite or negative values are ignored. */
void sched_as_put_datapoint(struct sched_as *as, enum sched_as_metric m, int64_t start, double value);

/* One evaluation at `now` of the datapoints of the last complete period.
 * current: the service's desired count; deployment_in_progress: the service
 * has a deployment that is not COMPLETED (no scale-in then). */
void sched_as_step(struct sched_as *as, int64_t now, int32_t current, bool deployment_in_progress,
                   struct sched_as_decision *out);

/* activities, oldest first (DescribeScalingActivities lists newest first);
 * the pointers (and decision.activity) are valid until the next step */
const struct sched_as_activity *sched_as_activities(const struct sched_as *as, size_t *n);

/* ceil(current x metric / target), clamped to [min, max]: what one policy
 * asks for (exposed for the tests and the docs' examples) */
int32_t sched_as_proposal(int32_t current, double metric, double target, int32_t min, int32_t max);

const char *sched_as_metric_str(enum sched_as_metric m);
bool sched_as_metric_parse(const char *s, enum sched_as_metric *out);
const char *sched_as_alarm_str(enum sched_as_alarm a);

#endif
