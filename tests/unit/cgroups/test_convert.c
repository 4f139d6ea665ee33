/* tests/unit/cgroups/test_convert.c - ECS values -> cgroup v2 values. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cgroups/cgroup.h"

static void cpu_max(int64_t units, const char *want)
{
	char buf[64];
	struct berr *err = NULL;

	assert_int_equal(cg_cpu_max_from_units(units, buf, sizeof(buf), &err), 0);
	assert_null(err);
	assert_string_equal(buf, want);
}

static void test_cpu_max(void **state)
{
	cpu_max(512, "50000 100000");
	cpu_max(256, "25000 100000");
	cpu_max(1024, "100000 100000");
	cpu_max(768, "75000 100000");
	cpu_max(4096, "400000 100000");
	cpu_max(16384, "1600000 100000");
	cpu_max(128, "12500 100000");
	/* 1 unit is 97 us: raised to the kernel's 1 ms minimum */
	cpu_max(1, "1000 100000");
	cpu_max(11, "1074 100000");
	cpu_max(0, "max 100000");
}

static void test_cpu_max_errors(void **state)
{
	char buf[64], tiny[4];
	struct berr *err = NULL;

	assert_int_equal(cg_cpu_max_from_units(-1, buf, sizeof(buf), &err), -EINVAL);
	assert_non_null(strstr(berr_msg(err), "cpu units -1"));
	assert_non_null(strstr(berr_msg(err), "negative"));
	berr_clear(&err);
	assert_int_equal(cg_cpu_max_from_units(INT64_MAX, buf, sizeof(buf), &err), -EINVAL);
	assert_non_null(strstr(berr_msg(err), "too large"));
	berr_clear(&err);
	assert_int_equal(cg_cpu_max_from_units(512, tiny, sizeof(tiny), &err), -ENOBUFS);
	assert_non_null(strstr(berr_msg(err), "cpu.max"));
	berr_clear(&err);
}

static void test_shares(void **state)
{
	assert_int_equal(cg_cpu_shares_normalize(false, 0), 2);
	assert_int_equal(cg_cpu_shares_normalize(false, 700), 2);
	assert_int_equal(cg_cpu_shares_normalize(true, 0), 2);
	assert_int_equal(cg_cpu_shares_normalize(true, 1), 2);
	assert_int_equal(cg_cpu_shares_normalize(true, -5), 2);
	assert_int_equal(cg_cpu_shares_normalize(true, 2), 2);
	assert_int_equal(cg_cpu_shares_normalize(true, 3), 3);
	assert_int_equal(cg_cpu_shares_normalize(true, 512), 512);
	assert_int_equal(cg_cpu_shares_normalize(true, 262144), 262144);
	assert_int_equal(cg_cpu_shares_normalize(true, 262145), 262144);
	assert_int_equal(cg_cpu_shares_normalize(true, INT64_MAX), 262144);
}

static void test_weight(void **state)
{
	uint64_t prev = 0;

	assert_int_equal(cg_cpu_weight_from_shares(2), 1);
	assert_int_equal(cg_cpu_weight_from_shares(262144), 10000);
	/* 1 + (1022 * 9999) / 262142 = 1 + 38 */
	assert_int_equal(cg_cpu_weight_from_shares(1024), 39);
	assert_int_equal(cg_cpu_weight_from_shares(512), 20);
	assert_int_equal(cg_cpu_weight_from_shares(256), 10);
	assert_int_equal(cg_cpu_weight_from_shares(128), 5);
	/* out of range is clamped, not wrapped */
	assert_int_equal(cg_cpu_weight_from_shares(0), 1);
	assert_int_equal(cg_cpu_weight_from_shares(1), 1);
	assert_int_equal(cg_cpu_weight_from_shares(1000000), 10000);
	/* the ECS null/0/1 rule end to end */
	assert_int_equal(cg_cpu_weight_from_shares(cg_cpu_shares_normalize(true, 0)), 1);
	/* monotonic and within the kernel's [1, 10000] */
	for (uint64_t s = 2; s <= 262144; s += 97) {
		uint64_t w = cg_cpu_weight_from_shares(s);

		assert_true(w >= prev);
		assert_true(w >= 1 && w <= 10000);
		prev = w;
	}
}

static void test_mib(void **state)
{
	uint64_t v = 7;
	struct berr *err = NULL;

	assert_int_equal(cg_mib_to_bytes(32, "memory", &v, &err), 0);
	assert_int_equal(v, 33554432);
	assert_int_equal(cg_mib_to_bytes(0, "memory", &v, &err), 0);
	assert_int_equal(v, 0);
	assert_int_equal(cg_mib_to_bytes(30720, "memory", &v, &err), 0);
	assert_int_equal(v, 30720ULL << 20);
	assert_int_equal(cg_mib_to_bytes(-1, "memoryReservation", &v, &err), -EINVAL);
	assert_non_null(strstr(berr_msg(err), "memoryReservation -1 MiB"));
	berr_clear(&err);
	assert_int_equal(cg_mib_to_bytes(INT64_MAX, "memory", &v, &err), -EINVAL);
	assert_non_null(strstr(berr_msg(err), "too large"));
	berr_clear(&err);
}

static void test_swap(void **state)
{
	uint64_t v = 7;
	struct berr *err = NULL;

	assert_int_equal(cg_swap_max_bytes(-1, -1, &v, &err), 0);
	assert_int_equal(v, 0);
	v = 7;
	assert_int_equal(cg_swap_max_bytes(0, -1, &v, &err), 0);
	assert_int_equal(v, 0);
	assert_int_equal(cg_swap_max_bytes(100, -1, &v, &err), 0);
	assert_int_equal(v, 100ULL << 20);
	assert_int_equal(cg_swap_max_bytes(100, 60, &v, &err), 0);
	assert_int_equal(v, 100ULL << 20);
	assert_int_equal(cg_swap_max_bytes(100, 0, &v, &err), 0);
	assert_int_equal(v, 0);
	v = 7;
	assert_int_equal(cg_swap_max_bytes(-1, 100, &v, &err), 0);
	assert_int_equal(v, 0);
	assert_int_equal(cg_swap_max_bytes(10, 101, &v, &err), -EINVAL);
	assert_non_null(strstr(berr_msg(err), "swappiness 101"));
	berr_clear(&err);
	assert_int_equal(cg_swap_max_bytes(-5, 10, &v, &err), -EINVAL);
	assert_non_null(strstr(berr_msg(err), "maxSwap -5"));
	berr_clear(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cpu_max),
		cmocka_unit_test(test_cpu_max_errors),
		cmocka_unit_test(test_shares),
		cmocka_unit_test(test_weight),
		cmocka_unit_test(test_mib),
		cmocka_unit_test(test_swap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
