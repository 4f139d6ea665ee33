/* Calls to berthd signed with task credentials: the session token behind
 * SigV4 (sigv4_verify_keys + authz_session_cb) and the role's policies on
 * each call (authz_check, authz_resources, berthd_role_authorize), with
 * roles from a real berthd.json parse and a real store. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/json.h"
#include "common/sha256.h"
#include "common/xalloc.h"
#include "runtime/creds/issuer.h"
#include "runtime/daemon/api.h"
#include "runtime/daemon/authz.h"
#include "runtime/daemon/daemon.h"
#include "runtime/daemon/http.h"
#include "runtime/daemon/sigv4.h"
#include "runtime/daemon/store.h"

#define ACCOUNT "123456789012"
#define ROLE_WEB "arn:aws:iam::123456789012:role/web"
#define ROLE_RO "arn:aws:iam::123456789012:role/app/readonly"
#define ROLE_GONE "arn:aws:iam::123456789012:role/gone"
#define TASK_ARN "arn:aws:ecs:us-east-1:123456789012:task/default/0123456789abcdef0123456789abcdef"
#define ADMIN_KEY "AKIDADMINADMIN0001"
#define ADMIN_SECRET "admin-secret-admin-secret"

static const char config[] =
	"{\"region\": \"us-east-1\", \"accountId\": \"" ACCOUNT "\","
	" \"listen\": \"127.0.0.1:8080\","
	" \"credentials\": [{\"accessKeyId\": \"" ADMIN_KEY "\", \"secretAccessKey\": \"" ADMIN_SECRET "\"}],"
	" \"roles\": ["
	"  {\"roleArn\": \"" ROLE_WEB "\", \"policies\": ["
	"    {\"Version\": \"2012-10-17\", \"Statement\": ["
	"      {\"Sid\": \"Run\", \"Effect\": \"Allow\", \"Action\": [\"ecs:RunTask\", \"ecs:Describe*\", \"ecs:List*\"],"
	"       \"Resource\": \"*\"},"
	"      {\"Effect\": \"Allow\", \"Action\": \"ecs:StopTask\","
	"       \"Resource\": \"arn:aws:ecs:*:" ACCOUNT ":task/dev/*\"}]},"
	"    {\"Version\": \"2012-10-17\", \"Statement\": {\"Sid\": \"NoProd\", \"Effect\": \"Deny\","
	"      \"Action\": \"ecs:*\", \"Resource\": [\"arn:aws:ecs:*:*:cluster/prod\","
	"      \"arn:aws:ecs:*:*:task/prod/*\", \"arn:aws:ecs:*:*:task-definition/secret:*\"]}}]},"
	"  {\"roleArn\": \"" ROLE_RO "\", \"durationSeconds\": 900, \"policies\": ["
	"    {\"Version\": \"2012-10-17\", \"Statement\": [{\"Effect\": \"Allow\","
	"     \"Action\": \"ecs:Describe*\", \"Resource\": \"*\"}]}]}]}";

struct fx {
	char *dir;
	struct berthd d;
};

static int setup(void **state)
{
	struct fx *f = xzalloc(sizeof(*f));
	char tmpl[] = "/tmp/berth-test-authz-XXXXXX";
	cleanup_free char *db = NULL, *key = NULL;
	struct berr *err = NULL;

	if (!mkdtemp(tmpl))
		return -1;
	f->dir = xstrdup(tmpl);
	berthd_config_init(&f->d.cfg);
	if (berthd_config_parse("config", config, strlen(config), &f->d.cfg, &err) < 0) {
		fprintf(stderr, "%s\n", berr_msg(err));
		return -1;
	}
	db = xasprintf("%s/berth.db", f->dir);
	if (store_open(db, &f->d.st, &err) < 0 || api_bootstrap(&f->d, &err) < 0) {
		fprintf(stderr, "%s\n", berr_msg(err));
		return -1;
	}
	key = xasprintf("%s/host.key", f->dir);
	if (creds_host_key_load_or_create(key, f->d.host_key, &err) < 0)
		return -1;
	f->d.have_host_key = true;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	struct berr *err = NULL;

	store_close(f->d.st);
	free(f->d.instance_arn);
	berthd_config_free(&f->d.cfg);
	fs_rm_rf_at(AT_FDCWD, f->dir, &err);
	berr_free(err);
	free(f->dir);
	free(f);
	return 0;
}

/* ---------------------------------------------------------- signed requests */

struct req {
	char *text;
	struct http_request r;
};

static void req_free(struct req *q)
{
	free(q->text);
	free(q);
}

static void parse_into(struct req *q)
{
	struct http_parser p;

	http_parser_init(&p, NULL);
	assert_int_equal(http_parse(&p, q->text, strlen(q->text), &q->r), HTTP_PARSE_DONE);
}

static void fmt_date(time_t t, char out[17])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

/* An ECS call signed with (akid, secret) at time t; token: sent as
 * X-Amz-Security-Token, listed in SignedHeaders when sign_token. */
static struct req *sign(const char *op, const char *body, const char *akid, const char *secret,
			const char *token, bool sign_token, time_t t)
{
	struct req *q = xzalloc(sizeof(*q));
	char date[17], hash[65], sig[65];
	unsigned char md[SHA256_LEN];
	const char *sh = token && sign_token ? "content-type;host;x-amz-date;x-amz-security-token;x-amz-target"
					     : "content-type;host;x-amz-date;x-amz-target";
	cleanup_free char *head = NULL, *creq = NULL, *sts = NULL;
	struct sigv4_result res;
	struct sigv4_auth a;

	fmt_date(t, date);
	head = xasprintf("POST / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
			 "Content-Type: application/x-amz-json-1.1\r\n"
			 "X-Amz-Target: AmazonEC2ContainerServiceV20141113.%s\r\n"
			 "X-Amz-Date: %s\r\n%s%s%sContent-Length: %zu\r\n",
			 op, date, token ? "X-Amz-Security-Token: " : "", token ? token : "",
			 token ? "\r\n" : "", strlen(body));
	q->text = xasprintf("%s\r\n%s", head, body);
	parse_into(q);
	memset(&a, 0, sizeof(a));
	a.key_id = (struct sigv4_str){ akid, strlen(akid) };
	a.date = (struct sigv4_str){ date, 8 };
	a.region = (struct sigv4_str){ "us-east-1", 9 };
	a.service = (struct sigv4_str){ "ecs", 3 };
	a.terminator = (struct sigv4_str){ "aws4_request", 12 };
	a.signed_headers = (struct sigv4_str){ sh, strlen(sh) };
	sha256(body, strlen(body), md);
	for (unsigned i = 0; i < SHA256_LEN; i++)
		sprintf(hash + 2 * i, "%02x", md[i]);
	assert_int_equal(sigv4_canonical_request(&q->r, &a, hash, &creq, &res), 0);
	sts = sigv4_string_to_sign(date, &a, creq);
	sigv4_signature(secret, &a, sts, sig);
	free(q->text);
	q->text = xasprintf("%sAuthorization: AWS4-HMAC-SHA256 Credential=%s/%.8s/us-east-1/ecs/aws4_request, "
			    "SignedHeaders=%s, Signature=%s\r\n\r\n%s", head, akid, date, sh, sig, body);
	parse_into(q);
	return q;
}

/* verify q as berthd's listener does */
static int verify(struct fx *f, struct req *q, time_t now, struct authz_session *s, struct sigv4_result *res)
{
	struct sigv4_keys k = {
		.keys = f->d.cfg.keys, .n_keys = f->d.cfg.n_keys, .session = authz_session_cb, .ctx = s,
	};

	s->d = &f->d;
	s->now = now;
	return sigv4_verify_keys(&q->r, &k, "ecs", f->d.cfg.max_clock_skew, now, res);
}

static void mint(struct fx *f, const char *role, time_t now, int64_t ttl, struct creds_session *out)
{
	struct berr *err = NULL;

	if (creds_mint(f->d.host_key, role, TASK_ARN, now, ttl, out, &err) < 0)
		fail_msg("mint: %s", berr_msg(err));
}

static void test_session_signature(void **state)
{
	struct fx *f = *state;
	time_t now = time(NULL);
	struct creds_session cs;
	struct authz_session s = { 0 };
	struct sigv4_result res;
	struct req *q;

	mint(f, ROLE_WEB, now, 3600, &cs);
	/* a good session request: verified, the claims kept */
	q = sign("ListClusters", "{}", cs.claims.access_key_id, cs.secret_access_key, cs.token, true, now);
	assert_int_equal(verify(f, q, now, &s, &res), 0);
	assert_null(res.type);
	assert_true(res.session);
	assert_true(s.have_claims);
	assert_string_equal(s.claims.role_arn, ROLE_WEB);
	assert_string_equal(s.claims.task_arn, TASK_ARN);
	authz_session_clear(&s);
	req_free(q);

	/* the token sent but not signed */
	q = sign("ListClusters", "{}", cs.claims.access_key_id, cs.secret_access_key, cs.token, false, now);
	assert_int_equal(verify(f, q, now, &s, &res), -1);
	assert_string_equal(res.type, SIGV4_INCOMPLETE);
	assert_non_null(strstr(res.message, "x-amz-security-token"));
	req_free(q);

	/* signed with a wrong secret */
	q = sign("ListClusters", "{}", cs.claims.access_key_id, "not-the-secret-not-the-secret-not-the-se",
		 cs.token, true, now);
	assert_int_equal(verify(f, q, now, &s, &res), -1);
	assert_string_equal(res.type, SIGV4_INVALID);
	authz_session_clear(&s);
	req_free(q);

	/* the token with another set's key id */
	{
		struct creds_session other;

		mint(f, ROLE_WEB, now, 3600, &other);
		q = sign("ListClusters", "{}", other.claims.access_key_id, other.secret_access_key, cs.token,
			 true, now);
		assert_int_equal(verify(f, q, now, &s, &res), -1);
		assert_string_equal(res.type, SIGV4_UNRECOGNIZED);
		assert_false(s.have_claims);
		req_free(q);
		creds_session_clear(&other);
	}

	/* a token altered in one character */
	{
		cleanup_free char *bad = xstrdup(cs.token);

		bad[10] = bad[10] == 'A' ? 'B' : 'A';
		q = sign("ListClusters", "{}", cs.claims.access_key_id, cs.secret_access_key, bad, true, now);
		assert_int_equal(verify(f, q, now, &s, &res), -1);
		assert_string_equal(res.type, SIGV4_UNRECOGNIZED);
		req_free(q);
	}

	/* a configured key with a token: the token is just a header, the
	 * configured key's secret signs (no session, no role) */
	q = sign("ListClusters", "{}", ADMIN_KEY, ADMIN_SECRET, cs.token, true, now);
	assert_int_equal(verify(f, q, now, &s, &res), 0);
	assert_false(res.session);
	assert_false(s.have_claims);
	req_free(q);
	/* ...and without one, as before */
	q = sign("ListClusters", "{}", ADMIN_KEY, ADMIN_SECRET, NULL, false, now);
	assert_int_equal(verify(f, q, now, &s, &res), 0);
	assert_false(res.session);
	assert_false(s.have_claims);
	req_free(q);

	/* a session key without its token is not a key berthd knows */
	q = sign("ListClusters", "{}", cs.claims.access_key_id, cs.secret_access_key, NULL, false, now);
	assert_int_equal(verify(f, q, now, &s, &res), -1);
	assert_string_equal(res.type, SIGV4_UNRECOGNIZED);
	req_free(q);
	creds_session_clear(&cs);
}

static void test_session_expired_and_unknown_role(void **state)
{
	struct fx *f = *state;
	time_t now = time(NULL);
	struct creds_session cs;
	struct authz_session s = { 0 };
	struct sigv4_result res;
	struct req *q;

	/* minted two hours ago for one hour: expired (the request itself is fresh) */
	mint(f, ROLE_WEB, now - 7200, 3600, &cs);
	q = sign("ListClusters", "{}", cs.claims.access_key_id, cs.secret_access_key, cs.token, true, now);
	assert_int_equal(verify(f, q, now, &s, &res), -1);
	assert_string_equal(res.type, SIGV4_EXPIRED_TOKEN);
	assert_string_equal(res.message, "The security token included in the request is expired");
	req_free(q);
	creds_session_clear(&cs);

	/* a valid token of a role the configuration no longer has */
	mint(f, ROLE_GONE, now, 3600, &cs);
	q = sign("ListClusters", "{}", cs.claims.access_key_id, cs.secret_access_key, cs.token, true, now);
	assert_int_equal(verify(f, q, now, &s, &res), -1);
	assert_string_equal(res.type, SIGV4_UNRECOGNIZED);
	req_free(q);
	creds_session_clear(&cs);

	/* minted under another host key */
	{
		uint8_t other[CREDS_HOST_KEY_LEN];
		struct berr *err = NULL;

		memset(other, 7, sizeof(other));
		assert_int_equal(creds_mint(other, ROLE_WEB, TASK_ARN, now, 3600, &cs, &err), 0);
		q = sign("ListClusters", "{}", cs.claims.access_key_id, cs.secret_access_key, cs.token, true,
			 now);
		assert_int_equal(verify(f, q, now, &s, &res), -1);
		assert_string_equal(res.type, SIGV4_UNRECOGNIZED);
		req_free(q);
		creds_session_clear(&cs);
	}
	/* no host key loaded: nothing verifies */
	mint(f, ROLE_WEB, now, 3600, &cs);
	f->d.have_host_key = false;
	q = sign("ListClusters", "{}", cs.claims.access_key_id, cs.secret_access_key, cs.token, true, now);
	assert_int_equal(verify(f, q, now, &s, &res), -1);
	assert_string_equal(res.type, SIGV4_UNRECOGNIZED);
	f->d.have_host_key = true;
	req_free(q);
	creds_session_clear(&cs);
}

/* ----------------------------------------------------------- authorization */

static struct creds_claims claims_for(const char *role)
{
	struct creds_claims c = { 0 };

	c.role_arn = xstrdup(role);
	c.task_arn = xstrdup(TASK_ARN);
	return c;
}

static int check(struct fx *f, const char *role, const char *op, const char *body, struct api_error *e)
{
	struct creds_claims c = claims_for(role);
	cleanup_json json_t *in = json_loads(body, 0, NULL);
	int r;

	assert_non_null(in);
	api_error_clear(e);
	r = authz_check(&f->d, &c, op, in, e);
	creds_claims_clear(&c);
	return r;
}

static void test_policies_decide(void **state)
{
	struct fx *f = *state;
	struct api_error e = { 0 };

	assert_int_equal(check(f, ROLE_WEB, "RunTask", "{\"taskDefinition\": \"web:3\"}", &e), 0);
	assert_int_equal(check(f, ROLE_WEB, "DescribeClusters", "{}", &e), 0);
	assert_int_equal(check(f, ROLE_WEB, "ListTasks", "{\"cluster\": \"dev\"}", &e), 0);
	/* not allowed by any statement: implicit deny, worded as AWS does */
	assert_int_equal(check(f, ROLE_WEB, "DeleteCluster", "{\"cluster\": \"dev\"}", &e), -1);
	assert_string_equal(e.type, "AccessDeniedException");
	assert_int_equal(e.status, 400);
	assert_string_equal(e.message, "User: arn:aws:sts::" ACCOUNT ":assumed-role/web/"
			    "0123456789abcdef0123456789abcdef is not authorized to perform: "
			    "ecs:DeleteCluster on resource: arn:aws:ecs:us-east-1:" ACCOUNT
			    ":cluster/dev because no identity-based policy allows the ecs:DeleteCluster action");
	/* StopTask only in cluster dev */
	assert_int_equal(check(f, ROLE_WEB, "StopTask", "{\"cluster\": \"dev\", \"task\": "
			       "\"00000000000000000000000000000001\"}", &e), 0);
	assert_int_equal(check(f, ROLE_WEB, "StopTask", "{\"cluster\": \"test\", \"task\": "
			       "\"00000000000000000000000000000001\"}", &e), -1);
	assert_non_null(strstr(e.message, "task/test/00000000000000000000000000000001"));
	/* a task ARN in another cluster than the request's: the ARN counts */
	assert_int_equal(check(f, ROLE_WEB, "StopTask", "{\"task\": \"arn:aws:ecs:us-east-1:" ACCOUNT
			       ":task/dev/00000000000000000000000000000001\"}", &e), 0);
	/* the explicit deny wins over the Allow on Describe* */
	assert_int_equal(check(f, ROLE_WEB, "DescribeClusters", "{\"clusters\": [\"dev\", \"prod\"]}", &e), -1);
	assert_non_null(strstr(e.message, "cluster/prod with an explicit deny"));
	assert_int_equal(check(f, ROLE_WEB, "DescribeTasks", "{\"cluster\": \"prod\", \"tasks\": "
			       "[\"00000000000000000000000000000002\"]}", &e), -1);
	assert_int_equal(check(f, ROLE_WEB, "RunTask", "{\"taskDefinition\": \"secret:1\"}", &e), -1);
	assert_non_null(strstr(e.message, "task-definition/secret:1"));
	/* the read-only role */
	assert_int_equal(check(f, ROLE_RO, "DescribeTasks", "{\"tasks\": [\"00000000000000000000000000000002\"]}",
			       &e), 0);
	assert_int_equal(check(f, ROLE_RO, "RunTask", "{\"taskDefinition\": \"web:3\"}", &e), -1);
	assert_non_null(strstr(e.message, "assumed-role/readonly/"));
	/* berth's own operations are berth:<Op> */
	assert_int_equal(check(f, ROLE_WEB, "BerthV1.ListEvents", "{}", &e), -1);
	assert_non_null(strstr(e.message, "berth:ListEvents on resource: *"));
	/* a role no longer configured */
	assert_int_equal(check(f, ROLE_GONE, "DescribeClusters", "{}", &e), -1);
	api_error_clear(&e);
}

static void test_resources(void **state)
{
	struct fx *f = *state;
	cleanup_free char *action = NULL;
	json_t *res = NULL;
	cleanup_json json_t *in = NULL;
	cleanup_json json_t *td = json_pack("{s:s, s:s, s:i, s:s, s:[]}", "taskDefinitionArn",
					    "arn:aws:ecs:us-east-1:" ACCOUNT ":task-definition/web:7",
					    "family", "web", "revision", 7, "status", "ACTIVE",
					    "containerDefinitions");
	struct berr *err = NULL;

	/* a bare family: its latest ACTIVE revision */
	if (store_taskdef_put(f->d.st, td, &err) < 0)
		fail_msg("%s", berr_msg(err));
	in = json_pack("{s:s}", "taskDefinition", "web");
	authz_resources(&f->d, "RunTask", in, &action, &res);
	assert_string_equal(action, "ecs:RunTask");
	assert_int_equal(json_array_size(res), 1);
	assert_string_equal(json_string_value(json_array_get(res, 0)),
			    "arn:aws:ecs:us-east-1:" ACCOUNT ":task-definition/web:7");
	json_decref(res);
	free(action);
	/* several tasks: one resource each */
	json_decref(in);
	in = json_pack("{s:s, s:[s, s]}", "cluster", "dev", "tasks", "00000000000000000000000000000001",
		       "arn:aws:ecs:us-east-1:" ACCOUNT ":task/other/00000000000000000000000000000002");
	authz_resources(&f->d, "DescribeTasks", in, &action, &res);
	assert_int_equal(json_array_size(res), 2);
	assert_string_equal(json_string_value(json_array_get(res, 0)),
			    "arn:aws:ecs:us-east-1:" ACCOUNT ":task/dev/00000000000000000000000000000001");
	assert_string_equal(json_string_value(json_array_get(res, 1)),
			    "arn:aws:ecs:us-east-1:" ACCOUNT ":task/other/00000000000000000000000000000002");
	json_decref(res);
	free(action);
	/* an operation without resource-level permissions */
	authz_resources(&f->d, "RegisterTaskDefinition", in, &action, &res);
	assert_string_equal(json_string_value(json_array_get(res, 0)), "*");
	json_decref(res);
	free(action);
	action = NULL;
	/* a cluster by ARN */
	json_decref(in);
	in = json_pack("{s:s}", "cluster", "arn:aws:ecs:us-east-1:" ACCOUNT ":cluster/dev");
	authz_resources(&f->d, "ListTasks", in, &action, &res);
	assert_string_equal(json_string_value(json_array_get(res, 0)),
			    "arn:aws:ecs:us-east-1:" ACCOUNT ":cluster/dev");
	json_decref(res);
}

static void test_role_authorize(void **state)
{
	struct fx *f = *state;
	char *why = NULL;

	assert_int_equal(berthd_role_authorize(&f->d, ROLE_WEB, "ecs:DescribeTasks", "*", &why), 0);
	assert_null(why);
	assert_int_equal(berthd_role_authorize(&f->d, ROLE_RO, "secretsmanager:GetSecretValue",
					       "arn:aws:secretsmanager:us-east-1:" ACCOUNT ":secret:db-AbCdEf",
					       &why), -1);
	assert_non_null(strstr(why, "implicitly denied"));
	free(why);
	assert_int_equal(berthd_role_authorize(&f->d, ROLE_GONE, "ecs:DescribeTasks", "*", &why), -1);
	assert_non_null(strstr(why, "not defined"));
	free(why);
	assert_int_equal(berthd_role_authorize(&f->d, NULL, "ecs:DescribeTasks", "*", &why), -1);
	free(why);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_session_signature, setup, teardown),
		cmocka_unit_test_setup_teardown(test_session_expired_and_unknown_role, setup, teardown),
		cmocka_unit_test_setup_teardown(test_policies_decide, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resources, setup, teardown),
		cmocka_unit_test_setup_teardown(test_role_authorize, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
