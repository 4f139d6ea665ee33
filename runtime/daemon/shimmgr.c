/* runtime/daemon/shimmgr.c - berthd's side of the task shims. */
#include "runtime/daemon/shimmgr.h"

#include "runtime/daemon/api.h"
#include "runtime/daemon/daemon.h"
#include "runtime/daemon/server.h"
#include "runtime/daemon/store.h"
#include "runtime/shim/shim.h"
#include "runtime/shim/shimclient.h"

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/json.h"
#include "common/log.h"
#include "common/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

struct shim_ent;

struct ent_pid {
	struct ev_handler h;
	struct shim_ent *e;
};

struct shim_ent {
	struct ev_handler h;           /* the control connection */
	struct ent_pid pidh;           /* the shim process's pidfd */
	struct shimmgr *m;
	struct shim_ent *prev, *next;
	char id[SHIM_TASK_ID_LEN + 1];
	char *bundle;
	int fd, pidfd;
	pid_t pid;
	int64_t cpu, memory;
	uint64_t seq;                  /* the last snapshot applied */
	char *stop_reason;             /* a stop not yet delivered */
};

struct shimmgr {
	struct berthd *d;
	struct shim_ent *list;
	size_t n;
};

int shimmgr_new(struct berthd *d, struct shimmgr **out, struct berr **err)
{
	struct shimmgr *m = xcalloc(1, sizeof(*m));

	(void)err;
	m->d = d;
	*out = m;
	return 0;
}

static void ent_free(struct shim_ent *e)
{
	struct shimmgr *m = e->m;

	if (e->fd >= 0) {
		server_unwatch(m->d, e->fd);
		close(e->fd);
	}
	if (e->pidfd >= 0) {
		server_unwatch(m->d, e->pidfd);
		close(e->pidfd);
	}
	if (e->prev)
		e->prev->next = e->next;
	else if (m->list == e)
		m->list = e->next;
	if (e->next)
		e->next->prev = e->prev;
	m->n--;
	free(e->bundle);
	free(e->stop_reason);
	free(e);
}

void shimmgr_free(struct shimmgr *m)
{
	if (!m)
		return;
	while (m->list)
		ent_free(m->list);
	free(m);
}

size_t shimmgr_count(const struct shimmgr *m)
{
	return m ? m->n : 0;
}

void shimmgr_reserved(const struct shimmgr *m, int64_t *cpu, int64_t *memory)
{
	*cpu = *memory = 0;
	for (const struct shim_ent *e = m->list; e; e = e->next) {
		*cpu += e->cpu;
		*memory += e->memory;
	}
}

static struct shim_ent *find(struct shimmgr *m, const char *id)
{
	for (struct shim_ent *e = m->list; e; e = e->next)
		if (!strcmp(e->id, id))
			return e;
	return NULL;
}

/* ------------------------------------------------------- the task doc */

static void copy_member(json_t *dst, const json_t *src, const char *key)
{
	json_t *v = json_object_get(src, key);

	if (v && !json_is_null(v))
		json_object_set(dst, key, v);
}

/* Merge a shim snapshot into the task's ECS document. */
static void merge(json_t *doc, const json_t *snap)
{
	static const char *const task_keys[] = {
		"lastStatus", "healthStatus", "connectivity", "connectivityAt", "pullStartedAt",
		"pullStoppedAt", "startedAt", "stoppingAt", "executionStoppedAt", "stoppedAt",
		NULL,
	};
	const char *ip = json_string_value(json_object_get(snap, "privateIpv4Address"));
	const char *last = json_string_value(json_object_get(snap, "lastStatus"));
	json_t *sc, *dc, *att;
	size_t i, j;

	for (i = 0; task_keys[i]; i++)
		copy_member(doc, snap, task_keys[i]);
	if (!strcmp(json_string_value(json_object_get(snap, "desiredStatus")) ?: "", "STOPPED"))
		json_object_set_new(doc, "desiredStatus", json_string("STOPPED"));
	/* a stop asked for through the API keeps its code and reason */
	if (!json_object_get(doc, "stopCode"))
		copy_member(doc, snap, "stopCode");
	if (!json_object_get(doc, "stoppedReason"))
		copy_member(doc, snap, "stoppedReason");
	json_array_foreach(json_object_get(doc, "containers"), i, dc) {
		const char *name = json_string_value(json_object_get(dc, "name"));

		json_array_foreach(json_object_get(snap, "containers"), j, sc) {
			if (strcmp(json_string_value(json_object_get(sc, "name")) ?: "", name ?: ""))
				continue;
			copy_member(dc, sc, "lastStatus");
			copy_member(dc, sc, "exitCode");
			copy_member(dc, sc, "reason");
			copy_member(dc, sc, "healthStatus");
			copy_member(dc, sc, "runtimeId");
			copy_member(dc, sc, "networkBindings");
			if (ip)
				json_object_set_new(dc, "networkInterfaces",
					json_pack("[{s:s, s:s}]", "attachmentId",
						  json_string_value(json_object_get(
							  json_array_get(json_object_get(doc, "attachments"), 0),
							  "id")) ?: "",
						  "privateIpv4Address", ip));
			break;
		}
	}
	/* the ENI attachment (awsvpc) follows the task */
	att = json_array_get(json_object_get(doc, "attachments"), 0);
	if (att && last) {
		const char *st = !strcmp(last, "STOPPED") ? "DELETED"
				 : !strcmp(last, "DEPROVISIONING") ? "DELETING"
				 : ip ? "ATTACHED" : "PRECREATED";
		json_t *details = json_object_get(att, "details");

		json_object_set_new(att, "status", json_string(st));
		if (ip && json_array_size(details) < 3) {
			json_array_append_new(details, json_pack("{s:s, s:s}", "name", "subnetId",
								 "value", "berth-local"));
			json_array_append_new(details, json_pack("{s:s, s:s}", "name",
								 "privateIPv4Address", "value", ip));
		}
	}
	json_object_set_new(doc, "version",
			    json_integer(json_integer_value(json_object_get(doc, "version")) + 1));
}

static bool is_stopped(const json_t *snap)
{
	return !strcmp(json_string_value(json_object_get(snap, "lastStatus")) ?: "", "STOPPED");
}

/* Apply a snapshot to the store. Returns true when the task is STOPPED. */
static bool apply(struct shimmgr *m, const char *id, const json_t *snap)
{
	cleanup_berr struct berr *err = NULL;
	cleanup_json json_t *doc = NULL;
	int r = store_task_get(m->d->st, id, &doc, &err);

	if (r <= 0) {
		log_warn("task %s: %s", id, r < 0 ? berr_msg(err) : "not in the store");
		return is_stopped(snap);
	}
	if (!strcmp(json_string_value(json_object_get(doc, "lastStatus")) ?: "", "STOPPED"))
		return true;   /* recorded already: never move back */
	merge(doc, snap);
	if (store_task_put(m->d->st, doc, NULL, &err) < 0)
		log_error("task %s: record state: %s", id, berr_msg(err));
	else
		log_debug("task %s: %s", id, json_string_value(json_object_get(doc, "lastStatus")));
	return is_stopped(snap);
}

/* Record a task whose shim is gone without a final word. */
static void lost(struct shimmgr *m, const char *id, const char *why)
{
	cleanup_berr struct berr *err = NULL;
	cleanup_json json_t *doc = NULL;
	double now = api_now();
	json_t *c;
	size_t i;

	log_warn("task %s: %s", id, why);
	if (store_task_get(m->d->st, id, &doc, &err) <= 0)
		return;
	json_object_set_new(doc, "lastStatus", json_string("STOPPED"));
	json_object_set_new(doc, "desiredStatus", json_string("STOPPED"));
	if (!json_object_get(doc, "stopCode"))
		json_object_set_new(doc, "stopCode", json_string(json_object_get(doc, "startedAt")
			? "EssentialContainerExited" : "TaskFailedToStart"));
	if (!json_object_get(doc, "stoppedReason"))
		json_object_set_new(doc, "stoppedReason", json_string(why));
	json_object_set_new(doc, "executionStoppedAt", json_real(now));
	json_object_set_new(doc, "stoppedAt", json_real(now));
	json_array_foreach(json_object_get(doc, "containers"), i, c)
		json_object_set_new(c, "lastStatus", json_string("STOPPED"));
	json_object_set_new(doc, "version",
			    json_integer(json_integer_value(json_object_get(doc, "version")) + 1));
	if (store_task_put(m->d->st, doc, NULL, &err) < 0)
		log_error("task %s: record: %s", id, berr_msg(err));
}

/* The task is STOPPED and recorded: forget it, remove its bundle. */
static void finish(struct shim_ent *e)
{
	cleanup_berr struct berr *err = NULL;

	if (fs_rm_rf_at(AT_FDCWD, e->bundle, &err) < 0)
		log_warn("task %s: remove %s: %s", e->id, e->bundle, berr_msg(err));
	ent_free(e);
}

static int read_status(const char *bundle, json_t **snap)
{
	cleanup_berr struct berr *err = NULL;
	uint64_t seq;
	int r;

	*snap = NULL;
	r = shimc_read_status(bundle, &seq, snap, &err);
	if (r < 0)
		log_warn("%s", berr_msg(err));
	return r > 0 ? 1 : 0;
}

/* The connection closed or the process exited: settle the task. */
static void settle(struct shim_ent *e)
{
	cleanup_json json_t *snap = NULL;

	if (read_status(e->bundle, &snap) > 0 && is_stopped(snap)) {
		apply(e->m, e->id, snap);
		finish(e);
		return;
	}
	if (e->pidfd >= 0) {
		struct pollfd p = { .fd = e->pidfd, .events = POLLIN };

		/* still alive: it only closed on us; the pidfd tells when it exits */
		if (poll(&p, 1, 0) == 0)
			return;
	}
	lost(e->m, e->id, "berth-shim exited before the task stopped (see its shim.log)");
	/* keep the bundle: its shim.log says why */
	ent_free(e);
}

static void send_stop(struct shim_ent *e)
{
	cleanup_berr struct berr *err = NULL;

	if (!e->stop_reason || e->fd < 0)
		return;
	if (shimc_send_stop(e->fd, e->stop_reason, NULL, &err) == 0) {
		free(e->stop_reason);
		e->stop_reason = NULL;
	} else {
		log_warn("task %s: send stop: %s (retried on the next event)", e->id, berr_msg(err));
	}
}

static void conn_event(struct ev_handler *h, uint32_t events)
{
	struct shim_ent *e = (struct shim_ent *)h;

	(void)events;
	for (;;) {
		cleanup_berr struct berr *err = NULL;
		cleanup_json json_t *snap = NULL;
		uint64_t seq = 0;
		int r = shimc_recv(e->fd, &seq, &snap, &err);

		if (r == -EAGAIN)
			break;
		if (r == -EPROTO) {
			log_warn("task %s: %s", e->id, berr_msg(err));
			continue;
		}
		if (r <= 0) {
			if (r < 0)
				log_warn("task %s: shim connection: %s", e->id, berr_msg(err));
			server_unwatch(e->m->d, e->fd);
			close(e->fd);
			e->fd = -1;
			settle(e);
			return;
		}
		if (seq <= e->seq)
			continue;
		e->seq = seq;
		if (apply(e->m, e->id, snap)) {
			finish(e);
			return;
		}
	}
	send_stop(e);
}

static void pid_event(struct ev_handler *h, uint32_t events)
{
	struct shim_ent *e = ((struct ent_pid *)h)->e;

	(void)events;
	server_unwatch(e->m->d, e->pidfd);
	close(e->pidfd);
	e->pidfd = -1;
	/* the last messages may still be in the socket: read them first */
	if (e->fd >= 0) {
		conn_event(&e->h, EPOLLIN);
		return;   /* conn_event settled (it saw the close) */
	}
	settle(e);
}

static int ent_connect(struct shim_ent *e, struct berr **err)
{
	int fd = shimc_connect(e->bundle, err);

	if (fd < 0)
		return fd;
	e->fd = fd;
	if (server_watch(e->m->d, fd, EPOLLIN, &e->h) < 0) {
		close(fd);
		e->fd = -1;
		return berr_set(err, errno, "epoll");
	}
	return 0;
}

static int ent_watch_pid(struct shim_ent *e, struct berr **err)
{
	pid_t pid = e->pid;
	int r;

	if (pid <= 1) {
		r = shimc_read_pid(e->bundle, &pid, err);
		if (r <= 0)
			return r < 0 ? r : berr_set(err, ENOENT, "%s/%s: no pid", e->bundle, SHIM_PID_FILE);
	}
	e->pid = pid;
	e->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (e->pidfd < 0)
		return berr_set(err, errno, "pidfd_open %d (task %s's shim)", (int)pid, e->id);
	fcntl(e->pidfd, F_SETFD, FD_CLOEXEC);
	if (server_watch(e->m->d, e->pidfd, EPOLLIN, &e->pidh.h) < 0)
		return berr_set(err, errno, "epoll");
	return 0;
}

static struct shim_ent *ent_new(struct shimmgr *m, const char *id, int64_t cpu, int64_t memory)
{
	struct shim_ent *e = xcalloc(1, sizeof(*e));

	e->h.fn = conn_event;
	e->pidh.h.fn = pid_event;
	e->pidh.e = e;
	e->m = m;
	e->fd = e->pidfd = -1;
	snprintf(e->id, sizeof(e->id), "%s", id);
	e->bundle = xasprintf("%s/%s", m->d->cfg.run_dir, id);
	e->cpu = cpu;
	e->memory = memory;
	e->next = m->list;
	if (m->list)
		m->list->prev = e;
	m->list = e;
	m->n++;
	return e;
}

int shimmgr_start(struct shimmgr *m, const char *id, const json_t *config, int64_t cpu,
		  int64_t memory, struct berr **err)
{
	struct shim_ent *e = ent_new(m, id, cpu, memory);
	cleanup_free char *cfg = xasprintf("%s/%s", e->bundle, SHIM_CONFIG_FILE);
	int r;

	if (mkdir(e->bundle, 0700) < 0) {
		r = berr_set(err, errno, "mkdir %s", e->bundle);
		ent_free(e);
		return r;
	}
	if ((r = bjson_write_file_atomic(cfg, config, 0600, err)) < 0 ||
	    (r = shimc_spawn(m->d->cfg.shim_path, e->bundle, 0, &e->pid, err)) < 0) {
		/* the shim recorded why in status.json when it got that far: it is
		 * in *err too; nothing of the task exists outside the bundle */
		cleanup_berr struct berr *e2 = NULL;

		fs_rm_rf_at(AT_FDCWD, e->bundle, &e2);
		ent_free(e);
		return r;
	}
	if ((r = ent_watch_pid(e, err)) < 0 || (r = ent_connect(e, err)) < 0) {
		/* the shim runs but cannot be reached: stop it rather than lose it */
		if (e->pid > 1)
			kill(e->pid, SIGTERM);
		ent_free(e);
		return r;
	}
	return 0;
}

int shimmgr_stop(struct shimmgr *m, const char *id, const char *reason, struct berr **err)
{
	struct shim_ent *e = find(m, id);

	(void)err;
	if (!e)
		return -ENOENT;
	free(e->stop_reason);
	e->stop_reason = xstrdup(reason);
	send_stop(e);
	return 0;
}

static int64_t doc_num(const json_t *doc, const char *key)
{
	const char *s = json_string_value(json_object_get(doc, key));

	return s ? strtoll(s, NULL, 10) : 0;
}

static void restore_one(struct shimmgr *m, json_t *doc)
{
	cleanup_berr struct berr *err = NULL;
	cleanup_json json_t *snap = NULL;
	const char *id = api_arn_tail(json_string_value(json_object_get(doc, "taskArn")) ?: "");
	struct shim_ent *e = ent_new(m, id, doc_num(doc, "cpu"), doc_num(doc, "memory"));

	if (ent_connect(e, &err) == 0 && ent_watch_pid(e, &err) == 0) {
		log_info("task %s: re-adopted (shim pid %d)", id, (int)e->pid);
		if (!strcmp(json_string_value(json_object_get(doc, "desiredStatus")) ?: "", "STOPPED")) {
			e->stop_reason = xstrdup(json_string_value(json_object_get(doc, "stoppedReason"))
						 ?: "Task stopped by user");
			send_stop(e);
		}
		return;
	}
	berr_clear(&err);
	if (e->fd >= 0) {
		/* reachable but no pid: keep it, the connection tells when it ends */
		log_warn("task %s: re-adopted without its pid", id);
		return;
	}
	if (read_status(e->bundle, &snap) > 0) {
		if (is_stopped(snap)) {
			log_info("task %s: stopped while berthd was down (%s)", id,
				 json_string_value(json_object_get(snap, "stoppedReason")) ?: "");
			apply(m, id, snap);
			finish(e);
			return;
		}
		lost(m, id, "berth-shim exited before the task stopped (see its shim.log)");
		ent_free(e);
		return;
	}
	/* berthd went away between recording the task and starting its shim */
	lost(m, id, "TaskFailedToStart: berthd stopped before the task's shim started");
	{
		cleanup_berr struct berr *e2 = NULL;

		fs_rm_rf_at(AT_FDCWD, e->bundle, &e2);
	}
	ent_free(e);
}

int shimmgr_restore(struct shimmgr *m, struct berr **err)
{
	char *after = NULL;
	bool more = true;
	int r = 0;

	while (more) {
		cleanup_json json_t *arns = NULL;
		json_t *arn;
		size_t i;

		r = store_cluster_list(m->d->st, &(struct store_page){ .after = after, .limit = 100 },
				       &arns, &more, err);
		if (r < 0)
			break;
		json_array_foreach(arns, i, arn) {
			const char *cluster = strrchr(json_string_value(arn), '/') + 1;
			char *tafter = NULL;
			bool tmore = true;

			while (tmore && r >= 0) {
				cleanup_json json_t *docs = NULL;
				struct store_task_filter f = { .cluster = cluster };
				json_t *doc;
				size_t j;

				r = store_task_list(m->d->st, &f,
						    &(struct store_page){ .after = tafter, .limit = 200 },
						    &docs, &tmore, err);
				if (r < 0)
					break;
				json_array_foreach(docs, j, doc) {
					if (strcmp(json_string_value(json_object_get(doc, "lastStatus")) ?: "",
						   "STOPPED"))
						restore_one(m, doc);
				}
				free(tafter);
				tafter = json_array_size(docs)
					? xstrdup(api_arn_tail(json_string_value(json_object_get(
						  json_array_get(docs, json_array_size(docs) - 1), "taskArn"))))
					: NULL;
				if (!tafter)
					tmore = false;
			}
			free(tafter);
			if (r < 0)
				break;
		}
		free(after);
		after = json_array_size(arns)
			? xstrdup(strrchr(json_string_value(json_array_get(arns, json_array_size(arns) - 1)),
					  '/') + 1)
			: NULL;
		if (!after || r < 0)
			more = false;
	}
	free(after);
	return r < 0 ? r : 0;
}
