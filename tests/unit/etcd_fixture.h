/* tests/unit/etcd_fixture.h - a private etcd for a test (Debian
 * etcd-server): started on free loopback ports with a temporary data dir,
 * killed with the test (PR_SET_PDEATHSIG) or by etcd_fixture_stop. Used by
 * the etcd client's tests and berthd's cluster tests; a test whose etcd is
 * missing skips (etcd_fixture_init returns 0 with available false).
 * Header-only: each test program includes it once. */
#ifndef BERTH_TESTS_UNIT_ETCD_FIXTURE_H
#define BERTH_TESTS_UNIT_ETCD_FIXTURE_H

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "scheduler/etcd.h"

#define ETCD_BIN "/usr/bin/etcd"

struct etcd_fixture {
	bool available;      /* etcd is installed and runs */
	pid_t pid;           /* -1: not running */
	char dir[64];        /* data dir and log */
	int cport, pport;
	char url[64];        /* the client URL */
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* A port nothing listens on right now. bound_fd (if not NULL) keeps the
 * socket bound but not listening: connecting to it is refused. */
static int free_port(int *bound_fd)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	if (bound_fd)
		*bound_fd = fd;
	else
		close(fd);
	return ntohs(a.sin_port);
}

static void etcd_fixture_log(const struct etcd_fixture *fx)
{
	char path[128], line[512];

	snprintf(path, sizeof(path), "%s/etcd.log", fx->dir);
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	fprintf(stderr, "---- %s (tail)\n", path);
	long n = 0;
	while (fgets(line, sizeof(line), f))
		n++;
	rewind(f);
	for (long i = 0; fgets(line, sizeof(line), f); i++)
		if (i >= n - 30)
			fputs(line, stderr);
	fclose(f);
}

/* Start etcd (again: same data dir and ports) and wait until it serves. */
static void etcd_fixture_start(struct etcd_fixture *fx)
{
	char data[96], log[96], peer[64], initial[96];

	snprintf(data, sizeof(data), "%s/data", fx->dir);
	snprintf(log, sizeof(log), "%s/etcd.log", fx->dir);
	snprintf(peer, sizeof(peer), "http://127.0.0.1:%d", fx->pport);
	snprintf(initial, sizeof(initial), "t=%s", peer);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		setpgid(0, 0);
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execl(ETCD_BIN, "etcd", "--name", "t", "--data-dir", data, "--listen-client-urls", fx->url,
		      "--advertise-client-urls", fx->url, "--listen-peer-urls", peer,
		      "--initial-advertise-peer-urls", peer, "--initial-cluster", initial,
		      "--log-level", "warn", "--logger", "zap", (char *)NULL);
		_exit(127);
	}
	fx->pid = pid;
	/* wait until it serves reads */
	const char *eps[] = { fx->url, NULL };
	struct etcd_opts o = { .timeout_ms = 1000, .connect_timeout_ms = 200 };
	struct etcd *c = NULL;
	struct berr *err = NULL;
	assert_int_equal(etcd_open(eps, &o, &c, &err), 0);
	int64_t deadline = now_ms() + 20000;
	for (;;) {
		struct etcd_kv kv;
		int status;

		if (etcd_get(c, "health-probe", &kv, NULL, &err) >= 0) {
			etcd_kv_clear(&kv);
			break;
		}
		berr_clear(&err);
		if (waitpid(fx->pid, &status, WNOHANG) == fx->pid) {
			fx->pid = -1;
			etcd_fixture_log(fx);
			fail_msg("etcd exited during start (status %d)", status);
		}
		if (now_ms() > deadline) {
			etcd_fixture_log(fx);
			fail_msg("etcd did not answer within 20 s");
		}
		sleep_ms(100);
	}
	etcd_close(c);
}

static void etcd_fixture_stop(struct etcd_fixture *fx, int sig)
{
	if (fx->pid <= 0)
		return;
	kill(fx->pid, sig);
	waitpid(fx->pid, NULL, 0);
	fx->pid = -1;
}

/* A temporary directory from tmpl ("/tmp/berth-test-x-XXXXXX"), free
 * ports, and etcd started when it is installed: 1 then, 0 when it is not
 * (fx->available false: the tests that need it skip), -1 on an error. */
static int etcd_fixture_init(struct etcd_fixture *fx, const char *tmpl)
{
	fx->pid = -1;
	snprintf(fx->dir, sizeof(fx->dir), "%s", tmpl);
	if (!mkdtemp(fx->dir))
		return -1;
	if (access(ETCD_BIN, X_OK) != 0)
		return 0;
	fx->cport = free_port(NULL);
	fx->pport = free_port(NULL);
	snprintf(fx->url, sizeof(fx->url), "http://127.0.0.1:%d", fx->cport);
	etcd_fixture_start(fx);
	fx->available = true;
	return 1;
}

/* In a test that needs etcd: skip (never pass) when it is not there. */
#define ETCD_FIXTURE_NEED(fx)                                                       \
	do {                                                                        \
		if (!(fx)->available) {                                             \
			fprintf(stderr, "skip: %s not installed (Debian etcd-server)\n", \
				ETCD_BIN);                                          \
			skip();                                                     \
		}                                                                   \
	} while (0)

#endif
