/* rootfs/oci.c - see oci.h
 *
 * Every parser follows one pattern: load the JSON, fill *out directly (arrays
 * are allocated at their final length, zeroed, before their entries are
 * read, so the free functions can run at any point), and on error free what
 * was built and prefix the message with the document's name. Internal
 * errors carry only the JSON path; the public entry points add `what`. */
#include "rootfs/oci.h"
#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/json.h"
#include "common/xalloc.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OCI_MT_LAYER_ND        "application/vnd.oci.image.layer.nondistributable.v1.tar"
#define OCI_MT_LAYER_ND_GZIP   OCI_MT_LAYER_ND "+gzip"
#define OCI_MT_LAYER_ND_ZSTD   OCI_MT_LAYER_ND "+zstd"
#define DOCKER_MT_LAYER        "application/vnd.docker.image.rootfs.diff.tar"
#define DOCKER_MT_LAYER_ZSTD   "application/vnd.docker.image.rootfs.diff.tar.zstd"
#define DOCKER_MT_FOREIGN      "application/vnd.docker.image.rootfs.foreign.diff.tar"
#define DOCKER_MT_FOREIGN_GZIP "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"

/* Longest piece of document text quoted in a message: a hostile document
 * must not be able to make an error message megabytes long. */
#define QUOTE_MAX 128

/* ------------------------------------------------------------ media types */

static const struct {
	const char *mt;
	enum rootfs_compression comp;
} layer_types[] = {
	{ OCI_MT_LAYER, ROOTFS_COMP_NONE },
	{ OCI_MT_LAYER_GZIP, ROOTFS_COMP_GZIP },
	{ OCI_MT_LAYER_ZSTD, ROOTFS_COMP_ZSTD },
	{ OCI_MT_LAYER_ND, ROOTFS_COMP_NONE },
	{ OCI_MT_LAYER_ND_GZIP, ROOTFS_COMP_GZIP },
	{ OCI_MT_LAYER_ND_ZSTD, ROOTFS_COMP_ZSTD },
	{ DOCKER_MT_LAYER, ROOTFS_COMP_NONE },
	{ DOCKER_MT_LAYER_GZIP, ROOTFS_COMP_GZIP },
	{ DOCKER_MT_LAYER_ZSTD, ROOTFS_COMP_ZSTD },
	{ DOCKER_MT_FOREIGN, ROOTFS_COMP_NONE },
	{ DOCKER_MT_FOREIGN_GZIP, ROOTFS_COMP_GZIP },
};

bool oci_media_type_is_index(const char *mt)
{
	return mt && (strcmp(mt, OCI_MT_INDEX) == 0 || strcmp(mt, DOCKER_MT_LIST) == 0);
}

bool oci_media_type_is_manifest(const char *mt)
{
	return mt && (strcmp(mt, OCI_MT_MANIFEST) == 0 || strcmp(mt, DOCKER_MT_MANIFEST) == 0);
}

bool oci_media_type_is_config(const char *mt)
{
	return mt && (strcmp(mt, OCI_MT_CONFIG) == 0 || strcmp(mt, DOCKER_MT_CONFIG) == 0);
}

bool oci_layer_media_type(const char *mt, enum rootfs_compression *comp)
{
	if (mt == NULL)
		return false;
	for (size_t i = 0; i < sizeof(layer_types) / sizeof(layer_types[0]); i++) {
		if (strcmp(mt, layer_types[i].mt) == 0) {
			if (comp)
				*comp = layer_types[i].comp;
			return true;
		}
	}
	return false;
}

/* ---------------------------------------------------------------- helpers */

/* s for a message: escapes for '"', '\' and control characters (no
 * terminal escapes from a document), cut after QUOTE_MAX bytes at a UTF-8
 * boundary with "..." after it; in double quotes when `quoted`. */
static char *escape(const char *s, bool quoted)
{
	size_t len = strlen(s), n = 0, cut = len;
	char *out;

	if (cut > QUOTE_MAX) {
		cut = QUOTE_MAX;
		while (cut > 0 && ((unsigned char)s[cut] & 0xc0) == 0x80)
			cut--;
	}
	out = xmalloc(cut * 6 + 6);
	if (quoted)
		out[n++] = '"';
	for (size_t i = 0; i < cut; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\') {
			out[n++] = '\\';
			out[n++] = (char)c;
		} else if (c < 0x20 || c == 0x7f) {
			n += (size_t)sprintf(out + n, "\\u%04x", c);
		} else {
			out[n++] = (char)c;
		}
	}
	if (quoted)
		out[n++] = '"';
	if (cut < len) {
		memcpy(out + n, "...", 3);
		n += 3;
	}
	out[n] = '\0';
	return out;
}

static char *quote(const char *s)
{
	return escape(s, true);
}

/* The name of the document in messages. */
static const char *doc_name(const char *what)
{
	return what ? what : "document";
}

/* "<path>: <msg>" where path is path.key. */
static int __attribute__((format(printf, 4, 5)))
key_err(struct berr **err, const char *path, const char *key, const char *fmt, ...)
{
	cleanup_free char *p = bjson_path_key(path, key);
	cleanup_free char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	return berr_set(err, 0, "%s: %s", p, msg);
}

/* An optional array of strings at obj.key: 0 absent (*out untouched), 1 set. */
static int get_strv(const json_t *obj, const char *path, const char *key, bool required,
		    char ***out, struct berr **err)
{
	cleanup_free char *p = NULL;
	json_t *arr = NULL;
	int r;

	r = bjson_get_array(obj, path, key, required, &arr, err);
	if (r <= 0)
		return r;
	p = bjson_path_key(path, key);
	r = bjson_strv(arr, p, out, err);
	return r < 0 ? r : 1;
}

/* An optional string; "" counts as absent when empty_is_unset. */
static int get_str_dup(const json_t *obj, const char *path, const char *key, bool required,
		       bool empty_is_unset, char **out, struct berr **err)
{
	const char *s = NULL;
	int r;

	r = bjson_get_string(obj, path, key, required, &s, err);
	if (r <= 0)
		return r;
	if (*s == '\0') {
		if (empty_is_unset)
			return 0;
		if (required)
			return key_err(err, path, key, "must not be empty");
	}
	*out = xstrdup(s);
	return 1;
}

static int check_schema_version(const json_t *root, struct berr **err)
{
	int64_t v;
	int r;

	r = bjson_get_int(root, "", "schemaVersion", true, &v, err);
	if (r < 0)
		return r;
	if (v != 2)
		return berr_set(err, 0, "schemaVersion: %lld is not supported (berth reads schema version 2)",
				(long long)v);
	return 0;
}

/* --------------------------------------------------------------- platform */

static int parse_platform(const json_t *obj, const char *path, struct oci_platform *p,
			  struct berr **err)
{
	int r;

	r = get_str_dup(obj, path, "os", true, false, &p->os, err);
	if (r < 0)
		return r;
	r = get_str_dup(obj, path, "architecture", true, false, &p->architecture, err);
	if (r < 0)
		return r;
	r = get_str_dup(obj, path, "variant", false, true, &p->variant, err);
	return r < 0 ? r : 0;
}

static void platform_free(struct oci_platform *p)
{
	free(p->os);
	free(p->architecture);
	free(p->variant);
	memset(p, 0, sizeof(*p));
}

static const char *norm_arch(const char *a)
{
	if (strcmp(a, "x86_64") == 0 || strcmp(a, "x86-64") == 0)
		return "amd64";
	if (strcmp(a, "aarch64") == 0)
		return "arm64";
	return a;
}

/* The variant with the architecture's default filled in and "7" read as "v7". */
static void norm_variant(const char *arch, const char *variant, char buf[32])
{
	if (variant == NULL || *variant == '\0') {
		if (strcmp(arch, "amd64") == 0)
			variant = "v1";
		else if (strcmp(arch, "arm") == 0)
			variant = "v7";
		else if (strcmp(arch, "arm64") == 0)
			variant = "v8";
		else
			variant = "";
	}
	if (variant[0] >= '0' && variant[0] <= '9')
		snprintf(buf, 32, "v%s", variant);
	else
		snprintf(buf, 32, "%s", variant);
}

/* N of "vN" (N 1..99), or -1. */
static int variant_level(const char *v)
{
	if (v[0] != 'v' || v[1] < '1' || v[1] > '9')
		return -1;
	if (v[2] == '\0')
		return v[1] - '0';
	if (v[2] >= '0' && v[2] <= '9' && v[3] == '\0')
		return (v[1] - '0') * 10 + (v[2] - '0');
	return -1;
}

/* How well p fits the request: 0 exact, higher is worse, -1 no match. */
static int platform_rank(const struct oci_platform *p, const char *os, const char *arch,
			 const char *variant)
{
	char want[32], have[32];
	const char *a;
	int wl, hl;

	if (p->os == NULL || p->architecture == NULL)
		return -1;
	if (strcmp(p->os, os) != 0)
		return -1;
	a = norm_arch(arch);
	if (strcmp(norm_arch(p->architecture), a) != 0)
		return -1;
	norm_variant(a, variant, want);
	norm_variant(a, p->variant, have);
	if (strcmp(want, have) == 0)
		return 0;
	if (variant == NULL || *variant == '\0')
		return 1000;   /* no variant asked for: any will do, the default first */
	if (strcmp(a, "amd64") != 0 && strcmp(a, "arm") != 0)
		return -1;
	/* these levels are supersets: a v3 CPU runs v2 code, an armv7 runs armv6 */
	wl = variant_level(want);
	hl = variant_level(have);
	if (wl < 0 || hl < 0 || hl > wl)
		return -1;
	return wl - hl;
}

bool oci_platform_matches(const struct oci_platform *p, const char *os, const char *arch,
			  const char *variant)
{
	return platform_rank(p, os ? os : "linux", arch ? arch : "amd64", variant) >= 0;
}

/* ------------------------------------------------------------- descriptor */

static void descriptor_free(struct oci_descriptor *d)
{
	free(d->media_type);
	platform_free(&d->platform);
	free(d->ref_name);
	free(d->image_name);
	memset(d, 0, sizeof(*d));
}

static int parse_annotations(const json_t *obj, const char *path, struct oci_descriptor *d,
			     struct berr **err)
{
	cleanup_free char *apath = bjson_path_key(path, "annotations");
	json_t *ann = NULL, *v;
	const char *key;
	int r;

	r = bjson_get_object(obj, path, "annotations", false, &ann, err);
	if (r <= 0)
		return r;
	/* a map of strings, by the spec; checked whole so a typo'd value is seen */
	json_object_foreach(ann, key, v) {
		const char *s;

		r = bjson_get_string(ann, apath, key, false, &s, err);
		if (r < 0)
			return r;
	}
	r = get_str_dup(ann, apath, OCI_ANN_REF_NAME, false, true, &d->ref_name, err);
	if (r < 0)
		return r;
	r = get_str_dup(ann, apath, OCI_ANN_IMAGE_NAME, false, true, &d->image_name, err);
	return r < 0 ? r : 0;
}

/* A descriptor at path; with_platform for index entries. */
static int parse_descriptor(const json_t *obj, const char *path, bool with_platform,
			    struct oci_descriptor *d, struct berr **err)
{
	const char *mt, *digest;
	json_t *plat = NULL;
	int64_t size;
	int r;

	r = bjson_expect_object(obj, path, err);
	if (r < 0)
		return r;
	r = bjson_get_string(obj, path, "mediaType", true, &mt, err);
	if (r < 0)
		return r;
	if (*mt == '\0')
		return key_err(err, path, "mediaType", "must not be empty");
	d->media_type = xstrdup(mt);

	r = bjson_get_string(obj, path, "digest", true, &digest, err);
	if (r < 0)
		return r;
	{
		cleanup_free char *dpath = bjson_path_key(path, "digest");

		r = rootfs_digest_parse(digest, dpath, &d->digest, err);
		if (r < 0)
			return r;
	}

	r = bjson_get_int(obj, path, "size", true, &size, err);
	if (r < 0)
		return r;
	if (size < 0)
		return key_err(err, path, "size", "%lld is negative", (long long)size);
	d->size = size;

	r = parse_annotations(obj, path, d, err);
	if (r < 0)
		return r;

	if (with_platform) {
		r = bjson_get_object(obj, path, "platform", false, &plat, err);
		if (r < 0)
			return r;
		if (r > 0) {
			cleanup_free char *ppath = bjson_path_key(path, "platform");

			r = parse_platform(plat, ppath, &d->platform, err);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

/* The array at root.key as n descriptors. */
static int parse_descriptors(const json_t *root, const char *key, bool with_platform,
			     struct oci_descriptor **out, size_t *n_out, struct berr **err)
{
	json_t *arr = NULL, *x;
	size_t i;
	int r;

	r = bjson_get_array(root, "", key, true, &arr, err);
	if (r < 0)
		return r;
	*n_out = json_array_size(arr);
	*out = xcalloc(*n_out, sizeof(**out));
	json_array_foreach(arr, i, x) {
		cleanup_free char *p = bjson_path_index(key, i);

		r = parse_descriptor(x, p, with_platform, &(*out)[i], err);
		if (r < 0)
			return r;
	}
	return 0;
}

/* ------------------------------------------------------------------ index */

static int parse_index(const json_t *root, struct oci_index *out, struct berr **err)
{
	const char *mt = NULL;
	int r;

	r = bjson_expect_object(root, "", err);
	if (r < 0)
		return r;
	r = check_schema_version(root, err);
	if (r < 0)
		return r;
	r = bjson_get_string(root, "", "mediaType", false, &mt, err);
	if (r < 0)
		return r;
	if (r > 0 && !oci_media_type_is_index(mt)) {
		cleanup_free char *q = quote(mt);

		if (oci_media_type_is_manifest(mt))
			return berr_set(err, 0, "mediaType %s: is an image manifest, not an index", q);
		return berr_set(err, 0, "mediaType %s: not an image index (want %s or %s)", q,
				OCI_MT_INDEX, DOCKER_MT_LIST);
	}
	/* mediaType is optional in OCI: tell a manifest by its fields */
	if (r == 0 && json_object_get(root, "manifests") == NULL &&
	    json_object_get(root, "layers") != NULL)
		return berr_set(err, 0, "no mediaType, and \"layers\" instead of \"manifests\": "
				"is an image manifest, not an index");
	out->media_type = xstrdup(r > 0 ? mt : OCI_MT_INDEX);
	return parse_descriptors(root, "manifests", true, &out->manifests, &out->n_manifests, err);
}

int oci_index_parse(const char *buf, size_t len, const char *what, struct oci_index *out,
		    struct berr **err)
{
	cleanup_json json_t *root = NULL;
	int r;

	memset(out, 0, sizeof(*out));
	what = doc_name(what);
	r = bjson_load_buf(what, buf, len, &root, err);
	if (r < 0)
		return r;
	r = parse_index(root, out, err);
	if (r < 0) {
		oci_index_free(out);
		return berr_wrap(err, "%s", what);
	}
	return 0;
}

void oci_index_free(struct oci_index *x)
{
	for (size_t i = 0; x->manifests && i < x->n_manifests; i++)
		descriptor_free(&x->manifests[i]);
	free(x->manifests);
	free(x->media_type);
	memset(x, 0, sizeof(*x));
}

/* "linux/arm/v7", escaped: these come from the document. */
static char *platform_str(const char *os, const char *arch, const char *variant)
{
	cleanup_free char *o = escape(os, false), *a = escape(arch, false), *v = NULL;

	if (variant == NULL || *variant == '\0')
		return xasprintf("%s/%s", o, a);
	v = escape(variant, false);
	return xasprintf("%s/%s/%s", o, a, v);
}

static bool has_platform(const struct oci_descriptor *d)
{
	return d->platform.os && d->platform.architecture;
}

static bool selectable(const struct oci_descriptor *d)
{
	return oci_media_type_is_manifest(d->media_type) || oci_media_type_is_index(d->media_type);
}

/* Most platforms named in a "no image for" message. */
#define AVAIL_MAX 16

/* "linux/amd64, linux/arm/v7": the distinct platforms of the index, in
 * order; attestations (unknown/unknown) are not images and left out. */
static char *available_platforms(const struct oci_index *idx)
{
	char *seen[AVAIL_MAX];
	size_t n = 0, len = 0;
	bool more = false;
	char *list;

	for (size_t i = 0; i < idx->n_manifests; i++) {
		const struct oci_descriptor *d = &idx->manifests[i];
		char *s;
		bool dup = false;

		if (!selectable(d) || !has_platform(d))
			continue;
		if (strcmp(d->platform.os, "unknown") == 0 &&
		    strcmp(d->platform.architecture, "unknown") == 0)
			continue;
		s = platform_str(d->platform.os, d->platform.architecture, d->platform.variant);
		for (size_t j = 0; j < n && !dup; j++)
			dup = strcmp(seen[j], s) == 0;
		if (dup || n == AVAIL_MAX) {
			more |= !dup;
			free(s);
			continue;
		}
		seen[n++] = s;
		len += strlen(s) + 2;
	}
	if (n == 0)
		return xstrdup("none");
	list = xmalloc(len + 8);
	len = 0;
	for (size_t j = 0; j < n; j++) {
		len += (size_t)sprintf(list + len, "%s%s", j ? ", " : "", seen[j]);
		free(seen[j]);
	}
	if (more)
		strcpy(list + len, ", ...");
	return list;
}

int oci_index_select(const struct oci_index *idx, const char *what, const char *os,
		     const char *arch, const char *variant, size_t *out, struct berr **err)
{
	cleanup_free char *want = NULL, *avail = NULL;
	bool any_platform = false;
	size_t best = SIZE_MAX;
	int best_rank = INT_MAX;

	if (os == NULL)
		os = "linux";
	if (arch == NULL)
		arch = "amd64";
	for (size_t i = 0; i < idx->n_manifests; i++)
		if (has_platform(&idx->manifests[i]))
			any_platform = true;

	for (size_t i = 0; i < idx->n_manifests; i++) {
		const struct oci_descriptor *d = &idx->manifests[i];
		int rank;

		if (!selectable(d))
			continue;
		if (!any_platform) {
			/* a single-image layout (docker save, skopeo): no platforms */
			*out = i;
			return 0;
		}
		rank = platform_rank(&d->platform, os, arch, variant);
		if (rank >= 0 && rank < best_rank) {
			best = i;
			best_rank = rank;
		}
	}
	if (best != SIZE_MAX) {
		*out = best;
		return 0;
	}
	want = platform_str(os, arch, variant);
	avail = available_platforms(idx);
	return berr_set(err, 0, "%s: no image for %s (available: %s)", doc_name(what), want, avail);
}

/* --------------------------------------------------------------- manifest */

static int parse_manifest(const json_t *root, struct oci_manifest *out, struct berr **err)
{
	const char *mt = NULL;
	json_t *cfg = NULL;
	int r;

	r = bjson_expect_object(root, "", err);
	if (r < 0)
		return r;
	r = check_schema_version(root, err);
	if (r < 0)
		return r;
	r = bjson_get_string(root, "", "mediaType", false, &mt, err);
	if (r < 0)
		return r;
	if (r > 0 && !oci_media_type_is_manifest(mt)) {
		cleanup_free char *q = quote(mt);

		if (oci_media_type_is_index(mt))
			return berr_set(err, 0, "mediaType %s: is an image index, not a manifest", q);
		return berr_set(err, 0, "mediaType %s: not an image manifest (want %s or %s)", q,
				OCI_MT_MANIFEST, DOCKER_MT_MANIFEST);
	}
	if (r == 0 && json_object_get(root, "config") == NULL &&
	    json_object_get(root, "manifests") != NULL)
		return berr_set(err, 0, "no mediaType, and \"manifests\" instead of \"config\": "
				"is an image index, not a manifest");
	out->media_type = xstrdup(r > 0 ? mt : OCI_MT_MANIFEST);

	r = bjson_get_object(root, "", "config", true, &cfg, err);
	if (r < 0)
		return r;
	r = parse_descriptor(cfg, "config", false, &out->config, err);
	if (r < 0)
		return r;
	if (!oci_media_type_is_config(out->config.media_type)) {
		cleanup_free char *q = quote(out->config.media_type);

		/* an OCI artifact (helm chart, signature...) is not something to run */
		return berr_set(err, 0, "config.mediaType: %s: not an image config (want %s or %s)",
				q, OCI_MT_CONFIG, DOCKER_MT_CONFIG);
	}

	r = parse_descriptors(root, "layers", false, &out->layers, &out->n_layers, err);
	if (r < 0)
		return r;
	out->layer_comp = xcalloc(out->n_layers, sizeof(*out->layer_comp));
	for (size_t i = 0; i < out->n_layers; i++) {
		const char *lmt = out->layers[i].media_type;

		if (!oci_layer_media_type(lmt, &out->layer_comp[i])) {
			cleanup_free char *q = quote(lmt);

			return berr_set(err, 0, "layers[%zu].mediaType: %s: not a layer type berth can unpack",
					i, q);
		}
	}
	return 0;
}

int oci_manifest_parse(const char *buf, size_t len, const char *what, struct oci_manifest *out,
		       struct berr **err)
{
	cleanup_json json_t *root = NULL;
	int r;

	memset(out, 0, sizeof(*out));
	what = doc_name(what);
	r = bjson_load_buf(what, buf, len, &root, err);
	if (r < 0)
		return r;
	r = parse_manifest(root, out, err);
	if (r < 0) {
		oci_manifest_free(out);
		return berr_wrap(err, "%s", what);
	}
	return 0;
}

void oci_manifest_free(struct oci_manifest *x)
{
	free(x->media_type);
	descriptor_free(&x->config);
	for (size_t i = 0; x->layers && i < x->n_layers; i++)
		descriptor_free(&x->layers[i]);
	free(x->layers);
	free(x->layer_comp);
	memset(x, 0, sizeof(*x));
}

static int count_mismatch(size_t n_diff_ids, size_t n_layers, const char *lists,
			  const char *what, struct berr **err)
{
	if (n_diff_ids == n_layers)
		return 0;
	return berr_set(err, 0, "%s: config has %zu diff_id%s but %s %zu layer%s",
			doc_name(what), n_diff_ids, n_diff_ids == 1 ? "" : "s", lists,
			n_layers, n_layers == 1 ? "" : "s");
}

int oci_check_layers_match(const struct oci_manifest *m, const struct oci_image_config *c,
			   const char *what, struct berr **err)
{
	return count_mismatch(c->n_diff_ids, m->n_layers, "the manifest has", what, err);
}

int docker_archive_check_layers_match(const struct docker_archive_image *img,
				      const struct oci_image_config *c, const char *what,
				      struct berr **err)
{
	return count_mismatch(c->n_diff_ids, img->n_layers, "manifest.json lists", what, err);
}

/* ----------------------------------------------------------------- config */

/* "8080/tcp", "53/udp", "80" (tcp): normalized, or NULL when not a port. */
static char *norm_port(const char *s)
{
	const char *slash = strchr(s, '/');
	size_t digits = slash ? (size_t)(slash - s) : strlen(s);
	char proto[8];
	long port = 0;

	if (digits == 0 || digits > 5)
		return NULL;
	for (size_t i = 0; i < digits; i++) {
		if (s[i] < '0' || s[i] > '9')
			return NULL;
		port = port * 10 + (s[i] - '0');
	}
	if (port < 1 || port > 65535)
		return NULL;
	if (slash == NULL)
		return xasprintf("%ld/tcp", port);
	if (strlen(slash + 1) >= sizeof(proto))
		return NULL;
	for (size_t i = 0;; i++) {
		char c = slash[1 + i];

		proto[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
		if (c == '\0')
			break;
	}
	if (strcmp(proto, "tcp") != 0 && strcmp(proto, "udp") != 0 && strcmp(proto, "sctp") != 0)
		return NULL;
	return xasprintf("%ld/%s", port, proto);
}

static int parse_env(const json_t *cc, const char *path, char ***out, struct berr **err)
{
	cleanup_free char *epath = bjson_path_key(path, "Env");
	int r;

	r = get_strv(cc, path, "Env", false, out, err);
	if (r <= 0)
		return r;
	for (size_t i = 0; (*out)[i]; i++) {
		const char *eq = strchr((*out)[i], '=');

		if (eq == NULL || eq == (*out)[i]) {
			cleanup_free char *p = bjson_path_index(epath, i);
			cleanup_free char *q = quote((*out)[i]);

			return berr_set(err, 0, "%s: %s: %s (want NAME=value)", p, q,
					eq ? "empty variable name" : "no '='");
		}
	}
	return 0;
}

static int parse_ports(const json_t *cc, const char *path, char ***out, struct berr **err)
{
	cleanup_free char *ppath = bjson_path_key(path, "ExposedPorts");
	json_t *ports = NULL, *v;
	const char *key;
	size_t i = 0;
	int r;

	r = bjson_get_object(cc, path, "ExposedPorts", false, &ports, err);
	if (r <= 0)
		return r;
	free(*out);   /* the empty list the caller started with */
	*out = xcalloc(json_object_size(ports) + 1, sizeof(**out));
	/* values are {} (a Go set serialized): only the keys mean anything */
	json_object_foreach(ports, key, v) {
		char *port = norm_port(key);

		if (port == NULL) {
			cleanup_free char *p = bjson_path_key(ppath, key);

			return berr_set(err, 0, "%s: not a port (want <1-65535>[/tcp|/udp|/sctp])", p);
		}
		(*out)[i++] = port;
	}
	return 0;
}

static int parse_labels(const json_t *cc, const char *path, struct oci_image_config *c,
			struct berr **err)
{
	cleanup_free char *lpath = bjson_path_key(path, "Labels");
	json_t *labels = NULL, *v;
	const char *key;
	int r;

	r = bjson_get_object(cc, path, "Labels", false, &labels, err);
	if (r <= 0)
		return r;
	c->labels = xcalloc(json_object_size(labels), sizeof(*c->labels));
	json_object_foreach(labels, key, v) {
		const char *s;

		r = bjson_get_string(labels, lpath, key, true, &s, err);
		if (r < 0)
			return r;
		c->labels[c->n_labels].key = xstrdup(key);
		c->labels[c->n_labels].value = xstrdup(s);
		c->n_labels++;
	}
	return 0;
}

/* The "config" member: what a container of this image runs by default. */
static int parse_run_config(const json_t *cc, const char *path, struct oci_image_config *c,
			    struct berr **err)
{
	int r;

	r = get_strv(cc, path, "Entrypoint", false, &c->entrypoint, err);
	if (r < 0)
		return r;
	r = get_strv(cc, path, "Cmd", false, &c->cmd, err);
	if (r < 0)
		return r;
	free(c->env);   /* the empty list parse_config started with */
	c->env = NULL;
	r = parse_env(cc, path, &c->env, err);
	if (r < 0)
		return r;
	if (c->env == NULL)
		c->env = xcalloc(1, sizeof(*c->env));
	r = get_str_dup(cc, path, "WorkingDir", false, true, &c->working_dir, err);
	if (r < 0)
		return r;
	r = get_str_dup(cc, path, "User", false, true, &c->user, err);
	if (r < 0)
		return r;
	r = get_str_dup(cc, path, "StopSignal", false, true, &c->stop_signal, err);
	if (r < 0)
		return r;
	r = parse_ports(cc, path, &c->exposed_ports, err);
	if (r < 0)
		return r;
	return parse_labels(cc, path, c, err);
}

static int parse_config(const json_t *root, struct oci_image_config *c, struct berr **err)
{
	json_t *cc = NULL, *rootfs = NULL, *diff_ids = NULL, *x;
	const char *type;
	size_t i;
	int r;

	r = bjson_expect_object(root, "", err);
	if (r < 0)
		return r;
	/* the list members are never NULL after a successful parse */
	c->env = xcalloc(1, sizeof(*c->env));
	c->exposed_ports = xcalloc(1, sizeof(*c->exposed_ports));

	r = get_str_dup(root, "", "architecture", true, false, &c->platform.architecture, err);
	if (r < 0)
		return r;
	r = get_str_dup(root, "", "os", true, false, &c->platform.os, err);
	if (r < 0)
		return r;
	r = get_str_dup(root, "", "variant", false, true, &c->platform.variant, err);
	if (r < 0)
		return r;
	r = get_str_dup(root, "", "created", false, true, &c->created, err);
	if (r < 0)
		return r;

	r = bjson_get_object(root, "", "config", false, &cc, err);
	if (r < 0)
		return r;
	if (r > 0) {
		r = parse_run_config(cc, "config", c, err);
		if (r < 0)
			return r;
	}

	r = bjson_get_object(root, "", "rootfs", true, &rootfs, err);
	if (r < 0)
		return r;
	r = bjson_get_string(rootfs, "rootfs", "type", true, &type, err);
	if (r < 0)
		return r;
	if (strcmp(type, "layers") != 0) {
		cleanup_free char *q = quote(type);

		return berr_set(err, 0, "rootfs.type: %s: must be \"layers\"", q);
	}
	r = bjson_get_array(rootfs, "rootfs", "diff_ids", true, &diff_ids, err);
	if (r < 0)
		return r;
	c->n_diff_ids = json_array_size(diff_ids);
	c->diff_ids = xcalloc(c->n_diff_ids, sizeof(*c->diff_ids));
	json_array_foreach(diff_ids, i, x) {
		cleanup_free char *p = bjson_path_index("rootfs.diff_ids", i);

		if (!json_is_string(x))
			return berr_set(err, 0, "%s: expected string, got %s", p, bjson_type_name(x));
		r = rootfs_digest_parse(json_string_value(x), p, &c->diff_ids[i], err);
		if (r < 0)
			return r;
	}
	return 0;
}

int oci_config_parse(const char *buf, size_t len, const char *what,
		     struct oci_image_config *out, struct berr **err)
{
	cleanup_json json_t *root = NULL;
	int r;

	memset(out, 0, sizeof(*out));
	what = doc_name(what);
	r = bjson_load_buf(what, buf, len, &root, err);
	if (r < 0)
		return r;
	r = parse_config(root, out, err);
	if (r < 0) {
		oci_config_free(out);
		return berr_wrap(err, "%s", what);
	}
	return 0;
}

void oci_config_free(struct oci_image_config *x)
{
	platform_free(&x->platform);
	free(x->created);
	strv_free(x->entrypoint);
	strv_free(x->cmd);
	strv_free(x->env);
	free(x->working_dir);
	free(x->user);
	free(x->stop_signal);
	strv_free(x->exposed_ports);
	for (size_t i = 0; x->labels && i < x->n_labels; i++) {
		free(x->labels[i].key);
		free(x->labels[i].value);
	}
	free(x->labels);
	free(x->diff_ids);
	memset(x, 0, sizeof(*x));
}

/* ------------------------------------------------- docker-archive manifest */

/* Paths name members of the archive: relative, and no ".." anywhere (docker
 * never writes one; fs_path_is_safe_relative alone would allow "a/../b"). */
static bool archive_path_ok(const char *path)
{
	cleanup_free char *clean = NULL;

	if (!fs_path_is_safe_relative(path))
		return false;
	for (const char *p = path; (p = strstr(p, "..")) != NULL; p += 2)
		if ((p == path || p[-1] == '/') && (p[2] == '\0' || p[2] == '/'))
			return false;
	clean = fs_path_clean(path);
	return strcmp(clean, ".") != 0;
}

static int archive_path(const char *s, const char *path, char **out, struct berr **err)
{
	if (!archive_path_ok(s)) {
		cleanup_free char *q = quote(s);

		return berr_set(err, 0, "%s: %s: not a relative path inside the archive", path, q);
	}
	*out = fs_path_clean(s);
	return 0;
}

static void archive_image_free(struct docker_archive_image *img)
{
	free(img->config);
	strv_free(img->repo_tags);
	strv_free(img->layers);
	memset(img, 0, sizeof(*img));
}

static int parse_archive_image(const json_t *obj, const char *path,
			       struct docker_archive_image *img, struct berr **err)
{
	cleanup_free char *lpath = bjson_path_key(path, "Layers");
	const char *config;
	json_t *layers = NULL, *x;
	size_t i;
	int r;

	r = bjson_expect_object(obj, path, err);
	if (r < 0)
		return r;
	r = bjson_get_string(obj, path, "Config", true, &config, err);
	if (r < 0)
		return r;
	{
		cleanup_free char *cpath = bjson_path_key(path, "Config");

		r = archive_path(config, cpath, &img->config, err);
		if (r < 0)
			return r;
	}
	r = get_strv(obj, path, "RepoTags", false, &img->repo_tags, err);
	if (r < 0)
		return r;
	if (r == 0)
		img->repo_tags = xcalloc(1, sizeof(*img->repo_tags));

	r = bjson_get_array(obj, path, "Layers", true, &layers, err);
	if (r < 0)
		return r;
	img->layers = xcalloc(json_array_size(layers) + 1, sizeof(*img->layers));
	json_array_foreach(layers, i, x) {
		cleanup_free char *p = bjson_path_index(lpath, i);

		if (!json_is_string(x))
			return berr_set(err, 0, "%s: expected string, got %s", p, bjson_type_name(x));
		r = archive_path(json_string_value(x), p, &img->layers[i], err);
		if (r < 0)
			return r;
		img->n_layers++;
	}
	return 0;
}

static int parse_archive_manifest(const json_t *root, struct docker_archive_manifest *out,
				  struct berr **err)
{
	json_t *x;
	size_t i;
	int r;

	if (!json_is_array(root))
		return berr_set(err, 0, "expected array, got %s", bjson_type_name(root));
	if (json_array_size(root) == 0)
		return berr_set(err, 0, "no images (empty array)");
	out->n_images = json_array_size(root);
	out->images = xcalloc(out->n_images, sizeof(*out->images));
	json_array_foreach(root, i, x) {
		cleanup_free char *p = bjson_path_index("", i);

		r = parse_archive_image(x, p, &out->images[i], err);
		if (r < 0)
			return r;
	}
	return 0;
}

int docker_archive_manifest_parse(const char *buf, size_t len, const char *what,
				  struct docker_archive_manifest *out, struct berr **err)
{
	cleanup_json json_t *root = NULL;
	int r;

	memset(out, 0, sizeof(*out));
	what = doc_name(what);
	r = bjson_load_buf(what, buf, len, &root, err);
	if (r < 0)
		return r;
	r = parse_archive_manifest(root, out, err);
	if (r < 0) {
		docker_archive_manifest_free(out);
		return berr_wrap(err, "%s", what);
	}
	return 0;
}

void docker_archive_manifest_free(struct docker_archive_manifest *x)
{
	for (size_t i = 0; x->images && i < x->n_images; i++)
		archive_image_free(&x->images[i]);
	free(x->images);
	memset(x, 0, sizeof(*x));
}
