/* runtime/creds/secrets.h - task secrets: names, references, and the hand-over
 * from berthd to berth-shim (docs/credentials.md, "Secrets").
 *
 * berthd keeps secrets encrypted in its database (runtime/daemon/secretbox.h
 * has the encryption: it needs libcrypto, which berth-shim and the CLI must
 * not load, so it lives in berthd's library, not here). A container
 * definition's secrets[] = [{name, valueFrom}] name them:
 *
 *   valueFrom                                             looks up     action
 *   NAME or /a/b (a Parameter Store name)                 NAME, /a/b   ssm:GetParameters
 *   arn:aws:ssm:R:A:parameter/NAME                        NAME         ssm:GetParameters
 *   arn:aws:ssm:R:A:parameter/a/b                         /a/b         ssm:GetParameters
 *   arn:aws:secretsmanager:R:A:secret:NAME[-XXXXXX]       NAME         secretsmanager:GetSecretValue
 *   ...:secret:NAME[-XXXXXX]:JSON_KEY:VERSION_STAGE:VERSION_ID (the value must be a JSON
 *                                                         object; its member JSON_KEY)
 *
 * berth has one namespace of secret names for both shapes. When berthd
 * starts a task, it resolves every container's secrets and hands the values
 * to berth-shim in a sealed memfd (never a file); the shim adds them to the
 * container's environment. Nothing in this header ever prints a value. */
#ifndef BERTH_RUNTIME_CREDS_SECRETS_H
#define BERTH_RUNTIME_CREDS_SECRETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

struct task_def;

/* A secret's name: 1-512 of [A-Za-z0-9/_+=.@-] (Secrets Manager's rule). */
#define SECRET_NAME_MAX 512
/* A value: at most 64 KiB (Secrets Manager's SecretString limit; Parameter
 * Store's standard tier allows 4 KiB, its advanced tier 8 KiB). */
#define SECRET_VALUE_MAX 65536
/* valueFrom: at most this many bytes. */
#define SECRET_REF_MAX 2048
/* The random part of a secret's ARN (Secrets Manager's "-AbCdEf"). */
#define SECRET_ARN_SUFFIX_LEN 6

#define SECRET_ACTION_ASM "secretsmanager:GetSecretValue"
#define SECRET_ACTION_SSM "ssm:GetParameters"

/* Is name a valid secret name? When not, *why (if not NULL) is a static
 * reason. */
bool secret_name_valid(const char *name, const char **why);
/* Is name an environment variable name berth sets: 1-255 bytes, no '=',
 * no control characters or spaces? */
bool secret_env_name_valid(const char *name);

enum secret_ref_kind {
	SECRET_REF_SSM,      /* a Parameter Store name or ARN */
	SECRET_REF_ASM,      /* a Secrets Manager ARN */
};

struct secret_ref {
	enum secret_ref_kind kind;
	/* SSM: the secret's name. ASM: the ARN's name part as written, which
	 * may end with the ARN's "-XXXXXX" (the lookup tries it both ways). */
	char *name;
	char *region;        /* from an ARN; NULL for a plain name */
	char *account;
	char *json_key;      /* ASM json-key, or NULL */
};

/* Parse a valueFrom. Errors say what is wrong with it ("\"arn:aws:s3:::x\"
 * is not a Secrets Manager or SSM Parameter Store ARN ..."); version
 * stages other than AWSCURRENT and version ids are refused as not
 * supported yet. */
int secret_ref_parse(const char *value_from, struct secret_ref *out, struct berr **err);
void secret_ref_free(struct secret_ref *r);
/* SECRET_ACTION_SSM or SECRET_ACTION_ASM. */
const char *secret_ref_action(const struct secret_ref *r);

/* arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-SUFFIX (xmalloc'd). */
char *secret_arn(const char *region, const char *account, const char *name, const char *suffix);
/* arn:aws:ssm:REGION:ACCOUNT:parameter/NAME, NAME without a leading '/'
 * (as Parameter Store writes the ARN of "/a/b"). */
char *secret_ssm_arn(const char *region, const char *account, const char *name);
/* SECRET_ARN_SUFFIX_LEN random letters and digits and a NUL. */
void secret_arn_suffix(char out[SECRET_ARN_SUFFIX_LEN + 1]);

/* A value berth can store and put in an environment: at most
 * SECRET_VALUE_MAX bytes, no NUL byte. Errors never quote the value. */
int secret_value_check(const char *value, size_t len, struct berr **err);

/* The member `key` of value (a JSON object): a string as it is, anything
 * else as compact JSON. *out is xmalloc'd and NUL-terminated. Errors name
 * the key, never the value. */
int secret_json_key(const char *value, size_t len, const char *key, char **out, size_t *out_len,
		    struct berr **err);

/* ---- berthd -> berth-shim ---- */

/* The values for one task: records of (container name, variable name,
 * value), each as u16 length + bytes, u16 + bytes, u32 + bytes, after the
 * magic "berth-secrets 1\n". */
struct secret_payload {
	char *buf;
	size_t len, cap;
};

void secret_payload_add(struct secret_payload *p, const char *container, const char *env,
			const char *value, size_t value_len);
/* Wipe and free. */
void secret_payload_wipe(struct secret_payload *p);
/* A sealed memfd (no write, grow, shrink; close-on-exec) holding p, at
 * offset 0: the fd, or negative with *err. */
int secret_payload_memfd(const struct secret_payload *p, struct berr **err);
/* berth-shim: read the payload (fd at offset 0, at most max bytes) and set
 * td->containers[].secrets[].value from it. Every secret of td must get a
 * value and every record must name one: anything else is an error naming
 * the container and variable. The read buffer is wiped. */
int secret_payload_apply_fd(struct task_def *td, int fd, struct berr **err);
int secret_payload_apply(struct task_def *td, const char *buf, size_t len, struct berr **err);

/* Bytes of payload berth-shim reads at most. */
#define SECRET_PAYLOAD_MAX (16u << 20)

#endif
