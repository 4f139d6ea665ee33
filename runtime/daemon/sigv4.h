/* runtime/daemon/sigv4.h - AWS Signature Version 4 verification (header auth).
 *
 * berthd's TCP listener accepts a request only when it carries
 *
 *     Authorization: AWS4-HMAC-SHA256 Credential=<key>/<yyyymmdd>/<region>/<service>/aws4_request,
 *                    SignedHeaders=<a;b;c>, Signature=<64 hex>
 *     X-Amz-Date: <yyyymmdd>T<hhmmss>Z
 *
 * signed with the secret of a configured key (struct berthd_key). The check
 * rebuilds AWS's canonical request exactly as the SDKs sign it for a non-S3
 * service (botocore's SigV4Auth, AWS's published test suite):
 *
 *   METHOD \n
 *   canonical URI     the path as received with dot segments and empty
 *                     segments removed, then URI-encoded again (a second
 *                     encoding, as AWS specifies for every service but S3)
 *   canonical query   name=value pairs, each %-decoded and re-encoded, sorted
 *                     by name then value ("a&b" -> "a=&b=")
 *   canonical headers for each SignedHeaders name: "name:v1,v2\n", the values
 *                     of every header of that name in order, trimmed, inner
 *                     SP/HTAB runs collapsed to one space
 *   \n SignedHeaders \n hex(sha256(body))
 *
 * The payload hash is always computed from the body; an X-Amz-Content-Sha256
 * header must equal it (UNSIGNED-PAYLOAD and streaming are refused), so a
 * signature never covers a body it did not see. The string to sign is
 * "AWS4-HMAC-SHA256\n<X-Amz-Date>\n<scope>\nhex(sha256(canonical request))",
 * the key HMAC("AWS4"+secret, date) -> region -> service -> "aws4_request",
 * and the comparison constant-time (CRYPTO_memcmp).
 *
 * Also checked: `host` is a signed header; the scope's terminator is
 * aws4_request, its service the expected one ("ecs") and its date the
 * X-Amz-Date's; X-Amz-Date within max_skew seconds of now. Any region is
 * accepted and returned for logging. Failures carry AWS's exception names and
 * messages, answered with HTTP 403 as {"__type": type, "message": message}:
 *   MissingAuthenticationTokenException  no Authorization header
 *   IncompleteSignatureException         Authorization or X-Amz-Date malformed
 *   UnrecognizedClientException          unknown access key id
 *   InvalidSignatureException            wrong signature, scope, payload hash,
 *                                        or "Signature expired: ..." /
 *                                        "Signature not yet current: ..."
 *   ExpiredTokenException                a session token past its expiration
 *
 * Session credentials (sigv4_verify_keys with a session callback): a
 * request whose key id is not a configured key and that carries
 * X-Amz-Security-Token must list x-amz-security-token in SignedHeaders; the
 * callback checks the token for the Credential's key id and gives the
 * signing secret. For a configured key the token is an ordinary header. */
#ifndef BERTH_RUNTIME_DAEMON_SIGV4_H
#define BERTH_RUNTIME_DAEMON_SIGV4_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "runtime/daemon/daemon.h"
#include "runtime/daemon/http.h"

#define SIGV4_ALGORITHM "AWS4-HMAC-SHA256"
#define SIGV4_STATUS 403

#define SIGV4_MISSING_TOKEN "MissingAuthenticationTokenException"
#define SIGV4_INCOMPLETE "IncompleteSignatureException"
#define SIGV4_UNRECOGNIZED "UnrecognizedClientException"
#define SIGV4_INVALID "InvalidSignatureException"
#define SIGV4_EXPIRED_TOKEN "ExpiredTokenException"

struct sigv4_str {
	const char *p;
	size_t len;
};

/* The parts of an Authorization header, pointing into its value. */
struct sigv4_auth {
	struct sigv4_str key_id, date, region, service, terminator;  /* Credential=k/d/r/s/t */
	struct sigv4_str signed_headers;
	struct sigv4_str signature;
};

/* Why a request was refused (or who signed it). */
struct sigv4_result {
	const char *type;             /* NULL when verified, else one of SIGV4_* above */
	char message[384];
	char access_key_id[129];      /* the key that signed; on failure the claimed one, or "" */
	char region[65];              /* from the credential scope, or "" */
	bool session;                 /* verified with session credentials (a token) */
};

/* Who may sign. session (may be NULL: no session credentials) checks the
 * token of token_len bytes for key id akid: 0 with secret filled
 * (NUL-terminated, at most secret_len bytes with the NUL), or -1 with res's
 * type and message set (use sigv4_refuse). */
struct sigv4_keys {
	const struct berthd_key *keys;
	size_t n_keys;
	int (*session)(void *ctx, const char *akid, const char *token, size_t token_len,
		       char *secret, size_t secret_len, struct sigv4_result *res);
	void *ctx;
};

/* Fill res with type and a formatted message; returns -1. */
int sigv4_refuse(struct sigv4_result *res, const char *type, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Split an Authorization header value. 0, or -1 with res = IncompleteSignature. */
int sigv4_parse_authorization(const char *value, size_t len, struct sigv4_auth *a,
			      struct sigv4_result *res);

/* The canonical request of req as `a` signs it, xmalloc'd into *out, with
 * payload_hash as its last line. -1 with res filled when SignedHeaders is
 * malformed or names a header the request lacks. */
int sigv4_canonical_request(const struct http_request *req, const struct sigv4_auth *a,
			    const char *payload_hash, char **out, struct sigv4_result *res);

/* "AWS4-HMAC-SHA256\n<amz_date>\n<date>/<region>/<service>/aws4_request\n<hex sha256>"
 * (xmalloc'd). */
char *sigv4_string_to_sign(const char *amz_date, const struct sigv4_auth *a,
			   const char *canonical_request);

/* hex HMAC-SHA256 signature of string_to_sign (65 bytes with the NUL). */
void sigv4_signature(const char *secret, const struct sigv4_auth *a, const char *string_to_sign,
		     char out[65]);

/* Verify req. 0 with res->type NULL and res->access_key_id the signer, or -1
 * with res filled (answer SIGV4_STATUS). */
int sigv4_verify(const struct http_request *req, const struct berthd_key *keys, size_t n_keys,
		 const char *service, int64_t max_skew, time_t now, struct sigv4_result *res);

/* The same with session credentials as well (struct sigv4_keys). */
int sigv4_verify_keys(const struct http_request *req, const struct sigv4_keys *k,
		      const char *service, int64_t max_skew, time_t now, struct sigv4_result *res);

#endif
