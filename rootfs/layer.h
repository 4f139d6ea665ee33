/* rootfs/layer.h - unpack one image layer, safely and fast.
 *
 * A layer is a tar stream, compressed with gzip or zstd or not at all. It is
 * unpacked into an empty directory that the caller created (in practice a
 * temporary directory inside the store, renamed into place on success).
 * Every entry is resolved inside that directory and no symlink is ever
 * followed (fs_open_in_root with RESOLVE_NO_SYMLINKS): an entry below a
 * symlink of the layer ("link/file"), absolute names, ".." components,
 * hardlinks to anything not already unpacked in this layer, device nodes
 * and duplicate entries are refused with an error that names the entry.
 * docs/images.md, "Layer unpack", has the rules in full. OCI whiteouts
 * become overlayfs ones: ".wh.NAME" -> a 0/0 character device NAME,
 * ".wh..wh..opq" -> the directory's overlay "opaque" xattr.
 * The sha256 of the uncompressed stream (the layer's diff_id) is computed in
 * the same pass, so the caller can verify it against the image config. */
#ifndef BERTH_ROOTFS_LAYER_H
#define BERTH_ROOTFS_LAYER_H

#include "common/error.h"
#include "rootfs/digest.h"

#include <stdint.h>

enum rootfs_compression {
	ROOTFS_COMP_DETECT = 0,   /* sniff the magic bytes */
	ROOTFS_COMP_NONE,
	ROOTFS_COMP_GZIP,
	ROOTFS_COMP_ZSTD,
};

enum {
	/* Do not chown entries (unprivileged tests); the default preserves uid/gid. */
	ROOTFS_UNPACK_NO_CHOWN = 1u << 0,
	/* Opaque directories get user.overlay.opaque instead of
	 * trusted.overlay.opaque (overlay mounted with "userxattr", in a user namespace). */
	ROOTFS_UNPACK_USER_XATTR = 1u << 1,
};

struct rootfs_unpack_opts {
	/* uncompressed tar bytes; 0 = ROOTFS_DEFAULT_MAX_BYTES. Counted as the
	 * stream is decompressed: a bomb stops after max_bytes + 1 bytes. */
	uint64_t max_bytes;
	uint64_t max_entries;   /* 0 = ROOTFS_DEFAULT_MAX_ENTRIES */
	unsigned flags;
	/* called now and then with the compressed bytes consumed so far, from
	 * the calling thread; last with the total on success */
	void (*progress)(uint64_t compressed_done, void *data);
	void *progress_data;
};

#define ROOTFS_DEFAULT_MAX_BYTES   (64ULL << 30)   /* 64 GiB */
#define ROOTFS_DEFAULT_MAX_ENTRIES (4ULL << 20)    /* 4 Mi entries */

struct rootfs_unpack_result {
	struct rootfs_digest diff_id;   /* sha256 of the uncompressed tar stream */
	uint64_t tar_bytes;             /* uncompressed size */
	uint64_t entries;
	uint64_t file_bytes;            /* bytes of regular file content written */
	enum rootfs_compression compression;   /* the format found (never DETECT) */
	uint64_t blob_bytes;            /* compressed bytes read */
};

/* Unpack the layer read from blob_fd (from its current offset to EOF) into the
 * empty directory dirfd. On failure the directory's content is unspecified
 * and the caller removes it; nothing outside it has been touched; res is
 * still filled in except diff_id (tar_bytes: how far decompression got).
 * Runs one helper thread (reading and decompressing) next to the calling
 * thread (tar parsing and writing); the diff_id is hashed by whichever of
 * the two has less to do. No fsync: the caller syncs before it renames the
 * directory into place. Error messages name the entry:
 * "layer entry dev/sda: device nodes are not allowed in images". */
int rootfs_layer_unpack(int blob_fd, enum rootfs_compression comp, int dirfd,
			const struct rootfs_unpack_opts *opts, struct rootfs_unpack_result *res,
			struct berr **err);

/* "gzip", "zstd", "none", "detect". */
const char *rootfs_compression_name(enum rootfs_compression c);

#endif
