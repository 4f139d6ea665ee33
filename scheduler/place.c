/* scheduler/place.c - see place.h */
#include "scheduler/place.h"
#include "scheduler/cql.h"
#include "scheduler/sched-internal.h"

#include "common/cleanup.h"
#include "common/xalloc.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum skind {
	K_BINPACK_CPU,
	K_BINPACK_MEM,
	K_SPREAD_INSTANCE,
	K_SPREAD_ATTR,
	K_RANDOM,
};

struct strat {
	enum skind kind;
	char *attr;        /* K_SPREAD_ATTR */
};

enum ckind { C_DISTINCT, C_MEMBER_OF };

struct cons {
	enum ckind kind;
	struct sched_cql *q;
	bool is_static;    /* memberOf reading nothing placements change */
};

struct sched_plan {
	struct strat s[SCHED_MAX_STRATEGIES + 1];
	size_t ns;
	struct cons c[SCHED_MAX_CONSTRAINTS];
	size_t nc;
	char *filter;      /* static memberOf expressions joined by "\n", for the views */
	bool fast;         /* shape the indexes answer */
	bool scan;         /* forced scan */
};

static const char *const reason_strs[SCHED_R_COUNT] = {
	[SCHED_R_MISSING] = "MISSING",
	[SCHED_R_AGENT] = "AGENT",
	[SCHED_R_DRAINING] = "DRAINING",
	[SCHED_R_CPU] = "RESOURCE:CPU",
	[SCHED_R_MEMORY] = "RESOURCE:MEMORY",
	[SCHED_R_PORTS] = "RESOURCE:PORTS",
	[SCHED_R_MEMBER_OF] = "MemberOf placement constraint unsatisfied.",
	[SCHED_R_DISTINCT] = "DistinctInstance placement constraint unsatisfied.",
};

const char *sched_reason_str(enum sched_reason r)
{
	return r < SCHED_R_COUNT ? reason_strs[r] : "UNKNOWN";
}

/* ------------------------------------------------------------ plans */

void sched_plan_free(struct sched_plan *plan)
{
	if (!plan)
		return;
	for (size_t i = 0; i < plan->ns; i++)
		free(plan->s[i].attr);
	for (size_t i = 0; i < plan->nc; i++)
		sched_cql_free(plan->c[i].q);
	free(plan->filter);
	free(plan);
}

static int strategy_compile(const struct sched_strategy *in, size_t i, struct strat *out,
                            struct berr **err)
{
	const char *type = in->type ? in->type : "", *field = in->field;

	if (strcmp(type, "random") == 0) {
		if (field && field[0])
			return berr_set(err, EINVAL, "placementStrategy[%zu]: random takes no field", i);
		out->kind = K_RANDOM;
		return 0;
	}
	if (strcmp(type, "binpack") == 0) {
		if (field && strcmp(field, "cpu") == 0)
			out->kind = K_BINPACK_CPU;
		else if (field && strcmp(field, "memory") == 0)
			out->kind = K_BINPACK_MEM;
		else
			return berr_set(err, EINVAL, "placementStrategy[%zu].field: binpack takes cpu or memory, got \"%s\"",
			                i, berr_q(field ? field : ""));
		return 0;
	}
	if (strcmp(type, "spread") == 0) {
		if (field && (strcmp(field, "instanceId") == 0 || strcmp(field, "host") == 0)) {
			out->kind = K_SPREAD_INSTANCE;
		} else if (field && strncmp(field, "attribute:", 10) == 0 &&
		           sched_attr_name_valid(field + 10)) {
			out->kind = K_SPREAD_ATTR;
			out->attr = xstrdup(field + 10);
		} else {
			return berr_set(err, EINVAL, "placementStrategy[%zu].field: spread takes instanceId, host "
			                "or attribute:NAME, got \"%s\"", i, berr_q(field ? field : ""));
		}
		return 0;
	}
	return berr_set(err, EINVAL, "placementStrategy[%zu].type: expected binpack, spread or random, got \"%s\"",
	                i, berr_q(type));
}

int sched_plan_compile(const struct sched_constraint *constraints, size_t nconstraints,
                       const struct sched_strategy *strategies, size_t nstrategies,
                       struct sched_plan **out, struct berr **err)
{
	struct sched_plan *plan;
	int r;

	*out = NULL;
	if (nstrategies > SCHED_MAX_STRATEGIES)
		return berr_set(err, EINVAL, "placementStrategy: %zu strategies, at most %d", nstrategies,
		                SCHED_MAX_STRATEGIES);
	if (nconstraints > SCHED_MAX_CONSTRAINTS)
		return berr_set(err, EINVAL, "placementConstraints: %zu constraints, at most %d", nconstraints,
		                SCHED_MAX_CONSTRAINTS);
	plan = xzalloc(sizeof(*plan));
	for (size_t i = 0; i < nstrategies; i++) {
		if ((r = strategy_compile(&strategies[i], i, &plan->s[i], err)) < 0) {
			plan->ns = i;
			sched_plan_free(plan);
			return r;
		}
		plan->ns = i + 1;
	}
	if (plan->ns == 0)   /* no strategy: random */
		plan->s[plan->ns++].kind = K_RANDOM;
	for (size_t i = 0; i < nconstraints; i++) {
		const struct sched_constraint *c = &constraints[i];
		const char *type = c->type ? c->type : "";

		if (strcmp(type, "distinctInstance") == 0) {
			if (c->expression) {
				sched_plan_free(plan);
				return berr_set(err, EINVAL, "placementConstraints[%zu]: distinctInstance expression "
				                "should not be specified", i);
			}
			plan->c[plan->nc++].kind = C_DISTINCT;
		} else if (strcmp(type, "memberOf") == 0) {
			struct sched_cql *q;

			if (!c->expression) {
				sched_plan_free(plan);
				return berr_set(err, EINVAL, "placementConstraints[%zu]: memberOf needs an expression", i);
			}
			if ((r = sched_cql_compile(c->expression, &q, err)) < 0) {
				sched_plan_free(plan);
				return berr_wrap(err, "placementConstraints[%zu]: memberOf expression", i);
			}
			plan->c[plan->nc].kind = C_MEMBER_OF;
			plan->c[plan->nc].is_static = !sched_cql_dynamic(q) && !strchr(c->expression, '\n');
			plan->c[plan->nc++].q = q;
			if (plan->c[plan->nc - 1].is_static) {
				char *f = plan->filter ? xasprintf("%s\n%s", plan->filter, c->expression)
				                       : xstrdup(c->expression);

				free(plan->filter);
				plan->filter = f;
			}
		} else {
			sched_plan_free(plan);
			return berr_set(err, EINVAL, "placementConstraints[%zu].type: expected distinctInstance "
			                "or memberOf, got \"%s\"", i, berr_q(type));
		}
	}
	/* the shapes the indexes answer: [spread(attribute:X)] [binpack(cpu|memory)] */
	{
		size_t i = 0;

		if (i < plan->ns && plan->s[i].kind == K_SPREAD_ATTR)
			i++;
		if (i < plan->ns && (plan->s[i].kind == K_BINPACK_CPU || plan->s[i].kind == K_BINPACK_MEM))
			i++;
		plan->fast = i > 0 && i == plan->ns;
	}
	*out = plan;
	return 0;
}

void sched_plan_set_scan(struct sched_plan *plan, bool scan)
{
	plan->scan = scan;
}

bool sched_plan_indexed(const struct sched_plan *plan)
{
	return plan->fast && !plan->scan;
}

/* ------------------------------------------------------------ checks */

struct ctx {
	struct sched_cluster *cl;
	struct sched_plan *plan;
	const struct sched_request *req;
	uint32_t group;
	uint64_t rnd;     /* random strategy: this placement's key */
	bool in_view;     /* the candidates come from a view: static memberOf already held */
};

static bool ports_free(const struct sched_instance *in, const struct sched_request *req)
{
	for (size_t i = 0; i < req->ntcp; i++)
		if (sched_ports_has(&in->tcp, req->tcp_ports[i]))
			return false;
	for (size_t i = 0; i < req->nudp; i++)
		if (sched_ports_has(&in->udp, req->udp_ports[i]))
			return false;
	return true;
}

static bool fits(const struct sched_instance *in, const struct sched_request *req)
{
	return in->cpu_remaining >= req->cpu && in->mem_remaining >= req->memory &&
	       (req->ntcp + req->nudp == 0 || ports_free(in, req));
}

static bool constraint_ok(struct ctx *x, const struct cons *c, uint32_t idx)
{
	if (c->kind == C_DISTINCT)
		return sched_instance_group_count(&x->cl->inst[idx], x->group) == 0;
	return sched_cql_eval(c->q, x->cl, idx);
}

static bool eligible(struct ctx *x, uint32_t idx)
{
	const struct sched_instance *in = &x->cl->inst[idx];

	if (!sched_placeable(in) || !fits(in, x->req))
		return false;
	for (size_t i = 0; i < x->plan->nc; i++)
		if (!(x->in_view && x->plan->c[i].is_static) && !constraint_ok(x, &x->plan->c[i], idx))
			return false;
	return true;
}

/* ------------------------------------------------------------ the reference scan */

#define NKEYS (SCHED_MAX_STRATEGIES + 3)

static uint32_t scan(struct ctx *x)
{
	struct sched_cluster *cl = x->cl;
	struct sched_plan *plan = x->plan;
	struct sched_umap counts[SCHED_MAX_STRATEGIES] = { 0 };
	uint32_t attr[SCHED_MAX_STRATEGIES];
	struct sched_view *views[SCHED_MAX_STRATEGIES];
	const uint32_t *vcounts[SCHED_MAX_STRATEGIES];
	int64_t best[NKEYS], key[NKEYS];
	uint32_t found = SCHED_NONE;
	size_t nk = plan->ns + 2;

	/* spread(attribute:X): the group's tasks per value of X; from the views
	 * (kept up to date by every change), or for the reference counted afresh */
	for (size_t s = 0; s < plan->ns; s++) {
		if (plan->s[s].kind != K_SPREAD_ATTR)
			continue;
		if (!plan->scan) {
			views[s] = sched_view_get(cl, sched_intern(cl, plan->s[s].attr), SCHED_KEY_RANK, NULL);
			vcounts[s] = sched_view_counts(cl, views[s], x->group);
			continue;
		}
		attr[s] = sched_cluster_lookup(cl, plan->s[s].attr);
		for (uint32_t i = 0; i < cl->ninst; i++) {
			uint64_t v = attr[s] == SCHED_NONE ? (1ull << 32) + 1 : sched_view_value(&cl->inst[i], attr[s]);
			uint32_t c = sched_umap_get(&counts[s], v);

			sched_umap_put(&counts[s], v, (c == SCHED_NONE ? 0 : c) +
			               sched_instance_group_count(&cl->inst[i], x->group));
		}
	}
	/* the candidates: every instance, or (not for the reference) the
	 * placeable ones that match the static memberOf expressions, from a view */
	const struct sched_entry *cand = NULL;
	uint32_t ncand = cl->ninst;

	if (!plan->scan) {
		struct sched_view *all = sched_view_get(cl, SCHED_NONE, SCHED_KEY_RANK, plan->filter);

		if (all) {
			cand = all->nbuckets ? all->buckets[0].v : NULL;
			ncand = all->nbuckets ? all->buckets[0].n : 0;
			x->in_view = true;
		}
	}
	for (uint32_t c = 0; c < ncand; c++) {
		uint32_t i = cand ? cand[c].idx : c;
		const struct sched_instance *in = &cl->inst[i];
		size_t k;

		if (!eligible(x, i))
			continue;
		for (size_t s = 0; s < plan->ns; s++) {
			switch (plan->s[s].kind) {
			case K_BINPACK_CPU:
				key[s] = in->cpu_remaining;
				break;
			case K_BINPACK_MEM:
				key[s] = in->mem_remaining;
				break;
			case K_SPREAD_INSTANCE:
				key[s] = sched_instance_group_count(in, x->group);
				break;
			case K_SPREAD_ATTR: {
				uint64_t v;

				if (!plan->scan) {
					key[s] = vcounts[s][views[s]->bucket_of[i]];
					break;
				}
				v = attr[s] == SCHED_NONE ? (1ull << 32) + 1 : sched_view_value(in, attr[s]);
				key[s] = sched_umap_get(&counts[s], v);
				break;
			}
			case K_RANDOM:
				key[s] = (int64_t)(sched_mix64(x->rnd ^ sched_mix64(i)) >> 1);
				break;
			}
		}
		key[plan->ns] = in->rank;
		key[plan->ns + 1] = i;
		if (found != SCHED_NONE) {
			for (k = 0; k < nk && key[k] == best[k]; k++)
				;
			if (k == nk || key[k] > best[k])
				continue;
		}
		memcpy(best, key, sizeof(key));
		found = i;
	}
	for (size_t s = 0; s < plan->ns; s++)
		sched_umap_free(&counts[s]);
	return found;
}

/* ------------------------------------------------------------ the indexed path */

/* first eligible entry of a bucket in (key, rank, index) order */
static const struct sched_entry *bucket_first(struct ctx *x, const struct sched_bucket *b,
                                              enum sched_key key)
{
	uint32_t i = 0, hi = b->n;
	int32_t need = key == SCHED_KEY_MEM ? x->req->memory : key == SCHED_KEY_CPU ? x->req->cpu : 0;

	if (key != SCHED_KEY_RANK) {   /* skip what is too small */
		while (i < hi) {
			uint32_t mid = (i + hi) / 2;

			if (b->v[mid].key < need)
				i = mid + 1;
			else
				hi = mid;
		}
	}
	for (; i < b->n; i++)
		if (eligible(x, b->v[i].idx))
			return &b->v[i];
	return NULL;
}

static bool entry_better(const struct sched_entry *a, const struct sched_entry *b)
{
	if (a->key != b->key)
		return a->key < b->key;
	if (a->rank != b->rank)
		return a->rank < b->rank;
	return a->idx < b->idx;
}

static int cmp_u32_by(const void *a, const void *b, void *arg)
{
	const uint32_t *counts = arg;
	uint32_t x = counts[*(const uint32_t *)a], y = counts[*(const uint32_t *)b];

	return x < y ? -1 : x > y;
}

#define FAST_MAX_BUCKETS 1024

static uint32_t indexed(struct ctx *x, bool *ok)
{
	struct sched_plan *plan = x->plan;
	size_t s = 0;
	uint32_t attr = SCHED_NONE;
	enum sched_key key = SCHED_KEY_RANK;
	struct sched_view *v;
	const uint32_t *counts = NULL;
	uint32_t order[FAST_MAX_BUCKETS], m = 0;
	const struct sched_entry *best = NULL;

	*ok = true;
	if (plan->s[0].kind == K_SPREAD_ATTR) {
		attr = sched_intern(x->cl, plan->s[0].attr);
		s = 1;
	}
	if (s < plan->ns)
		key = plan->s[s].kind == K_BINPACK_CPU ? SCHED_KEY_CPU : SCHED_KEY_MEM;
	v = sched_view_get(x->cl, attr, key, plan->filter);
	if (!v || v->nbuckets > FAST_MAX_BUCKETS) {   /* an attribute with too many values: scan */
		*ok = false;
		return SCHED_NONE;
	}
	x->in_view = true;
	if (attr != SCHED_NONE)
		counts = sched_view_counts(x->cl, v, x->group);
	for (uint32_t b = 0; b < v->nbuckets; b++)
		if (v->buckets[b].n)
			order[m++] = b;
	if (counts && m > 1)
		qsort_r(order, m, sizeof(order[0]), cmp_u32_by, (void *)counts);
	/* values in order of the group's task count; the first count level with
	 * an eligible instance wins, the best (key, rank) within it */
	for (uint32_t i = 0; i < m;) {
		uint32_t level = counts ? counts[order[i]] : 0, j = i;

		for (; j < m && (counts ? counts[order[j]] : 0) == level; j++) {
			const struct sched_entry *e = bucket_first(x, &v->buckets[order[j]], key);

			if (e && (!best || entry_better(e, best)))
				best = e;
		}
		if (best)
			return best->idx;
		i = j;
	}
	return SCHED_NONE;
}

/* ------------------------------------------------------------ failures */

static void explain(struct ctx *x, struct sched_failure *f)
{
	struct sched_cluster *cl = x->cl;
	const struct sched_request *req = x->req;
	uint32_t best_fails = UINT32_MAX;
	uint64_t best_short = UINT64_MAX;
	char *msg, *tmp;

	*f = (struct sched_failure){ .closest = SCHED_NONE, .reason = SCHED_R_MISSING };
	if (cl->ninst == 0) {
		f->message = xstrdup("no container instances in the cluster");
		return;
	}
	for (uint32_t i = 0; i < cl->ninst; i++) {
		const struct sched_instance *in = &cl->inst[i];
		bool fail[SCHED_R_COUNT] = { false };
		uint32_t nfail = 0;
		uint64_t shortfall = 0;
		enum sched_reason first = SCHED_R_COUNT;

		fail[SCHED_R_AGENT] = !in->agent_connected;
		fail[SCHED_R_DRAINING] = in->status != SCHED_ACTIVE;
		fail[SCHED_R_CPU] = in->cpu_remaining < req->cpu;
		fail[SCHED_R_MEMORY] = in->mem_remaining < req->memory;
		fail[SCHED_R_PORTS] = !ports_free(in, req);
		for (size_t c = 0; c < x->plan->nc; c++)
			if (!constraint_ok(x, &x->plan->c[c], i))
				fail[x->plan->c[c].kind == C_DISTINCT ? SCHED_R_DISTINCT : SCHED_R_MEMBER_OF] = true;
		for (int r = SCHED_R_AGENT; r < SCHED_R_COUNT; r++)
			if (fail[r]) {
				nfail++;
				if (first == SCHED_R_COUNT)
					first = r;
			}
		if (first == SCHED_R_COUNT)
			continue;   /* cannot happen when nothing was eligible */
		f->counts[first]++;
		if (fail[SCHED_R_CPU])
			shortfall += (uint64_t)((int64_t)req->cpu - in->cpu_remaining);
		if (fail[SCHED_R_MEMORY])
			shortfall += (uint64_t)((int64_t)req->memory - in->mem_remaining);
		if (nfail < best_fails || (nfail == best_fails && shortfall < best_short) ||
		    (nfail == best_fails && shortfall == best_short && in->rank < cl->inst[f->closest].rank)) {
			best_fails = nfail;
			best_short = shortfall;
			f->closest = i;
			f->reason = first;
		}
	}

	msg = xasprintf("no container instance met all of its requirements (%u instances:", cl->ninst);
	for (int r = SCHED_R_AGENT, n = 0; r < SCHED_R_COUNT; r++) {
		if (!f->counts[r])
			continue;
		tmp = xasprintf("%s%s %u %s", msg, n++ ? "," : "", f->counts[r], reason_strs[r]);
		free(msg);
		msg = tmp;
	}
	if (f->closest != SCHED_NONE) {
		const struct sched_instance *in = &cl->inst[f->closest];
		const char *sep = "";

		tmp = xasprintf("%s); closest matching: %s", msg, in->id);
		free(msg);
		msg = tmp;
#define ADD(...) do { char *part = xasprintf(__VA_ARGS__); \
		tmp = xasprintf("%s%s %s", msg, sep, part); free(part); free(msg); msg = tmp; sep = ","; } while (0)
		if (!in->agent_connected)
			ADD("has its agent disconnected");
		if (in->status != SCHED_ACTIVE)
			ADD("is DRAINING");
		if (in->cpu_remaining < req->cpu)
			ADD("lacks %d cpu units (%d remaining, %d needed)", req->cpu - in->cpu_remaining,
			    in->cpu_remaining, req->cpu);
		if (in->mem_remaining < req->memory)
			ADD("lacks %d MiB of memory (%d remaining, %d needed)", req->memory - in->mem_remaining,
			    in->mem_remaining, req->memory);
		for (size_t p = 0; p < req->ntcp; p++)
			if (sched_ports_has(&in->tcp, req->tcp_ports[p]))
				ADD("has tcp port %u in use", req->tcp_ports[p]);
		for (size_t p = 0; p < req->nudp; p++)
			if (sched_ports_has(&in->udp, req->udp_ports[p]))
				ADD("has udp port %u in use", req->udp_ports[p]);
		for (size_t c = 0; c < x->plan->nc; c++) {
			const struct cons *cn = &x->plan->c[c];

			if (constraint_ok(x, cn, f->closest))
				continue;
			if (cn->kind == C_DISTINCT)
				ADD("already runs a task of group %s (distinctInstance)",
				    sched_cluster_str(cl, x->group)[0] ? sched_cluster_str(cl, x->group) : "\"\"");
			else
				ADD("does not match memberOf(%s)", sched_cql_text(cn->q));
		}
#undef ADD
		f->message = msg;
	} else {
		f->message = xasprintf("%s)", msg);
		free(msg);
	}
}

/* ------------------------------------------------------------ placing */

int sched_place(struct sched_cluster *cl, struct sched_plan *plan, const struct sched_request *req,
                const char *const *task_ids, uint32_t count, struct sched_result *res,
                struct berr **err)
{
	struct ctx x = { .cl = cl, .plan = plan, .req = req };

	*res = (struct sched_result){ 0 };
	if (req->cpu < 0 || req->memory < 0)
		return berr_set(err, EINVAL, "place: negative cpu or memory");
	res->instance = xmalloc((count ? count : 1) * sizeof(*res->instance));
	for (uint32_t t = 0; t < count; t++)
		res->instance[t] = SCHED_NONE;
	x.group = sched_intern(cl, req->group ? req->group : "");

	for (uint32_t t = 0; t < count; t++) {
		uint32_t idx = SCHED_NONE;
		bool ok = false;
		cleanup_free char *gen = NULL;
		struct sched_task_spec spec = {
			.group = req->group ? req->group : "",
			.family_rev = req->family_rev,
			.started_by = req->started_by,
			.cpu = req->cpu, .memory = req->memory,
			.tcp_ports = req->tcp_ports, .udp_ports = req->udp_ports,
			.ntcp = req->ntcp, .nudp = req->nudp,
		};
		int r;

		x.rnd = sched_mix64(cl->seed ^ sched_mix64(cl->seq + 0x5bd1e995));
		x.in_view = false;
		if (sched_plan_indexed(plan))
			idx = indexed(&x, &ok);
		x.in_view = false;
		if (!ok)
			idx = scan(&x);
		cl->seq++;
		if (idx == SCHED_NONE) {
			res->failed = true;
			explain(&x, &res->failure);
			return 0;
		}
		if (task_ids) {
			spec.id = task_ids[t];
		} else {
			gen = xasprintf("sched-%" PRIu64, cl->seq);
			spec.id = gen;
		}
		if ((r = sched_cluster_add_task(cl, idx, &spec, err)) < 0)
			return berr_wrap(err, "place task %u of %u", t + 1, count);
		res->instance[t] = idx;
		res->placed++;
	}
	return 0;
}

void sched_result_free(struct sched_result *res)
{
	free(res->instance);
	free(res->failure.message);
	*res = (struct sched_result){ 0 };
}
