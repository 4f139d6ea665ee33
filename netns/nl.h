/* netns/nl.h - a small rtnetlink (NETLINK_ROUTE) client over libmnl.
 *
 * Everything berth does to links, addresses and routes goes through here,
 * in-process: no ip(8). A socket is bound to the network namespace it was
 * opened in and keeps talking to that namespace whatever the calling thread
 * does later, so one socket opened inside a task's netns configures it
 * without entering it again (netns_ns_create hands such a socket out).
 *
 * Every request carries its own sequence number and NLM_F_ACK; a call
 * returns after the kernel's answer, with the kernel's extended-ack text in
 * the error when it gives one:
 *     "netlink: create veth bv1a2b3c/eth0: File exists"
 * A socket is not thread-safe; use one per thread.
 *
 * Addresses are host-order uint32_t, as in cidr.h. */
#ifndef BERTH_NETNS_NL_H
#define BERTH_NETNS_NL_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

struct netns_nl;

int netns_nl_open(struct netns_nl **out, struct berr **err);
void netns_nl_close(struct netns_nl *nl);
#define cleanup_netns_nl __attribute__((cleanup(netns_nl_closep)))
void netns_nl_closep(struct netns_nl **nl);

/* What RTM_GETLINK says about one link. */
struct netns_nl_link {
	int ifindex;
	char name[IFNAMSIZ];
	unsigned flags;         /* IFF_* (ifi_flags) */
	unsigned mtu;
	int master;             /* ifindex of the master (bridge), 0 if none */
	char kind[16];          /* IFLA_INFO_KIND: "bridge", "veth", ... ("" if none) */
	int isolated;           /* bridge port IFLA_BRPORT_ISOLATED: 0/1, -1 if not a bridge port */
	unsigned char mac[6];
	bool has_mac;
};

/* Look a link up by name; -ENODEV (with the name in the message) if absent. */
int netns_nl_link_get(struct netns_nl *nl, const char *name, struct netns_nl_link *out,
		      struct berr **err);
/* Its ifindex; -ENODEV if absent. */
int netns_nl_ifindex(struct netns_nl *nl, const char *name, struct berr **err);

/* The bridge `name` for task ports:
 *  - created if missing (with a fixed random locally-administered MAC, so the
 *    bridge's address does not follow its lowest port MAC: tasks' ARP entries
 *    for the gateway and for each other (proxy ARP) would go stale); an
 *    existing bridge of that name is reused and its current MAC pinned; an
 *    existing link of that name that is not a bridge is -EEXIST;
 *  - given addr/prefix unless it already has that address;
 *  - MTU mtu (0 = leave), up;
 *  - proxy_arp_pvlan=1 and send_redirects=0 on it (IPv4 devconf set over
 *    netlink, IFLA_AF_SPEC/AF_INET/IFLA_INET_CONF, so the values land in the
 *    socket's netns whatever /proc the caller sees). Note the kernel ORs
 *    send_redirects with conf/all/send_redirects: with all=1 (the default)
 *    the host still sends redirects between tasks (harmless: a redirected
 *    task's ARP is answered by the bridge again);
 *  - ARP proxy_delay 0 on it (neigh/<bridge>/proxy_delay, RTM_SETNEIGHTBL):
 *    otherwise each proxied ARP answer waits up to ~0.8 s.
 * Returns the bridge's ifindex. */
int netns_nl_bridge_ensure(struct netns_nl *nl, const char *name, uint32_t addr, unsigned prefix,
			   unsigned mtu, struct berr **err);

/* A veth pair in one RTM_NEWLINK: host end `host_name` in the socket's
 * netns, peer `peer_name` created directly inside the netns peer_netns_fd.
 * MTU on both (0 = kernel default). With master_ifindex > 0 the host end is
 * enslaved in the same request; with isolated it is then made an isolated
 * bridge port (IFLA_BRPORT_ISOLATED) before it is brought up, so it never
 * forwards to another isolated port. The host end ends up; the peer stays
 * down (the caller configures it inside the netns). Names longer than 15
 * bytes are -EINVAL. On failure nothing is left. Returns the host end's
 * ifindex. */
int netns_nl_veth_create(struct netns_nl *nl, const char *host_name, const char *peer_name,
			 int peer_netns_fd, unsigned mtu, int master_ifindex, bool isolated,
			 struct berr **err);

int netns_nl_link_up(struct netns_nl *nl, int ifindex, struct berr **err);
int netns_nl_link_set_mtu(struct netns_nl *nl, int ifindex, unsigned mtu, struct berr **err);
/* Make an existing link an (un)isolated port of its bridge. */
int netns_nl_brport_set_isolated(struct netns_nl *nl, int ifindex, bool isolated,
				 struct berr **err);

/* Add addr/prefix (with its broadcast) to ifindex; an existing identical
 * address is success. */
int netns_nl_addr_add(struct netns_nl *nl, int ifindex, uint32_t addr, unsigned prefix,
		      struct berr **err);
/* The IPv4 addresses of ifindex (at most max; the return value is how many
 * there are, which may be more than max). */
struct netns_nl_addr {
	uint32_t addr;
	unsigned prefix;
};
int netns_nl_addr_list(struct netns_nl *nl, int ifindex, struct netns_nl_addr *out, size_t max,
		       struct berr **err);

/* Default route (main table) via gw out of ifindex; replaces an existing
 * default route, so it is idempotent. */
int netns_nl_route_add_default(struct netns_nl *nl, uint32_t gw, int ifindex, struct berr **err);
/* The main table's IPv4 default route: 1 and *gw / *oif when there is one,
 * 0 when there is none. */
int netns_nl_route_get_default(struct netns_nl *nl, uint32_t *gw, int *oif, struct berr **err);

/* Delete a link by name (a veth takes its peer with it); absent = success.
 * Slow (~20 ms for a veth, synchronize_net): tasks are torn down by dropping
 * their netns instead, see ns.h. */
int netns_nl_link_del(struct netns_nl *nl, const char *name, struct berr **err);

/* How many links have master == ifindex (ports of a bridge). */
int netns_nl_count_ports(struct netns_nl *nl, int master_ifindex, struct berr **err);

#endif
