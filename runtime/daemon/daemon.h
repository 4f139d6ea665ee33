/* runtime/daemon/daemon.h - berthd's process-wide state and configuration.
 *
 * berthd is one single-threaded event loop (server.c): listeners, API
 * connections and the control connections of the task shims are all
 * non-blocking fds in one epoll set; the SQLite store is used
 * synchronously from that loop. */
#ifndef BERTH_RUNTIME_DAEMON_DAEMON_H
#define BERTH_RUNTIME_DAEMON_DAEMON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "netns/tasknet.h"
#include "runtime/creds/issuer.h"
#include "runtime/creds/roles.h"

struct store;

struct berthd_key {
	char *access_key_id;
	char *secret_access_key;
};

/* /etc/berth/berthd.json (docs/berthd.md). Every path is configurable so
 * tests run against a private root. */
struct berthd_config {
	char *root;            /* "root": state, images, berth.db (/var/lib/berth) */
	char *run_dir;         /* "runDir": task bundles (/run/berth/tasks) */
	char *log_dir;         /* "logDir": container logs (/var/log/berth/tasks) */
	char *cgroup_root;     /* "cgroupRoot": berth's cgroup (/sys/fs/cgroup/berth) */
	char *socket_path;     /* "socket": root-only API socket (/run/berth/berthd.sock) */
	char *listen;          /* "listen": "IPV4:PORT" SigV4 TCP listener (loopback is the usual choice), or NULL */
	char *region;          /* "region" (us-east-1) */
	char *account_id;      /* "accountId" (000000000000), 12 digits */
	struct berthd_key *keys;   /* "credentials": [{accessKeyId, secretAccessKey}] */
	size_t n_keys;
	int64_t max_clock_skew;    /* "maxClockSkewSeconds": SigV4 X-Amz-Date window (300) */
	char *shim_path;       /* "shimPath": berth-shim (next to berthd by default) */
	bool no_limits;        /* "noLimits": run tasks without cgroups (marked so) */
	char *storage;         /* "storage": "loop" (default) or "tmpfs" */
	uint64_t pids_max;     /* "pidsMax" per task (0: the runtime's default) */
	bool have_net;         /* net is initialised (always, after a parse) */
	struct netns_config net;
	json_t *net_json;      /* "network" as written (handed to the shims), or NULL */
	/* the container instance this host registers as */
	int64_t instance_cpu;      /* "instance.cpu" CPU units (default: 1024 x online CPUs) */
	int64_t instance_memory;   /* "instance.memory" MiB (default: MemTotal) */
	json_t *instance_attributes;   /* "instance.attributes": {name: value} custom attributes */
	char *instance_az;         /* "instance.availabilityZone": the ecs.availability-zone
				    * attribute and the tasks' zone (default: <region>a) */
	/* image pulls at task start (docs/images.md), handed to each shim */
	char *berth_path;          /* "berthPath": the berth CLI (default: next to berth-shim) */
	char *pull_policy;         /* "imagePullPolicy": always | if-not-present (default) | never */
	char **insecure_registries;    /* "insecureRegistries": ["host:port", ...], NULL-terminated */
	char *registry_credentials;    /* "registryCredentials": berth's credentials file, or NULL */
	char *docker_config;       /* "dockerConfig": a docker config.json or "none", or NULL */
	int64_t pull_timeout;      /* "imagePullTimeoutSeconds" (0: the shim's default, 2 h) */
	/* task roles (docs/credentials.md) */
	struct creds_roles roles;  /* "roles", "roleCredentialsFile" */
	char *host_key_file;       /* "hostKeyFile" (<root>/host.key) */
	/* services (services.c): how often each service's controller steps */
	int64_t service_interval_ms;   /* "serviceIntervalMilliseconds" (1000; 100-60000) */
	int64_t autoscaling_period;    /* "autoscalingPeriodSeconds" (60): seconds per metric
				    * datapoint of target tracking (a test configuration shortens it) */
	int64_t schedule_seconds_per_minute;   /* "scheduleSecondsPerMinute" (60): a test
				    * configuration makes every schedule's minute shorter */
	char *lb_control;          /* "lbControlSocket": berth-lb's control socket, for services'
				    * loadBalancers; NULL: none */
	/* "dns": the responder for awsvpc and bridge tasks on the bridge's
	 * address (discovery.c, dns.c; docs/berthd.md, "Service discovery") */
	int dns_enabled;           /* "enabled": -1 (default: on, a failure to bind is a
				    * warning), 1 (a failure stops berthd), 0 (off) */
	char **dns_upstreams;      /* "upstreams": ["IP" | "IP:PORT", ...], NULL-terminated;
				    * NULL: the host's /etc/resolv.conf nameservers */
	int64_t dns_timeout_ms;    /* "forwardTimeoutMilliseconds" per upstream try (2000) */
	/* "cluster": join a cluster of berthds through etcd (cluster.c;
	 * docs/berthd.md, "Clusters (etcd)"). Without the block nothing of it runs. */
	char **cluster_etcd;       /* "etcd": endpoint URLs, NULL-terminated; NULL: no cluster */
	char *cluster_prefix;      /* "prefix": every key of the cluster under it (/berth) */
	int64_t cluster_lease_seconds; /* "leaseSeconds": liveness lease TTL (10; 2-300) */
	int64_t cluster_gone_seconds;  /* "goneSeconds": an instance disconnected this long is
					* gone, its tasks STOPPED (6 x leaseSeconds; >= it) */
	char *cluster_ca_file;     /* "caFile", "certFile", "keyFile": TLS for https:// */
	char *cluster_cert_file;   /*   endpoints (PEM paths); NULL: curl's defaults, */
	char *cluster_key_file;    /*   no client certificate */
};

void berthd_config_init(struct berthd_config *c);
/* Parse berthd.json (the whole document); unknown keys are errors that
 * name the key; missing ones keep their defaults. */
int berthd_config_parse(const char *what, const char *buf, size_t len, struct berthd_config *c,
			struct berr **err);
int berthd_config_load(const char *path, struct berthd_config *c, struct berr **err);
void berthd_config_free(struct berthd_config *c);

struct shimmgr;
struct svcctl;
struct aas_state;
struct sd_state;
struct cluster;
struct cstate;

/* Anything in the epoll set: epoll_data.ptr points at one of these, the
 * first member of the object that owns the fd. */
struct ev_handler {
	void (*fn)(struct ev_handler *h, uint32_t events);
};

struct berthd {
	struct berthd_config cfg;
	struct store *st;
	char instance_id[33];      /* 32 hex, stable across restarts (kept in the store) */
	char *instance_arn;        /* container-instance/default/<id> */
	struct shimmgr *shims;     /* running tasks' shims (shimmgr.c) */
	struct svcctl *svcs;       /* services' controllers (services.c); NULL: none yet */
	struct aas_state *aas;     /* scalable targets (autoscaling.c); NULL: not loaded yet */
	struct sd_state *sd;       /* service discovery and the DNS responder (discovery.c);
				    * NULL: not loaded yet */
	int init_fd;               /* sealed berth-init memfd, shared with every shim it
				    * starts (their fd 3); -1: none, each makes its own */
	int epfd;                  /* the event loop (server.c) */
	uint8_t host_key[CREDS_HOST_KEY_LEN];   /* mints and checks task credentials */
	bool have_host_key;        /* loaded (berthd_main); without it no session token verifies */
	struct cluster *cluster;   /* membership in an etcd cluster (cluster.c); NULL: none */
	struct cstate *cstate;     /* the state shared through etcd (cstate.c); NULL: none */
	bool cluster_leader;       /* with a cluster: this berthd holds the leadership as of
				    * its last tick (it runs the services controller) */
	double started_at;
	bool stopping;             /* SIGTERM: finish requests, then exit */
};

#endif
