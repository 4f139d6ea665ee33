/* common/fsutil.h - path and fd helpers.
 *
 * The in-root functions resolve a path the way a chroot would, so that a
 * hostile tree (image layers, a container rootfs) cannot send us outside it
 * with symlinks or "..": openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS),
 * and on kernels without openat2 a userspace walk with the same semantics.
 *
 * Every fd returned is O_CLOEXEC. Functions taking `struct berr **err` follow
 * error.h; the few plain ones return 0 or -errno.
 */
#ifndef BERTH_COMMON_FSUTIL_H
#define BERTH_COMMON_FSUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "error.h"

/* Largest number of symlinks followed while resolving one path (as the
 * kernel's MAXSYMLINKS); one more gives ELOOP. */
#define FS_MAX_SYMLINKS 40

/* Open `path` relative to the directory `rootfd`, treating rootfd as "/":
 * absolute paths and absolute symlink targets start again at rootfd, ".." at
 * rootfd stays there, magic links (/proc/N/fd/...) are refused. `resolve`
 * adds RESOLVE_* flags (RESOLVE_NO_SYMLINKS, RESOLVE_NO_XDEV). `mode` is used
 * with O_CREAT / O_TMPFILE only. O_CLOEXEC is always added. With O_NOFOLLOW a
 * final symlink is not followed (ELOOP, or the link itself with O_PATH).
 * Returns the fd. Errors: "open etc/passwd in root /var/lib/x: <strerror>". */
int fs_open_in_root(int rootfd, const char *path, int flags, mode_t mode,
		    unsigned resolve, struct berr **err);

/* Create the directory `path` inside rootfd (resolved as fs_open_in_root
 * does; with `parents` also every missing ancestor, like mkdir -p) and
 * return an O_PATH | O_DIRECTORY fd of it. An existing directory is fine.
 * mode is filtered by the umask, as mkdir(2) does. */
int fs_mkdir_in_root(int rootfd, const char *path, mode_t mode, bool parents,
		     struct berr **err);

/* Tests only: take the fallbacks for old kernels even on a new one (the
 * userspace walk instead of openat2, /proc/self/fd instead of close_range). */
void fs_force_fallback(bool on);

/* Readable name of an fd for messages: the target of /proc/self/fd/N when it
 * can be read, "/proc/self/fd/N" otherwise ("." for AT_FDCWD). xmalloc'd. */
char *fs_fd_name(int fd);

/* Read fd to EOF into a NUL-terminated xmalloc'd buffer (*len excludes the
 * NUL; len may be NULL). More than `max` bytes is an error (EFBIG). */
int fs_read_all(int fd, char **out, size_t *len, size_t max, struct berr **err);

/* Write all of buf, retrying short writes and EINTR. 0 or -errno. */
int fs_write_all(int fd, const void *buf, size_t len);

/* fs_read_all on a file opened by path (relative to dirfd for _at; AT_FDCWD
 * allowed). Symlinks are followed: use fs_open_in_root for untrusted trees. */
int fs_read_file(const char *path, char **out, size_t *len, size_t max, struct berr **err);
int fs_read_file_at(int dirfd, const char *path, char **out, size_t *len, size_t max,
		    struct berr **err);

/* Replace `path` atomically: write a temporary file in the same directory,
 * fsync it, set exactly `mode` (not filtered by the umask), rename it over
 * path and fsync the directory. Readers see the old or the new content, never
 * a mix; on every error the temporary file is removed. A symlink at path is
 * replaced, not followed. */
int fs_write_file_atomic(const char *path, const void *buf, size_t len, mode_t mode,
			 struct berr **err);
/* The same without the two fsyncs: readers and a crash of the process still
 * see the old or the new content, a crash of the machine may leave either
 * (or, on some filesystems, an empty file). For state that means nothing
 * after a reboot (leases of running tasks, files inside a task's
 * directories, stamps of kernel state): each fsync costs milliseconds on a
 * task's start path. */
int fs_write_file_replace(const char *path, const void *buf, size_t len, mode_t mode,
			  struct berr **err);

/* mkdir -p: create path and missing ancestors; existing directories are
 * fine, an existing non-directory is ENOTDIR. mode is filtered by the umask. */
int fs_mkdir_p(const char *path, mode_t mode, struct berr **err);

/* rm -rf of `name` relative to dirfd (AT_FDCWD allowed; a missing name is
 * success). Symlinks inside the tree, and `name` itself when it is one, are
 * removed, never followed; leading components of name are the caller's trusted
 * path and are followed. Refuses (EXDEV, nothing under it removed) to descend
 * into anything on another filesystem or mount than name's parent directory,
 * so a forgotten mount is not wiped. Stops at the first error. */
int fs_rm_rf_at(int dirfd, const char *name, struct berr **err);

/* "a" + "/" + "b" with exactly one slash between (b may be absolute: it is
 * appended, which is what prefixing a rootfs path wants). Either empty gives
 * the other. Not cleaned. xmalloc'd. */
char *fs_path_join(const char *a, const char *b);

/* Lexical clean-up like Go's filepath.Clean: collapse "//", drop ".", resolve
 * "x/.." lexically, drop ".." right after the root, drop the trailing slash;
 * "" gives ".". xmalloc'd. Lexical only: a symlink is not looked at. */
char *fs_path_clean(const char *path);

/* True when path can name something inside a directory without leaving it:
 * non-empty, relative, and no ".." left after cleaning ("a/../b" is fine,
 * "a/../../b" is not). "." and "./" name the directory itself and are fine. */
bool fs_path_is_safe_relative(const char *path);

/* Close every fd >= minfd: close_range(2), or /proc/self/fd when the kernel
 * lacks it. 0 or -errno. */
int fs_close_range_from(int minfd);

/* Set FD_CLOEXEC on fd. 0 or -errno. */
int fs_set_cloexec(int fd);

#endif
