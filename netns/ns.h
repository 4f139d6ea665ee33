/* netns/ns.h - task network namespaces: create, bind, attach, destroy.
 *
 * A task's netns is kept alive by a bind mount of its nsfs file on a path
 * (as `ip netns add` does with /run/netns/NAME), so it outlives the fds of
 * whoever made it and any process can reopen it by path.
 *
 * Mount namespaces: the bind mount is made in the calling thread's mount
 * namespace and only there (plus its peers, if the directory sits on a
 * shared mount: then netns_ns_destroy's detach propagates the same way).
 * `berth run` runs in a private mount namespace, so its task netns mounts
 * are invisible outside it and vanish with it; a daemon that wants others to
 * reopen the path must bind in a namespace they share.
 *
 * Teardown never deletes veths one by one (RTM_DELLINK of a veth waits for
 * an RCU grace period, ~20 ms each): netns_ns_destroy drops the mount, the
 * last fd goes with the shim, and the kernel removes the netns with its
 * eth0 (and so the host end of the pair) in batches (tests/tools
 * berth-netns-tool bench: 500 netns gone ~0.4 s after the last destroy).
 * What keeps a netns alive: its bind mount(s), any fd to it, any process in
 * it, and any socket created in it - including the netlink socket
 * netns_ns_create hands out (close it once the netns is configured).
 *
 * Not thread-hostile, but netns_ns_create moves the calling thread through
 * the new netns (unshare + setns back), so nothing else may rely on that
 * thread's netns while it runs. */
#ifndef BERTH_NETNS_NS_H
#define BERTH_NETNS_NS_H

#include <stdint.h>

#include "common/error.h"
#include "netns/nl.h"

/* Make a new netns, bind-mount it on bind_path (created 0600 in an existing
 * directory; an existing path is -EEXIST: a stale one is netns_ns_destroy's
 * to remove), bring lo up in it. *nsfd gets an O_CLOEXEC fd to it; with
 * nl_in_ns non-NULL, *nl_in_ns gets a netlink socket opened inside it.
 * On any failure the thread is back in its original netns and nothing is
 * left (no file, no mount, no fds). */
int netns_ns_create(const char *bind_path, int *nsfd, struct netns_nl **nl_in_ns,
		    struct berr **err);

/* Open a bound netns (O_CLOEXEC); -EINVAL when bind_path is not a network
 * namespace (e.g. a plain file whose mount is gone). */
int netns_ns_open(const char *bind_path, int *nsfd, struct berr **err);

/* Detach the bind mount(s) (umount2 MNT_DETACH) and unlink bind_path;
 * absent is success. Leaves the links alone (see above). */
int netns_ns_destroy(const char *bind_path, struct berr **err);

/* The awsvpc attach of a netns made by netns_ns_create. */
struct netns_attach {
	const char *bridge;     /* used when bridge_ifindex <= 0 */
	int bridge_ifindex;
	const char *host_if;    /* host end of the veth, <= 15 bytes */
	uint32_t addr;          /* eth0 address, host order */
	unsigned prefix;
	uint32_t gw;            /* default gateway (the bridge's address) */
	unsigned mtu;           /* 0 = kernel default */
};

/* veth host_if <-> eth0 (created in nsfd) on the bridge as an isolated
 * port, then over nl_in_ns: eth0 address, up, default route via gw.
 * On failure the veth is deleted again (rare path; the netns is the
 * caller's). */
int netns_ns_attach(struct netns_nl *host_nl, struct netns_nl *nl_in_ns, int nsfd,
		    const struct netns_attach *a, struct berr **err);

#endif
