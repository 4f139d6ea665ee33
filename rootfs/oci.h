/* rootfs/oci.h - parse and validate image metadata: OCI index, manifest and
 * image config, docker's schema2 manifest, and the manifest.json of a
 * `docker save` archive.
 *
 * Parsers take a buffer and a `what` that names its source ("blob
 * sha256:ab12.. (manifest)", "manifest.json in web.tar"); errors name that
 * source and the JSON path: "index.json: manifests[1].digest: required".
 * Media types are checked: a manifest with a wrong or unknown mediaType, a
 * layer type berth cannot unpack, or a config that is not an image config is
 * refused with the type named. Fields berth does not use are ignored, as
 * the specs ask; the ones it uses are type-checked.
 *
 * All strings are owned by the structs. On error a parser frees what it had
 * built and leaves *out zeroed; *_free releases a struct (zeroing it) and
 * accepts a zeroed or partially filled one (arrays hold n entries, each
 * possibly all-NULL). */
#ifndef BERTH_ROOTFS_OCI_H
#define BERTH_ROOTFS_OCI_H

#include "common/error.h"
#include "rootfs/digest.h"
#include "rootfs/layer.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OCI_MT_INDEX         "application/vnd.oci.image.index.v1+json"
#define OCI_MT_MANIFEST      "application/vnd.oci.image.manifest.v1+json"
#define OCI_MT_CONFIG        "application/vnd.oci.image.config.v1+json"
#define OCI_MT_LAYER         "application/vnd.oci.image.layer.v1.tar"
#define OCI_MT_LAYER_GZIP    "application/vnd.oci.image.layer.v1.tar+gzip"
#define OCI_MT_LAYER_ZSTD    "application/vnd.oci.image.layer.v1.tar+zstd"
#define DOCKER_MT_LIST       "application/vnd.docker.distribution.manifest.list.v2+json"
#define DOCKER_MT_MANIFEST   "application/vnd.docker.distribution.manifest.v2+json"
#define DOCKER_MT_CONFIG     "application/vnd.docker.container.image.v1+json"
#define DOCKER_MT_LAYER_GZIP "application/vnd.docker.image.rootfs.diff.tar.gzip"

/* Annotations read from index entries. */
#define OCI_ANN_REF_NAME     "org.opencontainers.image.ref.name"
#define OCI_ANN_IMAGE_NAME   "io.containerd.image.name"   /* docker save, nerdctl, buildkit */

struct oci_platform {
	char *os, *architecture, *variant;   /* variant may be NULL */
};

struct oci_descriptor {
	char *media_type;
	struct rootfs_digest digest;
	int64_t size;
	struct oci_platform platform;   /* index entries only; fields NULL when absent */
	char *ref_name;                 /* annotation org.opencontainers.image.ref.name, or NULL */
	char *image_name;               /* annotation io.containerd.image.name, or NULL */
};

struct oci_index {
	char *media_type;                /* OCI_MT_INDEX (also when absent) or DOCKER_MT_LIST */
	struct oci_descriptor *manifests;
	size_t n_manifests;
};

struct oci_manifest {
	char *media_type;                /* OCI_MT_MANIFEST (also when absent) or DOCKER_MT_MANIFEST */
	struct oci_descriptor config;
	struct oci_descriptor *layers;
	enum rootfs_compression *layer_comp;   /* per layer, from its media type */
	size_t n_layers;
};

struct oci_kv {
	char *key, *value;
};

struct oci_image_config {
	struct oci_platform platform;   /* "os", "architecture", "variant" */
	char *created;                  /* RFC 3339 text as found, or NULL */
	char **entrypoint;              /* NULL-terminated, NULL when unset ([] gives an empty list) */
	char **cmd;                     /* likewise */
	char **env;                     /* "K=V" strings, NULL-terminated (maybe empty) */
	char *working_dir, *user, *stop_signal;   /* NULL when unset or "" (docker writes "") */
	char **exposed_ports;           /* "8080/tcp" ("80" is read as "80/tcp"; protocol
					 * lowercased), NULL-terminated (maybe empty) */
	struct oci_kv *labels;
	size_t n_labels;
	struct rootfs_digest *diff_ids; /* rootfs.diff_ids, in order */
	size_t n_diff_ids;
};

/* One entry of a docker-archive manifest.json. Paths are relative, hold no
 * ".." component, and are stored cleaned (fs_path_clean: no "./", no "//"). */
struct docker_archive_image {
	char *config;         /* path inside the archive, e.g. "<hex>.json" or "blobs/sha256/<hex>" */
	char **repo_tags;     /* NULL-terminated, maybe empty (docker writes null for untagged) */
	char **layers;        /* paths inside the archive, NULL-terminated */
	size_t n_layers;
};

struct docker_archive_manifest {
	struct docker_archive_image *images;
	size_t n_images;
};

int oci_index_parse(const char *buf, size_t len, const char *what, struct oci_index *out,
		    struct berr **err);
/* OCI or docker schema2 image manifest (not an index: that is refused with
 * "is an image index, not a manifest"). */
int oci_manifest_parse(const char *buf, size_t len, const char *what, struct oci_manifest *out,
		       struct berr **err);
int oci_config_parse(const char *buf, size_t len, const char *what,
		     struct oci_image_config *out, struct berr **err);
int docker_archive_manifest_parse(const char *buf, size_t len, const char *what,
				  struct docker_archive_manifest *out, struct berr **err);

/* Index of the manifest in idx matching os/architecture (and variant when
 * given; "amd64" matches an absent variant, "arm64" matches "v8" or none).
 * Entries without a platform match only when no entry has one. Error when
 * nothing matches, listing the platforms that are there.
 *
 * Precisely: only entries whose mediaType is a manifest or an index are
 * candidates (attestations with platform unknown/unknown never match
 * linux/...). Architecture aliases x86_64 = amd64 and aarch64 = arm64 are
 * accepted. Variants are compared after defaults are filled in: none = "v1"
 * on amd64, "v7" on arm, "v8" on arm64 ("7" = "v7"). An exact match wins;
 * without a requested variant any variant of the os/arch follows; with one,
 * amd64 "vN" and arm "vN" also accept a lower level (the nearest first).
 * Among equals the first entry wins. os NULL means "linux", arch NULL "amd64".
 * Error: "index.json: no image for linux/arm64 (available: linux/amd64, linux/arm/v7)". */
int oci_index_select(const struct oci_index *idx, const char *what, const char *os,
		     const char *arch, const char *variant, size_t *out, struct berr **err);

/* Whether platform p (as in an index entry or an image config) runs on
 * os/arch/variant by the rules of oci_index_select. */
bool oci_platform_matches(const struct oci_platform *p, const char *os, const char *arch,
			  const char *variant);

/* The image config must list one diff_id per manifest layer:
 * "<what>: config has 3 diff_ids but the manifest has 2 layers". */
int oci_check_layers_match(const struct oci_manifest *m, const struct oci_image_config *c,
			   const char *what, struct berr **err);
/* Likewise for a docker-archive entry ("... but manifest.json lists 2 layers"). */
int docker_archive_check_layers_match(const struct docker_archive_image *img,
				      const struct oci_image_config *c, const char *what,
				      struct berr **err);

/* Whether an index or manifest media type names an index ("list"). */
bool oci_media_type_is_index(const char *mt);
/* Whether it names an image manifest (OCI or docker schema2). */
bool oci_media_type_is_manifest(const char *mt);
/* Whether it names an image config (OCI or docker). */
bool oci_media_type_is_config(const char *mt);
/* Whether berth can unpack a layer of this media type, and with which
 * decompressor: the OCI tar / tar+gzip / tar+zstd types and their
 * nondistributable variants, docker's rootfs.diff.tar(.gzip|.zstd) and its
 * foreign variants. comp may be NULL. */
bool oci_layer_media_type(const char *mt, enum rootfs_compression *comp);

void oci_index_free(struct oci_index *x);
void oci_manifest_free(struct oci_manifest *x);
void oci_config_free(struct oci_image_config *x);
void docker_archive_manifest_free(struct docker_archive_manifest *x);

#endif
