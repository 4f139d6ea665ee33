/* fuzz_cql: the cluster query language (scheduler/cql.c).
 *
 * Input: an expression (bytes up to the first NUL).
 * Invariants: no crash, leak or sanitizer report; a refusal has a message
 * that names a position inside the text plus one ("at N: ..."), or is one of
 * the whole-expression errors; an accepted expression evaluates the same
 * twice on every instance of a small fixed cluster, and "not (E)" compiles
 * (within the length and depth limits) and is its exact negation. */
#include "common/error.h"
#include "scheduler/cql.h"
#include "scheduler/model.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
	if (!ok)
		abort();
}

static struct sched_cluster *cluster(void)
{
	static struct sched_cluster *cl;
	static const char *const names[] = { "ecs.availability-zone", "ecs.instance-type", "stack", "n", "flag" };
	static const char *const v0[] = { "us-east-1a", "t2.small", "prod", "4", NULL };
	static const char *const v1[] = { "us-east-1b", "m5.large", "dev", "16", "x" };

	if (cl)
		return cl;
	cl = sched_cluster_new(1);
	struct sched_instance_spec a = { .id = "a", .ec2_id = "i-a", .agent_version = "1.14.5", .registered_at = 1500000000,
	                                 .cpu = 1024, .memory = 1024, .attr_names = names, .attr_values = v0, .nattrs = 5 };
	struct sched_instance_spec b = { .id = "b", .ec2_id = "i-b", .cpu = 1024, .memory = 1024, .attr_names = names,
	                                 .attr_values = v1, .nattrs = 4, .agent_disconnected = true };
	struct sched_instance_spec c = { .id = "c", .cpu = 1024, .memory = 1024 };
	struct sched_task_spec t = { .id = "t", .group = "service:web", .cpu = 1, .memory = 1 };

	check(sched_cluster_add_instance(cl, &a, NULL, NULL) == 0);
	check(sched_cluster_add_instance(cl, &b, NULL, NULL) == 0);
	check(sched_cluster_add_instance(cl, &c, NULL, NULL) == 0);
	check(sched_cluster_add_task(cl, 0, &t, NULL) == 0);
	return cl;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sched_cluster *cl = cluster();
	char *expr = strndup((const char *)data, size);
	struct sched_cql *q = NULL, *nq = NULL;
	struct berr *err = NULL;
	size_t len = strlen(expr);

	if (sched_cql_compile(expr, &q, &err) < 0) {
		const char *m = berr_msg(err);
		unsigned long at;

		check(q == NULL && err && m[0]);
		if (strncmp(m, "at ", 3) == 0) {
			at = strtoul(m + 3, NULL, 10);
			check(at >= 1 && at <= len + 1);
		} else {
			check(strncmp(m, "empty expression", 16) == 0 || strncmp(m, "expression is ", 14) == 0);
		}
		berr_free(err);
		free(expr);
		return 0;
	}
	check(strcmp(sched_cql_text(q), expr) == 0);
	if (len + 6 <= SCHED_CQL_MAX_LEN) {
		char *neg = malloc(len + 8);

		snprintf(neg, len + 8, "not (%s)", expr);
		if (sched_cql_compile(neg, &nq, &err) < 0) {
			/* only the depth limit may refuse the wrapped form */
			check(strstr(berr_msg(err), "nested deeper than") != NULL);
			berr_clear(&err);
		}
		free(neg);
	}
	for (uint32_t i = 0; i < sched_cluster_ninstances(cl); i++) {
		bool r = sched_cql_eval(q, cl, i);

		check(sched_cql_eval(q, cl, i) == r);
		if (nq)
			check(sched_cql_eval(nq, cl, i) == !r);
	}
	sched_cql_free(q);
	sched_cql_free(nq);
	free(expr);
	return 0;
}
