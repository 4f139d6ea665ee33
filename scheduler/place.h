/* scheduler/place.h - task placement as ECS does it.
 *
 *   1. filter: ACTIVE instances with a connected agent and enough cpu,
 *      memory and free static host ports;
 *   2. constraints (binding): distinctInstance, memberOf(expression);
 *   3. strategies in order (best effort): each keeps the candidates that are
 *      best by it, the next one breaks the ties: binpack(cpu|memory) the
 *      least remaining, spread(instanceId|host|attribute:NAME) the fewest
 *      tasks of the task's group on the instance / on its attribute value,
 *      random; no strategy means random;
 *   4. remaining ties: a per-instance rank derived from the cluster's seed.
 *
 * That is a lexicographic minimum over (strategy keys..., rank, index), so
 * for a given seed and call sequence the result is fixed. Common chains
 * (spread(attribute:X) and/or binpack) are answered from the cluster's
 * sorted per-value indexes without looking at every instance; other chains
 * make one pass over the candidates an index holds; the reference
 * (sched_plan_set_scan) checks every instance with no index. All three
 * give the same answer. */
#ifndef BERTH_SCHEDULER_PLACE_H
#define BERTH_SCHEDULER_PLACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "scheduler/model.h"

/* ECS limits: 5 strategies; 10 constraints (task definition's included) */
#define SCHED_MAX_STRATEGIES 5
#define SCHED_MAX_CONSTRAINTS 10

/* As in the ECS API: type "binpack" (field "cpu" or "memory"), "spread"
 * (field "instanceId", "host" or "attribute:NAME"), "random" (no field). */
struct sched_strategy {
	const char *type;
	const char *field;
};

/* type "distinctInstance" (no expression) or "memberOf" (expression) */
struct sched_constraint {
	const char *type;
	const char *expression;
};

struct sched_plan;

int sched_plan_compile(const struct sched_constraint *constraints, size_t nconstraints,
                       const struct sched_strategy *strategies, size_t nstrategies,
                       struct sched_plan **out, struct berr **err);
void sched_plan_free(struct sched_plan *plan);
/* Always scan every instance (the reference the indexed path is tested
 * against; also for benchmarks). */
void sched_plan_set_scan(struct sched_plan *plan, bool scan);
/* true when placements with this plan use the indexes */
bool sched_plan_indexed(const struct sched_plan *plan);

/* ECS RunTask failures[].reason values, in the order the filter checks them */
enum sched_reason {
	SCHED_R_MISSING,     /* "MISSING": the cluster has no container instances */
	SCHED_R_AGENT,       /* "AGENT": agent disconnected */
	SCHED_R_DRAINING,    /* "DRAINING" (berth): the instance is DRAINING */
	SCHED_R_CPU,         /* "RESOURCE:CPU" */
	SCHED_R_MEMORY,      /* "RESOURCE:MEMORY" */
	SCHED_R_PORTS,       /* "RESOURCE:PORTS" */
	SCHED_R_MEMBER_OF,   /* "MemberOf placement constraint unsatisfied." */
	SCHED_R_DISTINCT,    /* "DistinctInstance placement constraint unsatisfied." */
	SCHED_R_COUNT,
};
const char *sched_reason_str(enum sched_reason r);

/* One task to place (count identical copies in one call). */
struct sched_request {
	int32_t cpu, memory;
	const uint16_t *tcp_ports, *udp_ports;   /* static host ports */
	size_t ntcp, nudp;
	const char *group;        /* task group: "family:web", "service:api"; NULL: "" */
	const char *family_rev;
	const char *started_by;
};

struct sched_failure {
	enum sched_reason reason;          /* of the closest instance */
	uint32_t closest;                  /* instance index, SCHED_NONE when none */
	uint32_t counts[SCHED_R_COUNT];    /* instances by the first check they failed */
	char *message;                     /* for people: counts and what the closest lacked */
};

struct sched_result {
	uint32_t *instance;       /* per task: instance index, or SCHED_NONE */
	uint32_t placed;
	bool failed;              /* then failure says why task [placed] found no instance */
	struct sched_failure failure;
};

/* Place count copies of req, one after the other: each placed task is added
 * to the cluster (sched_cluster_add_task, id task_ids[i], or "sched-<n>"
 * when task_ids is NULL) before the next is placed. Stops at the first task
 * that fits nowhere (the rest would not fit either) and returns 0; < 0 only
 * for invalid arguments. res is to be released with sched_result_free. */
int sched_place(struct sched_cluster *cl, struct sched_plan *plan, const struct sched_request *req,
                const char *const *task_ids, uint32_t count, struct sched_result *res,
                struct berr **err);
void sched_result_free(struct sched_result *res);

#endif
