/* scheduler/service.h - the ECS service controller as a pure state machine.
 *
 * No I/O and no clock: each call to sched_svc_step() takes the service's
 * tasks as observed and `now`, and returns what to do (start tasks, stop
 * tasks); the controller keeps deployments[], events[] and the little memory
 * the rules need (which tasks already counted as failures, which were ever
 * healthy, when an event was last said). docs/scheduler.md ("Services") has
 * the rules and where each event text comes from.
 *
 * Contract with the caller (berthd, or the tests' simulated executor):
 *   - every task the service owns is passed to each step until it is STOPPED
 *     and has been passed once as STOPPED (stopped tasks may be dropped after);
 *   - the actions of a step are carried out before the next step: started
 *     tasks appear as PROVISIONING (desiredStatus RUNNING, startedBy the
 *     deployment id), stopped ones with desiredStatus STOPPED;
 *   - with a cluster (EC2), the controller places the tasks it starts and
 *     sched_place() records them in the cluster; the caller removes a task
 *     from the cluster (sched_cluster_remove_task) once it is STOPPED. Without
 *     a cluster (FARGATE) tasks are started with no instance.
 *
 * REPLICA and DAEMON scheduling, rolling deployments (minimumHealthyPercent,
 * maximumPercent), the deployment circuit breaker with rollback, the health
 * check grace period, container and load balancer health. */
#ifndef BERTH_SCHEDULER_SERVICE_H
#define BERTH_SCHEDULER_SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "scheduler/model.h"
#include "scheduler/place.h"

/* ECS keeps the 100 most recent service events */
#define SCHED_SVC_MAX_EVENTS 100
/* a repeated event (same text) is not said again within 6 hours, and
 * "has reached a steady state." is said again every 6 hours */
#define SCHED_SVC_REPEAT_SECONDS (6 * 3600)
/* ECS: a task with no container health check (and no load balancer) counts
 * towards minimumHealthyPercent 40 seconds after it reached RUNNING */
#define SCHED_SVC_SETTLE_SECONDS 40
/* deployment ids: "ecs-svc/" and 19 digits */
#define SCHED_SVC_DEPLOYMENT_ID_MAX 28

enum sched_svc_scheduling {
	SCHED_SVC_REPLICA,
	SCHED_SVC_DAEMON,
};

enum sched_svc_last_status {
	SCHED_SVC_PROVISIONING,
	SCHED_SVC_PENDING,
	SCHED_SVC_ACTIVATING,
	SCHED_SVC_RUNNING,
	SCHED_SVC_DEACTIVATING,
	SCHED_SVC_STOPPING,
	SCHED_SVC_DEPROVISIONING,
	SCHED_SVC_STOPPED,
};

enum sched_svc_health {
	SCHED_SVC_HEALTH_UNKNOWN,
	SCHED_SVC_HEALTH_HEALTHY,
	SCHED_SVC_HEALTH_UNHEALTHY,
};

/* health of the task's load balancer target */
enum sched_svc_lb {
	SCHED_SVC_LB_NONE,        /* not registered in a target group */
	SCHED_SVC_LB_INITIAL,     /* registered, no verdict yet */
	SCHED_SVC_LB_HEALTHY,
	SCHED_SVC_LB_UNHEALTHY,
};

enum sched_svc_stop_code {
	SCHED_SVC_STOP_NONE,
	SCHED_SVC_STOP_TASK_FAILED_TO_START,
	SCHED_SVC_STOP_ESSENTIAL_CONTAINER_EXITED,
	SCHED_SVC_STOP_USER_INITIATED,
	SCHED_SVC_STOP_SERVICE_SCHEDULER_INITIATED,
};

/* A task of the service as observed. */
struct sched_svc_task {
	const char *id;                   /* task id (ECS: 32 hex digits) */
	const char *deployment;           /* startedBy: "ecs-svc/..." */
	enum sched_svc_last_status last_status;
	bool desired_stopped;             /* desiredStatus STOPPED */
	enum sched_svc_health health;     /* task health: of its essential containers */
	bool has_health_check;            /* an essential container has a health check */
	enum sched_svc_lb lb;
	const char *lb_target_group;      /* target group ARN, for the messages */
	int32_t lb_port;
	const char *lb_reason;            /* "Health checks failed", ... */
	int64_t started_at;               /* reached RUNNING; 0: never */
	int64_t stopped_at;
	enum sched_svc_stop_code stop_code;
	int32_t exit_code;
};

/* What a service is (CreateService / UpdateService). Strings and arrays are
 * copied. */
struct sched_svc_spec {
	const char *name;                 /* "web" */
	const char *arn;
	enum sched_svc_scheduling scheduling;
	int32_t desired_count;            /* REPLICA; DAEMON derives it */
	int32_t min_healthy_percent;      /* < 0: default (REPLICA 100, DAEMON 0) */
	int32_t max_percent;              /* < 0: default (REPLICA 200, DAEMON 100) */
	bool circuit_breaker, rollback;   /* deploymentCircuitBreaker {enable, rollback} */
	int64_t grace_period;             /* healthCheckGracePeriodSeconds */
	const char *task_definition;      /* ARN or family:revision of the primary */
	/* what a task of task_definition needs; group and started_by are set by
	 * the controller ("service:<name>", the deployment id) */
	int32_t cpu, memory;
	const uint16_t *tcp_ports, *udp_ports;
	size_t ntcp, nudp;
	/* placement (EC2): constraints and strategies as in the ECS API (the task
	 * definition's constraints included); no strategy: REPLICA uses
	 * spread(attribute:ecs.availability-zone). DAEMON takes memberOf
	 * constraints only. */
	const struct sched_constraint *constraints;
	size_t nconstraints;
	const struct sched_strategy *strategies;
	size_t nstrategies;
};

enum sched_svc_dstatus {
	SCHED_SVC_PRIMARY,
	SCHED_SVC_ACTIVE,
	SCHED_SVC_INACTIVE,
};

enum sched_svc_rollout {
	SCHED_SVC_IN_PROGRESS,
	SCHED_SVC_COMPLETED,
	SCHED_SVC_FAILED,
};

struct sched_svc_deployment {
	char id[SCHED_SVC_DEPLOYMENT_ID_MAX];   /* "ecs-svc/1234567890123456789" */
	enum sched_svc_dstatus status;
	char *task_definition;
	int32_t desired_count, pending_count, running_count, failed_tasks;
	enum sched_svc_rollout rollout;
	char *rollout_reason;
	int64_t created_at, updated_at;
	/* the task's needs (copied from the spec when the deployment was made) */
	int32_t cpu, memory;
	uint16_t *tcp_ports, *udp_ports;
	size_t ntcp, nudp;
};

struct sched_svc_event {
	char id[40];                      /* 8-4-4-4-12 hex */
	int64_t created_at;
	char *message;
};

struct sched_svc_start {
	char *task_id;
	char *deployment;                 /* its startedBy */
	char *task_definition;
	uint32_t instance;                /* cluster index; SCHED_NONE without a cluster */
};

struct sched_svc_stop {
	char *task_id;
	char *reason;                     /* stoppedReason; stopCode ServiceSchedulerInitiated */
};

struct sched_svc_actions {
	struct sched_svc_start *start;
	size_t nstart;
	struct sched_svc_stop *stop;
	size_t nstop;
	size_t first_event;               /* events [first_event, n) are this step's */
	bool steady;                      /* the service is in a steady state */
	int32_t desired_count, running_count, pending_count;   /* the service's */
};

struct sched_svc;

/* Task ids for the tasks the controller starts: a new string each call
 * (xmalloc'd, the controller frees it). Without one, ids are 32 hex digits
 * derived from the ARN and a counter (deterministic, for tests). */
typedef char *(*sched_svc_id_fn)(void *ctx);

/* A service and its first deployment (created at now, IN_PROGRESS). */
int sched_svc_new(const struct sched_svc_spec *spec, int64_t now, struct sched_svc **out,
                  struct berr **err);
void sched_svc_free(struct sched_svc *svc);
void sched_svc_set_id_fn(struct sched_svc *svc, sched_svc_id_fn fn, void *ctx);

/* UpdateService: a new task definition, or force, starts a new PRIMARY
 * deployment (the previous one becomes ACTIVE); desiredCount, the deployment
 * configuration, grace period and placement change in place. The spec is
 * validated first; on error nothing changes. */
int sched_svc_update(struct sched_svc *svc, const struct sched_svc_spec *spec, bool force_new_deployment,
                     int64_t now, struct berr **err);

/* One round: tasks as observed, the cluster (NULL: FARGATE, no placement).
 * out is to be released with sched_svc_actions_free. */
int sched_svc_step(struct sched_svc *svc, const struct sched_svc_task *tasks, size_t ntasks,
                   struct sched_cluster *cl, int64_t now, struct sched_svc_actions *out,
                   struct berr **err);
void sched_svc_actions_free(struct sched_svc_actions *a);

/* deployments[]: PRIMARY first, then ACTIVE ones newest first (as
 * DescribeServices shows them); INACTIVE ones are dropped */
const struct sched_svc_deployment *sched_svc_deployments(const struct sched_svc *svc, size_t *n);
/* events, oldest first (DescribeServices lists them newest first) */
const struct sched_svc_event *sched_svc_events(const struct sched_svc *svc, size_t *n);
/* the service's task definition: the spec's, or after a circuit breaker
 * rollback the one rolled back to (DescribeServices taskDefinition) */
const char *sched_svc_task_definition(const struct sched_svc *svc);
int32_t sched_svc_min_healthy(const struct sched_svc *svc);   /* percent, after defaults */
int32_t sched_svc_max_percent(const struct sched_svc *svc);
/* ECS's circuit breaker threshold for a desired count:
 * min(max(3, ceil(0.5 * desired)), 200) */
int32_t sched_svc_cb_threshold(int32_t desired);

/* What a service must keep across a restart of its driver (berthd), besides
 * its spec: deployments[] (PRIMARY first), events (oldest first), the last
 * COMPLETED deployment (what a circuit breaker rolls back to; id "" when
 * none), the id sequence and the steady-state memory. sched_svc_state
 * borrows from svc (valid until the next call that changes it). */
struct sched_svc_state {
	const struct sched_svc_deployment *deployments;
	size_t ndeployments;
	const struct sched_svc_event *events;
	size_t nevents;
	struct sched_svc_deployment completed;   /* id[0] == 0: none */
	uint64_t seq;
	bool steady;
	int64_t steady_said;
};
void sched_svc_state(const struct sched_svc *svc, struct sched_svc_state *out);
/* A service as saved: the spec as last given (CreateService or
 * UpdateService) and its state. The PRIMARY deployment's task definition
 * and needs become the service's (after a rollback they differ from the
 * spec's). Checked: at least one deployment, the first PRIMARY and no other,
 * ids of the "ecs-svc/" form, at most SCHED_SVC_MAX_EVENTS events. Task
 * records start empty: tasks that stopped before the restore are not
 * counted again. */
int sched_svc_restore(const struct sched_svc_spec *spec, const struct sched_svc_state *state,
                      struct sched_svc **out, struct berr **err);

const char *sched_svc_dstatus_str(enum sched_svc_dstatus s);
const char *sched_svc_rollout_str(enum sched_svc_rollout r);

#endif
