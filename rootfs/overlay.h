/* rootfs/overlay.h - a container's root filesystem: one overlay mount.
 *
 * lowerdirs are the image's unpacked layers, top first (as overlayfs wants
 * them); upper and work live on the task's ephemeral storage. Each lower is
 * opened once and named by its /proc/self/fd/N path, so ~240 layers fit in
 * the one page the kernel allows for mount options (full store paths would
 * fit ~40); past that, the bottom layers are first joined into a read-only
 * overlay of their own that serves as one lower (overlayfs stacks two deep). */
#ifndef BERTH_ROOTFS_OVERLAY_H
#define BERTH_ROOTFS_OVERLAY_H

#include "common/error.h"

#include <stdbool.h>
#include <stddef.h>

struct rootfs_overlay_spec {
	const char *const *lowers;   /* top first */
	size_t n_lowers;
	const char *upper, *work;    /* created when missing; both NULL: read-only, no upper
	                              * (a one-layer image is then a read-only bind mount) */
	const char *target;          /* existing directory */
	bool readonly;               /* readonlyRootFilesystem: mounted MS_RDONLY */
	const char *nested_dir;      /* where a nested lower overlay may be mounted (created) */
};

/* Mount; on failure nothing stays mounted. */
int rootfs_overlay_mount(const struct rootfs_overlay_spec *spec, struct berr **err);
/* Unmount target and a nested lower under nested_dir (NULL: none); not mounted is fine. */
int rootfs_overlay_umount(const char *target, const char *nested_dir, struct berr **err);

/* Longest option string the kernel takes for one mount (a page, less the NUL). */
size_t rootfs_overlay_max_options(void);

#endif
