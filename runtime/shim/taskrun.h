/* runtime/shim/taskrun.h - run one task to completion in this process.
 *
 * This is `berth run`'s supervisor (and the core the per-task shim will
 * wrap): it sets the task up (images, ephemeral storage, one overlay root
 * per container, cgroups, the task's network and IPC namespaces, generated
 * /etc files), starts the containers in dependsOn order, runs their health
 * checks, restarts them by their restartPolicy, relays their output with
 * their name as prefix and into their log files, stops the task when an
 * essential container exits or a stop is asked for (reverse dependency
 * order, stop signal, SIGKILL after stopTimeout), and tears everything
 * down again, on every path, errors included.
 *
 * The caller must be single-threaded (the launcher changes the process's
 * namespaces for children around clone). trun_run() moves the process into a mount namespace of
 * its own (a slave of the host's), so every mount it makes disappears with
 * it whatever happens. */
#ifndef BERTH_RUNTIME_SHIM_TASKRUN_H
#define BERTH_RUNTIME_SHIM_TASKRUN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "common/error.h"
#include "netns/tasknet.h"
#include "runtime/task/task.h"

enum trun_storage {
	TRUN_STORAGE_LOOP,     /* Fargate-like: a sized ext4 volume per task (default) */
	TRUN_STORAGE_TMPFS,    /* a tmpfs of the same size: fast, but held in memory */
};

struct trun_opts {
	const char *root;          /* state root; the image store is <root>/images */
	const char *run_dir;       /* per-task state: <run_dir>/<task id>/ */
	const char *log_dir;       /* <log_dir>/<task id>/<container>.log; NULL: no files */
	const char *cgroup_root;   /* berth's cgroup (absolute cgroupfs path) */
	bool no_limits;            /* run without cgroups; the task is marked so */
	enum trun_storage storage;
	uint64_t pids_max;         /* pids.max of every task */
	const char *task_id;       /* NULL: a random 32-hex id */
	bool quiet;                /* do not echo container output */
	FILE *out, *err;           /* where container stdout/stderr lines go (prefixed) */
	/* Override the definition's networkMode. */
	bool net_override;
	enum task_network_mode net_mode;
	/* awsvpc and bridge: the network configuration (bridge, subnet,
	 * security groups, state directory); NULL: those modes fail with an
	 * error that says so. */
	const struct netns_config *net;
	/* awsvpc: RunTask's awsvpcConfiguration.securityGroups; none: "default" */
	const char *const *security_groups;
	size_t n_security_groups;
	/* Directory relative environmentFiles paths start from (the task
	 * definition's directory); NULL: the current directory. */
	const char *env_file_base;
	/* Extra environment for every container ("K=V"), may be NULL. */
	const char *const *extra_env;
	/* Stop when this fd becomes readable (tests, the shim); -1: none. */
	int stop_fd;
};

void trun_opts_init(struct trun_opts *o);

struct trun_container_result {
	char *name;
	bool essential;
	bool started;
	int exit_code;             /* -1: never exited / never started */
	char *reason;              /* ECS container reason, or NULL */
	const char *health;        /* HEALTHY, UNHEALTHY, UNKNOWN */
	int restarts;
};

struct trun_result {
	char task_id[64];
	int exit_code;             /* the essential container's exit code */
	bool have_exit_code;       /* false: the task failed before any essential container ran */
	const char *stop_code;     /* EssentialContainerExited, UserInitiated, TaskFailedToStart */
	char *stopped_reason;
	bool limits;               /* false: ran with --no-limits */
	char ipv4[16];             /* awsvpc/bridge: the task's address ("" otherwise) */
	struct netns_binding *bindings;   /* bridge mode: networkBindings */
	size_t n_bindings;
	struct trun_container_result *containers;
	size_t n_containers;
};

/* Run the task. Returns 0 when the task ran (whatever its exit code; see
 * res), negative with *err when it could not be set up or started (res
 * still tells which container failed and why, with stop_code
 * TaskFailedToStart). Everything set up is gone when it returns. */
int trun_run(const struct task_def *td, const struct trun_opts *o, struct trun_result *res,
	     struct berr **err);
void trun_result_free(struct trun_result *res);

#endif
