/* runtime/shim/reclaim.c - free what a dead shim's task still holds
 * (reclaim.h has the list and the precondition). */
#include "runtime/shim/reclaim.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgroups/cgroup.h"
#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "netns/ipam.h"
#include "netns/nft.h"
#include "netns/nl.h"
#include "netns/ports.h"
#include "rootfs/ephemeral.h"
#include "rootfs/store.h"
#include "runtime/shim/shim.h"

#define DEFAULT_CG_TIMEOUT_MS 2000
/* a loop device still bound while the dead shim's mounts are released */
#define STORAGE_TRIES 10
#define STORAGE_RETRY_US 100000

/* Every step's failure, in order: "cgroup: ...; network: ..." */
struct errs {
	int rc;
	char *msg;
};

static void errs_add(struct errs *e, const char *step, struct berr **err)
{
	char *m = xasprintf("%s%s%s: %s", e->msg ? e->msg : "", e->msg ? "; " : "", step,
			    berr_msg(*err));

	if (!e->rc)
		e->rc = berr_rc(*err);
	free(e->msg);
	e->msg = m;
	berr_clear(err);
}

static bool exists(const char *path, struct errs *e, const char *step)
{
	struct stat st;
	struct berr *err = NULL;

	if (lstat(path, &st) == 0)
		return true;
	if (errno != ENOENT) {
		berr_set(&err, errno, "stat %s", path);
		errs_add(e, step, &err);
	}
	return false;
}

/* Kill what is left in the task's cgroup (pidMode host containers outlive
 * the shim), wait for it to leave, remove the subtree deepest first. */
static void reclaim_cgroup(const struct trun_reclaim_opts *o, int timeout,
			   struct trun_reclaim_result *res, struct errs *e)
{
	cleanup_free char *path = fs_path_join(o->cgroup_root, o->task_id);
	struct berr *err = NULL;
	int pop;

	if (!exists(path, e, "cgroup"))
		return;
	pop = cg_populated(path, NULL);
	if (pop != 0) {
		/* populated, or cannot tell: cgroup.kill is harmless on an empty one */
		if (cg_kill(path, &err) < 0)
			errs_add(e, "cgroup", &err);
		else if (pop > 0)
			res->killed = true;
	}
	if (cg_wait_empty(path, timeout, &err) < 0) {
		/* processes stay (rmdir would fail with EBUSY): leave it whole */
		errs_add(e, "cgroup", &err);
		return;
	}
	if (cg_remove(path, timeout, &err) < 0) {
		errs_add(e, "cgroup", &err);
		return;
	}
	res->cgroup = true;
}

/* The task's addresses (IPAM owner = task id): veth host end, set members,
 * then the address; its host ports. */
static void reclaim_network(const struct trun_reclaim_opts *o, struct trun_reclaim_result *res,
			    struct errs *e)
{
	const struct netns_config *c = o->net;
	cleanup_free char *ipam_dir = NULL, *ports_dir = NULL;
	cleanup_free struct netns_ipam_entry *ents = NULL;
	cleanup_free const char **groups = NULL;
	struct netns_ipam *ipam = NULL;
	struct berr *err = NULL;
	size_t n = 0, n_groups = 0;

	if (!c || !c->state_dir)
		return;
	ipam_dir = xasprintf("%s/ipam", c->state_dir);
	ports_dir = xasprintf("%s/ports", c->state_dir);

	if (exists(ipam_dir, e, "network")) {
		if (netns_ipam_open(ipam_dir, &c->subnet, &ipam, &err) < 0 ||
		    netns_ipam_list(ipam, &ents, &n, &err) < 0) {
			errs_add(e, "network", &err);
			n = 0;
		}
		/* every configured group, and the two every configuration has
		 * (a configuration that was never parsed may list none): sets
		 * without the address are skipped */
		groups = xcalloc(c->groups.n_groups + 3, sizeof(*groups));
		for (size_t i = 0; i < c->groups.n_groups; i++)
			groups[n_groups++] = c->groups.groups[i].name;
		if (!netns_sg_find(&c->groups, NETNS_SG_DEFAULT))
			groups[n_groups++] = NETNS_SG_DEFAULT;
		if (!netns_sg_find(&c->groups, NETNS_BRIDGE_GROUP))
			groups[n_groups++] = NETNS_BRIDGE_GROUP;
		for (size_t i = 0; i < n; i++) {
			char ip[NETNS_IP_STRLEN];
			bool veth_gone = true;

			if (strcmp(ents[i].owner, o->task_id))
				continue;
			netns_ip_str(ents[i].addr, ip);
			/* a netns something still holds keeps its veth, and the
			 * address on it: remove that before the address is free */
			{
				cleanup_netns_nl struct netns_nl *nl = NULL;
				char host_if[16];

				snprintf(host_if, sizeof(host_if), "bv%.13s", o->task_id);
				if (netns_nl_open(&nl, &err) < 0) {
					errs_add(e, "network", &err);
					veth_gone = false;
				} else if (netns_nl_ifindex(nl, host_if, NULL) >= 0) {
					if (netns_nl_link_del(nl, host_if, &err) < 0) {
						errs_add(e, "network", &err);
						veth_gone = false;
					} else {
						res->veth = true;
					}
				}
			}
			if (netns_nft_members_del(c->table, ents[i].addr, groups, n_groups, &err) < 0) {
				berr_wrap(&err, "remove %s from the security groups' sets", ip);
				errs_add(e, "network", &err);
				continue;   /* keep the address: its rules would follow a new owner */
			}
			if (!veth_gone)
				continue;
			if (netns_ipam_release(ipam, ents[i].addr, o->task_id, &err) < 0) {
				errs_add(e, "network", &err);
				continue;
			}
			if (!res->n_ips++)
				snprintf(res->ip, sizeof(res->ip), "%s", ip);
		}
		netns_ipam_close(ipam);
	}

	if (exists(ports_dir, e, "network")) {
		struct netns_ports *p = NULL;
		int r;

		if (netns_ports_open(ports_dir, &c->ports, &p, &err) < 0) {
			errs_add(e, "network", &err);
			return;
		}
		r = netns_ports_release_owner(p, o->task_id, &err);
		netns_ports_close(p);
		if (r < 0)
			errs_add(e, "network", &err);
		else
			res->n_ports += r;
	}
}

static void reclaim_lease(const struct trun_reclaim_opts *o, struct trun_reclaim_result *res,
			  struct errs *e)
{
	cleanup_free char *images = xasprintf("%s/images", o->root);
	cleanup_free char *lease = xasprintf("%s/leases/%s.json", images, o->task_id);
	struct rootfs_store *s = NULL;
	struct berr *err = NULL;
	int r;

	if (!exists(lease, e, "image lease"))
		return;
	if (rootfs_store_open(images, &s, &err) < 0) {
		errs_add(e, "image lease", &err);
		return;
	}
	r = rootfs_store_release(s, o->task_id, &err);
	rootfs_store_close(s);
	if (r < 0)
		errs_add(e, "image lease", &err);
	else
		res->lease = true;
}

static void reclaim_storage(const struct trun_reclaim_opts *o, struct trun_reclaim_result *res,
			    struct errs *e)
{
	cleanup_free char *base = xasprintf("%s/ephemeral", o->root);
	cleanup_free char *entry = xasprintf("%s/%s", base, o->task_id);
	struct rootfs_ephemeral_config cfg;
	struct berr *err = NULL;
	bool had;
	int r = 0;

	rootfs_ephemeral_config_init(&cfg, base);
	cfg.mountinfo_path = o->mountinfo_path;
	cfg.sys_block_path = o->sys_block_path;
	had = exists(entry, e, "storage");
	/* also without the entry: a loop device may still be bound to it */
	for (int i = 0; i < STORAGE_TRIES; i++) {
		berr_clear(&err);
		r = rootfs_ephemeral_remove(&cfg, o->task_id, &err);
		if (r == 0 || berr_rc(err) != -EBUSY)
			break;
		usleep(STORAGE_RETRY_US);
	}
	if (r < 0)
		errs_add(e, "storage", &err);
	else if (had)
		res->storage = true;
}

/* taskrun's own directory and the socket and pid files of the dead shim;
 * config.json, status.json and shim.log stay. */
static void reclaim_task_dir(const struct trun_reclaim_opts *o, struct trun_reclaim_result *res,
			     struct errs *e)
{
	cleanup_free char *bundle = xasprintf("%s/%s", o->run_dir, o->task_id);
	cleanup_free char *dir = xasprintf("%s/%s", bundle, o->task_id);
	static const char *const stale[] = { SHIM_SOCKET_FILE, SHIM_PID_FILE };
	struct berr *err = NULL;

	if (exists(dir, e, "task dir")) {
		if (fs_rm_rf_at(AT_FDCWD, dir, &err) < 0)
			errs_add(e, "task dir", &err);
		else
			res->task_dir = true;
	}
	for (size_t i = 0; i < sizeof(stale) / sizeof(stale[0]); i++) {
		cleanup_free char *p = xasprintf("%s/%s", bundle, stale[i]);

		if (unlink(p) < 0 && errno != ENOENT) {
			berr_set(&err, errno, "remove %s", p);
			errs_add(e, "task dir", &err);
		}
	}
}

bool trun_shim_answers(const char *bundle)
{
	cleanup_free char *p = xasprintf("%s/%s", bundle, SHIM_SOCKET_FILE);
	int fd = shim_connect_path(p, NULL);

	if (fd >= 0) {
		close(fd);
		return true;
	}
	return fd == -EAGAIN;
}

int trun_reclaim(const struct trun_reclaim_opts *o, struct trun_reclaim_result *res,
		 struct berr **err)
{
	int timeout = o->cgroup_timeout_ms > 0 ? o->cgroup_timeout_ms : DEFAULT_CG_TIMEOUT_MS;
	struct errs e = { 0 };
	int r;

	memset(res, 0, sizeof(*res));
	if (!o->task_id || !o->root || !o->run_dir)
		return berr_set(err, EINVAL, "reclaim: task id, root and runDir are required");
	if ((r = rootfs_ephemeral_check_task_id(o->task_id, err)) < 0)
		return berr_wrap(err, "reclaim"), r;
	{
		cleanup_free char *bundle = xasprintf("%s/%s", o->run_dir, o->task_id);

		if (trun_shim_answers(bundle))
			return berr_set(err, EBUSY, "reclaim task %s: its shim answers on %s/%s: the task "
					"is alive, nothing reclaimed", o->task_id, bundle, SHIM_SOCKET_FILE);
	}
	if (o->cgroup_root)
		reclaim_cgroup(o, timeout, res, &e);
	reclaim_network(o, res, &e);
	reclaim_storage(o, res, &e);
	reclaim_lease(o, res, &e);
	reclaim_task_dir(o, res, &e);
	if (e.msg) {
		/* each step's message has its strerror already: keep the code only */
		berr_set(err, 0, "reclaim task %s: %s", o->task_id, e.msg);
		if (err && *err)
			(*err)->code = e.rc < 0 ? -e.rc : 0;
		free(e.msg);
		return e.rc < 0 ? e.rc : -1;
	}
	return 0;
}

char *trun_reclaim_describe(const struct trun_reclaim_result *res)
{
	char buf[256];
	size_t n = 0;

#define ADD(...) n += (size_t)snprintf(buf + n, sizeof(buf) - n, __VA_ARGS__)
	buf[0] = '\0';
	if (res->cgroup)
		ADD("%scgroup%s", n ? ", " : "", res->killed ? " (processes killed)" : "");
	if (res->n_ips)
		ADD("%sip %s%s", n ? ", " : "", res->ip, res->n_ips > 1 ? " (and more)" : "");
	if (res->veth)
		ADD("%sveth", n ? ", " : "");
	if (res->n_ports)
		ADD("%s%d host port%s", n ? ", " : "", res->n_ports, res->n_ports == 1 ? "" : "s");
	if (res->lease)
		ADD("%simage lease", n ? ", " : "");
	if (res->storage)
		ADD("%sephemeral storage", n ? ", " : "");
	if (res->task_dir)
		ADD("%stask dir", n ? ", " : "");
#undef ADD
	return xstrdup(n ? buf : "nothing left");
}
