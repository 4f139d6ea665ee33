/* rootfs/ephemeral.h - per-task ephemeral storage (ECS ephemeralStorage).
 *
 * Each task gets a writable volume of ephemeralStorage.sizeInGiB that holds
 * its containers' overlay upper/work dirs and its task-scoped volumes. Writes
 * past the size fail with ENOSPC inside that task only; the volume goes away
 * with the task; used/reserved bytes feed EphemeralStorageMetrics.
 *
 * Two mechanisms behind one interface; measured in docs/ephemeral-storage.md:
 *
 *   ROOTFS_EPHEMERAL_LOOP (default): a sparse file, a loop device
 *     (LOOP_CONFIGURE, autoclear, direct I/O where the backing filesystem
 *     can) and a filesystem of its own (ext4 without a journal; xfs
 *     possible but dominated), mounted nodev. Works on any host filesystem;
 *     no writer gets past its size whatever it does; teardown is umount +
 *     unlink however many files the task made; df inside shows the size.
 *     Costs an exec of mkfs.ext4 per create (~10 ms natively).
 *   ROOTFS_EPHEMERAL_PRJQUOTA: a directory with its own project id
 *     (inherited by everything below it) and a block hard limit on one XFS
 *     filesystem mounted with prjquota (base_dir). Creating is ~70x cheaper
 *     (no exec, no mount), but teardown is rm -rf (grows with the file
 *     count), and any file owner in the initial user namespace can move a
 *     file to project 0 (FS_IOC_FSSETXATTR) and fill the shared filesystem
 *     for every task: only for tasks in user namespaces or with that ioctl
 *     filtered by seccomp.
 *
 * On disk, everything of task T is under BASE/T (BASE = base_dir resolved):
 *   loop:      BASE/T/disk.img (the sparse file), BASE/T/fs (mount point)
 *   prjquota:  BASE/T (carries the project id), BASE/T/fs
 * rootfs_ephemeral_path() is BASE/T/fs in both.
 *
 * Creation that fails at any step undoes the earlier steps; a process that
 * dies half-way leaves state that rootfs_ephemeral_cleanup_stale() removes.
 * The calls are safe from several threads for different tasks.
 */
#ifndef BERTH_ROOTFS_EPHEMERAL_H
#define BERTH_ROOTFS_EPHEMERAL_H

#include "common/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ROOTFS_EPHEMERAL_MIB (UINT64_C(1) << 20)
#define ROOTFS_EPHEMERAL_GIB (UINT64_C(1) << 30)

/* Longest task id; ids are [A-Za-z0-9_.-], not starting with '.'. */
#define ROOTFS_EPHEMERAL_ID_MAX 128

enum rootfs_ephemeral_mech {
	ROOTFS_EPHEMERAL_LOOP = 0,
	ROOTFS_EPHEMERAL_PRJQUOTA,
};

/* Filesystem made on each loop volume. */
enum rootfs_ephemeral_fstype {
	ROOTFS_EPHEMERAL_EXT4 = 0,
	ROOTFS_EPHEMERAL_XFS,
};

struct rootfs_ephemeral_config {
	/* Directory for the volumes (created if missing). For PRJQUOTA it must
	 * be on XFS mounted with prjquota. */
	const char *base_dir;
	enum rootfs_ephemeral_mech mech;
	enum rootfs_ephemeral_fstype fstype;   /* LOOP only */
	/* Size bounds. Fargate: 20 GiB when sizeInGiB is absent, else 21-200. */
	uint64_t default_bytes, min_bytes, max_bytes;
	/* Tests: sizes in whole MiB instead of whole GiB. */
	bool allow_mib;
	/* LOOP: ask for direct I/O on the loop device (the kernel keeps
	 * buffered I/O when the backing filesystem cannot do it). */
	bool direct_io;
	/* mkfs programs; a name without '/' is looked up in PATH. */
	const char *mkfs_ext4, *mkfs_xfs;
	/* PRJQUOTA: the project ids berth may use, inclusive. */
	uint32_t projid_min, projid_max;
	/* cleanup_stale: true keeps a task's volume. NULL: every volume under
	 * base_dir is stale (start-up of the only process that uses base_dir). */
	bool (*task_alive)(const char *task_id, void *data);
	void *task_alive_data;

	/* Tests only. Alternative /proc/self/mountinfo and /sys/block. */
	const char *mountinfo_path, *sys_block_path;
	/* Tests only. With fault_step = N > 0, create fails at its Nth step
	 * (as if with EIO), or with fault_crash the process SIGKILLs itself
	 * there, leaving that step's state for cleanup_stale. */
	int fault_step;
	bool fault_crash;
	/* Tests only. Bind loop devices the pre-5.8 way (LOOP_SET_FD +
	 * LOOP_SET_STATUS64) even where LOOP_CONFIGURE exists. */
	bool loop_legacy;
};

struct rootfs_ephemeral;

/* Fargate's defaults (20 GiB default, 21-200 GiB, ext4 loop volumes, direct
 * I/O, mkfs.ext4/mkfs.xfs from PATH, project ids 2^30..2^31-1). base_dir is
 * kept, not copied. */
void rootfs_ephemeral_config_init(struct rootfs_ephemeral_config *cfg, const char *base_dir);

/* "loop" / "prjquota", "ext4" / "xfs"; parse returns -1 on an unknown name. */
const char *rootfs_ephemeral_mech_name(enum rootfs_ephemeral_mech m);
int rootfs_ephemeral_mech_parse(const char *s, enum rootfs_ephemeral_mech *out);
const char *rootfs_ephemeral_fstype_name(enum rootfs_ephemeral_fstype t);
int rootfs_ephemeral_fstype_parse(const char *s, enum rootfs_ephemeral_fstype *out);

/* ephemeralStorage.sizeInGiB of a task definition to bytes: `present`
 * false gives default_bytes; otherwise gib must be within the bounds:
 * "ephemeralStorage.sizeInGiB: 300 out of range [21, 200]". */
int rootfs_ephemeral_size_from_gib(const struct rootfs_ephemeral_config *cfg, bool present,
				   int64_t gib, uint64_t *bytes, struct berr **err);
/* A size in bytes against the bounds and granularity (whole GiB, or whole
 * MiB with allow_mib); messages in GiB when everything is whole GiB. */
int rootfs_ephemeral_check_size(const struct rootfs_ephemeral_config *cfg, uint64_t bytes,
				struct berr **err);
/* A task id usable as one path component. */
int rootfs_ephemeral_check_task_id(const char *task_id, struct berr **err);

/* Size of the sparse file behind a LOOP volume of `bytes`: a little more
 * than asked, so the filesystem's usable size (df) is at least `bytes`
 * after ext4's inode tables and xfs's log are taken out. */
uint64_t rootfs_ephemeral_image_size(enum rootfs_ephemeral_fstype t, uint64_t bytes);

/* Create task_id's volume of size_bytes (checked with check_size) and return
 * a handle. EEXIST when the task already has one (left untouched). */
int rootfs_ephemeral_create(const struct rootfs_ephemeral_config *cfg, const char *task_id,
			    uint64_t size_bytes, struct rootfs_ephemeral **out, struct berr **err);
/* A handle for task_id's existing volume (after a restart, or from another
 * process): ENOENT when there is none, or when a LOOP volume is not mounted. */
int rootfs_ephemeral_open(const struct rootfs_ephemeral_config *cfg, const char *task_id,
			  struct rootfs_ephemeral **out, struct berr **err);

/* The mounted (LOOP) or quota-limited (PRJQUOTA) directory for upper/work
 * dirs and task volumes. */
const char *rootfs_ephemeral_path(const struct rootfs_ephemeral *v);
const char *rootfs_ephemeral_task_id(const struct rootfs_ephemeral *v);
/* The size asked for. */
uint64_t rootfs_ephemeral_size(const struct rootfs_ephemeral *v);
/* LOOP: "/dev/loopN" and whether direct I/O is on; PRJQUOTA: NULL / false. */
const char *rootfs_ephemeral_device(const struct rootfs_ephemeral *v);
bool rootfs_ephemeral_direct_io(const struct rootfs_ephemeral *v);
/* PRJQUOTA: the project id; LOOP: 0. */
uint32_t rootfs_ephemeral_projid(const struct rootfs_ephemeral *v);

/* Bytes in use and the size reserved (the size asked for), for
 * EphemeralStorageMetrics. One statfs (LOOP) or one quotactl (PRJQUOTA). */
int rootfs_ephemeral_usage(const struct rootfs_ephemeral *v, uint64_t *used, uint64_t *reserved,
			   struct berr **err);

/* Remove the volume: unmount (a mount still busy is detached lazily and its
 * loop device goes when the last user does), detach a loop device still bound
 * to the file, delete everything under BASE/T, clear the quota limit. Works on
 * whatever is left of a volume. Always frees v: what could not be removed is
 * named in the error and left for rootfs_ephemeral_cleanup_stale. */
int rootfs_ephemeral_destroy(struct rootfs_ephemeral *v, struct berr **err);
/* The same for task_id's volume without a handle; none is success. */
int rootfs_ephemeral_remove(const struct rootfs_ephemeral_config *cfg, const char *task_id,
			    struct berr **err);
/* Free a handle without touching the volume (the task lives on). */
void rootfs_ephemeral_free(struct rootfs_ephemeral *v);

/* What is left of one volume whose task is gone. */
struct rootfs_ephemeral_stale {
	char *task_id;
	bool has_entry;        /* BASE/T exists */
	char **mounts;         /* to unmount, in this order (NULL-terminated): mounts
				* on or below BASE/T and overlays using dirs in it */
	int *loops;            /* loop device numbers bound to BASE/T/disk.img */
	size_t n_loops;
	uint32_t projid;       /* project id on BASE/T with a limit to clear, or 0 */
};

/* Find stale volumes: every task id with something under base_dir (an entry,
 * a mount, a loop device bound to a file there, an overlay using a dir there)
 * that cfg->task_alive does not claim. Reads base_dir, mountinfo and
 * /sys/block only: changes nothing. Sorted by task id. */
int rootfs_ephemeral_find_stale(const struct rootfs_ephemeral_config *cfg,
				struct rootfs_ephemeral_stale **out, size_t *n, struct berr **err);
void rootfs_ephemeral_stale_free(struct rootfs_ephemeral_stale *s, size_t n);

/* Remove every stale volume (find_stale, then unmount, detach, delete, clear
 * limits; PRJQUOTA also clears limits left on berth's project ids with no
 * directory). Carries on past a volume it cannot remove and reports the first
 * error. Returns the number of volumes removed. */
int rootfs_ephemeral_cleanup_stale(const struct rootfs_ephemeral_config *cfg, struct berr **err);

#endif
