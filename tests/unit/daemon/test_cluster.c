/* tests/unit/daemon/test_cluster.c - berthd in a cluster kept in etcd
 * (runtime/daemon/cluster.c, the cluster side of api_instance.c): two
 * struct berthd in this process, each with its own temporary store, join
 * one real etcd (Debian etcd-server, started here on free loopback ports
 * with a temporary data dir, as tests/unit/scheduler/test_etcd.c does) and
 * are driven by calling cluster_tick() directly, never by sleeping on a
 * lease. Without /usr/bin/etcd the tests that need it are skipped, never
 * passed; the configuration and unreachable-etcd tests run anyway.
 *
 * The answers of the ECS operations are recorded and the last test checks
 * them against botocore's model with shape_check.py (as test_api_data.c). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/cleanup.h"
#include "common/error.h"
#include "common/fsutil.h"
#include "common/json.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "runtime/daemon/api.h"
#include "runtime/daemon/cluster.h"
#include "runtime/daemon/daemon.h"
#include "runtime/daemon/discovery.h"
#include "runtime/daemon/services.h"
#include "runtime/daemon/store.h"
#include "scheduler/etcd.h"
#include "tests/unit/etcd_fixture.h"

#define ACCOUNT "123456789012"

/* ---------------------------------------------------------------- etcd */

static struct {
	struct etcd_fixture fx;   /* tests/unit/etcd_fixture.h */
	struct etcd *c;      /* the test's own client */
	char *records;       /* recorded answers for shape_check.py */
	int seq;
} g = { .fx.pid = -1 };

static int group_setup(void **state)
{
	const char *eps[2];
	struct berr *err = NULL;
	int r;

	(void)state;
	r = etcd_fixture_init(&g.fx, "/tmp/berth-test-cluster-XXXXXX");
	if (r < 0)
		return -1;
	g.records = xasprintf("%s/records", g.fx.dir);
	if (mkdir(g.records, 0700) < 0)
		return -1;
	if (!r)
		return 0;   /* no etcd: the tests that need it skip */
	eps[0] = g.fx.url;
	eps[1] = NULL;
	if (etcd_open(eps, NULL, &g.c, &err) < 0)
		return -1;
	return 0;
}

static int group_teardown(void **state)
{
	struct berr *err = NULL;

	(void)state;
	etcd_close(g.c);
	g.c = NULL;
	etcd_fixture_stop(&g.fx, SIGKILL);
	if (fs_rm_rf_at(AT_FDCWD, g.fx.dir, &err) < 0)
		fprintf(stderr, "cleanup: %s\n", berr_msg(err));
	berr_free(err);
	free(g.records);
	return 0;
}

#define NEED_ETCD() ETCD_FIXTURE_NEED(&g.fx)

/* ---------------------------------------------------------------- logs */

/* What berthd logged, one message per line, since log_reset(). */
static char *g_log;

static void log_sink(enum blog_level level, const char *msg, void *data)
{
	char *old = g_log;

	(void)data;
	g_log = xasprintf("%s%s: %s\n", old ?: "", blog_level_name(level), msg);
	free(old);
	fprintf(stderr, "  log %s: %s\n", blog_level_name(level), msg);
}

static void log_reset(void)
{
	free(g_log);
	g_log = NULL;
}

static int log_count(const char *needle)
{
	int n = 0;

	for (const char *p = g_log; p && (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* ---------------------------------------------------------------- hosts */

struct host {
	char *dir;
	struct berthd d;
};

/* A berthd of the cluster under prefix (no event loop: ticks are the
 * test's), bootstrapped on its own store; not yet joined. */
static void host_init(struct host *h, const char *name, const char *prefix)
{
	cleanup_free char *db = NULL;
	cleanup_free char *conf = NULL;
	struct berr *err = NULL;

	h->dir = xasprintf("%s/%s", g.fx.dir, name);
	assert_int_equal(mkdir(h->dir, 0700), 0);
	conf = xasprintf("{\"root\": \"%s\", \"accountId\": \"" ACCOUNT "\", \"instance\": "
			 "{\"cpu\": 2048, \"memory\": 4096, \"attributes\": {\"host\": \"%s\"}}, "
			 "\"cluster\": {\"etcd\": [\"%s\"], \"prefix\": \"%s\", \"leaseSeconds\": 2}}",
			 h->dir, name, g.fx.url, prefix);
	berthd_config_init(&h->d.cfg);
	if (berthd_config_parse("test", conf, strlen(conf), &h->d.cfg, &err) < 0)
		fail_msg("config: %s", berr_msg(err));
	h->d.epfd = -1;
	h->d.init_fd = -1;
	db = xasprintf("%s/berth.db", h->dir);
	if (store_open(db, &h->d.st, &err) < 0)
		fail_msg("store_open: %s", berr_msg(err));
	if (api_bootstrap(&h->d, &err) < 0)
		fail_msg("api_bootstrap: %s", berr_msg(err));
}

static void host_join(struct host *h)
{
	struct berr *err = NULL;

	if (cluster_start(&h->d, &err) < 0)
		fail_msg("cluster_start: %s", berr_msg(err));
	assert_non_null(h->d.cluster);
	assert_true(cluster_lease(&h->d) != 0);
}

static void host_fini(struct host *h)
{
	cluster_stop(&h->d);
	svcctl_free(h->d.svcs);
	h->d.svcs = NULL;
	autoscaling_free(&h->d);
	discovery_free(&h->d);
	if (h->d.st)
		store_close(h->d.st);
	free(h->d.instance_arn);
	berthd_config_free(&h->d.cfg);
	free(h->dir);
	memset(h, 0, sizeof(*h));
}

static void record(const char *op, const json_t *res, const struct api_error *e)
{
	cleanup_free char *path = xasprintf("%s/%05d-%s.json", g.records, g.seq++, op);
	cleanup_json json_t *rec = json_pack("{s:s}", "operation", op);
	struct berr *err = NULL;

	if (res)
		json_object_set(rec, "response", (json_t *)res);
	else
		json_object_set_new(rec, "error", json_pack("{s:s, s:s, s:i}", "__type", e->type,
							    "message", e->message ?: "",
							    "status", e->status));
	if (bjson_write_file_atomic(path, rec, 0600, &err) < 0)
		fail_msg("record %s: %s", path, berr_msg(err));
}

/* op on host h with body (JSON, ' for "); the answer must be a success. */
static json_t *call(struct host *h, const char *op, const char *body)
{
	cleanup_free char *text = xstrdup(body);
	cleanup_json json_t *in = NULL;
	struct api_error e = { 0 };
	json_error_t jerr;
	json_t *res;

	for (char *p = text; *p; p++)
		if (*p == '\'')
			*p = '"';
	in = json_loads(text, 0, &jerr);
	if (!in)
		fail_msg("test body of %s is not JSON: %s: %s", op, jerr.text, text);
	res = api_call(&h->d, op, in, &e);
	record(op, res, &e);
	if (!res)
		fail_msg("%s %s: %s: %s", op, body, e.type, e.message);
	api_error_clear(&e);
	return res;
}

static bool has_arn(const json_t *list, const char *arn)
{
	json_t *x;
	size_t i;

	json_array_foreach(list, i, x)
		if (!strcmp(json_string_value(x) ?: "", arn))
			return true;
	return false;
}

/* ListContainerInstances on h has exactly a's and b's instances. */
static void lists_both(struct host *h, struct host *a, struct host *b)
{
	cleanup_json json_t *r = call(h, "ListContainerInstances", "{}");
	json_t *arns = json_object_get(r, "containerInstanceArns");

	assert_int_equal(json_array_size(arns), 2);
	assert_true(has_arn(arns, a->d.instance_arn));
	assert_true(has_arn(arns, b->d.instance_arn));
	/* in id order */
	assert_true(strcmp(json_string_value(json_array_get(arns, 0)),
			   json_string_value(json_array_get(arns, 1))) < 0);
}

/* DescribeContainerInstances on h of other's instance: its document, with
 * agentConnected as returned (1/0). */
static int connected(struct host *h, struct host *other)
{
	cleanup_free char *body = xasprintf("{'containerInstances': ['%s', '%s']}",
					    other->d.instance_id, h->d.instance_arn);
	cleanup_json json_t *r = call(h, "DescribeContainerInstances", body);
	json_t *ci = json_array_get(json_object_get(r, "containerInstances"), 0);
	json_t *self = json_array_get(json_object_get(r, "containerInstances"), 1);

	assert_int_equal(json_array_size(json_object_get(r, "failures")), 0);
	assert_non_null(ci);
	assert_string_equal(json_string_value(json_object_get(ci, "containerInstanceArn")),
			    other->d.instance_arn);
	assert_string_equal(json_string_value(json_object_get(ci, "status")), "ACTIVE");
	assert_non_null(json_object_get(ci, "remainingResources"));
	assert_non_null(json_object_get(ci, "registeredAt"));
	/* its own attributes came along */
	{
		bool found = false;
		json_t *a;
		size_t i;

		json_array_foreach(json_object_get(ci, "attributes"), i, a)
			if (!strcmp(json_string_value(json_object_get(a, "name")) ?: "", "host"))
				found = !strcmp(json_string_value(json_object_get(a, "value")) ?: "",
						strrchr(other->dir, '/') + 1);
		assert_true(found);
	}
	/* the host's own instance is the local one, always connected */
	assert_string_equal(json_string_value(json_object_get(self, "containerInstanceArn")),
			    h->d.instance_arn);
	assert_true(json_is_true(json_object_get(self, "agentConnected")));
	return json_is_true(json_object_get(ci, "agentConnected"));
}

/* The rolloutState of service web's first deployment on h (static: the
 * answer is freed before the next call). */
static const char *rollout(struct host *h)
{
	static char buf[32];
	cleanup_json json_t *r = call(h, "DescribeServices", "{'services': ['web']}");
	json_t *svc = json_array_get(json_object_get(r, "services"), 0);
	json_t *dep = json_array_get(json_object_get(svc, "deployments"), 0);

	snprintf(buf, sizeof(buf), "%s", json_string_value(json_object_get(dep, "rolloutState")) ?: "?");
	return buf;
}

/* ---------------------------------------------------------------- tests */

static void test_config(void **state)
{
	struct berthd_config c;
	struct berr *err = NULL;
	static const struct { const char *json, *msg; } bad[] = {
		{ "{'cluster': {'etcd': ['http://a:2379'], 'nodes': 3}}", "cluster.nodes: unknown key" },
		{ "{'cluster': {}}", "cluster.etcd: expected an array" },
		{ "{'cluster': {'etcd': []}}", "cluster.etcd: 0 endpoints" },
		{ "{'cluster': {'etcd': ['ftp://a:1']}}", "cluster.etcd[0]" },
		{ "{'cluster': {'etcd': ['http://a:1/x']}}", "cluster.etcd[0]" },
		{ "{'cluster': {'etcd': [1]}}", "cluster.etcd[0]" },
		{ "{'cluster': {'etcd': ['a:1'], 'prefix': 'berth'}}", "cluster.prefix" },
		{ "{'cluster': {'etcd': ['a:1'], 'prefix': '/berth/'}}", "cluster.prefix" },
		{ "{'cluster': {'etcd': ['a:1'], 'leaseSeconds': 1}}", "leaseSeconds" },
		{ "{'cluster': {'etcd': ['a:1'], 'caFile': 'ca.pem'}}", "cluster.caFile" },
		{ "{'cluster': 'etcd'}", "cluster" },
	};

	(void)state;
	/* no block: no cluster, and starting one does nothing */
	berthd_config_init(&c);
	assert_int_equal(berthd_config_parse("t", "{}", 2, &c, &err), 0);
	assert_null(c.cluster_etcd);
	{
		struct berthd d = { .epfd = -1 };

		d.cfg = c;
		assert_int_equal(cluster_start(&d, &err), 0);
		assert_null(d.cluster);
		assert_int_equal(cluster_lease(&d), 0);
		cluster_tick(&d);
		cluster_stop(&d);
		c = d.cfg;
	}
	berthd_config_free(&c);

	/* defaults */
	berthd_config_init(&c);
	const char *ok1 = "{\"cluster\": {\"etcd\": [\"http://10.0.0.1:2379\", \"etcd-b:2379\"]}}";
	if (berthd_config_parse("t", ok1, strlen(ok1), &c, &err) < 0)
		fail_msg("%s", berr_msg(err));
	assert_string_equal(c.cluster_etcd[0], "http://10.0.0.1:2379");
	assert_string_equal(c.cluster_etcd[1], "etcd-b:2379");
	assert_null(c.cluster_etcd[2]);
	assert_string_equal(c.cluster_prefix, "/berth");
	assert_int_equal(c.cluster_lease_seconds, 10);
	assert_null(c.cluster_ca_file);
	berthd_config_free(&c);

	berthd_config_init(&c);
	const char *ok2 = "{\"cluster\": {\"etcd\": [\"https://e:2379\"], \"prefix\": \"/prod/berth\", "
			  "\"leaseSeconds\": 30, \"caFile\": \"/etc/berth/ca.pem\", \"certFile\": "
			  "\"/etc/berth/c.pem\", \"keyFile\": \"/etc/berth/k.pem\"}}";
	if (berthd_config_parse("t", ok2, strlen(ok2), &c, &err) < 0)
		fail_msg("%s", berr_msg(err));
	assert_string_equal(c.cluster_prefix, "/prod/berth");
	assert_int_equal(c.cluster_lease_seconds, 30);
	assert_string_equal(c.cluster_ca_file, "/etc/berth/ca.pem");
	assert_string_equal(c.cluster_cert_file, "/etc/berth/c.pem");
	assert_string_equal(c.cluster_key_file, "/etc/berth/k.pem");
	berthd_config_free(&c);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cleanup_free char *text = xstrdup(bad[i].json);

		for (char *p = text; *p; p++)
			if (*p == '\'')
				*p = '"';
		berthd_config_init(&c);
		assert_true(berthd_config_parse("t", text, strlen(text), &c, &err) < 0);
		if (!strstr(berr_msg(err), bad[i].msg))
			fail_msg("%s: \"%s\" does not say \"%s\"", bad[i].json, berr_msg(err), bad[i].msg);
		berr_clear(&err);
		berthd_config_free(&c);
	}
}

/* etcd not there at start: berthd does not start, and says where it looked */
static void test_unreachable_at_start(void **state)
{
	struct host h = { 0 };
	struct berr *err = NULL;
	char url[64], want[160];
	int fd, port = free_port(&fd);   /* bound, not listening: refused */
	int64_t t0;

	(void)state;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
	/* host_init takes g.fx.url: point it at the dead port */
	char saved[64];
	memcpy(saved, g.fx.url, sizeof(saved));
	memcpy(g.fx.url, url, sizeof(g.fx.url));
	host_init(&h, "dead", "/dead");
	memcpy(g.fx.url, saved, sizeof(g.fx.url));
	t0 = now_ms();
	assert_true(cluster_start(&h.d, &err) < 0);
	assert_true(now_ms() - t0 < 2000);
	snprintf(want, sizeof(want), "cluster: etcd %s: connection refused; is etcd running?", url);
	if (!strstr(berr_msg(err), want))
		fail_msg("\"%s\" does not say \"%s\"", berr_msg(err), want);
	assert_int_equal(err->code, ECONNREFUSED);
	berr_clear(&err);
	assert_null(h.d.cluster);
	assert_false(h.d.cluster_leader);
	host_fini(&h);
	close(fd);
}

static void test_two_hosts(void **state)
{
	struct host a = { 0 }, b = { 0 };
	struct etcd_kv kv = { 0 };
	struct berr *err = NULL;
	cleanup_free char *key = NULL;
	int64_t t0, old_lease;

	(void)state;
	NEED_ETCD();
	blog_set_sink(log_sink, NULL);
	log_reset();
	host_init(&a, "a", "/two");
	host_init(&b, "b", "/two");
	assert_string_not_equal(a.d.instance_id, b.d.instance_id);
	host_join(&a);
	host_join(&b);

	/* the keys as documented */
	key = xasprintf("/two/instances/%s", a.d.instance_id);
	assert_int_equal(etcd_get(g.c, key, &kv, NULL, &err), 1);
	assert_int_equal(kv.lease, 0);   /* the record outlives the host */
	assert_non_null(strstr(kv.value, a.d.instance_arn));
	etcd_kv_clear(&kv);
	free(key);
	key = xasprintf("/two/alive/%s", a.d.instance_id);
	assert_int_equal(etcd_get(g.c, key, &kv, NULL, &err), 1);
	assert_int_equal(kv.lease, cluster_lease(&a.d));
	etcd_kv_clear(&kv);

	/* both list both; each sees the other connected */
	lists_both(&a, &a, &b);
	lists_both(&b, &a, &b);
	assert_int_equal(connected(&a, &b), 1);
	assert_int_equal(connected(&b, &a), 1);
	/* the filter applies to the other hosts' instances too */
	{
		cleanup_json json_t *r = call(&a, "ListContainerInstances",
					      "{'filter': 'attribute:host == b'}");
		json_t *arns = json_object_get(r, "containerInstanceArns");

		assert_int_equal(json_array_size(arns), 1);
		assert_string_equal(json_string_value(json_array_get(arns, 0)), b.d.instance_arn);
	}
	/* paging over the merged list */
	{
		cleanup_json json_t *r1 = call(&b, "ListContainerInstances", "{'maxResults': 1}");
		const char *tok = json_string_value(json_object_get(r1, "nextToken"));
		cleanup_free char *body = NULL;
		cleanup_json json_t *r2 = NULL;

		assert_non_null(tok);
		body = xasprintf("{'maxResults': 1, 'nextToken': '%s'}", tok);
		r2 = call(&b, "ListContainerInstances", body);
		assert_null(json_object_get(r2, "nextToken"));
		assert_int_equal(json_array_size(json_object_get(r1, "containerInstanceArns")), 1);
		assert_int_equal(json_array_size(json_object_get(r2, "containerInstanceArns")), 1);
		assert_string_not_equal(
			json_string_value(json_array_get(json_object_get(r1, "containerInstanceArns"), 0)),
			json_string_value(json_array_get(json_object_get(r2, "containerInstanceArns"), 0)));
	}
	/* another cluster does not hold them */
	json_decref(call(&a, "CreateCluster", "{'clusterName': 'other'}"));
	{
		cleanup_free char *body = xasprintf("{'cluster': 'other', 'containerInstances': ['%s']}",
						    b.d.instance_id);
		cleanup_json json_t *r = call(&a, "DescribeContainerInstances", body);
		cleanup_json json_t *l = call(&a, "ListContainerInstances", "{'cluster': 'other'}");

		assert_int_equal(json_array_size(json_object_get(r, "containerInstances")), 0);
		assert_int_equal(json_array_size(json_object_get(r, "failures")), 1);
		assert_int_equal(json_array_size(json_object_get(l, "containerInstanceArns")), 0);
	}

	/* exactly one leader: the first to campaign */
	assert_true(a.d.cluster_leader);
	assert_false(b.d.cluster_leader);
	cluster_tick(&a.d);
	cluster_tick(&b.d);
	assert_true(a.d.cluster_leader);
	assert_false(b.d.cluster_leader);
	assert_int_equal(log_count("cluster: this instance is the leader"), 1);
	assert_true(log_count("cluster: this instance follows ") == 1);

	/* services are not shared yet: each host drives its own, leader or not */
	json_decref(call(&a, "RegisterTaskDefinition", "{'family': 'svc', 'containerDefinitions': "
			 "[{'name': 'web', 'image': 'nginx', 'memory': 128}]}"));
	json_decref(call(&b, "RegisterTaskDefinition", "{'family': 'svc', 'containerDefinitions': "
			 "[{'name': 'web', 'image': 'nginx', 'memory': 128}]}"));
	json_decref(call(&a, "CreateService", "{'serviceName': 'web', 'taskDefinition': 'svc', "
			 "'desiredCount': 0}"));
	json_decref(call(&b, "CreateService", "{'serviceName': 'web', 'taskDefinition': 'svc', "
			 "'desiredCount': 0}"));
	svcctl_step_all(a.d.svcs);
	svcctl_step_all(b.d.svcs);
	assert_string_equal(rollout(&a), "COMPLETED");
	assert_string_equal(rollout(&b), "COMPLETED");

	/* the leader dies (its lease revoked): after one tick b leads, and
	 * sees a disconnected */
	old_lease = cluster_lease(&a.d);
	if (etcd_lease_revoke(g.c, old_lease, &err) < 0)
		fail_msg("revoke: %s", berr_msg(err));
	cluster_tick(&b.d);
	assert_true(b.d.cluster_leader);
	assert_int_equal(connected(&b, &a), 0);
	lists_both(&b, &a, &b);   /* the record stays */
	/* the instance record outlives the lease */
	free(key);
	key = xasprintf("/two/instances/%s", a.d.instance_id);
	assert_int_equal(etcd_get(g.c, key, &kv, NULL, &err), 1);
	etcd_kv_clear(&kv);

	/* a comes back: re-registered with a new lease, connected, follows b */
	log_reset();
	cluster_tick(&a.d);
	assert_int_equal(log_count("cluster: lease lost, re-registered"), 1);
	assert_true(cluster_lease(&a.d) != 0 && cluster_lease(&a.d) != old_lease);
	assert_false(a.d.cluster_leader);
	assert_true(b.d.cluster_leader);
	assert_int_equal(connected(&b, &a), 1);
	assert_int_equal(connected(&a, &b), 1);
	assert_true(log_count("cluster: this instance follows ") == 1);
	cluster_tick(&b.d);
	cluster_tick(&a.d);
	assert_true(a.d.cluster_leader != b.d.cluster_leader);

	/* etcd goes away: ticks neither crash nor hang, nobody leads, the
	 * outage is logged once per host, the API answers locally */
	etcd_fixture_stop(&g.fx, SIGKILL);
	log_reset();
	for (int i = 0; i < 3; i++) {
		t0 = now_ms();
		cluster_tick(&a.d);
		cluster_tick(&b.d);
		assert_true(now_ms() - t0 < 3000);
	}
	assert_false(a.d.cluster_leader);
	assert_false(b.d.cluster_leader);
	assert_int_equal(log_count("cluster: etcd unreachable"), 2);
	assert_int_equal(log_count("cluster: this instance is no longer the leader"), 1);
	{
		cleanup_json json_t *r = call(&a, "ListContainerInstances", "{}");
		json_t *arns = json_object_get(r, "containerInstanceArns");
		cleanup_free char *body = xasprintf("{'containerInstances': ['%s']}", b.d.instance_id);
		cleanup_json json_t *d = NULL;

		assert_int_equal(json_array_size(arns), 1);
		assert_string_equal(json_string_value(json_array_get(arns, 0)), a.d.instance_arn);
		t0 = now_ms();
		d = call(&a, "DescribeContainerInstances", body);
		assert_true(now_ms() - t0 < 500);   /* no wait on etcd while it is known down */
		assert_int_equal(json_array_size(json_object_get(d, "failures")), 1);
	}

	/* etcd is back: both recover, one leader, both connected */
	etcd_fixture_start(&g.fx);
	log_reset();
	for (int i = 0; i < 2; i++) {
		cluster_tick(&a.d);
		cluster_tick(&b.d);
	}
	assert_int_equal(log_count("answers again"), 2);
	assert_true(a.d.cluster_leader != b.d.cluster_leader);
	assert_int_equal(connected(&a, &b), 1);
	assert_int_equal(connected(&b, &a), 1);

	/* a clean leave: revoked at once, b sees it go and leads (or still does) */
	cluster_stop(&a.d);
	assert_null(a.d.cluster);
	cluster_tick(&b.d);
	assert_true(b.d.cluster_leader);
	assert_int_equal(connected(&b, &a), 0);

	host_fini(&a);
	host_fini(&b);
	blog_set_sink(NULL, NULL);
	log_reset();
	etcd_delete(g.c, "/two/", true, NULL, NULL);
}

/* Every recorded answer validates against botocore's ECS model. */
static void test_shapes_match_botocore(void **state)
{
	const char *src = getenv("BERTH_SOURCE_DIR");
	cleanup_free char *script = NULL;
	pid_t pid;
	int st;

	(void)state;
	NEED_ETCD();
	assert_true(g.seq > 10);
	if (src) {
		script = xasprintf("%s/tests/unit/daemon/shape_check.py", src);
	} else {
		const char *slash = strrchr(__FILE__, '/');

		script = xasprintf("%.*sshape_check.py", slash ? (int)(slash - __FILE__ + 1) : 0,
				   __FILE__);
	}
	if (access("/usr/bin/python3", X_OK) != 0)
		skip();
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		execl("/usr/bin/python3", "python3", script, g.records, (char *)NULL);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	if (WEXITSTATUS(st) == 77)
		skip();   /* no botocore: skipped, never passed */
	assert_int_equal(WEXITSTATUS(st), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_unreachable_at_start),
		cmocka_unit_test(test_two_hosts),
		cmocka_unit_test(test_shapes_match_botocore),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
