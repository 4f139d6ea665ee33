/* runtime/creds/policy.c - see policy.h */
#include "policy.h"

#include "common/cleanup.h"
#include "common/glob.h"
#include "common/json.h"
#include "common/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct patterns {
	char **v;        /* NUL-free strings */
	size_t *len;
	size_t n;
	bool negated;    /* NotAction / NotResource */
};

struct statement {
	char *sid;       /* NULL when the statement has none */
	bool deny;
	struct patterns actions, resources;
};

struct creds_policy {
	struct statement *st;
	size_t n;
};

/* ------------------------------------------------------------------ glob */

bool creds_glob_match(const char *pat, size_t plen, const char *s, size_t slen, bool icase,
		      uint64_t *steps)
{
	return glob_match(pat, plen, s, slen, icase, steps);
}

/* ----------------------------------------------------------------- free */

static void patterns_free(struct patterns *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	free(l->len);
}

void creds_policy_free(struct creds_policy *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->n; i++) {
		free(p->st[i].sid);
		patterns_free(&p->st[i].actions);
		patterns_free(&p->st[i].resources);
	}
	free(p->st);
	free(p);
}

void creds_policy_freep(struct creds_policy **p)
{
	creds_policy_free(*p);
	*p = NULL;
}

size_t creds_policy_n_statements(const struct creds_policy *p)
{
	return p->n;
}

/* ---------------------------------------------------------------- parse */

enum pattern_kind { KIND_ACTION, KIND_RESOURCE };

struct parse {
	bool variables;   /* Version 2012-10-17: "${...}" would be a variable */
	size_t total;     /* patterns so far */
};

/* One offending byte, printable in a message. */
static const char *byte_name(unsigned char c, char buf[8])
{
	if (c > 0x20 && c < 0x7f)
		snprintf(buf, 8, "'%c'", c);
	else
		snprintf(buf, 8, "0x%02x", c);
	return buf;
}

/* A JSON string value at path into *s / *len: a string, no NUL inside. */
static int get_string(const json_t *v, const char *path, const char **s, size_t *len,
		      struct berr **err)
{
	if (!json_is_string(v))
		return berr_set(err, 0, "%s: expected string, got %s", path, bjson_type_name(v));
	*s = json_string_value(v);
	*len = json_string_length(v);
	if (strlen(*s) != *len)
		return berr_set(err, 0, "%s: contains a NUL character", path);
	return 0;
}

/* "service:action" or "*"; service letters, digits, '-', wildcards; action
 * letters, digits, wildcards (IAM's action names are alphanumeric). */
static int check_action(const char *path, const char *s, size_t len, struct berr **err)
{
	const char *colon = memchr(s, ':', len);
	char b[8];

	if (len == 1 && s[0] == '*')
		return 0;
	if (colon == NULL || colon == s)
		return berr_set(err, 0,
				"%s: \"%s\" has no service prefix (expected \"service:action\" "
				"such as \"ecs:RunTask\", or \"*\")",
				path, berr_q(s));
	if (colon == s + len - 1)
		return berr_set(err, 0, "%s: \"%s\" has no action after the service prefix", path,
				berr_q(s));
	for (const char *p = s; p < colon; p++) {
		unsigned char c = (unsigned char)*p;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '*' || c == '?'))
			return berr_set(err, 0,
					"%s: \"%s\": %s is not allowed in a service prefix "
					"(letters, digits, '-', '*', '?')",
					path, berr_q(s), byte_name(c, b));
	}
	for (const char *p = colon + 1; p < s + len; p++) {
		unsigned char c = (unsigned char)*p;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '*' || c == '?'))
			return berr_set(err, 0,
					"%s: \"%s\": %s is not allowed in an action name "
					"(letters, digits, '*', '?')",
					path, berr_q(s), byte_name(c, b));
	}
	return 0;
}

/* "*" or an ARN: "arn:" and at least six ':'-separated fields. */
static int check_resource(const struct parse *ps, const char *path, const char *s, size_t len,
			  struct berr **err)
{
	size_t colons = 0;
	char b[8];

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f)
			return berr_set(err, 0, "%s: \"%s\": control character %s", path, berr_q(s),
					byte_name(c, b));
		colons += c == ':';
	}
	if (len == 1 && s[0] == '*')
		return 0;
	if (len < 4 || memcmp(s, "arn:", 4) != 0 || colons < 5)
		return berr_set(err, 0,
				"%s: \"%s\" is neither \"*\" nor an ARN "
				"(\"arn:partition:service:region:account:resource\")",
				path, berr_q(s));
	if (ps->variables && strstr(s, "${"))
		return berr_set(err, 0,
				"%s: \"%s\": policy variables (\"${...}\") are not supported yet",
				path, berr_q(s));
	return 0;
}

static int add_pattern(struct parse *ps, enum pattern_kind kind, const json_t *v,
		       const char *path, struct patterns *l, struct berr **err)
{
	const char *s;
	size_t len;
	int r;

	if ((r = get_string(v, path, &s, &len, err)) < 0)
		return r;
	if (len == 0)
		return berr_set(err, 0, "%s: empty", path);
	if (len > CREDS_POLICY_MAX_PATTERN_LEN)
		return berr_set(err, 0, "%s: %zu bytes, at most %d", path, len,
				CREDS_POLICY_MAX_PATTERN_LEN);
	r = kind == KIND_ACTION ? check_action(path, s, len, err)
				: check_resource(ps, path, s, len, err);
	if (r < 0)
		return r;
	if (++ps->total > CREDS_POLICY_MAX_TOTAL_PATTERNS)
		return berr_set(err, 0, "%s: more than %d actions and resources in the policy", path,
				CREDS_POLICY_MAX_TOTAL_PATTERNS);
	l->v[l->n] = xmemdup(s, len + 1);
	l->len[l->n] = len;
	l->n++;
	return 0;
}

/* A string or a non-empty array of strings, at path. */
static int parse_patterns(struct parse *ps, enum pattern_kind kind, const json_t *v,
			  const char *path, bool negated, struct patterns *l, struct berr **err)
{
	size_t n;
	int r;

	l->negated = negated;
	if (json_is_string(v)) {
		l->v = xmalloc(sizeof(*l->v));
		l->len = xmalloc(sizeof(*l->len));
		return add_pattern(ps, kind, v, path, l, err);
	}
	if (!json_is_array(v))
		return berr_set(err, 0, "%s: expected string or array of strings, got %s", path,
				bjson_type_name(v));
	n = json_array_size(v);
	if (n == 0)
		return berr_set(err, 0, "%s: empty list", path);
	if (n > CREDS_POLICY_MAX_PATTERNS)
		return berr_set(err, 0, "%s: %zu entries, at most %d", path, n,
				CREDS_POLICY_MAX_PATTERNS);
	l->v = xcalloc(n, sizeof(*l->v));
	l->len = xcalloc(n, sizeof(*l->len));
	for (size_t i = 0; i < n; i++) {
		cleanup_free char *ep = bjson_path_index(path, i);

		if ((r = add_pattern(ps, kind, json_array_get(v, i), ep, l, err)) < 0)
			return r;
	}
	return 0;
}

static const char *const statement_keys[] = {
	"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", NULL,
};

static bool in_list(const char *const *list, const char *key)
{
	for (; *list; list++)
		if (strcmp(*list, key) == 0)
			return true;
	return false;
}

/* Action / NotAction (or Resource / NotResource): exactly one of the two. */
static int parse_pair(struct parse *ps, enum pattern_kind kind, const json_t *obj,
		      const char *path, const char *key, const char *not_key, struct patterns *l,
		      struct berr **err)
{
	const json_t *yes = json_object_get(obj, key), *no = json_object_get(obj, not_key);
	cleanup_free char *kp = NULL;

	if (yes && no)
		return berr_set(err, 0, "%s: %s and %s cannot both be given", path, key, not_key);
	if (!yes && !no)
		return berr_set(err, 0, "%s: one of %s or %s is required", path, key, not_key);
	kp = bjson_path_key(path, yes ? key : not_key);
	return parse_patterns(ps, kind, yes ? yes : no, kp, no != NULL, l, err);
}

static int parse_statement(struct parse *ps, const json_t *obj, const char *path,
			   const struct creds_policy *pol, struct statement *st, struct berr **err)
{
	const char *key, *s;
	const json_t *v;
	size_t len;
	int r;

	if (!json_is_object(obj))
		return berr_set(err, 0, "%s: expected object, got %s", path, bjson_type_name(obj));

	/* Sid first: the other errors name the statement by it */
	if ((v = json_object_get(obj, "Sid")) != NULL) {
		cleanup_free char *kp = bjson_path_key(path, "Sid");

		if ((r = get_string(v, kp, &s, &len, err)) < 0)
			return r;
		if (len > CREDS_POLICY_MAX_SID_LEN)
			return berr_set(err, 0, "%s: %zu bytes, at most %d", kp, len,
					CREDS_POLICY_MAX_SID_LEN);
		for (size_t i = 0; i < len; i++) {
			unsigned char c = (unsigned char)s[i];

			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
				return berr_set(err, 0,
						"%s: \"%s\": only letters and digits are allowed",
						kp, berr_q(s));
		}
		/* IAM's generator writes "Sid": "": the same as none */
		if (len > 0) {
			for (size_t i = 0; i < pol->n; i++)
				if (pol->st[i].sid && strcmp(pol->st[i].sid, s) == 0)
					return berr_set(err, 0,
							"%s: \"%s\" is already the Sid of statement %zu",
							kp, berr_q(s), i);
			st->sid = xstrdup(s);
		}
	}

	json_object_foreach((json_t *)obj, key, v) {
		cleanup_free char *kp = NULL;

		if (in_list(statement_keys, key))
			continue;
		kp = bjson_path_key(path, key);
		if (strcmp(key, "Condition") == 0) {
			if (st->sid)
				return berr_set(err, 0,
						"%s: conditions are not supported yet (statement \"%s\")",
						kp, st->sid);
			return berr_set(err, 0, "%s: conditions are not supported yet", kp);
		}
		if (strcmp(key, "Principal") == 0 || strcmp(key, "NotPrincipal") == 0)
			return berr_set(err, 0,
					"%s: not supported: a role's policy is an identity policy, "
					"which names no principal",
					kp);
		return berr_set(err, 0,
				"%s: unknown key (a statement has Sid, Effect, Action or NotAction, "
				"Resource or NotResource)",
				kp);
	}

	{
		cleanup_free char *kp = bjson_path_key(path, "Effect");

		v = json_object_get(obj, "Effect");
		if (v == NULL)
			return berr_set(err, 0, "%s: required", kp);
		if ((r = get_string(v, kp, &s, &len, err)) < 0)
			return r;
		if (strcmp(s, "Allow") == 0)
			st->deny = false;
		else if (strcmp(s, "Deny") == 0)
			st->deny = true;
		else
			return berr_set(err, 0, "%s: expected \"Allow\" or \"Deny\", got \"%s\"", kp,
					berr_q(s));
	}
	if ((r = parse_pair(ps, KIND_ACTION, obj, path, "Action", "NotAction", &st->actions,
			    err)) < 0)
		return r;
	return parse_pair(ps, KIND_RESOURCE, obj, path, "Resource", "NotResource", &st->resources,
			  err);
}

int creds_policy_from_json(const json_t *doc, const char *path, struct creds_policy **out,
			   struct berr **err)
{
	cleanup_policy struct creds_policy *pol = NULL;
	struct parse ps = { 0 };
	const json_t *v, *stmts;
	const char *key, *s;
	size_t len, n;
	int r;

	*out = NULL;
	if (path == NULL)
		path = "";
	if ((r = bjson_expect_object(doc, *path ? path : NULL, err)) < 0)
		return r;
	json_object_foreach((json_t *)doc, key, v) {
		if (strcmp(key, "Version") != 0 && strcmp(key, "Statement") != 0 &&
		    strcmp(key, "Id") != 0) {
			cleanup_free char *kp = bjson_path_key(path, key);

			return berr_set(err, 0,
					"%s: unknown key (a policy has Version, Id and Statement)", kp);
		}
	}

	{
		cleanup_free char *kp = bjson_path_key(path, "Version");

		v = json_object_get(doc, "Version");
		if (v == NULL)
			return berr_set(err, 0, "%s: required (\"2012-10-17\")", kp);
		if ((r = get_string(v, kp, &s, &len, err)) < 0)
			return r;
		if (strcmp(s, "2012-10-17") == 0)
			ps.variables = true;
		else if (strcmp(s, "2008-10-17") != 0)
			return berr_set(err, 0,
					"%s: expected \"2012-10-17\" or \"2008-10-17\", got \"%s\"", kp,
					berr_q(s));
	}
	if ((v = json_object_get(doc, "Id")) != NULL) {
		cleanup_free char *kp = bjson_path_key(path, "Id");

		if ((r = get_string(v, kp, &s, &len, err)) < 0)
			return r;
	}

	cleanup_free char *sp = bjson_path_key(path, "Statement");

	stmts = json_object_get(doc, "Statement");
	if (stmts == NULL)
		return berr_set(err, 0, "%s: required", sp);
	if (json_is_object(stmts)) {
		n = 1;
	} else if (json_is_array(stmts)) {
		n = json_array_size(stmts);
		if (n == 0)
			return berr_set(err, 0, "%s: empty list (a policy needs a statement)", sp);
		if (n > CREDS_POLICY_MAX_STATEMENTS)
			return berr_set(err, 0, "%s: %zu statements, at most %d", sp, n,
					CREDS_POLICY_MAX_STATEMENTS);
	} else {
		return berr_set(err, 0, "%s: expected array of statements or one statement object, "
				"got %s", sp, bjson_type_name(stmts));
	}

	pol = xzalloc(sizeof(*pol));
	pol->st = xcalloc(n, sizeof(*pol->st));
	for (size_t i = 0; i < n; i++) {
		cleanup_free char *ip = json_is_object(stmts) ? xstrdup(sp) : bjson_path_index(sp, i);

		/* counted before parsing, so a half-built statement is freed */
		pol->n++;
		r = parse_statement(&ps, json_is_object(stmts) ? stmts : json_array_get(stmts, i), ip,
				    pol, &pol->st[i], err);
		if (r < 0)
			return r;
	}
	*out = steal_pointer(&pol);
	return 0;
}

int creds_policy_parse(const char *what, const char *buf, size_t len,
		       struct creds_policy **out, struct berr **err)
{
	cleanup_json json_t *doc = NULL;
	int r;

	*out = NULL;
	if (len > CREDS_POLICY_MAX_BYTES)
		return berr_set(err, 0, "%s: %zu bytes, at most %d", what, len,
				CREDS_POLICY_MAX_BYTES);
	if ((r = bjson_load_buf(what, buf, len, &doc, err)) < 0)
		return r;
	if ((r = creds_policy_from_json(doc, "", out, err)) < 0)
		return berr_wrap(err, "%s", what);
	return 0;
}

/* ------------------------------------------------------------- evaluate */

/* Does the statement's action or resource part match? */
static bool part_matches(const struct patterns *l, const char *s, size_t slen, bool icase)
{
	bool any = false;

	for (size_t i = 0; i < l->n && !any; i++)
		any = creds_glob_match(l->v[i], l->len[i], s, slen, icase, NULL);
	return l->negated ? !any : any;
}

static bool statement_applies(const struct statement *st, const char *action, size_t alen,
			      const char *resource, size_t rlen)
{
	return part_matches(&st->actions, action, alen, true) &&
	       part_matches(&st->resources, resource, rlen, false);
}

enum creds_decision creds_policy_eval(const struct creds_policy *const *policies, size_t n,
				      const char *action, const char *resource,
				      struct creds_verdict *v)
{
	struct creds_verdict allow = { CREDS_DENY_IMPLICIT, SIZE_MAX, SIZE_MAX, NULL };
	size_t alen = strlen(action), rlen = strlen(resource);
	bool allowed = false;

	for (size_t p = 0; p < n; p++) {
		const struct creds_policy *pol = policies[p];

		if (pol == NULL)
			continue;
		for (size_t i = 0; i < pol->n; i++) {
			const struct statement *st = &pol->st[i];

			/* an Allow found already only needs checking for Deny */
			if (!st->deny && allowed)
				continue;
			if (!statement_applies(st, action, alen, resource, rlen))
				continue;
			if (st->deny) {
				if (v)
					*v = (struct creds_verdict){ CREDS_DENY_EXPLICIT, p, i,
								     st->sid };
				return CREDS_DENY_EXPLICIT;
			}
			allow = (struct creds_verdict){ CREDS_ALLOW, p, i, st->sid };
			allowed = true;
		}
	}
	if (v)
		*v = allow;
	return allow.decision;
}

const char *creds_decision_name(enum creds_decision d)
{
	switch (d) {
	case CREDS_ALLOW:
		return "ALLOW";
	case CREDS_DENY_EXPLICIT:
		return "DENY_EXPLICIT";
	case CREDS_DENY_IMPLICIT:
		return "DENY_IMPLICIT";
	}
	return "?";
}

char *creds_verdict_describe(const struct creds_verdict *v)
{
	const char *what;

	switch (v->decision) {
	case CREDS_ALLOW:
		what = "allowed";
		break;
	case CREDS_DENY_EXPLICIT:
		what = "explicitly denied";
		break;
	default:
		return xstrdup("implicitly denied (no statement allows it)");
	}
	if (v->sid)
		return xasprintf("%s by policy %zu statement \"%s\"", what, v->policy, v->sid);
	return xasprintf("%s by policy %zu statement %zu", what, v->policy, v->statement);
}
