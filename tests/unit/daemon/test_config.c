/* tests/unit/daemon/test_config.c - berthd.json: the network section and
 * its defaults. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/error.h"
#include "netns/sg.h"
#include "runtime/daemon/daemon.h"

static void parse_ok(const char *json, struct berthd_config *c)
{
	struct berr *err = NULL;

	berthd_config_init(c);
	if (berthd_config_parse("test", json, strlen(json), c, &err) < 0)
		fail_msg("parse: %s", berr_msg(err));
}

/* Without "network" (or with null) the default security group exists, as
 * with an empty network object: awsvpc tasks name it by default. */
static void test_default_groups_without_network(void **state)
{
	static const char *const docs[] = {
		"{ \"root\": \"/tmp/berth-cfg-test\" }",
		"{ \"root\": \"/tmp/berth-cfg-test\", \"network\": null }",
		"{ \"root\": \"/tmp/berth-cfg-test\", \"network\": {} }",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		struct berthd_config c;

		parse_ok(docs[i], &c);
		assert_non_null(netns_sg_find(&c.net.groups, "default"));
		assert_non_null(netns_sg_find(&c.net.groups, "bridge-mode"));
		berthd_config_free(&c);
	}
}

static void test_network_errors_name_the_key(void **state)
{
	static const char doc[] = "{ \"network\": { \"brige\": \"x\" } }";
	struct berthd_config c;
	struct berr *err = NULL;

	(void)state;
	berthd_config_init(&c);
	assert_true(berthd_config_parse("test", doc, strlen(doc), &c, &err) < 0);
	assert_non_null(strstr(berr_msg(err), "network.brige"));
	berr_free(err);
	berthd_config_free(&c);
}

static void expect_error(const char *doc, const char *want)
{
	struct berthd_config c;
	struct berr *err = NULL;

	berthd_config_init(&c);
	if (berthd_config_parse("test", doc, strlen(doc), &c, &err) == 0)
		fail_msg("accepted: %s", doc);
	if (!strstr(berr_msg(err), want))
		fail_msg("%s\n  error: %s\n  wanted: %s", doc, berr_msg(err), want);
	berr_free(err);
	berthd_config_free(&c);
}

/* image pull keys (docs/images.md) */
static void test_pull_keys(void **state)
{
	struct berthd_config c;

	(void)state;
	parse_ok("{}", &c);
	assert_string_equal(c.pull_policy, "if-not-present");
	assert_int_equal(c.pull_timeout, 0);
	assert_null(c.insecure_registries[0]);
	berthd_config_free(&c);
	parse_ok("{\"imagePullPolicy\": \"always\", \"insecureRegistries\": [\"127.0.0.1:5000\", \"reg\"],"
		 " \"dockerConfig\": \"none\", \"imagePullTimeoutSeconds\": 60, \"berthPath\": \"/usr/bin/berth\","
		 " \"registryCredentials\": \"/etc/berth/registries.json\"}", &c);
	assert_string_equal(c.pull_policy, "always");
	assert_string_equal(c.insecure_registries[0], "127.0.0.1:5000");
	assert_string_equal(c.insecure_registries[1], "reg");
	assert_null(c.insecure_registries[2]);
	assert_string_equal(c.docker_config, "none");
	assert_int_equal(c.pull_timeout, 60);
	berthd_config_free(&c);
	expect_error("{\"imagePullPolicy\": \"sometimes\"}",
		     "imagePullPolicy: \"sometimes\": use always, if-not-present or never");
	expect_error("{\"dockerConfig\": \"docker.json\"}", "dockerConfig: \"docker.json\" is not an absolute path");
	expect_error("{\"insecureRegistries\": \"reg\"}", "insecureRegistries: expected array");
	expect_error("{\"insecureRegistries\": [\"a b\"]}", "insecureRegistries: \"a b\": want HOST[:PORT]");
	expect_error("{\"imagePullTimeoutSeconds\": 0}", "imagePullTimeoutSeconds");
	expect_error("{\"berthPath\": \"berth\"}", "berthPath: \"berth\" is not an absolute path");
	expect_error("{\"registryCredentials\": \"\"}", "registryCredentials: must not be empty");
}

/* the DNS responder (docs/berthd.md, "Service discovery") */
static void test_dns_keys(void **state)
{
	struct berthd_config c;

	(void)state;
	parse_ok("{}", &c);
	assert_int_equal(c.dns_enabled, -1);
	assert_null(c.dns_upstreams);
	assert_int_equal(c.dns_timeout_ms, 2000);
	berthd_config_free(&c);
	parse_ok("{\"dns\": {\"enabled\": false, \"upstreams\": [\"10.0.0.53\", \"127.0.0.1:5353\"], "
		 "\"forwardTimeoutMilliseconds\": 500}}", &c);
	assert_int_equal(c.dns_enabled, 0);
	assert_string_equal(c.dns_upstreams[0], "10.0.0.53");
	assert_string_equal(c.dns_upstreams[1], "127.0.0.1:5353");
	assert_null(c.dns_upstreams[2]);
	assert_int_equal(c.dns_timeout_ms, 500);
	berthd_config_free(&c);
	parse_ok("{\"dns\": {\"enabled\": true}}", &c);
	assert_int_equal(c.dns_enabled, 1);
	berthd_config_free(&c);
	expect_error("{\"dns\": {\"enable\": true}}", "dns.enable: unknown key");
	expect_error("{\"dns\": []}", "dns");
	expect_error("{\"dns\": {\"upstreams\": \"10.0.0.53\"}}", "dns.upstreams: expected array");
	expect_error("{\"dns\": {\"upstreams\": [\"resolver.local\"]}}",
		     "dns.upstreams[0]: \"resolver.local\": want IPV4 or IPV4:PORT");
	expect_error("{\"dns\": {\"upstreams\": [\"10.0.0.1:0\"]}}", "dns.upstreams[0]");
	expect_error("{\"dns\": {\"upstreams\": [\"1.1.1.1\", \"1.1.1.2\", \"1.1.1.3\", \"1.1.1.4\", "
		     "\"1.1.1.5\"]}}", "at most 4");
	expect_error("{\"dns\": {\"forwardTimeoutMilliseconds\": 10}}", "forwardTimeoutMilliseconds");
}

/* task roles (docs/credentials.md) */
static void test_role_keys(void **state)
{
	struct berthd_config c;

	(void)state;
	parse_ok("{\"roles\": [{\"roleArn\": \"arn:aws:iam::000000000000:role/web\"}],"
		 " \"hostKeyFile\": \"/etc/berth/host.key\"}", &c);
	assert_int_equal(c.roles.n, 1);
	assert_non_null(creds_roles_find(&c.roles, "arn:aws:iam::000000000000:role/web"));
	assert_string_equal(c.host_key_file, "/etc/berth/host.key");
	berthd_config_free(&c);
	parse_ok("{}", &c);
	assert_int_equal(c.roles.n, 0);
	assert_null(c.host_key_file);   /* berthd_main: <root>/host.key */
	berthd_config_free(&c);
	expect_error("{\"roles\": [{\"roleArn\": \"web\"}]}", "test: roles[0].roleArn: \"web\" is not a role ARN");
	expect_error("{\"hostKeyFile\": \"host.key\"}", "hostKeyFile: \"host.key\" is not an absolute path");
	expect_error("{\"role\": []}", "role: unknown key");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_groups_without_network),
		cmocka_unit_test(test_network_errors_name_the_key),
		cmocka_unit_test(test_pull_keys),
		cmocka_unit_test(test_role_keys),
		cmocka_unit_test(test_dns_keys),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
