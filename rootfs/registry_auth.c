/* rootfs/registry_auth.c - WWW-Authenticate, token responses, base64 and
 * credentials files (registry.h). No network. */
#include "rootfs/registry.h"
#include "common/cleanup.h"
#include "common/json.h"
#include "common/xalloc.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define WWW_MAX_LEN 8192
#define WWW_MAX_CHALLENGES 16
#define WWW_MAX_PARAMS 32

/* ---------------------------------------------------------------- WWW-Authenticate */

/* RFC 7230 tchar */
static bool is_tchar(char c)
{
	return isalnum((unsigned char)c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool is_token68_char(char c)
{
	return isalnum((unsigned char)c) || (c && strchr("-._~+/", c));
}

static const char *skip_ows(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

static char *lower_dup(const char *s, size_t n)
{
	char *o = xstrndup(s, n);

	for (char *c = o; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	return o;
}

/* A quoted-string at p (at the '"'): the value into *out, returns the
 * position after the closing quote, or NULL. */
static const char *parse_quoted(const char *p, char **out)
{
	size_t cap = strlen(p) + 1, n = 0;
	char *v = xmalloc(cap);

	for (p++; *p && *p != '"'; p++) {
		if (*p == '\\') {
			p++;
			if (*p == '\0')
				break;
		}
		if ((unsigned char)*p < 0x20 && *p != '\t')
			break;
		v[n++] = *p;
	}
	if (*p != '"') {
		free(v);
		return NULL;
	}
	v[n] = '\0';
	*out = v;
	return p + 1;
}

void rootfs_auth_challenges_free(struct rootfs_auth_challenge *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; k < v[i].n_params; k++) {
			free(v[i].params[k].key);
			free(v[i].params[k].value);
		}
		free(v[i].params);
		free(v[i].scheme);
		free(v[i].token68);
	}
	free(v);
}

int rootfs_auth_parse_www(const char *hdr, struct rootfs_auth_challenge **out, size_t *n,
			  struct berr **err)
{
	struct rootfs_auth_challenge *v = NULL;
	size_t nv = 0;
	const char *p = hdr;

	*out = NULL;
	*n = 0;
	if (strlen(hdr) > WWW_MAX_LEN)
		return berr_set(err, 0, "WWW-Authenticate: longer than %d bytes", WWW_MAX_LEN);
	for (;;) {
		struct rootfs_auth_challenge *c;
		const char *s;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		for (s = p; is_tchar(*p); p++)
			;
		if (p == s || (*p != '\0' && *p != ' ' && *p != '\t' && *p != ',')) {
			berr_set(err, 0, "WWW-Authenticate \"%s\": expected an auth scheme at \"%s\"", berr_q(hdr),
				 berr_q(s));
			goto fail;
		}
		if (nv == WWW_MAX_CHALLENGES) {
			berr_set(err, 0, "WWW-Authenticate: more than %d challenges", WWW_MAX_CHALLENGES);
			goto fail;
		}
		v = xreallocarray(v, nv + 1, sizeof(*v));
		c = &v[nv++];
		memset(c, 0, sizeof(*c));
		c->scheme = lower_dup(s, (size_t)(p - s));
		p = skip_ows(p);
		/* token68: the whole rest up to ',' is token68 chars with '=' padding only at the end */
		{
			const char *q = p, *t;

			while (is_token68_char(*q))
				q++;
			t = q;
			while (*q == '=')
				q++;
			if (t > p && (*skip_ows(q) == '\0' || *skip_ows(q) == ',')) {
				c->token68 = xstrndup(p, (size_t)(q - p));
				p = q;
				continue;
			}
		}
		/* auth-params: key = token / quoted-string, comma separated; a
		 * token not followed by '=' starts the next challenge */
		for (;;) {
			const char *ks, *ke, *save;
			char *val = NULL;

			save = p;
			while (*p == ' ' || *p == '\t' || *p == ',')
				p++;
			for (ks = p; is_tchar(*p); p++)
				;
			ke = p;
			p = skip_ows(p);
			if (ke == ks || *p != '=') {
				p = save;
				break;
			}
			p = skip_ows(p + 1);
			if (*p == '"') {
				p = parse_quoted(p, &val);
				if (p == NULL) {
					berr_set(err, 0, "WWW-Authenticate \"%s\": unterminated quoted string", berr_q(hdr));
					goto fail;
				}
			} else {
				const char *vs = p;

				while (is_tchar(*p))
					p++;
				if (p == vs) {
					berr_set(err, 0, "WWW-Authenticate \"%s\": parameter \"%s\" has no value",
						 berr_q(hdr), berr_qn(ks, (size_t)(ke - ks)));
					goto fail;
				}
				val = xstrndup(vs, (size_t)(p - vs));
			}
			if (c->n_params == WWW_MAX_PARAMS) {
				free(val);
				berr_set(err, 0, "WWW-Authenticate: more than %d parameters", WWW_MAX_PARAMS);
				goto fail;
			}
			c->params = xreallocarray(c->params, c->n_params + 1, sizeof(*c->params));
			c->params[c->n_params].key = lower_dup(ks, (size_t)(ke - ks));
			c->params[c->n_params].value = val;
			c->n_params++;
			p = skip_ows(p);
			if (*p != ',' && *p != '\0') {
				berr_set(err, 0, "WWW-Authenticate \"%s\": expected ',' at \"%s\"", berr_q(hdr), berr_q(p));
				goto fail;
			}
		}
	}
	if (nv == 0)
		return berr_set(err, 0, "WWW-Authenticate: empty");
	*out = v;
	*n = nv;
	return 0;
fail:
	rootfs_auth_challenges_free(v, nv);
	return -1;
}

const char *rootfs_auth_param(const struct rootfs_auth_challenge *c, const char *key)
{
	for (size_t i = 0; i < c->n_params; i++)
		if (!strcmp(c->params[i].key, key))
			return c->params[i].value;
	return NULL;
}

/* ---------------------------------------------------------------- token */

int rootfs_auth_parse_token(const char *buf, size_t len, char **token, int64_t *expires_in,
			    struct berr **err)
{
	cleanup_json json_t *v = NULL;
	const char *t = NULL, *at = NULL;
	int64_t exp = 60;
	int r;

	*token = NULL;
	r = bjson_load_buf("token response", buf, len, &v, err);
	if (r < 0)
		return r;
	if (bjson_expect_object(v, "token response", err) < 0)
		return -1;
	if (bjson_get_string(v, "token response", "token", false, &t, err) < 0 ||
	    bjson_get_string(v, "token response", "access_token", false, &at, err) < 0 ||
	    bjson_get_int(v, "token response", "expires_in", false, &exp, err) < 0)
		return -1;
	if (t == NULL || *t == '\0')
		t = at;
	if (t == NULL || *t == '\0')
		return berr_set(err, 0, "token response: neither \"token\" nor \"access_token\"");
	for (const char *c = t; *c; c++)
		if ((unsigned char)*c <= ' ' || (unsigned char)*c >= 0x7f)
			return berr_set(err, 0, "token response: the token holds a space or control character");
	if (exp <= 0)
		exp = 60;
	*token = xstrdup(t);
	if (expires_in)
		*expires_in = exp;
	return 0;
}

/* ---------------------------------------------------------------- base64 */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *rootfs_base64_encode(const void *data, size_t len)
{
	const unsigned char *d = data;
	char *out = xmalloc((len + 2) / 3 * 4 + 1), *o = out;
	size_t i;

	for (i = 0; i + 2 < len; i += 3) {
		*o++ = b64[d[i] >> 2];
		*o++ = b64[((d[i] & 3) << 4) | (d[i + 1] >> 4)];
		*o++ = b64[((d[i + 1] & 15) << 2) | (d[i + 2] >> 6)];
		*o++ = b64[d[i + 2] & 63];
	}
	if (i < len) {
		*o++ = b64[d[i] >> 2];
		if (i + 1 < len) {
			*o++ = b64[((d[i] & 3) << 4) | (d[i + 1] >> 4)];
			*o++ = b64[(d[i + 1] & 15) << 2];
		} else {
			*o++ = b64[(d[i] & 3) << 4];
			*o++ = '=';
		}
		*o++ = '=';
	}
	*o = '\0';
	return out;
}

static int b64_val(char c)
{
	const char *p = c ? strchr(b64, c) : NULL;

	return p ? (int)(p - b64) : -1;
}

int rootfs_base64_decode(const char *s, char **out, size_t *len, struct berr **err)
{
	size_t n = strlen(s), pad = 0, o = 0;
	unsigned acc = 0;
	int bits = 0;
	char *buf;

	*out = NULL;
	while (n > 0 && s[n - 1] == '=' && pad < 2) {
		n--;
		pad++;
	}
	if (n % 4 == 1 || (pad && (n + pad) % 4 != 0))
		return berr_set(err, 0, "not base64 (bad length)");
	buf = xmalloc(n / 4 * 3 + 3 + 1);
	for (size_t i = 0; i < n; i++) {
		int v = b64_val(s[i]);

		if (v < 0) {
			free(buf);
			return berr_set(err, 0, "not base64 (character %zu)", i + 1);
		}
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf[o++] = (char)((acc >> bits) & 0xff);
		}
	}
	/* the bits left over must be zero (canonical encoding) */
	if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) {
		free(buf);
		return berr_set(err, 0, "not base64 (trailing bits)");
	}
	buf[o] = '\0';
	*out = buf;
	*len = o;
	return 0;
}

/* ---------------------------------------------------------------- credentials */

void rootfs_cred_free(struct rootfs_cred *c)
{
	if (c == NULL)
		return;
	if (c->password)
		explicit_bzero(c->password, strlen(c->password));
	free(c->username);
	free(c->password);
	memset(c, 0, sizeof(*c));
}

static int cred_from_entry(const json_t *e, const char *path, struct rootfs_cred *out, struct berr **err)
{
	const char *auth = NULL, *user = NULL, *pass = NULL;

	if (bjson_expect_object(e, path, err) < 0 ||
	    bjson_get_string(e, path, "auth", false, &auth, err) < 0 ||
	    bjson_get_string(e, path, "username", false, &user, err) < 0 ||
	    bjson_get_string(e, path, "password", false, &pass, err) < 0)
		return -1;
	if (auth && *auth) {
		cleanup_free char *dec = NULL;
		char *colon;
		size_t len;

		if (rootfs_base64_decode(auth, &dec, &len, err) < 0)
			return berr_wrap(err, "%s.auth", path);
		colon = memchr(dec, ':', len);
		if (colon == NULL || strlen(dec) != len) {
			explicit_bzero(dec, len);
			return berr_set(err, 0, "%s.auth: not base64 of \"user:password\"", path);
		}
		out->username = xstrndup(dec, (size_t)(colon - dec));
		out->password = xstrdup(colon + 1);
		explicit_bzero(dec, len);
		return 1;
	}
	if (user && *user) {
		out->username = xstrdup(user);
		out->password = xstrdup(pass ? pass : "");
		return 1;
	}
	return 0;
}

int rootfs_cred_lookup(const char *buf, size_t len, const char *what, const char *registry,
		       struct rootfs_cred *out, struct berr **err)
{
	cleanup_json json_t *v = NULL;
	json_t *auths = NULL, *helpers = NULL, *e;
	const char *store = NULL, *key;
	int r;

	memset(out, 0, sizeof(*out));
	r = bjson_load_buf(what, buf, len, &v, err);
	if (r < 0)
		return r;
	if (bjson_expect_object(v, what, err) < 0 ||
	    bjson_get_object(v, what, "auths", false, &auths, err) < 0 ||
	    bjson_get_object(v, what, "credHelpers", false, &helpers, err) < 0 ||
	    bjson_get_string(v, what, "credsStore", false, &store, err) < 0)
		return -1;
	if (auths) {
		cleanup_free char *apath = bjson_path_key(what, "auths");

		json_object_foreach(auths, key, e) {
			cleanup_free char *norm = rootfs_registry_host_normalize(key);
			cleanup_free char *path = NULL;

			if (strcmp(norm, registry))
				continue;
			path = bjson_path_key(apath, key);
			r = cred_from_entry(e, path, out, err);
			if (r != 0)
				return r < 0 ? r : ROOTFS_CRED_FOUND;
		}
	}
	if (helpers) {
		json_object_foreach(helpers, key, e) {
			cleanup_free char *norm = rootfs_registry_host_normalize(key);

			if (!strcmp(norm, registry))
				return ROOTFS_CRED_HELPER;
		}
	}
	if (store && *store)
		return ROOTFS_CRED_HELPER;
	return ROOTFS_CRED_NONE;
}
