/* runtime/daemon/store.h - berthd's durable state: one SQLite database.
 *
 * WAL mode, synchronous=NORMAL (a committed transaction survives a crash or
 * kill -9 of berthd; only a power loss can drop the last few), foreign
 * keys on, busy timeout. The schema is versioned (PRAGMA user_version)
 * and migrated forward on open, each migration in its own transaction;
 * a database from a newer berth is refused with an error that says so.
 *
 * Objects are kept as the JSON documents the API returns (the Cluster,
 * TaskDefinition, Task and ContainerInstance shapes of botocore's model)
 * plus the columns the API filters and sorts on, which the store derives
 * from the document itself, so the two cannot disagree.
 *
 * Every function that changes something runs in the caller's transaction
 * when one is open (store_begin) and in its own otherwise. Getters return
 * new references. "Not found" is a return of 0, not an error. */
#ifndef BERTH_RUNTIME_DAEMON_STORE_H
#define BERTH_RUNTIME_DAEMON_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"

#define STORE_SCHEMA_VERSION 7

struct store;

/* Replicated records (cstate.c shares them through etcd in a cluster). */
enum {
	STORE_K_CLUSTER = 'c',   /* key: the cluster's name */
	STORE_K_TASKDEF = 'd',   /* key: "family:revision" */
	STORE_K_TASK = 't',      /* key: the task id */
};
/* Called after each successful write of a replicated record, inside the
 * caller's transaction (which may still roll back: read the record again
 * once the event loop is back before acting on it). */
typedef void (*store_hook_fn)(void *ctx, char kind, const char *key, bool deleted);
void store_set_hook(struct store *s, store_hook_fn fn, void *ctx);

/* Open (creating it and its schema when missing) the database at path. */
int store_open(const char *path, struct store **out, struct berr **err);
void store_close(struct store *s);
int store_schema_version(struct store *s);

/* BEGIN IMMEDIATE / COMMIT / ROLLBACK. Transactions do not nest. */
int store_begin(struct store *s, struct berr **err);
int store_commit(struct store *s, struct berr **err);
void store_rollback(struct store *s);

/* A page of results: `after` (NULL: from the start) is the last key of the
 * previous page; at most `limit` items; *more says whether another page
 * exists. Results are a new JSON array. */
struct store_page {
	const char *after;
	int64_t limit;
};

/* ---- clusters: key = clusterName; doc = Cluster ---- */
int store_cluster_put(struct store *s, const json_t *doc, struct berr **err);
int store_cluster_get(struct store *s, const char *name, json_t **doc, struct berr **err);
/* Cluster ARNs in name order. */
int store_cluster_list(struct store *s, const struct store_page *pg, json_t **arns, bool *more,
		       struct berr **err);
int store_cluster_delete(struct store *s, const char *name, struct berr **err);

/* ---- task definitions: key = (family, revision); doc = TaskDefinition ---- */
/* The next revision of family (1 for a new family; revisions are never
 * reused, also after deregistration). */
int store_taskdef_next_revision(struct store *s, const char *family, int64_t *rev,
				struct berr **err);
int store_taskdef_put(struct store *s, const json_t *doc, struct berr **err);
/* rev 0: the latest ACTIVE revision. */
int store_taskdef_get(struct store *s, const char *family, int64_t rev, json_t **doc,
		      struct berr **err);
/* ARNs. family_prefix NULL: all; status NULL: any ("ACTIVE", "INACTIVE");
 * desc: newest first. Key of the page: "<family>:<revision>" as the last
 * ARN's tail. */
int store_taskdef_list(struct store *s, const char *family_prefix, const char *status, bool desc,
		       const struct store_page *pg, json_t **arns, bool *more, struct berr **err);
/* Family names; status "ACTIVE": families with an ACTIVE revision,
 * "INACTIVE": families with none, NULL: all. */
int store_taskdef_families(struct store *s, const char *family_prefix, const char *status,
			   const struct store_page *pg, json_t **families, bool *more,
			   struct berr **err);

/* ---- tasks: key = task id (the 32-hex tail of taskArn); doc = Task ---- */
/* Insert or replace. Columns come from the doc: taskArn, clusterArn,
 * taskDefinitionArn (family), startedBy, group, desiredStatus, lastStatus,
 * containerInstanceArn, launchType, createdAt, stoppedAt. client_token
 * (RunTask's clientToken, may be NULL) is kept with the task. */
int store_task_put(struct store *s, const json_t *doc, const char *client_token,
		   struct berr **err);
int store_task_get(struct store *s, const char *id, json_t **doc, struct berr **err);
struct store_task_filter {
	const char *cluster;            /* required: cluster name */
	const char *family;             /* NULL: any */
	const char *started_by;
	const char *group;              /* "service:web" for ListTasks serviceName */
	const char *desired_status;     /* "RUNNING", "STOPPED", NULL: any */
	const char *last_status;        /* NULL: any */
	const char *container_instance; /* ARN or id; NULL: any */
	const char *launch_type;
	bool not_stopped;               /* only tasks whose lastStatus is not STOPPED */
	const char *owned_by;           /* instance id: tasks it runs (its containerInstanceArn,
					 * or none: a one-host FARGATE task); NULL: any */
};
/* Docs (not ARNs) of the matching tasks, in id order. */
int store_task_list(struct store *s, const struct store_task_filter *f, const struct store_page *pg,
		    json_t **docs, bool *more, struct berr **err);
/* Tasks started by an earlier RunTask with this clientToken in cluster:
 * their docs (an empty array when none). */
int store_task_by_token(struct store *s, const char *cluster, const char *client_token,
			json_t **docs, struct berr **err);
/* Delete STOPPED tasks whose stoppedAt is before `before` (epoch s);
 * *n = how many. */
int store_task_prune(struct store *s, double before, int64_t *n, struct berr **err);

/* ---- events: seq = 1, 2, 3, ... (never reused) ---- */
/* store_task_put compares the new document with the stored one in the same
 * transaction and records one event per change of the task's lastStatus,
 * its desiredStatus, and each container's lastStatus and healthStatus
 * (a new task counts as lastStatus none, desiredStatus RUNNING, containers
 * PENDING with health UNKNOWN, so its first put records "task PROVISIONING").
 * An event (the object ListEvents returns, docs/berthd.md):
 *   {seq, time (epoch s), cluster, taskArn, kind ("task-status",
 *    "task-desired-status", "container-status", "container-health"),
 *    container (container kinds), status, previous (absent for a new
 *    task), exitCode (a STOPPED container's, when known), summary ("task
 *    RUNNING", "container web STOPPED exit 0", "container web HEALTHY"),
 *    "detail-type": "ECS Task State Change", detail (the Task document at
 *    that moment, as EventBridge's detail, with updatedAt)}
 * Within one put: desiredStatus first, then each container (status, then
 * health), then the task's lastStatus. Only the newest `max` sequence
 * numbers are kept (STORE_EVENTS_MAX unless changed); events outlive their
 * task and cluster. */
#define STORE_EVENTS_MAX 10000
void store_set_events_max(struct store *s, int64_t max);

struct store_event_filter {
	int64_t after_seq;      /* events with seq > after_seq */
	const char *cluster;    /* cluster name; NULL: any */
	const char *task_id;    /* 32-hex task id; NULL: any */
	double since, until;    /* time >= since, time <= until; 0: no bound */
};
/* Matching events, oldest first, at most `limit` (> 0). *last_seq: the seq
 * to pass as after_seq next time: the last event returned when *more, else
 * the newest seq in the table (also when events were filtered out), so
 * polling with it neither repeats nor misses one. *first_seq: the oldest
 * seq still held (0: none), so a reader can tell that events it had not
 * read yet were dropped. */
int store_events_list(struct store *s, const struct store_event_filter *f, int64_t limit,
		      json_t **events, int64_t *last_seq, int64_t *first_seq, bool *more,
		      struct berr **err);

/* ---- container instances: key = id; doc = ContainerInstance ---- */
int store_instance_put(struct store *s, const json_t *doc, struct berr **err);
int store_instance_get(struct store *s, const char *id, json_t **doc, struct berr **err);
/* Docs in id order; status NULL: any. */
int store_instance_list(struct store *s, const char *cluster, const char *status,
			const struct store_page *pg, json_t **docs, bool *more, struct berr **err);
int store_instance_delete(struct store *s, const char *id, struct berr **err);

/* ---- attributes (PutAttributes): key = (cluster, targetId, name) ---- */
/* attr = {name, value?, targetType, targetId} */
int store_attr_put(struct store *s, const char *cluster, const json_t *attr, struct berr **err);
int store_attr_delete(struct store *s, const char *cluster, const char *target_id,
		      const char *name, struct berr **err);
/* targetType required; name/value NULL: any. Attribute objects in
 * (targetId, name) order; page key "<targetId>\n<name>". */
int store_attr_list(struct store *s, const char *cluster, const char *target_type,
		    const char *name, const char *value, const struct store_page *pg,
		    json_t **attrs, bool *more, struct berr **err);

/* ---- tags: key = (resource ARN, key) ---- */
/* tags = [{key, value}]: add or replace each. */
int store_tags_set(struct store *s, const char *arn, const json_t *tags, struct berr **err);
/* keys = ["k", ...] */
int store_tags_remove(struct store *s, const char *arn, const json_t *keys, struct berr **err);
/* [{key, value}] in key order, [] when none. */
int store_tags_get(struct store *s, const char *arn, json_t **tags, struct berr **err);
int store_tags_drop(struct store *s, const char *arn, struct berr **err);

/* ---- secrets: key = name (runtime/creds/secrets.h, docs/credentials.md) ----
 * Only ciphertext is stored (runtime/daemon/secretbox.h): the database never
 * holds a secret's value. */
struct store_secret {
	char *name;
	char *arn;
	char *description;          /* or NULL */
	uint8_t nonce[12];
	uint8_t *ct;                /* ciphertext + tag */
	size_t ct_len;
	double created, updated;    /* epoch seconds */
	int64_t version;            /* 1 when created, +1 per put */
};
void store_secret_clear(struct store_secret *sec);
/* Create (with sec->arn, sec->created, version 1) or update (new nonce,
 * ciphertext, updated, version + 1, description when sec->description is
 * not NULL; the ARN and creation time stay). *version: the stored version. */
int store_secret_put(struct store *s, const struct store_secret *sec, int64_t *version,
		     struct berr **err);
/* 1 with *out filled (store_secret_clear it), 0 when there is none. */
int store_secret_get(struct store *s, const char *name, struct store_secret *out,
		     struct berr **err);
/* [{name, arn, description?, createdDate, lastChangedDate, version}] in
 * name order; no ciphertext. */
int store_secret_list(struct store *s, const struct store_page *pg, json_t **items, bool *more,
		      struct berr **err);
/* 1 when deleted, 0 when there was none. */
int store_secret_delete(struct store *s, const char *name, struct berr **err);

/* ---- services: key = (cluster name, serviceName); doc = Service, and
 * beside it the controller's state (spec and deployments, services.c) ---- */
int store_service_put(struct store *s, const json_t *doc, const json_t *state, struct berr **err);
/* 1 with *doc and *state (either pointer may be NULL), 0 when there is none */
int store_service_get(struct store *s, const char *cluster, const char *name, json_t **doc,
		      json_t **state, struct berr **err);
struct store_service_filter {
	const char *cluster;            /* required */
	const char *launch_type;        /* NULL: any */
	const char *scheduling;         /* "REPLICA" | "DAEMON" | NULL */
};
/* ARNs of the services not INACTIVE, in name order (ListServices) */
int store_service_list(struct store *s, const struct store_service_filter *f,
		       const struct store_page *pg, json_t **arns, bool *more, struct berr **err);
/* Every service not INACTIVE, of every cluster: docs[i] with states[i]. */
int store_service_live(struct store *s, json_t **docs, json_t **states, struct berr **err);
/* Services of cluster not INACTIVE (DeleteCluster refuses while any are). */
int store_service_count(struct store *s, const char *cluster, int64_t *n, struct berr **err);

/* ---- schedules: key = name; doc = the schedule as schedules.c keeps it ---- */
int store_schedule_put(struct store *s, const json_t *doc, struct berr **err);
int store_schedule_get(struct store *s, const char *name, json_t **doc, struct berr **err);
int store_schedule_list(struct store *s, json_t **docs, struct berr **err);   /* by name */
/* 1 when it was there (its runs go with it), 0 when not */
int store_schedule_delete(struct store *s, const char *name, struct berr **err);
int store_schedule_run_add(struct store *s, const char *name, double time, const json_t *doc,
			   struct berr **err);
/* the newest `limit` runs (0: all), newest first */
int store_schedule_runs(struct store *s, const char *name, int64_t limit, json_t **docs, struct berr **err);

/* ---- scaling: key = resource id; doc = scalable target and its policies ---- */
int store_scaling_put(struct store *s, const char *resource_id, const json_t *doc, struct berr **err);
int store_scaling_list(struct store *s, json_t **docs, struct berr **err);
int store_scaling_delete(struct store *s, const char *resource_id, struct berr **err);

/* ---- discovery: key = id; doc = a Cloud Map namespace, service or operation ---- */
int store_discovery_put(struct store *s, const char *id, const json_t *doc, struct berr **err);
int store_discovery_list(struct store *s, json_t **docs, struct berr **err);
int store_discovery_delete(struct store *s, const char *id, struct berr **err);

#endif
