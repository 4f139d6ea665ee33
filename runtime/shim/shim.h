/* runtime/shim/shim.h - berth-shim: one small process per task.
 *
 * berthd runs `berth-shim BUNDLE` for each task, BUNDLE being
 * <runDir>/<taskId>/ (berthd creates it and writes BUNDLE/config.json). The
 * shim checks the configuration and the task definition, then detaches:
 * it forks, the child calls setsid(), creates the control socket, writes
 * its pid, sends its own log to BUNDLE/shim.log and says "ready" over a
 * pipe; the parent exits 0 then (1 with the reason on stderr when the
 * child could not get ready). So berthd's waitpid returns within
 * milliseconds, and the shim is nobody's child: it survives berthd's
 * restarts and kill -9. It is single-threaded and runs the task with
 * trun_run (taskrun.h), whose hooks report every change.
 *
 * The shim is pid 1 of a pid namespace of its own (except for pidMode
 * host), in which its containers' pid namespaces nest: when the shim dies,
 * kill -9 included, the kernel kills every process of the task with it,
 * and its mounts (all in the shim's private mount namespace) go with
 * them. What a dead shim leaves is berthd's to clean: the task's cgroups
 * (empty), its network reservations (IP, host ports, security-group
 * members), its image store lease, the bundle, and a status.json whose
 * lastStatus is not STOPPED. Pids in snapshots (shimPid, containers[].pid)
 * are as the host's /proc numbers them. SIGTERM, SIGINT or SIGHUP to the
 * shim stop the task as a stop request does ("Task stopped by user"; a
 * second one kills the containers at once). A shim whose first process
 * is gone before it is ready (its spawner gave up) does not run the task.
 *
 * Files in BUNDLE:
 *   config.json  written by berthd (below); read once
 *   shim.sock    AF_UNIX SOCK_SEQPACKET, mode 0600, while the shim runs
 *   shim.pid     "PID\n" of the shim, while it runs
 *   status.json  the latest snapshot message (below), replaced atomically
 *                (temporary file, fsync, rename, fsync of the directory) at
 *                every change, so a berthd that was down learns the outcome:
 *                it stays after the shim exits; berthd removes the bundle
 *                once it has recorded the outcome
 *   shim.log     the shim's own log (status lines, warnings)
 *   <taskId>/    taskrun's task directory (generated /etc files, rootfs
 *                mount points, the netns bind mount), removed at teardown
 * A bundle is used once: a shim refuses to start where status.json exists
 * (the task ran, or is running, already) or another shim answers on
 * shim.sock.
 *
 * config.json (unknown keys are errors that name the key):
 *   {
 *     "taskId": "<32 lower-case hex>",      required; the bundle's name
 *     "taskDefinition": {...},              required: as RegisterTaskDefinition
 *                                           takes it; what berthd's stored
 *                                           TaskDefinition adds (taskDefinitionArn,
 *                                           revision, status, registeredAt, ...)
 *                                           is ignored
 *     "overrides": {...},                   RunTask's overrides (task.h)
 *     "mode": "EC2" | "FARGATE",            validation rules (default EC2)
 *     "root": "/var/lib/berth",             state root (image store, seccomp cache)
 *     "runDir": "/run/berth/tasks",         must be the bundle's parent
 *     "logDir": "/var/log/berth/tasks",     container logs; null: none
 *     "cgroupRoot": "/sys/fs/cgroup/berth",
 *     "noLimits": false,                    no cgroups (the task is marked so)
 *     "storage": "loop" | "tmpfs",          ephemeral storage (default loop)
 *     "pidsMax": 16384,
 *     "network": {...},                     netns_config_parse's object
 *                                           (netns/tasknet.h); state dir
 *                                           default <root>/net
 *     "securityGroups": ["default", ...],   awsvpc: the task's groups
 *     "networkMode": "awsvpc",              overrides the definition's
 *     "logLevel": "info",                   the shim's log: error|warn|info|debug
 *     "berthPath": "/usr/bin/berth",        the berth CLI that pulls images (taskrun.h);
 *                                           default: berth next to berth-shim
 *     "imagePullPolicy": "if-not-present",  always | if-not-present | never (aliases
 *                                           as rootfs_pull_policy_parse takes them)
 *     "insecureRegistries": ["h:5000"],     registries spoken to without TLS checks
 *     "registryCredentials": "/etc/...",    berth's credentials file (default: the
 *                                           CLI's, $BERTH_CREDENTIALS or
 *                                           /etc/berth/credentials.json)
 *     "dockerConfig": "/root/.docker/config.json",   or "none" (default: the
 *                                           CLI's, $DOCKER_CONFIG or ~/.docker)
 *     "imagePullTimeoutSeconds": 7200       a pull that takes longer is killed
 *   }
 * Relative environmentFiles paths start from the bundle. An error in the
 * configuration or the task definition is recorded in status.json as a
 * STOPPED task with stopCode TaskFailedToStart and a stoppedReason that
 * names the field ("config.json: pidsMax: expected integer, got string"),
 * printed on stderr, and the shim exits 1 without detaching.
 *
 * Protocol on shim.sock: one JSON object per SEQPACKET message (at most
 * SHIM_MSG_MAX bytes).
 *   shim -> client, on connect and after every change:
 *     {"type":"state","seq":N,"task":{...snapshot...}}
 *   N counts up from 1 over the shim's life. The snapshot:
 *     taskId, lastStatus (PROVISIONING, PENDING, RUNNING, DEPROVISIONING,
 *     STOPPED), desiredStatus (RUNNING, STOPPED), healthStatus, shimPid,
 *     limits (false: no cgroup limits), connectivity ("CONNECTED" once set
 *     up), pullStartedAt, pullStoppedAt, connectivityAt, startedAt,
 *     stoppingAt, executionStoppedAt, stoppedAt (epoch seconds as reals,
 *     absent until they happen), stopCode, stoppedReason, exitCode (the
 *     essential container's, once known), privateIpv4Address (awsvpc,
 *     bridge), containers: [{name, essential, lastStatus (PENDING, RUNNING,
 *     STOPPED), exitCode (once exited), reason, healthStatus, runtimeId
 *     ("<taskId>-<name>"), pid (while RUNNING), restartCount,
 *     networkBindings: [{bindIP, containerPort, hostPort, protocol}]
 *     (bridge mode)}]
 *   client -> shim:
 *     {"op":"state"}                        the current snapshot again
 *     {"op":"stop","reason":"...",          stop the task (idempotent: the
 *      "stopCode":"UserInitiated"}          first stop's reason wins); reason
 *                                           default "Task stopped by user",
 *                                           stopCode UserInitiated (default)
 *                                           or ServiceSchedulerInitiated
 *     {"op":"exec", ...}                    run a process in a container: below
 *     {"op":"signal","signal":N}            signal this connection's exec'd process
 *   A request the shim cannot read gets {"type":"error","message":"..."}.
 *
 * Exec (berth exec; docs/berthd.md). The request, with file descriptors
 * attached (SCM_RIGHTS):
 *     {"op":"exec",
 *      "container":"web",      absent or null: the first essential container
 *      "argv":["sh","-c","x"], 1 to SHIM_EXEC_MAX_ARGS strings, argv[0] not empty
 *      "env":["K=V",...],      optional: set over the container's environment
 *      "user":"1000:1000",     optional: as a definition's "user", resolved in
 *                              the container's /etc/passwd and /etc/group
 *      "workdir":"/srv",       optional, absolute
 *      "tty":false}            optional
 *   with three fds (the process's stdin, stdout, stderr), or with "tty":true
 *   one: a terminal (a pty slave the client opened with O_NOCTTY; it keeps
 *   the master) that becomes the process's stdin, stdout, stderr and
 *   controlling terminal. The process runs in the container's namespaces,
 *   cgroup, capabilities and seccomp filter (taskrun.h trun_exec). Answers:
 *     {"type":"exec-started","pid":N,"container":"web"}   pid as /proc numbers it
 *     {"type":"error","message":"...","code":C}   refused or failed; C is
 *         InvalidRequest (malformed, wrong fds), ContainerNotFound,
 *         NotRunning (task not running yet or stopping, container not
 *         RUNNING), Busy (an exec runs on this connection already, or
 *         TRUN_MAX_EXECS in the task), CommandNotFound (argv[0] is not in
 *         the container: 127 for the client), CannotExecute (anything else
 *         that kept it from starting: 126)
 *   then, once the process has ended and been reaped,
 *     {"type":"exec-exit","exitCode":N}         N: its status, 128 + signal
 *   A connection that asked for an exec gets no more snapshots (its
 *   answers are all it reads); it may start another exec once the first
 *   has ended. When it closes while its process runs, the process gets
 *   SIGKILL (unlike docker exec, which leaves it running: nobody would
 *   see its output or its end). Exec'd processes die with their
 *   container's program and with the task (exec-exit 137).
 *   While its process runs, the connection may send signals to it:
 *     {"op":"signal","signal":N}           N: 1 to 64, Linux numbering
 *   The shim sends N to the exec'd process itself (pidfd_send_signal),
 *   not to its process group: as docker's and podman's sig-proxy do, the
 *   process (a shell with a trap, a supervisor) decides what its children
 *   get. No answer: the process's exec-exit, when it ends, is the
 *   outcome. A signal on a connection whose process has ended (exec-exit
 *   sent or about to be) or that never started one is ignored, not an
 *   error: the client cannot know that its process is gone before it
 *   reads the exec-exit. A malformed one gets an error with code
 *   InvalidRequest. berth exec forwards SIGINT, SIGTERM, SIGHUP, SIGQUIT,
 *   SIGUSR1 and SIGUSR2 this way (docs/cli.md).
 * Any number of clients at once (up to SHIM_MAX_CLIENTS); a client that
 * does not read (its socket buffer full) is dropped rather than waited
 * for; a client that goes away disturbs nothing. After the final STOPPED
 * snapshot the shim sends it to whoever is still connecting, removes
 * shim.sock and shim.pid, and exits 0; a client then sees the connection
 * close and reads status.json (shimclient.h does both). */
#ifndef BERTH_RUNTIME_SHIM_SHIM_H
#define BERTH_RUNTIME_SHIM_SHIM_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"
#include "netns/tasknet.h"
#include "runtime/shim/taskrun.h"
#include "runtime/task/task.h"

#define SHIM_CONFIG_FILE "config.json"
#define SHIM_SOCKET_FILE "shim.sock"
#define SHIM_PID_FILE    "shim.pid"
#define SHIM_STATUS_FILE "status.json"
#define SHIM_LOG_FILE    "shim.log"
#define SHIM_MSG_MAX     65536
#define SHIM_REQUEST_MAX 65536     /* a client's message (exec requests carry argv, env) */
#define SHIM_EXEC_MAX_ARGS 4096    /* argv and env entries of an exec, each */
#define SHIM_MAX_CLIENTS 64
#define SHIM_SIGNAL_MAX  64        /* the highest signal number a signal request takes */
#define SHIM_CONFIG_MAX  (8u << 20)
#define SHIM_TASK_ID_LEN 32

struct shim_config {
	char task_id[SHIM_TASK_ID_LEN + 1];
	char *task_definition;      /* the definition as JSON text (for task_def_parse) */
	char *overrides;            /* JSON text, or NULL */
	enum task_mode mode;
	char *root, *run_dir, *log_dir, *cgroup_root;   /* log_dir NULL: no log files */
	bool no_limits;
	enum trun_storage storage;
	uint64_t pids_max;
	struct netns_config net;    /* "network", or the defaults (state dir <root>/net) */
	char **security_groups;     /* NULL-terminated, never NULL */
	size_t n_security_groups;
	bool net_override;
	enum task_network_mode net_mode;
	int log_level;              /* enum blog_level */
	/* image pulls (trun_opts): */
	char *berth_path;           /* NULL: berth next to berth-shim */
	enum rootfs_pull_policy pull_policy;   /* default if-not-present */
	char **insecure_registries; /* NULL-terminated, never NULL */
	char *registry_credentials, *docker_config;   /* NULL: the CLI's defaults */
	int64_t pull_timeout_ms;    /* 0: taskrun's default */
	char **repository_credentials;   /* the definition's (trun_repository_credentials), or NULL */
	json_t *endpoint;           /* "endpoint": the task endpoint (taskmeta.h), or NULL */
	char *dns_server;           /* "dnsServer": berthd's DNS responder (IPv4), or NULL */
};

void shim_config_init(struct shim_config *c);
/* Parse config.json's text; `what` names it in errors. */
int shim_config_parse(const char *what, const char *buf, size_t len, struct shim_config *c,
		      struct berr **err);
void shim_config_free(struct shim_config *c);
/* The configuration's task definition with its overrides, parsed and
 * validated for its mode; errors are "<what>: taskDefinition: <path>: ...". */
int shim_config_task(const struct shim_config *c, const char *what, struct task_def **out,
		     struct berr **err);
/* Fill o (after trun_opts_init) from c; the pointers borrow from c and
 * bundle. Hooks are not touched. */
void shim_config_opts(const struct shim_config *c, const char *bundle, struct trun_opts *o);

/* The snapshot message {"type":"state","seq":seq,"task":{...}} of st. */
json_t *shim_snapshot(const struct trun_state *st, uint64_t seq, pid_t shim_pid);

/* The record of a task that never ran: STOPPED, TaskFailedToStart, reason,
 * its containers STOPPED (td may be NULL when it could not be parsed). */
json_t *shim_failed_snapshot(const char *task_id, const struct task_def *td, const char *reason,
			     pid_t shim_pid);

enum shim_op {
	SHIM_OP_STATE,
	SHIM_OP_STOP,
	SHIM_OP_EXEC,
	SHIM_OP_SIGNAL,
};

struct shim_exec_request {
	char *container;            /* NULL: the first essential container */
	char **argv;                /* NULL-terminated, at least one */
	char **env;                 /* NULL-terminated, or NULL */
	char *user, *workdir;       /* NULL: the container's */
	bool tty;
};

struct shim_request {
	enum shim_op op;
	const char *stop_code;      /* static: "UserInitiated" or "ServiceSchedulerInitiated" */
	char *reason;               /* xmalloc'd; NULL: the default */
	struct shim_exec_request exec;
	int signal;                 /* SHIM_OP_SIGNAL: 1..SHIM_SIGNAL_MAX */
	int fds[3];                 /* exec: stdin, stdout, stderr (with tty: fds[0], the
				     * terminal, and -1 -1); closed by shim_request_free */
};

/* Parse one client message. Errors name the field ("op: unknown
 * operation \"x\""). req->fds are -1 after it. */
int shim_request_parse(const char *buf, size_t len, struct shim_request *req, struct berr **err);
/* Check the n fds that came with a parsed request and move them into
 * req->fds (each fds[i] is -1 after): an exec takes 3, or 1 terminal with
 * tty; the other operations none. On error the fds stay the caller's. */
int shim_request_take_fds(struct shim_request *req, int *fds, size_t n, struct berr **err);
void shim_request_free(struct shim_request *req);

/* The error codes of exec answers (above) for a trun_exec status. */
const char *shim_exec_error_code(enum trun_exec_status why);

/* How the server starts and kills exec'd processes: trun_exec and
 * trun_exec_kill on the attached task by default (tests put others). */
struct shim_exec_ops {
	int (*start)(void *task, const struct trun_exec_req *req, struct trun_exec_info *info,
		     enum trun_exec_status *why, struct berr **err);
	int (*kill)(void *task, uint64_t id);
};

/* The shim's side of the socket: clients, the latest snapshot, status.json.
 * `epfd` is what taskrun polls (trun_opts.ctl_fd): it covers the
 * listening socket and every client. */
struct shim_server {
	int epfd;
	int listen_fd;              /* -1: none (clients are added by hand) */
	int clients[SHIM_MAX_CLIENTS];
	size_t n_clients;
	char *last;                 /* the latest snapshot message, NUL-terminated */
	size_t last_len;
	uint64_t seq;
	char *status_path;          /* NULL: no status file */
	pid_t pid;                  /* shimPid in snapshots */
	const char *stop_code;      /* a stop asked for by a client, not yet taken */
	char *stop_reason;
	bool stop;
	/* exec: per client (same index as clients[]), the exec'd process it
	 * waits for (0: none) and whether it is an exec session (no snapshots) */
	uint64_t exec_id[SHIM_MAX_CLIENTS];
	bool exec_session[SHIM_MAX_CLIENTS];
	/* the exec'd process of each client, for signal requests (valid while
	 * exec_id is not 0): its pidfd (borrowed from the task, trun_exec_info),
	 * or -1 and its pid (this process's pid namespace) */
	int exec_pidfd[SHIM_MAX_CLIENTS];
	pid_t exec_pid[SHIM_MAX_CLIENTS];
	void *task;                 /* the running task (on_attach); NULL: none */
	const struct shim_exec_ops *exec_ops;
	char *rbuf;                 /* SHIM_REQUEST_MAX + 1 bytes */
	/* other fds in epfd (the task endpoint's): on_fd is offered every
	 * event that is not the server's own; NULL: none */
	bool (*on_fd)(void *arg, int fd, uint32_t events);
	void *fd_arg;
};

/* listen_fd (non-blocking, or -1) becomes the server's. status_path may
 * be NULL. */
int shim_server_init(struct shim_server *s, int listen_fd, const char *status_path, pid_t pid,
		     struct berr **err);
/* Take a connected client fd (closed on failure); it gets the latest
 * snapshot at once. Returns 0, or -1 when it was refused or dropped. */
int shim_server_add(struct shim_server *s, int fd);
/* Encode st as the next snapshot, write status.json, send it to every
 * client (dropping those that cannot take it). */
int shim_server_publish(struct shim_server *s, const struct trun_state *st, struct berr **err);
/* Publish an already encoded snapshot message (its seq is the caller's). */
int shim_server_publish_json(struct shim_server *s, json_t *msg, struct berr **err);
/* Serve what is ready on epfd without waiting: new connections, requests,
 * hang-ups. Returns true when a client asked for a stop (first asked,
 * first kept: *stop_code static, *stop_reason xmalloc'd or NULL). */
bool shim_server_service(struct shim_server *s, const char **stop_code, char **stop_reason);
/* The taskrun hooks over a struct shim_server (arg). */
void shim_server_on_state(void *arg, const struct trun_state *st);
bool shim_server_on_ctl(void *arg, const char **stop_code, char **stop_reason);
void shim_server_on_attach(void *arg, struct trun *t);
/* An exec'd process has ended (trun_exec_req.on_exit, arg the server):
 * its client gets exec-exit. */
void shim_server_exec_exit(void *arg, uint64_t id, int exit_code);
/* Close the listening socket and every client (after the final snapshot:
 * connections still waiting to be accepted get it first). */
void shim_server_close(struct shim_server *s);

/* The pid of a pidfd's process as /proc (the host's procfs) numbers it,
 * from /proc/self/fdinfo: the shim is pid 1 of a pid namespace of its own,
 * where clone() returns pids nobody else can use. 0 when unknown. */
pid_t shim_pidfd_pid(int pidfd);
/* This process's pid as /proc numbers it (readlink /proc/self). */
pid_t shim_host_pid(void);

/* Bind and listen on an AF_UNIX SOCK_SEQPACKET socket at path, mode 0600,
 * non-blocking and close-on-exec. A stale socket file (nobody answers) is
 * replaced; a live one is EADDRINUSE ("another shim answers on ..."). Paths
 * longer than sun_path go through /proc/self/fd of their directory. */
int shim_listen(const char *path, struct berr **err);
/* Connect to such a socket: non-blocking, close-on-exec. */
int shim_connect_path(const char *path, struct berr **err);

#endif
