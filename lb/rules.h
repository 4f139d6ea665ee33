/* lb/rules.h - ALB listener rules: conditions, priorities, actions.
 *
 * A rule set is compiled once from JSON in ELBv2's own shapes and then
 * matched per request without allocating:
 *
 *     { "Rules": [ { "Priority": 10,
 *                    "Conditions": [ { "Field": "path-pattern",
 *                                      "PathPatternConfig": { "Values": ["/img/?.png"] } } ],
 *                    "Actions": [ { "Type": "forward", "TargetGroupArn": "tg-a" } ] } ],
 *       "DefaultActions": [ { "Type": "fixed-response",
 *                             "FixedResponseConfig": { "StatusCode": "404" } } ] }
 *
 * A rule as DescribeRules shows it ("Priority": "default", "IsDefault": true)
 * may stand for DefaultActions. Conditions: path-pattern (case-sensitive),
 * host-header (case-insensitive, the port is not part of the match),
 * http-header (name case-insensitive, values case-insensitive),
 * http-request-method (case-sensitive), query-string (Key optional; raw,
 * not percent-decoded; case-insensitive), source-ip (CIDR). Values take
 * '*' (any run, also empty) and '?' (one byte); matching costs at most
 * pattern length x subject length steps (never exponential). All conditions
 * of a rule must hold, any one value of a condition; the rule with the
 * lowest priority that matches wins; the default action when none does.
 * Errors name the JSON path ("Rules[2].Conditions[0].Values: at most 5"). */
#ifndef BERTH_LB_RULES_H
#define BERTH_LB_RULES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "lb/http.h"

#define LB_RULE_MAX_VALUES 5
#define LB_RULE_MAX_PRIORITY 50000
#define LB_RULE_MAX_FORWARD_GROUPS 5

enum lb_cond_field {
	LB_COND_PATH,
	LB_COND_HOST,
	LB_COND_HEADER,
	LB_COND_METHOD,
	LB_COND_QUERY,
	LB_COND_SOURCE_IP,
};

struct lb_pattern {
	char *s;
	size_t len;
};

struct lb_kv_pattern {
	struct lb_pattern key; /* s NULL: any key */
	struct lb_pattern value;
};

struct lb_cidr {
	int family; /* AF_INET, AF_INET6 */
	uint8_t addr[16];
	uint8_t prefix;
};

struct lb_cond {
	enum lb_cond_field field;
	char *header;          /* http-header: the name */
	size_t n;
	struct lb_pattern *pat;   /* path, host, header, method */
	struct lb_kv_pattern *kv; /* query */
	struct lb_cidr *cidr;     /* source-ip */
};

enum lb_action_type {
	LB_ACTION_FORWARD,
	LB_ACTION_FIXED_RESPONSE,
	LB_ACTION_REDIRECT,
};

struct lb_forward_group {
	char *arn;
	uint32_t weight; /* 0-999 */
	void *ctx;       /* the caller's resolution of arn (the engine: its group) */
};

struct lb_action {
	enum lb_action_type type;
	/* forward */
	struct lb_forward_group *groups;
	size_t n_groups;
	/* fixed-response and redirect */
	int status;
	char *content_type; /* NULL: none */
	char *body;         /* NULL: empty */
	/* redirect: templates with #{protocol} #{host} #{port} #{path} #{query} */
	char *protocol, *host, *port, *path, *query;
};

struct lb_rule {
	uint32_t priority;
	struct lb_cond *conds;
	size_t n_conds;
	struct lb_action action;
};

struct lb_ruleset {
	struct lb_rule *rules; /* by priority */
	size_t n;
	struct lb_action default_action;
};

/* What a rule looks at in a request. Strings need not be NUL-terminated. */
struct lb_rule_req {
	const char *method;
	size_t method_len;
	const char *host; /* as in the Host header or the absolute-form target */
	size_t host_len;
	const char *path; /* empty means "/" */
	size_t path_len;
	const char *query; /* without '?'; NULL when there is none */
	size_t query_len;
	const char *buf;                  /* for http-header conditions: the message */
	const struct lb_http_head *head;  /* and its parsed head; NULL: no headers */
	int family;                       /* source address: AF_INET/AF_INET6, 0 none */
	uint8_t addr[16];
	bool https;                       /* the listener's protocol, for #{protocol} */
	uint16_t port;                    /* the listener's port, for #{port} */
};

/* Fill method, host, path, query and headers from a parsed request head. */
void lb_rule_req_from_http(struct lb_rule_req *r, const char *buf, const struct lb_http_head *h);

int lb_rules_compile(const json_t *doc, struct lb_ruleset **out, struct berr **err);
void lb_rules_free(struct lb_ruleset *rs);

/* The action to take; *priority (may be NULL) is the rule's, 0 for the default. */
const struct lb_action *lb_rules_match(const struct lb_ruleset *rs, const struct lb_rule_req *r,
				       uint32_t *priority);

/* The Location of a redirect action for request r (xmalloc'd); ports that
 * are the protocol's default (80 for HTTP, 443 for HTTPS) are left out. */
char *lb_rules_redirect_location(const struct lb_action *a, const struct lb_rule_req *r);

/* '*' and '?' glob; icase folds ASCII. At most (plen + 1) * (slen + 1) steps. */
bool lb_glob_match(const char *pat, size_t plen, const char *s, size_t slen, bool icase);

#endif
