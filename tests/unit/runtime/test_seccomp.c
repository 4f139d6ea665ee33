/* Unit tests for runtime/container/seccomp.c: the default allowlist.
 *
 * Each probe is a syscall whose outcome tells whether the filter let it
 * through. A forked child sets no_new_privs, loads the filter for a
 * capability set (or none: the control run) and reports every outcome
 * through a pipe; the parent compares. The probes are harmless when the
 * filter lets them through: missing paths, invalid flags, or a throwaway
 * child that exits at once. The control run shows what the kernel itself
 * answers here (printed), so a denial is visibly the filter's. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/log.h"
#include "rootfs/digest.h"
#include "runtime/container/caps.h"
#include "runtime/container/seccomp.h"

#define NOT_RUN 10000   /* probe not available here (e.g. no ia32 emulation) */

enum probe {
	P_SECCOMP_MODE,      /* 0 when /proc/self/status says "Seccomp: 2" */
	P_GETPID,
	P_FORK,
	P_PERSONA_QUERY,
	P_PERSONA_BSD,
	P_SOCKET_INET,
	P_SOCKET_UNIX,
	P_SOCKET_NETLINK,
	P_SOCKET_ALG,
	P_SOCKET_VSOCK,
	P_KEYCTL,
	P_ADD_KEY,
	P_CLONE3,
	P_CLONE_NEWNET,
	P_CLONE_NEWUSER,
	P_UNSHARE_0,
	P_UNSHARE_NEWNS,
	P_SETNS,
	P_MOUNT,
	P_UMOUNT,
	P_PIVOT_ROOT,
	P_IO_URING,
	P_USERFAULTFD,
	P_KEXEC,
	P_CHROOT,
	P_PTRACE,
	P_SETHOSTNAME,
	P_STATMOUNT,         /* 457: the prologue allows it */
	P_OPEN_TREE_ATTR,    /* 467: the prologue gates it on SYS_ADMIN */
	P_BEYOND_TABLE,      /* a number above the prologue's table: ENOSYS, not EPERM */
	P_I386_GETPID,       /* 0 when int 0x80 getpid == getpid() */
	P_I386_KEYCTL,
	P_I386_UNSHARE,
	P_I386_SOCKET_VSOCK,
	P_I386_SOCKETCALL_VSOCK,   /* printed only: see below */
	P_X32_KEYCTL,
	P_LOAD_NS,           /* how long ctr_seccomp_load took, ns */
	P_COUNT
};

static const char *const probe_names[P_COUNT] = {
	[P_SECCOMP_MODE] = "seccomp mode 2", [P_GETPID] = "getpid", [P_FORK] = "fork",
	[P_PERSONA_QUERY] = "personality(0xffffffff)", [P_PERSONA_BSD] = "personality(PER_BSD)",
	[P_SOCKET_INET] = "socket(AF_INET)", [P_SOCKET_UNIX] = "socket(AF_UNIX)",
	[P_SOCKET_NETLINK] = "socket(AF_NETLINK)", [P_SOCKET_ALG] = "socket(AF_ALG)",
	[P_SOCKET_VSOCK] = "socket(AF_VSOCK)", [P_KEYCTL] = "keyctl", [P_ADD_KEY] = "add_key",
	[P_CLONE3] = "clone3", [P_CLONE_NEWNET] = "clone(CLONE_NEWNET)",
	[P_CLONE_NEWUSER] = "clone(CLONE_NEWUSER)", [P_UNSHARE_0] = "unshare(0)",
	[P_UNSHARE_NEWNS] = "unshare(CLONE_NEWNS)", [P_SETNS] = "setns(-1)",
	[P_MOUNT] = "mount(missing target)", [P_UMOUNT] = "umount2(missing)",
	[P_PIVOT_ROOT] = "pivot_root(missing)", [P_IO_URING] = "io_uring_setup",
	[P_USERFAULTFD] = "userfaultfd", [P_KEXEC] = "kexec_load(bad flags)",
	[P_CHROOT] = "chroot(missing)", [P_PTRACE] = "ptrace(PEEKDATA)",
	[P_SETHOSTNAME] = "sethostname(too long)", [P_STATMOUNT] = "statmount(457)",
	[P_OPEN_TREE_ATTR] = "open_tree_attr(467)", [P_BEYOND_TABLE] = "syscall 500",
	[P_I386_GETPID] = "i386 getpid", [P_I386_KEYCTL] = "i386 keyctl",
	[P_I386_UNSHARE] = "i386 unshare", [P_I386_SOCKET_VSOCK] = "i386 socket(AF_VSOCK)",
	[P_I386_SOCKETCALL_VSOCK] = "i386 socketcall(AF_VSOCK)", [P_X32_KEYCTL] = "x32 keyctl",
	[P_LOAD_NS] = "load time (ns)",
};

#define MISSING "/nonexistent-berth-seccomp-test"

/* 0 on success, else -errno. */
static int rc(long r)
{
	return r < 0 ? -errno : 0;
}

/* rc() for calls that return an fd to close */
static int rc_fd(long r)
{
	if (r < 0)
		return -errno;
	close((int)r);
	return 0;
}

/* A raw clone(flags|SIGCHLD) whose child exits at once. */
static int probe_clone(unsigned long flags)
{
	long pid = syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);

	if (pid == 0)
		_exit(0);
	if (pid < 0)
		return -errno;
	waitpid((pid_t)pid, NULL, 0);
	return 0;
}

static int probe_fork(void)
{
	int st;
	pid_t pid = fork();

	if (pid == 0)
		_exit(7);
	if (pid < 0)
		return -errno;
	if (waitpid(pid, &st, 0) != pid)
		return -errno;
	return WIFEXITED(st) && WEXITSTATUS(st) == 7 ? 0 : -EIO;
}

static int probe_seccomp_mode(void)
{
	char buf[4096];
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	return strstr(buf, "\nSeccomp:\t2\n") ? 0 : -ENOENT;
}

#ifdef __x86_64__
static long ia32_syscall(long nr, long a, long b, long c)
{
	long ret;

	__asm__ volatile("int $0x80"
			 : "=a"(ret)
			 : "a"(nr), "b"(a), "c"(b), "d"(c)
			 : "memory", "r8", "r9", "r10", "r11");
	return ret;
}

/* Run a 32-bit syscall in a grandchild (int 0x80 may fault where ia32
 * emulation is off). Returns 0 or -errno; for getpid, 0 when the answer is
 * the caller's pid. */
static int probe_ia32(long nr, long a, long b, long c)
{
	int st;
	pid_t pid = fork();

	if (pid == 0) {
		long r = ia32_syscall(nr, a, b, c);

		if (nr == 20)
			_exit(r == getpid() ? 0 : 1);
		_exit(r < 0 && r > -256 ? (int)-r : 0);
	}
	if (pid < 0)
		return -errno;
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return NOT_RUN;
	return -WEXITSTATUS(st);
}
#endif

static void run_probes(int *res)
{
	res[P_SECCOMP_MODE] = probe_seccomp_mode();
	res[P_GETPID] = syscall(SYS_getpid) == getpid() ? 0 : -EIO;
	res[P_FORK] = probe_fork();
	res[P_PERSONA_QUERY] = rc(personality(0xffffffff));
	res[P_PERSONA_BSD] = rc(personality(0x0006));
	res[P_SOCKET_INET] = rc_fd(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
	res[P_SOCKET_UNIX] = rc_fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
	res[P_SOCKET_NETLINK] = rc_fd(socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, 0));
	res[P_SOCKET_ALG] = rc_fd(socket(38, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
	res[P_SOCKET_VSOCK] = rc_fd(socket(40, SOCK_STREAM | SOCK_CLOEXEC, 0));
	/* KEYCTL_GET_KEYRING_ID of the session keyring, create = 0 */
	res[P_KEYCTL] = rc(syscall(SYS_keyctl, 0, -3, 0));
	/* an empty type name: EINVAL when the kernel sees it */
	res[P_ADD_KEY] = rc(syscall(SYS_add_key, "", "d", NULL, 0, -3));
	res[P_CLONE3] = rc(syscall(SYS_clone3, NULL, 0));
	res[P_CLONE_NEWNET] = probe_clone(CLONE_NEWNET);
	res[P_CLONE_NEWUSER] = probe_clone(CLONE_NEWUSER);
	res[P_UNSHARE_0] = rc(unshare(0));
	res[P_UNSHARE_NEWNS] = rc(unshare(CLONE_NEWNS));
	res[P_SETNS] = rc(setns(-1, 0));
	res[P_MOUNT] = rc(mount("none", MISSING, "tmpfs", 0, NULL));
	res[P_UMOUNT] = rc(umount2(MISSING, 0));
	res[P_PIVOT_ROOT] = rc(syscall(SYS_pivot_root, MISSING "/a", MISSING "/b"));
	res[P_IO_URING] = rc_fd(syscall(SYS_io_uring_setup, 0, NULL));
	res[P_USERFAULTFD] = rc_fd(syscall(SYS_userfaultfd, O_CLOEXEC));
	/* flag 0x8000 is no KEXEC_* flag: EINVAL before anything is loaded */
	res[P_KEXEC] = rc(syscall(SYS_kexec_load, 0UL, 0UL, NULL, 0x8000UL));
	res[P_CHROOT] = rc(chroot(MISSING));
	/* not attached to our parent: ESRCH when the kernel sees it */
	res[P_PTRACE] = rc(ptrace(PTRACE_PEEKDATA, getppid(), NULL, NULL));
	{
		char big[512];

		memset(big, 'x', sizeof(big));
		res[P_SETHOSTNAME] = rc(sethostname(big, sizeof(big)));   /* EINVAL: > 64 */
	}
	res[P_STATMOUNT] = rc(syscall(457, NULL, NULL, 0UL, 0UL));
	res[P_OPEN_TREE_ATTR] = rc_fd(syscall(467, -1, MISSING, 0x40000000UL, NULL, 0UL));
	res[P_BEYOND_TABLE] = rc(syscall(500, 0, 0, 0));
#ifdef __x86_64__
	res[P_I386_GETPID] = probe_ia32(20, 0, 0, 0);
	res[P_I386_KEYCTL] = probe_ia32(288, 0, -3, 0);
	res[P_I386_UNSHARE] = probe_ia32(310, CLONE_NEWNS, 0, 0);
	res[P_I386_SOCKET_VSOCK] = probe_ia32(359, 40, SOCK_STREAM, 0);
	{
		/* socketcall(SYS_SOCKET, args): the arguments are in memory,
		 * which a 32-bit call can address only below 4 GiB */
		uint32_t *args = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
				      MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);

		res[P_I386_SOCKETCALL_VSOCK] = NOT_RUN;
		if (args != MAP_FAILED) {
			args[0] = 40;
			args[1] = SOCK_STREAM;
			args[2] = 0;
			res[P_I386_SOCKETCALL_VSOCK] = probe_ia32(102, 1, (long)(uintptr_t)args, 0);
			munmap(args, 4096);
		}
	}
	res[P_X32_KEYCTL] = rc(syscall(0x40000000L | 250, 0, -3, 0));
#else
	res[P_I386_GETPID] = res[P_I386_KEYCTL] = res[P_I386_UNSHARE] = NOT_RUN;
	res[P_I386_SOCKET_VSOCK] = res[P_I386_SOCKETCALL_VSOCK] = NOT_RUN;
	res[P_X32_KEYCTL] = NOT_RUN;
#endif
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Run the probes in a child under f (NULL: no filter, the control). */
static void probe_child(const struct ctr_seccomp *f, int *res)
{
	int p[2], st;
	pid_t pid;
	size_t got = 0;

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int out[P_COUNT];

		for (int i = 0; i < P_COUNT; i++)
			out[i] = NOT_RUN;
		close(p[0]);
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
			_exit(2);
		if (f) {
			int64_t t0 = now_ns();

			if (ctr_seccomp_load(f) < 0)
				_exit(3);
			out[P_LOAD_NS] = (int)(now_ns() - t0);
		}
		run_probes(out);
		if (write(p[1], out, sizeof(out)) != (ssize_t)sizeof(out))
			_exit(4);
		_exit(0);
	}
	close(p[1]);
	while (got < sizeof(int) * P_COUNT) {
		ssize_t n = read(p[0], (char *)res + got, sizeof(int) * P_COUNT - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(p[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail_msg("probe child failed: status %#x", st);
	assert_int_equal(got, sizeof(int) * P_COUNT);
}

static const char *outcome(int v, char *buf, size_t len)
{
	if (v == NOT_RUN)
		return "n/a";
	if (v == 0)
		return "ok";
	snprintf(buf, len, "%s", strerrorname_np(-v) ? strerrorname_np(-v) : "?");
	return buf;
}

static void print_table(const char *title, const int *control, const int *filtered)
{
	char a[32], b[32];

	printf("  %-26s %-12s %s\n", "probe", "no filter", title);
	for (int i = 0; i < P_LOAD_NS; i++)
		printf("  %-26s %-12s %s\n", probe_names[i], outcome(control[i], a, sizeof(a)),
		       outcome(filtered[i], b, sizeof(b)));
	printf("  load: %.1f us\n", filtered[P_LOAD_NS] / 1000.0);
}

#define C(cap) (1ULL << (cap))

/* CAP_SYS_ADMIN in this process's effective set */
static bool has_sys_admin(void)
{
	char buf[4096], *p;
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	assert_true(n > 0);
	buf[n] = '\0';
	p = strstr(buf, "\nCapEff:\t");
	assert_non_null(p);
	return strtoull(p + 9, NULL, 16) & C(CAP_SYS_ADMIN);
}

static const struct ctr_seccomp *get(uint64_t caps)
{
	const struct ctr_seccomp *f = NULL;
	struct berr *err = NULL;
	int64_t t0 = now_ns();

	if (ctr_seccomp_get(caps, &f, &err) < 0)
		fail_msg("ctr_seccomp_get(%#llx): %s", (unsigned long long)caps, berr_msg(err));
	printf("  ctr_seccomp_get(%#llx): %u instructions, %.2f ms\n", (unsigned long long)caps,
	       f->prog.len, (now_ns() - t0) / 1e6);
	assert_non_null(f);
	assert_int_equal(f->caps, caps);
	assert_true(f->prog.len > 0);
	assert_non_null(f->prog.filter);
	return f;
}

/* The never-allowed syscalls answer EPERM whatever the capabilities. */
static void assert_never(const int *r)
{
	assert_int_equal(r[P_KEYCTL], -EPERM);
	assert_int_equal(r[P_ADD_KEY], -EPERM);
	assert_int_equal(r[P_PIVOT_ROOT], -EPERM);
	assert_int_equal(r[P_IO_URING], -EPERM);
	assert_int_equal(r[P_USERFAULTFD], -EPERM);
	assert_int_equal(r[P_KEXEC], -EPERM);
	assert_int_equal(r[P_SOCKET_ALG], -EPERM);
	assert_int_equal(r[P_SOCKET_VSOCK], -EPERM);
	assert_int_equal(r[P_BEYOND_TABLE], -ENOSYS);
	if (r[P_I386_KEYCTL] != NOT_RUN)
		assert_int_equal(r[P_I386_KEYCTL], -EPERM);
	if (r[P_X32_KEYCTL] != NOT_RUN)
		assert_int_equal(r[P_X32_KEYCTL], -EPERM);
	if (r[P_I386_SOCKET_VSOCK] != NOT_RUN)
		assert_int_equal(r[P_I386_SOCKET_VSOCK], -EPERM);
	/* i386's socketcall(SYS_SOCKET) passes the family in memory, where no
	 * filter can read it: like Docker's profile, the filter lets socketcall
	 * through, so P_I386_SOCKETCALL_VSOCK is printed, not asserted. */
}

/* What the filter allowed must be answered by the kernel as in the control
 * run (the filter passed it through unchanged). */
static void assert_passed(const int *control, const int *r, enum probe p)
{
	if (r[p] != control[p])
		fail_msg("%s: %d under the filter, %d without", probe_names[p], r[p], control[p]);
}

static void test_default_caps(void **state)
{
	int control[P_COUNT], r[P_COUNT];
	const struct ctr_seccomp *f = get(ctr_caps_default());

	probe_child(NULL, control);
	probe_child(f, r);
	print_table("default caps", control, r);

	assert_int_equal(control[P_SECCOMP_MODE], -ENOENT);
	assert_int_equal(r[P_SECCOMP_MODE], 0);
	/* ordinary things work */
	assert_int_equal(r[P_GETPID], 0);
	assert_int_equal(r[P_FORK], 0);
	assert_int_equal(r[P_PERSONA_QUERY], 0);
	assert_int_equal(r[P_SOCKET_INET], 0);
	assert_int_equal(r[P_SOCKET_UNIX], 0);
	assert_passed(control, r, P_SOCKET_NETLINK);
	assert_passed(control, r, P_CHROOT);          /* SYS_CHROOT is a default cap */
	assert_passed(control, r, P_STATMOUNT);
	if (r[P_I386_GETPID] != NOT_RUN)
		assert_int_equal(r[P_I386_GETPID], 0);
	/* namespaces, mounts and the rest are refused */
	assert_int_equal(r[P_CLONE3], -ENOSYS);
	assert_int_equal(r[P_CLONE_NEWNET], -EPERM);
	assert_int_equal(r[P_CLONE_NEWUSER], -EPERM);
	assert_int_equal(r[P_UNSHARE_0], -EPERM);
	assert_int_equal(r[P_UNSHARE_NEWNS], -EPERM);
	assert_int_equal(r[P_SETNS], -EPERM);
	assert_int_equal(r[P_MOUNT], -EPERM);
	assert_int_equal(r[P_UMOUNT], -EPERM);
	assert_int_equal(r[P_PERSONA_BSD], -EPERM);
	assert_int_equal(r[P_PTRACE], -EPERM);
	assert_int_equal(r[P_SETHOSTNAME], -EPERM);
	assert_int_equal(r[P_OPEN_TREE_ATTR], -EPERM);
	if (r[P_I386_UNSHARE] != NOT_RUN)
		assert_int_equal(r[P_I386_UNSHARE], -EPERM);
	assert_never(r);

	/* the probes that tell filter from kernel: without the filter, the
	 * kernel's answers differ */
	assert_int_not_equal(control[P_CLONE3], -ENOSYS);
	assert_int_equal(control[P_PERSONA_QUERY], 0);
	assert_int_equal(control[P_UNSHARE_0], 0);
	assert_int_equal(control[P_PTRACE], -ESRCH);
	assert_int_equal(control[P_ADD_KEY], -EINVAL);
	if (has_sys_admin()) {
		/* these check the capability before their arguments */
		assert_int_equal(control[P_SETHOSTNAME], -EINVAL);
		assert_int_equal(control[P_PIVOT_ROOT], -ENOENT);
		assert_int_equal(control[P_UNSHARE_NEWNS], 0);
	}
}

static void test_no_caps(void **state)
{
	int control[P_COUNT], r[P_COUNT];
	const struct ctr_seccomp *f = get(0);

	probe_child(NULL, control);
	probe_child(f, r);
	print_table("no caps", control, r);
	assert_int_equal(r[P_GETPID], 0);
	assert_int_equal(r[P_FORK], 0);
	assert_int_equal(r[P_CHROOT], -EPERM);        /* gated on SYS_CHROOT */
	assert_int_equal(control[P_CHROOT], -ENOENT); /* the kernel looks the path up first */
	assert_int_equal(r[P_CLONE3], -ENOSYS);
	assert_int_equal(r[P_MOUNT], -EPERM);
	assert_never(r);
}

static void test_sys_admin(void **state)
{
	int control[P_COUNT], r[P_COUNT];
	const struct ctr_seccomp *f = get(ctr_caps_default() | C(CAP_SYS_ADMIN));

	probe_child(NULL, control);
	probe_child(f, r);
	print_table("default + SYS_ADMIN", control, r);

	/* no longer the filter's business: the kernel answers */
	assert_int_equal(r[P_UNSHARE_0], 0);
	assert_passed(control, r, P_CLONE3);
	assert_int_not_equal(r[P_CLONE3], -ENOSYS);
	assert_passed(control, r, P_MOUNT);
	assert_passed(control, r, P_UMOUNT);
	assert_passed(control, r, P_SETNS);
	assert_passed(control, r, P_SETHOSTNAME);
	assert_passed(control, r, P_OPEN_TREE_ATTR);
	assert_passed(control, r, P_CLONE_NEWNET);
	assert_passed(control, r, P_CLONE_NEWUSER);
	assert_passed(control, r, P_UNSHARE_NEWNS);
	if (has_sys_admin()) {
		assert_int_equal(r[P_MOUNT], -ENOENT);
		assert_int_equal(r[P_UNSHARE_NEWNS], 0);
	}
	/* SYS_ADMIN does not open the never list, nor ptrace */
	assert_int_equal(r[P_PTRACE], -EPERM);
	assert_never(r);
}

static void test_all_caps(void **state)
{
	int control[P_COUNT], r[P_COUNT];
	const struct ctr_seccomp *f = get(ctr_caps_all());

	probe_child(NULL, control);
	probe_child(f, r);
	print_table("all caps", control, r);
	assert_passed(control, r, P_PTRACE);
	assert_passed(control, r, P_MOUNT);
	assert_passed(control, r, P_CHROOT);
	assert_passed(control, r, P_PERSONA_QUERY);
	assert_int_equal(r[P_PERSONA_BSD], -EPERM);   /* personality stays filtered */
	assert_never(r);
}

static void test_cache(void **state)
{
	const struct ctr_seccomp *a, *b, *c;

	ctr_seccomp_cache_clear();
	a = get(ctr_caps_default());
	b = get(ctr_caps_default());
	assert_ptr_equal(a, b);
	c = get(ctr_caps_default() | C(CAP_SYS_ADMIN));
	assert_ptr_not_equal(a, c);
	assert_int_not_equal(a->prog.len, 0);
	/* a different set compiles a different program */
	assert_true(a->prog.len != c->prog.len ||
		    memcmp(a->prog.filter, c->prog.filter, a->prog.len * sizeof(*a->prog.filter)));
	ctr_seccomp_cache_clear();
	a = get(ctr_caps_default());
	assert_int_equal(a->caps, ctr_caps_default());
	ctr_seccomp_cache_clear();
}

/* Without no_new_privs the kernel takes the filter only from a process
 * with CAP_SYS_ADMIN, and refuses it with EACCES otherwise. */
static void test_load_result(void **state)
{
	const struct ctr_seccomp *f = get(0);
	int st;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		int r = ctr_seccomp_load(f);

		if (r == 0)
			_exit(has_sys_admin() ? 0 : 10);
		_exit(r == -EACCES && !has_sys_admin() ? 0 : 11);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}


/* ------------------------------------------------------------ disk cache
 *
 * A "second process" is this one after ctr_seccomp_cache_clear(). Files
 * are built here from the documented layout: magic "BERTHSCF", u32
 * version, u32 count, 64 hex key, 64 hex sha256 of the instructions, then
 * the instructions. */

#define HDR_SIZE (16 + 2 * ROOTFS_SHA256_HEX)
#define HDR_COUNT 12
#define HDR_KEY 16
#define HDR_BODY (16 + ROOTFS_SHA256_HEX)

static char tmp_root[] = "/tmp/berth-seccomp-test-XXXXXX";
static char *cache_dir_path;

/* debug log lines of the disk cache, to tell why a file was refused */
static char log_buf[8192];

static void capture_sink(enum blog_level level, const char *msg, void *data)
{
	size_t used = strlen(log_buf);

	(void)level;
	(void)data;
	snprintf(log_buf + used, sizeof(log_buf) - used, "%s\n", msg);
}

static int disk_setup(void **state)
{
	struct berr *err = NULL;

	(void)state;
	if (!mkdtemp(tmp_root))
		return -1;
	cache_dir_path = fs_path_join(tmp_root, "cache/seccomp");
	if (ctr_seccomp_set_cache_dir(cache_dir_path, &err) < 0) {
		fprintf(stderr, "set cache dir: %s\n", berr_msg(err));
		berr_free(err);
		return -1;
	}
	log_buf[0] = '\0';
	blog_set_sink(capture_sink, NULL);
	blog_set_level(BLOG_DEBUG);
	return 0;
}

static int disk_teardown(void **state)
{
	struct berr *err = NULL;

	(void)state;
	blog_set_sink(NULL, NULL);
	blog_set_level(BLOG_INFO);
	ctr_seccomp_set_cache_dir(NULL, NULL);
	ctr_seccomp_cache_clear();
	if (fs_rm_rf_at(AT_FDCWD, tmp_root, &err) < 0) {
		fprintf(stderr, "%s\n", berr_msg(err));
		berr_free(err);
	}
	free(cache_dir_path);
	cache_dir_path = NULL;
	strcpy(tmp_root, "/tmp/berth-seccomp-test-XXXXXX");
	return 0;
}

/* Remove every entry of the cache directory. */
static void cache_empty(void)
{
	DIR *d = opendir(cache_dir_path);
	struct dirent *de;

	assert_non_null(d);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			assert_int_equal(unlinkat(dirfd(d), de->d_name, 0), 0);
	closedir(d);
}

/* The names of the entries in the cache directory (sorted), e.g. to check
 * that exactly one file exists and no temporary file was left behind. */
static int cache_list(char names[][256], int max)
{
	struct dirent **list;
	int n = scandir(cache_dir_path, &list, NULL, alphasort), k = 0;

	assert_true(n >= 0);
	for (int i = 0; i < n; i++) {
		if (strcmp(list[i]->d_name, ".") && strcmp(list[i]->d_name, "..")) {
			assert_true(k < max);
			snprintf(names[k++], 256, "%s", list[i]->d_name);
		}
		free(list[i]);
	}
	free(list);
	return k;
}

static char *read_whole(const char *path, size_t *len)
{
	char *buf = NULL;
	struct berr *err = NULL;

	if (fs_read_file(path, &buf, len, 1 << 20, &err) < 0)
		fail_msg("%s", berr_msg(err));
	return buf;
}

static void write_raw(const char *path, const void *buf, size_t len, mode_t mode)
{
	int fd;

	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(fs_write_all(fd, buf, len), 0);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

/* A well-formed cache file for key holding prog. */
static char *make_file(const char *key_hex, const struct sock_fprog *prog, size_t *len)
{
	size_t body = prog->len * sizeof(*prog->filter);
	char *buf = calloc(1, HDR_SIZE + body);
	uint32_t version = 1, count = prog->len;
	struct rootfs_digest d;

	memcpy(buf, "BERTHSCF", 8);
	memcpy(buf + 8, &version, 4);
	memcpy(buf + HDR_COUNT, &count, 4);
	memcpy(buf + HDR_KEY, key_hex, ROOTFS_SHA256_HEX);
	memcpy(buf + HDR_SIZE, prog->filter, body);
	rootfs_sha256_buf(buf + HDR_SIZE, body, &d);
	memcpy(buf + HDR_BODY, d.hex, ROOTFS_SHA256_HEX);
	*len = HDR_SIZE + body;
	return buf;
}

static bool same_prog(const struct sock_fprog *a, const struct sock_fprog *b)
{
	return a->len == b->len && memcmp(a->filter, b->filter, a->len * sizeof(*a->filter)) == 0;
}

static struct sock_fprog copy_prog(const struct sock_fprog *p)
{
	struct sock_fprog c = { .len = p->len, .filter = malloc(p->len * sizeof(*p->filter)) };

	memcpy(c.filter, p->filter, p->len * sizeof(*p->filter));
	return c;
}

/* A fresh "process": empty process cache, then ctr_seccomp_get(caps). */
static const struct ctr_seccomp *get_fresh(uint64_t caps, int64_t *ns)
{
	const struct ctr_seccomp *f = NULL;
	struct berr *err = NULL;
	int64_t t0;

	ctr_seccomp_cache_clear();
	t0 = now_ns();
	if (ctr_seccomp_get(caps, &f, &err) < 0)
		fail_msg("ctr_seccomp_get(%#llx): %s", (unsigned long long)caps, berr_msg(err));
	if (ns)
		*ns = now_ns() - t0;
	assert_non_null(f);
	assert_int_equal(f->caps, caps);
	return f;
}

/* The name of the only entry of the cache directory; fails on any other. */
static char *only_file(void)
{
	char names[8][256];

	assert_int_equal(cache_list(names, 8), 1);
	return fs_path_join(cache_dir_path, names[0]);
}

static void test_disk_dir(void **state)
{
	struct berr *err = NULL;
	struct stat st;
	char *p;

	(void)state;
	/* created 0700 with its parent by the setup */
	assert_int_equal(lstat(cache_dir_path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(st.st_uid, geteuid());

	/* an open directory, a regular file, a symlink: refused, cache off */
	p = fs_path_join(tmp_root, "open");
	assert_int_equal(mkdir(p, 0700), 0);
	assert_int_equal(chmod(p, 0777), 0);
	assert_int_equal(ctr_seccomp_set_cache_dir(p, &err), -EPERM);
	printf("  %s\n", berr_msg(err));
	assert_non_null(strstr(berr_msg(err), "writable by group or others"));
	berr_clear(&err);
	free(p);
	p = fs_path_join(tmp_root, "file");
	write_raw(p, "x", 1, 0600);
	assert_true(ctr_seccomp_set_cache_dir(p, &err) < 0);
	printf("  %s\n", berr_msg(err));
	berr_clear(&err);
	free(p);
	p = fs_path_join(tmp_root, "link");
	assert_int_equal(symlink(cache_dir_path, p), 0);
	assert_true(ctr_seccomp_set_cache_dir(p, &err) < 0);
	printf("  %s\n", berr_msg(err));
	berr_clear(&err);
	free(p);

	/* off after a refusal (and after NULL): nothing is written */
	cache_empty();
	get_fresh(0, NULL);
	assert_int_equal(ctr_seccomp_set_cache_dir(NULL, &err), 0);
	get_fresh(ctr_caps_default(), NULL);
	{
		char names[4][256];

		assert_int_equal(cache_list(names, 4), 0);
	}
	/* and on again */
	assert_int_equal(ctr_seccomp_set_cache_dir(cache_dir_path, &err), 0);
	get_fresh(0, NULL);
	free(only_file());
}

static void test_disk_cold_then_hit(void **state)
{
	const uint64_t caps = ctr_caps_default();
	const struct ctr_seccomp *f;
	struct sock_fprog cold;
	struct stat st, st2;
	int64_t t_cold, t_hit;
	size_t len;
	char *path, *buf, names[4][256];
	int control[P_COUNT], r[P_COUNT];

	(void)state;
	cache_empty();
	log_buf[0] = '\0';
	f = get_fresh(caps, &t_cold);
	cold = copy_prog(&f->prog);

	/* the file: <key>.bpf, ours, 0600, header and instructions as compiled */
	path = only_file();
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_uid, geteuid());
	buf = read_whole(path, &len);
	assert_int_equal(len, HDR_SIZE + cold.len * sizeof(*cold.filter));
	assert_memory_equal(buf, "BERTHSCF", 8);
	{
		uint32_t count;
		const char *base = strrchr(path, '/') + 1;
		struct rootfs_digest d;

		memcpy(&count, buf + HDR_COUNT, 4);
		assert_int_equal(count, cold.len);
		assert_int_equal(strlen(base), ROOTFS_SHA256_HEX + 4);
		assert_string_equal(base + ROOTFS_SHA256_HEX, ".bpf");
		assert_memory_equal(buf + HDR_KEY, base, ROOTFS_SHA256_HEX);
		rootfs_sha256_buf(buf + HDR_SIZE, len - HDR_SIZE, &d);
		assert_memory_equal(buf + HDR_BODY, d.hex, ROOTFS_SHA256_HEX);
	}
	assert_memory_equal(buf + HDR_SIZE, cold.filter, cold.len * sizeof(*cold.filter));
	free(buf);

	/* a second process reads it: the same program, the file untouched */
	f = get_fresh(caps, &t_hit);
	assert_true(same_prog(&f->prog, &cold));
	assert_int_equal(lstat(path, &st2), 0);
	assert_int_equal(st2.st_ino, st.st_ino);
	assert_int_equal(st2.st_mtim.tv_nsec, st.st_mtim.tv_nsec);
	assert_int_equal(st2.st_mtim.tv_sec, st.st_mtim.tv_sec);
	printf("  %u instructions: cold compile + write %.2f ms, cache hit %.3f ms (%.0fx)\n",
	       cold.len, t_cold / 1e6, t_hit / 1e6, (double)t_cold / (double)t_hit);
	assert_true(t_hit * 4 < t_cold);
	/* nothing logged: the hit is silent, and the cold miss is "no file" */
	assert_string_equal(log_buf, "");

	/* the filter from the cache does its job */
	probe_child(NULL, control);
	probe_child(f, r);
	assert_int_equal(r[P_SECCOMP_MODE], 0);
	assert_int_equal(r[P_GETPID], 0);
	assert_int_equal(r[P_FORK], 0);
	assert_int_equal(r[P_CLONE3], -ENOSYS);
	assert_int_equal(r[P_UNSHARE_0], -EPERM);
	assert_int_equal(r[P_MOUNT], -EPERM);
	assert_passed(control, r, P_SOCKET_NETLINK);
	assert_never(r);

	/* another capability set: another key, another file */
	f = get_fresh(caps | C(CAP_SYS_ADMIN), NULL);
	assert_false(same_prog(&f->prog, &cold));
	assert_int_equal(cache_list(names, 4), 2);
	for (int i = 0; i < 2; i++)
		assert_int_equal(names[i][0] != '.', 1);   /* no temporary file left */
	free(cold.filter);
	free(path);
}

/* A valid file is trusted as it is: plant one that holds another set's
 * program under the default set's key, and the default set gets it. This
 * is what makes the refusals below meaningful. */
static void test_disk_valid_file_is_used(void **state)
{
	const uint64_t caps = ctr_caps_default();
	struct sock_fprog genuine, other;
	size_t len;
	char *path, *buf;
	const struct ctr_seccomp *f;

	(void)state;
	cache_empty();
	other = copy_prog(&get_fresh(0, NULL)->prog);
	cache_empty();
	genuine = copy_prog(&get_fresh(caps, NULL)->prog);
	assert_false(same_prog(&genuine, &other));
	path = only_file();
	buf = read_whole(path, &len);
	free(buf);
	buf = make_file(strrchr(path, '/') + 1, &other, &len);
	write_raw(path, buf, len, 0600);
	f = get_fresh(caps, NULL);
	assert_true(same_prog(&f->prog, &other));
	free(buf);
	free(path);
	free(genuine.filter);
	free(other.filter);
}

enum defect {
	D_TRUNCATED,        /* last instruction cut in half */
	D_HEADER_ONLY,
	D_EMPTY,
	D_CORRUPT_BODY,     /* one byte of an instruction changed */
	D_BAD_MAGIC,
	D_BAD_VERSION,
	D_WRONG_KEY,        /* another set's file under this set's name */
	D_COUNT_MISMATCH,
	D_COUNT_TOO_BIG,    /* count and size agree, above BPF_MAXINSNS */
	D_MODE_0666,
	D_MODE_0620,
	D_SYMLINK,          /* to a valid file elsewhere */
	D_HARDLINK,
	D_FIFO,
	D_OTHER_OWNER,
	D_COUNT
};

static const struct {
	const char *name;
	const char *why;    /* in the debug log line */
} defects[D_COUNT] = {
	[D_TRUNCATED] = { "truncated", "size is no header plus whole instructions" },
	[D_HEADER_ONLY] = { "header only", "instruction count does not match" },
	[D_EMPTY] = { "empty", "size is no header plus whole instructions" },
	[D_CORRUPT_BODY] = { "corrupted instruction", "do not match their digest" },
	[D_BAD_MAGIC] = { "wrong magic", "bad magic" },
	[D_BAD_VERSION] = { "wrong version", "other format version" },
	[D_WRONG_KEY] = { "wrong key", "key in the header differs" },
	[D_COUNT_MISMATCH] = { "count != size", "instruction count does not match" },
	[D_COUNT_TOO_BIG] = { "count > BPF_MAXINSNS", "size is no header plus whole" },
	[D_MODE_0666] = { "mode 0666", "writable by group or others" },
	[D_MODE_0620] = { "mode 0620", "writable by group or others" },
	[D_SYMLINK] = { "symlink", "Too many levels of symbolic links" },
	[D_HARDLINK] = { "hard link", "more than one link" },
	[D_FIFO] = { "fifo", "not a regular file" },
	[D_OTHER_OWNER] = { "owned by uid 65534", "owned by another user" },
};

/* Put a defective file at path whose program (where it has one) is other,
 * so that using it would be visible. false: cannot be set up here. */
static bool plant(enum defect d, const char *path, const char *key, const char *other_file,
		  const struct sock_fprog *other)
{
	size_t len, big_len;
	char *buf = make_file(key, other, &len), *elsewhere;
	bool ok = true;

	switch (d) {
	case D_TRUNCATED:
		write_raw(path, buf, len - 4, 0600);
		break;
	case D_HEADER_ONLY:
		write_raw(path, buf, HDR_SIZE, 0600);
		break;
	case D_EMPTY:
		write_raw(path, buf, 0, 0600);
		break;
	case D_CORRUPT_BODY:
		buf[HDR_SIZE + 8 * 40 + 4] ^= 0x01;
		write_raw(path, buf, len, 0600);
		break;
	case D_BAD_MAGIC:
		buf[0] = 'X';
		write_raw(path, buf, len, 0600);
		break;
	case D_BAD_VERSION:
		buf[8] = 2;
		write_raw(path, buf, len, 0600);
		break;
	case D_WRONG_KEY: {
		size_t olen;
		char *o = read_whole(other_file, &olen);

		write_raw(path, o, olen, 0600);
		free(o);
		break;
	}
	case D_COUNT_MISMATCH: {
		uint32_t count = other->len - 1;

		memcpy(buf + HDR_COUNT, &count, 4);
		write_raw(path, buf, len, 0600);
		break;
	}
	case D_COUNT_TOO_BIG: {
		uint32_t count = BPF_MAXINSNS + 1;
		char *big;

		big_len = HDR_SIZE + (size_t)count * 8;
		big = calloc(1, big_len);
		memcpy(big, buf, HDR_SIZE);
		memcpy(big + HDR_COUNT, &count, 4);
		write_raw(path, big, big_len, 0600);
		free(big);
		break;
	}
	case D_MODE_0666:
		write_raw(path, buf, len, 0666);
		break;
	case D_MODE_0620:
		write_raw(path, buf, len, 0620);
		break;
	case D_SYMLINK:
	case D_HARDLINK:
		elsewhere = fs_path_join(tmp_root, "planted.bpf");
		write_raw(elsewhere, buf, len, 0600);
		unlink(path);
		if (d == D_SYMLINK)
			assert_int_equal(symlink(elsewhere, path), 0);
		else
			assert_int_equal(link(elsewhere, path), 0);
		free(elsewhere);
		break;
	case D_FIFO:
		unlink(path);
		assert_int_equal(mkfifo(path, 0600), 0);
		break;
	case D_OTHER_OWNER:
		write_raw(path, buf, len, 0600);
		ok = chown(path, 65534, 65534) == 0;
		break;
	case D_COUNT:
		break;
	}
	free(buf);
	return ok;
}

/* Each defective file is refused for its reason, the genuine program is
 * compiled instead, and the file is replaced by a good one (without
 * following a symlink: the planted target stays as it was). */
static void test_disk_refuses(void **state)
{
	const uint64_t caps = ctr_caps_default();
	struct sock_fprog genuine, other;
	char *path, *other_path, *good;
	size_t good_len;

	(void)state;
	cache_empty();
	other = copy_prog(&get_fresh(0, NULL)->prog);
	other_path = only_file();
	genuine = copy_prog(&get_fresh(caps, NULL)->prog);
	{
		char names[4][256];

		assert_int_equal(cache_list(names, 4), 2);
		path = fs_path_join(cache_dir_path,
				    strcmp(names[0], strrchr(other_path, '/') + 1) ? names[0]
										: names[1]);
	}
	good = read_whole(path, &good_len);

	for (int d = 0; d < D_COUNT; d++) {
		const struct ctr_seccomp *f;
		struct stat st;
		size_t len;
		char *now;

		if (!plant(d, path, strrchr(path, '/') + 1, other_path, &other)) {
			printf("  %-24s not run (cannot chown here)\n", defects[d].name);
			continue;
		}
		log_buf[0] = '\0';
		f = get_fresh(caps, NULL);
		if (!same_prog(&f->prog, &genuine))
			fail_msg("%s: the planted program was used", defects[d].name);
		if (!strstr(log_buf, defects[d].why))
			fail_msg("%s: expected \"%s\" in the log, got: %s", defects[d].name,
				 defects[d].why, log_buf);
		printf("  %-24s refused: %s", defects[d].name, strstr(log_buf, "seccomp cache:"));
		/* replaced by a good file */
		assert_int_equal(lstat(path, &st), 0);
		assert_true(S_ISREG(st.st_mode));
		assert_int_equal(st.st_mode & 07777, 0600);
		assert_int_equal(st.st_uid, geteuid());
		assert_int_equal(st.st_nlink, 1);
		now = read_whole(path, &len);
		assert_int_equal(len, good_len);
		assert_memory_equal(now, good, len);
		free(now);
		if (d == D_SYMLINK || d == D_HARDLINK) {
			char *elsewhere = fs_path_join(tmp_root, "planted.bpf");
			size_t plen, olen;
			char *planted = read_whole(elsewhere, &plen);
			char *orig = make_file(strrchr(path, '/') + 1, &other, &olen);

			assert_int_equal(plen, olen);
			assert_memory_equal(planted, orig, olen);
			unlink(elsewhere);
			free(planted);
			free(orig);
			free(elsewhere);
		}
		/* and the next process takes the replacement silently */
		log_buf[0] = '\0';
		f = get_fresh(caps, NULL);
		assert_true(same_prog(&f->prog, &genuine));
		assert_string_equal(log_buf, "");
	}
	free(good);
	free(path);
	free(other_path);
	free(genuine.filter);
	free(other.filter);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_caps),
		cmocka_unit_test(test_no_caps),
		cmocka_unit_test(test_sys_admin),
		cmocka_unit_test(test_all_caps),
		cmocka_unit_test(test_cache),
		cmocka_unit_test(test_load_result),
	};
	const struct CMUnitTest disk_tests[] = {
		cmocka_unit_test(test_disk_dir),
		cmocka_unit_test(test_disk_cold_then_hit),
		cmocka_unit_test(test_disk_valid_file_is_used),
		cmocka_unit_test(test_disk_refuses),
	};
	int r = cmocka_run_group_tests(tests, NULL, NULL);

	r |= cmocka_run_group_tests_name("disk cache", disk_tests, disk_setup, disk_teardown);
	ctr_seccomp_cache_clear();
	return r;
}
