/* tests/unit/daemon/test_api_secret.c - secrets in berthd
 * (runtime/daemon/api_secret.c, the secrets table of store.c): the
 * operations BerthV1.PutSecret, ListSecrets and DeleteSecret driven through
 * api_call() as the server calls them, and the resolution of a task's
 * secrets (api_secret_resolve, api_secret_task_fd) with an authorize
 * callback that records what it was asked (and allows or denies).
 *
 * What must hold: the database files (berth.db and its -wal) never contain
 * a value; no response or error message contains one; a value comes back
 * only through resolution, for the container and variable that name it. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/cleanup.h"
#include "common/error.h"
#include "common/fsutil.h"
#include "common/json.h"
#include "common/xalloc.h"
#include "runtime/creds/secrets.h"
#include "runtime/daemon/api.h"
#include "runtime/daemon/daemon.h"
#include "runtime/daemon/store.h"
#include "runtime/task/task.h"

#define ACCOUNT "123456789012"
#define SM_ARN "arn:aws:secretsmanager:us-east-1:" ACCOUNT ":secret:"
#define ROLE "arn:aws:iam::" ACCOUNT ":role/exec"
/* a value that cannot appear by chance */
#define VALUE "V4lue-0f-the-s3cret-7c1e9b2a"

struct fx {
	char *dir, *db;
	struct berthd d;
	struct api_error e;
	/* the authorize callback's record and answer */
	char calls[8][3][256];
	int n_calls;
	bool deny;
};

static int setup(void **state)
{
	struct fx *f = xzalloc(sizeof(*f));
	char tmpl[] = "/tmp/berth-test-secret-XXXXXX";
	struct berr *err = NULL;

	if (!mkdtemp(tmpl))
		return -1;
	f->dir = xstrdup(tmpl);
	f->db = xasprintf("%s/berth.db", tmpl);
	f->d.cfg.region = xstrdup("us-east-1");
	f->d.cfg.account_id = xstrdup(ACCOUNT);
	for (size_t i = 0; i < sizeof(f->d.host_key); i++)
		f->d.host_key[i] = (uint8_t)(i * 7 + 1);
	f->d.have_host_key = true;
	if (store_open(f->db, &f->d.st, &err) < 0) {
		fprintf(stderr, "store_open: %s\n", berr_msg(err));
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	struct berr *err = NULL;

	store_close(f->d.st);
	api_error_clear(&f->e);
	fs_rm_rf_at(AT_FDCWD, f->dir, &err);
	berr_free(err);
	free(f->d.cfg.region);
	free(f->d.cfg.account_id);
	free(f->dir);
	free(f->db);
	free(f);
	return 0;
}

/* ' for " in body. NULL with f->e on failure. */
static json_t *call(struct fx *f, const char *op, const char *body)
{
	cleanup_free char *text = xstrdup(body);
	cleanup_json json_t *in = NULL;
	json_error_t jerr;

	for (char *p = text; *p; p++)
		if (*p == '\'')
			*p = '"';
	in = json_loads(text, 0, &jerr);
	if (!in)
		fail_msg("test body is not JSON: %s: %s", jerr.text, text);
	api_error_clear(&f->e);
	return api_call(&f->d, op, in, &f->e);
}

static json_t *ok(struct fx *f, const char *op, const char *body)
{
	json_t *r = call(f, op, body);

	if (!r)
		fail_msg("%s %s: %s: %s", op, body, f->e.type, f->e.message);
	return r;
}

static void fails(struct fx *f, const char *op, const char *body, const char *type, const char *msg)
{
	json_t *r = call(f, op, body);

	if (r) {
		cleanup_free char *dump = bjson_dumps(r);

		json_decref(r);
		fail_msg("%s %s: succeeded: %s", op, body, dump);
	}
	if (strcmp(f->e.type, type) || (msg && !strstr(f->e.message, msg)))
		fail_msg("%s %s: %s \"%s\", expected %s \"%s\"", op, body, f->e.type, f->e.message, type,
			 msg ? msg : "");
	assert_null(strstr(f->e.message, VALUE));
}

static void put(struct fx *f, const char *name, const char *value)
{
	cleanup_free char *body = xasprintf("{'name':'%s','value':'%s'}", name, value);

	json_decref(ok(f, "BerthV1.PutSecret", body));
}

static const char *s_at(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

/* The response, dumped, holds no value. */
static void no_value(const json_t *r)
{
	cleanup_free char *dump = bjson_dumps(r);

	assert_null(strstr(dump, VALUE));
}

/* ----------------------------------------------------------- operations */

static void test_put_list_delete(void **state)
{
	struct fx *f = *state;
	cleanup_json json_t *r1 = NULL, *r2 = NULL, *l = NULL, *d = NULL;
	cleanup_free char *arn = NULL;
	const char *a;

	r1 = ok(f, "BerthV1.PutSecret", "{'name':'prod/db','value':'" VALUE "','description':'db'}");
	no_value(r1);
	assert_string_equal(s_at(r1, "name"), "prod/db");
	a = s_at(r1, "arn");
	assert_non_null(a);
	assert_int_equal(strncmp(a, SM_ARN "prod/db-", strlen(SM_ARN "prod/db-")), 0);
	assert_int_equal(strlen(a), strlen(SM_ARN "prod/db-") + 6);
	arn = xstrdup(a);
	assert_int_equal(json_integer_value(json_object_get(r1, "version")), 1);
	assert_true(json_is_true(json_object_get(r1, "created")));
	assert_true(json_is_real(json_object_get(r1, "createdDate")));

	/* an update keeps the ARN and the creation date, counts the version */
	r2 = ok(f, "BerthV1.PutSecret", "{'name':'prod/db','value':'other'}");
	assert_string_equal(s_at(r2, "arn"), arn);
	assert_int_equal(json_integer_value(json_object_get(r2, "version")), 2);
	assert_true(json_is_false(json_object_get(r2, "created")));
	assert_true(json_real_value(json_object_get(r2, "createdDate")) ==
		    json_real_value(json_object_get(r1, "createdDate")));

	put(f, "a", "1");
	put(f, "z", "2");
	l = ok(f, "BerthV1.ListSecrets", "{}");
	no_value(l);
	assert_int_equal(json_array_size(json_object_get(l, "secrets")), 3);
	{
		json_t *s = json_array_get(json_object_get(l, "secrets"), 1);

		assert_string_equal(s_at(s, "name"), "prod/db");
		assert_string_equal(s_at(s, "arn"), arn);
		assert_string_equal(s_at(s, "description"), "db");
		assert_int_equal(json_integer_value(json_object_get(s, "version")), 2);
		assert_null(json_object_get(s, "value"));
		assert_null(json_object_get(l, "nextToken"));
	}

	/* by name, then by ARN */
	d = ok(f, "BerthV1.DeleteSecret", "{'name':'a'}");
	assert_string_equal(s_at(d, "name"), "a");
	json_decref(d);
	{
		cleanup_free char *body = xasprintf("{'name':'%s'}", arn);

		d = ok(f, "BerthV1.DeleteSecret", body);
		assert_string_equal(s_at(d, "name"), "prod/db");
	}
	fails(f, "BerthV1.DeleteSecret", "{'name':'a'}", "ResourceNotFoundException",
	      "secret a not found");
	/* an ARN with another suffix is another secret */
	put(f, "b", "3");
	fails(f, "BerthV1.DeleteSecret", "{'name':'" SM_ARN "b-XXXXXX'}", "ResourceNotFoundException",
	      NULL);
	fails(f, "BerthV1.DeleteSecret", "{'name':'arn:aws:secretsmanager:eu-west-1:" ACCOUNT
	      ":secret:b'}", "InvalidParameterException", "not an ARN of this region and account");
	json_decref(l);
	l = ok(f, "BerthV1.ListSecrets", "{}");
	assert_int_equal(json_array_size(json_object_get(l, "secrets")), 2);
}

static void test_list_pages(void **state)
{
	struct fx *f = *state;
	cleanup_json json_t *seen = json_array();
	cleanup_free char *tok = NULL;
	char name[16];

	for (int i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "s%d", i);
		put(f, name, VALUE);
	}
	for (int page = 0; page < 10; page++) {
		cleanup_free char *body = tok ? xasprintf("{'maxResults':2,'nextToken':'%s'}", tok)
					      : xstrdup("{'maxResults':2}");
		cleanup_json json_t *r = ok(f, "BerthV1.ListSecrets", body);
		json_t *next = json_object_get(r, "nextToken");

		assert_true(json_array_size(json_object_get(r, "secrets")) <= 2);
		json_array_extend(seen, json_object_get(r, "secrets"));
		free(tok);
		tok = next ? xstrdup(json_string_value(next)) : NULL;
		if (!tok)
			break;
	}
	assert_null(tok);
	assert_int_equal(json_array_size(seen), 5);
	for (int i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "s%d", i);
		assert_string_equal(s_at(json_array_get(seen, (size_t)i), "name"), name);
	}
	fails(f, "BerthV1.ListSecrets", "{'nextToken':'bogus'}", "InvalidParameterException",
	      "nextToken");
	fails(f, "BerthV1.ListSecrets", "{'maxResults':0}", "InvalidParameterException",
	      "maxResults");
}

static void test_put_errors(void **state)
{
	struct fx *f = *state;
	cleanup_free char *big = xmalloc(SECRET_VALUE_MAX + 64);
	cleanup_free char *body = NULL;

	fails(f, "BerthV1.PutSecret", "{'value':'" VALUE "'}", "InvalidParameterException",
	      "name: required");
	fails(f, "BerthV1.PutSecret", "{'name':'a b','value':'" VALUE "'}",
	      "InvalidParameterException", "name: \"a b\" is not a valid secret name");
	fails(f, "BerthV1.PutSecret", "{'name':'a'}", "InvalidParameterException", "value: required");
	fails(f, "BerthV1.PutSecret", "{'name':'a','value':5}", "InvalidParameterException",
	      "value: expected string, got integer");
	fails(f, "BerthV1.PutSecret", "{'name':'a','value':'x','description':7}",
	      "InvalidParameterException", "description");
	/* too large: the message says so without the value */
	strcpy(big, "{'name':'a','value':'");
	for (size_t n = strlen(big); n < SECRET_VALUE_MAX + 30; n += strlen(VALUE))
		strcat(big, VALUE);
	strcat(big, "'}");
	fails(f, "BerthV1.PutSecret", big, "InvalidParameterException", "at most 65536");
	/* a NUL byte (not writable with the helper: build the body) */
	{
		cleanup_json json_t *in = json_pack("{s:s, s:o}", "name", "a", "value",
						    json_stringn(VALUE "\0" VALUE, 2 * strlen(VALUE) + 1));
		json_t *r;

		api_error_clear(&f->e);
		r = api_call(&f->d, "BerthV1.PutSecret", in, &f->e);
		assert_null(r);
		assert_string_equal(f->e.type, "InvalidParameterException");
		assert_non_null(strstr(f->e.message, "NUL byte"));
		assert_null(strstr(f->e.message, VALUE));
	}
	/* nothing was stored by any of them */
	{
		cleanup_json json_t *l = ok(f, "BerthV1.ListSecrets", "{}");

		assert_int_equal(json_array_size(json_object_get(l, "secrets")), 0);
	}
	/* no host key: nothing can be encrypted */
	f->d.have_host_key = false;
	fails(f, "BerthV1.PutSecret", "{'name':'a','value':'" VALUE "'}", "ServerException",
	      "no host key");
	(void)body;
}

/* The value is in neither berth.db nor berth.db-wal, also after a
 * checkpoint, while the API still gives it back through resolution. */
static bool file_has(const char *path, const char *needle)
{
	cleanup_free char *buf = NULL;
	size_t len = 0;
	struct berr *err = NULL;

	if (fs_read_file(path, &buf, &len, 64u << 20, &err) < 0) {
		berr_free(err);
		return false;
	}
	return memmem(buf, len, needle, strlen(needle)) != NULL;
}

static struct task_def *taskdef(const char *role, const char *secrets)
{
	cleanup_free char *doc = xasprintf(
		"{\"family\":\"f\",\"memory\":\"512\"%s%s%s,\"containerDefinitions\":["
		"{\"name\":\"web\",\"image\":\"x\",\"secrets\":[%s]}]}",
		role ? ",\"executionRoleArn\":\"" : "", role ? role : "", role ? "\"" : "", secrets);
	struct task_def *td = NULL;
	struct berr *err = NULL;

	if (task_def_parse(doc, strlen(doc), "t", TASK_MODE_EC2, &td, &err) < 0)
		fail_msg("%s", berr_msg(err));
	return td;
}

static int authorize(void *ctx, const char *role, const char *action, const char *resource,
		     char **why)
{
	struct fx *f = ctx;

	if (f->n_calls < 8) {
		snprintf(f->calls[f->n_calls][0], 256, "%s", role);
		snprintf(f->calls[f->n_calls][1], 256, "%s", action);
		snprintf(f->calls[f->n_calls][2], 256, "%s", resource);
		f->n_calls++;
	}
	if (f->deny) {
		*why = xstrdup("no identity-based policy allows it");
		return -1;
	}
	*why = NULL;
	return 0;
}

/* Resolve td; 0 with the values applied to td, or -1 with *msg. */
static int resolve(struct fx *f, struct task_def *td, char **msg)
{
	struct secret_payload p = { 0 };
	struct berr *err = NULL;
	int r = api_secret_resolve(&f->d, td, authorize, f, &p, &err);

	*msg = NULL;
	if (r < 0) {
		*msg = xstrdup(berr_msg(err));
		berr_free(err);
		assert_null(strstr(*msg, VALUE));
		assert_null(p.buf);
		return -1;
	}
	if (p.len && secret_payload_apply(td, p.buf, p.len, &err) < 0)
		fail_msg("apply: %s", berr_msg(err));
	secret_payload_wipe(&p);
	return 0;
}

static void test_db_holds_no_plaintext(void **state)
{
	struct fx *f = *state;
	cleanup_free char *wal = xasprintf("%s-wal", f->db);
	cleanup_free char *msg = NULL;
	struct task_def *td;

	put(f, "db", VALUE);
	put(f, "db2", VALUE "-two");
	/* a control: the name is in the files (so the scan reads them) */
	assert_true(file_has(f->db, "db2") || file_has(wal, "db2"));
	assert_false(file_has(f->db, VALUE));
	assert_false(file_has(wal, VALUE));
	/* and after the WAL is folded into the database */
	{
		sqlite3 *db = NULL;

		assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
		assert_int_equal(sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL),
				 SQLITE_OK);
		sqlite3_close(db);
	}
	assert_true(file_has(f->db, "db2"));
	assert_false(file_has(f->db, VALUE));
	assert_false(file_has(wal, VALUE));
	/* the stored row is ciphertext of the value's length plus the tag */
	{
		struct store_secret sec;
		struct berr *err = NULL;

		assert_int_equal(store_secret_get(f->d.st, "db", &sec, &err), 1);
		assert_int_equal(sec.ct_len, strlen(VALUE) + 16);
		assert_null(memmem(sec.ct, sec.ct_len, VALUE, strlen(VALUE)));
		store_secret_clear(&sec);
	}
	/* yet it resolves to the value */
	td = taskdef(ROLE, "{\"name\":\"DB\",\"valueFrom\":\"db\"}");
	assert_int_equal(resolve(f, td, &msg), 0);
	assert_string_equal(td->containers[0].secrets[0].value, VALUE);
	task_def_free(td);
}

/* ----------------------------------------------------------- resolution */

static void test_resolve_forms(void **state)
{
	struct fx *f = *state;
	cleanup_json json_t *r = NULL;
	cleanup_free char *secrets = NULL, *msg = NULL;
	struct task_def *td;
	const char *arn;

	put(f, "plain", "p-" VALUE);
	put(f, "/prod/db", "path-" VALUE);
	r = ok(f, "BerthV1.PutSecret", "{'name':'app/cfg','value':'{\\'user\\':\\'admin\\',"
	       "\\'port\\':5432}'}");
	arn = s_at(r, "arn");
	secrets = xasprintf(
		"{\"name\":\"A\",\"valueFrom\":\"plain\"},"
		"{\"name\":\"B\",\"valueFrom\":\"arn:aws:ssm:us-east-1:" ACCOUNT ":parameter/prod/db\"},"
		"{\"name\":\"C\",\"valueFrom\":\"%s\"},"
		"{\"name\":\"D\",\"valueFrom\":\"" SM_ARN "app/cfg:user::\"},"
		"{\"name\":\"E\",\"valueFrom\":\"%s:port:AWSCURRENT:\"},"
		"{\"name\":\"F\",\"valueFrom\":\"" SM_ARN "plain\"}", arn, arn);
	td = taskdef(ROLE, secrets);
	if (resolve(f, td, &msg) < 0)
		fail_msg("%s", msg);
	assert_string_equal(td->containers[0].secrets[0].value, "p-" VALUE);
	assert_string_equal(td->containers[0].secrets[1].value, "path-" VALUE);
	assert_string_equal(td->containers[0].secrets[2].value, "{\"user\":\"admin\",\"port\":5432}");
	assert_string_equal(td->containers[0].secrets[3].value, "admin");
	assert_string_equal(td->containers[0].secrets[4].value, "5432");
	assert_string_equal(td->containers[0].secrets[5].value, "p-" VALUE);
	task_def_free(td);
	/* one authorization per secret, for the execution role, with the
	 * action of the reference's kind and the secret's ARN */
	assert_int_equal(f->n_calls, 6);
	for (int i = 0; i < 6; i++)
		assert_string_equal(f->calls[i][0], ROLE);
	assert_string_equal(f->calls[0][1], "ssm:GetParameters");
	assert_string_equal(f->calls[0][2], "arn:aws:ssm:us-east-1:" ACCOUNT ":parameter/plain");
	assert_string_equal(f->calls[1][1], "ssm:GetParameters");
	assert_string_equal(f->calls[1][2], "arn:aws:ssm:us-east-1:" ACCOUNT ":parameter/prod/db");
	assert_string_equal(f->calls[2][1], "secretsmanager:GetSecretValue");
	assert_string_equal(f->calls[2][2], arn);
	assert_string_equal(f->calls[3][2], arn);
	assert_int_equal(strncmp(f->calls[5][2], SM_ARN "plain-", strlen(SM_ARN "plain-")), 0);
}

static void resolve_fails(struct fx *f, const char *role, const char *secrets, const char *want)
{
	struct task_def *td = taskdef(role, secrets);
	cleanup_free char *msg = NULL;

	assert_int_equal(resolve(f, td, &msg), -1);
	if (strncmp(msg, "ResourceInitializationError: unable to pull secrets or registry auth: ",
		    strlen("ResourceInitializationError: unable to pull secrets or registry auth: ")))
		fail_msg("not ECS's words: %s", msg);
	if (!strstr(msg, want))
		fail_msg("\"%s\" lacks \"%s\"", msg, want);
	/* nothing was handed over */
	for (size_t i = 0; i < td->containers[0].n_secrets; i++)
		assert_null(td->containers[0].secrets[i].value);
	task_def_free(td);
}

static void test_resolve_errors(void **state)
{
	struct fx *f = *state;

	put(f, "db", VALUE);
	put(f, "cfg", "not json " VALUE);
	resolve_fails(f, ROLE, "{\"name\":\"A\",\"valueFrom\":\"nope\"}",
		      "unable to retrieve secrets from ssm: container web: secrets[0] (A): invalid "
		      "parameters: nope");
	resolve_fails(f, ROLE, "{\"name\":\"A\",\"valueFrom\":\"" SM_ARN "nope\"}",
		      "unable to retrieve secret from asm: container web: secrets[0] (A): "
		      "ResourceNotFoundException: Secrets Manager can't find the specified secret");
	/* the ARN's suffix must be the secret's */
	resolve_fails(f, ROLE, "{\"name\":\"A\",\"valueFrom\":\"" SM_ARN "db-XXXXXX\"}",
		      "ResourceNotFoundException");
	resolve_fails(f, NULL, "{\"name\":\"A\",\"valueFrom\":\"db\"}",
		      "container web: secrets[0] (A): the task definition has no executionRoleArn");
	resolve_fails(f, ROLE, "{\"name\":\"A\",\"valueFrom\":\"arn:aws:ssm:eu-west-1:" ACCOUNT
		      ":parameter/db\"}", "is in region eu-west-1, account " ACCOUNT "; berth's "
		      "secrets are in us-east-1, " ACCOUNT);
	resolve_fails(f, ROLE, "{\"name\":\"A\",\"valueFrom\":\"" SM_ARN "cfg:k::\"}",
		      "secret cfg: json key \"k\": the secret's value is not a JSON object");
	/* the second secret fails: the first one's value is not handed over either */
	resolve_fails(f, ROLE, "{\"name\":\"A\",\"valueFrom\":\"db\"},"
		      "{\"name\":\"B\",\"valueFrom\":\"nope\"}", "secrets[1] (B)");
	/* denied: AWS's words, the role, action, resource and why */
	f->deny = true;
	f->n_calls = 0;
	resolve_fails(f, ROLE, "{\"name\":\"A\",\"valueFrom\":\"db\"}",
		      "AccessDeniedException: " ROLE " is not authorized to perform: ssm:GetParameters "
		      "on resource: arn:aws:ssm:us-east-1:" ACCOUNT ":parameter/db: no identity-based "
		      "policy allows it");
	/* denial comes before "not found", as in AWS: no probing of names */
	resolve_fails(f, ROLE, "{\"name\":\"A\",\"valueFrom\":\"" SM_ARN "nope\"}",
		      "AccessDeniedException");
	assert_int_equal(f->n_calls, 2);
	f->deny = false;
	/* no host key */
	f->d.have_host_key = false;
	resolve_fails(f, ROLE, "{\"name\":\"A\",\"valueFrom\":\"db\"}", "no host key");
}

/* A row altered in the database, or moved to another name, does not
 * decrypt: the task does not start, and no garbage reaches it. */
static void test_resolve_tampered(void **state)
{
	struct fx *f = *state;
	struct store_secret sec;
	struct berr *err = NULL;
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;

	put(f, "a", VALUE);
	put(f, "b", VALUE);
	/* a's ciphertext, one bit flipped */
	assert_int_equal(store_secret_get(f->d.st, "a", &sec, &err), 1);
	sec.ct[3] ^= 1;
	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "UPDATE secrets SET ciphertext = ? WHERE name = 'a'",
					    -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_blob(st, 1, sec.ct, (int)sec.ct_len, SQLITE_TRANSIENT);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	store_secret_clear(&sec);
	/* b's row moved to the name c */
	assert_int_equal(sqlite3_exec(db, "UPDATE secrets SET name = 'c' WHERE name = 'b'", NULL,
				      NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	resolve_fails(f, ROLE, "{\"name\":\"A\",\"valueFrom\":\"c\"}", "secret c: does not decrypt");
	resolve_fails(f, ROLE, "{\"name\":\"A\",\"valueFrom\":\"a\"}", "secret a: does not decrypt");
	/* another host key */
	put(f, "d", VALUE);
	f->d.host_key[0] ^= 1;
	resolve_fails(f, ROLE, "{\"name\":\"A\",\"valueFrom\":\"d\"}", "secret d: does not decrypt");
}

/* api_secret_task_fd: what shimmgr hands berth-shim. */
static void test_task_fd(void **state)
{
	struct fx *f = *state;
	cleanup_json json_t *cfg = NULL, *plain = NULL;
	struct task_def *td;
	struct berr *err = NULL;
	int fd = -2;

	put(f, "db", VALUE);
	cfg = json_pack("{s:s, s:{s:s, s:s, s:s, s:[{s:s, s:s, s:[{s:s, s:s}]}]}, s:s, s:s, s:s,"
			" s:s, s:s, s:{s:s}}",
			"taskId", "0123456789abcdef0123456789abcdef",
			"taskDefinition", "family", "f", "memory", "512", "executionRoleArn", ROLE,
			"containerDefinitions", "name", "web", "image", "x", "secrets", "name", "DB",
			"valueFrom", "db",
			"mode", "EC2", "root", "/x", "runDir", "/x", "logDir", "/x", "cgroupRoot", "/x",
			"overrides", "executionRoleArn", "arn:aws:iam::" ACCOUNT ":role/other");
	assert_non_null(cfg);
	f->n_calls = 0;
	if (api_secret_task_fd(&f->d, cfg, authorize, f, &fd, &err) < 0)
		fail_msg("%s", berr_msg(err));
	assert_true(fd >= 0);
	/* the overrides' executionRoleArn is the one asked */
	assert_int_equal(f->n_calls, 1);
	assert_string_equal(f->calls[0][0], "arn:aws:iam::" ACCOUNT ":role/other");
	td = taskdef(ROLE, "{\"name\":\"DB\",\"valueFrom\":\"db\"}");
	assert_int_equal(secret_payload_apply_fd(td, fd, &err), 0);
	assert_string_equal(td->containers[0].secrets[0].value, VALUE);
	task_def_free(td);
	close(fd);
	/* denied: an error, no fd */
	f->deny = true;
	fd = -2;
	assert_true(api_secret_task_fd(&f->d, cfg, authorize, f, &fd, &err) < 0);
	assert_int_equal(fd, -1);
	assert_non_null(strstr(berr_msg(err), "ResourceInitializationError"));
	berr_clear(&err);
	/* no secrets: no fd, no question asked */
	json_object_del(json_array_get(json_object_get(json_object_get(cfg, "taskDefinition"),
						       "containerDefinitions"), 0), "secrets");
	f->n_calls = 0;
	assert_int_equal(api_secret_task_fd(&f->d, cfg, authorize, f, &fd, &err), 0);
	assert_int_equal(fd, -1);
	assert_int_equal(f->n_calls, 0);
	/* a config the shim would refuse: left to the shim (no error here) */
	plain = json_pack("{s:s}", "taskId", "nope");
	assert_int_equal(api_secret_task_fd(&f->d, plain, authorize, f, &fd, &err), 0);
	assert_int_equal(fd, -1);
}

/* The berth ops are in the table. */
static void test_ops_known(void **state)
{
	(void)state;
	assert_non_null(api_find("BerthV1.PutSecret"));
	assert_non_null(api_find("BerthV1.ListSecrets"));
	assert_non_null(api_find("BerthV1.DeleteSecret"));
	assert_null(api_find("PutSecret"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_put_list_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_put_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_db_holds_no_plaintext, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resolve_forms, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resolve_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resolve_tampered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_task_fd, setup, teardown),
		cmocka_unit_test(test_ops_known),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
