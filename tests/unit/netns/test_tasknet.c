/* Unit tests for netns/tasknet.c: the network configuration. Set-up and
 * teardown need root and a netns: tests/vm/cases/net_*.sh and the leak
 * cycle (berth-tasknet-tool) cover them. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "netns/tasknet.h"

static int parse(const char *text, struct netns_config *c, struct berr **err)
{
	json_error_t je;
	json_t *v = json_loads(text, 0, &je);
	int r;

	assert_non_null(v);
	netns_config_init(c, "/var/lib/berth/net");
	r = netns_config_parse(v, "network", c, err);
	json_decref(v);
	return r;
}

static void test_defaults(void **state)
{
	struct netns_config c;
	struct berr *err = NULL;
	char buf[NETNS_CIDR_STRLEN];

	netns_config_init(&c, "/state");
	assert_int_equal(netns_config_parse(NULL, "network", &c, &err), 0);
	assert_string_equal(c.bridge, "berth0");
	assert_string_equal(netns_cidr_str(&c.subnet, buf), "10.213.0.0/16");
	assert_string_equal(c.table, "berth");
	assert_string_equal(c.state_dir, "/state");
	assert_int_equal(c.mtu, 1500);
	assert_true(c.ports.lo >= 1 && c.ports.lo <= c.ports.hi);
	/* the implicit default group and the built-in bridge-mode group */
	assert_non_null(netns_sg_find(&c.groups, "default"));
	assert_non_null(netns_sg_find(&c.groups, NETNS_BRIDGE_GROUP));
	for (size_t i = 1; i < c.groups.n_groups; i++)
		assert_true(strcmp(c.groups.groups[i - 1].name, c.groups.groups[i].name) < 0);
	netns_config_free(&c);
}

static void test_values(void **state)
{
	struct netns_config c;
	struct berr *err = NULL;
	char buf[NETNS_CIDR_STRLEN];

	assert_int_equal(parse("{\"bridge\":\"br-x\",\"subnet\":\"10.1.0.0/24\",\"mtu\":9000,"
			       "\"nftTable\":\"t1\",\"stateDir\":\"/s\",\"hostPortRange\":\"50000-50010\","
			       "\"securityGroups\":{\"web\":{\"ingress\":[{\"protocol\":\"tcp\",\"port\":80,"
			       "\"cidr\":\"0.0.0.0/0\"}]}}}", &c, &err), 0);
	assert_string_equal(c.bridge, "br-x");
	assert_string_equal(netns_cidr_str(&c.subnet, buf), "10.1.0.0/24");
	assert_int_equal(c.mtu, 9000);
	assert_string_equal(c.table, "t1");
	assert_string_equal(c.state_dir, "/s");
	assert_int_equal(c.ports.lo, 50000);
	assert_int_equal(c.ports.hi, 50010);
	assert_non_null(netns_sg_find(&c.groups, "web"));
	assert_non_null(netns_sg_find(&c.groups, "default"));
	assert_non_null(netns_sg_find(&c.groups, "bridge-mode"));
	netns_config_free(&c);
}

static void expect_error(const char *text, const char *msg)
{
	struct netns_config c;
	struct berr *err = NULL;

	assert_true(parse(text, &c, &err) < 0);
	if (!strstr(berr_msg(err), msg))
		fail_msg("%s: got \"%s\", want \"%s\"", text, berr_msg(err), msg);
	berr_free(err);
	netns_config_free(&c);
}

static void test_errors(void **state)
{
	expect_error("[]", "network: expected object");
	expect_error("{\"brige\":\"x\"}", "network.brige: unknown key");
	expect_error("{\"bridge\":\"a-name-longer-than-15\"}", "network.bridge: \"a-name-longer-than-15\" is not a usable interface name");
	expect_error("{\"bridge\":\"a b\"}", "network.bridge");
	expect_error("{\"bridge\":5}", "network.bridge: expected string");
	expect_error("{\"subnet\":\"10.0.0.1/16\"}", "did you mean 10.0.0.0/16");
	expect_error("{\"subnet\":\"10.0.0.0/30\"}", "network.subnet: /30: want a prefix length from 8 to 28");
	expect_error("{\"subnet\":\"0.0.0.0/4\"}", "want a prefix length from 8 to 28");
	expect_error("{\"mtu\":100}", "network.mtu: 100 out of range");
	expect_error("{\"mtu\":\"1500\"}", "network.mtu: expected integer");
	expect_error("{\"nftTable\":\"1abc\"}", "network.nftTable: \"1abc\": want a letter");
	expect_error("{\"stateDir\":\"rel/dir\"}", "network.stateDir: \"rel/dir\" is not an absolute path");
	expect_error("{\"hostPortRange\":\"60000-50000\"}", "network.hostPortRange: \"60000-50000\": want LOW-HIGH");
	expect_error("{\"hostPortRange\":\"x\"}", "network.hostPortRange");
	expect_error("{\"securityGroups\":{\"bridge-mode\":{\"ingress\":[]}}}",
		     "network.securityGroups.bridge-mode: the name is reserved");
	expect_error("{\"securityGroups\":{\"web\":{\"ingress\":[{\"protocol\":\"tcp\",\"port\":80,"
		     "\"sourceGroup\":\"nope\"}]}}}", "nope");
}

static void test_load_file(void **state)
{
	char path[] = "/tmp/berth-tasknet.XXXXXX";
	int fd = mkstemp(path);
	struct netns_config c;
	struct berr *err = NULL;
	const char *wrapped = "{\"api\":{\"x\":1},\"network\":{\"bridge\":\"bw\"}}";
	const char *bare = "{\"bridge\":\"bb\"}";

	assert_true(fd >= 0);
	assert_int_equal(write(fd, wrapped, strlen(wrapped)), (ssize_t)strlen(wrapped));
	close(fd);
	netns_config_init(&c, "/s");
	assert_int_equal(netns_config_load(path, &c, &err), 0);
	assert_string_equal(c.bridge, "bw");
	netns_config_free(&c);

	fd = open(path, O_WRONLY | O_TRUNC);
	assert_int_equal(write(fd, bare, strlen(bare)), (ssize_t)strlen(bare));
	close(fd);
	netns_config_init(&c, "/s");
	assert_int_equal(netns_config_load(path, &c, &err), 0);
	assert_string_equal(c.bridge, "bb");
	netns_config_free(&c);

	fd = open(path, O_WRONLY | O_TRUNC);
	assert_int_equal(write(fd, "{\"network\":{\"mtu\":1}}", 21), 21);
	close(fd);
	netns_config_init(&c, "/s");
	assert_true(netns_config_load(path, &c, &err) < 0);
	assert_non_null(strstr(berr_msg(err), path));
	assert_non_null(strstr(berr_msg(err), "network.mtu"));
	berr_clear(&err);
	netns_config_free(&c);
	unlink(path);

	netns_config_init(&c, "/s");
	assert_true(netns_config_load("/nonexistent/berthd.json", &c, &err) < 0);
	assert_non_null(strstr(berr_msg(err), "/nonexistent/berthd.json"));
	berr_clear(&err);
	netns_config_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_load_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
