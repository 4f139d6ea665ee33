/* runtime/cli/cli.h - shared pieces of the berth CLI: global options, tables,
 * sizes, progress. One file per verb group (image.c, ...), as crun does. */
#ifndef BERTH_CLI_H
#define BERTH_CLI_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct cli_globals {
	const char *root;    /* berth's state root (--root, $BERTH_ROOT, /var/lib/berth) */
	bool json;           /* --json: machine-readable output */
	const char *socket;  /* --socket: berthd's API socket (NULL: $BERTH_SOCKET, default) */
};

extern struct cli_globals cli;

/* Images live in <root>/images. xmalloc'd. */
char *cli_image_store_path(void);

/* "12.3MB" (decimal, as docker prints sizes). */
void cli_human_size(uint64_t bytes, char *buf, size_t len);
/* "3 minutes ago" */
void cli_human_age(int64_t unix_seconds, char *buf, size_t len);

/* A table printed with aligned columns. */
struct cli_table;
struct cli_table *cli_table_new(size_t ncols, const char *const *headers);
void cli_table_row(struct cli_table *t, const char *const *cells);
void cli_table_print(struct cli_table *t, FILE *f);
void cli_table_free(struct cli_table *t);

/* A progress bar on stderr, only when stderr is a terminal. */
struct cli_progress;
struct cli_progress *cli_progress_new(const char *label);
void cli_progress_update(struct cli_progress *p, const char *label, uint64_t done, uint64_t total);
void cli_progress_done(struct cli_progress *p);   /* clears the line; frees */

int cli_image(int argc, char **argv);
/* berth run (run.c) */
int cli_run(int argc, char **argv);

/* ---- the verbs that are clients of berthd (docs/cli.md) ---- */

/* Exit codes of those verbs. */
#define CLI_EXIT_OK 0
#define CLI_EXIT_ERROR 1       /* berthd unreachable, or it refused / failed the request */
#define CLI_EXIT_USAGE 2       /* bad arguments, or a verb that is not supported yet */
#define CLI_EXIT_NOT_FOUND 3   /* the cluster, task definition, task or container does not exist */

struct client_error;

/* One API call to berthd on cli.socket (api.c). `req` is consumed (NULL: {}).
 * cli_api_try: 0 with *resp, or -1 with *e filled. cli_api: 0 with *resp,
 * or, after logging "WHAT: message (Type)" with a hint, the exit code
 * (CLI_EXIT_ERROR or CLI_EXIT_NOT_FOUND). */
int cli_api_try(const char *op, json_t *req, json_t **resp, struct client_error *e);
int cli_api(const char *what, const char *op, json_t *req, json_t **resp);
/* Log a failed call as cli_api does, clear *e, return the exit code. */
int cli_api_fail(const char *what, struct client_error *e);
/* Every page of a List* operation: the arrays under `key` concatenated
 * into *items. Returns 0 or an exit code (logged). `req` is consumed. */
int cli_api_list(const char *what, const char *op, json_t *req, const char *key, json_t **items);

/* Pretty-printed JSON on stdout (the API's key order). */
void cli_print_json(const json_t *v);
/* A copy of untrusted text for a table or summary: control bytes become '?'. */
char *cli_clean(const char *s);
/* The last '/' component of an ARN ("task/web/0123..." -> "0123..."); s when none. */
const char *cli_arn_tail(const char *s);
/* "family:revision" from a task definition ARN (or the string itself). xmalloc'd. */
char *cli_taskdef_name(const char *arn);
/* "2026-11-21 10:45:51 UTC (3 minutes ago)"; "-" for 0. */
void cli_format_time(double t, char *buf, size_t len);
/* --tag KEY=VALUE into an ECS tags array [{key, value}]; -1 (logged) when malformed. */
int cli_tag_add(json_t *tags, const char *kv);
/* Names of every cluster, or just `only` when set (not checked). Exit code or 0. */
int cli_cluster_names(const char *only, json_t **names);

/* A task named by id, unique id prefix or ARN (api.c). Searches `cluster`
 * when set, else the ARN's cluster, else every cluster (default first).
 * Returns 0 with out filled (out->doc: DescribeTasks' task, a new reference),
 * else an exit code after logging: CLI_EXIT_NOT_FOUND, CLI_EXIT_USAGE for an
 * ambiguous prefix or a malformed reference, CLI_EXIT_ERROR. With `quiet`,
 * "not found" is not logged and an unreachable berthd gives -1, unlogged. */
struct cli_task {
	char cluster[256];
	char id[33];
	json_t *doc;
};
int cli_task_find(const char *ref, const char *cluster, bool quiet, struct cli_task *out);
/* True for a 32-hex task id. */
bool cli_is_task_id(const char *s);

/* cluster.c */
int cli_cluster(int argc, char **argv);
int cli_instances(int argc, char **argv);
/* taskdef.c */
int cli_taskdef(int argc, char **argv);
/* Register the task definition in a file (a RegisterTaskDefinition request,
 * or DescribeTaskDefinition's output), with extra `tags` (may be NULL):
 * 0 with *resp (the RegisterTaskDefinition response), else an exit code
 * (logged; CLI_EXIT_USAGE when the file cannot be read or parsed). */
int cli_taskdef_register_file(const char *path, json_t *tags, json_t **resp);
/* task.c: `berth run --detach` (called by cli_run), ps, describe, stop,
 * and the verbs not built yet */
int cli_run_detach(int argc, char **argv);
int cli_ps(int argc, char **argv);
int cli_describe(int argc, char **argv);
int cli_stop(int argc, char **argv);
int cli_exec(int argc, char **argv);     /* exec.c */
int cli_events(int argc, char **argv);   /* events.c */
int cli_stats(int argc, char **argv);    /* stats.c */
/* logs.c */
int cli_logs(int argc, char **argv);
/* secret.c */
int cli_secret(int argc, char **argv);
int cli_schedule(int argc, char **argv);

#endif
