/* tests/unit/scheduler/test_autoscale.c - target-tracking decisions under a
 * simulated clock: one datapoint per metric per period, a step a few seconds
 * into each period, the decision carried out (desired count) before the
 * next step. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/error.h"
#include "scheduler/autoscale.h"

#define MISSING (-1.0)   /* no datapoint for that period */
#define T0 1800000000    /* a multiple of 60 */

struct sim {
	struct sched_as *as;
	int64_t now;         /* the start of the period being filled */
	int32_t period;
	int32_t desired;
	bool deploying;
	struct sched_as_decision d;
};

static void sim_init(struct sim *s, int32_t min, int32_t max, int32_t desired, int32_t period)
{
	struct sched_as_target_spec t = { .resource_id = "service/default/web", .min_capacity = min,
	                                  .max_capacity = max, .period = period };
	struct berr *err = NULL;

	memset(s, 0, sizeof(*s));
	if (sched_as_new(&t, &s->as, &err) < 0)
		fail_msg("%s", berr_msg(err));
	s->now = T0;
	s->period = period ? period : 60;
	s->desired = desired;
}

static void add_policy(struct sim *s, const char *name, enum sched_as_metric m, double target, int32_t out_cd,
                       int32_t in_cd, bool disable_in)
{
	struct sched_as_policy_spec p = { .name = name, .metric = m, .target_value = target,
	                                  .scale_out_cooldown = out_cd, .scale_in_cooldown = in_cd,
	                                  .disable_scale_in = disable_in,
	                                  .resource_label = m == SCHED_AS_ALB_REQUESTS ?
	                                  "app/lb/1/targetgroup/web/2" : NULL };
	struct berr *err = NULL;

	if (sched_as_put_policy(s->as, &p, &err) < 0)
		fail_msg("%s", berr_msg(err));
}

/* one period with these averages (MISSING: none), then a step 5 s into the
 * next period; the decision is carried out */
static enum sched_as_action period3(struct sim *s, double cpu, double mem, double alb)
{
	double v[SCHED_AS_NMETRICS] = { cpu, mem, alb };

	for (int m = 0; m < SCHED_AS_NMETRICS; m++)
		if (v[m] != MISSING)
			sched_as_put_datapoint(s->as, (enum sched_as_metric)m, s->now, v[m]);
	s->now += s->period;
	sched_as_step(s->as, s->now + (s->period >= 10 ? 5 : 0), s->desired, s->deploying, &s->d);
	s->desired = s->d.desired;
	return s->d.action;
}

static enum sched_as_action period1(struct sim *s, double cpu)
{
	return period3(s, cpu, MISSING, MISSING);
}

static void test_proposal(void **state)
{
	(void)state;
	assert_int_equal(sched_as_proposal(3, 70, 70, 1, 10), 3);
	assert_int_equal(sched_as_proposal(2, 100, 50, 1, 10), 4);
	assert_int_equal(sched_as_proposal(2, 80, 50, 1, 10), 4);      /* 3.2 up */
	assert_int_equal(sched_as_proposal(4, 30, 50, 1, 10), 3);      /* 2.4 up */
	assert_int_equal(sched_as_proposal(3, 10.1, 10.1, 1, 10), 3);
	assert_int_equal(sched_as_proposal(10, 99, 10, 1, 20), 20);    /* the maximum */
	assert_int_equal(sched_as_proposal(5, 1, 50, 2, 20), 2);       /* the minimum */
	assert_int_equal(sched_as_proposal(5, 0, 50, 0, 20), 0);
	assert_int_equal(sched_as_proposal(5, 1e308, 1e-300, 0, 5000), 5000);
	assert_int_equal(sched_as_proposal(2, 2500, 1000, 1, 10), 5);  /* ALB requests per target */
}

/* AlarmHigh: 3 datapoints above the target; then ceil(2 x 80 / 50) = 4, with
 * an activity as DescribeScalingActivities shows it */
static void test_scale_out_after_three(void **state)
{
	(void)state;
	struct sim s;
	size_t n;

	sim_init(&s, 1, 10, 2, 0);
	add_policy(&s, "cpu50", SCHED_AS_CPU, 50, -1, -1, false);
	assert_int_equal(period1(&s, 80), SCHED_AS_NONE);
	assert_int_equal(period1(&s, 80), SCHED_AS_NONE);
	const struct sched_as_policy *p = sched_as_policies(s.as, &n);
	assert_int_equal(n, 1);
	assert_int_equal(p[0].high, SCHED_AS_ALARM_OK);
	assert_int_equal(p[0].scale_out_cooldown, 300);
	assert_int_equal(p[0].scale_in_cooldown, 300);

	assert_int_equal(period1(&s, 80), SCHED_AS_SCALE_OUT);
	assert_int_equal(s.desired, 4);
	assert_string_equal(s.d.policy, "cpu50");
	p = sched_as_policies(s.as, &n);
	assert_int_equal(p[0].high, SCHED_AS_ALARM_ALARM);
	assert_string_equal(sched_as_alarm_str(p[0].high), "ALARM");

	/* alarm names: TargetTracking-<resource>-AlarmHigh-<uuid> */
	const char *pre = "TargetTracking-service/default/web-AlarmHigh-";
	assert_int_equal(strncmp(p[0].alarm_high, pre, strlen(pre)), 0);
	const char *u = p[0].alarm_high + strlen(pre);
	assert_int_equal(strlen(u), 36);
	for (int i = 0; i < 36; i++)
		assert_true((i == 8 || i == 13 || i == 18 || i == 23) ? u[i] == '-' : strchr("0123456789abcdef", u[i]) != NULL);
	assert_int_equal(strncmp(p[0].alarm_low, "TargetTracking-service/default/web-AlarmLow-", 44), 0);

	const struct sched_as_activity *a = sched_as_activities(s.as, &n);
	char cause[512];
	assert_int_equal(n, 1);
	assert_ptr_equal(s.d.activity, &a[0]);
	assert_string_equal(a[0].description, "Setting desired count to 4.");
	snprintf(cause, sizeof(cause), "monitor alarm %s in state ALARM triggered policy cpu50", p[0].alarm_high);
	assert_string_equal(a[0].cause, cause);
	assert_string_equal(a[0].status_message,
	                    "Successfully set desired count to 4. Change successfully fulfilled by ecs.");
	assert_int_equal(a[0].from, 2);
	assert_int_equal(a[0].to, 4);
	assert_int_equal(a[0].start_time, T0 + 180 + 5);
	sched_as_free(s.as);
}

/* a dip breaks the run of three */
static void test_three_consecutive(void **state)
{
	(void)state;
	struct sim s;

	sim_init(&s, 1, 10, 2, 0);
	add_policy(&s, "cpu50", SCHED_AS_CPU, 50, -1, -1, false);
	assert_int_equal(period1(&s, 80), SCHED_AS_NONE);
	assert_int_equal(period1(&s, 80), SCHED_AS_NONE);
	assert_int_equal(period1(&s, 50), SCHED_AS_NONE);   /* at the target is not above it */
	assert_int_equal(period1(&s, 80), SCHED_AS_NONE);
	assert_int_equal(period1(&s, 80), SCHED_AS_NONE);
	assert_int_equal(period1(&s, 80), SCHED_AS_SCALE_OUT);
	sched_as_free(s.as);
}

/* no action on missing data: a gap breaks the run, and a missing latest
 * datapoint leaves the alarm in INSUFFICIENT_DATA */
static void test_missing_data(void **state)
{
	(void)state;
	struct sim s;
	size_t n;

	sim_init(&s, 1, 10, 2, 0);
	add_policy(&s, "cpu50", SCHED_AS_CPU, 50, -1, -1, false);
	assert_int_equal(period1(&s, MISSING), SCHED_AS_NONE);
	assert_int_equal(sched_as_policies(s.as, &n)[0].high, SCHED_AS_ALARM_INSUFFICIENT_DATA);
	assert_int_equal(period1(&s, 90), SCHED_AS_NONE);
	assert_int_equal(period1(&s, 90), SCHED_AS_NONE);
	assert_int_equal(period1(&s, MISSING), SCHED_AS_NONE);
	assert_int_equal(sched_as_policies(s.as, &n)[0].high, SCHED_AS_ALARM_INSUFFICIENT_DATA);
	assert_int_equal(period1(&s, 90), SCHED_AS_NONE);
	assert_int_equal(period1(&s, 90), SCHED_AS_NONE);
	assert_int_equal(period1(&s, 90), SCHED_AS_SCALE_OUT);
	sched_as_free(s.as);
	/* scale-in needs 15 present datapoints too: 14 low, a gap, 14 low */
	sim_init(&s, 1, 10, 4, 0);
	add_policy(&s, "cpu50", SCHED_AS_CPU, 50, -1, -1, false);
	for (int i = 0; i < 14; i++)
		assert_int_equal(period1(&s, 10), SCHED_AS_NONE);
	assert_int_equal(period1(&s, MISSING), SCHED_AS_NONE);
	for (int i = 0; i < 14; i++)
		assert_int_equal(period1(&s, 10), SCHED_AS_NONE);
	assert_int_equal(period1(&s, 10), SCHED_AS_SCALE_IN);
	sched_as_free(s.as);
}

/* the scale-out cooldown: the capacity already added counts, so the same
 * load does not add more, a larger one does, and after the cooldown the
 * policy computes from the current capacity again */
static void test_scale_out_cooldown(void **state)
{
	(void)state;
	struct sim s;

	sim_init(&s, 1, 20, 2, 0);
	add_policy(&s, "cpu50", SCHED_AS_CPU, 50, 300, 300, false);
	period1(&s, 80);
	period1(&s, 80);
	assert_int_equal(period1(&s, 80), SCHED_AS_SCALE_OUT);   /* at T0+185 */
	assert_int_equal(s.desired, 4);
	/* the new tasks are not carrying load yet: 80 again, inside the cooldown */
	assert_int_equal(period1(&s, 80), SCHED_AS_NONE);
	assert_int_equal(s.d.blocked_out, SCHED_AS_BLOCKED_COOLDOWN);
	assert_int_equal(period1(&s, 80), SCHED_AS_NONE);
	/* a larger scale-out: ceil(2 x 120 / 50) = 5 > 4 (T0+365) */
	assert_int_equal(period1(&s, 120), SCHED_AS_SCALE_OUT);
	assert_int_equal(s.desired, 5);
	assert_int_equal(s.d.activity->start_time, T0 + 365);
	/* the cooldown restarted at T0+365: 80 until T0+665 adds nothing */
	for (int i = 0; i < 4; i++) {
		assert_int_equal(period1(&s, 80), SCHED_AS_NONE);    /* T0+425 .. T0+605 */
		assert_int_equal(s.d.blocked_out, SCHED_AS_BLOCKED_COOLDOWN);
	}
	/* T0+665: the cooldown is over: ceil(5 x 80 / 50) = 8 */
	assert_int_equal(period1(&s, 80), SCHED_AS_SCALE_OUT);
	assert_int_equal(s.desired, 8);
	assert_int_equal(s.d.activity->start_time, T0 + 665);
	sched_as_free(s.as);
}

/* AlarmLow: 15 datapoints below 90% of the target; between 90% and 100%
 * nothing happens; scale-in cooldown between scale-ins */
static void test_scale_in(void **state)
{
	(void)state;
	struct sim s;
	size_t n;

	sim_init(&s, 1, 10, 4, 0);
	add_policy(&s, "cpu50", SCHED_AS_CPU, 50, 300, 300, false);
	for (int i = 0; i < 30; i++)
		assert_int_equal(period1(&s, 46), SCHED_AS_NONE);   /* below 50 but not below 45 */
	assert_int_equal(sched_as_policies(s.as, &n)[0].low, SCHED_AS_ALARM_OK);
	for (int i = 0; i < 14; i++)
		assert_int_equal(period1(&s, 30), SCHED_AS_NONE);
	/* the 15th: ceil(4 x 30 / 50) = 3 */
	assert_int_equal(period1(&s, 30), SCHED_AS_SCALE_IN);
	assert_int_equal(s.desired, 3);
	int64_t first = s.d.activity->start_time;
	const struct sched_as_policy *p = sched_as_policies(s.as, &n);
	char cause[512];
	snprintf(cause, sizeof(cause), "monitor alarm %s in state ALARM triggered policy cpu50", p[0].alarm_low);
	assert_string_equal(s.d.activity->cause, cause);
	/* still low: blocked for 300 s, then ceil(3 x 30 / 50) = 2 */
	for (int i = 0; i < 4; i++) {
		assert_int_equal(period1(&s, 30), SCHED_AS_NONE);
		assert_int_equal(s.d.blocked_in, SCHED_AS_BLOCKED_COOLDOWN);
	}
	assert_int_equal(period1(&s, 30), SCHED_AS_SCALE_IN);
	assert_int_equal(s.desired, 2);
	assert_int_equal(s.d.activity->start_time, first + 300);
	/* down to the minimum and no further */
	for (int i = 0; i < 10; i++)
		period1(&s, 1);
	assert_int_equal(s.desired, 1);
	for (int i = 0; i < 10; i++)
		assert_int_equal(period1(&s, 1), SCHED_AS_NONE);
	assert_int_equal(s.desired, 1);
	sched_as_free(s.as);
}

/* a scale-out during the scale-in cooldown happens at once and ends it */
static void test_scale_out_ends_scale_in_cooldown(void **state)
{
	(void)state;
	struct sim s;

	for (int with_out = 0; with_out < 2; with_out++) {
		sim_init(&s, 1, 20, 6, 0);
		add_policy(&s, "cpu50", SCHED_AS_CPU, 50, 0, 3600, false);
		for (int i = 0; i < 15; i++)
			period1(&s, 40);
		assert_int_equal(s.d.action, SCHED_AS_SCALE_IN);    /* ceil(6 x 40 / 50) = 5 */
		assert_int_equal(s.desired, 5);
		if (with_out) {
			period1(&s, 60);
			period1(&s, 60);
			assert_int_equal(period1(&s, 60), SCHED_AS_SCALE_OUT);   /* ceil(5 x 60 / 50) = 6 */
			assert_int_equal(s.desired, 6);
		}
		/* 15 low periods later: only if the scale-out ended the hour-long cooldown */
		for (int i = 0; i < 14; i++)
			assert_int_equal(period1(&s, 40), SCHED_AS_NONE);
		enum sched_as_action a = period1(&s, 40);
		if (with_out) {
			assert_int_equal(a, SCHED_AS_SCALE_IN);
		} else {
			assert_int_equal(a, SCHED_AS_NONE);
			assert_int_equal(s.d.blocked_in, SCHED_AS_BLOCKED_COOLDOWN);
		}
		sched_as_free(s.as);
	}
}

/* several policies: out if any, the largest; in only if all agree, the
 * smallest reduction */
static void test_multiple_policies(void **state)
{
	(void)state;
	struct sim s;

	/* CPU high, memory low: out */
	sim_init(&s, 1, 20, 4, 0);
	add_policy(&s, "cpu50", SCHED_AS_CPU, 50, -1, -1, false);
	add_policy(&s, "mem60", SCHED_AS_MEMORY, 60, -1, -1, false);
	for (int i = 0; i < 15; i++)
		period3(&s, 47, 10, MISSING);
	assert_int_equal(s.d.action, SCHED_AS_NONE);            /* memory low, CPU not below 45 */
	assert_int_equal(s.desired, 4);
	period3(&s, 75, 10, MISSING);
	period3(&s, 75, 10, MISSING);
	assert_int_equal(period3(&s, 75, 10, MISSING), SCHED_AS_SCALE_OUT);
	assert_string_equal(s.d.policy, "cpu50");
	assert_int_equal(s.desired, 6);                          /* ceil(4 x 75 / 50) */
	sched_as_free(s.as);

	/* both high: the larger proposal (memory: ceil(4 x 90 / 30) = 12) */
	sim_init(&s, 1, 20, 4, 0);
	add_policy(&s, "cpu50", SCHED_AS_CPU, 50, -1, -1, false);
	add_policy(&s, "mem30", SCHED_AS_MEMORY, 30, -1, -1, false);
	for (int i = 0; i < 3; i++)
		period3(&s, 60, 90, MISSING);
	assert_int_equal(s.d.action, SCHED_AS_SCALE_OUT);
	assert_string_equal(s.d.policy, "mem30");
	assert_int_equal(s.desired, 12);
	sched_as_free(s.as);

	/* both low: CPU 10 -> ceil(8 x 10 / 50) = 2, memory 45 (< 54) ->
	 * ceil(8 x 45 / 60) = 6: the smaller reduction, 6, wins */
	sim_init(&s, 1, 20, 8, 0);
	add_policy(&s, "cpu50", SCHED_AS_CPU, 50, -1, -1, false);
	add_policy(&s, "mem60", SCHED_AS_MEMORY, 60, -1, -1, false);
	for (int i = 0; i < 15; i++)
		period3(&s, 10, 45, MISSING);
	assert_int_equal(s.d.action, SCHED_AS_SCALE_IN);
	assert_string_equal(s.d.policy, "mem60");
	assert_int_equal(s.desired, 6);
	sched_as_free(s.as);

	/* one policy without data: no agreement, no scale-in */
	sim_init(&s, 1, 20, 8, 0);
	add_policy(&s, "cpu50", SCHED_AS_CPU, 50, -1, -1, false);
	add_policy(&s, "mem60", SCHED_AS_MEMORY, 60, -1, -1, false);
	for (int i = 0; i < 20; i++)
		assert_int_equal(period3(&s, 10, MISSING, MISSING), SCHED_AS_NONE);
	sched_as_free(s.as);
}

/* DisableScaleIn: that policy never scales in and is left out of the
 * agreement; alone, nothing scales in */
static void test_disable_scale_in(void **state)
{
	(void)state;
	struct sim s;

	sim_init(&s, 1, 20, 8, 0);
	add_policy(&s, "cpu50", SCHED_AS_CPU, 50, -1, -1, true);
	for (int i = 0; i < 30; i++)
		assert_int_equal(period1(&s, 5), SCHED_AS_NONE);
	/* it still scales out */
	for (int i = 0; i < 3; i++)
		period1(&s, 100);
	assert_int_equal(s.d.action, SCHED_AS_SCALE_OUT);
	assert_int_equal(s.desired, 16);
	sched_as_free(s.as);

	/* with a second policy (scale-in on) whose load is high: the first
	 * policy's low alarm does not matter, the second decides */
	sim_init(&s, 1, 20, 8, 0);
	add_policy(&s, "cpu50", SCHED_AS_CPU, 50, -1, -1, true);
	add_policy(&s, "mem60", SCHED_AS_MEMORY, 60, -1, -1, false);
	for (int i = 0; i < 15; i++)
		period3(&s, 5, 58, MISSING);     /* memory not below 54 */
	assert_int_equal(s.desired, 8);
	/* CPU high (its scale-in off), memory low: CPU scales out at the 3rd
	 * period (ceil(8 x 80 / 50) = 13) and after its cooldown, at the 8th
	 * (ceil(13 x 80 / 50) = 21: the maximum, 20); memory's low alarm (15th)
	 * does not scale in while CPU's high alarm is in ALARM */
	for (int i = 0; i < 15; i++) {
		period3(&s, 80, 30, MISSING);
		if (i == 2)
			assert_int_equal(s.desired, 13);
	}
	assert_int_equal(s.desired, 20);
	assert_int_equal(s.d.action, SCHED_AS_NONE);
	assert_int_equal(s.d.blocked_out, SCHED_AS_BLOCKED_LIMIT);
	sched_as_free(s.as);

	sim_init(&s, 1, 20, 8, 0);
	add_policy(&s, "cpu50", SCHED_AS_CPU, 50, -1, -1, true);
	add_policy(&s, "mem60", SCHED_AS_MEMORY, 60, -1, -1, false);
	for (int i = 0; i < 15; i++)
		period3(&s, 48, 30, MISSING);    /* CPU between 45 and 50, memory low */
	assert_int_equal(s.d.action, SCHED_AS_SCALE_IN);
	assert_string_equal(s.d.policy, "mem60");
	assert_int_equal(s.desired, 4);      /* ceil(8 x 30 / 60) */
	sched_as_free(s.as);
}

/* no scale-in while a deployment is in progress; scale-out goes on */
static void test_deployment(void **state)
{
	(void)state;
	struct sim s;

	sim_init(&s, 1, 20, 8, 0);
	add_policy(&s, "cpu50", SCHED_AS_CPU, 50, -1, -1, false);
	s.deploying = true;
	for (int i = 0; i < 20; i++) {
		assert_int_equal(period1(&s, 10), SCHED_AS_NONE);
		if (i >= 14)
			assert_int_equal(s.d.blocked_in, SCHED_AS_BLOCKED_DEPLOYMENT);
	}
	s.deploying = false;
	assert_int_equal(period1(&s, 10), SCHED_AS_SCALE_IN);
	assert_int_equal(s.desired, 2);
	s.deploying = true;
	for (int i = 0; i < 3; i++)
		period1(&s, 100);
	assert_int_equal(s.d.action, SCHED_AS_SCALE_OUT);
	assert_int_equal(s.desired, 4);
	sched_as_free(s.as);
}

/* SuspendedState, and new capacity limits applied at once */
static void test_suspended_and_limits(void **state)
{
	(void)state;
	struct sim s;
	struct berr *err = NULL;
	struct sched_as_target_spec t = { .resource_id = "service/default/web", .min_capacity = 1, .max_capacity = 10,
	                                  .dynamic_out_suspended = true, .dynamic_in_suspended = true };

	sim_init(&s, 1, 10, 2, 0);
	add_policy(&s, "cpu50", SCHED_AS_CPU, 50, 0, 0, false);
	assert_int_equal(sched_as_update_target(s.as, &t, &err), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(period1(&s, 100), SCHED_AS_NONE);
	assert_int_equal(s.d.blocked_out, SCHED_AS_BLOCKED_SUSPENDED);
	t.dynamic_out_suspended = false;
	assert_int_equal(sched_as_update_target(s.as, &t, &err), 0);
	assert_int_equal(period1(&s, 100), SCHED_AS_SCALE_OUT);
	assert_int_equal(s.desired, 4);
	for (int i = 0; i < 15; i++)
		assert_int_equal(period1(&s, 5), SCHED_AS_NONE);
	assert_int_equal(s.d.blocked_in, SCHED_AS_BLOCKED_SUSPENDED);
	t.dynamic_in_suspended = false;
	assert_int_equal(sched_as_update_target(s.as, &t, &err), 0);
	assert_int_equal(period1(&s, 5), SCHED_AS_SCALE_IN);
	assert_int_equal(s.desired, 1);

	/* MinCapacity 3: the next step sets 3, whatever the alarms */
	t.min_capacity = 3;
	assert_int_equal(sched_as_update_target(s.as, &t, &err), 0);
	assert_int_equal(period1(&s, 5), SCHED_AS_TO_MIN);
	assert_int_equal(s.desired, 3);
	assert_string_equal(s.d.activity->cause, "minimum capacity was set to 3");
	assert_string_equal(s.d.activity->description, "Setting desired count to 3.");
	/* MaxCapacity 4 with 6 running */
	s.desired = 6;
	t.max_capacity = 4;
	assert_int_equal(sched_as_update_target(s.as, &t, &err), 0);
	assert_int_equal(period1(&s, 50), SCHED_AS_TO_MAX);
	assert_int_equal(s.desired, 4);
	assert_string_equal(s.d.activity->cause, "maximum capacity was set to 4");
	/* at the maximum a high alarm changes nothing */
	for (int i = 0; i < 3; i++)
		assert_int_equal(period1(&s, 100), SCHED_AS_NONE);
	assert_int_equal(s.d.blocked_out, SCHED_AS_BLOCKED_LIMIT);
	assert_int_equal(s.desired, 4);
	sched_as_free(s.as);
}

/* the alarm invokes the policy once per period: steps every 10 s with no
 * cooldown scale out once per period, not once per step */
static void test_once_per_period(void **state)
{
	(void)state;
	struct sim s;
	int outs = 0;

	sim_init(&s, 1, 100, 2, 0);
	add_policy(&s, "cpu50", SCHED_AS_CPU, 50, 0, 0, false);
	for (int k = 0; k < 5; k++) {
		sched_as_put_datapoint(s.as, SCHED_AS_CPU, s.now, 80);
		s.now += 60;
		for (int st = 0; st < 6; st++) {
			sched_as_step(s.as, s.now + st * 10, s.desired, false, &s.d);
			outs += s.d.action == SCHED_AS_SCALE_OUT;
			s.desired = s.d.desired;
		}
	}
	/* periods 3, 4, 5: 2 -> 4 -> 7 -> 12 */
	assert_int_equal(outs, 3);
	assert_int_equal(s.desired, 12);
	/* a datapoint that arrives late (after the first step of its period)
	 * is still acted on, once */
	sched_as_step(s.as, s.now + 61, s.desired, false, &s.d);
	assert_int_equal(s.d.action, SCHED_AS_NONE);
	sched_as_put_datapoint(s.as, SCHED_AS_CPU, s.now, 80);
	sched_as_step(s.as, s.now + 65, s.desired, false, &s.d);
	assert_int_equal(s.d.action, SCHED_AS_SCALE_OUT);
	assert_int_equal(s.d.desired, 20);
	sched_as_step(s.as, s.now + 70, s.d.desired, false, &s.d);
	assert_int_equal(s.d.action, SCHED_AS_NONE);
	sched_as_free(s.as);
}

/* the test hook: 5-second periods; ALB requests per target */
static void test_short_period_and_alb(void **state)
{
	(void)state;
	struct sim s;

	sim_init(&s, 1, 10, 2, 5);
	add_policy(&s, "req1000", SCHED_AS_ALB_REQUESTS, 1000, 10, 10, false);
	period3(&s, MISSING, MISSING, 2500);
	period3(&s, MISSING, MISSING, 2500);
	assert_int_equal(period3(&s, MISSING, MISSING, 2500), SCHED_AS_SCALE_OUT);
	assert_int_equal(s.desired, 5);
	assert_int_equal(s.now, T0 + 15);
	/* 15 periods of 5 s at 300 requests: ceil(5 x 300 / 1000) = 2 */
	for (int i = 0; i < 14; i++)
		assert_int_equal(period3(&s, MISSING, MISSING, 300), SCHED_AS_NONE);
	assert_int_equal(period3(&s, MISSING, MISSING, 300), SCHED_AS_SCALE_IN);
	assert_int_equal(s.desired, 2);
	sched_as_free(s.as);
}

static void test_validation(void **state)
{
	(void)state;
	struct sched_as *as = NULL;
	struct berr *err = NULL;
	struct sched_as_target_spec t = { .resource_id = "service/default/web", .min_capacity = 3, .max_capacity = 2 };

	assert_int_equal(sched_as_new(&t, &as, &err), -22);
	assert_string_equal(berr_msg(err),
	                    "scalable target service/default/web: MaxCapacity (2) is below MinCapacity (3): Invalid argument");
	berr_clear(&err);
	t.resource_id = "web";
	t.max_capacity = 5;
	assert_int_equal(sched_as_new(&t, &as, &err), -22);
	assert_string_equal(berr_msg(err),
	                    "scalable target web: ResourceId must be service/<cluster>/<service>: Invalid argument");
	berr_clear(&err);
	t.resource_id = "service/default/web";
	assert_int_equal(sched_as_new(&t, &as, &err), 0);

	struct sched_as_policy_spec p = { .name = "cpu", .metric = SCHED_AS_CPU, .target_value = 150 };
	assert_int_equal(sched_as_put_policy(as, &p, &err), -22);
	assert_string_equal(berr_msg(err), "scaling policy cpu: TargetValue 150 is above 100 percent of "
	                                   "ECSServiceAverageCPUUtilization: Invalid argument");
	berr_clear(&err);
	p.target_value = 0;
	assert_int_equal(sched_as_put_policy(as, &p, &err), -22);
	berr_clear(&err);
	p.target_value = 50;
	assert_int_equal(sched_as_put_policy(as, &p, &err), 0);
	/* replaced by name */
	p.target_value = 70;
	assert_int_equal(sched_as_put_policy(as, &p, &err), 0);
	size_t n;
	const struct sched_as_policy *pp = sched_as_policies(as, &n);
	assert_int_equal(n, 1);
	assert_true(pp[0].target_value == 70);
	/* a second policy on the same metric */
	struct sched_as_policy_spec q = { .name = "cpu2", .metric = SCHED_AS_CPU, .target_value = 60 };
	assert_int_equal(sched_as_put_policy(as, &q, &err), -22);
	assert_string_equal(berr_msg(err), "scaling policy cpu2: ECSServiceAverageCPUUtilization is already tracked "
	                                   "by policy cpu: Invalid argument");
	berr_clear(&err);
	struct sched_as_policy_spec alb = { .name = "req", .metric = SCHED_AS_ALB_REQUESTS, .target_value = 100 };
	assert_int_equal(sched_as_put_policy(as, &alb, &err), -22);
	assert_string_equal(berr_msg(err), "scaling policy req: ALBRequestCountPerTarget needs a ResourceLabel: "
	                                   "Invalid argument");
	berr_clear(&err);
	assert_int_equal(sched_as_delete_policy(as, "nope", &err), -2);
	berr_clear(&err);
	assert_int_equal(sched_as_delete_policy(as, "cpu", &err), 0);
	sched_as_policies(as, &n);
	assert_int_equal(n, 0);

	enum sched_as_metric m;
	assert_true(sched_as_metric_parse("ECSServiceAverageMemoryUtilization", &m));
	assert_int_equal(m, SCHED_AS_MEMORY);
	assert_false(sched_as_metric_parse("ASGAverageCPUUtilization", &m));
	assert_string_equal(sched_as_metric_str(SCHED_AS_ALB_REQUESTS), "ALBRequestCountPerTarget");
	sched_as_free(as);
}

/* at most SCHED_AS_MAX_ACTIVITIES are kept, the oldest dropped */
static void test_activity_limit(void **state)
{
	(void)state;
	struct sim s;
	size_t n;
	struct sched_as_target_spec t = { .resource_id = "service/default/web", .min_capacity = 1, .max_capacity = 2 };
	struct berr *err = NULL;

	const struct sched_as_activity *a;

	sim_init(&s, 1, 2, 1, 0);
	for (int i = 0; i < 210; i++) {
		t.min_capacity = i % 2 ? 1 : 2;
		assert_int_equal(sched_as_update_target(s.as, &t, &err), 0);
		s.desired = 1;
		period1(&s, MISSING);
		assert_int_equal(s.d.action, i % 2 ? SCHED_AS_NONE : SCHED_AS_TO_MIN);
		if (i == 129) {
			a = sched_as_activities(s.as, &n);
			assert_int_equal(n, 65);
			assert_string_equal(a[64].description, "Setting desired count to 2.");
		}
	}
	a = sched_as_activities(s.as, &n);
	assert_int_equal(n, SCHED_AS_MAX_ACTIVITIES);
	for (size_t i = 1; i < n; i++)
		assert_true(a[i].start_time > a[i - 1].start_time);
	assert_string_not_equal(a[0].id, a[1].id);
	sched_as_free(s.as);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_proposal),
		cmocka_unit_test(test_scale_out_after_three),
		cmocka_unit_test(test_three_consecutive),
		cmocka_unit_test(test_missing_data),
		cmocka_unit_test(test_scale_out_cooldown),
		cmocka_unit_test(test_scale_in),
		cmocka_unit_test(test_scale_out_ends_scale_in_cooldown),
		cmocka_unit_test(test_multiple_policies),
		cmocka_unit_test(test_disable_scale_in),
		cmocka_unit_test(test_deployment),
		cmocka_unit_test(test_suspended_and_limits),
		cmocka_unit_test(test_once_per_period),
		cmocka_unit_test(test_short_period_and_alb),
		cmocka_unit_test(test_validation),
		cmocka_unit_test(test_activity_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
