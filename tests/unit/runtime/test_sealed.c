/* Unit tests for runtime/container/sealed.c (ctr_init_fd) and berth-init's
 * exec mode (runtime/container/childmsg.h), through which the launcher
 * starts every container program (CVE-2019-5736). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/container/childmsg.h"
#include "runtime/container/launch.h"

/* the embedded berth-init (runtime/init/init_blob.S.in) */
extern const unsigned char berth_init_blob[];
extern const unsigned char berth_init_blob_end[];

extern char **environ;

#define ALL_SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)

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

struct stub_run {
	int status;              /* wait status of the stub's process */
	ssize_t msg_len;         /* what came on the sync socket: 0 = EOF (exec'd) */
	struct ctr_child_msg msg;
	char out[4096];          /* its stdout and stderr */
};

/* Run the sealed berth-init in exec mode as the launcher does: the sync
 * socket's number in argv[1], the candidates, then the program's argv. */
static void run_stub(const char *const *cands, const char *const *argv, struct stub_run *r)
{
	struct berr *err = NULL;
	int init = ctr_init_fd(&err), sv[2], outp[2];
	size_t len = 0;
	pid_t pid;

	if (init < 0)
		fail_msg("ctr_init_fd: %s", berr_msg(err));
	memset(r, 0, sizeof(*r));
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(pipe2(outp, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char *av[32], fdnum[16], n[16];
		int k = 0, nc = 0;

		while (cands[nc])
			nc++;
		snprintf(fdnum, sizeof(fdnum), "%d", sv[1]);
		snprintf(n, sizeof(n), "%d", nc);
		av[k++] = CTR_EXEC_ARGV0;
		av[k++] = fdnum;
		av[k++] = n;
		for (int i = 0; cands[i]; i++)
			av[k++] = (char *)cands[i];
		for (int i = 0; argv[i]; i++)
			av[k++] = (char *)argv[i];
		av[k] = NULL;
		dup2(outp[1], 1);
		dup2(outp[1], 2);
		fcntl(sv[1], F_SETFD, 0);   /* as the launcher hands it over */
		syscall(SYS_execveat, init, "", av, environ, AT_EMPTY_PATH);
		_exit(99);
	}
	close(sv[1]);
	close(outp[1]);
	r->msg_len = recv(sv[0], &r->msg, sizeof(r->msg), 0);
	for (;;) {
		ssize_t n = read(outp[0], r->out + len, sizeof(r->out) - 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	r->out[len] = '\0';
	close(sv[0]);
	close(outp[0]);
	assert_int_equal(waitpid(pid, &r->status, 0), pid);
}

/* The program runs with its argv, and the sync socket is closed by then
 * (EOF: the launcher's "exec'd" signal), not inherited by the program. */
static void test_exec_mode_runs(void **state)
{
	const char *cands[] = { "/nonexistent/sh", "/bin/sh", NULL };
	const char *argv[] = { "sh", "-c",
		"echo \"[$0] [$1]\"; for f in /proc/self/fd/*; do readlink $f; done | grep -c socket:; exit 0",
		"zero", "one two", NULL };
	struct stub_run r;

	run_stub(cands, argv, &r);
	printf("%s", r.out);
	assert_int_equal(r.msg_len, 0);
	assert_true(WIFEXITED(r.status));
	assert_int_equal(WEXITSTATUS(r.status), 0);
	assert_non_null(strstr(r.out, "[zero] [one two]\n"));
	/* the sync socket did not leak into the program */
	assert_non_null(strstr(r.out, "]\n0\n"));
}

static void test_exec_mode_not_found(void **state)
{
	const char *cands[] = { "/nonexistent/a/prog", "/nonexistent/b/prog", NULL };
	const char *argv[] = { "prog", NULL };
	struct stub_run r;

	run_stub(cands, argv, &r);
	assert_int_equal(r.msg_len, (ssize_t)sizeof(r.msg));
	assert_string_equal(r.msg.step, "exec");
	assert_int_equal(r.msg.err, ENOENT);
	assert_string_equal(r.msg.detail, "executable file not found: prog");
	assert_true(WIFEXITED(r.status));
	assert_int_equal(WEXITSTATUS(r.status), 127);
}

static void test_exec_mode_not_executable(void **state)
{
	char dir[] = "/tmp/berth-sealed.XXXXXX", file[64];
	const char *cands[] = { file, NULL };
	const char *argv[] = { "data", NULL };
	struct stub_run r;
	int fd;

	assert_non_null(mkdtemp(dir));
	snprintf(file, sizeof(file), "%s/data", dir);
	fd = open(file, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	close(fd);
	run_stub(cands, argv, &r);
	unlink(file);
	rmdir(dir);
	assert_int_equal(r.msg_len, (ssize_t)sizeof(r.msg));
	assert_int_equal(r.msg.err, EACCES);
	assert_string_equal(r.msg.detail, "permission denied: data");
	assert_int_equal(WEXITSTATUS(r.status), 127);
}

/* The point of the stub: exec'ing the magic link /proc/self/exe from it
 * reaches the sealed berth-init again (it answers with its usage), never
 * the binary that launched it (this test program). */
static void test_exec_mode_proc_self_exe(void **state)
{
	const char *cands[] = { "/proc/self/exe", NULL };
	const char *argv[] = { "/proc/self/exe", NULL };
	struct stub_run r;

	run_stub(cands, argv, &r);
	printf("%s", r.out);
	assert_int_equal(r.msg_len, 0);
	assert_true(WIFEXITED(r.status));
	assert_int_equal(WEXITSTATUS(r.status), 2);
	assert_non_null(strstr(r.out, "berth-init: usage"));
	assert_null(strstr(r.out, "[=========="));   /* not cmocka: not this binary */
}

static void test_exec_mode_bad_usage(void **state)
{
	const char *cands[] = { NULL };
	const char *argv[] = { NULL };
	struct stub_run r;

	run_stub(cands, argv, &r);
	assert_int_equal(WEXITSTATUS(r.status), 127);
	assert_non_null(strstr(r.out, "usage: berth-exec"));
}

/* A memfd holding len bytes of data (one byte flipped at `flip` unless
 * it is (size_t)-1), sealed with `seals`. */
static int make_memfd(const unsigned char *data, size_t len, size_t flip, int seals)
{
	int fd = (int)syscall(SYS_memfd_create, "test-init", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	size_t done = 0;

	if (fd < 0)
		return -1;
	while (done < len) {
		unsigned char b = data[done];
		ssize_t n;

		if (done == flip) {
			b ^= 0xff;
			n = write(fd, &b, 1);
		} else {
			size_t chunk = flip > done && flip < len ? flip - done : len - done;

			n = write(fd, data + done, chunk);
		}
		if (n <= 0)
			return -1;
		done += (size_t)n;
	}
	if (seals && fcntl(fd, F_ADD_SEALS, seals) < 0)
		return -1;
	return fd;
}

/* In a fresh process (the memfd cache is per process and survives fork):
 * 0 when every check holds, else the number of the first that failed. */
static int adopt_checks(void)
{
	size_t len = (size_t)(berth_init_blob_end - berth_init_blob);
	struct berr *err = NULL;
	int p[2], fd;

	/* not sealed against writes */
	fd = make_memfd(berth_init_blob, len, (size_t)-1, F_SEAL_SHRINK | F_SEAL_GROW);
	if (fd < 0 || ctr_init_fd_adopt(fd, &err) != -EPERM || !strstr(berr_msg(err), "not sealed"))
		return 1;
	berr_clear(&err);
	close(fd);
	/* sealed, but one byte differs: another build's berth-init */
	fd = make_memfd(berth_init_blob, len, len / 2, ALL_SEALS);
	if (fd < 0 || ctr_init_fd_adopt(fd, &err) != -EINVAL || !strstr(berr_msg(err), "another version"))
		return 2;
	berr_clear(&err);
	close(fd);
	/* sealed, shorter */
	fd = make_memfd(berth_init_blob, len - 1, (size_t)-1, ALL_SEALS);
	if (fd < 0 || ctr_init_fd_adopt(fd, &err) != -EINVAL)
		return 3;
	berr_clear(&err);
	close(fd);
	/* not a memfd at all */
	if (pipe(p) < 0 || ctr_init_fd_adopt(p[0], &err) >= 0)
		return 4;
	berr_clear(&err);
	/* the real thing: adopted, and it is what ctr_init_fd answers */
	fd = make_memfd(berth_init_blob, len, (size_t)-1, ALL_SEALS);
	if (fd < 0 || fcntl(fd, F_SETFD, 0) < 0 || ctr_init_fd_adopt(fd, &err) != 0)
		return 5;
	if (!(fcntl(fd, F_GETFD) & FD_CLOEXEC) || ctr_init_fd(&err) != fd)
		return 6;
	/* only once */
	if (ctr_init_fd_adopt(fd, &err) != -EEXIST)
		return 7;
	berr_clear(&err);
	return 0;
}

static void test_init_fd_adopt(void **state)
{
	pid_t pid;
	int st;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		execl("/proc/self/exe", "test_sealed", "adopt-checks", (char *)NULL);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail_msg("adopt check %d failed (status 0x%x)", WIFEXITED(st) ? WEXITSTATUS(st) : -1, st);
}

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "adopt-checks"))
		return adopt_checks();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_fd),
		cmocka_unit_test(test_init_fd_adopt),
		cmocka_unit_test(test_exec_mode_runs),
		cmocka_unit_test(test_exec_mode_not_found),
		cmocka_unit_test(test_exec_mode_not_executable),
		cmocka_unit_test(test_exec_mode_proc_self_exe),
		cmocka_unit_test(test_exec_mode_bad_usage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
