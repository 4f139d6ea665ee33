/* Unit tests for rootfs/import.c against the project's test images
 * (BERTH_BINARY_DIR/images): both archive formats, an OCI layout directory,
 * layer sharing, platform selection, and the rollback of a failed import.
 * Unprivileged-safe: without root, layers are unpacked without chown and with
 * user.overlay.* opaque markers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/xalloc.h"
#include "rootfs/import.h"
#include "rootfs/store.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct fx {
	char *dir, *images;
	struct rootfs_store *s;
	struct rootfs_import_opts o;
};

static int setup(void **state)
{
	struct fx *f = xzalloc(sizeof(*f));
	char tmpl[] = "/tmp/berth-test-import.XXXXXX";
	const char *bin = getenv("BERTH_BINARY_DIR");
	struct berr *err = NULL;
	cleanup_free char *root = NULL;

	if (bin == NULL)
		fail_msg("BERTH_BINARY_DIR is not set (run through ctest)");
	f->images = xasprintf("%s/images", bin);
	f->dir = xstrdup(mkdtemp(tmpl));
	root = fs_path_join(f->dir, "store");
	if (rootfs_store_open(root, &f->s, &err) < 0)
		fail_msg("%s", berr_msg(err));
	f->o.arch = "amd64";
	if (geteuid() != 0)
		f->o.unpack.flags = ROOTFS_UNPACK_NO_CHOWN | ROOTFS_UNPACK_USER_XATTR;
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
	free(f->images);
	free(f);
	return 0;
}

static size_t count_entries(struct fx *f, const char *sub, const char *skip_suffix)
{
	cleanup_free char *p = xasprintf("%s/store/%s", f->dir, sub);
	DIR *d = opendir(p);
	struct dirent *de;
	size_t n = 0;

	assert_non_null(d);
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);

		if (de->d_name[0] == '.')
			continue;
		if (skip_suffix && l > strlen(skip_suffix) && !strcmp(de->d_name + l - strlen(skip_suffix), skip_suffix))
			continue;
		n++;
	}
	closedir(d);
	return n;
}

static void import_ok(struct fx *f, const char *name, struct rootfs_import_result *res)
{
	cleanup_free char *path = xasprintf("%s/%s", f->images, name);
	struct berr *err = NULL;

	if (rootfs_import(f->s, path, &f->o, res, &err) < 0)
		fail_msg("import %s: %s", name, berr_msg(err));
}

static void test_both_formats_share_layers(void **state)
{
	struct fx *f = *state;
	struct rootfs_import_result r = { 0 };
	struct rootfs_digest d;
	struct berr *err = NULL;

	import_ok(f, "helper.docker.tar", &r);
	assert_string_equal(r.format, "docker-archive");
	assert_int_equal(r.n_images, 1);
	assert_string_equal(r.images[0].refs[0], "berth-test/helper:latest");
	assert_int_equal(r.images[0].layers, 3);
	assert_int_equal(r.images[0].layers_unpacked, 3);
	rootfs_import_result_free(&r);

	/* web shares the base layer: only its own layer is unpacked */
	import_ok(f, "web.oci.tar", &r);
	assert_string_equal(r.format, "oci-archive");
	assert_string_equal(r.images[0].refs[0], "berth-test/web:latest");
	assert_int_equal(r.images[0].layers, 2);
	assert_int_equal(r.images[0].layers_unpacked, 1);
	rootfs_import_result_free(&r);
	assert_int_equal(count_entries(f, "layers", ".json"), 4);

	/* the same helper image as an oci-archive: new manifest, no new layer */
	import_ok(f, "helper.oci.tar", &r);
	assert_int_equal(r.images[0].layers_unpacked, 0);
	rootfs_import_result_free(&r);
	assert_int_equal(count_entries(f, "layers", ".json"), 4);
	assert_int_equal(rootfs_store_resolve(f->s, "berth-test/web", &d, &err), 0);

	/* whiteouts and the opaque dir made it through: /etc/motd is a 0/0
	 * character device in the top layer of helper */
	{
		struct rootfs_image img;
		cleanup_free char *top = NULL, *motd = NULL;
		struct stat st;

		assert_int_equal(rootfs_store_resolve(f->s, "berth-test/helper", &d, &err), 0);
		assert_int_equal(rootfs_store_get_image(f->s, &d, &img, &err), 0);
		top = rootfs_store_layer_path(f->s, &img.layers[2].chain);
		motd = xasprintf("%s/etc/motd", top);
		assert_int_equal(lstat(motd, &st), 0);
		assert_true(S_ISCHR(st.st_mode));
		assert_int_equal(st.st_rdev, 0);
		rootfs_image_free(&img);
	}
}

static void test_oci_layout_dir(void **state)
{
	struct fx *f = *state;
	struct rootfs_import_result r = { 0 };
	struct berr *err = NULL;
	cleanup_free char *layout = xasprintf("%s/layout", f->dir);
	cleanup_free char *cmd = xasprintf("mkdir -p '%s' && tar -xf '%s/web.oci.tar' -C '%s'", layout,
					   f->images, layout);

	assert_int_equal(system(cmd), 0);
	assert_int_equal(rootfs_import(f->s, layout, &f->o, &r, &err), 0);
	assert_string_equal(r.format, "oci-layout");
	assert_int_equal(r.images[0].layers_unpacked, 2);
	rootfs_import_result_free(&r);
	/* a directory without oci-layout is not one */
	assert_true(rootfs_import(f->s, f->dir, &f->o, &r, &err) < 0);
	assert_non_null(strstr(berr_msg(err), "without an oci-layout file"));
	berr_clear(&err);
}

/* A layout directory is as untrusted as an archive: a FIFO where a file
 * should be is refused at once (it used to block the import forever, with
 * the store locked), and no file of it is read through a symlink. */
static void test_oci_layout_hostile_files(void **state)
{
	static const struct { const char *tamper, *want; } cases[] = {
		{ "rm index.json && mkfifo index.json", "index.json is not a regular file" },
		{ "rm oci-layout && mkfifo oci-layout", "oci-layout is not a regular file" },
		{ "for b in blobs/sha256/*; do rm $b && mkfifo $b; done", "is not a regular file" },
		{ "rm index.json && ln -s /etc/passwd index.json",
		  "index.json is a symlink or lies below one: files of an OCI layout are never read through symlinks" },
		{ "mv blobs ../blobs-outside && ln -s ../blobs-outside blobs", "is a symlink or lies below one" },
	};
	struct fx *f = *state;
	cleanup_free char *layout = xasprintf("%s/layout", f->dir);

	alarm(60);   /* a hang is a failure, not a stuck test run */
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct rootfs_import_result r = { 0 };
		struct berr *err = NULL;
		cleanup_free char *cmd = xasprintf(
			"rm -rf '%s' '%s/blobs-outside' && mkdir '%s' && tar -xf '%s/web.oci.tar' -C '%s' && cd '%s' && %s",
			layout, f->dir, layout, f->images, layout, layout, cases[i].tamper);

		assert_int_equal(system(cmd), 0);
		assert_true(rootfs_import(f->s, layout, &f->o, &r, &err) < 0);
		if (strstr(berr_msg(err), cases[i].want) == NULL)
			fail_msg("%s: got \"%s\", want \"%s\"", cases[i].tamper, berr_msg(err), cases[i].want);
		berr_clear(&err);
		assert_int_equal(count_entries(f, "blobs/sha256", NULL), 0);
		assert_int_equal(count_entries(f, "layers", NULL), 0);
		assert_int_equal(count_entries(f, "tmp", NULL), 0);
	}
	alarm(0);
}

static void test_platform_mismatch(void **state)
{
	struct fx *f = *state;
	struct rootfs_import_result r = { 0 };
	struct berr *err = NULL;
	cleanup_free char *path = xasprintf("%s/web.oci.tar", f->images);

	f->o.arch = "arm64";
	assert_true(rootfs_import(f->s, path, &f->o, &r, &err) < 0);
	assert_non_null(strstr(berr_msg(err), "the image is for linux/amd64, this host runs linux/arm64"));
	berr_clear(&err);
	assert_int_equal(count_entries(f, "blobs/sha256", NULL), 0);
	assert_int_equal(count_entries(f, "layers", NULL), 0);
}

/* A byte flipped inside a layer blob: the import fails naming the digest,
 * and everything it had added (blobs, layers, records, tags) is gone. */
static void test_corrupt_archive_rolls_back(void **state)
{
	struct fx *f = *state;
	struct rootfs_import_result r = { 0 };
	struct berr *err = NULL;
	cleanup_free char *src = xasprintf("%s/helper.oci.tar", f->images);
	cleanup_free char *bad = xasprintf("%s/bad.oci.tar", f->dir);
	cleanup_free char *buf = NULL;
	size_t len;
	cleanup_close int fd = -1;
	char *p;
	struct rootfs_digest d;

	assert_int_equal(fs_read_file(src, &buf, &len, 64 << 20, &err), 0);
	/* the largest blob is the helper layer; flip a byte near the middle of
	 * the archive, which lands inside it */
	p = buf + len / 2;
	*p ^= 0x55;
	fd = open(bad, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(fs_write_all(fd, buf, len), 0);
	assert_true(rootfs_import(f->s, bad, &f->o, &r, &err) < 0);
	assert_non_null(strstr(berr_msg(err), "import "));
	assert_non_null(strstr(berr_msg(err), "digest"));
	berr_clear(&err);
	assert_int_equal(count_entries(f, "blobs/sha256", NULL), 0);
	assert_int_equal(count_entries(f, "layers", NULL), 0);
	assert_int_equal(count_entries(f, "images", NULL), 0);
	assert_int_equal(count_entries(f, "tmp", NULL), 0);
	assert_true(rootfs_store_resolve(f->s, "berth-test/helper", &d, &err) < 0);
	berr_clear(&err);
}

/* Importing an image the store has already is a use of it (as a pull is):
 * its used/ mark moves to now, for prune --older-than and --budget; its
 * record (and import time) stays as it was. */
static void test_reimport_marks_used(void **state)
{
	struct fx *f = *state;
	struct rootfs_import_result r = { 0 };
	struct rootfs_image img = { 0 }, back = { 0 };
	struct rootfs_digest d;
	struct berr *err = NULL;
	cleanup_free char *mark = NULL;
	struct timespec old[2] = { { .tv_sec = 1000 }, { .tv_sec = 1000 } };
	int64_t t0 = (int64_t)time(NULL);

	import_ok(f, "web.oci.tar", &r);
	rootfs_import_result_free(&r);
	assert_int_equal(rootfs_store_resolve(f->s, "berth-test/web", &d, &err), 0);
	/* the first import is a use too */
	mark = xasprintf("%s/used/%s", rootfs_store_root(f->s), d.hex);
	assert_int_equal(access(mark, F_OK), 0);
	/* make it look imported and last used long ago */
	assert_int_equal(rootfs_store_get_image(f->s, &d, &img, &err), 0);
	img.created = 1000;
	assert_int_equal(rootfs_store_put_image(f->s, &img, &err), 0);
	assert_int_equal(utimensat(AT_FDCWD, mark, old, 0), 0);
	assert_int_equal(rootfs_store_last_used(f->s, &img), 1000);

	import_ok(f, "web.oci.tar", &r);
	assert_int_equal(r.images[0].layers_unpacked, 0);
	rootfs_import_result_free(&r);
	assert_int_equal(rootfs_store_get_image(f->s, &d, &back, &err), 0);
	assert_int_equal(back.created, 1000);
	assert_true(rootfs_store_last_used(f->s, &back) >= t0);
	rootfs_image_free(&back);

	/* the docker-archive of another image with the same layers: that image
	 * is new (its own record and mark), web's mark is untouched */
	assert_int_equal(utimensat(AT_FDCWD, mark, old, 0), 0);
	import_ok(f, "helper.docker.tar", &r);
	rootfs_import_result_free(&r);
	assert_int_equal(rootfs_store_last_used(f->s, &img), 1000);
	rootfs_image_free(&img);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_both_formats_share_layers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_oci_layout_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_oci_layout_hostile_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_platform_mismatch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_archive_rolls_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reimport_marks_used, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
