/* Unit tests for runtime/container/launch.c and mounts.c.
 *
 * Without privileges: argument checks, the mount plan, in-root resolution
 * (ctr_open_in_root) against hostile symlinks in a temp tree.
 *
 * The launch itself runs inside a user namespace this test makes (as root:
 * container root = host uid 100000, never host root; skipped otherwise):
 * a forked child unshares user + mount + pid namespaces, its child (pid 1
 * there, so the launcher can return to its own pid namespace after joining
 * another) starts real containers from a temp root filesystem holding the
 * static berth-testhelper. Nothing outside the temp dir and those private
 * namespaces is touched; the privileged suite (tests/vm/cases/launch_*.sh)
 * covers cgroups, the device filter and the escape suite as real root. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "runtime/container/caps.h"
#include "runtime/container/launch.h"
#include "runtime/container/mounts.h"
#include "runtime/container/seccomp.h"

#define MAP_BASE 100000   /* host uid/gid of the namespace's 0 */

static char tmpdir[256];

static int setup_tmp(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "%s/berth-launch-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(tmpdir));
	return 0;
}

static int teardown_tmp(void **state)
{
	struct berr *err = NULL;

	if (fs_rm_rf_at(AT_FDCWD, tmpdir, &err) < 0) {
		fprintf(stderr, "cleanup %s: %s\n", tmpdir, berr_msg(err));
		berr_free(err);
	}
	return 0;
}

static char *path_in(const char *rel)
{
	static char buf[8][512];
	static int i;

	i = (i + 1) % 8;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", tmpdir, rel);
	return buf[i];
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;   /* the directory's own fd */
}

static void base_spec(struct ctr_spec *s, char **argv, char **env)
{
	memset(s, 0, sizeof(*s));
	s->name = "web";
	s->argv = argv;
	s->env = env;
	s->cwd = "/";
	s->user = "";
	s->caps = ctr_caps_default();
	s->no_new_privs = true;
	s->shm_size = CTR_DEFAULT_SHM_BYTES;
	s->stop_signal = SIGTERM;
}

/* ------------------------------------------------------ no privileges */

static void test_bad_requests(void **state)
{
	char *argv[] = { "/bin/true", NULL }, *empty[] = { NULL }, *env[] = { NULL };
	struct ctr_mount m = { .kind = CTR_MOUNT_TMPFS };
	struct ctr_proc p = { .pid = 5, .pidfd = 5 };
	struct berr *err = NULL;
	struct ctr_launch l;
	struct ctr_spec s;
	int before;

	/* the launcher opens the process-wide cached berth-init memfd once */
	assert_true(ctr_init_fd(NULL) >= 0);
	before = count_fds();
	ctr_launch_init(&l);
	assert_int_equal(l.cgroup_fd, -1);
	assert_int_equal(l.netns_fd, CTR_NS_NEW);
	assert_int_equal(l.pidns_fd, CTR_NS_NEW);
	assert_int_equal(l.stdout_fd, -1);
	assert_int_equal(l.init_fd, -1);

	assert_int_equal(ctr_launch(&l, &p, &err), -EINVAL);
	assert_int_equal(p.pid, -1);
	assert_int_equal(p.pidfd, -1);
	berr_clear(&err);

	base_spec(&s, argv, env);
	l.spec = &s;
	l.rootfs = "relative/root";
	assert_true(ctr_launch(&l, &p, &err) < 0);
	assert_string_equal(berr_msg(err), "container web: root filesystem relative/root: not an absolute path: Invalid argument");
	berr_clear(&err);

	l.rootfs = tmpdir;
	s.argv = empty;
	assert_int_equal(ctr_launch(&l, &p, &err), -EINVAL);
	assert_non_null(strstr(berr_msg(err), "container web: no command to run"));
	berr_clear(&err);

	s.argv = argv;

	s.mounts = &m;
	s.n_mounts = 1;
	static const char *const bad[] = { "data", "/a/../../b", "/a//b", "/", "/x/" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		m.target = (char *)bad[i];
		assert_int_equal(ctr_launch(&l, &p, &err), -EINVAL);
		assert_non_null(strstr(berr_msg(err), "container web: mount"));
		berr_clear(&err);
	}
	s.n_mounts = 0;

	l.netns_fd = -7;
	assert_int_equal(ctr_launch(&l, &p, &err), -EINVAL);
	assert_non_null(strstr(berr_msg(err), "network namespace: bad value -7"));
	berr_clear(&err);
	l.netns_fd = CTR_NS_NEW;

	/* the pid namespace holder: a new pid namespace, an absolute mount
	 * point; no spec needed */
	{
		struct ctr_launch pl;

		ctr_launch_init(&pl);
		pl.pause = true;
		pl.rootfs = tmpdir;
		pl.pidns_fd = CTR_NS_HOST;
		assert_int_equal(ctr_launch(&pl, &p, &err), -EINVAL);
		assert_string_equal(berr_msg(err), "pid namespace holder: pid namespace: the holder needs a new one "
				    "(got -2): Invalid argument");
		berr_clear(&err);
		pl.pidns_fd = CTR_NS_NEW;
		pl.rootfs = NULL;
		assert_int_equal(ctr_launch(&pl, &p, &err), -EINVAL);
		assert_string_equal(berr_msg(err), "pid namespace holder: mount point for the empty root (none): "
				    "not an absolute path: Invalid argument");
		berr_clear(&err);
	}

	p.pidfd = -1;
	assert_int_equal(ctr_exec(&l, &p, argv, &p, &err), -EINVAL);
	assert_non_null(strstr(berr_msg(err), "container web: exec: no running process"));
	berr_clear(&err);

	assert_int_equal(count_fds(), before);
}

static const struct ctr_mop *find_op(const struct ctr_mnt_plan *p, enum ctr_mop_kind kind,
				     const char *target)
{
	for (size_t i = 0; i < p->n_ops; i++)
		if (p->ops[i].kind == kind && !strcmp(p->ops[i].target, target))
			return &p->ops[i];
	return NULL;
}

static size_t op_index(const struct ctr_mnt_plan *p, const struct ctr_mop *op)
{
	return (size_t)(op - p->ops);
}

static void test_mount_plan(void **state)
{
	char *argv[] = { "/bin/true", NULL }, *env[] = { NULL };
	struct ctr_mount m[2] = {
		{ .kind = CTR_MOUNT_TMPFS, .target = "/scratch", .flags = MS_NOSUID, .data = "size=1m" },
		{ .kind = CTR_MOUNT_BIND, .source = "/srv/vol", .target = "/data", .read_only = true },
	};
	struct ctr_device dev = { .host_path = "/dev/fuse", .container_path = "/dev/fuse", .read = true };
	const struct ctr_mop *op, *proc, *dev_op, *devnull, *kcore, *sys_ro, *scratch, *data, *root;
	struct ctr_mnt_plan plan;
	struct berr *err = NULL;
	struct ctr_launch l;
	struct ctr_spec s;

	base_spec(&s, argv, env);
	s.mounts = m;
	s.n_mounts = 2;
	s.devices = &dev;
	s.n_devices = 1;
	s.cwd = "/srv/app";
	s.shm_size = 1 << 20;
	ctr_launch_init(&l);
	l.spec = &s;
	assert_int_equal(ctr_mounts_plan(&l, &plan, &err), 0);

	assert_non_null(proc = find_op(&plan, CTR_MOP_FS, "/proc"));
	assert_string_equal(proc->fstype, "proc");
	assert_int_equal(proc->flags, MS_NOSUID | MS_NOEXEC | MS_NODEV);
	assert_non_null(dev_op = find_op(&plan, CTR_MOP_FS, "/dev"));
	assert_true(dev_op->flags & MS_NODEV);
	assert_non_null(devnull = find_op(&plan, CTR_MOP_BIND, "/dev/null"));
	assert_string_equal(devnull->source, "/dev/null");
	/* read-only: the node is the host's inode (chmod through it would
	 * change the host's /dev/null) */
	assert_int_equal(devnull->flags, MS_RDONLY | MS_NOSUID | MS_NOEXEC);
	assert_non_null(op = find_op(&plan, CTR_MOP_BIND, "/dev/tty"));
	assert_true(op->flags & MS_RDONLY);
	assert_non_null(op = find_op(&plan, CTR_MOP_SYMLINK, "/dev/ptmx"));
	assert_string_equal(op->source, "pts/ptmx");
	assert_non_null(op = find_op(&plan, CTR_MOP_FS, "/dev/shm"));
	assert_string_equal(op->data, "mode=1777,size=1048576");
	assert_non_null(op = find_op(&plan, CTR_MOP_FS, "/dev/pts"));
	assert_string_equal(op->data, "newinstance,ptmxmode=0666,mode=0620,gid=5");
	assert_non_null(op = find_op(&plan, CTR_MOP_SYSFS, "/sys"));
	assert_true(op->flags & MS_RDONLY);
	assert_non_null(op = find_op(&plan, CTR_MOP_FS, "/sys/fs/cgroup"));
	assert_string_equal(op->fstype, "cgroup2");
	assert_true(op->flags & MS_RDONLY);
	assert_non_null(kcore = find_op(&plan, CTR_MOP_MASK, "/proc/kcore"));
	assert_non_null(find_op(&plan, CTR_MOP_MASK, "/sys/firmware"));
	assert_non_null(op = find_op(&plan, CTR_MOP_MASK_GLOB, "/sys/devices/system/cpu"));
	assert_string_equal(op->source, "cpu");
	assert_string_equal(op->data, "thermal_throttle");
	assert_non_null(sys_ro = find_op(&plan, CTR_MOP_READONLY, "/proc/sys"));
	assert_non_null(find_op(&plan, CTR_MOP_READONLY, "/proc/sysrq-trigger"));
	assert_non_null(op = find_op(&plan, CTR_MOP_BIND, "/dev/fuse"));
	assert_true(op->flags & MS_RDONLY);   /* host inode's metadata guarded */
	assert_non_null(scratch = find_op(&plan, CTR_MOP_FS, "/scratch"));
	assert_string_equal(scratch->data, "size=1m");
	assert_int_equal(scratch->flags, MS_NOSUID);
	assert_non_null(data = find_op(&plan, CTR_MOP_BIND, "/data"));
	assert_true(data->rec);
	assert_int_equal(data->flags, MS_RDONLY);
	assert_non_null(find_op(&plan, CTR_MOP_MKDIR, "/srv/app"));
	assert_non_null(root = find_op(&plan, CTR_MOP_ROOT_FLAGS, "/"));
	assert_int_equal(root->flags, MS_NODEV);
	/* the order security.md gives */
	assert_true(op_index(&plan, proc) < op_index(&plan, devnull));
	assert_true(op_index(&plan, devnull) < op_index(&plan, kcore));
	assert_true(op_index(&plan, kcore) < op_index(&plan, sys_ro));
	assert_true(op_index(&plan, sys_ro) < op_index(&plan, scratch));
	assert_true(op_index(&plan, scratch) < op_index(&plan, data));
	assert_int_equal(op_index(&plan, root), plan.n_ops - 1);
	ctr_mounts_plan_free(&plan);

	/* privileged: /sys and cgroup read-write, nothing masked, no nodev */
	s.privileged = true;
	s.readonly_rootfs = true;
	assert_int_equal(ctr_mounts_plan(&l, &plan, &err), 0);
	assert_null(find_op(&plan, CTR_MOP_MASK, "/proc/kcore"));
	assert_null(find_op(&plan, CTR_MOP_READONLY, "/proc/sys"));
	assert_false(find_op(&plan, CTR_MOP_SYSFS, "/sys")->flags & MS_RDONLY);
	assert_false(find_op(&plan, CTR_MOP_FS, "/dev")->flags & MS_NODEV);
	assert_int_equal(find_op(&plan, CTR_MOP_ROOT_FLAGS, "/")->flags, MS_RDONLY);
	ctr_mounts_plan_free(&plan);

	m[1].source = "relative/src";
	assert_int_equal(ctr_mounts_plan(&l, &plan, &err), -EINVAL);
	assert_string_equal(berr_msg(err), "mount /data: source relative/src is not an absolute path: Invalid argument");
	berr_clear(&err);
	ctr_mounts_plan_free(&plan);
}

static void same_file(int fd, const char *path)
{
	struct stat a, b;

	assert_int_equal(fstat(fd, &a), 0);
	assert_int_equal(stat(path, &b), 0);
	assert_int_equal(a.st_dev, b.st_dev);
	assert_int_equal(a.st_ino, b.st_ino);
}

static void test_open_in_root(void **state)
{
	struct stat st;
	int root, fd;

	/* tmp/outside is what an escape would reach; tmp/root is the root */
	assert_int_equal(mkdir(path_in("root"), 0755), 0);
	assert_int_equal(mkdir(path_in("outside"), 0755), 0);
	assert_int_equal(mkdir(path_in("root/etc"), 0755), 0);
	write_file(path_in("outside/secret"), "host\n");
	write_file(path_in("root/etc/passwd"), "root\n");
	assert_int_equal(symlink("../outside", path_in("root/up")), 0);
	assert_int_equal(symlink("/../../outside", path_in("root/abs")), 0);
	assert_int_equal(symlink("/etc", path_in("root/etclink")), 0);
	assert_int_equal(symlink("dangling/x", path_in("root/dangle")), 0);
	root = open(path_in("root"), O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(root >= 0);

	/* absolute and ".." symlinks resolve inside the root */
	fd = ctr_open_in_root(root, "/etclink/passwd", O_PATH, 0);
	assert_true(fd >= 0);
	same_file(fd, path_in("root/etc/passwd"));
	close(fd);
	assert_int_equal(ctr_open_in_root(root, "/up/secret", O_PATH, 0), -ENOENT);
	assert_int_equal(ctr_open_in_root(root, "/abs/secret", O_PATH, 0), -ENOENT);
	assert_int_equal(ctr_open_in_root(root, "/../../outside/secret", O_PATH, 0), -ENOENT);

	/* creating through them creates inside the root */
	fd = ctr_open_in_root(root, "/up/new/dir", O_PATH | O_DIRECTORY, 'd');
	assert_true(fd >= 0);
	same_file(fd, path_in("root/outside/new/dir"));
	close(fd);
	fd = ctr_open_in_root(root, "/abs/file", O_PATH, 'f');
	assert_true(fd >= 0);
	same_file(fd, path_in("root/outside/file"));
	assert_int_equal(fstat(fd, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	close(fd);
	assert_int_equal(stat(path_in("outside/new"), &st), -1);
	assert_int_equal(stat(path_in("outside/file"), &st), -1);

	/* an existing path is opened, not created again */
	fd = ctr_open_in_root(root, "/etc", O_PATH | O_DIRECTORY, 'd');
	same_file(fd, path_in("root/etc"));
	close(fd);
	/* a file where a directory is wanted */
	assert_int_equal(ctr_open_in_root(root, "/etc/passwd/x", O_PATH, 'd'), -ENOTDIR);
	/* a dangling link: what it points to is created, the link stays */
	fd = ctr_open_in_root(root, "/dangle/sub", O_PATH | O_DIRECTORY, 'd');
	assert_true(fd >= 0);
	same_file(fd, path_in("root/dangling/x/sub"));
	close(fd);
	assert_int_equal(lstat(path_in("root/dangle"), &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	/* a loop is refused */
	assert_int_equal(symlink("loop2", path_in("root/loop1")), 0);
	assert_int_equal(symlink("loop1", path_in("root/loop2")), 0);
	assert_int_equal(ctr_open_in_root(root, "/loop1/x", O_PATH, 'd'), -ELOOP);
	/* without create, nothing is made */
	assert_int_equal(ctr_open_in_root(root, "/up/other", O_PATH, 0), -ENOENT);
	assert_int_equal(stat(path_in("root/outside/other"), &st), -1);
	close(root);
}

static void test_msg(void **state)
{
	struct ctr_child_msg msg;
	char num[24], long_part[600];

	assert_string_equal(ctr_utoa(0, num), "0");
	assert_string_equal(ctr_utoa(18446744073709551615ULL, num), "18446744073709551615");
	assert_int_equal(ctr_msg(&msg, "mount", EPERM, "tmpfs on ", "/data", NULL), -EPERM);
	assert_string_equal(msg.step, "mount");
	assert_int_equal(msg.err, EPERM);
	assert_string_equal(msg.detail, "tmpfs on /data");
	memset(long_part, 'x', sizeof(long_part) - 1);
	long_part[sizeof(long_part) - 1] = '\0';
	ctr_msg(&msg, "a step name longer than the field it goes in", 0, long_part, "tail", NULL);
	assert_int_equal(strlen(msg.step), sizeof(msg.step) - 1);
	assert_int_equal(strlen(msg.detail), sizeof(msg.detail) - 1);
}

/* ------------------------------------------- launches in a user namespace */

/* Checks inside the namespace cannot use cmocka: they report here. */
static int report_fd = -1;

#define CHECK(cond, ...) do { \
	if (!(cond)) { \
		dprintf(report_fd, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
		dprintf(report_fd, __VA_ARGS__); \
		dprintf(report_fd, "\n"); \
		return 1; \
	} \
} while (0)

static char helper_src[1024];

static int copy_file(const char *from, const char *to, mode_t mode)
{
	char buf[65536];
	int in = open(from, O_RDONLY | O_CLOEXEC), out;
	ssize_t n;

	if (in < 0)
		return -1;
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (out < 0) {
		close(in);
		return -1;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n)
			n = -1;
	close(in);
	close(out);
	return n < 0 ? -1 : 0;
}

/* tmp/root: the helper at /usr/bin/berth-testhelper, /srv/hello.txt, /tmp;
 * tmp/src: a directory to bind. Everything owned by the namespace's root. */
static void make_rootfs(void)
{
	static const char *const dirs[] = { "root", "root/usr", "root/usr/bin", "root/srv", "root/tmp",
					    "src", "outside" };

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		assert_int_equal(mkdir(path_in(dirs[i]), 0755), 0);
	assert_int_equal(copy_file(helper_src, path_in("root/usr/bin/berth-testhelper"), 0755), 0);
	write_file(path_in("root/srv/hello.txt"), "hello\n");
	write_file(path_in("src/marker"), "bound-marker\n");
	/* a hostile image: a symlink meant to send a mount target outside */
	assert_int_equal(symlink("../../../../outside", path_in("root/evil")), 0);
	chmod(path_in("root/tmp"), 01777);
	static const char *const owned[] = { "", "root", "root/usr", "root/usr/bin",
		"root/usr/bin/berth-testhelper", "root/srv", "root/srv/hello.txt", "root/tmp",
		"src", "src/marker", "outside", "root/evil" };
	for (size_t i = 0; i < sizeof(owned) / sizeof(owned[0]); i++)
		assert_int_equal(lchown(path_in(owned[i]), MAP_BASE, MAP_BASE), 0);
}

/* Run fn as pid 1 of new user (0 -> MAP_BASE), mount and pid namespaces.
 * Returns fn's status; its failure report lands in report[]. */
static int in_userns(int (*fn)(void), char *report, size_t report_len)
{
	int sync1[2], sync2[2], rep[2], status = -1;
	char map[64], path[64], c;
	ssize_t n;
	pid_t pid;

	assert_int_equal(pipe2(sync1, O_CLOEXEC), 0);
	assert_int_equal(pipe2(sync2, O_CLOEXEC), 0);
	assert_int_equal(pipe2(rep, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		pid_t inner;
		int st;

		close(rep[0]);
		report_fd = rep[1];
		if (unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID) < 0) {
			dprintf(report_fd, "unshare: %s", strerror(errno));
			_exit(99);
		}
		if (write(sync1[1], "x", 1) != 1 || read(sync2[0], &c, 1) != 1)
			_exit(99);
		if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0) {
			dprintf(report_fd, "become root in the namespace: %s", strerror(errno));
			_exit(99);
		}
		inner = fork();
		if (inner == 0)
			_exit(fn());
		if (inner < 0 || waitpid(inner, &st, 0) < 0)
			_exit(98);
		_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 97);
	}
	close(rep[1]);
	assert_int_equal(read(sync1[0], &c, 1), 1);
	snprintf(map, sizeof(map), "0 %d 65536", MAP_BASE);
	snprintf(path, sizeof(path), "/proc/%d/uid_map", (int)pid);
	write_file(path, map);
	snprintf(path, sizeof(path), "/proc/%d/gid_map", (int)pid);
	write_file(path, map);
	assert_int_equal(write(sync2[1], "x", 1), 1);
	{
		size_t got = 0;

		while (got < report_len - 1 && (n = read(rep[0], report + got, report_len - 1 - got)) > 0)
			got += (size_t)n;
		report[got] = '\0';
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	close(rep[0]);
	close(sync1[0]);
	close(sync1[1]);
	close(sync2[0]);
	close(sync2[1]);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 96;
}

static int wait_pidfd(int pidfd)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	if (waitid(P_PIDFD, (id_t)pidfd, &si, WEXITED) < 0)
		return -1;
	return si.si_code == CLD_EXITED ? si.si_status : 128 + si.si_status;
}

/* Launch argv in tmp/root with spec edits by `edit`; stdout into out[];
 * returns the exit status, or -1 with the launch error in errbuf. */
struct run {
	char *const *argv;
	void (*edit)(struct ctr_spec *s, struct ctr_launch *l);
	char out[16384];
	char err[1024];
	struct ctr_proc proc;     /* with keep: the running process */
	bool keep;
};

static char *const default_env[] = { "PATH=/usr/bin:/bin", "HOSTNAME=box", NULL };

static int run(struct run *r)
{
	struct ctr_spec s;
	struct ctr_launch l;
	struct berr *err = NULL;
	const struct ctr_seccomp *sc = NULL;
	int pipefd[2], st;
	size_t len = 0;
	ssize_t n;

	base_spec(&s, (char **)r->argv, (char **)default_env);
	s.hostname = "box";
	s.cwd = "/srv";
	ctr_launch_init(&l);
	l.spec = &s;
	l.rootfs = path_in("root");
	if (r->edit)
		r->edit(&s, &l);
	if (!s.privileged && ctr_seccomp_get(s.caps, &sc, &err) < 0) {
		snprintf(r->err, sizeof(r->err), "seccomp: %s", berr_msg(err));
		berr_free(err);
		return -1;
	}
	l.seccomp = sc;
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return -1;
	l.stdout_fd = pipefd[1];
	if (ctr_launch(&l, &r->proc, &err) < 0) {
		snprintf(r->err, sizeof(r->err), "%s", berr_msg(err));
		berr_free(err);
		close(pipefd[0]);
		close(pipefd[1]);
		return -1;
	}
	close(pipefd[1]);
	if (r->keep) {
		close(pipefd[0]);
		return 0;
	}
	while ((n = read(pipefd[0], r->out + len, sizeof(r->out) - 1 - len)) > 0)
		len += (size_t)n;
	r->out[len] = '\0';
	close(pipefd[0]);
	st = wait_pidfd(r->proc.pidfd);
	ctr_proc_release(&r->proc);
	return st;
}

static char *const info_argv[] = { "berth-testhelper", "info", NULL };

static void as_app(struct ctr_spec *s, struct ctr_launch *l)
{
	static gid_t groups[] = { 2000 };

	s->uid = 1000;
	s->gid = 1000;
	s->groups = groups;
	s->n_groups = 1;
}

static int ns_info(void)
{
	struct run r = { .argv = info_argv };
	char want[128];
	int st = run(&r);

	CHECK(st == 0, "status %d, error: %s, output: %s", st, r.err, r.out);
	CHECK(strstr(r.out, "\"pid\":1,"), "%s", r.out);
	CHECK(strstr(r.out, "\"hostname\":\"box\""), "%s", r.out);
	CHECK(strstr(r.out, "\"cwd\":\"/srv\""), "%s", r.out);
	CHECK(strstr(r.out, "\"uid\":0,\"gid\":0,"), "%s", r.out);
	CHECK(strstr(r.out, "\"no_new_privs\":true"), "%s", r.out);
	CHECK(strstr(r.out, "\"seccomp\":2"), "%s", r.out);
	CHECK(strstr(r.out, "\"fds\":[0,1,2]"), "%s", r.out);
	CHECK(strstr(r.out, "\"umask\":\"0022\""), "%s", r.out);
	CHECK(strstr(r.out, "0::/\\n"), "cgroup namespace root: %s", r.out);
	snprintf(want, sizeof(want), "\"effective\":\"%016llx\",\"bounding\":\"%016llx\"",
		 (unsigned long long)ctr_caps_default(), (unsigned long long)ctr_caps_default());
	CHECK(strstr(r.out, want), "want %s in %s", want, r.out);
	CHECK(strstr(r.out, "\"inheritable\":\"0000000000000000\""), "%s", r.out);
	CHECK(strstr(r.out, "{\"target\":\"/proc/sys\",\"fstype\":\"proc\",\"source\":\"proc\",\"options\":\"ro,"),
	      "/proc/sys read-only: %s", r.out);
	CHECK(strstr(r.out, "{\"target\":\"/sys\",\"fstype\":\"sysfs\",\"source\":\"sysfs\",\"options\":\"ro,"),
	      "/sys read-only: %s", r.out);
	CHECK(strstr(r.out, "{\"target\":\"/dev/pts\",\"fstype\":\"devpts\""), "%s", r.out);

	/* a non-root user: its groups, no effective capabilities (Docker) */
	memset(&r, 0, sizeof(r));
	r.argv = info_argv;
	r.edit = as_app;
	st = run(&r);
	CHECK(st == 0, "status %d, error: %s", st, r.err);
	CHECK(strstr(r.out, "\"uid\":1000,\"gid\":1000,\"euid\":1000,\"egid\":1000,\"groups\":[2000]"), "%s", r.out);
	CHECK(strstr(r.out, "\"effective\":\"0000000000000000\""), "%s", r.out);
	CHECK(strstr(r.out, "\"permitted\":\"0000000000000000\""), "%s", r.out);

	/* what we ignore or block does not reach the container's program */
	{
		static char *const status[] = { "berth-testhelper", "cat", "/proc/self/status", NULL };
		sigset_t set;

		signal(SIGUSR1, SIG_IGN);
		signal(SIGPIPE, SIG_IGN);
		sigemptyset(&set);
		sigaddset(&set, SIGTERM);
		sigprocmask(SIG_BLOCK, &set, NULL);
		memset(&r, 0, sizeof(r));
		r.argv = status;
		st = run(&r);
		CHECK(st == 0, "status %d, error: %s", st, r.err);
		CHECK(strstr(r.out, "SigBlk:\t0000000000000000\n"), "%s", r.out);
		CHECK(strstr(r.out, "SigIgn:\t0000000000000000\n"), "%s", r.out);
		CHECK(strstr(r.out, "NoNewPrivs:\t1\n"), "%s", r.out);
	}
	return 0;
}

static int ns_failures(void)
{
	static char *const missing[] = { "/nope", NULL }, *bare[] = { "nope", NULL };
	struct run r = { .argv = missing };
	int before = count_fds(), st;

	st = run(&r);
	CHECK(st == -1, "launch of a missing program: status %d", st);
	CHECK(!strcmp(r.err, "container web: exec: No such file or directory (executable file not found: /nope)"),
	      "%s", r.err);
	/* the failed child was reaped, nothing leaked */
	CHECK(waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD, "a child is left");
	CHECK(count_fds() == before, "fds: %d before, %d after", before, count_fds());

	memset(&r, 0, sizeof(r));
	r.argv = bare;
	st = run(&r);
	CHECK(st == -1 && strstr(r.err, "exec: No such file or directory (executable file not found: nope)"),
	      "%d %s", st, r.err);
	CHECK(count_fds() == before, "fds: %d before, %d after", before, count_fds());
	return 0;
}

static void bad_cwd(struct ctr_spec *s, struct ctr_launch *l)
{
	s->cwd = "/srv/hello.txt";
}

static void bad_rootfs(struct ctr_spec *s, struct ctr_launch *l)
{
	l->rootfs = path_in("no-such-root");
}

static void not_a_program(struct ctr_spec *s, struct ctr_launch *l)
{
	static char *const argv[] = { "/srv/hello.txt", NULL };

	s->argv = (char **)argv;
}

static int ns_step_errors(void)
{
	struct run r = { .argv = info_argv, .edit = bad_cwd };
	int st = run(&r);

	CHECK(st == -1 && !strcmp(r.err, "container web: working directory: Not a directory (/srv/hello.txt)"),
	      "%d %s", st, r.err);
	memset(&r, 0, sizeof(r));
	r.argv = info_argv;
	r.edit = bad_rootfs;
	st = run(&r);
	CHECK(st == -1 && strstr(r.err, "container web: bind rootfs: No such file or directory ("), "%d %s", st,
	      r.err);
	memset(&r, 0, sizeof(r));
	r.argv = info_argv;
	r.edit = not_a_program;
	st = run(&r);
	CHECK(st == -1 && !strcmp(r.err, "container web: exec: Permission denied (permission denied: /srv/hello.txt)"),
	      "%d %s", st, r.err);
	CHECK(waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD, "a child is left");
	return 0;
}

static void mounts_edit(struct ctr_spec *s, struct ctr_launch *l)
{
	static struct ctr_mount m[2];

	memset(m, 0, sizeof(m));
	m[0].kind = CTR_MOUNT_BIND;
	m[0].source = path_in("src");
	m[0].target = "/evil/data";      /* evil -> ../../../../outside */
	m[0].read_only = true;
	m[1].kind = CTR_MOUNT_TMPFS;
	m[1].target = "/scratch";
	m[1].flags = MS_NOSUID | MS_NODEV;
	m[1].data = "size=1m";
	s->mounts = m;
	s->n_mounts = 2;
	s->readonly_rootfs = true;
}

static int ns_mounts(void)
{
	static char *const sh[] = { "berth-testhelper", "cat", "/outside/data/marker", NULL };
	static char *const wr_ro[] = { "berth-testhelper", "write", "/outside/data/x", "y", NULL };
	static char *const wr_root[] = { "berth-testhelper", "write", "/tmp/x", "y", NULL };
	static char *const wr_tmpfs[] = { "berth-testhelper", "write", "/scratch/x", "y", NULL };
	struct run r = { .argv = sh, .edit = mounts_edit };
	struct stat st_;
	int st = run(&r);

	CHECK(st == 0 && !strcmp(r.out, "bound-marker\n"), "status %d err %s out %s", st, r.err, r.out);
	/* the mount point was created inside the root, not next to it */
	CHECK(stat(path_in("root/outside/data"), &st_) == 0 && S_ISDIR(st_.st_mode), "no root/outside/data");
	CHECK(stat(path_in("outside/data"), &st_) < 0, "a mount point was created outside the root");
	memset(&r, 0, sizeof(r));
	r.argv = wr_ro;
	r.edit = mounts_edit;
	st = run(&r);
	CHECK(st == 1 && strstr(r.out, "EROFS"), "read-only bind: %d %s %s", st, r.err, r.out);
	memset(&r, 0, sizeof(r));
	r.argv = wr_root;
	r.edit = mounts_edit;
	st = run(&r);
	CHECK(st == 1 && strstr(r.out, "EROFS"), "read-only root: %d %s %s", st, r.err, r.out);
	memset(&r, 0, sizeof(r));
	r.argv = wr_tmpfs;
	r.edit = mounts_edit;
	st = run(&r);
	CHECK(st == 0, "tmpfs: %d %s %s", st, r.err, r.out);
	return 0;
}

static void with_init(struct ctr_spec *s, struct ctr_launch *l)
{
	struct berr *err = NULL;

	s->init = true;
	l->init_fd = ctr_init_fd(&err);
	berr_free(err);
}

static int ns_init_and_exec(void)
{
	static char *const exit7[] = { "berth-testhelper", "exit", "7", NULL };
	static char *const sleeper[] = { "berth-testhelper", "sleep", "30", NULL };
	struct run r = { .argv = exit7, .edit = with_init };
	struct ctr_launch l;
	struct ctr_spec s;
	struct ctr_proc ex;
	struct berr *err = NULL;
	const struct ctr_seccomp *sc = NULL;
	char out[16384];
	int pipefd[2], st;
	ssize_t n;
	size_t len = 0;

	st = run(&r);
	CHECK(st == 7, "under berth-init: %d %s", st, r.err);

	memset(&r, 0, sizeof(r));
	r.argv = sleeper;
	r.keep = true;
	CHECK(run(&r) == 0, "start the sleeper: %s", r.err);
	base_spec(&s, (char **)info_argv, (char **)default_env);
	s.cwd = "/srv";
	CHECK(ctr_seccomp_get(s.caps, &sc, &err) == 0, "seccomp");
	ctr_launch_init(&l);
	l.spec = &s;
	l.seccomp = sc;
	CHECK(pipe2(pipefd, O_CLOEXEC) == 0, "pipe");
	l.stdout_fd = pipefd[1];
	if (ctr_exec(&l, &r.proc, info_argv, &ex, &err) < 0) {
		dprintf(report_fd, "exec: %s", berr_msg(err));
		return 1;
	}
	close(pipefd[1]);
	while ((n = read(pipefd[0], out + len, sizeof(out) - 1 - len)) > 0)
		len += (size_t)n;
	out[len] = '\0';
	close(pipefd[0]);
	st = wait_pidfd(ex.pidfd);
	ctr_proc_release(&ex);
	CHECK(st == 0, "exec status %d", st);
	/* the launcher joined the container's pid namespace for the clone and
	 * came back: our next child is ours again */
	{
		char a[64] = "", b[64] = "";

		CHECK(readlink("/proc/thread-self/ns/pid_for_children", a, sizeof(a) - 1) > 0 &&
		      readlink("/proc/self/ns/pid", b, sizeof(b) - 1) > 0 && !strcmp(a, b),
		      "pid_for_children %s, pid %s", a, b);
	}
	CHECK(strstr(out, "\"pid\":2,"), "%s", out);
	CHECK(strstr(out, "\"hostname\":\"box\""), "%s", out);
	CHECK(strstr(out, "\"no_new_privs\":true,\"seccomp\":2"), "%s", out);
	CHECK(strstr(out, "0::/\\n"), "%s", out);
	CHECK(strstr(out, "\"fds\":[0,1,2]"), "%s", out);
	syscall(SYS_pidfd_send_signal, r.proc.pidfd, SIGKILL, NULL, 0);
	CHECK(wait_pidfd(r.proc.pidfd) == 128 + SIGKILL, "sleeper status");
	ctr_proc_release(&r.proc);
	return 0;
}

/* pidMode task: containers join the pid namespace of a holder. */
static int pause_pidfd = -1;

static void join_pause(struct ctr_spec *s, struct ctr_launch *l)
{
	l->pidns_fd = pause_pidfd;
}

static int ns_pause(void)
{
	static char *const sleeper[] = { "berth-testhelper", "sleep", "inf", NULL };
	static char *const ps[] = { "berth-testhelper", "ps", NULL };
	static char *const status1[] = { "berth-testhelper", "cat", "/proc/1/status", NULL };
	static char *const environ1[] = { "berth-testhelper", "cat", "--json", "/proc/1/environ", NULL };
	static char *const kill1[] = { "berth-testhelper", "kill", "TERM", "1", NULL };
	static char *const int1[] = { "berth-testhelper", "kill", "INT", "1", NULL };
	struct run r, sl;
	struct ctr_launch l;
	struct ctr_proc pause;
	struct berr *err = NULL;
	struct statfs sfs;
	struct stat st_before, st_after;
	char path[512];
	siginfo_t si;
	DIR *d;
	struct dirent *de;
	int before = count_fds(), st, n;

	CHECK(mkdir(path_in("pause"), 0700) == 0 && stat(path_in("pause"), &st_before) == 0, "mkdir: %s",
	      strerror(errno));
	ctr_launch_init(&l);
	l.pause = true;
	l.rootfs = path_in("pause");
	if (ctr_launch(&l, &pause, &err) < 0) {
		dprintf(report_fd, "holder: %s", berr_msg(err));
		return 1;
	}
	pause_pidfd = pause.pidfd;

	/* from outside (a procfs of our pid namespace): PID 1 of its own,
	 * nobody, no capabilities, no_new_privs, seccomp, not dumpable; its
	 * root is an empty read-only tmpfs; the mount point here is unchanged */
	CHECK(mkdir(path_in("proc"), 0755) == 0 && mount("proc", path_in("proc"), "proc", 0, NULL) == 0,
	      "mount proc: %s", strerror(errno));
	snprintf(path, sizeof(path), "%s/%d/status", path_in("proc"), (int)pause.pid);
	{
		char *text = NULL;
		size_t len = 0;

		static const char *const want[] = {
			"\nUid:\t65534\t65534\t65534\t65534\n", "\nGid:\t65534\t65534\t65534\t65534\n",
			"\nCapPrm:\t0000000000000000\n", "\nCapEff:\t0000000000000000\n",
			"\nCapBnd:\t0000000000000000\n", "\nNoNewPrivs:\t1\n", "\nSeccomp:\t2\n",
		};

		CHECK(fs_read_file(path, &text, &len, 1 << 16, &err) == 0, "%s", berr_msg(err));
		for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
			CHECK(strstr(text, want[i]), "no '%s' in the holder's status: %.1500s", want[i],
			      strstr(text, "\nUid:") ? strstr(text, "\nUid:") : text);
		{
			const char *g = strstr(text, "\nGroups:");

			CHECK(g && g[8 + strspn(g + 8, " \t")] == '\n', "supplementary groups: %.40s", g);
		}
		snprintf(path, sizeof(path), "\nNSpid:\t%d\t1\n", (int)pause.pid);
		CHECK(strstr(text, path), "not PID 1 of its own namespace: %.1500s", strstr(text, "\nNSpid"));
		free(text);
	}
	snprintf(path, sizeof(path), "%s/%d/root", path_in("proc"), (int)pause.pid);
	CHECK(statfs(path, &sfs) == 0, "statfs %s: %s", path, strerror(errno));
	CHECK(sfs.f_type == TMPFS_MAGIC && (sfs.f_flags & ST_RDONLY), "root: type %lx flags %lx",
	      (unsigned long)sfs.f_type, (unsigned long)sfs.f_flags);
	d = opendir(path);
	CHECK(d, "opendir %s: %s", path, strerror(errno));
	n = 0;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	CHECK(n == 0, "%d entries in the holder's root", n);
	CHECK(stat(path_in("pause"), &st_after) == 0 && st_after.st_dev == st_before.st_dev &&
	      st_after.st_ino == st_before.st_ino, "the mount point changed in our namespace");

	/* a container in it sees the holder as PID 1 and a sleeping neighbour */
	memset(&sl, 0, sizeof(sl));
	sl.argv = sleeper;
	sl.edit = join_pause;
	sl.keep = true;
	CHECK(run(&sl) == 0, "start the sleeper: %s", sl.err);
	memset(&r, 0, sizeof(r));
	r.argv = ps;
	r.edit = join_pause;
	st = run(&r);
	CHECK(st == 0, "ps: %d %s", st, r.err);
	CHECK(strstr(r.out, "{\"pid\":1,\"ppid\":0,\"state\":\"S\",\"uid\":65534,") &&
	      strstr(r.out, "\"cmdline\":[\"berth-init\",\"--pause\"]}"), "no holder as PID 1: %s", r.out);
	CHECK(strstr(r.out, "\"cmdline\":[\"berth-testhelper\",\"sleep\",\"inf\"]}"), "no sleeper: %s", r.out);
	/* ps itself is not PID 1, and its parent is outside (0 here), as the
	 * sleeper's */
	CHECK(strstr(r.out, "\"ppid\":0,\"state\":\"R\",\"uid\":0,\"comm\":\"berth-testhelpe\","
		      "\"cmdline\":[\"berth-testhelper\",\"ps\"]}") &&
	      !strstr(r.out, "{\"pid\":1,\"ppid\":0,\"state\":\"R\""), "ps itself: %s", r.out);
	/* a container of its own does not see them */
	memset(&r, 0, sizeof(r));
	r.argv = ps;
	st = run(&r);
	CHECK(st == 0 && strstr(r.out, "{\"pid\":1,") && !strstr(r.out, "sleep") && !strstr(r.out, "--pause"),
	      "ps without the shared namespace: %d %s", st, r.err);

	/* root with CAP_KILL in a container: reads the holder's status but not
	 * its environ (not dumpable, no CAP_SYS_PTRACE); its SIGTERM and
	 * SIGINT are sent and ignored */
	memset(&r, 0, sizeof(r));
	r.argv = status1;
	r.edit = join_pause;
	st = run(&r);
	CHECK(st == 0 && strstr(r.out, "\nUid:\t65534\t"), "status: %d %s %s", st, r.err, r.out);
	memset(&r, 0, sizeof(r));
	r.argv = environ1;
	r.edit = join_pause;
	st = run(&r);
	CHECK(st == 1 && strstr(r.out, "\"errno\":\"EACCES\""), "environ: %d %s %s", st, r.err, r.out);
	memset(&r, 0, sizeof(r));
	r.argv = kill1;
	r.edit = join_pause;
	st = run(&r);
	CHECK(st == 0 && strstr(r.out, "\"errno\":null"), "kill TERM 1: %d %s %s", st, r.err, r.out);
	memset(&r, 0, sizeof(r));
	r.argv = int1;
	r.edit = join_pause;
	st = run(&r);
	CHECK(st == 0 && strstr(r.out, "\"errno\":null"), "kill INT 1: %d %s %s", st, r.err, r.out);
	usleep(300000);
	memset(&si, 0, sizeof(si));
	CHECK(waitid(P_PIDFD, (id_t)pause.pidfd, &si, WEXITED | WNOHANG) == 0 && si.si_pid == 0,
	      "the holder ended on a signal from a container");

	/* SIGTERM from here ends it (exit 0) and with it the namespace; its
	 * exit waits until every process of the namespace has been reaped by
	 * its parent (we are the sleeper's): the sleeper first */
	CHECK(syscall(SYS_pidfd_send_signal, pause.pidfd, SIGTERM, NULL, 0) == 0, "pidfd_send_signal");
	st = wait_pidfd(sl.proc.pidfd);
	CHECK(st == 128 + SIGKILL, "sleeper status %d", st);
	st = wait_pidfd(pause.pidfd);
	CHECK(st == 0, "holder status %d", st);
	ctr_proc_release(&sl.proc);
	/* nothing can join it any more */
	memset(&r, 0, sizeof(r));
	r.argv = ps;
	r.edit = join_pause;
	st = run(&r);
	CHECK(st == -1 && strstr(r.err, "join the pid namespace"), "join after the end: %d %s", st, r.err);
	ctr_proc_release(&pause);
	pause_pidfd = -1;
	CHECK(umount2(path_in("proc"), MNT_DETACH) == 0, "umount proc");
	CHECK(waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD, "a child is left");
	CHECK(count_fds() == before, "fds: %d before, %d after", before, count_fds());
	return 0;
}

/* clone3 answers ENOSYS (as under Docker's seccomp profile): clone(2) */
static int ns_clone_fallback(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, 3),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 435 /* clone3 */, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };
	struct run r = { .argv = info_argv };
	int st;

	CHECK(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) == 0, "seccomp: %s", strerror(errno));
	CHECK(syscall(435, NULL, 0) < 0 && errno == ENOSYS, "clone3 is not ENOSYS");
	st = run(&r);
	CHECK(st == 0, "status %d, error: %s", st, r.err);
	CHECK(strstr(r.out, "\"pid\":1,") && strstr(r.out, "\"hostname\":\"box\"") &&
	      strstr(r.out, "0::/\\n"), "%s", r.out);
	return 0;
}

static void in_ns(int (*fn)(void))
{
	char report[4096];
	int st;

	if (geteuid() != 0)
		skip();   /* mapping a range of ids needs root (no newuidmap here) */
	snprintf(helper_src, sizeof(helper_src), "%s/bin/berth-testhelper",
		 getenv("BERTH_BINARY_DIR") ? getenv("BERTH_BINARY_DIR") : ".");
	if (access(helper_src, X_OK) < 0) {
		fprintf(stderr, "no %s\n", helper_src);
		fail();
	}
	make_rootfs();
	st = in_userns(fn, report, sizeof(report));
	if (st == 99 && strstr(report, "unshare")) {
		fprintf(stderr, "user namespaces unavailable: %s\n", report);
		skip();
	}
	if (st != 0)
		fprintf(stderr, "in the namespace (status %d): %s\n", st, report);
	assert_int_equal(st, 0);
}

static void test_ns_info(void **state) { in_ns(ns_info); }
static void test_ns_failures(void **state) { in_ns(ns_failures); }
static void test_ns_step_errors(void **state) { in_ns(ns_step_errors); }
static void test_ns_mounts(void **state) { in_ns(ns_mounts); }
static void test_ns_init_and_exec(void **state) { in_ns(ns_init_and_exec); }
static void test_ns_clone_fallback(void **state) { in_ns(ns_clone_fallback); }
static void test_ns_pause(void **state) { in_ns(ns_pause); }

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_bad_requests, setup_tmp, teardown_tmp),
		cmocka_unit_test(test_mount_plan),
		cmocka_unit_test_setup_teardown(test_open_in_root, setup_tmp, teardown_tmp),
		cmocka_unit_test(test_msg),
		cmocka_unit_test_setup_teardown(test_ns_info, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_ns_failures, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_ns_step_errors, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_ns_mounts, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_ns_init_and_exec, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_ns_clone_fallback, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_ns_pause, setup_tmp, teardown_tmp),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
