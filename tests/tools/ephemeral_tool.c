/* berth-ephemeral-tool - test driver for rootfs/ephemeral (VM cases only).
 *
 * Drives the library from shell scripts, one JSON object per result line,
 * and measures it (bench). Also the writers the cases need: fill a
 * directory to its limit reporting the errno, and try to move a file out of
 * its XFS project as an unprivileged file owner would.
 */
#include "common/cleanup.h"
#include "common/error.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "rootfs/ephemeral.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

static const char usage_text[] =
	"usage: berth-ephemeral-tool [OPTIONS] COMMAND [ARGS]\n"
	"options (volume commands):\n"
	"  --base DIR            base dir of the volumes\n"
	"  --mech loop|prjquota  mechanism (default loop)\n"
	"  --fs ext4|xfs         filesystem of loop volumes (default ext4)\n"
	"  --min-mib N --max-mib N --default-mib N   bounds in MiB (sizes in MiB allowed)\n"
	"  --no-dio              no direct I/O on loop devices\n"
	"  --mkfs PROG           mkfs program to run (for the chosen --fs)\n"
	"  --fault-step N [--fault-crash]   fail (or SIGKILL) create after step N\n"
	"  --loop-legacy         bind loop devices with LOOP_SET_FD + LOOP_SET_STATUS64\n"
	"  --alive ID            cleanup/stale: this task is alive (repeatable)\n"
	"commands:\n"
	"  create ID SIZE_MIB | open ID | usage ID | destroy ID | remove ID\n"
	"  stale | cleanup | check-gib GIB|-\n"
	"  fill DIR [MIB]        write DIR/fill.bin in 1 MiB writes (MIB of them, or until\n"
	"                        an error), fsync: {\"written\",\"errno\",\"error\",\"at\"}\n"
	"  escape-projid FILE MIB UID   as UID: create FILE, move it to project 0, write MIB\n"
	"  statfs PATH           {\"size\",\"avail\",\"used\",\"bsize\",\"type\"}\n"
	"  bench N SIZE_MIB [--cycle] [--files F] [--calls K]\n"
	"                        create N volumes then destroy them (--cycle: one at a time),\n"
	"                        F files of 4 KiB in each before destroy; K usage calls\n";

static struct rootfs_ephemeral_config cfg;
static char **alive_ids;
static size_t n_alive;

static bool is_alive(const char *id, void *data)
{
	(void)data;
	for (size_t i = 0; i < n_alive; i++)
		if (strcmp(alive_ids[i], id) == 0)
			return true;
	return false;
}

static void json_str(const char *s)
{
	putchar('"');
	for (; s && *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", *s);
		else
			putchar(*s);
	}
	putchar('"');
}

static int fail(struct berr *err)
{
	printf("{\"error\":");
	json_str(berr_msg(err));
	printf(",\"errno\":%d}\n", err ? err->code : 0);
	berr_free(err);
	return 1;
}

static uint64_t mib_arg(const char *s)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);

	if (*s == '\0' || *end != '\0') {
		fprintf(stderr, "berth-ephemeral-tool: bad number '%s'\n", s);
		exit(2);
	}
	return v;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void print_volume(const struct rootfs_ephemeral *v)
{
	printf("{\"task\":");
	json_str(rootfs_ephemeral_task_id(v));
	printf(",\"path\":");
	json_str(rootfs_ephemeral_path(v));
	printf(",\"device\":");
	if (rootfs_ephemeral_device(v))
		json_str(rootfs_ephemeral_device(v));
	else
		printf("null");
	printf(",\"dio\":%s,\"projid\":%" PRIu32 ",\"size\":%" PRIu64 "}\n",
	       rootfs_ephemeral_direct_io(v) ? "true" : "false", rootfs_ephemeral_projid(v),
	       rootfs_ephemeral_size(v));
}

static const char *errno_name(int e)
{
	switch (e) {
	case 0: return "";
	case ENOSPC: return "ENOSPC";
	case EDQUOT: return "EDQUOT";
	case EIO: return "EIO";
	case EPERM: return "EPERM";
	case EINVAL: return "EINVAL";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	case ENOTTY: return "ENOTTY";
	case EROFS: return "EROFS";
	default: return "other";
	}
}

/* Write 1 MiB blocks of a non-zero pattern to `file`. */
static int write_blocks(int fd, uint64_t mib, uint64_t *written, int *err_out, const char **at)
{
	static char buf[1 << 20];

	memset(buf, 0xa5, sizeof(buf));
	*written = 0;
	*err_out = 0;
	*at = "";
	for (uint64_t i = 0; mib == 0 || i < mib; i++) {
		size_t off = 0;

		while (off < sizeof(buf)) {
			ssize_t k = write(fd, buf + off, sizeof(buf) - off);

			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0) {
				*err_out = k < 0 ? errno : ENOSPC;
				*at = "write";
				return -1;
			}
			off += (size_t)k;
			*written += (uint64_t)k;
		}
	}
	if (fsync(fd) < 0) {
		*err_out = errno;
		*at = "fsync";
		return -1;
	}
	return 0;
}

static void print_write_result(uint64_t written, int e, const char *at)
{
	printf("{\"written\":%" PRIu64 ",\"errno\":\"%s\",\"error\":", written, errno_name(e));
	json_str(e ? strerror(e) : "");
	printf(",\"at\":\"%s\"", at);
}

static int cmd_fill(int argc, char **argv)
{
	cleanup_free char *file = NULL;
	cleanup_close int fd = -1;
	uint64_t written;
	const char *at;
	int e;

	if (argc < 1 || argc > 2) {
		fputs(usage_text, stderr);
		return 2;
	}
	file = xasprintf("%s/fill.bin", argv[0]);
	fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		e = errno;
		print_write_result(0, e, "open");
		printf("}\n");
		return 1;
	}
	write_blocks(fd, argc == 2 ? mib_arg(argv[1]) : 0, &written, &e, &at);
	print_write_result(written, e, at);
	printf("}\n");
	return 0;
}

/* What an unprivileged owner of a file in a quota'd tree can do in the
 * initial user namespace: FS_IOC_FSSETXATTR to project 0, then write. */
static int cmd_escape_projid(int argc, char **argv)
{
	cleanup_close int fd = -1, dfd = -1;
	cleanup_free char *dir = NULL;
	const char *name;
	uid_t uid;
	struct fsxattr fa;
	int chproj = 0, e;
	uint64_t written;
	const char *at;

	if (argc != 3) {
		fputs(usage_text, stderr);
		return 2;
	}
	uid = (uid_t)mib_arg(argv[2]);
	/* the directory is opened first: berth's base dir is root-only, as a
	 * container reaches its upper dir through the overlay, not the path */
	dir = xstrdup(argv[0]);
	name = strrchr(dir, '/');
	if (name == NULL) {
		fputs("berth-ephemeral-tool: escape-projid wants DIR/FILE\n", stderr);
		return 2;
	}
	dir[name - dir] = '\0';
	name = argv[0] + (name - dir) + 1;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		perror(dir);
		return 1;
	}
	if (setgroups(0, NULL) < 0 || setresgid(uid, uid, uid) < 0 || setresuid(uid, uid, uid) < 0) {
		perror("berth-ephemeral-tool: drop to uid");
		return 1;
	}
	fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		perror(argv[0]);
		return 1;
	}
	if (ioctl(fd, FS_IOC_FSGETXATTR, &fa) < 0) {
		chproj = errno;
	} else {
		fa.fsx_projid = 0;
		if (ioctl(fd, FS_IOC_FSSETXATTR, &fa) < 0)
			chproj = errno;
	}
	write_blocks(fd, mib_arg(argv[1]), &written, &e, &at);
	print_write_result(written, e, at);
	printf(",\"chproj\":\"%s\"}\n", chproj ? errno_name(chproj) : "ok");
	return 0;
}

static int cmd_statfs(const char *path)
{
	struct statfs sf;

	if (statfs(path, &sf) < 0) {
		perror(path);
		return 1;
	}
	printf("{\"size\":%" PRIu64 ",\"avail\":%" PRIu64 ",\"used\":%" PRIu64
	       ",\"bsize\":%lu,\"type\":\"0x%lx\"}\n",
	       (uint64_t)sf.f_blocks * (uint64_t)sf.f_frsize, (uint64_t)sf.f_bavail * (uint64_t)sf.f_frsize,
	       (uint64_t)(sf.f_blocks - sf.f_bfree) * (uint64_t)sf.f_frsize,
	       (unsigned long)sf.f_frsize, (unsigned long)sf.f_type);
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void print_stats(const char *name, double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	/* nearest rank */
	printf("\"%s\":{\"p50\":%.2f,\"p90\":%.2f,\"min\":%.2f,\"max\":%.2f}", name,
	       v[(n * 50 + 99) / 100 - 1], v[(n * 90 + 99) / 100 - 1], v[0], v[n - 1]);
}

static int populate(const char *dir, unsigned files)
{
	char buf[4096];

	memset(buf, 'x', sizeof(buf));
	for (unsigned i = 0; i < files; i++) {
		cleanup_free char *sub = xasprintf("%s/d%u", dir, i / 100);
		cleanup_free char *p = xasprintf("%s/f%u", sub, i);
		cleanup_close int fd = -1;

		if (i % 100 == 0 && mkdir(sub, 0755) < 0)
			return -1;
		fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0 || write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
			return -1;
	}
	return 0;
}

static int cmd_bench(int argc, char **argv)
{
	unsigned n, files = 0, calls = 2000;
	uint64_t size;
	bool cycle = false, dio = false;
	struct rootfs_ephemeral **v;
	double *ct, *dt, t, usage_ns = 0, statfs_ns = 0;
	struct berr *err = NULL;
	int ac = 0;
	char *pos[2];

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--cycle") == 0)
			cycle = true;
		else if (strcmp(argv[i], "--files") == 0 && i + 1 < argc)
			files = (unsigned)mib_arg(argv[++i]);
		else if (strcmp(argv[i], "--calls") == 0 && i + 1 < argc)
			calls = (unsigned)mib_arg(argv[++i]);
		else if (ac < 2)
			pos[ac++] = argv[i];
		else
			ac = 3;
	}
	if (ac != 2) {
		fputs(usage_text, stderr);
		return 2;
	}
	n = (unsigned)mib_arg(pos[0]);
	size = mib_arg(pos[1]) * ROOTFS_EPHEMERAL_MIB;
	if (n == 0 || calls == 0) {
		fputs("berth-ephemeral-tool: bench needs N > 0 and --calls > 0\n", stderr);
		return 2;
	}
	v = xcalloc(n, sizeof(*v));
	ct = xcalloc(n, sizeof(*ct));
	dt = xcalloc(n, sizeof(*dt));
	for (unsigned round = 0; round < (cycle ? n : 1); round++) {
		unsigned lo = cycle ? round : 0, hi = cycle ? round + 1 : n;

		for (unsigned i = lo; i < hi; i++) {
			char id[32];

			snprintf(id, sizeof(id), "bench-%u", i);
			t = now_ms();
			if (rootfs_ephemeral_create(&cfg, id, size, &v[i], &err) < 0)
				return fail(err);
			ct[i] = now_ms() - t;
			dio = rootfs_ephemeral_direct_io(v[i]);
		}
		if (round == 0) {
			uint64_t used, reserved;
			struct statfs sf;

			t = now_ms();
			for (unsigned k = 0; k < calls; k++)
				if (rootfs_ephemeral_usage(v[0], &used, &reserved, &err) < 0)
					return fail(err);
			usage_ns = (now_ms() - t) * 1e6 / calls;
			t = now_ms();
			for (unsigned k = 0; k < calls; k++)
				statfs(rootfs_ephemeral_path(v[0]), &sf);
			statfs_ns = (now_ms() - t) * 1e6 / calls;
		}
		for (unsigned i = lo; i < hi; i++) {
			if (files && populate(rootfs_ephemeral_path(v[i]), files) < 0) {
				perror("berth-ephemeral-tool: populate");
				return 1;
			}
			if (files)
				sync();
			t = now_ms();
			if (rootfs_ephemeral_destroy(v[i], &err) < 0)
				return fail(err);
			dt[i] = now_ms() - t;
		}
	}
	printf("{\"mech\":\"%s\",\"fs\":\"%s\",\"n\":%u,\"size_mib\":%" PRIu64
	       ",\"mode\":\"%s\",\"files\":%u,\"dio\":%s,",
	       rootfs_ephemeral_mech_name(cfg.mech), rootfs_ephemeral_fstype_name(cfg.fstype), n,
	       size / ROOTFS_EPHEMERAL_MIB, cycle ? "cycle" : "batch", files, dio ? "true" : "false");
	print_stats("create_ms", ct, n);
	putchar(',');
	print_stats("destroy_ms", dt, n);
	printf(",\"usage_ns\":%.0f,\"statfs_ns\":%.0f}\n", usage_ns, statfs_ns);
	free(v);
	free(ct);
	free(dt);
	return 0;
}

static int cmd_stale(void)
{
	struct rootfs_ephemeral_stale *s;
	struct berr *err = NULL;
	size_t n;

	if (rootfs_ephemeral_find_stale(&cfg, &s, &n, &err) < 0)
		return fail(err);
	printf("{\"stale\":[");
	for (size_t i = 0; i < n; i++) {
		printf("%s{\"task\":", i ? "," : "");
		json_str(s[i].task_id);
		printf(",\"entry\":%s,\"projid\":%" PRIu32 ",\"mounts\":[", s[i].has_entry ? "true" : "false",
		       s[i].projid);
		for (size_t k = 0; s[i].mounts[k]; k++) {
			printf("%s", k ? "," : "");
			json_str(s[i].mounts[k]);
		}
		printf("],\"loops\":[");
		for (size_t k = 0; k < s[i].n_loops; k++)
			printf("%s%d", k ? "," : "", s[i].loops[k]);
		printf("]}");
	}
	printf("]}\n");
	rootfs_ephemeral_stale_free(s, n);
	return 0;
}

int main(int argc, char **argv)
{
	enum { O_BASE = 1, O_MECH, O_FS, O_MIN, O_MAX, O_DEF, O_NODIO, O_MKFS, O_FSTEP, O_FCRASH, O_ALIVE, O_LEGACY };
	static const struct option opts[] = {
		{ "base", required_argument, NULL, O_BASE },
		{ "mech", required_argument, NULL, O_MECH },
		{ "fs", required_argument, NULL, O_FS },
		{ "min-mib", required_argument, NULL, O_MIN },
		{ "max-mib", required_argument, NULL, O_MAX },
		{ "default-mib", required_argument, NULL, O_DEF },
		{ "no-dio", no_argument, NULL, O_NODIO },
		{ "mkfs", required_argument, NULL, O_MKFS },
		{ "fault-step", required_argument, NULL, O_FSTEP },
		{ "fault-crash", no_argument, NULL, O_FCRASH },
		{ "alive", required_argument, NULL, O_ALIVE },
		{ "loop-legacy", no_argument, NULL, O_LEGACY },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *mkfs = NULL;
	struct berr *err = NULL;
	const char *cmd;
	int c;

	blog_init("berth-ephemeral-tool");
	rootfs_ephemeral_config_init(&cfg, NULL);
	cfg.task_alive = is_alive;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case O_BASE: cfg.base_dir = optarg; break;
		case O_MECH:
			if (rootfs_ephemeral_mech_parse(optarg, &cfg.mech) < 0) {
				fprintf(stderr, "berth-ephemeral-tool: unknown mechanism '%s'\n", optarg);
				return 2;
			}
			break;
		case O_FS:
			if (rootfs_ephemeral_fstype_parse(optarg, &cfg.fstype) < 0) {
				fprintf(stderr, "berth-ephemeral-tool: unknown filesystem '%s'\n", optarg);
				return 2;
			}
			break;
		case O_MIN: cfg.min_bytes = mib_arg(optarg) * ROOTFS_EPHEMERAL_MIB; cfg.allow_mib = true; break;
		case O_MAX: cfg.max_bytes = mib_arg(optarg) * ROOTFS_EPHEMERAL_MIB; cfg.allow_mib = true; break;
		case O_DEF: cfg.default_bytes = mib_arg(optarg) * ROOTFS_EPHEMERAL_MIB; cfg.allow_mib = true; break;
		case O_NODIO: cfg.direct_io = false; break;
		case O_MKFS: mkfs = optarg; break;
		case O_FSTEP: cfg.fault_step = (int)mib_arg(optarg); break;
		case O_FCRASH: cfg.fault_crash = true; break;
		case O_LEGACY: cfg.loop_legacy = true; break;
		case O_ALIVE:
			alive_ids = xreallocarray(alive_ids, n_alive + 1, sizeof(char *));
			alive_ids[n_alive++] = optarg;
			break;
		case 'h': fputs(usage_text, stdout); return 0;
		default: fputs(usage_text, stderr); return 2;
		}
	}
	if (mkfs) {
		cfg.mkfs_ext4 = mkfs;
		cfg.mkfs_xfs = mkfs;
	}
	if (optind >= argc) {
		fputs(usage_text, stderr);
		return 2;
	}
	cmd = argv[optind++];
	argc -= optind;
	argv += optind;

	if (strcmp(cmd, "fill") == 0)
		return cmd_fill(argc, argv);
	if (strcmp(cmd, "escape-projid") == 0)
		return cmd_escape_projid(argc, argv);
	if (strcmp(cmd, "statfs") == 0 && argc == 1)
		return cmd_statfs(argv[0]);
	if (strcmp(cmd, "check-gib") == 0 && argc == 1) {
		uint64_t bytes;
		bool present = strcmp(argv[0], "-") != 0;

		if (rootfs_ephemeral_size_from_gib(&cfg, present, present ? strtoll(argv[0], NULL, 10) : 0,
						   &bytes, &err) < 0)
			return fail(err);
		printf("{\"bytes\":%" PRIu64 "}\n", bytes);
		return 0;
	}
	if (cfg.base_dir == NULL) {
		fputs("berth-ephemeral-tool: --base DIR is needed\n", stderr);
		return 2;
	}
	if (strcmp(cmd, "bench") == 0)
		return cmd_bench(argc, argv);
	if (strcmp(cmd, "stale") == 0 && argc == 0)
		return cmd_stale();
	if (strcmp(cmd, "cleanup") == 0 && argc == 0) {
		int n = rootfs_ephemeral_cleanup_stale(&cfg, &err);

		if (n < 0)
			return fail(err);
		printf("{\"removed\":%d}\n", n);
		return 0;
	}
	if (strcmp(cmd, "create") == 0 && argc == 2) {
		struct rootfs_ephemeral *v;

		if (rootfs_ephemeral_create(&cfg, argv[0], mib_arg(argv[1]) * ROOTFS_EPHEMERAL_MIB, &v,
					    &err) < 0)
			return fail(err);
		print_volume(v);
		rootfs_ephemeral_free(v);
		return 0;
	}
	if ((strcmp(cmd, "open") == 0 || strcmp(cmd, "usage") == 0 || strcmp(cmd, "destroy") == 0) &&
	    argc == 1) {
		struct rootfs_ephemeral *v;

		if (rootfs_ephemeral_open(&cfg, argv[0], &v, &err) < 0)
			return fail(err);
		if (strcmp(cmd, "open") == 0) {
			print_volume(v);
			rootfs_ephemeral_free(v);
		} else if (strcmp(cmd, "usage") == 0) {
			uint64_t used, reserved;
			int r = rootfs_ephemeral_usage(v, &used, &reserved, &err);

			rootfs_ephemeral_free(v);
			if (r < 0)
				return fail(err);
			printf("{\"used\":%" PRIu64 ",\"reserved\":%" PRIu64 "}\n", used, reserved);
		} else {
			if (rootfs_ephemeral_destroy(v, &err) < 0)
				return fail(err);
			printf("{\"destroyed\":true}\n");
		}
		return 0;
	}
	if (strcmp(cmd, "remove") == 0 && argc == 1) {
		if (rootfs_ephemeral_remove(&cfg, argv[0], &err) < 0)
			return fail(err);
		printf("{\"removed\":true}\n");
		return 0;
	}
	fputs(usage_text, stderr);
	return 2;
}
