/* rootfs/digest.c - see digest.h */
#include "rootfs/digest.h"
#include "common/sha256.h"
#include "common/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rootfs_sha256 {
	struct sha256 c;
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

	sha256_init(&h->c);
	return h;
}

void rootfs_sha256_reset(struct rootfs_sha256 *h)
{
	sha256_init(&h->c);
}

void rootfs_sha256_update(struct rootfs_sha256 *h, const void *data, size_t len)
{
	sha256_update(&h->c, data, len);
}

static void to_hex(const unsigned char md[SHA256_LEN], struct rootfs_digest *out)
{
	static const char hexdig[] = "0123456789abcdef";

	for (unsigned i = 0; i < SHA256_LEN; i++) {
		out->hex[2 * i] = hexdig[md[i] >> 4];
		out->hex[2 * i + 1] = hexdig[md[i] & 15];
	}
	out->hex[ROOTFS_SHA256_HEX] = '\0';
}

void rootfs_sha256_final(struct rootfs_sha256 *h, struct rootfs_digest *out)
{
	unsigned char md[SHA256_LEN];

	sha256_final(&h->c, md);
	to_hex(md, out);
}

void rootfs_sha256_free(struct rootfs_sha256 *h)
{
	free(h);
}

void rootfs_sha256_buf(const void *data, size_t len, struct rootfs_digest *out)
{
	unsigned char md[SHA256_LEN];

	sha256(data, len, md);
	to_hex(md, out);
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
