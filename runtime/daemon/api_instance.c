/* runtime/daemon/api_instance.c - this host as a container instance:
 * api_bootstrap, DescribeContainerInstances, ListContainerInstances,
 * UpdateContainerInstancesState, Put/Delete/ListAttributes (and
 * RegisterContainerInstance, which berthd does for its host itself).
 *
 * The stored ContainerInstance document carries what was registered
 * (registeredResources, attributes, status, version); remainingResources
 * and the task counts are computed from the tasks on the instance on every
 * answer. Attributes live in the document (the scheduler reads them there)
 * and, one row per attribute with targetId = the instance's ARN, in the
 * attributes table (ListAttributes); every change writes both in one
 * transaction. Names under ecs. and com.amazonaws.ecs. are berth's own
 * (set at bootstrap); PutAttributes and DeleteAttributes refuse them.
 *
 * In a cluster (cluster.c) Describe- and ListContainerInstances also answer
 * the instances the other hosts registered in etcd, as they wrote them, with
 * agentConnected = their alive key exists; the other operations act on this
 * host's instance only. Without a cluster nothing of that runs. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/error.h"
#include "common/json.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "runtime/daemon/api.h"
#include "runtime/daemon/cluster.h"
#include "runtime/daemon/daemon.h"
#include "runtime/daemon/store.h"
#include "runtime/task/task.h"

#ifndef BERTH_VERSION
#define BERTH_VERSION "0.1.0"
#endif

#define TARGET_TYPE "container-instance"
#define CUSTOM_ATTR_MAX 10
#define NAME_MAX_LEN 256

/* Ports the ECS agent reserves on every instance (ssh, docker, the agent). */
static const char *const reserved_ports[] = { "22", "2375", "2376", "51678", "51679", NULL };

/* What berth offers of ECS's capability attributes. */
static const char *const capabilities[] = {
	"com.amazonaws.ecs.capability.privileged-container",
	"com.amazonaws.ecs.capability.logging-driver.json-file",
	"com.amazonaws.ecs.capability.logging-driver.awslogs",
	"com.amazonaws.ecs.capability.logging-driver.none",
	"ecs.capability.task-eni",
	"ecs.capability.task-cpu-mem-limit",
	"ecs.capability.container-health-check",
	"ecs.capability.container-ordering",
	"ecs.capability.pid-ipc-namespace-sharing",
	NULL,
};

/* ------------------------------------------------------------- attributes */

static bool attr_reserved(const char *name)
{
	return strncmp(name, "ecs.", 4) == 0 || strncmp(name, "com.amazonaws.ecs.", 18) == 0;
}

/* 1-128 of letters, digits, - _ / \ . */
static bool attr_name_valid(const char *s)
{
	size_t n = strlen(s);

	return n >= 1 && n <= 128 &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_/\\.") == n;
}

/* 1-128 of letters, digits, - _ . @ / \ : and inner spaces */
static bool attr_value_valid(const char *s)
{
	size_t n = strlen(s);

	return n >= 1 && n <= 128 && s[0] != ' ' && s[n - 1] != ' ' &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
		      "-_.@/\\: ") == n;
}

static json_t *attr_find(json_t *attrs, const char *name, size_t *idx)
{
	json_t *a;
	size_t i;

	json_array_foreach(attrs, i, a) {
		if (strcmp(json_string_value(json_object_get(a, "name")) ?: "", name) == 0) {
			if (idx)
				*idx = i;
			return a;
		}
	}
	return NULL;
}

/* name = value (value NULL: an attribute without one) in attrs. */
static void attr_set(json_t *attrs, const char *name, const char *value)
{
	json_t *a = attr_find(attrs, name, NULL);

	if (!a) {
		a = json_object();
		json_object_set_new(a, "name", json_string(name));
		json_array_append_new(attrs, a);
	}
	if (value)
		json_object_set_new(a, "value", json_string(value));
	else
		json_object_del(a, "value");
}

static size_t custom_count(json_t *attrs)
{
	size_t i, n = 0;
	json_t *a;

	json_array_foreach(attrs, i, a)
		if (!attr_reserved(json_string_value(json_object_get(a, "name")) ?: ""))
			n++;
	return n;
}

static json_t *attr_row(const char *arn, json_t *a)
{
	json_t *row = json_pack("{s:O, s:s, s:s}", "name", json_object_get(a, "name"),
				"targetType", TARGET_TYPE, "targetId", arn);

	if (json_object_get(a, "value"))
		json_object_set(row, "value", json_object_get(a, "value"));
	return row;
}

/* Make the attributes table hold exactly doc's attributes for the instance. */
static int sync_attr_rows(struct berthd *d, const char *cluster, const json_t *doc,
			  struct berr **err)
{
	const char *arn = json_string_value(json_object_get(doc, "containerInstanceArn"));
	json_t *attrs = json_object_get(doc, "attributes"), *a;
	cleanup_json json_t *rows = NULL;
	bool more;
	size_t i;
	int r;

	if ((r = store_attr_list(d->st, cluster, TARGET_TYPE, NULL, NULL, NULL, &rows, &more,
				 err)) < 0)
		return r;
	json_array_foreach(rows, i, a) {
		const char *name = json_string_value(json_object_get(a, "name"));

		if (strcmp(json_string_value(json_object_get(a, "targetId")) ?: "", arn) != 0 ||
		    attr_find(attrs, name, NULL))
			continue;
		if ((r = store_attr_delete(d->st, cluster, arn, name, err)) < 0)
			return r;
	}
	json_array_foreach(attrs, i, a) {
		cleanup_json json_t *row = attr_row(arn, a);

		if ((r = store_attr_put(d->st, cluster, row, err)) < 0)
			return r;
	}
	return 0;
}

/* --------------------------------------------------------------- resources */

static json_t *res_int(const char *name, int64_t v)
{
	return json_pack("{s:s, s:s, s:I}", "name", name, "type", "INTEGER", "integerValue",
			 (json_int_t)v);
}

static json_t *res_set(const char *name, json_t *values)
{
	return json_pack("{s:s, s:s, s:o}", "name", name, "type", "STRINGSET", "stringSetValue",
			 values);
}

static int64_t registered_int(const json_t *doc, const char *name)
{
	json_t *r;
	size_t i;

	json_array_foreach(json_object_get(doc, "registeredResources"), i, r)
		if (strcmp(json_string_value(json_object_get(r, "name")) ?: "", name) == 0)
			return json_integer_value(json_object_get(r, "integerValue"));
	return 0;
}

static json_t *registered_set(const json_t *doc, const char *name)
{
	json_t *r;
	size_t i;

	json_array_foreach(json_object_get(doc, "registeredResources"), i, r)
		if (strcmp(json_string_value(json_object_get(r, "name")) ?: "", name) == 0)
			return json_deep_copy(json_object_get(r, "stringSetValue"));
	return json_array();
}

/* A task's cpu or memory: the task-level string, else the sum over its
 * containers (cpu; memoryReservation or memory). */
static int64_t task_amount(const json_t *task, bool cpu)
{
	const char *s = json_string_value(json_object_get(task, cpu ? "cpu" : "memory"));
	int64_t v = 0, sum = 0;
	json_t *c;
	size_t i;

	if (s && (cpu ? task_parse_cpu(s, "cpu", &v, NULL) : task_parse_memory(s, "memory", &v,
										   NULL)) == 0)
		return v;
	json_array_foreach(json_object_get(task, "containers"), i, c) {
		const char *x = json_string_value(json_object_get(c, cpu ? "cpu" : "memoryReservation"));

		if (!x && !cpu)
			x = json_string_value(json_object_get(c, "memory"));
		if (x)
			sum += strtoll(x, NULL, 10);
	}
	return sum;
}

static void add_port(json_t *set, json_int_t port)
{
	char buf[16];
	json_t *x;
	size_t i;

	snprintf(buf, sizeof(buf), "%lld", (long long)port);
	json_array_foreach(set, i, x)
		if (strcmp(json_string_value(x), buf) == 0)
			return;
	json_array_append_new(set, json_string(buf));
}

static int inst_cluster(const char *arn, char *out, size_t len)
{
	const char *p = strstr(arn, ":container-instance/"), *slash;

	if (!p)
		return -1;
	p += strlen(":container-instance/");
	slash = strchr(p, '/');
	if (!slash || (size_t)(slash - p) >= len)
		return -1;
	memcpy(out, p, (size_t)(slash - p));
	out[slash - p] = 0;
	return 0;
}

/* The ContainerInstance as answered: remainingResources and task counts
 * from the tasks placed on it; tags when asked. */
static json_t *instance_view(struct berthd *d, const json_t *doc, bool with_tags,
			     struct api_error *e)
{
	cleanup_json json_t *v = json_deep_copy(doc);
	cleanup_json json_t *tasks = NULL;
	const char *arn = json_string_value(json_object_get(doc, "containerInstanceArn"));
	json_t *tcp = registered_set(doc, "PORTS"), *udp = registered_set(doc, "PORTS_UDP");
	int64_t cpu = registered_int(doc, "CPU"), mem = registered_int(doc, "MEMORY");
	int64_t running = 0, pending = 0;
	char cluster[NAME_MAX_LEN];
	struct berr *err = NULL;
	json_t *t, *c, *b, *rem;
	size_t i, j, k;
	bool more;

	rem = json_array();
	json_object_set_new(v, "remainingResources", rem);
	if (inst_cluster(arn ?: "", cluster, sizeof(cluster)) == 0) {
		struct store_task_filter f = { .cluster = cluster,
					       .container_instance = api_arn_tail(arn) };

		if (store_task_list(d->st, &f, NULL, &tasks, &more, &err) < 0) {
			json_decref(tcp);
			json_decref(udp);
			return api_fail_berr(e, &err, "list the tasks of container instance %s", arn);
		}
	}
	json_array_foreach(tasks, i, t) {
		const char *last = json_string_value(json_object_get(t, "lastStatus")) ?: "";
		const char *want = json_string_value(json_object_get(t, "desiredStatus")) ?: "";

		if (strcmp(last, "RUNNING") == 0)
			running++;
		else if (!strcmp(last, "PROVISIONING") || !strcmp(last, "PENDING") ||
			 !strcmp(last, "ACTIVATING"))
			pending++;
		if (strcmp(want, "RUNNING") != 0)
			continue;
		cpu -= task_amount(t, true);
		mem -= task_amount(t, false);
		json_array_foreach(json_object_get(t, "containers"), j, c) {
			json_array_foreach(json_object_get(c, "networkBindings"), k, b) {
				const char *proto = json_string_value(json_object_get(b, "protocol"));
				json_t *hp = json_object_get(b, "hostPort");

				if (json_is_integer(hp) && json_integer_value(hp) > 0)
					add_port(proto && strcmp(proto, "udp") == 0 ? udp : tcp,
						 json_integer_value(hp));
			}
		}
	}
	json_array_append_new(rem, res_int("CPU", cpu));
	json_array_append_new(rem, res_int("MEMORY", mem));
	json_array_append_new(rem, res_set("PORTS", tcp));
	json_array_append_new(rem, res_set("PORTS_UDP", udp));
	json_object_set_new(v, "runningTasksCount", json_integer(running));
	json_object_set_new(v, "pendingTasksCount", json_integer(pending));
	if (with_tags) {
		json_t *tags = NULL;

		if (store_tags_get(d->st, arn, &tags, &err) < 0)
			return api_fail_berr(e, &err, "get the tags of container instance %s", arn);
		json_object_set_new(v, "tags", tags);
	}
	return steal_pointer(&v);
}

/* The instance `ref` (id or ARN) of cluster: 1 with *doc, 0 when it is
 * not there (or in another cluster), -1 with *e. */
static int find_instance(struct berthd *d, const char *cluster, const char *ref, json_t **doc,
			 struct api_error *e)
{
	cleanup_json json_t *x = NULL;
	struct berr *err = NULL;
	char c[NAME_MAX_LEN];
	const char *arn;
	int r;

	*doc = NULL;
	if (strncmp(ref, "arn:", 4) == 0 && !strstr(ref, ":container-instance/"))
		return 0;
	if ((r = store_instance_get(d->st, api_arn_tail(ref), &x, &err)) < 0) {
		api_fail_berr(e, &err, "get container instance %s", ref);
		return -1;
	}
	if (r == 0)
		return 0;
	arn = json_string_value(json_object_get(x, "containerInstanceArn")) ?: "";
	if (inst_cluster(arn, c, sizeof(c)) < 0 || strcmp(c, cluster) != 0)
		return 0;
	if (strncmp(ref, "arn:", 4) == 0 && strcmp(ref, arn) != 0)
		return 0;
	*doc = steal_pointer(&x);
	return 1;
}

static json_t *missing(struct berthd *d, const char *cluster, const char *ref)
{
	cleanup_free char *arn = NULL;

	if (strncmp(ref, "arn:", 4) == 0)
		return json_pack("{s:s, s:s}", "arn", ref, "reason", "MISSING");
	arn = api_arn(d, "container-instance/%s/%s", cluster, ref);
	return json_pack("{s:s, s:s}", "arn", arn, "reason", "MISSING");
}

json_t *api_instance_self(struct berthd *d, struct berr **err)
{
	cleanup_json json_t *doc = NULL;
	struct api_error e = { 0 };
	json_t *v;
	int r;

	if ((r = store_instance_get(d->st, d->instance_id, &doc, err)) < 0)
		return NULL;
	if (r == 0) {
		berr_set(err, ENOENT, "container instance %s is not in the store", d->instance_id);
		return NULL;
	}
	if (!(v = instance_view(d, doc, false, &e))) {
		berr_set(err, 0, "%s", e.message ?: "container instance view");
		api_error_clear(&e);
	}
	return v;
}

/* The instance `ref` (id or ARN) of cluster among the other hosts' (the
 * first call reads them from etcd into *remote): a copy, or NULL. When etcd
 * could not be read, *rerr says why. */
static json_t *find_remote(struct berthd *d, const char *cluster, const char *ref,
			   json_t **remote, struct berr **rerr)
{
	json_t *x;
	size_t i;

	if (!*remote && cluster_instances(d, remote, rerr) < 0)
		return NULL;
	json_array_foreach(*remote, i, x) {
		const char *arn = json_string_value(json_object_get(x, "containerInstanceArn")) ?: "";
		char c[NAME_MAX_LEN];

		if (inst_cluster(arn, c, sizeof(c)) < 0 || strcmp(c, cluster) != 0)
			continue;
		if (strncmp(ref, "arn:", 4) == 0 ? !strcmp(ref, arn) : !strcmp(ref, api_arn_tail(arn)))
			return json_deep_copy(x);
	}
	return NULL;
}

static int get_cluster(struct berthd *d, json_t *in, char *name, size_t len, struct api_error *e)
{
	if (api_cluster_name(d, in, name, len, e) < 0)
		return -1;
	return api_cluster_active(d, name, NULL, e);
}

/* containerInstances: 1..max strings */
static int get_refs(json_t *in, size_t max, json_t **arr, struct api_error *e)
{
	json_t *x;
	size_t i;

	if (api_get_array(in, "containerInstances", true, arr, e) < 0)
		return -1;
	if (json_array_size(*arr) > max) {
		api_fail(e, "InvalidParameterException", "containerInstances: %zu given, at most %zu",
			 json_array_size(*arr), max);
		return -1;
	}
	json_array_foreach(*arr, i, x) {
		if (!json_is_string(x)) {
			api_fail(e, "InvalidParameterException", "containerInstances[%zu]: expected "
				 "string, got %s", i, bjson_type_name(x));
			return -1;
		}
	}
	return 0;
}

/* -------------------------------------------------------------- bootstrap */

static int bootstrap_attrs(struct berthd *d, json_t *attrs, struct berr **err)
{
	cleanup_free char *az = api_availability_zone(d);
	const char *arch = "x86_64";
	struct utsname u;
	const char *key;
	json_t *v, *a;
	size_t i;

	if (uname(&u) == 0 && strcmp(u.machine, "aarch64") == 0)
		arch = "arm64";
	/* berth's own names are set afresh: drop what an older berth set */
	for (i = json_array_size(attrs); i-- > 0;) {
		a = json_array_get(attrs, i);
		if (attr_reserved(json_string_value(json_object_get(a, "name")) ?: ""))
			json_array_remove(attrs, i);
	}
	attr_set(attrs, "ecs.os-type", "linux");
	attr_set(attrs, "ecs.os-family", "LINUX");
	attr_set(attrs, "ecs.cpu-architecture", arch);
	attr_set(attrs, "ecs.availability-zone", az);
	attr_set(attrs, "ecs.instance-type", "berth");
	for (i = 0; capabilities[i]; i++)
		attr_set(attrs, capabilities[i], NULL);
	if (!json_is_object(d->cfg.instance_attributes))
		return 0;
	json_object_foreach(d->cfg.instance_attributes, key, v) {
		const char *val = json_string_value(v);

		if (!attr_name_valid(key) || attr_reserved(key))
			return berr_set(err, EINVAL, "instance.attributes: \"%s\" is not a valid custom "
					"attribute name (1-128 letters, digits, -_/\\. ; not under ecs.)",
					berr_q(key));
		if (!val || !attr_value_valid(val))
			return berr_set(err, EINVAL, "instance.attributes.%s: not a valid attribute "
					"value (1-128 letters, digits, spaces, -_.@/\\:)", berr_q(key));
		attr_set(attrs, key, val);
	}
	if (custom_count(attrs) > CUSTOM_ATTR_MAX)
		return berr_set(err, EINVAL, "instance.attributes: %zu custom attributes, ECS allows "
				"%d per container instance", custom_count(attrs), CUSTOM_ATTR_MAX);
	return 0;
}

static void random_id(char out[33])
{
	unsigned char b[16];
	size_t got = 0;

	while (got < sizeof(b)) {
		ssize_t n = getrandom(b + got, sizeof(b) - got, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			abort();   /* getrandom cannot fail for 16 bytes once seeded */
		}
		got += (size_t)n;
	}
	for (size_t i = 0; i < sizeof(b); i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
}

int api_bootstrap(struct berthd *d, struct berr **err)
{
	cleanup_json json_t *req = json_object();
	cleanup_json json_t *created = NULL;
	cleanup_json json_t *list = NULL;
	cleanup_json json_t *doc = NULL;
	cleanup_free char *arn = NULL;
	cleanup_free char *ec2id = NULL;
	struct api_error e = { 0 };
	json_t *old, *attrs, *res;
	int64_t cpu = d->cfg.instance_cpu, mem = d->cfg.instance_memory;
	char host[256] = "localhost";
	char id[33];
	bool more;
	int r;

	created = api_create_cluster(d, req, &e);
	if (!created) {
		r = berr_set(err, 0, "create cluster default: %s: %s", e.type, e.message);
		api_error_clear(&e);
		return r;
	}
	if ((r = store_instance_list(d->st, "default", NULL, NULL, &list, &more, err)) < 0)
		return berr_wrap(err, "register this host");
	/* one host, one instance: an instance already in the store is this host */
	old = json_array_get(list, 0);
	if (old) {
		const char *tail = api_arn_tail(json_string_value(json_object_get(old,
						"containerInstanceArn")) ?: "");

		if (strlen(tail) != 32 || strspn(tail, "0123456789abcdef") != 32)
			return berr_set(err, EINVAL, "register this host: stored container instance "
					"\"%s\" has no 32-hex id", berr_q(tail));
		memcpy(id, tail, 33);
	} else {
		random_id(id);
	}
	if (cpu <= 0)
		cpu = 1024 * (int64_t)sysconf(_SC_NPROCESSORS_ONLN);
	if (mem <= 0)
		mem = (int64_t)sysconf(_SC_PHYS_PAGES) * sysconf(_SC_PAGESIZE) / (1024 * 1024);
	gethostname(host, sizeof(host) - 1);
	host[sizeof(host) - 1] = 0;
	arn = api_arn(d, "container-instance/default/%s", id);
	ec2id = xasprintf("berth-%s", host);

	doc = old ? json_deep_copy(old) : json_object();
	json_object_set_new(doc, "containerInstanceArn", json_string(arn));
	json_object_set_new(doc, "ec2InstanceId", json_string(ec2id));
	json_object_set_new(doc, "version",
			    json_integer(json_integer_value(json_object_get(doc, "version")) + 1));
	json_object_set_new(doc, "versionInfo", json_pack("{s:s}", "agentVersion", BERTH_VERSION));
	res = json_array();
	json_array_append_new(res, res_int("CPU", cpu));
	json_array_append_new(res, res_int("MEMORY", mem));
	{
		json_t *ports = json_array();

		for (size_t i = 0; reserved_ports[i]; i++)
			json_array_append_new(ports, json_string(reserved_ports[i]));
		json_array_append_new(res, res_set("PORTS", ports));
	}
	json_array_append_new(res, res_set("PORTS_UDP", json_array()));
	json_object_set_new(doc, "registeredResources", res);
	if (!json_object_get(doc, "status"))
		json_object_set_new(doc, "status", json_string("ACTIVE"));
	json_object_set_new(doc, "agentConnected", json_true());
	if (!json_is_array(json_object_get(doc, "attributes")))
		json_object_set_new(doc, "attributes", json_array());
	attrs = json_object_get(doc, "attributes");
	if ((r = bootstrap_attrs(d, attrs, err)) < 0)
		return r;
	if (!json_object_get(doc, "registeredAt"))
		json_object_set_new(doc, "registeredAt", api_time(api_now()));
	json_object_set_new(doc, "attachments", json_array());
	json_object_del(doc, "remainingResources");
	json_object_del(doc, "runningTasksCount");
	json_object_del(doc, "pendingTasksCount");

	if ((r = store_begin(d->st, err)) < 0)
		return berr_wrap(err, "register this host");
	if ((r = store_instance_put(d->st, doc, err)) < 0 ||
	    (r = sync_attr_rows(d, "default", doc, err)) < 0 ||
	    (r = store_commit(d->st, err)) < 0) {
		store_rollback(d->st);
		return berr_wrap(err, "register this host as container instance %s", id);
	}
	memcpy(d->instance_id, id, sizeof(d->instance_id));
	free(d->instance_arn);
	d->instance_arn = steal_pointer(&arn);
	return 0;
}

/* ------------------------------------------------------------- operations */

json_t *api_register_container_instance(struct berthd *d, json_t *in, struct api_error *e)
{
	(void)d;
	(void)in;
	return api_fail(e, "UnsupportedFeatureException", "RegisterContainerInstance is not "
			"supported by berth: berthd registers its own host as a container instance");
}

json_t *api_describe_container_instances(struct berthd *d, json_t *in, struct api_error *e)
{
	cleanup_json json_t *out = json_array();
	cleanup_json json_t *failures = json_array();
	cleanup_json json_t *remote = NULL;
	cleanup_berr struct berr *rerr = NULL;
	char cluster[NAME_MAX_LEN];
	json_t *refs = NULL, *inc = NULL, *x;
	bool with_tags = false;
	size_t i;

	if (get_refs(in, 100, &refs, e) < 0 || api_get_array(in, "include", false, &inc, e) < 0)
		return NULL;
	json_array_foreach(inc, i, x) {
		const char *s = json_string_value(x);

		if (!s || (strcmp(s, "TAGS") != 0 && strcmp(s, "CONTAINER_INSTANCE_HEALTH") != 0))
			return api_fail(e, "InvalidParameterException", "include[%zu]: must be TAGS or "
					"CONTAINER_INSTANCE_HEALTH", i);
		if (strcmp(s, "TAGS") == 0)
			with_tags = true;
	}
	if (get_cluster(d, in, cluster, sizeof(cluster), e) < 0)
		return NULL;
	json_array_foreach(refs, i, x) {
		cleanup_json json_t *doc = NULL;
		json_t *v;
		int r = find_instance(d, cluster, json_string_value(x), &doc, e);

		if (r < 0)
			return NULL;
		if (r == 0 && d->cluster) {
			/* another host's, from etcd */
			if ((v = find_remote(d, cluster, json_string_value(x), &remote, &rerr))) {
				if (with_tags)
					json_object_set_new(v, "tags", json_array());
				json_array_append_new(out, v);
				continue;
			}
		}
		if (r == 0) {
			v = missing(d, cluster, json_string_value(x));
			if (rerr)
				json_object_set_new(v, "detail", json_string(berr_msg(rerr)));
			json_array_append_new(failures, v);
			continue;
		}
		if (!(v = instance_view(d, doc, with_tags, e)))
			return NULL;
		json_array_append_new(out, v);
	}
	return json_pack("{s:O, s:O}", "containerInstances", out, "failures", failures);
}

/* ListContainerInstances' filter: "attribute:<name> == <value>" and
 * "attribute:<name> exists" so far. */
struct ci_filter {
	char name[129];
	char value[129];
	bool exists;
};

static int parse_filter(const char *f, struct ci_filter *out, struct api_error *e)
{
	const char *p = f, *start;
	size_t n;

	memset(out, 0, sizeof(*out));
	while (*p == ' ')
		p++;
	if (strncmp(p, "attribute:", 10) != 0)
		goto unsupported;
	p += 10;
	start = p;
	n = strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_/\\.");
	if (n == 0 || n > 128)
		goto unsupported;
	memcpy(out->name, start, n);
	p += n;
	while (*p == ' ')
		p++;
	if (strncmp(p, "exists", 6) == 0) {
		p += 6;
		out->exists = true;
	} else if (strncmp(p, "==", 2) == 0) {
		p += 2;
		while (*p == ' ')
			p++;
		start = p;
		n = strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
			   "-_.@/\\:");
		if (n == 0 || n > 128)
			goto unsupported;
		memcpy(out->value, start, n);
		p += n;
	} else {
		goto unsupported;
	}
	while (*p == ' ')
		p++;
	if (*p)
		goto unsupported;
	return 0;
unsupported:
	api_fail(e, "InvalidParameterException", "filter: not supported yet: \"%s\" (berth "
		 "understands attribute:<name> == <value> and attribute:<name> exists)", berr_q(f));
	return -1;
}

static bool filter_match(const struct ci_filter *f, const json_t *doc)
{
	json_t *a = attr_find(json_object_get(doc, "attributes"), f->name, NULL);

	if (!a)
		return false;
	if (f->exists)
		return true;
	return strcmp(json_string_value(json_object_get(a, "value")) ?: "", f->value) == 0;
}

static bool status_valid(const char *s)
{
	static const char *const st[] = { "ACTIVE", "DRAINING", "REGISTERING", "DEREGISTERING",
					  "REGISTRATION_FAILED", NULL };

	for (size_t i = 0; st[i]; i++)
		if (strcmp(s, st[i]) == 0)
			return true;
	return false;
}

/* ListContainerInstances in a cluster: this host's instances from the
 * store and the other hosts' from etcd (only the local ones while etcd is
 * unreachable), merged in id order, then filtered and paged alike. */
struct ci_row {
	const char *id, *arn;
};

static int row_cmp(const void *a, const void *b)
{
	return strcmp(((const struct ci_row *)a)->id, ((const struct ci_row *)b)->id);
}

static json_t *list_clustered(struct berthd *d, const char *cluster, const char *status,
			      const struct ci_filter *flt, const char *after, int64_t limit,
			      struct api_error *e)
{
	cleanup_json json_t *local = NULL;
	cleanup_json json_t *remote = NULL;
	cleanup_json json_t *arns = json_array();
	cleanup_free struct ci_row *rows = NULL;
	cleanup_free char *token = NULL;
	struct berr *err = NULL;
	size_t n = 0, i;
	bool more;
	json_t *x, *res;

	if (store_instance_list(d->st, cluster, status, NULL, &local, &more, &err) < 0)
		return api_fail_berr(e, &err, "list container instances");
	if (cluster_instances(d, &remote, &err) < 0) {
		log_debug("ListContainerInstances: this host's only: %s", berr_msg(err));
		berr_clear(&err);
	}
	rows = xcalloc(json_array_size(local) + json_array_size(remote) + 1, sizeof(*rows));
	for (int pass = 0; pass < 2; pass++) {
		json_array_foreach(pass ? remote : local, i, x) {
			const char *arn = json_string_value(json_object_get(x, "containerInstanceArn"));
			const char *st = json_string_value(json_object_get(x, "status")) ?: "";
			char c[NAME_MAX_LEN];

			if (!arn || inst_cluster(arn, c, sizeof(c)) < 0 || strcmp(c, cluster) != 0)
				continue;
			if (status ? strcmp(st, status) != 0 : strcmp(st, "INACTIVE") == 0)
				continue;
			if (flt && !filter_match(flt, x))
				continue;
			rows[n].id = api_arn_tail(arn);
			rows[n].arn = arn;
			if (!after || strcmp(rows[n].id, after) > 0)
				n++;
		}
	}
	qsort(rows, n, sizeof(*rows), row_cmp);
	for (i = 0; i < n && (int64_t)i < limit; i++)
		json_array_append_new(arns, json_string(rows[i].arn));
	if (n > (size_t)limit)
		token = api_page_token(rows[limit - 1].id);
	res = json_pack("{s:O}", "containerInstanceArns", arns);
	if (token)
		json_object_set_new(res, "nextToken", json_string(token));
	return res;
}

json_t *api_list_container_instances(struct berthd *d, json_t *in, struct api_error *e)
{
	cleanup_json json_t *arns = json_array();
	cleanup_free char *after = NULL;
	cleanup_free char *cursor = NULL;
	cleanup_free char *token = NULL;
	char cluster[NAME_MAX_LEN];
	const char *filter = NULL, *status = NULL;
	struct ci_filter flt;
	int64_t limit;
	json_t *res;

	if (api_get_string(in, "filter", false, &filter, e) < 0 ||
	    api_get_string(in, "status", false, &status, e) < 0)
		return NULL;
	if (filter && parse_filter(filter, &flt, e) < 0)
		return NULL;
	if (status && !status_valid(status))
		return api_fail(e, "InvalidParameterException", "status: \"%s\" is not a container "
				"instance status", berr_q(status));
	if (api_page_start(in, 100, 100, &after, &limit, e) < 0 ||
	    get_cluster(d, in, cluster, sizeof(cluster), e) < 0)
		return NULL;
	if (d->cluster)
		return list_clustered(d, cluster, status, filter ? &flt : NULL, after, limit, e);
	cursor = after ? xstrdup(after) : NULL;
	/* the filter is applied here: read pages until this one is full */
	for (;;) {
		struct store_page pg = { .after = cursor, .limit = limit };
		cleanup_json json_t *docs = NULL;
		struct berr *err = NULL;
		bool more = false;
		json_t *x;
		size_t i;

		if (store_instance_list(d->st, cluster, status, &pg, &docs, &more, &err) < 0)
			return api_fail_berr(e, &err, "list container instances");
		json_array_foreach(docs, i, x) {
			const char *arn = json_string_value(json_object_get(x, "containerInstanceArn"));

			/* no status asked: every status but INACTIVE (ECS) */
			if (!status && strcmp(json_string_value(json_object_get(x, "status")) ?: "",
					      "INACTIVE") == 0)
				continue;
			if (filter && !filter_match(&flt, x))
				continue;
			json_array_append_new(arns, json_string(arn));
			if ((int64_t)json_array_size(arns) == limit) {
				if (more || i + 1 < json_array_size(docs))
					token = api_page_token(api_arn_tail(arn));
				goto done;
			}
		}
		if (!more || json_array_size(docs) == 0)
			break;
		free(cursor);
		cursor = xstrdup(api_arn_tail(json_string_value(json_object_get(
			json_array_get(docs, json_array_size(docs) - 1), "containerInstanceArn"))));
	}
done:
	res = json_pack("{s:O}", "containerInstanceArns", arns);
	if (token)
		json_object_set_new(res, "nextToken", json_string(token));
	return res;
}

json_t *api_update_container_instances_state(struct berthd *d, json_t *in, struct api_error *e)
{
	cleanup_json json_t *out = json_array();
	cleanup_json json_t *failures = json_array();
	cleanup_json json_t *docs = json_array();
	char cluster[NAME_MAX_LEN];
	struct berr *err = NULL;
	const char *status = NULL;
	json_t *refs = NULL, *x;
	size_t i;

	if (get_refs(in, 10, &refs, e) < 0 || api_get_string(in, "status", true, &status, e) < 0)
		return NULL;
	if (strcmp(status, "ACTIVE") != 0 && strcmp(status, "DRAINING") != 0)
		return api_fail(e, "InvalidParameterException", "status: \"%s\": container instances "
				"can be set to ACTIVE or DRAINING", berr_q(status));
	if (get_cluster(d, in, cluster, sizeof(cluster), e) < 0)
		return NULL;
	if (store_begin(d->st, &err) < 0)
		return api_fail_berr(e, &err, "update container instances");
	json_array_foreach(refs, i, x) {
		json_t *doc = NULL;
		int r = find_instance(d, cluster, json_string_value(x), &doc, e);

		if (r < 0)
			goto out_rollback;
		if (r == 0) {
			json_array_append_new(failures, missing(d, cluster, json_string_value(x)));
			continue;
		}
		if (strcmp(json_string_value(json_object_get(doc, "status")) ?: "", status) != 0) {
			json_object_set_new(doc, "status", json_string(status));
			json_object_set_new(doc, "version", json_integer(
				json_integer_value(json_object_get(doc, "version")) + 1));
			if (store_instance_put(d->st, doc, &err) < 0) {
				json_decref(doc);
				store_rollback(d->st);
				return api_fail_berr(e, &err, "update container instance %s",
						     json_string_value(x));
			}
		}
		json_array_append_new(docs, doc);
	}
	if (store_commit(d->st, &err) < 0)
		return api_fail_berr(e, &err, "update container instances");
	json_array_foreach(docs, i, x) {
		json_t *v = instance_view(d, x, false, e);

		if (!v)
			return NULL;
		json_array_append_new(out, v);
	}
	return json_pack("{s:O, s:O}", "containerInstances", out, "failures", failures);
out_rollback:
	store_rollback(d->st);
	return NULL;
}

/* ------------------------------------------------------------- attributes */

/* attributes: 1..10 objects with a valid name, a target, and (for puts) a
 * valid value when one is given. */
static int check_attrs(json_t *in, bool put, json_t **arr, struct api_error *e)
{
	json_t *a;
	size_t i;

	if (api_get_array(in, "attributes", true, arr, e) < 0)
		return -1;
	if (json_array_size(*arr) == 0 || json_array_size(*arr) > CUSTOM_ATTR_MAX) {
		api_fail(e, "InvalidParameterException", "attributes: %zu given, 1 to %d per call",
			 json_array_size(*arr), CUSTOM_ATTR_MAX);
		return -1;
	}
	json_array_foreach(*arr, i, a) {
		const char *name = NULL, *value = NULL, *type = NULL, *target = NULL;
		char path[48];

		snprintf(path, sizeof(path), "attributes[%zu]", i);
		if (!json_is_object(a)) {
			api_fail(e, "InvalidParameterException", "%s: expected object, got %s", path,
				 bjson_type_name(a));
			return -1;
		}
		if (api_get_string(a, "name", true, &name, e) < 0 ||
		    api_get_string(a, "value", false, &value, e) < 0 ||
		    api_get_string(a, "targetType", false, &type, e) < 0 ||
		    api_get_string(a, "targetId", false, &target, e) < 0) {
			char *m = xasprintf("%s.%s", path, e->message);

			free(e->message);
			e->message = m;
			return -1;
		}
		if (!attr_name_valid(name)) {
			api_fail(e, "InvalidParameterException", "%s.name: \"%s\" must be 1-128 letters, "
				 "digits, hyphens, underscores, slashes, backslashes or periods", path,
				 berr_q(name));
			return -1;
		}
		if (attr_reserved(name)) {
			api_fail(e, "InvalidParameterException", "%s.name: \"%s\": names under ecs. and "
				 "com.amazonaws.ecs. are set by berth itself", path, berr_q(name));
			return -1;
		}
		if (put && value && !attr_value_valid(value)) {
			api_fail(e, "InvalidParameterException", "%s.value: must be 1-128 letters, "
				 "digits, spaces (not at either end) or -_.@/\\:", path);
			return -1;
		}
		if (type && strcmp(type, TARGET_TYPE) != 0) {
			api_fail(e, "InvalidParameterException", "%s.targetType: \"%s\" is not valid "
				 "(container-instance)", path, berr_q(type));
			return -1;
		}
		if (!target) {
			api_fail(e, "InvalidParameterException", "%s.targetId: required (a container "
				 "instance id or ARN)", path);
			return -1;
		}
	}
	return 0;
}

static json_t *change_attrs(struct berthd *d, json_t *in, bool put, struct api_error *e)
{
	cleanup_json json_t *docs = json_object();   /* instance id -> doc being changed */
	char cluster[NAME_MAX_LEN];
	struct berr *err = NULL;
	json_t *attrs = NULL, *a, *doc;
	const char *id;
	size_t i;

	if (check_attrs(in, put, &attrs, e) < 0 || get_cluster(d, in, cluster, sizeof(cluster), e) < 0)
		return NULL;
	if (store_begin(d->st, &err) < 0)
		return api_fail_berr(e, &err, "%s attributes", put ? "put" : "delete");
	json_array_foreach(attrs, i, a) {
		const char *target = json_string_value(json_object_get(a, "targetId"));
		const char *name = json_string_value(json_object_get(a, "name"));
		json_t *value = json_object_get(a, "value");
		size_t idx;

		id = api_arn_tail(target);
		doc = json_object_get(docs, id);
		if (!doc) {
			int r = find_instance(d, cluster, target, &doc, e);

			if (r < 0)
				goto out_rollback;
			if (r == 0) {
				api_fail(e, "TargetNotFoundException", "Could not find %s: no container "
					 "instance \"%s\" in cluster %s", "target", berr_q(target), cluster);
				goto out_rollback;
			}
			json_object_set_new(docs, id, doc);
		}
		if (put) {
			attr_set(json_object_get(doc, "attributes"), name,
				 json_is_string(value) ? json_string_value(value) : NULL);
		} else if (attr_find(json_object_get(doc, "attributes"), name, &idx)) {
			const char *have = json_string_value(json_object_get(
				json_array_get(json_object_get(doc, "attributes"), idx), "value"));

			/* a value given must be the one set */
			if (json_is_string(value) && (!have || strcmp(have, json_string_value(value))))
				continue;
			json_array_remove(json_object_get(doc, "attributes"), idx);
		}
	}
	json_object_foreach(docs, id, doc) {
		if (put && custom_count(json_object_get(doc, "attributes")) > CUSTOM_ATTR_MAX) {
			api_fail(e, "AttributeLimitExceededException", "You can apply up to %d custom "
				 "attributes for each resource: container instance %s would have %zu",
				 CUSTOM_ATTR_MAX, id, custom_count(json_object_get(doc, "attributes")));
			goto out_rollback;
		}
		json_object_set_new(doc, "version",
				    json_integer(json_integer_value(json_object_get(doc, "version")) + 1));
		if (store_instance_put(d->st, doc, &err) < 0 ||
		    sync_attr_rows(d, cluster, doc, &err) < 0) {
			store_rollback(d->st);
			return api_fail_berr(e, &err, "%s attributes of container instance %s",
					     put ? "put" : "delete", id);
		}
	}
	if (store_commit(d->st, &err) < 0)
		return api_fail_berr(e, &err, "%s attributes", put ? "put" : "delete");
	return json_pack("{s:O}", "attributes", attrs);
out_rollback:
	store_rollback(d->st);
	return NULL;
}

json_t *api_put_attributes(struct berthd *d, json_t *in, struct api_error *e)
{
	return change_attrs(d, in, true, e);
}

json_t *api_delete_attributes(struct berthd *d, json_t *in, struct api_error *e)
{
	return change_attrs(d, in, false, e);
}

json_t *api_list_attributes(struct berthd *d, json_t *in, struct api_error *e)
{
	cleanup_free char *after = NULL;
	char cluster[NAME_MAX_LEN];
	const char *type = NULL, *name = NULL, *value = NULL;
	struct berr *err = NULL;
	json_t *attrs = NULL, *res;
	int64_t limit;
	bool more;

	if (api_get_string(in, "targetType", true, &type, e) < 0 ||
	    api_get_string(in, "attributeName", false, &name, e) < 0 ||
	    api_get_string(in, "attributeValue", false, &value, e) < 0)
		return NULL;
	if (strcmp(type, TARGET_TYPE) != 0)
		return api_fail(e, "InvalidParameterException", "targetType: \"%s\" is not valid "
				"(container-instance)", berr_q(type));
	if (value && !name)
		return api_fail(e, "InvalidParameterException", "attributeValue: needs attributeName");
	if (api_page_start(in, 100, 100, &after, &limit, e) < 0 ||
	    get_cluster(d, in, cluster, sizeof(cluster), e) < 0)
		return NULL;
	struct store_page pg = { .after = after, .limit = limit };

	if (store_attr_list(d->st, cluster, type, name, value, &pg, &attrs, &more, &err) < 0) {
		if (after && err && err->code == EINVAL) {
			berr_clear(&err);
			return api_fail(e, "InvalidParameterException", "nextToken: not a token from "
					"a previous response of this operation");
		}
		return api_fail_berr(e, &err, "list attributes");
	}
	res = json_pack("{s:o}", "attributes", attrs);
	if (more && json_array_size(attrs)) {
		json_t *last = json_array_get(attrs, json_array_size(attrs) - 1);
		cleanup_free char *key = xasprintf("%s\n%s",
			json_string_value(json_object_get(last, "targetId")),
			json_string_value(json_object_get(last, "name")));
		cleanup_free char *tok = api_page_token(key);

		json_object_set_new(res, "nextToken", json_string(tok));
	}
	return res;
}
