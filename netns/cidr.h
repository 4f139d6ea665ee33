/* netns/cidr.h - IPv4 prefixes ("10.88.0.0/16") as plain host-order numbers.
 *
 * Every address here is a uint32_t in host byte order, so arithmetic (the
 * next address, the broadcast) is plain integer arithmetic; netns_ip_to_in()
 * and netns_ip_from_in() convert at the socket boundary. */
#ifndef BERTH_NETNS_CIDR_H
#define BERTH_NETNS_CIDR_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"

struct netns_cidr {
	uint32_t net;     /* network address, host order, host bits zero */
	unsigned prefix;  /* 0..32 */
};

/* Longest "255.255.255.255/32" plus NUL. */
#define NETNS_CIDR_STRLEN 19
#define NETNS_IP_STRLEN 16

/* Parse "a.b.c.d/len" (len 0..32; a bare "a.b.c.d" means /32). Host bits
 * must be zero ("10.88.0.1/16" is an error that suggests 10.88.0.0/16), so
 * a typo never silently widens a rule. `what` names the field in the error. */
int netns_cidr_parse(const char *s, const char *what, struct netns_cidr *out, struct berr **err);
/* Parse a dotted quad ("10.88.0.5") into host order. */
int netns_ip_parse(const char *s, const char *what, uint32_t *out, struct berr **err);

uint32_t netns_cidr_mask(unsigned prefix);
uint32_t netns_cidr_broadcast(const struct netns_cidr *c);
bool netns_cidr_contains(const struct netns_cidr *c, uint32_t ip);
/* Do the two prefixes share any address? */
bool netns_cidr_overlaps(const struct netns_cidr *a, const struct netns_cidr *b);

/* Format into buf (NETNS_IP_STRLEN / NETNS_CIDR_STRLEN bytes); return buf. */
char *netns_ip_str(uint32_t ip, char *buf);
char *netns_cidr_str(const struct netns_cidr *c, char *buf);

static inline struct in_addr netns_ip_to_in(uint32_t ip)
{
	struct in_addr a = { .s_addr = htonl(ip) };
	return a;
}

static inline uint32_t netns_ip_from_in(struct in_addr a)
{
	return ntohl(a.s_addr);
}

#endif
