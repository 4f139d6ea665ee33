/* tests/unit/daemon/test_secretbox.c - runtime/daemon/secretbox.c: secrets
 * encrypted at rest with AES-256-GCM under a key derived from the host key,
 * the secret's name as additional data. Round trips, a known answer from
 * the GCM specification, and every way a stored secret can be wrong: another
 * host key, another name, a changed byte of ciphertext, tag or nonce, a cut
 * ciphertext. */
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
#include "common/sha256.h"
#include "common/xalloc.h"
#include "runtime/daemon/secretbox.h"

static void unhex(const char *h, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned v;

		if (sscanf(h + 2 * i, "%2x", &v) != 1)
			fail_msg("bad hex");
		out[i] = (uint8_t)v;
	}
}

static void keys(uint8_t k1[SECRETBOX_KEY_LEN], uint8_t k2[SECRETBOX_KEY_LEN])
{
	uint8_t h1[32], h2[32];

	memset(h1, 0x11, sizeof(h1));
	memset(h2, 0x11, sizeof(h2));
	h2[31] ^= 1;
	secretbox_key(h1, k1);
	secretbox_key(h2, k2);
}

static void test_key_derivation(void **state)
{
	uint8_t host[32], k[SECRETBOX_KEY_LEN], want[32];

	(void)state;
	memset(host, 0x42, sizeof(host));
	secretbox_key(host, k);
	hmac_sha256(host, sizeof(host), "berth secret at rest v1", 23, want);
	assert_memory_equal(k, want, 32);
	/* not the host key, and not the session-token keys' label */
	assert_memory_not_equal(k, host, 32);
	hmac_sha256(host, sizeof(host), "berth session token mac v1", 26, want);
	assert_memory_not_equal(k, want, 32);
}

static void test_round_trip(void **state)
{
	static const char *const values[] = { "", "x", "hunter2",
		"multi\nline = value with \xc3\xa9 and more than one block of sixteen bytes" };
	uint8_t k1[32], k2[32];

	(void)state;
	keys(k1, k2);
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		uint8_t nonce[SECRETBOX_NONCE_LEN], nonce2[SECRETBOX_NONCE_LEN], *ct = NULL, *ct2 = NULL;
		size_t ct_len = 0, ct2_len = 0, len = 0, n = strlen(values[i]);
		struct berr *err = NULL;
		char *v = NULL;

		assert_int_equal(secretbox_seal(k1, "db/pass", values[i], n, nonce, &ct, &ct_len, &err), 0);
		assert_int_equal(ct_len, n + SECRETBOX_TAG_LEN);
		if (n >= 4)
			assert_null(memmem(ct, ct_len, values[i], n));
		assert_int_equal(secretbox_open(k1, "db/pass", nonce, ct, ct_len, &v, &len, &err), 0);
		assert_int_equal(len, n);
		assert_string_equal(v, values[i]);
		free(v);
		/* the same value twice: another nonce, another ciphertext */
		assert_int_equal(secretbox_seal(k1, "db/pass", values[i], n, nonce2, &ct2, &ct2_len,
						&err), 0);
		assert_memory_not_equal(nonce, nonce2, SECRETBOX_NONCE_LEN);
		assert_memory_not_equal(ct, ct2, ct_len);
		free(ct);
		free(ct2);
	}
}

static void open_fails(const uint8_t *key, const char *name, const uint8_t *nonce,
		       const uint8_t *ct, size_t ct_len)
{
	struct berr *err = NULL;
	char *v = (char *)0x1;
	size_t len = 7;

	assert_int_equal(secretbox_open(key, name, nonce, ct, ct_len, &v, &len, &err), -EBADMSG);
	assert_null(v);
	assert_int_equal(len, 0);
	assert_non_null(strstr(berr_msg(err), name));
	assert_null(strstr(berr_msg(err), "hunter2"));
	berr_clear(&err);
}

static void test_tampering(void **state)
{
	uint8_t k1[32], k2[32], nonce[SECRETBOX_NONCE_LEN], *ct = NULL;
	size_t ct_len = 0;
	struct berr *err = NULL;

	(void)state;
	keys(k1, k2);
	assert_int_equal(secretbox_seal(k1, "db", "hunter2", 7, nonce, &ct, &ct_len, &err), 0);
	/* another host key */
	open_fails(k2, "db", nonce, ct, ct_len);
	/* the row moved to another name (the AAD) */
	open_fails(k1, "db2", nonce, ct, ct_len);
	open_fails(k1, "d", nonce, ct, ct_len);
	/* every bit of ciphertext and tag, and of the nonce */
	for (size_t i = 0; i < ct_len * 8; i++) {
		ct[i / 8] ^= (uint8_t)(1u << (i % 8));
		open_fails(k1, "db", nonce, ct, ct_len);
		ct[i / 8] ^= (uint8_t)(1u << (i % 8));
	}
	for (size_t i = 0; i < SECRETBOX_NONCE_LEN * 8; i++) {
		nonce[i / 8] ^= (uint8_t)(1u << (i % 8));
		open_fails(k1, "db", nonce, ct, ct_len);
		nonce[i / 8] ^= (uint8_t)(1u << (i % 8));
	}
	/* cut: shorter ciphertext, no tag */
	open_fails(k1, "db", nonce, ct, ct_len - 1);
	open_fails(k1, "db", nonce, ct + 1, ct_len - 1);
	open_fails(k1, "db", nonce, ct, SECRETBOX_TAG_LEN - 1);
	open_fails(k1, "db", nonce, ct, 0);
	/* and untouched it still opens */
	{
		char *v = NULL;
		size_t len = 0;

		assert_int_equal(secretbox_open(k1, "db", nonce, ct, ct_len, &v, &len, &err), 0);
		assert_string_equal(v, "hunter2");
		free(v);
	}
	free(ct);
}

/* The GCM specification's test case 16 (AES-256, 96-bit IV, 20 bytes of
 * additional data, 60 bytes of plaintext): secretbox_open is AES-256-GCM
 * with the name as the additional data and the tag after the ciphertext. */
static void test_known_answer(void **state)
{
	static const char kh[] = "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308";
	static const char ivh[] = "cafebabefacedbaddecaf888";
	static const char ph[] = "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
				 "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39";
	static const char ch[] = "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
				 "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"
				 "76fc6ece0f4e1768cddf8853bb2d551b";
	static const char ah[] = "feedfacedeadbeeffeedfacedeadbeefabaddad2";
	uint8_t key[32], iv[12], p[60], c[76];
	char aad[21];
	struct berr *err = NULL;
	char *v = NULL;
	size_t len = 0;

	(void)state;
	unhex(kh, key, 32);
	unhex(ivh, iv, 12);
	unhex(ph, p, 60);
	unhex(ch, c, 76);
	unhex(ah, (uint8_t *)aad, 20);
	aad[20] = '\0';
	assert_int_equal(strlen(aad), 20);
	if (secretbox_open(key, aad, iv, c, sizeof(c), &v, &len, &err) < 0)
		fail_msg("%s", berr_msg(err));
	assert_int_equal(len, 60);
	assert_memory_equal(v, p, 60);
	free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_derivation),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_tampering),
		cmocka_unit_test(test_known_answer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
