/* runtime/daemon/schedules.c - scheduled tasks (issue 12): rules with an
 * EventBridge schedule expression (rate, cron, at; scheduler/schedexpr.c)
 * that run a task definition through RunTask's own path, every run
 * recorded. berth's own operations (API_BERTH_PREFIX):
 *   CreateSchedule, DescribeSchedule, ListSchedules, DeleteSchedule.
 * schedules_step() runs from the services timer (services.c).
 * docs/berthd.md, "Scheduled tasks". */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/json.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "runtime/daemon/api.h"
#include "runtime/daemon/daemon.h"
#include "runtime/daemon/store.h"
#include "scheduler/schedexpr.h"

/* skip-missed: a fire time up to this late (seconds) still runs */
#define SCHEDULE_MAX_LATE 60
/* runs DescribeSchedule shows by default (all are kept while the schedule is) */
#define SCHEDULE_RUNS_SHOWN 20

static const char *sget(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static bool schedule_name_ok(const char *s)
{
	size_t n = strlen(s);

	return n >= 1 && n <= 64 &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") == n;
}

static struct sched_expr_clock clock_of(const struct berthd *d, const json_t *doc)
{
	return (struct sched_expr_clock){
		.anchor = json_integer_value(json_object_get(doc, "anchor")),
		.seconds_per_minute = (int32_t)d->cfg.schedule_seconds_per_minute,
	};
}

static void set_next(const struct berthd *d, json_t *doc, const struct sched_expr *e, int64_t after)
{
	struct sched_expr_clock clk = clock_of(d, doc);
	int64_t next = sched_expr_next(e, after, &clk);

	if (next == SCHED_EXPR_NEVER)
		json_object_del(doc, "nextFire");
	else
		json_object_set_new(doc, "nextFire", json_integer(next));
}

/* The RunTask request of a schedule's target. */
static json_t *run_request(const json_t *doc)
{
	const json_t *t = json_object_get(doc, "target");
	cleanup_free char *by = xasprintf("schedule:%s", sget(doc, "name"));
	json_t *in = json_deep_copy(t);

	json_object_set_new(in, "startedBy", json_string(by));
	return in;
}

static void run_once(struct berthd *d, json_t *doc, int64_t fire_time, int64_t missed)
{
	cleanup_berr struct berr *err = NULL;
	cleanup_json json_t *in = run_request(doc), *res = NULL, *run = NULL;
	struct api_error e = { 0 };
	double now = api_now();
	json_t *arns = json_array(), *v;
	size_t i;

	res = api_run_task(d, in, &e);
	run = json_pack("{s:I, s:f, s:o}", "fireTime", (json_int_t)fire_time, "startedAt", now,
			"taskArns", arns);
	if (missed)
		json_object_set_new(run, "missedBefore", json_integer(missed));
	if (!res) {
		json_object_set_new(run, "error", json_sprintf("%s: %s", e.type, e.message ?: ""));
		log_warn("schedule %s: run for %" PRId64 ": %s: %s", sget(doc, "name"), fire_time, e.type,
			 e.message ?: "");
	} else {
		json_array_foreach(json_object_get(res, "tasks"), i, v)
			json_array_append(arns, json_object_get(v, "taskArn"));
		if (json_array_size(json_object_get(res, "failures")))
			json_object_set(run, "failures", json_object_get(res, "failures"));
		log_info("schedule %s: run for %" PRId64 ": %zu task%s started", sget(doc, "name"), fire_time,
			 json_array_size(arns), json_array_size(arns) == 1 ? "" : "s");
	}
	api_error_clear(&e);
	if (store_schedule_run_add(d->st, sget(doc, "name"), now, run, &err) < 0)
		log_error("schedule %s: record run: %s", sget(doc, "name"), berr_msg(err));
	json_object_set_new(doc, "runs", json_integer(json_integer_value(json_object_get(doc, "runs")) + 1));
}

void schedules_step(struct berthd *d)
{
	cleanup_berr struct berr *err = NULL;
	cleanup_json json_t *docs = NULL;
	int64_t now = (int64_t)api_now();
	json_t *doc;
	size_t i;

	if (store_schedule_list(d->st, &docs, &err) < 0) {
		log_error("schedules: %s", berr_msg(err));
		return;
	}
	json_array_foreach(docs, i, doc) {
		cleanup_berr struct berr *e2 = NULL;
		struct sched_expr *e = NULL;
		struct sched_expr_clock clk = clock_of(d, doc);
		struct sched_expr_due due;
		enum sched_expr_missed policy = SCHED_EXPR_SKIP_MISSED;
		json_t *nf = json_object_get(doc, "nextFire");

		if (strcmp(sget(doc, "state") ?: "", "ENABLED") || !nf || json_integer_value(nf) > now)
			continue;
		if (sched_expr_parse(sget(doc, "scheduleExpression") ?: "", &e, &e2) < 0) {
			log_error("schedule %s: %s", sget(doc, "name"), berr_msg(e2));
			continue;
		}
		sched_expr_missed_parse(sget(doc, "missedRuns") ?: "", &policy);
		sched_expr_due(e, &clk, json_integer_value(json_object_get(doc, "lastFire")), now, policy,
			       SCHEDULE_MAX_LATE, &due);
		if (due.run)
			run_once(d, doc, due.fire_time, due.missed);
		else if (due.missed)
			log_warn("schedule %s: %" PRId64 " run%s missed (missedRuns %s)", sget(doc, "name"),
				 due.missed, due.missed == 1 ? "" : "s", sched_expr_missed_str(policy));
		if (due.missed)
			json_object_set_new(doc, "missed", json_integer(json_integer_value(
				json_object_get(doc, "missed")) + due.missed));
		json_object_set_new(doc, "lastFire", json_integer(due.last_fire));
		set_next(d, doc, e, now);
		sched_expr_free(e);
		if (store_schedule_put(d->st, doc, &e2) < 0)
			log_error("schedule %s: %s", sget(doc, "name"), berr_msg(e2));
	}
}

/* ---------------------------------------------------------------- the API */

/* What a caller sees of a schedule: the stored doc without berth's own
 * bookkeeping, times as epoch seconds. */
static json_t *schedule_view(const json_t *doc)
{
	json_t *o = json_deep_copy(doc);

	json_object_del(o, "anchor");
	return o;
}

json_t *api_berth_create_schedule(struct berthd *d, json_t *in, struct api_error *e)
{
	cleanup_berr struct berr *err = NULL;
	cleanup_json json_t *old = NULL, *doc = NULL, *target = NULL;
	struct api_task_needs needs = { 0 };
	struct sched_expr *ex = NULL;
	const char *name = NULL, *expr = NULL, *td = NULL, *lt = "EC2", *missed = "skip-missed",
		   *group = NULL, *description = NULL;
	char cluster[256];
	json_t *v;
	int64_t count = 1, now = (int64_t)api_now();
	enum sched_expr_missed policy;
	int r;

	if (api_get_string(in, "name", true, &name, e) < 0 ||
	    api_get_string(in, "scheduleExpression", true, &expr, e) < 0 ||
	    api_get_string(in, "taskDefinition", true, &td, e) < 0 ||
	    api_get_string(in, "launchType", false, &lt, e) < 0 ||
	    api_get_string(in, "missedRuns", false, &missed, e) < 0 ||
	    api_get_string(in, "group", false, &group, e) < 0 ||
	    api_get_string(in, "description", false, &description, e) < 0 ||
	    api_get_int(in, "count", false, 1, 10, &count, e) < 0)
		return NULL;
	if (!schedule_name_ok(name))
		return api_fail(e, "InvalidParameterException", "name: 1-64 letters, digits, '.', '-' and '_'");
	if (!sched_expr_missed_parse(missed, &policy))
		return api_fail(e, "InvalidParameterException", "missedRuns: \"%s\": skip-missed or run-once",
				missed);
	if (api_cluster_name(d, in, cluster, sizeof(cluster), e) < 0 ||
	    api_cluster_active(d, cluster, NULL, e) < 0)
		return NULL;
	if (sched_expr_parse(expr, &ex, &err) < 0)
		return api_fail(e, "InvalidParameterException", "scheduleExpression: %s", berr_msg(err));
	if (api_task_needs(d, td, lt, &needs, e) < 0)
		goto fail;
	r = store_schedule_get(d->st, name, &old, &err);
	if (r < 0) {
		api_fail_berr(e, &err, "read schedule");
		goto fail;
	}
	if (r > 0) {
		api_fail(e, "ConflictException", "schedule %s exists: delete it first", name);
		goto fail;
	}
	target = json_pack("{s:s, s:s, s:s, s:I}", "cluster", cluster, "taskDefinition", needs.td_arn,
			   "launchType", lt, "count", (json_int_t)count);
	if (group)
		json_object_set_new(target, "group", json_string(group));
	if ((v = json_object_get(in, "overrides")) && !json_is_null(v))
		json_object_set(target, "overrides", v);
	if ((v = json_object_get(in, "networkConfiguration")) && !json_is_null(v))
		json_object_set(target, "networkConfiguration", v);
	doc = json_pack("{s:s, s:s, s:s, s:s, s:s, s:O, s:f, s:I, s:I, s:i, s:i}", "name", name, "arn", "",
			"scheduleExpression", sched_expr_text(ex), "state", "ENABLED", "missedRuns",
			sched_expr_missed_str(policy), "target", target, "createdAt", (double)now,
			"anchor", (json_int_t)now, "lastFire", (json_int_t)now, "runs", 0, "missed", 0);
	json_object_set_new(doc, "arn", json_sprintf("arn:aws:scheduler:%s:%s:schedule/default/%s",
						     d->cfg.region ? d->cfg.region : "us-east-1",
						     d->cfg.account_id ? d->cfg.account_id : "000000000000", name));
	if (description)
		json_object_set_new(doc, "description", json_string(description));
	set_next(d, doc, ex, now);
	if (store_schedule_put(d->st, doc, &err) < 0) {
		api_fail_berr(e, &err, "record schedule");
		goto fail;
	}
	log_info("schedule %s: created, %s, %s", name, sched_expr_text(ex), needs.td_arn);
	sched_expr_free(ex);
	api_task_needs_free(&needs);
	return json_pack("{s:o}", "schedule", schedule_view(doc));
fail:
	sched_expr_free(ex);
	api_task_needs_free(&needs);
	return NULL;
}

json_t *api_berth_describe_schedule(struct berthd *d, json_t *in, struct api_error *e)
{
	cleanup_berr struct berr *err = NULL;
	cleanup_json json_t *doc = NULL, *runs = NULL;
	const char *name = NULL;
	int64_t limit = SCHEDULE_RUNS_SHOWN;
	json_t *run, *arn;
	size_t i, j;
	int r;

	if (api_get_string(in, "name", true, &name, e) < 0 ||
	    api_get_int(in, "maxRuns", false, 1, 1000, &limit, e) < 0)
		return NULL;
	r = store_schedule_get(d->st, name, &doc, &err);
	if (r < 0)
		return api_fail_berr(e, &err, "read schedule");
	if (!r)
		return api_fail(e, "ResourceNotFoundException", "Schedule %s does not exist.", name);
	if (store_schedule_runs(d->st, name, limit, &runs, &err) < 0)
		return api_fail_berr(e, &err, "read schedule runs");
	/* each run's tasks as they are now: status and exit code */
	json_array_foreach(runs, i, run) {
		json_t *tasks = json_array();

		json_array_foreach(json_object_get(run, "taskArns"), j, arn) {
			cleanup_json json_t *t = NULL;
			cleanup_berr struct berr *e2 = NULL;
			const char *id = api_arn_tail(json_string_value(arn) ?: "");
			json_t *o = json_pack("{s:O}", "taskArn", arn), *a;
			size_t k;

			if (store_task_get(d->st, id, &t, &e2) > 0) {
				json_object_set(o, "lastStatus", json_object_get(t, "lastStatus"));
				if (json_object_get(t, "stoppedReason"))
					json_object_set(o, "stoppedReason", json_object_get(t, "stoppedReason"));
				json_array_foreach(json_object_get(t, "attributes"), k, a)
					if (!strcmp(sget(a, "name") ?: "", "berth.exitCode"))
						json_object_set_new(o, "exitCode",
								    json_integer(atoll(sget(a, "value") ?: "0")));
			}
			json_array_append_new(tasks, o);
		}
		json_object_set_new(run, "tasks", tasks);
		json_object_del(run, "taskArns");
	}
	return json_pack("{s:o, s:O}", "schedule", schedule_view(doc), "runs", runs);
}

json_t *api_berth_list_schedules(struct berthd *d, json_t *in, struct api_error *e)
{
	cleanup_berr struct berr *err = NULL;
	cleanup_json json_t *docs = NULL;
	json_t *out = json_array(), *v;
	size_t i;

	(void)in;
	if (store_schedule_list(d->st, &docs, &err) < 0) {
		json_decref(out);
		return api_fail_berr(e, &err, "list schedules");
	}
	json_array_foreach(docs, i, v)
		json_array_append_new(out, schedule_view(v));
	return json_pack("{s:o}", "schedules", out);
}

json_t *api_berth_delete_schedule(struct berthd *d, json_t *in, struct api_error *e)
{
	cleanup_berr struct berr *err = NULL;
	const char *name = NULL;
	int r;

	if (api_get_string(in, "name", true, &name, e) < 0)
		return NULL;
	r = store_schedule_delete(d->st, name, &err);
	if (r < 0)
		return api_fail_berr(e, &err, "delete schedule");
	if (!r)
		return api_fail(e, "ResourceNotFoundException", "Schedule %s does not exist.", name);
	log_info("schedule %s: deleted", name);
	return json_object();
}
