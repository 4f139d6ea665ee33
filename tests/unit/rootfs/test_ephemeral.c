/* Unit tests for rootfs/ephemeral.c: the parts that need no privilege.
 *
 * Size and id validation, configuration, the image size, stale detection
 * over a fake tree (base dir, mountinfo and /sys/block written by the test),
 * cleanup of stale entries that are not mounted, and creation failing
 * before anything privileged: every failure must leave nothing behind.
 * Mounting, loop devices and quotas are tested in the VM
 * (tests/vm/cases/ephemeral_*.sh). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/xalloc.h"
#include "rootfs/ephemeral.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#define MIB ROOTFS_EPHEMERAL_MIB
#define GIB ROOTFS_EPHEMERAL_GIB

static char *tmp;   /* per test */

static int setup(void **state)
{
	(void)state;
	tmp = xstrdup("/tmp/berth-test-ephemeral.XXXXXX");
	return mkdtemp(tmp) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	fs_rm_rf_at(AT_FDCWD, tmp, NULL);
	free(tmp);
	return 0;
}

/* path's parent made as needed */
static void write_file(const char *path, const char *content)
{
	cleanup_free char *dir = xstrdup(path);
	FILE *f;

	*strrchr(dir, '/') = '\0';
	assert_int_equal(fs_mkdir_p(dir, 0755, NULL), 0);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
}

static void mkdirs(const char *path)
{
	assert_int_equal(fs_mkdir_p(path, 0755, NULL), 0);
}

static bool exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static size_t count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static bool on_xfs(void)
{
	struct statfs sf;

	return statfs(tmp, &sf) == 0 && sf.f_type == 0x58465342;
}

static void test_config(void **state)
{
	struct rootfs_ephemeral_config cfg;
	enum rootfs_ephemeral_mech m;
	enum rootfs_ephemeral_fstype t;

	(void)state;
	rootfs_ephemeral_config_init(&cfg, "/var/lib/berth/ephemeral");
	assert_string_equal(cfg.base_dir, "/var/lib/berth/ephemeral");
	assert_int_equal(cfg.mech, ROOTFS_EPHEMERAL_LOOP);
	assert_int_equal(cfg.fstype, ROOTFS_EPHEMERAL_EXT4);
	assert_true(cfg.default_bytes == 20 * GIB);
	assert_true(cfg.min_bytes == 21 * GIB);
	assert_true(cfg.max_bytes == 200 * GIB);
	assert_false(cfg.allow_mib);
	assert_true(cfg.direct_io);
	assert_true(cfg.projid_min > 0 && cfg.projid_min <= cfg.projid_max);
	assert_null(cfg.task_alive);
	assert_int_equal(cfg.fault_step, 0);
	assert_false(cfg.fault_crash);
	assert_false(cfg.loop_legacy);

	assert_int_equal(rootfs_ephemeral_mech_parse("prjquota", &m), 0);
	assert_int_equal(m, ROOTFS_EPHEMERAL_PRJQUOTA);
	assert_string_equal(rootfs_ephemeral_mech_name(m), "prjquota");
	assert_int_equal(rootfs_ephemeral_mech_parse("loop", &m), 0);
	assert_int_equal(m, ROOTFS_EPHEMERAL_LOOP);
	assert_string_equal(rootfs_ephemeral_mech_name(m), "loop");
	assert_int_equal(rootfs_ephemeral_mech_parse("quota", &m), -1);
	assert_int_equal(rootfs_ephemeral_fstype_parse("xfs", &t), 0);
	assert_string_equal(rootfs_ephemeral_fstype_name(t), "xfs");
	assert_int_equal(rootfs_ephemeral_fstype_parse("ext4", &t), 0);
	assert_string_equal(rootfs_ephemeral_fstype_name(t), "ext4");
	assert_int_equal(rootfs_ephemeral_fstype_parse("btrfs", &t), -1);
}

static void test_size_from_gib(void **state)
{
	struct rootfs_ephemeral_config cfg;
	struct berr *err = NULL;
	uint64_t b = 0;

	(void)state;
	rootfs_ephemeral_config_init(&cfg, "/x");
	assert_int_equal(rootfs_ephemeral_size_from_gib(&cfg, false, 0, &b, &err), 0);
	assert_true(b == 20 * GIB);
	assert_int_equal(rootfs_ephemeral_size_from_gib(&cfg, true, 21, &b, &err), 0);
	assert_true(b == 21 * GIB);
	assert_int_equal(rootfs_ephemeral_size_from_gib(&cfg, true, 200, &b, &err), 0);
	assert_true(b == 200 * GIB);

	b = 7;
	assert_true(rootfs_ephemeral_size_from_gib(&cfg, true, 300, &b, &err) < 0);
	assert_string_equal(berr_msg(err), "ephemeralStorage.sizeInGiB: 300 out of range [21, 200]");
	assert_true(b == 7);   /* untouched on error */
	/* Fargate's default is 20, yet an explicit 20 is out of range */
	assert_true(rootfs_ephemeral_size_from_gib(&cfg, true, 20, &b, &err) < 0);
	assert_string_equal(berr_msg(err), "ephemeralStorage.sizeInGiB: 20 out of range [21, 200]");
	assert_true(rootfs_ephemeral_size_from_gib(&cfg, true, -1, &b, &err) < 0);
	assert_string_equal(berr_msg(err), "ephemeralStorage.sizeInGiB: -1 out of range [21, 200]");
	/* no overflow into range */
	assert_true(rootfs_ephemeral_size_from_gib(&cfg, true, INT64_MAX, &b, &err) < 0);
	assert_true(rootfs_ephemeral_size_from_gib(&cfg, true, (int64_t)(UINT64_MAX / GIB) + 1, &b, &err) < 0);

	/* test bounds in MiB */
	cfg.min_bytes = 16 * MIB;
	cfg.max_bytes = 1536 * MIB;
	cfg.allow_mib = true;
	assert_int_equal(rootfs_ephemeral_size_from_gib(&cfg, true, 1, &b, &err), 0);
	assert_true(b == GIB);
	assert_true(rootfs_ephemeral_size_from_gib(&cfg, true, 2, &b, &err) < 0);
	assert_string_equal(berr_msg(err), "ephemeralStorage.sizeInGiB: 2 out of range [16 MiB, 1536 MiB]");
	berr_clear(&err);
}

static void test_check_size(void **state)
{
	struct rootfs_ephemeral_config cfg;
	struct berr *err = NULL;

	(void)state;
	rootfs_ephemeral_config_init(&cfg, "/x");
	assert_int_equal(rootfs_ephemeral_check_size(&cfg, 20 * GIB, &err), 0);   /* the default */
	assert_int_equal(rootfs_ephemeral_check_size(&cfg, 21 * GIB, &err), 0);
	assert_int_equal(rootfs_ephemeral_check_size(&cfg, 200 * GIB, &err), 0);
	assert_int_equal(rootfs_ephemeral_check_size(&cfg, 300 * GIB, &err), -1);
	assert_string_equal(berr_msg(err), "ephemeralStorage.sizeInGiB: 300 out of range [21, 200]");
	assert_int_equal(rootfs_ephemeral_check_size(&cfg, 10 * GIB, &err), -1);
	assert_string_equal(berr_msg(err), "ephemeralStorage.sizeInGiB: 10 out of range [21, 200]");
	assert_int_equal(rootfs_ephemeral_check_size(&cfg, 21 * GIB + MIB, &err), -1);
	assert_string_equal(berr_msg(err), "ephemeral storage size 22549626880 bytes: not a whole "
			    "number of GiB");
	assert_int_equal(rootfs_ephemeral_check_size(&cfg, 0, &err), -1);

	cfg.min_bytes = 16 * MIB;
	cfg.max_bytes = 512 * MIB;
	cfg.default_bytes = 64 * MIB;
	cfg.allow_mib = true;
	assert_int_equal(rootfs_ephemeral_check_size(&cfg, 16 * MIB, &err), 0);
	assert_int_equal(rootfs_ephemeral_check_size(&cfg, 100 * MIB, &err), 0);
	assert_int_equal(rootfs_ephemeral_check_size(&cfg, 8 * MIB, &err), -1);
	assert_string_equal(berr_msg(err), "ephemeral storage size 8 MiB out of range [16 MiB, 512 MiB]");
	assert_int_equal(rootfs_ephemeral_check_size(&cfg, 16 * MIB + 4096, &err), -1);
	assert_int_equal(rootfs_ephemeral_check_size(&cfg, GIB, &err), -1);
	/* xfs cannot be made that small */
	cfg.fstype = ROOTFS_EPHEMERAL_XFS;
	assert_int_equal(rootfs_ephemeral_check_size(&cfg, 100 * MIB, &err), -1);
	assert_non_null(strstr(berr_msg(err), "xfs volumes need at least 300 MiB"));
	cfg.mech = ROOTFS_EPHEMERAL_PRJQUOTA;   /* not a filesystem of its own: fine */
	assert_int_equal(rootfs_ephemeral_check_size(&cfg, 100 * MIB, &err), 0);
	berr_clear(&err);
}

static void test_task_id(void **state)
{
	struct berr *err = NULL;
	char long_id[ROOTFS_EPHEMERAL_ID_MAX + 2];

	(void)state;
	assert_int_equal(rootfs_ephemeral_check_task_id("0123456789abcdef0123456789abcdef", &err), 0);
	assert_int_equal(rootfs_ephemeral_check_task_id("web_1.task-a", &err), 0);
	assert_int_equal(rootfs_ephemeral_check_task_id("a", &err), 0);
	const char *bad[] = { "", ".", "..", ".hidden", "a/b", "../x", "a b", "a\nb", "tâche" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(rootfs_ephemeral_check_task_id(bad[i], &err), -1);
		assert_non_null(strstr(berr_msg(err), "task id"));
	}
	assert_int_equal(rootfs_ephemeral_check_task_id(NULL, &err), -1);
	memset(long_id, 'a', sizeof(long_id) - 1);
	long_id[sizeof(long_id) - 1] = '\0';
	assert_int_equal(rootfs_ephemeral_check_task_id(long_id, &err), -1);
	long_id[ROOTFS_EPHEMERAL_ID_MAX] = '\0';
	assert_int_equal(rootfs_ephemeral_check_task_id(long_id, &err), 0);
	berr_clear(&err);
}

static void test_image_size(void **state)
{
	const uint64_t sizes[] = { 16 * MIB, 64 * MIB, 300 * MIB, GIB, 20 * GIB, 21 * GIB, 200 * GIB };

	(void)state;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint64_t b = sizes[i];
		uint64_t e = rootfs_ephemeral_image_size(ROOTFS_EPHEMERAL_EXT4, b);
		uint64_t x = rootfs_ephemeral_image_size(ROOTFS_EPHEMERAL_XFS, b);

		/* room for ext4's 1/64 of inode tables, never wildly more */
		assert_true(e % MIB == 0);
		assert_true(e >= b + b / 62);
		assert_true(e <= b + b / 20 + 18 * MIB);
		assert_true(x % MIB == 0);
		assert_true(x >= b + 64 * MIB);
	}
	/* 20 GiB: the file is within 1% of the size asked for */
	assert_true(rootfs_ephemeral_image_size(ROOTFS_EPHEMERAL_EXT4, 20 * GIB) < 20 * GIB + 20 * GIB / 50);
}

/* A fake tree: BASE (with a space in its name, as mountinfo escapes it),
 * a mountinfo and /sys/block describing
 *   aaa: entry + image, mounted on BASE/aaa/fs from loop3, an overlay at
 *        /run/berth/tasks/aaa/rootfs/web with its upper dir inside
 *   bbb: entry, mounted, alive
 *   ccc: an entry only (crash before anything else)
 *   ddd: no entry, but loop5 still bound to its deleted image
 *   eee: a mount below BASE/eee with no entry left (mkdir'd elsewhere)
 * plus things that are not ours: BASE/.lock, BASE/not an id, a plain file,
 * a loop bound to another file, mounts elsewhere. */
struct fake {
	char *base, *mountinfo, *sysblk;
};

static void fake_tree(struct fake *f)
{
	cleanup_free char *p = NULL;
	cleanup_free char *mi = NULL;
	const char *esc;
	char ebase[512];
	size_t w = 0;

	f->base = xasprintf("%s/eph base", tmp);
	f->mountinfo = xasprintf("%s/mountinfo", tmp);
	f->sysblk = xasprintf("%s/sys/block", tmp);
	/* the base as the kernel writes it in mountinfo */
	for (esc = f->base; *esc && w + 5 < sizeof(ebase); esc++) {
		if (*esc == ' ') {
			memcpy(ebase + w, "\\040", 4);
			w += 4;
		} else {
			ebase[w++] = *esc;
		}
	}
	ebase[w] = '\0';

	for (const char *id = "aaa"; id; id = strcmp(id, "aaa") == 0 ? "bbb" : strcmp(id, "bbb") == 0 ? "ccc" : NULL) {
		free(p);
		p = xasprintf("%s/%s/fs", f->base, id);
		mkdirs(p);
	}
	free(p);
	p = xasprintf("%s/aaa/disk.img", f->base);
	write_file(p, "");
	free(p);
	p = xasprintf("%s/aaa/fs/upper/web/etc", f->base);
	mkdirs(p);
	free(p);
	p = xasprintf("%s/.lock", f->base);
	write_file(p, "");
	free(p);
	p = xasprintf("%s/not an id", f->base);
	mkdirs(p);
	free(p);
	p = xasprintf("%s/plainfile", f->base);
	write_file(p, "x");

	mi = xasprintf(
		"22 1 0:21 / / rw,relatime shared:1 - tmpfs tmpfs rw\n"
		"30 22 0:26 / /proc rw shared:5 - proc proc rw\n"
		"40 22 7:3 / %s/aaa/fs rw,nodev,relatime shared:9 - ext4 /dev/loop3 rw\n"
		"41 22 7:4 / %s/bbb/fs rw,nodev,relatime shared:10 - ext4 /dev/loop4 rw\n"
		"42 22 0:40 / /run/berth/tasks/aaa/rootfs/web rw,relatime shared:11 - overlay overlay "
		"rw,lowerdir=/var/lib/berth/layers/x,upperdir=%s/aaa/fs/upper/web,workdir=%s/aaa/fs/work/web\n"
		"43 22 0:41 / /run/berth/tasks/zzz/rootfs/web rw,relatime shared:12 - overlay overlay "
		"rw,lowerdir=/l,upperdir=/elsewhere/upper,workdir=/elsewhere/work\n"
		"44 40 0:42 / %s/aaa/fs/vol/data rw shared:13 - tmpfs tmpfs rw\n"
		"45 22 0:43 / %s/eee/fs rw shared:14 - tmpfs tmpfs rw\n"
		"46 22 0:44 / %sother/x rw shared:15 - tmpfs tmpfs rw\n"
		"47 22 0:45 / %s/.hidden/fs rw shared:16 - tmpfs tmpfs rw\n"
		"garbage line\n",
		ebase, ebase, ebase, ebase, ebase, ebase, ebase, ebase);
	write_file(f->mountinfo, mi);

	free(p);
	p = xasprintf("%s/loop3/loop/backing_file", f->sysblk);
	free(mi);
	mi = xasprintf("%s/aaa/disk.img\n", f->base);
	write_file(p, mi);
	free(p);
	p = xasprintf("%s/loop4/loop/backing_file", f->sysblk);
	free(mi);
	mi = xasprintf("%s/bbb/disk.img\n", f->base);
	write_file(p, mi);
	free(p);
	p = xasprintf("%s/loop5/loop/backing_file", f->sysblk);
	free(mi);
	mi = xasprintf("%s/ddd/disk.img (deleted)\n", f->base);
	write_file(p, mi);
	free(p);
	p = xasprintf("%s/loop6/loop/backing_file", f->sysblk);   /* another user's file */
	write_file(p, "/srv/images/vm.img\n");
	free(p);
	p = xasprintf("%s/loop7", f->sysblk);   /* unbound */
	mkdirs(p);
	free(p);
	p = xasprintf("%s/loop8/loop/backing_file", f->sysblk);   /* in base, not an image */
	free(mi);
	mi = xasprintf("%s/fff/other.img\n", f->base);
	write_file(p, mi);
	free(p);
	p = xasprintf("%s/sda", f->sysblk);
	mkdirs(p);
}

static void fake_free(struct fake *f)
{
	free(f->base);
	free(f->mountinfo);
	free(f->sysblk);
}

static bool alive_bbb(const char *id, void *data)
{
	int *calls = data;

	(*calls)++;
	return strcmp(id, "bbb") == 0;
}

static void test_find_stale(void **state)
{
	struct rootfs_ephemeral_config cfg;
	struct rootfs_ephemeral_stale *s = NULL;
	struct berr *err = NULL;
	struct fake f;
	size_t n = 0;
	int calls = 0;
	cleanup_free char *m_aaa = NULL, *m_vol = NULL, *m_eee = NULL;

	(void)state;
	fake_tree(&f);
	rootfs_ephemeral_config_init(&cfg, f.base);
	cfg.mountinfo_path = f.mountinfo;
	cfg.sys_block_path = f.sysblk;
	cfg.task_alive = alive_bbb;
	cfg.task_alive_data = &calls;

	assert_int_equal(rootfs_ephemeral_find_stale(&cfg, &s, &n, &err), 0);
	assert_int_equal(n, 4);
	assert_true(calls >= 5);   /* asked about aaa bbb ccc ddd eee */

	m_aaa = xasprintf("%s/aaa/fs", f.base);
	m_vol = xasprintf("%s/aaa/fs/vol/data", f.base);
	m_eee = xasprintf("%s/eee/fs", f.base);
	/* sorted; aaa: newest mount first (the tmpfs inside, then the
	 * overlay, then the volume) and its loop */
	assert_string_equal(s[0].task_id, "aaa");
	assert_true(s[0].has_entry);
	assert_non_null(s[0].mounts[0]);
	assert_string_equal(s[0].mounts[0], m_vol);
	assert_string_equal(s[0].mounts[1], "/run/berth/tasks/aaa/rootfs/web");
	assert_string_equal(s[0].mounts[2], m_aaa);
	assert_null(s[0].mounts[3]);
	assert_int_equal(s[0].n_loops, 1);
	assert_int_equal(s[0].loops[0], 3);
	assert_int_equal(s[0].projid, 0);

	assert_string_equal(s[1].task_id, "ccc");
	assert_true(s[1].has_entry);
	assert_null(s[1].mounts[0]);
	assert_int_equal(s[1].n_loops, 0);

	assert_string_equal(s[2].task_id, "ddd");
	assert_false(s[2].has_entry);
	assert_null(s[2].mounts[0]);
	assert_int_equal(s[2].n_loops, 1);
	assert_int_equal(s[2].loops[0], 5);

	assert_string_equal(s[3].task_id, "eee");
	assert_false(s[3].has_entry);
	assert_string_equal(s[3].mounts[0], m_eee);
	assert_null(s[3].mounts[1]);
	rootfs_ephemeral_stale_free(s, n);

	/* without task_alive every volume is stale */
	cfg.task_alive = NULL;
	assert_int_equal(rootfs_ephemeral_find_stale(&cfg, &s, &n, &err), 0);
	assert_int_equal(n, 5);
	assert_string_equal(s[1].task_id, "bbb");
	assert_int_equal(s[1].n_loops, 1);
	assert_int_equal(s[1].loops[0], 4);
	rootfs_ephemeral_stale_free(s, n);

	/* finding changes nothing */
	assert_true(exists(m_aaa));
	assert_int_equal(count_entries(f.base), 6);

	/* a missing mount table is an error, a missing base dir is not */
	cfg.mountinfo_path = "/nonexistent/mountinfo";
	assert_true(rootfs_ephemeral_find_stale(&cfg, &s, &n, &err) < 0);
	assert_non_null(strstr(berr_msg(err), "mount table"));
	cfg.mountinfo_path = f.mountinfo;
	cfg.base_dir = "/nonexistent/berth/ephemeral";
	assert_int_equal(rootfs_ephemeral_find_stale(&cfg, &s, &n, &err), 0);
	assert_int_equal(n, 0);
	assert_null(s);
	berr_clear(&err);
	fake_free(&f);
}

/* cleanup_stale removes stale entries that are not mounted and keeps the
 * live ones; nothing here needs privilege (no mounts in the fake table
 * under this base, no loop devices). */
static void test_cleanup_unmounted(void **state)
{
	struct rootfs_ephemeral_config cfg;
	struct berr *err = NULL;
	cleanup_free char *base = xasprintf("%s/base", tmp);
	cleanup_free char *mi = xasprintf("%s/mountinfo", tmp);
	cleanup_free char *sysblk = xasprintf("%s/sys/block", tmp);
	cleanup_free char *p = NULL;
	int calls = 0;

	(void)state;
	if (on_xfs())
		skip();   /* cleanup would look at this host's XFS project quotas */
	for (const char *d = "bbb/fs/upper/web/usr/bin"; d; d = strcmp(d, "bbb/fs/upper/web/usr/bin") == 0 ? "ccc/fs/work" : strcmp(d, "ccc/fs/work") == 0 ? "ddd" : NULL) {
		free(p);
		p = xasprintf("%s/%s", base, d);
		mkdirs(p);
	}
	free(p);
	p = xasprintf("%s/ccc/disk.img", base);
	write_file(p, "not really an image");
	free(p);
	p = xasprintf("%s/.lock", base);
	write_file(p, "");
	mkdirs(sysblk);
	write_file(mi, "22 1 0:21 / / rw,relatime shared:1 - tmpfs tmpfs rw\n");

	rootfs_ephemeral_config_init(&cfg, base);
	cfg.mountinfo_path = mi;
	cfg.sys_block_path = sysblk;
	cfg.task_alive = alive_bbb;
	cfg.task_alive_data = &calls;
	assert_int_equal(rootfs_ephemeral_cleanup_stale(&cfg, &err), 2);
	free(p);
	p = xasprintf("%s/bbb/fs/upper/web/usr/bin", base);
	assert_true(exists(p));
	free(p);
	p = xasprintf("%s/ccc", base);
	assert_false(exists(p));
	free(p);
	p = xasprintf("%s/ddd", base);
	assert_false(exists(p));
	free(p);
	p = xasprintf("%s/.lock", base);
	assert_true(exists(p));
	/* again: nothing left to do */
	assert_int_equal(rootfs_ephemeral_cleanup_stale(&cfg, &err), 0);

	/* remove() by id: the live one too, when asked; a missing one is fine */
	assert_int_equal(rootfs_ephemeral_remove(&cfg, "bbb", &err), 0);
	free(p);
	p = xasprintf("%s/bbb", base);
	assert_false(exists(p));
	assert_int_equal(rootfs_ephemeral_remove(&cfg, "nothere", &err), 0);
	assert_int_equal(rootfs_ephemeral_remove(&cfg, "../x", &err), -1);
	assert_non_null(strstr(berr_msg(err), "task id \"../x\""));
	assert_int_equal(count_entries(base), 1);   /* .lock */

	/* a base dir that does not exist: nothing to clean */
	cfg.base_dir = "/nonexistent/berth/ephemeral";
	assert_int_equal(rootfs_ephemeral_cleanup_stale(&cfg, &err), 0);
	berr_clear(&err);
}

static const char *find_mkfs_ext4(void)
{
	static const char *const cands[] = { "/usr/sbin/mkfs.ext4", "/sbin/mkfs.ext4" };

	for (size_t i = 0; i < sizeof(cands) / sizeof(cands[0]); i++)
		if (access(cands[i], X_OK) == 0)
			return cands[i];
	return NULL;
}

/* Creation that fails before it would touch a loop device, a mount or a
 * quota: each failure leaves the base dir as it was. */
static void test_create_fails_cleanly(void **state)
{
	struct rootfs_ephemeral_config cfg;
	struct rootfs_ephemeral *v = NULL;
	struct berr *err = NULL;
	cleanup_free char *base = xasprintf("%s/base", tmp);
	cleanup_free char *file = xasprintf("%s/file", tmp);
	cleanup_free char *under_file = xasprintf("%s/file/base", tmp);
	cleanup_free char *existing = xasprintf("%s/base/taken/fs/keep", tmp);
	const char *mkfs = find_mkfs_ext4();

	(void)state;
	rootfs_ephemeral_config_init(&cfg, base);
	cfg.min_bytes = 16 * MIB;
	cfg.max_bytes = 256 * MIB;
	cfg.allow_mib = true;

	/* bad input: refused before the base dir is even made */
	assert_true(rootfs_ephemeral_create(&cfg, "a/b", 64 * MIB, &v, &err) < 0);
	assert_non_null(strstr(berr_msg(err), "task id"));
	assert_true(rootfs_ephemeral_create(&cfg, "t1", 1024 * MIB, &v, &err) < 0);
	assert_string_equal(berr_msg(err), "ephemeral storage: ephemeral storage size 1024 MiB out of "
			    "range [16 MiB, 256 MiB]");
	assert_false(exists(base));
	cfg.base_dir = "relative/dir";
	assert_true(rootfs_ephemeral_create(&cfg, "t1", 64 * MIB, &v, &err) < 0);
	assert_non_null(strstr(berr_msg(err), "want an absolute path"));
	assert_null(v);

	/* a base dir that cannot be made */
	write_file(file, "x");
	cfg.base_dir = under_file;
	assert_int_equal(rootfs_ephemeral_create(&cfg, "t1", 64 * MIB, &v, &err), -ENOTDIR);
	assert_non_null(strstr(berr_msg(err), "ephemeral storage of task t1"));

	/* an existing volume is neither replaced nor removed */
	cfg.base_dir = base;
	write_file(existing, "data");
	assert_int_equal(rootfs_ephemeral_create(&cfg, "taken", 64 * MIB, &v, &err), -EEXIST);
	assert_non_null(strstr(berr_msg(err), "already exists"));
	assert_true(exists(existing));
	assert_null(v);

	/* mkfs fails, or is missing: the image and the entry go */
	cfg.mkfs_ext4 = "/bin/false";
	assert_true(rootfs_ephemeral_create(&cfg, "t1", 64 * MIB, &v, &err) < 0);
	assert_non_null(strstr(berr_msg(err), "/bin/false on "));
	assert_non_null(strstr(berr_msg(err), "exited with status 1"));
	assert_int_equal(count_entries(base), 1);   /* taken */
	cfg.mkfs_ext4 = "/nonexistent/mkfs.ext4";
	assert_int_equal(rootfs_ephemeral_create(&cfg, "t1", 64 * MIB, &v, &err), -ENOENT);
	assert_non_null(strstr(berr_msg(err), "run /nonexistent/mkfs.ext4"));
	assert_int_equal(count_entries(base), 1);

	/* injected failures after each step before the loop device */
	cfg.mkfs_ext4 = "/bin/true";
	for (int step = 1; step <= 4; step++) {
		cfg.fault_step = step;
		if (step == 4) {
			if (mkfs == NULL)
				break;   /* checked in the VM (ephemeral_rollback) */
			cfg.mkfs_ext4 = mkfs;
		}
		assert_int_equal(rootfs_ephemeral_create(&cfg, "t1", 64 * MIB, &v, &err), -EIO);
		assert_non_null(strstr(berr_msg(err), "injected fault after step"));
		assert_int_equal(count_entries(base), 1);
		assert_null(v);
	}

	/* prjquota on a filesystem that is not XFS: refused, nothing made */
	if (!on_xfs()) {
		cfg.fault_step = 0;
		cfg.mech = ROOTFS_EPHEMERAL_PRJQUOTA;
		assert_int_equal(rootfs_ephemeral_create(&cfg, "t2", 64 * MIB, &v, &err), -EOPNOTSUPP);
		assert_non_null(strstr(berr_msg(err), "prjquota volumes need XFS"));
		assert_int_equal(count_entries(base), 1);
	}
	berr_clear(&err);
}

/* open() of a volume that is not there, or not mounted */
static void test_open_missing(void **state)
{
	struct rootfs_ephemeral_config cfg;
	struct rootfs_ephemeral *v = NULL;
	struct berr *err = NULL;
	cleanup_free char *base = xasprintf("%s/base", tmp);
	cleanup_free char *fs = xasprintf("%s/base/t1/fs", tmp);
	cleanup_free char *mi = xasprintf("%s/mountinfo", tmp);

	(void)state;
	rootfs_ephemeral_config_init(&cfg, base);
	write_file(mi, "22 1 0:21 / / rw,relatime shared:1 - tmpfs tmpfs rw\n");
	cfg.mountinfo_path = mi;
	mkdirs(base);
	assert_int_equal(rootfs_ephemeral_open(&cfg, "t1", &v, &err), -ENOENT);
	mkdirs(fs);
	assert_int_equal(rootfs_ephemeral_open(&cfg, "t1", &v, &err), -ENOENT);
	assert_non_null(strstr(berr_msg(err), "is not mounted from a loop device"));
	assert_null(v);
	assert_int_equal(rootfs_ephemeral_destroy(NULL, &err), 0);
	berr_clear(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_size_from_gib),
		cmocka_unit_test(test_check_size),
		cmocka_unit_test(test_task_id),
		cmocka_unit_test(test_image_size),
		cmocka_unit_test_setup_teardown(test_find_stale, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cleanup_unmounted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_fails_cleanly, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_missing, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
