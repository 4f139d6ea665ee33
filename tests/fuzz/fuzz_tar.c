/* fuzz_tar: arbitrary bytes as a layer, unpacked into a fresh directory.
 * The first byte picks how the rest is fed:
 *   0: an uncompressed tar;
 *   1: a tar the harness gzips first (the gzip path with valid deflate);
 *   2: raw bytes with ROOTFS_COMP_DETECT (the decoders on garbage).
 * Invariant besides "no crash, no leak, no sanitizer report": nothing but
 * the target directory appears in the scratch directory around it. */
#include "rootfs/layer.h"
#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/xalloc.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <isa-l/igzip_lib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char base[64];
static int basefd = -1;

static unsigned char *gzip(const uint8_t *p, size_t n, size_t *out_len)
{
	struct isal_zstream s;
	size_t cap = n + n / 2 + 1024;
	unsigned char *out = xmalloc(cap);

	isal_deflate_init(&s);
	s.gzip_flag = IGZIP_GZIP;
	s.level = 0;
	s.end_of_stream = 1;
	s.flush = NO_FLUSH;
	s.next_in = (uint8_t *)p;
	s.avail_in = (uint32_t)n;
	s.next_out = out;
	s.avail_out = (uint32_t)cap;
	if (isal_deflate(&s) != COMP_OK || s.internal_state.state != ZSTATE_END)
		abort();
	*out_len = s.total_out;
	return out;
}

static void remove_base(void)
{
	if (basefd >= 0)
		(void)fs_rm_rf_at(AT_FDCWD, base, NULL);
}

static int make_removable(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)flag;
	(void)ftw;
	if (S_ISDIR(st->st_mode) && (st->st_mode & 0700) != 0700)
		(void)chmod(path, (st->st_mode & 07777) | 0700);
	return 0;
}

static void check_nothing_else(void)
{
	cleanup_closedir DIR *d = NULL;
	struct dirent *de;
	int fd = openat(basefd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		abort();
	d = fdopendir(fd);
	if (d == NULL)
		abort();
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") && strcmp(de->d_name, "t")) {
			fprintf(stderr, "fuzz_tar: %s/%s was created outside the layer\n", base, de->d_name);
			abort();
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rootfs_unpack_opts opts = {
		.max_bytes = 8 << 20,
		.max_entries = 2000,
		.flags = ROOTFS_UNPACK_NO_CHOWN | ROOTFS_UNPACK_USER_XATTR,
	};
	enum rootfs_compression comp = ROOTFS_COMP_NONE;
	struct rootfs_unpack_result res;
	cleanup_free unsigned char *gz = NULL;
	struct berr *err = NULL;
	char target[80];
	int mode, fd, tfd;

	if (basefd < 0) {
		snprintf(base, sizeof(base), "/tmp/berth-fuzz-tar-XXXXXX");
		if (mkdtemp(base) == NULL)
			abort();
		basefd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (basefd < 0)
			abort();
		atexit(remove_base);
	}
	if (size == 0)
		return 0;
	mode = data[0] % 3;
	data++;
	size--;
	if (mode == 1) {
		size_t n;

		gz = gzip(data, size, &n);
		data = gz;
		size = n;
		comp = ROOTFS_COMP_GZIP;
	} else if (mode == 2) {
		comp = ROOTFS_COMP_DETECT;
	}

	fd = memfd_create("fuzz-layer", MFD_CLOEXEC);
	if (fd < 0 || fs_write_all(fd, data, size) < 0 || lseek(fd, 0, SEEK_SET) != 0)
		abort();
	if (mkdirat(basefd, "t", 0700) < 0)
		abort();
	tfd = openat(basefd, "t", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (tfd < 0)
		abort();
	if (rootfs_layer_unpack(fd, comp, tfd, &opts, &res, &err) < 0) {
		if (err == NULL || err->msg == NULL || err->msg[0] == '\0')
			abort();   /* every failure says why */
	}
	berr_free(err);
	close(tfd);
	close(fd);
	check_nothing_else();
	snprintf(target, sizeof(target), "%s/t", base);
	nftw(target, make_removable, 16, FTW_PHYS);
	if (fs_rm_rf_at(basefd, "t", NULL) < 0)
		abort();
	return 0;
}
