/* Unit tests for runtime/container/sealed.c: ctr_init_fd() and
 * ctr_exe_seal().
 *
 * ctr_exe_seal re-executes the process, so it is tested on this binary
 * itself: run with "--sealed-child ARGS...", main() calls ctr_exe_seal and
 * reports what the re-executed process sees (the seals on /proc/self/exe,
 * its argv, an environment variable); the test runs it as a child. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/container/launch.h"

/* the embedded berth-init (runtime/init/init_blob.S.in) */
extern const unsigned char berth_init_blob[];
extern const unsigned char berth_init_blob_end[];

#define ALL_SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)

static char self_exe[4096];

static void test_init_fd(void **state)
{
	struct berr *err = NULL;
	size_t len = (size_t)(berth_init_blob_end - berth_init_blob);
	int fd = ctr_init_fd(&err), fd2;
	struct stat st;
	unsigned char *buf;
	size_t done = 0;

	if (fd < 0)
		fail_msg("ctr_init_fd: %s", berr_msg(err));
	/* the blob is an ELF executable */
	assert_true(len > 1024);
	assert_memory_equal(berth_init_blob, "\177ELF", 4);

	assert_int_equal(fcntl(fd, F_GET_SEALS), ALL_SEALS);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal((size_t)st.st_size, len);
	assert_true(st.st_mode & S_IXUSR);

	/* the content is the blob */
	buf = malloc(len);
	assert_non_null(buf);
	while (done < len) {
		ssize_t n = pread(fd, buf + done, len - done, (off_t)done);

		assert_true(n > 0);
		done += (size_t)n;
	}
	assert_memory_equal(buf, berth_init_blob, len);
	free(buf);

	/* nobody changes it: not by writing, resizing or removing seals, nor
	 * through a new open of the same file */
	assert_int_equal(pwrite(fd, "x", 1, 0), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(ftruncate(fd, 0), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(fallocate(fd, 0, 0, (off_t)len * 2), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(fcntl(fd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE), -1);
	assert_int_equal(errno, EPERM);
	{
		char path[64];
		int w;

		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		w = open(path, O_WRONLY | O_CLOEXEC);
		if (w >= 0) {
			assert_int_equal(write(w, "x", 1), -1);
			assert_int_equal(errno, EPERM);
			close(w);
		} else {
			assert_int_equal(errno, EPERM);
		}
	}

	/* cached: the same fd every time */
	fd2 = ctr_init_fd(&err);
	assert_int_equal(fd2, fd);
	assert_null(err);
}

/* Run this binary as "--sealed-child" with args; returns its stdout. */
static char *run_sealed_child(const char *const *args, const char *extra_env, int *status)
{
	static char out[8192];
	int p[2];
	size_t len = 0;
	pid_t pid;

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char *argv[16];
		int n = 0;

		argv[n++] = self_exe;
		argv[n++] = "--sealed-child";
		for (int i = 0; args[i] && n < 15; i++)
			argv[n++] = (char *)args[i];
		argv[n] = NULL;
		dup2(p[1], 1);
		setenv("BERTH_SEALED_TEST_MARK", "kept across the re-exec", 1);
		if (extra_env)
			putenv((char *)extra_env);
		execv(self_exe, argv);
		_exit(99);
	}
	close(p[1]);
	for (;;) {
		ssize_t n = read(p[0], out + len, sizeof(out) - 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	out[len] = '\0';
	close(p[0]);
	assert_int_equal(waitpid(pid, status, 0), pid);
	return out;
}

static void test_exe_seal(void **state)
{
	const char *args[] = { "one", "two words", "", "--three", NULL };
	int st;
	char *out;
	int fd;

	/* this process runs from the build tree, unsealed */
	fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_true(fcntl(fd, F_GET_SEALS) < 0 || !(fcntl(fd, F_GET_SEALS) & F_SEAL_WRITE));
	close(fd);

	out = run_sealed_child(args, NULL, &st);
	printf("%s", out);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_non_null(strstr(out, "ctr_exe_seal: 0\n"));
	assert_non_null(strstr(out, "seals: 0xf\n"));     /* SEAL|SHRINK|GROW|WRITE */
	assert_non_null(strstr(out, "exe: /memfd:"));
	assert_non_null(strstr(out, "argc: 6\n"));
	assert_non_null(strstr(out, "argv[2]: [one]\n"));
	assert_non_null(strstr(out, "argv[3]: [two words]\n"));
	assert_non_null(strstr(out, "argv[4]: []\n"));
	assert_non_null(strstr(out, "argv[5]: [--three]\n"));
	assert_non_null(strstr(out, "mark: [kept across the re-exec]\n"));
	assert_non_null(strstr(out, "reexec var: [(none)]\n"));
	/* while it runs the kernel itself refuses writers (ETXTBSY); the
	 * seals refuse them always (EPERM, as test_init_fd shows) */
	assert_true(strstr(out, "write: EPERM\n") || strstr(out, "write: ETXTBSY\n"));
}

/* A process that claims to be the re-executed copy but is not sealed
 * refuses (instead of re-executing forever). */
static void test_exe_seal_loop_guard(void **state)
{
	const char *args[] = { NULL };
	char want[64];
	int st;
	char *out = run_sealed_child(args, "_BERTH_EXE_SEAL_REEXEC=1", &st);

	printf("%s", out);
	snprintf(want, sizeof(want), "ctr_exe_seal: %d\n", -ELOOP);
	assert_non_null(strstr(out, want));
	assert_null(strstr(out, "exe: /memfd:"));
	assert_non_null(strstr(out, "reexec var: [(none)]\n"));
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 1);
}

/* A binary nobody can write (here: on a read-only bind mount of itself, in
 * a mount namespace of this test's own) runs as it is: no copy, no second
 * exec; BERTH_EXE_SEAL_ALWAYS still forces the copy. Last test: it leaves
 * this process in its own mount namespace (the mount is undone). */
static void test_exe_read_only(void **state)
{
	const char *args[] = { NULL };
	int st;
	char *out;

	if (geteuid() != 0 || unshare(CLONE_NEWNS) < 0) {
		skip();
		return;
	}
	assert_int_equal(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
	assert_int_equal(mount(self_exe, self_exe, NULL, MS_BIND, NULL), 0);
	assert_int_equal(mount(NULL, self_exe, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL), 0);

	out = run_sealed_child(args, NULL, &st);
	printf("%s", out);
	assert_non_null(strstr(out, "ctr_exe_seal: 0\n"));
	assert_null(strstr(out, "exe: /memfd:"));
	assert_true(strstr(out, "write: EROFS\n") || strstr(out, "write: ETXTBSY\n"));

	out = run_sealed_child(args, "BERTH_EXE_SEAL_ALWAYS=1", &st);
	printf("%s", out);
	assert_non_null(strstr(out, "ctr_exe_seal: 0\n"));
	assert_non_null(strstr(out, "exe: /memfd:"));
	assert_int_equal(umount2(self_exe, 0), 0);
}

/* The child: seal (re-executing from the memfd), then report. */
static int sealed_child(int argc, char **argv)
{
	int r = ctr_exe_seal(argv);
	char exe[4096];
	ssize_t n;
	int fd, seals;
	const char *v;

	printf("ctr_exe_seal: %d\n", r);
	fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	seals = fd >= 0 ? fcntl(fd, F_GET_SEALS) : -1;
	printf("seals: %#x\n", seals);
	if (fd >= 0)
		close(fd);
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	exe[n > 0 ? n : 0] = '\0';
	printf("exe: %s\n", exe);
	printf("argc: %d\n", argc);
	for (int i = 0; i < argc; i++)
		printf("argv[%d]: [%s]\n", i, argv[i]);
	v = getenv("BERTH_SEALED_TEST_MARK");
	printf("mark: [%s]\n", v ? v : "(none)");
	v = getenv("_BERTH_EXE_SEAL_REEXEC");
	printf("reexec var: [%s]\n", v ? v : "(none)");
	/* even this process cannot write to its sealed image */
	fd = open("/proc/self/exe", O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		printf("write: %s\n", write(fd, "x", 1) < 0 ? strerrorname_np(errno) : "WROTE");
		close(fd);
	} else {
		printf("write: %s\n", strerrorname_np(errno));
	}
	fflush(stdout);
	return r == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_fd),
		cmocka_unit_test(test_exe_seal),
		cmocka_unit_test(test_exe_seal_loop_guard),
		cmocka_unit_test(test_exe_read_only),
	};
	ssize_t n;

	if (argc > 1 && !strcmp(argv[1], "--sealed-child"))
		return sealed_child(argc, argv);
	n = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);
	if (n <= 0) {
		perror("readlink /proc/self/exe");
		return 1;
	}
	self_exe[n] = '\0';
	return cmocka_run_group_tests(tests, NULL, NULL);
}
