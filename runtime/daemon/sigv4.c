/* runtime/daemon/sigv4.c - AWS Signature Version 4 verification (see sigv4.h). */
#include "runtime/daemon/sigv4.h"
#include "common/sha256.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>


#include "common/cleanup.h"
#include "common/log.h"
#include "common/xalloc.h"

#define MAX_KEY_ID 128
#define MAX_REGION 64
#define AMZ_DATE_LEN 16   /* 20150830T123600Z */
#define MAX_SKEW ((int64_t)1 << 40)   /* ~35000 years: "no limit" without overflow */

#define refuse sigv4_refuse

int sigv4_refuse(struct sigv4_result *res, const char *type, const char *fmt, ...)
{
	va_list ap;

	res->type = type;
	va_start(ap, fmt);
	vsnprintf(res->message, sizeof(res->message), fmt, ap);
	va_end(ap);
	return -1;
}

/* client text in a message: at most 64 bytes of it */
#define CUT(s, n) (int)((n) > 64 ? 64 : (n)), (s)

static bool str_is(struct sigv4_str s, const char *lit)
{
	return s.len == strlen(lit) && memcmp(s.p, lit, s.len) == 0;
}

/* ---------------------------------------------------------------- strings */

struct sbuf {
	char *p;
	size_t len, cap;
};

static void sb_put(struct sbuf *b, const void *data, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 512;

		while (cap < b->len + n + 1)
			cap *= 2;
		b->p = xrealloc(b->p, cap);
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void sb_putc(struct sbuf *b, char c)
{
	sb_put(b, &c, 1);
}

static void sb_puts(struct sbuf *b, const char *s)
{
	sb_put(b, s, strlen(s));
}

static bool is_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '.' || c == '~';
}

/* AWS's UriEncode: every byte but the unreserved ones as %XX (upper case) */
static void sb_uri_encode(struct sbuf *b, const char *s, size_t n, bool keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (is_unreserved(c) || (keep_slash && c == '/')) {
			sb_putc(b, (char)c);
		} else {
			char e[3] = { '%', hex[c >> 4], hex[c & 15] };

			sb_put(b, e, 3);
		}
	}
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* %-decode s[0, n) (a '%' not followed by two hex digits stays itself), then
 * UriEncode the bytes: one canonical spelling whatever the client escaped. */
static void sb_query_component(struct sbuf *b, const char *s, size_t n)
{
	cleanup_free char *dec = xmalloc(n + 1);
	size_t m = 0;

	for (size_t i = 0; i < n; i++) {
		int hi, lo;

		if (s[i] == '%' && i + 2 < n && (hi = hexval(s[i + 1])) >= 0 &&
		    (lo = hexval(s[i + 2])) >= 0) {
			dec[m++] = (char)(hi << 4 | lo);
			i += 2;
		} else {
			dec[m++] = s[i];
		}
	}
	sb_uri_encode(b, dec, m, false);
}

static void hex_encode(const unsigned char *in, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[in[i] >> 4];
		out[2 * i + 1] = hex[in[i] & 15];
	}
	out[2 * n] = '\0';
}

static void sha256_hex(const void *data, size_t n, char out[65])
{
	unsigned char md[SHA256_LEN];

	sha256(data, n, md);
	hex_encode(md, SHA256_LEN, out);
}

/* Compare without an early exit, so the time taken says nothing about
 * where the first wrong byte is. */
static bool equal_ct(const char *a, const char *b, size_t n)
{
	volatile unsigned char acc = 0;

	for (size_t i = 0; i < n; i++)
		acc |= (unsigned char)(a[i] ^ b[i]);
	return acc == 0;
}

/* ---------------------------------------------------------- Authorization */

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* "k/d/r/s/t" into its five non-empty parts */
static int parse_credential(struct sigv4_str c, struct sigv4_auth *a, struct sigv4_result *res)
{
	struct sigv4_str *parts[5] = { &a->key_id, &a->date, &a->region, &a->service,
				       &a->terminator };
	size_t i = 0, k = 0;

	while (k < 5) {
		size_t start = i;

		while (i < c.len && c.p[i] != '/')
			i++;
		parts[k]->p = c.p + start;
		parts[k]->len = i - start;
		if (parts[k]->len == 0)
			break;
		k++;
		if (i == c.len)
			break;
		i++;   /* the '/' */
	}
	if (k != 5 || i != c.len)
		return refuse(res, SIGV4_INCOMPLETE,
			      "Credential must have exactly 5 slash-delimited elements, e.g. "
			      "keyid/date/region/service/term, got '%.*s'", CUT(c.p, c.len));
	if (a->key_id.len > MAX_KEY_ID)
		return refuse(res, SIGV4_INCOMPLETE, "Credential's access key id is longer than %d bytes",
			      MAX_KEY_ID);
	return 0;
}

int sigv4_parse_authorization(const char *value, size_t len, struct sigv4_auth *a,
			      struct sigv4_result *res)
{
	static const char algo[] = SIGV4_ALGORITHM;
	struct sigv4_str cred = { NULL, 0 };
	bool have_cred = false, have_sh = false, have_sig = false;
	size_t i;

	memset(a, 0, sizeof(*a));
	if (len < sizeof(algo) || memcmp(value, algo, sizeof(algo) - 1) != 0 ||
	    !is_ows(value[sizeof(algo) - 1]))
		return refuse(res, SIGV4_INCOMPLETE,
			      "Authorization header must use the AWS4-HMAC-SHA256 algorithm "
			      "(Signature Version 4), got '%.*s'", CUT(value, len));
	i = sizeof(algo) - 1;
	for (bool comma = true, prev_comma = false; comma; prev_comma = comma) {
		size_t s, e, eq;
		struct sigv4_str v;

		while (i < len && is_ows(value[i]))
			i++;
		s = i;
		while (i < len && value[i] != ',')
			i++;
		e = i;
		comma = i < len;
		if (comma)
			i++;
		while (e > s && is_ows(value[e - 1]))
			e--;
		if (e == s) {
			if (!comma && !prev_comma)
				break;   /* nothing (more) after the algorithm */
			return refuse(res, SIGV4_INCOMPLETE,
				      "Authorization header has an empty component");
		}
		for (eq = s; eq < e && value[eq] != '='; eq++)
			;
		if (eq == e)
			return refuse(res, SIGV4_INCOMPLETE,
				      "Authorization header component '%.*s' is not key=value",
				      CUT(value + s, e - s));
		v.p = value + eq + 1;
		v.len = e - eq - 1;
		for (size_t k = 0; k < v.len; k++)
			if (is_ows(v.p[k]))
				return refuse(res, SIGV4_INCOMPLETE,
					      "Authorization header component '%.*s' contains whitespace",
					      CUT(value + s, e - s));
#define FIELD(name, have, dst)                                                            \
	if (eq - s == strlen(name) && memcmp(value + s, name, eq - s) == 0) {             \
		if (have)                                                                 \
			return refuse(res, SIGV4_INCOMPLETE,                              \
				      "Authorization header has '" name "' twice");      \
		have = true;                                                              \
		dst = v;                                                                  \
		continue;                                                                 \
	}
		FIELD("Credential", have_cred, cred)
		FIELD("SignedHeaders", have_sh, a->signed_headers)
		FIELD("Signature", have_sig, a->signature)
#undef FIELD
		return refuse(res, SIGV4_INCOMPLETE, "Authorization header has an unknown component '%.*s'",
			      CUT(value + s, eq - s));
	}
	if (!have_cred || cred.len == 0)
		return refuse(res, SIGV4_INCOMPLETE, "Authorization header requires 'Credential' parameter.");
	if (!have_sh || a->signed_headers.len == 0)
		return refuse(res, SIGV4_INCOMPLETE,
			      "Authorization header requires 'SignedHeaders' parameter.");
	if (!have_sig || a->signature.len == 0)
		return refuse(res, SIGV4_INCOMPLETE, "Authorization header requires 'Signature' parameter.");
	return parse_credential(cred, a, res);
}

/* ------------------------------------------------------ canonical request */

/* botocore's remove_dot_segments: '.', '..' and empty segments go; the
 * leading '/' stays, a trailing one too unless nothing is left. */
static void canonical_path(struct sbuf *b, const char *path, size_t n)
{
	struct seg {
		const char *p;
		size_t len;
	};
	cleanup_free struct seg *segs = xcalloc(n / 2 + 2, sizeof(*segs));
	size_t nseg = 0, i = 0;

	while (i < n) {
		size_t s = i;

		while (i < n && path[i] != '/')
			i++;
		if (i > s && !(i - s == 1 && path[s] == '.')) {
			if (i - s == 2 && path[s] == '.' && path[s + 1] == '.') {
				if (nseg > 0)
					nseg--;
			} else {
				segs[nseg].p = path + s;
				segs[nseg].len = i - s;
				nseg++;
			}
		}
		i++;
	}
	sb_putc(b, '/');   /* an origin-form path always starts with it */
	for (size_t k = 0; k < nseg; k++) {
		if (k > 0)
			sb_putc(b, '/');
		sb_uri_encode(b, segs[k].p, segs[k].len, false);
	}
	if (nseg > 0 && n > 0 && path[n - 1] == '/')
		sb_putc(b, '/');
}

struct qpair {
	char *name, *value;
};

static int qpair_cmp(const void *x, const void *y)
{
	const struct qpair *a = x, *b = y;
	int r = strcmp(a->name, b->name);

	return r ? r : strcmp(a->value, b->value);
}

static void canonical_query(struct sbuf *b, const char *q, size_t n)
{
	struct qpair *pairs;
	size_t npairs = 0, i = 0;

	if (!q || n == 0)
		return;
	pairs = xcalloc(n / 2 + 1, sizeof(*pairs));
	while (i < n) {
		size_t s = i, eq;
		struct sbuf name = { 0 }, value = { 0 };

		while (i < n && q[i] != '&')
			i++;
		if (i > s) {
			for (eq = s; eq < i && q[eq] != '='; eq++)
				;
			sb_query_component(&name, q + s, eq - s);
			sb_put(&name, "", 0);
			sb_query_component(&value, eq < i ? q + eq + 1 : "", eq < i ? i - eq - 1 : 0);
			sb_put(&value, "", 0);
			pairs[npairs].name = name.p;
			pairs[npairs].value = value.p;
			npairs++;
		}
		i++;
	}
	qsort(pairs, npairs, sizeof(*pairs), qpair_cmp);
	for (size_t k = 0; k < npairs; k++) {
		if (k > 0)
			sb_putc(b, '&');
		sb_puts(b, pairs[k].name);
		sb_putc(b, '=');
		sb_puts(b, pairs[k].value);
		free(pairs[k].name);
		free(pairs[k].value);
	}
	free(pairs);
}

/* Trimall: no SP/HTAB around, one space for each run inside */
static void sb_trimall(struct sbuf *b, const char *v, size_t n)
{
	bool space = false, any = false;

	for (size_t i = 0; i < n; i++) {
		if (is_ows(v[i])) {
			space = any;
			continue;
		}
		if (space)
			sb_putc(b, ' ');
		sb_putc(b, v[i]);
		space = false;
		any = true;
	}
}

static bool lower_tchar(unsigned char c)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z'))
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c);
}

/* the next name of SignedHeaders from *pos; false at the end */
static bool next_signed(struct sigv4_str sh, size_t *pos, struct sigv4_str *name)
{
	size_t s = *pos, i = s;

	if (s > sh.len)
		return false;
	while (i < sh.len && sh.p[i] != ';')
		i++;
	name->p = sh.p + s;
	name->len = i - s;
	*pos = i + 1;
	return true;
}

/* lowercase tokens, strictly ascending (so each once), `host` among them */
static int check_signed_headers(struct sigv4_str sh, struct sigv4_result *res)
{
	struct sigv4_str name, prev = { NULL, 0 };
	size_t pos = 0;
	bool host = false;

	while (next_signed(sh, &pos, &name)) {
		int c;

		if (name.len == 0)
			goto bad;
		for (size_t i = 0; i < name.len; i++)
			if (!lower_tchar((unsigned char)name.p[i]))
				goto bad;
		if (prev.p) {
			c = memcmp(prev.p, name.p, prev.len < name.len ? prev.len : name.len);
			if (c > 0 || (c == 0 && prev.len >= name.len))
				goto bad;
		}
		if (str_is(name, "host"))
			host = true;
		prev = name;
	}
	if (!host)
		return refuse(res, SIGV4_INVALID,
			      "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.");
	return 0;
bad:
	return refuse(res, SIGV4_INCOMPLETE,
		      "SignedHeaders must be lower-case header names, sorted, each once, separated "
		      "by ';': got '%.*s'", CUT(sh.p, sh.len));
}

int sigv4_canonical_request(const struct http_request *req, const struct sigv4_auth *a,
			    const char *payload_hash, char **out, struct sigv4_result *res)
{
	struct sbuf b = { 0 };
	struct sigv4_str name;
	size_t pos = 0;

	if (check_signed_headers(a->signed_headers, res) < 0)
		return -1;
	sb_put(&b, req->method, req->method_len);
	sb_putc(&b, '\n');
	canonical_path(&b, req->path, req->path_len);
	sb_putc(&b, '\n');
	canonical_query(&b, req->query, req->query_len);
	sb_putc(&b, '\n');
	while (next_signed(a->signed_headers, &pos, &name)) {
		bool found = false;

		sb_put(&b, name.p, name.len);
		sb_putc(&b, ':');
		for (size_t i = 0; i < req->n_headers; i++) {
			const struct http_header *h = &req->headers[i];

			if (h->name_len != name.len || strncasecmp(h->name, name.p, name.len) != 0)
				continue;
			if (found)
				sb_putc(&b, ',');
			sb_trimall(&b, h->value, h->value_len);
			found = true;
		}
		if (!found) {
			free(b.p);
			return refuse(res, SIGV4_INVALID,
				      "Signed header '%.*s' is not in the request", CUT(name.p, name.len));
		}
		sb_putc(&b, '\n');
	}
	sb_putc(&b, '\n');
	sb_put(&b, a->signed_headers.p, a->signed_headers.len);
	sb_putc(&b, '\n');
	sb_puts(&b, payload_hash);
	*out = b.p;
	return 0;
}

char *sigv4_string_to_sign(const char *amz_date, const struct sigv4_auth *a,
			   const char *canonical_request)
{
	char hash[65];

	sha256_hex(canonical_request, strlen(canonical_request), hash);
	return xasprintf(SIGV4_ALGORITHM "\n%s\n%.*s/%.*s/%.*s/%.*s\n%s", amz_date, (int)a->date.len,
			 a->date.p, (int)a->region.len, a->region.p, (int)a->service.len,
			 a->service.p, (int)a->terminator.len, a->terminator.p, hash);
}

void sigv4_signature(const char *secret, const struct sigv4_auth *a, const char *string_to_sign,
		     char out[65])
{
	cleanup_free char *k0 = xasprintf("AWS4%s", secret);
	unsigned char k[32], sig[32];

	hmac_sha256(k0, strlen(k0), a->date.p, a->date.len, k);
	explicit_bzero(k0, strlen(k0));
	hmac_sha256(k, sizeof(k), a->region.p, a->region.len, k);
	hmac_sha256(k, sizeof(k), a->service.p, a->service.len, k);
	hmac_sha256(k, sizeof(k), "aws4_request", 12, k);
	hmac_sha256(k, sizeof(k), string_to_sign, strlen(string_to_sign), sig);
	explicit_bzero(k, sizeof(k));
	hex_encode(sig, sizeof(sig), out);
}

/* ------------------------------------------------------------------ verify */

/* YYYYMMDD'T'HHMMSS'Z', a real UTC time */
static int parse_amz_date(const char *s, size_t n, time_t *out)
{
	struct tm tm = { 0 }, back;
	int v[6], pos[6] = { 0, 4, 6, 9, 11, 13 }, len[6] = { 4, 2, 2, 2, 2, 2 };
	time_t t;

	if (n != AMZ_DATE_LEN || s[8] != 'T' || s[15] != 'Z')
		return -1;
	for (int k = 0; k < 6; k++) {
		v[k] = 0;
		for (int j = 0; j < len[k]; j++) {
			char c = s[pos[k] + j];

			if (c < '0' || c > '9')
				return -1;
			v[k] = v[k] * 10 + (c - '0');
		}
	}
	tm.tm_year = v[0] - 1900;
	tm.tm_mon = v[1] - 1;
	tm.tm_mday = v[2];
	tm.tm_hour = v[3];
	tm.tm_min = v[4];
	tm.tm_sec = v[5];
	t = timegm(&tm);
	if (t == (time_t)-1 || !gmtime_r(&t, &back) || back.tm_year != v[0] - 1900 ||
	    back.tm_mon != v[1] - 1 || back.tm_mday != v[2] || back.tm_hour != v[3] ||
	    back.tm_min != v[4] || back.tm_sec != v[5])
		return -1;   /* Feb 30, 25:00, a leap second */
	*out = t;
	return 0;
}

static void fmt_amz_date(time_t t, char buf[32])
{
	struct tm tm;

	if (!gmtime_r(&t, &tm) || strftime(buf, 32, "%Y%m%dT%H%M%SZ", &tm) == 0)
		snprintf(buf, 32, "(time %lld)", (long long)t);
}

static void fmt_skew(int64_t skew, char buf[32])
{
	if (skew % 60 == 0)
		snprintf(buf, 32, "%lld min.", (long long)(skew / 60));
	else
		snprintf(buf, 32, "%lld s.", (long long)skew);
}

/* exactly one header called name: 1; none: 0; more: -1 */
static int single_header(const struct http_request *req, const char *name,
			 const struct http_header **out)
{
	size_t n = http_header_count(req, name);

	*out = http_header_find(req, name);
	return n == 0 ? 0 : n == 1 ? 1 : -1;
}

static bool region_ok(struct sigv4_str r)
{
	if (r.len > MAX_REGION)
		return false;
	for (size_t i = 0; i < r.len; i++) {
		char c = r.p[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_'))
			return false;
	}
	return true;
}

int sigv4_verify(const struct http_request *req, const struct berthd_key *keys, size_t n_keys,
		 const char *service, int64_t max_skew, time_t now, struct sigv4_result *res)
{
	struct sigv4_keys k = { .keys = keys, .n_keys = n_keys };

	return sigv4_verify_keys(req, &k, service, max_skew, now, res);
}

static bool signs(struct sigv4_str sh, const char *name)
{
	struct sigv4_str n;
	size_t pos = 0;

	while (next_signed(sh, &pos, &n))
		if (str_is(n, name))
			return true;
	return false;
}

int sigv4_verify_keys(const struct http_request *req, const struct sigv4_keys *k,
		      const char *service, int64_t max_skew, time_t now, struct sigv4_result *res)
{
	const struct berthd_key *keys = k->keys;
	size_t n_keys = k->n_keys;
	const struct http_header *authz, *date_h, *sha_h, *tok_h;
	char session_secret[256];
	const char *secret;
	const struct berthd_key *key = NULL;
	struct sigv4_auth a;
	char amz_date[AMZ_DATE_LEN + 1], body_hash[65], sig[65];
	cleanup_free char *creq = NULL;
	cleanup_free char *sts = NULL;
	const char *payload_hash = body_hash;
	time_t t;
	int r;

	memset(res, 0, sizeof(*res));
	r = single_header(req, "authorization", &authz);
	if (r == 0)
		return refuse(res, SIGV4_MISSING_TOKEN, "Missing Authentication Token");
	if (r < 0)
		return refuse(res, SIGV4_INCOMPLETE, "More than one Authorization header");
	if (sigv4_parse_authorization(authz->value, authz->value_len, &a, res) < 0)
		return -1;
	snprintf(res->access_key_id, sizeof(res->access_key_id), "%.*s", (int)a.key_id.len,
		 a.key_id.p);

	r = single_header(req, "x-amz-date", &date_h);
	if (r == 0)
		return refuse(res, SIGV4_INCOMPLETE,
			      "Authorization header requires existence of a 'X-Amz-Date' header.");
	if (r < 0)
		return refuse(res, SIGV4_INCOMPLETE, "More than one X-Amz-Date header");
	if (parse_amz_date(date_h->value, date_h->value_len, &t) < 0)
		return refuse(res, SIGV4_INCOMPLETE,
			      "X-Amz-Date must be in ISO-8601 basic format (yyyyMMdd'T'HHmmss'Z'), "
			      "got '%.*s'", CUT(date_h->value, date_h->value_len));
	memcpy(amz_date, date_h->value, AMZ_DATE_LEN);
	amz_date[AMZ_DATE_LEN] = '\0';

	if (!str_is(a.terminator, "aws4_request"))
		return refuse(res, SIGV4_INVALID,
			      "Credential should be scoped with a valid terminator: 'aws4_request', "
			      "not '%.*s'.", CUT(a.terminator.p, a.terminator.len));
	if (!str_is(a.service, service))
		return refuse(res, SIGV4_INVALID,
			      "Credential should be scoped to correct service: '%s'.", service);
	if (!region_ok(a.region))
		return refuse(res, SIGV4_INVALID,
			      "Credential should be scoped to a valid region, not '%.*s'.",
			      CUT(a.region.p, a.region.len));
	snprintf(res->region, sizeof(res->region), "%.*s", (int)a.region.len, a.region.p);
	if (a.date.len != 8 || memcmp(a.date.p, amz_date, 8) != 0)
		return refuse(res, SIGV4_INVALID,
			      "Date in Credential scope does not match YYYYMMDD from ISO-8601 version "
			      "of date from HTTP: '%.*s' != '%.8s', from '%s'.",
			      CUT(a.date.p, a.date.len), amz_date, amz_date);
	/* X-Amz-Date is in years 0-9999, so these cannot overflow for any now */
	if (max_skew < 0)
		max_skew = 0;
	if (max_skew > MAX_SKEW)
		max_skew = MAX_SKEW;
	if (now < -MAX_SKEW || now > MAX_SKEW)
		return refuse(res, SIGV4_INVALID, "Signature expired: the server's clock is unusable");
	if ((int64_t)t < (int64_t)now - max_skew || (int64_t)t > (int64_t)now + max_skew) {
		char now_s[32], edge[32], skew[32];
		bool past = (int64_t)t < (int64_t)now;

		fmt_amz_date(now, now_s);
		fmt_amz_date(past ? now - (time_t)max_skew : now + (time_t)max_skew, edge);
		fmt_skew(max_skew, skew);
		if (past)
			return refuse(res, SIGV4_INVALID,
				      "Signature expired: %s is now earlier than %s (%s - %s)",
				      amz_date, edge, now_s, skew);
		return refuse(res, SIGV4_INVALID,
			      "Signature not yet current: %s is still later than %s (%s + %s)",
			      amz_date, edge, now_s, skew);
	}

	sha256_hex(req->body, req->body_len, body_hash);
	r = single_header(req, "x-amz-content-sha256", &sha_h);
	if (r < 0)
		return refuse(res, SIGV4_INCOMPLETE, "More than one X-Amz-Content-Sha256 header");
	if (r == 1) {
		if (sha_h->value_len != 64 || strncasecmp(sha_h->value, body_hash, 64) != 0)
			return refuse(res, SIGV4_INVALID,
				      "The provided 'x-amz-content-sha256' header does not match what "
				      "was computed (unsigned and streaming payloads are not accepted).");
		payload_hash = NULL;   /* signed as sent */
	}

	for (size_t i = 0; i < n_keys; i++) {
		if (keys[i].access_key_id && str_is(a.key_id, keys[i].access_key_id)) {
			key = &keys[i];
			break;
		}
	}
	r = single_header(req, "x-amz-security-token", &tok_h);
	if (r < 0)
		return refuse(res, SIGV4_INCOMPLETE, "More than one X-Amz-Security-Token header");
	if (key || r == 0 || !k->session) {
		/* a configured key (a token beside it is just another header,
		 * as in AWS's test suite), or no session credentials to try */
		if (!key || !key->secret_access_key)
			return refuse(res, SIGV4_UNRECOGNIZED,
				      "The security token included in the request is invalid.");
		secret = key->secret_access_key;
	} else {
		/* session credentials: the token must be signed, and only the
		 * session callback knows such keys */
		if (!signs(a.signed_headers, "x-amz-security-token"))
			return refuse(res, SIGV4_INCOMPLETE, "X-Amz-Security-Token must be a signed header "
				      "(list x-amz-security-token in SignedHeaders)");
		if (k->session(k->ctx, res->access_key_id, tok_h->value, tok_h->value_len, session_secret,
			       sizeof(session_secret), res) < 0)
			return -1;
		secret = session_secret;
		res->session = true;
	}

	if (payload_hash) {
		r = sigv4_canonical_request(req, &a, payload_hash, &creq, res);
	} else {
		char sent[65];

		memcpy(sent, sha_h->value, 64);
		sent[64] = '\0';
		r = sigv4_canonical_request(req, &a, sent, &creq, res);
	}
	if (r < 0) {
		explicit_bzero(session_secret, sizeof(session_secret));
		return -1;
	}
	sts = sigv4_string_to_sign(amz_date, &a, creq);
	sigv4_signature(secret, &a, sts, sig);
	explicit_bzero(session_secret, sizeof(session_secret));
	if (a.signature.len != 64 || !equal_ct(sig, a.signature.p, 64)) {
		log_debug("sigv4: signature mismatch for key %s; canonical request:\n%s\n"
			  "string to sign:\n%s", res->access_key_id, creq, sts);
		return refuse(res, SIGV4_INVALID,
			      "The request signature we calculated does not match the signature you "
			      "provided. Check your AWS Secret Access Key and signing method. Consult "
			      "the service documentation for details.");
	}
	res->type = NULL;
	res->message[0] = '\0';
	return 0;
}
