/* runtime/container/launch.h - start a container process.
 *
 * The caller (berth run's supervisor, the shim) prepares everything first:
 * the resolved spec, the mounted root filesystem, the cgroup leaf, the
 * compiled seccomp filter and, for initProcessEnabled, the sealed init
 * binary. ctr_launch() then clones one child (clone3 with CLONE_INTO_CGROUP
 * when a cgroup is given, else clone) into new mount, pid, uts, ipc and
 * cgroup namespaces (and net unless one is supplied or the host's is
 * wanted); the child only makes syscalls, in the order security.md gives:
 *
 *   mount propagation private -> bind the rootfs -> /proc, /dev (+ devices,
 *   devpts, shm, mqueue), /sys ro, /sys/fs/cgroup ro -> masked and
 *   read-only paths -> tmpfs and bind mounts (targets resolved inside the
 *   rootfs, mounted onto O_PATH fds) -> readonlyRootFilesystem ->
 *   pivot_root(".", ".") + umount2(MNT_DETACH) -> hostname -> rlimits ->
 *   setsid -> capabilities (bounding, keepcaps, groups, setresgid,
 *   setresuid, capset, ambient) -> no_new_privs -> chdir (checked inside
 *   the root) -> every fd above 2 close-on-exec -> seccomp -> execve.
 *
 * Errors travel back over a SOCK_SEQPACKET pair: ctr_launch() returns them
 * as "container <name>: <step>: <reason>", after reaping the child, so a
 * failed launch leaves no process behind. */
#ifndef BERTH_RUNTIME_CONTAINER_LAUNCH_H
#define BERTH_RUNTIME_CONTAINER_LAUNCH_H

#include <stdbool.h>
#include <sys/types.h>

#include "common/error.h"
#include "runtime/container/seccomp.h"
#include "runtime/container/spec.h"

/* Namespace choices for netns_fd / pidns_fd / ipcns_fd / utsns_fd. */
#define CTR_NS_NEW  (-1)   /* a private namespace for this container */
#define CTR_NS_HOST (-2)   /* stay in the caller's (EC2 mode host network, pidMode host) */
/* any fd >= 0: join that namespace (nsfs fd or pidfd) */

struct ctr_launch {
	const struct ctr_spec *spec;
	const char *rootfs;         /* mounted root filesystem, a path in the caller's mount ns */
	int cgroup_fd;              /* the container's leaf cgroup dir (CLONE_INTO_CGROUP); -1: none */
	int netns_fd;               /* the task's netns (awsvpc/none), CTR_NS_NEW or CTR_NS_HOST */
	int pidns_fd;               /* CTR_NS_NEW (default), a pid ns fd (pidMode task), or HOST */
	int ipcns_fd;               /* CTR_NS_NEW (default), an ipc ns fd (ipcMode task), or HOST */
	int utsns_fd;               /* CTR_NS_NEW (default) or a uts ns fd */
	int stdin_fd, stdout_fd, stderr_fd;   /* -1: /dev/null, opened through a read-only
					       * bind of it (no chmod/chown through the fd) */
	const struct ctr_seccomp *seccomp;    /* NULL: none (privileged) */
	int init_fd;                /* sealed berth-init (ctr_init_fd()); -1: the launcher gets it */
	bool pause;                 /* start the holder of a shared pid namespace (below), not spec */
	bool tty;                   /* stdin is a terminal: after setsid() it becomes the
				     * process's controlling terminal (TIOCSCTTY; berth exec -t) */
};

/* Fill l with the defaults: every fd -1, namespaces CTR_NS_NEW. */
void ctr_launch_init(struct ctr_launch *l);

struct ctr_proc {
	pid_t pid;                  /* in the caller's pid namespace */
	int pidfd;                  /* O_CLOEXEC; wait with waitid(P_PIDFD) or poll */
	/* After a failed start: the errno of the program's own execve (ENOENT:
	 * not found in the container, EACCES: not executable...) when that was
	 * the step that failed, else 0 (berth exec answers 127 / 126 as a
	 * shell and docker exec do). */
	int exec_errno;
};

/* Start the container. On success *out holds the running process (its
 * program has been exec'd). On failure nothing is left running.
 *
 * With l->pause (pidMode task), start instead the holder of a pid
 * namespace that the task's containers then join (their pidns_fd = its
 * pidfd, which setns accepts): berth-init --pause (childmsg.h), from
 * l->init_fd or ctr_init_fd(), as PID 1 of a new pid namespace (pidns_fd
 * must be CTR_NS_NEW); l->spec is not used (may be NULL). Its own mount
 * namespace has as root an empty read-only tmpfs, mounted there over the
 * existing directory l->rootfs (the caller's view of that directory does
 * not change), and nothing else: no /proc, no /dev. It runs as uid and gid
 * 65534 without supplementary groups or capabilities, with no_new_privs
 * and l->seccomp (NULL: the default filter for no capabilities), its stdio
 * as given (-1: /dev/null), in l->cgroup_fd with the default device
 * filter, in the net, ipc and uts namespaces l asks for (as a container).
 * Errors say "pid namespace holder: STEP: reason". */
int ctr_launch(const struct ctr_launch *l, struct ctr_proc *out, struct berr **err);

/* Start argv inside the running container `target` (health checks, exec):
 * its mount, net, uts, ipc, cgroup and pid namespaces, l->cgroup_fd, and
 * l->spec's user, groups, env, cwd, capabilities, no_new_privs, rlimits and
 * l->seccomp, in a session of its own (setsid); with l->tty, its stdin (a
 * terminal nobody has as controlling terminal) becomes the session's
 * controlling terminal, the process its foreground group. l->rootfs and the
 * namespace fields are not used. */
int ctr_exec(const struct ctr_launch *l, const struct ctr_proc *target, char *const argv[],
	     struct ctr_proc *out, struct berr **err);

/* Close a ctr_proc's pidfd (the process itself is the caller's to reap). */
void ctr_proc_release(struct ctr_proc *p);

/* A sealed memfd holding berth-init (embedded in the binary at build time),
 * made once per process and cached; O_CLOEXEC. Every container program and
 * every exec'd process is started through it (childmsg.h, sealed.c). */
int ctr_init_fd(struct berr **err);
/* Use fd, a sealed memfd of berth-init made by another process (berthd
 * hands its own to every shim it starts, so all tasks share one copy of
 * berth-init's pages instead of making 0.8 MB each), as this process's:
 * it must carry all of ctr_init_fd's seals and hold exactly this build's
 * berth-init. Made close-on-exec. Call before anything calls ctr_init_fd.
 * On error fd is left alone (the caller closes it). */
int ctr_init_fd_adopt(int fd, struct berr **err);

#endif
