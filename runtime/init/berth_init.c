/* runtime/init/berth_init.c - berth-init, the container's PID 1 for
 * initProcessEnabled (the job tini and docker-init do).
 *
 *     berth-init [--] PROG [ARGS...]
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
 * Linked statically into the container's world: libc only, no berth code.
 * Signals are taken synchronously with sigwaitinfo(), so there is no handler
 * and no race between a signal and the child's exit. */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

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

	if (argc > 1 && !strcmp(argv[1], "--"))
		first = 2;
	if (first >= argc) {
		fprintf(stderr, "berth-init: usage: berth-init [--] PROG [ARGS...]\n");
		return 2;
	}
	if (getpid() != 1 && prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
		fprintf(stderr, "berth-init: PR_SET_CHILD_SUBREAPER: %s (orphans will not be reaped here)\n",
			strerror(errno));

	/* An inherited SIG_IGN for SIGCHLD would make the kernel reap our
	 * children, and the child's status would be lost. */
	signal(SIGCHLD, SIG_DFL);
	/* Everything but the fault signals waits in the queue for sigwaitinfo
	 * (blocked signals are queued even for a namespace's init, whose
	 * default-action signals would otherwise be dropped). */
	sigfillset(&set);
	for (size_t i = 0; i < sizeof(sync_signals) / sizeof(sync_signals[0]); i++)
		sigdelset(&set, sync_signals[i]);
	if (sigprocmask(SIG_SETMASK, &set, NULL) < 0) {
		fprintf(stderr, "berth-init: sigprocmask: %s\n", strerror(errno));
		return 1;
	}

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
		bool child_done = false;
		int status = 0;
		for (;;) {
			int st;
			pid_t p = waitpid(-1, &st, WNOHANG);

			if (p < 0 && errno == EINTR)
				continue;
			if (p <= 0)
				break;
			if (p == child) {
				child_done = true;
				status = st;
			}
		}
		if (child_done)
			return exit_code(status);
	}
}
