/* scheduler/sched-internal.h - what model.c, cql.c and place.c share and
 * callers do not see: the cluster's layout, hash maps and the placement
 * indexes ("views"). */
#ifndef BERTH_SCHEDULER_INTERNAL_H
#define BERTH_SCHEDULER_INTERNAL_H

#include "scheduler/model.h"

#include <stdint.h>

/* ---- string -> u32 map; keys are borrowed (owned by whoever holds the string) */
struct sched_smap_slot {
	const char *key;   /* NULL: empty */
	uint32_t hash;
	uint32_t val;
};
struct sched_smap {
	struct sched_smap_slot *slots;
	uint32_t cap, n;   /* cap: a power of two, 0 when empty */
};
uint32_t sched_hash_str(const char *s);
uint32_t sched_smap_get(const struct sched_smap *m, const char *key);   /* SCHED_NONE when absent */
void sched_smap_put(struct sched_smap *m, const char *key, uint32_t val);
void sched_smap_del(struct sched_smap *m, const char *key);
void sched_smap_free(struct sched_smap *m);

/* ---- u64 -> u32 map (no deletion) */
struct sched_umap {
	uint64_t *keys;    /* UINT64_MAX: empty */
	uint32_t *vals;
	uint32_t cap, n;
};
uint32_t sched_umap_get(const struct sched_umap *m, uint64_t key);
void sched_umap_put(struct sched_umap *m, uint64_t key, uint32_t val);
void sched_umap_free(struct sched_umap *m);

uint64_t sched_mix64(uint64_t x);

/* ---- placement indexes.
 * A view splits the instances by the value of one attribute (attr; or all
 * in one bucket when attr is SCHED_NONE) and keeps, in each bucket, the
 * placeable instances (ACTIVE, agent connected) sorted by (key, rank), key
 * being remaining memory, remaining cpu or nothing. It also keeps, for task
 * groups that asked, the number of the group's tasks per bucket (spread). */
enum sched_key {
	SCHED_KEY_RANK,
	SCHED_KEY_CPU,
	SCHED_KEY_MEM,
};

struct sched_entry {
	int32_t key;
	uint32_t rank;
	uint32_t idx;
};

struct sched_bucket {
	uint64_t value;          /* the attribute's value id, see sched_view_value() */
	struct sched_entry *v;
	uint32_t n, cap;
};

struct sched_gcounts {
	uint32_t group;
	uint32_t *counts;        /* per bucket */
	uint32_t cap;            /* entries allocated in counts */
};

struct sched_cql;

struct sched_view {
	uint32_t attr;
	enum sched_key key;
	/* static memberOf expressions (they read nothing placements change),
	 * joined by "\n": only instances matching all of them are in the
	 * buckets; NULL: no filter. The view compiles its own copies. */
	char *filter;
	struct sched_cql **fq;
	uint32_t nfq;
	uint8_t *present;        /* per instance: in its bucket's array */
	uint32_t *bucket_of;     /* per instance */
	uint32_t cap_inst;
	struct sched_bucket *buckets;
	uint32_t nbuckets, capbuckets;
	struct sched_umap bucket_map;   /* value -> bucket */
	struct sched_gcounts *gc;
	uint32_t ngc;
};

#define SCHED_MAX_VIEWS 16

struct sched_cluster {
	uint64_t seed;
	uint64_t seq;                 /* placements made: feeds the random strategy */
	/* interned strings */
	char **strs;
	uint32_t nstrs, capstrs;
	struct sched_smap strmap;
	/* instances */
	struct sched_instance *inst;
	uint32_t ninst, capinst;
	struct sched_smap instmap;    /* id and ec2 id -> index */
	/* tasks */
	struct sched_task *tasks;
	uint32_t ntasks, captasks, nlive;
	uint32_t *free_tasks;          /* reusable slots */
	uint32_t nfree, capfree;
	struct sched_smap taskmap;    /* id -> slot */
	/* placement indexes */
	struct sched_view *views[SCHED_MAX_VIEWS];
	uint32_t nviews;
};

uint32_t sched_intern(struct sched_cluster *cl, const char *s);
bool sched_placeable(const struct sched_instance *in);
/* Bucket key of an instance for attribute attr: value id, or 2^32 + 0 for an
 * attribute without a value, 2^32 + 1 when the attribute is missing. */
uint64_t sched_view_value(const struct sched_instance *in, uint32_t attr);

/* The view for (attr, key, filter), built on first use; NULL when the filter
 * does not compile (it compiled in the plan, so never in practice). */
struct sched_view *sched_view_get(struct sched_cluster *cl, uint32_t attr, enum sched_key key,
                                  const char *filter);
/* The per-bucket counts of group in view v, built on first use. */
const uint32_t *sched_view_counts(struct sched_cluster *cl, struct sched_view *v, uint32_t group);

/* Hooks the model calls so the views follow every change. */
void sched_views_instance_added(struct sched_cluster *cl, uint32_t idx);
/* anything about the instance changed (resources, status, agent, attributes);
 * old_cpu/old_mem: remaining before the change */
void sched_views_instance_changed(struct sched_cluster *cl, uint32_t idx, int32_t old_cpu,
                                  int32_t old_mem);
void sched_views_group_delta(struct sched_cluster *cl, uint32_t idx, uint32_t group, int delta);
void sched_views_drop_attr(struct sched_cluster *cl, uint32_t attr);
void sched_views_free(struct sched_cluster *cl);

#endif
