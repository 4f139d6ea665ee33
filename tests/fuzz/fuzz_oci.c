/* fuzz_oci: the image metadata parsers of rootfs/oci.c on arbitrary bytes.
 *
 * The first byte picks the parser (mod 5): index, manifest, config, docker
 * save manifest.json, or a manifest and a config split at the first NUL and
 * checked against each other. Invariants: no crash or leak; an error names
 * its document and leaves the struct zeroed; what a parser accepts holds
 * what oci.h promises (digests, layer types, "K=V" env, safe paths), and
 * the select/check helpers run on it. */
#include "common/error.h"
#include "common/fsutil.h"
#include "rootfs/oci.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define WHAT "fuzz doc"

static void check(bool ok)
{
	if (!ok)
		abort();
}

static bool has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Relative, no "." / ".." / empty component: what docker_archive_image promises. */
static bool path_ok(const char *p)
{
	if (!fs_path_is_safe_relative(p))
		return false;
	for (const char *c = p; *c;) {
		size_t n = strcspn(c, "/");

		if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		c += n;
		if (*c == '/')
			c++;
	}
	return *p != '\0' && p[strlen(p) - 1] != '/';
}

static bool zeroed(const void *p, size_t n)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < n; i++)
		if (c[i])
			return false;
	return true;
}

/* A failed parse: message names the document, struct zeroed. */
static void check_err(struct berr **err, const void *out, size_t n)
{
	const char *m = berr_msg(*err);

	check(*err != NULL);
	check(has_prefix(m, WHAT ": ") || has_prefix(m, "parse " WHAT ": "));
	check(zeroed(out, n));
	berr_clear(err);
}

static bool digest_ok(const struct rootfs_digest *d)
{
	if (strlen(d->hex) != ROOTFS_SHA256_HEX)
		return false;
	for (size_t i = 0; i < ROOTFS_SHA256_HEX; i++)
		if (!((d->hex[i] >= '0' && d->hex[i] <= '9') || (d->hex[i] >= 'a' && d->hex[i] <= 'f')))
			return false;
	return true;
}

static void check_descriptor(const struct oci_descriptor *d)
{
	check(d->media_type && *d->media_type);
	check(digest_ok(&d->digest));
	check(d->size >= 0);
	check((d->platform.os == NULL) == (d->platform.architecture == NULL));
}

static void fuzz_index(const char *buf, size_t len)
{
	static const char *const plats[][3] = {
		{ "linux", "amd64", NULL }, { "linux", "arm64", NULL }, { "linux", "arm", "v6" },
		{ "linux", "amd64", "v3" }, { "windows", "amd64", NULL }, { NULL, NULL, NULL },
	};
	struct oci_index x;
	struct berr *err = NULL;

	if (oci_index_parse(buf, len, WHAT, &x, &err) < 0) {
		check_err(&err, &x, sizeof(x));
		return;
	}
	check(oci_media_type_is_index(x.media_type));
	for (size_t i = 0; i < x.n_manifests; i++)
		check_descriptor(&x.manifests[i]);
	for (size_t p = 0; p < sizeof(plats) / sizeof(plats[0]); p++) {
		size_t sel = SIZE_MAX;

		if (oci_index_select(&x, WHAT, plats[p][0], plats[p][1], plats[p][2], &sel, &err) < 0) {
			check(has_prefix(berr_msg(err), WHAT ": no image for "));
			berr_clear(&err);
			continue;
		}
		check(sel < x.n_manifests);
		check(oci_media_type_is_manifest(x.manifests[sel].media_type) ||
		      oci_media_type_is_index(x.manifests[sel].media_type));
		if (x.manifests[sel].platform.os)
			check(oci_platform_matches(&x.manifests[sel].platform, plats[p][0],
						   plats[p][1], plats[p][2]));
	}
	oci_index_free(&x);
	check(zeroed(&x, sizeof(x)));
}

static void check_manifest(const struct oci_manifest *m)
{
	check(oci_media_type_is_manifest(m->media_type));
	check_descriptor(&m->config);
	check(oci_media_type_is_config(m->config.media_type));
	for (size_t i = 0; i < m->n_layers; i++) {
		enum rootfs_compression c;

		check_descriptor(&m->layers[i]);
		check(oci_layer_media_type(m->layers[i].media_type, &c));
		check(c == m->layer_comp[i]);
	}
}

static void check_config(const struct oci_image_config *c)
{
	check(c->platform.os && *c->platform.os && c->platform.architecture);
	check(c->env && c->exposed_ports);
	for (char **e = c->env; *e; e++)
		check(strchr(*e, '=') && **e != '=');
	for (char **p = c->exposed_ports; *p; p++)
		check(strchr(*p, '/') != NULL);
	for (size_t i = 0; i < c->n_labels; i++)
		check(c->labels[i].key && c->labels[i].value);
	for (size_t i = 0; i < c->n_diff_ids; i++)
		check(digest_ok(&c->diff_ids[i]));
	check(c->working_dir == NULL || *c->working_dir);
}

static void fuzz_manifest(const char *buf, size_t len)
{
	struct oci_manifest m;
	struct berr *err = NULL;

	if (oci_manifest_parse(buf, len, WHAT, &m, &err) < 0) {
		check_err(&err, &m, sizeof(m));
		return;
	}
	check_manifest(&m);
	oci_manifest_free(&m);
}

static void fuzz_config(const char *buf, size_t len)
{
	struct oci_image_config c;
	struct berr *err = NULL;

	if (oci_config_parse(buf, len, WHAT, &c, &err) < 0) {
		check_err(&err, &c, sizeof(c));
		return;
	}
	check_config(&c);
	oci_config_free(&c);
}

static void fuzz_archive(const char *buf, size_t len)
{
	struct docker_archive_manifest a;
	struct oci_image_config c = { 0 };
	struct berr *err = NULL;

	if (docker_archive_manifest_parse(buf, len, WHAT, &a, &err) < 0) {
		check_err(&err, &a, sizeof(a));
		return;
	}
	check(a.n_images > 0);
	for (size_t i = 0; i < a.n_images; i++) {
		const struct docker_archive_image *img = &a.images[i];
		size_t n = 0;
		int r;

		check(path_ok(img->config));
		check(img->repo_tags != NULL);
		for (; img->layers[n]; n++)
			check(path_ok(img->layers[n]));
		check(n == img->n_layers);
		c.n_diff_ids = n;
		check(docker_archive_check_layers_match(img, &c, WHAT, &err) == 0);
		c.n_diff_ids = n + 1;
		r = docker_archive_check_layers_match(img, &c, WHAT, &err);
		check(r < 0 && has_prefix(berr_msg(err), WHAT ": config has "));
		berr_clear(&err);
	}
	docker_archive_manifest_free(&a);
}

/* A manifest and its config, as an import reads them. */
static void fuzz_pair(const char *buf, size_t len)
{
	const char *nul = memchr(buf, '\0', len);
	struct oci_manifest m;
	struct oci_image_config c;
	struct berr *err = NULL;
	size_t mlen;

	if (nul == NULL)
		return;
	mlen = (size_t)(nul - buf);
	if (oci_manifest_parse(buf, mlen, WHAT, &m, &err) < 0) {
		check_err(&err, &m, sizeof(m));
		return;
	}
	if (oci_config_parse(nul + 1, len - mlen - 1, WHAT, &c, &err) < 0) {
		check_err(&err, &c, sizeof(c));
		oci_manifest_free(&m);
		return;
	}
	check_manifest(&m);
	check_config(&c);
	if (oci_check_layers_match(&m, &c, WHAT, &err) < 0) {
		check(c.n_diff_ids != m.n_layers);
		berr_clear(&err);
	} else {
		check(c.n_diff_ids == m.n_layers);
	}
	oci_manifest_free(&m);
	oci_config_free(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data + 1;

	if (size == 0)
		return 0;
	switch (data[0] % 5) {
	case 0:
		fuzz_index(buf, size - 1);
		break;
	case 1:
		fuzz_manifest(buf, size - 1);
		break;
	case 2:
		fuzz_config(buf, size - 1);
		break;
	case 3:
		fuzz_archive(buf, size - 1);
		break;
	case 4:
		fuzz_pair(buf, size - 1);
		break;
	}
	return 0;
}
