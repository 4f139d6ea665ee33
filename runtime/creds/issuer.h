/* runtime/creds/issuer.h - per-task session credentials, checked statelessly.
 *
 * berthd mints a set of AWS-shaped temporary credentials for a task's role
 * and can check them later without having stored them: everything it needs
 * travels in the session token, under a MAC keyed by the host key (a 32-byte
 * secret file only root reads). docs/credentials.md has the design.
 *
 *   AccessKeyId      "ASIA" + 16 base32 characters, 80 random bits
 *   SecretAccessKey  40 base64 characters: HMAC-SHA256 under a key derived
 *                    from the host key, over every claim of the token
 *   SessionToken     base64url (no padding) of
 *                      u8   version (1)
 *                      20   access key id
 *                      u64  issued (epoch seconds, big-endian)
 *                      u64  expiration
 *                      u16  role ARN length, role ARN
 *                      u16  task ARN length, task ARN
 *                      32   HMAC-SHA256 of all the above, under a second
 *                           key derived from the host key
 *   Expiration       epoch seconds, shown as ISO 8601 "2024-05-01T12:00:00Z"
 *
 * The secret is never in the token: whoever sees a token (a log, a proxy)
 * learns the claims but cannot sign with them. Verifying a SigV4 request
 * made with these credentials: creds_verify() the X-Amz-Security-Token,
 * check that its access key id is the one in the Credential scope, and use
 * creds_derive_secret() as the signing secret.
 */
#ifndef BERTH_RUNTIME_CREDS_ISSUER_H
#define BERTH_RUNTIME_CREDS_ISSUER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define CREDS_HOST_KEY_LEN 32
#define CREDS_AKID_LEN 20          /* "ASIA" + 16 */
#define CREDS_SECRET_LEN 40
#define CREDS_ISO8601_LEN 20       /* "2024-05-01T12:00:00Z" */
#define CREDS_TOKEN_VERSION 1
#define CREDS_ARN_MAX 1024         /* role and task ARN, bytes each */
#define CREDS_TOKEN_MAX 4096       /* characters of a token verify looks at */

/* Lifetimes mint accepts, and the default: ECS hands out task role
 * credentials for a few hours and rotates them well before they expire. */
#define CREDS_TTL_MIN 60
#define CREDS_TTL_MAX (12 * 3600)
#define CREDS_TTL_DEFAULT (6 * 3600)

/* A token issued up to this far in the future (another berthd's clock, or
 * this one's stepped back) is still accepted; one issued later than that is
 * "not yet valid". Expiry has no grace: holders refresh long before it. */
#define CREDS_CLOCK_SKEW 300

/* Latest epoch second mint accepts for an expiration: 9999-12-31T23:59:59Z,
 * so that every expiration renders in CREDS_ISO8601_LEN characters. */
#define CREDS_TIME_MAX INT64_C(253402300799)

/* What a valid token says. */
struct creds_claims {
	int version;
	char access_key_id[CREDS_AKID_LEN + 1];
	char *role_arn;      /* xmalloc'd */
	char *task_arn;      /* xmalloc'd */
	int64_t issued;
	int64_t expiration;
};

/* A minted set: the claims, the secret and the token. */
struct creds_session {
	struct creds_claims claims;
	char secret_access_key[CREDS_SECRET_LEN + 1];
	char *token;         /* xmalloc'd, NUL-terminated */
};

void creds_claims_clear(struct creds_claims *c);
/* Also wipes the secret. */
void creds_session_clear(struct creds_session *s);

/* Mint credentials for task_arn acting as role_arn, issued at now (epoch
 * seconds), valid for ttl seconds (CREDS_TTL_MIN..CREDS_TTL_MAX). ARNs are
 * 1..CREDS_ARN_MAX bytes without control characters. *out is filled only on
 * success. */
int creds_mint(const uint8_t host_key[CREDS_HOST_KEY_LEN], const char *role_arn,
	       const char *task_arn, int64_t now, int64_t ttl, struct creds_session *out,
	       struct berr **err);

/* Why a token was refused (creds_verify's *why). */
enum creds_token_status {
	CREDS_TOKEN_OK,
	CREDS_TOKEN_MALFORMED,        /* not base64url, too short or long, bad fields */
	CREDS_TOKEN_UNKNOWN_VERSION,
	CREDS_TOKEN_BAD_MAC,          /* not made with this host key, or altered */
	CREDS_TOKEN_EXPIRED,
	CREDS_TOKEN_NOT_YET_VALID,    /* issued more than CREDS_CLOCK_SKEW ahead of now */
};

const char *creds_token_status_name(enum creds_token_status s);

/* Check a session token of len bytes at now. Returns 0 and fills *out (the
 * caller clears it), or a negative value with *why (may be NULL) saying why
 * and *err a message ("session token: expired at 2024-05-01T12:00:00Z"); out
 * is then left empty. The MAC is compared in constant time, and checked
 * before any field is read. */
int creds_verify(const uint8_t host_key[CREDS_HOST_KEY_LEN], const char *token, size_t len,
		 int64_t now, struct creds_claims *out, enum creds_token_status *why,
		 struct berr **err);

/* The secret access key that belongs to claims (from creds_verify), for
 * checking a SigV4 signature. */
void creds_derive_secret(const uint8_t host_key[CREDS_HOST_KEY_LEN],
			 const struct creds_claims *c, char out[CREDS_SECRET_LEN + 1]);

/* The token for claims (which must be valid: creds_mint checks them),
 * xmalloc'd. creds_mint's token is this; tests and fuzzers use it to build
 * tokens with chosen claims. */
char *creds_token_encode(const uint8_t host_key[CREDS_HOST_KEY_LEN], const struct creds_claims *c);

/* base64url of body + its MAC: a token whose MAC is right whatever body
 * holds. Only for tests and fuzzers, which exercise the field parser
 * behind the MAC check with it. */
char *creds_token_seal(const uint8_t host_key[CREDS_HOST_KEY_LEN], const void *body, size_t len);

/* When a holder (the shim serving the task's endpoint) should replace a
 * set: at 80% of its lifetime, or 20 minutes before it expires when that
 * comes first (SDKs start refreshing 15 minutes before expiry, botocore's
 * advisory window, and must then find a newer set), but never before half
 * the lifetime (short test lifetimes). */
int64_t creds_refresh_at(const struct creds_claims *c);
bool creds_should_refresh(const struct creds_claims *c, int64_t now);

/* Render t (0..CREDS_TIME_MAX) as "YYYY-MM-DDTHH:MM:SSZ". */
void creds_iso8601(int64_t t, char out[CREDS_ISO8601_LEN + 1]);

/* Load the host key from path, or create it there when it does not exist:
 * 32 bytes from getrandom, written to a temporary file (O_EXCL, mode 0600)
 * that is fsync'd and linked into place (so no reader ever sees half a
 * key, and of two processes creating it at once both end up with the
 * winner's), then the directory fsync'd. An existing file is refused,
 * saying why, when it is a symlink or not a regular file, not owned by the
 * caller's euid, has any group or other permission bit, or is not exactly
 * 32 bytes. Returns 1 when the key was created, 0 when loaded. */
int creds_host_key_load_or_create(const char *path, uint8_t key[CREDS_HOST_KEY_LEN],
				  struct berr **err);

#endif
