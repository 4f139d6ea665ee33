/* tests/tools/shimctl_tool.c - berth-shimctl: drive a berth-shim from shell
 * (the VM cases), through runtime/shim/shimclient.h as berthd does.
 *
 *   berth-shimctl spawn SHIM BUNDLE [--timeout-ms N]
 *       start the shim, wait for it to detach; prints its pid
 *   berth-shimctl watch BUNDLE [--until STATUS] [--timeout S] [--count N] [--brief]
 *       prints every snapshot as one JSON line ({"seq":N,"task":{...},
 *       "type":"state"}; --brief: "SEQ LASTSTATUS DESIREDSTATUS"); when the
 *       shim closes the connection, status.json's snapshot (if newer).
 *       Ends (0) at the first snapshot whose lastStatus is STATUS, after N
 *       snapshots, or when the shim is gone; 1 when the task went past
 *       STATUS without it, or the shim is gone while --until was not met;
 *       124 after S seconds (default: no limit)
 *   berth-shimctl stop BUNDLE [REASON] [--code CODE] [--timeout S]
 *       ask for a stop; waits until a snapshot says desiredStatus STOPPED
 *   berth-shimctl status BUNDLE [PATH]
 *       status.json's task object, or one value in it: PATH is dotted keys,
 *       a containers element by index or by name (containers.web.exitCode);
 *       exit 3 when the value is absent, 1 when there is no status.json */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/json.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "runtime/shim/shimclient.h"

static const char *const order[] = { "PROVISIONING", "PENDING", "RUNNING", "DEPROVISIONING", "STOPPED" };

static int status_index(const char *s)
{
	for (int i = 0; i < 5; i++)
		if (s && !strcmp(s, order[i]))
			return i;
	return -1;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: berth-shimctl spawn SHIM BUNDLE [--timeout-ms N]\n"
		   "       berth-shimctl watch BUNDLE [--until STATUS] [--timeout S] [--count N] [--brief]\n"
		   "       berth-shimctl stop BUNDLE [REASON] [--code CODE] [--timeout S]\n"
		   "       berth-shimctl status BUNDLE [PATH]\n");
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *str(json_t *task, const char *key)
{
	const char *s = json_string_value(json_object_get(task, key));

	return s ? s : "-";
}

static void print_snapshot(uint64_t seq, json_t *task, bool brief)
{
	if (brief) {
		printf("%llu %s %s\n", (unsigned long long)seq, str(task, "lastStatus"), str(task, "desiredStatus"));
	} else {
		cleanup_json json_t *msg = json_pack("{s:s, s:I, s:O}", "type", "state", "seq",
						     (json_int_t)seq, "task", task);
		cleanup_free char *txt = bjson_dumps(msg);

		printf("%s\n", txt);
	}
	fflush(stdout);
}

static int cmd_spawn(int argc, char **argv)
{
	cleanup_berr struct berr *err = NULL;
	int timeout = 0;
	pid_t pid;

	if (argc == 5 && !strcmp(argv[3], "--timeout-ms"))
		timeout = atoi(argv[4]);
	else if (argc != 3) {
		usage(stderr);
		return 2;
	}
	if (shimc_spawn(argv[1], argv[2], timeout, &pid, &err) < 0) {
		fprintf(stderr, "berth-shimctl: %s\n", berr_msg(err));
		return 1;
	}
	printf("%d\n", (int)pid);
	return 0;
}

/* Connect, retrying a full backlog; -ENOENT/-ECONNREFUSED: no shim. */
static int connect_shim(const char *bundle, int64_t deadline, struct berr **err)
{
	for (;;) {
		int fd = shimc_connect(bundle, err);

		if (fd != -EAGAIN || (deadline && mono_ms() >= deadline))
			return fd;
		berr_clear(err);
		usleep(10000);
	}
}

static int cmd_watch(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "until", required_argument, NULL, 'u' },
		{ "timeout", required_argument, NULL, 't' },
		{ "count", required_argument, NULL, 'c' },
		{ "brief", no_argument, NULL, 'b' },
		{ NULL, 0, NULL, 0 },
	};
	cleanup_berr struct berr *err = NULL;
	cleanup_close int fd = -1;
	const char *until = NULL, *bundle;
	int64_t deadline = 0;
	long count = 0, seen = 0;
	uint64_t last_seq = 0;
	bool brief = false;
	int c, want = -1;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'u': until = optarg; break;
		case 't': deadline = mono_ms() + (int64_t)(atof(optarg) * 1000); break;
		case 'c': count = atol(optarg); break;
		case 'b': brief = true; break;
		default: usage(stderr); return 2;
		}
	}
	if (optind + 1 != argc) {
		usage(stderr);
		return 2;
	}
	bundle = argv[optind];
	if (until && (want = status_index(until)) < 0) {
		fprintf(stderr, "berth-shimctl: --until %s: not a task status\n", until);
		return 2;
	}
	fd = connect_shim(bundle, deadline, &err);
	for (;;) {
		json_t *task = NULL;
		uint64_t seq = 0;
		int r, at;

		if (fd < 0) {
			r = 0;      /* no shim: what did it leave? */
		} else {
			int left = -1;

			if (deadline) {
				left = (int)(deadline - mono_ms());
				if (left <= 0) {
					fprintf(stderr, "berth-shimctl: watch: timed out\n");
					return 124;
				}
			}
			r = shimc_recv_wait(fd, left, &seq, &task, &err);
			if (r == -ETIMEDOUT) {
				fprintf(stderr, "berth-shimctl: watch: timed out\n");
				return 124;
			}
			if (r < 0 && r != -EPROTO) {
				fprintf(stderr, "berth-shimctl: %s\n", berr_msg(err));
				return 1;
			}
			if (r == -EPROTO) {
				fprintf(stderr, "berth-shimctl: %s\n", berr_msg(err));
				berr_clear(&err);
				continue;
			}
		}
		if (r == 0) {
			berr_clear(&err);
			r = shimc_read_status(bundle, &seq, &task, &err);
			if (r < 0) {
				fprintf(stderr, "berth-shimctl: %s\n", berr_msg(err));
				return 1;
			}
			if (r == 0) {
				fprintf(stderr, "berth-shimctl: no shim runs in %s, and it has no status.json\n",
					bundle);
				return 1;
			}
			if (seq > last_seq)
				print_snapshot(seq, task, brief);
			at = status_index(str(task, "lastStatus"));
			json_decref(task);
			if (at != 4) {
				fprintf(stderr, "berth-shimctl: the shim is gone; the task was %s\n", order[at < 0 ? 0 : at]);
				return 1;
			}
			return want < 0 || want == at ? 0 : 1;
		}
		last_seq = seq;
		print_snapshot(seq, task, brief);
		at = status_index(str(task, "lastStatus"));
		json_decref(task);
		seen++;
		if (want >= 0 && at == want)
			return 0;
		if (want >= 0 && at > want) {
			fprintf(stderr, "berth-shimctl: the task is %s, past %s\n", order[at], until);
			return 1;
		}
		if (count && seen >= count)
			return 0;
	}
}

static int cmd_stop(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "code", required_argument, NULL, 'c' },
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	cleanup_berr struct berr *err = NULL;
	cleanup_close int fd = -1;
	const char *code = NULL, *reason = NULL, *bundle;
	int64_t deadline = mono_ms() + 30000;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'c': code = optarg; break;
		case 't': deadline = mono_ms() + (int64_t)(atof(optarg) * 1000); break;
		default: usage(stderr); return 2;
		}
	}
	if (optind >= argc || argc - optind > 2) {
		usage(stderr);
		return 2;
	}
	bundle = argv[optind];
	reason = argc - optind == 2 ? argv[optind + 1] : NULL;
	fd = connect_shim(bundle, deadline, &err);
	if (fd < 0) {
		fprintf(stderr, "berth-shimctl: %s\n", berr_msg(err));
		return 1;
	}
	if (shimc_send_stop(fd, reason, code, &err) < 0) {
		fprintf(stderr, "berth-shimctl: %s\n", berr_msg(err));
		return 1;
	}
	for (;;) {
		json_t *task = NULL;
		uint64_t seq;
		int left = (int)(deadline - mono_ms());
		int r;

		if (left <= 0) {
			fprintf(stderr, "berth-shimctl: stop: no snapshot with desiredStatus STOPPED\n");
			return 124;
		}
		r = shimc_recv_wait(fd, left, &seq, &task, &err);
		if (r == 0)
			return 0;       /* gone already: stopped */
		if (r < 0) {
			fprintf(stderr, "berth-shimctl: %s\n", berr_msg(err));
			return r == -ETIMEDOUT ? 124 : 1;
		}
		r = !strcmp(str(task, "desiredStatus"), "STOPPED");
		json_decref(task);
		if (r)
			return 0;
	}
}

static int cmd_status(int argc, char **argv)
{
	cleanup_berr struct berr *err = NULL;
	cleanup_json json_t *task = NULL;
	json_t *v;
	uint64_t seq;
	int r;

	if (argc != 2 && argc != 3) {
		usage(stderr);
		return 2;
	}
	r = shimc_read_status(argv[1], &seq, &task, &err);
	if (r <= 0) {
		fprintf(stderr, "berth-shimctl: %s\n", r < 0 ? berr_msg(err) : "no status.json");
		return 1;
	}
	if (argc == 2) {
		cleanup_free char *txt = bjson_dumps(task);

		printf("%s\n", txt);
		return 0;
	}
	v = task;
	{
		cleanup_free char *path = xstrdup(argv[2]);
		char *save = NULL;

		for (char *k = strtok_r(path, ".", &save); k && v; k = strtok_r(NULL, ".", &save)) {
			if (json_is_array(v)) {
				char *end;
				long i = strtol(k, &end, 10);
				json_t *e, *found = NULL;
				size_t n;

				if (*k && !*end) {
					found = json_array_get(v, (size_t)i);
				} else {
					json_array_foreach(v, n, e) {
						const char *name = json_string_value(json_object_get(e, "name"));

						if (name && !strcmp(name, k))
							found = e;
					}
				}
				v = found;
			} else {
				v = json_object_get(v, k);
			}
		}
	}
	if (!v)
		return 3;
	if (json_is_string(v)) {
		printf("%s\n", json_string_value(v));
	} else {
		cleanup_free char *txt = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));

		printf("%s\n", txt);
	}
	return 0;
}

int main(int argc, char **argv)
{
	blog_init("berth-shimctl");
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "spawn"))
		return cmd_spawn(argc - 1, argv + 1);
	if (!strcmp(argv[1], "watch"))
		return cmd_watch(argc - 1, argv + 1);
	if (!strcmp(argv[1], "stop"))
		return cmd_stop(argc - 1, argv + 1);
	if (!strcmp(argv[1], "status"))
		return cmd_status(argc - 1, argv + 1);
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(stdout);
		return 0;
	}
	usage(stderr);
	return 2;
}
