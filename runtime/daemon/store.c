/* runtime/daemon/store.c - berthd's state in one SQLite database (store.h).
 *
 * Each object is a row holding its API document (compact JSON text) plus
 * the columns the API filters and sorts on. Those columns are derived here
 * from the document on every put, so they cannot disagree with it:
 *
 *   clusters    name <- clusterName, arn <- clusterArn, status
 *   taskdefs    (family, revision), arn <- taskDefinitionArn, status
 *   tasks       id <- taskArn's last component, cluster <- clusterArn,
 *               family <- taskDefinitionArn, startedBy, group, desiredStatus,
 *               lastStatus, containerInstanceArn's id, launchType,
 *               createdAt, stoppedAt; client_token kept beside them
 *   instances   id and cluster <- containerInstanceArn
 *               (container-instance/<cluster>/<id>), status
 *   attributes  (cluster, targetId, name), value, targetType
 *   tags        (resource ARN, key), value
 *   events      seq, time, cluster, task id and ARN, kind; written by
 *               store_task_put from the difference between the stored and
 *               the new task document (store.h), never by anyone else
 *   secrets     name, arn, description, nonce, ciphertext (+ tag), created,
 *               updated, version: no document, and never a value
 *   services    (cluster <- clusterArn, name <- serviceName), arn <-
 *               serviceArn, status, launchType, schedulingStrategy; the
 *               controller's state (runtime/daemon/services.c) beside the doc
 *   schedules   name, doc (definition and state, runtime/daemon/schedules.c);
 *               schedule_runs: seq, name, time, doc (one per run)
 *   scaling     resource_id ("service/<cluster>/<name>"), doc (scalable
 *               target and its policies, autoscaling.c)
 *   discovery   id (ns-..., srv-..., op id), doc (a Cloud Map namespace,
 *               service or operation, discovery.c)
 *
 * Revisions are never reused: taskdef_families keeps each family's highest
 * revision ever stored, independent of the rows in taskdefs.
 *
 * Tasks, container instances and attributes belong to a cluster row
 * (foreign keys): a task cannot be stored in a cluster that was never
 * created, and store_cluster_delete removes the cluster's tasks, instances,
 * attributes and their tags with it. A cluster deleted through the API is
 * kept as an INACTIVE row instead (DescribeClusters shows it as ECS does);
 * store_cluster_list leaves INACTIVE clusters out, as ListClusters does.
 *
 * Rows are written with UPSERT, never INSERT OR REPLACE: a REPLACE deletes
 * the old row first, which would fire the ON DELETE CASCADE of a cluster.
 *
 * Statements are prepared once and cached per SQL text (the list queries
 * are built from the filters present, so each combination is one cached
 * statement that can use its index) and reset after every use, so no read
 * snapshot stays open between calls. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/error.h"
#include "common/json.h"
#include "common/xalloc.h"
#include "runtime/daemon/store.h"

#define BUSY_TIMEOUT_MS 5000

/* ------------------------------------------------------------ migrations */

/* Schema migrations, in order: migrations[i] takes a database from
 * user_version i to i + 1. Adding version N is one more entry here and
 * STORE_SCHEMA_VERSION N in store.h; each step runs in its own transaction
 * together with the user_version update. */
static const char *const migrations[] = {
	/* 0 -> 1: the first schema */
	"CREATE TABLE clusters ("
	"  name TEXT PRIMARY KEY,"
	"  arn TEXT NOT NULL,"
	"  status TEXT NOT NULL,"
	"  doc TEXT NOT NULL);"
	"CREATE INDEX clusters_status ON clusters(status, name);"

	"CREATE TABLE taskdef_families ("
	"  family TEXT PRIMARY KEY,"
	"  last_revision INTEGER NOT NULL);"
	"CREATE TABLE taskdefs ("
	"  family TEXT NOT NULL REFERENCES taskdef_families(family),"
	"  revision INTEGER NOT NULL,"
	"  arn TEXT NOT NULL UNIQUE,"
	"  status TEXT NOT NULL,"
	"  doc TEXT NOT NULL,"
	"  PRIMARY KEY (family, revision)) WITHOUT ROWID;"
	"CREATE INDEX taskdefs_status ON taskdefs(status, family, revision);"

	"CREATE TABLE tasks ("
	"  id TEXT PRIMARY KEY,"
	"  arn TEXT NOT NULL,"
	"  cluster TEXT NOT NULL REFERENCES clusters(name) ON DELETE CASCADE,"
	"  family TEXT,"
	"  started_by TEXT,"
	"  grp TEXT,"
	"  desired_status TEXT,"
	"  last_status TEXT,"
	"  container_instance TEXT,"
	"  launch_type TEXT,"
	"  created_at REAL,"
	"  stopped_at REAL,"
	"  client_token TEXT,"
	"  doc TEXT NOT NULL);"
	"CREATE INDEX tasks_cluster ON tasks(cluster, id);"
	"CREATE INDEX tasks_desired ON tasks(cluster, desired_status, id);"
	"CREATE INDEX tasks_last ON tasks(cluster, last_status, id);"
	"CREATE INDEX tasks_family ON tasks(cluster, family, id);"
	"CREATE INDEX tasks_started_by ON tasks(cluster, started_by, id);"
	"CREATE INDEX tasks_group ON tasks(cluster, grp, id);"
	"CREATE INDEX tasks_instance ON tasks(container_instance, desired_status, id);"
	"CREATE INDEX tasks_token ON tasks(cluster, client_token) WHERE client_token IS NOT NULL;"
	"CREATE INDEX tasks_stopped ON tasks(last_status, stopped_at);"

	"CREATE TABLE instances ("
	"  id TEXT PRIMARY KEY,"
	"  arn TEXT NOT NULL,"
	"  cluster TEXT NOT NULL REFERENCES clusters(name) ON DELETE CASCADE,"
	"  status TEXT NOT NULL,"
	"  doc TEXT NOT NULL);"
	"CREATE INDEX instances_cluster ON instances(cluster, id);"
	"CREATE INDEX instances_status ON instances(cluster, status, id);"

	"CREATE TABLE attributes ("
	"  cluster TEXT NOT NULL REFERENCES clusters(name) ON DELETE CASCADE,"
	"  target_id TEXT NOT NULL,"
	"  name TEXT NOT NULL,"
	"  value TEXT,"
	"  target_type TEXT NOT NULL,"
	"  PRIMARY KEY (cluster, target_id, name)) WITHOUT ROWID;"
	"CREATE INDEX attributes_name ON attributes(cluster, target_type, name, value);"

	"CREATE TABLE tags ("
	"  arn TEXT NOT NULL,"
	"  key TEXT NOT NULL,"
	"  value TEXT NOT NULL,"
	"  PRIMARY KEY (arn, key)) WITHOUT ROWID;",

	/* 1 -> 2: task state change events. AUTOINCREMENT: a seq is never
	 * reused, also after the newest rows were deleted, so a reader that
	 * polls with the last seq it saw cannot skip a new event. No foreign
	 * key: events are history and outlive their task and cluster. */
	"CREATE TABLE events ("
	"  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  time REAL NOT NULL,"
	"  cluster TEXT NOT NULL,"
	"  task_id TEXT NOT NULL,"
	"  task_arn TEXT NOT NULL,"
	"  kind TEXT NOT NULL,"
	"  doc TEXT NOT NULL);"
	"CREATE INDEX events_cluster ON events(cluster, seq);"
	"CREATE INDEX events_task ON events(task_id, seq);",

	/* 2 -> 3: secrets (store_secret_*), encrypted by berthd before they
	 * get here: nonce and ciphertext (with its tag), never the value */
	"CREATE TABLE secrets ("
	"  name TEXT PRIMARY KEY,"
	"  arn TEXT NOT NULL UNIQUE,"
	"  description TEXT,"
	"  nonce BLOB NOT NULL,"
	"  ciphertext BLOB NOT NULL,"
	"  created REAL NOT NULL,"
	"  updated REAL NOT NULL,"
	"  version INTEGER NOT NULL) WITHOUT ROWID;",

	/* 3 -> 4: services (store_service_*): the Service document as
	 * DescribeServices shows it, and the controller's state beside it */
	"CREATE TABLE services ("
	"  cluster TEXT NOT NULL REFERENCES clusters(name) ON DELETE CASCADE,"
	"  name TEXT NOT NULL,"
	"  arn TEXT NOT NULL,"
	"  status TEXT NOT NULL,"
	"  launch_type TEXT,"
	"  scheduling TEXT,"
	"  doc TEXT NOT NULL,"
	"  state TEXT NOT NULL,"
	"  PRIMARY KEY (cluster, name)) WITHOUT ROWID;"
	"CREATE INDEX services_status ON services(status, cluster, name);",

	/* 4 -> 5: scheduled tasks (store_schedule_*) and every run of them */
	"CREATE TABLE schedules ("
	"  name TEXT PRIMARY KEY,"
	"  doc TEXT NOT NULL);"
	"CREATE TABLE schedule_runs ("
	"  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  name TEXT NOT NULL,"
	"  time REAL NOT NULL,"
	"  doc TEXT NOT NULL);"
	"CREATE INDEX schedule_runs_name ON schedule_runs(name, seq);",

	/* 5 -> 6: Application Auto Scaling's scalable targets with their
	 * policies (store_scaling_*, autoscaling.c) */
	"CREATE TABLE scaling ("
	"  resource_id TEXT PRIMARY KEY,"
	"  doc TEXT NOT NULL);",

	/* 6 -> 7: Cloud Map namespaces, services and operations
	 * (store_discovery_*, discovery.c) */
	"CREATE TABLE discovery ("
	"  id TEXT PRIMARY KEY,"
	"  doc TEXT NOT NULL);",
};

_Static_assert(sizeof(migrations) / sizeof(migrations[0]) == STORE_SCHEMA_VERSION,
	       "one migration per schema version");

/* ----------------------------------------------------------------- state */

struct stmt_ent {
	char *sql;
	sqlite3_stmt *st;
};

struct store {
	sqlite3 *db;
	char *path;
	bool in_tx;
	int64_t events_max;
	struct stmt_ent *stmts;
	size_t n_stmts;
	store_hook_fn hook;        /* store_set_hook */
	void *hook_ctx;
};

void store_set_hook(struct store *s, store_hook_fn fn, void *ctx)
{
	s->hook = fn;
	s->hook_ctx = ctx;
}

static void changed(struct store *s, char kind, const char *key, bool deleted)
{
	if (s->hook)
		s->hook(s->hook_ctx, kind, key, deleted);
}

/* A statement is reset (and its bindings cleared) when the local holding
 * it goes out of scope: no read transaction outlives the call. */
static void stmt_resetp(sqlite3_stmt **st)
{
	if (*st) {
		sqlite3_reset(*st);
		sqlite3_clear_bindings(*st);
	}
}
#define cleanup_stmt __attribute__((cleanup(stmt_resetp)))

/* "<path>: <what>: <SQLite's message>" */
static int db_err(struct store *s, struct berr **err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int db_err(struct store *s, struct berr **err, const char *fmt, ...)
{
	cleanup_free char *what = NULL;
	va_list ap;

	va_start(ap, fmt);
	what = xvasprintf(fmt, ap);
	va_end(ap);
	return berr_set(err, 0, "database %s: %s: %s", s->path, what, sqlite3_errmsg(s->db));
}

static int doc_err(struct store *s, struct berr **err, const char *kind, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int doc_err(struct store *s, struct berr **err, const char *kind, const char *fmt, ...)
{
	cleanup_free char *what = NULL;
	va_list ap;

	va_start(ap, fmt);
	what = xvasprintf(fmt, ap);
	va_end(ap);
	return berr_set(err, EINVAL, "database %s: %s document: %s", s->path, kind, what);
}

static int prep(struct store *s, const char *sql, sqlite3_stmt **out, struct berr **err)
{
	sqlite3_stmt *st = NULL;

	for (size_t i = 0; i < s->n_stmts; i++) {
		if (strcmp(s->stmts[i].sql, sql) == 0) {
			*out = s->stmts[i].st;
			return 0;
		}
	}
	if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK)
		return db_err(s, err, "prepare \"%s\"", sql);
	s->stmts = xreallocarray(s->stmts, s->n_stmts + 1, sizeof(*s->stmts));
	s->stmts[s->n_stmts].sql = xstrdup(sql);
	s->stmts[s->n_stmts].st = st;
	s->n_stmts++;
	*out = st;
	return 0;
}

/* 1: a row, 0: done, negative: error naming `what`. */
static int step(struct store *s, sqlite3_stmt *st, const char *what, struct berr **err)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return db_err(s, err, "%s", what);
}

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i);
}

static void bind_real(sqlite3_stmt *st, int i, const json_t *v)
{
	if (json_is_number(v))
		sqlite3_bind_double(st, i, json_number_value(v));
	else
		sqlite3_bind_null(st, i);
}

static int exec(struct store *s, const char *sql, const char *what, struct berr **err)
{
	if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return db_err(s, err, "%s", what);
	return 0;
}

/* The document in column col as JSON. */
static int col_doc(struct store *s, sqlite3_stmt *st, int col, const char *kind, json_t **out,
		   struct berr **err)
{
	const char *text = (const char *)sqlite3_column_text(st, col);
	json_error_t jerr;

	if (!text)
		return berr_set(err, EIO, "database %s: %s row without a document", s->path, kind);
	*out = json_loads(text, 0, &jerr);
	if (!*out)
		return berr_set(err, EIO, "database %s: stored %s document is not JSON: %s",
				s->path, kind, jerr.text);
	return 0;
}

static char *doc_text(const json_t *doc)
{
	char *t = json_dumps(doc, JSON_COMPACT | JSON_ENCODE_ANY);

	if (!t)
		abort();   /* only on OOM or a non-encodable value (NaN), both bugs here */
	return t;
}

static const char *doc_str(const json_t *doc, const char *key)
{
	return json_string_value(json_object_get(doc, key));
}

static int doc_need_str(struct store *s, const json_t *doc, const char *kind, const char *key,
			const char **out, struct berr **err)
{
	if (!json_is_object(doc))
		return doc_err(s, err, kind, "expected object, got %s", bjson_type_name(doc));
	*out = doc_str(doc, key);
	if (!*out || !**out)
		return doc_err(s, err, kind, "%s: required (a non-empty string)", key);
	return 0;
}

/* "arn:aws:ecs:region:account:REST" -> REST; anything else unchanged. */
static const char *arn_resource(const char *arn)
{
	const char *p = arn;

	if (strncmp(arn, "arn:", 4) != 0)
		return arn;
	for (int i = 0; i < 5; i++) {
		p = strchr(p, ':');
		if (!p)
			return arn;
		p++;
	}
	return p;
}

static const char *last_component(const char *s)
{
	const char *slash = strrchr(s, '/');

	return slash ? slash + 1 : s;
}

/* ------------------------------------------------------ open and migrate */

static int pragma_int(struct store *s, const char *sql, int *out, struct berr **err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
		return db_err(s, err, "%s", sql);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		int r = db_err(s, err, "%s", sql);

		sqlite3_finalize(st);
		return r;
	}
	*out = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return 0;
}

static int set_wal(struct store *s, struct berr **err)
{
	sqlite3_stmt *st = NULL;
	const char *mode;
	int r = 0;

	if (sqlite3_prepare_v2(s->db, "PRAGMA journal_mode=WAL", -1, &st, NULL) != SQLITE_OK)
		return db_err(s, err, "PRAGMA journal_mode=WAL");
	if (sqlite3_step(st) != SQLITE_ROW) {
		r = db_err(s, err, "PRAGMA journal_mode=WAL");
	} else {
		mode = (const char *)sqlite3_column_text(st, 0);
		if (!mode || strcmp(mode, "wal") != 0)
			r = berr_set(err, 0, "database %s: cannot use WAL journaling (journal mode "
				     "stays \"%s\"); is it on a filesystem without shared memory?",
				     s->path, mode ? mode : "?");
	}
	sqlite3_finalize(st);
	return r;
}

static int migrate(struct store *s, struct berr **err)
{
	int version = 0;
	int r;

	if ((r = pragma_int(s, "PRAGMA user_version", &version, err)) < 0)
		return r;
	if (version > STORE_SCHEMA_VERSION)
		return berr_set(err, 0, "database %s has schema version %d, but this berth knows "
				"versions up to %d: it was written by a newer berth (use that one, "
				"or another root)", s->path, version, STORE_SCHEMA_VERSION);
	if (version < 0)
		return berr_set(err, 0, "database %s: schema version %d is not valid", s->path,
				version);
	for (int v = version; v < STORE_SCHEMA_VERSION; v++) {
		cleanup_free char *setv = xasprintf("PRAGMA user_version=%d", v + 1);

		if ((r = exec(s, "BEGIN IMMEDIATE", "begin migration", err)) < 0)
			return r;
		if ((r = exec(s, migrations[v], "migrate schema", err)) < 0 ||
		    (r = exec(s, setv, "set schema version", err)) < 0 ||
		    (r = exec(s, "COMMIT", "commit migration", err)) < 0) {
			sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
			return berr_wrap(err, "migrate schema from version %d to %d", v, v + 1);
		}
	}
	return 0;
}

int store_open(const char *path, struct store **out, struct berr **err)
{
	struct store *s = xzalloc(sizeof(*s));
	int fd, r;

	*out = NULL;
	s->path = xstrdup(path);
	s->events_max = STORE_EVENTS_MAX;
	/* the state is root's: create the file 0600 before SQLite would make
	 * it 0644 (the -wal and -shm files take the database's mode) */
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		r = berr_set(err, errno, "open database %s", path);
		goto fail;
	}
	close(fd);
	if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW |
			    SQLITE_OPEN_EXRESCODE, NULL) != SQLITE_OK) {
		r = s->db ? db_err(s, err, "open") : berr_set(err, ENOMEM, "open database %s", path);
		goto fail;
	}
	sqlite3_extended_result_codes(s->db, 1);
	if (sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS) != SQLITE_OK) {
		r = db_err(s, err, "set busy timeout");
		goto fail;
	}
	if ((r = set_wal(s, err)) < 0 ||
	    (r = exec(s, "PRAGMA synchronous=NORMAL", "PRAGMA synchronous=NORMAL", err)) < 0 ||
	    (r = exec(s, "PRAGMA foreign_keys=ON", "PRAGMA foreign_keys=ON", err)) < 0 ||
	    (r = migrate(s, err)) < 0)
		goto fail;
	*out = s;
	return 0;
fail:
	store_close(s);
	return r;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n_stmts; i++) {
		sqlite3_finalize(s->stmts[i].st);
		free(s->stmts[i].sql);
	}
	free(s->stmts);
	if (s->db)
		sqlite3_close_v2(s->db);
	free(s->path);
	free(s);
}

int store_schema_version(struct store *s)
{
	int v = -1;

	if (pragma_int(s, "PRAGMA user_version", &v, NULL) < 0)
		return -1;
	return v;
}

/* ---------------------------------------------------------- transactions */

int store_begin(struct store *s, struct berr **err)
{
	if (s->in_tx || !sqlite3_get_autocommit(s->db))
		return berr_set(err, EBUSY, "database %s: a transaction is already open (they do "
				"not nest)", s->path);
	if (exec(s, "BEGIN IMMEDIATE", "begin transaction", err) < 0)
		return -1;
	s->in_tx = true;
	return 0;
}

int store_commit(struct store *s, struct berr **err)
{
	if (!s->in_tx)
		return berr_set(err, EINVAL, "database %s: commit without a transaction", s->path);
	if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		int r = db_err(s, err, "commit");

		/* a failed COMMIT may leave the transaction open (SQLITE_BUSY)
		 * or have rolled it back already: either way it is over */
		if (!sqlite3_get_autocommit(s->db))
			sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		s->in_tx = false;
		return r;
	}
	s->in_tx = false;
	return 0;
}

void store_rollback(struct store *s)
{
	/* some errors (SQLITE_FULL, IOERR, ...) roll back by themselves */
	if (!sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	s->in_tx = false;
}

/* Writers run in the caller's transaction, or in their own. */
static int auto_begin(struct store *s, bool *own, struct berr **err)
{
	*own = false;
	if (s->in_tx)
		return 0;
	if (store_begin(s, err) < 0)
		return -1;
	*own = true;
	return 0;
}

static int auto_end(struct store *s, bool own, int r, struct berr **err)
{
	if (!own)
		return r;
	if (r < 0) {
		store_rollback(s);
		return r;
	}
	return store_commit(s, err);
}

/* --------------------------------------------------------------- paging */

static int64_t page_fetch(const struct store_page *pg)
{
	/* one row more than the page, to know whether another page exists;
	 * -1: everything */
	if (!pg || pg->limit <= 0)
		return -1;
	return pg->limit + 1;
}

/* Rows are counted by the caller; true when it got one more than the page. */
static bool page_full(const struct store_page *pg, int64_t n)
{
	return pg && pg->limit > 0 && n >= pg->limit;
}

static const char *page_after(const struct store_page *pg)
{
	return pg ? pg->after : NULL;
}

/* A query with optional conditions, built as SQL text so each combination
 * is its own cached statement; binds follow the order of the conditions. */
struct query {
	char sql[1024];
	size_t len;
	const char *texts[12];
	int n_texts;
};

static void q_add(struct query *q, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void q_add(struct query *q, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(q->sql + q->len, sizeof(q->sql) - q->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(q->sql) - q->len)
		abort();   /* the queries are fixed text: cannot happen */
	q->len += (size_t)n;
}

/* " AND <cond>" binding `v`, when v is given. */
static void q_cond(struct query *q, const char *cond, const char *v)
{
	if (!v)
		return;
	q_add(q, " AND %s", cond);
	if (q->n_texts >= (int)(sizeof(q->texts) / sizeof(q->texts[0])))
		abort();
	q->texts[q->n_texts++] = v;
}

static int q_prep(struct store *s, struct query *q, int64_t limit, sqlite3_stmt **out,
		  struct berr **err)
{
	int r;

	q_add(q, " LIMIT ?");
	if ((r = prep(s, q->sql, out, err)) < 0)
		return r;
	for (int i = 0; i < q->n_texts; i++)
		bind_text(*out, i + 1, q->texts[i]);
	sqlite3_bind_int64(*out, q->n_texts + 1, limit);
	return 0;
}

/* ------------------------------------------------------------- clusters */

/* Also drops the tags of the cluster and of every task and container
 * instance that the foreign keys delete with it. */
static int cluster_drop_tags(struct store *s, const char *name, struct berr **err)
{
	static const char *const sql[] = {
		"DELETE FROM tags WHERE arn IN (SELECT arn FROM clusters WHERE name = ?1)",
		"DELETE FROM tags WHERE arn IN (SELECT arn FROM tasks WHERE cluster = ?1)",
		"DELETE FROM tags WHERE arn IN (SELECT arn FROM instances WHERE cluster = ?1)",
	};
	int r;

	for (size_t i = 0; i < sizeof(sql) / sizeof(sql[0]); i++) {
		cleanup_stmt sqlite3_stmt *st = NULL;

		if ((r = prep(s, sql[i], &st, err)) < 0)
			return r;
		bind_text(st, 1, name);
		if ((r = step(s, st, "drop tags of a deleted cluster", err)) < 0)
			return r;
	}
	return 0;
}

int store_cluster_put(struct store *s, const json_t *doc, struct berr **err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	cleanup_free char *text = NULL;
	const char *name, *arn, *status;
	bool own;
	int r;

	if ((r = doc_need_str(s, doc, "cluster", "clusterName", &name, err)) < 0 ||
	    (r = doc_need_str(s, doc, "cluster", "clusterArn", &arn, err)) < 0 ||
	    (r = doc_need_str(s, doc, "cluster", "status", &status, err)) < 0)
		return r;
	text = doc_text(doc);
	if ((r = auto_begin(s, &own, err)) < 0)
		return r;
	r = prep(s, "INSERT INTO clusters(name, arn, status, doc) VALUES(?, ?, ?, ?) "
		 "ON CONFLICT(name) DO UPDATE SET arn = excluded.arn, status = excluded.status, "
		 "doc = excluded.doc", &st, err);
	if (r >= 0) {
		bind_text(st, 1, name);
		bind_text(st, 2, arn);
		bind_text(st, 3, status);
		bind_text(st, 4, text);
		r = step(s, st, "store cluster", err);
	}
	stmt_resetp(&st);
	if (r >= 0)
		changed(s, STORE_K_CLUSTER, name, false);
	return auto_end(s, own, r, err);
}

/* The doc of the row `sql` (one text parameter: key) selects: 1 with
 * *doc, 0 when there is none. step_what names the query in errors ("get
 * task"), what the document ("task"). */
static int get_doc(struct store *s, const char *sql, const char *key, const char *step_what,
		   const char *what, json_t **doc, struct berr **err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r;

	*doc = NULL;
	if ((r = prep(s, sql, &st, err)) < 0)
		return r;
	bind_text(st, 1, key);
	if ((r = step(s, st, step_what, err)) <= 0)
		return r;
	if ((r = col_doc(s, st, 0, what, doc, err)) < 0)
		return r;
	return 1;
}

int store_cluster_get(struct store *s, const char *name, json_t **doc, struct berr **err)
{
	return get_doc(s, "SELECT doc FROM clusters WHERE name = ?", name, "get cluster", "cluster",
		       doc, err);
}

/* Rows of st into a new array, one page: column 0 as a document (docs)
 * or as a string (an ARN, a name). kind names the rows in errors. */
static int collect(struct store *s, sqlite3_stmt *st, const char *kind, bool docs,
		   const struct store_page *pg, json_t **out, bool *more, struct berr **err)
{
	cleanup_json json_t *res = json_array();
	int64_t n = 0;
	int r;

	while ((r = step(s, st, kind, err)) > 0) {
		json_t *v = NULL;

		if (page_full(pg, n)) {
			*more = true;
			break;
		}
		if (!docs)
			v = json_string((const char *)sqlite3_column_text(st, 0));
		else if ((r = col_doc(s, st, 0, kind, &v, err)) < 0)
			return r;
		json_array_append_new(res, v);
		n++;
	}
	if (r < 0)
		return r;
	*out = steal_pointer(&res);
	return 0;
}

static int collect_docs(struct store *s, sqlite3_stmt *st, const char *kind,
			const struct store_page *pg, json_t **docs, bool *more, struct berr **err)
{
	return collect(s, st, kind, true, pg, docs, more, err);
}

int store_cluster_list(struct store *s, const struct store_page *pg, json_t **arns, bool *more,
		       struct berr **err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	struct query q = { .len = 0 };
	int r;

	*arns = NULL;
	*more = false;
	q_add(&q, "SELECT arn FROM clusters WHERE status != 'INACTIVE'");
	q_cond(&q, "name > ?", page_after(pg));
	q_add(&q, " ORDER BY name");
	if ((r = q_prep(s, &q, page_fetch(pg), &st, err)) < 0)
		return r;
	return collect(s, st, "list clusters", false, pg, arns, more, err);
}

int store_cluster_delete(struct store *s, const char *name, struct berr **err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	bool own;
	int r;

	if ((r = auto_begin(s, &own, err)) < 0)
		return r;
	r = cluster_drop_tags(s, name, err);
	if (r >= 0)
		r = prep(s, "DELETE FROM clusters WHERE name = ?", &st, err);
	if (r >= 0) {
		bind_text(st, 1, name);
		r = step(s, st, "delete cluster", err);
	}
	stmt_resetp(&st);
	if (r >= 0)
		changed(s, STORE_K_CLUSTER, name, true);
	return auto_end(s, own, r, err);
}

/* ------------------------------------------------------ task definitions */

int store_taskdef_next_revision(struct store *s, const char *family, int64_t *rev,
				struct berr **err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r;

	*rev = 1;
	if ((r = prep(s, "SELECT last_revision FROM taskdef_families WHERE family = ?", &st,
		      err)) < 0)
		return r;
	bind_text(st, 1, family);
	if ((r = step(s, st, "get last revision", err)) < 0)
		return r;
	if (r > 0)
		*rev = sqlite3_column_int64(st, 0) + 1;
	return 0;
}

int store_taskdef_put(struct store *s, const json_t *doc, struct berr **err)
{
	cleanup_stmt sqlite3_stmt *fam = NULL;
	cleanup_stmt sqlite3_stmt *st = NULL;
	cleanup_free char *text = NULL;
	const char *family, *arn, *status;
	json_t *rev;
	bool own;
	int r;

	if ((r = doc_need_str(s, doc, "task definition", "family", &family, err)) < 0 ||
	    (r = doc_need_str(s, doc, "task definition", "taskDefinitionArn", &arn, err)) < 0 ||
	    (r = doc_need_str(s, doc, "task definition", "status", &status, err)) < 0)
		return r;
	rev = json_object_get(doc, "revision");
	if (!json_is_integer(rev) || json_integer_value(rev) < 1)
		return doc_err(s, err, "task definition", "revision: required (an integer >= 1)");
	text = doc_text(doc);
	if ((r = auto_begin(s, &own, err)) < 0)
		return r;
	r = prep(s, "INSERT INTO taskdef_families(family, last_revision) VALUES(?, ?) "
		 "ON CONFLICT(family) DO UPDATE SET "
		 "last_revision = max(last_revision, excluded.last_revision)", &fam, err);
	if (r >= 0) {
		bind_text(fam, 1, family);
		sqlite3_bind_int64(fam, 2, json_integer_value(rev));
		r = step(s, fam, "store task definition family", err);
	}
	if (r >= 0)
		r = prep(s, "INSERT INTO taskdefs(family, revision, arn, status, doc) "
			 "VALUES(?, ?, ?, ?, ?) ON CONFLICT(family, revision) DO UPDATE SET "
			 "arn = excluded.arn, status = excluded.status, doc = excluded.doc", &st, err);
	if (r >= 0) {
		bind_text(st, 1, family);
		sqlite3_bind_int64(st, 2, json_integer_value(rev));
		bind_text(st, 3, arn);
		bind_text(st, 4, status);
		bind_text(st, 5, text);
		r = step(s, st, "store task definition", err);
	}
	stmt_resetp(&fam);
	stmt_resetp(&st);
	if (r >= 0) {
		char key[300];

		snprintf(key, sizeof(key), "%s:%lld", family, (long long)json_integer_value(rev));
		changed(s, STORE_K_TASKDEF, key, false);
	}
	return auto_end(s, own, r, err);
}

int store_taskdef_get(struct store *s, const char *family, int64_t rev, json_t **doc,
		      struct berr **err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r;

	*doc = NULL;
	if (rev > 0) {
		r = prep(s, "SELECT doc FROM taskdefs WHERE family = ? AND revision = ?", &st, err);
		if (r < 0)
			return r;
		sqlite3_bind_int64(st, 2, rev);
	} else {
		r = prep(s, "SELECT doc FROM taskdefs WHERE family = ? AND status = 'ACTIVE' "
			 "ORDER BY revision DESC LIMIT 1", &st, err);
		if (r < 0)
			return r;
	}
	bind_text(st, 1, family);
	if ((r = step(s, st, "get task definition", err)) <= 0)
		return r;
	if ((r = col_doc(s, st, 0, "task definition", doc, err)) < 0)
		return r;
	return 1;
}

/* "<family>:<revision>" (or a whole ARN ending so) */
static int parse_taskdef_key(struct store *s, const char *key, char **family, int64_t *rev,
			     struct berr **err)
{
	const char *tail = last_component(arn_resource(key));
	const char *colon = strrchr(tail, ':');
	char *end = NULL;
	long long v;

	if (!colon || colon == tail)
		goto bad;
	errno = 0;
	v = strtoll(colon + 1, &end, 10);
	if (errno || !end || *end || end == colon + 1 || v < 1)
		goto bad;
	*family = xstrndup(tail, (size_t)(colon - tail));
	*rev = v;
	return 0;
bad:
	return berr_set(err, EINVAL, "database %s: page key \"%s\" is not family:revision",
			s->path, berr_q(key));
}

/* ListTaskDefinitions' familyPrefix is "the full family name" in ECS:
 * `family_prefix` here matches the family exactly. */
int store_taskdef_list(struct store *s, const char *family_prefix, const char *status, bool desc,
		       const struct store_page *pg, json_t **arns, bool *more, struct berr **err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	cleanup_free char *after_family = NULL;
	char after_rev[24];
	struct query q = { .len = 0 };
	int64_t rev = 0;
	int r;

	*arns = NULL;
	*more = false;
	if (page_after(pg)) {
		if ((r = parse_taskdef_key(s, pg->after, &after_family, &rev, err)) < 0)
			return r;
		snprintf(after_rev, sizeof(after_rev), "%" PRId64, rev);
	}
	q_add(&q, "SELECT arn FROM taskdefs WHERE 1");
	q_cond(&q, "family = ?", family_prefix);
	q_cond(&q, "status = ?", status);
	if (after_family) {
		q_cond(&q, desc ? "(family, revision) < (?, CAST(? AS INTEGER))"
				: "(family, revision) > (?, CAST(? AS INTEGER))", after_family);
		q.texts[q.n_texts++] = after_rev;
	}
	q_add(&q, desc ? " ORDER BY family DESC, revision DESC" : " ORDER BY family, revision");
	if ((r = q_prep(s, &q, page_fetch(pg), &st, err)) < 0)
		return r;
	return collect(s, st, "list task definitions", false, pg, arns, more, err);
}

int store_taskdef_families(struct store *s, const char *family_prefix, const char *status,
			   const struct store_page *pg, json_t **families, bool *more,
			   struct berr **err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	struct query q = { .len = 0 };
	int r;

	*families = NULL;
	*more = false;
	if (status && strcmp(status, "ACTIVE") != 0 && strcmp(status, "INACTIVE") != 0)
		return berr_set(err, EINVAL, "database %s: family status \"%s\" is not ACTIVE or "
				"INACTIVE", s->path, berr_q(status));
	q_add(&q, "SELECT family FROM taskdef_families f WHERE 1");
	q_cond(&q, "substr(family, 1, length(?1)) = ?1", family_prefix);
	if (status)
		q_add(&q, " AND %s (SELECT 1 FROM taskdefs t WHERE t.family = f.family AND "
		      "t.status = 'ACTIVE')", strcmp(status, "ACTIVE") == 0 ? "EXISTS" : "NOT EXISTS");
	q_cond(&q, "family > ?", page_after(pg));
	q_add(&q, " ORDER BY family");
	/* ?1 is used twice in the prefix condition: number the rest after it */
	if ((r = q_prep(s, &q, page_fetch(pg), &st, err)) < 0)
		return r;
	return collect(s, st, "list task definition families", false, pg, families, more, err);
}

/* ----------------------------------------------------------------- tasks */

/* task-definition/<family>:<rev> -> family (xmalloc'd), or NULL. */
static char *taskdef_family(const char *arn)
{
	const char *res, *colon;

	if (!arn)
		return NULL;
	res = arn_resource(arn);
	if (strncmp(res, "task-definition/", 16) == 0)
		res += 16;
	colon = strrchr(res, ':');
	return colon ? xstrndup(res, (size_t)(colon - res)) : xstrdup(res);
}

/* cluster/<name> -> name */
static const char *cluster_of_arn(const char *arn)
{
	const char *res = arn_resource(arn);

	return strncmp(res, "cluster/", 8) == 0 ? res + 8 : res;
}

/* ------------------------------------------------------------------ events */

void store_set_events_max(struct store *s, int64_t max)
{
	s->events_max = max > 0 ? max : 1;
}

static double now_real(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)(ts.tv_nsec / 1000) / 1e6;
}

static const json_t *container_named(const json_t *doc, const char *name)
{
	const json_t *c;
	size_t i;

	json_array_foreach(json_object_get(doc, "containers"), i, c)
		if (!strcmp(doc_str(c, "name") ?: "", name))
			return c;
	return NULL;
}

/* " (code: reason)", " (code)", " (reason)" or "" (xmalloc'd). */
static char *why(const char *code, const char *reason)
{
	if (code && *code && reason && *reason)
		return xasprintf(" (%s: %s)", code, reason);
	if ((code && *code) || (reason && *reason))
		return xasprintf(" (%s)", code && *code ? code : reason);
	return xstrdup("");
}

/* Append a change; exit_code (may be NULL) is a STOPPED container's. */
static void change(json_t *out, const char *kind, const char *container, const char *status,
		   const char *previous, json_t *exit_code, char *summary)
{
	json_t *c = json_pack("{s:s}", "kind", kind);

	if (container)
		json_object_set_new(c, "container", json_string(container));
	json_object_set_new(c, "status", json_string(status));
	if (previous)
		json_object_set_new(c, "previous", json_string(previous));
	if (exit_code)
		json_object_set(c, "exitCode", exit_code);
	json_object_set_new(c, "summary", json_string(summary));
	free(summary);
	json_array_append_new(out, c);
}

/* The changes from `old` (NULL: a new task) to `doc` that are events, in
 * the order store.h gives. */
static json_t *task_changes(const json_t *old, const json_t *doc)
{
	json_t *out = json_array(), *c;
	const char *od = old ? doc_str(old, "desiredStatus") ?: "" : "RUNNING";
	const char *nd = doc_str(doc, "desiredStatus");
	const char *ol = old ? doc_str(old, "lastStatus") : NULL;
	const char *nl = doc_str(doc, "lastStatus");
	size_t i;

	if (nd && strcmp(nd, od)) {
		cleanup_free char *w = strcmp(nd, "STOPPED") ? xstrdup("")
					: why(NULL, doc_str(doc, "stoppedReason"));

		change(out, "task-desired-status", NULL, nd, old ? od : NULL, NULL,
		       xasprintf("task desired %s%s", nd, w));
	}
	json_array_foreach(json_object_get(doc, "containers"), i, c) {
		const char *name = doc_str(c, "name");
		const json_t *oc = old && name ? container_named(old, name) : NULL;
		const char *ocs = oc ? doc_str(oc, "lastStatus") ?: "PENDING" : "PENDING";
		const char *ncs = doc_str(c, "lastStatus");
		const char *oh = oc ? doc_str(oc, "healthStatus") ?: "UNKNOWN" : "UNKNOWN";
		const char *nh = doc_str(c, "healthStatus") ?: "UNKNOWN";

		if (!name)
			continue;
		if (ncs && strcmp(ncs, ocs)) {
			bool stopped = !strcmp(ncs, "STOPPED");
			json_t *x = json_object_get(c, "exitCode");
			cleanup_free char *w = stopped ? why(NULL, doc_str(c, "reason")) : xstrdup("");
			cleanup_free char *code = stopped && json_is_integer(x)
				? xasprintf(" exit %" PRId64, (int64_t)json_integer_value(x)) : xstrdup("");

			change(out, "container-status", name, ncs, ocs,
			       stopped && json_is_integer(x) ? x : NULL,
			       xasprintf("container %s %s%s%s", name, ncs, code, w));
		}
		if (strcmp(nh, oh))
			change(out, "container-health", name, nh, oh, NULL,
			       xasprintf("container %s %s", name, nh));
	}
	if (nl && (!ol || strcmp(nl, ol))) {
		cleanup_free char *w = strcmp(nl, "STOPPED") ? xstrdup("")
					: why(doc_str(doc, "stopCode"), doc_str(doc, "stoppedReason"));

		change(out, "task-status", NULL, nl, ol, NULL, xasprintf("task %s%s", nl, w));
	}
	return out;
}

/* Record the events of a task put (inside its transaction): `id` is the
 * task's, `cluster` its cluster name. */
static int record_events(struct store *s, const char *id, const char *cluster, const char *arn,
			 const json_t *doc, struct berr **err)
{
	cleanup_stmt sqlite3_stmt *old_st = NULL;
	cleanup_stmt sqlite3_stmt *ins = NULL;
	cleanup_stmt sqlite3_stmt *trim = NULL;
	cleanup_json json_t *old = NULL, *changes = NULL, *detail = NULL;
	double now = now_real();
	json_t *c;
	size_t i;
	int r;

	if ((r = prep(s, "SELECT doc FROM tasks WHERE id = ?", &old_st, err)) < 0)
		return r;
	bind_text(old_st, 1, id);
	if ((r = step(s, old_st, "get task for its events", err)) < 0)
		return r;
	if (r > 0 && (r = col_doc(s, old_st, 0, "task", &old, err)) < 0)
		return r;
	stmt_resetp(&old_st);
	changes = task_changes(old, doc);
	if (!json_array_size(changes))
		return 0;
	detail = json_deep_copy(doc);
	json_object_set_new(detail, "updatedAt", json_real(now));
	if ((r = prep(s, "INSERT INTO events(time, cluster, task_id, task_arn, kind, doc) "
		      "VALUES(?, ?, ?, ?, ?, ?)", &ins, err)) < 0)
		return r;
	json_array_foreach(changes, i, c) {
		cleanup_json json_t *ev = json_pack("{s:f, s:s, s:s}", "time", now, "cluster", cluster,
						    "taskArn", arn);
		cleanup_free char *text = NULL;

		json_object_update(ev, c);
		json_object_set_new(ev, "detail-type", json_string("ECS Task State Change"));
		json_object_set(ev, "detail", detail);
		text = doc_text(ev);
		sqlite3_reset(ins);
		sqlite3_bind_double(ins, 1, now);
		bind_text(ins, 2, cluster);
		bind_text(ins, 3, id);
		bind_text(ins, 4, arn);
		bind_text(ins, 5, doc_str(c, "kind"));
		bind_text(ins, 6, text);
		if ((r = step(s, ins, "record event", err)) < 0)
			return r;
	}
	/* keep the newest events_max sequence numbers */
	if ((r = prep(s, "DELETE FROM events WHERE seq <= last_insert_rowid() - ?", &trim, err)) < 0)
		return r;
	sqlite3_bind_int64(trim, 1, s->events_max);
	return step(s, trim, "drop old events", err);
}

int store_events_list(struct store *s, const struct store_event_filter *f, int64_t limit,
		      json_t **events, int64_t *last_seq, int64_t *first_seq, bool *more,
		      struct berr **err)
{
	cleanup_json json_t *res = json_array();
	cleanup_stmt sqlite3_stmt *range = NULL;
	cleanup_stmt sqlite3_stmt *st = NULL;
	struct query q = { .len = 0 };
	int64_t max = 0, n = 0, after = f && f->after_seq > 0 ? f->after_seq : 0;
	int r, b = 1;

	*events = NULL;
	*last_seq = *first_seq = 0;
	*more = false;
	if (limit <= 0)
		return berr_set(err, EINVAL, "database %s: list events: limit %" PRId64 " is not "
				"positive", s->path, limit);
	if ((r = prep(s, "SELECT coalesce(max(seq), 0), coalesce(min(seq), 0) FROM events",
		      &range, err)) < 0 ||
	    (r = step(s, range, "event range", err)) < 0)
		return r;
	max = sqlite3_column_int64(range, 0);
	*first_seq = sqlite3_column_int64(range, 1);
	stmt_resetp(&range);

	/* up to the newest seq seen above: what lies beyond is the next call's */
	q_add(&q, "SELECT seq, doc FROM events WHERE seq > ? AND seq <= ?");
	if (f && f->cluster)
		q_add(&q, " AND cluster = ?");
	if (f && f->task_id)
		q_add(&q, " AND task_id = ?");
	if (f && f->since > 0)
		q_add(&q, " AND time >= ?");
	if (f && f->until > 0)
		q_add(&q, " AND time <= ?");
	q_add(&q, " ORDER BY seq LIMIT ?");
	if ((r = prep(s, q.sql, &st, err)) < 0)
		return r;
	sqlite3_bind_int64(st, b++, after);
	sqlite3_bind_int64(st, b++, max);
	if (f && f->cluster)
		bind_text(st, b++, f->cluster);
	if (f && f->task_id)
		bind_text(st, b++, f->task_id);
	if (f && f->since > 0)
		sqlite3_bind_double(st, b++, f->since);
	if (f && f->until > 0)
		sqlite3_bind_double(st, b++, f->until);
	sqlite3_bind_int64(st, b, limit + 1);
	*last_seq = max > after ? max : after;
	while ((r = step(s, st, "list events", err)) > 0) {
		json_t *ev = NULL;

		if (n >= limit) {
			*more = true;
			*last_seq = json_integer_value(json_object_get(
				json_array_get(res, json_array_size(res) - 1), "seq"));
			break;
		}
		if ((r = col_doc(s, st, 1, "event", &ev, err)) < 0)
			return r;
		if (!json_is_object(ev)) {
			json_decref(ev);
			return berr_set(err, EIO, "database %s: stored event %" PRId64 " is not an "
					"object", s->path, (int64_t)sqlite3_column_int64(st, 0));
		}
		/* seq first, as people read it */
		{
			json_t *o = json_pack("{s:I}", "seq", (json_int_t)sqlite3_column_int64(st, 0));

			json_object_update(o, ev);
			json_decref(ev);
			json_array_append_new(res, o);
		}
		n++;
	}
	if (r < 0)
		return r;
	*events = steal_pointer(&res);
	return 0;
}

/* ----------------------------------------------------------------- tasks (put) */

int store_task_put(struct store *s, const json_t *doc, const char *client_token,
		   struct berr **err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	cleanup_free char *text = NULL;
	cleanup_free char *family = NULL;
	const char *arn, *cluster_arn, *ci;
	bool own;
	int r;

	if ((r = doc_need_str(s, doc, "task", "taskArn", &arn, err)) < 0 ||
	    (r = doc_need_str(s, doc, "task", "clusterArn", &cluster_arn, err)) < 0)
		return r;
	if (!*last_component(arn))
		return doc_err(s, err, "task", "taskArn: \"%s\" has no task id", berr_q(arn));
	family = taskdef_family(doc_str(doc, "taskDefinitionArn"));
	ci = doc_str(doc, "containerInstanceArn");
	text = doc_text(doc);
	if ((r = auto_begin(s, &own, err)) < 0)
		return r;
	/* the events compare with the stored document: before it is replaced */
	r = record_events(s, last_component(arn), cluster_of_arn(cluster_arn), arn, doc, err);
	if (r < 0)
		return auto_end(s, own, r, err);
	/* a put without a token keeps the one stored with the task */
	r = prep(s, "INSERT INTO tasks(id, arn, cluster, family, started_by, grp, desired_status, "
		 "last_status, container_instance, launch_type, created_at, stopped_at, "
		 "client_token, doc) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
		 "ON CONFLICT(id) DO UPDATE SET arn = excluded.arn, cluster = excluded.cluster, "
		 "family = excluded.family, started_by = excluded.started_by, grp = excluded.grp, "
		 "desired_status = excluded.desired_status, last_status = excluded.last_status, "
		 "container_instance = excluded.container_instance, "
		 "launch_type = excluded.launch_type, created_at = excluded.created_at, "
		 "stopped_at = excluded.stopped_at, "
		 "client_token = coalesce(excluded.client_token, tasks.client_token), "
		 "doc = excluded.doc", &st, err);
	if (r >= 0) {
		bind_text(st, 1, last_component(arn));
		bind_text(st, 2, arn);
		bind_text(st, 3, cluster_of_arn(cluster_arn));
		bind_text(st, 4, family);
		bind_text(st, 5, doc_str(doc, "startedBy"));
		bind_text(st, 6, doc_str(doc, "group"));
		bind_text(st, 7, doc_str(doc, "desiredStatus"));
		bind_text(st, 8, doc_str(doc, "lastStatus"));
		bind_text(st, 9, ci ? last_component(ci) : NULL);
		bind_text(st, 10, doc_str(doc, "launchType"));
		bind_real(st, 11, json_object_get(doc, "createdAt"));
		bind_real(st, 12, json_object_get(doc, "stoppedAt"));
		bind_text(st, 13, client_token);
		bind_text(st, 14, text);
		r = step(s, st, "store task", err);
	}
	stmt_resetp(&st);
	if (r >= 0)
		changed(s, STORE_K_TASK, last_component(arn), false);
	return auto_end(s, own, r, err);
}

int store_task_get(struct store *s, const char *id, json_t **doc, struct berr **err)
{
	return get_doc(s, "SELECT doc FROM tasks WHERE id = ?", id, "get task", "task", doc, err);
}

int store_task_list(struct store *s, const struct store_task_filter *f, const struct store_page *pg,
		    json_t **docs, bool *more, struct berr **err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	struct query q = { .len = 0 };
	int r;

	*docs = NULL;
	*more = false;
	if (!f || !f->cluster)
		return berr_set(err, EINVAL, "database %s: list tasks: no cluster given", s->path);
	q_add(&q, "SELECT doc FROM tasks WHERE 1");
	q_cond(&q, "cluster = ?", f->cluster);
	q_cond(&q, "family = ?", f->family);
	q_cond(&q, "started_by = ?", f->started_by);
	q_cond(&q, "grp = ?", f->group);
	q_cond(&q, "desired_status = ?", f->desired_status);
	q_cond(&q, "last_status = ?", f->last_status);
	q_cond(&q, "container_instance = ?",
	       f->container_instance ? last_component(f->container_instance) : NULL);
	q_cond(&q, "launch_type = ?", f->launch_type);
	q_cond(&q, "(container_instance IS NULL OR container_instance = ?)", f->owned_by);
	if (f->not_stopped)
		q_add(&q, " AND last_status != 'STOPPED'");
	q_cond(&q, "id > ?", page_after(pg));
	q_add(&q, " ORDER BY id");
	if ((r = q_prep(s, &q, page_fetch(pg), &st, err)) < 0)
		return r;
	return collect_docs(s, st, "task", pg, docs, more, err);
}

int store_task_by_token(struct store *s, const char *cluster, const char *client_token,
			json_t **docs, struct berr **err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	bool more = false;
	int r;

	*docs = NULL;
	if ((r = prep(s, "SELECT doc FROM tasks WHERE cluster = ? AND client_token = ? "
		      "ORDER BY id", &st, err)) < 0)
		return r;
	bind_text(st, 1, cluster);
	bind_text(st, 2, client_token);
	return collect_docs(s, st, "task", NULL, docs, &more, err);
}

int store_task_prune(struct store *s, double before, int64_t *n, struct berr **err)
{
	static const char cond[] =
		"last_status = 'STOPPED' AND coalesce(stopped_at, created_at) < ?";
	cleanup_stmt sqlite3_stmt *tags = NULL;
	cleanup_stmt sqlite3_stmt *st = NULL;
	bool own;
	int r;

	*n = 0;
	if ((r = auto_begin(s, &own, err)) < 0)
		return r;
	r = prep(s, "DELETE FROM tags WHERE arn IN (SELECT arn FROM tasks WHERE last_status = "
		 "'STOPPED' AND coalesce(stopped_at, created_at) < ?)", &tags, err);
	if (r >= 0) {
		sqlite3_bind_double(tags, 1, before);
		r = step(s, tags, "drop tags of pruned tasks", err);
	}
	if (r >= 0) {
		char sql[128];

		snprintf(sql, sizeof(sql), "DELETE FROM tasks WHERE %s", cond);
		r = prep(s, sql, &st, err);
	}
	if (r >= 0) {
		sqlite3_bind_double(st, 1, before);
		r = step(s, st, "prune stopped tasks", err);
		if (r >= 0)
			*n = sqlite3_changes64(s->db);
	}
	stmt_resetp(&tags);
	stmt_resetp(&st);
	r = auto_end(s, own, r, err);
	if (r < 0)
		*n = 0;
	return r;
}

/* ---------------------------------------------------- container instances */

/* container-instance/<cluster>/<id>: the cluster name into a new string. */
static int instance_cluster(struct store *s, const char *arn, char **cluster, struct berr **err)
{
	const char *res = arn_resource(arn), *slash;

	if (strncmp(res, "container-instance/", 19) != 0)
		goto bad;
	res += 19;
	slash = strchr(res, '/');
	if (!slash || slash == res || !slash[1] || strchr(slash + 1, '/'))
		goto bad;
	*cluster = xstrndup(res, (size_t)(slash - res));
	return 0;
bad:
	return doc_err(s, err, "container instance", "containerInstanceArn: \"%s\" is not "
		       "container-instance/<cluster>/<id>", berr_q(arn));
}

int store_instance_put(struct store *s, const json_t *doc, struct berr **err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	cleanup_free char *text = NULL;
	cleanup_free char *cluster = NULL;
	const char *arn, *status;
	bool own;
	int r;

	if ((r = doc_need_str(s, doc, "container instance", "containerInstanceArn", &arn,
			      err)) < 0 ||
	    (r = doc_need_str(s, doc, "container instance", "status", &status, err)) < 0 ||
	    (r = instance_cluster(s, arn, &cluster, err)) < 0)
		return r;
	text = doc_text(doc);
	if ((r = auto_begin(s, &own, err)) < 0)
		return r;
	r = prep(s, "INSERT INTO instances(id, arn, cluster, status, doc) VALUES(?, ?, ?, ?, ?) "
		 "ON CONFLICT(id) DO UPDATE SET arn = excluded.arn, cluster = excluded.cluster, "
		 "status = excluded.status, doc = excluded.doc", &st, err);
	if (r >= 0) {
		bind_text(st, 1, last_component(arn));
		bind_text(st, 2, arn);
		bind_text(st, 3, cluster);
		bind_text(st, 4, status);
		bind_text(st, 5, text);
		r = step(s, st, "store container instance", err);
	}
	stmt_resetp(&st);
	return auto_end(s, own, r, err);
}

int store_instance_get(struct store *s, const char *id, json_t **doc, struct berr **err)
{
	return get_doc(s, "SELECT doc FROM instances WHERE id = ?", id, "get container instance",
		       "container instance", doc, err);
}

int store_instance_list(struct store *s, const char *cluster, const char *status,
			const struct store_page *pg, json_t **docs, bool *more, struct berr **err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	struct query q = { .len = 0 };
	int r;

	*docs = NULL;
	*more = false;
	q_add(&q, "SELECT doc FROM instances WHERE 1");
	q_cond(&q, "cluster = ?", cluster);
	q_cond(&q, "status = ?", status);
	q_cond(&q, "id > ?", page_after(pg));
	q_add(&q, " ORDER BY id");
	if ((r = q_prep(s, &q, page_fetch(pg), &st, err)) < 0)
		return r;
	return collect_docs(s, st, "container instance", pg, docs, more, err);
}

/* Also removes the instance's attributes (targetId: its id or its ARN). */
int store_instance_delete(struct store *s, const char *id, struct berr **err)
{
	cleanup_stmt sqlite3_stmt *attrs = NULL;
	cleanup_stmt sqlite3_stmt *st = NULL;
	bool own;
	int r;

	if ((r = auto_begin(s, &own, err)) < 0)
		return r;
	r = prep(s, "DELETE FROM attributes WHERE (cluster, target_id) IN "
		 "(SELECT cluster, id FROM instances WHERE id = ?1 UNION ALL "
		 "SELECT cluster, arn FROM instances WHERE id = ?1)", &attrs, err);
	if (r >= 0) {
		bind_text(attrs, 1, id);
		r = step(s, attrs, "delete container instance attributes", err);
	}
	if (r >= 0)
		r = prep(s, "DELETE FROM instances WHERE id = ?", &st, err);
	if (r >= 0) {
		bind_text(st, 1, id);
		r = step(s, st, "delete container instance", err);
	}
	stmt_resetp(&attrs);
	stmt_resetp(&st);
	return auto_end(s, own, r, err);
}

/* ------------------------------------------------------------ attributes */

int store_attr_put(struct store *s, const char *cluster, const json_t *attr, struct berr **err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	const char *name, *type, *target;
	json_t *value;
	bool own;
	int r;

	if ((r = doc_need_str(s, attr, "attribute", "name", &name, err)) < 0 ||
	    (r = doc_need_str(s, attr, "attribute", "targetType", &type, err)) < 0 ||
	    (r = doc_need_str(s, attr, "attribute", "targetId", &target, err)) < 0)
		return r;
	value = json_object_get(attr, "value");
	if (value && !json_is_null(value) && !json_is_string(value))
		return doc_err(s, err, "attribute", "value: expected string, got %s",
			       bjson_type_name(value));
	if ((r = auto_begin(s, &own, err)) < 0)
		return r;
	r = prep(s, "INSERT INTO attributes(cluster, target_id, name, value, target_type) "
		 "VALUES(?, ?, ?, ?, ?) ON CONFLICT(cluster, target_id, name) DO UPDATE SET "
		 "value = excluded.value, target_type = excluded.target_type", &st, err);
	if (r >= 0) {
		bind_text(st, 1, cluster);
		bind_text(st, 2, target);
		bind_text(st, 3, name);
		bind_text(st, 4, json_string_value(value));
		bind_text(st, 5, type);
		r = step(s, st, "store attribute", err);
	}
	stmt_resetp(&st);
	return auto_end(s, own, r, err);
}

int store_attr_delete(struct store *s, const char *cluster, const char *target_id,
		      const char *name, struct berr **err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	bool own;
	int r;

	if ((r = auto_begin(s, &own, err)) < 0)
		return r;
	r = prep(s, "DELETE FROM attributes WHERE cluster = ? AND target_id = ? AND name = ?",
		 &st, err);
	if (r >= 0) {
		bind_text(st, 1, cluster);
		bind_text(st, 2, target_id);
		bind_text(st, 3, name);
		r = step(s, st, "delete attribute", err);
	}
	stmt_resetp(&st);
	return auto_end(s, own, r, err);
}

int store_attr_list(struct store *s, const char *cluster, const char *target_type,
		    const char *name, const char *value, const struct store_page *pg,
		    json_t **attrs, bool *more, struct berr **err)
{
	cleanup_json json_t *res = json_array();
	cleanup_stmt sqlite3_stmt *st = NULL;
	cleanup_free char *after_target = NULL;
	const char *after_name = NULL;
	struct query q = { .len = 0 };
	int64_t n = 0;
	int r;

	*attrs = NULL;
	*more = false;
	if (!target_type)
		return berr_set(err, EINVAL, "database %s: list attributes: no target type", s->path);
	if (page_after(pg)) {
		const char *nl = strchr(pg->after, '\n');

		if (!nl)
			return berr_set(err, EINVAL, "database %s: page key \"%s\" is not "
					"<targetId>\\n<name>", s->path, berr_q(pg->after));
		after_target = xstrndup(pg->after, (size_t)(nl - pg->after));
		after_name = nl + 1;
	}
	q_add(&q, "SELECT target_id, name, value, target_type FROM attributes WHERE 1");
	q_cond(&q, "cluster = ?", cluster);
	q_cond(&q, "target_type = ?", target_type);
	q_cond(&q, "name = ?", name);
	q_cond(&q, "value = ?", value);
	if (after_target) {
		q_cond(&q, "(target_id, name) > (?, ?)", after_target);
		q.texts[q.n_texts++] = after_name;
	}
	q_add(&q, " ORDER BY target_id, name");
	if ((r = q_prep(s, &q, page_fetch(pg), &st, err)) < 0)
		return r;
	while ((r = step(s, st, "list attributes", err)) > 0) {
		json_t *a = json_object();
		const char *v = (const char *)sqlite3_column_text(st, 2);

		if (page_full(pg, n)) {
			json_decref(a);
			*more = true;
			break;
		}
		json_object_set_new(a, "name", json_string((const char *)sqlite3_column_text(st, 1)));
		if (v)
			json_object_set_new(a, "value", json_string(v));
		json_object_set_new(a, "targetType",
				    json_string((const char *)sqlite3_column_text(st, 3)));
		json_object_set_new(a, "targetId",
				    json_string((const char *)sqlite3_column_text(st, 0)));
		json_array_append_new(res, a);
		n++;
	}
	if (r < 0)
		return r;
	*attrs = steal_pointer(&res);
	return 0;
}

/* ------------------------------------------------------------------ tags */

int store_tags_set(struct store *s, const char *arn, const json_t *tags, struct berr **err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	json_t *t;
	size_t i;
	bool own;
	int r;

	if (!json_is_array(tags))
		return doc_err(s, err, "tags", "expected array, got %s", bjson_type_name(tags));
	json_array_foreach(tags, i, t) {
		json_t *v = json_object_get(t, "value");

		if (!json_is_object(t) || !json_is_string(json_object_get(t, "key")) ||
		    (v && !json_is_null(v) && !json_is_string(v)))
			return doc_err(s, err, "tags", "[%zu]: expected {key: string, value: string}",
				       i);
	}
	if ((r = auto_begin(s, &own, err)) < 0)
		return r;
	r = prep(s, "INSERT INTO tags(arn, key, value) VALUES(?, ?, ?) "
		 "ON CONFLICT(arn, key) DO UPDATE SET value = excluded.value", &st, err);
	json_array_foreach(tags, i, t) {
		const char *v = json_string_value(json_object_get(t, "value"));

		if (r < 0)
			break;
		sqlite3_reset(st);
		bind_text(st, 1, arn);
		bind_text(st, 2, json_string_value(json_object_get(t, "key")));
		bind_text(st, 3, v ? v : "");
		r = step(s, st, "store tag", err);
	}
	stmt_resetp(&st);
	return auto_end(s, own, r, err);
}

int store_tags_remove(struct store *s, const char *arn, const json_t *keys, struct berr **err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	json_t *k;
	size_t i;
	bool own;
	int r;

	if (!json_is_array(keys))
		return doc_err(s, err, "tag keys", "expected array, got %s", bjson_type_name(keys));
	json_array_foreach(keys, i, k)
		if (!json_is_string(k))
			return doc_err(s, err, "tag keys", "[%zu]: expected string, got %s", i,
				       bjson_type_name(k));
	if ((r = auto_begin(s, &own, err)) < 0)
		return r;
	r = prep(s, "DELETE FROM tags WHERE arn = ? AND key = ?", &st, err);
	json_array_foreach(keys, i, k) {
		if (r < 0)
			break;
		sqlite3_reset(st);
		bind_text(st, 1, arn);
		bind_text(st, 2, json_string_value(k));
		r = step(s, st, "remove tag", err);
	}
	stmt_resetp(&st);
	return auto_end(s, own, r, err);
}

int store_tags_get(struct store *s, const char *arn, json_t **tags, struct berr **err)
{
	cleanup_json json_t *res = json_array();
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r;

	*tags = NULL;
	if ((r = prep(s, "SELECT key, value FROM tags WHERE arn = ? ORDER BY key", &st, err)) < 0)
		return r;
	bind_text(st, 1, arn);
	while ((r = step(s, st, "get tags", err)) > 0)
		json_array_append_new(res, json_pack("{s:s, s:s}",
			"key", (const char *)sqlite3_column_text(st, 0),
			"value", (const char *)sqlite3_column_text(st, 1)));
	if (r < 0)
		return r;
	*tags = steal_pointer(&res);
	return 0;
}

int store_tags_drop(struct store *s, const char *arn, struct berr **err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	bool own;
	int r;

	if ((r = auto_begin(s, &own, err)) < 0)
		return r;
	r = prep(s, "DELETE FROM tags WHERE arn = ?", &st, err);
	if (r >= 0) {
		bind_text(st, 1, arn);
		r = step(s, st, "drop tags", err);
	}
	stmt_resetp(&st);
	return auto_end(s, own, r, err);
}

/* --------------------------------------------------------------- secrets */

void store_secret_clear(struct store_secret *sec)
{
	free(sec->name);
	free(sec->arn);
	free(sec->description);
	free(sec->ct);
	memset(sec, 0, sizeof(*sec));
}

int store_secret_put(struct store *s, const struct store_secret *sec, int64_t *version,
		     struct berr **err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	bool own;
	int r;

	if (!sec->name || !*sec->name || !sec->arn || !*sec->arn || !sec->ct)
		return berr_set(err, EINVAL, "database %s: secret: name, arn and ciphertext are "
				"required", s->path);
	if ((r = auto_begin(s, &own, err)) < 0)
		return r;
	r = prep(s, "INSERT INTO secrets(name, arn, description, nonce, ciphertext, created, "
		 "updated, version) VALUES(?, ?, ?, ?, ?, ?, ?, 1) "
		 "ON CONFLICT(name) DO UPDATE SET nonce = excluded.nonce, "
		 "ciphertext = excluded.ciphertext, updated = excluded.updated, "
		 "description = coalesce(excluded.description, description), "
		 "version = version + 1 RETURNING version", &st, err);
	if (r >= 0) {
		bind_text(st, 1, sec->name);
		bind_text(st, 2, sec->arn);
		bind_text(st, 3, sec->description);
		sqlite3_bind_blob(st, 4, sec->nonce, sizeof(sec->nonce), SQLITE_TRANSIENT);
		sqlite3_bind_blob(st, 5, sec->ct, (int)sec->ct_len, SQLITE_TRANSIENT);
		sqlite3_bind_double(st, 6, sec->created);
		sqlite3_bind_double(st, 7, sec->updated);
		r = step(s, st, "store secret", err);
		if (r > 0) {
			if (version)
				*version = sqlite3_column_int64(st, 0);
			/* RETURNING: the statement is done only after its last row */
			r = step(s, st, "store secret", err);
		}
	}
	stmt_resetp(&st);
	return auto_end(s, own, r, err);
}

int store_secret_get(struct store *s, const char *name, struct store_secret *out,
		     struct berr **err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	const void *nonce, *ct;
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = prep(s, "SELECT name, arn, description, nonce, ciphertext, created, updated, "
		      "version FROM secrets WHERE name = ?", &st, err)) < 0)
		return r;
	bind_text(st, 1, name);
	if ((r = step(s, st, "get secret", err)) <= 0)
		return r;
	nonce = sqlite3_column_blob(st, 3);
	if (!nonce || sqlite3_column_bytes(st, 3) != (int)sizeof(out->nonce))
		return berr_set(err, EIO, "database %s: secret %s: stored nonce is not %zu bytes",
				s->path, name, sizeof(out->nonce));
	memcpy(out->nonce, nonce, sizeof(out->nonce));
	ct = sqlite3_column_blob(st, 4);
	out->ct_len = (size_t)sqlite3_column_bytes(st, 4);
	out->ct = xmalloc(out->ct_len + 1);
	if (out->ct_len)
		memcpy(out->ct, ct, out->ct_len);
	out->name = xstrdup((const char *)sqlite3_column_text(st, 0));
	out->arn = xstrdup((const char *)sqlite3_column_text(st, 1));
	if (sqlite3_column_type(st, 2) != SQLITE_NULL)
		out->description = xstrdup((const char *)sqlite3_column_text(st, 2));
	out->created = sqlite3_column_double(st, 5);
	out->updated = sqlite3_column_double(st, 6);
	out->version = sqlite3_column_int64(st, 7);
	return 1;
}

int store_secret_list(struct store *s, const struct store_page *pg, json_t **items, bool *more,
		      struct berr **err)
{
	cleanup_json json_t *res = json_array();
	cleanup_stmt sqlite3_stmt *st = NULL;
	struct query q = { .len = 0 };
	int64_t n = 0;
	int r;

	*items = NULL;
	*more = false;
	q_add(&q, "SELECT name, arn, description, created, updated, version FROM secrets "
	      "WHERE 1");
	q_cond(&q, "name > ?", page_after(pg));
	q_add(&q, " ORDER BY name");
	if ((r = q_prep(s, &q, page_fetch(pg), &st, err)) < 0)
		return r;
	while ((r = step(s, st, "list secrets", err)) > 0) {
		json_t *o;

		if (page_full(pg, n)) {
			*more = true;
			break;
		}
		o = json_pack("{s:s, s:s, s:f, s:f, s:I}",
			      "name", (const char *)sqlite3_column_text(st, 0),
			      "arn", (const char *)sqlite3_column_text(st, 1),
			      "createdDate", sqlite3_column_double(st, 3),
			      "lastChangedDate", sqlite3_column_double(st, 4),
			      "version", (json_int_t)sqlite3_column_int64(st, 5));
		if (sqlite3_column_type(st, 2) != SQLITE_NULL)
			json_object_set_new(o, "description",
					    json_string((const char *)sqlite3_column_text(st, 2)));
		json_array_append_new(res, o);
		n++;
	}
	if (r < 0)
		return r;
	*items = steal_pointer(&res);
	return 0;
}

int store_secret_delete(struct store *s, const char *name, struct berr **err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	int found = 0;
	bool own;
	int r;

	if ((r = auto_begin(s, &own, err)) < 0)
		return r;

	r = prep(s, "DELETE FROM secrets WHERE name = ?", &st, err);
	if (r >= 0) {
		bind_text(st, 1, name);
		r = step(s, st, "delete secret", err);
		if (r >= 0)
			found = sqlite3_changes(s->db) > 0;
	}
	stmt_resetp(&st);
	r = auto_end(s, own, r, err);
	return r < 0 ? r : found;
}

/* -------------------------------------------------------------- services */

int store_service_put(struct store *s, const json_t *doc, const json_t *state, struct berr **err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	cleanup_free char *text = NULL, *stext = NULL;
	const char *name, *arn, *status, *carn;
	bool own;
	int r;

	if ((r = doc_need_str(s, doc, "service", "serviceName", &name, err)) < 0 ||
	    (r = doc_need_str(s, doc, "service", "serviceArn", &arn, err)) < 0 ||
	    (r = doc_need_str(s, doc, "service", "clusterArn", &carn, err)) < 0 ||
	    (r = doc_need_str(s, doc, "service", "status", &status, err)) < 0)
		return r;
	if (!json_is_object(state))
		return doc_err(s, err, "service", "state: expected object");
	text = doc_text(doc);
	stext = doc_text(state);
	if ((r = auto_begin(s, &own, err)) < 0)
		return r;
	r = prep(s, "INSERT INTO services(cluster, name, arn, status, launch_type, scheduling, doc, state) "
		 "VALUES(?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(cluster, name) DO UPDATE SET "
		 "arn = excluded.arn, status = excluded.status, launch_type = excluded.launch_type, "
		 "scheduling = excluded.scheduling, doc = excluded.doc, state = excluded.state", &st, err);
	if (r >= 0) {
		bind_text(st, 1, last_component(arn_resource(carn)));
		bind_text(st, 2, name);
		bind_text(st, 3, arn);
		bind_text(st, 4, status);
		bind_text(st, 5, doc_str(doc, "launchType"));
		bind_text(st, 6, doc_str(doc, "schedulingStrategy"));
		bind_text(st, 7, text);
		bind_text(st, 8, stext);
		r = step(s, st, "store service", err);
		if (r < 0)
			berr_wrap(err, "service %s", name);
	}
	stmt_resetp(&st);
	return auto_end(s, own, r, err);
}

/* Row columns doc (0) and state (1) into *doc and *state (either may be NULL). */
static int service_row(struct store *s, sqlite3_stmt *st, json_t **doc, json_t **state,
		       struct berr **err)
{
	cleanup_json json_t *d = NULL, *x = NULL;
	int r;

	if ((r = col_doc(s, st, 0, "service", &d, err)) < 0 ||
	    (r = col_doc(s, st, 1, "service state", &x, err)) < 0)
		return r;
	if (doc)
		*doc = steal_pointer(&d);
	if (state)
		*state = steal_pointer(&x);
	return 0;
}

int store_service_get(struct store *s, const char *cluster, const char *name, json_t **doc,
		      json_t **state, struct berr **err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r;

	if (doc)
		*doc = NULL;
	if (state)
		*state = NULL;
	if ((r = prep(s, "SELECT doc, state FROM services WHERE cluster = ? AND name = ?", &st, err)) < 0)
		return r;
	bind_text(st, 1, cluster);
	bind_text(st, 2, name);
	r = step(s, st, "get service", err);
	if (r > 0) {
		int k = service_row(s, st, doc, state, err);

		r = k < 0 ? k : 1;
	}
	stmt_resetp(&st);
	return r;
}

int store_service_list(struct store *s, const struct store_service_filter *f,
		       const struct store_page *pg, json_t **arns, bool *more, struct berr **err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	struct query q = { .len = 0 };
	int r;

	*arns = NULL;
	*more = false;
	q_add(&q, "SELECT arn FROM services WHERE status != 'INACTIVE'");
	q_cond(&q, "cluster = ?", f->cluster);
	q_cond(&q, "launch_type = ?", f->launch_type);
	q_cond(&q, "scheduling = ?", f->scheduling);
	q_cond(&q, "name > ?", page_after(pg));
	q_add(&q, " ORDER BY name");
	if ((r = q_prep(s, &q, page_fetch(pg), &st, err)) < 0)
		return r;
	return collect(s, st, "list services", false, pg, arns, more, err);
}

int store_service_live(struct store *s, json_t **docs, json_t **states, struct berr **err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	cleanup_json json_t *d = json_array(), *x = json_array();
	int r;

	*docs = *states = NULL;
	if ((r = prep(s, "SELECT doc, state FROM services WHERE status != 'INACTIVE' "
		      "ORDER BY cluster, name", &st, err)) < 0)
		return r;
	while ((r = step(s, st, "list live services", err)) > 0) {
		json_t *doc, *state;

		if ((r = service_row(s, st, &doc, &state, err)) < 0)
			break;
		json_array_append_new(d, doc);
		json_array_append_new(x, state);
	}
	stmt_resetp(&st);
	if (r < 0)
		return r;
	*docs = steal_pointer(&d);
	*states = steal_pointer(&x);
	return 0;
}

int store_service_count(struct store *s, const char *cluster, int64_t *n, struct berr **err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r;

	*n = 0;
	if ((r = prep(s, "SELECT count(*) FROM services WHERE cluster = ? AND status != 'INACTIVE'",
		      &st, err)) < 0)
		return r;
	bind_text(st, 1, cluster);
	r = step(s, st, "count services", err);
	if (r > 0) {
		*n = sqlite3_column_int64(st, 0);
		r = 0;
	}
	stmt_resetp(&st);
	return r;
}

/* ------------------------------------------ key -> document tables */

/* Tables of one key and one document (schedules, scaling): an UPSERT of
 * (key, doc), all documents by key, one statement with the key. */
static int kv_put(struct store *s, const char *sql, const char *key, const json_t *doc, const char *what,
		  struct berr **err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	cleanup_free char *text = doc_text(doc);
	bool own;
	int r;

	if ((r = auto_begin(s, &own, err)) < 0)
		return r;
	r = prep(s, sql, &st, err);
	if (r >= 0) {
		bind_text(st, 1, key);
		bind_text(st, 2, text);
		r = step(s, st, what, err);
	}
	stmt_resetp(&st);
	return auto_end(s, own, r, err);
}

static int kv_all(struct store *s, const char *sql, const char *what, json_t **docs, struct berr **err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	bool more = false;
	int r;

	*docs = NULL;
	if ((r = prep(s, sql, &st, err)) < 0)
		return r;
	return collect_docs(s, st, what, NULL, docs, &more, err);
}

/* Run each of the statements (one text parameter: key) in one
 * transaction; 1 when the last one changed a row, else 0. */
static int kv_exec(struct store *s, const char *const *sqls, size_t n, const char *key, const char *what,
		   struct berr **err)
{
	bool own, changed = false;
	int r;

	if ((r = auto_begin(s, &own, err)) < 0)
		return r;
	for (size_t i = 0; i < n && r >= 0; i++) {
		cleanup_stmt sqlite3_stmt *st = NULL;

		r = prep(s, sqls[i], &st, err);
		if (r >= 0) {
			bind_text(st, 1, key);
			r = step(s, st, what, err);
		}
		changed = r >= 0 && sqlite3_changes(s->db) > 0;
	}
	r = auto_end(s, own, r, err);
	return r < 0 ? r : changed;
}

/* ------------------------------------------------------------- schedules */

int store_schedule_put(struct store *s, const json_t *doc, struct berr **err)
{
	const char *name;
	int r;

	if ((r = doc_need_str(s, doc, "schedule", "name", &name, err)) < 0)
		return r;
	return kv_put(s, "INSERT INTO schedules(name, doc) VALUES(?, ?) ON CONFLICT(name) DO UPDATE SET "
		      "doc = excluded.doc", name, doc, "store schedule", err);
}

int store_schedule_get(struct store *s, const char *name, json_t **doc, struct berr **err)
{
	return get_doc(s, "SELECT doc FROM schedules WHERE name = ?", name, "get schedule", "schedule",
		       doc, err);
}

int store_schedule_list(struct store *s, json_t **docs, struct berr **err)
{
	return kv_all(s, "SELECT doc FROM schedules ORDER BY name", "list schedules", docs, err);
}

/* Also removes its runs. */
int store_schedule_delete(struct store *s, const char *name, struct berr **err)
{
	static const char *const sqls[] = {
		"DELETE FROM schedule_runs WHERE name = ?",
		"DELETE FROM schedules WHERE name = ?",
	};

	return kv_exec(s, sqls, 2, name, "delete schedule", err);
}

int store_schedule_run_add(struct store *s, const char *name, double time, const json_t *doc,
			   struct berr **err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	cleanup_free char *text = doc_text(doc);
	bool own;
	int r;

	if ((r = auto_begin(s, &own, err)) < 0)
		return r;
	r = prep(s, "INSERT INTO schedule_runs(name, time, doc) VALUES(?, ?, ?)", &st, err);
	if (r >= 0) {
		bind_text(st, 1, name);
		sqlite3_bind_double(st, 2, time);
		bind_text(st, 3, text);
		r = step(s, st, "store schedule run", err);
	}
	stmt_resetp(&st);
	return auto_end(s, own, r, err);
}

int store_schedule_runs(struct store *s, const char *name, int64_t limit, json_t **docs, struct berr **err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	struct store_page pg = { .limit = limit };
	bool more = false;
	int r;

	*docs = NULL;
	if ((r = prep(s, "SELECT doc FROM schedule_runs WHERE name = ? ORDER BY seq DESC", &st, err)) < 0)
		return r;
	bind_text(st, 1, name);
	return collect_docs(s, st, "list schedule runs", &pg, docs, &more, err);
}

/* --------------------------------------------------------------- scaling */

int store_scaling_put(struct store *s, const char *resource_id, const json_t *doc, struct berr **err)
{
	return kv_put(s, "INSERT INTO scaling(resource_id, doc) VALUES(?, ?) ON CONFLICT(resource_id) DO "
		      "UPDATE SET doc = excluded.doc", resource_id, doc, "store scalable target", err);
}

int store_scaling_list(struct store *s, json_t **docs, struct berr **err)
{
	return kv_all(s, "SELECT doc FROM scaling ORDER BY resource_id", "list scalable targets", docs, err);
}

int store_scaling_delete(struct store *s, const char *resource_id, struct berr **err)
{
	static const char *const sql = "DELETE FROM scaling WHERE resource_id = ?";
	int r = kv_exec(s, &sql, 1, resource_id, "delete scalable target", err);

	return r < 0 ? r : 0;
}

/* ------------------------------------------------------------- discovery */

int store_discovery_put(struct store *s, const char *id, const json_t *doc, struct berr **err)
{
	return kv_put(s, "INSERT INTO discovery(id, doc) VALUES(?, ?) ON CONFLICT(id) DO UPDATE SET "
		      "doc = excluded.doc", id, doc, "store discovery record", err);
}

int store_discovery_list(struct store *s, json_t **docs, struct berr **err)
{
	return kv_all(s, "SELECT doc FROM discovery ORDER BY id", "list discovery records", docs, err);
}

int store_discovery_delete(struct store *s, const char *id, struct berr **err)
{
	static const char *const sql = "DELETE FROM discovery WHERE id = ?";
	int r = kv_exec(s, &sql, 1, id, "delete discovery record", err);

	return r < 0 ? r : 0;
}
