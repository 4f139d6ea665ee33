/* runtime/daemon/lbclient.h - berthd as a client of berth-lb's control
 * socket (docs/lb.md, "Control API"): one JSON request per line, one
 * answer per line. Used by services.c to register service tasks as
 * targets and to read their health. */
#ifndef BERTH_RUNTIME_DAEMON_LBCLIENT_H
#define BERTH_RUNTIME_DAEMON_LBCLIENT_H

#include <jansson.h>

#include "common/error.h"

/* Send req to the control socket at path and read the answer (2 s for
 * each of connect, send and receive: berth-lb answers from its event
 * loop). 0 with *resp (new reference) when the answer says "Ok": true;
 * an answer with "Ok": false is an error "berth-lb: CODE: MESSAGE" and
 * *resp holds it too (for the code). */
int lbc_call(const char *path, const json_t *req, json_t **resp, struct berr **err);

/* "arn:aws:elasticloadbalancing:REGION:ACCOUNT:targetgroup/NAME/ID" ->
 * NAME into buf; a bare name is taken as it is. -1 when it is neither. */
int lbc_target_group_name(const char *arn, char *buf, size_t len);

#endif
