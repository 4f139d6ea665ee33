/* scheduler/model.c - see model.h */
#include "scheduler/model.h"
#include "scheduler/sched-internal.h"

#include "common/xalloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

const uint16_t sched_ecs_reserved_ports[5] = { 22, 2375, 2376, 51678, 51679 };

/* ------------------------------------------------------------ hashing */

uint32_t sched_hash_str(const char *s)
{
	uint32_t h = 2166136261u;   /* FNV-1a */

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 16777619u;
	}
	return h;
}

uint64_t sched_mix64(uint64_t x)
{
	/* splitmix64's finalizer */
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static void smap_grow(struct sched_smap *m)
{
	struct sched_smap_slot *old = m->slots;
	uint32_t oldcap = m->cap;

	m->cap = oldcap ? oldcap * 2 : 16;
	m->slots = xcalloc(m->cap, sizeof(*m->slots));
	for (uint32_t i = 0; i < oldcap; i++) {
		if (!old[i].key)
			continue;
		uint32_t j = old[i].hash & (m->cap - 1);

		while (m->slots[j].key)
			j = (j + 1) & (m->cap - 1);
		m->slots[j] = old[i];
	}
	free(old);
}

static uint32_t smap_find(const struct sched_smap *m, const char *key, uint32_t h)
{
	if (m->cap == 0)
		return SCHED_NONE;
	for (uint32_t j = h & (m->cap - 1);; j = (j + 1) & (m->cap - 1)) {
		if (!m->slots[j].key)
			return SCHED_NONE;
		if (m->slots[j].hash == h && strcmp(m->slots[j].key, key) == 0)
			return j;
	}
}

uint32_t sched_smap_get(const struct sched_smap *m, const char *key)
{
	uint32_t j = smap_find(m, key, sched_hash_str(key));

	return j == SCHED_NONE ? SCHED_NONE : m->slots[j].val;
}

void sched_smap_put(struct sched_smap *m, const char *key, uint32_t val)
{
	uint32_t h = sched_hash_str(key), j = smap_find(m, key, h);

	if (j != SCHED_NONE) {
		m->slots[j].key = key;
		m->slots[j].val = val;
		return;
	}
	if ((m->n + 1) * 4 > m->cap * 3)
		smap_grow(m);
	j = h & (m->cap - 1);
	while (m->slots[j].key)
		j = (j + 1) & (m->cap - 1);
	m->slots[j] = (struct sched_smap_slot){ key, h, val };
	m->n++;
}

void sched_smap_del(struct sched_smap *m, const char *key)
{
	uint32_t j = smap_find(m, key, sched_hash_str(key)), mask = m->cap - 1;

	if (j == SCHED_NONE)
		return;
	/* backward-shift deletion keeps linear probing free of tombstones */
	for (uint32_t k = (j + 1) & mask; m->slots[k].key; k = (k + 1) & mask) {
		uint32_t home = m->slots[k].hash & mask;

		/* move k into the hole j unless its home lies cyclically in (j, k] */
		if ((k > j && (home <= j || home > k)) || (k < j && home <= j && home > k)) {
			m->slots[j] = m->slots[k];
			j = k;
		}
	}
	m->slots[j].key = NULL;
	m->n--;
}

void sched_smap_free(struct sched_smap *m)
{
	free(m->slots);
	*m = (struct sched_smap){ 0 };
}

uint32_t sched_umap_get(const struct sched_umap *m, uint64_t key)
{
	if (m->cap == 0)
		return SCHED_NONE;
	for (uint32_t j = (uint32_t)sched_mix64(key) & (m->cap - 1);; j = (j + 1) & (m->cap - 1)) {
		if (m->keys[j] == UINT64_MAX)
			return SCHED_NONE;
		if (m->keys[j] == key)
			return m->vals[j];
	}
}

void sched_umap_put(struct sched_umap *m, uint64_t key, uint32_t val)
{
	if ((m->n + 1) * 4 > m->cap * 3) {
		uint64_t *ok = m->keys;
		uint32_t *ov = m->vals, oc = m->cap;

		m->cap = oc ? oc * 2 : 16;
		m->keys = xmalloc(m->cap * sizeof(*m->keys));
		memset(m->keys, 0xff, m->cap * sizeof(*m->keys));
		m->vals = xmalloc(m->cap * sizeof(*m->vals));
		m->n = 0;
		for (uint32_t i = 0; i < oc; i++)
			if (ok[i] != UINT64_MAX)
				sched_umap_put(m, ok[i], ov[i]);
		free(ok);
		free(ov);
	}
	uint32_t j = (uint32_t)sched_mix64(key) & (m->cap - 1);

	while (m->keys[j] != UINT64_MAX && m->keys[j] != key)
		j = (j + 1) & (m->cap - 1);
	if (m->keys[j] == UINT64_MAX)
		m->n++;
	m->keys[j] = key;
	m->vals[j] = val;
}

void sched_umap_free(struct sched_umap *m)
{
	free(m->keys);
	free(m->vals);
	*m = (struct sched_umap){ 0 };
}

/* ------------------------------------------------------------ interning */

uint32_t sched_intern(struct sched_cluster *cl, const char *s)
{
	uint32_t id = sched_smap_get(&cl->strmap, s);

	if (id != SCHED_NONE)
		return id;
	if (cl->nstrs == cl->capstrs) {
		cl->capstrs = cl->capstrs ? cl->capstrs * 2 : 64;
		cl->strs = xreallocarray(cl->strs, cl->capstrs, sizeof(*cl->strs));
	}
	id = cl->nstrs++;
	cl->strs[id] = xstrdup(s);
	sched_smap_put(&cl->strmap, cl->strs[id], id);
	return id;
}

uint32_t sched_cluster_lookup(const struct sched_cluster *cl, const char *s)
{
	return sched_smap_get(&cl->strmap, s);
}

const char *sched_cluster_str(const struct sched_cluster *cl, uint32_t id)
{
	return id < cl->nstrs ? cl->strs[id] : NULL;
}

/* ------------------------------------------------------------ validation */

static bool attr_chars_ok(const char *s, const char *extra)
{
	size_t n = strlen(s);

	if (n < 1 || n > SCHED_ATTR_MAX)
		return false;
	for (const char *p = s; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr(extra, c)))
			return false;
	}
	return true;
}

bool sched_attr_name_valid(const char *name)
{
	return name && attr_chars_ok(name, "-_/.\\");
}

bool sched_attr_value_valid(const char *value)
{
	size_t n;

	if (!value || !attr_chars_ok(value, "-_.@/\\: "))
		return false;
	n = strlen(value);
	return value[0] != ' ' && value[n - 1] != ' ';
}

/* ------------------------------------------------------------ ports */

static uint32_t ports_lower(const struct sched_ports *p, uint16_t port)
{
	uint32_t lo = 0, hi = p->n;

	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;

		if (p->v[mid] < port)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

bool sched_ports_has(const struct sched_ports *p, uint16_t port)
{
	uint32_t i = ports_lower(p, port);

	return i < p->n && p->v[i] == port;
}

static void ports_add(struct sched_ports *p, uint16_t port)
{
	uint32_t i = ports_lower(p, port);

	if (i < p->n && p->v[i] == port)
		return;
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 8;
		p->v = xreallocarray(p->v, p->cap, sizeof(*p->v));
	}
	memmove(p->v + i + 1, p->v + i, (p->n - i) * sizeof(*p->v));
	p->v[i] = port;
	p->n++;
}

static void ports_del(struct sched_ports *p, uint16_t port)
{
	uint32_t i = ports_lower(p, port);

	if (i >= p->n || p->v[i] != port)
		return;
	memmove(p->v + i, p->v + i + 1, (p->n - i - 1) * sizeof(*p->v));
	p->n--;
}

/* ------------------------------------------------------------ instances */

bool sched_placeable(const struct sched_instance *in)
{
	return in->status == SCHED_ACTIVE && in->agent_connected;
}

static uint32_t attr_pos(const struct sched_instance *in, uint32_t name)
{
	uint32_t lo = 0, hi = in->nattrs;

	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;

		if (in->attrs[mid].name < name)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

bool sched_instance_attr(const struct sched_instance *in, uint32_t name, uint32_t *value)
{
	uint32_t i;

	if (in->nattrs <= 8) {   /* the common case: a handful of attributes */
		for (i = 0; i < in->nattrs; i++)
			if (in->attrs[i].name == name) {
				*value = in->attrs[i].value;
				return true;
			}
		return false;
	}
	i = attr_pos(in, name);
	if (i < in->nattrs && in->attrs[i].name == name) {
		*value = in->attrs[i].value;
		return true;
	}
	return false;
}

uint64_t sched_view_value(const struct sched_instance *in, uint32_t attr)
{
	uint32_t v;

	if (!sched_instance_attr(in, attr, &v))
		return (1ull << 32) + 1;
	return v == SCHED_NONE ? (1ull << 32) : v;
}

uint32_t sched_instance_group_count(const struct sched_instance *in, uint32_t group)
{
	for (uint32_t i = 0; i < in->ngroups; i++)
		if (in->groups[i].group == group)
			return in->groups[i].count;
	return 0;
}

struct sched_cluster *sched_cluster_new(uint64_t seed)
{
	struct sched_cluster *cl = xzalloc(sizeof(*cl));

	cl->seed = seed;
	return cl;
}

void sched_cluster_free(struct sched_cluster *cl)
{
	if (!cl)
		return;
	sched_views_free(cl);
	for (uint32_t i = 0; i < cl->ninst; i++) {
		struct sched_instance *in = &cl->inst[i];

		free(in->id);
		free(in->ec2_id);
		free(in->agent_version);
		free(in->tcp.v);
		free(in->udp.v);
		free(in->attrs);
		free(in->groups);
	}
	free(cl->inst);
	for (uint32_t i = 0; i < cl->ntasks; i++) {
		free(cl->tasks[i].id);
		free(cl->tasks[i].ports);
	}
	free(cl->tasks);
	free(cl->free_tasks);
	for (uint32_t i = 0; i < cl->nstrs; i++)
		free(cl->strs[i]);
	free(cl->strs);
	sched_smap_free(&cl->strmap);
	sched_smap_free(&cl->instmap);
	sched_smap_free(&cl->taskmap);
	free(cl);
}

static void attr_set(struct sched_cluster *cl, struct sched_instance *in, const char *name,
                     const char *value)
{
	uint32_t nid = sched_intern(cl, name);
	uint32_t vid = value ? sched_intern(cl, value) : SCHED_NONE;
	uint32_t i = attr_pos(in, nid);

	if (i < in->nattrs && in->attrs[i].name == nid) {
		in->attrs[i].value = vid;
		return;
	}
	in->attrs = xreallocarray(in->attrs, in->nattrs + 1, sizeof(*in->attrs));
	memmove(in->attrs + i + 1, in->attrs + i, (in->nattrs - i) * sizeof(*in->attrs));
	in->attrs[i] = (struct sched_attr){ nid, vid };
	in->nattrs++;
}

int sched_cluster_add_instance(struct sched_cluster *cl, const struct sched_instance_spec *spec,
                               uint32_t *idx, struct berr **err)
{
	struct sched_instance *in;

	if (!spec->id || !spec->id[0])
		return berr_set(err, EINVAL, "container instance: empty id");
	if (sched_smap_get(&cl->instmap, spec->id) != SCHED_NONE)
		return berr_set(err, EEXIST, "container instance %s: already registered", berr_q(spec->id));
	if (spec->ec2_id && spec->ec2_id[0] && strcmp(spec->ec2_id, spec->id) != 0 &&
	    sched_smap_get(&cl->instmap, spec->ec2_id) != SCHED_NONE)
		return berr_set(err, EEXIST, "container instance %s: ec2InstanceId %s already registered",
		                berr_q(spec->id), berr_q(spec->ec2_id));
	if (spec->cpu < 0 || spec->memory < 0)
		return berr_set(err, EINVAL, "container instance %s: negative cpu or memory",
		                berr_q(spec->id));
	for (size_t i = 0; i < spec->nattrs; i++) {
		if (!sched_attr_name_valid(spec->attr_names[i]))
			return berr_set(err, EINVAL, "container instance %s: attribute name \"%s\" is not valid",
			                berr_q(spec->id), berr_q(spec->attr_names[i] ? spec->attr_names[i] : ""));
		if (spec->attr_values[i] && !sched_attr_value_valid(spec->attr_values[i]))
			return berr_set(err, EINVAL, "container instance %s: attribute %s: value \"%s\" is not valid",
			                berr_q(spec->id), spec->attr_names[i], berr_q(spec->attr_values[i]));
	}
	if (cl->ninst == cl->capinst) {
		cl->capinst = cl->capinst ? cl->capinst * 2 : 64;
		cl->inst = xreallocarray(cl->inst, cl->capinst, sizeof(*cl->inst));
	}
	in = &cl->inst[cl->ninst];
	*in = (struct sched_instance){
		.id = xstrdup(spec->id),
		.ec2_id = xstrdup(spec->ec2_id ? spec->ec2_id : ""),
		.agent_version = xstrdup(spec->agent_version ? spec->agent_version : ""),
		.registered_at = spec->registered_at,
		.cpu_registered = spec->cpu, .cpu_remaining = spec->cpu,
		.mem_registered = spec->memory, .mem_remaining = spec->memory,
		.status = spec->draining ? SCHED_DRAINING : SCHED_ACTIVE,
		.agent_connected = !spec->agent_disconnected,
		/* 32 bits of a keyed hash: ties broken in an order fixed by the seed */
		.rank = (uint32_t)(sched_mix64(cl->seed ^ sched_mix64(cl->ninst)) >> 32),
	};
	for (size_t i = 0; i < spec->nattrs; i++)
		attr_set(cl, in, spec->attr_names[i], spec->attr_values[i]);
	for (size_t i = 0; i < spec->nreserved_tcp; i++)
		ports_add(&in->tcp, spec->reserved_tcp[i]);
	for (size_t i = 0; i < spec->nreserved_udp; i++)
		ports_add(&in->udp, spec->reserved_udp[i]);
	sched_smap_put(&cl->instmap, in->id, cl->ninst);
	if (in->ec2_id[0] && strcmp(in->ec2_id, in->id) != 0)
		sched_smap_put(&cl->instmap, in->ec2_id, cl->ninst);
	if (idx)
		*idx = cl->ninst;
	cl->ninst++;
	sched_views_instance_added(cl, cl->ninst - 1);
	return 0;
}

int sched_cluster_put_attribute(struct sched_cluster *cl, uint32_t idx, const char *name,
                                const char *value, struct berr **err)
{
	if (idx >= cl->ninst)
		return berr_set(err, ENOENT, "put attribute: no container instance %u", idx);
	if (!sched_attr_name_valid(name))
		return berr_set(err, EINVAL, "attribute name \"%s\" is not valid", berr_q(name ? name : ""));
	if (value && !sched_attr_value_valid(value))
		return berr_set(err, EINVAL, "attribute %s: value \"%s\" is not valid", name, berr_q(value));
	attr_set(cl, &cl->inst[idx], name, value);
	sched_views_drop_attr(cl, sched_cluster_lookup(cl, name));
	sched_views_instance_changed(cl, idx, cl->inst[idx].cpu_remaining, cl->inst[idx].mem_remaining);
	return 0;
}

void sched_cluster_delete_attribute(struct sched_cluster *cl, uint32_t idx, const char *name)
{
	struct sched_instance *in;
	uint32_t nid = sched_cluster_lookup(cl, name), i;

	if (idx >= cl->ninst || nid == SCHED_NONE)
		return;
	in = &cl->inst[idx];
	i = attr_pos(in, nid);
	if (i >= in->nattrs || in->attrs[i].name != nid)
		return;
	memmove(in->attrs + i, in->attrs + i + 1, (in->nattrs - i - 1) * sizeof(*in->attrs));
	in->nattrs--;
	sched_views_drop_attr(cl, nid);
	sched_views_instance_changed(cl, idx, in->cpu_remaining, in->mem_remaining);
}

void sched_cluster_set_status(struct sched_cluster *cl, uint32_t idx, enum sched_status status)
{
	struct sched_instance *in;

	if (idx >= cl->ninst)
		return;
	in = &cl->inst[idx];
	in->status = status;
	sched_views_instance_changed(cl, idx, in->cpu_remaining, in->mem_remaining);
}

void sched_cluster_set_agent_connected(struct sched_cluster *cl, uint32_t idx, bool connected)
{
	struct sched_instance *in;

	if (idx >= cl->ninst)
		return;
	in = &cl->inst[idx];
	in->agent_connected = connected;
	sched_views_instance_changed(cl, idx, in->cpu_remaining, in->mem_remaining);
}

static void group_delta(struct sched_cluster *cl, uint32_t idx, uint32_t group, int delta)
{
	struct sched_instance *in = &cl->inst[idx];
	uint32_t i;

	if (group == SCHED_NONE)
		return;
	for (i = 0; i < in->ngroups && in->groups[i].group != group; i++)
		;
	if (i == in->ngroups) {
		if (delta < 0)
			return;
		if (in->ngroups == in->capgroups) {
			in->capgroups = in->capgroups ? in->capgroups * 2 : 2;
			in->groups = xreallocarray(in->groups, in->capgroups, sizeof(*in->groups));
		}
		in->groups[in->ngroups++] = (struct sched_group_count){ group, 0 };
	}
	in->groups[i].count += delta;
	if (in->groups[i].count == 0)
		in->groups[i] = in->groups[--in->ngroups];
	sched_views_group_delta(cl, idx, group, delta);
}

int sched_cluster_add_task(struct sched_cluster *cl, uint32_t idx, const struct sched_task_spec *t,
                           struct berr **err)
{
	struct sched_instance *in;
	struct sched_task *task;
	uint32_t slot;
	int32_t old_cpu, old_mem;

	if (idx >= cl->ninst)
		return berr_set(err, ENOENT, "task %s: no container instance %u", berr_q(t->id ? t->id : ""), idx);
	if (!t->id || !t->id[0])
		return berr_set(err, EINVAL, "task: empty id");
	if (sched_smap_get(&cl->taskmap, t->id) != SCHED_NONE)
		return berr_set(err, EEXIST, "task %s: already placed", berr_q(t->id));
	if (t->cpu < 0 || t->memory < 0 || t->ntcp > UINT16_MAX || t->nudp > UINT16_MAX)
		return berr_set(err, EINVAL, "task %s: negative cpu or memory", berr_q(t->id));
	if (cl->nfree) {
		slot = cl->free_tasks[--cl->nfree];
	} else {
		if (cl->ntasks == cl->captasks) {
			cl->captasks = cl->captasks ? cl->captasks * 2 : 256;
			cl->tasks = xreallocarray(cl->tasks, cl->captasks, sizeof(*cl->tasks));
		}
		slot = cl->ntasks++;
	}
	task = &cl->tasks[slot];
	*task = (struct sched_task){
		.id = xstrdup(t->id),
		.instance = idx,
		.group = t->group ? sched_intern(cl, t->group) : SCHED_NONE,
		.family_rev = t->family_rev ? sched_intern(cl, t->family_rev) : SCHED_NONE,
		.started_by = t->started_by ? sched_intern(cl, t->started_by) : SCHED_NONE,
		.cpu = t->cpu, .memory = t->memory,
		.ntcp = (uint16_t)t->ntcp, .nudp = (uint16_t)t->nudp,
		.live = true,
	};
	if (t->ntcp + t->nudp) {
		task->ports = xmalloc((t->ntcp + t->nudp) * sizeof(uint16_t));
		if (t->ntcp)
			memcpy(task->ports, t->tcp_ports, t->ntcp * sizeof(uint16_t));
		if (t->nudp)
			memcpy(task->ports + t->ntcp, t->udp_ports, t->nudp * sizeof(uint16_t));
	}
	sched_smap_put(&cl->taskmap, task->id, slot);
	cl->nlive++;

	in = &cl->inst[idx];
	old_cpu = in->cpu_remaining;
	old_mem = in->mem_remaining;
	in->cpu_remaining -= t->cpu;
	in->mem_remaining -= t->memory;
	in->running++;
	for (size_t i = 0; i < t->ntcp; i++)
		ports_add(&in->tcp, t->tcp_ports[i]);
	for (size_t i = 0; i < t->nudp; i++)
		ports_add(&in->udp, t->udp_ports[i]);
	sched_views_instance_changed(cl, idx, old_cpu, old_mem);
	group_delta(cl, idx, task->group, +1);
	return 0;
}

int sched_cluster_remove_task(struct sched_cluster *cl, const char *task_id, struct berr **err)
{
	uint32_t slot = sched_smap_get(&cl->taskmap, task_id);
	struct sched_task *task;
	struct sched_instance *in;
	int32_t old_cpu, old_mem;

	if (slot == SCHED_NONE)
		return berr_set(err, ENOENT, "task %s: not placed", berr_q(task_id));
	task = &cl->tasks[slot];
	in = &cl->inst[task->instance];
	old_cpu = in->cpu_remaining;
	old_mem = in->mem_remaining;
	in->cpu_remaining += task->cpu;
	in->mem_remaining += task->memory;
	in->running--;
	for (uint32_t i = 0; i < task->ntcp; i++)
		ports_del(&in->tcp, task->ports[i]);
	for (uint32_t i = 0; i < task->nudp; i++)
		ports_del(&in->udp, task->ports[task->ntcp + i]);
	sched_views_instance_changed(cl, task->instance, old_cpu, old_mem);
	group_delta(cl, task->instance, task->group, -1);

	sched_smap_del(&cl->taskmap, task->id);
	free(task->id);
	free(task->ports);
	*task = (struct sched_task){ .live = false };
	if (cl->nfree == cl->capfree) {
		cl->capfree = cl->capfree ? cl->capfree * 2 : 64;
		cl->free_tasks = xreallocarray(cl->free_tasks, cl->capfree, sizeof(*cl->free_tasks));
	}
	cl->free_tasks[cl->nfree++] = slot;
	cl->nlive--;
	return 0;
}

uint32_t sched_cluster_ninstances(const struct sched_cluster *cl)
{
	return cl->ninst;
}

uint32_t sched_cluster_ntasks(const struct sched_cluster *cl)
{
	return cl->nlive;
}

const struct sched_instance *sched_cluster_instance(const struct sched_cluster *cl, uint32_t idx)
{
	return idx < cl->ninst ? &cl->inst[idx] : NULL;
}

uint32_t sched_cluster_find_instance(const struct sched_cluster *cl, const char *id)
{
	return sched_smap_get(&cl->instmap, id);
}

const struct sched_task *sched_cluster_find_task(const struct sched_cluster *cl, const char *task_id)
{
	uint32_t slot = sched_smap_get(&cl->taskmap, task_id);

	return slot == SCHED_NONE ? NULL : &cl->tasks[slot];
}
