/* rootfs/tar.c on its own: the same archive read from sources that hand out
 * runs of 1, 3, 7, 512, 4096 bytes or all at once (headers and PAX records
 * split anywhere) parses identically; a truncation of it is an error or a
 * clean end, never a crash or a made-up entry. */
#include "test_layer_util.h"
#include "rootfs/digest.h"
#include "rootfs/tar.h"

struct src {
	const unsigned char *buf;
	size_t len, pos, run;
};

static int src_next(void *ctx, const unsigned char **p, size_t *len, struct berr **err)
{
	struct src *s = ctx;
	size_t n = s->len - s->pos < s->run ? s->len - s->pos : s->run;

	(void)err;
	*p = s->buf + s->pos;
	*len = n;
	s->pos += n;
	return 0;
}

/* One line per entry: type, name, link, size, mode, ids, mtime, xattrs,
 * sha256 of the data. */
static int parse(const unsigned char *buf, size_t len, size_t run, char **out, struct berr **err)
{
	struct src s = { buf, len, 0, run };
	struct rootfs_tar_reader *r = rootfs_tar_reader_new(src_next, &s);
	struct rootfs_tar_entry *e;
	size_t olen = 0, ocap = 0;
	int ret;

	*out = NULL;
	while ((ret = rootfs_tar_next(r, &e, err)) == 1) {
		struct rootfs_sha256 *h = rootfs_sha256_new();
		struct rootfs_digest d;
		char line[4096];
		int n;

		for (;;) {
			const unsigned char *p;
			size_t k;

			ret = rootfs_tar_read(r, &p, &k, err);
			if (ret < 0 || k == 0)
				break;
			rootfs_sha256_update(h, p, k);
		}
		rootfs_sha256_final(h, &d);
		rootfs_sha256_free(h);
		if (ret < 0)
			break;
		n = snprintf(line, sizeof(line), "%d %.300s -> %.300s size=%llu mode=%o %llu:%llu t=%lld.%09ld x=%zu",
			     (int)e->type, e->name, e->linkname, (unsigned long long)e->size, e->mode,
			     (unsigned long long)e->uid, (unsigned long long)e->gid,
			     (long long)e->mtime.tv_sec, e->mtime.tv_nsec, e->n_xattrs);
		for (size_t i = 0; i < e->n_xattrs && n < 3000; i++)
			n += snprintf(line + n, sizeof(line) - (size_t)n, " %s=%zu", e->xattrs[i].name,
				      e->xattrs[i].len);
		snprintf(line + n, sizeof(line) - (size_t)n, " %.16s\n", d.hex);
		if (olen + strlen(line) + 1 > ocap) {
			ocap = (olen + strlen(line) + 1) * 2;
			*out = xrealloc(*out, ocap);
		}
		memcpy(*out + olen, line, strlen(line) + 1);
		olen += strlen(line);
	}
	if (ret == 0) {
		int64_t rest = rootfs_tar_drain(r, err);

		if (rest < 0)
			ret = (int)rest;
	}
	rootfs_tar_reader_free(r);
	if (*out == NULL)
		*out = xstrdup("");
	return ret;
}

static struct tw archive(void)
{
	struct tw t = { 0 };
	static char data[5000];
	char longname[300];

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (char)(i * 31 + 7);
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	memcpy(longname, "long/", 5);

	tw_dir(&t, "d/", 0755);
	for (size_t sz = 0; sz < 6; sz++) {
		static const size_t sizes[] = { 0, 1, 511, 512, 513, 5000 };
		char name[32];

		snprintf(name, sizeof(name), "d/f%zu", sizes[sz]);
		tw_header(&t, &(struct th){ .name = name, .type = '0', .mode = 0600 + sz,
					    .size = sizes[sz], .uid = (uint32_t)sz, .gid = 7,
					    .mtime = 1000 + (int64_t)sz });
		tw_data(&t, data, sizes[sz]);
	}
	tw_pax(&t, PAX("path", longname), PAX("mtime", "-5.5"), PAX("uid", "123456"),
	       PAX("SCHILY.xattr.user.a", "1"), PAX("LIBARCHIVE.xattr.user.b", "MjI"), NULL);
	tw_header(&t, &(struct th){ .name = "ignored", .type = '0', .mode = 0644, .size = 3 });
	tw_data(&t, "pax", 3);
	tw_gnu_long(&t, 'L', longname + 1);
	tw_gnu_long(&t, 'K', longname);
	tw_header(&t, &(struct th){ .name = "x", .type = '2', .mode = 0777, .gnu = true });
	tw_header(&t, &(struct th){ .name = "h", .type = '1', .link = "d/f1" });
	tw_header(&t, &(struct th){ .name = "fifo", .type = '6', .mode = 0644 });
	tw_end(&t);
	return t;
}

static void test_run_sizes(void **state)
{
	static const size_t runs[] = { 1, 3, 7, 512, 4096, SIZE_MAX };
	struct tw t = archive();
	char *want = NULL;
	struct berr *err = NULL;

	(void)state;
	assert_int_equal(parse(t.buf, t.len, SIZE_MAX, &want, &err), 0);
	/* spot checks of the reference parse */
	assert_non_null(strstr(want, "5 d/ -> "));
	assert_non_null(strstr(want, "0 d/f513 ->  size=513 mode=604 4:7 t=1004.000000000"));
	assert_non_null(strstr(want, "t=-6.500000000 x=2 user.a=1 user.b=2"));
	assert_non_null(strstr(want, "1 h -> d/f1 size=0"));
	assert_non_null(strstr(want, "6 fifo"));
	for (size_t i = 0; i < sizeof(runs) / sizeof(runs[0]); i++) {
		char *got = NULL;

		assert_int_equal(parse(t.buf, t.len, runs[i], &got, &err), 0);
		assert_string_equal(got, want);
		free(got);
	}
	free(want);
	tw_free(&t);
}

/* Prefixes of the archive (every one near a block boundary, every 37th
 * byte elsewhere): an error, or a clean end whose entries are a prefix of
 * the full list (a stream may end between entries). */
static void test_every_truncation(void **state)
{
	struct tw t = archive();
	char *want = NULL;
	struct berr *err = NULL;

	(void)state;
	assert_int_equal(parse(t.buf, t.len, SIZE_MAX, &want, &err), 0);
	for (size_t len = 0; len < t.len; len++) {
		char *got = NULL;
		int ret;

		/* around every block boundary, and a sample in between */
		if (len % 512 > 3 && len % 512 < 509 && len % 37)
			continue;
		ret = parse(t.buf, len, 5, &got, &err);

		if (ret == 0) {
			if (strncmp(want, got, strlen(got)) != 0)
				fail_msg("prefix %zu parsed to entries not in the archive:\n%s", len, got);
			if (len % 512)
				fail_msg("prefix %zu ends inside a block but parsed cleanly", len);
		} else {
			assert_non_null(err);
			assert_true(strlen(berr_msg(err)) > 0);
		}
		berr_clear(&err);
		free(got);
	}
	free(want);
	tw_free(&t);
}

static void test_display(void **state)
{
	char buf[64];

	(void)state;
	assert_string_equal(rootfs_tar_display("etc/passwd", 10, buf, sizeof(buf)), "etc/passwd");
	assert_string_equal(rootfs_tar_display("a\nb\x1b[31m", 8, buf, sizeof(buf)),
			    "\"a\\x0ab\\x1b[31m\"");
	assert_string_equal(rootfs_tar_display("q\"\\", 3, buf, sizeof(buf)), "\"q\\\"\\\\\"");
	rootfs_tar_display("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
			   80, buf, 32);
	assert_true(strlen(buf) < 32);
	assert_non_null(strstr(buf, "..."));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_run_sizes),
		cmocka_unit_test(test_every_truncation),
		cmocka_unit_test(test_display),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
