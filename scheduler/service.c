/* scheduler/service.c - the ECS service controller (REPLICA and DAEMON
 * scheduling, rolling deployments, circuit breaker), a pure state machine:
 * tasks as observed and `now` in, actions, deployments[] and events[] out.
 *
 * Where the event and reason texts come from (copied word for word, the
 * variable parts filled in):
 *   [A] AWS ECS Developer Guide, "Service event messages"
 *       (awsdocs/amazon-ecs-developer-guide doc_source/service-event-messages.md):
 *       "service (service-name) has reached a steady state.", "... was unable
 *       to place a task because no container instance met all of its
 *       requirements. The closest matching container-instance ... has
 *       insufficient CPU units available.", "... encountered error "AGENT"",
 *       "... was unable to stop or start tasks during a deployment because of
 *       the service deployment configuration. Update the minimumHealthyPercent
 *       or maximumPercent value and try again.", the 100-event limit and the
 *       6-hour repeat rule.
 *   [B] AWS ECS Developer Guide, "Service deployment state change events"
 *       (ecs_service_deployment_events.md): rolloutStateReason texts
 *       "ECS deployment <id> in progress.", "ECS deployment <id> completed.",
 *       "ECS deployment circuit breaker: task failed to start.",
 *       "ECS deployment circuit breaker: rolling back to deploymentId <id>.".
 *   [C] DescribeServices output as users quote it (events[].message; public
 *       issue threads, tool test fixtures and runbooks, several accounts
 *       and years, the same wording): "(service web) has started 2 tasks:
 *       (task a) (task b).", "(service web) has stopped 1 running tasks:
 *       (task a).", "(service web) (deployment ecs-svc/N) deployment
 *       completed.", "(service web) (deployment ecs-svc/N) deployment failed:
 *       tasks failed to start.", "(service web) rolling back to deployment
 *       ecs-svc/N.", "(service web) (task T) failed container health
 *       checks.", "(service web) (task T) (port P) is unhealthy in
 *       (target-group ARN) due to (reason R).", the closest-matching forms
 *       "The closest matching (container-instance ID) has insufficient memory
 *       available. For more information, see the Troubleshooting section of
 *       the Amazon ECS Developer Guide." (also "...insufficient CPU units...",
 *       "...is already using a port required by your task.", "...doesn't
 *       have the agent connected.", "...encountered error "MemberOf placement
 *       constraint unsatisfied."") and "Reason: No Container Instances were
 *       found in your cluster.".
 *   [D] ECS task stoppedReason values (ecs-reference.md section 4 and the
 *       developer guide's stopped-task errors page): "Scaling activity
 *       initiated by (deployment ecs-svc/N)", "Task failed ELB health checks
 *       in (target-group ARN)", "Task failed container health checks".
 *   [E] ECS API reference: DeploymentConfiguration (defaults REPLICA 100/200,
 *       DAEMON 0/100; min rounded up, max rounded down; the 40-second rule for
 *       tasks without health checks), Deployment.failedTasks (what counts as
 *       a failure, "consecutively"), ServiceDeploymentCircuitBreaker.threshold
 *       ("a minimum threshold of 3 and a maximum threshold of 200", 0.5 *
 *       desired count; older guides said 10), healthCheckGracePeriodSeconds. */
#include "scheduler/service.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/xalloc.h"
#include "scheduler/cql.h"
#include "scheduler/sched-internal.h"

/* What the controller remembers about a task between steps. */
struct trec {
	char *id;           /* NULL: free slot */
	bool counted;       /* already counted as a failure */
	bool was_healthy;   /* was ever counted healthy */
	bool stop_sent;     /* the controller asked it to stop */
	bool seen;
};

/* What a deployment needs to start tasks. */
struct tmpl {
	char *task_definition;
	int32_t cpu, memory;
	uint16_t *tcp, *udp;
	size_t ntcp, nudp;
};

struct sched_svc {
	char *name, *arn, *group;
	enum sched_svc_scheduling scheduling;
	int32_t desired;            /* REPLICA: the spec's; DAEMON: targets last step */
	int32_t minp, maxp;
	bool cb, rollback;
	int64_t grace;
	struct tmpl tpl;            /* the service's task definition */
	struct sched_plan *plan;    /* REPLICA placement */
	struct sched_cql **member_of;   /* DAEMON constraints */
	size_t nmember_of;
	char **stype, **sfield;     /* strategies (scale-in choice) */
	size_t nstrat;

	struct sched_svc_deployment *deps;   /* [0] PRIMARY, then ACTIVE newest first */
	size_t ndeps, capdeps;
	bool have_completed;
	char completed_id[SCHED_SVC_DEPLOYMENT_ID_MAX];
	struct tmpl completed;      /* the last deployment that COMPLETED */

	struct sched_svc_event *events;
	size_t nevents;
	size_t added;               /* events added this step */

	struct trec *recs;
	uint32_t nrecs, caprecs;
	uint32_t *freerecs;
	uint32_t nfree, capfree;
	struct sched_smap recmap;   /* id -> recs index */

	bool steady;
	int64_t steady_said;
	char *place_msg;            /* last placement failure said, and when */
	int64_t place_said;
	char *stuck_msg;
	int64_t stuck_said;

	uint64_t seed, seq;
	sched_svc_id_fn idfn;
	void *idctx;
};

/* ------------------------------------------------------------ small helpers */

struct sbuf {
	char *s;
	size_t n, cap;
};

__attribute__((format(printf, 2, 3))) static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int k;

	va_start(ap, fmt);
	k = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (k < 0)
		return;
	if (b->n + (size_t)k + 1 > b->cap) {
		b->cap = (b->n + (size_t)k + 1) * 2;
		b->s = xrealloc(b->s, b->cap);
	}
	va_start(ap, fmt);
	vsnprintf(b->s + b->n, b->cap - b->n, fmt, ap);
	va_end(ap);
	b->n += (size_t)k;
}

static int32_t ceil_pct(int32_t n, int32_t pct)
{
	return (int32_t)(((int64_t)n * pct + 99) / 100);
}

static int32_t floor_pct(int32_t n, int32_t pct)
{
	return (int32_t)(((int64_t)n * pct) / 100);
}

int32_t sched_svc_cb_threshold(int32_t desired)
{
	int32_t t = (desired + 1) / 2;   /* ceil(0.5 * desired) */

	if (t < 3)
		t = 3;
	return t > 200 ? 200 : t;
}

const char *sched_svc_dstatus_str(enum sched_svc_dstatus s)
{
	switch (s) {
	case SCHED_SVC_PRIMARY: return "PRIMARY";
	case SCHED_SVC_ACTIVE: return "ACTIVE";
	case SCHED_SVC_INACTIVE: return "INACTIVE";
	}
	return "UNKNOWN";
}

const char *sched_svc_rollout_str(enum sched_svc_rollout r)
{
	switch (r) {
	case SCHED_SVC_IN_PROGRESS: return "IN_PROGRESS";
	case SCHED_SVC_COMPLETED: return "COMPLETED";
	case SCHED_SVC_FAILED: return "FAILED";
	}
	return "UNKNOWN";
}

/* "arn:aws:ecs:...:container-instance/cl/abc" -> "abc", as ECS names it */
static const char *short_id(const char *id)
{
	const char *s = strrchr(id, '/');

	return s ? s + 1 : id;
}

/* family:revision of a task definition ARN (or the string itself) */
static const char *family_rev(const char *td)
{
	return short_id(td);
}

static void tmpl_free(struct tmpl *t)
{
	free(t->task_definition);
	free(t->tcp);
	free(t->udp);
	*t = (struct tmpl){ 0 };
}

static void tmpl_copy(struct tmpl *dst, const char *td, int32_t cpu, int32_t memory, const uint16_t *tcp,
                      size_t ntcp, const uint16_t *udp, size_t nudp)
{
	struct tmpl t = {
		.task_definition = xstrdup(td), .cpu = cpu, .memory = memory,
		.tcp = ntcp ? xmemdup(tcp, ntcp * sizeof(*tcp)) : NULL, .ntcp = ntcp,
		.udp = nudp ? xmemdup(udp, nudp * sizeof(*udp)) : NULL, .nudp = nudp,
	};

	tmpl_free(dst);
	*dst = t;
}

static void dep_free(struct sched_svc_deployment *d)
{
	free(d->task_definition);
	free(d->rollout_reason);
	free(d->tcp_ports);
	free(d->udp_ports);
}

static void dep_tmpl(const struct sched_svc_deployment *d, struct tmpl *t)
{
	tmpl_copy(t, d->task_definition, d->cpu, d->memory, d->tcp_ports, d->ntcp, d->udp_ports, d->nudp);
}

static void set_reason(struct sched_svc_deployment *d, char *reason)
{
	free(d->rollout_reason);
	d->rollout_reason = reason;
}

/* ------------------------------------------------------------ events */

static void event_add(struct sched_svc *svc, int64_t now, char *msg)
{
	struct sched_svc_event *e;
	uint64_t a = sched_mix64(svc->seed ^ sched_mix64(++svc->seq)), b = sched_mix64(a + svc->seq);

	if (svc->nevents == SCHED_SVC_MAX_EVENTS) {
		free(svc->events[0].message);
		memmove(svc->events, svc->events + 1, (svc->nevents - 1) * sizeof(*svc->events));
		svc->nevents--;
	}
	e = &svc->events[svc->nevents++];
	snprintf(e->id, sizeof(e->id), "%08" PRIx64 "-%04" PRIx64 "-%04" PRIx64 "-%04" PRIx64 "-%012" PRIx64,
	         a >> 32, (a >> 16) & 0xffff, a & 0xffff, b >> 48, b & UINT64_C(0xffffffffffff));
	e->created_at = now;
	e->message = msg;
	svc->added++;
}

/* Say msg unless the same text was said (kind: *last) less than 6 hours ago. */
static void event_dedup(struct sched_svc *svc, int64_t now, char *msg, char **last, int64_t *said)
{
	if (*last && strcmp(*last, msg) == 0 && now - *said < SCHED_SVC_REPEAT_SECONDS) {
		free(msg);
		return;
	}
	free(*last);
	*last = xstrdup(msg);
	*said = now;
	event_add(svc, now, msg);
}

/* "(service web) has started 2 tasks: (task a) (task b)." [C] */
static void event_tasks(struct sched_svc *svc, int64_t now, const char *verb, char *const *ids, size_t n)
{
	if (!n)
		return;
	struct sbuf b = { 0 };

	sb_printf(&b, "(service %s) %s %zu%s tasks:", svc->name, verb, n,
	          strcmp(verb, "has stopped") == 0 ? " running" : "");
	for (size_t i = 0; i < n; i++)
		sb_printf(&b, " (task %s)", ids[i]);
	sb_printf(&b, ".");
	event_add(svc, now, b.s);
}

/* The service event for a placement failure [A][C]. */
static char *place_failure_msg(const struct sched_svc *svc, const struct sched_cluster *cl,
                               enum sched_reason reason, uint32_t closest)
{
	const char *head = "was unable to place a task because no container instance met all of its requirements.";
	const char *tail = "For more information, see the Troubleshooting section of the Amazon ECS Developer Guide.";
	const char *what;

	if (reason == SCHED_R_MISSING || closest == SCHED_NONE)
		return xasprintf("(service %s) %s Reason: No Container Instances were found in your cluster. %s",
		                 svc->name, head, tail);
	switch (reason) {
	case SCHED_R_AGENT: what = "doesn't have the agent connected."; break;
	case SCHED_R_CPU: what = "has insufficient CPU units available."; break;
	case SCHED_R_MEMORY: what = "has insufficient memory available."; break;
	case SCHED_R_PORTS: what = "is already using a port required by your task."; break;
	case SCHED_R_DRAINING: what = "encountered error \"DRAINING\"."; break;   /* berth */
	case SCHED_R_MEMBER_OF:
		what = "encountered error \"MemberOf placement constraint unsatisfied.\".";
		break;
	case SCHED_R_DISTINCT:
		what = "encountered error \"DistinctInstance placement constraint unsatisfied.\".";
		break;
	default: what = "encountered an error."; break;
	}
	return xasprintf("(service %s) %s The closest matching (container-instance %s) %s %s", svc->name, head,
	                 short_id(sched_cluster_instance(cl, closest)->id), what, tail);
}

/* ------------------------------------------------------------ task records */

/* index of id's record (made when missing); indexes stay, addresses do not */
static uint32_t rec_get(struct sched_svc *svc, const char *id)
{
	uint32_t i = sched_smap_get(&svc->recmap, id);

	if (i != SCHED_NONE)
		return i;
	if (svc->nfree) {
		i = svc->freerecs[--svc->nfree];
	} else {
		if (svc->nrecs == svc->caprecs) {
			svc->caprecs = svc->caprecs ? svc->caprecs * 2 : 16;
			svc->recs = xreallocarray(svc->recs, svc->caprecs, sizeof(*svc->recs));
		}
		i = svc->nrecs++;
	}
	svc->recs[i] = (struct trec){ .id = xstrdup(id) };
	sched_smap_put(&svc->recmap, svc->recs[i].id, i);
	return i;
}

/* Forget tasks that were not passed this step. */
static void recs_prune(struct sched_svc *svc)
{
	for (uint32_t i = 0; i < svc->nrecs; i++) {
		struct trec *r = &svc->recs[i];

		if (!r->id)
			continue;
		if (r->seen) {
			r->seen = false;
			continue;
		}
		sched_smap_del(&svc->recmap, r->id);
		free(r->id);
		r->id = NULL;
		if (svc->nfree == svc->capfree) {
			svc->capfree = svc->capfree ? svc->capfree * 2 : 16;
			svc->freerecs = xreallocarray(svc->freerecs, svc->capfree, sizeof(*svc->freerecs));
		}
		svc->freerecs[svc->nfree++] = i;
	}
}

/* ------------------------------------------------------------ spec */

static int spec_check(const struct sched_svc_spec *s, int32_t *minp, int32_t *maxp, struct berr **err)
{
	bool daemon = s->scheduling == SCHED_SVC_DAEMON;

	if (!s->name || !*s->name)
		return berr_set(err, EINVAL, "service: serviceName is required");
	if (s->scheduling != SCHED_SVC_REPLICA && !daemon)
		return berr_set(err, EINVAL, "service %s: unknown schedulingStrategy", s->name);
	if (!s->task_definition || !*s->task_definition)
		return berr_set(err, EINVAL, "service %s: taskDefinition is required", s->name);
	if (!daemon && s->desired_count < 0)
		return berr_set(err, EINVAL, "service %s: desiredCount %d: must not be negative", s->name,
		                s->desired_count);
	*minp = s->min_healthy_percent < 0 ? (daemon ? 0 : 100) : s->min_healthy_percent;
	*maxp = s->max_percent < 0 ? (daemon ? 100 : 200) : s->max_percent;
	if (*minp > 100)
		return berr_set(err, EINVAL, "service %s: deploymentConfiguration.minimumHealthyPercent %d: "
		                "must be 0-100", s->name, *minp);
	if (daemon && *maxp != 100)
		return berr_set(err, EINVAL, "service %s: deploymentConfiguration.maximumPercent %d: a DAEMON "
		                "service takes 100", s->name, *maxp);
	if (*maxp < 100)
		return berr_set(err, EINVAL, "service %s: deploymentConfiguration.maximumPercent %d: must be at "
		                "least 100", s->name, *maxp);
	if (s->grace_period < 0 || s->grace_period > INT32_MAX)
		return berr_set(err, EINVAL, "service %s: healthCheckGracePeriodSeconds %" PRId64 ": must be "
		                "0-2147483647", s->name, s->grace_period);
	if (s->cpu < 0 || s->memory < 0)
		return berr_set(err, EINVAL, "service %s: negative cpu or memory", s->name);
	if (daemon && s->nstrategies)
		return berr_set(err, EINVAL, "service %s: placementStrategy: not supported with the DAEMON "
		                "scheduling strategy", s->name);
	return 0;
}

/* Compile what placement needs; on success the service's old ones are
 * replaced. */
static int spec_compile(struct sched_svc *svc, const struct sched_svc_spec *s, struct berr **err)
{
	static const struct sched_strategy def = { "spread", "attribute:ecs.availability-zone" };
	const struct sched_strategy *st = s->nstrategies ? s->strategies : &def;
	size_t nst = s->nstrategies ? s->nstrategies : 1;
	struct sched_plan *plan = NULL;
	struct sched_cql **mo = NULL;
	size_t nmo = 0;
	int r;

	if (s->scheduling == SCHED_SVC_DAEMON) {
		nst = 0;
		mo = xcalloc(s->nconstraints ? s->nconstraints : 1, sizeof(*mo));
		for (size_t i = 0; i < s->nconstraints; i++) {
			const struct sched_constraint *c = &s->constraints[i];

			if (!c->type || strcmp(c->type, "memberOf") != 0 || !c->expression) {
				r = berr_set(err, EINVAL, "service %s: placementConstraints[%zu]: a DAEMON service "
				             "takes memberOf constraints only", s->name, i);
				goto fail;
			}
			r = sched_cql_compile(c->expression, &mo[nmo], err);
			if (r < 0) {
				berr_wrap(err, "service %s: placementConstraints[%zu]: memberOf expression", s->name, i);
				goto fail;
			}
			nmo++;
		}
	}
	r = sched_plan_compile(s->scheduling == SCHED_SVC_DAEMON ? NULL : s->constraints,
	                       s->scheduling == SCHED_SVC_DAEMON ? 0 : s->nconstraints, st, nst, &plan, err);
	if (r < 0) {
		berr_wrap(err, "service %s", s->name);
		goto fail;
	}
	sched_plan_free(svc->plan);
	svc->plan = plan;
	for (size_t i = 0; i < svc->nmember_of; i++)
		sched_cql_free(svc->member_of[i]);
	free(svc->member_of);
	svc->member_of = mo;
	svc->nmember_of = nmo;
	for (size_t i = 0; i < svc->nstrat; i++) {
		free(svc->stype[i]);
		free(svc->sfield[i]);
	}
	free(svc->stype);
	free(svc->sfield);
	svc->nstrat = nst;
	svc->stype = xcalloc(nst ? nst : 1, sizeof(char *));
	svc->sfield = xcalloc(nst ? nst : 1, sizeof(char *));
	for (size_t i = 0; i < nst; i++) {
		svc->stype[i] = xstrdup(st[i].type ? st[i].type : "");
		svc->sfield[i] = xstrdup(st[i].field ? st[i].field : "");
	}
	return 0;
fail:
	for (size_t i = 0; i < nmo; i++)
		sched_cql_free(mo[i]);
	free(mo);
	return r;
}

/* ------------------------------------------------------------ deployments */

static void dep_create(struct sched_svc *svc, int64_t now, const struct tmpl *t, char *reason_or_null)
{
	struct sched_svc_deployment *d;
	uint64_t v = 1000000000000000000ULL + sched_mix64(svc->seed ^ sched_mix64(++svc->seq)) %
	             9000000000000000000ULL;

	if (svc->ndeps && svc->deps[0].status == SCHED_SVC_PRIMARY) {
		svc->deps[0].status = SCHED_SVC_ACTIVE;
		svc->deps[0].updated_at = now;
	}
	if (svc->ndeps == svc->capdeps) {
		svc->capdeps = svc->capdeps ? svc->capdeps * 2 : 4;
		svc->deps = xreallocarray(svc->deps, svc->capdeps, sizeof(*svc->deps));
	}
	memmove(svc->deps + 1, svc->deps, svc->ndeps * sizeof(*svc->deps));
	svc->ndeps++;
	d = &svc->deps[0];
	*d = (struct sched_svc_deployment){
		.status = SCHED_SVC_PRIMARY,
		.task_definition = xstrdup(t->task_definition),
		.desired_count = svc->desired,
		.rollout = SCHED_SVC_IN_PROGRESS,
		.created_at = now, .updated_at = now,
		.cpu = t->cpu, .memory = t->memory,
		.tcp_ports = t->ntcp ? xmemdup(t->tcp, t->ntcp * sizeof(*t->tcp)) : NULL, .ntcp = t->ntcp,
		.udp_ports = t->nudp ? xmemdup(t->udp, t->nudp * sizeof(*t->udp)) : NULL, .nudp = t->nudp,
	};
	snprintf(d->id, sizeof(d->id), "ecs-svc/%" PRIu64, v);
	d->rollout_reason = reason_or_null ? reason_or_null : xasprintf("ECS deployment %s in progress.", d->id);
	svc->steady = false;
}

static void svc_apply_spec(struct sched_svc *svc, const struct sched_svc_spec *s, int32_t minp, int32_t maxp)
{
	svc->minp = minp;
	svc->maxp = maxp;
	svc->cb = s->circuit_breaker;
	svc->rollback = s->rollback;
	svc->grace = s->grace_period;
	if (s->scheduling == SCHED_SVC_REPLICA)
		svc->desired = s->desired_count;
}

int sched_svc_new(const struct sched_svc_spec *spec, int64_t now, struct sched_svc **out, struct berr **err)
{
	struct sched_svc *svc;
	int32_t minp, maxp;
	int r;

	*out = NULL;
	r = spec_check(spec, &minp, &maxp, err);
	if (r < 0)
		return r;
	svc = xzalloc(sizeof(*svc));
	r = spec_compile(svc, spec, err);
	if (r < 0) {
		sched_svc_free(svc);
		return r;
	}
	svc->name = xstrdup(spec->name);
	svc->arn = xstrdup(spec->arn ? spec->arn : "");
	svc->group = xasprintf("service:%s", spec->name);
	svc->scheduling = spec->scheduling;
	svc->seed = sched_mix64(sched_hash_str(svc->arn) ^ ((uint64_t)sched_hash_str(svc->name) << 32));
	svc->events = xcalloc(SCHED_SVC_MAX_EVENTS, sizeof(*svc->events));
	svc_apply_spec(svc, spec, minp, maxp);
	tmpl_copy(&svc->tpl, spec->task_definition, spec->cpu, spec->memory, spec->tcp_ports, spec->ntcp,
	          spec->udp_ports, spec->nudp);
	dep_create(svc, now, &svc->tpl, NULL);
	*out = svc;
	return 0;
}

static void dep_copy(struct sched_svc_deployment *dst, const struct sched_svc_deployment *src)
{
	*dst = *src;
	dst->task_definition = xstrdup(src->task_definition ? src->task_definition : "");
	dst->rollout_reason = src->rollout_reason ? xstrdup(src->rollout_reason) : NULL;
	dst->tcp_ports = src->ntcp ? xmemdup(src->tcp_ports, src->ntcp * sizeof(*src->tcp_ports)) : NULL;
	dst->udp_ports = src->nudp ? xmemdup(src->udp_ports, src->nudp * sizeof(*src->udp_ports)) : NULL;
}

static bool dep_id_ok(const char *id)
{
	size_t n = strnlen(id, SCHED_SVC_DEPLOYMENT_ID_MAX);

	return n < SCHED_SVC_DEPLOYMENT_ID_MAX && n > 8 && strncmp(id, "ecs-svc/", 8) == 0 &&
	       strspn(id + 8, "0123456789") == n - 8;
}

void sched_svc_state(const struct sched_svc *svc, struct sched_svc_state *out)
{
	*out = (struct sched_svc_state){
		.deployments = svc->deps, .ndeployments = svc->ndeps,
		.events = svc->events, .nevents = svc->nevents,
		.seq = svc->seq, .steady = svc->steady, .steady_said = svc->steady_said,
	};
	if (svc->have_completed) {
		memcpy(out->completed.id, svc->completed_id, sizeof(out->completed.id));
		out->completed.task_definition = svc->completed.task_definition;
		out->completed.cpu = svc->completed.cpu;
		out->completed.memory = svc->completed.memory;
		out->completed.tcp_ports = svc->completed.tcp;
		out->completed.ntcp = svc->completed.ntcp;
		out->completed.udp_ports = svc->completed.udp;
		out->completed.nudp = svc->completed.nudp;
	}
}

int sched_svc_restore(const struct sched_svc_spec *spec, const struct sched_svc_state *state,
                      struct sched_svc **out, struct berr **err)
{
	const struct sched_svc_deployment *p;
	struct sched_svc *svc;
	int r;

	*out = NULL;
	if (!state->ndeployments)
		return berr_set(err, EINVAL, "service %s: saved state: no deployment", spec->name);
	if (state->nevents > SCHED_SVC_MAX_EVENTS)
		return berr_set(err, EINVAL, "service %s: saved state: %zu events (at most %d)", spec->name,
		                state->nevents, SCHED_SVC_MAX_EVENTS);
	for (size_t i = 0; i < state->ndeployments; i++) {
		const struct sched_svc_deployment *d = &state->deployments[i];

		if (!dep_id_ok(d->id) || !d->task_definition || !*d->task_definition)
			return berr_set(err, EINVAL, "service %s: saved state: deployments[%zu]: bad id or no "
			                "task definition", spec->name, i);
		if ((i == 0) != (d->status == SCHED_SVC_PRIMARY) || d->status == SCHED_SVC_INACTIVE)
			return berr_set(err, EINVAL, "service %s: saved state: deployments[%zu]: status %s "
			                "(the first and only the first is PRIMARY)", spec->name, i,
			                sched_svc_dstatus_str(d->status));
	}
	if (state->completed.id[0] && (!dep_id_ok(state->completed.id) || !state->completed.task_definition))
		return berr_set(err, EINVAL, "service %s: saved state: bad completed deployment", spec->name);
	r = sched_svc_new(spec, 0, &svc, err);
	if (r < 0)
		return r;
	/* the deployment sched_svc_new made goes: the saved ones replace it */
	for (size_t i = 0; i < svc->ndeps; i++)
		dep_free(&svc->deps[i]);
	svc->ndeps = 0;
	if (svc->capdeps < state->ndeployments) {
		svc->capdeps = state->ndeployments;
		svc->deps = xreallocarray(svc->deps, svc->capdeps, sizeof(*svc->deps));
	}
	for (size_t i = 0; i < state->ndeployments; i++)
		dep_copy(&svc->deps[svc->ndeps++], &state->deployments[i]);
	p = &svc->deps[0];
	dep_tmpl(p, &svc->tpl);
	for (size_t i = 0; i < svc->nevents; i++)
		free(svc->events[i].message);
	svc->nevents = 0;
	for (size_t i = 0; i < state->nevents; i++) {
		svc->events[i] = state->events[i];
		svc->events[i].message = xstrdup(state->events[i].message ? state->events[i].message : "");
		svc->nevents++;
	}
	if (state->completed.id[0]) {
		svc->have_completed = true;
		memcpy(svc->completed_id, state->completed.id, sizeof(svc->completed_id));
		dep_tmpl(&state->completed, &svc->completed);
	}
	svc->seq = state->seq;
	svc->steady = state->steady;
	svc->steady_said = state->steady_said;
	*out = svc;
	return 0;
}

void sched_svc_free(struct sched_svc *svc)
{
	if (!svc)
		return;
	free(svc->name);
	free(svc->arn);
	free(svc->group);
	tmpl_free(&svc->tpl);
	tmpl_free(&svc->completed);
	sched_plan_free(svc->plan);
	for (size_t i = 0; i < svc->nmember_of; i++)
		sched_cql_free(svc->member_of[i]);
	free(svc->member_of);
	for (size_t i = 0; i < svc->nstrat; i++) {
		free(svc->stype[i]);
		free(svc->sfield[i]);
	}
	free(svc->stype);
	free(svc->sfield);
	for (size_t i = 0; i < svc->ndeps; i++)
		dep_free(&svc->deps[i]);
	free(svc->deps);
	for (size_t i = 0; i < svc->nevents; i++)
		free(svc->events[i].message);
	free(svc->events);
	for (uint32_t i = 0; i < svc->nrecs; i++)
		free(svc->recs[i].id);
	free(svc->recs);
	free(svc->freerecs);
	sched_smap_free(&svc->recmap);
	free(svc->place_msg);
	free(svc->stuck_msg);
	free(svc);
}

void sched_svc_set_id_fn(struct sched_svc *svc, sched_svc_id_fn fn, void *ctx)
{
	svc->idfn = fn;
	svc->idctx = ctx;
}

int sched_svc_update(struct sched_svc *svc, const struct sched_svc_spec *spec, bool force_new_deployment,
                     int64_t now, struct berr **err)
{
	int32_t minp, maxp;
	int r;

	r = spec_check(spec, &minp, &maxp, err);
	if (r < 0)
		return r;
	if (spec->scheduling != svc->scheduling)
		return berr_set(err, EINVAL, "service %s: schedulingStrategy cannot be changed", svc->name);
	if (strcmp(spec->name, svc->name) != 0)
		return berr_set(err, EINVAL, "service %s: serviceName cannot be changed", svc->name);
	r = spec_compile(svc, spec, err);
	if (r < 0)
		return r;
	svc_apply_spec(svc, spec, minp, maxp);
	if (svc->scheduling == SCHED_SVC_REPLICA && svc->deps[0].desired_count != svc->desired) {
		svc->deps[0].desired_count = svc->desired;
		svc->deps[0].updated_at = now;
	}
	if (force_new_deployment || strcmp(spec->task_definition, svc->tpl.task_definition) != 0 ||
	    spec->cpu != svc->tpl.cpu || spec->memory != svc->tpl.memory) {
		tmpl_copy(&svc->tpl, spec->task_definition, spec->cpu, spec->memory, spec->tcp_ports, spec->ntcp,
		          spec->udp_ports, spec->nudp);
		dep_create(svc, now, &svc->tpl, NULL);
	}
	return 0;
}

const struct sched_svc_deployment *sched_svc_deployments(const struct sched_svc *svc, size_t *n)
{
	*n = svc->ndeps;
	return svc->deps;
}

const struct sched_svc_event *sched_svc_events(const struct sched_svc *svc, size_t *n)
{
	*n = svc->nevents;
	return svc->events;
}

const char *sched_svc_task_definition(const struct sched_svc *svc)
{
	return svc->tpl.task_definition;
}

int32_t sched_svc_min_healthy(const struct sched_svc *svc)
{
	return svc->minp;
}

int32_t sched_svc_max_percent(const struct sched_svc *svc)
{
	return svc->maxp;
}

/* ------------------------------------------------------------ one step */

/* A task as this step sees it. */
struct tv {
	const struct sched_svc_task *t;
	struct trec *r;
	uint32_t ri;
	int dep;            /* index in deps; -1: unknown (oldest of all) */
	uint32_t inst;      /* cluster index or SCHED_NONE */
	bool live;          /* not STOPPED */
	bool stopping;      /* desiredStatus STOPPED (or stopped this step) */
	bool running;       /* lastStatus RUNNING */
	bool healthy;       /* counts towards minimumHealthyPercent */
	bool doomed;        /* on an instance it must leave (DRAINING, not a daemon target) */
	bool chosen;        /* picked for a stop this step */
};

struct step {
	struct sched_svc *svc;
	struct sched_cluster *cl;
	int64_t now;
	struct tv *v;
	size_t n;
	struct sched_svc_actions *out;
	size_t capstart, capstop;
	char **stopped_ids;      /* for the "has stopped" event */
	size_t nstopped_ids;
	int32_t healthy;         /* H: healthy, not stopping */
	int32_t min_healthy;     /* minH */
};

static bool task_in_grace(const struct sched_svc *svc, const struct sched_svc_task *t, int64_t now)
{
	return t->started_at > 0 && now < t->started_at + svc->grace;
}

/* Healthy for minimumHealthyPercent [E]: RUNNING, not being stopped, and
 * either in the grace period, or: with a container health check HEALTHY;
 * with a load balancer target HEALTHY; with neither, 40 s after RUNNING
 * (at once when the service has a grace period). */
static bool task_healthy(const struct sched_svc *svc, const struct sched_svc_task *t, int64_t now)
{
	if (t->last_status != SCHED_SVC_RUNNING || t->desired_stopped)
		return false;
	if (task_in_grace(svc, t, now))
		return true;
	if (t->has_health_check && t->health != SCHED_SVC_HEALTH_HEALTHY)
		return false;
	if (t->lb != SCHED_SVC_LB_NONE)
		return t->lb == SCHED_SVC_LB_HEALTHY;
	/* with a grace period such a task is healthy from RUNNING on: nothing
	 * could later call it unhealthy, and a gap between the end of the grace
	 * period and the 40 s would make it flap */
	if (!t->has_health_check)
		return svc->grace > 0 || now - t->started_at >= SCHED_SVC_SETTLE_SECONDS;
	return true;
}

static void push_stop(struct step *st, struct tv *x, char *reason)
{
	struct sched_svc_actions *o = st->out;

	if (o->nstop == st->capstop) {
		st->capstop = st->capstop ? st->capstop * 2 : 8;
		o->stop = xreallocarray(o->stop, st->capstop, sizeof(*o->stop));
		st->stopped_ids = xreallocarray(st->stopped_ids, st->capstop, sizeof(*st->stopped_ids));
	}
	o->stop[o->nstop++] = (struct sched_svc_stop){ .task_id = xstrdup(x->t->id), .reason = reason };
	st->stopped_ids[st->nstopped_ids++] = (char *)x->t->id;
	if (x->healthy)
		st->healthy--;
	x->stopping = true;
	x->healthy = false;
	x->chosen = true;
	x->r->stop_sent = true;
}

static char *scaling_reason(const struct sched_svc *svc, const struct tv *x)
{
	const char *d = x->dep >= 0 ? svc->deps[x->dep].id : x->t->deployment ? x->t->deployment : "";

	return xasprintf("Scaling activity initiated by (deployment %s)", d);
}

static void push_start(struct step *st, char *id, const char *dep, const char *td, uint32_t inst)
{
	struct sched_svc_actions *o = st->out;

	if (o->nstart == st->capstart) {
		st->capstart = st->capstart ? st->capstart * 2 : 8;
		o->start = xreallocarray(o->start, st->capstart, sizeof(*o->start));
	}
	o->start[o->nstart++] = (struct sched_svc_start){
		.task_id = id, .deployment = xstrdup(dep), .task_definition = xstrdup(td), .instance = inst,
	};
}

static char *new_task_id(struct sched_svc *svc)
{
	uint64_t a, b;

	if (svc->idfn)
		return svc->idfn(svc->idctx);
	a = sched_mix64(svc->seed ^ sched_mix64(++svc->seq));
	b = sched_mix64(a ^ svc->seq);
	return xasprintf("%016" PRIx64 "%016" PRIx64, a, b);
}

/* 1. what each task is; failures and first successes */
static void classify(struct step *st, const struct sched_svc_task *tasks, size_t ntasks)
{
	struct sched_svc *svc = st->svc;

	st->v = xcalloc(ntasks ? ntasks : 1, sizeof(*st->v));
	st->n = ntasks;
	for (size_t i = 0; i < ntasks; i++) {
		struct tv *x = &st->v[i];
		const struct sched_svc_task *t = &tasks[i];
		const struct sched_task *ct;

		x->t = t;
		x->ri = rec_get(svc, t->id);
		x->dep = -1;
		for (size_t d = 0; d < svc->ndeps; d++)
			if (t->deployment && strcmp(t->deployment, svc->deps[d].id) == 0)
				x->dep = (int)d;
		x->inst = SCHED_NONE;
		if (st->cl && (ct = sched_cluster_find_task(st->cl, t->id)))
			x->inst = ct->instance;
		x->live = t->last_status != SCHED_SVC_STOPPED;
		x->stopping = x->live && t->desired_stopped;
		x->running = t->last_status == SCHED_SVC_RUNNING;
		x->healthy = x->live && task_healthy(svc, t, st->now);
	}
	/* records do not move after this: no new ones this step */
	for (size_t i = 0; i < st->n; i++) {
		st->v[i].r = &svc->recs[st->v[i].ri];
		st->v[i].r->seen = true;
	}
	/* a task that turns healthy ends a run of failures ("consecutively failed
	 * tasks" [E]); successes first, so a step's failures count after them */
	for (size_t i = 0; i < st->n; i++) {
		struct tv *x = &st->v[i];

		if (x->healthy && !x->r->was_healthy) {
			x->r->was_healthy = true;
			if (x->dep >= 0 && svc->deps[x->dep].failed_tasks) {
				svc->deps[x->dep].failed_tasks = 0;
				svc->deps[x->dep].updated_at = st->now;
			}
		}
	}
	/* a failure [E]: stopped without having been healthy, not by the
	 * scheduler or a user (a task that never reached RUNNING, or whose
	 * essential container exited before it was healthy) */
	for (size_t i = 0; i < st->n; i++) {
		struct tv *x = &st->v[i];
		enum sched_svc_stop_code c = x->t->stop_code;

		if (x->live || x->r->counted || x->r->stop_sent || x->r->was_healthy)
			continue;
		if (c == SCHED_SVC_STOP_USER_INITIATED || c == SCHED_SVC_STOP_SERVICE_SCHEDULER_INITIATED)
			continue;
		x->r->counted = true;
		if (x->dep >= 0) {
			svc->deps[x->dep].failed_tasks++;
			svc->deps[x->dep].updated_at = st->now;
		}
	}
}

/* 2. unhealthy tasks out of their grace period are stopped (they do not
 * count as healthy, so this never lowers the healthy count) */
static void stop_unhealthy(struct step *st)
{
	struct sched_svc *svc = st->svc;

	for (size_t i = 0; i < st->n; i++) {
		struct tv *x = &st->v[i];
		const struct sched_svc_task *t = x->t;
		bool lb_bad, hc_bad;
		char *reason;

		if (!x->live || x->stopping || !x->running || task_in_grace(svc, t, st->now))
			continue;
		lb_bad = t->lb == SCHED_SVC_LB_UNHEALTHY;
		hc_bad = t->has_health_check && t->health == SCHED_SVC_HEALTH_UNHEALTHY;
		if (!lb_bad && !hc_bad)
			continue;
		if (lb_bad) {
			const char *tg = t->lb_target_group ? t->lb_target_group : "";

			event_add(svc, st->now, xasprintf("(service %s) (task %s) (port %d) is unhealthy in "
			                                  "(target-group %s) due to (reason %s).", svc->name,
			                                  t->id, t->lb_port, tg,
			                                  t->lb_reason ? t->lb_reason : "Health checks failed"));
			reason = xasprintf("Task failed ELB health checks in (target-group %s)", tg);
		} else {
			event_add(svc, st->now,
			          xasprintf("(service %s) (task %s) failed container health checks.", svc->name, t->id));
			reason = xstrdup("Task failed container health checks");
		}
		push_stop(st, x, reason);
		/* failed its health checks and was stopped: a failure [E] */
		if (!x->r->counted) {
			x->r->counted = true;
			if (x->dep >= 0) {
				svc->deps[x->dep].failed_tasks++;
				svc->deps[x->dep].updated_at = st->now;
			}
		}
	}
}

/* 3. the circuit breaker on the primary deployment */
static void circuit_breaker(struct step *st)
{
	struct sched_svc *svc = st->svc;
	struct sched_svc_deployment *p = &svc->deps[0];

	if (!svc->cb || p->rollout != SCHED_SVC_IN_PROGRESS ||
	    p->failed_tasks < sched_svc_cb_threshold(svc->desired))
		return;
	p->rollout = SCHED_SVC_FAILED;
	p->updated_at = st->now;
	set_reason(p, xstrdup("ECS deployment circuit breaker: task failed to start."));
	event_add(svc, st->now, xasprintf("(service %s) (deployment %s) deployment failed: tasks failed to start.",
	                                  svc->name, p->id));
	if (!svc->rollback || !svc->have_completed)
		return;
	event_add(svc, st->now, xasprintf("(service %s) rolling back to deployment %s.", svc->name,
	                                  svc->completed_id));
	tmpl_copy(&svc->tpl, svc->completed.task_definition, svc->completed.cpu, svc->completed.memory,
	          svc->completed.tcp, svc->completed.ntcp, svc->completed.udp, svc->completed.nudp);
	dep_create(svc, st->now, &svc->tpl,
	           xasprintf("ECS deployment circuit breaker: rolling back to deploymentId %s.", svc->completed_id));
	for (size_t i = 0; i < st->n; i++)
		if (st->v[i].dep >= 0)
			st->v[i].dep++;
}

/* ---- scale-in choice */

struct counts {
	uint32_t *per_inst;          /* the service's tasks per instance */
	struct sched_umap *val_idx;  /* per strategy: attribute value -> slot in per_val */
	uint32_t **per_val;
	uint32_t *nval;
};

static uint32_t attr_of(const struct sched_svc *svc, const struct sched_cluster *cl, size_t s)
{
	if (strcmp(svc->stype[s], "spread") != 0 || strncmp(svc->sfield[s], "attribute:", 10) != 0)
		return SCHED_NONE;
	return sched_cluster_lookup(cl, svc->sfield[s] + 10);
}

static uint32_t val_slot(struct counts *c, size_t s, uint64_t value)
{
	uint32_t k = sched_umap_get(&c->val_idx[s], value);

	if (k == SCHED_NONE) {
		k = c->nval[s]++;
		c->per_val[s] = xreallocarray(c->per_val[s], c->nval[s], sizeof(uint32_t));
		c->per_val[s][k] = 0;
		sched_umap_put(&c->val_idx[s], value, k);
	}
	return k;
}

static uint64_t inst_value(const struct sched_cluster *cl, uint32_t inst, uint32_t attr)
{
	uint32_t v;

	if (attr == SCHED_NONE || !sched_instance_attr(sched_cluster_instance(cl, inst), attr, &v))
		return (1ULL << 32) + 1;   /* missing: one value of its own */
	return v == SCHED_NONE ? (1ULL << 32) : v;
}

static void counts_build(struct step *st, struct counts *c)
{
	struct sched_svc *svc = st->svc;
	uint32_t ni = sched_cluster_ninstances(st->cl);

	c->per_inst = xcalloc(ni ? ni : 1, sizeof(uint32_t));
	c->val_idx = xcalloc(svc->nstrat ? svc->nstrat : 1, sizeof(*c->val_idx));
	c->per_val = xcalloc(svc->nstrat ? svc->nstrat : 1, sizeof(*c->per_val));
	c->nval = xcalloc(svc->nstrat ? svc->nstrat : 1, sizeof(*c->nval));
	for (size_t i = 0; i < st->n; i++) {
		struct tv *x = &st->v[i];

		if (!x->live || x->stopping || x->inst == SCHED_NONE)
			continue;
		c->per_inst[x->inst]++;
		for (size_t s = 0; s < svc->nstrat; s++) {
			uint32_t a = attr_of(svc, st->cl, s);

			if (a != SCHED_NONE) {
				uint32_t k = val_slot(c, s, inst_value(st->cl, x->inst, a));

				c->per_val[s][k]++;
			}
		}
	}
}

static void counts_take(struct step *st, struct counts *c, const struct tv *x)
{
	if (x->inst == SCHED_NONE)
		return;
	c->per_inst[x->inst]--;
	for (size_t s = 0; s < st->svc->nstrat; s++) {
		uint32_t a = attr_of(st->svc, st->cl, s);

		if (a != SCHED_NONE) {
			uint32_t k = val_slot(c, s, inst_value(st->cl, x->inst, a));

			c->per_val[s][k]--;
		}
	}
}

static void counts_free(const struct step *st, struct counts *c)
{
	for (size_t s = 0; s < st->svc->nstrat; s++) {
		sched_umap_free(&c->val_idx[s]);
		free(c->per_val[s]);
	}
	free(c->val_idx);
	free(c->per_val);
	free(c->nval);
	free(c->per_inst);
}

/* Is a "better to stop first" than b, within the same class? Strategy keys
 * in order: spread - from the value or instance with the most of the
 * service's tasks; binpack - from the least utilized instance (most
 * remaining); random - by the seed. Then the youngest task, then the id. */
static bool stop_before(struct step *st, struct counts *c, const struct tv *a, const struct tv *b)
{
	struct sched_svc *svc = st->svc;

	if (st->cl && a->inst != SCHED_NONE && b->inst != SCHED_NONE) {
		for (size_t s = 0; s < svc->nstrat; s++) {
			int64_t ka = 0, kb = 0;

			if (strcmp(svc->stype[s], "spread") == 0) {
				uint32_t at = attr_of(svc, st->cl, s);

				if (strncmp(svc->sfield[s], "attribute:", 10) != 0) {
					ka = c->per_inst[a->inst];
					kb = c->per_inst[b->inst];
				} else {
					uint32_t sa = val_slot(c, s, inst_value(st->cl, a->inst, at));
					uint32_t sb = val_slot(c, s, inst_value(st->cl, b->inst, at));

					ka = c->per_val[s][sa];
					kb = c->per_val[s][sb];
				}
			} else if (strcmp(svc->stype[s], "binpack") == 0) {
				const struct sched_instance *ia = sched_cluster_instance(st->cl, a->inst);
				const struct sched_instance *ib = sched_cluster_instance(st->cl, b->inst);
				bool cpu = strcmp(svc->sfield[s], "cpu") == 0;

				ka = cpu ? ia->cpu_remaining : ia->mem_remaining;
				kb = cpu ? ib->cpu_remaining : ib->mem_remaining;
			} else if (strcmp(svc->stype[s], "random") == 0) {
				ka = (int64_t)(sched_mix64(svc->seed ^ sched_hash_str(a->t->id)) >> 1);
				kb = (int64_t)(sched_mix64(svc->seed ^ sched_hash_str(b->t->id)) >> 1);
			}
			if (ka != kb)
				return ka > kb;
		}
	}
	if (a->running != b->running)
		return !a->running;
	if (a->t->started_at != b->t->started_at)
		return a->t->started_at > b->t->started_at;
	return strcmp(a->t->id, b->t->id) < 0;
}

/* class of a stop candidate: lower goes first. Doomed tasks, then old
 * deployments (oldest first, unknown ones before all), then the primary's
 * excess; within a class tasks that are not healthy first. */
static int stop_class(const struct sched_svc *svc, const struct tv *x)
{
	int k;

	if (x->doomed)
		k = 0;
	else if (x->dep < 0)
		k = 1;
	else if (x->dep > 0)
		k = 1 + (int)svc->ndeps - x->dep;
	else
		k = 2 + (int)svc->ndeps;
	return k * 2 + (x->healthy ? 1 : 0);
}

/* Choose and stop up to `budget` tasks among those `eligible` accepts,
 * stopping a healthy one only while the healthy count stays >= minH. */
static size_t stop_some(struct step *st, struct counts *c, bool (*eligible)(const struct step *, const struct tv *),
                        size_t budget)
{
	size_t done = 0;

	while (done < budget) {
		struct tv *best = NULL;
		int bestk = 0;

		for (size_t i = 0; i < st->n; i++) {
			struct tv *x = &st->v[i];
			int k;

			if (!x->live || x->stopping || x->chosen || !eligible(st, x))
				continue;
			if (x->healthy && st->healthy - 1 < st->min_healthy)
				continue;
			k = stop_class(st->svc, x);
			if (!best || k < bestk || (k == bestk && stop_before(st, c, x, best))) {
				best = x;
				bestk = k;
			}
		}
		if (!best)
			break;
		if (c)
			counts_take(st, c, best);
		push_stop(st, best, scaling_reason(st->svc, best));
		done++;
	}
	return done;
}

static bool must_go(const struct step *st, const struct tv *x)
{
	(void)st;
	return x->doomed || x->dep != 0;
}

static bool doomed_only(const struct step *st, const struct tv *x)
{
	(void)st;
	return x->doomed;
}

static bool primary_keep(const struct step *st, const struct tv *x)
{
	(void)st;
	return !x->doomed && x->dep == 0;
}

/* ---- placement */

static void place_failed(struct step *st, enum sched_reason reason, uint32_t closest)
{
	event_dedup(st->svc, st->now, place_failure_msg(st->svc, st->cl, reason, closest), &st->svc->place_msg,
	            &st->svc->place_said);
}

static void started_event(struct step *st, size_t from)
{
	size_t n = st->out->nstart - from;
	cleanup_free char **ids = xcalloc(n ? n : 1, sizeof(char *));

	for (size_t i = 0; i < n; i++)
		ids[i] = st->out->start[from + i].task_id;
	event_tasks(st->svc, st->now, "has started", ids, n);
}

/* Start k tasks of the primary (REPLICA). */
static void start_replica(struct step *st, int32_t k)
{
	struct sched_svc *svc = st->svc;
	struct sched_svc_deployment *p = &svc->deps[0];
	size_t from = st->out->nstart;

	if (k <= 0)
		return;
	if (!st->cl) {
		for (int32_t i = 0; i < k; i++)
			push_start(st, new_task_id(svc), p->id, p->task_definition, SCHED_NONE);
	} else {
		char **ids = xcalloc((size_t)k, sizeof(char *));
		struct sched_request req = {
			.cpu = p->cpu, .memory = p->memory,
			.tcp_ports = p->tcp_ports, .udp_ports = p->udp_ports, .ntcp = p->ntcp, .nudp = p->nudp,
			.group = svc->group, .family_rev = family_rev(p->task_definition), .started_by = p->id,
		};
		struct sched_result res;
		struct berr *e = NULL;

		for (int32_t i = 0; i < k; i++)
			ids[i] = new_task_id(svc);
		if (sched_place(st->cl, svc->plan, &req, (const char *const *)ids, (uint32_t)k, &res, &e) < 0) {
			/* only invalid arguments; the spec was checked */
			berr_free(e);
			res = (struct sched_result){ .failed = true, .failure = { .reason = SCHED_R_MISSING,
			                                                          .closest = SCHED_NONE } };
		}
		for (uint32_t i = 0; i < res.placed; i++) {
			push_start(st, ids[i], p->id, p->task_definition, res.instance[i]);
			ids[i] = NULL;
		}
		if (res.failed)
			place_failed(st, res.failure.reason, res.failure.closest);
		else {
			free(svc->place_msg);
			svc->place_msg = NULL;
		}
		for (int32_t i = 0; i < k; i++)
			free(ids[i]);
		free(ids);
		sched_result_free(&res);
	}
	started_event(st, from);
}

static void schedule_replica(struct step *st)
{
	struct sched_svc *svc = st->svc;
	struct sched_svc_deployment *p = &svc->deps[0];
	int32_t D = svc->desired, maxT = floor_pct(D, svc->maxp), L = 0, keep = 0, want, room, nstart;
	bool primary_ok = p->rollout != SCHED_SVC_FAILED, moving = false;
	struct counts c = { 0 };
	size_t nstop0 = st->out->nstop;

	st->min_healthy = D > 0 ? ceil_pct(D, svc->minp) : 0;
	for (size_t i = 0; i < st->n; i++) {
		struct tv *x = &st->v[i];

		if (!x->live)
			continue;
		if (st->cl && x->inst != SCHED_NONE &&
		    sched_cluster_instance(st->cl, x->inst)->status == SCHED_DRAINING)
			x->doomed = true;
		L++;
		if (!x->stopping && primary_keep(st, x))
			keep++;
		if (x->stopping || !x->running || (!x->healthy && x->running))
			moving = true;
	}
	if (st->cl)
		counts_build(st, &c);
	/* stops: doomed and old deployments' tasks (not while a failed primary
	 * cannot replace them), then the primary's excess */
	stop_some(st, st->cl ? &c : NULL, primary_ok ? must_go : doomed_only, SIZE_MAX);
	if (keep > D)
		stop_some(st, st->cl ? &c : NULL, primary_keep, (size_t)(keep - D));
	if (st->cl)
		counts_free(st, &c);
	/* starts: up to the desired count, within maximumPercent */
	want = primary_ok ? D - keep : 0;
	room = maxT - L;
	nstart = want < room ? want : room;
	if (nstart > 0)
		start_replica(st, nstart);
	if (want > 0 && room <= 0 && st->out->nstop == nstop0 && !moving && p->rollout == SCHED_SVC_IN_PROGRESS)
		event_dedup(svc, st->now,
		            xasprintf("(service %s) was unable to stop or start tasks during a deployment because of the "
		                      "service deployment configuration. Update the minimumHealthyPercent or "
		                      "maximumPercent value and try again.", svc->name),
		            &svc->stuck_msg, &svc->stuck_said);
}

/* ---- DAEMON */

static bool daemon_target(const struct sched_svc *svc, struct sched_cluster *cl, uint32_t idx)
{
	if (sched_cluster_instance(cl, idx)->status != SCHED_ACTIVE)
		return false;
	for (size_t i = 0; i < svc->nmember_of; i++)
		if (!sched_cql_eval(svc->member_of[i], cl, idx))
			return false;
	return true;
}

/* Why the primary's task does not fit on instance idx; SCHED_R_COUNT: it fits. */
static enum sched_reason daemon_fit(const struct sched_svc_deployment *p, const struct sched_instance *in)
{
	if (!in->agent_connected)
		return SCHED_R_AGENT;
	if (in->cpu_remaining < p->cpu)
		return SCHED_R_CPU;
	if (in->mem_remaining < p->memory)
		return SCHED_R_MEMORY;
	for (size_t i = 0; i < p->ntcp; i++)
		if (sched_ports_has(&in->tcp, p->tcp_ports[i]))
			return SCHED_R_PORTS;
	for (size_t i = 0; i < p->nudp; i++)
		if (sched_ports_has(&in->udp, p->udp_ports[i]))
			return SCHED_R_PORTS;
	return SCHED_R_COUNT;
}

static bool daemon_old(const struct step *st, const struct tv *x)
{
	(void)st;
	return x->dep != 0 && !x->doomed;
}

static int schedule_daemon(struct step *st, struct berr **err)
{
	struct sched_svc *svc = st->svc;
	struct sched_svc_deployment *p = &svc->deps[0];
	uint32_t ni, *live_on;
	uint8_t *target;
	int32_t D = 0;
	bool primary_ok = p->rollout != SCHED_SVC_FAILED, failed_said = false;
	size_t from;

	if (!st->cl)
		return berr_set(err, EINVAL, "service %s: a DAEMON service needs a cluster of container instances",
		                svc->name);
	ni = sched_cluster_ninstances(st->cl);
	target = xcalloc(ni ? ni : 1, 1);
	live_on = xcalloc(ni ? ni : 1, sizeof(*live_on));
	for (uint32_t i = 0; i < ni; i++)
		if ((target[i] = daemon_target(svc, st->cl, i)))
			D++;
	svc->desired = D;
	if (p->desired_count != D) {
		p->desired_count = D;
		p->updated_at = st->now;
	}
	st->min_healthy = D > 0 ? ceil_pct(D, svc->minp) : 0;
	for (size_t i = 0; i < st->n; i++) {
		struct tv *x = &st->v[i];

		if (!x->live || x->inst == SCHED_NONE)
			continue;
		live_on[x->inst]++;
		if (!target[x->inst])
			x->doomed = true;
	}
	/* tasks on instances that are no longer targets (DRAINING, no longer
	 * matching) go: nothing replaces them there */
	for (size_t i = 0; i < st->n; i++) {
		struct tv *x = &st->v[i];

		if (x->live && !x->stopping && x->doomed)
			push_stop(st, x, scaling_reason(svc, x));
	}
	/* more than one task on an instance: keep the primary's healthiest */
	for (uint32_t in = 0; in < ni; in++) {
		struct tv *keep = NULL;

		if (!target[in] || live_on[in] < 2)
			continue;
		for (size_t i = 0; i < st->n; i++) {
			struct tv *x = &st->v[i];

			if (x->inst != in || !x->live || x->stopping)
				continue;
			if (!keep || (x->dep == 0) > (keep->dep == 0) ||
			    ((x->dep == 0) == (keep->dep == 0) && x->healthy > keep->healthy))
				keep = x;
		}
		for (size_t i = 0; i < st->n; i++) {
			struct tv *x = &st->v[i];

			if (x != keep && x->inst == in && x->live && !x->stopping &&
			    (!x->healthy || st->healthy - 1 >= st->min_healthy))
				push_stop(st, x, scaling_reason(svc, x));
		}
	}
	/* old deployments' tasks make room for the primary's, within minH */
	if (primary_ok)
		stop_some(st, NULL, daemon_old, SIZE_MAX);
	/* start on every target with no task at all (maximumPercent 100: the old
	 * one must be STOPPED first) */
	from = st->out->nstart;
	for (uint32_t in = 0; in < ni && primary_ok; in++) {
		const struct sched_instance *inst = sched_cluster_instance(st->cl, in);
		enum sched_reason why;
		char *id;

		if (!target[in] || live_on[in])
			continue;
		why = daemon_fit(p, inst);
		if (why != SCHED_R_COUNT) {
			if (!failed_said)
				place_failed(st, why, in);
			failed_said = true;
			continue;
		}
		id = new_task_id(svc);
		struct sched_task_spec ts = {
			.id = id, .group = svc->group, .family_rev = family_rev(p->task_definition),
			.started_by = p->id, .cpu = p->cpu, .memory = p->memory,
			.tcp_ports = p->tcp_ports, .udp_ports = p->udp_ports, .ntcp = p->ntcp, .nudp = p->nudp,
		};
		struct berr *e = NULL;

		if (sched_cluster_add_task(st->cl, in, &ts, &e) < 0) {
			berr_free(e);
			free(id);
			continue;
		}
		push_start(st, id, p->id, p->task_definition, in);
	}
	if (!failed_said && st->out->nstart > from) {
		free(svc->place_msg);
		svc->place_msg = NULL;
	}
	started_event(st, from);
	free(target);
	free(live_on);
	return 0;
}

/* ---- counts, completion, steady state */

static void finish(struct step *st)
{
	struct sched_svc *svc = st->svc;
	struct sched_svc_deployment *p = &svc->deps[0];
	int32_t D = svc->desired, L = 0, good = 0, run = 0, pend = 0;

	for (size_t d = 0; d < svc->ndeps; d++) {
		struct sched_svc_deployment *dp = &svc->deps[d];
		int32_t r = 0, q = 0, keep = 0;

		for (size_t i = 0; i < st->n; i++) {
			const struct tv *x = &st->v[i];

			if (x->dep != (int)d || !x->live || x->stopping)
				continue;
			keep++;
			if (x->running)
				r++;
			else
				q++;
		}
		if (d == 0)
			q += (int32_t)st->out->nstart;
		if (d > 0 && dp->desired_count != keep) {
			dp->desired_count = keep;
			dp->updated_at = st->now;
		}
		if (dp->running_count != r || dp->pending_count != q) {
			dp->running_count = r;
			dp->pending_count = q;
			dp->updated_at = st->now;
		}
	}
	for (size_t i = 0; i < st->n; i++) {
		const struct tv *x = &st->v[i];

		if (!x->live)
			continue;
		L++;
		if (x->stopping)
			continue;
		if (x->running)
			run++;
		else
			pend++;
		if (x->dep == 0 && !x->doomed && x->healthy)
			good++;
	}
	L += (int32_t)st->out->nstart;
	pend += (int32_t)st->out->nstart;
	/* old deployments without tasks are INACTIVE: dropped from deployments[] */
	for (size_t d = svc->ndeps; d-- > 1;) {
		bool any = false;

		for (size_t i = 0; i < st->n && !any; i++)
			any = st->v[i].dep == (int)d && st->v[i].live;
		if (any)
			continue;
		dep_free(&svc->deps[d]);
		memmove(svc->deps + d, svc->deps + d + 1, (svc->ndeps - d - 1) * sizeof(*svc->deps));
		svc->ndeps--;
		for (size_t i = 0; i < st->n; i++)
			if (st->v[i].dep > (int)d)
				st->v[i].dep--;
	}
	/* the unknown deployments' tasks also keep the service from completing */
	bool done = good == D && L == D && svc->ndeps == 1;

	if (done && p->rollout == SCHED_SVC_IN_PROGRESS) {
		p->rollout = SCHED_SVC_COMPLETED;
		p->updated_at = st->now;
		set_reason(p, xasprintf("ECS deployment %s completed.", p->id));
		event_add(svc, st->now,
		          xasprintf("(service %s) (deployment %s) deployment completed.", svc->name, p->id));
		svc->have_completed = true;
		memcpy(svc->completed_id, p->id, sizeof(svc->completed_id));
		dep_tmpl(p, &svc->completed);
	}
	done = done && p->rollout == SCHED_SVC_COMPLETED;
	if (done && (!svc->steady || st->now - svc->steady_said >= SCHED_SVC_REPEAT_SECONDS)) {
		event_add(svc, st->now, xasprintf("(service %s) has reached a steady state.", svc->name));
		svc->steady_said = st->now;
	}
	svc->steady = done;
	st->out->steady = done;
	st->out->desired_count = D;
	st->out->running_count = run;
	st->out->pending_count = pend;
}

int sched_svc_step(struct sched_svc *svc, const struct sched_svc_task *tasks, size_t ntasks,
                   struct sched_cluster *cl, int64_t now, struct sched_svc_actions *out, struct berr **err)
{
	struct step st = { .svc = svc, .cl = cl, .now = now, .out = out };
	int r = 0;

	*out = (struct sched_svc_actions){ 0 };
	svc->added = 0;
	for (size_t i = 0; i < ntasks; i++)
		if (!tasks[i].id || !*tasks[i].id)
			return berr_set(err, EINVAL, "service %s: tasks[%zu]: no id", svc->name, i);
	classify(&st, tasks, ntasks);
	for (size_t i = 0; i < st.n; i++)
		if (st.v[i].live && !st.v[i].stopping && st.v[i].healthy)
			st.healthy++;
	stop_unhealthy(&st);
	circuit_breaker(&st);
	if (svc->scheduling == SCHED_SVC_DAEMON)
		r = schedule_daemon(&st, err);
	else
		schedule_replica(&st);
	if (r == 0) {
		event_tasks(svc, now, "has stopped", st.stopped_ids, st.nstopped_ids);
		finish(&st);
	}
	recs_prune(svc);
	out->first_event = svc->nevents - (svc->added < svc->nevents ? svc->added : svc->nevents);
	free(st.v);
	free(st.stopped_ids);
	if (r < 0)
		sched_svc_actions_free(out);
	return r;
}

void sched_svc_actions_free(struct sched_svc_actions *a)
{
	for (size_t i = 0; i < a->nstart; i++) {
		free(a->start[i].task_id);
		free(a->start[i].deployment);
		free(a->start[i].task_definition);
	}
	free(a->start);
	for (size_t i = 0; i < a->nstop; i++) {
		free(a->stop[i].task_id);
		free(a->stop[i].reason);
	}
	free(a->stop);
	*a = (struct sched_svc_actions){ 0 };
}
