/* runtime/init/berth_init.c - berth-init, the container's PID 1 for
 * initProcessEnabled (the job tini and docker-init do).
 *
 *     berth-init [--] PROG [ARGS...]
 *     berth-init --pause
 *
 * Runs PROG (looked up in $PATH when it has no '/') as its one child, passes
 * every signal it can catch on to that child, reaps every process that ends
 * up as its child (orphans of the container are reparented to PID 1), and
 * when the child exits, exits with the child's status: its exit code, or
 * 128 + the signal that killed it. When it is not PID 1 (tests, or pidMode
 * host), it makes itself a child subreaper so orphans still come to it.
 * An exec failure exits 127 (not found) or 126 (anything else), as a shell
 * does.
 *
 * Linked statically into the container's world: libc only (musl, see
 * runtime/CMakeLists.txt), no berth code.
 * Signals are taken synchronously with sigwaitinfo(), so there is no handler
 * and no race between a signal and the child's exit.
 *
 * Exec mode (argv[0] "berth-exec", runtime/container/childmsg.h): the
 * launcher runs every container's program through this binary, from its
 * sealed memfd, instead of exec'ing it straight from the runtime. While an
 * execve is under way /proc/self/exe still names the process doing it, and
 * the path being exec'd (or a script's interpreter, or an ELF's) may be the
 * magic link /proc/self/exe: straight from the runtime that would run the
 * host's berth binary inside the container, which could then write to it
 * (CVE-2019-5736). From here it can only reach this sealed, unwritable
 * copy.
 *
 * Pause mode (`berth-init --pause`, childmsg.h): the holder of a task's
 * shared pid namespace (pidMode task), started by the launcher as PID 1 of
 * that namespace in an empty read-only root, as nobody, without
 * capabilities. The task's containers join the namespace; their orphans
 * come here and are reaped. It exits only on SIGTERM or SIGINT from outside
 * the namespace: a container (root, with CAP_KILL) must not be able to end
 * it, which would kill every process of the task. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/container/childmsg.h"

extern char **environ;

/* Raised by the kernel for a fault in this process: never blocked here, so a
 * bug in berth-init kills it instead of hanging it. */
static const int sync_signals[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS };

static void child_exec(char **argv)
{
	sigset_t none;

	/* the program starts as it would without an init: default
	 * dispositions, nothing blocked */
	for (int s = 1; s < NSIG; s++)
		if (s != SIGKILL && s != SIGSTOP)
			signal(s, SIG_DFL);   /* fails harmlessly for libc's internal signals */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execvp(argv[0], argv);
	int e = errno;
	fprintf(stderr, "berth-init: exec %s: %s\n", argv[0], strerror(e));
	_exit(e == ENOENT ? 127 : 126);
}

static void msg_add(char *dst, size_t size, const char *s)
{
	size_t n = strlen(dst);

	while (*s && n + 1 < size)
		dst[n++] = *s++;
	dst[n] = '\0';
}

static int parse_fd(const char *s, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0 || v > max)
		return -1;
	return (int)v;
}

/* berth-exec SYNC_FD N CANDIDATE... ARGV...: see childmsg.h. */
static int exec_mode(int argc, char **argv)
{
	struct ctr_child_msg msg;
	int fd, n, err = ENOENT;
	bool eacces = false;
	char **cand, **prog;

	fd = argc > 3 ? parse_fd(argv[1], INT_MAX) : -1;
	n = argc > 3 ? parse_fd(argv[2], argc) : -1;
	if (fd < 0 || n < 1 || 3 + n >= argc) {
		fprintf(stderr, "berth-init: usage: " CTR_EXEC_ARGV0 " SYNC_FD N CANDIDATE... ARGV...\n");
		return 127;
	}
	(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
	cand = argv + 3;
	prog = argv + 3 + n;
	memset(&msg, 0, sizeof(msg));
	msg_add(msg.step, sizeof(msg.step), "exec");
	for (int i = 0; i < n; i++) {
		execve(cand[i], prog, environ);
		err = errno;
		if (err == EACCES) {
			eacces = true;
			continue;
		}
		if (err == ENOENT && n == 1 && access(cand[i], F_OK) == 0) {
			msg_add(msg.detail, sizeof(msg.detail), cand[i]);
			msg_add(msg.detail, sizeof(msg.detail), ": its ELF interpreter is missing");
			goto fail;
		}
		if (err != ENOENT && err != ENOTDIR) {
			msg_add(msg.detail, sizeof(msg.detail), cand[i]);
			goto fail;
		}
	}
	if (eacces) {
		err = EACCES;
		msg_add(msg.detail, sizeof(msg.detail), "permission denied: ");
	} else {
		err = ENOENT;
		msg_add(msg.detail, sizeof(msg.detail), "executable file not found: ");
	}
	msg_add(msg.detail, sizeof(msg.detail), prog[0]);
fail:
	msg.err = err;
	(void)send(fd, &msg, sizeof(msg), MSG_NOSIGNAL);
	return 127;
}

/* Reap every child that has ended; true when `child` was one of them, its
 * status then in *status. */
static bool reap_all(pid_t child, int *status)
{
	bool found = false;

	for (;;) {
		int st;
		pid_t p = waitpid(-1, &st, WNOHANG);

		if (p < 0 && errno == EINTR)
			continue;
		if (p <= 0)
			return found;
		if (child > 0 && p == child) {
			found = true;
			*status = st;
		}
	}
}

/* Block everything but the fault signals: they wait in the queue for
 * sigwaitinfo (blocked signals are queued even for a namespace's init,
 * whose default-action signals would otherwise be dropped). */
static int block_signals(sigset_t *set)
{
	/* An inherited SIG_IGN for SIGCHLD would make the kernel reap our
	 * children, and a child's status would be lost. */
	signal(SIGCHLD, SIG_DFL);
	/* Every signal, the real-time ones included. Not sigfillset(): musl's
	 * leaves out the three it keeps for itself (32-34), and glibc's
	 * SIGRTMIN (34) sent to a holder that is not PID 1 would then end it
	 * by its default action. This process has one thread and no timer,
	 * so libc has no use for them here. */
	memset(set, 0xff, sizeof(*set));
	for (size_t i = 0; i < sizeof(sync_signals) / sizeof(sync_signals[0]); i++)
		sigdelset(set, sync_signals[i]);
	if (sigprocmask(SIG_SETMASK, set, NULL) < 0) {
		fprintf(stderr, "berth-init: sigprocmask: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

/* berth-init --pause: see the top of the file and childmsg.h. */
static int pause_mode(void)
{
	bool pid1 = getpid() == 1;
	sigset_t set;
	int unused;

	/* The containers of the task see this process: none of them may read
	 * its memory or open /proc/1/{root,cwd,ns/...} (execve made us
	 * dumpable again). */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
		fprintf(stderr, "berth-init: PR_SET_DUMPABLE: %s\n", strerror(errno));
		return 1;
	}
	if (!pid1 && prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
		fprintf(stderr, "berth-init: PR_SET_CHILD_SUBREAPER: %s (orphans will not be reaped here)\n",
			strerror(errno));
	if (block_signals(&set) < 0)
		return 1;
	/* children that ended before the mask was in place */
	reap_all(-1, &unused);
	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(&set, &si);

		if (sig < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "berth-init: sigwaitinfo: %s\n", strerror(errno));
			return 1;
		}
		if (sig == SIGCHLD) {
			reap_all(-1, &unused);
			continue;
		}
		/* si_pid is 0 for a sender outside our pid namespace */
		if ((sig == SIGTERM || sig == SIGINT) && (!pid1 || si.si_pid == 0))
			return 0;
	}
}

static int exit_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 1;
}

int main(int argc, char **argv)
{
	sigset_t set;
	pid_t child;
	int first = 1;

	if (argc > 0 && !strcmp(argv[0], CTR_EXEC_ARGV0))
		return exec_mode(argc, argv);
	if (argc == 2 && !strcmp(argv[1], CTR_PAUSE_ARG))
		return pause_mode();
	if (argc > 1 && !strcmp(argv[1], "--"))
		first = 2;
	if (first >= argc) {
		fprintf(stderr, "berth-init: usage: berth-init [--] PROG [ARGS...]\n");
		return 2;
	}
	if (getpid() != 1 && prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
		fprintf(stderr, "berth-init: PR_SET_CHILD_SUBREAPER: %s (orphans will not be reaped here)\n",
			strerror(errno));

	if (block_signals(&set) < 0)
		return 1;

	child = fork();
	if (child < 0) {
		fprintf(stderr, "berth-init: fork: %s\n", strerror(errno));
		return 1;
	}
	if (child == 0)
		child_exec(argv + first);

	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(&set, &si);

		if (sig < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "berth-init: sigwaitinfo: %s\n", strerror(errno));
			return 1;
		}
		if (sig != SIGCHLD) {
			if (kill(child, sig) < 0 && errno != ESRCH)
				fprintf(stderr, "berth-init: forward signal %d: %s\n", sig, strerror(errno));
			continue;
		}
		/* one SIGCHLD may stand for many exits: reap until none is left */
		int status = 0;

		if (reap_all(child, &status))
			return exit_code(status);
	}
}
