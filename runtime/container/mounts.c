/* runtime/container/mounts.c - the container's mount table: planned in the
 * parent, applied in the cloned child (see mounts.h). */
#include "runtime/container/mounts.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/xalloc.h"

#ifndef SYS_openat2
#define SYS_openat2 437
#endif

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* security.md: masked (files get /dev/null, directories an empty read-only
 * tmpfs) and read-only paths, as Docker has them. */
static const char *const masked_paths[] = {
	"/proc/acpi", "/proc/asound", "/proc/interrupts", "/proc/kcore", "/proc/keys",
	"/proc/latency_stats", "/proc/sched_debug", "/proc/scsi", "/proc/timer_list",
	"/proc/timer_stats", "/sys/devices/virtual/powercap", "/sys/firmware",
};
static const char *const readonly_paths[] = {
	"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
};
/* The default devices, bound from the host's /dev (a bind works in a user
 * namespace too, where mknod does not). */
static const char *const default_devices[] = { "null", "zero", "full", "random", "urandom", "tty" };
static const struct {
	const char *path, *text;
} default_symlinks[] = {
	{ "/dev/ptmx", "pts/ptmx" },
	{ "/dev/fd", "/proc/self/fd" },
	{ "/dev/stdin", "/proc/self/fd/0" },
	{ "/dev/stdout", "/proc/self/fd/1" },
	{ "/dev/stderr", "/proc/self/fd/2" },
};

/* ------------------------------------------------ async-signal-safe bits */

/* Append src to dst (capacity cap, NUL-terminated), truncating. */
static void str_add(char *dst, size_t cap, const char *src)
{
	size_t len = strlen(dst);

	if (!src)
		return;
	while (*src && len + 1 < cap)
		dst[len++] = *src++;
	dst[len] = '\0';
}

int ctr_msg(struct ctr_child_msg *msg, const char *step, int err, ...)
{
	const char *part;
	va_list ap;

	msg->step[0] = '\0';
	str_add(msg->step, sizeof(msg->step), step);
	msg->err = err;
	msg->detail[0] = '\0';
	va_start(ap, err);
	while ((part = va_arg(ap, const char *)))
		str_add(msg->detail, sizeof(msg->detail), part);
	va_end(ap);
	return err > 0 ? -err : -EIO;
}

char *ctr_utoa(unsigned long long v, char *buf)
{
	char tmp[24];
	size_t n = 0, i = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		buf[i++] = tmp[--n];
	buf[i] = '\0';
	return buf;
}

/* "/proc/self/fd/N" for fd, in buf (>= 40 bytes). */
static char *fd_path(char *buf, int fd)
{
	char num[24];

	buf[0] = '\0';
	str_add(buf, 40, "/proc/self/fd/");
	str_add(buf, 40, ctr_utoa((unsigned)fd, num));
	return buf;
}

static int close_keep_errno(int fd)
{
	int saved = errno;

	if (fd >= 0)
		close(fd);
	errno = saved;
	return -1;
}

static int openat2_in_root(int rootfd, const char *path, int flags)
{
	struct open_how how = {
		.flags = (uint64_t)(unsigned)(flags | O_CLOEXEC),
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	long fd;

	/* EAGAIN: a rename or mount raced with a ".." lookup: try again */
	for (int tries = 0;; tries++) {
		fd = syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
		if (fd >= 0 || errno != EAGAIN || tries >= 64)
			break;
	}
	return fd < 0 ? -errno : (int)fd;
}

/* buf (capacity cap) = buf[0..keep) + text + tail; the tail may live in buf. */
static int splice_path(char *buf, size_t cap, size_t keep, const char *text, size_t tlen,
		       const char *tail)
{
	char tmp[4096];
	size_t tail_len = strlen(tail);

	if (keep + tlen + tail_len + 1 > cap || tail_len + 1 > sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(tmp, tail, tail_len + 1);
	memcpy(buf + keep, text, tlen);
	memcpy(buf + keep + tlen, tmp, tail_len + 1);
	return 0;
}

int ctr_open_in_root(int rootfd, const char *path, int flags, char create)
{
	char buf[4096], link[4096];
	size_t len = strlen(path), i;
	int fd, parent = -1, links = 0;

	fd = openat2_in_root(rootfd, path, flags);
	if (fd != -ENOENT || !create)
		return fd;
	if (len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, len + 1);

	/* Walk the components: resolve each prefix from the root again (so a
	 * symlink anywhere is resolved inside it) and create what is missing
	 * relative to its resolved parent, which never follows a link. A
	 * symlink to something missing is replaced by its text and the walk
	 * starts over, so what gets created is where the link points, inside
	 * the root (as runc's MkdirAllInRoot does). */
restart:
	i = 0;
	while (buf[i] == '/')
		i++;
	while (buf[i]) {
		size_t start = i, j;
		int pfd = parent >= 0 ? parent : rootfd, oflags, r;
		bool last;
		char saved;

		while (buf[i] && buf[i] != '/')
			i++;
		for (j = i; buf[j] == '/'; j++)
			;
		last = !buf[j];
		oflags = last ? flags : O_PATH | O_DIRECTORY;
		saved = buf[i];
		buf[i] = '\0';
		r = openat2_in_root(rootfd, buf, oflags);
		if (r == -ENOENT && strcmp(buf + start, ".") && strcmp(buf + start, "..")) {
			int c = last && create == 'f' ? mknodat(pfd, buf + start, S_IFREG | 0644, 0)
						       : mkdirat(pfd, buf + start, 0755);

			if (c == 0 || errno != EEXIST) {
				r = c < 0 ? -errno : openat2_in_root(rootfd, buf, oflags);
			} else {
				/* there is something: a symlink to nowhere (yet) */
				ssize_t n = readlinkat(pfd, buf + start, link, sizeof(link));

				if (n < 0)
					r = errno == EINVAL ? -ENOENT : -errno;
				else if (n == (ssize_t)sizeof(link))
					r = -ENAMETOOLONG;
				else if (++links > 40)
					r = -ELOOP;
				else {
					buf[i] = saved;
					/* absolute: from the root; relative: from its directory */
					r = splice_path(buf, sizeof(buf), link[0] == '/' ? 0 : start, link,
							(size_t)n, buf + i);
					if (parent >= 0)
						close(parent);
					parent = -1;
					if (r < 0)
						return r;
					goto restart;
				}
			}
		}
		if (parent >= 0)
			close(parent);
		parent = -1;
		if (r < 0)
			return r;
		parent = r;
		buf[i] = saved;
		i = j;
	}
	/* the last component was opened with the caller's flags */
	return parent >= 0 ? parent : openat2_in_root(rootfd, buf, flags);
}

/* Flags to pass with MS_REMOUNT|MS_BIND so the remount keeps what is there
 * (the kernel refuses to clear flags locked by a more privileged mount
 * namespace, atime ones included) plus `add`. */
static unsigned long kept_flags(const struct statfs *sfs, unsigned long add)
{
	unsigned long f = 0, st = (unsigned long)sfs->f_flags;

	if (st & ST_RDONLY)
		f |= MS_RDONLY;
	if (st & ST_NOSUID)
		f |= MS_NOSUID;
	if (st & ST_NODEV)
		f |= MS_NODEV;
	if (st & ST_NOEXEC)
		f |= MS_NOEXEC;
	if (add & (MS_NOATIME | MS_RELATIME | MS_STRICTATIME)) {
		f |= add & (MS_NOATIME | MS_RELATIME | MS_STRICTATIME);
	} else {
		if (st & ST_NOATIME)
			f |= MS_NOATIME;
		if (st & ST_RELATIME)
			f |= MS_RELATIME;
		if (!(st & (ST_NOATIME | ST_RELATIME)))
			f |= MS_STRICTATIME;
	}
	if (st & ST_NODIRATIME)
		f |= MS_NODIRATIME;
	return f | (add & ~(MS_NOATIME | MS_RELATIME | MS_STRICTATIME));
}

/* Remount the mount whose root fd is, adding flags. */
static int remount_fd(int fd, unsigned long add)
{
	struct statfs sfs;
	char p[40];

	if (fstatfs(fd, &sfs) < 0)
		return -errno;
	if (mount(NULL, fd_path(p, fd), NULL, MS_BIND | MS_REMOUNT | kept_flags(&sfs, add), NULL) < 0)
		return -errno;
	return 0;
}

/* After a bind onto `target`, open the new mount's root again (resolved in
 * the root as before) and check it is the inode that was bound, so the
 * remount cannot land on something swapped in meanwhile. */
static int reopen_bound(int rootfd, const char *target, const struct stat *want)
{
	struct stat st;
	int fd = ctr_open_in_root(rootfd, target, O_PATH, 0);

	if (fd < 0)
		return fd;
	if (fstat(fd, &st) < 0) {
		close_keep_errno(fd);
		return -errno;
	}
	if (st.st_dev != want->st_dev || st.st_ino != want->st_ino) {
		close(fd);
		return -EBUSY;
	}
	return fd;
}

struct apply_ctx {
	int rootfd;
	int devnull;            /* O_PATH fd of the host's /dev/null */
	struct ctr_child_msg *msg;
};

static int do_fs(const struct apply_ctx *a, const struct ctr_mop *op)
{
	char p[40];
	int fd = ctr_open_in_root(a->rootfd, op->target, O_PATH | O_DIRECTORY, 'd'), r = 0;

	if (fd < 0)
		return ctr_msg(a->msg, "mount", -fd, "mount point ", op->target, NULL);
	if (mount(op->source, fd_path(p, fd), op->fstype, op->flags, op->data) < 0)
		r = ctr_msg(a->msg, "mount", errno, op->fstype, " on ", op->target, NULL);
	close(fd);
	return r;
}

static int bind_to(const struct apply_ctx *a, const char *source, int srcfd, const char *target,
		   bool rec, unsigned long flags)
{
	char sp[40], tp[40];
	struct stat st;
	int tfd, r;

	if (fstat(srcfd, &st) < 0)
		return ctr_msg(a->msg, "mount", errno, "bind source ", source, NULL);
	tfd = ctr_open_in_root(a->rootfd, target, O_PATH | (S_ISDIR(st.st_mode) ? O_DIRECTORY : 0),
			       S_ISDIR(st.st_mode) ? 'd' : 'f');
	if (tfd < 0)
		return ctr_msg(a->msg, "mount", -tfd, "bind mount point ", target, NULL);
	r = mount(fd_path(sp, srcfd), fd_path(tp, tfd), NULL, MS_BIND | (rec ? MS_REC : 0), NULL);
	close(tfd);
	if (r < 0)
		return ctr_msg(a->msg, "mount", errno, "bind ", source, " on ", target, NULL);
	if (!flags)
		return 0;
	tfd = reopen_bound(a->rootfd, target, &st);
	if (tfd < 0)
		return ctr_msg(a->msg, "mount", -tfd, "reopen bind mount ", target, NULL);
	r = remount_fd(tfd, flags);
	close(tfd);
	if (r < 0)
		return ctr_msg(a->msg, "mount", -r, "remount ", target, flags & MS_RDONLY ? " read-only" : NULL, NULL);
	return 0;
}

static int do_bind(const struct apply_ctx *a, const struct ctr_mop *op)
{
	int src = open(op->source, O_PATH | O_CLOEXEC), r;

	if (src < 0)
		return ctr_msg(a->msg, "mount", errno, "bind source ", op->source, NULL);
	r = bind_to(a, op->source, src, op->target, op->rec, op->flags);
	close(src);
	return r;
}

static int do_sysfs(const struct apply_ctx *a, const struct ctr_mop *op)
{
	char p[40];
	int fd = ctr_open_in_root(a->rootfd, op->target, O_PATH | O_DIRECTORY, 'd'), src, r = 0;

	if (fd < 0)
		return ctr_msg(a->msg, "mount", -fd, "mount point ", op->target, NULL);
	if (mount(op->source, fd_path(p, fd), op->fstype, op->flags, op->data) == 0) {
		close(fd);
		return 0;
	}
	if (errno != EPERM) {
		r = ctr_msg(a->msg, "mount", errno, op->fstype, " on ", op->target, NULL);
		close(fd);
		return r;
	}
	close(fd);
	/* sysfs belongs to the network namespace: a user namespace that does
	 * not own it cannot mount a fresh one (host network). runc binds the
	 * host's; not recursively here, so the host's mounts below /sys
	 * (securityfs, debugfs, its cgroups) stay out. */
	src = open("/sys", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (src < 0)
		return ctr_msg(a->msg, "mount", errno, "bind source /sys", NULL, NULL);
	r = bind_to(a, "/sys", src, op->target, false,
		    (op->flags & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)));
	close(src);
	return r;
}

static int do_symlink(const struct apply_ctx *a, const struct ctr_mop *op)
{
	char dir[4096];
	const char *slash = strrchr(op->target, '/');
	size_t dlen = slash ? (size_t)(slash - op->target) : 0;
	int dfd, r = 0;

	if (!slash || dlen >= sizeof(dir))
		return ctr_msg(a->msg, "symlink", EINVAL, op->target, NULL, NULL);
	memcpy(dir, op->target, dlen);
	dir[dlen] = '\0';
	if (!dlen)
		dir[0] = '/', dir[1] = '\0';
	dfd = ctr_open_in_root(a->rootfd, dir, O_PATH | O_DIRECTORY, 'd');
	if (dfd < 0)
		return ctr_msg(a->msg, "symlink", -dfd, "directory of ", op->target, NULL);
	if (symlinkat(op->source, dfd, slash + 1) < 0 && errno != EEXIST)
		r = ctr_msg(a->msg, "symlink", errno, op->target, " -> ", op->source, NULL);
	close(dfd);
	return r;
}

static int mask_one(const struct apply_ctx *a, const char *target)
{
	char p[40], np[40];
	struct stat st;
	int fd = ctr_open_in_root(a->rootfd, target, O_PATH, 0), r = 0;

	if (fd == -ENOENT || fd == -ENOTDIR)
		return 0;
	if (fd < 0)
		return ctr_msg(a->msg, "mask", -fd, target, NULL, NULL);
	if (fstat(fd, &st) < 0) {
		r = ctr_msg(a->msg, "mask", errno, target, NULL, NULL);
	} else if (S_ISDIR(st.st_mode)) {
		if (mount("tmpfs", fd_path(p, fd), "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
			  "mode=555") < 0)
			r = ctr_msg(a->msg, "mask", errno, "tmpfs on ", target, NULL);
	} else {
		struct stat dn;
		int bfd;

		if (mount(fd_path(np, a->devnull), fd_path(p, fd), NULL, MS_BIND, NULL) < 0) {
			r = ctr_msg(a->msg, "mask", errno, "/dev/null on ", target, NULL);
		} else if (fstat(a->devnull, &dn) < 0) {
			r = ctr_msg(a->msg, "mask", errno, "stat the host's /dev/null", NULL, NULL);
		} else if ((bfd = reopen_bound(a->rootfd, target, &dn)) < 0) {
			r = ctr_msg(a->msg, "mask", -bfd, "reopen the mask on ", target, NULL);
		} else {
			/* read-only, as the device binds: the host's /dev/null
			 * must not be chmod-able through the mask */
			int rr = remount_fd(bfd, MS_RDONLY | MS_NOSUID | MS_NOEXEC);

			close(bfd);
			if (rr < 0)
				r = ctr_msg(a->msg, "mask", -rr, "remount read-only ", target, NULL);
		}
	}
	close(fd);
	return r;
}

static int do_mask_glob(const struct apply_ctx *a, const struct ctr_mop *op)
{
	/* getdents64 buffer; aligned for struct linux_dirent64 */
	char dbuf[4096] __attribute__((aligned(8)));
	size_t plen = strlen(op->source);
	int dfd = ctr_open_in_root(a->rootfd, op->target, O_RDONLY | O_DIRECTORY, 0), r = 0;
	long n;

	if (dfd == -ENOENT || dfd == -ENOTDIR)
		return 0;
	if (dfd < 0)
		return ctr_msg(a->msg, "mask", -dfd, op->target, NULL, NULL);
	while (r == 0 && (n = syscall(SYS_getdents64, dfd, dbuf, sizeof(dbuf))) > 0) {
		for (long off = 0; r == 0 && off < n;) {
			struct dirent64 *de = (struct dirent64 *)(dbuf + off);
			char path[4096];

			off += de->d_reclen;
			if (strncmp(de->d_name, op->source, plen) || de->d_name[0] == '.')
				continue;
			path[0] = '\0';
			str_add(path, sizeof(path), op->target);
			str_add(path, sizeof(path), "/");
			str_add(path, sizeof(path), de->d_name);
			str_add(path, sizeof(path), "/");
			str_add(path, sizeof(path), op->data);
			r = mask_one(a, path);
		}
	}
	if (r == 0 && n < 0)
		r = ctr_msg(a->msg, "mask", errno, "read directory ", op->target, NULL);
	close(dfd);
	return r;
}

static int do_readonly(const struct apply_ctx *a, const struct ctr_mop *op)
{
	char p[40];
	struct stat st;
	int fd = ctr_open_in_root(a->rootfd, op->target, O_PATH, 0), r;

	if (fd == -ENOENT || fd == -ENOTDIR)
		return 0;
	if (fd < 0)
		return ctr_msg(a->msg, "readonly path", -fd, op->target, NULL, NULL);
	if (fstat(fd, &st) < 0 || mount(fd_path(p, fd), p, NULL, MS_BIND | MS_REC, NULL) < 0) {
		r = ctr_msg(a->msg, "readonly path", errno, "bind ", op->target, NULL);
		close(fd);
		return r;
	}
	close(fd);
	fd = reopen_bound(a->rootfd, op->target, &st);
	if (fd < 0)
		return ctr_msg(a->msg, "readonly path", -fd, "reopen ", op->target, NULL);
	r = remount_fd(fd, MS_RDONLY);
	close(fd);
	if (r < 0)
		return ctr_msg(a->msg, "readonly path", -r, "remount ", op->target, " read-only", NULL);
	return 0;
}

static int do_mkdir(const struct apply_ctx *a, const struct ctr_mop *op)
{
	int fd = ctr_open_in_root(a->rootfd, op->target, O_PATH | O_DIRECTORY, 'd');

	if (fd < 0)
		return ctr_msg(a->msg, "working directory", -fd, op->target, NULL, NULL);
	close(fd);
	return 0;
}

int ctr_mounts_apply(const struct ctr_mnt_plan *plan, int rootfd, struct ctr_child_msg *msg)
{
	struct apply_ctx a = { .rootfd = rootfd, .devnull = -1, .msg = msg };
	struct statfs sfs;
	struct stat st;
	int r = 0;

	/* Every mount goes through /proc/self/fd/N of the host's procfs: make
	 * sure that is what /proc is (CVE-2019-19921). */
	if (statfs("/proc/self/fd", &sfs) < 0)
		return ctr_msg(msg, "mount", errno, "statfs /proc/self/fd", NULL, NULL);
	if (sfs.f_type != PROC_SUPER_MAGIC)
		return ctr_msg(msg, "mount", EXDEV, "/proc of the runtime is not procfs", NULL, NULL);
	a.devnull = open("/dev/null", O_PATH | O_CLOEXEC);
	if (a.devnull < 0)
		return ctr_msg(msg, "mount", errno, "open the host's /dev/null", NULL, NULL);
	if (fstat(a.devnull, &st) < 0 || !S_ISCHR(st.st_mode) || st.st_rdev != makedev(1, 3)) {
		close(a.devnull);
		return ctr_msg(msg, "mount", ENODEV, "the host's /dev/null is not the null device",
			       NULL, NULL);
	}

	for (size_t i = 0; r == 0 && i < plan->n_ops; i++) {
		const struct ctr_mop *op = &plan->ops[i];

		switch (op->kind) {
		case CTR_MOP_FS:
			r = do_fs(&a, op);
			break;
		case CTR_MOP_SYSFS:
			r = do_sysfs(&a, op);
			break;
		case CTR_MOP_BIND:
			r = do_bind(&a, op);
			break;
		case CTR_MOP_SYMLINK:
			r = do_symlink(&a, op);
			break;
		case CTR_MOP_MASK:
			r = mask_one(&a, op->target);
			break;
		case CTR_MOP_MASK_GLOB:
			r = do_mask_glob(&a, op);
			break;
		case CTR_MOP_READONLY:
			r = do_readonly(&a, op);
			break;
		case CTR_MOP_MKDIR:
			r = do_mkdir(&a, op);
			break;
		case CTR_MOP_ROOT_FLAGS:
			r = remount_fd(rootfd, op->flags);
			if (r < 0)
				r = ctr_msg(msg, op->flags & MS_RDONLY ? "readonly rootfs" : "mount", -r,
					    "remount the root filesystem", NULL, NULL);
			break;
		}
	}
	close(a.devnull);
	return r;
}

/* --------------------------------------------------------- parent side */

static const char *keep(struct ctr_mnt_plan *p, char *s)
{
	p->owned = xreallocarray(p->owned, p->n_owned + 1, sizeof(*p->owned));
	p->owned[p->n_owned++] = s;
	return s;
}

static struct ctr_mop *add(struct ctr_mnt_plan *p, enum ctr_mop_kind kind, const char *target)
{
	struct ctr_mop *op;

	p->ops = xreallocarray(p->ops, p->n_ops + 1, sizeof(*p->ops));
	op = &p->ops[p->n_ops++];
	memset(op, 0, sizeof(*op));
	op->kind = kind;
	op->target = target;
	return op;
}

static void add_fs(struct ctr_mnt_plan *p, const char *target, const char *source, const char *fstype,
		   unsigned long flags, const char *data)
{
	struct ctr_mop *op = add(p, CTR_MOP_FS, target);

	op->source = source;
	op->fstype = fstype;
	op->flags = flags;
	op->data = data;
}

/* A container path: absolute, clean, not "/" itself, no "..". */
static int check_target(const char *what, const char *path, struct berr **err)
{
	cleanup_free char *clean = NULL;

	if (!path || path[0] != '/')
		return berr_set(err, EINVAL, "%s %s: not an absolute path", what, path ? path : "(null)");
	clean = fs_path_clean(path);
	if (strcmp(clean, path))
		return berr_set(err, EINVAL, "%s %s: not a clean path (want %s)", what, path, clean);
	if (!strcmp(path, "/"))
		return berr_set(err, EINVAL, "%s: cannot mount over the root", what);
	if (strlen(path) >= 4096)
		return berr_set(err, ENAMETOOLONG, "%s %.64s...: too long", what, path);
	return 0;
}

void ctr_mounts_plan_free(struct ctr_mnt_plan *plan)
{
	for (size_t i = 0; i < plan->n_owned; i++)
		free(plan->owned[i]);
	free(plan->owned);
	free(plan->ops);
	memset(plan, 0, sizeof(*plan));
}

int ctr_mounts_plan(const struct ctr_launch *l, struct ctr_mnt_plan *plan, struct berr **err)
{
	const struct ctr_spec *s = l->spec;
	bool priv = s->privileged;
	unsigned long sys_ro = priv ? 0 : MS_RDONLY;
	struct ctr_mop *op;
	int r;

	memset(plan, 0, sizeof(*plan));

	add_fs(plan, "/proc", "proc", "proc", MS_NOSUID | MS_NOEXEC | MS_NODEV, NULL);
	/* Device nodes are bind mounts with their own flags, so the tmpfs
	 * itself can be nodev: a node made with mknod there opens nothing. */
	add_fs(plan, "/dev", "tmpfs", "tmpfs", MS_NOSUID | MS_STRICTATIME | (priv ? 0 : MS_NODEV),
	       "mode=755,size=65536k");
	/* Read-only binds: a device node is the host's inode, and the
	 * container's root could otherwise chmod or chown the host's
	 * /dev/null. Reads and writes of a device do not need a writable
	 * mount (the device cgroup decides those). */
	for (size_t i = 0; i < ARRAY_SIZE(default_devices); i++) {
		const char *path = keep(plan, xasprintf("/dev/%s", default_devices[i]));

		op = add(plan, CTR_MOP_BIND, path);
		op->source = path;
		op->flags = MS_RDONLY | MS_NOSUID | MS_NOEXEC;
	}
	for (size_t i = 0; i < ARRAY_SIZE(default_symlinks); i++) {
		op = add(plan, CTR_MOP_SYMLINK, default_symlinks[i].path);
		op->source = default_symlinks[i].text;
	}
	add_fs(plan, "/dev/pts", "devpts", "devpts", MS_NOSUID | MS_NOEXEC,
	       "newinstance,ptmxmode=0666,mode=0620,gid=5");
	add_fs(plan, "/dev/shm", "shm", "tmpfs", MS_NOSUID | MS_NOEXEC | MS_NODEV,
	       keep(plan, xasprintf("mode=1777,size=%llu",
				    (unsigned long long)(s->shm_size ? s->shm_size : CTR_DEFAULT_SHM_BYTES))));
	add_fs(plan, "/dev/mqueue", "mqueue", "mqueue", MS_NOSUID | MS_NOEXEC | MS_NODEV, NULL);
	op = add(plan, CTR_MOP_SYSFS, "/sys");
	op->source = "sysfs";
	op->fstype = "sysfs";
	op->flags = sys_ro | MS_NOSUID | MS_NOEXEC | MS_NODEV;
	/* after the child's unshare(CLONE_NEWCGROUP): the container sees its
	 * own cgroup as the root */
	add_fs(plan, "/sys/fs/cgroup", "cgroup", "cgroup2", sys_ro | MS_NOSUID | MS_NOEXEC | MS_NODEV,
	       NULL);

	for (size_t i = 0; i < s->n_devices; i++) {
		const struct ctr_device *d = &s->devices[i];

		if ((r = check_target("device", d->container_path, err)) < 0)
			return r;
		if (!d->host_path || d->host_path[0] != '/')
			return berr_set(err, EINVAL, "device %s: host path %s is not absolute",
					d->container_path, d->host_path ? d->host_path : "(null)");
		op = add(plan, CTR_MOP_BIND, d->container_path);
		op->source = d->host_path;
		/* read-only whatever the permissions: the mount flag only
		 * guards the host inode's metadata; "write" is the device
		 * cgroup's business */
		op->flags = MS_RDONLY | MS_NOSUID | MS_NOEXEC;
	}

	if (!priv) {
		for (size_t i = 0; i < ARRAY_SIZE(masked_paths); i++)
			add(plan, CTR_MOP_MASK, masked_paths[i]);
		op = add(plan, CTR_MOP_MASK_GLOB, "/sys/devices/system/cpu");
		op->source = "cpu";
		op->data = "thermal_throttle";
		for (size_t i = 0; i < ARRAY_SIZE(readonly_paths); i++)
			add(plan, CTR_MOP_READONLY, readonly_paths[i]);
	}

	for (size_t i = 0; i < s->n_mounts; i++) {
		const struct ctr_mount *m = &s->mounts[i];
		unsigned long flags = m->flags | (m->read_only ? MS_RDONLY : 0);

		if ((r = check_target("mount", m->target, err)) < 0)
			return r;
		switch (m->kind) {
		case CTR_MOUNT_BIND:
			if (!m->source || m->source[0] != '/')
				return berr_set(err, EINVAL, "mount %s: source %s is not an absolute path",
						m->target, m->source ? m->source : "(null)");
			op = add(plan, CTR_MOP_BIND, m->target);
			op->source = m->source;
			op->rec = true;
			op->flags = flags;
			break;
		case CTR_MOUNT_TMPFS:
			add_fs(plan, m->target, "tmpfs", "tmpfs", flags, m->data);
			break;
		default:
			return berr_set(err, EINVAL, "mount %s: unknown kind %d", m->target, (int)m->kind);
		}
	}

	if (s->cwd && strcmp(s->cwd, "/")) {
		if ((r = check_target("working directory", s->cwd, err)) < 0)
			return r;
		add(plan, CTR_MOP_MKDIR, s->cwd);
	}
	if (s->readonly_rootfs || !priv) {
		op = add(plan, CTR_MOP_ROOT_FLAGS, "/");
		op->flags = (s->readonly_rootfs ? MS_RDONLY : 0) | (priv ? 0 : MS_NODEV);
	}
	return 0;
}
