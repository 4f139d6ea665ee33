/* tests/images/helper/cmd-stress.c - memhog, cpuburn, forkbomb, diskfill:
 * the workloads that make cgroup limits (memory.max, cpu.max, pids.max) and
 * full filesystems visible. Each prints what it achieved as it goes, so a test
 * still learns how far it got when the kernel kills it. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helper.h"

int cmd_memhog(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "step", required_argument, NULL, 's' },
		{ "hold", required_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	long long mib = -1, step = 4, hold_ms = -1, total = 0;
	long page = sysconf(_SC_PAGESIZE);
	struct jw w = { 0 };
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (!parse_ll(optarg, 1, 1 << 20, &step))
				husage("bad --step '%s'", optarg);
			break;
		case 'h':
			if (!parse_seconds_ms(optarg, true, &hold_ms))
				husage("bad --hold '%s'", optarg);
			break;
		default:
			husage("bad option");
		}
	}
	if (optind != argc - 1 || !parse_ll(argv[optind], 0, 1 << 24, &mib))
		husage("usage: memhog MIB [--step MIB] [--hold SECONDS|inf]");

	while (total < mib) {
		long long n = step < mib - total ? step : mib - total;
		size_t len = (size_t)n << 20;
		volatile char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED) {
			int err = errno;

			jw_obj_begin(&w);
			jw_kint(&w, "allocated_mib", total);
			jw_kerrno(&w, "errno", err);
			jw_obj_end(&w);
			jw_emit(&w);
			jw_free(&w);
			hdiag("mmap %lld MiB: %s", n, strerror(err));
			return 1;
		}
		/* a write per page makes the kernel back (and charge) it; the
		 * varying byte keeps same-page merging from sharing them */
		for (size_t off = 0; off < len; off += (size_t)page)
			p[off] = (char)((off / (size_t)page) | 1);
		total += n;
		emit_int("allocated_mib", total);
	}
	jw_obj_begin(&w);
	jw_kbool(&w, "done", true);
	jw_kint(&w, "allocated_mib", total);
	jw_obj_end(&w);
	jw_emit(&w);
	jw_free(&w);
	if (hold_ms < 0) {
		for (;;)
			pause();
	}
	sleep_ms(hold_ms);
	return 0;
}

static double ts_ms(const struct timespec *ts)
{
	return (double)ts->tv_sec * 1000.0 + (double)ts->tv_nsec / 1e6;
}

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *spin(void *arg)
{
	const int64_t deadline = *(const int64_t *)arg;
	volatile unsigned long sink = 0;

	while (mono_ns() < deadline)
		for (unsigned i = 0; i < 20000; i++)
			sink += i;
	return (void *)(uintptr_t)sink;
}

int cmd_cpuburn(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ms", required_argument, NULL, 'm' },
		{ "threads", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	long long ms = 1000, threads = 1;
	struct timespec w0, w1, c0, c1;
	pthread_t *tids;
	int64_t deadline;
	double wall, cpu;
	struct jw w = { 0 };
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			if (!parse_ll(optarg, 1, 24LL * 3600 * 1000, &ms))
				husage("bad --ms '%s'", optarg);
			break;
		case 't':
			if (!parse_ll(optarg, 1, 1024, &threads))
				husage("bad --threads '%s'", optarg);
			break;
		default:
			husage("bad option");
		}
	}
	if (optind != argc)
		husage("usage: cpuburn [--ms N] [--threads N]");

	tids = xmalloc(sizeof(*tids) * (size_t)threads);
	clock_gettime(CLOCK_MONOTONIC, &w0);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
	/* from the same instant the wall time is measured from */
	deadline = (int64_t)w0.tv_sec * 1000000000 + w0.tv_nsec + ms * 1000000;
	/* the main thread is one of the spinners */
	for (long long i = 1; i < threads; i++) {
		int r = pthread_create(&tids[i], NULL, spin, &deadline);

		if (r) {
			hdiag("pthread_create: %s", strerror(r));
			return 1;
		}
	}
	spin(&deadline);
	for (long long i = 1; i < threads; i++)
		pthread_join(tids[i], NULL);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
	clock_gettime(CLOCK_MONOTONIC, &w1);
	free(tids);

	wall = ts_ms(&w1) - ts_ms(&w0);
	cpu = ts_ms(&c1) - ts_ms(&c0);
	jw_obj_begin(&w);
	jw_kint(&w, "wall_ms", (long long)(wall + 0.5));
	jw_kint(&w, "cpu_ms", (long long)(cpu + 0.5));
	jw_key(&w, "ratio");
	jw_double(&w, wall > 0 ? cpu / wall : 0);
	jw_kint(&w, "threads", threads);
	jw_obj_end(&w);
	jw_emit(&w);
	jw_free(&w);
	return 0;
}

int cmd_forkbomb(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "max", required_argument, NULL, 'm' },
		{ "hold-ms", required_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	long long max = 10000, hold_ms = 0, forked = 0, reaped = 0;
	pid_t self = getpid(), *pids;
	struct jw w = { 0 };
	int c, err = 0;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			if (!parse_ll(optarg, 0, 1000000, &max))
				husage("bad --max '%s'", optarg);
			break;
		case 'h':
			if (!parse_ll(optarg, 0, 24LL * 3600 * 1000, &hold_ms))
				husage("bad --hold-ms '%s'", optarg);
			break;
		default:
			husage("bad option");
		}
	}
	if (optind != argc)
		husage("usage: forkbomb [--max N] [--hold-ms N]");

	pids = xmalloc(sizeof(*pids) * (size_t)(max ? max : 1));
	while (forked < max) {
		pid_t pid = fork();

		if (pid < 0) {
			err = errno;
			break;
		}
		if (pid == 0) {
			/* die with the parent whatever happens to it */
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (getppid() != self)
				_exit(0);
			for (;;)
				pause();
		}
		pids[forked++] = pid;
	}
	jw_obj_begin(&w);
	jw_kint(&w, "forked", forked);
	jw_kerrno(&w, "errno", err);
	jw_obj_end(&w);
	jw_emit(&w);

	if (hold_ms)
		sleep_ms(hold_ms);
	for (long long i = 0; i < forked; i++)
		kill(pids[i], SIGKILL);
	for (long long i = 0; i < forked; i++)
		if (waitpid(pids[i], NULL, 0) == pids[i])
			reaped++;
	free(pids);

	jw_obj_begin(&w);
	jw_kint(&w, "reaped", reaped);
	jw_obj_end(&w);
	jw_emit(&w);
	jw_free(&w);
	return reaped == forked ? 0 : 1;
}

int cmd_diskfill(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "max-mib", required_argument, NULL, 'm' },
		{ "unlink", no_argument, NULL, 'u' },
		{ NULL, 0, NULL, 0 },
	};
	long long max = -1, written = 0;
	bool unlink_after = false;
	char *path, *chunk;
	struct stat st;
	struct jw w = { 0 };
	int c, fd, err = 0;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			if (!parse_ll(optarg, 0, 1LL << 40, &max))
				husage("bad --max-mib '%s'", optarg);
			break;
		case 'u':
			unlink_after = true;
			break;
		default:
			husage("bad option");
		}
	}
	if (optind != argc - 1)
		husage("usage: diskfill PATH [--max-mib N] [--unlink]");

	path = xmalloc(strlen(argv[optind]) + 16);
	strcpy(path, argv[optind]);
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		strcat(path, "/diskfill.bin");
	/* RLIMIT_FSIZE should show up as EFBIG, not kill us */
	signal(SIGXFSZ, SIG_IGN);

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		err = errno;
		hdiag("open %s: %s", path, strerror(err));
	} else {
		chunk = xmalloc(1 << 20);
		/* not zeros: no filesystem may store it sparse or compressed */
		for (size_t i = 0; i < (1 << 20); i++)
			chunk[i] = (char)(i * 131 + 7);
		while (max < 0 || written < max) {
			if (!write_all(fd, chunk, 1 << 20)) {
				err = errno;
				break;
			}
			written++;
		}
		free(chunk);
		/* delayed allocation may only fail here */
		if (fsync(fd) < 0 && !err)
			err = errno;
		if (close(fd) < 0 && !err)
			err = errno;
		if (unlink_after)
			unlink(path);
	}
	jw_obj_begin(&w);
	jw_kint(&w, "written_mib", written);
	jw_kerrno(&w, "errno", err);
	jw_kstr(&w, "path", path);
	jw_obj_end(&w);
	jw_emit(&w);
	jw_free(&w);
	free(path);
	return !err || err == ENOSPC || err == EDQUOT ? 0 : 1;
}
