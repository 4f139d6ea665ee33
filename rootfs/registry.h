/* rootfs/registry.h - the parsers of a registry pull (no network here):
 * image references, WWW-Authenticate challenges, token responses, base64,
 * and the `auths` of a docker config.json / berth credentials file.
 *
 * Everything here takes untrusted text (a user's reference, a registry's
 * headers and bodies, a config file) and either gives a complete result or
 * an error that names the input; the structs own their strings. */
#ifndef BERTH_ROOTFS_REGISTRY_H
#define BERTH_ROOTFS_REGISTRY_H

#include "common/error.h"
#include "rootfs/digest.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------- references */

#define ROOTFS_DOCKER_HUB          "docker.io"
#define ROOTFS_DOCKER_HUB_ENDPOINT "registry-1.docker.io"

/* `[registry/]repository[:tag][@sha256:hex]`, with Docker Hub's defaults:
 * no registry (the first component has no '.', no ':' and is not
 * "localhost") is docker.io; a one-component repository on docker.io is
 * library/NAME; no tag and no digest is :latest. index.docker.io and
 * registry-1.docker.io are docker.io. */
struct rootfs_pull_ref {
	char *registry;      /* "docker.io", "127.0.0.1:5000", "ghcr.io" */
	char *endpoint;      /* host[:port] spoken to: registry-1.docker.io for docker.io */
	char *repository;    /* "library/busybox", "berth-test/helper" */
	char *tag;           /* "latest", ...; NULL when only a digest was given */
	bool has_digest;
	struct rootfs_digest digest;
};

/* Errors quote the reference and say what is wrong:
 * "image reference \"Foo\": repository name must be lowercase". */
int rootfs_pull_ref_parse(const char *s, struct rootfs_pull_ref *out, struct berr **err);
void rootfs_pull_ref_free(struct rootfs_pull_ref *r);
/* The name the image gets in the store ("busybox:latest" for
 * docker.io/library/busybox, "127.0.0.1:5000/a/b:1"), as docker shows it;
 * NULL when the reference has no tag (pulled by digest only). xmalloc'd. */
char *rootfs_pull_ref_familiar(const struct rootfs_pull_ref *r);
/* "registry/repository:tag@digest" in full, for messages. xmalloc'd. */
char *rootfs_pull_ref_string(const struct rootfs_pull_ref *r);
/* A registry host as written in a credentials file or an --insecure-registry
 * option ("https://index.docker.io/v1/", "http://h:5000", "h:5000/") ->
 * the registry name it stands for ("docker.io", "h:5000"). xmalloc'd. */
char *rootfs_registry_host_normalize(const char *s);

/* ---------------------------------------------------------------- auth */

struct rootfs_auth_param {
	char *key;     /* lowercased */
	char *value;   /* unquoted, escapes resolved */
};

struct rootfs_auth_challenge {
	char *scheme;  /* lowercased: "basic", "bearer" */
	struct rootfs_auth_param *params;
	size_t n_params;
	char *token68;  /* the token68 form, or NULL */
};

/* A WWW-Authenticate value (RFC 7235: one or more challenges, comma
 * separated, parameters as token or quoted-string). At most 16 challenges
 * of 32 parameters; a value longer than 8 KiB is refused. */
int rootfs_auth_parse_www(const char *hdr, struct rootfs_auth_challenge **out, size_t *n,
			  struct berr **err);
void rootfs_auth_challenges_free(struct rootfs_auth_challenge *v, size_t n);
/* The value of parameter key (lowercase) or NULL. */
const char *rootfs_auth_param(const struct rootfs_auth_challenge *c, const char *key);

/* The token endpoint's answer: {"token": ...} or {"access_token": ...}
 * (docker's and OAuth2's names), optional "expires_in" seconds (default 60,
 * as the distribution spec says). */
int rootfs_auth_parse_token(const char *buf, size_t len, char **token, int64_t *expires_in,
			    struct berr **err);

/* Standard base64 (RFC 4648, with padding). decode accepts missing padding
 * and refuses anything else that is not base64. */
char *rootfs_base64_encode(const void *data, size_t len);
int rootfs_base64_decode(const char *s, char **out, size_t *len, struct berr **err);

struct rootfs_cred {
	char *username, *password;
};

enum {
	ROOTFS_CRED_NONE = 0,     /* no entry for this registry */
	ROOTFS_CRED_FOUND = 1,    /* *out filled */
	ROOTFS_CRED_HELPER = 2,   /* only a credential helper (credsStore/credHelpers) would know */
};

/* Look registry (a normalized name, e.g. "docker.io") up in a docker
 * config.json or a berth credentials file (the same shape):
 *   {"auths": {"host:port": {"auth": base64("user:pass")} |
 *                           {"username": "u", "password": "p"}},
 *    "credsStore": "...", "credHelpers": {"host": "..."}}
 * Keys are normalized with rootfs_registry_host_normalize. `what` names the
 * file in errors: "/root/.docker/config.json: auths[\"h:5000\"].auth: not base64". */
int rootfs_cred_lookup(const char *buf, size_t len, const char *what, const char *registry,
		       struct rootfs_cred *out, struct berr **err);
void rootfs_cred_free(struct rootfs_cred *c);

#endif
