/* fuzz_secret_ref: containerDefinitions[].secrets[].valueFrom
 * (secret_ref_parse, runtime/creds/secrets.h), the payload berth-shim
 * reads (secret_payload_apply) and json-key extraction (secret_json_key).
 *
 * The first byte picks the target; the rest is the input (a valueFrom up to
 * the first NUL, a payload, or a JSON value with the key "k").
 * Invariants: no crash or leak; a refused valueFrom leaves the struct
 * zeroed; an accepted one has a valid secret name, a region and a
 * 12-digit account exactly when it is an ARN, a json-key only for Secrets
 * Manager; a Parameter Store reference's name survives the trip through
 * secret_ssm_arn and back, and a Secrets Manager one through secret_arn's
 * shape; a payload either fills every secret of the task or is refused;
 * json-key output holds no NUL byte. */
#include "common/error.h"
#include "common/xalloc.h"
#include "runtime/creds/secrets.h"
#include "runtime/task/task.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
	if (!ok)
		abort();
}

static bool zeroed(const void *p, size_t n)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < n; i++)
		if (c[i])
			return false;
	return true;
}

static void fuzz_ref(const char *s)
{
	struct secret_ref r;
	struct berr *err = NULL;

	if (secret_ref_parse(s, &r, &err) < 0) {
		check(err != NULL);
		check(zeroed(&r, sizeof(r)));
		berr_free(err);
		return;
	}
	check(r.name && secret_name_valid(r.name, NULL));
	check(!r.region == !r.account);
	check(!!r.region == !strncmp(s, "arn:", 4));
	if (r.account)
		check(strlen(r.account) == 12 && strspn(r.account, "0123456789") == 12);
	if (r.json_key)
		check(r.kind == SECRET_REF_ASM && *r.json_key);
	if (r.kind == SECRET_REF_SSM) {
		char *arn = secret_ssm_arn("us-east-1", "123456789012", r.name);
		struct secret_ref back;

		check(secret_ref_parse(arn, &back, NULL) == 0);
		/* "/x" and "x" have the same ARN, parameter/x, which names "x" */
		check(back.kind == SECRET_REF_SSM &&
		      !strcmp(back.name, r.name[0] == '/' && !strchr(r.name + 1, '/') ? r.name + 1
											: r.name));
		secret_ref_free(&back);
		free(arn);
	} else {
		char *arn = xasprintf("arn:aws:secretsmanager:us-east-1:123456789012:secret:%s",
				      r.name);
		struct secret_ref back;

		check(secret_ref_parse(arn, &back, NULL) == 0);
		check(back.kind == SECRET_REF_ASM && !strcmp(back.name, r.name) && !back.json_key);
		secret_ref_free(&back);
		free(arn);
	}
	secret_ref_free(&r);
}

static void fuzz_payload(const uint8_t *data, size_t size)
{
	static const char doc[] =
		"{\"family\":\"f\",\"memory\":\"512\",\"containerDefinitions\":["
		"{\"name\":\"web\",\"image\":\"x\",\"secrets\":[{\"name\":\"A\",\"valueFrom\":\"a\"},"
		"{\"name\":\"B\",\"valueFrom\":\"b\"}]},"
		"{\"name\":\"db\",\"image\":\"x\",\"secrets\":[{\"name\":\"A\",\"valueFrom\":\"c\"}]}]}";
	struct task_def *td = NULL;
	struct berr *err = NULL;

	if (task_def_parse(doc, strlen(doc), "t", TASK_MODE_EC2, &td, NULL) < 0)
		abort();
	if (secret_payload_apply(td, (const char *)data, size, &err) == 0) {
		for (size_t i = 0; i < td->n_containers; i++)
			for (size_t j = 0; j < td->containers[i].n_secrets; j++) {
				const struct task_secret *s = &td->containers[i].secrets[j];

				check(s->value && s->value[s->value_len] == '\0' &&
				      strlen(s->value) == s->value_len &&
				      s->value_len <= SECRET_VALUE_MAX);
			}
	} else {
		check(err != NULL);
		berr_free(err);
	}
	task_def_free(td);
}

static void fuzz_json_key(const uint8_t *data, size_t size)
{
	struct berr *err = NULL;
	char *out = NULL;
	size_t len = 0;

	if (secret_json_key((const char *)data, size, "k", &out, &len, &err) == 0) {
		check(out && strlen(out) == len);
		free(out);
	} else {
		check(!out && err);
		berr_free(err);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	if (size < 1)
		return 0;
	switch (data[0] % 3) {
	case 0:
		s = xstrndup((const char *)data + 1, size - 1);
		fuzz_ref(s);
		free(s);
		break;
	case 1:
		fuzz_payload(data + 1, size - 1);
		break;
	default:
		fuzz_json_key(data + 1, size - 1);
		break;
	}
	return 0;
}
