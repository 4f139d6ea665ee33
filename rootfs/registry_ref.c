/* rootfs/registry_ref.c - image references for a pull (registry.h) */
#include "rootfs/registry.h"
#include "common/cleanup.h"
#include "common/xalloc.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define NAME_MAX_LEN 255
#define TAG_MAX_LEN 128

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* [a-z0-9]+ ( ( '.' | '_' | '__' | '-'+ ) [a-z0-9]+ )* */
static bool path_component_ok(const char *c, size_t n)
{
	size_t i = 0;

	if (n == 0 || !is_lower_alnum(c[0]))
		return false;
	while (i < n) {
		size_t j;

		if (is_lower_alnum(c[i])) {
			i++;
			continue;
		}
		j = i;
		if (c[i] == '.')
			j = i + 1;
		else if (c[i] == '_')
			j = (i + 1 < n && c[i + 1] == '_') ? i + 2 : i + 1;
		else if (c[i] == '-')
			while (j < n && c[j] == '-')
				j++;
		else
			return false;
		if (j >= n || !is_lower_alnum(c[j]))
			return false;
		i = j;
	}
	return true;
}

/* host labels (letters, digits, '-', '.'; or a bracketed IPv6 address) and an optional :port */
static bool registry_ok(const char *c, size_t n)
{
	size_t i = 0, host_end = n;
	const char *colon;

	if (n == 0)
		return false;
	if (c[0] == '[') {
		const char *close = memchr(c, ']', n);

		if (close == NULL)
			return false;
		for (i = 1; c + i < close; i++)
			if (!(isxdigit((unsigned char)c[i]) || c[i] == ':' || c[i] == '.'))
				return false;
		if (i == 1)
			return false;
		i++;
		host_end = i;
		if (i < n && c[i] != ':')
			return false;
	} else {
		colon = memchr(c, ':', n);
		host_end = colon ? (size_t)(colon - c) : n;
		if (host_end == 0)
			return false;
		for (i = 0; i < host_end; i++)
			if (!(isalnum((unsigned char)c[i]) || c[i] == '-' || c[i] == '.'))
				return false;
		if (c[0] == '-' || c[0] == '.' || c[host_end - 1] == '-' || c[host_end - 1] == '.')
			return false;
	}
	if (host_end < n) {   /* ":port" */
		size_t digits = n - host_end - 1;

		if (digits == 0 || digits > 5)
			return false;
		for (i = host_end + 1; i < n; i++)
			if (!isdigit((unsigned char)c[i]))
				return false;
	}
	return true;
}

static bool tag_ok(const char *t)
{
	size_t n = strlen(t);

	if (n == 0 || n > TAG_MAX_LEN || !(isalnum((unsigned char)t[0]) || t[0] == '_'))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(isalnum((unsigned char)t[i]) || t[i] == '_' || t[i] == '.' || t[i] == '-'))
			return false;
	return true;
}

/* Whether the first component of a name is a registry host: it has a '.'
 * or a ':', is "localhost", or is a bracketed IPv6 address (docker's rule). */
static bool looks_like_host(const char *c, size_t n)
{
	return memchr(c, '.', n) || memchr(c, ':', n) || (n == 9 && !memcmp(c, "localhost", 9)) ||
	       (n > 0 && c[0] == '[');
}

static bool has_upper(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (isupper((unsigned char)s[i]))
			return true;
	return false;
}

char *rootfs_registry_host_normalize(const char *s)
{
	const char *p = s;
	size_t n;
	char *out;

	if (!strncmp(p, "https://", 8))
		p += 8;
	else if (!strncmp(p, "http://", 7))
		p += 7;
	n = strcspn(p, "/");
	out = xstrndup(p, n);
	for (char *c = out; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	if (!strcmp(out, "index.docker.io") || !strcmp(out, "registry-1.docker.io") ||
	    !strcmp(out, "registry.hub.docker.com")) {
		free(out);
		out = xstrdup(ROOTFS_DOCKER_HUB);
	}
	return out;
}

int rootfs_pull_ref_parse(const char *s, struct rootfs_pull_ref *out, struct berr **err)
{
	cleanup_free char *name = NULL;
	const char *at, *rest, *slash, *colon;
	size_t len, name_len;
	struct rootfs_pull_ref r = { 0 };

	memset(out, 0, sizeof(*out));
	if (s == NULL || *s == '\0')
		return berr_set(err, 0, "image reference: empty");
	len = strlen(s);
	if (len > NAME_MAX_LEN + 1 + TAG_MAX_LEN + 1 + 7 + ROOTFS_SHA256_HEX)
		return berr_set(err, 0, "image reference \"%s\": too long", berr_q(s));
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
			return berr_set(err, 0, "image reference \"%s\": contains a space or control character",
					berr_q(s));

	at = strchr(s, '@');
	if (at) {
		cleanup_free char *what = xasprintf("image reference \"%s\": digest", berr_q(s));

		if (rootfs_digest_parse(at + 1, what, &r.digest, err) < 0)
			return -1;
		r.has_digest = true;
		name = xstrndup(s, (size_t)(at - s));
	} else {
		name = xstrdup(s);
	}
	/* a tag is after the last ':' that follows the last '/' */
	slash = strrchr(name, '/');
	colon = strrchr(name, ':');
	if (colon && (slash == NULL || colon > slash)) {
		if (!tag_ok(colon + 1)) {
			berr_set(err, 0, "image reference \"%s\": bad tag \"%s\" (letters, digits, '_', '.', '-'; up to %d, not starting with '.' or '-')",
				 berr_q(s), berr_q(colon + 1), TAG_MAX_LEN);
			goto fail;
		}
		r.tag = xstrdup(colon + 1);
		name[colon - name] = '\0';
	}
	name_len = strlen(name);
	if (name_len == 0) {
		berr_set(err, 0, "image reference \"%s\": no repository name", berr_q(s));
		goto fail;
	}
	/* registry: the first component, when it looks like a host */
	rest = name;
	slash = strchr(name, '/');
	if (slash) {
		size_t n = (size_t)(slash - name);

		if (looks_like_host(name, n)) {
			if (!registry_ok(name, n)) {
				berr_set(err, 0, "image reference \"%s\": bad registry \"%.*s\"", berr_q(s), (int)n, name);
				goto fail;
			}
			{
				cleanup_free char *host = xstrndup(name, n);

				r.registry = rootfs_registry_host_normalize(host);
			}
			rest = slash + 1;
		}
	}
	if (r.registry == NULL)
		r.registry = xstrdup(ROOTFS_DOCKER_HUB);
	if (strlen(rest) > NAME_MAX_LEN) {
		berr_set(err, 0, "image reference \"%s\": repository name longer than %d characters", berr_q(s),
			 NAME_MAX_LEN);
		goto fail;
	}
	for (const char *p = rest;;) {
		size_t n = strcspn(p, "/");

		if (!path_component_ok(p, n)) {
			if (has_upper(p, n))
				berr_set(err, 0, "image reference \"%s\": repository name must be lowercase", berr_q(s));
			else
				berr_set(err, 0, "image reference \"%s\": bad name component \"%s\" (lowercase letters and digits, separated by '.', '_', '__' or dashes)",
					 berr_q(s), berr_qn(p, n));
			goto fail;
		}
		if (p[n] == '\0')
			break;
		p += n + 1;
	}
	if (!strcmp(r.registry, ROOTFS_DOCKER_HUB) && !strchr(rest, '/'))
		r.repository = xasprintf("library/%s", rest);
	else
		r.repository = xstrdup(rest);
	r.endpoint = xstrdup(!strcmp(r.registry, ROOTFS_DOCKER_HUB) ? ROOTFS_DOCKER_HUB_ENDPOINT : r.registry);
	if (r.tag == NULL && !r.has_digest)
		r.tag = xstrdup("latest");
	*out = r;
	return 0;
fail:
	rootfs_pull_ref_free(&r);
	return -1;
}

void rootfs_pull_ref_free(struct rootfs_pull_ref *r)
{
	if (r == NULL)
		return;
	free(r->registry);
	free(r->endpoint);
	free(r->repository);
	free(r->tag);
	memset(r, 0, sizeof(*r));
}

char *rootfs_pull_ref_familiar(const struct rootfs_pull_ref *r)
{
	if (r->tag == NULL)
		return NULL;
	/* docker.io's prefix goes, unless the repository's first component
	 * would then read as a host ("docker.io/a.b/c" is not "a.b/c") */
	if (!strcmp(r->registry, ROOTFS_DOCKER_HUB) &&
	    !looks_like_host(r->repository, strcspn(r->repository, "/"))) {
		if (!strncmp(r->repository, "library/", 8) && !strchr(r->repository + 8, '/'))
			return xasprintf("%s:%s", r->repository + 8, r->tag);
		return xasprintf("%s:%s", r->repository, r->tag);
	}
	return xasprintf("%s/%s:%s", r->registry, r->repository, r->tag);
}

char *rootfs_pull_ref_string(const struct rootfs_pull_ref *r)
{
	char buf[ROOTFS_DIGEST_STR];

	return xasprintf("%s/%s%s%s%s%s", r->registry, r->repository, r->tag ? ":" : "", r->tag ? r->tag : "",
			 r->has_digest ? "@" : "", r->has_digest ? rootfs_digest_str(&r->digest, buf) : "");
}
