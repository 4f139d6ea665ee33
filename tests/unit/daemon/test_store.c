/* tests/unit/daemon/test_store.c - berthd's SQLite store (runtime/daemon/store.h):
 * schema creation and migration, every getter/putter/list, paging and
 * filters, revisions, client tokens, pruning, transactions, persistence
 * across reopen, and crash safety (a writer killed before or after its
 * commit).
 *
 * Each test gets its own mkdtemp directory under /tmp; the database is
 * <tmp>/berth.db. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <sqlite3.h>
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
#include "runtime/daemon/store.h"

#define ARN "arn:aws:ecs:us-east-1:000000000000:"

struct fx {
	char *tmp;
	char *db;
	struct store *s;
};

static int setup(void **state)
{
	struct fx *f = xzalloc(sizeof(*f));
	char tmpl[] = "/tmp/berth-test-store-XXXXXX";

	if (!mkdtemp(tmpl))
		return -1;
	f->tmp = xstrdup(tmpl);
	f->db = xasprintf("%s/berth.db", tmpl);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	struct berr *err = NULL;
	int rc;

	store_close(f->s);
	rc = fs_rm_rf_at(AT_FDCWD, f->tmp, &err);
	if (rc < 0)
		fprintf(stderr, "cleanup: %s\n", berr_msg(err));
	berr_free(err);
	free(f->tmp);
	free(f->db);
	free(f);
	return rc < 0 ? -1 : 0;
}

static struct store *open_ok(const char *path)
{
	struct store *s = NULL;
	struct berr *err = NULL;

	if (store_open(path, &s, &err) < 0)
		fail_msg("store_open %s: %s", path, berr_msg(err));
	return s;
}

static struct store *fx_open(struct fx *f)
{
	store_close(f->s);
	f->s = open_ok(f->db);
	return f->s;
}

#define OK(call)                                                                     \
	do {                                                                         \
		struct berr *err_ = NULL;                                            \
		struct berr **err = &err_;                                           \
		if ((call) < 0)                                                      \
			fail_msg("%s: %s", #call, berr_msg(err_));                    \
		(void)err;                                                           \
	} while (0)

/* the call fails and its message contains `want` */
#define FAILS(call, want)                                                            \
	do {                                                                         \
		struct berr *err_ = NULL;                                            \
		struct berr **err = &err_;                                           \
		(void)err;                                                           \
		if ((call) >= 0)                                                     \
			fail_msg("%s: succeeded, expected an error", #call);          \
		if (!strstr(berr_msg(err_), (want)))                                 \
			fail_msg("%s: \"%s\" does not contain \"%s\"", #call,         \
				 berr_msg(err_), (want));                             \
		berr_free(err_);                                                     \
	} while (0)

static json_t *cluster_doc(const char *name, const char *status)
{
	cleanup_free char *arn = xasprintf(ARN "cluster/%s", name);

	return json_pack("{s:s, s:s, s:s}", "clusterArn", arn, "clusterName", name, "status",
			 status);
}

static void put_cluster(struct store *s, const char *name, const char *status)
{
	cleanup_json json_t *d = cluster_doc(name, status);

	OK(store_cluster_put(s, d, err));
}

static json_t *taskdef_doc(const char *family, int64_t rev, const char *status)
{
	cleanup_free char *arn = xasprintf(ARN "task-definition/%s:%lld", family, (long long)rev);

	return json_pack("{s:s, s:s, s:I, s:s, s:[]}", "taskDefinitionArn", arn, "family", family,
			 "revision", (json_int_t)rev, "status", status, "containerDefinitions");
}

static void put_taskdef(struct store *s, const char *family, int64_t rev, const char *status)
{
	cleanup_json json_t *d = taskdef_doc(family, rev, status);

	OK(store_taskdef_put(s, d, err));
}

static char *task_id(int n)
{
	return xasprintf("%032x", n);
}

static json_t *task_doc(const char *cluster, int n, const char *family, const char *desired,
			const char *last)
{
	cleanup_free char *id = task_id(n);
	cleanup_free char *arn = xasprintf(ARN "task/%s/%s", cluster, id);
	cleanup_free char *carn = xasprintf(ARN "cluster/%s", cluster);
	cleanup_free char *tdarn = xasprintf(ARN "task-definition/%s:1", family);

	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:f}", "taskArn", arn, "clusterArn", carn,
			 "taskDefinitionArn", tdarn, "desiredStatus", desired, "lastStatus", last,
			 "launchType", "FARGATE", "createdAt", 1000.0 + n);
}

static void put_task(struct store *s, json_t *doc, const char *token)
{
	OK(store_task_put(s, doc, token, err));
	json_decref(doc);
}

static json_t *instance_doc(const char *cluster, const char *id, const char *status)
{
	cleanup_free char *arn = xasprintf(ARN "container-instance/%s/%s", cluster, id);

	return json_pack("{s:s, s:s, s:s}", "containerInstanceArn", arn, "status", status,
			 "ec2InstanceId", "berth-test");
}

static const char *str(const json_t *a, size_t i)
{
	return json_string_value(json_array_get(a, i));
}

static const char *docstr(const json_t *a, size_t i, const char *key)
{
	return json_string_value(json_object_get(json_array_get(a, i), key));
}

/* ------------------------------------------------------------------ open */

static void test_open_creates_schema(void **state)
{
	struct fx *f = *state;
	struct stat st;
	sqlite3 *db = NULL;
	sqlite3_stmt *q = NULL;

	fx_open(f);
	assert_int_equal(store_schema_version(f->s), STORE_SCHEMA_VERSION);
	assert_int_equal(stat(f->db, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	put_cluster(f->s, "a", "ACTIVE");
	/* the journal mode is persistent in the file: another connection sees WAL */
	assert_int_equal(sqlite3_open_v2(f->db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &q, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(q, 0), "wal");
	sqlite3_finalize(q);
	sqlite3_close(db);
}

static void test_open_empty_file_migrates(void **state)
{
	struct fx *f = *state;
	int fd = open(f->db, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);

	/* an empty file is a database at user_version 0 */
	assert_true(fd >= 0);
	close(fd);
	fx_open(f);
	assert_int_equal(store_schema_version(f->s), STORE_SCHEMA_VERSION);
	put_cluster(f->s, "x", "ACTIVE");
	/* reopening an up-to-date database changes nothing */
	fx_open(f);
	assert_int_equal(store_schema_version(f->s), STORE_SCHEMA_VERSION);
	{
		cleanup_json json_t *d = NULL;
		int r;

		OK(r = store_cluster_get(f->s, "x", &d, err));
		assert_int_equal(r, 1);
	}
}

/* A database of schema version 1 (before the events table) with data in
 * every table: opening it migrates it to the current version and keeps
 * everything; events are recorded from then on, compared with the task
 * documents written under version 1. The version 1 database is made the
 * way version 1 left it: the current schema minus what migrations 1 -> 2,
 * 2 -> 3, 3 -> 4 and 4 -> 5 add (the events table and its indexes, the
 * secrets table, the services table, the schedules tables), user_version 1. */
static int cluster_exists(struct store *s, const char *name);

static void test_open_migrates_v1_keeps_data(void **state)
{
	struct fx *f = *state;
	struct store *s = fx_open(f);
	cleanup_json json_t *tags = json_pack("[{s:s, s:s}]", "key", "k", "value", "v");
	cleanup_json json_t *d = NULL, *evs = NULL;
	cleanup_free char *id5 = task_id(5);
	json_t *t, *a = NULL;
	sqlite3 *db = NULL;
	sqlite3_stmt *q = NULL;
	int64_t last = 0, first = 0, rev = 0;
	bool more;
	int r;

	put_cluster(s, "old", "ACTIVE");
	put_taskdef(s, "fam", 1, "ACTIVE");
	put_taskdef(s, "fam", 2, "ACTIVE");
	put_task(s, task_doc("old", 5, "fam", "RUNNING", "RUNNING"), "tok5");
	OK(store_tags_set(s, ARN "cluster/old", tags, err));
	a = instance_doc("old", "i1", "ACTIVE");
	OK(store_instance_put(s, a, err));
	json_decref(a);
	a = NULL;
	store_close(s);
	f->s = NULL;
	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "DROP TABLE events; DROP TABLE secrets; "
				      "DROP TABLE services; DROP TABLE schedule_runs; "
				      "DROP TABLE schedules; DROP TABLE scaling; DROP TABLE discovery; PRAGMA user_version=1", NULL, NULL,
				      NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master WHERE "
					    "name LIKE 'events%'", -1, &q, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(q, 0), 0);
	sqlite3_finalize(q);
	sqlite3_close(db);

	s = fx_open(f);
	assert_int_equal(store_schema_version(s), STORE_SCHEMA_VERSION);
	assert_int_equal(cluster_exists(s, "old"), 1);
	OK(store_taskdef_next_revision(s, "fam", &rev, err));
	assert_int_equal(rev, 3);
	OK(r = store_task_get(s, id5, &d, err));
	assert_int_equal(r, 1);
	assert_string_equal(json_string_value(json_object_get(d, "lastStatus")), "RUNNING");
	OK(store_task_by_token(s, "old", "tok5", &a, err));
	assert_int_equal(json_array_size(a), 1);
	json_decref(a);
	OK(store_tags_get(s, ARN "cluster/old", &a, err));
	assert_int_equal(json_array_size(a), 1);
	json_decref(a);
	OK(r = store_instance_get(s, "i1", &a, err));
	assert_int_equal(r, 1);
	json_decref(a);

	/* no events for what happened before; the next change is one */
	OK(store_events_list(s, &(struct store_event_filter){ 0 }, 100, &evs, &last, &first, &more,
			     err));
	assert_int_equal(json_array_size(evs), 0);
	json_decref(evs);
	evs = NULL;
	t = task_doc("old", 5, "fam", "RUNNING", "STOPPED");
	put_task(s, t, NULL);
	OK(store_events_list(s, &(struct store_event_filter){ 0 }, 100, &evs, &last, &first, &more,
			     err));
	assert_int_equal(json_array_size(evs), 1);
	assert_string_equal(docstr(evs, 0, "summary"), "task STOPPED");
	assert_string_equal(docstr(evs, 0, "previous"), "RUNNING");
	assert_int_equal(last, 1);
}

/* A version 3 database (before services) migrates to 4 keeping its data;
 * services are stored, listed by cluster and status, counted, and go with
 * their cluster. */
static void test_open_migrates_v3_services(void **state)
{
	struct fx *f = *state;
	struct store *s = fx_open(f);
	cleanup_json json_t *l = NULL, *doc = NULL, *st = NULL, *live = NULL, *lst = NULL;
	json_t *svc, *state_doc;
	sqlite3 *db = NULL;
	int64_t n = -1;
	bool more = true;
	int r;

	put_cluster(s, "old", "ACTIVE");
	store_close(s);
	f->s = NULL;
	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "DROP TABLE services; DROP TABLE schedule_runs; "
				      "DROP TABLE schedules; DROP TABLE scaling; DROP TABLE discovery; PRAGMA user_version=3", NULL, NULL,
				      NULL), SQLITE_OK);
	sqlite3_close(db);
	s = fx_open(f);
	assert_int_equal(store_schema_version(s), STORE_SCHEMA_VERSION);
	assert_int_equal(cluster_exists(s, "old"), 1);

	state_doc = json_pack("{s:{s:s}}", "spec", "serviceName", "web");
	svc = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "serviceName", "web", "serviceArn",
			ARN "service/old/web", "clusterArn", ARN "cluster/old", "status", "ACTIVE",
			"launchType", "EC2", "schedulingStrategy", "REPLICA");
	OK(store_service_put(s, svc, state_doc, err));
	json_object_set_new(svc, "serviceName", json_string("api"));
	json_object_set_new(svc, "serviceArn", json_string(ARN "service/old/api"));
	json_object_set_new(svc, "status", json_string("INACTIVE"));
	OK(store_service_put(s, svc, state_doc, err));
	/* a service needs its cluster */
	json_object_set_new(svc, "clusterArn", json_string(ARN "cluster/nope"));
	{
		struct berr *e1 = NULL;

		assert_true(store_service_put(s, svc, state_doc, &e1) < 0);
		berr_clear(&e1);
	}
	json_decref(svc);
	json_decref(state_doc);

	OK(r = store_service_get(s, "old", "web", &doc, &st, err));
	assert_int_equal(r, 1);
	assert_string_equal(json_string_value(json_object_get(doc, "status")), "ACTIVE");
	assert_string_equal(json_string_value(json_object_get(json_object_get(st, "spec"), "serviceName")),
			    "web");
	OK(r = store_service_get(s, "old", "nope", NULL, NULL, err));
	assert_int_equal(r, 0);
	OK(store_service_list(s, &(struct store_service_filter){ .cluster = "old" }, NULL, &l, &more, err));
	assert_int_equal(json_array_size(l), 1);   /* INACTIVE ones are not listed */
	assert_false(more);
	json_decref(l);
	OK(store_service_list(s, &(struct store_service_filter){ .cluster = "old", .scheduling = "DAEMON" },
			      NULL, &l, &more, err));
	assert_int_equal(json_array_size(l), 0);
	OK(store_service_count(s, "old", &n, err));
	assert_int_equal(n, 1);
	OK(store_service_live(s, &live, &lst, err));
	assert_int_equal(json_array_size(live), 1);
	assert_int_equal(json_array_size(lst), 1);
	OK(store_cluster_delete(s, "old", err));
	OK(store_service_count(s, "old", &n, err));
	assert_int_equal(n, 0);
}

/* A version 2 database (before secrets) migrates to 3 keeping its data,
 * with an empty secrets table that the store_secret_* functions use. */
static void test_open_migrates_v2_secrets(void **state)
{
	struct fx *f = *state;
	struct store *s = fx_open(f);
	struct store_secret sec = { .name = "db", .arn = "arn:aws:secretsmanager:us-east-1:"
				    "123456789012:secret:db-AbCdEf", .created = 1, .updated = 1 };
	struct store_secret got;
	uint8_t ct[20] = { 1, 2, 3 };
	cleanup_json json_t *l = NULL;
	sqlite3 *db = NULL;
	int64_t ver = 0;
	bool more = true;
	int r;

	put_cluster(s, "old", "ACTIVE");
	store_close(s);
	f->s = NULL;
	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "DROP TABLE secrets; DROP TABLE services; "
				      "DROP TABLE schedule_runs; DROP TABLE schedules; "
				      "DROP TABLE scaling; DROP TABLE discovery; PRAGMA user_version=2", NULL, NULL,
				      NULL), SQLITE_OK);
	sqlite3_close(db);
	s = fx_open(f);
	assert_int_equal(store_schema_version(s), STORE_SCHEMA_VERSION);
	assert_int_equal(cluster_exists(s, "old"), 1);
	OK(store_secret_list(s, NULL, &l, &more, err));
	assert_int_equal(json_array_size(l), 0);
	assert_false(more);
	sec.ct = ct;
	sec.ct_len = sizeof(ct);
	OK(store_secret_put(s, &sec, &ver, err));
	assert_int_equal(ver, 1);
	sec.updated = 2;
	sec.arn = "arn:ignored-on-update";
	OK(store_secret_put(s, &sec, &ver, err));
	assert_int_equal(ver, 2);
	OK(r = store_secret_get(s, "db", &got, err));
	assert_int_equal(r, 1);
	assert_string_equal(got.arn, "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf");
	assert_int_equal(got.ct_len, sizeof(ct));
	assert_memory_equal(got.ct, ct, sizeof(ct));
	assert_true(got.created == 1 && got.updated == 2);
	assert_int_equal(got.version, 2);
	store_secret_clear(&got);
	OK(r = store_secret_delete(s, "db", err));
	assert_int_equal(r, 1);
	OK(r = store_secret_delete(s, "db", err));
	assert_int_equal(r, 0);
	OK(r = store_secret_get(s, "db", &got, err));
	assert_int_equal(r, 0);
}

static void test_open_newer_version_refused(void **state)
{
	struct fx *f = *state;
	struct store *s = NULL;
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version=8", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	FAILS(store_open(f->db, &s, err), "schema version 8");
	assert_null(s);
	FAILS(store_open(f->db, &s, err), "newer berth");
	FAILS(store_open(f->db, &s, err), f->db);
}

static void test_open_errors_name_path(void **state)
{
	struct fx *f = *state;
	cleanup_free char *bad = xasprintf("%s/no/such/dir/berth.db", f->tmp);
	cleanup_free char *junk = xasprintf("%s/junk.db", f->tmp);
	struct store *s = NULL;

	FAILS(store_open(bad, &s, err), bad);
	/* not a database: SQLite's own message comes through */
	{
		char buf[1024];

		memset(buf, 'x', sizeof(buf));
		assert_int_equal(fs_write_file_atomic(junk, buf, sizeof(buf), 0600, NULL), 0);
	}
	FAILS(store_open(junk, &s, err), "file is not a database");
	FAILS(store_open(junk, &s, err), junk);
}

/* -------------------------------------------------------------- clusters */

static void test_clusters(void **state)
{
	struct fx *f = *state;
	struct store *s = fx_open(f);
	cleanup_json json_t *d = NULL;
	cleanup_json json_t *bad = json_pack("{s:s}", "clusterName", "x");
	json_t *arns = NULL;
	bool more;
	int r;

	OK(r = store_cluster_get(s, "nope", &d, err));
	assert_int_equal(r, 0);
	assert_null(d);
	put_cluster(s, "b", "ACTIVE");
	put_cluster(s, "a", "ACTIVE");
	put_cluster(s, "c", "ACTIVE");
	put_cluster(s, "gone", "INACTIVE");
	OK(r = store_cluster_get(s, "a", &d, err));
	assert_int_equal(r, 1);
	assert_string_equal(json_string_value(json_object_get(d, "clusterArn")), ARN "cluster/a");
	/* replace */
	put_cluster(s, "a", "INACTIVE");
	json_decref(d);
	OK(store_cluster_get(s, "a", &d, err));
	assert_string_equal(json_string_value(json_object_get(d, "status")), "INACTIVE");
	put_cluster(s, "a", "ACTIVE");

	/* name order, INACTIVE left out, paging */
	OK(store_cluster_list(s, NULL, &arns, &more, err));
	assert_int_equal(json_array_size(arns), 3);
	assert_false(more);
	assert_string_equal(str(arns, 0), ARN "cluster/a");
	assert_string_equal(str(arns, 2), ARN "cluster/c");
	json_decref(arns);
	{
		struct store_page pg = { NULL, 2 };

		OK(store_cluster_list(s, &pg, &arns, &more, err));
		assert_int_equal(json_array_size(arns), 2);
		assert_true(more);
		json_decref(arns);
		pg.after = "b";
		OK(store_cluster_list(s, &pg, &arns, &more, err));
		assert_int_equal(json_array_size(arns), 1);
		assert_string_equal(str(arns, 0), ARN "cluster/c");
		assert_false(more);
		json_decref(arns);
		/* exactly a page left: no further page */
		pg.after = "a";
		OK(store_cluster_list(s, &pg, &arns, &more, err));
		assert_int_equal(json_array_size(arns), 2);
		assert_false(more);
		json_decref(arns);
	}
	OK(store_cluster_delete(s, "b", err));
	json_decref(d);
	OK(r = store_cluster_get(s, "b", &d, err));
	assert_int_equal(r, 0);

	FAILS(store_cluster_put(s, bad, err), "clusterArn: required");
	FAILS(store_cluster_put(s, bad, err), f->db);
}

/* ------------------------------------------------------ task definitions */

static void test_taskdefs(void **state)
{
	struct fx *f = *state;
	struct store *s = fx_open(f);
	cleanup_json json_t *d = NULL;
	json_t *a = NULL;
	int64_t rev;
	bool more;
	int r;

	OK(store_taskdef_next_revision(s, "web", &rev, err));
	assert_int_equal(rev, 1);
	put_taskdef(s, "web", 1, "ACTIVE");
	put_taskdef(s, "web", 2, "ACTIVE");
	put_taskdef(s, "web", 3, "ACTIVE");
	put_taskdef(s, "api", 1, "ACTIVE");
	put_taskdef(s, "webx", 1, "INACTIVE");
	OK(store_taskdef_next_revision(s, "web", &rev, err));
	assert_int_equal(rev, 4);

	/* deregister the newest: the latest ACTIVE is 2, the next revision still 4 */
	put_taskdef(s, "web", 3, "INACTIVE");
	OK(r = store_taskdef_get(s, "web", 0, &d, err));
	assert_int_equal(r, 1);
	assert_int_equal(json_integer_value(json_object_get(d, "revision")), 2);
	json_decref(d);
	OK(r = store_taskdef_get(s, "web", 3, &d, err));
	assert_int_equal(r, 1);
	assert_string_equal(json_string_value(json_object_get(d, "status")), "INACTIVE");
	json_decref(d);
	OK(store_taskdef_next_revision(s, "web", &rev, err));
	assert_int_equal(rev, 4);
	OK(r = store_taskdef_get(s, "webx", 0, &d, err));
	assert_int_equal(r, 0);
	OK(r = store_taskdef_get(s, "web", 9, &d, err));
	assert_int_equal(r, 0);

	/* revisions are never reused, even when rows disappear */
	{
		sqlite3 *db = NULL;

		assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
		assert_int_equal(sqlite3_exec(db, "DELETE FROM taskdefs WHERE family = 'web' AND "
					      "revision = 3", NULL, NULL, NULL), SQLITE_OK);
		sqlite3_close(db);
		OK(store_taskdef_next_revision(s, "web", &rev, err));
		assert_int_equal(rev, 4);
	}
	/* an older revision stored late does not lower the counter */
	put_taskdef(s, "api", 5, "ACTIVE");
	put_taskdef(s, "api", 2, "ACTIVE");
	OK(store_taskdef_next_revision(s, "api", &rev, err));
	assert_int_equal(rev, 6);

	/* list: family, revision numerically; status; exact family; order */
	put_taskdef(s, "web", 10, "ACTIVE");
	OK(store_taskdef_list(s, NULL, "ACTIVE", false, NULL, &a, &more, err));
	assert_int_equal(json_array_size(a), 6);
	assert_string_equal(str(a, 0), ARN "task-definition/api:1");
	assert_string_equal(str(a, 2), ARN "task-definition/api:5");
	assert_string_equal(str(a, 3), ARN "task-definition/web:1");
	assert_string_equal(str(a, 5), ARN "task-definition/web:10");
	json_decref(a);
	OK(store_taskdef_list(s, "web", NULL, true, NULL, &a, &more, err));
	assert_int_equal(json_array_size(a), 3);
	assert_string_equal(str(a, 0), ARN "task-definition/web:10");
	assert_string_equal(str(a, 2), ARN "task-definition/web:1");
	json_decref(a);
	OK(store_taskdef_list(s, NULL, "INACTIVE", false, NULL, &a, &more, err));
	assert_int_equal(json_array_size(a), 1);
	assert_string_equal(str(a, 0), ARN "task-definition/webx:1");
	json_decref(a);
	/* paging, both directions; the key is "<family>:<revision>" */
	{
		struct store_page pg = { NULL, 2 };

		OK(store_taskdef_list(s, NULL, NULL, false, &pg, &a, &more, err));
		assert_int_equal(json_array_size(a), 2);
		assert_true(more);
		json_decref(a);
		pg.after = "api:5";
		OK(store_taskdef_list(s, NULL, NULL, false, &pg, &a, &more, err));
		assert_string_equal(str(a, 0), ARN "task-definition/web:1");
		assert_string_equal(str(a, 1), ARN "task-definition/web:2");
		assert_true(more);
		json_decref(a);
		pg.after = "web:2";
		OK(store_taskdef_list(s, NULL, NULL, false, &pg, &a, &more, err));
		assert_string_equal(str(a, 0), ARN "task-definition/web:10");
		assert_string_equal(str(a, 1), ARN "task-definition/webx:1");
		assert_false(more);
		json_decref(a);
		pg.after = "web:10";
		OK(store_taskdef_list(s, NULL, NULL, true, &pg, &a, &more, err));
		assert_string_equal(str(a, 0), ARN "task-definition/web:2");
		assert_string_equal(str(a, 1), ARN "task-definition/web:1");
		assert_true(more);
		json_decref(a);
		pg.after = "web";
		FAILS(store_taskdef_list(s, NULL, NULL, true, &pg, &a, &more, err), "page key");
	}

	/* families: prefix, status */
	put_taskdef(s, "zeta", 1, "INACTIVE");
	OK(store_taskdef_families(s, NULL, NULL, NULL, &a, &more, err));
	assert_int_equal(json_array_size(a), 4);
	assert_string_equal(str(a, 0), "api");
	assert_string_equal(str(a, 3), "zeta");
	json_decref(a);
	OK(store_taskdef_families(s, "we", NULL, NULL, &a, &more, err));
	assert_int_equal(json_array_size(a), 2);
	assert_string_equal(str(a, 0), "web");
	assert_string_equal(str(a, 1), "webx");
	json_decref(a);
	OK(store_taskdef_families(s, NULL, "ACTIVE", NULL, &a, &more, err));
	assert_int_equal(json_array_size(a), 2);
	assert_string_equal(str(a, 1), "web");
	json_decref(a);
	OK(store_taskdef_families(s, "w", "INACTIVE", NULL, &a, &more, err));
	assert_int_equal(json_array_size(a), 1);
	assert_string_equal(str(a, 0), "webx");
	json_decref(a);
	{
		struct store_page pg = { "web", 1 };

		OK(store_taskdef_families(s, NULL, NULL, &pg, &a, &more, err));
		assert_int_equal(json_array_size(a), 1);
		assert_string_equal(str(a, 0), "webx");
		assert_true(more);
		json_decref(a);
		/* prefix, status and page together */
		put_taskdef(s, "wz", 1, "ACTIVE");
		pg.after = "web";
		OK(store_taskdef_families(s, "w", "ACTIVE", &pg, &a, &more, err));
		assert_int_equal(json_array_size(a), 1);
		assert_string_equal(str(a, 0), "wz");
		assert_false(more);
		json_decref(a);
	}
	{
		cleanup_json json_t *bad = json_pack("{s:s, s:s, s:s, s:s}", "family", "x",
						     "taskDefinitionArn", "a", "status", "ACTIVE",
						     "revision", "1");

		FAILS(store_taskdef_put(s, bad, err), "revision");
	}
}

/* ----------------------------------------------------------------- tasks */

static void test_tasks(void **state)
{
	struct fx *f = *state;
	struct store *s = fx_open(f);
	cleanup_json json_t *d = NULL;
	cleanup_free char *id3 = task_id(3);
	json_t *docs = NULL, *t;
	int r;
	bool more;

	put_cluster(s, "c1", "ACTIVE");
	put_cluster(s, "c2", "ACTIVE");
	for (int i = 1; i <= 6; i++) {
		t = task_doc(i <= 5 ? "c1" : "c2", i, i % 2 ? "web" : "api",
			     i <= 3 ? "RUNNING" : "STOPPED", i <= 2 ? "RUNNING" : i == 3 ?
			     "PENDING" : "STOPPED");
		if (i == 1) {
			json_object_set_new(t, "startedBy", json_string("me"));
			json_object_set_new(t, "group", json_string("service:web"));
			json_object_set_new(t, "containerInstanceArn",
					    json_string(ARN "container-instance/c1/"
							"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
			json_object_set_new(t, "launchType", json_string("EC2"));
		}
		if (i >= 4)
			json_object_set_new(t, "stoppedAt", json_real(2000.0 + i));
		put_task(s, t, i == 2 || i == 3 ? "tok" : NULL);
	}

	OK(r = store_task_get(s, id3, &d, err));
	assert_int_equal(r, 1);
	assert_string_equal(json_string_value(json_object_get(d, "lastStatus")), "PENDING");
	json_decref(d);
	d = NULL;
	OK(r = store_task_get(s, "ffff", &d, err));
	assert_int_equal(r, 0);

#define LIST(...)                                                                 \
	do {                                                                      \
		struct store_task_filter flt_ = { __VA_ARGS__ };                 \
		json_decref(docs);                                               \
		OK(store_task_list(s, &flt_, NULL, &docs, &more, err));          \
	} while (0)

	LIST(.cluster = "c1");
	assert_int_equal(json_array_size(docs), 5);
	assert_false(more);
	LIST(.cluster = "c2");
	assert_int_equal(json_array_size(docs), 1);
	LIST(.cluster = "c1", .desired_status = "RUNNING");
	assert_int_equal(json_array_size(docs), 3);
	LIST(.cluster = "c1", .desired_status = "STOPPED");
	assert_int_equal(json_array_size(docs), 2);
	LIST(.cluster = "c1", .last_status = "PENDING");
	assert_int_equal(json_array_size(docs), 1);
	LIST(.cluster = "c1", .family = "api");
	assert_int_equal(json_array_size(docs), 2);   /* 2 and 4 */
	LIST(.cluster = "c1", .family = "api", .desired_status = "RUNNING");
	assert_int_equal(json_array_size(docs), 1);
	LIST(.cluster = "c1", .started_by = "me");
	assert_int_equal(json_array_size(docs), 1);
	LIST(.cluster = "c1", .group = "service:web");
	assert_int_equal(json_array_size(docs), 1);
	LIST(.cluster = "c1", .container_instance = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	assert_int_equal(json_array_size(docs), 1);
	LIST(.cluster = "c1", .container_instance = ARN "container-instance/c1/"
		 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	assert_int_equal(json_array_size(docs), 1);
	LIST(.cluster = "c1", .launch_type = "EC2");
	assert_int_equal(json_array_size(docs), 1);
	LIST(.cluster = "c1", .launch_type = "FARGATE");
	assert_int_equal(json_array_size(docs), 4);
	LIST(.cluster = "nope");
	assert_int_equal(json_array_size(docs), 0);

	/* paging in id order */
	{
		struct store_task_filter flt = { .cluster = "c1" };
		struct store_page pg = { NULL, 2 };
		cleanup_free char *id2 = task_id(2);
		cleanup_free char *id4 = task_id(4);

		json_decref(docs);
		OK(store_task_list(s, &flt, &pg, &docs, &more, err));
		assert_int_equal(json_array_size(docs), 2);
		assert_true(more);
		assert_true(strstr(docstr(docs, 1, "taskArn"), id2) != NULL);
		pg.after = id2;
		json_decref(docs);
		OK(store_task_list(s, &flt, &pg, &docs, &more, err));
		assert_true(strstr(docstr(docs, 0, "taskArn"), id3) != NULL);
		assert_true(strstr(docstr(docs, 1, "taskArn"), id4) != NULL);
		assert_true(more);
		pg.after = id4;
		json_decref(docs);
		OK(store_task_list(s, &flt, &pg, &docs, &more, err));
		assert_int_equal(json_array_size(docs), 1);
		assert_false(more);
	}

	/* client tokens: per cluster, kept when a later put has none */
	json_decref(docs);
	OK(store_task_by_token(s, "c1", "tok", &docs, err));
	assert_int_equal(json_array_size(docs), 2);
	json_decref(docs);
	OK(store_task_by_token(s, "c2", "tok", &docs, err));
	assert_int_equal(json_array_size(docs), 0);
	t = task_doc("c1", 2, "api", "STOPPED", "STOPPED");
	put_task(s, t, NULL);
	json_decref(docs);
	OK(store_task_by_token(s, "c1", "tok", &docs, err));
	assert_int_equal(json_array_size(docs), 2);
	LIST(.cluster = "c1", .desired_status = "RUNNING");
	assert_int_equal(json_array_size(docs), 2);   /* the update moved the columns too */

	/* prune: STOPPED before the cut only (4: 2004, 5: 2005; 2: createdAt 1002),
	 * and their tags with them */
	{
		int64_t n = -1;
		cleanup_free char *id5 = task_id(5);
		cleanup_free char *id1 = task_id(1);
		cleanup_free char *id2 = task_id(2);
		cleanup_free char *arn1 = xasprintf(ARN "task/c1/%s", id1);
		cleanup_free char *arn2 = xasprintf(ARN "task/c1/%s", id2);
		cleanup_json json_t *tags = json_pack("[{s:s, s:s}]", "key", "k", "value", "v");
		json_t *got = NULL;

		OK(store_tags_set(s, arn1, tags, err));
		OK(store_tags_set(s, arn2, tags, err));
		OK(store_task_prune(s, 2005.0, &n, err));
		assert_int_equal(n, 2);   /* 2 (no stoppedAt: createdAt) and 4 */
		OK(store_tags_get(s, arn2, &got, err));
		assert_int_equal(json_array_size(got), 0);
		json_decref(got);
		OK(store_tags_get(s, arn1, &got, err));
		assert_int_equal(json_array_size(got), 1);
		json_decref(got);
		json_decref(d);
		OK(r = store_task_get(s, id5, &d, err));
		assert_int_equal(r, 1);
		OK(store_task_prune(s, 1e12, &n, err));
		assert_int_equal(n, 2);   /* 5 and 6 */
		LIST(.cluster = "c1");
		assert_int_equal(json_array_size(docs), 2);
	}
	/* a task needs its cluster (foreign key), and a taskArn */
	t = task_doc("nocluster", 9, "web", "RUNNING", "PENDING");
	FAILS(store_task_put(s, t, NULL, err), "FOREIGN KEY");
	FAILS(store_task_put(s, t, NULL, err), f->db);
	json_object_del(t, "taskArn");
	FAILS(store_task_put(s, t, NULL, err), "taskArn: required");
	json_decref(t);
	{
		struct store_task_filter nf = { 0 };

		json_decref(docs);
		docs = NULL;
		FAILS(store_task_list(s, &nf, NULL, &docs, &more, err), "no cluster");
	}
	json_decref(docs);
#undef LIST
}

/* ---------------------------------------------------- container instances */

static void test_instances_and_attributes(void **state)
{
	struct fx *f = *state;
	struct store *s = fx_open(f);
	cleanup_json json_t *d = NULL;
	json_t *a = NULL, *attr;
	bool more;
	int r;

	put_cluster(s, "default", "ACTIVE");
	put_cluster(s, "other", "ACTIVE");
	for (int i = 0; i < 3; i++) {
		char id[33];
		cleanup_json json_t *doc = NULL;

		snprintf(id, sizeof(id), "%032d", i);
		doc = instance_doc(i < 2 ? "default" : "other", id, i == 1 ? "DRAINING" : "ACTIVE");
		OK(store_instance_put(s, doc, err));
	}
	OK(r = store_instance_get(s, "00000000000000000000000000000001", &d, err));
	assert_int_equal(r, 1);
	assert_string_equal(json_string_value(json_object_get(d, "status")), "DRAINING");
	OK(store_instance_list(s, "default", NULL, NULL, &a, &more, err));
	assert_int_equal(json_array_size(a), 2);
	json_decref(a);
	OK(store_instance_list(s, "default", "ACTIVE", NULL, &a, &more, err));
	assert_int_equal(json_array_size(a), 1);
	json_decref(a);
	{
		struct store_page pg = { NULL, 1 };

		OK(store_instance_list(s, "default", NULL, &pg, &a, &more, err));
		assert_int_equal(json_array_size(a), 1);
		assert_true(more);
		json_decref(a);
		pg.after = "00000000000000000000000000000000";
		OK(store_instance_list(s, "default", NULL, &pg, &a, &more, err));
		assert_int_equal(json_array_size(a), 1);
		assert_false(more);
		json_decref(a);
	}
	{
		cleanup_json json_t *bad = instance_doc("default", "x", "ACTIVE");

		json_object_set_new(bad, "containerInstanceArn", json_string(ARN "container-instance/x"));
		FAILS(store_instance_put(s, bad, err), "container-instance/<cluster>/<id>");
	}

	/* attributes: (targetId, name) order, name/value filters, paging */
	attr = json_pack("{s:s, s:s, s:s, s:s}", "name", "stack", "value", "prod", "targetType",
			 "container-instance", "targetId", ARN "container-instance/default/"
			 "00000000000000000000000000000000");
	OK(store_attr_put(s, "default", attr, err));
	json_object_set_new(attr, "name", json_string("az"));
	OK(store_attr_put(s, "default", attr, err));
	json_object_set_new(attr, "targetId", json_string(ARN "container-instance/default/"
							    "00000000000000000000000000000001"));
	json_object_del(attr, "value");
	OK(store_attr_put(s, "default", attr, err));
	json_object_set_new(attr, "targetId", json_string("other-target"));
	OK(store_attr_put(s, "other", attr, err));
	json_decref(attr);

	OK(store_attr_list(s, "default", "container-instance", NULL, NULL, NULL, &a, &more, err));
	assert_int_equal(json_array_size(a), 3);
	assert_string_equal(docstr(a, 0, "name"), "az");
	assert_string_equal(docstr(a, 1, "name"), "stack");
	assert_string_equal(docstr(a, 1, "value"), "prod");
	assert_null(json_object_get(json_array_get(a, 2), "value"));
	json_decref(a);
	OK(store_attr_list(s, "default", "container-instance", "az", NULL, NULL, &a, &more, err));
	assert_int_equal(json_array_size(a), 2);
	json_decref(a);
	OK(store_attr_list(s, "default", "container-instance", "az", "prod", NULL, &a, &more, err));
	assert_int_equal(json_array_size(a), 1);
	json_decref(a);
	OK(store_attr_list(s, "default", "other-type", NULL, NULL, NULL, &a, &more, err));
	assert_int_equal(json_array_size(a), 0);
	json_decref(a);
	{
		cleanup_free char *key = xasprintf(ARN "container-instance/default/"
						   "00000000000000000000000000000000\naz");
		struct store_page pg = { key, 1 };

		OK(store_attr_list(s, "default", "container-instance", NULL, NULL, &pg, &a, &more,
				   err));
		assert_int_equal(json_array_size(a), 1);
		assert_string_equal(docstr(a, 0, "name"), "stack");
		assert_true(more);
		json_decref(a);
		pg.after = "no newline";
		FAILS(store_attr_list(s, "default", "container-instance", NULL, NULL, &pg, &a, &more,
				      err), "page key");
	}
	OK(store_attr_delete(s, "default", ARN "container-instance/default/"
			     "00000000000000000000000000000000", "stack", err));
	OK(store_attr_list(s, "default", "container-instance", NULL, NULL, NULL, &a, &more, err));
	assert_int_equal(json_array_size(a), 2);
	json_decref(a);

	/* deleting an instance removes its attributes */
	OK(store_instance_delete(s, "00000000000000000000000000000001", err));
	json_decref(d);
	OK(r = store_instance_get(s, "00000000000000000000000000000001", &d, err));
	assert_int_equal(r, 0);
	OK(store_attr_list(s, "default", "container-instance", NULL, NULL, NULL, &a, &more, err));
	assert_int_equal(json_array_size(a), 1);
	json_decref(a);
}

/* ------------------------------------------------------------------ tags */

static void test_tags(void **state)
{
	struct fx *f = *state;
	struct store *s = fx_open(f);
	cleanup_json json_t *t1 = json_pack("[{s:s, s:s}, {s:s, s:s}, {s:s}]", "key", "b", "value",
					    "2", "key", "a", "value", "1", "key", "c");
	cleanup_json json_t *t2 = json_pack("[{s:s, s:s}]", "key", "a", "value", "one");
	cleanup_json json_t *keys = json_pack("[s, s]", "b", "nope");
	cleanup_json json_t *bad = json_pack("[{s:i}]", "key", 1);
	json_t *tags = NULL;

	OK(store_tags_get(s, "arn:x", &tags, err));
	assert_int_equal(json_array_size(tags), 0);
	json_decref(tags);
	OK(store_tags_set(s, "arn:x", t1, err));
	OK(store_tags_set(s, "arn:y", t2, err));
	OK(store_tags_set(s, "arn:x", t2, err));
	OK(store_tags_get(s, "arn:x", &tags, err));
	assert_int_equal(json_array_size(tags), 3);
	assert_string_equal(docstr(tags, 0, "key"), "a");
	assert_string_equal(docstr(tags, 0, "value"), "one");
	assert_string_equal(docstr(tags, 1, "value"), "2");
	assert_string_equal(docstr(tags, 2, "value"), "");
	json_decref(tags);
	OK(store_tags_remove(s, "arn:x", keys, err));
	OK(store_tags_get(s, "arn:x", &tags, err));
	assert_int_equal(json_array_size(tags), 2);
	json_decref(tags);
	OK(store_tags_drop(s, "arn:x", err));
	OK(store_tags_get(s, "arn:x", &tags, err));
	assert_int_equal(json_array_size(tags), 0);
	json_decref(tags);
	OK(store_tags_get(s, "arn:y", &tags, err));
	assert_int_equal(json_array_size(tags), 1);
	json_decref(tags);
	FAILS(store_tags_set(s, "arn:x", bad, err), "tags document");
}

/* Deleting a cluster takes its tasks, instances, attributes and tags. */
static void test_cluster_delete_cascades(void **state)
{
	struct fx *f = *state;
	struct store *s = fx_open(f);
	cleanup_json json_t *inst = instance_doc("c", "00000000000000000000000000000009", "ACTIVE");
	cleanup_json json_t *attr = json_pack("{s:s, s:s, s:s}", "name", "n", "targetType",
					      "container-instance", "targetId", "t");
	cleanup_json json_t *tags = json_pack("[{s:s, s:s}]", "key", "k", "value", "v");
	cleanup_free char *id = task_id(1);
	cleanup_free char *tarn = xasprintf(ARN "task/c/%s", id);
	json_t *a = NULL, *d = NULL;
	bool more;
	int r;

	put_cluster(s, "c", "ACTIVE");
	put_cluster(s, "keep", "ACTIVE");
	put_task(s, task_doc("c", 1, "web", "RUNNING", "RUNNING"), NULL);
	put_task(s, task_doc("keep", 2, "web", "RUNNING", "RUNNING"), NULL);
	OK(store_instance_put(s, inst, err));
	OK(store_attr_put(s, "c", attr, err));
	OK(store_tags_set(s, tarn, tags, err));
	OK(store_tags_set(s, ARN "cluster/c", tags, err));
	OK(store_tags_set(s, ARN "cluster/keep", tags, err));

	OK(store_cluster_delete(s, "c", err));
	OK(r = store_task_get(s, id, &d, err));
	assert_int_equal(r, 0);
	OK(r = store_instance_get(s, "00000000000000000000000000000009", &d, err));
	assert_int_equal(r, 0);
	OK(store_attr_list(s, "c", "container-instance", NULL, NULL, NULL, &a, &more, err));
	assert_int_equal(json_array_size(a), 0);
	json_decref(a);
	OK(store_tags_get(s, tarn, &a, err));
	assert_int_equal(json_array_size(a), 0);
	json_decref(a);
	OK(store_tags_get(s, ARN "cluster/c", &a, err));
	assert_int_equal(json_array_size(a), 0);
	json_decref(a);
	OK(store_tags_get(s, ARN "cluster/keep", &a, err));
	assert_int_equal(json_array_size(a), 1);
	json_decref(a);
	{
		struct store_task_filter flt = { .cluster = "keep" };

		OK(store_task_list(s, &flt, NULL, &a, &more, err));
		assert_int_equal(json_array_size(a), 1);
		json_decref(a);
	}
}

/* ---------------------------------------------------------- transactions */

static int cluster_exists(struct store *s, const char *name)
{
	cleanup_json json_t *d = NULL;
	int r;

	OK(r = store_cluster_get(s, name, &d, err));
	return r;
}

static void test_transactions(void **state)
{
	struct fx *f = *state;
	struct store *s = fx_open(f);

	OK(store_begin(s, err));
	FAILS(store_begin(s, err), "do not nest");
	put_cluster(s, "rolled", "ACTIVE");
	put_cluster(s, "rolled2", "ACTIVE");
	assert_int_equal(cluster_exists(s, "rolled"), 1);   /* visible inside */
	store_rollback(s);
	assert_int_equal(cluster_exists(s, "rolled"), 0);
	assert_int_equal(cluster_exists(s, "rolled2"), 0);

	OK(store_begin(s, err));
	put_cluster(s, "kept", "ACTIVE");
	OK(store_commit(s, err));
	assert_int_equal(cluster_exists(s, "kept"), 1);
	FAILS(store_commit(s, err), "without a transaction");
	store_rollback(s);   /* harmless without one */

	/* a failing write inside the caller's transaction leaves it to the caller */
	OK(store_begin(s, err));
	put_cluster(s, "a", "ACTIVE");
	{
		json_t *t = task_doc("missing", 1, "web", "RUNNING", "RUNNING");

		FAILS(store_task_put(s, t, NULL, err), "FOREIGN KEY");
		json_decref(t);
	}
	store_rollback(s);
	assert_int_equal(cluster_exists(s, "a"), 0);

	/* a multi-row write on its own is all or nothing: a duplicate... no,
	 * a bad element makes nothing of the list stored */
	{
		cleanup_json json_t *tags = json_pack("[{s:s}, {s:i}]", "key", "ok", "key", 5);
		json_t *got = NULL;

		FAILS(store_tags_set(s, "arn:t", tags, err), "[1]");
		OK(store_tags_get(s, "arn:t", &got, err));
		assert_int_equal(json_array_size(got), 0);
		json_decref(got);
	}
}

static void test_reopen_persists(void **state)
{
	struct fx *f = *state;
	struct store *s = fx_open(f);
	cleanup_json json_t *tags = json_pack("[{s:s, s:s}]", "key", "k", "value", "v");
	json_t *a = NULL;
	int64_t rev;
	bool more;

	put_cluster(s, "p", "ACTIVE");
	put_taskdef(s, "fam", 1, "ACTIVE");
	put_taskdef(s, "fam", 2, "INACTIVE");
	put_task(s, task_doc("p", 7, "fam", "RUNNING", "RUNNING"), "token7");
	OK(store_tags_set(s, "arn:p", tags, err));
	s = fx_open(f);
	assert_int_equal(cluster_exists(s, "p"), 1);
	OK(store_taskdef_next_revision(s, "fam", &rev, err));
	assert_int_equal(rev, 3);
	OK(store_task_by_token(s, "p", "token7", &a, err));
	assert_int_equal(json_array_size(a), 1);
	json_decref(a);
	OK(store_tags_get(s, "arn:p", &a, err));
	assert_int_equal(json_array_size(a), 1);
	json_decref(a);
	OK(store_taskdef_list(s, "fam", NULL, false, NULL, &a, &more, err));
	assert_int_equal(json_array_size(a), 2);
	json_decref(a);
}

/* ---------------------------------------------------------- crash safety */

enum crash_mode {
	CRASH_EXIT_IN_TX,        /* begin, write, _exit(0) */
	CRASH_KILL_IN_TX,        /* begin, write, SIGKILL by the parent */
	CRASH_KILL_AFTER_COMMIT, /* write (committed), SIGKILL by the parent */
};

/* A child opens the store itself (an SQLite connection must not cross a
 * fork) and writes cluster "crash" plus 200 tasks; it tells the parent
 * over a pipe when it got to the point to die at. */
static void crash_child(const char *db, enum crash_mode mode, int wfd)
{
	struct store *s = NULL;
	struct berr *e = NULL;
	char ok = 'k';

	if (store_open(db, &s, &e) < 0)
		_exit(2);
	if (mode != CRASH_KILL_AFTER_COMMIT && store_begin(s, &e) < 0)
		_exit(3);
	{
		json_t *c = cluster_doc("crash", "ACTIVE");

		if (store_cluster_put(s, c, &e) < 0)
			_exit(4);
		json_decref(c);
	}
	if (mode == CRASH_KILL_AFTER_COMMIT && store_begin(s, &e) < 0)
		_exit(3);
	for (int i = 0; i < 200; i++) {
		json_t *t = task_doc("crash", i, "web", "RUNNING", "PENDING");

		if (store_task_put(s, t, NULL, &e) < 0)
			_exit(5);
		json_decref(t);
	}
	if (mode == CRASH_KILL_AFTER_COMMIT && store_commit(s, &e) < 0)
		_exit(6);
	if (mode == CRASH_EXIT_IN_TX)
		_exit(0);   /* no commit, no close */
	if (write(wfd, &ok, 1) != 1)
		_exit(7);
	for (;;)
		pause();
}

static void run_crash(struct fx *f, enum crash_mode mode)
{
	int p[2];
	pid_t pid;
	char c;
	int st;

	/* the database exists and is in use by this process too */
	fx_open(f);
	put_cluster(f->s, "before", "ACTIVE");
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		crash_child(f->db, mode, p[1]);
	}
	close(p[1]);
	if (mode == CRASH_EXIT_IN_TX) {
		assert_int_equal(waitpid(pid, &st, 0), pid);
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 0);
	} else {
		assert_int_equal(read(p[0], &c, 1), 1);
		assert_int_equal(kill(pid, SIGKILL), 0);
		assert_int_equal(waitpid(pid, &st, 0), pid);
		assert_true(WIFSIGNALED(st));
	}
	close(p[0]);
}

static int64_t crash_tasks(struct store *s)
{
	struct store_task_filter flt = { .cluster = "crash" };
	json_t *a = NULL;
	bool more;
	int64_t n;

	OK(store_task_list(s, &flt, NULL, &a, &more, err));
	n = (int64_t)json_array_size(a);
	json_decref(a);
	return n;
}

static void check_integrity(const char *path)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *q = NULL;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &q, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(q, 0), "ok");
	sqlite3_finalize(q);
	sqlite3_close(db);
}

static void test_crash_exit_before_commit(void **state)
{
	struct fx *f = *state;

	run_crash(f, CRASH_EXIT_IN_TX);
	fx_open(f);
	assert_int_equal(cluster_exists(f->s, "before"), 1);
	assert_int_equal(cluster_exists(f->s, "crash"), 0);
	/* the store is usable: the dead writer's lock is gone */
	put_cluster(f->s, "after", "ACTIVE");
	check_integrity(f->db);
}

static void test_crash_kill_before_commit(void **state)
{
	struct fx *f = *state;

	run_crash(f, CRASH_KILL_IN_TX);
	/* the old connection of this process still works, and sees nothing */
	assert_int_equal(cluster_exists(f->s, "crash"), 0);
	fx_open(f);
	assert_int_equal(cluster_exists(f->s, "crash"), 0);
	assert_int_equal(crash_tasks(f->s), 0);
	put_cluster(f->s, "after", "ACTIVE");
	check_integrity(f->db);
}

static void test_crash_kill_after_commit(void **state)
{
	struct fx *f = *state;

	run_crash(f, CRASH_KILL_AFTER_COMMIT);
	store_close(f->s);
	f->s = NULL;
	fx_open(f);
	assert_int_equal(cluster_exists(f->s, "crash"), 1);
	assert_int_equal(crash_tasks(f->s), 200);
	check_integrity(f->db);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_creates_schema, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_empty_file_migrates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_migrates_v1_keeps_data, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_migrates_v2_secrets, setup, teardown),

		cmocka_unit_test_setup_teardown(test_open_migrates_v3_services, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_newer_version_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_errors_name_path, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clusters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_taskdefs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tasks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_instances_and_attributes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tags, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cluster_delete_cascades, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transactions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen_persists, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_exit_before_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_kill_before_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_kill_after_commit, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
