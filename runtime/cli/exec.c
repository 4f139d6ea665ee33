/* runtime/cli/exec.c - `berth exec`: run a process in a running container.
 *
 * The task's shim does the work (runtime/shim/shim.h, "Exec"): berth
 * connects to <runDir>/<task id>/shim.sock and sends the command with its
 * stdio. Without -t those are berth's own fds 0, 1, 2 when they are pipes
 * (nothing relayed: the process writes where berth would), else pipes that
 * berth relays (a host file, device or terminal is never handed to the
 * container); stdin is an empty pipe without -i. With -t berth opens a pty, sends its slave (the process's stdin,
 * stdout, stderr and controlling terminal), and relays between its own
 * stdin/stdout and the master: raw mode on berth's terminal when -i and
 * stdin is one (restored on every way out), the window size copied at the
 * start and on SIGWINCH. berth exits with the process's exit code.
 *
 * Signals: in both modes berth blocks SIGINT, SIGTERM, SIGHUP, SIGQUIT,
 * SIGUSR1 and SIGUSR2 (those it was not started with ignored), reads them
 * from a signalfd and forwards each, every time, to the process (the shim's "signal" request on the exec
 * connection; the process itself, not its group), then goes on waiting for
 * the process's end and exits with its code (130 when SIGINT killed it).
 * Nothing escalates: SIGKILL, which berth cannot catch, ends berth, and
 * the shim kills the process when berth's connection closes. With -it on
 * a terminal in raw mode, ^C and ^\ are bytes through the pty (the
 * container's foreground process group gets them from its line
 * discipline), not signals to berth. */
#include "runtime/cli/cli.h"

#include "common/cleanup.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "runtime/shim/shim.h"
#include "runtime/shim/shimclient.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#define RUN_DIR_DEFAULT "/run/berth/tasks"
/* after the process's exit: read the pty until every slave is closed, or
 * this long without output (a background process may keep one open) */
#define DRAIN_IDLE_MS 200
#define RELAY_BUF 16384

static void exec_usage(FILE *f)
{
	fprintf(f,
		"Usage: berth exec [-i] [-t] [-e NAME=VALUE]... [-u USER] [-w DIR] [--cluster NAME]\n"
		"                  [--run-dir DIR] TASK [CONTAINER] -- CMD [ARG...]\n"
		"\n"
		"Run CMD inside a running container of TASK (default: its first essential\n"
		"container), with the container's namespaces, cgroup, user, capabilities and\n"
		"seccomp filter. TASK is a task id, a unique prefix of one, or a task ARN. The\n"
		"process dies with its container. SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and\n"
		"SIGUSR2 to berth exec are forwarded to the process (each time; berth waits for\n"
		"its end); when berth exec is killed (SIGKILL), the process is killed too.\n"
		"\n"
		"  -i, --interactive   pass stdin (default: /dev/null)\n"
		"  -t, --tty           give the process a terminal (its controlling tty); with -i\n"
		"                      and a terminal on stdin, that terminal is in raw mode\n"
		"  -e, --env NAME=VALUE  set a variable (NAME alone: its value here, if set)\n"
		"  -u, --user USER     user[:group] or uid[:gid], from the container's /etc/passwd\n"
		"  -w, --workdir DIR   working directory (absolute)\n"
		"  --cluster NAME      look for the task in this cluster only (through berthd)\n"
		"  --run-dir DIR       the tasks' run directory (default $BERTH_RUN_DIR, else\n"
		"                      " RUN_DIR_DEFAULT "; berthd.json's \"runDir\")\n"
		"\n"
		"Exit code: the process's (128 + N when signal N ended it; 137 when its\n"
		"container or task stopped under it); 126 it could not be started, 127 CMD\n"
		"was not found in the container; 1 berthd or the task's shim unreachable, the\n"
		"task or container not running; 2 usage; 3 no such task or container.\n");
}

/* ------------------------------------------------------------ arguments */

struct exec_args {
	bool interactive, tty;
	char **env;                 /* NULL-terminated */
	size_t n_env;
	const char *user, *workdir, *cluster, *run_dir;
	const char *task, *container;
	char **cmd;                 /* argv after "--" (borrowed) */
};

/* Short options that take a value. */
static bool short_takes_arg(char c)
{
	return c == 'e' || c == 'u' || c == 'w';
}

/* The index of the "--" that starts the command: the first one that is
 * not the value of an option; -1 when there is none. */
static int find_dashdash(int argc, char **argv)
{
	static const char *const long_with_arg[] = { "--env", "--user", "--workdir", "--cluster",
						     "--run-dir", NULL };

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--"))
			return i;
		if (a[0] != '-' || !a[1])
			continue;
		if (a[1] == '-') {
			for (size_t k = 0; long_with_arg[k]; k++)
				if (!strcmp(a, long_with_arg[k]))
					i++;   /* --env VALUE */
			continue;
		}
		/* a cluster of short options: one that takes a value takes the
		 * rest, or the next argument when it is last */
		for (const char *p = a + 1; *p; p++)
			if (short_takes_arg(*p)) {
				if (!p[1])
					i++;
				break;
			}
	}
	return -1;
}

static void env_add(struct exec_args *a, const char *kv)
{
	a->env = xreallocarray(a->env, a->n_env + 2, sizeof(*a->env));
	a->env[a->n_env++] = xstrdup(kv);
	a->env[a->n_env] = NULL;
}

static bool container_name_ok(const char *s)
{
	size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_");

	return n > 0 && n <= 255 && !s[n];
}

static int parse_args(int argc, char **argv, struct exec_args *a)
{
	static const struct option opts[] = {
		{ "interactive", no_argument, NULL, 'i' },
		{ "tty", no_argument, NULL, 't' },
		{ "env", required_argument, NULL, 'e' },
		{ "user", required_argument, NULL, 'u' },
		{ "workdir", required_argument, NULL, 'w' },
		{ "cluster", required_argument, NULL, 'c' },
		{ "run-dir", required_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int dd = find_dashdash(argc, argv), nopt, c;

	/* options and TASK [CONTAINER] before "--"; the command after it */
	nopt = dd >= 0 ? dd : argc;
	while ((c = getopt_long(nopt, argv, "ite:u:w:h", opts, NULL)) != -1) {
		switch (c) {
		case 'i': a->interactive = true; break;
		case 't': a->tty = true; break;
		case 'e':
			if (optarg[0] == '=' || !optarg[0]) {
				log_error("exec: -e %s: give NAME=VALUE or NAME", optarg);
				return CLI_EXIT_USAGE;
			}
			if (strchr(optarg, '='))
				env_add(a, optarg);
			else if (getenv(optarg)) {
				cleanup_free char *kv = xasprintf("%s=%s", optarg, getenv(optarg));

				env_add(a, kv);
			}
			break;
		case 'u':
			if (!optarg[0]) {
				log_error("exec: -u: empty user");
				return CLI_EXIT_USAGE;
			}
			a->user = optarg;
			break;
		case 'w':
			if (optarg[0] != '/') {
				log_error("exec: -w %s: give an absolute path", optarg);
				return CLI_EXIT_USAGE;
			}
			a->workdir = optarg;
			break;
		case 'c': a->cluster = optarg; break;
		case 'R': a->run_dir = optarg; break;
		case 'h': exec_usage(stdout); return -1;
		default: exec_usage(stderr); return CLI_EXIT_USAGE;
		}
	}
	if (dd < 0 || dd + 1 >= argc) {
		log_error("exec: give the command after --: berth exec [OPTIONS] TASK [CONTAINER] -- "
			  "CMD [ARG...] (see berth exec --help)");
		return CLI_EXIT_USAGE;
	}
	if (optind >= nopt || nopt - optind > 2) {
		log_error("exec: give TASK and optionally CONTAINER before -- (see berth exec --help)");
		return CLI_EXIT_USAGE;
	}
	a->task = argv[optind];
	a->container = optind + 1 < nopt ? argv[optind + 1] : NULL;
	if (a->container && !container_name_ok(a->container)) {
		cleanup_free char *cn = cli_clean(a->container);

		log_error("exec: \"%s\" is not a container name", cn);
		return CLI_EXIT_USAGE;
	}
	a->cmd = argv + dd + 1;
	if (!a->cmd[0][0]) {
		log_error("exec: empty command");
		return CLI_EXIT_USAGE;
	}
	return 0;
}

/* ------------------------------------------------------------ the task */

/* The id part of a task reference, lower case, or NULL when it is not one. */
static char *ref_id(const char *ref)
{
	const char *p = ref;
	char *id;

	if (!strncmp(ref, "arn:", 4))
		p = cli_arn_tail(ref);
	if (!*p || strlen(p) > 32 || strspn(p, "0123456789abcdefABCDEF") != strlen(p))
		return NULL;
	id = xstrdup(p);
	for (char *q = id; *q; q++)
		*q = (char)tolower((unsigned char)*q);
	return id;
}

/* Bundles in run_dir whose id starts with prefix and that have a shim
 * socket: 0 none, 1 one (id set), 2 more. */
static int match_bundle(const char *run_dir, const char *prefix, char id[33])
{
	cleanup_closedir DIR *d = opendir(run_dir);
	struct dirent *de;
	int n = 0;

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		char sock[64];
		struct stat st;

		if (!cli_is_task_id(de->d_name) || strncmp(de->d_name, prefix, strlen(prefix)))
			continue;
		snprintf(sock, sizeof(sock), "%.32s/%s", de->d_name, SHIM_SOCKET_FILE);
		if (fstatat(dirfd(d), sock, &st, 0) < 0 || !S_ISSOCK(st.st_mode))
			continue;
		if (n++ == 0)
			memcpy(id, de->d_name, 33);
	}
	return n > 1 ? 2 : n;
}

/* The task's bundle: a running task of this host by its id or a prefix in
 * the run directory, else berthd's answer. 0 with id set, or an exit code
 * (logged). */
static int find_task(const struct exec_args *a, char id[33])
{
	cleanup_free char *rid = ref_id(a->task), *clean = cli_clean(a->task);
	struct cli_task t = { 0 };
	const char *last;
	int r;

	if (rid && strncmp(a->task, "arn:", 4)) {
		r = match_bundle(a->run_dir, rid, id);
		if (r == 2) {
			log_error("exec: task id prefix \"%s\" is ambiguous in %s; give more of the id",
				  clean, a->run_dir);
			return CLI_EXIT_USAGE;
		}
		if (r == 1 && !a->cluster)
			return 0;
	}
	r = cli_task_find(a->task, a->cluster, false, &t);
	if (r)
		return r;
	memcpy(id, t.id, 33);
	last = json_string_value(json_object_get(t.doc, "lastStatus"));
	if (last && (!strcmp(last, "STOPPED") || !strcmp(last, "DEPROVISIONING"))) {
		log_error("exec: task %s is %s: nothing runs in it", t.id, last);
		json_decref(t.doc);
		return CLI_EXIT_ERROR;
	}
	json_decref(t.doc);
	return 0;
}

/* ------------------------------------------------------------ terminal */

static struct termios saved_termios;
static bool raw_on;

static void raw_restore(void)
{
	if (raw_on) {
		tcsetattr(0, TCSADRAIN, &saved_termios);
		raw_on = false;
	}
}

static int raw_enter(void)
{
	struct termios t;

	if (tcgetattr(0, &saved_termios) < 0)
		return -errno;
	t = saved_termios;
	cfmakeraw(&t);
	/* output processing stays: the pty's own ONLCR makes "\r\n" already,
	 * and berth's messages keep their line starts */
	t.c_oflag = saved_termios.c_oflag;
	if (tcsetattr(0, TCSADRAIN, &t) < 0)
		return -errno;
	raw_on = true;
	return 0;
}

/* The window size of our terminal (stdin, else stdout) onto the pty. */
static void copy_winsize(int master)
{
	struct winsize ws;

	if (ioctl(0, TIOCGWINSZ, &ws) == 0 || ioctl(1, TIOCGWINSZ, &ws) == 0)
		(void)ioctl(master, TIOCSWINSZ, &ws);
}

/* A new pty: *master (non-blocking) and *slave, neither our controlling
 * terminal, both close-on-exec. */
static int open_pty(int *master, int *slave)
{
	int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC), s;
	char name[128];

	if (m < 0)
		return -errno;
	if (grantpt(m) < 0 || unlockpt(m) < 0)
		goto fail;
	s = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (s < 0) {
		/* before Linux 4.13: by name */
		if (ptsname_r(m, name, sizeof(name)) != 0)
			goto fail;
		s = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (s < 0)
			goto fail;
	}
	if (fcntl(m, F_SETFL, fcntl(m, F_GETFL) | O_NONBLOCK) < 0) {
		close(s);
		goto fail;
	}
	*master = m;
	*slave = s;
	return 0;
fail:
	{
		int e = errno;

		close(m);
		return -e;
	}
}

/* Write all of buf to a blocking or non-blocking fd. */
static int write_out(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t w = write(fd, buf, len);

		if (w < 0 && errno == EAGAIN) {
			struct pollfd p = { .fd = fd, .events = POLLOUT };

			(void)poll(&p, 1, -1);
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

/* ------------------------------------------------------------ signals */

/* What berth forwards to the process (docs/cli.md, "Signals"). */
static const int forwarded[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };

/* Block the forwarded signals (and extra, when > 0) and return a
 * signalfd for them (non-blocking), or -1 (logged) with nothing changed;
 * *old is the mask to restore. A signal berth was started with ignored
 * stays ignored, as a shell keeps it: nohup's SIGHUP, the SIGINT and
 * SIGQUIT of a non-interactive shell's background job. */
static int signals_take(int extra, sigset_t *old)
{
	sigset_t mask;
	int fd;

	sigemptyset(&mask);
	for (size_t k = 0; k < sizeof(forwarded) / sizeof(forwarded[0]); k++) {
		struct sigaction sa;

		if (sigaction(forwarded[k], NULL, &sa) == 0 && sa.sa_handler == SIG_IGN) {
			log_debug("exec: %s is ignored: not forwarded", strsignal(forwarded[k]));
			continue;
		}
		sigaddset(&mask, forwarded[k]);
	}
	if (extra > 0)
		sigaddset(&mask, extra);
	sigprocmask(SIG_BLOCK, &mask, old);
	fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (fd < 0) {
		log_error("exec: signalfd: %m");
		sigprocmask(SIG_SETMASK, old, NULL);
	}
	return fd;
}

/* The process has ended (or berth gives up): what came in since is
 * dropped, not left pending to end berth when the mask is restored. */
static void signals_release(int sigfd, const sigset_t *old)
{
	struct signalfd_siginfo si;

	if (sigfd < 0)
		return;
	while (read(sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		;
	close(sigfd);
	sigprocmask(SIG_SETMASK, old, NULL);
}

/* Send sig to the process through the shim. A full socket buffer (the
 * shim not reading) is waited for a moment; a failure is a warning only:
 * the connection's end, if that is it, shows in the next read. */
static void forward_signal(int sock, int sig)
{
	cleanup_berr struct berr *err = NULL;
	int r = shimc_send_signal(sock, sig, &err);

	if (r == -EAGAIN) {
		struct pollfd p = { .fd = sock, .events = POLLOUT };

		berr_clear(&err);
		if (poll(&p, 1, 1000) > 0)
			r = shimc_send_signal(sock, sig, &err);
	}
	if (r < 0)
		log_warn("exec: forward signal %d (%s) to the process: %s", sig, strsignal(sig),
			 err ? berr_msg(err) : strerror(-r));
	else
		log_debug("exec: forwarded signal %d (%s) to the process", sig, strsignal(sig));
}

/* Forward every signal the signalfd holds; SIGWINCH copies the window
 * size onto master instead (tty). */
static void signals_forward(int sigfd, int sock, int master)
{
	struct signalfd_siginfo si;

	while (read(sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGWINCH) {
			if (master >= 0)
				copy_winsize(master);
			continue;
		}
		forward_signal(sock, (int)si.ssi_signo);
	}
}

/* ------------------------------------------------------------ the exec */

/* The exit code for an error answer of the shim. */
static int error_exit(const struct shimc_msg *m)
{
	if (!m->code)
		return CLI_EXIT_ERROR;
	if (!strcmp(m->code, "ContainerNotFound"))
		return CLI_EXIT_NOT_FOUND;
	if (!strcmp(m->code, "InvalidRequest"))
		return CLI_EXIT_USAGE;
	if (!strcmp(m->code, "CommandNotFound"))
		return 127;
	if (!strcmp(m->code, "CannotExecute"))
		return 126;
	return CLI_EXIT_ERROR;
}

/* Wait for the answer to the exec request: 0 started, else an exit code
 * (logged) with *code set when the process had already ended. */
static int wait_started(int sock, const char *id, bool *ended, int *code)
{
	for (;;) {
		cleanup_berr struct berr *err = NULL;
		struct shimc_msg m;
		int r = shimc_recv_msg(sock, -1, &m, &err);

		if (r == 0) {
			log_error("exec: task %.12s: the shim closed the connection (the task stopped)", id);
			return CLI_EXIT_ERROR;
		}
		if (r < 0) {
			log_error("exec: task %.12s: %s", id, berr_msg(err));
			return CLI_EXIT_ERROR;
		}
		switch (m.type) {
		case SHIMC_MSG_STATE:
			break;
		case SHIMC_MSG_ERROR: {
			cleanup_free char *msg = cli_clean(m.message);

			log_error("exec: %s", msg);
			r = error_exit(&m);
			shimc_msg_free(&m);
			return r;
		}
		case SHIMC_MSG_EXEC_STARTED:
			log_debug("exec: pid %d in container %s", (int)m.pid, m.container ? m.container : "?");
			shimc_msg_free(&m);
			return 0;
		case SHIMC_MSG_EXEC_EXIT:
			*ended = true;
			*code = m.exit_code;
			shimc_msg_free(&m);
			return 0;
		}
		shimc_msg_free(&m);
	}
}

/* After exec-started: the exit code when exec-exit comes, else (logged) 1. */
static int wait_exit(int sock, const char *id, int timeout_ms, bool *got)
{
	for (;;) {
		cleanup_berr struct berr *err = NULL;
		struct shimc_msg m;
		int r = shimc_recv_msg(sock, timeout_ms, &m, &err);

		if (r == -ETIMEDOUT)
			return -ETIMEDOUT;
		if (r <= 0) {
			log_error("exec: task %.12s: %s", id, r == 0 ? "the shim closed the connection before "
				  "the process ended" : berr_msg(err));
			return CLI_EXIT_ERROR;
		}
		if (m.type == SHIMC_MSG_EXEC_EXIT) {
			*got = true;
			r = m.exit_code;
			shimc_msg_free(&m);
			return r;
		}
		if (m.type == SHIMC_MSG_ERROR) {
			cleanup_free char *msg = cli_clean(m.message);

			log_error("exec: %s", msg);
			shimc_msg_free(&m);
			return CLI_EXIT_ERROR;
		}
		shimc_msg_free(&m);
	}
}

/* ------------------------------------------------- exec without a tty */

/* What berth hands the process for each of its stdin, stdout, stderr: its
 * own fd when that is an anonymous pipe (a shell pipeline: nothing to
 * relay), else a pipe of ours that berth relays. A terminal, a file or a
 * device of the host is never passed in: the process (root in its
 * container) could fchmod/fchown a host file through it, reopen it through
 * /proc/self/fd, or read the user's terminal. */
struct stream {
	int own;                    /* berth's fd: 0, 1, 2 */
	int child;                  /* the fd sent (ours to close once sent) */
	int relay;                  /* our end of the pipe, -1 when passed directly */
	bool open;                  /* the relay still runs */
};

static bool is_anon_pipe(int fd, dev_t pipefs)
{
	struct stat st;

	return fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode) && st.st_dev == pipefs;
}

static int streams_setup(bool interactive, struct stream *st, int *fds)
{
	struct stat ps;
	int p[2];

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	fstat(p[0], &ps);
	close(p[0]);
	close(p[1]);
	for (int i = 0; i < 3; i++) {
		st[i] = (struct stream){ .own = i, .child = -1, .relay = -1 };
		if (i == 0 && !interactive) {
			/* an empty pipe, already at EOF: reads as /dev/null does */
			if (pipe2(p, O_CLOEXEC) < 0)
				return -errno;
			close(p[1]);
			st[i].child = p[0];
		} else if (is_anon_pipe(i, ps.st_dev)) {
			st[i].child = fcntl(i, F_DUPFD_CLOEXEC, 3);
			if (st[i].child < 0)
				return -errno;
		} else {
			if (pipe2(p, O_CLOEXEC) < 0)
				return -errno;
			st[i].child = i == 0 ? p[0] : p[1];
			st[i].relay = i == 0 ? p[1] : p[0];
			st[i].open = true;
			fcntl(st[i].relay, F_SETFL, O_NONBLOCK);
		}
		fds[i] = st[i].child;
	}
	return 0;
}

static void streams_close(struct stream *st)
{
	for (int i = 0; i < 3; i++) {
		if (st[i].child >= 0)
			close(st[i].child);
		if (st[i].relay >= 0)
			close(st[i].relay);
		st[i].child = st[i].relay = -1;
	}
}

/* Move what is there from one output pipe to berth's fd; false when the
 * pipe is done (EOF) or berth's fd cannot take more (EPIPE: our end goes,
 * so the process gets EPIPE too). */
static bool relay_out(struct stream *s)
{
	char buf[RELAY_BUF];

	for (;;) {
		ssize_t n = read(s->relay, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return true;
		if (n <= 0 || write_out(s->own, buf, (size_t)n) < 0) {
			close(s->relay);
			s->relay = -1;
			s->open = false;
			return false;
		}
	}
}

/* berth's stdin into the process's, through a buffer: berth reads its
 * stdin only when the last read has gone into the pipe, so a process that
 * does not read its stdin never stops the relay of its output. */
struct inbuf {
	char buf[RELAY_BUF];
	size_t len, off;
	bool eof;                   /* berth's stdin ended: close once written */
};

static void in_close(struct stream *s)
{
	close(s->relay);
	s->relay = -1;
	s->open = false;
}

static void in_flush(struct stream *s, struct inbuf *b)
{
	while (b->len) {
		ssize_t w = write(s->relay, b->buf + b->off, b->len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			return;
		if (w < 0) {
			in_close(s);   /* EPIPE: the process closed its stdin */
			return;
		}
		b->off += (size_t)w;
		b->len -= (size_t)w;
	}
	if (b->eof)
		in_close(s);   /* the process sees EOF */
}

static void in_read(struct stream *s, struct inbuf *b)
{
	ssize_t n;

	do
		n = read(0, b->buf, sizeof(b->buf));
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN)
		return;
	if (n > 0) {
		b->len = (size_t)n;
		b->off = 0;
	} else {
		b->eof = true;
	}
	in_flush(s, b);
}

static int exec_plain_run(const struct exec_args *a, const struct shimc_exec *x, int sock,
			  const char *id, int sigfd)
{
	cleanup_berr struct berr *err = NULL;
	cleanup_free struct inbuf *in = xzalloc(sizeof(*in));
	struct stream st[3];
	int fds[3], code = 0, r;
	bool ended = false, got = false;

	if ((r = streams_setup(a->interactive, st, fds)) < 0) {
		log_error("exec: pipes for the process's stdio: %s", strerror(-r));
		streams_close(st);
		return CLI_EXIT_ERROR;
	}
	r = shimc_send_exec(sock, x, fds, &err);
	/* in flight, the shim holds its own references */
	for (int i = 0; i < 3; i++) {
		close(st[i].child);
		st[i].child = -1;
	}
	if (r < 0) {
		log_error("exec: task %.12s: %s", id, berr_msg(err));
		streams_close(st);
		return CLI_EXIT_ERROR;
	}
	if ((r = wait_started(sock, id, &ended, &code))) {
		streams_close(st);
		return r;
	}
	while (!ended) {
		struct pollfd p[5];
		int np = 0, at[5];

		p[np] = (struct pollfd){ .fd = sock, .events = POLLIN };
		at[np++] = -1;
		p[np] = (struct pollfd){ .fd = sigfd, .events = POLLIN };
		at[np++] = -1;
		for (int i = 0; i < 3; i++) {
			if (!st[i].open)
				continue;
			if (i == 0 && in->len)
				p[np] = (struct pollfd){ .fd = st[0].relay, .events = POLLOUT };
			else
				p[np] = (struct pollfd){ .fd = i == 0 ? 0 : st[i].relay, .events = POLLIN };
			at[np++] = i;
		}
		if (poll(p, (nfds_t)np, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_error("exec: poll: %m");
			streams_close(st);
			return CLI_EXIT_ERROR;
		}
		/* signals first: one that came with the process's end still
		 * goes (the shim ignores it then) */
		if (p[1].revents & POLLIN)
			signals_forward(sigfd, sock, -1);
		for (int k = 2; k < np; k++) {
			if (!p[k].revents)
				continue;
			if (at[k] == 0 && in->len)
				in_flush(&st[0], in);
			else if (at[k] == 0)
				in_read(&st[0], in);
			else
				(void)relay_out(&st[at[k]]);
		}
		if (p[0].revents) {
			code = wait_exit(sock, id, 0, &got);
			if (code == -ETIMEDOUT)
				continue;
			if (!got) {
				streams_close(st);
				return code;
			}
			ended = true;
		}
	}
	/* the last output: to EOF, or a moment without any (something the
	 * process left running in the container may hold the pipe) */
	for (int i = 1; i < 3; i++) {
		while (st[i].open) {
			struct pollfd q = { .fd = st[i].relay, .events = POLLIN };

			if (poll(&q, 1, DRAIN_IDLE_MS) <= 0 || !relay_out(&st[i]))
				break;
		}
	}
	streams_close(st);
	return code;
}

static int exec_plain(const struct exec_args *a, const struct shimc_exec *x, int sock, const char *id)
{
	sigset_t old;
	int sigfd, r;

	/* from before the request: a signal that comes while the process
	 * starts is forwarded once it runs */
	if ((sigfd = signals_take(0, &old)) < 0)
		return CLI_EXIT_ERROR;
	r = exec_plain_run(a, x, sock, id, sigfd);
	signals_release(sigfd, &old);
	return r;
}

/* The relay of a tty exec (exec-started received). */
struct relay {
	int sock, master, sigfd;
	bool in_open;               /* stdin still read */
	bool master_open;           /* some slave is open (no EIO/HUP yet) */
	bool send_eof;              /* stdin ended: send VEOF to the pty */
	char pend[RELAY_BUF];       /* stdin bytes not yet in the pty */
	size_t pend_len, pend_off;
};

/* Master -> stdout until nothing is there (EAGAIN) or no slave is open. */
static int pump_master(struct relay *R)
{
	char buf[RELAY_BUF];

	for (;;) {
		ssize_t n = read(R->master, buf, sizeof(buf));

		if (n > 0) {
			if (write_out(1, buf, (size_t)n) < 0)
				return -errno;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		/* EIO (or 0): every slave is closed */
		R->master_open = false;
		return 0;
	}
}

static void pump_stdin(struct relay *R)
{
	ssize_t n;

	if (R->pend_len)
		return;
	n = read(0, R->pend, sizeof(R->pend));
	if (n > 0) {
		R->pend_len = (size_t)n;
		R->pend_off = 0;
	} else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
		R->in_open = false;
		R->send_eof = true;
	}
}

static void flush_pending(struct relay *R)
{
	if (!R->pend_len && R->send_eof) {
		struct termios t;

		/* a pty has no half-close: its EOF character ends the input of a
		 * canonical-mode reader, as typing it would */
		R->pend[0] = tcgetattr(R->master, &t) == 0 && t.c_cc[VEOF] ? (char)t.c_cc[VEOF] : 4;
		R->pend_len = 1;
		R->pend_off = 0;
		R->send_eof = false;
	}
	while (R->pend_len) {
		ssize_t w = write(R->master, R->pend + R->pend_off, R->pend_len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			if (errno != EAGAIN)
				R->pend_len = 0;   /* EIO: nobody reads any more */
			return;
		}
		R->pend_off += (size_t)w;
		R->pend_len -= (size_t)w;
	}
}

/* The relay loop: returns the exit code. */
static int relay_loop(struct relay *R, const char *id)
{
	for (;;) {
		struct pollfd p[4];
		int np = 0, i_sock, i_master = -1, i_in = -1, i_sig;

		p[np] = (struct pollfd){ .fd = R->sock, .events = POLLIN };
		i_sock = np++;
		p[np] = (struct pollfd){ .fd = R->sigfd, .events = POLLIN };
		i_sig = np++;
		if (R->master_open) {
			p[np] = (struct pollfd){ .fd = R->master,
						 .events = POLLIN | (R->pend_len ? POLLOUT : 0) };
			i_master = np++;
		}
		if (R->in_open && !R->pend_len) {
			p[np] = (struct pollfd){ .fd = 0, .events = POLLIN };
			i_in = np++;
		}
		if (poll(p, (nfds_t)np, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_error("exec: poll: %m");
			return CLI_EXIT_ERROR;
		}
		if (p[i_sig].revents & POLLIN)
			signals_forward(R->sigfd, R->sock, R->master);
		if (i_master >= 0 && p[i_master].revents) {
			/* EPIPE, EIO (berth's terminal hung up: the process got
			 * the SIGHUP): its output is dropped, its end awaited */
			if (p[i_master].revents & (POLLIN | POLLHUP | POLLERR))
				if (pump_master(R) < 0 && errno != EPIPE && errno != EIO) {
					log_error("exec: write to stdout: %m");
					return CLI_EXIT_ERROR;
				}
			if (p[i_master].revents & POLLOUT)
				flush_pending(R);
		}
		if (i_in >= 0 && (p[i_in].revents & (POLLIN | POLLHUP | POLLERR))) {
			pump_stdin(R);
			flush_pending(R);
		}
		if (p[i_sock].revents) {
			bool got = false;
			int code = wait_exit(R->sock, id, 0, &got);

			if (code == -ETIMEDOUT)
				continue;   /* a snapshot, or nothing */
			if (!got)
				return code;
			/* the last output: until every slave is closed, or a
			 * moment without any (a background process holds one) */
			while (R->master_open) {
				struct pollfd q = { .fd = R->master, .events = POLLIN };

				if (poll(&q, 1, DRAIN_IDLE_MS) <= 0)
					break;
				if (pump_master(R) < 0)
					break;
			}
			return code;
		}
	}
}

static int exec_tty(const struct exec_args *a, const struct shimc_exec *x, int sock, const char *id)
{
	cleanup_berr struct berr *err = NULL;
	cleanup_close int master = -1, slave = -1;
	struct relay *R = NULL;
	sigset_t old;
	int fds[3], code = 0, r, sigfd;
	bool ended = false;

	if ((r = open_pty(&master, &slave)) < 0) {
		log_error("exec: open a pty: %s", strerror(-r));
		return CLI_EXIT_ERROR;
	}
	copy_winsize(master);
	/* signals through a signalfd, blocked from now on (forwarded once
	 * the process runs; raw mode is undone on every way out) */
	if ((sigfd = signals_take(SIGWINCH, &old)) < 0)
		return CLI_EXIT_ERROR;
	fds[0] = slave;
	fds[1] = fds[2] = -1;
	if (shimc_send_exec(sock, x, fds, &err) < 0) {
		log_error("exec: task %.12s: %s", id, berr_msg(err));
		r = CLI_EXIT_ERROR;
		goto out;
	}
	if ((r = wait_started(sock, id, &ended, &code)))
		goto out;
	/* the process has the slave now: ours must go, so that the master
	 * sees EIO once every holder has closed it */
	close(slave);
	slave = -1;
	if (a->interactive && isatty(0) && raw_enter() < 0)
		log_warn("exec: cannot put the terminal in raw mode: %m");
	R = xzalloc(sizeof(*R));
	R->sock = sock;
	R->master = master;
	R->sigfd = sigfd;
	R->master_open = true;
	R->in_open = a->interactive;
	if (ended) {
		/* it ended before we got to read: its output is in the pty */
		while (R->master_open) {
			struct pollfd q = { .fd = master, .events = POLLIN };

			if (poll(&q, 1, DRAIN_IDLE_MS) <= 0 || pump_master(R) < 0)
				break;
		}
		r = code;
	} else {
		r = relay_loop(R, id);
	}
out:
	raw_restore();
	free(R);
	signals_release(sigfd, &old);
	return r;
}

int cli_exec(int argc, char **argv)
{
	struct exec_args a = { 0 };
	cleanup_berr struct berr *err = NULL;
	cleanup_free char *bundle = NULL;
	cleanup_close int sock = -1;
	struct shimc_exec x = { 0 };
	char id[33];
	int r;

	a.run_dir = getenv("BERTH_RUN_DIR");
	if (!a.run_dir || !*a.run_dir)
		a.run_dir = RUN_DIR_DEFAULT;
	r = parse_args(argc, argv, &a);
	if (r) {
		strv_free(a.env);
		return r < 0 ? 0 : r;
	}
	if ((r = find_task(&a, id)))
		goto out;
	bundle = xasprintf("%s/%s", a.run_dir, id);
	sock = shimc_connect(bundle, &err);
	if (sock < 0) {
		if (sock == -ENOENT || sock == -ECONNREFUSED)
			log_error("exec: task %s is not running on this host: no shim answers on %s/%s "
				  "(is the run directory right? --run-dir, $BERTH_RUN_DIR)", id, bundle,
				  SHIM_SOCKET_FILE);
		else
			log_error("exec: task %s: %s", id, berr_msg(err));
		r = CLI_EXIT_ERROR;
		goto out;
	}
	signal(SIGPIPE, SIG_IGN);
	x.container = a.container;
	x.argv = a.cmd;
	x.env = (const char *const *)a.env;
	x.user = a.user;
	x.workdir = a.workdir;
	x.tty = a.tty;
	r = a.tty ? exec_tty(&a, &x, sock, id) : exec_plain(&a, &x, sock, id);
out:
	strv_free(a.env);
	return r;
}
