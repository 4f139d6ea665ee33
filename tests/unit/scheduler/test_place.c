/* tests/unit/scheduler/test_place.c - placement: strategy outcomes,
 * constraints, failure reasons and messages, limits, determinism, and the
 * indexed path against the reference scan on random clusters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/error.h"
#include "scheduler/cql.h"
#include "scheduler/model.h"
#include "scheduler/place.h"

static const char *const zones[] = { "us-east-1a", "us-east-1b", "us-east-1c" };

/* n instances, zone i % nz, type t2.small for even i, m5.large for odd */
static struct sched_cluster *cluster(uint32_t n, uint32_t nz, int32_t cpu, int32_t mem, uint64_t seed)
{
	struct sched_cluster *cl = sched_cluster_new(seed);
	struct berr *err = NULL;

	for (uint32_t i = 0; i < n; i++) {
		char id[32];
		const char *names[] = { "ecs.availability-zone", "ecs.instance-type" };
		const char *values[] = { zones[i % nz], i % 2 ? "m5.large" : "t2.small" };
		struct sched_instance_spec s = {
			.id = id, .cpu = cpu, .memory = mem, .attr_names = names, .attr_values = values, .nattrs = 2,
			.reserved_tcp = sched_ecs_reserved_ports, .nreserved_tcp = 5,
		};

		snprintf(id, sizeof(id), "ci-%u", i);
		assert_int_equal(sched_cluster_add_instance(cl, &s, NULL, &err), 0);
	}
	return cl;
}

static struct sched_plan *plan(const struct sched_constraint *c, size_t nc, const struct sched_strategy *s,
                               size_t ns)
{
	struct sched_plan *p = NULL;
	struct berr *err = NULL;

	if (sched_plan_compile(c, nc, s, ns, &p, &err) < 0)
		fail_msg("plan: %s", berr_msg(err));
	return p;
}

static void place(struct sched_cluster *cl, struct sched_plan *p, const struct sched_request *req, uint32_t n,
                  struct sched_result *res)
{
	struct berr *err = NULL;

	assert_int_equal(sched_place(cl, p, req, NULL, n, res, &err), 0);
}

static void test_binpack_fills_one_first(void **state)
{
	for (int scan = 0; scan < 2; scan++) {
		struct sched_cluster *cl = cluster(3, 1, 4096, 4096, 7);
		struct sched_strategy s[] = { { "binpack", "memory" } };
		struct sched_plan *p = plan(NULL, 0, s, 1);
		struct sched_request req = { .cpu = 256, .memory = 1024, .group = "family:web" };
		struct sched_result res;

		sched_plan_set_scan(p, scan);
		assert_int_equal(sched_plan_indexed(p), !scan);
		place(cl, p, &req, 9, &res);
		assert_int_equal(res.placed, 9);
		assert_false(res.failed);
		/* 4 on one instance, then 4 on a second, then the third */
		for (int t = 1; t < 4; t++)
			assert_int_equal(res.instance[t], res.instance[0]);
		for (int t = 5; t < 8; t++)
			assert_int_equal(res.instance[t], res.instance[4]);
		assert_int_not_equal(res.instance[4], res.instance[0]);
		assert_int_not_equal(res.instance[8], res.instance[0]);
		assert_int_not_equal(res.instance[8], res.instance[4]);
		assert_int_equal(sched_cluster_instance(cl, res.instance[0])->mem_remaining, 0);
		assert_int_equal(sched_cluster_instance(cl, res.instance[8])->mem_remaining, 3072);
		sched_result_free(&res);

		/* binpack prefers the partly used instance even when a task is freed elsewhere */
		struct berr *err = NULL;
		assert_int_equal(sched_cluster_remove_task(cl, "sched-1", &err), 0);
		place(cl, p, &req, 1, &res);
		assert_int_equal(res.placed, 1);
		assert_int_equal(sched_cluster_instance(cl, res.instance[0])->mem_remaining, 0);
		sched_result_free(&res);
		sched_plan_free(p);
		sched_cluster_free(cl);
	}
}

static void test_binpack_cpu(void **state)
{
	struct sched_cluster *cl = cluster(2, 1, 4096, 8192, 3);
	struct sched_strategy s[] = { { "binpack", "cpu" } };
	struct sched_plan *p = plan(NULL, 0, s, 1);
	struct sched_request big = { .cpu = 1024, .memory = 128, .group = "g" };
	struct sched_request small = { .cpu = 512, .memory = 128, .group = "g" };
	struct sched_result res;
	uint32_t first;

	place(cl, p, &big, 1, &res);
	first = res.instance[0];
	sched_result_free(&res);
	/* the next goes where the least cpu remains */
	place(cl, p, &small, 1, &res);
	assert_int_equal(res.instance[0], first);
	assert_int_equal(sched_cluster_instance(cl, first)->cpu_remaining, 4096 - 1536);
	sched_result_free(&res);
	sched_plan_free(p);
	sched_cluster_free(cl);
}

static uint32_t zone_of(struct sched_cluster *cl, uint32_t idx)
{
	uint32_t v, name = sched_cluster_lookup(cl, "ecs.availability-zone");

	assert_true(sched_instance_attr(sched_cluster_instance(cl, idx), name, &v));
	for (uint32_t z = 0; z < 3; z++)
		if (strcmp(sched_cluster_str(cl, v), zones[z]) == 0)
			return z;
	fail();
	return 0;
}

static void test_spread_zones(void **state)
{
	for (int scan = 0; scan < 2; scan++) {
		/* 7 instances: zone a gets 3, b 2, c 2 */
		struct sched_cluster *cl = cluster(7, 3, 8192, 16384, 11);
		struct sched_strategy s[] = { { "spread", "attribute:ecs.availability-zone" } };
		struct sched_plan *p = plan(NULL, 0, s, 1);
		struct sched_request req = { .cpu = 128, .memory = 128, .group = "service:api" };
		struct sched_result res;
		uint32_t per[3] = { 0 };

		sched_plan_set_scan(p, scan);
		place(cl, p, &req, 30, &res);
		assert_int_equal(res.placed, 30);
		for (int t = 0; t < 30; t++) {
			per[zone_of(cl, res.instance[t])]++;
			/* after every third task the zones are level */
			if (t % 3 == 2)
				assert_true(per[0] == per[1] && per[1] == per[2]);
		}
		assert_int_equal(per[0], 10);
		sched_result_free(&res);

		/* another group is spread on its own count */
		struct sched_request other = { .cpu = 128, .memory = 128, .group = "service:other" };
		place(cl, p, &other, 3, &res);
		uint32_t seen[3] = { 0 };
		for (int t = 0; t < 3; t++)
			seen[zone_of(cl, res.instance[t])]++;
		assert_true(seen[0] == 1 && seen[1] == 1 && seen[2] == 1);
		sched_result_free(&res);
		sched_plan_free(p);
		sched_cluster_free(cl);
	}
}

static void test_spread_counts_existing_tasks(void **state)
{
	for (int scan = 0; scan < 2; scan++) {
		/* zones: a = instances 0, 3; b = 1, 4; c = 2, 5 */
		struct sched_cluster *cl = cluster(6, 3, 8192, 16384, 5);
		struct sched_strategy s[] = { { "spread", "attribute:ecs.availability-zone" } };
		struct sched_plan *p = plan(NULL, 0, s, 1);
		struct sched_request req = { .cpu = 128, .memory = 128, .group = "service:api" };
		struct sched_result res;
		struct berr *err = NULL;
		const char *ids[] = { "x0", "x1", "x2", "x3" };
		uint32_t on[] = { 0, 1, 2, 2 };

		sched_plan_set_scan(p, scan);
		/* a: 1 task, b: 1, c: 2 on instance 2, which then drains */
		for (int i = 0; i < 4; i++) {
			struct sched_task_spec t = { .id = ids[i], .group = "service:api", .cpu = 1, .memory = 1 };
			assert_int_equal(sched_cluster_add_task(cl, on[i], &t, &err), 0);
		}
		sched_cluster_set_status(cl, 2, SCHED_DRAINING);
		/* the draining instance's tasks still count for zone c */
		place(cl, p, &req, 2, &res);
		assert_int_not_equal(zone_of(cl, res.instance[0]), 2);
		assert_int_not_equal(zone_of(cl, res.instance[1]), 2);
		assert_int_not_equal(zone_of(cl, res.instance[0]), zone_of(cl, res.instance[1]));
		sched_result_free(&res);
		/* now all zones have 2: a third; then c (on 5) is behind */
		place(cl, p, &req, 1, &res);
		sched_result_free(&res);
		place(cl, p, &req, 2, &res);
		assert_true(res.instance[0] == 5 || res.instance[1] == 5);
		sched_result_free(&res);
		sched_plan_free(p);
		sched_cluster_free(cl);
	}
}

static void test_spread_then_binpack(void **state)
{
	for (int scan = 0; scan < 2; scan++) {
		/* 3 zones x 3 instances, each fits 4 tasks */
		struct sched_cluster *cl = cluster(9, 3, 4096, 4096, 13);
		struct sched_strategy s[] = { { "spread", "attribute:ecs.availability-zone" }, { "binpack", "memory" } };
		struct sched_plan *p = plan(NULL, 0, s, 2);
		struct sched_request req = { .cpu = 64, .memory = 1024, .group = "service:db" };
		struct sched_result res;
		uint32_t per_inst[9] = { 0 }, per_zone[3] = { 0 };

		sched_plan_set_scan(p, scan);
		assert_int_equal(sched_plan_indexed(p), !scan);
		place(cl, p, &req, 12, &res);
		assert_int_equal(res.placed, 12);
		for (int t = 0; t < 12; t++) {
			per_inst[res.instance[t]]++;
			per_zone[zone_of(cl, res.instance[t])]++;
		}
		/* 4 per zone, all on one instance in each zone */
		for (int z = 0; z < 3; z++)
			assert_int_equal(per_zone[z], 4);
		int full = 0, empty = 0;
		for (int i = 0; i < 9; i++) {
			full += per_inst[i] == 4;
			empty += per_inst[i] == 0;
		}
		assert_int_equal(full, 3);
		assert_int_equal(empty, 6);
		sched_result_free(&res);
		sched_plan_free(p);
		sched_cluster_free(cl);
	}
}

static void test_spread_instance(void **state)
{
	struct sched_cluster *cl = cluster(4, 1, 4096, 4096, 1);
	struct sched_strategy s[] = { { "spread", "instanceId" } };
	struct sched_plan *p = plan(NULL, 0, s, 1);
	struct sched_request req = { .cpu = 10, .memory = 10, .group = "g" };
	struct sched_result res;
	uint32_t per[4] = { 0 };

	assert_false(sched_plan_indexed(p));
	place(cl, p, &req, 8, &res);
	for (int t = 0; t < 8; t++)
		per[res.instance[t]]++;
	for (int i = 0; i < 4; i++)
		assert_int_equal(per[i], 2);
	sched_result_free(&res);
	sched_plan_free(p);
	sched_cluster_free(cl);
}

static void test_member_of(void **state)
{
	for (int scan = 0; scan < 2; scan++) {
		struct sched_cluster *cl = cluster(6, 3, 4096, 4096, 2);
		struct sched_strategy s[] = { { "spread", "attribute:ecs.availability-zone" }, { "binpack", "memory" } };
		struct sched_constraint c[] = { { "memberOf", "attribute:ecs.instance-type =~ m5.*" } };
		struct sched_plan *p = plan(c, 1, s, 2);
		struct sched_request req = { .cpu = 64, .memory = 1024, .group = "g" };
		struct sched_result res;

		sched_plan_set_scan(p, scan);
		/* odd instances are m5.large: 3 x 4 tasks fit */
		place(cl, p, &req, 13, &res);
		assert_int_equal(res.placed, 12);
		for (uint32_t t = 0; t < 12; t++)
			assert_int_equal(res.instance[t] % 2, 1);
		assert_true(res.failed);
		/* the t2 instances have room but fail the constraint; the m5s are full */
		assert_int_equal(res.failure.counts[SCHED_R_MEMORY], 3);
		assert_int_equal(res.failure.counts[SCHED_R_MEMBER_OF], 3);
		assert_int_equal(res.failure.reason, SCHED_R_MEMBER_OF);
		assert_int_equal(res.failure.closest % 2, 0);
		assert_string_equal(sched_reason_str(res.failure.reason), "MemberOf placement constraint unsatisfied.");
		assert_non_null(strstr(res.failure.message, "does not match memberOf(attribute:ecs.instance-type =~ m5.*)"));
		sched_result_free(&res);
		sched_plan_free(p);
		sched_cluster_free(cl);
	}
}

static void test_affinity_runningtasks(void **state)
{
	struct sched_cluster *cl = cluster(4, 1, 4096, 4096, 9);
	struct sched_constraint c[] = { { "memberOf", "task:group == database" } };
	struct sched_constraint c2[] = { { "memberOf", "runningTasksCount < 2" } };
	struct sched_strategy s[] = { { "binpack", "memory" } };
	struct sched_plan *p = plan(c, 1, NULL, 0), *p2 = plan(c2, 1, s, 1);
	struct sched_request req = { .cpu = 10, .memory = 10, .group = "web" };
	struct sched_result res;
	struct berr *err = NULL;

	/* nothing runs database yet: unsatisfiable */
	place(cl, p, &req, 1, &res);
	assert_true(res.failed);
	assert_int_equal(res.failure.counts[SCHED_R_MEMBER_OF], 4);
	sched_result_free(&res);
	struct sched_task_spec db = { .id = "db1", .group = "database", .cpu = 1, .memory = 1 };
	assert_int_equal(sched_cluster_add_task(cl, 2, &db, &err), 0);
	place(cl, p, &req, 3, &res);
	assert_int_equal(res.placed, 3);
	for (int t = 0; t < 3; t++)
		assert_int_equal(res.instance[t], 2);
	sched_result_free(&res);
	/* runningTasksCount < 2, binpack: fills each instance to 2 tasks */
	place(cl, p2, &req, 6, &res);
	assert_int_equal(res.placed, 6);
	for (uint32_t i = 0; i < 4; i++)
		assert_int_equal(sched_cluster_instance(cl, i)->running, i == 2 ? 4 : 2);
	sched_result_free(&res);
	sched_plan_free(p);
	sched_plan_free(p2);
	sched_cluster_free(cl);
}

static void test_distinct_instance(void **state)
{
	for (int scan = 0; scan < 2; scan++) {
		struct sched_cluster *cl = cluster(3, 3, 4096, 4096, 4);
		struct sched_constraint c[] = { { "distinctInstance", NULL } };
		struct sched_strategy s[] = { { "binpack", "memory" } };
		struct sched_plan *p = plan(c, 1, s, 1);
		struct sched_request req = { .cpu = 10, .memory = 10, .group = "service:x" };
		struct sched_result res;

		sched_plan_set_scan(p, scan);
		place(cl, p, &req, 5, &res);
		assert_int_equal(res.placed, 3);
		assert_int_not_equal(res.instance[0], res.instance[1]);
		assert_int_not_equal(res.instance[1], res.instance[2]);
		assert_int_not_equal(res.instance[0], res.instance[2]);
		assert_int_equal(res.instance[3], SCHED_NONE);
		assert_true(res.failed);
		assert_int_equal(res.failure.reason, SCHED_R_DISTINCT);
		assert_int_equal(res.failure.counts[SCHED_R_DISTINCT], 3);
		assert_string_equal(sched_reason_str(SCHED_R_DISTINCT), "DistinctInstance placement constraint unsatisfied.");
		assert_non_null(strstr(res.failure.message, "already runs a task of group service:x"));
		sched_result_free(&res);
		/* another group is not affected */
		struct sched_request other = { .cpu = 10, .memory = 10, .group = "service:y" };
		place(cl, p, &other, 3, &res);
		assert_int_equal(res.placed, 3);
		sched_result_free(&res);
		sched_plan_free(p);
		sched_cluster_free(cl);
	}
}

static void test_failure_resources(void **state)
{
	struct sched_cluster *cl = cluster(3, 1, 1024, 2048, 6);
	struct sched_strategy s[] = { { "binpack", "memory" } };
	struct sched_plan *p = plan(NULL, 0, s, 1);
	struct sched_result res;
	struct berr *err = NULL;

	/* memory: instance 1 has the most left */
	struct sched_task_spec a = { .id = "a", .group = "g", .cpu = 0, .memory = 1536 };
	struct sched_task_spec b = { .id = "b", .group = "g", .cpu = 0, .memory = 1024 };
	struct sched_task_spec c = { .id = "c", .group = "g", .cpu = 0, .memory = 1800 };
	assert_int_equal(sched_cluster_add_task(cl, 0, &a, &err), 0);
	assert_int_equal(sched_cluster_add_task(cl, 1, &b, &err), 0);
	assert_int_equal(sched_cluster_add_task(cl, 2, &c, &err), 0);
	struct sched_request mem = { .cpu = 128, .memory = 1500, .group = "g" };
	place(cl, p, &mem, 1, &res);
	assert_true(res.failed);
	assert_int_equal(res.placed, 0);
	assert_int_equal(res.failure.reason, SCHED_R_MEMORY);
	assert_int_equal(res.failure.counts[SCHED_R_MEMORY], 3);
	assert_int_equal(res.failure.closest, 1);
	assert_string_equal(res.failure.message,
	                    "no container instance met all of its requirements (3 instances: 3 RESOURCE:MEMORY); "
	                    "closest matching: ci-1 lacks 476 MiB of memory (1024 remaining, 1500 needed)");
	sched_result_free(&res);

	/* cpu, and cpu before memory */
	struct sched_request cpu = { .cpu = 2048, .memory = 100, .group = "g" };
	place(cl, p, &cpu, 1, &res);
	assert_int_equal(res.failure.reason, SCHED_R_CPU);
	assert_string_equal(sched_reason_str(res.failure.reason), "RESOURCE:CPU");
	sched_result_free(&res);
	struct sched_request both = { .cpu = 2048, .memory = 1900, .group = "g" };
	place(cl, p, &both, 1, &res);
	assert_int_equal(res.failure.counts[SCHED_R_CPU], 3);
	assert_int_equal(res.failure.closest, 1);   /* the smallest shortfall */
	assert_non_null(strstr(res.failure.message, "ci-1 lacks 1024 cpu units (1024 remaining, 2048 needed), "
	                                             "lacks 876 MiB of memory"));
	sched_result_free(&res);

	/* ports: 22 is reserved everywhere; 8080 taken on two of three */
	uint16_t p22 = 22, p8080 = 8080;
	struct sched_request ssh = { .cpu = 1, .memory = 1, .group = "g", .tcp_ports = &p22, .ntcp = 1 };
	place(cl, p, &ssh, 1, &res);
	assert_int_equal(res.failure.reason, SCHED_R_PORTS);
	assert_int_equal(res.failure.counts[SCHED_R_PORTS], 3);
	assert_string_equal(sched_reason_str(SCHED_R_PORTS), "RESOURCE:PORTS");
	assert_non_null(strstr(res.failure.message, "has tcp port 22 in use"));
	sched_result_free(&res);
	struct sched_request web = { .cpu = 1, .memory = 1, .group = "g", .tcp_ports = &p8080, .ntcp = 1 };
	place(cl, p, &web, 4, &res);
	assert_int_equal(res.placed, 3);
	assert_int_equal(res.failure.reason, SCHED_R_PORTS);
	/* binpack: least memory left first (2: 248, 0: 512, 1: 1024) */
	assert_int_equal(res.instance[0], 2);
	assert_int_equal(res.instance[1], 0);
	assert_int_equal(res.instance[2], 1);
	sched_result_free(&res);
	/* the port comes back with its task (ids count placement attempts: 4 failed before) */
	assert_true(sched_ports_has(&sched_cluster_instance(cl, 2)->tcp, 8080));
	assert_int_equal(sched_cluster_remove_task(cl, "sched-5", &err), 0);
	assert_false(sched_ports_has(&sched_cluster_instance(cl, 2)->tcp, 8080));
	place(cl, p, &web, 1, &res);
	assert_int_equal(res.instance[0], 2);
	sched_result_free(&res);
	sched_plan_free(p);
	sched_cluster_free(cl);
}

static void test_failure_agent_draining(void **state)
{
	struct sched_cluster *cl = cluster(3, 1, 1024, 1024, 6);
	struct sched_plan *p = plan(NULL, 0, NULL, 0);
	struct sched_request req = { .cpu = 1, .memory = 1, .group = "g" };
	struct sched_result res;

	sched_cluster_set_agent_connected(cl, 0, false);
	sched_cluster_set_agent_connected(cl, 1, false);
	sched_cluster_set_status(cl, 2, SCHED_DRAINING);
	place(cl, p, &req, 1, &res);
	assert_true(res.failed);
	assert_int_equal(res.failure.counts[SCHED_R_AGENT], 2);
	assert_int_equal(res.failure.counts[SCHED_R_DRAINING], 1);
	assert_string_equal(sched_reason_str(SCHED_R_AGENT), "AGENT");
	sched_result_free(&res);
	/* back: placeable again, and it is the one chosen */
	sched_cluster_set_agent_connected(cl, 1, true);
	place(cl, p, &req, 2, &res);
	assert_int_equal(res.placed, 2);
	assert_int_equal(res.instance[0], 1);
	assert_int_equal(res.instance[1], 1);
	sched_result_free(&res);
	sched_plan_free(p);
	sched_cluster_free(cl);

	/* an empty cluster */
	cl = sched_cluster_new(1);
	p = plan(NULL, 0, NULL, 0);
	place(cl, p, &req, 1, &res);
	assert_true(res.failed);
	assert_int_equal(res.failure.reason, SCHED_R_MISSING);
	assert_string_equal(res.failure.message, "no container instances in the cluster");
	sched_result_free(&res);
	sched_plan_free(p);
	sched_cluster_free(cl);
}

static void test_plan_limits(void **state)
{
	struct sched_plan *p = NULL;
	struct berr *err = NULL;
	struct sched_strategy six[6] = {
		{ "random", NULL }, { "random", NULL }, { "random", NULL },
		{ "random", NULL }, { "random", NULL }, { "random", NULL },
	};
	struct sched_constraint eleven[11];

	assert_int_equal(sched_plan_compile(NULL, 0, six, 5, &p, &err), 0);
	sched_plan_free(p);
	assert_true(sched_plan_compile(NULL, 0, six, 6, &p, &err) < 0);
	assert_string_equal(berr_msg(err), "placementStrategy: 6 strategies, at most 5: Invalid argument");
	berr_clear(&err);
	for (int i = 0; i < 11; i++)
		eleven[i] = (struct sched_constraint){ "memberOf", "attribute:x exists" };
	assert_int_equal(sched_plan_compile(eleven, 10, NULL, 0, &p, &err), 0);
	sched_plan_free(p);
	assert_true(sched_plan_compile(eleven, 11, NULL, 0, &p, &err) < 0);
	assert_string_equal(berr_msg(err), "placementConstraints: 11 constraints, at most 10: Invalid argument");
	berr_clear(&err);

	static const struct {
		struct sched_strategy s;
		struct sched_constraint c;
		const char *msg;
	} bad[] = {
		{ { "binpack", "disk" }, { NULL, NULL },
		  "placementStrategy[0].field: binpack takes cpu or memory, got \"disk\"" },
		{ { "binpack", NULL }, { NULL, NULL }, "placementStrategy[0].field: binpack takes cpu or memory, got \"\"" },
		{ { "spread", "zone" }, { NULL, NULL },
		  "placementStrategy[0].field: spread takes instanceId, host or attribute:NAME, got \"zone\"" },
		{ { "spread", "attribute:" }, { NULL, NULL },
		  "placementStrategy[0].field: spread takes instanceId, host or attribute:NAME, got \"attribute:\"" },
		{ { "random", "memory" }, { NULL, NULL }, "placementStrategy[0]: random takes no field" },
		{ { "pack", NULL }, { NULL, NULL },
		  "placementStrategy[0].type: expected binpack, spread or random, got \"pack\"" },
		{ { "random", NULL }, { "distinctInstance", "x" },
		  "placementConstraints[0]: distinctInstance expression should not be specified" },
		{ { "random", NULL }, { "memberOf", NULL }, "placementConstraints[0]: memberOf needs an expression" },
		{ { "random", NULL }, { "memberof", "attribute:x exists" },
		  "placementConstraints[0].type: expected distinctInstance or memberOf, got \"memberof\"" },
		{ { "random", NULL }, { "memberOf", "attribute:ecs.instance-type t2" },
		  "placementConstraints[0]: memberOf expression: at 29: expected an operator after "
		  "\"attribute:ecs.instance-type\", got \"t2\"" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_true(sched_plan_compile(bad[i].c.type ? &bad[i].c : NULL, bad[i].c.type ? 1 : 0,
		                               &bad[i].s, 1, &p, &err) < 0);
		assert_null(p);
		if (strncmp(berr_msg(err), bad[i].msg, strlen(bad[i].msg)) != 0)
			fail_msg("got %s\nwant %s", berr_msg(err), bad[i].msg);
		berr_clear(&err);
	}
}

/* a log of placements as text, to compare runs */
static char *run_log(uint64_t seed, const char *type, const char *field)
{
	struct sched_cluster *cl = cluster(50, 3, 4096, 8192, seed);
	struct sched_strategy s[] = { { type, field } };
	struct sched_plan *p = plan(NULL, 0, s, 1);
	struct sched_request req = { .cpu = 100, .memory = 300, .group = "g" };
	struct sched_result res;
	char *log = calloc(1, 8192);

	place(cl, p, &req, 200, &res);
	assert_int_equal(res.placed, 200);
	for (int t = 0; t < 200; t++)
		sprintf(log + strlen(log), "%u,", res.instance[t]);
	sched_result_free(&res);
	sched_plan_free(p);
	sched_cluster_free(cl);
	return log;
}

static void test_determinism(void **state)
{
	const char *strategies[][2] = { { "random", NULL }, { "binpack", "memory" },
	                                { "spread", "attribute:ecs.availability-zone" } };

	for (int i = 0; i < 3; i++) {
		char *a = run_log(42, strategies[i][0], strategies[i][1]);
		char *b = run_log(42, strategies[i][0], strategies[i][1]);
		char *c = run_log(43, strategies[i][0], strategies[i][1]);

		assert_string_equal(a, b);
		/* another seed breaks ties (and draws) differently */
		assert_string_not_equal(a, c);
		free(a);
		free(b);
		free(c);
	}
	/* random uses every instance over many placements */
	struct sched_cluster *cl = cluster(10, 1, 100000, 100000, 8);
	struct sched_plan *p = plan(NULL, 0, NULL, 0);
	struct sched_request req = { .cpu = 1, .memory = 1, .group = "g" };
	struct sched_result res;
	uint32_t per[10] = { 0 };
	place(cl, p, &req, 1000, &res);
	for (int t = 0; t < 1000; t++)
		per[res.instance[t]]++;
	for (int i = 0; i < 10; i++)
		assert_true(per[i] > 50 && per[i] < 150);
	sched_result_free(&res);
	sched_plan_free(p);
	sched_cluster_free(cl);
}

/* The indexed path against the reference scan: two identical random clusters,
 * the same random sequence of placements and removals, plans that differ
 * only in sched_plan_set_scan; every decision must be the same. */
static uint64_t rng_state;
static uint32_t rnd(uint32_t n)
{
	rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(rng_state >> 33) % n;
}

static void test_indexed_equals_scan(void **state)
{
	static const char *const types[] = { "t2.small", "m5.large", "c5.xlarge", "g2.2xlarge" };
	static const char *const azs[] = { "a", "b", "c", "d", "e" };
	static const struct sched_strategy shapes[][2] = {
		{ { "binpack", "memory" } },
		{ { "binpack", "cpu" } },
		{ { "spread", "attribute:zone" } },
		{ { "spread", "attribute:zone" }, { "binpack", "memory" } },
		{ { "spread", "attribute:type" }, { "binpack", "cpu" } },
		{ { "spread", "attribute:rack" }, { "binpack", "memory" } },   /* rack: not on every instance */
		/* not indexed: the views' spread counts against counting afresh */
		{ { "random", NULL } },
		{ { "spread", "instanceId" }, { "spread", "attribute:zone" } },
		{ { "binpack", "cpu" }, { "spread", "attribute:zone" } },
		{ { "spread", "attribute:zone" }, { "spread", "attribute:type" } },
	};
	static const size_t nshapes[] = { 1, 1, 1, 2, 2, 2, 1, 2, 2, 2 };
	static const struct sched_constraint cons[][2] = {
		{ { NULL, NULL } },
		{ { "memberOf", "attribute:type in [m5.large, c5.xlarge]" } },
		{ { "distinctInstance", NULL } },
		{ { "memberOf", "runningTasksCount < 6 and not(attribute:zone == e)" }, { "distinctInstance", NULL } },
		{ { "memberOf", "attribute:zone != e" }, { "memberOf", "attribute:rack exists or agentConnected == true" } },
	};
	static const size_t ncons[] = { 0, 1, 1, 2, 2 };
	uint64_t decisions = 0;

	for (int round = 0; round < 100; round++) {
		struct sched_cluster *cl[2];
		struct sched_plan *p[2];
		size_t shape = round % 10, con = (round / 10) % 5;
		uint32_t ninst = 20 + rnd(200);
		struct berr *err = NULL;

		rng_state = 0x1234 + round;
		for (int k = 0; k < 2; k++)
			cl[k] = sched_cluster_new(round);
		for (uint32_t i = 0; i < ninst; i++) {
			char id[16];
			const char *names[] = { "zone", "type", "rack" };
			const char *values[] = { azs[rnd(5)], types[rnd(4)], rnd(2) ? "r1" : "r2" };
			struct sched_instance_spec s = {
				.id = id, .cpu = 1024 * (1 + rnd(8)), .memory = 1024 * (1 + rnd(16)),
				.attr_names = names, .attr_values = values, .nattrs = rnd(5) ? 2 : 3,
				.draining = rnd(20) == 0, .agent_disconnected = rnd(20) == 0,
			};

			snprintf(id, sizeof(id), "i%u", i);
			for (int k = 0; k < 2; k++)
				assert_int_equal(sched_cluster_add_instance(cl[k], &s, NULL, &err), 0);
		}
		for (int k = 0; k < 2; k++) {
			p[k] = plan(ncons[con] ? cons[con] : NULL, ncons[con], shapes[shape], nshapes[shape]);
			sched_plan_set_scan(p[k], k == 1);
		}
		assert_int_equal(sched_plan_indexed(p[0]), shape < 6);
		assert_false(sched_plan_indexed(p[1]));
		for (int step = 0; step < 300; step++) {
			uint32_t what = rnd(10);

			if (what == 0) {   /* remove a random earlier task, if still there */
				char id[32];

				snprintf(id, sizeof(id), "sched-%u", rnd(step + 1) + 1);
				int r0 = sched_cluster_remove_task(cl[0], id, NULL);
				int r1 = sched_cluster_remove_task(cl[1], id, NULL);
				assert_int_equal(r0, r1);
				continue;
			}
			if (what == 1) {   /* flip an instance's state */
				uint32_t i = rnd(ninst);
				bool draining = rnd(2), connected = rnd(4);

				for (int k = 0; k < 2; k++) {
					sched_cluster_set_status(cl[k], i, draining ? SCHED_DRAINING : SCHED_ACTIVE);
					sched_cluster_set_agent_connected(cl[k], i, connected);
				}
				continue;
			}
			if (what == 2) {   /* change an attribute spread or constraints read */
				uint32_t i = rnd(ninst);
				const char *z = azs[rnd(5)];
				bool del_rack = rnd(2);

				for (int k = 0; k < 2; k++) {
					assert_int_equal(sched_cluster_put_attribute(cl[k], i, "zone", z, &err), 0);
					if (del_rack)
						sched_cluster_delete_attribute(cl[k], i, "rack");
					else
						assert_int_equal(sched_cluster_put_attribute(cl[k], i, "rack", "r3", &err), 0);
				}
				continue;
			}
			char group[8];
			snprintf(group, sizeof(group), "g%u", rnd(3));
			struct sched_request req = { .cpu = 128 * (1 + (int32_t)rnd(8)), .memory = 256 * (1 + (int32_t)rnd(8)),
			                             .group = group };
			uint32_t n = 1 + rnd(4);
			struct sched_result res[2];

			for (int k = 0; k < 2; k++)
				assert_int_equal(sched_place(cl[k], p[k], &req, NULL, n, &res[k], &err), 0);
			assert_int_equal(res[0].placed, res[1].placed);
			for (uint32_t t = 0; t < res[0].placed; t++)
				assert_int_equal(res[0].instance[t], res[1].instance[t]);
			assert_int_equal(res[0].failed, res[1].failed);
			if (res[0].failed)
				assert_string_equal(res[0].failure.message, res[1].failure.message);
			decisions += n;
			for (int k = 0; k < 2; k++)
				sched_result_free(&res[k]);
		}
		for (int k = 0; k < 2; k++) {
			sched_plan_free(p[k]);
			sched_cluster_free(cl[k]);
		}
	}
	assert_true(decisions > 20000);
}

/* more plans than the cluster keeps views for: views are evicted and
 * rebuilt, decisions stay those of the reference */
static void test_many_plans(void **state)
{
	struct sched_cluster *cl[2] = { cluster(40, 3, 4096, 8192, 21), cluster(40, 3, 4096, 8192, 21) };
	struct sched_plan *p[2][24];
	struct sched_strategy s[] = { { "spread", "attribute:ecs.availability-zone" }, { "binpack", "memory" } };
	struct berr *err = NULL;

	for (int i = 0; i < 24; i++) {
		char expr[96];
		struct sched_constraint c[] = { { "memberOf", expr } };

		snprintf(expr, sizeof(expr), "attribute:ecs.instance-type != t2.small or attribute:n%d !exists", i);
		for (int k = 0; k < 2; k++) {
			p[k][i] = plan(c, 1, s, 2);
			sched_plan_set_scan(p[k][i], k == 1);
		}
	}
	for (int step = 0; step < 400; step++) {
		int i = (step * 7) % 24;
		struct sched_request req = { .cpu = 10, .memory = 64 + 32 * (step % 5), .group = step % 2 ? "a" : "b" };
		struct sched_result res[2];

		if (step % 50 == 0)   /* an attribute some filters read */
			for (int k = 0; k < 2; k++)
				assert_int_equal(sched_cluster_put_attribute(cl[k], (uint32_t)step % 40, "n3", "x", &err), 0);
		for (int k = 0; k < 2; k++)
			assert_int_equal(sched_place(cl[k], p[k][i], &req, NULL, 2, &res[k], &err), 0);
		assert_int_equal(res[0].placed, res[1].placed);
		for (uint32_t t = 0; t < res[0].placed; t++)
			assert_int_equal(res[0].instance[t], res[1].instance[t]);
		for (int k = 0; k < 2; k++)
			sched_result_free(&res[k]);
	}
	for (int i = 0; i < 24; i++)
		for (int k = 0; k < 2; k++)
			sched_plan_free(p[k][i]);
	for (int k = 0; k < 2; k++)
		sched_cluster_free(cl[k]);
}

static void test_model(void **state)
{
	struct sched_cluster *cl = sched_cluster_new(0);
	struct berr *err = NULL;
	const char *bad_names[] = { "bad name" };
	const char *vals[] = { "x" };
	struct sched_instance_spec s = { .id = "a", .ec2_id = "i-1", .cpu = 10, .memory = 10 };
	uint32_t idx;

	assert_int_equal(sched_cluster_add_instance(cl, &s, &idx, &err), 0);
	assert_true(sched_cluster_add_instance(cl, &s, &idx, &err) < 0);
	assert_string_equal(berr_msg(err), "container instance a: already registered: File exists");
	berr_clear(&err);
	s.id = "b";
	assert_true(sched_cluster_add_instance(cl, &s, &idx, &err) < 0);
	assert_string_equal(berr_msg(err), "container instance b: ec2InstanceId i-1 already registered: File exists");
	berr_clear(&err);
	s.ec2_id = NULL;
	s.attr_names = bad_names;
	s.attr_values = vals;
	s.nattrs = 1;
	assert_true(sched_cluster_add_instance(cl, &s, &idx, &err) < 0);
	assert_string_equal(berr_msg(err), "container instance b: attribute name \"bad name\" is not valid: Invalid argument");
	berr_clear(&err);
	assert_int_equal(sched_cluster_find_instance(cl, "a"), 0);
	assert_int_equal(sched_cluster_find_instance(cl, "i-1"), 0);
	assert_int_equal(sched_cluster_find_instance(cl, "b"), SCHED_NONE);
	assert_true(sched_cluster_put_attribute(cl, 0, "k", " v", &err) < 0);
	berr_clear(&err);

	/* tasks take and give back resources, group counts follow */
	uint16_t port = 80;
	struct sched_task_spec t = { .id = "t", .group = "g", .cpu = 4, .memory = 6, .tcp_ports = &port, .ntcp = 1 };
	assert_int_equal(sched_cluster_add_task(cl, 0, &t, &err), 0);
	assert_true(sched_cluster_add_task(cl, 0, &t, &err) < 0);
	berr_clear(&err);
	const struct sched_instance *in = sched_cluster_instance(cl, 0);
	uint32_t g = sched_cluster_lookup(cl, "g");
	assert_int_equal(in->cpu_remaining, 6);
	assert_int_equal(in->mem_remaining, 4);
	assert_int_equal(in->running, 1);
	assert_true(sched_ports_has(&in->tcp, 80));
	assert_int_equal(sched_instance_group_count(in, g), 1);
	assert_non_null(sched_cluster_find_task(cl, "t"));
	assert_int_equal(sched_cluster_ntasks(cl), 1);
	assert_int_equal(sched_cluster_remove_task(cl, "t", &err), 0);
	assert_int_equal(in->cpu_remaining, 10);
	assert_int_equal(in->mem_remaining, 10);
	assert_int_equal(in->running, 0);
	assert_false(sched_ports_has(&in->tcp, 80));
	assert_int_equal(sched_instance_group_count(in, g), 0);
	assert_null(sched_cluster_find_task(cl, "t"));
	assert_int_equal(sched_cluster_remove_task(cl, "t", &err), -2);
	berr_clear(&err);
	sched_cluster_free(cl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_binpack_fills_one_first),
		cmocka_unit_test(test_binpack_cpu),
		cmocka_unit_test(test_spread_zones),
		cmocka_unit_test(test_spread_counts_existing_tasks),
		cmocka_unit_test(test_spread_then_binpack),
		cmocka_unit_test(test_spread_instance),
		cmocka_unit_test(test_member_of),
		cmocka_unit_test(test_affinity_runningtasks),
		cmocka_unit_test(test_distinct_instance),
		cmocka_unit_test(test_failure_resources),
		cmocka_unit_test(test_failure_agent_draining),
		cmocka_unit_test(test_plan_limits),
		cmocka_unit_test(test_determinism),
		cmocka_unit_test(test_indexed_equals_scan),
		cmocka_unit_test(test_many_plans),
		cmocka_unit_test(test_model),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
