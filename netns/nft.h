/* netns/nft.h - nftables: egress NAT and security groups, over netlink.
 *
 * Tasks sit on one Linux bridge. Each task's host-side veth is an
 * `isolated` bridge port and the bridge answers ARP for them
 * (proxy_arp_pvlan), so tasks cannot reach each other at L2: task-to-task
 * traffic is routed through the host and crosses the inet FORWARD hook with
 * full conntrack, like traffic from outside. So every rule lives in one
 * table, and no br_netfilter is needed:
 *
 *     table inet berth {
 *         set m_<group> { type ipv4_addr }     members (task IPs) of each group
 *         chain forward { type filter hook forward priority filter; policy accept;
 *             oifname "berth0" jump ingress }
 *         chain ingress {
 *             ct state established,related accept
 *             ct state invalid drop
 *             ip daddr @m_<group> jump sg_<group>  one per group: a task in several
 *             ...                                  groups gets the union of their rules
 *             counter drop }                       the rest, IPv6 too, is dropped
 *         chain sg_<group> {                       one rule per ingress rule, in order
 *             ip saddr 0.0.0.0/0 tcp dport 80 accept
 *             ip saddr @m_app tcp dport 5432-5433 accept
 *             ip saddr 10.0.0.0/8 meta l4proto icmp accept
 *             ip saddr @m_default accept }         protocol all
 *         chain postrouting { type nat hook postrouting priority srcnat; policy accept;
 *             ip saddr 10.88.0.0/16 oifname != "berth0" masquerade }
 *     }
 *
 * What is NOT filtered, on purpose:
 *  - egress: a task may open connections anywhere (AWS's default egress
 *    rule); replies come back as established;
 *  - traffic the host itself originates (OUTPUT hook: berth's health
 *    checks, berth-lb, anything on the host) reaches every task: the host is
 *    trusted, as the VPC router is in AWS;
 *  - IPv6: tasks have IPv4 only, and IPv6 forwarded to the bridge is dropped
 *    by ingress's last rule.
 * Another forward base chain with policy drop (Docker's iptables) still
 * drops what this table accepts: nftables base chains all have to accept.
 *
 * Every function works in the caller's network namespace, over its own
 * NETLINK_NETFILTER socket; each change is one atomic batch. Errors name the
 * object: "nft: add rule to chain sg_web (tcp dport 80 accept): Operation
 * not supported".
 */
#ifndef BERTH_NETNS_NFT_H
#define BERTH_NETNS_NFT_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "netns/cidr.h"
#include "netns/sg.h"

#define NETNS_NFT_TABLE "berth"

struct netns_nft_conf {
	const char *table;   /* "berth": 1..64 of [A-Za-z0-9_.-], starting with a letter */
	const char *bridge;  /* "berth0": 1..15 of [A-Za-z0-9_.-] */
	struct netns_cidr subnet;  /* the tasks' subnet, masqueraded when leaving the host */
	const struct netns_sg_config *groups;  /* NULL: only the implicit default group */
};

/* The ruleset as nft(8) text, exactly what apply() installs, in the form
 * `nft list table inet <table>` prints it (set elements and counter values
 * aside). Input for `nft -f` too. malloc'd. */
char *netns_nft_render(const struct netns_nft_conf *c);

/* Create or update the table in one atomic batch: the table; a set m_<group>
 * per group (existing sets keep their elements: running tasks keep their
 * membership); the chains, rewritten (flushed and filled again) so a config
 * change applies to running tasks at once; chains and sets no longer in the
 * config (removed groups) deleted. The batch carries the ruleset generation
 * read before it, so a concurrent change makes it fail and it is retried.
 * Idempotent. */
int netns_nft_apply(const struct netns_nft_conf *c, struct berr **err);

/* Add ip to / remove it from the member sets of groups[0..n), one batch.
 * add: a group with no set in the table (not in the applied config) is an
 * error naming the group; adding an element twice is not. del: an element,
 * a set or a table that is not there is nothing to remove and not an error
 * (teardown is idempotent, and works after the group left the config). */
int netns_nft_members_add(const char *table, uint32_t ip, const char *const *groups, size_t n,
			  struct berr **err);
int netns_nft_members_del(const char *table, uint32_t ip, const char *const *groups, size_t n,
			  struct berr **err);

/* The kernel's ruleset generation: it changes with every committed change
 * to any table of the netns (so also when someone edits or flushes ours). */
int netns_nft_genid(uint32_t *genid, struct berr **err);

/* Delete the whole table; absent = success. */
int netns_nft_remove(const char *table, struct berr **err);

/* In the current network namespace (a task's, fresh: nothing else writes
 * its ruleset), make TCP connections to addr:from_port made from inside
 * it go to port to_port on the namespace's loopback:
 *     table inet <table> { chain out { type nat hook output priority -100;
 *         ip daddr ADDR tcp dport FROM redirect to :TO } }
 * (addr and the ports in host byte order). The task's endpoint listens on
 * 127.0.0.1:TO, so a container may itself bind 0.0.0.0:FROM. */
int netns_nft_redirect_local(const char *table, uint32_t addr, uint16_t from_port, uint16_t to_port,
			     struct berr **err);

#endif
