/* fuzz_pull_ref: image references of a pull (rootfs_pull_ref_parse) and the
 * registry host normalization of credentials files and --insecure-registry.
 *
 * The input is the reference (up to the first NUL). Invariants: no crash or
 * leak; an error starts with "image reference" and leaves the struct zeroed;
 * an accepted reference has a registry, an endpoint, a repository of
 * lowercase components, a tag or a digest (and a tag that is safe in a URL
 * and a file name); its full form and its familiar (store) name parse back
 * to the same reference; a normalized host is lowercase, without scheme
 * or path, and normalizing it again changes nothing. */
#include "common/error.h"
#include "common/xalloc.h"
#include "rootfs/registry.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
	if (!ok)
		abort();
}

static bool zeroed(const void *p, size_t n)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < n; i++)
		if (c[i])
			return false;
	return true;
}

static bool repo_ok(const char *r)
{
	if (*r == '\0' || *r == '/' || r[strlen(r) - 1] == '/' || strstr(r, "//"))
		return false;
	for (const char *c = r; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || strchr("._-/", *c)))
			return false;
	return true;
}

static bool same(const struct rootfs_pull_ref *a, const struct rootfs_pull_ref *b, bool with_digest)
{
	if (strcmp(a->registry, b->registry) || strcmp(a->endpoint, b->endpoint) ||
	    strcmp(a->repository, b->repository))
		return false;
	if ((a->tag == NULL) != (b->tag == NULL) || (a->tag && strcmp(a->tag, b->tag)))
		return false;
	if (!with_digest)
		return true;
	return a->has_digest == b->has_digest && (!a->has_digest || rootfs_digest_eq(&a->digest, &b->digest));
}

/* Re-parse a form of r; a longer form may pass a length limit the input met. */
static void roundtrip(const struct rootfs_pull_ref *r, const char *form, bool with_digest)
{
	struct rootfs_pull_ref b;
	struct berr *err = NULL;

	if (rootfs_pull_ref_parse(form, &b, &err) < 0) {
		check(strstr(berr_msg(err), "too long") || strstr(berr_msg(err), "longer than"));
		berr_free(err);
		return;
	}
	check(same(r, &b, with_digest));
	rootfs_pull_ref_free(&b);
}

static void check_host(const char *in)
{
	char *h = rootfs_registry_host_normalize(in), *h2;

	check(strncmp(h, "http://", 7) && strncmp(h, "https://", 8) && !strchr(h, '/'));
	for (const char *c = h; *c; c++)
		check(!(*c >= 'A' && *c <= 'Z'));
	h2 = rootfs_registry_host_normalize(h);
	check(!strcmp(h, h2));
	free(h);
	free(h2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = xstrndup((const char *)data, size);
	struct rootfs_pull_ref r;
	struct berr *err = NULL;

	check_host(s);
	if (rootfs_pull_ref_parse(s, &r, &err) < 0) {
		check(err != NULL && !strncmp(berr_msg(err), "image reference", 15));
		check(zeroed(&r, sizeof(r)));
		berr_free(err);
		free(s);
		return 0;
	}
	check(r.registry && *r.registry && r.endpoint && *r.endpoint && r.repository);
	check(repo_ok(r.repository));
	check(r.tag || r.has_digest);
	if (r.tag) {
		check(*r.tag && strlen(r.tag) <= 128 && r.tag[0] != '.' && r.tag[0] != '-');
		check(!strpbrk(r.tag, "/:@ ?#%"));
	}
	/* docker.io: never a one-component repository, spoken to at registry-1 */
	if (!strcmp(r.registry, ROOTFS_DOCKER_HUB))
		check(strchr(r.repository, '/') && !strcmp(r.endpoint, ROOTFS_DOCKER_HUB_ENDPOINT));
	else
		check(!strcmp(r.registry, r.endpoint));
	{
		char *full = rootfs_pull_ref_string(&r), *fam = rootfs_pull_ref_familiar(&r);

		roundtrip(&r, full, true);
		check((fam == NULL) == (r.tag == NULL));
		if (fam)
			roundtrip(&r, fam, false);
		free(full);
		free(fam);
	}
	rootfs_pull_ref_free(&r);
	check(zeroed(&r, sizeof(r)));
	free(s);
	return 0;
}
