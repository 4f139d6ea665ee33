/* berth-bench-time: run commands in turn and report their wall time.
 * Driven by tests/bench/start (the VM case bench_start).
 *
 *   berth-bench-time [-n RUNS] [-w WARMUP] [-p PAUSE_MS] [-s SETTLE_MS] [-r RAWFILE]
 *                    [-l LOGDIR] [-m TEXT]... NAME=COMMAND...
 *
 * COMMAND is split at blanks and newlines (no quoting) and started with
 * posix_spawnp: no shell in between. Each round runs every command once, in
 * the order given (A B C A B C ...), so slow drifts of the machine hit all of
 * them alike; WARMUP rounds (default 2) run first and are not counted. Before
 * each run the program sleeps PAUSE_MS (default 0) and then, with -s, waits
 * until the machine is idle (a 100 ms window of /proc/stat with at least 90%
 * idle CPU time), at most SETTLE_MS: work the kernel does after the previous
 * run (namespace and cgroup teardown happen in kernel workers after the
 * process is gone, some of it waiting for RCU grace periods with the CPUs
 * idle) does not land in the next one. How often the limit was reached is
 * printed at the end. A run is timed from just before posix_spawnp to the
 * return of wait4 (CLOCK_MONOTONIC); CPU time is the user + system time
 * wait4 reports (the command and the descendants it waited for). stdin is
 * /dev/null; stdout and stderr are one pipe that this program reads to its
 * end (EOF, then wait4), copying every line to LOGDIR/NAME.log (default
 * /tmp; rewritten at every run). A marker
 * (-m TEXT, repeatable) records when the first output line holding TEXT was
 * read, counted from the start of the run: where a run's time goes, as far
 * as the command's own messages tell. A command that exits with a status
 * other than 0 stops everything: its last output is printed, exit status 1.
 *
 * Output (stdout), times in milliseconds: per command
 *   NAME n=RUNS median=.. p10=.. p90=.. min=.. max=.. mean=.. cpu_median=..
 * and per marker that the command printed in at least one run
 *   NAME mark="TEXT" n=RUNS_SEEN median=.. p10=.. p90=..
 * RAWFILE gets one line per counted run: NAME ROUND WALL_NS CPU_NS, then the
 * time of each marker in -m order (ns; -1: not seen in that run). */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define MAX_MARKS 16

struct cmd {
	char *name;
	char **argv;
	char *log;
	uint64_t *wall, *cpu;             /* per counted run, ns */
	uint64_t *mark[MAX_MARKS];        /* per counted run, ns; UINT64_MAX: not seen */
};

static const char *marks[MAX_MARKS];
static size_t n_marks;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p) {
		perror("berth-bench-time: malloc");
		exit(2);
	}
	return p;
}

static char *xstrdup(const char *s)
{
	char *p = xmalloc(strlen(s) + 1);

	memcpy(p, s, strlen(s) + 1);
	return p;
}

static void usage(void)
{
	fputs("usage: berth-bench-time [-n RUNS] [-w WARMUP] [-p PAUSE_MS] [-s SETTLE_MS] [-r RAWFILE]\n"
	      "                        [-l LOGDIR] [-m TEXT]... NAME=COMMAND...\n", stderr);
	exit(2);
}

/* "NAME=cmd arg arg" -> c; words split at blanks */
static void parse_cmd(const char *spec, const char *logdir, struct cmd *c)
{
	const char *eq = strchr(spec, '=');
	char *words, *save = NULL, *w;
	size_t n = 0;

	if (!eq || eq == spec)
		usage();
	c->name = xmalloc((size_t)(eq - spec) + 1);
	memcpy(c->name, spec, (size_t)(eq - spec));
	c->name[eq - spec] = '\0';
	for (const char *p = c->name; *p; p++)
		if (*p == '/' || *p == ' ') {
			fprintf(stderr, "berth-bench-time: name %s: no '/' or blank please\n", c->name);
			exit(2);
		}
	words = xstrdup(eq + 1);
	c->argv = xmalloc((strlen(words) / 2 + 2) * sizeof(char *));
	for (w = strtok_r(words, " \t\n", &save); w; w = strtok_r(NULL, " \t\n", &save))
		c->argv[n++] = w;
	c->argv[n] = NULL;
	if (n == 0) {
		fprintf(stderr, "berth-bench-time: %s: empty command\n", c->name);
		exit(2);
	}
	c->log = xmalloc(strlen(logdir) + strlen(c->name) + 6);
	sprintf(c->log, "%s/%s.log", logdir, c->name);
}

static void show_log(const struct cmd *c)
{
	char buf[4096];
	FILE *f = fopen(c->log, "re");
	size_t n;

	if (!f)
		return;
	fprintf(stderr, "--- output of %s (%s):\n", c->name, c->log);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, stderr);
	fprintf(stderr, "---\n");
	fclose(f);
}

/* A complete output line (NUL-terminated, without its newline) read at t. */
static void on_line(const char *line, uint64_t t, uint64_t *seen)
{
	for (size_t k = 0; k < n_marks; k++)
		if (seen[k] == UINT64_MAX && strstr(line, marks[k]))
			seen[k] = t;
}

/* Read the command's output to EOF: copy it to logfd, time the markers. */
static void drain(int fd, int logfd, uint64_t t0, uint64_t *seen)
{
	static char line[8192];
	size_t len = 0;
	char buf[4096];
	uint64_t t;
	ssize_t n;

	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		t = now_ns() - t0;

		if (logfd >= 0 && write(logfd, buf, (size_t)n) < 0) {
			close(logfd);
			logfd = -1;
		}
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] == '\n' || len == sizeof(line) - 1) {
				line[len] = '\0';
				on_line(line, t, seen);
				len = 0;
				if (buf[i] == '\n')
					continue;
			}
			line[len++] = buf[i];
		}
	}
	if (len) {
		line[len] = '\0';
		on_line(line, now_ns() - t0, seen);
	}
}

/* One run of c; 0 when it exited 0 (wall, cpu and seen[] filled), else -1. */
static int run_once(const struct cmd *c, uint64_t *wall, uint64_t *cpu, uint64_t *seen)
{
	posix_spawn_file_actions_t fa;
	struct rusage ru;
	uint64_t t0, t1;
	pid_t pid;
	int st, r, p[2], logfd;

	for (size_t k = 0; k < n_marks; k++)
		seen[k] = UINT64_MAX;
	if (pipe2(p, O_CLOEXEC) < 0) {
		perror("berth-bench-time: pipe2");
		return -1;
	}
	logfd = open(c->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	posix_spawn_file_actions_adddup2(&fa, p[1], 2);
	t0 = now_ns();
	r = posix_spawnp(&pid, c->argv[0], &fa, NULL, c->argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	if (r != 0) {
		fprintf(stderr, "berth-bench-time: %s: cannot start %s: %s\n", c->name, c->argv[0],
			strerror(r));
		close(p[0]);
		if (logfd >= 0)
			close(logfd);
		return -1;
	}
	drain(p[0], logfd, t0, seen);
	close(p[0]);
	while (wait4(pid, &st, 0, &ru) < 0) {
		if (errno != EINTR) {
			perror("berth-bench-time: wait4");
			return -1;
		}
	}
	t1 = now_ns();
	if (logfd >= 0)
		close(logfd);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		if (WIFEXITED(st))
			fprintf(stderr, "berth-bench-time: %s exited with status %d\n", c->name,
				WEXITSTATUS(st));
		else
			fprintf(stderr, "berth-bench-time: %s was killed by signal %d\n", c->name,
				WTERMSIG(st));
		show_log(c);
		return -1;
	}
	*wall = t1 - t0;
	*cpu = (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000u +
	       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000u;
	return 0;
}

/* idle and total jiffies of all CPUs from /proc/stat; -1 when unreadable */
static int cpu_times(uint64_t *idle, uint64_t *total)
{
	unsigned long long v[8] = { 0 };
	FILE *f = fopen("/proc/stat", "re");
	int n;

	if (!f)
		return -1;
	n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
		   &v[4], &v[5], &v[6], &v[7]);
	fclose(f);
	if (n < 5)
		return -1;
	*idle = v[3] + v[4];    /* idle + iowait */
	*total = 0;
	for (int i = 0; i < 8; i++)
		*total += v[i];
	return 0;
}

static void sleep_ms(unsigned long ms)
{
	struct timespec ts = { .tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Wait until a 100 ms window is at least 90% idle, at most max_ms; 0 when
 * it was, -1 when the limit came first. */
static int settle(unsigned long max_ms)
{
	uint64_t i0, t0, i1, t1, start = now_ns();

	while (now_ns() - start < (uint64_t)max_ms * 1000000u) {
		if (cpu_times(&i0, &t0) < 0)
			return -1;
		sleep_ms(100);
		if (cpu_times(&i1, &t1) < 0)
			return -1;
		if (t1 > t0 && (i1 - i0) * 10 >= (t1 - t0) * 9)
			return 0;
	}
	return -1;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* median of sorted v[n] */
static double median(const uint64_t *v, size_t n)
{
	return n % 2 ? (double)v[n / 2] : ((double)v[n / 2 - 1] + (double)v[n / 2]) / 2;
}

/* nearest-rank percentile of sorted v[n] */
static double pct(const uint64_t *v, size_t n, unsigned p)
{
	size_t rank = (n * p + 99) / 100;

	return (double)v[rank ? rank - 1 : 0];
}

static unsigned long num(const char *s, const char *what)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || !*s) {
		fprintf(stderr, "berth-bench-time: %s: not a number: %s\n", what, s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	const char *rawfile = NULL, *logdir = "/tmp";
	unsigned long runs = 30, warmup = 2, pause_ms = 0, settle_ms = 0, unsettled = 0;
	struct cmd *cmds;
	FILE *raw = NULL;
	size_t n;
	int opt;

	while ((opt = getopt(argc, argv, "+n:w:p:s:r:l:m:h")) != -1) {
		switch (opt) {
		case 'm':
			if (n_marks == MAX_MARKS || !*optarg)
				usage();
			marks[n_marks++] = optarg;
			break;
		case 'n': runs = num(optarg, "-n"); break;
		case 'w': warmup = num(optarg, "-w"); break;
		case 'p': pause_ms = num(optarg, "-p"); break;
		case 's': settle_ms = num(optarg, "-s"); break;
		case 'r': rawfile = optarg; break;
		case 'l': logdir = optarg; break;
		default: usage();
		}
	}
	if (optind >= argc || runs == 0)
		usage();
	n = (size_t)(argc - optind);
	cmds = xmalloc(n * sizeof(*cmds));
	for (size_t i = 0; i < n; i++) {
		parse_cmd(argv[optind + (int)i], logdir, &cmds[i]);
		cmds[i].wall = xmalloc(runs * sizeof(uint64_t));
		cmds[i].cpu = xmalloc(runs * sizeof(uint64_t));
		for (size_t k = 0; k < n_marks; k++)
			cmds[i].mark[k] = xmalloc(runs * sizeof(uint64_t));
	}
	if (rawfile && !(raw = fopen(rawfile, "we"))) {
		fprintf(stderr, "berth-bench-time: %s: %s\n", rawfile, strerror(errno));
		return 2;
	}
	for (unsigned long round = 0; round < warmup + runs; round++) {
		for (size_t i = 0; i < n; i++) {
			uint64_t w, c, seen[MAX_MARKS];

			if (pause_ms)
				sleep_ms(pause_ms);
			if (settle_ms && settle(settle_ms) < 0)
				unsettled++;
			if (run_once(&cmds[i], &w, &c, seen) < 0)
				return 1;
			if (round < warmup)
				continue;
			cmds[i].wall[round - warmup] = w;
			cmds[i].cpu[round - warmup] = c;
			for (size_t k = 0; k < n_marks; k++)
				cmds[i].mark[k][round - warmup] = seen[k];
			if (raw) {
				fprintf(raw, "%s %lu %llu %llu", cmds[i].name, round - warmup,
					(unsigned long long)w, (unsigned long long)c);
				for (size_t k = 0; k < n_marks; k++) {
					if (seen[k] == UINT64_MAX)
						fputs(" -1", raw);
					else
						fprintf(raw, " %llu", (unsigned long long)seen[k]);
				}
				fputc('\n', raw);
			}
		}
	}
	if (raw)
		fclose(raw);
	for (size_t i = 0; i < n; i++) {
		struct cmd *c = &cmds[i];
		double sum = 0;

		for (unsigned long k = 0; k < runs; k++)
			sum += (double)c->wall[k];
		qsort(c->wall, runs, sizeof(uint64_t), cmp_u64);
		qsort(c->cpu, runs, sizeof(uint64_t), cmp_u64);
		printf("%s n=%lu median=%.2f p10=%.2f p90=%.2f min=%.2f max=%.2f mean=%.2f cpu_median=%.2f\n",
		       c->name, runs, median(c->wall, runs) / 1e6, pct(c->wall, runs, 10) / 1e6,
		       pct(c->wall, runs, 90) / 1e6, (double)c->wall[0] / 1e6,
		       (double)c->wall[runs - 1] / 1e6, sum / (double)runs / 1e6,
		       median(c->cpu, runs) / 1e6);
		for (size_t k = 0; k < n_marks; k++) {
			size_t m = 0;

			/* the runs that printed the marker, sorted (UINT64_MAX last) */
			qsort(c->mark[k], runs, sizeof(uint64_t), cmp_u64);
			while (m < runs && c->mark[k][m] != UINT64_MAX)
				m++;
			if (m == 0)
				continue;
			printf("%s mark=\"%s\" n=%zu median=%.2f p10=%.2f p90=%.2f\n", c->name, marks[k], m,
			       median(c->mark[k], m) / 1e6, pct(c->mark[k], m, 10) / 1e6,
			       pct(c->mark[k], m, 90) / 1e6);
		}
	}
	if (settle_ms)
		printf("settle: %lu of %lu runs started before the machine was idle (limit %lu ms)\n",
		       unsettled, (unsigned long)n * (warmup + runs), settle_ms);
	return 0;
}
