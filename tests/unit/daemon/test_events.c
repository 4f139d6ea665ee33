/* tests/unit/daemon/test_events.c - berthd's task state change events:
 * what store_task_put records (a status sequence gives exactly the
 * expected events, in order, and nothing when nothing changed), the bound
 * on the table, store_events_list's filters and paging (polling with
 * lastSeq neither repeats nor misses an event), and BerthV1.ListEvents
 * through api_call: its parameters, errors and paging; api_target_op and
 * api_find for berth's own operations.
 *
 * Each test has its own store in a mkdtemp directory under /tmp. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/cleanup.h"
#include "common/error.h"
#include "common/fsutil.h"
#include "common/json.h"
#include "common/xalloc.h"
#include "runtime/daemon/api.h"
#include "runtime/daemon/daemon.h"
#include "runtime/daemon/store.h"

#define ACCOUNT "000000000000"
#define ARN "arn:aws:ecs:us-east-1:" ACCOUNT ":"

struct fx {
	char *dir;
	struct berthd d;
	struct api_error e;
};

#define OK(call)                                                                     \
	do {                                                                         \
		struct berr *err_ = NULL;                                            \
		struct berr **err = &err_;                                           \
		if ((call) < 0)                                                      \
			fail_msg("%s: %s", #call, berr_msg(err_));                    \
		(void)err;                                                           \
	} while (0)

static int setup(void **state)
{
	struct fx *f = xzalloc(sizeof(*f));
	char tmpl[] = "/tmp/berth-test-events-XXXXXX";
	cleanup_free char *db = NULL;
	struct berr *err = NULL;

	if (!mkdtemp(tmpl))
		return -1;
	f->dir = xstrdup(tmpl);
	db = xasprintf("%s/berth.db", tmpl);
	if (store_open(db, &f->d.st, &err) < 0) {
		fprintf(stderr, "store_open: %s\n", berr_msg(err));
		return -1;
	}
	f->d.cfg.region = xstrdup("us-east-1");
	f->d.cfg.account_id = xstrdup(ACCOUNT);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	struct berr *err = NULL;
	int rc;

	store_close(f->d.st);
	api_error_clear(&f->e);
	rc = fs_rm_rf_at(AT_FDCWD, f->dir, &err);
	if (rc < 0)
		fprintf(stderr, "cleanup: %s\n", berr_msg(err));
	berr_free(err);
	free(f->d.cfg.region);
	free(f->d.cfg.account_id);
	free(f->dir);
	free(f);
	return rc < 0 ? -1 : 0;
}

static void put_cluster(struct store *s, const char *name)
{
	cleanup_free char *arn = xasprintf(ARN "cluster/%s", name);
	cleanup_json json_t *d = json_pack("{s:s, s:s, s:s}", "clusterArn", arn, "clusterName", name,
					   "status", "ACTIVE");

	OK(store_cluster_put(s, d, err));
}

static char *task_id(int n)
{
	return xasprintf("%032x", n);
}

/* A new task as RunTask records it: PROVISIONING, desired RUNNING,
 * containers PENDING; "web" has a health check (UNKNOWN), "side" not. */
static json_t *new_task(const char *cluster, int n)
{
	cleanup_free char *id = task_id(n);
	cleanup_free char *arn = xasprintf(ARN "task/%s/%s", cluster, id);
	cleanup_free char *carn = xasprintf(ARN "cluster/%s", cluster);

	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:[{s:s, s:s, s:s}, {s:s, s:s}]}",
			 "taskArn", arn, "clusterArn", carn,
			 "taskDefinitionArn", ARN "task-definition/web:1",
			 "lastStatus", "PROVISIONING", "desiredStatus", "RUNNING", "version", (json_int_t)1,
			 "containers", "name", "web", "lastStatus", "PENDING", "healthStatus", "UNKNOWN",
			 "name", "side", "lastStatus", "PENDING");
}

static json_t *ctr(json_t *task, const char *name)
{
	json_t *c;
	size_t i;

	json_array_foreach(json_object_get(task, "containers"), i, c)
		if (!strcmp(json_string_value(json_object_get(c, "name")), name))
			return c;
	fail_msg("no container %s", name);
	return NULL;
}

static void set(json_t *o, const char *key, const char *value)
{
	json_object_set_new(o, key, json_string(value));
}

static void put(struct fx *f, json_t *task)
{
	/* what shimmgr does with every snapshot: the version grows */
	json_object_set_new(task, "version",
			    json_integer(json_integer_value(json_object_get(task, "version")) + 1));
	OK(store_task_put(f->d.st, task, NULL, err));
}

/* Every event after `after` (all pages), with the filter. */
static json_t *events(struct fx *f, struct store_event_filter flt, int64_t *last)
{
	json_t *all = json_array();
	bool more = true;

	while (more) {
		cleanup_json json_t *page = NULL;
		int64_t first = 0;

		OK(store_events_list(f->d.st, &flt, 3, &page, last, &first, &more, err));
		json_array_extend(all, page);
		flt.after_seq = *last;
	}
	return all;
}

static const char *estr(const json_t *evs, size_t i, const char *key)
{
	return json_string_value(json_object_get(json_array_get(evs, i), key));
}

static int64_t eint(const json_t *evs, size_t i, const char *key)
{
	json_t *v = json_object_get(json_array_get(evs, i), key);

	if (!json_is_integer(v))
		fail_msg("event %zu: %s is not an integer", i, key);
	return json_integer_value(v);
}

/* The summaries of evs joined with "|". */
static char *summaries(const json_t *evs)
{
	char *out = xstrdup("");
	json_t *e;
	size_t i;

	json_array_foreach(evs, i, e) {
		char *n = xasprintf("%s%s%s", out, i ? "|" : "",
				    json_string_value(json_object_get(e, "summary")));

		free(out);
		out = n;
	}
	return out;
}

/* Events after *after; *after moves on. */
static json_t *since_last(struct fx *f, int64_t *after)
{
	int64_t last = 0;
	json_t *evs = events(f, (struct store_event_filter){ .after_seq = *after }, &last);

	*after = last;
	return evs;
}

#define EXPECT(f, after, want)                                                        \
	do {                                                                          \
		cleanup_json json_t *evs_ = since_last((f), (after));                 \
		cleanup_free char *got_ = summaries(evs_);                            \
		if (strcmp(got_, (want)))                                             \
			fail_msg("events: got \"%s\", want \"%s\"", got_, (want));     \
	} while (0)

/* ------------------------------------------------------- recording */

static void test_status_sequence(void **state)
{
	struct fx *f = *state;
	cleanup_json json_t *t = new_task("default", 1), *all = NULL;
	cleanup_free char *id = task_id(1);
	int64_t after = 0, last = 0;

	put_cluster(f->d.st, "default");
	put(f, t);
	EXPECT(f, &after, "task PROVISIONING");
	put(f, t);                                  /* the same state again */
	EXPECT(f, &after, "");
	set(t, "lastStatus", "PENDING");
	put(f, t);
	EXPECT(f, &after, "task PENDING");
	/* containers and the task in one snapshot: containers first */
	set(ctr(t, "web"), "lastStatus", "RUNNING");
	set(ctr(t, "side"), "lastStatus", "RUNNING");
	set(t, "lastStatus", "RUNNING");
	json_object_set_new(t, "startedAt", json_real(1234.5));
	put(f, t);
	EXPECT(f, &after, "container web RUNNING|container side RUNNING|task RUNNING");
	set(ctr(t, "web"), "healthStatus", "HEALTHY");
	set(t, "healthStatus", "HEALTHY");   /* the task's own health is not an event */
	put(f, t);
	EXPECT(f, &after, "container web HEALTHY");
	json_object_set_new(t, "connectivityAt", json_real(1235.0));   /* not a status */
	put(f, t);
	EXPECT(f, &after, "");
	set(ctr(t, "web"), "healthStatus", "UNHEALTHY");
	put(f, t);
	EXPECT(f, &after, "container web UNHEALTHY");
	set(t, "desiredStatus", "STOPPED");
	set(t, "stoppedReason", "Task stopped by user");
	set(t, "stopCode", "UserInitiated");
	put(f, t);
	EXPECT(f, &after, "task desired STOPPED (Task stopped by user)");
	set(ctr(t, "side"), "lastStatus", "STOPPED");
	json_object_set_new(ctr(t, "side"), "exitCode", json_integer(137));
	set(ctr(t, "side"), "reason", "OutOfMemoryError: container killed");
	set(t, "lastStatus", "DEPROVISIONING");
	put(f, t);
	EXPECT(f, &after, "container side STOPPED exit 137 (OutOfMemoryError: container "
	       "killed)|task DEPROVISIONING");
	set(ctr(t, "web"), "lastStatus", "STOPPED");
	json_object_set_new(ctr(t, "web"), "exitCode", json_integer(0));
	set(t, "lastStatus", "STOPPED");
	put(f, t);
	EXPECT(f, &after, "container web STOPPED exit 0|task STOPPED (UserInitiated: Task stopped "
	       "by user)");
	put(f, t);
	EXPECT(f, &after, "");

	/* the fields of every event */
	all = events(f, (struct store_event_filter){ 0 }, &last);
	assert_int_equal(json_array_size(all), 12);
	assert_int_equal(last, 12);
	for (size_t i = 0; i < 12; i++) {
		json_t *e = json_array_get(all, i), *detail = json_object_get(e, "detail");

		assert_int_equal(eint(all, i, "seq"), (int64_t)i + 1);
		assert_string_equal(estr(all, i, "cluster"), "default");
		assert_non_null(strstr(estr(all, i, "taskArn"), id));
		assert_string_equal(estr(all, i, "detail-type"), "ECS Task State Change");
		assert_true(json_is_object(detail));
		assert_true(json_is_real(json_object_get(e, "time")));
		assert_true(json_is_real(json_object_get(detail, "updatedAt")));
		assert_string_equal(json_string_value(json_object_get(detail, "taskArn")),
				    estr(all, i, "taskArn"));
	}
	/* kinds, containers, previous states, exit codes */
	assert_string_equal(estr(all, 0, "kind"), "task-status");
	assert_string_equal(estr(all, 0, "status"), "PROVISIONING");
	assert_null(json_object_get(json_array_get(all, 0), "previous"));
	assert_string_equal(estr(all, 1, "previous"), "PROVISIONING");
	assert_string_equal(estr(all, 2, "kind"), "container-status");
	assert_string_equal(estr(all, 2, "container"), "web");
	assert_string_equal(estr(all, 2, "previous"), "PENDING");
	assert_null(json_object_get(json_array_get(all, 4), "container"));
	assert_string_equal(estr(all, 5, "kind"), "container-health");
	assert_string_equal(estr(all, 5, "previous"), "UNKNOWN");
	assert_string_equal(estr(all, 6, "previous"), "HEALTHY");
	assert_string_equal(estr(all, 7, "kind"), "task-desired-status");
	assert_string_equal(estr(all, 7, "status"), "STOPPED");
	assert_string_equal(estr(all, 7, "previous"), "RUNNING");
	assert_int_equal(eint(all, 8, "exitCode"), 137);
	assert_int_equal(eint(all, 10, "exitCode"), 0);
	assert_null(json_object_get(json_array_get(all, 2), "exitCode"));
	/* detail is the task at that moment */
	assert_string_equal(json_string_value(json_object_get(json_object_get(json_array_get(all, 1),
		"detail"), "lastStatus")), "PENDING");
	assert_string_equal(json_string_value(json_object_get(json_object_get(json_array_get(all, 11),
		"detail"), "lastStatus")), "STOPPED");
	/* events of one put share their time, later puts are not earlier */
	assert_true(json_real_value(json_object_get(json_array_get(all, 2), "time")) ==
		    json_real_value(json_object_get(json_array_get(all, 4), "time")));
	for (size_t i = 1; i < 12; i++)
		assert_true(json_real_value(json_object_get(json_array_get(all, i), "time")) >=
			    json_real_value(json_object_get(json_array_get(all, i - 1), "time")));
}

/* A task that never started (RunTask records it, the shim fails): a put
 * straight to STOPPED; and one recorded STOPPED at once. */
static void test_failed_to_start(void **state)
{
	struct fx *f = *state;
	cleanup_json json_t *t = new_task("default", 2), *u = new_task("default", 3);
	int64_t after = 0;

	put_cluster(f->d.st, "default");
	put(f, t);
	set(t, "lastStatus", "STOPPED");
	set(t, "desiredStatus", "STOPPED");
	set(t, "stopCode", "TaskFailedToStart");
	set(t, "stoppedReason", "berth-shim: no such image");
	set(ctr(t, "web"), "lastStatus", "STOPPED");
	set(ctr(t, "side"), "lastStatus", "STOPPED");
	put(f, t);
	/* a container's reason is its own (none here), the task's is the task's */
	EXPECT(f, &after, "task PROVISIONING|task desired STOPPED (berth-shim: no such image)|"
	       "container web STOPPED|container side STOPPED|task STOPPED (TaskFailedToStart: "
	       "berth-shim: no such image)");
	set(u, "lastStatus", "STOPPED");
	set(u, "desiredStatus", "STOPPED");
	set(ctr(u, "web"), "lastStatus", "STOPPED");
	json_object_set_new(ctr(u, "web"), "exitCode", json_integer(3));
	put(f, u);
	EXPECT(f, &after, "task desired STOPPED|container web STOPPED exit 3|task STOPPED");
}

/* Puts that change nothing the events watch record nothing; a put in a
 * transaction that is rolled back leaves no event either. */
static void test_no_duplicates(void **state)
{
	struct fx *f = *state;
	cleanup_json json_t *t = new_task("default", 4);
	int64_t after = 0;

	put_cluster(f->d.st, "default");
	put(f, t);
	EXPECT(f, &after, "task PROVISIONING");
	for (int i = 0; i < 20; i++) {
		json_object_set_new(t, "cpu", json_sprintf("%d", 256 + i));
		json_object_set_new(ctr(t, "side"), "runtimeId", json_sprintf("r%d", i));
		put(f, t);
	}
	EXPECT(f, &after, "");
	/* healthStatus absent and UNKNOWN are the same */
	json_object_del(ctr(t, "web"), "healthStatus");
	put(f, t);
	set(ctr(t, "side"), "healthStatus", "UNKNOWN");
	put(f, t);
	EXPECT(f, &after, "");

	OK(store_begin(f->d.st, err));
	set(t, "lastStatus", "PENDING");
	put(f, t);
	store_rollback(f->d.st);
	EXPECT(f, &after, "");
	put(f, t);
	EXPECT(f, &after, "task PENDING");
}

/* Only the newest events_max sequence numbers stay; numbers are never
 * reused, also after every event was dropped. */
static void test_bounded(void **state)
{
	struct fx *f = *state;
	cleanup_json json_t *all = NULL;
	int64_t last = 0, first = 0;
	bool more = false;

	put_cluster(f->d.st, "default");
	store_set_events_max(f->d.st, 5);
	for (int i = 1; i <= 12; i++) {
		json_t *t = new_task("default", 100 + i);

		put(f, t);
		json_decref(t);
	}
	OK(store_events_list(f->d.st, &(struct store_event_filter){ 0 }, 100, &all, &last, &first,
			     &more, err));
	assert_int_equal(json_array_size(all), 5);
	assert_int_equal(first, 8);
	assert_int_equal(last, 12);
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(eint(all, i, "seq"), 8 + (int64_t)i);
	json_decref(all);
	all = NULL;
	/* a reader that stopped at 3: first (8) > 3 + 1 tells it 4..7 are gone */
	OK(store_events_list(f->d.st, &(struct store_event_filter){ .after_seq = 3 }, 100, &all,
			     &last, &first, &more, err));
	assert_int_equal(json_array_size(all), 5);
	assert_int_equal(first, 8);
	json_decref(all);
	all = NULL;

	/* reopening keeps the numbering going */
	{
		cleanup_free char *db = xasprintf("%s/berth.db", f->dir);
		json_t *t = new_task("default", 200);
		struct berr *err = NULL;

		store_close(f->d.st);
		f->d.st = NULL;
		if (store_open(db, &f->d.st, &err) < 0)
			fail_msg("reopen: %s", berr_msg(err));
		put(f, t);
		json_decref(t);
	}
	OK(store_events_list(f->d.st, &(struct store_event_filter){ .after_seq = 12 }, 100, &all,
			     &last, &first, &more, err));
	assert_int_equal(json_array_size(all), 1);
	assert_int_equal(eint(all, 0, "seq"), 13);
	/* a reopened store has the default bound again: nothing more dropped */
	assert_int_equal(first, 8);
}

/* The default bound, STORE_EVENTS_MAX, with more events than that. */
static void test_bounded_default(void **state)
{
	struct fx *f = *state;
	cleanup_json json_t *all = NULL;
	int64_t last = 0, first = 0;
	bool more = false;
	int n = STORE_EVENTS_MAX + 7;

	put_cluster(f->d.st, "default");
	OK(store_begin(f->d.st, err));
	for (int i = 0; i < n; i++) {
		json_t *t = new_task("default", 1000 + i);

		put(f, t);
		json_decref(t);
	}
	OK(store_commit(f->d.st, err));
	OK(store_events_list(f->d.st, &(struct store_event_filter){ 0 }, 1, &all, &last, &first,
			     &more, err));
	assert_int_equal(first, 8);
	assert_int_equal(eint(all, 0, "seq"), 8);
	assert_true(more);
	json_decref(all);
	all = NULL;
	OK(store_events_list(f->d.st, &(struct store_event_filter){ .after_seq = n - 2 }, 10, &all,
			     &last, &first, &more, err));
	assert_int_equal(json_array_size(all), 2);
	assert_int_equal(last, n);
	assert_false(more);
}

/* ------------------------------------------------------- listing */

static void test_filters_and_paging(void **state)
{
	struct fx *f = *state;
	cleanup_free char *id1 = task_id(1), *id2 = task_id(2);
	cleanup_json json_t *a = new_task("c1", 1), *b = new_task("c1", 2), *c = new_task("c2", 3);
	cleanup_json json_t *evs = NULL, *polled = json_array(), *all = NULL;
	struct timespec pause = { 0, 5 * 1000 * 1000 };
	int64_t last = 0, first = 0, after = 0;
	double t_mid = 0;
	bool more = false;

	put_cluster(f->d.st, "c1");
	put_cluster(f->d.st, "c2");
	put(f, a);   /* 1 */
	put(f, b);   /* 2 */
	put(f, c);   /* 3 */
	nanosleep(&pause, NULL);
	set(a, "lastStatus", "RUNNING");
	put(f, a);   /* 4 */
	evs = events(f, (struct store_event_filter){ .after_seq = 3 }, &last);
	t_mid = json_real_value(json_object_get(json_array_get(evs, 0), "time"));
	json_decref(evs);
	nanosleep(&pause, NULL);
	set(c, "lastStatus", "RUNNING");
	put(f, c);   /* 5 */
	set(b, "desiredStatus", "STOPPED");
	put(f, b);   /* 6 */

	evs = events(f, (struct store_event_filter){ .cluster = "c1" }, &last);
	assert_int_equal(json_array_size(evs), 4);
	assert_int_equal(eint(evs, 0, "seq"), 1);
	assert_int_equal(eint(evs, 3, "seq"), 6);
	assert_int_equal(last, 6);
	json_decref(evs);
	evs = events(f, (struct store_event_filter){ .task_id = id1 }, &last);
	assert_int_equal(json_array_size(evs), 2);
	assert_string_equal(estr(evs, 1, "summary"), "task RUNNING");
	json_decref(evs);
	evs = events(f, (struct store_event_filter){ .task_id = id2, .cluster = "c2" }, &last);
	assert_int_equal(json_array_size(evs), 0);
	assert_int_equal(last, 6);   /* past what was filtered out */
	json_decref(evs);
	evs = events(f, (struct store_event_filter){ .since = t_mid }, &last);
	assert_int_equal(json_array_size(evs), 3);
	assert_int_equal(eint(evs, 0, "seq"), 4);
	json_decref(evs);
	evs = events(f, (struct store_event_filter){ .until = t_mid }, &last);
	assert_int_equal(json_array_size(evs), 4);
	assert_int_equal(eint(evs, 3, "seq"), 4);
	json_decref(evs);
	evs = events(f, (struct store_event_filter){ .since = t_mid, .until = t_mid }, &last);
	assert_int_equal(json_array_size(evs), 1);
	json_decref(evs);
	evs = NULL;

	/* pages of 2: lastSeq is the last event of a full page */
	OK(store_events_list(f->d.st, &(struct store_event_filter){ .after_seq = 1 }, 2, &evs, &last,
			     &first, &more, err));
	assert_int_equal(json_array_size(evs), 2);
	assert_true(more);
	assert_int_equal(last, 3);
	assert_int_equal(first, 1);
	json_decref(evs);
	evs = NULL;
	OK(store_events_list(f->d.st, &(struct store_event_filter){ .after_seq = 5 }, 2, &evs, &last,
			     &first, &more, err));
	assert_int_equal(json_array_size(evs), 1);
	assert_false(more);
	assert_int_equal(last, 6);
	json_decref(evs);
	evs = NULL;
	OK(store_events_list(f->d.st, &(struct store_event_filter){ .after_seq = 6 }, 2, &evs, &last,
			     &first, &more, err));
	assert_int_equal(json_array_size(evs), 0);
	assert_int_equal(last, 6);
	json_decref(evs);
	evs = NULL;
	{
		struct berr *err = NULL;

		assert_true(store_events_list(f->d.st, &(struct store_event_filter){ 0 }, 0, &evs,
					      &last, &first, &more, &err) < 0);
		assert_non_null(strstr(berr_msg(err), "limit"));
		berr_free(err);
	}

	/* a poller that reads (pages of 3, c1 only) while events keep coming:
	 * each c1 event exactly once, in order */
	after = 0;
	for (int round = 0; round < 6; round++) {
		json_t *t = new_task(round % 2 ? "c1" : "c2", 50 + round);

		put(f, t);
		set(t, "lastStatus", "PENDING");
		put(f, t);
		json_decref(t);
		evs = events(f, (struct store_event_filter){ .after_seq = after, .cluster = "c1" },
			     &last);
		json_array_extend(polled, evs);
		json_decref(evs);
		evs = NULL;
		after = last;
	}
	all = events(f, (struct store_event_filter){ .cluster = "c1" }, &last);
	assert_int_equal(json_array_size(polled), json_array_size(all));
	for (size_t i = 0; i < json_array_size(all); i++)
		assert_int_equal(eint(polled, i, "seq"), eint(all, i, "seq"));
	assert_int_equal(json_array_size(all), 4 + 6);
}

/* ------------------------------------------------------- the API */

static json_t *call(struct fx *f, const char *op, const char *body)
{
	cleanup_free char *text = xstrdup(body);
	cleanup_json json_t *in = NULL;
	json_error_t jerr;

	for (char *p = text; *p; p++)
		if (*p == '\'')
			*p = '"';
	in = json_loads(text, JSON_DECODE_ANY, &jerr);
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

static void fails(struct fx *f, const char *op, const char *body, const char *type,
		  const char *msg)
{
	json_t *r = call(f, op, body);

	if (r) {
		json_decref(r);
		fail_msg("%s %s: succeeded, want %s", op, body, type);
	}
	if (strcmp(f->e.type, type) || !strstr(f->e.message ?: "", msg))
		fail_msg("%s %s: %s \"%s\", want %s \"...%s...\"", op, body, f->e.type,
			 f->e.message, type, msg);
}

static void test_api_list_events(void **state)
{
	struct fx *f = *state;
	cleanup_free char *id = task_id(7);
	cleanup_json json_t *t = new_task("default", 7), *u = new_task("other", 8);
	json_t *r;
	char body[256];

	put_cluster(f->d.st, "default");
	put_cluster(f->d.st, "other");
	put(f, t);
	put(f, u);
	set(t, "lastStatus", "RUNNING");
	put(f, t);

	r = ok(f, "BerthV1.ListEvents", "{}");
	assert_int_equal(json_array_size(json_object_get(r, "events")), 3);
	assert_int_equal(json_integer_value(json_object_get(r, "lastSeq")), 3);
	assert_int_equal(json_integer_value(json_object_get(r, "firstSeq")), 1);
	assert_true(json_is_false(json_object_get(r, "more")));
	assert_int_equal(json_integer_value(json_object_get(json_array_get(json_object_get(r,
		"events"), 0), "seq")), 1);
	json_decref(r);
	r = ok(f, "BerthV1.ListEvents", "{'maxResults': 2}");
	assert_int_equal(json_array_size(json_object_get(r, "events")), 2);
	assert_true(json_is_true(json_object_get(r, "more")));
	assert_int_equal(json_integer_value(json_object_get(r, "lastSeq")), 2);
	json_decref(r);
	r = ok(f, "BerthV1.ListEvents", "{'afterSeq': 2, 'maxResults': 2}");
	assert_int_equal(json_array_size(json_object_get(r, "events")), 1);
	assert_true(json_is_false(json_object_get(r, "more")));
	assert_int_equal(json_integer_value(json_object_get(r, "lastSeq")), 3);
	json_decref(r);
	/* cluster by name or ARN, task by id or ARN */
	r = ok(f, "BerthV1.ListEvents", "{'cluster': 'other'}");
	assert_int_equal(json_array_size(json_object_get(r, "events")), 1);
	json_decref(r);
	r = ok(f, "BerthV1.ListEvents", "{'cluster': '" ARN "cluster/default'}");
	assert_int_equal(json_array_size(json_object_get(r, "events")), 2);
	json_decref(r);
	snprintf(body, sizeof(body), "{'task': '%s'}", id);
	r = ok(f, "BerthV1.ListEvents", body);
	assert_int_equal(json_array_size(json_object_get(r, "events")), 2);
	json_decref(r);
	snprintf(body, sizeof(body), "{'task': '" ARN "task/default/%s', 'since': 1, 'until': 1e12}",
		 id);
	r = ok(f, "BerthV1.ListEvents", body);
	assert_int_equal(json_array_size(json_object_get(r, "events")), 2);
	json_decref(r);
	r = ok(f, "BerthV1.ListEvents", "{'since': 4e12}");
	assert_int_equal(json_array_size(json_object_get(r, "events")), 0);
	assert_int_equal(json_integer_value(json_object_get(r, "lastSeq")), 3);
	json_decref(r);
	/* a cluster that does not exist (any more) is no error: events outlive it */
	r = ok(f, "BerthV1.ListEvents", "{'cluster': 'gone'}");
	assert_int_equal(json_array_size(json_object_get(r, "events")), 0);
	json_decref(r);

	fails(f, "BerthV1.ListEvents", "{'afterSeq': -1}", "InvalidParameterException", "afterSeq");
	fails(f, "BerthV1.ListEvents", "{'afterSeq': 'x'}", "InvalidParameterException", "afterSeq");
	fails(f, "BerthV1.ListEvents", "{'maxResults': 0}", "InvalidParameterException", "maxResults");
	fails(f, "BerthV1.ListEvents", "{'maxResults': 1001}", "InvalidParameterException",
	      "maxResults");
	fails(f, "BerthV1.ListEvents", "{'task': 'abc'}", "InvalidParameterException",
	      "task: \"abc\" is not a task id");
	fails(f, "BerthV1.ListEvents", "{'task': '" ARN "cluster/x'}", "InvalidParameterException",
	      "task:");
	fails(f, "BerthV1.ListEvents", "{'since': 'yesterday'}", "InvalidParameterException",
	      "since: expected epoch seconds");
	fails(f, "BerthV1.ListEvents", "{'until': -5}", "InvalidParameterException", "until");
	fails(f, "BerthV1.ListEvents", "{'cluster': 'bad name!'}", "InvalidParameterException",
	      "cluster");
	fails(f, "BerthV1.ListEvents", "[]", "SerializationException", "JSON object");
	fails(f, "BerthV1.NoSuchThing", "{}", "UnknownOperationException",
	      "not an operation of berth's API");
	fails(f, "ListEvents", "{}", "UnknownOperationException", "not an operation of the ECS API");
}

static void test_target_op(void **state)
{
	char buf[96], small[8];
	const char *t;

	(void)state;
	t = "AmazonEC2ContainerServiceV20141113.RunTask";
	assert_string_equal(api_target_op(t, strlen(t), buf, sizeof(buf)), "RunTask");
	t = "BerthV1.ListEvents";
	assert_string_equal(api_target_op(t, strlen(t), buf, sizeof(buf)), "BerthV1.ListEvents");
	/* the value is not NUL-terminated: len counts */
	t = "BerthV1.GetTaskStatsXYZ";
	assert_string_equal(api_target_op(t, strlen(t) - 3, buf, sizeof(buf)), "BerthV1.GetTaskStats");
	assert_null(api_target_op("BerthV1.", 8, buf, sizeof(buf)));
	assert_null(api_target_op("AmazonEC2ContainerServiceV20141113.", 35, buf, sizeof(buf)));
	assert_null(api_target_op("BerthV2.ListEvents", 18, buf, sizeof(buf)));
	assert_null(api_target_op("Other.RunTask", 13, buf, sizeof(buf)));
	t = "AmazonEC2ContainerServiceV20141113.BerthV1.ListEvents";
	assert_null(api_target_op(t, strlen(t), buf, sizeof(buf)));
	assert_null(api_target_op("BerthV1.ListEvents", 18, small, sizeof(small)));
	assert_null(api_target_op("BerthV1.List\0vents", 18, buf, sizeof(buf)));

	assert_non_null(api_find("BerthV1.ListEvents"));
	assert_ptr_equal(api_find("BerthV1.ListEvents")->fn, api_berth_list_events);
	assert_ptr_equal(api_find("BerthV1.GetTaskStats")->fn, api_berth_get_task_stats);
	assert_null(api_find("BerthV1.RunTask"));
	assert_null(api_find("BerthV1."));
	assert_null(api_find("ListEvents"));
	assert_non_null(api_find("RunTask"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_status_sequence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_to_start, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_duplicates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bounded_default, setup, teardown),
		cmocka_unit_test_setup_teardown(test_filters_and_paging, setup, teardown),
		cmocka_unit_test_setup_teardown(test_api_list_events, setup, teardown),
		cmocka_unit_test(test_target_op),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
