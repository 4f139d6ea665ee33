/* runtime/container/mounts.h - the container's mount table (launcher internals).
 *
 * Two halves, as launch.c is split: ctr_mounts_plan() runs in the parent and
 * turns a launch request into a flat list of operations, with every string
 * and path prepared; ctr_mounts_apply() runs in the cloned child, between
 * clone and pivot_root, and only makes syscalls (no malloc, no stdio, no
 * locks: the parent may be multi-threaded). Every target is resolved inside
 * the root filesystem (openat2 RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS),
 * missing directories and files are created relative to their resolved
 * parent (mkdirat / openat O_CREAT|O_EXCL, which never follow a symlink), and
 * each mount lands on the resolved O_PATH fd through /proc/self/fd/N of the
 * host's procfs (checked to be procfs first, CVE-2019-19921), so a symlink
 * swapped in by a hostile image or volume cannot redirect a mount onto the
 * host (CVE-2021-30465, CVE-2025-31133, CVE-2025-52565).
 *
 * Not a public API: only launch.c and its tests use it. */
#ifndef BERTH_RUNTIME_CONTAINER_MOUNTS_H
#define BERTH_RUNTIME_CONTAINER_MOUNTS_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"
#include "runtime/container/childmsg.h"
#include "runtime/container/launch.h"

/* Fill msg (async-signal-safe): detail = the strings after err, up to a
 * NULL, concatenated and truncated to fit. Returns -err, for
 * `return ctr_msg(msg, "mount", errno, "tmpfs on ", target, NULL)`. */
int ctr_msg(struct ctr_child_msg *msg, const char *step, int err, ...) __attribute__((sentinel));

/* Decimal of v into buf (at least 24 bytes); returns buf. Async-signal-safe. */
char *ctr_utoa(unsigned long long v, char *buf);

enum ctr_mop_kind {
	CTR_MOP_FS,         /* mount(source, target, fstype, flags, data): a fresh filesystem */
	CTR_MOP_SYSFS,      /* sysfs (flags, data); where the kernel refuses it (EPERM: a
			     * network namespace our user namespace does not own) a
			     * non-recursive read-only bind of the host's /sys instead */
	CTR_MOP_BIND,       /* bind the host path `source` (rec: MS_REC) onto target, created
			     * as a file or a directory to match the source; `flags`
			     * (MS_RDONLY, MS_NOSUID, ...) are then applied by a remount */
	CTR_MOP_SYMLINK,    /* a symlink at target whose text is `source` */
	CTR_MOP_MASK,       /* when target exists: /dev/null over a file, an empty
			     * read-only tmpfs over a directory */
	CTR_MOP_MASK_GLOB,  /* mask target/<entry>/<data> for each entry of the directory
			     * target whose name starts with `source` (cpu* / thermal_throttle) */
	CTR_MOP_READONLY,   /* when target exists: bind it onto itself, remount read-only */
	CTR_MOP_MKDIR,      /* create the directory target (the working directory) */
	CTR_MOP_ROOT_FLAGS, /* remount the root bind with `flags` added (MS_RDONLY, MS_NODEV) */
};

struct ctr_mop {
	enum ctr_mop_kind kind;
	const char *target;     /* absolute and clean, inside the container */
	const char *source;
	const char *fstype;
	unsigned long flags;
	const char *data;
	bool rec;
};

struct ctr_mnt_plan {
	struct ctr_mop *ops;
	size_t n_ops;
	char **owned;           /* strings the plan allocated, freed with it */
	size_t n_owned;
};

/* Build the mount table for l (l->spec, l->netns_fd): /proc, /dev with the
 * default devices and symlinks, devpts, /dev/shm, /dev/mqueue, /sys,
 * /sys/fs/cgroup, the masked and read-only paths of security.md, the
 * spec's devices and mounts in order, the working directory, and the root's
 * final flags. Checks every target (absolute, no "..") and source. */
int ctr_mounts_plan(const struct ctr_launch *l, struct ctr_mnt_plan *plan, struct berr **err);
void ctr_mounts_plan_free(struct ctr_mnt_plan *plan);

/* Child side: apply plan to the root filesystem rootfd (an O_PATH fd of the
 * root bind mount). 0, or -errno with msg filled. Async-signal-safe. */
int ctr_mounts_apply(const struct ctr_mnt_plan *plan, int rootfd, struct ctr_child_msg *msg);

/* Child side: open `path` inside rootfd with open flags `flags` (O_PATH, or
 * O_RDONLY | O_DIRECTORY for a directory to read; O_CLOEXEC added), creating what is
 * missing when create is 'd' (directories) or 'f' (directories, then a
 * regular file as the last component); 0 creates nothing. Returns the fd
 * (O_CLOEXEC) or -errno. Async-signal-safe; exposed for the unit tests. */
int ctr_open_in_root(int rootfd, const char *path, int flags, char create);

#endif
