/* scheduler/model.h - the cluster as the placement engine sees it.
 *
 * Plain data: container instances (registered and remaining cpu and memory,
 * host ports in use, attributes, status, agent state) and the tasks placed
 * on them (id, group, family:revision, startedBy, what they hold). Strings
 * that repeat across instances (attribute names and values, task groups,
 * families) are interned: an instance's attributes are (name id, value id)
 * pairs, so a comparison in a query or a spread bucket is an integer compare.
 * Instances live in one array and are addressed by index; 10,000 instances
 * and a million tasks are the scale this is built for.
 *
 * The struct sched_instance fields are readable by callers; change an
 * instance only through the functions below, which keep the placement
 * indexes (place.c) in step. */
#ifndef BERTH_SCHEDULER_MODEL_H
#define BERTH_SCHEDULER_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define SCHED_NONE UINT32_MAX

/* ECS limits on custom attributes: name and value 1-128 characters */
#define SCHED_ATTR_MAX 128

enum sched_status {
	SCHED_ACTIVE,
	SCHED_DRAINING,
};

struct sched_attr {
	uint32_t name;    /* interned */
	uint32_t value;   /* interned; SCHED_NONE: the attribute has no value */
};

/* A sorted set of host ports in use (one per protocol). */
struct sched_ports {
	uint16_t *v;
	uint32_t n, cap;
};

struct sched_group_count {
	uint32_t group;   /* interned task group */
	uint32_t count;   /* tasks of that group on the instance */
};

struct sched_instance {
	char *id;               /* container instance ARN or id: unique */
	char *ec2_id;           /* ec2InstanceId; "" when none */
	char *agent_version;    /* "1.14.5"; "" when unknown */
	int64_t registered_at;  /* seconds since the epoch, UTC */
	int32_t cpu_registered, cpu_remaining;   /* cpu units (1024 = 1 vCPU) */
	int32_t mem_registered, mem_remaining;   /* MiB */
	struct sched_ports tcp, udp;             /* host ports in use */
	struct sched_attr *attrs;                /* sorted by name id */
	uint32_t nattrs;
	struct sched_group_count *groups;        /* task groups present */
	uint32_t ngroups, capgroups;
	uint32_t running;        /* runningTasksCount */
	uint32_t rank;           /* tie-break: a permutation derived from the cluster's seed */
	enum sched_status status;
	bool agent_connected;
};

/* Registration of a container instance. attr_values[i] may be NULL (an
 * attribute with no value). reserved_tcp: host ports the instance keeps for
 * itself (ECS registers 22, 2375, 2376, 51678, 51679: sched_ecs_reserved_ports). */
struct sched_instance_spec {
	const char *id;
	const char *ec2_id;
	const char *agent_version;
	int64_t registered_at;
	int32_t cpu, memory;
	bool draining;
	bool agent_disconnected;
	const char *const *attr_names;
	const char *const *attr_values;
	size_t nattrs;
	const uint16_t *reserved_tcp, *reserved_udp;
	size_t nreserved_tcp, nreserved_udp;
};

extern const uint16_t sched_ecs_reserved_ports[5];

/* A task that holds resources on an instance. */
struct sched_task_spec {
	const char *id;            /* unique */
	const char *group;         /* "family:web" or "service:api"; NULL: none */
	const char *family_rev;    /* "web:3"; may be NULL */
	const char *started_by;    /* may be NULL */
	int32_t cpu, memory;
	const uint16_t *tcp_ports, *udp_ports;   /* static host ports */
	size_t ntcp, nudp;
};

struct sched_task {
	char *id;
	uint32_t instance;
	uint32_t group, family_rev, started_by;   /* interned or SCHED_NONE */
	int32_t cpu, memory;
	uint16_t *ports;          /* ntcp tcp ports, then nudp udp ports */
	uint16_t ntcp, nudp;
	bool live;                /* false once removed (the slot is reused) */
};

struct sched_cluster;

/* A cluster; seed fixes the tie-break ranks and the random strategy, so the
 * same calls with the same seed give the same placements. */
struct sched_cluster *sched_cluster_new(uint64_t seed);
void sched_cluster_free(struct sched_cluster *cl);

/* Register an instance; *idx gets its index (stable for the cluster's life).
 * Fails on a duplicate id or an invalid attribute. */
int sched_cluster_add_instance(struct sched_cluster *cl, const struct sched_instance_spec *spec,
                               uint32_t *idx, struct berr **err);
/* Put (add or replace) or delete one attribute (ECS PutAttributes /
 * DeleteAttributes); value may be NULL. Names: 1-128 of [A-Za-z0-9-_/.\];
 * values: 1-128 of [A-Za-z0-9-_.@/\: ], no leading or trailing space. */
int sched_cluster_put_attribute(struct sched_cluster *cl, uint32_t idx, const char *name,
                                const char *value, struct berr **err);
void sched_cluster_delete_attribute(struct sched_cluster *cl, uint32_t idx, const char *name);
void sched_cluster_set_status(struct sched_cluster *cl, uint32_t idx, enum sched_status status);
void sched_cluster_set_agent_connected(struct sched_cluster *cl, uint32_t idx, bool connected);

/* Record a task on an instance and take its resources (no fit check: this
 * also restores known state; sched_place checks before it calls this). */
int sched_cluster_add_task(struct sched_cluster *cl, uint32_t idx, const struct sched_task_spec *t,
                           struct berr **err);
/* Remove a task and give its resources back. -ENOENT when unknown. */
int sched_cluster_remove_task(struct sched_cluster *cl, const char *task_id, struct berr **err);

uint32_t sched_cluster_ninstances(const struct sched_cluster *cl);
uint32_t sched_cluster_ntasks(const struct sched_cluster *cl);   /* live tasks */
const struct sched_instance *sched_cluster_instance(const struct sched_cluster *cl, uint32_t idx);
/* Index of the instance with this id (or ec2 id), or SCHED_NONE. */
uint32_t sched_cluster_find_instance(const struct sched_cluster *cl, const char *id);
const struct sched_task *sched_cluster_find_task(const struct sched_cluster *cl, const char *task_id);

/* Interned strings: the id of s, or SCHED_NONE when s was never interned. */
uint32_t sched_cluster_lookup(const struct sched_cluster *cl, const char *s);
const char *sched_cluster_str(const struct sched_cluster *cl, uint32_t id);

/* Value id of an attribute on an instance: true and *value when present
 * (*value SCHED_NONE for an attribute without a value). */
bool sched_instance_attr(const struct sched_instance *in, uint32_t name, uint32_t *value);
/* Number of tasks of a group on the instance. */
uint32_t sched_instance_group_count(const struct sched_instance *in, uint32_t group);
bool sched_ports_has(const struct sched_ports *p, uint16_t port);

/* Attribute name and value rules (ECS PutAttributes). */
bool sched_attr_name_valid(const char *name);
bool sched_attr_value_valid(const char *value);

#endif
