/* netns/resv.c - reservation files: one file per held key, a lock file, a
 * "last" hint per key space (see resv.h). */
#include "netns/resv.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/xalloc.h"

#define LOCK_FILE "lock"

/* ---------------------------------------------------------------- owners */

static bool owner_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == ':' || c == '-';
}

static bool owner_ok_n(const char *s, size_t len)
{
	if (len == 0 || len > RESV_OWNER_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!owner_char_ok(s[i]))
			return false;
	}
	return true;
}

bool netns_resv_owner_ok(const char *owner)
{
	return owner && owner_ok_n(owner, strnlen(owner, RESV_OWNER_MAX + 1));
}

int netns_resv_check_owner(const char *owner, struct berr **err)
{
	if (!netns_resv_owner_ok(owner))
		return berr_set(err, EINVAL,
				"owner \"%s\" is not a task id (want 1 to %d of A-Z a-z 0-9 . _ : -)",
				berr_q(owner ? owner : ""), RESV_OWNER_MAX);
	return 0;
}

int netns_resv_parse_owner(const char *buf, size_t len, char owner[RESV_OWNER_MAX + 1])
{
	if (len < 2 || buf[len - 1] != '\n' || !owner_ok_n(buf, len - 1)) {
		strcpy(owner, RESV_OWNER_UNKNOWN);
		return -EINVAL;
	}
	memcpy(owner, buf, len - 1);
	owner[len - 1] = '\0';
	return 0;
}

/* ------------------------------------------------------------ open/lock */

int netns_resv_open(const char *dir, struct resv *out, struct berr **err)
{
	cleanup_close int fd = -1;
	struct stat st;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return berr_set(err, errno, "create directory %s", dir);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return berr_set(err, errno, "open directory %s", dir);
	if (fstat(fd, &st) < 0)
		return berr_set(err, errno, "stat %s", dir);
	if (st.st_uid != geteuid())
		return berr_set(err, EPERM, "directory %s is owned by uid %u, not by uid %u", dir,
				(unsigned)st.st_uid, (unsigned)geteuid());
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		return berr_set(err, EPERM, "directory %s is writable by group or others (mode %04o)",
				dir, (unsigned)(st.st_mode & 07777));
	out->dir = xstrdup(dir);
	out->dirfd = steal_fd(&fd);
	return 0;
}

void netns_resv_close(struct resv *r)
{
	if (r->dirfd >= 0)
		close(r->dirfd);
	r->dirfd = -1;
	free(r->dir);
	r->dir = NULL;
}

int netns_resv_lock(const struct resv *r, struct berr **err)
{
	cleanup_close int fd = openat(r->dirfd, LOCK_FILE, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
				      0600);

	if (fd < 0)
		return berr_set(err, errno, "open %s/%s", r->dir, LOCK_FILE);
	while (flock(fd, LOCK_EX) < 0) {
		if (errno != EINTR)
			return berr_set(err, errno, "lock %s/%s", r->dir, LOCK_FILE);
	}
	return steal_fd(&fd);
}

/* ---------------------------------------------------------------- files */

/* Read at most size bytes of a regular file; -errno, or the length. */
static ssize_t read_bounded(const struct resv *r, const char *name, char *buf, size_t size)
{
	cleanup_close int fd = -1;
	struct stat st;
	size_t got = 0;

	/* O_NONBLOCK: a FIFO under a key's name must not hang us */
	fd = openat(r->dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	while (got < size) {
		ssize_t n = read(fd, buf + got, size - got);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

int netns_resv_holder(const struct resv *r, const char *name, char owner[RESV_OWNER_MAX + 1],
		struct berr **err)
{
	/* one byte more than the longest valid content, to see it is too long */
	char buf[RESV_OWNER_MAX + 2];
	ssize_t n = read_bounded(r, name, buf, sizeof(buf));
	struct stat st;

	if (n >= 0) {
		netns_resv_parse_owner(buf, (size_t)n, owner);
		return 1;
	}
	if (n == -ENOENT)
		return 0;
	/* a symlink, a directory, a file we cannot read: it exists, so the key is held */
	if (fstatat(r->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return 0;
		return berr_set(err, errno, "stat %s/%s", r->dir, name);
	}
	strcpy(owner, RESV_OWNER_UNKNOWN);
	return 1;
}

int netns_resv_create(const struct resv *r, const char *name, const char *owner, struct berr **err)
{
	cleanup_free char *content = xasprintf("%s\n", owner);
	cleanup_close int fd = -1;
	int rc;

	fd = openat(r->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		if (errno == EEXIST)
			return -EEXIST;
		return berr_set(err, errno, "create %s/%s", r->dir, name);
	}
	rc = fs_write_all(fd, content, strlen(content));
	if (rc == 0 && close(steal_fd(&fd)) < 0)
		rc = -errno;
	if (rc < 0) {
		/* never handed out: take the half-written file back (we hold the lock) */
		unlinkat(r->dirfd, name, 0);
		return berr_set(err, rc, "write %s/%s", r->dir, name);
	}
	return 0;
}

int netns_resv_remove(const struct resv *r, const char *name, struct berr **err)
{
	if (unlinkat(r->dirfd, name, 0) < 0 && errno != ENOENT)
		return berr_set(err, errno, "remove %s/%s", r->dir, name);
	return 0;
}

int netns_resv_release(const struct resv *r, const char *name, const char *owner, const char *what,
		 struct berr **err)
{
	char holder[RESV_OWNER_MAX + 1];
	int rc = netns_resv_holder(r, name, holder, err);

	if (rc <= 0)
		return rc;
	if (strcmp(holder, RESV_OWNER_UNKNOWN) == 0)
		return berr_set(err, EPERM,
				"release %s for task %s: its reservation file %s/%s has no readable owner "
				"(remove it by hand once nothing uses %s)",
				what, owner, r->dir, name, what);
	if (strcmp(holder, owner) != 0)
		return berr_set(err, EPERM, "release %s for task %s: it is held by task %s", what, owner,
				holder);
	rc = netns_resv_remove(r, name, err);
	return rc < 0 ? rc : 1;
}

int netns_resv_read_small(const struct resv *r, const char *name, char *buf, size_t size)
{
	ssize_t n;

	if (size == 0)
		return -EINVAL;
	n = read_bounded(r, name, buf, size);
	if (n < 0)
		return (int)n;
	if ((size_t)n == size)
		return -EINVAL;   /* no room for the NUL: longer than any valid content */
	if (n > 0 && buf[n - 1] == '\n')
		n--;
	if (memchr(buf, '\0', (size_t)n))
		return -EINVAL;
	buf[n] = '\0';
	return 0;
}

int netns_resv_write_small(const struct resv *r, const char *name, const char *value, struct berr **err)
{
	cleanup_free char *tmp = xasprintf(".%s.tmp", name);
	cleanup_free char *content = xasprintf("%s\n", value);
	cleanup_close int fd = -1;
	int rc;

	/* a leftover from a crash; we hold the lock, so nobody else writes it */
	unlinkat(r->dirfd, tmp, 0);
	fd = openat(r->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return berr_set(err, errno, "create %s/%s", r->dir, tmp);
	rc = fs_write_all(fd, content, strlen(content));
	if (rc == 0 && close(steal_fd(&fd)) < 0)
		rc = -errno;
	if (rc == 0 && renameat(r->dirfd, tmp, r->dirfd, name) < 0)
		rc = -errno;
	if (rc < 0) {
		unlinkat(r->dirfd, tmp, 0);
		return berr_set(err, rc, "write %s/%s", r->dir, name);
	}
	return 0;
}

int netns_resv_each(const struct resv *r, int (*cb)(const char *name, void *ctx), void *ctx,
	      struct berr **err)
{
	cleanup_closedir DIR *d = NULL;
	int fd = openat(r->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *de;

	if (fd < 0)
		return berr_set(err, errno, "open directory %s", r->dir);
	d = fdopendir(fd);
	if (!d) {
		int e = errno;

		close(fd);
		return berr_set(err, e, "open directory %s", r->dir);
	}
	for (;;) {
		int rc;

		errno = 0;
		de = readdir(d);
		if (!de)
			break;
		if (de->d_name[0] == '.' || strcmp(de->d_name, LOCK_FILE) == 0)
			continue;
		rc = cb(de->d_name, ctx);
		if (rc < 0)
			return rc;
	}
	if (errno != 0)
		return berr_set(err, errno, "read directory %s", r->dir);
	return 0;
}

/* ------------------------------------------------------- release by owner */

struct name_list {
	char **v;
	size_t n, cap;
	bool (*match)(const char *name, const void *ctx);
	const void *ctx;
};

static int collect_name(const char *name, void *data)
{
	struct name_list *l = data;

	if (!l->match(name, l->ctx))
		return 0;
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		l->v = xreallocarray(l->v, l->cap, sizeof(*l->v));
	}
	l->v[l->n++] = xstrdup(name);
	return 0;
}

static void name_list_free(struct name_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
}

int netns_resv_release_owner(const struct resv *r, const char *owner,
		       bool (*match)(const char *name, const void *ctx), const void *ctx,
		       struct berr **err)
{
	struct name_list l = { .match = match, .ctx = ctx };
	int rc, count = 0;

	/* collect first: no unlinking while readdir walks the directory */
	rc = netns_resv_each(r, collect_name, &l, err);
	for (size_t i = 0; rc >= 0 && i < l.n; i++) {
		char holder[RESV_OWNER_MAX + 1];

		rc = netns_resv_holder(r, l.v[i], holder, err);
		if (rc <= 0 || strcmp(holder, owner) != 0)
			continue;
		rc = netns_resv_remove(r, l.v[i], err);
		if (rc == 0)
			count++;
	}
	name_list_free(&l);
	return rc < 0 ? rc : count;
}

/* ------------------------------------------------------- next free key */

struct key_set {
	const struct resv_space *ks;
	uint32_t *v;
	size_t n, cap;
};

static int collect_key(const char *name, void *data)
{
	struct key_set *s = data;
	uint32_t k;

	if (!s->ks->parse(name, &k, s->ks->ctx) || k < s->ks->lo || k > s->ks->hi)
		return 0;
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 64;
		s->v = xreallocarray(s->v, s->cap, sizeof(*s->v));
	}
	s->v[s->n++] = k;
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

int netns_resv_alloc_next(const struct resv *r, const struct resv_space *ks, const char *owner,
		    uint32_t *key, struct berr **err)
{
	struct key_set held = { .ks = ks };
	cleanup_free uint32_t *v = NULL;
	uint64_t size = (uint64_t)ks->hi - ks->lo + 1, start = ks->lo;
	char last[RESV_NAME_MAX], name[RESV_NAME_MAX];
	uint32_t k;
	int rc;

	rc = netns_resv_each(r, collect_key, &held, err);
	v = held.v;
	if (rc < 0)
		return rc;
	if (held.n > 0)
		qsort(v, held.n, sizeof(*v), cmp_u32);
	/* keys are canonical file names, so each is there once */
	if (held.n >= size)
		return -ENOSPC;

	/* a missing, corrupt or foreign hint just means: start at lo */
	if (netns_resv_read_small(r, ks->last_file, last, sizeof(last)) == 0 &&
	    ks->parse(last, &k, ks->ctx) && k >= ks->lo && k < ks->hi)
		start = (uint64_t)k + 1;

	for (uint64_t i = 0; i < size; i++) {
		uint64_t c = start + i;

		if (c > ks->hi)
			c -= size;
		k = (uint32_t)c;
		if ((ks->skip && ks->skip(k, ks->ctx)) ||
		    (held.n > 0 && bsearch(&k, v, held.n, sizeof(*v), cmp_u32)))
			continue;
		ks->format(k, name, ks->ctx);
		rc = netns_resv_create(r, name, owner, err);
		if (rc == -EEXIST)
			continue;   /* made behind the lock's back (by hand); still taken */
		if (rc < 0)
			return rc;
		/* only a hint: a failure costs a longer scan next time, never a double */
		{
			cleanup_berr struct berr *werr = NULL;

			if (netns_resv_write_small(r, ks->last_file, name, &werr) < 0)
				log_warn("%s", berr_msg(werr));
		}
		*key = k;
		return 0;
	}
	return -ENOSPC;
}
