/* berth-netns-tool - test driver for netns/nl + netns/ns (VM cases, benchmarks).
 *
 * Works in the network and mount namespace it is started in: run it inside
 * `unshare --net --mount` (or the VM) - it creates a bridge and veths.
 * Results as one JSON object on stdout; errors on stderr with status 1.
 */
#include "common/cleanup.h"
#include "common/error.h"
#include "common/xalloc.h"
#include "netns/cidr.h"
#include "netns/nl.h"
#include "netns/ns.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char usage_text[] =
	"usage: berth-netns-tool COMMAND [OPTIONS]\n"
	"  bench --count N --dir DIR --bridge NAME --subnet CIDR [--mtu M]\n"
	"        ensure the bridge (gateway = first address of CIDR), then N times\n"
	"        netns_ns_create(DIR/ns-I) + attach (address CIDR+2+I), then N times\n"
	"        netns_ns_destroy; prints timings as JSON. veth_gone_ms: from the last\n"
	"        destroy until the bridge has no ports left (the kernel's batched cleanup)\n"
	"  up --netns PATH --bridge NAME --addr A/P --gw G --host-if NAME [--mtu M]\n"
	"        ensure the bridge (address G/P), create the netns bound on PATH, attach\n"
	"  down --netns PATH\n"
	"        unbind and remove PATH (the kernel removes the netns and its veth)\n";

static int fail(struct berr *err)
{
	fprintf(stderr, "berth-netns-tool: %s\n", berr_msg(err));
	berr_free(err);
	return 1;
}

static int usage(void)
{
	fputs(usage_text, stderr);
	return 2;
}

static unsigned long num(const char *s, const char *what)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || end == s || *s == '-') {
		fprintf(stderr, "berth-netns-tool: bad %s '%s'\n", what, s);
		exit(2);
	}
	return v;
}

struct opts {
	const char *count, *dir, *bridge, *subnet, *mtu, *netns, *addr, *gw, *host_if;
};

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct {
		const char *name;
		size_t off;
	} known[] = {
		{ "--count", offsetof(struct opts, count) },
		{ "--dir", offsetof(struct opts, dir) },
		{ "--bridge", offsetof(struct opts, bridge) },
		{ "--subnet", offsetof(struct opts, subnet) },
		{ "--mtu", offsetof(struct opts, mtu) },
		{ "--netns", offsetof(struct opts, netns) },
		{ "--addr", offsetof(struct opts, addr) },
		{ "--gw", offsetof(struct opts, gw) },
		{ "--host-if", offsetof(struct opts, host_if) },
	};

	memset(o, 0, sizeof(*o));
	for (int i = 1; i < argc; i += 2) {
		size_t k;

		for (k = 0; k < sizeof(known) / sizeof(known[0]); k++)
			if (strcmp(argv[i], known[k].name) == 0)
				break;
		if (k == sizeof(known) / sizeof(known[0])) {
			fprintf(stderr, "berth-netns-tool: unknown option %s\n", argv[i]);
			return -1;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "berth-netns-tool: %s needs a value\n", argv[i]);
			return -1;
		}
		*(const char **)((char *)o + known[k].off) = argv[i + 1];
	}
	return 0;
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* nearest-rank percentile of n sorted values, in microseconds */
static double pct_us(const int64_t *sorted, size_t n, unsigned p)
{
	size_t rank = (n * p + 99) / 100;

	return sorted[rank ? rank - 1 : 0] / 1000.0;
}

static int cmd_bench(int argc, char **argv)
{
	struct berr *err = NULL;
	struct opts o;
	struct netns_cidr sub;
	cleanup_netns_nl struct netns_nl *nl = NULL;
	cleanup_free int64_t *setup = NULL, *teardown = NULL;
	int64_t t0, setup_total = 0, teardown_total, gone;
	unsigned long n;
	unsigned mtu;
	int br;

	if (parse_opts(argc, argv, &o) < 0 || !o.count || !o.dir || !o.bridge || !o.subnet)
		return usage();
	n = num(o.count, "count");
	mtu = o.mtu ? (unsigned)num(o.mtu, "mtu") : 0;
	if (n == 0)
		return usage();
	if (netns_cidr_parse(o.subnet, "--subnet", &sub, &err) < 0)
		return fail(err);
	if (sub.prefix > 30 || (uint64_t)sub.net + 2 + n > (uint64_t)netns_cidr_broadcast(&sub)) {
		fprintf(stderr, "berth-netns-tool: %s has no room for %lu tasks\n", o.subnet, n);
		return 2;
	}
	setup = xcalloc(n, sizeof(*setup));
	teardown = xcalloc(n, sizeof(*teardown));

	if (netns_nl_open(&nl, &err) < 0)
		return fail(err);
	br = netns_nl_bridge_ensure(nl, o.bridge, sub.net + 1, sub.prefix, mtu, &err);
	if (br < 0)
		return fail(err);

	for (unsigned long i = 0; i < n; i++) {
		cleanup_free char *path = xasprintf("%s/ns-%lu", o.dir, i);
		char host_if[IFNAMSIZ];
		cleanup_netns_nl struct netns_nl *in = NULL;
		cleanup_close int fd = -1;
		struct netns_attach a = {
			.bridge_ifindex = br, .host_if = host_if, .addr = sub.net + 2 + (uint32_t)i,
			.prefix = sub.prefix, .gw = sub.net + 1, .mtu = mtu,
		};

		snprintf(host_if, sizeof(host_if), "bv%x", (unsigned)i);
		t0 = now_ns();
		if (netns_ns_create(path, &fd, &in, &err) < 0 ||
		    netns_ns_attach(nl, in, fd, &a, &err) < 0)
			return fail(err);
		setup[i] = now_ns() - t0;
		setup_total += setup[i];
	}

	t0 = now_ns();
	for (unsigned long i = 0; i < n; i++) {
		cleanup_free char *path = xasprintf("%s/ns-%lu", o.dir, i);
		int64_t t1 = now_ns();

		if (netns_ns_destroy(path, &err) < 0)
			return fail(err);
		teardown[i] = now_ns() - t1;
	}
	teardown_total = now_ns() - t0;

	t0 = now_ns();
	for (;;) {
		int ports = netns_nl_count_ports(nl, br, &err);

		if (ports < 0)
			return fail(err);
		if (ports == 0)
			break;
		if (now_ns() - t0 > 60 * 1000000000LL) {
			fprintf(stderr, "berth-netns-tool: %d veths still on %s after 60 s\n", ports,
				o.bridge);
			return 1;
		}
		usleep(1000);
	}
	gone = now_ns() - t0;

	qsort(setup, n, sizeof(*setup), cmp_i64);
	qsort(teardown, n, sizeof(*teardown), cmp_i64);
	printf("{\"count\":%lu,\"setup_ms_total\":%.3f,\"setup_us_p50\":%.1f,\"setup_us_p99\":%.1f,"
	       "\"teardown_ms_total\":%.3f,\"teardown_us_p50\":%.1f,\"veth_gone_ms\":%.3f}\n",
	       n, setup_total / 1e6, pct_us(setup, n, 50), pct_us(setup, n, 99),
	       teardown_total / 1e6, pct_us(teardown, n, 50), gone / 1e6);
	return 0;
}

static int cmd_up(int argc, char **argv)
{
	struct berr *err = NULL;
	struct opts o;
	cleanup_netns_nl struct netns_nl *nl = NULL, *in = NULL;
	cleanup_close int fd = -1;
	char ip[NETNS_IP_STRLEN], *slash;
	cleanup_free char *addr = NULL;
	uint32_t a_ip, gw;
	unsigned long prefix;
	int br;

	if (parse_opts(argc, argv, &o) < 0 || !o.netns || !o.bridge || !o.addr || !o.gw ||
	    !o.host_if)
		return usage();
	addr = xstrdup(o.addr);
	slash = strchr(addr, '/');
	if (!slash)
		return usage();
	*slash = '\0';
	prefix = num(slash + 1, "prefix");
	if (prefix > 32 || netns_ip_parse(addr, "--addr", &a_ip, &err) < 0 ||
	    netns_ip_parse(o.gw, "--gw", &gw, &err) < 0)
		return err ? fail(err) : usage();

	struct netns_attach a = {
		.bridge = o.bridge, .host_if = o.host_if, .addr = a_ip, .prefix = (unsigned)prefix,
		.gw = gw, .mtu = o.mtu ? (unsigned)num(o.mtu, "mtu") : 0,
	};

	if (netns_nl_open(&nl, &err) < 0)
		return fail(err);
	br = netns_nl_bridge_ensure(nl, o.bridge, gw, a.prefix, a.mtu, &err);
	if (br < 0)
		return fail(err);
	a.bridge_ifindex = br;
	if (netns_ns_create(o.netns, &fd, &in, &err) < 0)
		return fail(err);
	if (netns_ns_attach(nl, in, fd, &a, &err) < 0) {
		struct berr *e2 = NULL;

		if (netns_ns_destroy(o.netns, &e2) < 0)
			fprintf(stderr, "berth-netns-tool: %s\n", berr_msg(e2));
		berr_free(e2);
		return fail(err);
	}
	printf("{\"netns\":\"%s\",\"host_if\":\"%s\",\"addr\":\"%s/%lu\",\"bridge_ifindex\":%d}\n",
	       o.netns, o.host_if, netns_ip_str(a_ip, ip), prefix, br);
	return 0;
}

static int cmd_down(int argc, char **argv)
{
	struct berr *err = NULL;
	struct opts o;

	if (parse_opts(argc, argv, &o) < 0 || !o.netns)
		return usage();
	if (netns_ns_destroy(o.netns, &err) < 0)
		return fail(err);
	printf("{\"netns\":\"%s\",\"destroyed\":true}\n", o.netns);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} cmds[] = {
		{ "bench", cmd_bench }, { "up", cmd_up }, { "down", cmd_down },
	};

	if (argc < 2)
		return usage();
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(argv[1], cmds[i].name) == 0)
			return cmds[i].fn(argc - 1, argv + 1);
	return usage();
}
