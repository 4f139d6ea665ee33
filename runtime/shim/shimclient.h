/* runtime/shim/shimclient.h - the client side of berth-shim (shim.h has the
 * bundle layout and the protocol): start a shim, talk to it, read what it
 * left behind. Used by berthd (one non-blocking connection per task in its
 * event loop) and by berth-shimctl (tests/tools).
 *
 * A typical life:
 *
 *     shimc_spawn(shim, bundle, &pid, &err);         // returns once detached
 *     fd = shimc_connect(bundle, &err);              // poll fd for POLLIN
 *     while ((r = shimc_recv(fd, &seq, &task, &err)) == 1)
 *             ...task is the latest snapshot...
 *     if (r == 0)                                    // the shim went away
 *             shimc_read_status(bundle, &seq, &task, &err);  // its last word
 *
 * A connection that closes (or a connect that finds no shim) does not say
 * how the task ended: status.json does. Its lastStatus is STOPPED when the
 * shim finished the task; anything else means the shim died (kill -9, a
 * crash) while the task was in that state. Snapshots carry seq, which grows
 * by one per change over the shim's life, so a client can tell a newer
 * snapshot from an older one whichever way it got them. */
#ifndef BERTH_RUNTIME_SHIM_SHIMCLIENT_H
#define BERTH_RUNTIME_SHIM_SHIMCLIENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"

/* Run `shim_path bundle` (stdin /dev/null, stdout and stderr into a pipe,
 * default signal dispositions, empty signal mask) and wait for it to
 * detach: its first process exits as soon as the shim is ready. That
 * process is waited for by pid (never waitpid(-1)), for at most timeout_ms
 * (<= 0: 30 s; then it is killed). On success *pid is the detached shim's
 * pid (from shim.pid). On failure the error carries what the shim printed:
 * "berth-shim /run/berth/tasks/<id>: config.json: pidsMax: expected
 * integer, got string"; status.json then says STOPPED / TaskFailedToStart,
 * unless the bundle had been used before (EEXIST-like refusals leave the
 * existing status.json alone). */
int shimc_spawn(const char *shim_path, const char *bundle, int timeout_ms, pid_t *pid,
		struct berr **err);
/* shimc_spawn, handing the shim init_fd (a sealed memfd of berth-init,
 * ctr_init_fd) as its fd 3 with --init-fd 3, so that every task shares
 * that one copy; init_fd < 0: none (the shim makes its own). */
int shimc_spawn_init(const char *shim_path, const char *bundle, int init_fd, int timeout_ms,
		     pid_t *pid, struct berr **err);
/* shimc_spawn_init, also handing the shim secrets_fd (a sealed memfd of the
 * task's secret values, runtime/creds/secrets.h) as its fd 4 with
 * --secrets-fd 4; secrets_fd < 0: none. The values never touch a file. */
int shimc_spawn_fds(const char *shim_path, const char *bundle, int init_fd, int secrets_fd,
		    int timeout_ms, pid_t *pid, struct berr **err);

/* shimc_spawn_fds in two halves, so that several shims get ready side by
 * side (berthd's RunTask with a count): _begin starts the shim (the fds
 * are handed over by then: the caller may close its own), _end waits for
 * it to detach as shimc_spawn_fds does, its timeout counted from _begin.
 * Every _begin that succeeded needs its _end (it reaps the first process
 * and closes the pipe); the strings passed to _begin must live until
 * then. */
struct shimc_spawn {
	const char *shim_path, *bundle;
	pid_t child;          /* the first process */
	int rd;               /* its stdout and stderr */
	int timeout_ms;
	int64_t deadline;     /* CLOCK_MONOTONIC ms */
};
int shimc_spawn_begin(const char *shim_path, const char *bundle, int init_fd, int secrets_fd,
		      int timeout_ms, struct shimc_spawn *sp, struct berr **err);
int shimc_spawn_end(struct shimc_spawn *sp, pid_t *pid, struct berr **err);

/* Connect to BUNDLE/shim.sock: the fd, non-blocking and close-on-exec.
 * -ENOENT or -ECONNREFUSED: no shim runs there (read status.json);
 * -EAGAIN: its backlog is full, try again. The shim sends the current
 * snapshot at once. */
int shimc_connect(const char *bundle, struct berr **err);

/* Take one message from fd without waiting. 1: a snapshot, *seq and *task
 * (a new reference to the snapshot's "task" object) set; 0: the shim
 * closed the connection (it exited, or dropped this client for not
 * reading); -EAGAIN: nothing there yet; -EPROTO: a message that is not a
 * snapshot, or an error the shim sent back ("shim: request.op: ...");
 * other negative values: the socket failed. */
int shimc_recv(int fd, uint64_t *seq, json_t **task, struct berr **err);
/* shimc_recv, waiting up to timeout_ms (< 0: for ever) for a message:
 * -ETIMEDOUT when none came. */
int shimc_recv_wait(int fd, int timeout_ms, uint64_t *seq, json_t **task, struct berr **err);

/* Ask the task to stop. reason NULL: "Task stopped by user"; stop_code
 * NULL: UserInitiated (or "ServiceSchedulerInitiated"). Idempotent: the
 * first stop's reason is the one the task keeps. The snapshot that follows
 * says desiredStatus STOPPED. */
int shimc_send_stop(int fd, const char *reason, const char *stop_code, struct berr **err);
/* Ask for the current snapshot again. */
int shimc_send_state(int fd, struct berr **err);

/* ---- exec (shim.h has the protocol) ---- */

struct shimc_exec {
	const char *container;      /* NULL: the first essential container */
	char *const *argv;          /* NULL-terminated, at least one */
	const char *const *env;     /* "NAME=value", NULL-terminated, or NULL */
	const char *user, *workdir; /* NULL: the container's */
	bool tty;
};

/* Ask for an exec on fd (a connection to shim.sock), passing fds[0..2]
 * (stdin, stdout, stderr) or, with x->tty, fds[0] only (a terminal). */
int shimc_send_exec(int fd, const struct shimc_exec *x, const int *fds, struct berr **err);
/* Send signal sig to the process of the exec running on fd (after
 * exec-started). No answer comes; one that arrives after the process has
 * ended is ignored by the shim. Without waiting: -EAGAIN when the socket's
 * buffer is full. */
int shimc_send_signal(int fd, int sig, struct berr **err);

enum shimc_msg_type {
	SHIMC_MSG_STATE,            /* a snapshot (before the exec started) */
	SHIMC_MSG_EXEC_STARTED,     /* pid, container */
	SHIMC_MSG_EXEC_EXIT,        /* exit_code */
	SHIMC_MSG_ERROR,            /* message, code (NULL when the shim gave none) */
};

struct shimc_msg {
	enum shimc_msg_type type;
	pid_t pid;
	int exit_code;
	char *container, *message, *code;   /* xmalloc'd or NULL */
};

/* Parse any message of the shim into *m (shimc_msg_free it). */
int shimc_parse_msg(const char *buf, size_t len, struct shimc_msg *m, struct berr **err);
/* Wait up to timeout_ms (< 0: for ever) for the next message on fd.
 * 1: *m filled; 0: the shim closed the connection; -ETIMEDOUT; other
 * negative values: the socket failed or the message is not one. */
int shimc_recv_msg(int fd, int timeout_ms, struct shimc_msg *m, struct berr **err);
void shimc_msg_free(struct shimc_msg *m);

/* Parse one snapshot message (as sent, or as status.json holds it). */
int shimc_parse(const char *buf, size_t len, uint64_t *seq, json_t **task, struct berr **err);

/* BUNDLE/status.json: 1 with *seq and *task; 0 when there is none (the
 * shim has not written one yet, or the bundle is gone). */
int shimc_read_status(const char *bundle, uint64_t *seq, json_t **task, struct berr **err);

/* BUNDLE/shim.pid: 1 with *pid; 0 when absent (the shim is not running,
 * or not yet). The pid may be reused once the shim is gone: a connection
 * to shim.sock, or shimPid in a snapshot, is the proof of life. */
int shimc_read_pid(const char *bundle, pid_t *pid, struct berr **err);

#endif
