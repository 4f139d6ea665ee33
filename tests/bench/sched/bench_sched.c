/* berth-bench-sched: placement throughput of the scheduler on a simulated
 * cluster. Driven by tests/bench/sched/run.sh.
 *
 *   berth-bench-sched spread [-i INSTANCES] [-n PLACEMENTS] [-b BATCH] [-s SEED] [--scan]
 *   berth-bench-sched c1m    [-i INSTANCES] [-n TASKS] [-b BATCH] [-s SEED]
 *
 * spread: INSTANCES (default 10,000) instances in 6 zones of 5 types (x86_64
 * and arm64), PLACEMENTS (default 100,000) tasks of 10 services in RunTask
 * batches of BATCH (default 10), with spread(attribute:ecs.availability-zone),
 * binpack(memory) and memberOf(x86_64 m5/c5/r5 instances).
 * c1m: 1,000,000 small tasks on 5,000 instances, same strategies, a memberOf
 * every instance satisfies.
 * --scan: the reference scan instead of the indexes (slow; use a small -n).
 * --az-spread: spread(zone) then spread(instanceId) (ECS's "AZ balanced
 * spread"), a chain the indexes do not answer: every placement scans.
 *
 * Prints one line of key=value: placements, seconds (wall), cpu_seconds,
 * per_s (placements per wall second), failed, zone_skew (max-min tasks per
 * zone of one service, 0 or 1 when the spread held). */
#include "scheduler/model.h"
#include "scheduler/place.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double clock_s(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct itype {
	const char *name, *arch;
	int32_t cpu, mem;
};

static const struct itype types_spread[] = {
	{ "t3.large", "x86_64", 2048, 8192 },
	{ "m5.xlarge", "x86_64", 4096, 16384 },
	{ "c5.2xlarge", "x86_64", 8192, 16384 },
	{ "r5.xlarge", "x86_64", 4096, 32768 },
	{ "m6g.xlarge", "arm64", 4096, 16384 },
};

static const struct itype types_c1m[] = {
	{ "m5.xlarge", "x86_64", 4096, 16384 },
	{ "c5.2xlarge", "x86_64", 8192, 16384 },
	{ "r5.xlarge", "x86_64", 4096, 32768 },
};

static const char *const zones[] = { "us-east-1a", "us-east-1b", "us-east-1c",
                                     "us-east-1d", "us-east-1e", "us-east-1f" };

static uint64_t rng = 88172645463325252ull;
static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng % n);
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	bool c1m = strcmp(mode, "c1m") == 0, scan = false, az_spread = false;
	uint32_t ninst = c1m ? 5000 : 10000, ntasks = c1m ? 1000000 : 100000, batch = 10;
	uint64_t seed = 1;
	const struct itype *types = c1m ? types_c1m : types_spread;
	uint32_t ntypes = c1m ? 3 : 5;
	struct sched_cluster *cl;
	struct sched_plan *plan;
	struct berr *err = NULL;

	if (!c1m && strcmp(mode, "spread") != 0) {
		fprintf(stderr, "usage: %s spread|c1m [-i N] [-n N] [-b N] [-s SEED] [--scan] [--az-spread]\n", argv[0]);
		return 2;
	}
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--scan") == 0)
			scan = true;
		else if (strcmp(argv[i], "--az-spread") == 0)
			az_spread = true;
		else if (i + 1 < argc && strcmp(argv[i], "-i") == 0)
			ninst = (uint32_t)strtoul(argv[++i], NULL, 10);
		else if (i + 1 < argc && strcmp(argv[i], "-n") == 0)
			ntasks = (uint32_t)strtoul(argv[++i], NULL, 10);
		else if (i + 1 < argc && strcmp(argv[i], "-b") == 0)
			batch = (uint32_t)strtoul(argv[++i], NULL, 10);
		else if (i + 1 < argc && strcmp(argv[i], "-s") == 0)
			seed = strtoull(argv[++i], NULL, 10);
		else {
			fprintf(stderr, "%s: unknown argument %s\n", argv[0], argv[i]);
			return 2;
		}
	}
	if (batch == 0)
		batch = 1;
	rng ^= seed * 0x9e3779b97f4a7c15ull;

	cl = sched_cluster_new(seed);
	for (uint32_t i = 0; i < ninst; i++) {
		const struct itype *t = &types[rnd(ntypes)];
		char id[128], ec2[32], ami[32];
		const char *names[] = { "ecs.availability-zone", "ecs.instance-type", "ecs.os-type",
		                        "ecs.cpu-architecture", "ecs.ami-id", "stack" };
		const char *values[] = { zones[rnd(6)], t->name, "linux", t->arch, ami, rnd(4) ? "prod" : "staging" };
		struct sched_instance_spec s = {
			.id = id, .ec2_id = ec2, .agent_version = "1.70.0", .registered_at = 1700000000 + i,
			.cpu = t->cpu, .memory = t->mem, .attr_names = names, .attr_values = values, .nattrs = 6,
			.reserved_tcp = sched_ecs_reserved_ports, .nreserved_tcp = 5,
		};

		snprintf(id, sizeof(id), "arn:aws:ecs:us-east-1:000000000000:container-instance/bench/%08x", i);
		snprintf(ec2, sizeof(ec2), "i-%017x", i);
		snprintf(ami, sizeof(ami), "ami-%08x", rnd(3));
		if (sched_cluster_add_instance(cl, &s, NULL, &err) < 0) {
			fprintf(stderr, "%s\n", berr_msg(err));
			return 1;
		}
	}

	struct sched_strategy strategies[] = {
		{ "spread", "attribute:ecs.availability-zone" },
		{ "binpack", "memory" },
	};
	if (az_spread)
		strategies[1] = (struct sched_strategy){ "spread", "instanceId" };
	struct sched_constraint constraints[] = {
		{ "memberOf", c1m ? "attribute:ecs.os-type == linux"
		                  : "attribute:ecs.cpu-architecture == x86_64 and "
		                    "attribute:ecs.instance-type =~ '(m5|c5|r5)\\..*'" },
	};
	if (sched_plan_compile(constraints, 1, strategies, 2, &plan, &err) < 0) {
		fprintf(stderr, "%s\n", berr_msg(err));
		return 1;
	}
	sched_plan_set_scan(plan, scan);

	int32_t cpu = c1m ? 16 : 128, mem = c1m ? 64 : 512;
	uint32_t placed = 0, failed = 0;
	double w0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);

	for (uint32_t done = 0, b = 0; done < ntasks; b++) {
		char group[32];
		uint32_t n = ntasks - done < batch ? ntasks - done : batch;
		struct sched_result res;

		snprintf(group, sizeof(group), "service:svc-%u", b % 10);
		struct sched_request req = { .cpu = cpu, .memory = mem, .group = group, .family_rev = group + 8 };
		if (sched_place(cl, plan, &req, NULL, n, &res, &err) < 0) {
			fprintf(stderr, "%s\n", berr_msg(err));
			return 1;
		}
		placed += res.placed;
		if (res.failed) {
			failed += n - res.placed;
			if (failed == n - res.placed)
				fprintf(stderr, "first failure: %s\n", res.failure.message);
		}
		sched_result_free(&res);
		done += n;
	}
	double wall = clock_s(CLOCK_MONOTONIC) - w0, cpu_s = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;

	/* did the spread hold? tasks of service 0 per zone */
	uint32_t per[6] = { 0 }, zone_name = sched_cluster_lookup(cl, "ecs.availability-zone");
	uint32_t g0 = sched_cluster_lookup(cl, "service:svc-0");
	for (uint32_t i = 0; i < ninst; i++) {
		const struct sched_instance *in = sched_cluster_instance(cl, i);
		uint32_t v;

		if (g0 != SCHED_NONE && sched_instance_attr(in, zone_name, &v))
			for (int z = 0; z < 6; z++)
				if (strcmp(sched_cluster_str(cl, v), zones[z]) == 0)
					per[z] += sched_instance_group_count(in, g0);
	}
	uint32_t lo = UINT32_MAX, hi = 0;
	for (int z = 0; z < 6; z++) {
		lo = per[z] < lo ? per[z] : lo;
		hi = per[z] > hi ? per[z] : hi;
	}
	printf("mode=%s path=%s instances=%u placements=%u failed=%u seconds=%.3f cpu_seconds=%.3f per_s=%.0f "
	       "zone_skew=%u\n", mode, sched_plan_indexed(plan) ? "indexed" : "scan", ninst, placed, failed, wall,
	       cpu_s, placed / wall, hi - lo);
	sched_plan_free(plan);
	sched_cluster_free(cl);
	return 0;
}
