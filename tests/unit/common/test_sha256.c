/* tests/unit/common/test_sha256.c - the built-in SHA-256 and HMAC-SHA256:
 * FIPS 180-4 and RFC 4231 vectors, the padding boundaries, streaming in
 * every split, and the SHA-NI block function against the portable one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/sha256.h"

static void hex(const unsigned char *d, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

static void check(const char *msg, size_t len, const char *want)
{
	unsigned char d[SHA256_LEN];
	char h[2 * SHA256_LEN + 1];

	sha256(msg, len, d);
	hex(d, sizeof(d), h);
	assert_string_equal(h, want);
}

static void vectors(void)
{
	static const char m448[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	static const char m896[] = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn"
				   "hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
	char *million = malloc(1000000);

	check("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	check("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	check(m448, strlen(m448), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	check(m896, strlen(m896), "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
	assert_non_null(million);
	memset(million, 'a', 1000000);
	check(million, 1000000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	free(million);
}

static void test_vectors_auto(void **state)
{
	(void)state;
	sha256_force_portable(0);
	vectors();
}

static void test_vectors_portable(void **state)
{
	(void)state;
	sha256_force_portable(1);
	assert_string_equal(sha256_impl(), "portable");
	vectors();
	sha256_force_portable(0);
}

/* Every length around the padding boundaries (55/56/64 bytes and their
 * multiples), hashed in one go and fed in every two-part split, agrees
 * between the two block functions. */
static void test_streaming_and_impls_agree(void **state)
{
	unsigned char buf[300], one[SHA256_LEN], part[SHA256_LEN], port[SHA256_LEN];

	(void)state;
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)(i * 131 + 7);
	for (size_t len = 0; len <= sizeof(buf); len++) {
		sha256_force_portable(1);
		sha256(buf, len, port);
		sha256_force_portable(0);
		sha256(buf, len, one);
		assert_memory_equal(one, port, SHA256_LEN);
		for (size_t cut = 0; cut <= len; cut += (len > 140 ? 7 : 1)) {
			struct sha256 c;

			sha256_init(&c);
			sha256_update(&c, buf, cut);
			sha256_update(&c, buf + cut, len - cut);
			sha256_final(&c, part);
			assert_memory_equal(one, part, SHA256_LEN);
		}
	}
	printf("block function on this CPU: %s\n", sha256_impl());
}

static void check_hmac(const void *key, size_t klen, const char *data, const char *want)
{
	unsigned char d[SHA256_LEN];
	char h[2 * SHA256_LEN + 1];

	hmac_sha256(key, klen, data, strlen(data), d);
	hex(d, sizeof(d), h);
	assert_string_equal(h, want);
}

static void test_hmac_rfc4231(void **state)
{
	unsigned char k20[20], k131[131];

	(void)state;
	memset(k20, 0x0b, sizeof(k20));
	memset(k131, 0xaa, sizeof(k131));
	/* test cases 1, 2 and 6 (a key longer than the block is hashed first) */
	check_hmac(k20, sizeof(k20), "Hi There",
		   "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
	check_hmac("Jefe", 4, "what do ya want for nothing?",
		   "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
	check_hmac(k131, sizeof(k131), "Test Using Larger Than Block-Size Key - Hash Key First",
		   "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors_auto),
		cmocka_unit_test(test_vectors_portable),
		cmocka_unit_test(test_streaming_and_impls_agree),
		cmocka_unit_test(test_hmac_rfc4231),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
