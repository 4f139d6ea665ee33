/* tests/unit/netns/test_sg.c - the security-group config parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/json.h"
#include "netns/sg.h"

static json_t *load(const char *text)
{
	json_t *v = NULL;
	struct berr *err = NULL;

	if (bjson_load_buf("test", text, strlen(text), &v, &err) < 0)
		fail_msg("bad test JSON: %s", berr_msg(err));
	return v;
}

static void parse_ok(const char *text, struct netns_sg_config *c)
{
	cleanup_json json_t *v = load(text);
	struct berr *err = NULL;

	if (netns_sg_config_parse(v, "securityGroups", c, &err) < 0)
		fail_msg("parse failed: %s", berr_msg(err));
	assert_null(err);
}

/* The parse fails with exactly this message, and leaves *out empty. */
static void parse_err(const char *text, const char *want)
{
	cleanup_json json_t *v = load(text);
	struct netns_sg_config c = { (struct netns_sg *)1, 7 };
	struct berr *err = NULL;

	assert_true(netns_sg_config_parse(v, "securityGroups", &c, &err) < 0);
	assert_non_null(err);
	if (strcmp(berr_msg(err), want) != 0)
		fail_msg("for %s\n  got  %s\n  want %s", text, berr_msg(err), want);
	assert_null(c.groups);
	assert_int_equal(c.n_groups, 0);
	netns_sg_config_free(&c);
	berr_clear(&err);
}

static void test_valid(void **state)
{
	struct netns_sg_config c;
	const struct netns_sg *g;
	const struct netns_sg_rule *r;

	(void)state;
	parse_ok("{\"web\": {\"ingress\": ["
		 "  {\"protocol\": \"tcp\", \"fromPort\": 80, \"toPort\": 80, \"cidr\": \"0.0.0.0/0\"},"
		 "  {\"protocol\": \"tcp\", \"port\": 5432, \"sourceGroup\": \"app\"},"
		 "  {\"protocol\": \"udp\", \"fromPort\": 1000, \"toPort\": 2000, \"cidr\": \"10.1.0.0/16\"},"
		 "  {\"protocol\": \"icmp\", \"cidr\": \"192.168.1.7\"},"
		 "  {\"protocol\": \"-1\", \"sourceGroup\": \"web\"},"
		 "  {\"protocol\": \"all\", \"sourceGroup\": \"default\"}]},"
		 " \"app\": {\"ingress\": []},"
		 " \"default\": {\"ingress\": [{\"protocol\": \"all\", \"sourceGroup\": \"default\"}]}}",
		 &c);
	/* sorted by name */
	assert_int_equal(c.n_groups, 3);
	assert_string_equal(c.groups[0].name, "app");
	assert_string_equal(c.groups[1].name, "default");
	assert_string_equal(c.groups[2].name, "web");
	assert_int_equal(c.groups[0].n_rules, 0);

	g = netns_sg_find(&c, "web");
	assert_ptr_equal(g, &c.groups[2]);
	assert_int_equal(g->n_rules, 6);
	r = &g->rules[0];
	assert_int_equal(r->proto, NETNS_SG_TCP);
	assert_int_equal(r->from_port, 80);
	assert_int_equal(r->to_port, 80);
	assert_true(r->has_cidr);
	assert_int_equal(r->cidr.net, 0);
	assert_int_equal(r->cidr.prefix, 0);
	assert_null(r->source_group);
	r = &g->rules[1];
	assert_int_equal(r->proto, NETNS_SG_TCP);
	assert_int_equal(r->from_port, 5432);
	assert_int_equal(r->to_port, 5432);
	assert_false(r->has_cidr);
	assert_string_equal(r->source_group, "app");
	r = &g->rules[2];
	assert_int_equal(r->proto, NETNS_SG_UDP);
	assert_int_equal(r->from_port, 1000);
	assert_int_equal(r->to_port, 2000);
	assert_int_equal(r->cidr.net, 0x0a010000);
	assert_int_equal(r->cidr.prefix, 16);
	r = &g->rules[3];
	assert_int_equal(r->proto, NETNS_SG_ICMP);
	assert_int_equal(r->from_port, 0);
	assert_int_equal(r->to_port, 0);
	assert_int_equal(r->cidr.net, 0xc0a80107);
	assert_int_equal(r->cidr.prefix, 32);
	assert_int_equal(g->rules[4].proto, NETNS_SG_ALL);
	assert_string_equal(g->rules[4].source_group, "web");
	assert_int_equal(g->rules[5].proto, NETNS_SG_ALL);
	assert_string_equal(g->rules[5].source_group, "default");

	/* an explicit default is taken as written */
	g = netns_sg_find(&c, "default");
	assert_int_equal(g->n_rules, 1);
	assert_null(netns_sg_find(&c, "nope"));
	assert_null(netns_sg_find(&c, "we"));
	netns_sg_config_free(&c);
	assert_null(c.groups);
	assert_int_equal(c.n_groups, 0);
	netns_sg_config_free(&c);  /* twice is fine */
}

static void check_implicit_default(const struct netns_sg *g)
{
	assert_non_null(g);
	assert_int_equal(g->n_rules, 1);
	assert_int_equal(g->rules[0].proto, NETNS_SG_ALL);
	assert_false(g->rules[0].has_cidr);
	assert_string_equal(g->rules[0].source_group, "default");
}

static void test_implicit_default(void **state)
{
	struct netns_sg_config c;
	struct berr *err = NULL;

	(void)state;
	/* no object at all */
	assert_int_equal(netns_sg_config_parse(NULL, "securityGroups", &c, &err), 0);
	assert_int_equal(c.n_groups, 1);
	assert_string_equal(c.groups[0].name, "default");
	check_implicit_default(&c.groups[0]);
	netns_sg_config_free(&c);

	parse_ok("{}", &c);
	assert_int_equal(c.n_groups, 1);
	check_implicit_default(netns_sg_find(&c, "default"));
	netns_sg_config_free(&c);

	/* added next to the others, in name order; a rule may name it */
	parse_ok("{\"zz\": {\"ingress\": [{\"protocol\": \"tcp\", \"port\": 22, "
		 "\"sourceGroup\": \"default\"}]}, \"aa\": {}}", &c);
	assert_int_equal(c.n_groups, 3);
	assert_string_equal(c.groups[0].name, "aa");
	assert_string_equal(c.groups[1].name, "default");
	assert_string_equal(c.groups[2].name, "zz");
	check_implicit_default(&c.groups[1]);
	assert_int_equal(c.groups[0].n_rules, 0);  /* no "ingress": no rules */
	assert_string_equal(c.groups[2].rules[0].source_group, "default");
	netns_sg_config_free(&c);

	/* an explicit empty default stays empty: AWS's rule is only a default */
	parse_ok("{\"default\": {\"ingress\": []}}", &c);
	assert_int_equal(c.n_groups, 1);
	assert_int_equal(c.groups[0].n_rules, 0);
	netns_sg_config_free(&c);
}

static void test_names(void **state)
{
	struct netns_sg_config c;

	(void)state;
	assert_true(netns_sg_name_valid("a"));
	assert_true(netns_sg_name_valid("Web-1.internal_x"));
	assert_true(netns_sg_name_valid("12345678901234567890123456789012"));
	assert_false(netns_sg_name_valid(""));
	assert_false(netns_sg_name_valid("123456789012345678901234567890123"));
	assert_false(netns_sg_name_valid("a b"));
	assert_false(netns_sg_name_valid("a/b"));
	assert_false(netns_sg_name_valid("a\"b"));
	assert_false(netns_sg_name_valid("\xc3\xa9t\xc3\xa9"));

	parse_ok("{\"Web-1.internal_x\": {}}", &c);
	assert_non_null(netns_sg_find(&c, "Web-1.internal_x"));
	netns_sg_config_free(&c);

	parse_err("{\"a b\": {}}",
		  "securityGroups[\"a b\"]: a group name is 1 to 32 of A-Z a-z 0-9 . _ -");
	parse_err("{\"\": {}}",
		  "securityGroups[\"\"]: a group name is 1 to 32 of A-Z a-z 0-9 . _ -");
	parse_err("{\"123456789012345678901234567890123\": {}}",
		  "securityGroups.123456789012345678901234567890123: "
		  "a group name is 1 to 32 of A-Z a-z 0-9 . _ -");
	parse_err("{\"ok\": {}, \"x;y\": {}}",
		  "securityGroups[\"x;y\"]: a group name is 1 to 32 of A-Z a-z 0-9 . _ -");
}

static void test_structure_errors(void **state)
{
	(void)state;
	parse_err("[]", "securityGroups: expected object, got array");
	parse_err("{\"web\": []}", "securityGroups.web: expected object, got array");
	parse_err("{\"web\": null}", "securityGroups.web: expected object, got null");
	parse_err("{\"web\": {\"egress\": []}}", "securityGroups.web.egress: unknown field");
	parse_err("{\"web\": {\"ingress\": {}}}",
		  "securityGroups.web.ingress: expected array, got object");
	parse_err("{\"web\": {\"ingress\": [1]}}",
		  "securityGroups.web.ingress[0]: expected object, got integer");
	parse_err("{\"web\": {\"ingress\": [{\"protocol\": \"tcp\", \"port\": 1, \"cidr\": "
		  "\"0.0.0.0/0\"}, {\"protocol\": \"all\", \"cidr\": \"0.0.0.0/0\", \"note\": 1}]}}",
		  "securityGroups.web.ingress[1].note: unknown field");
	/* the group's own path is quoted when the name is not a plain word */
	parse_err("{\"w.b\": {\"ingress\": [{}]}}",
		  "securityGroups[\"w.b\"].ingress[0].protocol: required");
}

static void test_protocol_errors(void **state)
{
	(void)state;
	parse_err("{\"web\": {\"ingress\": [{\"cidr\": \"0.0.0.0/0\"}]}}",
		  "securityGroups.web.ingress[0].protocol: required");
	parse_err("{\"web\": {\"ingress\": [{\"protocol\": 6, \"cidr\": \"0.0.0.0/0\"}]}}",
		  "securityGroups.web.ingress[0].protocol: expected string, got integer");
	parse_err("{\"web\": {\"ingress\": [{\"protocol\": \"TCP\", \"port\": 1, "
		  "\"cidr\": \"0.0.0.0/0\"}]}}",
		  "securityGroups.web.ingress[0].protocol: \"TCP\" is not one of tcp, udp, icmp, all (or -1)");
	parse_err("{\"web\": {\"ingress\": [{\"protocol\": \"sctp\", \"cidr\": \"0.0.0.0/0\"}]}}",
		  "securityGroups.web.ingress[0].protocol: \"sctp\" is not one of tcp, udp, icmp, all (or -1)");
}

static void test_port_errors(void **state)
{
	(void)state;
#define RULE(body) "{\"web\": {\"ingress\": [{\"protocol\": \"tcp\", \"port\": 1, \"cidr\": " \
	"\"0.0.0.0/0\"}, " body "]}}"
	parse_err(RULE("{\"protocol\": \"tcp\", \"fromPort\": 0, \"toPort\": 80, \"cidr\": \"0.0.0.0/0\"}"),
		  "securityGroups.web.ingress[1].fromPort: must be 1..65535");
	parse_err(RULE("{\"protocol\": \"tcp\", \"fromPort\": 80, \"toPort\": 65536, \"cidr\": \"0.0.0.0/0\"}"),
		  "securityGroups.web.ingress[1].toPort: must be 1..65535");
	parse_err(RULE("{\"protocol\": \"udp\", \"port\": -1, \"cidr\": \"0.0.0.0/0\"}"),
		  "securityGroups.web.ingress[1].port: must be 1..65535");
	parse_err(RULE("{\"protocol\": \"udp\", \"port\": \"80\", \"cidr\": \"0.0.0.0/0\"}"),
		  "securityGroups.web.ingress[1].port: expected integer, got string");
	parse_err(RULE("{\"protocol\": \"udp\", \"port\": 80.0, \"cidr\": \"0.0.0.0/0\"}"),
		  "securityGroups.web.ingress[1].port: expected integer, got real");
	parse_err(RULE("{\"protocol\": \"tcp\", \"cidr\": \"0.0.0.0/0\"}"),
		  "securityGroups.web.ingress[1]: protocol tcp needs \"port\" or \"fromPort\" and \"toPort\"");
	parse_err(RULE("{\"protocol\": \"udp\", \"sourceGroup\": \"web\"}"),
		  "securityGroups.web.ingress[1]: protocol udp needs \"port\" or \"fromPort\" and \"toPort\"");
	parse_err(RULE("{\"protocol\": \"tcp\", \"fromPort\": 80, \"cidr\": \"0.0.0.0/0\"}"),
		  "securityGroups.web.ingress[1].toPort: required with \"fromPort\"");
	parse_err(RULE("{\"protocol\": \"tcp\", \"toPort\": 80, \"cidr\": \"0.0.0.0/0\"}"),
		  "securityGroups.web.ingress[1].fromPort: required with \"toPort\"");
	parse_err(RULE("{\"protocol\": \"tcp\", \"port\": 80, \"toPort\": 80, \"cidr\": \"0.0.0.0/0\"}"),
		  "securityGroups.web.ingress[1]: give either \"port\" or \"fromPort\" and \"toPort\", not both");
	parse_err(RULE("{\"protocol\": \"tcp\", \"fromPort\": 90, \"toPort\": 80, \"cidr\": \"0.0.0.0/0\"}"),
		  "securityGroups.web.ingress[1]: fromPort 90 is greater than toPort 80");
	parse_err(RULE("{\"protocol\": \"icmp\", \"port\": 8, \"cidr\": \"0.0.0.0/0\"}"),
		  "securityGroups.web.ingress[1].port: not allowed with protocol icmp");
	parse_err(RULE("{\"protocol\": \"all\", \"fromPort\": 1, \"toPort\": 2, \"cidr\": \"0.0.0.0/0\"}"),
		  "securityGroups.web.ingress[1].fromPort: not allowed with protocol all");
	parse_err(RULE("{\"protocol\": \"-1\", \"toPort\": 2, \"cidr\": \"0.0.0.0/0\"}"),
		  "securityGroups.web.ingress[1].toPort: not allowed with protocol all");
#undef RULE
}

static void test_source_errors(void **state)
{
	(void)state;
	parse_err("{\"web\": {\"ingress\": [{\"protocol\": \"all\"}]}}",
		  "securityGroups.web.ingress[0]: give exactly one of \"cidr\" and \"sourceGroup\"");
	parse_err("{\"web\": {\"ingress\": [{\"protocol\": \"all\", \"cidr\": null, "
		  "\"sourceGroup\": null}]}}",
		  "securityGroups.web.ingress[0]: give exactly one of \"cidr\" and \"sourceGroup\"");
	parse_err("{\"web\": {\"ingress\": [{\"protocol\": \"all\", \"cidr\": \"0.0.0.0/0\", "
		  "\"sourceGroup\": \"web\"}]}}",
		  "securityGroups.web.ingress[0]: give exactly one of \"cidr\" and \"sourceGroup\"");
	parse_err("{\"web\": {\"ingress\": [{\"protocol\": \"all\", \"sourceGroup\": \"app\"}]}}",
		  "securityGroups.web.ingress[0].sourceGroup: \"app\" is not a security group of this "
		  "configuration");
	parse_err("{\"web\": {\"ingress\": [{\"protocol\": \"all\", \"sourceGroup\": 3}]}}",
		  "securityGroups.web.ingress[0].sourceGroup: expected string, got integer");
	/* the cidr parser's message, with the JSON path as its subject */
	parse_err("{\"web\": {\"ingress\": [{\"protocol\": \"all\", \"cidr\": \"10.0.0.1/8\"}]}}",
		  "securityGroups.web.ingress[0].cidr: \"10.0.0.1/8\" has host bits set (did you mean "
		  "10.0.0.0/8?): Invalid argument");
	parse_err("{\"web\": {\"ingress\": [{\"protocol\": \"all\", \"cidr\": \"::/0\"}]}}",
		  "securityGroups.web.ingress[0].cidr: \"::/0\" is not an IPv4 prefix (want a.b.c.d/len): "
		  "Invalid argument");
}

static void test_limits(void **state)
{
	char *buf = NULL;
	size_t len;
	FILE *f;
	struct netns_sg_config c;

	(void)state;
	/* NETNS_SG_MAX_RULES rules pass, one more does not */
	for (int extra = 0; extra <= 1; extra++) {
		f = open_memstream(&buf, &len);
		fputs("{\"web\": {\"ingress\": [", f);
		for (int i = 0; i < NETNS_SG_MAX_RULES + extra; i++)
			fprintf(f, "%s{\"protocol\": \"tcp\", \"port\": %d, \"cidr\": \"0.0.0.0/0\"}",
				i ? "," : "", i + 1);
		fputs("]}}", f);
		fclose(f);
		if (extra) {
			parse_err(buf, "securityGroups.web.ingress: 129 rules, at most 128 allowed");
		} else {
			parse_ok(buf, &c);
			assert_int_equal(c.groups[1].n_rules, NETNS_SG_MAX_RULES);
			assert_int_equal(c.groups[1].rules[127].from_port, 128);
			netns_sg_config_free(&c);
		}
		free(buf);
	}
	f = open_memstream(&buf, &len);
	fputc('{', f);
	for (int i = 0; i < NETNS_SG_MAX_GROUPS + 1; i++)
		fprintf(f, "%s\"g%d\": {}", i ? "," : "", i);
	fputc('}', f);
	fclose(f);
	parse_err(buf, "securityGroups: 257 security groups, at most 256 allowed");
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_implicit_default),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_structure_errors),
		cmocka_unit_test(test_protocol_errors),
		cmocka_unit_test(test_port_errors),
		cmocka_unit_test(test_source_errors),
		cmocka_unit_test(test_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
