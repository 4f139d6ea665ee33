/* runtime/daemon/api_secret.c - secrets: berth's operations BerthV1.PutSecret,
 * ListSecrets and DeleteSecret, and their resolution when a task starts
 * (docs/credentials.md, "Secrets"; docs/berthd.md has the shapes).
 *
 * A value arrives in PutSecret, is encrypted at once (secretbox.h) and only
 * its ciphertext reaches the store. It is decrypted again only when berthd
 * starts a task whose containers name it, after the task's execution role
 * was allowed to read it, and goes to berth-shim in a sealed memfd. No
 * response, error or log line of this file carries a value. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/error.h"
#include "common/json.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "runtime/creds/secrets.h"
#include "runtime/daemon/api.h"
#include "runtime/daemon/authz.h"
#include "runtime/daemon/daemon.h"
#include "runtime/daemon/secretbox.h"
#include "runtime/daemon/store.h"
#include "runtime/shim/shim.h"
#include "runtime/task/task.h"

#define SECRETS_LIST_DEFAULT 100
#define SECRETS_LIST_MAX 100
#define DESCRIPTION_MAX 2048

/* ECS's stoppedReason for secrets that cannot be had */
#define INIT_ERROR "ResourceInitializationError: unable to pull secrets or registry auth: "

static int host_key(struct berthd *d, uint8_t key[SECRETBOX_KEY_LEN], struct berr **err)
{
	if (!d->have_host_key)
		return berr_set(err, 0, "berthd has no host key (hostKeyFile): secrets cannot be "
				"encrypted or decrypted");
	secretbox_key(d->host_key, key);
	return 0;
}

/* `name`: a secret name, or the ARN of one of berth's secrets
 * (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-XXXXXX, also without
 * the suffix). *out borrows from in or is xmalloc'd into *owned. */
static int name_param(struct berthd *d, json_t *in, const char **out, char **owned,
		      struct api_error *e)
{
	const char *s = NULL, *why = NULL;
	struct secret_ref ref;
	cleanup_berr struct berr *err = NULL;

	*owned = NULL;
	if (api_get_string(in, "name", true, &s, e) < 0)
		return -1;
	if (!strncmp(s, "arn:", 4)) {
		if (secret_ref_parse(s, &ref, &err) < 0 || ref.kind != SECRET_REF_ASM || ref.json_key) {
			if (!err)
				berr_set(&err, 0, "\"%s\" is not the ARN of a secret", berr_q(s));
			secret_ref_free(&ref);
			api_fail(e, "InvalidParameterException", "name: %s", berr_msg(err));
			return -1;
		}
		if (strcmp(ref.region, d->cfg.region) || strcmp(ref.account, d->cfg.account_id)) {
			api_fail(e, "InvalidParameterException", "name: \"%s\" is not an ARN of this "
				 "region and account (%s, %s)", berr_q(s), d->cfg.region,
				 d->cfg.account_id);
			secret_ref_free(&ref);
			return -1;
		}
		*owned = steal_pointer(&ref.name);
		secret_ref_free(&ref);
		*out = *owned;
		return 0;
	}
	if (!secret_name_valid(s, &why)) {
		api_fail(e, "InvalidParameterException", "name: \"%s\" is not a valid secret name "
			 "(%s; 1-512 letters, digits and /_+=.@-)", berr_q(s), why);
		return -1;
	}
	*out = s;
	return 0;
}

/* The secret an ARN's name part names: the name as written, or, when it
 * ends with "-XXXXXX", the name without it if that secret's ARN is the one
 * written. 1 with *sec, 0 none, negative on a store error. */
static int lookup_asm(struct berthd *d, const char *name, struct store_secret *sec,
		      struct berr **err)
{
	size_t n = strlen(name);
	cleanup_free char *base = NULL;
	const char *tail;
	int r;

	if ((r = store_secret_get(d->st, name, sec, err)) != 0)
		return r;
	if (n <= SECRET_ARN_SUFFIX_LEN + 1 || name[n - SECRET_ARN_SUFFIX_LEN - 1] != '-')
		return 0;
	base = xstrndup(name, n - SECRET_ARN_SUFFIX_LEN - 1);
	if ((r = store_secret_get(d->st, base, sec, err)) <= 0)
		return r;
	tail = strstr(sec->arn, ":secret:");
	if (tail && !strcmp(tail + 8, name))
		return 1;
	store_secret_clear(sec);
	return 0;
}

/* ------------------------------------------------------------ operations */

/* PutSecret {name, value, description?}
 *   -> {name, arn, version, createdDate, lastChangedDate, created} */
json_t *api_berth_put_secret(struct berthd *d, json_t *in, struct api_error *e)
{
	cleanup_berr struct berr *err = NULL;
	cleanup_free char *owned = NULL;
	struct store_secret sec = { 0 }, old = { 0 };
	uint8_t key[SECRETBOX_KEY_LEN];
	const char *name = NULL, *desc = NULL;
	json_t *v, *out = NULL;
	char suffix[SECRET_ARN_SUFFIX_LEN + 1];
	int64_t version = 0;
	double now = api_now();
	size_t len;
	int r;

	if (name_param(d, in, &name, &owned, e) < 0)
		return NULL;
	v = json_object_get(in, "value");
	if (!v || json_is_null(v))
		return api_fail(e, "InvalidParameterException", "value: required (a string; berth "
				"secret put reads it from a file or standard input)");
	if (!json_is_string(v))
		return api_fail(e, "InvalidParameterException", "value: expected string, got %s",
				bjson_type_name(v));
	len = json_string_length(v);
	if (secret_value_check(json_string_value(v), len, &err) < 0)
		return api_fail(e, "InvalidParameterException", "value: %s", berr_msg(err));
	if (api_get_string(in, "description", false, &desc, e) < 0)
		return NULL;
	if (desc && strlen(desc) > DESCRIPTION_MAX)
		return api_fail(e, "InvalidParameterException", "description: %zu bytes, at most %d "
				"are allowed", strlen(desc), DESCRIPTION_MAX);
	if (host_key(d, key, &err) < 0)
		return api_fail_berr(e, &err, "put secret %s", name);
	if ((r = store_secret_get(d->st, name, &old, &err)) < 0) {
		explicit_bzero(key, sizeof(key));
		return api_fail_berr(e, &err, "put secret %s", name);
	}
	sec.name = xstrdup(name);
	if (r > 0) {
		sec.arn = xstrdup(old.arn);
		sec.created = old.created;
	} else {
		secret_arn_suffix(suffix);
		sec.arn = secret_arn(d->cfg.region, d->cfg.account_id, name, suffix);
		sec.created = now;
	}
	sec.updated = now;
	sec.description = desc ? xstrdup(desc) : NULL;
	r = secretbox_seal(key, name, json_string_value(v), len, sec.nonce, &sec.ct, &sec.ct_len,
			   &err);
	explicit_bzero(key, sizeof(key));
	if (r < 0 || store_secret_put(d->st, &sec, &version, &err) < 0) {
		api_fail_berr(e, &err, "put secret %s", name);
		goto out;
	}
	log_info("secret %s: %s (version %lld)", name, old.name ? "updated" : "created",
		 (long long)version);
	out = json_pack("{s:s, s:s, s:I, s:f, s:f, s:b}", "name", name, "arn", sec.arn,
			"version", (json_int_t)version, "createdDate", sec.created,
			"lastChangedDate", sec.updated, "created", old.name == NULL);
out:
	/* the request body is the caller's, but nothing reads it after the
	 * handler: do not leave the value in freed memory */
	explicit_bzero((char *)json_string_value(v), len);
	store_secret_clear(&sec);
	store_secret_clear(&old);
	return out;
}

/* ListSecrets {maxResults?, nextToken?} -> {secrets: [...], nextToken?} */
json_t *api_berth_list_secrets(struct berthd *d, json_t *in, struct api_error *e)
{
	cleanup_berr struct berr *err = NULL;
	cleanup_free char *after = NULL;
	json_t *items = NULL, *out;
	int64_t limit;
	bool more = false;

	if (api_page_start(in, SECRETS_LIST_DEFAULT, SECRETS_LIST_MAX, &after, &limit, e) < 0)
		return NULL;
	if (store_secret_list(d->st, &(struct store_page){ .after = after, .limit = limit }, &items,
			      &more, &err) < 0)
		return api_fail_berr(e, &err, "list secrets");
	out = json_pack("{s:o}", "secrets", items);
	if (more && json_array_size(items)) {
		const char *last = json_string_value(json_object_get(
			json_array_get(items, json_array_size(items) - 1), "name"));

		cleanup_free char *tok = api_page_token(last);

		json_object_set_new(out, "nextToken", json_string(tok));
	}
	return out;
}

/* DeleteSecret {name} -> {name, arn, deletionDate} */
json_t *api_berth_delete_secret(struct berthd *d, json_t *in, struct api_error *e)
{
	cleanup_berr struct berr *err = NULL;
	cleanup_free char *owned = NULL;
	struct store_secret sec = { 0 };
	const char *name = NULL;
	json_t *out;
	int r;

	if (name_param(d, in, &name, &owned, e) < 0)
		return NULL;
	if (owned)
		r = lookup_asm(d, name, &sec, &err);
	else
		r = store_secret_get(d->st, name, &sec, &err);
	if (r < 0)
		return api_fail_berr(e, &err, "delete secret %s", name);
	if (r == 0)
		return api_fail(e, "ResourceNotFoundException", "secret %s not found", name);
	if ((r = store_secret_delete(d->st, sec.name, &err)) < 0) {
		store_secret_clear(&sec);
		return api_fail_berr(e, &err, "delete secret %s", name);
	}
	log_info("secret %s: deleted", sec.name);
	out = json_pack("{s:s, s:s, s:f}", "name", sec.name, "arn", sec.arn, "deletionDate",
			api_now());
	store_secret_clear(&sec);
	return out;
}

/* ------------------------------------------------------------ resolution */

int api_secret_authorize_role(void *ctx, const char *role_arn, const char *action,
			      const char *resource_arn, char **why)
{
	return berthd_role_authorize(ctx, role_arn, action, resource_arn, why);
}

/* One secret of one container into p. Errors are the stoppedReason. */
static int resolve_one(struct berthd *d, const struct task_def *td, const struct task_container *ct,
		       size_t j, const uint8_t key[SECRETBOX_KEY_LEN],
		       api_secret_authorize_fn authorize, void *actx, struct secret_payload *p,
		       struct berr **err)
{
	const struct task_secret *ts = &ct->secrets[j];
	struct secret_ref ref;
	struct store_secret sec = { 0 };
	cleanup_berr struct berr *e2 = NULL;
	cleanup_free char *where = xasprintf("container %s: secrets[%zu] (%s)", ct->name, j, ts->name);
	cleanup_free char *resource = NULL, *why = NULL;
	char *value = NULL, *part = NULL;
	size_t len = 0, plen = 0;
	const char *svc;
	int r;

	if (secret_ref_parse(ts->value_from, &ref, &e2) < 0)
		return berr_set(err, 0, INIT_ERROR "%s: valueFrom: %s", where, berr_msg(e2));
	svc = ref.kind == SECRET_REF_ASM ? "unable to retrieve secret from asm"
					 : "unable to retrieve secrets from ssm";
	if (ref.region && (strcmp(ref.region, d->cfg.region) || strcmp(ref.account, d->cfg.account_id))) {
		r = berr_set(err, 0, INIT_ERROR "%s: %s: %s is in region %s, account %s; berth's "
			     "secrets are in %s, %s", svc, where, ts->value_from, ref.region,
			     ref.account, d->cfg.region, d->cfg.account_id);
		goto out;
	}
	if (!td->execution_role_arn) {
		r = berr_set(err, 0, INIT_ERROR "%s: %s: the task definition has no executionRoleArn "
			     "(the role that must be allowed to read its secrets)", svc, where);
		goto out;
	}
	if (ref.kind == SECRET_REF_ASM)
		r = lookup_asm(d, ref.name, &sec, &e2);
	else
		r = store_secret_get(d->st, ref.name, &sec, &e2);
	if (r < 0) {
		r = berr_set(err, 0, INIT_ERROR "%s: %s: %s", svc, where, berr_msg(e2));
		goto out;
	}
	/* the resource the role must be allowed: the secret's ARN, or the one
	 * written when there is no such secret (so that a denial comes first,
	 * as in AWS, and tells nothing about which names exist) */
	if (ref.kind == SECRET_REF_SSM)
		resource = secret_ssm_arn(d->cfg.region, d->cfg.account_id, ref.name);
	else if (r > 0)
		resource = xstrdup(sec.arn);
	else
		resource = xasprintf("arn:aws:secretsmanager:%s:%s:secret:%s", d->cfg.region,
				     d->cfg.account_id, ref.name);
	if (authorize(actx, td->execution_role_arn, secret_ref_action(&ref), resource, &why) != 0) {
		r = berr_set(err, 0, INIT_ERROR "%s: %s: AccessDeniedException: %s is not authorized to "
			     "perform: %s on resource: %s%s%s", svc, where, td->execution_role_arn,
			     secret_ref_action(&ref), resource, why ? ": " : "", why ? why : "");
		goto out;
	}
	if (r == 0) {
		if (ref.kind == SECRET_REF_ASM)
			r = berr_set(err, 0, INIT_ERROR "%s: %s: ResourceNotFoundException: Secrets "
				     "Manager can't find the specified secret (%s)", svc, where,
				     ts->value_from);
		else
			r = berr_set(err, 0, INIT_ERROR "%s: %s: invalid parameters: %s", svc, where,
				     ref.name);
		goto out;
	}
	if (secretbox_open(key, sec.name, sec.nonce, sec.ct, sec.ct_len, &value, &len, &e2) < 0) {
		r = berr_set(err, 0, INIT_ERROR "%s: %s: %s", svc, where, berr_msg(e2));
		goto out;
	}
	if (ref.json_key) {
		if (secret_json_key(value, len, ref.json_key, &part, &plen, &e2) < 0) {
			r = berr_set(err, 0, INIT_ERROR "%s: %s: secret %s: %s", svc, where, sec.name,
				     berr_msg(e2));
			goto out;
		}
		secret_payload_add(p, ct->name, ts->name, part, plen);
	} else {
		secret_payload_add(p, ct->name, ts->name, value, len);
	}
	r = 0;
out:
	if (value) {
		explicit_bzero(value, len);
		free(value);
	}
	if (part) {
		explicit_bzero(part, plen);
		free(part);
	}
	store_secret_clear(&sec);
	secret_ref_free(&ref);
	return r;
}

int api_secret_resolve(struct berthd *d, const struct task_def *td,
		       api_secret_authorize_fn authorize, void *actx, struct secret_payload *out,
		       struct berr **err)
{
	uint8_t key[SECRETBOX_KEY_LEN];
	bool any = false;
	int r = 0;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < td->n_containers; i++)
		any |= td->containers[i].n_secrets > 0;
	if (!any)
		return 0;
	if (host_key(d, key, err) < 0)
		return berr_wrap(err, INIT_ERROR "secrets");
	for (size_t i = 0; i < td->n_containers && r == 0; i++)
		for (size_t j = 0; j < td->containers[i].n_secrets && r == 0; j++)
			r = resolve_one(d, td, &td->containers[i], j, key, authorize, actx, out, err);
	explicit_bzero(key, sizeof(key));
	if (r < 0)
		secret_payload_wipe(out);
	return r;
}

int api_secret_task_fd(struct berthd *d, const json_t *config, api_secret_authorize_fn authorize,
		       void *actx, int *fd, struct berr **err)
{
	cleanup_free char *text = bjson_dumps(config);
	cleanup_berr struct berr *perr = NULL;
	struct shim_config cfg;
	struct task_def *td = NULL;
	struct secret_payload p = { 0 };
	int r;

	*fd = -1;
	shim_config_init(&cfg);
	/* the task definition exactly as the shim will read it; one it cannot
	 * read has no secrets to resolve: the shim refuses it with its own
	 * error, as for any other task */
	if (shim_config_parse(SHIM_CONFIG_FILE, text, strlen(text), &cfg, &perr) < 0 ||
	    shim_config_task(&cfg, SHIM_CONFIG_FILE, &td, &perr) < 0) {
		r = 0;
		goto out;
	}
	if ((r = api_secret_resolve(d, td, authorize, actx, &p, err)) < 0 || !p.len)
		goto out;
	r = secret_payload_memfd(&p, err);
	if (r >= 0) {
		*fd = r;
		r = 0;
	}
out:
	secret_payload_wipe(&p);
	task_def_free(td);
	shim_config_free(&cfg);
	return r;
}
