/* runtime/shim/reclaim.h - free what a task whose berth-shim died still
 * holds on the host.
 *
 * A shim is pid 1 of its own pid namespace and does all its mounts in a
 * mount namespace of its own, so when it dies (kill -9, a crash) the kernel
 * ends its containers, drops its mounts and, with its last reference, the
 * task's netns and veth pair. What stays is what lives outside the shim:
 *
 *   cgroups        <cgroupRoot>/<task id>/ and its leaves (empty, or with
 *                  pidMode host containers still in them)
 *   network        the task's IP (<state dir>/ipam/<a.b.c.d>), its host ports
 *                  (<state dir>/ports/<proto>-<port>), the IP in the member
 *                  sets of the nftables table, and the host end of its veth
 *                  (bv<first 13 of the id>) while something keeps the netns
 *   image lease    <root>/images/leases/<task id>.json
 *   storage        <root>/ephemeral/<task id>/ (loop: disk.img, a loop device
 *                  still bound to it; tmpfs storage is a mount of the shim's
 *                  and went with it)
 *   task dir       <runDir>/<task id>/<task id>/ (taskrun's generated /etc
 *                  files, mount points, the netns bind file), and the
 *                  bundle's stale shim.sock and shim.pid
 *
 * trun_reclaim() frees all of them from what is on disk and the paths of
 * the configuration (no record of the dead shim is needed: every
 * reservation is owned by the task id). It keeps the bundle's config.json,
 * status.json and shim.log, and the container logs, for inspection.
 *
 * Precondition: the task's shim is dead. Called for a live shim it would
 * pull the task's resources from under it; as a guard it refuses (EBUSY,
 * nothing touched) when a shim answers on <bundle>/shim.sock, which a live
 * shim does from before it sets anything up until after it tore everything
 * down. (berthd calls it only once the shim's pidfd said it exited, or at
 * live restore when nothing answers on the socket.)
 *
 * Idempotent: whatever is already gone is skipped, so a second call (or a
 * call after a partial one) is a no-op that succeeds. Every step runs even
 * when an earlier one failed; the error names each failed step. */
#ifndef BERTH_RUNTIME_SHIM_RECLAIM_H
#define BERTH_RUNTIME_SHIM_RECLAIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "netns/tasknet.h"

struct trun_reclaim_opts {
	const char *task_id;           /* required: [0-9a-z...] as taskrun took it */
	const char *root;              /* required: state root (images/, ephemeral/) */
	const char *run_dir;           /* required: bundles (<run_dir>/<task id>/) */
	const char *cgroup_root;       /* NULL: the task ran without cgroups */
	const struct netns_config *net;   /* NULL: no task network to release */
	int cgroup_timeout_ms;         /* waiting for killed processes to leave; 0: 2000 */
	/* tests only: the ephemeral storage scan's mountinfo and /sys/block */
	const char *mountinfo_path, *sys_block_path;
};

/* What was found and freed (all zero/false: there was nothing left). */
struct trun_reclaim_result {
	bool cgroup;                   /* the task's cgroup subtree was removed */
	bool killed;                   /* ... after processes were still in it */
	size_t n_ips;                  /* addresses released (set members removed) */
	char ip[16];                   /* the first of them, dotted */
	int n_ports;                   /* host ports released */
	bool veth;                     /* the host end of its veth was deleted */
	bool lease;                    /* the image store lease was dropped */
	bool storage;                  /* the ephemeral storage was removed */
	bool task_dir;                 /* taskrun's directory in the bundle was removed */
};

int trun_reclaim(const struct trun_reclaim_opts *o, struct trun_reclaim_result *res,
		 struct berr **err);

/* One line for a log: "cgroup, ip 10.0.0.5, 2 host ports, image lease,
 * storage, task dir", or "nothing left". xmalloc'd. */
char *trun_reclaim_describe(const struct trun_reclaim_result *res);

/* Does a shim answer on <bundle>/shim.sock? (A connection is made and
 * closed; a full backlog counts as an answer.) */
bool trun_shim_answers(const char *bundle);

#endif
