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
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

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
	int r = cmocka_run_group_tests(tests, NULL, NULL);

	ctr_seccomp_cache_clear();
	return r;
}
