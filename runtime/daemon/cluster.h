/* runtime/daemon/cluster.h - berthd as a member of a cluster kept in etcd
 * (issue 13, part 2): registration, liveness, leader election.
 *
 * Only with a "cluster" block in berthd.json (cfg.cluster_etcd); without it
 * every function here does nothing and berthd is the one host it always was.
 *
 * Keys, under cfg.cluster_prefix (P):
 *   P/instances/<id>  this host's ContainerInstance as DescribeContainerInstances
 *                     shows it (no lease: the record stays when the host goes;
 *                     rewritten when it changes)
 *   P/alive/<id>      attached to the host's lease: exists while it lives
 *   P/leader/<lease>  the election (scheduler/etcd.h), same lease; the
 *                     candidate with the oldest key leads and runs the
 *                     services controller (d->cluster_leader)
 *
 * Every tick (a timerfd in berthd's loop, leaseSeconds/3) renews the lease,
 * re-registers with a new lease when the old one was lost (expired or
 * revoked: "cluster: lease lost, re-registered"), rewrites the instance
 * document if it changed and campaigns, which keeps d->cluster_leader
 * current. etcd unreachable: logged once per outage, no leader (services
 * stop stepping), the API keeps answering from the local store. Every etcd
 * call is bounded by the client's timeouts (a fraction of the lease). */
#ifndef BERTH_RUNTIME_DAEMON_CLUSTER_H
#define BERTH_RUNTIME_DAEMON_CLUSTER_H

#include <jansson.h>
#include <stdint.h>

#include "common/error.h"

struct berthd;

/* Join the cluster (after api_bootstrap: d->instance_id is known): grant
 * the lease, write the instance and alive keys, campaign; with an event
 * loop (d->epfd >= 0) also start the tick timer. An etcd that cannot be
 * reached fails here: "cluster: etcd URL, URL: connection refused; is etcd
 * running? (...)". 0 without a cluster configured. */
int cluster_start(struct berthd *d, struct berr **err);
/* One tick now (the timer calls it; tests too). Never fails: problems are
 * logged and retried at the next tick. */
void cluster_tick(struct berthd *d);
/* Leave: revoke the lease (the alive and election keys go at once, so the
 * others see this host leave without waiting for the TTL), stop the timer,
 * free. d->cluster is NULL afterwards. Nothing without a cluster. */
void cluster_stop(struct berthd *d);

/* The etcd client (NULL without a cluster): cstate.c shares the state
 * through it. */
struct etcd *cluster_etcd(struct berthd *d);

/* The lease this host holds now (0: none, or no cluster). */
int64_t cluster_lease(const struct berthd *d);

/* The container instances the other hosts registered (not this one), as
 * they wrote them, in id order, each with agentConnected = its alive key
 * exists: *docs is a new array. No cluster: 0 and an empty array. While
 * etcd is known to be unreachable (since the last tick) this fails at once
 * (-EAGAIN) rather than wait on it, so the API answers what is local. */
int cluster_instances(struct berthd *d, json_t **docs, struct berr **err);

/* api_instance.c: this host's ContainerInstance exactly as
 * DescribeContainerInstances answers it (without tags); new reference. */
json_t *api_instance_self(struct berthd *d, struct berr **err);

#endif
