/* runtime/daemon/stats.c - a task's resource use from its cgroups and its
 * network namespace (stats.h). */
#include "runtime/daemon/stats.h"

#include "cgroups/cgroup.h"
#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/json.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "runtime/daemon/daemon.h"
#include "runtime/shim/shimclient.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define NET_DEV_MAX (1u << 20)

/* ------------------------------------------------------------ cgroups */

/* cg_read of dir/file: 1 read, 0 absent, <0 error. */
static int read_opt(const char *dir, const char *file, char **out, struct berr **err)
{
	int r = cg_read(dir, file, out, err);

	if (r == -ENOENT) {
		berr_clear(err);
		return 0;
	}
	return r < 0 ? r : 1;
}

/* A number or "max" (STATS_UNLIMITED). */
static int parse_value(const char *dir, const char *file, const char *s, uint64_t *out,
		       struct berr **err)
{
	char *end = NULL;
	unsigned long long v;

	if (!strcmp(s, "max")) {
		*out = STATS_UNLIMITED;
		return 0;
	}
	errno = 0;
	v = strtoull(s, &end, 10);
	if (!isdigit((unsigned char)*s) || errno || !end || *end)
		return berr_set(err, EINVAL, "read %s/%s: \"%s\" is not a number", dir, file,
				berr_q(s));
	*out = v;
	return 0;
}

static int read_value(const char *dir, const char *file, bool *have, uint64_t *out,
		      struct berr **err)
{
	cleanup_free char *s = NULL;
	int r = read_opt(dir, file, &s, err);

	*have = false;
	if (r <= 0)
		return r;
	if ((r = parse_value(dir, file, s, out, err)) < 0)
		return r;
	*have = true;
	return 1;
}

/* cpu.stat: usage_usec is required; the others are there when the cpu
 * controller is enabled (throttled_usec) or kept at 0. */
static int read_cpu_stat(const char *dir, struct stats_cgroup *out, struct berr **err)
{
	static const struct {
		const char *key;
		size_t off;
	} keys[] = {
		{ "usage_usec", offsetof(struct stats_cgroup, cpu_usage_usec) },
		{ "user_usec", offsetof(struct stats_cgroup, cpu_user_usec) },
		{ "system_usec", offsetof(struct stats_cgroup, cpu_system_usec) },
		{ "throttled_usec", offsetof(struct stats_cgroup, cpu_throttled_usec) },
	};
	cleanup_free char *s = NULL;
	bool usage = false;
	char *save = NULL;
	int r = read_opt(dir, "cpu.stat", &s, err);

	if (r <= 0)
		return r;
	for (char *line = strtok_r(s, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *sp = strchr(line, ' ');

		if (!sp)
			return berr_set(err, EINVAL, "read %s/cpu.stat: line \"%s\" is not \"KEY "
					"VALUE\"", dir, berr_q(line));
		*sp = 0;
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
			if (strcmp(line, keys[i].key))
				continue;
			if ((r = parse_value(dir, "cpu.stat", sp + 1,
					     (uint64_t *)((char *)out + keys[i].off), err)) < 0)
				return r;
			usage |= i == 0;
		}
	}
	if (!usage)
		return berr_set(err, EINVAL, "read %s/cpu.stat: no usage_usec", dir);
	out->have_cpu = true;
	return 1;
}

int stats_read_cgroup(const char *dir, struct stats_cgroup *out, struct berr **err)
{
	struct stat st;
	int r;

	memset(out, 0, sizeof(*out));
	if (stat(dir, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		return berr_set(err, errno, "cgroup %s", dir);
	}
	if (!S_ISDIR(st.st_mode))
		return berr_set(err, ENOTDIR, "cgroup %s", dir);
	if ((r = read_cpu_stat(dir, out, err)) < 0 ||
	    (r = read_value(dir, "memory.current", &out->have_memory, &out->memory_current,
			    err)) < 0 ||
	    (r = read_value(dir, "memory.max", &out->have_memory_max, &out->memory_max, err)) < 0 ||
	    (r = read_value(dir, "memory.peak", &out->have_memory_peak, &out->memory_peak,
			    err)) < 0 ||
	    (r = read_value(dir, "pids.current", &out->have_pids, &out->pids_current, err)) < 0 ||
	    (r = read_value(dir, "pids.max", &out->have_pids_max, &out->pids_max, err)) < 0)
		return r;
	return 1;
}

/* ------------------------------------------------------------ network */

int stats_read_net_dev(const char *path, uint64_t *rx, uint64_t *tx, struct berr **err)
{
	cleanup_free char *buf = NULL;
	char *save = NULL, *line;
	size_t len = 0;
	int r, n = 0;

	*rx = *tx = 0;
	r = fs_read_file(path, &buf, &len, NET_DEV_MAX, err);
	if (r == -ENOENT) {
		berr_clear(err);
		return 0;
	}
	if (r < 0)
		return r;
	if (memchr(buf, 0, len))
		return berr_set(err, EINVAL, "%s: not a net/dev file (a NUL byte)", path);
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		unsigned long long v[16];
		char *colon, *name, *p;
		int k;

		/* two header lines: "Inter-|   Receive ..." and " face |bytes ..." */
		if (++n <= 2) {
			if (!strchr(line, '|'))
				return berr_set(err, EINVAL, "%s: line %d: not the net/dev header", path, n);
			continue;
		}
		colon = strchr(line, ':');
		if (!colon)
			return berr_set(err, EINVAL, "%s: line %d: no \"NAME:\"", path, n);
		*colon = 0;
		for (name = line; *name == ' '; name++)
			;
		p = colon + 1;
		for (k = 0; k < 16; k++) {
			char *end = NULL;

			while (*p == ' ')
				p++;
			errno = 0;
			v[k] = strtoull(p, &end, 10);
			if (!isdigit((unsigned char)*p) || errno || end == p)
				break;
			p = end;
		}
		if (k < 16)
			return berr_set(err, EINVAL, "%s: line %d (%s): expected 16 counters, found %d",
					path, n, name, k);
		if (!strcmp(name, "lo"))
			continue;
		*rx += v[0];
		*tx += v[8];
	}
	if (n < 2)
		return berr_set(err, EINVAL, "%s: not a net/dev file (no header)", path);
	return 1;
}

uint64_t stats_host_memory(void)
{
	cleanup_free char *buf = NULL;
	cleanup_berr struct berr *e = NULL;
	unsigned long long kib = 0;
	size_t len = 0;
	const char *p;

	if (fs_read_file("/proc/meminfo", &buf, &len, 1u << 20, &e) < 0)
		return 0;
	p = strstr(buf, "MemTotal:");
	if (!p || sscanf(p, "MemTotal: %llu kB", &kib) != 1)
		return 0;
	return (uint64_t)kib * 1024;
}

/* ------------------------------------------------------------ a task */

static void set_u64(json_t *o, const char *key, uint64_t v)
{
	json_object_set_new(o, key, json_integer(v > (uint64_t)INT64_MAX ? INT64_MAX : (json_int_t)v));
}

/* The figures of one cgroup into o. `fallback`: the limit that applies when
 * this cgroup has none of its own (the task's, then the host's). Returns
 * the effective memory limit (0: unknown). */
static uint64_t put_cgroup(json_t *o, const struct stats_cgroup *c, uint64_t fallback)
{
	uint64_t limit = fallback;

	if (c->have_cpu) {
		set_u64(o, "cpuUsageUsec", c->cpu_usage_usec);
		set_u64(o, "cpuUserUsec", c->cpu_user_usec);
		set_u64(o, "cpuSystemUsec", c->cpu_system_usec);
		set_u64(o, "cpuThrottledUsec", c->cpu_throttled_usec);
	}
	if (c->have_memory)
		set_u64(o, "memoryUsage", c->memory_current);
	if (c->have_memory_max && c->memory_max != STATS_UNLIMITED) {
		set_u64(o, "memoryMax", c->memory_max);
		if (!limit || c->memory_max < limit)
			limit = c->memory_max;
	}
	if (limit)
		set_u64(o, "memoryLimit", limit);
	if (c->have_memory_peak)
		set_u64(o, "memoryPeak", c->memory_peak);
	if (c->have_pids)
		set_u64(o, "pids", c->pids_current);
	if (c->have_pids_max && c->pids_max != STATS_UNLIMITED)
		set_u64(o, "pidsMax", c->pids_max);
	return limit;
}

static const char *str(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

/* A process of the task that is in a network namespace of its own: the
 * pid of a RUNNING container from the shim's status.json. 0: none (not
 * running, host network, no status yet). */
static pid_t netns_pid(const struct berthd *d, const char *id)
{
	cleanup_free char *bundle = xasprintf("%s/%s", d->cfg.run_dir, id);
	cleanup_berr struct berr *e = NULL;
	cleanup_json json_t *snap = NULL;
	struct stat self, other;
	uint64_t seq = 0;
	json_t *c;
	size_t i;

	if (shimc_read_status(bundle, &seq, &snap, &e) <= 0)
		return 0;
	if (stat("/proc/self/ns/net", &self) < 0)
		return 0;
	json_array_foreach(json_object_get(snap, "containers"), i, c) {
		json_int_t pid = json_integer_value(json_object_get(c, "pid"));
		char path[64];

		if (pid <= 1 || strcmp(str(c, "lastStatus") ?: "", "RUNNING"))
			continue;
		snprintf(path, sizeof(path), "/proc/%lld/ns/net", (long long)pid);
		if (stat(path, &other) < 0)
			continue;
		/* networkMode host: berthd's own namespace, not the task's */
		if (other.st_ino == self.st_ino && other.st_dev == self.st_dev)
			return 0;
		return (pid_t)pid;
	}
	return 0;
}

json_t *stats_task(const struct berthd *d, const json_t *task, double now)
{
	const char *arn = str(task, "taskArn") ?: "";
	const char *slash = strrchr(arn, '/');
	const char *id = slash ? slash + 1 : arn;
	cleanup_free char *dir = fs_path_join(d->cfg.cgroup_root, id);
	json_t *out = json_pack("{s:s, s:s, s:s, s:f}", "taskArn", arn,
				"clusterArn", str(task, "clusterArn") ?: "",
				"lastStatus", str(task, "lastStatus") ?: "", "time", now);
	json_t *ctrs = json_array(), *c;
	struct stats_cgroup tc;
	uint64_t host = stats_host_memory(), task_limit = host;
	cleanup_berr struct berr *err = NULL;
	/* a stopped task's cgroup is gone: its containers, no figures */
	bool live = *id && !strchr(id, '/') && strcmp(id, ".") && strcmp(id, "..") &&
		    strcmp(str(task, "lastStatus") ?: "", "STOPPED");
	size_t i;
	pid_t pid = 0;
	int r = 0;

	if (live)
		r = stats_read_cgroup(dir, &tc, &err);
	if (r < 0) {
		log_warn("stats of task %s: %s", id, berr_msg(err));
		berr_clear(&err);
	} else if (r > 0) {
		task_limit = put_cgroup(out, &tc, host);
	}
	if (live)
		pid = netns_pid(d, id);
	if (pid > 0) {
		char path[64];
		uint64_t rx, tx;

		snprintf(path, sizeof(path), "/proc/%d/net/dev", (int)pid);
		if (stats_read_net_dev(path, &rx, &tx, &err) > 0) {
			set_u64(out, "networkRxBytes", rx);
			set_u64(out, "networkTxBytes", tx);
		}
		berr_clear(&err);
	}
	json_array_foreach(json_object_get(task, "containers"), i, c) {
		const char *name = str(c, "name");
		json_t *o;

		if (!name || !*name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, ".."))
			continue;
		o = json_pack("{s:s, s:s}", "name", name, "lastStatus", str(c, "lastStatus") ?: "");
		json_array_append_new(ctrs, o);
		if (live) {
			cleanup_free char *leaf = fs_path_join(dir, name);
			struct stats_cgroup cc;

			r = stats_read_cgroup(leaf, &cc, &err);
			if (r < 0) {
				log_warn("stats of task %s, container %s: %s", id, name, berr_msg(err));
				berr_clear(&err);
			} else if (r > 0) {
				put_cgroup(o, &cc, task_limit);
			}
		}
	}
	json_object_set_new(out, "containers", ctrs);
	return out;
}
