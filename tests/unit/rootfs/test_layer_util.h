/* Helpers shared by the test_layer*.c unit tests: a tiny tar writer, gzip
 * (ISA-L) and zstd compressors, a scratch directory with a sentinel
 * "outside" directory next to the unpack target, and snapshots that show
 * nothing outside the target changed. Static functions: each test includes
 * this once. */
#ifndef BERTH_TEST_LAYER_UTIL_H
#define BERTH_TEST_LAYER_UTIL_H

/* each test uses some of these helpers */
#pragma GCC diagnostic ignored "-Wunused-function"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "rootfs/layer.h"
#include "common/fsutil.h"
#include "common/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <isa-l/igzip_lib.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <zstd.h>

/* ------------------------------------------------------------ tar writer */

struct tw {
	unsigned char *buf;
	size_t len, cap;
};

static void tw_raw(struct tw *t, const void *p, size_t n)
{
	if (n == 0)
		return;
	if (t->len + n > t->cap) {
		t->cap = (t->len + n) * 2 + 4096;
		t->buf = xrealloc(t->buf, t->cap);
	}
	memcpy(t->buf + t->len, p, n);
	t->len += n;
}

static void tw_pad(struct tw *t)
{
	static const unsigned char zero[512];

	if (t->len % 512)
		tw_raw(t, zero, 512 - t->len % 512);
}

static void octal(unsigned char *f, size_t n, uint64_t v)
{
	/* n-1 digits and a NUL */
	for (size_t i = n - 1; i-- > 0;) {
		f[i] = (unsigned char)('0' + (v & 7));
		v >>= 3;
	}
	f[n - 1] = '\0';
}

struct th {
	const char *name;       /* up to 100 bytes (longer: use prefix or PAX/GNU) */
	const char *prefix;     /* ustar prefix, or NULL */
	char type;
	uint32_t mode;
	uint64_t size;
	const char *link;
	uint32_t uid, gid;
	int64_t mtime;
	uint32_t major, minor;
	bool gnu;               /* GNU magic instead of POSIX ustar */
	bool bad_checksum;
};

static void tw_header(struct tw *t, const struct th *h)
{
	unsigned char b[512] = { 0 };
	unsigned sum = 0;

	strncpy((char *)b, h->name, 100);
	octal(b + 100, 8, h->mode);
	octal(b + 108, 8, h->uid);
	octal(b + 116, 8, h->gid);
	if (h->size > 077777777777ULL) {
		/* GNU base-256: a marker bit, then big-endian binary */
		uint64_t v = h->size;

		for (int i = 11; i >= 4; i--, v >>= 8)
			b[124 + i] = (unsigned char)v;
		b[124] = 0x80;
	} else {
		octal(b + 124, 12, h->size);
	}
	octal(b + 136, 12, (uint64_t)h->mtime);
	b[156] = (unsigned char)h->type;
	if (h->link)
		strncpy((char *)b + 157, h->link, 100);
	if (h->gnu)
		memcpy(b + 257, "ustar  \0", 8);
	else
		memcpy(b + 257, "ustar\0" "00", 8);
	strcpy((char *)b + 265, "root");
	strcpy((char *)b + 297, "root");
	octal(b + 329, 8, h->major);
	octal(b + 337, 8, h->minor);
	if (h->prefix)
		strncpy((char *)b + 345, h->prefix, 155);
	memset(b + 148, ' ', 8);
	for (int i = 0; i < 512; i++)
		sum += b[i];
	if (h->bad_checksum)
		sum++;
	octal(b + 148, 7, sum);
	b[155] = ' ';
	tw_raw(t, b, 512);
}

static void tw_data(struct tw *t, const void *p, size_t n)
{
	tw_raw(t, p, n);
	tw_pad(t);
}

#define TEST_MTIME 1500000000

static void tw_file_mode(struct tw *t, const char *name, const char *content, uint32_t mode)
{
	size_t n = content ? strlen(content) : 0;

	tw_header(t, &(struct th){ .name = name, .type = '0', .mode = mode, .size = n,
				   .mtime = TEST_MTIME });
	tw_data(t, content, n);
}

static void tw_file(struct tw *t, const char *name, const char *content)
{
	tw_file_mode(t, name, content, 0644);
}

static void tw_dir(struct tw *t, const char *name, uint32_t mode)
{
	tw_header(t, &(struct th){ .name = name, .type = '5', .mode = mode, .mtime = TEST_MTIME });
}

static void tw_symlink(struct tw *t, const char *name, const char *target)
{
	tw_header(t, &(struct th){ .name = name, .type = '2', .mode = 0777, .link = target,
				   .mtime = TEST_MTIME });
}

static void tw_hardlink(struct tw *t, const char *name, const char *target)
{
	tw_header(t, &(struct th){ .name = name, .type = '1', .mode = 0644, .link = target,
				   .mtime = TEST_MTIME });
}

/* A PAX 'x' header whose records are given as key, value (value may hold
 * NULs: pass its length), terminated by a NULL key. */
static void tw_pax(struct tw *t, ...)
{
	struct tw d = { 0 };
	va_list ap;

	va_start(ap, t);
	for (;;) {
		const char *key = va_arg(ap, const char *);
		const char *val;
		size_t vlen, klen, len, digits;
		char num[32];

		if (key == NULL)
			break;
		val = va_arg(ap, const char *);
		vlen = va_arg(ap, size_t);
		klen = strlen(key);
		/* len counts itself: find the fixed point */
		len = klen + vlen + 3;
		for (;;) {
			digits = (size_t)snprintf(num, sizeof(num), "%zu", len);
			if (digits + klen + vlen + 3 == len)
				break;
			len = digits + klen + vlen + 3;
		}
		tw_raw(&d, num, digits);
		tw_raw(&d, " ", 1);
		tw_raw(&d, key, klen);
		tw_raw(&d, "=", 1);
		tw_raw(&d, val, vlen);
		tw_raw(&d, "\n", 1);
	}
	va_end(ap);
	tw_header(t, &(struct th){ .name = "PaxHeaders/x", .type = 'x', .mode = 0644,
				   .size = d.len, .mtime = TEST_MTIME });
	tw_data(t, d.buf, d.len);
	free(d.buf);
}

#define PAX(k, v) (k), (v), strlen(v)

/* GNU 'L' (long name) or 'K' (long link name). */
static void tw_gnu_long(struct tw *t, char type, const char *name)
{
	size_t n = strlen(name) + 1;

	tw_header(t, &(struct th){ .name = "././@LongLink", .type = type, .mode = 0644, .size = n,
				   .gnu = true });
	tw_data(t, name, n);
}

static void tw_end(struct tw *t)
{
	static const unsigned char zero[1024];

	tw_raw(t, zero, sizeof(zero));
}

static void tw_free(struct tw *t)
{
	free(t->buf);
	t->buf = NULL;
	t->len = t->cap = 0;
}

/* ------------------------------------------------------------ compressors */

struct gz {
	struct isal_zstream s;
	struct tw out;
	unsigned char *level_buf;
};

static void gz_begin(struct gz *g)
{
	memset(g, 0, sizeof(*g));
	isal_deflate_init(&g->s);
	g->s.gzip_flag = IGZIP_GZIP;
	/* level 1: long runs of zeros shrink ~1000:1 (level 0 does not) */
	g->s.level = 1;
	g->level_buf = xmalloc(ISAL_DEF_LVL1_DEFAULT);
	g->s.level_buf = g->level_buf;
	g->s.level_buf_size = ISAL_DEF_LVL1_DEFAULT;
}

static void gz_run(struct gz *g, const void *p, size_t n, bool last)
{
	g->s.next_in = (uint8_t *)p;
	g->s.avail_in = (uint32_t)n;
	g->s.end_of_stream = last;
	g->s.flush = NO_FLUSH;
	do {
		unsigned char buf[65536];

		g->s.next_out = buf;
		g->s.avail_out = sizeof(buf);
		assert_int_equal(isal_deflate(&g->s), COMP_OK);
		tw_raw(&g->out, buf, sizeof(buf) - g->s.avail_out);
	} while (g->s.avail_in > 0 || (last && g->s.internal_state.state != ZSTATE_END));
	if (last) {
		free(g->level_buf);
		g->level_buf = NULL;
	}
}

static struct tw gzip_buf(const void *p, size_t n)
{
	struct gz g;

	gz_begin(&g);
	gz_run(&g, p, n, true);
	return g.out;
}

static struct tw zstd_buf(const void *p, size_t n)
{
	struct tw out = { 0 };
	size_t cap = ZSTD_compressBound(n), r;

	out.buf = xmalloc(cap);
	out.cap = cap;
	r = ZSTD_compress(out.buf, cap, p, n, 3);
	assert_false(ZSTD_isError(r));
	out.len = r;
	return out;
}

/* ------------------------------------------------------- scratch dirs */

struct env {
	char base[64];            /* mkdtemp */
	char target[PATH_MAX];    /* base/target: the layer directory */
	char outside[PATH_MAX];   /* base/outside: must never change */
	char nonexist[64];        /* "/berth-test-nonexistent-<random>" */
	int tfd;
	char *before;             /* snapshot of everything but target */
};

static char *snap_buf;
static size_t snap_len, snap_cap;
static size_t snap_skip_len;
static const char *snap_skip;

static void snap_add(const char *s)
{
	size_t n = strlen(s);

	if (snap_len + n + 1 > snap_cap) {
		snap_cap = (snap_len + n + 1) * 2;
		snap_buf = xrealloc(snap_buf, snap_cap);
	}
	memcpy(snap_buf + snap_len, s, n + 1);
	snap_len += n;
}

static int snap_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	char line[PATH_MAX + 200];

	(void)flag;
	(void)ftw;
	if (strncmp(path, snap_skip, snap_skip_len) == 0 &&
	    (path[snap_skip_len] == '\0' || path[snap_skip_len] == '/'))
		return FTW_SKIP_SUBTREE;
	snprintf(line, sizeof(line), "%s mode=%o uid=%u gid=%u size=%lld mtime=%lld.%09ld nlink=%lu\n",
		 path, st->st_mode, st->st_uid, st->st_gid, (long long)st->st_size,
		 (long long)st->st_mtim.tv_sec, st->st_mtim.tv_nsec, (unsigned long)st->st_nlink);
	snap_add(line);
	if (S_ISREG(st->st_mode)) {
		char *content = NULL;
		size_t len = 0;

		if (fs_read_file(path, &content, &len, 1 << 20, NULL) == 0) {
			snap_add(content);
			snap_add("\n");
		}
		free(content);
	}
	return FTW_CONTINUE;
}

/* Everything under base except target: paths, modes, owners, sizes, mtimes,
 * link counts and file contents. */
static char *snapshot(const struct env *e)
{
	snap_buf = NULL;
	snap_len = snap_cap = 0;
	snap_add("");
	snap_skip = e->target;
	snap_skip_len = strlen(e->target);
	assert_int_equal(nftw(e->base, snap_one, 16, FTW_PHYS | FTW_ACTIONRETVAL), 0);
	return snap_buf;
}

static void env_setup(struct env *e)
{
	uint64_t rnd;
	int fd;

	memset(e, 0, sizeof(*e));
	snprintf(e->base, sizeof(e->base), "/tmp/berth-test-layer-XXXXXX");
	assert_non_null(mkdtemp(e->base));
	snprintf(e->target, sizeof(e->target), "%s/target", e->base);
	snprintf(e->outside, sizeof(e->outside), "%s/outside", e->base);
	assert_int_equal(mkdir(e->target, 0755), 0);
	assert_int_equal(mkdir(e->outside, 0755), 0);
	{
		char p[PATH_MAX + 32];

		snprintf(p, sizeof(p), "%s/sentinel", e->outside);
		fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, "sentinel\n", 9), 9);
		close(fd);
		snprintf(p, sizeof(p), "%s/passwd", e->outside);
		fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, "root:x:0:0\n", 11), 11);
		close(fd);
	}
	assert_int_equal(getrandom(&rnd, sizeof(rnd), 0), (ssize_t)sizeof(rnd));
	snprintf(e->nonexist, sizeof(e->nonexist), "/berth-test-nonexistent-%016llx",
		 (unsigned long long)rnd);
	assert_true(access(e->nonexist, F_OK) < 0);
	e->tfd = open(e->target, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(e->tfd >= 0);
	e->before = snapshot(e);
}

/* Nothing outside target changed, and the nonexistent host path still is. */
static void env_check_outside(struct env *e)
{
	char *after = snapshot(e);

	assert_string_equal(e->before, after);
	free(after);
	assert_true(access(e->nonexist, F_OK) < 0);
}

static int make_removable(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)flag;
	(void)ftw;
	if (S_ISDIR(st->st_mode) && (st->st_mode & 0700) != 0700)
		(void)chmod(path, (st->st_mode & 07777) | 0700);
	return 0;
}

static void env_teardown(struct env *e)
{
	close(e->tfd);
	/* unpacked read-only directories (0555) stop an unprivileged rm -rf;
	 * nftw calls us before entering each directory */
	nftw(e->base, make_removable, 16, FTW_PHYS);
	assert_int_equal(fs_rm_rf_at(AT_FDCWD, e->base, NULL), 0);
	free(e->before);
}

/* Empty the target for the next case and take a new "before" snapshot
 * (removing and recreating target changes base's own mtime). */
static void env_reset_target(struct env *e)
{
	close(e->tfd);
	assert_int_equal(fs_rm_rf_at(AT_FDCWD, e->target, NULL), 0);
	assert_int_equal(mkdir(e->target, 0755), 0);
	e->tfd = open(e->target, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(e->tfd >= 0);
	free(e->before);
	e->before = snapshot(e);
}

/* Unpack buf as a layer blob (through a memfd) into e->target. */
static int env_unpack(struct env *e, const void *buf, size_t len, enum rootfs_compression comp,
		      const struct rootfs_unpack_opts *opts, struct rootfs_unpack_result *res,
		      struct berr **err)
{
	struct rootfs_unpack_opts o = opts ? *opts : (struct rootfs_unpack_opts){ 0 };
	struct rootfs_unpack_result r;
	int fd = memfd_create("layer", MFD_CLOEXEC), ret;

	assert_true(fd >= 0);
	assert_int_equal(fs_write_all(fd, buf, len), 0);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	/* unprivileged runs cannot chown to the archive's owners */
	if (geteuid() != 0)
		o.flags |= ROOTFS_UNPACK_NO_CHOWN;
	ret = rootfs_layer_unpack(fd, comp, e->tfd, &o, res ? res : &r, err);
	close(fd);
	return ret;
}

/* The unpack fails, its message contains `want`, nothing outside changed. */
static void expect_fail(struct env *e, const struct tw *t, enum rootfs_compression comp,
			const struct rootfs_unpack_opts *opts, const char *want)
{
	struct berr *err = NULL;
	int ret = env_unpack(e, t->buf, t->len, comp, opts, NULL, &err);

	if (ret >= 0)
		fail_msg("unpack succeeded, expected an error containing \"%s\"", want);
	if (strstr(berr_msg(err), want) == NULL)
		fail_msg("error \"%s\" does not contain \"%s\"", berr_msg(err), want);
	berr_free(err);
	env_check_outside(e);
}

static void expect_ok(struct env *e, const struct tw *t, enum rootfs_compression comp,
		      const struct rootfs_unpack_opts *opts, struct rootfs_unpack_result *res)
{
	struct berr *err = NULL;

	if (env_unpack(e, t->buf, t->len, comp, opts, res, &err) < 0)
		fail_msg("unpack failed: %s", berr_msg(err));
	env_check_outside(e);
}

static bool tpath_exists(const struct env *e, const char *rel)
{
	struct stat st;

	return fstatat(e->tfd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static struct stat tstat(const struct env *e, const char *rel)
{
	struct stat st;

	if (fstatat(e->tfd, rel, &st, AT_SYMLINK_NOFOLLOW) < 0)
		fail_msg("stat %s: %s", rel, strerror(errno));
	return st;
}

static char *tread(const struct env *e, const char *rel)
{
	char *s = NULL;

	if (fs_read_file_at(e->tfd, rel, &s, NULL, 1 << 24, NULL) < 0)
		fail_msg("read %s", rel);
	return s;
}

#endif
