/* netns/ns.c - task network namespaces (see ns.h). */
#include "netns/ns.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <linux/magic.h>
#include <linux/nsfs.h>

#include "common/cleanup.h"
#include "common/log.h"

/* The loopback device is the first device of every netns. */
#define LOOPBACK_IFINDEX 1

/* The one step with no way back: a thread left in the task's netns would
 * configure (or expose) the wrong namespace from then on. */
static void return_to(int orig_fd)
{
	if (setns(orig_fd, CLONE_NEWNET) < 0) {
		log_error("netns: cannot return to the original network namespace: %s",
			  strerror(errno));
		abort();
	}
}

/* unshare a netns on this thread, open it and a netlink socket in it, lo up,
 * and come back. */
static int enter_new(int orig_fd, int *nsfd, struct netns_nl **nl_out, struct berr **err)
{
	cleanup_close int fd = -1;
	cleanup_netns_nl struct netns_nl *nl = NULL;
	int r;

	if (unshare(CLONE_NEWNET) < 0)
		return berr_set(err, errno, "unshare(CLONE_NEWNET)");
	/* thread-self: after a per-thread unshare, /proc/self is the leader's */
	fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		r = berr_set(err, errno, "open /proc/thread-self/ns/net");
	else if ((r = netns_nl_open(&nl, err)) >= 0)
		r = netns_nl_link_up(nl, LOOPBACK_IFINDEX, err);
	return_to(orig_fd);
	if (r < 0)
		return r;
	*nsfd = steal_fd(&fd);
	*nl_out = steal_pointer(&nl);
	return 0;
}

int netns_ns_create(const char *bind_path, int *nsfd, struct netns_nl **nl_in_ns,
		    struct berr **err)
{
	cleanup_close int orig = -1, file = -1, fd = -1;
	cleanup_netns_nl struct netns_nl *nl = NULL;
	char src[64];
	int r;

	orig = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (orig < 0)
		return berr_set(err, errno, "create netns %s: open /proc/thread-self/ns/net",
				bind_path);
	file = open(bind_path, O_RDONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (file < 0)
		return berr_set(err, errno, "create netns %s: create bind file", bind_path);
	close(steal_fd(&file));

	r = enter_new(orig, &fd, &nl, err);
	if (r < 0) {
		berr_wrap(err, "create netns %s", bind_path);
		goto undo;
	}
	snprintf(src, sizeof(src), "/proc/self/fd/%d", fd);
	if (mount(src, bind_path, NULL, MS_BIND, NULL) < 0) {
		r = berr_set(err, errno, "create netns %s: bind mount", bind_path);
		goto undo;
	}
	*nsfd = steal_fd(&fd);
	if (nl_in_ns)
		*nl_in_ns = steal_pointer(&nl);
	return 0;

undo:
	(void)unlink(bind_path);
	return r;
}

int netns_ns_open(const char *bind_path, int *nsfd, struct berr **err)
{
	cleanup_close int fd = open(bind_path, O_RDONLY | O_CLOEXEC);
	struct statfs sfs;
	int type;

	if (fd < 0)
		return berr_set(err, errno, "open netns %s", bind_path);
	if (fstatfs(fd, &sfs) < 0)
		return berr_set(err, errno, "open netns %s: fstatfs", bind_path);
	if (sfs.f_type != NSFS_MAGIC)
		return berr_set(err, EINVAL, "open netns %s: not a namespace (no netns mounted there)",
				bind_path);
	type = ioctl(fd, NS_GET_NSTYPE);
	if (type < 0)
		return berr_set(err, errno, "open netns %s: NS_GET_NSTYPE", bind_path);
	if (type != CLONE_NEWNET)
		return berr_set(err, EINVAL, "open netns %s: a namespace, but not a network one",
				bind_path);
	*nsfd = steal_fd(&fd);
	return 0;
}

int netns_ns_destroy(const char *bind_path, struct berr **err)
{
	/* Loop: a path bound twice (a crash between two creates) has two. */
	for (int i = 0; i < 16; i++) {
		if (umount2(bind_path, MNT_DETACH | UMOUNT_NOFOLLOW) == 0)
			continue;
		if (errno == EINVAL || errno == ENOENT)   /* not (or no longer) a mount point */
			break;
		return berr_set(err, errno, "destroy netns %s: unmount", bind_path);
	}
	if (unlink(bind_path) < 0 && errno != ENOENT)
		return berr_set(err, errno, "destroy netns %s: remove bind file", bind_path);
	return 0;
}

int netns_ns_attach(struct netns_nl *host_nl, struct netns_nl *nl_in_ns, int nsfd,
		    const struct netns_attach *a, struct berr **err)
{
	int br = a->bridge_ifindex, eth0, r;

	if (br <= 0 && (br = netns_nl_ifindex(host_nl, a->bridge ? a->bridge : "", err)) < 0)
		return berr_wrap(err, "attach %s", a->host_if ? a->host_if : "");
	r = netns_nl_veth_create(host_nl, a->host_if, "eth0", nsfd, a->mtu, br, true, err);
	if (r < 0)
		return berr_wrap(err, "attach %s", a->host_if ? a->host_if : "");
	if ((eth0 = r = netns_nl_ifindex(nl_in_ns, "eth0", err)) < 0 ||
	    (r = netns_nl_addr_add(nl_in_ns, eth0, a->addr, a->prefix, err)) < 0 ||
	    (r = netns_nl_link_up(nl_in_ns, eth0, err)) < 0 ||
	    (r = netns_nl_route_add_default(nl_in_ns, a->gw, eth0, err)) < 0) {
		(void)netns_nl_link_del(host_nl, a->host_if, NULL);
		return berr_wrap(err, "attach %s: inside the netns", a->host_if);
	}
	return 0;
}
