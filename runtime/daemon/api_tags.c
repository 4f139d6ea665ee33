/* runtime/daemon/api_tags.c - TagResource, UntagResource,
 * ListTagsForResource.
 *
 * Tags are kept per resource ARN in the store's tags table, for the kinds
 * of resource berth has: clusters, task definitions, tasks and container
 * instances. The resource must exist: a cluster that does not (or is
 * INACTIVE), also as the cluster of a task or instance ARN, is
 * ClusterNotFoundException; a missing task definition, task or instance is
 * ResourceNotFoundException for Tag/UntagResource and, as
 * ListTagsForResource's model has no such error, InvalidParameterException
 * there. ECS resource kinds berth does not have yet (services, task sets,
 * capacity providers, ...) are UnsupportedFeatureException. */
#include <errno.h>
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

#define TAGS_MAX 50

static bool name_ok(const char *s, size_t n)
{
	if (n < 1 || n > 255)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_'))
			return false;
	}
	return true;
}

/* The resource `arn` names, checked to exist: 0 with *canon = the ARN the
 * tags are kept under (the resource's own spelling), -1 with *e. */
static int resolve(struct berthd *d, const char *arn, const char *missing_type, char **canon,
		   struct api_error *e)
{
	cleanup_free char *prefix = xasprintf("arn:aws:ecs:%s:%s:", d->cfg.region,
					      d->cfg.account_id);
	cleanup_json json_t *doc = NULL;
	struct berr *err = NULL;
	const char *res, *slash, *key = NULL;
	char cluster[256];
	int r = 0;

	*canon = NULL;
	if (strncmp(arn, prefix, strlen(prefix)) != 0) {
		api_fail(e, "InvalidParameterException", "resourceArn: \"%s\" is not an ECS ARN of "
			 "this region and account (%s...)", berr_q(arn), prefix);
		return -1;
	}
	res = arn + strlen(prefix);
	if (strncmp(res, "cluster/", 8) == 0) {
		if (!name_ok(res + 8, strlen(res + 8)))
			goto bad;
		if (api_cluster_active(d, res + 8, &doc, e) < 0)
			return -1;
		r = 1;
		key = "clusterArn";
	} else if (strncmp(res, "task-definition/", 16) == 0) {
		const char *colon = strrchr(res + 16, ':');
		cleanup_free char *family = NULL;
		char *end = NULL;
		long long rev;

		if (!colon || !name_ok(res + 16, (size_t)(colon - res - 16)))
			goto bad;
		errno = 0;
		rev = strtoll(colon + 1, &end, 10);
		if (errno || end == colon + 1 || *end || rev < 1 || colon[1] == '+')
			goto bad;
		family = xstrndup(res + 16, (size_t)(colon - res - 16));
		r = store_taskdef_get(d->st, family, rev, &doc, &err);
		key = "taskDefinitionArn";
	} else if (strncmp(res, "task/", 5) == 0 || strncmp(res, "container-instance/", 19) == 0) {
		bool task = res[0] == 't';
		const char *rest = res + (task ? 5 : 19);
		const char *doc_cluster;

		slash = strchr(rest, '/');
		if (!slash || !name_ok(rest, (size_t)(slash - rest)) || !slash[1] ||
		    strchr(slash + 1, '/') || (size_t)(slash - rest) >= sizeof(cluster))
			goto bad;
		memcpy(cluster, rest, (size_t)(slash - rest));
		cluster[slash - rest] = 0;
		if (api_cluster_active(d, cluster, NULL, e) < 0)
			return -1;
		r = task ? store_task_get(d->st, slash + 1, &doc, &err)
			 : store_instance_get(d->st, slash + 1, &doc, &err);
		key = task ? "taskArn" : "containerInstanceArn";
		/* the id must be in the cluster the ARN names */
		doc_cluster = json_string_value(json_object_get(doc, task ? "clusterArn" : key));
		if (r > 0 && task && strcmp(api_arn_tail(doc_cluster ?: ""), cluster) != 0)
			r = 0;
		if (r > 0 && !task && strcmp(doc_cluster ?: "", arn) != 0)
			r = 0;
	} else {
		slash = strchr(res, '/');
		if (slash && slash != res) {
			api_fail(e, "UnsupportedFeatureException", "resourceArn: berth has no %.*s "
				 "resources yet", (int)(slash - res), res);
			return -1;
		}
		goto bad;
	}
	if (r < 0) {
		api_fail_berr(e, &err, "look up %s", arn);
		return -1;
	}
	if (r == 0) {
		api_fail(e, missing_type, "The specified resource could not be found: %s", berr_q(arn));
		return -1;
	}
	*canon = xstrdup(json_string_value(json_object_get(doc, key)) ?: arn);
	return 0;
bad:
	api_fail(e, "InvalidParameterException", "resourceArn: \"%s\" is not the ARN of a "
		 "cluster, task definition, task or container instance", berr_q(arn));
	return -1;
}

json_t *api_tag_resource(struct berthd *d, json_t *in, struct api_error *e)
{
	cleanup_free char *canon = NULL;
	cleanup_json json_t *have = NULL;
	struct berr *err = NULL;
	const char *arn = NULL;
	json_t *tags = NULL, *t, *h;
	size_t i, j, n;

	if (api_get_string(in, "resourceArn", true, &arn, e) < 0 ||
	    api_get_array(in, "tags", true, &tags, e) < 0 || api_check_tags(tags, e) < 0 ||
	    resolve(d, arn, "ResourceNotFoundException", &canon, e) < 0)
		return NULL;
	if (store_begin(d->st, &err) < 0)
		return api_fail_berr(e, &err, "tag %s", canon);
	if (store_tags_get(d->st, canon, &have, &err) < 0)
		goto fail;
	/* the limit counts distinct keys after the change */
	n = json_array_size(have);
	json_array_foreach(tags, i, t) {
		const char *k = json_string_value(json_object_get(t, "key"));
		bool known = false;

		json_array_foreach(have, j, h)
			if (strcmp(json_string_value(json_object_get(h, "key")), k) == 0)
				known = true;
		for (j = 0; j < i && !known; j++)
			if (strcmp(json_string_value(json_object_get(json_array_get(tags, j), "key")),
				   k) == 0)
				known = true;
		if (!known)
			n++;
	}
	if (n > TAGS_MAX) {
		store_rollback(d->st);
		return api_fail(e, "InvalidParameterException", "tags: the resource would have %zu "
				"tags, at most %d are allowed", n, TAGS_MAX);
	}
	if (store_tags_set(d->st, canon, tags, &err) < 0 || store_commit(d->st, &err) < 0)
		goto fail;
	return json_object();
fail:
	store_rollback(d->st);
	return api_fail_berr(e, &err, "tag %s", canon);
}

json_t *api_untag_resource(struct berthd *d, json_t *in, struct api_error *e)
{
	cleanup_free char *canon = NULL;
	struct berr *err = NULL;
	const char *arn = NULL;
	json_t *keys = NULL, *k;
	size_t i;

	if (api_get_string(in, "resourceArn", true, &arn, e) < 0 ||
	    api_get_array(in, "tagKeys", true, &keys, e) < 0)
		return NULL;
	json_array_foreach(keys, i, k) {
		size_t n = json_is_string(k) ? strlen(json_string_value(k)) : 0;

		if (!json_is_string(k) || n < 1 || n > 512)
			return api_fail(e, "InvalidParameterException", "tagKeys[%zu]: expected a tag "
					"key (1-128 characters)", i);
	}
	if (resolve(d, arn, "ResourceNotFoundException", &canon, e) < 0)
		return NULL;
	if (store_tags_remove(d->st, canon, keys, &err) < 0)
		return api_fail_berr(e, &err, "untag %s", canon);
	return json_object();
}

json_t *api_list_tags_for_resource(struct berthd *d, json_t *in, struct api_error *e)
{
	cleanup_free char *canon = NULL;
	struct berr *err = NULL;
	const char *arn = NULL;
	json_t *tags = NULL;

	if (api_get_string(in, "resourceArn", true, &arn, e) < 0 ||
	    resolve(d, arn, "InvalidParameterException", &canon, e) < 0)
		return NULL;
	if (store_tags_get(d->st, canon, &tags, &err) < 0)
		return api_fail_berr(e, &err, "list the tags of %s", canon);
	return json_pack("{s:o}", "tags", tags);
}
