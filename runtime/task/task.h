/* runtime/task/task.h - ECS task definitions: parse and validate.
 *
 * task_def_parse() reads a task definition as RegisterTaskDefinition takes
 * it and checks it against the rules of the chosen launch type, so that
 * what it accepts can be launched without further checks. Errors name the
 * document and the JSON path:
 *
 *     task.json: containerDefinitions[1].portMappings[0].hostPort: must equal
 *     containerPort (80) when networkMode is awsvpc
 *
 * Unknown fields are not errors (ECS adds fields over time): they are listed
 * in task_def.warnings. Fields ECS has and berth does not model
 * (repositoryCredentials, links, ...) are accepted silently.
 */
#ifndef BERTH_RUNTIME_TASK_H
#define BERTH_RUNTIME_TASK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

enum task_mode {
	TASK_MODE_FARGATE,
	TASK_MODE_EC2,
};

enum task_network_mode {
	TASK_NET_BRIDGE,   /* ECS's default when networkMode is absent */
	TASK_NET_HOST,
	TASK_NET_AWSVPC,
	TASK_NET_NONE,
};

/* pidMode / ipcMode; UNSET when absent (a private namespace per container). */
enum task_ns_mode {
	TASK_NS_UNSET,
	TASK_NS_HOST,
	TASK_NS_TASK,
	TASK_NS_NONE,      /* ipcMode only */
};

enum task_dep_condition {
	TASK_DEP_START,
	TASK_DEP_COMPLETE,
	TASK_DEP_SUCCESS,
	TASK_DEP_HEALTHY,
};

/* -1 in an int64_t field below means "not set". */
#define TASK_UNSET (-1)

struct task_kv {
	char *name;
	char *value;
};

struct task_port_mapping {
	int64_t container_port;
	int64_t host_port;          /* 0: not given (dynamic in bridge mode) */
	char *protocol;             /* "tcp" (default) or "udp" */
	char *name;                 /* NULL when absent */
	char *app_protocol;         /* http, http2, grpc or NULL */
};

struct task_mount_point {
	char *source_volume;
	char *container_path;
	bool read_only;
};

struct task_volume_from {
	char *source_container;
	bool read_only;
};

struct task_depends_on {
	char *container_name;
	enum task_dep_condition condition;
};

struct task_health_check {
	bool set;
	char **command;             /* NULL-terminated; [0] is CMD or CMD-SHELL */
	int64_t interval;           /* seconds; defaults filled in: 30 */
	int64_t timeout;            /* 5 */
	int64_t retries;            /* 3 */
	int64_t start_period;       /* 0: off */
};

struct task_tmpfs {
	char *container_path;
	int64_t size;               /* MiB */
	char **mount_options;       /* NULL-terminated, never NULL */
};

struct task_device {
	char *host_path;
	char *container_path;       /* NULL: same as host_path */
	char **permissions;         /* read, write, mknod; NULL-terminated, never NULL */
};

struct task_ulimit {
	char *name;
	int64_t soft_limit;
	int64_t hard_limit;
};

struct task_env_file {
	char *value;
	char *type;
};

/* secrets[]: {name, valueFrom}. The value is set only in berth-shim, from
 * what berthd resolved (runtime/creds/secrets.h); task_def_free wipes it. */
struct task_secret {
	char *name;                 /* the environment variable */
	char *value_from;           /* checked by secret_ref_parse */
	char *value;                /* NULL until berth-shim has it */
	size_t value_len;
};

struct task_linux_params {
	char **cap_add;             /* NULL-terminated, never NULL; names without CAP_ */
	char **cap_drop;
	bool init_process_enabled;
	int64_t shared_memory_size; /* MiB, TASK_UNSET */
	struct task_tmpfs *tmpfs;
	size_t n_tmpfs;
	struct task_device *devices;
	size_t n_devices;
	int64_t max_swap;           /* MiB, TASK_UNSET */
	int64_t swappiness;         /* 0-100, TASK_UNSET */
};

struct task_restart_policy {
	bool enabled;
	int64_t *ignored_exit_codes;
	size_t n_ignored_exit_codes;
	int64_t restart_attempt_period;   /* seconds, TASK_UNSET */
};

struct task_container {
	char *name;
	char *image;
	int64_t cpu;                /* CPU units; 0 when absent */
	int64_t memory;             /* MiB hard limit, TASK_UNSET */
	int64_t memory_reservation; /* MiB soft limit, TASK_UNSET */
	bool essential;             /* default true */
	char **entry_point;         /* NULL when absent (use the image's) */
	char **command;             /* NULL when absent */
	struct task_kv *environment;
	size_t n_environment;
	struct task_env_file *environment_files;
	size_t n_environment_files;
	struct task_secret *secrets;        /* names unique in the container and
					     * not in its environment */
	size_t n_secrets;
	struct task_port_mapping *port_mappings;
	size_t n_port_mappings;
	struct task_mount_point *mount_points;
	size_t n_mount_points;
	struct task_volume_from *volumes_from;
	size_t n_volumes_from;
	struct task_depends_on *depends_on;
	size_t n_depends_on;
	struct task_health_check health_check;
	char *working_directory;
	char *user;
	bool readonly_root_filesystem;
	bool privileged;
	struct task_linux_params linux_parameters;
	struct task_ulimit *ulimits;
	size_t n_ulimits;
	char *hostname;
	struct task_kv *extra_hosts;        /* name: hostname, value: ipAddress */
	size_t n_extra_hosts;
	char **dns_servers;                 /* NULL-terminated, never NULL; IP addresses */
	char **dns_search_domains;          /* NULL-terminated, never NULL */
	bool disable_networking;
	int64_t stop_timeout;       /* seconds, TASK_UNSET */
	int64_t start_timeout;      /* seconds, TASK_UNSET */
	struct task_kv *docker_labels;
	size_t n_docker_labels;
	bool has_restart_policy;
	struct task_restart_policy restart_policy;
	/* logConfiguration: the driver (NULL when absent); every driver writes
	 * berth's local JSON-lines log; json-file/local max-size and max-file
	 * (TASK_UNSET: berth's defaults) set its rotation. */
	char *log_driver;
	int64_t log_max_bytes;
	int64_t log_max_files;
	/* A field berth does not model that Fargate refuses ("dnsServers"),
	 * or NULL; a static string. */
	const char *fargate_refused_field;
};

struct task_volume {
	char *name;
	char *host_source_path;     /* NULL: a task-scoped empty volume */
};

struct task_def {
	char *family;
	char *task_role_arn;
	char *execution_role_arn;
	enum task_network_mode network_mode;
	char **requires_compatibilities;   /* NULL-terminated, never NULL */
	int64_t cpu;                /* CPU units (1024 = 1 vCPU), TASK_UNSET */
	int64_t memory;             /* MiB, TASK_UNSET */
	enum task_ns_mode pid_mode;
	enum task_ns_mode ipc_mode;
	int64_t ephemeral_storage_gib;     /* TASK_UNSET: the default (20) */
	char *cpu_architecture;     /* runtimePlatform; NULL when absent */
	char *os_family;
	struct task_volume *volumes;
	size_t n_volumes;
	struct task_container *containers;
	size_t n_containers;
	/* "containerDefinitions[0].fooBar: unknown field, ignored" */
	char **warnings;            /* NULL-terminated, never NULL */
	size_t n_warnings;
};

/* Parse and validate a task definition (JSON in buf[0..len)) for `mode`.
 * `what` names the document in errors ("task.json"). On success *out is a
 * new task_def (task_def_free()); on error *out is NULL and *err says
 * "<what>: <path>: <rule>". */
int task_def_parse(const char *buf, size_t len, const char *what, enum task_mode mode,
		   struct task_def **out, struct berr **err);
/* task_def_parse, with RunTask's `overrides` (JSON in ovr[0..ovr_len),
 * named ovr_what) applied before validation: taskRoleArn,
 * executionRoleArn, cpu, memory, ephemeralStorage, and containerOverrides
 * [{name, command, environment, environmentFiles, cpu, memory,
 * memoryReservation}]. command replaces the definition's; environment
 * entries replace the value of the same name or are added; environmentFiles
 * are added. Errors in the overrides name ovr_what; a rule the result
 * breaks names "<what> with <ovr_what>". Unknown override fields are
 * warnings prefixed with "<ovr_what>: ". */
int task_def_parse_with_overrides(const char *buf, size_t len, const char *what,
				  const char *ovr, size_t ovr_len, const char *ovr_what,
				  enum task_mode mode, struct task_def **out, struct berr **err);
void task_def_free(struct task_def *td);

/* Task-level cpu / memory as ECS takes them: "256", "0.25 vCPU", "1 vcpu";
 * "512", "1 GB", "0.5GB". Results in CPU units / MiB. Negative with *err
 * ("<path>: ...") when s is not such a value. */
int task_parse_cpu(const char *s, const char *path, int64_t *out, struct berr **err);
int task_parse_memory(const char *s, const char *path, int64_t *out, struct berr **err);

/* Names as ECS takes them: "SYS_ADMIN" (no CAP_ prefix), "nofile". */
bool task_capability_valid(const char *name);
bool task_ulimit_name_valid(const char *name);

const char *task_network_mode_name(enum task_network_mode m);
const char *task_dep_condition_name(enum task_dep_condition c);

#endif
