/* Unit tests for lb/flowhash.c: the same flow always picks the same
 * target (also when the target list is reordered); adding one target to n
 * moves about 1/(n+1) of the flows, all of them to the new target; removing
 * one moves only its flows; the spread over targets is even. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "lb/flowhash.h"

#define FLOWS 100000
#define SEED 0x5eedULL

static uint64_t keys[64];

static void mk_keys(size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t a[16] = { 10, 0, (uint8_t)(i >> 8), (uint8_t)i };

		keys[i] = lb_flowhash_target_key(AF_INET, a, 8080, SEED);
	}
}

static struct lb_flow flow(uint32_t i)
{
	struct lb_flow f = { .proto = IPPROTO_TCP, .family = AF_INET };

	/* clients 198.18.x.y, ephemeral ports; one listener 10.1.0.1:443 */
	f.src[0] = 198;
	f.src[1] = 18;
	f.src[2] = (uint8_t)(i >> 8);
	f.src[3] = (uint8_t)i;
	f.sport = (uint16_t)(32768 + (i >> 16) * 7919 % 28000);
	f.dst[0] = 10;
	f.dst[1] = 1;
	f.dst[3] = 1;
	f.dport = 443;
	return f;
}

static void same_flow_same_target(void **state)
{
	struct lb_flow f = flow(12345), g;
	uint64_t h = lb_flow_hash(&f, SEED);
	uint64_t rev[8];
	int t;

	mk_keys(8);
	t = lb_flowhash_pick(h, keys, 8);
	assert_true(t >= 0 && t < 8);
	for (int i = 0; i < 100; i++)
		assert_int_equal(lb_flowhash_pick(lb_flow_hash(&f, SEED), keys, 8), t);
	/* the list order does not matter, only the targets */
	for (int i = 0; i < 8; i++)
		rev[i] = keys[7 - i];
	assert_int_equal(7 - lb_flowhash_pick(h, rev, 8), t);
	/* every field of the tuple and the seed count */
	g = f;
	g.sport++;
	assert_int_not_equal(lb_flow_hash(&g, SEED), h);
	g = f;
	g.dport++;
	assert_int_not_equal(lb_flow_hash(&g, SEED), h);
	g = f;
	g.proto = IPPROTO_UDP;
	assert_int_not_equal(lb_flow_hash(&g, SEED), h);
	g = f;
	g.src[0]++;
	assert_int_not_equal(lb_flow_hash(&g, SEED), h);
	g = f;
	g.dst[3]++;
	assert_int_not_equal(lb_flow_hash(&g, SEED), h);
	assert_int_not_equal(lb_flow_hash(&f, SEED + 1), h);
	/* bytes past an IPv4 address do not */
	g = f;
	g.src[8] = 0xff;
	assert_int_equal(lb_flow_hash(&g, SEED), h);
	/* IPv6 uses all 16 */
	g = f;
	g.family = AF_INET6;
	h = lb_flow_hash(&g, SEED);
	g.src[15] = 1;
	assert_int_not_equal(lb_flow_hash(&g, SEED), h);
	assert_int_equal(lb_flowhash_pick(h, keys, 0), -1);
}

static void spread(void **state)
{
	int count[10] = { 0 };

	mk_keys(10);
	for (uint32_t i = 0; i < FLOWS; i++) {
		struct lb_flow f = flow(i);

		count[lb_flowhash_pick(lb_flow_hash(&f, SEED), keys, 10)]++;
	}
	/* expect 10000 each; binomial sd ~95: allow 5% */
	for (int i = 0; i < 10; i++)
		if (count[i] < 9500 || count[i] > 10500)
			fail_msg("target %d has %d flows", i, count[i]);
}

static void adding_moves_few(void **state)
{
	static const size_t sizes[] = { 1, 2, 4, 9, 20, 40 };
	static uint8_t before[FLOWS];

	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		size_t n = sizes[s], moved = 0;
		double want = (double)FLOWS / (double)(n + 1), frac;

		mk_keys(n + 1);
		for (uint32_t i = 0; i < FLOWS; i++) {
			struct lb_flow f = flow(i);

			before[i] = (uint8_t)lb_flowhash_pick(lb_flow_hash(&f, SEED), keys, n);
		}
		for (uint32_t i = 0; i < FLOWS; i++) {
			struct lb_flow f = flow(i);
			int t = lb_flowhash_pick(lb_flow_hash(&f, SEED), keys, n + 1);

			if (t != before[i]) {
				moved++;
				/* a flow only ever moves to the new target */
				assert_int_equal(t, (int)n);
			}
		}
		frac = (double)moved / want;
		print_message("%zu -> %zu targets: %zu of %d flows moved (1/(n+1) = %.0f)\n", n, n + 1,
			      moved, FLOWS, want);
		if (frac < 0.9 || frac > 1.1)
			fail_msg("%zu -> %zu: moved %zu, expected ~%.0f", n, n + 1, moved, want);
	}
}

static void removing_moves_only_its_flows(void **state)
{
	static uint8_t before[FLOWS];
	uint64_t fewer[16];
	size_t moved = 0, lost = 0;

	mk_keys(16);
	for (uint32_t i = 0; i < FLOWS; i++) {
		struct lb_flow f = flow(i);

		before[i] = (uint8_t)lb_flowhash_pick(lb_flow_hash(&f, SEED), keys, 16);
	}
	/* target 5 goes (unhealthy): the list without it */
	for (size_t i = 0, k = 0; i < 16; i++)
		if (i != 5)
			fewer[k++] = keys[i];
	for (uint32_t i = 0; i < FLOWS; i++) {
		struct lb_flow f = flow(i);
		int t = lb_flowhash_pick(lb_flow_hash(&f, SEED), fewer, 15);
		int orig = t >= 5 ? t + 1 : t;

		if (before[i] == 5)
			lost++;
		else if (orig != before[i])
			moved++;
	}
	assert_int_equal(moved, 0);
	assert_true(lost > 0);
}

/* lb_flowhash_score is what lb_flowhash_pick maximises: a caller that
 * scores a filtered subset (the engine skips unhealthy targets) gets the
 * same answer as pick over that subset. */
static void score_matches_pick(void **state)
{
	(void)state;
	mk_keys(16);
	for (uint64_t i = 0; i < 10000; i++) {
		uint64_t h = i * 0x9e3779b97f4a7c15ULL + 7, best = 0;
		int arg = -1;

		for (size_t k = 0; k < 16; k += 2) { /* the even targets only */
			uint64_t sc = lb_flowhash_score(h, keys[k]);

			if (arg < 0 || sc > best || (sc == best && keys[k] > keys[arg])) {
				best = sc;
				arg = (int)k;
			}
		}
		uint64_t even[8];

		for (size_t k = 0; k < 8; k++)
			even[k] = keys[2 * k];
		assert_int_equal(arg, 2 * lb_flowhash_pick(h, even, 8));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(same_flow_same_target),
		cmocka_unit_test(spread),
		cmocka_unit_test(adding_moves_few),
		cmocka_unit_test(removing_moves_only_its_flows),
		cmocka_unit_test(score_matches_pick),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
