/* netns/ports.h - host ports for bridge-mode port mappings, as ECS assigns
 * them (docs: ecs-reference.md section 7).
 *
 * A static mapping (hostPort given) takes exactly that port, unless it is
 * one ECS reserves (22, 2375, 2376, 51678, 51679). A dynamic one (hostPort
 * 0) gets a port from the dynamic range (the kernel's ephemeral range by
 * default), scanning from the port after the last one assigned for that
 * protocol and wrapping once, skipping ports held (statically or
 * dynamically, same protocol) and the reserved ones.
 *
 * Storage: the same file store as IPAM (ipam.h, netns/resv.h), in its own
 * directory: "tcp-8080" / "udp-53" per held port ("<owner>\n", O_EXCL,
 * not fsync'd: see resv.h), "last-tcp" /
 * "last-udp" (the name of the last dynamic port assigned, a hint), "lock"
 * (flock per operation). A port file without a readable owner stays held
 * and is never removed by release_owner; an operator removes it by hand.
 *
 * berth only books ports here; a port some other host process listens on
 * is not detected (nor does ECS detect it). */
#ifndef BERTH_NETNS_PORTS_H
#define BERTH_NETNS_PORTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

struct netns_port_range {
	uint16_t lo, hi;   /* inclusive, 1 <= lo <= hi */
};

/* The range used when the kernel's cannot be read (ECS's default). */
#define NETNS_PORTS_FALLBACK_LO 49153
#define NETNS_PORTS_FALLBACK_HI 65535

/* Parse the text of ip_local_port_range: "lo<blanks>hi", optional trailing
 * whitespace, decimal without leading zeros, 1 <= lo <= hi <= 65535. */
int netns_ports_parse_range(const char *text, struct netns_port_range *out, struct berr **err);
/* Read "lo\thi" from path (NULL = /proc/sys/net/ipv4/ip_local_port_range):
 * 0 when read; 1 when it is unreadable or malformed and *out is the
 * fallback 49153-65535. */
int netns_ports_ephemeral_range(const char *path, struct netns_port_range *out);

/* Is port one of those ECS reserves (never a static hostPort, never
 * handed out dynamically)? */
bool netns_port_reserved(uint16_t port);

enum netns_proto { NETNS_TCP, NETNS_UDP };
/* "tcp" / "udp" ("?" for anything else). */
const char *netns_proto_str(enum netns_proto proto);

struct netns_ports;

/* dir: as netns_ipam_open. */
int netns_ports_open(const char *dir, const struct netns_port_range *dynamic,
		     struct netns_ports **out, struct berr **err);
void netns_ports_close(struct netns_ports *p);

struct netns_portmap {
	uint16_t container_port;
	uint16_t host_port;   /* 0 = dynamic */
	enum netns_proto proto;
};

struct netns_binding {
	uint16_t container_port;
	uint16_t host_port;
	enum netns_proto proto;
};

/* All or nothing: reserve every mapping for owner and fill out[i] for
 * maps[i]; on any failure release what this call reserved and return the
 * error, naming the mapping ("portMappings[1]: host port 8080/tcp is in use
 * by task abc"). Errors: EINVAL (bad owner, containerPort 0, unknown
 * protocol, the same hostPort/protocol twice in one call), EACCES (a
 * reserved port), EADDRINUSE (a static port already held), ENOSPC (no
 * dynamic port left). Static mappings are reserved before dynamic ones, so
 * a dynamic pick never takes a port a later static mapping asks for. */
int netns_ports_bind(struct netns_ports *p, const char *owner, const struct netns_portmap *maps,
		     size_t n, struct netns_binding *out, struct berr **err);
/* Release every port owner holds; returns how many. */
int netns_ports_release_owner(struct netns_ports *p, const char *owner, struct berr **err);

struct netns_ports_entry {
	uint16_t host_port;
	enum netns_proto proto;
	char owner[129];   /* "?" when the file has no readable owner */
};
/* Every held port, sorted by protocol (tcp first) then port; *out is
 * malloc'd (free()), NULL when *n is 0. */
int netns_ports_list(struct netns_ports *p, struct netns_ports_entry **out, size_t *n,
		     struct berr **err);

#endif
