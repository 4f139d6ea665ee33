/* Unit tests for runtime/creds/policy.c: the IAM-style policy language
 * (parse errors with JSON paths, limits), IAM's matching rules (wildcards,
 * case), evaluation across several policies (explicit deny wins, NotAction,
 * NotResource) and the glob matcher's step bound.
 *
 * Documents are written with ' for " (jq() swaps them), expected messages
 * with ` for " (mq()). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "common/cleanup.h"
#include "common/xalloc.h"
#include "runtime/creds/policy.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TASK_ARN "arn:aws:ecs:us-east-1:123456789012:task/prod/0123456789abcdef"
#define PROD "arn:aws:ecs:us-east-1:123456789012:cluster/prod"
#define DEV "arn:aws:ecs:us-east-1:123456789012:cluster/dev"

static char *jq(const char *s)
{
	char *r = xstrdup(s);

	for (char *p = r; *p; p++)
		if (*p == '\'')
			*p = '"';
	return r;
}

/* Expected messages write ` for " (their own ' stay as they are). */
static char *mq(const char *s)
{
	char *r = xstrdup(s);

	for (char *p = r; *p; p++)
		if (*p == '`')
			*p = '"';
	return r;
}

static struct creds_policy *pol(const char *doc)
{
	cleanup_free char *j = jq(doc);
	struct creds_policy *p = NULL;
	struct berr *err = NULL;

	if (creds_policy_parse("p.json", j, strlen(j), &p, &err) < 0)
		fail_msg("unexpected error: %s", berr_msg(err));
	assert_non_null(p);
	return p;
}

/* A policy of the given statements, 2012-10-17. */
static struct creds_policy *stmts(const char *statements)
{
	cleanup_free char *d = xasprintf("{'Version':'2012-10-17','Statement':[%s]}", statements);

	return pol(d);
}

/* doc must fail with exactly "p.json: " msg. */
static void pol_err(const char *doc, const char *msg)
{
	cleanup_free char *j = jq(doc);
	cleanup_free char *m = mq(msg);
	cleanup_free char *want = xasprintf("p.json: %s", m);
	struct creds_policy *p = (struct creds_policy *)0x1;
	struct berr *err = NULL;

	assert_true(creds_policy_parse("p.json", j, strlen(j), &p, &err) < 0);
	assert_null(p);
	assert_non_null(err);
	assert_string_equal(berr_msg(err), want);
	berr_clear(&err);
}

/* The statements must fail with "p.json: " msg. */
static void stmt_err(const char *statements, const char *msg)
{
	cleanup_free char *d = xasprintf("{'Version':'2012-10-17','Statement':[%s]}", statements);

	pol_err(d, msg);
}

static enum creds_decision eval1(const struct creds_policy *p, const char *action,
				 const char *resource)
{
	const struct creds_policy *ps[] = { p };

	return creds_policy_eval(ps, 1, action, resource, NULL);
}

static bool glob(const char *pat, const char *s, bool icase)
{
	return creds_glob_match(pat, strlen(pat), s, strlen(s), icase, NULL);
}

/* ------------------------------------------------------------ matcher */

static void glob_literal_and_star(void **state)
{
	(void)state;
	assert_true(glob("ecs:RunTask", "ecs:RunTask", false));
	assert_false(glob("ecs:RunTask", "ecs:RunTasks", false));
	assert_false(glob("ecs:RunTask", "ecs:RunTas", false));
	assert_true(glob("*", "", false));
	assert_true(glob("*", "anything:at/all", false));
	assert_true(glob("", "", false));
	assert_false(glob("", "x", false));
	assert_true(glob("ecs:*", "ecs:", false));
	assert_true(glob("ecs:*", "ecs:ListTasks", false));
	assert_false(glob("ecs:*", "ec2:ListTasks", false));
	assert_true(glob("**", "ab", false));
	assert_true(glob("a**b", "ab", false));
	/* a '*' in the text is just a character */
	assert_false(glob("a", "*", false));
	assert_true(glob("?", "*", false));
}

static void glob_question_mark(void **state)
{
	(void)state;
	assert_true(glob("a?c", "abc", false));
	assert_true(glob("a?c", "a:c", false));
	assert_false(glob("a?c", "ac", false));
	assert_false(glob("a?c", "abbc", false));
	assert_true(glob("???", "a/b", false));
	assert_false(glob("???", "ab", false));
	assert_true(glob("?*", "x", false));
	assert_false(glob("?*", "", false));
}

static void glob_backtracking(void **state)
{
	(void)state;
	assert_true(glob("*a*b", "xaxxb", false));
	assert_false(glob("*a*b", "ba", false));
	assert_true(glob("*ab", "aab", false));
	assert_true(glob("a*b*c", "abbbc", false));
	assert_true(glob("a*b*c", "axbxbxc", false));
	assert_false(glob("a*b*c", "axbxbx", false));
	assert_true(glob("*task/*/?", "arn:task/c/1", false));
	assert_true(glob("*?*?", "ab", false));
	assert_false(glob("*?*?", "a", false));
	assert_true(glob("a*a*a", "aaa", false));
	assert_false(glob("a*a*a", "aa", false));
}

static void glob_case_folding(void **state)
{
	(void)state;
	assert_true(glob("ecs:describe*", "ECS:DescribeTasks", true));
	assert_false(glob("ecs:describe*", "ECS:DescribeTasks", false));
	assert_true(glob("A?C", "abc", true));
	/* ASCII only: no folding of other bytes */
	assert_false(glob("\xc3\xa9", "\xc3\x89", true));
}

/* dp[i][j]: pat[i..] matches s[j..]; the obvious O(p*s) reference. */
static bool ref_match(const char *pat, size_t pl, const char *s, size_t sl)
{
	bool dp[8][8];

	assert_true(pl < 8 && sl < 8);
	for (size_t i = pl + 1; i-- > 0;) {
		for (size_t j = sl + 1; j-- > 0;) {
			if (i == pl)
				dp[i][j] = j == sl;
			else if (pat[i] == '*')
				dp[i][j] = dp[i + 1][j] || (j < sl && dp[i][j + 1]);
			else
				dp[i][j] = j < sl && (pat[i] == '?' || pat[i] == s[j]) && dp[i + 1][j + 1];
		}
	}
	return dp[0][0];
}

/* Every pattern over {a, b, *, ?} up to 5 characters against every string
 * over {a, b} up to 6: the greedy matcher agrees with the reference. */
static void glob_agrees_with_reference(void **state)
{
	const char pa[] = "ab*?", sa[] = "ab";
	char pat[8], s[8];
	size_t checked = 0;

	(void)state;
	for (size_t pl = 0; pl <= 5; pl++) {
		size_t np = 1;

		for (size_t i = 0; i < pl; i++)
			np *= 4;
		for (size_t pi = 0; pi < np; pi++) {
			size_t x = pi;

			for (size_t i = 0; i < pl; i++, x /= 4)
				pat[i] = pa[x % 4];
			pat[pl] = '\0';
			for (size_t sl = 0; sl <= 6; sl++) {
				for (size_t si = 0; si < (1u << sl); si++) {
					uint64_t steps = 0;

					for (size_t i = 0; i < sl; i++)
						s[i] = sa[(si >> i) & 1];
					s[sl] = '\0';
					if (creds_glob_match(pat, pl, s, sl, false, &steps) !=
					    ref_match(pat, pl, s, sl))
						fail_msg("\"%s\" vs \"%s\": greedy and reference differ",
							 pat, s);
					assert_true(steps <= (pl + 1) * (sl + 2));
					checked++;
				}
			}
		}
	}
	assert_int_equal(checked, 1365 * 127);
}

/* The textbook recursive matcher, which backtracks into every star: its
 * step count on the pathological input shows the input really is one. */
static bool naive(const char *p, const char *s, uint64_t *steps, uint64_t budget)
{
	if (++*steps > budget)
		return false;
	if (*p == '\0')
		return *s == '\0';
	if (*p == '*')
		return naive(p + 1, s, steps, budget) || (*s && naive(p, s + 1, steps, budget));
	return *s && (*p == '?' || *p == *s) && naive(p + 1, s + 1, steps, budget);
}

static void glob_pathological_pattern_bounded(void **state)
{
	const char *pat = "*a*a*a*a*a*a*a*a*a*a*b";
	size_t pl = strlen(pat), sl = 4000;
	cleanup_free char *s = xmalloc(sl + 2);
	uint64_t steps = 0, nsteps = 0, budget = 10 * 1000 * 1000;

	(void)state;
	memset(s, 'a', sl);
	s[sl] = '\0';
	/* the naive matcher gives up on a 60-byte prefix after 10^7 steps */
	s[60] = '\0';
	naive(pat, s, &nsteps, budget);
	assert_true(nsteps > budget);
	s[60] = 'a';

	/* the greedy one decides 4000 bytes within its bound */
	assert_false(creds_glob_match(pat, pl, s, sl, false, &steps));
	assert_true(steps <= (uint64_t)(pl + 1) * (sl + 2));
	/* in fact linear here: a few steps per byte */
	assert_true(steps <= 4 * (uint64_t)sl);

	s[sl] = 'b';
	s[sl + 1] = '\0';
	steps = 0;
	assert_true(creds_glob_match(pat, pl, s, sl + 1, false, &steps));
	assert_true(steps <= (uint64_t)(pl + 1) * (sl + 3));
}

/* The worst case of the greedy algorithm: the tail after the last star is
 * re-read at each position; still inside (plen + 1) * (slen + 2). */
static void glob_worst_case_within_bound(void **state)
{
	char pat[66];
	size_t sl = 3000;
	cleanup_free char *s = xmalloc(sl + 1);
	uint64_t steps = 0;

	(void)state;
	pat[0] = '*';
	memset(pat + 1, 'a', 63);
	pat[64] = 'b';
	pat[65] = '\0';
	memset(s, 'a', sl);
	s[sl] = '\0';
	assert_false(creds_glob_match(pat, 65, s, sl, false, &steps));
	assert_true(steps <= (uint64_t)66 * (sl + 2));
	assert_true(steps > (uint64_t)sl * 32);   /* the quadratic shape is real */
}

/* ---------------------------------------------------------- evaluation */

static void action_case_insensitive(void **state)
{
	cleanup_policy struct creds_policy *p =
		stmts("{'Effect':'Allow','Action':'ecs:RunTask','Resource':'*'}");

	(void)state;
	assert_int_equal(eval1(p, "ecs:RunTask", TASK_ARN), CREDS_ALLOW);
	assert_int_equal(eval1(p, "ECS:runtask", TASK_ARN), CREDS_ALLOW);
	assert_int_equal(eval1(p, "ecs:RunTasks", TASK_ARN), CREDS_DENY_IMPLICIT);
	assert_int_equal(eval1(p, "ecs:Run", TASK_ARN), CREDS_DENY_IMPLICIT);
	assert_int_equal(eval1(p, "s3:RunTask", TASK_ARN), CREDS_DENY_IMPLICIT);
}

static void action_wildcards(void **state)
{
	cleanup_policy struct creds_policy *p =
		stmts("{'Effect':'Allow','Action':['ecs:Describe*','ecs:List?asks'],'Resource':'*'}");
	cleanup_policy struct creds_policy *all_ecs =
		stmts("{'Effect':'Allow','Action':'ECS:*','Resource':'*'}");
	cleanup_policy struct creds_policy *all =
		stmts("{'Effect':'Allow','Action':'*','Resource':'*'}");

	(void)state;
	assert_int_equal(eval1(p, "ecs:DescribeTasks", "*"), CREDS_ALLOW);
	assert_int_equal(eval1(p, "ecs:describeclusters", "*"), CREDS_ALLOW);
	assert_int_equal(eval1(p, "ecs:ListTasks", "*"), CREDS_ALLOW);
	assert_int_equal(eval1(p, "ecs:ListClusters", "*"), CREDS_DENY_IMPLICIT);
	assert_int_equal(eval1(p, "ecs:RunTask", "*"), CREDS_DENY_IMPLICIT);
	assert_int_equal(eval1(all_ecs, "ecs:StopTask", TASK_ARN), CREDS_ALLOW);
	assert_int_equal(eval1(all_ecs, "ec2:StopInstances", TASK_ARN), CREDS_DENY_IMPLICIT);
	assert_int_equal(eval1(all, "s3:GetObject", "arn:aws:s3:::b/k"), CREDS_ALLOW);
}

static void resource_case_sensitive(void **state)
{
	cleanup_policy struct creds_policy *p =
		stmts("{'Effect':'Allow','Action':'ecs:*','Resource':'" PROD "'}");

	(void)state;
	assert_int_equal(eval1(p, "ecs:DeleteCluster", PROD), CREDS_ALLOW);
	assert_int_equal(eval1(p, "ecs:DeleteCluster",
			       "arn:aws:ecs:us-east-1:123456789012:cluster/Prod"),
			 CREDS_DENY_IMPLICIT);
	assert_int_equal(eval1(p, "ecs:DeleteCluster", PROD "x"), CREDS_DENY_IMPLICIT);
}

static void resource_wildcards_span_separators(void **state)
{
	cleanup_policy struct creds_policy *p = stmts(
		"{'Effect':'Allow','Action':'ecs:StopTask','Resource':'arn:aws:ecs:*:123456789012:task/*'},"
		"{'Effect':'Allow','Action':'ecs:DescribeClusters',"
		"'Resource':'arn:aws:ecs:us-east-1:123456789012:cluster/de?'}");

	(void)state;
	/* '*' crosses ':' (the region) and '/' (cluster and task id) */
	assert_int_equal(eval1(p, "ecs:StopTask", TASK_ARN), CREDS_ALLOW);
	assert_int_equal(eval1(p, "ecs:StopTask", "arn:aws:ecs:eu-west-1:123456789012:task/a/b/c"),
			 CREDS_ALLOW);
	assert_int_equal(eval1(p, "ecs:StopTask", "arn:aws:ecs:us-east-1:999999999999:task/x"),
			 CREDS_DENY_IMPLICIT);
	assert_int_equal(eval1(p, "ecs:DescribeClusters", DEV), CREDS_ALLOW);
	assert_int_equal(eval1(p, "ecs:DescribeClusters", DEV "x"), CREDS_DENY_IMPLICIT);
	/* an action allowed on one resource is not on another */
	assert_int_equal(eval1(p, "ecs:DescribeClusters", PROD), CREDS_DENY_IMPLICIT);
}

static void implicit_deny(void **state)
{
	cleanup_policy struct creds_policy *p =
		stmts("{'Effect':'Allow','Action':'ecs:List*','Resource':'*'}");
	const struct creds_policy *ps[] = { p };
	struct creds_verdict v;
	cleanup_free char *d = NULL;

	(void)state;
	memset(&v, 0x5a, sizeof(v));
	assert_int_equal(creds_policy_eval(ps, 1, "ecs:RunTask", "*", &v), CREDS_DENY_IMPLICIT);
	assert_int_equal(v.decision, CREDS_DENY_IMPLICIT);
	assert_true(v.policy == SIZE_MAX && v.statement == SIZE_MAX);
	assert_null(v.sid);
	d = creds_verdict_describe(&v);
	assert_string_equal(d, "implicitly denied (no statement allows it)");
	/* no policy at all */
	assert_int_equal(creds_policy_eval(ps, 0, "ecs:ListTasks", "*", &v), CREDS_DENY_IMPLICIT);
}

static void explicit_deny_wins_in_one_policy(void **state)
{
	/* the Deny both before and after the Allow */
	cleanup_policy struct creds_policy *a = stmts(
		"{'Effect':'Allow','Action':'*','Resource':'*'},"
		"{'Sid':'NoStop','Effect':'Deny','Action':'ecs:StopTask','Resource':'*'}");
	cleanup_policy struct creds_policy *b = stmts(
		"{'Sid':'NoStop','Effect':'Deny','Action':'ecs:StopTask','Resource':'*'},"
		"{'Effect':'Allow','Action':'ecs:StopTask','Resource':'*'}");
	const struct creds_policy *pa[] = { a }, *pb[] = { b };
	struct creds_verdict v;

	(void)state;
	assert_int_equal(creds_policy_eval(pa, 1, "ecs:StopTask", TASK_ARN, &v), CREDS_DENY_EXPLICIT);
	assert_int_equal(v.statement, 1);
	assert_string_equal(v.sid, "NoStop");
	assert_int_equal(creds_policy_eval(pb, 1, "ECS:STOPTASK", TASK_ARN, &v), CREDS_DENY_EXPLICIT);
	assert_int_equal(v.statement, 0);
	assert_int_equal(creds_policy_eval(pa, 1, "ecs:RunTask", TASK_ARN, &v), CREDS_ALLOW);
	assert_int_equal(v.statement, 0);
	assert_null(v.sid);
}

static void explicit_deny_across_policies(void **state)
{
	cleanup_policy struct creds_policy *allow =
		stmts("{'Sid':'All','Effect':'Allow','Action':'*','Resource':'*'}");
	cleanup_policy struct creds_policy *deny = stmts(
		"{'Effect':'Allow','Action':'ecs:List*','Resource':'*'},"
		"{'Effect':'Deny','Action':'ecs:Delete*','Resource':'" PROD "'}");
	const struct creds_policy *ps[] = { allow, deny }, *rev[] = { deny, allow };
	struct creds_verdict v;
	cleanup_free char *d = NULL;

	(void)state;
	assert_int_equal(creds_policy_eval(ps, 2, "ecs:DeleteCluster", PROD, &v), CREDS_DENY_EXPLICIT);
	assert_int_equal(v.decision, CREDS_DENY_EXPLICIT);
	assert_int_equal(v.policy, 1);
	assert_int_equal(v.statement, 1);
	assert_null(v.sid);
	d = creds_verdict_describe(&v);
	assert_string_equal(d, "explicitly denied by policy 1 statement 1");
	/* the order of the policies does not matter */
	assert_int_equal(creds_policy_eval(rev, 2, "ecs:DeleteCluster", PROD, &v), CREDS_DENY_EXPLICIT);
	assert_int_equal(v.policy, 0);
	/* on another resource the Allow of the first policy holds */
	assert_int_equal(creds_policy_eval(ps, 2, "ecs:DeleteCluster", DEV, &v), CREDS_ALLOW);
	assert_int_equal(v.policy, 0);
	assert_string_equal(v.sid, "All");
	free(d);
	d = creds_verdict_describe(&v);
	assert_string_equal(d, "allowed by policy 0 statement \"All\"");
}

static void allows_add_up_across_policies(void **state)
{
	cleanup_policy struct creds_policy *a =
		stmts("{'Effect':'Allow','Action':'ecs:List*','Resource':'*'}");
	cleanup_policy struct creds_policy *b =
		stmts("{'Effect':'Allow','Action':'ecs:Describe*','Resource':'*'}");
	const struct creds_policy *ps[] = { a, NULL, b };
	struct creds_verdict v;

	(void)state;
	assert_int_equal(creds_policy_eval(ps, 3, "ecs:ListTasks", "*", &v), CREDS_ALLOW);
	assert_int_equal(v.policy, 0);
	/* the NULL entry is skipped, the third policy still counts */
	assert_int_equal(creds_policy_eval(ps, 3, "ecs:DescribeTasks", "*", &v), CREDS_ALLOW);
	assert_int_equal(v.policy, 2);
	assert_int_equal(creds_policy_eval(ps, 3, "ecs:RunTask", "*", &v), CREDS_DENY_IMPLICIT);
}

static void not_action_allow(void **state)
{
	cleanup_policy struct creds_policy *p =
		stmts("{'Effect':'Allow','NotAction':['ecs:Delete*','iam:*'],'Resource':'*'}");

	(void)state;
	assert_int_equal(eval1(p, "ecs:RunTask", TASK_ARN), CREDS_ALLOW);
	assert_int_equal(eval1(p, "s3:GetObject", "arn:aws:s3:::b/k"), CREDS_ALLOW);
	assert_int_equal(eval1(p, "ecs:DeleteCluster", PROD), CREDS_DENY_IMPLICIT);
	assert_int_equal(eval1(p, "IAM:PassRole", "*"), CREDS_DENY_IMPLICIT);
}

static void not_action_deny(void **state)
{
	/* "everything but Describe* is denied" beats an Allow of everything */
	cleanup_policy struct creds_policy *p = stmts(
		"{'Effect':'Allow','Action':'*','Resource':'*'},"
		"{'Sid':'ReadOnly','Effect':'Deny','NotAction':'ecs:Describe*','Resource':'*'}");
	const struct creds_policy *ps[] = { p };
	struct creds_verdict v;

	(void)state;
	assert_int_equal(eval1(p, "ecs:DescribeTasks", TASK_ARN), CREDS_ALLOW);
	assert_int_equal(creds_policy_eval(ps, 1, "ecs:RunTask", TASK_ARN, &v), CREDS_DENY_EXPLICIT);
	assert_string_equal(v.sid, "ReadOnly");
}

static void not_resource_allow(void **state)
{
	cleanup_policy struct creds_policy *p =
		stmts("{'Effect':'Allow','Action':'ecs:*','NotResource':'" PROD "'}");

	(void)state;
	assert_int_equal(eval1(p, "ecs:DeleteCluster", DEV), CREDS_ALLOW);
	assert_int_equal(eval1(p, "ecs:DeleteCluster", PROD), CREDS_DENY_IMPLICIT);
	/* the action part must match as well */
	assert_int_equal(eval1(p, "s3:DeleteBucket", DEV), CREDS_DENY_IMPLICIT);
}

static void not_resource_deny(void **state)
{
	cleanup_policy struct creds_policy *p = stmts(
		"{'Effect':'Allow','Action':'*','Resource':'*'},"
		"{'Effect':'Deny','Action':'ecs:*',"
		"'NotResource':['arn:aws:ecs:*:*:cluster/dev*','arn:aws:ecs:*:*:task/dev/*']}");

	(void)state;
	assert_int_equal(eval1(p, "ecs:DeleteCluster", DEV), CREDS_ALLOW);
	assert_int_equal(eval1(p, "ecs:StopTask", "arn:aws:ecs:r:1:task/dev/abc"), CREDS_ALLOW);
	assert_int_equal(eval1(p, "ecs:StopTask", TASK_ARN), CREDS_DENY_EXPLICIT);
	assert_int_equal(eval1(p, "ecs:DeleteCluster", PROD), CREDS_DENY_EXPLICIT);
	/* NotResource applies only to the statement's actions */
	assert_int_equal(eval1(p, "s3:GetObject", PROD), CREDS_ALLOW);
}

static void single_statement_object(void **state)
{
	cleanup_policy struct creds_policy *p = pol(
		"{'Version':'2012-10-17','Id':'x','Statement':"
		"{'Sid':'One','Effect':'Allow','Action':'ecs:RunTask','Resource':'*'}}");

	(void)state;
	assert_int_equal(creds_policy_n_statements(p), 1);
	assert_int_equal(eval1(p, "ecs:RunTask", TASK_ARN), CREDS_ALLOW);
	pol_err("{'Version':'2012-10-17','Statement':{'Effect':'allow','Action':'*','Resource':'*'}}",
		"Statement.Effect: expected `Allow` or `Deny`, got `allow`");
}

static void policy_variables(void **state)
{
	/* 2008-10-17 has no variables: "${...}" is literal text */
	cleanup_policy struct creds_policy *p =
		pol("{'Version':'2008-10-17','Statement':[{'Effect':'Allow','Action':'s3:GetObject',"
		    "'Resource':'arn:aws:s3:::b/${aws:username}/*'}]}");

	(void)state;
	assert_int_equal(eval1(p, "s3:GetObject", "arn:aws:s3:::b/${aws:username}/k"), CREDS_ALLOW);
	assert_int_equal(eval1(p, "s3:GetObject", "arn:aws:s3:::b/alice/k"), CREDS_DENY_IMPLICIT);
	stmt_err("{'Effect':'Allow','Action':'s3:GetObject',"
		 "'Resource':['*','arn:aws:s3:::b/${aws:username}/*']}",
		 "Statement[0].Resource[1]: `arn:aws:s3:::b/${aws:username}/*`: policy variables "
		 "(`${...}`) are not supported yet");
}

/* -------------------------------------------------------- parse errors */

static void err_effect(void **state)
{
	(void)state;
	stmt_err("{'Effect':'Allow','Action':'*','Resource':'*'},"
		 "{'Effect':'Deny','Action':'*','Resource':'*'},"
		 "{'Effect':'allow','Action':'*','Resource':'*'}",
		 "Statement[2].Effect: expected `Allow` or `Deny`, got `allow`");
	stmt_err("{'Action':'*','Resource':'*'}", "Statement[0].Effect: required");
	stmt_err("{'Effect':true,'Action':'*','Resource':'*'}",
		 "Statement[0].Effect: expected string, got boolean");
	stmt_err("{'Effect':null,'Action':'*','Resource':'*'}",
		 "Statement[0].Effect: expected string, got null");
}

static void err_version(void **state)
{
	(void)state;
	pol_err("{'Statement':[]}", "Version: required (`2012-10-17`)");
	pol_err("{'Version':'2012-10-18','Statement':[]}",
		"Version: expected `2012-10-17` or `2008-10-17`, got `2012-10-18`");
	pol_err("{'Version':2012,'Statement':[]}", "Version: expected string, got integer");
}

static void err_unknown_keys(void **state)
{
	(void)state;
	pol_err("{'Version':'2012-10-17','Statement':[],'statement':[]}",
		"statement: unknown key (a policy has Version, Id and Statement)");
	stmt_err("{'Effect':'Allow','Actions':'*','Resource':'*'}",
		 "Statement[0].Actions: unknown key (a statement has Sid, Effect, Action or "
		 "NotAction, Resource or NotResource)");
	/* an odd key is quoted in the path */
	stmt_err("{'Effect':'Allow','Action':'*','Resource':'*','a.b':1}",
		 "Statement[0][`a.b`]: unknown key (a statement has Sid, Effect, Action or "
		 "NotAction, Resource or NotResource)");
}

static void err_condition_names_statement(void **state)
{
	(void)state;
	stmt_err("{'Effect':'Allow','Action':'*','Resource':'*'},"
		 "{'Sid':'OnlyVpc','Effect':'Allow','Action':'*','Resource':'*',"
		 "'Condition':{'StringEquals':{'aws:SourceVpc':'vpc-1'}}}",
		 "Statement[1].Condition: conditions are not supported yet (statement `OnlyVpc`)");
	stmt_err("{'Effect':'Deny','Action':'*','Resource':'*','Condition':{}}",
		 "Statement[0].Condition: conditions are not supported yet");
}

static void err_principal(void **state)
{
	(void)state;
	stmt_err("{'Effect':'Allow','Principal':'*','Action':'*','Resource':'*'}",
		 "Statement[0].Principal: not supported: a role's policy is an identity policy, "
		 "which names no principal");
	stmt_err("{'Effect':'Allow','NotPrincipal':{'AWS':'x'},'Action':'*','Resource':'*'}",
		 "Statement[0].NotPrincipal: not supported: a role's policy is an identity policy, "
		 "which names no principal");
}

static void err_action_resource_pairs(void **state)
{
	(void)state;
	stmt_err("{'Effect':'Allow','Action':'*','NotAction':'ecs:X','Resource':'*'}",
		 "Statement[0]: Action and NotAction cannot both be given");
	stmt_err("{'Effect':'Allow','Resource':'*'}",
		 "Statement[0]: one of Action or NotAction is required");
	stmt_err("{'Effect':'Allow','Action':'*','Resource':'*','NotResource':'*'}",
		 "Statement[0]: Resource and NotResource cannot both be given");
	stmt_err("{'Effect':'Allow','Action':'*'}",
		 "Statement[0]: one of Resource or NotResource is required");
}

static void err_action_format(void **state)
{
	(void)state;
	stmt_err("{'Effect':'Allow','Action':'RunTask','Resource':'*'}",
		 "Statement[0].Action: `RunTask` has no service prefix (expected `service:action` "
		 "such as `ecs:RunTask`, or `*`)");
	stmt_err("{'Effect':'Allow','Action':[':RunTask'],'Resource':'*'}",
		 "Statement[0].Action[0]: `:RunTask` has no service prefix (expected "
		 "`service:action` such as `ecs:RunTask`, or `*`)");
	stmt_err("{'Effect':'Allow','Action':['ecs:RunTask','ecs:'],'Resource':'*'}",
		 "Statement[0].Action[1]: `ecs:` has no action after the service prefix");
	stmt_err("{'Effect':'Allow','NotAction':'ecs:Run Task','Resource':'*'}",
		 "Statement[0].NotAction: `ecs:Run Task`: 0x20 is not allowed in an action name "
		 "(letters, digits, '*', '?')");
	stmt_err("{'Effect':'Allow','Action':'ecs:a:b','Resource':'*'}",
		 "Statement[0].Action: `ecs:a:b`: ':' is not allowed in an action name "
		 "(letters, digits, '*', '?')");
	stmt_err("{'Effect':'Allow','Action':'e_cs:RunTask','Resource':'*'}",
		 "Statement[0].Action: `e_cs:RunTask`: '_' is not allowed in a service prefix "
		 "(letters, digits, '-', '*', '?')");
	stmt_err("{'Effect':'Allow','Action':['ecs:RunTask',3],'Resource':'*'}",
		 "Statement[0].Action[1]: expected string, got integer");
	stmt_err("{'Effect':'Allow','Action':[],'Resource':'*'}",
		 "Statement[0].Action: empty list");
	stmt_err("{'Effect':'Allow','Action':'','Resource':'*'}", "Statement[0].Action: empty");
	stmt_err("{'Effect':'Allow','Action':{'a':1},'Resource':'*'}",
		 "Statement[0].Action: expected string or array of strings, got object");
}

static void err_resource_format(void **state)
{
	(void)state;
	stmt_err("{'Effect':'Allow','Action':'*','Resource':'cluster/prod'}",
		 "Statement[0].Resource: `cluster/prod` is neither `*` nor an ARN "
		 "(`arn:partition:service:region:account:resource`)");
	stmt_err("{'Effect':'Allow','Action':'*','Resource':['*','arn:aws:ecs:us-east-1:1']}",
		 "Statement[0].Resource[1]: `arn:aws:ecs:us-east-1:1` is neither `*` nor an ARN "
		 "(`arn:partition:service:region:account:resource`)");
	stmt_err("{'Effect':'Allow','Action':'*','NotResource':'arn:aws:s3:::a\\tb'}",
		 "Statement[0].NotResource: `arn:aws:s3:::a\\u0009b`: control character 0x09");
	/* the shortest ARN shape is fine: S3's empty region and account */
	stmt_err("{'Effect':'Allow','Action':'*','Resource':'arn:aws:s3:::b'},{'Effect':1}",
		 "Statement[1].Effect: expected string, got integer");
}

static void err_sid(void **state)
{
	(void)state;
	stmt_err("{'Sid':'a b','Effect':'Allow','Action':'*','Resource':'*'}",
		 "Statement[0].Sid: `a b`: only letters and digits are allowed");
	stmt_err("{'Sid':'One','Effect':'Allow','Action':'*','Resource':'*'},"
		 "{'Sid':'','Effect':'Allow','Action':'*','Resource':'*'},"
		 "{'Sid':'','Effect':'Allow','Action':'*','Resource':'*'},"
		 "{'Sid':'One','Effect':'Allow','Action':'*','Resource':'*'}",
		 "Statement[3].Sid: `One` is already the Sid of statement 0");
	stmt_err("{'Sid':7,'Effect':'Allow','Action':'*','Resource':'*'}",
		 "Statement[0].Sid: expected string, got integer");
}

static void err_document_shape(void **state)
{
	(void)state;
	pol_err("[]", "expected object, got array");
	pol_err("{'Version':'2012-10-17'}", "Statement: required");
	pol_err("{'Version':'2012-10-17','Statement':[]}",
		"Statement: empty list (a policy needs a statement)");
	pol_err("{'Version':'2012-10-17','Statement':'x'}",
		"Statement: expected array of statements or one statement object, got string");
	stmt_err("'x'", "Statement[0]: expected object, got string");
	pol_err("{'Version':'2012-10-17','Id':1,'Statement':[]}", "Id: expected string, got integer");
}

static void err_json_syntax(void **state)
{
	struct creds_policy *p = NULL;
	struct berr *err = NULL;
	const char *bad = "{\"Version\": \"2012-10-17\",";
	const char *dup = "{\"Version\":\"2012-10-17\",\"Version\":\"2008-10-17\",\"Statement\":[]}";

	(void)state;
	assert_true(creds_policy_parse("p.json", bad, strlen(bad), &p, &err) < 0);
	assert_null(p);
	assert_non_null(strstr(berr_msg(err), "parse p.json: line 1"));
	berr_clear(&err);
	/* duplicate keys are refused, not resolved by a guess */
	assert_true(creds_policy_parse("p.json", dup, strlen(dup), &p, &err) < 0);
	assert_non_null(strstr(berr_msg(err), "duplicate"));
	berr_clear(&err);
}

static void from_json_with_path(void **state)
{
	cleanup_free char *j = jq("{'roles':[{'policy':{'Version':'2012-10-17','Statement':"
				  "[{'Effect':'Allow','Action':'ecs:*','Resource':'*'},"
				  "{'Effect':'Maybe','Action':'*','Resource':'*'}]}}]}");
	json_t *doc = json_loads(j, 0, NULL);
	json_t *pv = json_object_get(json_array_get(json_object_get(doc, "roles"), 0), "policy");
	struct creds_policy *p = (struct creds_policy *)0x1;
	struct berr *err = NULL;

	(void)state;
	assert_non_null(pv);
	assert_true(creds_policy_from_json(pv, "roles[0].policy", &p, &err) < 0);
	assert_null(p);
	assert_string_equal(berr_msg(err),
			    "roles[0].policy.Statement[1].Effect: expected \"Allow\" or \"Deny\", "
			    "got \"Maybe\"");
	berr_clear(&err);
	json_decref(doc);
	doc = json_string("x");
	assert_true(creds_policy_from_json(doc, "roles[0].policy", &p, &err) < 0);
	assert_string_equal(berr_msg(err), "roles[0].policy: expected object, got string");
	berr_clear(&err);
	json_decref(doc);
}

/* jansson's parser refuses \u0000, but a document built in code can hold
 * one: it must not cut a pattern short ("arn:...:a" for "arn:...:a\0*") */
static void err_nul_inside_string(void **state)
{
	json_t *doc = json_pack("{s:s, s:{s:s, s:s, s:o}}", "Version", "2012-10-17", "Statement",
				"Effect", "Allow", "Action", "*", "Resource",
				json_stringn("arn:aws:s3:::a\0*", 17));
	struct creds_policy *p = NULL;
	struct berr *err = NULL;

	(void)state;
	assert_non_null(doc);
	assert_true(creds_policy_from_json(doc, "", &p, &err) < 0);
	assert_null(p);
	assert_string_equal(berr_msg(err), "Statement.Resource: contains a NUL character");
	berr_clear(&err);
	json_decref(doc);
}

/* --------------------------------------------------------------- limits */

/* A list of n strings "<prefix><i>" as JSON array text. */
static char *list_of(size_t n, const char *prefix)
{
	size_t cap = n * (strlen(prefix) + 12) + 3, len = 0;
	char *s = xmalloc(cap);

	s[len++] = '[';
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(s + len, cap - len, "%s'%s%zu'", i ? "," : "", prefix, i);
	s[len++] = ']';
	s[len] = '\0';
	return s;
}

static void limit_statements(void **state)
{
	const char *one = "{'Effect':'Allow','Action':'*','Resource':'*'}";
	size_t cap = (CREDS_POLICY_MAX_STATEMENTS + 1) * (strlen(one) + 1) + 1;
	cleanup_free char *s = xmalloc(cap);
	size_t len = 0;

	(void)state;
	for (size_t i = 0; i < CREDS_POLICY_MAX_STATEMENTS; i++)
		len += (size_t)snprintf(s + len, cap - len, "%s%s", i ? "," : "", one);
	{
		cleanup_policy struct creds_policy *p = stmts(s);

		assert_int_equal(creds_policy_n_statements(p), CREDS_POLICY_MAX_STATEMENTS);
	}
	snprintf(s + len, cap - len, ",%s", one);
	stmt_err(s, "Statement: 257 statements, at most 256");
}

static void limit_patterns_per_list(void **state)
{
	cleanup_free char *ok = list_of(CREDS_POLICY_MAX_PATTERNS, "ecs:A");
	cleanup_free char *big = list_of(CREDS_POLICY_MAX_PATTERNS + 1, "ecs:A");
	cleanup_free char *s1 = xasprintf("{'Effect':'Allow','Action':%s,'Resource':'*'}", ok);
	cleanup_free char *s2 = xasprintf("{'Effect':'Allow','Action':%s,'Resource':'*'}", big);
	cleanup_policy struct creds_policy *p = stmts(s1);

	(void)state;
	assert_int_equal(eval1(p, "ecs:A255", "*"), CREDS_ALLOW);
	assert_int_equal(eval1(p, "ecs:A256", "*"), CREDS_DENY_IMPLICIT);
	stmt_err(s2, "Statement[0].Action: 257 entries, at most 256");
}

static void limit_total_patterns(void **state)
{
	cleanup_free char *l = list_of(CREDS_POLICY_MAX_PATTERNS, "ecs:A");
	cleanup_free char *one = xasprintf("{'Effect':'Allow','Action':%s,'Resource':'*'}", l);
	size_t per = CREDS_POLICY_MAX_PATTERNS + 1;   /* actions + the resource */
	size_t n = CREDS_POLICY_MAX_TOTAL_PATTERNS / per + 1;
	size_t cap = n * (strlen(one) + 1) + 1, len = 0;
	cleanup_free char *s = xmalloc(cap);
	cleanup_free char *want = NULL;

	(void)state;
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(s + len, cap - len, "%s%s", i ? "," : "", one);
	/* 15 statements of 257 patterns are 3855; the 16th crosses 4096 at
	 * its 242nd action (index 241) */
	want = xasprintf("Statement[%zu].Action[%zu]: more than 4096 actions and resources in the "
			 "policy",
			 n - 1, CREDS_POLICY_MAX_TOTAL_PATTERNS - (n - 1) * per);
	stmt_err(s, want);
}

static void limit_pattern_length(void **state)
{
	cleanup_free char *arn = xmalloc(CREDS_POLICY_MAX_PATTERN_LEN + 2);
	cleanup_free char *ok = NULL, *bad = NULL;
	const char *prefix = "arn:aws:s3:::b/";

	(void)state;
	strcpy(arn, prefix);
	memset(arn + strlen(prefix), 'k', CREDS_POLICY_MAX_PATTERN_LEN - strlen(prefix));
	arn[CREDS_POLICY_MAX_PATTERN_LEN] = '\0';
	ok = xasprintf("{'Effect':'Allow','Action':'s3:*','Resource':'%s'}", arn);
	{
		cleanup_policy struct creds_policy *p = stmts(ok);

		assert_int_equal(eval1(p, "s3:GetObject", arn), CREDS_ALLOW);
	}
	arn[CREDS_POLICY_MAX_PATTERN_LEN] = 'k';
	arn[CREDS_POLICY_MAX_PATTERN_LEN + 1] = '\0';
	bad = xasprintf("{'Effect':'Allow','Action':'s3:*','Resource':'%s'}", arn);
	stmt_err(bad, "Statement[0].Resource: 2049 bytes, at most 2048");
}

static void limit_sid_and_document(void **state)
{
	char sid[CREDS_POLICY_MAX_SID_LEN + 2];
	cleanup_free char *s = NULL, *big = xmalloc(CREDS_POLICY_MAX_BYTES + 2);
	struct creds_policy *p = NULL;
	struct berr *err = NULL;

	(void)state;
	memset(sid, 'S', sizeof(sid) - 1);
	sid[sizeof(sid) - 1] = '\0';
	s = xasprintf("{'Sid':'%s','Effect':'Allow','Action':'*','Resource':'*'}", sid);
	stmt_err(s, "Statement[0].Sid: 129 bytes, at most 128");

	/* the size is checked before JSON is parsed: whitespace is enough */
	memset(big, ' ', CREDS_POLICY_MAX_BYTES + 1);
	big[CREDS_POLICY_MAX_BYTES + 1] = '\0';
	assert_true(creds_policy_parse("p.json", big, CREDS_POLICY_MAX_BYTES + 1, &p, &err) < 0);
	assert_string_equal(berr_msg(err), "p.json: 65537 bytes, at most 65536");
	berr_clear(&err);
}

static void decision_names_and_free(void **state)
{
	struct creds_policy *p = NULL;

	(void)state;
	assert_string_equal(creds_decision_name(CREDS_ALLOW), "ALLOW");
	assert_string_equal(creds_decision_name(CREDS_DENY_EXPLICIT), "DENY_EXPLICIT");
	assert_string_equal(creds_decision_name(CREDS_DENY_IMPLICIT), "DENY_IMPLICIT");
	creds_policy_free(NULL);
	creds_policy_freep(&p);
	assert_null(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(glob_literal_and_star),
		cmocka_unit_test(glob_question_mark),
		cmocka_unit_test(glob_backtracking),
		cmocka_unit_test(glob_case_folding),
		cmocka_unit_test(glob_agrees_with_reference),
		cmocka_unit_test(glob_pathological_pattern_bounded),
		cmocka_unit_test(glob_worst_case_within_bound),
		cmocka_unit_test(action_case_insensitive),
		cmocka_unit_test(action_wildcards),
		cmocka_unit_test(resource_case_sensitive),
		cmocka_unit_test(resource_wildcards_span_separators),
		cmocka_unit_test(implicit_deny),
		cmocka_unit_test(explicit_deny_wins_in_one_policy),
		cmocka_unit_test(explicit_deny_across_policies),
		cmocka_unit_test(allows_add_up_across_policies),
		cmocka_unit_test(not_action_allow),
		cmocka_unit_test(not_action_deny),
		cmocka_unit_test(not_resource_allow),
		cmocka_unit_test(not_resource_deny),
		cmocka_unit_test(single_statement_object),
		cmocka_unit_test(policy_variables),
		cmocka_unit_test(err_effect),
		cmocka_unit_test(err_version),
		cmocka_unit_test(err_unknown_keys),
		cmocka_unit_test(err_condition_names_statement),
		cmocka_unit_test(err_principal),
		cmocka_unit_test(err_action_resource_pairs),
		cmocka_unit_test(err_action_format),
		cmocka_unit_test(err_resource_format),
		cmocka_unit_test(err_sid),
		cmocka_unit_test(err_document_shape),
		cmocka_unit_test(err_json_syntax),
		cmocka_unit_test(from_json_with_path),
		cmocka_unit_test(err_nul_inside_string),
		cmocka_unit_test(limit_statements),
		cmocka_unit_test(limit_patterns_per_list),
		cmocka_unit_test(limit_total_patterns),
		cmocka_unit_test(limit_pattern_length),
		cmocka_unit_test(limit_sid_and_document),
		cmocka_unit_test(decision_names_and_free),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
