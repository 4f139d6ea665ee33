/* runtime/cli/stats.c - `berth stats`: live resource use of tasks, per
 * container, from berthd (BerthV1.GetTaskStats; docs/cli.md).
 *
 * berthd reports counters (CPU time used, bytes received and sent) and
 * levels (memory, pids) with the time it read them; CPU% is the CPU time
 * used between two samples over the wall time between them
 * (stats_cpu_percent in runtime/daemon/stats.h: 100% is one CPU). So the
 * first figures come with the second sample, a second after the first. */
#include "runtime/cli/cli.h"
#include "runtime/cli/client.h"
#include "runtime/daemon/stats.h"

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
#include <time.h>
#include <unistd.h>

#define INTERVAL_MS 1000

static void stats_usage(FILE *f)
{
	fprintf(f,
		"Usage: berth stats [--no-stream] [--cluster NAME] [--json] [TASK...]\n"
		"\n"
		"Show the resource use of tasks, one row per container, refreshed every\n"
		"second (redrawn in place on a terminal) until Ctrl-C. Without TASK: every\n"
		"RUNNING task (of the cluster, with --cluster). TASK is a task id, a unique\n"
		"prefix of one, or an ARN.\n"
		"\n"
		"  CPU %%             CPU time used over the last interval; 100%% is one CPU\n"
		"  MEM USAGE / LIMIT memory.current of the container's cgroup, and the limit\n"
		"                    that applies: the container's, else the task's, else the\n"
		"                    host's memory\n"
		"  PIDS              processes and threads in the container's cgroup\n"
		"  NET I/O           bytes received / sent by the task's network namespace\n"
		"                    (shared by its containers; - with networkMode host)\n"
		"\n"
		"  --no-stream       print one set of figures (two samples, a second apart) and exit\n"
		"  --cluster NAME    the tasks of this cluster only\n"
		"  --json            one JSON document per sample: GetTaskStats' tasks with\n"
		"                    cpuPercent and memoryPercent added\n"
		"  -h, --help        this help\n"
		"\n"
		"Exit codes: 0, 1 berthd unreachable or it failed, 2 usage, 3 no such task or cluster.\n");
}

static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
	(void)sig;
	interrupted = 1;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	while (!interrupted && nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static const char *str(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "";
}

/* One GetTaskStats call: 0 with *resp, or an exit code (logged). A task
 * asked for that berthd no longer has is exit 3. */
static int sample(const json_t *ids, const char *cluster, json_t **resp)
{
	struct client_error e = { 0 };
	cleanup_json json_t *req = json_object();
	json_t *failures;

	if (ids)
		json_object_set(req, "tasks", (json_t *)ids);
	if (cluster)
		json_object_set_new(req, "cluster", json_string(cluster));
	if (client_call_target(client_socket_path(cli.socket), 0, CLIENT_BERTH_PREFIX,
			       "GetTaskStats", req, resp, &e) < 0)
		return cli_api_fail("stats", &e);
	failures = json_object_get(*resp, "failures");
	if (json_array_size(failures)) {
		cleanup_free char *arn = cli_clean(str(json_array_get(failures, 0), "arn"));

		log_error("stats: task %s not found (%s)", arn, str(json_array_get(failures, 0), "reason"));
		json_decref(*resp);
		*resp = NULL;
		return CLI_EXIT_NOT_FOUND;
	}
	return 0;
}

static json_t *find_by(const json_t *arr, const char *key, const char *value)
{
	json_t *v;
	size_t i;

	json_array_foreach(arr, i, v)
		if (!strcmp(str(v, key), value))
			return v;
	return NULL;
}

/* CPU% of o between its earlier sample `prev` (same task or container)
 * and now, `t0`/`t1` the samples' times; -1 when either lacks the counter. */
static double cpu_percent(const json_t *prev, double t0, const json_t *o, double t1)
{
	json_t *u0 = json_object_get(prev, "cpuUsageUsec"), *u1 = json_object_get(o, "cpuUsageUsec");

	if (!json_is_integer(u0) || !json_is_integer(u1))
		return -1;
	return stats_cpu_percent((uint64_t)json_integer_value(u0), t0,
				 (uint64_t)json_integer_value(u1), t1);
}

static double mem_percent(const json_t *o)
{
	json_t *use = json_object_get(o, "memoryUsage"), *lim = json_object_get(o, "memoryLimit");

	if (!json_is_integer(use) || !json_is_integer(lim) || json_integer_value(lim) <= 0)
		return -1;
	return (double)json_integer_value(use) * 100.0 / (double)json_integer_value(lim);
}

/* The current sample with cpuPercent and memoryPercent added to each task
 * and container (new reference). */
static json_t *annotate(const json_t *prev, const json_t *cur)
{
	json_t *out = json_deep_copy(cur), *t, *c;
	size_t i, k;

	json_array_foreach(json_object_get(out, "tasks"), i, t) {
		json_t *pt = find_by(json_object_get(prev, "tasks"), "taskArn", str(t, "taskArn"));
		double t0 = json_number_value(json_object_get(pt, "time"));
		double t1 = json_number_value(json_object_get(t, "time"));
		double p;

		json_t *ctrs = json_incref(json_object_get(t, "containers"));

		if ((p = cpu_percent(pt, t0, t, t1)) >= 0)
			json_object_set_new(t, "cpuPercent", json_real(p));
		if ((p = mem_percent(t)) >= 0)
			json_object_set_new(t, "memoryPercent", json_real(p));
		/* the containers stay the last member, after the task's own figures */
		json_object_del(t, "containers");
		json_object_set_new(t, "containers", ctrs ? ctrs : json_array());
		json_array_foreach(json_object_get(t, "containers"), k, c) {
			json_t *pc = find_by(json_object_get(pt, "containers"), "name", str(c, "name"));

			if ((p = cpu_percent(pc, t0, c, t1)) >= 0)
				json_object_set_new(c, "cpuPercent", json_real(p));
			if ((p = mem_percent(c)) >= 0)
				json_object_set_new(c, "memoryPercent", json_real(p));
		}
	}
	return out;
}

/* "12.5MiB", "256MiB", "1.5GiB", as docker stats prints memory. */
static void mem_size(json_t *v, char *buf, size_t len)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	double x;
	size_t u = 0;

	if (!json_is_integer(v)) {
		snprintf(buf, len, "-");
		return;
	}
	x = (double)json_integer_value(v);
	while (x >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		x /= 1024;
		u++;
	}
	snprintf(buf, len, "%.4g%s", x, units[u]);
}

static void percent(json_t *v, char *buf, size_t len)
{
	if (json_is_number(v))
		snprintf(buf, len, "%.2f%%", json_number_value(v));
	else
		snprintf(buf, len, "-");
}

static void render_table(const json_t *doc, bool tty, bool first)
{
	static const char *const headers[] = { "TASK", "CONTAINER", "CPU %", "MEM USAGE / LIMIT",
					       "MEM %", "PIDS", "NET I/O" };
	struct cli_table *tb = cli_table_new(7, headers);
	json_t *t, *c;
	size_t i, k;

	json_array_foreach(json_object_get(doc, "tasks"), i, t) {
		json_t *rx = json_object_get(t, "networkRxBytes"), *tx = json_object_get(t, "networkTxBytes");
		char net[80];

		if (json_is_integer(rx) && json_is_integer(tx)) {
			char a[32], b[32];

			cli_human_size((uint64_t)json_integer_value(rx), a, sizeof(a));
			cli_human_size((uint64_t)json_integer_value(tx), b, sizeof(b));
			snprintf(net, sizeof(net), "%s / %s", a, b);
		} else {
			snprintf(net, sizeof(net), "-");
		}
		json_array_foreach(json_object_get(t, "containers"), k, c) {
			cleanup_free char *name = cli_clean(str(c, "name"));
			char id[13], cpu[32], mem[80], use[32], lim[32], mp[32], pids[32];
			json_t *pv = json_object_get(c, "pids");

			snprintf(id, sizeof(id), "%.12s", cli_arn_tail(str(t, "taskArn")));
			percent(json_object_get(c, "cpuPercent"), cpu, sizeof(cpu));
			mem_size(json_object_get(c, "memoryUsage"), use, sizeof(use));
			mem_size(json_object_get(c, "memoryLimit"), lim, sizeof(lim));
			snprintf(mem, sizeof(mem), "%s / %s", use, lim);
			percent(json_object_get(c, "memoryPercent"), mp, sizeof(mp));
			if (json_is_integer(pv))
				snprintf(pids, sizeof(pids), "%lld", (long long)json_integer_value(pv));
			else
				snprintf(pids, sizeof(pids), "-");
			cli_table_row(tb, (const char *const[]){ id, name, cpu, mem, mp, pids, net });
		}
	}
	if (tty)
		fputs("\033[H\033[2J", stdout);   /* home, clear: redraw in place */
	else if (!first)
		fputc('\n', stdout);
	cli_table_print(tb, stdout);
	cli_table_free(tb);
	fflush(stdout);
}

int cli_stats(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "no-stream", no_argument, NULL, 'n' },
		{ "cluster", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sigaction sa = { .sa_handler = on_interrupt };
	cleanup_json json_t *ids = NULL, *prev = NULL;
	const char *cluster = NULL;
	bool no_stream = false, tty = isatty(STDOUT_FILENO), first = true;
	int c, r;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'n': no_stream = true; break;
		case 'c': cluster = optarg; break;
		case 'j': cli.json = true; break;
		case 'h': stats_usage(stdout); return 0;
		default: stats_usage(stderr); return CLI_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		ids = json_array();
		for (int i = optind; i < argc; i++) {
			struct cli_task t;

			if ((r = cli_task_find(argv[i], cluster, false, &t)))
				return r;
			json_array_append_new(ids, json_string(t.id));
			json_decref(t.doc);
		}
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if ((r = sample(ids, cluster, &prev)))
		return r;
	while (!interrupted) {
		cleanup_json json_t *cur = NULL, *doc = NULL;

		sleep_ms(INTERVAL_MS);
		if (interrupted)
			break;
		if ((r = sample(ids, cluster, &cur)))
			return r;
		doc = annotate(prev, cur);
		if (cli.json) {
			cleanup_free char *line = json_dumps(doc, JSON_COMPACT);

			printf("%s\n", line ? line : "{}");
			fflush(stdout);
		} else {
			render_table(doc, tty, first);
		}
		first = false;
		json_decref(prev);
		prev = steal_pointer(&cur);
		if (no_stream)
			break;
	}
	return CLI_EXIT_OK;
}
