/* common/fsutil.c - see fsutil.h */
#include "fsutil.h"
#include "cleanup.h"
#include "xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif

/* procfs root inode (PROC_ROOT_INO in the kernel). */
#define PROC_ROOT_INO 1

/* Feature probes, the only globals: -1 unknown, 0 missing, 1 present. */
static int have_openat2 = -1;
static int have_close_range = -1;
static bool force_fallback;

#define LOAD(v)     __atomic_load_n(&(v), __ATOMIC_RELAXED)
#define STORE(v, x) __atomic_store_n(&(v), (x), __ATOMIC_RELAXED)

void fs_force_fallback(bool on)
{
	STORE(force_fallback, on);
}

char *fs_fd_name(int fd)
{
	char link[64], buf[PATH_MAX];
	int saved = errno;
	ssize_t n;

	if (fd == AT_FDCWD)
		snprintf(link, sizeof(link), "/proc/self/cwd");
	else
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, buf, sizeof(buf));
	errno = saved;
	if (n <= 0 || (size_t)n >= sizeof(buf))
		return xstrdup(fd == AT_FDCWD ? "." : link);
	return xstrndup(buf, (size_t)n);
}

/* ------------------------------------------------------------ in-root open */

/* Identity of the mount an fd is on: st_dev, and the mount id when statx can
 * tell it (bind mounts of one filesystem share st_dev). */
struct mnt_ident {
	dev_t dev;
	uint64_t mnt_id;
	bool has_mnt_id;
};

static int mnt_ident_at(int dirfd, const char *name, int flags, struct mnt_ident *m)
{
	struct statx stx;
	struct stat st;

	if (statx(dirfd, name, flags, STATX_MNT_ID, &stx) == 0) {
		m->dev = makedev(stx.stx_dev_major, stx.stx_dev_minor);
		m->has_mnt_id = stx.stx_mask & STATX_MNT_ID;
		m->mnt_id = stx.stx_mnt_id;
		return 0;
	}
	if (errno != ENOSYS)
		return -errno;
	if (fstatat(dirfd, name, &st, flags) < 0)
		return -errno;
	m->dev = st.st_dev;
	m->has_mnt_id = false;
	return 0;
}

static int mnt_ident(int fd, struct mnt_ident *m)
{
	return mnt_ident_at(fd, "", AT_EMPTY_PATH, m);
}

static bool same_mount(const struct mnt_ident *a, const struct mnt_ident *b)
{
	if (a->dev != b->dev)
		return false;
	return !(a->has_mnt_id && b->has_mnt_id) || a->mnt_id == b->mnt_id;
}

static int do_openat2(int rootfd, const char *path, int flags, mode_t mode, unsigned resolve)
{
	struct open_how how = {
		.flags = (unsigned)flags,
		/* openat2 rejects a mode it would not use */
		.mode = (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? mode : 0,
		.resolve = resolve,
	};
	long fd;

	/* EAGAIN: a rename or mount raced with a ".." lookup; trying again is
	 * what the kernel asks for (unless the caller wanted RESOLVE_CACHED). */
	for (int tries = 0;; tries++) {
		fd = syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
		if (fd >= 0 || errno != EAGAIN || (resolve & RESOLVE_CACHED) || tries >= 64)
			break;
	}
	return fd < 0 ? -errno : (int)fd;
}

struct dir_ident {
	dev_t dev;
	ino_t ino;
};

/* State of the userspace walk. The ancestors of `cur` are kept as (dev, ino)
 * rather than fds so that deep paths do not use up the fd table; ".." opens
 * the real parent and checks it is the recorded one, so a directory moved out
 * of the root mid-walk is noticed (EAGAIN, as openat2 says) instead of
 * followed. */
struct walk {
	int rootfd;
	unsigned resolve;
	int cur;                 /* O_PATH fd of the directory reached */
	struct stat cur_st;
	struct dir_ident *up;    /* up[0] is the root, up[depth-1] cur's parent */
	size_t depth, cap;
	unsigned links;
	struct mnt_ident root_mnt;
	char *pending;              /* the path still to resolve */
};

static void walk_free(struct walk *w)
{
	cleanup_closep(&w->cur);
	free(w->up);
	free(w->pending);
}

static int walk_set_cur(struct walk *w, int fd)
{
	struct stat st;

	if (fstat(fd, &st) < 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	cleanup_closep(&w->cur);
	w->cur = fd;
	w->cur_st = st;
	return 0;
}

static int walk_to_root(struct walk *w)
{
	int fd = openat(w->rootfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	w->depth = 0;
	return walk_set_cur(w, fd);
}

static int walk_check_xdev(struct walk *w, int fd)
{
	struct mnt_ident m;
	int r;

	if (!(w->resolve & RESOLVE_NO_XDEV))
		return 0;
	r = mnt_ident(fd, &m);
	if (r < 0)
		return r;
	return same_mount(&m, &w->root_mnt) ? 0 : -EXDEV;
}

/* Magic links live on procfs only; there the ordinary symlinks are the few
 * in its root directory (self, thread-self, mounts, net). Everything else
 * (fd/N, exe, cwd, root, ns/...) jumps to an object rather than a path. */
static bool is_magic_link(int linkfd, const struct stat *parent_st)
{
	struct statfs sfs;

	if (fstatfs(linkfd, &sfs) < 0)
		return true;
	if (sfs.f_type != PROC_SUPER_MAGIC)
		return false;
	return parent_st->st_ino != PROC_ROOT_INO;
}

/* linkfd: O_PATH fd of a symlink found in w->cur; rest: what followed it in
 * w->pending. Replaces pending with target + rest. */
static int walk_follow(struct walk *w, int linkfd, const char *rest)
{
	char target[PATH_MAX];
	char *pending;
	ssize_t n;

	if (w->resolve & RESOLVE_NO_SYMLINKS)
		return -ELOOP;
	if (++w->links > FS_MAX_SYMLINKS)
		return -ELOOP;
	if ((w->resolve & RESOLVE_NO_MAGICLINKS) && is_magic_link(linkfd, &w->cur_st))
		return -ELOOP;
	n = readlinkat(linkfd, "", target, sizeof(target));
	if (n < 0)
		return -errno;
	if ((size_t)n >= sizeof(target))
		return -ENAMETOOLONG;
	if (n == 0)
		return -ENOENT;
	pending = xasprintf("%.*s%s", (int)n, target, rest);
	free(w->pending);
	w->pending = pending;
	/* an absolute target starts again at the root, as in a chroot */
	return target[0] == '/' ? walk_to_root(w) : 0;
}

static int walk_dotdot(struct walk *w)
{
	struct dir_ident *want;
	struct stat st;
	int fd, r;

	if (w->depth == 0)
		return 0;  /* ".." of the root is the root */
	fd = openat(w->cur, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	want = &w->up[w->depth - 1];
	if (st.st_dev != want->dev || st.st_ino != want->ino) {
		close(fd);
		return -EAGAIN;
	}
	r = walk_check_xdev(w, fd);
	if (r < 0) {
		close(fd);
		return r;
	}
	w->depth--;
	return walk_set_cur(w, fd);
}

static int walk_enter(struct walk *w, int fd)
{
	int r = walk_check_xdev(w, fd);

	if (r < 0) {
		close(fd);
		return r;
	}
	if (w->depth == w->cap) {
		w->cap = w->cap ? w->cap * 2 : 16;
		w->up = xreallocarray(w->up, w->cap, sizeof(*w->up));
	}
	w->up[w->depth++] = (struct dir_ident){ w->cur_st.st_dev, w->cur_st.st_ino };
	return walk_set_cur(w, fd);
}

/* A component with more path after it: enter it when it is a directory,
 * follow it when it is a symlink. 0 entered, 1 followed (w->pending replaced),
 * or -errno. */
static int walk_middle(struct walk *w, const char *name, const char *rest)
{
	struct stat st;
	int fd, r;

	fd = openat(w->cur, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	if (S_ISLNK(st.st_mode)) {
		r = walk_follow(w, fd, rest);
		close(fd);
		return r < 0 ? r : 1;
	}
	if (!S_ISDIR(st.st_mode)) {
		close(fd);
		return -ENOTDIR;
	}
	return walk_enter(w, fd);
}

/* Open the last component `name` of the path in w->cur. Returns 0 with the
 * fd in *out, 1 after following a symlink (w->pending replaced: keep walking),
 * or -errno. */
static int walk_last(struct walk *w, const char *name, const char *rest, int flags, mode_t mode,
		     int *out)
{
	bool follow = !(flags & O_NOFOLLOW);
	struct stat st;
	int fd, e, r;

	/* O_NOFOLLOW: a symlink swapped in after we looked is not followed by
	 * the kernel; we see it below and resolve it in the root ourselves. */
	fd = openat(w->cur, name, flags | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd >= 0) {
		if (fstat(fd, &st) < 0) {
			e = errno;
			close(fd);
			return -e;
		}
		if (S_ISLNK(st.st_mode) && follow) {
			/* O_PATH | O_NOFOLLOW opened the link itself */
			r = walk_follow(w, fd, rest);
			close(fd);
			return r < 0 ? r : 1;
		}
		r = walk_check_xdev(w, fd);
		if (r < 0) {
			close(fd);
			return r;
		}
		*out = fd;
		return 0;
	}
	e = errno;
	/* a trailing symlink gives ELOOP, or ENOTDIR with O_DIRECTORY */
	if (!follow || (e != ELOOP && e != ENOTDIR))
		return -e;
	fd = openat(w->cur, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -e;
	if (fstat(fd, &st) < 0 || !S_ISLNK(st.st_mode)) {
		close(fd);
		return -e;
	}
	r = walk_follow(w, fd, rest);
	close(fd);
	return r < 0 ? r : 1;
}

static int walk_open(int rootfd, const char *path, int flags, mode_t mode, unsigned resolve)
{
	struct walk w = { .rootfd = rootfd, .resolve = resolve, .cur = -1 };
	const char *p;
	int r;

	/* the kernel refuses these with RESOLVE_IN_ROOT, or does not know them */
	if (resolve & ~(RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS |
			RESOLVE_IN_ROOT | RESOLVE_CACHED))
		return -EINVAL;
	if (*path == '\0')
		return -ENOENT;
	if (strlen(path) >= PATH_MAX)
		return -ENAMETOOLONG;

	r = walk_to_root(&w);
	if (r < 0)
		goto out;
	if (resolve & RESOLVE_NO_XDEV) {
		r = mnt_ident(w.cur, &w.root_mnt);
		if (r < 0)
			goto out;
	}
	w.pending = xstrdup(path);
	p = w.pending;
	for (;;) {
		char name[NAME_MAX + 1];
		const char *rest;
		size_t len;
		int fd = -1;

		while (*p == '/')
			p++;
		if (*p == '\0') {
			/* the path ends at a directory ("", "a/..", "b/") */
			r = openat(w.cur, ".", flags | O_CLOEXEC, mode);
			if (r < 0)
				r = -errno;
			goto out;
		}
		len = strcspn(p, "/");
		if (len > NAME_MAX) {
			r = -ENAMETOOLONG;
			goto out;
		}
		memcpy(name, p, len);
		name[len] = '\0';
		rest = p + len;

		if (strcmp(name, ".") == 0) {
			p = rest;
			continue;
		}
		if (strcmp(name, "..") == 0) {
			r = walk_dotdot(&w);
			if (r < 0)
				goto out;
			p = rest;
			continue;
		}
		if (*rest == '\0') {
			r = walk_last(&w, name, rest, flags, mode, &fd);
			if (r < 0)
				goto out;
			if (r == 0) {
				r = fd;
				goto out;
			}
			p = w.pending;
			continue;
		}

		/* a directory on the way (or "name/" at the end) */
		r = walk_middle(&w, name, rest);
		if (r < 0)
			goto out;
		p = r == 1 ? w.pending : rest;
	}
out:
	walk_free(&w);
	return r;
}

int fs_open_in_root(int rootfd, const char *path, int flags, mode_t mode,
		    unsigned resolve, struct berr **err)
{
	int fd = -ENOSYS;

	resolve |= RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
	if (!LOAD(force_fallback) && LOAD(have_openat2) != 0) {
		fd = do_openat2(rootfd, path, flags | O_CLOEXEC, mode, resolve);
		if (fd == -ENOSYS)
			STORE(have_openat2, 0);
		else if (LOAD(have_openat2) < 0)
			STORE(have_openat2, 1);
	}
	/* EAGAIN: a directory moved while we walked; as for openat2, retry */
	if (fd == -ENOSYS) {
		int tries = 0;

		do
			fd = walk_open(rootfd, path, flags, mode, resolve);
		while (fd == -EAGAIN && ++tries < 64);
	}
	if (fd < 0) {
		cleanup_free char *root = fs_fd_name(rootfd);

		return berr_set(err, -fd, "open %s in root %s", path, root);
	}
	return fd;
}

int fs_mkdir_in_root(int rootfd, const char *path, mode_t mode, bool parents,
		     struct berr **err)
{
	cleanup_free char *prefix = xmalloc(strlen(path) + 2);
	cleanup_close int parent = -1;
	size_t plen = 0;
	const char *p = path;

	parent = fs_open_in_root(rootfd, "/", O_PATH | O_DIRECTORY, 0, 0, err);
	if (parent < 0)
		return parent;
	prefix[0] = '\0';
	for (;;) {
		cleanup_berr struct berr *e = NULL;
		char name[NAME_MAX + 1];
		size_t len;
		bool last;
		int fd;

		while (*p == '/')
			p++;
		if (*p == '\0')
			return steal_fd(&parent);
		len = strcspn(p, "/");
		if (len > NAME_MAX)
			return berr_set(err, ENAMETOOLONG, "create directory %s in root", path);
		memcpy(name, p, len);
		name[len] = '\0';
		p += len;
		last = p[strspn(p, "/")] == '\0';
		if (plen)
			prefix[plen++] = '/';
		memcpy(prefix + plen, name, len);
		plen += len;
		prefix[plen] = '\0';

		fd = fs_open_in_root(rootfd, prefix, O_PATH | O_DIRECTORY, 0, 0, &e);
		if (fd == -ENOENT && (parents || last)) {
			/* `parent` was resolved in the root and `name` is one
			 * component, so this cannot create outside it. */
			if (mkdirat(parent, name, mode) < 0 && errno != EEXIST) {
				cleanup_free char *root = fs_fd_name(rootfd);

				return berr_set(err, errno, "create directory %s in root %s",
						prefix, root);
			}
			berr_clear(&e);
			fd = fs_open_in_root(rootfd, prefix, O_PATH | O_DIRECTORY, 0, 0, &e);
		}
		if (fd < 0) {
			if (err) {
				berr_clear(err);
				*err = steal_pointer(&e);
			}
			return fd;
		}
		cleanup_closep(&parent);
		parent = fd;
	}
}

/* -------------------------------------------------------------- read/write */

static int read_all_named(int fd, const char *name, char **out, size_t *len, size_t max,
			  struct berr **err)
{
	/* never read more than max + 1 bytes: the extra byte tells "too big" */
	size_t limit = max == SIZE_MAX ? SIZE_MAX - 1 : max + 1;
	cleanup_free char *buf = NULL;
	size_t cap = 4096, n = 0;
	struct stat st;

	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
	    (uintmax_t)st.st_size < limit)
		cap = (size_t)st.st_size + 1;  /* +1 to see EOF without growing */
	if (cap > limit)
		cap = limit;
	buf = xmalloc(cap + 1);
	for (;;) {
		ssize_t r;

		if (n == cap) {
			if (n > max)
				break;
			cap = cap > limit / 2 ? limit : cap * 2;
			buf = xrealloc(buf, cap + 1);
		}
		r = read(fd, buf + n, cap - n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return berr_set(err, errno, "read %s", name);
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > max)
		return berr_set(err, EFBIG, "read %s: more than %zu bytes", name, max);
	buf[n] = '\0';
	if (len)
		*len = n;
	*out = steal_pointer(&buf);
	return 0;
}

int fs_read_all(int fd, char **out, size_t *len, size_t max, struct berr **err)
{
	cleanup_free char *name = fs_fd_name(fd);

	return read_all_named(fd, name, out, len, max, err);
}

int fs_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t r = write(fd, p, len);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return -EIO;
		p += r;
		len -= (size_t)r;
	}
	return 0;
}

int fs_read_file_at(int dirfd, const char *path, char **out, size_t *len, size_t max,
		    struct berr **err)
{
	cleanup_free char *name = NULL;
	cleanup_close int fd = -1;

	if (dirfd == AT_FDCWD || path[0] == '/') {
		name = xstrdup(path);
	} else {
		cleanup_free char *dir = fs_fd_name(dirfd);

		name = fs_path_join(dir, path);
	}
	fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return berr_set(err, errno, "open %s", name);
	return read_all_named(fd, name, out, len, max, err);
}

int fs_read_file(const char *path, char **out, size_t *len, size_t max, struct berr **err)
{
	return fs_read_file_at(AT_FDCWD, path, out, len, max, err);
}

static char *tmp_name(const char *base)
{
	static unsigned counter;  /* only spreads names; races are harmless */
	uint64_t r;

	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r))
		r = ((uint64_t)getpid() << 32) ^ (uint64_t)time(NULL) ^
		    __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
	/* keep the name under NAME_MAX whatever the length of base */
	return xasprintf(".%.200s.tmp-%016llx", base, (unsigned long long)r);
}

static int atomic_fail(int dfd, const char *tmp, int code, const char *what, const char *path,
		       struct berr **err)
{
	unlinkat(dfd, tmp, 0);
	return berr_set(err, code, "%s %s", what, path);
}

static int write_replace(const char *path, const void *buf, size_t len, mode_t mode, bool durable,
			 struct berr **err)
{
	cleanup_free char *dir = NULL, *tmp = NULL;
	cleanup_close int dfd = -1, fd = -1;
	const char *slash = strrchr(path, '/'), *base;
	int r;

	if (slash) {
		dir = slash == path ? xstrdup("/") : xstrndup(path, (size_t)(slash - path));
		base = slash + 1;
	} else {
		dir = xstrdup(".");
		base = path;
	}
	if (*base == '\0' || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
		return berr_set(err, EISDIR, "write %s", path);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return berr_set(err, errno, "write %s: open directory %s", path, dir);

	for (int tries = 0;; tries++) {
		free(tmp);
		tmp = tmp_name(base);
		fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0)
			break;
		if (errno != EEXIST || tries >= 100)
			return berr_set(err, errno, "write %s: create temporary file", path);
	}
	r = fs_write_all(fd, buf, len);
	if (r < 0)
		return atomic_fail(dfd, tmp, -r, "write", path, err);
	if (fchmod(fd, mode & 07777) < 0)
		return atomic_fail(dfd, tmp, errno, "set mode of", path, err);
	if (durable && fsync(fd) < 0)
		return atomic_fail(dfd, tmp, errno, "sync", path, err);
	/* some filesystems (NFS) report write errors only at close */
	if (close(steal_fd(&fd)) < 0)
		return atomic_fail(dfd, tmp, errno, "write", path, err);
	if (renameat(dfd, tmp, dfd, base) < 0)
		return atomic_fail(dfd, tmp, errno, "rename temporary file over", path, err);
	/* the rename is durable once the directory is; EINVAL: no dir fsync here */
	if (durable && fsync(dfd) < 0 && errno != EINVAL)
		return berr_set(err, errno, "sync directory of %s", path);
	return 0;
}

int fs_write_file_atomic(const char *path, const void *buf, size_t len, mode_t mode,
			 struct berr **err)
{
	return write_replace(path, buf, len, mode, true, err);
}

int fs_write_file_replace(const char *path, const void *buf, size_t len, mode_t mode,
			  struct berr **err)
{
	return write_replace(path, buf, len, mode, false, err);
}

/* ---------------------------------------------------------------- mkdir -p */

static int mkdir_one(const char *path, mode_t mode, struct berr **err)
{
	struct stat st;

	if (mkdir(path, mode) == 0)
		return 0;
	if (errno != EEXIST)
		return berr_set(err, errno, "create directory %s", path);
	if (stat(path, &st) < 0)
		return berr_set(err, errno, "create directory %s", path);
	if (!S_ISDIR(st.st_mode))
		return berr_set(err, ENOTDIR, "create directory %s", path);
	return 0;
}

int fs_mkdir_p(const char *path, mode_t mode, struct berr **err)
{
	cleanup_free char *p = xstrdup(path);
	char *s = p;

	if (*p == '\0')
		return berr_set(err, ENOENT, "create directory \"\"");
	for (;;) {
		int r;

		s += strspn(s, "/");
		if (*s == '\0')
			return 0;
		s += strcspn(s, "/");
		if (*s == '\0')
			return mkdir_one(p, mode, err);
		*s = '\0';
		r = mkdir_one(p, mode, err);
		*s = '/';
		if (r < 0)
			return r;
	}
}

/* ------------------------------------------------------------------ rm -rf */

struct rm_frame {
	char *name;   /* name in the parent directory */
	dev_t dev;
	ino_t ino;
};

struct rm_state {
	struct rm_frame *f;
	size_t depth, cap;
	const char *display;      /* name as the caller gave it, for messages */
	struct mnt_ident ref;     /* mount the whole tree must be on */
};

static void rm_state_free(struct rm_state *s)
{
	for (size_t i = 0; i < s->depth; i++)
		free(s->f[i].name);
	free(s->f);
}

/* "<display>/a/b/<name>" for messages; frame 0 is display itself. */
static char *rm_path(const struct rm_state *s, const char *name)
{
	char *p = xstrdup(s->display), *q;

	if (s->depth == 0)
		return p;

	for (size_t i = 1; i < s->depth; i++) {
		q = fs_path_join(p, s->f[i].name);
		free(p);
		p = q;
	}
	if (name) {
		q = fs_path_join(p, name);
		free(p);
		p = q;
	}
	return p;
}

static int rm_fail(const struct rm_state *s, const char *name, int code, const char *what,
		   struct berr **err)
{
	cleanup_free char *p = rm_path(s, name);

	return berr_set(err, code, "remove %s%s", p, what);
}

/* Open directory `name` of `dirfd` that fstatat reported as `st`, making sure
 * it is still that directory and on the reference mount; push a frame. */
static int rm_enter(struct rm_state *s, int dirfd, const char *name, const struct stat *st,
		    struct berr **err)
{
	struct mnt_ident m;
	struct stat now;
	int fd, r;

	r = mnt_ident_at(dirfd, name, AT_SYMLINK_NOFOLLOW, &m);
	if (r < 0)
		return rm_fail(s, name, -r, "", err);
	if (!same_mount(&m, &s->ref))
		return rm_fail(s, name, EXDEV,
			       ": another filesystem or mount is there, not descending", err);
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return rm_fail(s, name, errno, "", err);
	if (fstat(fd, &now) < 0 || now.st_dev != st->st_dev || now.st_ino != st->st_ino) {
		close(fd);
		return rm_fail(s, name, EAGAIN, ": changed while being removed", err);
	}
	if (s->depth == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 16;
		s->f = xreallocarray(s->f, s->cap, sizeof(*s->f));
	}
	s->f[s->depth++] = (struct rm_frame){ xstrdup(name), st->st_dev, st->st_ino };
	return fd;
}

/* Remove the directory `base` of pfd and everything below, depth first,
 * holding only a couple of fds however deep the tree is: the way back up is
 * "..", checked against the recorded parent. */
static int rm_tree(struct rm_state *s, int pfd, const char *base, const struct stat *st,
		   struct berr **err)
{
	cleanup_close int cur = -1;

	cur = rm_enter(s, pfd, base, st, err);
	if (cur < 0)
		return cur;
	for (;;) {
		cleanup_closedir DIR *d = NULL;
		bool descended = false;
		struct dirent *de;
		int dfd, parent;

		dfd = fcntl(cur, F_DUPFD_CLOEXEC, 3);
		if (dfd < 0)
			return rm_fail(s, NULL, errno, "", err);
		d = fdopendir(dfd);
		if (d == NULL) {
			close(dfd);
			return rm_fail(s, NULL, errno, "", err);
		}
		rewinddir(d);  /* the dup shares cur's offset */
		while ((errno = 0, de = readdir(d)) != NULL) {
			struct stat cst;

			if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
				continue;
			if (fstatat(cur, de->d_name, &cst, AT_SYMLINK_NOFOLLOW) < 0) {
				if (errno == ENOENT)
					continue;
				return rm_fail(s, de->d_name, errno, "", err);
			}
			if (S_ISDIR(cst.st_mode)) {
				int fd = rm_enter(s, cur, de->d_name, &cst, err);

				if (fd < 0)
					return fd;
				cleanup_closep(&cur);
				cur = fd;
				descended = true;
				break;
			}
			if (unlinkat(cur, de->d_name, 0) < 0 && errno != ENOENT)
				return rm_fail(s, de->d_name, errno, "", err);
		}
		if (!descended && errno != 0)
			return rm_fail(s, NULL, errno, "", err);
		if (descended)
			continue;

		/* cur is empty: go up and remove it */
		if (s->depth == 1) {
			cleanup_closep(&cur);
			cur = -1;
			if (unlinkat(pfd, base, AT_REMOVEDIR) < 0 && errno != ENOENT)
				return rm_fail(s, NULL, errno, "", err);
			return 0;
		}
		parent = openat(cur, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (parent < 0)
			return rm_fail(s, NULL, errno, "", err);
		{
			struct rm_frame *up = &s->f[s->depth - 2];
			struct stat pst;

			if (fstat(parent, &pst) < 0 || pst.st_dev != up->dev || pst.st_ino != up->ino) {
				close(parent);
				return rm_fail(s, NULL, EAGAIN, ": moved while being removed", err);
			}
		}
		cleanup_closep(&cur);
		cur = parent;
		if (unlinkat(cur, s->f[s->depth - 1].name, AT_REMOVEDIR) < 0 && errno != ENOENT)
			return rm_fail(s, NULL, errno, "", err);
		free(s->f[--s->depth].name);
	}
}

int fs_rm_rf_at(int dirfd, const char *name, struct berr **err)
{
	cleanup_free char *copy = xstrdup(name);
	cleanup_close int pfd = -1;
	struct rm_state s = { .display = name };
	const char *base;
	char *slash;
	size_t len = strlen(copy);
	struct stat st;
	int r;

	while (len > 1 && copy[len - 1] == '/')
		copy[--len] = '\0';
	slash = strrchr(copy, '/');
	if (slash) {
		*slash = '\0';
		base = slash + 1;
		pfd = openat(dirfd, slash == copy ? "/" : copy, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	} else {
		base = copy;
		pfd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (*base == '\0' || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
		return berr_set(err, EINVAL, "remove %s: refusing to remove \"%s\"", name, base);
	if (pfd < 0)
		return errno == ENOENT ? 0 : berr_set(err, errno, "remove %s", name);
	if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : berr_set(err, errno, "remove %s", name);
	if (!S_ISDIR(st.st_mode)) {
		if (unlinkat(pfd, base, 0) < 0 && errno != ENOENT)
			return berr_set(err, errno, "remove %s", name);
		return 0;
	}
	r = mnt_ident(pfd, &s.ref);
	if (r < 0)
		return berr_set(err, -r, "remove %s", name);
	r = rm_tree(&s, pfd, base, &st, err);
	rm_state_free(&s);
	return r;
}

/* ------------------------------------------------------------------- paths */

char *fs_path_join(const char *a, const char *b)
{
	size_t la = strlen(a);

	if (la == 0)
		return xstrdup(b);
	if (*b == '\0')
		return xstrdup(a);
	while (la > 0 && a[la - 1] == '/')
		la--;
	while (*b == '/')
		b++;
	return xasprintf("%.*s/%s", (int)la, a, b);
}

char *fs_path_clean(const char *path)
{
	size_t n = strlen(path), r = 0, w = 0, dotdot = 0;
	bool rooted = path[0] == '/';
	char *out;

	if (n == 0)
		return xstrdup(".");
	out = xmalloc(n + 2);
	if (rooted) {
		out[w++] = '/';
		r = dotdot = 1;
	}
	while (r < n) {
		if (path[r] == '/') {
			r++;
		} else if (path[r] == '.' && (r + 1 == n || path[r + 1] == '/')) {
			r++;
		} else if (path[r] == '.' && path[r + 1] == '.' && (r + 2 == n || path[r + 2] == '/')) {
			r += 2;
			if (w > dotdot) {
				/* drop the last element written */
				w--;
				while (w > dotdot && out[w] != '/')
					w--;
			} else if (!rooted) {
				/* a leading ".." of a relative path stays */
				if (w > 0)
					out[w++] = '/';
				out[w++] = '.';
				out[w++] = '.';
				dotdot = w;
			}
			/* rooted: "/.." is "/" */
		} else {
			if (w != (rooted ? 1 : 0))
				out[w++] = '/';
			while (r < n && path[r] != '/')
				out[w++] = path[r++];
		}
	}
	if (w == 0)
		out[w++] = '.';
	out[w] = '\0';
	return out;
}

bool fs_path_is_safe_relative(const char *path)
{
	cleanup_free char *c = NULL;

	if (path == NULL || *path == '\0' || *path == '/')
		return false;
	c = fs_path_clean(path);
	/* in a clean relative path ".." can only lead */
	return !(strcmp(c, "..") == 0 || strncmp(c, "../", 3) == 0);
}

/* ------------------------------------------------------------------- fds */

int fs_close_range_from(int minfd)
{
	cleanup_closedir DIR *d = NULL;
	struct dirent *de;

	if (minfd < 0)
		return -EBADF;
	if (!LOAD(force_fallback) && LOAD(have_close_range) != 0) {
		if (syscall(SYS_close_range, (unsigned)minfd, ~0U, 0) == 0) {
			STORE(have_close_range, 1);
			return 0;
		}
		if (errno != ENOSYS)
			return -errno;
		STORE(have_close_range, 0);
	}
	d = opendir("/proc/self/fd");
	if (d == NULL) {
		/* no /proc: every possible fd, the slow way */
		long max = sysconf(_SC_OPEN_MAX);

		for (long fd = minfd; fd < (max > 0 ? max : 65536); fd++)
			close((int)fd);
		return 0;
	}
	/* closing while reading is fine: /proc/self/fd is read in chunks by
	 * fd number, and we only ever close fds already returned */
	while ((de = readdir(d)) != NULL) {
		char *end;
		long fd;

		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		errno = 0;
		fd = strtol(de->d_name, &end, 10);
		if (errno || *end || fd < minfd || fd > INT_MAX || fd == dirfd(d))
			continue;
		close((int)fd);
	}
	return 0;
}

int fs_set_cloexec(int fd)
{
	int flags = fcntl(fd, F_GETFD);

	if (flags < 0)
		return -errno;
	if (flags & FD_CLOEXEC)
		return 0;
	return fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0 ? -errno : 0;
}
