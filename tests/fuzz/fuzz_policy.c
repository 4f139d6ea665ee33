/* fuzz_policy: IAM-style policy parse and evaluation (runtime/creds/policy.c)
 * and its glob matcher.
 *
 * Input: "<policy JSON>\0<action>\0<resource>" (missing parts are empty).
 * The JSON goes through creds_policy_parse; a parsed policy is evaluated
 * for the input's action and resource and for a few fixed requests.
 * Invariants: no crash or leak; a refusal has a message naming the document;
 * a verdict's indexes point at a statement (none for an implicit deny);
 * evaluating [p, p] decides as [p] does; [p, deny everything] is an explicit
 * deny; [allow everything, p] allows unless p denies explicitly. The action
 * and resource parts, cut to 48 bytes, are also a pattern and a text for
 * the matcher, which must agree with a dynamic-programming reference (with
 * and without case folding) within its step bound. */
#include "common/xalloc.h"
#include "runtime/creds/policy.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define WHAT "fuzz.json"

static void check(bool ok)
{
	if (!ok)
		abort();
}

static struct creds_policy *fixed(const char *doc)
{
	struct creds_policy *p = NULL;

	if (creds_policy_parse("fixed", doc, strlen(doc), &p, NULL) < 0)
		abort();
	return p;
}

static unsigned char lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

#define REF_MAX 48

static bool ref_match(const char *pat, size_t pl, const char *s, size_t sl, bool icase)
{
	static bool dp[REF_MAX + 1][REF_MAX + 1];

	for (size_t i = pl + 1; i-- > 0;) {
		for (size_t j = sl + 1; j-- > 0;) {
			if (i == pl)
				dp[i][j] = j == sl;
			else if (pat[i] == '*')
				dp[i][j] = dp[i + 1][j] || (j < sl && dp[i][j + 1]);
			else
				dp[i][j] = j < sl &&
					   (pat[i] == '?' || pat[i] == s[j] ||
					    (icase && lower((unsigned char)pat[i]) ==
							      lower((unsigned char)s[j]))) &&
					   dp[i + 1][j + 1];
		}
	}
	return dp[0][0];
}

static void check_glob(const char *pat, size_t pl, const char *s, size_t sl)
{
	if (pl > REF_MAX)
		pl = REF_MAX;
	if (sl > REF_MAX)
		sl = REF_MAX;
	for (int icase = 0; icase < 2; icase++) {
		uint64_t steps = 0;
		bool got = creds_glob_match(pat, pl, s, sl, icase, &steps);

		check(got == ref_match(pat, pl, s, sl, icase));
		check(steps <= (uint64_t)(pl + 1) * (sl + 2));
	}
}

static void check_verdict(const struct creds_policy *const *ps, size_t n, enum creds_decision d,
			  const struct creds_verdict *v)
{
	char *desc;

	check(v->decision == d);
	if (d == CREDS_DENY_IMPLICIT) {
		check(v->policy == SIZE_MAX && v->statement == SIZE_MAX && v->sid == NULL);
	} else {
		check(d == CREDS_ALLOW || d == CREDS_DENY_EXPLICIT);
		check(v->policy < n && ps[v->policy] != NULL);
		check(v->statement < creds_policy_n_statements(ps[v->policy]));
	}
	desc = creds_verdict_describe(v);
	check(desc[0] != '\0');
	free(desc);
}

static void eval_all(const struct creds_policy *p, const char *action, const char *resource)
{
	static struct creds_policy *allow_all, *deny_all;
	const struct creds_policy *one[] = { p }, *twice[] = { p, p };
	const struct creds_policy *with_deny[2], *with_allow[2];
	struct creds_verdict v;
	enum creds_decision d, d2;

	if (!allow_all) {
		allow_all = fixed("{\"Version\":\"2012-10-17\",\"Statement\":"
				  "{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\"}}");
		deny_all = fixed("{\"Version\":\"2012-10-17\",\"Statement\":"
				 "{\"Effect\":\"Deny\",\"Action\":\"*\",\"Resource\":\"*\"}}");
	}
	with_deny[0] = p;
	with_deny[1] = deny_all;
	with_allow[0] = allow_all;
	with_allow[1] = p;

	d = creds_policy_eval(one, 1, action, resource, &v);
	check_verdict(one, 1, d, &v);
	d2 = creds_policy_eval(twice, 2, action, resource, &v);
	check_verdict(twice, 2, d2, &v);
	check(d2 == d);
	d2 = creds_policy_eval(with_deny, 2, action, resource, &v);
	check_verdict(with_deny, 2, d2, &v);
	check(d2 == CREDS_DENY_EXPLICIT && v.policy == (d == CREDS_DENY_EXPLICIT ? 0u : 1u));
	d2 = creds_policy_eval(with_allow, 2, action, resource, &v);
	check_verdict(with_allow, 2, d2, &v);
	check(d2 == (d == CREDS_DENY_EXPLICIT ? CREDS_DENY_EXPLICIT : CREDS_ALLOW));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	const char *nul = memchr(in, '\0', size);
	size_t jlen = nul ? (size_t)(nul - in) : size;
	char *action = xstrdup(""), *resource = xstrdup("");
	struct creds_policy *p = NULL;
	struct berr *err = NULL;

	if (nul) {
		const char *a = nul + 1, *end = in + size;
		const char *nul2 = memchr(a, '\0', (size_t)(end - a));

		free(action);
		action = xstrndup(a, nul2 ? (size_t)(nul2 - a) : (size_t)(end - a));
		if (nul2) {
			free(resource);
			resource = xstrndup(nul2 + 1, (size_t)(end - nul2 - 1));
		}
	}
	check_glob(action, strlen(action), resource, strlen(resource));

	if (creds_policy_parse(WHAT, in, jlen, &p, &err) < 0) {
		const char *m = berr_msg(err);

		check(p == NULL && err != NULL);
		check(strncmp(m, WHAT ": ", strlen(WHAT ": ")) == 0 ||
		      strncmp(m, "parse " WHAT ": ", strlen("parse " WHAT ": ")) == 0);
		berr_free(err);
	} else {
		static const char *const req[][2] = {
			{ "ecs:RunTask", "arn:aws:ecs:us-east-1:123456789012:task/prod/abc" },
			{ "ECS:describetasks", "*" },
			{ "s3:GetObject", "arn:aws:s3:::bucket/key" },
			{ "", "" },
		};

		check(p != NULL && err == NULL);
		check(creds_policy_n_statements(p) >= 1 &&
		      creds_policy_n_statements(p) <= CREDS_POLICY_MAX_STATEMENTS);
		eval_all(p, action, resource);
		for (size_t i = 0; i < sizeof(req) / sizeof(req[0]); i++)
			eval_all(p, req[i][0], req[i][1]);
		creds_policy_free(p);
	}
	free(action);
	free(resource);
	return 0;
}
