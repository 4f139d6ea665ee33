/* Hostile layers for rootfs_layer_unpack: each is refused with an error that
 * names the entry and the reason, and nothing outside the target directory
 * is created or changed (a sentinel directory next to the target, and a
 * host path that must stay nonexistent). Runs as root and unprivileged. */
#include "test_layer_util.h"

static int setup(void **state)
{
	struct env *e = xzalloc(sizeof(*e));

	env_setup(e);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	env_teardown(e);
	free(e);
	return 0;
}

static void test_traversal_dotdot(void **state)
{
	struct env *e = *state;
	struct tw t = { 0 };

	tw_file(&t, "../outside/evil", "x");
	tw_end(&t);
	expect_fail(e, &t, ROOTFS_COMP_NONE, NULL, "layer entry ../outside/evil: name has a \"..\" component");
	assert_false(tpath_exists(e, "evil"));
	tw_free(&t);

	tw_dir(&t, "a/", 0755);
	tw_file(&t, "a/../../outside/evil", "x");
	tw_end(&t);
	expect_fail(e, &t, ROOTFS_COMP_NONE, NULL, "layer entry a/../../outside/evil: name has a \"..\" component");
	tw_free(&t);

	/* even a ".." that would stay inside is refused */
	tw_file(&t, "a/../b", "x");
	tw_end(&t);
	expect_fail(e, &t, ROOTFS_COMP_NONE, NULL, "\"..\" component");
	tw_free(&t);
}

static void test_absolute(void **state)
{
	struct env *e = *state;
	char name[128];
	struct tw t = { 0 };

	snprintf(name, sizeof(name), "%s/x", e->nonexist);
	tw_file(&t, name, "x");
	tw_end(&t);
	expect_fail(e, &t, ROOTFS_COMP_NONE, NULL, "name is an absolute path");
	tw_free(&t);

	tw_file(&t, "/x", "x");
	tw_end(&t);
	expect_fail(e, &t, ROOTFS_COMP_NONE, NULL, "layer entry /x: name is an absolute path");
	assert_false(tpath_exists(e, "x"));
	tw_free(&t);
}

/* link -> somewhere, then link/file: never written through the link */
static void test_symlink_write_through(void **state)
{
	struct env *e = *state;
	struct tw t = { 0 };

	tw_symlink(&t, "link", "../outside");
	tw_file(&t, "link/evil", "x");
	tw_end(&t);
	expect_fail(e, &t, ROOTFS_COMP_NONE, NULL,
		    "layer entry link/evil: link is a symlink: entries are never unpacked through symlinks");
	tw_free(&t);
	env_reset_target(e);

	tw_dir(&t, "a/", 0755);
	tw_symlink(&t, "a/link", "../../outside");
	tw_file(&t, "a/link/sentinel", "overwritten");
	tw_end(&t);
	expect_fail(e, &t, ROOTFS_COMP_NONE, NULL, "a/link is a symlink");
	tw_free(&t);
}

static void test_symlink_absolute_write_through(void **state)
{
	struct env *e = *state;
	char target[160];
	struct tw t = { 0 };

	/* an absolute target naming a host path that does not exist: a broken
	 * unpacker would create it on the host */
	snprintf(target, sizeof(target), "%s/dir", e->nonexist);
	tw_symlink(&t, "abs", target);
	tw_file(&t, "abs/evil", "x");
	tw_end(&t);
	expect_fail(e, &t, ROOTFS_COMP_NONE, NULL, "abs is a symlink");
	tw_free(&t);
	env_reset_target(e);

	/* a chain: b -> a -> ../outside, and a directory entry through it */
	tw_symlink(&t, "a", "../outside");
	tw_symlink(&t, "b", "a");
	tw_dir(&t, "b/newdir/", 0755);
	tw_end(&t);
	expect_fail(e, &t, ROOTFS_COMP_NONE, NULL, "b is a symlink");
	tw_free(&t);
	env_reset_target(e);

	/* a whiteout through a symlink */
	tw_symlink(&t, "w", "../outside");
	tw_file(&t, "w/.wh.sentinel", "");
	tw_end(&t);
	expect_fail(e, &t, ROOTFS_COMP_NONE, NULL, "w is a symlink");
	tw_free(&t);
}

/* link -> /, then a hardlink x -> link/etc/passwd */
static void test_symlink_root_then_hardlink(void **state)
{
	struct env *e = *state;
	struct tw t = { 0 };
	struct stat before, after;

	/* read-only look at the host file a broken unpacker would link to */
	assert_int_equal(stat("/etc/passwd", &before), 0);
	tw_symlink(&t, "link", "/");
	tw_hardlink(&t, "x", "link/etc/passwd");
	tw_end(&t);
	expect_fail(e, &t, ROOTFS_COMP_NONE, NULL,
		    "layer entry x: hardlink target link/etc/passwd is not an entry unpacked earlier in this layer");
	assert_false(tpath_exists(e, "x"));
	assert_int_equal(stat("/etc/passwd", &after), 0);
	assert_int_equal(before.st_nlink, after.st_nlink);
	tw_free(&t);
	env_reset_target(e);

	/* the same through the sentinel directory */
	tw_symlink(&t, "up", "..");
	tw_hardlink(&t, "y", "up/outside/passwd");
	tw_end(&t);
	expect_fail(e, &t, ROOTFS_COMP_NONE, NULL, "is not an entry unpacked earlier");
	tw_free(&t);
}

static void test_hardlink_outside(void **state)
{
	struct env *e = *state;
	struct tw t = { 0 };

	tw_hardlink(&t, "x", "../outside/passwd");
	tw_end(&t);
	expect_fail(e, &t, ROOTFS_COMP_NONE, NULL, "layer entry x: hardlink target has a \"..\" component");
	tw_free(&t);

	{
		char abs[128];

		snprintf(abs, sizeof(abs), "%s/passwd", e->nonexist);
		tw_hardlink(&t, "x", abs);
	}
	tw_end(&t);
	expect_fail(e, &t, ROOTFS_COMP_NONE, NULL, "layer entry x: hardlink target is an absolute path");
	tw_free(&t);

	/* not yet extracted: the target comes later */
	tw_hardlink(&t, "x", "later");
	tw_file(&t, "later", "data");
	tw_end(&t);
	expect_fail(e, &t, ROOTFS_COMP_NONE, NULL, "hardlink target later is not an entry unpacked earlier");
	tw_free(&t);

	/* to a directory */
	tw_dir(&t, "d/", 0755);
	tw_hardlink(&t, "x", "d");
	tw_end(&t);
	expect_fail(e, &t, ROOTFS_COMP_NONE, NULL, "hardlink target d is a directory");
	tw_free(&t);
	assert_false(tpath_exists(e, "x"));
}

static void test_whiteout_escape(void **state)
{
	struct env *e = *state;
	struct tw t = { 0 };

	tw_file(&t, ".wh.../x", "");
	tw_end(&t);
	expect_fail(e, &t, ROOTFS_COMP_NONE, NULL, "layer entry .wh.../x: a whiteout name is used as a directory");
	tw_free(&t);

	tw_file(&t, "../.wh.outside", "");
	tw_end(&t);
	expect_fail(e, &t, ROOTFS_COMP_NONE, NULL, "layer entry ../.wh.outside: name has a \"..\" component");
	tw_free(&t);

	tw_file(&t, "a/.wh...", "");
	tw_end(&t);
	expect_fail(e, &t, ROOTFS_COMP_NONE, NULL, "layer entry a/.wh...: whiteout of \"..\" would not name a file");
	tw_free(&t);

	tw_file(&t, ".wh..", "");
	tw_end(&t);
	expect_fail(e, &t, ROOTFS_COMP_NONE, NULL, "whiteout of \".\" would not name a file");
	tw_free(&t);
}

static void test_device_nodes(void **state)
{
	struct env *e = *state;
	struct tw t = { 0 };

	tw_header(&t, &(struct th){ .name = "dev/sda", .type = '4', .mode = 0660, .major = 8 });
	tw_end(&t);
	expect_fail(e, &t, ROOTFS_COMP_NONE, NULL,
		    "layer entry dev/sda: device nodes are not allowed in images");
	tw_free(&t);

	/* a character device, even 0/0 (whiteouts come as .wh. names) */
	tw_header(&t, &(struct th){ .name = "dev/null", .type = '3', .mode = 0666, .major = 1,
				    .minor = 3 });
	tw_end(&t);
	expect_fail(e, &t, ROOTFS_COMP_NONE, NULL,
		    "layer entry dev/null: device nodes are not allowed in images");
	tw_free(&t);
	tw_header(&t, &(struct th){ .name = "wh", .type = '3' });
	tw_end(&t);
	expect_fail(e, &t, ROOTFS_COMP_NONE, NULL, "layer entry wh: device nodes are not allowed");
	tw_free(&t);
	assert_false(tpath_exists(e, "dev/sda"));
	assert_false(tpath_exists(e, "dev/null"));
}

static void test_oversized_entry(void **state)
{
	struct env *e = *state;
	struct rootfs_unpack_opts o = { .max_bytes = 1 << 20 };
	struct tw t = { 0 };

	/* the header claims more than the limit: refused before any data */
	tw_header(&t, &(struct th){ .name = "big", .type = '0', .mode = 0644,
				    .size = 64ULL << 30 });
	tw_end(&t);
	expect_fail(e, &t, ROOTFS_COMP_NONE, &o,
		    "layer entry big: size 68719476736 exceeds the layer size limit of 1048576 bytes");
	assert_false(tpath_exists(e, "big"));
	tw_free(&t);
}

/* Many 256 KiB files of zeros, 1 GiB in all, in about 1 MiB of gzip. With
 * max_bytes 4 MiB the decompressor must stop right after the limit. */
static void test_gzip_bomb(void **state)
{
	struct env *e = *state;
	const uint64_t limit = 4 << 20;
	struct rootfs_unpack_opts o = { .max_bytes = limit };
	struct rootfs_unpack_result res;
	static unsigned char zeros[256 << 10];
	struct berr *err = NULL;
	struct gz g;
	uint64_t written = 0;
	int ret;

	gz_begin(&g);
	for (int i = 0; i < 4096; i++) {
		struct tw h = { 0 };
		char name[32];

		snprintf(name, sizeof(name), "z%04d", i);
		tw_header(&h, &(struct th){ .name = name, .type = '0', .mode = 0644,
					    .size = sizeof(zeros) });
		gz_run(&g, h.buf, h.len, false);
		gz_run(&g, zeros, sizeof(zeros), false);
		tw_free(&h);
	}
	gz_run(&g, zeros, 1024, true);
	assert_true(g.out.len < (8 << 20));

	ret = env_unpack(e, g.out.buf, g.out.len, ROOTFS_COMP_GZIP, &o, &res, &err);
	assert_true(ret < 0);
	assert_non_null(strstr(berr_msg(err), "layer is larger than the limit of 4194304 bytes uncompressed"));
	/* stopped right after the limit, not after 1 GiB */
	assert_true(res.tar_bytes <= limit + 1);
	for (int i = 0; i < 4096; i++) {
		char name[32];
		struct stat st;

		snprintf(name, sizeof(name), "z%04d", i);
		if (fstatat(e->tfd, name, &st, 0) == 0)
			written += (uint64_t)st.st_size;
	}
	assert_true(written <= limit);
	assert_true(written >= limit / 2);   /* it did unpack up to about there */
	berr_free(err);
	env_check_outside(e);
	tw_free(&g.out);
}

static void small_tar(struct tw *t)
{
	char big[20000];
	uint32_t x = 12345;

	/* poorly compressible, so most of a compressed stream is etc/big */
	for (size_t i = 0; i < sizeof(big) - 1; i++) {
		x = x * 1103515245 + 12345;
		big[i] = (char)('a' + (x >> 16) % 26);
	}
	big[sizeof(big) - 1] = '\0';
	tw_dir(t, "etc/", 0755);
	tw_file(t, "etc/hostname", "box\n");
	tw_file(t, "etc/big", big);
	tw_end(t);
}

static void test_truncated_and_corrupt_gzip(void **state)
{
	struct env *e = *state;
	struct tw t = { 0 }, gz, cut;

	small_tar(&t);
	gz = gzip_buf(t.buf, t.len);
	/* cut inside the deflate data, and just before the CRC/size trailer */
	cut = (struct tw){ .buf = gz.buf, .len = gz.len / 2 };
	/* the entry being read when the stream broke is named */
	expect_fail(e, &cut, ROOTFS_COMP_GZIP, NULL, "layer entry etc/big: gzip layer: truncated");
	env_reset_target(e);
	cut.len = gz.len - 4;
	expect_fail(e, &cut, ROOTFS_COMP_DETECT, NULL, "gzip layer: truncated");
	env_reset_target(e);
	/* a flipped CRC byte */
	gz.buf[gz.len - 6] ^= 0x55;
	expect_fail(e, &gz, ROOTFS_COMP_GZIP, NULL, "gzip layer: corrupt data");
	env_reset_target(e);
	gz.buf[gz.len - 6] ^= 0x55;
	/* garbage after the stream (NUL padding is accepted: see the happy tests) */
	tw_raw(&gz, "junk", 4);
	expect_fail(e, &gz, ROOTFS_COMP_GZIP, NULL, "unexpected data after the end of the gzip stream");
	env_reset_target(e);
	/* not gzip at all */
	expect_fail(e, &t, ROOTFS_COMP_GZIP, NULL, "(not a gzip header)");
	tw_free(&gz);
	tw_free(&t);
}

static void test_truncated_zstd(void **state)
{
	struct env *e = *state;
	struct tw t = { 0 }, z, cut;

	small_tar(&t);
	z = zstd_buf(t.buf, t.len);
	cut = (struct tw){ .buf = z.buf, .len = z.len - 3 };
	expect_fail(e, &cut, ROOTFS_COMP_ZSTD, NULL, "zstd layer: truncated");
	env_reset_target(e);
	cut.len = 0;
	expect_fail(e, &cut, ROOTFS_COMP_ZSTD, NULL, "zstd layer: truncated");
	env_reset_target(e);
	tw_raw(&z, "junk", 4);
	expect_fail(e, &z, ROOTFS_COMP_DETECT, NULL, "zstd layer: corrupt data");
	tw_free(&z);
	tw_free(&t);
}

static void test_truncated_tar(void **state)
{
	struct env *e = *state;
	struct tw t = { 0 }, cut;

	small_tar(&t);
	/* inside etc/big's data */
	cut = (struct tw){ .buf = t.buf, .len = 512 * 5 + 100 };
	expect_fail(e, &cut, ROOTFS_COMP_NONE, NULL, "layer entry etc/big: truncated tar: the stream ends inside its data");
	env_reset_target(e);
	/* inside a header */
	cut.len = 512 + 100;
	expect_fail(e, &cut, ROOTFS_COMP_NONE, NULL, "truncated tar: the stream ends inside the header at offset 512");
	tw_free(&t);
}

static void test_duplicates(void **state)
{
	struct env *e = *state;
	struct tw t = { 0 };

	tw_file(&t, "f", "one");
	tw_file(&t, "./f", "two");
	tw_end(&t);
	expect_fail(e, &t, ROOTFS_COMP_NONE, NULL,
		    "layer entry ./f: duplicate entry: f was already unpacked as a regular file");
	tw_free(&t);
	env_reset_target(e);

	tw_dir(&t, "d/", 0755);
	tw_file(&t, "d", "file over a directory");
	tw_end(&t);
	expect_fail(e, &t, ROOTFS_COMP_NONE, NULL, "layer entry d: duplicate entry: d was already unpacked as a directory");
	tw_free(&t);
	env_reset_target(e);

	tw_symlink(&t, "s", "../outside");
	tw_file(&t, "s", "through the symlink?");
	tw_end(&t);
	expect_fail(e, &t, ROOTFS_COMP_NONE, NULL, "layer entry s: duplicate entry: s was already unpacked as a symlink");
	tw_free(&t);
	env_reset_target(e);

	/* a file then a directory of the same name */
	tw_file(&t, "x", "");
	tw_dir(&t, "x/", 0755);
	tw_end(&t);
	expect_fail(e, &t, ROOTFS_COMP_NONE, NULL, "duplicate entry: x was already unpacked as a regular file");
	tw_free(&t);
	env_reset_target(e);

	/* an implicit parent directory, then a file of that name */
	tw_file(&t, "p/q", "");
	tw_file(&t, "p", "");
	tw_end(&t);
	expect_fail(e, &t, ROOTFS_COMP_NONE, NULL, "duplicate entry: p was already unpacked as a directory");
	tw_free(&t);
	env_reset_target(e);

	/* a path through a regular file */
	tw_file(&t, "r", "");
	tw_file(&t, "r/x", "");
	tw_end(&t);
	expect_fail(e, &t, ROOTFS_COMP_NONE, NULL, "layer entry r/x: parent r is not a directory");
	tw_free(&t);
}

static void test_max_entries(void **state)
{
	struct env *e = *state;
	struct rootfs_unpack_opts o = { .max_entries = 10 };
	struct tw t = { 0 };

	for (int i = 0; i < 11; i++) {
		char name[16];

		snprintf(name, sizeof(name), "f%d", i);
		tw_file(&t, name, "");
	}
	tw_end(&t);
	expect_fail(e, &t, ROOTFS_COMP_NONE, &o, "layer entry f10: the layer has more than 10 entries (the limit)");
	assert_false(tpath_exists(e, "f10"));
	tw_free(&t);
}

static void test_nul_in_names(void **state)
{
	struct env *e = *state;
	struct tw t = { 0 };

	tw_pax(&t, "path", "ok\0/../../outside/x", (size_t)19, NULL);
	tw_file(&t, "placeholder", "x");
	tw_end(&t);
	expect_fail(e, &t, ROOTFS_COMP_NONE, NULL, "layer entry \"ok\\x00/../../outside/x\": name contains a NUL byte");
	tw_free(&t);

	tw_gnu_long(&t, 'L', "fine");
	t.buf[512 + 2] = '\0';   /* "fi\0e" */
	tw_file(&t, "placeholder", "x");
	tw_end(&t);
	expect_fail(e, &t, ROOTFS_COMP_NONE, NULL, "name contains a NUL byte");
	tw_free(&t);
	assert_false(tpath_exists(e, "placeholder"));
	assert_false(tpath_exists(e, "ok"));
}

static void test_corrupt_headers(void **state)
{
	struct env *e = *state;
	struct tw t = { 0 };

	tw_file(&t, "good", "x");
	tw_header(&t, &(struct th){ .name = "bad", .type = '0', .mode = 0644, .bad_checksum = true });
	tw_end(&t);
	expect_fail(e, &t, ROOTFS_COMP_NONE, NULL, "corrupt tar: header checksum mismatch at offset 1024");
	tw_free(&t);
	env_reset_target(e);

	/* sparse files and unknown types */
	tw_header(&t, &(struct th){ .name = "sparse", .type = 'S', .mode = 0644 });
	tw_end(&t);
	expect_fail(e, &t, ROOTFS_COMP_NONE, NULL, "layer entry sparse: sparse files are not supported");
	tw_free(&t);
	tw_header(&t, &(struct th){ .name = "vol", .type = 'V', .mode = 0644 });
	tw_end(&t);
	expect_fail(e, &t, ROOTFS_COMP_NONE, NULL, "layer entry vol: unsupported tar entry type 'V'");
	tw_free(&t);

	/* malformed PAX records */
	tw_pax(&t, PAX("size", "12x"), NULL);
	tw_file(&t, "p", "x");
	tw_end(&t);
	expect_fail(e, &t, ROOTFS_COMP_NONE, NULL, "corrupt tar: PAX header at offset 0: invalid size");
	tw_free(&t);

	/* a PAX header with nothing after it */
	tw_pax(&t, PAX("path", "orphan"), NULL);
	tw_end(&t);
	expect_fail(e, &t, ROOTFS_COMP_NONE, NULL, "is not followed by an entry");
	tw_free(&t);

	/* a zero block followed by more data */
	{
		static const unsigned char zero[512];

		tw_raw(&t, zero, 512);
		tw_file(&t, "after", "x");
		tw_end(&t);
		expect_fail(e, &t, ROOTFS_COMP_NONE, NULL, "a zero block at offset 0 is followed by data");
		tw_free(&t);
	}
}

/* Overlay metadata comes from .wh. entries only, never from the archive's
 * xattrs: a layer must not forge redirects or opaque flags. */
static void test_reserved_xattrs(void **state)
{
	struct env *e = *state;
	struct tw t = { 0 };

	tw_pax(&t, PAX("SCHILY.xattr.trusted.overlay.redirect", "/etc"), NULL);
	tw_dir(&t, "d/", 0755);
	tw_end(&t);
	expect_fail(e, &t, ROOTFS_COMP_NONE, NULL,
		    "layer entry d/: xattr trusted.overlay.redirect is reserved for overlayfs");
	tw_free(&t);
	tw_pax(&t, PAX("SCHILY.xattr.user.overlay.opaque", "y"), NULL);
	tw_dir(&t, "d/", 0755);
	tw_end(&t);
	expect_fail(e, &t, ROOTFS_COMP_NONE, NULL, "xattr user.overlay.opaque is reserved");
	tw_free(&t);
}

static void test_unsupported_compression(void **state)
{
	struct env *e = *state;
	struct tw t = { 0 };

	tw_raw(&t, "\xfd" "7zXZ\0\0\0\0\0\0\0\0", 12);
	expect_fail(e, &t, ROOTFS_COMP_DETECT, NULL, "layer is xz-compressed");
	tw_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_traversal_dotdot),
		T(test_absolute),
		T(test_symlink_write_through),
		T(test_symlink_absolute_write_through),
		T(test_symlink_root_then_hardlink),
		T(test_hardlink_outside),
		T(test_whiteout_escape),
		T(test_device_nodes),
		T(test_oversized_entry),
		T(test_gzip_bomb),
		T(test_truncated_and_corrupt_gzip),
		T(test_truncated_zstd),
		T(test_truncated_tar),
		T(test_duplicates),
		T(test_max_entries),
		T(test_nul_in_names),
		T(test_corrupt_headers),
		T(test_reserved_xattrs),
		T(test_unsupported_compression),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
