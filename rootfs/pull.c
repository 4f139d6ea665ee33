/* rootfs/pull.c - see pull.h */
#include "rootfs/pull.h"
#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/json.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "rootfs/import.h"
#include "rootfs/oci.h"
#include "rootfs/registry_http.h"
#include "rootfs/store_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define META_MAX (4u << 20)   /* manifests, indexes, configs */
#define MT_SCHEMA1 "application/vnd.docker.distribution.manifest.v1"

void rootfs_pull_result_free(struct rootfs_pull_result *res)
{
	if (res == NULL)
		return;
	free(res->ref);
	free(res->source);
	res->ref = res->source = NULL;
}

/* ------------------------------------------------------------ context */

struct meta_blob {
	struct rootfs_digest d;
	char *buf;
	size_t len;
};

struct pull_ctx {
	struct rootfs_store *s;
	const struct rootfs_pull_opts *o;
	struct rootfs_pull_result *res;
	struct rootfs_pull_ref ref;
	const char *os, *arch;
	struct reg_client *c;
	struct meta_blob *meta;          /* manifests, indexes, config: committed at the end */
	size_t n_meta;
	/* what this pull added to the store: undone on failure */
	struct rootfs_digest *new_blobs, *new_layers;
	size_t n_new_blobs, n_new_layers;
	bool new_image;
	struct rootfs_digest image;
	int lock_fd;                     /* lock_ref's, -1: none */
	char lock_name[ROOTFS_SHA256_HEX + 8];
};

static void push_digest(struct rootfs_digest **v, size_t *n, const struct rootfs_digest *d)
{
	*v = xreallocarray(*v, *n + 1, sizeof(**v));
	(*v)[(*n)++] = *d;
}

static void emit(struct pull_ctx *c, enum rootfs_pull_phase ph, size_t i, size_t n,
		 const struct rootfs_digest *blob, uint64_t done, uint64_t total)
{
	struct rootfs_pull_event ev = { ph, i, n, blob, done, total };

	if (c->o->progress)
		c->o->progress(&ev, c->o->progress_data);
}

static int fail(struct pull_ctx *c, enum rootfs_pull_failure f, int r)
{
	c->res->failure = f;
	return r;
}

static void keep_meta(struct pull_ctx *c, const struct rootfs_digest *d, char *buf, size_t len)
{
	c->meta = xreallocarray(c->meta, c->n_meta + 1, sizeof(*c->meta));
	c->meta[c->n_meta].d = *d;
	c->meta[c->n_meta].buf = buf;
	c->meta[c->n_meta].len = len;
	c->n_meta++;
}

/* ------------------------------------------------------------ local images */

static bool image_exists(struct rootfs_store *s, const struct rootfs_digest *m)
{
	struct rootfs_image img = { 0 };
	bool ok = rootfs_store_get_image(s, m, &img, NULL) == 0;

	rootfs_image_free(&img);
	return ok;
}

/* The store's image for the reference: by name, or by digest (an image
 * manifest, or an index whose platform entry is an image). */
static bool find_local(struct pull_ctx *c, struct rootfs_digest *out)
{
	if (!c->ref.has_digest) {
		return c->res->ref && rootfs_store_resolve(c->s, c->res->ref, out, NULL) == 0 &&
		       image_exists(c->s, out);
	}
	if (image_exists(c->s, &c->ref.digest)) {
		*out = c->ref.digest;
		return true;
	}
	if (rootfs_store_has_blob(c->s, &c->ref.digest)) {
		cleanup_free char *buf = NULL;
		struct oci_index idx = { 0 };
		size_t len, k;
		bool ok = false;

		if (rootfs_store_read_blob(c->s, &c->ref.digest, META_MAX, &buf, &len, NULL) == 0 &&
		    oci_index_parse(buf, len, "index", &idx, NULL) == 0 &&
		    oci_index_select(&idx, "index", c->os, c->arch, c->o->variant, &k, NULL) == 0 &&
		    image_exists(c->s, &idx.manifests[k].digest)) {
			*out = idx.manifests[k].digest;
			ok = true;
		}
		oci_index_free(&idx);
		return ok;
	}
	return false;
}

/* ------------------------------------------------------------ resolve */

static bool looks_like_index(const char *mt, const char *buf, size_t len)
{
	json_t *v;
	bool idx;

	if (oci_media_type_is_index(mt))
		return true;
	if (oci_media_type_is_manifest(mt))
		return false;
	/* application/json or nothing: the document says */
	v = json_loadb(buf, len, 0, NULL);
	idx = json_is_array(json_object_get(v, "manifests")) && !json_object_get(v, "layers");
	json_decref(v);
	return idx;
}

/* Fetch a manifest by tag or digest; verify it against `expect` (digest and
 * size >= 0) when given. *d gets its digest. */
static int fetch_manifest(struct pull_ctx *c, const char *reference, const struct rootfs_digest *expect,
			  int64_t size, char **buf, size_t *len, char **mt, struct rootfs_digest *d,
			  struct berr **err)
{
	char a[ROOTFS_DIGEST_STR], b[ROOTFS_DIGEST_STR];
	int r = reg_get_manifest(c->c, reference, META_MAX, buf, len, mt, err);

	if (r < 0)
		return fail(c, reg_client_failure(c->c), r);
	rootfs_sha256_buf(*buf, *len, d);
	if (expect && !rootfs_digest_eq(expect, d))
		return fail(c, ROOTFS_PULL_FAIL_VERIFY,
			    berr_set(err, 0, "manifest %s: the registry sent content with digest %s: refused",
				     rootfs_digest_str(expect, a), rootfs_digest_str(d, b)));
	if (size >= 0 && (int64_t)*len != size)
		return fail(c, ROOTFS_PULL_FAIL_VERIFY,
			    berr_set(err, 0, "manifest %s: %zu bytes, the index says %lld: refused",
				     rootfs_digest_str(d, a), *len, (long long)size));
	if (!strncmp(*mt, MT_SCHEMA1, strlen(MT_SCHEMA1)))
		return fail(c, ROOTFS_PULL_FAIL_UNSUPPORTED,
			    berr_set(err, 0, "%s: a docker schema 1 manifest (%s); berth pulls schema 2 and OCI images only",
				     c->res->source, *mt));
	return 0;
}

/* The platform's image manifest: follows an index (and one nested index). */
static int resolve_manifest(struct pull_ctx *c, struct oci_manifest *man, struct rootfs_digest *md,
			    struct berr **err)
{
	char dbuf[ROOTFS_DIGEST_STR];
	cleanup_free char *first = xstrdup(c->ref.has_digest ? rootfs_digest_str(&c->ref.digest, dbuf) : c->ref.tag);
	struct rootfs_digest expect = c->ref.digest;
	bool have_expect = c->ref.has_digest;
	int64_t size = -1;
	int r;

	for (int depth = 0; depth < 3; depth++) {
		cleanup_free char *mt = NULL, *what = NULL;
		char *buf = NULL;
		size_t len = 0;
		struct rootfs_digest d;

		r = fetch_manifest(c, depth == 0 ? first : rootfs_digest_str(&expect, dbuf),
				   have_expect ? &expect : NULL, size, &buf, &len, &mt, &d, err);
		if (r < 0) {
			free(buf);
			return r;
		}
		what = xasprintf("%s: manifest %s", c->res->source, rootfs_digest_str(&d, dbuf));
		if (looks_like_index(mt, buf, len)) {
			struct oci_index idx = { 0 };
			size_t k;

			r = oci_index_parse(buf, len, what, &idx, err);
			if (r == 0)
				r = oci_index_select(&idx, what, c->os, c->arch, c->o->variant, &k, err);
			if (r < 0) {
				free(buf);
				oci_index_free(&idx);
				return fail(c, strstr(berr_msg(*err), "no image for") ? ROOTFS_PULL_FAIL_NOT_FOUND
										      : ROOTFS_PULL_FAIL_OTHER, r);
			}
			expect = idx.manifests[k].digest;
			size = idx.manifests[k].size;
			have_expect = true;
			oci_index_free(&idx);
			keep_meta(c, &d, buf, len);
			continue;
		}
		r = oci_manifest_parse(buf, len, what, man, err);
		if (r < 0) {
			free(buf);
			return fail(c, ROOTFS_PULL_FAIL_OTHER, r);
		}
		keep_meta(c, &d, buf, len);
		*md = d;
		return 0;
	}
	return fail(c, ROOTFS_PULL_FAIL_OTHER,
		    berr_set(err, 0, "%s: image indexes nested more than twice", c->res->source));
}

/* ------------------------------------------------------------ store */

static int incoming_dir(struct pull_ctx *c, struct berr **err)
{
	int fd;

	if (mkdirat(c->s->rootfd, "incoming", 0700) < 0 && errno != EEXIST)
		return fail(c, ROOTFS_PULL_FAIL_OTHER,
			    berr_set(err, errno, "create %s/incoming", rootfs_store_root(c->s)));
	fd = openat(c->s->rootfd, "incoming", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return fail(c, ROOTFS_PULL_FAIL_OTHER, berr_set(err, errno, "open %s/incoming", rootfs_store_root(c->s)));
	return fd;
}

static int commit_meta(struct pull_ctx *c, const struct meta_blob *m, struct berr **err)
{
	struct rootfs_blob_writer *w = NULL;
	bool was_new = false;
	int r;

	if (rootfs_store_has_blob(c->s, &m->d))
		return 0;
	r = rootfs_blob_begin(c->s, &w, err);
	if (r == 0)
		r = rootfs_blob_write(w, m->buf, m->len, err);
	if (r < 0) {
		rootfs_blob_abort(w);
		return r;
	}
	r = rootfs_blob_commit(w, &m->d, (int64_t)m->len, "metadata", NULL, &was_new, err);
	if (r == 0 && was_new)
		push_digest(&c->new_blobs, &c->n_new_blobs, &m->d);
	return r;
}

/* incoming/<hex>.done -> blobs/sha256/<hex> */
static int commit_download(struct pull_ctx *c, int infd, const struct rootfs_digest *d, struct berr **err)
{
	char name[ROOTFS_SHA256_HEX + 8];
	cleanup_free char *rel = xasprintf("blobs/sha256/%s", d->hex);

	snprintf(name, sizeof(name), "%s.done", d->hex);
	if (rootfs_store_has_blob(c->s, d)) {
		unlinkat(infd, name, 0);
		return 0;
	}
	if (renameat(infd, name, c->s->rootfd, rel) < 0)
		return berr_set(err, errno, "move downloaded blob %s into %s/%s", name, rootfs_store_root(c->s), rel);
	push_digest(&c->new_blobs, &c->n_new_blobs, d);
	return 0;
}

static void undo(struct pull_ctx *c)
{
	struct berr *e = NULL;

	if (c->new_image) {
		char buf[ROOTFS_DIGEST_STR];

		if (rootfs_store_remove(c->s, rootfs_digest_str(&c->image, buf), &e) < 0) {
			log_warn("roll back pull: %s", berr_msg(e));
			berr_clear(&e);
		}
	}
	for (size_t i = 0; i < c->n_new_layers; i++) {
		cleanup_free char *name = xstrdup(c->new_layers[i].hex);
		cleanup_free char *meta = xasprintf("%s.json", name);
		cleanup_close int lfd = openat(c->s->rootfd, "layers", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (lfd < 0 || fs_rm_rf_at(lfd, name, &e) < 0) {
			log_warn("roll back pull: %s", berr_msg(e));
			berr_clear(&e);
		}
		if (lfd >= 0)
			unlinkat(lfd, meta, 0);
	}
	for (size_t i = 0; i < c->n_new_blobs; i++)
		if (rootfs_store_remove_blob(c->s, &c->new_blobs[i], &e) < 0) {
			log_warn("roll back pull: %s", berr_msg(e));
			berr_clear(&e);
		}
}

struct unpack_progress {
	struct pull_ctx *c;
	size_t i, n;
	const struct rootfs_digest *blob;
	uint64_t total;
};

static void on_unpack_progress(uint64_t done, void *data)
{
	struct unpack_progress *p = data;

	emit(p->c, ROOTFS_PULL_PHASE_UNPACK, p->i, p->n, p->blob, done, p->total);
}

/* One pull of a reference at a time (processes included): a flock on
 * incoming/<sha256 of "registry/repository:tag@digest">.lock, held until
 * the pull has recorded its image. The holder removes the file before it
 * lets go; a waiter that then gets the lock on the removed file tries
 * again with the path's new one. */
static int lock_ref(struct pull_ctx *c, struct berr **err)
{
	struct rootfs_digest key;
	cleanup_close int dfd = -1;
	bool said = false;

	dfd = incoming_dir(c, err);
	if (dfd < 0)
		return dfd;
	rootfs_sha256_buf(c->res->source, strlen(c->res->source), &key);
	snprintf(c->lock_name, sizeof(c->lock_name), "%s.lock", key.hex);
	for (;;) {
		struct stat a, b;
		int fd = openat(dfd, c->lock_name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);

		if (fd < 0)
			return berr_set(err, errno, "open %s/incoming/%s", rootfs_store_root(c->s), c->lock_name);
		if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
			if (errno != EWOULDBLOCK) {
				close(fd);
				return berr_set(err, errno, "lock %s/incoming/%s", rootfs_store_root(c->s), c->lock_name);
			}
			if (!said) {
				log_info("%s: another pull of it runs: waiting for it", c->res->source);
				emit(c, ROOTFS_PULL_PHASE_WAIT, 0, 0, NULL, 0, 0);
				said = true;
			}
			while (flock(fd, LOCK_EX) < 0)
				if (errno != EINTR) {
					close(fd);
					return berr_set(err, errno, "lock %s/incoming/%s", rootfs_store_root(c->s),
							c->lock_name);
				}
		}
		if (fstat(fd, &a) == 0 && fstatat(dfd, c->lock_name, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
		    a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
			c->lock_fd = fd;
			return 0;
		}
		close(fd);   /* its holder removed it meanwhile */
	}
}

static void unlock_ref(struct pull_ctx *c)
{
	if (c->lock_fd < 0)
		return;
	{
		cleanup_close int dfd = openat(c->s->rootfd, "incoming", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

		if (dfd >= 0)
			unlinkat(dfd, c->lock_name, 0);
	}
	close(c->lock_fd);
	c->lock_fd = -1;
}

/* ------------------------------------------------------------ pull */

static int do_pull(struct pull_ctx *c, struct berr **err)
{
	struct oci_manifest man = { 0 };
	struct oci_image_config cfg = { 0 };
	struct rootfs_image img = { 0 };
	struct reg_blob_job *jobs = NULL;
	cleanup_free char *cbuf = NULL, *cwhat = NULL;
	cleanup_close int infd = -1;
	char dbuf[ROOTFS_DIGEST_STR];
	struct rootfs_digest md;
	size_t clen = 0, n_jobs = 0;
	bool locked = false;
	int r;

	emit(c, ROOTFS_PULL_PHASE_RESOLVE, 0, 0, NULL, 0, 0);
	r = reg_client_new(&c->ref, c->o, &c->c, err);
	if (r < 0)
		return fail(c, ROOTFS_PULL_FAIL_OTHER, r);
	r = resolve_manifest(c, &man, &md, err);
	if (r < 0)
		goto out;
	c->res->manifest = md;

	cwhat = xasprintf("%s: config %s", c->res->source, rootfs_digest_str(&man.config.digest, dbuf));
	if (rootfs_store_has_blob(c->s, &man.config.digest)) {
		r = rootfs_store_read_blob(c->s, &man.config.digest, META_MAX, &cbuf, &clen, err);
	} else {
		r = reg_get_blob_mem(c->c, &man.config.digest, man.config.size, META_MAX, &cbuf, &clen, err);
		if (r < 0)
			c->res->failure = reg_client_failure(c->c);
		else
			keep_meta(c, &man.config.digest, xmemdup(cbuf, clen + 1), clen);
	}
	if (r < 0)
		goto out;
	r = oci_config_parse(cbuf, clen, cwhat, &cfg, err);
	if (r == 0)
		r = oci_check_layers_match(&man, &cfg, cwhat, err);
	if (r == 0 && !oci_platform_matches(&cfg.platform, c->os, c->arch, c->o->variant))
		r = berr_set(err, 0, "%s: the image is for %s/%s, not %s/%s (choose another platform)", c->res->source,
			     cfg.platform.os, cfg.platform.architecture, c->os, c->arch);
	if (r < 0) {
		fail(c, ROOTFS_PULL_FAIL_OTHER, r);
		goto out;
	}

	img.manifest = md;
	img.config = man.config.digest;
	img.created = time(NULL);
	img.source = xstrdup(c->res->source);
	img.n_layers = man.n_layers;
	img.layers = xcalloc(man.n_layers ? man.n_layers : 1, sizeof(*img.layers));
	jobs = xcalloc(man.n_layers ? man.n_layers : 1, sizeof(*jobs));
	c->res->layers = man.n_layers;
	for (size_t i = 0; i < man.n_layers; i++) {
		struct rootfs_layer_ref *l = &img.layers[i];

		l->blob = man.layers[i].digest;
		l->size = man.layers[i].size;
		l->diff_id = cfg.diff_ids[i];
		l->comp = man.layer_comp[i];
		rootfs_chain_id(i ? &img.layers[i - 1].chain : NULL, &l->diff_id, &l->chain);
		if (rootfs_store_has_layer(c->s, &l->chain) || rootfs_store_has_blob(c->s, &l->blob)) {
			if (rootfs_store_has_layer(c->s, &l->chain))
				emit(c, ROOTFS_PULL_PHASE_EXISTS, i, man.n_layers, &l->blob, (uint64_t)l->size,
				     (uint64_t)l->size);
			continue;
		}
		if (l->size < 0) {
			r = fail(c, ROOTFS_PULL_FAIL_OTHER, berr_set(err, 0, "%s: layer %zu has no size", c->res->source, i + 1));
			goto out;
		}
		/* the same blob twice in one image: download it once */
		{
			bool dup = false;

			for (size_t k = 0; k < n_jobs; k++)
				dup |= rootfs_digest_eq(&jobs[k].digest, &l->blob);
			if (dup)
				continue;
		}
		jobs[n_jobs].digest = l->blob;
		jobs[n_jobs].size = l->size;
		jobs[n_jobs].layer = i;
		n_jobs++;
	}

	infd = incoming_dir(c, err);
	if (infd < 0) {
		r = infd;
		goto out;
	}
	{
		cleanup_close int bfd = openat(c->s->rootfd, "blobs/sha256", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		r = reg_fetch_blobs(c->c, infd, bfd, jobs, n_jobs, man.n_layers, err);
	}
	for (size_t k = 0; k < n_jobs; k++) {
		c->res->bytes_downloaded += jobs[k].downloaded;
		c->res->resumed += jobs[k].resumed;
		c->res->layers_downloaded += jobs[k].done && !jobs[k].elsewhere;
	}
	if (r < 0) {
		fail(c, reg_client_failure(c->c), r);
		berr_wrap(err, "pull %s", c->res->source);
		goto out;
	}

	/* into the store, under its lock */
	r = rootfs_store_lock(c->s, err);
	if (r < 0) {
		fail(c, ROOTFS_PULL_FAIL_OTHER, r);
		goto out;
	}
	locked = true;
	for (size_t i = 0; i < c->n_meta && r == 0; i++)
		r = commit_meta(c, &c->meta[i], err);
	for (size_t k = 0; k < n_jobs && r == 0; k++)
		r = commit_download(c, infd, &jobs[k].digest, err);
	for (size_t i = 0; i < man.n_layers && r == 0; i++) {
		struct rootfs_layer_ref *l = &img.layers[i];
		struct rootfs_unpack_opts uo = c->o->unpack;
		struct unpack_progress up = { c, i, man.n_layers, &l->blob, (uint64_t)l->size };
		struct rootfs_unpack_result ur;
		bool did = false;

		uo.progress = on_unpack_progress;
		uo.progress_data = &up;
		if (rootfs_store_has_layer(c->s, &l->chain))
			continue;
		if (!rootfs_store_has_blob(c->s, &l->blob)) {
			r = berr_set(err, 0, "layer %zu: blob %s vanished from the store", i + 1,
				     rootfs_digest_str(&l->blob, dbuf));
			break;
		}
		r = rootfs_store_unpack_layer(c->s, l, &uo, &did, &ur, err);
		if (r < 0) {
			berr_wrap(err, "%s: layer %zu", c->res->source, i + 1);
			if (strstr(berr_msg(*err), "digest"))
				c->res->failure = ROOTFS_PULL_FAIL_VERIFY;
			break;
		}
		if (did) {
			push_digest(&c->new_layers, &c->n_new_layers, &l->chain);
			c->res->layers_unpacked++;
		}
		emit(c, ROOTFS_PULL_PHASE_LAYER_DONE, i, man.n_layers, &l->blob, (uint64_t)l->size, (uint64_t)l->size);
	}
	if (r == 0) {
		/* an image the store has keeps its record (and its created
		 * time); the pull marks it used */
		c->new_image = !image_exists(c->s, &md);
		c->image = md;
		if (c->new_image)
			r = rootfs_store_put_image(c->s, &img, err);
		if (r < 0)
			c->new_image = false;
	}
	if (r == 0 && c->res->ref)
		r = rootfs_store_tag(c->s, c->res->ref, &md, err);
	if (r < 0 && c->res->failure == ROOTFS_PULL_OK)
		c->res->failure = ROOTFS_PULL_FAIL_OTHER;
	if (r == 0)
		c->res->pulled = true;
out:
	if (r < 0 && locked)
		undo(c);
	if (locked)
		rootfs_store_unlock(c->s);
	free(jobs);
	rootfs_image_free(&img);
	oci_manifest_free(&man);
	oci_config_free(&cfg);
	return r;
}

int rootfs_pull(struct rootfs_store *s, const char *ref, const struct rootfs_pull_opts *o,
		struct rootfs_pull_result *res, struct berr **err)
{
	static const struct rootfs_pull_opts defaults;
	struct pull_ctx c = { .s = s, .o = o ? o : &defaults, .res = res, .lock_fd = -1 };
	struct rootfs_digest local;
	int r;

	memset(res, 0, sizeof(*res));
	if (rootfs_pull_ref_parse(ref, &c.ref, err) < 0) {
		res->failure = ROOTFS_PULL_FAIL_OTHER;
		return -1;
	}
	c.os = c.o->os ? c.o->os : "linux";
	c.arch = c.o->arch ? c.o->arch : rootfs_host_arch();
	res->source = rootfs_pull_ref_string(&c.ref);
	if (!c.ref.has_digest)
		res->ref = rootfs_pull_ref_familiar(&c.ref);
	if (c.o->repository_credentials) {
		r = berr_set(err, ENOTSUP, "pull %s: repositoryCredentials (%s) are not supported yet (they come with secrets); "
			     "put the credentials into berth's credentials file instead", res->source,
			     berr_q(c.o->repository_credentials));
		res->failure = ROOTFS_PULL_FAIL_UNSUPPORTED;
		goto out;
	}
	if (c.o->policy != ROOTFS_PULL_NEVER) {
		r = lock_ref(&c, err);
		if (r < 0) {
			res->failure = ROOTFS_PULL_FAIL_OTHER;
			goto out;
		}
	}
	if (c.o->policy != ROOTFS_PULL_ALWAYS && find_local(&c, &local)) {
		struct rootfs_image img = { 0 };

		res->manifest = local;
		if (rootfs_store_get_image(s, &local, &img, NULL) == 0)
			res->layers = img.n_layers;
		rootfs_image_free(&img);
		r = 0;
		goto out;
	}
	if (c.o->policy == ROOTFS_PULL_NEVER) {
		r = berr_set(err, 0, "image %s is not in the store and the pull policy is \"never\"", res->source);
		res->failure = ROOTFS_PULL_FAIL_NOT_FOUND;
		goto out;
	}
	r = do_pull(&c, err);
	if (r < 0 && res->failure == ROOTFS_PULL_OK)
		res->failure = ROOTFS_PULL_FAIL_OTHER;
	if (r < 0 && err && *err && strncmp((*err)->msg, "pull ", 5) != 0)
		berr_wrap(err, "pull %s", res->source);
out:
	if (r == 0) {   /* a pull is a use (prune --older-than, --budget) */
		struct berr *e = NULL;

		if (rootfs_store_mark_used(s, &res->manifest, &e) < 0) {
			log_debug("%s", berr_msg(e));
			berr_free(e);
		}
	}
	unlock_ref(&c);
	reg_client_free(c.c);
	for (size_t i = 0; i < c.n_meta; i++)
		free(c.meta[i].buf);
	free(c.meta);
	free(c.new_blobs);
	free(c.new_layers);
	rootfs_pull_ref_free(&c.ref);
	return r;
}
