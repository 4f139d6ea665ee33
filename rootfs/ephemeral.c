/* rootfs/ephemeral.c - per-task ephemeral storage; see ephemeral.h and
 * docs/ephemeral-storage.md for why it is built this way. */
#include "ephemeral.h"

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/xalloc.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/dqblk_xfs.h>
#include <linux/fs.h>
#include <linux/loop.h>
#include <linux/magic.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/quota.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_quotactl_fd
#define SYS_quotactl_fd 443
#endif
#ifndef XFS_SUPER_MAGIC
#define XFS_SUPER_MAGIC 0x58465342
#endif

#define IMAGE_NAME  "disk.img"
#define FS_NAME     "fs"
#define LOCK_NAME   ".lock"
/* xfsprogs refuses smaller filesystems (outside its own test suite). */
#define XFS_MIN_BYTES (300 * ROOTFS_EPHEMERAL_MIB)
/* Loop devices tried before giving up on LOOP_CTL_GET_FREE races. */
#define LOOP_ATTEMPTS 64
/* Output of mkfs kept for the error message. */
#define MKFS_OUTPUT_MAX 2048

struct rootfs_ephemeral {
	enum rootfs_ephemeral_mech mech;
	char *task_id;
	char *base;        /* base_dir resolved */
	char *entry;       /* BASE/T */
	char *path;        /* BASE/T/fs */
	char *image;       /* BASE/T/disk.img */
	char *device;      /* /dev/loopN or NULL */
	char *mountinfo_path, *sys_block_path;
	int loop_nr;       /* -1: none known */
	bool dio;
	fsid_t fsid;       /* LOOP: of the mounted filesystem, to notice it went away */
	uint64_t size;
	uint32_t projid;
	int base_fd;       /* PRJQUOTA: base dir, for quotactl_fd */
};

/* Hand the error in *src to dst (or drop it); its return value. */
static int berr_move(struct berr **dst, struct berr **src)
{
	int rc = berr_rc(*src);

	if (dst) {
		berr_clear(dst);
		*dst = steal_pointer(src);
	} else {
		berr_clear(src);
	}
	return rc;
}

/* ------------------------------------------------------------ config, names */

void rootfs_ephemeral_config_init(struct rootfs_ephemeral_config *cfg, const char *base_dir)
{
	*cfg = (struct rootfs_ephemeral_config){
		.base_dir = base_dir,
		.mech = ROOTFS_EPHEMERAL_LOOP,
		.fstype = ROOTFS_EPHEMERAL_EXT4,
		.default_bytes = 20 * ROOTFS_EPHEMERAL_GIB,
		.min_bytes = 21 * ROOTFS_EPHEMERAL_GIB,
		.max_bytes = 200 * ROOTFS_EPHEMERAL_GIB,
		.direct_io = true,
		.mkfs_ext4 = "mkfs.ext4",
		.mkfs_xfs = "mkfs.xfs",
		.projid_min = UINT32_C(1) << 30,
		.projid_max = (UINT32_C(1) << 31) - 1,
	};
}

const char *rootfs_ephemeral_mech_name(enum rootfs_ephemeral_mech m)
{
	return m == ROOTFS_EPHEMERAL_PRJQUOTA ? "prjquota" : "loop";
}

int rootfs_ephemeral_mech_parse(const char *s, enum rootfs_ephemeral_mech *out)
{
	if (strcmp(s, "loop") == 0)
		*out = ROOTFS_EPHEMERAL_LOOP;
	else if (strcmp(s, "prjquota") == 0)
		*out = ROOTFS_EPHEMERAL_PRJQUOTA;
	else
		return -1;
	return 0;
}

const char *rootfs_ephemeral_fstype_name(enum rootfs_ephemeral_fstype t)
{
	return t == ROOTFS_EPHEMERAL_XFS ? "xfs" : "ext4";
}

int rootfs_ephemeral_fstype_parse(const char *s, enum rootfs_ephemeral_fstype *out)
{
	if (strcmp(s, "ext4") == 0)
		*out = ROOTFS_EPHEMERAL_EXT4;
	else if (strcmp(s, "xfs") == 0)
		*out = ROOTFS_EPHEMERAL_XFS;
	else
		return -1;
	return 0;
}

/* ------------------------------------------------------------- validation */

static bool whole_gib(uint64_t b)
{
	return b % ROOTFS_EPHEMERAL_GIB == 0;
}

int rootfs_ephemeral_size_from_gib(const struct rootfs_ephemeral_config *cfg, bool present,
				   int64_t gib, uint64_t *bytes, struct berr **err)
{
	if (!present) {
		*bytes = cfg->default_bytes;
		return 0;
	}
	if (gib < 0 || (uint64_t)gib > UINT64_MAX / ROOTFS_EPHEMERAL_GIB ||
	    (uint64_t)gib * ROOTFS_EPHEMERAL_GIB < cfg->min_bytes ||
	    (uint64_t)gib * ROOTFS_EPHEMERAL_GIB > cfg->max_bytes) {
		if (whole_gib(cfg->min_bytes) && whole_gib(cfg->max_bytes))
			return berr_set(err, 0, "ephemeralStorage.sizeInGiB: %" PRId64
					" out of range [%" PRIu64 ", %" PRIu64 "]", gib,
					cfg->min_bytes / ROOTFS_EPHEMERAL_GIB,
					cfg->max_bytes / ROOTFS_EPHEMERAL_GIB);
		return berr_set(err, 0, "ephemeralStorage.sizeInGiB: %" PRId64
				" out of range [%" PRIu64 " MiB, %" PRIu64 " MiB]", gib,
				cfg->min_bytes / ROOTFS_EPHEMERAL_MIB, cfg->max_bytes / ROOTFS_EPHEMERAL_MIB);
	}
	*bytes = (uint64_t)gib * ROOTFS_EPHEMERAL_GIB;
	return 0;
}

int rootfs_ephemeral_check_size(const struct rootfs_ephemeral_config *cfg, uint64_t bytes,
				struct berr **err)
{
	bool gib_form = whole_gib(bytes) && whole_gib(cfg->min_bytes) && whole_gib(cfg->max_bytes);
	uint64_t unit = gib_form ? ROOTFS_EPHEMERAL_GIB : ROOTFS_EPHEMERAL_MIB;
	const char *u = gib_form ? "" : " MiB";

	if (bytes == 0 || bytes % (cfg->allow_mib ? ROOTFS_EPHEMERAL_MIB : ROOTFS_EPHEMERAL_GIB) != 0)
		return berr_set(err, 0, "ephemeral storage size %" PRIu64 " bytes: not a whole "
				"number of %s", bytes, cfg->allow_mib ? "MiB" : "GiB");
	/* the default (20 GiB) is below Fargate's minimum for an explicit size */
	if (bytes != cfg->default_bytes && (bytes < cfg->min_bytes || bytes > cfg->max_bytes)) {
		if (gib_form)
			return berr_set(err, 0, "ephemeralStorage.sizeInGiB: %" PRIu64
					" out of range [%" PRIu64 ", %" PRIu64 "]", bytes / unit,
					cfg->min_bytes / unit, cfg->max_bytes / unit);
		return berr_set(err, 0, "ephemeral storage size %" PRIu64 "%s out of range [%"
				PRIu64 "%s, %" PRIu64 "%s]", bytes / unit, u, cfg->min_bytes / unit, u,
				cfg->max_bytes / unit, u);
	}
	if (cfg->mech == ROOTFS_EPHEMERAL_LOOP && cfg->fstype == ROOTFS_EPHEMERAL_XFS &&
	    bytes < XFS_MIN_BYTES)
		return berr_set(err, 0, "ephemeral storage size %" PRIu64 " MiB: xfs volumes "
				"need at least %" PRIu64 " MiB", bytes / ROOTFS_EPHEMERAL_MIB,
				XFS_MIN_BYTES / ROOTFS_EPHEMERAL_MIB);
	return 0;
}

static bool id_char(char c)
{
	return isalnum((unsigned char)c) || c == '-' || c == '_' || c == '.';
}

static bool task_id_ok(const char *id, size_t len)
{
	if (len == 0 || len > ROOTFS_EPHEMERAL_ID_MAX || id[0] == '.')
		return false;
	for (size_t i = 0; i < len; i++)
		if (!id_char(id[i]))
			return false;
	return true;
}

int rootfs_ephemeral_check_task_id(const char *task_id, struct berr **err)
{
	if (task_id == NULL || !task_id_ok(task_id, strlen(task_id)))
		return berr_set(err, 0, "task id \"%s\": want 1-%d of [A-Za-z0-9_.-], not "
				"starting with '.'", task_id ? task_id : "(null)",
				ROOTFS_EPHEMERAL_ID_MAX);
	return 0;
}

uint64_t rootfs_ephemeral_image_size(enum rootfs_ephemeral_fstype t, uint64_t bytes)
{
	uint64_t extra;

	/* Measured (docs/ephemeral-storage.md): ext4 (-T default, no
	 * journal, no resize inode) keeps 1.58% for inode tables, bitmaps
	 * and group descriptors, and holds min(2%, 16 MiB) back from
	 * f_bavail; xfs keeps a log of up to 64 MiB and per-AG reservations
	 * (0.9% at 20 GiB, 3.6% at 1 GiB). */
	if (t == ROOTFS_EPHEMERAL_XFS) {
		extra = bytes / 32 + 128 * ROOTFS_EPHEMERAL_MIB;
	} else {
		uint64_t resv = bytes / 49;

		if (resv > 16 * ROOTFS_EPHEMERAL_MIB)
			resv = 16 * ROOTFS_EPHEMERAL_MIB;
		extra = bytes / 60 + resv + ROOTFS_EPHEMERAL_MIB;
	}
	return (bytes + extra + ROOTFS_EPHEMERAL_MIB - 1) & ~(ROOTFS_EPHEMERAL_MIB - 1);
}

/* ------------------------------------------------------------------ paths */

/* base_dir made absolute and symlink-free, as mountinfo and sysfs show
 * paths. With `create`, made first. NULL with errno ENOENT when missing. */
static char *base_resolve(const struct rootfs_ephemeral_config *cfg, bool create,
			  struct berr **err)
{
	char *r;

	if (cfg->base_dir == NULL || cfg->base_dir[0] != '/') {
		berr_set(err, EINVAL, "ephemeral storage base dir \"%s\": want an absolute path",
			 cfg->base_dir ? cfg->base_dir : "(null)");
		return NULL;
	}
	if (create && fs_mkdir_p(cfg->base_dir, 0700, err) < 0) {
		berr_wrap(err, "ephemeral storage base dir");
		return NULL;
	}
	r = realpath(cfg->base_dir, NULL);
	if (r == NULL) {
		int e = errno;

		berr_set(err, e, "resolve ephemeral storage base dir %s", cfg->base_dir);
		errno = e;
		return NULL;
	}
	return r;
}

/* If p is BASE/<id>[/...], the length of <id> (valid ids only), else 0. */
static size_t id_under_base(const char *base, const char *p, const char **id)
{
	size_t bl = strlen(base), n;

	if (strncmp(p, base, bl) != 0 || p[bl] != '/')
		return 0;
	p += bl + 1;
	n = strcspn(p, "/");
	if (!task_id_ok(p, n))
		return 0;
	*id = p;
	return n;
}

static struct rootfs_ephemeral *handle_new(const struct rootfs_ephemeral_config *cfg,
					   const char *base, const char *task_id)
{
	struct rootfs_ephemeral *v = xzalloc(sizeof(*v));

	v->mech = cfg->mech;
	v->task_id = xstrdup(task_id);
	v->base = xstrdup(base);
	v->entry = fs_path_join(base, task_id);
	v->path = fs_path_join(v->entry, FS_NAME);
	v->image = fs_path_join(v->entry, IMAGE_NAME);
	v->mountinfo_path = xstrdup(cfg->mountinfo_path ? cfg->mountinfo_path : "/proc/self/mountinfo");
	v->sys_block_path = xstrdup(cfg->sys_block_path ? cfg->sys_block_path : "/sys/block");
	v->loop_nr = -1;
	v->base_fd = -1;
	return v;
}

void rootfs_ephemeral_free(struct rootfs_ephemeral *v)
{
	if (v == NULL)
		return;
	free(v->task_id);
	free(v->base);
	free(v->entry);
	free(v->path);
	free(v->image);
	free(v->device);
	free(v->mountinfo_path);
	free(v->sys_block_path);
	if (v->base_fd >= 0)
		close(v->base_fd);
	free(v);
}

const char *rootfs_ephemeral_path(const struct rootfs_ephemeral *v)
{
	return v->path;
}

const char *rootfs_ephemeral_task_id(const struct rootfs_ephemeral *v)
{
	return v->task_id;
}

uint64_t rootfs_ephemeral_size(const struct rootfs_ephemeral *v)
{
	return v->size;
}

const char *rootfs_ephemeral_device(const struct rootfs_ephemeral *v)
{
	return v->device;
}

bool rootfs_ephemeral_direct_io(const struct rootfs_ephemeral *v)
{
	return v->dio;
}

uint32_t rootfs_ephemeral_projid(const struct rootfs_ephemeral *v)
{
	return v->projid;
}

/* -------------------------------------------------------------- mountinfo */

struct mi_entry {
	unsigned major, minor;
	char *mnt;      /* mount point */
	char *fstype;
	char *source;
	char *opts;     /* superblock options, still escaped */
};

static void mi_free(struct mi_entry *m, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(m[i].mnt);
		free(m[i].fstype);
		free(m[i].source);
		free(m[i].opts);
	}
	free(m);
}

/* The kernel writes space, tab, newline and backslash in paths as \ooo. */
static char *unescape(const char *s, size_t len)
{
	char *r = xmalloc(len + 1), *w = r;

	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\\' && i + 3 < len &&
		    s[i + 1] >= '0' && s[i + 1] <= '3' && s[i + 2] >= '0' && s[i + 2] <= '7' &&
		    s[i + 3] >= '0' && s[i + 3] <= '7') {
			*w++ = (char)((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
			i += 3;
		} else {
			*w++ = s[i];
		}
	}
	*w = '\0';
	return r;
}

static int mountinfo_read(const char *path, struct mi_entry **out, size_t *n, struct berr **err)
{
	cleanup_free char *buf = NULL;
	struct mi_entry *v = NULL;
	size_t cnt = 0, cap = 0;
	char *line, *save = NULL;

	if (fs_read_file(path, &buf, NULL, 64 << 20, err) < 0)
		return berr_wrap(err, "read mount table");
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		/* id parent maj:min root mountpoint opts [optional...] - fstype source superopts */
		char *f[6] = { 0 }, *p = line, *sep;
		unsigned maj, min;
		int i;

		for (i = 0; i < 5 && p; i++) {
			f[i] = p;
			p = strchr(p, ' ');
			if (p)
				*p++ = '\0';
		}
		sep = p ? strstr(p, " - ") : NULL;
		if (i < 5 || sep == NULL || sscanf(f[2], "%u:%u", &maj, &min) != 2)
			continue;
		sep += 3;
		{
			char *fstype = sep, *source = strchr(fstype, ' '), *opts;

			if (source == NULL)
				continue;
			*source++ = '\0';
			opts = strchr(source, ' ');
			if (opts)
				*opts++ = '\0';
			if (cnt == cap) {
				cap = cap ? cap * 2 : 64;
				v = xreallocarray(v, cap, sizeof(*v));
			}
			v[cnt++] = (struct mi_entry){
				.major = maj, .minor = min,
				.mnt = unescape(f[4], strlen(f[4])),
				.fstype = xstrdup(fstype),
				.source = unescape(source, strlen(source)),
				.opts = xstrdup(opts ? opts : ""),
			};
		}
	}
	*out = v;
	*n = cnt;
	return 0;
}

/* Value of key=... among comma-separated superblock options, unescaped. */
static char *mi_opt(const char *opts, const char *key)
{
	size_t kl = strlen(key);

	for (const char *p = opts; *p;) {
		size_t l = strcspn(p, ",");

		if (l > kl && strncmp(p, key, kl) == 0 && p[kl] == '=')
			return unescape(p + kl + 1, l - kl - 1);
		p += l;
		if (*p == ',')
			p++;
	}
	return NULL;
}

/* ----------------------------------------------------------------- loop */

/* Backing file of loop device `name` (e.g. "loop3") from sysfs, with the
 * kernel's " (deleted)" suffix taken off. NULL when unbound. */
static char *loop_backing(const char *sys_block, const char *name)
{
	cleanup_free char *p = xasprintf("%s/%s/loop/backing_file", sys_block, name);
	char *s = NULL;
	size_t len;

	if (fs_read_file(p, &s, &len, PATH_MAX + 64, NULL) < 0)
		return NULL;
	while (len > 0 && s[len - 1] == '\n')
		s[--len] = '\0';
	if (len > 10 && strcmp(s + len - 10, " (deleted)") == 0)
		s[len - 10] = '\0';
	return s;
}

static bool loop_bound_to(const char *sys_block, int nr, const char *image)
{
	char name[32];
	cleanup_free char *b = NULL;

	snprintf(name, sizeof(name), "loop%d", nr);
	b = loop_backing(sys_block, name);
	return b && strcmp(b, image) == 0;
}

/* Detach loop device nr if it is still bound to image. The kernel only
 * marks it autoclear when the device is still open (mounted). */
static int loop_detach(const char *sys_block, int nr, const char *image, struct berr **err)
{
	char dev[32];
	cleanup_close int fd = -1;

	snprintf(dev, sizeof(dev), "/dev/loop%d", nr);
	fd = open(dev, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT || errno == ENXIO ? 0 : berr_set(err, errno, "open %s", dev);
	if (!loop_bound_to(sys_block, nr, image))   /* freed, maybe reused, meanwhile */
		return 0;
	if (ioctl(fd, LOOP_CLR_FD) < 0 && errno != ENXIO)
		return berr_set(err, errno, "detach %s from %s", dev, image);
	return 0;
}

/* Bind a free loop device to img_fd: LOOP_CONFIGURE (one ioctl, 5.8+),
 * else LOOP_SET_FD + LOOP_SET_STATUS64. Autoclear, so unmounting the
 * filesystem frees the device. Returns an fd of the device. */
static int loop_attach(int img_fd, const char *image, bool want_dio, bool legacy, int *nr_out,
		       bool *dio, struct berr **err)
{
	cleanup_close int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	static int have_configure = -1;   /* feature probe */

	if (ctl < 0)
		return berr_set(err, errno, "open /dev/loop-control");
	for (int attempt = 0; attempt < LOOP_ATTEMPTS; attempt++) {
		cleanup_close int fd = -1;
		struct loop_info64 info = { .lo_flags = LO_FLAGS_AUTOCLEAR };
		char dev[32];
		int nr = ioctl(ctl, LOOP_CTL_GET_FREE);

		if (nr < 0)
			return berr_set(err, errno, "find a free loop device");
		snprintf(dev, sizeof(dev), "/dev/loop%d", nr);
		fd = open(dev, O_RDWR | O_CLOEXEC);
		if (fd < 0) {
			if (errno == ENOENT || errno == ENXIO)   /* node not there yet, or gone */
				continue;
			return berr_set(err, errno, "open %s", dev);
		}
		snprintf((char *)info.lo_file_name, sizeof(info.lo_file_name), "%s", image);
		if (!legacy && __atomic_load_n(&have_configure, __ATOMIC_RELAXED) != 0) {
			struct loop_config lc = { .fd = (uint32_t)img_fd, .info = info };

			if (want_dio) {
				/* 4 KiB sectors let direct I/O work on 4Kn host disks */
				lc.block_size = 4096;
				lc.info.lo_flags |= LO_FLAGS_DIRECT_IO;
			}
			if (ioctl(fd, LOOP_CONFIGURE, &lc) == 0) {
				__atomic_store_n(&have_configure, 1, __ATOMIC_RELAXED);
				goto bound;
			}
			if (errno == EBUSY)   /* another process took it first */
				continue;
			if (errno != EINVAL && errno != ENOTTY)
				return berr_set(err, errno, "configure %s on %s", dev, image);
			__atomic_store_n(&have_configure, 0, __ATOMIC_RELAXED);
		}
		if (ioctl(fd, LOOP_SET_FD, img_fd) < 0) {
			if (errno == EBUSY)
				continue;
			return berr_set(err, errno, "bind %s to %s", dev, image);
		}
		if (ioctl(fd, LOOP_SET_STATUS64, &info) < 0) {
			int e = errno;

			ioctl(fd, LOOP_CLR_FD);
			return berr_set(err, e, "set autoclear on %s", dev);
		}
		if (want_dio) {
			ioctl(fd, LOOP_SET_BLOCK_SIZE, 4096UL);
			ioctl(fd, LOOP_SET_DIRECT_IO, 1UL);   /* refused where it cannot work */
		}
bound:
		{
			struct loop_info64 now;

			*dio = ioctl(fd, LOOP_GET_STATUS64, &now) == 0 &&
			       (now.lo_flags & LO_FLAGS_DIRECT_IO);
		}
		*nr_out = nr;
		return steal_fd(&fd);
	}
	return berr_set(err, EBUSY, "find a free loop device: lost the race %d times", LOOP_ATTEMPTS);
}

/* ----------------------------------------------------------------- mkfs */

static const char *mkfs_prog(const struct rootfs_ephemeral_config *cfg)
{
	if (cfg->fstype == ROOTFS_EPHEMERAL_XFS)
		return cfg->mkfs_xfs ? cfg->mkfs_xfs : "mkfs.xfs";
	return cfg->mkfs_ext4 ? cfg->mkfs_ext4 : "mkfs.ext4";
}

/* Run mkfs on the image file itself: on a regular file mke2fs knows a
 * discarded range reads back as zeroes, so it marks the inode tables
 * initialised and the kernel never zeroes them in the background. */
static int run_mkfs(const struct rootfs_ephemeral_config *cfg, const char *image, struct berr **err)
{
	const char *prog = mkfs_prog(cfg);
	const char *ext4[] = { prog, "-q", "-F", "-T", "default", "-b", "4096", "-I", "256", "-m", "0",
			       "-O", "^has_journal,^resize_inode",
			       "-E", "lazy_itable_init=1,lazy_journal_init=1", image, NULL };
	const char *xfs[] = { prog, "-q", "-f", "-s", "size=4096", image, NULL };
	/* a fixed environment: C messages, no MKE2FS_CONFIG from the caller */
	char *envp[] = { (char *)"LC_ALL=C", (char *)"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL };
	char out[MKFS_OUTPUT_MAX];
	size_t len = 0;
	posix_spawn_file_actions_t fa;
	int pipefd[2], status, r;
	pid_t pid;

	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return berr_set(err, errno, "pipe for %s", prog);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
	r = posix_spawnp(&pid, prog, &fa, NULL,
			 (char *const *)(cfg->fstype == ROOTFS_EPHEMERAL_XFS ? xfs : ext4), envp);
	posix_spawn_file_actions_destroy(&fa);
	close(pipefd[1]);
	if (r != 0) {
		close(pipefd[0]);
		return berr_set(err, r, "run %s", prog);
	}
	for (;;) {
		char chunk[512];
		ssize_t k = read(pipefd[0], chunk, sizeof(chunk));

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		/* keep the tail: mkfs says what went wrong last */
		if (len + (size_t)k >= sizeof(out)) {
			size_t drop = len + (size_t)k - (sizeof(out) - 1);

			if (drop > len)
				drop = len;
			memmove(out, out + drop, len - drop);
			len -= drop;
		}
		memcpy(out + len, chunk, (size_t)k < sizeof(out) - 1 - len ? (size_t)k : sizeof(out) - 1 - len);
		len += (size_t)k < sizeof(out) - 1 - len ? (size_t)k : sizeof(out) - 1 - len;
	}
	close(pipefd[0]);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return berr_set(err, errno, "wait for %s", prog);
	out[len] = '\0';
	while (len > 0 && (out[len - 1] == '\n' || out[len - 1] == ' '))
		out[--len] = '\0';
	for (char *c = out; *c; c++)
		if ((unsigned char)*c < ' ')
			*c = ' ';
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status))
		return berr_set(err, 0, "%s on %s exited with status %d%s%s", prog, image,
				WEXITSTATUS(status), len ? ": " : "", out);
	return berr_set(err, 0, "%s on %s killed by signal %d", prog, image, WTERMSIG(status));
}

/* --------------------------------------------------------------- quotas */

/* Project quota commands on the filesystem of the open directory fd:
 * quotactl_fd (5.14+), else quotactl on the block device named in
 * mountinfo. -1 with errno on failure. */
static int prj_quotactl_fd(int fd, const char *mountinfo, int cmd, uint32_t id, void *addr)
{
	static int have_fd_call = -1;   /* feature probe */
	struct mi_entry *m = NULL;
	size_t n = 0;
	struct stat st;
	int r = -1, e = ENODEV;

	if (__atomic_load_n(&have_fd_call, __ATOMIC_RELAXED) < 0) {
		/* ENOSYS also means "no quotas on this filesystem": probe the
		 * syscall itself with a bad fd */
		bool have = syscall(SYS_quotactl_fd, -1, QCMD(Q_XGETQSTAT, PRJQUOTA), 0, NULL) < 0 &&
			    errno != ENOSYS;

		__atomic_store_n(&have_fd_call, have, __ATOMIC_RELAXED);
	}
	if (__atomic_load_n(&have_fd_call, __ATOMIC_RELAXED) == 1)
		return (int)syscall(SYS_quotactl_fd, fd, QCMD(cmd, PRJQUOTA), id, addr);
	if (fstat(fd, &st) < 0 || mountinfo_read(mountinfo, &m, &n, NULL) < 0)
		return -1;
	for (size_t i = n; i-- > 0;)
		if (makedev(m[i].major, m[i].minor) == st.st_dev) {
			r = quotactl(QCMD(cmd, PRJQUOTA), m[i].source, (int)id, addr);
			e = errno;
			break;
		}
	mi_free(m, n);
	errno = e;
	return r;
}

static int prj_quotactl(const char *base, const char *mountinfo, int cmd, uint32_t id, void *addr)
{
	cleanup_close int fd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	return fd < 0 ? -1 : prj_quotactl_fd(fd, mountinfo, cmd, id, addr);
}

/* Is base on XFS with project quotas enforced? */
static int prj_check_base(const char *base, const char *mountinfo, struct berr **err)
{
	struct fs_quota_stat qs = { 0 };
	struct statfs sf;

	if (statfs(base, &sf) < 0)
		return berr_set(err, errno, "statfs %s", base);
	if ((uint32_t)sf.f_type != XFS_SUPER_MAGIC)
		return berr_set(err, EOPNOTSUPP, "ephemeral storage base %s: prjquota volumes need "
				"XFS (this filesystem has magic 0x%lx)", base, (unsigned long)sf.f_type);
	if (prj_quotactl(base, mountinfo, Q_XGETQSTAT, 0, &qs) < 0 && errno != ENOSYS)
		return berr_set(err, errno, "ephemeral storage base %s: read quota state", base);
	/* ENOSYS: mounted without any quota option */
	if (!(qs.qs_flags & FS_QUOTA_PDQ_ENFD))
		return berr_set(err, EOPNOTSUPP, "ephemeral storage base %s: project quotas are not "
				"enforced (mount the XFS filesystem with -o prjquota)", base);
	return 0;
}

static int prj_set_limit(const char *base, const char *mountinfo, uint32_t id, uint64_t bytes)
{
	struct fs_disk_quota q = {
		.d_version = FS_DQUOT_VERSION,
		.d_flags = FS_PROJ_QUOTA,
		.d_fieldmask = FS_DQ_BSOFT | FS_DQ_BHARD,
		.d_id = id,
		.d_blk_hardlimit = bytes / 512,   /* basic blocks */
		.d_blk_softlimit = bytes / 512,
	};

	return prj_quotactl(base, mountinfo, Q_XSETQLIM, id, &q);
}

/* 1 when project id is free (no dquot, or one with nothing in it), 0 when
 * taken, -1 on error. */
static int prj_id_free(const char *base, const char *mountinfo, uint32_t id)
{
	struct fs_disk_quota q = { 0 };

	if (prj_quotactl(base, mountinfo, Q_XGETQUOTA, id, &q) < 0)
		return errno == ENOENT ? 1 : -1;
	return q.d_blk_hardlimit == 0 && q.d_blk_softlimit == 0 && q.d_bcount == 0 &&
	       q.d_icount == 0;
}

static int dir_projid(int dfd, uint32_t *id)
{
	struct fsxattr fa;

	if (ioctl(dfd, FS_IOC_FSGETXATTR, &fa) < 0)
		return -1;
	*id = fa.fsx_projid;
	return 0;
}

static int dir_set_projid(int dfd, uint32_t id)
{
	struct fsxattr fa;

	if (ioctl(dfd, FS_IOC_FSGETXATTR, &fa) < 0)
		return -1;
	fa.fsx_projid = id;
	fa.fsx_xflags |= FS_XFLAG_PROJINHERIT;
	return ioctl(dfd, FS_IOC_FSSETXATTR, &fa);
}

static uint32_t fnv1a(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

static int lock_base(const char *base, struct berr **err)
{
	cleanup_free char *p = fs_path_join(base, LOCK_NAME);
	cleanup_close int fd = open(p, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);

	if (fd < 0)
		return berr_set(err, errno, "open %s", p);
	while (flock(fd, LOCK_EX) < 0)
		if (errno != EINTR)
			return berr_set(err, errno, "lock %s", p);
	return steal_fd(&fd);
}

/* --------------------------------------------------------------- create */

/* Tests: make step `step` fail, or die there. */
static bool fault(const struct rootfs_ephemeral_config *cfg, int step)
{
	if (cfg->fault_step != step)
		return false;
	if (cfg->fault_crash)
		raise(SIGKILL);
	errno = EIO;
	return true;
}

#define FAULT(n, what) do { \
	if (fault(cfg, (n))) { r = berr_set(err, EIO, "injected fault after step %d (%s)", (n), (what)); goto fail; } \
} while (0)

static int mkdir_entry(const char *entry, struct berr **err)
{
	if (mkdir(entry, 0700) == 0)
		return 0;
	if (errno == EEXIST)
		return berr_set(err, EEXIST, "%s already exists", entry);
	return berr_set(err, errno, "create %s", entry);
}

static void rollback_entry(const struct rootfs_ephemeral *v)
{
	cleanup_berr struct berr *e = NULL;

	if (fs_rm_rf_at(AT_FDCWD, v->entry, &e) < 0)
		log_warn("ephemeral storage of task %s: roll back: %s", v->task_id, berr_msg(e));
}

static int create_loop(const struct rootfs_ephemeral_config *cfg, struct rootfs_ephemeral *v,
		       struct berr **err)
{
	uint64_t img_size = rootfs_ephemeral_image_size(cfg->fstype, v->size);
	const char *fstype = rootfs_ephemeral_fstype_name(cfg->fstype);
	cleanup_close int img = -1, lfd = -1;
	bool mounted = false;
	struct statfs sf;
	int r;

	r = mkdir_entry(v->entry, err);
	if (r < 0)
		return r;
	FAULT(1, "entry made");
	img = open(v->image, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (img < 0) {
		r = berr_set(err, errno, "create %s", v->image);
		goto fail;
	}
	FAULT(2, "image made");
	if (ftruncate(img, (off_t)img_size) < 0) {
		r = berr_set(err, errno, "size %s to %" PRIu64 " bytes", v->image, img_size);
		goto fail;
	}
	FAULT(3, "image sized");
	r = run_mkfs(cfg, v->image, err);
	if (r < 0)
		goto fail;
	FAULT(4, "filesystem made");
	lfd = loop_attach(img, v->image, cfg->direct_io, cfg->loop_legacy, &v->loop_nr, &v->dio, err);
	if (lfd < 0) {
		r = lfd;
		goto fail;
	}
	v->device = xasprintf("/dev/loop%d", v->loop_nr);
	FAULT(5, "loop device bound");
	if (mkdir(v->path, 0755) < 0) {
		r = berr_set(err, errno, "create %s", v->path);
		goto fail;
	}
	FAULT(6, "mount point made");
	if (mount(v->device, v->path, fstype, MS_NODEV, NULL) < 0) {
		r = berr_set(err, errno, "mount %s (%s) on %s", v->device, fstype, v->path);
		goto fail;
	}
	mounted = true;
	if (statfs(v->path, &sf) < 0) {
		r = berr_set(err, errno, "statfs %s", v->path);
		goto fail;
	}
	v->fsid = sf.f_fsid;
	FAULT(7, "mounted");
	/* from here the mount holds the device; autoclear frees it at umount */
	return 0;

fail:
	if (mounted && umount2(v->path, UMOUNT_NOFOLLOW) < 0)
		log_warn("ephemeral storage of task %s: roll back: unmount %s: %m", v->task_id, v->path);
	if (lfd >= 0 && ioctl(lfd, LOOP_CLR_FD) < 0 && errno != ENXIO)
		log_warn("ephemeral storage of task %s: roll back: detach %s: %m", v->task_id, v->device);
	rollback_entry(v);
	return r;
}

static int create_prjquota(const struct rootfs_ephemeral_config *cfg, struct rootfs_ephemeral *v,
			   struct berr **err)
{
	const char *mi = v->mountinfo_path;
	uint32_t span = cfg->projid_max - cfg->projid_min + 1, start, id = 0;
	cleanup_close int lock = -1, dfd = -1;
	bool limited = false;
	int r;

	if (cfg->projid_min == 0 || cfg->projid_max < cfg->projid_min)
		return berr_set(err, EINVAL, "ephemeral storage: project id range [%" PRIu32 ", %"
				PRIu32 "] is empty or includes 0", cfg->projid_min, cfg->projid_max);
	r = prj_check_base(v->base, mi, err);
	if (r < 0)
		return r;
	r = mkdir_entry(v->entry, err);
	if (r < 0)
		return r;
	FAULT(1, "entry made");
	/* choosing an id and claiming it with a limit is one step for
	 * every creator of this base dir */
	lock = lock_base(v->base, err);
	if (lock < 0) {
		r = lock;
		goto fail;
	}
	start = fnv1a(v->task_id) % span;
	for (uint32_t i = 0; i < span && i < 4096; i++) {
		uint32_t cand = cfg->projid_min + (start + i) % span;
		int f = prj_id_free(v->base, mi, cand);

		if (f < 0) {
			r = berr_set(err, errno, "read project quota %" PRIu32 " on %s", cand, v->base);
			goto fail;
		}
		if (f) {
			id = cand;
			break;
		}
	}
	if (id == 0) {
		r = berr_set(err, ENOSPC, "ephemeral storage base %s: no free project id", v->base);
		goto fail;
	}
	if (prj_set_limit(v->base, mi, id, v->size) < 0) {
		r = berr_set(err, errno, "set a %" PRIu64 "-byte limit on project %" PRIu32 " of %s",
			     v->size, id, v->base);
		goto fail;
	}
	limited = true;
	v->projid = id;
	FAULT(2, "limit set");
	dfd = open(v->entry, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0 || dir_set_projid(dfd, id) < 0) {
		r = berr_set(err, errno, "set project %" PRIu32 " on %s", id, v->entry);
		goto fail;
	}
	cleanup_closep(&lock);
	lock = -1;
	FAULT(3, "project set");
	if (mkdirat(dfd, FS_NAME, 0755) < 0) {
		r = berr_set(err, errno, "create %s", v->path);
		goto fail;
	}
	FAULT(4, "dir made");
	v->base_fd = open(v->base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (v->base_fd < 0) {
		r = berr_set(err, errno, "open %s", v->base);
		goto fail;
	}
	return 0;

fail:
	rollback_entry(v);
	if (limited && prj_set_limit(v->base, mi, id, 0) < 0)
		log_warn("ephemeral storage of task %s: roll back: clear limit of project %" PRIu32
			 ": %m", v->task_id, id);
	return r;
}

int rootfs_ephemeral_create(const struct rootfs_ephemeral_config *cfg, const char *task_id,
			    uint64_t size_bytes, struct rootfs_ephemeral **out, struct berr **err)
{
	cleanup_free char *base = NULL;
	struct rootfs_ephemeral *v;
	int r;

	if (rootfs_ephemeral_check_task_id(task_id, err) < 0 ||
	    rootfs_ephemeral_check_size(cfg, size_bytes, err) < 0)
		return berr_wrap(err, "ephemeral storage");
	base = base_resolve(cfg, true, err);
	if (base == NULL)
		return berr_wrap(err, "ephemeral storage of task %s", task_id);
	v = handle_new(cfg, base, task_id);
	v->size = size_bytes;
	if (cfg->mech == ROOTFS_EPHEMERAL_PRJQUOTA)
		r = create_prjquota(cfg, v, err);
	else
		r = create_loop(cfg, v, err);
	if (r < 0) {
		rootfs_ephemeral_free(v);
		return berr_wrap(err, "ephemeral storage of task %s", task_id);
	}
	*out = v;
	return 0;
}

int rootfs_ephemeral_open(const struct rootfs_ephemeral_config *cfg, const char *task_id,
			  struct rootfs_ephemeral **out, struct berr **err)
{
	cleanup_free char *base = NULL;
	struct rootfs_ephemeral *v;
	struct stat st;
	int r = 0;

	if (rootfs_ephemeral_check_task_id(task_id, err) < 0)
		return -1;
	base = base_resolve(cfg, false, err);
	if (base == NULL)
		return -1;
	v = handle_new(cfg, base, task_id);
	if (stat(v->path, &st) < 0) {
		r = berr_set(err, errno, "ephemeral storage of task %s: %s", task_id, v->path);
	} else if (cfg->mech == ROOTFS_EPHEMERAL_LOOP) {
		struct mi_entry *m = NULL;
		size_t n = 0;
		struct statfs sf;

		r = mountinfo_read(v->mountinfo_path, &m, &n, err);
		enum rootfs_ephemeral_fstype fst = cfg->fstype;

		for (size_t i = n; r == 0 && i-- > 0;)
			if (strcmp(m[i].mnt, v->path) == 0) {
				if (sscanf(m[i].source, "/dev/loop%d", &v->loop_nr) == 1)
					v->device = xstrdup(m[i].source);
				rootfs_ephemeral_fstype_parse(m[i].fstype, &fst);
				break;
			}
		mi_free(m, n);
		if (r == 0 && v->device == NULL)
			r = berr_set(err, ENOENT, "ephemeral storage of task %s: %s is not mounted "
				     "from a loop device", task_id, v->path);
		if (r == 0 && (stat(v->image, &st) < 0 || statfs(v->path, &sf) < 0))
			r = berr_set(err, errno, "ephemeral storage of task %s: %s", task_id, v->image);
		if (r == 0) {
			char sysf[96];
			cleanup_free char *d = NULL;

			v->fsid = sf.f_fsid;
			/* the size asked for is what the image was grown from */
			v->size = (uint64_t)sf.f_blocks * (uint64_t)sf.f_frsize;
			for (uint64_t mib = (uint64_t)st.st_size / ROOTFS_EPHEMERAL_MIB; mib > 0; mib--)
				if (rootfs_ephemeral_image_size(fst, mib * ROOTFS_EPHEMERAL_MIB) <=
				    (uint64_t)st.st_size) {
					v->size = mib * ROOTFS_EPHEMERAL_MIB;
					break;
				}
			snprintf(sysf, sizeof(sysf), "%s/loop%d/loop/dio", v->sys_block_path, v->loop_nr);
			v->dio = fs_read_file(sysf, &d, NULL, 16, NULL) == 0 && d[0] == '1';
		}
	} else {
		cleanup_close int dfd = open(v->entry, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		struct fs_disk_quota q = { 0 };

		if (dfd < 0 || dir_projid(dfd, &v->projid) < 0)
			r = berr_set(err, errno, "ephemeral storage of task %s: project of %s", task_id,
				     v->entry);
		else if (v->projid < cfg->projid_min || v->projid > cfg->projid_max)
			r = berr_set(err, ENOENT, "ephemeral storage of task %s: %s has project %" PRIu32
				     ", not one of berth's", task_id, v->entry, v->projid);
		else if (prj_quotactl(v->base, v->mountinfo_path, Q_XGETQUOTA, v->projid, &q) < 0)
			r = berr_set(err, errno, "ephemeral storage of task %s: quota of project %" PRIu32,
				     task_id, v->projid);
		else if ((v->base_fd = open(v->base, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
			r = berr_set(err, errno, "open %s", v->base);
		else
			v->size = q.d_blk_hardlimit * 512;
	}
	if (r < 0) {
		rootfs_ephemeral_free(v);
		return r;
	}
	*out = v;
	return 0;
}

/* ---------------------------------------------------------------- usage */

int rootfs_ephemeral_usage(const struct rootfs_ephemeral *v, uint64_t *used, uint64_t *reserved,
			   struct berr **err)
{
	if (v->mech == ROOTFS_EPHEMERAL_PRJQUOTA) {
		struct fs_disk_quota q = { 0 };

		if (prj_quotactl_fd(v->base_fd, v->mountinfo_path, Q_XGETQUOTA, v->projid, &q) < 0)
			return berr_set(err, errno, "ephemeral storage of task %s: read quota of "
					"project %" PRIu32, v->task_id, v->projid);
		*used = q.d_bcount * 512;
	} else {
		struct statfs sf;

		if (statfs(v->path, &sf) < 0)
			return berr_set(err, errno, "ephemeral storage of task %s: statfs %s",
					v->task_id, v->path);
		if (memcmp(&sf.f_fsid, &v->fsid, sizeof(sf.f_fsid)) != 0)
			return berr_set(err, ENOENT, "ephemeral storage of task %s: %s is no longer "
					"mounted", v->task_id, v->path);
		*used = (uint64_t)(sf.f_blocks - sf.f_bfree) * (uint64_t)sf.f_frsize;
	}
	*reserved = v->size;
	return 0;
}

/* ---------------------------------------------------------------- remove */

/* Unmount path until nothing is mounted there; a busy mount is detached
 * lazily (its filesystem, and loop device, go when the last user does). */
static int umount_all(const char *task_id, const char *path, struct berr **err)
{
	for (int i = 0; i < 16; i++) {
		if (umount2(path, UMOUNT_NOFOLLOW) == 0)
			continue;
		if (errno == EINVAL || errno == ENOENT)   /* not (or no longer) a mount point */
			return 0;
		if (errno != EBUSY)
			return berr_set(err, errno, "unmount %s", path);
		log_warn("ephemeral storage of task %s: %s is busy; detaching it", task_id, path);
		if (umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW) < 0 && errno != EINVAL)
			return berr_set(err, errno, "detach %s", path);
	}
	return berr_set(err, EBUSY, "unmount %s: still mounted after 16 unmounts", path);
}

/* After the last unmount autoclear unbinds the device at once, unless
 * someone else has it open: udev's blkid for a moment (wait for it), or a
 * filesystem still alive elsewhere (give up after LOOP_SETTLE_MS). */
#define LOOP_SETTLE_MS 1000
static bool loop_still_bound(const char *sys_block, int nr, const char *image)
{
	for (int waited = 0; loop_bound_to(sys_block, nr, image); waited += 10) {
		if (waited >= LOOP_SETTLE_MS)
			return true;
		nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000 * 1000 }, NULL);
	}
	return false;
}

int rootfs_ephemeral_destroy(struct rootfs_ephemeral *v, struct berr **err)
{
	cleanup_berr struct berr *e = NULL;
	bool unmounted;
	int r = 0;

	if (v == NULL)
		return 0;
	/* every step runs whatever an earlier one said; the first error is
	 * the one reported */
	unmounted = umount_all(v->task_id, v->path, &e) == 0;
	if (!unmounted)
		r = berr_move(err, &e);
	if (v->loop_nr >= 0 && unmounted && loop_still_bound(v->sys_block_path, v->loop_nr, v->image)) {
		/* unmounted, yet bound: an overlay or a mount in another
		 * namespace still holds the filesystem; the device goes
		 * (autoclear) when that is released */
		loop_detach(v->sys_block_path, v->loop_nr, v->image, NULL);
		if (r == 0)
			r = berr_set(err, EBUSY, "%s still holds %s after unmounting %s (an overlay "
				     "over it, or a mount in another namespace?)", v->device, v->image,
				     v->path);
	}
	/* a mount left in place stops the removal there (EXDEV) */
	if (fs_rm_rf_at(AT_FDCWD, v->entry, &e) < 0) {
		if (r == 0)
			r = berr_move(err, &e);
	} else if (v->projid != 0 && prj_set_limit(v->base, v->mountinfo_path, v->projid, 0) < 0 &&
		   errno != ENOENT && r == 0) {
		r = berr_set(err, errno, "clear the limit of project %" PRIu32, v->projid);
	}
	if (r < 0)
		berr_wrap(err, "remove ephemeral storage of task %s", v->task_id);
	rootfs_ephemeral_free(v);
	return r;
}

/* ----------------------------------------------------------------- stale */

struct scan {
	struct rootfs_ephemeral_stale *s;
	bool *alive;
	size_t n, cap;
};

static struct rootfs_ephemeral_stale *scan_get(struct scan *sc, const char *id, size_t len)
{
	for (size_t i = 0; i < sc->n; i++)
		if (strlen(sc->s[i].task_id) == len && strncmp(sc->s[i].task_id, id, len) == 0)
			return &sc->s[i];
	if (sc->n == sc->cap) {
		sc->cap = sc->cap ? sc->cap * 2 : 16;
		sc->s = xreallocarray(sc->s, sc->cap, sizeof(*sc->s));
		sc->alive = xreallocarray(sc->alive, sc->cap, sizeof(*sc->alive));
	}
	sc->s[sc->n] = (struct rootfs_ephemeral_stale){ .task_id = xstrndup(id, len) };
	sc->s[sc->n].mounts = xzalloc(sizeof(char *));
	sc->alive[sc->n] = false;
	return &sc->s[sc->n++];
}

static void stale_add_mount(struct rootfs_ephemeral_stale *s, const char *mnt)
{
	size_t k = 0;

	while (s->mounts[k])
		k++;
	s->mounts = xreallocarray(s->mounts, k + 2, sizeof(char *));
	s->mounts[k] = xstrdup(mnt);
	s->mounts[k + 1] = NULL;
}

void rootfs_ephemeral_stale_free(struct rootfs_ephemeral_stale *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(s[i].task_id);
		strv_free(s[i].mounts);
		free(s[i].loops);
	}
	free(s);
}

static int cmp_stale(const void *a, const void *b)
{
	return strcmp(((const struct rootfs_ephemeral_stale *)a)->task_id,
		      ((const struct rootfs_ephemeral_stale *)b)->task_id);
}

/* Everything under base, by task id, alive or not. */
static int scan_all(const struct rootfs_ephemeral_config *cfg, const char *base, struct scan *sc,
		    struct berr **err)
{
	const char *mipath = cfg->mountinfo_path ? cfg->mountinfo_path : "/proc/self/mountinfo";
	const char *sysblk = cfg->sys_block_path ? cfg->sys_block_path : "/sys/block";
	cleanup_closedir DIR *d = opendir(base);
	struct mi_entry *m = NULL;
	struct dirent *de;
	size_t n = 0;

	if (d == NULL)
		return berr_set(err, errno, "read %s", base);
	while ((errno = 0, de = readdir(d)) != NULL) {
		struct rootfs_ephemeral_stale *s;
		cleanup_close int fd = -1;

		if (!task_id_ok(de->d_name, strlen(de->d_name)))
			continue;
		fd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			continue;   /* not a directory: not ours */
		s = scan_get(sc, de->d_name, strlen(de->d_name));
		s->has_entry = true;
		if (dir_projid(fd, &s->projid) < 0 || s->projid < cfg->projid_min ||
		    s->projid > cfg->projid_max)
			s->projid = 0;
	}
	if (errno != 0)
		return berr_set(err, errno, "read %s", base);

	if (mountinfo_read(mipath, &m, &n, err) < 0)
		return -1;
	/* last mounted first: overlays over the volume before the volume,
	 * mounts inside it before it */
	for (size_t i = n; i-- > 0;) {
		const char *id = NULL;
		size_t len = id_under_base(base, m[i].mnt, &id);

		if (len == 0 && strcmp(m[i].fstype, "overlay") == 0) {
			const char *keys[] = { "upperdir", "workdir" };

			for (size_t k = 0; k < 2 && len == 0; k++) {
				cleanup_free char *dir = mi_opt(m[i].opts, keys[k]);

				if (dir && (len = id_under_base(base, dir, &id)) > 0)
					stale_add_mount(scan_get(sc, id, len), m[i].mnt);
			}
			continue;
		}
		if (len > 0)
			stale_add_mount(scan_get(sc, id, len), m[i].mnt);
	}
	mi_free(m, n);

	{
		cleanup_closedir DIR *sb = opendir(sysblk);

		while (sb && (de = readdir(sb)) != NULL) {
			cleanup_free char *file = NULL;
			struct rootfs_ephemeral_stale *s;
			const char *id = NULL;
			size_t len;
			int nr;
			char tail;

			if (sscanf(de->d_name, "loop%d%c", &nr, &tail) != 1)
				continue;
			file = loop_backing(sysblk, de->d_name);
			if (file == NULL || (len = id_under_base(base, file, &id)) == 0 ||
			    strcmp(id + len, "/" IMAGE_NAME) != 0)
				continue;
			s = scan_get(sc, id, len);
			s->loops = xreallocarray(s->loops, s->n_loops + 1, sizeof(int));
			s->loops[s->n_loops++] = nr;
		}
	}
	for (size_t i = 0; i < sc->n; i++)
		sc->alive[i] = cfg->task_alive && cfg->task_alive(sc->s[i].task_id, cfg->task_alive_data);
	return 0;
}

static void scan_free(struct scan *sc)
{
	rootfs_ephemeral_stale_free(sc->s, sc->n);
	free(sc->alive);
}

int rootfs_ephemeral_find_stale(const struct rootfs_ephemeral_config *cfg,
				struct rootfs_ephemeral_stale **out, size_t *n, struct berr **err)
{
	cleanup_free char *base = NULL;
	struct scan sc = { 0 };
	size_t k = 0;

	*out = NULL;
	*n = 0;
	base = base_resolve(cfg, false, err);
	if (base == NULL)
		return errno == ENOENT ? (berr_clear(err), 0) : -1;
	if (scan_all(cfg, base, &sc, err) < 0) {
		scan_free(&sc);
		return -1;
	}
	for (size_t i = 0; i < sc.n; i++) {
		if (sc.alive[i]) {
			free(sc.s[i].task_id);
			strv_free(sc.s[i].mounts);
			free(sc.s[i].loops);
			continue;
		}
		sc.s[k++] = sc.s[i];
	}
	free(sc.alive);
	qsort(sc.s, k, sizeof(*sc.s), cmp_stale);
	*out = sc.s;
	*n = k;
	return 0;
}

/* Take one volume apart, given what the scan found. */
static int remove_found(const char *base, const char *mountinfo, const char *sys_block,
			const struct rootfs_ephemeral_stale *s, struct berr **err)
{
	cleanup_free char *entry = fs_path_join(base, s->task_id);
	cleanup_free char *image = fs_path_join(entry, IMAGE_NAME);

	for (size_t i = 0; s->mounts[i]; i++)
		if (umount_all(s->task_id, s->mounts[i], err) < 0)
			return -1;
	for (size_t i = 0; i < s->n_loops; i++)
		if (loop_detach(sys_block, s->loops[i], image, err) < 0)
			return -1;
	if (s->has_entry && fs_rm_rf_at(AT_FDCWD, entry, err) < 0)
		return -1;
	if (s->projid != 0 && prj_set_limit(base, mountinfo, s->projid, 0) < 0 && errno != ENOENT)
		return berr_set(err, errno, "clear the limit of project %" PRIu32, s->projid);
	return 0;
}

int rootfs_ephemeral_remove(const struct rootfs_ephemeral_config *cfg, const char *task_id,
			    struct berr **err)
{
	const char *mipath = cfg->mountinfo_path ? cfg->mountinfo_path : "/proc/self/mountinfo";
	const char *sysblk = cfg->sys_block_path ? cfg->sys_block_path : "/sys/block";
	cleanup_free char *base = NULL;
	struct scan sc = { 0 };
	int r = 0;

	if (rootfs_ephemeral_check_task_id(task_id, err) < 0)
		return -1;
	base = base_resolve(cfg, false, err);
	if (base == NULL)
		return errno == ENOENT ? (berr_clear(err), 0) : -1;
	r = scan_all(cfg, base, &sc, err);
	for (size_t i = 0; r == 0 && i < sc.n; i++)
		if (strcmp(sc.s[i].task_id, task_id) == 0)
			r = remove_found(base, mipath, sysblk, &sc.s[i], err);
	scan_free(&sc);
	return r < 0 ? berr_wrap(err, "remove ephemeral storage of task %s", task_id) : 0;
}

/* Limits on berth's project ids that no live volume owns: left by a create
 * that died between setting the limit and marking its directory. */
static int clear_orphan_limits(const struct rootfs_ephemeral_config *cfg, const char *base,
			       const struct scan *sc, struct berr **err)
{
	const char *mipath = cfg->mountinfo_path ? cfg->mountinfo_path : "/proc/self/mountinfo";
	cleanup_close int lock = -1;
	struct statfs sf;
	uint32_t id = cfg->projid_min;
	int r = 0;

	if (statfs(base, &sf) < 0 || (uint32_t)sf.f_type != XFS_SUPER_MAGIC ||
	    prj_check_base(base, mipath, NULL) < 0)
		return 0;
	lock = lock_base(base, err);
	if (lock < 0)
		return lock;
	for (;;) {
		struct fs_disk_quota q = { 0 };
		bool owned = false;

		if (prj_quotactl(base, mipath, Q_XGETNEXTQUOTA, id, &q) < 0) {
			if (errno != ENOENT)
				r = berr_set(err, errno, "list project quotas of %s", base);
			break;
		}
		if (q.d_id > cfg->projid_max || q.d_id < id)
			break;
		for (size_t i = 0; i < sc->n; i++)
			if (sc->alive[i] && sc->s[i].projid == q.d_id)
				owned = true;
		if (!owned && (q.d_blk_hardlimit || q.d_blk_softlimit) &&
		    prj_set_limit(base, mipath, q.d_id, 0) < 0) {
			r = berr_set(err, errno, "clear the limit of project %" PRIu32, q.d_id);
			break;
		}
		if (q.d_id == UINT32_MAX)
			break;
		id = q.d_id + 1;
	}
	return r;
}

int rootfs_ephemeral_cleanup_stale(const struct rootfs_ephemeral_config *cfg, struct berr **err)
{
	const char *mipath = cfg->mountinfo_path ? cfg->mountinfo_path : "/proc/self/mountinfo";
	const char *sysblk = cfg->sys_block_path ? cfg->sys_block_path : "/sys/block";
	cleanup_free char *base = NULL;
	struct scan sc = { 0 };
	int r, removed = 0, first = 0;

	base = base_resolve(cfg, false, err);
	if (base == NULL)
		return errno == ENOENT ? (berr_clear(err), 0) : -1;
	r = scan_all(cfg, base, &sc, err);
	if (r < 0) {
		scan_free(&sc);
		return berr_wrap(err, "clean up ephemeral storage in %s", base);
	}
	for (size_t i = 0; i < sc.n; i++) {
		cleanup_berr struct berr *e = NULL;

		if (sc.alive[i])
			continue;
		if (remove_found(base, mipath, sysblk, &sc.s[i], &e) < 0) {
			log_warn("ephemeral storage of task %s: %s", sc.s[i].task_id, berr_msg(e));
			if (first == 0) {
				first = berr_move(err, &e);
				berr_wrap(err, "ephemeral storage of task %s", sc.s[i].task_id);
			}
			continue;
		}
		log_info("removed the stale ephemeral storage of task %s", sc.s[i].task_id);
		removed++;
	}
	if (first == 0) {
		cleanup_berr struct berr *e = NULL;

		if (clear_orphan_limits(cfg, base, &sc, &e) < 0)
			first = berr_move(err, &e);
	}
	scan_free(&sc);
	return first < 0 ? first : removed;
}
