/* runtime/daemon/api_berth.c - berth's own operations (X-Amz-Target:
 * BerthV1.<Op>), for what ECS has no operation for: the task state change
 * events (ListEvents) and live resource use (GetTaskStats). Same protocol,
 * errors and authentication as the ECS operations; docs/berthd.md has the
 * shapes. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/cleanup.h"
#include "common/error.h"
#include "common/json.h"
#include "common/xalloc.h"
#include "runtime/daemon/api.h"
#include "runtime/daemon/daemon.h"
#include "runtime/daemon/stats.h"
#include "runtime/daemon/store.h"

#define EVENTS_DEFAULT 100
#define EVENTS_MAX 1000
#define STATS_TASKS_MAX 100

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)(ts.tv_nsec / 1000) / 1e6;
}

/* A task id or task ARN (task/<cluster>/<id>) -> the id in buf[33]; -1
 * with *e = InvalidParameterException naming `field` otherwise. */
static int task_id_of(const char *ref, const char *field, char buf[33], struct api_error *e)
{
	const char *id = api_arn_tail(ref);
	size_t n = strlen(id);

	if (n != 32 || strspn(id, "0123456789abcdef") != 32 ||
	    (!strncmp(ref, "arn:", 4) && !strstr(ref, ":task/"))) {
		api_fail(e, "InvalidParameterException", "%s: \"%s\" is not a task id (32 hex "
			 "digits) or task ARN", field, berr_q(ref));
		return -1;
	}
	memcpy(buf, id, 33);
	return 0;
}

/* An optional epoch-seconds number: 1 present, 0 absent, -1 error. */
static int get_time(json_t *in, const char *key, double *out, struct api_error *e)
{
	json_t *v = json_object_get(in, key);

	*out = 0;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_number(v) || json_number_value(v) < 0) {
		api_fail(e, "InvalidParameterException", "%s: expected epoch seconds (a number >= "
			 "0), got %s", key, json_is_number(v) ? "a negative number"
			 : bjson_type_name(v));
		return -1;
	}
	*out = json_number_value(v);
	return 1;
}

/* ListEvents {afterSeq?, cluster?, task?, since?, until?, maxResults?}
 *   -> {events: [...], lastSeq, firstSeq, more} */
json_t *api_berth_list_events(struct berthd *d, json_t *in, struct api_error *e)
{
	cleanup_berr struct berr *err = NULL;
	cleanup_json json_t *events = NULL;
	struct store_event_filter f = { 0 };
	int64_t limit = EVENTS_DEFAULT, last = 0, first = 0;
	const char *task = NULL;
	char cluster[256], id[33];
	bool more = false;
	int r;

	if (api_get_int(in, "afterSeq", false, 0, INT64_MAX, &f.after_seq, e) < 0 ||
	    api_get_int(in, "maxResults", false, 1, EVENTS_MAX, &limit, e) < 0 ||
	    (r = api_get_string(in, "task", false, &task, e)) < 0 ||
	    get_time(in, "since", &f.since, e) < 0 || get_time(in, "until", &f.until, e) < 0)
		return NULL;
	if (r > 0) {
		if (task_id_of(task, "task", id, e) < 0)
			return NULL;
		f.task_id = id;
	}
	/* no cluster: every cluster (a deleted cluster's events stay readable) */
	if (json_object_get(in, "cluster") && !json_is_null(json_object_get(in, "cluster"))) {
		if (api_cluster_name(d, in, cluster, sizeof(cluster), e) < 0)
			return NULL;
		f.cluster = cluster;
	}
	if (store_events_list(d->st, &f, limit, &events, &last, &first, &more, &err) < 0)
		return api_fail_berr(e, &err, "list events");
	return json_pack("{s:O, s:I, s:I, s:b}", "events", events, "lastSeq", (json_int_t)last,
			 "firstSeq", (json_int_t)first, "more", more);
}

/* Every RUNNING task of one cluster (or of all when cluster is NULL). */
static int running_tasks(struct berthd *d, const char *cluster, json_t *into, struct berr **err)
{
	cleanup_json json_t *names = json_array();
	json_t *v;
	size_t i;

	if (cluster) {
		json_array_append_new(names, json_string(cluster));
	} else {
		cleanup_free char *after = NULL;
		bool more = true;

		while (more) {
			cleanup_json json_t *arns = NULL;

			if (store_cluster_list(d->st, &(struct store_page){ .after = after, .limit = 100 },
					       &arns, &more, err) < 0)
				return -1;
			json_array_foreach(arns, i, v)
				json_array_append_new(names, json_string(api_arn_tail(json_string_value(v))));
			free(after);
			after = json_array_size(arns) ? xstrdup(json_string_value(json_array_get(names,
				json_array_size(names) - 1))) : NULL;
			if (!after)
				break;
		}
	}
	json_array_foreach(names, i, v) {
		cleanup_free char *after = NULL;
		bool more = true;

		while (more) {
			cleanup_json json_t *docs = NULL;
			struct store_task_filter tf = { .cluster = json_string_value(v),
							.last_status = "RUNNING" };
			size_t n;

			if (store_task_list(d->st, &tf, &(struct store_page){ .after = after, .limit = 200 },
					    &docs, &more, err) < 0)
				return -1;
			json_array_extend(into, docs);
			n = json_array_size(docs);
			free(after);
			after = n ? xstrdup(api_arn_tail(json_string_value(json_object_get(
					json_array_get(docs, n - 1), "taskArn")))) : NULL;
			if (!after)
				break;
		}
	}
	return 0;
}

static const char *cluster_of(const json_t *task)
{
	return api_arn_tail(json_string_value(json_object_get(task, "clusterArn")) ?: "");
}

/* GetTaskStats {tasks?: [id or ARN], cluster?}
 *   -> {tasks: [stats_task entries], failures: [{arn, reason: "MISSING"}]}
 * Without tasks: every RUNNING task (of the cluster, when given). */
json_t *api_berth_get_task_stats(struct berthd *d, json_t *in, struct api_error *e)
{
	cleanup_berr struct berr *err = NULL;
	cleanup_json json_t *docs = json_array(), *out = json_array(), *failures = json_array();
	json_t *refs = NULL, *v;
	char cluster[256];
	bool have_cluster = false;
	double now;
	size_t i;

	if (api_get_array(in, "tasks", false, &refs, e) < 0)
		return NULL;
	if (json_object_get(in, "cluster") && !json_is_null(json_object_get(in, "cluster"))) {
		if (api_cluster_name(d, in, cluster, sizeof(cluster), e) < 0 ||
		    api_cluster_active(d, cluster, NULL, e) < 0)
			return NULL;
		have_cluster = true;
	}
	if (refs && json_array_size(refs) > STATS_TASKS_MAX)
		return api_fail(e, "InvalidParameterException", "tasks: %zu tasks, at most %d at a "
				"time", json_array_size(refs), STATS_TASKS_MAX);
	if (!refs || !json_array_size(refs)) {
		if (running_tasks(d, have_cluster ? cluster : NULL, docs, &err) < 0)
			return api_fail_berr(e, &err, "list running tasks");
	}
	json_array_foreach(refs, i, v) {
		cleanup_free char *field = xasprintf("tasks[%zu]", i);
		json_t *doc = NULL;
		char id[33];
		int r;

		if (!json_is_string(v))
			return api_fail(e, "InvalidParameterException", "%s: expected string, got %s",
					field, bjson_type_name(v));
		if (task_id_of(json_string_value(v), field, id, e) < 0)
			return NULL;
		r = store_task_get(d->st, id, &doc, &err);
		if (r < 0)
			return api_fail_berr(e, &err, "get task %s", id);
		if (r == 0 || (have_cluster && strcmp(cluster_of(doc), cluster))) {
			json_decref(doc);
			json_array_append_new(failures, json_pack("{s:s, s:s}", "arn",
								  json_string_value(v), "reason", "MISSING"));
			continue;
		}
		json_array_append_new(docs, doc);
	}
	now = now_us();
	json_array_foreach(docs, i, v)
		json_array_append_new(out, stats_task(d, v, now));
	return json_pack("{s:O, s:O}", "tasks", out, "failures", failures);
}
