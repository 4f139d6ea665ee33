/* runtime/container/seccomp.c - the default seccomp allowlist (see seccomp.h).
 *
 * The tables below are berth's own, following the shape of Docker's default
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
 * with EPERM (glibc does so for fchmodat2, clone3, faccessat2, ...).
 *
 * The policy is data: for a capability set, plan() turns the tables into the
 * exact list of calls libseccomp receives plus the prologue's instructions.
 * That plan is both what compile() feeds libseccomp and what the on-disk
 * cache key hashes, so editing a table (or the code that reads it) changes
 * the key and no stale program is ever loaded. */
#include "runtime/container/seccomp.h"

#include <dlfcn.h>
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
#include "common/fsutil.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "rootfs/digest.h"

#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif

#define C(cap) (1ULL << (cap))
#define ALWAYS 0ULL
#define NEVER (~0ULL)

/* ------------------------------------------------------------ the policy */

/* libseccomp settings: the default and foreign-architecture actions, the
 * optimisation level (2: a binary tree instead of a linear list of
 * compares), and the compat ABIs added next to the native one. */
static const struct {
	uint32_t default_action;
	uint32_t badarch_action;
	uint32_t optimize;
} settings = {
	.default_action = SCMP_ACT_ERRNO(EPERM),
	.badarch_action = SCMP_ACT_ERRNO(EPERM),
	.optimize = 2,
};

static const uint32_t compat_arches[] = {
#if defined(__x86_64__)
	SCMP_ARCH_X86, SCMP_ARCH_X32,
#elif defined(__aarch64__)
	SCMP_ARCH_ARM,
#endif
};

/* A syscall allowed, with any arguments, when `gate` is 0 or the container
 * keeps any of the capabilities in `gate`. */
struct sc_rule {
	const char *name;
	uint64_t gate;
};

static const struct sc_rule allow_rules[] = {
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

#define CLONE_NS_FLAGS (CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | \
			CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP)

/* A rule with an action of its own or a condition on the first argument:
 * `action` for `name` when the gate is open (as above) and the container
 * keeps none of the capabilities in `unless`, for calls whose first argument
 * passes `arg` (arg.op == 0: any arguments). Added after allow_rules, in
 * this order. */
struct sc_cond_rule {
	const char *name;
	uint64_t gate;
	uint64_t unless;
	uint32_t action;
	struct scmp_arg_cmp arg;
};

#define ANY_ARGS { 0 }
#define ARG0(cmp, a, b) { .arg = 0, .op = (cmp), .datum_a = (a), .datum_b = (b) }
/* an unsigned int argument: compare the low 32 bits (MASKED_EQ: a is the
 * mask, b the value) */
#define ARG0_EQ32(v) ARG0(SCMP_CMP_MASKED_EQ, 0xffffffffULL, (v))
#define ALLOW_PERSONALITY(v) { "personality", ALWAYS, 0, SCMP_ACT_ALLOW, ARG0_EQ32(v) }
#define ALLOW_SOCKET(family) { "socket", ALWAYS, 0, SCMP_ACT_ALLOW, ARG0_EQ32(family) }

static const struct sc_cond_rule cond_rules[] = {
	/* clone: no new namespaces without CAP_SYS_ADMIN; clone3 passes its
	 * flags in memory, so it answers ENOSYS and libc falls back to clone */
	{ "clone", C(CAP_SYS_ADMIN), 0, SCMP_ACT_ALLOW, ANY_ARGS },
	{ "clone3", C(CAP_SYS_ADMIN), 0, SCMP_ACT_ALLOW, ANY_ARGS },
	{ "clone", ALWAYS, C(CAP_SYS_ADMIN), SCMP_ACT_ALLOW,
	  ARG0(SCMP_CMP_MASKED_EQ, CLONE_NS_FLAGS, 0) },
	{ "clone3", ALWAYS, C(CAP_SYS_ADMIN), SCMP_ACT_ERRNO(ENOSYS), ANY_ARGS },

	/* personality(2): the values Docker allows - PER_LINUX, PER_LINUX32,
	 * UNAME26, PER_LINUX32|UNAME26 and the 0xffffffff query */
	ALLOW_PERSONALITY(0x0), ALLOW_PERSONALITY(0x8), ALLOW_PERSONALITY(0x20000),
	ALLOW_PERSONALITY(0x20008), ALLOW_PERSONALITY(0xffffffff),

	/* socket(2) families: everything below AF_DECnet (0..11: UNSPEC, UNIX,
	 * INET, AX25, IPX, APPLETALK, NETROM, BRIDGE, ATMPVC, X25, INET6, ROSE),
	 * and then the ones a service plausibly uses; AF_ALG, AF_VSOCK (the
	 * host side of a VM), and the obsolete DECnet, Econet, ATM SVC, IrDA,
	 * WANPIPE, ISDN and CAIF answer EPERM. Numbers, because libc headers
	 * lag the kernel. */
	{ "socket", ALWAYS, 0, SCMP_ACT_ALLOW, ARG0(SCMP_CMP_LT, 12, 0) },
	ALLOW_SOCKET(13 /* NETBEUI */), ALLOW_SOCKET(14 /* SECURITY */),
	ALLOW_SOCKET(15 /* KEY */), ALLOW_SOCKET(16 /* NETLINK */), ALLOW_SOCKET(17 /* PACKET */),
	ALLOW_SOCKET(18 /* ASH */), ALLOW_SOCKET(21 /* RDS */), ALLOW_SOCKET(22 /* SNA */),
	ALLOW_SOCKET(24 /* PPPOX */), ALLOW_SOCKET(26 /* LLC */), ALLOW_SOCKET(27 /* IB */),
	ALLOW_SOCKET(28 /* MPLS */), ALLOW_SOCKET(29 /* CAN */), ALLOW_SOCKET(30 /* TIPC */),
	ALLOW_SOCKET(31 /* BLUETOOTH */), ALLOW_SOCKET(32 /* IUCV */),
	ALLOW_SOCKET(33 /* RXRPC */), ALLOW_SOCKET(35 /* PHONET */),
	ALLOW_SOCKET(36 /* IEEE802154 */), ALLOW_SOCKET(39 /* NFC */), ALLOW_SOCKET(41 /* KCM */),
	ALLOW_SOCKET(42 /* QIPCRTR */), ALLOW_SOCKET(43 /* SMC */), ALLOW_SOCKET(44 /* XDP */),
	ALLOW_SOCKET(45 /* MCTP */),
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

#define N(a) (sizeof(a) / sizeof((a)[0]))

static bool gate_open(uint64_t gate, uint64_t caps)
{
	return gate == ALWAYS || (gate != NEVER && (caps & gate) != 0);
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

/* ------------------------------------------------------------ plan */

/* One seccomp_rule_add: `n_args` is 0 or 1 (then `arg`). */
struct plan_rule {
	const char *name;
	uint32_t action;
	unsigned n_args;
	struct scmp_arg_cmp arg;
};

/* Everything the program for one capability set is built from, in order. */
struct plan {
	uint64_t caps;
	struct plan_rule *rules;
	size_t n_rules;
	struct sock_filter *prologue;
	size_t prologue_len;
};

static void plan_free(struct plan *p)
{
	free(p->rules);
	free(p->prologue);
	*p = (struct plan){ 0 };
}

static void plan_build(uint64_t caps, struct plan *p)
{
	size_t n = 0;

	p->caps = caps;
	p->rules = xcalloc(N(allow_rules) + N(cond_rules), sizeof(*p->rules));
	for (size_t i = 0; i < N(allow_rules); i++) {
		if (!gate_open(allow_rules[i].gate, caps))
			continue;
		p->rules[n++] = (struct plan_rule){ .name = allow_rules[i].name,
						    .action = SCMP_ACT_ALLOW };
	}
	for (size_t i = 0; i < N(cond_rules); i++) {
		const struct sc_cond_rule *c = &cond_rules[i];

		if (!gate_open(c->gate, caps) || (caps & c->unless) != 0)
			continue;
		p->rules[n++] = (struct plan_rule){ .name = c->name, .action = c->action,
						    .n_args = c->arg.op != 0, .arg = c->arg };
	}
	p->n_rules = n;
	p->prologue_len = build_prologue(caps, NULL);
	p->prologue = xcalloc(p->prologue_len ? p->prologue_len : 1, sizeof(*p->prologue));
	if (build_prologue(caps, p->prologue) != p->prologue_len)
		abort();
}

/* ------------------------------------------------------------ libseccomp */

static int add_rule(scmp_filter_ctx ctx, const struct plan_rule *rule, struct berr **err)
{
	int nr = seccomp_syscall_resolve_name(rule->name);
	int r;

	if (nr == __NR_SCMP_ERROR)
		return 0;    /* unknown to this libseccomp: the default answers */
	r = seccomp_rule_add_array(ctx, rule->action, nr, rule->n_args,
				   rule->n_args ? &rule->arg : NULL);
	if (r < 0)
		return berr_set(err, -r, "seccomp: add rule for %s", rule->name);
	return 0;
}

static int build_ctx(scmp_filter_ctx ctx, const struct plan *plan, struct berr **err)
{
	int r;

	r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, settings.badarch_action);
	if (r < 0)
		return berr_set(err, -r, "seccomp: set the foreign-architecture action");
	r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, settings.optimize);
	if (r < 0)
		return berr_set(err, -r, "seccomp: set the optimisation level");
	for (size_t i = 0; i < N(compat_arches); i++) {
		r = seccomp_arch_add(ctx, compat_arches[i]);
		if (r < 0 && r != -EEXIST)
			return berr_set(err, -r, "seccomp: add architecture %#x", compat_arches[i]);
	}
	for (size_t i = 0; i < plan->n_rules; i++) {
		r = add_rule(ctx, &plan->rules[i], err);
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

/* The prologue followed by libseccomp's program for plan. */
static int compile(const struct plan *plan, struct sock_fprog *out, struct berr **err)
{
	scmp_filter_ctx ctx = seccomp_init(settings.default_action);
	cleanup_free struct sock_filter *body = NULL;
	struct sock_filter *prog;
	size_t body_len = 0, pro_len = plan->prologue_len;
	int r;

	if (!ctx)
		return berr_set(err, ENOMEM, "seccomp: seccomp_init");
	r = build_ctx(ctx, plan, err);
	if (r >= 0)
		r = export_bpf(ctx, &body, &body_len, err);
	seccomp_release(ctx);
	if (r < 0)
		return r;

	if (pro_len + body_len > BPF_MAXINSNS)
		return berr_set(err, E2BIG, "seccomp: program has %zu instructions (limit %d)",
				pro_len + body_len, BPF_MAXINSNS);
	prog = xcalloc(pro_len + body_len, sizeof(*prog));
	memcpy(prog, plan->prologue, pro_len * sizeof(*prog));
	memcpy(prog + pro_len, body, body_len * sizeof(*prog));
	out->filter = prog;
	out->len = (unsigned short)(pro_len + body_len);
	return 0;
}

/* ------------------------------------------------------------ cache key */

/* Bump when the way a plan becomes a program changes without the plan
 * changing (compile(), build_ctx(), add_rule()), or the file format does. */
#define CACHE_VERSION 1

static void hash_u32(struct rootfs_sha256 *h, uint32_t v)
{
	rootfs_sha256_update(h, &v, sizeof(v));
}

static void hash_u64(struct rootfs_sha256 *h, uint64_t v)
{
	rootfs_sha256_update(h, &v, sizeof(v));
}

static void hash_str(struct rootfs_sha256 *h, const char *s)
{
	rootfs_sha256_update(h, s, strlen(s) + 1);
}

/* The libseccomp in use as a file (path, device, inode, size, mtime):
 * distributions patch syscalls and fixes into a release without changing
 * its version, and any upgrade replaces the file. Statically linked, this
 * is berth's own executable, which is as good. */
static void hash_libseccomp_file(struct rootfs_sha256 *h)
{
	Dl_info info;
	struct stat st;

	if (!dladdr((void *)seccomp_init, &info) || !info.dli_fname ||
	    stat(info.dli_fname, &st) < 0) {
		hash_str(h, "");
		return;
	}
	hash_str(h, info.dli_fname);
	hash_u64(h, st.st_dev);
	hash_u64(h, st.st_ino);
	hash_u64(h, (uint64_t)st.st_size);
	hash_u64(h, (uint64_t)st.st_mtim.tv_sec);
	hash_u64(h, (uint64_t)st.st_mtim.tv_nsec);
}

/* sha256 over everything that decides the program: the cache version, the
 * capability set, the native architecture, libseccomp (version and file),
 * the settings, the compat architectures, every rule libseccomp receives
 * (name, action, argument condition) and the prologue's instructions.
 * Native byte order: the cache belongs to one machine. */
static void plan_key(const struct plan *p, struct rootfs_digest *out)
{
	struct rootfs_sha256 *h = rootfs_sha256_new();
	const struct scmp_version *v = seccomp_version();

	hash_str(h, "berth seccomp cache");
	hash_u32(h, CACHE_VERSION);
	hash_u64(h, p->caps);
	hash_u32(h, seccomp_arch_native());
	hash_u32(h, v ? v->major : 0);
	hash_u32(h, v ? v->minor : 0);
	hash_u32(h, v ? v->micro : 0);
	hash_libseccomp_file(h);
	hash_u32(h, settings.default_action);
	hash_u32(h, settings.badarch_action);
	hash_u32(h, settings.optimize);
	hash_u32(h, (uint32_t)N(compat_arches));
	for (size_t i = 0; i < N(compat_arches); i++)
		hash_u32(h, compat_arches[i]);
	hash_u64(h, p->n_rules);
	for (size_t i = 0; i < p->n_rules; i++) {
		const struct plan_rule *r = &p->rules[i];

		hash_str(h, r->name);
		hash_u32(h, r->action);
		hash_u32(h, r->n_args);
		if (r->n_args) {
			hash_u32(h, r->arg.arg);
			hash_u32(h, (uint32_t)r->arg.op);
			hash_u64(h, r->arg.datum_a);
			hash_u64(h, r->arg.datum_b);
		}
	}
	hash_u64(h, p->prologue_len);
	rootfs_sha256_update(h, p->prologue, p->prologue_len * sizeof(*p->prologue));
	rootfs_sha256_final(h, out);
	rootfs_sha256_free(h);
}

/* ------------------------------------------------------------ disk cache */

/* <dir>/<key>.bpf: this header, then `count` struct sock_filter. */
#define CACHE_MAGIC "BERTHSCF"
struct cache_header {
	char magic[8];                      /* CACHE_MAGIC, no NUL */
	uint32_t version;                   /* CACHE_VERSION */
	uint32_t count;                     /* instructions, 1..BPF_MAXINSNS */
	char key[ROOTFS_SHA256_HEX];        /* the key, as in the file name */
	char body[ROOTFS_SHA256_HEX];       /* sha256 of the instructions */
};
_Static_assert(sizeof(struct cache_header) == 16 + 2 * ROOTFS_SHA256_HEX,
	       "cache header has padding");
#define CACHE_MAX_SIZE (sizeof(struct cache_header) + BPF_MAXINSNS * sizeof(struct sock_filter))

static char *cache_dir;   /* NULL: no disk cache; under cache_lock */

static char *cache_path(const char *dir, const struct rootfs_digest *key)
{
	return xasprintf("%s/%s.bpf", dir, key->hex);
}

/* The program in path when the file is one berth wrote for key: a regular
 * file with one link, owned by the effective uid and writable by nobody
 * else (a planted file could hold a permissive filter), with a header that
 * matches and instructions that hash to the header's digest. Anything else
 * is a miss (logged at debug level); the caller recompiles and overwrites. */
static bool cache_read(const char *path, const struct rootfs_digest *key, struct sock_fprog *out)
{
	cleanup_close int fd = -1;
	cleanup_free char *buf = NULL;
	struct cache_header hdr;
	struct rootfs_digest body;
	struct stat st;
	size_t done = 0, size;
	const char *why;

	/* O_NONBLOCK: a FIFO in its place must not hang the start */
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		if (errno != ENOENT)
			log_debug("seccomp cache: open %s: %s; compiling", path, strerror(errno));
		return false;
	}
	if (fstat(fd, &st) < 0) {
		log_debug("seccomp cache: stat %s: %s; compiling", path, strerror(errno));
		return false;
	}
	if (!S_ISREG(st.st_mode)) {
		why = "not a regular file";
		goto miss;
	}
	if (st.st_uid != geteuid()) {
		why = "owned by another user";
		goto miss;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		why = "writable by group or others";
		goto miss;
	}
	if (st.st_nlink != 1) {
		why = "has more than one link";
		goto miss;
	}
	if (st.st_size < (off_t)sizeof(hdr) || st.st_size > (off_t)CACHE_MAX_SIZE ||
	    (st.st_size - sizeof(hdr)) % sizeof(struct sock_filter) != 0) {
		why = "size is no header plus whole instructions";
		goto miss;
	}
	size = (size_t)st.st_size;
	buf = xmalloc(size);
	while (done < size) {
		ssize_t n = pread(fd, buf + done, size - done, (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			log_debug("seccomp cache: read %s: %s; compiling", path, strerror(errno));
			return false;
		}
		if (n == 0) {
			why = "shorter than its size";
			goto miss;
		}
		done += (size_t)n;
	}
	memcpy(&hdr, buf, sizeof(hdr));
	if (memcmp(hdr.magic, CACHE_MAGIC, sizeof(hdr.magic)) != 0) {
		why = "bad magic";
		goto miss;
	}
	if (hdr.version != CACHE_VERSION) {
		why = "other format version";
		goto miss;
	}
	if (hdr.count == 0 || hdr.count > BPF_MAXINSNS ||
	    size != sizeof(hdr) + hdr.count * sizeof(struct sock_filter)) {
		why = "instruction count does not match the size";
		goto miss;
	}
	if (memcmp(hdr.key, key->hex, ROOTFS_SHA256_HEX) != 0) {
		why = "key in the header differs";
		goto miss;
	}
	rootfs_sha256_buf(buf + sizeof(hdr), size - sizeof(hdr), &body);
	if (memcmp(hdr.body, body.hex, ROOTFS_SHA256_HEX) != 0) {
		why = "instructions do not match their digest";
		goto miss;
	}
	out->len = (unsigned short)hdr.count;
	out->filter = xmalloc(size - sizeof(hdr));
	memcpy(out->filter, buf + sizeof(hdr), size - sizeof(hdr));
	return true;

miss:
	log_debug("seccomp cache: %s: %s; compiling", path, why);
	return false;
}

/* Write prog for key; a failure costs the next start a compile, so it is
 * logged, not returned. */
static void cache_write(const char *path, const struct rootfs_digest *key,
			const struct sock_fprog *prog)
{
	size_t body_len = prog->len * sizeof(*prog->filter);
	cleanup_free char *buf = xmalloc(sizeof(struct cache_header) + body_len);
	cleanup_berr struct berr *err = NULL;
	struct cache_header hdr = { .version = CACHE_VERSION, .count = prog->len };
	struct rootfs_digest body;

	memcpy(hdr.magic, CACHE_MAGIC, sizeof(hdr.magic));
	memcpy(hdr.key, key->hex, ROOTFS_SHA256_HEX);
	rootfs_sha256_buf(prog->filter, body_len, &body);
	memcpy(hdr.body, body.hex, ROOTFS_SHA256_HEX);
	memcpy(buf, &hdr, sizeof(hdr));
	memcpy(buf + sizeof(hdr), prog->filter, body_len);
	if (fs_write_file_atomic(path, buf, sizeof(hdr) + body_len, 0600, &err) < 0)
		log_warn("seccomp cache: %s", berr_msg(err));
}

/* ------------------------------------------------------------ process cache */

struct cache_entry {
	struct ctr_seccomp f;
	struct cache_entry *next;
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cache_entry *cache;

int ctr_seccomp_set_cache_dir(const char *dir, struct berr **err)
{
	cleanup_close int fd = -1;
	struct stat st;
	int r;

	pthread_mutex_lock(&cache_lock);
	free(cache_dir);
	cache_dir = NULL;
	pthread_mutex_unlock(&cache_lock);
	if (!dir)
		return 0;

	r = fs_mkdir_p(dir, 0700, err);
	if (r < 0)
		return berr_wrap(err, "seccomp cache directory");
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0)
		return berr_set(err, errno, "seccomp cache directory %s", dir);
	if (st.st_uid != geteuid())
		return berr_set(err, EPERM, "seccomp cache directory %s: owned by uid %u, not %u",
				dir, (unsigned)st.st_uid, (unsigned)geteuid());
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		return berr_set(err, EPERM,
				"seccomp cache directory %s: writable by group or others (mode %04o)",
				dir, (unsigned)(st.st_mode & 07777));

	pthread_mutex_lock(&cache_lock);
	free(cache_dir);
	cache_dir = xstrdup(dir);
	pthread_mutex_unlock(&cache_lock);
	return 0;
}

/* Under cache_lock: from the disk cache when there is a valid file, else
 * compiled (and written to the disk cache). */
static int load_or_compile(uint64_t caps, struct sock_fprog *prog, struct berr **err)
{
	struct plan plan;
	struct rootfs_digest key;
	cleanup_free char *path = NULL;
	int r;

	plan_build(caps, &plan);
	if (cache_dir) {
		plan_key(&plan, &key);
		path = cache_path(cache_dir, &key);
		if (cache_read(path, &key, prog)) {
			plan_free(&plan);
			return 0;
		}
	}
	r = compile(&plan, prog, err);
	plan_free(&plan);
	if (r < 0)
		return r;
	if (path)
		cache_write(path, &key, prog);
	return 0;
}

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

		r = load_or_compile(caps, &prog, err);
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
