/* netns/ipam.h - task IP addresses from a pool, persisted in a directory.
 *
 * A pool is an IPv4 prefix of length 8 to 30. Its first address is the
 * network, net+1 is the gateway (the bridge's address), the last is the
 * broadcast; tasks get net+2 .. broadcast-1.
 *
 * Storage (one directory, e.g. /var/lib/berth/ipam; netns/resv.h):
 *   <a.b.c.d>   one file per allocated address, created with O_CREAT|O_EXCL
 *               and holding "<owner>\n", so after a restart of berth an
 *               address handed out is still held. Not fsync'd: a machine
 *               crash ends the tasks too (netns/resv.h).
 *   last        the last address handed out ("a.b.c.d\n", temp file +
 *               rename): the next scan starts after it, wrapping once. Only
 *               a hint; a missing or corrupt one restarts the scan at net+2.
 *   lock        flock(LOCK_EX)ed for each operation, so several processes
 *               (berth run, berthd) and threads share the directory safely.
 *
 * A reservation file that is empty, unreadable, not a regular file, or not
 * exactly "<owner>\n" (a crash between create and write) still holds its
 * address: alloc never hands it out, list shows its owner as "?",
 * release_owner never removes it and release refuses it (EPERM). An
 * operator clears it by removing the file (rm <dir>/a.b.c.d) once nothing
 * uses the address.
 *
 * Names that are not canonical dotted quads are ignored. Address files
 * outside the pool (left by an earlier, different pool in the same
 * directory) are never scanned or handed out, but list reports them and
 * release/release_owner remove them, so a task from before the change can
 * still be torn down and an operator sees the leftovers.
 *
 * Owners are task ids: [A-Za-z0-9._:-]{1,128}. */
#ifndef BERTH_NETNS_IPAM_H
#define BERTH_NETNS_IPAM_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "netns/cidr.h"

struct netns_ipam;

/* dir is created 0700 if missing (its parent must exist); an existing dir
 * must be owned by the effective uid and not group/other-writable. */
int netns_ipam_open(const char *dir, const struct netns_cidr *pool, struct netns_ipam **out,
		    struct berr **err);
void netns_ipam_close(struct netns_ipam *ipam);
uint32_t netns_ipam_gateway(const struct netns_ipam *ipam);

/* Allocate an address for owner. Exhausted: ENOSPC, "IPAM pool
 * 10.88.0.0/24: all 253 addresses are in use; stop tasks or configure a
 * larger network.subnet". */
int netns_ipam_alloc(struct netns_ipam *ipam, const char *owner, uint32_t *out, struct berr **err);
/* Release addr if owner holds it; not held = success; held by another task
 * (or by an unreadable file) = EPERM naming both. */
int netns_ipam_release(struct netns_ipam *ipam, uint32_t addr, const char *owner,
		       struct berr **err);
/* Release every address owner holds; returns how many. */
int netns_ipam_release_owner(struct netns_ipam *ipam, const char *owner, struct berr **err);

struct netns_ipam_entry {
	uint32_t addr;
	char owner[129];   /* "?" when the file has no readable owner */
};
/* Every address file, sorted by address; *out is malloc'd (free()), NULL
 * when *n is 0. */
int netns_ipam_list(struct netns_ipam *ipam, struct netns_ipam_entry **out, size_t *n,
		    struct berr **err);

#endif
