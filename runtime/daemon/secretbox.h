/* runtime/daemon/secretbox.h - secrets encrypted at rest (docs/credentials.md,
 * "Secrets").
 *
 * AES-256-GCM (OpenSSL's EVP) under a key derived from the host key with its
 * own label,
 *
 *     K_secret_at_rest = HMAC-SHA256(host_key, "berth secret at rest v1"),
 *
 * a random 96-bit nonce for every write, and the secret's name as the
 * additional authenticated data: a row copied to another name, a changed
 * byte of the ciphertext, tag or nonce, or another host key, all fail to
 * open. The stored ciphertext is the encrypted value followed by the 16-byte
 * tag. Here, in berthd's library, because berth-shim and the CLI must not
 * load libcrypto (docs/berthd.md). */
#ifndef BERTH_RUNTIME_DAEMON_SECRETBOX_H
#define BERTH_RUNTIME_DAEMON_SECRETBOX_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define SECRETBOX_KEY_LEN 32
#define SECRETBOX_NONCE_LEN 12
#define SECRETBOX_TAG_LEN 16
#define SECRETBOX_LABEL "berth secret at rest v1"

/* The at-rest key of a host key (32 bytes). */
void secretbox_key(const uint8_t host_key[32], uint8_t key[SECRETBOX_KEY_LEN]);

/* Encrypt value[0..len) for the secret `name`: a fresh nonce into nonce,
 * *ct (xmalloc'd) = ciphertext + tag, *ct_len = len + SECRETBOX_TAG_LEN. */
int secretbox_seal(const uint8_t key[SECRETBOX_KEY_LEN], const char *name, const void *value,
		   size_t len, uint8_t nonce[SECRETBOX_NONCE_LEN], uint8_t **ct, size_t *ct_len,
		   struct berr **err);

/* Decrypt and authenticate: *value (xmalloc'd, NUL-terminated; the caller
 * wipes it) and *len, or -EBADMSG "secret NAME: does not decrypt (altered,
 * moved to another name, or encrypted under another host key)". */
int secretbox_open(const uint8_t key[SECRETBOX_KEY_LEN], const char *name,
		   const uint8_t nonce[SECRETBOX_NONCE_LEN], const uint8_t *ct, size_t ct_len,
		   char **value, size_t *len, struct berr **err);

#endif
