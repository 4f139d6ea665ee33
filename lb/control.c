/* lb/control.c - the engine's workers (followers replay the leader's
 * control requests and take its health states), metrics (Prometheus text)
 * and the control API on a unix socket (docs/lb.md, "Engine", "Control
 * API", "Metrics"). */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "common/cleanup.h"
#include "common/json.h"
#include "common/log.h"
#include "lb/engine_int.h"

/* ------------------------------------------------------------ workers */

/* Followers apply the control requests the leader applied, in the order it
 * applied them, and take target health from the leader's probes: both as
 * messages on the follower's queue (a mutex-protected list and an eventfd,
 * touched only by control changes and health transitions, never per request). */
static void mq_post(struct lb_engine *f, char *req, struct mq_wait *w, size_t slot)
{
	struct mq_msg *m = xzalloc(sizeof(*m));
	uint64_t one = 1;

	m->req = req;
	m->wait = w;
	m->slot = slot;
	pthread_mutex_lock(&f->mq_mu);
	if (f->mq_tail)
		f->mq_tail->next = m;
	else
		f->mq_head = m;
	f->mq_tail = m;
	pthread_mutex_unlock(&f->mq_mu);
	if (write(f->mq_ev.fd, &one, sizeof(one)) < 0)
		log_warn("wake worker: %s", strerror(errno));
}

/* Post req to every follower and wait until all applied it; their answers
 * (JSON text, free each and the array). */
static char **replicate(struct lb_engine *e, const char *req)
{
	struct mq_wait w;
	char **answers = xcalloc(e->n_peers, sizeof(*answers));

	pthread_mutex_init(&w.mu, NULL);
	pthread_cond_init(&w.cv, NULL);
	w.pending = e->n_peers;
	w.answers = answers;
	for (size_t i = 0; i < e->n_peers; i++)
		mq_post(e->peers[i], xstrdup(req), &w, i);
	pthread_mutex_lock(&w.mu);
	while (w.pending > 0)
		pthread_cond_wait(&w.cv, &w.mu);
	pthread_mutex_unlock(&w.mu);
	pthread_cond_destroy(&w.cv);
	pthread_mutex_destroy(&w.mu);
	return answers;
}

static json_t *ctl_handle(struct lb_engine *e, const json_t *req);
static json_t *ctl_err(struct berr *err);
static char *target_str(const struct lb_target *t);

void lb_eng_mq_process(struct lb_engine *e)
{
	struct mq_msg *m;
	uint64_t v;

	if (read(e->mq_ev.fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_warn("worker queue: %s", strerror(errno));
	pthread_mutex_lock(&e->mq_mu);
	m = e->mq_head;
	e->mq_head = e->mq_tail = NULL;
	pthread_mutex_unlock(&e->mq_mu);
	while (m) {
		struct mq_msg *next = m->next;
		json_auto_t *req = NULL, *resp = NULL;
		struct berr *err = NULL;

		if (bjson_load_buf("request", m->req, strlen(m->req), &req, &err) < 0)
			resp = ctl_err(err);
		else
			resp = ctl_handle(e, req);
		e->hc_due = 0;
		if (m->wait) {
			char *text = json_dumps(resp, JSON_COMPACT);

			pthread_mutex_lock(&m->wait->mu);
			m->wait->answers[m->slot] = text;
			if (--m->wait->pending == 0)
				pthread_cond_signal(&m->wait->cv);
			pthread_mutex_unlock(&m->wait->mu);
		}
		free(m->req);
		free(m);
		m = next;
	}
}

/* leader: tell the followers when target idx of g changed its health */
void lb_eng_publish_health(struct lb_engine *e, struct tgrp *g, size_t idx)
{
	const struct lb_target *t = &g->tg.t[idx];
	cleanup_free char *addr = NULL, *text = NULL;
	json_auto_t *msg = NULL;

	if (e->n_peers == 0 || idx >= g->tg.n ||
	    (t->state != LB_TARGET_INITIAL && t->state != LB_TARGET_HEALTHY &&
	     t->state != LB_TARGET_UNHEALTHY))
		return;
	if (g->n_pub < g->tg.n) {
		g->pub = xreallocarray(g->pub, g->tg.cap, 1);
		memset(g->pub + g->n_pub, 0, g->tg.cap - g->n_pub);
		g->n_pub = g->tg.cap;
	}
	if (g->pub[idx] == (uint8_t)t->state)
		return;
	g->pub[idx] = (uint8_t)t->state;
	addr = target_str(t);
	msg = json_pack("{s:s, s:s, s:s, s:i, s:i}", "Action", "_SetHealth", "TargetGroup",
			g->name, "Target", addr, "State", (int)t->state, "Reason", (int)t->reason);
	text = json_dumps(msg, JSON_COMPACT);
	for (size_t i = 0; i < e->n_peers; i++)
		mq_post(e->peers[i], xstrdup(text), NULL, 0);
}

/* ------------------------------------------------------------ metrics */

/* this worker's counters and its followers' */
static void stats_sum(struct lb_engine *e, struct stats *out)
{
	const size_t n = sizeof(*out) / sizeof(uint64_t);
	uint64_t *o = (uint64_t *)out;

	memset(out, 0, sizeof(*out));
	for (size_t k = 0; k <= e->n_peers; k++) {
		uint64_t *w = (uint64_t *)&(k == 0 ? e : e->peers[k - 1])->st;

		for (size_t i = 0; i < n; i++)
			o[i] += __atomic_load_n(&w[i], __ATOMIC_RELAXED);
	}
}

static void render_metrics(struct lb_engine *e, struct buf *o)
{
	struct stats st;
	uint64_t cum = 0;

	stats_sum(e, &st);

	buf_addf(o, "# HELP berth_lb_requests_total HTTP requests answered, by status code.\n"
		    "# TYPE berth_lb_requests_total counter\n");
	for (int code = 100; code < 600; code++)
		if (st.by_code[code])
			buf_addf(o, "berth_lb_requests_total{code=\"%d\"} %" PRIu64 "\n", code,
				 st.by_code[code]);
	buf_addf(o, "# HELP berth_lb_request_duration_seconds From a complete request head to the "
		    "response head sent back.\n# TYPE berth_lb_request_duration_seconds histogram\n");
	for (int i = 0; i <= LAT_BUCKETS; i++) {
		cum += st.lat[i];
		if (i < LAT_BUCKETS)
			buf_addf(o, "berth_lb_request_duration_seconds_bucket{le=\"%g\"} %" PRIu64 "\n",
				 lat_bounds[i], cum);
		else
			buf_addf(o, "berth_lb_request_duration_seconds_bucket{le=\"+Inf\"} %" PRIu64
				    "\n", cum);
	}
	buf_addf(o, "berth_lb_request_duration_seconds_sum %.6f\n"
		    "berth_lb_request_duration_seconds_count %" PRIu64 "\n",
		 (double)st.lat_sum_us / 1e6, st.lat_count);
	buf_addf(o, "# HELP berth_lb_active_connections Open client connections (UDP: flows).\n"
		    "# TYPE berth_lb_active_connections gauge\n"
		    "berth_lb_active_connections{kind=\"http\"} %" PRId64 "\n"
		    "berth_lb_active_connections{kind=\"tunnel\"} %" PRId64 "\n"
		    "berth_lb_active_connections{kind=\"tcp\"} %" PRId64 "\n"
		    "berth_lb_active_connections{kind=\"udp\"} %" PRId64 "\n",
		 (int64_t)st.active_http, (int64_t)st.active_tunnels, (int64_t)st.active_tcp,
		 (int64_t)st.active_udp);
	buf_addf(o, "# HELP berth_lb_connections_total Client connections accepted.\n"
		    "# TYPE berth_lb_connections_total counter\nberth_lb_connections_total %" PRIu64
		    "\n", st.conns_total);
	buf_addf(o, "# HELP berth_lb_bytes_total Bytes from (in) and to (out) clients.\n"
		    "# TYPE berth_lb_bytes_total counter\n"
		    "berth_lb_bytes_total{direction=\"in\"} %" PRIu64 "\n"
		    "berth_lb_bytes_total{direction=\"out\"} %" PRIu64 "\n",
		 st.bytes_in, st.bytes_out);
	buf_addf(o, "# HELP berth_lb_udp_datagrams_total UDP datagrams relayed or dropped.\n"
		    "# TYPE berth_lb_udp_datagrams_total counter\n"
		    "berth_lb_udp_datagrams_total{direction=\"in\"} %" PRIu64 "\n"
		    "berth_lb_udp_datagrams_total{direction=\"out\"} %" PRIu64 "\n"
		    "berth_lb_udp_datagrams_total{direction=\"dropped\"} %" PRIu64 "\n",
		 st.udp_in, st.udp_out, st.udp_dropped);
	buf_addf(o, "# HELP berth_lb_connect_retries_total Target connections refused and retried.\n"
		    "# TYPE berth_lb_connect_retries_total counter\n"
		    "berth_lb_connect_retries_total %" PRIu64 "\n", st.retries);
	buf_addf(o, "# HELP berth_lb_target_health 1 for the state each registered target is in.\n"
		    "# TYPE berth_lb_target_health gauge\n");
	for (size_t gi = 0; gi < e->n_groups; gi++) {
		const struct tgrp *g = e->groups[gi];

		for (size_t i = 0; i < g->tg.n; i++) {
			const struct lb_target *t = &g->tg.t[i];
			char ip[INET6_ADDRSTRLEN];

			if (t->state == LB_TARGET_UNUSED)
				continue;
			inet_ntop(t->family, t->addr, ip, sizeof(ip));
			for (enum lb_target_state s = LB_TARGET_INITIAL; s <= LB_TARGET_DRAINING; s++)
				buf_addf(o,
					 "berth_lb_target_health{target_group=\"%s\",target=\"%s%s%s:%u\","
					 "state=\"%s\"} %d\n",
					 g->name, t->family == AF_INET6 ? "[" : "", ip,
					 t->family == AF_INET6 ? "]" : "", (unsigned)t->port,
					 lb_target_state_name(s), t->state == s);
		}
	}
}

/* ------------------------------------------------------------ control API */

#define CTL_LINE_MAX (1u << 20)

static json_t *ctl_fail(const char *code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static json_t *ctl_fail(const char *code, const char *fmt, ...)
{
	va_list ap;
	cleanup_free char *msg = NULL;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	return json_pack("{s:b, s:{s:s, s:s}}", "Ok", 0, "Error", "Code", code, "Message", msg);
}

static json_t *ctl_err(struct berr *err)
{
	json_t *r = ctl_fail(berr_rc(err) == -EEXIST ? "DuplicateName" : "ValidationError", "%s",
			     berr_msg(err));

	berr_free(err);
	return r;
}

static json_t *ctl_ok(void)
{
	return json_pack("{s:b}", "Ok", 1);
}

static char *target_str(const struct lb_target *t)
{
	char ip[INET6_ADDRSTRLEN];

	inet_ntop(t->family, t->addr, ip, sizeof(ip));
	return t->family == AF_INET6 ? xasprintf("[%s]:%u", ip, (unsigned)t->port)
				     : xasprintf("%s:%u", ip, (unsigned)t->port);
}

static json_t *describe_health(struct tgrp *g)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < g->tg.n; i++) {
		const struct lb_target *t = &g->tg.t[i];
		char ip[INET6_ADDRSTRLEN];
		cleanup_free char *id = NULL;

		if (t->state == LB_TARGET_UNUSED)
			continue;
		inet_ntop(t->family, t->addr, ip, sizeof(ip));
		id = target_str(t);
		json_array_append_new(
			arr, json_pack("{s:{s:s, s:i, s:s}, s:{s:s, s:s}, s:i}", "Target", "Id", ip,
				       "Port", (int)t->port, "Address", id, "TargetHealth", "State",
				       lb_target_state_name(t->state), "Reason",
				       lb_target_reason_name(t->reason), "Outstanding",
				       (int)t->outstanding));
	}
	return arr;
}

static json_t *describe_listeners(struct lb_engine *e)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < e->n_listeners; i++) {
		const struct listener *l = e->listeners[i];
		json_t *o = json_pack("{s:i, s:s, s:s}", "Port", (int)l->port, "Protocol",
				      l->http ? "HTTP" : l->udp ? "UDP" : "TCP", "Address", l->addr);

		if (l->tcp_group)
			json_object_set_new(o, "TargetGroup", json_string(l->tcp_group->name));
		if (l->rules)
			json_object_set_new(o, "Rules", json_integer((json_int_t)l->rules->n));
		json_array_append_new(arr, o);
	}
	return arr;
}

static json_t *stats_json(struct lb_engine *e)
{
	json_t *codes = json_object(), *per = json_array();
	struct stats st;

	stats_sum(e, &st);
	for (size_t k = 0; k <= e->n_peers; k++) {
		struct lb_engine *w = k == 0 ? e : e->peers[k - 1];

		json_array_append_new(per, json_integer((json_int_t)__atomic_load_n(
						   &w->st.conns_total, __ATOMIC_RELAXED)));
	}

	for (int code = 100; code < 600; code++)
		if (st.by_code[code]) {
			char k[8];

			snprintf(k, sizeof(k), "%d", code);
			json_object_set_new(codes, k, json_integer((json_int_t)st.by_code[code]));
		}
	return json_pack("{s:o, s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
			 "RequestsByCode", codes, "ConnectionsByWorker", per,
			 "ActiveHttp", (json_int_t)st.active_http,
			 "ActiveTunnels", (json_int_t)st.active_tunnels,
			 "ActiveTcp", (json_int_t)st.active_tcp,
			 "ActiveUdpFlows", (json_int_t)st.active_udp,
			 "ConnectionsTotal", (json_int_t)st.conns_total,
			 "BytesIn", (json_int_t)st.bytes_in,
			 "BytesOut", (json_int_t)st.bytes_out,
			 "UdpDropped", (json_int_t)st.udp_dropped,
			 "ConnectRetries", (json_int_t)st.retries);
}

static int listener_key(const json_t *req, uint16_t *port, bool *udp, struct berr **err)
{
	int64_t p;
	const char *proto = NULL;
	int r;

	if ((r = bjson_get_int_range(req, "", "Port", true, 1, 65535, &p, err)) < 0 ||
	    (r = bjson_get_string(req, "", "Protocol", false, &proto, err)) < 0)
		return r;
	*port = (uint16_t)p;
	*udp = proto && strcmp(proto, "UDP") == 0;
	return 0;
}

static json_t *ctl_targets(struct lb_engine *e, const json_t *req, bool reg)
{
	struct berr *err = NULL;
	const char *name;
	json_t *targets;
	struct tgrp *g;
	uint64_t now = now_ms();

	if (bjson_get_string(req, "", "TargetGroup", true, &name, &err) < 0 ||
	    bjson_get_array(req, "", "Targets", true, &targets, &err) < 0)
		return ctl_err(err);
	if (!(g = lb_eng_group_by_name(e, name)))
		return ctl_fail("TargetGroupNotFound", "no target group named %s", name);
	for (size_t i = 0; i < json_array_size(targets); i++) {
		const char *t = json_string_value(json_array_get(targets, i));
		int idx;

		if (!t)
			return ctl_fail("ValidationError", "Targets[%zu]: expected \"ip:port\"", i);
		if (reg) {
			if (lb_tg_register(&g->tg, t, now, &err) < 0)
				return ctl_err(err);
			lb_eng_grp_sync_keys(e, g);
			continue;
		}
		if ((idx = lb_tg_find(&g->tg, t)) < 0)
			return ctl_fail("InvalidTarget", "Targets[%zu]: %s is not registered in %s",
					i, t, name);
		lb_tg_deregister(&g->tg, (size_t)idx, now);
		lb_eng_pool_drop_target(e, g, (size_t)idx);
	}
	return ctl_ok();
}

static json_t *ctl_modify_group(struct lb_engine *e, const json_t *req)
{
	struct berr *err = NULL;
	const char *name, *proto = NULL;
	struct tgrp *g;
	struct lb_tg_config cfg;
	bool enabled;

	if (bjson_get_string(req, "", "Name", true, &name, &err) < 0 ||
	    bjson_get_string(req, "", "HealthCheckProtocol", false, &proto, &err) < 0)
		return ctl_err(err);
	if (!(g = lb_eng_group_by_name(e, name)))
		return ctl_fail("TargetGroupNotFound", "no target group named %s", name);
	cfg = g->tg.cfg;
	enabled = g->hc;
	if (proto) {
		if (strcmp(proto, "HTTP") != 0 && strcmp(proto, "TCP") != 0)
			return ctl_fail("ValidationError", "HealthCheckProtocol: HTTP or TCP");
		cfg.hc.protocol = proto[0] == 'H' ? LB_HC_HTTP : LB_HC_TCP;
	}
	if (lb_eng_parse_group_attrs(req, "", &cfg, &enabled, &err) < 0)
		return ctl_err(err);
	g->tg.cfg = cfg;
	g->tg.dirty = true;
	g->hc = enabled && !e->follower;
	return ctl_ok();
}

static json_t *ctl_modify_listener(struct lb_engine *e, const json_t *req)
{
	struct berr *err = NULL;
	struct listener *l;
	uint16_t port;
	bool udp;

	if (listener_key(req, &port, &udp, &err) < 0)
		return ctl_err(err);
	if (!(l = lb_eng_find_listener(e, port, udp, NULL)))
		return ctl_fail("ListenerNotFound", "no listener on port %u", (unsigned)port);
	if (l->http) {
		struct lb_ruleset *rs;

		if (lb_eng_compile_rules(e, req, "", &rs, &err) < 0)
			return ctl_err(err);
		/* matched synchronously per request: nothing holds the old set */
		lb_rules_free(l->rules);
		l->rules = rs;
	} else {
		const char *tgname;
		struct tgrp *g;

		if (bjson_get_string(req, "", "TargetGroup", true, &tgname, &err) < 0)
			return ctl_err(err);
		if (!(g = lb_eng_group_by_name(e, tgname)))
			return ctl_fail("TargetGroupNotFound", "no target group named %s", tgname);
		l->tcp_group = g; /* new connections and flows */
	}
	return ctl_ok();
}

/* follower: a health state from the leader's probes */
static json_t *ctl_set_health(struct lb_engine *e, const json_t *req)
{
	struct berr *err = NULL;
	const char *name, *target;
	int64_t state, why;
	struct tgrp *g;
	int idx;

	if (bjson_get_string(req, "", "TargetGroup", true, &name, &err) < 0 ||
	    bjson_get_string(req, "", "Target", true, &target, &err) < 0 ||
	    bjson_get_int_range(req, "", "State", true, LB_TARGET_INITIAL, LB_TARGET_UNHEALTHY,
				&state, &err) < 0 ||
	    bjson_get_int_range(req, "", "Reason", true, LB_REASON_NONE, LB_REASON_DEREGISTRATION,
				&why, &err) < 0)
		return ctl_err(err);
	/* the group or target may be gone here already: nothing to do then */
	if ((g = lb_eng_group_by_name(e, name)) && (idx = lb_tg_find(&g->tg, target)) >= 0)
		lb_tg_set_health(&g->tg, (size_t)idx, (enum lb_target_state)state,
				 (enum lb_target_reason)why);
	return ctl_ok();
}

static json_t *ctl_handle(struct lb_engine *e, const json_t *req)
{
	struct berr *err = NULL;
	const char *action;
	json_t *o;

	if (bjson_expect_object(req, "", &err) < 0 ||
	    bjson_get_string(req, "", "Action", true, &action, &err) < 0)
		return ctl_err(err);
	if (strcmp(action, "RegisterTargets") == 0 || strcmp(action, "DeregisterTargets") == 0)
		return ctl_targets(e, req, action[0] == 'R');
	if (strcmp(action, "_SetHealth") == 0 && e->follower)
		return ctl_set_health(e, req);
	if (strcmp(action, "DescribeTargetHealth") == 0) {
		const char *name;
		struct tgrp *g;

		if (bjson_get_string(req, "", "TargetGroup", true, &name, &err) < 0)
			return ctl_err(err);
		if (!(g = lb_eng_group_by_name(e, name)))
			return ctl_fail("TargetGroupNotFound", "no target group named %s", name);
		return json_pack("{s:b, s:o}", "Ok", 1, "TargetHealthDescriptions",
				 describe_health(g));
	}
	if (strcmp(action, "CreateTargetGroup") == 0) {
		if (bjson_get_object(req, "", "TargetGroup", true, &o, &err) < 0 ||
		    lb_eng_add_group(e, o, "TargetGroup", &err) < 0)
			return ctl_err(err);
		return ctl_ok();
	}
	if (strcmp(action, "ModifyTargetGroup") == 0)
		return ctl_modify_group(e, req);
	if (strcmp(action, "DeleteTargetGroup") == 0) {
		const char *name;

		if (bjson_get_string(req, "", "Name", true, &name, &err) < 0)
			return ctl_err(err);
		for (size_t i = 0; i < e->n_groups; i++) {
			if (strcmp(e->groups[i]->name, name) != 0)
				continue;
			for (size_t k = 0; k < e->n_listeners; k++)
				if (lb_eng_listener_uses(e->listeners[k], e->groups[i]))
					return ctl_fail("ResourceInUse",
							"target group %s is used by the listener on "
							"port %u", name, (unsigned)e->listeners[k]->port);
			lb_eng_delete_group(e, i);
			return ctl_ok();
		}
		return ctl_fail("TargetGroupNotFound", "no target group named %s", name);
	}
	if (strcmp(action, "DescribeTargetGroups") == 0) {
		json_t *arr = json_array();

		for (size_t i = 0; i < e->n_groups; i++)
			json_array_append_new(arr, json_pack("{s:s, s:o}", "Name", e->groups[i]->name,
							     "Targets", describe_health(e->groups[i])));
		return json_pack("{s:b, s:o}", "Ok", 1, "TargetGroups", arr);
	}
	if (strcmp(action, "CreateListener") == 0) {
		if (bjson_get_object(req, "", "Listener", true, &o, &err) < 0 ||
		    lb_eng_add_listener(e, o, "Listener", &err) < 0)
			return ctl_err(err);
		return ctl_ok();
	}
	if (strcmp(action, "ModifyListener") == 0)
		return ctl_modify_listener(e, req);
	if (strcmp(action, "DeleteListener") == 0) {
		uint16_t port;
		bool udp;
		size_t pos;

		if (listener_key(req, &port, &udp, &err) < 0)
			return ctl_err(err);
		if (!lb_eng_find_listener(e, port, udp, &pos))
			return ctl_fail("ListenerNotFound", "no listener on port %u", (unsigned)port);
		lb_eng_delete_listener(e, pos);
		return ctl_ok();
	}
	if (strcmp(action, "DescribeListeners") == 0)
		return json_pack("{s:b, s:o}", "Ok", 1, "Listeners", describe_listeners(e));
	if (strcmp(action, "GetStats") == 0)
		return json_pack("{s:b, s:o}", "Ok", 1, "Stats", stats_json(e));
	if (strcmp(action, "GetMetrics") == 0) {
		struct buf b = { 0 };
		json_t *r;

		render_metrics(e, &b);
		r = json_pack("{s:b, s:s%}", "Ok", 1, "Metrics", buf_data(&b), buf_avail(&b));
		buf_free(&b);
		return r;
	}
	return ctl_fail("UnknownAction", "unknown Action %s", action);
}

static bool mutating(const char *action)
{
	static const char *const names[] = { "RegisterTargets", "DeregisterTargets",
					     "CreateTargetGroup", "ModifyTargetGroup",
					     "DeleteTargetGroup", "CreateListener",
					     "ModifyListener", "DeleteListener" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(action, names[i]) == 0)
			return true;
	return false;
}

/* Each worker's DescribeTargetHealth into the leader's: outstanding
 * requests add up; a target only some follower still has is draining there. */
static void merge_health(json_t *resp, char **answers, size_t n)
{
	json_t *mine = json_object_get(resp, "TargetHealthDescriptions");

	for (size_t k = 0; k < n; k++) {
		json_auto_t *a = answers[k] ? json_loads(answers[k], 0, NULL) : NULL;
		json_t *theirs = json_object_get(a, "TargetHealthDescriptions"), *d;
		size_t i;

		json_array_foreach(theirs, i, d) {
			const char *addr =
				json_string_value(json_object_get(json_object_get(d, "Target"), "Address"));
			json_t *m = NULL, *x;
			size_t j;

			json_array_foreach(mine, j, x) {
				const char *xa = json_string_value(
					json_object_get(json_object_get(x, "Target"), "Address"));

				if (addr && xa && strcmp(addr, xa) == 0) {
					m = x;
					break;
				}
			}
			if (!m) {
				json_array_append_new(mine, json_deep_copy(d));
				continue;
			}
			json_object_set_new(
				m, "Outstanding",
				json_integer(json_integer_value(json_object_get(m, "Outstanding")) +
					     json_integer_value(json_object_get(d, "Outstanding"))));
		}
	}
}

/* leader: apply a request, then have the followers apply it too (and wait
 * for them, so that the answer means every worker has it) */
static json_t *ctl_dispatch(struct lb_engine *e, const json_t *req)
{
	json_t *resp = ctl_handle(e, req);
	const char *action = json_string_value(json_object_get(req, "Action"));
	cleanup_free char *text = NULL;
	char **answers;
	bool health;

	if (e->n_peers == 0 || !action || !json_is_true(json_object_get(resp, "Ok")))
		return resp;
	health = strcmp(action, "DescribeTargetHealth") == 0;
	if (!health && !mutating(action))
		return resp;
	text = json_dumps(req, JSON_COMPACT);
	answers = replicate(e, text);
	if (health)
		merge_health(resp, answers, e->n_peers);
	for (size_t i = 0; i < e->n_peers; i++) {
		if (!health && answers[i] && !strstr(answers[i], "\"Ok\":true"))
			log_warn("worker %zu: %s: %s", i + 1, action, answers[i]);
		free(answers[i]);
	}
	free(answers);
	return resp;
}

void lb_eng_ctl_accept(struct lb_engine *e, struct ev *lv, enum kind k)
{
	for (int i = 0; i < 16; i++) {
		int fd = accept4(lv->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct ctl *c;

		if (fd < 0)
			return;
		c = xzalloc(sizeof(*c));
		ev_link(e, &c->ev, k, fd);
		if (k == K_METRICS)
			c->ev.deadline = now_ms() + 10000;
		ev_add(e, &c->ev, EPOLLIN);
	}
}

static void ctl_update(struct lb_engine *e, struct ctl *c)
{
	if (buf_flush(c->ev.fd, &c->out) < 0) {
		ev_kill(e, &c->ev);
		return;
	}
	if (c->closing && buf_avail(&c->out) == 0) {
		ev_kill(e, &c->ev);
		return;
	}
	ev_set(e, &c->ev, (c->closing ? 0 : EPOLLIN) | (buf_avail(&c->out) ? EPOLLOUT : 0));
}

void lb_eng_ctl_event(struct lb_engine *e, struct ctl *c, uint32_t events)
{
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		ssize_t n = c->closing ? -EAGAIN : buf_read(c->ev.fd, &c->in, CTL_LINE_MAX + 1);

		if (n == 0 || (n < 0 && n != -EAGAIN)) {
			if (buf_avail(&c->out) == 0) {
				ev_kill(e, &c->ev);
				return;
			}
			c->closing = true;
		}
	}
	if (c->ev.kind == K_METRICS) {
		/* a scrape: any GET; answered once the head is complete */
		if (!c->closing && memmem(buf_data(&c->in), buf_avail(&c->in), "\r\n\r\n", 4)) {
			struct buf body = { 0 };

			render_metrics(e, &body);
			buf_addf(&c->out,
				 "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n"
				 "Content-Length: %zu\r\nConnection: close\r\n\r\n",
				 buf_avail(&body));
			buf_add(&c->out, buf_data(&body), buf_avail(&body));
			buf_free(&body);
			c->closing = true;
		} else if (buf_avail(&c->in) > 16384) {
			ev_kill(e, &c->ev);
			return;
		}
		ctl_update(e, c);
		return;
	}
	for (;;) {
		char *nl = memchr(buf_data(&c->in), '\n', buf_avail(&c->in));
		size_t len;
		json_auto_t *req = NULL, *resp = NULL;
		struct berr *err = NULL;
		cleanup_free char *text = NULL;

		if (!nl) {
			if (buf_avail(&c->in) > CTL_LINE_MAX) {
				resp = ctl_fail("ValidationError", "request longer than %u bytes",
						CTL_LINE_MAX);
				text = json_dumps(resp, JSON_COMPACT);
				buf_add(&c->out, text, strlen(text));
				buf_add(&c->out, "\n", 1);
				c->closing = true;
			}
			break;
		}
		len = (size_t)(nl - buf_data(&c->in));
		if (len == 0 || (len == 1 && buf_data(&c->in)[0] == '\r')) {
			buf_consume(&c->in, len + 1);
			continue;
		}
		if (bjson_load_buf("request", buf_data(&c->in), len, &req, &err) < 0)
			resp = ctl_err(err);
		else
			resp = ctl_dispatch(e, req);
		e->hc_due = 0; /* targets or groups may have changed: recompute */
		buf_consume(&c->in, len + 1);
		text = json_dumps(resp, JSON_COMPACT);
		buf_add(&c->out, text, strlen(text));
		buf_add(&c->out, "\n", 1);
	}
	ctl_update(e, c);
}

int lb_engine_control(struct lb_engine *e, const char *path, struct berr **err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	mode_t old;
	int fd, r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return berr_set(err, ENAMETOOLONG, "control socket %s", path);
	strcpy(sa.sun_path, path);
	/* a socket left behind by an earlier run: replace it; anything else: refuse */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return berr_set(err, EEXIST, "control socket %s: exists and is no socket",
					path);
		unlink(path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return berr_set(err, errno, "socket");
	old = umask(0177); /* created 0600: no window with a wider mode */
	r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0 || chmod(path, 0600) < 0 || listen(fd, 64) < 0) {
		r = berr_set(err, errno, "control socket %s", path);
		close(fd);
		return r;
	}
	e->ctl_listen.kind = K_CTL_LISTEN;
	e->ctl_listen.fd = fd;
	e->ctl_path = xstrdup(path);
	ev_add(e, &e->ctl_listen, EPOLLIN);
	return 0;
}

int lb_engine_metrics(struct lb_engine *e, const char *ipport, struct berr **err)
{
	struct sockaddr_storage ss;
	uint8_t addr[16];
	uint16_t port;
	int family, fd, one = 1, r;

	if (lb_parse_ipport(ipport, &family, addr, &port) < 0)
		return berr_set(err, EINVAL, "metrics address %s: not ip:port", ipport);
	fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return berr_set(err, errno, "socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, make_sockaddr(&ss, family, addr, port)) < 0 ||
	    listen(fd, 64) < 0) {
		r = berr_set(err, errno, "metrics listener %s", ipport);
		close(fd);
		return r;
	}
	e->metrics_listen.kind = K_METRICS_LISTEN;
	e->metrics_listen.fd = fd;
	ev_add(e, &e->metrics_listen, EPOLLIN);
	return 0;
}
