/* lb/target.h - target groups: ip:port targets, their health checks and
 * states as ELBv2 names them, request pickers, draining, and the weighted
 * choice among the target groups of a forward action.
 *
 * Nothing here sleeps or does I/O. The caller's event loop passes the time
 * (milliseconds on a monotonic clock) and asks what is due:
 *
 *     n = lb_tg_due(tg, now, probes, max);   // probes to start, timeouts, drains
 *     ... start probe i against tg->t[probes[i].target] ...
 *     lb_tg_probe_result(tg, probes[i].target, probes[i].seq, now, outcome);
 *     arm a timer for lb_tg_next_event(tg)
 *
 * so tests drive it with a simulated clock.
 *
 * Health state machine (per target): a registered target is initial and
 * is probed at once; healthy_threshold consecutive successes make it
 * healthy, unhealthy_threshold consecutive failures (a probe failing, timing
 * out or answering a status outside the matcher) make it unhealthy; from
 * there the other threshold moves it back. Deregistering makes it draining:
 * no new requests, no more probes; it becomes unused when its last
 * outstanding request ends or the deregistration delay passes, and its
 * slot is reused by a later registration.
 *
 * Routing: healthy targets take requests. When none is healthy the group
 * fails open, as ALB does: initial and unhealthy targets take them. */
#ifndef BERTH_LB_TARGET_H
#define BERTH_LB_TARGET_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

enum lb_target_state {
	LB_TARGET_UNUSED = 0, /* free slot / deregistered */
	LB_TARGET_INITIAL,
	LB_TARGET_HEALTHY,
	LB_TARGET_UNHEALTHY,
	LB_TARGET_DRAINING,
};

/* ELBv2's TargetHealth.Reason */
enum lb_target_reason {
	LB_REASON_NONE = 0,
	LB_REASON_REGISTRATION_IN_PROGRESS, /* Elb.RegistrationInProgress */
	LB_REASON_FAILED_HEALTH_CHECKS,     /* Target.FailedHealthChecks */
	LB_REASON_TIMEOUT,                  /* Target.Timeout */
	LB_REASON_RESPONSE_CODE_MISMATCH,   /* Target.ResponseCodeMismatch */
	LB_REASON_DEREGISTRATION,           /* Target.DeregistrationInProgress */
};

enum lb_hc_protocol { LB_HC_HTTP, LB_HC_TCP };
enum lb_algorithm { LB_ROUND_ROBIN, LB_LEAST_OUTSTANDING };

#define LB_MATCHER_MAX 16

struct lb_hc_matcher {
	size_t n;
	struct {
		uint16_t lo, hi;
	} r[LB_MATCHER_MAX];
};

struct lb_hc_config {
	enum lb_hc_protocol protocol;
	char path[256];               /* HTTP: request path */
	uint32_t interval_ms;         /* 5-300 s */
	uint32_t timeout_ms;          /* 2-120 s, less than the interval */
	uint32_t healthy_threshold;   /* 2-10 */
	uint32_t unhealthy_threshold; /* 2-10 */
	struct lb_hc_matcher matcher; /* HTTP: codes that count as success */
};

struct lb_tg_config {
	enum lb_algorithm algorithm;
	uint32_t deregistration_delay_ms; /* 0-3600 s */
	struct lb_hc_config hc;
};

/* ELBv2's defaults: HTTP "/" matcher "200", every 30 s, timeout 5 s,
 * healthy 5, unhealthy 2, delay 300 s; TCP: timeout 10 s. */
void lb_tg_config_default(struct lb_tg_config *c, enum lb_hc_protocol protocol);
/* "200", "200,302", "200-299" (codes 200-499, as ALB): at most LB_MATCHER_MAX parts. */
int lb_hc_matcher_parse(const char *s, struct lb_hc_matcher *m, struct berr **err);
bool lb_hc_matcher_match(const struct lb_hc_matcher *m, int status);
/* The ELBv2 ranges above; errors name the field. */
int lb_tg_config_check(const struct lb_tg_config *c, struct berr **err);

struct lb_target {
	int family;          /* AF_INET, AF_INET6 */
	uint8_t addr[16];
	uint16_t port;
	enum lb_target_state state;
	enum lb_target_reason reason;
	uint32_t successes, failures; /* consecutive */
	uint32_t outstanding;         /* requests picked and not yet released */
	uint64_t next_probe;          /* when the next probe is due */
	uint64_t probe_deadline;      /* probing: when it times out */
	uint64_t drain_until;
	uint32_t probe_seq;
	uint32_t gen;                 /* bumped when the slot takes a new registration,
				       * so holders of an index can tell it was reused */
	bool probing;
	size_t heap_pos;
};

struct lb_target_group {
	struct lb_tg_config cfg;
	struct lb_target *t;
	size_t n, cap;          /* slots; unused ones are reused */
	/* routable targets: rr[] for round robin, heap[] (by outstanding) for LOR */
	size_t *rr, n_rr, rr_next;
	size_t *heap, n_heap;
	bool dirty;             /* the routable set must be rebuilt */
	bool fail_open;         /* no healthy target: routing to all */
};

struct lb_probe {
	size_t target;
	uint32_t seq;
};

/* outcome of a probe */
#define LB_PROBE_CONNECTED 0 /* TCP: the connection was accepted */
#define LB_PROBE_FAILED (-1) /* refused, reset, no answer */
/* >= 100: the HTTP status the target answered */

int lb_tg_init(struct lb_target_group *tg, const struct lb_tg_config *cfg, struct berr **err);
void lb_tg_destroy(struct lb_target_group *tg);

/* "10.0.0.1:8080" or "[fd00::1]:80"; returns the target's index (stable
 * until it is unused again). Registering a target that is already there
 * (not draining) is an error; a draining one comes back as initial. */
int lb_tg_register(struct lb_target_group *tg, const char *ipport, uint64_t now, struct berr **err);
int lb_tg_find(const struct lb_target_group *tg, const char *ipport);
int lb_tg_deregister(struct lb_target_group *tg, size_t idx, uint64_t now);

/* Probes due at now (at most max; the rest on the next call), after
 * settling timeouts and expired drains. */
size_t lb_tg_due(struct lb_target_group *tg, uint64_t now, struct lb_probe *out, size_t max);
/* The result of probe seq of a target; stale results (a newer probe was
 * started, or this one timed out) are ignored. */
void lb_tg_probe_result(struct lb_target_group *tg, size_t idx, uint32_t seq, uint64_t now,
			int outcome);
/* Set the health of a target that is probed elsewhere (the engine's
 * followers take the states their leader's probes found): initial, healthy
 * or unhealthy, for a target in one of those states; -EINVAL otherwise. */
int lb_tg_set_health(struct lb_target_group *tg, size_t idx, enum lb_target_state state,
		     enum lb_target_reason reason);
/* The earliest time lb_tg_due has something to do; UINT64_MAX: nothing. */
uint64_t lb_tg_next_event(const struct lb_target_group *tg);
/* For a group whose health checks are off (lb_tg_due is not called): drains
 * whose deregistration delay passed at now end (the targets become unused);
 * returns the next such time, UINT64_MAX: none. */
uint64_t lb_tg_expire_drains(struct lb_target_group *tg, uint64_t now);

/* A target for a new request (its outstanding count goes up), -1 when the
 * group has no target to route to. Round robin: O(1); least outstanding
 * requests: O(log n). */
int lb_tg_pick(struct lb_target_group *tg);
/* The request ended. */
void lb_tg_release(struct lb_target_group *tg, size_t idx);

const char *lb_target_state_name(enum lb_target_state s);
const char *lb_target_reason_name(enum lb_target_reason r);

/* Index in [0, n) chosen with probability weight[i] / sum, for r uniform
 * in [0, 2^64); -1 when all weights are 0. */
int lb_weighted_pick(const uint32_t *weight, size_t n, uint64_t r);

/* "a.b.c.d:port" / "[v6]:port" */
int lb_parse_ipport(const char *s, int *family, uint8_t addr[16], uint16_t *port);

#endif
