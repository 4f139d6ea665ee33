/* runtime/daemon/discovery.h - ECS service discovery (issue 12): Cloud Map
 * private DNS namespaces and services through the servicediscovery API
 * (`X-Amz-Target: Route53AutoNaming_v20170314.<Op>`, SigV4 service
 * servicediscovery), and the DNS records of ECS services' tasks, which
 * berthd's responder (dns.c) serves on the bridge. docs/berthd.md,
 * "Service discovery". */
#ifndef BERTH_RUNTIME_DAEMON_DISCOVERY_H
#define BERTH_RUNTIME_DAEMON_DISCOVERY_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

struct berthd;
struct api_error;
struct api_task_needs;

#define API_SD_PREFIX "Route53AutoNaming_v20170314."

json_t *api_sd_create_private_dns_namespace(struct berthd *d, json_t *in, struct api_error *e);
json_t *api_sd_get_operation(struct berthd *d, json_t *in, struct api_error *e);
json_t *api_sd_get_namespace(struct berthd *d, json_t *in, struct api_error *e);
json_t *api_sd_list_namespaces(struct berthd *d, json_t *in, struct api_error *e);
json_t *api_sd_delete_namespace(struct berthd *d, json_t *in, struct api_error *e);
json_t *api_sd_create_service(struct berthd *d, json_t *in, struct api_error *e);
json_t *api_sd_get_service(struct berthd *d, json_t *in, struct api_error *e);
json_t *api_sd_list_services(struct berthd *d, json_t *in, struct api_error *e);
json_t *api_sd_delete_service(struct berthd *d, json_t *in, struct api_error *e);
json_t *api_sd_list_instances(struct berthd *d, json_t *in, struct api_error *e);

/* Start the DNS responder (berthd.json "dns") and publish what the store
 * holds. A failure is an error only with "dns": {"enabled": true}; by
 * default it is logged and berthd runs without the responder. */
int discovery_start(struct berthd *d, struct berr **err);
/* The responder's address for the tasks' resolv.conf ("10.213.0.1"), or
 * NULL when it does not run. */
const char *discovery_dns_address(const struct berthd *d);
void discovery_free(struct berthd *d);

/* CreateService/UpdateService: check `serviceRegistries` against the
 * task definition (needs) and the Cloud Map services; on success *out is
 * the normalized array (a new reference; empty when regs is absent). */
int discovery_check_registries(struct berthd *d, json_t *regs, const struct api_task_needs *needs,
			       json_t **out, struct api_error *e);

/* One task of an ECS service that may answer for it. */
struct discovery_task {
	const char *task_id;
	const char *ipv4;          /* the task's awsvpc address */
	const char *td_arn;        /* its task definition */
};

/* Publish the tasks of one ECS service (cluster/service) in the Cloud Map
 * services its registries name: replaces what it published before; n == 0
 * (or registries empty) withdraws everything it published. */
void discovery_publish(struct berthd *d, const char *cluster, const char *service, const json_t *registries,
		       const struct discovery_task *v, size_t n);

#endif
