/* runtime/shim/taskrun.h - run one task to completion in this process.
 *
 * This is `berth run`'s supervisor (and the core berth-shim
 * wraps): it sets the task up (images, ephemeral storage, one overlay root
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
#include <sys/types.h>

#include "common/error.h"
#include "netns/tasknet.h"
#include "rootfs/pull.h"
#include "runtime/task/task.h"

struct trun_state;
/* The running task, as on_attach hands it to the hooks (trun_exec). */
struct trun;

/* Container log rotation when logConfiguration does not say (json-file's
 * max-size / max-file do): 10 MiB per file, 5 files (NAME.log, .1 ... .4). */
#define TRUN_LOG_MAX_BYTES (INT64_C(10) << 20)
#define TRUN_LOG_MAX_FILES 5

/* An image pull (the berth CLI as a child process) that takes longer is
 * killed: ECS agent's ECS_IMAGE_PULL_TIMEOUT default. */
#define TRUN_PULL_TIMEOUT_MS (INT64_C(2) * 3600 * 1000)

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
	/* Extra environment per container, indexed as the definition's
	 * containerDefinitions (each NULL-terminated, or NULL), set after
	 * extra_env; NULL: none. The shim's endpoint variables
	 * (ECS_CONTAINER_METADATA_URI_V4, ...). */
	const char *const *const *container_env;
	/* Stop when this fd becomes readable (tests, the shim); -1: none. */
	int stop_fd;

	/* Images (docs/images.md, "Pulls at task start"). A container's image
	 * that is not in the store (pull_policy IF_NOT_PRESENT, the default),
	 * or every image (ALWAYS), is pulled before anything else is set up,
	 * by the berth CLI as a child process:
	 *   BERTH --root ROOT image pull --progress json --policy POLICY
	 *         [--insecure-registry R]... [--credentials F] [--docker-config F]
	 *         [--repository-credentials P] -- IMAGE
	 * so that this process never loads libcurl. The images of a task are
	 * pulled at the same time (one child per distinct image), the child is
	 * killed when the task is stopped meanwhile or after pull_timeout_ms;
	 * a failure stops the task with TaskFailedToStart and a stoppedReason
	 * "CannotPullContainerError: ...". NEVER: only the store's images. */
	enum rootfs_pull_policy pull_policy;
	const char *berth_path;    /* NULL: "berth" in the directory of /proc/self/exe */
	const char *const *insecure_registries;   /* NULL-terminated, or NULL */
	const char *registry_credentials;   /* berth's credentials file; NULL: berth's default */
	const char *docker_config;          /* a docker config.json, "none"; NULL: berth's default */
	int64_t pull_timeout_ms;            /* 0: TRUN_PULL_TIMEOUT_MS */
	/* awsvpc and bridge tasks: the nameserver of their /etc/resolv.conf
	 * (berthd's DNS responder on the bridge, docs/networking.md), with the
	 * host's search and options lines; NULL: the host's resolv.conf as it
	 * is. A container's dnsServers / dnsSearchDomains still win. */
	const char *dns_server;
	/* repositoryCredentials of the containers: NULL-terminated pairs
	 * (container name, credentialsParameter), or NULL (see
	 * trun_repository_credentials). A pull for such a container fails
	 * with "not supported yet". */
	const char *const *repository_credentials;

	/* Hooks for the shim; unset (NULL / -1) for `berth run`.
	 *
	 * on_state is called with the task's state after every change a
	 * client of the task would see (status, a container starting,
	 * exiting, restarting, its health, the stop beginning), at most once
	 * per turn of the supervisor loop. `st` and everything it points to
	 * are valid during the call only. */
	void (*on_state)(void *arg, const struct trun_state *st);
	void *state_arg;
	/* ctl_fd is polled for POLLIN with everything else (the shim hands
	 * in an epoll fd over its socket and clients, so one thread serves
	 * both), also while the task stops; when it is readable, on_ctl is
	 * called. It returns true to ask for a stop, with *stop_code a static
	 * string (NULL: "UserInitiated") and *stop_reason an xmalloc'd
	 * stoppedReason (NULL: "Task stopped by user"; taskrun frees it).
	 * During set-up ctl_fd is looked at once before and once right after,
	 * so a stop asked for while PROVISIONING starts no container. */
	int ctl_fd;
	bool (*on_ctl)(void *arg, const char **stop_code, char **stop_reason);
	void *ctl_arg;
	/* on_attach is called with the task's handle once, first thing in
	 * trun_run (before the first on_state), and with NULL right before
	 * trun_run returns. Between the two, code running inside a hook
	 * (on_ctl, on_state, an exec's on_exit) may call trun_exec and
	 * trun_exec_kill with it; nothing else may (single thread). */
	void (*on_attach)(void *arg, struct trun *t);
	void *attach_arg;
	/* on_netns is called once the task's own network namespace is ready
	 * (awsvpc, bridge and none; never in host mode), before any
	 * container starts, with an fd of it (valid during the call only):
	 * the shim opens the task's endpoint there. A failure fails the
	 * task's start with its message. */
	int (*on_netns)(void *arg, int netns_fd, struct berr **err);
	void *netns_arg;
	/* on_quiet is called, while the task is RUNNING and not stopping,
	 * right before the supervisor loop would sleep when nothing it
	 * watches has been ready for quiet_ms (default TRUN_QUIET_MS): first
	 * that long after RUNNING, then again only after something happened
	 * and at least quiet_gap_ms (default TRUN_QUIET_GAP_MS) after the
	 * previous call began. The shim hands back the memory its work
	 * touched there (common/memtrim.h), once the burst of work is over
	 * and before it idles. */
	void (*on_quiet)(void *arg);
	void *quiet_arg;
	int quiet_ms, quiet_gap_ms;
};

#define TRUN_QUIET_MS 1000
#define TRUN_QUIET_GAP_MS 60000

void trun_opts_init(struct trun_opts *o);

/* The task's lastStatus as ECS shows it (a subset of ECS's states). */
enum trun_status {
	TRUN_PROVISIONING,      /* setting up: images, storage, network, cgroups */
	TRUN_PENDING,           /* set up; not every container has started yet */
	TRUN_RUNNING,           /* every container that will run has started */
	TRUN_DEPROVISIONING,    /* every container has stopped; tearing down */
	TRUN_STOPPED,           /* torn down */
};
const char *trun_status_name(enum trun_status s);

struct trun_container_state {
	const char *name;
	bool essential;
	const char *last_status;   /* PENDING, RUNNING, STOPPED */
	int exit_code;             /* -1: has not exited (or never started) */
	const char *reason;        /* ECS container reason, or NULL */
	const char *health;        /* HEALTHY, UNHEALTHY, UNKNOWN (also: no health check) */
	int restarts;
	pid_t pid;                 /* its process while RUNNING (in this process's pid
				    * namespace), else 0 */
	int pidfd;                 /* its pidfd while RUNNING (valid during the call), else -1 */
	/* bridge mode: this container's host ports, in portMappings order */
	const struct netns_binding *bindings;
	size_t n_bindings;
};

/* What on_state receives. Times are epoch seconds with millisecond
 * precision, 0 while they have not happened. */
struct trun_state {
	const char *task_id;
	enum trun_status status;
	bool desired_stopped;      /* a stop has begun: desiredStatus STOPPED */
	const char *health;        /* task healthStatus: HEALTHY when every essential
				    * container with a health check is, UNHEALTHY when
				    * one is, UNKNOWN otherwise (and with no checks) */
	const char *stop_code;     /* NULL until the stop begins */
	const char *stopped_reason;
	bool have_exit_code;       /* the essential container's exit code is known */
	int exit_code;
	bool limits;               /* false: runs without cgroup limits */
	const char *ipv4;          /* awsvpc/bridge: the task's address, else "" */
	double pull_started_at, pull_stopped_at;   /* around image loading */
	double connectivity_at;    /* set-up done (network attached) */
	double started_at;         /* RUNNING */
	double stopping_at;        /* the stop began */
	double execution_stopped_at;   /* every container had stopped */
	double stopped_at;         /* STOPPED */
	const struct trun_container_state *containers;
	size_t n_containers;
};

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

/* ------------------------------------------------ exec (berth exec) */

/* At most this many exec'd processes at once per task. */
#define TRUN_MAX_EXECS 64

struct trun_exec_req {
	const char *container;      /* NULL: the first essential container */
	char *const *argv;          /* NULL-terminated; argv[0] non-empty (PATH search
				     * in the container, as for its program) */
	const char *const *env;     /* "NAME=value" set over the container's environment
				     * (a name it has is replaced); NULL: none */
	const char *user;           /* as a definition's "user" ("name", "uid", "uid:gid",
				     * ...) resolved in the container's /etc/passwd and
				     * /etc/group; NULL: the container's user */
	const char *workdir;        /* absolute, inside the container; NULL: the container's */
	bool tty;                   /* stdin is a terminal (nobody's controlling one): it
				     * becomes the process's controlling terminal */
	int stdin_fd, stdout_fd, stderr_fd;   /* the caller's (dup'd into the process, the
					       * caller keeps and closes them); -1: /dev/null */
	/* Called from the supervisor once the process has ended and been
	 * reaped: exit_code is its exit status, or 128 + the signal that
	 * killed it (137 for SIGKILL). Always called exactly once per started
	 * exec, at the latest while trun_run tears the task down. */
	void (*on_exit)(void *arg, uint64_t id, int exit_code);
	void *arg;
};

/* Why trun_exec refused or failed. */
enum trun_exec_status {
	TRUN_EXEC_OK,
	TRUN_EXEC_BAD_REQUEST,      /* no command, a malformed env entry, a relative workdir */
	TRUN_EXEC_NO_CONTAINER,     /* the task has no container by that name */
	TRUN_EXEC_NOT_RUNNING,      /* the task is not running (set-up, stopping) or the
				     * container is not RUNNING */
	TRUN_EXEC_BUSY,             /* TRUN_MAX_EXECS exec'd processes run already */
	TRUN_EXEC_NOT_FOUND,        /* argv[0] is not in the container (a shell's 127) */
	TRUN_EXEC_CANNOT_RUN,       /* it could not be started: not executable, unknown
				     * user, bad workdir, ... (a shell's 126) */
};

struct trun_exec_info {
	uint64_t id;                /* > 0, never reused during the run */
	const char *container;      /* the container it runs in (valid while the task runs) */
	pid_t pid;                  /* in this process's pid namespace */
	int pidfd;                  /* borrowed; valid until on_exit returns */
};

/* Start a process in a running container of the task, as a health check
 * runs (launch.h ctr_exec: the container's namespaces, cgroup, user,
 * capabilities, no_new_privs, rlimits and seccomp), with the request's
 * changes. It dies with the container: when the container's program ends
 * (its pid namespace goes, or with a shared one its cgroup is killed, or
 * else taskrun kills it) and at the latest at teardown. Returns 0 with
 * *info, or a negative errno with *why and *err ("container web is not
 * RUNNING (STOPPED)"). */
int trun_exec(struct trun *t, const struct trun_exec_req *req, struct trun_exec_info *info,
	      enum trun_exec_status *why, struct berr **err);
/* SIGKILL an exec'd process (its on_exit follows when it has been reaped).
 * -ESRCH when id is not running. */
int trun_exec_kill(struct trun *t, uint64_t id);

/* ------------------------------------------------ image pulls */

/* One image to pull, and how it went. */
struct trun_pull {
	const char *image;                  /* as the definition names it */
	const char *repository_credentials; /* NULL: none */
	bool ok;
	struct rootfs_digest manifest;      /* ok: the image's manifest in the store */
	bool pulled;                        /* ok: false when the store had it after all
					     * (another pull of it finished first) */
	uint64_t bytes_downloaded;
	size_t layers, layers_downloaded;
	enum rootfs_pull_failure failure;   /* !ok: why (FAIL_OTHER for a crash, a timeout) */
	char *message;                      /* !ok: the pull's own words (xmalloc'd) */
	bool cancelled;                     /* !ok: killed because another pull failed, or
					     * for a stop (not a failure of its own) */
	double seconds;                     /* how long it took */
};

/* Pull every image of pulls[0..n) at once as trun_run does (one berth
 * child each, o's pull options and root), and wait for them: returns 0
 * when all have ended, each pulls[i] saying how; -ECANCELED when stop_fd
 * (-1: none) became readable first (the children are killed and reaped);
 * another negative errno with *err when a child could not be started.
 * When one fails, the others are killed (their message says so). Free
 * with trun_pulls_free. */
int trun_pull_images(const struct trun_opts *o, struct trun_pull *pulls, size_t n, int stop_fd,
		     struct berr **err);
void trun_pulls_free(struct trun_pull *pulls, size_t n);   /* contents only */

/* The containers' repositoryCredentials.credentialsParameter of a task
 * definition (JSON text; task_def does not keep them): NULL-terminated
 * pairs for trun_opts.repository_credentials, NULL when there are none
 * or the text does not parse. Free with strv_free. */
char **trun_repository_credentials(const char *td_json, size_t len);

/* Run the task. Returns 0 when the task ran (whatever its exit code; see
 * res), negative with *err when it could not be set up or started (res
 * still tells which container failed and why, with stop_code
 * TaskFailedToStart). Everything set up is gone when it returns. */
int trun_run(const struct task_def *td, const struct trun_opts *o, struct trun_result *res,
	     struct berr **err);
void trun_result_free(struct trun_result *res);

#endif
