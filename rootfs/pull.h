/* rootfs/pull.h - pull images from a registry (OCI distribution API v2).
 *
 * `[registry/]repository[:tag|@digest]` (Docker Hub defaults, registry.h)
 * -> manifest (OCI or docker schema 2; an index or manifest list resolved
 * to the platform) -> config -> the layer blobs not in the store, several
 * at a time, into <store>/incoming/<hex>.part, hashed and size-checked as
 * they stream, resumed with a Range request after an interruption (also by
 * a later pull: a .part file is kept) -> under the store lock: blobs into
 * the store, layers unpacked (those present are skipped), image record and
 * tag. A download that does not match its digest is deleted; a failed pull
 * leaves no image, tag, layer or blob behind (only resumable .part files).
 * Two pulls of the same blob (threads or processes) do not both download
 * it: each .part file is flock()ed by its downloader, the other waits, and
 * takes the blob from the store when the first has moved it there. Pulls
 * of the same reference (processes, e.g. N tasks of one new image) run one
 * after the other: each holds a flock on incoming/<sha256 of the
 * reference>.lock (removed by its last holder) from before it looks at the
 * store until its image is recorded, so with if-not-present the first
 * pulls and the others find the image; with always they ask the registry
 * for the manifest only.
 *
 * Auth: anonymous, Basic, and the bearer token flow (WWW-Authenticate
 * realm/service/scope), with credentials from berth's credentials file or
 * docker's config.json (`auths`). TLS is verified; a registry listed in
 * `insecure` is tried over HTTPS without verification, then plain HTTP.
 * docs/images.md, "Pulling from a registry", has the details.
 *
 * Links libcurl: only programs that call rootfs_pull (the berth CLI) load it. */
#ifndef BERTH_ROOTFS_PULL_H
#define BERTH_ROOTFS_PULL_H

#include "common/error.h"
#include "rootfs/layer.h"
#include "rootfs/registry.h"
#include "rootfs/store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum rootfs_pull_policy {
	ROOTFS_PULL_ALWAYS = 0,        /* ask the registry every time (the tag may have moved) */
	ROOTFS_PULL_IF_NOT_PRESENT,    /* use the store's image when it has one by that name */
	ROOTFS_PULL_NEVER,             /* the store's image or an error */
};

/* "always", "if-not-present" (also podman's "missing", Kubernetes'
 * "IfNotPresent", ECS agent's "prefer-cached" and "once"), "never". -1 when
 * unknown. The names are in pull_names.c: using them links no libcurl. */
int rootfs_pull_policy_parse(const char *s, enum rootfs_pull_policy *out);
const char *rootfs_pull_policy_name(enum rootfs_pull_policy p);

/* Why a pull failed, for exit codes and ECS stop reasons. */
enum rootfs_pull_failure {
	ROOTFS_PULL_OK = 0,
	ROOTFS_PULL_FAIL_OTHER,        /* local errors (disk, store), bad metadata */
	ROOTFS_PULL_FAIL_NOT_FOUND,    /* repository, tag or digest unknown; or not local with "never" */
	ROOTFS_PULL_FAIL_AUTH,         /* 401/403, no or rejected credentials */
	ROOTFS_PULL_FAIL_UNREACHABLE,  /* connect, TLS, timeouts, 5xx after the retries */
	ROOTFS_PULL_FAIL_VERIFY,       /* content does not match its digest or size */
	ROOTFS_PULL_FAIL_UNSUPPORTED,  /* schema 1, repositoryCredentials, a credential helper, ... */
};
const char *rootfs_pull_failure_name(enum rootfs_pull_failure f);
/* The reverse ("not-found" -> ROOTFS_PULL_FAIL_NOT_FOUND); unknown: FAIL_OTHER. */
enum rootfs_pull_failure rootfs_pull_failure_parse(const char *s);

enum rootfs_pull_phase {
	ROOTFS_PULL_PHASE_RESOLVE,     /* manifest and config (layer = 0, n = 0) */
	ROOTFS_PULL_PHASE_EXISTS,      /* layer already in the store */
	ROOTFS_PULL_PHASE_WAIT,        /* another pull downloads this blob; with n = 0 and
					* no blob: another pull of the reference runs */
	ROOTFS_PULL_PHASE_DOWNLOAD,    /* done/total bytes of the blob */
	ROOTFS_PULL_PHASE_RETRY,       /* interrupted; resuming at `done` */
	ROOTFS_PULL_PHASE_DOWNLOADED,  /* verified */
	ROOTFS_PULL_PHASE_UNPACK,      /* done/total compressed bytes unpacked */
	ROOTFS_PULL_PHASE_LAYER_DONE,  /* unpacked */
};
const char *rootfs_pull_phase_name(enum rootfs_pull_phase p);

struct rootfs_pull_event {
	enum rootfs_pull_phase phase;
	size_t layer, n_layers;          /* layer index (0-based) of n */
	const struct rootfs_digest *blob;  /* the layer's blob (NULL for RESOLVE) */
	uint64_t done, total;
};

struct rootfs_pull_opts {
	enum rootfs_pull_policy policy;
	const char *os, *arch, *variant;   /* NULL: linux, the host's, any */
	const char *const *insecure;       /* NULL-terminated registry names ("h:5000"), or NULL */
	const char *credentials_file;      /* berth's (docker's auths shape), NULL: none */
	const char *docker_config;         /* a docker config.json, NULL: none */
	const char *repository_credentials;  /* an ECS credentialsParameter: not supported yet */
	const char *ca_file;               /* extra CA bundle, NULL: the system's */
	unsigned parallel;                 /* blobs at a time; 0: 4 */
	unsigned retries;                  /* per request after a transient failure; 0: 5 */
	int64_t max_recv_speed;            /* bytes/s per transfer, 0: unlimited */
	struct rootfs_unpack_opts unpack;
	/* called from the calling thread */
	void (*progress)(const struct rootfs_pull_event *ev, void *data);
	void *progress_data;
};

struct rootfs_pull_result {
	struct rootfs_digest manifest;     /* the platform's image manifest */
	char *ref;                         /* the store name given ("busybox:latest"), or NULL */
	char *source;                      /* "registry/repo:tag@digest" */
	bool pulled;                       /* false: the store had it (if-not-present, never) */
	size_t layers, layers_downloaded, layers_unpacked;
	uint64_t bytes_downloaded;         /* from the network, this pull */
	unsigned resumed;                  /* transfers continued at an offset > 0 */
	enum rootfs_pull_failure failure;  /* set on error too */
};

int rootfs_pull(struct rootfs_store *s, const char *ref, const struct rootfs_pull_opts *o,
		struct rootfs_pull_result *res, struct berr **err);
void rootfs_pull_result_free(struct rootfs_pull_result *res);

#endif
