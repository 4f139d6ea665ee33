/* runtime/container/launch.c - start a container process (see launch.h).
 *
 * Parent side: everything that allocates or may fail slowly (the mount
 * table, the exec candidates, /dev/null, the device filter) is prepared
 * first; then one clone3 (CLONE_INTO_CGROUP, CLONE_PIDFD, new namespaces)
 * without CLONE_VM, so the child runs on a private copy of our memory.
 * Child side (child_*): only syscalls, no malloc, stdio or locks (the
 * parent may be multi-threaded), in security.md's order; a failing step
 * sends {step, errno, detail} over the SOCK_SEQPACKET pair and exits 127.
 * The parent reads the socket: EOF means the child reached execve (the
 * socket is close-on-exec), a message means it failed; then the child is
 * reaped, so a failed launch leaves nothing behind. */
#include "runtime/container/launch.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/capability.h>
#include <linux/close_range.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "runtime/container/caps.h"
#include "runtime/container/mounts.h"

#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef OPEN_TREE_CLOEXEC
#define OPEN_TREE_CLOEXEC O_CLOEXEC
#endif
#ifndef MOUNT_ATTR_RDONLY
#define MOUNT_ATTR_RDONLY 0x00000001
#endif

/* What the child needs, prepared by the parent; the child works on its own
 * copy (clone without CLONE_VM) and may change its fields. */
struct child {
	int sync_fd;                    /* the child's end of the socket pair */
	int stdio[3];                   /* the fds to make 0, 1, 2 */
	bool wait_go;                   /* clone(2) fallback: wait until the parent has
					 * moved us into the cgroup */
	/* ctr_launch */
	bool launch;
	bool pause;                     /* the pid namespace holder: an empty root, no mount plan */
	const char *rootfs;
	const struct ctr_mnt_plan *mounts;
	int join_fd[3];                 /* namespaces to join (net, ipc, uts), -1: none */
	const char *hostname;           /* set when the UTS namespace is ours */
	/* ctr_exec */
	int target_pidfd;
	bool tty;                       /* stdin becomes the controlling terminal */
	/* the process */
	const struct ctr_spec *spec;
	int cap_last;
	const struct ctr_seccomp *seccomp;
	char **argv;                    /* what execveat gets: berth-init's argv */
	char **candidates;              /* paths to try, in order (PATH search done here) */
	const char *argv0;              /* for messages */
	int init_fd;                    /* sealed berth-init: execveat(init_fd, "", argv, env, AT_EMPTY_PATH) */
	bool exec_mode;                 /* argv is berth-init's exec mode (CTR_EXEC_ARGV0): the
					 * sync fd number goes into argv[1] */
	char n_cands[24];               /* argv[2] of exec mode */
};

static const int join_types[3] = { CLONE_NEWNET, CLONE_NEWIPC, CLONE_NEWUTS };
static const char *const join_names[3] = { "network namespace", "ipc namespace", "uts namespace" };

void ctr_launch_init(struct ctr_launch *l)
{
	memset(l, 0, sizeof(*l));
	l->cgroup_fd = -1;
	l->netns_fd = l->pidns_fd = l->ipcns_fd = l->utsns_fd = CTR_NS_NEW;
	l->stdin_fd = l->stdout_fd = l->stderr_fd = -1;
	l->init_fd = -1;
}

void ctr_proc_release(struct ctr_proc *p)
{
	if (p->pidfd >= 0)
		close(p->pidfd);
	p->pidfd = -1;
}

/* ------------------------------------------------------------ child side */

/* Move *fd above 2, so installing stdio cannot clobber it. */
static int child_raise_fd(int *fd)
{
	int n;

	if (*fd < 0 || *fd > 2)
		return 0;
	n = fcntl(*fd, F_DUPFD_CLOEXEC, 3);
	if (n < 0)
		return -errno;
	*fd = n;
	return 0;
}

/* Signals: the parent blocked all of them around clone, and they stay
 * blocked through the setup (so a failing step is always reported); the
 * program gets default dispositions (execve keeps SIG_IGN) and, right
 * before execve, an empty mask. */
static void child_reset_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			(void)sigaction(sig, &sa, NULL);   /* glibc's internal ones say EINVAL */
}

static void child_unblock_signals(void)
{
	sigset_t none;

	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
}

static int child_stdio(struct child *c, struct ctr_child_msg *msg)
{
	int tmp[3];

	/* dup every source above 2 first: a source may be another's target */
	for (int i = 0; i < 3; i++) {
		tmp[i] = fcntl(c->stdio[i], F_DUPFD_CLOEXEC, 3);
		if (tmp[i] < 0)
			return ctr_msg(msg, "stdio", errno, i == 0 ? "stdin" : i == 1 ? "stdout" : "stderr",
				       NULL);
	}
	for (int i = 0; i < 3; i++) {
		if (dup2(tmp[i], i) < 0)
			return ctr_msg(msg, "stdio", errno, "dup2", NULL);
		close(tmp[i]);
	}
	return 0;
}

static int child_pivot(struct child *c, struct ctr_child_msg *msg)
{
	int rootfd, r;

	/* nothing we do from here may propagate to the host's mounts */
	if (mount("", "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return ctr_msg(msg, "mount propagation", errno, "make / private", NULL);
	if (mount(c->rootfs, c->rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
		return ctr_msg(msg, "bind rootfs", errno, c->rootfs, NULL);
	rootfd = open(c->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return ctr_msg(msg, "bind rootfs", errno, "open ", c->rootfs, NULL);
	r = ctr_mounts_apply(c->mounts, rootfd, msg);
	if (r < 0) {
		close(rootfd);
		return r;
	}
	if (fchdir(rootfd) < 0) {
		r = ctr_msg(msg, "pivot_root", errno, "chdir ", c->rootfs, NULL);
		close(rootfd);
		return r;
	}
	close(rootfd);
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		return ctr_msg(msg, "pivot_root", errno, c->rootfs, NULL);
	/* the old root is stacked on "." now: detach it */
	if (umount2(".", MNT_DETACH) < 0)
		return ctr_msg(msg, "pivot_root", errno, "detach the old root", NULL);
	if (chdir("/") < 0)
		return ctr_msg(msg, "pivot_root", errno, "chdir /", NULL);
	return 0;
}

/* The pid namespace holder's root: an empty read-only tmpfs mounted over
 * c->rootfs (in our mount namespace only), then pivot_root into it: the
 * host's mounts are detached, nothing of any filesystem is reachable. */
static int child_empty_root(struct child *c, struct ctr_child_msg *msg)
{
	if (mount("", "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return ctr_msg(msg, "mount propagation", errno, "make / private", NULL);
	if (mount("berth-pause", c->rootfs, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  "size=4k,nr_inodes=16,mode=0555") < 0)
		return ctr_msg(msg, "empty root", errno, "read-only tmpfs on ", c->rootfs, NULL);
	if (chdir(c->rootfs) < 0)
		return ctr_msg(msg, "pivot_root", errno, "chdir ", c->rootfs, NULL);
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		return ctr_msg(msg, "pivot_root", errno, c->rootfs, NULL);
	if (umount2(".", MNT_DETACH) < 0)
		return ctr_msg(msg, "pivot_root", errno, "detach the old root", NULL);
	if (chdir("/") < 0)
		return ctr_msg(msg, "pivot_root", errno, "chdir /", NULL);
	return 0;
}

static int child_caps(struct child *c, struct ctr_child_msg *msg)
{
	const struct ctr_spec *s = c->spec;
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct data[2];
	char num[24];

	for (int cap = 0; cap <= c->cap_last; cap++) {
		if (s->caps & (1ULL << cap))
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
			return ctr_msg(msg, "capabilities", errno, "drop from the bounding set: ",
				       ctr_utoa((unsigned)cap, num), NULL);
	}
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		return ctr_msg(msg, "capabilities", errno, "keepcaps", NULL);
	/* raw syscalls: glibc's set*id wrappers signal every thread of the
	 * parent, which do not exist here */
	if (syscall(SYS_setgroups, s->n_groups, s->groups) < 0)
		return ctr_msg(msg, "setgroups", errno, "supplementary groups", NULL);
	if (syscall(SYS_setresgid, s->gid, s->gid, s->gid) < 0)
		return ctr_msg(msg, "setresgid", errno, "gid ", ctr_utoa(s->gid, num), NULL);
	if (syscall(SYS_setresuid, s->uid, s->uid, s->uid) < 0)
		return ctr_msg(msg, "setresuid", errno, "uid ", ctr_utoa(s->uid, num), NULL);
	/* Effective = permitted = the set; inheritable empty, as Docker does
	 * since CVE-2022-24769; no ambient capabilities (Docker gives a
	 * non-root user none: its effective set is empty after execve). */
	memset(data, 0, sizeof(data));
	data[0].effective = data[0].permitted = (uint32_t)s->caps;
	data[1].effective = data[1].permitted = (uint32_t)(s->caps >> 32);
	if (syscall(SYS_capset, &hdr, data) < 0)
		return ctr_msg(msg, "capabilities", errno, "capset", NULL);
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return ctr_msg(msg, "capabilities", errno, "clear the ambient set", NULL);
	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
		return ctr_msg(msg, "capabilities", errno, "keepcaps", NULL);
	return 0;
}

/* Every fd above 2 close-on-exec (the sync socket must live until execve;
 * CVE-2024-21626 was a leaked fd). */
static int child_cloexec_fds(struct ctr_child_msg *msg)
{
	char dbuf[2048] __attribute__((aligned(8)));
	int dfd;
	long n;

	if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
		return 0;
	if (errno != ENOSYS && errno != EINVAL)
		return ctr_msg(msg, "close fds", errno, "close_range", NULL);
	dfd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return ctr_msg(msg, "close fds", errno, "open /proc/self/fd", NULL);
	while ((n = syscall(SYS_getdents64, dfd, dbuf, sizeof(dbuf))) > 0) {
		for (long off = 0; off < n;) {
			struct dirent64 *de = (struct dirent64 *)(dbuf + off);
			int fd = 0;
			bool num = de->d_name[0] != '\0';

			off += de->d_reclen;
			for (const char *p = de->d_name; *p; p++) {
				if (*p < '0' || *p > '9') {
					num = false;
					break;
				}
				fd = fd * 10 + (*p - '0');
			}
			if (num && fd > 2 && fd != dfd && fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
				close(dfd);
				return ctr_msg(msg, "close fds", errno, "set close-on-exec", NULL);
			}
		}
	}
	close(dfd);
	return n < 0 ? ctr_msg(msg, "close fds", errno, "read /proc/self/fd", NULL) : 0;
}

/* The program is never exec'd from here: while an execve runs,
 * /proc/self/exe is still this process's, the runtime's binary, and the
 * path (or a script's or an ELF's interpreter) may be that magic link
 * (CVE-2019-5736). berth-init, from its sealed memfd, does the execve:
 * as PID 1 (initProcessEnabled) or in exec mode, which tries the PATH
 * candidates and reports a failure on the sync socket as we would. */
static int child_exec(struct child *c, struct ctr_child_msg *msg)
{
	char fd_num[24];

	if (c->exec_mode) {
		c->argv[1] = ctr_utoa((unsigned)c->sync_fd, fd_num);
		/* berth-init makes it close-on-exec again before the program */
		if (fcntl(c->sync_fd, F_SETFD, 0) < 0)
			return ctr_msg(msg, "sync", errno, "keep the sync socket across exec", NULL);
	}
	child_unblock_signals();
	syscall(SYS_execveat, c->init_fd, "", c->argv, c->spec->env, AT_EMPTY_PATH);
	return ctr_msg(msg, "exec", errno, "berth-init for ", c->argv0, NULL);
}

/* The steps after the root filesystem, shared with ctr_exec. */
static int child_process(struct child *c, struct ctr_child_msg *msg)
{
	const struct ctr_spec *s = c->spec;
	char cwd[4096], num[24];
	long n;
	int r;

	for (size_t i = 0; i < s->n_rlimits; i++) {
		struct rlimit rl = { .rlim_cur = s->rlimits[i].soft, .rlim_max = s->rlimits[i].hard };

		if (setrlimit(s->rlimits[i].resource, &rl) < 0)
			return ctr_msg(msg, "rlimit", errno, "resource ",
				       ctr_utoa((unsigned)s->rlimits[i].resource, num), NULL);
	}
	if (setsid() < 0)
		return ctr_msg(msg, "setsid", errno, NULL);
	/* a new session has no controlling terminal: take stdin, which must
	 * be nobody's (0: never steal one, whatever our capabilities) */
	if (c->tty && ioctl(0, TIOCSCTTY, 0) < 0)
		return ctr_msg(msg, "tty", errno, "make stdin the controlling terminal", NULL);
	if ((r = child_caps(c, msg)) < 0)
		return r;
	if (s->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return ctr_msg(msg, "no_new_privs", errno, NULL);
	if (chdir(s->cwd && *s->cwd ? s->cwd : "/") < 0)
		return ctr_msg(msg, "chdir", errno, s->cwd, NULL);
	/* the raw syscall says "(unreachable)..." where glibc would hide it:
	 * a cwd outside the root is CVE-2024-21626 */
	n = syscall(SYS_getcwd, cwd, sizeof(cwd));
	if (n < 0)
		return ctr_msg(msg, "chdir", errno, "getcwd after chdir ", s->cwd, NULL);
	if (cwd[0] != '/')
		return ctr_msg(msg, "chdir", EPERM, "working directory outside the root: ", cwd, NULL);
	if ((r = child_cloexec_fds(msg)) < 0)
		return r;
	if (c->seccomp && (r = ctr_seccomp_load(c->seccomp)) < 0)
		return ctr_msg(msg, "seccomp", -r, "load the filter", NULL);
	return child_exec(c, msg);
}

static int child_setup(struct child *c, struct ctr_child_msg *msg)
{
	int r;

	/* the container must not reach into us through /proc/<pid> or
	 * ptrace while we still are the runtime (CVE-2019-5736); execve
	 * makes the program dumpable again */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return ctr_msg(msg, "init", errno, "set non-dumpable", NULL);
	child_reset_signals();
	umask(022);
	if (child_raise_fd(&c->sync_fd) < 0 || child_raise_fd(&c->init_fd) < 0 ||
	    child_raise_fd(&c->target_pidfd) < 0 || child_raise_fd(&c->join_fd[0]) < 0 ||
	    child_raise_fd(&c->join_fd[1]) < 0 || child_raise_fd(&c->join_fd[2]) < 0)
		return ctr_msg(msg, "init", errno, "move fds above 2", NULL);

	if (c->wait_go) {
		char go;
		ssize_t n;

		do
			n = read(c->sync_fd, &go, 1);
		while (n < 0 && errno == EINTR);
		if (n != 1)
			return ctr_msg(msg, "sync", n < 0 ? errno : EPIPE, "wait for the cgroup", NULL);
	}

	if (c->target_pidfd >= 0) {
		if (setns(c->target_pidfd, CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC |
				CLONE_NEWCGROUP) < 0)
			return ctr_msg(msg, "setns", errno, "the container's namespaces", NULL);
	} else {
		for (int i = 0; i < 3; i++)
			if (c->join_fd[i] >= 0 && setns(c->join_fd[i], join_types[i]) < 0)
				return ctr_msg(msg, "setns", errno, join_names[i], NULL);
		/* Now, not at clone: the namespace is rooted at the cgroup we are
		 * in, and CLONE_INTO_CGROUP placed us in ours only after the
		 * clone copied the parent's namespaces. */
		if (unshare(CLONE_NEWCGROUP) < 0)
			return ctr_msg(msg, "unshare", errno, "cgroup namespace", NULL);
	}
	if ((r = child_stdio(c, msg)) < 0)
		return r;
	if (c->launch) {
		if ((r = c->pause ? child_empty_root(c, msg) : child_pivot(c, msg)) < 0)
			return r;
		if (c->hostname && sethostname(c->hostname, strlen(c->hostname)) < 0)
			return ctr_msg(msg, "hostname", errno, c->hostname, NULL);
	}
	return child_process(c, msg);
}

static __attribute__((noreturn)) void child_main(struct child *c)
{
	struct ctr_child_msg msg;

	memset(&msg, 0, sizeof(msg));
	(void)child_setup(c, &msg);
	(void)send(c->sync_fd, &msg, sizeof(msg), MSG_NOSIGNAL);
	_exit(127);
}

/* ----------------------------------------------------------- parent side */

static void reap(pid_t pid, int pidfd, bool kill_it)
{
	if (kill_it && (pidfd < 0 || syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0) < 0))
		kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	if (pidfd >= 0)
		close(pidfd);
}

/* Move a clone(2) child into the cgroup (clone3 does it atomically). */
static int cgroup_attach(int cgroup_fd, pid_t pid)
{
	char buf[24];
	int fd = openat(cgroup_fd, "cgroup.procs", O_WRONLY | O_CLOEXEC), r = 0;
	int len = snprintf(buf, sizeof(buf), "%d", (int)pid);

	if (fd < 0)
		return -errno;
	if (write(fd, buf, (size_t)len) != len)
		r = -errno;
	close(fd);
	return r;
}

/* Clone the child (c->... filled), wait for its verdict. On success out has
 * the process; on failure the child has been reaped. */
static int spawn(struct child *c, int cgroup_fd, uint64_t ns_flags, int pidns_fd,
		 struct ctr_proc *out, struct berr **err)
{
	cleanup_close int psock = -1, own_pidns = -1;
	struct ctr_child_msg msg;
	int sv[2], pidfd = -1, clone_err = 0, restore_err = 0, r;
	bool fallback = false;
	sigset_t all, old;
	ssize_t n;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return berr_set(err, errno, "socketpair");
	psock = sv[0];
	c->sync_fd = sv[1];
	if (pidns_fd >= 0) {
		/* pid_for_children: the clone lands in the joined namespace;
		 * this thread's own processes stay where they are */
		own_pidns = open("/proc/thread-self/ns/pid_for_children", O_RDONLY | O_CLOEXEC);
		if (own_pidns < 0 || setns(pidns_fd, CLONE_NEWPID) < 0) {
			r = berr_set(err, errno, "join the pid namespace");
			close(sv[1]);
			return r;
		}
	}

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	{
		struct clone_args args = {
			.flags = ns_flags | CLONE_PIDFD | (cgroup_fd >= 0 ? CLONE_INTO_CGROUP : 0),
			.pidfd = (uint64_t)(uintptr_t)&pidfd,
			.exit_signal = SIGCHLD,
			.cgroup = cgroup_fd >= 0 ? (uint64_t)cgroup_fd : 0,
		};

		c->wait_go = false;
		pid = (pid_t)syscall(SYS_clone3, &args, sizeof(args));
		if (pid < 0 && (errno == ENOSYS || errno == E2BIG)) {
			/* no clone3 (old kernel, or a seccomp profile that
			 * answers ENOSYS as Docker's does): clone(2), then the
			 * parent moves the child into the cgroup */
			fallback = true;
			c->wait_go = cgroup_fd >= 0;
			pid = (pid_t)syscall(SYS_clone, (unsigned long)(ns_flags | CLONE_PIDFD | SIGCHLD), NULL,
					     &pidfd, NULL, 0UL);
		}
	}
	if (pid == 0)
		child_main(c);
	clone_err = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (own_pidns >= 0 && setns(own_pidns, CLONE_NEWPID) < 0)
		restore_err = errno;
	close(sv[1]);
	c->sync_fd = -1;
	if (restore_err)
		log_error("cannot return to our pid namespace: %s", strerror(restore_err));
	if (pid < 0)
		return berr_set(err, clone_err, "clone");
	if (restore_err) {
		reap(pid, pidfd, true);
		return berr_set(err, restore_err, "return to our pid namespace after clone");
	}
	if (fallback && cgroup_fd >= 0) {
		char go = 1;

		if ((r = cgroup_attach(cgroup_fd, pid)) < 0) {
			reap(pid, pidfd, true);
			return berr_set(err, r, "move the container into its cgroup (cgroup.procs)");
		}
		if (send(psock, &go, 1, MSG_NOSIGNAL) != 1) {
			r = -errno;
			reap(pid, pidfd, true);
			return berr_set(err, r, "start the container");
		}
	}

	do
		n = recv(psock, &msg, sizeof(msg), 0);
	while (n < 0 && errno == EINTR);
	if (n == 0) {
		out->pid = pid;
		out->pidfd = pidfd;
		return 0;
	}
	r = n < 0 ? errno : EPROTO;
	reap(pid, pidfd, n != (ssize_t)sizeof(msg));
	if (n != (ssize_t)sizeof(msg))
		return berr_set(err, r, "read the container's start status");
	msg.step[sizeof(msg.step) - 1] = msg.detail[sizeof(msg.detail) - 1] = '\0';
	/* step "exec" is the program's own execve (berth-init's exec mode),
	 * unless the detail says our execveat of berth-init failed */
	if (!strcmp(msg.step, "exec") && strncmp(msg.detail, "berth-init for ", 15))
		out->exec_errno = msg.err;
	r = berr_set(err, 0, "%s: %s%s%s%s", msg.step, strerror(msg.err), msg.detail[0] ? " (" : "",
		     msg.detail, msg.detail[0] ? ")" : "");
	if (err && *err)
		(*err)->code = msg.err;
	return msg.err > 0 ? -msg.err : r;
}

/* argv[0] with a '/' is run as is; otherwise each directory of the
 * container's PATH (from env, else Docker's default) is tried in order,
 * inside the container, by the child. */
static char **exec_candidates(const char *argv0, char *const *env)
{
	const char *path = CTR_DEFAULT_PATH;
	char **out = NULL;
	size_t n = 0;

	if (strchr(argv0, '/')) {
		out = xcalloc(2, sizeof(*out));
		out[0] = xstrdup(argv0);
		return out;
	}
	for (char *const *e = env; e && *e; e++)
		if (!strncmp(*e, "PATH=", 5))
			path = *e + 5;
	for (const char *p = path;; ) {
		const char *colon = strchr(p, ':');
		size_t len = colon ? (size_t)(colon - p) : strlen(p);

		out = xreallocarray(out, n + 2, sizeof(*out));
		/* an empty element is the working directory, as in execvp */
		out[n++] = len ? xasprintf("%.*s/%s", (int)len, p, argv0) : xasprintf("./%s", argv0);
		out[n] = NULL;
		if (!colon)
			break;
		p = colon + 1;
	}
	return out;
}

/* *argv_store gets what the child execs (berth-init's argv), for the
 * caller to free. */
static int prepare_process(struct child *c, const struct ctr_launch *l, char *const *argv,
			   bool allow_init, char ***argv_store, struct berr **err)
{
	const struct ctr_spec *s = l->spec;
	size_t n = 0, n_cands = 0;
	char **out;

	if (!argv || !argv[0] || !argv[0][0])
		return berr_set(err, EINVAL, "no command to run");
	c->spec = s;
	c->cap_last = ctr_cap_last();
	c->seccomp = l->seccomp;
	c->argv0 = l->pause ? "berth-init" : argv[0];
	c->target_pidfd = -1;
	c->join_fd[0] = c->join_fd[1] = c->join_fd[2] = -1;
	if (s->uid == (uid_t)-1 || s->gid == (gid_t)-1)
		return berr_set(err, EINVAL, "user %u:%u is not valid", (unsigned)s->uid, (unsigned)s->gid);
	c->init_fd = l->init_fd >= 0 ? l->init_fd : ctr_init_fd(err);
	if (c->init_fd < 0)
		return berr_wrap(err, "the sealed berth-init");
	while (argv[n])
		n++;
	if (l->pause) {
		/* berth-init itself, argv as given (pause_request) */
		out = xcalloc(n + 1, sizeof(*out));
		memcpy(out, argv, n * sizeof(*argv));
	} else if (s->init && allow_init) {
		out = xcalloc(n + 3, sizeof(*out));
		out[0] = (char *)"berth-init";
		out[1] = (char *)"--";
		memcpy(out + 2, argv, n * sizeof(*argv));
	} else {
		c->candidates = exec_candidates(argv[0], s->env);
		while (c->candidates[n_cands])
			n_cands++;
		out = xcalloc(3 + n_cands + n + 1, sizeof(*out));
		out[0] = (char *)CTR_EXEC_ARGV0;
		snprintf(c->n_cands, sizeof(c->n_cands), "%zu", n_cands);
		out[2] = c->n_cands;
		memcpy(out + 3, c->candidates, n_cands * sizeof(*out));
		memcpy(out + 3 + n_cands, argv, n * sizeof(*argv));
		c->exec_mode = true;
	}
	c->argv = out;
	*argv_store = out;
	return 0;
}

/* /dev/null for a process's stdio, opened through a read-only detached
 * bind mount of it: the fd (and /proc/self/fd/N, which resolves to the
 * same mount) reads and writes the device as /dev/null does, but a
 * chmod or chown through it is EROFS. Opened plainly, the host's /dev/null
 * would be one fchmod away from root in the container (an inode it owns).
 * Without open_tree/mount_setattr (Linux < 5.12): the plain device. */
static int open_null(void)
{
	struct {
		uint64_t attr_set, attr_clr, propagation, userns_fd;
	} attr = { .attr_set = MOUNT_ATTR_RDONLY };
	char path[64];
	int tree, fd;

	tree = (int)syscall(SYS_open_tree, AT_FDCWD, "/dev/null", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	if (tree >= 0) {
		fd = -1;
		if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH, &attr, sizeof(attr)) == 0) {
			snprintf(path, sizeof(path), "/proc/self/fd/%d", tree);
			fd = open(path, O_RDWR | O_CLOEXEC | O_NOCTTY);
		}
		close(tree);   /* the open file keeps the detached mount */
		if (fd >= 0)
			return fd;
	}
	log_debug("/dev/null through a read-only mount: %m; the plain device then");
	return open("/dev/null", O_RDWR | O_CLOEXEC | O_NOCTTY);
}

static int stdio_setup(struct child *c, const struct ctr_launch *l, int *devnull, struct berr **err)
{
	const int want[3] = { l->stdin_fd, l->stdout_fd, l->stderr_fd };

	for (int i = 0; i < 3; i++) {
		if (want[i] >= 0) {
			c->stdio[i] = want[i];
			continue;
		}
		if (*devnull < 0) {
			*devnull = open_null();
			if (*devnull < 0)
				return berr_set(err, errno, "open /dev/null");
		}
		c->stdio[i] = *devnull;
	}
	return 0;
}

/* ------------------------------------------------- device access filter */

/* cgroup v2 has no devices.allow: access to device nodes is a
 * BPF_PROG_TYPE_CGROUP_DEVICE program on the container's cgroup, as runc
 * and crun install. Docker's default list: read/write/mknod of null, zero,
 * full, random, urandom, tty, console, ptmx, the pts and tun; mknod of any
 * character device. Unlike Docker, no mknod of block devices: nothing a
 * container can do with one it may not open, and `escape mknod-block`
 * stays denied. The task's devices (EC2) are added with their permissions. */
struct dev_rule {
	int type;               /* BPF_DEVCG_DEV_CHAR / _BLOCK */
	int64_t major, minor;   /* -1: any */
	int access;             /* BPF_DEVCG_ACC_* */
};

#define RWM (BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE | BPF_DEVCG_ACC_MKNOD)

static const struct dev_rule default_dev_rules[] = {
	{ BPF_DEVCG_DEV_CHAR, -1, -1, BPF_DEVCG_ACC_MKNOD },
	{ BPF_DEVCG_DEV_CHAR, 1, 3, RWM },      /* null */
	{ BPF_DEVCG_DEV_CHAR, 1, 5, RWM },      /* zero */
	{ BPF_DEVCG_DEV_CHAR, 1, 7, RWM },      /* full */
	{ BPF_DEVCG_DEV_CHAR, 1, 8, RWM },      /* random */
	{ BPF_DEVCG_DEV_CHAR, 1, 9, RWM },      /* urandom */
	{ BPF_DEVCG_DEV_CHAR, 5, 0, RWM },      /* tty */
	{ BPF_DEVCG_DEV_CHAR, 5, 1, RWM },      /* console */
	{ BPF_DEVCG_DEV_CHAR, 5, 2, RWM },      /* ptmx */
	{ BPF_DEVCG_DEV_CHAR, 136, -1, RWM },   /* pts */
	{ BPF_DEVCG_DEV_CHAR, 10, 200, RWM },   /* net/tun */
};

static struct bpf_insn insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm)
{
	struct bpf_insn i = { .code = code, .dst_reg = dst, .src_reg = src, .off = off, .imm = imm };

	return i;
}

/* r2 = access_type, r3 = device type, r4 = access, r5 = major, r6 = minor;
 * one block per rule that returns 1 when it matches; 0 at the end. */
static size_t dev_prog(const struct dev_rule *rules, size_t n_rules, struct bpf_insn *p)
{
	size_t k = 0;

	p[k++] = insn(BPF_LDX | BPF_MEM | BPF_W, 2, 1, 0, 0);
	p[k++] = insn(BPF_ALU64 | BPF_MOV | BPF_X, 3, 2, 0, 0);
	p[k++] = insn(BPF_ALU | BPF_AND | BPF_K, 3, 0, 0, 0xffff);
	p[k++] = insn(BPF_ALU64 | BPF_MOV | BPF_X, 4, 2, 0, 0);
	p[k++] = insn(BPF_ALU | BPF_RSH | BPF_K, 4, 0, 0, 16);
	p[k++] = insn(BPF_LDX | BPF_MEM | BPF_W, 5, 1, 4, 0);
	p[k++] = insn(BPF_LDX | BPF_MEM | BPF_W, 6, 1, 8, 0);
	for (size_t i = 0; i < n_rules; i++) {
		const struct dev_rule *r = &rules[i];
		int len = 1 + (r->major >= 0) + (r->minor >= 0) + 3 + 2, at = 0;

		/* each jump skips the rest of the block */
		p[k++] = insn(BPF_JMP | BPF_JNE | BPF_K, 3, 0, (int16_t)(len - 1 - at++), r->type);
		if (r->major >= 0)
			p[k++] = insn(BPF_JMP | BPF_JNE | BPF_K, 5, 0, (int16_t)(len - 1 - at++),
				      (int32_t)r->major);
		if (r->minor >= 0)
			p[k++] = insn(BPF_JMP | BPF_JNE | BPF_K, 6, 0, (int16_t)(len - 1 - at++),
				      (int32_t)r->minor);
		/* every access asked for is allowed */
		p[k++] = insn(BPF_ALU64 | BPF_MOV | BPF_X, 7, 4, 0, 0), at++;
		p[k++] = insn(BPF_ALU | BPF_AND | BPF_K, 7, 0, 0, ~r->access & 0xffff), at++;
		p[k++] = insn(BPF_JMP | BPF_JNE | BPF_K, 7, 0, (int16_t)(len - 1 - at++), 0);
		p[k++] = insn(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 1);
		p[k++] = insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
	}
	p[k++] = insn(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0);
	p[k++] = insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
	return k;
}

static int devices_attach(const struct ctr_launch *l, struct berr **err)
{
	const struct ctr_spec *s = l->spec;
	size_t n_rules = sizeof(default_dev_rules) / sizeof(default_dev_rules[0]), n;
	cleanup_free struct dev_rule *rules = xcalloc(n_rules + s->n_devices, sizeof(*rules));
	cleanup_free struct bpf_insn *prog = NULL;
	cleanup_close int pfd = -1;
	char log[1024] = "";
	union bpf_attr attr;

	memcpy(rules, default_dev_rules, sizeof(default_dev_rules));
	for (size_t i = 0; i < s->n_devices; i++) {
		const struct ctr_device *d = &s->devices[i];
		struct dev_rule *r = &rules[n_rules];
		struct stat st;

		if (stat(d->host_path, &st) < 0)
			return berr_set(err, errno, "device %s", d->host_path);
		if (!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode))
			return berr_set(err, ENODEV, "device %s: not a device node", d->host_path);
		r->type = S_ISCHR(st.st_mode) ? BPF_DEVCG_DEV_CHAR : BPF_DEVCG_DEV_BLOCK;
		r->major = major(st.st_rdev);
		r->minor = minor(st.st_rdev);
		r->access = (d->read ? BPF_DEVCG_ACC_READ : 0) | (d->write ? BPF_DEVCG_ACC_WRITE : 0) |
			    (d->mknod ? BPF_DEVCG_ACC_MKNOD : 0);
		n_rules++;
	}
	prog = xcalloc(9 + 8 * n_rules, sizeof(*prog));
	n = dev_prog(rules, n_rules, prog);

	memset(&attr, 0, sizeof(attr));
	attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
	attr.expected_attach_type = BPF_CGROUP_DEVICE;
	attr.insns = (uint64_t)(uintptr_t)prog;
	attr.insn_cnt = (uint32_t)n;
	attr.license = (uint64_t)(uintptr_t)"Apache";
	attr.log_buf = (uint64_t)(uintptr_t)log;
	attr.log_size = sizeof(log);
	attr.log_level = 1;
	pfd = (int)syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof(attr));
	if (pfd < 0 && errno == ENOSPC) {   /* the log did not fit: load without it */
		attr.log_buf = 0;
		attr.log_size = attr.log_level = 0;
		pfd = (int)syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof(attr));
	}
	if (pfd < 0) {
		int e = errno;

		log[strcspn(log, "\n")] = '\0';   /* the verifier's first line says why */
		return berr_set(err, e, "load the device access filter%s%s", log[0] ? ": " : "", log);
	}
	/* no BPF_F_ALLOW_MULTI: a new filter replaces the one a previous
	 * start of this container left on the same cgroup */
	memset(&attr, 0, sizeof(attr));
	attr.target_fd = (uint32_t)l->cgroup_fd;
	attr.attach_bpf_fd = (uint32_t)pfd;
	attr.attach_type = BPF_CGROUP_DEVICE;
	if (syscall(SYS_bpf, BPF_PROG_ATTACH, &attr, sizeof(attr)) < 0)
		return berr_set(err, errno, "attach the device access filter to the cgroup");
	return 0;
}

/* A privileged container gets every device: take away a filter that an
 * earlier start left on a reused cgroup. */
static int devices_detach(int cgroup_fd, struct berr **err)
{
	union bpf_attr attr;

	memset(&attr, 0, sizeof(attr));
	attr.target_fd = (uint32_t)cgroup_fd;
	attr.attach_type = BPF_CGROUP_DEVICE;
	/* attach_bpf_fd 0 is no program: the kernel detaches the one there */
	if (syscall(SYS_bpf, BPF_PROG_DETACH, &attr, sizeof(attr)) < 0 && errno != ENOENT)
		return berr_set(err, errno, "detach the device access filter from the cgroup");
	return 0;
}

/* ------------------------------------------------------------------ API */

/* The pid namespace holder (launch.h, l->pause): *pl is l with the
 * holder's fixed spec *s and its seccomp filter. */
static int pause_request(const struct ctr_launch *l, struct ctr_launch *pl, struct ctr_spec *s,
			 struct berr **err)
{
	static char *const argv[] = { "berth-init", CTR_PAUSE_ARG, NULL };
	static char *const env[] = { NULL };
	int r;

	if (l->pidns_fd != CTR_NS_NEW)
		return berr_set(err, EINVAL, "pid namespace: the holder needs a new one (got %d)", l->pidns_fd);
	memset(s, 0, sizeof(*s));
	s->name = "pid namespace holder";
	s->argv = (char **)argv;
	s->env = (char **)env;
	s->cwd = "/";
	s->user = "";
	s->uid = s->gid = 65534;        /* nobody: not the owner of any container's process */
	s->caps = 0;
	s->no_new_privs = true;
	s->stop_signal = SIGTERM;
	*pl = *l;
	pl->spec = s;
	if (!pl->seccomp && (r = ctr_seccomp_get(0, &pl->seccomp, err)) < 0)
		return berr_wrap(err, "seccomp");
	return 0;
}

static int launch(const struct ctr_launch *l, struct ctr_proc *out, struct berr **err)
{
	const int join_in[3] = { l->netns_fd, l->ipcns_fd, l->utsns_fd };
	const uint64_t new_flag[3] = { CLONE_NEWNET, CLONE_NEWIPC, CLONE_NEWUTS };
	const struct ctr_spec *s;
	struct ctr_mnt_plan mounts = { 0 };
	struct ctr_launch pause_l;
	struct ctr_spec pause_spec;
	cleanup_free char **argv_store = NULL;
	cleanup_strv char **cands = NULL;
	cleanup_close int devnull = -1;
	struct child c;
	uint64_t flags = CLONE_NEWNS;
	int r;

	memset(&c, 0, sizeof(c));
	if (!l->rootfs || l->rootfs[0] != '/')
		return berr_set(err, EINVAL, "%s %s: not an absolute path",
				l->pause ? "mount point for the empty root" : "root filesystem",
				l->rootfs ? l->rootfs : "(none)");
	if (l->pause) {
		if ((r = pause_request(l, &pause_l, &pause_spec, err)) < 0)
			return r;
		l = &pause_l;
	}
	s = l->spec;
	r = prepare_process(&c, l, s->argv, true, &argv_store, err);
	cands = c.candidates;
	if (r < 0)
		return r;
	/* the holder mounts nothing but its empty root */
	if (!l->pause && (r = ctr_mounts_plan(l, &mounts, err)) < 0)
		goto out;
	if ((r = stdio_setup(&c, l, &devnull, err)) < 0)
		goto out;
	c.launch = true;
	c.pause = l->pause;
	c.rootfs = l->rootfs;
	c.mounts = &mounts;
	for (int i = 0; i < 3; i++) {
		if (join_in[i] == CTR_NS_NEW)
			flags |= new_flag[i];
		else if (join_in[i] >= 0)
			c.join_fd[i] = join_in[i];
		else if (join_in[i] != CTR_NS_HOST) {
			r = berr_set(err, EINVAL, "%s: bad value %d", join_names[i], join_in[i]);
			goto out;
		}
	}
	if (l->pidns_fd == CTR_NS_NEW)
		flags |= CLONE_NEWPID;
	else if (l->pidns_fd < 0 && l->pidns_fd != CTR_NS_HOST) {
		r = berr_set(err, EINVAL, "pid namespace: bad value %d", l->pidns_fd);
		goto out;
	}
	if (s->hostname && *s->hostname && l->utsns_fd == CTR_NS_NEW)
		c.hostname = s->hostname;
	if (l->cgroup_fd >= 0) {
		r = s->privileged ? devices_detach(l->cgroup_fd, err) : devices_attach(l, err);
		if (r < 0)
			goto out;
	}
	r = spawn(&c, l->cgroup_fd, flags, l->pidns_fd >= 0 ? l->pidns_fd : -1, out, err);
out:
	ctr_mounts_plan_free(&mounts);
	return r;
}

int ctr_launch(const struct ctr_launch *l, struct ctr_proc *out, struct berr **err)
{
	int r;

	out->pid = -1;
	out->pidfd = -1;
	out->exec_errno = 0;
	if (!l || (!l->pause && (!l->spec || !l->spec->name)))
		return berr_set(err, EINVAL, "launch: no container spec");
	r = launch(l, out, err);
	if (r < 0)
		return l->pause ? berr_wrap(err, "pid namespace holder")
				: berr_wrap(err, "container %s", l->spec->name);
	return 0;
}

int ctr_exec(const struct ctr_launch *l, const struct ctr_proc *target, char *const argv[],
	     struct ctr_proc *out, struct berr **err)
{
	cleanup_free char **argv_store = NULL;
	cleanup_strv char **cands = NULL;
	cleanup_close int devnull = -1;
	struct child c;
	int r;

	out->pid = -1;
	out->pidfd = -1;
	out->exec_errno = 0;
	if (!l || !l->spec || !l->spec->name)
		return berr_set(err, EINVAL, "exec: no container spec");
	if (!target || target->pidfd < 0)
		return berr_set(err, EINVAL, "container %s: exec: no running process", l->spec->name);
	memset(&c, 0, sizeof(c));
	r = prepare_process(&c, l, argv, false, &argv_store, err);
	cands = c.candidates;
	if (r == 0)
		r = stdio_setup(&c, l, &devnull, err);
	if (r == 0) {
		c.target_pidfd = target->pidfd;
		c.tty = l->tty;
		r = spawn(&c, l->cgroup_fd, 0, target->pidfd, out, err);
	}
	if (r < 0)
		return berr_wrap(err, "container %s: exec %s", l->spec->name, argv && argv[0] ? argv[0] : "");
	return 0;
}
