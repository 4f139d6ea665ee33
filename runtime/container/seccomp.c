/* runtime/container/seccomp.c - the default seccomp allowlist (see seccomp.h).
 *
 * The table below is berth's own, following the shape of Docker's default
 * profile: ordinary syscalls are allowed, everything else answers EPERM;
 * syscalls that only make sense with a capability are allowed only when the
 * container keeps it (the kernel would check the capability anyway; the
 * filter shrinks the attack surface for the usual case where it is absent).
 *
 * libseccomp builds the program for the native ABI plus its compat ABIs
 * (x86_64: i386 and x32; aarch64: arm), so a 32-bit syscall entry cannot
 * step around the rules. Syscalls that this libseccomp does not know by
 * name are skipped, except for the newest generic numbers (457..469), which
 * a short hand-written prologue decides; the numbers above those (to 511)
 * answer ENOSYS, so a libc newer than this table falls back instead of failing
 * with EPERM (glibc does so for fchmodat2, clone3, faccessat2, ...). */
#include "runtime/container/seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <seccomp.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/xalloc.h"

#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif

#define C(cap) (1ULL << (cap))
#define ALWAYS 0ULL

/* A syscall allowed when `gate` is 0 or the container keeps any of the
 * capabilities in `gate`. */
struct sc_rule {
	const char *name;
	uint64_t gate;
};

static const struct sc_rule rules[] = {
	/* files and directories */
	{ "access", ALWAYS }, { "faccessat", ALWAYS }, { "faccessat2", ALWAYS },
	{ "open", ALWAYS }, { "openat", ALWAYS }, { "openat2", ALWAYS }, { "creat", ALWAYS },
	{ "close", ALWAYS }, { "close_range", ALWAYS },
	{ "read", ALWAYS }, { "readv", ALWAYS }, { "pread64", ALWAYS }, { "preadv", ALWAYS },
	{ "preadv2", ALWAYS }, { "write", ALWAYS }, { "writev", ALWAYS }, { "pwrite64", ALWAYS },
	{ "pwritev", ALWAYS }, { "pwritev2", ALWAYS },
	{ "lseek", ALWAYS }, { "_llseek", ALWAYS },
	{ "stat", ALWAYS }, { "stat64", ALWAYS }, { "fstat", ALWAYS }, { "fstat64", ALWAYS },
	{ "lstat", ALWAYS }, { "lstat64", ALWAYS }, { "newfstatat", ALWAYS },
	{ "fstatat64", ALWAYS }, { "statx", ALWAYS }, { "statfs", ALWAYS },
	{ "statfs64", ALWAYS }, { "fstatfs", ALWAYS }, { "fstatfs64", ALWAYS },
	{ "getdents", ALWAYS }, { "getdents64", ALWAYS }, { "getcwd", ALWAYS },
	{ "chdir", ALWAYS }, { "fchdir", ALWAYS },
	{ "mkdir", ALWAYS }, { "mkdirat", ALWAYS }, { "rmdir", ALWAYS },
	{ "mknod", ALWAYS }, { "mknodat", ALWAYS },
	{ "link", ALWAYS }, { "linkat", ALWAYS }, { "symlink", ALWAYS }, { "symlinkat", ALWAYS },
	{ "unlink", ALWAYS }, { "unlinkat", ALWAYS },
	{ "rename", ALWAYS }, { "renameat", ALWAYS }, { "renameat2", ALWAYS },
	{ "readlink", ALWAYS }, { "readlinkat", ALWAYS },
	{ "chmod", ALWAYS }, { "fchmod", ALWAYS }, { "fchmodat", ALWAYS }, { "fchmodat2", ALWAYS },
	{ "chown", ALWAYS }, { "chown32", ALWAYS }, { "fchown", ALWAYS }, { "fchown32", ALWAYS },
	{ "fchownat", ALWAYS }, { "lchown", ALWAYS }, { "lchown32", ALWAYS },
	{ "truncate", ALWAYS }, { "truncate64", ALWAYS }, { "ftruncate", ALWAYS },
	{ "ftruncate64", ALWAYS }, { "fallocate", ALWAYS },
	{ "fadvise64", ALWAYS }, { "fadvise64_64", ALWAYS }, { "readahead", ALWAYS },
	{ "fsync", ALWAYS }, { "fdatasync", ALWAYS }, { "sync", ALWAYS }, { "syncfs", ALWAYS },
	{ "sync_file_range", ALWAYS },
	{ "utime", ALWAYS }, { "utimes", ALWAYS }, { "utimensat", ALWAYS },
	{ "utimensat_time64", ALWAYS }, { "futimesat", ALWAYS },
	{ "umask", ALWAYS }, { "flock", ALWAYS },
	{ "fcntl", ALWAYS }, { "fcntl64", ALWAYS }, { "ioctl", ALWAYS },
	{ "dup", ALWAYS }, { "dup2", ALWAYS }, { "dup3", ALWAYS },
	{ "pipe", ALWAYS }, { "pipe2", ALWAYS },
	{ "sendfile", ALWAYS }, { "sendfile64", ALWAYS }, { "copy_file_range", ALWAYS },
	{ "splice", ALWAYS }, { "tee", ALWAYS }, { "vmsplice", ALWAYS },
	{ "setxattr", ALWAYS }, { "lsetxattr", ALWAYS }, { "fsetxattr", ALWAYS },
	{ "getxattr", ALWAYS }, { "lgetxattr", ALWAYS }, { "fgetxattr", ALWAYS },
	{ "listxattr", ALWAYS }, { "llistxattr", ALWAYS }, { "flistxattr", ALWAYS },
	{ "removexattr", ALWAYS }, { "lremovexattr", ALWAYS }, { "fremovexattr", ALWAYS },
	{ "name_to_handle_at", ALWAYS },
	{ "inotify_init", ALWAYS }, { "inotify_init1", ALWAYS },
	{ "inotify_add_watch", ALWAYS }, { "inotify_rm_watch", ALWAYS },
	{ "fanotify_mark", ALWAYS }, { "memfd_create", ALWAYS }, { "memfd_secret", ALWAYS },
	{ "cachestat", ALWAYS },
	/* asynchronous I/O (not io_uring) and polling */
	{ "io_setup", ALWAYS }, { "io_destroy", ALWAYS }, { "io_submit", ALWAYS },
	{ "io_cancel", ALWAYS }, { "io_getevents", ALWAYS }, { "io_pgetevents", ALWAYS },
	{ "io_pgetevents_time64", ALWAYS },
	{ "select", ALWAYS }, { "_newselect", ALWAYS }, { "pselect6", ALWAYS },
	{ "pselect6_time64", ALWAYS }, { "poll", ALWAYS }, { "ppoll", ALWAYS },
	{ "ppoll_time64", ALWAYS },
	{ "epoll_create", ALWAYS }, { "epoll_create1", ALWAYS }, { "epoll_ctl", ALWAYS },
	{ "epoll_ctl_old", ALWAYS }, { "epoll_wait", ALWAYS }, { "epoll_wait_old", ALWAYS },
	{ "epoll_pwait", ALWAYS }, { "epoll_pwait2", ALWAYS },
	{ "eventfd", ALWAYS }, { "eventfd2", ALWAYS },
	{ "signalfd", ALWAYS }, { "signalfd4", ALWAYS },
	{ "timerfd_create", ALWAYS }, { "timerfd_settime", ALWAYS },
	{ "timerfd_settime64", ALWAYS }, { "timerfd_gettime", ALWAYS },
	{ "timerfd_gettime64", ALWAYS },
	/* memory */
	{ "brk", ALWAYS }, { "mmap", ALWAYS }, { "mmap2", ALWAYS }, { "munmap", ALWAYS },
	{ "mremap", ALWAYS }, { "mprotect", ALWAYS }, { "madvise", ALWAYS },
	{ "mincore", ALWAYS }, { "msync", ALWAYS }, { "remap_file_pages", ALWAYS },
	{ "mlock", ALWAYS }, { "mlock2", ALWAYS }, { "mlockall", ALWAYS },
	{ "munlock", ALWAYS }, { "munlockall", ALWAYS },
	{ "pkey_alloc", ALWAYS }, { "pkey_free", ALWAYS }, { "pkey_mprotect", ALWAYS },
	{ "membarrier", ALWAYS }, { "map_shadow_stack", ALWAYS },
	{ "get_mempolicy", C(CAP_SYS_NICE) }, { "set_mempolicy", C(CAP_SYS_NICE) },
	{ "mbind", C(CAP_SYS_NICE) }, { "set_mempolicy_home_node", C(CAP_SYS_NICE) },
	/* processes, threads, scheduling */
	{ "fork", ALWAYS }, { "vfork", ALWAYS }, { "execve", ALWAYS }, { "execveat", ALWAYS },
	{ "exit", ALWAYS }, { "exit_group", ALWAYS },
	{ "wait4", ALWAYS }, { "waitid", ALWAYS }, { "waitpid", ALWAYS },
	{ "getpid", ALWAYS }, { "getppid", ALWAYS }, { "gettid", ALWAYS },
	{ "getpgid", ALWAYS }, { "setpgid", ALWAYS }, { "getpgrp", ALWAYS },
	{ "getsid", ALWAYS }, { "setsid", ALWAYS },
	{ "set_tid_address", ALWAYS }, { "set_robust_list", ALWAYS },
	{ "get_robust_list", ALWAYS }, { "rseq", ALWAYS },
	{ "futex", ALWAYS }, { "futex_time64", ALWAYS }, { "futex_waitv", ALWAYS },
	{ "futex_wake", ALWAYS }, { "futex_wait", ALWAYS }, { "futex_requeue", ALWAYS },
	{ "arch_prctl", ALWAYS }, { "modify_ldt", ALWAYS },
	{ "set_thread_area", ALWAYS }, { "get_thread_area", ALWAYS },
	{ "prctl", ALWAYS }, { "capget", ALWAYS }, { "capset", ALWAYS },
	{ "seccomp", ALWAYS }, { "restart_syscall", ALWAYS },
	{ "landlock_create_ruleset", ALWAYS }, { "landlock_add_rule", ALWAYS },
	{ "landlock_restrict_self", ALWAYS },
	{ "pidfd_open", ALWAYS }, { "pidfd_send_signal", ALWAYS },
	{ "process_mrelease", ALWAYS },
	{ "sched_yield", ALWAYS }, { "sched_getaffinity", ALWAYS },
	{ "sched_setaffinity", ALWAYS }, { "sched_getattr", ALWAYS },
	{ "sched_setattr", ALWAYS }, { "sched_getparam", ALWAYS },
	{ "sched_setparam", ALWAYS }, { "sched_getscheduler", ALWAYS },
	{ "sched_setscheduler", ALWAYS }, { "sched_get_priority_max", ALWAYS },
	{ "sched_get_priority_min", ALWAYS }, { "sched_rr_get_interval", ALWAYS },
	{ "sched_rr_get_interval_time64", ALWAYS },
	{ "getpriority", ALWAYS }, { "setpriority", ALWAYS },
	{ "ioprio_get", ALWAYS }, { "ioprio_set", ALWAYS }, { "getcpu", ALWAYS },
	{ "getrlimit", ALWAYS }, { "ugetrlimit", ALWAYS }, { "setrlimit", ALWAYS },
	{ "prlimit64", ALWAYS }, { "getrusage", ALWAYS }, { "times", ALWAYS },
	{ "sysinfo", ALWAYS }, { "uname", ALWAYS }, { "getrandom", ALWAYS },
	/* credentials (the kernel checks CAP_SETUID / CAP_SETGID) */
	{ "getuid", ALWAYS }, { "getuid32", ALWAYS }, { "geteuid", ALWAYS },
	{ "geteuid32", ALWAYS }, { "getgid", ALWAYS }, { "getgid32", ALWAYS },
	{ "getegid", ALWAYS }, { "getegid32", ALWAYS },
	{ "getresuid", ALWAYS }, { "getresuid32", ALWAYS },
	{ "getresgid", ALWAYS }, { "getresgid32", ALWAYS },
	{ "getgroups", ALWAYS }, { "getgroups32", ALWAYS },
	{ "setuid", ALWAYS }, { "setuid32", ALWAYS }, { "setgid", ALWAYS }, { "setgid32", ALWAYS },
	{ "setreuid", ALWAYS }, { "setreuid32", ALWAYS }, { "setregid", ALWAYS },
	{ "setregid32", ALWAYS }, { "setresuid", ALWAYS }, { "setresuid32", ALWAYS },
	{ "setresgid", ALWAYS }, { "setresgid32", ALWAYS },
	{ "setfsuid", ALWAYS }, { "setfsuid32", ALWAYS }, { "setfsgid", ALWAYS },
	{ "setfsgid32", ALWAYS }, { "setgroups", ALWAYS }, { "setgroups32", ALWAYS },
	/* signals */
	{ "kill", ALWAYS }, { "tkill", ALWAYS }, { "tgkill", ALWAYS },
	{ "rt_sigaction", ALWAYS }, { "rt_sigprocmask", ALWAYS }, { "rt_sigreturn", ALWAYS },
	{ "rt_sigpending", ALWAYS }, { "rt_sigsuspend", ALWAYS },
	{ "rt_sigtimedwait", ALWAYS }, { "rt_sigtimedwait_time64", ALWAYS },
	{ "rt_sigqueueinfo", ALWAYS }, { "rt_tgsigqueueinfo", ALWAYS },
	{ "sigaltstack", ALWAYS }, { "sigprocmask", ALWAYS }, { "sigreturn", ALWAYS },
	{ "pause", ALWAYS }, { "alarm", ALWAYS },
	/* time (setting it needs CAP_SYS_TIME; adjtimex and clock_adjtime also
	 * read the clock state, and the kernel checks the capability for any
	 * change, so they stay allowed as Docker has them) */
	{ "time", ALWAYS }, { "gettimeofday", ALWAYS },
	{ "clock_gettime", ALWAYS }, { "clock_gettime64", ALWAYS },
	{ "clock_getres", ALWAYS }, { "clock_getres_time64", ALWAYS },
	{ "clock_nanosleep", ALWAYS }, { "clock_nanosleep_time64", ALWAYS },
	{ "nanosleep", ALWAYS }, { "adjtimex", ALWAYS }, { "clock_adjtime", ALWAYS },
	{ "clock_adjtime64", ALWAYS },
	{ "getitimer", ALWAYS }, { "setitimer", ALWAYS },
	{ "timer_create", ALWAYS }, { "timer_delete", ALWAYS }, { "timer_getoverrun", ALWAYS },
	{ "timer_gettime", ALWAYS }, { "timer_gettime64", ALWAYS },
	{ "timer_settime", ALWAYS }, { "timer_settime64", ALWAYS },
	{ "settimeofday", C(CAP_SYS_TIME) }, { "stime", C(CAP_SYS_TIME) },
	{ "clock_settime", C(CAP_SYS_TIME) }, { "clock_settime64", C(CAP_SYS_TIME) },
	/* sockets (socket itself is family-filtered below) */
	{ "socketpair", ALWAYS }, { "bind", ALWAYS }, { "connect", ALWAYS },
	{ "listen", ALWAYS }, { "accept", ALWAYS }, { "accept4", ALWAYS },
	{ "getsockname", ALWAYS }, { "getpeername", ALWAYS },
	{ "getsockopt", ALWAYS }, { "setsockopt", ALWAYS }, { "shutdown", ALWAYS },
	{ "send", ALWAYS }, { "sendto", ALWAYS }, { "sendmsg", ALWAYS }, { "sendmmsg", ALWAYS },
	{ "recv", ALWAYS }, { "recvfrom", ALWAYS }, { "recvmsg", ALWAYS },
	{ "recvmmsg", ALWAYS }, { "recvmmsg_time64", ALWAYS },
	{ "socketcall", ALWAYS },   /* i386 multiplexer; its arguments are in memory */
	/* System V and POSIX IPC (inside the container's IPC namespace) */
	{ "ipc", ALWAYS }, { "msgget", ALWAYS }, { "msgsnd", ALWAYS }, { "msgrcv", ALWAYS },
	{ "msgctl", ALWAYS }, { "semget", ALWAYS }, { "semop", ALWAYS },
	{ "semtimedop", ALWAYS }, { "semtimedop_time64", ALWAYS }, { "semctl", ALWAYS },
	{ "shmget", ALWAYS }, { "shmat", ALWAYS }, { "shmdt", ALWAYS }, { "shmctl", ALWAYS },
	{ "mq_open", ALWAYS }, { "mq_unlink", ALWAYS }, { "mq_timedsend", ALWAYS },
	{ "mq_timedsend_time64", ALWAYS }, { "mq_timedreceive", ALWAYS },
	{ "mq_timedreceive_time64", ALWAYS }, { "mq_notify", ALWAYS },
	{ "mq_getsetattr", ALWAYS },

	/* capability-gated */
	{ "mount", C(CAP_SYS_ADMIN) }, { "umount", C(CAP_SYS_ADMIN) },
	{ "umount2", C(CAP_SYS_ADMIN) }, { "unshare", C(CAP_SYS_ADMIN) },
	{ "setns", C(CAP_SYS_ADMIN) }, { "fsopen", C(CAP_SYS_ADMIN) },
	{ "fsconfig", C(CAP_SYS_ADMIN) }, { "fsmount", C(CAP_SYS_ADMIN) },
	{ "fspick", C(CAP_SYS_ADMIN) }, { "move_mount", C(CAP_SYS_ADMIN) },
	{ "open_tree", C(CAP_SYS_ADMIN) }, { "mount_setattr", C(CAP_SYS_ADMIN) },
	{ "sethostname", C(CAP_SYS_ADMIN) }, { "setdomainname", C(CAP_SYS_ADMIN) },
	{ "quotactl", C(CAP_SYS_ADMIN) }, { "quotactl_fd", C(CAP_SYS_ADMIN) },
	{ "lookup_dcookie", C(CAP_SYS_ADMIN) }, { "fanotify_init", C(CAP_SYS_ADMIN) },
	{ "bpf", C(CAP_SYS_ADMIN) | C(CAP_BPF) },
	{ "perf_event_open", C(CAP_SYS_ADMIN) | C(CAP_PERFMON) },
	{ "syslog", C(CAP_SYS_ADMIN) | C(CAP_SYSLOG) },
	{ "init_module", C(CAP_SYS_MODULE) }, { "finit_module", C(CAP_SYS_MODULE) },
	{ "delete_module", C(CAP_SYS_MODULE) },
	{ "reboot", C(CAP_SYS_BOOT) },
	/* Docker allows ptrace and process_vm_* to all on kernels >= 4.8;
	 * here they need SYS_PTRACE, which ECS has a task add to debug */
	{ "ptrace", C(CAP_SYS_PTRACE) }, { "process_vm_readv", C(CAP_SYS_PTRACE) },
	{ "process_vm_writev", C(CAP_SYS_PTRACE) }, { "kcmp", C(CAP_SYS_PTRACE) },
	{ "pidfd_getfd", C(CAP_SYS_PTRACE) }, { "process_madvise", C(CAP_SYS_PTRACE) },
	{ "iopl", C(CAP_SYS_RAWIO) }, { "ioperm", C(CAP_SYS_RAWIO) },
	{ "acct", C(CAP_SYS_PACCT) },
	{ "chroot", C(CAP_SYS_CHROOT) },
	{ "open_by_handle_at", C(CAP_DAC_READ_SEARCH) },
	{ "vhangup", C(CAP_SYS_TTY_CONFIG) },
	/* Never, whatever the capabilities: keyctl, add_key, request_key (the
	 * keyring is not namespaced), pivot_root, kexec_load, kexec_file_load,
	 * userfaultfd, io_uring_setup, io_uring_enter, io_uring_register, and
	 * everything not listed (swapon, swapoff, nfsservctl, uselib, ...). */
};

/* The newest generic syscall numbers (the same on x86_64, i386, x32 with its
 * bit, aarch64 and arm), which libseccomp 2.5 does not know by name. */
#define NEW_FIRST 457
#define NEW_END   470      /* first number this table does not know: ENOSYS ... */
#define NEW_LIMIT 512      /* ... up to here: x32's own calls start at 512, arm's
			      private ones at 0xf0000; libseccomp decides those */
static const struct {
	int nr;
	uint64_t gate;       /* as above; NEVER: always EPERM */
} new_rules[] = {
#define NEVER (~0ULL)
	{ 457, ALWAYS },                  /* statmount */
	{ 458, ALWAYS },                  /* listmount */
	{ 459, C(CAP_SYS_ADMIN) },        /* lsm_get_self_attr */
	{ 460, C(CAP_SYS_ADMIN) },        /* lsm_set_self_attr */
	{ 461, C(CAP_SYS_ADMIN) },        /* lsm_list_modules */
	{ 462, ALWAYS },                  /* mseal */
	{ 463, ALWAYS },                  /* setxattrat */
	{ 464, ALWAYS },                  /* getxattrat */
	{ 465, ALWAYS },                  /* listxattrat */
	{ 466, ALWAYS },                  /* removexattrat */
	{ 467, C(CAP_SYS_ADMIN) },        /* open_tree_attr */
	{ 468, ALWAYS },                  /* file_getattr */
	{ 469, ALWAYS },                  /* file_setattr */
};

/* personality(2): the values Docker allows - PER_LINUX, PER_LINUX32,
 * UNAME26, PER_LINUX32|UNAME26 and the 0xffffffff query. */
static const uint32_t personalities[] = { 0x0, 0x8, 0x20000, 0x20008, 0xffffffff };

/* socket(2) families: everything below AF_DECnet, and then the ones a
 * service plausibly uses; AF_ALG, AF_VSOCK (the host side of a VM), and the
 * obsolete DECnet, Econet, ATM SVC, IrDA, WANPIPE, ISDN and CAIF answer
 * EPERM. Numbers, because libc headers lag the kernel. */
static const int socket_families[] = {
	13 /* NETBEUI */, 14 /* SECURITY */, 15 /* KEY */, 16 /* NETLINK */, 17 /* PACKET */,
	18 /* ASH */, 21 /* RDS */, 22 /* SNA */, 24 /* PPPOX */, 26 /* LLC */, 27 /* IB */,
	28 /* MPLS */, 29 /* CAN */, 30 /* TIPC */, 31 /* BLUETOOTH */, 32 /* IUCV */,
	33 /* RXRPC */, 35 /* PHONET */, 36 /* IEEE802154 */, 39 /* NFC */, 41 /* KCM */,
	42 /* QIPCRTR */, 43 /* SMC */, 44 /* XDP */, 45 /* MCTP */,
};
#define SOCKET_LOW_FAMILIES 12   /* 0..11: UNSPEC, UNIX, INET, AX25, IPX, APPLETALK,
				    NETROM, BRIDGE, ATMPVC, X25, INET6, ROSE */

#define CLONE_NS_FLAGS (CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | \
			CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP)

#define N(a) (sizeof(a) / sizeof((a)[0]))

static bool gate_open(uint64_t gate, uint64_t caps)
{
	return gate == ALWAYS || (gate != NEVER && (caps & gate) != 0);
}

/* ------------------------------------------------------------ libseccomp */

static int add_rule(scmp_filter_ctx ctx, uint32_t action, const char *name, unsigned n_args,
		    const struct scmp_arg_cmp *args, struct berr **err)
{
	int nr = seccomp_syscall_resolve_name(name);
	int r;

	if (nr == __NR_SCMP_ERROR)
		return 0;    /* unknown to this libseccomp: the default answers */
	r = seccomp_rule_add_array(ctx, action, nr, n_args, args);
	if (r < 0)
		return berr_set(err, -r, "seccomp: add rule for %s", name);
	return 0;
}

/* A comparison on the first argument (MASKED_EQ: a is the mask, b the value). */
static struct scmp_arg_cmp arg0(enum scmp_compare op, uint64_t a, uint64_t b)
{
	return (struct scmp_arg_cmp){ .arg = 0, .op = op, .datum_a = a, .datum_b = b };
}

static int add_arches(scmp_filter_ctx ctx, struct berr **err)
{
	static const uint32_t compat[] = {
#if defined(__x86_64__)
		SCMP_ARCH_X86, SCMP_ARCH_X32,
#elif defined(__aarch64__)
		SCMP_ARCH_ARM,
#endif
		0,
	};

	for (size_t i = 0; compat[i]; i++) {
		int r = seccomp_arch_add(ctx, compat[i]);

		if (r < 0 && r != -EEXIST)
			return berr_set(err, -r, "seccomp: add architecture %#x", compat[i]);
	}
	return 0;
}

static int build_ctx(scmp_filter_ctx ctx, uint64_t caps, struct berr **err)
{
	bool sys_admin = caps & C(CAP_SYS_ADMIN);
	int r;

	r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_ERRNO(EPERM));
	if (r < 0)
		return berr_set(err, -r, "seccomp: set the foreign-architecture action");
	/* a binary tree instead of a linear list of compares */
	r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	if (r < 0)
		return berr_set(err, -r, "seccomp: set the optimisation level");
	r = add_arches(ctx, err);
	if (r < 0)
		return r;

	for (size_t i = 0; i < N(rules); i++) {
		if (!gate_open(rules[i].gate, caps))
			continue;
		r = add_rule(ctx, SCMP_ACT_ALLOW, rules[i].name, 0, NULL, err);
		if (r < 0)
			return r;
	}

	/* clone: no new namespaces without CAP_SYS_ADMIN; clone3 passes its
	 * flags in memory, so it answers ENOSYS and libc falls back to clone */
	if (sys_admin) {
		r = add_rule(ctx, SCMP_ACT_ALLOW, "clone", 0, NULL, err);
		if (r >= 0)
			r = add_rule(ctx, SCMP_ACT_ALLOW, "clone3", 0, NULL, err);
	} else {
		struct scmp_arg_cmp a = arg0(SCMP_CMP_MASKED_EQ, CLONE_NS_FLAGS, 0);

		r = add_rule(ctx, SCMP_ACT_ALLOW, "clone", 1, &a, err);
		if (r >= 0)
			r = add_rule(ctx, SCMP_ACT_ERRNO(ENOSYS), "clone3", 0, NULL, err);
	}
	if (r < 0)
		return r;

	/* personality takes an unsigned int: compare the low 32 bits */
	for (size_t i = 0; i < N(personalities); i++) {
		struct scmp_arg_cmp a = arg0(SCMP_CMP_MASKED_EQ, 0xffffffffULL, personalities[i]);

		r = add_rule(ctx, SCMP_ACT_ALLOW, "personality", 1, &a, err);
		if (r < 0)
			return r;
	}

	/* socket: by family */
	{
		struct scmp_arg_cmp a = arg0(SCMP_CMP_LT, SOCKET_LOW_FAMILIES, 0);

		r = add_rule(ctx, SCMP_ACT_ALLOW, "socket", 1, &a, err);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < N(socket_families); i++) {
		struct scmp_arg_cmp a = arg0(SCMP_CMP_MASKED_EQ, 0xffffffffULL,
					     (uint64_t)socket_families[i]);

		r = add_rule(ctx, SCMP_ACT_ALLOW, "socket", 1, &a, err);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Export ctx as a BPF program through a memfd (libseccomp 2.5 has no
 * export to memory). */
static int export_bpf(scmp_filter_ctx ctx, struct sock_filter **out, size_t *out_len,
		      struct berr **err)
{
	cleanup_close int fd = memfd_create("berth-seccomp", MFD_CLOEXEC);
	cleanup_free struct sock_filter *insns = NULL;
	struct stat st;
	size_t done = 0;
	int r;

	if (fd < 0)
		return berr_set(err, errno, "seccomp: memfd_create for the BPF export");
	r = seccomp_export_bpf(ctx, fd);
	if (r < 0)
		return berr_set(err, -r, "seccomp: export the BPF program");
	if (fstat(fd, &st) < 0)
		return berr_set(err, errno, "seccomp: stat the exported program");
	if (st.st_size <= 0 || st.st_size % sizeof(struct sock_filter) != 0)
		return berr_set(err, EINVAL, "seccomp: exported program has %lld bytes",
				(long long)st.st_size);
	insns = xmalloc((size_t)st.st_size);
	while (done < (size_t)st.st_size) {
		ssize_t n = pread(fd, (char *)insns + done, (size_t)st.st_size - done, (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return berr_set(err, errno, "seccomp: read the exported program");
		if (n == 0)
			return berr_set(err, EIO, "seccomp: exported program shrank while reading");
		done += (size_t)n;
	}
	*out = steal_pointer(&insns);
	*out_len = (size_t)st.st_size / sizeof(struct sock_filter);
	return 0;
}

/* ------------------------------------------------------------ prologue */

#if defined(__x86_64__)
static const uint32_t prologue_arches[] = { AUDIT_ARCH_X86_64, AUDIT_ARCH_I386 };
#define NR_MASK (~0x40000000U)   /* x32's __X32_SYSCALL_BIT: same numbers */
#elif defined(__aarch64__)
static const uint32_t prologue_arches[] = { AUDIT_ARCH_AARCH64, AUDIT_ARCH_ARM };
#define NR_MASK (~0U)
#endif

#ifdef NR_MASK
/* Ahead of libseccomp's program, for the architectures above:
 *
 *     A = arch; if A is none of prologue_arches -> libseccomp
 *     A = nr & NR_MASK
 *     A >= NEW_LIMIT -> libseccomp
 *     A >= NEW_END   -> ERRNO(ENOSYS)
 *     A <  NEW_FIRST -> libseccomp
 *     A == each allowed new number -> ALLOW
 *     -> ERRNO(EPERM)
 *
 * Returns the number of instructions written to p (NULL: just count). */
static size_t build_prologue(uint64_t caps, struct sock_filter *p)
{
	size_t n_arch = N(prologue_arches), n_allowed = 0, total, i = 0;

	for (size_t k = 0; k < N(new_rules); k++)
		if (gate_open(new_rules[k].gate, caps))
			n_allowed++;
	/* ld arch, n_arch jeq, ld nr, and, jge LIMIT, jge END, jge FIRST,
	 * n_allowed jeq, ret EPERM, ret ALLOW, ret ENOSYS */
	total = 1 + n_arch + 1 + 1 + 1 + 1 + 1 + n_allowed + 3;
	if (!p)
		return total;

	const size_t out = total;               /* index of libseccomp's first instruction */
	const size_t ret_allow = total - 2, ret_enosys = total - 1;
#define AT(target) ((uint8_t)((target) - (i + 1)))   /* relative jump from instruction i */

	p[i] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
					    offsetof(struct seccomp_data, arch));
	i++;
	for (size_t k = 0; k < n_arch; k++, i++) {
		size_t nr_load = 1 + n_arch;
		bool last = k == n_arch - 1;

		p[i] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, prologue_arches[k],
						    AT(nr_load), last ? AT(out) : 0);
	}
	p[i] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
					    offsetof(struct seccomp_data, nr));
	i++;
	p[i] = (struct sock_filter)BPF_STMT(BPF_ALU | BPF_AND | BPF_K, NR_MASK);
	i++;
	p[i] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, NEW_LIMIT, AT(out), 0);
	i++;
	p[i] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, NEW_END, AT(ret_enosys), 0);
	i++;
	p[i] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, NEW_FIRST, 0, AT(out));
	i++;
	for (size_t k = 0; k < N(new_rules); k++) {
		if (!gate_open(new_rules[k].gate, caps))
			continue;
		p[i] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
						    (uint32_t)new_rules[k].nr, AT(ret_allow), 0);
		i++;
	}
	/* a new number not allowed above (index total - 3) */
	p[i++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
					      SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA));
	p[i++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	p[i++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
					      SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA));
#undef AT
	return i;
}
#else
static size_t build_prologue(uint64_t caps, struct sock_filter *p)
{
	return 0;
}
#endif

/* ------------------------------------------------------------ compile + cache */

static int compile(uint64_t caps, struct sock_fprog *out, struct berr **err)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
	cleanup_free struct sock_filter *body = NULL;
	struct sock_filter *prog;
	size_t body_len = 0, pro_len;
	int r;

	if (!ctx)
		return berr_set(err, ENOMEM, "seccomp: seccomp_init");
	r = build_ctx(ctx, caps, err);
	if (r >= 0)
		r = export_bpf(ctx, &body, &body_len, err);
	seccomp_release(ctx);
	if (r < 0)
		return r;

	pro_len = build_prologue(caps, NULL);
	if (pro_len + body_len > BPF_MAXINSNS)
		return berr_set(err, E2BIG, "seccomp: program has %zu instructions (limit %d)",
				pro_len + body_len, BPF_MAXINSNS);
	prog = xcalloc(pro_len + body_len, sizeof(*prog));
	if (build_prologue(caps, prog) != pro_len)
		abort();
	memcpy(prog + pro_len, body, body_len * sizeof(*prog));
	out->filter = prog;
	out->len = (unsigned short)(pro_len + body_len);
	return 0;
}

struct cache_entry {
	struct ctr_seccomp f;
	struct cache_entry *next;
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cache_entry *cache;

int ctr_seccomp_get(uint64_t caps, const struct ctr_seccomp **out, struct berr **err)
{
	struct cache_entry *e;
	int r = 0;

	pthread_mutex_lock(&cache_lock);
	for (e = cache; e; e = e->next)
		if (e->f.caps == caps)
			break;
	if (!e) {
		struct sock_fprog prog;

		r = compile(caps, &prog, err);
		if (r >= 0) {
			e = xzalloc(sizeof(*e));
			e->f.prog = prog;
			e->f.caps = caps;
			e->next = cache;
			cache = e;
		}
	}
	pthread_mutex_unlock(&cache_lock);
	if (r < 0)
		return berr_wrap(err, "compile the seccomp filter for capabilities %#llx",
				 (unsigned long long)caps);
	*out = &e->f;
	return 0;
}

void ctr_seccomp_cache_clear(void)
{
	pthread_mutex_lock(&cache_lock);
	while (cache) {
		struct cache_entry *e = cache;

		cache = e->next;
		free(e->f.prog.filter);
		free(e);
	}
	pthread_mutex_unlock(&cache_lock);
}

int ctr_seccomp_load(const struct ctr_seccomp *f)
{
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &f->prog) < 0)
		return -errno;
	return 0;
}
