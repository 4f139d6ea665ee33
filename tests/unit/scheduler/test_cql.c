/* tests/unit/scheduler/test_cql.c - the cluster query language: which
 * instances of a small fixed cluster each expression selects, and the exact
 * error (position and text) for each invalid one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/error.h"
#include "scheduler/cql.h"
#include "scheduler/model.h"

/* The fixture:
 *  0 i-a  us-east-1a t2.small   linux   stack=prod cores=4  agent 1.14.5 reg 2018-01-10       2 x service:production
 *  1 i-b  us-east-1b t2.medium  linux   stack=dev  cores=16 agent 1.9.0  reg 2018-03-01T12:00Z disconnected
 *  2 i-c  us-east-1d g2.2xlarge linux   flag(no value) cores=8 agent 1.20.0 reg 2019-06-18 1 x database
 *  3 i-d  us-east-1a m5.large   windows                     no agent version, reg 2020-02-02T10:00:00+02:00 */
static struct sched_cluster *fixture(void)
{
	struct sched_cluster *cl = sched_cluster_new(1);
	static const char *const n0[] = { "ecs.availability-zone", "ecs.instance-type", "ecs.os-type", "stack", "cores" };
	static const char *const v0[] = { "us-east-1a", "t2.small", "linux", "prod", "4" };
	static const char *const v1[] = { "us-east-1b", "t2.medium", "linux", "dev", "16" };
	static const char *const n2[] = { "ecs.availability-zone", "ecs.instance-type", "ecs.os-type", "flag", "cores" };
	static const char *const v2[] = { "us-east-1d", "g2.2xlarge", "linux", NULL, "8" };
	static const char *const n3[] = { "ecs.availability-zone", "ecs.instance-type", "ecs.os-type" };
	static const char *const v3[] = { "us-east-1a", "m5.large", "windows" };
	struct sched_instance_spec specs[] = {
		{ .id = "arn:aws:ecs:local:0:container-instance/c/a", .ec2_id = "i-abcd1234", .agent_version = "1.14.5",
		  .cpu = 2048, .memory = 4096, .attr_names = n0, .attr_values = v0, .nattrs = 5 },
		{ .id = "arn:aws:ecs:local:0:container-instance/c/b", .ec2_id = "i-wxyz7890", .agent_version = "1.9.0",
		  .cpu = 2048, .memory = 4096, .attr_names = n0, .attr_values = v1, .nattrs = 5,
		  .agent_disconnected = true },
		{ .id = "arn:aws:ecs:local:0:container-instance/c/c", .ec2_id = "i-c", .agent_version = "1.20.0",
		  .cpu = 2048, .memory = 4096, .attr_names = n2, .attr_values = v2, .nattrs = 5 },
		{ .id = "arn:aws:ecs:local:0:container-instance/c/d", .ec2_id = "i-d",
		  .cpu = 2048, .memory = 4096, .attr_names = n3, .attr_values = v3, .nattrs = 3 },
	};
	struct berr *err = NULL;

	assert_true(sched_cql_parse_time("2018-01-10", &specs[0].registered_at));
	assert_true(sched_cql_parse_time("2018-03-01T12:00:00Z", &specs[1].registered_at));
	assert_true(sched_cql_parse_time("2019-06-18", &specs[2].registered_at));
	assert_true(sched_cql_parse_time("2020-02-02T10:00:00+02:00", &specs[3].registered_at));
	for (size_t i = 0; i < 4; i++) {
		uint32_t idx;

		assert_int_equal(sched_cluster_add_instance(cl, &specs[i], &idx, &err), 0);
		assert_int_equal(idx, i);
	}
	struct sched_task_spec t1 = { .id = "t1", .group = "service:production", .cpu = 10, .memory = 10 };
	struct sched_task_spec t2 = { .id = "t2", .group = "service:production", .cpu = 10, .memory = 10 };
	struct sched_task_spec t3 = { .id = "t3", .group = "database", .cpu = 10, .memory = 10 };
	assert_int_equal(sched_cluster_add_task(cl, 0, &t1, &err), 0);
	assert_int_equal(sched_cluster_add_task(cl, 0, &t2, &err), 0);
	assert_int_equal(sched_cluster_add_task(cl, 2, &t3, &err), 0);
	return cl;
}

/* which of the 4 instances match, as "1010" */
static void match_set(struct sched_cluster *cl, const char *expr, char out[5])
{
	struct sched_cql *q = NULL;
	struct berr *err = NULL;

	if (sched_cql_compile(expr, &q, &err) < 0)
		fail_msg("%s: %s", expr, berr_msg(err));
	for (uint32_t i = 0; i < 4; i++)
		out[i] = sched_cql_eval(q, cl, i) ? '1' : '0';
	out[4] = '\0';
	sched_cql_free(q);
}

static const struct {
	const char *expr, *want;
} valid[] = {
	/* the ECS documentation's examples */
	{ "attribute:ecs.instance-type == t2.small", "1000" },
	{ "attribute:ecs.availability-zone in [us-east-1a, us-east-1b]", "1101" },
	{ "attribute:ecs.instance-type =~ g2.* and attribute:ecs.availability-zone != us-east-1d", "0000" },
	{ "attribute:ecs.instance-type =~ t2.* and attribute:ecs.availability-zone != us-east-1d", "1100" },
	{ "task:group == service:production", "1000" },
	{ "not(task:group == database)", "1101" },
	{ "runningTasksCount == 1", "0010" },
	{ "agentVersion < 1.14.5", "0100" },
	{ "registeredAt < 2018-02-13", "1000" },
	{ "ec2InstanceId in ['i-abcd1234', 'i-wxyz7890']", "1100" },
	{ "attribute:stack == prod", "1000" },
	{ "attribute:stack != prod", "0100" },            /* needs the attribute */
	{ "attribute:ecs.instance-type in [t2.small, t2.medium]", "1100" },
	/* word operators, case of keywords */
	{ "attribute:stack equals prod", "1000" },
	{ "attribute:stack not_equals prod", "0100" },
	{ "attribute:stack EQUALS prod", "1000" },
	{ "attribute:flag exists", "0010" },
	{ "attribute:flag !exists", "1101" },
	{ "attribute:flag not_exists", "1101" },
	{ "attribute:stack exists AND attribute:cores > 5", "0100" },
	{ "attribute:ecs.availability-zone not_in [us-east-1a]", "0110" },
	{ "attribute:ecs.availability-zone !in [us-east-1a, us-east-1d]", "0100" },
	{ "attribute:ecs.availability-zone in (us-east-1b, us-east-1d)", "0110" },
	{ "attribute:ecs.instance-type matches 't2\\..*'", "1100" },
	{ "attribute:ecs.instance-type !~ t2.*", "0011" },
	{ "attribute:ecs.instance-type not_matches '(t2|g2)\\..*'", "0001" },
	{ "attribute:ecs.instance-type =~ t2", "0000" },   /* whole value */
	{ "attribute:ecs.availability-zone =~ 'us-east-1\\w'", "1111" },
	{ "attribute:ecs.instance-type =~ '[a-z]\\d\\.large'", "0001" },
	/* numbers compare as numbers, other values as strings */
	{ "attribute:cores > 5", "0110" },
	{ "attribute:cores >= 8", "0110" },
	{ "attribute:cores <= 8", "1010" },
	{ "attribute:cores less_than 16", "1010" },
	{ "attribute:stack > dev", "1000" },
	{ "attribute:flag == x", "0000" },                /* no value: no comparison holds */
	{ "attribute:nosuch != x", "0000" },
	{ "attribute:nosuch !exists", "1111" },
	/* agentConnected */
	{ "agentConnected == true", "1011" },
	{ "agentConnected == FALSE", "0100" },
	{ "agentConnected != true", "0100" },
	{ "agentConnected in [false]", "0100" },
	{ "agentConnected =~ 'f.*'", "0100" },
	/* agentVersion: numeric parts; an instance without a version matches nothing */
	{ "agentVersion >= 1.14", "1010" },
	{ "agentVersion > 1.9.0", "1010" },
	{ "agentVersion == 1.14.5", "1000" },
	{ "agentVersion != 1.14.5", "0110" },
	/* registeredAt formats and zones */
	{ "registeredAt >= 2018-03-01T12:00:00Z", "0111" },
	{ "registeredAt > 2018-03-01T12:00:00", "0011" },
	{ "registeredAt == 2020-02-02T08:00:00Z", "0001" },
	{ "registeredAt == 2020-02-02T09:00:00+01:00", "0001" },
	/* runningTasksCount */
	{ "runningTasksCount > 0", "1010" },
	{ "runningTasksCount greater_than_equal 2", "1000" },
	{ "runningTasksCount == 0 || runningTasksCount == 2", "1101" },
	/* ec2InstanceId */
	{ "ec2InstanceId == i-c", "0010" },
	{ "ec2InstanceId =~ 'i-[a-z]{4}[0-9]{4}'", "1100" },
	{ "ec2InstanceId not_in [i-c, i-d]", "1100" },
	/* task:group: some task on the instance is in a matching group */
	{ "task:group exists", "1010" },
	{ "task:group !exists", "0101" },
	{ "task:group in [database, web]", "0010" },
	{ "task:group =~ 'service:.*'", "1000" },
	{ "task:group != database", "1000" },
	{ "!(task:group == database)", "1101" },
	/* boolean structure and precedence: and binds tighter than or */
	{ "attribute:stack == prod or attribute:stack == dev and agentConnected == true", "1000" },
	{ "(attribute:stack == prod or attribute:stack == dev) and agentConnected == true", "1000" },
	{ "(attribute:stack == prod || attribute:stack == dev) && !(agentConnected == true)", "0100" },
	{ "not not attribute:stack == prod", "1000" },
	{ "not (attribute:ecs.os-type == windows or attribute:flag exists)", "1100" },
	{ "  attribute:stack==prod  ", "1000" },
	{ "attribute:stack==prod&&attribute:cores==4", "1000" },
	{ "attribute:ecs.availability-zone in [ us-east-1a ,us-east-1d ]", "1011" },
	{ "attribute:stack == \"prod\"", "1000" },
	{ "ec2InstanceId == 'i-abcd1234' || ec2InstanceId == \"i-d\"", "1001" },
};

static void test_valid(void **state)
{
	struct sched_cluster *cl = fixture();
	char got[5];
	int bad = 0;

	for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
		match_set(cl, valid[i].expr, got);
		if (strcmp(got, valid[i].want) != 0) {
			print_error("%s: got %s, want %s\n", valid[i].expr, got, valid[i].want);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
	sched_cluster_free(cl);
}

static const struct {
	const char *expr, *msg;
} invalid[] = {
	{ "attribute:ecs.instance-type t2.small",
	  "at 29: expected an operator after \"attribute:ecs.instance-type\", got \"t2.small\"" },
	{ "", "empty expression" },
	{ "   ", "empty expression" },
	{ "attribute:stack ==", "at 19: expected a value after \"==\", got the end of the expression" },
	{ "attribute:stack == prod and", "at 28: expected a subject (attribute:NAME, agentConnected, agentVersion, "
	  "ec2InstanceId, registeredAt, runningTasksCount or task:group), got the end of the expression" },
	{ "colour == red", "at 1: unknown subject (expected attribute:NAME, agentConnected, agentVersion, "
	  "ec2InstanceId, registeredAt, runningTasksCount or task:group), got \"colour\"" },
	{ "AgentConnected == true", "at 1: unknown subject (subjects are case-sensitive: agentConnected), got \"AgentConnected\"" },
	{ "Attribute:stack == prod", "at 1: unknown subject (subjects are case-sensitive: attribute:stack), got \"Attribute:stack\"" },
	{ "attribute: == x", "at 11: attribute name: 1-128 of letters, digits and -_/.\\, got \"\"" },
	{ "attribute:a$b == x", "at 11: attribute name: 1-128 of letters, digits and -_/.\\, got \"a$b\"" },
	{ "attribute:stack in prod", "at 20: expected a list [a, b, ...] after \"in\", got \"prod\"" },
	{ "attribute:stack in [a, b", "at 25: expected \",\" or \"]\" in the list, got the end of the expression" },
	{ "attribute:stack in [a b]", "at 23: expected \",\" or \"]\" in the list, got \"b\"" },
	{ "attribute:stack in []", "at 21: expected a value after \"in\", got \"]\"" },
	{ "attribute:stack in [a,]", "at 23: expected a value after \",\", got \"]\"" },
	{ "attribute:stack == [a]", "at 20: a list is only valid after in and not_in; expected a value after \"==\", got \"[\"" },
	{ "attribute:stack == 'prod", "at 20: unterminated quoted value, got \"'prod\"" },
	{ "agentConnected == maybe", "at 19: agentConnected takes true or false, got \"maybe\"" },
	{ "agentConnected > true", "at 16: operator > is not valid for agentConnected, got \">\"" },
	{ "agentVersion =~ 1.*", "at 14: operator =~ is not valid for agentVersion, got \"=~\"" },
	{ "agentVersion < one", "at 16: agentVersion takes a version like 1.14.5, got \"one\"" },
	{ "registeredAt < yesterday", "at 16: registeredAt takes a date: 2018-06-18T22:28:28+00:00, "
	  "2018-06-18T22:28:28Z, 2018-06-18T22:28:28 or 2018-06-18, got \"yesterday\"" },
	{ "registeredAt < 2018-02-30", "at 16: registeredAt takes a date: 2018-06-18T22:28:28+00:00, "
	  "2018-06-18T22:28:28Z, 2018-06-18T22:28:28 or 2018-06-18, got \"2018-02-30\"" },
	{ "runningTasksCount == -1", "at 22: runningTasksCount takes a whole number, got \"-1\"" },
	{ "runningTasksCount == 1.5", "at 22: runningTasksCount takes a whole number, got \"1.5\"" },
	{ "runningTasksCount exists", "at 19: operator exists is not valid for runningTasksCount, got \"exists\"" },
	{ "ec2InstanceId > i-a", "at 15: operator > is not valid for ec2InstanceId, got \">\"" },
	{ "attribute:x =~ '(a'", "at 16: invalid regular expression (" },   /* prefix: regerror text follows */
	{ "attribute:x =~ 'a++'", "at 16: regular expression: a quantifier after a quantifier, got \"'a++'\"" },
	{ "attribute:x =~ 'a+?'", "at 16: regular expression: a quantifier after a quantifier, got \"'a+?'\"" },
	/* fuzz_cql: glibc repeats an unbalanced ) by its quantifiers (gigabytes for 40 +'s) */
	{ "attribute:x =~ 'a)++++++++++++++++++++++++++++++++++++++++'",
	  "at 16: regular expression: a quantifier after a quantifier, got \"'a)++++++++++++++++++++++++++++++++++++++++'\"" },
	{ "attribute:x =~ '++++++++++++++++++++++++++++++++++++++++a'",
	  "at 16: regular expression: a quantifier after a quantifier, got \"'++++++++++++++++++++++++++++++++++++++++a'\"" },
	{ "attribute:x =~ '(a{100}){200}'", "at 16: regular expression: too large once its repetitions are expanded, got \"'(a{100}){200}'\"" },
	{ "attribute:x =~ (a|b)", "at 16: a list is only valid after in and not_in; expected a value after \"=~\", got \"(\"" },
	{ "attribute:x =~ 'a{256}'", "at 16: regular expression: a bad {m,n} (at most 255), got \"'a{256}'\"" },
	{ "attribute:x =~ '[\\D]'", "at 16: regular expression: negated class inside [] is not supported, got \"'[\\\\D]'\"" },
	{ "attribute:x == a )", "at 18: unbalanced \")\", got \")\"" },
	{ "(attribute:x == a", "at 18: expected \")\" to close the \"(\" at 1, got the end of the expression" },
	{ "attribute:x == a b", "at 18: expected \"and\", \"or\" or the end, got \"b\"" },
	{ "attribute:x == a andattribute:y == b", "at 18: expected \"and\", \"or\" or the end, got \"andattribute:y\"" },
	{ "not", "at 4: expected a subject (attribute:NAME, agentConnected, agentVersion, ec2InstanceId, "
	  "registeredAt, runningTasksCount or task:group), got the end of the expression" },
	{ "attribute:x === a", "at 17: expected \"and\", \"or\" or the end, got \"a\"" },   /* the value is "=" */
	{ "attribute:x == a || ", "at 21: expected a subject (attribute:NAME, agentConnected, agentVersion, "
	  "ec2InstanceId, registeredAt, runningTasksCount or task:group), got the end of the expression" },
};

static void test_invalid(void **state)
{
	int bad = 0;

	for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
		struct sched_cql *q = NULL;
		struct berr *err = NULL;
		int r = sched_cql_compile(invalid[i].expr, &q, &err);

		if (r >= 0) {
			print_error("%s: compiled, want an error\n", invalid[i].expr);
			sched_cql_free(q);
			bad++;
			continue;
		}
		assert_null(q);
		assert_int_equal(r, -22);
		/* the message, without the ": Invalid argument" strerror tail */
		if (strncmp(berr_msg(err), invalid[i].msg, strlen(invalid[i].msg)) != 0) {
			print_error("%s:\n  got  %s\n  want %s\n", invalid[i].expr, berr_msg(err), invalid[i].msg);
			bad++;
		}
		berr_free(err);
	}
	assert_int_equal(bad, 0);
}

static void test_limits(void **state)
{
	struct sched_cql *q = NULL;
	struct berr *err = NULL;
	char *big = malloc(SCHED_CQL_MAX_LEN + 2);
	size_t n;

	/* exactly 2000 characters: accepted */
	n = (size_t)snprintf(big, SCHED_CQL_MAX_LEN + 2, "attribute:x == %0*d", SCHED_CQL_MAX_LEN - 15, 7);
	assert_int_equal(n, SCHED_CQL_MAX_LEN);
	assert_int_equal(sched_cql_compile(big, &q, &err), 0);
	sched_cql_free(q);
	strcat(big, "7");
	assert_true(sched_cql_compile(big, &q, &err) < 0);
	assert_string_equal(berr_msg(err), "expression is 2001 characters long, the limit is 2000: Invalid argument");
	berr_clear(&err);
	free(big);

	/* nesting */
	char deep[400] = "";
	for (int i = 0; i < SCHED_CQL_MAX_DEPTH - 1; i++)
		strcat(deep, "(");
	strcat(deep, "attribute:x exists");
	for (int i = 0; i < SCHED_CQL_MAX_DEPTH - 1; i++)
		strcat(deep, ")");
	assert_int_equal(sched_cql_compile(deep, &q, &err), 0);
	sched_cql_free(q);
	char deeper[400] = "(";
	strcat(deeper, deep);
	strcat(deeper, ")");
	assert_true(sched_cql_compile(deeper, &q, &err) < 0);
	assert_non_null(strstr(berr_msg(err), "nested deeper than 64"));
	berr_clear(&err);
}

static void test_dynamic_and_rebind(void **state)
{
	struct sched_cluster *cl = fixture();
	struct sched_cql *q = NULL, *s = NULL;
	struct berr *err = NULL;

	assert_int_equal(sched_cql_compile("attribute:stack == qa or task:group == web", &q, &err), 0);
	assert_true(sched_cql_dynamic(q));
	assert_int_equal(sched_cql_compile("attribute:stack == qa", &s, &err), 0);
	assert_false(sched_cql_dynamic(s));
	/* "qa" and "web" are not in the cluster yet */
	for (uint32_t i = 0; i < 4; i++)
		assert_false(sched_cql_eval(q, cl, i));
	/* once they appear, the compiled query sees them */
	assert_int_equal(sched_cluster_put_attribute(cl, 3, "stack", "qa", &err), 0);
	assert_true(sched_cql_eval(q, cl, 3));
	assert_true(sched_cql_eval(s, cl, 3));
	struct sched_task_spec t = { .id = "w1", .group = "web" };
	assert_int_equal(sched_cluster_add_task(cl, 1, &t, &err), 0);
	assert_true(sched_cql_eval(q, cl, 1));
	assert_int_equal(sched_cluster_remove_task(cl, "w1", &err), 0);
	assert_false(sched_cql_eval(q, cl, 1));
	sched_cluster_delete_attribute(cl, 3, "stack");
	assert_false(sched_cql_eval(s, cl, 3));
	/* the same query on another cluster */
	struct sched_cluster *other = fixture();
	assert_false(sched_cql_eval(s, other, 3));
	assert_int_equal(sched_cluster_put_attribute(other, 0, "stack", "qa", &err), 0);
	assert_true(sched_cql_eval(s, other, 0));
	assert_false(sched_cql_eval(s, cl, 0));
	sched_cql_free(q);
	sched_cql_free(s);
	sched_cluster_free(other);
	sched_cluster_free(cl);
}

static void test_time_and_version(void **state)
{
	int64_t t;

	assert_true(sched_cql_parse_time("1970-01-01", &t));
	assert_int_equal(t, 0);
	assert_true(sched_cql_parse_time("2018-06-18T22:28:28+00:00", &t));
	assert_int_equal(t, 1529360908);
	assert_true(sched_cql_parse_time("2018-06-18T22:28:28Z", &t));
	assert_int_equal(t, 1529360908);
	assert_true(sched_cql_parse_time("2018-06-19T00:28:28+02:00", &t));
	assert_int_equal(t, 1529360908);
	assert_false(sched_cql_parse_time("2018-6-18", &t));
	assert_false(sched_cql_parse_time("2018-06-18T22:28", &t));
	assert_false(sched_cql_parse_time("2018-06-18 22:28:28", &t));
	assert_false(sched_cql_parse_time("2018-13-01", &t));

	assert_true(sched_cql_version_cmp("1.14.5", "1.9.0") > 0);
	assert_true(sched_cql_version_cmp("1.9", "1.9.0") == 0);
	assert_true(sched_cql_version_cmp("1.9.1", "1.9") > 0);
	assert_true(sched_cql_version_cmp("v2.0", "1.99") > 0);
	assert_true(sched_cql_version_cmp("1.2.3", "1.2.4") < 0);
}

static void test_attr_rules(void **state)
{
	assert_true(sched_attr_name_valid("ecs.availability-zone"));
	assert_true(sched_attr_name_valid("a/b\\c_d"));
	assert_false(sched_attr_name_valid(""));
	assert_false(sched_attr_name_valid("a b"));
	assert_false(sched_attr_name_valid("a:b"));
	char name[130];
	memset(name, 'n', 128);
	name[128] = '\0';
	assert_true(sched_attr_name_valid(name));
	strcat(name, "n");
	assert_false(sched_attr_name_valid(name));
	assert_true(sched_attr_value_valid("us-east-1a"));
	assert_true(sched_attr_value_valid("a b:c@d"));
	assert_false(sched_attr_value_valid(" lead"));
	assert_false(sched_attr_value_valid("trail "));
	assert_false(sched_attr_value_valid("semi;colon"));
	assert_false(sched_attr_value_valid(""));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_dynamic_and_rebind),
		cmocka_unit_test(test_time_and_version),
		cmocka_unit_test(test_attr_rules),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
