/* tests/unit/common/test_fsutil.c - in-root resolution against a hostile
 * tree, file helpers, rm -rf, path helpers, fd helpers.
 *
 * Everything happens under one mkdtemp directory per test. The hostile
 * symlinks are built so that an escape would land on a file that exists in
 * that directory but outside the root (and an escaping O_CREAT would create
 * one there), so a failure is seen and nothing outside the test directory is
 * ever written. Every in-root case runs twice: with openat2, and with the
 * userspace walk forced. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/cleanup.h"
#include "common/error.h"
#include "common/fsutil.h"
#include "common/xalloc.h"

/* ------------------------------------------------------------- fixture */

struct mode {
	const char *name;
	bool fallback;
};

static const struct mode mode_openat2 = { "openat2", false };
static const struct mode mode_fallback = { "fallback", true };

struct fx {
	const struct mode *mode;
	char *tmp;      /* realpath of the mkdtemp directory */
	char *root;     /* tmp/root */
	char *outside;  /* tmp/outside */
	int rootfd;     /* O_PATH of root */
};

static char *tpath(const struct fx *f, const char *rel)
{
	return xasprintf("%s/%s", f->tmp, rel);
}

static void put_file(const struct fx *f, const char *rel, const char *content)
{
	cleanup_free char *p = tpath(f, rel);
	cleanup_close int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0)
		fail_msg("create %s: %s", p, strerror(errno));
	assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
}

static void put_dir(const struct fx *f, const char *rel)
{
	cleanup_free char *p = tpath(f, rel);
	char *s = p + strlen(f->tmp) + 1;

	/* mkdir -p by hand: fs_mkdir_p is under test elsewhere */
	for (;;) {
		s = strchr(s, '/');
		if (s)
			*s = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			fail_msg("mkdir %s: %s", p, strerror(errno));
		if (!s)
			break;
		*s++ = '/';
	}
}

static void put_link(const struct fx *f, const char *target, const char *rel)
{
	cleanup_free char *p = tpath(f, rel);

	if (symlink(target, p) < 0)
		fail_msg("symlink %s -> %s: %s", p, target, strerror(errno));
}

static bool t_exists(const struct fx *f, const char *rel)
{
	cleanup_free char *p = tpath(f, rel);
	struct stat st;

	return lstat(p, &st) == 0;
}

/* Own rm -rf for the teardown (fs_rm_rf_at is under test): fd-relative so
 * trees deeper than PATH_MAX go too, never following a symlink, making
 * read-only directories writable on the way. */
static void rm_at(int dfd, const char *name)
{
	struct dirent *de;
	DIR *d;
	int fd;

	if (unlinkat(dfd, name, 0) == 0 || errno == ENOENT)
		return;
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	fchmod(fd, 0700);
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			rm_at(dirfd(d), de->d_name);
	closedir(d);
	unlinkat(dfd, name, AT_REMOVEDIR);
}

static int setup(void **state)
{
	const struct mode *mode = *state ? *state : &mode_openat2;
	struct fx *f = xzalloc(sizeof(*f));
	const char *base = getenv("TMPDIR");
	cleanup_free char *tmpl = xasprintf("%s/berth-test-fsutil.XXXXXX",
					    base && *base ? base : "/tmp");
	char *real;

	if (mkdtemp(tmpl) == NULL)
		fail_msg("mkdtemp %s: %s", tmpl, strerror(errno));
	real = realpath(tmpl, NULL);
	assert_non_null(real);
	f->mode = mode;
	f->tmp = xstrdup(real);
	free(real);
	f->root = tpath(f, "root");
	f->outside = tpath(f, "outside");
	fs_force_fallback(mode->fallback);
	umask(022);

	/* outside the root: what an escape would reach */
	put_dir(f, "outside/etc");
	put_file(f, "outside/secret", "outside secret");
	put_file(f, "outside/etc/passwd", "outside passwd");

	/* the root */
	put_dir(f, "root/etc");
	put_file(f, "root/etc/passwd", "inside passwd");
	put_dir(f, "root/dir/sub");
	put_file(f, "root/dir/sub/file", "inside file");
	/* in-root counterparts of the escape targets */
	put_dir(f, "root/outside");
	put_file(f, "root/outside/secret", "mirror secret");
	{
		cleanup_free char *mirror = xasprintf("root%s/outside", f->tmp);
		cleanup_free char *msecret = xasprintf("%s/secret", mirror);

		put_dir(f, mirror);
		put_file(f, msecret, "abs mirror secret");
	}

	put_link(f, "../outside", "root/rel");
	put_link(f, f->outside, "root/abs");
	put_link(f, "/etc", "root/abs_etc");
	put_link(f, "../../../outside", "root/dir/sub/deep");
	put_link(f, "../../outside", "root/dir/up");
	put_link(f, "/etc/passwd", "root/dir/sub/abs_deep");
	put_link(f, "/dir", "root/dir/sub/abs_dir");
	put_link(f, "file", "root/dir/sub/sibling");
	put_link(f, "chain2", "root/chain1");
	put_link(f, "dir/../chain3", "root/chain2");
	put_link(f, "/etc/passwd", "root/chain3");
	put_link(f, "loop2", "root/loop1");
	put_link(f, "loop1", "root/loop2");
	put_link(f, "self", "root/self");
	put_link(f, "..", "root/dotdot");
	put_link(f, "etc/passwd", "root/file_link");
	put_link(f, "dir", "root/dir_link");
	{
		cleanup_free char *t = xasprintf("%s/created", f->outside);

		put_link(f, t, "root/newlink");
	}
	put_link(f, "../outside/created2", "root/newrel");

	f->rootfd = open(f->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(f->rootfd >= 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	fs_force_fallback(false);
	if (f == NULL)
		return 0;
	close(f->rootfd);
	rm_at(AT_FDCWD, f->tmp);
	free(f->tmp);
	free(f->root);
	free(f->outside);
	free(f);
	return 0;
}

/* In openat2 mode, be sure the kernel has it (or the test means nothing). */
static void need_mode(const struct fx *f)
{
	struct open_how how = { .flags = O_PATH | O_CLOEXEC };
	long fd;

	if (f->mode->fallback)
		return;
	fd = syscall(SYS_openat2, AT_FDCWD, "/", &how, sizeof(how));
	if (fd < 0 && errno == ENOSYS) {
		print_message("kernel without openat2: skipping the openat2 variant\n");
		skip();
	}
	if (fd >= 0)
		close((int)fd);
}

/* ------------------------------------------------------- in-root checks */

static void assert_in_root(const struct fx *f, int fd, const char *what)
{
	char link[64], buf[PATH_MAX];
	size_t rl = strlen(f->root);
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, buf, sizeof(buf) - 1);
	assert_true(n > 0);
	buf[n] = '\0';
	if (strncmp(buf, f->root, rl) != 0 || (buf[rl] != '\0' && buf[rl] != '/'))
		fail_msg("[%s] %s: opened %s, outside the root %s", f->mode->name, what, buf,
			 f->root);
}

/* Open `path` in the root and check it is the object at tmp/`want`. */
static void expect_open(const struct fx *f, const char *path, int flags, unsigned resolve,
			const char *want)
{
	cleanup_berr struct berr *err = NULL;
	cleanup_free char *wp = tpath(f, want);
	cleanup_close int fd = -1;
	struct stat got, exp;

	fd = fs_open_in_root(f->rootfd, path, flags, 0644, resolve, &err);
	if (fd < 0)
		fail_msg("[%s] open \"%s\": %s", f->mode->name, path, berr_msg(err));
	assert_null(err);
	assert_int_equal(fstat(fd, &got), 0);
	if (lstat(wp, &exp) < 0)
		fail_msg("lstat %s: %s", wp, strerror(errno));
	if (got.st_dev != exp.st_dev || got.st_ino != exp.st_ino)
		fail_msg("[%s] open \"%s\" did not reach %s", f->mode->name, path, want);
	assert_in_root(f, fd, path);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
}

static void expect_fail(const struct fx *f, const char *path, int flags, unsigned resolve,
			int code)
{
	cleanup_berr struct berr *err = NULL;
	int fd;

	fd = fs_open_in_root(f->rootfd, path, flags, 0644, resolve, &err);
	if (fd >= 0) {
		char buf[PATH_MAX] = "", link[64];

		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		if (readlink(link, buf, sizeof(buf) - 1) < 0)
			buf[0] = '\0';
		close(fd);
		fail_msg("[%s] open \"%s\" succeeded (%s), expected %s", f->mode->name, path, buf,
			 strerror(code));
	}
	if (fd != -code)
		fail_msg("[%s] open \"%s\": got %s, expected %s", f->mode->name, path,
			 strerror(-fd), strerror(code));
	assert_non_null(err);
	assert_int_equal(err->code, code);
}

static void test_in_root_plain(void **state)
{
	struct fx *f = *state;

	need_mode(f);
	expect_open(f, "etc/passwd", O_RDONLY, 0, "root/etc/passwd");
	expect_open(f, "dir/sub/file", O_RDONLY, 0, "root/dir/sub/file");
	expect_open(f, "dir//sub///file", O_RDONLY, 0, "root/dir/sub/file");
	expect_open(f, "./dir/./sub/file", O_RDONLY, 0, "root/dir/sub/file");
	expect_open(f, "/", O_PATH, 0, "root");
	expect_open(f, ".", O_RDONLY | O_DIRECTORY, 0, "root");
	expect_open(f, "dir/..", O_PATH, 0, "root");
	expect_open(f, "dir/sub/.", O_PATH, 0, "root/dir/sub");
	expect_open(f, "dir/sub/", O_RDONLY | O_DIRECTORY, 0, "root/dir/sub");
	expect_open(f, "dir_link/sub/file", O_RDONLY, 0, "root/dir/sub/file");
	expect_fail(f, "", O_RDONLY, 0, ENOENT);
	expect_fail(f, "missing", O_RDONLY, 0, ENOENT);
	expect_fail(f, "missing/file", O_RDONLY, 0, ENOENT);
	expect_fail(f, "etc/passwd/", O_RDONLY, 0, ENOTDIR);
	expect_fail(f, "etc/passwd/x", O_RDONLY, 0, ENOTDIR);
	expect_fail(f, "etc", O_WRONLY, 0, EISDIR);
	expect_fail(f, "etc/passwd", O_RDONLY | O_DIRECTORY, 0, ENOTDIR);
}

static void test_in_root_dotdot(void **state)
{
	struct fx *f = *state;

	need_mode(f);
	expect_open(f, "/etc/passwd", O_RDONLY, 0, "root/etc/passwd");
	expect_open(f, "..", O_PATH, 0, "root");
	expect_open(f, "../../../etc/passwd", O_RDONLY, 0, "root/etc/passwd");
	/* tmp/outside/secret exists: only an escape would reach it */
	expect_open(f, "../outside/secret", O_RDONLY, 0, "root/outside/secret");
	expect_open(f, "/../outside/secret", O_RDONLY, 0, "root/outside/secret");
	expect_open(f, "dir/sub/../../etc/passwd", O_RDONLY, 0, "root/etc/passwd");
	expect_open(f, "dir/sub/../../../../outside/secret", O_RDONLY, 0, "root/outside/secret");
	/* ".." after a followed symlink is the parent of its target */
	expect_open(f, "dir_link/sub/../../etc/passwd", O_RDONLY, 0, "root/etc/passwd");
	expect_open(f, "rel/../etc/passwd", O_RDONLY, 0, "root/etc/passwd");
}

static void test_in_root_hostile_symlinks(void **state)
{
	struct fx *f = *state;
	cleanup_free char *absmirror = xasprintf("root%s/outside/secret", f->tmp);

	need_mode(f);
	expect_open(f, "rel/secret", O_RDONLY, 0, "root/outside/secret");
	expect_open(f, "abs/secret", O_RDONLY, 0, absmirror);
	expect_open(f, "abs_etc/passwd", O_RDONLY, 0, "root/etc/passwd");
	expect_open(f, "dir/sub/deep/secret", O_RDONLY, 0, "root/outside/secret");
	expect_open(f, "dir/up/secret", O_RDONLY, 0, "root/outside/secret");
	/* absolute targets start at the root wherever the link is; relative
	 * ones at the link's own directory */
	expect_open(f, "dir/sub/abs_deep", O_RDONLY, 0, "root/etc/passwd");
	expect_open(f, "dir/sub/abs_dir/sub/file", O_RDONLY, 0, "root/dir/sub/file");
	expect_open(f, "dir/sub/sibling", O_RDONLY, 0, "root/dir/sub/file");
	expect_open(f, "dotdot/dotdot/etc/passwd", O_RDONLY, 0, "root/etc/passwd");
	expect_open(f, "chain1", O_RDONLY, 0, "root/etc/passwd");
	expect_open(f, "file_link", O_RDONLY, 0, "root/etc/passwd");
	/* symlinks as the final component */
	expect_open(f, "rel", O_RDONLY | O_DIRECTORY, 0, "root/outside");
	expect_open(f, "rel", O_PATH, 0, "root/outside");
	{
		cleanup_free char *m = xasprintf("root%s/outside", f->tmp);

		expect_open(f, "abs", O_PATH | O_DIRECTORY, 0, m);
		expect_open(f, "abs", O_RDONLY, 0, m);
	}
	expect_open(f, "dir/sub/deep", O_PATH, 0, "root/outside");
	/* O_NOFOLLOW: the link itself with O_PATH, ELOOP otherwise */
	expect_open(f, "rel", O_PATH | O_NOFOLLOW, 0, "root/rel");
	expect_open(f, "abs", O_PATH | O_NOFOLLOW, 0, "root/abs");
	expect_fail(f, "abs", O_RDONLY | O_NOFOLLOW, 0, ELOOP);
	expect_fail(f, "file_link", O_RDONLY | O_NOFOLLOW, 0, ELOOP);
	/* but symlinks before the final component are still followed */
	expect_open(f, "rel/secret", O_RDONLY | O_NOFOLLOW, 0, "root/outside/secret");
	/* dangling in the root (the target exists only outside) */
	expect_fail(f, "dir/up/etc/passwd", O_RDONLY, 0, ENOENT);
}

static void test_in_root_loops(void **state)
{
	struct fx *f = *state;

	need_mode(f);
	expect_fail(f, "loop1", O_RDONLY, 0, ELOOP);
	expect_fail(f, "loop1/x", O_RDONLY, 0, ELOOP);
	expect_fail(f, "self", O_RDONLY, 0, ELOOP);
	expect_fail(f, "self", O_PATH, 0, ELOOP);
	expect_fail(f, "dir/self/x", O_RDONLY, 0, ENOENT);
	/* loops are not refused for being loops when not followed */
	expect_open(f, "loop1", O_PATH | O_NOFOLLOW, 0, "root/loop1");
}

static void make_chain(struct fx *f, const char *dir, int n)
{
	put_dir(f, dir);
	for (int i = 0; i < n; i++) {
		cleanup_free char *name = xasprintf("%s/l%d", dir, i);
		cleanup_free char *target = i == n - 1 ? xstrdup("/etc/passwd")
							: xasprintf("l%d", i + 1);

		put_link(f, target, name);
	}
}

static void test_in_root_symlink_limit(void **state)
{
	struct fx *f = *state;

	need_mode(f);
	make_chain(f, "root/c40", FS_MAX_SYMLINKS);
	make_chain(f, "root/c41", FS_MAX_SYMLINKS + 1);
	expect_open(f, "c40/l0", O_RDONLY, 0, "root/etc/passwd");
	expect_fail(f, "c41/l0", O_RDONLY, 0, ELOOP);
	expect_open(f, "c41/l1", O_RDONLY, 0, "root/etc/passwd");
}

static void test_in_root_no_symlinks(void **state)
{
	struct fx *f = *state;

	need_mode(f);
	expect_open(f, "etc/passwd", O_RDONLY, RESOLVE_NO_SYMLINKS, "root/etc/passwd");
	expect_open(f, "../etc/passwd", O_RDONLY, RESOLVE_NO_SYMLINKS, "root/etc/passwd");
	expect_fail(f, "rel/secret", O_RDONLY, RESOLVE_NO_SYMLINKS, ELOOP);
	expect_fail(f, "file_link", O_RDONLY, RESOLVE_NO_SYMLINKS, ELOOP);
	expect_fail(f, "dir_link/sub", O_PATH, RESOLVE_NO_SYMLINKS, ELOOP);
	expect_fail(f, "chain1", O_PATH, RESOLVE_NO_SYMLINKS, ELOOP);
}

static void test_in_root_create(void **state)
{
	struct fx *f = *state;
	cleanup_free char *abs_created = xasprintf("root%s/outside/created", f->tmp);
	cleanup_berr struct berr *err = NULL;
	struct stat st;
	int fd;

	need_mode(f);
	/* through a dangling absolute symlink: created at its in-root target */
	expect_open(f, "newlink", O_WRONLY | O_CREAT, 0, abs_created);
	assert_false(t_exists(f, "outside/created"));
	/* through a dangling relative symlink that climbs out */
	expect_open(f, "newrel", O_WRONLY | O_CREAT, 0, "root/outside/created2");
	assert_false(t_exists(f, "outside/created2"));
	/* under a symlinked directory, and with ".." in the path */
	expect_open(f, "rel/created3", O_WRONLY | O_CREAT, 0, "root/outside/created3");
	assert_false(t_exists(f, "outside/created3"));
	expect_open(f, "../created4", O_RDWR | O_CREAT, 0, "root/created4");
	assert_false(t_exists(f, "created4"));
	expect_open(f, "dir/sub/deep/created5", O_WRONLY | O_CREAT | O_EXCL, 0,
		    "root/outside/created5");
	assert_false(t_exists(f, "outside/created5"));
	/* an existing file is opened, not recreated */
	expect_open(f, "etc/passwd", O_RDONLY | O_CREAT, 0, "root/etc/passwd");
	/* O_EXCL never follows a final symlink; O_NOFOLLOW refuses it */
	expect_fail(f, "abs", O_WRONLY | O_CREAT | O_EXCL, 0, EEXIST);
	expect_fail(f, "newlink2_missing/x", O_WRONLY | O_CREAT, 0, ENOENT);
	put_link(f, "../outside/created6", "root/newrel6");
	expect_fail(f, "newrel6", O_WRONLY | O_CREAT | O_NOFOLLOW, 0, ELOOP);
	assert_false(t_exists(f, "root/outside/created6"));
	assert_false(t_exists(f, "outside/created6"));
	expect_fail(f, "etc", O_WRONLY | O_CREAT, 0, EISDIR);
	expect_fail(f, "dir/..", O_WRONLY | O_CREAT, 0, EISDIR);

	/* mode is the caller's, filtered by the umask */
	fd = fs_open_in_root(f->rootfd, "dir/mode", O_WRONLY | O_CREAT | O_EXCL, 0640, 0, &err);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640 & ~022);
	close(fd);
}

static void test_in_root_error_message(void **state)
{
	struct fx *f = *state;
	cleanup_berr struct berr *err = NULL;
	char want[PATH_MAX + 128];

	need_mode(f);
	assert_int_equal(fs_open_in_root(f->rootfd, "nonexistent/file", O_RDONLY, 0, 0, &err),
			 -ENOENT);
	snprintf(want, sizeof(want), "open nonexistent/file in root %s: %s", f->root,
		 strerror(ENOENT));
	assert_string_equal(berr_msg(err), want);

	/* NULL err is fine */
	assert_int_equal(fs_open_in_root(f->rootfd, "loop1", O_RDONLY, 0, 0, NULL), -ELOOP);

	/* a root that is not a directory */
	{
		cleanup_close int filefd = open(f->root, O_PATH | O_CLOEXEC);
		cleanup_close int nondir = openat(filefd, "etc/passwd", O_PATH | O_CLOEXEC);

		assert_true(nondir >= 0);
		assert_int_equal(fs_open_in_root(nondir, "x", O_RDONLY, 0, 0, NULL), -ENOTDIR);
	}
}

static void test_in_root_no_xdev(void **state)
{
	struct fx *f = *state;
	cleanup_close int slash = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	cleanup_close int fd = -1;
	struct statfs sfs;

	need_mode(f);
	expect_open(f, "etc/passwd", O_RDONLY, RESOLVE_NO_XDEV, "root/etc/passwd");
	expect_open(f, "rel/secret", O_RDONLY, RESOLVE_NO_XDEV, "root/outside/secret");

	/* crossing into /proc, read-only and O_PATH: nothing is touched */
	if (statfs("/proc", &sfs) < 0 || sfs.f_type != PROC_SUPER_MAGIC) {
		print_message("no procfs on /proc: mount crossing not checked\n");
		skip();
	}
	fd = fs_open_in_root(slash, "proc", O_PATH, 0, 0, NULL);
	assert_true(fd >= 0);
	close(steal_fd(&fd));
	assert_int_equal(fs_open_in_root(slash, "proc", O_PATH, 0, RESOLVE_NO_XDEV, NULL), -EXDEV);
	assert_int_equal(fs_open_in_root(slash, "proc/self", O_PATH, 0, RESOLVE_NO_XDEV, NULL),
			 -EXDEV);
	assert_int_equal(fs_open_in_root(slash, "proc/../etc", O_PATH, 0, RESOLVE_NO_XDEV, NULL),
			 -EXDEV);
}

static void test_in_root_magic_links(void **state)
{
	struct fx *f = *state;
	cleanup_close int proc = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
	cleanup_free char *secret = tpath(f, "outside/secret");
	cleanup_close int sfd = open(secret, O_RDONLY | O_CLOEXEC);
	cleanup_free char *magic = NULL;
	cleanup_free char *buf = NULL;
	struct statfs sfs;
	int fd;

	need_mode(f);
	if (proc < 0 || fstatfs(proc, &sfs) < 0 || sfs.f_type != PROC_SUPER_MAGIC) {
		print_message("no procfs on /proc: magic links not checked\n");
		skip();
	}
	assert_true(sfd >= 0);
	magic = xasprintf("self/fd/%d", sfd);
	/* a magic link would jump straight to tmp/outside/secret */
	assert_int_equal(fs_open_in_root(proc, magic, O_RDONLY, 0, 0, NULL), -ELOOP);
	assert_int_equal(fs_open_in_root(proc, "self/cwd", O_PATH, 0, 0, NULL), -ELOOP);
	assert_int_equal(fs_open_in_root(proc, "self/root/etc", O_PATH, 0, 0, NULL), -ELOOP);
	assert_int_equal(fs_open_in_root(proc, "self/exe", O_RDONLY, 0, 0, NULL), -ELOOP);
	/* ordinary procfs symlinks ("self", "thread-self") still work */
	fd = fs_open_in_root(proc, "self/status", O_RDONLY, 0, 0, NULL);
	assert_true(fd >= 0);
	assert_int_equal(fs_read_all(fd, &buf, NULL, 1 << 20, NULL), 0);
	assert_true(strncmp(buf, "Name:", 5) == 0);
	close(fd);
	fd = fs_open_in_root(proc, "thread-self/status", O_RDONLY, 0, 0, NULL);
	assert_true(fd >= 0);
	close(fd);
}

/* The kernel-without-openat2 path: a seccomp filter makes openat2 answer
 * ENOSYS in a child, which must then get the same answers from the walk
 * without being told. Plain checks: cmocka asserts cannot run in a child. */
#define CHILD_CHECK(c)                                                                \
	do {                                                                          \
		if (!(c)) {                                                           \
			fprintf(stderr, "child check failed at line %d: %s\n", __LINE__, #c); \
			_exit(1);                                                     \
		}                                                                     \
	} while (0)

static bool same_file(int fd, const char *path)
{
	struct stat a, b;

	return fstat(fd, &a) == 0 && lstat(path, &b) == 0 && a.st_dev == b.st_dev &&
	       a.st_ino == b.st_ino;
}

static void test_in_root_enosys_fallback(void **state)
{
	struct fx *f = *state;
	int status;
	pid_t pid;

#if defined(__x86_64__)
	const unsigned arch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
	const unsigned arch = AUDIT_ARCH_AARCH64;
#else
	const unsigned arch = 0;
	print_message("no seccomp arch constant for this CPU\n");
	skip();
#endif
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sock_filter filter[] = {
			BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
			BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, arch, 1, 0),
			BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
			BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
			BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat2, 0, 1),
			BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
			BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		};
		struct sock_fprog prog = { sizeof(filter) / sizeof(filter[0]), filter };
		struct open_how how = { .flags = O_PATH };
		char *want;
		int fd;

		fs_force_fallback(false);
		CHILD_CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0);
		CHILD_CHECK(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0);
		CHILD_CHECK(syscall(SYS_openat2, AT_FDCWD, "/", &how, sizeof(how)) < 0 &&
			    errno == ENOSYS);

		fd = fs_open_in_root(f->rootfd, "rel/secret", O_RDONLY, 0, 0, NULL);
		CHILD_CHECK(fd >= 0);
		want = xasprintf("%s/outside/secret", f->root);
		CHILD_CHECK(same_file(fd, want));
		close(fd);
		fd = fs_open_in_root(f->rootfd, "dir/sub/deep/secret", O_RDONLY, 0, 0, NULL);
		CHILD_CHECK(fd >= 0 && same_file(fd, want));
		close(fd);
		CHILD_CHECK(fs_open_in_root(f->rootfd, "loop1", O_RDONLY, 0, 0, NULL) == -ELOOP);
		fd = fs_open_in_root(f->rootfd, "newlink", O_WRONLY | O_CREAT, 0600, 0, NULL);
		CHILD_CHECK(fd >= 0);
		close(fd);
		want = xasprintf("%s/outside/created", f->outside);
		CHILD_CHECK(access(want, F_OK) < 0);
		fd = fs_mkdir_in_root(f->rootfd, "abs/made/deeper", 0755, true, NULL);
		CHILD_CHECK(fd >= 0);
		close(fd);
		want = xasprintf("%s/made", f->outside);
		CHILD_CHECK(access(want, F_OK) < 0);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	{
		cleanup_free char *made = xasprintf("root%s/outside/made/deeper", f->tmp);
		cleanup_free char *created = xasprintf("root%s/outside/created", f->tmp);

		assert_true(t_exists(f, made));
		assert_true(t_exists(f, created));
	}
}

/* -------------------------------------------------------- mkdir in root */

static void expect_mkdir(const struct fx *f, const char *path, bool parents, const char *want)
{
	cleanup_berr struct berr *err = NULL;
	cleanup_free char *wp = tpath(f, want);
	cleanup_close int fd = -1;
	struct stat got, exp;
	int fl;

	fd = fs_mkdir_in_root(f->rootfd, path, 0755, parents, &err);
	if (fd < 0)
		fail_msg("[%s] mkdir \"%s\": %s", f->mode->name, path, berr_msg(err));
	assert_int_equal(fstat(fd, &got), 0);
	assert_true(S_ISDIR(got.st_mode));
	if (lstat(wp, &exp) < 0)
		fail_msg("[%s] mkdir \"%s\": %s not there", f->mode->name, path, want);
	assert_true(got.st_dev == exp.st_dev && got.st_ino == exp.st_ino);
	fl = fcntl(fd, F_GETFL);
	assert_true(fl & O_PATH);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	assert_in_root(f, fd, path);
}

static void test_mkdir_in_root(void **state)
{
	struct fx *f = *state;
	cleanup_berr struct berr *err = NULL;
	cleanup_free char *absmade = xasprintf("root%s/outside/a/b", f->tmp);

	need_mode(f);
	expect_mkdir(f, "new/a/b", true, "root/new/a/b");
	expect_mkdir(f, "new/a/b", true, "root/new/a/b");        /* exists: fine */
	expect_mkdir(f, "new/a/b", false, "root/new/a/b");
	expect_mkdir(f, "new/c", false, "root/new/c");
	expect_mkdir(f, "/new//d/", false, "root/new/d");
	expect_mkdir(f, "etc", false, "root/etc");
	expect_mkdir(f, "", true, "root");
	expect_mkdir(f, "/", false, "root");
	/* escapes land in the root */
	expect_mkdir(f, "../../up1/x", true, "root/up1/x");
	assert_false(t_exists(f, "up1"));
	expect_mkdir(f, "rel/made/x", true, "root/outside/made/x");
	assert_false(t_exists(f, "outside/made"));
	expect_mkdir(f, "abs/a/b", true, absmade);
	assert_false(t_exists(f, "outside/a"));
	expect_mkdir(f, "dir/sub/deep/m", true, "root/outside/m");
	assert_false(t_exists(f, "outside/m"));
	expect_mkdir(f, "dir_link/sub/n", false, "root/dir/sub/n");

	/* errors */
	assert_int_equal(fs_mkdir_in_root(f->rootfd, "nope/a/b", 0755, false, &err), -ENOENT);
	assert_false(t_exists(f, "root/nope"));
	berr_clear(&err);
	assert_int_equal(fs_mkdir_in_root(f->rootfd, "etc/passwd/x", 0755, true, &err), -ENOTDIR);
	berr_clear(&err);
	assert_int_equal(fs_mkdir_in_root(f->rootfd, "etc/passwd", 0755, true, &err), -ENOTDIR);
	assert_non_null(strstr(berr_msg(err), "etc/passwd"));
	berr_clear(&err);
	assert_int_equal(fs_mkdir_in_root(f->rootfd, "loop1/x", 0755, true, &err), -ELOOP);
	berr_clear(&err);
	/* a dangling symlink is not turned into a directory */
	assert_true(fs_mkdir_in_root(f->rootfd, "newrel/x", 0755, true, &err) < 0);
	assert_false(t_exists(f, "root/outside/created2"));
	assert_false(t_exists(f, "outside/created2"));
}

/* ---------------------------------------------------------- read/write */

static void test_read_all(void **state)
{
	struct fx *f = *state;
	cleanup_berr struct berr *err = NULL;
	cleanup_free char *p = tpath(f, "ten");
	char *buf = NULL;
	size_t len = 99;
	int fd;

	put_file(f, "ten", "0123456789");
	fd = open(p, O_RDONLY | O_CLOEXEC);
	assert_int_equal(fs_read_all(fd, &buf, &len, 10, &err), 0);
	assert_int_equal(len, 10);
	assert_string_equal(buf, "0123456789");
	free(buf);
	buf = NULL;

	/* one byte over the limit */
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_int_equal(fs_read_all(fd, &buf, &len, 9, &err), -EFBIG);
	assert_null(buf);
	{
		char want[PATH_MAX + 64];

		snprintf(want, sizeof(want), "read %s: more than 9 bytes: %s", p, strerror(EFBIG));
		assert_string_equal(berr_msg(err), want);
	}
	close(fd);

	/* empty */
	put_file(f, "empty", "");
	{
		cleanup_free char *e = tpath(f, "empty");

		fd = open(e, O_RDONLY | O_CLOEXEC);
		assert_int_equal(fs_read_all(fd, &buf, &len, 0, NULL), 0);
		assert_int_equal(len, 0);
		assert_string_equal(buf, "");
		free(buf);
		close(fd);
	}

	/* not readable */
	fd = open(p, O_WRONLY | O_CLOEXEC);
	assert_int_equal(fs_read_all(fd, &buf, &len, 100, NULL), -EBADF);
	close(fd);
}

static void test_read_all_pipe(void **state)
{
	enum { N = 50000 };   /* below the pipe buffer, above the first chunk */
	cleanup_free char *data = xmalloc(N);
	char *buf = NULL;
	size_t len = 0;
	int p[2];

	for (size_t i = 0; i < N; i++)
		data[i] = (char)('a' + i % 26);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(fs_write_all(p[1], data, N), 0);
	close(p[1]);
	assert_int_equal(fs_read_all(p[0], &buf, &len, N, NULL), 0);
	close(p[0]);
	assert_int_equal(len, N);
	assert_memory_equal(buf, data, N);
	assert_int_equal(buf[N], '\0');
	free(buf);

	/* the limit holds for streams, whose size is not known up front */
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(fs_write_all(p[1], data, N), 0);
	close(p[1]);
	buf = NULL;
	assert_int_equal(fs_read_all(p[0], &buf, &len, N - 1, NULL), -EFBIG);
	assert_null(buf);
	close(p[0]);

	/* /proc files claim size 0 */
	{
		cleanup_close int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);

		assert_int_equal(fs_read_all(fd, &buf, &len, 1 << 20, NULL), 0);
		assert_true(len > 10);
		assert_true(strncmp(buf, "Name:", 5) == 0);
		free(buf);
	}
}

static void test_write_all(void **state)
{
	int p[2];
	char out[8];

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(fs_write_all(p[1], "abc", 3), 0);
	assert_int_equal(fs_write_all(p[1], "", 0), 0);
	assert_int_equal(read(p[0], out, sizeof(out)), 3);
	assert_memory_equal(out, "abc", 3);
	close(p[0]);
	/* no reader: EPIPE (SIGPIPE ignored for the check) */
	signal(SIGPIPE, SIG_IGN);
	assert_int_equal(fs_write_all(p[1], "x", 1), -EPIPE);
	signal(SIGPIPE, SIG_DFL);
	close(p[1]);
	assert_int_equal(fs_write_all(-1, "x", 1), -EBADF);
}

static void test_read_file(void **state)
{
	struct fx *f = *state;
	cleanup_berr struct berr *err = NULL;
	cleanup_free char *p = tpath(f, "root/etc/passwd");
	cleanup_free char *missing = tpath(f, "nothere");
	cleanup_close int tfd = open(f->tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	char want[PATH_MAX + 64];
	char *buf = NULL;
	size_t len;

	assert_int_equal(fs_read_file(p, &buf, &len, 100, &err), 0);
	assert_string_equal(buf, "inside passwd");
	assert_int_equal(len, 13);
	free(buf);
	buf = NULL;

	assert_int_equal(fs_read_file(missing, &buf, &len, 100, &err), -ENOENT);
	snprintf(want, sizeof(want), "open %s: %s", missing, strerror(ENOENT));
	assert_string_equal(berr_msg(err), want);
	assert_null(buf);

	assert_int_equal(fs_read_file(p, &buf, NULL, 5, &err), -EFBIG);
	snprintf(want, sizeof(want), "read %s: more than 5 bytes: %s", p, strerror(EFBIG));
	assert_string_equal(berr_msg(err), want);

	assert_int_equal(fs_read_file_at(tfd, "root/dir/sub/file", &buf, &len, 100, &err), 0);
	assert_string_equal(buf, "inside file");
	free(buf);
	buf = NULL;
	/* messages name the file under the directory */
	assert_int_equal(fs_read_file_at(tfd, "root/none", &buf, &len, 100, &err), -ENOENT);
	snprintf(want, sizeof(want), "open %s/root/none: %s", f->tmp, strerror(ENOENT));
	assert_string_equal(berr_msg(err), want);
	/* absolute paths ignore dirfd; so does AT_FDCWD */
	assert_int_equal(fs_read_file_at(tfd, p, &buf, NULL, 100, NULL), 0);
	assert_string_equal(buf, "inside passwd");
	free(buf);
}

static int count_entries(const char *dir, char *names, size_t size)
{
	cleanup_closedir DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	if (names)
		names[0] = '\0';
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		n++;
		if (names) {
			strncat(names, de->d_name, size - strlen(names) - 2);
			strcat(names, " ");
		}
	}
	return n;
}

static void test_write_file_atomic(void **state)
{
	struct fx *f = *state;
	cleanup_berr struct berr *err = NULL;
	cleanup_free char *dir = tpath(f, "w");
	cleanup_free char *p = tpath(f, "w/config.json");
	char names[512];
	char *buf = NULL;
	struct stat st;

	put_dir(f, "w");
	umask(077);
	assert_int_equal(fs_write_file_atomic(p, "first", 5, 0644, &err), 0);
	umask(022);
	assert_int_equal(fs_read_file(p, &buf, NULL, 100, NULL), 0);
	assert_string_equal(buf, "first");
	free(buf);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);  /* exactly, despite umask 077 */

	/* replace: new content, new mode, still one entry in the directory */
	assert_int_equal(fs_write_file_atomic(p, "second\n", 7, 0600, &err), 0);
	assert_int_equal(fs_read_file(p, &buf, NULL, 100, NULL), 0);
	assert_string_equal(buf, "second\n");
	free(buf);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(count_entries(dir, names, sizeof(names)), 1);
	assert_string_equal(names, "config.json ");

	/* empty content; a relative path */
	{
		cleanup_free char *cwd = getcwd(NULL, 0);

		assert_int_equal(chdir(dir), 0);
		assert_int_equal(fs_write_file_atomic("empty", "", 0, 0644, &err), 0);
		assert_int_equal(chdir(cwd), 0);
		assert_int_equal(count_entries(dir, NULL, 0), 2);
	}
}

/* The non-durable variant replaces the same way (mode exact, no temporary
 * left, a symlink at the path replaced, not followed). */
static void test_write_file_replace(void **state)
{
	struct fx *f = *state;
	cleanup_berr struct berr *err = NULL;
	cleanup_free char *dir = tpath(f, "r");
	cleanup_free char *p = tpath(f, "r/lease.json");
	cleanup_free char *target = tpath(f, "r-target");
	char names[512];
	char *buf = NULL;
	struct stat st;

	put_dir(f, "r");
	assert_int_equal(symlink(target, p), 0);
	assert_int_equal(fs_write_file_replace(p, "one", 3, 0640, &err), 0);
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0640);
	assert_int_equal(access(target, F_OK), -1);
	assert_int_equal(fs_write_file_replace(p, "two\n", 4, 0600, &err), 0);
	assert_int_equal(fs_read_file(p, &buf, NULL, 100, NULL), 0);
	assert_string_equal(buf, "two\n");
	free(buf);
	assert_int_equal(count_entries(dir, names, sizeof(names)), 1);
	assert_string_equal(names, "lease.json ");
	assert_int_equal(fs_write_file_replace("/nonexistent-dir-berth/x", "x", 1, 0600, &err), -ENOENT);
}

static void test_write_file_atomic_errors(void **state)
{
	struct fx *f = *state;
	cleanup_berr struct berr *err = NULL;
	cleanup_free char *dir = tpath(f, "w");
	cleanup_free char *missing = tpath(f, "nodir/file");
	cleanup_free char *isdir = tpath(f, "w/sub");
	char names[512];

	put_dir(f, "w/sub");
	put_file(f, "w/sub/x", "");

	/* directory missing: nothing created anywhere */
	assert_int_equal(fs_write_file_atomic(missing, "x", 1, 0644, &err), -ENOENT);
	assert_non_null(strstr(berr_msg(err), missing));
	assert_false(t_exists(f, "nodir"));

	/* the rename fails (a directory is in the way): tmp removed */
	assert_int_equal(fs_write_file_atomic(isdir, "x", 1, 0644, &err), -EISDIR);
	{
		char want[PATH_MAX + 64];

		snprintf(want, sizeof(want), "rename temporary file over %s: %s", isdir,
			 strerror(EISDIR));
		assert_string_equal(berr_msg(err), want);
	}
	assert_int_equal(count_entries(dir, names, sizeof(names)), 1);
	assert_string_equal(names, "sub ");

	/* a path naming no file */
	{
		cleanup_free char *slash = tpath(f, "w/");

		assert_int_equal(fs_write_file_atomic(slash, "x", 1, 0644, &err), -EISDIR);
		assert_int_equal(count_entries(dir, NULL, 0), 1);
	}
}

/* Give up every capability in this (child) process, so root too is held to
 * file permissions. */
static void drop_caps(void)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];

	memset(d, 0, sizeof(d));
	CHILD_CHECK(syscall(SYS_capset, &h, d) == 0);
}

static void test_write_file_atomic_unwritable(void **state)
{
	struct fx *f = *state;
	cleanup_free char *dir = tpath(f, "ro");
	cleanup_free char *p = tpath(f, "ro/file");
	int status;
	pid_t pid;

	put_dir(f, "ro");
	put_file(f, "ro/file", "old");
	assert_int_equal(chmod(dir, 0555), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct berr *err = NULL;

		drop_caps();
		CHILD_CHECK(fs_write_file_atomic(p, "new", 3, 0644, &err) == -EACCES);
		CHILD_CHECK(strstr(berr_msg(err), p) != NULL);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(count_entries(dir, NULL, 0), 1);
	assert_int_equal(chmod(dir, 0755), 0);
	{
		char *buf = NULL;

		assert_int_equal(fs_read_file(p, &buf, NULL, 10, NULL), 0);
		assert_string_equal(buf, "old");
		free(buf);
	}
}

static void test_write_file_atomic_write_error(void **state)
{
	struct fx *f = *state;
	cleanup_free char *dir = tpath(f, "w");
	cleanup_free char *p = tpath(f, "w/big");
	char names[512];
	int status;
	pid_t pid;

	put_dir(f, "w");
	put_file(f, "w/big", "old");
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* a file size limit makes the write of the temporary fail */
		struct rlimit rl = { 4096, 4096 };
		static char data[65536];
		struct berr *err = NULL;
		int r;

		signal(SIGXFSZ, SIG_IGN);
		CHILD_CHECK(setrlimit(RLIMIT_FSIZE, &rl) == 0);
		r = fs_write_file_atomic(p, data, sizeof(data), 0644, &err);
		CHILD_CHECK(r == -EFBIG);
		CHILD_CHECK(strncmp(berr_msg(err), "write ", 6) == 0);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* old content intact, no temporary left */
	assert_int_equal(count_entries(dir, names, sizeof(names)), 1);
	assert_string_equal(names, "big ");
	{
		char *buf = NULL;

		assert_int_equal(fs_read_file(p, &buf, NULL, 10, NULL), 0);
		assert_string_equal(buf, "old");
		free(buf);
	}
}

/* ------------------------------------------------------------- mkdir -p */

static void test_mkdir_p(void **state)
{
	struct fx *f = *state;
	cleanup_berr struct berr *err = NULL;
	cleanup_free char *deep = tpath(f, "m/a/b/c");
	cleanup_free char *slashy = tpath(f, "m//x///y/");
	cleanup_free char *dotted = tpath(f, "m/a/../p/./q");
	cleanup_free char *blocked = tpath(f, "m/file/sub");
	cleanup_free char *blocker = tpath(f, "m/file");
	char want[PATH_MAX + 64];
	struct stat st;

	assert_int_equal(fs_mkdir_p(deep, 0755, &err), 0);
	assert_true(t_exists(f, "m/a/b/c"));
	assert_int_equal(fs_mkdir_p(deep, 0755, &err), 0);   /* exists: fine */
	assert_int_equal(fs_mkdir_p(slashy, 0700, &err), 0);
	assert_true(t_exists(f, "m/x/y"));
	{
		cleanup_free char *y = tpath(f, "m/x/y");

		assert_int_equal(stat(y, &st), 0);
		assert_int_equal(st.st_mode & 0777, 0700);
	}
	assert_int_equal(fs_mkdir_p(dotted, 0755, &err), 0);
	assert_true(t_exists(f, "m/p/q"));
	assert_int_equal(fs_mkdir_p("/", 0755, &err), 0);

	/* a file in the way */
	put_file(f, "m/file", "");
	assert_int_equal(fs_mkdir_p(blocked, 0755, &err), -ENOTDIR);
	snprintf(want, sizeof(want), "create directory %s: %s", blocker, strerror(ENOTDIR));
	assert_string_equal(berr_msg(err), want);
	assert_int_equal(fs_mkdir_p(blocker, 0755, &err), -ENOTDIR);
	assert_int_equal(fs_mkdir_p("", 0755, &err), -ENOENT);

	/* relative */
	{
		cleanup_free char *cwd = getcwd(NULL, 0);

		assert_int_equal(chdir(f->tmp), 0);
		assert_int_equal(fs_mkdir_p("rel1/rel2", 0755, &err), 0);
		assert_int_equal(chdir(cwd), 0);
		assert_true(t_exists(f, "rel1/rel2"));
	}
	/* the path is trusted: a symlink to a directory counts as one */
	{
		cleanup_free char *via = tpath(f, "root/rel/viadir");

		assert_int_equal(fs_mkdir_p(via, 0755, &err), 0);
		assert_true(t_exists(f, "outside/viadir"));
	}
}

/* --------------------------------------------------------------- rm -rf */

static void build_victim(struct fx *f, const char *top)
{
	cleanup_free char *a = xasprintf("%s/a/b/c", top);
	cleanup_free char *file = xasprintf("%s/a/b/c/file", top);
	cleanup_free char *x = xasprintf("%s/x", top);
	cleanup_free char *l1 = xasprintf("%s/link_out", top);
	cleanup_free char *l2 = xasprintf("%s/a/link_file", top);
	cleanup_free char *l3 = xasprintf("%s/a/b/link_rel", top);
	cleanup_free char *secret = xasprintf("%s/secret", f->outside);
	cleanup_free char *fifo = xasprintf("%s/a/fifo", top);

	put_dir(f, a);
	put_file(f, file, "f");
	put_file(f, x, "x");
	put_link(f, f->outside, l1);
	put_link(f, secret, l2);
	put_link(f, "../../../outside", l3);
	{
		cleanup_free char *fp = tpath(f, fifo);

		assert_int_equal(mkfifo(fp, 0600), 0);
	}
}

static void assert_outside_intact(const struct fx *f)
{
	char *buf = NULL;
	cleanup_free char *secret = tpath(f, "outside/secret");

	assert_true(t_exists(f, "outside/etc/passwd"));
	assert_int_equal(fs_read_file(secret, &buf, NULL, 100, NULL), 0);
	assert_string_equal(buf, "outside secret");
	free(buf);
}

static void test_rm_rf(void **state)
{
	struct fx *f = *state;
	cleanup_berr struct berr *err = NULL;
	cleanup_free char *victim = tpath(f, "victim");
	cleanup_close int tfd = open(f->tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	build_victim(f, "victim");
	assert_int_equal(fs_rm_rf_at(AT_FDCWD, victim, &err), 0);
	assert_false(t_exists(f, "victim"));
	assert_outside_intact(f);

	/* relative to a dirfd; trailing slash */
	build_victim(f, "victim2");
	assert_int_equal(fs_rm_rf_at(tfd, "victim2/", &err), 0);
	assert_false(t_exists(f, "victim2"));
	assert_outside_intact(f);

	/* missing is fine */
	assert_int_equal(fs_rm_rf_at(tfd, "victim2", &err), 0);
	assert_int_equal(fs_rm_rf_at(tfd, "no/such/thing", &err), 0);

	/* a symlink to a directory: the link goes, the directory stays */
	put_link(f, f->outside, "dirlink");
	assert_int_equal(fs_rm_rf_at(tfd, "dirlink", &err), 0);
	assert_false(t_exists(f, "dirlink"));
	assert_outside_intact(f);
	put_link(f, "outside", "dirlink2");
	assert_int_equal(fs_rm_rf_at(tfd, "dirlink2/", &err), 0);
	assert_false(t_exists(f, "dirlink2"));
	assert_outside_intact(f);

	/* a plain file */
	put_file(f, "plain", "p");
	assert_int_equal(fs_rm_rf_at(tfd, "plain", &err), 0);
	assert_false(t_exists(f, "plain"));

	/* refusals */
	assert_int_equal(fs_rm_rf_at(tfd, ".", &err), -EINVAL);
	assert_int_equal(fs_rm_rf_at(tfd, "..", &err), -EINVAL);
	assert_int_equal(fs_rm_rf_at(tfd, "outside/..", &err), -EINVAL);
	assert_int_equal(fs_rm_rf_at(tfd, "", &err), -EINVAL);
	assert_int_equal(fs_rm_rf_at(tfd, "/", &err), -EINVAL);
	assert_outside_intact(f);
	assert_true(t_exists(f, "root/etc/passwd"));

	/* a parent that is not a directory */
	put_file(f, "afile", "");
	assert_int_equal(fs_rm_rf_at(tfd, "afile/x", &err), -ENOTDIR);
	assert_non_null(strstr(berr_msg(err), "afile/x"));
}

static void test_rm_rf_deep(void **state)
{
	enum { DEPTH = 600 };
	struct fx *f = *state;
	cleanup_close int tfd = open(f->tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int fd, status;
	pid_t pid;

	/* deeper than PATH_MAX allows as one path */
	assert_int_equal(mkdirat(tfd, "deep", 0755), 0);
	fd = openat(tfd, "deep", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	for (int i = 0; i < DEPTH; i++) {
		int next;

		assert_int_equal(mkdirat(fd, "dddddddd", 0755), 0);
		if (i % 50 == 0)
			assert_int_equal(symlinkat(f->outside, fd, "out"), 0);
		next = openat(fd, "dddddddd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		assert_true(next >= 0);
		close(fd);
		fd = next;
	}
	close(fd);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* a handful of fds must do, however deep the tree */
		struct rlimit rl = { 16, 16 };
		struct berr *err = NULL;
		int r;

		CHILD_CHECK(dup2(tfd, 3) == 3);
		CHILD_CHECK(fs_close_range_from(4) == 0);
		CHILD_CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
		r = fs_rm_rf_at(3, "deep", &err);
		if (r < 0)
			fprintf(stderr, "rm: %s\n", berr_msg(err));
		CHILD_CHECK(r == 0);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_false(t_exists(f, "deep"));
	assert_outside_intact(f);
}

/* In a child with its own mount namespace (a user namespace too when not
 * root), mount a tmpfs and bind-mount a directory inside the victim: rm -rf
 * must stop at both, leaving what is under them. Nothing is mounted on the
 * host: the namespace goes away with the child. */
static int write_file(const char *p, const char *s)
{
	int fd = open(p, O_WRONLY | O_CLOEXEC);
	int r;

	if (fd < 0)
		return -1;
	r = fs_write_all(fd, s, strlen(s));
	close(fd);
	return r;
}

static void test_rm_rf_mounts(void **state)
{
	struct fx *f = *state;
	cleanup_free char *victim1 = tpath(f, "mv1");
	cleanup_free char *victim2 = tpath(f, "mv2");
	cleanup_free char *mnt = tpath(f, "mv1/a/tmpfs");
	cleanup_free char *bind = tpath(f, "mv2/b/bind");
	cleanup_free char *bsrc = tpath(f, "bindsrc");
	int status;
	pid_t pid;

	put_dir(f, "mv1/a/tmpfs");
	put_file(f, "mv1/a/file", "");
	put_dir(f, "mv2/b/bind");
	put_dir(f, "mv2/c");
	put_file(f, "mv2/c/file", "");
	put_dir(f, "bindsrc");
	put_file(f, "bindsrc/keep", "keep");
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		uid_t uid = geteuid();
		gid_t gid = getegid();
		struct berr *err = NULL;
		char *kept;
		int r;

		if (uid == 0) {
			if (unshare(CLONE_NEWNS) < 0)
				_exit(77);
		} else {
			char map[64];

			if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
				_exit(77);
			snprintf(map, sizeof(map), "0 %u 1", (unsigned)uid);
			CHILD_CHECK(write_file("/proc/self/uid_map", map) == 0);
			CHILD_CHECK(write_file("/proc/self/setgroups", "deny") == 0);
			snprintf(map, sizeof(map), "0 %u 1", (unsigned)gid);
			CHILD_CHECK(write_file("/proc/self/gid_map", map) == 0);
		}
		/* private first, so nothing propagates back to the host */
		if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
			_exit(77);
		if (mount("tmpfs", mnt, "tmpfs", 0, "size=1m") < 0)
			_exit(77);
		/* a bind mount of the same filesystem: same st_dev, other mount */
		CHILD_CHECK(mount(bsrc, bind, NULL, MS_BIND, NULL) == 0);

		kept = xasprintf("%s/inside", mnt);
		CHILD_CHECK(creat(kept, 0644) >= 0);
		r = fs_rm_rf_at(AT_FDCWD, victim1, &err);
		CHILD_CHECK(r == -EXDEV);
		CHILD_CHECK(strstr(berr_msg(err), "mv1/a/tmpfs: another filesystem") != NULL);
		CHILD_CHECK(access(kept, F_OK) == 0);

		r = fs_rm_rf_at(AT_FDCWD, victim2, &err);
		CHILD_CHECK(r == -EXDEV);
		CHILD_CHECK(strstr(berr_msg(err), "mv2/b/bind: another filesystem") != NULL);
		kept = xasprintf("%s/keep", bind);
		CHILD_CHECK(access(kept, F_OK) == 0);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77) {
		print_message("no mount namespace available: mount crossing not checked\n");
		skip();
	}
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_true(t_exists(f, "bindsrc/keep"));
	/* the mounts are gone with the child: now everything can go */
	assert_int_equal(fs_rm_rf_at(AT_FDCWD, victim1, NULL), 0);
	assert_int_equal(fs_rm_rf_at(AT_FDCWD, victim2, NULL), 0);
	assert_false(t_exists(f, "mv1"));
	assert_false(t_exists(f, "mv2"));
	assert_true(t_exists(f, "bindsrc/keep"));
}

/* --------------------------------------------------------------- paths */

static void test_path_clean(void **state)
{
	static const char *const cases[][2] = {
		{ "", "." },
		{ ".", "." },
		{ "..", ".." },
		{ "/", "/" },
		{ "//", "/" },
		{ "abc", "abc" },
		{ "abc/def", "abc/def" },
		{ "a/b/c", "a/b/c" },
		{ "../..", "../.." },
		{ "../../abc", "../../abc" },
		{ "/abc", "/abc" },
		{ "abc/", "abc" },
		{ "abc/def/", "abc/def" },
		{ "/abc/", "/abc" },
		{ "abc//def//ghi", "abc/def/ghi" },
		{ "//abc", "/abc" },
		{ "///abc", "/abc" },
		{ "//abc//", "/abc" },
		{ "abc//", "abc" },
		{ "abc/./def", "abc/def" },
		{ "/./abc/def", "/abc/def" },
		{ "abc/.", "abc" },
		{ "./", "." },
		{ "./abc", "abc" },
		{ "abc/def/ghi/../jkl", "abc/def/jkl" },
		{ "abc/def/../ghi/../jkl", "abc/jkl" },
		{ "abc/def/..", "abc" },
		{ "abc/def/../..", "." },
		{ "/abc/def/../..", "/" },
		{ "abc/def/../../..", ".." },
		{ "/abc/def/../../..", "/" },
		{ "abc/def/../../../ghi/jkl/../../../mno", "../../mno" },
		{ "/../abc", "/abc" },
		{ "/..", "/" },
		{ "abc/./../def", "def" },
		{ "abc//./../def", "def" },
		{ "abc/../../././../def", "../../def" },
		{ "...", "..." },
		{ ".a/..b/c.", ".a/..b/c." },
		{ "a/.../..", "a" },
		{ "../a/..", ".." },
		{ "./../a", "../a" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cleanup_free char *got = fs_path_clean(cases[i][0]);
		cleanup_free char *again = fs_path_clean(got);

		if (strcmp(got, cases[i][1]) != 0)
			fail_msg("clean(\"%s\") = \"%s\", want \"%s\"", cases[i][0], got, cases[i][1]);
		/* idempotent */
		assert_string_equal(again, got);
	}
}

static void test_path_safe_relative(void **state)
{
	static const struct {
		const char *path;
		bool safe;
	} cases[] = {
		{ "a", true },
		{ "a/b", true },
		{ "a/b/", true },
		{ "./a", true },
		{ ".", true },
		{ "./", true },
		{ "a/../b", true },
		{ "a/b/../..", true },
		{ "...", true },
		{ "..a", true },
		{ "a..", true },
		{ "a/..b", true },
		{ "", false },
		{ "/", false },
		{ "/a", false },
		{ "//a", false },
		{ "..", false },
		{ "../a", false },
		{ "a/../..", false },
		{ "a/../../b", false },
		{ "./../a", false },
		{ "a/b/../../..", false },
		{ "a/./../../etc/passwd", false },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (fs_path_is_safe_relative(cases[i].path) != cases[i].safe)
			fail_msg("safe_relative(\"%s\") != %s", cases[i].path,
				 cases[i].safe ? "true" : "false");
	assert_false(fs_path_is_safe_relative(NULL));
}

static void test_path_join(void **state)
{
	static const char *const cases[][3] = {
		{ "a", "b", "a/b" },
		{ "a/", "b", "a/b" },
		{ "a//", "//b", "a/b" },
		{ "a", "/b", "a/b" },
		{ "/", "etc", "/etc" },
		{ "/", "/etc", "/etc" },
		{ "/root", "/etc/passwd", "/root/etc/passwd" },
		{ "", "b", "b" },
		{ "a", "", "a" },
		{ "", "", "" },
		{ "a/b", "c/d/", "a/b/c/d/" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cleanup_free char *got = fs_path_join(cases[i][0], cases[i][1]);

		if (strcmp(got, cases[i][2]) != 0)
			fail_msg("join(\"%s\", \"%s\") = \"%s\", want \"%s\"", cases[i][0],
				 cases[i][1], got, cases[i][2]);
	}
}

/* ------------------------------------------------------------------ fds */

static void test_fd_name(void **state)
{
	struct fx *f = *state;
	cleanup_free char *name = fs_fd_name(f->rootfd);
	cleanup_free char *cwd = getcwd(NULL, 0);
	cleanup_free char *dot = fs_fd_name(AT_FDCWD);
	cleanup_free char *bad = fs_fd_name(987654);

	assert_string_equal(name, f->root);
	assert_string_equal(dot, cwd);
	assert_string_equal(bad, "/proc/self/fd/987654");
}

static void check_close_range(bool fallback)
{
	int base = open("/dev/null", O_RDONLY | O_CLOEXEC);

	assert_true(base >= 0);
	assert_int_equal(dup2(base, 500), 500);
	assert_int_equal(dup2(base, 501), 501);
	assert_int_equal(dup2(base, 777), 777);
	assert_int_equal(dup2(base, 499), 499);
	fs_force_fallback(fallback);
	assert_int_equal(fs_close_range_from(500), 0);
	fs_force_fallback(false);
	assert_true(fcntl(499, F_GETFD) >= 0);
	assert_true(fcntl(500, F_GETFD) < 0 && errno == EBADF);
	assert_true(fcntl(501, F_GETFD) < 0 && errno == EBADF);
	assert_true(fcntl(777, F_GETFD) < 0 && errno == EBADF);
	assert_true(fcntl(base, F_GETFD) >= 0);
	close(499);
	close(base);
}

static void test_close_range(void **state)
{
	check_close_range(false);
	check_close_range(true);
	assert_int_equal(fs_close_range_from(-1), -EBADF);
}

static void test_set_cloexec(void **state)
{
	int p[2];

	assert_int_equal(pipe(p), 0);
	assert_false(fcntl(p[0], F_GETFD) & FD_CLOEXEC);
	assert_int_equal(fs_set_cloexec(p[0]), 0);
	assert_true(fcntl(p[0], F_GETFD) & FD_CLOEXEC);
	assert_int_equal(fs_set_cloexec(p[0]), 0);   /* already set */
	assert_true(fcntl(p[0], F_GETFD) & FD_CLOEXEC);
	assert_false(fcntl(p[1], F_GETFD) & FD_CLOEXEC);
	close(p[0]);
	close(p[1]);
	assert_int_equal(fs_set_cloexec(p[0]), -EBADF);
}

/* ----------------------------------------------------------------- main */

#define BOTH(fn)                                                                         \
	{ #fn "/openat2", fn, setup, teardown, (void *)&mode_openat2 },                   \
	{ #fn "/fallback", fn, setup, teardown, (void *)&mode_fallback }
#define ONE(fn) { #fn, fn, setup, teardown, (void *)&mode_openat2 }

int main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH(test_in_root_plain),
		BOTH(test_in_root_dotdot),
		BOTH(test_in_root_hostile_symlinks),
		BOTH(test_in_root_loops),
		BOTH(test_in_root_symlink_limit),
		BOTH(test_in_root_no_symlinks),
		BOTH(test_in_root_create),
		BOTH(test_in_root_error_message),
		BOTH(test_in_root_no_xdev),
		BOTH(test_in_root_magic_links),
		BOTH(test_mkdir_in_root),
		ONE(test_in_root_enosys_fallback),
		ONE(test_read_all),
		ONE(test_read_all_pipe),
		ONE(test_write_all),
		ONE(test_read_file),
		ONE(test_write_file_atomic),
		ONE(test_write_file_replace),
		ONE(test_write_file_atomic_errors),
		ONE(test_write_file_atomic_unwritable),
		ONE(test_write_file_atomic_write_error),
		ONE(test_mkdir_p),
		ONE(test_rm_rf),
		ONE(test_rm_rf_deep),
		ONE(test_rm_rf_mounts),
		ONE(test_path_clean),
		ONE(test_path_safe_relative),
		ONE(test_path_join),
		ONE(test_fd_name),
		ONE(test_close_range),
		ONE(test_set_cloexec),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
