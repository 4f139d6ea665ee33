/* Task roles: berthd.json's "roles" and "roleCredentialsFile" (creds/roles.c). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/json.h"
#include "common/xalloc.h"
#include "runtime/creds/roles.h"

#define POLICY "{\"Version\": \"2012-10-17\", \"Statement\": [{\"Effect\": \"Allow\", " \
	       "\"Action\": \"ecs:Describe*\", \"Resource\": \"*\"}]}"

static int parse(const char *roles, const char *file, struct creds_roles *out, char **msg)
{
	cleanup_json json_t *r = roles ? json_loads(roles, 0, NULL) : NULL;
	cleanup_json json_t *f = file ? json_string(file) : NULL;
	struct berr *err = NULL;
	int rc;

	assert_true(!roles || r);
	rc = creds_roles_parse(r, f, out, &err);
	*msg = rc < 0 ? xstrdup(berr_msg(err)) : NULL;
	berr_free(err);
	return rc;
}

static void expect_error(const char *roles, const char *file, const char *want)
{
	struct creds_roles r;
	cleanup_free char *msg = NULL;

	if (parse(roles, file, &r, &msg) == 0)
		fail_msg("accepted: %s", roles);
	if (!strstr(msg, want))
		fail_msg("%s\n  error: %s\n  wanted: %s", roles, msg, want);
	assert_int_equal(r.n, 0);
	assert_null(r.v);
}

static void test_parse(void **state)
{
	struct creds_roles r;
	cleanup_free char *msg = NULL;
	const struct creds_role *o;

	(void)state;
	assert_int_equal(parse("[{\"roleArn\": \"arn:aws:iam::123456789012:role/web\", \"policies\": [" POLICY
			       ", " POLICY "]},"
			       " {\"roleArn\": \"arn:aws:iam::123456789012:role/team-a/svc/reader\","
			       "  \"source\": \"berth\", \"durationSeconds\": 900},"
			       " {\"roleArn\": \"arn:aws-cn:iam::123456789012:role/s3\", \"source\": \"static\"}]",
			       "/etc/berth/role-credentials.json", &r, &msg), 0);
	assert_int_equal(r.n, 3);
	assert_string_equal(r.static_file, "/etc/berth/role-credentials.json");
	o = creds_roles_find(&r, "arn:aws:iam::123456789012:role/web");
	assert_non_null(o);
	assert_int_equal(o->source, CREDS_SOURCE_BERTH);
	assert_int_equal(o->n_policies, 2);
	assert_int_equal(o->duration, 6 * 3600);
	assert_string_equal(o->name, "web");
	o = creds_roles_find(&r, "arn:aws:iam::123456789012:role/team-a/svc/reader");
	assert_non_null(o);
	assert_string_equal(o->name, "reader");
	assert_int_equal(o->duration, 900);
	assert_int_equal(o->n_policies, 0);
	/* no policies: everything implicitly denied */
	assert_int_equal(creds_role_authorize(o, "ecs:DescribeTasks", "*", NULL), CREDS_DENY_IMPLICIT);
	o = creds_roles_find(&r, "arn:aws:iam::123456789012:role/web");
	assert_int_equal(creds_role_authorize(o, "ecs:DescribeTasks", "*", NULL), CREDS_ALLOW);
	assert_int_equal(creds_role_authorize(o, "ecs:RunTask", "*", NULL), CREDS_DENY_IMPLICIT);
	o = creds_roles_find(&r, "arn:aws-cn:iam::123456789012:role/s3");
	assert_int_equal(o->source, CREDS_SOURCE_STATIC);
	assert_false(o->have_keys);
	assert_null(creds_roles_find(&r, "arn:aws:iam::123456789012:role/WEB"));   /* case matters */
	assert_null(creds_roles_find(&r, NULL));
	creds_roles_free(&r);

	/* none at all */
	assert_int_equal(parse(NULL, NULL, &r, &msg), 0);
	assert_int_equal(r.n, 0);
	assert_int_equal(parse("[]", NULL, &r, &msg), 0);
	creds_roles_free(&r);
}

static void test_parse_errors(void **state)
{
	(void)state;
	expect_error("{}", NULL, "roles: expected an array, got object");
	expect_error("[1]", NULL, "roles[0]: expected object");
	expect_error("[{}]", NULL, "roles[0].roleArn");
	expect_error("[{\"roleArn\": \"web\"}]", NULL,
		     "roles[0].roleArn: \"web\" is not a role ARN (arn:aws:iam::ACCOUNT:role/NAME): does not start");
	expect_error("[{\"roleArn\": \"arn:aws:iam::12345678901:role/web\"}]", NULL, "not 12 digits");
	expect_error("[{\"roleArn\": \"arn:aws:iam:us-east-1:123456789012:role/web\"}]", NULL,
		     "the region is not empty");
	expect_error("[{\"roleArn\": \"arn:aws:sts::123456789012:role/web\"}]", NULL, "not iam");
	expect_error("[{\"roleArn\": \"arn:aws:iam::123456789012:user/web\"}]", NULL, "not role/NAME");
	expect_error("[{\"roleArn\": \"arn:aws:iam::123456789012:role/\"}]", NULL, "role name");
	expect_error("[{\"roleArn\": \"arn:aws:iam::123456789012:role/a b\"}]", NULL, "role name");
	expect_error("[{\"roleArn\": \"arn:aws:iam::123456789012:role/"
		     "a123456789a123456789a123456789a123456789a123456789a123456789abcde\"}]", NULL, "role name");
	expect_error("[{\"roleArn\": \"arn::iam::123456789012:role/web\"}]", NULL, "partition");
	expect_error("[{\"roleArn\": \"arn:aws:iam::123456789012:role/web\", \"policy\": {}}]", NULL,
		     "roles[0].policy: unknown key");
	expect_error("[{\"roleArn\": \"arn:aws:iam::123456789012:role/web\"},"
		     " {\"roleArn\": \"arn:aws:iam::123456789012:role/web\"}]", NULL,
		     "roles[1].roleArn: \"arn:aws:iam::123456789012:role/web\" is defined twice (also roles[0])");
	expect_error("[{\"roleArn\": \"arn:aws:iam::123456789012:role/web\", \"source\": \"process\"}]", NULL,
		     "roles[0].source: \"process\" (an operator's STS broker) is not supported yet");
	expect_error("[{\"roleArn\": \"arn:aws:iam::123456789012:role/web\", \"source\": \"sts\"}]", NULL,
		     "roles[0].source: \"sts\": expected");
	expect_error("[{\"roleArn\": \"arn:aws:iam::123456789012:role/web\", \"source\": \"static\"}]", NULL,
		     "static roles need \"roleCredentialsFile\"");
	expect_error("[{\"roleArn\": \"arn:aws:iam::123456789012:role/web\", \"source\": \"static\","
		     " \"policies\": [" POLICY "]}]", "/f", "roles[0].policies: a static role's keys are AWS's");
	expect_error("[{\"roleArn\": \"arn:aws:iam::123456789012:role/web\", \"durationSeconds\": 59}]", NULL,
		     "durationSeconds");
	expect_error("[{\"roleArn\": \"arn:aws:iam::123456789012:role/web\", \"durationSeconds\": 43201}]",
		     NULL, "durationSeconds");
	expect_error("[{\"roleArn\": \"arn:aws:iam::123456789012:role/web\", \"policies\": ["
		     "{\"Version\": \"2012-10-17\", \"Statement\": [{\"Effect\": \"allow\", \"Action\": \"*\","
		     " \"Resource\": \"*\"}]}]}]", NULL, "roles[0].policies[0].Statement[0].Effect");
	expect_error("[{\"roleArn\": \"arn:aws:iam::123456789012:role/web\", \"policies\": ["
		     POLICY "," POLICY "," POLICY "," POLICY "," POLICY "," POLICY "," POLICY "," POLICY ","
		     POLICY "," POLICY "," POLICY "]}]", NULL, "11 policies, at most 10");
	expect_error("[]", "relative/path", "roleCredentialsFile: \"relative/path\" is not an absolute path");
}

/* ------------------------------------------------------- static keys file */

static char *write_file(const char *dir, const char *text, mode_t mode)
{
	char *p = xasprintf("%s/role-credentials.json", dir);
	int fd;

	unlink(p);
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	assert_true(fd >= 0);
	assert_int_equal(fs_write_all(fd, text, strlen(text)), 0);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
	return p;
}

#define STATIC_ROLES "[{\"roleArn\": \"arn:aws:iam::123456789012:role/s3\", \"source\": \"static\"}," \
		     " {\"roleArn\": \"arn:aws:iam::123456789012:role/web\"}]"

static void expect_load(const char *dir, const char *text, mode_t mode, const char *want)
{
	cleanup_free char *path = write_file(dir, text, mode);
	struct creds_roles r;
	cleanup_free char *msg = NULL;
	struct berr *err = NULL;
	int rc;

	assert_int_equal(parse(STATIC_ROLES, path, &r, &msg), 0);
	rc = creds_roles_load_static(&r, &err);
	if (want) {
		assert_int_equal(rc < 0, 1);
		if (!strstr(berr_msg(err), want))
			fail_msg("%s\n  error: %s\n  wanted: %s", text, berr_msg(err), want);
		/* the secret never appears in an error */
		assert_null(strstr(berr_msg(err), "wJalrXUtnFEMI"));
	} else {
		const struct creds_role *o;

		if (rc < 0)
			fail_msg("%s", berr_msg(err));
		o = creds_roles_find(&r, "arn:aws:iam::123456789012:role/s3");
		assert_true(o->have_keys);
		assert_string_equal(o->keys.access_key_id, "AKIAIOSFODNN7EXAMPLE");
		assert_string_equal(o->keys.secret_access_key, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
	}
	berr_free(err);
	creds_roles_free(&r);
}

static void test_static_file(void **state)
{
	char tmpl[] = "/tmp/berth-test-roles-XXXXXX";
	struct berr *err = NULL;
	const char *good = "{\"arn:aws:iam::123456789012:role/s3\": {\"AccessKeyId\": \"AKIAIOSFODNN7EXAMPLE\","
			   " \"SecretAccessKey\": \"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\"}}";

	(void)state;
	assert_non_null(mkdtemp(tmpl));
	expect_load(tmpl, good, 0600, NULL);
	expect_load(tmpl, good, 0400, NULL);
	expect_load(tmpl, good, 0640, "mode 0640 lets others read or write it: chmod 600 it");
	expect_load(tmpl, good, 0604, "mode 0604");
	expect_load(tmpl, "{}", 0600, "no keys for static role \"arn:aws:iam::123456789012:role/s3\"");
	expect_load(tmpl, "[]", 0600, "expected an object");
	expect_load(tmpl, "{\"arn:aws:iam::123456789012:role/s4\": {}}", 0600,
		    "\"arn:aws:iam::123456789012:role/s4\": no such role in \"roles\"");
	expect_load(tmpl, "{\"arn:aws:iam::123456789012:role/web\": {\"AccessKeyId\": \"AKIAIOSFODNN7EXAMPLE\","
		    " \"SecretAccessKey\": \"wJalrXUtnFEMI\"}}", 0600, "the role's source is \"berth\", not \"static\"");
	expect_load(tmpl, "{\"arn:aws:iam::123456789012:role/s3\": {\"AccessKeyId\": \"akia-lower\","
		    " \"SecretAccessKey\": \"wJalrXUtnFEMI\"}}", 0600, "AccessKeyId: expected 16-128 upper-case");
	expect_load(tmpl, "{\"arn:aws:iam::123456789012:role/s3\": {\"AccessKeyId\": \"AKIAIOSFODNN7EXAMPLE\","
		    " \"SecretAccessKey\": \"wJalrXUtnFEMI\", \"Expiration\": 1}}", 0600, "Expiration: unknown key");
	expect_load(tmpl, "{\"arn:aws:iam::123456789012:role/s3\": {\"AccessKeyId\": \"AKIAIOSFODNN7EXAMPLE\"}}",
		    0600, "SecretAccessKey");
	expect_load(tmpl, "{not json", 0600, "role-credentials.json");
	/* a symlink to a good file is refused */
	{
		cleanup_free char *real = write_file(tmpl, good, 0600);
		cleanup_free char *real2 = xasprintf("%s/real.json", tmpl);
		cleanup_free char *msg = NULL;
		struct creds_roles r;

		assert_int_equal(rename(real, real2), 0);
		assert_int_equal(symlink(real2, real), 0);
		assert_int_equal(parse(STATIC_ROLES, real, &r, &msg), 0);
		assert_true(creds_roles_load_static(&r, &err) < 0);
		assert_int_equal(err->code, ELOOP);
		berr_clear(&err);
		creds_roles_free(&r);
	}
	/* missing */
	{
		cleanup_free char *msg = NULL;
		struct creds_roles r;

		assert_int_equal(parse(STATIC_ROLES, "/nonexistent/berth-roles.json", &r, &msg), 0);
		assert_true(creds_roles_load_static(&r, &err) < 0);
		assert_non_null(strstr(berr_msg(err), "/nonexistent/berth-roles.json"));
		berr_clear(&err);
		creds_roles_free(&r);
	}
	assert_int_equal(fs_rm_rf_at(AT_FDCWD, tmpl, &err), 0);
}

static void test_arn_valid(void **state)
{
	const char *why = NULL;

	(void)state;
	assert_true(creds_role_arn_valid("arn:aws:iam::123456789012:role/a", NULL));
	assert_true(creds_role_arn_valid("arn:aws-us-gov:iam::123456789012:role/p/q/Name+=,.@_-", NULL));
	assert_false(creds_role_arn_valid("arn:aws:iam::123456789012:role/p/q/", &why));
	assert_non_null(why);
	assert_false(creds_role_arn_valid("arn:aws:iam::123456789012:role/p\x01/n", &why));
	assert_non_null(strstr(why, "path"));
	assert_false(creds_role_arn_valid("arn:AWS:iam::123456789012:role/n", &why));
	assert_false(creds_role_arn_valid("arn:aws:iam::123456789012", &why));
	assert_false(creds_role_arn_valid("", &why));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_static_file),
		cmocka_unit_test(test_arn_valid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
