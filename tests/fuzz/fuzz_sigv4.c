/* fuzz_sigv4: SigV4 verification (runtime/daemon/sigv4.c) over whatever
 * berthd's HTTP parser accepts.
 *
 * The input is raw HTTP. Its Authorization header (if any) and every line of
 * the input go through sigv4_parse_authorization; a parsed request goes
 * through sigv4_verify as it is, and then once more re-signed: its
 * Authorization header rebuilt with the configured key, service "ecs",
 * terminator aws4_request, the X-Amz-Date's day, and the signature computed
 * with the library's own canonical request / string to sign / signing key.
 * Invariants: no crash or leak; every refusal has an AWS type, a message and
 * rc -1, every acceptance rc 0 and the configured key; a parsed
 * Authorization has five non-empty credential parts inside the input; and
 * a request re-signed this way is never refused for its signature (the
 * verifier and the signer build the same canonical request). */
#include "common/sha256.h"
#include "common/xalloc.h"
#include "runtime/daemon/http.h"
#include "runtime/daemon/sigv4.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define KEY "AKIDEXAMPLE"
#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define NOW 1440938160   /* 20150830T123600Z */

static struct berthd_key keys[] = { { (char *)KEY, (char *)SECRET } };
static struct http_request req, req2;

static bool known_type(const char *t)
{
	return t && (strcmp(t, SIGV4_MISSING_TOKEN) == 0 || strcmp(t, SIGV4_INCOMPLETE) == 0 ||
		     strcmp(t, SIGV4_UNRECOGNIZED) == 0 || strcmp(t, SIGV4_INVALID) == 0);
}

static void check_verdict(int rc, const struct sigv4_result *res)
{
	if (rc == 0) {
		if (res->type || strcmp(res->access_key_id, KEY) != 0)
			abort();
	} else {
		if (rc != -1 || !known_type(res->type) || res->message[0] == '\0')
			abort();
	}
}

static bool inside(struct sigv4_str s, const char *buf, size_t len)
{
	return s.p >= buf && s.len <= len && (size_t)(s.p - buf) <= len - s.len;
}

static void parse_auth(const char *v, size_t n)
{
	struct sigv4_auth a;
	struct sigv4_result res;

	memset(&res, 0, sizeof(res));
	if (sigv4_parse_authorization(v, n, &a, &res) == 0) {
		const struct sigv4_str *parts[] = { &a.key_id, &a.date, &a.region, &a.service,
						    &a.terminator, &a.signed_headers, &a.signature };

		for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
			if (parts[i]->len == 0 || !inside(*parts[i], v, n))
				abort();
	} else if (!res.type || strcmp(res.type, SIGV4_INCOMPLETE) != 0 || !res.message[0]) {
		abort();
	}
}

static void sha256_hex(const void *d, size_t n, char out[65])
{
	unsigned char md[SHA256_LEN];
	static const char hex[] = "0123456789abcdef";

	sha256(d, n, md);
	for (unsigned i = 0; i < 32; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[64] = '\0';
}

/* req with its Authorization re-signed (see the top); the verdict checked */
static void resign(const struct http_request *r)
{
	const struct http_header *authz = http_header_find(r, "authorization");
	const struct http_header *date = http_header_find(r, "x-amz-date");
	const struct http_header *sha = http_header_find(r, "x-amz-content-sha256");
	struct sigv4_auth a;
	struct sigv4_result res;
	char hash[65], sig[65], amz_date[17];
	char *creq = NULL, *sts = NULL, *value;
	int rc;

	if (!authz || !date || date->value_len != 16 ||
	    sigv4_parse_authorization(authz->value, authz->value_len, &a, &res) < 0)
		return;
	memcpy(amz_date, date->value, 16);
	amz_date[16] = '\0';
	a.key_id = (struct sigv4_str){ KEY, strlen(KEY) };
	a.date = (struct sigv4_str){ amz_date, 8 };
	a.service = (struct sigv4_str){ "ecs", 3 };
	a.terminator = (struct sigv4_str){ "aws4_request", 12 };
	if (sha && sha->value_len == 64)
		snprintf(hash, sizeof(hash), "%.*s", 64, sha->value);
	else
		sha256_hex(r->body, r->body_len, hash);
	if (sigv4_canonical_request(r, &a, hash, &creq, &res) < 0)
		return;
	sts = sigv4_string_to_sign(amz_date, &a, creq);
	sigv4_signature(SECRET, &a, sts, sig);
	value = xasprintf("AWS4-HMAC-SHA256 Credential=" KEY "/%.8s/%.*s/ecs/aws4_request, "
			  "SignedHeaders=%.*s, Signature=%s",
			  amz_date, (int)a.region.len, a.region.p, (int)a.signed_headers.len,
			  a.signed_headers.p, sig);
	req2 = *r;
	for (size_t i = 0; i < req2.n_headers; i++) {
		if (http_header_is(&req2.headers[i], "authorization")) {
			req2.headers[i].value = value;
			req2.headers[i].value_len = strlen(value);
		}
	}
	/* the clock at the request's own time, with a second's skew */
	rc = sigv4_verify(&req2, keys, 1, "ecs", 1, NOW, &res);
	check_verdict(rc, &res);
	{
		time_t t;
		struct tm tm = { 0 };

		if (sscanf(amz_date, "%4d%2d%2dT%2d%2d%2dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
			   &tm.tm_hour, &tm.tm_min, &tm.tm_sec) == 6) {
			tm.tm_year -= 1900;
			tm.tm_mon -= 1;
			t = timegm(&tm);
			rc = sigv4_verify(&req2, keys, 1, "ecs", 1, t, &res);
			check_verdict(rc, &res);
			if (rc != 0 && strstr(res.message, "does not match the signature you provided"))
				abort();   /* signer and verifier disagree */
		}
	}
	free(value);
	free(sts);
	free(creq);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	struct http_parser p;
	struct sigv4_result res;
	size_t start = 0;
	int rc;

	/* every line as an Authorization value */
	for (size_t i = 0; i <= size; i++) {
		if (i == size || in[i] == '\n') {
			parse_auth(in + start, i - start);
			start = i + 1;
		}
	}

	http_parser_init(&p, NULL);
	if (http_parse(&p, in, size, &req) != HTTP_PARSE_DONE)
		return 0;
	for (size_t i = 0; i < req.n_headers; i++)
		if (http_header_is(&req.headers[i], "authorization"))
			parse_auth(req.headers[i].value, req.headers[i].value_len);
	memset(&res, 0x5a, sizeof(res));
	rc = sigv4_verify(&req, keys, 1, "ecs", 300, NOW, &res);
	check_verdict(rc, &res);
	memset(&res, 0x5a, sizeof(res));
	rc = sigv4_verify(&req, keys, 1, "service", 1 << 30, NOW, &res);
	check_verdict(rc, &res);
	resign(&req);
	return 0;
}
