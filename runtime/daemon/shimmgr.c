/* runtime/daemon/shimmgr.c - berthd's side of the task shims.
 *
 * Each task has one entry with two fds in the event loop: the control
 * connection to its shim and the shim's pidfd. A connection that closes
 * while the pidfd says the shim lives (it dropped berthd for not reading,
 * or berthd's end failed) is connected again, with backoff, so state
 * changes and stops keep flowing. A shim that exits without a final
 * STOPPED snapshot is lost: what its task held on the host is reclaimed
 * (runtime/shim/reclaim.h), then the task is recorded STOPPED with the
 * reason, in that order, so a berthd killed in between reclaims again at
 * its restart (reclaiming is idempotent).
 *
 * An entry that is done is not freed at once: an event for one of its fds
 * may still wait in the batch the loop is dispatching. It goes to a
 * graveyard and is freed two timer events later (each in a later batch). */
#include "runtime/daemon/shimmgr.h"

#include "runtime/daemon/api.h"
#include "runtime/daemon/daemon.h"
#include "runtime/daemon/server.h"
#include "runtime/daemon/store.h"
#include "runtime/shim/reclaim.h"
#include "runtime/shim/shim.h"
#include "runtime/shim/shimclient.h"

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/json.h"
#include "common/log.h"
#include "common/xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <stddef.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

/* reconnecting to a live shim: first after 100 ms, doubling up to 5 s */
#define RECONNECT_MIN_MS 100
#define RECONNECT_MAX_MS 5000
/* how long a reclaim waits for killed processes to leave a cgroup */
#define RECLAIM_CG_TIMEOUT_MS 2000
/* in a dead shim's bundle: its reclaim failed (the error inside) */
#define RECLAIM_PENDING "reclaim-pending"
#define LOST_REASON "berth-shim exited before the task stopped (see its shim.log)"

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
	bool dead;                     /* done: in the graveyard, its fds closed */
	bool exited;                   /* the pidfd said the shim exited */
	int64_t reconnect_at;          /* CLOCK_MONOTONIC ms of the next attempt; 0: none */
	int backoff_ms;                /* the delay after the next failed attempt */
	unsigned reconnects;           /* connections made again (for the log) */
};

struct shimmgr {
	struct berthd *d;
	struct shim_ent *list;
	size_t n;
	struct ev_handler timer_h;     /* reconnects and the graveyard */
	int tfd;
	struct shim_ent *buried, *buried_old;   /* the graveyard, newest first */
	struct shimmgr_stats stats;
};

static void timer_event(struct ev_handler *h, uint32_t events);

int shimmgr_new(struct berthd *d, struct shimmgr **out, struct berr **err)
{
	struct shimmgr *m = xcalloc(1, sizeof(*m));

	m->d = d;
	m->timer_h.fn = timer_event;
	m->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (m->tfd < 0) {
		int r = berr_set(err, errno, "timerfd_create (shim manager)");

		free(m);
		return r;
	}
	if (server_watch(d, m->tfd, EPOLLIN, &m->timer_h) < 0) {
		int r = berr_set(err, errno, "epoll (shim manager timer)");

		close(m->tfd);
		free(m);
		return r;
	}
	*out = m;
	return 0;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The timer at the earliest of: the next reconnect, the graveyard's turn
 * (1 ms); disarmed when there is nothing to do. */
static void arm(struct shimmgr *m)
{
	struct itimerspec its = { 0 };
	int64_t at = 0;

	if (m->buried || m->buried_old)
		at = mono_ms() + 1;
	for (struct shim_ent *e = m->list; e; e = e->next)
		if (e->reconnect_at && (!at || e->reconnect_at < at))
			at = e->reconnect_at;
	if (at) {
		its.it_value.tv_sec = at / 1000;
		its.it_value.tv_nsec = (at % 1000) * 1000000;
	}
	if (timerfd_settime(m->tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
		log_warn("shim manager: timerfd_settime: %m");
}

static void ent_destroy(struct shim_ent *e)
{
	free(e->bundle);
	free(e->stop_reason);
	free(e);
}

static void drop_conn(struct shim_ent *e)
{
	if (e->fd < 0)
		return;
	server_unwatch(e->m->d, e->fd);
	close(e->fd);
	e->fd = -1;
}

static void drop_pidfd(struct shim_ent *e)
{
	if (e->pidfd < 0)
		return;
	server_unwatch(e->m->d, e->pidfd);
	close(e->pidfd);
	e->pidfd = -1;
}

/* Done with e: out of the loop and the list, into the graveyard. */
static void ent_bury(struct shim_ent *e)
{
	struct shimmgr *m = e->m;

	drop_conn(e);
	drop_pidfd(e);
	if (e->prev)
		e->prev->next = e->next;
	else if (m->list == e)
		m->list = e->next;
	if (e->next)
		e->next->prev = e->prev;
	m->n--;
	e->dead = true;
	e->reconnect_at = 0;
	e->prev = NULL;
	e->next = m->buried;
	m->buried = e;
	arm(m);
}

static void free_chain(struct shim_ent *e)
{
	while (e) {
		struct shim_ent *next = e->next;

		ent_destroy(e);
		e = next;
	}
}

void shimmgr_free(struct shimmgr *m)
{
	if (!m)
		return;
	while (m->list) {
		struct shim_ent *e = m->list;

		drop_conn(e);
		drop_pidfd(e);
		m->list = e->next;
		ent_destroy(e);
	}
	free_chain(m->buried);
	free_chain(m->buried_old);
	if (m->tfd >= 0) {
		server_unwatch(m->d, m->tfd);
		close(m->tfd);
	}
	free(m);
}
const struct shimmgr_stats *shimmgr_stats(const struct shimmgr *m)
{
	return &m->stats;
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

/* The snapshot's exitCode as the task attribute SHIMMGR_EXIT_CODE_ATTR
 * (shimmgr.h says why there). */
static void set_exit_code(json_t *doc, json_int_t code)
{
	json_t *attrs = json_object_get(doc, "attributes"), *a;
	size_t i;

	if (!json_is_array(attrs)) {
		attrs = json_array();
		json_object_set_new(doc, "attributes", attrs);
	}
	json_array_foreach(attrs, i, a) {
		if (!strcmp(json_string_value(json_object_get(a, "name")) ?: "", SHIMMGR_EXIT_CODE_ATTR)) {
			json_object_set_new(a, "value", json_sprintf("%lld", (long long)code));
			return;
		}
	}
	json_array_append_new(attrs, json_pack("{s:s, s:o}", "name", SHIMMGR_EXIT_CODE_ATTR,
					       "value", json_sprintf("%lld", (long long)code)));
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
	if (json_is_integer(json_object_get(snap, "exitCode")))
		set_exit_code(doc, json_integer_value(json_object_get(snap, "exitCode")));
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
	json_t *c, *att;
	size_t i;

	log_warn("task %s: %s", id, why);
	if (store_task_get(m->d->st, id, &doc, &err) <= 0)
		return;
	if (!strcmp(json_string_value(json_object_get(doc, "lastStatus")) ?: "", "STOPPED"))
		return;
	json_object_set_new(doc, "lastStatus", json_string("STOPPED"));
	json_object_set_new(doc, "desiredStatus", json_string("STOPPED"));
	if (!json_object_get(doc, "stopCode"))
		json_object_set_new(doc, "stopCode", json_string(json_object_get(doc, "startedAt")
			? "EssentialContainerExited" : "TaskFailedToStart"));
	if (!json_object_get(doc, "stoppedReason"))
		json_object_set_new(doc, "stoppedReason", json_string(why));
	if (!json_object_get(doc, "stoppingAt"))
		json_object_set_new(doc, "stoppingAt", json_real(now));
	json_object_set_new(doc, "executionStoppedAt", json_real(now));
	json_object_set_new(doc, "stoppedAt", json_real(now));
	json_array_foreach(json_object_get(doc, "containers"), i, c)
		json_object_set_new(c, "lastStatus", json_string("STOPPED"));
	if ((att = json_array_get(json_object_get(doc, "attachments"), 0)))
		json_object_set_new(att, "status", json_string("DELETED"));
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
	ent_bury(e);
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

/* Free what the task of a dead shim still holds on the host (its shim is
 * gone: reclaim.h's precondition). */
static void reclaim(struct shimmgr *m, const char *id)
{
	const struct berthd_config *c = &m->d->cfg;
	struct trun_reclaim_opts o = {
		.task_id = id, .root = c->root, .run_dir = c->run_dir, .cgroup_root = c->cgroup_root,
		.net = c->have_net ? &c->net : NULL, .cgroup_timeout_ms = RECLAIM_CG_TIMEOUT_MS,
	};
	struct trun_reclaim_result res;
	cleanup_berr struct berr *err = NULL;
	cleanup_free char *what = NULL;
	int r = trun_reclaim(&o, &res, &err);

	what = trun_reclaim_describe(&res);
	m->stats.reclaims++;
	{
		/* a failed step is tried again at berthd's next start */
		cleanup_free char *mark = xasprintf("%s/%s/%s", c->run_dir, id, RECLAIM_PENDING);
		cleanup_berr struct berr *merr = NULL;

		if (r < 0) {
			m->stats.reclaim_failures++;
			log_error("task %s: %s (freed: %s; tried again when berthd starts)", id,
				  berr_msg(err), what);
			if (fs_write_file_atomic(mark, berr_msg(err), strlen(berr_msg(err)), 0600, &merr) < 0)
				log_warn("task %s: %s", id, berr_msg(merr));
		} else {
			log_info("task %s: reclaimed from its dead shim: %s", id, what);
			(void)unlink(mark);
		}
	}
}

/* Bundles whose reclaim failed (RECLAIM_PENDING): again, once no shim of
 * theirs answers. */
static void reclaim_pending(struct shimmgr *m)
{
	cleanup_closedir DIR *d = opendir(m->d->cfg.run_dir);
	struct dirent *de;

	while (d && (de = readdir(d))) {
		cleanup_free char *mark = NULL;

		if (strlen(de->d_name) != SHIM_TASK_ID_LEN ||
		    strspn(de->d_name, "0123456789abcdef") != SHIM_TASK_ID_LEN || find(m, de->d_name))
			continue;
		mark = xasprintf("%s/%s/%s", m->d->cfg.run_dir, de->d_name, RECLAIM_PENDING);
		if (access(mark, F_OK) < 0)
			continue;
		log_info("task %s: its last reclaim failed: trying again", de->d_name);
		reclaim(m, de->d_name);
	}
}

/* The shim is gone without a final STOPPED: reclaim, then record. */
static void shim_lost(struct shim_ent *e)
{
	cleanup_json json_t *snap = NULL;

	/* a last look: it may have finished after all */
	if (read_status(e->bundle, &snap) > 0 && is_stopped(snap)) {
		apply(e->m, e->id, snap);
		finish(e);
		return;
	}
	e->m->stats.lost++;
	reclaim(e->m, e->id);
	lost(e->m, e->id, LOST_REASON);
	/* keep the bundle: its shim.log says why */
	ent_bury(e);
}

static void schedule_reconnect(struct shim_ent *e)
{
	if (!e->backoff_ms)
		e->backoff_ms = RECONNECT_MIN_MS;
	e->reconnect_at = mono_ms() + e->backoff_ms;
	e->backoff_ms = e->backoff_ms * 2 > RECONNECT_MAX_MS ? RECONNECT_MAX_MS : e->backoff_ms * 2;
	arm(e->m);
}

static bool pid_exited(struct shim_ent *e)
{
	struct pollfd p = { .fd = e->pidfd, .events = POLLIN };

	if (e->exited)
		return true;
	if (e->pidfd >= 0 && poll(&p, 1, 0) > 0)
		e->exited = true;
	return e->exited;
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

/* Connect again to a shim that lives. 0 connected, 1 try later, -1 nothing
 * answers and nothing says it lives. */
static int reconnect(struct shim_ent *e)
{
	cleanup_berr struct berr *err = NULL;
	int r;

	e->m->stats.reconnect_tries++;
	r = ent_connect(e, &err);
	if (r == 0) {
		e->reconnects++;
		e->m->stats.reconnects++;
		log_info("task %s: connected to its shim again (%u time%s)", e->id, e->reconnects,
			 e->reconnects == 1 ? "" : "s");
		send_stop(e);
		return 0;
	}
	if (r == -EAGAIN || (e->pidfd >= 0 && !pid_exited(e))) {
		log_debug("task %s: reconnect: %s", e->id, berr_msg(err));
		schedule_reconnect(e);
		return 1;
	}
	return -1;
}

/* The connection is gone (or the process exited): what became of the shim? */
static void settle(struct shim_ent *e)
{
	cleanup_json json_t *snap = NULL;

	if (read_status(e->bundle, &snap) > 0 && is_stopped(snap)) {
		apply(e->m, e->id, snap);
		finish(e);
		return;
	}
	if (!pid_exited(e)) {
		if (e->pidfd >= 0) {
			/* it lives, it only closed on us (or we on it): connect
			 * again after a pause; the pidfd tells if it exits */
			log_warn("task %s: the connection to its shim (pid %d) closed; reconnecting "
				 "while it runs", e->id, (int)e->pid);
			schedule_reconnect(e);
			return;
		}
		/* no pidfd: only the socket can tell */
		if (reconnect(e) >= 0)
			return;
	}
	shim_lost(e);
}

enum drain { DRAIN_OPEN, DRAIN_CLOSED, DRAIN_FINISHED };

/* Read what the shim sent, apply it. */
static enum drain drain_conn(struct shim_ent *e)
{
	for (;;) {
		cleanup_berr struct berr *err = NULL;
		cleanup_json json_t *snap = NULL;
		uint64_t seq = 0;
		int r = shimc_recv(e->fd, &seq, &snap, &err);

		if (r == -EAGAIN)
			return DRAIN_OPEN;
		if (r == -EPROTO) {
			log_warn("task %s: %s", e->id, berr_msg(err));
			continue;
		}
		if (r <= 0) {
			if (r < 0)
				log_warn("task %s: shim connection: %s", e->id, berr_msg(err));
			drop_conn(e);
			return DRAIN_CLOSED;
		}
		/* the connection works: the next drop starts the backoff afresh */
		e->backoff_ms = 0;
		if (seq <= e->seq)
			continue;
		e->seq = seq;
		if (apply(e->m, e->id, snap)) {
			finish(e);
			return DRAIN_FINISHED;
		}
	}
}

static void conn_event(struct ev_handler *h, uint32_t events)
{
	struct shim_ent *e = (struct shim_ent *)h;
	enum drain r;

	(void)events;
	if (e->dead || e->fd < 0)
		return;
	r = drain_conn(e);
	if (r == DRAIN_FINISHED)
		return;
	if (r == DRAIN_CLOSED) {
		settle(e);
		return;
	}
	send_stop(e);
}

static void pid_event(struct ev_handler *h, uint32_t events)
{
	struct shim_ent *e = ((struct ent_pid *)h)->e;

	(void)events;
	if (e->dead)
		return;
	e->exited = true;
	e->reconnect_at = 0;
	drop_pidfd(e);
	/* the last messages may still be in the socket: read them first */
	if (e->fd >= 0) {
		if (drain_conn(e) == DRAIN_FINISHED)
			return;
		drop_conn(e);
	}
	settle(e);
}

static void timer_event(struct ev_handler *h, uint32_t events)
{
	struct shimmgr *m = (struct shimmgr *)((char *)h - offsetof(struct shimmgr, timer_h));
	uint64_t ticks;
	int64_t now;

	(void)events;
	/* nothing to read: an expiry from before the last arm() (stale) */
	if (read(m->tfd, &ticks, sizeof(ticks)) != (ssize_t)sizeof(ticks))
		return;
	/* the graveyard: entries buried before the previous expiry are two
	 * batches old, so no event of theirs can be waiting any more */
	free_chain(m->buried_old);
	m->buried_old = m->buried;
	m->buried = NULL;
	now = mono_ms();
	for (struct shim_ent *e = m->list, *next; e; e = next) {
		next = e->next;
		if (!e->reconnect_at || e->reconnect_at > now)
			continue;
		e->reconnect_at = 0;
		if (e->fd >= 0)
			continue;
		if (reconnect(e) < 0)
			settle(e);
	}
	arm(m);
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
	if (server_watch(e->m->d, e->pidfd, EPOLLIN, &e->pidh.h) < 0) {
		r = berr_set(err, errno, "epoll");
		close(e->pidfd);
		e->pidfd = -1;
		return r;
	}
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

/* What a shim needs before it can start: the bundle with config.json, and
 * its secrets fd (-1: none). On failure nothing of the task is left. */
static int launch_prepare(struct shimmgr *m, struct shimmgr_launch *l, int *secrets_fd)
{
	struct shim_ent *e = ent_new(m, l->id, l->cpu, l->memory);
	cleanup_free char *cfg = xasprintf("%s/%s", e->bundle, SHIM_CONFIG_FILE);
	int r;

	*secrets_fd = -1;
	/* the task's secrets, before anything of the task exists: resolved,
	 * authorized for its execution role by api_secret_authorize_role (the
	 * role's policies in berthd.json) and decrypted here, then handed to
	 * the shim in a sealed memfd (docs/credentials.md, "Secrets") */
	if ((r = api_secret_task_fd(m->d, l->config, api_secret_authorize_role, m->d, secrets_fd,
				    &l->err)) < 0) {
		ent_bury(e);
		return r;
	}
	if (mkdir(e->bundle, 0700) < 0) {
		r = berr_set(&l->err, errno, "mkdir %s", e->bundle);
		ent_bury(e);
		return r;
	}
	if ((r = bjson_write_file_atomic(cfg, l->config, 0600, &l->err)) < 0) {
		cleanup_berr struct berr *e2 = NULL;

		fs_rm_rf_at(AT_FDCWD, e->bundle, &e2);
		ent_bury(e);
		return r;
	}
	l->e = e;
	return 0;
}

/* The shim has detached (or failed to): watch it and connect. */
static void launch_finish(struct shimmgr_launch *l)
{
	struct shim_ent *e = l->e;
	cleanup_berr struct berr *cerr = NULL;

	if (l->r < 0) {
		/* the shim recorded why in status.json when it got that far: it
		 * is in l->err too; nothing of the task exists outside the bundle */
		cleanup_berr struct berr *e2 = NULL;

		fs_rm_rf_at(AT_FDCWD, e->bundle, &e2);
		ent_bury(e);
		l->e = NULL;
		return;
	}
	if ((l->r = ent_watch_pid(e, &l->err)) < 0) {
		/* the shim runs but its end could not be told: stop it rather
		 * than lose it */
		if (e->pid > 1)
			kill(e->pid, SIGTERM);
		ent_bury(e);
		l->e = NULL;
		return;
	}
	if (ent_connect(e, &cerr) < 0) {
		/* it lives (the pidfd says when it ends): connect later */
		log_warn("task %s: connect to its shim: %s (retrying)", l->id, berr_msg(cerr));
		schedule_reconnect(e);
	}
}

void shimmgr_start_many(struct shimmgr *m, struct shimmgr_launch *l, size_t n)
{
	struct shimc_spawn *sp = xcalloc(n ? n : 1, sizeof(*sp));

	/* every shim is started first, then each one's detach is waited for:
	 * they get ready side by side, not one after the other */
	for (size_t i = 0; i < n; i++) {
		int secrets_fd;

		l[i].e = NULL;
		l[i].err = NULL;
		l[i].r = launch_prepare(m, &l[i], &secrets_fd);
		if (l[i].r == 0)
			l[i].r = shimc_spawn_begin(m->d->cfg.shim_path, l[i].e->bundle,
						   m->d->init_fd > 2 ? m->d->init_fd : -1, secrets_fd, 0,
						   &sp[i], &l[i].err);
		/* the shim has its own copy by now (or never will) */
		if (secrets_fd >= 0)
			close(secrets_fd);
		if (!l[i].e)
			continue; /* launch_prepare failed: nothing was made */
		if (l[i].r < 0)
			launch_finish(&l[i]);
		else
			l[i].r = 1; /* begun */
	}
	for (size_t i = 0; i < n; i++) {
		if (l[i].r != 1)
			continue;
		l[i].r = shimc_spawn_end(&sp[i], &l[i].e->pid, &l[i].err);
		launch_finish(&l[i]);
	}
	free(sp);
}

int shimmgr_stop(struct shimmgr *m, const char *id, const char *reason, struct berr **err)
{
	struct shim_ent *e = find(m, id);

	(void)err;
	if (!e)
		return -ENOENT;
	free(e->stop_reason);
	e->stop_reason = xstrdup(reason);
	/* not connected right now: delivered once it is again */
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
	int r = ent_connect(e, &err);

	if (r == 0 || r == -EAGAIN) {
		/* a shim answers (a full backlog is an answer too): it lives */
		berr_clear(&err);
		if (ent_watch_pid(e, &err) < 0) {
			log_warn("task %s: re-adopted without its pid: %s", id, berr_msg(err));
			berr_clear(&err);
		}
		if (r == 0) {
			log_info("task %s: re-adopted (shim pid %d)", id, (int)e->pid);
		} else {
			log_info("task %s: re-adopted (shim pid %d), its backlog is full: connecting later",
				 id, (int)e->pid);
			schedule_reconnect(e);
		}
		if (!strcmp(json_string_value(json_object_get(doc, "desiredStatus")) ?: "", "STOPPED")) {
			e->stop_reason = xstrdup(json_string_value(json_object_get(doc, "stoppedReason"))
						 ?: "Task stopped by user");
			send_stop(e);
		}
		return;
	}
	berr_clear(&err);
	/* nothing answers on shim.sock: no shim runs the task any more */
	if (read_status(e->bundle, &snap) > 0) {
		if (is_stopped(snap)) {
			log_info("task %s: stopped while berthd was down (%s)", id,
				 json_string_value(json_object_get(snap, "stoppedReason")) ?: "");
			apply(m, id, snap);
			finish(e);
			return;
		}
		/* it died while berthd was down */
		e->exited = true;
		shim_lost(e);
		return;
	}
	/* berthd went away between recording the task and starting its shim
	 * (or the shim died before its first state): nothing should be held,
	 * but whatever is goes */
	m->stats.lost++;
	reclaim(m, id);
	lost(m, id, "TaskFailedToStart: berthd stopped before the task's shim started");
	{
		cleanup_berr struct berr *e2 = NULL;

		fs_rm_rf_at(AT_FDCWD, e->bundle, &e2);
	}
	ent_bury(e);
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
				/* in a cluster the store also mirrors the other hosts' tasks */
				struct store_task_filter f = { .cluster = cluster,
							       .owned_by = m->d->instance_id };
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
	if (r < 0)
		return r;
	reclaim_pending(m);
	return 0;
}
