/* runtime/shim/taskrun.c - set a task up, supervise it, tear it down.
 *
 * One process, one poll loop, no threads: the launcher forks with clone3
 * and temporarily moves this process's pid_for_children, which a second
 * thread would see. Every fd is O_CLOEXEC. Setup steps record what they
 * made in struct trun, and teardown undoes exactly that, so a failure at
 * any step and a normal end go through the same code. */
#include "runtime/shim/taskrun.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cgroups/cgroup.h"
#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/json.h"
#include "common/log.h"
#include "common/memtrim.h"
#include "common/xalloc.h"
#include "rootfs/ephemeral.h"
#include "rootfs/oci.h"
#include "rootfs/overlay.h"
#include "rootfs/registry.h"
#include "rootfs/store.h"
#include "runtime/container/launch.h"
#include "runtime/container/seccomp.h"
#include "runtime/container/spec.h"

#define OOM_REASON "OutOfMemoryError: Container killed due to memory usage"
#define LINE_MAX_BYTES 16384
#define HC_OUTPUT_MAX 4096
#define CG_REMOVE_TIMEOUT_MS 5000
/* the pid namespace holder's leaf: not a valid container name */
#define PAUSE_LEAF "~pause"

enum cstate {
	C_PENDING,      /* waiting for its dependencies */
	C_RUNNING,
	C_EXITED,       /* final */
	C_FAILED,       /* could not start: final */
	C_SKIPPED,      /* never started (the task stopped first): final */
};

enum health {
	H_UNKNOWN,
	H_HEALTHY,
	H_UNHEALTHY,
};

static const char *const health_names[] = { "UNKNOWN", "HEALTHY", "UNHEALTHY" };

struct linebuf {
	int fd;                 /* read end of the pipe, -1 when none */
	int wfd;                /* write end, handed to every (re)start */
	char buf[LINE_MAX_BYTES];
	size_t len;
};

struct tctr {
	size_t idx;
	const struct task_container *def;
	struct ctr_spec *spec;
	struct rootfs_image img;
	bool have_img;
	ssize_t pull_idx;       /* its image's pull (pull_images), -1: none */
	struct rootfs_digest pulled;   /* the manifest that pull recorded */
	struct oci_image_config cfg;
	bool have_cfg;
	char *dir;              /* <task dir>/c/<name> */
	char *rootfs;           /* <dir>/rootfs: the overlay */
	char *nested;           /* <dir>/lower: a nested lower overlay when needed */
	bool mounted;
	char *cg;               /* leaf cgroup path */
	int cg_fd;
	int events_fd;          /* memory.events, POLLPRI on change */
	uint64_t oom_seen;      /* oom_kill count at (re)start */
	uint64_t oom_reported;  /* last oom_kill count reported as it happened */
	const struct ctr_seccomp *seccomp;

	enum cstate st;
	struct ctr_proc proc;
	bool ever_started;
	int exit_code;
	char *reason;
	int64_t started_ms;
	struct linebuf out, err;
	int log_fd;
	int64_t log_size;          /* bytes in the current log file */

	/* health check */
	enum health health;
	int64_t hc_next_ms, hc_deadline_ms, hc_grace_end_ms;
	struct ctr_proc hc;
	bool hc_running;
	int hc_fails;
	int hc_pipe;            /* read end of the check's output */
	char hc_out[HC_OUTPUT_MAX];
	size_t hc_out_len;

	/* stop */
	bool stop_sent;
	int64_t kill_at_ms;
	bool kill_sent;
	int restarts;
};

/* A process started by trun_exec in a running container. */
struct texec {
	uint64_t id;
	struct tctr *c;
	struct ctr_proc proc;
	void (*on_exit)(void *arg, uint64_t id, int exit_code);
	void *arg;
};

/* The fields of a task's state whose change is worth a notice (a
 * container's reason changes only together with one of the others). */
struct pub_ctr {
	int st, health, exit_code, restarts;
	pid_t pid;
	bool reason;
};

struct pub_task {
	int status, health, exit_code;
	bool stopping, have_exit, ipv4;
};

struct trun {
	const struct task_def *td;
	const struct trun_opts *o;
	char id[64];
	char *dir;
	char *logdir;
	struct rootfs_store *store;
	bool leased;
	struct rootfs_ephemeral_config eph_cfg;
	struct rootfs_ephemeral *eph;
	char *eph_base;         /* eph_cfg.base_dir */
	char *tmpfs_dir;        /* TRUN_STORAGE_TMPFS mount point */
	const char *storage;    /* where upper/work dirs and task volumes live */
	char *cg_task;
	bool cpu_max_pending;   /* the task's cpu.max: written once its first container runs */
	int netns_fd, ipcns_fd, pidns_fd;
	struct ctr_proc pause;          /* pidMode task: the pid namespace holder (when pause_up) */
	bool pause_up;
	char *cg_pause;                 /* its leaf cgroup */
	enum task_network_mode net;
	struct netns_task_net tnet;     /* awsvpc/bridge: what netns_task_up did */
	bool tnet_up;
	char ipv4[16];
	struct netns_binding *bindings;
	size_t n_bindings;
	char *hosts, *resolv, *volumes;
	int init_fd;
	struct tctr *c;
	size_t n;
	int sfd;
	int interrupts;
	bool stopping;
	const char *stop_code;
	char *stopped_reason;
	bool have_exit;
	int exit_code;
	int64_t t0;
	/* on_quiet: due once nothing was ready since last_event_ms (ms) */
	bool quiet_due;
	int64_t last_event_ms, last_quiet_ms;

	/* berth exec: processes started in the containers, in start order */
	struct texec execs[TRUN_MAX_EXECS];
	size_t n_execs;
	uint64_t exec_seq;

	/* what a client sees (opts on_state): status, times, and what was
	 * last published, to tell a change */
	enum trun_status status;
	double ts_pull_start, ts_pull_stop, ts_connect, ts_started, ts_stopping,
	       ts_exec_stopped, ts_stopped;
	struct pub_ctr *pub;
	struct pub_task pub_task;
	bool published;
};

MEMTRIM_IDLE_PATH static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Epoch seconds, millisecond precision (as ECS reports times). */
static double epoch_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000) / 1000.0;
}

void trun_opts_init(struct trun_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->root = "/var/lib/berth";
	o->run_dir = "/run/berth/tasks";
	o->log_dir = "/var/log/berth/tasks";
	o->cgroup_root = CG_DEFAULT_MOUNT "/berth";
	o->storage = TRUN_STORAGE_LOOP;
	o->pids_max = 16384;
	o->out = stdout;
	o->err = stderr;
	o->stop_fd = -1;
	o->ctl_fd = -1;
	o->pull_policy = ROOTFS_PULL_IF_NOT_PRESENT;
	o->quiet_ms = TRUN_QUIET_MS;
	o->quiet_gap_ms = TRUN_QUIET_GAP_MS;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static int sys_pidfd_send_signal(int pidfd, int sig)
{
	return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}

/* ------------------------------------------------------------ output */

static void json_time(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, len - n, ".%09ldZ", ts.tv_nsec);
}

static void status(struct trun *t, const struct tctr *c, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Size-based rotation of a container's log (docs/logs.md): when the next
 * line would take the file past its max size, NAME.log becomes NAME.log.1
 * (.1 becomes .2, ... the oldest beyond max-file goes) and a new NAME.log
 * starts. Readers (berth logs -f) follow by name. */
static void log_rotate(struct trun *t, struct tctr *c, int64_t next)
{
	int64_t max = c->def->log_max_bytes > 0 ? c->def->log_max_bytes : TRUN_LOG_MAX_BYTES;
	int64_t files = c->def->log_max_files > 0 ? c->def->log_max_files : TRUN_LOG_MAX_FILES;
	char *base;

	if (c->log_size + next <= max || c->log_size == 0)
		return;
	base = xasprintf("%s/%s.log", t->logdir, c->def->name);
	for (int64_t i = files - 1; i >= 1; i--) {
		char *from = i == 1 ? xstrdup(base) : xasprintf("%s.%lld", base, (long long)(i - 1));
		char *to = xasprintf("%s.%lld", base, (long long)i);

		(void)rename(from, to);   /* a missing older file is fine */
		free(from);
		free(to);
	}
	if (files == 1)
		(void)unlink(base);
	close(c->log_fd);
	c->log_fd = open(base, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (c->log_fd < 0)
		status(t, c, "log file %s: %s (logging stops)", base, strerror(errno));
	c->log_size = 0;
	free(base);
}

static void emit_line(struct trun *t, struct tctr *c, bool is_err, const char *line, size_t len)
{
	if (!t->o->quiet) {
		FILE *f = is_err ? t->o->err : t->o->out;

		fprintf(f, "%s | %.*s\n", c->def->name, (int)len, line);
		fflush(f);
	}
	if (c->log_fd >= 0) {
		char ts[64];
		json_t *o;
		char *s;

		json_time(ts, sizeof(ts));
		o = json_pack("{s:s, s:s, s:s%}", "time", ts, "stream", is_err ? "stderr" : "stdout",
			      "log", line, len);
		s = o ? json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
		if (s) {
			size_t sl = strlen(s);

			s[sl] = '\n';
			log_rotate(t, c, (int64_t)sl + 1);
			if (c->log_fd >= 0 && fs_write_all(c->log_fd, s, sl + 1) == 0)
				c->log_size += (int64_t)sl + 1;
			s[sl] = '\0';
		}
		free(s);
		json_decref(o);
	}
}

/* Read what is there; emit whole lines; a full buffer goes out as one line. */
static void drain(struct trun *t, struct tctr *c, struct linebuf *lb, bool is_err, bool flush)
{
	for (;;) {
		ssize_t r;

		if (lb->len == sizeof(lb->buf)) {
			emit_line(t, c, is_err, lb->buf, lb->len);
			lb->len = 0;
		}
		r = read(lb->fd, lb->buf + lb->len, sizeof(lb->buf) - lb->len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		lb->len += (size_t)r;
		for (;;) {
			char *nl = memchr(lb->buf, '\n', lb->len);
			size_t n;

			if (!nl)
				break;
			n = (size_t)(nl - lb->buf);
			emit_line(t, c, is_err, lb->buf, n);
			memmove(lb->buf, nl + 1, lb->len - n - 1);
			lb->len -= n + 1;
		}
	}
	if (flush && lb->len) {
		emit_line(t, c, is_err, lb->buf, lb->len);
		lb->len = 0;
	}
}

static int linebuf_open(struct linebuf *lb, struct berr **err)
{
	int p[2];

	lb->len = 0;
	if (pipe2(p, O_CLOEXEC) < 0)
		return berr_set(err, errno, "pipe");
	lb->fd = p[0];
	lb->wfd = p[1];
	fcntl(lb->fd, F_SETFL, O_NONBLOCK);
	return 0;
}

/* Status lines: on stderr for people, like the container output. */
__attribute__((format(printf, 3, 4)))
static void status(struct trun *t, const struct tctr *c, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (c)
		log_info("%s: %s", c->def->name, msg);
	else
		log_info("task %.12s: %s", t->id, msg);
}

/* ------------------------------------------------------------- setup */

static int make_id(char *buf, size_t len, struct berr **err)
{
	unsigned char r[16];

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		return berr_set(err, errno ? errno : EIO, "getrandom");
	for (size_t i = 0; i < sizeof(r) && 2 * i + 2 < len; i++)
		snprintf(buf + 2 * i, 3, "%02x", r[i]);
	return 0;
}

/* A namespace of `type` for the task: create it by unshare() and step back,
 * keeping an fd. The caller stays where it was. */
static int task_ns(int type, const char *name, int *out, struct berr **err)
{
	char self[64], path[64];
	cleanup_close int orig = -1;
	int fd, r;

	snprintf(self, sizeof(self), "/proc/self/ns/%s", name);
	orig = open(self, O_RDONLY | O_CLOEXEC);
	if (orig < 0)
		return berr_set(err, errno, "open %s", self);
	if (unshare(type) < 0)
		return berr_set(err, errno, "unshare a %s namespace for the task", name);
	snprintf(path, sizeof(path), "/proc/self/ns/%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	r = errno;
	if (setns(orig, type) < 0) {
		/* cannot step back: this process is now in the task's namespace */
		if (fd >= 0)
			close(fd);
		return berr_set(err, errno, "setns back to the original %s namespace", name);
	}
	if (fd < 0)
		return berr_set(err, r, "open the task's %s namespace", name);
	*out = fd;
	return 0;
}

/* Bring up lo inside the netns fd (localhost between the task's containers). */
static int netns_lo_up(int nsfd, struct berr **err)
{
	cleanup_close int orig = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	struct ifreq ifr = { 0 };
	int s, r = 0;

	if (orig < 0)
		return berr_set(err, errno, "open /proc/self/ns/net");
	if (setns(nsfd, CLONE_NEWNET) < 0)
		return berr_set(err, errno, "setns into the task's netns");
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0) {
		r = berr_set(err, errno, "socket in the task's netns");
	} else {
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
		if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
			r = berr_set(err, errno, "netns: SIOCGIFFLAGS lo");
		else {
			ifr.ifr_flags |= IFF_UP;
			if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
				r = berr_set(err, errno, "netns: bring lo up");
		}
		close(s);
	}
	if (setns(orig, CLONE_NEWNET) < 0 && r == 0)
		r = berr_set(err, errno, "setns back to the original netns");
	return r;
}

/* ------------------------------------------------------------ image pulls */

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

#define PULL_LINE_MAX 65536     /* a longer stdout line of the child is skipped */
#define PULL_TAIL_MAX 4096      /* what is kept of its stderr */
#define PULL_REAP_MS 10000      /* after SIGKILL: the pipes close at once */

struct pull_child {
	struct trun_pull *p;
	pid_t pid;
	int pidfd, out_fd, err_fd;
	bool exited, killed, have_result, have_error;
	bool cancelled;                 /* killed for another's failure or a stop */
	siginfo_t si;
	const char *kill_why;           /* static: why it was killed, or NULL */
	char *line;                     /* stdout: the line being read */
	size_t line_len;
	bool line_skip;
	char tail[PULL_TAIL_MAX + 1];   /* stderr: its last bytes */
	size_t tail_len;
	int64_t t0;
};

/* The berth CLI: o->berth_path, else "berth" next to this program. */
static char *berth_cli_path(const struct trun_opts *o)
{
	char exe[4096];
	ssize_t n;
	char *slash;

	if (o->berth_path)
		return xstrdup(o->berth_path);
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return xstrdup("berth");
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (!slash)
		return xstrdup("berth");
	*slash = '\0';
	return xasprintf("%s/berth", exe);
}

static void argv_add(char ***v, size_t *n, const char *s)
{
	*v = xreallocarray(*v, *n + 2, sizeof(**v));
	(*v)[(*n)++] = (char *)s;
	(*v)[*n] = NULL;
}

static int pull_spawn(const struct trun_opts *o, const char *berth, struct pull_child *ch, struct berr **err)
{
	extern char **environ;
	cleanup_free char **argv = NULL;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t all, none;
	int out[2] = { -1, -1 }, errp[2] = { -1, -1 };
	size_t n = 0;
	int r;

	argv_add(&argv, &n, berth);
	argv_add(&argv, &n, "--root");
	argv_add(&argv, &n, o->root);
	argv_add(&argv, &n, "image");
	argv_add(&argv, &n, "pull");
	argv_add(&argv, &n, "--progress");
	argv_add(&argv, &n, "json");
	argv_add(&argv, &n, "--policy");
	argv_add(&argv, &n, rootfs_pull_policy_name(o->pull_policy));
	for (const char *const *i = o->insecure_registries; i && *i; i++) {
		argv_add(&argv, &n, "--insecure-registry");
		argv_add(&argv, &n, *i);
	}
	if (o->registry_credentials) {
		argv_add(&argv, &n, "--credentials");
		argv_add(&argv, &n, o->registry_credentials);
	}
	if (o->docker_config) {
		argv_add(&argv, &n, "--docker-config");
		argv_add(&argv, &n, o->docker_config);
	}
	if (ch->p->repository_credentials) {
		argv_add(&argv, &n, "--repository-credentials");
		argv_add(&argv, &n, ch->p->repository_credentials);
	}
	argv_add(&argv, &n, "--");
	argv_add(&argv, &n, ch->p->image);

	if (pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
		r = berr_set(err, errno, "pipe for the pull of %s", ch->p->image);
		close_fd(&out[0]);
		close_fd(&out[1]);
		return r;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
	posix_spawnattr_init(&at);
	/* nothing of ours: taskrun blocks SIGCHLD and the stop signals, the
	 * shim ignores some; the child must die of SIGTERM and SIGKILL */
	sigfillset(&all);
	sigemptyset(&none);
	posix_spawnattr_setsigdefault(&at, &all);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
	r = posix_spawn(&ch->pid, berth, &fa, &at, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close_fd(&out[1]);
	close_fd(&errp[1]);
	if (r != 0) {
		close_fd(&out[0]);
		close_fd(&errp[0]);
		return berr_set(err, r, "run %s to pull %s (the berth CLI: configuration key berthPath)", berth,
				ch->p->image);
	}
	ch->out_fd = out[0];
	ch->err_fd = errp[0];
	fcntl(ch->out_fd, F_SETFL, O_NONBLOCK);
	fcntl(ch->err_fd, F_SETFL, O_NONBLOCK);
	ch->pidfd = (int)syscall(SYS_pidfd_open, ch->pid, 0);
	if (ch->pidfd < 0) {
		r = berr_set(err, errno, "pidfd_open %d (the pull of %s)", (int)ch->pid, ch->p->image);
		kill(ch->pid, SIGKILL);
		waitpid(ch->pid, NULL, 0);
		ch->exited = true;
		return r;
	}
	ch->t0 = now_ms();
	log_info("pulling %s (%s, pid %d)", ch->p->image, rootfs_pull_policy_name(o->pull_policy), (int)ch->pid);
	return 0;
}

/* One JSON line of `berth image pull --progress json`. */
static void pull_line(struct pull_child *ch, const char *line, size_t len)
{
	cleanup_json json_t *v = json_loadb(line, len, 0, NULL);
	const char *ev = json_string_value(json_object_get(v, "event"));
	struct trun_pull *p = ch->p;

	if (ev == NULL) {
		log_debug("pull %s: %.*s", p->image, (int)(len > 200 ? 200 : len), line);
		return;
	}
	if (!strcmp(ev, "result")) {
		const char *d = json_string_value(json_object_get(v, "digest"));

		if (d && rootfs_digest_parse(d, "pull result", &p->manifest, NULL) == 0) {
			ch->have_result = true;
			p->pulled = json_is_true(json_object_get(v, "pulled"));
			p->layers = (size_t)json_integer_value(json_object_get(v, "layers"));
			p->layers_downloaded = (size_t)json_integer_value(json_object_get(v, "layersDownloaded"));
			p->bytes_downloaded = (uint64_t)json_integer_value(json_object_get(v, "bytesDownloaded"));
		}
	} else if (!strcmp(ev, "error")) {
		const char *m = json_string_value(json_object_get(v, "message"));

		ch->have_error = true;
		p->failure = rootfs_pull_failure_parse(json_string_value(json_object_get(v, "failure")));
		free(p->message);
		p->message = xstrdup(m ? m : "the pull failed");
	} else if (!strcmp(ev, "wait")) {
		log_info("pull %s: another pull of it runs: waiting for it", p->image);
	} else if (!strcmp(ev, "downloaded") || !strcmp(ev, "done")) {
		log_debug("pull %s: layer %" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT " %s", p->image,
			  json_integer_value(json_object_get(v, "layer")) + 1,
			  json_integer_value(json_object_get(v, "layers")), ev);
	}
}

static void pull_read_out(struct pull_child *ch)
{
	char buf[8192];

	for (;;) {
		ssize_t r = read(ch->out_fd, buf, sizeof(buf));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN)
			return;
		if (r <= 0) {
			if (ch->line_len && !ch->line_skip)
				pull_line(ch, ch->line, ch->line_len);
			ch->line_len = 0;
			close_fd(&ch->out_fd);
			return;
		}
		for (ssize_t i = 0; i < r; i++) {
			if (buf[i] == '\n') {
				if (!ch->line_skip)
					pull_line(ch, ch->line, ch->line_len);
				ch->line_len = 0;
				ch->line_skip = false;
				continue;
			}
			if (ch->line_skip)
				continue;
			if (ch->line_len == PULL_LINE_MAX) {
				ch->line_skip = true;
				continue;
			}
			if (!ch->line)
				ch->line = xmalloc(PULL_LINE_MAX);
			ch->line[ch->line_len++] = buf[i];
		}
	}
}

static void pull_read_err(struct pull_child *ch)
{
	char buf[4096];

	for (;;) {
		ssize_t r = read(ch->err_fd, buf, sizeof(buf));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN)
			return;
		if (r <= 0) {
			close_fd(&ch->err_fd);
			return;
		}
		log_debug("pull %s: %.*s", ch->p->image, (int)(r > 0 && buf[r - 1] == '\n' ? r - 1 : r), buf);
		if ((size_t)r >= PULL_TAIL_MAX) {
			memcpy(ch->tail, buf + r - PULL_TAIL_MAX, PULL_TAIL_MAX);
			ch->tail_len = PULL_TAIL_MAX;
		} else {
			size_t keep = ch->tail_len + (size_t)r > PULL_TAIL_MAX ? PULL_TAIL_MAX - (size_t)r : ch->tail_len;

			memmove(ch->tail, ch->tail + ch->tail_len - keep, keep);
			memcpy(ch->tail + keep, buf, (size_t)r);
			ch->tail_len = keep + (size_t)r;
		}
		ch->tail[ch->tail_len] = '\0';
	}
}

static void pull_kill(struct pull_child *ch, const char *why, bool cancel)
{
	if (ch->exited || ch->killed || ch->pidfd < 0)
		return;
	sys_pidfd_send_signal(ch->pidfd, SIGKILL);
	ch->killed = true;
	ch->cancelled = cancel;
	ch->kill_why = why;
}

static void pull_check_exit(struct pull_child *ch)
{
	siginfo_t si = { 0 };

	if (ch->exited || ch->pidfd < 0)
		return;
	if (waitid(P_PIDFD, (id_t)ch->pidfd, &si, WEXITED | WNOHANG) == 0 && si.si_pid) {
		ch->exited = true;
		ch->si = si;
		close_fd(&ch->pidfd);
	}
}

static bool pull_complete(const struct pull_child *ch)
{
	return ch->exited && ch->out_fd < 0 && ch->err_fd < 0;
}

/* The last line of the child's stderr, without berth's "berth: error: ". */
static char *pull_err_line(struct pull_child *ch)
{
	char *end = ch->tail + ch->tail_len, *start;

	while (end > ch->tail && (end[-1] == '\n' || end[-1] == ' '))
		end--;
	if (end == ch->tail)
		return NULL;
	*end = '\0';
	start = strrchr(ch->tail, '\n');
	start = start ? start + 1 : ch->tail;
	if (!strncmp(start, "berth: error: ", 14))
		start += 14;
	return xstrdup(start);
}

/* Say how the child's pull went, into ch->p. */
static void pull_finish(struct pull_child *ch)
{
	struct trun_pull *p = ch->p;
	bool clean = ch->si.si_code == CLD_EXITED && ch->si.si_status == 0;

	p->seconds = (double)(now_ms() - ch->t0) / 1000.0;
	if (clean && ch->have_result && !ch->killed) {
		p->ok = true;
		p->failure = ROOTFS_PULL_OK;
		log_info("pull %s: %s in %.1f s (%zu of %zu layers downloaded, %" PRIu64 " bytes)", p->image,
			 p->pulled ? "pulled" : "present", p->seconds, p->layers_downloaded, p->layers,
			 p->bytes_downloaded);
		return;
	}
	p->ok = false;
	p->cancelled = ch->killed && ch->cancelled;
	if (ch->killed) {
		free(p->message);
		p->message = xstrdup(ch->kill_why);
		p->failure = ROOTFS_PULL_FAIL_OTHER;
	} else if (!ch->have_error) {
		char *line = pull_err_line(ch);

		free(p->message);
		p->message = NULL;
		if (ch->si.si_code == CLD_EXITED) {
			static const enum rootfs_pull_failure by_code[] = {
				ROOTFS_PULL_FAIL_OTHER, ROOTFS_PULL_FAIL_OTHER, ROOTFS_PULL_FAIL_OTHER,
				ROOTFS_PULL_FAIL_NOT_FOUND, ROOTFS_PULL_FAIL_AUTH, ROOTFS_PULL_FAIL_UNREACHABLE,
				ROOTFS_PULL_FAIL_VERIFY,
			};
			int st = ch->si.si_status;

			p->failure = st >= 0 && st < 7 ? by_code[st] : ROOTFS_PULL_FAIL_OTHER;
			if (st == 0)   /* exit 0 without a result line */
				p->message = xasprintf("the pull gave no result%s%s%s", line ? " (" : "",
						       line ? line : "", line ? ")" : "");
			else
				p->message = line ? xstrdup(line)
						  : xasprintf("the pull exited with status %d and said nothing", st);
			free(line);
		} else {
			p->failure = ROOTFS_PULL_FAIL_OTHER;
			p->message = xasprintf("the pull was killed by signal %d%s%s", ch->si.si_status,
					       line ? ": " : "", line ? line : "");
			free(line);
		}
	}
	if (p->failure == ROOTFS_PULL_OK)
		p->failure = ROOTFS_PULL_FAIL_OTHER;
	log_warn("pull %s failed (%s) after %.1f s: %s", p->image, rootfs_pull_failure_name(p->failure),
		 p->seconds, p->message);
}

/* What the pulls wait on besides the children: taskrun's signalfd, stop and
 * control fds. on_ready returns true to stop (the pulls are killed). */
struct pull_waiter {
	struct pollfd fds[4];
	size_t n;
	bool (*on_ready)(void *arg, size_t i);
	void *arg;
};

/* Start every pull, wait for all. 0: all ended (ok or not); -ECANCELED:
 * stopped; else could not start one (*err). */
static int pull_run(const struct trun_opts *o, struct trun_pull *pulls, size_t n, struct pull_waiter *w,
		    struct berr **err)
{
	cleanup_free char *berth = berth_cli_path(o);
	struct pull_child *ch = xcalloc(n ? n : 1, sizeof(*ch));
	int64_t timeout = o->pull_timeout_ms > 0 ? o->pull_timeout_ms : TRUN_PULL_TIMEOUT_MS;
	int64_t deadline = now_ms() + timeout, reap_deadline = 0;
	bool stopped = false;
	int r = 0;

	for (size_t i = 0; i < n; i++) {
		ch[i].p = &pulls[i];
		ch[i].pidfd = ch[i].out_fd = ch[i].err_fd = -1;
		ch[i].exited = true;    /* until it is started */
		pulls[i].ok = false;
		pulls[i].failure = ROOTFS_PULL_OK;
	}
	for (size_t i = 0; i < n; i++) {
		ch[i].exited = false;
		r = pull_spawn(o, berth, &ch[i], err);
		if (r < 0) {
			ch[i].exited = true;
			for (size_t k = 0; k < i; k++)
				pull_kill(&ch[k], "not run: another pull could not be started", true);
			break;
		}
	}
	for (;;) {
		struct pollfd pfd[4 + 3 * 64];
		struct { size_t ch; int kind; } who[4 + 3 * 64];
		size_t np = 0, left = 0;
		int64_t now = now_ms(), until;
		int pr;

		for (size_t i = 0; i < n; i++)
			left += !pull_complete(&ch[i]);
		if (left == 0)
			break;
		if (w && !stopped)
			for (size_t i = 0; i < w->n && np < 4; i++) {
				pfd[np] = w->fds[i];
				pfd[np].revents = 0;
				who[np].ch = i;
				who[np++].kind = 0;
			}
		for (size_t i = 0; i < n && np + 3 <= sizeof(pfd) / sizeof(pfd[0]); i++) {
			if (ch[i].out_fd >= 0) {
				pfd[np] = (struct pollfd){ .fd = ch[i].out_fd, .events = POLLIN };
				who[np].ch = i;
				who[np++].kind = 1;
			}
			if (ch[i].err_fd >= 0) {
				pfd[np] = (struct pollfd){ .fd = ch[i].err_fd, .events = POLLIN };
				who[np].ch = i;
				who[np++].kind = 2;
			}
			if (!ch[i].exited && ch[i].pidfd >= 0) {
				pfd[np] = (struct pollfd){ .fd = ch[i].pidfd, .events = POLLIN };
				who[np].ch = i;
				who[np++].kind = 3;
			}
		}
		until = reap_deadline ? reap_deadline : deadline;
		pr = poll(pfd, np, until > now ? (int)(until - now) : 0);
		if (pr < 0 && errno != EINTR) {
			r = berr_set(err, errno, "poll the image pulls");
			reap_deadline = now_ms();   /* kill and give up below */
		}
		for (size_t i = 0; pr > 0 && i < np; i++) {
			if (!pfd[i].revents)
				continue;
			switch (who[i].kind) {
			case 0:
				if (!stopped && w->on_ready(w->arg, who[i].ch)) {
					stopped = true;
					for (size_t k = 0; k < n; k++)
						pull_kill(&ch[k], "stopped: the task was stopped during the pull", true);
				}
				break;
			case 1:
				pull_read_out(&ch[who[i].ch]);
				break;
			case 2:
				pull_read_err(&ch[who[i].ch]);
				break;
			default:
				pull_check_exit(&ch[who[i].ch]);
				break;
			}
		}
		now = now_ms();
		/* one failed: the task will not start, the others need not finish */
		for (size_t i = 0; i < n; i++) {
			bool failed = pull_complete(&ch[i]) && !ch[i].killed &&
				      !(ch[i].si.si_code == CLD_EXITED && ch[i].si.si_status == 0);

			for (size_t k = 0; failed && k < n; k++)
				pull_kill(&ch[k], "stopped: the pull of another image of the task failed", true);
		}
		if (!reap_deadline && now >= deadline) {
			static char why[128];

			snprintf(why, sizeof(why), "timed out after %g s (imagePullTimeoutSeconds)",
				 (double)timeout / 1000.0);
			for (size_t k = 0; k < n; k++)
				pull_kill(&ch[k], why, false);
		}
		{
			bool any_killed = false;

			for (size_t k = 0; k < n; k++)
				any_killed |= ch[k].killed && !pull_complete(&ch[k]);
			if (any_killed && !reap_deadline)
				reap_deadline = now + PULL_REAP_MS;
		}
		if (reap_deadline && now >= reap_deadline) {
			/* the pipes of a killed child should have closed: stop
			 * reading them; the process itself is reaped for sure */
			for (size_t k = 0; k < n; k++) {
				pull_kill(&ch[k], "stopped", true);
				if (!ch[k].exited && ch[k].pidfd >= 0) {
					siginfo_t si = { 0 };

					waitid(P_PIDFD, (id_t)ch[k].pidfd, &si, WEXITED);
					ch[k].exited = true;
					ch[k].si = si;
					close_fd(&ch[k].pidfd);
				}
				close_fd(&ch[k].out_fd);
				close_fd(&ch[k].err_fd);
			}
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (ch[i].pid > 0)
			pull_finish(&ch[i]);
		close_fd(&ch[i].pidfd);
		free(ch[i].line);
	}
	free(ch);
	if (r < 0)
		return r;
	return stopped ? -ECANCELED : 0;
}

void trun_pulls_free(struct trun_pull *pulls, size_t n)
{
	for (size_t i = 0; pulls && i < n; i++) {
		free(pulls[i].message);
		pulls[i].message = NULL;
	}
}

static bool stop_fd_ready(void *arg, size_t i)
{
	(void)arg;
	(void)i;
	return true;
}

int trun_pull_images(const struct trun_opts *o, struct trun_pull *pulls, size_t n, int stop_fd,
		     struct berr **err)
{
	struct pull_waiter w = { .n = 0, .on_ready = stop_fd_ready };

	if (stop_fd >= 0)
		w.fds[w.n++] = (struct pollfd){ .fd = stop_fd, .events = POLLIN };
	return pull_run(o, pulls, n, &w, err);
}

char **trun_repository_credentials(const char *td_json, size_t len)
{
	cleanup_json json_t *v = json_loadb(td_json, len, 0, NULL);
	json_t *cd = json_object_get(v, "containerDefinitions"), *c;
	char **out = NULL;
	size_t n = 0, i;

	json_array_foreach(cd, i, c) {
		const char *name = json_string_value(json_object_get(c, "name"));
		const char *param = json_string_value(
			json_object_get(json_object_get(c, "repositoryCredentials"), "credentialsParameter"));

		if (!name || !param)
			continue;
		out = xreallocarray(out, n + 3, sizeof(*out));
		out[n++] = xstrdup(name);
		out[n++] = xstrdup(param);
		out[n] = NULL;
	}
	return out;
}

/* ---- taskrun's use of the pulls */

static void begin_stop(struct trun *t, const char *code, const char *reason, int exit_code,
		       bool have_exit);
static void handle_ctl(struct trun *t);
static void on_signal(struct trun *t);
static void publish(struct trun *t, bool force);

static const char *pull_failure_words(enum rootfs_pull_failure f)
{
	switch (f) {
	case ROOTFS_PULL_FAIL_NOT_FOUND: return "not found";
	case ROOTFS_PULL_FAIL_AUTH: return "access denied";
	case ROOTFS_PULL_FAIL_UNREACHABLE: return "registry unreachable";
	case ROOTFS_PULL_FAIL_VERIFY: return "content did not verify";
	case ROOTFS_PULL_FAIL_UNSUPPORTED: return "not supported";
	default: return "failed";
	}
}

static const char *repo_cred_of(const struct trun *t, const char *name)
{
	for (const char *const *p = t->o->repository_credentials; p && p[0] && p[1]; p += 2)
		if (!strcmp(p[0], name))
			return p[1];
	return NULL;
}

struct trun_waiter {
	struct trun *t;
	int kind[4];
};

/* taskrun's fds while the images are pulled: signals, stop_fd, ctl_fd */
static bool trun_pull_ready(void *arg, size_t i)
{
	struct trun_waiter *tw = arg;
	struct trun *t = tw->t;

	if (tw->kind[i] == 9)
		begin_stop(t, "UserInitiated", "Task stopped by user", 0, false);
	else if (tw->kind[i] == 10)
		handle_ctl(t);
	else
		on_signal(t);
	return t->stopping;
}

/* The stoppedReason of a failed pull, also every container's reason that
 * uses the image. */
static int pull_failed(struct trun *t, struct tctr *c, const char *image, enum rootfs_pull_failure f,
		       const char *msg, struct berr **err)
{
	const char *m = msg;
	int r;

	/* the CLI says "pull <the reference in full>: ...": the image is named
	 * already */
	if (!strncmp(m, "pull ", 5) && strstr(m, ": "))
		m = strstr(m, ": ") + 2;
	r = berr_set(err, 0, "CannotPullContainerError: pull image \"%s\" (container %s): %s: %s", image,
		     c->def->name, pull_failure_words(f), m);
	for (size_t i = 0; i < t->n; i++)
		if (!strcmp(t->c[i].def->image, image)) {
			free(t->c[i].reason);
			t->c[i].reason = xstrdup(berr_msg(*err));
		}
	return r;
}

/* Pull the images the pull policy asks for (trun_opts). */
static int pull_images(struct trun *t, struct berr **err)
{
	struct trun_pull *pulls = xcalloc(t->n ? t->n : 1, sizeof(*pulls));
	size_t *owner = xcalloc(t->n ? t->n : 1, sizeof(*owner));
	struct trun_waiter tw = { .t = t };
	struct pull_waiter w = { .on_ready = trun_pull_ready, .arg = &tw };
	size_t n = 0;
	int r = 0;

	if (t->o->pull_policy == ROOTFS_PULL_NEVER)
		goto out;
	for (size_t i = 0; i < t->n; i++) {
		struct tctr *c = &t->c[i];
		struct rootfs_pull_ref ref;
		struct rootfs_digest m;
		struct berr *e = NULL;
		size_t k;

		c->pull_idx = -1;
		if (t->o->pull_policy == ROOTFS_PULL_IF_NOT_PRESENT &&
		    rootfs_store_resolve(t->store, c->def->image, &m, NULL) == 0)
			continue;
		for (k = 0; k < n && strcmp(pulls[k].image, c->def->image); k++)
			;
		if (k < n) {
			c->pull_idx = (ssize_t)k;
			continue;
		}
		if (rootfs_pull_ref_parse(c->def->image, &ref, &e) < 0) {
			r = pull_failed(t, c, c->def->image, ROOTFS_PULL_FAIL_OTHER, berr_msg(e), err);
			berr_free(e);
			goto out;
		}
		rootfs_pull_ref_free(&ref);
		pulls[n].image = c->def->image;
		pulls[n].repository_credentials = repo_cred_of(t, c->def->name);
		owner[n] = i;
		c->pull_idx = (ssize_t)n++;
	}
	if (n == 0)
		goto out;
	publish(t, true);   /* pullStartedAt, while the pulls run */
	w.fds[w.n] = (struct pollfd){ .fd = t->sfd, .events = POLLIN };
	tw.kind[w.n++] = 8;
	if (t->o->stop_fd >= 0) {
		w.fds[w.n] = (struct pollfd){ .fd = t->o->stop_fd, .events = POLLIN };
		tw.kind[w.n++] = 9;
	}
	if (t->o->ctl_fd >= 0 && t->o->on_ctl) {
		w.fds[w.n] = (struct pollfd){ .fd = t->o->ctl_fd, .events = POLLIN };
		tw.kind[w.n++] = 10;
	}
	r = pull_run(t->o, pulls, n, &w, err);
	if (r == -ECANCELED) {
		r = berr_set(err, ECANCELED, "the task was stopped while its images were pulled");
		goto out;
	}
	if (r < 0) {
		berr_wrap(err, "CannotPullContainerError");
		goto out;
	}
	/* the first failure of its own (not one killed because of it) */
	for (int pass = 0; pass < 2; pass++)
		for (size_t k = 0; k < n; k++)
			if (!pulls[k].ok && (pass == 1 || !pulls[k].cancelled)) {
				r = pull_failed(t, &t->c[owner[k]], pulls[k].image, pulls[k].failure,
						pulls[k].message ? pulls[k].message : "failed", err);
				goto out;
			}
	for (size_t i = 0; i < t->n; i++)
		if (t->c[i].pull_idx >= 0)
			t->c[i].pulled = pulls[t->c[i].pull_idx].manifest;
out:
	trun_pulls_free(pulls, n);
	free(pulls);
	free(owner);
	return r;
}

static int load_image(struct trun *t, struct tctr *c, struct berr **err)
{
	const struct task_container *d = c->def;
	struct rootfs_digest m;
	cleanup_free char *buf = NULL, *what = NULL;
	size_t len = 0;
	char dbuf[ROOTFS_DIGEST_STR];
	int r;

	if (c->pull_idx >= 0) {
		m = c->pulled;   /* what its pull recorded (the tag may move meanwhile) */
		r = 0;
	} else {
		r = rootfs_store_resolve(t->store, d->image, &m, err);
	}
	if (r < 0) {
		if (r == -ENOENT && t->o->pull_policy == ROOTFS_PULL_NEVER)
			return berr_set(err, ENOENT,
					"CannotPullContainerError: containerDefinitions[%zu] (%s): image \"%s\" is not "
					"in the store %s/images and the image pull policy is \"never\" (import it: "
					"berth image import FILE, or berth run --image-archive FILE)",
					c->idx, d->name, d->image, t->o->root);
		if (r == -ENOENT)
			return berr_set(err, ENOENT,
					"containerDefinitions[%zu] (%s): image \"%s\" is not in the store %s/images "
					"(import it first: berth image import FILE, or berth run --image-archive FILE)",
					c->idx, d->name, d->image, t->o->root);
		return berr_wrap(err, "containerDefinitions[%zu] (%s): image", c->idx, d->name), r;
	}
	r = rootfs_store_get_image(t->store, &m, &c->img, err);
	if (r < 0)
		return berr_wrap(err, "containerDefinitions[%zu] (%s): image %s", c->idx, d->name, d->image), r;
	c->have_img = true;
	for (size_t i = 0; i < c->img.n_layers; i++)
		if (!rootfs_store_has_layer(t->store, &c->img.layers[i].chain))
			return berr_set(err, ENOENT,
					"containerDefinitions[%zu] (%s): image %s: layer %s is not unpacked "
					"(re-import the image)", c->idx, d->name, d->image,
					rootfs_digest_str(&c->img.layers[i].chain, dbuf));
	what = xasprintf("image %s config", d->image);
	r = rootfs_store_read_blob(t->store, &c->img.config, 4u << 20, &buf, &len, err);
	if (r < 0)
		return berr_wrap(err, "%s", what), r;
	r = oci_config_parse(buf, len, what, &c->cfg, err);
	if (r < 0)
		return r;
	c->have_cfg = true;
	r = rootfs_store_lease(t->store, t->id, &m, err);
	if (r < 0)
		return r;
	t->leased = true;
	return 0;
}

static int setup_storage(struct trun *t, struct berr **err)
{
	uint64_t bytes;
	int r;

	rootfs_ephemeral_config_init(&t->eph_cfg, NULL);
	r = rootfs_ephemeral_size_from_gib(&t->eph_cfg, t->td->ephemeral_storage_gib != TASK_UNSET,
					   t->td->ephemeral_storage_gib, &bytes, err);
	if (r < 0)
		return r;
	if (t->o->storage == TRUN_STORAGE_TMPFS) {
		char data[64];

		t->tmpfs_dir = xasprintf("%s/storage", t->dir);
		if (mkdir(t->tmpfs_dir, 0700) < 0 && errno != EEXIST)
			return berr_set(err, errno, "mkdir %s", t->tmpfs_dir);
		snprintf(data, sizeof(data), "size=%" PRIu64 ",mode=0700", bytes);
		if (mount("berth-storage", t->tmpfs_dir, "tmpfs", MS_NODEV | MS_NOSUID, data) < 0) {
			r = berr_set(err, errno, "mount the task's tmpfs storage on %s", t->tmpfs_dir);
			free(t->tmpfs_dir);
			t->tmpfs_dir = NULL;
			return r;
		}
		t->storage = t->tmpfs_dir;
		return 0;
	}
	{
		/* base_dir is kept, not copied: t owns it (freed at the end) */
		t->eph_base = xasprintf("%s/ephemeral", t->o->root);
		rootfs_ephemeral_config_init(&t->eph_cfg, t->eph_base);
		r = rootfs_ephemeral_create(&t->eph_cfg, t->id, bytes, &t->eph, err);
		if (r < 0)
			return berr_wrap(err, "ephemeral storage"), r;
		t->storage = rootfs_ephemeral_path(t->eph);
	}
	return 0;
}

static int setup_cgroups(struct trun *t, struct berr **err)
{
	struct cg_info info = { 0 };
	struct cg_limits lim;
	int r;

	r = cg_task_create(t->o->cgroup_root, t->id, NULL, &t->cg_task, err);
	if (r < 0) {
		/* no v2 tree with the controllers here? that error says what to
		 * do; asked only now, it costs a task start nothing */
		cleanup_berr struct berr *derr = NULL;
		int d = cg_detect(CG_DEFAULT_MOUNT, &info, &derr);

		cg_info_free(&info);
		if (d < 0) {
			if (err) {
				berr_clear(err);
				*err = steal_pointer(&derr);
			}
			return berr_wrap(err, "cgroups (run with --no-limits to run without resource limits)"), d;
		}
		return r;
	}
	cg_limits_init(&lim);
	/* The task's cpu limit (cpu.max) is written when its first container
	 * has exec'd its program (launch()), not here: the set-up in the
	 * container's cgroup before that (mounts, pivot_root, seccomp, the
	 * exec of berth-init and of the program: ~70 ms of CPU under TCG) is
	 * berth's, and at 256 cpu units (25 ms per 100 ms) the quota made it
	 * wait 125-175 ms. It is charged (cpu.stat), only not throttled. */
	t->cpu_max_pending = t->td->cpu > 0;
	if (t->td->memory > 0 && (r = cg_mib_to_bytes(t->td->memory, "memory", &lim.memory_max, err)) < 0)
		return r;
	lim.pids_max = t->o->pids_max;
	r = cg_limits_apply(t->cg_task, &lim, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < t->n; i++) {
		struct tctr *c = &t->c[i];
		const struct task_container *d = c->def;
		const struct task_linux_params *lp = &d->linux_parameters;

		r = cg_leaf_create(t->cg_task, d->name, &c->cg, err);
		if (r < 0)
			return r;
		cg_limits_init(&lim);
		lim.cpu_weight = cg_cpu_weight_from_shares((uint64_t)(d->cpu > 0 ? d->cpu : 0));
		if (d->memory > 0 &&
		    (r = cg_mib_to_bytes(d->memory, "memory", &lim.memory_max, err)) < 0)
			return r;
		if (d->memory_reservation > 0 &&
		    (r = cg_mib_to_bytes(d->memory_reservation, "memoryReservation", &lim.memory_low, err)) < 0)
			return r;
		r = cg_swap_max_bytes(lp->max_swap, (int)lp->swappiness, &lim.swap_max, err);
		if (r < 0)
			return r;
		r = cg_limits_apply(c->cg, &lim, err);
		if (r < 0)
			return berr_wrap(err, "container %s", d->name), r;
		c->cg_fd = cg_open_dir(c->cg, err);
		if (c->cg_fd < 0)
			return c->cg_fd;
		c->events_fd = cg_events_open(c->cg, "memory.events", err);
		if (c->events_fd < 0) {
			r = c->events_fd;
			c->events_fd = -1;
			return r;
		}
	}
	return 0;
}

static int write_etc_files(struct trun *t, struct berr **err)
{
	cleanup_free char *hosts = NULL, *resolv = NULL;
	const struct task_container *first = &t->td->containers[0];
	size_t cap = 1024, len = 0;
	int r;

	/* /etc/hosts: loopback names, then every container's extraHosts */
	hosts = xmalloc(cap);
	len = (size_t)snprintf(hosts, cap, "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
	/* the task's own address under its hostname (awsvpc, bridge) */
	if (t->ipv4[0])
		len += (size_t)snprintf(hosts + len, cap - len, "%s\t%.12s\n", t->ipv4, t->id);
	for (size_t i = 0; i < t->n; i++) {
		const struct task_container *d = t->c[i].def;

		for (size_t j = 0; j < d->n_extra_hosts; j++) {
			size_t need = strlen(d->extra_hosts[j].name) + strlen(d->extra_hosts[j].value) + 3;

			if (len + need + 1 > cap) {
				cap = 2 * (len + need + 1);
				hosts = xrealloc(hosts, cap);
			}
			len += (size_t)snprintf(hosts + len, cap - len, "%s\t%s\n",
						d->extra_hosts[j].value, d->extra_hosts[j].name);
		}
	}
	t->hosts = xasprintf("%s/hosts", t->dir);
	r = fs_write_file_atomic(t->hosts, hosts, len, 0644, err);
	if (r < 0)
		return r;

	/* /etc/resolv.conf: dnsServers / dnsSearchDomains of the first
	 * container that has them, else the host's (as Docker does) */
	for (size_t i = 0; i < t->n; i++) {
		const struct task_container *d = t->c[i].def;

		if (d->dns_servers[0] || d->dns_search_domains[0]) {
			first = d;
			break;
		}
	}
	if (first->dns_servers[0] || first->dns_search_domains[0]) {
		size_t rl = 0, rc = 256;

		resolv = xmalloc(rc);
		resolv[0] = '\0';
		for (size_t i = 0; first->dns_servers[i]; i++) {
			char *line = xasprintf("nameserver %s\n", first->dns_servers[i]);
			size_t ll = strlen(line);

			if (rl + ll + 1 > rc) {
				rc = 2 * (rl + ll + 1);
				resolv = xrealloc(resolv, rc);
			}
			memcpy(resolv + rl, line, ll + 1);
			rl += ll;
			free(line);
		}
		if (first->dns_search_domains[0]) {
			char *line = xasprintf("search");
			for (size_t i = 0; first->dns_search_domains[i]; i++) {
				char *nl = xasprintf("%s %s", line, first->dns_search_domains[i]);
				free(line);
				line = nl;
			}
			size_t ll = strlen(line);
			if (rl + ll + 2 > rc) {
				rc = rl + ll + 2;
				resolv = xrealloc(resolv, rc);
			}
			memcpy(resolv + rl, line, ll);
			rl += ll;
			resolv[rl++] = '\n';
			resolv[rl] = '\0';
			free(line);
		}
	} else {
		size_t rlen = 0;
		struct berr *ignored = NULL;

		if (fs_read_file("/etc/resolv.conf", &resolv, &rlen, 64 << 10, &ignored) < 0) {
			berr_free(ignored);
			resolv = xstrdup("");
		}
		/* berthd's responder answers for a task on the bridge: it knows
		 * the services' names and forwards the rest to the host's
		 * resolvers, which a task could not reach when they are on the
		 * host's loopback; the host's search and options lines stay */
		if (t->o->dns_server && (t->net == TASK_NET_AWSVPC || t->net == TASK_NET_BRIDGE)) {
			char *own = xasprintf("nameserver %s\n", t->o->dns_server), *line, *save = NULL;
			size_t ol = strlen(own), oc = ol + strlen(resolv) + 1;

			own = xrealloc(own, oc);
			for (line = strtok_r(resolv, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
				const char *l = line + strspn(line, " \t");

				if (strncmp(l, "search", 6) && strncmp(l, "domain", 6) && strncmp(l, "options", 7))
					continue;
				ol += (size_t)snprintf(own + ol, oc - ol, "%s\n", l);
			}
			free(resolv);
			resolv = own;
		}
	}
	t->resolv = xasprintf("%s/resolv.conf", t->dir);
	return fs_write_file_atomic(t->resolv, resolv, strlen(resolv), 0644, err);
}

/* The container's secrets (values from berthd, runtime/creds/secrets.h) into
 * its environment, over any variable of the same name (from the image):
 * the spec lives as long as the container, restarts included, and exec'd
 * processes start from it, as ECS Exec's do from the container's. */
static void add_secrets(struct ctr_spec *spec, const struct task_container *d)
{
	size_t n = 0;

	if (!d->n_secrets)
		return;
	while (spec->env && spec->env[n])
		n++;
	spec->env = xreallocarray(spec->env, n + d->n_secrets + 1, sizeof(*spec->env));
	for (size_t k = 0; k < d->n_secrets; k++) {
		const struct task_secret *sec = &d->secrets[k];
		size_t nl = strlen(sec->name), i;
		char *kv = xmalloc(nl + 1 + sec->value_len + 1);

		memcpy(kv, sec->name, nl);
		kv[nl] = '=';
		memcpy(kv + nl + 1, sec->value, sec->value_len);
		kv[nl + 1 + sec->value_len] = '\0';
		for (i = 0; i < n; i++)
			if (!strncmp(spec->env[i], kv, nl + 1))
				break;
		if (i < n) {
			explicit_bzero(spec->env[i], strlen(spec->env[i]));
			free(spec->env[i]);
		} else {
			n++;
		}
		spec->env[i] = kv;
	}
	spec->env[n] = NULL;
}

/* Before the spec is freed: no secret value left in freed memory. */
static void wipe_secrets(struct ctr_spec *spec, const struct task_container *d)
{
	for (size_t i = 0; spec && spec->env && spec->env[i] && d->n_secrets; i++)
		for (size_t k = 0; k < d->n_secrets; k++) {
			size_t nl = strlen(d->secrets[k].name);

			if (!strncmp(spec->env[i], d->secrets[k].name, nl) && spec->env[i][nl] == '=')
				explicit_bzero(spec->env[i], strlen(spec->env[i]));
		}
}

static int setup_container(struct trun *t, struct tctr *c, struct berr **err)
{
	const struct task_container *d = c->def;
	struct ctr_resolve_opts ro = { 0 };
	cleanup_free const char **lowers = NULL;
	cleanup_free const char **env_all = NULL;
	cleanup_free char *upper = NULL, *work = NULL, *hostname_file = NULL, *cdir = NULL;
	cleanup_close int rootfs_fd = -1;
	char short_id[13];
	int r;

	c->dir = xasprintf("%s/c/%s", t->dir, d->name);
	c->rootfs = xasprintf("%s/rootfs", c->dir);
	c->nested = xasprintf("%s/lower", c->dir);
	if ((r = fs_mkdir_p(c->rootfs, 0755, err)) < 0)
		return r;
	cdir = xasprintf("%s/c/%s", t->storage, d->name);
	upper = xasprintf("%s/upper", cdir);
	work = xasprintf("%s/work", cdir);
	if ((r = fs_mkdir_p(cdir, 0700, err)) < 0)
		return r;

	lowers = xcalloc(c->img.n_layers ? c->img.n_layers : 1, sizeof(*lowers));
	for (size_t i = 0; i < c->img.n_layers; i++)
		lowers[i] = rootfs_store_layer_path(t->store, &c->img.layers[c->img.n_layers - 1 - i].chain);
	{
		struct rootfs_overlay_spec sp = {
			.lowers = lowers, .n_lowers = c->img.n_layers,
			.upper = upper, .work = work, .target = c->rootfs,
			.readonly = d->readonly_root_filesystem, .nested_dir = c->nested,
		};

		r = rootfs_overlay_mount(&sp, err);
	}
	for (size_t i = 0; i < c->img.n_layers; i++)
		free((char *)lowers[i]);
	if (r < 0)
		return berr_wrap(err, "container %s: root filesystem", d->name), r;
	c->mounted = true;

	rootfs_fd = open(c->rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfs_fd < 0)
		return berr_set(err, errno, "open %s", c->rootfs);
	memcpy(short_id, t->id, 12);
	short_id[12] = '\0';
	ro.default_hostname = t->net == TASK_NET_HOST ? NULL : short_id;
	{
		/* /etc/hostname: the name the container will have */
		const char *name = d->hostname ? d->hostname : ro.default_hostname;

		if (name) {
			char *line = xasprintf("%s\n", name);

			hostname_file = xasprintf("%s/hostname", c->dir);
			r = fs_write_file_atomic(hostname_file, line, strlen(line), 0644, err);
			free(line);
			if (r < 0)
				return r;
		}
	}
	ro.hosts_file = t->hosts;
	ro.resolv_file = t->resolv;
	ro.hostname_file = hostname_file;
	ro.volumes_dir = t->volumes;
	ro.extra_env = t->o->extra_env;
	if (t->o->container_env && t->o->container_env[c->idx]) {
		/* the task's extra environment, then this container's */
		size_t n = 0, m = 0;

		while (t->o->extra_env && t->o->extra_env[n])
			n++;
		while (t->o->container_env[c->idx][m])
			m++;
		env_all = xcalloc(n + m + 1, sizeof(*env_all));
		if (n)
			memcpy(env_all, t->o->extra_env, n * sizeof(*env_all));
		if (m)
			memcpy(env_all + n, t->o->container_env[c->idx], m * sizeof(*env_all));
		ro.extra_env = env_all;
	}
	ro.env_file_base = t->o->env_file_base;
	r = ctr_spec_resolve(t->td, c->idx, &c->cfg, rootfs_fd, &ro, &c->spec, err);
	if (r < 0)
		return r;
	add_secrets(c->spec, d);
	if (!c->spec->privileged) {
		r = ctr_seccomp_get(c->spec->caps, &c->seccomp, err);
		if (r < 0)
			return berr_wrap(err, "container %s: seccomp", d->name), r;
	}
	if (c->spec->init && t->init_fd < 0) {
		t->init_fd = ctr_init_fd(err);
		if (t->init_fd < 0)
			return t->init_fd;
	}
	if ((r = linebuf_open(&c->out, err)) < 0 || (r = linebuf_open(&c->err, err)) < 0)
		return r;
	if (t->logdir && !(d->log_driver && !strcmp(d->log_driver, "none"))) {
		char *p = xasprintf("%s/%s.log", t->logdir, d->name);

		struct stat st;

		c->log_fd = open(p, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
		if (c->log_fd < 0) {
			r = berr_set(err, errno, "open log file %s", p);
			free(p);
			return r;
		}
		c->log_size = fstat(c->log_fd, &st) == 0 ? st.st_size : 0;
		free(p);
	}
	return 0;
}

/* awsvpc / bridge: the task's netns, veth, IP, security groups and (bridge)
 * host ports, bound at <task dir>/netns (netns/tasknet.h). */
static int setup_network(struct trun *t, struct berr **err)
{
	struct netns_task_req req = { 0 };
	cleanup_free struct netns_portmap *maps = NULL;
	cleanup_free char *ns_path = xasprintf("%s/netns", t->dir);
	size_t n_maps = 0;
	char ip[NETNS_IP_STRLEN];
	int r;

	req.task_id = t->id;
	req.mode = t->net == TASK_NET_BRIDGE ? NETNS_TASK_BRIDGE : NETNS_TASK_AWSVPC;
	req.ns_path = ns_path;
	req.groups = t->o->security_groups;
	req.n_groups = t->o->n_security_groups;
	if (req.mode == NETNS_TASK_BRIDGE) {
		for (size_t i = 0; i < t->n; i++)
			n_maps += t->c[i].def->n_port_mappings;
		maps = xcalloc(n_maps ? n_maps : 1, sizeof(*maps));
		n_maps = 0;
		for (size_t i = 0; i < t->n; i++)
			for (size_t j = 0; j < t->c[i].def->n_port_mappings; j++) {
				const struct task_port_mapping *pm = &t->c[i].def->port_mappings[j];

				maps[n_maps].container_port = (uint16_t)pm->container_port;
				maps[n_maps].host_port = (uint16_t)pm->host_port;
				maps[n_maps].proto = pm->protocol && !strcmp(pm->protocol, "udp") ? NETNS_UDP : NETNS_TCP;
				n_maps++;
			}
		req.maps = maps;
		req.n_maps = n_maps;
	}
	r = netns_task_up(t->o->net, &req, &t->tnet, err);
	if (r < 0)
		return berr_wrap(err, "task network (%s)", task_network_mode_name(t->net));
	t->tnet_up = true;
	t->netns_fd = fcntl(t->tnet.nsfd, F_DUPFD_CLOEXEC, 3);
	if (t->netns_fd < 0)
		return berr_set(err, errno, "dup the task's netns fd");
	snprintf(t->ipv4, sizeof(t->ipv4), "%s", netns_ip_str(t->tnet.ip, ip));
	if (t->tnet.n_bindings) {
		t->bindings = xmemdup(t->tnet.bindings, t->tnet.n_bindings * sizeof(*t->bindings));
		t->n_bindings = t->tnet.n_bindings;
	}
	status(t, NULL, "network %s: %s/%u on %s (set up in %.1f ms)", task_network_mode_name(t->net),
	       t->ipv4, t->tnet.prefix, t->o->net->bridge, (double)t->tnet.us_setup / 1000.0);
	return 0;
}

/* pidMode task: the holder of the task's pid namespace (berth-init
 * --pause, launch.h), in a leaf cgroup of its own; the containers join its
 * namespace through its pidfd. Its empty root is mounted over the task dir
 * in its own mount namespace only. */
static int setup_pidns(struct trun *t, struct berr **err)
{
	cleanup_close int cg_fd = -1;
	struct ctr_launch l;
	int r;

	ctr_launch_init(&l);
	if (t->cg_task) {
		r = cg_leaf_create(t->cg_task, PAUSE_LEAF, &t->cg_pause, err);
		if (r < 0)
			return r;
		cg_fd = cg_open_dir(t->cg_pause, err);
		if (cg_fd < 0)
			return cg_fd;
	}
	l.pause = true;
	l.rootfs = t->dir;
	l.cgroup_fd = cg_fd;
	l.netns_fd = t->net == TASK_NET_HOST ? CTR_NS_HOST : t->netns_fd;
	l.ipcns_fd = t->td->ipc_mode == TASK_NS_HOST ? CTR_NS_HOST
		     : t->ipcns_fd >= 0 ? t->ipcns_fd : CTR_NS_NEW;
	l.init_fd = t->init_fd;
	r = ctr_launch(&l, &t->pause, err);
	if (r < 0)
		return r;
	t->pause_up = true;
	t->pidns_fd = fcntl(t->pause.pidfd, F_DUPFD_CLOEXEC, 3);
	if (t->pidns_fd < 0)
		return berr_set(err, errno, "dup the pid namespace holder's pidfd");
	status(t, NULL, "pidMode task: pid namespace holder started (pid %d)", (int)t->pause.pid);
	return 0;
}

static int setup(struct trun *t, struct berr **err)
{
	const struct task_def *td = t->td;
	cleanup_free char *images = NULL;
	int r;

	t->net = t->o->net_override ? t->o->net_mode : td->network_mode;
	if ((t->net == TASK_NET_AWSVPC || t->net == TASK_NET_BRIDGE) && !t->o->net)
		return berr_set(err, EINVAL, "networkMode %s: no network configuration given",
				task_network_mode_name(t->net));
	/* our mounts stay in a mount namespace of our own: they vanish with
	 * this process whatever happens to it */
	if (unshare(CLONE_NEWNS) < 0)
		return berr_set(err, errno, "unshare a mount namespace (berth run needs root)");
	if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
		return berr_set(err, errno, "make / a slave mount");

	t->dir = xasprintf("%s/%s", t->o->run_dir, t->id);
	if ((r = fs_mkdir_p(t->o->run_dir, 0711, err)) < 0)
		return r;
	if (mkdir(t->dir, 0700) < 0) {
		r = berr_set(err, errno, "mkdir %s", t->dir);
		free(t->dir);
		t->dir = NULL;
		return r;
	}
	if (t->o->log_dir) {
		t->logdir = xasprintf("%s/%s", t->o->log_dir, t->id);
		if ((r = fs_mkdir_p(t->logdir, 0750, err)) < 0)
			return r;
	}

	{
		/* compiled seccomp filters, shared by every task of this root */
		char *cache = xasprintf("%s/cache/seccomp", t->o->root);
		struct berr *cerr = NULL;

		if (ctr_seccomp_set_cache_dir(cache, &cerr) < 0) {
			log_warn("seccomp cache off: %s", berr_msg(cerr));
			berr_free(cerr);
		}
		free(cache);
	}
	images = xasprintf("%s/images", t->o->root);
	r = rootfs_store_open(images, &t->store, err);
	if (r < 0)
		return r;
	/* pullStartedAt .. pullStoppedAt: the pulls (when the policy asks for
	 * them) and loading every image from the store */
	t->ts_pull_start = epoch_now();
	if ((r = pull_images(t, err)) < 0)
		return r;
	for (size_t i = 0; i < t->n; i++)
		if ((r = load_image(t, &t->c[i], err)) < 0)
			return r;
	t->ts_pull_stop = epoch_now();

	if ((r = setup_storage(t, err)) < 0)
		return r;
	t->volumes = xasprintf("%s/volumes", t->storage);
	if ((r = fs_mkdir_p(t->volumes, 0755, err)) < 0)
		return r;
	for (size_t i = 0; i < td->n_volumes; i++) {
		char *p;

		if (td->volumes[i].host_source_path)
			continue;
		p = xasprintf("%s/%s", t->volumes, td->volumes[i].name);
		r = fs_mkdir_p(p, 0755, err);
		free(p);
		if (r < 0)
			return r;
	}

	if (t->net == TASK_NET_NONE) {
		if ((r = task_ns(CLONE_NEWNET, "net", &t->netns_fd, err)) < 0)
			return r;
		if ((r = netns_lo_up(t->netns_fd, err)) < 0)
			return r;
	} else if (t->net == TASK_NET_AWSVPC || t->net == TASK_NET_BRIDGE) {
		if ((r = setup_network(t, err)) < 0)
			return r;
	}
	if (t->net != TASK_NET_HOST && t->o->on_netns && (r = t->o->on_netns(t->o->netns_arg, t->netns_fd, err)) < 0)
		return berr_wrap(err, "task endpoint");
	if (td->ipc_mode == TASK_NS_TASK && (r = task_ns(CLONE_NEWIPC, "ipc", &t->ipcns_fd, err)) < 0)
		return r;

	if (!t->o->no_limits && (r = setup_cgroups(t, err)) < 0)
		return r;
	if ((r = write_etc_files(t, err)) < 0)
		return r;
	for (size_t i = 0; i < t->n; i++)
		if ((r = setup_container(t, &t->c[i], err)) < 0)
			return r;
	if (td->pid_mode == TASK_NS_TASK && (r = setup_pidns(t, err)) < 0)
		return r;
	return 0;
}

static void exec_end_all(struct trun *t);

static void teardown(struct trun *t)
{
	struct berr *err = NULL;

	exec_end_all(t);
	for (size_t i = 0; i < t->n; i++) {
		struct tctr *c = &t->c[i];

		if (c->st == C_RUNNING && c->proc.pidfd >= 0) {
			siginfo_t si;

			sys_pidfd_send_signal(c->proc.pidfd, SIGKILL);
			waitid(P_PIDFD, (id_t)c->proc.pidfd, &si, WEXITED);
		}
		if (c->hc_running) {
			siginfo_t si;

			sys_pidfd_send_signal(c->hc.pidfd, SIGKILL);
			waitid(P_PIDFD, (id_t)c->hc.pidfd, &si, WEXITED);
			ctr_proc_release(&c->hc);
			c->hc_running = false;
		}
		ctr_proc_release(&c->proc);
		close_fd(&c->hc_pipe);
		close_fd(&c->cg_fd);
		close_fd(&c->events_fd);
	}
	/* the pid namespace holder last: its exit waits until every process
	 * of its namespace whose parent is outside (ours) has been reaped */
	if (t->pause_up) {
		siginfo_t si;

		sys_pidfd_send_signal(t->pause.pidfd, SIGKILL);
		waitid(P_PIDFD, (id_t)t->pause.pidfd, &si, WEXITED);
		ctr_proc_release(&t->pause);
		t->pause_up = false;
	}
	for (size_t i = 0; i < t->n; i++) {
		struct tctr *c = &t->c[i];

		if (c->cg && cg_destroy(c->cg, CG_REMOVE_TIMEOUT_MS, &err) < 0) {
			log_warn("teardown: %s", berr_msg(err));
			berr_free(err);
			err = NULL;
		}
	}
	if (t->cg_task && cg_destroy(t->cg_task, CG_REMOVE_TIMEOUT_MS, &err) < 0) {
		log_warn("teardown: %s", berr_msg(err));
		berr_free(err);
		err = NULL;
	}
	for (size_t i = 0; i < t->n; i++) {
		struct tctr *c = &t->c[i];

		if (c->mounted && rootfs_overlay_umount(c->rootfs, c->nested, &err) < 0) {
			log_warn("teardown: %s", berr_msg(err));
			berr_free(err);
			err = NULL;
		}
		c->mounted = false;
		/* output the containers wrote last */
		if (c->out.fd >= 0)
			drain(t, c, &c->out, false, true);
		if (c->err.fd >= 0)
			drain(t, c, &c->err, true, true);
		close_fd(&c->out.fd);
		close_fd(&c->out.wfd);
		close_fd(&c->err.fd);
		close_fd(&c->err.wfd);
		close_fd(&c->log_fd);
	}
	close_fd(&t->netns_fd);
	close_fd(&t->ipcns_fd);
	close_fd(&t->pidns_fd);
	if (t->tnet_up) {
		if (netns_task_down(t->o->net, &t->tnet, &err) < 0) {
			log_warn("teardown: network: %s", berr_msg(err));
			berr_free(err);
			err = NULL;
		}
		t->tnet_up = false;
	}
	if (t->eph) {
		if (rootfs_ephemeral_destroy(t->eph, &err) < 0) {
			log_warn("teardown: %s", berr_msg(err));
			berr_free(err);
			err = NULL;
		}
		t->eph = NULL;
	}
	if (t->tmpfs_dir) {
		if (umount2(t->tmpfs_dir, MNT_DETACH) < 0)
			log_warn("teardown: umount %s: %m", t->tmpfs_dir);
		free(t->tmpfs_dir);
		t->tmpfs_dir = NULL;
	}
	if (t->leased && rootfs_store_release(t->store, t->id, &err) < 0) {
		log_warn("teardown: %s", berr_msg(err));
		berr_free(err);
		err = NULL;
	}
	if (t->dir && fs_rm_rf_at(AT_FDCWD, t->dir, &err) < 0) {
		log_warn("teardown: %s", berr_msg(err));
		berr_free(err);
		err = NULL;
	}
}

/* ------------------------------------------------------------ running */

static struct tctr *by_name(struct trun *t, const char *name)
{
	for (size_t i = 0; i < t->n; i++)
		if (!strcmp(t->c[i].def->name, name))
			return &t->c[i];
	return NULL;
}

MEMTRIM_IDLE_PATH static bool final(const struct tctr *c)
{
	return c->st == C_EXITED || c->st == C_FAILED || c->st == C_SKIPPED;
}

static int launch(struct trun *t, struct tctr *c, struct berr **err)
{
	struct ctr_launch l;
	uint64_t oom = 0;
	int r;

	ctr_launch_init(&l);
	l.spec = c->spec;
	l.rootfs = c->rootfs;
	l.cgroup_fd = c->cg_fd;
	l.netns_fd = t->net == TASK_NET_HOST ? CTR_NS_HOST : t->netns_fd;
	l.ipcns_fd = t->td->ipc_mode == TASK_NS_HOST ? CTR_NS_HOST
		     : t->ipcns_fd >= 0 ? t->ipcns_fd : CTR_NS_NEW;
	l.pidns_fd = t->td->pid_mode == TASK_NS_HOST ? CTR_NS_HOST
		     : t->pidns_fd >= 0 ? t->pidns_fd : CTR_NS_NEW;
	l.stdin_fd = -1;
	l.stdout_fd = c->out.wfd;
	l.stderr_fd = c->err.wfd;
	l.seccomp = c->seccomp;
	l.init_fd = c->spec->init ? t->init_fd : -1;
	if (c->cg && cg_oom_kills(c->cg, &oom, NULL) == 0)
		c->oom_seen = oom;
	r = ctr_launch(&l, &c->proc, err);
	if (r < 0)
		return r;
	if (t->cpu_max_pending) {
		struct cg_limits lim;

		cg_limits_init(&lim);
		lim.cpu_units = t->td->cpu;
		r = cg_limits_apply(t->cg_task, &lim, err);
		if (r < 0) {
			/* no limit, no container: nothing of it is left */
			siginfo_t si;

			kill(c->proc.pid, SIGKILL);
			waitid(P_PIDFD, (id_t)c->proc.pidfd, &si, WEXITED);
			ctr_proc_release(&c->proc);
			return r;
		}
		t->cpu_max_pending = false;
	}
	c->st = C_RUNNING;
	c->ever_started = true;
	c->started_ms = now_ms();
	c->stop_sent = c->kill_sent = false;
	c->health = H_UNKNOWN;
	c->hc_fails = 0;
	if (c->def->health_check.set) {
		c->hc_next_ms = c->started_ms + c->def->health_check.interval * 1000;
		c->hc_grace_end_ms = c->started_ms + c->def->health_check.start_period * 1000;
	}
	status(t, c, "started (pid %d)", (int)c->proc.pid);
	return 0;
}

static int exit_code_of(const siginfo_t *si)
{
	if (si->si_code == CLD_EXITED)
		return si->si_status;
	return 128 + si->si_status;
}

static void begin_stop(struct trun *t, const char *code, const char *reason, int exit_code,
		       bool have_exit)
{
	if (t->stopping)
		return;
	t->stopping = true;
	t->ts_stopping = epoch_now();
	t->stop_code = code;
	t->stopped_reason = xstrdup(reason);
	if (have_exit) {
		t->have_exit = true;
		t->exit_code = exit_code;
	}
	for (size_t i = 0; i < t->n; i++)
		if (t->c[i].st == C_PENDING)
			t->c[i].st = C_SKIPPED;
	status(t, NULL, "stopping: %s", reason);
}

/* Stop in reverse dependency order: a container gets its stop signal once
 * no running container depends on it; SIGKILL after its stopTimeout. */
static void advance_stop(struct trun *t, int64_t now)
{
	for (size_t i = 0; i < t->n; i++) {
		struct tctr *c = &t->c[i];
		bool needed = false;

		if (c->st != C_RUNNING)
			continue;
		if (c->stop_sent) {
			if (!c->kill_sent && now >= c->kill_at_ms) {
				status(t, c, "did not stop within %" PRId64 " s: SIGKILL", c->spec->stop_timeout);
				sys_pidfd_send_signal(c->proc.pidfd, SIGKILL);
				c->kill_sent = true;
			}
			continue;
		}
		for (size_t j = 0; j < t->n && !needed; j++) {
			const struct tctr *o = &t->c[j];

			if (o == c || o->st != C_RUNNING)
				continue;
			for (size_t k = 0; k < o->def->n_depends_on; k++)
				if (!strcmp(o->def->depends_on[k].container_name, c->def->name))
					needed = true;
		}
		if (needed)
			continue;
		if (t->interrupts > 1) {
			sys_pidfd_send_signal(c->proc.pidfd, SIGKILL);
			c->stop_sent = c->kill_sent = true;
			continue;
		}
		sys_pidfd_send_signal(c->proc.pidfd, c->spec->stop_signal);
		c->stop_sent = true;
		c->kill_at_ms = now + c->spec->stop_timeout * 1000;
	}
}

enum dep_state { DEP_WAIT, DEP_OK, DEP_NEVER };

static enum dep_state dep_check(struct trun *t, const struct task_depends_on *dep, const char **why)
{
	struct tctr *o = by_name(t, dep->container_name);

	if (!o) {
		*why = "is not in the task";
		return DEP_NEVER;
	}
	if (o->st == C_FAILED || o->st == C_SKIPPED) {
		*why = "did not start";
		return DEP_NEVER;
	}
	switch (dep->condition) {
	case TASK_DEP_START:
		return o->ever_started ? DEP_OK : DEP_WAIT;
	case TASK_DEP_COMPLETE:
		return o->st == C_EXITED ? DEP_OK : DEP_WAIT;
	case TASK_DEP_SUCCESS:
		if (o->st != C_EXITED)
			return DEP_WAIT;
		if (o->exit_code == 0)
			return DEP_OK;
		*why = "exited with a non-zero code (condition SUCCESS)";
		return DEP_NEVER;
	case TASK_DEP_HEALTHY:
		if (o->st == C_EXITED) {
			*why = "exited before it was HEALTHY";
			return DEP_NEVER;
		}
		return o->health == H_HEALTHY ? DEP_OK : DEP_WAIT;
	}
	return DEP_WAIT;
}

static void start_failed(struct trun *t, struct tctr *c, const char *reason, int code)
{
	c->st = C_FAILED;
	free(c->reason);
	c->reason = xstrdup(reason);
	status(t, c, "%s", reason);
	if (c->def->essential) {
		char *r = xasprintf("%s: %s", c->def->name, reason);

		begin_stop(t, "TaskFailedToStart", r, code, true);
		free(r);
	}
}

MEMTRIM_IDLE_PATH static void try_start(struct trun *t, int64_t now)
{
	bool progress = true;

	while (progress && !t->stopping) {
		progress = false;
		for (size_t i = 0; i < t->n && !t->stopping; i++) {
			struct tctr *c = &t->c[i];
			enum dep_state ds = DEP_OK;
			const char *why = NULL, *dep_name = NULL;
			struct berr *err = NULL;

			if (c->st != C_PENDING)
				continue;
			for (size_t k = 0; k < c->def->n_depends_on && ds != DEP_NEVER; k++) {
				enum dep_state s = dep_check(t, &c->def->depends_on[k], &why);

				if (s != DEP_OK) {
					ds = s;
					dep_name = c->def->depends_on[k].container_name;
				}
			}
			if (ds == DEP_WAIT && c->def->start_timeout > 0 &&
			    now - t->t0 >= c->def->start_timeout * 1000) {
				char *r = xasprintf("DependencyTimeout: %s did not meet its dependsOn condition "
						    "within startTimeout (%" PRId64 " s)", dep_name,
						    c->def->start_timeout);

				start_failed(t, c, r, 125);
				free(r);
				progress = true;
				continue;
			}
			if (ds == DEP_WAIT)
				continue;
			if (ds == DEP_NEVER) {
				char *r = xasprintf("DependencyNotResolved: %s %s", dep_name, why);

				start_failed(t, c, r, 125);
				free(r);
				progress = true;
				continue;
			}
			if (launch(t, c, &err) < 0) {
				char *r = xasprintf("CannotStartContainerError: %s", berr_msg(err));
				int code = err && err->code == ENOENT ? 127 : err && err->code == EACCES ? 126 : 125;

				start_failed(t, c, r, code);
				free(r);
				berr_free(err);
			}
			progress = true;
		}
	}
}

static bool restartable(const struct tctr *c, int64_t now)
{
	const struct task_restart_policy *rp = &c->def->restart_policy;
	int64_t period = rp->restart_attempt_period > 0 ? rp->restart_attempt_period : 300;

	if (!c->def->has_restart_policy || !rp->enabled)
		return false;
	for (size_t i = 0; i < rp->n_ignored_exit_codes; i++)
		if (rp->ignored_exit_codes[i] == c->exit_code)
			return false;
	return now - c->started_ms >= period * 1000;
}

/* A container in a shared pid namespace (pidMode task or host) is not the
 * init of its namespace: when its program ends, the kernel does not end the
 * processes it left. Kill what is left in its cgroup, as runc does for such
 * a container, before it is restarted or counted as stopped. (Without
 * cgroups they run on until the task ends: with pidMode task, until the
 * holder is killed at teardown.) */
static void kill_leftovers(struct trun *t, struct tctr *c)
{
	struct berr *err = NULL;

	if (!c->cg || (t->td->pid_mode != TASK_NS_TASK && t->td->pid_mode != TASK_NS_HOST))
		return;
	if (cg_kill(c->cg, &err) < 0) {
		log_warn("%s: kill the processes it left: %s", c->def->name, berr_msg(err));
		berr_free(err);
	}
}

/* ------------------------------------------------------------------ exec */

static struct texec *exec_by_id(struct trun *t, uint64_t id)
{
	for (size_t i = 0; i < t->n_execs; i++)
		if (t->execs[i].id == id)
			return &t->execs[i];
	return NULL;
}

/* The exec'd process has been reaped (si): forget it, then tell its owner
 * (which may start another exec from the callback). */
static void exec_finish(struct trun *t, struct texec *e, const siginfo_t *si)
{
	struct texec done = *e;
	int code = exit_code_of(si);
	size_t i = (size_t)(e - t->execs);

	memmove(&t->execs[i], &t->execs[i + 1], (t->n_execs - i - 1) * sizeof(*e));
	t->n_execs--;
	ctr_proc_release(&done.proc);
	log_debug("%s: exec %" PRIu64 " (pid %d) exited with code %d", done.c->def->name, done.id,
		  (int)done.proc.pid, code);
	if (done.on_exit)
		done.on_exit(done.arg, done.id, code);
}

/* Reap an exec'd process if it has ended. */
static void exec_check(struct trun *t, uint64_t id)
{
	struct texec *e = exec_by_id(t, id);
	siginfo_t si = { 0 };

	if (e && waitid(P_PIDFD, (id_t)e->proc.pidfd, &si, WEXITED | WNOHANG) == 0 && si.si_pid)
		exec_finish(t, e, &si);
}

/* Every exec'd process of c (NULL: of every container) gets SIGKILL. */
static void exec_kill_of(struct trun *t, const struct tctr *c)
{
	for (size_t i = 0; i < t->n_execs; i++)
		if (!c || t->execs[i].c == c)
			sys_pidfd_send_signal(t->execs[i].proc.pidfd, SIGKILL);
}

/* Teardown: kill and reap every exec'd process, telling their owners. */
static void exec_end_all(struct trun *t)
{
	exec_kill_of(t, NULL);
	while (t->n_execs) {
		struct texec *e = &t->execs[0];
		siginfo_t si = { 0 };

		while (waitid(P_PIDFD, (id_t)e->proc.pidfd, &si, WEXITED) < 0 && errno == EINTR)
			;
		if (!si.si_pid) {
			/* cannot happen (our child, killed): report it as killed */
			si.si_code = CLD_KILLED;
			si.si_status = SIGKILL;
		}
		exec_finish(t, e, &si);
	}
}

int trun_exec_kill(struct trun *t, uint64_t id)
{
	struct texec *e = exec_by_id(t, id);

	if (!e)
		return -ESRCH;
	if (sys_pidfd_send_signal(e->proc.pidfd, SIGKILL) < 0 && errno != ESRCH)
		return -errno;
	return 0;
}

static const char *cstate_name(enum cstate st)
{
	switch (st) {
	case C_PENDING: return "PENDING";
	case C_RUNNING: return "RUNNING";
	default: return "STOPPED";
	}
}

/* The container's environment with req_env set over it (xmalloc'd array,
 * the strings borrowed). */
static char **exec_env(char *const *base, const char *const *req_env)
{
	size_t n = 0, m = 0;
	char **out;

	while (base && base[n])
		n++;
	while (req_env && req_env[m])
		m++;
	out = xcalloc(n + m + 1, sizeof(*out));
	memcpy(out, base, n * sizeof(*out));
	for (size_t k = 0; k < m; k++) {
		const char *kv = req_env[k];
		size_t klen = (size_t)(strchr(kv, '=') - kv) + 1, i;

		for (i = 0; i < n; i++)
			if (!strncmp(out[i], kv, klen))
				break;
		out[i] = (char *)kv;
		if (i == n)
			n++;
	}
	return out;
}

/* "-u USER": the user resolved as the definition's "user" would be,
 * against the container's current /etc/passwd and /etc/group (its root
 * filesystem as mounted here). *out gets uid, gid, groups and user. */
static int exec_user(struct trun *t, struct tctr *c, const char *user, struct ctr_spec **out,
		     struct berr **err)
{
	struct task_def td = *t->td;
	cleanup_free struct task_container *cs = xcalloc(td.n_containers, sizeof(*cs));
	struct ctr_resolve_opts ro = { 0 };
	cleanup_close int rootfs_fd = -1;
	struct task_container *ct;

	memcpy(cs, t->td->containers, td.n_containers * sizeof(*cs));
	td.containers = cs;
	ct = &cs[c->idx];
	/* only the user matters: nothing else that reads host files */
	ct->user = (char *)user;
	ct->environment_files = NULL;
	ct->n_environment_files = 0;
	ct->mount_points = NULL;
	ct->n_mount_points = 0;
	ct->volumes_from = NULL;
	ct->n_volumes_from = 0;
	rootfs_fd = open(c->rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfs_fd < 0)
		return berr_set(err, errno, "open %s", c->rootfs);
	return ctr_spec_resolve(&td, c->idx, c->have_cfg ? &c->cfg : NULL, rootfs_fd, &ro, out, err);
}

int trun_exec(struct trun *t, const struct trun_exec_req *req, struct trun_exec_info *info,
	      enum trun_exec_status *why, struct berr **err)
{
	struct ctr_spec *user_spec = NULL;
	cleanup_free char **env = NULL;
	struct ctr_spec spec;
	struct ctr_launch l;
	struct ctr_proc proc;
	struct texec *e;
	struct tctr *c = NULL;
	int r;

	*why = TRUN_EXEC_BAD_REQUEST;
	if (!req->argv || !req->argv[0] || !req->argv[0][0])
		return berr_set(err, 0, "exec: no command");
	if (req->workdir && req->workdir[0] != '/')
		return berr_set(err, 0, "exec: working directory \"%s\" is not an absolute path",
				berr_q(req->workdir));
	for (const char *const *kv = req->env; kv && *kv; kv++)
		if (!strchr(*kv, '=') || **kv == '=')
			return berr_set(err, 0, "exec: environment entry \"%s\" is not NAME=value",
					berr_q(*kv));
	if (req->user && !*req->user)
		return berr_set(err, 0, "exec: empty user");

	*why = TRUN_EXEC_NOT_RUNNING;
	if (t->stopping || t->status >= TRUN_DEPROVISIONING)
		return berr_set(err, 0, "task %s is stopping", t->id);
	if (t->status != TRUN_PENDING && t->status != TRUN_RUNNING)
		return berr_set(err, 0, "task %s is not running yet (%s)", t->id,
				trun_status_name(t->status));
	if (req->container) {
		c = by_name(t, req->container);
	} else {
		for (size_t i = 0; i < t->n && !c; i++)
			if (t->c[i].def->essential)
				c = &t->c[i];
	}
	if (!c) {
		cleanup_free char *names = xstrdup("");

		for (size_t i = 0; i < t->n; i++) {
			char *more = xasprintf("%s%s%s", names, i ? ", " : "", t->c[i].def->name);

			free(names);
			names = more;
		}
		*why = TRUN_EXEC_NO_CONTAINER;
		return berr_set(err, 0, "task %s has no container \"%s\" (it has: %s)", t->id,
				berr_q(req->container ? req->container : "(essential)"), names);
	}
	if (c->st != C_RUNNING)
		return berr_set(err, 0, "container %s is not RUNNING (%s)", c->def->name,
				cstate_name(c->st));
	if (t->n_execs >= TRUN_MAX_EXECS) {
		*why = TRUN_EXEC_BUSY;
		return berr_set(err, 0, "container %s: %d exec'd processes run already", c->def->name,
				TRUN_MAX_EXECS);
	}

	spec = *c->spec;
	if (req->env && req->env[0]) {
		env = exec_env(c->spec->env, req->env);
		spec.env = env;
	}
	if (req->workdir)
		spec.cwd = (char *)req->workdir;
	if (req->user) {
		if ((r = exec_user(t, c, req->user, &user_spec, err)) < 0) {
			*why = TRUN_EXEC_CANNOT_RUN;
			return berr_wrap(err, "exec as user \"%s\"", berr_q(req->user)), r;
		}
		spec.uid = user_spec->uid;
		spec.gid = user_spec->gid;
		spec.groups = user_spec->groups;
		spec.n_groups = user_spec->n_groups;
		spec.user = user_spec->user;
	}
	ctr_launch_init(&l);
	l.spec = &spec;
	l.cgroup_fd = c->cg_fd;
	l.stdin_fd = req->stdin_fd;
	l.stdout_fd = req->stdout_fd;
	l.stderr_fd = req->stderr_fd;
	l.seccomp = c->seccomp;
	l.tty = req->tty;
	r = ctr_exec(&l, &c->proc, req->argv, &proc, err);
	ctr_spec_free(user_spec);
	if (r < 0) {
		*why = proc.exec_errno == ENOENT || proc.exec_errno == ENOTDIR ? TRUN_EXEC_NOT_FOUND
									      : TRUN_EXEC_CANNOT_RUN;
		return r;
	}
	e = &t->execs[t->n_execs++];
	*e = (struct texec){ .id = ++t->exec_seq, .c = c, .proc = proc, .on_exit = req->on_exit,
			     .arg = req->arg };
	log_debug("%s: exec %" PRIu64 " (pid %d): %s", c->def->name, e->id, (int)proc.pid, req->argv[0]);
	*why = TRUN_EXEC_OK;
	*info = (struct trun_exec_info){ .id = e->id, .container = c->def->name, .pid = proc.pid,
					 .pidfd = proc.pidfd };
	return 0;
}

static void on_exit_of(struct trun *t, struct tctr *c, const siginfo_t *si, int64_t now)
{
	uint64_t oom = 0;

	c->exit_code = exit_code_of(si);
	kill_leftovers(t, c);
	/* exec'd processes die with the container's program (as docker exec's) */
	exec_kill_of(t, c);
	drain(t, c, &c->out, false, true);
	drain(t, c, &c->err, true, true);
	ctr_proc_release(&c->proc);
	free(c->reason);
	c->reason = NULL;
	if (c->cg && cg_oom_kills(c->cg, &oom, NULL) == 0 && oom > c->oom_seen &&
	    si->si_code != CLD_EXITED && si->si_status == SIGKILL) {
		c->reason = xstrdup(OOM_REASON);
		c->exit_code = 137;
	}
	if (c->hc_running) {
		siginfo_t hsi;

		sys_pidfd_send_signal(c->hc.pidfd, SIGKILL);
		waitid(P_PIDFD, (id_t)c->hc.pidfd, &hsi, WEXITED);
		ctr_proc_release(&c->hc);
		c->hc_running = false;
		close_fd(&c->hc_pipe);
	}
	status(t, c, "exited with code %d%s%s", c->exit_code, c->reason ? ": " : "",
	       c->reason ? c->reason : "");
	if (!t->stopping && restartable(c, now)) {
		struct berr *err = NULL;

		c->restarts++;
		status(t, c, "restarting (restartPolicy, restart %d)", c->restarts);
		if (launch(t, c, &err) == 0)
			return;
		status(t, c, "restart failed: %s", berr_msg(err));
		berr_free(err);
	}
	c->st = C_EXITED;
	if (c->def->essential && !t->stopping)
		begin_stop(t, "EssentialContainerExited", "Essential container in task exited",
			   c->exit_code, true);
	else if (c->def->essential && !t->have_exit) {
		t->have_exit = true;
		t->exit_code = c->exit_code;
	}
}

static void hc_start(struct trun *t, struct tctr *c, int64_t now)
{
	const struct task_health_check *hc = &c->def->health_check;
	struct ctr_launch l;
	struct berr *err = NULL;
	char **argv;
	size_t n = 0;
	int p[2];

	c->hc_next_ms = now + hc->interval * 1000;
	while (hc->command[n])
		n++;
	if (!strcmp(hc->command[0], "CMD-SHELL")) {
		argv = xcalloc(4, sizeof(*argv));
		argv[0] = (char *)"/bin/sh";
		argv[1] = (char *)"-c";
		argv[2] = n > 1 ? hc->command[1] : (char *)"";
	} else {
		argv = xcalloc(n + 1, sizeof(*argv));
		for (size_t i = 1; i < n; i++)
			argv[i - 1] = hc->command[i];
	}
	if (pipe2(p, O_CLOEXEC) < 0) {
		free(argv);
		return;
	}
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	ctr_launch_init(&l);
	l.spec = c->spec;
	l.cgroup_fd = c->cg_fd;
	l.stdout_fd = p[1];
	l.stderr_fd = p[1];
	l.seccomp = c->seccomp;
	if (ctr_exec(&l, &c->proc, argv, &c->hc, &err) < 0) {
		log_debug("%s: health check could not start: %s", c->def->name, berr_msg(err));
		berr_free(err);
		close(p[0]);
		close(p[1]);
		free(argv);
		/* counts as a failed check */
		if (now >= c->hc_grace_end_ms && ++c->hc_fails >= hc->retries && c->health != H_UNHEALTHY) {
			status(t, c, "health %s -> UNHEALTHY", health_names[c->health]);
			c->health = H_UNHEALTHY;
		}
		return;
	}
	free(argv);
	close(p[1]);
	c->hc_pipe = p[0];
	c->hc_out_len = 0;
	c->hc_running = true;
	c->hc_deadline_ms = now + hc->timeout * 1000;
}

static void hc_done(struct trun *t, struct tctr *c, bool timed_out, int code, int64_t now)
{
	const struct task_health_check *hc = &c->def->health_check;
	enum health before = c->health;

	if (c->hc_pipe >= 0) {
		ssize_t r;

		while (c->hc_out_len < sizeof(c->hc_out) &&
		       (r = read(c->hc_pipe, c->hc_out + c->hc_out_len,
				 sizeof(c->hc_out) - c->hc_out_len)) > 0)
			c->hc_out_len += (size_t)r;
	}
	close_fd(&c->hc_pipe);
	ctr_proc_release(&c->hc);
	c->hc_running = false;
	if (!timed_out && code == 0) {
		c->hc_fails = 0;
		c->health = H_HEALTHY;
	} else if (now >= c->hc_grace_end_ms) {
		if (++c->hc_fails >= hc->retries)
			c->health = H_UNHEALTHY;
		log_debug("%s: health check failed (%s): %.*s", c->def->name,
			  timed_out ? "timeout" : "exit code", (int)c->hc_out_len, c->hc_out);
	}
	if (before != c->health)
		status(t, c, "health %s -> %s", health_names[before], health_names[c->health]);
}

static void on_signal(struct trun *t)
{
	struct signalfd_siginfo si;

	while (read(t->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGCHLD)
			continue;
		t->interrupts++;
		if (t->interrupts == 1)
			begin_stop(t, "UserInitiated", "Task stopped by user", 0, false);
		else
			status(t, NULL, "second interrupt: killing every container now");
	}
}

MEMTRIM_IDLE_PATH static bool done(const struct trun *t)
{
	for (size_t i = 0; i < t->n; i++)
		if (!final(&t->c[i]))
			return false;
	return true;
}

/* Pending containers that wait on something that cannot happen any more
 * (everything else final) would wait for ever: fail them. */
MEMTRIM_IDLE_PATH static void resolve_stuck(struct trun *t)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->c[i].st == C_RUNNING)
			return;
	for (size_t i = 0; i < t->n; i++)
		if (t->c[i].st == C_PENDING)
			start_failed(t, &t->c[i], "DependencyNotResolved: its dependencies can no longer be met", 125);
}

/* ------------------------------------------- state for clients (hooks) */

const char *trun_status_name(enum trun_status s)
{
	static const char *const names[] = { "PROVISIONING", "PENDING", "RUNNING",
					     "DEPROVISIONING", "STOPPED" };

	return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "UNKNOWN";
}

/* ECS: HEALTHY when every essential container with a health check is
 * HEALTHY, UNHEALTHY when one of them is UNHEALTHY, UNKNOWN otherwise. */
MEMTRIM_IDLE_PATH static enum health task_health(const struct trun *t)
{
	bool any = false, all = true;

	for (size_t i = 0; i < t->n; i++) {
		const struct tctr *c = &t->c[i];

		if (!c->def->essential || !c->def->health_check.set)
			continue;
		any = true;
		if (c->health == H_UNHEALTHY)
			return H_UNHEALTHY;
		if (c->health != H_HEALTHY)
			all = false;
	}
	return any && all ? H_HEALTHY : H_UNKNOWN;
}

MEMTRIM_IDLE_PATH static struct pub_ctr pub_ctr_of(const struct tctr *c)
{
	return (struct pub_ctr){
		.st = c->st,
		.health = c->def->health_check.set ? (int)c->health : H_UNKNOWN,
		.exit_code = c->st == C_EXITED ? c->exit_code : -1,
		.restarts = c->restarts,
		.pid = c->st == C_RUNNING ? c->proc.pid : 0,
		.reason = c->reason != NULL,
	};
}

MEMTRIM_IDLE_PATH static struct pub_task pub_task_of(const struct trun *t)
{
	return (struct pub_task){
		.status = t->status, .health = task_health(t), .exit_code = t->exit_code,
		.stopping = t->stopping, .have_exit = t->have_exit, .ipv4 = t->ipv4[0] != '\0',
	};
}

MEMTRIM_IDLE_PATH static bool pub_changed(const struct trun *t)
{
	struct pub_task pt = pub_task_of(t);

	if (!t->published || pt.status != t->pub_task.status || pt.health != t->pub_task.health ||
	    pt.exit_code != t->pub_task.exit_code || pt.stopping != t->pub_task.stopping ||
	    pt.have_exit != t->pub_task.have_exit || pt.ipv4 != t->pub_task.ipv4)
		return true;
	for (size_t i = 0; i < t->n; i++) {
		struct pub_ctr a = pub_ctr_of(&t->c[i]);
		const struct pub_ctr *b = &t->pub[i];

		if (a.st != b->st || a.health != b->health || a.exit_code != b->exit_code ||
		    a.restarts != b->restarts || a.pid != b->pid || a.reason != b->reason)
			return true;
	}
	return false;
}

/* Call on_state when something a client sees changed since the last call
 * (always with force). */
MEMTRIM_IDLE_PATH static void publish(struct trun *t, bool force)
{
	struct trun_container_state *cs;
	struct trun_state st;
	size_t nb = 0;

	if (!t->o->on_state || (!force && !pub_changed(t)))
		return;
	if (!t->pub)
		t->pub = xcalloc(t->n ? t->n : 1, sizeof(*t->pub));
	t->pub_task = pub_task_of(t);
	for (size_t i = 0; i < t->n; i++)
		t->pub[i] = pub_ctr_of(&t->c[i]);
	t->published = true;

	st = (struct trun_state){
		.task_id = t->id,
		.status = t->status,
		.desired_stopped = t->stopping || t->status >= TRUN_DEPROVISIONING,
		.health = health_names[t->pub_task.health],
		.stop_code = t->stop_code,
		.stopped_reason = t->stopped_reason,
		.have_exit_code = t->have_exit,
		.exit_code = t->have_exit ? t->exit_code : -1,
		.limits = !t->o->no_limits,
		.ipv4 = t->ipv4,
		.pull_started_at = t->ts_pull_start,
		.pull_stopped_at = t->ts_pull_stop,
		.connectivity_at = t->ts_connect,
		.started_at = t->ts_started,
		.stopping_at = t->ts_stopping,
		.execution_stopped_at = t->ts_exec_stopped,
		.stopped_at = t->ts_stopped,
		.n_containers = t->n,
	};
	cs = xcalloc(t->n ? t->n : 1, sizeof(*cs));
	for (size_t i = 0; i < t->n; i++) {
		const struct tctr *c = &t->c[i];
		struct trun_container_state *s = &cs[i];
		size_t np = c->def->n_port_mappings;

		s->name = c->def->name;
		s->essential = c->def->essential;
		if (c->st == C_RUNNING && t->status < TRUN_STOPPED)
			s->last_status = "RUNNING";
		else if (c->st == C_PENDING && t->status < TRUN_DEPROVISIONING)
			s->last_status = "PENDING";
		else
			s->last_status = "STOPPED";
		s->exit_code = t->pub[i].exit_code;
		s->reason = c->reason;
		s->health = health_names[t->pub[i].health];
		s->restarts = c->restarts;
		s->pid = t->pub[i].pid;
		s->pidfd = c->st == C_RUNNING ? c->proc.pidfd : -1;
		/* taskrun reserved host ports in portMappings order over the containers */
		if (nb < t->n_bindings) {
			s->bindings = t->bindings + nb;
			s->n_bindings = np < t->n_bindings - nb ? np : t->n_bindings - nb;
		}
		nb += np;
	}
	st.containers = cs;
	t->o->on_state(t->o->state_arg, &st);
	free(cs);
}

static void set_status(struct trun *t, enum trun_status s)
{
	double now = epoch_now();

	t->status = s;
	switch (s) {
	case TRUN_PENDING:
		t->ts_connect = now;
		break;
	case TRUN_RUNNING:
		t->ts_started = now;
		t->quiet_due = true;
		t->last_event_ms = now_ms();
		break;
	case TRUN_DEPROVISIONING:
		if (!t->ts_stopping)
			t->ts_stopping = now;
		t->ts_exec_stopped = now;
		break;
	case TRUN_STOPPED:
		t->ts_stopped = now;
		break;
	default:
		break;
	}
	publish(t, true);
}

/* Every container that will run has started (ECS's RUNNING). */
MEMTRIM_IDLE_PATH static bool all_started(const struct trun *t)
{
	bool any = false;

	for (size_t i = 0; i < t->n; i++) {
		if (t->c[i].st == C_PENDING)
			return false;
		if (t->c[i].ever_started)
			any = true;
	}
	return any;
}

static void handle_ctl(struct trun *t)
{
	const char *code = NULL;
	char *reason = NULL;

	if (!t->o->on_ctl)
		return;
	if (t->o->on_ctl(t->o->ctl_arg, &code, &reason))
		begin_stop(t, code ? code : "UserInitiated", reason ? reason : "Task stopped by user",
			   0, false);
	free(reason);
}

/* Look at ctl_fd without waiting (around set-up, which does not poll). */
static void poll_ctl(struct trun *t)
{
	struct pollfd p = { .fd = t->o->ctl_fd, .events = POLLIN };

	if (t->o->ctl_fd >= 0 && t->o->on_ctl && poll(&p, 1, 0) > 0 && (p.revents & POLLIN))
		handle_ctl(t);
}

/* on_quiet (taskrun.h): call it now if the loop has been quiet long
 * enough, else bring *next forward to when it will have been. */
MEMTRIM_IDLE_PATH static void quiet(struct trun *t, int64_t now, int64_t *next)
{
	int64_t at;

	if (!t->o->on_quiet || !t->quiet_due || t->status != TRUN_RUNNING || t->stopping)
		return;
	at = t->last_event_ms + t->o->quiet_ms;
	if (t->last_quiet_ms && t->last_quiet_ms + t->o->quiet_gap_ms > at)
		at = t->last_quiet_ms + t->o->quiet_gap_ms;
	if (at > now) {
		if (at < *next)
			*next = at;
		return;
	}
	t->quiet_due = false;
	/* The gap runs from the clock read right here, not from the loop's
	 * `now` (taken before the turn's work: under load it was stale by
	 * tens of ms, and the next call came that much early). Read before
	 * the call, not after it: on_quiet then stays a tail call, nothing
	 * of this function runs after the drop, and an idle shim keeps 479
	 * KiB, not 542 (host.sh -n 50, measured both ways). */
	t->last_quiet_ms = now_ms();
	t->o->on_quiet(t->o->quiet_arg);
}

MEMTRIM_IDLE_PATH static int loop(struct trun *t)
{
	enum { MAXFDS = 3 + 10 * 5 + TRUN_MAX_EXECS };

	for (;;) {
		struct pollfd pfd[MAXFDS];
		struct { struct tctr *c; int kind; uint64_t exec_id; } who[MAXFDS];
		int64_t now = now_ms(), next = now + 60000;
		size_t np = 0;
		int r;

		try_start(t, now);
		if (t->status == TRUN_PENDING && !t->stopping && all_started(t))
			set_status(t, TRUN_RUNNING);
		if (t->stopping)
			advance_stop(t, now);
		if (done(t))
			return 0;
		if (!t->stopping)
			resolve_stuck(t);
		if (done(t))
			return 0;
		publish(t, false);
		quiet(t, now, &next);

		pfd[np] = (struct pollfd){ .fd = t->sfd, .events = POLLIN };
		who[np].c = NULL;
		who[np++].kind = 8;
		if (t->o->stop_fd >= 0 && !t->stopping) {
			pfd[np] = (struct pollfd){ .fd = t->o->stop_fd, .events = POLLIN };
			who[np].c = NULL;
			who[np++].kind = 9;
		}
		if (t->o->ctl_fd >= 0 && t->o->on_ctl) {
			pfd[np] = (struct pollfd){ .fd = t->o->ctl_fd, .events = POLLIN };
			who[np].c = NULL;
			who[np++].kind = 10;
		}
		for (size_t i = 0; i < t->n; i++) {
			struct tctr *c = &t->c[i];

			if (c->st != C_RUNNING)
				continue;
			pfd[np] = (struct pollfd){ .fd = c->proc.pidfd, .events = POLLIN };
			who[np].c = c;
			who[np++].kind = 0;
			pfd[np] = (struct pollfd){ .fd = c->out.fd, .events = POLLIN };
			who[np].c = c;
			who[np++].kind = 1;
			pfd[np] = (struct pollfd){ .fd = c->err.fd, .events = POLLIN };
			who[np].c = c;
			who[np++].kind = 2;
			if (c->events_fd >= 0) {
				pfd[np] = (struct pollfd){ .fd = c->events_fd, .events = POLLPRI };
				who[np].c = c;
				who[np++].kind = 3;
			}
			if (c->hc_running) {
				pfd[np] = (struct pollfd){ .fd = c->hc.pidfd, .events = POLLIN };
				who[np].c = c;
				who[np++].kind = 4;
				if (c->hc_deadline_ms < next)
					next = c->hc_deadline_ms;
			} else if (c->def->health_check.set && !t->stopping && c->hc_next_ms < next) {
				next = c->hc_next_ms;
			}
			if (c->stop_sent && !c->kill_sent && c->kill_at_ms < next)
				next = c->kill_at_ms;
		}
		for (size_t i = 0; i < t->n_execs; i++) {
			pfd[np] = (struct pollfd){ .fd = t->execs[i].proc.pidfd, .events = POLLIN };
			who[np].c = NULL;
			who[np].exec_id = t->execs[i].id;
			who[np++].kind = 11;
		}
		for (size_t i = 0; i < t->n; i++) {
			const struct tctr *c = &t->c[i];

			if (c->st == C_PENDING && c->def->start_timeout > 0 &&
			    t->t0 + c->def->start_timeout * 1000 < next)
				next = t->t0 + c->def->start_timeout * 1000;
		}
		r = poll(pfd, np, next > now ? (int)(next - now) : 0);
		if (r < 0 && errno != EINTR)
			return -errno;
		now = now_ms();
		if (r > 0) {
			t->last_event_ms = now;
			t->quiet_due = true;
		}
		for (size_t i = 0; r > 0 && i < np; i++) {
			struct tctr *c = who[i].c;

			if (!pfd[i].revents)
				continue;
			if (!c) {
				if (who[i].kind == 9)
					begin_stop(t, "UserInitiated", "Task stopped by user", 0, false);
				else if (who[i].kind == 10)
					handle_ctl(t);
				else if (who[i].kind == 11)
					exec_check(t, who[i].exec_id);
				else
					on_signal(t);
				continue;
			}
			switch (who[i].kind) {
			case 1:
				drain(t, c, &c->out, false, false);
				break;
			case 2:
				drain(t, c, &c->err, true, false);
				break;
			case 3: {
				uint64_t k = 0;

				if (cg_events_read(c->events_fd, "oom_kill", &k, NULL) == 0 &&
				    k > c->oom_seen && k > c->oom_reported) {
					status(t, c, "memory limit reached: the kernel OOM-killed a process "
						     "(oom_kill %" PRIu64 ")", k);
					c->oom_reported = k;
				}
				break;
			}
			case 4: {
				siginfo_t si = { 0 };

				if (waitid(P_PIDFD, (id_t)c->hc.pidfd, &si, WEXITED | WNOHANG) == 0 && si.si_pid)
					hc_done(t, c, false, exit_code_of(&si), now);
				break;
			}
			default:
				break;
			}
		}
		/* exits after output, so the last lines come first */
		for (size_t i = 0; i < np; i++) {
			struct tctr *c = who[i].c;
			siginfo_t si = { 0 };

			if (!c || who[i].kind != 0 || !pfd[i].revents || c->st != C_RUNNING)
				continue;
			if (waitid(P_PIDFD, (id_t)c->proc.pidfd, &si, WEXITED | WNOHANG) == 0 && si.si_pid)
				on_exit_of(t, c, &si, now);
		}
		for (size_t i = 0; i < t->n; i++) {
			struct tctr *c = &t->c[i];

			if (c->st != C_RUNNING || !c->def->health_check.set)
				continue;
			if (c->hc_running && now >= c->hc_deadline_ms) {
				siginfo_t si;

				sys_pidfd_send_signal(c->hc.pidfd, SIGKILL);
				waitid(P_PIDFD, (id_t)c->hc.pidfd, &si, WEXITED);
				hc_done(t, c, true, -1, now);
			} else if (!c->hc_running && !t->stopping && now >= c->hc_next_ms) {
				hc_start(t, c, now);
			}
		}
	}
}

/* ------------------------------------------------------------- result */

static void fill_result(struct trun *t, struct trun_result *res)
{
	snprintf(res->task_id, sizeof(res->task_id), "%s", t->id);
	res->limits = !t->o->no_limits;
	snprintf(res->ipv4, sizeof(res->ipv4), "%s", t->ipv4);
	res->bindings = t->bindings;
	res->n_bindings = t->n_bindings;
	t->bindings = NULL;
	t->n_bindings = 0;
	res->stop_code = t->stop_code;
	res->stopped_reason = t->stopped_reason ? xstrdup(t->stopped_reason) : NULL;
	res->exit_code = t->have_exit ? t->exit_code : 125;
	res->have_exit_code = t->have_exit;
	res->n_containers = t->n;
	res->containers = xcalloc(t->n ? t->n : 1, sizeof(*res->containers));
	for (size_t i = 0; i < t->n; i++) {
		struct tctr *c = &t->c[i];
		struct trun_container_result *cr = &res->containers[i];

		cr->name = xstrdup(c->def->name);
		cr->essential = c->def->essential;
		cr->started = c->ever_started;
		cr->exit_code = c->st == C_EXITED ? c->exit_code : -1;
		cr->reason = c->reason ? xstrdup(c->reason) : NULL;
		cr->health = c->def->health_check.set ? health_names[c->health] : "UNKNOWN";
		cr->restarts = c->restarts;
	}
}

void trun_result_free(struct trun_result *res)
{
	if (!res)
		return;
	for (size_t i = 0; i < res->n_containers; i++) {
		free(res->containers[i].name);
		free(res->containers[i].reason);
	}
	free(res->containers);
	free(res->stopped_reason);
	free(res->bindings);
	memset(res, 0, sizeof(*res));
}

int trun_run(const struct task_def *td, const struct trun_opts *o, struct trun_result *res,
	     struct berr **err)
{
	struct trun t = { .td = td, .o = o, .netns_fd = -1, .ipcns_fd = -1, .pidns_fd = -1,
			  .init_fd = -1, .sfd = -1, .tnet = { .nsfd = -1 } };
	sigset_t mask, old;
	int r;

	memset(res, 0, sizeof(*res));
	if (o->task_id) {
		r = rootfs_ephemeral_check_task_id(o->task_id, err);
		if (r < 0)
			return r;
		snprintf(t.id, sizeof(t.id), "%s", o->task_id);
	} else if ((r = make_id(t.id, sizeof(t.id), err)) < 0) {
		return r;
	}
	/* secrets come from berthd's store (berth-shim --secrets-fd): a task
	 * run without berthd cannot have them */
	for (size_t i = 0; i < td->n_containers; i++)
		for (size_t k = 0; k < td->containers[i].n_secrets; k++)
			if (!td->containers[i].secrets[k].value)
				return berr_set(err, 0, "containerDefinitions[%zu].secrets[%zu] (%s of "
						"container %s): secrets need berthd, which keeps them "
						"(berth secret put; run the task with berth run --detach)",
						i, k, td->containers[i].secrets[k].name,
						td->containers[i].name);
	t.n = td->n_containers;
	t.c = xcalloc(t.n, sizeof(*t.c));
	for (size_t i = 0; i < t.n; i++) {
		struct tctr *c = &t.c[i];

		c->idx = i;
		c->def = &td->containers[i];
		c->cg_fd = c->events_fd = c->log_fd = c->hc_pipe = -1;
		c->out.fd = c->out.wfd = c->err.fd = c->err.wfd = -1;
		c->proc.pidfd = c->hc.pidfd = -1;
		c->exit_code = -1;
		c->pull_idx = -1;
	}
	t.t0 = now_ms();

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, &old);
	t.sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (t.sfd < 0) {
		r = berr_set(err, errno, "signalfd");
		goto out;
	}

	if (o->on_attach)
		o->on_attach(o->attach_arg, &t);
	set_status(&t, TRUN_PROVISIONING);
	poll_ctl(&t);
	if (t.stopping)
		goto out;       /* stopped before set-up: nothing to start */
	r = setup(&t, err);
	if (r < 0 && t.stopping) {
		/* stopped during set-up (while its images were pulled): a stop,
		 * not a failure; nothing started */
		log_debug("task %s: %s", t.id, berr_msg(*err));
		berr_clear(err);
		r = 0;
		goto out;
	}
	if (r < 0) {
		t.stop_code = "TaskFailedToStart";
		t.stopped_reason = xstrdup(berr_msg(*err));
		goto out;
	}
	set_status(&t, TRUN_PENDING);
	poll_ctl(&t);
	status(&t, NULL, "running %s (%zu container%s)%s", td->family, t.n, t.n == 1 ? "" : "s",
	       o->no_limits ? " WITHOUT resource limits (--no-limits)" : "");
	r = loop(&t);
	if (r < 0)
		r = berr_set(err, -r, "supervising the task");
	else if (t.stop_code && !strcmp(t.stop_code, "TaskFailedToStart"))
		r = berr_set(err, 0, "%s", t.stopped_reason);
out:
	set_status(&t, TRUN_DEPROVISIONING);
	teardown(&t);
	set_status(&t, TRUN_STOPPED);
	if (o->on_attach)
		o->on_attach(o->attach_arg, NULL);
	fill_result(&t, res);
	if (t.sfd >= 0)
		close(t.sfd);
	sigprocmask(SIG_SETMASK, &old, NULL);
	for (size_t i = 0; i < t.n; i++) {
		struct tctr *c = &t.c[i];

		wipe_secrets(c->spec, c->def);
		ctr_spec_free(c->spec);
		if (c->have_img)
			rootfs_image_free(&c->img);
		if (c->have_cfg)
			oci_config_free(&c->cfg);
		free(c->dir);
		free(c->rootfs);
		free(c->nested);
		free(c->cg);
		free(c->reason);
	}
	free(t.c);
	if (t.store)
		rootfs_store_close(t.store);
	free(t.dir);
	free(t.logdir);
	free(t.cg_task);
	free(t.cg_pause);
	free(t.hosts);
	free(t.resolv);
	free(t.volumes);
	free(t.eph_base);
	free(t.stopped_reason);
	free(t.bindings);
	free(t.pub);
	/* t.init_fd is the process-wide cached memfd: stays open */
	return r;
}
