/* common/cleanup.h - scope-bound cleanup for locals (as crun and systemd do).
 *
 *     cleanup_free char *buf = xmalloc(n);
 *     cleanup_close int fd = open(...);
 *     ...
 *     *out = steal_pointer(&buf);    // hand ownership to the caller
 *     return steal_fd(&fd);
 *
 * Every cleanup is a no-op on NULL / -1, so a stolen value is left alone. */
#ifndef BERTH_COMMON_CLEANUP_H
#define BERTH_COMMON_CLEANUP_H

#include <dirent.h>
#include <stdio.h>
#include <sys/types.h>

void cleanup_freep(void *p);
void cleanup_closep(int *fd);
void cleanup_fclosep(FILE **f);
void cleanup_closedirp(DIR **d);
/* SIGKILL the process and reap it. */
void cleanup_pidp(pid_t *pid);
/* Free a NULL-terminated array of strings and the array. */
void cleanup_strvp(char ***v);
void strv_free(char **v);

#define cleanup_free     __attribute__((cleanup(cleanup_freep)))
#define cleanup_close    __attribute__((cleanup(cleanup_closep)))
#define cleanup_fclose   __attribute__((cleanup(cleanup_fclosep)))
#define cleanup_closedir __attribute__((cleanup(cleanup_closedirp)))
#define cleanup_pid      __attribute__((cleanup(cleanup_pidp)))
#define cleanup_strv     __attribute__((cleanup(cleanup_strvp)))

static inline void *steal_pointer_impl(void **pp)
{
	void *p = *pp;

	*pp = NULL;
	return p;
}
#define steal_pointer(pp) ((__typeof__(*(pp)))steal_pointer_impl((void **)(pp)))

static inline int steal_fd(int *fd)
{
	int r = *fd;

	*fd = -1;
	return r;
}

static inline pid_t steal_pid(pid_t *pid)
{
	pid_t r = *pid;

	*pid = -1;
	return r;
}

#endif
