/* common/sha256.h - SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104),
 * built in.
 *
 * berth hashes image content (layer blobs and diff ids, at several hundred
 * MB/s) and small things (chain ids, the seccomp cache key, SigV4). Linking
 * libcrypto for that cost every berth process about 40-60 ms at first use
 * (its initialisation, under TCG) and every shim ~2.9 MiB of RSS; this is a
 * few hundred lines instead. On CPUs with the SHA extensions (x86 SHA-NI,
 * checked once with cpuid) the block function uses them and runs at
 * libcrypto's speed; elsewhere a portable C version does. */
#ifndef BERTH_COMMON_SHA256_H
#define BERTH_COMMON_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_LEN 32
#define SHA256_BLOCK 64

struct sha256 {
	uint32_t h[8];
	uint64_t total;                  /* bytes hashed so far */
	unsigned char buf[SHA256_BLOCK];
	size_t used;                     /* bytes waiting in buf */
};

void sha256_init(struct sha256 *c);
void sha256_update(struct sha256 *c, const void *data, size_t len);
/* Writes the digest; c must be re-initialised before reuse. */
void sha256_final(struct sha256 *c, unsigned char out[SHA256_LEN]);
void sha256(const void *data, size_t len, unsigned char out[SHA256_LEN]);

/* HMAC-SHA256 of data under key (any length). */
void hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
		 unsigned char out[SHA256_LEN]);

/* Which block function is in use: "sha-ni" or "portable". */
const char *sha256_impl(void);
/* Tests and benchmarks: force the portable block function (true) or go
 * back to the automatic choice (false). */
void sha256_force_portable(int on);

#endif
