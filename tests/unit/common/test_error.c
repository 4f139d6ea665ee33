/* tests/unit/common/test_error.c - struct berr: messages and return codes;
 * berr_q/berr_qn: untrusted text in messages */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/error.h"

static void test_set_without_code(void **state)
{
	struct berr *err = NULL;

	assert_int_equal(berr_set(&err, 0, "bad value %d for %s", 7, "cpu"), -1);
	assert_non_null(err);
	assert_int_equal(err->code, 0);
	assert_string_equal(err->msg, "bad value 7 for cpu");
	assert_string_equal(berr_msg(err), "bad value 7 for cpu");
	assert_int_equal(berr_rc(err), -1);
	berr_clear(&err);
	assert_null(err);
}

static void test_set_with_errno(void **state)
{
	struct berr *err = NULL;
	char want[256];

	snprintf(want, sizeof(want), "open /x/task.json: %s", strerror(ENOENT));
	assert_int_equal(berr_set(&err, ENOENT, "open %s", "/x/task.json"), -ENOENT);
	assert_int_equal(err->code, ENOENT);
	assert_string_equal(err->msg, want);
	assert_int_equal(berr_rc(err), -ENOENT);
	berr_clear(&err);

	assert_int_equal(berr_set(&err, EINVAL, "mount"), -EINVAL);
	snprintf(want, sizeof(want), "mount: %s", strerror(EINVAL));
	assert_string_equal(err->msg, want);
	berr_clear(&err);
}

static void test_null_err_allowed(void **state)
{
	assert_int_equal(berr_set(NULL, EINVAL, "x"), -EINVAL);
	assert_int_equal(berr_set(NULL, 0, "x"), -1);
	assert_int_equal(berr_wrap(NULL, "ctx"), -1);
	assert_int_equal(berr_rc(NULL), -1);
	assert_string_equal(berr_msg(NULL), "unknown error");
	berr_clear(NULL);
	berr_free(NULL);
}

static void test_set_replaces(void **state)
{
	struct berr *err = NULL;
	char want[256];

	berr_set(&err, EPERM, "first");
	/* the old message may be an argument of the new one */
	assert_int_equal(berr_set(&err, 0, "second (was: %s)", err->msg), -1);
	assert_int_equal(err->code, 0);
	snprintf(want, sizeof(want), "second (was: first: %s)", strerror(EPERM));
	assert_string_equal(err->msg, want);
	berr_clear(&err);
}

static void test_wrap(void **state)
{
	struct berr *err = NULL;
	char want[256];

	berr_set(&err, EACCES, "open %s", "/etc/berth/berthd.json");
	assert_int_equal(berr_wrap(&err, "load config of %s", "berthd"), -EACCES);
	assert_int_equal(berr_wrap(&err, "start"), -EACCES);
	snprintf(want, sizeof(want), "start: load config of berthd: open /etc/berth/berthd.json: %s",
		 strerror(EACCES));
	assert_string_equal(err->msg, want);
	assert_int_equal(err->code, EACCES);
	assert_int_equal(berr_rc(err), -EACCES);
	berr_clear(&err);

	berr_set(&err, 0, "cpu: expected integer, got string");
	assert_int_equal(berr_wrap(&err, "task.json"), -1);
	assert_string_equal(err->msg, "task.json: cpu: expected integer, got string");
	berr_clear(&err);
}

static void test_wrap_without_error(void **state)
{
	struct berr *err = NULL;

	assert_int_equal(berr_wrap(&err, "context %d", 3), -1);
	assert_non_null(err);
	assert_int_equal(err->code, 0);
	assert_string_equal(err->msg, "context 3");
	berr_clear(&err);
}

static void test_cleanup_attribute(void **state)
{
	/* ASan's leak check fails this test if cleanup_berr does not free */
	cleanup_berr struct berr *err = NULL;

	berr_set(&err, ENOMEM, "allocate");
	assert_int_equal(berr_rc(err), -ENOMEM);
}

static void test_berr_free(void **state)
{
	struct berr *err = NULL;

	berr_set(&err, EIO, "read");
	berr_free(err);
}

/* ---------------------------------------------------------- berr_q */

/* No byte below 0x20 and no 0x7f. */
static void assert_no_ctl(const char *s)
{
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			fail_msg("control byte 0x%02x at %zu", (unsigned char)*p, (size_t)(p - s));
}

static void test_q_plain_text_unchanged(void **state)
{
	assert_string_equal(berr_q(""), "");
	assert_string_equal(berr_q("bob"), "bob");
	assert_string_equal(berr_q("app:x 1/2 'single' $HOME %s"), "app:x 1/2 'single' $HOME %s");
	/* UTF-8 passes through */
	assert_string_equal(berr_q("gr\xc3\xbc\xc3\x9f" "e \xe2\x82\xac"),
			    "gr\xc3\xbc\xc3\x9f" "e \xe2\x82\xac");
}

static void test_q_escapes(void **state)
{
	assert_string_equal(berr_q("a\"b"), "a\\\"b");
	assert_string_equal(berr_q("a\\b"), "a\\\\b");
	assert_string_equal(berr_q("\033[31mred\033[0m"), "\\u001b[31mred\\u001b[0m");
	assert_string_equal(berr_q("l1\nl2\r\t\a\b"), "l1\\u000al2\\u000d\\u0009\\u0007\\u0008");
	assert_string_equal(berr_q("\x01\x1f\x7f\x20~"), "\\u0001\\u001f\\u007f ~");

	/* every byte value: the result has no control byte, and each byte
	 * maps to itself, a backslash pair or a \uXXXX escape */
	for (int c = 1; c < 256; c++) {
		char in[2] = { (char)c, 0 };
		const char *out = berr_q(in);
		char want[8];

		assert_no_ctl(out);
		if (c == '"' || c == '\\')
			snprintf(want, sizeof(want), "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			snprintf(want, sizeof(want), "\\u%04x", c);
		else
			snprintf(want, sizeof(want), "%c", c);
		assert_string_equal(out, want);
	}
}

static void test_q_cut(void **state)
{
	char in[200], want[200];

	/* 64 bytes: whole; 65: 64 and "..." */
	memset(in, 'a', 64);
	in[64] = '\0';
	assert_string_equal(berr_q(in), in);
	in[64] = 'b';
	in[65] = '\0';
	memset(want, 'a', 64);
	memcpy(want + 64, "...", 4);
	assert_string_equal(berr_q(in), want);

	/* a 2-byte character across the cut goes whole to the "..." side */
	memset(in, 'a', 63);
	memcpy(in + 63, "\xc3\xa9zz", 5);
	memset(want, 'a', 63);
	memcpy(want + 63, "...", 4);
	assert_string_equal(berr_q(in), want);
	/* ending exactly at the cut it stays */
	memset(in, 'a', 62);
	memcpy(in + 62, "\xc3\xa9z", 4);
	memset(want, 'a', 62);
	memcpy(want + 62, "\xc3\xa9...", 6);
	assert_string_equal(berr_q(in), want);

	/* the cut counts input bytes: 100 escapes give 64 of them */
	memset(in, '\033', 100);
	in[100] = '\0';
	{
		const char *out = berr_q(in);

		assert_int_equal(strlen(out), 64 * 6 + 3);
		assert_no_ctl(out);
		assert_string_equal(out + 64 * 6, "...");
		assert_memory_equal(out + 63 * 6, "\\u001b", 6);
	}
	/* the longest result: BERR_Q_MAX escapes and "..." */
	memset(in, '\\', 100);
	assert_int_equal(strlen(berr_q(in)), BERR_Q_MAX * 2 + 3);
}

static void test_qn(void **state)
{
	const char buf[] = { 'a', 'b', 'c', 'd' };          /* not NUL-terminated */
	const char nul[] = { 'a', '\0', 'b', '\n' };
	char big[100];

	assert_string_equal(berr_qn(buf, 0), "");
	assert_string_equal(berr_qn(buf, 3), "abc");
	assert_string_equal(berr_qn(buf, sizeof(buf)), "abcd");
	/* a NUL is a byte like any other: escaped, not the end */
	assert_string_equal(berr_qn(nul, sizeof(nul)), "a\\u0000b\\u000a");
	/* %.*s-style: a long run of bytes, cut as berr_q cuts */
	memset(big, 'x', sizeof(big));
	assert_int_equal(strlen(berr_qn(big, sizeof(big))), 64 + 3);
	big[64] = '\0';
	assert_string_equal(berr_qn(big, 64), big);
	/* berr_q is berr_qn up to the NUL */
	assert_string_equal(berr_qn("q\"\033", 3), berr_q("q\"\033"));
}

/* BERR_Q_RING results can be used in one message. */
static void test_q_ring(void **state)
{
	struct berr *err = NULL;
	const char *r[BERR_Q_RING];
	char in[BERR_Q_RING][16];

	for (int i = 0; i < BERR_Q_RING; i++) {
		snprintf(in[i], sizeof(in[i]), "v%d\n", i);
		r[i] = berr_q(in[i]);
	}
	for (int i = 0; i < BERR_Q_RING; i++) {
		char want[16];

		snprintf(want, sizeof(want), "v%d\\u000a", i);
		assert_string_equal(r[i], want);
	}
	assert_true(BERR_Q_RING >= 4);
	berr_set(&err, 0, "%s %s %s %s", berr_q("a\tb"), berr_q("c"), berr_q("\"d\""),
		 berr_q("e\033"));
	assert_string_equal(berr_msg(err), "a\\u0009b c \\\"d\\\" e\\u001b");
	berr_clear(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_set_without_code),
		cmocka_unit_test(test_set_with_errno),
		cmocka_unit_test(test_null_err_allowed),
		cmocka_unit_test(test_set_replaces),
		cmocka_unit_test(test_wrap),
		cmocka_unit_test(test_wrap_without_error),
		cmocka_unit_test(test_cleanup_attribute),
		cmocka_unit_test(test_berr_free),
		cmocka_unit_test(test_q_plain_text_unchanged),
		cmocka_unit_test(test_q_escapes),
		cmocka_unit_test(test_q_cut),
		cmocka_unit_test(test_qn),
		cmocka_unit_test(test_q_ring),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
