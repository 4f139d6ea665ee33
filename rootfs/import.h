/* rootfs/import.h - bring images into the store from files.
 *
 * Sources: an OCI image layout directory, an oci-archive (a tar of such a
 * directory, as `skopeo copy oci-archive:` and `podman save --format
 * oci-archive` write), or a docker-archive (`docker save`, classic and the
 * OCI-shaped layout of docker 25+). Every blob is verified against its
 * descriptor (sha256 and size); image indexes are resolved to the requested
 * platform; each layer is unpacked once (keyed by chain id) and shared. A
 * failed import removes everything it added: blobs, layers, records, tags. */
#ifndef BERTH_ROOTFS_IMPORT_H
#define BERTH_ROOTFS_IMPORT_H

#include "common/error.h"
#include "rootfs/store.h"

#include <stddef.h>
#include <stdint.h>

struct rootfs_import_opts {
	const char *tag;        /* reference to give the image (one-image sources), or NULL */
	const char *os;         /* platform; NULL: "linux" */
	const char *arch;       /* NULL: the host's (amd64, arm64, ...) */
	const char *variant;    /* NULL: any */
	struct rootfs_unpack_opts unpack;
	/* phase is "read" (bytes of the source read) or "unpack" (compressed
	 * bytes of layer `index` of `count` unpacked) */
	void (*progress)(const char *phase, size_t index, size_t count, uint64_t done,
			 uint64_t total, void *data);
	void *progress_data;
};

struct rootfs_imported {
	struct rootfs_digest manifest;
	char **refs;                 /* NULL-terminated */
	size_t layers, layers_unpacked;
};

struct rootfs_import_result {
	const char *format;          /* "oci-layout", "oci-archive", "docker-archive" */
	struct rootfs_imported *images;
	size_t n_images;
	uint64_t bytes_unpacked;
};

int rootfs_import(struct rootfs_store *s, const char *path, const struct rootfs_import_opts *o,
		  struct rootfs_import_result *res, struct berr **err);
void rootfs_import_result_free(struct rootfs_import_result *res);

/* "amd64", "arm64", ... for the machine we run on (GOARCH names). */
const char *rootfs_host_arch(void);

#endif
