/* netns/ipam.c - task addresses from a pool, one reservation file each
 * (storage in ipam.h, file store in resv.c). */
#include "netns/ipam.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/xalloc.h"
#include "netns/resv.h"

_Static_assert(sizeof(((struct netns_ipam_entry *)0)->owner) == RESV_OWNER_MAX + 1,
	       "owner buffer size");

#define LAST_FILE "last"

struct netns_ipam {
	struct resv store;
	struct netns_cidr pool;
	char pool_str[NETNS_CIDR_STRLEN];
};

/* File names are canonical dotted quads: parsing is strict (no leading
 * zeros), so one address has exactly one name. */
static bool parse_addr(const char *name, uint32_t *key, const void *ctx)
{
	(void)ctx;
	return netns_ip_parse(name, "address file", key, NULL) == 0;
}

static bool match_addr(const char *name, const void *ctx)
{
	uint32_t k;

	return parse_addr(name, &k, ctx);
}

static void format_addr(uint32_t key, char *buf, const void *ctx)
{
	(void)ctx;
	netns_ip_str(key, buf);
}

int netns_ipam_open(const char *dir, const struct netns_cidr *pool, struct netns_ipam **out,
		    struct berr **err)
{
	cleanup_free struct netns_ipam *ipam = xzalloc(sizeof(*ipam));
	int rc;

	netns_cidr_str(pool, ipam->pool_str);
	if (pool->prefix < 8 || pool->prefix > 30)
		return berr_set(err, EINVAL, "IPAM pool %s: prefix length must be 8 to 30",
				ipam->pool_str);
	if (pool->net & ~netns_cidr_mask(pool->prefix))
		return berr_set(err, EINVAL, "IPAM pool %s: host bits are set", ipam->pool_str);
	ipam->pool = *pool;
	rc = netns_resv_open(dir, &ipam->store, err);
	if (rc < 0)
		return berr_wrap(err, "IPAM pool %s", ipam->pool_str);
	*out = steal_pointer(&ipam);
	return 0;
}

void netns_ipam_close(struct netns_ipam *ipam)
{
	if (!ipam)
		return;
	netns_resv_close(&ipam->store);
	free(ipam);
}

uint32_t netns_ipam_gateway(const struct netns_ipam *ipam)
{
	return ipam->pool.net + 1;
}

int netns_ipam_alloc(struct netns_ipam *ipam, const char *owner, uint32_t *out, struct berr **err)
{
	struct resv_space ks = {
		.lo = ipam->pool.net + 2,
		.hi = netns_cidr_broadcast(&ipam->pool) - 1,
		.format = format_addr,
		.parse = parse_addr,
		.last_file = LAST_FILE,
	};
	cleanup_close int lock = -1;
	uint32_t addr;
	int rc;

	rc = netns_resv_check_owner(owner, err);
	if (rc < 0)
		return berr_wrap(err, "IPAM pool %s: allocate", ipam->pool_str);
	lock = netns_resv_lock(&ipam->store, err);
	if (lock < 0)
		return berr_wrap(err, "IPAM pool %s", ipam->pool_str);
	rc = netns_resv_alloc_next(&ipam->store, &ks, owner, &addr, err);
	if (rc == -ENOSPC)
		return berr_set(err, ENOSPC,
				"IPAM pool %s: all %u addresses are in use; stop tasks or configure a "
				"larger network.subnet",
				ipam->pool_str, ks.hi - ks.lo + 1);
	if (rc < 0)
		return berr_wrap(err, "IPAM pool %s: allocate an address for task %s", ipam->pool_str,
				 owner);
	*out = addr;
	return 0;
}

int netns_ipam_release(struct netns_ipam *ipam, uint32_t addr, const char *owner,
		       struct berr **err)
{
	cleanup_close int lock = -1;
	char name[NETNS_IP_STRLEN];
	int rc;

	rc = netns_resv_check_owner(owner, err);
	if (rc < 0)
		return berr_wrap(err, "IPAM pool %s: release", ipam->pool_str);
	lock = netns_resv_lock(&ipam->store, err);
	if (lock < 0)
		return berr_wrap(err, "IPAM pool %s", ipam->pool_str);
	netns_ip_str(addr, name);
	rc = netns_resv_release(&ipam->store, name, owner, name, err);
	if (rc < 0)
		return berr_wrap(err, "IPAM pool %s", ipam->pool_str);
	return 0;
}

int netns_ipam_release_owner(struct netns_ipam *ipam, const char *owner, struct berr **err)
{
	cleanup_close int lock = -1;
	int rc;

	rc = netns_resv_check_owner(owner, err);
	if (rc < 0)
		return berr_wrap(err, "IPAM pool %s: release", ipam->pool_str);
	lock = netns_resv_lock(&ipam->store, err);
	if (lock < 0)
		return berr_wrap(err, "IPAM pool %s", ipam->pool_str);
	rc = netns_resv_release_owner(&ipam->store, owner, match_addr, NULL, err);
	if (rc < 0)
		return berr_wrap(err, "IPAM pool %s: release the addresses of task %s", ipam->pool_str,
				 owner);
	return rc;
}

struct entry_list {
	const struct resv *store;
	struct netns_ipam_entry *v;
	size_t n, cap;
	struct berr **err;
};

static int collect_entry(const char *name, void *data)
{
	struct entry_list *l = data;
	uint32_t addr;
	int rc;

	if (!parse_addr(name, &addr, NULL))
		return 0;
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		l->v = xreallocarray(l->v, l->cap, sizeof(*l->v));
	}
	rc = netns_resv_holder(l->store, name, l->v[l->n].owner, l->err);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return 0;   /* gone between readdir and open: only a hand-made change can do that */
	l->v[l->n++].addr = addr;
	return 0;
}

static int cmp_entry(const void *a, const void *b)
{
	uint32_t x = ((const struct netns_ipam_entry *)a)->addr;
	uint32_t y = ((const struct netns_ipam_entry *)b)->addr;

	return x < y ? -1 : x > y;
}

int netns_ipam_list(struct netns_ipam *ipam, struct netns_ipam_entry **out, size_t *n,
		    struct berr **err)
{
	struct entry_list l = { .store = &ipam->store, .err = err };
	cleanup_close int lock = -1;
	int rc;

	lock = netns_resv_lock(&ipam->store, err);
	if (lock < 0)
		return berr_wrap(err, "IPAM pool %s", ipam->pool_str);
	rc = netns_resv_each(&ipam->store, collect_entry, &l, err);
	if (rc < 0) {
		free(l.v);
		return berr_wrap(err, "IPAM pool %s: list", ipam->pool_str);
	}
	if (l.n == 0) {
		free(l.v);
		l.v = NULL;
	} else {
		qsort(l.v, l.n, sizeof(*l.v), cmp_entry);
	}
	*out = l.v;
	*n = l.n;
	return 0;
}
