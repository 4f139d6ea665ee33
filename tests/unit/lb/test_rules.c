/* Unit tests for lb/rules.c: compiling ELBv2 rule JSON (errors name the
 * JSON path), each condition type, priorities and the default action,
 * redirects, and the glob matcher's bounded cost. Documents are written
 * with ' for " (jq() swaps them). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "common/error.h"
#include "common/xalloc.h"
#include "lb/rules.h"

static char *jq(const char *s)
{
	char *r = xstrdup(s);

	for (char *p = r; *p; p++)
		if (*p == '\'')
			*p = '"';
	return r;
}

static struct lb_ruleset *compile(const char *doc)
{
	char *d = jq(doc);
	json_error_t je;
	json_t *j = json_loads(d, 0, &je);
	struct lb_ruleset *rs = NULL;
	struct berr *err = NULL;

	if (!j)
		fail_msg("bad test JSON: %s: %s", je.text, d);
	if (lb_rules_compile(j, &rs, &err) < 0)
		fail_msg("compile: %s", berr_msg(err));
	json_decref(j);
	free(d);
	return rs;
}

/* compiling doc fails with a message containing want */
static void compile_fails(const char *doc, const char *want)
{
	char *d = jq(doc);
	json_t *j = json_loads(d, 0, NULL);
	struct lb_ruleset *rs = NULL;
	struct berr *err = NULL;

	assert_non_null(j);
	if (lb_rules_compile(j, &rs, &err) >= 0)
		fail_msg("compiled: %s", d);
	assert_null(rs);
	if (!strstr(berr_msg(err), want))
		fail_msg("message \"%s\" lacks \"%s\"", berr_msg(err), want);
	berr_free(err);
	json_decref(j);
	free(d);
}

/* a request: method path?query, Host, extra header lines */
struct req {
	char buf[1024];
	struct lb_http_head h;
	struct lb_rule_req r;
};

static void mkreq(struct req *q, const char *method, const char *target, const char *host,
		  const char *headers, const char *src)
{
	struct lb_http_parser p;
	int n = snprintf(q->buf, sizeof(q->buf), "%s %s HTTP/1.1\r\nHost: %s\r\n%s\r\n", method,
			 target, host, headers ? headers : "");

	lb_http_request_parser_init(&p, NULL);
	if (lb_http_parse(&p, q->buf, (size_t)n, &q->h) != LB_HTTP_DONE)
		fail_msg("test request: %s", p.error);
	memset(&q->r, 0, sizeof(q->r));
	lb_rule_req_from_http(&q->r, q->buf, &q->h);
	if (src) {
		if (inet_pton(AF_INET, src, q->r.addr) == 1)
			q->r.family = AF_INET;
		else if (inet_pton(AF_INET6, src, q->r.addr) == 1)
			q->r.family = AF_INET6;
		else
			fail_msg("bad test address %s", src);
	}
	q->r.port = 80;
}

static uint32_t prio(const struct lb_ruleset *rs, const char *method, const char *target,
		     const char *host, const char *headers, const char *src)
{
	struct req q;
	uint32_t p;

	mkreq(&q, method, target, host, headers, src);
	lb_rules_match(rs, &q.r, &p);
	return p;
}

#define DEF "'DefaultActions':[{'Type':'fixed-response','FixedResponseConfig':{'StatusCode':'404'}}]"
#define FWD(tg) "'Actions':[{'Type':'forward','TargetGroupArn':'" tg "'}]"

static void glob(void **state)
{
	static const struct {
		const char *p, *s;
		bool icase, want;
	} t[] = {
		{ "/img/*", "/img/a.png", false, true },
		{ "/img/*", "/img/", false, true },
		{ "/img/*", "/img", false, false },
		{ "*.png", "/a/b.png", false, true },
		{ "/a?c", "/abc", false, true },
		{ "/a?c", "/ac", false, false },
		{ "/A*", "/abc", false, false },
		{ "/A*", "/abc", true, true },
		{ "*", "", false, true },
		{ "?", "", false, false },
		{ "a*b*c", "aXbYbZc", false, true },
		{ "a*b*c", "aXbYbZ", false, false },
		{ "*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false, false },
		{ "", "", false, true },
		{ "", "a", false, false },
		{ "**", "x", false, true },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (lb_glob_match(t[i].p, strlen(t[i].p), t[i].s, strlen(t[i].s), t[i].icase) != t[i].want)
			fail_msg("case %zu: %s ~ %s", i, t[i].p, t[i].s);
}

/* A pattern of many stars against a long subject that almost matches: the
 * greedy matcher is O(plen * slen), a backtracking one would be exponential. */
static void glob_bounded(void **state)
{
	char pat[129], *s = xmalloc(100001);
	struct timespec a, b;
	double ms;

	for (int i = 0; i < 128; i += 2) {
		pat[i] = '*';
		pat[i + 1] = 'a';
	}
	pat[127] = 'b';
	pat[128] = '\0';
	memset(s, 'a', 100000);
	s[100000] = '\0';
	clock_gettime(CLOCK_MONOTONIC, &a);
	assert_false(lb_glob_match(pat, 128, s, 100000, false));
	clock_gettime(CLOCK_MONOTONIC, &b);
	ms = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
	/* 128 * 100000 steps is ~10 ms; exponential would not end */
	if (ms > 2000)
		fail_msg("took %.0f ms", ms);
	free(s);
}

static void conditions(void **state)
{
	struct lb_ruleset *rs = compile(
		"{'Rules':["
		" {'Priority':10,'Conditions':[{'Field':'path-pattern','PathPatternConfig':{'Values':['/img/*','/static/?.css']}}]," FWD("img") "},"
		" {'Priority':'20','Conditions':[{'Field':'host-header','HostHeaderConfig':{'Values':['*.Example.com']}}]," FWD("host") "},"
		" {'Priority':30,'Conditions':[{'Field':'http-header','HttpHeaderConfig':{'HttpHeaderName':'User-Agent','Values':['*Mobile*']}}]," FWD("mobile") "},"
		" {'Priority':40,'Conditions':[{'Field':'http-request-method','HttpRequestMethodConfig':{'Values':['PUT','DELETE']}}]," FWD("write") "},"
		" {'Priority':50,'Conditions':[{'Field':'query-string','QueryStringConfig':{'Values':[{'Key':'version','Value':'v?'},{'Value':'debug'}]}}]," FWD("query") "},"
		" {'Priority':60,'Conditions':[{'Field':'source-ip','SourceIpConfig':{'Values':['10.1.128.0/17','fc00::/7']}}]," FWD("src") "},"
		" {'Priority':70,'Conditions':[{'Field':'path-pattern','Values':['/legacy']}]," FWD("legacy") "}"
		"]," DEF "}");

	assert_int_equal(prio(rs, "GET", "/img/a.png", "h", NULL, NULL), 10);
	assert_int_equal(prio(rs, "GET", "/static/a.css", "h", NULL, NULL), 10);
	assert_int_equal(prio(rs, "GET", "/static/ab.css", "h", NULL, NULL), 0);
	assert_int_equal(prio(rs, "GET", "/IMG/a.png", "h", NULL, NULL), 0); /* case-sensitive */
	assert_int_equal(prio(rs, "GET", "/img/a.png?x=1", "h", NULL, NULL), 10); /* query apart */

	assert_int_equal(prio(rs, "GET", "/", "www.example.COM", NULL, NULL), 20);
	assert_int_equal(prio(rs, "GET", "/", "www.example.com:8080", NULL, NULL), 20);
	assert_int_equal(prio(rs, "GET", "/", "example.com", NULL, NULL), 0);
	assert_int_equal(prio(rs, "GET", "http://a.example.com/x", "other", NULL, NULL), 20);

	assert_int_equal(prio(rs, "GET", "/", "h", "User-Agent: Foo mobile Bar\r\n", NULL), 30);
	assert_int_equal(prio(rs, "GET", "/", "h", "user-agent: x\r\nUser-Agent: Mobile\r\n", NULL), 30);
	assert_int_equal(prio(rs, "GET", "/", "h", "X-UA: Mobile\r\n", NULL), 0);

	assert_int_equal(prio(rs, "PUT", "/", "h", NULL, NULL), 40);
	assert_int_equal(prio(rs, "GET", "/", "h", NULL, NULL), 0);

	assert_int_equal(prio(rs, "GET", "/?a=1&version=v2", "h", NULL, NULL), 50);
	assert_int_equal(prio(rs, "GET", "/?VERSION=V3", "h", NULL, NULL), 50); /* case-insensitive */
	assert_int_equal(prio(rs, "GET", "/?version=v10", "h", NULL, NULL), 0);
	assert_int_equal(prio(rs, "GET", "/?x=debug", "h", NULL, NULL), 50); /* value, any key */
	assert_int_equal(prio(rs, "GET", "/?debug", "h", NULL, NULL), 50);
	assert_int_equal(prio(rs, "GET", "/?v=version", "h", NULL, NULL), 0);
	assert_int_equal(prio(rs, "GET", "/", "h", NULL, NULL), 0);

	assert_int_equal(prio(rs, "GET", "/", "h", NULL, "10.1.200.3"), 60);
	assert_int_equal(prio(rs, "GET", "/", "h", NULL, "10.1.128.0"), 60);
	assert_int_equal(prio(rs, "GET", "/", "h", NULL, "10.1.127.255"), 0);
	assert_int_equal(prio(rs, "GET", "/", "h", NULL, "10.2.200.3"), 0);
	assert_int_equal(prio(rs, "GET", "/", "h", NULL, "fd12::1"), 60);
	assert_int_equal(prio(rs, "GET", "/", "h", NULL, "fc00::1"), 60);
	assert_int_equal(prio(rs, "GET", "/", "h", NULL, "fe80::1"), 0);
	assert_int_equal(prio(rs, "GET", "/", "h", NULL, "::ffff:10.1.200.3"), 0); /* v6 is not v4 */

	assert_int_equal(prio(rs, "GET", "/legacy", "h", NULL, NULL), 70);
	lb_rules_free(rs);
}

static void priorities_and_and(void **state)
{
	/* listed out of order; all conditions of a rule must hold */
	struct lb_ruleset *rs = compile(
		"{'Rules':["
		" {'Priority':300,'Conditions':[{'Field':'path-pattern','Values':['/api/*']}]," FWD("api") "},"
		" {'Priority':5,'Conditions':[{'Field':'path-pattern','Values':['/api/*']},"
		"   {'Field':'http-request-method','HttpRequestMethodConfig':{'Values':['POST']}}]," FWD("post") "},"
		" {'Priority':'default','IsDefault':true,'Actions':[{'Type':'forward','TargetGroupArn':'def'}]}"
		"]}");
	struct req q;
	const struct lb_action *a;
	uint32_t p;

	assert_int_equal(rs->n, 2);
	assert_int_equal(rs->rules[0].priority, 5);
	assert_int_equal(prio(rs, "POST", "/api/x", "h", NULL, NULL), 5);
	assert_int_equal(prio(rs, "GET", "/api/x", "h", NULL, NULL), 300);
	mkreq(&q, "GET", "/", "h", NULL, NULL);
	a = lb_rules_match(rs, &q.r, &p);
	assert_int_equal(p, 0);
	assert_int_equal(a->type, LB_ACTION_FORWARD);
	assert_string_equal(a->groups[0].arn, "def");
	lb_rules_free(rs);
}

static void actions(void **state)
{
	struct lb_ruleset *rs = compile(
		"{'Rules':["
		" {'Priority':1,'Conditions':[{'Field':'path-pattern','Values':['/w']}],"
		"  'Actions':[{'Type':'forward','ForwardConfig':{'TargetGroups':["
		"    {'TargetGroupArn':'blue','Weight':90},{'TargetGroupArn':'green','Weight':10}]}}]},"
		" {'Priority':2,'Conditions':[{'Field':'path-pattern','Values':['/f']}],"
		"  'Actions':[{'Type':'fixed-response','FixedResponseConfig':{'StatusCode':'503',"
		"    'ContentType':'application/json','MessageBody':'{}'}}]},"
		" {'Priority':3,'Conditions':[{'Field':'path-pattern','Values':['/r/*']}],"
		"  'Actions':[{'Type':'redirect','RedirectConfig':{'Protocol':'HTTPS','StatusCode':'HTTP_301'}}]},"
		" {'Priority':4,'Conditions':[{'Field':'path-pattern','Values':['/p']}],"
		"  'Actions':[{'Type':'redirect','RedirectConfig':{'Host':'new.#{host}','Port':'8443',"
		"    'Path':'/v2/#{path}','Query':'from=#{port}&#{query}','StatusCode':'HTTP_302'}}]},"
		" {'Priority':5,'Conditions':[{'Field':'path-pattern','Values':['/q']}],"
		"  'Actions':[{'Type':'redirect','RedirectConfig':{'Protocol':'HTTP','Port':'80','StatusCode':'HTTP_302'}}]}"
		"]," DEF "}");
	struct req q;
	const struct lb_action *a;
	char *loc;

	mkreq(&q, "GET", "/w", "h", NULL, NULL);
	a = lb_rules_match(rs, &q.r, NULL);
	assert_int_equal(a->type, LB_ACTION_FORWARD);
	assert_int_equal(a->n_groups, 2);
	assert_int_equal(a->groups[0].weight, 90);
	assert_string_equal(a->groups[1].arn, "green");

	mkreq(&q, "GET", "/f", "h", NULL, NULL);
	a = lb_rules_match(rs, &q.r, NULL);
	assert_int_equal(a->type, LB_ACTION_FIXED_RESPONSE);
	assert_int_equal(a->status, 503);
	assert_string_equal(a->content_type, "application/json");
	assert_string_equal(a->body, "{}");

	mkreq(&q, "GET", "/r/a?b=1", "www.example.com", NULL, NULL);
	a = lb_rules_match(rs, &q.r, NULL);
	assert_int_equal(a->type, LB_ACTION_REDIRECT);
	assert_int_equal(a->status, 301);
	q.r.port = 443; /* an HTTP listener on 443 keeps #{port}: 443 is https's default */
	loc = lb_rules_redirect_location(a, &q.r);
	assert_string_equal(loc, "https://www.example.com/r/a?b=1");
	free(loc);
	q.r.port = 80;
	loc = lb_rules_redirect_location(a, &q.r);
	assert_string_equal(loc, "https://www.example.com:80/r/a?b=1");
	free(loc);

	mkreq(&q, "GET", "/p?x=y", "Example.com:8080", NULL, NULL);
	a = lb_rules_match(rs, &q.r, NULL);
	assert_int_equal(a->status, 302);
	loc = lb_rules_redirect_location(a, &q.r);
	assert_string_equal(loc, "http://new.Example.com:8443/v2/p?from=80&x=y");
	free(loc);

	mkreq(&q, "GET", "/q", "h", NULL, NULL);
	q.r.https = true;
	q.r.port = 443;
	a = lb_rules_match(rs, &q.r, NULL);
	loc = lb_rules_redirect_location(a, &q.r);
	assert_string_equal(loc, "http://h/q"); /* no query: no '?' */
	free(loc);
	lb_rules_free(rs);
}

static void errors(void **state)
{
	compile_fails("{'Rules':[]}", "DefaultActions: required");
	compile_fails("[]", "expected object");
	compile_fails("{'Rules':[{'Priority':0,'Conditions':[{'Field':'path-pattern','Values':['/']}]," FWD("a") "}]," DEF "}",
		      "Rules[0].Priority: 0 out of range [1, 50000]");
	compile_fails("{'Rules':[{'Priority':50001,'Conditions':[{'Field':'path-pattern','Values':['/']}]," FWD("a") "}]," DEF "}",
		      "out of range");
	compile_fails("{'Rules':[{'Priority':'x1','Conditions':[{'Field':'path-pattern','Values':['/']}]," FWD("a") "}]," DEF "}",
		      "Rules[0].Priority: \"x1\" is not a number");
	compile_fails("{'Rules':[{'Conditions':[{'Field':'path-pattern','Values':['/']}]," FWD("a") "}]," DEF "}",
		      "Rules[0].Priority: required");
	compile_fails("{'Rules':[{'Priority':1,'Conditions':[{'Field':'path-pattern','Values':['/']}]," FWD("a") "},"
		      "{'Priority':1,'Conditions':[{'Field':'path-pattern','Values':['/b']}]," FWD("a") "}]," DEF "}",
		      "Rules[1].Priority: 1 is also the priority of another rule");
	compile_fails("{'Rules':[{'Priority':1,'Conditions':[{'Field':'path-pattern','Values':['/','/a','/b','/c','/d','/e']}]," FWD("a") "}]," DEF "}",
		      "Rules[0].Conditions[0].Values: at most 5 values");
	compile_fails("{'Rules':[{'Priority':1,'Conditions':[{'Field':'path-pattern','Values':[]}]," FWD("a") "}]," DEF "}",
		      "at least one value");
	compile_fails("{'Rules':[{'Priority':1,'Conditions':[{'Field':'cookie','Values':['/']}]," FWD("a") "}]," DEF "}",
		      "Rules[0].Conditions[0].Field: unknown field \"cookie\"");
	compile_fails("{'Rules':[{'Priority':1,'Conditions':[{'Field':'path-pattern','Values':['a']}]," FWD("a") "}]," DEF "}",
		      "Rules[0].Conditions[0].Values[0]: a path pattern starts with /");
	compile_fails("{'Rules':[{'Priority':1,'Conditions':[{'Field':'path-pattern','Values':['/a']},"
		      "{'Field':'path-pattern','Values':['/b']}]," FWD("a") "}]," DEF "}",
		      "Rules[0].Conditions[1].Field: path-pattern given twice in one rule");
	compile_fails("{'Rules':[{'Priority':1,'Conditions':[{'Field':'path-pattern','Values':['/a'],"
		      "'PathPatternConfig':{'Values':['/b']}}]," FWD("a") "}]," DEF "}",
		      "differs from");
	compile_fails("{'Rules':[{'Priority':1,'Conditions':[{'Field':'http-header','HttpHeaderConfig':{'HttpHeaderName':'Bad Name','Values':['x']}}]," FWD("a") "}]," DEF "}",
		      "Rules[0].Conditions[0].HttpHeaderConfig.HttpHeaderName: \"Bad Name\" is not a header name");
	compile_fails("{'Rules':[{'Priority':1,'Conditions':[{'Field':'http-header','Values':['x']}]," FWD("a") "}]," DEF "}",
		      "Rules[0].Conditions[0].HttpHeaderConfig: required");
	compile_fails("{'Rules':[{'Priority':1,'Conditions':[{'Field':'http-request-method','HttpRequestMethodConfig':{'Values':['get']}}]," FWD("a") "}]," DEF "}",
		      "is not a method");
	compile_fails("{'Rules':[{'Priority':1,'Conditions':[{'Field':'query-string','QueryStringConfig':{'Values':[{'Key':'a'}]}}]," FWD("a") "}]," DEF "}",
		      "Rules[0].Conditions[0].QueryStringConfig.Values[0].Value: required");
	compile_fails("{'Rules':[{'Priority':1,'Conditions':[{'Field':'source-ip','SourceIpConfig':{'Values':['10.0.0.1/8']}}]," FWD("a") "}]," DEF "}",
		      "SourceIpConfig.Values[0]: \"10.0.0.1/8\" has bits set past the prefix");
	compile_fails("{'Rules':[{'Priority':1,'Conditions':[{'Field':'source-ip','SourceIpConfig':{'Values':['10.0.0.0/33']}}]," FWD("a") "}]," DEF "}",
		      "bad prefix length");
	compile_fails("{'Rules':[{'Priority':1,'Conditions':[{'Field':'source-ip','SourceIpConfig':{'Values':['nope/8']}}]," FWD("a") "}]," DEF "}",
		      "is not an IP address");
	compile_fails("{'Rules':[{'Priority':1,'Conditions':[]," FWD("a") "}]," DEF "}",
		      "Rules[0].Conditions: at least one condition");
	compile_fails("{'Rules':[{'Priority':1,'Conditions':[{'Field':'path-pattern','Values':['/']}],'Actions':[]}]," DEF "}",
		      "Rules[0].Actions: exactly one action");
	compile_fails("{'Rules':[{'Priority':1,'Conditions':[{'Field':'path-pattern','Values':['/']}],'Actions':[{'Type':'authenticate-oidc'}]}]," DEF "}",
		      "Rules[0].Actions[0].Type: unsupported action type \"authenticate-oidc\"");
	compile_fails("{'DefaultActions':[{'Type':'forward'}]}",
		      "DefaultActions[0]: forward needs TargetGroupArn or ForwardConfig");
	compile_fails("{'DefaultActions':[{'Type':'forward','ForwardConfig':{'TargetGroups':[{'TargetGroupArn':'a','Weight':1000}]}}]}",
		      "DefaultActions[0].ForwardConfig.TargetGroups[0].Weight: 1000 out of range [0, 999]");
	compile_fails("{'DefaultActions':[{'Type':'forward','ForwardConfig':{'TargetGroups':[{'TargetGroupArn':'a','Weight':0}]}}]}",
		      "the weights add up to 0");
	compile_fails("{'DefaultActions':[{'Type':'forward','ForwardConfig':{'TargetGroups':[{'TargetGroupArn':'a'},{'TargetGroupArn':'a'}]}}]}",
		      "given twice");
	compile_fails("{'DefaultActions':[{'Type':'fixed-response','FixedResponseConfig':{'StatusCode':'302'}}]}",
		      "DefaultActions[0].FixedResponseConfig.StatusCode: 302 is not a 2XX, 4XX or 5XX status");
	compile_fails("{'DefaultActions':[{'Type':'fixed-response','FixedResponseConfig':{'StatusCode':'200','ContentType':'image/png'}}]}",
		      "ContentType: \"image/png\" is not one of");
	compile_fails("{'DefaultActions':[{'Type':'redirect','RedirectConfig':{'StatusCode':'HTTP_307'}}]}",
		      "DefaultActions[0].RedirectConfig.StatusCode: \"HTTP_307\" is not HTTP_301 or HTTP_302");
	compile_fails("{'DefaultActions':[{'Type':'redirect','RedirectConfig':{'StatusCode':'HTTP_301','Path':'/#{nope}'}}]}",
		      "DefaultActions[0].RedirectConfig.Path: unknown substitution");
	compile_fails("{'DefaultActions':[{'Type':'redirect','RedirectConfig':{'StatusCode':'HTTP_301','Port':'70000'}}]}",
		      "RedirectConfig.Port: \"70000\" is not a port");
	compile_fails("{'DefaultActions':[{'Type':'redirect','RedirectConfig':{'StatusCode':'HTTP_301','Path':'x'}}]}",
		      "RedirectConfig.Path: must start with /");
	compile_fails("{'Rules':[{'Priority':'default','Actions':[{'Type':'forward','TargetGroupArn':'a'}]}]," DEF "}",
		      "Rules[0]: a second default rule");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(glob),
		cmocka_unit_test(glob_bounded),
		cmocka_unit_test(conditions),
		cmocka_unit_test(priorities_and_and),
		cmocka_unit_test(actions),
		cmocka_unit_test(errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
