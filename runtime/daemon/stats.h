/* runtime/daemon/stats.h - a task's resource use as GetTaskStats reports it.
 *
 * The figures come from the task's cgroups, <cgroupRoot>/<task id>/ and one
 * leaf per container, <cgroupRoot>/<task id>/<container name>/ (cgroups/,
 * runtime/shim/taskrun.c), and from the task's network namespace
 * (/proc/<pid>/net/dev of one of its container processes, the pid as the
 * shim's status.json gives it). Everything is read-only. The readers take
 * paths, so the unit tests point them at a fake tree under /tmp.
 *
 * stats_cpu_percent is here as an inline function so that the berth CLI,
 * which computes CPU% from two samples, and the unit tests share it
 * without the CLI linking berthd's library. */
#ifndef BERTH_RUNTIME_DAEMON_STATS_H
#define BERTH_RUNTIME_DAEMON_STATS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"

struct berthd;

/* One cgroup's figures. A file that does not exist leaves its have_ flag
 * false (memory.peak is Linux 5.19+; a controller may not be enabled);
 * "max" limits are STATS_UNLIMITED. */
#define STATS_UNLIMITED UINT64_MAX
struct stats_cgroup {
	bool have_cpu;             /* cpu.stat */
	uint64_t cpu_usage_usec, cpu_user_usec, cpu_system_usec, cpu_throttled_usec;
	bool have_memory;          /* memory.current */
	uint64_t memory_current;
	bool have_memory_max;      /* memory.max */
	uint64_t memory_max;
	bool have_memory_peak;     /* memory.peak */
	uint64_t memory_peak;
	bool have_pids;            /* pids.current */
	uint64_t pids_current;
	bool have_pids_max;        /* pids.max */
	uint64_t pids_max;
};

/* Read the cgroup directory `dir`: 1 read (some files may be missing), 0
 * when the directory does not exist, negative when a file cannot be read
 * or does not hold what it should (the error names the file). */
int stats_read_cgroup(const char *dir, struct stats_cgroup *out, struct berr **err);

/* The bytes received and sent on every interface but lo, from a file in
 * /proc/<pid>/net/dev's format: 1 read, 0 when the file does not exist,
 * negative when it is not in that format. */
int stats_read_net_dev(const char *path, uint64_t *rx, uint64_t *tx, struct berr **err);

/* MemTotal of /proc/meminfo in bytes, 0 when unknown. */
uint64_t stats_host_memory(void);

/* The GetTaskStats entry of one task (its stored document): taskArn,
 * clusterArn, lastStatus, time, the task cgroup's figures, network, and
 * one entry per container of the document (docs/berthd.md). */
json_t *stats_task(const struct berthd *d, const json_t *task, double now);

/* CPU use between two samples in percent of one CPU (200: two CPUs busy):
 * the growth of usage_usec over the wall time between them. 0 when the
 * time did not advance or the counter went back (a new cgroup). */
static inline double stats_cpu_percent(uint64_t usage0, double t0, uint64_t usage1, double t1)
{
	double wall = t1 - t0;

	if (!(wall > 0) || usage1 < usage0)
		return 0;
	return (double)(usage1 - usage0) / (wall * 1e6) * 100.0;
}

#endif
