/* fuzz_www_auth: a registry's WWW-Authenticate header (rootfs_auth_parse_www).
 *
 * The input is the header value (up to the first NUL). Invariants: no crash
 * or leak; an error starts with "WWW-Authenticate" and returns no
 * challenges; a parsed header has 1 to 16 challenges, each a lowercase
 * token scheme with either a token68 or at most 32 parameters, lowercase
 * token keys, values without control bytes (but tab); rootfs_auth_param
 * finds each key's first value; a value re-quoted into a header parses
 * back to the same value. */
#include "common/error.h"
#include "common/xalloc.h"
#include "rootfs/registry.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
	if (!ok)
		abort();
}

static bool is_token(const char *s)
{
	if (*s == '\0')
		return false;
	for (const char *c = s; *c; c++)
		if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'z') || strchr("!#$%&'*+-.^_`|~", *c)))
			return false;
	return true;
}

/* Bearer realm="<v with \ and " escaped>" */
static void requote(const char *v)
{
	size_t n = strlen(v);
	char *h = xmalloc(2 * n + 32), *o = h;
	struct rootfs_auth_challenge *c;
	size_t nc;
	struct berr *err = NULL;

	o += sprintf(o, "Bearer realm=\"");
	for (const char *p = v; *p; p++) {
		if (*p == '"' || *p == '\\')
			*o++ = '\\';
		*o++ = *p;
	}
	*o++ = '"';
	*o = '\0';
	if (strlen(h) > 8192) {   /* the length limit */
		free(h);
		return;
	}
	check(rootfs_auth_parse_www(h, &c, &nc, &err) == 0);
	check(nc == 1 && c[0].n_params == 1 && !strcmp(rootfs_auth_param(&c[0], "realm"), v));
	rootfs_auth_challenges_free(c, nc);
	free(h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = xstrndup((const char *)data, size);
	struct rootfs_auth_challenge *v = (void *)1;
	size_t n = 99;
	struct berr *err = NULL;

	if (rootfs_auth_parse_www(s, &v, &n, &err) < 0) {
		check(err != NULL && !strncmp(berr_msg(err), "WWW-Authenticate", 16));
		check(v == NULL && n == 0);
		berr_free(err);
		free(s);
		return 0;
	}
	check(err == NULL && n >= 1 && n <= 16 && v != NULL);
	for (size_t i = 0; i < n; i++) {
		const struct rootfs_auth_challenge *c = &v[i];

		check(is_token(c->scheme));
		check(c->n_params <= 32);
		check(c->token68 == NULL || (c->n_params == 0 && *c->token68));
		for (size_t k = 0; k < c->n_params; k++) {
			const char *val = c->params[k].value;

			check(is_token(c->params[k].key) && val != NULL);
			for (const char *p = val; *p; p++)
				check((unsigned char)*p >= 0x20 || *p == '\t');
			/* the first parameter of that name */
			for (size_t j = 0; j <= k; j++)
				if (!strcmp(c->params[j].key, c->params[k].key)) {
					check(rootfs_auth_param(c, c->params[k].key) == c->params[j].value);
					break;
				}
			requote(val);
		}
	}
	rootfs_auth_challenges_free(v, n);
	free(s);
	return 0;
}
