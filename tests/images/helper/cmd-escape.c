/* tests/images/helper/cmd-escape.c - named container escape attempts.
 *
 *     escape NAME [--path P]    one attempt; exit 0 denied, 1 allowed, 3 inconclusive
 *     escape --all [--path P]   every attempt; exit status = number allowed
 *     escape --list             {"escape":NAME,"method":"..."} per attempt
 *
 * Output per attempt: {"escape":NAME,"result":"denied"|"allowed"|"inconclusive",
 * "errno":"EPERM"|null,"detail":"..."}.
 *
 * Rules every attempt follows:
 *  - It is meant for the inside of a container. On a host, as root, several
 *    of them really do the thing (harmlessly, but still): never run them there.
 *  - It is as harmless as possible when it succeeds: state-changing steps run
 *    in a forked child that exits right away (namespaces, keys, ptrace), are
 *    undone (mount -> umount, mknod -> unlink), write back the value just read,
 *    or are built so the kernel must refuse them *after* its privilege check
 *    (umount, pivot_root, kexec_load, init_module). For the latter, getting
 *    past the gate is the finding: "allowed" means "the privilege check let it
 *    through", the same thing a real attacker needs.
 *  - The result comes from the real outcome, never from guessing: "denied" is
 *    a refusal by the kernel/LSM/seccomp (EPERM, EACCES, ENOSYS from a seccomp
 *    filter or a kernel without the syscall, EROFS, the namespace limits'
 *    ENOSPC/EUSERS, a /dev/null or non-procfs mask in place of a /proc file)
 *    or the thing under test plainly not being there for the container.
 *    "inconclusive" means the attempt could not be made (no writable
 *    directory, no setuid helper to test, an unexpected errno), which an
 *    escape suite should treat as a failure to prove denial.
 *
 * name                method                                               allowed when
 * ------------------- ---------------------------------------------------- --------------------------------
 * mount               mount tmpfs (nosuid,nodev,noexec) on a fresh dir in   the mount worked (then umounted)
 *                     /tmp, /dev/shm, /run, /var/tmp; on a read-only root
 *                     an existing empty-or-not dir (/tmp, /mnt...) briefly
 * umount              umount2("/", MNT_EXPIRE): the kernel checks privilege past may_mount (EINVAL): could
 *                     first, then always refuses MNT_EXPIRE on the caller's unmount masks like /proc/kcore
 *                     root with EINVAL, so nothing is ever unmounted
 * pivot_root          pivot_root("/", "/"): after the privilege check the  past may_mount (EBUSY/EINVAL)
 *                     kernel refuses new_root == current root (EBUSY)
 * unshare-mnt..cgroup unshare(CLONE_NEW*) in a forked child that exits      unshare succeeded
 *   (mnt pid net uts ipc user cgroup)
 * setns-host          open /proc/{1,ppid}/ns/<type> differing from ours   setns into a foreign ns worked
 *                     (skipping self); setns() each in a forked child
 * keyctl              keyctl(KEYCTL_GET_KEYRING_ID, user keyring, create 0) syscall reachable (keyrings are
 *                                                                          not namespaced)
 * add_key             add_key("user") to the child's process keyring, in a  key created (or past the gate)
 *                     forked child, invalidated before it exits
 * bpf                 BPF_MAP_CREATE of a 1-entry array map, closed         map created / past the gate
 * perf_event_open     software task-clock counter on ourselves, closed      counter opened / past the gate
 * userfaultfd         userfaultfd(O_CLOEXEC) without UFFD_USER_MODE_ONLY    fd created / past the gate
 * io_uring_setup      io_uring_setup(1 entry), closed                      ring created / past the gate
 * kexec_load          kexec_load with an undefined flag bit and             past CAP_SYS_BOOT (EINVAL).
 *                     nr_segments > KEXEC_SEGMENT_MAX: refused with EINVAL  (nr_segments 0 would UNLOAD a
 *                     after the privilege check, nothing loaded/unloaded    loaded kexec image, so not that)
 * init_module         init_module(buf, 0 bytes, ""): ENOEXEC after the     past CAP_SYS_MODULE (ENOEXEC)
 *                     CAP_SYS_MODULE check, nothing loaded
 * open_by_handle_at   "shocker": name_to_handle_at("/") (or a crafted      open worked or got past the
 *                     FILEID_INO32_GEN handle for inode 2) then             CAP_DAC_READ_SEARCH gate
 *                     open_by_handle_at on a fd of "/"
 * proc-sys-write      read /proc/sys/kernel/domainname (UTS-namespaced),    the write to procfs succeeded
 *                     open it O_WRONLY, check it is procfs, write the same
 *                     value back
 * sysrq-trigger       open /proc/sysrq-trigger O_WRONLY, nothing written    opened, and it is procfs (not a
 *                                                                          /dev/null mask)
 * kcore-read          read 1 byte of /proc/kcore                            1 byte read from procfs
 * host-dev-chmod      chmod each of /dev/null, /dev/zero, /dev/tty and the   any chmod worked: the device
 *                     /dev/null masking /proc/kcore to the mode it has now  nodes are the host's inodes,
 *                     (nothing changes either way)                          so it would change the host's
 * mknod-block         mknod b 7:0 (loop0) in a fresh temp dir, unlinked     the node was created
 * host-procs-visible  /proc/self/status NSpid has > 1 entry (this /proc     either holds
 *                     belongs to an ancestor pid ns) or a kernel thread
 *                     (PF_KTHREAD, only in the initial pid ns) is visible
 * host-mounts-visible mountinfo shows the whole of a disk filesystem        any such mount
 *                     (root "/", ext4/xfs/btrfs/..., not a loop device),
 *                     the initramfs ("rootfs"), or a host-only pseudo fs
 *                     (debugfs, tracefs, securityfs, bpf, configfs,
 *                     binfmt_misc, autofs, fusectl, pstore, efivarfs, ...).
 *                     Limitation: a host whose root is tmpfs looks like any
 *                     container tmpfs; a whole dedicated (non-loop) disk
 *                     given as a volume would count as a host mount.
 * setuid-gain         exec the setuid-root copy of this helper at --path P  euid became 0 from non-zero
 *                     ($BERTH_SUID_HELPER, default                          (inconclusive: we are already
 *                     /usr/bin/berth-testhelper-suid) with "ids". The  euid 0, or no setuid-root copy)
 *                     test image must ship that copy (chown 0, chmod 4755)
 *                     and the task must run as a non-root user.
 * cap-sys-admin       CapEff of /proc/self/status                           CAP_SYS_ADMIN effective
 * fds-above-2         fds > 2 open when main() started (before we opened   any such fd (CVE-2024-21626)
 *                     anything), their targets in the detail
 * cwd-outside-root    getcwd() fails (ENOENT, "(unreachable)") or walking  cwd is not under our root
 *                     ".." from cwd tops out somewhere other than "/"      (CVE-2024-21626)
 * proc-self-exe-write for every visible process whose /proc/PID/exe is     a foreign binary opened for
 *                     NOT a file inside our root (host runtime binary, the  writing or ETXTBSY (which only
 *                     runtime's memfd copy), open it O_WRONLY (no write,    means "wait until it exits":
 *                     no O_TRUNC). Our own binary is in our root and so     CVE-2019-5736). Sealed memfd:
 *                     skipped: ETXTBSY on it proves nothing about the      EPERM = denied. Nothing foreign
 *                     runtime. Only a snapshot: the exec race is the VM     visible = denied.
 *                     suite's job (run it while `berth exec` is active).
 * sethostname         sethostname(current name)                             the call succeeded
 * ptrace-pid1         PTRACE_SEIZE (never stops the tracee) pid 1 and our  seize worked (the child's exit
 *                     parent, from a forked child; we skip ourselves        detaches it)
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <linux/bpf.h>
#include <linux/kexec.h>
#include <linux/keyctl.h>
#include <linux/magic.h>
#include <linux/perf_event.h>
#include <linux/io_uring.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helper.h"

#define DEFAULT_SUID_HELPER "/usr/bin/berth-testhelper-suid"

enum result { R_DENIED, R_ALLOWED, R_INCONCLUSIVE };

struct outcome {
	enum result result;
	int err;
	char detail[1024];
};

struct esc_ctx {
	const char *suid_path;
};

struct attempt {
	const char *name;
	void (*fn)(struct outcome *o, const struct esc_ctx *ctx);
	const char *method;
};

static void set(struct outcome *o, enum result r, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void set(struct outcome *o, enum result r, int err, const char *fmt, ...)
{
	va_list ap;

	o->result = r;
	o->err = err;
	va_start(ap, fmt);
	vsnprintf(o->detail, sizeof(o->detail), fmt, ap);
	va_end(ap);
}

/* For attempts that build the detail piece by piece. */
static void start(struct outcome *o, enum result r)
{
	o->result = r;
	o->err = 0;
	o->detail[0] = '\0';
}

/* Append to the detail (for attempts that look at several things). */
static void add_detail(struct outcome *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void add_detail(struct outcome *o, const char *fmt, ...)
{
	size_t len = strlen(o->detail);
	va_list ap;

	if (len + 1 >= sizeof(o->detail))
		return;
	va_start(ap, fmt);
	vsnprintf(o->detail + len, sizeof(o->detail) - len, fmt, ap);
	va_end(ap);
}

/* A refusal by the kernel, an LSM or a seccomp filter. */
static bool is_refusal(int err)
{
	return err == EPERM || err == EACCES || err == ENOSYS;
}

/* For syscalls whose arguments are built to fail after the privilege check:
 * success or any other errno means the gate let us through. */
static void by_gate(struct outcome *o, int err, const char *what)
{
	if (err == 0)
		set(o, R_ALLOWED, 0, "%s succeeded", what);
	else if (is_refusal(err))
		set(o, R_DENIED, err, "%s refused: %s", what, strerror(err));
	else
		set(o, R_ALLOWED, err, "%s got past the privilege check (then %s)", what, strerror(err));
}

/* Run fn in a forked child; returns its result (0 or an errno), or -1 when
 * the child died without answering. Keeps namespace/keyring/ptrace changes
 * out of this process. */
static int in_child(int (*fn)(void *), void *arg)
{
	int p[2], r = -1;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		int res;

		close(p[0]);
		res = fn(arg);
		(void)write_all(p[1], &res, sizeof(res));
		_exit(0);
	}
	close(p[1]);
	if (read(p[0], &r, sizeof(r)) != (ssize_t)sizeof(r))
		r = -1;
	close(p[0]);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	return r;
}

/* A fresh directory for a mount point or a device node; NULL when the
 * container has nowhere writable. */
static char *make_tmpdir(char *buf, size_t len)
{
	static const char *const bases[] = { "/tmp", "/dev/shm", "/run", "/var/tmp" };

	for (size_t i = 0; i < sizeof(bases) / sizeof(bases[0]); i++) {
		snprintf(buf, len, "%s/berth-escape-XXXXXX", bases[i]);
		if (mkdtemp(buf))
			return buf;
	}
	return NULL;
}

static bool on_procfs(int fd)
{
	struct statfs sfs;

	return fstatfs(fd, &sfs) == 0 && sfs.f_type == PROC_SUPER_MAGIC;
}

/* ------------------------------------------------------------ mounts */

static void esc_mount(struct outcome *o, const struct esc_ctx *ctx)
{
	static const char *const existing[] = { "/tmp", "/mnt", "/media", "/srv", "/opt", "/run",
						"/var", "/home", "/dev" };
	char dir[64];
	const char *target = make_tmpdir(dir, sizeof(dir));
	bool created = target != NULL;
	int r, err;

	/* read-only root: borrow an existing directory for the moment */
	for (size_t i = 0; !target && i < sizeof(existing) / sizeof(existing[0]); i++) {
		struct stat st;

		if (stat(existing[i], &st) == 0 && S_ISDIR(st.st_mode))
			target = existing[i];
	}
	if (!target) {
		set(o, R_INCONCLUSIVE, 0, "no directory to mount on");
		return;
	}
	r = mount("berth-escape", target, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=64k");
	err = r < 0 ? errno : 0;
	if (r == 0) {
		umount2(target, MNT_DETACH);
		set(o, R_ALLOWED, 0, "mounted tmpfs on %s (unmounted again)", target);
	} else if (is_refusal(err)) {
		set(o, R_DENIED, err, "mount tmpfs on %s: %s", target, strerror(err));
	} else {
		set(o, R_INCONCLUSIVE, err, "mount tmpfs on %s: %s", target, strerror(err));
	}
	if (created)
		rmdir(target);
}

static void esc_umount(struct outcome *o, const struct esc_ctx *ctx)
{
	int r = umount2("/", MNT_EXPIRE);

	by_gate(o, r < 0 ? errno : 0, "umount2(\"/\", MNT_EXPIRE)");
}

static void esc_pivot_root(struct outcome *o, const struct esc_ctx *ctx)
{
	long r = syscall(SYS_pivot_root, "/", "/");

	by_gate(o, r < 0 ? errno : 0, "pivot_root(\"/\", \"/\")");
}

/* -------------------------------------------------------- namespaces */

static int do_unshare(void *arg)
{
	return unshare(*(int *)arg) < 0 ? errno : 0;
}

static void unshare_attempt(struct outcome *o, int flag, const char *ns)
{
	int err = in_child(do_unshare, &flag);

	if (err == 0)
		set(o, R_ALLOWED, 0, "created a new %s namespace (in a child that exited)", ns);
	else if (err < 0)
		set(o, R_INCONCLUSIVE, 0, "the probing child died");
	else if (is_refusal(err) || err == ENOSPC || err == EUSERS)
		set(o, R_DENIED, err, "unshare %s: %s", ns, strerror(err));
	else
		set(o, R_INCONCLUSIVE, err, "unshare %s: %s", ns, strerror(err));
}

#define UNSHARE_ATTEMPT(fn, flag, ns)                                   \
	static void fn(struct outcome *o, const struct esc_ctx *ctx)    \
	{                                                               \
		unshare_attempt(o, flag, ns);                           \
	}
UNSHARE_ATTEMPT(esc_unshare_mnt, CLONE_NEWNS, "mount")
UNSHARE_ATTEMPT(esc_unshare_pid, CLONE_NEWPID, "pid")
UNSHARE_ATTEMPT(esc_unshare_net, CLONE_NEWNET, "network")
UNSHARE_ATTEMPT(esc_unshare_uts, CLONE_NEWUTS, "uts")
UNSHARE_ATTEMPT(esc_unshare_ipc, CLONE_NEWIPC, "ipc")
UNSHARE_ATTEMPT(esc_unshare_user, CLONE_NEWUSER, "user")
UNSHARE_ATTEMPT(esc_unshare_cgroup, CLONE_NEWCGROUP, "cgroup")

static int do_setns(void *arg)
{
	return setns(*(int *)arg, 0) < 0 ? errno : 0;
}

static void esc_setns_host(struct outcome *o, const struct esc_ctx *ctx)
{
	static const char *const types[] = { "net", "mnt", "pid", "uts", "ipc", "cgroup", "user", "time" };
	pid_t targets[2] = { 1, getppid() }, self = getpid();
	int foreign = 0, entered = 0, last_err = 0;

	start(o, R_DENIED);
	for (int t = 0; t < 2; t++) {
		if (targets[t] <= 0 || targets[t] == self || (t == 1 && targets[1] == targets[0]))
			continue;
		for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
			char path[64], mine[64];
			struct stat st, self_st;
			int fd, err;

			snprintf(mine, sizeof(mine), "/proc/self/ns/%s", types[i]);
			snprintf(path, sizeof(path), "/proc/%d/ns/%s", targets[t], types[i]);
			if (stat(mine, &self_st) < 0)
				continue;       /* kernel without this namespace type */
			fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd < 0) {
				if (errno != ENOENT) {
					last_err = errno;
					add_detail(o, "%s: %s; ", path, errno_name(errno));
				}
				continue;
			}
			if (fstat(fd, &st) < 0 || (st.st_ino == self_st.st_ino && st.st_dev == self_st.st_dev)) {
				close(fd);
				continue;
			}
			foreign++;
			err = in_child(do_setns, &fd);
			close(fd);
			if (err == 0) {
				entered++;
				add_detail(o, "ENTERED %s; ", path);
			} else {
				if (err > 0)
					last_err = err;
				add_detail(o, "%s differs, setns %s; ", path, err > 0 ? errno_name(err) : "?");
			}
		}
	}
	if (entered) {
		o->result = R_ALLOWED;
	} else {
		o->err = last_err;
		if (!foreign)
			add_detail(o, "no namespace of pid 1 or the parent differs from ours (or none "
				   "could be opened): host namespaces not reachable");
	}
}

/* ---------------------------------------------------- kernel interfaces */

static void esc_keyctl(struct outcome *o, const struct esc_ctx *ctx)
{
	long r = syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_USER_KEYRING, 0);

	by_gate(o, r < 0 ? errno : 0, "keyctl(KEYCTL_GET_KEYRING_ID, user keyring)");
}

static int do_add_key(void *arg)
{
	long key = syscall(SYS_add_key, "user", "berth-escape-probe", "x", (size_t)1,
			   KEY_SPEC_PROCESS_KEYRING);

	if (key < 0)
		return errno;
	syscall(SYS_keyctl, KEYCTL_INVALIDATE, key);
	return 0;
}

static void esc_add_key(struct outcome *o, const struct esc_ctx *ctx)
{
	int err = in_child(do_add_key, NULL);

	if (err < 0)
		set(o, R_INCONCLUSIVE, 0, "the probing child died");
	else
		by_gate(o, err, "add_key(\"user\") to the process keyring");
}

static void esc_bpf(struct outcome *o, const struct esc_ctx *ctx)
{
	union bpf_attr attr;
	long fd;

	memset(&attr, 0, sizeof(attr));
	attr.map_type = BPF_MAP_TYPE_ARRAY;
	attr.key_size = 4;
	attr.value_size = 4;
	attr.max_entries = 1;
	fd = syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof(attr));
	by_gate(o, fd < 0 ? errno : 0, "bpf(BPF_MAP_CREATE array)");
	if (fd >= 0)
		close((int)fd);
}

static void esc_perf_event_open(struct outcome *o, const struct esc_ctx *ctx)
{
	struct perf_event_attr attr;
	long fd;

	memset(&attr, 0, sizeof(attr));
	attr.size = sizeof(attr);
	attr.type = PERF_TYPE_SOFTWARE;
	attr.config = PERF_COUNT_SW_TASK_CLOCK;
	attr.disabled = 1;
	attr.exclude_kernel = 1;
	attr.exclude_hv = 1;
	fd = syscall(SYS_perf_event_open, &attr, 0, -1, -1, PERF_FLAG_FD_CLOEXEC);
	by_gate(o, fd < 0 ? errno : 0, "perf_event_open(task-clock, self)");
	if (fd >= 0)
		close((int)fd);
}

static void esc_userfaultfd(struct outcome *o, const struct esc_ctx *ctx)
{
	long fd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);

	by_gate(o, fd < 0 ? errno : 0, "userfaultfd (kernel faults too)");
	if (fd >= 0)
		close((int)fd);
}

static void esc_io_uring_setup(struct outcome *o, const struct esc_ctx *ctx)
{
	struct io_uring_params p;
	long fd;

	memset(&p, 0, sizeof(p));
	fd = syscall(SYS_io_uring_setup, 1, &p);
	by_gate(o, fd < 0 ? errno : 0, "io_uring_setup(1)");
	if (fd >= 0)
		close((int)fd);
}

static void esc_kexec_load(struct outcome *o, const struct esc_ctx *ctx)
{
	/* 0x8000 is no KEXEC_* flag and the segment count is over the limit:
	 * both refused with EINVAL after the CAP_SYS_BOOT check. */
	long r = syscall(SYS_kexec_load, 0UL, (unsigned long)KEXEC_SEGMENT_MAX + 1, NULL,
			 0x8000UL | KEXEC_ARCH_DEFAULT);

	by_gate(o, r < 0 ? errno : 0, "kexec_load (invalid flags, nothing loaded)");
}

static void esc_init_module(struct outcome *o, const struct esc_ctx *ctx)
{
	static char image[1];
	long r = syscall(SYS_init_module, image, 0UL, "");

	by_gate(o, r < 0 ? errno : 0, "init_module (0-byte image, nothing loaded)");
}

struct handle_buf {
	struct file_handle fh;
	unsigned char bytes[MAX_HANDLE_SZ];
};

static void esc_open_by_handle_at(struct outcome *o, const struct esc_ctx *ctx)
{
	struct handle_buf h;
	struct stat root_st, st;
	int mount_id, root_fd, fd, err;
	bool crafted = false;

	root_fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root_fd < 0) {
		set(o, R_INCONCLUSIVE, errno, "open /: %s", strerror(errno));
		return;
	}
	memset(&h, 0, sizeof(h));
	h.fh.handle_bytes = MAX_HANDLE_SZ;
	if (name_to_handle_at(AT_FDCWD, "/", &h.fh, &mount_id, 0) < 0) {
		/* overlayfs without nfs_export has no decodable handles: use
		 * the shocker's own handle, inode 2 (an ext4 root) */
		uint32_t ino_gen[2] = { 2, 0 };

		crafted = true;
		h.fh.handle_type = 1;   /* FILEID_INO32_GEN */
		h.fh.handle_bytes = sizeof(ino_gen);
		memcpy(h.fh.f_handle, ino_gen, sizeof(ino_gen));
	}
	fd = open_by_handle_at(root_fd, &h.fh, O_RDONLY | O_CLOEXEC);
	err = fd < 0 ? errno : 0;
	if (fd >= 0) {
		bool same = fstat(fd, &st) == 0 && fstat(root_fd, &root_st) == 0 &&
			    st.st_ino == root_st.st_ino && st.st_dev == root_st.st_dev;

		set(o, R_ALLOWED, 0, "open_by_handle_at opened %s (%s)",
		    crafted ? "a crafted inode-2 handle" : "our root's handle",
		    same ? "our own root" : "NOT our root");
		close(fd);
	} else if (is_refusal(err)) {
		set(o, R_DENIED, err, "open_by_handle_at refused: %s", strerror(err));
	} else {
		set(o, R_ALLOWED, err,
		    "open_by_handle_at got past the CAP_DAC_READ_SEARCH check (%s handle, then %s)",
		    crafted ? "crafted" : "real", strerror(err));
	}
	close(root_fd);
}

/* ------------------------------------------------------------- /proc */

static void esc_proc_sys_write(struct outcome *o, const struct esc_ctx *ctx)
{
	static const char path[] = "/proc/sys/kernel/domainname";
	size_t len;
	char *value = read_file(path, 4096, &len);
	int fd, err;

	if (!value) {
		err = errno;
		if (err == ENOENT)
			set(o, R_DENIED, err, "%s does not exist here", path);
		else
			set(o, is_refusal(err) ? R_DENIED : R_INCONCLUSIVE, err, "read %s: %s", path, strerror(err));
		return;
	}
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		err = errno;
		set(o, is_refusal(err) || err == EROFS ? R_DENIED : R_INCONCLUSIVE, err,
		    "open %s for writing: %s", path, strerror(err));
	} else if (!on_procfs(fd)) {
		set(o, R_DENIED, 0, "%s is masked (not procfs); nothing written", path);
	} else if (!write_all(fd, value, len)) {
		err = errno;
		set(o, is_refusal(err) || err == EROFS ? R_DENIED : R_INCONCLUSIVE, err,
		    "write %s: %s", path, strerror(err));
	} else {
		set(o, R_ALLOWED, 0, "wrote the current value back to %s", path);
	}
	if (fd >= 0)
		close(fd);
	free(value);
}

static void esc_sysrq_trigger(struct outcome *o, const struct esc_ctx *ctx)
{
	int fd = open("/proc/sysrq-trigger", O_WRONLY | O_CLOEXEC), err = errno;

	if (fd < 0) {
		if (err == ENOENT)
			set(o, R_DENIED, err, "/proc/sysrq-trigger does not exist here");
		else
			set(o, is_refusal(err) || err == EROFS ? R_DENIED : R_INCONCLUSIVE, err,
			    "open /proc/sysrq-trigger for writing: %s", strerror(err));
		return;
	}
	if (on_procfs(fd))
		set(o, R_ALLOWED, 0, "opened /proc/sysrq-trigger for writing (nothing written)");
	else
		set(o, R_DENIED, 0, "/proc/sysrq-trigger is masked (not procfs)");
	close(fd);
}

static void esc_kcore_read(struct outcome *o, const struct esc_ctx *ctx)
{
	int fd = open("/proc/kcore", O_RDONLY | O_CLOEXEC), err = errno;
	char byte;
	ssize_t n;

	if (fd < 0) {
		if (err == ENOENT)
			set(o, R_DENIED, err, "/proc/kcore does not exist here");
		else
			set(o, is_refusal(err) ? R_DENIED : R_INCONCLUSIVE, err, "open /proc/kcore: %s",
			    strerror(err));
		return;
	}
	if (!on_procfs(fd)) {
		set(o, R_DENIED, 0, "/proc/kcore is masked (not procfs)");
		close(fd);
		return;
	}
	n = read(fd, &byte, 1);
	err = n < 0 ? errno : 0;
	if (n == 1)
		set(o, R_ALLOWED, 0, "read 1 byte of /proc/kcore");
	else if (n == 0)
		set(o, R_DENIED, 0, "/proc/kcore read nothing");
	else
		set(o, is_refusal(err) ? R_DENIED : R_INCONCLUSIVE, err, "read /proc/kcore: %s", strerror(err));
	close(fd);
}

/* ---------------------------------------------------------- devices */

static void esc_mknod_block(struct outcome *o, const struct esc_ctx *ctx)
{
	char dir[64], node[96];
	int err;

	if (!make_tmpdir(dir, sizeof(dir))) {
		set(o, R_INCONCLUSIVE, errno, "no writable directory for the node: %s", strerror(errno));
		return;
	}
	snprintf(node, sizeof(node), "%s/loop0", dir);
	if (mknod(node, S_IFBLK | 0600, makedev(7, 0)) == 0) {
		set(o, R_ALLOWED, 0, "created block device node 7:0 (removed again)");
		unlink(node);
	} else {
		err = errno;
		set(o, is_refusal(err) ? R_DENIED : R_INCONCLUSIVE, err, "mknod b 7:0: %s", strerror(err));
	}
	rmdir(dir);
}

/* ------------------------------------------------------- visibility */

static bool is_pid_name(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

static void esc_host_procs_visible(struct outcome *o, const struct esc_ctx *ctx)
{
	char *status = read_file("/proc/self/status", 1 << 20, NULL);
	char nspid[256] = "";
	int depth = 0, procs = 0, kthreads = 0;
	DIR *d;
	struct dirent *de;

	if (status && proc_status_field(status, "NSpid", nspid, sizeof(nspid))) {
		char *save = NULL;

		for (char *tok = strtok_r(nspid, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save))
			depth++;
	}
	free(status);
	d = opendir("/proc");
	if (!d) {
		set(o, R_INCONCLUSIVE, errno, "no /proc to look at: %s", strerror(errno));
		return;
	}
	while ((de = readdir(d))) {
		char path[300], *text, *p;
		unsigned long flags = 0;

		if (!is_pid_name(de->d_name))
			continue;
		procs++;
		snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		text = read_file(path, 4096, NULL);
		/* fields after "(comm)": state ppid pgrp session tty tpgid flags */
		p = text ? strrchr(text, ')') : NULL;
		if (p && sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %lu", &flags) == 1 &&
		    (flags & 0x00200000))       /* PF_KTHREAD */
			kthreads++;
		free(text);
	}
	closedir(d);
	if (depth > 1 || kthreads > 0)
		set(o, R_ALLOWED, 0, "%d processes visible, %d kernel threads (initial pid namespace), "
		    "NSpid depth %d (more than 1: this /proc belongs to an ancestor pid namespace)",
		    procs, kthreads, depth);
	else
		set(o, R_DENIED, 0, "%d processes visible, no kernel threads, NSpid depth %d", procs, depth);
}

struct mount_scan {
	struct outcome *o;
	int hits;
};

static bool in_list(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (!strcmp(s, *list))
			return true;
	return false;
}

static bool scan_mount(const struct mount_entry *m, void *data)
{
	static const char *const disk_fs[] = {
		"ext2", "ext3", "ext4", "xfs", "btrfs", "vfat", "exfat", "ntfs", "ntfs3", "f2fs",
		"zfs", "jfs", "reiserfs", "nilfs2", "hfsplus", "bcachefs", NULL,
	};
	static const char *const host_fs[] = {
		"rootfs", "debugfs", "tracefs", "securityfs", "configfs", "bpf", "binfmt_misc",
		"autofs", "fusectl", "pstore", "efivarfs", "rpc_pipefs", "nfsd", NULL,
	};
	struct mount_scan *sc = data;
	unsigned major = 0;

	sscanf(m->device, "%u:", &major);
	if ((in_list(m->fstype, disk_fs) && !strcmp(m->root, "/") && major != 7) ||
	    in_list(m->fstype, host_fs)) {
		if (sc->hits++ < 4)
			add_detail(sc->o, "%s %s on %s (root %s); ", m->fstype, m->source ? m->source : "?",
				   m->target, m->root);
	}
	return true;
}

static void esc_host_mounts_visible(struct outcome *o, const struct esc_ctx *ctx)
{
	struct mount_scan sc = { .o = o };
	int n;

	start(o, R_DENIED);
	n = mountinfo_foreach(scan_mount, &sc);
	if (n < 0) {
		set(o, R_INCONCLUSIVE, -n, "read /proc/self/mountinfo: %s", strerror(-n));
		return;
	}
	if (sc.hits) {
		o->result = R_ALLOWED;
		add_detail(o, "%d host-looking mounts of %d", sc.hits, n);
	} else {
		add_detail(o, "%d mounts, none a whole disk filesystem or host-only pseudo fs", n);
	}
}

/* ------------------------------------------------------- privileges */

static void esc_setuid_gain(struct outcome *o, const struct esc_ctx *ctx)
{
	const char *path = ctx->suid_path;
	struct stat st;
	int out[2], errp[2], status, exec_err = 0;
	char buf[512];
	size_t len = 0;
	const char *e;
	pid_t pid;
	uid_t euid = geteuid();

	if (!path)
		path = getenv("BERTH_SUID_HELPER");
	if (!path || !*path)
		path = DEFAULT_SUID_HELPER;
	if (euid == 0) {
		set(o, R_INCONCLUSIVE, 0, "already euid 0: run this as a non-root user");
		return;
	}
	if (stat(path, &st) < 0) {
		set(o, R_INCONCLUSIVE, errno, "no setuid helper at %s (--path / $BERTH_SUID_HELPER)", path);
		return;
	}
	if (!(st.st_mode & S_ISUID) || st.st_uid != 0) {
		set(o, R_INCONCLUSIVE, 0, "%s is not setuid root", path);
		return;
	}
	if (pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
		set(o, R_INCONCLUSIVE, errno, "pipe: %s", strerror(errno));
		return;
	}
	pid = fork();
	if (pid == 0) {
		dup2(out[1], STDOUT_FILENO);
		execl(path, "berth-testhelper", "ids", (char *)NULL);
		exec_err = errno;
		(void)write_all(errp[1], &exec_err, sizeof(exec_err));
		_exit(127);
	}
	close(out[1]);
	close(errp[1]);
	if (pid < 0) {
		set(o, R_INCONCLUSIVE, errno, "fork: %s", strerror(errno));
		close(out[0]);
		close(errp[0]);
		return;
	}
	if (read(errp[0], &exec_err, sizeof(exec_err)) != (ssize_t)sizeof(exec_err))
		exec_err = 0;
	for (;;) {
		ssize_t n = read(out[0], buf + len, sizeof(buf) - 1 - len);

		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	close(out[0]);
	close(errp[0]);
	waitpid(pid, &status, 0);

	if (exec_err) {
		set(o, is_refusal(exec_err) ? R_DENIED : R_INCONCLUSIVE, exec_err, "exec %s: %s", path,
		    strerror(exec_err));
		return;
	}
	e = strstr(buf, "\"euid\":");
	if (!e) {
		set(o, R_INCONCLUSIVE, 0, "%s ids printed no euid", path);
		return;
	}
	if (atol(e + 7) == 0)
		set(o, R_ALLOWED, 0, "euid went from %u to 0 through %s", (unsigned)euid, path);
	else
		set(o, R_DENIED, 0, "euid stayed %ld through %s (nosuid or no_new_privs)", atol(e + 7), path);
}

static void esc_cap_sys_admin(struct outcome *o, const struct esc_ctx *ctx)
{
	char *status = read_file("/proc/self/status", 1 << 20, NULL);
	char eff[32], bnd[32];
	unsigned long long e, b;

	if (!status || !proc_status_field(status, "CapEff", eff, sizeof(eff)) ||
	    !proc_status_field(status, "CapBnd", bnd, sizeof(bnd))) {
		set(o, R_INCONCLUSIVE, status ? 0 : errno, "no capabilities in /proc/self/status");
		free(status);
		return;
	}
	free(status);
	e = strtoull(eff, NULL, 16);
	b = strtoull(bnd, NULL, 16);
	set(o, (e >> 21) & 1 ? R_ALLOWED : R_DENIED, 0, "CAP_SYS_ADMIN effective: %s, in bounding set: %s",
	    (e >> 21) & 1 ? "yes" : "no", (b >> 21) & 1 ? "yes" : "no");
}

static void esc_fds_above_2(struct outcome *o, const struct esc_ctx *ctx)
{
	if (helper_start_nfds == 0) {
		set(o, R_DENIED, 0, "only fds 0-2 were open at start");
		return;
	}
	set(o, R_ALLOWED, 0, "open at start: ");
	for (int i = 0; i < helper_start_nfds; i++) {
		char link[64], target[256];
		ssize_t n;

		snprintf(link, sizeof(link), "/proc/self/fd/%d", helper_start_fds[i]);
		n = readlink(link, target, sizeof(target) - 1);
		target[n > 0 ? n : 0] = '\0';
		add_detail(o, "%d -> %s; ", helper_start_fds[i], n > 0 ? target : "?");
	}
}

static void esc_cwd_outside_root(struct outcome *o, const struct esc_ctx *ctx)
{
	char cwd[PATH_MAX];
	struct stat root_st, st, up_st;
	int fd, err;

	if (!getcwd(cwd, sizeof(cwd))) {
		err = errno;
		set(o, err == ENOENT ? R_ALLOWED : R_INCONCLUSIVE, err, "getcwd: %s", strerror(err));
		return;
	}
	if (cwd[0] != '/') {
		set(o, R_ALLOWED, 0, "getcwd gave \"%s\"", cwd);
		return;
	}
	if (stat("/", &root_st) < 0 || (fd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0) {
		set(o, R_INCONCLUSIVE, errno, "stat / or open .: %s", strerror(errno));
		return;
	}
	/* Climb "..": from inside the root we meet the root; from outside we
	 * reach a directory that is its own parent and is not our root. */
	for (int i = 0; i < 4096; i++) {
		int up;

		if (fstat(fd, &st) < 0)
			break;
		if (st.st_ino == root_st.st_ino && st.st_dev == root_st.st_dev) {
			set(o, R_DENIED, 0, "cwd %s is under our root", cwd);
			close(fd);
			return;
		}
		up = openat(fd, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (up < 0 || fstat(up, &up_st) < 0) {
			if (up >= 0)
				close(up);
			break;
		}
		close(fd);
		fd = up;
		if (up_st.st_ino == st.st_ino && up_st.st_dev == st.st_dev) {
			set(o, R_ALLOWED, 0, "cwd %s leads up to a root that is not ours", cwd);
			close(fd);
			return;
		}
	}
	close(fd);
	set(o, R_INCONCLUSIVE, errno, "could not walk up from %s", cwd);
}

/* Does the readlink() text of an exe name a file in our root that is the
 * same inode? Deleted files: same device as one of our mounts counts. */
static bool exe_is_ours(const char *text, const struct stat *exe_st)
{
	char path[PATH_MAX];
	struct stat st;
	size_t len = strlen(text);
	static const char deleted[] = " (deleted)";

	snprintf(path, sizeof(path), "%s", text);
	if (len > sizeof(deleted) - 1 && !strcmp(path + len - (sizeof(deleted) - 1), deleted))
		path[len - (sizeof(deleted) - 1)] = '\0';
	return path[0] == '/' && stat(path, &st) == 0 && st.st_ino == exe_st->st_ino &&
	       st.st_dev == exe_st->st_dev;
}

static void esc_proc_self_exe_write(struct outcome *o, const struct esc_ctx *ctx)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	int foreign = 0, writable = 0, last_err = 0;

	if (!d) {
		set(o, R_INCONCLUSIVE, errno, "no /proc: %s", strerror(errno));
		return;
	}
	start(o, R_DENIED);
	while ((de = readdir(d))) {
		char link[300], text[PATH_MAX];
		struct stat st;
		ssize_t n;
		int fd, err;

		if (!is_pid_name(de->d_name))
			continue;
		snprintf(link, sizeof(link), "/proc/%s/exe", de->d_name);
		/* stat() follows the magic link to the executable itself;
		 * EACCES here is the non-dumpable defence working */
		if (stat(link, &st) < 0)
			continue;
		n = readlink(link, text, sizeof(text) - 1);
		if (n < 0)
			continue;
		text[n] = '\0';
		if (exe_is_ours(text, &st))
			continue;
		foreign++;
		fd = open(link, O_WRONLY | O_CLOEXEC);
		err = fd < 0 ? errno : 0;
		if (fd >= 0)
			close(fd);
		if (err == 0 || err == ETXTBSY) {
			writable++;
			add_detail(o, "pid %s exe %s %s; ", de->d_name, text,
				   err ? "is ETXTBSY (writable once it exits)" : "OPENED FOR WRITING");
		} else {
			last_err = err;
			add_detail(o, "pid %s exe %s: %s; ", de->d_name, text, errno_name(err));
		}
	}
	closedir(d);
	if (writable) {
		o->result = R_ALLOWED;
	} else if (!foreign) {
		add_detail(o, "no visible process runs a binary from outside our root");
	} else {
		o->err = last_err;
		add_detail(o, "%d foreign executables, none writable", foreign);
	}
}

static void esc_sethostname(struct outcome *o, const struct esc_ctx *ctx)
{
	struct utsname uts;
	int r;

	if (uname(&uts) < 0) {
		set(o, R_INCONCLUSIVE, errno, "uname: %s", strerror(errno));
		return;
	}
	r = sethostname(uts.nodename, strlen(uts.nodename));
	if (r == 0)
		set(o, R_ALLOWED, 0, "set the hostname to its current value \"%s\"", uts.nodename);
	else
		set(o, is_refusal(errno) ? R_DENIED : R_INCONCLUSIVE, errno, "sethostname: %s",
		    strerror(errno));
}

static int do_seize(void *arg)
{
	/* SEIZE does not stop the tracee; our exit detaches it */
	return ptrace(PTRACE_SEIZE, *(pid_t *)arg, NULL, NULL) < 0 ? errno : 0;
}

static void esc_ptrace_pid1(struct outcome *o, const struct esc_ctx *ctx)
{
	pid_t targets[2] = { 1, getppid() }, self = getpid();
	int tried = 0, seized = 0, last_err = 0;

	start(o, R_DENIED);
	for (int i = 0; i < 2; i++) {
		int err;

		if (targets[i] <= 0 || targets[i] == self || (i == 1 && targets[1] == targets[0]))
			continue;
		tried++;
		err = in_child(do_seize, &targets[i]);
		if (err == 0) {
			seized++;
			add_detail(o, "SEIZED pid %d; ", targets[i]);
		} else {
			if (err > 0)
				last_err = err;
			add_detail(o, "pid %d: %s; ", targets[i], err > 0 ? errno_name(err) : "?");
		}
	}
	if (seized) {
		o->result = R_ALLOWED;
	} else if (!tried) {
		set(o, R_INCONCLUSIVE, 0, "we are pid 1 without a parent: nothing to attach to");
	} else if (!is_refusal(last_err)) {
		o->result = R_INCONCLUSIVE;
		o->err = last_err;
	} else {
		o->err = last_err;
	}
}

static void esc_host_dev_chmod(struct outcome *o, const struct esc_ctx *ctx)
{
	static const char *const paths[] = { "/dev/null", "/dev/zero", "/dev/tty", "/proc/kcore" };
	int tried = 0;

	(void)ctx;
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		struct stat st;

		if (stat(paths[i], &st) < 0)
			continue;
		tried++;
		/* the same mode: a metadata write that changes nothing */
		if (chmod(paths[i], st.st_mode & 07777) == 0) {
			set(o, R_ALLOWED, 0, "chmod %s (to its own mode %04o) worked", paths[i],
			    (unsigned)(st.st_mode & 07777));
			return;
		}
		if (!is_refusal(errno) && errno != EROFS) {
			set(o, R_INCONCLUSIVE, errno, "chmod %s: %s", paths[i], strerror(errno));
			return;
		}
	}
	if (tried == 0)
		set(o, R_INCONCLUSIVE, ENOENT, "none of the device nodes exists");
	else
		set(o, R_DENIED, EROFS, "chmod of %d device node(s) refused", tried);
}

static const struct attempt attempts[] = {
	{ "mount", esc_mount, "mount tmpfs on a fresh dir, umount" },
	{ "umount", esc_umount, "umount2(\"/\", MNT_EXPIRE): refused after the privilege check" },
	{ "pivot_root", esc_pivot_root, "pivot_root(\"/\", \"/\"): refused after the privilege check" },
	{ "unshare-mnt", esc_unshare_mnt, "unshare(CLONE_NEWNS) in a child" },
	{ "unshare-pid", esc_unshare_pid, "unshare(CLONE_NEWPID) in a child" },
	{ "unshare-net", esc_unshare_net, "unshare(CLONE_NEWNET) in a child" },
	{ "unshare-uts", esc_unshare_uts, "unshare(CLONE_NEWUTS) in a child" },
	{ "unshare-ipc", esc_unshare_ipc, "unshare(CLONE_NEWIPC) in a child" },
	{ "unshare-user", esc_unshare_user, "unshare(CLONE_NEWUSER) in a child" },
	{ "unshare-cgroup", esc_unshare_cgroup, "unshare(CLONE_NEWCGROUP) in a child" },
	{ "setns-host", esc_setns_host,
	  "setns into /proc/{1,ppid}/ns/<type> differing from ours, in a child" },
	{ "keyctl", esc_keyctl, "keyctl(KEYCTL_GET_KEYRING_ID, user keyring)" },
	{ "add_key", esc_add_key, "add_key(\"user\") to the process keyring of a child" },
	{ "bpf", esc_bpf, "bpf(BPF_MAP_CREATE, 1-entry array)" },
	{ "perf_event_open", esc_perf_event_open, "perf_event_open(task-clock on self)" },
	{ "userfaultfd", esc_userfaultfd, "userfaultfd(O_CLOEXEC), kernel faults included" },
	{ "io_uring_setup", esc_io_uring_setup, "io_uring_setup(1)" },
	{ "kexec_load", esc_kexec_load, "kexec_load with invalid flags: EINVAL after CAP_SYS_BOOT" },
	{ "init_module", esc_init_module, "init_module of a 0-byte image: ENOEXEC after CAP_SYS_MODULE" },
	{ "open_by_handle_at", esc_open_by_handle_at,
	  "shocker: name_to_handle_at(/) or inode 2, open_by_handle_at" },
	{ "proc-sys-write", esc_proc_sys_write, "write /proc/sys/kernel/domainname back unchanged" },
	{ "sysrq-trigger", esc_sysrq_trigger, "open /proc/sysrq-trigger for writing, write nothing" },
	{ "kcore-read", esc_kcore_read, "read 1 byte of /proc/kcore" },
	{ "host-dev-chmod", esc_host_dev_chmod,
	  "chmod /dev/null, /dev/zero, /dev/tty, masked /proc/kcore to their own modes" },
	{ "mknod-block", esc_mknod_block, "mknod b 7:0 in a temp dir, unlink" },
	{ "host-procs-visible", esc_host_procs_visible, "NSpid depth > 1 or kernel threads visible" },
	{ "host-mounts-visible", esc_host_mounts_visible,
	  "whole disk fs, rootfs or host-only pseudo fs in mountinfo" },
	{ "setuid-gain", esc_setuid_gain, "exec the setuid-root helper copy (--path), euid 0?" },
	{ "cap-sys-admin", esc_cap_sys_admin, "CAP_SYS_ADMIN in CapEff" },
	{ "fds-above-2", esc_fds_above_2, "fds > 2 inherited at start" },
	{ "cwd-outside-root", esc_cwd_outside_root, "getcwd fails or .. walk misses our root" },
	{ "proc-self-exe-write", esc_proc_self_exe_write,
	  "open a foreign /proc/PID/exe O_WRONLY (CVE-2019-5736)" },
	{ "sethostname", esc_sethostname, "sethostname(current name)" },
	{ "ptrace-pid1", esc_ptrace_pid1, "PTRACE_SEIZE pid 1 and the parent from a child" },
};

#define N_ATTEMPTS (sizeof(attempts) / sizeof(attempts[0]))

static const char *result_name(enum result r)
{
	switch (r) {
	case R_DENIED: return "denied";
	case R_ALLOWED: return "allowed";
	default: return "inconclusive";
	}
}

static enum result run_attempt(const struct attempt *a, const struct esc_ctx *ctx)
{
	struct outcome o = { .result = R_INCONCLUSIVE };
	struct jw w = { 0 };
	size_t len;

	a->fn(&o, ctx);
	len = strlen(o.detail);
	while (len > 0 && (o.detail[len - 1] == ' ' || o.detail[len - 1] == ';'))
		o.detail[--len] = '\0';
	jw_obj_begin(&w);
	jw_kstr(&w, "escape", a->name);
	jw_kstr(&w, "result", result_name(o.result));
	jw_kerrno(&w, "errno", o.err);
	jw_kstr(&w, "detail", o.detail);
	jw_obj_end(&w);
	jw_emit(&w);
	jw_free(&w);
	return o.result;
}

int cmd_escape(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "list", no_argument, NULL, 'l' },
		{ "path", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	struct esc_ctx ctx = { 0 };
	bool all = false, list = false;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'a': all = true; break;
		case 'l': list = true; break;
		case 'p': ctx.suid_path = optarg; break;
		default: husage("usage: escape NAME|--all|--list [--path P]");
		}
	}
	if (list) {
		if (all || optind != argc)
			husage("--list takes nothing else");
		for (size_t i = 0; i < N_ATTEMPTS; i++) {
			struct jw w = { 0 };

			jw_obj_begin(&w);
			jw_kstr(&w, "escape", attempts[i].name);
			jw_kstr(&w, "method", attempts[i].method);
			jw_obj_end(&w);
			jw_emit(&w);
			jw_free(&w);
		}
		return 0;
	}
	if (all) {
		int allowed = 0;

		if (optind != argc)
			husage("--all takes no names");
		for (size_t i = 0; i < N_ATTEMPTS; i++)
			if (run_attempt(&attempts[i], &ctx) == R_ALLOWED)
				allowed++;
		return allowed;
	}
	if (optind != argc - 1)
		husage("usage: escape NAME|--all|--list [--path P]");
	for (size_t i = 0; i < N_ATTEMPTS; i++) {
		if (strcmp(attempts[i].name, argv[optind]))
			continue;
		switch (run_attempt(&attempts[i], &ctx)) {
		case R_DENIED: return 0;
		case R_ALLOWED: return 1;
		default: return 3;
		}
	}
	husage("unknown escape '%s' (escape --list)", argv[optind]);
}
