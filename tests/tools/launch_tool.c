/* berth-launch-tool - test driver for the container launcher (VM cases only).
 *
 * Builds a struct ctr_spec by hand (what ctr_spec_resolve would produce for
 * a simple container), launches it with ctr_launch and exits with the
 * container's status (128 + signal when it was killed). Launch errors go to
 * stderr as "berth-launch-tool: container NAME: STEP: REASON (DETAIL)" with
 * exit status 125.
 */
#include "common/cleanup.h"
#include "common/error.h"
#include "common/xalloc.h"
#include "runtime/container/caps.h"
#include "runtime/container/launch.h"
#include "runtime/container/seccomp.h"
#include "runtime/container/spec.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

static const char usage_text[] =
	"usage: berth-launch-tool --rootfs DIR [OPTIONS] -- ARGV...\n"
	"  --rootfs DIR        the container's root filesystem (a mounted directory)\n"
	"  --name NAME         container name for messages (default: launch-tool)\n"
	"  --cgroup PATH       leaf cgroup to start in (CLONE_INTO_CGROUP; device filter)\n"
	"  --user UID:GID      run as this user (default 0:0)\n"
	"  --groups G,G...     supplementary groups\n"
	"  --privileged        every capability, no seccomp, no masks, no no_new_privs\n"
	"  --cap-add CAP / --cap-drop CAP   edit Docker's default set (repeatable)\n"
	"  --init              run under berth-init (sealed memfd)\n"
	"  --hostname H        hostname (own UTS namespace)\n"
	"  --ro                read-only root filesystem\n"
	"  --no-seccomp        no seccomp filter\n"
	"  --cwd DIR           working directory (default /)\n"
	"  --env NAME=VALUE    environment (repeatable; PATH defaults to Docker's)\n"
	"  --tmpfs PATH[:DATA] a tmpfs mount (nosuid,nodev,noexec)\n"
	"  --tmpfs-dev PATH    a tmpfs mount without nodev (for device filter tests)\n"
	"  --bind SRC:DST[:ro] a bind mount\n"
	"  --device PATH       bind a host device node (read, write, mknod)\n"
	"  --ulimit NAME=SOFT:HARD   an rlimit (nofile, nproc, core, ...)\n"
	"  --net host|new|PATH, --pid host|new|PATH, --ipc host|new|PATH, --uts new|PATH\n"
	"                      namespaces: the caller's, a new one, or join (nsfs path)\n"
	"  --stdout FILE       container stdout to FILE (default: ours)\n"
	"  --no-clone3         make clone3 answer ENOSYS in this process (tests the clone fallback)\n"
	"  --exec CMD          after the launch, run CMD (split at spaces) in the container with\n"
	"                      ctr_exec, then kill the container: the exit status is CMD's\n"
	"  --print-pid         print {\"pid\":N} (host pid) on stderr once launched\n";

static void usage_exit(const char *msg)
{
	if (msg)
		fprintf(stderr, "berth-launch-tool: %s\n", msg);
	fputs(usage_text, stderr);
	exit(2);
}

static int fail(struct berr *err)
{
	fprintf(stderr, "berth-launch-tool: %s\n", berr_msg(err));
	berr_free(err);
	return 125;
}

static void strv_add(char ***v, size_t *n, const char *s)
{
	*v = xreallocarray(*v, *n + 2, sizeof(**v));
	(*v)[(*n)++] = xstrdup(s);
	(*v)[*n] = NULL;
}

static unsigned long num(const char *s, const char *what)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end) {
		fprintf(stderr, "berth-launch-tool: bad %s '%s'\n", what, s);
		exit(2);
	}
	return v;
}

static int ns_arg(const char *s, const char *what)
{
	int fd;

	if (!strcmp(s, "host"))
		return CTR_NS_HOST;
	if (!strcmp(s, "new"))
		return CTR_NS_NEW;
	fd = open(s, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "berth-launch-tool: %s %s: %s\n", what, s, strerror(errno));
		exit(2);
	}
	return fd;
}

/* clone3 -> ENOSYS for this process and its children, as Docker's seccomp
 * profile does: the launcher must fall back to clone(2). */
static void no_clone3(void)
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

	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) < 0) {
		fprintf(stderr, "berth-launch-tool: seccomp filter for --no-clone3: %s\n", strerror(errno));
		exit(2);
	}
}

static int wait_status(int pidfd)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	while (waitid(P_PIDFD, (id_t)pidfd, &si, WEXITED) < 0) {
		if (errno != EINTR) {
			fprintf(stderr, "berth-launch-tool: waitid: %s\n", strerror(errno));
			return 125;
		}
	}
	if (si.si_code == CLD_EXITED)
		return si.si_status;
	return 128 + si.si_status;
}

int main(int argc, char **argv)
{
	enum {
		O_ROOTFS = 256, O_NAME, O_CGROUP, O_USER, O_GROUPS, O_PRIV, O_CAPADD, O_CAPDROP, O_INIT,
		O_HOSTNAME, O_RO, O_NOSECCOMP, O_CWD, O_ENV, O_TMPFS, O_TMPFS_DEV, O_BIND, O_DEVICE, O_ULIMIT, O_NET,
		O_PID, O_IPC, O_UTS, O_STDOUT, O_NOCLONE3, O_EXEC, O_PRINTPID,
	};
	static const struct option opts[] = {
		{ "rootfs", required_argument, NULL, O_ROOTFS },
		{ "name", required_argument, NULL, O_NAME },
		{ "cgroup", required_argument, NULL, O_CGROUP },
		{ "user", required_argument, NULL, O_USER },
		{ "groups", required_argument, NULL, O_GROUPS },
		{ "privileged", no_argument, NULL, O_PRIV },
		{ "cap-add", required_argument, NULL, O_CAPADD },
		{ "cap-drop", required_argument, NULL, O_CAPDROP },
		{ "init", no_argument, NULL, O_INIT },
		{ "hostname", required_argument, NULL, O_HOSTNAME },
		{ "ro", no_argument, NULL, O_RO },
		{ "no-seccomp", no_argument, NULL, O_NOSECCOMP },
		{ "cwd", required_argument, NULL, O_CWD },
		{ "env", required_argument, NULL, O_ENV },
		{ "tmpfs", required_argument, NULL, O_TMPFS },
		{ "tmpfs-dev", required_argument, NULL, O_TMPFS_DEV },
		{ "bind", required_argument, NULL, O_BIND },
		{ "device", required_argument, NULL, O_DEVICE },
		{ "ulimit", required_argument, NULL, O_ULIMIT },
		{ "net", required_argument, NULL, O_NET },
		{ "pid", required_argument, NULL, O_PID },
		{ "ipc", required_argument, NULL, O_IPC },
		{ "uts", required_argument, NULL, O_UTS },
		{ "stdout", required_argument, NULL, O_STDOUT },
		{ "no-clone3", no_argument, NULL, O_NOCLONE3 },
		{ "exec", required_argument, NULL, O_EXEC },
		{ "print-pid", no_argument, NULL, O_PRINTPID },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctr_spec spec;
	struct ctr_launch l;
	struct ctr_proc proc = { .pid = -1, .pidfd = -1 };
	struct berr *err = NULL;
	cleanup_strv char **env = NULL, **cap_add = NULL, **cap_drop = NULL, **exec_argv = NULL;
	size_t n_env = 0, n_add = 0, n_drop = 0, n_exec = 0;
	bool no_seccomp = false, have_path = false, no_clone3_flag = false, print_pid = false;
	const char *cgroup = NULL, *stdout_path = NULL;
	cleanup_close int cgfd = -1, outfd = -1;
	int c, status;

	memset(&spec, 0, sizeof(spec));
	spec.name = "launch-tool";
	spec.cwd = "/";
	spec.user = "";
	spec.stop_signal = SIGTERM;
	spec.stop_timeout = CTR_DEFAULT_STOP_TIMEOUT;
	spec.shm_size = CTR_DEFAULT_SHM_BYTES;
	ctr_launch_init(&l);
	l.spec = &spec;

	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case O_ROOTFS:
			l.rootfs = optarg;
			break;
		case O_NAME:
			spec.name = optarg;
			break;
		case O_CGROUP:
			cgroup = optarg;
			break;
		case O_USER: {
			char *colon = strchr(optarg, ':');

			if (!colon)
				usage_exit("--user wants UID:GID");
			*colon = '\0';
			spec.uid = (uid_t)num(optarg, "uid");
			spec.gid = (gid_t)num(colon + 1, "gid");
			spec.user = optarg;
			break;
		}
		case O_GROUPS:
			for (char *save = NULL, *t = strtok_r(optarg, ",", &save); t;
			     t = strtok_r(NULL, ",", &save)) {
				spec.groups = xreallocarray(spec.groups, spec.n_groups + 1, sizeof(gid_t));
				spec.groups[spec.n_groups++] = (gid_t)num(t, "group");
			}
			break;
		case O_PRIV:
			spec.privileged = true;
			break;
		case O_CAPADD:
			strv_add(&cap_add, &n_add, optarg);
			break;
		case O_CAPDROP:
			strv_add(&cap_drop, &n_drop, optarg);
			break;
		case O_INIT:
			spec.init = true;
			break;
		case O_HOSTNAME:
			spec.hostname = optarg;
			break;
		case O_RO:
			spec.readonly_rootfs = true;
			break;
		case O_NOSECCOMP:
			no_seccomp = true;
			break;
		case O_CWD:
			spec.cwd = optarg;
			break;
		case O_ENV:
			if (!strchr(optarg, '='))
				usage_exit("--env wants NAME=VALUE");
			have_path |= !strncmp(optarg, "PATH=", 5);
			strv_add(&env, &n_env, optarg);
			break;
		case O_TMPFS:
		case O_TMPFS_DEV: {
			struct ctr_mount *m;
			char *colon = c == O_TMPFS ? strchr(optarg, ':') : NULL;

			spec.mounts = xreallocarray(spec.mounts, spec.n_mounts + 1, sizeof(*spec.mounts));
			m = &spec.mounts[spec.n_mounts++];
			memset(m, 0, sizeof(*m));
			if (colon)
				*colon = '\0';
			m->kind = CTR_MOUNT_TMPFS;
			m->target = optarg;
			m->flags = MS_NOSUID | MS_NOEXEC | (c == O_TMPFS ? MS_NODEV : 0);
			m->data = colon ? colon + 1 : NULL;
			break;
		}
		case O_BIND: {
			struct ctr_mount *m;
			char *dst = strchr(optarg, ':'), *opt;

			if (!dst)
				usage_exit("--bind wants SRC:DST[:ro]");
			*dst++ = '\0';
			opt = strchr(dst, ':');
			if (opt)
				*opt++ = '\0';
			spec.mounts = xreallocarray(spec.mounts, spec.n_mounts + 1, sizeof(*spec.mounts));
			m = &spec.mounts[spec.n_mounts++];
			memset(m, 0, sizeof(*m));
			m->kind = CTR_MOUNT_BIND;
			m->source = optarg;
			m->target = dst;
			m->read_only = opt && !strcmp(opt, "ro");
			break;
		}
		case O_DEVICE: {
			struct ctr_device *d;

			spec.devices = xreallocarray(spec.devices, spec.n_devices + 1, sizeof(*spec.devices));
			d = &spec.devices[spec.n_devices++];
			d->host_path = d->container_path = optarg;
			d->read = d->write = d->mknod = true;
			break;
		}
		case O_ULIMIT: {
			char *eq = strchr(optarg, '='), *colon;
			struct ctr_rlimit *r;
			int res;

			if (!eq || !(colon = strchr(eq, ':')))
				usage_exit("--ulimit wants NAME=SOFT:HARD");
			*eq = *colon = '\0';
			res = ctr_rlimit_resource(optarg);
			if (res < 0)
				usage_exit("--ulimit: unknown resource");
			spec.rlimits = xreallocarray(spec.rlimits, spec.n_rlimits + 1, sizeof(*spec.rlimits));
			r = &spec.rlimits[spec.n_rlimits++];
			r->resource = res;
			r->soft = num(eq + 1, "soft limit");
			r->hard = num(colon + 1, "hard limit");
			break;
		}
		case O_NET:
			l.netns_fd = ns_arg(optarg, "--net");
			break;
		case O_PID:
			l.pidns_fd = ns_arg(optarg, "--pid");
			break;
		case O_IPC:
			l.ipcns_fd = ns_arg(optarg, "--ipc");
			break;
		case O_UTS:
			l.utsns_fd = ns_arg(optarg, "--uts");
			break;
		case O_STDOUT:
			stdout_path = optarg;
			break;
		case O_NOCLONE3:
			no_clone3_flag = true;
			break;
		case O_EXEC:
			for (char *save = NULL, *t = strtok_r(optarg, " ", &save); t;
			     t = strtok_r(NULL, " ", &save))
				strv_add(&exec_argv, &n_exec, t);
			break;
		case O_PRINTPID:
			print_pid = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		default:
			usage_exit(NULL);
		}
	}
	if (!l.rootfs)
		usage_exit("--rootfs is required");
	if (optind >= argc)
		usage_exit("no command after --");
	spec.argv = argv + optind;
	if (!have_path)
		strv_add(&env, &n_env, "PATH=" CTR_DEFAULT_PATH);
	if (spec.hostname) {
		char *h = xasprintf("HOSTNAME=%s", spec.hostname);

		strv_add(&env, &n_env, h);
		free(h);
	}
	spec.env = env;
	spec.no_new_privs = !spec.privileged;
	if (ctr_caps_compute((const char *const *)cap_add, (const char *const *)cap_drop,
			     spec.privileged, "capabilities", &spec.caps, &err) < 0)
		return fail(err);
	{
		/* Fargate's default nofile, unless given */
		bool have_nofile = false;

		for (size_t i = 0; i < spec.n_rlimits; i++)
			have_nofile |= spec.rlimits[i].resource == RLIMIT_NOFILE;
		if (!have_nofile) {
			spec.rlimits = xreallocarray(spec.rlimits, spec.n_rlimits + 1, sizeof(*spec.rlimits));
			spec.rlimits[spec.n_rlimits++] = (struct ctr_rlimit){ RLIMIT_NOFILE, 65535, 65535 };
		}
	}
	if (!spec.privileged && !no_seccomp && ctr_seccomp_get(spec.caps, &l.seccomp, &err) < 0)
		return fail(err);
	if (spec.init) {
		l.init_fd = ctr_init_fd(&err);
		if (l.init_fd < 0)
			return fail(err);
	}
	if (cgroup) {
		cgfd = open(cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (cgfd < 0) {
			fprintf(stderr, "berth-launch-tool: open cgroup %s: %s\n", cgroup, strerror(errno));
			return 125;
		}
		l.cgroup_fd = cgfd;
	}
	l.stdin_fd = STDIN_FILENO;
	l.stdout_fd = STDOUT_FILENO;
	l.stderr_fd = STDERR_FILENO;
	if (stdout_path) {
		outfd = open(stdout_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (outfd < 0) {
			fprintf(stderr, "berth-launch-tool: open %s: %s\n", stdout_path, strerror(errno));
			return 125;
		}
		l.stdout_fd = outfd;
	}
	if (no_clone3_flag)
		no_clone3();

	if (ctr_launch(&l, &proc, &err) < 0)
		return fail(err);
	if (print_pid)
		fprintf(stderr, "{\"pid\":%d}\n", (int)proc.pid);
	if (exec_argv) {
		struct ctr_proc ex = { .pid = -1, .pidfd = -1 };

		if (ctr_exec(&l, &proc, exec_argv, &ex, &err) < 0) {
			status = fail(err);
		} else {
			status = wait_status(ex.pidfd);
			ctr_proc_release(&ex);
		}
		syscall(SYS_pidfd_send_signal, proc.pidfd, SIGKILL, NULL, 0);
		(void)wait_status(proc.pidfd);
	} else {
		status = wait_status(proc.pidfd);
	}
	ctr_proc_release(&proc);
	free(spec.groups);
	free(spec.mounts);
	free(spec.devices);
	free(spec.rlimits);
	return status;
}
