/* runtime/cli/task.c - tasks through berthd: `berth run --detach`, ps,
 * describe, stop. */
#include "runtime/cli/cli.h"
#include "runtime/cli/client.h"

#include "common/cleanup.h"
#include "common/json.h"
#include "common/log.h"
#include "common/xalloc.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DESCRIBE_BATCH 100
#define WAIT_POLL_MS 500

static const char *str(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "";
}

static void sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* DescribeTasks of task ids/ARNs in one cluster, in batches: the tasks and
 * failures appended. 0 or an exit code (logged). */
static int describe_tasks(const char *cluster, const json_t *refs, json_t *tasks, json_t *failures)
{
	for (size_t i = 0; i < json_array_size(refs); i += DESCRIBE_BATCH) {
		cleanup_json json_t *resp = NULL;
		json_t *batch = json_array();
		int r;

		for (size_t k = i; k < i + DESCRIBE_BATCH && k < json_array_size(refs); k++)
			json_array_append(batch, json_array_get(refs, k));
		if ((r = cli_api("describe tasks", "DescribeTasks",
				 json_pack("{s:s, s:o, s:[s]}", "cluster", cluster, "tasks", batch,
					   "include", "TAGS"), &resp)))
			return r;
		json_array_extend(tasks, json_object_get(resp, "tasks"));
		if (failures)
			json_array_extend(failures, json_object_get(resp, "failures"));
	}
	return 0;
}

/* The cluster name of a task document (its clusterArn's tail). */
static const char *cluster_of(const json_t *task)
{
	return cli_arn_tail(str(task, "clusterArn"));
}

/* ------------------------------------------------------------ task facts */

/* The task definition of a task, looked up once per ARN; NULL when it
 * cannot be read (borrowed from cache). */
static json_t *taskdef_of(json_t *cache, const char *arn)
{
	struct client_error e = { 0 };
	json_t *resp = NULL, *td;

	if (!*arn)
		return NULL;
	td = json_object_get(cache, arn);
	if (td)
		return json_is_null(td) ? NULL : td;
	if (cli_api_try("DescribeTaskDefinition", json_pack("{s:s}", "taskDefinition", arn), &resp,
			&e) < 0) {
		log_debug("task definition %s: %s", arn, e.message);
		client_error_clear(&e);
		json_object_set_new(cache, arn, json_null());
		return NULL;
	}
	td = json_object_get(resp, "taskDefinition");
	json_object_set(cache, arn, td ? td : json_null());
	json_decref(resp);
	return json_object_get(cache, arn);
}

static bool is_essential(const json_t *td, const char *name)
{
	json_t *v;
	size_t i;

	if (!td)
		return true;   /* unknown: count every container */
	json_array_foreach(json_object_get(td, "containerDefinitions"), i, v)
		if (!strcmp(str(v, "name"), name))
			return !json_is_false(json_object_get(v, "essential"));
	return false;
}

/* The exit code that ended a stopped task: an essential container's (the
 * first non-zero one, else the first one), as `berth run` exits with.
 * -1 when there is none (not stopped, or no container ran). */
static int task_exit_code(json_t *cache, const json_t *task)
{
	json_t *td, *c;
	int first = -1;
	size_t i;

	if (strcmp(str(task, "lastStatus"), "STOPPED"))
		return -1;
	/* berthd records the task's exit code (the essential container's) as
	 * the attribute berth.exitCode; older records lack it */
	json_array_foreach(json_object_get(task, "attributes"), i, c) {
		const char *v = str(c, "value");
		char *end;
		long n;

		if (strcmp(str(c, "name"), "berth.exitCode") || !*v)
			continue;
		n = strtol(v, &end, 10);
		if (*end == '\0' && n >= 0 && n <= 255)
			return (int)n;
	}
	td = taskdef_of(cache, str(task, "taskDefinitionArn"));
	json_array_foreach(json_object_get(task, "containers"), i, c) {
		json_t *x = json_object_get(c, "exitCode");

		if (!json_is_integer(x) || !is_essential(td, str(c, "name")))
			continue;
		if (json_integer_value(x) != 0)
			return (int)json_integer_value(x);
		if (first < 0)
			first = 0;
	}
	return first;
}

static const char *task_ip(const json_t *task)
{
	json_t *c, *att, *d;
	size_t i, k;

	json_array_foreach(json_object_get(task, "containers"), i, c) {
		const char *ip = str(json_array_get(json_object_get(c, "networkInterfaces"), 0),
				     "privateIpv4Address");

		if (*ip)
			return ip;
	}
	json_array_foreach(json_object_get(task, "attachments"), i, att)
		json_array_foreach(json_object_get(att, "details"), k, d)
			if (!strcmp(str(d, "name"), "privateIPv4Address"))
				return str(d, "value");
	return "";
}

static char *bindings_of(const json_t *c)
{
	json_t *v;
	char *out = xstrdup("");
	size_t i;

	json_array_foreach(json_object_get(c, "networkBindings"), i, v) {
		char *next = xasprintf("%s%s%lld->%lld/%s", out, i ? ", " : "",
				       (long long)json_integer_value(json_object_get(v, "hostPort")),
				       (long long)json_integer_value(json_object_get(v, "containerPort")),
				       json_string_value(json_object_get(v, "protocol")) ?: "tcp");

		free(out);
		out = next;
	}
	return out;
}

static double created_at(const json_t *t)
{
	return json_number_value(json_object_get(t, "createdAt"));
}

static int newest_first(const void *a, const void *b)
{
	double x = created_at(*(json_t *const *)a), y = created_at(*(json_t *const *)b);

	return x < y ? 1 : x > y ? -1 : 0;
}

/* ------------------------------------------------------------ waiting */

static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
	(void)sig;
	interrupted = 1;
}

/* Poll the tasks (ids in `cluster`) until each is `want` (RUNNING or
 * STOPPED); RUNNING gives up on a task that stops. 0 or an exit code;
 * *final gets the last DescribeTasks documents. */
static int wait_tasks(const char *cluster, const json_t *ids, const char *want, json_t **final)
{
	struct sigaction sa = { .sa_handler = on_interrupt }, old;
	int rc = 0;

	sigaction(SIGINT, &sa, &old);
	for (;;) {
		cleanup_json json_t *tasks = json_array();
		bool done = true;
		json_t *t;
		size_t i;
		int r;

		if ((r = describe_tasks(cluster, ids, tasks, NULL))) {
			rc = r;
			break;
		}
		json_array_foreach(tasks, i, t) {
			const char *last = str(t, "lastStatus");

			if (!strcmp(want, "RUNNING") && !strcmp(last, "STOPPED")) {
				cleanup_free char *why = cli_clean(str(t, "stoppedReason"));
				cleanup_free char *code = cli_clean(str(t, "stopCode"));

				log_error("task %s stopped before it was RUNNING: %s%s%s%s",
					  cli_arn_tail(str(t, "taskArn")), *code ? code : "", *code ? ": " : "",
					  why, " (berth describe and berth logs say more)");
				rc = CLI_EXIT_ERROR;
			} else if (strcmp(last, want)) {
				done = false;
			}
		}
		if (rc || done || interrupted) {
			if (interrupted && !done && !rc) {
				log_error("interrupted while waiting for %s", want);
				rc = 130;
			}
			*final = steal_pointer(&tasks);
			break;
		}
		sleep_ms(WAIT_POLL_MS);
	}
	sigaction(SIGINT, &old, NULL);
	return rc;
}

/* ------------------------------------------------------------ run --detach */

static void run_usage(FILE *f)
{
	fprintf(f,
		"Usage: berth run --detach [OPTIONS] TASKDEF\n"
		"\n"
		"Start tasks through berthd (ECS RunTask) and return; print their ids.\n"
		"TASKDEF is FAMILY[:REVISION], a task definition ARN, or a task definition\n"
		"file (registered first, as `berth taskdef register FILE`). Without --detach,\n"
		"`berth run FILE` runs the task in the foreground without berthd\n"
		"(berth run --help).\n"
		"\n"
		"Options:\n"
		"  -d, --detach            run through berthd (this mode)\n"
		"  --cluster NAME          the cluster (default: \"default\")\n"
		"  --count N               start N copies (1-10, default 1)\n"
		"  --launch-type TYPE      EC2 or FARGATE (default: FARGATE when the definition\n"
		"                          requires FARGATE and not EC2, else EC2)\n"
		"  --security-group NAME   awsvpc: a security group of berthd.json (repeatable)\n"
		"  --started-by TEXT       startedBy (berth ps shows; ListTasks filters on it)\n"
		"  --group NAME            the task group (default family:FAMILY)\n"
		"  --overrides FILE        RunTask overrides JSON ({\"containerOverrides\": [...]})\n"
		"  --tag KEY=VALUE         tag the tasks (repeatable)\n"
		"  --client-token TOKEN    idempotency: the same token returns the same tasks\n"
		"  --wait                  wait until the tasks are RUNNING (exit 1 if one stops)\n"
		"  --json                  print the RunTask (with --wait: DescribeTasks) response\n"
		"  -h, --help              this help\n"
		"\n"
		"Exit codes: 0 started, 1 berthd unreachable, refused or a task could not start,\n"
		"2 usage or an unreadable file, 3 the cluster or task definition does not exist.\n");
}

/* FARGATE when the definition requires FARGATE and not EC2; NULL: let berthd choose. */
static const char *guess_launch_type(const json_t *td)
{
	bool fargate = false, ec2 = false;
	json_t *v;
	size_t i;

	json_array_foreach(json_object_get(td, "requiresCompatibilities"), i, v) {
		if (!strcmp(json_string_value(v) ?: "", "FARGATE"))
			fargate = true;
		if (!strcmp(json_string_value(v) ?: "", "EC2"))
			ec2 = true;
	}
	return fargate && !ec2 ? "FARGATE" : NULL;
}

static bool looks_like_file(const char *s)
{
	struct stat st;
	size_t n = strlen(s);

	if (!strncmp(s, "arn:", 4))
		return false;
	return strchr(s, '/') || (n > 5 && !strcmp(s + n - 5, ".json")) ||
	       (stat(s, &st) == 0 && S_ISREG(st.st_mode));
}

static const char *run_failure_hint(const char *reason)
{
	if (!strncmp(reason, "RESOURCE:MEMORY", 15))
		return ": not enough memory left on the container instance (berth instances)";
	if (!strncmp(reason, "RESOURCE:CPU", 12))
		return ": not enough CPU left on the container instance (berth instances)";
	return "";
}

int cli_run_detach(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "detach", no_argument, NULL, 'd' },
		{ "cluster", required_argument, NULL, 'c' },
		{ "count", required_argument, NULL, 'n' },
		{ "launch-type", required_argument, NULL, 'L' },
		{ "security-group", required_argument, NULL, 'g' },
		{ "started-by", required_argument, NULL, 'S' },
		{ "group", required_argument, NULL, 'G' },
		{ "overrides", required_argument, NULL, 'o' },
		{ "tag", required_argument, NULL, 't' },
		{ "client-token", required_argument, NULL, 'T' },
		{ "wait", no_argument, NULL, 'w' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	cleanup_json json_t *req = json_object(), *tags = json_array(), *groups = json_array();
	cleanup_json json_t *resp = NULL, *tdresp = NULL, *ids = json_array(), *final = NULL;
	const char *cluster = "default", *launch = NULL, *overrides = NULL, *ref;
	cleanup_free char *tdname = NULL;
	bool wait = false;
	json_t *td, *t;
	size_t i;
	int c, r, rc = 0;

	while ((c = getopt_long(argc, argv, "dh", opts, NULL)) != -1) {
		switch (c) {
		case 'd': break;
		case 'c': cluster = optarg; break;
		case 'n': {
			char *end;
			long v;

			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno || *end || end == optarg || v < 1 || v > 10) {
				log_error("run: --count %s: give a number from 1 to 10", optarg);
				return CLI_EXIT_USAGE;
			}
			json_object_set_new(req, "count", json_integer(v));
			break;
		}
		case 'L':
			if (!strcasecmp(optarg, "EC2"))
				launch = "EC2";
			else if (!strcasecmp(optarg, "FARGATE"))
				launch = "FARGATE";
			else {
				log_error("run: --launch-type %s: use EC2 or FARGATE", optarg);
				return CLI_EXIT_USAGE;
			}
			break;
		case 'g': json_array_append_new(groups, json_string(optarg)); break;
		case 'S': json_object_set_new(req, "startedBy", json_string(optarg)); break;
		case 'G': json_object_set_new(req, "group", json_string(optarg)); break;
		case 'o': overrides = optarg; break;
		case 't':
			if (cli_tag_add(tags, optarg) < 0)
				return CLI_EXIT_USAGE;
			break;
		case 'T': json_object_set_new(req, "clientToken", json_string(optarg)); break;
		case 'w': wait = true; break;
		case 'j': cli.json = true; break;
		case 'h': run_usage(stdout); return 0;
		default: run_usage(stderr); return CLI_EXIT_USAGE;
		}
	}
	if (optind + 1 != argc) {
		log_error("run --detach: give one TASKDEF: FAMILY[:REVISION], an ARN or a file "
			  "(see berth run --detach --help)");
		return CLI_EXIT_USAGE;
	}
	ref = argv[optind];
	if (overrides) {
		cleanup_berr struct berr *err = NULL;
		json_t *o = NULL;

		if (bjson_load_file(overrides, 4u << 20, &o, &err) < 0) {
			log_error("run: --overrides: %s", berr_msg(err));
			return CLI_EXIT_USAGE;
		}
		if (!json_is_object(o)) {
			log_error("run: --overrides %s: expected a JSON object, got %s", overrides,
				  bjson_type_name(o));
			json_decref(o);
			return CLI_EXIT_USAGE;
		}
		json_object_set_new(req, "overrides", o);
	}
	/* the definition: registered from a file, or looked up (its launch type
	 * and an early, clear "not found") */
	if (looks_like_file(ref)) {
		if ((r = cli_taskdef_register_file(ref, NULL, &tdresp)))
			return r;
		td = json_object_get(tdresp, "taskDefinition");
		tdname = cli_taskdef_name(str(td, "taskDefinitionArn"));
		if (!cli.json)
			log_info("registered %s", tdname);
	} else {
		cleanup_free char *what = xasprintf("task definition %s", ref);

		r = cli_api(what, "DescribeTaskDefinition", json_pack("{s:s}", "taskDefinition", ref),
			    &tdresp);
		if (r == CLI_EXIT_NOT_FOUND)
			log_error("see berth taskdef ls, or give a task definition file");
		if (r)
			return r;
		td = json_object_get(tdresp, "taskDefinition");
		tdname = cli_taskdef_name(str(td, "taskDefinitionArn"));
	}
	if (!launch)
		launch = guess_launch_type(td);
	json_object_set_new(req, "cluster", json_string(cluster));
	json_object_set_new(req, "taskDefinition", json_string(str(td, "taskDefinitionArn")));
	if (launch)
		json_object_set_new(req, "launchType", json_string(launch));
	if (json_array_size(groups))
		json_object_set_new(req, "networkConfiguration",
				    json_pack("{s:{s:O}}", "awsvpcConfiguration", "securityGroups", groups));
	if (json_array_size(tags))
		json_object_set(req, "tags", tags);
	{
		cleanup_free char *what = xasprintf("run %s in cluster %s", tdname, cluster);

		if ((r = cli_api(what, "RunTask", json_incref(req), &resp)))
			return r;
	}
	json_array_foreach(json_object_get(resp, "tasks"), i, t) {
		const char *id = cli_arn_tail(str(t, "taskArn"));

		json_array_append_new(ids, json_string(id));
		if (!strcmp(str(t, "lastStatus"), "STOPPED")) {
			cleanup_free char *why = cli_clean(str(t, "stoppedReason"));

			log_error("task %s could not start: %s", id, why);
			rc = CLI_EXIT_ERROR;
		} else if (!cli.json) {
			printf("%s\n", id);
		}
	}
	fflush(stdout);
	json_array_foreach(json_object_get(resp, "failures"), i, t) {
		cleanup_free char *why = cli_clean(str(t, "reason")), *detail = cli_clean(str(t, "detail"));

		log_error("run %s: a task could not be placed: %s%s%s%s", tdname, why, *detail ? " " : "",
			  detail, run_failure_hint(why));
		rc = CLI_EXIT_ERROR;
	}
	if (wait && !rc && json_array_size(ids)) {
		rc = wait_tasks(cluster, ids, "RUNNING", &final);
		if (cli.json && final) {
			cleanup_json json_t *o = json_pack("{s:O, s:[]}", "tasks", final, "failures");

			cli_print_json(o);
		}
		return rc;
	}
	if (cli.json)
		cli_print_json(resp);
	return rc;
}

/* ------------------------------------------------------------ ps */

static void ps_usage(FILE *f)
{
	fprintf(f,
		"Usage: berth ps [-a] [-q] [--cluster NAME] [--family FAMILY] [--json]\n"
		"\n"
		"Tasks that should be running (ECS desiredStatus RUNNING), newest first, in\n"
		"every cluster unless --cluster is given.\n"
		"\n"
		"  -a, --all          also tasks that are stopped or asked to stop\n"
		"  -q, --quiet        print task ids only\n"
		"  --cluster NAME     one cluster\n"
		"  --family FAMILY    tasks of this task definition family only\n"
		"  --json             {\"tasks\": [DescribeTasks' Task objects]}\n"
		"\n"
		"Columns: TASK (the id's first 12 hex digits: any unique prefix names the task),\n"
		"FAMILY:REV, STATUS (lastStatus), HEALTH, IP, STARTED, EXIT (the essential\n"
		"container's exit code once stopped).\n");
}

int cli_ps(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "cluster", required_argument, NULL, 'c' },
		{ "family", required_argument, NULL, 'f' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const hdr[] = { "TASK", "FAMILY:REV", "STATUS", "HEALTH", "IP", "STARTED",
					   "EXIT", "CLUSTER" };
	cleanup_json json_t *clusters = NULL, *tasks = json_array(), *cache = json_object();
	const char *cluster = NULL, *family = NULL;
	bool all = false, quiet = false, several = false;
	struct cli_table *t;
	json_t *cn, *v, **sorted;
	size_t i, n;
	int c, r;

	while ((c = getopt_long(argc, argv, "aqh", opts, NULL)) != -1) {
		switch (c) {
		case 'a': all = true; break;
		case 'q': quiet = true; break;
		case 'c': cluster = optarg; break;
		case 'f': family = optarg; break;
		case 'j': cli.json = true; break;
		case 'h': ps_usage(stdout); return 0;
		default: ps_usage(stderr); return CLI_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		log_error("ps: takes no arguments (see berth ps --help)");
		return CLI_EXIT_USAGE;
	}
	if ((r = cli_cluster_names(cluster, &clusters)))
		return r;
	json_array_foreach(clusters, i, cn) {
		for (int k = 0; k < (all ? 2 : 1); k++) {
			cleanup_json json_t *arns = NULL;
			cleanup_free char *what = xasprintf("list tasks of cluster %s", json_string_value(cn));
			json_t *q = json_pack("{s:O, s:s}", "cluster", cn, "desiredStatus",
					      k ? "STOPPED" : "RUNNING");

			if (family)
				json_object_set_new(q, "family", json_string(family));
			if ((r = cli_api_list(what, "ListTasks", q, "taskArns", &arns)))
				return r;
			if ((r = describe_tasks(json_string_value(cn), arns, tasks, NULL)))
				return r;
		}
	}
	n = json_array_size(tasks);
	sorted = xcalloc(n + 1, sizeof(*sorted));
	json_array_foreach(tasks, i, v) {
		sorted[i] = v;
		if (i && strcmp(cluster_of(v), cluster_of(sorted[0])))
			several = true;
	}
	qsort(sorted, n, sizeof(*sorted), newest_first);
	if (cli.json) {
		cleanup_json json_t *o = json_pack("{s:[]}", "tasks");

		for (i = 0; i < n; i++)
			json_array_append(json_object_get(o, "tasks"), sorted[i]);
		cli_print_json(o);
		free(sorted);
		return 0;
	}
	if (quiet) {
		for (i = 0; i < n; i++)
			printf("%s\n", cli_arn_tail(str(sorted[i], "taskArn")));
		free(sorted);
		return 0;
	}
	t = cli_table_new(several ? 8 : 7, hdr);
	for (i = 0; i < n; i++) {
		json_t *task = sorted[i];
		cleanup_free char *id = cli_clean(cli_arn_tail(str(task, "taskArn")));
		cleanup_free char *tdraw = cli_taskdef_name(str(task, "taskDefinitionArn"));
		cleanup_free char *td = cli_clean(tdraw), *st = cli_clean(str(task, "lastStatus"));
		cleanup_free char *health = cli_clean(str(task, "healthStatus")), *ip = cli_clean(task_ip(task));
		cleanup_free char *cl = cli_clean(cluster_of(task));
		double started = json_number_value(json_object_get(task, "startedAt"));
		char age[48] = "-", code[16] = "";
		int x = task_exit_code(cache, task);
		const char *row[8];

		if (strlen(id) > 12)
			id[12] = '\0';
		if (started > 0)
			cli_human_age((int64_t)started, age, sizeof(age));
		if (x >= 0)
			snprintf(code, sizeof(code), "%d", x);
		else if (!strcmp(st, "STOPPED"))
			snprintf(code, sizeof(code), "-");
		row[0] = id;
		row[1] = td;
		row[2] = st;
		row[3] = !*health || !strcmp(health, "UNKNOWN") ? "-" : health;
		row[4] = *ip ? ip : "-";
		row[5] = age;
		row[6] = code;
		row[7] = cl;
		cli_table_row(t, row);
	}
	cli_table_print(t, stdout);
	cli_table_free(t);
	free(sorted);
	return 0;
}

/* ------------------------------------------------------------ describe */

static void describe_usage(FILE *f)
{
	fprintf(f,
		"Usage: berth describe [--cluster NAME] [--json] TASK...\n"
		"\n"
		"A task's state, times, stop reason and containers. TASK is a task id, a\n"
		"unique prefix of one (as berth ps shows), or a task ARN; tasks are looked\n"
		"for in every cluster unless --cluster is given. --json prints\n"
		"{\"tasks\": [DescribeTasks' Task objects], \"failures\": [...]}.\n"
		"Exit codes: 0, 1 berthd unreachable, 2 usage or an ambiguous prefix, 3 a task\n"
		"does not exist.\n");
}

static void line(const char *label, const char *value)
{
	cleanup_free char *v = cli_clean(value);

	if (*v)
		printf("%-16s %s\n", label, v);
}

static void line_time(const char *label, const json_t *task, const char *key)
{
	char buf[96];
	double t = json_number_value(json_object_get(task, key));

	if (t > 0) {
		cli_format_time(t, buf, sizeof(buf));
		printf("%-16s %s\n", label, buf);
	}
}

static void print_task(json_t *cache, const json_t *task)
{
	static const char *const hdr[] = { "CONTAINER", "IMAGE", "STATUS", "HEALTH", "EXIT", "PORTS",
					   "REASON" };
	cleanup_free char *tdname = cli_taskdef_name(str(task, "taskDefinitionArn"));
	cleanup_free char *status = xasprintf("%s (desired %s)", str(task, "lastStatus"),
					      str(task, "desiredStatus"));
	cleanup_free char *res = xasprintf("%s / %s MiB", str(task, "cpu"), str(task, "memory"));
	struct cli_table *t;
	json_t *c;
	size_t i;
	int x;

	line("Task:", cli_arn_tail(str(task, "taskArn")));
	line("ARN:", str(task, "taskArn"));
	line("Cluster:", cluster_of(task));
	line("Task definition:", tdname);
	line("Status:", status);
	line("Health:", str(task, "healthStatus"));
	line("Launch type:", str(task, "launchType"));
	line("CPU / memory:", res);
	line("Group:", str(task, "group"));
	line("Started by:", str(task, "startedBy"));
	line("IP address:", task_ip(task));
	line_time("Created:", task, "createdAt");
	line_time("Started:", task, "startedAt");
	line_time("Stopping:", task, "stoppingAt");
	line_time("Stopped:", task, "stoppedAt");
	line("Stop code:", str(task, "stopCode"));
	line("Stopped reason:", str(task, "stoppedReason"));
	if ((x = task_exit_code(cache, task)) >= 0) {
		char code[48];

		snprintf(code, sizeof(code), "%d (essential container)", x);
		line("Exit code:", code);
	}
	json_array_foreach(json_object_get(task, "tags"), i, c) {
		cleanup_free char *kv = xasprintf("%s=%s", str(c, "key"), str(c, "value"));

		line(i ? "" : "Tags:", kv);
	}
	printf("\n");
	t = cli_table_new(7, hdr);
	json_array_foreach(json_object_get(task, "containers"), i, c) {
		cleanup_free char *name = cli_clean(str(c, "name")), *image = cli_clean(str(c, "image"));
		cleanup_free char *st = cli_clean(str(c, "lastStatus"));
		cleanup_free char *health = cli_clean(str(c, "healthStatus"));
		cleanup_free char *reason = cli_clean(str(c, "reason"));
		cleanup_free char *braw = bindings_of(c), *ports = cli_clean(braw);
		json_t *xc = json_object_get(c, "exitCode");
		char code[16] = "-";
		const char *row[7];

		if (json_is_integer(xc))
			snprintf(code, sizeof(code), "%lld", (long long)json_integer_value(xc));
		row[0] = name;
		row[1] = image;
		row[2] = st;
		row[3] = !*health || !strcmp(health, "UNKNOWN") ? "-" : health;
		row[4] = code;
		row[5] = *ports ? ports : "-";
		row[6] = *reason ? reason : "-";
		cli_table_row(t, row);
	}
	cli_table_print(t, stdout);
	cli_table_free(t);
}

int cli_describe(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "cluster", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	cleanup_json json_t *tasks = json_array(), *failures = json_array(), *cache = json_object();
	const char *cluster = NULL;
	json_t *v;
	size_t i;
	int c, rc = 0;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': cluster = optarg; break;
		case 'j': cli.json = true; break;
		case 'h': describe_usage(stdout); return 0;
		default: describe_usage(stderr); return CLI_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		log_error("describe: give a TASK id, id prefix or ARN (see berth ps)");
		return CLI_EXIT_USAGE;
	}
	for (int k = optind; k < argc; k++) {
		struct cli_task ct;
		int r = cli_task_find(argv[k], cluster, false, &ct);

		if (r) {
			if (r == CLI_EXIT_NOT_FOUND)
				json_array_append_new(failures, json_pack("{s:s, s:s}", "arn", argv[k],
									  "reason", "MISSING"));
			/* not found is the mildest failure: another one wins */
			if (!rc || (rc == CLI_EXIT_NOT_FOUND && r != CLI_EXIT_NOT_FOUND))
				rc = r;
			continue;
		}
		json_array_append_new(tasks, ct.doc);
	}
	if (cli.json) {
		cleanup_json json_t *o = json_pack("{s:O, s:O}", "tasks", tasks, "failures", failures);

		cli_print_json(o);
		return rc;
	}
	json_array_foreach(tasks, i, v) {
		if (i)
			printf("\n");
		print_task(cache, v);
	}
	return rc;
}

/* ------------------------------------------------------------ stop */

static void stop_usage(FILE *f)
{
	fprintf(f,
		"Usage: berth stop [--reason TEXT] [--cluster NAME] [--wait] [--json] TASK...\n"
		"\n"
		"Ask berthd to stop tasks (ECS StopTask): each container gets its stop signal,\n"
		"then SIGKILL after its stopTimeout, in reverse dependsOn order. TASK is a task\n"
		"id, a unique prefix of one, or a task ARN.\n"
		"\n"
		"  --reason TEXT    the stoppedReason recorded (default \"Task stopped by user\")\n"
		"  --cluster NAME   look for the tasks in this cluster only\n"
		"  --wait           return once the tasks are STOPPED (all are asked to stop\n"
		"                   first, then waited for together)\n"
		"  --json           {\"tasks\": [the stopped tasks' Task objects]}\n"
		"\n"
		"Exit codes: 0, 1 berthd unreachable or it refused, 2 usage or an ambiguous\n"
		"prefix, 3 a task does not exist.\n");
}

int cli_stop(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "reason", required_argument, NULL, 'r' },
		{ "cluster", required_argument, NULL, 'c' },
		{ "wait", no_argument, NULL, 'w' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	cleanup_json json_t *out = json_array();
	const char *cluster = NULL, *reason = NULL;
	bool wait = false;
	int c, rc = 0;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'r': reason = optarg; break;
		case 'c': cluster = optarg; break;
		case 'w': wait = true; break;
		case 'j': cli.json = true; break;
		case 'h': stop_usage(stdout); return 0;
		default: stop_usage(stderr); return CLI_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		log_error("stop: give a TASK id, id prefix or ARN (see berth ps)");
		return CLI_EXIT_USAGE;
	}
	/* every stop is asked for first, then all are waited for together:
	 * the tasks stop side by side, not one stopTimeout after another */
	cleanup_json json_t *asked = json_array(); /* [{cluster, id, task}] */

	for (int k = optind; k < argc; k++) {
		cleanup_json json_t *resp = NULL;
		cleanup_free char *what = NULL;
		struct cli_task ct;
		json_t *q;
		int r = cli_task_find(argv[k], cluster, false, &ct);

		if (r) {
			if (!rc || (rc == CLI_EXIT_NOT_FOUND && r != CLI_EXIT_NOT_FOUND))
				rc = r;
			continue;
		}
		json_decref(ct.doc);
		what = xasprintf("stop task %s", ct.id);
		q = json_pack("{s:s, s:s}", "cluster", ct.cluster, "task", ct.id);
		if (reason)
			json_object_set_new(q, "reason", json_string(reason));
		if ((r = cli_api(what, "StopTask", q, &resp))) {
			if (!rc || (rc == CLI_EXIT_NOT_FOUND && r != CLI_EXIT_NOT_FOUND))
				rc = r;
			continue;
		}
		json_array_append_new(asked, json_pack("{s:s, s:s, s:O}", "cluster", ct.cluster, "id",
						       ct.id, "task", json_object_get(resp, "task")));
	}
	if (wait) {
		size_t i, j;
		json_t *a, *b;

		/* one wait per cluster, over all of its tasks */
		json_array_foreach(asked, i, a) {
			cleanup_json json_t *ids = json_array(), *final = NULL;
			const char *cl = str(a, "cluster");
			json_t *t;
			size_t k;
			int r;

			if (json_is_true(json_object_get(a, "waited")))
				continue;
			json_array_foreach(asked, j, b)
				if (j >= i && !strcmp(str(b, "cluster"), cl)) {
					json_array_append(ids, json_object_get(b, "id"));
					json_object_set_new(b, "waited", json_true());
				}
			if ((r = wait_tasks(cl, ids, "STOPPED", &final))) {
				rc = rc ? rc : r;
				continue;
			}
			json_array_foreach(final, k, t) {
				const char *id = cli_arn_tail(str(t, "taskArn"));

				json_array_foreach(asked, j, b)
					if (!strcmp(str(b, "cluster"), cl) && !strcmp(str(b, "id"), id))
						json_object_set(b, "task", t);
			}
		}
	}
	{
		size_t i;
		json_t *a;

		json_array_foreach(asked, i, a) {
			json_t *doc = json_object_get(a, "task");

			json_array_append(out, doc);
			if (!cli.json) {
				const char *last = str(doc, "lastStatus");

				printf("%s%s\n", str(a, "id"), !strcmp(last, "STOPPED") ? " stopped" : " stopping");
			}
		}
	}
	if (cli.json) {
		cleanup_json json_t *o = json_pack("{s:O}", "tasks", out);

		cli_print_json(o);
	}
	return rc;
}
