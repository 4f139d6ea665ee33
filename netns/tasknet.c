/* netns/tasknet.c - a task's network: configuration, set-up and teardown. */
#include "netns/tasknet.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/json.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "netns/ipam.h"
#include "netns/nft.h"
#include "netns/nl.h"
#include "netns/ns.h"

/* ------------------------------------------------------------ config */

void netns_config_init(struct netns_config *c, const char *state_dir)
{
	memset(c, 0, sizeof(*c));
	c->bridge = xstrdup(NETNS_DEFAULT_BRIDGE);
	(void)netns_cidr_parse(NETNS_DEFAULT_SUBNET, "subnet", &c->subnet, NULL);
	c->mtu = NETNS_DEFAULT_MTU;
	c->table = xstrdup(NETNS_DEFAULT_TABLE);
	c->state_dir = state_dir ? xstrdup(state_dir) : NULL;
	(void)netns_ports_ephemeral_range(NULL, &c->ports);
}

void netns_config_free(struct netns_config *c)
{
	free(c->bridge);
	free(c->table);
	free(c->state_dir);
	netns_sg_config_free(&c->groups);
	memset(c, 0, sizeof(*c));
}

static bool ifname_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 15)
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      *p == '-' || *p == '_' || *p == '.'))
			return false;
	return true;
}

/* The built-in group of bridge-mode tasks: everything in. Kept in name
 * order with the others (sg.h promises sorted groups). */
static void add_bridge_group(struct netns_sg_config *g)
{
	struct netns_sg sg = { 0 };
	size_t at = 0;

	sg.name = xstrdup(NETNS_BRIDGE_GROUP);
	sg.rules = xcalloc(1, sizeof(*sg.rules));
	sg.n_rules = 1;
	sg.rules[0].proto = NETNS_SG_ALL;
	sg.rules[0].has_cidr = true;      /* 0.0.0.0/0 */
	while (at < g->n_groups && strcmp(g->groups[at].name, sg.name) < 0)
		at++;
	g->groups = xreallocarray(g->groups, g->n_groups + 1, sizeof(*g->groups));
	memmove(g->groups + at + 1, g->groups + at, (g->n_groups - at) * sizeof(*g->groups));
	g->groups[at] = sg;
	g->n_groups++;
}

static const char *const config_keys[] = {
	"bridge", "subnet", "mtu", "nftTable", "stateDir", "hostPortRange", "securityGroups", NULL,
};

int netns_config_parse(const json_t *obj, const char *path, struct netns_config *c,
		       struct berr **err)
{
	const char *s = NULL;
	const char *key;
	json_t *v, *groups = NULL;
	int64_t mtu;
	int r;

	if (obj) {
		if ((r = bjson_expect_object(obj, path, err)) < 0)
			return r;
		json_object_foreach((json_t *)obj, key, v) {
			bool known = false;

			for (size_t i = 0; config_keys[i]; i++)
				known |= !strcmp(config_keys[i], key);
			if (!known)
				return berr_set(err, EINVAL, "%s.%s: unknown key (known: bridge, subnet, mtu, "
						"nftTable, stateDir, hostPortRange, securityGroups)",
						path, berr_q(key));
		}
		s = NULL;
		if ((r = bjson_get_string(obj, path, "bridge", false, &s, err)) < 0)
			return r;
		if (s) {
			if (!ifname_ok(s))
				return berr_set(err, EINVAL, "%s.bridge: \"%s\" is not a usable interface name "
						"(1 to 15 of A-Z a-z 0-9 . _ -)", path, berr_q(s));
			free(c->bridge);
			c->bridge = xstrdup(s);
		}
		s = NULL;
		if ((r = bjson_get_string(obj, path, "subnet", false, &s, err)) < 0)
			return r;
		if (s) {
			cleanup_free char *what = bjson_path_key(path, "subnet");

			if ((r = netns_cidr_parse(s, what, &c->subnet, err)) < 0)
				return r;
			if (c->subnet.prefix < 8 || c->subnet.prefix > 28)
				return berr_set(err, EINVAL, "%s: /%u: want a prefix length from 8 to 28",
						what, c->subnet.prefix);
		}
		mtu = c->mtu;
		if ((r = bjson_get_int_range(obj, path, "mtu", false, 576, 65535, &mtu, err)) < 0)
			return r;
		c->mtu = (unsigned)mtu;
		s = NULL;
		if ((r = bjson_get_string(obj, path, "nftTable", false, &s, err)) < 0)
			return r;
		if (s) {
			if (!ifname_ok(s) || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
				return berr_set(err, EINVAL, "%s.nftTable: \"%s\": want a letter, then up to 14 of "
						"A-Z a-z 0-9 . _ -", path, berr_q(s));
			free(c->table);
			c->table = xstrdup(s);
		}
		s = NULL;
		if ((r = bjson_get_string(obj, path, "stateDir", false, &s, err)) < 0)
			return r;
		if (s) {
			if (s[0] != '/')
				return berr_set(err, EINVAL, "%s.stateDir: \"%s\" is not an absolute path",
						path, berr_q(s));
			free(c->state_dir);
			c->state_dir = xstrdup(s);
		}
		s = NULL;
		if ((r = bjson_get_string(obj, path, "hostPortRange", false, &s, err)) < 0)
			return r;
		if (s) {
			cleanup_free char *text = xstrdup(s);

			for (char *p = text; *p; p++)
				if (*p == '-')
					*p = ' ';
			if (netns_ports_parse_range(text, &c->ports, NULL) < 0)
				return berr_set(err, EINVAL, "%s.hostPortRange: \"%s\": want LOW-HIGH, "
						"1 <= LOW <= HIGH <= 65535", path, berr_q(s));
		}
		if ((r = bjson_get_object(obj, path, "securityGroups", false, &groups, err)) < 0)
			return r;
	}
	{
		cleanup_free char *gpath = bjson_path_key(path, "securityGroups");

		netns_sg_config_free(&c->groups);
		if ((r = netns_sg_config_parse(groups, gpath, &c->groups, err)) < 0)
			return r;
		if (netns_sg_find(&c->groups, NETNS_BRIDGE_GROUP))
			return berr_set(err, EINVAL, "%s.%s: the name is reserved for bridge-mode tasks",
					gpath, NETNS_BRIDGE_GROUP);
	}
	add_bridge_group(&c->groups);
	return 0;
}

int netns_config_load(const char *file, struct netns_config *c, struct berr **err)
{
	json_t *doc = NULL, *net;
	int r;

	if ((r = bjson_load_file(file, 1 << 20, &doc, err)) < 0)
		return r;
	net = json_object_get(doc, "network");
	if (json_is_object(doc) && net)
		r = netns_config_parse(net, "network", c, err);
	else
		r = netns_config_parse(doc, "network", c, err);
	json_decref(doc);
	if (r < 0)
		return berr_wrap(err, "%s", file);
	return 0;
}

/* ------------------------------------------------------------- tasks */

void netns_task_net_init(struct netns_task_net *n)
{
	memset(n, 0, sizeof(*n));
	n->nsfd = -1;
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Tasks are routed through the host: forwarding on, once. */
static int ip_forward_on(struct berr **err)
{
	static const char path[] = "/proc/sys/net/ipv4/ip_forward";
	char cur = '0';
	int fd = open(path, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return berr_set(err, errno, "open %s", path);
	if (pread(fd, &cur, 1, 0) == 1 && cur == '1') {
		close(fd);
		return 0;
	}
	if (pwrite(fd, "1\n", 2, 0) != 2) {
		int e = errno;

		close(fd);
		return berr_set(err, e, "enable IPv4 forwarding (%s)", path);
	}
	close(fd);
	log_info("enabled IPv4 forwarding (net.ipv4.ip_forward=1): tasks reach the network through this host");
	return 0;
}

static char *sub_dir(const struct netns_config *c, const char *name)
{
	return xasprintf("%s/%s", c->state_dir, name);
}

/* Applying the ruleset costs an nftables transaction, whose rule flush
 * makes the next close of a netfilter socket wait for an RCU grace period
 * (~10 ms). So it is applied only when it may differ from what the kernel
 * has: <state_dir>/nft-applied records the hash of the rendered ruleset and
 * the kernel's ruleset generation after berth's last change. A different
 * configuration, or any change by anyone since (a flushed chain, a deleted
 * table, another tool's rule), means apply again. */
/* berth's own writers of its table (nft_ensure, and a task's set members
 * with the stamp that follows them) take <state_dir>/nft.lock in turn. Else
 * tasks starting side by side see each other's member changes as "changed
 * by someone", apply the whole ruleset again, and those applies and member
 * changes make each other's transactions stale (ERESTART), until one gives
 * up and its task fails. The lock goes with its fd (close, or the process
 * dying). */
static int nft_lock(const struct netns_config *c, struct berr **err)
{
	cleanup_free char *path = sub_dir(c, "nft.lock");
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

	if (fd < 0)
		return berr_set(err, errno, "open %s", path);
	while (flock(fd, LOCK_EX) < 0)
		if (errno != EINTR) {
			int r = berr_set(err, errno, "lock %s", path);

			close(fd);
			return r;
		}
	return fd;
}

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return h;
}

static uint64_t ruleset_hash(const struct netns_config *c)
{
	struct netns_nft_conf nc = { .table = c->table, .bridge = c->bridge, .subnet = c->subnet,
				     .groups = &c->groups };
	cleanup_free char *text = netns_nft_render(&nc);

	return fnv1a(text);
}

static void stamp_write(const struct netns_config *c, uint64_t hash)
{
	cleanup_free char *path = sub_dir(c, "nft-applied");
	char buf[64];
	uint32_t gen;
	int n;

	if (netns_nft_genid(&gen, NULL) < 0) {
		unlink(path);
		return;
	}
	n = snprintf(buf, sizeof(buf), "%016llx %u\n", (unsigned long long)hash, gen);
	/* a stamp of the kernel's ruleset generation: meaningless after a
	 * reboot, so not fsynced */
	if (fs_write_file_replace(path, buf, (size_t)n, 0600, NULL) < 0)
		unlink(path);
}

/* After a change of berth's own (set elements): the stamp follows the
 * generation when it still describes this configuration. */
static void stamp_follow(const struct netns_config *c)
{
	cleanup_free char *path = sub_dir(c, "nft-applied");
	cleanup_free char *cur = NULL;
	unsigned long long h;
	unsigned g;
	size_t len;
	uint64_t want = ruleset_hash(c);

	if (fs_read_file(path, &cur, &len, 64, NULL) < 0 || sscanf(cur, "%llx %u", &h, &g) != 2 || h != want)
		return;
	stamp_write(c, want);
}

static int nft_ensure(const struct netns_config *c, struct berr **err)
{
	struct netns_nft_conf nc = { .table = c->table, .bridge = c->bridge, .subnet = c->subnet,
				     .groups = &c->groups };
	cleanup_free char *path = sub_dir(c, "nft-applied");
	cleanup_free char *cur = NULL;
	uint64_t want = ruleset_hash(c);
	unsigned long long h;
	unsigned g;
	uint32_t gen;
	size_t len;
	int r;

	if (fs_read_file(path, &cur, &len, 64, NULL) == 0 && sscanf(cur, "%llx %u", &h, &g) == 2 &&
	    h == want && netns_nft_genid(&gen, NULL) == 0 && gen == g)
		return 0;
	if ((r = netns_nft_apply(&nc, err)) < 0)
		return r;
	stamp_write(c, want);
	return 1;
}

int netns_task_up(const struct netns_config *c, const struct netns_task_req *req,
		  struct netns_task_net *out, struct berr **err)
{
	static const char *const default_group[] = { "default" };
	static const char *const bridge_group[] = { NETNS_BRIDGE_GROUP };
	const char *const *groups = req->groups;
	size_t n_groups = req->n_groups;
	cleanup_netns_nl struct netns_nl *nl = NULL, *nl_in = NULL;
	struct netns_ipam *ipam = NULL;
	struct netns_ports *ports = NULL;
	cleanup_free char *dir = NULL;
	struct netns_attach a;
	uint64_t t0 = now_us();
	int bridge_if, lk, r;

	netns_task_net_init(out);
	if (!c->state_dir)
		return berr_set(err, EINVAL, "network: no state directory configured");
	out->owner = xstrdup(req->task_id);
	out->ns_path = xstrdup(req->ns_path);
	if (req->mode == NETNS_TASK_BRIDGE) {
		groups = bridge_group;
		n_groups = 1;
	} else if (n_groups == 0) {
		groups = default_group;
		n_groups = 1;
	}
	for (size_t i = 0; i < n_groups; i++)
		if (!netns_sg_find(&c->groups, groups[i]) ||
		    (req->mode == NETNS_TASK_AWSVPC && !strcmp(groups[i], NETNS_BRIDGE_GROUP))) {
			r = berr_set(err, ENOENT, "security group \"%s\" is not configured "
				     "(network.securityGroups in the network configuration)", berr_q(groups[i]));
			goto fail;
		}

	if ((r = ip_forward_on(err)) < 0)
		goto fail;
	if ((r = netns_nl_open(&nl, err)) < 0)
		goto fail;
	bridge_if = netns_nl_bridge_ensure(nl, c->bridge, c->subnet.net + 1, c->subnet.prefix, c->mtu, err);
	if (bridge_if < 0) {
		r = bridge_if;
		goto fail;
	}
	if ((r = fs_mkdir_p(c->state_dir, 0700, err)) < 0)
		goto fail;
	if ((lk = nft_lock(c, err)) < 0) {
		r = lk;
		goto fail;
	}
	r = nft_ensure(c, err);
	close(lk);
	if (r < 0)
		goto fail;
	out->ruleset_applied = r > 0;
	dir = sub_dir(c, "ipam");
	if ((r = netns_ipam_open(dir, &c->subnet, &ipam, err)) < 0)
		goto fail;
	r = netns_ipam_alloc(ipam, req->task_id, &out->ip, err);
	netns_ipam_close(ipam);
	if (r < 0)
		goto fail;
	out->ip_held = true;
	out->gw = c->subnet.net + 1;
	out->prefix = c->subnet.prefix;

	if (req->mode == NETNS_TASK_BRIDGE && req->n_maps) {
		free(dir);
		dir = sub_dir(c, "ports");
		if ((r = netns_ports_open(dir, &c->ports, &ports, err)) < 0)
			goto fail;
		out->bindings = xcalloc(req->n_maps, sizeof(*out->bindings));
		r = netns_ports_bind(ports, req->task_id, req->maps, req->n_maps, out->bindings, err);
		netns_ports_close(ports);
		if (r < 0)
			goto fail;
		out->n_bindings = req->n_maps;
		out->ports_held = true;
	}

	if ((r = netns_ns_create(req->ns_path, &out->nsfd, &nl_in, err)) < 0)
		goto fail;
	out->ns_made = true;
	snprintf(out->host_if, sizeof(out->host_if), "bv%.13s", req->task_id);
	memset(&a, 0, sizeof(a));
	a.bridge = c->bridge;
	a.bridge_ifindex = bridge_if;
	a.host_if = out->host_if;
	a.addr = out->ip;
	a.prefix = out->prefix;
	a.gw = out->gw;
	a.mtu = c->mtu;
	if ((r = netns_ns_attach(nl, nl_in, out->nsfd, &a, err)) < 0)
		goto fail;

	out->groups = xcalloc(n_groups + 1, sizeof(*out->groups));
	for (size_t i = 0; i < n_groups; i++)
		out->groups[i] = xstrdup(groups[i]);
	out->n_groups = n_groups;
	if ((lk = nft_lock(c, err)) < 0) {
		r = lk;
		goto fail;
	}
	r = netns_nft_members_add(c->table, out->ip, (const char *const *)out->groups, n_groups, err);
	if (r == 0)
		stamp_follow(c);
	close(lk);
	if (r < 0)
		goto fail;
	out->members_in = true;
	out->us_setup = now_us() - t0;
	return 0;

fail:
	(void)netns_task_down(c, out, NULL);
	return r;
}

int netns_task_down(const struct netns_config *c, struct netns_task_net *n, struct berr **err)
{
	int first = 0, r;

	if (n->members_in) {
		int lk = nft_lock(c, err);

		r = lk;
		if (lk >= 0) {
			r = netns_nft_members_del(c->table, n->ip, (const char *const *)n->groups,
						  n->n_groups, err);
			if (r == 0)
				stamp_follow(c);
			close(lk);
		}
		if (r < 0 && !first)
			first = r, err = NULL;
		n->members_in = false;
	}
	if (n->nsfd >= 0) {
		close(n->nsfd);
		n->nsfd = -1;
	}
	if (n->ns_made) {
		r = netns_ns_destroy(n->ns_path, err);
		if (r < 0 && !first)
			first = r, err = NULL;
		n->ns_made = false;
	}
	if (n->ports_held) {
		cleanup_free char *dir = sub_dir(c, "ports");
		struct netns_ports *p = NULL;

		r = netns_ports_open(dir, &c->ports, &p, err);
		if (r == 0) {
			r = netns_ports_release_owner(p, n->owner, err);
			netns_ports_close(p);
		}
		if (r < 0 && !first)
			first = r, err = NULL;
		n->ports_held = false;
	}
	if (n->ip_held) {
		cleanup_free char *dir = sub_dir(c, "ipam");
		struct netns_ipam *ipam = NULL;

		r = netns_ipam_open(dir, &c->subnet, &ipam, err);
		if (r == 0) {
			r = netns_ipam_release(ipam, n->ip, n->owner, err);
			netns_ipam_close(ipam);
		}
		if (r < 0 && !first)
			first = r, err = NULL;
		n->ip_held = false;
	}
	for (size_t i = 0; i < n->n_groups; i++)
		free(n->groups[i]);
	free(n->groups);
	free(n->bindings);
	free(n->ns_path);
	free(n->owner);
	n->groups = NULL;
	n->n_groups = 0;
	n->bindings = NULL;
	n->n_bindings = 0;
	n->ns_path = n->owner = NULL;
	return first;
}
