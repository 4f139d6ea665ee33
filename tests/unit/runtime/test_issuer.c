/* Unit tests for runtime/creds/issuer.c and codec.c: minting and verifying
 * session credentials (formats, roundtrip, tampering at every byte, wrong
 * key, expiry and clock skew, malformed fields behind a valid MAC), the
 * rotation rule, and the host key file (creation, the checks on an existing
 * file, concurrent creators) in a temporary directory. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/xalloc.h"
#include "runtime/creds/codec.h"
#include "runtime/creds/issuer.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define ROLE "arn:aws:iam::123456789012:role/web-task"
#define TASK "arn:aws:ecs:us-east-1:123456789012:task/prod/0123456789abcdef0123456789abcdef"
#define NOW INT64_C(1700000000)   /* 2023-11-14T22:13:20Z */
#define TTL 3600

static const uint8_t key[CREDS_HOST_KEY_LEN] = {
	1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
	17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32,
};

static void mint(struct creds_session *s, int64_t now, int64_t ttl)
{
	struct berr *err = NULL;

	if (creds_mint(key, ROLE, TASK, now, ttl, s, &err) < 0)
		fail_msg("mint: %s", berr_msg(err));
}

/* verify must refuse token with status want and a message containing msg */
static void refused(const uint8_t *k, const char *token, int64_t now,
		    enum creds_token_status want, const char *msg)
{
	struct creds_claims c;
	enum creds_token_status why = CREDS_TOKEN_OK;
	struct berr *err = NULL;

	memset(&c, 0x5a, sizeof(c));
	assert_true(creds_verify(k, token, strlen(token), now, &c, &why, &err) < 0);
	if (why != want)
		fail_msg("token refused as %s (%s), expected %s", creds_token_status_name(why),
			 berr_msg(err), creds_token_status_name(want));
	assert_non_null(err);
	assert_true(strncmp(berr_msg(err), "session token: ", 15) == 0);
	if (msg && !strstr(berr_msg(err), msg))
		fail_msg("\"%s\" does not contain \"%s\"", berr_msg(err), msg);
	/* nothing left in the claims */
	assert_null(c.role_arn);
	assert_null(c.task_arn);
	assert_int_equal(c.expiration, 0);
	assert_int_equal(c.access_key_id[0], '\0');
	berr_clear(&err);
}

static unsigned char *decode(const char *token, size_t *n)
{
	unsigned char *b = xmalloc(strlen(token));

	assert_int_equal(creds_base64url_decode(token, strlen(token), b, n), 0);
	return b;
}

/* ---------------------------------------------------------------- codec */

static void codec_base32_vectors(void **state)
{
	/* RFC 4648 section 10, without the '=' padding */
	const char *in[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
	const char *want[] = { "", "MY", "MZXQ", "MZXW6", "MZXW6YQ", "MZXW6YTB", "MZXW6YTBOI" };
	char out[32];

	(void)state;
	for (size_t i = 0; i < 7; i++) {
		creds_base32_encode(in[i], strlen(in[i]), out);
		assert_string_equal(out, want[i]);
	}
}

static void codec_base64_vectors(void **state)
{
	const char *in[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
	const char *std[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy" };
	const char *url[] = { "", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy" };
	const unsigned char hi[] = { 0xfb, 0xff, 0xbf };

	(void)state;
	for (size_t i = 0; i < 7; i++) {
		cleanup_free char *a = creds_base64_encode(in[i], strlen(in[i]));
		cleanup_free char *b = creds_base64url_encode(in[i], strlen(in[i]));
		unsigned char d[16];
		size_t n;

		assert_string_equal(a, std[i]);
		assert_string_equal(b, url[i]);
		assert_int_equal(creds_base64url_decode(b, strlen(b), d, &n), 0);
		assert_int_equal(n, strlen(in[i]));
		assert_memory_equal(d, in[i], n);
	}
	{
		cleanup_free char *a = creds_base64_encode(hi, 3);
		cleanup_free char *b = creds_base64url_encode(hi, 3);

		assert_string_equal(a, "+/+/");
		assert_string_equal(b, "-_-_");
	}
}

static void codec_base64url_strict(void **state)
{
	const char *bad[] = {
		"Zg==",    /* padding */
		"Zm9v+A",  /* the standard alphabet */
		"Zm9v/A",
		"Zm9 v",   /* whitespace */
		"Zm9vY",   /* 5 characters: 30 bits, no whole last byte */
		"Zh",      /* "Zg" with a non-zero unused bit: not canonical */
		"Zm9",     /* not canonical either ("Zm8" is) */
	};
	unsigned char d[16];
	size_t n;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (creds_base64url_decode(bad[i], strlen(bad[i]), d, &n) == 0)
			fail_msg("\"%s\" decoded", bad[i]);
	/* every length round-trips */
	for (size_t len = 0; len < 70; len++) {
		unsigned char in[70], out[70];
		cleanup_free char *e = NULL;

		for (size_t i = 0; i < len; i++)
			in[i] = (unsigned char)(i * 37 + len);
		e = creds_base64url_encode(in, len);
		assert_int_equal(creds_base64url_decode(e, strlen(e), out, &n), 0);
		assert_int_equal(n, len);
		assert_memory_equal(in, out, len);
	}
}

static void codec_ct_equal(void **state)
{
	(void)state;
	assert_true(creds_ct_equal("abcd", "abcd", 4));
	assert_false(creds_ct_equal("abcd", "abce", 4));
	assert_false(creds_ct_equal("xbcd", "abcd", 4));
	assert_true(creds_ct_equal("a", "b", 0));
}

/* ----------------------------------------------------------------- mint */

static void mint_formats(void **state)
{
	struct creds_session s;
	char iso[CREDS_ISO8601_LEN + 1];

	(void)state;
	mint(&s, NOW, TTL);
	assert_int_equal(strlen(s.claims.access_key_id), CREDS_AKID_LEN);
	assert_memory_equal(s.claims.access_key_id, "ASIA", 4);
	assert_int_equal(strspn(s.claims.access_key_id + 4, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"), 16);
	assert_int_equal(strlen(s.secret_access_key), CREDS_SECRET_LEN);
	assert_int_equal(strspn(s.secret_access_key,
				"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"),
			 CREDS_SECRET_LEN);
	assert_int_equal(strspn(s.token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
					 "0123456789-_"),
			 strlen(s.token));
	assert_int_equal(s.claims.version, CREDS_TOKEN_VERSION);
	assert_int_equal(s.claims.issued, NOW);
	assert_int_equal(s.claims.expiration, NOW + TTL);
	assert_string_equal(s.claims.role_arn, ROLE);
	assert_string_equal(s.claims.task_arn, TASK);
	/* the secret is nowhere in the token */
	{
		size_t n;
		cleanup_free unsigned char *b = decode(s.token, &n);

		assert_null(memmem(b, n, s.secret_access_key, 8));
		assert_non_null(memmem(b, n, ROLE, strlen(ROLE)));
	}
	creds_iso8601(s.claims.expiration, iso);
	assert_string_equal(iso, "2023-11-14T23:13:20Z");
	creds_iso8601(0, iso);
	assert_string_equal(iso, "1970-01-01T00:00:00Z");
	creds_iso8601(CREDS_TIME_MAX, iso);
	assert_string_equal(iso, "9999-12-31T23:59:59Z");
	creds_session_clear(&s);
	assert_null(s.token);
	assert_int_equal(s.secret_access_key[0], '\0');
}

static void mint_verify_roundtrip(void **state)
{
	struct creds_session s;
	struct creds_claims c;
	enum creds_token_status why = CREDS_TOKEN_MALFORMED;
	struct berr *err = NULL;
	char secret[CREDS_SECRET_LEN + 1];
	cleanup_free char *again = NULL;

	(void)state;
	mint(&s, NOW, TTL);
	if (creds_verify(key, s.token, strlen(s.token), NOW + 10, &c, &why, &err) < 0)
		fail_msg("verify: %s", berr_msg(err));
	assert_int_equal(why, CREDS_TOKEN_OK);
	assert_string_equal(c.access_key_id, s.claims.access_key_id);
	assert_string_equal(c.role_arn, ROLE);
	assert_string_equal(c.task_arn, TASK);
	assert_int_equal(c.issued, NOW);
	assert_int_equal(c.expiration, NOW + TTL);
	assert_int_equal(c.version, CREDS_TOKEN_VERSION);
	/* the verifier recomputes the same secret from the token alone */
	creds_derive_secret(key, &c, secret);
	assert_string_equal(secret, s.secret_access_key);
	/* and the encoding is deterministic */
	again = creds_token_encode(key, &c);
	assert_string_equal(again, s.token);
	creds_claims_clear(&c);
	creds_session_clear(&s);
}

static void mint_sets_differ(void **state)
{
	struct creds_session a, b;
	char ids[200][CREDS_AKID_LEN + 1];

	(void)state;
	mint(&a, NOW, TTL);
	mint(&b, NOW, TTL);
	assert_string_not_equal(a.claims.access_key_id, b.claims.access_key_id);
	assert_string_not_equal(a.secret_access_key, b.secret_access_key);
	assert_string_not_equal(a.token, b.token);
	creds_session_clear(&a);
	creds_session_clear(&b);
	for (int i = 0; i < 200; i++) {
		mint(&a, NOW, TTL);
		memcpy(ids[i], a.claims.access_key_id, sizeof(ids[i]));
		creds_session_clear(&a);
		for (int j = 0; j < i; j++)
			assert_string_not_equal(ids[i], ids[j]);
	}
}

/* The secret is bound to every claim and to the host key. */
static void secret_binds_claims_and_key(void **state)
{
	struct creds_session s;
	struct creds_claims c;
	char base[CREDS_SECRET_LEN + 1], other[CREDS_SECRET_LEN + 1];
	uint8_t key2[CREDS_HOST_KEY_LEN];

	(void)state;
	mint(&s, NOW, TTL);
	c = s.claims;
	creds_derive_secret(key, &c, base);
	assert_string_equal(base, s.secret_access_key);
	c.expiration++;
	creds_derive_secret(key, &c, other);
	assert_string_not_equal(base, other);
	c.expiration--;
	c.issued--;
	creds_derive_secret(key, &c, other);
	assert_string_not_equal(base, other);
	c.issued++;
	c.task_arn = (char *)"arn:aws:ecs:us-east-1:123456789012:task/prod/other";
	creds_derive_secret(key, &c, other);
	assert_string_not_equal(base, other);
	c.task_arn = s.claims.task_arn;
	c.role_arn = (char *)"arn:aws:iam::123456789012:role/admin";
	creds_derive_secret(key, &c, other);
	assert_string_not_equal(base, other);
	c.role_arn = s.claims.role_arn;
	memcpy(key2, key, sizeof(key2));
	key2[31] ^= 1;
	creds_derive_secret(key2, &c, other);
	assert_string_not_equal(base, other);
	creds_session_clear(&s);
}

static void mint_refuses_bad_input(void **state)
{
	struct creds_session s;
	struct berr *err = NULL;
	char long_arn[CREDS_ARN_MAX + 2];

	(void)state;
	memset(&s, 0, sizeof(s));
	assert_true(creds_mint(key, "", TASK, NOW, TTL, &s, &err) < 0);
	assert_string_equal(berr_msg(err), "mint credentials: role ARN: empty: Invalid argument");
	assert_true(creds_mint(key, ROLE, NULL, NOW, TTL, &s, &err) < 0);
	assert_string_equal(berr_msg(err), "mint credentials: task ARN: empty: Invalid argument");
	assert_true(creds_mint(key, "arn:x\ny", TASK, NOW, TTL, &s, &err) < 0);
	assert_string_equal(berr_msg(err), "mint credentials: role ARN \"arn:x\\u000ay\": control "
					   "character: Invalid argument");
	memset(long_arn, 'a', sizeof(long_arn) - 1);
	long_arn[sizeof(long_arn) - 1] = '\0';
	assert_true(creds_mint(key, ROLE, long_arn, NOW, TTL, &s, &err) < 0);
	assert_string_equal(berr_msg(err), "mint credentials: task ARN: 1025 bytes, at most 1024: "
					   "Invalid argument");
	assert_true(creds_mint(key, ROLE, TASK, NOW, CREDS_TTL_MIN - 1, &s, &err) < 0);
	assert_string_equal(berr_msg(err), "mint credentials: lifetime 59 s out of range "
					   "[60, 43200]: Invalid argument");
	assert_true(creds_mint(key, ROLE, TASK, NOW, CREDS_TTL_MAX + 1, &s, &err) < 0);
	assert_true(creds_mint(key, ROLE, TASK, -1, TTL, &s, &err) < 0);
	assert_true(creds_mint(key, ROLE, TASK, CREDS_TIME_MAX - TTL + 1, TTL, &s, &err) < 0);
	assert_string_equal(berr_msg(err), "mint credentials: time 253402297200 out of range: "
					   "Invalid argument");
	berr_clear(&err);
	/* nothing was filled */
	assert_null(s.token);
	/* the limits themselves are fine, and round-trip */
	long_arn[CREDS_ARN_MAX] = '\0';
	assert_int_equal(creds_mint(key, long_arn, long_arn, CREDS_TIME_MAX - CREDS_TTL_MAX,
				    CREDS_TTL_MAX, &s, &err), 0);
	{
		struct creds_claims c;

		assert_true(strlen(s.token) <= CREDS_TOKEN_MAX);
		assert_int_equal(creds_verify(key, s.token, strlen(s.token), s.claims.issued, &c,
					      NULL, &err), 0);
		assert_string_equal(c.role_arn, long_arn);
		assert_int_equal(c.expiration, CREDS_TIME_MAX);
		creds_claims_clear(&c);
	}
	creds_session_clear(&s);
}

/* --------------------------------------------------------------- verify */

/* One bit flipped in each byte of the decoded token, in turn: the version
 * byte gives "unknown version", every other one (claims and MAC) "bad MAC". */
static void tampered_every_byte(void **state)
{
	struct creds_session s;
	size_t n;
	cleanup_free unsigned char *b = NULL;

	(void)state;
	mint(&s, NOW, TTL);
	b = decode(s.token, &n);
	for (size_t i = 0; i < n; i++) {
		for (unsigned bit = 0; bit < 8; bit += 7) {
			cleanup_free char *t = NULL;

			b[i] ^= (unsigned char)(1u << bit);
			t = creds_base64url_encode(b, n);
			b[i] ^= (unsigned char)(1u << bit);
			if (i == 0)
				refused(key, t, NOW, CREDS_TOKEN_UNKNOWN_VERSION, "unknown version");
			else
				refused(key, t, NOW, CREDS_TOKEN_BAD_MAC, "MAC does not match");
		}
	}
	creds_session_clear(&s);
}

/* Edits of the text: characters outside the alphabet, padding, cuts. */
static void tampered_text(void **state)
{
	struct creds_session s;
	size_t len;
	cleanup_free char *t = NULL;
	char big[CREDS_TOKEN_MAX + 2];

	(void)state;
	mint(&s, NOW, TTL);
	len = strlen(s.token);
	t = xmalloc(len + 8);

	strcpy(t, s.token);
	t[len / 2] = '+';
	refused(key, t, NOW, CREDS_TOKEN_MALFORMED, "not base64url");
	strcpy(t, s.token);
	t[10] = '.';
	refused(key, t, NOW, CREDS_TOKEN_MALFORMED, "not base64url");
	snprintf(t, len + 8, "%s==", s.token);
	refused(key, t, NOW, CREDS_TOKEN_MALFORMED, "not base64url");
	snprintf(t, len + 8, " %s", s.token);
	refused(key, t, NOW, CREDS_TOKEN_MALFORMED, "not base64url");
	/* a character changed to another one of the alphabet */
	strcpy(t, s.token);
	t[len / 3] = t[len / 3] == 'Q' ? 'R' : 'Q';
	refused(key, t, NOW, CREDS_TOKEN_BAD_MAC, NULL);
	/* cut by one 4-character group: whole bytes lost from the MAC */
	strcpy(t, s.token);
	t[len - 4] = '\0';
	refused(key, t, NOW, CREDS_TOKEN_BAD_MAC, NULL);
	/* cut to a few bytes */
	strcpy(t, s.token);
	t[8] = '\0';
	refused(key, t, NOW, CREDS_TOKEN_MALFORMED, "too short");
	refused(key, "", NOW, CREDS_TOKEN_MALFORMED, "empty");
	memset(big, 'A', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	refused(key, big, NOW, CREDS_TOKEN_MALFORMED, "4097 characters, at most 4096");
	creds_session_clear(&s);
}

static void wrong_host_key(void **state)
{
	struct creds_session s;
	uint8_t other[CREDS_HOST_KEY_LEN];

	(void)state;
	mint(&s, NOW, TTL);
	memcpy(other, key, sizeof(other));
	other[0] ^= 0x80;
	refused(other, s.token, NOW, CREDS_TOKEN_BAD_MAC,
		"MAC does not match (altered, or not issued with this host key)");
	creds_session_clear(&s);
}

static void expiry_and_clock_skew(void **state)
{
	struct creds_session s;
	struct creds_claims c;
	struct berr *err = NULL;
	const char *t;

	(void)state;
	mint(&s, NOW, TTL);
	t = s.token;
	/* valid through the last second before the expiration */
	assert_int_equal(creds_verify(key, t, strlen(t), NOW + TTL - 1, &c, NULL, &err), 0);
	creds_claims_clear(&c);
	refused(key, t, NOW + TTL, CREDS_TOKEN_EXPIRED,
		"session token: expired at 2023-11-14T23:13:20Z");
	refused(key, t, NOW + 10 * TTL, CREDS_TOKEN_EXPIRED, NULL);
	/* a clock up to CREDS_CLOCK_SKEW behind the issuer's is tolerated */
	assert_int_equal(creds_verify(key, t, strlen(t), NOW - CREDS_CLOCK_SKEW, &c, NULL, &err), 0);
	creds_claims_clear(&c);
	refused(key, t, NOW - CREDS_CLOCK_SKEW - 1, CREDS_TOKEN_NOT_YET_VALID,
		"not yet valid: issued at 2023-11-14T22:13:20Z, more than 300 s ahead");
	creds_session_clear(&s);
}

/* A body with the given fields (version 1 unless changed), sealed. */
struct body {
	unsigned char b[3000];
	size_t n;
};

static void put(struct body *b, const void *p, size_t n)
{
	memcpy(b->b + b->n, p, n);
	b->n += n;
}

static void put_u64(struct body *b, uint64_t v)
{
	for (int i = 7; i >= 0; i--)
		b->b[b->n++] = (unsigned char)(v >> (8 * i));
}

static void put_str(struct body *b, const char *s, size_t len)
{
	b->b[b->n++] = (unsigned char)(len >> 8);
	b->b[b->n++] = (unsigned char)len;
	put(b, s, len);
}

static void body_std(struct body *b, int version, const char *akid, uint64_t issued,
		     uint64_t exp, const char *role, const char *task)
{
	b->n = 0;
	b->b[b->n++] = (unsigned char)version;
	put(b, akid, CREDS_AKID_LEN);
	put_u64(b, issued);
	put_u64(b, exp);
	put_str(b, role, strlen(role));
	put_str(b, task, strlen(task));
}

static void sealed_refused(const struct body *b, enum creds_token_status want, const char *msg)
{
	cleanup_free char *t = creds_token_seal(key, b->b, b->n);

	refused(key, t, NOW, want, msg);
}

/* Fields behind a valid MAC are still checked (a bug or a leaked key must
 * not turn into an out-of-bounds read or an odd claim). */
static void malformed_fields_behind_valid_mac(void **state)
{
	const char *akid = "ASIAABCDEFGHIJKLMNOP";
	struct body b;

	(void)state;
	/* the reference body is accepted */
	body_std(&b, 1, akid, NOW, NOW + TTL, ROLE, TASK);
	{
		cleanup_free char *t = creds_token_seal(key, b.b, b.n);
		struct creds_claims c;
		struct berr *err = NULL;

		if (creds_verify(key, t, strlen(t), NOW, &c, NULL, &err) < 0)
			fail_msg("%s", berr_msg(err));
		assert_string_equal(c.access_key_id, akid);
		creds_claims_clear(&c);
	}
	body_std(&b, 2, akid, NOW, NOW + TTL, ROLE, TASK);
	sealed_refused(&b, CREDS_TOKEN_UNKNOWN_VERSION, "session token: unknown version 2");
	body_std(&b, 0, akid, NOW, NOW + TTL, ROLE, TASK);
	sealed_refused(&b, CREDS_TOKEN_UNKNOWN_VERSION, "unknown version 0");
	body_std(&b, 1, "AKIAABCDEFGHIJKLMNOP", NOW, NOW + TTL, ROLE, TASK);
	sealed_refused(&b, CREDS_TOKEN_MALFORMED, "invalid fields");
	body_std(&b, 1, "ASIAabcdefghijklmnop", NOW, NOW + TTL, ROLE, TASK);
	sealed_refused(&b, CREDS_TOKEN_MALFORMED, "invalid fields");
	body_std(&b, 1, "ASIAABCDEFGHIJKLMN1P", NOW, NOW + TTL, ROLE, TASK);
	sealed_refused(&b, CREDS_TOKEN_MALFORMED, "invalid fields");
	/* expiration before issue, lifetime out of range, time out of range */
	body_std(&b, 1, akid, NOW, NOW - 1, ROLE, TASK);
	sealed_refused(&b, CREDS_TOKEN_MALFORMED, "invalid fields");
	body_std(&b, 1, akid, NOW, NOW + CREDS_TTL_MAX + 1, ROLE, TASK);
	sealed_refused(&b, CREDS_TOKEN_MALFORMED, "invalid fields");
	body_std(&b, 1, akid, UINT64_MAX - 10, UINT64_MAX, ROLE, TASK);
	sealed_refused(&b, CREDS_TOKEN_MALFORMED, "invalid fields");
	/* empty ARN, control character, NUL inside */
	body_std(&b, 1, akid, NOW, NOW + TTL, "", TASK);
	sealed_refused(&b, CREDS_TOKEN_MALFORMED, "invalid fields");
	body_std(&b, 1, akid, NOW, NOW + TTL, ROLE, "arn:\x1b[31m");
	sealed_refused(&b, CREDS_TOKEN_MALFORMED, "invalid fields");
	body_std(&b, 1, akid, NOW, NOW + TTL, ROLE, TASK);
	b.b[b.n - 3] = '\0';
	sealed_refused(&b, CREDS_TOKEN_MALFORMED, "invalid fields");
	/* a length running past the end, trailing bytes, a cut body */
	body_std(&b, 1, akid, NOW, NOW + TTL, ROLE, TASK);
	b.b[b.n - strlen(TASK) - 1] += 1;
	sealed_refused(&b, CREDS_TOKEN_MALFORMED, "invalid fields");
	body_std(&b, 1, akid, NOW, NOW + TTL, ROLE, TASK);
	b.b[b.n++] = 'x';
	sealed_refused(&b, CREDS_TOKEN_MALFORMED, "invalid fields");
	body_std(&b, 1, akid, NOW, NOW + TTL, ROLE, TASK);
	b.n -= strlen(TASK) + 2;
	sealed_refused(&b, CREDS_TOKEN_MALFORMED, "invalid fields");
	/* an ARN longer than CREDS_ARN_MAX */
	{
		char arn[CREDS_ARN_MAX + 2];

		memset(arn, 'a', sizeof(arn) - 1);
		arn[sizeof(arn) - 1] = '\0';
		body_std(&b, 1, akid, NOW, NOW + TTL, arn, TASK);
		sealed_refused(&b, CREDS_TOKEN_MALFORMED, "invalid fields");
	}
}

static void status_names(void **state)
{
	(void)state;
	assert_string_equal(creds_token_status_name(CREDS_TOKEN_OK), "ok");
	assert_string_equal(creds_token_status_name(CREDS_TOKEN_MALFORMED), "malformed");
	assert_string_equal(creds_token_status_name(CREDS_TOKEN_UNKNOWN_VERSION), "unknown version");
	assert_string_equal(creds_token_status_name(CREDS_TOKEN_BAD_MAC), "bad MAC");
	assert_string_equal(creds_token_status_name(CREDS_TOKEN_EXPIRED), "expired");
	assert_string_equal(creds_token_status_name(CREDS_TOKEN_NOT_YET_VALID), "not yet valid");
}

/* ------------------------------------------------------------- rotation */

static void refresh_schedule(void **state)
{
	struct creds_claims c = { 0 };

	(void)state;
	/* 6 hours: at 80% (72 minutes before expiry) */
	c.issued = NOW;
	c.expiration = NOW + 6 * 3600;
	assert_int_equal(creds_refresh_at(&c), NOW + 6 * 3600 * 8 / 10);
	/* 1 hour: 20 minutes before expiry comes before 80% */
	c.expiration = NOW + 3600;
	assert_int_equal(creds_refresh_at(&c), NOW + 40 * 60);
	assert_false(creds_should_refresh(&c, NOW + 40 * 60 - 1));
	assert_true(creds_should_refresh(&c, NOW + 40 * 60));
	/* past botocore's 15-minute window, so an SDK asking then gets new ones */
	assert_true(c.expiration - creds_refresh_at(&c) > 15 * 60);
	/* 2 minutes: never before half the lifetime */
	c.expiration = NOW + 120;
	assert_int_equal(creds_refresh_at(&c), NOW + 60);
	/* 12 hours */
	c.expiration = NOW + CREDS_TTL_MAX;
	assert_int_equal(creds_refresh_at(&c), NOW + CREDS_TTL_MAX * 8 / 10);
}

/* ------------------------------------------------------------- host key */

static char *tmpdir(void)
{
	char *d = xstrdup("/tmp/berth-test-issuer-XXXXXX");

	assert_non_null(mkdtemp(d));
	return d;
}

static void rmtree(const char *d)
{
	struct berr *err = NULL;

	if (fs_rm_rf_at(AT_FDCWD, d, &err) < 0)
		fail_msg("%s", berr_msg(err));
}

static size_t dir_entries(const char *d)
{
	DIR *dir = opendir(d);
	struct dirent *e;
	size_t n = 0;

	assert_non_null(dir);
	while ((e = readdir(dir)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(dir);
	return n;
}

static void write_file(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void host_key_create_then_load(void **state)
{
	cleanup_free char *d = tmpdir();
	cleanup_free char *path = fs_path_join(d, "host.key");
	uint8_t k1[CREDS_HOST_KEY_LEN], k2[CREDS_HOST_KEY_LEN], zero[CREDS_HOST_KEY_LEN] = { 0 };
	struct berr *err = NULL;
	struct stat st;
	cleanup_free char *data = NULL;
	size_t len;
	mode_t old = umask(0);   /* the file is 0600 whatever the umask */

	(void)state;
	assert_int_equal(creds_host_key_load_or_create(path, k1, &err), 1);
	umask(old);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, CREDS_HOST_KEY_LEN);
	assert_int_equal(st.st_nlink, 1);
	assert_memory_not_equal(k1, zero, sizeof(k1));
	assert_int_equal(fs_read_file(path, &data, &len, 64, &err), 0);
	assert_int_equal(len, CREDS_HOST_KEY_LEN);
	assert_memory_equal(data, k1, len);
	/* no temporary file left behind */
	assert_int_equal(dir_entries(d), 1);

	assert_int_equal(creds_host_key_load_or_create(path, k2, &err), 0);
	assert_memory_equal(k1, k2, sizeof(k1));
	/* mode 0400 is fine too */
	assert_int_equal(chmod(path, 0400), 0);
	assert_int_equal(creds_host_key_load_or_create(path, k2, &err), 0);
	assert_memory_equal(k1, k2, sizeof(k1));
	rmtree(d);
}

/* An existing file that is not a good key is refused, never replaced. */
static void key_refused(const char *path, const char *msg)
{
	uint8_t k[CREDS_HOST_KEY_LEN], zero[CREDS_HOST_KEY_LEN] = { 0 };
	struct berr *err = NULL;

	memset(k, 0x77, sizeof(k));
	assert_true(creds_host_key_load_or_create(path, k, &err) < 0);
	assert_non_null(err);
	if (!strstr(berr_msg(err), msg))
		fail_msg("\"%s\" does not contain \"%s\"", berr_msg(err), msg);
	assert_non_null(strstr(berr_msg(err), path));
	assert_memory_equal(k, zero, sizeof(k));
	berr_clear(&err);
}

static void host_key_refuses_bad_files(void **state)
{
	cleanup_free char *d = tmpdir();
	cleanup_free char *path = fs_path_join(d, "host.key");
	cleanup_free char *good = fs_path_join(d, "good.key");
	uint8_t bytes[40];
	struct stat st;

	(void)state;
	memset(bytes, 0xab, sizeof(bytes));
	write_file(path, bytes, 32, 0640);
	key_refused(path, "readable by group or others (mode 0640); it must be 0600 or stricter");
	assert_int_equal(chmod(path, 0604), 0);
	key_refused(path, "readable by group or others (mode 0604)");
	assert_int_equal(chmod(path, 0620), 0);
	key_refused(path, "group or others have access (mode 0620)");
	assert_int_equal(chmod(path, 0601), 0);
	key_refused(path, "group or others have access (mode 0601)");
	/* refused, not rewritten */
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 32);

	write_file(path, bytes, 31, 0600);
	key_refused(path, "31 bytes, expected 32");
	write_file(path, bytes, 33, 0600);
	key_refused(path, "33 bytes, expected 32");
	write_file(path, bytes, 0, 0600);
	key_refused(path, "0 bytes, expected 32");

	assert_int_equal(unlink(path), 0);
	assert_int_equal(mkdir(path, 0700), 0);
	key_refused(path, "not a regular file");
	assert_int_equal(rmdir(path), 0);

	/* a FIFO: refused at once, not waited on */
	assert_int_equal(mkfifo(path, 0600), 0);
	key_refused(path, "not a regular file");
	assert_int_equal(unlink(path), 0);

	/* a symlink, even to a good key, and a dangling one */
	write_file(good, bytes, 32, 0600);
	assert_int_equal(symlink(good, path), 0);
	key_refused(path, "is a symbolic link");
	assert_int_equal(unlink(good), 0);
	key_refused(path, "is a symbolic link");
	assert_int_equal(unlink(path), 0);

	/* another owner (needs root to make such a file) */
	if (geteuid() == 0) {
		write_file(path, bytes, 32, 0600);
		assert_int_equal(chown(path, 65534, 65534), 0);
		key_refused(path, "owned by uid 65534, not by uid 0");
	} else {
		print_message("host_key_refuses_bad_files: owner check not exercised (not root)\n");
	}
	rmtree(d);
}

static void host_key_missing_directory(void **state)
{
	uint8_t k[CREDS_HOST_KEY_LEN];
	struct berr *err = NULL;

	(void)state;
	assert_true(creds_host_key_load_or_create("/nonexistent-berth-dir/host.key", k, &err) < 0);
	assert_non_null(strstr(berr_msg(err), "host key /nonexistent-berth-dir/host.key: create"));
	berr_clear(&err);
}

/* Several processes starting at once on a missing key: one creates it, the
 * others load that one; all end with the same key, and one file. */
static void host_key_concurrent_creators(void **state)
{
	cleanup_free char *d = tmpdir();
	cleanup_free char *path = fs_path_join(d, "host.key");
	enum { N = 8 };
	int pipes[N][2], created = 0;
	pid_t pids[N];
	uint8_t keys[N][CREDS_HOST_KEY_LEN];
	int go[2];

	(void)state;
	assert_int_equal(pipe(go), 0);
	for (int i = 0; i < N; i++) {
		assert_int_equal(pipe(pipes[i]), 0);
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			uint8_t k[CREDS_HOST_KEY_LEN + 1];
			char c;
			struct berr *err = NULL;
			int r;

			close(go[1]);
			/* wait for the start signal: all race together */
			if (read(go[0], &c, 1) < 0)
				_exit(3);
			r = creds_host_key_load_or_create(path, k + 1, &err);
			if (r < 0) {
				fprintf(stderr, "child: %s\n", berr_msg(err));
				_exit(2);
			}
			k[0] = (uint8_t)r;
			if (write(pipes[i][1], k, sizeof(k)) != (ssize_t)sizeof(k))
				_exit(4);
			_exit(0);
		}
		close(pipes[i][1]);
	}
	close(go[0]);
	close(go[1]);   /* EOF releases every child at once */
	for (int i = 0; i < N; i++) {
		uint8_t buf[CREDS_HOST_KEY_LEN + 1];
		int status;

		assert_int_equal(read(pipes[i][0], buf, sizeof(buf)), (ssize_t)sizeof(buf));
		close(pipes[i][0]);
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		created += buf[0];
		memcpy(keys[i], buf + 1, CREDS_HOST_KEY_LEN);
	}
	assert_int_equal(created, 1);
	for (int i = 1; i < N; i++)
		assert_memory_equal(keys[0], keys[i], CREDS_HOST_KEY_LEN);
	assert_int_equal(dir_entries(d), 1);
	rmtree(d);
}

/* A key from the file works for the whole cycle. */
static void host_key_mint_verify(void **state)
{
	cleanup_free char *d = tmpdir();
	cleanup_free char *path = fs_path_join(d, "host.key");
	uint8_t k[CREDS_HOST_KEY_LEN], k2[CREDS_HOST_KEY_LEN];
	struct creds_session s;
	struct creds_claims c;
	struct berr *err = NULL;

	(void)state;
	assert_true(creds_host_key_load_or_create(path, k, &err) >= 0);
	assert_int_equal(creds_mint(k, ROLE, TASK, NOW, TTL, &s, &err), 0);
	assert_true(creds_host_key_load_or_create(path, k2, &err) >= 0);
	assert_int_equal(creds_verify(k2, s.token, strlen(s.token), NOW, &c, NULL, &err), 0);
	creds_claims_clear(&c);
	/* with the test's fixed key the same token is refused */
	refused(key, s.token, NOW, CREDS_TOKEN_BAD_MAC, NULL);
	creds_session_clear(&s);
	rmtree(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(codec_base32_vectors),
		cmocka_unit_test(codec_base64_vectors),
		cmocka_unit_test(codec_base64url_strict),
		cmocka_unit_test(codec_ct_equal),
		cmocka_unit_test(mint_formats),
		cmocka_unit_test(mint_verify_roundtrip),
		cmocka_unit_test(mint_sets_differ),
		cmocka_unit_test(secret_binds_claims_and_key),
		cmocka_unit_test(mint_refuses_bad_input),
		cmocka_unit_test(tampered_every_byte),
		cmocka_unit_test(tampered_text),
		cmocka_unit_test(wrong_host_key),
		cmocka_unit_test(expiry_and_clock_skew),
		cmocka_unit_test(malformed_fields_behind_valid_mac),
		cmocka_unit_test(status_names),
		cmocka_unit_test(refresh_schedule),
		cmocka_unit_test(host_key_create_then_load),
		cmocka_unit_test(host_key_refuses_bad_files),
		cmocka_unit_test(host_key_missing_directory),
		cmocka_unit_test(host_key_concurrent_creators),
		cmocka_unit_test(host_key_mint_verify),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
