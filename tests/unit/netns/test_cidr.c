/* tests/unit/netns/test_cidr.c - IPv4 prefix parsing and arithmetic. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/error.h"
#include "netns/cidr.h"

#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))

static void expect_cidr(const char *s, uint32_t net, unsigned prefix)
{
	struct berr *err = NULL;
	struct netns_cidr c = { 0xdeadbeef, 99 };
	char buf[NETNS_CIDR_STRLEN];

	if (netns_cidr_parse(s, "subnet", &c, &err) != 0)
		fail_msg("\"%s\" rejected: %s", s, berr_msg(err));
	assert_int_equal(c.net, net);
	assert_int_equal(c.prefix, prefix);
	/* formatting gives the canonical text back */
	netns_cidr_str(&c, buf);
	if (strchr(s, '/'))
		assert_string_equal(buf, s);
}

/* Rejected with EINVAL; the message names the field and contains `want`. */
static void expect_bad_cidr(const char *s, const char *want)
{
	struct berr *err = NULL;
	struct netns_cidr c = { 0x01020304, 7 };

	if (netns_cidr_parse(s, "network.subnet", &c, &err) == 0)
		fail_msg("\"%s\" accepted as %08x/%u", s ? s : "(null)", c.net, c.prefix);
	assert_non_null(err);
	assert_int_equal(err->code, EINVAL);
	if (!strstr(err->msg, "network.subnet") || !strstr(err->msg, want))
		fail_msg("\"%s\": message \"%s\" lacks \"%s\"", s ? s : "(null)", err->msg, want);
	/* out untouched on failure */
	assert_int_equal(c.net, 0x01020304);
	assert_int_equal(c.prefix, 7);
	berr_free(err);
}

static void test_cidr_valid(void **state)
{
	(void)state;
	expect_cidr("10.88.0.0/16", IP(10, 88, 0, 0), 16);
	expect_cidr("10.88.0.0/24", IP(10, 88, 0, 0), 24);
	expect_cidr("192.168.255.252/30", IP(192, 168, 255, 252), 30);
	expect_cidr("0.0.0.0/0", 0, 0);
	expect_cidr("255.255.255.255/32", 0xffffffffu, 32);
	expect_cidr("1.2.3.4/32", IP(1, 2, 3, 4), 32);
	expect_cidr("128.0.0.0/1", 0x80000000u, 1);
	/* a bare address is a /32 */
	expect_cidr("1.2.3.4", IP(1, 2, 3, 4), 32);
	expect_cidr("0.0.0.0", 0, 32);
}

static void test_cidr_host_bits(void **state)
{
	struct berr *err = NULL;
	struct netns_cidr c;

	(void)state;
	assert_int_equal(netns_cidr_parse("10.88.0.1/16", "subnet", &c, &err), -EINVAL);
	assert_non_null(strstr(err->msg, "host bits"));
	assert_non_null(strstr(err->msg, "did you mean 10.88.0.0/16?"));
	berr_clear(&err);
	/* /0 with any bit set */
	assert_int_equal(netns_cidr_parse("0.0.0.1/0", "subnet", &c, &err), -EINVAL);
	assert_non_null(strstr(err->msg, "did you mean 0.0.0.0/0?"));
	berr_clear(&err);
	expect_bad_cidr("128.0.0.0/0", "host bits");
	expect_bad_cidr("10.0.0.129/25", "did you mean 10.0.0.128/25?");
	expect_bad_cidr("1.2.3.5/31", "did you mean 1.2.3.4/31?");
}

static void test_cidr_bad_address(void **state)
{
	(void)state;
	expect_bad_cidr(NULL, "not an IPv4 prefix");
	expect_bad_cidr("", "not an IPv4 prefix");
	expect_bad_cidr("/8", "not an IPv4 prefix");
	expect_bad_cidr("10.0.0/8", "not an IPv4 prefix");
	expect_bad_cidr("10.0.0.0.0/8", "not an IPv4 prefix");
	expect_bad_cidr("256.0.0.0/8", "not an IPv4 prefix");
	expect_bad_cidr("10.0.0.256", "not an IPv4 prefix");
	expect_bad_cidr("1000.0.0.0/8", "not an IPv4 prefix");
	expect_bad_cidr("10..0.0/8", "not an IPv4 prefix");
	expect_bad_cidr(".10.0.0/8", "not an IPv4 prefix");
	expect_bad_cidr("10.0.0./8", "not an IPv4 prefix");
	expect_bad_cidr(" 10.0.0.0/8", "not an IPv4 prefix");
	expect_bad_cidr("10.0.0.0 /8", "not an IPv4 prefix");
	expect_bad_cidr("+10.0.0.0/8", "not an IPv4 prefix");
	expect_bad_cidr("10.-1.0.0/8", "not an IPv4 prefix");
	expect_bad_cidr("0x0a.0.0.0/8", "not an IPv4 prefix");
	expect_bad_cidr("a.b.c.d/8", "not an IPv4 prefix");
	/* leading zeros: inet_aton would read octal, so refuse them */
	expect_bad_cidr("010.0.0.0/8", "not an IPv4 prefix");
	expect_bad_cidr("10.00.0.0/16", "not an IPv4 prefix");
	expect_bad_cidr("10.0.0.01", "not an IPv4 prefix");
	/* the message quotes the input, control bytes escaped */
	expect_bad_cidr("10.0.0.0\n/8", "\\u000a");
}

static void test_cidr_bad_prefix(void **state)
{
	(void)state;
	expect_bad_cidr("10.0.0.0/", "bad prefix length");
	expect_bad_cidr("10.0.0.0/33", "bad prefix length");
	expect_bad_cidr("10.0.0.0/99", "bad prefix length");
	expect_bad_cidr("10.0.0.0/100", "bad prefix length");
	expect_bad_cidr("10.0.0.0/08", "bad prefix length");
	expect_bad_cidr("10.0.0.0/00", "bad prefix length");
	expect_bad_cidr("10.0.0.0/016", "bad prefix length");
	expect_bad_cidr("10.0.0.0/-8", "bad prefix length");
	expect_bad_cidr("10.0.0.0/+8", "bad prefix length");
	expect_bad_cidr("10.0.0.0/8 ", "bad prefix length");
	expect_bad_cidr("10.0.0.0/ 8", "bad prefix length");
	expect_bad_cidr("10.0.0.0/8/8", "bad prefix length");
	expect_bad_cidr("10.0.0.0/a", "bad prefix length");
}

static void test_ip_parse(void **state)
{
	struct berr *err = NULL;
	uint32_t ip = 7;
	char buf[NETNS_IP_STRLEN];
	static const char *const bad[] = {
		"", "1.2.3", "1.2.3.4.", "1.2.3.4/32", "01.2.3.4", "1.2.3.004", "1.2.3.256",
		"1.2.3.-4", "1 .2.3.4", "1.2.3.4 ", "::1", "1.2.3.4\n",
	};

	(void)state;
	assert_int_equal(netns_ip_parse("10.88.0.5", "ip", &ip, &err), 0);
	assert_int_equal(ip, IP(10, 88, 0, 5));
	assert_string_equal(netns_ip_str(ip, buf), "10.88.0.5");
	assert_int_equal(netns_ip_parse("0.0.0.0", "ip", &ip, &err), 0);
	assert_int_equal(ip, 0);
	assert_int_equal(netns_ip_parse("255.255.255.255", "ip", &ip, &err), 0);
	assert_int_equal(ip, 0xffffffffu);
	assert_string_equal(netns_ip_str(ip, buf), "255.255.255.255");
	assert_int_equal(netns_ip_parse("100.64.0.10", "ip", &ip, &err), 0);
	assert_int_equal(ip, IP(100, 64, 0, 10));

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ip = 7;
		if (netns_ip_parse(bad[i], "dns.server", &ip, &err) == 0)
			fail_msg("\"%s\" accepted", bad[i]);
		assert_int_equal(err->code, EINVAL);
		assert_non_null(strstr(err->msg, "dns.server"));
		assert_int_equal(ip, 7);
		berr_clear(&err);
	}
	assert_true(netns_ip_parse(NULL, "ip", &ip, &err) < 0);
	berr_clear(&err);
	/* err may be NULL */
	assert_int_equal(netns_ip_parse("x", "ip", &ip, NULL), -EINVAL);
}

static void test_mask_broadcast(void **state)
{
	struct netns_cidr c;

	(void)state;
	assert_int_equal(netns_cidr_mask(0), 0);
	assert_int_equal(netns_cidr_mask(1), 0x80000000u);
	assert_int_equal(netns_cidr_mask(8), 0xff000000u);
	assert_int_equal(netns_cidr_mask(24), 0xffffff00u);
	assert_int_equal(netns_cidr_mask(31), 0xfffffffeu);
	assert_int_equal(netns_cidr_mask(32), 0xffffffffu);

	c = (struct netns_cidr){ IP(10, 88, 0, 0), 24 };
	assert_int_equal(netns_cidr_broadcast(&c), IP(10, 88, 0, 255));
	c = (struct netns_cidr){ IP(10, 88, 0, 0), 29 };
	assert_int_equal(netns_cidr_broadcast(&c), IP(10, 88, 0, 7));
	c = (struct netns_cidr){ 0, 0 };
	assert_int_equal(netns_cidr_broadcast(&c), 0xffffffffu);
	c = (struct netns_cidr){ IP(1, 2, 3, 4), 32 };
	assert_int_equal(netns_cidr_broadcast(&c), IP(1, 2, 3, 4));
}

static void test_contains(void **state)
{
	struct netns_cidr c = { IP(10, 88, 0, 0), 16 };
	struct netns_cidr all = { 0, 0 }, one = { IP(1, 2, 3, 4), 32 };

	(void)state;
	assert_true(netns_cidr_contains(&c, IP(10, 88, 0, 0)));
	assert_true(netns_cidr_contains(&c, IP(10, 88, 255, 255)));
	assert_false(netns_cidr_contains(&c, IP(10, 89, 0, 0)));
	assert_false(netns_cidr_contains(&c, IP(10, 87, 255, 255)));
	assert_true(netns_cidr_contains(&all, 0));
	assert_true(netns_cidr_contains(&all, 0xffffffffu));
	assert_true(netns_cidr_contains(&one, IP(1, 2, 3, 4)));
	assert_false(netns_cidr_contains(&one, IP(1, 2, 3, 5)));
	assert_false(netns_cidr_contains(&one, IP(1, 2, 3, 3)));
}

static void test_overlaps(void **state)
{
	struct netns_cidr a8 = { IP(10, 0, 0, 0), 8 }, b16 = { IP(10, 1, 0, 0), 16 };
	struct netns_cidr c16 = { IP(10, 2, 0, 0), 16 }, d8 = { IP(11, 0, 0, 0), 8 };
	struct netns_cidr all = { 0, 0 }, h1 = { IP(10, 1, 2, 3), 32 }, h2 = { IP(10, 1, 2, 4), 32 };
	struct netns_cidr lo25 = { IP(10, 0, 0, 0), 25 }, hi25 = { IP(10, 0, 0, 128), 25 };

	(void)state;
	assert_true(netns_cidr_overlaps(&a8, &b16));
	assert_true(netns_cidr_overlaps(&b16, &a8));
	assert_false(netns_cidr_overlaps(&b16, &c16));
	assert_false(netns_cidr_overlaps(&a8, &d8));
	assert_true(netns_cidr_overlaps(&all, &d8));
	assert_true(netns_cidr_overlaps(&h1, &all));
	assert_true(netns_cidr_overlaps(&h1, &b16));
	assert_false(netns_cidr_overlaps(&h1, &c16));
	assert_false(netns_cidr_overlaps(&h1, &h2));
	assert_true(netns_cidr_overlaps(&h1, &h1));
	/* adjacent halves touch but do not share an address */
	assert_false(netns_cidr_overlaps(&lo25, &hi25));
}

static void test_str_roundtrip(void **state)
{
	static const char *const s[] = { "0.0.0.0/0", "10.88.0.0/16", "172.31.255.248/29",
					 "255.255.255.255/32", "192.168.1.0/24" };
	char buf[NETNS_CIDR_STRLEN];

	(void)state;
	for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++) {
		struct netns_cidr c;

		assert_int_equal(netns_cidr_parse(s[i], "x", &c, NULL), 0);
		assert_string_equal(netns_cidr_str(&c, buf), s[i]);
	}
	/* the longest fits the buffer exactly */
	assert_int_equal(strlen("255.255.255.255/32") + 1, NETNS_CIDR_STRLEN);
	assert_int_equal(strlen("255.255.255.255") + 1, NETNS_IP_STRLEN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cidr_valid),
		cmocka_unit_test(test_cidr_host_bits),
		cmocka_unit_test(test_cidr_bad_address),
		cmocka_unit_test(test_cidr_bad_prefix),
		cmocka_unit_test(test_ip_parse),
		cmocka_unit_test(test_mask_broadcast),
		cmocka_unit_test(test_contains),
		cmocka_unit_test(test_overlaps),
		cmocka_unit_test(test_str_roundtrip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
