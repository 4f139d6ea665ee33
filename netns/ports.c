/* netns/ports.c - static and dynamic host ports, one reservation file each
 * (ports.h; file store in resv.c). */
#include "netns/ports.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/xalloc.h"
#include "netns/resv.h"

_Static_assert(sizeof(((struct netns_ports_entry *)0)->owner) == RESV_OWNER_MAX + 1,
	       "owner buffer size");

#define EPHEMERAL_PATH "/proc/sys/net/ipv4/ip_local_port_range"

struct netns_ports {
	struct resv store;
	struct netns_port_range dyn;
};

/* ------------------------------------------------------------- protocols */

struct proto_info {
	enum netns_proto proto;
	const char *name;        /* "tcp" */
	const char *last_file;   /* "last-tcp" */
};

static const struct proto_info protos[] = {
	{ NETNS_TCP, "tcp", "last-tcp" },
	{ NETNS_UDP, "udp", "last-udp" },
};

static const struct proto_info *proto_info(enum netns_proto proto)
{
	for (size_t i = 0; i < sizeof(protos) / sizeof(protos[0]); i++) {
		if (protos[i].proto == proto)
			return &protos[i];
	}
	return NULL;
}

const char *netns_proto_str(enum netns_proto proto)
{
	const struct proto_info *pi = proto_info(proto);

	return pi ? pi->name : "?";
}

bool netns_port_reserved(uint16_t port)
{
	static const uint16_t reserved[] = { 22, 2375, 2376, 51678, 51679 };

	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
		if (reserved[i] == port)
			return true;
	}
	return false;
}

/* ------------------------------------------------------------- numbers */

/* A port number at *pp: decimal, no sign, no leading zero, 1..65535. */
static bool parse_port_at(const char **pp, unsigned *out)
{
	const char *p = *pp;
	unsigned v = 0;
	int digits = 0;

	if (*p == '0')
		return false;
	while (*p >= '0' && *p <= '9') {
		v = v * 10 + (unsigned)(*p - '0');
		if (++digits > 5 || v > 65535)
			return false;
		p++;
	}
	if (digits == 0)
		return false;
	*pp = p;
	*out = v;
	return true;
}

int netns_ports_parse_range(const char *text, struct netns_port_range *out, struct berr **err)
{
	const char *p = text ? text : "";
	unsigned lo, hi;

	if (!parse_port_at(&p, &lo) || (*p != ' ' && *p != '\t'))
		goto bad;
	while (*p == ' ' || *p == '\t')
		p++;
	if (!parse_port_at(&p, &hi))
		goto bad;
	while (*p == ' ' || *p == '\t' || *p == '\n')
		p++;
	if (*p != '\0' || lo > hi)
		goto bad;
	out->lo = (uint16_t)lo;
	out->hi = (uint16_t)hi;
	return 0;
bad:
	return berr_set(err, EINVAL, "port range \"%s\": want \"low high\" with 1 <= low <= high <= 65535",
			berr_q(text ? text : ""));
}

int netns_ports_ephemeral_range(const char *path, struct netns_port_range *out)
{
	cleanup_free char *text = NULL;

	/* the file is a few bytes; anything longer is not the kernel's */
	if (fs_read_file(path ? path : EPHEMERAL_PATH, &text, NULL, 64, NULL) == 0 &&
	    netns_ports_parse_range(text, out, NULL) == 0)
		return 0;
	out->lo = NETNS_PORTS_FALLBACK_LO;
	out->hi = NETNS_PORTS_FALLBACK_HI;
	return 1;
}

/* ------------------------------------------------------------- file names */

static void format_port(uint32_t key, char *buf, const void *ctx)
{
	const struct proto_info *pi = ctx;

	snprintf(buf, RESV_NAME_MAX, "%s-%u", pi->name, (unsigned)key);
}

/* "tcp-8080" -> proto, port (canonical names only) */
static bool parse_port_name(const char *name, const struct proto_info **proto, unsigned *port)
{
	for (size_t i = 0; i < sizeof(protos) / sizeof(protos[0]); i++) {
		size_t len = strlen(protos[i].name);
		const char *p = name + len + 1;

		if (strncmp(name, protos[i].name, len) != 0 || name[len] != '-')
			continue;
		if (!parse_port_at(&p, port) || *p != '\0')
			return false;
		*proto = &protos[i];
		return true;
	}
	return false;
}

static bool parse_port_key(const char *name, uint32_t *key, const void *ctx)
{
	const struct proto_info *pi;
	unsigned port;

	if (!parse_port_name(name, &pi, &port) || pi != ctx)
		return false;
	*key = port;
	return true;
}

static bool match_port(const char *name, const void *ctx)
{
	const struct proto_info *pi;
	unsigned port;

	(void)ctx;
	return parse_port_name(name, &pi, &port);
}

static bool skip_reserved(uint32_t key, const void *ctx)
{
	(void)ctx;
	return netns_port_reserved((uint16_t)key);
}

/* ------------------------------------------------------------- open */

int netns_ports_open(const char *dir, const struct netns_port_range *dynamic,
		     struct netns_ports **out, struct berr **err)
{
	cleanup_free struct netns_ports *p = xzalloc(sizeof(*p));
	int rc;

	if (dynamic->lo == 0 || dynamic->lo > dynamic->hi)
		return berr_set(err, EINVAL, "host ports: dynamic range %u-%u: want 1 <= low <= high",
				dynamic->lo, dynamic->hi);
	p->dyn = *dynamic;
	rc = netns_resv_open(dir, &p->store, err);
	if (rc < 0)
		return berr_wrap(err, "host ports");
	*out = steal_pointer(&p);
	return 0;
}

void netns_ports_close(struct netns_ports *p)
{
	if (!p)
		return;
	netns_resv_close(&p->store);
	free(p);
}

/* ------------------------------------------------------------- bind */

static int check_maps(const struct netns_portmap *maps, size_t n, struct berr **err)
{
	for (size_t i = 0; i < n; i++) {
		const struct netns_portmap *m = &maps[i];

		if (!proto_info(m->proto))
			return berr_set(err, EINVAL, "portMappings[%zu]: unknown protocol %d", i,
					(int)m->proto);
		if (m->container_port == 0)
			return berr_set(err, EINVAL, "portMappings[%zu]: containerPort 0 is not a port", i);
		if (m->host_port == 0)
			continue;
		if (netns_port_reserved(m->host_port))
			return berr_set(err, EACCES,
					"portMappings[%zu]: host port %u/%s is reserved by ECS "
					"(22, 2375, 2376, 51678, 51679 are never host ports)",
					i, m->host_port, netns_proto_str(m->proto));
		for (size_t j = 0; j < i; j++) {
			if (maps[j].host_port == m->host_port && maps[j].proto == m->proto)
				return berr_set(err, EINVAL,
						"portMappings[%zu]: host port %u/%s is also the host port of "
						"portMappings[%zu]",
						i, m->host_port, netns_proto_str(m->proto), j);
		}
	}
	return 0;
}

static int bind_static(struct netns_ports *p, const char *owner, size_t i,
		       const struct netns_portmap *m, char *name, struct berr **err)
{
	const struct proto_info *pi = proto_info(m->proto);
	char holder[RESV_OWNER_MAX + 1];
	int rc;

	format_port(m->host_port, name, pi);
	rc = netns_resv_create(&p->store, name, owner, err);
	if (rc != -EEXIST)
		return rc < 0 ? berr_wrap(err, "portMappings[%zu]: reserve host port %u/%s", i,
					  m->host_port, pi->name) : 0;
	rc = netns_resv_holder(&p->store, name, holder, err);
	if (rc < 0)
		return berr_wrap(err, "portMappings[%zu]: reserve host port %u/%s", i, m->host_port,
				 pi->name);
	if (strcmp(holder, RESV_OWNER_UNKNOWN) == 0)
		return berr_set(err, EADDRINUSE,
				"portMappings[%zu]: host port %u/%s is in use (its reservation file %s/%s "
				"has no readable owner)",
				i, m->host_port, pi->name, p->store.dir, name);
	return berr_set(err, EADDRINUSE, "portMappings[%zu]: host port %u/%s is in use by task %s", i,
			m->host_port, pi->name, holder);
}

static int bind_dynamic(struct netns_ports *p, const char *owner, size_t i,
			const struct netns_portmap *m, uint16_t *port, char *name,
			struct berr **err)
{
	const struct proto_info *pi = proto_info(m->proto);
	struct resv_space ks = {
		.lo = p->dyn.lo,
		.hi = p->dyn.hi,
		.format = format_port,
		.parse = parse_port_key,
		.skip = skip_reserved,
		.last_file = pi->last_file,
		.ctx = pi,
	};
	uint32_t key;
	int rc = netns_resv_alloc_next(&p->store, &ks, owner, &key, err);

	if (rc == -ENOSPC)
		return berr_set(err, ENOSPC,
				"portMappings[%zu]: no free host port for container port %u/%s: every port "
				"of the dynamic range %u-%u is in use or reserved",
				i, m->container_port, pi->name, p->dyn.lo, p->dyn.hi);
	if (rc < 0)
		return berr_wrap(err, "portMappings[%zu]: assign a host port", i);
	*port = (uint16_t)key;
	format_port(key, name, pi);
	return 0;
}

int netns_ports_bind(struct netns_ports *p, const char *owner, const struct netns_portmap *maps,
		     size_t n, struct netns_binding *out, struct berr **err)
{
	cleanup_free char (*names)[RESV_NAME_MAX] = NULL;
	cleanup_free uint16_t *host = NULL;
	cleanup_close int lock = -1;
	size_t ncreated = 0;
	int rc;

	rc = netns_resv_check_owner(owner, err);
	if (rc < 0)
		return berr_wrap(err, "host ports");
	rc = check_maps(maps, n, err);
	if (rc < 0 || n == 0)
		return rc;
	names = xcalloc(n, sizeof(*names));
	host = xcalloc(n, sizeof(*host));
	lock = netns_resv_lock(&p->store, err);
	if (lock < 0)
		return berr_wrap(err, "host ports");

	/* statics first: a dynamic pick must not take a port asked for later */
	for (size_t i = 0; i < n; i++) {
		if (maps[i].host_port == 0)
			continue;
		rc = bind_static(p, owner, i, &maps[i], names[ncreated], err);
		if (rc < 0)
			goto rollback;
		ncreated++;
		host[i] = maps[i].host_port;
	}
	for (size_t i = 0; i < n; i++) {
		if (maps[i].host_port != 0)
			continue;
		rc = bind_dynamic(p, owner, i, &maps[i], &host[i], names[ncreated], err);
		if (rc < 0)
			goto rollback;
		ncreated++;
	}

	for (size_t i = 0; i < n; i++) {
		out[i].container_port = maps[i].container_port;
		out[i].host_port = host[i];
		out[i].proto = maps[i].proto;
	}
	return 0;

rollback:
	for (size_t i = 0; i < ncreated; i++)
		netns_resv_remove(&p->store, names[i], NULL);
	return rc;
}

int netns_ports_release_owner(struct netns_ports *p, const char *owner, struct berr **err)
{
	cleanup_close int lock = -1;
	int rc;

	rc = netns_resv_check_owner(owner, err);
	if (rc < 0)
		return berr_wrap(err, "host ports: release");
	lock = netns_resv_lock(&p->store, err);
	if (lock < 0)
		return berr_wrap(err, "host ports");
	rc = netns_resv_release_owner(&p->store, owner, match_port, NULL, err);
	if (rc < 0)
		return berr_wrap(err, "host ports: release the ports of task %s", owner);
	return rc;
}

/* ------------------------------------------------------------- list */

struct entry_list {
	const struct resv *store;
	struct netns_ports_entry *v;
	size_t n, cap;
	struct berr **err;
};

static int collect_entry(const char *name, void *data)
{
	struct entry_list *l = data;
	const struct proto_info *pi;
	unsigned port;
	int rc;

	if (!parse_port_name(name, &pi, &port))
		return 0;
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		l->v = xreallocarray(l->v, l->cap, sizeof(*l->v));
	}
	rc = netns_resv_holder(l->store, name, l->v[l->n].owner, l->err);
	if (rc <= 0)
		return rc;   /* 0: removed by hand since readdir */
	l->v[l->n].host_port = (uint16_t)port;
	l->v[l->n].proto = pi->proto;
	l->n++;
	return 0;
}

static int cmp_entry(const void *a, const void *b)
{
	const struct netns_ports_entry *x = a, *y = b;

	if (x->proto != y->proto)
		return x->proto < y->proto ? -1 : 1;
	return x->host_port < y->host_port ? -1 : x->host_port > y->host_port;
}

int netns_ports_list(struct netns_ports *p, struct netns_ports_entry **out, size_t *n,
		     struct berr **err)
{
	struct entry_list l = { .store = &p->store, .err = err };
	cleanup_close int lock = -1;
	int rc;

	lock = netns_resv_lock(&p->store, err);
	if (lock < 0)
		return berr_wrap(err, "host ports");
	rc = netns_resv_each(&p->store, collect_entry, &l, err);
	if (rc < 0) {
		free(l.v);
		return berr_wrap(err, "host ports: list");
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
