/* lb/engine.h - berth-lb's engine: an epoll worker that serves the
 * listeners of a JSON configuration (docs/lb.md, "Engine"), changed at run
 * time over a control socket; more workers follow a first one.
 *
 *     { "TargetResponseTimeoutSeconds": 60,
 *       "TargetGroups": [ { "Name": "web", "Targets": ["127.0.0.1:8001"],
 *                           "HealthCheckProtocol": "HTTP", "HealthCheckPath": "/",
 *                           ... ELBv2 target-group attributes ... } ],
 *       "Listeners": [ { "Port": 8080, "Protocol": "HTTP",
 *                        "Rules": [...], "DefaultActions": [...] },
 *                      { "Port": 9000, "Protocol": "TCP", "TargetGroup": "web" },
 *                      { "Port": 5353, "Protocol": "UDP", "TargetGroup": "web" } ] }
 *
 * HTTP listeners parse requests with lb/http.c, choose an action with
 * lb/rules.c and a target with lb/target.c, and proxy the request and its
 * response (keep-alive with clients, a small pool of idle connections to
 * targets, Upgrade tunnels). TCP and UDP listeners choose a target by
 * lb/flowhash.c and relay bytes or datagrams. Health checks run with real
 * sockets, driven by lb/target.c. */
#ifndef BERTH_LB_ENGINE_H
#define BERTH_LB_ENGINE_H

#include <jansson.h>

#include "common/error.h"

struct lb_engine;

/* Build an engine from a configuration document and bind its listeners
 * (SO_REUSEADDR and SO_REUSEPORT, so more workers can bind the same ports
 * later). Errors name the JSON path. */
int lb_engine_new(const json_t *cfg, struct lb_engine **out, struct berr **err);
int lb_engine_load_file(const char *path, struct lb_engine **out, struct berr **err);
/* Another worker serving the same configuration cfg (its own epoll,
 * listening sockets bound with SO_REUSEPORT, connections and pools) that
 * follows leader: it takes every change made over the leader's control
 * socket (the leader waits until all followers applied one before it
 * answers) and the target health the leader's probes find; the leader's
 * metrics and stats add up all workers. Run each worker in its own thread;
 * a follower's loop returns only after its leader's did. Free the
 * followers before the leader. */
int lb_engine_new_worker(const json_t *cfg, struct lb_engine *leader, struct lb_engine **out,
			 struct berr **err);
/* Serve until lb_engine_stop() is called (also from a signal handler). */
int lb_engine_run(struct lb_engine *e, struct berr **err);
void lb_engine_stop(struct lb_engine *e);
/* The leader's loop will not run (again): its followers' loops may return
 * once stopped. lb_engine_run marks it itself when it returns. */
void lb_engine_mark_done(struct lb_engine *e);
/* The control API on a unix socket at path (mode 0600; a stale socket there
 * is replaced): one JSON request per line, one JSON answer per line
 * (docs/lb.md, "Control API"). */
int lb_engine_control(struct lb_engine *e, const char *path, struct berr **err);
/* A Prometheus text endpoint on ip:port (any GET answers the metrics). */
int lb_engine_metrics(struct lb_engine *e, const char *ipport, struct berr **err);
void lb_engine_free(struct lb_engine *e);

#endif
