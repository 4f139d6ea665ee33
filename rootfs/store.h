/* rootfs/store.h - berth's content store for images.
 *
 * Layout under the store root (default /var/lib/berth/images):
 *   blobs/sha256/<hex>       verified content (manifests, configs, layer blobs), read-only
 *   layers/<chainhex>/       a layer unpacked once, shared by every image and task using it
 *   layers/<chainhex>.json   its metadata (diff_id, sizes)
 *   images/<manifesthex>.json  one record per image: config and layer list
 *   refs.json                "name:tag" -> manifest digest
 *   leases/<holder>.json     manifests a running task uses (rm and prune respect them)
 *   used/<manifesthex>       empty; its mtime is the image's last use (prune --older-than, --budget)
 *   tmp/                     work in progress; anything here at open is a leftover and removed
 *   .lock                    flock: one writer at a time (readers need none: every
 *                            file is replaced by rename, never rewritten in place)
 * Everything becomes visible by rename(2), so an interrupted import or unpack
 * never leaves a half blob, layer or record where readers look. */
#ifndef BERTH_ROOTFS_STORE_H
#define BERTH_ROOTFS_STORE_H

#include "common/error.h"
#include "rootfs/digest.h"
#include "rootfs/layer.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rootfs_store;
struct rootfs_blob_writer;

struct rootfs_layer_ref {
	struct rootfs_digest blob;      /* compressed (as stored) */
	struct rootfs_digest diff_id;   /* uncompressed */
	struct rootfs_digest chain;     /* OCI chain id: the unpacked layer's key */
	int64_t size;                   /* blob size */
	enum rootfs_compression comp;
};

struct rootfs_image {
	struct rootfs_digest manifest, config;
	int64_t created;                /* import time, unix seconds */
	char *source;                   /* what it was imported from, for people */
	struct rootfs_layer_ref *layers;
	size_t n_layers;
};

/* Open (creating if needed) the store at root; removes leftovers in tmp/. */
int rootfs_store_open(const char *root, struct rootfs_store **out, struct berr **err);
void rootfs_store_close(struct rootfs_store *s);
const char *rootfs_store_root(const struct rootfs_store *s);

/* Exclusive writer lock (blocking); mutating calls below expect it held. */
int rootfs_store_lock(struct rootfs_store *s, struct berr **err);
void rootfs_store_unlock(struct rootfs_store *s);

/* Blobs. A writer is a temporary file in tmp/; commit verifies the digest
 * (and size when expect_size >= 0) and renames it into blobs/ (or drops it
 * when the blob is already there; *was_new says which). */
int rootfs_blob_begin(struct rootfs_store *s, struct rootfs_blob_writer **out, struct berr **err);
int rootfs_blob_write(struct rootfs_blob_writer *w, const void *buf, size_t len, struct berr **err);
int rootfs_blob_commit(struct rootfs_blob_writer *w, const struct rootfs_digest *expect,
		       int64_t expect_size, const char *what, struct rootfs_digest *got,
		       bool *was_new, struct berr **err);
void rootfs_blob_abort(struct rootfs_blob_writer *w);   /* also frees; NULL ok */
bool rootfs_store_has_blob(struct rootfs_store *s, const struct rootfs_digest *d);
int rootfs_store_open_blob(struct rootfs_store *s, const struct rootfs_digest *d, struct berr **err);
int rootfs_store_read_blob(struct rootfs_store *s, const struct rootfs_digest *d, size_t max,
			   char **buf, size_t *len, struct berr **err);
int rootfs_store_blob_size(struct rootfs_store *s, const struct rootfs_digest *d, int64_t *size,
			   struct berr **err);
/* Unlink a blob (used to roll back an import); absent is fine. */
int rootfs_store_remove_blob(struct rootfs_store *s, const struct rootfs_digest *d, struct berr **err);

/* Layers. */
bool rootfs_store_has_layer(struct rootfs_store *s, const struct rootfs_digest *chain);
char *rootfs_store_layer_path(struct rootfs_store *s, const struct rootfs_digest *chain);
/* Unpack blob l->blob into layers/<chain> through a temporary directory,
 * verifying the uncompressed digest against l->diff_id. *unpacked is false
 * when the layer was already there (nothing done). */
int rootfs_store_unpack_layer(struct rootfs_store *s, const struct rootfs_layer_ref *l,
			      const struct rootfs_unpack_opts *opts, bool *unpacked,
			      struct rootfs_unpack_result *res, struct berr **err);
/* Bytes of file content in an unpacked layer (from its metadata), 0 if unknown. */
uint64_t rootfs_store_layer_bytes(struct rootfs_store *s, const struct rootfs_digest *chain);

/* Images and references. */
int rootfs_store_put_image(struct rootfs_store *s, const struct rootfs_image *img, struct berr **err);
int rootfs_store_get_image(struct rootfs_store *s, const struct rootfs_digest *manifest,
			   struct rootfs_image *out, struct berr **err);
int rootfs_store_list_images(struct rootfs_store *s, struct rootfs_image **out, size_t *n,
			     struct berr **err);
void rootfs_image_free(struct rootfs_image *img);   /* contents only */
void rootfs_images_free(struct rootfs_image *v, size_t n);

/* "name", "name:tag", "host:5000/a/b:tag" -> normalized "name:tag" (":latest"
 * added), Docker Hub's names as docker shows them: "busybox",
 * "docker.io/library/busybox" and "index.docker.io/library/busybox:latest"
 * are all "busybox:latest", "docker.io/team/app" is "team/app:latest".
 * NULL and an error naming the reference when it is not valid. Tags,
 * lookups and removal all use this form (names a store recorded in
 * another spelling are found too). */
char *rootfs_ref_normalize(const char *ref, struct berr **err);
int rootfs_store_tag(struct rootfs_store *s, const char *ref, const struct rootfs_digest *manifest,
		     struct berr **err);
/* Refs pointing at manifest (NULL-terminated, sorted; free with strv_free). */
char **rootfs_store_refs_of(struct rootfs_store *s, const struct rootfs_digest *manifest);
/* A reference, "sha256:<hex>", or a unique hex prefix of >= 4 digits -> manifest. */
int rootfs_store_resolve(struct rootfs_store *s, const char *what, struct rootfs_digest *manifest,
			 struct berr **err);

/* Remove a reference; when it was the image's last one (or `what` names the
 * image by digest), remove the image record too. Layers and blobs stay until
 * prune. Refuses while a lease holds the image, naming the holder. */
int rootfs_store_remove(struct rootfs_store *s, const char *what, struct berr **err);

struct rootfs_prune_stats {
	size_t images, layers, blobs;
	uint64_t bytes;            /* freed */
	uint64_t kept_bytes;       /* blobs and unpacked layers left (computed with a budget) */
	bool over_budget;          /* leased images alone exceed the budget */
};
/* Remove images with no reference and no lease, then every layer and blob no
 * remaining image uses. */
int rootfs_store_prune(struct rootfs_store *s, struct rootfs_prune_stats *st, struct berr **err);

/* Prune by age and disuse with a disk budget (as ECR lifecycle policies do).
 * An image's last use is the latest of its import or pull into the store,
 * and any lease taken on it or released from it (rootfs_store_mark_used).
 * Leased images are never removed; a removed image loses all its names. */
struct rootfs_prune_opts {
	int64_t older_than;        /* > 0: also remove images unused for this many seconds */
	bool has_budget;
	uint64_t budget;           /* then remove the least recently used images until
				    * blobs + unpacked layers fit in this many bytes */
	int64_t now;               /* unix seconds; 0: the clock */
};
int rootfs_store_prune_opts(struct rootfs_store *s, const struct rootfs_prune_opts *o,
			    struct rootfs_prune_stats *st, struct berr **err);
/* Record a use of the image now: the mtime of used/<hex> (not fsynced: a
 * use lost in a crash only makes the image look older to prune). */
int rootfs_store_mark_used(struct rootfs_store *s, const struct rootfs_digest *manifest, struct berr **err);
/* The image's last use (unix seconds): its record's created time or a later mark. */
int64_t rootfs_store_last_used(struct rootfs_store *s, const struct rootfs_image *img);
/* Bytes an image takes in the store: its blobs and unpacked layers. */
uint64_t rootfs_store_image_bytes(struct rootfs_store *s, const struct rootfs_image *img);

/* Leases: a running task (holder = task id) keeps its images alive. */
int rootfs_store_lease(struct rootfs_store *s, const char *holder,
		       const struct rootfs_digest *manifest, struct berr **err);
int rootfs_store_release(struct rootfs_store *s, const char *holder, struct berr **err);

#endif
