/* Unit tests for lb/target.c: the health-check state machine under a
 * simulated clock (thresholds, timeouts, matcher codes, late results),
 * draining with the deregistration delay, the round-robin and
 * least-outstanding-requests pickers, fail-open, and the weighted choice
 * among target groups. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "lb/target.h"

#define S 1000ull /* one second in ms */

static void tg_new(struct lb_target_group *tg, enum lb_hc_protocol proto, enum lb_algorithm algo)
{
	struct lb_tg_config c;
	struct berr *err = NULL;

	lb_tg_config_default(&c, proto);
	c.algorithm = algo;
	if (lb_tg_init(tg, &c, &err) < 0)
		fail_msg("%s", berr_msg(err));
}

/* Run due probes at now, answering each with outcome. Returns how many. */
static size_t probe_all(struct lb_target_group *tg, uint64_t now, int outcome)
{
	struct lb_probe pr[16];
	size_t n = lb_tg_due(tg, now, pr, 16);

	for (size_t i = 0; i < n; i++)
		lb_tg_probe_result(tg, pr[i].target, pr[i].seq, now + 10, outcome);
	return n;
}

static void defaults_and_matcher(void **state)
{
	struct lb_tg_config c;
	struct lb_hc_matcher m;
	struct berr *err = NULL;

	lb_tg_config_default(&c, LB_HC_HTTP);
	assert_int_equal(c.hc.interval_ms, 30000);
	assert_int_equal(c.hc.timeout_ms, 5000);
	assert_int_equal(c.hc.healthy_threshold, 5);
	assert_int_equal(c.hc.unhealthy_threshold, 2);
	assert_int_equal(c.deregistration_delay_ms, 300000);
	assert_string_equal(c.hc.path, "/");
	assert_true(lb_hc_matcher_match(&c.hc.matcher, 200));
	assert_false(lb_hc_matcher_match(&c.hc.matcher, 201));
	lb_tg_config_default(&c, LB_HC_TCP);
	assert_int_equal(c.hc.timeout_ms, 10000);

	assert_int_equal(lb_hc_matcher_parse("200-299", &m, NULL), 0);
	assert_true(lb_hc_matcher_match(&m, 204));
	assert_false(lb_hc_matcher_match(&m, 300));
	assert_int_equal(lb_hc_matcher_parse("200,302,400-404", &m, NULL), 0);
	assert_int_equal(m.n, 3);
	assert_true(lb_hc_matcher_match(&m, 302));
	assert_true(lb_hc_matcher_match(&m, 403));
	assert_false(lb_hc_matcher_match(&m, 301));
	assert_false(lb_hc_matcher_match(&m, 405));
	static const char *const bad[] = { "", "20", "2000", "199", "500", "299-200", "200,", ",200",
					   "200-", "abc", "200 ", "200-299-300" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (lb_hc_matcher_parse(bad[i], &m, &err) >= 0)
			fail_msg("matcher \"%s\" parsed", bad[i]);
		assert_non_null(strstr(berr_msg(err), "matcher"));
		berr_clear(&err);
	}

	lb_tg_config_default(&c, LB_HC_HTTP);
	c.hc.timeout_ms = 30000;
	assert_true(lb_tg_config_check(&c, &err) < 0);
	assert_non_null(strstr(berr_msg(err), "less than HealthCheckIntervalSeconds"));
	berr_clear(&err);
	lb_tg_config_default(&c, LB_HC_HTTP);
	c.hc.healthy_threshold = 11;
	assert_true(lb_tg_config_check(&c, &err) < 0);
	assert_non_null(strstr(berr_msg(err), "HealthyThresholdCount"));
	berr_clear(&err);
	lb_tg_config_default(&c, LB_HC_HTTP);
	c.hc.interval_ms = 4000;
	assert_true(lb_tg_config_check(&c, NULL) < 0);
}

static void registration(void **state)
{
	struct lb_target_group tg;
	struct berr *err = NULL;
	int a, b;

	tg_new(&tg, LB_HC_HTTP, LB_ROUND_ROBIN);
	a = lb_tg_register(&tg, "10.0.0.1:80", 0, NULL);
	b = lb_tg_register(&tg, "[fd00::1]:8080", 0, NULL);
	assert_true(a >= 0 && b >= 0 && a != b);
	assert_int_equal(tg.t[a].state, LB_TARGET_INITIAL);
	assert_string_equal(lb_target_reason_name(tg.t[a].reason), "Elb.RegistrationInProgress");
	assert_int_equal(lb_tg_find(&tg, "[fd00::1]:8080"), b);
	assert_int_equal(lb_tg_find(&tg, "10.0.0.1:81"), -1);
	assert_true(lb_tg_register(&tg, "10.0.0.1:80", 0, &err) < 0);
	assert_non_null(strstr(berr_msg(err), "already registered"));
	berr_clear(&err);
	static const char *const bad[] = { "10.0.0.1", "10.0.0.1:0", "10.0.0.1:65536", "x:80",
					   "[fd00::1]80", "fd00::1:80", "10.0.0.1:8a", "" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (lb_tg_register(&tg, bad[i], 0, &err) >= 0)
			fail_msg("registered \"%s\"", bad[i]);
		berr_clear(&err);
	}
	lb_tg_destroy(&tg);
}

/* initial -> healthy after 5 successes; -> unhealthy after 2 failures;
 * back after 5 successes; probes every 30 s, the first at once. */
static void health_state_machine(void **state)
{
	struct lb_target_group tg;
	struct lb_probe pr[4];
	uint64_t now = 1000 * S;
	int a;

	tg_new(&tg, LB_HC_HTTP, LB_ROUND_ROBIN);
	a = lb_tg_register(&tg, "10.0.0.1:80", now, NULL);
	assert_int_equal(lb_tg_next_event(&tg), now);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(probe_all(&tg, now, 200), 1);
		assert_int_equal(tg.t[a].state, LB_TARGET_INITIAL);
		/* nothing is due before the interval */
		assert_int_equal(lb_tg_next_event(&tg), now + 30 * S);
		assert_int_equal(lb_tg_due(&tg, now + 29 * S, pr, 4), 0);
		now += 30 * S;
	}
	assert_int_equal(probe_all(&tg, now, 200), 1);
	assert_int_equal(tg.t[a].state, LB_TARGET_HEALTHY);
	assert_int_equal(tg.t[a].reason, LB_REASON_NONE);

	/* a status outside the matcher is a failure; one is not enough */
	now += 30 * S;
	probe_all(&tg, now, 302);
	assert_int_equal(tg.t[a].state, LB_TARGET_HEALTHY);
	/* a success in between resets the count */
	now += 30 * S;
	probe_all(&tg, now, 200);
	now += 30 * S;
	probe_all(&tg, now, 500);
	assert_int_equal(tg.t[a].state, LB_TARGET_HEALTHY);
	now += 30 * S;
	probe_all(&tg, now, 500);
	assert_int_equal(tg.t[a].state, LB_TARGET_UNHEALTHY);
	assert_string_equal(lb_target_reason_name(tg.t[a].reason), "Target.ResponseCodeMismatch");
	assert_string_equal(lb_target_state_name(tg.t[a].state), "unhealthy");

	/* failed connections keep it there; then 5 successes bring it back */
	now += 30 * S;
	probe_all(&tg, now, LB_PROBE_FAILED);
	assert_string_equal(lb_target_reason_name(tg.t[a].reason), "Target.FailedHealthChecks");
	for (int i = 0; i < 4; i++) {
		now += 30 * S;
		probe_all(&tg, now, 200);
		assert_int_equal(tg.t[a].state, LB_TARGET_UNHEALTHY);
	}
	now += 30 * S;
	probe_all(&tg, now, 200);
	assert_int_equal(tg.t[a].state, LB_TARGET_HEALTHY);
	lb_tg_destroy(&tg);
}

/* A probe with no answer times out after 5 s (lb_tg_due settles it); an
 * answer after the timeout, or to an older probe, does not count. */
static void health_timeouts(void **state)
{
	struct lb_target_group tg;
	struct lb_probe pr[4], old;
	uint64_t now = 0;
	int a;

	tg_new(&tg, LB_HC_HTTP, LB_ROUND_ROBIN);
	a = lb_tg_register(&tg, "10.0.0.1:80", now, NULL);
	assert_int_equal(lb_tg_due(&tg, now, pr, 4), 1);
	old = pr[0];
	assert_int_equal(lb_tg_next_event(&tg), 5 * S);
	assert_int_equal(lb_tg_due(&tg, 4 * S, pr, 4), 0);
	assert_int_equal(tg.t[a].failures, 0);
	assert_int_equal(lb_tg_due(&tg, 5 * S, pr, 4), 0); /* timed out, next probe at 30 s */
	assert_int_equal(tg.t[a].failures, 1);
	assert_int_equal(lb_tg_next_event(&tg), 30 * S);
	/* the late answer changes nothing */
	lb_tg_probe_result(&tg, old.target, old.seq, 6 * S, 200);
	assert_int_equal(tg.t[a].failures, 1);
	assert_int_equal(tg.t[a].successes, 0);
	/* an answer that arrives after the deadline, before lb_tg_due saw it */
	assert_int_equal(lb_tg_due(&tg, 30 * S, pr, 4), 1);
	lb_tg_probe_result(&tg, pr[0].target, pr[0].seq, 35 * S, 200);
	assert_int_equal(tg.t[a].state, LB_TARGET_UNHEALTHY);
	assert_string_equal(lb_target_reason_name(tg.t[a].reason), "Target.Timeout");
	/* a wrong sequence number is ignored */
	assert_int_equal(lb_tg_due(&tg, 60 * S, pr, 4), 1);
	lb_tg_probe_result(&tg, pr[0].target, pr[0].seq + 1, 61 * S, 200);
	assert_int_equal(tg.t[a].successes, 0);
	lb_tg_probe_result(&tg, pr[0].target, pr[0].seq, 61 * S, 200);
	assert_int_equal(tg.t[a].successes, 1);
	lb_tg_destroy(&tg);
}

static void health_tcp(void **state)
{
	struct lb_target_group tg;
	uint64_t now = 0;
	int a;

	tg_new(&tg, LB_HC_TCP, LB_ROUND_ROBIN);
	a = lb_tg_register(&tg, "10.0.0.1:5432", now, NULL);
	for (int i = 0; i < 5; i++, now += 30 * S)
		probe_all(&tg, now, LB_PROBE_CONNECTED);
	assert_int_equal(tg.t[a].state, LB_TARGET_HEALTHY);
	for (int i = 0; i < 2; i++, now += 30 * S)
		probe_all(&tg, now, LB_PROBE_FAILED);
	assert_int_equal(tg.t[a].state, LB_TARGET_UNHEALTHY);
	lb_tg_destroy(&tg);
}

static void make_healthy(struct lb_target_group *tg, uint64_t *now)
{
	for (int i = 0; i < 5; i++, *now += 30 * S)
		probe_all(tg, *now, 200);
}

static void draining(void **state)
{
	struct lb_target_group tg;
	struct lb_probe pr[4];
	uint64_t now = 0;
	int a, b, c, p;

	tg_new(&tg, LB_HC_HTTP, LB_ROUND_ROBIN);
	a = lb_tg_register(&tg, "10.0.0.1:80", now, NULL);
	b = lb_tg_register(&tg, "10.0.0.2:80", now, NULL);
	make_healthy(&tg, &now);
	/* a request in flight on a */
	do
		p = lb_tg_pick(&tg);
	while (p != a);
	assert_int_equal(lb_tg_deregister(&tg, (size_t)a, now), 0);
	assert_int_equal(tg.t[a].state, LB_TARGET_DRAINING);
	assert_string_equal(lb_target_reason_name(tg.t[a].reason), "Target.DeregistrationInProgress");
	/* no new requests, no probes */
	for (int i = 0; i < 10; i++) {
		assert_int_equal(lb_tg_pick(&tg), b);
		lb_tg_release(&tg, (size_t)b);
	}
	assert_int_equal(lb_tg_due(&tg, now + 30 * S, pr, 4), 1);
	assert_int_equal(pr[0].target, (size_t)b);
	lb_tg_probe_result(&tg, pr[0].target, pr[0].seq, now + 30 * S, 200);
	/* the delay (300 s) ends the drain even with the request still open */
	assert_true(lb_tg_next_event(&tg) <= now + 300 * S);
	lb_tg_due(&tg, now + 299 * S, pr, 4);
	assert_int_equal(tg.t[a].state, LB_TARGET_DRAINING);
	lb_tg_due(&tg, now + 300 * S, pr, 4);
	assert_int_equal(tg.t[a].state, LB_TARGET_UNUSED);
	/* the slot is not reused while that request is counted */
	c = lb_tg_register(&tg, "10.0.0.3:80", now, NULL);
	assert_int_not_equal(c, a);
	lb_tg_release(&tg, (size_t)a);
	assert_int_equal(lb_tg_register(&tg, "10.0.0.4:80", now, NULL), a);

	/* with nothing in flight, deregistration completes at once */
	assert_int_equal(lb_tg_deregister(&tg, (size_t)c, now), 0);
	assert_int_equal(tg.t[c].state, LB_TARGET_UNUSED);
	/* and draining ends when the last request does */
	p = lb_tg_pick(&tg);
	assert_int_equal(p, b);
	lb_tg_deregister(&tg, (size_t)b, now);
	assert_int_equal(tg.t[b].state, LB_TARGET_DRAINING);
	/* registering it again revives it as initial */
	assert_int_equal(lb_tg_register(&tg, "10.0.0.2:80", now, NULL), b);
	assert_int_equal(tg.t[b].state, LB_TARGET_INITIAL);
	lb_tg_deregister(&tg, (size_t)b, now);
	lb_tg_release(&tg, (size_t)b);
	assert_int_equal(tg.t[b].state, LB_TARGET_UNUSED);
	assert_int_equal(lb_tg_deregister(&tg, (size_t)b, now), -ENOENT);
	lb_tg_destroy(&tg);
}

/* Health checks off: lb_tg_expire_drains ends drains by the delay alone,
 * and a slot that takes a new registration gets a new generation. */
static void drains_without_health_checks(void **state)
{
	struct lb_target_group tg;
	uint64_t now = 1000;
	uint32_t gen;
	int a, b, p;

	(void)state;
	tg_new(&tg, LB_HC_HTTP, LB_ROUND_ROBIN);
	tg.cfg.deregistration_delay_ms = 10 * S;
	a = lb_tg_register(&tg, "10.0.0.1:80", now, NULL);
	b = lb_tg_register(&tg, "10.0.0.2:80", now, NULL);
	assert_int_equal(lb_tg_expire_drains(&tg, now), UINT64_MAX);
	do
		p = lb_tg_pick(&tg);
	while (p != a);
	lb_tg_deregister(&tg, (size_t)a, now);
	assert_int_equal(tg.t[a].state, LB_TARGET_DRAINING);
	assert_int_equal(lb_tg_expire_drains(&tg, now + 10 * S - 1), now + 10 * S);
	assert_int_equal(tg.t[a].state, LB_TARGET_DRAINING);
	assert_int_equal(lb_tg_expire_drains(&tg, now + 10 * S), UINT64_MAX);
	assert_int_equal(tg.t[a].state, LB_TARGET_UNUSED);
	assert_int_equal(tg.t[b].state, LB_TARGET_INITIAL);
	/* the request still counted keeps the slot; released, it is reused
	 * with a new generation (so pooled connections to the old target die) */
	gen = tg.t[a].gen;
	lb_tg_release(&tg, (size_t)a);
	assert_int_equal(lb_tg_register(&tg, "10.0.0.9:80", now, NULL), a);
	assert_int_equal(tg.t[a].gen, gen + 1);
	/* a draining target registered again keeps its slot and generation */
	gen = tg.t[b].gen;
	do
		p = lb_tg_pick(&tg);
	while (p != b);
	lb_tg_deregister(&tg, (size_t)b, now);
	assert_int_equal(lb_tg_register(&tg, "10.0.0.2:80", now, NULL), b);
	assert_int_equal(tg.t[b].gen, gen);
	lb_tg_destroy(&tg);
}

/* Health found elsewhere (the engine's leader) set on a follower's copy:
 * only probed states, and routing follows it. */
static void set_health(void **state)
{
	struct lb_target_group tg;
	uint64_t now = 0;
	int a, b;

	(void)state;
	tg_new(&tg, LB_HC_HTTP, LB_ROUND_ROBIN);
	a = lb_tg_register(&tg, "10.0.0.1:80", now, NULL);
	b = lb_tg_register(&tg, "10.0.0.2:80", now, NULL);
	/* both initial: fail open to both */
	assert_int_not_equal(lb_tg_pick(&tg), lb_tg_pick(&tg));
	assert_int_equal(lb_tg_set_health(&tg, (size_t)a, LB_TARGET_HEALTHY, LB_REASON_NONE), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(lb_tg_pick(&tg), a);
	assert_int_equal(lb_tg_set_health(&tg, (size_t)b, LB_TARGET_HEALTHY, LB_REASON_NONE), 0);
	assert_int_equal(lb_tg_set_health(&tg, (size_t)a, LB_TARGET_UNHEALTHY,
					  LB_REASON_TIMEOUT), 0);
	assert_string_equal(lb_target_reason_name(tg.t[a].reason), "Target.Timeout");
	for (int i = 0; i < 4; i++)
		assert_int_equal(lb_tg_pick(&tg), b);
	/* not a health state; not for a draining or unknown target */
	assert_int_equal(lb_tg_set_health(&tg, (size_t)a, LB_TARGET_DRAINING, LB_REASON_NONE),
			 -EINVAL);
	lb_tg_deregister(&tg, (size_t)b, now);
	assert_int_equal(lb_tg_set_health(&tg, (size_t)b, LB_TARGET_HEALTHY, LB_REASON_NONE),
			 -EINVAL);
	assert_int_equal(tg.t[b].state, LB_TARGET_DRAINING);
	assert_int_equal(lb_tg_set_health(&tg, 99, LB_TARGET_HEALTHY, LB_REASON_NONE), -ENOENT);
	lb_tg_destroy(&tg);
}

static void round_robin_and_fail_open(void **state)
{
	struct lb_target_group tg;
	uint64_t now = 0;
	int t[4], count[4] = { 0 };

	tg_new(&tg, LB_HC_HTTP, LB_ROUND_ROBIN);
	assert_int_equal(lb_tg_pick(&tg), -1); /* empty */
	for (int i = 0; i < 4; i++) {
		char a[32];

		snprintf(a, sizeof(a), "10.0.0.%d:80", i + 1);
		t[i] = lb_tg_register(&tg, a, now, NULL);
	}
	/* all initial: fail open over them */
	assert_true(lb_tg_pick(&tg) >= 0);
	assert_true(tg.fail_open);
	make_healthy(&tg, &now);
	/* each target once per round */
	for (int round = 0; round < 5; round++) {
		int seen[4] = { 0 };

		for (int i = 0; i < 4; i++) {
			int p = lb_tg_pick(&tg);

			assert_true(p >= 0 && p < 4);
			seen[p]++;
			count[p]++;
			lb_tg_release(&tg, (size_t)p);
		}
		for (int i = 0; i < 4; i++)
			assert_int_equal(seen[i], 1);
	}
	assert_false(tg.fail_open);
	/* make t[0] unhealthy: it gets nothing */
	for (int i = 0; i < 2; i++, now += 30 * S) {
		struct lb_probe pr[8];
		size_t n = lb_tg_due(&tg, now, pr, 8);

		for (size_t k = 0; k < n; k++)
			lb_tg_probe_result(&tg, pr[k].target, pr[k].seq, now,
					   pr[k].target == (size_t)t[0] ? 500 : 200);
	}
	assert_int_equal(tg.t[t[0]].state, LB_TARGET_UNHEALTHY);
	for (int i = 0; i < 30; i++) {
		int p = lb_tg_pick(&tg);

		assert_int_not_equal(p, t[0]);
		lb_tg_release(&tg, (size_t)p);
	}
	/* all unhealthy: fail open, everyone gets requests again */
	for (int i = 0; i < 2; i++, now += 30 * S)
		probe_all(&tg, now, 500);
	{
		int seen[4] = { 0 };

		for (int i = 0; i < 8; i++) {
			int p = lb_tg_pick(&tg);

			seen[p]++;
			lb_tg_release(&tg, (size_t)p);
		}
		for (int i = 0; i < 4; i++)
			assert_int_equal(seen[i], 2);
		assert_true(tg.fail_open);
	}
	lb_tg_destroy(&tg);
}

static void least_outstanding(void **state)
{
	struct lb_target_group tg;
	uint64_t now = 0;
	int held[64], nh = 0;

	tg_new(&tg, LB_HC_HTTP, LB_LEAST_OUTSTANDING);
	for (int i = 0; i < 5; i++) {
		char a[32];

		snprintf(a, sizeof(a), "10.0.0.%d:80", i + 1);
		lb_tg_register(&tg, a, now, NULL);
	}
	make_healthy(&tg, &now);
	/* 5 picks spread one each; 10 more keep the counts within 1 */
	for (int i = 0; i < 15; i++) {
		uint32_t lo = UINT32_MAX, hi = 0;

		held[nh++] = lb_tg_pick(&tg);
		for (size_t k = 0; k < tg.n; k++) {
			lo = tg.t[k].outstanding < lo ? tg.t[k].outstanding : lo;
			hi = tg.t[k].outstanding > hi ? tg.t[k].outstanding : hi;
		}
		assert_true(hi - lo <= 1);
	}
	for (size_t k = 0; k < tg.n; k++)
		assert_int_equal(tg.t[k].outstanding, 3);
	/* target 2 finishes all its requests: the next 3 picks go to it */
	for (int i = 0; i < nh; i++)
		if (held[i] == 2) {
			lb_tg_release(&tg, 2);
			held[i] = -1;
		}
	assert_int_equal(tg.t[2].outstanding, 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(lb_tg_pick(&tg), 2);
	/* a slow target keeps its requests; the others take the new ones */
	for (int i = 0; i < nh; i++)
		if (held[i] >= 0 && held[i] != 0)
			lb_tg_release(&tg, (size_t)held[i]);
	for (int i = 0; i < 3; i++)
		lb_tg_release(&tg, 2);
	for (int i = 0; i < 8; i++)
		assert_int_not_equal(lb_tg_pick(&tg), 0);
	lb_tg_destroy(&tg);
}

static void weighted(void **state)
{
	const uint32_t w[3] = { 90, 10, 0 };
	const uint32_t zero[2] = { 0, 0 };
	int count[3] = { 0 };
	uint64_t x = 0x9e3779b97f4a7c15ULL;

	for (int i = 0; i < 100000; i++) {
		/* xorshift64 */
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		count[lb_weighted_pick(w, 3, x)]++;
	}
	assert_int_equal(count[2], 0);
	assert_true(count[0] > 89000 && count[0] < 91000);
	assert_true(count[1] > 9000 && count[1] < 11000);
	assert_int_equal(lb_weighted_pick(zero, 2, 12345), -1);
	assert_int_equal(lb_weighted_pick(w, 3, 0), 0);
	assert_int_equal(lb_weighted_pick(w, 3, UINT64_MAX), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(defaults_and_matcher),
		cmocka_unit_test(registration),
		cmocka_unit_test(health_state_machine),
		cmocka_unit_test(health_timeouts),
		cmocka_unit_test(health_tcp),
		cmocka_unit_test(draining),
		cmocka_unit_test(drains_without_health_checks),
		cmocka_unit_test(set_health),
		cmocka_unit_test(round_robin_and_fail_open),
		cmocka_unit_test(least_outstanding),
		cmocka_unit_test(weighted),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
