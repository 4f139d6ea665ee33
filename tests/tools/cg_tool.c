/* berth-cg-tool - test driver for cgroups/ (VM cases only).
 *
 * Drives the cgroup library from shell scripts; results as one JSON object
 * per line on stdout, errors on stderr with exit status 1.
 */
#include "cgroups/cgroup.h"
#include "common/cleanup.h"
#include "common/error.h"
#include "common/xalloc.h"

#include <errno.h>
#include <stdbool.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sched.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char usage_text[] =
	"usage: berth-cg-tool COMMAND [ARGS]\n"
	"  detect [MOUNT]                  check cgroup v2 and its controllers\n"
	"  create ROOT TASK LEAF [--cpu-units N] [--memory-mib N] [--pids-max N]\n"
	"         [--leaf-shares N|null] [--leaf-memory-low-mib N] [--leaf-memory-mib N]\n"
	"                                  task cgroup with the limits, one leaf; prints the paths\n"
	"  run [--attach] CGROUP CMD [ARGS...]\n"
	"                                  run CMD in CGROUP (clone3 CLONE_INTO_CGROUP, or with\n"
	"                                  --attach fork + cgroup.procs), exit with its status\n"
	"                                  (128+signal)\n"
	"  stats CGROUP                    cg_stats_read as JSON\n"
	"  watch-oom CGROUP TIMEOUT_MS     wait (poll, POLLPRI) until oom_kill in memory.events\n"
	"                                  goes up; prints {\"oom_kill\":N,\"wakeups\":N}\n"
	"  destroy CGROUP [TIMEOUT_MS]     kill, wait for populated 0, remove (default 5000 ms)\n";

static int fail(struct berr *err)
{
	fprintf(stderr, "berth-cg-tool: %s\n", berr_msg(err));
	berr_free(err);
	return 1;
}

static int64_t num(const char *s, const char *what)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || end == s) {
		fprintf(stderr, "berth-cg-tool: bad %s '%s'\n", what, s);
		exit(2);
	}
	return v;
}

static int cmd_detect(int argc, char **argv)
{
	struct berr *err = NULL;
	struct cg_info info;

	if (cg_detect(argc > 1 ? argv[1] : CG_DEFAULT_MOUNT, &info, &err) < 0)
		return fail(err);
	printf("{\"controllers\":\"%s\",\"io\":%s}\n", info.controllers, info.io ? "true" : "false");
	cg_info_free(&info);
	return 0;
}

static int cmd_create(int argc, char **argv)
{
	struct berr *err = NULL;
	cleanup_free char *task = NULL, *leaf = NULL;
	struct cg_limits tl, ll;
	int r;

	if (argc < 4) {
		fputs(usage_text, stderr);
		return 2;
	}
	cg_limits_init(&tl);
	cg_limits_init(&ll);
	tl.swap_max = 0;
	ll.swap_max = 0;
	for (int i = 4; i < argc; i += 2) {
		if (i + 1 >= argc) {
			fprintf(stderr, "berth-cg-tool: %s needs a value\n", argv[i]);
			return 2;
		}
		if (strcmp(argv[i], "--cpu-units") == 0) {
			tl.cpu_units = num(argv[i + 1], "cpu units");
		} else if (strcmp(argv[i], "--memory-mib") == 0) {
			if (cg_mib_to_bytes(num(argv[i + 1], "memory"), "memory", &tl.memory_max, &err) < 0)
				return fail(err);
		} else if (strcmp(argv[i], "--pids-max") == 0) {
			tl.pids_max = (uint64_t)num(argv[i + 1], "pids max");
		} else if (strcmp(argv[i], "--leaf-shares") == 0) {
			bool have = strcmp(argv[i + 1], "null") != 0;

			ll.cpu_weight = cg_cpu_weight_from_shares(
				cg_cpu_shares_normalize(have, have ? num(argv[i + 1], "shares") : 0));
		} else if (strcmp(argv[i], "--leaf-memory-low-mib") == 0) {
			if (cg_mib_to_bytes(num(argv[i + 1], "memoryReservation"), "memoryReservation",
					    &ll.memory_low, &err) < 0)
				return fail(err);
		} else if (strcmp(argv[i], "--leaf-memory-mib") == 0) {
			if (cg_mib_to_bytes(num(argv[i + 1], "memory"), "memory", &ll.memory_max, &err) < 0)
				return fail(err);
		} else {
			fprintf(stderr, "berth-cg-tool: unknown option %s\n", argv[i]);
			return 2;
		}
	}
	r = cg_task_create(argv[1], argv[2], NULL, &task, &err);
	if (r < 0)
		return fail(err);
	if (cg_limits_apply(task, &tl, &err) < 0 ||
	    cg_leaf_create(task, argv[3], &leaf, &err) < 0 ||
	    cg_limits_apply(leaf, &ll, &err) < 0)
		return fail(err);
	printf("{\"task\":\"%s\",\"leaf\":\"%s\"}\n", task, leaf);
	return 0;
}

static int cmd_run(int argc, char **argv)
{
	struct berr *err = NULL;
	cleanup_close int cgfd = -1;
	bool attach = argc > 1 && strcmp(argv[1], "--attach") == 0;
	pid_t pid;
	int st;

	if (attach) {
		argc--;
		argv++;
	}
	if (argc < 3) {
		fputs(usage_text, stderr);
		return 2;
	}
	fflush(stdout);
	if (attach) {
		pid = fork();
	} else {
		struct clone_args ca = { .flags = CLONE_INTO_CGROUP, .exit_signal = SIGCHLD };

		cgfd = cg_open_dir(argv[1], &err);
		if (cgfd < 0)
			return fail(err);
		ca.cgroup = (uint64_t)cgfd;
		pid = (pid_t)syscall(SYS_clone3, &ca, sizeof(ca));
	}
	if (pid < 0) {
		perror(attach ? "berth-cg-tool: fork" : "berth-cg-tool: clone3(CLONE_INTO_CGROUP)");
		return 1;
	}
	if (pid == 0) {
		if (attach && cg_attach(argv[1], getpid(), &err) < 0)
			_exit(fail(err) + 125);
		execvp(argv[2], argv + 2);
		fprintf(stderr, "berth-cg-tool: exec %s: %s\n", argv[2], strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR) {
			perror("berth-cg-tool: waitpid");
			return 1;
		}
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int cmd_stats(int argc, char **argv)
{
	struct berr *err = NULL;
	struct cg_stats s;

	if (argc != 2) {
		fputs(usage_text, stderr);
		return 2;
	}
	if (cg_stats_read(argv[1], &s, &err) < 0)
		return fail(err);
	printf("{\"cpu_usage_usec\":%" PRIu64 ",\"cpu_user_usec\":%" PRIu64 ",\"cpu_system_usec\":%" PRIu64
	       ",\"nr_periods\":%" PRIu64 ",\"nr_throttled\":%" PRIu64 ",\"throttled_usec\":%" PRIu64
	       ",\"memory_current\":%" PRIu64 ",\"memory_peak\":%" PRId64 ",\"anon\":%" PRIu64
	       ",\"file\":%" PRIu64 ",\"kernel\":%" PRIu64 ",\"pgfault\":%" PRIu64
	       ",\"oom\":%" PRIu64 ",\"oom_kill\":%" PRIu64 ",\"pids_current\":%" PRIu64 "}\n",
	       s.cpu_usage_usec, s.cpu_user_usec, s.cpu_system_usec, s.cpu_nr_periods,
	       s.cpu_nr_throttled, s.cpu_throttled_usec, s.mem_current,
	       s.has_peak ? (int64_t)s.mem_peak : -1, s.mem_anon, s.mem_file, s.mem_kernel,
	       s.mem_pgfault, s.mem_oom, s.mem_oom_kill, s.pids_current);
	return 0;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* No timeout slicing: a wake-up comes from the kernel's notification only,
 * so a pass shows that memory.events can be watched without polling it. */
static int cmd_watch_oom(int argc, char **argv)
{
	struct berr *err = NULL;
	cleanup_close int fd = -1;
	uint64_t first, now;
	int64_t deadline;
	int wakeups = 0;

	if (argc != 3) {
		fputs(usage_text, stderr);
		return 2;
	}
	deadline = mono_ms() + num(argv[2], "timeout");
	fd = cg_events_open(argv[1], "memory.events", &err);
	if (fd < 0 || cg_events_read(fd, "oom_kill", &first, &err) < 0)
		return fail(err);
	printf("{\"watching\":true,\"oom_kill\":%" PRIu64 "}\n", first);
	fflush(stdout);
	for (now = first; now == first; ) {
		struct pollfd pfd = { .fd = fd, .events = POLLPRI };
		int64_t left = deadline - mono_ms();
		int r;

		if (left <= 0) {
			fprintf(stderr, "berth-cg-tool: no oom_kill in %s/memory.events within %s ms\n",
				argv[1], argv[2]);
			return 1;
		}
		r = poll(&pfd, 1, (int)left);
		if (r < 0 && errno != EINTR) {
			perror("berth-cg-tool: poll");
			return 1;
		}
		if (r > 0)
			wakeups++;
		if (cg_events_read(fd, "oom_kill", &now, &err) < 0)
			return fail(err);
	}
	printf("{\"oom_kill\":%" PRIu64 ",\"wakeups\":%d}\n", now, wakeups);
	return 0;
}

static int cmd_destroy(int argc, char **argv)
{
	struct berr *err = NULL;

	if (argc < 2) {
		fputs(usage_text, stderr);
		return 2;
	}
	if (cg_destroy(argv[1], argc > 2 ? (int)num(argv[2], "timeout") : 5000, &err) < 0)
		return fail(err);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} cmds[] = {
		{ "detect", cmd_detect }, { "create", cmd_create }, { "run", cmd_run },
		{ "stats", cmd_stats }, { "watch-oom", cmd_watch_oom }, { "destroy", cmd_destroy },
	};

	if (argc < 2) {
		fputs(usage_text, stderr);
		return 2;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(argv[1], cmds[i].name) == 0)
			return cmds[i].fn(argc - 1, argv + 1);
	fputs(usage_text, stderr);
	return 2;
}
