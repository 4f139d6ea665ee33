/* fuzz_creds: credentials files (docker's config.json `auths`, berth's file
 * of the same shape: rootfs_cred_lookup) and base64.
 *
 * Input: "<registry>\0<file>". The registry is looked up in the file as
 * given and normalized; the registry text is also base64-decoded, and the
 * file's bytes encoded. Invariants: no crash or leak; a lookup error starts
 * with the file's name and fills nothing; FOUND fills a username and a
 * password, NONE and HELPER fill nothing; decode(encode(x)) == x; a string
 * that decodes is canonical: encoding the bytes gives it back (with its
 * padding added when it had none). */
#include "common/error.h"
#include "common/xalloc.h"
#include "rootfs/registry.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define WHAT "fuzz.json"

static void check(bool ok)
{
	if (!ok)
		abort();
}

static bool zeroed(const struct rootfs_cred *c)
{
	return c->username == NULL && c->password == NULL;
}

static void lookup(const char *buf, size_t len, const char *registry)
{
	struct rootfs_cred c;
	struct berr *err = NULL;
	int r = rootfs_cred_lookup(buf, len, WHAT, registry, &c, &err);

	if (r < 0) {
		check(err != NULL && (!strncmp(berr_msg(err), WHAT, strlen(WHAT)) ||
				      !strncmp(berr_msg(err), "parse " WHAT, strlen("parse " WHAT))));
		check(zeroed(&c));
		berr_free(err);
		return;
	}
	check(err == NULL);
	if (r == ROOTFS_CRED_FOUND) {
		check(c.username != NULL && c.password != NULL && *c.username != '\0');
	} else {
		check(r == ROOTFS_CRED_NONE || r == ROOTFS_CRED_HELPER);
		check(zeroed(&c));
	}
	rootfs_cred_free(&c);
	check(zeroed(&c));
}

static void base64(const char *s, const void *bytes, size_t n)
{
	struct berr *err = NULL;
	char *enc = rootfs_base64_encode(bytes, n), *dec = NULL, *again;
	size_t dlen = 0;

	check(strlen(enc) == (n + 2) / 3 * 4);
	check(rootfs_base64_decode(enc, &dec, &dlen, &err) == 0);
	check(dlen == n && memcmp(dec, bytes, n) == 0 && dec[dlen] == '\0');
	free(dec);
	free(enc);

	if (rootfs_base64_decode(s, &dec, &dlen, &err) < 0) {
		check(err != NULL && !strncmp(berr_msg(err), "not base64", 10) && dec == NULL);
		berr_free(err);
		return;
	}
	again = rootfs_base64_encode(dec, dlen);
	{
		size_t sl = strlen(s);

		check(strlen(again) >= sl && !strncmp(again, s, sl));
		for (size_t i = sl; again[i]; i++)
			check(again[i] == '=');
	}
	free(again);
	free(dec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *nul = memchr(data, '\0', size);
	char *reg, *norm;
	const char *file;
	size_t flen;

	if (nul == NULL)
		return 0;
	reg = xstrndup((const char *)data, (size_t)(nul - (const char *)data));
	file = nul + 1;
	flen = size - (size_t)(nul - (const char *)data) - 1;
	norm = rootfs_registry_host_normalize(reg);
	lookup(file, flen, reg);
	lookup(file, flen, norm);
	base64(reg, file, flen);
	free(norm);
	free(reg);
	return 0;
}
