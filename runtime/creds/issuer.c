/* runtime/creds/issuer.c - see issuer.h */
#include "issuer.h"
#include "codec.h"

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/sha256.h"
#include "common/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Two keys from the host key, one per use, so that a MAC of one kind can
 * never stand in for the other. */
#define LABEL_TOKEN "berth session token mac v1"
#define LABEL_SECRET "berth session secret v1"

#define MAC_LEN SHA256_LEN
/* version, key id, issued, expiration, two length prefixes */
#define FIXED_LEN (1 + CREDS_AKID_LEN + 8 + 8 + 2 + 2)
#define BODY_MAX (FIXED_LEN + 2 * CREDS_ARN_MAX)

static const char base32_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

void creds_claims_clear(struct creds_claims *c)
{
	free(c->role_arn);
	free(c->task_arn);
	memset(c, 0, sizeof(*c));
}

void creds_session_clear(struct creds_session *s)
{
	creds_claims_clear(&s->claims);
	explicit_bzero(s->secret_access_key, sizeof(s->secret_access_key));
	free(s->token);
	s->token = NULL;
}

const char *creds_token_status_name(enum creds_token_status s)
{
	switch (s) {
	case CREDS_TOKEN_OK:
		return "ok";
	case CREDS_TOKEN_MALFORMED:
		return "malformed";
	case CREDS_TOKEN_UNKNOWN_VERSION:
		return "unknown version";
	case CREDS_TOKEN_BAD_MAC:
		return "bad MAC";
	case CREDS_TOKEN_EXPIRED:
		return "expired";
	case CREDS_TOKEN_NOT_YET_VALID:
		return "not yet valid";
	}
	return "?";
}

static void derive_key(const uint8_t host_key[CREDS_HOST_KEY_LEN], const char *label,
		       unsigned char out[SHA256_LEN])
{
	hmac_sha256(host_key, CREDS_HOST_KEY_LEN, label, strlen(label), out);
}

/* ------------------------------------------------------------- encoding */

static unsigned char *put_u64(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--)
		*p++ = (unsigned char)(v >> (8 * i));
	return p;
}

static uint64_t get_u64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static unsigned char *put_str(unsigned char *p, const char *s, size_t len)
{
	*p++ = (unsigned char)(len >> 8);
	*p++ = (unsigned char)len;
	memcpy(p, s, len);
	return p + len;
}

/* The token body (everything the MAC covers) of valid claims into buf
 * (BODY_MAX bytes); returns its length. */
static size_t body_encode(const struct creds_claims *c, unsigned char *buf)
{
	unsigned char *p = buf;

	*p++ = (unsigned char)c->version;
	memcpy(p, c->access_key_id, CREDS_AKID_LEN);
	p += CREDS_AKID_LEN;
	p = put_u64(p, (uint64_t)c->issued);
	p = put_u64(p, (uint64_t)c->expiration);
	p = put_str(p, c->role_arn, strlen(c->role_arn));
	p = put_str(p, c->task_arn, strlen(c->task_arn));
	return (size_t)(p - buf);
}

static void body_mac(const uint8_t host_key[CREDS_HOST_KEY_LEN], const void *body, size_t len,
		     unsigned char mac[MAC_LEN])
{
	unsigned char k[SHA256_LEN];

	derive_key(host_key, LABEL_TOKEN, k);
	hmac_sha256(k, sizeof(k), body, len, mac);
	explicit_bzero(k, sizeof(k));
}

char *creds_token_seal(const uint8_t host_key[CREDS_HOST_KEY_LEN], const void *body, size_t len)
{
	cleanup_free unsigned char *buf = xmalloc(len + MAC_LEN);

	memcpy(buf, body, len);
	body_mac(host_key, body, len, buf + len);
	return creds_base64url_encode(buf, len + MAC_LEN);
}

char *creds_token_encode(const uint8_t host_key[CREDS_HOST_KEY_LEN], const struct creds_claims *c)
{
	unsigned char body[BODY_MAX];

	return creds_token_seal(host_key, body, body_encode(c, body));
}

void creds_derive_secret(const uint8_t host_key[CREDS_HOST_KEY_LEN],
			 const struct creds_claims *c, char out[CREDS_SECRET_LEN + 1])
{
	/* "secret\0" || token body: the secret is bound to every claim, so
	 * no two credential sets share one (their key ids differ) */
	unsigned char msg[7 + BODY_MAX], k[SHA256_LEN], mac[SHA256_LEN];
	size_t n;
	cleanup_free char *b64 = NULL;

	memcpy(msg, "secret", 7);
	n = 7 + body_encode(c, msg + 7);
	derive_key(host_key, LABEL_SECRET, k);
	hmac_sha256(k, sizeof(k), msg, n, mac);
	/* 30 bytes are exactly 40 base64 characters, AWS's secret length */
	b64 = creds_base64_encode(mac, 30);
	memcpy(out, b64, CREDS_SECRET_LEN + 1);
	explicit_bzero(b64, CREDS_SECRET_LEN);
	explicit_bzero(k, sizeof(k));
	explicit_bzero(mac, sizeof(mac));
}

/* ---------------------------------------------------------------- mint */

static int check_arn(const char *what, const char *arn, struct berr **err)
{
	size_t len;

	if (arn == NULL || arn[0] == '\0')
		return berr_set(err, EINVAL, "%s: empty", what);
	len = strlen(arn);
	if (len > CREDS_ARN_MAX)
		return berr_set(err, EINVAL, "%s: %zu bytes, at most %d", what, len, CREDS_ARN_MAX);
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)arn[i] < 0x20 || arn[i] == 0x7f)
			return berr_set(err, EINVAL, "%s \"%s\": control character", what, berr_q(arn));
	return 0;
}

static int random_bytes(void *buf, size_t len, struct berr **err)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = getrandom((char *)buf + got, len - got, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return berr_set(err, errno, "getrandom");
		got += (size_t)n;
	}
	return 0;
}

int creds_mint(const uint8_t host_key[CREDS_HOST_KEY_LEN], const char *role_arn,
	       const char *task_arn, int64_t now, int64_t ttl, struct creds_session *out,
	       struct berr **err)
{
	struct creds_session s = { 0 };
	unsigned char id[10];
	int r;

	if ((r = check_arn("role ARN", role_arn, err)) < 0 ||
	    (r = check_arn("task ARN", task_arn, err)) < 0)
		return berr_wrap(err, "mint credentials");
	if (ttl < CREDS_TTL_MIN || ttl > CREDS_TTL_MAX)
		return berr_set(err, EINVAL,
				"mint credentials: lifetime %lld s out of range [%d, %d]",
				(long long)ttl, CREDS_TTL_MIN, CREDS_TTL_MAX);
	if (now < 0 || now > CREDS_TIME_MAX - ttl)
		return berr_set(err, EINVAL, "mint credentials: time %lld out of range",
				(long long)now);
	if ((r = random_bytes(id, sizeof(id), err)) < 0)
		return berr_wrap(err, "mint credentials: access key id");

	s.claims.version = CREDS_TOKEN_VERSION;
	memcpy(s.claims.access_key_id, "ASIA", 4);
	creds_base32_encode(id, sizeof(id), s.claims.access_key_id + 4);
	s.claims.role_arn = xstrdup(role_arn);
	s.claims.task_arn = xstrdup(task_arn);
	s.claims.issued = now;
	s.claims.expiration = now + ttl;
	creds_derive_secret(host_key, &s.claims, s.secret_access_key);
	s.token = creds_token_encode(host_key, &s.claims);
	*out = s;
	return 0;
}

/* -------------------------------------------------------------- verify */

static int refuse(enum creds_token_status *why, enum creds_token_status s, struct berr **err,
		  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int refuse(enum creds_token_status *why, enum creds_token_status s, struct berr **err,
		  const char *fmt, ...)
{
	cleanup_free char *msg = NULL;
	va_list ap;

	if (why)
		*why = s;
	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	return berr_set(err, 0, "session token: %s", msg);
}

static bool akid_valid(const unsigned char *p)
{
	if (memcmp(p, "ASIA", 4) != 0)
		return false;
	for (int i = 4; i < CREDS_AKID_LEN; i++)
		if (p[i] == '\0' || !strchr(base32_chars, p[i]))
			return false;
	return true;
}

/* A length-prefixed ARN at *p (before end) into *out. */
static bool take_arn(const unsigned char **p, const unsigned char *end, char **out)
{
	size_t len;

	if (end - *p < 2)
		return false;
	len = (size_t)(*p)[0] << 8 | (*p)[1];
	*p += 2;
	if (len == 0 || len > CREDS_ARN_MAX || (size_t)(end - *p) < len)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((*p)[i] < 0x20 || (*p)[i] == 0x7f)
			return false;   /* NUL included */
	*out = xstrndup((const char *)*p, len);
	*p += len;
	return true;
}

/* The claims of an authenticated body; false when a field is malformed
 * (only a bug, or a leaked host key, could MAC such a body). */
static bool body_decode(const unsigned char *b, size_t len, struct creds_claims *c)
{
	const unsigned char *p = b, *end = b + len;
	uint64_t issued, exp;

	if (len < FIXED_LEN)
		return false;
	c->version = *p++;
	if (!akid_valid(p))
		return false;
	memcpy(c->access_key_id, p, CREDS_AKID_LEN);
	c->access_key_id[CREDS_AKID_LEN] = '\0';
	p += CREDS_AKID_LEN;
	issued = get_u64(p);
	exp = get_u64(p + 8);
	p += 16;
	if (issued > (uint64_t)CREDS_TIME_MAX || exp > (uint64_t)CREDS_TIME_MAX ||
	    exp < issued + CREDS_TTL_MIN || exp > issued + CREDS_TTL_MAX)
		return false;
	c->issued = (int64_t)issued;
	c->expiration = (int64_t)exp;
	return take_arn(&p, end, &c->role_arn) && take_arn(&p, end, &c->task_arn) && p == end;
}

int creds_verify(const uint8_t host_key[CREDS_HOST_KEY_LEN], const char *token, size_t len,
		 int64_t now, struct creds_claims *out, enum creds_token_status *why,
		 struct berr **err)
{
	struct creds_claims c = { 0 };
	unsigned char buf[CREDS_TOKEN_MAX / 4 * 3 + 3], mac[MAC_LEN];
	char when[CREDS_ISO8601_LEN + 1];
	size_t n, body;

	memset(out, 0, sizeof(*out));
	if (why)
		*why = CREDS_TOKEN_OK;
	if (len == 0)
		return refuse(why, CREDS_TOKEN_MALFORMED, err, "empty");
	if (len > CREDS_TOKEN_MAX)
		return refuse(why, CREDS_TOKEN_MALFORMED, err, "%zu characters, at most %d", len,
			      CREDS_TOKEN_MAX);
	if (creds_base64url_decode(token, len, buf, &n) < 0)
		return refuse(why, CREDS_TOKEN_MALFORMED, err, "not base64url");
	if (n < 1)
		return refuse(why, CREDS_TOKEN_MALFORMED, err, "empty");
	if (buf[0] != CREDS_TOKEN_VERSION)
		return refuse(why, CREDS_TOKEN_UNKNOWN_VERSION, err, "unknown version %u", buf[0]);
	if (n < FIXED_LEN + 2 + MAC_LEN)
		return refuse(why, CREDS_TOKEN_MALFORMED, err, "too short (%zu bytes)", n);
	body = n - MAC_LEN;
	body_mac(host_key, buf, body, mac);
	if (!creds_ct_equal(mac, buf + body, MAC_LEN))
		return refuse(why, CREDS_TOKEN_BAD_MAC, err,
			      "MAC does not match (altered, or not issued with this host key)");
	if (!body_decode(buf, body, &c)) {
		creds_claims_clear(&c);
		return refuse(why, CREDS_TOKEN_MALFORMED, err, "invalid fields");
	}
	if (c.issued - CREDS_CLOCK_SKEW > now) {
		creds_iso8601(c.issued, when);
		creds_claims_clear(&c);
		return refuse(why, CREDS_TOKEN_NOT_YET_VALID, err,
			      "not yet valid: issued at %s, more than %d s ahead of this host's clock",
			      when, CREDS_CLOCK_SKEW);
	}
	if (now >= c.expiration) {
		creds_iso8601(c.expiration, when);
		creds_claims_clear(&c);
		return refuse(why, CREDS_TOKEN_EXPIRED, err, "expired at %s", when);
	}
	*out = c;
	return 0;
}

/* ------------------------------------------------------------ rotation */

int64_t creds_refresh_at(const struct creds_claims *c)
{
	int64_t life = c->expiration - c->issued;
	int64_t margin = life / 5;   /* 80% of the lifetime */

	if (margin < 20 * 60)
		margin = 20 * 60;
	if (margin > life / 2)
		margin = life / 2;
	return c->expiration - margin;
}

bool creds_should_refresh(const struct creds_claims *c, int64_t now)
{
	return now >= creds_refresh_at(c);
}

void creds_iso8601(int64_t t, char out[CREDS_ISO8601_LEN + 1])
{
	time_t tt = (time_t)(t < 0 ? 0 : t > CREDS_TIME_MAX ? CREDS_TIME_MAX : t);
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, CREDS_ISO8601_LEN + 1, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ------------------------------------------------------------ host key */

/* Load an existing key file; *missing when there is none. */
static int key_load(const char *path, uint8_t key[CREDS_HOST_KEY_LEN], bool *missing,
		    struct berr **err)
{
	cleanup_close int fd = -1;
	struct stat st;
	size_t got = 0;

	*missing = false;
	/* O_NONBLOCK: a FIFO planted there must not hang berthd's start */
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		if (errno == ENOENT) {
			*missing = true;
			return -ENOENT;
		}
		if (errno == ELOOP)
			return berr_set(err, ELOOP, "host key %s: is a symbolic link", path);
		return berr_set(err, errno, "host key %s: open", path);
	}
	if (fstat(fd, &st) < 0)
		return berr_set(err, errno, "host key %s: stat", path);
	if (!S_ISREG(st.st_mode))
		return berr_set(err, EINVAL, "host key %s: not a regular file", path);
	if (st.st_uid != geteuid())
		return berr_set(err, EPERM, "host key %s: owned by uid %u, not by uid %u", path,
				(unsigned)st.st_uid, (unsigned)geteuid());
	if (st.st_mode & (S_IRGRP | S_IROTH))
		return berr_set(err, EPERM,
				"host key %s: readable by group or others (mode %04o); "
				"it must be 0600 or stricter",
				path, (unsigned)(st.st_mode & 07777));
	if (st.st_mode & (S_IRWXG | S_IRWXO))
		return berr_set(err, EPERM,
				"host key %s: group or others have access (mode %04o); "
				"it must be 0600 or stricter",
				path, (unsigned)(st.st_mode & 07777));
	if (st.st_size != CREDS_HOST_KEY_LEN)
		return berr_set(err, EINVAL, "host key %s: %lld bytes, expected %d", path,
				(long long)st.st_size, CREDS_HOST_KEY_LEN);
	while (got < CREDS_HOST_KEY_LEN) {
		ssize_t n = pread(fd, key + got, CREDS_HOST_KEY_LEN - got, (off_t)got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return berr_set(err, errno, "host key %s: read", path);
		if (n == 0)
			return berr_set(err, EINVAL, "host key %s: shorter than %d bytes", path,
					CREDS_HOST_KEY_LEN);
		got += (size_t)n;
	}
	return 0;
}

static int fsync_parent(const char *path, struct berr **err)
{
	cleanup_free char *dir = xstrdup(path);
	cleanup_close int fd = -1;
	char *slash = strrchr(dir, '/');

	if (slash == NULL)
		strcpy(dir, ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return berr_set(err, errno, "open directory %s", dir);
	if (fsync(fd) < 0)
		return berr_set(err, errno, "fsync directory %s", dir);
	return 0;
}

/* Create the key file; -EEXIST (err untouched) when another one got there first. */
static int key_create(const char *path, uint8_t key[CREDS_HOST_KEY_LEN], struct berr **err)
{
	cleanup_free char *tmp = xasprintf("%s.tmp-XXXXXX", path);
	cleanup_close int fd = -1;
	int r;

	/* mkostemp: O_CREAT | O_EXCL, mode 0600 whatever the umask */
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return berr_set(err, errno, "host key %s: create %s", path, tmp);
	if (fchmod(fd, 0600) < 0) {
		r = berr_set(err, errno, "host key %s: chmod %s", path, tmp);
		goto fail;
	}
	if ((r = random_bytes(key, CREDS_HOST_KEY_LEN, err)) < 0) {
		berr_wrap(err, "host key %s", path);
		goto fail;
	}
	if ((r = fs_write_all(fd, key, CREDS_HOST_KEY_LEN)) < 0) {
		r = berr_set(err, r, "host key %s: write %s", path, tmp);
		goto fail;
	}
	if (fsync(fd) < 0) {
		r = berr_set(err, errno, "host key %s: fsync %s", path, tmp);
		goto fail;
	}
	/* link(2) never replaces: the first creator wins, and readers see
	 * either no file or the whole key */
	if (link(tmp, path) < 0) {
		int e = errno;

		unlink(tmp);
		explicit_bzero(key, CREDS_HOST_KEY_LEN);
		if (e == EEXIST)
			return -EEXIST;
		return berr_set(err, e, "host key %s: link %s", path, tmp);
	}
	unlink(tmp);
	if ((r = fsync_parent(path, err)) < 0) {
		explicit_bzero(key, CREDS_HOST_KEY_LEN);
		return berr_wrap(err, "host key %s", path);
	}
	return 0;
fail:
	unlink(tmp);
	explicit_bzero(key, CREDS_HOST_KEY_LEN);
	return r;
}

int creds_host_key_load_or_create(const char *path, uint8_t key[CREDS_HOST_KEY_LEN],
				  struct berr **err)
{
	bool missing;
	int r;

	/* twice at most: a creator racing us makes our link fail with EEXIST,
	 * and then its file is there to load */
	for (int attempt = 0; attempt < 2; attempt++) {
		r = key_load(path, key, &missing, err);
		if (!missing) {
			if (r < 0)
				explicit_bzero(key, CREDS_HOST_KEY_LEN);
			return r;
		}
		r = key_create(path, key, err);
		if (r != -EEXIST)
			return r < 0 ? r : 1;
	}
	return berr_set(err, EEXIST, "host key %s: appeared and vanished while creating it", path);
}
