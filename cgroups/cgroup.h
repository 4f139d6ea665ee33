/* cgroups/cgroup.h - cgroup v2: detection, unit conversions, cgroupfs operations.
 *
 * Layout: BERTH_ROOT/TASK/LEAF, one leaf per container; processes live only in
 * leaves, inner nodes hand controllers down through cgroup.subtree_control.
 * Every operation takes a path, so unit tests run against a fake tree of
 * regular files (cg_set_fake_fs). Errors name the cgroup file and the value.
 */
#ifndef BERTH_CGROUPS_CGROUP_H
#define BERTH_CGROUPS_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"

#define CG_DEFAULT_MOUNT "/sys/fs/cgroup"
#define CG_CPU_PERIOD_US 100000ULL
/* the kernel refuses a cpu.max quota below 1 ms */
#define CG_CPU_MIN_QUOTA_US 1000ULL
#define CG_SHARES_MIN 2ULL
#define CG_SHARES_MAX 262144ULL

/* ------------------------------------------------------------ detection */

struct cg_info {
	bool cpu, memory, pids, io;   /* available at the mount's root */
	char *controllers;            /* cgroup.controllers, trimmed; xmalloc'd */
};

/* Check that `mount` is a cgroup2 filesystem (statfs magic) whose root offers
 * cpu, memory and pids (io optional). Failures say what is missing and how to
 * fix it: a v1 or hybrid layout (a tmpfs with cpu/, memory/ directories) or a
 * missing controller. Fill *out (free with cg_info_free). */
int cg_detect(const char *mount, struct cg_info *out, struct berr **err);
void cg_info_free(struct cg_info *info);

/* Tests only: treat the tree as a fake cgroupfs of regular files: skip the
 * filesystem magic check, and let cg_remove unlink the interface files that
 * a real cgroupfs removes by itself. */
void cg_set_fake_fs(bool on);

/* ----------------------------------------------------- unit conversions */

/* ECS task cpu units -> cpu.max "QUOTA PERIOD": units/1024 CPUs per 100 ms
 * period. 0 means no limit ("max 100000"). Negative or overflowing: -EINVAL. */
int cg_cpu_max_from_units(int64_t units, char *buf, size_t len, struct berr **err);

/* ECS container cpu (shares) with its rules: unset (have == false), 0 or 1
 * give 2; larger values are capped at 262144. */
uint64_t cg_cpu_shares_normalize(bool have, int64_t shares);

/* cgroup v1 shares -> cgroup v2 cpu.weight, runc's mapping:
 * 1 + ((shares - 2) * 9999) / 262142 (2 -> 1, 262144 -> 10000). Shares are
 * clamped to [2, 262144] first. */
uint64_t cg_cpu_weight_from_shares(uint64_t shares);

/* MiB -> bytes for memory.max / memory.low. Negative or overflowing: -EINVAL
 * naming `what` (the task definition field). */
int cg_mib_to_bytes(int64_t mib, const char *what, uint64_t *out, struct berr **err);

/* memory.swap.max in bytes from ECS linuxParameters maxSwap (MiB, -1 = unset)
 * and swappiness (0..100, -1 = unset). Unset maxSwap gives 0 (no swap, as
 * berth's default); swappiness 0 gives 0 too (cgroup v2 has no per-cgroup
 * swappiness: "never swap" is expressed as no swap). Out of range: -EINVAL. */
int cg_swap_max_bytes(int64_t max_swap_mib, int swappiness, uint64_t *out,
		      struct berr **err);

/* ----------------------------------------------------- cgroupfs operations */

/* Write `value` to PATH/FILE. "write '50000 100000' to /x/cpu.max: ..." */
int cg_write(const char *cgpath, const char *file, const char *value, struct berr **err);
int cg_write_u64(const char *cgpath, const char *file, uint64_t value, struct berr **err);
/* Read PATH/FILE (trailing newline dropped) into an xmalloc'd string. */
int cg_read(const char *cgpath, const char *file, char **out, struct berr **err);
/* Read a single number, or "max" (gives UINT64_MAX). */
int cg_read_u64(const char *cgpath, const char *file, uint64_t *out, struct berr **err);
/* Value of `key` in a flat-keyed file (cpu.stat, memory.stat, memory.events,
 * cgroup.events). -ENOENT (with an error naming the key) when absent. */
int cg_read_key(const char *cgpath, const char *file, const char *key, uint64_t *out,
		struct berr **err);

/* Add the controllers named in `controllers` ("cpu memory pids") to
 * PATH/cgroup.subtree_control, skipping those already enabled. */
int cg_enable_controllers(const char *cgpath, const char *controllers, struct berr **err);

/* The controllers every task needs; io is added when available. */
#define CG_TASK_CONTROLLERS "cpu memory pids"

/* mkdir BERTH_ROOT/TASK (the berth root is created when missing) and enable
 * cpu, memory, pids (plus `extra`, may be NULL) in the berth root and the
 * task cgroup, so their leaves get them. Returns the task path in *out. An
 * existing task cgroup is -EEXIST. */
int cg_task_create(const char *berth_root, const char *task, const char *extra,
		   char **out, struct berr **err);
/* mkdir TASKPATH/LEAF; the leaf path in *out. */
int cg_leaf_create(const char *task_path, const char *leaf, char **out, struct berr **err);

/* Limits for one cgroup; a field left at CG_UNSET is not written. */
#define CG_UNSET UINT64_MAX
struct cg_limits {
	int64_t cpu_units;      /* -> cpu.max; < 0 = unset */
	uint64_t cpu_weight;    /* -> cpu.weight */
	uint64_t memory_max;    /* bytes -> memory.max */
	uint64_t memory_low;    /* bytes -> memory.low */
	uint64_t swap_max;      /* bytes -> memory.swap.max */
	uint64_t pids_max;      /* -> pids.max */
	uint64_t io_weight;     /* -> io.weight ("default N") */
};
/* Every field unset. */
void cg_limits_init(struct cg_limits *l);
int cg_limits_apply(const char *cgpath, const struct cg_limits *l, struct berr **err);

/* Open the cgroup directory for clone3(CLONE_INTO_CGROUP): O_RDONLY |
 * O_DIRECTORY | O_CLOEXEC. Returns the fd. */
int cg_open_dir(const char *cgpath, struct berr **err);

/* Move pid into the cgroup (cgroup.procs). CLONE_INTO_CGROUP is the launch
 * path; this is for tools and tests. */
int cg_attach(const char *cgpath, pid_t pid, struct berr **err);

struct cg_stats {
	/* cpu.stat */
	uint64_t cpu_usage_usec, cpu_user_usec, cpu_system_usec;
	uint64_t cpu_nr_periods, cpu_nr_throttled, cpu_throttled_usec;
	/* memory.current, memory.peak (absent before Linux 5.19: has_peak false) */
	uint64_t mem_current, mem_peak;
	bool has_peak;
	/* memory.stat: selected keys */
	uint64_t mem_anon, mem_file, mem_kernel, mem_sock, mem_shmem;
	uint64_t mem_pgfault, mem_pgmajfault;
	/* memory.events */
	uint64_t mem_oom, mem_oom_kill;
	/* pids.current, pids.max (UINT64_MAX for "max") */
	uint64_t pids_current, pids_max;
};
/* One call for every consumer (metadata /stats, berth stats, autoscaling). */
int cg_stats_read(const char *cgpath, struct cg_stats *out, struct berr **err);

/* oom_kill count from memory.events. */
int cg_oom_kills(const char *cgpath, uint64_t *out, struct berr **err);

/* Open PATH/FILE (memory.events, cgroup.events) to watch it: the kernel
 * raises POLLPRI (and POLLERR) on the fd at every change, so an event loop
 * polls it instead of polling the file. Returns the fd (O_CLOEXEC). */
int cg_events_open(const char *cgpath, const char *file, struct berr **err);
/* Re-read such an fd from the start and give the value of `key`. */
int cg_events_read(int fd, const char *key, uint64_t *out, struct berr **err);

/* Write 1 to cgroup.kill (SIGKILL every process of the subtree). */
int cg_kill(const char *cgpath, struct berr **err);

/* 1 when cgroup.events says populated 1, 0 when 0. */
int cg_populated(const char *cgpath, struct berr **err);

/* Wait until cgroup.events says populated 0: poll(POLLPRI) on the file, which
 * the kernel signals on every change (re-read at least every 100 ms in case a
 * change is missed). -ETIMEDOUT after timeout_ms. */
int cg_wait_empty(const char *cgpath, int timeout_ms, struct berr **err);

/* Remove the cgroup and every cgroup under it, deepest first, retrying rmdir
 * on EBUSY for up to timeout_ms (processes just killed take a moment to
 * leave). A missing cgroup is success. */
int cg_remove(const char *cgpath, int timeout_ms, struct berr **err);

/* cg_kill, cg_wait_empty, cg_remove: what stopping a task does. */
int cg_destroy(const char *cgpath, int timeout_ms, struct berr **err);

#endif
