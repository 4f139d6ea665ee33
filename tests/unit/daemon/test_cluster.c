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
#include <sys/epoll.h>
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
#include "runtime/daemon/cstate.h"
#include "runtime/daemon/daemon.h"
#include "runtime/daemon/discovery.h"
#include "runtime/daemon/services.h"
#include "runtime/daemon/shimmgr.h"
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
	/* a host that comes back keeps its directory (and store, and id) */
	assert_true(mkdir(h->dir, 0700) == 0 || errno == EEXIST);
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

/* For the shared state (cstate.c): an epoll set nobody waits on (the
 * tick timer and the watch register in it; the test ticks and polls),
 * shims that cannot start (shimPath names nothing: a task handed to the
 * host is recorded STOPPED with the spawn's error, a real outcome of the
 * real path), then the join and the sharing. */
static void host_share(struct host *h)
{
	struct berr *err = NULL;

	free(h->d.cfg.shim_path);
	h->d.cfg.shim_path = xasprintf("%s/no-such-berth-shim", h->dir);
	free(h->d.cfg.run_dir);
	h->d.cfg.run_dir = xasprintf("%s/run", h->dir);
	assert_true(mkdir(h->d.cfg.run_dir, 0700) == 0 || errno == EEXIST);
	h->d.epfd = epoll_create1(EPOLL_CLOEXEC);
	assert_true(h->d.epfd >= 0);
	/* nothing here waits on a lease: a slow machine must not lose one
	 * between the test's ticks (a host leaves by cluster_stop) */
	h->d.cfg.cluster_lease_seconds = 10;
	if (shimmgr_new(&h->d, &h->d.shims, &err) < 0)
		fail_msg("shimmgr_new: %s", berr_msg(err));
	host_join(h);
	if (cstate_start(&h->d, &err) < 0)
		fail_msg("cstate_start: %s", berr_msg(err));
	assert_true(cstate_on(&h->d));
}

static void host_fini(struct host *h)
{
	cstate_stop(&h->d);
	cluster_stop(&h->d);
	shimmgr_free(h->d.shims);
	h->d.shims = NULL;
	if (h->d.epfd >= 0)
		close(h->d.epfd);
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
		{ "{'cluster': {'etcd': ['a:1'], 'leaseSeconds': 20, 'goneSeconds': 10}}",
		  "cluster.goneSeconds: 10 is less than leaseSeconds (20)" },
		{ "{'cluster': {'etcd': ['a:1'], 'goneSeconds': 1}}", "goneSeconds" },
		{ "{'cluster': {'etcd': ['a:1'], 'caFile': 'ca.pem'}}", "cluster.caFile" },
		{ "{'cluster': 'etcd'}", "cluster" },
		{ "{'instance': {'availabilityZone': 'Zone B'}}", "instance.availabilityZone: want 1-64" },
		{ "{'instance': {'availabilityZone': 3}}", "instance.availabilityZone" },
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
	assert_int_equal(c.cluster_gone_seconds, 60);   /* 6 x the lease */
	assert_null(c.cluster_ca_file);
	berthd_config_free(&c);

	berthd_config_init(&c);
	const char *ok2 = "{\"cluster\": {\"etcd\": [\"https://e:2379\"], \"prefix\": \"/prod/berth\", "
			  "\"leaseSeconds\": 30, \"goneSeconds\": 45, \"caFile\": \"/etc/berth/ca.pem\", \"certFile\": "
			  "\"/etc/berth/c.pem\", \"keyFile\": \"/etc/berth/k.pem\"}}";
	if (berthd_config_parse("t", ok2, strlen(ok2), &c, &err) < 0)
		fail_msg("%s", berr_msg(err));
	assert_string_equal(c.cluster_prefix, "/prod/berth");
	assert_int_equal(c.cluster_lease_seconds, 30);
	assert_int_equal(c.cluster_gone_seconds, 45);
	assert_string_equal(c.cluster_ca_file, "/etc/berth/ca.pem");
	assert_string_equal(c.cluster_cert_file, "/etc/berth/c.pem");
	assert_string_equal(c.cluster_key_file, "/etc/berth/k.pem");
	assert_null(c.instance_az);
	berthd_config_free(&c);

	/* a host's zone: the ecs.availability-zone attribute placement spreads over */
	berthd_config_init(&c);
	const char *ok3 = "{\"instance\": {\"availabilityZone\": \"eu-west-3c\"}}";
	if (berthd_config_parse("t", ok3, strlen(ok3), &c, &err) < 0)
		fail_msg("%s", berr_msg(err));
	assert_string_equal(c.instance_az, "eu-west-3c");
	{
		struct berthd d = { .cfg = c };
		cleanup_free char *az = api_availability_zone(&d);

		assert_string_equal(az, "eu-west-3c");
		d.cfg.instance_az = NULL;
		free(az);
		az = api_availability_zone(&d);
		assert_string_equal(az, "us-east-1a");
		d.cfg.instance_az = c.instance_az;
	}
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

/* op on host h; NULL and *e set when it fails (e is cleared first) */
static json_t *try_call(struct host *h, const char *op, const char *body, struct api_error *e)
{
	cleanup_free char *text = xstrdup(body);
	cleanup_json json_t *in = NULL;
	json_t *res;

	api_error_clear(e);
	for (char *p = text; *p; p++)
		if (*p == '\'')
			*p = '"';
	in = json_loads(text, 0, NULL);
	assert_non_null(in);
	res = api_call(&h->d, op, in, e);
	record(op, res, e);
	return res;
}

/* Flush and take the watches' events on every host until cond(ctx) holds;
 * fails after 10 s (a watch event takes milliseconds). */
static void settle(struct host **hosts, size_t n, bool (*cond)(void *), void *ctx, const char *what)
{
	for (int i = 0; i < 1000; i++) {
		for (size_t k = 0; k < n; k++) {
			cstate_flush(&hosts[k]->d);
			cstate_poll(&hosts[k]->d);
		}
		if (cond(ctx))
			return;
		usleep(10000);
	}
	fail_msg("not settled after 10 s: %s", what);
}

struct td_ctx {
	struct host *h;
	const char *ref;
};

static bool has_taskdef(void *p)
{
	struct td_ctx *c = p;
	struct api_error e = { 0 };
	cleanup_free char *body = xasprintf("{'taskDefinition': '%s'}", c->ref);
	cleanup_json json_t *r = try_call(c->h, "DescribeTaskDefinition", body, &e);

	api_error_clear(&e);
	return r != NULL;
}

static bool has_cluster(void *p)
{
	struct td_ctx *c = p;
	struct api_error e = { 0 };
	cleanup_free char *body = xasprintf("{'clusters': ['%s']}", c->ref);
	cleanup_json json_t *r = try_call(c->h, "DescribeClusters", body, &e);

	api_error_clear(&e);
	return r && json_array_size(json_object_get(r, "clusters")) == 1;
}

/* the task as h describes it (NULL: h does not know it) */
static json_t *task_on(struct host *h, const char *arn)
{
	struct api_error e = { 0 };
	cleanup_free char *body = xasprintf("{'tasks': ['%s']}", arn);
	cleanup_json json_t *r = try_call(h, "DescribeTasks", body, &e);
	json_t *t;

	api_error_clear(&e);
	t = json_array_get(json_object_get(r, "tasks"), 0);
	return t ? json_incref(t) : NULL;
}

struct task_ctx {
	struct host *h;
	const char *arn;
	const char *key, *value;   /* the field that must have this value */
};

static bool task_has(void *p)
{
	struct task_ctx *c = p;
	cleanup_json json_t *t = task_on(c->h, c->arn);

	return t && !strcmp(json_string_value(json_object_get(t, c->key)) ?: "", c->value);
}

static const char WEB_TD[] =
	"{'family': 'web', 'requiresCompatibilities': ['EC2'], 'memory': '256', "
	"'containerDefinitions': [{'name': 'c', 'image': 'berth-test/helper', 'command': ['sleep', '60']}]}";

/* Clusters, task definitions and tasks shared through etcd (cstate.c):
 * what one host writes the other describes; a revision is taken once in
 * the whole cluster; RunTask spreads over both hosts, the other host
 * carries out the task it was handed and reports it; StopTask of the
 * other host's task reaches it; a host that (re)joins publishes its own
 * tasks and reads the rest. */
static void test_shared_state(void **state)
{
	struct host a = { 0 }, b = { 0 };
	struct host *both[2] = { &a, &b };
	struct api_error e = { 0 };
	struct berr *err = NULL;
	cleanup_json json_t *r1 = NULL, *r2 = NULL, *run = NULL, *fail = NULL;
	json_t *t;
	const char *arn_a = NULL, *arn_b = NULL;
	size_t i;

	(void)state;
	NEED_ETCD();
	blog_set_sink(log_sink, NULL);
	log_reset();
	host_init(&a, "sa", "/shared");
	host_init(&b, "sb", "/shared");
	host_share(&a);
	host_share(&b);

	/* task definitions: a registers web:1, b (before it heard of it) web:2 */
	r1 = call(&a, "RegisterTaskDefinition", WEB_TD);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(r1, "taskDefinition"), "revision")), 1);
	r2 = call(&b, "RegisterTaskDefinition", WEB_TD);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(r2, "taskDefinition"), "revision")), 2);
	settle(both, 2, has_taskdef, &(struct td_ctx){ &b, "web:1" }, "b knows web:1");
	settle(both, 2, has_taskdef, &(struct td_ctx){ &a, "web:2" }, "a knows web:2");
	/* a deregistration travels too */
	json_decref(call(&b, "DeregisterTaskDefinition", "{'taskDefinition': 'web:2'}"));
	for (i = 0; i < 1000; i++) {
		cleanup_json json_t *d = NULL;

		cstate_flush(&b.d);
		cstate_poll(&a.d);
		d = call(&a, "DescribeTaskDefinition", "{'taskDefinition': 'web:2'}");
		if (!strcmp(json_string_value(json_object_get(json_object_get(d, "taskDefinition"),
							      "status")) ?: "", "INACTIVE"))
			break;
		usleep(10000);
	}
	assert_true(i < 1000);

	/* a cluster made on b is known to a */
	json_decref(call(&b, "CreateCluster", "{'clusterName': 'blue'}"));
	settle(both, 2, has_cluster, &(struct td_ctx){ &a, "blue" }, "a knows cluster blue");

	/* RunTask on a, spread over the instances: one task on each */
	run = call(&a, "RunTask", "{'taskDefinition': 'web:1', 'count': 2, 'placementStrategy': "
		   "[{'type': 'spread', 'field': 'instanceId'}]}");
	assert_int_equal(json_array_size(json_object_get(run, "tasks")), 2);
	assert_int_equal(json_array_size(json_object_get(run, "failures")), 0);
	json_array_foreach(json_object_get(run, "tasks"), i, t) {
		const char *ci = json_string_value(json_object_get(t, "containerInstanceArn"));

		assert_non_null(ci);
		if (!strcmp(ci, a.d.instance_arn))
			arn_a = json_string_value(json_object_get(t, "taskArn"));
		else if (!strcmp(ci, b.d.instance_arn))
			arn_b = json_string_value(json_object_get(t, "taskArn"));
	}
	assert_non_null(arn_a);
	assert_non_null(arn_b);
	/* b carries it out (its shim cannot start here: STOPPED, with why, on
	 * b's instance) and a learns it from b */
	settle(both, 2, task_has, &(struct task_ctx){ &a, arn_b, "lastStatus", "STOPPED" },
	       "a sees b's task STOPPED");
	{
		cleanup_json json_t *ta = task_on(&a, arn_b), *tb = task_on(&b, arn_b);

		assert_non_null(tb);
		assert_string_equal(json_string_value(json_object_get(ta, "stopCode")), "TaskFailedToStart");
		assert_non_null(strstr(json_string_value(json_object_get(ta, "stoppedReason")),
				       "no-such-berth-shim"));
		assert_string_equal(json_string_value(json_object_get(ta, "containerInstanceArn")),
				    b.d.instance_arn);
		assert_string_equal(json_string_value(json_object_get(tb, "stoppedReason")),
				    json_string_value(json_object_get(ta, "stoppedReason")));
	}
	assert_int_equal(log_count("placed here"), 1);
	/* and a's own task is a's: b knows it too */
	settle(both, 2, task_has, &(struct task_ctx){ &b, arn_a, "lastStatus", "STOPPED" },
	       "b sees a's task STOPPED");

	/* distinctInstance with three tasks on two instances: two placed, one
	 * failure saying why */
	fail = call(&b, "RunTask", "{'taskDefinition': 'web:1', 'count': 3, 'placementConstraints': "
		    "[{'type': 'distinctInstance'}]}");
	assert_int_equal(json_array_size(json_object_get(fail, "tasks")), 2);
	assert_int_equal(json_array_size(json_object_get(fail, "failures")), 1);
	assert_non_null(strstr(json_string_value(json_object_get(
		json_array_get(json_object_get(fail, "failures"), 0), "reason")), "DistinctInstance"));

	/* a bad strategy names the field */
	assert_null(try_call(&a, "RunTask", "{'taskDefinition': 'web:1', 'placementStrategy': "
			     "[{'type': 'spread', 'field': 'nonsense:x'}]}", &e));
	assert_string_equal(e.type, "InvalidParameterException");
	api_error_clear(&e);

	/* StopTask on a of a task b runs: a RUNNING task b has (stored as if
	 * its shim reported it), shared, then stopped from a */
	{
		cleanup_json json_t *doc = task_on(&b, arn_b);
		cleanup_free char *body = NULL;
		cleanup_free char *id = xstrdup("0123456789abcdef0123456789abcdef");
		cleanup_free char *arn = NULL;
		cleanup_json json_t *st = NULL;

		arn = xasprintf("arn:aws:ecs:us-east-1:" ACCOUNT ":task/default/%s", id);
		json_object_set_new(doc, "taskArn", json_string(arn));
		json_object_set_new(doc, "lastStatus", json_string("RUNNING"));
		json_object_set_new(doc, "desiredStatus", json_string("RUNNING"));
		json_object_del(doc, "stopCode");
		json_object_del(doc, "stoppedReason");
		json_object_del(doc, "stoppedAt");
		if (store_task_put(b.d.st, doc, NULL, &err) < 0)
			fail_msg("%s", berr_msg(err));
		settle(both, 2, task_has, &(struct task_ctx){ &a, arn, "lastStatus", "RUNNING" },
		       "a sees b's RUNNING task");
		body = xasprintf("{'task': '%s', 'reason': 'from a'}", arn);
		st = call(&a, "StopTask", body);
		assert_string_equal(json_string_value(json_object_get(json_object_get(st, "task"),
								      "desiredStatus")), "STOPPED");
		settle(both, 2, task_has, &(struct task_ctx){ &b, arn, "stoppedReason", "from a" },
		       "b took a's stop");
		settle(both, 2, task_has, &(struct task_ctx){ &a, arn, "stopCode", "UserInitiated" },
		       "b's answer reached a");
	}

	/* a third host joins late and knows everything */
	{
		struct host c = { 0 };
		struct host *all[3] = { &a, &b, &c };

		host_init(&c, "sc", "/shared");
		host_share(&c);
		settle(all, 3, has_taskdef, &(struct td_ctx){ &c, "web:2" }, "c knows web:2");
		settle(all, 3, has_cluster, &(struct td_ctx){ &c, "blue" }, "c knows blue");
		settle(all, 3, task_has, &(struct task_ctx){ &c, arn_b, "lastStatus", "STOPPED" },
		       "c knows b's task");
		host_fini(&c);
	}

	host_fini(&a);
	host_fini(&b);
	blog_set_sink(NULL, NULL);
	log_reset();
	etcd_delete(g.c, "/shared/", true, NULL, NULL);
}

struct svc_ctx {
	struct host *h;
	const char *needle;      /* in the service's events */
};

static bool service_event(void *p)
{
	struct svc_ctx *c = p;
	struct api_error e = { 0 };
	cleanup_json json_t *r = try_call(c->h, "DescribeServices", "{'services': ['web']}", &e);
	json_t *ev;
	size_t i;

	api_error_clear(&e);
	json_array_foreach(json_object_get(json_array_get(json_object_get(r, "services"), 0), "events"), i, ev)
		if (strstr(json_string_value(json_object_get(ev, "message")) ?: "", c->needle))
			return true;
	return false;
}

/* the service's tasks as h lists them (desired RUNNING, then STOPPED):
 * their docs */
static json_t *service_tasks(struct host *h)
{
	static const char *const bodies[] = {
		"{'serviceName': 'web'}", "{'serviceName': 'web', 'desiredStatus': 'STOPPED'}",
	};
	json_t *out = json_array(), *arn;
	size_t i;

	for (size_t k = 0; k < 2; k++) {
		cleanup_json json_t *l = call(h, "ListTasks", bodies[k]);

		json_array_foreach(json_object_get(l, "taskArns"), i, arn) {
			json_t *t = task_on(h, json_string_value(arn));

			if (t)
				json_array_append_new(out, t);
		}
	}
	return out;
}

static bool service_known(void *p)
{
	struct host *h = p;
	struct api_error e = { 0 };
	cleanup_json json_t *r = try_call(h, "DescribeServices", "{'services': ['web']}", &e);

	api_error_clear(&e);
	return h->d.svcs && json_array_size(json_object_get(r, "services")) == 1;
}

/* Services in a cluster (services.c over cstate.c): a service created on
 * a follower is driven by the leader alone, which places its tasks on
 * every instance; the followers see each step's record; a follower cannot
 * write as the leader; the tasks of an instance that goes away are
 * replaced elsewhere at once and STOPPED once it is gone (goneSeconds). */
static void test_cluster_services(void **state)
{
	struct host a = { 0 }, b = { 0 }, c = { 0 };
	struct host *all[3] = { &a, &b, &c };
	struct host *ab[2] = { &a, &b };
	struct berr *err = NULL;
	cleanup_json json_t *tasks = NULL, *after = NULL;
	const char *on_c = NULL;
	json_t *t;
	size_t i;
	bool seen[3] = { false, false, false };

	(void)state;
	NEED_ETCD();
	blog_set_sink(log_sink, NULL);
	log_reset();
	host_init(&a, "va", "/svc");
	host_init(&b, "vb", "/svc");
	host_init(&c, "vc", "/svc");
	for (i = 0; i < 3; i++) {
		all[i]->d.cfg.cluster_gone_seconds = 2;
		all[i]->d.cfg.service_interval_ms = 100;
		host_share(all[i]);
	}
	/* the oldest candidate leads */
	for (i = 0; i < 3; i++)
		cluster_tick(&all[i]->d);
	assert_true(a.d.cluster_leader);
	assert_false(b.d.cluster_leader);
	assert_false(c.d.cluster_leader);

	json_decref(call(&a, "RegisterTaskDefinition", WEB_TD));
	settle(all, 3, has_taskdef, &(struct td_ctx){ &b, "web:1" }, "b knows web:1");
	/* created on follower b; b's steps do nothing; the leader's place one
	 * task on each instance */
	json_decref(call(&b, "CreateService", "{'serviceName': 'web', 'taskDefinition': 'web:1', "
			 "'desiredCount': 3, 'placementStrategy': [{'type': 'spread', 'field': 'instanceId'}]}"));
	svcctl_step_all(b.d.svcs);
	tasks = service_tasks(&b);
	assert_int_equal(json_array_size(tasks), 0);
	json_decref(tasks);
	/* the leader has it once the watch brought it */
	settle(all, 3, service_known, &a, "the leader knows the service");
	svcctl_step_all(a.d.svcs);
	tasks = service_tasks(&a);
	assert_int_equal(json_array_size(tasks), 3);
	assert_true(service_known(&b));
	json_array_foreach(tasks, i, t) {
		const char *ci = json_string_value(json_object_get(t, "containerInstanceArn"));

		for (size_t k = 0; k < 3; k++)
			if (!strcmp(ci, all[k]->d.instance_arn))
				seen[k] = true;
		if (!strcmp(ci, c.d.instance_arn))
			on_c = json_string_value(json_object_get(t, "taskArn"));
	}
	assert_true(seen[0] && seen[1] && seen[2]);
	assert_non_null(on_c);
	/* the follower sees the leader's step */
	settle(ab, 2, service_event, &(struct svc_ctx){ &b, "has started 3 tasks" }, "b sees the step");

	/* a follower's write as the leader is refused by the fence */
	{
		cleanup_json json_t *doc = json_pack("{s:s, s:s, s:s}", "clusterArn",
						     "arn:aws:ecs:us-east-1:" ACCOUNT ":cluster/default",
						     "serviceName", "fence-test", "status", "ACTIVE");
		cleanup_json json_t *st = json_object();

		assert_int_equal(cstate_service_write(&b.d, doc, st, true, &err), 0);
		assert_int_equal(cstate_service_write(&a.d, doc, st, true, &err), 1);
		etcd_delete(g.c, "/svc/services/default/fence-test", false, NULL, NULL);
	}

	/* c reports its task RUNNING (as its shim would), then leaves: the
	 * leader replaces c's task */
	{
		cleanup_json json_t *doc = NULL;

		/* (here its shim cannot start: c records it STOPPED first) */
		settle(all, 3, task_has, &(struct task_ctx){ &c, on_c, "lastStatus", "STOPPED" },
		       "c took its task");
		doc = task_on(&c, on_c);
		json_object_set_new(doc, "lastStatus", json_string("RUNNING"));
		json_object_set_new(doc, "desiredStatus", json_string("RUNNING"));
		json_object_del(doc, "stopCode");
		json_object_del(doc, "stoppedReason");
		json_object_del(doc, "stoppedAt");
		json_object_del(doc, "stoppingAt");
		if (store_task_put(c.d.st, doc, NULL, &err) < 0)
			fail_msg("%s", berr_msg(err));
		settle(all, 3, task_has, &(struct task_ctx){ &a, on_c, "lastStatus", "RUNNING" },
		       "a sees c's task RUNNING");
	}
	cstate_stop(&c.d);
	cluster_stop(&c.d);
	cluster_tick(&a.d);
	svcctl_step_all(a.d.svcs);
	{
		cleanup_json json_t *tc = task_on(&a, on_c);

		assert_string_equal(json_string_value(json_object_get(tc, "desiredStatus")), "STOPPED");
		assert_string_equal(json_string_value(json_object_get(tc, "stopCode")), "ServiceSchedulerInitiated");
		assert_non_null(strstr(json_string_value(json_object_get(tc, "stoppedReason")), "disconnected"));
		assert_string_not_equal(json_string_value(json_object_get(tc, "lastStatus")), "STOPPED");
	}
	after = service_tasks(&a);
	{
		size_t on_ab = 0;

		json_array_foreach(after, i, t) {
			const char *ci = json_string_value(json_object_get(t, "containerInstanceArn"));

			if (strcmp(json_string_value(json_object_get(t, "taskArn")), on_c) &&
			    (!strcmp(ci, a.d.instance_arn) || !strcmp(ci, b.d.instance_arn)) &&
			    !json_object_get(t, "stoppedAt") &&
			    json_real_value(json_object_get(t, "createdAt")) >=
				    json_real_value(json_object_get(json_array_get(tasks, 0), "createdAt")))
				on_ab++;
		}
		assert_true(on_ab >= 1);   /* a replacement on a or b */
	}
	assert_true(log_count("is on disconnected instance") >= 1);
	/* gone after goneSeconds: its task is STOPPED */
	usleep(2100 * 1000);
	cluster_tick(&a.d);
	{
		cleanup_json json_t *tc = task_on(&a, on_c);

		assert_string_equal(json_string_value(json_object_get(tc, "lastStatus")), "STOPPED");
		assert_string_equal(json_string_value(json_object_get(tc, "stopCode")), "TerminationNotice");
		assert_non_null(strstr(json_string_value(json_object_get(tc, "stoppedReason")), "is gone"));
	}
	settle(ab, 2, task_has, &(struct task_ctx){ &b, on_c, "lastStatus", "STOPPED" },
	       "b sees c's task STOPPED");

	/* c comes back (same store, same id) with the task still RUNNING in
	 * its store: it does not publish it over the cluster's STOPPED, and
	 * stops it itself */
	host_fini(&c);
	host_init(&c, "vc", "/svc");
	host_share(&c);
	{
		cleanup_json json_t *tc = task_on(&c, on_c), *ta = task_on(&a, on_c);
		cleanup_free char *key = xasprintf("/svc/tasks/%s", api_arn_tail(on_c));
		struct etcd_kv kv = { 0 };

		assert_string_equal(json_string_value(json_object_get(tc, "desiredStatus")), "STOPPED");
		assert_int_equal(log_count("was stopped by the cluster while this host was away"), 1);
		assert_int_equal(etcd_get(g.c, key, &kv, NULL, &err), 1);
		assert_non_null(strstr(kv.value, "\"lastStatus\":\"STOPPED\""));
		etcd_kv_clear(&kv);
		assert_string_equal(json_string_value(json_object_get(ta, "lastStatus")), "STOPPED");
	}

	host_fini(&a);
	host_fini(&b);
	host_fini(&c);
	blog_set_sink(NULL, NULL);
	log_reset();
	etcd_delete(g.c, "/svc/", true, NULL, NULL);
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
		cmocka_unit_test(test_shared_state),
		cmocka_unit_test(test_cluster_services),
		cmocka_unit_test(test_shapes_match_botocore),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
