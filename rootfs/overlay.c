/* rootfs/overlay.c - see overlay.h */
#include "rootfs/overlay.h"
#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

size_t rootfs_overlay_max_options(void)
{
	long page = sysconf(_SC_PAGESIZE);

	return (size_t)(page > 0 ? page : 4096) - 1;
}

struct fdlist {
	int *fd;
	size_t n;
};

static void fdlist_close(struct fdlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->fd[i] >= 0)
			close(l->fd[i]);
	free(l->fd);
	l->fd = NULL;
	l->n = 0;
}

/* "lowerdir=/proc/self/fd/7:/proc/self/fd/8..." for fds[from, to) */
static char *lower_option(const struct fdlist *l, size_t from, size_t to)
{
	size_t cap = 16 + (to - from) * 24, len;
	char *s = xmalloc(cap);

	len = (size_t)snprintf(s, cap, "lowerdir=");
	for (size_t i = from; i < to; i++)
		len += (size_t)snprintf(s + len, cap - len, "%s/proc/self/fd/%d", i > from ? ":" : "", l->fd[i]);
	return s;
}

static int do_mount(const char *target, const char *opts, unsigned long flags, struct berr **err)
{
	if (mount("overlay", target, "overlay", flags, opts) < 0)
		return berr_set(err, errno, "mount overlay on %s", target);
	return 0;
}

int rootfs_overlay_mount(const struct rootfs_overlay_spec *sp, struct berr **err)
{
	struct fdlist l = { 0 };
	cleanup_free char *opts = NULL, *lower = NULL, *nested_opts = NULL;
	size_t max = rootfs_overlay_max_options(), split = 0, rest_len;
	bool nested = false;
	unsigned long flags = MS_NODEV | (sp->readonly ? MS_RDONLY : 0);
	int r;

	if (sp->n_lowers == 0)
		return berr_set(err, EINVAL, "mount overlay on %s: no layers", sp->target);
	if ((sp->upper == NULL) != (sp->work == NULL))
		return berr_set(err, EINVAL, "mount overlay on %s: upper and work go together", sp->target);
	if (sp->upper == NULL && sp->n_lowers == 1) {
		/* overlayfs wants two lowers without an upper: a one-layer image
		 * read-only is a read-only bind mount of that layer */
		if (mount(sp->lowers[0], sp->target, NULL, MS_BIND, NULL) < 0)
			return berr_set(err, errno, "bind %s on %s", sp->lowers[0], sp->target);
		if (mount(NULL, sp->target, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NODEV, NULL) < 0) {
			r = berr_set(err, errno, "remount %s read-only", sp->target);
			umount2(sp->target, MNT_DETACH);
			return r;
		}
		return 0;
	}
	if (sp->upper == NULL)
		flags |= MS_RDONLY;

	l.fd = xcalloc(sp->n_lowers, sizeof(int));
	for (size_t i = 0; i < sp->n_lowers; i++) {
		l.fd[i] = open(sp->lowers[i], O_PATH | O_DIRECTORY | O_CLOEXEC);
		l.n = i + 1;
		if (l.fd[i] < 0) {
			r = berr_set(err, errno, "open layer %s", sp->lowers[i]);
			goto out;
		}
	}
	if (sp->upper) {
		if ((r = fs_mkdir_p(sp->upper, 0755, err)) < 0 || (r = fs_mkdir_p(sp->work, 0700, err)) < 0)
			goto out;
	}

	lower = lower_option(&l, 0, l.n);
	rest_len = sp->upper ? strlen(sp->upper) + strlen(sp->work) + 32 : 0;
	if (strlen(lower) + rest_len > max) {
		/* keep as many top layers as fit beside one nested lower; the
		 * bottom ones become a read-only overlay of their own */
		size_t keep = l.n;

		if (sp->nested_dir == NULL) {
			r = berr_set(err, E2BIG, "mount overlay on %s: %zu layers do not fit one mount and no nested_dir was given",
				     sp->target, sp->n_lowers);
			goto out;
		}
		while (keep > 0) {
			cleanup_free char *top = lower_option(&l, 0, keep);

			if (strlen(top) + strlen(":") + strlen(sp->nested_dir) + rest_len <= max)
				break;
			keep--;
		}
		split = keep;
		nested_opts = lower_option(&l, split, l.n);
		if (l.n - split < 2 || strlen(nested_opts) > max) {
			r = berr_set(err, E2BIG, "mount overlay on %s: %zu layers are more than two stacked overlays hold",
				     sp->target, sp->n_lowers);
			goto out;
		}
		if ((r = fs_mkdir_p(sp->nested_dir, 0700, err)) < 0)
			goto out;
		r = do_mount(sp->nested_dir, nested_opts, MS_RDONLY | MS_NODEV, err);
		if (r < 0) {
			berr_wrap(err, "lower layers %zu-%zu", split + 1, l.n);
			goto out;
		}
		nested = true;
		free(lower);
		lower = lower_option(&l, 0, split);
		if (split > 0) {
			char *t = xasprintf("%s:%s", lower, sp->nested_dir);

			free(lower);
			lower = t;
		} else {
			free(lower);
			lower = xasprintf("lowerdir=%s", sp->nested_dir);
		}
	}
	if (sp->upper)
		opts = xasprintf("%s,upperdir=%s,workdir=%s", lower, sp->upper, sp->work);
	else
		opts = xstrdup(lower);
	r = do_mount(sp->target, opts, flags, err);
	if (r < 0 && nested)
		umount2(sp->nested_dir, MNT_DETACH);
out:
	fdlist_close(&l);
	return r;
}

int rootfs_overlay_umount(const char *target, const char *nested_dir, struct berr **err)
{
	int r = 0;

	if (umount2(target, UMOUNT_NOFOLLOW) < 0 && errno != EINVAL && errno != ENOENT)
		r = berr_set(err, errno, "unmount %s", target);
	if (nested_dir && umount2(nested_dir, UMOUNT_NOFOLLOW) < 0 && errno != EINVAL && errno != ENOENT && r == 0)
		r = berr_set(err, errno, "unmount %s", nested_dir);
	return r;
}
