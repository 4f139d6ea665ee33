/* netns/sg.h - security groups: the configuration model and its parser.
 *
 * A security group is a named list of ingress rules, as in AWS: traffic to a
 * task is allowed when any rule of any group the task is in allows it, and
 * dropped otherwise. Egress is not filtered (AWS's default egress rule), and
 * neither is traffic the host itself sends (health checks, berth-lb); see
 * nft.h for how the rules are enforced.
 *
 * The JSON form is the "securityGroups" object of berthd.json's "network"
 * section (and of `berth run --network-config`):
 *
 *     { "web":     { "ingress": [ {"protocol": "tcp", "fromPort": 80, "toPort": 80,
 *                                  "cidr": "0.0.0.0/0"},
 *                                 {"protocol": "tcp", "port": 5432, "sourceGroup": "app"} ] },
 *       "app":     { "ingress": [] },
 *       "default": { "ingress": [ {"protocol": "all", "sourceGroup": "default"} ] } }
 *
 * A rule: "protocol" tcp | udp | icmp | all (AWS's "-1" means all); ports as
 * "port" or "fromPort" + "toPort" (1..65535, from <= to), required for tcp
 * and udp, refused for icmp and all; exactly one of "cidr" (an IPv4 prefix)
 * and "sourceGroup" (the members of a group of this config). Group names are
 * 1..32 of [A-Za-z0-9._-]; they become nftables names (set m_<name>, chain
 * sg_<name>). When "default" is absent it is added with AWS's default rule:
 * all protocols from the members of "default". This is an operator's file,
 * so any unknown key is an error, and every error names the JSON path:
 *
 *     securityGroups.web.ingress[1].fromPort: must be 1..65535
 */
#ifndef BERTH_NETNS_SG_H
#define BERTH_NETNS_SG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "netns/cidr.h"

#define NETNS_SG_NAME_MAX 32
/* Bounds that keep one apply() batch a few MB at most. */
#define NETNS_SG_MAX_GROUPS 256
#define NETNS_SG_MAX_RULES 128
#define NETNS_SG_DEFAULT "default"

enum netns_sg_proto { NETNS_SG_ALL, NETNS_SG_TCP, NETNS_SG_UDP, NETNS_SG_ICMP };

struct netns_sg_rule {
	enum netns_sg_proto proto;
	uint16_t from_port, to_port;  /* both 0 for icmp and all */
	bool has_cidr;                /* cidr, or else source_group */
	struct netns_cidr cidr;
	char *source_group;           /* NULL when has_cidr */
};

struct netns_sg {
	char *name;
	struct netns_sg_rule *rules;
	size_t n_rules;
};

/* Groups sorted by name (strcmp), so everything derived from a config is
 * the same for the same config, whatever the key order in the file. */
struct netns_sg_config {
	struct netns_sg *groups;
	size_t n_groups;
};

/* Parse obj (the securityGroups object; NULL: no groups but the implicit
 * default) into *out. `path` names obj in errors ("securityGroups"). On
 * error *out is left empty (free is still safe). */
int netns_sg_config_parse(const json_t *obj, const char *path, struct netns_sg_config *out,
			  struct berr **err);
void netns_sg_config_free(struct netns_sg_config *c);
const struct netns_sg *netns_sg_find(const struct netns_sg_config *c, const char *name);

/* Is name a valid group name (1..32 of [A-Za-z0-9._-])? */
bool netns_sg_name_valid(const char *name);
/* "tcp", "udp", "icmp", "all". */
const char *netns_sg_proto_name(enum netns_sg_proto p);

#endif
