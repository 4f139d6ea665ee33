/* runtime/creds/policy.h - IAM-style policies: parse and evaluate.
 *
 * The subset of AWS IAM's identity policy language that berthd needs to
 * authorize calls signed with task credentials (docs/credentials.md):
 *
 *     {"Version": "2012-10-17",
 *      "Statement": [{"Sid": "ReadOnly", "Effect": "Allow",
 *                     "Action": ["ecs:Describe*", "ecs:List*"], "Resource": "*"},
 *                    {"Effect": "Deny", "Action": "ecs:DeleteCluster",
 *                     "Resource": "arn:aws:ecs:*:*:cluster/prod"}]}
 *
 * Version is "2012-10-17" or "2008-10-17"; Statement is an array of
 * statements or one statement object. A statement has Effect ("Allow" or
 * "Deny"), exactly one of Action / NotAction, exactly one of Resource /
 * NotResource (each a string or a non-empty array of strings) and an
 * optional Sid (letters and digits, unique in the policy). Anything else is
 * refused with the JSON path of the offending value: unknown keys,
 * Condition and Principal (not supported yet), policy variables ("${...}" in
 * a 2012-10-17 policy), an action without a service prefix, a resource that
 * is neither "*" nor an ARN.
 *
 * Matching follows IAM: actions case-insensitively, resources
 * case-sensitively, both with '*' (any run of characters, ':' and '/'
 * included) and '?' (one character). Evaluation over one or more policies
 * (a role may have several): an explicit Deny in any statement of any policy
 * wins; otherwise any Allow allows; otherwise the request is implicitly
 * denied. A statement applies when its action part and its resource part
 * both match: Action when a pattern matches, NotAction when none does (the
 * same for Resource / NotResource).
 */
#ifndef BERTH_RUNTIME_CREDS_POLICY_H
#define BERTH_RUNTIME_CREDS_POLICY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

/* Limits on one policy. IAM's own are smaller (10,240 characters for a
 * role's inline policies); these bound parse and evaluation cost. */
#define CREDS_POLICY_MAX_BYTES (64 * 1024)   /* document text, creds_policy_parse */
#define CREDS_POLICY_MAX_STATEMENTS 256
#define CREDS_POLICY_MAX_PATTERNS 256        /* in one Action / Resource list */
#define CREDS_POLICY_MAX_TOTAL_PATTERNS 4096 /* all lists of the policy together */
#define CREDS_POLICY_MAX_PATTERN_LEN 2048    /* bytes; IAM's longest ARN */
#define CREDS_POLICY_MAX_SID_LEN 128

struct creds_policy;

/* Parse a policy document of len bytes. `what` names it in errors:
 * "role web policy: Statement[2].Effect: expected \"Allow\" or \"Deny\", got \"allow\"";
 * more than CREDS_POLICY_MAX_BYTES is refused. */
int creds_policy_parse(const char *what, const char *buf, size_t len,
		       struct creds_policy **out, struct berr **err);

/* The same from a parsed JSON value found at `path` ("" at the top of a
 * document, or where it sits inside a larger one, e.g. "roles[0].policies[1]",
 * which then prefixes every path in errors). */
int creds_policy_from_json(const json_t *doc, const char *path, struct creds_policy **out,
			   struct berr **err);

void creds_policy_free(struct creds_policy *p);
void creds_policy_freep(struct creds_policy **p);
#define cleanup_policy __attribute__((cleanup(creds_policy_freep)))

size_t creds_policy_n_statements(const struct creds_policy *p);

enum creds_decision {
	CREDS_ALLOW,
	CREDS_DENY_EXPLICIT,   /* a Deny statement applies */
	CREDS_DENY_IMPLICIT,   /* no statement allows it */
};

/* Which statement decided. For CREDS_DENY_EXPLICIT the first applying Deny
 * (policies and statements in order), for CREDS_ALLOW the first applying
 * Allow; for CREDS_DENY_IMPLICIT policy and statement are SIZE_MAX and sid
 * NULL. sid points into the policy (NULL when the statement has none) and
 * lives as long as it. */
struct creds_verdict {
	enum creds_decision decision;
	size_t policy;      /* index into the policies passed */
	size_t statement;   /* index into that policy's Statement */
	const char *sid;
};

/* Evaluate a request (action "ecs:RunTask", resource an ARN or "*") against
 * n policies. Returns the decision, also stored in *v (v may be NULL).
 * NULL entries in policies are skipped. */
enum creds_decision creds_policy_eval(const struct creds_policy *const *policies, size_t n,
				      const char *action, const char *resource,
				      struct creds_verdict *v);

/* For audit lines and error messages, xmalloc'd:
 * "allowed by policy 0 statement \"ReadOnly\"",
 * "explicitly denied by policy 1 statement 3",
 * "implicitly denied (no statement allows it)". */
char *creds_verdict_describe(const struct creds_verdict *v);

/* "ALLOW", "DENY_EXPLICIT", "DENY_IMPLICIT". */
const char *creds_decision_name(enum creds_decision d);

/* The matcher (common/glob.h's glob_match, which lb's rules use too):
 * does pattern pat (plen bytes; '*' any run, '?' one byte,
 * everything else literal) match all of s (slen bytes)? icase folds ASCII
 * letters. Greedy with one backtrack point (the last '*' seen), so it takes
 * at most (plen + 1) * (slen + 2) steps whatever the pattern: no
 * exponential blow-up on "*a*a*a*a*b". When steps is not NULL, the number
 * of steps taken is added to *steps (tests check the bound). */
bool creds_glob_match(const char *pat, size_t plen, const char *s, size_t slen, bool icase,
		      uint64_t *steps);

#endif
