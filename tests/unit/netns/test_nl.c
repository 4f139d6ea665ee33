/* netns/nl + netns/ns: bridge, task netns, veth on an isolated bridge port,
 * attach, real task-to-task traffic through the host (proxy_arp_pvlan),
 * destroy, errors.
 *
 * Each test runs in a forked child that first unshares a network and a mount
 * namespace and makes every mount private, so nothing reaches the host's
 * network or mounts; bind files live on a tmpfs the child mounts over a
 * temporary directory. The child reports a failure through a pipe and its
 * exit status. Needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN): otherwise each
 * test is reported as skipped. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <linux/magic.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "common/cleanup.h"
#include "common/error.h"
#include "common/xalloc.h"
#include "netns/nl.h"
#include "netns/ns.h"

#define IP(a, b, c, d) (((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((uint32_t)(c) << 8) | (uint32_t)(d))
#define GW IP(10, 88, 0, 1)
#define SKIP_STATUS 77

static int report_fd = -1;
static char tmpdir[64];   /* made by the parent, a private tmpfs in the child */

/* In the child: report and exit. */
#define CHECK(cond, ...)                                                        \
	do {                                                                    \
		if (!(cond)) {                                                  \
			dprintf(report_fd, "%s:%d: %s: ", __FILE__, __LINE__, #cond); \
			dprintf(report_fd, __VA_ARGS__);                        \
			_exit(1);                                               \
		}                                                               \
	} while (0)
/* A library call that must succeed (its error in the report). */
#define OK(call)                                                                \
	({                                                                      \
		struct berr *e_ = NULL;                                         \
		int r_ = (call);                                                \
		CHECK(r_ >= 0, "%s", berr_msg(e_));                             \
		berr_free(e_);                                                  \
		r_;                                                             \
	})
#define E (&e_)

static char *path_in(const char *name)
{
	return xasprintf("%s/%s", tmpdir, name);
}

static ino_t thread_netns_ino(void)
{
	struct stat st;

	CHECK(stat("/proc/thread-self/ns/net", &st) == 0, "%s", strerror(errno));
	return st.st_ino;
}

static bool mounted(const char *path)
{
	cleanup_fclose FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096];

	CHECK(f, "mountinfo: %s", strerror(errno));
	while (fgets(line, sizeof(line), f))
		if (strstr(line, path))
			return true;
	return false;
}

static int read_int_file(const char *path)
{
	char buf[32] = "";
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	CHECK(fd >= 0, "open %s: %s", path, strerror(errno));
	n = read(fd, buf, sizeof(buf) - 1);
	CHECK(n > 0, "read %s", path);
	return atoi(buf);
}

static void write_file(const char *path, const char *s)
{
	cleanup_close int fd = open(path, O_WRONLY | O_CLOEXEC);

	CHECK(fd >= 0 && write(fd, s, strlen(s)) == (ssize_t)strlen(s), "write %s: %s", path,
	      strerror(errno));
}

/* Run fn in a child with its own network + mount namespace. */
static void sandboxed(void (*fn)(void))
{
	char report[4096];
	int rep[2], st;
	ssize_t n;
	pid_t pid;

	if (geteuid() != 0)
		skip();   /* needs CAP_NET_ADMIN + CAP_SYS_ADMIN */
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/berth-test-nl.XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	assert_int_equal(pipe2(rep, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(rep[0]);
		report_fd = rep[1];
		alarm(30);
		if (unshare(CLONE_NEWNET | CLONE_NEWNS) < 0) {
			dprintf(report_fd, "unshare: %s", strerror(errno));
			_exit(errno == EPERM || errno == EINVAL ? SKIP_STATUS : 1);
		}
		if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
			dprintf(report_fd, "make / private: %s", strerror(errno));
			_exit(1);
		}
		if (mount("tmpfs", tmpdir, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0700") < 0) {
			dprintf(report_fd, "tmpfs on %s: %s", tmpdir, strerror(errno));
			_exit(1);
		}
		fn();
		_exit(0);
	}
	close(rep[1]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	n = read(rep[0], report, sizeof(report) - 1);
	report[n > 0 ? n : 0] = '\0';
	close(rep[0]);
	rmdir(tmpdir);
	if (WIFEXITED(st) && WEXITSTATUS(st) == SKIP_STATUS) {
		fprintf(stderr, "no network namespace: %s\n", report);
		skip();
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail_msg("child (status %#x): %s", st, report);
}

/* ---- scenarios (run in the child) ---- */

static void sc_bridge(void)
{
	cleanup_netns_nl struct netns_nl *nl = NULL;
	struct netns_nl_link l, l2;
	struct netns_nl_addr addrs[4];
	struct berr *err = NULL;
	int br, br2, n, r;

	OK(netns_nl_open(&nl, E));
	CHECK(netns_nl_ifindex(nl, "berth0", &err) == -ENODEV, "%s", berr_msg(err));
	CHECK(strstr(berr_msg(err), "berth0"), "%s", berr_msg(err));
	berr_clear(&err);

	br = OK(netns_nl_bridge_ensure(nl, "berth0", GW, 16, 1400, E));
	OK(netns_nl_link_get(nl, "berth0", &l, E));
	CHECK(l.ifindex == br && strcmp(l.kind, "bridge") == 0, "kind %s", l.kind);
	CHECK(l.flags & IFF_UP, "flags %#x", l.flags);
	CHECK(l.mtu == 1400, "mtu %u", l.mtu);
	CHECK(l.has_mac && (l.mac[0] & 0x03) == 0x02, "mac %02x", l.mac[0]);
	n = OK(netns_nl_addr_list(nl, br, addrs, 4, E));
	CHECK(n == 1 && addrs[0].addr == GW && addrs[0].prefix == 16, "%d addresses", n);
	CHECK(read_int_file("/proc/sys/net/ipv4/conf/berth0/proxy_arp_pvlan") == 1, "pvlan");
	CHECK(read_int_file("/proc/sys/net/ipv4/conf/berth0/send_redirects") == 0, "redirects");
	CHECK(read_int_file("/proc/sys/net/ipv4/neigh/berth0/proxy_delay") == 0, "proxy_delay");

	/* a port does not change the bridge's MAC (without a MAC set at
	 * creation the bridge takes its lowest port's) */
	OK(netns_nl_veth_create(nl, "bvport", "bvpeer", -1, 0, br, true, E));
	OK(netns_nl_link_get(nl, "berth0", &l2, E));
	CHECK(memcmp(l.mac, l2.mac, 6) == 0, "bridge MAC changed with a port");

	/* idempotent, and it puts back what someone changed */
	write_file("/proc/sys/net/ipv4/conf/berth0/proxy_arp_pvlan", "0");
	br2 = OK(netns_nl_bridge_ensure(nl, "berth0", GW, 16, 1400, E));
	CHECK(br2 == br, "%d != %d", br2, br);
	n = OK(netns_nl_addr_list(nl, br, addrs, 4, E));
	CHECK(n == 1, "%d addresses after the second ensure", n);
	CHECK(read_int_file("/proc/sys/net/ipv4/conf/berth0/proxy_arp_pvlan") == 1, "pvlan");

	OK(netns_nl_link_get(nl, "berth0", &l2, E));
	CHECK(memcmp(l.mac, l2.mac, 6) == 0, "bridge MAC changed by the second ensure");

	/* a link of that name that is not a bridge */
	r = netns_nl_bridge_ensure(nl, "bvport", GW, 16, 0, &err);
	CHECK(r == -EEXIST && strstr(berr_msg(err), "not a bridge") &&
	      strstr(berr_msg(err), "veth"), "%d %s", r, berr_msg(err));
	berr_clear(&err);
	OK(netns_nl_link_get(nl, "bvport", &l2, E));
	CHECK(strcmp(l2.kind, "veth") == 0 && l2.master == br, "veth touched");
}

static void sc_ns_create(void)
{
	cleanup_free char *p = path_in("ns1"), *plain = path_in("plain");
	cleanup_netns_nl struct netns_nl *in = NULL;
	cleanup_close int fd = -1, fd2 = -1, pf = -1;
	struct netns_nl_link lo;
	struct berr *err = NULL;
	struct stat st, fst;
	struct statfs sfs;
	ino_t before = thread_netns_ino();
	int r;

	OK(netns_ns_create(p, &fd, &in, E));
	CHECK(thread_netns_ino() == before, "thread left in another netns");
	CHECK(stat(p, &st) == 0 && statfs(p, &sfs) == 0, "%s", strerror(errno));
	CHECK(sfs.f_type == NSFS_MAGIC, "bind path is not nsfs: %#lx", (long)sfs.f_type);
	CHECK(fstat(fd, &fst) == 0 && fst.st_ino == st.st_ino, "fd and mount differ");
	CHECK(st.st_ino != before, "the new netns is the old one");
	CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC, "nsfd without O_CLOEXEC");
	CHECK(mounted(p), "no mount on %s", p);

	/* lo is up in there (and the socket talks to the new netns) */
	OK(netns_nl_link_get(in, "lo", &lo, E));
	CHECK(lo.flags & IFF_UP, "lo down in the new netns");

	OK(netns_ns_open(p, &fd2, E));
	CHECK(fstat(fd2, &fst) == 0 && fst.st_ino == st.st_ino, "reopened another netns");

	/* an existing path: refused, the mount left alone */
	r = netns_ns_create(p, &(int){ -1 }, NULL, &err);
	CHECK(r == -EEXIST, "%d %s", r, berr_msg(err));
	berr_clear(&err);
	CHECK(mounted(p), "mount gone after a refused create");

	/* a plain file is no netns */
	pf = open(plain, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	CHECK(pf >= 0, "%s", strerror(errno));
	r = netns_ns_open(plain, &(int){ -1 }, &err);
	CHECK(r == -EINVAL && strstr(berr_msg(err), "not a namespace"), "%d %s", r, berr_msg(err));
	berr_clear(&err);
	/* a namespace of another kind */
	r = netns_ns_open("/proc/self/ns/mnt", &(int){ -1 }, &err);
	CHECK(r == -EINVAL && strstr(berr_msg(err), "not a network"), "%d %s", r, berr_msg(err));
	berr_clear(&err);

	OK(netns_ns_destroy(p, E));
}

static void sc_veth(void)
{
	cleanup_free char *p = path_in("ns1");
	cleanup_netns_nl struct netns_nl *nl = NULL, *in = NULL;
	cleanup_close int fd = -1;
	struct netns_nl_link host, peer, open_port;
	struct berr *err = NULL;
	int br, idx;

	OK(netns_nl_open(&nl, E));
	br = OK(netns_nl_bridge_ensure(nl, "berth0", GW, 16, 0, E));
	OK(netns_ns_create(p, &fd, &in, E));
	idx = OK(netns_nl_veth_create(nl, "bvtask1", "eth0", fd, 1400, br, true, E));

	OK(netns_nl_link_get(nl, "bvtask1", &host, E));
	CHECK(host.ifindex == idx, "ifindex %d != %d", host.ifindex, idx);
	CHECK(host.master == br, "master %d, bridge %d", host.master, br);
	CHECK(host.isolated == 1, "isolated %d", host.isolated);
	CHECK(host.flags & IFF_UP, "host end down");
	CHECK(host.mtu == 1400 && strcmp(host.kind, "veth") == 0, "mtu %u kind %s", host.mtu,
	      host.kind);
	/* eth0 is in the task netns, not here */
	CHECK(netns_nl_ifindex(nl, "eth0", &err) == -ENODEV, "eth0 in the host netns");
	berr_clear(&err);
	OK(netns_nl_link_get(in, "eth0", &peer, E));
	CHECK(peer.mtu == 1400 && !(peer.flags & IFF_UP), "peer mtu %u flags %#x", peer.mtu,
	      peer.flags);

	/* the same call with isolated=false gives an ordinary port */
	OK(netns_nl_veth_create(nl, "bvopen", "bvopenpeer", -1, 0, br, false, E));
	OK(netns_nl_link_get(nl, "bvopen", &open_port, E));
	CHECK(open_port.master == br && open_port.isolated == 0, "isolated %d",
	      open_port.isolated);
	OK(netns_nl_brport_set_isolated(nl, open_port.ifindex, true, E));
	OK(netns_nl_link_get(nl, "bvopen", &open_port, E));
	CHECK(open_port.isolated == 1, "isolated %d after set", open_port.isolated);

	/* without a master: no bridge-port data at all */
	OK(netns_nl_veth_create(nl, "bvlone", "bvlonepeer", -1, 0, 0, true, E));
	OK(netns_nl_link_get(nl, "bvlone", &open_port, E));
	CHECK(open_port.master == 0 && open_port.isolated == -1, "isolated %d",
	      open_port.isolated);

	CHECK(OK(netns_nl_count_ports(nl, br, E)) == 2, "port count");
	OK(netns_nl_link_del(nl, "bvopen", E));
	CHECK(OK(netns_nl_count_ports(nl, br, E)) == 1, "port count after delete");
	CHECK(netns_nl_ifindex(nl, "bvopenpeer", &err) == -ENODEV, "peer left behind");
	berr_clear(&err);
}

static void attach_task(struct netns_nl *nl, int br, const char *name, const char *host_if,
			uint32_t addr, int *fd, struct netns_nl **in)
{
	cleanup_free char *p = path_in(name);
	struct netns_attach a = {
		.bridge_ifindex = br, .host_if = host_if, .addr = addr, .prefix = 16, .gw = GW,
		.mtu = 1400,
	};

	OK(netns_ns_create(p, fd, in, E));
	OK(netns_ns_attach(nl, *in, *fd, &a, E));
}

static void sc_attach(void)
{
	cleanup_netns_nl struct netns_nl *nl = NULL, *in = NULL;
	cleanup_close int fd = -1;
	struct netns_nl_link eth0, host;
	struct netns_nl_addr addrs[4];
	uint32_t gw = 0;
	int oif = 0, br, n;

	OK(netns_nl_open(&nl, E));
	/* by bridge name this time */
	br = OK(netns_nl_bridge_ensure(nl, "berth0", GW, 16, 1400, E));
	cleanup_free char *p = path_in("a");
	struct netns_attach a = {
		.bridge = "berth0", .host_if = "bva", .addr = IP(10, 88, 0, 2), .prefix = 16,
		.gw = GW, .mtu = 1400,
	};

	OK(netns_ns_create(p, &fd, &in, E));
	OK(netns_ns_attach(nl, in, fd, &a, E));
	OK(netns_nl_link_get(in, "eth0", &eth0, E));
	CHECK(eth0.flags & IFF_UP, "eth0 down");
	CHECK(eth0.mtu == 1400, "eth0 mtu %u", eth0.mtu);
	n = OK(netns_nl_addr_list(in, eth0.ifindex, addrs, 4, E));
	CHECK(n == 1 && addrs[0].addr == IP(10, 88, 0, 2) && addrs[0].prefix == 16,
	      "%d addresses, first %#x/%u", n, n ? addrs[0].addr : 0, n ? addrs[0].prefix : 0);
	CHECK(OK(netns_nl_route_get_default(in, &gw, &oif, E)) == 1, "no default route");
	CHECK(gw == GW && oif == eth0.ifindex, "default via %#x dev %d", gw, oif);
	/* the host has none: the route went into the task netns */
	CHECK(OK(netns_nl_route_get_default(nl, NULL, NULL, E)) == 0, "host got a default route");
	OK(netns_nl_link_get(nl, "bva", &host, E));
	CHECK(host.master == br && host.isolated == 1 && (host.flags & IFF_UP), "host end");

	/* the host end's name is taken: refused, the existing veth untouched */
	struct berr *err = NULL;
	int r = netns_ns_attach(nl, in, fd, &a, &err);

	CHECK(r == -EEXIST && strstr(berr_msg(err), "create veth bva/eth0"), "%d %s", r,
	      berr_msg(err));
	berr_clear(&err);
	OK(netns_nl_link_get(nl, "bva", &host, E));

	/* a failure after the veth exists (here: the "inside" socket is not in
	 * that netns, so it finds no eth0) deletes the new veth again */
	cleanup_free char *p2 = path_in("b");
	cleanup_netns_nl struct netns_nl *in2 = NULL;
	cleanup_close int fd2 = -1;

	OK(netns_ns_create(p2, &fd2, &in2, E));
	a.host_if = "bvb";
	r = netns_ns_attach(nl, nl, fd2, &a, &err);
	CHECK(r == -ENODEV && strstr(berr_msg(err), "attach bvb: inside the netns"), "%d %s", r,
	      berr_msg(err));
	berr_clear(&err);
	CHECK(netns_nl_ifindex(nl, "bvb", &err) == -ENODEV, "veth left after a failed attach");
	berr_clear(&err);
	CHECK(netns_nl_ifindex(in2, "eth0", &err) == -ENODEV, "eth0 left after a failed attach");
	berr_clear(&err);
	CHECK(OK(netns_nl_count_ports(nl, br, E)) == 1, "ports");
}

/* Listen on addr:port inside the netns nsfd, in a child; it answers "pong"
 * to "ping" once and exits 0. Returns its pid after it listens. */
static pid_t listener(int nsfd, uint32_t addr, uint16_t port)
{
	int ready[2];
	char c;
	pid_t pid;

	CHECK(pipe2(ready, O_CLOEXEC) == 0, "pipe");
	pid = fork();
	CHECK(pid >= 0, "fork");
	if (pid == 0) {
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
					  .sin_addr.s_addr = htonl(addr) };
		char buf[8] = "";
		int s, c2;

		/* reports by exit status only; never outlives the test child */
		close(ready[0]);
		close(report_fd);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		alarm(10);
		if (setns(nsfd, CLONE_NEWNET) < 0)
			_exit(2);
		s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(s, 4) < 0)
			_exit(3);
		if (write(ready[1], "r", 1) != 1)
			_exit(4);
		c2 = accept(s, NULL, NULL);
		if (c2 < 0 || read(c2, buf, 4) != 4 || memcmp(buf, "ping", 4) != 0)
			_exit(5);
		_exit(write(c2, "pong", 4) == 4 ? 0 : 6);
	}
	close(ready[1]);
	CHECK(read(ready[0], &c, 1) == 1, "listener did not start");
	close(ready[0]);
	return pid;
}

/* Connect from inside nsfd (a socket made there) with a timeout; 0 and
 * a ping-pong exchanged, or -errno. */
static int connect_from(int nsfd, int home_fd, uint32_t addr, uint16_t port, int timeout_ms)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(addr) };
	cleanup_close int s = -1;
	struct pollfd pfd;
	char buf[8] = "";
	int soerr = 0;
	socklen_t len = sizeof(soerr);

	CHECK(setns(nsfd, CLONE_NEWNET) == 0, "setns: %s", strerror(errno));
	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	CHECK(setns(home_fd, CLONE_NEWNET) == 0, "setns back: %s", strerror(errno));
	CHECK(s >= 0, "socket: %s", strerror(errno));
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS)
		return -errno;
	pfd = (struct pollfd){ .fd = s, .events = POLLOUT };
	if (poll(&pfd, 1, timeout_ms) != 1)
		return -ETIMEDOUT;
	CHECK(getsockopt(s, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0, "SO_ERROR");
	if (soerr)
		return -soerr;
	CHECK(write(s, "ping", 4) == 4, "write: %s", strerror(errno));
	pfd = (struct pollfd){ .fd = s, .events = POLLIN };
	CHECK(poll(&pfd, 1, 3000) == 1 && read(s, buf, 4) == 4 && memcmp(buf, "pong", 4) == 0,
	      "no pong");
	return 0;
}

static unsigned long forwarded_datagrams(void)
{
	cleanup_fclose FILE *f = fopen("/proc/net/snmp", "re");
	char head[2048], vals[2048], *hs, *vs, *h, *v;

	CHECK(f, "snmp");
	while (fgets(head, sizeof(head), f) && fgets(vals, sizeof(vals), f)) {
		if (strncmp(head, "Ip:", 3) != 0)
			continue;
		for (h = strtok_r(head, " \n", &hs), v = strtok_r(vals, " \n", &vs); h && v;
		     h = strtok_r(NULL, " \n", &hs), v = strtok_r(NULL, " \n", &vs))
			if (strcmp(h, "ForwDatagrams") == 0)
				return strtoul(v, NULL, 10);
	}
	CHECK(0, "no Ip: ForwDatagrams");
	return 0;
}

static int64_t ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

static void sc_traffic(void)
{
	cleanup_netns_nl struct netns_nl *nl = NULL, *in_a = NULL, *in_b = NULL, *in_c = NULL;
	cleanup_close int fd_a = -1, fd_b = -1, fd_c = -1, home = -1;
	uint32_t b_addr = IP(10, 88, 0, 3);
	struct timespec t0;
	unsigned long fwd;
	int64_t ms;
	int br, r, st;
	pid_t pid;

	home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	CHECK(home >= 0, "%s", strerror(errno));
	OK(netns_nl_open(&nl, E));
	br = OK(netns_nl_bridge_ensure(nl, "berth0", GW, 16, 1400, E));
	write_file("/proc/sys/net/ipv4/ip_forward", "1");
	attach_task(nl, br, "a", "bva", IP(10, 88, 0, 2), &fd_a, &in_a);
	attach_task(nl, br, "b", "bvb", b_addr, &fd_b, &in_b);
	attach_task(nl, br, "c", "bvc", IP(10, 88, 0, 4), &fd_c, &in_c);

	/* The design: isolated ports, the host answers ARP with the bridge's
	 * MAC and routes task to task (where nftables will filter). */
	fwd = forwarded_datagrams();
	pid = listener(fd_b, b_addr, 9001);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = connect_from(fd_a, home, b_addr, 9001, 5000);
	ms = ms_since(&t0);
	CHECK(r == 0, "A -> B through the host: %s", strerror(-r));
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	      "listener status %#x", st);
	CHECK(forwarded_datagrams() > fwd, "the host forwarded nothing: not routed");
	/* no proxy_delay: the first contact is not held back (~0.8 s) */
	CHECK(ms < 500, "first A -> B connect took %lld ms", (long long)ms);

	/* and the host (the gateway) reaches a task */
	pid = listener(fd_b, b_addr, 9002);
	r = connect_from(home, home, b_addr, 9002, 3000);
	CHECK(r == 0, "host -> B: %s", strerror(-r));
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	      "listener status %#x", st);

	/* Control, from C (no neighbour entries yet): without proxy_arp_pvlan
	 * isolated ports cannot reach each other at all, C's ARP for B is not
	 * forwarded to B's port. */
	write_file("/proc/sys/net/ipv4/conf/berth0/proxy_arp_pvlan", "0");
	r = connect_from(fd_c, home, b_addr, 9003, 1000);
	CHECK(r < 0, "isolated ports talked directly without proxy_arp_pvlan");
	/* ensure again puts it back, and C gets through */
	OK(netns_nl_bridge_ensure(nl, "berth0", GW, 16, 1400, E));
	pid = listener(fd_b, b_addr, 9004);
	r = connect_from(fd_c, home, b_addr, 9004, 5000);
	CHECK(r == 0, "C -> B after ensure: %s", strerror(-r));
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	      "listener status %#x", st);
}

static void sc_destroy(void)
{
	cleanup_free char *p = path_in("d");
	cleanup_netns_nl struct netns_nl *nl = NULL;
	struct netns_nl *in = NULL;
	struct berr *err = NULL;
	struct timespec t0, t1;
	int fd = -1, br, r;

	OK(netns_nl_open(&nl, E));
	br = OK(netns_nl_bridge_ensure(nl, "berth0", GW, 16, 0, E));
	attach_task(nl, br, "d", "bvd", IP(10, 88, 0, 9), &fd, &in);
	OK(netns_ns_destroy(p, E));
	CHECK(access(p, F_OK) < 0 && errno == ENOENT, "bind file left");
	CHECK(!mounted(p), "mount left");
	/* our fd and socket still hold the netns */
	OK(netns_nl_ifindex(nl, "bvd", E));
	close(fd);
	netns_nl_close(in);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		r = netns_nl_ifindex(nl, "bvd", &err);
		if (r == -ENODEV)
			break;
		CHECK(r >= 0, "%s", berr_msg(err));
		clock_gettime(CLOCK_MONOTONIC, &t1);
		CHECK((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 < 2000,
		      "veth still there 2 s after the netns was dropped");
		usleep(5000);
	}
	berr_clear(&err);
	CHECK(OK(netns_nl_count_ports(nl, br, E)) == 0, "ports left on the bridge");
	/* absent is success */
	OK(netns_ns_destroy(p, E));
}

static int count_fds(void)
{
	cleanup_closedir DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	CHECK(d, "opendir");
	while ((de = readdir(d)))
		n++;
	return n;
}

static void sc_errors(void)
{
	cleanup_netns_nl struct netns_nl *nl = NULL;
	struct berr *err = NULL;
	ino_t before = thread_netns_ino();
	int fd = -1, fds = count_fds(), r;
	struct netns_nl *in = NULL;

	/* no such directory: fails, thread stays home, nothing left */
	r = netns_ns_create("/nonexistent-berth-dir/ns", &fd, &in, &err);
	CHECK(r == -ENOENT && strstr(berr_msg(err), "/nonexistent-berth-dir/ns"), "%d %s", r,
	      berr_msg(err));
	berr_clear(&err);
	CHECK(fd == -1 && in == NULL, "outputs set on failure");
	CHECK(thread_netns_ino() == before, "thread left in another netns");
	CHECK(count_fds() == fds, "fd leak");

	OK(netns_nl_open(&nl, E));
	/* names: too long, empty */
	r = netns_nl_veth_create(nl, "bv0123456789abcd", "eth0", -1, 0, 0, true, &err);
	CHECK(r == -EINVAL && strstr(berr_msg(err), "create veth bv0123456789abcd/eth0") &&
	      strstr(berr_msg(err), "longer than 15"), "%d %s", r, berr_msg(err));
	berr_clear(&err);
	r = netns_nl_veth_create(nl, "bvok", "", -1, 0, 0, true, &err);
	CHECK(r == -EINVAL && strstr(berr_msg(err), "empty"), "%d %s", r, berr_msg(err));
	berr_clear(&err);
	CHECK(netns_nl_ifindex(nl, "bvok", &err) == -ENODEV, "half-made veth");
	berr_clear(&err);
	/* a master that is not there: the kernel's error, named */
	r = netns_nl_veth_create(nl, "bvx", "bvy", -1, 0, 4242, true, &err);
	CHECK(r < 0 && strstr(berr_msg(err), "netlink: create veth bvx/bvy"), "%d %s", r,
	      berr_msg(err));
	berr_clear(&err);
	CHECK(netns_nl_ifindex(nl, "bvx", &err) == -ENODEV, "veth left after a failure");
	berr_clear(&err);
	/* the same name twice */
	OK(netns_nl_veth_create(nl, "bvx", "bvy", -1, 0, 0, false, E));
	r = netns_nl_veth_create(nl, "bvx", "bvz", -1, 0, 0, false, &err);
	CHECK(r == -EEXIST && strcmp(berr_msg(err), "netlink: create veth bvx/bvz: File exists") == 0,
	      "%d %s", r, berr_msg(err));
	berr_clear(&err);
	/* delete: present, then absent */
	OK(netns_nl_link_del(nl, "bvx", E));
	OK(netns_nl_link_del(nl, "bvx", E));
	/* a bad prefix */
	r = netns_nl_addr_add(nl, 1, GW, 33, &err);
	CHECK(r == -EINVAL, "%d %s", r, berr_msg(err));
	berr_clear(&err);
}

/* Fail inside the new netns (no fd left for the netlink socket): the thread
 * must come back, and no file, mount or fd may be left. */
static void sc_fail_inside(void)
{
	cleanup_free char *p = path_in("x");
	struct berr *err = NULL;
	ino_t before = thread_netns_ino();
	struct rlimit rl;
	int fd = -1, lowest, r;
	struct netns_nl *in = NULL;

	/* keep 0-2 and the report pipe (as 3); then exactly two free fds:
	 * the original netns and the bind file / the new netns */
	CHECK(dup2(report_fd, 3) == 3, "dup2");
	report_fd = 3;
	for (int i = 4; i < 1024; i++)
		close(i);
	lowest = 4;
	rl.rlim_cur = rl.rlim_max = (rlim_t)lowest + 2;
	CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0, "setrlimit: %s", strerror(errno));

	r = netns_ns_create(p, &fd, &in, &err);
	CHECK(r == -EMFILE && strstr(berr_msg(err), "netlink"), "%d %s", r, berr_msg(err));
	berr_clear(&err);
	CHECK(thread_netns_ino() == before, "thread left in the new netns");
	CHECK(access(p, F_OK) < 0 && errno == ENOENT, "bind file left");
	CHECK(!mounted(p), "mount left");
	CHECK(fcntl(lowest, F_GETFD) < 0 && fcntl(lowest + 1, F_GETFD) < 0, "fd left open");
}

static void test_bridge(void **state) { (void)state; sandboxed(sc_bridge); }
static void test_ns_create(void **state) { (void)state; sandboxed(sc_ns_create); }
static void test_veth(void **state) { (void)state; sandboxed(sc_veth); }
static void test_attach(void **state) { (void)state; sandboxed(sc_attach); }
static void test_traffic(void **state) { (void)state; sandboxed(sc_traffic); }
static void test_destroy(void **state) { (void)state; sandboxed(sc_destroy); }
static void test_errors(void **state) { (void)state; sandboxed(sc_errors); }
static void test_fail_inside(void **state) { (void)state; sandboxed(sc_fail_inside); }

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bridge),
		cmocka_unit_test(test_ns_create),
		cmocka_unit_test(test_veth),
		cmocka_unit_test(test_attach),
		cmocka_unit_test(test_traffic),
		cmocka_unit_test(test_destroy),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_fail_inside),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
