/* tests/images/helper/cmd-info.c - `info` and `ids`: what the process sees of
 * itself. Capabilities, no_new_privs and the seccomp mode come from
 * /proc/self/status, so the helper needs neither libcap nor libseccomp. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "helper.h"

extern char **environ;

/* Index = capability number (linux/capability.h, up to CAP_LAST_CAP 40). */
static const char *const cap_names[] = {
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER",
	"CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP",
	"CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
	"CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
	"CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
	"CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
	"CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD",
	"CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP",
	"CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
	"CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
};

static const struct {
	const char *name;
	int resource;
} rlimits[] = {
	{ "as", RLIMIT_AS }, { "core", RLIMIT_CORE }, { "cpu", RLIMIT_CPU },
	{ "data", RLIMIT_DATA }, { "fsize", RLIMIT_FSIZE }, { "locks", RLIMIT_LOCKS },
	{ "memlock", RLIMIT_MEMLOCK }, { "msgqueue", RLIMIT_MSGQUEUE },
	{ "nice", RLIMIT_NICE }, { "nofile", RLIMIT_NOFILE }, { "nproc", RLIMIT_NPROC },
	{ "rss", RLIMIT_RSS }, { "rtprio", RLIMIT_RTPRIO }, { "rttime", RLIMIT_RTTIME },
	{ "sigpending", RLIMIT_SIGPENDING }, { "stack", RLIMIT_STACK },
};

static void put_caps(struct jw *w, const char *status)
{
	static const struct {
		const char *key, *field;
	} sets[] = {
		{ "inheritable", "CapInh" }, { "permitted", "CapPrm" }, { "effective", "CapEff" },
		{ "bounding", "CapBnd" }, { "ambient", "CapAmb" },
	};
	char val[64];
	unsigned long long eff = 0;
	bool have_eff = false;

	jw_key(w, "caps");
	jw_obj_begin(w);
	for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++) {
		const char *v = status ? proc_status_field(status, sets[i].field, val, sizeof(val)) : NULL;

		jw_kstr(w, sets[i].key, v);
		if (v && !strcmp(sets[i].field, "CapEff")) {
			eff = strtoull(v, NULL, 16);
			have_eff = true;
		}
	}
	jw_obj_end(w);

	jw_key(w, "effective_names");
	if (!have_eff) {
		jw_null(w);
		return;
	}
	jw_arr_begin(w);
	for (unsigned bit = 0; bit < 64; bit++) {
		char unknown[24];

		if (!(eff & (1ULL << bit)))
			continue;
		if (bit < sizeof(cap_names) / sizeof(cap_names[0])) {
			jw_str(w, cap_names[bit]);
		} else {
			snprintf(unknown, sizeof(unknown), "CAP_%u", bit);
			jw_str(w, unknown);
		}
	}
	jw_arr_end(w);
}

static bool put_mount(const struct mount_entry *m, void *data)
{
	struct jw *w = data;

	jw_obj_begin(w);
	jw_kstr(w, "target", m->target);
	jw_kstr(w, "fstype", m->fstype);
	jw_kstr(w, "source", m->source);
	jw_kstr(w, "options", m->options);
	jw_kstr(w, "super_options", m->super_options);
	jw_kstr(w, "root", m->root);
	jw_kstr(w, "device", m->device);
	jw_obj_end(w);
	return true;
}

static void put_mounts(struct jw *w)
{
	int r;

	jw_key(w, "mounts");
	jw_arr_begin(w);
	r = mountinfo_foreach(put_mount, w);
	jw_arr_end(w);
	if (r < 0)
		jw_kerrno(w, "mounts_errno", -r);
}

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

static void put_fds(struct jw *w)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int *fds = NULL;
	size_t n = 0, cap = 0;

	jw_key(w, "fds");
	if (!d) {
		jw_null(w);
		return;
	}
	while ((de = readdir(d))) {
		long long fd;

		if (!parse_ll(de->d_name, 0, INT_MAX, &fd) || fd == dirfd(d))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			fds = xrealloc(fds, cap * sizeof(*fds));
		}
		fds[n++] = (int)fd;
	}
	closedir(d);
	qsort(fds, n, sizeof(*fds), cmp_int);
	jw_arr_begin(w);
	for (size_t i = 0; i < n; i++)
		jw_int(w, fds[i]);
	jw_arr_end(w);
	free(fds);
}

static void put_rlimits(struct jw *w)
{
	jw_key(w, "rlimits");
	jw_obj_begin(w);
	for (size_t i = 0; i < sizeof(rlimits) / sizeof(rlimits[0]); i++) {
		struct rlimit rl;

		jw_key(w, rlimits[i].name);
		if (getrlimit(rlimits[i].resource, &rl) < 0) {
			jw_null(w);
			continue;
		}
		jw_arr_begin(w);
		jw_int(w, rl.rlim_cur == RLIM_INFINITY ? -1 : (long long)rl.rlim_cur);
		jw_int(w, rl.rlim_max == RLIM_INFINITY ? -1 : (long long)rl.rlim_max);
		jw_arr_end(w);
	}
	jw_obj_end(w);
}

int cmd_info(int argc, char **argv)
{
	struct jw w = { 0 };
	char *status = read_file("/proc/self/status", 1 << 20, NULL);
	char val[256], cwd[PATH_MAX];
	struct utsname uts;
	gid_t *groups;
	int ngroups;

	if (argc > 1)
		husage("info takes no arguments");

	jw_obj_begin(&w);
	jw_kint(&w, "pid", getpid());
	jw_kint(&w, "ppid", getppid());
	jw_kint(&w, "uid", getuid());
	jw_kint(&w, "gid", getgid());
	jw_kint(&w, "euid", geteuid());
	jw_kint(&w, "egid", getegid());

	jw_key(&w, "groups");
	/* heap, not stack: NGROUPS_MAX is 65536 and tests may shrink the stack */
	ngroups = getgroups(0, NULL);
	groups = xmalloc(sizeof(*groups) * (size_t)(ngroups > 0 ? ngroups : 1));
	ngroups = getgroups(ngroups > 0 ? ngroups : 0, groups);
	if (ngroups < 0) {
		jw_null(&w);
	} else {
		jw_arr_begin(&w);
		for (int i = 0; i < ngroups; i++)
			jw_int(&w, groups[i]);
		jw_arr_end(&w);
	}
	free(groups);

	jw_key(&w, "argv");
	jw_arr_begin(&w);
	for (int i = 0; i < helper_argc; i++)
		jw_str(&w, helper_argv[i]);
	jw_arr_end(&w);

	jw_key(&w, "env");
	jw_obj_begin(&w);
	for (char **e = environ; e && *e; e++) {
		const char *eq = strchr(*e, '=');
		char *key;

		if (!eq)
			continue;
		key = strndup(*e, (size_t)(eq - *e));
		if (!key)
			continue;
		jw_kstr(&w, key, eq + 1);
		free(key);
	}
	jw_obj_end(&w);

	if (getcwd(cwd, sizeof(cwd))) {
		jw_kstr(&w, "cwd", cwd);
	} else {
		jw_key(&w, "cwd");
		jw_null(&w);
		jw_kerrno(&w, "cwd_errno", errno);
	}
	jw_kstr(&w, "hostname", uname(&uts) == 0 ? uts.nodename : NULL);

	put_caps(&w, status);

	jw_key(&w, "no_new_privs");
	if (status && proc_status_field(status, "NoNewPrivs", val, sizeof(val)))
		jw_bool(&w, atoi(val) != 0);
	else
		jw_bool(&w, prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1);

	jw_key(&w, "seccomp");
	if (status && proc_status_field(status, "Seccomp", val, sizeof(val)))
		jw_int(&w, atoi(val));
	else
		jw_int(&w, prctl(PR_GET_SECCOMP, 0, 0, 0, 0));

	{
		char *cg = read_file("/proc/self/cgroup", 1 << 20, NULL);

		jw_kstr(&w, "cgroup", cg);
		free(cg);
	}
	put_mounts(&w);
	put_rlimits(&w);
	put_fds(&w);

	jw_key(&w, "umask");
	if (status && proc_status_field(status, "Umask", val, sizeof(val))) {
		jw_str(&w, val);
	} else {
		/* kernels before 4.7: read it the racy way, we are single-threaded */
		mode_t m = umask(0);

		umask(m);
		snprintf(val, sizeof(val), "%04o", (unsigned)m);
		jw_str(&w, val);
	}
	jw_obj_end(&w);
	jw_emit(&w);
	jw_free(&w);
	free(status);
	return 0;
}

int cmd_ids(int argc, char **argv)
{
	struct jw w = { 0 };
	uid_t ruid, euid, suid;
	gid_t rgid, egid, sgid;

	if (argc > 1)
		husage("ids takes no arguments");
	getresuid(&ruid, &euid, &suid);
	getresgid(&rgid, &egid, &sgid);
	jw_obj_begin(&w);
	jw_kint(&w, "uid", ruid);
	jw_kint(&w, "euid", euid);
	jw_kint(&w, "suid", suid);
	jw_kint(&w, "gid", rgid);
	jw_kint(&w, "egid", egid);
	jw_kint(&w, "sgid", sgid);
	jw_obj_end(&w);
	jw_emit(&w);
	jw_free(&w);
	return 0;
}
