/* runtime/daemon/cluster.c - berthd in a cluster kept in etcd (cluster.h). */
#include "runtime/daemon/cluster.h"

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/json.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "runtime/daemon/cstate.h"
#include "runtime/daemon/daemon.h"
#include "runtime/daemon/server.h"
#include "scheduler/etcd.h"

struct cluster {
	struct ev_handler h;       /* the tick timer */
	struct berthd *d;
	struct etcd *etcd;
	char *endpoints;           /* "URL, URL" for messages */
	char *k_instance;          /* P/instances/<id> */
	char *k_alive;             /* P/alive/<id> */
	char *p_instances;         /* P/instances/ */
	char *p_alive;             /* P/alive/ */
	char *p_leader;            /* P/leader (the election's prefix) */
	int64_t lease;             /* 0: none held */
	int timerfd;
	bool outage;               /* etcd failed at the last tick (logged once) */
	bool lost;                 /* the lease was lost; not yet registered again */
	char *leader;              /* the leader's instance id as last logged; NULL: unknown */
	char *doc_text;            /* the instance document as last written; NULL: write it */
};

/* ------------------------------------------------------------ helpers */

static bool transport_error(int code)
{
	return code == ECONNREFUSED || code == ETIMEDOUT || code == EHOSTUNREACH ||
	       code == EAGAIN || code == ECONNRESET || code == ENETUNREACH;
}

static const char *transport_what(int code)
{
	switch (code) {
	case ECONNREFUSED: return "connection refused";
	case ETIMEDOUT: return "timed out";
	case EHOSTUNREACH:
	case ENETUNREACH: return "unreachable";
	case EAGAIN: return "unavailable";
	default: return "connection lost";
	}
}

/* Write the instance document when it differs from what was written last
 * (always after a re-registration: doc_text is cleared then). */
static int write_doc(struct cluster *c, struct berr **err)
{
	cleanup_json json_t *doc = api_instance_self(c->d, err);
	cleanup_free char *text = NULL;
	int r;

	if (!doc)
		return berr_wrap(err, "cluster: this host's container instance");
	text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
	if (!text)
		return berr_set(err, ENOMEM, "cluster: serialize the container instance");
	if (c->doc_text && !strcmp(c->doc_text, text))
		return 0;
	if ((r = etcd_put(c->etcd, c->k_instance, text, strlen(text), 0, NULL, err)) < 0)
		return r;
	free(c->doc_text);
	c->doc_text = steal_pointer(&text);
	return 0;
}

/* A new lease, the alive key on it, the instance document. On failure no
 * lease is held (a granted one is revoked if etcd still answers, else it
 * expires by itself). */
static int join(struct cluster *c, struct berr **err)
{
	int64_t id = 0;
	int r;

	if ((r = etcd_lease_grant(c->etcd, c->d->cfg.cluster_lease_seconds, 0, &id, NULL, err)) < 0)
		return r;
	if ((r = etcd_put(c->etcd, c->k_alive, c->d->instance_id, strlen(c->d->instance_id), id,
			  NULL, err)) < 0)
		goto fail;
	free(c->doc_text);
	c->doc_text = NULL;
	if ((r = write_doc(c, err)) < 0)
		goto fail;
	c->lease = id;
	return 0;
fail:
	etcd_lease_revoke(c->etcd, id, NULL);
	return r;
}

static void set_leader(struct cluster *c, const char *who)
{
	bool self = who && !strcmp(who, c->d->instance_id);

	if (self && !c->d->cluster_leader)
		log_info("cluster: this instance is the leader");
	else if (!self && c->d->cluster_leader)
		log_info("cluster: this instance is no longer the leader");
	if (who && !self && (!c->leader || strcmp(c->leader, who)))
		log_info("cluster: this instance follows %s", who);
	c->d->cluster_leader = self;
	free(c->leader);
	c->leader = who ? xstrdup(who) : NULL;
}

/* Campaign (idempotent: keeps this host's place) and learn who leads. */
static int lead(struct cluster *c, struct berr **err)
{
	const char *id = c->d->instance_id;
	struct etcd_kv kv = { 0 };
	int r;

	r = etcd_election_campaign(c->etcd, c->p_leader, c->lease, id, strlen(id), err);
	if (r < 0)
		return r;
	if (r == 1) {
		set_leader(c, id);
		return 0;
	}
	if ((r = etcd_election_leader(c->etcd, c->p_leader, &kv, err)) < 0)
		return r;
	/* r == 0: the leader's key went between the two calls; next tick */
	set_leader(c, r == 1 ? kv.value : NULL);
	etcd_kv_clear(&kv);
	return 0;
}

static void lost_etcd(struct cluster *c, const struct berr *err)
{
	if (!c->outage)
		log_warn("cluster: etcd unreachable: %s; serving locally, services are not stepped "
			 "until it is back", berr_msg(err));
	c->outage = true;
	if (c->d->cluster_leader)
		log_warn("cluster: this instance is no longer the leader (etcd unreachable)");
	c->d->cluster_leader = false;
	free(c->leader);
	c->leader = NULL;
}

void cluster_tick(struct berthd *d)
{
	struct cluster *c = d->cluster;
	cleanup_berr struct berr *err = NULL;
	int r;

	if (!c)
		return;
	if (c->lease) {
		r = etcd_lease_keepalive(c->etcd, c->lease, NULL, &err);
		if (r == -ENOENT) {
			/* expired (an outage longer than the TTL, a stall) or revoked */
			berr_clear(&err);
			c->lease = 0;
			c->lost = true;
			if (d->cluster_leader)
				log_warn("cluster: this instance is no longer the leader (its lease "
					 "was lost)");
			d->cluster_leader = false;
		} else if (r < 0) {
			goto down;
		}
	}
	if (!c->lease) {
		if (join(c, &err) < 0)
			goto down;
		if (c->lost)
			log_warn("cluster: lease lost, re-registered");
		else
			log_info("cluster: registered again (lease %" PRIx64 ")", (uint64_t)c->lease);
		c->lost = false;
	} else if (write_doc(c, &err) < 0) {
		goto down;
	}
	if (lead(c, &err) < 0)
		goto down;
	if (c->outage) {
		log_info("cluster: etcd %s answers again", etcd_endpoint(c->etcd));
		c->outage = false;
	}
	cstate_tick(d);
	return;
down:
	lost_etcd(c, err);
}

static void timer_event(struct ev_handler *h, uint32_t events)
{
	struct cluster *c = (struct cluster *)((char *)h - offsetof(struct cluster, h));
	uint64_t n;

	(void)events;
	if (read(c->timerfd, &n, sizeof(n)) < 0)
		return;
	if (c->d->stopping)
		return;
	cluster_tick(c->d);
}

/* ------------------------------------------------------------ lifecycle */

static void cluster_free(struct cluster *c)
{
	if (!c)
		return;
	if (c->timerfd >= 0) {
		if (c->d->epfd >= 0)
			server_unwatch(c->d, c->timerfd);
		close(c->timerfd);
	}
	etcd_close(c->etcd);
	free(c->endpoints);
	free(c->k_instance);
	free(c->k_alive);
	free(c->p_instances);
	free(c->p_alive);
	free(c->p_leader);
	free(c->leader);
	free(c->doc_text);
	free(c);
}

static int start_timer(struct cluster *c, struct berr **err)
{
	int64_t ms = c->d->cfg.cluster_lease_seconds * 1000 / 3;
	struct itimerspec its = { 0 };

	c->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (c->timerfd < 0)
		return berr_set(err, errno, "cluster: timerfd");
	its.it_value.tv_sec = its.it_interval.tv_sec = ms / 1000;
	its.it_value.tv_nsec = its.it_interval.tv_nsec = (ms % 1000) * 1000000;
	if (timerfd_settime(c->timerfd, 0, &its, NULL) < 0)
		return berr_set(err, errno, "cluster: timerfd_settime");
	return server_watch(c->d, c->timerfd, EPOLLIN, &c->h);
}

int cluster_start(struct berthd *d, struct berr **err)
{
	const struct berthd_config *cfg = &d->cfg;
	int64_t lease_ms = cfg->cluster_lease_seconds * 1000;
	struct etcd_opts o = {
		/* a tick stops at its first failed call: one timeout at most, less
		 * than the third of the lease between ticks */
		.timeout_ms = (int)(lease_ms / 4 < 500 ? 500 : lease_ms / 4 > 2000 ? 2000 : lease_ms / 4),
		.connect_timeout_ms = 250,
		.ca_file = cfg->cluster_ca_file,
		.cert_file = cfg->cluster_cert_file,
		.key_file = cfg->cluster_key_file,
	};
	struct cluster *c;
	size_t len = 0;
	int r;

	if (!cfg->cluster_etcd)
		return 0;
	if (d->cluster)
		return berr_set(err, EALREADY, "cluster: already joined");
	c = xzalloc(sizeof(*c));
	c->d = d;
	c->timerfd = -1;
	c->h.fn = timer_event;
	for (char **e = cfg->cluster_etcd; *e; e++)
		len += strlen(*e) + 2;
	c->endpoints = xzalloc(len + 1);
	for (char **e = cfg->cluster_etcd; *e; e++) {
		if (e != cfg->cluster_etcd)
			strcat(c->endpoints, ", ");
		strcat(c->endpoints, *e);
	}
	c->k_instance = xasprintf("%s/instances/%s", cfg->cluster_prefix, d->instance_id);
	c->k_alive = xasprintf("%s/alive/%s", cfg->cluster_prefix, d->instance_id);
	c->p_instances = xasprintf("%s/instances/", cfg->cluster_prefix);
	c->p_alive = xasprintf("%s/alive/", cfg->cluster_prefix);
	c->p_leader = xasprintf("%s/leader", cfg->cluster_prefix);
	if ((r = etcd_open((const char *const *)cfg->cluster_etcd, &o, &c->etcd, err)) < 0) {
		berr_wrap(err, "cluster");
		goto fail;
	}
	d->cluster = c;
	if ((r = join(c, err)) < 0 || (r = lead(c, err)) < 0) {
		int code = *err ? (*err)->code : 0;

		if (transport_error(code)) {
			cleanup_free char *detail = xstrdup(berr_msg(*err));

			berr_set(err, 0, "cluster: etcd %s: %s; is etcd running? (%s)", c->endpoints,
				 transport_what(code), detail);
			(*err)->code = code;
		} else {
			berr_wrap(err, "cluster: join through etcd %s", c->endpoints);
		}
		if (c->lease)
			etcd_lease_revoke(c->etcd, c->lease, NULL);
		d->cluster = NULL;
		d->cluster_leader = false;
		goto fail;
	}
	if (d->epfd >= 0 && (r = start_timer(c, err)) < 0) {
		etcd_lease_revoke(c->etcd, c->lease, NULL);
		d->cluster = NULL;
		d->cluster_leader = false;
		goto fail;
	}
	log_info("cluster: joined through etcd %s as %s (prefix %s, lease %" PRIx64 " of %" PRId64
		 " s)", etcd_endpoint(c->etcd), d->instance_id, cfg->cluster_prefix, (uint64_t)c->lease,
		 cfg->cluster_lease_seconds);
	return 0;
fail:
	cluster_free(c);
	return r;
}

void cluster_stop(struct berthd *d)
{
	struct cluster *c = d->cluster;
	cleanup_berr struct berr *err = NULL;

	if (!c)
		return;
	if (c->lease) {
		if (etcd_lease_revoke(c->etcd, c->lease, &err) < 0 && err && err->code != ENOENT)
			log_warn("cluster: could not revoke the lease (%s): the others see this "
				 "instance go when it expires (%" PRId64 " s)", berr_msg(err),
				 d->cfg.cluster_lease_seconds);
		else
			log_info("cluster: left (lease revoked)");
	}
	d->cluster = NULL;
	d->cluster_leader = false;
	cluster_free(c);
}

struct etcd *cluster_etcd(struct berthd *d)
{
	return d->cluster ? d->cluster->etcd : NULL;
}

int64_t cluster_lease(const struct berthd *d)
{
	return d->cluster ? d->cluster->lease : 0;
}

/* ------------------------------------------------------------ instances */

int cluster_instances(struct berthd *d, json_t **docs, struct berr **err)
{
	struct cluster *c = d->cluster;
	struct etcd_range_result inst = { 0 }, alive = { 0 };
	struct etcd_range_opts ko = { .keys_only = true };
	int r;

	*docs = json_array();
	if (!c)
		return 0;
	if (c->outage)
		return berr_set(err, EAGAIN, "cluster state: etcd %s unreachable since the last "
				"check", c->endpoints);
	/* a range is in key order: the instances come in id order */
	if ((r = etcd_range(c->etcd, c->p_instances, NULL, &inst, err)) < 0 ||
	    (r = etcd_range(c->etcd, c->p_alive, &ko, &alive, err)) < 0) {
		etcd_range_result_clear(&inst);
		return r;
	}
	for (size_t i = 0; i < inst.n; i++) {
		const char *id = inst.kvs[i].key + strlen(c->p_instances);
		json_error_t je;
		json_t *doc;
		bool up = false;

		if (!strcmp(id, d->instance_id) || !*id || strchr(id, '/'))
			continue;
		doc = json_loadb(inst.kvs[i].value, inst.kvs[i].value_len, 0, &je);
		if (!json_is_object(doc)) {
			log_debug("cluster: %s is not a container instance document: skipped",
				  inst.kvs[i].key);
			json_decref(doc);
			continue;
		}
		for (size_t j = 0; j < alive.n && !up; j++)
			up = !strcmp(alive.kvs[j].key + strlen(c->p_alive), id);
		json_object_set_new(doc, "agentConnected", json_boolean(up));
		json_array_append_new(*docs, doc);
	}
	etcd_range_result_clear(&inst);
	etcd_range_result_clear(&alive);
	return 0;
}
