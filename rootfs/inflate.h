/* rootfs/inflate.h - streaming decompression of a layer blob (internal to rootfs).
 *
 * gzip through ISA-L's igzip (about 2x zlib here: 700 vs 325 MB/s on the
 * bench layer), zstd through libzstd's streaming API, or no compression.
 * Reads the blob fd itself, in large chunks. The stream must end cleanly:
 * a truncated or corrupt stream is an error, and so is data after the
 * compressed stream, except NUL padding after the last gzip member (which
 * GNU gzip also accepts). Concatenated gzip members and zstd frames are one
 * stream, as gzip -d and zstd -d read them. */
#ifndef BERTH_ROOTFS_INFLATE_H
#define BERTH_ROOTFS_INFLATE_H

#include "common/error.h"
#include "rootfs/layer.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct rootfs_inflater;

/* Start reading fd; with ROOTFS_COMP_DETECT the first bytes pick the format. */
int rootfs_inflater_new(int fd, enum rootfs_compression comp, struct rootfs_inflater **out,
			struct berr **err);

/* Fill out with up to cap uncompressed bytes. Returns how many: cap unless
 * the stream ended or broke, 0 once it has ended (and was checked to have
 * ended cleanly), negative on error. When the stream breaks, the bytes
 * decoded before are returned first and the error by the next call. */
ssize_t rootfs_inflater_read(struct rootfs_inflater *z, void *out, size_t cap, struct berr **err);

/* Compressed bytes read from the fd so far. */
uint64_t rootfs_inflater_consumed(const struct rootfs_inflater *z);

/* The format in use (never DETECT). */
enum rootfs_compression rootfs_inflater_format(const struct rootfs_inflater *z);

void rootfs_inflater_free(struct rootfs_inflater *z);

#endif
