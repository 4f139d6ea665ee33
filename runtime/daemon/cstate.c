/* runtime/daemon/cstate.c - the cluster's shared state in etcd (cstate.h). */
#include "runtime/daemon/cstate.h"

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>

#include "common/cleanup.h"
#include "common/json.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "runtime/daemon/api.h"
#include "runtime/daemon/cluster.h"
#include "runtime/daemon/daemon.h"
#include "runtime/daemon/server.h"
#include "runtime/daemon/services.h"
#include "runtime/daemon/store.h"
#include "scheduler/etcd.h"
#include "scheduler/model.h"

struct cstate {
	struct ev_handler h;       /* the watch's fd */
	struct berthd *d;
	struct etcd_watch *w;
	char *prefix;              /* "P/" */
	json_t *pending;           /* {"<kind>:<key>": true}: records to share */
	bool applying;             /* writing etcd's records into the store: not queued */
	double retry_at;           /* a flush failed: not before this (monotonic s) */
	bool failing;              /* the last flush failed (logged once) */
	json_t *svc_revs;          /* {"<cluster>/<name>": mod_revision}: each service's
				    * record as this host last wrote or read it */
	json_t *down;              /* {"<instance id>": monotonic s}: seen disconnected since */
	int64_t gone_seconds;      /* an instance disconnected this long is gone */
};

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

bool cstate_on(const struct berthd *d)
{
	return d->cstate != NULL;
}

const char *cstate_owner(const json_t *doc)
{
	const char *ci = json_string_value(json_object_get(doc, "containerInstanceArn"));

	return ci && *ci ? api_arn_tail(ci) : NULL;
}

void cstate_strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

static char *key_of(const struct cstate *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *key_of(const struct cstate *c, const char *fmt, ...)
{
	cleanup_free char *tail = NULL;
	va_list ap;

	va_start(ap, fmt);
	tail = xvasprintf(fmt, ap);
	va_end(ap);
	return xasprintf("%s%s", c->prefix, tail);
}

/* ------------------------------------------------------------ queue and flush */

static void hook(void *ctx, char kind, const char *key, bool deleted)
{
	struct cstate *c = ctx;
	char buf[400];

	(void)deleted;   /* a deleted record is shared as its absence */
	if (c->applying)
		return;
	snprintf(buf, sizeof(buf), "%c:%s", kind, key);
	json_object_set_new(c->pending, buf, json_true());
}

static int put_doc(struct cstate *c, const char *key, const json_t *doc, struct berr **err)
{
	cleanup_free char *text = json_dumps(doc, JSON_COMPACT);

	if (!text)
		return berr_set(err, ENOMEM, "serialize %s", key);
	return etcd_put(cluster_etcd(c->d), key, text, strlen(text), 0, NULL, err);
}

/* Share one record as the store has it now (its absence: a delete). */
static int share(struct cstate *c, const char *item, struct berr **err)
{
	struct berthd *d = c->d;
	cleanup_json json_t *doc = NULL;
	cleanup_free char *key = NULL;
	const char *name = item + 2;
	int r;

	switch (item[0]) {
	case STORE_K_CLUSTER:
		key = key_of(c, "clusters/%s", name);
		if ((r = store_cluster_get(d->st, name, &doc, err)) < 0)
			return r;
		if (r == 0)
			return (int)etcd_delete(cluster_etcd(d), key, false, NULL, err) < 0 ? -EIO : 0;
		return put_doc(c, key, doc, err);
	case STORE_K_TASKDEF: {
		const char *colon = strrchr(name, ':');
		cleanup_free char *family = colon ? xstrndup(name, (size_t)(colon - name)) : NULL;

		if (!colon)
			return 0;
		if ((r = store_taskdef_get(d->st, family, strtoll(colon + 1, NULL, 10), &doc, err)) <= 0)
			return r;
		key = key_of(c, "taskdefs/%s", name);
		return put_doc(c, key, doc, err);
	}
	case STORE_K_TASK: {
		const char *owner;

		if ((r = store_task_get(d->st, name, &doc, err)) <= 0)
			return r;
		owner = cstate_owner(doc);
		/* only the host that runs a task writes it */
		if (!owner || strcmp(owner, d->instance_id))
			return 0;
		key = key_of(c, "tasks/%s", name);
		return put_doc(c, key, doc, err);
	}
	}
	return 0;
}

void cstate_flush(struct berthd *d)
{
	struct cstate *c = d->cstate;
	cleanup_berr struct berr *err = NULL;
	const char *item;
	json_t *v;
	void *tmp;

	if (!c || !json_object_size(c->pending) || mono() < c->retry_at)
		return;
	json_object_foreach_safe(c->pending, tmp, item, v) {
		if (share(c, item, &err) < 0) {
			if (!c->failing)
				log_warn("cluster: share %s: %s; trying again", item, berr_msg(err));
			c->failing = true;
			c->retry_at = mono() + 1.0;
			return;
		}
		json_object_del(c->pending, item);
	}
	if (c->failing)
		log_info("cluster: shared state written again");
	c->failing = false;
}

/* ------------------------------------------------------------ revisions */

int cstate_taskdef_revision(struct berthd *d, const char *family, int64_t local_next, int64_t *rev,
			    struct berr **err)
{
	struct cstate *c = d->cstate;
	cleanup_free char *key = NULL;
	int r;

	if (!c)
		return berr_set(err, ENOTCONN, "cluster state: not in a cluster");
	key = key_of(c, "revisions/%s", family);
	for (int tries = 0; tries < 16; tries++) {
		struct etcd_kv kv = { 0 };
		struct etcd_txn_result res = { 0 };
		cleanup_free char *tdkey = NULL;
		char val[24];
		int64_t last = 0, want;

		if ((r = etcd_get(cluster_etcd(d), key, &kv, NULL, err)) < 0)
			return r;
		if (r)
			last = strtoll(kv.value, NULL, 10);
		want = (last >= local_next ? last : local_next - 1) + 1;
		snprintf(val, sizeof(val), "%" PRId64, want);
		tdkey = key_of(c, "taskdefs/%s:%" PRId64, family, want);
		{
			struct etcd_cmp cmps[] = {
				{ .key = key, .target = ETCD_CMP_MOD, .op = ETCD_EQUAL,
				  .number = r ? kv.mod_revision : 0 },
				{ .key = tdkey, .target = ETCD_CMP_CREATE, .op = ETCD_EQUAL, .number = 0 },
			};
			struct etcd_op put = { .type = ETCD_OP_PUT, .key = key, .value = val,
					       .value_len = strlen(val) };

			etcd_kv_clear(&kv);
			if ((r = etcd_txn(cluster_etcd(d), cmps, 2, &put, 1, NULL, 0, &res, err)) < 0)
				return r;
		}
		r = res.succeeded;
		etcd_txn_result_clear(&res);
		if (r) {
			*rev = want;
			return 0;
		}
		/* another host took it: read again */
		local_next = want + 1;
	}
	return berr_set(err, EBUSY, "task definition family %s: no free revision after 16 tries "
			"(many hosts register it at once?)", family);
}

/* ------------------------------------------------------------ the view */

static int32_t clamp32(int64_t v)
{
	return v > INT32_MAX ? INT32_MAX : v < 0 ? 0 : (int32_t)v;
}

static int64_t registered(const json_t *inst, const char *name)
{
	json_t *v;
	size_t i;

	json_array_foreach(json_object_get(inst, "registeredResources"), i, v)
		if (!strcmp(json_string_value(json_object_get(v, "name")) ?: "", name))
			return json_integer_value(json_object_get(v, "integerValue"));
	return 0;
}

static int add_instance(struct sched_cluster *cl, const json_t *inst, bool connected, uint32_t *idx,
			struct berr **err)
{
	const char *names[SCHED_ATTR_MAX], *values[SCHED_ATTR_MAX];
	const char *arn = json_string_value(json_object_get(inst, "containerInstanceArn")) ?: "";
	size_t na = 0, i;
	json_t *v;
	struct sched_instance_spec is = {
		.id = api_arn_tail(arn),
		/* not ec2InstanceId: berthds on one machine (a test) share it */
		.cpu = clamp32(registered(inst, "CPU")),
		.memory = clamp32(registered(inst, "MEMORY")),
		.draining = !strcmp(json_string_value(json_object_get(inst, "status")) ?: "", "DRAINING"),
		.agent_disconnected = !connected,
		.reserved_tcp = sched_ecs_reserved_ports, .nreserved_tcp = 5,
	};

	json_array_foreach(json_object_get(inst, "attributes"), i, v) {
		const char *n = json_string_value(json_object_get(v, "name"));

		if (na == SCHED_ATTR_MAX || !n)
			continue;
		names[na] = n;
		values[na++] = json_string_value(json_object_get(v, "value"));
	}
	is.attr_names = names;
	is.attr_values = values;
	is.nattrs = na;
	return sched_cluster_add_instance(cl, &is, idx, err);
}

/* ------------------------------------------------------------ walking the store */

typedef int (*cluster_fn)(struct berthd *d, const char *cluster, void *ctx, struct berr **err);
typedef int (*task_fn)(struct berthd *d, json_t *doc, void *ctx, struct berr **err);

/* The next page's cursor: the id of the last ARN of this page (NULL: it
 * was empty). */
static char *page_after_last(const json_t *arns)
{
	size_t n = json_array_size(arns);

	return n ? xstrdup(api_arn_tail(json_string_value(json_array_get(arns, n - 1)))) : NULL;
}

/* fn for every cluster the store has, in name order; the first failure
 * stops the walk and is returned. */
static int each_cluster(struct berthd *d, cluster_fn fn, void *ctx, struct berr **err)
{
	char *after = NULL;
	bool more = true;
	int r = 0;

	while (more && r >= 0) {
		cleanup_json json_t *arns = NULL;
		json_t *arn;
		size_t i;

		if ((r = store_cluster_list(d->st, &(struct store_page){ .after = after, .limit = 100 },
					    &arns, &more, err)) < 0)
			break;
		json_array_foreach(arns, i, arn)
			if ((r = fn(d, api_arn_tail(json_string_value(arn)), ctx, err)) < 0)
				break;
		free(after);
		if (!(after = page_after_last(arns)))
			more = false;
	}
	free(after);
	return r < 0 ? r : 0;
}

struct task_walk {
	const struct store_task_filter *f;   /* its cluster is each cluster in turn */
	task_fn fn;
	void *ctx;
};

static int walk_cluster_tasks(struct berthd *d, const char *cluster, void *ctx, struct berr **err)
{
	struct task_walk *w = ctx;
	struct store_task_filter f = *w->f;
	cleanup_json json_t *docs = NULL;
	bool more;
	json_t *t;
	size_t i;
	int r;

	f.cluster = cluster;
	if ((r = store_task_list(d->st, &f, NULL, &docs, &more, err)) < 0)
		return r;
	json_array_foreach(docs, i, t)
		if ((r = w->fn(d, t, w->ctx, err)) < 0)
			return r;
	return 0;
}

/* fn for every task of every cluster that f (without its cluster) takes */
static int each_task(struct berthd *d, const struct store_task_filter *f, task_fn fn, void *ctx,
		     struct berr **err)
{
	struct task_walk w = { .f = f, .fn = fn, .ctx = ctx };

	return each_cluster(d, walk_cluster_tasks, &w, err);
}

/* ------------------------------------------------------------ the view */

struct view_ctx {
	struct sched_cluster *cl;
	char **ids;
};

/* A non-stopped task on the instance it names (none: a one-host FARGATE
 * task; one that left the cluster: not in the view). */
static int view_task(struct berthd *d, json_t *t, void *ctx, struct berr **err)
{
	struct view_ctx *v = ctx;
	const char *owner = cstate_owner(t);
	uint32_t idx;

	(void)d;
	if (!owner)
		return 0;
	for (idx = 0; v->ids[idx] && strcmp(v->ids[idx], owner); idx++)
		;
	if (!v->ids[idx])
		return 0;
	struct sched_task_spec ts = {
		.id = api_arn_tail(json_string_value(json_object_get(t, "taskArn")) ?: ""),
		.group = json_string_value(json_object_get(t, "group")),
		.started_by = json_string_value(json_object_get(t, "startedBy")),
		.cpu = clamp32(strtoll(json_string_value(json_object_get(t, "cpu")) ?: "0", NULL, 10)),
		.memory = clamp32(strtoll(json_string_value(json_object_get(t, "memory")) ?: "0", NULL, 10)),
	};

	return sched_cluster_add_task(v->cl, idx, &ts, err);
}

int cstate_view(struct berthd *d, struct sched_cluster **out, char ***ids_out, char ***arns_out,
		struct berr **err)
{
	cleanup_json json_t *self = NULL, *others = NULL;
	struct sched_cluster *cl;
	char **ids, **arns;
	size_t n = 0, i;
	json_t *v;
	int r;

	*out = NULL;
	if (!(self = api_instance_self(d, err)))
		return -EIO;
	if ((r = cluster_instances(d, &others, err)) < 0)
		return r;
	cl = sched_cluster_new(0x62657274);
	ids = xcalloc(json_array_size(others) + 2, sizeof(*ids));
	arns = xcalloc(json_array_size(others) + 2, sizeof(*arns));
	if ((r = add_instance(cl, self, true, &(uint32_t){ 0 }, err)) < 0)
		goto fail;
	ids[n] = xstrdup(d->instance_id);
	arns[n++] = xstrdup(d->instance_arn);
	json_array_foreach(others, i, v) {
		const char *arn = json_string_value(json_object_get(v, "containerInstanceArn"));
		uint32_t idx;

		if (!arn)
			continue;
		bool up = json_is_true(json_object_get(v, "agentConnected"));

		if ((r = add_instance(cl, v, up, &idx, err)) < 0)
			goto fail;
		if (up)
			json_object_del(d->cstate->down, api_arn_tail(arn));
		else if (!json_object_get(d->cstate->down, api_arn_tail(arn)))
			json_object_set_new(d->cstate->down, api_arn_tail(arn), json_real(mono()));
		ids[n] = xstrdup(api_arn_tail(arn));
		arns[n++] = xstrdup(arn);
	}
	if ((r = each_task(d, &(struct store_task_filter){ .not_stopped = true }, view_task,
			   &(struct view_ctx){ cl, ids }, err)) < 0)
		goto fail;
	*out = cl;
	*ids_out = ids;
	*arns_out = arns;
	return 0;
fail:
	sched_cluster_free(cl);
	cstate_strv_free(ids);
	cstate_strv_free(arns);
	return r;
}

/* ------------------------------------------------------------ services */

static char *svc_name_key(const json_t *doc)
{
	const char *carn = json_string_value(json_object_get(doc, "clusterArn")) ?: "";
	const char *name = json_string_value(json_object_get(doc, "serviceName")) ?: "";

	return xasprintf("%s/%s", api_arn_tail(carn), name);
}

/* The comparisons that hold while this host leads: its candidate key
 * exists with the create revision it had, and no candidate is older. */
static int leader_fence(struct cstate *c, struct etcd_cmp *cmps, char **keys, struct berr **err)
{
	struct berthd *d = c->d;
	struct etcd_kv kv = { 0 };
	int r;

	keys[0] = xasprintf("%s/leader/%" PRIx64, d->cfg.cluster_prefix, (uint64_t)cluster_lease(d));
	keys[1] = xasprintf("%s/leader/", d->cfg.cluster_prefix);
	if ((r = etcd_get(cluster_etcd(d), keys[0], &kv, NULL, err)) < 0)
		return r;
	if (r == 0)
		return berr_set(err, ESTALE, "cluster: this host is no longer a candidate for leader");
	cmps[0] = (struct etcd_cmp){ .key = keys[0], .target = ETCD_CMP_CREATE, .op = ETCD_EQUAL,
				     .number = kv.create_revision };
	cmps[1] = (struct etcd_cmp){ .key = keys[1], .prefix = true, .target = ETCD_CMP_CREATE,
				     .op = ETCD_GREATER, .number = kv.create_revision - 1 };
	etcd_kv_clear(&kv);
	return 0;
}

int cstate_service_write(struct berthd *d, const json_t *doc, const json_t *state, bool as_leader,
			 struct berr **err)
{
	struct cstate *c = d->cstate;
	cleanup_free char *name = NULL, *key = NULL, *text = NULL;
	cleanup_json json_t *rec = NULL;
	char *fkeys[2] = { NULL, NULL };
	struct etcd_cmp cmps[3];
	struct etcd_txn_result res = { 0 };
	size_t n = 1;
	int r;

	if (!c)
		return berr_set(err, ENOTCONN, "cluster state: not in a cluster");
	name = svc_name_key(doc);
	key = key_of(c, "services/%s", name);
	rec = json_pack("{s:O, s:O}", "doc", (json_t *)doc, "state", (json_t *)state);
	text = json_dumps(rec, JSON_COMPACT);
	cmps[0] = (struct etcd_cmp){ .key = key, .target = ETCD_CMP_MOD, .op = ETCD_EQUAL,
				     .number = json_integer_value(json_object_get(c->svc_revs, name)) };
	if (as_leader) {
		if ((r = leader_fence(c, cmps + 1, fkeys, err)) < 0)
			goto out;
		n = 3;
	}
	{
		struct etcd_op put = { .type = ETCD_OP_PUT, .key = key, .value = text,
				       .value_len = strlen(text) };

		r = etcd_txn(cluster_etcd(d), cmps, n, &put, 1, NULL, 0, &res, err);
	}
	if (r < 0)
		goto out;
	if (res.succeeded) {
		json_object_set_new(c->svc_revs, name, json_integer(res.revision));
		r = 1;
	} else {
		r = 0;
	}
	etcd_txn_result_clear(&res);
out:
	free(fkeys[0]);
	free(fkeys[1]);
	return r;
}

static void apply_service(struct cstate *c, const char *name, const struct etcd_kv *kv, json_t *rec)
{
	struct berthd *d = c->d;
	cleanup_berr struct berr *err = NULL;
	json_t *doc = json_object_get(rec, "doc"), *state = json_object_get(rec, "state");
	json_t *known = json_object_get(c->svc_revs, name);

	if (known && json_integer_value(known) == kv->mod_revision)
		return;   /* this host's own write */
	if (!json_is_object(doc) || !json_is_object(state))
		return;
	json_object_set_new(c->svc_revs, name, json_integer(kv->mod_revision));
	if (store_service_put(d->st, doc, state, &err) < 0) {
		log_warn("cluster: service %s: %s", name, berr_msg(err));
		return;
	}
	if (svcctl_reload(d, doc, state, &err) < 0)
		log_warn("cluster: service %s: %s", name, berr_msg(err));
}

/* ------------------------------------------------------------ instances away */

bool cstate_instance_down(struct berthd *d, const char *id)
{
	return d->cstate && id && json_object_get(d->cstate->down, id) != NULL;
}

int cstate_mark_task(struct berthd *d, const json_t *doc, bool stopped, const char *stop_code,
		     const char *reason, struct berr **err)
{
	struct cstate *c = d->cstate;
	const char *id = api_arn_tail(json_string_value(json_object_get(doc, "taskArn")) ?: "");
	cleanup_json json_t *m = json_deep_copy(doc);
	cleanup_free char *key = NULL;
	double now = api_now();
	int r;

	if (!c)
		return berr_set(err, ENOTCONN, "cluster state: not in a cluster");
	json_object_set_new(m, "desiredStatus", json_string("STOPPED"));
	if (!json_object_get(m, "stopCode") || !strcmp(json_string_value(json_object_get(doc, "desiredStatus")) ?: "", "RUNNING")) {
		json_object_set_new(m, "stopCode", json_string(stop_code));
		json_object_set_new(m, "stoppedReason", json_string(reason));
		json_object_set_new(m, "stoppingAt", json_real(now));
	}
	if (stopped)
		api_task_set_stopped(m, stop_code, reason, now);
	json_object_set_new(m, "version", json_integer(json_integer_value(json_object_get(doc, "version")) + 1));
	key = key_of(c, "tasks/%s", id);
	if ((r = put_doc(c, key, m, err)) < 0)
		return r;
	/* the store at once (the watch brings the same) */
	c->applying = true;
	r = store_task_put(d->st, m, NULL, err);
	c->applying = false;
	return r;
}

struct gone_ctx {
	const char *id;
	int64_t seconds;
};

static int mark_gone(struct berthd *d, json_t *t, void *ctx, struct berr **err)
{
	struct gone_ctx *g = ctx;
	cleanup_free char *why = xasprintf("Container instance %s is gone (no heartbeat for %" PRId64 " s)",
					   g->id, g->seconds);
	const char *tid = api_arn_tail(json_string_value(json_object_get(t, "taskArn")) ?: "");

	if (cstate_mark_task(d, t, true, "TerminationNotice", why, err) < 0) {
		log_warn("cluster: task %s on gone instance %s: %s", tid, g->id, berr_msg(*err));
		berr_clear(err);
	} else {
		log_info("cluster: task %s: STOPPED: %s", tid, why);
	}
	return 0;
}

/* The leader: every task of an instance disconnected for gone_seconds is
 * STOPPED (the instance's own report, if it ever comes back, stops what
 * still runs there: apply_task). */
static void sweep_gone(struct cstate *c)
{
	struct berthd *d = c->d;
	const char *id;
	json_t *since;
	double now = mono();

	if (!d->cluster_leader)
		return;
	json_object_foreach(c->down, id, since) {
		cleanup_berr struct berr *err = NULL;
		struct store_task_filter f = { .container_instance = id, .not_stopped = true };

		if (now - json_real_value(since) < (double)c->gone_seconds)
			continue;
		if (each_task(d, &f, mark_gone, &(struct gone_ctx){ id, c->gone_seconds }, &err) < 0)
			log_warn("cluster: the tasks of gone instance %s: %s", id, berr_msg(err));
	}
}

/* ------------------------------------------------------------ commands */

int cstate_assign(struct berthd *d, const char *instance_id, const json_t *doc, const json_t *input,
		  struct berr **err)
{
	struct cstate *c = d->cstate;
	const char *id = api_arn_tail(json_string_value(json_object_get(doc, "taskArn")) ?: "");
	cleanup_free char *tkey = NULL, *ckey = NULL, *tval = NULL, *cval = NULL;
	cleanup_json json_t *cmd = NULL;
	struct etcd_txn_result res = { 0 };
	int r;

	if (!c)
		return berr_set(err, ENOTCONN, "cluster state: not in a cluster");
	tkey = key_of(c, "tasks/%s", id);
	ckey = key_of(c, "cmd/%s/%s/run", instance_id, id);
	cmd = json_pack("{s:s, s:O}", "op", "run", "input", (json_t *)input);
	tval = json_dumps(doc, JSON_COMPACT);
	cval = json_dumps(cmd, JSON_COMPACT);
	{
		struct etcd_cmp cmp = { .key = tkey, .target = ETCD_CMP_CREATE, .op = ETCD_EQUAL };
		struct etcd_op ops[] = {
			{ .type = ETCD_OP_PUT, .key = tkey, .value = tval, .value_len = strlen(tval) },
			{ .type = ETCD_OP_PUT, .key = ckey, .value = cval, .value_len = strlen(cval) },
		};

		if ((r = etcd_txn(cluster_etcd(d), &cmp, 1, ops, 2, NULL, 0, &res, err)) < 0)
			return r;
	}
	r = res.succeeded;
	etcd_txn_result_clear(&res);
	if (!r)
		return berr_set(err, EEXIST, "task %s: already in the cluster's state", id);
	return 0;
}

int cstate_stop_remote(struct berthd *d, const char *instance_id, const char *cluster, const char *id,
		       const char *stop_code, const char *reason, struct berr **err)
{
	struct cstate *c = d->cstate;
	cleanup_free char *key = NULL;
	cleanup_json json_t *cmd = NULL;

	if (!c)
		return berr_set(err, ENOTCONN, "cluster state: not in a cluster");
	key = key_of(c, "cmd/%s/%s/stop", instance_id, id);
	cmd = json_pack("{s:s, s:s, s:s, s:s}", "op", "stop", "cluster", cluster, "stopCode", stop_code,
			"reason", reason);
	return put_doc(c, key, cmd, err);
}

/* Carry out a command for this host; it is deleted first (at most once:
 * a berthd that dies in between leaves that task PROVISIONING rather than
 * run it twice). */
static void command(struct cstate *c, const char *key, const char *id, const struct etcd_kv *kv)
{
	struct berthd *d = c->d;
	cleanup_berr struct berr *err = NULL;
	cleanup_json json_t *cmd = NULL;
	json_error_t je;
	const char *op;

	if (etcd_delete(cluster_etcd(d), key, false, NULL, &err) < 0) {
		log_warn("cluster: command %s: not taken (%s); it stays for the next start", key,
			 berr_msg(err));
		return;
	}
	cmd = json_loadb(kv->value, kv->value_len, 0, &je);
	op = json_string_value(json_object_get(cmd, "op")) ?: "";
	if (!strcmp(op, "run")) {
		struct api_error e = { 0 };
		cleanup_json json_t *res = NULL;
		json_t *f;

		res = api_run_task_as(d, json_object_get(cmd, "input"), id, &e);
		if (!res) {
			log_warn("cluster: task %s placed here: %s: %s", id, e.type, e.message ?: "");
			api_task_fail_as(d, id, e.message ?: e.type);
			api_error_clear(&e);
		} else if ((f = json_array_get(json_object_get(res, "failures"), 0))) {
			cleanup_free char *why = xasprintf(
				"placed on %s, which has no room for it: %s", d->instance_id,
				json_string_value(json_object_get(f, "reason")) ?: "?");

			log_warn("cluster: task %s: %s", id, why);
			api_task_fail_as(d, id, why);
		} else {
			log_info("cluster: task %s placed here: recorded and started", id);
		}
	} else if (!strcmp(op, "stop")) {
		struct api_error e = { 0 };

		if (api_task_stop_as(d, json_string_value(json_object_get(cmd, "cluster")) ?: "", id,
				     json_string_value(json_object_get(cmd, "stopCode")) ?: "UserInitiated",
				     json_string_value(json_object_get(cmd, "reason")) ?: "Task stopped by user",
				     &e) < 0) {
			log_warn("cluster: stop task %s: %s: %s", id, e.type, e.message ?: "");
			api_error_clear(&e);
		}
	} else {
		log_warn("cluster: command %s: unknown op \"%s\": dropped", key, op);
	}
}

/* ------------------------------------------------------------ applying etcd's records */

static void apply_task(struct cstate *c, const char *id, json_t *doc)
{
	struct berthd *d = c->d;
	cleanup_berr struct berr *err = NULL;
	cleanup_json json_t *local = NULL;
	const char *owner = cstate_owner(doc);
	int r;

	if (!json_is_object(doc) || !json_is_string(json_object_get(doc, "taskArn")))
		return;
	r = store_task_get(d->st, id, &local, &err);
	if (r < 0) {
		log_warn("cluster: task %s: %s", id, berr_msg(err));
		return;
	}
	if (owner && !strcmp(owner, d->instance_id) && r > 0) {
		/* ours, and known here: this host's record is the truth, except
		 * that another host may have stopped it while this one was away */
		const char *ls = json_string_value(json_object_get(local, "lastStatus")) ?: "";
		const char *want = json_string_value(json_object_get(doc, "desiredStatus")) ?: "";

		if (strcmp(ls, "STOPPED") && !strcmp(want, "STOPPED") &&
		    strcmp(json_string_value(json_object_get(local, "desiredStatus")) ?: "", "STOPPED")) {
			struct api_error e = { 0 };
			const char *cluster = api_arn_tail(json_string_value(json_object_get(doc, "clusterArn")) ?: "");

			log_info("cluster: task %s was stopped by the cluster while this host was away: "
				 "stopping it", id);
			if (api_task_stop_as(d, cluster, id,
					     json_string_value(json_object_get(doc, "stopCode")) ?: "UserInitiated",
					     json_string_value(json_object_get(doc, "stoppedReason")) ?: "stopped",
					     &e) < 0)
				api_error_clear(&e);
		}
		return;
	}
	c->applying = true;
	if (store_task_put(d->st, doc, NULL, &err) < 0)
		log_warn("cluster: task %s: %s", id, berr_msg(err));
	c->applying = false;
}

static void apply(struct cstate *c, const struct etcd_kv *kv, bool deleted)
{
	struct berthd *d = c->d;
	cleanup_berr struct berr *err = NULL;
	cleanup_json json_t *doc = NULL;
	const char *rel = kv->key + strlen(c->prefix);
	const char *name;
	json_error_t je;

	if (strncmp(kv->key, c->prefix, strlen(c->prefix)))
		return;
	if (!strncmp(rel, "cmd/", 4)) {
		size_t n = strlen(d->instance_id);
		char id[33];

		name = rel + 4;
		if (deleted || strncmp(name, d->instance_id, n) || name[n] != '/')
			return;
		name += n + 1;
		/* <id>/run, <id>/stop */
		if (strlen(name) < 33 || name[32] != '/')
			return;
		memcpy(id, name, 32);
		id[32] = 0;
		command(c, kv->key, id, kv);
		return;
	}
	if (!deleted) {
		doc = json_loadb(kv->value, kv->value_len, 0, &je);
		if (!json_is_object(doc))
			return;
	}
	if (!strncmp(rel, "clusters/", 9)) {
		name = rel + 9;
		c->applying = true;
		if ((deleted ? store_cluster_delete(d->st, name, &err) : store_cluster_put(d->st, doc, &err)) < 0)
			log_warn("cluster: cluster %s: %s", name, berr_msg(err));
		c->applying = false;
	} else if (!strncmp(rel, "taskdefs/", 9)) {
		if (deleted)
			return;
		c->applying = true;
		if (store_taskdef_put(d->st, doc, &err) < 0)
			log_warn("cluster: task definition %s: %s", rel + 9, berr_msg(err));
		c->applying = false;
	} else if (!strncmp(rel, "tasks/", 6)) {
		if (!deleted)
			apply_task(c, rel + 6, doc);
	} else if (!strncmp(rel, "services/", 9)) {
		if (!deleted)
			apply_service(c, rel + 9, kv, doc);
	}
}

static void watch_event(struct ev_handler *h, uint32_t events)
{
	struct cstate *c = (struct cstate *)((char *)h - offsetof(struct cstate, h));
	cleanup_berr struct berr *err = NULL;
	struct etcd_event *ev = NULL;
	size_t n = 0;
	int r;

	(void)events;
	if (!c->w)
		return;
	r = etcd_watch_poll(c->w, &ev, &n, &err);
	if (r < 0) {
		/* compacted past us, or cancelled: read everything again */
		log_warn("cluster: the watch on %s ended (%s): reading the shared state again", c->prefix,
			 berr_msg(err));
		berr_clear(&err);
		server_unwatch(c->d, etcd_watch_fd(c->w));
		etcd_watch_close(c->w);
		c->w = NULL;
		return;   /* the next tick's cstate_flush reopens it */
	}
	for (size_t i = 0; i < n; i++)
		apply(c, &ev[i].kv, ev[i].type == ETCD_EVENT_DELETE);
	etcd_events_free(ev, n);
}

void cstate_poll(struct berthd *d)
{
	if (d->cstate)
		watch_event(&d->cstate->h, EPOLLIN);
}

/* Read everything under the prefix into the store and watch from there. */
static int sync_and_watch(struct cstate *c, struct berr **err)
{
	struct berthd *d = c->d;
	struct etcd_range_result res = { 0 };
	struct etcd_range_opts o = { .limit = 500 };
	cleanup_free char *cont = NULL;
	int64_t rev = 0;
	int r;

	do {
		o.cont = cont;
		if ((r = etcd_range(cluster_etcd(d), c->prefix, &o, &res, err)) < 0)
			return r;
		rev = res.revision;
		for (size_t i = 0; i < res.n; i++)
			apply(c, &res.kvs[i], false);
		free(cont);
		cont = res.more && res.cont ? xstrdup(res.cont) : NULL;
		o.revision = rev;
		etcd_range_result_clear(&res);
	} while (cont);
	{
		struct etcd_watch_opts wo = { .key = c->prefix, .prefix = true, .start_revision = rev + 1 };

		if ((r = etcd_watch_open(cluster_etcd(d), &wo, &c->w, err)) < 0)
			return r;
	}
	if (d->epfd >= 0 && (r = server_watch(d, etcd_watch_fd(c->w), EPOLLIN, &c->h)) < 0) {
		etcd_watch_close(c->w);
		c->w = NULL;
		return r;
	}
	return 0;
}

static int publish_cluster(struct berthd *d, const char *name, void *ctx, struct berr **err)
{
	struct cstate *c = ctx;
	cleanup_json json_t *doc = NULL;
	cleanup_free char *key = key_of(c, "clusters/%s", name), *text = NULL;
	int r;

	if ((r = store_cluster_get(d->st, name, &doc, err)) <= 0)
		return r;
	text = json_dumps(doc, JSON_COMPACT);
	return etcd_create(cluster_etcd(d), key, text, strlen(text), 0, NULL, NULL, err) < 0 ? -EIO : 0;
}

static int publish_task(struct berthd *d, json_t *t, void *ctx, struct berr **err)
{
	struct cstate *c = ctx;
	const char *id = api_arn_tail(json_string_value(json_object_get(t, "taskArn")) ?: "");
	cleanup_free char *key = key_of(c, "tasks/%s", id);
	struct etcd_kv kv = { 0 };
	bool stopped_there = false;
	int r;

	if (!cstate_owner(t))
		return 0;   /* a one-host FARGATE task from before the cluster */
	/* stopped by the cluster while this host was away: that stays (the
	 * read that follows stops it here) */
	if ((r = etcd_get(cluster_etcd(d), key, &kv, NULL, err)) < 0)
		return r;
	if (r) {
		cleanup_json json_t *there = json_loadb(kv.value, kv.value_len, 0, NULL);

		stopped_there = !strcmp(json_string_value(json_object_get(there, "desiredStatus")) ?: "",
					"STOPPED") &&
				strcmp(json_string_value(json_object_get(t, "desiredStatus")) ?: "", "STOPPED");
	}
	etcd_kv_clear(&kv);
	return stopped_there ? 0 : put_doc(c, key, t, err);
}

/* Publish what this host has and etcd lacks: its own tasks (always: they
 * are its to write) and the clusters, task definitions and services etcd
 * has no record of (where both have one, etcd's wins). */
static int publish_local(struct cstate *c, struct berr **err)
{
	struct berthd *d = c->d;
	char *after = NULL;
	bool more = true;
	int r;

	if ((r = each_cluster(d, publish_cluster, c, err)) < 0 ||
	    (r = each_task(d, &(struct store_task_filter){ .owned_by = d->instance_id }, publish_task, c,
			   err)) < 0)
		return r;
	/* task definitions */
	while (more && r >= 0) {
		cleanup_json json_t *arns = NULL;
		json_t *arn;
		size_t i;

		if ((r = store_taskdef_list(d->st, NULL, NULL, false,
					    &(struct store_page){ .after = after, .limit = 200 }, &arns, &more,
					    err)) < 0)
			break;
		json_array_foreach(arns, i, arn) {
			const char *tail = api_arn_tail(json_string_value(arn));
			const char *colon = strrchr(tail, ':');
			cleanup_free char *family = colon ? xstrndup(tail, (size_t)(colon - tail)) : NULL;
			cleanup_free char *key = key_of(c, "taskdefs/%s", tail), *text = NULL;
			cleanup_json json_t *doc = NULL;

			if (!colon || store_taskdef_get(d->st, family, strtoll(colon + 1, NULL, 10), &doc,
							err) <= 0) {
				berr_clear(err);
				continue;
			}
			text = json_dumps(doc, JSON_COMPACT);
			if ((r = etcd_create(cluster_etcd(d), key, text, strlen(text), 0, NULL, NULL, err)) < 0)
				break;
		}
		free(after);
		if (!(after = page_after_last(arns)))
			more = false;
	}
	free(after);
	if (r < 0)
		return r;
	/* services from before the cluster (etcd's win where both have one) */
	{
		cleanup_json json_t *docs = NULL, *states = NULL;
		json_t *doc;
		size_t i;

		if ((r = store_service_live(d->st, &docs, &states, err)) < 0)
			return r;
		json_array_foreach(docs, i, doc) {
			cleanup_free char *name = svc_name_key(doc), *key = key_of(c, "services/%s", name);
			cleanup_json json_t *rec = json_pack("{s:O, s:O}", "doc", doc, "state",
							     json_array_get(states, i));
			cleanup_free char *text = json_dumps(rec, JSON_COMPACT);

			if ((r = etcd_create(cluster_etcd(d), key, text, strlen(text), 0, NULL, NULL, err)) < 0)
				return r;
		}
	}
	return 0;
}

/* ------------------------------------------------------------ lifecycle */

int cstate_start(struct berthd *d, struct berr **err)
{
	struct cstate *c;
	int r;

	if (!d->cluster)
		return 0;
	c = xzalloc(sizeof(*c));
	c->d = d;
	c->h.fn = watch_event;
	c->prefix = xasprintf("%s/", d->cfg.cluster_prefix);
	c->pending = json_object();
	c->svc_revs = json_object();
	c->down = json_object();
	c->gone_seconds = d->cfg.cluster_gone_seconds;
	d->cstate = c;
	if ((r = publish_local(c, err)) < 0)
		goto fail;
	/* from here on what this host writes is shared (the commands waiting
	 * for it run while it reads) */
	store_set_hook(d->st, hook, c);
	if ((r = sync_and_watch(c, err)) < 0)
		goto fail;
	log_info("cluster: sharing clusters, task definitions and tasks under %s", c->prefix);
	cstate_flush(d);
	return 0;
fail:
	berr_wrap(err, "cluster: share the state through etcd");
	cstate_stop(d);
	return r;
}

/* The tick (cluster.c) calls the flush; a watch that ended is opened again
 * from a fresh read here. */
void cstate_tick(struct berthd *d)
{
	struct cstate *c = d->cstate;
	cleanup_berr struct berr *err = NULL;

	if (!c)
		return;
	if (!c->w && sync_and_watch(c, &err) < 0)
		log_warn("cluster: read the shared state: %s; trying again", berr_msg(err));
	c->retry_at = 0;
	cstate_flush(d);
	/* who is down: the view keeps c->down current */
	if (d->cluster_leader) {
		struct sched_cluster *cl = NULL;
		char **ids = NULL, **arns = NULL;

		if (cstate_view(d, &cl, &ids, &arns, &err) < 0) {
			log_debug("cluster: view: %s", berr_msg(err));
		} else {
			sched_cluster_free(cl);
			cstate_strv_free(ids);
			cstate_strv_free(arns);
			sweep_gone(c);
		}
	}
}

void cstate_stop(struct berthd *d)
{
	struct cstate *c = d->cstate;

	if (!c)
		return;
	store_set_hook(d->st, NULL, NULL);
	if (c->w) {
		if (d->epfd >= 0)
			server_unwatch(d, etcd_watch_fd(c->w));
		etcd_watch_close(c->w);
	}
	json_decref(c->pending);
	json_decref(c->svc_revs);
	json_decref(c->down);
	free(c->prefix);
	free(c);
	d->cstate = NULL;
}
