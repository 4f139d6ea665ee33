/* rootfs/store_unpack.c - rootfs_store_unpack_layer (store.h): a blob of
 * the store unpacked into layers/<chain id>. Apart from store.c so that
 * programs that only read the store do not link the unpacker. */
#include "rootfs/store.h"
#include "rootfs/store_priv.h"
#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/json.h"
#include "common/log.h"
#include "common/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

int rootfs_store_unpack_layer(struct rootfs_store *s, const struct rootfs_layer_ref *l,
			      const struct rootfs_unpack_opts *opts, bool *unpacked,
			      struct rootfs_unpack_result *res, struct berr **err)
{
	cleanup_free char *tmp = NULL, *dst = NULL, *meta = NULL;
	cleanup_close int blobfd = -1, dirfd = -1;
	struct rootfs_unpack_result local;
	char a[ROOTFS_DIGEST_STR], b[ROOTFS_DIGEST_STR], c[ROOTFS_DIGEST_STR];
	json_t *m;
	int r;

	if (res == NULL)
		res = &local;
	*unpacked = false;
	if (rootfs_store_has_layer(s, &l->chain))
		return 0;
	blobfd = rootfs_store_open_blob(s, &l->blob, err);
	if (blobfd < 0)
		return blobfd;
	tmp = store_tmp_name("layer");
	if (mkdirat(s->rootfd, tmp, 0755) < 0)
		return berr_set(err, errno, "create %s/%s", s->root, tmp);
	dirfd = openat(s->rootfd, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dirfd < 0) {
		r = berr_set(err, errno, "open %s/%s", s->root, tmp);
		goto fail;
	}
	r = rootfs_layer_unpack(blobfd, l->comp, dirfd, opts, res, err);
	if (r < 0) {
		berr_wrap(err, "unpack layer %s", rootfs_digest_str(&l->blob, a));
		goto fail;
	}
	if (!rootfs_digest_eq(&res->diff_id, &l->diff_id)) {
		r = berr_set(err, 0, "layer %s: uncompressed content has digest %s, but the image config says %s",
			     rootfs_digest_str(&l->blob, a), rootfs_digest_str(&res->diff_id, b),
			     rootfs_digest_str(&l->diff_id, c));
		goto fail;
	}
	/* the root of the layer is the image's / : a fixed, conventional mode */
	if (fchmod(dirfd, 0755) < 0) {
		r = berr_set(err, errno, "chmod %s/%s", s->root, tmp);
		goto fail;
	}
	m = json_object();
	store_digest_json(m, "diffID", &res->diff_id);
	store_digest_json(m, "blob", &l->blob);
	json_object_set_new(m, "tarBytes", json_integer((json_int_t)res->tar_bytes));
	json_object_set_new(m, "fileBytes", json_integer((json_int_t)res->file_bytes));
	json_object_set_new(m, "entries", json_integer((json_int_t)res->entries));
	meta = xasprintf("layers/%s.json", l->chain.hex);
	r = store_write_json(s, meta, m, err);
	json_decref(m);
	if (r < 0)
		goto fail;
	/* the rename publishes the layer: its content must be on disk first,
	 * or a crash could leave a visible layer with empty files */
	if (syncfs(dirfd) < 0) {
		r = berr_set(err, errno, "sync unpacked layer %s/%s", s->root, tmp);
		goto fail;
	}
	dst = xasprintf("layers/%s", l->chain.hex);
	if (renameat(s->rootfd, tmp, s->rootfd, dst) < 0) {
		r = berr_set(err, errno, "move unpacked layer into %s/%s", s->root, dst);
		unlinkat(s->rootfd, meta, 0);
		goto fail;
	}
	*unpacked = true;
	return 0;
fail:
	{
		struct berr *e = NULL;
		cleanup_close int tmpfd = openat(s->rootfd, "tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (tmpfd < 0 || fs_rm_rf_at(tmpfd, tmp + 4, &e) < 0) {
			log_warn("image store: cannot remove %s/%s: %s", s->root, tmp, berr_msg(e));
			berr_free(e);
		}
	}
	return r;
}
