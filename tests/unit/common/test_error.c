/* tests/unit/common/test_error.c - struct berr: messages and return codes */
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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
