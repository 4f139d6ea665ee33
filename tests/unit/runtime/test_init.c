/* Unit tests for runtime/init/berth_init.c, run the way the launcher runs
 * it: the embedded copy, from the sealed memfd of ctr_init_fd(), with
 * execveat(). Programs are /bin/sh one-liners.
 *
 * Reaping is checked from outside: every process whose parent is berth-init
 * shows in /proc/<pid>/stat; orphans must arrive there (so the test sees
 * the reparenting) and then disappear (reaped, no zombie left). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runtime/container/launch.h"

static char *const test_env[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", NULL };

struct run {
	pid_t pid;        /* berth-init, or the helper that forked it (pid ns case) */
	pid_t init_pid;   /* berth-init itself, as this test sees it */
	int in, out, err; /* our ends of its stdin, stdout, stderr (-1: none) */
};

enum {
	RUN_STDIN_PIPE = 1,   /* else /dev/null */
	RUN_PIDNS = 2,        /* as PID 1 of a new pid namespace */
	RUN_DIRTY_SIGNALS = 4, /* start it with SIGINT/SIGPIPE/SIGCHLD ignored and SIGUSR2 blocked */
	RUN_AS_NOBODY = 8     /* as uid/gid 65534 (the test is root) */
};

static int init_fd(void)
{
	struct berr *err = NULL;
	int fd = ctr_init_fd(&err);

	if (fd < 0)
		fail_msg("ctr_init_fd: %s", berr_msg(err));
	return fd;
}

static void exec_init(int fd, char *const argv[], unsigned flags)
{
	if (flags & RUN_DIRTY_SIGNALS) {
		sigset_t s;

		signal(SIGINT, SIG_IGN);
		signal(SIGPIPE, SIG_IGN);
		signal(SIGCHLD, SIG_IGN);
		sigemptyset(&s);
		sigaddset(&s, SIGUSR2);
		sigprocmask(SIG_BLOCK, &s, NULL);
	}
	if ((flags & RUN_AS_NOBODY) && (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
					setresuid(65534, 65534, 65534) < 0))
		_exit(95);
	execveat(fd, "", argv, test_env, AT_EMPTY_PATH);
	_exit(99);
}

/* Start berth-init with argv (argv[0] = "berth-init"). Returns false when a
 * pid namespace was asked for and this host does not allow one. */
static bool start(struct run *r, char *const argv[], unsigned flags)
{
	int in[2] = { -1, -1 }, out[2], err[2], pidp[2];
	int fd = init_fd();

	if (flags & RUN_STDIN_PIPE)
		assert_int_equal(pipe2(in, O_CLOEXEC), 0);
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	assert_int_equal(pipe2(err, O_CLOEXEC), 0);
	assert_int_equal(pipe2(pidp, O_CLOEXEC), 0);
	r->pid = fork();
	assert_true(r->pid >= 0);
	if (r->pid == 0) {
		int devnull = open("/dev/null", O_RDONLY);

		dup2(flags & RUN_STDIN_PIPE ? in[0] : devnull, 0);
		dup2(out[1], 1);
		dup2(err[1], 2);
		/* the helper of the pid ns case must not hold the pipes open */
		for (int i = 0; i < 2; i++) {
			if (in[i] >= 0)
				close(in[i]);
			close(out[i]);
			close(err[i]);
		}
		close(pidp[0]);
		if (flags & RUN_PIDNS) {
			pid_t g;
			int st;

			if (unshare(CLONE_NEWPID | (geteuid() == 0 ? 0 : CLONE_NEWUSER)) < 0)
				_exit(98);
			g = fork();
			if (g == 0)
				exec_init(fd, argv, flags);
			if (g < 0 || write(pidp[1], &g, sizeof(g)) != sizeof(g))
				_exit(97);
			close(0);
			close(1);
			close(2);
			if (waitpid(g, &st, 0) != g)
				_exit(96);
			_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
		}
		exec_init(fd, argv, flags);
	}
	close(out[1]);
	close(err[1]);
	close(pidp[1]);
	if (in[0] >= 0)
		close(in[0]);
	r->in = in[1];
	r->out = out[0];
	r->err = err[0];
	r->init_pid = r->pid;
	if (flags & RUN_PIDNS) {
		ssize_t n = read(pidp[0], &r->init_pid, sizeof(r->init_pid));

		if (n != sizeof(r->init_pid)) {
			int st;

			waitpid(r->pid, &st, 0);
			close(pidp[0]);
			assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 98);
			return false;
		}
	}
	close(pidp[0]);
	return true;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait (at most timeout_ms) for r to exit; returns its exit code. */
static int finish(struct run *r, int timeout_ms)
{
	int64_t end = now_ms() + timeout_ms;
	int st;

	if (r->in >= 0)
		close(r->in);
	for (;;) {
		pid_t p = waitpid(r->pid, &st, WNOHANG);

		assert_true(p >= 0);
		if (p == r->pid)
			break;
		if (now_ms() > end) {
			kill(r->pid, SIGKILL);
			waitpid(r->pid, &st, 0);
			fail_msg("berth-init did not exit within %d ms", timeout_ms);
		}
		usleep(5000);
	}
	close(r->out);
	close(r->err);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

/* Read from fd until `want` shows up (or EOF / timeout); returns what came. */
static char *read_until(int fd, const char *want, int timeout_ms)
{
	static char buf[4096];
	size_t len = 0;
	int64_t end = now_ms() + timeout_ms;

	buf[0] = '\0';
	while (!strstr(buf, want) && len < sizeof(buf) - 1) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int left = (int)(end - now_ms());
		ssize_t n;

		if (left <= 0 || poll(&p, 1, left) <= 0)
			break;
		n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
	}
	return buf;
}

static int run_sh(const char *script, unsigned flags)
{
	char *argv[] = { "berth-init", "--", "sh", "-c", (char *)script, NULL };
	struct run r;

	assert_true(start(&r, argv, flags));
	return finish(&r, 10000);
}

static void test_exit_code(void **state)
{
	char *argv[] = { "berth-init", "true", NULL };   /* found through PATH */
	struct run r;

	assert_int_equal(run_sh("exit 3", 0), 3);
	assert_int_equal(run_sh("exit 0", 0), 0);
	assert_int_equal(run_sh("exit 255", 0), 255);
	assert_true(start(&r, argv, 0));
	assert_int_equal(finish(&r, 10000), 0);
}

static void test_killed_by_signal(void **state)
{
	assert_int_equal(run_sh("kill -KILL $$", 0), 128 + SIGKILL);
	assert_int_equal(run_sh("kill -TERM $$", 0), 128 + SIGTERM);
	assert_int_equal(run_sh("kill -USR1 $$", 0), 128 + SIGUSR1);
}

/* The signal sent to berth-init reaches the child, whose trap decides the
 * exit code. */
static void forward(int sig, const char *name, int code, unsigned flags)
{
	char script[256];
	char *argv[] = { "berth-init", "sh", "-c", script, NULL };
	struct run r;

	snprintf(script, sizeof(script),
		 "trap 'exit %d' %s; echo ready; while :; do sleep 0.05; done", code, name);
	if (!start(&r, argv, flags))
		skip();
	assert_non_null(strstr(read_until(r.out, "ready", 10000), "ready"));
	assert_int_equal(kill(r.init_pid, sig), 0);
	assert_int_equal(finish(&r, 10000), code);
}

static void test_forward_signals(void **state)
{
	forward(SIGTERM, "TERM", 42, 0);
	forward(SIGUSR1, "USR1", 43, 0);
	forward(SIGHUP, "HUP", 44, 0);
	forward(SIGINT, "INT", 45, 0);
}

/* As a namespace's init, berth-init still gets (and forwards) signals that
 * have no handler: it has them blocked and waits for them. */
static void test_forward_as_pid1(void **state)
{
	forward(SIGTERM, "TERM", 42, RUN_PIDNS);
}

struct kids {
	int total, zombies;
};

static struct kids children_of(pid_t parent)
{
	struct kids k = { 0, 0 };
	DIR *d = opendir("/proc");
	struct dirent *e;

	assert_non_null(d);
	while ((e = readdir(d))) {
		char path[300], buf[512], *p, state;
		int ppid, fd;
		ssize_t n;

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		p = strrchr(buf, ')');   /* the command name may hold anything */
		if (!p || sscanf(p + 1, " %c %d", &state, &ppid) != 2)
			continue;
		if (ppid != parent)
			continue;
		k.total++;
		if (state == 'Z')
			k.zombies++;
	}
	closedir(d);
	return k;
}

/* The child orphans three sleeps, which must be reparented to berth-init
 * and, once they exit, reaped by it. */
static void reap(unsigned flags)
{
	char *argv[] = { "berth-init", "sh", "-c",
			 "(sleep 1 &); (sleep 1 &); (sleep 1.2 &); echo spawned; read x; exit 5", NULL };
	struct run r;
	struct kids k;
	int64_t end;

	if (!start(&r, argv, flags | RUN_STDIN_PIPE))
		skip();
	assert_non_null(strstr(read_until(r.out, "spawned", 10000), "spawned"));
	k = children_of(r.init_pid);
	printf("  berth-init %d: %d children (%d zombies) after the orphans were made\n",
	       r.init_pid, k.total, k.zombies);
	assert_int_equal(k.total, 4);            /* sh + three orphaned sleeps */
	end = now_ms() + 10000;
	do {
		usleep(20000);
		k = children_of(r.init_pid);
	} while (k.total > 1 && now_ms() < end);
	printf("  after the sleeps ended: %d children (%d zombies)\n", k.total, k.zombies);
	assert_int_equal(k.total, 1);            /* only sh: every orphan reaped */
	assert_int_equal(k.zombies, 0);
	assert_int_equal(write(r.in, "\n", 1), 1);
	assert_int_equal(finish(&r, 10000), 5);
}

static void test_reap_as_subreaper(void **state)
{
	reap(0);
}

static void test_reap_as_pid1(void **state)
{
	reap(RUN_PIDNS);
}

/* As PID 1, berth-init sees itself as 1; when its child exits it exits at
 * once, and the kernel ends whatever else ran in the namespace. */
static void test_pid1_exits_with_child(void **state)
{
	char *argv[] = { "berth-init", "sh", "-c", "echo ppid=$PPID; (sleep 30 &); exit 4", NULL };
	struct run r;
	int64_t t0 = now_ms();

	if (!start(&r, argv, RUN_PIDNS))
		skip();
	assert_non_null(strstr(read_until(r.out, "ppid=1\n", 10000), "ppid=1\n"));
	assert_int_equal(finish(&r, 10000), 4);
	assert_true(now_ms() - t0 < 5000);
}

static void test_exec_failure(void **state)
{
	char *missing[] = { "berth-init", "/nonexistent/berth-test-prog", NULL };
	char *not_in_path[] = { "berth-init", "--", "berth-no-such-command", "a", NULL };
	char *not_exec[] = { "berth-init", "/dev/null", NULL };
	struct run r;
	char *msg;

	assert_true(start(&r, missing, 0));
	msg = read_until(r.err, "\n", 10000);
	assert_non_null(strstr(msg, "berth-init: exec /nonexistent/berth-test-prog: "));
	assert_int_equal(finish(&r, 10000), 127);

	assert_true(start(&r, not_in_path, 0));
	assert_int_equal(finish(&r, 10000), 127);

	assert_true(start(&r, not_exec, 0));
	msg = read_until(r.err, "\n", 10000);
	assert_non_null(strstr(msg, "berth-init: exec /dev/null: "));
	assert_int_equal(finish(&r, 10000), 126);
}

static void test_usage(void **state)
{
	char *none[] = { "berth-init", NULL };
	char *dashdash[] = { "berth-init", "--", NULL };
	struct run r;

	assert_true(start(&r, none, 0));
	assert_non_null(strstr(read_until(r.err, "\n", 10000), "berth-init: usage"));
	assert_int_equal(finish(&r, 10000), 2);
	assert_true(start(&r, dashdash, 0));
	assert_int_equal(finish(&r, 10000), 2);
}

/* Whatever berth-init inherited, its child starts with nothing blocked or
 * ignored; and an inherited SIGCHLD SIG_IGN does not lose the exit code. */
static void test_child_signal_state(void **state)
{
	char *argv[] = { "berth-init", "sh", "-c",
			 "grep -E '^Sig(Blk|Ign):' /proc/self/status; exit 6", NULL };
	struct run r;
	char *out;

	assert_true(start(&r, argv, RUN_DIRTY_SIGNALS));
	/* the wanted text last, else until EOF */
	out = read_until(r.out, "SigIgn:\t0000000000000000\n", 10000);
	assert_non_null(strstr(out, "SigBlk:\t0000000000000000"));
	assert_non_null(strstr(out, "SigIgn:\t0000000000000000"));
	assert_int_equal(finish(&r, 10000), 6);
}

/* ------------------------------------------------------------ pause mode */

static bool alive(pid_t pid)
{
	return waitpid(pid, NULL, WNOHANG) == 0;
}

/* It waits in sigtimedwait (its signal mask is in place; /proc shows the
 * mask without the waited-for signals then, so SigBlk cannot tell). */
static bool waits_for_signals(pid_t pid)
{
	char path[64], buf[256], want[32];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/syscall", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	snprintf(want, sizeof(want), "%d ", (int)SYS_rt_sigtimedwait);
	return !strncmp(buf, want, strlen(want));
}

/* The owner of /proc/<pid>/environ: the process's uid while it is
 * dumpable, root once it is not. */
static uid_t proc_owner(pid_t pid)
{
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
	return stat(path, &st) == 0 ? st.st_uid : (uid_t)-1;
}

/* Not PID 1: a subreaper that makes itself non-dumpable, ignores signals
 * but SIGTERM and SIGINT, and exits 0 on those from anyone. */
static void pause_signals(int sig)
{
	char *argv[] = { "berth-init", "--pause", NULL };
	struct run r;
	int64_t end;

	assert_true(start(&r, argv, RUN_AS_NOBODY));
	/* once it waits for signals (after its prctl), /proc/<pid>/environ
	 * is owned by root, not 65534: it is not dumpable */
	end = now_ms() + 10000;
	while (!waits_for_signals(r.init_pid) && now_ms() < end)
		usleep(5000);
	assert_true(waits_for_signals(r.init_pid));
	assert_int_equal(proc_owner(r.init_pid), 0);
	/* not the fault signals, which are never blocked (they end it) */
	const int ignored[] = { SIGHUP, SIGQUIT, SIGABRT, SIGUSR1, SIGUSR2, SIGPIPE, SIGALRM,
				SIGCHLD, SIGTSTP, SIGTTIN, SIGWINCH, SIGRTMIN };
	for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++)
		assert_int_equal(kill(r.init_pid, ignored[i]), 0);
	usleep(200000);
	assert_true(alive(r.pid));
	assert_int_equal(kill(r.init_pid, sig), 0);
	assert_int_equal(finish(&r, 10000), 0);
}

static void test_pause_signals(void **state)
{
	pause_signals(SIGTERM);
	pause_signals(SIGINT);
}

/* As PID 1 of a pid namespace: a process of that namespace makes orphans,
 * which the holder must reap, and sends it SIGTERM and SIGINT, which it
 * must ignore; SIGTERM from outside ends it (exit 0). */
static void test_pause_pid1(void **state)
{
	char *argv[] = { "berth-init", "--pause", NULL };
	char path[64];
	struct run r;
	struct kids k;
	int nsfd, st, rep[2];
	pid_t helper;
	char res[64] = "";
	int64_t end;

	if (geteuid() != 0)
		skip();   /* joining its pid namespace needs CAP_SYS_ADMIN over it */
	if (!start(&r, argv, RUN_PIDNS))
		skip();
	snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int)r.init_pid);
	nsfd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(nsfd >= 0);
	assert_int_equal(pipe2(rep, O_CLOEXEC), 0);
	helper = fork();
	assert_true(helper >= 0);
	if (helper == 0) {
		pid_t member;

		if (setns(nsfd, CLONE_NEWPID) < 0)
			_exit(90);
		member = fork();   /* in the holder's namespace */
		if (member == 0) {
			int a, b, c;

			/* three short ones, one that outlives the check */
			for (int i = 0; i < 4; i++) {
				pid_t o = fork();

				if (o == 0) {
					execlp("sleep", "sleep", i == 3 ? "30" : i == 2 ? "1.2" : "1", (char *)NULL);
					_exit(99);
				}
			}
			a = getpid();
			b = kill(1, SIGTERM);
			c = kill(1, SIGINT);
			dprintf(rep[1], "pid=%d term=%d int=%d", a, b, c);
			_exit(0);    /* the sleeps are orphans now */
		}
		_exit(member > 0 && waitpid(member, &st, 0) == member && WIFEXITED(st) ? WEXITSTATUS(st) : 91);
	}
	close(rep[1]);
	close(nsfd);
	assert_int_equal(waitpid(helper, &st, 0), helper);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_true(read(rep[0], res, sizeof(res) - 1) > 0);
	close(rep[0]);
	/* the member saw itself inside (not pid 1) and its signals were sent */
	assert_non_null(strstr(res, "term=0 int=0"));
	assert_null(strstr(res, "pid=1 "));
	k = children_of(r.init_pid);
	printf("  holder %d: %d children (%d zombies) after the orphans were made (%s)\n",
	       r.init_pid, k.total, k.zombies, res);
	assert_true(k.total >= 2);   /* some of the short ones may be gone already */
	end = now_ms() + 10000;
	do {
		usleep(20000);
		k = children_of(r.init_pid);
	} while ((k.total > 1 || k.zombies > 0) && now_ms() < end);
	assert_int_equal(k.total, 1);   /* every ended orphan reaped, the long one left */
	assert_int_equal(k.zombies, 0);
	assert_true(alive(r.pid));     /* the signals from inside were ignored */
	assert_int_equal(kill(r.init_pid, SIGTERM), 0);
	assert_int_equal(finish(&r, 10000), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exit_code),
		cmocka_unit_test(test_killed_by_signal),
		cmocka_unit_test(test_forward_signals),
		cmocka_unit_test(test_forward_as_pid1),
		cmocka_unit_test(test_reap_as_subreaper),
		cmocka_unit_test(test_reap_as_pid1),
		cmocka_unit_test(test_pid1_exits_with_child),
		cmocka_unit_test(test_exec_failure),
		cmocka_unit_test(test_usage),
		cmocka_unit_test(test_child_signal_state),
		cmocka_unit_test(test_pause_signals),
		cmocka_unit_test(test_pause_pid1),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
