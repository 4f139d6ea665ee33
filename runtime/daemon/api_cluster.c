/* runtime/daemon/api_cluster.c - CreateCluster, DescribeClusters,
 * ListClusters, DeleteCluster.
 *
 * The stored Cluster document holds what was configured (ARN, name,
 * status, settings, capacity providers, configuration); the counts and
 * statistics are computed from the store on every answer, so they are
 * never stale. A deleted cluster stays as an INACTIVE row, which
 * DescribeClusters shows and ListClusters leaves out, as ECS does;
 * CreateCluster of that name makes it ACTIVE again. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/error.h"
#include "common/json.h"
#include "common/xalloc.h"
#include "runtime/daemon/api.h"
#include "runtime/daemon/daemon.h"
#include "runtime/daemon/store.h"

#define CLUSTER_NAME_MAX 256

enum {
	INC_ATTACHMENTS = 1 << 0,
	INC_CONFIGURATIONS = 1 << 1,
	INC_SETTINGS = 1 << 2,
	INC_STATISTICS = 1 << 3,
	INC_TAGS = 1 << 4,
	/* CreateCluster and DeleteCluster answer the whole configuration */
	INC_CREATE = INC_CONFIGURATIONS | INC_SETTINGS | INC_TAGS,
};

static bool is_pending(const char *last)
{
	return last && (strcmp(last, "PROVISIONING") == 0 || strcmp(last, "PENDING") == 0 ||
			strcmp(last, "ACTIVATING") == 0);
}

struct counts {
	int64_t running[3], pending[3];   /* by launch type: EC2, FARGATE, EXTERNAL */
	int64_t instances;
};

static int launch_index(const char *lt)
{
	if (lt && strcmp(lt, "FARGATE") == 0)
		return 1;
	if (lt && strcmp(lt, "EXTERNAL") == 0)
		return 2;
	return 0;
}

static int count(struct berthd *d, const char *name, struct counts *c, struct berr **err)
{
	static const char *const active[] = { "RUNNING", "PROVISIONING", "PENDING", "ACTIVATING" };
	cleanup_json json_t *inst = NULL;
	json_t *x;
	size_t i;
	bool more;
	int r;

	memset(c, 0, sizeof(*c));
	for (size_t k = 0; k < sizeof(active) / sizeof(active[0]); k++) {
		struct store_task_filter f = { .cluster = name, .last_status = active[k] };
		cleanup_json json_t *tasks = NULL;

		if ((r = store_task_list(d->st, &f, NULL, &tasks, &more, err)) < 0)
			return r;
		json_array_foreach(tasks, i, x) {
			int li = launch_index(json_string_value(json_object_get(x, "launchType")));

			if (is_pending(active[k]))
				c->pending[li]++;
			else
				c->running[li]++;
		}
	}
	if ((r = store_instance_list(d->st, name, NULL, NULL, &inst, &more, err)) < 0)
		return r;
	json_array_foreach(inst, i, x)
		if (strcmp(json_string_value(json_object_get(x, "status")) ?: "", "INACTIVE") != 0)
			c->instances++;
	return 0;
}

static json_t *kv(const char *name, int64_t v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%lld", (long long)v);
	return json_pack("{s:s, s:s}", "name", name, "value", buf);
}

/* The Cluster as answered: the stored document, counts, and what
 * `include` asks for. */
static json_t *cluster_view(struct berthd *d, const json_t *doc, unsigned include,
			    struct api_error *e)
{
	cleanup_json json_t *v = json_deep_copy(doc);
	const char *name = json_string_value(json_object_get(doc, "clusterName"));
	const char *arn = json_string_value(json_object_get(doc, "clusterArn"));
	struct berr *err = NULL;
	struct counts c;
	json_t *stats = json_array();

	json_object_set_new(v, "statistics", stats);
	if (count(d, name, &c, &err) < 0)
		return api_fail_berr(e, &err, "count the tasks of cluster %s", name);
	json_object_set_new(v, "registeredContainerInstancesCount", json_integer(c.instances));
	json_object_set_new(v, "runningTasksCount",
			    json_integer(c.running[0] + c.running[1] + c.running[2]));
	json_object_set_new(v, "pendingTasksCount",
			    json_integer(c.pending[0] + c.pending[1] + c.pending[2]));
	json_object_set_new(v, "activeServicesCount", json_integer(0));
	if (include & INC_STATISTICS) {
		json_array_append_new(stats, kv("runningEC2TasksCount", c.running[0]));
		json_array_append_new(stats, kv("runningFargateTasksCount", c.running[1]));
		json_array_append_new(stats, kv("pendingEC2TasksCount", c.pending[0]));
		json_array_append_new(stats, kv("pendingFargateTasksCount", c.pending[1]));
		json_array_append_new(stats, kv("runningExternalTasksCount", c.running[2]));
		json_array_append_new(stats, kv("pendingExternalTasksCount", c.pending[2]));
		json_array_append_new(stats, kv("activeEC2ServiceCount", 0));
		json_array_append_new(stats, kv("activeFargateServiceCount", 0));
		json_array_append_new(stats, kv("drainingEC2ServiceCount", 0));
		json_array_append_new(stats, kv("drainingFargateServiceCount", 0));
	}
	if (include & INC_TAGS) {
		json_t *tags = NULL;

		if (store_tags_get(d->st, arn, &tags, &err) < 0)
			return api_fail_berr(e, &err, "get the tags of cluster %s", name);
		json_object_set_new(v, "tags", tags);
	} else {
		json_object_set_new(v, "tags", json_array());
	}
	if (!(include & INC_SETTINGS))
		json_object_del(v, "settings");
	if (!(include & INC_CONFIGURATIONS)) {
		json_object_del(v, "configuration");
		json_object_del(v, "serviceConnectDefaults");
	}
	if (include & INC_ATTACHMENTS)
		json_object_set_new(v, "attachments", json_array());
	return steal_pointer(&v);
}

/* ------------------------------------------------------------ CreateCluster */

static const char *const capacity_providers[] = { "FARGATE", "FARGATE_SPOT", NULL };

static bool in_list(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (strcmp(s, *list) == 0)
			return true;
	return false;
}

static int check_settings(json_t *in, json_t **out, struct api_error *e)
{
	static const char *const values[] = { "enabled", "disabled", "enhanced", NULL };
	json_t *arr = NULL, *x;
	size_t i;
	int r;

	*out = json_pack("[{s:s, s:s}]", "name", "containerInsights", "value", "disabled");
	if ((r = api_get_array(in, "settings", false, &arr, e)) <= 0)
		return r;
	json_array_foreach(arr, i, x) {
		const char *name = json_string_value(json_object_get(x, "name"));
		const char *value = json_string_value(json_object_get(x, "value"));

		if (!name || strcmp(name, "containerInsights") != 0) {
			api_fail(e, "InvalidParameterException", "settings[%zu].name: must be "
				 "containerInsights", i);
			return -1;
		}
		if (!value || !in_list(value, values)) {
			api_fail(e, "InvalidParameterException", "settings[%zu].value: must be enabled, "
				 "disabled or enhanced", i);
			return -1;
		}
		json_object_set_new(json_array_get(*out, 0), "value", json_string(value));
	}
	return 0;
}

static int check_capacity(json_t *in, json_t *doc, struct api_error *e)
{
	json_t *cps = NULL, *strat = NULL, *x;
	size_t i;
	int r;

	json_object_set_new(doc, "capacityProviders", json_array());
	json_object_set_new(doc, "defaultCapacityProviderStrategy", json_array());
	if ((r = api_get_array(in, "capacityProviders", false, &cps, e)) < 0)
		return -1;
	json_array_foreach(cps, i, x) {
		if (!json_is_string(x) || !in_list(json_string_value(x), capacity_providers)) {
			api_fail(e, "InvalidParameterException", "capacityProviders[%zu]: berth has "
				 "the capacity providers FARGATE and FARGATE_SPOT only", i);
			return -1;
		}
	}
	if (cps)
		json_object_set(doc, "capacityProviders", cps);
	if ((r = api_get_array(in, "defaultCapacityProviderStrategy", false, &strat, e)) < 0)
		return -1;
	json_array_foreach(strat, i, x) {
		const char *cp = json_string_value(json_object_get(x, "capacityProvider"));
		json_t *item = json_object();
		bool found = false;
		int64_t v;
		json_t *y;
		size_t j;

		json_array_foreach(cps, j, y)
			if (cp && strcmp(json_string_value(y), cp) == 0)
				found = true;
		if (!found) {
			json_decref(item);
			api_fail(e, "InvalidParameterException", "defaultCapacityProviderStrategy[%zu]."
				 "capacityProvider: must be one of the cluster's capacityProviders", i);
			return -1;
		}
		json_object_set_new(item, "capacityProvider", json_string(cp));
		if (api_get_int(x, "weight", false, 0, 1000, &v, e) < 0 ||
		    api_get_int(x, "base", false, 0, 100000, &v, e) < 0) {
			json_decref(item);
			return -1;
		}
		if (json_object_get(x, "weight"))
			json_object_set(item, "weight", json_object_get(x, "weight"));
		if (json_object_get(x, "base"))
			json_object_set(item, "base", json_object_get(x, "base"));
		json_array_append_new(json_object_get(doc, "defaultCapacityProviderStrategy"), item);
	}
	return 0;
}

static int check_configuration(json_t *in, json_t *doc, struct api_error *e)
{
	json_t *conf = NULL, *scd = NULL, *v;
	const char *key;
	int r;

	if ((r = api_get_object(in, "configuration", false, &conf, e)) < 0)
		return -1;
	if (conf) {
		json_object_foreach(conf, key, v) {
			if (strcmp(key, "executeCommandConfiguration") != 0 &&
			    strcmp(key, "managedStorageConfiguration") != 0) {
				api_fail(e, "InvalidParameterException", "configuration.%s: unknown "
					 "member", berr_q(key));
				return -1;
			}
			if (!json_is_object(v)) {
				api_fail(e, "InvalidParameterException", "configuration.%s: expected "
					 "object, got %s", key, bjson_type_name(v));
				return -1;
			}
		}
		json_object_set(doc, "configuration", conf);
	}
	if ((r = api_get_object(in, "serviceConnectDefaults", false, &scd, e)) < 0)
		return -1;
	if (scd) {
		const char *ns = NULL;

		if (api_get_string(scd, "namespace", true, &ns, e) < 0)
			return -1;
		json_object_set_new(doc, "serviceConnectDefaults", json_pack("{s:s}", "namespace", ns));
	}
	return 0;
}

json_t *api_create_cluster(struct berthd *d, json_t *in, struct api_error *e)
{
	cleanup_json json_t *doc = json_object();
	cleanup_json json_t *old = NULL;
	cleanup_json json_t *settings = NULL;
	cleanup_free char *arn = NULL;
	char name[CLUSTER_NAME_MAX];
	struct berr *err = NULL;
	json_t *tags = NULL, *c;
	const char *given = NULL;
	int r;

	if ((r = api_get_string(in, "clusterName", false, &given, e)) < 0)
		return NULL;
	{
		cleanup_json json_t *q = json_pack("{s:s}", "cluster", r ? given : "default");

		/* a name only: an ARN is no cluster name */
		if (r && strncmp(given, "arn:", 4) == 0)
			return api_fail(e, "InvalidParameterException", "clusterName: \"%s\" is not a "
					"valid cluster name (1-255 letters, digits, hyphens and "
					"underscores)", berr_q(given));
		if (api_cluster_name(d, q, name, sizeof(name), e) < 0) {
			free(e->message);
			e->message = xasprintf("clusterName: \"%s\" is not a valid cluster name (1-255 "
					       "letters, digits, hyphens and underscores)", berr_q(given));
			return NULL;
		}
	}
	if (api_get_array(in, "tags", false, &tags, e) < 0)
		return NULL;
	if (tags && api_check_tags(tags, e) < 0)
		return NULL;
	if (check_settings(in, &settings, e) < 0 || check_capacity(in, doc, e) < 0 ||
	    check_configuration(in, doc, e) < 0)
		return NULL;
	arn = api_arn(d, "cluster/%s", name);
	json_object_set_new(doc, "clusterArn", json_string(arn));
	json_object_set_new(doc, "clusterName", json_string(name));
	json_object_set_new(doc, "status", json_string("ACTIVE"));
	json_object_set(doc, "settings", settings);

	if (store_begin(d->st, &err) < 0)
		return api_fail_berr(e, &err, "create cluster %s", name);
	if ((r = store_cluster_get(d->st, name, &old, &err)) < 0)
		goto fail;
	if (r > 0 && strcmp(json_string_value(json_object_get(old, "status")) ?: "", "INACTIVE")) {
		/* ECS: creating an existing ACTIVE cluster answers it unchanged */
		store_rollback(d->st);
		c = cluster_view(d, old, INC_CREATE, e);
		return c ? json_pack("{s:o}", "cluster", c) : NULL;
	}
	if (store_cluster_put(d->st, doc, &err) < 0 || store_tags_drop(d->st, arn, &err) < 0 ||
	    (tags && store_tags_set(d->st, arn, tags, &err) < 0) || store_commit(d->st, &err) < 0)
		goto fail;
	c = cluster_view(d, doc, INC_CREATE, e);
	return c ? json_pack("{s:o}", "cluster", c) : NULL;
fail:
	store_rollback(d->st);
	return api_fail_berr(e, &err, "create cluster %s", name);
}

/* ---------------------------------------------------------- DescribeClusters */

static int parse_include(json_t *in, const char *const *names, unsigned *out,
			 struct api_error *e)
{
	json_t *arr = NULL, *x;
	size_t i;

	*out = 0;
	if (api_get_array(in, "include", false, &arr, e) < 0)
		return -1;
	json_array_foreach(arr, i, x) {
		unsigned bit = 0;

		for (unsigned k = 0; names[k]; k++)
			if (json_is_string(x) && strcmp(json_string_value(x), names[k]) == 0)
				bit = 1u << k;
		if (!bit) {
			cleanup_free char *dump = bjson_dumps(x);

			api_fail(e, "InvalidParameterException", "include[%zu]: %s is not a valid "
				 "field", i, berr_q(dump));
			return -1;
		}
		*out |= bit;
	}
	return 0;
}

json_t *api_describe_clusters(struct berthd *d, json_t *in, struct api_error *e)
{
	static const char *const fields[] = { "ATTACHMENTS", "CONFIGURATIONS", "SETTINGS",
					      "STATISTICS", "TAGS", NULL };
	cleanup_json json_t *clusters = json_array();
	cleanup_json json_t *failures = json_array();
	cleanup_json json_t *dflt = json_pack("[s]", "default");
	json_t *names = NULL, *x;
	unsigned include;
	size_t i;

	if (api_get_array(in, "clusters", false, &names, e) < 0 ||
	    parse_include(in, fields, &include, e) < 0)
		return NULL;
	if (!names || json_array_size(names) == 0)
		names = dflt;
	if (json_array_size(names) > 100)
		return api_fail(e, "InvalidParameterException", "clusters: %zu given, at most 100",
				json_array_size(names));
	json_array_foreach(names, i, x) {
		cleanup_json json_t *q = json_pack("{s:O}", "cluster", x);
		cleanup_json json_t *doc = NULL;
		struct api_error pe = { 0 };
		struct berr *err = NULL;
		char name[CLUSTER_NAME_MAX];
		json_t *v;
		int r;

		if (!json_is_string(x))
			return api_fail(e, "InvalidParameterException", "clusters[%zu]: expected "
					"string, got %s", i, bjson_type_name(x));
		if (api_cluster_name(d, q, name, sizeof(name), &pe) < 0) {
			api_error_clear(&pe);
			json_array_append_new(failures, json_pack("{s:O, s:s}", "arn", x,
								  "reason", "MISSING"));
			continue;
		}
		if ((r = store_cluster_get(d->st, name, &doc, &err)) < 0)
			return api_fail_berr(e, &err, "describe cluster %s", name);
		if (r == 0) {
			cleanup_free char *arn = api_arn(d, "cluster/%s", name);

			json_array_append_new(failures, json_pack("{s:s, s:s}", "arn", arn,
								  "reason", "MISSING"));
			continue;
		}
		if (!(v = cluster_view(d, doc, include, e)))
			return NULL;
		json_array_append_new(clusters, v);
	}
	return json_pack("{s:O, s:O}", "clusters", clusters, "failures", failures);
}

/* -------------------------------------------------------------- ListClusters */

json_t *api_list_clusters(struct berthd *d, json_t *in, struct api_error *e)
{
	cleanup_free char *after = NULL;
	struct berr *err = NULL;
	json_t *arns = NULL, *res;
	int64_t limit;
	bool more;

	if (api_page_start(in, 100, 100, &after, &limit, e) < 0)
		return NULL;
	struct store_page pg = { .after = after, .limit = limit };

	if (store_cluster_list(d->st, &pg, &arns, &more, &err) < 0)
		return api_fail_berr(e, &err, "list clusters");
	res = json_pack("{s:o}", "clusterArns", arns);
	if (more && json_array_size(arns)) {
		const char *last = json_string_value(json_array_get(arns, json_array_size(arns) - 1));
		char *tok = api_page_token(api_arn_tail(last));

		json_object_set_new(res, "nextToken", json_string(tok));
		free(tok);
	}
	return res;
}

/* ------------------------------------------------------------- DeleteCluster */

json_t *api_delete_cluster(struct berthd *d, json_t *in, struct api_error *e)
{
	cleanup_json json_t *doc = NULL;
	cleanup_json json_t *tasks = NULL;
	cleanup_json json_t *inst = NULL;
	char name[CLUSTER_NAME_MAX];
	struct berr *err = NULL;
	const char *s = NULL;
	json_t *x, *c;
	size_t i;
	bool more;

	if (api_get_string(in, "cluster", true, &s, e) < 0 ||
	    api_cluster_name(d, in, name, sizeof(name), e) < 0)
		return NULL;
	if (store_begin(d->st, &err) < 0)
		return api_fail_berr(e, &err, "delete cluster %s", name);
	if (api_cluster_active(d, name, &doc, e) < 0)
		goto out_rollback;
	{
		struct store_task_filter f = { .cluster = name };

		if (store_task_list(d->st, &f, NULL, &tasks, &more, &err) < 0)
			goto fail;
	}
	{
		int64_t nsvc = 0;

		if (store_service_count(d->st, name, &nsvc, &err) < 0)
			goto fail;
		if (nsvc > 0) {
			api_fail(e, "ClusterContainsServicesException", "The Cluster cannot be deleted "
				 "while Services are active.");
			goto out_rollback;
		}
	}
	json_array_foreach(tasks, i, x) {
		const char *last = json_string_value(json_object_get(x, "lastStatus"));

		if (!last || strcmp(last, "STOPPED") != 0) {
			api_fail(e, "ClusterContainsTasksException", "The Cluster cannot be deleted "
				 "while Tasks are active.");
			goto out_rollback;
		}
	}
	if (store_instance_list(d->st, name, NULL, NULL, &inst, &more, &err) < 0)
		goto fail;
	json_array_foreach(inst, i, x) {
		if (strcmp(json_string_value(json_object_get(x, "status")) ?: "", "INACTIVE") != 0) {
			api_fail(e, "ClusterContainsContainerInstancesException", "The Cluster cannot "
				 "be deleted while Container Instances are active or draining.");
			goto out_rollback;
		}
	}
	json_object_set_new(doc, "status", json_string("INACTIVE"));
	if (store_cluster_put(d->st, doc, &err) < 0 ||
	    store_tags_drop(d->st, json_string_value(json_object_get(doc, "clusterArn")), &err) < 0 ||
	    store_commit(d->st, &err) < 0)
		goto fail;
	c = cluster_view(d, doc, INC_CREATE, e);
	return c ? json_pack("{s:o}", "cluster", c) : NULL;
fail:
	store_rollback(d->st);
	return api_fail_berr(e, &err, "delete cluster %s", name);
out_rollback:
	store_rollback(d->st);
	return NULL;
}
