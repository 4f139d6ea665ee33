/* tests/images/helper/cmd-basic.c - sleep, exit, echo, cat, write, signals,
 * ps, kill. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helper.h"

int cmd_sleep(int argc, char **argv)
{
	long long ms;
	int64_t start = now_ms();

	if (argc != 2 || !parse_seconds_ms(argv[1], true, &ms))
		husage("usage: sleep SECONDS (a non-negative number or 'inf')");
	if (ms < 0) {
		for (;;)
			pause();
	}
	sleep_ms(ms);
	emit_int("slept_ms", now_ms() - start);
	return 0;
}

int cmd_exit(int argc, char **argv)
{
	long long code;

	if (argc != 2 || !parse_ll(argv[1], 0, 255, &code))
		husage("usage: exit N (0-255)");
	return (int)code;
}

int cmd_echo(int argc, char **argv)
{
	struct jw w = { 0 };

	jw_obj_begin(&w);
	jw_key(&w, "argv");
	jw_arr_begin(&w);
	for (int i = 1; i < argc; i++)
		jw_str(&w, argv[i]);
	jw_arr_end(&w);
	jw_obj_end(&w);
	jw_emit(&w);
	jw_free(&w);
	return 0;
}

int cmd_cat(int argc, char **argv)
{
	bool json = false;
	const char *path = NULL;
	char buf[65536];
	int fd;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = true;
		else if (!path)
			path = argv[i];
		else
			husage("usage: cat [--json] FILE");
	}
	if (!path)
		husage("usage: cat [--json] FILE");

	if (json) {
		struct jw w = { 0 };
		size_t len;
		char *text = read_file(path, 64 << 20, &len);
		int err = errno;

		jw_obj_begin(&w);
		jw_kstr(&w, "path", path);
		if (text) {
			jw_key(&w, "content");
			jw_strn(&w, text, len);
		} else {
			jw_kerrno(&w, "errno", err);
		}
		jw_obj_end(&w);
		jw_emit(&w);
		jw_free(&w);
		free(text);
		if (!text)
			hdiag("read %s: %s", path, strerror(err));
		return text ? 0 : 1;
	}

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		hdiag("open %s: %m", path);
		return 1;
	}
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			hdiag("read %s: %m", path);
			close(fd);
			return 1;
		}
		if (n == 0)
			break;
		if (!write_all(STDOUT_FILENO, buf, (size_t)n)) {
			hdiag("write stdout: %m");
			close(fd);
			return 1;
		}
	}
	close(fd);
	return 0;
}

int cmd_write(int argc, char **argv)
{
	struct jw w = { 0 };
	bool append = false;
	const char *path = NULL, *text = NULL;
	int fd, err = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--append"))
			append = true;
		else if (!path)
			path = argv[i];
		else if (!text)
			text = argv[i];
		else
			husage("usage: write [--append] FILE TEXT");
	}
	if (!path || !text)
		husage("usage: write [--append] FILE TEXT");

	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC), 0644);
	if (fd < 0 || !write_all(fd, text, strlen(text)))
		err = errno;
	if (fd >= 0 && close(fd) < 0 && !err)
		err = errno;

	jw_obj_begin(&w);
	jw_kstr(&w, "path", path);
	jw_kint(&w, "written", err ? 0 : (long long)strlen(text));
	jw_kerrno(&w, "errno", err);
	jw_obj_end(&w);
	jw_emit(&w);
	jw_free(&w);
	if (err)
		hdiag("write %s: %s", path, strerror(err));
	return err ? 1 : 0;
}

/* "TERM,USR1" -> set; exits on unknown names. */
static void parse_signal_list(const char *list, sigset_t *set)
{
	char *copy = xstrdup(list), *save = NULL;

	sigemptyset(set);
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int sig = parse_signal(tok);

		if (sig < 0)
			husage("unknown signal '%s'", tok);
		if (sig == SIGKILL || sig == SIGSTOP)
			husage("%s cannot be caught", tok);
		sigaddset(set, sig);
	}
	free(copy);
}

static void noop_handler(int sig)
{
	(void)sig;
}

int cmd_signals(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "exit-on", required_argument, NULL, 'e' },
		{ "ignore", required_argument, NULL, 'i' },
		{ "exit-code", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	static const int watched_default[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };
	sigset_t exit_on, ignore, watch;
	long long code = 0;
	struct jw w = { 0 };
	int c;

	sigemptyset(&exit_on);
	sigaddset(&exit_on, SIGTERM);
	sigaddset(&exit_on, SIGINT);
	sigemptyset(&ignore);
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'e':
			parse_signal_list(optarg, &exit_on);
			break;
		case 'i':
			parse_signal_list(optarg, &ignore);
			break;
		case 'c':
			if (!parse_ll(optarg, 0, 255, &code))
				husage("--exit-code wants 0-255");
			break;
		default:
			husage("bad option");
		}
	}
	if (optind != argc)
		husage("signals takes no positional arguments");

	sigemptyset(&watch);
	for (size_t i = 0; i < sizeof(watched_default) / sizeof(watched_default[0]); i++)
		sigaddset(&watch, watched_default[i]);
	for (int sig = 1; sig < NSIG; sig++) {
		struct sigaction sa = { .sa_handler = noop_handler };

		if (sigismember(&exit_on, sig) == 1)
			sigaddset(&watch, sig);
		if (sigismember(&ignore, sig) == 1) {
			if (sigismember(&exit_on, sig) == 1)
				husage("a signal cannot be both ignored and exit-on");
			sigdelset(&watch, sig);
			sa.sa_handler = SIG_IGN;
			sigaction(sig, &sa, NULL);
			continue;
		}
		/* A handler, not just the block: the kernel drops default-action
		 * signals aimed at the init of a pid namespace, and a real app
		 * as PID 1 has handlers too. */
		if (sigismember(&watch, sig) == 1)
			sigaction(sig, &sa, NULL);
	}
	sigprocmask(SIG_BLOCK, &watch, NULL);

	jw_obj_begin(&w);
	jw_kbool(&w, "ready", true);
	jw_kint(&w, "pid", getpid());
	jw_obj_end(&w);
	jw_emit(&w);

	for (;;) {
		siginfo_t si;
		char name[32];
		int sig = sigwaitinfo(&watch, &si);

		if (sig < 0) {
			if (errno == EINTR)
				continue;
			hdiag("sigwaitinfo: %m");
			return 1;
		}
		jw_obj_begin(&w);
		jw_kstr(&w, "signal", signal_name(sig, name, sizeof(name)));
		/* 0 when the sender is outside our pid namespace */
		jw_kint(&w, "sender_pid", si.si_code == SI_USER || si.si_code == SI_QUEUE ? si.si_pid : 0);
		jw_obj_end(&w);
		jw_emit(&w);
		if (sigismember(&exit_on, sig) == 1) {
			jw_free(&w);
			return (int)code;
		}
	}
}

/* ps: one {"pid","ppid","state","uid","comm","cmdline"} line per process in
 * /proc (the pid namespace whose procfs is mounted there), in pid order as
 * /proc lists them. A process that goes away while it is read is skipped;
 * an unreadable cmdline is []. */
int cmd_ps(int argc, char **argv)
{
	DIR *d;
	struct dirent *de;
	int n = 0;

	if (argc != 1)
		husage("usage: ps");
	d = opendir("/proc");
	if (!d) {
		hdiag("open /proc: %m");
		return 1;
	}
	while ((de = readdir(d))) {
		char path[300], comm[64], state[32], uid[64], ppid[32];
		char *status, *cmdline;
		long long pid;
		size_t len = 0;
		struct jw w = { 0 };

		if (!parse_ll(de->d_name, 1, 1LL << 31, &pid))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/status", de->d_name);
		status = read_file(path, 1 << 16, NULL);
		if (!status)
			continue;
		if (!proc_status_field(status, "Name", comm, sizeof(comm)))
			comm[0] = '\0';
		if (!proc_status_field(status, "State", state, sizeof(state)))
			state[0] = '\0';
		state[strcspn(state, " ")] = '\0';
		if (!proc_status_field(status, "Uid", uid, sizeof(uid)))
			uid[0] = '\0';
		uid[strcspn(uid, " \t")] = '\0';
		if (!proc_status_field(status, "PPid", ppid, sizeof(ppid)))
			ppid[0] = '\0';
		free(status);
		snprintf(path, sizeof(path), "/proc/%s/cmdline", de->d_name);
		cmdline = read_file(path, 1 << 16, &len);

		jw_obj_begin(&w);
		jw_kint(&w, "pid", pid);
		jw_kint(&w, "ppid", atoll(ppid));
		jw_kstr(&w, "state", state);
		jw_kint(&w, "uid", atoll(uid));
		jw_kstr(&w, "comm", comm);
		jw_key(&w, "cmdline");
		jw_arr_begin(&w);
		for (size_t i = 0; cmdline && i < len; i += strlen(cmdline + i) + 1)
			jw_str(&w, cmdline + i);
		jw_arr_end(&w);
		jw_obj_end(&w);
		jw_emit(&w);
		jw_free(&w);
		free(cmdline);
		n++;
	}
	closedir(d);
	return n > 0 ? 0 : 1;
}

/* kill SIG PID: {"pid","signal","errno"}; exit 0 when the signal was sent. */
int cmd_kill(int argc, char **argv)
{
	struct jw w = { 0 };
	long long pid;
	char name[32];
	int sig, err = 0;

	if (argc != 3 || (sig = parse_signal(argv[1])) < 0 || !parse_ll(argv[2], -(1LL << 31), 1LL << 31, &pid))
		husage("usage: kill SIG PID");
	if (kill((pid_t)pid, sig) < 0)
		err = errno;
	jw_obj_begin(&w);
	jw_kint(&w, "pid", pid);
	jw_kstr(&w, "signal", signal_name(sig, name, sizeof(name)));
	jw_kerrno(&w, "errno", err);
	jw_obj_end(&w);
	jw_emit(&w);
	jw_free(&w);
	return err ? 1 : 0;
}
