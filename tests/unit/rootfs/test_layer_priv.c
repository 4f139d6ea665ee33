/* rootfs_layer_unpack as root: ownership from the archive, setuid/setgid
 * kept across the chown (which clears them), security.capability and
 * trusted.* xattrs, whiteouts with trusted.overlay.opaque. Unprivileged, each
 * test reports itself skipped (ctest shows the file as skipped). */
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

static void need_root(void)
{
	if (geteuid() != 0)
		skip();
}

static void assert_owner(const struct env *e, const char *rel, uid_t uid, gid_t gid)
{
	struct stat st = tstat(e, rel);

	if (st.st_uid != uid || st.st_gid != gid)
		fail_msg("%s: owner %u:%u, want %u:%u", rel, st.st_uid, st.st_gid, uid, gid);
}

static void test_ownership_and_modes(void **state)
{
	struct env *e = *state;
	struct tw t = { 0 };
	struct stat st;

	need_root();
	tw_header(&t, &(struct th){ .name = "home/", .type = '5', .mode = 0755 });
	tw_header(&t, &(struct th){ .name = "home/app/", .type = '5', .mode = 02750, .uid = 1000,
				    .gid = 1000 });
	tw_header(&t, &(struct th){ .name = "home/app/file", .type = '0', .mode = 0640, .uid = 1000,
				    .gid = 1001, .size = 2 });
	tw_data(&t, "hi", 2);
	tw_header(&t, &(struct th){ .name = "home/app/link", .type = '2', .link = "file",
				    .uid = 1002, .gid = 1003 });
	tw_header(&t, &(struct th){ .name = "home/app/fifo", .type = '6', .mode = 0620, .uid = 1004,
				    .gid = 1005 });
	/* setuid to a non-root owner: the chown must come before the chmod */
	tw_header(&t, &(struct th){ .name = "suid", .type = '0', .mode = 04755, .uid = 1000,
				    .gid = 1000, .size = 1 });
	tw_data(&t, "s", 1);
	tw_header(&t, &(struct th){ .name = "sgid", .type = '0', .mode = 02755, .uid = 0, .gid = 50 });
	tw_header(&t, &(struct th){ .name = "rootsuid", .type = '0', .mode = 04755 });
	/* a large uid through PAX */
	tw_pax(&t, PAX("uid", "100000"), PAX("gid", "100001"), NULL);
	tw_file(&t, "bigid", "x");
	tw_end(&t);
	expect_ok(e, &t, ROOTFS_COMP_NONE, NULL, NULL);

	assert_owner(e, "home", 0, 0);
	assert_owner(e, "home/app", 1000, 1000);
	st = tstat(e, "home/app");
	assert_int_equal(st.st_mode & 07777, 02750);
	assert_owner(e, "home/app/file", 1000, 1001);
	assert_owner(e, "home/app/link", 1002, 1003);
	assert_owner(e, "home/app/fifo", 1004, 1005);
	assert_int_equal(tstat(e, "home/app/fifo").st_mode & 07777, 0620);
	assert_owner(e, "suid", 1000, 1000);
	assert_int_equal(tstat(e, "suid").st_mode & 07777, 04755);
	assert_owner(e, "sgid", 0, 50);
	assert_int_equal(tstat(e, "sgid").st_mode & 07777, 02755);
	assert_int_equal(tstat(e, "rootsuid").st_mode & 07777, 04755);
	assert_owner(e, "bigid", 100000, 100001);

	/* NO_CHOWN keeps our own ids */
	env_reset_target(e);
	{
		struct rootfs_unpack_opts o = { .flags = ROOTFS_UNPACK_NO_CHOWN };

		expect_ok(e, &t, ROOTFS_COMP_NONE, &o, NULL);
		assert_owner(e, "home/app/file", 0, 0);
		assert_int_equal(tstat(e, "suid").st_mode & 07777, 04755);
	}
	tw_free(&t);
}

/* cap_net_bind_service=ep as a VFS_CAP_REVISION_2 struct (little-endian) */
static const unsigned char cap_v2[20] = {
	0x01, 0x00, 0x00, 0x02,   /* magic 0x02000000 | VFS_CAP_FLAGS_EFFECTIVE */
	0x00, 0x04, 0x00, 0x00,   /* permitted[0]: bit 10 */
	0x00, 0x00, 0x00, 0x00,   /* inheritable[0] */
	0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00,
};

static void test_capability_and_trusted_xattrs(void **state)
{
	struct env *e = *state;
	char path[PATH_MAX + 16];
	unsigned char val[64];
	struct tw t = { 0 };
	ssize_t n;

	need_root();
	/* owned by 1000: the chown would drop the capability if it came after */
	tw_pax(&t, "SCHILY.xattr.security.capability", (const char *)cap_v2, sizeof(cap_v2),
	       PAX("SCHILY.xattr.trusted.berth", "t"), NULL);
	tw_header(&t, &(struct th){ .name = "ping", .type = '0', .mode = 04755, .uid = 1000,
				    .gid = 1000, .size = 4 });
	tw_data(&t, "ELF!", 4);
	tw_pax(&t, PAX("SCHILY.xattr.trusted.onlink", "l"), NULL);
	tw_symlink(&t, "link", "ping");
	tw_end(&t);
	expect_ok(e, &t, ROOTFS_COMP_NONE, NULL, NULL);

	snprintf(path, sizeof(path), "%s/ping", e->target);
	n = getxattr(path, "security.capability", val, sizeof(val));
	assert_int_equal(n, sizeof(cap_v2));
	assert_memory_equal(val, cap_v2, sizeof(cap_v2));
	n = getxattr(path, "trusted.berth", val, sizeof(val));
	assert_int_equal(n, 1);
	assert_int_equal(tstat(e, "ping").st_mode & 07777, 04755);
	snprintf(path, sizeof(path), "%s/link", e->target);
	n = lgetxattr(path, "trusted.onlink", val, sizeof(val));
	assert_int_equal(n, 1);
	assert_int_equal(val[0], 'l');
	tw_free(&t);
}

static void test_whiteouts_trusted(void **state)
{
	struct env *e = *state;
	char path[PATH_MAX + 16], val[8];
	struct tw t = { 0 };
	ssize_t n;

	need_root();
	tw_dir(&t, "etc/", 0755);
	tw_file(&t, "etc/.wh.motd", "");
	tw_dir(&t, "opt/", 0755);
	tw_dir(&t, "opt/old/", 0755);
	tw_file(&t, "opt/old/.wh..wh..opq", "");
	tw_file(&t, "opt/old/new", "n");
	/* at the root too */
	tw_file(&t, ".wh.srv", "");
	tw_end(&t);
	expect_ok(e, &t, ROOTFS_COMP_NONE, NULL, NULL);
	assert_true(S_ISCHR(tstat(e, "etc/motd").st_mode));
	assert_int_equal(tstat(e, "etc/motd").st_rdev, makedev(0, 0));
	assert_true(S_ISCHR(tstat(e, "srv").st_mode));
	snprintf(path, sizeof(path), "%s/opt/old", e->target);
	n = getxattr(path, "trusted.overlay.opaque", val, sizeof(val));
	assert_int_equal(n, 1);
	assert_int_equal(val[0], 'y');
	assert_true(getxattr(path, "user.overlay.opaque", val, sizeof(val)) < 0);
	assert_false(tpath_exists(e, "opt/old/.wh..wh..opq"));
	assert_false(tpath_exists(e, "etc/.wh.motd"));
	tw_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_ownership_and_modes),
		T(test_capability_and_trusted_xattrs),
		T(test_whiteouts_trusted),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
