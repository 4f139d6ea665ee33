/* runtime/daemon/secretbox.c - AES-256-GCM for secrets at rest (secretbox.h). */
#include <errno.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common/error.h"
#include "common/sha256.h"
#include "common/xalloc.h"
#include "runtime/daemon/secretbox.h"

void secretbox_key(const uint8_t host_key[32], uint8_t key[SECRETBOX_KEY_LEN])
{
	hmac_sha256(host_key, 32, SECRETBOX_LABEL, strlen(SECRETBOX_LABEL), key);
}

static int random_bytes(uint8_t *b, size_t n, struct berr **err)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = getrandom(b + got, n - got, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return berr_set(err, errno, "getrandom");
		got += (size_t)r;
	}
	return 0;
}

int secretbox_seal(const uint8_t key[SECRETBOX_KEY_LEN], const char *name, const void *value,
		   size_t len, uint8_t nonce[SECRETBOX_NONCE_LEN], uint8_t **ct, size_t *ct_len,
		   struct berr **err)
{
	EVP_CIPHER_CTX *c;
	uint8_t *out;
	int n = 0, fin = 0, r;

	*ct = NULL;
	*ct_len = 0;
	if (len > INT32_MAX / 2 || strlen(name) > INT32_MAX / 2)
		return berr_set(err, EINVAL, "secret %s: value too large", name);
	if ((r = random_bytes(nonce, SECRETBOX_NONCE_LEN, err)) < 0)
		return r;
	c = EVP_CIPHER_CTX_new();
	if (!c)
		return berr_set(err, ENOMEM, "secret %s: EVP_CIPHER_CTX_new", name);
	out = xmalloc(len + SECRETBOX_TAG_LEN);
	if (EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, SECRETBOX_NONCE_LEN, NULL) != 1 ||
	    EVP_EncryptInit_ex(c, NULL, NULL, key, nonce) != 1 ||
	    EVP_EncryptUpdate(c, NULL, &n, (const unsigned char *)name, (int)strlen(name)) != 1 ||
	    (len && EVP_EncryptUpdate(c, out, &n, value, (int)len) != 1) ||
	    EVP_EncryptFinal_ex(c, out + (len ? n : 0), &fin) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, SECRETBOX_TAG_LEN, out + len) != 1) {
		EVP_CIPHER_CTX_free(c);
		explicit_bzero(out, len + SECRETBOX_TAG_LEN);
		free(out);
		return berr_set(err, EIO, "secret %s: encryption failed (OpenSSL)", name);
	}
	EVP_CIPHER_CTX_free(c);
	*ct = out;
	*ct_len = len + SECRETBOX_TAG_LEN;
	return 0;
}

int secretbox_open(const uint8_t key[SECRETBOX_KEY_LEN], const char *name,
		   const uint8_t nonce[SECRETBOX_NONCE_LEN], const uint8_t *ct, size_t ct_len,
		   char **value, size_t *len, struct berr **err)
{
	EVP_CIPHER_CTX *c;
	uint8_t tag[SECRETBOX_TAG_LEN];
	size_t plen;
	char *out;
	int n = 0, fin = 0, ok;

	*value = NULL;
	*len = 0;
	if (ct_len < SECRETBOX_TAG_LEN || ct_len > INT32_MAX / 2) {
		berr_set(err, 0, "secret %s: stored ciphertext has %zu bytes (at least %d expected)",
			 name, ct_len, SECRETBOX_TAG_LEN);
		return -EBADMSG;
	}
	plen = ct_len - SECRETBOX_TAG_LEN;
	memcpy(tag, ct + plen, SECRETBOX_TAG_LEN);
	c = EVP_CIPHER_CTX_new();
	if (!c)
		return berr_set(err, ENOMEM, "secret %s: EVP_CIPHER_CTX_new", name);
	out = xmalloc(plen + 1);
	ok = EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
	     EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, SECRETBOX_NONCE_LEN, NULL) == 1 &&
	     EVP_DecryptInit_ex(c, NULL, NULL, key, nonce) == 1 &&
	     EVP_DecryptUpdate(c, NULL, &n, (const unsigned char *)name, (int)strlen(name)) == 1 &&
	     (!plen || EVP_DecryptUpdate(c, (unsigned char *)out, &n, ct, (int)plen) == 1) &&
	     EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, SECRETBOX_TAG_LEN, tag) == 1 &&
	     EVP_DecryptFinal_ex(c, (unsigned char *)out + (plen ? n : 0), &fin) == 1;
	EVP_CIPHER_CTX_free(c);
	if (!ok) {
		explicit_bzero(out, plen + 1);
		free(out);
		/* no strerror appended: this ends up in a task's stoppedReason */
		berr_set(err, 0, "secret %s: does not decrypt (altered, moved to another name, or "
			 "encrypted under another host key)", name);
		return -EBADMSG;
	}
	out[plen] = '\0';
	*value = out;
	*len = plen;
	return 0;
}
