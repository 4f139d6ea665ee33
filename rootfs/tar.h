/* rootfs/tar.h - streaming tar reader for image layers (internal to rootfs).
 *
 * Reads ustar, GNU (long names 'L'/'K') and PAX ('x' records: path,
 * linkpath, size, mtime, uid, gid, SCHILY.xattr.*, LIBARCHIVE.xattr.*) from
 * a byte source that hands out runs of bytes (the decompressed ring buffers
 * of layer.c), without copying file data: rootfs_tar_read returns pointers
 * into the source's runs. Only the parsing is here; what an entry means for
 * the filesystem is layer.c's business.
 *
 * Strictness follows Go's archive/tar, which wrote and reads most OCI layers:
 * header-only types (links, dirs, fifos, devices) carry no data whatever their
 * size field says; a type '\0' name ending in '/' is a directory; a stream
 * may end without the two zero blocks; 'g' global headers are skipped. Names
 * or link names with a NUL byte, sparse files (GNU 'S', GNU.sparse.*),
 * unknown types and bad checksums are errors. */
#ifndef BERTH_ROOTFS_TAR_H
#define BERTH_ROOTFS_TAR_H

#include "common/error.h"

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Largest PAX header or GNU long name/link we read (Go's limit too). */
#define ROOTFS_TAR_MAX_META (1u << 20)

enum rootfs_tar_type {
	ROOTFS_TAR_REG,
	ROOTFS_TAR_HARDLINK,
	ROOTFS_TAR_SYMLINK,
	ROOTFS_TAR_CHR,
	ROOTFS_TAR_BLK,
	ROOTFS_TAR_DIR,
	ROOTFS_TAR_FIFO,
};

struct rootfs_tar_xattr {
	char *name;          /* NUL-terminated, no NUL inside */
	unsigned char *value;
	size_t len;
};

struct rootfs_tar_entry {
	enum rootfs_tar_type type;
	char typeflag;       /* as in the archive, for messages */
	char *name;          /* NUL-terminated, never contains a NUL */
	char *linkname;      /* "" unless a link */
	uint64_t size;       /* data bytes; 0 for header-only types */
	uint32_t mode;       /* permission bits (07777) */
	uint64_t uid, gid;
	struct timespec mtime;
	uint32_t devmajor, devminor;
	struct rootfs_tar_xattr *xattrs;
	size_t n_xattrs;
	uint64_t offset;     /* of the entry's (first) header in the tar stream */
};

/* The byte source: the next run of bytes of the tar stream in *p / *len
 * (*len > 0), or *len == 0 at the end of the stream. The previous run may be
 * reused once this is called again. Negative (err set) on error. */
typedef int (*rootfs_tar_next_fn)(void *ctx, const unsigned char **p, size_t *len,
				  struct berr **err);

struct rootfs_tar_reader;

struct rootfs_tar_reader *rootfs_tar_reader_new(rootfs_tar_next_fn next, void *ctx);
void rootfs_tar_reader_free(struct rootfs_tar_reader *r);

/* Read the next entry's headers, skipping what is left of the previous
 * entry's data. 1 with *e set (valid until the next call), 0 at the end of
 * the archive, negative on error. Errors name the entry, escaped
 * ("layer entry \"a\\nb\": ..."), or the offset of a header that is corrupt. */
int rootfs_tar_next(struct rootfs_tar_reader *r, struct rootfs_tar_entry **e, struct berr **err);

/* Next chunk of the current entry's data: a pointer into the source's run,
 * valid until the next call on r. *len == 0 once all the data was read.
 * A stream that ends inside the data is an error. */
int rootfs_tar_read(struct rootfs_tar_reader *r, const unsigned char **p, size_t *len,
		    struct berr **err);

/* After the end of the archive: read the source to its end (the bytes are
 * ignored). Returns the number of bytes skipped, or negative. */
int64_t rootfs_tar_drain(struct rootfs_tar_reader *r, struct berr **err);

/* Bytes of the tar stream consumed so far. */
uint64_t rootfs_tar_offset(const struct rootfs_tar_reader *r);

/* Escape a name for a message: printable ASCII as is, everything else as
 * \xNN, quoted when anything was escaped, cut to about `cap` bytes with
 * "..." when longer. Returns buf. */
const char *rootfs_tar_display(const char *name, size_t len, char *buf, size_t cap);

#endif
