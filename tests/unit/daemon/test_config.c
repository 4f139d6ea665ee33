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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_groups_without_network),
		cmocka_unit_test(test_network_errors_name_the_key),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
