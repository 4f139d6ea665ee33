/* runtime/container/sealed.c - run from sealed memfd copies (CVE-2019-5736).
 *
 * A container's process can open /proc/<pid>/exe of a runtime process that
 * joins it (or of its own init) and, if that is the host binary, write
 * through it. A memfd with F_SEAL_WRITE|SHRINK|GROW cannot be changed by
 * anyone, and F_SEAL_SEAL keeps those seals from being lifted, so berth
 * re-executes itself from such a copy (ctr_exe_seal) and runs berth-init
 * from one (ctr_init_fd). */
#include "runtime/container/launch.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/ioctl.h>
#include <linux/fs.h>
#include <unistd.h>

#include "common/cleanup.h"

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif

#define SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)
/* set across the re-exec, so a copy that did not come out sealed cannot
 * loop re-executing itself */
#define REEXEC_ENV "_BERTH_EXE_SEAL_REEXEC"

/* The embedded berth-init (runtime/init/init_blob.S.in). */
extern const unsigned char berth_init_blob[];
extern const unsigned char berth_init_blob_end[];

extern char **environ;

/* A memfd that may be sealed and executed. Since Linux 6.3 a memfd is
 * executable only with MFD_EXEC (or with no flag, depending on
 * vm.memfd_noexec); older kernels reject the flag with EINVAL. */
static int exec_memfd(const char *name)
{
	int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);

	if (fd < 0 && errno == EINVAL)
		fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	return fd;
}

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Copy all of src (a regular file, from offset 0) into dst. */
static int copy_fd(int src, int dst, off_t size)
{
	off_t done = 0;
	bool try_cfr = true, try_sendfile = true;

	while (done < size) {
		ssize_t n = -1;

		if (try_cfr) {
			loff_t in = done;

			n = copy_file_range(src, &in, dst, NULL, (size_t)(size - done), 0);
			if (n == 0 || (n < 0 && errno != EINTR)) {
				/* EXDEV (another filesystem), EINVAL, ENOSYS... */
				try_cfr = false;
				continue;
			}
		} else if (try_sendfile) {
			off_t in = done;

			n = sendfile(dst, src, &in, (size_t)(size - done));
			if (n == 0 || (n < 0 && errno != EINTR)) {
				try_sendfile = false;
				continue;
			}
		} else {
			char buf[65536];

			n = pread(src, buf, sizeof(buf), done);
			if (n > 0) {
				int r = write_all(dst, buf, (size_t)n);

				if (r < 0)
					return r;
			} else if (n < 0 && errno != EINTR) {
				return -errno;
			}
		}
		if (n < 0)
			continue;   /* EINTR */
		if (n == 0)
			return -EIO;   /* the file shrank under us */
		done += n;
	}
	return 0;
}

static bool fd_sealed(int fd)
{
	int seals = fcntl(fd, F_GET_SEALS);

	return seals >= 0 && (seals & (F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW)) ==
			     (F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW);
}

/* Nothing, not even root with every capability but CAP_LINUX_IMMUTABLE and
 * CAP_SYS_ADMIN outside our mount namespace, can write the binary through
 * /proc/<pid>/exe: it sits on a read-only mount (the path /proc/pid/exe
 * resolves to carries that mount) or is immutable (chattr +i). Then the
 * sealed copy, and the second exec it costs, buys nothing. */
static bool exe_write_protected(int fd)
{
	struct statvfs sv;
	int flags = 0;

	if (getenv("BERTH_EXE_SEAL_ALWAYS"))
		return false;
	if (fstatvfs(fd, &sv) == 0 && (sv.f_flag & ST_RDONLY))
		return true;
	if (ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0 && (flags & FS_IMMUTABLE_FL))
		return true;
	return false;
}

int ctr_exe_seal(char **argv)
{
	cleanup_close int exe = -1;
	cleanup_close int mfd = -1;
	bool reexeced = getenv(REEXEC_ENV) != NULL;
	struct stat st;
	int r;

	if (reexeced)
		unsetenv(REEXEC_ENV);
	exe = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	if (exe < 0)
		return -errno;
	if (fd_sealed(exe))
		return 0;
	if (!reexeced && exe_write_protected(exe))
		return 0;
	if (reexeced)
		return -ELOOP;   /* we did re-exec, yet the binary is not sealed */
	if (fstat(exe, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;

	mfd = exec_memfd("berth");
	if (mfd < 0)
		return -errno;
	r = copy_fd(exe, mfd, st.st_size);
	if (r < 0)
		return r;
	if (fcntl(mfd, F_ADD_SEALS, SEALS) < 0)
		return -errno;
	if (!fd_sealed(mfd))
		return -EPERM;

	if (setenv(REEXEC_ENV, "1", 1) < 0)
		return -errno;
	execveat(mfd, "", argv, environ, AT_EMPTY_PATH);
	r = -errno;
	unsetenv(REEXEC_ENV);
	return r;
}

static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;
static int init_fd = -1;

int ctr_init_fd(struct berr **err)
{
	size_t len = (size_t)(berth_init_blob_end - berth_init_blob);
	int fd, r = 0;

	pthread_mutex_lock(&init_lock);
	if (init_fd >= 0)
		goto out;
	fd = exec_memfd("berth-init");
	if (fd < 0) {
		r = berr_set(err, errno, "berth-init: memfd_create");
		goto out;
	}
	r = write_all(fd, berth_init_blob, len);
	if (r < 0) {
		r = berr_set(err, r, "berth-init: write %zu bytes to the memfd", len);
		close(fd);
		goto out;
	}
	if (fcntl(fd, F_ADD_SEALS, SEALS) < 0) {
		r = berr_set(err, errno, "berth-init: seal the memfd");
		close(fd);
		goto out;
	}
	init_fd = fd;
out:
	r = r < 0 ? r : init_fd;
	pthread_mutex_unlock(&init_lock);
	return r;
}
