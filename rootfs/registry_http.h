/* rootfs/registry_http.h - the HTTP side of a pull (libcurl): one registry
 * and repository, its auth state, small requests and parallel blob
 * downloads. Internal to rootfs (pull.c). */
#ifndef BERTH_ROOTFS_REGISTRY_HTTP_H
#define BERTH_ROOTFS_REGISTRY_HTTP_H

#include "common/error.h"
#include "rootfs/pull.h"
#include "rootfs/registry.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct reg_client;

int reg_client_new(const struct rootfs_pull_ref *ref, const struct rootfs_pull_opts *o,
		   struct reg_client **out, struct berr **err);
void reg_client_free(struct reg_client *c);
/* Why the last call failed. */
enum rootfs_pull_failure reg_client_failure(const struct reg_client *c);

/* GET /v2/<repo>/manifests/<reference> with every manifest type accepted.
 * *media_type: Content-Type without parameters (maybe ""). */
int reg_get_manifest(struct reg_client *c, const char *reference, size_t max, char **body,
		     size_t *len, char **media_type, struct berr **err);
/* A small blob (config) into memory, checked against digest and size. */
int reg_get_blob_mem(struct reg_client *c, const struct rootfs_digest *d, int64_t size, size_t max,
		     char **body, size_t *len, struct berr **err);

/* One blob to download into dirfd/<hex>.part (renamed to <hex>.done once verified). */
struct reg_blob_job {
	struct rootfs_digest digest;
	int64_t size;
	size_t layer;                 /* for progress events */
	/* out */
	bool done;                    /* <hex>.done is there (by us or another pull), or
				       * the blob is in the store already */
	bool elsewhere;               /* done by another pull (.done or in the store) */
	uint64_t downloaded;          /* bytes received from the network */
	bool resumed;                 /* started or continued at an offset > 0 */
};

/* Download every job (`parallel` at a time) into incoming_fd. Stops at the
 * first failure (which deletes a blob that did not verify; other .part files
 * stay for a resume). A blob that another pull has moved into the store
 * (blobs_fd: the store's blobs/sha256, or -1) while this one waited for its
 * .part file is not downloaded again. Progress as ROOTFS_PULL_PHASE_* events. */
int reg_fetch_blobs(struct reg_client *c, int incoming_fd, int blobs_fd, struct reg_blob_job *jobs,
		    size_t n, size_t n_layers, struct berr **err);

#endif
