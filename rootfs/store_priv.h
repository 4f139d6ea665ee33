/* rootfs/store_priv.h - what store.c shares with store_unpack.c; not for
 * other modules. */
#ifndef BERTH_ROOTFS_STORE_PRIV_H
#define BERTH_ROOTFS_STORE_PRIV_H

#include <jansson.h>

#include "common/error.h"
#include "rootfs/digest.h"

struct rootfs_store {
	char *root;
	int rootfd;
	int lockfd;
	int locked;
};

/* "tmp/<prefix>-<pid>-<time>-<n>": a fresh name under the store's tmp/ */
char *store_tmp_name(const char *prefix);
/* JSON to rel (under the root) by temporary file, fsync and rename */
int store_write_json(struct rootfs_store *s, const char *rel, const json_t *v, struct berr **err);
/* o[key] = "sha256:<hex>" */
void store_digest_json(json_t *o, const char *key, const struct rootfs_digest *d);

#endif
