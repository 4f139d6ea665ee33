/* scheduler/index.c - the placement indexes ("views", sched-internal.h).
 *
 * Each bucket is a sorted array of (key, rank, instance). A placement moves
 * one entry: binpack takes the instance with the least remaining that fits,
 * whose new key is smaller still, so the memmove is short; the sorted array
 * beats a tree here on both speed and simplicity. */
#include "scheduler/sched-internal.h"
#include "scheduler/cql.h"

#include "common/xalloc.h"

#include <stdlib.h>
#include <string.h>

static int32_t key_of(const struct sched_instance *in, enum sched_key key)
{
	switch (key) {
	case SCHED_KEY_CPU:
		return in->cpu_remaining;
	case SCHED_KEY_MEM:
		return in->mem_remaining;
	case SCHED_KEY_RANK:
		break;
	}
	return 0;
}

static bool entry_less(const struct sched_entry *a, int32_t key, uint32_t rank)
{
	return a->key < key || (a->key == key && a->rank < rank);
}

static uint32_t bucket_lower(const struct sched_bucket *b, int32_t key, uint32_t rank)
{
	uint32_t lo = 0, hi = b->n;

	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;

		if (entry_less(&b->v[mid], key, rank))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void bucket_insert(struct sched_bucket *b, int32_t key, uint32_t rank, uint32_t idx)
{
	uint32_t i = bucket_lower(b, key, rank);

	/* equal (key, rank) pairs are ordered by index so removal finds its own */
	while (i < b->n && b->v[i].key == key && b->v[i].rank == rank && b->v[i].idx < idx)
		i++;
	if (b->n == b->cap) {
		b->cap = b->cap ? b->cap * 2 : 16;
		b->v = xreallocarray(b->v, b->cap, sizeof(*b->v));
	}
	memmove(b->v + i + 1, b->v + i, (b->n - i) * sizeof(*b->v));
	b->v[i] = (struct sched_entry){ key, rank, idx };
	b->n++;
}

static void bucket_remove(struct sched_bucket *b, int32_t key, uint32_t rank, uint32_t idx)
{
	uint32_t i = bucket_lower(b, key, rank);

	while (i < b->n && b->v[i].idx != idx)
		i++;
	if (i == b->n)
		abort();   /* the view lost track of an instance: a bug, never data */
	memmove(b->v + i, b->v + i + 1, (b->n - i - 1) * sizeof(*b->v));
	b->n--;
}

/* Move an entry from old key to new key; when both sit at the same place the
 * entries in between shift by one (a short memmove for binpack). */
static void bucket_move(struct sched_bucket *b, int32_t old, int32_t key, uint32_t rank, uint32_t idx)
{
	if (old == key)
		return;
	bucket_remove(b, old, rank, idx);
	bucket_insert(b, key, rank, idx);
}

static uint32_t view_bucket(struct sched_view *v, uint64_t value)
{
	uint32_t b = sched_umap_get(&v->bucket_map, value);

	if (b != SCHED_NONE)
		return b;
	if (v->nbuckets == v->capbuckets) {
		v->capbuckets = v->capbuckets ? v->capbuckets * 2 : 8;
		v->buckets = xreallocarray(v->buckets, v->capbuckets, sizeof(*v->buckets));
	}
	b = v->nbuckets++;
	v->buckets[b] = (struct sched_bucket){ .value = value };
	sched_umap_put(&v->bucket_map, value, b);
	for (uint32_t g = 0; g < v->ngc; g++) {
		if (v->gc[g].cap < v->nbuckets) {
			v->gc[g].cap = v->capbuckets;
			v->gc[g].counts = xreallocarray(v->gc[g].counts, v->gc[g].cap, sizeof(uint32_t));
		}
		v->gc[g].counts[b] = 0;
	}
	return b;
}

/* should the instance be in its bucket's array? */
static bool view_wants(struct sched_cluster *cl, struct sched_view *v, uint32_t idx)
{
	if (!sched_placeable(&cl->inst[idx]))
		return false;
	for (uint32_t i = 0; i < v->nfq; i++)
		if (!sched_cql_eval(v->fq[i], cl, idx))
			return false;
	return true;
}

static void view_add(struct sched_cluster *cl, struct sched_view *v, uint32_t idx)
{
	const struct sched_instance *in = &cl->inst[idx];
	uint64_t value = v->attr == SCHED_NONE ? 0 : sched_view_value(in, v->attr);
	uint32_t b = view_bucket(v, value);

	if (idx >= v->cap_inst) {
		v->cap_inst = v->cap_inst ? v->cap_inst * 2 : 64;
		while (v->cap_inst <= idx)
			v->cap_inst *= 2;
		v->bucket_of = xreallocarray(v->bucket_of, v->cap_inst, sizeof(*v->bucket_of));
		v->present = xreallocarray(v->present, v->cap_inst, sizeof(*v->present));
	}
	v->bucket_of[idx] = b;
	v->present[idx] = view_wants(cl, v, idx);
	if (v->present[idx])
		bucket_insert(&v->buckets[b], key_of(in, v->key), in->rank, idx);
	for (uint32_t g = 0; g < v->ngc; g++)
		v->gc[g].counts[b] += sched_instance_group_count(in, v->gc[g].group);
}

static void view_free(struct sched_view *v)
{
	for (uint32_t b = 0; b < v->nbuckets; b++)
		free(v->buckets[b].v);
	free(v->buckets);
	for (uint32_t g = 0; g < v->ngc; g++)
		free(v->gc[g].counts);
	free(v->gc);
	free(v->bucket_of);
	free(v->present);
	for (uint32_t i = 0; i < v->nfq; i++)
		sched_cql_free(v->fq[i]);
	free(v->fq);
	free(v->filter);
	sched_umap_free(&v->bucket_map);
	free(v);
}

static bool same_filter(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

struct sched_view *sched_view_get(struct sched_cluster *cl, uint32_t attr, enum sched_key key,
                                  const char *filter)
{
	struct sched_view *v;

	for (uint32_t i = 0; i < cl->nviews; i++)
		if (cl->views[i]->attr == attr && cl->views[i]->key == key &&
		    same_filter(cl->views[i]->filter, filter)) {
			/* most recently used last: eviction takes the first, so the
			 * few views one placement uses stay */
			v = cl->views[i];
			memmove(cl->views + i, cl->views + i + 1, (cl->nviews - i - 1) * sizeof(cl->views[0]));
			cl->views[cl->nviews - 1] = v;
			return v;
		}
	v = xzalloc(sizeof(*v));
	v->attr = attr;
	v->key = key;
	if (filter) {
		char *copy = xstrdup(filter), *save = NULL;

		v->filter = xstrdup(filter);
		for (char *e = strtok_r(copy, "\n", &save); e; e = strtok_r(NULL, "\n", &save)) {
			struct sched_cql *q;

			if (sched_cql_compile(e, &q, NULL) < 0) {
				free(copy);
				view_free(v);
				return NULL;
			}
			v->fq = xreallocarray(v->fq, v->nfq + 1, sizeof(*v->fq));
			v->fq[v->nfq++] = q;
		}
		free(copy);
	}
	if (cl->nviews == SCHED_MAX_VIEWS) {   /* evict the least recently used */
		view_free(cl->views[0]);
		memmove(cl->views, cl->views + 1, (SCHED_MAX_VIEWS - 1) * sizeof(cl->views[0]));
		cl->nviews--;
	}
	for (uint32_t i = 0; i < cl->ninst; i++)
		view_add(cl, v, i);
	cl->views[cl->nviews++] = v;
	return v;
}

const uint32_t *sched_view_counts(struct sched_cluster *cl, struct sched_view *v, uint32_t group)
{
	struct sched_gcounts *gc;

	for (uint32_t g = 0; g < v->ngc; g++)
		if (v->gc[g].group == group)
			return v->gc[g].counts;
	v->gc = xreallocarray(v->gc, v->ngc + 1, sizeof(*v->gc));
	gc = &v->gc[v->ngc++];
	gc->group = group;
	gc->cap = v->capbuckets ? v->capbuckets : 1;
	gc->counts = xcalloc(gc->cap, sizeof(uint32_t));
	if (group != SCHED_NONE)
		for (uint32_t i = 0; i < cl->ninst; i++)
			gc->counts[v->bucket_of[i]] += sched_instance_group_count(&cl->inst[i], group);
	return gc->counts;
}

void sched_views_instance_added(struct sched_cluster *cl, uint32_t idx)
{
	for (uint32_t i = 0; i < cl->nviews; i++)
		view_add(cl, cl->views[i], idx);
}

void sched_views_instance_changed(struct sched_cluster *cl, uint32_t idx, int32_t old_cpu,
                                  int32_t old_mem)
{
	const struct sched_instance *in = &cl->inst[idx];

	for (uint32_t i = 0; i < cl->nviews; i++) {
		struct sched_view *v = cl->views[i];
		struct sched_bucket *b = &v->buckets[v->bucket_of[idx]];
		int32_t old = v->key == SCHED_KEY_CPU ? old_cpu : v->key == SCHED_KEY_MEM ? old_mem : 0;
		bool was = v->present[idx], now = view_wants(cl, v, idx);

		if (was && now)
			bucket_move(b, old, key_of(in, v->key), in->rank, idx);
		else if (was)
			bucket_remove(b, old, in->rank, idx);
		else if (now)
			bucket_insert(b, key_of(in, v->key), in->rank, idx);
		v->present[idx] = now;
	}
}

void sched_views_group_delta(struct sched_cluster *cl, uint32_t idx, uint32_t group, int delta)
{
	for (uint32_t i = 0; i < cl->nviews; i++) {
		struct sched_view *v = cl->views[i];

		for (uint32_t g = 0; g < v->ngc; g++)
			if (v->gc[g].group == group)
				v->gc[g].counts[v->bucket_of[idx]] += delta;
	}
}

void sched_views_drop_attr(struct sched_cluster *cl, uint32_t attr)
{
	uint32_t j = 0;

	if (attr == SCHED_NONE)
		return;
	for (uint32_t i = 0; i < cl->nviews; i++) {
		if (cl->views[i]->attr == attr)
			view_free(cl->views[i]);
		else
			cl->views[j++] = cl->views[i];
	}
	cl->nviews = j;
}

void sched_views_free(struct sched_cluster *cl)
{
	for (uint32_t i = 0; i < cl->nviews; i++)
		view_free(cl->views[i]);
	cl->nviews = 0;
}
