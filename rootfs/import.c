/* rootfs/import.c - see import.h */
#include "rootfs/import.h"
#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/json.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "rootfs/oci.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#define META_MAX (4u << 20)   /* index.json, manifest.json, manifests, configs */

/* One member of a source archive. */
struct member {
	char *name;              /* cleaned, relative */
	char *link;              /* symlink or hardlink target (cleaned), or NULL */
	struct rootfs_digest d;  /* content digest (regular files) */
	int64_t size;
};

struct import_ctx {
	struct rootfs_store *s;
	const struct rootfs_import_opts *o;
	const char *path;        /* the source, for messages */
	const char *os, *arch;
	/* source: a layout directory, or the members of an archive */
	int dirfd;
	struct member *m;
	size_t n_m;
	char *index_json, *docker_manifest;
	size_t index_len, docker_manifest_len;
	bool has_oci_layout;
	/* what this import added: undone on failure */
	struct rootfs_digest *new_blobs, *new_layers, *new_images;
	size_t n_new_blobs, n_new_layers, n_new_images;
	struct rootfs_import_result *res;
};

static void push_digest(struct rootfs_digest **v, size_t *n, const struct rootfs_digest *d)
{
	*v = xreallocarray(*v, *n + 1, sizeof(**v));
	(*v)[(*n)++] = *d;
}

const char *rootfs_host_arch(void)
{
	static const struct { const char *uname, *goarch; } map[] = {
		{ "x86_64", "amd64" }, { "aarch64", "arm64" }, { "armv7l", "arm" }, { "armv6l", "arm" },
		{ "i686", "386" }, { "i386", "386" }, { "ppc64le", "ppc64le" }, { "s390x", "s390x" },
		{ "riscv64", "riscv64" },
	};
	static char other[65];
	struct utsname u;

	if (uname(&u) < 0)
		return "amd64";
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (!strcmp(u.machine, map[i].uname))
			return map[i].goarch;
	snprintf(other, sizeof(other), "%s", u.machine);
	return other;
}

static void progress(struct import_ctx *c, const char *phase, size_t i, size_t n, uint64_t done,
		     uint64_t total)
{
	if (c->o && c->o->progress)
		c->o->progress(phase, i, n, done, total, c->o->progress_data);
}

/* ------------------------------------------------------------ archives */

static bool has_suffix(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && !strcmp(s + a - b, suffix);
}

static struct member *find_member(struct import_ctx *c, const char *name)
{
	/* follow links inside the archive (docker save links repeated layers) */
	for (int hops = 0; hops < 8; hops++) {
		struct member *hit = NULL;

		for (size_t i = 0; i < c->n_m; i++)
			if (!strcmp(c->m[i].name, name)) {
				hit = &c->m[i];
				break;
			}
		if (hit == NULL || hit->link == NULL)
			return hit;
		name = hit->link;
	}
	return NULL;
}

static int read_member_data(struct archive *a, const char *name, char **out, size_t *len,
			    struct berr **err)
{
	size_t cap = 4096, n = 0;
	char *buf = xmalloc(cap);
	la_ssize_t got;

	for (;;) {
		if (n + 4096 + 1 > cap)
			buf = xrealloc(buf, cap *= 2);
		got = archive_read_data(a, buf + n, cap - n - 1);
		if (got < 0) {
			free(buf);
			return berr_set(err, 0, "read %s: %s", name, archive_error_string(a));
		}
		if (got == 0)
			break;
		n += (size_t)got;
		if (n > META_MAX) {
			free(buf);
			return berr_set(err, 0, "%s: larger than %u bytes", name, META_MAX);
		}
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

/* Expected digest from a "blobs/sha256/<hex>" member name; false otherwise. */
static bool blob_name_digest(const char *name, struct rootfs_digest *d)
{
	cleanup_free char *s = NULL;

	if (strncmp(name, "blobs/sha256/", 13) != 0)
		return false;
	s = xasprintf("sha256:%s", name + 13);
	return rootfs_digest_parse(s, name, d, NULL) == 0;
}

static int stream_member(struct import_ctx *c, struct archive *a, struct member *m,
			 uint64_t src_size, struct berr **err)
{
	struct rootfs_blob_writer *w = NULL;
	struct rootfs_digest expect;
	bool named = blob_name_digest(m->name, &expect), was_new = false;
	cleanup_free char *what = xasprintf("%s: member %s", c->path, m->name);
	const void *buf;
	size_t len;
	la_int64_t off;
	int r;

	r = rootfs_blob_begin(c->s, &w, err);
	if (r < 0)
		return r;
	for (;;) {
		r = archive_read_data_block(a, &buf, &len, &off);
		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
			berr_set(err, 0, "%s: %s", what, archive_error_string(a));
			rootfs_blob_abort(w);
			return -1;
		}
		/* a sparse member has holes: its content is not what the bytes say */
		if (off != m->size) {
			berr_set(err, 0, "%s: sparse archive members are not supported", what);
			rootfs_blob_abort(w);
			return -1;
		}
		r = rootfs_blob_write(w, buf, len, err);
		if (r < 0) {
			rootfs_blob_abort(w);
			return r;
		}
		m->size += (int64_t)len;
		progress(c, "read", 0, 1, (uint64_t)archive_filter_bytes(a, -1), src_size);
	}
	r = rootfs_blob_commit(w, named ? &expect : NULL, -1, what, &m->d, &was_new, err);
	if (r < 0)
		return r;
	if (was_new)
		push_digest(&c->new_blobs, &c->n_new_blobs, &m->d);
	return 0;
}

static int scan_archive(struct import_ctx *c, int fd, struct berr **err)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	struct stat st;
	int r = 0, ar;

	if (fstat(fd, &st) < 0)
		return berr_set(err, errno, "stat %s", c->path);
	archive_read_support_format_tar(a);
	archive_read_support_filter_none(a);
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_zstd(a);
	if (archive_read_open_fd(a, fd, 1 << 20) != ARCHIVE_OK) {
		r = berr_set(err, 0, "%s: not a tar archive: %s", c->path, archive_error_string(a));
		goto out;
	}
	while ((ar = archive_read_next_header(a, &e)) == ARCHIVE_OK || ar == ARCHIVE_WARN) {
		const char *raw = archive_entry_pathname(e);
		const char *hl = archive_entry_hardlink(e);
		cleanup_free char *name = fs_path_clean(raw ? raw : "");
		mode_t type = archive_entry_filetype(e);
		struct member *m;

		if (!strcmp(name, "."))
			continue;
		if (!fs_path_is_safe_relative(name)) {
			r = berr_set(err, 0, "%s: member \"%s\": path leaves the archive", c->path, raw);
			goto out;
		}
		if (type == AE_IFDIR)
			continue;
		if (find_member(c, name) || (c->index_json && !strcmp(name, "index.json")) ||
		    (c->docker_manifest && !strcmp(name, "manifest.json"))) {
			r = berr_set(err, 0, "%s: member \"%s\" appears twice", c->path, name);
			goto out;
		}
		if (!strcmp(name, "oci-layout")) {
			c->has_oci_layout = true;
			continue;
		}
		if (!strcmp(name, "index.json")) {
			r = read_member_data(a, name, &c->index_json, &c->index_len, err);
			if (r < 0)
				goto out;
			continue;
		}
		if (!strcmp(name, "manifest.json")) {
			r = read_member_data(a, name, &c->docker_manifest, &c->docker_manifest_len, err);
			if (r < 0)
				goto out;
			continue;
		}
		/* docker save's legacy per-layer metadata: never referenced by manifest.json */
		if (!strcmp(name, "repositories") || has_suffix(name, "/VERSION") || has_suffix(name, "/json"))
			continue;
		c->m = xreallocarray(c->m, c->n_m + 1, sizeof(*c->m));
		m = &c->m[c->n_m++];
		memset(m, 0, sizeof(*m));
		m->name = steal_pointer(&name);
		if (hl || type == AE_IFLNK) {
			const char *target = hl ? hl : archive_entry_symlink(e);
			cleanup_free char *dir = NULL, *joined = NULL;

			if (target == NULL || target[0] == '/') {
				r = berr_set(err, 0, "%s: member \"%s\": link target \"%s\" not inside the archive",
					     c->path, m->name, target ? target : "");
				goto out;
			}
			if (hl) {
				joined = xstrdup(target);
			} else {
				char *slash = strrchr(m->name, '/');

				dir = slash ? xstrndup(m->name, (size_t)(slash - m->name)) : xstrdup(".");
				joined = fs_path_join(dir, target);
			}
			m->link = fs_path_clean(joined);
			if (!fs_path_is_safe_relative(m->link)) {
				r = berr_set(err, 0, "%s: member \"%s\": link target \"%s\" leaves the archive",
					     c->path, m->name, target);
				goto out;
			}
			continue;
		}
		if (type != AE_IFREG) {
			r = berr_set(err, 0, "%s: member \"%s\": not a regular file", c->path, m->name);
			goto out;
		}
		r = stream_member(c, a, m, (uint64_t)st.st_size, err);
		if (r < 0)
			goto out;
	}
	if (ar != ARCHIVE_EOF) {
		r = berr_set(err, 0, "%s: %s", c->path, archive_error_string(a));
		goto out;
	}
	progress(c, "read", 0, 1, (uint64_t)st.st_size, (uint64_t)st.st_size);
out:
	archive_read_free(a);
	return r;
}

/* ------------------------------------------------------------ blobs */

/* Open rel in a layout directory, as untrusted as an archive's members: no
 * symlink on the way (nothing outside the layout is read), O_NONBLOCK so a
 * FIFO cannot hang the import while it holds the store lock, and only a
 * regular file (a FIFO or a device may never end). -ENOENT without a
 * message when absent: the caller says what that means. */
static int open_layout_file(struct import_ctx *c, const char *rel, struct berr **err)
{
	cleanup_close int fd = fs_open_in_root(c->dirfd, rel, O_RDONLY | O_NONBLOCK, 0,
					       RESOLVE_NO_SYMLINKS, NULL);
	struct stat st;

	if (fd == -ENOENT)
		return -ENOENT;
	if (fd == -ELOOP)
		return berr_set(err, 0, "%s: %s is a symlink or lies below one: "
				"files of an OCI layout are never read through symlinks", c->path, rel);
	if (fd < 0)
		return berr_set(err, -fd, "%s: open %s", c->path, rel);
	if (fstat(fd, &st) < 0)
		return berr_set(err, errno, "%s: stat %s", c->path, rel);
	if (!S_ISREG(st.st_mode))
		return berr_set(err, 0, "%s: %s is not a regular file", c->path, rel);
	return steal_fd(&fd);
}

/* Make sure blob d (of size `size`, -1 unknown) is in the store: it came
 * with the archive, sits in the layout directory, or was there before. */
static int ensure_blob(struct import_ctx *c, const struct rootfs_digest *d, int64_t size,
		       const char *what, struct berr **err)
{
	char buf[ROOTFS_DIGEST_STR];
	int64_t have;
	int r;

	if (!rootfs_store_has_blob(c->s, d) && c->dirfd >= 0) {
		cleanup_free char *rel = xasprintf("blobs/sha256/%s", d->hex);
		cleanup_close int fd = open_layout_file(c, rel, err);
		struct rootfs_blob_writer *w = NULL;
		bool was_new = false;
		char chunk[1 << 16];
		ssize_t n;

		if (fd == -ENOENT)
			return berr_set(err, 0, "%s: %s is missing from %s", what, rootfs_digest_str(d, buf), c->path);
		if (fd < 0)
			return berr_wrap(err, "%s", what);
		r = rootfs_blob_begin(c->s, &w, err);
		if (r < 0)
			return r;
		while ((n = read(fd, chunk, sizeof(chunk))) > 0) {
			r = rootfs_blob_write(w, chunk, (size_t)n, err);
			if (r < 0) {
				rootfs_blob_abort(w);
				return r;
			}
		}
		if (n < 0) {
			rootfs_blob_abort(w);
			return berr_set(err, errno, "read %s/%s", c->path, rel);
		}
		r = rootfs_blob_commit(w, d, size, what, NULL, &was_new, err);
		if (r < 0)
			return r;
		if (was_new)
			push_digest(&c->new_blobs, &c->n_new_blobs, d);
		return 0;
	}
	if (!rootfs_store_has_blob(c->s, d))
		return berr_set(err, 0, "%s: %s is missing from %s", what, rootfs_digest_str(d, buf), c->path);
	if (size >= 0) {
		r = rootfs_store_blob_size(c->s, d, &have, err);
		if (r < 0)
			return r;
		if (have != size)
			return berr_set(err, 0, "%s: %s has %lld bytes, the descriptor says %lld", what,
					rootfs_digest_str(d, buf), (long long)have, (long long)size);
	}
	return 0;
}

static int read_blob(struct import_ctx *c, const struct rootfs_digest *d, int64_t size,
		     const char *what, char **buf, size_t *len, struct berr **err)
{
	int r = ensure_blob(c, d, size, what, err);

	if (r < 0)
		return r;
	return rootfs_store_read_blob(c->s, d, META_MAX, buf, len, err);
}

/* ------------------------------------------------------------ images */

struct unpack_progress {
	struct import_ctx *c;
	size_t i, n;
	uint64_t total;
};

static void on_unpack_progress(uint64_t done, void *data)
{
	struct unpack_progress *p = data;

	progress(p->c, "unpack", p->i, p->n, done, p->total);
}

static int import_manifest(struct import_ctx *c, const struct rootfs_digest *md, int64_t msize,
			   const char *ref, struct berr **err)
{
	cleanup_free char *mbuf = NULL, *cbuf = NULL, *mwhat = NULL, *cwhat = NULL;
	struct oci_manifest man = { 0 };
	struct oci_image_config cfg = { 0 };
	struct rootfs_image img = { 0 };
	struct rootfs_imported *out;
	char dbuf[ROOTFS_DIGEST_STR];
	size_t mlen, clen, unpacked = 0;
	int r;

	mwhat = xasprintf("manifest %s", rootfs_digest_str(md, dbuf));
	r = read_blob(c, md, msize, mwhat, &mbuf, &mlen, err);
	if (r < 0)
		return r;
	r = oci_manifest_parse(mbuf, mlen, mwhat, &man, err);
	if (r < 0)
		return r;
	cwhat = xasprintf("config %s", rootfs_digest_str(&man.config.digest, dbuf));
	r = read_blob(c, &man.config.digest, man.config.size, cwhat, &cbuf, &clen, err);
	if (r < 0)
		goto out;
	r = oci_config_parse(cbuf, clen, cwhat, &cfg, err);
	if (r < 0)
		goto out;
	if (cfg.n_diff_ids != man.n_layers) {
		r = berr_set(err, 0, "%s: the config has %zu diff_ids but the manifest has %zu layers",
			     mwhat, cfg.n_diff_ids, man.n_layers);
		goto out;
	}
	if (strcmp(cfg.platform.os, c->os) || strcmp(cfg.platform.architecture, c->arch)) {
		r = berr_set(err, 0, "%s: the image is for %s/%s, this host runs %s/%s (choose another platform)",
			     mwhat, cfg.platform.os, cfg.platform.architecture, c->os, c->arch);
		goto out;
	}

	img.manifest = *md;
	img.config = man.config.digest;
	img.created = time(NULL);
	img.source = xstrdup(c->path);
	img.n_layers = man.n_layers;
	img.layers = xcalloc(man.n_layers ? man.n_layers : 1, sizeof(*img.layers));
	for (size_t i = 0; i < man.n_layers; i++) {
		struct rootfs_layer_ref *l = &img.layers[i];
		cleanup_free char *lwhat = xasprintf("layer %zu of %s", i + 1, mwhat);

		l->blob = man.layers[i].digest;
		l->size = man.layers[i].size;
		l->diff_id = cfg.diff_ids[i];
		l->comp = man.layer_comp[i];
		rootfs_chain_id(i ? &img.layers[i - 1].chain : NULL, &l->diff_id, &l->chain);
		if (rootfs_store_has_layer(c->s, &l->chain))
			continue;   /* shared with an image we already have: the blob is not needed */
		r = ensure_blob(c, &l->blob, l->size, lwhat, err);
		if (r < 0)
			goto out;
	}
	for (size_t i = 0; i < man.n_layers; i++) {
		struct rootfs_layer_ref *l = &img.layers[i];
		struct rootfs_unpack_opts uo = c->o ? c->o->unpack : (struct rootfs_unpack_opts){ 0 };
		struct unpack_progress up = { c, i, man.n_layers, (uint64_t)l->size };
		struct rootfs_unpack_result ur;
		bool did = false;

		uo.progress = on_unpack_progress;
		uo.progress_data = &up;
		r = rootfs_store_unpack_layer(c->s, l, &uo, &did, &ur, err);
		if (r < 0) {
			berr_wrap(err, "layer %zu of %s", i + 1, mwhat);
			goto out;
		}
		if (did) {
			push_digest(&c->new_layers, &c->n_new_layers, &l->chain);
			c->res->bytes_unpacked += ur.file_bytes;
			unpacked++;
		}
	}
	{
		/* an image the store has already keeps its record (its import
		 * time); a failure later on must not remove it. The import
		 * marks it used (rootfs_import). */
		struct rootfs_image had = { 0 };
		bool present = rootfs_store_get_image(c->s, md, &had, NULL) == 0;

		rootfs_image_free(&had);
		if (!present) {
			r = rootfs_store_put_image(c->s, &img, err);
			if (r < 0)
				goto out;
			push_digest(&c->new_images, &c->n_new_images, md);
		}
	}

	c->res->images = xreallocarray(c->res->images, c->res->n_images + 1, sizeof(*c->res->images));
	out = &c->res->images[c->res->n_images++];
	memset(out, 0, sizeof(*out));
	out->manifest = *md;
	out->layers = man.n_layers;
	out->layers_unpacked = unpacked;
	out->refs = xcalloc(2, sizeof(char *));
	if (ref)
		out->refs[0] = xstrdup(ref);
out:
	rootfs_image_free(&img);
	oci_manifest_free(&man);
	oci_config_free(&cfg);
	return r;
}

/* The name of an index entry: io.containerd.image.name (docker 25+ save,
 * buildkit) is a full reference; org.opencontainers.image.ref.name is one
 * when it has a ':' or '/' (skopeo, podman), but a bare tag (containerd's
 * style) names nothing by itself. */
static char *ref_from_annotation(const struct oci_descriptor *d)
{
	if (d->image_name)
		return rootfs_ref_normalize(d->image_name, NULL);
	if (d->ref_name == NULL || (!strchr(d->ref_name, ':') && !strchr(d->ref_name, '/')))
		return NULL;
	return rootfs_ref_normalize(d->ref_name, NULL);
}

static int import_oci(struct import_ctx *c, struct berr **err)
{
	struct oci_index idx = { 0 };
	cleanup_free char *what = xasprintf("%s: index.json", c->path);
	struct oci_descriptor *plain = NULL;
	size_t n_plain = 0;
	bool any_platform = false;
	int r;

	if (c->index_json == NULL)
		return berr_set(err, 0, "%s: no index.json", c->path);
	r = oci_index_parse(c->index_json, c->index_len, what, &idx, err);
	if (r < 0)
		return r;
	if (idx.n_manifests == 0) {
		r = berr_set(err, 0, "%s: lists no images", what);
		goto out;
	}
	for (size_t i = 0; i < idx.n_manifests && r == 0; i++) {
		struct oci_descriptor *d = &idx.manifests[i];
		cleanup_free char *ref = ref_from_annotation(d);

		if (oci_media_type_is_index(d->media_type)) {
			cleanup_free char *buf = NULL, *nwhat = NULL;
			char dbuf[ROOTFS_DIGEST_STR];
			struct oci_index nested = { 0 };
			size_t len, k;

			nwhat = xasprintf("image index %s", rootfs_digest_str(&d->digest, dbuf));
			r = read_blob(c, &d->digest, d->size, nwhat, &buf, &len, err);
			if (r == 0)
				r = oci_index_parse(buf, len, nwhat, &nested, err);
			if (r == 0)
				r = oci_index_select(&nested, nwhat, c->os, c->arch, c->o ? c->o->variant : NULL, &k, err);
			if (r == 0)
				r = import_manifest(c, &nested.manifests[k].digest, nested.manifests[k].size, ref, err);
			oci_index_free(&nested);
			continue;
		}
		plain = xreallocarray(plain, n_plain + 1, sizeof(*plain));
		plain[n_plain++] = *d;   /* shallow: idx owns the strings */
		if (d->platform.os)
			any_platform = true;
	}
	if (r < 0 || n_plain == 0)
		goto out;
	if (any_platform) {
		/* one image in several platforms */
		struct oci_index only = { .manifests = plain, .n_manifests = n_plain };
		cleanup_free char *ref = NULL;
		size_t k;

		r = oci_index_select(&only, what, c->os, c->arch, c->o ? c->o->variant : NULL, &k, err);
		if (r < 0)
			goto out;
		ref = ref_from_annotation(&plain[k]);
		r = import_manifest(c, &plain[k].digest, plain[k].size, ref, err);
	} else {
		for (size_t i = 0; i < n_plain && r == 0; i++) {
			cleanup_free char *ref = ref_from_annotation(&plain[i]);

			r = import_manifest(c, &plain[i].digest, plain[i].size, ref, err);
		}
	}
out:
	free(plain);
	oci_index_free(&idx);
	return r;
}

static enum rootfs_compression sniff(struct import_ctx *c, const struct rootfs_digest *d)
{
	unsigned char b[4] = { 0 };
	cleanup_close int fd = rootfs_store_open_blob(c->s, d, NULL);

	if (fd < 0 || pread(fd, b, sizeof(b), 0) != (ssize_t)sizeof(b))
		return ROOTFS_COMP_NONE;
	if (b[0] == 0x1f && b[1] == 0x8b)
		return ROOTFS_COMP_GZIP;
	if (b[0] == 0x28 && b[1] == 0xb5 && b[2] == 0x2f && b[3] == 0xfd)
		return ROOTFS_COMP_ZSTD;
	return ROOTFS_COMP_NONE;
}

/* docker-archive: describe each image with an OCI manifest of our own (stored
 * as a blob, so every image in the store has one) and import that. */
static int import_docker(struct import_ctx *c, struct berr **err)
{
	struct docker_archive_manifest dm = { 0 };
	cleanup_free char *what = xasprintf("%s: manifest.json", c->path);
	int r;

	r = docker_archive_manifest_parse(c->docker_manifest, c->docker_manifest_len, what, &dm, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < dm.n_images && r == 0; i++) {
		struct docker_archive_image *im = &dm.images[i];
		cleanup_free char *iwhat = xasprintf("%s[%zu]", what, i);
		cleanup_json json_t *man = NULL;
		cleanup_free char *bytes = NULL, *ref = NULL;
		struct rootfs_blob_writer *w = NULL;
		struct rootfs_digest md;
		struct member *cm = find_member(c, im->config);
		json_t *layers = json_array();
		char dbuf[ROOTFS_DIGEST_STR];
		bool was_new = false;

		man = json_object();
		json_object_set_new(man, "layers", layers);
		if (cm == NULL) {
			r = berr_set(err, 0, "%s.Config: %s is not in the archive", iwhat, im->config);
			break;
		}
		json_object_set_new(man, "schemaVersion", json_integer(2));
		json_object_set_new(man, "mediaType", json_string(OCI_MT_MANIFEST));
		json_object_set_new(man, "config", json_pack("{s:s, s:s, s:I}", "mediaType", OCI_MT_CONFIG,
							     "digest", rootfs_digest_str(&cm->d, dbuf),
							     "size", (json_int_t)cm->size));
		for (size_t k = 0; k < im->n_layers; k++) {
			struct member *lm = find_member(c, im->layers[k]);
			static const char *const mt[] = {
				[ROOTFS_COMP_NONE] = OCI_MT_LAYER,
				[ROOTFS_COMP_GZIP] = OCI_MT_LAYER_GZIP,
				[ROOTFS_COMP_ZSTD] = OCI_MT_LAYER_ZSTD,
			};

			if (lm == NULL) {
				r = berr_set(err, 0, "%s.Layers[%zu]: %s is not in the archive", iwhat, k, im->layers[k]);
				break;
			}
			json_array_append_new(layers, json_pack("{s:s, s:s, s:I}", "mediaType", mt[sniff(c, &lm->d)],
								"digest", rootfs_digest_str(&lm->d, dbuf),
								"size", (json_int_t)lm->size));
		}
		if (r < 0)
			break;
		bytes = bjson_dumps(man);
		r = rootfs_blob_begin(c->s, &w, err);
		if (r == 0)
			r = rootfs_blob_write(w, bytes, strlen(bytes), err);
		if (r < 0) {
			rootfs_blob_abort(w);
			break;
		}
		r = rootfs_blob_commit(w, NULL, -1, iwhat, &md, &was_new, err);
		if (r < 0)
			break;
		if (was_new)
			push_digest(&c->new_blobs, &c->n_new_blobs, &md);
		if (im->repo_tags && im->repo_tags[0]) {
			ref = rootfs_ref_normalize(im->repo_tags[0], err);
			if (ref == NULL) {
				r = berr_wrap(err, "%s.RepoTags[0]", iwhat);
				break;
			}
		}
		r = import_manifest(c, &md, (int64_t)strlen(bytes), ref, err);
		/* further RepoTags of the same image */
		for (size_t t = 1; r == 0 && im->repo_tags && im->repo_tags[t]; t++) {
			struct rootfs_imported *last = &c->res->images[c->res->n_images - 1];
			char *extra = rootfs_ref_normalize(im->repo_tags[t], err);
			size_t nr = 0;

			if (extra == NULL) {
				r = berr_wrap(err, "%s.RepoTags[%zu]", iwhat, t);
				break;
			}
			while (last->refs[nr])
				nr++;
			last->refs = xreallocarray(last->refs, nr + 2, sizeof(char *));
			last->refs[nr] = extra;
			last->refs[nr + 1] = NULL;
		}
	}
	docker_archive_manifest_free(&dm);
	return r;
}

/* ------------------------------------------------------------ entry */

static void undo(struct import_ctx *c)
{
	struct berr *e = NULL;

	for (size_t i = 0; i < c->n_new_images; i++) {
		char buf[ROOTFS_DIGEST_STR];

		if (rootfs_store_remove(c->s, rootfs_digest_str(&c->new_images[i], buf), &e) < 0) {
			log_warn("roll back import: %s", berr_msg(e));
			berr_clear(&e);
		}
	}
	for (size_t i = 0; i < c->n_new_layers; i++) {
		cleanup_free char *path = rootfs_store_layer_path(c->s, &c->new_layers[i]);
		cleanup_free char *meta = xasprintf("%s.json", path);
		char *slash = strrchr(path, '/');
		cleanup_close int dfd = -1;

		*slash = '\0';
		dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0 || fs_rm_rf_at(dfd, slash + 1, &e) < 0) {
			log_warn("roll back import: %s", berr_msg(e));
			berr_clear(&e);
		}
		unlink(meta);
	}
	for (size_t i = 0; i < c->n_new_blobs; i++)
		if (rootfs_store_remove_blob(c->s, &c->new_blobs[i], &e) < 0) {
			log_warn("roll back import: %s", berr_msg(e));
			berr_clear(&e);
		}
}

int rootfs_import(struct rootfs_store *s, const char *path, const struct rootfs_import_opts *o,
		  struct rootfs_import_result *res, struct berr **err)
{
	struct import_ctx c = { .s = s, .o = o, .path = path, .dirfd = -1, .res = res };
	cleanup_close int fd = -1;
	struct stat st;
	int r;

	memset(res, 0, sizeof(*res));
	c.os = o && o->os ? o->os : "linux";
	c.arch = o && o->arch ? o->arch : rootfs_host_arch();
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0)
		return berr_set(err, errno, "open %s", path);
	r = rootfs_store_lock(s, err);
	if (r < 0)
		return r;
	if (S_ISDIR(st.st_mode)) {
		cleanup_close int lf = -1, ifd = -1;

		c.dirfd = fd;
		res->format = "oci-layout";
		lf = open_layout_file(&c, "oci-layout", err);
		if (lf < 0) {
			if (lf == -ENOENT)
				berr_set(err, 0, "%s: a directory without an oci-layout file is not an OCI image layout", path);
			r = -1;
			goto out;
		}
		ifd = open_layout_file(&c, "index.json", err);
		if (ifd < 0) {
			if (ifd == -ENOENT)
				berr_set(err, ENOENT, "%s: open index.json", path);
			r = -1;
			goto out;
		}
		r = fs_read_all(ifd, &c.index_json, &c.index_len, META_MAX, err);
		if (r < 0)
			goto out;
		r = import_oci(&c, err);
	} else if (S_ISREG(st.st_mode)) {
		r = scan_archive(&c, fd, err);
		if (r < 0)
			goto out;
		if (c.has_oci_layout) {
			res->format = "oci-archive";
			r = import_oci(&c, err);
		} else if (c.docker_manifest) {
			res->format = "docker-archive";
			r = import_docker(&c, err);
		} else {
			r = berr_set(err, 0, "%s: neither an oci-archive (no oci-layout) nor a docker-archive (no manifest.json)", path);
		}
	} else {
		r = berr_set(err, 0, "%s: not a file or directory", path);
	}
	if (r == 0 && res->n_images == 0)
		r = berr_set(err, 0, "%s: no image to import", path);
	/* tags last: nothing to undo for them */
	for (size_t i = 0; r == 0 && i < res->n_images; i++) {
		struct rootfs_imported *im = &res->images[i];

		if (o && o->tag && res->n_images == 1) {
			cleanup_free char *t = rootfs_ref_normalize(o->tag, err);
			size_t nr = 0;

			if (t == NULL) {
				r = -1;
				break;
			}
			while (im->refs[nr])
				nr++;
			im->refs = xreallocarray(im->refs, nr + 2, sizeof(char *));
			im->refs[nr] = steal_pointer(&t);
			im->refs[nr + 1] = NULL;
		}
		for (char **t = im->refs; r == 0 && *t; t++)
			r = rootfs_store_tag(s, *t, &im->manifest, err);
	}
	/* an import is a use (prune --older-than, --budget), as a pull is */
	for (size_t i = 0; r == 0 && i < res->n_images; i++) {
		struct berr *e = NULL;

		if (rootfs_store_mark_used(s, &res->images[i].manifest, &e) < 0) {
			log_debug("%s", berr_msg(e));
			berr_free(e);
		}
	}
	if (r == 0 && o && o->tag && res->n_images > 1)
		log_warn("%s holds %zu images: --tag applies to one; their own names were used", path, res->n_images);
out:
	if (r < 0) {
		undo(&c);
		/* inner messages often start with the source already: say it once */
		if (err && *err) {
			size_t pl = strlen(path);

			if (!strncmp((*err)->msg, path, pl) && !strncmp((*err)->msg + pl, ": ", 2))
				memmove((*err)->msg, (*err)->msg + pl + 2, strlen((*err)->msg + pl + 2) + 1);
		}
		berr_wrap(err, "import %s", path);
		rootfs_import_result_free(res);
	}
	rootfs_store_unlock(s);
	for (size_t i = 0; i < c.n_m; i++) {
		free(c.m[i].name);
		free(c.m[i].link);
	}
	free(c.m);
	free(c.index_json);
	free(c.docker_manifest);
	free(c.new_blobs);
	free(c.new_layers);
	free(c.new_images);
	return r;
}

void rootfs_import_result_free(struct rootfs_import_result *res)
{
	if (res == NULL)
		return;
	for (size_t i = 0; i < res->n_images; i++)
		strv_free(res->images[i].refs);
	free(res->images);
	res->images = NULL;
	res->n_images = 0;
}
