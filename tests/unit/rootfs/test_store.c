/* Unit tests for rootfs/store.c: references, blobs, images, leases, prune.
 * Layers are made by hand here (unpacking is test_layer's business). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/xalloc.h"
#include "rootfs/store.h"

#pragma GCC diagnostic ignored "-Wunused-function"
#include "test_layer_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct fx {
	char *dir;
	struct rootfs_store *s;
};

static int setup(void **state)
{
	struct fx *f = xzalloc(sizeof(*f));
	char tmpl[] = "/tmp/berth-test-store.XXXXXX";
	struct berr *err = NULL;
	cleanup_free char *root = NULL;

	f->dir = xstrdup(mkdtemp(tmpl));
	root = fs_path_join(f->dir, "store");
	if (rootfs_store_open(root, &f->s, &err) < 0)
		fail_msg("%s", berr_msg(err));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	cleanup_close int fd = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	rootfs_store_close(f->s);
	assert_int_equal(fs_rm_rf_at(fd, f->dir + 5, NULL), 0);
	free(f->dir);
	free(f);
	return 0;
}

static void put_blob(struct fx *f, const char *content, struct rootfs_digest *d)
{
	struct rootfs_blob_writer *w = NULL;
	struct berr *err = NULL;

	assert_int_equal(rootfs_blob_begin(f->s, &w, &err), 0);
	assert_int_equal(rootfs_blob_write(w, content, strlen(content), &err), 0);
	if (rootfs_blob_commit(w, NULL, -1, "test", d, NULL, &err) < 0)
		fail_msg("%s", berr_msg(err));
}

/* An image whose layers are the given contents; layer dirs made by hand. */
static void make_image(struct fx *f, const char *name, const char *const *layers, size_t n,
		       struct rootfs_image *img)
{
	struct berr *err = NULL;
	cleanup_free char *m = xasprintf("manifest of %s", name);
	cleanup_free char *c = xasprintf("config of %s", name);

	memset(img, 0, sizeof(*img));
	put_blob(f, m, &img->manifest);
	put_blob(f, c, &img->config);
	img->n_layers = n;
	img->layers = xcalloc(n, sizeof(*img->layers));
	img->source = xstrdup("test");
	for (size_t i = 0; i < n; i++) {
		struct rootfs_layer_ref *l = &img->layers[i];
		cleanup_free char *path = NULL;

		put_blob(f, layers[i], &l->blob);
		l->diff_id = l->blob;
		l->comp = ROOTFS_COMP_NONE;
		l->size = (int64_t)strlen(layers[i]);
		rootfs_chain_id(i ? &img->layers[i - 1].chain : NULL, &l->diff_id, &l->chain);
		path = rootfs_store_layer_path(f->s, &l->chain);
		if (mkdir(path, 0755) < 0 && errno != EEXIST)
			fail_msg("mkdir %s", path);
	}
	if (rootfs_store_put_image(f->s, img, &err) < 0)
		fail_msg("%s", berr_msg(err));
	if (name && rootfs_store_tag(f->s, name, &img->manifest, &err) < 0)
		fail_msg("%s", berr_msg(err));
}

static void test_ref_normalize(void **state)
{
	static const struct { const char *in, *out; } ok[] = {
		{ "busybox", "busybox:latest" },
		{ "busybox:1.36", "busybox:1.36" },
		{ "berth-test/helper", "berth-test/helper:latest" },
		{ "registry.local:5000/team/app:v1.2-rc_3", "registry.local:5000/team/app:v1.2-rc_3" },
		{ "localhost/app", "localhost/app:latest" },
		{ "a__b/c.d-e:T", "a__b/c.d-e:T" },
		{ "123/456", "123/456:latest" },
		{ "registry.local:5000/app", "registry.local:5000/app:latest" },
		/* Docker Hub's names, as docker shows them */
		{ "docker.io/library/busybox", "busybox:latest" },
		{ "docker.io/library/busybox:1.36", "busybox:1.36" },
		{ "index.docker.io/library/busybox", "busybox:latest" },
		{ "registry-1.docker.io/library/busybox:latest", "busybox:latest" },
		{ "library/busybox", "busybox:latest" },
		{ "docker.io/team/app:v1", "team/app:v1" },
		{ "docker.io/a.b/c", "docker.io/a.b/c:latest" },   /* "a.b/c" would name registry a.b */
		{ "localhost:5000/library/busybox", "localhost:5000/library/busybox:latest" },
	};
	static const char *const bad[] = {
		"", "Busybox", "busy box", "app:", "app:-x", "/app", "app/", "a//b", "a..b", "a-",
		"app@sha256:00", ":tag", "app:t!g",
	};
	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct berr *err = NULL;
		cleanup_free char *n = rootfs_ref_normalize(ok[i].in, &err);

		if (n == NULL)
			fail_msg("%s: %s", ok[i].in, berr_msg(err));
		assert_string_equal(n, ok[i].out);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct berr *err = NULL;
		char *n = rootfs_ref_normalize(bad[i], &err);

		if (n)
			fail_msg("accepted bad reference \"%s\" as %s", bad[i], n);
		assert_non_null(strstr(berr_msg(err), "image reference"));
		berr_free(err);
	}
}

static void test_blob_verify(void **state)
{
	struct fx *f = *state;
	struct rootfs_blob_writer *w = NULL;
	struct rootfs_digest want, got;
	struct berr *err = NULL;
	bool was_new = false;

	rootfs_sha256_buf("hello", 5, &want);
	/* wrong content for the expected digest: refused, nothing stored */
	assert_int_equal(rootfs_blob_begin(f->s, &w, &err), 0);
	assert_int_equal(rootfs_blob_write(w, "hellp", 5, &err), 0);
	assert_true(rootfs_blob_commit(w, &want, -1, "layer 1", NULL, NULL, &err) < 0);
	assert_non_null(strstr(berr_msg(err), "layer 1: content has digest sha256:"));
	assert_false(rootfs_store_has_blob(f->s, &want));
	berr_clear(&err);
	/* wrong size */
	assert_int_equal(rootfs_blob_begin(f->s, &w, &err), 0);
	assert_int_equal(rootfs_blob_write(w, "hello", 5, &err), 0);
	assert_true(rootfs_blob_commit(w, &want, 6, "config", NULL, NULL, &err) < 0);
	assert_string_equal(berr_msg(err), "config: size 5 does not match the descriptor's 6");
	berr_clear(&err);
	/* right */
	assert_int_equal(rootfs_blob_begin(f->s, &w, &err), 0);
	assert_int_equal(rootfs_blob_write(w, "hello", 5, &err), 0);
	assert_int_equal(rootfs_blob_commit(w, &want, 5, "x", &got, &was_new, &err), 0);
	assert_true(was_new);
	assert_true(rootfs_digest_eq(&want, &got));
	assert_true(rootfs_store_has_blob(f->s, &want));
	/* no temporary file left behind by any of the three */
	{
		cleanup_free char *tmp = xasprintf("%s/store/tmp", f->dir);
		DIR *d = opendir(tmp);
		struct dirent *de;
		int n = 0;

		while ((de = readdir(d)))
			n += de->d_name[0] != '.';
		closedir(d);
		assert_int_equal(n, 0);
	}
}

static void test_tag_resolve_remove(void **state)
{
	struct fx *f = *state;
	static const char *const layers[] = { "base", "top" };
	struct rootfs_image img, back;
	struct rootfs_digest d;
	struct berr *err = NULL;
	char buf[ROOTFS_DIGEST_STR], prefix[9];
	cleanup_strv char **refs = NULL;

	make_image(f, "app", layers, 2, &img);
	assert_int_equal(rootfs_store_resolve(f->s, "app", &d, &err), 0);
	assert_true(rootfs_digest_eq(&d, &img.manifest));
	assert_int_equal(rootfs_store_resolve(f->s, "app:latest", &d, &err), 0);
	assert_int_equal(rootfs_store_resolve(f->s, rootfs_digest_str(&img.manifest, buf), &d, &err), 0);
	snprintf(prefix, sizeof(prefix), "%.8s", img.manifest.hex);
	assert_int_equal(rootfs_store_resolve(f->s, prefix, &d, &err), 0);
	assert_true(rootfs_digest_eq(&d, &img.manifest));
	assert_true(rootfs_store_resolve(f->s, "nope", &d, &err) < 0);
	assert_string_equal(berr_msg(err), "image nope: no such image (see `berth image ls`): No such file or directory");
	berr_clear(&err);

	assert_int_equal(rootfs_store_get_image(f->s, &img.manifest, &back, &err), 0);
	assert_int_equal(back.n_layers, 2);
	assert_true(rootfs_digest_eq(&back.layers[1].chain, &img.layers[1].chain));
	rootfs_image_free(&back);

	assert_int_equal(rootfs_store_tag(f->s, "app:v2", &img.manifest, &err), 0);
	refs = rootfs_store_refs_of(f->s, &img.manifest);
	assert_string_equal(refs[0], "app:latest");
	assert_string_equal(refs[1], "app:v2");
	assert_null(refs[2]);
	/* removing one of two names keeps the image */
	assert_int_equal(rootfs_store_remove(f->s, "app:latest", &err), 0);
	assert_int_equal(rootfs_store_get_image(f->s, &img.manifest, &back, &err), 0);
	rootfs_image_free(&back);
	/* the last name takes the record with it; layers wait for prune */
	assert_int_equal(rootfs_store_remove(f->s, "app:v2", &err), 0);
	assert_true(rootfs_store_get_image(f->s, &img.manifest, &back, &err) < 0);
	berr_clear(&err);
	assert_true(rootfs_store_has_layer(f->s, &img.layers[0].chain));
	rootfs_image_free(&img);
}

/* busybox, busybox:latest, docker.io/library/busybox[:latest] and
 * index.docker.io/library/busybox are one name, however it was tagged;
 * other registries' names stay apart. */
static void test_docker_hub_names(void **state)
{
	struct fx *f = *state;
	static const char *const layers[] = { "bb" };
	static const char *const same[] = {
		"busybox", "busybox:latest", "docker.io/library/busybox", "docker.io/library/busybox:latest",
		"index.docker.io/library/busybox", "registry-1.docker.io/library/busybox:latest", "library/busybox",
	};
	struct rootfs_image img, other;
	struct rootfs_digest d;
	struct berr *err = NULL;

	for (size_t t = 0; t < sizeof(same) / sizeof(same[0]); t++) {
		cleanup_strv char **refs = NULL;

		/* tagged under one spelling: found under every spelling */
		make_image(f, same[t], layers, 1, &img);
		for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
			if (rootfs_store_resolve(f->s, same[i], &d, &err) < 0)
				fail_msg("tagged %s, resolve %s: %s", same[t], same[i], berr_msg(err));
			assert_true(rootfs_digest_eq(&d, &img.manifest));
		}
		refs = rootfs_store_refs_of(f->s, &img.manifest);
		assert_string_equal(refs[0], "busybox:latest");
		assert_null(refs[1]);
		/* and removed under another */
		assert_int_equal(rootfs_store_remove(f->s, same[(t + 3) % 7], &err), 0);
		assert_true(rootfs_store_resolve(f->s, "busybox", &d, &err) < 0);
		assert_int_equal(berr_rc(err), -ENOENT);
		berr_clear(&err);
		rootfs_image_free(&img);
	}
	/* another tag, another repository, another registry: other names */
	make_image(f, "busybox:1.36", layers, 1, &img);
	assert_true(rootfs_store_resolve(f->s, "busybox", &d, &err) < 0);
	berr_clear(&err);
	assert_true(rootfs_store_resolve(f->s, "quay.io/library/busybox:1.36", &d, &err) < 0);
	berr_clear(&err);
	assert_int_equal(rootfs_store_resolve(f->s, "docker.io/library/busybox:1.36", &d, &err), 0);
	assert_true(rootfs_digest_eq(&d, &img.manifest));
	rootfs_image_free(&img);
	{
		static const char *const l2[] = { "other" };

		make_image(f, "localhost:5000/busybox", l2, 1, &other);
		assert_int_equal(rootfs_store_resolve(f->s, "localhost:5000/busybox:latest", &d, &err), 0);
		assert_true(rootfs_digest_eq(&d, &other.manifest));
		assert_true(rootfs_store_resolve(f->s, "busybox:latest", &d, &err) < 0);
		berr_clear(&err);
		rootfs_image_free(&other);
	}
}

/* A store written before names were normalized the Docker Hub way has
 * "docker.io/library/busybox:latest" in refs.json: still found, removed,
 * and replaced (not doubled) by a new tag. */
static void test_legacy_ref_spelling(void **state)
{
	struct fx *f = *state;
	static const char *const layers[] = { "old" };
	struct rootfs_image img;
	struct rootfs_digest d;
	struct berr *err = NULL;
	char buf[ROOTFS_DIGEST_STR];
	cleanup_free char *refs_path = xasprintf("%s/refs.json", rootfs_store_root(f->s));
	cleanup_free char *json = NULL;
	cleanup_strv char **refs = NULL;

	make_image(f, "legacy", layers, 1, &img);
	json = xasprintf("{\"docker.io/library/busybox:latest\": \"%s\"}", rootfs_digest_str(&img.manifest, buf));
	assert_int_equal(fs_write_file_atomic(refs_path, json, strlen(json), 0600, &err), 0);
	assert_int_equal(rootfs_store_resolve(f->s, "busybox", &d, &err), 0);
	assert_true(rootfs_digest_eq(&d, &img.manifest));
	assert_int_equal(rootfs_store_resolve(f->s, "index.docker.io/library/busybox:latest", &d, &err), 0);
	/* tagging the same name again leaves one name, in the new spelling */
	assert_int_equal(rootfs_store_tag(f->s, "docker.io/library/busybox", &img.manifest, &err), 0);
	refs = rootfs_store_refs_of(f->s, &img.manifest);
	assert_string_equal(refs[0], "busybox:latest");
	assert_null(refs[1]);
	/* and a legacy key can be removed by any spelling */
	assert_int_equal(fs_write_file_atomic(refs_path, json, strlen(json), 0600, &err), 0);
	assert_int_equal(rootfs_store_remove(f->s, "busybox:latest", &err), 0);
	assert_true(rootfs_store_resolve(f->s, "docker.io/library/busybox", &d, &err) < 0);
	berr_clear(&err);
	rootfs_image_free(&img);
}

static void test_lease_blocks_rm_and_prune(void **state)
{
	struct fx *f = *state;
	static const char *const layers[] = { "only" };
	struct rootfs_image img;
	struct rootfs_prune_stats st;
	struct berr *err = NULL;
	char buf[ROOTFS_DIGEST_STR];

	make_image(f, "web", layers, 1, &img);
	assert_int_equal(rootfs_store_lease(f->s, "task-1", &img.manifest, &err), 0);
	assert_true(rootfs_store_remove(f->s, "web", &err) < 0);
	assert_string_equal(berr_msg(err), "remove image web: in use by task task-1: Device or resource busy");
	berr_clear(&err);
	assert_true(rootfs_store_remove(f->s, rootfs_digest_str(&img.manifest, buf), &err) < 0);
	berr_clear(&err);
	/* an untagged but leased image survives prune */
	assert_int_equal(rootfs_store_tag(f->s, "tmp", &img.manifest, &err), 0);
	assert_true(rootfs_store_lease(f->s, "../x", &img.manifest, &err) < 0);
	berr_clear(&err);
	assert_int_equal(rootfs_store_prune(f->s, &st, &err), 0);
	assert_int_equal(st.layers, 0);
	assert_true(rootfs_store_has_layer(f->s, &img.layers[0].chain));
	assert_int_equal(rootfs_store_release(f->s, "task-1", &err), 0);
	assert_int_equal(rootfs_store_remove(f->s, "web", &err), 0);
	assert_int_equal(rootfs_store_remove(f->s, "tmp", &err), 0);
	assert_int_equal(rootfs_store_prune(f->s, &st, &err), 0);
	assert_int_equal(st.layers, 1);
	assert_int_equal(st.blobs, 3);   /* manifest, config, layer */
	assert_false(rootfs_store_has_layer(f->s, &img.layers[0].chain));
	assert_false(rootfs_store_has_blob(f->s, &img.manifest));
	rootfs_image_free(&img);
}

static void test_prune_keeps_shared_layers(void **state)
{
	struct fx *f = *state;
	static const char *const a_layers[] = { "base", "a-top" };
	static const char *const b_layers[] = { "base", "b-top" };
	struct rootfs_image a, b;
	struct rootfs_prune_stats st;
	struct berr *err = NULL;

	make_image(f, "a", a_layers, 2, &a);
	make_image(f, "b", b_layers, 2, &b);
	assert_true(rootfs_digest_eq(&a.layers[0].chain, &b.layers[0].chain));
	assert_int_equal(rootfs_store_remove(f->s, "a", &err), 0);
	assert_int_equal(rootfs_store_prune(f->s, &st, &err), 0);
	assert_int_equal(st.layers, 1);   /* a-top only */
	assert_true(rootfs_store_has_layer(f->s, &b.layers[0].chain));
	assert_true(rootfs_store_has_layer(f->s, &b.layers[1].chain));
	assert_false(rootfs_store_has_layer(f->s, &a.layers[1].chain));
	assert_true(rootfs_store_has_blob(f->s, &b.layers[0].blob));
	rootfs_image_free(&a);
	rootfs_image_free(&b);
}

/* ---- prune by age and disuse with a budget */

/* The image's use mark set to t (unix seconds). */
static void set_used(struct fx *f, const struct rootfs_image *img, int64_t t)
{
	struct berr *err = NULL;
	cleanup_free char *path = xasprintf("%s/used/%s", rootfs_store_root(f->s), img->manifest.hex);
	struct timespec ts[2] = { { .tv_sec = (time_t)t }, { .tv_sec = (time_t)t } };

	if (rootfs_store_mark_used(f->s, &img->manifest, &err) < 0)
		fail_msg("%s", berr_msg(err));
	assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
	assert_int_equal(rootfs_store_last_used(f->s, img), t);
}

static bool named(struct fx *f, const char *name)
{
	struct rootfs_digest d;
	struct berr *err = NULL;
	bool ok = rootfs_store_resolve(f->s, name, &d, &err) == 0;

	berr_free(err);
	return ok;
}

static bool has_record(struct fx *f, const struct rootfs_image *img)
{
	struct rootfs_image x;
	struct berr *err = NULL;
	bool ok = rootfs_store_get_image(f->s, &img->manifest, &x, &err) == 0;

	if (ok)
		rootfs_image_free(&x);
	berr_free(err);
	return ok;
}

/* Bytes of an image made by make_image: its blobs (the layers have no
 * metadata, so no unpacked bytes), counted here from the contents. */
static uint64_t made_bytes(const char *name, const char *const *layers, size_t n)
{
	uint64_t b = strlen("manifest of ") + strlen(name) + strlen("config of ") + strlen(name);

	for (size_t i = 0; i < n; i++)
		b += strlen(layers[i]);
	return b;
}

static void test_use_marks(void **state)
{
	struct fx *f = *state;
	static const char *const layers[] = { "x" };
	struct rootfs_image img;
	struct berr *err = NULL;
	int64_t t0 = (int64_t)time(NULL);

	make_image(f, "x", layers, 1, &img);
	/* never used: the record's time (0 here) */
	assert_int_equal(rootfs_store_last_used(f->s, &img), 0);
	set_used(f, &img, 1000);
	/* a lease marks a use, and so does its release */
	assert_int_equal(rootfs_store_lease(f->s, "task-1", &img.manifest, &err), 0);
	assert_true(rootfs_store_last_used(f->s, &img) >= t0);
	set_used(f, &img, 1000);
	assert_int_equal(rootfs_store_release(f->s, "task-1", &err), 0);
	assert_true(rootfs_store_last_used(f->s, &img) >= t0);
	/* a record newer than the mark (a pull again) wins */
	set_used(f, &img, 1000);
	img.created = 5000;
	assert_int_equal(rootfs_store_put_image(f->s, &img, &err), 0);
	assert_int_equal(rootfs_store_last_used(f->s, &img), 5000);
	rootfs_image_free(&img);
}

static void test_prune_older_than(void **state)
{
	struct fx *f = *state;
	static const char *const a_l[] = { "base", "a-top" }, *const b_l[] = { "base", "b-top" };
	static const char *const c_l[] = { "c-only" };
	const int64_t now = 2000000000, day = 86400;
	struct rootfs_prune_opts o = { .older_than = 7 * day, .now = now };
	struct rootfs_image a, b, c;
	struct rootfs_prune_stats st;
	struct berr *err = NULL;
	cleanup_free char *mark_a = NULL;

	make_image(f, "a", a_l, 2, &a);
	make_image(f, "b", b_l, 2, &b);
	make_image(f, "c", c_l, 1, &c);
	assert_int_equal(rootfs_store_tag(f->s, "a-too", &a.manifest, &err), 0);
	assert_int_equal(rootfs_store_lease(f->s, "task-c", &c.manifest, &err), 0);
	set_used(f, &a, now - 10 * day);
	set_used(f, &b, now - 1 * day);
	set_used(f, &c, now - 30 * day);   /* old but leased */

	/* without options: nothing named goes */
	assert_int_equal(rootfs_store_prune(f->s, &st, &err), 0);
	assert_int_equal(st.images, 0);
	assert_true(named(f, "a") && named(f, "a-too"));

	assert_int_equal(rootfs_store_prune_opts(f->s, &o, &st, &err), 0);
	assert_int_equal(st.images, 1);
	assert_false(has_record(f, &a));
	assert_false(named(f, "a"));
	assert_false(named(f, "a-too"));   /* every name of it */
	assert_true(has_record(f, &b) && named(f, "b"));
	assert_true(has_record(f, &c) && named(f, "c"));
	/* a's own layer and blobs went; the base b shares stayed */
	assert_int_equal(st.layers, 1);
	assert_int_equal(st.blobs, 3);
	assert_int_equal(st.bytes, made_bytes("a", a_l, 2) - strlen("base"));
	assert_false(rootfs_store_has_layer(f->s, &a.layers[1].chain));
	assert_true(rootfs_store_has_layer(f->s, &a.layers[0].chain));
	assert_true(rootfs_store_has_blob(f->s, &b.layers[0].blob));
	mark_a = xasprintf("%s/used/%s", rootfs_store_root(f->s), a.manifest.hex);
	assert_int_equal(access(mark_a, F_OK), -1);

	/* released, c is old enough to go */
	assert_int_equal(rootfs_store_release(f->s, "task-c", &err), 0);
	set_used(f, &c, now - 30 * day);
	assert_int_equal(rootfs_store_prune_opts(f->s, &o, &st, &err), 0);
	assert_int_equal(st.images, 1);
	assert_false(has_record(f, &c));
	assert_true(has_record(f, &b));
	rootfs_image_free(&a);
	rootfs_image_free(&b);
	rootfs_image_free(&c);
}

static void test_prune_budget(void **state)
{
	struct fx *f = *state;
	static const char *const a_l[] = { "base-shared", "a-top" }, *const b_l[] = { "base-shared", "b-top-b" };
	static const char *const c_l[] = { "c-only-c" }, *const d_l[] = { "d-only-dd" };
	struct rootfs_prune_opts o = { .has_budget = true };
	struct rootfs_image a, b, c, d;
	struct rootfs_prune_stats st;
	struct berr *err = NULL;
	uint64_t size_a, size_b, size_c, size_d, total, a_only;

	make_image(f, "a", a_l, 2, &a);
	make_image(f, "b", b_l, 2, &b);
	make_image(f, "c", c_l, 1, &c);
	make_image(f, "d", d_l, 1, &d);
	assert_int_equal(rootfs_store_lease(f->s, "task-d", &d.manifest, &err), 0);
	set_used(f, &d, 500);   /* the oldest, but leased */
	set_used(f, &a, 1000);
	set_used(f, &b, 2000);
	set_used(f, &c, 3000);
	size_a = made_bytes("a", a_l, 2);
	size_b = made_bytes("b", b_l, 2);
	size_c = made_bytes("c", c_l, 1);
	size_d = made_bytes("d", d_l, 1);
	assert_int_equal(rootfs_store_image_bytes(f->s, &a), size_a);
	a_only = size_a - strlen("base-shared");
	total = a_only + size_b + size_c + size_d;

	/* fits: nothing goes */
	o.budget = total;
	assert_int_equal(rootfs_store_prune_opts(f->s, &o, &st, &err), 0);
	assert_int_equal(st.images, 0);
	assert_int_equal(st.kept_bytes, total);
	assert_false(st.over_budget);
	/* one byte less: the least recently used unleased image (a) goes, its
	 * shared base stays */
	o.budget = total - 1;
	assert_int_equal(rootfs_store_prune_opts(f->s, &o, &st, &err), 0);
	assert_int_equal(st.images, 1);
	assert_false(has_record(f, &a) || named(f, "a"));
	assert_true(has_record(f, &b) && has_record(f, &c) && has_record(f, &d));
	assert_int_equal(st.bytes, a_only);
	assert_int_equal(st.kept_bytes, total - a_only);
	assert_true(rootfs_store_has_layer(f->s, &b.layers[0].chain));
	/* room for c and d only: b goes (older than c) */
	o.budget = size_c + size_d;
	assert_int_equal(rootfs_store_prune_opts(f->s, &o, &st, &err), 0);
	assert_int_equal(st.images, 1);
	assert_false(has_record(f, &b));
	assert_true(has_record(f, &c) && named(f, "c"));
	assert_int_equal(st.bytes, size_b);
	/* a budget the leased image alone exceeds: everything else goes, d stays */
	o.budget = 0;
	assert_int_equal(rootfs_store_prune_opts(f->s, &o, &st, &err), 0);
	assert_int_equal(st.images, 1);
	assert_false(has_record(f, &c));
	assert_true(has_record(f, &d) && named(f, "d"));
	assert_true(rootfs_store_has_blob(f->s, &d.layers[0].blob));
	assert_int_equal(st.kept_bytes, size_d);
	assert_true(st.over_budget);
	rootfs_image_free(&a);
	rootfs_image_free(&b);
	rootfs_image_free(&c);
	rootfs_image_free(&d);
}

static void test_leftovers_removed_at_open(void **state)
{
	struct fx *f = *state;
	cleanup_free char *root = xasprintf("%s/store", f->dir);
	cleanup_free char *junk = xasprintf("%s/tmp/layer-123/usr", root);
	struct rootfs_store *again = NULL;
	struct berr *err = NULL;

	assert_int_equal(fs_mkdir_p(junk, 0755, &err), 0);
	assert_int_equal(rootfs_store_open(root, &again, &err), 0);
	assert_int_equal(access(junk, F_OK), -1);
	rootfs_store_close(again);
}

/* Unpacking through the store: the layer appears under its chain id only
 * when its uncompressed digest matches the config's diff_id. */
static void test_unpack_layer_verifies_diff_id(void **state)
{
	struct fx *f = *state;
	struct tw t = { 0 };
	struct rootfs_layer_ref l = { 0 };
	struct rootfs_unpack_opts uo = { .flags = ROOTFS_UNPACK_NO_CHOWN };
	struct rootfs_unpack_result res;
	struct rootfs_blob_writer *w = NULL;
	struct berr *err = NULL;
	struct rootfs_digest wrong;
	char want[ROOTFS_DIGEST_STR], got[ROOTFS_DIGEST_STR], bad[ROOTFS_DIGEST_STR];
	cleanup_free char *msg = NULL, *path = NULL, *dir = NULL;
	bool did = true;

	tw_file(&t, "etc/hello", "hi\n");
	tw_end(&t);
	assert_int_equal(rootfs_blob_begin(f->s, &w, &err), 0);
	assert_int_equal(rootfs_blob_write(w, t.buf, t.len, &err), 0);
	assert_int_equal(rootfs_blob_commit(w, NULL, -1, "layer", &l.blob, NULL, &err), 0);
	l.size = (int64_t)t.len;
	l.comp = ROOTFS_COMP_NONE;
	rootfs_sha256_buf("not the layer", 13, &wrong);
	l.diff_id = wrong;
	rootfs_chain_id(NULL, &l.diff_id, &l.chain);
	assert_true(rootfs_store_unpack_layer(f->s, &l, &uo, &did, &res, &err) < 0);
	assert_false(did);
	assert_false(rootfs_store_has_layer(f->s, &l.chain));
	msg = xasprintf("layer %s: uncompressed content has digest %s, but the image config says %s",
			rootfs_digest_str(&l.blob, want), rootfs_digest_str(&l.blob, got),
			rootfs_digest_str(&wrong, bad));
	assert_string_equal(berr_msg(err), msg);
	berr_clear(&err);

	l.diff_id = l.blob;   /* uncompressed: the blob is the tar */
	rootfs_chain_id(NULL, &l.diff_id, &l.chain);
	assert_int_equal(rootfs_store_unpack_layer(f->s, &l, &uo, &did, &res, &err), 0);
	assert_true(did);
	dir = rootfs_store_layer_path(f->s, &l.chain);
	path = xasprintf("%s/etc/hello", dir);
	assert_int_equal(access(path, F_OK), 0);
	assert_int_equal(rootfs_store_layer_bytes(f->s, &l.chain), 3);
	/* a second unpack of the same chain does nothing */
	assert_int_equal(rootfs_store_unpack_layer(f->s, &l, &uo, &did, &res, &err), 0);
	assert_false(did);
	tw_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ref_normalize),
		cmocka_unit_test_setup_teardown(test_blob_verify, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tag_resolve_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_docker_hub_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_legacy_ref_spelling, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lease_blocks_rm_and_prune, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prune_keeps_shared_layers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_use_marks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prune_older_than, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prune_budget, setup, teardown),
		cmocka_unit_test_setup_teardown(test_leftovers_removed_at_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unpack_layer_verifies_diff_id, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
