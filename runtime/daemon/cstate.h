/* runtime/daemon/cstate.h - the state a cluster of berthds shares through
 * etcd (issue 13, part 3): clusters, task definitions and tasks, and the
 * commands one host gives another (run this task, stop that one).
 *
 * etcd holds the truth; each berthd's SQLite store is its replica, kept
 * current by one watch on the cluster's prefix, so every read the API
 * makes stays local and every host answers for the whole cluster. Writes
 * go to the local store as before; the store's hook (store_set_hook)
 * queues the record and cstate_flush(), run by the event loop after each
 * batch (the transaction is over then), writes it to etcd.
 *
 * Keys under the cluster prefix P:
 *   P/clusters/<name>            a Cluster (last writer wins)
 *   P/taskdefs/<family>:<rev>    a TaskDefinition
 *   P/revisions/<family>         the family's last revision: taken with a
 *                                compare-and-swap, so two hosts never hand
 *                                out the same one
 *   P/tasks/<id>                 a Task, written only by the host that runs
 *                                it (its containerInstanceArn: in a cluster
 *                                FARGATE tasks name theirs too), except the
 *                                first PROVISIONING document a placing host
 *                                writes with the command
 *   P/services/<cluster>/<name>  {"doc": Service, "state": its controller's}: written
 *                                with a compare-and-swap by any host (the API)
 *                                and by the leader, which alone steps the
 *                                services (its writes also compare that it
 *                                still leads)
 *   P/cmd/<instance>/<id>/run    {"op":"run","input":RunTask input}
 *   P/cmd/<instance>/<id>/stop   {"op":"stop","cluster","stopCode","reason"}:
 *                                the instance carries it out and deletes it
 *
 * Without a cluster none of this runs: every function is a no-op, or says
 * the cluster is off. */
#ifndef BERTH_RUNTIME_DAEMON_CSTATE_H
#define BERTH_RUNTIME_DAEMON_CSTATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"

struct berthd;
struct sched_cluster;

/* After cluster_start and shimmgr_restore: publish what this host has and
 * etcd lacks (its own tasks; clusters and task definitions etcd has no
 * record of), read the shared state into the store, watch for changes and
 * carry out the commands waiting for this host. */
int cstate_start(struct berthd *d, struct berr **err);
void cstate_stop(struct berthd *d);
/* cluster.c's tick: flush now, and read everything again after a watch
 * that ended (compaction). */
void cstate_tick(struct berthd *d);
/* Take what the watch has now (the event loop does when its fd is
 * readable; tests without a loop call it). Never blocks. */
void cstate_poll(struct berthd *d);
/* Share the records written since the last flush. Never fails: what etcd
 * does not take now is tried again (at most once a second). */
void cstate_flush(struct berthd *d);
/* A cluster is configured and its state is shared. */
bool cstate_on(const struct berthd *d);

/* The next revision of family, taken cluster-wide (local_next: the one the
 * local store would give). */
int cstate_taskdef_revision(struct berthd *d, const char *family, int64_t local_next, int64_t *rev,
			    struct berr **err);

/* Every container instance of the cluster as the scheduler sees it (this
 * one included; agentConnected from the alive keys), with the resources
 * and groups of the non-stopped tasks the store knows on each. *ids: the
 * instances' ids, *arns their ARNs (index = the cluster's instance index;
 * NULL-terminated arrays, free with cstate_strv_free). */
int cstate_view(struct berthd *d, struct sched_cluster **out, char ***ids, char ***arns,
		struct berr **err);
void cstate_strv_free(char **v);

/* Give a task to another instance: P/tasks/<id> = doc and the run command
 * (input: the RunTask input for that one task) in one transaction. */
int cstate_assign(struct berthd *d, const char *instance_id, const json_t *doc, const json_t *input,
		  struct berr **err);
/* Ask the instance that runs task id to stop it. */
int cstate_stop_remote(struct berthd *d, const char *instance_id, const char *cluster, const char *id,
		       const char *stop_code, const char *reason, struct berr **err);

/* Write a service's record if it is still the one this host last saw
 * (as_leader: and this host leads): 1 written, 0 not (changed meanwhile:
 * the watch brings the newer one to the store and the controller). */
int cstate_service_write(struct berthd *d, const json_t *doc, const json_t *state, bool as_leader,
			 struct berr **err);

/* The instance has been seen disconnected (its alive key gone) by the
 * last view and not connected since. */
bool cstate_instance_down(struct berthd *d, const char *id);
/* Write another host's task as stopping (desiredStatus STOPPED, stop_code,
 * reason) or, stopped, as STOPPED: the leader does for the tasks of an
 * instance that is away (replaced) or gone. The store too. */
int cstate_mark_task(struct berthd *d, const json_t *doc, bool stopped, const char *stop_code,
		     const char *reason, struct berr **err);

/* The instance id (the ARN's tail) that runs the task doc describes: its
 * containerInstanceArn; NULL when it names none (a one-host FARGATE task). */
const char *cstate_owner(const json_t *doc);

#endif
