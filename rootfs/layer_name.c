/* rootfs/layer_name.c - rootfs_compression_name (layer.h), on its own so
 * that the image store's bookkeeping does not link the unpacker (and with
 * it ISA-L, zstd and libarchive) into every program that uses the store:
 * berth-shim only takes leases and mounts layers. */
#include "rootfs/layer.h"

const char *rootfs_compression_name(enum rootfs_compression c)
{
	switch (c) {
	case ROOTFS_COMP_DETECT:
		return "detect";
	case ROOTFS_COMP_NONE:
		return "none";
	case ROOTFS_COMP_GZIP:
		return "gzip";
	case ROOTFS_COMP_ZSTD:
		return "zstd";
	}
	return "unknown";
}
