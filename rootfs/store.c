/* rootfs/store.c - see store.h */
#include "rootfs/store.h"
#include "rootfs/store_priv.h"
#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/json.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "rootfs/registry.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define META_MAX (4u << 20)   /* image records, refs, leases: small JSON */


struct rootfs_blob_writer {
	struct rootfs_store *s;
	struct rootfs_sha256 *h;
	char *tmp;       /* name under tmp/ */
	int fd;
	int64_t size;
};

static const char *const store_dirs[] = {
	"blobs", "blobs/sha256", "layers", "images", "leases", "used", "tmp",
};

/* ------------------------------------------------------------------ open */

int rootfs_store_open(const char *root, struct rootfs_store **out, struct berr **err)
{
	cleanup_close int rootfd = -1;
	cleanup_close int lockfd = -1;
	struct rootfs_store *s;
	int r;

	r = fs_mkdir_p(root, 0700, err);
	if (r < 0)
		return berr_wrap(err, "open image store");
	rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return berr_set(err, errno, "open image store %s", root);
	for (size_t i = 0; i < sizeof(store_dirs) / sizeof(store_dirs[0]); i++)
		if (mkdirat(rootfd, store_dirs[i], 0700) < 0 && errno != EEXIST)
			return berr_set(err, errno, "create %s/%s", root, store_dirs[i]);
	lockfd = openat(rootfd, ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lockfd < 0)
		return berr_set(err, errno, "open %s/.lock", root);

	s = xzalloc(sizeof(*s));
	s->root = xstrdup(root);
	s->rootfd = steal_fd(&rootfd);
	s->lockfd = steal_fd(&lockfd);

	/* Leftovers of an interrupted writer: only safe to remove when no
	 * writer is active, so take the lock without waiting for it. */
	if (flock(s->lockfd, LOCK_EX | LOCK_NB) == 0) {
		cleanup_close int tmpfd = openat(s->rootfd, "tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		DIR *d = tmpfd >= 0 ? fdopendir(dup(tmpfd)) : NULL;
		struct dirent *de;

		while (d && (de = readdir(d))) {
			struct berr *e = NULL;

			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			log_debug("image store: removing leftover tmp/%s", de->d_name);
			if (fs_rm_rf_at(tmpfd, de->d_name, &e) < 0) {
				log_warn("image store: %s", berr_msg(e));
				berr_free(e);
			}
		}
		if (d)
			closedir(d);
		flock(s->lockfd, LOCK_UN);
	}
	*out = s;
	return 0;
}

void rootfs_store_close(struct rootfs_store *s)
{
	if (s == NULL)
		return;
	close(s->rootfd);
	close(s->lockfd);
	free(s->root);
	free(s);
}

const char *rootfs_store_root(const struct rootfs_store *s)
{
	return s->root;
}

int rootfs_store_lock(struct rootfs_store *s, struct berr **err)
{
	if (s->locked++ > 0)
		return 0;
	while (flock(s->lockfd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			s->locked = 0;
			return berr_set(err, errno, "lock image store %s", s->root);
		}
	}
	return 0;
}

void rootfs_store_unlock(struct rootfs_store *s)
{
	if (s->locked > 0 && --s->locked == 0)
		flock(s->lockfd, LOCK_UN);
}

/* ------------------------------------------------------------------ helpers */

static char *blob_rel(const struct rootfs_digest *d)
{
	return xasprintf("blobs/sha256/%s", d->hex);
}

char *store_tmp_name(const char *prefix)
{
	static unsigned counter;
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return xasprintf("tmp/%s-%d-%ld%09ld-%u", prefix, getpid(), (long)ts.tv_sec, ts.tv_nsec,
			 __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED));
}

/* Write JSON to rel (under the root) by temp file + rename. */
int store_write_json(struct rootfs_store *s, const char *rel, const json_t *v, struct berr **err)
{
	cleanup_free char *path = fs_path_join(s->root, rel);

	return bjson_write_file_atomic(path, v, 0600, err);
}

/* Load JSON from rel; *out NULL (and 0 returned) when the file is absent. */
static int read_json(struct rootfs_store *s, const char *rel, json_t **out, struct berr **err)
{
	cleanup_free char *path = fs_path_join(s->root, rel);
	struct stat st;

	*out = NULL;
	if (fstatat(s->rootfd, rel, &st, 0) < 0) {
		if (errno == ENOENT)
			return 0;
		return berr_set(err, errno, "stat %s", path);
	}
	return bjson_load_file(path, META_MAX, out, err);
}

void store_digest_json(json_t *o, const char *key, const struct rootfs_digest *d)
{
	char buf[ROOTFS_DIGEST_STR];

	json_object_set_new(o, key, json_string(rootfs_digest_str(d, buf)));
}

static int get_digest(const json_t *o, const char *path, const char *key,
		      struct rootfs_digest *d, struct berr **err)
{
	const char *s;
	cleanup_free char *p = bjson_path_key(path, key);
	int r = bjson_get_string(o, path, key, true, &s, err);

	if (r < 0)
		return r;
	return rootfs_digest_parse(s, p, d, err);
}

/* ------------------------------------------------------------------ blobs */

int rootfs_blob_begin(struct rootfs_store *s, struct rootfs_blob_writer **out, struct berr **err)
{
	struct rootfs_blob_writer *w = xzalloc(sizeof(*w));

	w->s = s;
	w->tmp = store_tmp_name("blob");
	w->fd = openat(s->rootfd, w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (w->fd < 0) {
		int e = errno;

		free(w->tmp);
		free(w);
		return berr_set(err, e, "create a temporary blob in %s/tmp", s->root);
	}
	w->h = rootfs_sha256_new();
	*out = w;
	return 0;
}

int rootfs_blob_write(struct rootfs_blob_writer *w, const void *buf, size_t len, struct berr **err)
{
	int r = fs_write_all(w->fd, buf, len);

	if (r < 0)
		return berr_set(err, -r, "write %s/%s", w->s->root, w->tmp);
	rootfs_sha256_update(w->h, buf, len);
	w->size += (int64_t)len;
	return 0;
}

void rootfs_blob_abort(struct rootfs_blob_writer *w)
{
	if (w == NULL)
		return;
	if (w->fd >= 0)
		close(w->fd);
	if (w->tmp)
		unlinkat(w->s->rootfd, w->tmp, 0);
	rootfs_sha256_free(w->h);
	free(w->tmp);
	free(w);
}

int rootfs_blob_commit(struct rootfs_blob_writer *w, const struct rootfs_digest *expect,
		       int64_t expect_size, const char *what, struct rootfs_digest *got,
		       bool *was_new, struct berr **err)
{
	struct rootfs_digest d;
	cleanup_free char *rel = NULL;
	char a[ROOTFS_DIGEST_STR], b[ROOTFS_DIGEST_STR];
	int r = 0;

	rootfs_sha256_final(w->h, &d);
	if (expect_size >= 0 && w->size != expect_size) {
		r = berr_set(err, 0, "%s: size %lld does not match the descriptor's %lld", what,
			     (long long)w->size, (long long)expect_size);
		goto out;
	}
	if (expect && !rootfs_digest_eq(expect, &d)) {
		r = berr_set(err, 0, "%s: content has digest %s, not the expected %s", what,
			     rootfs_digest_str(&d, a), rootfs_digest_str(expect, b));
		goto out;
	}
	if (fchmod(w->fd, 0444) < 0 || fsync(w->fd) < 0) {
		r = berr_set(err, errno, "finish %s/%s", w->s->root, w->tmp);
		goto out;
	}
	rel = blob_rel(&d);
	if (was_new)
		*was_new = !rootfs_store_has_blob(w->s, &d);
	if (renameat(w->s->rootfd, w->tmp, w->s->rootfd, rel) < 0) {
		r = berr_set(err, errno, "store blob %s", rootfs_digest_str(&d, a));
		goto out;
	}
	free(w->tmp);
	w->tmp = NULL;
	if (got)
		*got = d;
out:
	rootfs_blob_abort(w);
	return r;
}

bool rootfs_store_has_blob(struct rootfs_store *s, const struct rootfs_digest *d)
{
	cleanup_free char *rel = blob_rel(d);

	return faccessat(s->rootfd, rel, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

int rootfs_store_open_blob(struct rootfs_store *s, const struct rootfs_digest *d, struct berr **err)
{
	cleanup_free char *rel = blob_rel(d);
	char buf[ROOTFS_DIGEST_STR];
	int fd = openat(s->rootfd, rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return berr_set(err, errno, "open blob %s in %s", rootfs_digest_str(d, buf), s->root);
	return fd;
}

int rootfs_store_read_blob(struct rootfs_store *s, const struct rootfs_digest *d, size_t max,
			   char **buf, size_t *len, struct berr **err)
{
	cleanup_close int fd = rootfs_store_open_blob(s, d, err);

	if (fd < 0)
		return fd;
	return fs_read_all(fd, buf, len, max, err);
}

int rootfs_store_blob_size(struct rootfs_store *s, const struct rootfs_digest *d, int64_t *size,
			   struct berr **err)
{
	cleanup_free char *rel = blob_rel(d);
	char buf[ROOTFS_DIGEST_STR];
	struct stat st;

	if (fstatat(s->rootfd, rel, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return berr_set(err, errno, "stat blob %s", rootfs_digest_str(d, buf));
	*size = st.st_size;
	return 0;
}

int rootfs_store_remove_blob(struct rootfs_store *s, const struct rootfs_digest *d, struct berr **err)
{
	cleanup_free char *rel = blob_rel(d);
	char buf[ROOTFS_DIGEST_STR];

	if (unlinkat(s->rootfd, rel, 0) < 0 && errno != ENOENT)
		return berr_set(err, errno, "remove blob %s", rootfs_digest_str(d, buf));
	return 0;
}

/* ------------------------------------------------------------------ layers */

bool rootfs_store_has_layer(struct rootfs_store *s, const struct rootfs_digest *chain)
{
	cleanup_free char *rel = xasprintf("layers/%s", chain->hex);

	return faccessat(s->rootfd, rel, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

char *rootfs_store_layer_path(struct rootfs_store *s, const struct rootfs_digest *chain)
{
	return xasprintf("%s/layers/%s", s->root, chain->hex);
}

uint64_t rootfs_store_layer_bytes(struct rootfs_store *s, const struct rootfs_digest *chain)
{
	cleanup_free char *rel = xasprintf("layers/%s.json", chain->hex);
	cleanup_json json_t *v = NULL;
	json_t *n;

	if (read_json(s, rel, &v, NULL) < 0 || v == NULL)
		return 0;
	n = json_object_get(v, "fileBytes");
	return json_is_integer(n) ? (uint64_t)json_integer_value(n) : 0;
}

/* ------------------------------------------------------------------ images */

static const char *comp_name(enum rootfs_compression c)
{
	return rootfs_compression_name(c);
}

static int comp_parse(const char *s, enum rootfs_compression *c)
{
	static const enum rootfs_compression all[] = { ROOTFS_COMP_NONE, ROOTFS_COMP_GZIP, ROOTFS_COMP_ZSTD };

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (!strcmp(s, rootfs_compression_name(all[i]))) {
			*c = all[i];
			return 0;
		}
	return -1;
}

int rootfs_store_put_image(struct rootfs_store *s, const struct rootfs_image *img, struct berr **err)
{
	cleanup_json json_t *v = json_object();
	cleanup_free char *rel = xasprintf("images/%s.json", img->manifest.hex);
	json_t *layers = json_array();

	store_digest_json(v, "manifest", &img->manifest);
	store_digest_json(v, "config", &img->config);
	json_object_set_new(v, "created", json_integer(img->created));
	json_object_set_new(v, "source", json_string(img->source ? img->source : ""));
	for (size_t i = 0; i < img->n_layers; i++) {
		const struct rootfs_layer_ref *l = &img->layers[i];
		json_t *o = json_object();

		store_digest_json(o, "blob", &l->blob);
		store_digest_json(o, "diffID", &l->diff_id);
		store_digest_json(o, "chainID", &l->chain);
		json_object_set_new(o, "size", json_integer(l->size));
		json_object_set_new(o, "compression", json_string(comp_name(l->comp)));
		json_array_append_new(layers, o);
	}
	json_object_set_new(v, "layers", layers);
	return store_write_json(s, rel, v, err);
}

static int image_from_json(const json_t *v, const char *what, struct rootfs_image *out,
			   struct berr **err)
{
	json_t *layers, *l;
	const char *src = NULL, *comp;
	int64_t created = 0;
	size_t i;
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = get_digest(v, what, "manifest", &out->manifest, err)) < 0 ||
	    (r = get_digest(v, what, "config", &out->config, err)) < 0 ||
	    (r = bjson_get_int(v, what, "created", false, &created, err)) < 0 ||
	    (r = bjson_get_string(v, what, "source", false, &src, err)) < 0 ||
	    (r = bjson_get_array(v, what, "layers", true, &layers, err)) < 0)
		goto fail;
	out->created = created;
	out->source = xstrdup(src ? src : "");
	out->layers = xcalloc(json_array_size(layers), sizeof(*out->layers));
	json_array_foreach(layers, i, l) {
		struct rootfs_layer_ref *x = &out->layers[i];
		cleanup_free char *p = bjson_path_index(what, i);

		out->n_layers = i + 1;
		if ((r = get_digest(l, p, "blob", &x->blob, err)) < 0 ||
		    (r = get_digest(l, p, "diffID", &x->diff_id, err)) < 0 ||
		    (r = get_digest(l, p, "chainID", &x->chain, err)) < 0 ||
		    (r = bjson_get_int(l, p, "size", true, &x->size, err)) < 0 ||
		    (r = bjson_get_string(l, p, "compression", true, &comp, err)) < 0)
			goto fail;
		if (comp_parse(comp, &x->comp) < 0) {
			r = berr_set(err, 0, "%s.compression: unknown \"%s\"", p, comp);
			goto fail;
		}
	}
	return 0;
fail:
	rootfs_image_free(out);
	return r;
}

int rootfs_store_get_image(struct rootfs_store *s, const struct rootfs_digest *manifest,
			   struct rootfs_image *out, struct berr **err)
{
	cleanup_free char *rel = xasprintf("images/%s.json", manifest->hex);
	cleanup_json json_t *v = NULL;
	char buf[ROOTFS_DIGEST_STR];
	int r = read_json(s, rel, &v, err);

	if (r < 0)
		return r;
	if (v == NULL)
		return berr_set(err, ENOENT, "image %s", rootfs_digest_str(manifest, buf));
	return image_from_json(v, rel, out, err);
}

void rootfs_image_free(struct rootfs_image *img)
{
	if (img == NULL)
		return;
	free(img->source);
	free(img->layers);
	memset(img, 0, sizeof(*img));
}

void rootfs_images_free(struct rootfs_image *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		rootfs_image_free(&v[i]);
	free(v);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names of entries in dir ending in suffix, without it; sorted. */
static char **list_dir(struct rootfs_store *s, const char *dir, const char *suffix)
{
	int fd = openat(s->rootfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cleanup_closedir DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	size_t n = 0, cap = 8, sl = strlen(suffix);
	char **v = xcalloc(cap, sizeof(*v));
	struct dirent *de;

	if (d == NULL && fd >= 0)
		close(fd);
	while (d && (de = readdir(d))) {
		size_t len = strlen(de->d_name);

		if (de->d_name[0] == '.' || len <= sl || strcmp(de->d_name + len - sl, suffix) != 0)
			continue;
		if (n + 2 > cap)
			v = xreallocarray(v, cap *= 2, sizeof(*v));
		v[n++] = xstrndup(de->d_name, len - sl);
	}
	v[n] = NULL;
	qsort(v, n, sizeof(*v), cmp_str);
	return v;
}

int rootfs_store_list_images(struct rootfs_store *s, struct rootfs_image **out, size_t *n,
			     struct berr **err)
{
	cleanup_strv char **names = list_dir(s, "images", ".json");
	size_t cnt = 0, k = 0;
	struct rootfs_image *v;

	while (names[cnt])
		cnt++;
	v = xcalloc(cnt ? cnt : 1, sizeof(*v));
	for (size_t i = 0; i < cnt; i++) {
		struct rootfs_digest d;
		cleanup_free char *full = xasprintf("sha256:%s", names[i]);
		int r;

		if (rootfs_digest_parse(full, "images/", &d, NULL) < 0)
			continue;   /* not one of ours */
		r = rootfs_store_get_image(s, &d, &v[k], err);
		if (r < 0) {
			rootfs_images_free(v, k);
			return r;
		}
		k++;
	}
	*out = v;
	*n = k;
	return 0;
}

/* ------------------------------------------------------------------ refs */

static bool name_component_ok(const char *c, size_t n)
{
	/* [a-z0-9]+ ([._]|__|-+ [a-z0-9]+)* */
	size_t i = 0;

	if (n == 0 || !(islower((unsigned char)c[0]) || isdigit((unsigned char)c[0])))
		return false;
	while (i < n) {
		if (islower((unsigned char)c[i]) || isdigit((unsigned char)c[i])) {
			i++;
			continue;
		}
		if (c[i] == '.' || c[i] == '_' || c[i] == '-') {
			size_t j = i;

			while (j < n && (c[j] == '-' || (c[j] == '_' && j - i < 2) || (c[j] == '.' && j == i)))
				j++;
			if (j == n || !(islower((unsigned char)c[j]) || isdigit((unsigned char)c[j])))
				return false;
			i = j;
			continue;
		}
		return false;
	}
	return true;
}

static bool host_ok(const char *c, size_t n)
{
	/* a registry host: letters, digits, '.', '-', optional :port */
	for (size_t i = 0; i < n; i++)
		if (!(isalnum((unsigned char)c[i]) || c[i] == '.' || c[i] == '-' || c[i] == ':'))
			return false;
	return n > 0;
}

char *rootfs_ref_normalize(const char *ref, struct berr **err)
{
	const char *slash_last, *colon, *name_end, *p;
	size_t len;

	if (ref == NULL || *ref == '\0') {
		berr_set(err, 0, "image reference: empty");
		return NULL;
	}
	len = strlen(ref);
	if (len > 255) {
		berr_set(err, 0, "image reference \"%.40s...\": longer than 255 characters", ref);
		return NULL;
	}
	if (strchr(ref, '@')) {
		berr_set(err, 0, "image reference \"%s\": name@digest is not a tag; use the digest alone", ref);
		return NULL;
	}
	slash_last = strrchr(ref, '/');
	colon = strrchr(ref, ':');
	if (colon && slash_last && colon < slash_last)
		colon = NULL;   /* host:port/name without a tag */
	name_end = colon ? colon : ref + len;
	if (colon) {
		const char *tag = colon + 1;
		size_t tl = strlen(tag);

		if (tl == 0 || tl > 128 || !(isalnum((unsigned char)tag[0]) || tag[0] == '_')) {
			berr_set(err, 0, "image reference \"%s\": bad tag \"%s\" (letters, digits, '_', '.', '-'; up to 128)", ref, tag);
			return NULL;
		}
		for (size_t i = 0; i < tl; i++)
			if (!(isalnum((unsigned char)tag[i]) || tag[i] == '_' || tag[i] == '.' || tag[i] == '-')) {
				berr_set(err, 0, "image reference \"%s\": bad tag \"%s\" (letters, digits, '_', '.', '-'; up to 128)", ref, tag);
				return NULL;
			}
	}
	/* name: [host/]component(/component)* */
	p = ref;
	for (bool first = true;; first = false) {
		const char *end = memchr(p, '/', (size_t)(name_end - p));
		size_t n = end ? (size_t)(end - p) : (size_t)(name_end - p);
		bool is_host = first && end &&
			       (memchr(p, '.', n) || memchr(p, ':', n) || (n == 9 && !memcmp(p, "localhost", 9)));

		if (is_host ? !host_ok(p, n) : !name_component_ok(p, n)) {
			berr_set(err, 0, "image reference \"%s\": bad name component \"%.*s\" (lowercase letters, digits, separators . _ __ -)",
				 ref, (int)n, p);
			return NULL;
		}
		if (!end)
			break;
		p = end + 1;
	}
	{
		/* Docker Hub's names as docker shows them: busybox,
		 * docker.io/library/busybox and index.docker.io/library/busybox
		 * are busybox:latest (registry_ref.c, the pull's parser) */
		char *full = colon ? xstrdup(ref) : xasprintf("%s:latest", ref);
		struct rootfs_pull_ref pr;
		char *fam = NULL;

		if (rootfs_pull_ref_parse(full, &pr, NULL) == 0) {
			fam = rootfs_pull_ref_familiar(&pr);
			rootfs_pull_ref_free(&pr);
		}
		if (fam == NULL)
			return full;
		free(full);
		return fam;
	}
}

/* The key of refs.json that names `norm` (a normalized reference): itself,
 * or a key written before names were normalized the Docker Hub way
 * ("docker.io/library/busybox:latest" for "busybox:latest"). NULL: none. */
static const char *find_ref(json_t *refs, const char *norm)
{
	const char *key;
	json_t *val;

	if (norm == NULL)
		return NULL;
	if (json_object_get(refs, norm))
		return json_object_iter_key(json_object_iter_at(refs, norm));
	json_object_foreach(refs, key, val) {
		cleanup_free char *k = rootfs_ref_normalize(key, NULL);

		if (k && !strcmp(k, norm))
			return key;
	}
	return NULL;
}

static int load_refs(struct rootfs_store *s, json_t **out, struct berr **err)
{
	int r = read_json(s, "refs.json", out, err);

	if (r < 0)
		return r;
	if (*out == NULL)
		*out = json_object();
	if (!json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		return berr_set(err, 0, "%s/refs.json: expected object", s->root);
	}
	return 0;
}

int rootfs_store_tag(struct rootfs_store *s, const char *ref, const struct rootfs_digest *manifest,
		     struct berr **err)
{
	cleanup_free char *norm = rootfs_ref_normalize(ref, err);
	cleanup_json json_t *refs = NULL;
	char buf[ROOTFS_DIGEST_STR];
	cleanup_free char *rel = xasprintf("images/%s.json", manifest->hex);
	int r;

	if (norm == NULL)
		return -1;
	if (faccessat(s->rootfd, rel, F_OK, 0) < 0)
		return berr_set(err, ENOENT, "tag %s: image %s", norm, rootfs_digest_str(manifest, buf));
	r = load_refs(s, &refs, err);
	if (r < 0)
		return r;
	{
		/* an older spelling of the same name goes */
		const char *old = find_ref(refs, norm);

		if (old && strcmp(old, norm))
			json_object_del(refs, old);
	}
	json_object_set_new(refs, norm, json_string(rootfs_digest_str(manifest, buf)));
	return store_write_json(s, "refs.json", refs, err);
}

char **rootfs_store_refs_of(struct rootfs_store *s, const struct rootfs_digest *manifest)
{
	cleanup_json json_t *refs = NULL;
	char buf[ROOTFS_DIGEST_STR];
	const char *key;
	json_t *val;
	size_t n = 0;
	char **v;

	if (load_refs(s, &refs, NULL) < 0)
		refs = json_object();
	v = xcalloc(json_object_size(refs) + 1, sizeof(*v));
	rootfs_digest_str(manifest, buf);
	json_object_foreach(refs, key, val)
		if (json_is_string(val) && !strcmp(json_string_value(val), buf))
			v[n++] = xstrdup(key);
	v[n] = NULL;
	qsort(v, n, sizeof(*v), cmp_str);
	return v;
}

static bool all_hex(const char *s)
{
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return false;
	return true;
}

int rootfs_store_resolve(struct rootfs_store *s, const char *what, struct rootfs_digest *manifest,
			 struct berr **err)
{
	cleanup_json json_t *refs = NULL;
	cleanup_free char *norm = NULL;
	const char *key;
	json_t *val;
	int r;

	if (!strncmp(what, "sha256:", 7)) {
		if (rootfs_digest_parse(what, "image", manifest, NULL) == 0) {
			cleanup_free char *rel = xasprintf("images/%s.json", manifest->hex);

			if (faccessat(s->rootfd, rel, F_OK, 0) == 0)
				return 0;
			return berr_set(err, ENOENT, "image %s", what);
		}
		what += 7;   /* a prefix after all */
	}
	r = load_refs(s, &refs, err);
	if (r < 0)
		return r;
	norm = rootfs_ref_normalize(what, NULL);
	key = find_ref(refs, norm);
	if (key && (val = json_object_get(refs, key)) && json_is_string(val))
		return rootfs_digest_parse(json_string_value(val), "refs.json", manifest, err);
	if (strlen(what) >= 4 && strlen(what) <= ROOTFS_SHA256_HEX && all_hex(what)) {
		cleanup_strv char **names = list_dir(s, "images", ".json");
		const char *hit = NULL;

		for (char **n = names; *n; n++) {
			if (strncmp(*n, what, strlen(what)) != 0)
				continue;
			if (hit)
				return berr_set(err, 0, "image %s: ambiguous (matches sha256:%.12s and sha256:%.12s)",
						what, hit, *n);
			hit = *n;
		}
		if (hit) {
			cleanup_free char *full = xasprintf("sha256:%s", hit);

			return rootfs_digest_parse(full, "images/", manifest, err);
		}
	}
	return berr_set(err, ENOENT, "image %s: no such image (see `berth image ls`)", what);
}

/* The holder of a lease on manifest, xmalloc'd, or NULL. */
static char *lease_holder(struct rootfs_store *s, const struct rootfs_digest *manifest)
{
	cleanup_strv char **holders = list_dir(s, "leases", ".json");
	char buf[ROOTFS_DIGEST_STR];

	rootfs_digest_str(manifest, buf);
	for (char **h = holders; *h; h++) {
		cleanup_free char *rel = xasprintf("leases/%s.json", *h);
		cleanup_json json_t *v = NULL;
		json_t *m;
		size_t i;

		if (read_json(s, rel, &v, NULL) < 0 || v == NULL)
			continue;
		json_array_foreach(json_object_get(v, "images"), i, m)
			if (json_is_string(m) && !strcmp(json_string_value(m), buf))
				return xstrdup(*h);
	}
	return NULL;
}

int rootfs_store_remove(struct rootfs_store *s, const char *what, struct berr **err)
{
	cleanup_json json_t *refs = NULL;
	cleanup_free char *norm = NULL, *holder = NULL, *rel = NULL;
	struct rootfs_digest m;
	char buf[ROOTFS_DIGEST_STR];
	bool by_ref;
	const char *key;
	json_t *val;
	void *tmp;
	int r;

	r = rootfs_store_resolve(s, what, &m, err);
	if (r < 0)
		return r;
	r = load_refs(s, &refs, err);
	if (r < 0)
		return r;
	{
		/* the key as refs.json spells it */
		cleanup_free char *n = rootfs_ref_normalize(what, NULL);
		const char *k = find_ref(refs, n);

		norm = k ? xstrdup(k) : NULL;
	}
	by_ref = norm != NULL;
	rootfs_digest_str(&m, buf);

	holder = lease_holder(s, &m);
	if (by_ref) {
		size_t others = 0;

		json_object_foreach(refs, key, val)
			if (strcmp(key, norm) && json_is_string(val) && !strcmp(json_string_value(val), buf))
				others++;
		if (others == 0 && holder)
			return berr_set(err, EBUSY, "remove image %s: in use by task %s", what, holder);
		json_object_del(refs, norm);
		r = store_write_json(s, "refs.json", refs, err);
		if (r < 0 || others > 0)
			return r;
	} else {
		if (holder)
			return berr_set(err, EBUSY, "remove image %s: in use by task %s", what, holder);
		json_object_foreach_safe(refs, tmp, key, val)
			if (json_is_string(val) && !strcmp(json_string_value(val), buf))
				json_object_del(refs, key);
		r = store_write_json(s, "refs.json", refs, err);
		if (r < 0)
			return r;
	}
	rel = xasprintf("images/%s.json", m.hex);
	if (unlinkat(s->rootfd, rel, 0) < 0 && errno != ENOENT)
		return berr_set(err, errno, "remove %s/%s", s->root, rel);
	return 0;
}

/* ------------------------------------------------------------------ prune */

struct digest_set {
	char (*hex)[ROOTFS_SHA256_HEX + 1];
	size_t n, cap;
};

static void set_add(struct digest_set *set, const struct rootfs_digest *d)
{
	if (set->n == set->cap)
		set->hex = xreallocarray(set->hex, set->cap = set->cap ? set->cap * 2 : 64, sizeof(*set->hex));
	memcpy(set->hex[set->n++], d->hex, sizeof(set->hex[0]));
}

static bool set_has(const struct digest_set *set, const char *hex)
{
	for (size_t i = 0; i < set->n; i++)
		if (!strcmp(set->hex[i], hex))
			return true;
	return false;
}

int rootfs_store_mark_used(struct rootfs_store *s, const struct rootfs_digest *manifest, struct berr **err)
{
	cleanup_free char *rel = xasprintf("used/%s", manifest->hex);
	cleanup_close int fd = -1;

	if (mkdirat(s->rootfd, "used", 0700) < 0 && errno != EEXIST)
		return berr_set(err, errno, "create %s/used", s->root);
	fd = openat(s->rootfd, rel, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 || futimens(fd, NULL) < 0)
		return berr_set(err, errno, "mark %s/%s", s->root, rel);
	return 0;
}

int64_t rootfs_store_last_used(struct rootfs_store *s, const struct rootfs_image *img)
{
	cleanup_free char *rel = xasprintf("used/%s", img->manifest.hex);
	struct stat st;
	int64_t t = img->created;

	if (fstatat(s->rootfd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0 && (int64_t)st.st_mtime > t)
		t = (int64_t)st.st_mtime;
	return t;
}

static uint64_t blob_bytes(struct rootfs_store *s, const struct rootfs_digest *d)
{
	cleanup_free char *rel = blob_rel(d);
	struct stat st;

	return fstatat(s->rootfd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0 ? (uint64_t)st.st_size : 0;
}

/* What the images not marked `gone` take: each blob and layer once. */
static uint64_t images_bytes(struct rootfs_store *s, const struct rootfs_image *imgs, const bool *gone,
			     size_t n)
{
	struct digest_set blobs = { 0 }, layers = { 0 };
	uint64_t total = 0;

	for (size_t i = 0; i < n; i++) {
		const struct rootfs_digest *b[2] = { &imgs[i].manifest, &imgs[i].config };

		if (gone && gone[i])
			continue;
		for (size_t k = 0; k < 2; k++)
			if (!set_has(&blobs, b[k]->hex)) {
				set_add(&blobs, b[k]);
				total += blob_bytes(s, b[k]);
			}
		for (size_t j = 0; j < imgs[i].n_layers; j++) {
			const struct rootfs_layer_ref *l = &imgs[i].layers[j];

			if (!set_has(&blobs, l->blob.hex)) {
				set_add(&blobs, &l->blob);
				total += blob_bytes(s, &l->blob);
			}
			if (!set_has(&layers, l->chain.hex)) {
				set_add(&layers, &l->chain);
				total += rootfs_store_layer_bytes(s, &l->chain);
			}
		}
	}
	free(blobs.hex);
	free(layers.hex);
	return total;
}

uint64_t rootfs_store_image_bytes(struct rootfs_store *s, const struct rootfs_image *img)
{
	return images_bytes(s, img, NULL, 1);
}

struct lru {
	size_t i;
	int64_t used;
};

static int cmp_lru(const void *a, const void *b)
{
	const struct lru *x = a, *y = b;

	return x->used < y->used ? -1 : x->used > y->used ? 1 : x->i < y->i ? -1 : x->i > y->i;
}

int rootfs_store_prune(struct rootfs_store *s, struct rootfs_prune_stats *st, struct berr **err)
{
	return rootfs_store_prune_opts(s, NULL, st, err);
}

int rootfs_store_prune_opts(struct rootfs_store *s, const struct rootfs_prune_opts *o,
			    struct rootfs_prune_stats *st, struct berr **err)
{
	static const struct rootfs_prune_opts none = { 0 };
	struct rootfs_prune_stats local = { 0 };
	struct digest_set keep_blobs = { 0 }, keep_layers = { 0 };
	cleanup_json json_t *refs = NULL;
	struct rootfs_image *imgs = NULL;
	cleanup_free bool *gone = NULL, *leased = NULL;
	cleanup_free struct lru *lru = NULL;
	size_t n = 0, n_lru = 0;
	int64_t now;
	bool refs_changed = false;
	int r;

	if (o == NULL)
		o = &none;
	now = o->now ? o->now : (int64_t)time(NULL);
	if (st == NULL)
		st = &local;
	memset(st, 0, sizeof(*st));
	r = load_refs(s, &refs, err);
	if (r < 0)
		return r;
	r = rootfs_store_list_images(s, &imgs, &n, err);
	if (r < 0)
		return r;
	gone = xcalloc(n ? n : 1, sizeof(*gone));
	leased = xcalloc(n ? n : 1, sizeof(*leased));
	lru = xcalloc(n ? n : 1, sizeof(*lru));

	/* 1. which images go: unnamed ones, those unused for too long, then
	 * the least recently used until the rest fits the budget; never a
	 * leased one */
	for (size_t i = 0; i < n; i++) {
		cleanup_strv char **names = rootfs_store_refs_of(s, &imgs[i].manifest);
		cleanup_free char *holder = lease_holder(s, &imgs[i].manifest);
		int64_t used = rootfs_store_last_used(s, &imgs[i]);

		leased[i] = holder != NULL;
		if (leased[i])
			continue;
		if (names[0] == NULL || (o->older_than > 0 && used < now - o->older_than)) {
			gone[i] = true;
			continue;
		}
		lru[n_lru].i = i;
		lru[n_lru].used = used;
		n_lru++;
	}
	if (o->has_budget) {
		uint64_t total = images_bytes(s, imgs, gone, n);

		qsort(lru, n_lru, sizeof(*lru), cmp_lru);
		for (size_t k = 0; k < n_lru && total > o->budget; k++) {
			gone[lru[k].i] = true;
			total = images_bytes(s, imgs, gone, n);
		}
		st->kept_bytes = total;
		st->over_budget = total > o->budget;
	}

	/* 2. their names first (a name never points at a missing record), then
	 * the records */
	for (size_t i = 0; i < n; i++) {
		char buf[ROOTFS_DIGEST_STR];
		const char *key;
		json_t *val;
		void *tmp;

		if (!gone[i])
			continue;
		rootfs_digest_str(&imgs[i].manifest, buf);
		json_object_foreach_safe(refs, tmp, key, val)
			if (json_is_string(val) && !strcmp(json_string_value(val), buf)) {
				json_object_del(refs, key);
				refs_changed = true;
			}
	}
	if (refs_changed) {
		r = store_write_json(s, "refs.json", refs, err);
		if (r < 0)
			goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (gone[i]) {
			cleanup_free char *rel = xasprintf("images/%s.json", imgs[i].manifest.hex);
			cleanup_free char *used = xasprintf("used/%s", imgs[i].manifest.hex);

			if (unlinkat(s->rootfd, rel, 0) < 0 && errno != ENOENT) {
				r = berr_set(err, errno, "remove %s/%s", s->root, rel);
				goto out;
			}
			unlinkat(s->rootfd, used, 0);
			st->images++;
			continue;
		}
		set_add(&keep_blobs, &imgs[i].manifest);
		set_add(&keep_blobs, &imgs[i].config);
		for (size_t j = 0; j < imgs[i].n_layers; j++) {
			set_add(&keep_blobs, &imgs[i].layers[j].blob);
			set_add(&keep_layers, &imgs[i].layers[j].chain);
		}
	}

	/* 3. blobs and layers no remaining image uses; use marks of images gone */
	{
		cleanup_strv char **blobs = list_dir(s, "blobs/sha256", "");
		cleanup_close int bfd = openat(s->rootfd, "blobs/sha256", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		for (char **b = blobs; *b; b++) {
			struct stat sb;

			if (set_has(&keep_blobs, *b))
				continue;
			if (fstatat(bfd, *b, &sb, AT_SYMLINK_NOFOLLOW) == 0)
				st->bytes += (uint64_t)sb.st_size;
			if (unlinkat(bfd, *b, 0) < 0 && errno != ENOENT) {
				r = berr_set(err, errno, "remove blob %s", *b);
				goto out;
			}
			st->blobs++;
		}
	}
	{
		cleanup_strv char **marks = list_dir(s, "used", "");
		cleanup_close int ufd = openat(s->rootfd, "used", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		for (char **m = marks; ufd >= 0 && *m; m++) {
			cleanup_free char *rel = xasprintf("images/%s.json", *m);

			if (faccessat(s->rootfd, rel, F_OK, AT_SYMLINK_NOFOLLOW) < 0)
				unlinkat(ufd, *m, 0);
		}
	}
	{
		cleanup_strv char **metas = list_dir(s, "layers", ".json");
		cleanup_close int lfd = openat(s->rootfd, "layers", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		struct dirent *de;
		int dfd = dup(lfd);
		cleanup_closedir DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;

		while (d && (de = readdir(d))) {
			struct rootfs_digest chain;
			cleanup_free char *full = NULL, *meta = NULL;

			if (de->d_name[0] == '.' || strchr(de->d_name, '.'))
				continue;
			if (set_has(&keep_layers, de->d_name))
				continue;
			full = xasprintf("sha256:%s", de->d_name);
			if (rootfs_digest_parse(full, "layers/", &chain, NULL) < 0)
				continue;
			st->bytes += rootfs_store_layer_bytes(s, &chain);
			r = fs_rm_rf_at(lfd, de->d_name, err);
			if (r < 0)
				goto out;
			meta = xasprintf("%s.json", de->d_name);
			unlinkat(lfd, meta, 0);
			st->layers++;
		}
		/* metadata whose layer is gone */
		for (char **m = metas; *m; m++) {
			cleanup_free char *meta = xasprintf("%s.json", *m);

			if (!set_has(&keep_layers, *m) && faccessat(lfd, *m, F_OK, AT_SYMLINK_NOFOLLOW) < 0)
				unlinkat(lfd, meta, 0);
		}
	}
	r = 0;
out:
	free(keep_blobs.hex);
	free(keep_layers.hex);
	rootfs_images_free(imgs, n);
	return r;
}

/* ------------------------------------------------------------------ leases */

/* A failed use mark only makes the image look older to prune. */
static void mark_used_quiet(struct rootfs_store *s, const struct rootfs_digest *manifest)
{
	struct berr *e = NULL;

	if (rootfs_store_mark_used(s, manifest, &e) < 0) {
		log_debug("image store: %s", berr_msg(e));
		berr_free(e);
	}
}

static bool holder_ok(const char *h)
{
	if (*h == '\0' || strlen(h) > 128 || *h == '.')
		return false;
	for (; *h; h++)
		if (!(isalnum((unsigned char)*h) || *h == '-' || *h == '_' || *h == '.'))
			return false;
	return true;
}

int rootfs_store_lease(struct rootfs_store *s, const char *holder,
		       const struct rootfs_digest *manifest, struct berr **err)
{
	cleanup_free char *rel = NULL;
	cleanup_json json_t *v = NULL;
	char buf[ROOTFS_DIGEST_STR];
	json_t *imgs;
	int r;

	if (!holder_ok(holder))
		return berr_set(err, 0, "lease holder \"%s\": letters, digits, '-', '_' and '.' only", holder);
	rel = xasprintf("leases/%s.json", holder);
	r = read_json(s, rel, &v, err);
	if (r < 0)
		return r;
	if (v == NULL)
		v = json_pack("{s:[]}", "images");
	imgs = json_object_get(v, "images");
	if (!json_is_array(imgs))
		return berr_set(err, 0, "%s/%s: images: expected array", s->root, rel);
	json_array_append_new(imgs, json_string(rootfs_digest_str(manifest, buf)));
	/* not fsynced: a lease protects the images of running tasks, and after
	 * a crash of the machine none runs (a lease left over is removed with
	 * its holder's task); the fsync cost 12-20 ms of every task start */
	{
		cleanup_free char *path = fs_path_join(s->root, rel);

		r = bjson_write_file_replace(path, v, 0600, err);
	}
	if (r == 0)
		mark_used_quiet(s, manifest);
	return r;
}

int rootfs_store_release(struct rootfs_store *s, const char *holder, struct berr **err)
{
	cleanup_free char *rel = NULL;

	if (!holder_ok(holder))
		return berr_set(err, 0, "lease holder \"%s\": letters, digits, '-', '_' and '.' only", holder);
	rel = xasprintf("leases/%s.json", holder);
	/* the images were in use until now */
	{
		cleanup_json json_t *v = NULL;
		json_t *m;
		size_t i;

		if (read_json(s, rel, &v, NULL) == 0 && v != NULL)
			json_array_foreach(json_object_get(v, "images"), i, m) {
				struct rootfs_digest d;

				if (json_is_string(m) && rootfs_digest_parse(json_string_value(m), rel, &d, NULL) == 0)
					mark_used_quiet(s, &d);
			}
	}
	if (unlinkat(s->rootfd, rel, 0) < 0 && errno != ENOENT)
		return berr_set(err, errno, "release %s/%s", s->root, rel);
	return 0;
}
