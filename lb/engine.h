/* lb/engine.h - berth-lb's first engine: one epoll worker that serves the
 * listeners of a static JSON configuration (docs/lb.md, "Engine").
 *
 *     { "TargetResponseTimeoutSeconds": 60,
 *       "TargetGroups": [ { "Name": "web", "Targets": ["127.0.0.1:8001"],
 *                           "HealthCheckProtocol": "HTTP", "HealthCheckPath": "/",
 *                           ... ELBv2 target-group attributes ... } ],
 *       "Listeners": [ { "Port": 8080, "Protocol": "HTTP",
 *                        "Rules": [...], "DefaultActions": [...] },
 *                      { "Port": 9000, "Protocol": "TCP", "TargetGroup": "web" } ] }
 *
 * HTTP listeners parse requests with lb/http.c, choose an action with
 * lb/rules.c and a target with lb/target.c, and proxy the request and its
 * response (keep-alive with clients, a small pool of idle connections to
 * targets). TCP listeners choose a target by lb/flowhash.c and relay bytes.
 * Health checks run with real sockets, driven by lb/target.c. */
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
/* Serve until lb_engine_stop() is called (also from a signal handler). */
int lb_engine_run(struct lb_engine *e, struct berr **err);
void lb_engine_stop(struct lb_engine *e);
void lb_engine_free(struct lb_engine *e);

#endif
