/* runtime/cli/schedule.c - `berth schedule create|ls|describe|rm`:
 * scheduled tasks kept by berthd (BerthV1.CreateSchedule, ListSchedules,
 * DescribeSchedule, DeleteSchedule; docs/cli.md, docs/berthd.md "Scheduled
 * tasks"). */
#include "runtime/cli/cli.h"
#include "runtime/cli/client.h"

#include "common/cleanup.h"
#include "common/json.h"
#include "common/log.h"
#include "common/xalloc.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void schedule_usage(FILE *f)
{
	fprintf(f,
		"Usage: berth schedule COMMAND\n"
		"\n"
		"Scheduled tasks: berthd runs a task definition on an EventBridge schedule\n"
		"expression and records every run (docs/berthd.md, \"Scheduled tasks\").\n"
		"\n"
		"  create NAME --expression EXPR --task-definition TD [--count N]\n"
		"      [--cluster C] [--launch-type EC2|FARGATE] [--group G]\n"
		"      [--missed-runs skip-missed|run-once] [--description TEXT]\n"
		"                     EXPR: rate(5 minutes), cron(0 12 * * ? *),\n"
		"                     at(2026-12-24T18:00:00) (UTC)\n"
		"  ls                 list schedules (NAME, EXPRESSION, NEXT, RUNS, TASK DEFINITION)\n"
		"  describe NAME [--runs N]\n"
		"                     the schedule and its newest runs with their tasks' status\n"
		"  rm NAME...         delete schedules (their runs' tasks keep running)\n"
		"\n"
		"Options: --json (the API's response), -h/--help. Exit codes: 0 done, 1 berthd\n"
		"unreachable or it refused, 2 usage, 3 a schedule does not exist.\n");
}

/* req is consumed */
static int call(const char *what, const char *op, json_t *req, json_t **resp)
{
	struct client_error e = { 0 };
	int r = client_call_target(client_socket_path(cli.socket), 0, CLIENT_BERTH_PREFIX, op, req,
				   resp, &e);

	json_decref(req);
	if (r < 0)
		return cli_api_fail(what, &e);
	return 0;
}

static const char *str(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "";
}

static void utc(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0 || !gmtime_r(&tt, &tm))
		snprintf(buf, len, "-");
	else
		strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int cmd_create(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "expression", required_argument, NULL, 'e' },
		{ "task-definition", required_argument, NULL, 't' },
		{ "count", required_argument, NULL, 'n' },
		{ "cluster", required_argument, NULL, 'c' },
		{ "launch-type", required_argument, NULL, 'l' },
		{ "group", required_argument, NULL, 'g' },
		{ "missed-runs", required_argument, NULL, 'm' },
		{ "description", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	cleanup_json json_t *req = json_object(), *resp = NULL;
	const char *keys[256] = { 0 };
	char *end;
	int c, r;

	keys['e'] = "scheduleExpression";
	keys['t'] = "taskDefinition";
	keys['c'] = "cluster";
	keys['l'] = "launchType";
	keys['g'] = "group";
	keys['m'] = "missedRuns";
	keys['d'] = "description";
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'j': cli.json = true; break;
		case 'h': schedule_usage(stdout); return 0;
		case 'n': {
			long long n;

			errno = 0;
			n = strtoll(optarg, &end, 10);
			if (errno || *end || n < 1 || n > 10) {
				log_error("schedule create: --count %s: a number from 1 to 10", optarg);
				return CLI_EXIT_USAGE;
			}
			json_object_set_new(req, "count", json_integer(n));
			break;
		}
		case 'e': case 't': case 'c': case 'l': case 'g': case 'm': case 'd':
			json_object_set_new(req, keys[c], json_string(optarg));
			break;
		default: return CLI_EXIT_USAGE;
		}
	}
	if (optind + 1 != argc) {
		log_error("schedule create: one NAME (berth schedule create NAME --expression EXPR "
			  "--task-definition TD)");
		return CLI_EXIT_USAGE;
	}
	if (!json_object_get(req, "scheduleExpression") || !json_object_get(req, "taskDefinition")) {
		log_error("schedule create: --expression and --task-definition are required");
		return CLI_EXIT_USAGE;
	}
	json_object_set_new(req, "name", json_string(argv[optind]));
	r = call("schedule create", "CreateSchedule", json_incref(req), &resp);
	if (r)
		return r;
	if (cli.json) {
		cli_print_json(resp);
	} else {
		json_t *s = json_object_get(resp, "schedule");
		cleanup_free char *n = cli_clean(str(s, "name")), *x = cli_clean(str(s, "scheduleExpression"));
		char next[32];

		utc(json_integer_value(json_object_get(s, "nextFire")), next, sizeof(next));
		printf("%s created: %s, next run %s\n", n, x, next);
	}
	return 0;
}

/* the options of ls, describe and rm. -1 to go on, else the exit code */
static int common_opts(int argc, char **argv, int64_t *runs)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' }, { "runs", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	char *end;
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'j') {
			cli.json = true;
		} else if (c == 'h') {
			schedule_usage(stdout);
			return 0;
		} else if (c == 'r' && runs) {
			errno = 0;
			*runs = strtoll(optarg, &end, 10);
			if (errno || *end || *runs < 1 || *runs > 1000) {
				log_error("schedule describe: --runs %s: a number from 1 to 1000", optarg);
				return CLI_EXIT_USAGE;
			}
		} else {
			return CLI_EXIT_USAGE;
		}
	}
	return -1;
}

static int cmd_ls(int argc, char **argv)
{
	static const char *const hdr[] = { "NAME", "EXPRESSION", "NEXT", "RUNS", "TASK DEFINITION" };
	cleanup_json json_t *resp = NULL;
	struct cli_table *t;
	json_t *v;
	size_t i;
	int c, r;

	if ((c = common_opts(argc, argv, NULL)) >= 0)
		return c;
	if (optind != argc) {
		log_error("schedule ls: takes no arguments");
		return CLI_EXIT_USAGE;
	}
	r = call("schedule ls", "ListSchedules", json_object(), &resp);
	if (r)
		return r;
	if (cli.json) {
		cli_print_json(resp);
		return 0;
	}
	t = cli_table_new(5, hdr);
	json_array_foreach(json_object_get(resp, "schedules"), i, v) {
		cleanup_free char *n = cli_clean(str(v, "name")), *x = cli_clean(str(v, "scheduleExpression"));
		cleanup_free char *td = cli_clean(str(json_object_get(v, "target"), "taskDefinition"));
		cleanup_free char *runs = xasprintf("%lld", (long long)json_integer_value(json_object_get(v, "runs")));
		char next[32];
		const char *row[5] = { n, x, next, runs, td };

		utc(json_integer_value(json_object_get(v, "nextFire")), next, sizeof(next));
		cli_table_row(t, row);
	}
	cli_table_print(t, stdout);
	cli_table_free(t);
	return 0;
}

static int cmd_describe(int argc, char **argv)
{
	static const char *const hdr[] = { "FIRE TIME", "STARTED", "TASK", "STATUS", "EXIT" };
	cleanup_json json_t *resp = NULL, *req = NULL;
	int64_t runs = 20;
	struct cli_table *t;
	json_t *s, *run, *task;
	size_t i, j;
	int c, r;

	if ((c = common_opts(argc, argv, &runs)) >= 0)
		return c;
	if (optind + 1 != argc) {
		log_error("schedule describe: one NAME");
		return CLI_EXIT_USAGE;
	}
	req = json_pack("{s:s, s:I}", "name", argv[optind], "maxRuns", (json_int_t)runs);
	r = call("schedule describe", "DescribeSchedule", json_incref(req), &resp);
	if (r)
		return r;
	if (cli.json) {
		cli_print_json(resp);
		return 0;
	}
	s = json_object_get(resp, "schedule");
	{
		cleanup_free char *n = cli_clean(str(s, "name")), *x = cli_clean(str(s, "scheduleExpression"));
		cleanup_free char *td = cli_clean(str(json_object_get(s, "target"), "taskDefinition"));
		char next[32];

		utc(json_integer_value(json_object_get(s, "nextFire")), next, sizeof(next));
		printf("%s: %s, %s, next run %s, %lld runs, %lld missed, missedRuns %s\n", n, x, td, next,
		       (long long)json_integer_value(json_object_get(s, "runs")),
		       (long long)json_integer_value(json_object_get(s, "missed")), str(s, "missedRuns"));
	}
	t = cli_table_new(5, hdr);
	json_array_foreach(json_object_get(resp, "runs"), i, run) {
		char fire[32], started[32];

		utc(json_integer_value(json_object_get(run, "fireTime")), fire, sizeof(fire));
		utc((int64_t)json_number_value(json_object_get(run, "startedAt")), started, sizeof(started));
		if (json_object_get(run, "error")) {
			cleanup_free char *err = cli_clean(str(run, "error"));
			const char *row[5] = { fire, started, "-", err, "-" };

			cli_table_row(t, row);
			continue;
		}
		json_array_foreach(json_object_get(run, "tasks"), j, task) {
			cleanup_free char *id = cli_clean(strrchr(str(task, "taskArn"), '/') ?
							  strrchr(str(task, "taskArn"), '/') + 1 : "");
			cleanup_free char *st = cli_clean(str(task, "lastStatus"));
			cleanup_free char *ex = json_is_integer(json_object_get(task, "exitCode"))
				? xasprintf("%lld", (long long)json_integer_value(json_object_get(task, "exitCode")))
				: xstrdup("-");
			const char *row[5] = { fire, started, id, st, ex };

			cli_table_row(t, row);
		}
	}
	cli_table_print(t, stdout);
	cli_table_free(t);
	return 0;
}

static int cmd_rm(int argc, char **argv)
{
	int c, r, rc = 0;

	if ((c = common_opts(argc, argv, NULL)) >= 0)
		return c;
	if (optind >= argc) {
		log_error("schedule rm: which schedule? (berth schedule rm NAME...)");
		return CLI_EXIT_USAGE;
	}
	for (int i = optind; i < argc; i++) {
		cleanup_json json_t *resp = NULL;

		r = call("schedule rm", "DeleteSchedule", json_pack("{s:s}", "name", argv[i]), &resp);
		if (r) {
			if (!rc)
				rc = r;
			continue;
		}
		if (!cli.json) {
			cleanup_free char *n = cli_clean(argv[i]);

			printf("%s deleted\n", n);
		}
	}
	return rc;
}

int cli_schedule(int argc, char **argv)
{
	const char *sub;

	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		schedule_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? CLI_EXIT_USAGE : 0;
	}
	sub = argv[1];
	argc--;
	argv++;
	if (!strcmp(sub, "create"))
		return cmd_create(argc, argv);
	if (!strcmp(sub, "ls") || !strcmp(sub, "list"))
		return cmd_ls(argc, argv);
	if (!strcmp(sub, "describe") || !strcmp(sub, "show"))
		return cmd_describe(argc, argv);
	if (!strcmp(sub, "rm") || !strcmp(sub, "remove") || !strcmp(sub, "delete"))
		return cmd_rm(argc, argv);
	log_error("schedule: unknown command \"%s\" (see berth schedule --help)", sub);
	return CLI_EXIT_USAGE;
}
