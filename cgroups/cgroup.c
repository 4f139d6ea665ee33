/* cgroups/cgroup.c - detection and cgroupfs operations. See cgroup.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/magic.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"
#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/xalloc.h"

/* interface files are small; memory.stat is the largest, a few KiB */
#define CG_FILE_MAX (1 << 20)

static bool fake_fs;

static bool has_word(const char *list, const char *word);

/* create PATH/FILE holding value (fake trees only) */
static int cg_write_file_new(const char *cgpath, const char *file, const char *value,
			     struct berr **err)
{
	cleanup_free char *p = fs_path_join(cgpath, file);
	cleanup_close int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0)
		return berr_set(err, errno, "create %s (fake cgroup tree)", p);
	if (fs_write_all(fd, value, strlen(value)) < 0)
		return berr_set(err, errno, "write %s (fake cgroup tree)", p);
	return 0;
}

void cg_set_fake_fs(bool on)
{
	fake_fs = on;
}

/* ------------------------------------------------------------ detection */

/* hand the error in *src to the caller as is (no second strerror) */
static int berr_move(struct berr **dst, struct berr **src)
{
	int r = berr_rc(*src);

	if (dst) {
		berr_free(*dst);
		*dst = steal_pointer(src);
	}
	return r;
}

static bool is_dir(const char *dir, const char *name)
{
	cleanup_free char *p = fs_path_join(dir, name);
	struct stat st;

	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* true when the space-separated list has `word` */
static bool has_word(const char *list, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = list; (p = strstr(p, word)); p += n) {
		bool start = p == list || p[-1] == ' ' || p[-1] == '\n';
		bool end = p[n] == '\0' || p[n] == ' ' || p[n] == '\n';

		if (start && end)
			return true;
	}
	return false;
}

/* A tmpfs with per-controller directories: cgroup v1, hybrid when a cgroup2
 * hierarchy is mounted at unified/ as well. */
static int v1_error(const char *mount, struct berr **err)
{
	static const char *const v1[] = { "cpu", "cpu,cpuacct", "memory", "pids" };
	char found[64] = "";

	for (size_t i = 0; i < sizeof(v1) / sizeof(v1[0]); i++) {
		if (is_dir(mount, v1[i]) && !strstr(found, v1[i][0] == 'c' ? "cpu" : v1[i])) {
			if (found[0])
				strcat(found, ", ");
			strcat(found, v1[i][0] == 'c' ? "cpu" : v1[i]);
		}
	}
	if (!found[0])
		return berr_set(err, 0, "%s is not a cgroup v2 (cgroup2) mount: berth needs the unified cgroup v2 "
				"hierarchy mounted there (mount -t cgroup2 none %s; under systemd boot with "
				"systemd.unified_cgroup_hierarchy=1 on the kernel command line)", mount, mount);
	return berr_set(err, 0, "%s has a cgroup v1 %s layout (%s bound to cgroup v1): berth needs the unified "
			"cgroup v2 hierarchy with cpu, memory and pids; boot with systemd.unified_cgroup_hierarchy=1 "
			"on the kernel command line (and without cgroup_no_v1 exceptions for them)",
			mount, is_dir(mount, "unified") ? "hybrid" : "legacy", found);
}

void cg_info_free(struct cg_info *info)
{
	free(info->controllers);
	info->controllers = NULL;
}

int cg_detect(const char *mount, struct cg_info *out, struct berr **err)
{
	cleanup_free char *ctrls = NULL;
	cleanup_berr struct berr *rerr = NULL;
	struct statfs sfs;
	char missing[64] = "";
	int r;

	memset(out, 0, sizeof(*out));
	if (!fake_fs) {
		if (statfs(mount, &sfs) < 0)
			return berr_set(err, errno, "statfs %s (the cgroup v2 mount)", mount);
		if (sfs.f_type != CGROUP2_SUPER_MAGIC)
			return v1_error(mount, err);
	}
	r = cg_read(mount, "cgroup.controllers", &ctrls, &rerr);
	if (r < 0) {
		/* a fake tree stands for a v1/hybrid host when it has no
		 * cgroup.controllers but per-controller directories */
		if (r == -ENOENT)
			return v1_error(mount, err);
		berr_move(err, &rerr);
		return berr_wrap(err, "detect cgroup v2 at %s", mount);
	}
	out->cpu = has_word(ctrls, "cpu");
	out->memory = has_word(ctrls, "memory");
	out->pids = has_word(ctrls, "pids");
	out->io = has_word(ctrls, "io");
	if (!out->cpu)
		strcat(missing, "cpu");
	if (!out->memory)
		strcat(strcat(missing, missing[0] ? ", " : ""), "memory");
	if (!out->pids)
		strcat(strcat(missing, missing[0] ? ", " : ""), "pids");
	if (missing[0])
		return berr_set(err, 0, "cgroup v2 at %s lacks the %s controller%s (%s/cgroup.controllers has '%s'): "
				"they may still be bound to cgroup v1 - boot with systemd.unified_cgroup_hierarchy=1 "
				"and cgroup_no_v1=all on the kernel command line, and check that the kernel "
				"has them (CONFIG_CGROUP_SCHED, CONFIG_MEMCG, CONFIG_CGROUP_PIDS); or run with "
				"--no-limits to run tasks without limits",
				mount, missing, strchr(missing, ',') ? "s" : "", mount, ctrls);
	out->controllers = steal_pointer(&ctrls);
	return 0;
}

/* ------------------------------------------------------- file access */

int cg_write(const char *cgpath, const char *file, const char *value, struct berr **err)
{
	cleanup_free char *p = fs_path_join(cgpath, file);
	cleanup_close int fd = -1;
	size_t len = strlen(value);
	ssize_t n;

	/* O_TRUNC for the fake tree; cgroupfs ignores it */
	fd = open(p, O_WRONLY | O_CLOEXEC | (fake_fs ? O_TRUNC : 0));
	if (fd < 0)
		return berr_set(err, errno, "write '%s' to %s: open", value, p);
	/* one write(): cgroupfs parses each write as a whole value */
	n = write(fd, value, len);
	if (n < 0)
		return berr_set(err, errno, "write '%s' to %s", value, p);
	if ((size_t)n != len)
		return berr_set(err, EIO, "write '%s' to %s: short write (%zd of %zu bytes)", value, p, n, len);
	return 0;
}

int cg_write_u64(const char *cgpath, const char *file, uint64_t value, struct berr **err)
{
	char buf[32];

	if (value == UINT64_MAX)
		snprintf(buf, sizeof(buf), "max");
	else
		snprintf(buf, sizeof(buf), "%" PRIu64, value);
	return cg_write(cgpath, file, buf, err);
}

int cg_read(const char *cgpath, const char *file, char **out, struct berr **err)
{
	cleanup_free char *p = fs_path_join(cgpath, file);
	cleanup_free char *buf = NULL;
	size_t len;
	int r;

	r = fs_read_file(p, &buf, &len, CG_FILE_MAX, err);
	if (r < 0)
		return r;
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
		buf[--len] = '\0';
	*out = steal_pointer(&buf);
	return 0;
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (strcmp(s, "max") == 0) {
		*out = UINT64_MAX;
		return 0;
	}
	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || (*end && *end != '\n'))
		return -EINVAL;
	*out = v;
	return 0;
}

int cg_read_u64(const char *cgpath, const char *file, uint64_t *out, struct berr **err)
{
	cleanup_free char *s = NULL;
	int r;

	r = cg_read(cgpath, file, &s, err);
	if (r < 0)
		return r;
	if (parse_u64(s, out) < 0)
		return berr_set(err, EINVAL, "read %s/%s: '%s' is not a number", cgpath, file, s);
	return 0;
}

/* look `key` up in flat-keyed content ("key value\n" lines) */
static int key_lookup(const char *content, const char *key, uint64_t *out)
{
	size_t klen = strlen(key);

	for (const char *line = content; line && *line; ) {
		const char *nl = strchr(line, '\n');

		if (strncmp(line, key, klen) == 0 && line[klen] == ' ') {
			char num[32];
			size_t n = (nl ? (size_t)(nl - line) : strlen(line)) - klen - 1;

			if (n == 0 || n >= sizeof(num))
				return -EINVAL;
			memcpy(num, line + klen + 1, n);
			num[n] = '\0';
			return parse_u64(num, out);
		}
		line = nl ? nl + 1 : NULL;
	}
	return -ENOENT;
}

static int key_get(const char *cgpath, const char *file, const char *content, const char *key,
		   uint64_t *out, struct berr **err)
{
	int r = key_lookup(content, key, out);

	if (r == -ENOENT)
		return berr_set(err, ENOENT, "read %s/%s: no key '%s'", cgpath, file, key);
	if (r < 0)
		return berr_set(err, EINVAL, "read %s/%s: value of '%s' is not a number", cgpath, file, key);
	return 0;
}

int cg_read_key(const char *cgpath, const char *file, const char *key, uint64_t *out,
		struct berr **err)
{
	cleanup_free char *s = NULL;
	int r;

	r = cg_read(cgpath, file, &s, err);
	if (r < 0)
		return r;
	return key_get(cgpath, file, s, key, out, err);
}

/* ------------------------------------------------------- hierarchy */

/* every space-separated word of WORDS is in LIST */
static bool all_words(const char *list, const char *words)
{
	cleanup_free char *w = xstrdup(words);
	char *save = NULL;

	for (char *c = strtok_r(w, " ", &save); c; c = strtok_r(NULL, " ", &save))
		if (!has_word(list, c))
			return false;
	return true;
}

/* A cgroup just made: its subtree_control is empty and its parent hands it
 * CONTROLLERS (enabled there first), so one write of "+a +b +c" enables
 * them all - no reads, one cgroup_apply_control in the kernel instead of
 * one per controller. Refused (a parent changed under us, say), the
 * one-by-one path names the controller. */
static int enable_in_new(const char *cgpath, const char *controllers, struct berr **err)
{
	cleanup_berr struct berr *e1 = NULL;
	cleanup_free char *w = xstrdup(controllers);
	cleanup_free char *value = xstrdup("");
	char *save = NULL;

	if (fake_fs)
		return cg_enable_controllers(cgpath, controllers, err);
	for (char *c = strtok_r(w, " ", &save); c; c = strtok_r(NULL, " ", &save)) {
		char *next = xasprintf("%s%s+%s", value, *value ? " " : "", c);

		free(value);
		value = next;
	}
	if (!*value || cg_write(cgpath, "cgroup.subtree_control", value, &e1) == 0)
		return 0;
	return cg_enable_controllers(cgpath, controllers, err);
}

int cg_enable_controllers(const char *cgpath, const char *controllers, struct berr **err)
{
	cleanup_free char *enabled = NULL;
	cleanup_free char *avail = NULL;
	cleanup_free char *list = xstrdup(controllers);
	char *save = NULL;
	int r;

	r = cg_read(cgpath, "cgroup.subtree_control", &enabled, err);
	if (r < 0)
		return r;
	if (all_words(enabled, controllers))
		return 0;   /* the common case (the berth root at each task): one read */
	r = cg_read(cgpath, "cgroup.controllers", &avail, err);
	if (r < 0)
		return r;
	for (char *c = strtok_r(list, " ", &save); c; c = strtok_r(NULL, " ", &save)) {
		char value[64];

		if (has_word(enabled, c))
			continue;
		if (!has_word(avail, c))
			return berr_set(err, ENOENT, "enable controller %s in %s: not in its cgroup.controllers ('%s')",
					c, cgpath, avail);
		/* one controller per write: the error then names the one refused */
		snprintf(value, sizeof(value), "+%s", c);
		r = cg_write(cgpath, "cgroup.subtree_control", value, err);
		if (r < 0)
			return r;
		if (fake_fs) {
			/* the kernel keeps the list itself; the fake tree needs it written back */
			cleanup_free char *next = xasprintf("%s%s%s", enabled, enabled[0] ? " " : "", c);

			r = cg_write(cgpath, "cgroup.subtree_control", next, err);
			if (r < 0)
				return r;
			free(enabled);
			enabled = steal_pointer(&next);
		}
	}
	return 0;
}

/* Fake tree only: give a new directory the interface files the kernel would
 * create, with the controllers its parent's subtree_control enables. */
static int fake_populate(const char *path, struct berr **err)
{
	static const struct { const char *ctrl, *file, *value; } files[] = {
		{ NULL, "cgroup.subtree_control", "" },
		{ NULL, "cgroup.events", "populated 0\nfrozen 0\n" },
		{ NULL, "cgroup.procs", "" },
		{ NULL, "cgroup.kill", "" },
		{ "cpu", "cpu.max", "max 100000\n" },
		{ "cpu", "cpu.weight", "100\n" },
		{ "memory", "memory.max", "max\n" },
		{ "memory", "memory.low", "0\n" },
		{ "memory", "memory.swap.max", "max\n" },
		{ "pids", "pids.max", "max\n" },
		{ "io", "io.weight", "default 100\n" },
	};
	cleanup_free char *parent = xstrdup(path);
	cleanup_free char *ctrls = NULL;
	char *slash = strrchr(parent, '/');
	int r;

	if (slash)
		*slash = '\0';
	r = cg_read(slash ? parent : ".", "cgroup.subtree_control", &ctrls, err);
	if (r < 0)
		return r;
	r = cg_write_file_new(path, "cgroup.controllers", ctrls, err);
	for (size_t i = 0; r == 0 && i < sizeof(files) / sizeof(files[0]); i++)
		if (!files[i].ctrl || has_word(ctrls, files[i].ctrl))
			r = cg_write_file_new(path, files[i].file, files[i].value, err);
	return r;
}

static int cg_mkdir(const char *path, struct berr **err)
{
	if (mkdir(path, 0755) < 0)
		return berr_set(err, errno, "create cgroup %s", path);
	return fake_fs ? fake_populate(path, err) : 0;
}

int cg_task_create(const char *berth_root, const char *task, const char *extra,
		   char **out, struct berr **err)
{
	cleanup_free char *path = NULL;
	cleanup_free char *ctrls = NULL;
	cleanup_berr struct berr *rmerr = NULL;
	int r;

	if (!fs_path_is_safe_relative(task) || strchr(task, '/'))
		return berr_set(err, EINVAL, "task cgroup name '%s': must be one path component", task);
	ctrls = xasprintf("%s%s%s", CG_TASK_CONTROLLERS, extra ? " " : "", extra ? extra : "");
	if (access(berth_root, F_OK) < 0) {
		/* created by us (not delegated): its parent has to hand the
		 * controllers down first */
		cleanup_free char *parent = xstrdup(berth_root);
		char *slash = strrchr(parent, '/');

		if (slash && slash != parent) {
			*slash = '\0';
			r = cg_enable_controllers(parent, ctrls, err);
			if (r < 0)
				return berr_wrap(err, "parent of the berth root");
		}
		r = cg_mkdir(berth_root, err);
		if (r < 0 && r != -EEXIST)
			return berr_wrap(err, "berth root");
	}
	r = cg_enable_controllers(berth_root, ctrls, err);
	if (r < 0)
		return berr_wrap(err, "berth root cgroup");
	path = fs_path_join(berth_root, task);
	r = cg_mkdir(path, err);
	if (r < 0)
		return r;
	r = enable_in_new(path, ctrls, err);
	if (r < 0) {
		cg_remove(path, 0, &rmerr);
		return r;
	}
	*out = steal_pointer(&path);
	return 0;
}

int cg_leaf_create(const char *task_path, const char *leaf, char **out, struct berr **err)
{
	cleanup_free char *path = NULL;
	int r;

	if (!fs_path_is_safe_relative(leaf) || strchr(leaf, '/'))
		return berr_set(err, EINVAL, "container cgroup name '%s': must be one path component", leaf);
	path = fs_path_join(task_path, leaf);
	r = cg_mkdir(path, err);
	if (r < 0)
		return r;
	*out = steal_pointer(&path);
	return 0;
}

void cg_limits_init(struct cg_limits *l)
{
	l->cpu_units = -1;
	l->cpu_weight = CG_UNSET;
	l->memory_max = CG_UNSET;
	l->memory_low = CG_UNSET;
	l->swap_max = CG_UNSET;
	l->pids_max = CG_UNSET;
	l->io_weight = CG_UNSET;
}

int cg_limits_apply(const char *cgpath, const struct cg_limits *l, struct berr **err)
{
	int r;

	if (l->cpu_units >= 0) {
		char buf[64];

		r = cg_cpu_max_from_units(l->cpu_units, buf, sizeof(buf), err);
		if (r < 0)
			return r;
		r = cg_write(cgpath, "cpu.max", buf, err);
		if (r < 0)
			return r;
	}
	if (l->cpu_weight != CG_UNSET && (r = cg_write_u64(cgpath, "cpu.weight", l->cpu_weight, err)) < 0)
		return r;
	/* memory.low before memory.max is fine either way; swap after max */
	if (l->memory_low != CG_UNSET && (r = cg_write_u64(cgpath, "memory.low", l->memory_low, err)) < 0)
		return r;
	if (l->memory_max != CG_UNSET && (r = cg_write_u64(cgpath, "memory.max", l->memory_max, err)) < 0)
		return r;
	if (l->swap_max != CG_UNSET && (r = cg_write_u64(cgpath, "memory.swap.max", l->swap_max, err)) < 0)
		return r;
	if (l->pids_max != CG_UNSET && (r = cg_write_u64(cgpath, "pids.max", l->pids_max, err)) < 0)
		return r;
	if (l->io_weight != CG_UNSET) {
		char buf[48];

		snprintf(buf, sizeof(buf), "default %" PRIu64, l->io_weight);
		r = cg_write(cgpath, "io.weight", buf, err);
		if (r < 0)
			return r;
	}
	return 0;
}

int cg_open_dir(const char *cgpath, struct berr **err)
{
	int fd = open(cgpath, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return berr_set(err, errno, "open cgroup %s", cgpath);
	return fd;
}

int cg_attach(const char *cgpath, pid_t pid, struct berr **err)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%d", (int)pid);
	return cg_write(cgpath, "cgroup.procs", buf, err);
}

/* ------------------------------------------------------------- stats */

struct key_field {
	const char *key;
	size_t off;
};

static int read_keys(const char *cgpath, const char *file, const struct key_field *f, size_t n,
		     struct cg_stats *out, struct berr **err)
{
	cleanup_free char *s = NULL;
	int r;

	r = cg_read(cgpath, file, &s, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		r = key_get(cgpath, file, s, f[i].key, (uint64_t *)((char *)out + f[i].off), err);
		if (r < 0)
			return r;
	}
	return 0;
}

#define KF(k, field) { k, offsetof(struct cg_stats, field) }

int cg_stats_read(const char *cgpath, struct cg_stats *out, struct berr **err)
{
	static const struct key_field cpu[] = {
		KF("usage_usec", cpu_usage_usec), KF("user_usec", cpu_user_usec),
		KF("system_usec", cpu_system_usec), KF("nr_periods", cpu_nr_periods),
		KF("nr_throttled", cpu_nr_throttled), KF("throttled_usec", cpu_throttled_usec),
	};
	static const struct key_field mem[] = {
		KF("anon", mem_anon), KF("file", mem_file), KF("kernel", mem_kernel),
		KF("sock", mem_sock), KF("shmem", mem_shmem), KF("pgfault", mem_pgfault),
		KF("pgmajfault", mem_pgmajfault),
	};
	static const struct key_field events[] = { KF("oom", mem_oom), KF("oom_kill", mem_oom_kill) };
	cleanup_berr struct berr *perr = NULL;
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = read_keys(cgpath, "cpu.stat", cpu, sizeof(cpu) / sizeof(cpu[0]), out, err)) < 0 ||
	    (r = cg_read_u64(cgpath, "memory.current", &out->mem_current, err)) < 0 ||
	    (r = read_keys(cgpath, "memory.stat", mem, sizeof(mem) / sizeof(mem[0]), out, err)) < 0 ||
	    (r = read_keys(cgpath, "memory.events", events, 2, out, err)) < 0 ||
	    (r = cg_read_u64(cgpath, "pids.current", &out->pids_current, err)) < 0 ||
	    (r = cg_read_u64(cgpath, "pids.max", &out->pids_max, err)) < 0)
		return r;
	/* memory.peak is Linux 5.19+ */
	r = cg_read_u64(cgpath, "memory.peak", &out->mem_peak, &perr);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return berr_move(err, &perr);
	out->has_peak = true;
	return 0;
}

int cg_oom_kills(const char *cgpath, uint64_t *out, struct berr **err)
{
	return cg_read_key(cgpath, "memory.events", "oom_kill", out, err);
}

/* ----------------------------------------------------- stop and removal */

int cg_kill(const char *cgpath, struct berr **err)
{
	return cg_write(cgpath, "cgroup.kill", "1", err);
}

int cg_populated(const char *cgpath, struct berr **err)
{
	uint64_t v;
	int r;

	r = cg_read_key(cgpath, "cgroup.events", "populated", &v, err);
	if (r < 0)
		return r;
	return v != 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int cg_events_open(const char *cgpath, const char *file, struct berr **err)
{
	cleanup_free char *p = fs_path_join(cgpath, file);
	int fd = open(p, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return berr_set(err, errno, "open %s", p);
	return fd;
}

int cg_events_read(int fd, const char *key, uint64_t *out, struct berr **err)
{
	cleanup_free char *buf = NULL;
	int r;

	if (lseek(fd, 0, SEEK_SET) < 0) {
		cleanup_free char *name = fs_fd_name(fd);

		return berr_set(err, errno, "rewind %s", name);
	}
	r = fs_read_all(fd, &buf, NULL, CG_FILE_MAX, err);
	if (r < 0)
		return r;
	r = key_lookup(buf, key, out);
	if (r < 0) {
		cleanup_free char *name = fs_fd_name(fd);

		return berr_set(err, -r, "read %s: %s '%s'", name,
				r == -ENOENT ? "no key" : "no number for key", key);
	}
	return 0;
}

int cg_wait_empty(const char *cgpath, int timeout_ms, struct berr **err)
{
	cleanup_free char *p = fs_path_join(cgpath, "cgroup.events");
	cleanup_close int fd = -1;
	int64_t deadline = now_ms() + timeout_ms;

	fd = cg_events_open(cgpath, "cgroup.events", err);
	if (fd < 0)
		return fd;
	for (;;) {
		uint64_t v;
		struct pollfd pfd = { .fd = fd, .events = POLLPRI };
		int64_t left;
		int r;

		r = cg_events_read(fd, "populated", &v, err);
		if (r < 0)
			return r;
		if (v == 0)
			return 0;
		left = deadline - now_ms();
		if (left <= 0)
			return berr_set(err, ETIMEDOUT, "wait for populated 0 in %s (still 1 after %d ms)",
					p, timeout_ms);
		/* the kernel raises POLLPRI on each change of cgroup.events; the
		 * 100 ms cap only guards against a missed wake-up */
		r = poll(&pfd, 1, left < 100 ? (int)left : 100);
		if (r < 0 && errno != EINTR)
			return berr_set(err, errno, "poll %s", p);
	}
}

/* rmdir with retries on EBUSY until deadline */
static int rmdir_retry(int parentfd, const char *name, const char *path, int64_t deadline,
		       struct berr **err)
{
	for (;;) {
		if (unlinkat(parentfd, name, AT_REMOVEDIR) == 0 || errno == ENOENT)
			return 0;
		if (errno != EBUSY || now_ms() >= deadline)
			return berr_set(err, errno, "remove cgroup %s", path);
		usleep(10000);
	}
}

static int remove_tree(int parentfd, const char *name, const char *path, int64_t deadline,
		       struct berr **err)
{
	cleanup_closedir DIR *d = NULL;
	struct dirent *de;
	int fd;

	fd = openat(parentfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		return berr_set(err, errno, "open cgroup %s", path);
	}
	d = fdopendir(fd);
	if (!d) {
		int e = errno;

		close(fd);
		return berr_set(err, e, "read cgroup %s", path);
	}
	while ((de = readdir(d))) {
		cleanup_free char *sub = NULL;
		int r;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (de->d_type == DT_DIR) {
			sub = fs_path_join(path, de->d_name);
			r = remove_tree(dirfd(d), de->d_name, sub, deadline, err);
			if (r < 0)
				return r;
		} else if (fake_fs && unlinkat(dirfd(d), de->d_name, 0) < 0) {
			return berr_set(err, errno, "remove %s/%s (fake cgroup tree)", path, de->d_name);
		}
	}
	return rmdir_retry(parentfd, name, path, deadline, err);
}

int cg_remove(const char *cgpath, int timeout_ms, struct berr **err)
{
	return remove_tree(AT_FDCWD, cgpath, cgpath, now_ms() + timeout_ms, err);
}

int cg_destroy(const char *cgpath, int timeout_ms, struct berr **err)
{
	int r;

	if (access(cgpath, F_OK) < 0 && errno == ENOENT)
		return 0;
	r = cg_kill(cgpath, err);
	if (r < 0)
		return r;
	r = cg_wait_empty(cgpath, timeout_ms, err);
	if (r < 0)
		return r;
	return cg_remove(cgpath, timeout_ms, err);
}
