/* lb/flowhash.h - L4 (NLB-like) target choice by a hash of the flow's
 * 5-tuple: the same flow always goes to the same target, and adding or
 * removing one target moves only the flows that must move.
 *
 * Rendezvous (highest random weight) hashing: every target has a key
 * derived from its own address and port (never from its position in a
 * list); a flow scores each target with mix(flow_hash ^ key) and takes the
 * highest score. Adding a target to n moves exactly the flows it now wins,
 * 1/(n+1) of them in expectation, and a target that goes away moves only
 * its own flows: the minimal disruption a Maglev table approximates (Maglev
 * moves a few percent more). The price is O(n) per *new* flow; the L4
 * engine hashes once per connection (SYN / first datagram) and keeps the
 * flow in its connection table, so for the target counts of a target group
 * (ELBv2 allows 1000) that is a few microseconds at most, paid only on flow
 * setup, and there is no table to rebuild when health changes. */
#ifndef BERTH_LB_FLOWHASH_H
#define BERTH_LB_FLOWHASH_H

#include <stddef.h>
#include <stdint.h>

struct lb_flow {
	uint8_t proto;   /* IPPROTO_TCP, IPPROTO_UDP */
	int family;      /* AF_INET (first 4 bytes of the addresses used), AF_INET6 */
	uint8_t src[16], dst[16];
	uint16_t sport, dport;
};

/* seed: per load balancer, random, so flows cannot be aimed at a target */
uint64_t lb_flow_hash(const struct lb_flow *f, uint64_t seed);
uint64_t lb_flowhash_target_key(int family, const uint8_t addr[16], uint16_t port, uint64_t seed);
/* The index in keys[0..n) of the target flow_hash goes to; -1 when n == 0.
 * Ties (equal scores, practically never) go to the larger key. */
int lb_flowhash_pick(uint64_t flow_hash, const uint64_t *keys, size_t n);
/* The score target key gets for a flow (lb_flowhash_pick takes the highest;
 * for callers that filter targets while they scan). */
uint64_t lb_flowhash_score(uint64_t flow_hash, uint64_t key);

#endif
