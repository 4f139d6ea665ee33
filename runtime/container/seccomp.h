/* runtime/container/seccomp.h - the default seccomp allowlist.
 *
 * Modelled on Docker's default profile (moby/profiles seccomp/default.json):
 * default action EPERM; an allowlist of ordinary syscalls; clone3 answers
 * ENOSYS (libc falls back to clone); clone without CLONE_NEW* flags;
 * personality argument-filtered; mount, umount2, unshare, setns, fsopen,
 * fsconfig, fsmount, fspick, move_mount, open_tree, bpf, perf_event_open,
 * sethostname, setdomainname, syslog, ... only when the container keeps
 * CAP_SYS_ADMIN (and the analogous gates for SYS_MODULE, SYS_BOOT,
 * SYS_PTRACE, SYS_TIME, SYS_NICE, SYS_RESOURCE, SYS_RAWIO, SYS_PACCT,
 * SYS_CHROOT, DAC_READ_SEARCH, SYSLOG); never keyctl, add_key,
 * request_key, pivot_root, kexec_*, userfaultfd, io_uring_*.
 *
 * Compiling with libseccomp costs tens of ms, so the filter is compiled in
 * the parent, once per capability set, and cached for the process and, when
 * a cache directory is set, on disk for the machine (one process per task
 * would otherwise compile at every start); the child only loads the ready
 * BPF program (seccomp(SECCOMP_SET_MODE_FILTER)), as the last step before
 * execve. */
#ifndef BERTH_RUNTIME_CONTAINER_SECCOMP_H
#define BERTH_RUNTIME_CONTAINER_SECCOMP_H

#include <linux/filter.h>
#include <stdint.h>

#include "common/error.h"

struct ctr_seccomp {
	struct sock_fprog prog;   /* prog.filter owned by the cache */
	uint64_t caps;            /* the capability set it was built for */
};

/* The filter for a container keeping `caps`, compiled on first use for that
 * set and cached for the life of the process (never freed; a process sees
 * few distinct sets). *out stays valid until ctr_seccomp_cache_clear().
 * With a cache directory, a first use reads <dir>/<key>.bpf instead of
 * compiling when that file is valid, and writes it after compiling when it
 * is not. The key is a sha256 over everything the program is built from
 * (the policy tables as applied to caps, the prologue, the native
 * architecture, the libseccomp version and library file), so an edit to
 * the policy or an upgrade picks a new file. A file is used only when it
 * is a regular file with one link, owned by the effective uid, not writable
 * by group or others, opened without following a symlink, and its header
 * (magic, version, key, instruction count, digest of the instructions)
 * matches; anything else is recompiled and replaced. Disk cache failures
 * are logged, never returned. */
int ctr_seccomp_get(uint64_t caps, const struct ctr_seccomp **out, struct berr **err);
/* Forget the process cache (the disk cache stays). */
void ctr_seccomp_cache_clear(void);

/* Use `dir` as the disk cache (NULL: none, the default). The directory is
 * created 0700 with missing parents; an existing one must be owned by the
 * effective uid and not writable by group or others, else EPERM. On any
 * error the disk cache stays off. */
int ctr_seccomp_set_cache_dir(const char *dir, struct berr **err);

/* Load a filter into the calling thread: seccomp(SET_MODE_FILTER, TSYNC
 * not used). Async-signal-safe (a raw syscall); returns -errno. Needs
 * no_new_privs or CAP_SYS_ADMIN, as the kernel does. */
int ctr_seccomp_load(const struct ctr_seccomp *f);

#endif
