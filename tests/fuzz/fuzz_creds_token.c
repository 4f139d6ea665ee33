/* fuzz_creds_token: session token verification (runtime/creds/issuer.c) and
 * base64url (runtime/creds/codec.c).
 *
 * The input is used three ways:
 *  1. as a token: creds_verify with the harness's host key. A refusal has
 *     a status and a "session token: " message and leaves the claims empty;
 *     an acceptance (only a seed made with this key gets one) has well-formed
 *     claims whose encoding is the input itself.
 *  2. as a token body: creds_token_seal adds the right MAC, so the field
 *     parser behind the MAC check sees arbitrary bytes. Verified at the time
 *     the body claims to be issued at (so that an accepted body is reached):
 *     never "bad MAC"; when accepted, the claims re-encode to the same token
 *     and derive a 40-character secret; the same token under another key is
 *     "bad MAC" (or the version is unknown first).
 *  3. as base64url text: what decodes re-encodes to the input (one encoding
 *     per byte string). */
#include "common/xalloc.h"
#include "runtime/creds/codec.h"
#include "runtime/creds/issuer.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t key[CREDS_HOST_KEY_LEN] = {
	0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
	0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
};

#define NOW INT64_C(1700000000)

static void check(bool ok)
{
	if (!ok)
		abort();
}

static bool claims_empty(const struct creds_claims *c)
{
	return c->role_arn == NULL && c->task_arn == NULL && c->access_key_id[0] == '\0' &&
	       c->issued == 0 && c->expiration == 0 && c->version == 0;
}

static void check_claims(const struct creds_claims *c)
{
	check(c->version == CREDS_TOKEN_VERSION);
	check(strlen(c->access_key_id) == CREDS_AKID_LEN &&
	      memcmp(c->access_key_id, "ASIA", 4) == 0 &&
	      strspn(c->access_key_id + 4, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") == 16);
	check(c->role_arn && c->role_arn[0] && strlen(c->role_arn) <= CREDS_ARN_MAX);
	check(c->task_arn && c->task_arn[0] && strlen(c->task_arn) <= CREDS_ARN_MAX);
	check(c->issued >= 0 && c->expiration - c->issued >= CREDS_TTL_MIN &&
	      c->expiration - c->issued <= CREDS_TTL_MAX && c->expiration <= CREDS_TIME_MAX);
	check(creds_refresh_at(c) > c->issued && creds_refresh_at(c) < c->expiration);
}

/* Verify token at now; returns the status. On acceptance the claims are
 * checked and their encoding compared with the token. */
static enum creds_token_status verify(const uint8_t *k, const char *token, size_t len,
				      int64_t now)
{
	struct creds_claims c;
	enum creds_token_status why = (enum creds_token_status)-1;
	struct berr *err = NULL;
	int r;

	memset(&c, 0x5a, sizeof(c));
	r = creds_verify(k, token, len, now, &c, &why, &err);
	if (r < 0) {
		check(why != CREDS_TOKEN_OK && (int)why >= 0 && why <= CREDS_TOKEN_NOT_YET_VALID);
		check(err && strncmp(berr_msg(err), "session token: ", 15) == 0);
		check(claims_empty(&c));
		check(creds_token_status_name(why)[0] != '?');
		berr_free(err);
		return why;
	}
	check(r == 0 && why == CREDS_TOKEN_OK && err == NULL);
	check_claims(&c);
	check(now < c.expiration && c.issued <= now + CREDS_CLOCK_SKEW);
	{
		char *again = creds_token_encode(k, &c);
		char secret[CREDS_SECRET_LEN + 1], secret2[CREDS_SECRET_LEN + 1];

		check(strlen(again) == len && memcmp(again, token, len) == 0);
		free(again);
		creds_derive_secret(k, &c, secret);
		creds_derive_secret(k, &c, secret2);
		check(strlen(secret) == CREDS_SECRET_LEN && strcmp(secret, secret2) == 0);
	}
	creds_claims_clear(&c);
	return CREDS_TOKEN_OK;
}

static int64_t issued_of(const uint8_t *body, size_t size)
{
	uint64_t v = 0;

	if (size < 1 + CREDS_AKID_LEN + 8)
		return NOW;
	for (int i = 0; i < 8; i++)
		v = v << 8 | body[1 + CREDS_AKID_LEN + i];
	return v > (uint64_t)CREDS_TIME_MAX ? NOW : (int64_t)v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;

	/* 1: the input as a token */
	verify(key, in, size, NOW);

	/* 2: the input as a body under a right MAC */
	if (size <= CREDS_TOKEN_MAX / 4 * 3 - 32) {
		char *t = creds_token_seal(key, data, size);
		size_t tl = strlen(t);
		int64_t when = issued_of(data, size);
		uint8_t other[CREDS_HOST_KEY_LEN];
		enum creds_token_status s;

		s = verify(key, t, tl, when);
		check(s != CREDS_TOKEN_BAD_MAC);
		/* checks run in a fixed order: what fails at `when` fails alike
		 * at any time, except the two time checks */
		if (s == CREDS_TOKEN_OK) {
			check(verify(key, t, tl, when + CREDS_TTL_MAX + 1) == CREDS_TOKEN_EXPIRED);
			check(verify(key, t, tl, when - CREDS_CLOCK_SKEW - 1) ==
			      CREDS_TOKEN_NOT_YET_VALID);
		}
		memcpy(other, key, sizeof(other));
		other[7] ^= 0x10;
		s = verify(other, t, tl, when);
		check(s == CREDS_TOKEN_BAD_MAC || s == CREDS_TOKEN_UNKNOWN_VERSION ||
		      s == CREDS_TOKEN_MALFORMED);
		free(t);
	}

	/* 3: the input as base64url */
	{
		unsigned char *out = xmalloc(size / 4 * 3 + 3);
		size_t n;

		if (creds_base64url_decode(in, size, out, &n) == 0) {
			char *e = creds_base64url_encode(out, n);

			check(strlen(e) == size && memcmp(e, in, size) == 0);
			free(e);
		}
		free(out);
	}
	return 0;
}
