/* runtime/daemon/services.h - ECS services in berthd: the API operations
 * (CreateService, UpdateService, DeleteService, DescribeServices,
 * ListServices; api.h) and the loop that drives each service's controller.
 *
 * The controller itself is scheduler/service.c, a pure state machine. This
 * side observes the service's tasks in the store (group "service:<name>"),
 * builds the one-host cluster model (this container instance, what its
 * tasks hold), steps the controller every serviceIntervalMilliseconds,
 * carries out what it says through the same paths as RunTask and StopTask
 * (stopCode ServiceSchedulerInitiated), and keeps the Service document and
 * the controller's state in the store, so a restarted berthd continues
 * every deployment where it was. docs/berthd.md, "Services". */
#ifndef BERTH_RUNTIME_DAEMON_SERVICES_H
#define BERTH_RUNTIME_DAEMON_SERVICES_H

#include <jansson.h>

#include "common/error.h"

struct berthd;
struct svcctl;

/* Load every service that is not INACTIVE from the store and start the
 * step timer (in d's event loop). A service whose saved state does not
 * load is logged and left as it is in the store (not driven). */
int svcctl_new(struct berthd *d, struct svcctl **out, struct berr **err);
void svcctl_free(struct svcctl *c);
/* One step of every service now (the timer calls it; tests too). In a
 * cluster only the leader steps: elsewhere this does nothing. */
void svcctl_step_all(struct svcctl *c);
/* A service's record as another host of the cluster wrote it (cstate.c,
 * after the store has it): this host's controller takes it, in place; an
 * INACTIVE one is dropped, a new one added. */
int svcctl_reload(struct berthd *d, const json_t *doc, const json_t *state, struct berr **err);

#endif
