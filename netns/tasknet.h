/* netns/tasknet.h - a task's network, put together: the configuration
 * (bridge, subnet, security groups), and for each awsvpc or bridge-mode task
 * its netns, veth, IP, security-group membership and host ports, set up in
 * one call and torn down in another.
 *
 * Set up (netns_task_up), in this order, each step undone on a later
 * failure:
 *   1. net.ipv4.ip_forward = 1 (tasks are routed through the host)
 *   2. the bridge (created if missing; gateway address; proxy_arp_pvlan)
 *   3. the nftables table (netns_nft_apply: idempotent, one batch)
 *   4. an IP from IPAM, owned by the task id
 *   5. host ports for bridge-mode portMappings (all or nothing)
 *   6. the netns, bound at req->ns_path, lo up
 *   7. the veth: eth0 inside with the IP and a default route; the host end
 *      an isolated port of the bridge
 *   8. the IP into the member sets of the task's security groups
 * Tear down (netns_task_down): the reverse, and never a per-veth delete:
 * dropping the netns's mount and last fd lets the kernel remove the pair in
 * batches. Idempotent: it undoes what the record says was done, so it is
 * also the rollback of a failed set-up.
 *
 * Security groups apply to awsvpc tasks (as on ECS). A bridge-mode task is
 * a member of the built-in group NETNS_BRIDGE_GROUP, which admits anything
 * (Docker's bridge: reachable from the host and other tasks); its host
 * ports are bookkeeping until berth-lb forwards them. */
#ifndef BERTH_NETNS_TASKNET_H
#define BERTH_NETNS_TASKNET_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "netns/cidr.h"
#include "netns/ports.h"
#include "netns/sg.h"

#define NETNS_DEFAULT_BRIDGE "berth0"
#define NETNS_DEFAULT_SUBNET "10.213.0.0/16"
#define NETNS_DEFAULT_TABLE  "berth"
#define NETNS_DEFAULT_MTU    1500
/* the group every bridge-mode task is in; a configured group of this name
 * is an error */
#define NETNS_BRIDGE_GROUP   "bridge-mode"

struct netns_config {
	char *bridge;
	struct netns_cidr subnet;
	unsigned mtu;
	char *table;                   /* nftables table (family inet) */
	char *state_dir;               /* IPAM in <state_dir>/ipam, ports in <state_dir>/ports */
	struct netns_port_range ports; /* dynamic host ports */
	struct netns_sg_config groups; /* with NETNS_BRIDGE_GROUP added */
};

/* Defaults for everything; state_dir is required (e.g. <root>/net). */
void netns_config_init(struct netns_config *c, const char *state_dir);
/* Parse the "network" object (NULL: defaults):
 *   { "bridge": "berth0", "subnet": "10.213.0.0/16", "mtu": 1500,
 *     "nftTable": "berth", "stateDir": "...", "hostPortRange": "49153-65535",
 *     "securityGroups": { ... netns/sg.h ... } }
 * Unknown keys are errors naming the path ("network.brige: unknown key"). */
int netns_config_parse(const json_t *obj, const char *path, struct netns_config *c,
		       struct berr **err);
/* Read a JSON file that is either berthd.json ({"network": {...}, ...}) or
 * the network object itself. */
int netns_config_load(const char *file, struct netns_config *c, struct berr **err);
void netns_config_free(struct netns_config *c);

enum netns_task_mode { NETNS_TASK_AWSVPC, NETNS_TASK_BRIDGE };

struct netns_task_req {
	const char *task_id;               /* IPAM/port owner; [A-Za-z0-9._:-]{1,128} */
	enum netns_task_mode mode;
	const char *ns_path;               /* where the netns is bound (a file path) */
	const char *const *groups;         /* awsvpc: security groups; none = {"default"} */
	size_t n_groups;
	const struct netns_portmap *maps;  /* bridge mode: portMappings */
	size_t n_maps;
};

/* What netns_task_up did: the record netns_task_down works from. */
struct netns_task_net {
	int nsfd;                          /* the task's netns, O_CLOEXEC; -1 when none */
	uint32_t ip, gw;
	unsigned prefix;
	char host_if[16];
	char *ns_path;
	char *owner;
	char **groups;                     /* the groups its IP is in */
	size_t n_groups;
	struct netns_binding *bindings;    /* bridge mode */
	size_t n_bindings;
	/* progress, for teardown */
	bool ip_held, ports_held, ns_made, members_in;
	/* set-up time of each part, microseconds (for `berth run` timing) */
	uint64_t us_setup;
	/* netns_task_up applied berth's whole nftables ruleset: it had changed
	 * since berth's own last change (or its configuration did); tasks that
	 * start side by side do not count as such a change */
	bool ruleset_applied;
};

void netns_task_net_init(struct netns_task_net *n);
int netns_task_up(const struct netns_config *c, const struct netns_task_req *req,
		  struct netns_task_net *out, struct berr **err);
/* Undo everything recorded in n (whatever the step that failed), close
 * nsfd, free the record's memory. Every step is tried even when one fails;
 * the first error is returned. */
int netns_task_down(const struct netns_config *c, struct netns_task_net *n, struct berr **err);

#endif
