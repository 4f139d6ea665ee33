/* tests/unit/daemon/test_api_data.c - the data-only half of berthd's ECS API
 * (runtime/daemon/api*.c) driven through api_call() with JSON bodies, as the
 * server calls it: the operation table, clusters, task definitions, the
 * host's container instance and its attributes, tags. Each test has a fresh
 * store in a temp directory and a fake struct berthd (region, account,
 * instance resources) bootstrapped with api_bootstrap().
 *
 * Every answer (response or error) is also written to a records directory,
 * and the last test runs tests/unit/daemon/shape_check.py over them with
 * Debian's botocore: each response must validate against its operation's
 * output shape and each error type must be an exception of the model, so
 * the AWS CLI and boto3 can read what berthd says. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/cleanup.h"
#include "common/error.h"
#include "common/fsutil.h"
#include "common/json.h"
#include "common/xalloc.h"
#include "runtime/daemon/api.h"
#include "runtime/daemon/discovery.h"
#include "runtime/daemon/daemon.h"
#include "runtime/daemon/services.h"
#include "runtime/daemon/store.h"

#define ACCOUNT "123456789012"
#define ARN "arn:aws:ecs:us-east-1:" ACCOUNT ":"

/* shared by the group: where the answers are recorded */
static char *g_dir;
static char *g_records;
static int g_seq;
static int g_tests;

struct fx {
	char *dir;
	struct berthd d;
	struct api_error e;   /* of the last call that failed */
};

static int group_setup(void **state)
{
	char tmpl[] = "/tmp/berth-test-api-XXXXXX";

	(void)state;
	if (!mkdtemp(tmpl))
		return -1;
	g_dir = xstrdup(tmpl);
	g_records = xasprintf("%s/records", tmpl);
	return mkdir(g_records, 0700);
}

static int group_teardown(void **state)
{
	struct berr *err = NULL;
	int rc = fs_rm_rf_at(AT_FDCWD, g_dir, &err);

	(void)state;
	if (rc < 0)
		fprintf(stderr, "cleanup: %s\n", berr_msg(err));
	berr_free(err);
	free(g_dir);
	free(g_records);
	return rc < 0 ? -1 : 0;
}

static void fx_start(struct fx *f)
{
	cleanup_free char *db = xasprintf("%s/berth.db", f->dir);
	struct berr *err = NULL;

	if (store_open(db, &f->d.st, &err) < 0)
		fail_msg("store_open: %s", berr_msg(err));
	if (api_bootstrap(&f->d, &err) < 0)
		fail_msg("api_bootstrap: %s", berr_msg(err));
}

static void fx_stop(struct fx *f)
{
	svcctl_free(f->d.svcs);
	f->d.svcs = NULL;
	autoscaling_free(&f->d);
	discovery_free(&f->d);
	store_close(f->d.st);
	f->d.st = NULL;
}

static int setup(void **state)
{
	struct fx *f = xzalloc(sizeof(*f));

	f->dir = xasprintf("%s/t%d", g_dir, g_tests++);
	if (mkdir(f->dir, 0700) < 0)
		return -1;
	f->d.cfg.region = xstrdup("us-east-1");
	f->d.cfg.account_id = xstrdup(ACCOUNT);
	f->d.cfg.instance_cpu = 2048;
	f->d.cfg.instance_memory = 4096;
	f->d.cfg.instance_attributes = json_pack("{s:s}", "stack", "prod");
	f->d.epfd = -1;   /* no event loop: service steps are the test's */
	fx_start(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	fx_stop(f);
	api_error_clear(&f->e);
	free(f->d.instance_arn);
	free(f->d.cfg.region);
	free(f->d.cfg.account_id);
	json_decref(f->d.cfg.instance_attributes);
	free(f->dir);
	free(f);
	return 0;
}

static void record(const char *op, const json_t *res, const struct api_error *e)
{
	if (!strncmp(op, API_BERTH_PREFIX, strlen(API_BERTH_PREFIX)) ||
	    !strncmp(op, API_AAS_PREFIX, strlen(API_AAS_PREFIX)))
		return;   /* berth's own operations, and another service's: not ECS's model */
	/* Cloud Map's: checked against botocore's servicediscovery model */
	bool sd = !strncmp(op, API_SD_PREFIX, strlen(API_SD_PREFIX));
	const char *name = sd ? op + strlen(API_SD_PREFIX) : op;
	cleanup_free char *path = xasprintf("%s/%05d-%s.json", g_records, g_seq++, name);
	cleanup_json json_t *rec = json_pack("{s:s}", "operation", name);
	struct berr *err = NULL;

	if (sd)
		json_object_set_new(rec, "service", json_string("servicediscovery"));

	if (res)
		json_object_set(rec, "response", (json_t *)res);
	else
		json_object_set_new(rec, "error", json_pack("{s:s, s:s, s:i}", "__type", e->type,
							    "message", e->message ?: "",
							    "status", e->status));
	if (bjson_write_file_atomic(path, rec, 0600, &err) < 0)
		fail_msg("record %s: %s", path, berr_msg(err));
}

/* The body is JSON with ' for " (readability). Returns the response or
 * NULL with f->e filled; both are recorded. */
static json_t *call(struct fx *f, const char *op, const char *body)
{
	cleanup_free char *text = xstrdup(body);
	cleanup_json json_t *in = NULL;
	json_error_t jerr;
	json_t *res;

	for (char *p = text; *p; p++)
		if (*p == '\'')
			*p = '"';
	in = json_loads(text, JSON_DECODE_ANY, &jerr);
	if (!in)
		fail_msg("test body of %s is not JSON: %s: %s", op, jerr.text, text);
	api_error_clear(&f->e);
	res = api_call(&f->d, op, in, &f->e);
	record(op, res, &f->e);
	return res;
}

static json_t *ok(struct fx *f, const char *op, const char *body)
{
	json_t *res = call(f, op, body);

	if (!res)
		fail_msg("%s %s: %s: %s", op, body, f->e.type, f->e.message);
	return res;
}

/* The call fails with `type` and a message containing `msg`. */
static void fails(struct fx *f, const char *op, const char *body, const char *type,
		  const char *msg)
{
	json_t *res = call(f, op, body);

	if (res) {
		cleanup_free char *dump = bjson_dumps(res);

		json_decref(res);
		fail_msg("%s %s: succeeded (%s), expected %s", op, body, dump, type);
	}
	if (strcmp(f->e.type, type) != 0)
		fail_msg("%s %s: %s (%s), expected %s", op, body, f->e.type, f->e.message, type);
	if (msg && !strstr(f->e.message, msg))
		fail_msg("%s %s: message \"%s\" does not contain \"%s\"", op, body, f->e.message, msg);
}

static const char *s_at(const json_t *v, const char *path)
{
	return json_string_value(json_object_get(v, path));
}

/* v[key][i][key2] */
static json_t *at(const json_t *v, const char *key, size_t i)
{
	return json_array_get(json_object_get(v, key), i);
}

static size_t n_at(const json_t *v, const char *key)
{
	return json_array_size(json_object_get(v, key));
}

static int64_t i_at(const json_t *v, const char *key)
{
	json_t *x = json_object_get(v, key);

	if (!json_is_integer(x))
		fail_msg("%s: not an integer", key);
	return json_integer_value(x);
}

static json_t *resource(const json_t *inst, const char *list, const char *name)
{
	json_t *r;
	size_t i;

	json_array_foreach(json_object_get(inst, list), i, r)
		if (strcmp(s_at(r, "name"), name) == 0)
			return r;
	fail_msg("%s: no %s", list, name);
	return NULL;
}

static const char *attr_value(const json_t *inst, const char *name, bool *found)
{
	json_t *a;
	size_t i;

	*found = false;
	json_array_foreach(json_object_get(inst, "attributes"), i, a) {
		if (strcmp(s_at(a, "name"), name) == 0) {
			*found = true;
			return s_at(a, "value");
		}
	}
	return NULL;
}

/* A task placed on this host, stored directly (RunTask is not this file's). */
static void put_task(struct fx *f, const char *cluster, int n, const char *desired,
		     const char *last, const char *cpu, const char *memory, int host_port)
{
	cleanup_free char *arn = xasprintf(ARN "task/%s/%032x", cluster, n);
	cleanup_free char *carn = xasprintf(ARN "cluster/%s", cluster);
	cleanup_json json_t *t = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:f}",
		"taskArn", arn, "clusterArn", carn, "taskDefinitionArn",
		ARN "task-definition/web:1", "containerInstanceArn", f->d.instance_arn,
		"desiredStatus", desired, "lastStatus", last, "launchType", "EC2", "cpu", cpu,
		"memory", memory, "createdAt", 1.0);
	struct berr *err = NULL;

	if (host_port)
		json_object_set_new(t, "containers", json_pack("[{s:s, s:[{s:i, s:i, s:s}]}]",
			"name", "web", "networkBindings", "containerPort", 80, "hostPort", host_port,
			"protocol", "tcp"));
	if (store_task_put(f->d.st, t, NULL, &err) < 0)
		fail_msg("store_task_put: %s", berr_msg(err));
}

/* ------------------------------------------------------------ operations */

static void test_operation_table(void **state)
{
	struct fx *f = *state;
	cleanup_json json_t *model = NULL;
	const char *name;
	json_t *v;
	size_t n = 0;

	/* every operation of (Debian's) botocore model is known */
	if (bjson_load_file("/usr/lib/python3/dist-packages/botocore/data/ecs/2014-11-13/"
			    "service-2.json", 1 << 24, &model, NULL) == 0) {
		json_object_foreach(json_object_get(model, "operations"), name, v) {
			if (!api_find(name))
				fail_msg("api_find(%s): unknown", name);
			n++;
		}
		assert_true(n > 50);
	}
	/* newer operations too (botocore 2026) */
	assert_non_null(api_find("DescribeServiceDeployments"));
	assert_non_null(api_find("UpdateTaskProtection"));
	assert_non_null(api_find("ContinueServiceDeployment"));
	assert_null(api_find("NoSuchOperation"));
	assert_null(api_find("createcluster"));
	assert_null(api_find(""));
	assert_ptr_equal(api_find("CreateCluster")->fn, api_create_cluster);
	assert_ptr_equal(api_find("RunTask")->fn, api_run_task);
	assert_ptr_equal(api_find("ListTasks")->fn, api_list_tasks);
	assert_ptr_equal(api_find("CreateService")->fn, api_create_service);
	assert_null(api_find("CreateTaskSet")->fn);

	fails(f, "NoSuchOperation", "{}", "UnknownOperationException", "NoSuchOperation");
	assert_int_equal(f->e.status, 400);
	fails(f, "CreateTaskSet", "{'service': 'x'}", "UnsupportedFeatureException",
	      "CreateTaskSet is not supported by berth yet");
	fails(f, "ListClusters", "[]", "SerializationException", "object");
	fails(f, "ListClusters", "3", "SerializationException", "object");
	fails(f, "RegisterContainerInstance", "{}", "UnsupportedFeatureException", NULL);
}

static void test_helpers(void **state)
{
	struct fx *f = *state;
	cleanup_json json_t *in = json_pack("{s:s, s:i, s:b, s:s}", "s", "x", "i", 7, "b", 1,
					    "cluster", ARN "cluster/prod");
	cleanup_free char *tok = api_page_token("some key");
	cleanup_free char *after = NULL;
	struct api_error e = { 0 };
	const char *s = NULL;
	char name[256];
	int64_t i = 0, limit = 0;
	bool b = false;

	assert_int_equal(api_get_string(in, "s", true, &s, &e), 1);
	assert_string_equal(s, "x");
	assert_int_equal(api_get_string(in, "none", false, &s, &e), 0);
	assert_int_equal(api_get_string(in, "none", true, &s, &e), -1);
	assert_string_equal(e.type, "InvalidParameterException");
	assert_string_equal(e.message, "none: required");
	assert_int_equal(api_get_string(in, "i", true, &s, &e), -1);
	assert_string_equal(e.message, "i: expected string, got integer");
	assert_int_equal(api_get_int(in, "i", true, 1, 10, &i, &e), 1);
	assert_int_equal(i, 7);
	assert_int_equal(api_get_int(in, "i", true, 8, 10, &i, &e), -1);
	assert_non_null(strstr(e.message, "out of range"));
	assert_int_equal(api_get_bool(in, "b", true, &b, &e), 1);
	assert_true(b);
	assert_int_equal(api_cluster_name(&f->d, in, name, sizeof(name), &e), 0);
	assert_string_equal(name, "prod");
	json_object_set_new(in, "cluster", json_string("arn:aws:ecs:eu-west-1:" ACCOUNT ":cluster/x"));
	assert_int_equal(api_cluster_name(&f->d, in, name, sizeof(name), &e), -1);
	assert_string_equal(e.type, "InvalidParameterException");
	json_object_set_new(in, "cluster", json_string("bad name"));
	assert_int_equal(api_cluster_name(&f->d, in, name, sizeof(name), &e), -1);
	json_object_del(in, "cluster");
	assert_int_equal(api_cluster_name(&f->d, in, name, sizeof(name), &e), 0);
	assert_string_equal(name, "default");
	assert_string_equal(api_arn_tail(ARN "task/c/abc"), "abc");
	assert_string_equal(api_arn_tail("abc"), "abc");

	/* tokens round-trip; strangers are refused */
	json_object_set_new(in, "nextToken", json_string(tok));
	assert_int_equal(api_page_start(in, 100, 100, &after, &limit, &e), 0);
	assert_string_equal(after, "some key");
	assert_int_equal(limit, 100);
	free(after);
	after = NULL;
	json_object_set_new(in, "nextToken", json_string("c29tZSBrZXk="));   /* base64, not ours */
	assert_int_equal(api_page_start(in, 100, 100, &after, &limit, &e), -1);
	json_object_set_new(in, "nextToken", json_string("!!"));
	assert_int_equal(api_page_start(in, 100, 100, &after, &limit, &e), -1);
	assert_null(after);
	json_object_del(in, "nextToken");
	json_object_set_new(in, "maxResults", json_integer(101));
	assert_int_equal(api_page_start(in, 100, 100, &after, &limit, &e), -1);
	json_object_set_new(in, "maxResults", json_integer(5));
	assert_int_equal(api_page_start(in, 100, 100, &after, &limit, &e), 0);
	assert_int_equal(limit, 5);

	/* api_time, api_now */
	assert_null(api_time(0));
	{
		json_t *t = api_time(api_now());
		double v = json_real_value(t);

		assert_true(json_is_real(t));
		assert_true(v > 1.6e9);
		/* millisecond precision */
		assert_true(fabs(v * 1000 - (double)(int64_t)(v * 1000 + 0.5)) < 1e-3);
		json_decref(t);
	}
	api_error_clear(&e);
	{
		cleanup_json json_t *tags = json_pack("[{s:s, s:s}]", "key", "aws:x", "value", "v");

		assert_int_equal(api_check_tags(tags, &e), -1);
		assert_non_null(strstr(e.message, "tags[0].key"));
		json_object_set_new(json_array_get(tags, 0), "key", json_string("naïve key-1"));
		assert_int_equal(api_check_tags(tags, &e), 0);
		json_object_set_new(json_array_get(tags, 0), "value", json_string("bad\nvalue"));
		assert_int_equal(api_check_tags(tags, &e), -1);
	}
	api_error_clear(&e);
}

/* -------------------------------------------------------------- clusters */

static void test_bootstrap_restart(void **state)
{
	struct fx *f = *state;
	char id[33];
	cleanup_free char *arn = xstrdup(f->d.instance_arn);
	cleanup_json json_t *r1 = NULL;
	cleanup_json json_t *r2 = NULL;

	assert_int_equal(strlen(f->d.instance_id), 32);
	assert_int_equal(strspn(f->d.instance_id, "0123456789abcdef"), 32);
	memcpy(id, f->d.instance_id, sizeof(id));
	assert_non_null(strstr(arn, ARN "container-instance/default/"));
	r1 = ok(f, "DescribeContainerInstances", "{'containerInstances': ['x']}");
	json_decref(r1);
	{
		char body[128];

		snprintf(body, sizeof(body), "{'containerInstances': ['%s']}", id);
		r1 = ok(f, "DescribeContainerInstances", body);
	}
	assert_int_equal(i_at(at(r1, "containerInstances", 0), "version"), 1);

	/* a restart keeps the id, refreshes resources and bumps the version */
	fx_stop(f);
	memset(f->d.instance_id, 0, sizeof(f->d.instance_id));
	f->d.cfg.instance_cpu = 4096;
	fx_start(f);
	assert_string_equal(f->d.instance_id, id);
	assert_string_equal(f->d.instance_arn, arn);
	r2 = ok(f, "ListContainerInstances", "{}");
	assert_int_equal(n_at(r2, "containerInstanceArns"), 1);
	json_decref(r2);
	{
		char body[128];

		snprintf(body, sizeof(body), "{'containerInstances': ['%s']}", arn);
		r2 = ok(f, "DescribeContainerInstances", body);
	}
	assert_int_equal(i_at(at(r2, "containerInstances", 0), "version"), 2);
	assert_int_equal(i_at(resource(at(r2, "containerInstances", 0), "registeredResources",
				       "CPU"), "integerValue"), 4096);
}

static void test_create_describe_clusters(void **state)
{
	struct fx *f = *state;
	json_t *r, *c;

	/* the default cluster exists from bootstrap, with this host in it */
	r = ok(f, "DescribeClusters", "{}");
	assert_int_equal(n_at(r, "clusters"), 1);
	c = at(r, "clusters", 0);
	assert_string_equal(s_at(c, "clusterName"), "default");
	assert_string_equal(s_at(c, "clusterArn"), ARN "cluster/default");
	assert_string_equal(s_at(c, "status"), "ACTIVE");
	assert_int_equal(i_at(c, "registeredContainerInstancesCount"), 1);
	assert_int_equal(i_at(c, "runningTasksCount"), 0);
	assert_null(json_object_get(c, "settings"));
	json_decref(r);

	r = ok(f, "CreateCluster", "{'clusterName': 'prod', 'tags': [{'key': 'team', 'value': "
	       "'a'}], 'settings': [{'name': 'containerInsights', 'value': 'enabled'}], "
	       "'capacityProviders': ['FARGATE'], 'defaultCapacityProviderStrategy': "
	       "[{'capacityProvider': 'FARGATE', 'weight': 1}]}");
	c = json_object_get(r, "cluster");
	assert_string_equal(s_at(c, "clusterArn"), ARN "cluster/prod");
	assert_string_equal(s_at(at(c, "tags", 0), "value"), "a");
	assert_string_equal(s_at(at(c, "settings", 0), "value"), "enabled");
	assert_string_equal(json_string_value(at(c, "capacityProviders", 0)), "FARGATE");
	assert_int_equal(i_at(c, "registeredContainerInstancesCount"), 0);
	json_decref(r);

	/* idempotent: an existing ACTIVE cluster comes back unchanged */
	r = ok(f, "CreateCluster", "{'clusterName': 'prod', 'tags': [{'key': 'other', 'value': "
	       "'b'}]}");
	c = json_object_get(r, "cluster");
	assert_string_equal(s_at(c, "clusterArn"), ARN "cluster/prod");
	assert_int_equal(n_at(c, "tags"), 1);
	assert_string_equal(s_at(at(c, "tags", 0), "key"), "team");
	assert_string_equal(s_at(at(c, "settings", 0), "value"), "enabled");
	json_decref(r);
	r = ok(f, "CreateCluster", "{}");
	assert_string_equal(s_at(json_object_get(r, "cluster"), "clusterName"), "default");
	json_decref(r);

	/* tasks count by lastStatus; statistics by launch type */
	put_task(f, "default", 1, "RUNNING", "RUNNING", "256", "512", 0);
	put_task(f, "default", 2, "RUNNING", "PENDING", "256", "512", 0);
	put_task(f, "default", 3, "STOPPED", "STOPPED", "256", "512", 0);
	r = ok(f, "DescribeClusters", "{'clusters': ['default', '" ARN "cluster/prod', 'nope', "
	       "'bad name!'], 'include': ['TAGS', 'STATISTICS', 'SETTINGS']}");
	assert_int_equal(n_at(r, "clusters"), 2);
	c = at(r, "clusters", 0);
	assert_int_equal(i_at(c, "runningTasksCount"), 1);
	assert_int_equal(i_at(c, "pendingTasksCount"), 1);
	assert_int_equal(i_at(c, "activeServicesCount"), 0);
	{
		json_t *kv;
		size_t i;
		bool seen = false;

		json_array_foreach(json_object_get(c, "statistics"), i, kv)
			if (strcmp(s_at(kv, "name"), "runningEC2TasksCount") == 0) {
				assert_string_equal(s_at(kv, "value"), "1");
				seen = true;
			}
		assert_true(seen);
	}
	assert_non_null(json_object_get(c, "settings"));
	c = at(r, "clusters", 1);
	assert_string_equal(s_at(at(c, "tags", 0), "key"), "team");
	assert_int_equal(n_at(r, "failures"), 2);
	assert_string_equal(s_at(at(r, "failures", 0), "arn"), ARN "cluster/nope");
	assert_string_equal(s_at(at(r, "failures", 0), "reason"), "MISSING");
	json_decref(r);

	fails(f, "CreateCluster", "{'clusterName': 'bad name'}", "InvalidParameterException",
	      "clusterName");
	fails(f, "CreateCluster", "{'clusterName': 5}", "InvalidParameterException",
	      "clusterName: expected string");
	fails(f, "CreateCluster", "{'clusterName': 'x', 'tags': [{'key': 'aws:reserved', 'value': "
	      "'v'}]}", "InvalidParameterException", "tags[0].key");
	fails(f, "CreateCluster", "{'clusterName': 'x', 'capacityProviders': ['mine']}",
	      "InvalidParameterException", "capacityProviders[0]");
	fails(f, "CreateCluster", "{'clusterName': 'x', 'settings': [{'name': 'other', 'value': "
	      "'enabled'}]}", "InvalidParameterException", "settings[0].name");
	fails(f, "DescribeClusters", "{'include': ['NOPE']}", "InvalidParameterException",
	      "include[0]");
	/* none of the failed creates left a cluster behind */
	r = ok(f, "DescribeClusters", "{'clusters': ['x']}");
	assert_int_equal(n_at(r, "failures"), 1);
	json_decref(r);
}

static void test_list_clusters_paging(void **state)
{
	struct fx *f = *state;
	const char *names[] = { "c1", "c2", "c3", "c4", "c5" };
	cleanup_json json_t *all = json_array();
	char body[512];
	json_t *r;

	for (size_t i = 0; i < 5; i++) {
		snprintf(body, sizeof(body), "{'clusterName': '%s'}", names[i]);
		json_decref(ok(f, "CreateCluster", body));
	}
	r = ok(f, "ListClusters", "{}");
	assert_int_equal(n_at(r, "clusterArns"), 6);
	assert_null(json_object_get(r, "nextToken"));
	json_decref(r);
	snprintf(body, sizeof(body), "{'maxResults': 2}");
	for (int pages = 0;; pages++) {
		json_t *x;
		size_t i;
		const char *tok;

		assert_true(pages < 4);
		r = ok(f, "ListClusters", body);
		assert_true(n_at(r, "clusterArns") <= 2);
		json_array_foreach(json_object_get(r, "clusterArns"), i, x)
			json_array_append(all, x);
		tok = s_at(r, "nextToken");
		if (!tok) {
			json_decref(r);
			break;
		}
		snprintf(body, sizeof(body), "{'maxResults': 2, 'nextToken': '%s'}", tok);
		json_decref(r);
	}
	assert_int_equal(json_array_size(all), 6);
	assert_string_equal(json_string_value(json_array_get(all, 0)), ARN "cluster/c1");
	assert_string_equal(json_string_value(json_array_get(all, 5)), ARN "cluster/default");
	fails(f, "ListClusters", "{'maxResults': 0}", "InvalidParameterException", "maxResults");
	fails(f, "ListClusters", "{'maxResults': 101}", "InvalidParameterException", "maxResults");
	fails(f, "ListClusters", "{'maxResults': '5'}", "InvalidParameterException",
	      "maxResults: expected integer, got string");
	fails(f, "ListClusters", "{'nextToken': 'garbage'}", "InvalidParameterException",
	      "nextToken");
}

static void test_delete_cluster(void **state)
{
	struct fx *f = *state;
	json_t *r, *c;

	fails(f, "DeleteCluster", "{'cluster': 'default'}",
	      "ClusterContainsContainerInstancesException", NULL);
	fails(f, "DeleteCluster", "{'cluster': 'nope'}", "ClusterNotFoundException",
	      "Cluster not found.");
	fails(f, "DeleteCluster", "{}", "InvalidParameterException", "cluster: required");

	json_decref(ok(f, "CreateCluster", "{'clusterName': 'busy', 'tags': [{'key': 'k', "
		       "'value': 'v'}]}"));
	put_task(f, "busy", 7, "STOPPED", "STOPPING", "256", "512", 0);
	fails(f, "DeleteCluster", "{'cluster': 'busy'}", "ClusterContainsTasksException", NULL);
	put_task(f, "busy", 7, "STOPPED", "STOPPED", "256", "512", 0);
	r = ok(f, "DeleteCluster", "{'cluster': '" ARN "cluster/busy'}");
	c = json_object_get(r, "cluster");
	assert_string_equal(s_at(c, "status"), "INACTIVE");
	assert_string_equal(s_at(c, "clusterName"), "busy");
	json_decref(r);
	/* INACTIVE: described as such, not listed, not deletable, recreatable */
	r = ok(f, "DescribeClusters", "{'clusters': ['busy']}");
	assert_string_equal(s_at(at(r, "clusters", 0), "status"), "INACTIVE");
	json_decref(r);
	r = ok(f, "ListClusters", "{}");
	assert_int_equal(n_at(r, "clusterArns"), 1);
	json_decref(r);
	fails(f, "DeleteCluster", "{'cluster': 'busy'}", "ClusterNotFoundException", NULL);
	fails(f, "ListTagsForResource", "{'resourceArn': '" ARN "cluster/busy'}",
	      "ClusterNotFoundException", NULL);
	r = ok(f, "CreateCluster", "{'clusterName': 'busy'}");
	c = json_object_get(r, "cluster");
	assert_string_equal(s_at(c, "status"), "ACTIVE");
	assert_int_equal(n_at(c, "tags"), 0);   /* the old tags went with the deletion */
	json_decref(r);
}

/* ------------------------------------------------------ task definitions */

#define WEB_FARGATE                                                                       \
	"{'family': 'web', 'networkMode': 'awsvpc', 'requiresCompatibilities': ['FARGATE'], " \
	"'cpu': '256', 'memory': '512', 'containerDefinitions': [{'name': 'web', "           \
	"'image': 'nginx', 'portMappings': [{'containerPort': 80}]}]"

static void test_register_task_definition(void **state)
{
	struct fx *f = *state;
	json_t *r, *td;

	r = ok(f, "RegisterTaskDefinition", WEB_FARGATE ", 'tags': [{'key': 'app', 'value': "
	       "'web'}]}");
	td = json_object_get(r, "taskDefinition");
	assert_string_equal(s_at(td, "taskDefinitionArn"), ARN "task-definition/web:1");
	assert_int_equal(i_at(td, "revision"), 1);
	assert_string_equal(s_at(td, "family"), "web");
	assert_string_equal(s_at(td, "status"), "ACTIVE");
	assert_string_equal(s_at(td, "registeredBy"), "arn:aws:iam::" ACCOUNT ":root");
	assert_true(json_is_real(json_object_get(td, "registeredAt")));
	assert_int_equal(n_at(td, "compatibilities"), 2);
	assert_string_equal(json_string_value(at(td, "compatibilities", 0)), "EC2");
	assert_string_equal(json_string_value(at(td, "compatibilities", 1)), "FARGATE");
	assert_string_equal(json_string_value(at(td, "requiresCompatibilities", 0)), "FARGATE");
	assert_null(json_object_get(td, "tags"));
	/* awsvpc: hostPort filled in as containerPort, protocol tcp */
	{
		json_t *pm = json_array_get(json_object_get(at(td, "containerDefinitions", 0),
							    "portMappings"), 0);

		assert_int_equal(i_at(pm, "hostPort"), 80);
		assert_string_equal(s_at(pm, "protocol"), "tcp");
	}
	assert_string_equal(s_at(at(r, "tags", 0), "key"), "app");
	json_decref(r);

	/* revisions count up; cpu and memory as ECS answers them */
	r = ok(f, "RegisterTaskDefinition", "{'family': 'web', 'networkMode': 'awsvpc', "
	       "'requiresCompatibilities': ['FARGATE'], 'cpu': '1 vCPU', 'memory': '2GB', "
	       "'containerDefinitions': [{'name': 'web', 'image': 'nginx'}]}");
	td = json_object_get(r, "taskDefinition");
	assert_int_equal(i_at(td, "revision"), 2);
	assert_string_equal(s_at(td, "cpu"), "1024");
	assert_string_equal(s_at(td, "memory"), "2048");
	assert_int_equal(n_at(r, "tags"), 0);
	json_decref(r);

	/* bridge mode, no requirements: EC2 only */
	r = ok(f, "RegisterTaskDefinition", "{'family': 'batch', 'containerDefinitions': [{'name': "
	       "'job', 'image': 'busybox', 'memory': 64, 'portMappings': [{'containerPort': 80, "
	       "'hostPort': 8080}]}]}");
	td = json_object_get(r, "taskDefinition");
	assert_int_equal(i_at(td, "revision"), 1);
	assert_int_equal(n_at(td, "compatibilities"), 1);
	assert_string_equal(json_string_value(at(td, "compatibilities", 0)), "EC2");
	assert_int_equal(n_at(td, "requiresCompatibilities"), 0);
	json_decref(r);

	/* validation errors name the field, as ClientException */
	fails(f, "RegisterTaskDefinition", "{'family': 'bad', 'containerDefinitions': [{'name': "
	      "'a', 'image': 'x', 'memory': 64}, {'name': 'b', 'memory': 64}]}", "ClientException",
	      "containerDefinitions[1].image");
	fails(f, "RegisterTaskDefinition", "{'family': 'bad', 'networkMode': 'awsvpc', "
	      "'requiresCompatibilities': ['FARGATE'], 'cpu': '256', 'memory': '4096', "
	      "'containerDefinitions': [{'name': 'a', 'image': 'x'}]}", "ClientException", NULL);
	fails(f, "RegisterTaskDefinition", "{'family': 'bad name', 'containerDefinitions': "
	      "[{'name': 'a', 'image': 'x', 'memory': 64}]}", "ClientException", "family");
	fails(f, "RegisterTaskDefinition", "{'containerDefinitions': []}",
	      "InvalidParameterException", "family: required");
	fails(f, "RegisterTaskDefinition", WEB_FARGATE ", 'tags': [{'key': ''}]}",
	      "InvalidParameterException", "tags[0].key");
	/* failed registrations use no revision */
	r = ok(f, "RegisterTaskDefinition", "{'family': 'bad', 'containerDefinitions': [{'name': "
	       "'a', 'image': 'x', 'memory': 64}]}");
	assert_int_equal(i_at(json_object_get(r, "taskDefinition"), "revision"), 1);
	json_decref(r);
}

static void test_describe_deregister_task_definition(void **state)
{
	struct fx *f = *state;
	json_t *r, *td;

	json_decref(ok(f, "RegisterTaskDefinition", WEB_FARGATE ", 'tags': [{'key': 'app', "
		       "'value': 'web'}]}"));
	json_decref(ok(f, "RegisterTaskDefinition", WEB_FARGATE "}"));
	json_decref(ok(f, "RegisterTaskDefinition", WEB_FARGATE "}"));

	r = ok(f, "DescribeTaskDefinition", "{'taskDefinition': 'web'}");
	assert_int_equal(i_at(json_object_get(r, "taskDefinition"), "revision"), 3);
	assert_null(json_object_get(r, "tags"));
	json_decref(r);
	r = ok(f, "DescribeTaskDefinition", "{'taskDefinition': 'web:1', 'include': ['TAGS']}");
	assert_int_equal(i_at(json_object_get(r, "taskDefinition"), "revision"), 1);
	assert_string_equal(s_at(at(r, "tags", 0), "value"), "web");
	json_decref(r);
	r = ok(f, "DescribeTaskDefinition", "{'taskDefinition': '" ARN "task-definition/web:2'}");
	assert_int_equal(i_at(json_object_get(r, "taskDefinition"), "revision"), 2);
	json_decref(r);
	fails(f, "DescribeTaskDefinition", "{'taskDefinition': 'web:9'}", "ClientException",
	      "Unable to describe task definition.");
	fails(f, "DescribeTaskDefinition", "{'taskDefinition': 'nope'}", "ClientException",
	      "Unable to describe task definition.");
	fails(f, "DescribeTaskDefinition", "{'taskDefinition': 'web:x'}", "ClientException",
	      "Unable to describe task definition.");
	fails(f, "DescribeTaskDefinition", "{'taskDefinition': 'web', 'include': ['ALL']}",
	      "InvalidParameterException", "include[0]");

	fails(f, "DeregisterTaskDefinition", "{'taskDefinition': 'web'}",
	      "InvalidParameterException", "revision");
	fails(f, "DeregisterTaskDefinition", "{'taskDefinition': 'web:7'}", "ClientException",
	      "does not exist");
	r = ok(f, "DeregisterTaskDefinition", "{'taskDefinition': '" ARN "task-definition/web:3'}");
	td = json_object_get(r, "taskDefinition");
	assert_string_equal(s_at(td, "status"), "INACTIVE");
	assert_true(json_is_real(json_object_get(td, "deregisteredAt")));
	json_decref(r);
	/* again: unchanged */
	r = ok(f, "DeregisterTaskDefinition", "{'taskDefinition': 'web:3'}");
	assert_string_equal(s_at(json_object_get(r, "taskDefinition"), "status"), "INACTIVE");
	json_decref(r);
	/* the family is now revision 2; INACTIVE revisions still describe */
	r = ok(f, "DescribeTaskDefinition", "{'taskDefinition': 'web'}");
	assert_int_equal(i_at(json_object_get(r, "taskDefinition"), "revision"), 2);
	json_decref(r);
	r = ok(f, "DescribeTaskDefinition", "{'taskDefinition': 'web:3'}");
	assert_string_equal(s_at(json_object_get(r, "taskDefinition"), "status"), "INACTIVE");
	json_decref(r);
	/* revision 3 is never handed out again */
	r = ok(f, "RegisterTaskDefinition", WEB_FARGATE "}");
	assert_int_equal(i_at(json_object_get(r, "taskDefinition"), "revision"), 4);
	json_decref(r);
}

static void test_list_task_definitions(void **state)
{
	struct fx *f = *state;
	char body[512];
	json_t *r;
	int n = 0;

	for (int i = 0; i < 3; i++)
		json_decref(ok(f, "RegisterTaskDefinition", WEB_FARGATE "}"));
	json_decref(ok(f, "RegisterTaskDefinition", "{'family': 'api', 'containerDefinitions': "
		       "[{'name': 'a', 'image': 'x', 'memory': 64}]}"));
	json_decref(ok(f, "RegisterTaskDefinition", "{'family': 'webhook', 'containerDefinitions': "
		       "[{'name': 'a', 'image': 'x', 'memory': 64}]}"));
	json_decref(ok(f, "DeregisterTaskDefinition", "{'taskDefinition': 'web:2'}"));
	json_decref(ok(f, "DeregisterTaskDefinition", "{'taskDefinition': 'webhook:1'}"));

	r = ok(f, "ListTaskDefinitions", "{}");
	assert_int_equal(n_at(r, "taskDefinitionArns"), 3);   /* ACTIVE by default */
	assert_string_equal(json_string_value(at(r, "taskDefinitionArns", 0)),
			    ARN "task-definition/api:1");
	assert_string_equal(json_string_value(at(r, "taskDefinitionArns", 2)),
			    ARN "task-definition/web:3");
	json_decref(r);
	/* familyPrefix is the full family name (ECS) */
	r = ok(f, "ListTaskDefinitions", "{'familyPrefix': 'web', 'sort': 'DESC'}");
	assert_int_equal(n_at(r, "taskDefinitionArns"), 2);
	assert_string_equal(json_string_value(at(r, "taskDefinitionArns", 0)),
			    ARN "task-definition/web:3");
	json_decref(r);
	r = ok(f, "ListTaskDefinitions", "{'status': 'INACTIVE'}");
	assert_int_equal(n_at(r, "taskDefinitionArns"), 2);
	json_decref(r);
	/* paging, newest first */
	snprintf(body, sizeof(body), "{'maxResults': 1, 'sort': 'DESC', 'status': 'ACTIVE'}");
	for (;;) {
		const char *tok;

		r = ok(f, "ListTaskDefinitions", body);
		assert_int_equal(n_at(r, "taskDefinitionArns"), 1);
		if (n == 0)
			assert_string_equal(json_string_value(at(r, "taskDefinitionArns", 0)),
					    ARN "task-definition/web:3");
		if (n == 2)
			assert_string_equal(json_string_value(at(r, "taskDefinitionArns", 0)),
					    ARN "task-definition/api:1");
		n++;
		tok = s_at(r, "nextToken");
		if (!tok) {
			json_decref(r);
			break;
		}
		snprintf(body, sizeof(body), "{'maxResults': 1, 'sort': 'DESC', 'nextToken': '%s'}",
			 tok);
		json_decref(r);
	}
	assert_int_equal(n, 3);
	fails(f, "ListTaskDefinitions", "{'sort': 'UP'}", "InvalidParameterException", "sort");
	fails(f, "ListTaskDefinitions", "{'status': 'GONE'}", "InvalidParameterException", "status");

	r = ok(f, "ListTaskDefinitionFamilies", "{}");
	assert_int_equal(n_at(r, "families"), 3);
	json_decref(r);
	r = ok(f, "ListTaskDefinitionFamilies", "{'familyPrefix': 'web'}");
	assert_int_equal(n_at(r, "families"), 2);
	json_decref(r);
	r = ok(f, "ListTaskDefinitionFamilies", "{'status': 'ACTIVE'}");
	assert_int_equal(n_at(r, "families"), 2);
	json_decref(r);
	r = ok(f, "ListTaskDefinitionFamilies", "{'status': 'INACTIVE'}");
	assert_int_equal(n_at(r, "families"), 1);
	assert_string_equal(json_string_value(at(r, "families", 0)), "webhook");
	json_decref(r);
	r = ok(f, "ListTaskDefinitionFamilies", "{'maxResults': 2, 'status': 'ALL'}");
	assert_int_equal(n_at(r, "families"), 2);
	assert_non_null(s_at(r, "nextToken"));
	snprintf(body, sizeof(body), "{'maxResults': 2, 'nextToken': '%s'}", s_at(r, "nextToken"));
	json_decref(r);
	r = ok(f, "ListTaskDefinitionFamilies", body);
	assert_int_equal(n_at(r, "families"), 1);
	assert_string_equal(json_string_value(at(r, "families", 0)), "webhook");
	assert_null(json_object_get(r, "nextToken"));
	json_decref(r);
	fails(f, "ListTaskDefinitionFamilies", "{'status': 'SOME'}", "InvalidParameterException",
	      "status");
}

/* --------------------------------------------------- container instances */

static void test_container_instances(void **state)
{
	struct fx *f = *state;
	char body[512];
	json_t *r, *ci, *rem;
	bool found;

	snprintf(body, sizeof(body), "{'containerInstances': ['%s', '%s', 'nope']}",
		 f->d.instance_id, f->d.instance_arn);
	r = ok(f, "DescribeContainerInstances", body);
	assert_int_equal(n_at(r, "containerInstances"), 2);
	assert_int_equal(n_at(r, "failures"), 1);
	assert_string_equal(s_at(at(r, "failures", 0), "arn"), ARN "container-instance/default/nope");
	assert_string_equal(s_at(at(r, "failures", 0), "reason"), "MISSING");
	ci = at(r, "containerInstances", 0);
	assert_string_equal(s_at(ci, "containerInstanceArn"), f->d.instance_arn);
	assert_string_equal(s_at(ci, "status"), "ACTIVE");
	assert_true(json_is_true(json_object_get(ci, "agentConnected")));
	assert_int_equal(strncmp(s_at(ci, "ec2InstanceId"), "berth-", 6), 0);
	assert_non_null(s_at(json_object_get(ci, "versionInfo"), "agentVersion"));
	assert_int_equal(i_at(resource(ci, "registeredResources", "CPU"), "integerValue"), 2048);
	assert_int_equal(i_at(resource(ci, "registeredResources", "MEMORY"), "integerValue"), 4096);
	assert_int_equal(n_at(resource(ci, "registeredResources", "PORTS"), "stringSetValue"), 5);
	assert_int_equal(i_at(resource(ci, "remainingResources", "CPU"), "integerValue"), 2048);
	assert_string_equal(attr_value(ci, "ecs.os-type", &found), "linux");
	assert_string_equal(attr_value(ci, "ecs.instance-type", &found), "berth");
	assert_string_equal(attr_value(ci, "ecs.availability-zone", &found), "us-east-1a");
	assert_string_equal(attr_value(ci, "stack", &found), "prod");
	attr_value(ci, "ecs.capability.task-eni", &found);
	assert_true(found);
	json_decref(r);

	/* tasks with desiredStatus RUNNING use resources and host ports */
	put_task(f, "default", 1, "RUNNING", "RUNNING", "512", "1024", 8080);
	put_task(f, "default", 2, "RUNNING", "PENDING", "1 vCPU", "1GB", 0);
	put_task(f, "default", 3, "STOPPED", "STOPPED", "512", "1024", 9090);
	snprintf(body, sizeof(body), "{'containerInstances': ['%s']}", f->d.instance_id);
	r = ok(f, "DescribeContainerInstances", body);
	ci = at(r, "containerInstances", 0);
	rem = resource(ci, "remainingResources", "CPU");
	assert_int_equal(i_at(rem, "integerValue"), 2048 - 512 - 1024);
	assert_int_equal(i_at(resource(ci, "remainingResources", "MEMORY"), "integerValue"),
			 4096 - 1024 - 1024);
	assert_int_equal(n_at(resource(ci, "remainingResources", "PORTS"), "stringSetValue"), 6);
	assert_int_equal(i_at(ci, "runningTasksCount"), 1);
	assert_int_equal(i_at(ci, "pendingTasksCount"), 1);
	json_decref(r);

	/* a container instance of another cluster is not found in this one */
	json_decref(ok(f, "CreateCluster", "{'clusterName': 'other'}"));
	snprintf(body, sizeof(body), "{'cluster': 'other', 'containerInstances': ['%s']}",
		 f->d.instance_id);
	r = ok(f, "DescribeContainerInstances", body);
	assert_int_equal(n_at(r, "containerInstances"), 0);
	assert_int_equal(n_at(r, "failures"), 1);
	json_decref(r);
	fails(f, "DescribeContainerInstances", "{'cluster': 'nope', 'containerInstances': ['x']}",
	      "ClusterNotFoundException", NULL);
	fails(f, "DescribeContainerInstances", "{}", "InvalidParameterException",
	      "containerInstances: required");

	/* list: filters and status */
	r = ok(f, "ListContainerInstances", "{'filter': 'attribute:stack == prod'}");
	assert_int_equal(n_at(r, "containerInstanceArns"), 1);
	json_decref(r);
	r = ok(f, "ListContainerInstances", "{'filter': 'attribute:stack == dev'}");
	assert_int_equal(n_at(r, "containerInstanceArns"), 0);
	json_decref(r);
	r = ok(f, "ListContainerInstances", "{'filter': 'attribute:ecs.os-type exists'}");
	assert_int_equal(n_at(r, "containerInstanceArns"), 1);
	json_decref(r);
	r = ok(f, "ListContainerInstances", "{'filter': 'attribute:nothing exists'}");
	assert_int_equal(n_at(r, "containerInstanceArns"), 0);
	json_decref(r);
	r = ok(f, "ListContainerInstances", "{'maxResults': 1}");
	assert_int_equal(n_at(r, "containerInstanceArns"), 1);
	assert_null(json_object_get(r, "nextToken"));
	json_decref(r);
	fails(f, "ListContainerInstances", "{'filter': 'runningTasksCount > 1'}",
	      "InvalidParameterException", "filter: not supported yet");
	fails(f, "ListContainerInstances", "{'filter': 'attribute:a == b and attribute:c == d'}",
	      "InvalidParameterException", "filter: not supported yet");
	fails(f, "ListContainerInstances", "{'status': 'SLEEPING'}", "InvalidParameterException",
	      "status");
	fails(f, "ListContainerInstances", "{'cluster': 'nope'}", "ClusterNotFoundException", NULL);

	/* DRAINING and back */
	snprintf(body, sizeof(body), "{'containerInstances': ['%s', 'nope'], 'status': 'DRAINING'}",
		 f->d.instance_id);
	r = ok(f, "UpdateContainerInstancesState", body);
	assert_string_equal(s_at(at(r, "containerInstances", 0), "status"), "DRAINING");
	assert_int_equal(i_at(at(r, "containerInstances", 0), "version"), 2);
	assert_int_equal(n_at(r, "failures"), 1);
	json_decref(r);
	r = ok(f, "ListContainerInstances", "{'status': 'DRAINING'}");
	assert_int_equal(n_at(r, "containerInstanceArns"), 1);
	json_decref(r);
	r = ok(f, "ListContainerInstances", "{'status': 'ACTIVE'}");
	assert_int_equal(n_at(r, "containerInstanceArns"), 0);
	json_decref(r);
	/* a restart keeps DRAINING */
	fx_stop(f);
	fx_start(f);
	r = ok(f, "ListContainerInstances", "{'status': 'DRAINING'}");
	assert_int_equal(n_at(r, "containerInstanceArns"), 1);
	json_decref(r);
	snprintf(body, sizeof(body), "{'containerInstances': ['%s'], 'status': 'DEREGISTERING'}",
		 f->d.instance_id);
	fails(f, "UpdateContainerInstancesState", body, "InvalidParameterException", "status");
	snprintf(body, sizeof(body), "{'containerInstances': ['%s'], 'status': 'ACTIVE'}",
		 f->d.instance_arn);
	r = ok(f, "UpdateContainerInstancesState", body);
	assert_string_equal(s_at(at(r, "containerInstances", 0), "status"), "ACTIVE");
	json_decref(r);
}

/* More instances (as a multi-host store would have): the filter is applied
 * across store pages and nextToken continues after the last match. */
static void test_list_instances_filter_paging(void **state)
{
	struct fx *f = *state;
	cleanup_json json_t *seen = json_array();
	char body[512];
	json_t *r;
	int pages = 0;

	for (int i = 0; i < 10; i++) {
		cleanup_free char *arn = xasprintf(ARN "container-instance/default/%032x", i);
		cleanup_json json_t *doc = json_pack("{s:s, s:s, s:I, s:[{s:s, s:s}]}",
			"containerInstanceArn", arn, "status", i == 9 ? "INACTIVE" : "ACTIVE",
			"version", (json_int_t)1,
			"attributes", "name", "zone", "value", i % 3 == 0 ? "a" : "b");
		struct berr *err = NULL;

		if (store_instance_put(f->d.st, doc, &err) < 0)
			fail_msg("store_instance_put: %s", berr_msg(err));
	}
	/* zone == a: instances 0, 3, 6 (this host has no zone attribute; 9 is INACTIVE) */
	snprintf(body, sizeof(body), "{'filter': 'attribute:zone == a', 'maxResults': 2}");
	for (;;) {
		const char *tok;
		json_t *x;
		size_t i;

		assert_true(++pages <= 3);
		r = ok(f, "ListContainerInstances", body);
		json_array_foreach(json_object_get(r, "containerInstanceArns"), i, x)
			json_array_append(seen, x);
		tok = s_at(r, "nextToken");
		if (!tok) {
			json_decref(r);
			break;
		}
		snprintf(body, sizeof(body), "{'filter': 'attribute:zone == a', 'maxResults': 2, "
			 "'nextToken': '%s'}", tok);
		json_decref(r);
	}
	assert_int_equal(pages, 2);
	assert_int_equal(json_array_size(seen), 3);
	assert_string_equal(json_string_value(json_array_get(seen, 0)),
			    ARN "container-instance/default/00000000000000000000000000000000");
	assert_string_equal(json_string_value(json_array_get(seen, 2)),
			    ARN "container-instance/default/00000000000000000000000000000006");
	/* the last page ends on the last match: no token */
	r = ok(f, "ListContainerInstances", "{'filter': 'attribute:zone == a', 'maxResults': 3}");
	assert_int_equal(n_at(r, "containerInstanceArns"), 3);
	json_decref(r);
	r = ok(f, "ListContainerInstances", "{'maxResults': 5}");
	assert_int_equal(n_at(r, "containerInstanceArns"), 5);
	assert_non_null(s_at(r, "nextToken"));
	json_decref(r);
	/* INACTIVE instances only when asked for by status */
	r = ok(f, "ListContainerInstances", "{}");
	assert_int_equal(n_at(r, "containerInstanceArns"), 10);   /* 9 + this host */
	json_decref(r);
	r = ok(f, "ListContainerInstances", "{'filter': 'attribute:zone == a', 'status': "
	       "'DRAINING'}");
	assert_int_equal(n_at(r, "containerInstanceArns"), 0);
	json_decref(r);
}

/* Custom attributes from the configuration follow ECS's rules. */
static void test_bootstrap_bad_attributes(void **state)
{
	struct fx *f = *state;
	struct berr *err = NULL;

	json_decref(f->d.cfg.instance_attributes);
	f->d.cfg.instance_attributes = json_object();
	for (int i = 0; i < 11; i++) {
		char name[16];

		snprintf(name, sizeof(name), "a%d", i);
		json_object_set_new(f->d.cfg.instance_attributes, name, json_string("v"));
	}
	assert_true(api_bootstrap(&f->d, &err) < 0);
	assert_non_null(strstr(berr_msg(err), "custom attributes, ECS allows 10"));
	berr_clear(&err);
	json_object_clear(f->d.cfg.instance_attributes);
	json_object_set_new(f->d.cfg.instance_attributes, "ecs.mine", json_string("v"));
	assert_true(api_bootstrap(&f->d, &err) < 0);
	assert_non_null(strstr(berr_msg(err), "ecs.mine"));
	berr_clear(&err);
	json_object_clear(f->d.cfg.instance_attributes);
	json_object_set_new(f->d.cfg.instance_attributes, "ok", json_string(" padded"));
	assert_true(api_bootstrap(&f->d, &err) < 0);
	assert_non_null(strstr(berr_msg(err), "instance.attributes.ok"));
	berr_clear(&err);
}

static void test_attributes(void **state)
{
	struct fx *f = *state;
	char body[2048];
	json_t *r;
	bool found;

	snprintf(body, sizeof(body), "{'attributes': [{'name': 'gpu', 'value': 'none', "
		 "'targetType': 'container-instance', 'targetId': '%s'}, {'name': 'ssd', "
		 "'targetId': '%s'}]}", f->d.instance_id, f->d.instance_arn);
	r = ok(f, "PutAttributes", body);
	assert_int_equal(n_at(r, "attributes"), 2);
	json_decref(r);

	snprintf(body, sizeof(body), "{'containerInstances': ['%s']}", f->d.instance_id);
	r = ok(f, "DescribeContainerInstances", body);
	assert_string_equal(attr_value(at(r, "containerInstances", 0), "gpu", &found), "none");
	assert_null(attr_value(at(r, "containerInstances", 0), "ssd", &found));
	assert_true(found);
	json_decref(r);

	r = ok(f, "ListAttributes", "{'targetType': 'container-instance', 'attributeName': 'gpu'}");
	assert_int_equal(n_at(r, "attributes"), 1);
	assert_string_equal(s_at(at(r, "attributes", 0), "targetId"), f->d.instance_arn);
	assert_string_equal(s_at(at(r, "attributes", 0), "value"), "none");
	json_decref(r);
	r = ok(f, "ListAttributes", "{'targetType': 'container-instance', 'attributeName': 'gpu', "
	       "'attributeValue': 'some'}");
	assert_int_equal(n_at(r, "attributes"), 0);
	json_decref(r);
	/* built-in ones are listed too; paging */
	{
		size_t total = 0;

		snprintf(body, sizeof(body), "{'targetType': 'container-instance', 'maxResults': 3}");
		for (int pages = 0;; pages++) {
			const char *tok;

			assert_true(pages < 20);
			r = ok(f, "ListAttributes", body);
			total += n_at(r, "attributes");
			tok = s_at(r, "nextToken");
			if (!tok) {
				json_decref(r);
				break;
			}
			snprintf(body, sizeof(body), "{'targetType': 'container-instance', "
				 "'maxResults': 3, 'nextToken': '%s'}", tok);
			json_decref(r);
		}
		/* 5 ecs.*, 9 capabilities, stack, gpu, ssd */
		assert_int_equal(total, 17);
	}
	r = ok(f, "ListContainerInstances", "{'filter': 'attribute:gpu == none'}");
	assert_int_equal(n_at(r, "containerInstanceArns"), 1);
	json_decref(r);

	/* delete (a value given must match) */
	snprintf(body, sizeof(body), "{'attributes': [{'name': 'gpu', 'value': 'other', "
		 "'targetId': '%s'}]}", f->d.instance_id);
	json_decref(ok(f, "DeleteAttributes", body));
	r = ok(f, "ListAttributes", "{'targetType': 'container-instance', 'attributeName': 'gpu'}");
	assert_int_equal(n_at(r, "attributes"), 1);
	json_decref(r);
	snprintf(body, sizeof(body), "{'attributes': [{'name': 'gpu', 'targetId': '%s'}]}",
		 f->d.instance_id);
	json_decref(ok(f, "DeleteAttributes", body));
	r = ok(f, "ListAttributes", "{'targetType': 'container-instance', 'attributeName': 'gpu'}");
	assert_int_equal(n_at(r, "attributes"), 0);
	json_decref(r);
	snprintf(body, sizeof(body), "{'containerInstances': ['%s']}", f->d.instance_id);
	r = ok(f, "DescribeContainerInstances", body);
	attr_value(at(r, "containerInstances", 0), "gpu", &found);
	assert_false(found);
	json_decref(r);

	/* rules */
	snprintf(body, sizeof(body), "{'attributes': [{'name': 'ecs.os-type', 'value': 'x', "
		 "'targetId': '%s'}]}", f->d.instance_id);
	fails(f, "PutAttributes", body, "InvalidParameterException", "attributes[0].name");
	snprintf(body, sizeof(body), "{'attributes': [{'name': 'a b', 'targetId': '%s'}]}",
		 f->d.instance_id);
	fails(f, "PutAttributes", body, "InvalidParameterException", "attributes[0].name");
	snprintf(body, sizeof(body), "{'attributes': [{'name': 'ok', 'value': ' lead', "
		 "'targetId': '%s'}]}", f->d.instance_id);
	fails(f, "PutAttributes", body, "InvalidParameterException", "attributes[0].value");
	fails(f, "PutAttributes", "{'attributes': [{'name': 'ok'}]}", "InvalidParameterException",
	      "targetId");
	fails(f, "PutAttributes", "{'attributes': [{'name': 'ok', 'targetId': 'nope'}]}",
	      "TargetNotFoundException", NULL);
	fails(f, "PutAttributes", "{'attributes': []}", "InvalidParameterException", "attributes");
	snprintf(body, sizeof(body), "{'attributes': [{'name': 'ok', 'targetType': 'service', "
		 "'targetId': '%s'}]}", f->d.instance_id);
	fails(f, "PutAttributes", body, "InvalidParameterException", "targetType");
	fails(f, "PutAttributes", "{'cluster': 'nope', 'attributes': [{'name': 'ok', 'targetId': "
	      "'x'}]}", "ClusterNotFoundException", NULL);
	fails(f, "ListAttributes", "{}", "InvalidParameterException", "targetType");
	fails(f, "ListAttributes", "{'targetType': 'container-instance', 'attributeValue': 'x'}",
	      "InvalidParameterException", "attributeName");
	/* at most 10 custom attributes per instance (stack and ssd are 2 already) */
	{
		int n = snprintf(body, sizeof(body), "{'attributes': [");

		for (int i = 0; i < 9; i++)
			n += snprintf(body + n, sizeof(body) - (size_t)n, "%s{'name': 'c%d', "
				      "'targetId': '%s'}", i ? ", " : "", i, f->d.instance_id);
		snprintf(body + n, sizeof(body) - (size_t)n, "]}");
		fails(f, "PutAttributes", body, "AttributeLimitExceededException", NULL);
		/* nothing of the refused call was kept */
		r = ok(f, "ListAttributes", "{'targetType': 'container-instance', 'attributeName': "
		       "'c0'}");
		assert_int_equal(n_at(r, "attributes"), 0);
		json_decref(r);
	}
}

/* ------------------------------------------------------------------ tags */

static void tag_roundtrip(struct fx *f, const char *arn)
{
	char body[1024];
	json_t *r;

	snprintf(body, sizeof(body), "{'resourceArn': '%s', 'tags': [{'key': 'b', 'value': '2'}, "
		 "{'key': 'a', 'value': '1'}]}", arn);
	r = ok(f, "TagResource", body);
	assert_int_equal(json_object_size(r), 0);
	json_decref(r);
	snprintf(body, sizeof(body), "{'resourceArn': '%s', 'tags': [{'key': 'a', 'value': 'one'}]}",
		 arn);
	json_decref(ok(f, "TagResource", body));
	snprintf(body, sizeof(body), "{'resourceArn': '%s'}", arn);
	r = ok(f, "ListTagsForResource", body);
	assert_int_equal(n_at(r, "tags"), 2);
	assert_string_equal(s_at(at(r, "tags", 0), "key"), "a");
	assert_string_equal(s_at(at(r, "tags", 0), "value"), "one");
	json_decref(r);
	snprintf(body, sizeof(body), "{'resourceArn': '%s', 'tagKeys': ['a', 'zz']}", arn);
	json_decref(ok(f, "UntagResource", body));
	snprintf(body, sizeof(body), "{'resourceArn': '%s'}", arn);
	r = ok(f, "ListTagsForResource", body);
	assert_int_equal(n_at(r, "tags"), 1);
	assert_string_equal(s_at(at(r, "tags", 0), "key"), "b");
	json_decref(r);
}

static void test_tags(void **state)
{
	struct fx *f = *state;
	char body[4096];
	json_t *r;

	json_decref(ok(f, "RegisterTaskDefinition", WEB_FARGATE "}"));
	put_task(f, "default", 5, "RUNNING", "RUNNING", "256", "512", 0);
	tag_roundtrip(f, ARN "cluster/default");
	tag_roundtrip(f, ARN "task-definition/web:1");
	tag_roundtrip(f, ARN "task/default/00000000000000000000000000000005");
	tag_roundtrip(f, f->d.instance_arn);

	/* tags show up where the resources are described */
	r = ok(f, "DescribeClusters", "{'include': ['TAGS']}");
	assert_string_equal(s_at(at(at(r, "clusters", 0), "tags", 0), "key"), "b");
	json_decref(r);
	r = ok(f, "DescribeTaskDefinition", "{'taskDefinition': 'web', 'include': ['TAGS']}");
	assert_int_equal(n_at(r, "tags"), 1);
	json_decref(r);
	snprintf(body, sizeof(body), "{'containerInstances': ['%s'], 'include': ['TAGS']}",
		 f->d.instance_id);
	r = ok(f, "DescribeContainerInstances", body);
	assert_int_equal(n_at(at(r, "containerInstances", 0), "tags"), 1);
	json_decref(r);

	/* missing resources */
	fails(f, "TagResource", "{'resourceArn': '" ARN "task-definition/web:9', 'tags': "
	      "[{'key': 'k', 'value': 'v'}]}", "ResourceNotFoundException", NULL);
	fails(f, "TagResource", "{'resourceArn': '" ARN "task/default/"
	      "00000000000000000000000000000009', 'tags': [{'key': 'k', 'value': 'v'}]}",
	      "ResourceNotFoundException", NULL);
	fails(f, "TagResource", "{'resourceArn': '" ARN "task/other/"
	      "00000000000000000000000000000005', 'tags': [{'key': 'k', 'value': 'v'}]}",
	      "ClusterNotFoundException", NULL);
	fails(f, "UntagResource", "{'resourceArn': '" ARN "cluster/nope', 'tagKeys': ['k']}",
	      "ClusterNotFoundException", NULL);
	fails(f, "ListTagsForResource", "{'resourceArn': '" ARN "container-instance/default/"
	      "ffffffffffffffffffffffffffffffff'}", "InvalidParameterException", NULL);
	/* a task of one cluster is not found under another's name */
	json_decref(ok(f, "CreateCluster", "{'clusterName': 'other'}"));
	fails(f, "ListTagsForResource", "{'resourceArn': '" ARN "task/other/"
	      "00000000000000000000000000000005'}", "InvalidParameterException", NULL);
	/* not ARNs berth has */
	fails(f, "ListTagsForResource", "{'resourceArn': '" ARN "service/default/web'}",
	      "UnsupportedFeatureException", NULL);
	fails(f, "ListTagsForResource", "{'resourceArn': 'arn:aws:ecs:eu-west-1:" ACCOUNT
	      ":cluster/default'}", "InvalidParameterException", "resourceArn");
	fails(f, "ListTagsForResource", "{'resourceArn': 'default'}", "InvalidParameterException",
	      "resourceArn");
	fails(f, "TagResource", "{'resourceArn': '" ARN "cluster/default'}",
	      "InvalidParameterException", "tags: required");
	fails(f, "UntagResource", "{'resourceArn': '" ARN "cluster/default', 'tagKeys': [1]}",
	      "InvalidParameterException", "tagKeys[0]");
	/* at most 50 per resource, counting what is there */
	{
		int n = snprintf(body, sizeof(body), "{'resourceArn': '" ARN "cluster/default', "
				 "'tags': [");

		for (int i = 0; i < 50; i++)
			n += snprintf(body + n, sizeof(body) - (size_t)n, "%s{'key': 'k%d', 'value': "
				      "'v'}", i ? ", " : "", i);
		snprintf(body + n, sizeof(body) - (size_t)n, "]}");
		fails(f, "TagResource", body, "InvalidParameterException", "at most 50");
		r = ok(f, "ListTagsForResource", "{'resourceArn': '" ARN "cluster/default'}");
		assert_int_equal(n_at(r, "tags"), 1);
		json_decref(r);
	}
}

/* --------------------------------------------------------- shape check */

/* Runs last: every answer recorded above against botocore's model. */
/* ------------------------------------------------------------ services */

#define WEB_EC2                                                                           \
	"{'family': 'svc', 'networkMode': 'bridge', 'containerDefinitions': [{'name': 'web', " \
	"'image': 'nginx', 'memory': 128, 'portMappings': [{'containerPort': 80, 'hostPort': 8080}]}]}"

static json_t *one_service(struct fx *f, const char *name)
{
	cleanup_free char *body = xasprintf("{'services': ['%s'], 'include': ['TAGS']}", name);
	json_t *r = ok(f, "DescribeServices", body);
	json_t *s = json_incref(at(r, "services", 0));

	assert_int_equal(n_at(r, "services"), 1);
	assert_int_equal(n_at(r, "failures"), 0);
	json_decref(r);
	return s;
}

/* A task of service web, stored directly (the controller's starts need
 * shims, which this file has not). */
static void put_svc_task(struct fx *f, int n, const char *dep, const char *last)
{
	cleanup_free char *arn = xasprintf(ARN "task/default/%032x", n);
	cleanup_json json_t *t = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:f, s:f, s:[]}",
		"taskArn", arn, "clusterArn", ARN "cluster/default", "taskDefinitionArn",
		ARN "task-definition/svc:1", "containerInstanceArn", f->d.instance_arn,
		"desiredStatus", "RUNNING", "lastStatus", last, "launchType", "EC2",
		"group", "service:web", "startedBy", dep, "createdAt", 1.0, "startedAt", 2.0,
		"containers");

	/* as a shim reports them: every container has a healthStatus, also
	 * without a health check (the task definition says whether there is one) */
	json_array_append_new(json_object_get(t, "containers"),
			      json_pack("{s:s, s:s, s:s}", "name", "web", "lastStatus", last, "healthStatus",
					"UNKNOWN"));
	struct berr *err = NULL;

	if (store_task_put(f->d.st, t, NULL, &err) < 0)
		fail_msg("store_task_put: %s", berr_msg(err));
}

static void test_services(void **state)
{
	struct fx *f = *state;
	json_t *r, *s, *dep;
	cleanup_free char *dep_id = NULL, *dep2 = NULL;
	struct berr *err = NULL;
	cleanup_json json_t *task = NULL;

	json_decref(ok(f, "RegisterTaskDefinition", WEB_EC2));
	/* what CreateService refuses, each naming the field */
	fails(f, "CreateService", "{'serviceName': 'web'}", "InvalidParameterException", "taskDefinition");
	fails(f, "CreateService", "{'serviceName': 'web', 'taskDefinition': 'svc'}",
	      "InvalidParameterException", "desiredCount: required");
	fails(f, "CreateService", "{'serviceName': 'we b', 'taskDefinition': 'svc', 'desiredCount': 1}",
	      "InvalidParameterException", "serviceName");
	fails(f, "CreateService", "{'serviceName': 'web', 'taskDefinition': 'nope', 'desiredCount': 1}",
	      "ClientException", "TaskDefinition not found.");
	fails(f, "CreateService", "{'serviceName': 'web', 'taskDefinition': 'svc', 'desiredCount': 1, "
	      "'loadBalancers': [{'targetGroupArn': 'x', 'containerName': 'web', 'containerPort': 80}]}",
	      "InvalidParameterException", "set lbControlSocket in berthd.json");
	fails(f, "CreateService", "{'serviceName': 'web', 'taskDefinition': 'svc', 'desiredCount': 1, "
	      "'capacityProviderStrategy': [{'capacityProvider': 'x'}]}",
	      "InvalidParameterException", "capacityProviderStrategy: not supported yet");
	fails(f, "CreateService", "{'serviceName': 'web', 'taskDefinition': 'svc', 'desiredCount': 1, "
	      "'deploymentConfiguration': {'deploymentCircuitBreaker': {'enable': true}}}",
	      "InvalidParameterException", "enable and rollback are required");
	fails(f, "CreateService", "{'serviceName': 'web', 'taskDefinition': 'svc', 'desiredCount': 1, "
	      "'deploymentConfiguration': {'maximumPercent': 50}}",
	      "InvalidParameterException", "maximumPercent 50: must be at least 100");
	fails(f, "CreateService", "{'serviceName': 'web', 'taskDefinition': 'svc', 'desiredCount': 1, "
	      "'placementConstraints': [{'type': 'memberOf', 'expression': 'attribute:stack =='}]}",
	      "InvalidParameterException", "memberOf");
	fails(f, "CreateService", "{'serviceName': 'web', 'taskDefinition': 'svc', 'desiredCount': 1, "
	      "'networkConfiguration': {'awsvpcConfiguration': {'subnets': ['s']}}}",
	      "InvalidParameterException", "networkMode");
	fails(f, "CreateService", "{'cluster': 'nope', 'serviceName': 'web', 'taskDefinition': 'svc', "
	      "'desiredCount': 1}", "ClusterNotFoundException", NULL);
	fails(f, "CreateService", "{'serviceName': 'web', 'taskDefinition': 'svc', "
	      "'schedulingStrategy': 'DAEMON', 'desiredCount': 2}", "InvalidParameterException",
	      "desiredCount");

	r = ok(f, "CreateService", "{'serviceName': 'web', 'taskDefinition': 'svc', 'desiredCount': 0, "
	       "'clientToken': 'tok-1', 'tags': [{'key': 'team', 'value': 'a'}], "
	       "'deploymentConfiguration': {'deploymentCircuitBreaker': {'enable': true, 'rollback': true}, "
	       "'minimumHealthyPercent': 50}}");
	s = json_object_get(r, "service");
	assert_string_equal(s_at(s, "serviceArn"), ARN "service/default/web");
	assert_string_equal(s_at(s, "status"), "ACTIVE");
	assert_string_equal(s_at(s, "taskDefinition"), ARN "task-definition/svc:1");
	assert_string_equal(s_at(s, "schedulingStrategy"), "REPLICA");
	assert_string_equal(s_at(s, "launchType"), "EC2");
	assert_int_equal(n_at(s, "deployments"), 1);
	dep = at(s, "deployments", 0);
	assert_string_equal(s_at(dep, "status"), "PRIMARY");
	assert_string_equal(s_at(dep, "rolloutState"), "IN_PROGRESS");
	assert_int_equal(i_at(json_object_get(s, "deploymentConfiguration"), "minimumHealthyPercent"), 50);
	assert_int_equal(i_at(json_object_get(s, "deploymentConfiguration"), "maximumPercent"), 200);
	dep_id = xstrdup(s_at(dep, "id"));
	assert_true(strncmp(dep_id, "ecs-svc/", 8) == 0);
	json_decref(r);
	/* the same request again (same clientToken) is the same service; another is an error */
	r = ok(f, "CreateService", "{'serviceName': 'web', 'taskDefinition': 'svc', 'desiredCount': 0, "
	       "'clientToken': 'tok-1'}");
	assert_string_equal(s_at(at(json_object_get(r, "service"), "deployments", 0), "id"), dep_id);
	json_decref(r);
	fails(f, "CreateService", "{'serviceName': 'web', 'taskDefinition': 'svc', 'desiredCount': 0}",
	      "InvalidParameterException", "Creation of service was not idempotent.");

	/* a step with no task: steady at 0 */
	svcctl_step_all(f->d.svcs);
	s = one_service(f, "web");
	assert_string_equal(s_at(at(s, "deployments", 0), "rolloutState"), "COMPLETED");
	assert_int_equal(n_at(s, "tags"), 1);
	assert_non_null(strstr(s_at(at(s, "events", 0), "message"), "(service web) has reached a steady state."));
	json_decref(s);

	r = ok(f, "ListServices", "{}");
	assert_int_equal(n_at(r, "serviceArns"), 1);
	json_decref(r);
	r = ok(f, "ListServices", "{'schedulingStrategy': 'DAEMON'}");
	assert_int_equal(n_at(r, "serviceArns"), 0);
	json_decref(r);
	r = ok(f, "DescribeServices", "{'services': ['nope', '" ARN "service/default/web']}");
	assert_int_equal(n_at(r, "services"), 1);
	assert_int_equal(n_at(r, "failures"), 1);
	assert_string_equal(s_at(at(r, "failures", 0), "arn"), ARN "service/default/nope");
	assert_string_equal(s_at(at(r, "failures", 0), "reason"), "MISSING");
	json_decref(r);
	fails(f, "DeleteCluster", "{'cluster': 'default'}", "ClusterContainsServicesException", NULL);

	/* a new task definition: a new PRIMARY deployment */
	json_decref(ok(f, "RegisterTaskDefinition", WEB_EC2));
	r = ok(f, "UpdateService", "{'service': 'web', 'taskDefinition': 'svc:2', 'desiredCount': 1}");
	s = json_object_get(r, "service");
	assert_string_equal(s_at(s, "taskDefinition"), ARN "task-definition/svc:2");
	dep2 = xstrdup(s_at(at(s, "deployments", 0), "id"));
	assert_string_not_equal(dep2, dep_id);
	json_decref(r);
	fails(f, "UpdateService", "{'service': 'nope', 'desiredCount': 1}", "ServiceNotFoundException",
	      "Service not found.");
	fails(f, "UpdateService", "{'service': 'web', 'launchType': 'FARGATE'}", "InvalidParameterException",
	      "cannot be changed");

	/* restart: the service comes back with its deployments and events */
	fx_stop(f);
	fx_start(f);
	assert_int_equal(svcctl_new(&f->d, &f->d.svcs, &err), 0);
	s = one_service(f, "web");
	assert_string_equal(s_at(at(s, "deployments", 0), "id"), dep2);
	assert_true(n_at(s, "events") >= 1);
	json_decref(s);

	/* scale back to 0; a task of it, stored, is stopped by the controller
	 * with ECS's reason; delete drains, then INACTIVE */
	fails(f, "DeleteService", "{'service': 'web'}", "InvalidParameterException",
	      "The service cannot be stopped while it is scaled above 0.");
	json_decref(ok(f, "UpdateService", "{'service': 'web', 'desiredCount': 0}"));
	put_svc_task(f, 7, dep2, "RUNNING");
	r = ok(f, "DeleteService", "{'service': 'web'}");
	assert_string_equal(s_at(json_object_get(r, "service"), "status"), "DRAINING");
	json_decref(r);
	svcctl_step_all(f->d.svcs);
	assert_int_equal(store_task_get(f->d.st, "00000000000000000000000000000007", &task, &err), 1);
	assert_string_equal(s_at(task, "desiredStatus"), "STOPPED");
	assert_string_equal(s_at(task, "stopCode"), "ServiceSchedulerInitiated");
	assert_non_null(strstr(s_at(task, "stoppedReason"), "Scaling activity initiated by (deployment "));
	s = one_service(f, "web");
	assert_string_equal(s_at(s, "status"), "DRAINING");
	json_decref(s);
	json_object_set_new(task, "lastStatus", json_string("STOPPED"));
	json_object_set_new(task, "stoppedAt", json_real(3.0));
	assert_int_equal(store_task_put(f->d.st, task, NULL, &err), 0);
	svcctl_step_all(f->d.svcs);
	s = one_service(f, "web");
	assert_string_equal(s_at(s, "status"), "INACTIVE");
	json_decref(s);
	r = ok(f, "ListServices", "{}");
	assert_int_equal(n_at(r, "serviceArns"), 0);
	json_decref(r);
	fails(f, "UpdateService", "{'service': 'web', 'desiredCount': 1}", "ServiceNotActiveException", NULL);
	/* the name can be used again */
	json_decref(ok(f, "CreateService", "{'serviceName': 'web', 'taskDefinition': 'svc', "
		       "'desiredCount': 0}"));
}

/* A restart in the middle of a deployment: the restored controller keeps
 * stepping and completes it once its tasks count as healthy. */
static void test_service_restore_steps(void **state)
{
	struct fx *f = *state;
	struct berr *err = NULL;
	cleanup_free char *dep = NULL;
	json_t *r, *s, *t;
	double now = api_now();

	json_decref(ok(f, "RegisterTaskDefinition", WEB_EC2));
	r = ok(f, "CreateService", "{'serviceName': 'web', 'taskDefinition': 'svc', 'desiredCount': 2}");
	dep = xstrdup(s_at(at(json_object_get(r, "service"), "deployments", 0), "id"));
	json_decref(r);
	/* its two tasks, RUNNING for 10 s: not healthy yet (40 s rule) */
	for (int i = 1; i <= 2; i++) {
		put_svc_task(f, i, dep, "RUNNING");
		{
			cleanup_free char *id = xasprintf("%032x", i);
			cleanup_json json_t *doc = NULL;

			assert_int_equal(store_task_get(f->d.st, id, &doc, &err), 1);
			json_object_set_new(doc, "startedAt", json_real(now - 10));
			assert_int_equal(store_task_put(f->d.st, doc, NULL, &err), 0);
		}
	}
	svcctl_step_all(f->d.svcs);
	s = one_service(f, "web");
	assert_string_equal(s_at(at(s, "deployments", 0), "rolloutState"), "IN_PROGRESS");
	assert_int_equal(i_at(s, "runningCount"), 2);
	json_decref(s);

	fx_stop(f);
	fx_start(f);
	assert_int_equal(svcctl_new(&f->d, &f->d.svcs, &err), 0);
	for (int i = 1; i <= 2; i++) {
		cleanup_free char *id = xasprintf("%032x", i);
		cleanup_json json_t *doc = NULL;

		assert_int_equal(store_task_get(f->d.st, id, &doc, &err), 1);
		json_object_set_new(doc, "startedAt", json_real(now - 100));
		assert_int_equal(store_task_put(f->d.st, doc, NULL, &err), 0);
	}
	svcctl_step_all(f->d.svcs);
	s = one_service(f, "web");
	t = at(s, "deployments", 0);
	if (strcmp(s_at(t, "rolloutState"), "COMPLETED"))
		fail_msg("after the restore: %s", s_at(t, "rolloutStateReason"));
	assert_string_equal(s_at(at(s, "events", 0), "message"), "(service web) has reached a steady state.");
	json_decref(s);
}

/* Scheduled tasks: what CreateSchedule refuses, the schedule as stored,
 * a due run recorded (here one whose RunTask fails: the task definition was
 * deregistered after the schedule was made), DeleteSchedule. */
static void test_schedules(void **state)
{
	struct fx *f = *state;
	struct berr *err = NULL;
	json_t *r, *sch, *doc = NULL;
	double now = api_now();

	f->d.cfg.schedule_seconds_per_minute = 60;
	json_decref(ok(f, "RegisterTaskDefinition", WEB_EC2));
	fails(f, "BerthV1.CreateSchedule", "{'name': 'n', 'scheduleExpression': 'rate(0 minutes)', "
	      "'taskDefinition': 'svc'}", "InvalidParameterException", "scheduleExpression: rate(0 minutes)");
	fails(f, "BerthV1.CreateSchedule", "{'name': 'n', 'scheduleExpression': 'cron(0 0 32 * ? *)', "
	      "'taskDefinition': 'svc'}", "InvalidParameterException", "Day-of-month");
	fails(f, "BerthV1.CreateSchedule", "{'name': 'a b', 'scheduleExpression': 'rate(1 minute)', "
	      "'taskDefinition': 'svc'}", "InvalidParameterException", "name");
	fails(f, "BerthV1.CreateSchedule", "{'name': 'n', 'scheduleExpression': 'rate(1 minute)', "
	      "'taskDefinition': 'nope'}", "ClientException", "TaskDefinition not found.");
	fails(f, "BerthV1.CreateSchedule", "{'name': 'n', 'scheduleExpression': 'rate(1 minute)', "
	      "'taskDefinition': 'svc', 'count': 11}", "InvalidParameterException", "count");
	fails(f, "BerthV1.CreateSchedule", "{'name': 'n', 'scheduleExpression': 'rate(1 minute)', "
	      "'taskDefinition': 'svc', 'missedRuns': 'all'}", "InvalidParameterException", "missedRuns");
	r = ok(f, "BerthV1.CreateSchedule", "{'name': 'nightly', 'scheduleExpression': 'rate(5 minutes)', "
	       "'taskDefinition': 'svc', 'count': 2, 'missedRuns': 'run-once'}");
	sch = json_object_get(r, "schedule");
	assert_string_equal(s_at(sch, "state"), "ENABLED");
	assert_string_equal(s_at(json_object_get(sch, "target"), "taskDefinition"), ARN "task-definition/svc:1");
	assert_int_equal(i_at(sch, "nextFire") - (int64_t)now >= 299, 1);
	assert_null(json_object_get(sch, "anchor"));
	json_decref(r);
	fails(f, "BerthV1.CreateSchedule", "{'name': 'nightly', 'scheduleExpression': 'rate(1 minute)', "
	      "'taskDefinition': 'svc'}", "ConflictException", "exists");
	r = ok(f, "BerthV1.ListSchedules", "{}");
	assert_int_equal(n_at(r, "schedules"), 1);
	json_decref(r);

	/* not due yet: nothing runs */
	schedules_step(&f->d);
	r = ok(f, "BerthV1.DescribeSchedule", "{'name': 'nightly'}");
	assert_int_equal(n_at(r, "runs"), 0);
	json_decref(r);
	/* 100 s ago it was made and 40 s ago it was due: one run, recorded with
	 * RunTask's error (the revision is INACTIVE now) */
	json_decref(ok(f, "DeregisterTaskDefinition", "{'taskDefinition': 'svc:1'}"));
	assert_int_equal(store_schedule_get(f->d.st, "nightly", &doc, &err), 1);
	json_object_set_new(doc, "anchor", json_integer((json_int_t)now - 340));
	json_object_set_new(doc, "lastFire", json_integer((json_int_t)now - 340));
	json_object_set_new(doc, "nextFire", json_integer((json_int_t)now - 40));
	assert_int_equal(store_schedule_put(f->d.st, doc, &err), 0);
	json_decref(doc);
	schedules_step(&f->d);
	r = ok(f, "BerthV1.DescribeSchedule", "{'name': 'nightly'}");
	assert_int_equal(n_at(r, "runs"), 1);
	assert_int_equal(i_at(at(r, "runs", 0), "fireTime"), (int64_t)now - 40);
	assert_non_null(strstr(s_at(at(r, "runs", 0), "error"), "TaskDefinition is inactive"));
	assert_int_equal(i_at(json_object_get(r, "schedule"), "runs"), 1);
	assert_int_equal(i_at(json_object_get(r, "schedule"), "nextFire") > (int64_t)now, 1);
	json_decref(r);
	/* the step does not run it again */
	schedules_step(&f->d);
	r = ok(f, "BerthV1.DescribeSchedule", "{'name': 'nightly'}");
	assert_int_equal(n_at(r, "runs"), 1);
	json_decref(r);

	json_decref(ok(f, "BerthV1.DeleteSchedule", "{'name': 'nightly'}"));
	fails(f, "BerthV1.DescribeSchedule", "{'name': 'nightly'}", "ResourceNotFoundException", NULL);
	fails(f, "BerthV1.DeleteSchedule", "{'name': 'nightly'}", "ResourceNotFoundException", NULL);
}

/* Application Auto Scaling: the target and policy API, and target tracking
 * on CPU measured from the tasks' cgroups (a fake cgroup tree whose
 * cpu.stat the test advances: 0.5 s of CPU per second for a task of 256
 * units is 200 %), which scales the service out to its maximum. */
static void write_cpu(const char *dir, uint64_t usec)
{
	cleanup_free char *path = xasprintf("%s/cpu.stat", dir);
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fprintf(fp, "usage_usec %llu\nuser_usec %llu\nsystem_usec 0\n", (unsigned long long)usec,
		(unsigned long long)usec);
	fclose(fp);
}

static void test_autoscaling(void **state)
{
	struct fx *f = *state;
	struct berr *err = NULL;
	cleanup_free char *cg = xasprintf("%s/cg", f->dir), *tdir = NULL, *dep = NULL;
	cleanup_json json_t *doc = NULL;
	json_t *r, *s;
	double t0;
	uint64_t usec = 1000000;
	int64_t desired = 1;

	f->d.cfg.autoscaling_period = 1;
	f->d.cfg.cgroup_root = cg;
	json_decref(ok(f, "RegisterTaskDefinition", WEB_EC2));
	r = ok(f, "CreateService", "{'serviceName': 'web', 'taskDefinition': 'svc', 'desiredCount': 1}");
	dep = xstrdup(s_at(at(json_object_get(r, "service"), "deployments", 0), "id"));
	json_decref(r);
	put_svc_task(f, 1, dep, "RUNNING");
	assert_int_equal(store_task_get(f->d.st, "00000000000000000000000000000001", &doc, &err), 1);
	json_object_set_new(doc, "cpu", json_string("256"));
	json_object_set_new(doc, "memory", json_string("128"));
	assert_int_equal(store_task_put(f->d.st, doc, NULL, &err), 0);
	tdir = xasprintf("%s/00000000000000000000000000000001", cg);
	assert_int_equal(mkdir(cg, 0700), 0);
	assert_int_equal(mkdir(tdir, 0700), 0);
	write_cpu(tdir, usec);

	fails(f, "AnyScaleFrontendService.RegisterScalableTarget", "{'ServiceNamespace': 'dynamodb', "
	      "'ResourceId': 'service/default/web', 'ScalableDimension': 'ecs:service:DesiredCount', "
	      "'MinCapacity': 1, 'MaxCapacity': 4}", "ValidationException", "ServiceNamespace");
	fails(f, "AnyScaleFrontendService.RegisterScalableTarget", "{'ServiceNamespace': 'ecs', "
	      "'ResourceId': 'service/default/nope', 'ScalableDimension': 'ecs:service:DesiredCount', "
	      "'MinCapacity': 1, 'MaxCapacity': 4}", "ValidationException", "ECS service doesn't exist");
	fails(f, "AnyScaleFrontendService.RegisterScalableTarget", "{'ServiceNamespace': 'ecs', "
	      "'ResourceId': 'service/default/web', 'ScalableDimension': 'ecs:service:DesiredCount', "
	      "'MinCapacity': 5, 'MaxCapacity': 4}", "ValidationException", NULL);
	json_decref(ok(f, "AnyScaleFrontendService.RegisterScalableTarget", "{'ServiceNamespace': 'ecs', "
		       "'ResourceId': 'service/default/web', 'ScalableDimension': 'ecs:service:DesiredCount', "
		       "'MinCapacity': 1, 'MaxCapacity': 4}"));
	fails(f, "AnyScaleFrontendService.PutScalingPolicy", "{'ServiceNamespace': 'ecs', 'PolicyName': 'p', "
	      "'ResourceId': 'service/default/web', 'ScalableDimension': 'ecs:service:DesiredCount', "
	      "'PolicyType': 'StepScaling'}", "ValidationException", "TargetTrackingScaling only");
	r = ok(f, "AnyScaleFrontendService.PutScalingPolicy", "{'ServiceNamespace': 'ecs', 'PolicyName': "
	       "'cpu50', 'ResourceId': 'service/default/web', 'ScalableDimension': 'ecs:service:DesiredCount', "
	       "'PolicyType': 'TargetTrackingScaling', 'TargetTrackingScalingPolicyConfiguration': "
	       "{'TargetValue': 50.0, 'PredefinedMetricSpecification': {'PredefinedMetricType': "
	       "'ECSServiceAverageCPUUtilization'}, 'ScaleOutCooldown': 0, 'ScaleInCooldown': 0}}");
	assert_int_equal(n_at(r, "Alarms"), 2);
	json_decref(r);
	r = ok(f, "AnyScaleFrontendService.DescribeScalingPolicies", "{'ServiceNamespace': 'ecs'}");
	assert_int_equal(n_at(r, "ScalingPolicies"), 1);
	json_decref(r);

	/* 200 % CPU for 3 datapoints (1 s each): out to ceil(1 x 200 / 50) = 4 */
	t0 = api_now();
	while (api_now() - t0 < 10 && desired == 1) {
		usleep(250000);
		/* 0.5 s of CPU per second of wall time, however slow this loop is */
		write_cpu(tdir, usec + (uint64_t)((api_now() - t0) * 500000.0));
		svcctl_step_all(f->d.svcs);
		s = one_service(f, "web");
		desired = i_at(s, "desiredCount");
		json_decref(s);
	}
	assert_int_equal(desired, 4);
	r = ok(f, "AnyScaleFrontendService.DescribeScalingActivities", "{'ServiceNamespace': 'ecs', "
	       "'ResourceId': 'service/default/web'}");
	assert_int_equal(n_at(r, "ScalingActivities"), 1);
	assert_non_null(strstr(s_at(at(r, "ScalingActivities", 0), "Description"), "4"));
	json_decref(r);
	json_decref(ok(f, "AnyScaleFrontendService.DeleteScalingPolicy", "{'ServiceNamespace': 'ecs', "
		       "'PolicyName': 'cpu50', 'ResourceId': 'service/default/web', "
		       "'ScalableDimension': 'ecs:service:DesiredCount'}"));
	json_decref(ok(f, "AnyScaleFrontendService.DeregisterScalableTarget", "{'ServiceNamespace': 'ecs', "
		       "'ResourceId': 'service/default/web', 'ScalableDimension': 'ecs:service:DesiredCount'}"));
	fails(f, "AnyScaleFrontendService.DeregisterScalableTarget", "{'ServiceNamespace': 'ecs', "
	      "'ResourceId': 'service/default/web', 'ScalableDimension': 'ecs:service:DesiredCount'}",
	      "ObjectNotFoundException", NULL);
	f->d.cfg.cgroup_root = NULL;
}

/* Service discovery: Cloud Map's namespaces and services, an ECS service
 * with serviceRegistries, and its RUNNING tasks as the Cloud Map service's
 * instances (the DNS side is test_dns's and the VM test's). */
#define SD "Route53AutoNaming_v20170314."
#define WEB_AWSVPC                                                                               \
	"{'family': 'sdweb', 'networkMode': 'awsvpc', 'containerDefinitions': [{'name': 'web', "    \
	"'image': 'nginx', 'memory': 128, 'portMappings': [{'containerPort': 8080}]}]}"

static void put_sd_task(struct fx *f, int n, const char *dep, const char *last, const char *ip)
{
	cleanup_free char *arn = xasprintf(ARN "task/default/%032x", n);
	cleanup_json json_t *t = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:f, s:f, s:[{s:s, "
					   "s:s, s:s, s:[{s:s}]}]}",
		"taskArn", arn, "clusterArn", ARN "cluster/default", "taskDefinitionArn",
		ARN "task-definition/sdweb:1", "containerInstanceArn", f->d.instance_arn,
		"desiredStatus", "RUNNING", "lastStatus", last, "launchType", "EC2",
		"group", "service:web", "startedBy", dep, "createdAt", 1.0, "startedAt", 2.0,
		"containers", "name", "web", "lastStatus", last, "healthStatus", "UNKNOWN",
		"networkInterfaces", "privateIpv4Address", ip);
	struct berr *err = NULL;

	if (store_task_put(f->d.st, t, NULL, &err) < 0)
		fail_msg("store_task_put: %s", berr_msg(err));
}

static void test_discovery(void **state)
{
	struct fx *f = *state;
	cleanup_free char *ns = NULL, *op = NULL, *srv = NULL, *srv_arn = NULL, *dep = NULL, *body = NULL;
	json_t *r, *x;

	/* namespaces */
	fails(f, SD "CreatePrivateDnsNamespace", "{'Name': 'bad..name', 'Vpc': 'v'}", "InvalidInput", "Name");
	fails(f, SD "CreatePrivateDnsNamespace", "{'Name': 'berth.local'}", "InvalidInput", "Vpc");
	fails(f, SD "CreatePrivateDnsNamespace", "{'Name': 'berth.local', 'Vpc': 'v', 'Tags': [{'Key': 'a', "
	      "'Value': 'b'}]}", "InvalidInput", "Tags: not supported yet");
	r = ok(f, SD "CreatePrivateDnsNamespace", "{'Name': 'berth.local', 'Vpc': 'vpc-1', "
	       "'CreatorRequestId': 'req-1', 'Properties': {'DnsProperties': {'SOA': {'TTL': 30}}}}");
	op = xstrdup(s_at(r, "OperationId"));
	json_decref(r);
	/* the same request again: the same operation */
	r = ok(f, SD "CreatePrivateDnsNamespace", "{'Name': 'berth.local', 'Vpc': 'vpc-1', "
	       "'CreatorRequestId': 'req-1'}");
	assert_string_equal(s_at(r, "OperationId"), op);
	json_decref(r);
	body = xasprintf("{'OperationId': '%s'}", op);
	r = ok(f, SD "GetOperation", body);
	x = json_object_get(r, "Operation");
	assert_string_equal(s_at(x, "Status"), "SUCCESS");
	assert_string_equal(s_at(x, "Type"), "CREATE_NAMESPACE");
	ns = xstrdup(s_at(json_object_get(x, "Targets"), "NAMESPACE"));
	assert_true(!strncmp(ns, "ns-", 3));
	json_decref(r);
	fails(f, SD "GetOperation", "{'OperationId': 'nope'}", "OperationNotFound", NULL);
	fails(f, SD "CreatePrivateDnsNamespace", "{'Name': 'BERTH.local', 'Vpc': 'v'}", "NamespaceAlreadyExists",
	      NULL);
	fails(f, SD "CreatePrivateDnsNamespace", "{'Name': 'svc.berth.local', 'Vpc': 'v'}", "InvalidInput",
	      "overlaps");
	free(body);
	body = xasprintf("{'Id': '%s'}", ns);
	r = ok(f, SD "GetNamespace", body);
	x = json_object_get(r, "Namespace");
	assert_string_equal(s_at(x, "Name"), "berth.local");
	assert_string_equal(s_at(x, "Type"), "DNS_PRIVATE");
	assert_int_equal(i_at(json_object_get(json_object_get(json_object_get(x, "Properties"), "DnsProperties"),
					      "SOA"), "TTL"), 30);
	json_decref(r);
	fails(f, SD "GetNamespace", "{'Id': 'ns-nope'}", "NamespaceNotFound", NULL);
	json_decref(ok(f, SD "CreatePrivateDnsNamespace", "{'Name': 'other.internal', 'Vpc': 'v'}"));
	r = ok(f, SD "ListNamespaces", "{'Filters': [{'Name': 'NAME', 'Values': ['berth.local'], "
	       "'Condition': 'EQ'}]}");
	assert_int_equal(n_at(r, "Namespaces"), 1);
	json_decref(r);
	r = ok(f, SD "ListNamespaces", "{'MaxResults': 1}");
	assert_int_equal(n_at(r, "Namespaces"), 1);
	assert_non_null(json_object_get(r, "NextToken"));
	json_decref(r);

	/* services */
	fails(f, SD "CreateService", "{'Name': 'web', 'NamespaceId': 'ns-nope', 'DnsConfig': {'DnsRecords': "
	      "[{'Type': 'A', 'TTL': 10}]}}", "NamespaceNotFound", NULL);
	free(body);
	body = xasprintf("{'Name': 'web', 'NamespaceId': '%s', 'DnsConfig': {'DnsRecords': [{'Type': 'AAAA', "
			 "'TTL': 10}]}}", ns);
	fails(f, SD "CreateService", body, "InvalidInput", "AAAA records are not supported yet");
	free(body);
	body = xasprintf("{'Name': 'web', 'NamespaceId': '%s', 'DnsConfig': {'DnsRecords': [{'Type': 'A', "
			 "'TTL': 10}]}, 'HealthCheckConfig': {'Type': 'HTTP'}}", ns);
	fails(f, SD "CreateService", body, "InvalidInput", "HealthCheckCustomConfig");
	free(body);
	body = xasprintf("{'Name': 'web', 'NamespaceId': '%s', 'DnsConfig': {'DnsRecords': [{'Type': 'A', "
			 "'TTL': 10}, {'Type': 'SRV', 'TTL': 10}]}, 'HealthCheckCustomConfig': "
			 "{'FailureThreshold': 1}}", ns);
	r = ok(f, SD "CreateService", body);
	x = json_object_get(r, "Service");
	srv = xstrdup(s_at(x, "Id"));
	srv_arn = xstrdup(s_at(x, "Arn"));
	assert_int_equal(i_at(x, "InstanceCount"), 0);
	assert_string_equal(s_at(json_object_get(x, "DnsConfig"), "RoutingPolicy"), "MULTIVALUE");
	json_decref(r);
	fails(f, SD "CreateService", body, "ServiceAlreadyExists", NULL);
	free(body);
	body = xasprintf("{'Filters': [{'Name': 'NAMESPACE_ID', 'Values': ['%s']}]}", ns);
	r = ok(f, SD "ListServices", body);
	assert_int_equal(n_at(r, "Services"), 1);
	json_decref(r);
	free(body);
	body = xasprintf("{'Id': '%s'}", ns);
	fails(f, SD "DeleteNamespace", body, "ResourceInUse", NULL);
	fails(f, SD "RegisterInstance", "{'ServiceId': 'x', 'InstanceId': 'i', 'Attributes': {}}",
	      "UnsupportedFeatureException", "not supported by berth yet");

	/* an ECS service in it: awsvpc only, and an SRV record needs a port */
	json_decref(ok(f, "RegisterTaskDefinition", WEB_EC2));
	json_decref(ok(f, "RegisterTaskDefinition", WEB_AWSVPC));
	free(body);
	body = xasprintf("{'serviceName': 'web', 'taskDefinition': 'svc', 'desiredCount': 1, "
			 "'serviceRegistries': [{'registryArn': '%s'}]}", srv_arn);
	fails(f, "CreateService", body, "InvalidParameterException", "awsvpc");
	free(body);
	body = xasprintf("{'serviceName': 'web', 'taskDefinition': 'sdweb', 'desiredCount': 1, "
			 "'networkConfiguration': {'awsvpcConfiguration': {'subnets': ['s']}}, "
			 "'serviceRegistries': [{'registryArn': '%s'}]}", srv_arn);
	fails(f, "CreateService", body, "InvalidParameterException", "SRV record");
	free(body);
	body = xasprintf("{'serviceName': 'web', 'taskDefinition': 'sdweb', 'desiredCount': 1, "
			 "'networkConfiguration': {'awsvpcConfiguration': {'subnets': ['s']}}, "
			 "'serviceRegistries': [{'registryArn': '%s', 'containerName': 'web', "
			 "'containerPort': 81}]}", srv_arn);
	fails(f, "CreateService", body, "InvalidParameterException", "containerPort 81");
	fails(f, "CreateService", "{'serviceName': 'web', 'taskDefinition': 'sdweb', 'desiredCount': 1, "
	      "'networkConfiguration': {'awsvpcConfiguration': {'subnets': ['s']}}, "
	      "'serviceRegistries': [{'registryArn': 'arn:aws:servicediscovery:us-east-1:1:service/srv-x'}]}",
	      "InvalidParameterException", "no service discovery service");
	free(body);
	body = xasprintf("{'serviceName': 'web', 'taskDefinition': 'sdweb', 'desiredCount': 2, "
			 "'networkConfiguration': {'awsvpcConfiguration': {'subnets': ['s']}}, "
			 "'serviceRegistries': [{'registryArn': '%s', 'containerName': 'web', "
			 "'containerPort': 8080}]}", srv_arn);
	r = ok(f, "CreateService", body);
	x = json_object_get(r, "service");
	assert_int_equal(n_at(x, "serviceRegistries"), 1);
	assert_string_equal(s_at(at(x, "serviceRegistries", 0), "registryArn"), srv_arn);
	dep = xstrdup(s_at(at(x, "deployments", 0), "id"));
	json_decref(r);

	/* its RUNNING tasks are the instances; a PENDING one is not */
	put_sd_task(f, 1, dep, "RUNNING", "10.213.0.5");
	put_sd_task(f, 2, dep, "PENDING", "10.213.0.6");
	svcctl_step_all(f->d.svcs);
	free(body);
	body = xasprintf("{'ServiceId': '%s'}", srv);
	r = ok(f, SD "ListInstances", body);
	assert_int_equal(n_at(r, "Instances"), 1);
	x = at(r, "Instances", 0);
	assert_string_equal(s_at(x, "Id"), "00000000000000000000000000000001");
	assert_string_equal(s_at(json_object_get(x, "Attributes"), "AWS_INSTANCE_IPV4"), "10.213.0.5");
	assert_string_equal(s_at(json_object_get(x, "Attributes"), "AWS_INSTANCE_PORT"), "8080");
	assert_string_equal(s_at(json_object_get(x, "Attributes"), "ECS_SERVICE_NAME"), "web");
	assert_string_equal(s_at(json_object_get(x, "Attributes"), "ECS_TASK_DEFINITION_FAMILY"), "sdweb");
	json_decref(r);
	put_sd_task(f, 2, dep, "RUNNING", "10.213.0.6");
	svcctl_step_all(f->d.svcs);
	r = ok(f, SD "ListInstances", body);
	assert_int_equal(n_at(r, "Instances"), 2);
	json_decref(r);
	free(body);
	body = xasprintf("{'Id': '%s'}", srv);
	r = ok(f, SD "GetService", body);
	assert_int_equal(i_at(json_object_get(r, "Service"), "InstanceCount"), 2);
	json_decref(r);
	fails(f, SD "DeleteService", body, "ResourceInUse", NULL);

	/* a restarted berthd knows its namespaces and services */
	fx_stop(f);
	fx_start(f);
	r = ok(f, SD "GetService", body);
	assert_string_equal(s_at(json_object_get(r, "Service"), "Name"), "web");
	json_decref(r);
	r = ok(f, SD "ListNamespaces", "{}");
	assert_int_equal(n_at(r, "Namespaces"), 2);
	json_decref(r);
}

static void test_shapes_match_botocore(void **state)
{
	const char *src = getenv("BERTH_SOURCE_DIR");
	cleanup_free char *script = NULL;
	pid_t pid;
	int st;

	(void)state;
	assert_true(g_seq > 100);
	if (src) {
		script = xasprintf("%s/tests/unit/daemon/shape_check.py", src);
	} else {
		/* run by hand: next to this file */
		const char *slash = strrchr(__FILE__, '/');

		script = xasprintf("%.*sshape_check.py", slash ? (int)(slash - __FILE__ + 1) : 0,
				   __FILE__);
	}
	if (access("/usr/bin/python3", X_OK) != 0)
		skip();
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* BERTH_SHAPE_MODEL: check against another service-2.json (a newer
		 * botocore's) instead of Debian's */
		const char *model = getenv("BERTH_SHAPE_MODEL");

		if (model)
			execl("/usr/bin/python3", "python3", script, "--model", model, g_records,
			      (char *)NULL);
		else
			execl("/usr/bin/python3", "python3", script, g_records, (char *)NULL);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	if (WEXITSTATUS(st) == 77)
		skip();   /* no botocore: reported as skipped, never as passed */
	if (WEXITSTATUS(st) != 0)
		fail_msg("shape_check.py found problems (exit %d), see above", WEXITSTATUS(st));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_operation_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_helpers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bootstrap_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_describe_clusters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_clusters_paging, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete_cluster, setup, teardown),
		cmocka_unit_test_setup_teardown(test_register_task_definition, setup, teardown),
		cmocka_unit_test_setup_teardown(test_describe_deregister_task_definition, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_list_task_definitions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_container_instances, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_instances_filter_paging, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bootstrap_bad_attributes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_attributes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tags, setup, teardown),
		cmocka_unit_test_setup_teardown(test_services, setup, teardown),
		cmocka_unit_test_setup_teardown(test_service_restore_steps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_schedules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_autoscaling, setup, teardown),
		cmocka_unit_test_setup_teardown(test_discovery, setup, teardown),
		cmocka_unit_test(test_shapes_match_botocore),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
