/* tests/unit/runtime/test_secrets.c - runtime/creds/secrets.c: secret names,
 * valueFrom references (Parameter Store names and ARNs, Secrets Manager
 * ARNs with json-key), limits, json-key extraction, and the payload berthd
 * hands berth-shim (encode, sealed memfd, apply to a task definition).
 * The encryption at rest is tested with berthd's library
 * (tests/unit/daemon/test_secretbox.c). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/cleanup.h"
#include "common/error.h"
#include "common/xalloc.h"
#include "runtime/creds/secrets.h"
#include "runtime/task/task.h"

static void test_names(void **state)
{
	char big[SECRET_NAME_MAX + 2];
	const char *why = NULL;

	(void)state;
	assert_true(secret_name_valid("db-pass", NULL));
	assert_true(secret_name_valid("prod/db/pass+x=y.z@w_-", NULL));
	assert_true(secret_name_valid("/a/b", NULL));
	assert_false(secret_name_valid("", &why));
	assert_string_equal(why, "empty");
	assert_false(secret_name_valid("a b", &why));
	assert_false(secret_name_valid("a:b", &why));
	assert_false(secret_name_valid("a\nb", &why));
	memset(big, 'a', SECRET_NAME_MAX);
	big[SECRET_NAME_MAX] = '\0';
	assert_true(secret_name_valid(big, NULL));
	big[SECRET_NAME_MAX] = 'a';
	big[SECRET_NAME_MAX + 1] = '\0';
	assert_false(secret_name_valid(big, &why));
	assert_string_equal(why, "longer than 512 bytes");

	assert_true(secret_env_name_valid("DB_PASS"));
	assert_true(secret_env_name_valid("my.var-1"));
	assert_false(secret_env_name_valid(""));
	assert_false(secret_env_name_valid("A=B"));
	assert_false(secret_env_name_valid("A B"));
	assert_false(secret_env_name_valid("A\tB"));
}

struct ref_case {
	const char *in;
	enum secret_ref_kind kind;
	const char *name, *region, *account, *json_key;
};

static void test_refs(void **state)
{
	static const struct ref_case ok[] = {
		{ "db", SECRET_REF_SSM, "db", NULL, NULL, NULL },
		{ "/prod/db", SECRET_REF_SSM, "/prod/db", NULL, NULL, NULL },
		{ "arn:aws:ssm:us-east-1:123456789012:parameter/db", SECRET_REF_SSM, "db",
		  "us-east-1", "123456789012", NULL },
		/* Parameter Store writes the ARN of "/prod/db" as parameter/prod/db */
		{ "arn:aws:ssm:eu-west-1:123456789012:parameter/prod/db", SECRET_REF_SSM, "/prod/db",
		  "eu-west-1", "123456789012", NULL },
		{ "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf", SECRET_REF_ASM,
		  "db-AbCdEf", "us-east-1", "123456789012", NULL },
		{ "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db", SECRET_REF_ASM,
		  "prod/db", "us-east-1", "123456789012", NULL },
		{ "arn:aws:secretsmanager:us-east-1:123456789012:secret:db:username::", SECRET_REF_ASM,
		  "db", "us-east-1", "123456789012", "username" },
		{ "arn:aws:secretsmanager:us-east-1:123456789012:secret:db:::", SECRET_REF_ASM,
		  "db", "us-east-1", "123456789012", NULL },
		{ "arn:aws:secretsmanager:us-east-1:123456789012:secret:db:k:AWSCURRENT:",
		  SECRET_REF_ASM, "db", "us-east-1", "123456789012", "k" },
	};
	static const struct { const char *in, *msg; } bad[] = {
		{ "", "empty" },
		{ "a b", "is not a Parameter Store name" },
		{ "a+b", "a Parameter Store name has only letters, digits and /_.-" },
		{ "a/b", "a Parameter Store path starts with '/'" },
		{ "/a//b", "no empty component" },
		{ "/a/", "no empty component" },
		{ "arn:aws:s3:::bucket", "is not a Secrets Manager or SSM Parameter Store ARN" },
		{ "arn:aws:ssm:us-east-1:1:parameter/x", "12-digit account" },
		{ "arn:aws:ssm::123456789012:parameter/x", "needs a region" },
		{ "arn:aws:ssm:us-east-1:123456789012:document/x", "is not a Parameter Store ARN" },
		{ "arn:aws:ssm:us-east-1:123456789012:parameter/", "is not a Parameter Store ARN" },
		{ "arn:aws:secretsmanager:us-east-1:123456789012:db", "is not a Secrets Manager "
		  "secret ARN" },
		{ "arn:aws:secretsmanager:us-east-1:123456789012:secret:db:k", "is not a Secrets "
		  "Manager secret ARN" },
		{ "arn:aws:secretsmanager:us-east-1:123456789012:secret:db:k:AWSPREVIOUS:",
		  "version stages other than AWSCURRENT are not supported yet" },
		{ "arn:aws:secretsmanager:us-east-1:123456789012:secret:db:::0123-4567",
		  "pinning a version is not supported yet" },
		{ "arn:aws:secretsmanager:us-east-1:123456789012:secret:a b", "secret name \"a b\" is "
		  "not valid" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct secret_ref r;
		struct berr *err = NULL;

		if (secret_ref_parse(ok[i].in, &r, &err) < 0)
			fail_msg("%s: %s", ok[i].in, berr_msg(err));
		assert_int_equal(r.kind, ok[i].kind);
		assert_string_equal(r.name, ok[i].name);
		if (ok[i].region) {
			assert_string_equal(r.region, ok[i].region);
			assert_string_equal(r.account, ok[i].account);
		} else {
			assert_null(r.region);
			assert_null(r.account);
		}
		if (ok[i].json_key)
			assert_string_equal(r.json_key, ok[i].json_key);
		else
			assert_null(r.json_key);
		assert_string_equal(secret_ref_action(&r), ok[i].kind == SECRET_REF_ASM ?
				    "secretsmanager:GetSecretValue" : "ssm:GetParameters");
		secret_ref_free(&r);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct secret_ref r;
		struct berr *err = NULL;

		if (secret_ref_parse(bad[i].in, &r, &err) == 0)
			fail_msg("%s: accepted", bad[i].in);
		if (!strstr(berr_msg(err), bad[i].msg))
			fail_msg("%s: \"%s\" lacks \"%s\"", bad[i].in, berr_msg(err), bad[i].msg);
		assert_null(r.name);
		berr_clear(&err);
	}
	{
		/* too long */
		cleanup_free char *big = xmalloc(SECRET_REF_MAX + 2);
		struct secret_ref r;
		struct berr *err = NULL;

		memset(big, 'a', SECRET_REF_MAX + 1);
		big[SECRET_REF_MAX + 1] = '\0';
		assert_true(secret_ref_parse(big, &r, &err) < 0);
		assert_non_null(strstr(berr_msg(err), "longer than 2048 bytes"));
		berr_clear(&err);
	}
}

static void test_arns(void **state)
{
	cleanup_free char *a = secret_arn("us-east-1", "123456789012", "prod/db", "AbCdEf");
	cleanup_free char *s1 = secret_ssm_arn("us-east-1", "123456789012", "/prod/db");
	cleanup_free char *s2 = secret_ssm_arn("us-east-1", "123456789012", "db");
	char sfx[SECRET_ARN_SUFFIX_LEN + 1], sfx2[SECRET_ARN_SUFFIX_LEN + 1];
	struct secret_ref r;
	struct berr *err = NULL;

	(void)state;
	assert_string_equal(a, "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf");
	assert_string_equal(s1, "arn:aws:ssm:us-east-1:123456789012:parameter/prod/db");
	assert_string_equal(s2, "arn:aws:ssm:us-east-1:123456789012:parameter/db");
	/* both round-trip through the parser to the same name */
	assert_int_equal(secret_ref_parse(s1, &r, &err), 0);
	assert_string_equal(r.name, "/prod/db");
	secret_ref_free(&r);
	assert_int_equal(secret_ref_parse(a, &r, &err), 0);
	assert_string_equal(r.name, "prod/db-AbCdEf");
	secret_ref_free(&r);
	secret_arn_suffix(sfx);
	secret_arn_suffix(sfx2);
	assert_int_equal(strlen(sfx), SECRET_ARN_SUFFIX_LEN);
	assert_int_equal(strspn(sfx, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"),
			 SECRET_ARN_SUFFIX_LEN);
	/* 36 random bits: two equal ones would be a broken generator */
	assert_string_not_equal(sfx, sfx2);
}

static void test_value_limits(void **state)
{
	cleanup_free char *v = xmalloc(SECRET_VALUE_MAX + 1);
	struct berr *err = NULL;

	(void)state;
	memset(v, 'x', SECRET_VALUE_MAX + 1);
	assert_int_equal(secret_value_check(v, SECRET_VALUE_MAX, &err), 0);
	assert_int_equal(secret_value_check(v, 0, &err), 0);
	assert_true(secret_value_check(v, SECRET_VALUE_MAX + 1, &err) < 0);
	assert_string_equal(berr_msg(err), "65537 bytes, at most 65536 are allowed");
	berr_clear(&err);
	v[5] = '\0';
	assert_true(secret_value_check(v, 10, &err) < 0);
	assert_non_null(strstr(berr_msg(err), "NUL byte"));
	/* never the value */
	assert_null(strstr(berr_msg(err), "xxxxx"));
	berr_clear(&err);
}

static void test_json_key(void **state)
{
	static const char doc[] = "{\"user\":\"admin\",\"port\":5432,\"o\":{\"a\":[1,true]},"
				  "\"pw\":\"s3cr3t-PW\"}";
	struct berr *err = NULL;
	char *out = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(secret_json_key(doc, strlen(doc), "user", &out, &len, &err), 0);
	assert_string_equal(out, "admin");
	assert_int_equal(len, 5);
	free(out);
	assert_int_equal(secret_json_key(doc, strlen(doc), "port", &out, &len, &err), 0);
	assert_string_equal(out, "5432");
	free(out);
	assert_int_equal(secret_json_key(doc, strlen(doc), "o", &out, &len, &err), 0);
	assert_string_equal(out, "{\"a\":[1,true]}");
	free(out);
	assert_true(secret_json_key(doc, strlen(doc), "nope", &out, &len, &err) < 0);
	assert_null(out);
	assert_string_equal(berr_msg(err), "json key \"nope\" is not in the secret's value");
	berr_clear(&err);
	/* not JSON, or not an object: the message does not show the value */
	assert_true(secret_json_key("s3cr3t-PW", 9, "k", &out, &len, &err) < 0);
	assert_null(strstr(berr_msg(err), "s3cr3t"));
	berr_clear(&err);
	assert_true(secret_json_key("[\"s3cr3t-PW\"]", 13, "k", &out, &len, &err) < 0);
	assert_null(strstr(berr_msg(err), "s3cr3t"));
	berr_clear(&err);
	assert_true(secret_json_key("{\"k\":\"a\\u0000b\"}", 16, "k", &out, &len, &err) < 0);
	assert_non_null(strstr(berr_msg(err), "NUL byte"));
	berr_clear(&err);
}

/* Two containers: web {A, B}, side {A}. */
static struct task_def *two_containers(void)
{
	static const char doc[] =
		"{\"family\":\"f\",\"memory\":\"512\",\"containerDefinitions\":["
		"{\"name\":\"web\",\"image\":\"x\",\"secrets\":[{\"name\":\"A\",\"valueFrom\":\"a\"},"
		"{\"name\":\"B\",\"valueFrom\":\"arn:aws:secretsmanager:us-east-1:123456789012:"
		"secret:b:k::\"}]},"
		"{\"name\":\"side\",\"image\":\"x\",\"secrets\":[{\"name\":\"A\",\"valueFrom\":\"c\"}]}]}";
	struct task_def *td = NULL;
	struct berr *err = NULL;

	if (task_def_parse(doc, strlen(doc), "t", TASK_MODE_EC2, &td, &err) < 0)
		fail_msg("%s", berr_msg(err));
	return td;
}

static void test_payload(void **state)
{
	struct secret_payload p = { 0 };
	struct task_def *td = two_containers();
	struct berr *err = NULL;
	char buf[16];
	int fd;

	(void)state;
	secret_payload_add(&p, "web", "A", "value-a", 7);
	/* a value with newlines, '=' and bytes above 0x7f travels unchanged */
	secret_payload_add(&p, "web", "B", "l1\nl2=\xc3\xa9", 8);
	secret_payload_add(&p, "side", "A", "", 0);
	fd = secret_payload_memfd(&p, &err);
	if (fd < 0)
		fail_msg("%s", berr_msg(err));
	/* sealed: no write, no resize */
	assert_true(write(fd, "x", 1) < 0);
	assert_true(ftruncate(fd, 0) < 0);
	assert_int_equal(fcntl(fd, F_GET_SEALS) & (F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK |
						 F_SEAL_SEAL),
			 F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	if (secret_payload_apply_fd(td, fd, &err) < 0)
		fail_msg("%s", berr_msg(err));
	assert_string_equal(td->containers[0].secrets[0].value, "value-a");
	assert_int_equal(td->containers[0].secrets[1].value_len, 8);
	assert_memory_equal(td->containers[0].secrets[1].value, "l1\nl2=\xc3\xa9", 9);
	assert_string_equal(td->containers[1].secrets[0].value, "");
	/* the fd was read with pread: still at offset 0, for nobody else */
	assert_int_equal(read(fd, buf, sizeof(buf)), sizeof(buf));
	close(fd);
	task_def_free(td);
	secret_payload_wipe(&p);
	assert_null(p.buf);
	assert_int_equal(p.len, 0);
}

static void apply_fails(const struct secret_payload *p, const char *msg)
{
	struct task_def *td = two_containers();
	struct berr *err = NULL;

	assert_true(secret_payload_apply(td, p->buf ? p->buf : "", p->len, &err) < 0);
	if (!strstr(berr_msg(err), msg))
		fail_msg("\"%s\" lacks \"%s\"", berr_msg(err), msg);
	/* no value in a message */
	assert_null(strstr(berr_msg(err), "SECRETVAL"));
	berr_clear(&err);
	task_def_free(td);
}

static void test_payload_errors(void **state)
{
	struct secret_payload p = { 0 };

	(void)state;
	apply_fails(&p, "not a payload of this berth");
	/* one secret missing */
	secret_payload_add(&p, "web", "A", "SECRETVAL", 9);
	secret_payload_add(&p, "web", "B", "SECRETVAL", 9);
	apply_fails(&p, "container side: no value for secret A");
	/* a secret the definition does not have */
	secret_payload_add(&p, "side", "Z", "SECRETVAL", 9);
	apply_fails(&p, "record 2: container side has no secret \"Z\"");
	secret_payload_wipe(&p);
	secret_payload_add(&p, "nope", "A", "SECRETVAL", 9);
	apply_fails(&p, "the task has no container \"nope\"");
	secret_payload_wipe(&p);
	secret_payload_add(&p, "web", "A", "SECRETVAL", 9);
	secret_payload_add(&p, "web", "A", "SECRETVAL", 9);
	apply_fails(&p, "secret A given twice");
	secret_payload_wipe(&p);
	secret_payload_add(&p, "web", "A", "SECRET\0VAL", 10);
	apply_fails(&p, "NUL byte");
	secret_payload_wipe(&p);
	/* cut short anywhere: every prefix of a good payload fails */
	secret_payload_add(&p, "web", "A", "SECRETVAL", 9);
	secret_payload_add(&p, "web", "B", "SECRETVAL", 9);
	secret_payload_add(&p, "side", "A", "SECRETVAL", 9);
	{
		size_t full = p.len;

		for (size_t n = 17; n < full; n++) {
			struct task_def *td = two_containers();
			struct berr *err = NULL;

			assert_true(secret_payload_apply(td, p.buf, n, &err) < 0);
			assert_null(strstr(berr_msg(err), "SECRETVAL"));
			berr_clear(&err);
			task_def_free(td);
		}
		{
			struct task_def *td = two_containers();
			struct berr *err = NULL;

			assert_int_equal(secret_payload_apply(td, p.buf, full, &err), 0);
			task_def_free(td);
		}
	}
	secret_payload_wipe(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_refs),
		cmocka_unit_test(test_arns),
		cmocka_unit_test(test_value_limits),
		cmocka_unit_test(test_json_key),
		cmocka_unit_test(test_payload),
		cmocka_unit_test(test_payload_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
