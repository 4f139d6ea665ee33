/* rootfs/digest.c - see digest.h */
#include "rootfs/digest.h"
#include "common/xalloc.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rootfs_sha256 {
	EVP_MD_CTX *ctx;
};

static bool is_lower_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

int rootfs_digest_parse(const char *s, const char *what, struct rootfs_digest *out,
			struct berr **err)
{
	const char *colon = s ? strchr(s, ':') : NULL;

	if (colon == NULL)
		return berr_set(err, 0, "%s: \"%s\" is not a digest (want sha256:<64 hex digits>)",
				what, s ? s : "");
	if ((size_t)(colon - s) != 6 || strncmp(s, "sha256", 6) != 0)
		return berr_set(err, 0, "%s: unsupported digest algorithm \"%.*s\" (berth verifies sha256)",
				what, (int)(colon - s), s);
	if (strlen(colon + 1) != ROOTFS_SHA256_HEX || !is_lower_hex(colon + 1, ROOTFS_SHA256_HEX))
		return berr_set(err, 0, "%s: \"%s\" is not a digest (want sha256:<64 lowercase hex digits>)",
				what, s);
	memcpy(out->hex, colon + 1, ROOTFS_SHA256_HEX + 1);
	return 0;
}

const char *rootfs_digest_str(const struct rootfs_digest *d, char buf[ROOTFS_DIGEST_STR])
{
	snprintf(buf, ROOTFS_DIGEST_STR, "sha256:%s", d->hex);
	return buf;
}

bool rootfs_digest_eq(const struct rootfs_digest *a, const struct rootfs_digest *b)
{
	return memcmp(a->hex, b->hex, ROOTFS_SHA256_HEX) == 0;
}

struct rootfs_sha256 *rootfs_sha256_new(void)
{
	struct rootfs_sha256 *h = xzalloc(sizeof(*h));

	h->ctx = EVP_MD_CTX_new();
	if (h->ctx == NULL) {
		fprintf(stderr, "berth: out of memory (EVP_MD_CTX_new)\n");
		abort();
	}
	rootfs_sha256_reset(h);
	return h;
}

void rootfs_sha256_reset(struct rootfs_sha256 *h)
{
	if (EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) {
		fprintf(stderr, "berth: EVP_DigestInit_ex(sha256) failed\n");
		abort();
	}
}

void rootfs_sha256_update(struct rootfs_sha256 *h, const void *data, size_t len)
{
	EVP_DigestUpdate(h->ctx, data, len);
}

void rootfs_sha256_final(struct rootfs_sha256 *h, struct rootfs_digest *out)
{
	static const char hexdig[] = "0123456789abcdef";
	unsigned char md[32];
	unsigned int n = 0;

	EVP_DigestFinal_ex(h->ctx, md, &n);
	for (unsigned i = 0; i < 32; i++) {
		out->hex[2 * i] = hexdig[md[i] >> 4];
		out->hex[2 * i + 1] = hexdig[md[i] & 15];
	}
	out->hex[ROOTFS_SHA256_HEX] = '\0';
}

void rootfs_sha256_free(struct rootfs_sha256 *h)
{
	if (h == NULL)
		return;
	EVP_MD_CTX_free(h->ctx);
	free(h);
}

void rootfs_sha256_buf(const void *data, size_t len, struct rootfs_digest *out)
{
	struct rootfs_sha256 *h = rootfs_sha256_new();

	rootfs_sha256_update(h, data, len);
	rootfs_sha256_final(h, out);
	rootfs_sha256_free(h);
}

void rootfs_chain_id(const struct rootfs_digest *parent_chain, const struct rootfs_digest *diff_id,
		     struct rootfs_digest *out)
{
	char buf[2 * ROOTFS_DIGEST_STR + 1];

	if (parent_chain == NULL) {
		*out = *diff_id;
		return;
	}
	snprintf(buf, sizeof(buf), "sha256:%s sha256:%s", parent_chain->hex, diff_id->hex);
	rootfs_sha256_buf(buf, strlen(buf), out);
}
