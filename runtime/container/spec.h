/* runtime/container/spec.h - a container as the launcher runs it.
 *
 * ctr_spec_resolve() merges one container definition of a validated task
 * definition with its image's config, the way ECS and Docker do:
 *   - entryPoint replaces the image Entrypoint and drops the image Cmd
 *     unless command is also given; command replaces Cmd;
 *   - env = image Env, then environmentFiles (in order), then environment;
 *     a later name wins; PATH gets Docker's default when nobody sets it,
 *     HOSTNAME is set to the container's hostname;
 *   - user: "name", "uid", "name:group", "uid:gid" (and mixtures), resolved
 *     against the image's /etc/passwd and /etc/group read *inside* the
 *     rootfs (never following a link out of it); supplementary groups are
 *     the groups listing the user; a numeric uid not in passwd is allowed
 *     (gid 0 then, as Docker does), a name that is not there is an error;
 *   - workingDirectory, else the image WorkingDir, else "/";
 *   - ulimits -> rlimits (Fargate's nofile 65535/65535 default when the
 *     definition has none for nofile);
 *   - capabilities: Docker's default set, then linuxParameters add, then
 *     drop ("ALL" allowed in both); privileged: every capability;
 *   - StopSignal from the image (default SIGTERM); stopTimeout (default 30).
 * The result is plain data: no JSON, nothing to look up, so the launcher's
 * child only makes syscalls. */
#ifndef BERTH_RUNTIME_CONTAINER_SPEC_H
#define BERTH_RUNTIME_CONTAINER_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"
#include "rootfs/oci.h"
#include "runtime/task/task.h"

#define CTR_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define CTR_DEFAULT_SHM_BYTES (64ULL << 20)
#define CTR_DEFAULT_STOP_TIMEOUT 30

struct ctr_rlimit {
	int resource;           /* RLIMIT_* */
	uint64_t soft, hard;    /* RLIM_INFINITY for unlimited */
};

enum ctr_mount_kind {
	CTR_MOUNT_BIND,         /* source: host path (file or directory) */
	CTR_MOUNT_TMPFS,        /* source unused */
};

struct ctr_mount {
	enum ctr_mount_kind kind;
	char *source;           /* BIND: absolute host path; TMPFS: NULL */
	char *target;           /* absolute path inside the container, cleaned */
	bool read_only;
	unsigned long flags;    /* extra MS_NOSUID|MS_NODEV|MS_NOEXEC|MS_NOATIME ... */
	char *data;             /* TMPFS: "size=...,mode=..." or NULL */
	bool create_file;       /* BIND of a regular file: target created as a file */
};

struct ctr_device {
	char *host_path;
	char *container_path;
	bool read, write, mknod;
};

struct ctr_spec {
	char *name;             /* the container definition's name */
	char **argv;            /* resolved command, never empty; argv[0] is what runs */
	char **env;             /* "NAME=value", NULL-terminated */
	char *cwd;              /* absolute */
	uid_t uid;
	gid_t gid;
	gid_t *groups;          /* supplementary groups */
	size_t n_groups;
	char *user;             /* as written in the definition or image ("" when root by default) */
	char *hostname;         /* NULL: keep the task's UTS name */
	bool readonly_rootfs;
	bool privileged;
	bool init;              /* linuxParameters.initProcessEnabled */
	bool no_new_privs;      /* true unless privileged */
	uint64_t caps;          /* bit (1ULL << CAP_x) for each capability kept */
	struct ctr_rlimit *rlimits;
	size_t n_rlimits;
	struct ctr_mount *mounts;   /* in mount order: tmpfs, volumes, /etc files */
	size_t n_mounts;
	struct ctr_device *devices;
	size_t n_devices;
	uint64_t shm_size;      /* /dev/shm size in bytes */
	int stop_signal;        /* SIGTERM unless the image says otherwise */
	int64_t stop_timeout;   /* seconds */
};

/* What the task supplies that is not in the definition or the image. */
struct ctr_resolve_opts {
	/* Files the task generated, bind-mounted (read-write, as Docker does) when not NULL:
	 * /etc/hosts, /etc/resolv.conf, /etc/hostname. */
	const char *hosts_file, *resolv_file, *hostname_file;
	/* Default hostname when the definition has none (e.g. the task id's
	 * first 12 hex digits in bridge mode); NULL: none. */
	const char *default_hostname;
	/* Directory holding one subdirectory per task-scoped volume (a volume
	 * without host.sourcePath): <volumes_dir>/<volume name>. */
	const char *volumes_dir;
	/* Base directory for environmentFiles given as relative paths; NULL: cwd. */
	const char *env_file_base;
	/* Extra "NAME=value" entries set before the definition's environment
	 * (ECS_CONTAINER_METADATA_URI_V4, AWS_REGION, ...); may be NULL. */
	const char *const *extra_env;
};

/* Resolve task->containers[idx] against its image config `img` (NULL: an
 * image without config: no entrypoint/cmd/env) and its mounted root
 * filesystem `rootfs_fd` (a directory fd; used for /etc/passwd, /etc/group).
 * Errors name the container: "containerDefinitions[1] (web): user: no user
 * \"bob\" in the image's /etc/passwd". */
int ctr_spec_resolve(const struct task_def *td, size_t idx, const struct oci_image_config *img,
		     int rootfs_fd, const struct ctr_resolve_opts *opts, struct ctr_spec **out,
		     struct berr **err);
void ctr_spec_free(struct ctr_spec *s);

/* Parse "SIGTERM", "TERM", "15" -> signal number; -1 when not a signal. */
int ctr_signal_parse(const char *s);
/* Parse an ECS ulimit name ("nofile") -> RLIMIT_*; -1 when unknown. */
int ctr_rlimit_resource(const char *name);

#endif
