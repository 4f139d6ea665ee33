/* tests/unit/runtime/userns_fixture.h - shared by test_shim.c,
 * test_shim_exec.c and test_taskrun_hooks.c: run a function as root of new
 * user, mount and network namespaces the test makes (no privilege needed;
 * as real root the namespace maps MAP_BASE.. so files can be chowned to
 * it). Include after cmocka.h. */
#ifndef BERTH_TESTS_USERNS_FIXTURE_H
#define BERTH_TESTS_USERNS_FIXTURE_H

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/xalloc.h"

#define MAP_BASE 100000

static void write_proc(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

enum {
	USERNS_SUBREAPER = 1,   /* fn's process is a subreaper (detached shims
				 * become its children) */
	USERNS_NEWPID = 2,      /* and a pid namespace, fn running as its pid 1's
				 * child (the launcher can return to it after
				 * joining a container's) */
};

/* Run fn as root of new user, mount and network namespaces (flags: the
 * USERNS_* above); what it writes to its fd comes back in *out. Returns
 * its exit status. */
static int in_userns_flags(int (*fn)(int out), char **out, int flags)
{
	int sync1[2], sync2[2], rep[2], status = -1;
	char map[64], path[64], c;
	size_t len = 0, cap = 4096;
	ssize_t n;
	pid_t pid;

	assert_int_equal(pipe2(sync1, O_CLOEXEC), 0);
	assert_int_equal(pipe2(sync2, O_CLOEXEC), 0);
	assert_int_equal(pipe2(rep, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(rep[0]);
		if (unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET |
			    (flags & USERNS_NEWPID ? CLONE_NEWPID : 0)) < 0) {
			dprintf(rep[1], "ERROR unshare: %s\n", strerror(errno));
			_exit(99);
		}
		if (write(sync1[1], "x", 1) != 1 || read(sync2[0], &c, 1) != 1)
			_exit(99);
		if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0 ||
		    ((flags & USERNS_SUBREAPER) && prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)) {
			dprintf(rep[1], "ERROR become root in the namespace: %s\n", strerror(errno));
			_exit(99);
		}
		if (flags & USERNS_NEWPID) {
			pid_t inner = fork();
			int st;

			if (inner == 0)
				_exit(fn(rep[1]));
			if (inner < 0 || waitpid(inner, &st, 0) < 0)
				_exit(98);
			_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 97);
		}
		_exit(fn(rep[1]));
	}
	close(rep[1]);
	assert_int_equal(read(sync1[0], &c, 1), 1);
	if (geteuid() == 0) {
		snprintf(map, sizeof(map), "0 %d 65536", MAP_BASE);
		snprintf(path, sizeof(path), "/proc/%d/uid_map", (int)pid);
		write_proc(path, map);
		snprintf(path, sizeof(path), "/proc/%d/gid_map", (int)pid);
		write_proc(path, map);
	} else {
		snprintf(path, sizeof(path), "/proc/%d/setgroups", (int)pid);
		write_proc(path, "deny");
		snprintf(map, sizeof(map), "0 %d 1", (int)getuid());
		snprintf(path, sizeof(path), "/proc/%d/uid_map", (int)pid);
		write_proc(path, map);
		snprintf(map, sizeof(map), "0 %d 1", (int)getgid());
		snprintf(path, sizeof(path), "/proc/%d/gid_map", (int)pid);
		write_proc(path, map);
	}
	assert_int_equal(write(sync2[1], "x", 1), 1);
	*out = xmalloc(cap);
	while ((n = read(rep[0], *out + len, cap - len - 1)) > 0) {
		len += (size_t)n;
		if (cap - len < 1024)
			*out = xrealloc(*out, cap *= 2);
	}
	(*out)[len] = '\0';
	assert_int_equal(waitpid(pid, &status, 0), pid);
	close(rep[0]);
	close(sync1[0]);
	close(sync1[1]);
	close(sync2[0]);
	close(sync2[1]);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* The shims' fixture: a subreaper in new user, mount and network namespaces. */
static inline int in_userns(int (*fn)(int out), char **out)
{
	return in_userns_flags(fn, out, USERNS_SUBREAPER);
}

#endif
