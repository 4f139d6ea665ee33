/* runtime/shim/taskmeta.h - the shim's side of the task endpoint: the
 * listener in the task's network namespace, its credentials (minted with
 * the host key for a "berth" role, or a static role's keys) and the ECS
 * metadata v4 documents, and the environment that points containers at
 * them (docs/credentials.md, "The endpoint").
 *
 * Host-mode tasks share the host's network namespace: their endpoint
 * listens on 127.0.0.1 at a port the kernel picks, and the containers get
 * AWS_CONTAINER_CREDENTIALS_FULL_URI with AWS_CONTAINER_AUTHORIZATION_TOKEN
 * (credentials requests without the token are refused 401), and the
 * metadata URIs on that port.
 *
 * berthd passes config.json's "endpoint":
 *   {"taskArn", "clusterArn", "region", "launchType", "family", "revision",
 *    "availabilityZone"?, "hostKeyFile"?, "roleCredentialsFile"?, "cgroupPath"?,
 *    "role"?: {"roleArn", "source": "berth"|"static", "durationSeconds"}}
 */
#ifndef BERTH_RUNTIME_SHIM_TASKMETA_H
#define BERTH_RUNTIME_SHIM_TASKMETA_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"
#include "runtime/task/task.h"

/* The endpoint's listener, on the task namespace's loopback; connections
 * to 169.254.170.2:80 are redirected to it (netns_nft_redirect_local). */
#define SHIM_META_PORT 51679
#define SHIM_META_NFT_TABLE "berth-endpoint"

struct shim_meta;

/* Parse endpoint (config.json's "endpoint") for td and prepare: ids, the
 * containers' environment, the role's credentials source (the host key or
 * the static keys are read here, so a bad file fails the task before it
 * starts). */
int shim_meta_new(const json_t *endpoint, const struct task_def *td, struct shim_meta **out,
		  struct berr **err);
void shim_meta_free(struct shim_meta *m);

/* Per-container environment for trun_opts.container_env:
 * AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (with a role; host mode:
 * AWS_CONTAINER_CREDENTIALS_FULL_URI and AWS_CONTAINER_AUTHORIZATION_TOKEN),
 * ECS_CONTAINER_METADATA_URI_V4, ECS_CONTAINER_METADATA_URI, AWS_REGION,
 * AWS_DEFAULT_REGION, AWS_EXECUTION_ENV. */
const char *const *const *shim_meta_container_env(const struct shim_meta *m);

/* The epoll set the endpoint's fds join (the shim server's); a host-mode
 * endpoint, listening already, joins it now. */
void shim_meta_set_epfd(struct shim_meta *m, int epfd);

/* trun_opts.on_netns: in the task's namespace, put 169.254.170.2/32 on lo,
 * redirect its port 80 to SHIM_META_PORT and listen there. */
int shim_meta_on_netns(void *arg, int netns_fd, struct berr **err);

/* An event on fd: true when it was the endpoint's. */
bool shim_meta_on_fd(void *arg, int fd, uint32_t events);

/* The task as the shim last published it (shim_snapshot's "task"). */
void shim_meta_on_state(struct shim_meta *m, const json_t *task);

/* The documents, for tests: the credentials ECS-shaped, or NULL with
 * *message; metadata v4 for the task (container NULL) or a container. */
json_t *shim_meta_credentials(struct shim_meta *m, char **message);
json_t *shim_meta_task_doc(struct shim_meta *m);
json_t *shim_meta_container_doc(struct shim_meta *m, const char *container);
/* Docker-shaped stats of a container (or, container NULL, of every
 * container keyed by its DockerId) from its cgroup; NULL with *message
 * when the task has no cgroups (noLimits) or the cgroup cannot be read. */
json_t *shim_meta_stats(struct shim_meta *m, const char *container, char **message);

#endif
