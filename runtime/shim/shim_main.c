/* runtime/shim/shim_main.c - berth-shim BUNDLE: run one task, detached from
 * berthd (shim.h has the bundle, the protocol and the life cycle). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/json.h"
#include "common/log.h"
#include "common/memtrim.h"
#include "common/xalloc.h"
#include "runtime/container/launch.h"
#include "runtime/creds/secrets.h"
#include "runtime/shim/shim.h"
#include "runtime/shim/taskmeta.h"
#include "runtime/shim/taskrun.h"
#include "runtime/task/task.h"

struct shim {
	char *bundle;                  /* absolute */
	char *status_path, *sock_path, *pid_path;
	const char *task_id;           /* for records before the config is read */
	struct shim_config cfg;
	struct task_def *td;
	struct shim_server srv;
	bool srv_up;
	int ready_fd;                  /* write end of the pipe to the first process */
	enum trun_status last;         /* the status last published */
	pid_t host_pid;                /* the detached shim's pid as /proc has it */
	bool made_sock, made_pid;      /* shim.sock / shim.pid are this shim's */
	int pidns_errno;               /* why it has no pid namespace of its own, or 0 */
	char *init_fd_warning;         /* why --init-fd's memfd was not used (logged once
					* shim.log is open), or NULL */
	struct shim_meta *meta;        /* the task endpoint (config "endpoint"), or NULL */
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: berth-shim [--init-fd N] [--secrets-fd N] BUNDLE\n"
		"\n"
		"Run the task described by BUNDLE/config.json, detached: the first process\n"
		"exits once the shim is ready (0), or prints why it is not and exits 1.\n"
		"Started by berthd; BUNDLE is <runDir>/<taskId>. The task's state is served\n"
		"on BUNDLE/shim.sock and kept in BUNDLE/status.json (see runtime/shim/shim.h).\n"
		"\n"
		"  --init-fd N  fd N is a sealed memfd of berth-init (berthd shares its own\n"
		"               with every shim); without it, or when it is not this build's,\n"
		"               the shim makes its own copy\n"
		"  --secrets-fd N  fd N holds the values of the task's secrets (a sealed\n"
		"               memfd from berthd): read once, then closed; a task with\n"
		"               secrets does not start without it\n");
}

/* The task never ran: say so in status.json (unless the bundle has a
 * record already) and on stderr. */
static int fail(struct shim *s, bool record, const char *msg)
{
	if (record) {
		cleanup_json json_t *snap = shim_failed_snapshot(s->task_id, s->td, msg, getpid());
		cleanup_berr struct berr *err = NULL;

		if (bjson_write_file_atomic(s->status_path, snap, 0600, &err) < 0)
			log_error("%s", berr_msg(err));
	}
	/* read by shimc_spawn: the message itself, one line */
	fprintf(stderr, "%s\n", msg);
	return 1;
}

/* In the detached process: a failure before "ready" goes to the first
 * process, which prints it. record: into status.json too (not when the
 * bundle belongs to another shim). */
static int fail_detached(struct shim *s, bool record, const char *msg)
{
	if (record) {
		cleanup_json json_t *snap = shim_failed_snapshot(s->task_id, s->td, msg, s->host_pid);
		cleanup_berr struct berr *err = NULL;

		if (bjson_write_file_atomic(s->status_path, snap, 0600, &err) < 0)
			log_error("%s", berr_msg(err));
	}
	if (s->made_sock)
		unlink(s->sock_path);
	if (s->made_pid)
		unlink(s->pid_path);
	if (s->ready_fd >= 0) {
		(void)fs_write_all(s->ready_fd, msg, strlen(msg));
		close(s->ready_fd);
		s->ready_fd = -1;
	}
	return 1;
}

/* The first process: wait for "ready" (a single NUL byte) or a message. */
static int wait_ready(int fd)
{
	char buf[4096];
	size_t len = 0;
	ssize_t r;

	while (len < sizeof(buf) - 1) {
		r = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	if (len == 1 && buf[0] == '\0')
		return 0;
	buf[len] = '\0';
	fprintf(stderr, "%s\n", len ? buf : "the shim exited before it was ready");
	return 1;
}

/* The static berth-init embedded in the binary (runtime/init/init_blob.S):
 * copied once into a sealed memfd (runtime/container/sealed.c), then
 * never read again. */
extern const unsigned char berth_init_blob[];
extern const unsigned char berth_init_blob_end[];

/* taskrun's on_quiet: once the task runs and nothing has happened for a
 * second (then at most once a minute, after more work), hand back what
 * set-up and that work needed and idling does not:
 * the ~850 KiB of the embedded berth-init that copying it into the memfd
 * faulted in, the rest of the text and read-only data that set-up ran
 * (file pages: they stay in the page cache, shared by every shim; only
 * this process's mappings of them go, and idling faults back the few it
 * runs), the stack set-up used, and freed heap (common/memtrim.h). */
static MEMTRIM_IDLE_PATH void shed_setup_memory(void *arg)
{
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t a = ((uintptr_t)berth_init_blob + page - 1) & ~(page - 1);
	uintptr_t b = (uintptr_t)berth_init_blob_end & ~(page - 1);
	bool debug = blog_enabled(BLOG_DEBUG); /* asked before the text goes */
	struct memtrim_stats st;

	(void)arg;
	if (b > a)
		(void)madvise((void *)a, b - a, MADV_DONTNEED);
	if (memtrim_idle(&st) < 0)
		malloc_trim(0);
	else if (debug)
		blog(BLOG_DEBUG, "idle: dropped %zu KiB of file mappings, %zu KiB of stack (%u left)",
		     st.file_bytes / 1024, st.stack_bytes / 1024, st.skipped);
}

/* taskrun's on_state: publish, and log the transitions. */
static void on_state(void *arg, const struct trun_state *st)
{
	struct shim *s = arg;
	struct trun_state hs = *st;
	cleanup_free struct trun_container_state *cs = NULL;

	/* container pids as the host (berthd, berth exec) numbers them */
	if (st->n_containers) {
		cs = xmemdup(st->containers, st->n_containers * sizeof(*cs));
		for (size_t i = 0; i < st->n_containers; i++)
			if (cs[i].pidfd >= 0)
				cs[i].pid = shim_pidfd_pid(cs[i].pidfd);
		hs.containers = cs;
	}
	shim_server_on_state(&s->srv, &hs);
	if (s->meta) {
		cleanup_json json_t *snap = shim_snapshot(&hs, s->srv.seq, s->host_pid);

		shim_meta_on_state(s->meta, json_object_get(snap, "task"));
	}
	if (st->status != s->last || s->srv.seq == 1)
		log_info("task %s: seq %" PRIu64 " %s (desired %s)", st->task_id, s->srv.seq,
			 trun_status_name(st->status), st->desired_stopped ? "STOPPED" : "RUNNING");
	s->last = st->status;
}

static void ignore_signal(int sig)
{
	(void)sig;
}

static int detach_and_run(struct shim *s)
{
	cleanup_berr struct berr *err = NULL;
	struct trun_result res;
	struct trun_opts o;
	int p[2], fd, lfd, r;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return fail(s, true, "pipe: cannot detach");
	/* The shim is pid 1 of a pid namespace of its own, and its containers'
	 * pid namespaces nest in it: when the shim dies (kill -9 included),
	 * the kernel kills every process of the task with it. Not with
	 * pidMode host, whose containers must see the host's pids. A raw
	 * clone, not unshare + fork: this first process keeps making its
	 * children (a sanitizer's helper) in its own pid namespace. */
	fflush(NULL);
	pid = -1;
	if (s->td->pid_mode != TASK_NS_HOST) {
		pid = (pid_t)syscall(SYS_clone, CLONE_NEWPID | SIGCHLD, 0, NULL, NULL, 0);
		if (pid < 0)
			s->pidns_errno = errno;
	} else {
		s->pidns_errno = -1;
	}
	if (pid < 0)
		pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return fail(s, true, "fork: cannot detach");
	}
	if (pid > 0) {
		close(p[1]);
		r = wait_ready(p[0]);
		close(p[0]);
		return r;
	}

	/* the shim proper: own session, nobody's child once the first
	 * process exits */
	close(p[0]);
	s->ready_fd = p[1];
	s->host_pid = shim_host_pid();
	{
		/* stop signals wait for taskrun's signalfd (a pid namespace's
		 * init gets only those it has a handler for: give them one) */
		struct sigaction sa = { .sa_handler = ignore_signal };
		sigset_t stops;

		sigemptyset(&stops);
		sigaddset(&stops, SIGTERM);
		sigaddset(&stops, SIGINT);
		sigaddset(&stops, SIGHUP);
		sigprocmask(SIG_BLOCK, &stops, NULL);
		sigemptyset(&sa.sa_mask);
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGHUP, &sa, NULL);
	}
	if (setsid() < 0)
		return fail_detached(s, true, "setsid failed");
	lfd = shim_listen(s->sock_path, &err);
	if (lfd < 0)
		return fail_detached(s, berr_rc(err) != -EADDRINUSE, berr_msg(err));
	s->made_sock = true;
	{
		char line[32];
		int n = snprintf(line, sizeof(line), "%d\n", (int)s->host_pid);

		if (fs_write_file_atomic(s->pid_path, line, (size_t)n, 0600, &err) < 0) {
			close(lfd);
			return fail_detached(s, true, berr_msg(err));
		}
		s->made_pid = true;
	}
	if (shim_server_init(&s->srv, lfd, s->status_path, s->host_pid, &err) < 0)
		return fail_detached(s, true, berr_msg(err));
	s->srv_up = true;
	/* stdio: /dev/null in, the log out; nothing of berthd's stays open */
	{
		cleanup_free char *log = xasprintf("%s/%s", s->bundle, SHIM_LOG_FILE);

		fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0600);
		if (fd < 0) {
			shim_server_close(&s->srv);
			return fail_detached(s, true, "open shim.log failed");
		}
		r = open("/dev/null", O_RDONLY | O_CLOEXEC | O_NOCTTY);
		if (r < 0 || dup2(r, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0) {
			shim_server_close(&s->srv);
			return fail_detached(s, true, "redirect stdio failed");
		}
		close(r);
		close(fd);
	}
	blog_set_timestamps(true);
	if (chdir("/") < 0)
		log_warn("chdir /: %m");
	if (s->init_fd_warning)
		log_warn("%s", s->init_fd_warning);
	if (s->pidns_errno > 0) {
		log_warn("no pid namespace for the shim (%s): its containers would outlive it",
			 strerror(s->pidns_errno));
	}
	if (fs_write_all(s->ready_fd, "", 1) < 0) {
		/* the first process is gone (its spawner gave up on it and
		 * reported a failure): do not run a task nobody waits for */
		close(s->ready_fd);
		s->ready_fd = -1;
		shim_server_close(&s->srv);
		return fail_detached(s, true, "abandoned: the process that started the shim is gone");
	}
	close(s->ready_fd);
	s->ready_fd = -1;
	log_info("task %s: shim %d ready%s", s->cfg.task_id, (int)s->host_pid,
		 getpid() == 1 ? " (pid 1 of its own pid namespace)" : "");

	trun_opts_init(&o);
	shim_config_opts(&s->cfg, s->bundle, &o);
	o.on_state = on_state;
	o.on_quiet = shed_setup_memory;
	o.state_arg = s;
	o.ctl_fd = s->srv.epfd;
	o.on_ctl = shim_server_on_ctl;
	o.ctl_arg = &s->srv;
	o.on_attach = shim_server_on_attach;
	o.attach_arg = &s->srv;
	r = 0;
	if (s->cfg.endpoint) {
		/* the task endpoint: credentials, metadata, their environment */
		r = shim_meta_new(s->cfg.endpoint, s->td, &s->meta, &err);
		if (r < 0) {
			berr_wrap(&err, "task endpoint");
		} else {
			shim_meta_set_epfd(s->meta, s->srv.epfd);
			s->srv.on_fd = shim_meta_on_fd;
			s->srv.fd_arg = s->meta;
			o.container_env = shim_meta_container_env(s->meta);
			o.on_netns = shim_meta_on_netns;
			o.netns_arg = s->meta;
		}
	}
	if (r < 0 || trun_run(s->td, &o, &res, &err) < 0) {
		log_error("task %s: %s", s->cfg.task_id, berr_msg(err));
		if (s->srv.seq == 0) {
			/* it failed before its first state: record that */
			cleanup_json json_t *snap = shim_failed_snapshot(s->task_id, s->td, berr_msg(err),
									 s->host_pid);
			cleanup_berr struct berr *perr = NULL;

			if (shim_server_publish_json(&s->srv, snap, &perr) < 0)
				log_error("%s", berr_msg(perr));
		}
	} else {
		log_info("task %s stopped (%s): %s", s->cfg.task_id, res.stop_code ? res.stop_code : "-",
			 res.stopped_reason ? res.stopped_reason : "");
	}
	trun_result_free(&res);
	s->srv.on_fd = NULL;
	shim_meta_free(s->meta);
	s->meta = NULL;
	/* the final snapshot is in status.json and on every connection */
	shim_server_close(&s->srv);
	unlink(s->sock_path);
	unlink(s->pid_path);
	return 0;
}

int main(int argc, char **argv)
{
	struct shim s = { .ready_fd = -1, .last = TRUN_STOPPED };
	cleanup_berr struct berr *err = NULL;
	cleanup_free char *cfg_path = NULL, *buf = NULL, *base = NULL;
	char real[PATH_MAX];
	struct stat st;
	size_t len = 0;
	int r, init_fd = -1, secrets_fd = -1, max_fd;

	blog_init("berth-shim");
	if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		usage(stdout);
		return 0;
	}
	while (argc >= 4 && (!strcmp(argv[1], "--init-fd") || !strcmp(argv[1], "--secrets-fd"))) {
		int *target = !strcmp(argv[1], "--init-fd") ? &init_fd : &secrets_fd;
		char *end;
		long v;

		errno = 0;
		v = strtol(argv[2], &end, 10);
		if (errno || *end || end == argv[2] || v < 3 || v > 1024 || *target >= 0 ||
		    v == init_fd || v == secrets_fd) {
			log_error("%s: \"%s\" is not an fd number from 3 to 1024 (each option once, "
				  "each fd once)", argv[1], berr_q(argv[2]));
			return 2;
		}
		*target = (int)v;
		argv += 2;
		argc -= 2;
	}
	/* nothing of the caller's but stdio (and the init and secrets memfds) */
	max_fd = init_fd > secrets_fd ? init_fd : secrets_fd;
	for (int fd = 3; fd < max_fd; fd++)
		if (fd != init_fd && fd != secrets_fd)
			(void)close(fd);
	(void)fs_close_range_from(max_fd >= 3 ? max_fd + 1 : 3);
	signal(SIGPIPE, SIG_IGN);
	if (argc != 2 || argv[1][0] == '-') {
		usage(stderr);
		if (secrets_fd >= 0)
			close(secrets_fd);
		return 2;
	}
	if (init_fd >= 0) {
		/* shared: the tasks of a host map one berth-init, not a copy each */
		if (ctr_init_fd_adopt(init_fd, &err) < 0) {
			s.init_fd_warning = xasprintf("%s: using a copy of its own", berr_msg(err));
			berr_clear(&err);
			close(init_fd);
		}
	}
	if (!realpath(argv[1], real) || stat(real, &st) < 0) {
		log_error("bundle %s: %m", argv[1]);
		return 1;
	}
	if (!S_ISDIR(st.st_mode)) {
		log_error("bundle %s: not a directory", argv[1]);
		return 1;
	}
	s.bundle = real;
	base = xstrdup(strrchr(real, '/') + 1);
	s.task_id = base;
	s.status_path = xasprintf("%s/%s", real, SHIM_STATUS_FILE);
	s.sock_path = xasprintf("%s/%s", real, SHIM_SOCKET_FILE);
	s.pid_path = xasprintf("%s/%s", real, SHIM_PID_FILE);
	cfg_path = xasprintf("%s/%s", real, SHIM_CONFIG_FILE);
	shim_config_init(&s.cfg);

	/* a bundle is used once (a second shim must not run the task again) */
	if (access(s.status_path, F_OK) == 0) {
		r = fail(&s, false, "bundle used already: status.json exists");
		goto out;
	}
	if (fs_read_file(cfg_path, &buf, &len, SHIM_CONFIG_MAX, &err) < 0 ||
	    shim_config_parse(SHIM_CONFIG_FILE, buf, len, &s.cfg, &err) < 0) {
		r = fail(&s, true, berr_msg(err));
		goto out;
	}
	blog_set_level((enum blog_level)s.cfg.log_level);
	if (strcmp(base, s.cfg.task_id)) {
		char *m = xasprintf("config.json: taskId: %s is not the bundle's name (%s)", s.cfg.task_id,
				    berr_q(base));

		r = fail(&s, true, m);
		free(m);
		goto out;
	}
	{
		/* runDir must be the bundle's parent (same directory, not same string) */
		struct stat a, b;
		cleanup_free char *parent = xstrndup(real, (size_t)(strrchr(real, '/') - real));

		if (stat(s.cfg.run_dir, &a) < 0 || stat(*parent ? parent : "/", &b) < 0 ||
		    a.st_dev != b.st_dev || a.st_ino != b.st_ino) {
			char *m = xasprintf("config.json: runDir: %s is not the bundle's directory %s",
					    s.cfg.run_dir, *parent ? parent : "/");

			r = fail(&s, true, m);
			free(m);
			goto out;
		}
	}
	if (shim_config_task(&s.cfg, SHIM_CONFIG_FILE, &s.td, &err) < 0) {
		r = fail(&s, true, berr_msg(err));
		goto out;
	}
	if (secrets_fd >= 0) {
		/* the values, into the containers' definitions (taskrun puts them
		 * in their environments); the memfd goes at once */
		r = secret_payload_apply_fd(s.td, secrets_fd, &err);
		close(secrets_fd);
		secrets_fd = -1;
		if (r < 0) {
			r = fail(&s, true, berr_msg(err));
			goto out;
		}
	}
	for (size_t i = 0; i < s.td->n_warnings; i++)
		log_warn("%s", s.td->warnings[i]);
	free(buf);
	buf = NULL;
	r = detach_and_run(&s);
out:
	if (secrets_fd >= 0)
		close(secrets_fd);
	if (s.srv_up)
		shim_server_close(&s.srv);
	task_def_free(s.td);
	shim_config_free(&s.cfg);
	free(s.status_path);
	free(s.sock_path);
	free(s.pid_path);
	free(s.init_fd_warning);
	return r;
}
