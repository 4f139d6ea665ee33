/* runtime/creds/roles.c - task roles from berthd.json (roles.h). */
#include "runtime/creds/roles.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/json.h"
#include "common/xalloc.h"
#include "runtime/creds/issuer.h"

const char *creds_source_name(enum creds_source_kind k)
{
	return k == CREDS_SOURCE_STATIC ? "static" : "berth";
}

static void keys_clear(struct creds_static_keys *k)
{
	free(k->access_key_id);
	if (k->secret_access_key) {
		explicit_bzero(k->secret_access_key, strlen(k->secret_access_key));
		free(k->secret_access_key);
	}
	if (k->session_token) {
		explicit_bzero(k->session_token, strlen(k->session_token));
		free(k->session_token);
	}
	memset(k, 0, sizeof(*k));
}

void creds_roles_free(struct creds_roles *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++) {
		struct creds_role *o = &r->v[i];

		free(o->arn);
		free(o->name);
		for (size_t k = 0; k < o->n_policies; k++)
			creds_policy_free(o->policies[k]);
		free(o->policies);
		keys_clear(&o->keys);
	}
	free(r->v);
	free(r->static_file);
	memset(r, 0, sizeof(*r));
}

/* arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME: IAM's role names are
 * 1-64 of [A-Za-z0-9+=,.@_-], paths /-delimited runs of printable ASCII. */
bool creds_role_arn_valid(const char *arn, const char **why)
{
	const char *p = arn, *name;
	size_t n;
	const char *w = NULL;

	if (strncmp(p, "arn:", 4)) {
		w = "does not start with \"arn:\"";
		goto bad;
	}
	p += 4;
	n = strcspn(p, ":");
	if (n == 0 || n > 32 || p[n] != ':' || strspn(p, "abcdefghijklmnopqrstuvwxyz-") < n) {
		w = "the partition (aws, aws-cn, ...) is missing or malformed";
		goto bad;
	}
	p += n + 1;
	if (strncmp(p, "iam::", 5)) {
		w = "the service is not iam (or the region is not empty)";
		goto bad;
	}
	p += 5;
	if (strspn(p, "0123456789") != 12 || p[12] != ':') {
		w = "the account is not 12 digits";
		goto bad;
	}
	p += 13;
	if (strncmp(p, "role/", 5)) {
		w = "the resource is not role/NAME";
		goto bad;
	}
	p += 4;   /* at the '/' that starts the path */
	name = strrchr(p, '/') + 1;
	n = strlen(name);
	if (n == 0 || n > 64 ||
	    strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+=,.@_-") != n) {
		w = "the role name is not 1-64 of A-Z a-z 0-9 + = , . @ _ -";
		goto bad;
	}
	for (const char *q = p; q < name; q++)
		if (*q < 0x21 || *q > 0x7e) {
			w = "the role path has a character outside printable ASCII";
			goto bad;
		}
	if (strlen(arn) > CREDS_ARN_MAX) {
		w = "it is too long";
		goto bad;
	}
	return true;
bad:
	if (why)
		*why = w;
	return false;
}

static int parse_role(const json_t *o, const char *path, struct creds_role *role, struct berr **err)
{
	static const char *const known[] = { "roleArn", "source", "policies", "durationSeconds", NULL };
	const char *arn = NULL, *src = NULL, *why = NULL, *key;
	json_t *v, *pols = NULL;
	int64_t dur = CREDS_TTL_DEFAULT;
	int r;

	if ((r = bjson_expect_object(o, path, err)) < 0)
		return r;
	json_object_foreach((json_t *)o, key, v) {
		size_t i;

		for (i = 0; known[i] && strcmp(known[i], key); i++)
			;
		if (!known[i])
			return berr_set(err, EINVAL, "%s.%s: unknown key (roleArn, source, policies, "
					"durationSeconds)", path, key);
	}
	if ((r = bjson_get_string(o, path, "roleArn", true, &arn, err)) < 0 ||
	    (r = bjson_get_string(o, path, "source", false, &src, err)) < 0 ||
	    (r = bjson_get_array(o, path, "policies", false, &pols, err)) < 0 ||
	    (r = bjson_get_int_range(o, path, "durationSeconds", false, CREDS_TTL_MIN, CREDS_TTL_MAX,
				     &dur, err)) < 0)
		return r;
	if (!creds_role_arn_valid(arn, &why))
		return berr_set(err, EINVAL, "%s.roleArn: \"%s\" is not a role ARN "
				"(arn:aws:iam::ACCOUNT:role/NAME): %s", path, berr_q(arn), why);
	role->arn = xstrdup(arn);
	role->name = xstrdup(strrchr(arn, '/') + 1);
	role->duration = dur;
	if (!src || !strcmp(src, "berth")) {
		role->source = CREDS_SOURCE_BERTH;
	} else if (!strcmp(src, "static")) {
		role->source = CREDS_SOURCE_STATIC;
	} else if (!strcmp(src, "process")) {
		return berr_set(err, ENOTSUP, "%s.source: \"process\" (an operator's STS broker) is not "
				"supported yet: use \"berth\" or \"static\"", path);
	} else {
		return berr_set(err, EINVAL, "%s.source: \"%s\": expected \"berth\" or \"static\"", path,
				berr_q(src));
	}
	if (role->source == CREDS_SOURCE_STATIC) {
		if (pols)
			return berr_set(err, EINVAL, "%s.policies: a static role's keys are AWS's, not "
					"berthd's: berthd never sees calls made with them, so it has no "
					"policies", path);
		if (json_object_get(o, "durationSeconds"))
			return berr_set(err, EINVAL, "%s.durationSeconds: a static role's keys do not "
					"expire in berth's hands (only \"berth\" roles have a duration)", path);
		return 0;
	}
	if (pols) {
		size_t i;
		json_t *p;

		if (json_array_size(pols) > CREDS_ROLE_POLICIES_MAX)
			return berr_set(err, EINVAL, "%s.policies: %zu policies, at most %d", path,
					json_array_size(pols), CREDS_ROLE_POLICIES_MAX);
		role->policies = xcalloc(json_array_size(pols) + 1, sizeof(*role->policies));
		json_array_foreach(pols, i, p) {
			cleanup_free char *pp = xasprintf("%s.policies[%zu]", path, i);

			if ((r = creds_policy_from_json(p, pp, &role->policies[i], err)) < 0)
				return r;
			role->n_policies++;
		}
	}
	return 0;
}

int creds_roles_parse(const json_t *roles, const json_t *static_file, struct creds_roles *out,
		      struct berr **err)
{
	struct creds_roles r = { 0 };
	bool any_static = false;
	size_t i;
	json_t *o;
	int ret;

	memset(out, 0, sizeof(*out));
	if (static_file && !json_is_null(static_file)) {
		if (!json_is_string(static_file))
			return berr_set(err, EINVAL, "roleCredentialsFile: expected a string, got %s",
					bjson_type_name(static_file));
		if (json_string_value(static_file)[0] != '/')
			return berr_set(err, EINVAL, "roleCredentialsFile: \"%s\" is not an absolute path",
					berr_q(json_string_value(static_file)));
		r.static_file = xstrdup(json_string_value(static_file));
	}
	if (!roles || json_is_null(roles)) {
		*out = r;
		return 0;
	}
	if (!json_is_array(roles)) {
		ret = berr_set(err, EINVAL, "roles: expected an array, got %s", bjson_type_name(roles));
		goto fail;
	}
	if (json_array_size(roles) > CREDS_ROLES_MAX) {
		ret = berr_set(err, EINVAL, "roles: %zu roles, at most %d", json_array_size(roles),
			       CREDS_ROLES_MAX);
		goto fail;
	}
	r.v = xcalloc(json_array_size(roles) + 1, sizeof(*r.v));
	json_array_foreach(roles, i, o) {
		cleanup_free char *path = xasprintf("roles[%zu]", i);

		r.n++;
		if ((ret = parse_role(o, path, &r.v[i], err)) < 0)
			goto fail;
		for (size_t k = 0; k < i; k++)
			if (!strcmp(r.v[k].arn, r.v[i].arn)) {
				ret = berr_set(err, EINVAL, "%s.roleArn: \"%s\" is defined twice (also "
					       "roles[%zu])", path, berr_q(r.v[i].arn), k);
				goto fail;
			}
		any_static |= r.v[i].source == CREDS_SOURCE_STATIC;
	}
	if (any_static && !r.static_file) {
		ret = berr_set(err, EINVAL, "roles: static roles need \"roleCredentialsFile\" (a root-only "
			       "JSON file with their keys)");
		goto fail;
	}
	*out = r;
	return 0;
fail:
	creds_roles_free(&r);
	return ret;
}

const struct creds_role *creds_roles_find(const struct creds_roles *r, const char *arn)
{
	if (!r || !arn)
		return NULL;
	for (size_t i = 0; i < r->n; i++)
		if (!strcmp(r->v[i].arn, arn))
			return &r->v[i];
	return NULL;
}

static int static_entry(const char *file, const char *arn, const json_t *o, struct creds_static_keys *k,
			struct berr **err)
{
	const char *id = NULL, *secret = NULL, *token = NULL, *key;
	cleanup_free char *path = xasprintf("\"%s\"", arn);
	json_t *v;
	int r;

	if ((r = bjson_expect_object(o, path, err)) < 0)
		return berr_wrap(err, "%s", file);
	json_object_foreach((json_t *)o, key, v) {
		if (strcmp(key, "AccessKeyId") && strcmp(key, "SecretAccessKey") && strcmp(key, "SessionToken"))
			return berr_set(err, EINVAL, "%s: %s.%s: unknown key (AccessKeyId, SecretAccessKey, "
					"SessionToken)", file, path, key);
	}
	if ((r = bjson_get_string(o, path, "AccessKeyId", true, &id, err)) < 0 ||
	    (r = bjson_get_string(o, path, "SecretAccessKey", true, &secret, err)) < 0 ||
	    (r = bjson_get_string(o, path, "SessionToken", false, &token, err)) < 0)
		return berr_wrap(err, "%s", file);
	if (strlen(id) < 16 || strlen(id) > 128 || strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != strlen(id))
		return berr_set(err, EINVAL, "%s: %s.AccessKeyId: expected 16-128 upper-case letters and "
				"digits", file, path);
	if (!*secret || strlen(secret) > 256)
		return berr_set(err, EINVAL, "%s: %s.SecretAccessKey: expected 1-256 characters", file, path);
	if (token && (!*token || strlen(token) > 8192))
		return berr_set(err, EINVAL, "%s: %s.SessionToken: expected 1-8192 characters", file, path);
	k->access_key_id = xstrdup(id);
	k->secret_access_key = xstrdup(secret);
	k->session_token = token ? xstrdup(token) : NULL;
	return 0;
}

/* roleCredentialsFile, checked as the host key is (owner, mode, no
 * symlink) and parsed */
static int read_static_file(const char *path, json_t **out, struct berr **err)
{
	cleanup_close int fd = -1;
	cleanup_free char *buf = NULL;
	json_t *doc = NULL;
	struct stat st;
	size_t len = 0;
	int ret;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return berr_set(err, errno, "roleCredentialsFile %s", path);
	if (fstat(fd, &st) < 0)
		return berr_set(err, errno, "roleCredentialsFile %s", path);
	if (!S_ISREG(st.st_mode))
		return berr_set(err, EINVAL, "roleCredentialsFile %s: not a regular file", path);
	if (st.st_uid != geteuid())
		return berr_set(err, EPERM, "roleCredentialsFile %s: owned by uid %u, not by berthd's "
				"(%u): refused", path, (unsigned)st.st_uid, (unsigned)geteuid());
	if (st.st_mode & 077)
		return berr_set(err, EPERM, "roleCredentialsFile %s: mode %04o lets others read or write "
				"it: chmod 600 it", path, (unsigned)(st.st_mode & 07777));
	if ((ret = fs_read_all(fd, &buf, &len, CREDS_STATIC_FILE_MAX, err)) < 0)
		return berr_wrap(err, "roleCredentialsFile %s", path);
	ret = bjson_load_buf(path, buf, len, &doc, err);
	explicit_bzero(buf, len);
	if (ret < 0)
		return ret;
	if (!json_is_object(doc)) {
		ret = berr_set(err, EINVAL, "%s: expected an object {\"ROLE_ARN\": {\"AccessKeyId\": ..., "
			       "\"SecretAccessKey\": ...}}, got %s", path, bjson_type_name(doc));
		json_decref(doc);
		return ret;
	}
	*out = doc;
	return 0;
}

int creds_roles_load_static(struct creds_roles *r, struct berr **err)
{
	cleanup_json json_t *doc = NULL;
	const char *arn;
	json_t *o;
	int ret;

	if (!r->static_file)
		return 0;
	if ((ret = read_static_file(r->static_file, &doc, err)) < 0)
		return ret;
	json_object_foreach(doc, arn, o) {
		struct creds_role *role = (struct creds_role *)creds_roles_find(r, arn);

		if (!role)
			return berr_set(err, EINVAL, "%s: \"%s\": no such role in \"roles\"", r->static_file,
					berr_q(arn));
		if (role->source != CREDS_SOURCE_STATIC)
			return berr_set(err, EINVAL, "%s: \"%s\": the role's source is \"%s\", not \"static\"",
					r->static_file, berr_q(arn), creds_source_name(role->source));
		keys_clear(&role->keys);
		role->have_keys = false;
		if ((ret = static_entry(r->static_file, arn, o, &role->keys, err)) < 0)
			return ret;
		role->have_keys = true;
	}
	for (size_t i = 0; i < r->n; i++)
		if (r->v[i].source == CREDS_SOURCE_STATIC && !r->v[i].have_keys)
			return berr_set(err, EINVAL, "%s: no keys for static role \"%s\"", r->static_file,
					berr_q(r->v[i].arn));
	return 0;
}

int creds_static_keys_load(const char *path, const char *arn, struct creds_static_keys *out,
			   struct berr **err)
{
	cleanup_json json_t *doc = NULL;
	json_t *o;
	int ret;

	memset(out, 0, sizeof(*out));
	if ((ret = read_static_file(path, &doc, err)) < 0)
		return ret;
	o = json_object_get(doc, arn);
	if (!o)
		return berr_set(err, ENOENT, "%s: no keys for static role \"%s\"", path, berr_q(arn));
	return static_entry(path, arn, o, out, err);
}

void creds_static_keys_clear(struct creds_static_keys *k)
{
	keys_clear(k);
}

enum creds_decision creds_role_authorize(const struct creds_role *role, const char *action,
					 const char *resource, struct creds_verdict *v)
{
	return creds_policy_eval((const struct creds_policy *const *)role->policies, role->n_policies,
				 action, resource, v);
}
