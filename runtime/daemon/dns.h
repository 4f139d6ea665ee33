/* runtime/daemon/dns.h - berthd's DNS responder for service discovery.
 *
 * Listens on UDP and TCP (RFC 7766: two-byte length prefix) on one
 * address, normally the task bridge's gateway, inside berthd's epoll loop.
 * Names inside the zones berthd owns (Cloud Map private DNS namespaces,
 * "berth.local") are answered from what dns_service_set published,
 * authoritatively; every other name is forwarded to the upstream
 * resolvers, in order, each tried for forward_timeout_ms:
 *  - a UDP client's query goes over UDP, from a socket of its own
 *    (connected to the upstream: a random source port per query) with a
 *    new random ID; the reply is relayed with the client's ID once it
 *    came from that upstream and carries the same question;
 *  - a TCP client's query goes over TCP (no truncation to undo).
 * No answer from the last upstream: SERVFAIL. No upstream: REFUSED.
 *
 * Only sources inside allow_net/allow_prefix or on loopback get answers;
 * anything else is dropped (not an open resolver). Limits: DNS_MAX_PENDING
 * forwards in flight (beyond: SERVFAIL at once), DNS_MAX_TCP client
 * connections (beyond: the new one is closed), closed after
 * DNS_TCP_IDLE_MS without a query.
 *
 * Records: for a service name fqdn inside a zone,
 *   fqdn        A    every instance's address          (when a_ttl > 0)
 *   fqdn        SRV  "1 1 <port> <id>.<fqdn>" each      (when srv_ttl > 0)
 *   <id>.<fqdn> A    that instance's address           (when either TTL > 0:
 *                                                       srv_ttl, else a_ttl)
 * SRV answers carry the targets' A records as additional records. A name
 * that exists without records of the type asked (AAAA, or a service with
 * no instances, or a name above a service) is NODATA, an unknown one
 * NXDOMAIN; both with the zone's SOA (its TTL and MINIMUM the zone's
 * negative TTL). The apex answers SOA; NS is NODATA. Matching ignores
 * case and the answer keeps the question's. */
#ifndef BERTH_RUNTIME_DAEMON_DNS_H
#define BERTH_RUNTIME_DAEMON_DNS_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

struct berthd;
struct dns_server;

#define DNS_MAX_PENDING 256      /* forwards in flight: each holds a socket */
#define DNS_MAX_TCP 64           /* client TCP connections */
#define DNS_TCP_IDLE_MS 10000
#define DNS_MAX_ANSWERS 8        /* MULTIVALUE: at most this many records, a random subset */
#define DNS_FORWARD_TIMEOUT_MS 2000

struct dns_config {
	struct in_addr listen;           /* the bridge gateway (bound with IP_FREEBIND) */
	uint16_t port;                   /* 53; tests use a high port */
	struct in_addr allow_net;        /* answer sources in this CIDR (the task subnet) */
	uint8_t allow_prefix;            /* 0..32; loopback is always allowed */
	struct sockaddr_in upstream[4];  /* forward here, in order */
	size_t n_upstream;               /* 0: REFUSED for names outside our zones */
	unsigned forward_timeout_ms;     /* per upstream try; 0: DNS_FORWARD_TIMEOUT_MS */
};

/* Bind the UDP and TCP sockets on listen:port and add them (and a timerfd)
 * to d->epfd. A bind failure is returned, not logged: the caller decides
 * whether berthd runs on without DNS (and warns). */
int dns_server_start(struct berthd *d, const struct dns_config *c, struct dns_server **out,
		     struct berr **err);
/* Close everything and free s (after the current batch of events, when
 * called from inside one); safe from inside a handler. NULL is fine. */
void dns_server_stop(struct dns_server *s);

/* Own a zone ("berth.local"): its names are answered here, never
 * forwarded. Adding an existing zone only updates its negative TTL. */
int dns_zone_add(struct dns_server *s, const char *zone, uint32_t negative_ttl, struct berr **err);
/* Drop the zone and every service published under it. */
void dns_zone_remove(struct dns_server *s, const char *zone);

struct dns_instance {
	const char *id;            /* names <id>.<fqdn> when one DNS label (letters, digits,
				    * '-', '_'; <= 63 bytes); any other id (Cloud Map allows
				    * more) publishes only the A record under fqdn */
	struct in_addr addr;
	uint16_t port;
};

enum dns_routing {
	DNS_MULTIVALUE,            /* up to DNS_MAX_ANSWERS records, random ones when more */
	DNS_WEIGHTED,              /* one random record */
};

/* Replace everything published under fqdn (which must lie inside a zone,
 * below its apex): see the table above. n == 0 publishes no records, but
 * the name exists (NODATA, not NXDOMAIN) until dns_service_remove. */
int dns_service_set(struct dns_server *s, const char *fqdn, const struct dns_instance *v, size_t n,
		    uint32_t a_ttl, uint32_t srv_ttl, enum dns_routing routing, struct berr **err);
void dns_service_remove(struct dns_server *s, const char *fqdn);

#endif
