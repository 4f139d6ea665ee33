/* Unit tests for rootfs/digest.c */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "rootfs/digest.h"

#include <stdio.h>
#include <string.h>

static void test_parse(void **state)
{
	struct rootfs_digest d;
	struct berr *err = NULL;
	const char *good = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

	(void)state;
	assert_int_equal(rootfs_digest_parse(good, "x", &d, &err), 0);
	assert_string_equal(d.hex, good + 7);
	assert_int_equal(rootfs_digest_parse("sha512:abcd", "layers[0].digest", &d, &err), -1);
	assert_string_equal(berr_msg(err),
			    "layers[0].digest: unsupported digest algorithm \"sha512\" (berth verifies sha256)");
	assert_true(rootfs_digest_parse("sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855", "d", &d, &err) < 0);
	assert_true(rootfs_digest_parse("sha256:e3b0", "d", &d, &err) < 0);
	assert_true(rootfs_digest_parse("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "d", &d, &err) < 0);
	assert_string_equal(berr_msg(err), "d: \"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\" is not a digest (want sha256:<64 hex digits>)");
	assert_true(rootfs_digest_parse(NULL, "d", &d, &err) < 0);
	berr_clear(&err);
}

static void test_sha256(void **state)
{
	struct rootfs_digest d, e;
	struct rootfs_sha256 *h = rootfs_sha256_new();
	char buf[ROOTFS_DIGEST_STR];

	(void)state;
	rootfs_sha256_buf("", 0, &d);
	assert_string_equal(rootfs_digest_str(&d, buf),
			    "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	rootfs_sha256_update(h, "ab", 2);
	rootfs_sha256_update(h, "c", 1);
	rootfs_sha256_final(h, &d);
	assert_string_equal(d.hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	rootfs_sha256_reset(h);
	rootfs_sha256_update(h, "abc", 3);
	rootfs_sha256_final(h, &e);
	assert_true(rootfs_digest_eq(&d, &e));
	rootfs_sha256_free(h);
}

static void test_chain_id(void **state)
{
	struct rootfs_digest a, b, c, expect;
	char s[2 * ROOTFS_DIGEST_STR + 1];

	(void)state;
	rootfs_sha256_buf("a", 1, &a);
	rootfs_sha256_buf("b", 1, &b);
	rootfs_chain_id(NULL, &a, &c);
	assert_true(rootfs_digest_eq(&c, &a));
	rootfs_chain_id(&a, &b, &c);
	snprintf(s, sizeof(s), "sha256:%s sha256:%s", a.hex, b.hex);
	rootfs_sha256_buf(s, strlen(s), &expect);
	assert_true(rootfs_digest_eq(&c, &expect));
	assert_false(rootfs_digest_eq(&c, &b));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_sha256),
		cmocka_unit_test(test_chain_id),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
