/* runtime/daemon/shimmgr.h - berthd's side of the task shims.
 *
 * Every task berthd runs has one berth-shim (runtime/shim) that owns it.
 * The manager spawns shims, keeps one control connection to each in the
 * event loop, turns the shim's state snapshots into the task's ECS
 * document in the store, sends stops, and on start re-adopts the shims
 * that kept running while berthd was down (live restore).
 *
 * A shim that closes its connection but lives is connected to again, with
 * backoff (100 ms doubling to 5 s); one that exits without a final STOPPED
 * (kill -9, a crash), noticed through its pidfd or at live restore, is
 * lost: its task's cgroups, network reservations, image lease and storage
 * are reclaimed (runtime/shim/reclaim.h) and the task is recorded STOPPED
 * with the reason (a StopTask's reason, when one was asked for, else
 * "berth-shim exited before the task stopped (see its shim.log)"). */
#ifndef BERTH_RUNTIME_DAEMON_SHIMMGR_H
#define BERTH_RUNTIME_DAEMON_SHIMMGR_H

#include <jansson.h>
#include <stdint.h>

#include "common/error.h"

struct berthd;
struct shimmgr;

/* The task attribute (Task.attributes[], name/value strings) that holds the
 * task's exit code once it is known: the exit code of the essential
 * container whose end stopped the task (125/126/127 when it could not
 * start), the one `berth run` exits with. ECS's Task has no such field;
 * its attributes are in the model, so the AWS CLI and boto3 show it. */
#define SHIMMGR_EXIT_CODE_ATTR "berth.exitCode"

/* Counters since start (for the log and tests). */
struct shimmgr_stats {
	uint64_t reconnect_tries;      /* attempts to connect to a live shim again */
	uint64_t reconnects;           /* ... that connected */
	uint64_t lost;                 /* shims that died without a final STOPPED */
	uint64_t reclaims, reclaim_failures;
};
const struct shimmgr_stats *shimmgr_stats(const struct shimmgr *m);

int shimmgr_new(struct berthd *d, struct shimmgr **out, struct berr **err);
void shimmgr_free(struct shimmgr *m);

/* Start the shims of n tasks (RunTask's count), whose documents are in
 * the store already (PROVISIONING): every shim is started before the
 * first detach is waited for, so they get ready side by side. Each l[i]
 * gives the task's id, its shim's config.json (runtime/shim/shim.h) and
 * its cpu/memory reservation on this host, and gets r (0, or negative
 * with err set: the caller records that task STOPPED, TaskFailedToStart,
 * and frees err). */
struct shim_ent;
struct shimmgr_launch {
	const char *id;
	const json_t *config;
	int64_t cpu, memory;
	int r;
	struct berr *err;
	struct shim_ent *e; /* internal */
};
void shimmgr_start_many(struct shimmgr *m, struct shimmgr_launch *l, size_t n);
/* Ask the shim of task `id` to stop it. 0 when asked (or it is gone
 * already), -ENOENT when berthd has no shim for it. */
int shimmgr_stop(struct shimmgr *m, const char *id, const char *reason, struct berr **err);
/* What the live tasks on this host reserve. */
void shimmgr_reserved(const struct shimmgr *m, int64_t *cpu, int64_t *memory);
/* Live restore: for every task in the store that is not STOPPED, adopt its
 * shim, or learn its outcome from status.json, or record it STOPPED when
 * neither exists. Called once at start, before the API is served. */
int shimmgr_restore(struct shimmgr *m, struct berr **err);
/* Tasks being managed. */
size_t shimmgr_count(const struct shimmgr *m);

#endif
