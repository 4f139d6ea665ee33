/* berth-bench-unpack: unpack one layer blob with rootfs_layer_unpack and
 * print what it took. Driven by tests/bench/unpack/run.sh.
 *
 *   berth-bench-unpack [-c gzip|zstd|none|detect] [--no-chown] LAYER DIR
 *
 * DIR must exist and be empty. Prints one line:
 *   seconds=<s> tar_bytes=<n> entries=<n> file_bytes=<n> mb_s=<MB/s> diff_id=<digest> */
#include "rootfs/layer.h"
#include "common/error.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	struct rootfs_unpack_opts opts = { 0 };
	struct rootfs_unpack_result res;
	enum rootfs_compression comp = ROOTFS_COMP_DETECT;
	struct berr *err = NULL;
	char digest[ROOTFS_DIGEST_STR];
	int i = 1, fd, dfd;
	double t0, t1;

	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--no-chown") == 0) {
			opts.flags |= ROOTFS_UNPACK_NO_CHOWN;
		} else if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
			const char *c = argv[++i];

			comp = strcmp(c, "gzip") == 0 ? ROOTFS_COMP_GZIP :
			       strcmp(c, "zstd") == 0 ? ROOTFS_COMP_ZSTD :
			       strcmp(c, "none") == 0 ? ROOTFS_COMP_NONE : ROOTFS_COMP_DETECT;
		} else {
			fprintf(stderr, "unknown option %s\n", argv[i]);
			return 2;
		}
	}
	if (argc - i != 2) {
		fprintf(stderr, "usage: %s [-c gzip|zstd|none|detect] [--no-chown] LAYER DIR\n", argv[0]);
		return 2;
	}
	fd = open(argv[i], O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		perror(argv[i]);
		return 1;
	}
	dfd = open(argv[i + 1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		perror(argv[i + 1]);
		return 1;
	}
	t0 = now();
	if (rootfs_layer_unpack(fd, comp, dfd, &opts, &res, &err) < 0) {
		fprintf(stderr, "berth-bench-unpack: %s\n", berr_msg(err));
		berr_free(err);
		return 1;
	}
	t1 = now();
	printf("seconds=%.4f tar_bytes=%llu entries=%llu file_bytes=%llu mb_s=%.1f diff_id=%s\n",
	       t1 - t0, (unsigned long long)res.tar_bytes, (unsigned long long)res.entries,
	       (unsigned long long)res.file_bytes, (double)res.tar_bytes / 1e6 / (t1 - t0),
	       rootfs_digest_str(&res.diff_id, digest));
	close(fd);
	close(dfd);
	return 0;
}
