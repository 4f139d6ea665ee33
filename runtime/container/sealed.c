/* runtime/container/sealed.c - berth-init in a sealed memfd (CVE-2019-5736).
 *
 * While a container's program is being exec'd, /proc/self/exe still names
 * the process doing the exec; if that were the runtime's own binary, a path
 * (or interpreter) of /proc/self/exe would run the host's berth inside the
 * container, which could then write to it. So the launcher never execs a
 * container's program itself: berth-init does, from a memfd with
 * F_SEAL_WRITE|SHRINK|GROW (nobody can change it) and F_SEAL_SEAL (nobody
 * can lift those). A 0.8 MB static binary, copied once per process
 * (ctr_init_fd), instead of a sealed re-exec of the whole berth binary on
 * every `berth run`. */
#include "runtime/container/launch.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif

#define SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)

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

int ctr_init_fd_adopt(int fd, struct berr **err)
{
	size_t len = (size_t)(berth_init_blob_end - berth_init_blob);
	struct stat st;
	void *map;
	int seals, r = 0;

	pthread_mutex_lock(&init_lock);
	if (init_fd >= 0) {
		r = berr_set(err, EEXIST, "berth-init: this process has its memfd already");
		goto out;
	}
	seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0) {
		r = berr_set(err, errno, "berth-init: fd %d is not a sealed memfd", fd);
		goto out;
	}
	if ((seals & SEALS) != SEALS) {
		r = berr_set(err, EPERM, "berth-init: fd %d is not sealed against changes (seals 0x%x)",
			     fd, (unsigned)seals);
		goto out;
	}
	if (fstat(fd, &st) < 0) {
		r = berr_set(err, errno, "berth-init: fstat fd %d", fd);
		goto out;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != len) {
		r = berr_set(err, EINVAL, "berth-init: fd %d holds %lld bytes, this build's berth-init "
			     "has %zu (another version of berth)", fd, (long long)st.st_size, len);
		goto out;
	}
	/* the same bytes as ours: whoever made it runs another build of
	 * berth-init, whose protocol with this launcher may differ */
	map = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		r = berr_set(err, errno, "berth-init: map fd %d", fd);
		goto out;
	}
	if (memcmp(map, berth_init_blob, len) != 0)
		r = berr_set(err, EINVAL, "berth-init: fd %d differs from this build's berth-init "
			     "(another version of berth)", fd);
	munmap(map, len);
	if (r < 0)
		goto out;
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
		r = berr_set(err, errno, "berth-init: fd %d: FD_CLOEXEC", fd);
		goto out;
	}
	init_fd = fd;
out:
	pthread_mutex_unlock(&init_lock);
	return r;
}
