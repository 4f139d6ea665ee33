/* rootfs/digest.h - content digests ("sha256:<64 lowercase hex>").
 *
 * berth stores and verifies content by sha256 only: the algorithm every OCI
 * and docker image uses. Another algorithm in a descriptor is refused with a
 * message that says so, not mistaken for a bad digest. */
#ifndef BERTH_ROOTFS_DIGEST_H
#define BERTH_ROOTFS_DIGEST_H

#include "common/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ROOTFS_SHA256_HEX 64

struct rootfs_digest {
	char hex[ROOTFS_SHA256_HEX + 1];   /* lowercase, NUL-terminated */
};

/* Parse "sha256:<hex>". `what` names the field in errors, e.g.
 * "manifests[0].digest: unsupported algorithm \"sha512\" (berth verifies sha256)". */
int rootfs_digest_parse(const char *s, const char *what, struct rootfs_digest *out,
			struct berr **err);
/* "sha256:<hex>" into buf (at least ROOTFS_DIGEST_STR bytes). */
#define ROOTFS_DIGEST_STR (7 + ROOTFS_SHA256_HEX + 1)
const char *rootfs_digest_str(const struct rootfs_digest *d, char buf[ROOTFS_DIGEST_STR]);
bool rootfs_digest_eq(const struct rootfs_digest *a, const struct rootfs_digest *b);

/* Incremental sha256 (common/sha256.c underneath). */
struct rootfs_sha256;
struct rootfs_sha256 *rootfs_sha256_new(void);
void rootfs_sha256_update(struct rootfs_sha256 *h, const void *data, size_t len);
/* Finish into *out; the context may be reused after rootfs_sha256_reset. */
void rootfs_sha256_final(struct rootfs_sha256 *h, struct rootfs_digest *out);
void rootfs_sha256_reset(struct rootfs_sha256 *h);
void rootfs_sha256_free(struct rootfs_sha256 *h);
void rootfs_sha256_buf(const void *data, size_t len, struct rootfs_digest *out);

/* The OCI chain id of layer n: chain(0) = diff_id(0),
 * chain(n) = sha256(chain(n-1) + " " + diff_id(n)) over the "sha256:..." strings. */
void rootfs_chain_id(const struct rootfs_digest *parent_chain, const struct rootfs_digest *diff_id,
		     struct rootfs_digest *out);

#endif
