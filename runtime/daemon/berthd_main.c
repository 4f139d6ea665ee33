/* runtime/daemon/berthd_main.c - berthd: the ECS API daemon. */
#include "runtime/daemon/api.h"
#include "runtime/daemon/cluster.h"
#include "runtime/daemon/cstate.h"
#include "runtime/daemon/discovery.h"
#include "runtime/daemon/daemon.h"
#include "runtime/daemon/server.h"
#include "runtime/daemon/services.h"
#include "runtime/daemon/shimmgr.h"
#include "runtime/daemon/store.h"
#include "runtime/container/launch.h"

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/xalloc.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_CONFIG "/etc/berth/berthd.json"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: berthd [--config FILE] [--log-level LEVEL] [--check]\n"
		"\n"
		"berthd serves the Amazon ECS API (JSON 1.1) for this host: task definitions,\n"
		"clusters, tasks (each run by its own berth-shim), container instances. The\n"
		"real AWS CLI and boto3 drive it; `berth` verbs are its clients.\n"
		"\n"
		"Options:\n"
		"  -c, --config FILE     berthd.json (default " DEFAULT_CONFIG "; the built-in\n"
		"                        defaults when that file does not exist)\n"
		"  -l, --log-level LVL   error, warn, info (default) or debug\n"
		"      --check           check the configuration and exit\n"
		"  -h, --help            this help\n"
		"\n"
		"Tasks survive a restart of berthd (their shims are not its children): a new\n"
		"berthd re-adopts them. See docs/berthd.md.\n");
}

/* berth-shim next to this program (installed and build layouts alike) */
static char *default_shim_path(void)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	if (n <= 0)
		return xstrdup("/usr/libexec/berth/berth-shim");
	self[n] = 0;
	slash = strrchr(self, '/');
	*slash = 0;
	return xasprintf("%s/berth-shim", self);
}

static int make_dirs(const struct berthd_config *c, struct berr **err)
{
	const char *dirs[] = { c->root, c->run_dir, c->log_dir };
	int r;

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		if ((r = fs_mkdir_p(dirs[i], 0700, err)) < 0)
			return r;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "check", no_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	cleanup_berr struct berr *err = NULL;
	struct berthd d = { .epfd = -1, .init_fd = -1 };
	const char *config = NULL;
	cleanup_free char *dbpath = NULL;
	bool check = false;
	int c, lvl, rc = 1;

	blog_init("berthd");
	blog_set_timestamps(true);
	while ((c = getopt_long(argc, argv, "c:l:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': config = optarg; break;
		case 'l':
			lvl = blog_level_parse(optarg);
			if (lvl < 0) {
				log_error("--log-level %s: use error, warn, info or debug", optarg);
				return 2;
			}
			blog_set_level((enum blog_level)lvl);
			break;
		case 'C': check = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		log_error("unexpected argument \"%s\" (see berthd --help)", argv[optind]);
		return 2;
	}

	berthd_config_init(&d.cfg);
	if (!config && access(DEFAULT_CONFIG, F_OK) < 0) {
		if (berthd_config_parse("built-in defaults", "{}", 2, &d.cfg, &err) < 0)
			goto out;
	} else if (berthd_config_load(config ? config : DEFAULT_CONFIG, &d.cfg, &err) < 0) {
		goto out;
	}
	if (!d.cfg.shim_path)
		d.cfg.shim_path = default_shim_path();
	if (access(d.cfg.shim_path, X_OK) < 0) {
		berr_set(&err, errno, "shimPath %s: berth-shim is not there or not executable",
			 d.cfg.shim_path);
		goto out;
	}
	if (creds_roles_load_static(&d.cfg.roles, &err) < 0)
		goto out;
	if (check) {
		printf("berthd: configuration %s is valid\n", config ? config : DEFAULT_CONFIG);
		rc = 0;
		goto out;
	}
	if (geteuid() != 0) {
		berr_set(&err, EPERM, "berthd runs as root (it creates namespaces, cgroups and "
			 "mounts for its tasks)");
		goto out;
	}
	umask(0022);
	if (make_dirs(&d.cfg, &err) < 0)
		goto out;
	if (!d.cfg.host_key_file)
		d.cfg.host_key_file = xasprintf("%s/host.key", d.cfg.root);
	if (creds_host_key_load_or_create(d.cfg.host_key_file, d.host_key, &err) < 0)
		goto out;
	d.have_host_key = true;
	d.started_at = api_now();
	dbpath = xasprintf("%s/berth.db", d.cfg.root);
	if (store_open(dbpath, &d.st, &err) < 0)
		goto out;
	if (api_bootstrap(&d, &err) < 0)
		goto out;
	if (server_init(&d, &err) < 0)
		goto out;
	/* join the etcd cluster, if configured (after the bootstrap: the instance id) */
	if (cluster_start(&d, &err) < 0)
		goto out;
	/* before the shims: restored tasks' services publish into it */
	if (discovery_start(&d, &err) < 0)
		goto out;
	{
		/* one sealed copy of berth-init for every task this berthd starts */
		cleanup_berr struct berr *ierr = NULL;

		d.init_fd = ctr_init_fd(&ierr);
		if (d.init_fd < 0) {
			log_warn("%s: each shim makes its own copy", berr_msg(ierr));
			d.init_fd = -1;
		}
	}
	if (shimmgr_new(&d, &d.shims, &err) < 0 || shimmgr_restore(d.shims, &err) < 0)
		goto out;
	log_info("container instance %s; %zu task%s running", d.instance_arn,
		 shimmgr_count(d.shims), shimmgr_count(d.shims) == 1 ? "" : "s");
	/* after the shims (its commands start tasks), before the services (they
	 * see the whole cluster's tasks) */
	if (cstate_start(&d, &err) < 0)
		goto out;
	/* after the shims: the services find their tasks as they are */
	/* (in a cluster the shared services may have made it already) */
	if (!d.svcs && svcctl_new(&d, &d.svcs, &err) < 0)
		goto out;
	if (server_run(&d, &err) < 0)
		goto out;
	rc = 0;
out:
	if (err)
		log_error("%s", berr_msg(err));
	cstate_stop(&d);
	cluster_stop(&d);
	svcctl_free(d.svcs);
	autoscaling_free(&d);
	discovery_free(&d);
	shimmgr_free(d.shims);
	server_fini(&d);
	if (d.st)
		store_close(d.st);
	free(d.instance_arn);
	berthd_config_free(&d.cfg);
	explicit_bzero(d.host_key, sizeof(d.host_key));
	return rc;
}
