/* Unit tests for runtime/shim/reclaim.c: what a dead shim's task leaves on
 * the host, freed from disk.
 *
 * Each test builds a fake tree in a temp dir as a task that died would
 * leave it (a fake cgroupfs of regular files, cg_set_fake_fs; an image
 * store with leases; an ephemeral storage entry without a mount; a bundle
 * with taskrun's directory, status.json, shim.log, a stale shim.sock and
 * shim.pid), plus the same things of a second task that must survive, and
 * checks what trun_reclaim frees, that a second call changes nothing and
 * succeeds, that a live shim makes it refuse, and that a failing step is
 * reported without stopping the others. The network test runs in a forked
 * child with a network namespace of its own (a user namespace too when
 * not root): the berth nftables table, IPAM, host ports and a veth named
 * as taskrun names it, read back with nft(8) and ip(8). Nothing outside
 * the temp dir and that namespace is touched. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroups/cgroup.h"
#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/json.h"
#include "common/xalloc.h"
#include "netns/ipam.h"
#include "netns/nft.h"
#include "netns/ports.h"
#include "netns/tasknet.h"
#include "rootfs/digest.h"
#include "rootfs/store.h"
#include "runtime/shim/reclaim.h"
#include "runtime/shim/shim.h"

#define TID   "0123456789abcdef0123456789abcdef"
#define OTHER "fedcba9876543210fedcba9876543210"
#define SKIP_STATUS 77

static char tmpdir[256];

static char *p_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *p_(const char *fmt, ...)
{
	va_list ap;
	char *rel, *r;

	va_start(ap, fmt);
	assert_true(vasprintf(&rel, fmt, ap) >= 0);
	va_end(ap);
	r = xasprintf("%s/%s", tmpdir, rel);
	free(rel);
	return r;
}

static bool present(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static void put(const char *path, const char *text)
{
	struct berr *err = NULL;
	cleanup_free char *dir = xstrdup(path);

	*strrchr(dir, '/') = '\0';
	if (fs_mkdir_p(dir, 0755, &err) < 0 ||
	    fs_write_file_atomic(path, text, strlen(text), 0644, &err) < 0)
		fail_msg("%s", berr_msg(err));
}

static char *get(const char *path)
{
	char *buf = NULL;
	size_t len;

	if (fs_read_file(path, &buf, &len, 1 << 20, NULL) < 0)
		return NULL;
	return buf;
}

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "%s/berth-reclaim-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(tmpdir));
	cg_set_fake_fs(true);
	return 0;
}

static int teardown(void **state)
{
	struct berr *err = NULL;

	(void)state;
	if (fs_rm_rf_at(AT_FDCWD, tmpdir, &err) < 0) {
		fprintf(stderr, "cleanup %s: %s\n", tmpdir, berr_msg(err));
		berr_free(err);
	}
	cg_set_fake_fs(false);
	return 0;
}

/* A fake cgroup dir with the files reclaim touches. */
static void fake_cgroup(const char *path, bool populated)
{
	cleanup_free char *kill = xasprintf("%s/cgroup.kill", path);
	cleanup_free char *ev = xasprintf("%s/cgroup.events", path);
	cleanup_free char *procs = xasprintf("%s/cgroup.procs", path);

	put(kill, "");
	put(ev, populated ? "populated 1\nfrozen 0\n" : "populated 0\nfrozen 0\n");
	put(procs, "");
}

static void lease(const char *holder)
{
	cleanup_free char *images = p_("root/images");
	struct rootfs_store *s = NULL;
	struct rootfs_digest d;
	struct berr *err = NULL;

	if (rootfs_store_open(images, &s, &err) < 0 ||
	    rootfs_digest_parse("sha256:1111111111111111111111111111111111111111111111111111111111111111",
				"manifest", &d, &err) < 0 ||
	    rootfs_store_lease(s, holder, &d, &err) < 0)
		fail_msg("%s", berr_msg(err));
	rootfs_store_close(s);
}

/* Everything a dead task `id` leaves (cgroups, lease, storage, bundle). */
static void leave_task(const char *id, bool populated)
{
	cleanup_free char *cg = p_("cg/%s", id);
	cleanup_free char *leaf = p_("cg/%s/web", id);
	cleanup_free char *pause = p_("cg/%s/~pause", id);
	cleanup_free char *img = p_("root/ephemeral/%s/disk.img", id);
	cleanup_free char *fsd = p_("root/ephemeral/%s/fs/c/web/upper/file", id);
	cleanup_free char *cfg = p_("run/%s/config.json", id);
	cleanup_free char *status = p_("run/%s/status.json", id);
	cleanup_free char *log = p_("run/%s/shim.log", id);
	cleanup_free char *sock = p_("run/%s/shim.sock", id);
	cleanup_free char *pid = p_("run/%s/shim.pid", id);
	cleanup_free char *hosts = p_("run/%s/%s/hosts", id, id);
	cleanup_free char *rootfs = p_("run/%s/%s/c/web/rootfs/.keep", id, id);
	cleanup_free char *nsfile = p_("run/%s/%s/netns", id, id);

	fake_cgroup(cg, populated);
	fake_cgroup(leaf, populated);
	fake_cgroup(pause, false);
	lease(id);
	put(img, "sparse");
	put(fsd, "data");
	put(cfg, "{}\n");
	put(status, "{\"type\":\"state\",\"seq\":3,\"task\":{\"lastStatus\":\"RUNNING\"}}\n");
	put(log, "shim log\n");
	put(sock, "");   /* a stale socket file: a regular file answers nothing */
	put(pid, "12345\n");
	put(hosts, "127.0.0.1 localhost\n");
	put(rootfs, "");
	put(nsfile, "");
}

static struct trun_reclaim_opts opts_for(const char *id, char **root, char **run, char **cg)
{
	*root = p_("root");
	*run = p_("run");
	*cg = p_("cg");
	return (struct trun_reclaim_opts){ .task_id = id, .root = *root, .run_dir = *run,
					   .cgroup_root = *cg, .cgroup_timeout_ms = 300 };
}

/* What must be gone after a reclaim of `id`, and what must stay. */
static void check_reclaimed(const char *id)
{
	cleanup_free char *cg = p_("cg/%s", id);
	cleanup_free char *lease_file = p_("root/images/leases/%s.json", id);
	cleanup_free char *eph = p_("root/ephemeral/%s", id);
	cleanup_free char *taskdir = p_("run/%s/%s", id, id);
	cleanup_free char *sock = p_("run/%s/shim.sock", id);
	cleanup_free char *pid = p_("run/%s/shim.pid", id);
	cleanup_free char *cfg = p_("run/%s/config.json", id);
	cleanup_free char *status = p_("run/%s/status.json", id);
	cleanup_free char *log = p_("run/%s/shim.log", id);

	assert_false(present(cg));
	assert_false(present(lease_file));
	assert_false(present(eph));
	assert_false(present(taskdir));
	assert_false(present(sock));
	assert_false(present(pid));
	assert_true(present(cfg));
	assert_true(present(status));
	assert_true(present(log));
}

static void check_untouched(const char *id)
{
	cleanup_free char *leaf = p_("cg/%s/web/cgroup.kill", id);
	cleanup_free char *lease_file = p_("root/images/leases/%s.json", id);
	cleanup_free char *img = p_("root/ephemeral/%s/disk.img", id);
	cleanup_free char *hosts = p_("run/%s/%s/hosts", id, id);
	cleanup_free char *sock = p_("run/%s/shim.sock", id);
	cleanup_free char *kill = NULL;

	assert_true(present(leaf));
	kill = get(leaf);
	assert_non_null(kill);
	assert_string_equal(kill, "");   /* never killed */
	assert_true(present(lease_file));
	assert_true(present(img));
	assert_true(present(hosts));
	assert_true(present(sock));
}

static void test_reclaim_and_again(void **state)
{
	cleanup_free char *root = NULL, *run = NULL, *cg = NULL, *d = NULL;
	struct trun_reclaim_opts o = opts_for(TID, &root, &run, &cg);
	struct trun_reclaim_result res;
	struct berr *err = NULL;
	cleanup_free char *desc = NULL;

	(void)state;
	leave_task(TID, false);
	leave_task(OTHER, false);
	if (trun_reclaim(&o, &res, &err) < 0)
		fail_msg("%s", berr_msg(err));
	assert_true(res.cgroup);
	assert_false(res.killed);       /* it said populated 0 */
	assert_true(res.lease);
	assert_true(res.storage);
	assert_true(res.task_dir);
	assert_int_equal(res.n_ips, 0);   /* no network configured */
	check_reclaimed(TID);
	check_untouched(OTHER);
	desc = trun_reclaim_describe(&res);
	assert_string_equal(desc, "cgroup, image lease, ephemeral storage, task dir");

	/* again: nothing left, no error, nothing else touched */
	if (trun_reclaim(&o, &res, &err) < 0)
		fail_msg("second call: %s", berr_msg(err));
	assert_false(res.cgroup || res.killed || res.lease || res.storage || res.task_dir || res.veth);
	assert_int_equal(res.n_ips, 0);
	assert_int_equal(res.n_ports, 0);
	d = trun_reclaim_describe(&res);
	assert_string_equal(d, "nothing left");
	check_reclaimed(TID);
	check_untouched(OTHER);
}

/* Nothing at all (not even the directories): success, nothing done. */
static void test_nothing_there(void **state)
{
	cleanup_free char *root = NULL, *run = NULL, *cg = NULL;
	struct trun_reclaim_opts o = opts_for(TID, &root, &run, &cg);
	struct trun_reclaim_result res;
	struct berr *err = NULL;

	(void)state;
	if (trun_reclaim(&o, &res, &err) < 0)
		fail_msg("%s", berr_msg(err));
	assert_false(res.cgroup || res.lease || res.storage || res.task_dir);
	assert_false(present(root));   /* nothing created either */
	assert_false(present(cg));
}

/* A shim answering on shim.sock: EBUSY, and nothing touched. */
static void test_live_shim_refused(void **state)
{
	cleanup_free char *root = NULL, *run = NULL, *cg = NULL;
	cleanup_free char *sock = p_("run/%s/shim.sock", TID);
	struct trun_reclaim_opts o = opts_for(TID, &root, &run, &cg);
	struct trun_reclaim_result res;
	struct berr *err = NULL;
	int lfd;

	(void)state;
	leave_task(TID, false);
	assert_int_equal(unlink(sock), 0);
	lfd = shim_listen(sock, &err);
	if (lfd < 0)
		fail_msg("%s", berr_msg(err));
	assert_int_equal(trun_reclaim(&o, &res, &err), -EBUSY);
	assert_non_null(strstr(berr_msg(err), "answers"));
	berr_clear(&err);
	close(lfd);
	check_untouched(TID);

	/* the listener gone (the socket file stays, as after kill -9): done */
	if (trun_reclaim(&o, &res, &err) < 0)
		fail_msg("%s", berr_msg(err));
	check_reclaimed(TID);
}

/* Processes that do not leave the cgroup: cgroup.kill is written, the wait
 * fails and is reported, every other step still runs; once it is empty a
 * second call removes the cgroup. */
static void test_step_failure_reported(void **state)
{
	cleanup_free char *root = NULL, *run = NULL, *cg = NULL;
	cleanup_free char *kill = p_("cg/%s/cgroup.kill", TID);
	cleanup_free char *ev = p_("cg/%s/cgroup.events", TID);
	cleanup_free char *leafev = p_("cg/%s/web/cgroup.events", TID);
	cleanup_free char *lease_file = p_("root/images/leases/%s.json", TID);
	cleanup_free char *eph = p_("root/ephemeral/%s", TID);
	cleanup_free char *taskdir = p_("run/%s/%s", TID, TID);
	cleanup_free char *k = NULL;
	struct trun_reclaim_opts o = opts_for(TID, &root, &run, &cg);
	struct trun_reclaim_result res;
	struct berr *err = NULL;

	(void)state;
	leave_task(TID, true);
	assert_true(trun_reclaim(&o, &res, &err) < 0);
	assert_non_null(strstr(berr_msg(err), "reclaim task " TID ": cgroup: "));
	assert_non_null(strstr(berr_msg(err), "populated"));
	berr_clear(&err);
	k = get(kill);
	assert_non_null(k);
	assert_string_equal(k, "1");
	assert_true(res.killed);
	assert_false(res.cgroup);
	/* the rest was done all the same */
	assert_true(res.lease && res.storage && res.task_dir);
	assert_false(present(lease_file));
	assert_false(present(eph));
	assert_false(present(taskdir));

	put(ev, "populated 0\nfrozen 0\n");
	put(leafev, "populated 0\nfrozen 0\n");
	if (trun_reclaim(&o, &res, &err) < 0)
		fail_msg("%s", berr_msg(err));
	assert_true(res.cgroup);
	assert_false(res.lease || res.storage || res.task_dir);
	check_reclaimed(TID);
	if (trun_reclaim(&o, &res, &err) < 0)
		fail_msg("third call: %s", berr_msg(err));
	assert_false(res.cgroup);
}

static void test_bad_id(void **state)
{
	cleanup_free char *root = NULL, *run = NULL, *cg = NULL;
	struct trun_reclaim_opts o = opts_for("../etc", &root, &run, &cg);
	struct trun_reclaim_result res;
	struct berr *err = NULL;

	(void)state;
	assert_true(trun_reclaim(&o, &res, &err) < 0);
	assert_non_null(strstr(berr_msg(err), "task id"));
	berr_clear(&err);
	o.task_id = NULL;
	assert_int_equal(trun_reclaim(&o, &res, &err), -EINVAL);
	berr_clear(&err);
}

/* ------------------------------------------------------------- network */

#define CHECK(cond, ...) do { \
	if (!(cond)) { \
		fprintf(stderr, "%s:%d: ", __FILE__, __LINE__); \
		fprintf(stderr, __VA_ARGS__); \
		fprintf(stderr, "\n"); \
		exit(1); \
	} \
} while (0)

static char *sh(const char *cmd, int *status)
{
	char *buf = NULL, chunk[4096];
	size_t len = 0, n;
	FILE *out = open_memstream(&buf, &len);
	FILE *p = popen(cmd, "r");

	CHECK(out && p, "popen %s", cmd);
	while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0)
		fwrite(chunk, 1, n, out);
	*status = pclose(p);
	fclose(out);
	return buf;
}

static bool set_has(const char *set, const char *ip)
{
	cleanup_free char *cmd = xasprintf("nft list set inet berthrt %s 2>&1", set);
	cleanup_free char *out = NULL;
	int st;

	out = sh(cmd, &st);
	CHECK(st == 0, "%s: %s", cmd, out);
	return strstr(out, ip) != NULL;
}

static bool link_exists(const char *name)
{
	cleanup_free char *cmd = xasprintf("ip link show %s >/dev/null 2>&1", name);

	return system(cmd) == 0;
}

static void network_child(void)
{
	static const char conf[] =
		"{ \"subnet\": \"10.99.0.0/24\", \"nftTable\": \"berthrt\", \"hostPortRange\": \"50000-50009\","
		"  \"securityGroups\": { \"web\": { \"ingress\": [ { \"protocol\": \"tcp\", \"port\": 80,"
		"                                                 \"cidr\": \"0.0.0.0/0\" } ] } } }";
	cleanup_free char *root = NULL, *run = NULL, *cg = NULL, *state = p_("root/net");
	struct trun_reclaim_opts o = opts_for(TID, &root, &run, &cg);
	struct netns_config nc;
	struct netns_nft_conf nftc;
	struct netns_ipam *ipam = NULL;
	struct netns_ports *ports = NULL;
	struct netns_portmap maps[2] = { { 80, 0, NETNS_TCP }, { 53, 0, NETNS_UDP } };
	struct netns_binding binds[2];
	struct trun_reclaim_result res;
	struct berr *err = NULL;
	json_t *j = json_loads(conf, 0, NULL);
	uint32_t mine, other;
	char mine_s[NETNS_IP_STRLEN], other_s[NETNS_IP_STRLEN];
	cleanup_free char *ipam_dir = xasprintf("%s/ipam", state);
	cleanup_free char *ports_dir = xasprintf("%s/ports", state);
	cleanup_free char *mine_f = NULL, *other_f = NULL;
	const char *web[] = { "web", "default" }, *def[] = { "default" };
	bool have_ip = system("ip -V >/dev/null 2>&1") == 0;
	int st;

	CHECK(j, "config json");
	netns_config_init(&nc, state);
	CHECK(netns_config_parse(j, "network", &nc, &err) == 0, "%s", berr_msg(err));
	json_decref(j);
	nftc = (struct netns_nft_conf){ .table = nc.table, .bridge = nc.bridge, .subnet = nc.subnet,
					.groups = &nc.groups };
	CHECK(netns_nft_apply(&nftc, &err) == 0, "%s", berr_msg(err));
	CHECK(fs_mkdir_p(state, 0700, &err) == 0, "%s", berr_msg(err));

	/* the dead task: an IP in two groups, two host ports, its veth;
	 * another task: an IP in default and one port */
	CHECK(netns_ipam_open(ipam_dir, &nc.subnet, &ipam, &err) == 0, "%s", berr_msg(err));
	CHECK(netns_ipam_alloc(ipam, TID, &mine, &err) == 0, "%s", berr_msg(err));
	CHECK(netns_ipam_alloc(ipam, OTHER, &other, &err) == 0, "%s", berr_msg(err));
	netns_ipam_close(ipam);
	netns_ip_str(mine, mine_s);
	netns_ip_str(other, other_s);
	CHECK(netns_nft_members_add(nc.table, mine, web, 2, &err) == 0, "%s", berr_msg(err));
	CHECK(netns_nft_members_add(nc.table, other, def, 1, &err) == 0, "%s", berr_msg(err));
	CHECK(netns_ports_open(ports_dir, &nc.ports, &ports, &err) == 0, "%s", berr_msg(err));
	CHECK(netns_ports_bind(ports, TID, maps, 2, binds, &err) == 0, "%s", berr_msg(err));
	CHECK(netns_ports_bind(ports, OTHER, maps, 1, binds, &err) == 0, "%s", berr_msg(err));
	netns_ports_close(ports);
	if (have_ip) {
		cleanup_free char *out = sh("ip link add bv0123456789abc type veth peer name rpeer 2>&1", &st);

		CHECK(st == 0, "ip link add: %s", out);
		CHECK(link_exists("bv0123456789abc"), "veth not made");
	}
	leave_task(TID, false);
	mine_f = xasprintf("%s/%s", ipam_dir, mine_s);
	other_f = xasprintf("%s/%s", ipam_dir, other_s);
	CHECK(present(mine_f) && set_has("m_web", mine_s) && set_has("m_default", mine_s), "set-up");

	o.net = &nc;
	CHECK(trun_reclaim(&o, &res, &err) == 0, "%s", berr_msg(err));
	CHECK(res.n_ips == 1 && !strcmp(res.ip, mine_s), "n_ips %zu ip %s", res.n_ips, res.ip);
	CHECK(res.n_ports == 2, "n_ports %d", res.n_ports);
	CHECK(res.veth == have_ip, "veth %d", res.veth);
	CHECK(!present(mine_f), "%s still reserved", mine_f);
	CHECK(present(other_f), "the other task's address was released");
	CHECK(!set_has("m_web", mine_s) && !set_has("m_default", mine_s), "%s still in a set", mine_s);
	CHECK(set_has("m_default", other_s), "the other task's membership went");
	if (have_ip)
		CHECK(!link_exists("bv0123456789abc") && !link_exists("rpeer"), "veth left");
	{
		struct netns_ports_entry *pe = NULL;
		size_t n = 0;

		CHECK(netns_ports_open(ports_dir, &nc.ports, &ports, &err) == 0, "%s", berr_msg(err));
		CHECK(netns_ports_list(ports, &pe, &n, &err) == 0, "%s", berr_msg(err));
		netns_ports_close(ports);
		CHECK(n == 1 && !strcmp(pe[0].owner, OTHER), "ports left: %zu", n);
		free(pe);
	}
	check_reclaimed(TID);

	/* again: nothing, no error; the other task keeps everything */
	CHECK(trun_reclaim(&o, &res, &err) == 0, "second call: %s", berr_msg(err));
	CHECK(res.n_ips == 0 && res.n_ports == 0 && !res.veth, "second call found something");
	CHECK(present(other_f) && set_has("m_default", other_s), "second call touched the other task");

	/* a configuration that lists no group (netns_config_init alone, as a
	 * daemon without "network" has it): default and bridge-mode still */
	{
		static const char *const bridge[] = { NETNS_BRIDGE_GROUP };
		struct netns_config bare;
		cleanup_free char *third_f = NULL;
		uint32_t third;
		char third_s[NETNS_IP_STRLEN];

		CHECK(netns_ipam_open(ipam_dir, &nc.subnet, &ipam, &err) == 0, "%s", berr_msg(err));
		CHECK(netns_ipam_alloc(ipam, TID, &third, &err) == 0, "%s", berr_msg(err));
		netns_ipam_close(ipam);
		netns_ip_str(third, third_s);
		third_f = xasprintf("%s/%s", ipam_dir, third_s);
		CHECK(netns_nft_members_add(nc.table, third, def, 1, &err) == 0, "%s", berr_msg(err));
		CHECK(netns_nft_members_add(nc.table, third, bridge, 1, &err) == 0, "%s", berr_msg(err));
		netns_config_init(&bare, state);
		free(bare.table);
		bare.table = xstrdup(nc.table);
		bare.subnet = nc.subnet;
		o.net = &bare;
		CHECK(trun_reclaim(&o, &res, &err) == 0, "bare config: %s", berr_msg(err));
		CHECK(res.n_ips == 1 && !present(third_f), "bare config: address not released");
		CHECK(!set_has("m_default", third_s) && !set_has("m_" NETNS_BRIDGE_GROUP, third_s),
		      "bare config: %s still in a set", third_s);
		CHECK(set_has("m_default", other_s), "bare config: the other task's membership went");
		netns_config_free(&bare);
	}
	netns_config_free(&nc);
}

static void write_proc(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	CHECK(fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text), "write %s: %s", path,
	      strerror(errno));
	close(fd);
}

static void test_network(void **state)
{
	pid_t pid;
	int st;

	(void)state;
	if (system("nft --version >/dev/null 2>&1") != 0) {
		printf("nft(8) not installed: skipped\n");
		skip();
	}
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		uid_t uid = geteuid();
		gid_t gid = getegid();

		if (unshare(CLONE_NEWNET | (uid == 0 ? 0 : CLONE_NEWUSER)) < 0) {
			printf("unshare(CLONE_NEWNET): %s: skipped\n", strerror(errno));
			fflush(stdout);
			_exit(SKIP_STATUS);
		}
		if (uid != 0) {
			/* root of the namespace = this user: it owns the state dirs */
			char m[64];

			snprintf(m, sizeof(m), "0 %u 1\n", (unsigned)uid);
			write_proc("/proc/self/uid_map", m);
			write_proc("/proc/self/setgroups", "deny");
			snprintf(m, sizeof(m), "0 %u 1\n", (unsigned)gid);
			write_proc("/proc/self/gid_map", m);
		}
		network_child();
		exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (WIFEXITED(st) && WEXITSTATUS(st) == SKIP_STATUS)
		skip();
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail_msg("network child failed (status 0x%x)", st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reclaim_and_again, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nothing_there, setup, teardown),
		cmocka_unit_test_setup_teardown(test_live_shim_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_step_failure_reported, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_id, setup, teardown),
		cmocka_unit_test_setup_teardown(test_network, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
