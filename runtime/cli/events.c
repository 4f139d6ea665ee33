/* runtime/cli/events.c - `berth events`: the task state changes berthd
 * recorded (BerthV1.ListEvents; docs/cli.md, docs/berthd.md).
 *
 * Events carry a sequence number that berthd never reuses. The CLI asks
 * for the events after the last number it has seen, and berthd answers
 * with the number to ask from next time (lastSeq), which moves past events
 * the filters left out as well; so -f, polling every 250 ms, prints each
 * event once and misses none. */
#include "runtime/cli/cli.h"
#include "runtime/cli/client.h"

#include "common/cleanup.h"
#include "common/json.h"
#include "common/log.h"
#include "common/xalloc.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define POLL_MS 250
#define PAGE 1000
#define CLUSTER_WIDTH 10

static void events_usage(FILE *f)
{
	fprintf(f,
		"Usage: berth events [--since WHEN] [--until WHEN] [-f] [--cluster NAME] [--task TASK]\n"
		"                    [--json]\n"
		"\n"
		"Print the task state changes berthd recorded, oldest first: a task's status\n"
		"(PROVISIONING ... RUNNING ... STOPPED) and desired status, each container's\n"
		"status (with its exit code when it stops) and health. berthd keeps the\n"
		"newest 10000.\n"
		"\n"
		"  --since WHEN      only events from WHEN on: a duration before now (90s, 10m,\n"
		"                    1h30m, 2d, 500ms), an RFC 3339 time (2026-11-21T10:45:00Z,\n"
		"                    2026-11-21T11:45:00+01:00, 2026-11-21) or Unix seconds;\n"
		"                    default: every event kept, or with -f: now\n"
		"  --until WHEN      only events up to WHEN (with -f: stop following then)\n"
		"  -f, --follow      keep printing new events as they happen, until Ctrl-C\n"
		"  --cluster NAME    only this cluster's tasks\n"
		"  --task TASK       only this task (id, unique id prefix or ARN)\n"
		"  --json            one JSON object per line: the event as ListEvents gives it\n"
		"                    (seq, time, cluster, taskArn, kind, container, status,\n"
		"                    previous, exitCode, summary, detail: the Task)\n"
		"  -h, --help        this help\n"
		"\n"
		"Exit codes: 0, 1 berthd unreachable or it failed, 2 usage, 3 no such task.\n");
}

/* ------------------------------------------------------------ times */

static double now_real(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* "1h30m", "500ms", "2d": seconds; -1 when s is not a duration. */
static double duration(const char *s)
{
	static const struct {
		const char *unit;
		double secs;
	} units[] = { { "ms", 0.001 }, { "s", 1 }, { "m", 60 }, { "h", 3600 }, { "d", 86400 } };
	double total = 0;

	if (!*s)
		return -1;
	while (*s) {
		char *end = NULL;
		double v;
		size_t i;

		if (!isdigit((unsigned char)*s))
			return -1;
		v = strtod(s, &end);
		for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
			if (!strncmp(end, units[i].unit, strlen(units[i].unit)))
				break;   /* "ms" is tried before "m" */
		if (i == sizeof(units) / sizeof(units[0]))
			return -1;
		total += v * units[i].secs;
		s = end + strlen(units[i].unit);
	}
	return total;
}

/* YYYY-MM-DD[(T|t| )HH:MM:SS[.frac][Z|z|±HH:MM]]: epoch seconds, -1 when not. */
static double rfc3339(const char *s)
{
	struct tm tm = { 0 };
	const char *p = strptime(s, "%Y-%m-%d", &tm);
	double frac = 0;
	long off = 0;

	if (!p)
		return -1;
	if (*p == 'T' || *p == 't' || *p == ' ') {
		p = strptime(p + 1, "%H:%M:%S", &tm);
		if (!p)
			return -1;
		if (*p == '.') {
			char *end = NULL;

			if (!isdigit((unsigned char)p[1]))
				return -1;
			frac = strtod(p, &end);
			p = end;
		}
		if (*p == 'Z' || *p == 'z') {
			p++;
		} else if (*p == '+' || *p == '-') {
			int hh, mm, n = 0;

			if (sscanf(p + 1, "%2d:%2d%n", &hh, &mm, &n) != 2 || n != 5)
				return -1;
			off = (*p == '-' ? -1 : 1) * (hh * 3600L + mm * 60L);
			p += 6;
		}
	}
	if (*p)
		return -1;
	return (double)timegm(&tm) - (double)off + frac;
}

/* --since/--until: 0 with *out (epoch seconds), -1 (logged) when WHEN is
 * none of the forms. */
static int parse_when(const char *opt, const char *s, double now, double *out)
{
	double v;

	if (*s && strspn(s, "0123456789.") == strlen(s) && strchr(s, '.') == strrchr(s, '.') &&
	    isdigit((unsigned char)*s)) {
		*out = strtod(s, NULL);
		return 0;
	}
	if ((v = duration(s)) >= 0) {
		*out = now - v > 0 ? now - v : 0;
		return 0;
	}
	if ((v = rfc3339(s)) >= 0) {
		*out = v;
		return 0;
	}
	log_error("%s %s: want a duration (90s, 10m, 1h30m, 2d), an RFC 3339 time "
		  "(2026-11-21T10:45:00Z) or Unix seconds", opt, s);
	return -1;
}

static void format_time(double t, char *buf, size_t len)
{
	time_t s = (time_t)t;
	struct tm tm;
	int ms = (int)((t - (double)s) * 1000);
	char day[32];

	gmtime_r(&s, &tm);
	strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%03dZ", day, ms < 0 ? 0 : ms > 999 ? 999 : ms);
}

/* ------------------------------------------------------------ output */

static void print_header(void)
{
	printf("%-24s   %-*s   %-12s   %s\n", "TIME", CLUSTER_WIDTH, "CLUSTER", "TASK", "WHAT");
}

static void print_event(const json_t *ev)
{
	const char *arn = json_string_value(json_object_get(ev, "taskArn"));
	cleanup_free char *cluster = cli_clean(json_string_value(json_object_get(ev, "cluster")));
	cleanup_free char *what = cli_clean(json_string_value(json_object_get(ev, "summary")));
	cleanup_free char *task = cli_clean(cli_arn_tail(arn));
	char when[48];

	if (cli.json) {
		cleanup_free char *line = json_dumps(ev, JSON_COMPACT);

		printf("%s\n", line ? line : "{}");
		return;
	}
	format_time(json_number_value(json_object_get(ev, "time")), when, sizeof(when));
	printf("%-24s   %-*s   %-12.12s   %s\n", when, CLUSTER_WIDTH, cluster, task, what);
}

/* ------------------------------------------------------------ the verb */

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

/* --task: the task id, *known = whether berthd has the task. A full id or
 * ARN is taken as it is even when berthd no longer has the task (its
 * events outlive it); a prefix must match a task. 0 or an exit code. */
static int resolve_task(const char *ref, const char *cluster, char id[33], bool *known)
{
	struct cli_task t;
	const char *tail = cli_arn_tail(ref);
	bool full = cli_is_task_id(tail) && (strncmp(ref, "arn:", 4) || strstr(ref, ":task/"));
	int r = cli_task_find(ref, cluster, full, &t);

	*known = r == 0;
	if (r == 0) {
		memcpy(id, t.id, 33);
		json_decref(t.doc);
		return 0;
	}
	if (!full)
		return r;
	if (r != CLI_EXIT_NOT_FOUND && r != -1)
		return r;
	memcpy(id, tail, 33);   /* unreachable (-1): ListEvents will say so */
	return 0;
}

int cli_events(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "since", required_argument, NULL, 's' },
		{ "until", required_argument, NULL, 'u' },
		{ "follow", no_argument, NULL, 'f' },
		{ "cluster", required_argument, NULL, 'c' },
		{ "task", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sigaction sa = { .sa_handler = on_interrupt };
	const char *since_s = NULL, *until_s = NULL, *cluster = NULL, *task = NULL;
	double now = now_real(), since = 0, until = 0;
	bool follow = false, known = true, warned = false, any = false, header = false;
	int64_t after = 0;
	char id[33] = "";
	int c, r;

	while ((c = getopt_long(argc, argv, "fh", opts, NULL)) != -1) {
		switch (c) {
		case 's': since_s = optarg; break;
		case 'u': until_s = optarg; break;
		case 'f': follow = true; break;
		case 'c': cluster = optarg; break;
		case 't': task = optarg; break;
		case 'j': cli.json = true; break;
		case 'h': events_usage(stdout); return 0;
		default: events_usage(stderr); return CLI_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		log_error("events: unexpected argument \"%s\" (a task goes with --task)", argv[optind]);
		events_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if ((since_s && parse_when("--since", since_s, now, &since) < 0) ||
	    (until_s && parse_when("--until", until_s, now, &until) < 0))
		return CLI_EXIT_USAGE;
	if (since_s && since == 0)
		since = 1e-6;   /* "since the epoch": 0 would mean no bound */
	if (!since_s && follow)
		since = now;
	if (task && (r = resolve_task(task, cluster, id, &known)))
		return r;

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	/* the header once there is something to say (not before "not found") */
	if (!cli.json && follow) {
		print_header();
		header = true;
	}
	fflush(stdout);
	while (!interrupted) {
		cleanup_json json_t *resp = NULL;
		struct client_error e = { 0 };
		json_t *req = json_pack("{s:I, s:i}", "afterSeq", (json_int_t)after, "maxResults", PAGE);
		json_t *evs, *ev;
		int64_t first;
		size_t i;

		if (cluster)
			json_object_set_new(req, "cluster", json_string(cluster));
		if (id[0])
			json_object_set_new(req, "task", json_string(id));
		if (since > 0)
			json_object_set_new(req, "since", json_real(since));
		if (until > 0)
			json_object_set_new(req, "until", json_real(until));
		r = client_call_target(client_socket_path(cli.socket), 0, CLIENT_BERTH_PREFIX,
				       "ListEvents", req, &resp, &e);
		json_decref(req);
		if (r < 0) {
			/* following through a berthd restart: its events are kept */
			if (follow && any && e.kind == CLIENT_UNREACHABLE) {
				if (!warned)
					log_warn("events: %s; trying again", e.message);
				warned = true;
				client_error_clear(&e);
				sleep_ms(1000);
				continue;
			}
			return cli_api_fail("events", &e);
		}
		any = true;
		warned = false;
		first = json_integer_value(json_object_get(resp, "firstSeq"));
		if (after > 0 && first > after + 1)
			log_warn("events: %" PRId64 " events were dropped before they were read "
				 "(berthd keeps the newest 10000)", first - after - 1);
		evs = json_object_get(resp, "events");
		if (json_array_size(evs)) {
			known = true;
			if (!cli.json && !header)
				print_header();
			header = true;
		}
		json_array_foreach(evs, i, ev)
			print_event(ev);
		fflush(stdout);
		if (json_integer_value(json_object_get(resp, "lastSeq")) > after)
			after = json_integer_value(json_object_get(resp, "lastSeq"));
		if (json_is_true(json_object_get(resp, "more")))
			continue;
		if (!follow || (until > 0 && now_real() > until))
			break;
		sleep_ms(POLL_MS);
	}
	if (!known && !follow) {
		log_error("task %s not found, and berthd has no events of it (see berth ps -a)", id);
		return CLI_EXIT_NOT_FOUND;
	}
	if (!cli.json && !header)
		print_header();
	fflush(stdout);
	return CLI_EXIT_OK;
}
