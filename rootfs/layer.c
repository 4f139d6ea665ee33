/* rootfs/layer.c - see layer.h.
 *
 * Two threads: a producer (spawned) reads the blob and decompresses it into
 * a ring of RING_SLOTS buffers of SLOT_SIZE bytes; the calling thread parses
 * the tar from the buffers and writes the files straight from them (no copy
 * of file data). The sha256 of the stream (the diff_id) is taken by the
 * lighter side: the writer for gzip and zstd (inflating costs more than
 * writing), the reader for uncompressed layers (it has nothing else to do);
 * both measured in docs/images.md. The producer stops at max_bytes + 1
 * uncompressed bytes, so a decompression bomb costs at most that much work
 * and nothing beyond max_bytes is ever handed to the writer.
 *
 * Safety model (the layer directory is empty and ours; only the tar decides
 * what is in it):
 *  - names are cleaned lexically: absolute names and ".." are refused, so a
 *    cleaned name is a path below the layer directory;
 *  - symlinks are never followed: an entry's parent directory is opened with
 *    fs_open_in_root(..., RESOLVE_NO_SYMLINKS) (openat2: the kernel refuses
 *    any symlink on the way, one syscall), missing parents are created one
 *    component at a time with openat(O_NOFOLLOW) from a verified directory
 *    fd, and the entry itself is created relative to that fd with calls that
 *    do not follow a final symlink (O_CREAT|O_EXCL|O_NOFOLLOW, mkdirat,
 *    symlinkat, mknodat, linkat without AT_SYMLINK_FOLLOW, fchownat and
 *    utimensat with AT_SYMLINK_NOFOLLOW). "link/file" after "link -> x" is
 *    an error, wherever x points. So a cleaned name is also exactly where the
 *    entry lands, which is what makes the bookkeeping below sound;
 *  - every path unpacked is recorded (a hash set): a second entry with the
 *    same path is refused (a directory may repeat: its metadata is updated),
 *    and a hardlink must name a non-directory recorded earlier;
 *  - the last parent directory fd is cached: tar streams list a directory's
 *    entries together, so most entries cost no path resolution at all.
 *    The cache stays right because nothing is ever renamed or replaced:
 *    directories are never removed, and duplicates are refused. */
#include "rootfs/layer.h"
#include "rootfs/inflate.h"
#include "rootfs/tar.h"
#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

/* 8 x 1 MiB: room for the writer to ride out a slow file while the
 * decompressor keeps going. 32 x 256 KiB to 4 x 4 MiB measured the same. */
#define RING_SLOTS 8
#define SLOT_SIZE (1u << 20)

#define ARENA_CHUNK (64u << 10)
#define NO_DIR UINT32_MAX

/* ================================================================= ring */

struct slot {
	unsigned char *buf;
	size_t len;
	uint64_t in_done;     /* compressed bytes consumed when it was filled */
};

struct ring {
	pthread_mutex_t mu;
	pthread_cond_t filled_cv, free_cv;
	struct slot slot[RING_SLOTS];
	unsigned head, tail, count;   /* count includes the slot the consumer holds */
	bool held;
	bool done, cancel;
	struct berr *perr;

	/* producer input */
	int fd;
	enum rootfs_compression comp;
	uint64_t max_bytes;
	/* producer output, read after join */
	uint64_t total;
	uint64_t in_total;
	enum rootfs_compression format;
	bool eof;                     /* the stream ended cleanly */

	/* the diff_id hash, updated by one side only: the producer when
	 * producer_hashes (set before the first slot is published), else the
	 * consumer as it takes each slot */
	struct rootfs_sha256 *hash;
	bool producer_hashes;
};

static void *producer_main(void *arg)
{
	struct ring *g = arg;
	struct rootfs_inflater *z = NULL;
	struct berr *err = NULL;
	bool eof = false;

	if (rootfs_inflater_new(g->fd, g->comp, &z, &err) < 0)
		goto out;
	g->format = rootfs_inflater_format(z);
	pthread_mutex_lock(&g->mu);
	g->producer_hashes = g->format == ROOTFS_COMP_NONE;
	pthread_mutex_unlock(&g->mu);
	while (!eof) {
		struct slot *s;
		uint64_t allowed;
		ssize_t n;
		bool cancel;

		pthread_mutex_lock(&g->mu);
		while (g->count == RING_SLOTS && !g->cancel)
			pthread_cond_wait(&g->free_cv, &g->mu);
		cancel = g->cancel;
		s = &g->slot[g->head];
		pthread_mutex_unlock(&g->mu);
		if (cancel)
			break;

		/* never produce more than one byte past the limit */
		allowed = g->max_bytes - g->total;
		allowed = allowed >= SLOT_SIZE ? SLOT_SIZE : allowed + 1;
		n = rootfs_inflater_read(z, s->buf, (size_t)allowed, &err);
		if (n < 0)
			break;
		g->total += (uint64_t)n;
		if (g->total > g->max_bytes) {
			berr_set(&err, 0, "layer is larger than the limit of %llu bytes uncompressed",
				 (unsigned long long)g->max_bytes);
			break;
		}
		if (n == 0) {
			eof = true;
			break;
		}
		if (g->producer_hashes)
			rootfs_sha256_update(g->hash, s->buf, (size_t)n);

		pthread_mutex_lock(&g->mu);
		s->len = (size_t)n;
		s->in_done = rootfs_inflater_consumed(z);
		g->head = (g->head + 1) % RING_SLOTS;
		g->count++;
		pthread_cond_signal(&g->filled_cv);
		pthread_mutex_unlock(&g->mu);
	}
out:
	g->eof = eof;
	if (z)
		g->in_total = rootfs_inflater_consumed(z);
	rootfs_inflater_free(z);
	pthread_mutex_lock(&g->mu);
	g->done = true;
	g->perr = err;
	pthread_cond_signal(&g->filled_cv);
	pthread_mutex_unlock(&g->mu);
	return NULL;
}

static void ring_init(struct ring *g)
{
	pthread_mutex_init(&g->mu, NULL);
	pthread_cond_init(&g->filled_cv, NULL);
	pthread_cond_init(&g->free_cv, NULL);
	for (int i = 0; i < RING_SLOTS; i++)
		g->slot[i].buf = xmalloc(SLOT_SIZE);
	g->hash = rootfs_sha256_new();
}

static void ring_destroy(struct ring *g)
{
	for (int i = 0; i < RING_SLOTS; i++)
		free(g->slot[i].buf);
	rootfs_sha256_free(g->hash);
	berr_free(g->perr);
	pthread_cond_destroy(&g->free_cv);
	pthread_cond_destroy(&g->filled_cv);
	pthread_mutex_destroy(&g->mu);
}

static void ring_cancel(struct ring *g)
{
	pthread_mutex_lock(&g->mu);
	g->cancel = true;
	pthread_cond_signal(&g->free_cv);
	pthread_mutex_unlock(&g->mu);
}

/* ============================================================ path set */

enum kind {
	K_DIR = 1,      /* a directory entry */
	K_IMPLICIT,     /* a directory created as a missing parent */
	K_FILE,
	K_SYMLINK,
	K_HARDLINK,
	K_FIFO,
	K_WHITEOUT,     /* the target of a .wh. entry */
	K_OPAQUE,       /* a .wh..wh..opq entry */
};

static const char *kind_name(uint8_t k)
{
	switch (k) {
	case K_DIR:
	case K_IMPLICIT:
		return "a directory";
	case K_FILE:
		return "a regular file";
	case K_SYMLINK:
		return "a symlink";
	case K_HARDLINK:
		return "a hardlink";
	case K_FIFO:
		return "a fifo";
	case K_WHITEOUT:
		return "a whiteout";
	case K_OPAQUE:
		return "an opaque marker";
	}
	return "something";
}

struct pnode {
	const char *path;   /* in the arena; NULL: free slot */
	uint64_t hash;
	uint32_t len;
	uint32_t dir;       /* index in unpack.dirs, or NO_DIR */
	uint8_t kind;
};

struct pathset {
	struct pnode *tab;
	size_t cap, n;
	char **chunks;
	size_t n_chunks;
	char *cur;
	size_t left;
};

static uint64_t hash_path(const char *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;   /* FNV-1a */

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)p[i];
		h *= 0x100000001b3ULL;
	}
	return h ^ (h >> 32);
}

static const char *arena_dup(struct pathset *s, const char *p, size_t n)
{
	char *r;

	if (n + 1 > s->left) {
		size_t sz = n + 1 > ARENA_CHUNK ? n + 1 : ARENA_CHUNK;

		s->chunks = xreallocarray(s->chunks, s->n_chunks + 1, sizeof(*s->chunks));
		s->chunks[s->n_chunks++] = s->cur = xmalloc(sz);
		s->left = sz;
	}
	r = s->cur;
	memcpy(r, p, n);
	r[n] = '\0';
	s->cur += n + 1;
	s->left -= n + 1;
	return r;
}

static struct pnode *set_slot(struct pnode *tab, size_t cap, const char *p, size_t n, uint64_t h)
{
	size_t i = (size_t)h & (cap - 1);

	for (;;) {
		struct pnode *e = &tab[i];

		if (e->path == NULL ||
		    (e->hash == h && e->len == n && memcmp(e->path, p, n) == 0))
			return e;
		i = (i + 1) & (cap - 1);
	}
}

static struct pnode *set_lookup(struct pathset *s, const char *p, size_t n)
{
	struct pnode *e;

	if (s->cap == 0)
		return NULL;
	e = set_slot(s->tab, s->cap, p, n, hash_path(p, n));
	return e->path ? e : NULL;
}

/* Find or add p; a new node has kind 0. Node pointers die at the next put. */
static struct pnode *set_put(struct pathset *s, const char *p, size_t n)
{
	uint64_t h = hash_path(p, n);
	struct pnode *e;

	if ((s->n + 1) * 2 > s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 1024;
		struct pnode *nt = xcalloc(ncap, sizeof(*nt));

		for (size_t i = 0; i < s->cap; i++)
			if (s->tab[i].path)
				*set_slot(nt, ncap, s->tab[i].path, s->tab[i].len, s->tab[i].hash) = s->tab[i];
		free(s->tab);
		s->tab = nt;
		s->cap = ncap;
	}
	e = set_slot(s->tab, s->cap, p, n, h);
	if (e->path == NULL) {
		e->path = arena_dup(s, p, n);
		e->hash = h;
		e->len = (uint32_t)n;
		e->dir = NO_DIR;
		e->kind = 0;
		s->n++;
	}
	return e;
}

static void set_free(struct pathset *s)
{
	for (size_t i = 0; i < s->n_chunks; i++)
		free(s->chunks[i]);
	free(s->chunks);
	free(s->tab);
}

/* ============================================================== unpack */

struct dir_meta {
	const char *path;   /* arena */
	uint32_t len;
	uint32_t depth;
	uint32_t mode;
	struct timespec mtime;
};

struct unpack {
	int root;                 /* O_RDONLY fd of the layer directory */
	unsigned flags;
	uint64_t max_entries, max_bytes;
	uid_t euid;
	gid_t egid;
	bool chown_always;        /* the layer dir is setgid: new files may not get our gid */
	mode_t umask;

	/* the last parent directory: its cleaned path and fd */
	char *cache;
	size_t cache_len, cache_cap;
	int cache_fd;

	struct pathset set;
	struct dir_meta *dirs;
	size_t n_dirs, cap_dirs;

	uint64_t entries, file_bytes;
	struct ring *ring;

	void (*progress)(uint64_t compressed_done, void *data);
	void *progress_data;
	uint64_t progress_last;

	const char *name;         /* raw name of the current entry, for messages */
	char *clean, *lclean, *scratch;
	size_t clean_cap, lclean_cap, scratch_cap;
	char disp[300], disp2[300];
};

static const char *show(struct unpack *u)
{
	return rootfs_tar_display(u->name, strlen(u->name), u->disp, 256);
}

static const char *show2(struct unpack *u, const char *s, size_t n)
{
	return rootfs_tar_display(s, n, u->disp2, 256);
}

/* "layer entry <name>: <what>[: strerror]" */
__attribute__((format(printf, 4, 5)))
static int entry_err(struct unpack *u, struct berr **err, int code, const char *fmt, ...)
{
	cleanup_free char *what = NULL;
	va_list ap;

	va_start(ap, fmt);
	what = xvasprintf(fmt, ap);
	va_end(ap);
	return berr_set(err, code, "layer entry %s: %s", show(u), what);
}

static void grow(char **buf, size_t *cap, size_t need)
{
	if (*cap < need) {
		*cap = need < 256 ? 256 : need;
		*buf = xrealloc(*buf, *cap);
	}
}

/* Lexical clean-up of a tar name: drop empty and "." components (so "./a/"
 * is "a", "." is ""), refuse absolute names and "..". */
static int clean_name(struct unpack *u, const char *raw, char **buf, size_t *cap, size_t *out_len,
		      const char *what, struct berr **err)
{
	size_t w = 0;
	const char *p = raw;
	char *o;

	if (raw[0] == '/')
		return entry_err(u, err, 0, "%s is an absolute path", what);
	grow(buf, cap, strlen(raw) + 1);
	o = *buf;
	for (;;) {
		size_t n;

		while (*p == '/')
			p++;
		if (*p == '\0')
			break;
		n = strcspn(p, "/");
		if (n == 1 && p[0] == '.') {
			p += n;
			continue;
		}
		if (n == 2 && p[0] == '.' && p[1] == '.')
			return entry_err(u, err, 0, "%s has a \"..\" component", what);
		if (n > NAME_MAX)
			return entry_err(u, err, ENAMETOOLONG, "%s has a component longer than %d bytes",
					 what, NAME_MAX);
		if (w)
			o[w++] = '/';
		memcpy(o + w, p, n);
		w += n;
		p += n;
	}
	o[w] = '\0';
	if (w >= PATH_MAX)
		return entry_err(u, err, ENAMETOOLONG, "%s is longer than %d bytes", what, PATH_MAX - 1);
	*out_len = w;
	return 0;
}

static void cache_set(struct unpack *u, const char *path, size_t len, int fd)
{
	if (u->cache_fd >= 0 && u->cache_fd != u->root)
		close(u->cache_fd);
	grow(&u->cache, &u->cache_cap, len + 1);
	memcpy(u->cache, path, len);
	u->cache[len] = '\0';
	u->cache_len = len;
	u->cache_fd = fd;
}

/* Why the component `comp` in directory fd could not be entered. */
static int explain_parent(struct unpack *u, int fd, const char *comp, const char *prefix, int e,
			  struct berr **err)
{
	struct stat st;

	if (fstatat(fd, comp, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (S_ISLNK(st.st_mode))
			return entry_err(u, err, 0, "%s is a symlink: entries are never unpacked through symlinks",
					 show2(u, prefix, strlen(prefix)));
		if (!S_ISDIR(st.st_mode))
			return entry_err(u, err, 0, "parent %s is not a directory",
					 show2(u, prefix, strlen(prefix)));
	}
	return entry_err(u, err, e, "open parent directory %s", show2(u, prefix, strlen(prefix)));
}

/* Open (creating missing directories, mode 0755 like tar) the directory
 * `path` one component at a time: openat(O_NOFOLLOW) from a directory fd we
 * already trust, so nothing but real directories below the root is entered. */
static int walk_parent(struct unpack *u, char *path, struct berr **err)
{
	int cur = u->root;
	char *p = path;

	for (;;) {
		char *slash = strchr(p, '/');
		int fd;

		if (slash)
			*slash = '\0';
		fd = openat(cur, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 && errno == ENOENT) {
			struct pnode *n;

			if (mkdirat(cur, p, 0755) < 0 && errno != EEXIST) {
				int e = errno;

				if (cur != u->root)
					close(cur);
				/* path ends at this component now */
				return entry_err(u, err, e, "create parent directory %s",
						 show2(u, path, strlen(path)));
			}
			n = set_put(&u->set, path, strlen(path));
			if (n->kind == 0)
				n->kind = K_IMPLICIT;
			fd = openat(cur, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		if (fd < 0) {
			int e = errno, ret = explain_parent(u, cur, p, path, e, err);

			if (cur != u->root)
				close(cur);
			return ret;
		}
		if (cur != u->root)
			close(cur);
		cur = fd;
		if (!slash)
			return cur;
		*slash = '/';
		p = slash + 1;
	}
}

/* fd of the parent directory path[0..len) (the root when len is 0),
 * borrowed: valid until the next call. */
static int get_parent(struct unpack *u, const char *path, size_t len, struct berr **err)
{
	int fd;

	if (len == u->cache_len && memcmp(path, u->cache, len) == 0)
		return u->cache_fd;
	if (len == 0) {
		cache_set(u, "", 0, u->root);
		return u->root;
	}
	grow(&u->scratch, &u->scratch_cap, len + 1);
	memcpy(u->scratch, path, len);
	u->scratch[len] = '\0';
	/* the kernel refuses any symlink on the way: one syscall when the
	 * directory exists, which is nearly always */
	fd = fs_open_in_root(u->root, u->scratch, O_RDONLY | O_DIRECTORY, 0, RESOLVE_NO_SYMLINKS, NULL);
	if (fd < 0) {
		fd = walk_parent(u, u->scratch, err);
		if (fd < 0)
			return fd;
	}
	cache_set(u, path, len, fd);
	return fd;
}

/* ------------------------------------------------------------ metadata */

static bool want_chown(const struct unpack *u, const struct rootfs_tar_entry *e)
{
	if (u->flags & ROOTFS_UNPACK_NO_CHOWN)
		return false;
	return u->chown_always || e->uid != u->euid || e->gid != u->egid;
}

/* Did creating with `created` (before the umask) already give the mode? */
static bool want_chmod(const struct unpack *u, mode_t created, uint32_t mode)
{
	return ((created & 0777 & ~u->umask)) != (mode & 07777);
}

static bool reserved_xattr(const char *name)
{
	return strncmp(name, "trusted.overlay.", 16) == 0 || strncmp(name, "user.overlay.", 13) == 0;
}

static int set_xattrs_fd(struct unpack *u, const struct rootfs_tar_entry *e, int fd,
			 struct berr **err)
{
	for (size_t i = 0; i < e->n_xattrs; i++) {
		const struct rootfs_tar_xattr *x = &e->xattrs[i];

		if (fsetxattr(fd, x->name, x->value, x->len, 0) < 0)
			return entry_err(u, err, errno, "set xattr %s", show2(u, x->name, strlen(x->name)));
	}
	return 0;
}

/* For symlinks and fifos, which we do not open: by name in the directory
 * fd, through /proc so that the final component is not followed. */
static int set_xattrs_at(struct unpack *u, const struct rootfs_tar_entry *e, int pfd,
			 const char *base, struct berr **err)
{
	cleanup_free char *path = NULL;

	if (e->n_xattrs == 0)
		return 0;
	path = xasprintf("/proc/self/fd/%d/%s", pfd, base);
	for (size_t i = 0; i < e->n_xattrs; i++) {
		const struct rootfs_tar_xattr *x = &e->xattrs[i];

		if (lsetxattr(path, x->name, x->value, x->len, 0) < 0)
			return entry_err(u, err, errno, "set xattr %s", show2(u, x->name, strlen(x->name)));
	}
	return 0;
}

static void entry_times(const struct rootfs_tar_entry *e, struct timespec ts[2])
{
	ts[0] = e->mtime;   /* atime = mtime, as containerd and umoci do */
	ts[1] = e->mtime;
}

/* Make the name free for a new entry: nothing there, or a whiteout of this
 * layer (a file later in the same layer wins over its whiteout: OCI says a
 * whiteout hides lower layers only). */
static int claim_name(struct unpack *u, const char *clean, size_t len, int pfd, const char *base,
		      struct berr **err)
{
	struct pnode *n = set_lookup(&u->set, clean, len);

	if (n == NULL)
		return 0;
	if (n->kind == K_WHITEOUT) {
		if (unlinkat(pfd, base, 0) < 0)
			return entry_err(u, err, errno, "remove the whiteout it replaces");
		n->kind = 0;
		return 0;
	}
	return entry_err(u, err, 0, "duplicate entry: %s was already unpacked as %s",
			 show2(u, clean, len), kind_name(n->kind));
}

static void mark(struct unpack *u, const char *clean, size_t len, uint8_t kind)
{
	set_put(&u->set, clean, len)->kind = kind;
}

/* -------------------------------------------------------------- entries */

static int do_file(struct unpack *u, struct rootfs_tar_reader *tr, const struct rootfs_tar_entry *e,
		   const char *clean, size_t len, int pfd, const char *base, struct berr **err)
{
	/* owner rw while we write and set xattrs, even for a 0444 file */
	mode_t created = (e->mode & 0777) | 0600;
	cleanup_close int fd = -1;
	struct timespec ts[2];
	int ret;

	ret = claim_name(u, clean, len, pfd, base, err);
	if (ret < 0)
		return ret;
	fd = openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, created);
	if (fd < 0)
		return entry_err(u, err, errno, "create file");
	for (;;) {
		const unsigned char *p;
		size_t n;

		ret = rootfs_tar_read(tr, &p, &n, err);
		if (ret < 0)
			return ret;
		if (n == 0)
			break;
		ret = fs_write_all(fd, p, n);
		if (ret < 0)
			return entry_err(u, err, -ret, "write file");
	}
	u->file_bytes += e->size;
	/* chown clears setuid/setgid and file capabilities: chown, then xattrs
	 * (security.capability), then the mode */
	if (want_chown(u, e) && fchown(fd, (uid_t)e->uid, (gid_t)e->gid) < 0)
		return entry_err(u, err, errno, "set owner %llu:%llu", (unsigned long long)e->uid,
				 (unsigned long long)e->gid);
	ret = set_xattrs_fd(u, e, fd, err);
	if (ret < 0)
		return ret;
	if (want_chmod(u, created, e->mode) && fchmod(fd, e->mode & 07777) < 0)
		return entry_err(u, err, errno, "set mode %04o", e->mode & 07777);
	entry_times(e, ts);
	if (futimens(fd, ts) < 0)
		return entry_err(u, err, errno, "set mtime");
	if (close(steal_fd(&fd)) < 0)
		return entry_err(u, err, errno, "write file");
	mark(u, clean, len, K_FILE);
	return 0;
}

static int do_dir(struct unpack *u, const struct rootfs_tar_entry *e, const char *clean,
		  size_t len, const char *parent, size_t plen, const char *base, struct berr **err)
{
	struct dir_meta *d;
	struct pnode *n;
	uint32_t idx;
	int dfd, ret;

	if (len == 0) {
		dfd = u->root;
	} else {
		uint8_t had;
		int pfd;

		n = set_lookup(&u->set, clean, len);
		had = n ? n->kind : 0;   /* n dies when get_parent adds to the set */
		if (had && had != K_DIR && had != K_IMPLICIT && had != K_WHITEOUT)
			return entry_err(u, err, 0, "duplicate entry: %s was already unpacked as %s",
					 show2(u, clean, len), kind_name(had));
		pfd = get_parent(u, parent, plen, err);
		if (pfd < 0)
			return pfd;
		if (had == 0 || had == K_WHITEOUT) {
			ret = claim_name(u, clean, len, pfd, base, err);
			if (ret < 0)
				return ret;
			/* 0700 until the end: children must be creatable whatever the
			 * final mode; the mode and mtime are set after them */
			if (mkdirat(pfd, base, 0700) < 0)
				return entry_err(u, err, errno, "create directory");
		}
		dfd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (dfd < 0)
			return entry_err(u, err, errno, "open directory");
		/* its entries usually follow: make it the cached parent */
		cache_set(u, clean, len, dfd);
	}
	if (want_chown(u, e) && fchown(dfd, (uid_t)e->uid, (gid_t)e->gid) < 0)
		return entry_err(u, err, errno, "set owner %llu:%llu", (unsigned long long)e->uid,
				 (unsigned long long)e->gid);
	ret = set_xattrs_fd(u, e, dfd, err);
	if (ret < 0)
		return ret;

	n = set_put(&u->set, clean, len);
	n->kind = K_DIR;
	if (n->dir == NO_DIR) {
		uint32_t depth = len ? 1 : 0;

		for (size_t i = 0; i < len; i++)
			depth += clean[i] == '/';
		if (u->n_dirs == u->cap_dirs) {
			u->cap_dirs = u->cap_dirs ? 2 * u->cap_dirs : 256;
			u->dirs = xreallocarray(u->dirs, u->cap_dirs, sizeof(*u->dirs));
		}
		n->dir = (uint32_t)u->n_dirs++;
		u->dirs[n->dir] = (struct dir_meta){ .path = n->path, .len = n->len, .depth = depth };
	}
	idx = n->dir;
	d = &u->dirs[idx];
	d->mode = e->mode;   /* a repeated directory entry: the last one wins */
	d->mtime = e->mtime;
	return 0;
}

static int do_symlink(struct unpack *u, const struct rootfs_tar_entry *e, const char *clean,
		      size_t len, int pfd, const char *base, struct berr **err)
{
	struct timespec ts[2];
	int ret;

	if (e->linkname[0] == '\0')
		return entry_err(u, err, 0, "symlink with an empty target");
	ret = claim_name(u, clean, len, pfd, base, err);
	if (ret < 0)
		return ret;
	/* the target is only text: it is never resolved here */
	if (symlinkat(e->linkname, pfd, base) < 0)
		return entry_err(u, err, errno, "create symlink");
	if (want_chown(u, e) && fchownat(pfd, base, (uid_t)e->uid, (gid_t)e->gid, AT_SYMLINK_NOFOLLOW) < 0)
		return entry_err(u, err, errno, "set owner %llu:%llu", (unsigned long long)e->uid,
				 (unsigned long long)e->gid);
	ret = set_xattrs_at(u, e, pfd, base, err);
	if (ret < 0)
		return ret;
	entry_times(e, ts);
	if (utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return entry_err(u, err, errno, "set mtime");
	mark(u, clean, len, K_SYMLINK);
	return 0;
}

static int do_fifo(struct unpack *u, const struct rootfs_tar_entry *e, const char *clean,
		   size_t len, int pfd, const char *base, struct berr **err)
{
	mode_t created = (e->mode & 0777) | 0600;
	struct timespec ts[2];
	int ret;

	ret = claim_name(u, clean, len, pfd, base, err);
	if (ret < 0)
		return ret;
	if (mknodat(pfd, base, S_IFIFO | created, 0) < 0)
		return entry_err(u, err, errno, "create fifo");
	if (want_chown(u, e) && fchownat(pfd, base, (uid_t)e->uid, (gid_t)e->gid, AT_SYMLINK_NOFOLLOW) < 0)
		return entry_err(u, err, errno, "set owner %llu:%llu", (unsigned long long)e->uid,
				 (unsigned long long)e->gid);
	ret = set_xattrs_at(u, e, pfd, base, err);
	if (ret < 0)
		return ret;
	if (want_chmod(u, created, e->mode) &&
	    fchmodat(pfd, base, e->mode & 07777, AT_SYMLINK_NOFOLLOW) < 0)
		return entry_err(u, err, errno, "set mode %04o", e->mode & 07777);
	entry_times(e, ts);
	if (utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return entry_err(u, err, errno, "set mtime");
	mark(u, clean, len, K_FIFO);
	return 0;
}

static int do_hardlink(struct unpack *u, const struct rootfs_tar_entry *e, const char *clean,
		       size_t len, const char *parent, size_t plen, const char *base,
		       struct berr **err)
{
	cleanup_close int own = -1;
	const char *tbase;
	struct pnode *n;
	size_t tlen, tplen;
	int pfd, tfd, ret;

	if (e->linkname[0] == '\0')
		return entry_err(u, err, 0, "hardlink with an empty target");
	ret = clean_name(u, e->linkname, &u->lclean, &u->lclean_cap, &tlen, "hardlink target", err);
	if (ret < 0)
		return ret;
	n = tlen ? set_lookup(&u->set, u->lclean, tlen) : NULL;
	if (n == NULL || n->kind == K_WHITEOUT || n->kind == K_OPAQUE)
		return entry_err(u, err, 0, "hardlink target %s is not an entry unpacked earlier in this layer",
				 show2(u, e->linkname, strlen(e->linkname)));
	if (n->kind == K_DIR || n->kind == K_IMPLICIT)
		return entry_err(u, err, 0, "hardlink target %s is a directory",
				 show2(u, e->linkname, strlen(e->linkname)));

	pfd = get_parent(u, parent, plen, err);
	if (pfd < 0)
		return pfd;
	ret = claim_name(u, clean, len, pfd, base, err);
	if (ret < 0)
		return ret;
	tbase = strrchr(u->lclean, '/');
	tplen = tbase ? (size_t)(tbase - u->lclean) : 0;
	tbase = tbase ? tbase + 1 : u->lclean;
	if (tplen == u->cache_len && memcmp(u->lclean, u->cache, tplen) == 0) {
		tfd = u->cache_fd;
	} else if (tplen == 0) {
		tfd = u->root;
	} else {
		/* the target was unpacked through real directories: no creating here */
		u->lclean[tplen] = '\0';
		own = fs_open_in_root(u->root, u->lclean, O_PATH | O_DIRECTORY, 0, RESOLVE_NO_SYMLINKS, NULL);
		u->lclean[tplen] = '/';
		if (own < 0)
			return entry_err(u, err, -own, "open the directory of hardlink target %s",
					 show2(u, e->linkname, strlen(e->linkname)));
		tfd = own;
	}
	/* no AT_SYMLINK_FOLLOW: a symlink target is linked itself, not followed */
	if (linkat(tfd, tbase, pfd, base, 0) < 0)
		return entry_err(u, err, errno, "create hardlink to %s",
				 show2(u, e->linkname, strlen(e->linkname)));
	mark(u, clean, len, K_HARDLINK);
	return 0;
}

/* ".wh.NAME" -> a 0/0 character device NAME; ".wh..wh..opq" -> the
 * directory's overlay opaque xattr. */
static int do_whiteout(struct unpack *u, const char *clean, size_t len, const char *parent,
		       size_t plen, const char *base, struct berr **err)
{
	const char *name = base + 4;
	struct pnode *n;
	size_t nlen, tlen;
	int pfd;

	if (strcmp(base, ".wh..wh..opq") == 0) {
		const char *xname = (u->flags & ROOTFS_UNPACK_USER_XATTR) ? "user.overlay.opaque"
									    : "trusted.overlay.opaque";

		n = set_lookup(&u->set, clean, len);
		if (n)
			return entry_err(u, err, 0, "duplicate entry");
		pfd = get_parent(u, parent, plen, err);
		if (pfd < 0)
			return pfd;
		if (fsetxattr(pfd, xname, "y", 1, 0) < 0)
			return entry_err(u, err, errno, "mark directory %s opaque (xattr %s)",
					 plen ? show2(u, parent, plen) : ".", xname);
		mark(u, clean, len, K_OPAQUE);
		return 0;
	}
	/* other .wh..wh. names are aufs bookkeeping (.wh..wh.plnk, ...):
	 * meaningless for overlayfs, skipped as containerd does */
	if (strncmp(base, ".wh..wh.", 8) == 0)
		return 0;
	nlen = strlen(name);
	if (nlen == 0 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return entry_err(u, err, 0, "whiteout of \"%s\" would not name a file in its directory",
				 name);

	tlen = plen ? plen + 1 + nlen : nlen;
	grow(&u->scratch, &u->scratch_cap, tlen + 1);
	if (plen) {
		memcpy(u->scratch, parent, plen);
		u->scratch[plen] = '/';
	}
	memcpy(u->scratch + (plen ? plen + 1 : 0), name, nlen + 1);
	n = set_lookup(&u->set, u->scratch, tlen);
	if (n) {
		if (n->kind == K_WHITEOUT)
			return entry_err(u, err, 0, "duplicate entry: %s was already whited out",
					 show2(u, u->scratch, tlen));
		/* the file is in this layer: a whiteout hides lower layers only */
		return 0;
	}
	pfd = get_parent(u, parent, plen, err);
	if (pfd < 0)
		return pfd;
	/* get_parent may have used scratch: name is still in the entry's base */
	if (mknodat(pfd, name, S_IFCHR, makedev(0, 0)) < 0)
		return entry_err(u, err, errno, "create whiteout %s", name);
	tlen = plen ? plen + 1 + nlen : nlen;
	grow(&u->scratch, &u->scratch_cap, tlen + 1);
	if (plen) {
		memcpy(u->scratch, parent, plen);
		u->scratch[plen] = '/';
	}
	memcpy(u->scratch + (plen ? plen + 1 : 0), name, nlen + 1);
	mark(u, u->scratch, tlen, K_WHITEOUT);
	return 0;
}

static int do_entry(struct unpack *u, struct rootfs_tar_reader *tr, struct rootfs_tar_entry *e,
		    struct berr **err)
{
	const char *base, *slash;
	size_t len, plen;
	char *clean;
	int ret, pfd;

	u->name = e->name;
	if (++u->entries > u->max_entries)
		return berr_set(err, 0, "layer entry %s: the layer has more than %llu entries (the limit)",
				show(u), (unsigned long long)u->max_entries);
	ret = clean_name(u, e->name, &u->clean, &u->clean_cap, &len, "name", err);
	if (ret < 0)
		return ret;
	clean = u->clean;
	if (e->type == ROOTFS_TAR_CHR || e->type == ROOTFS_TAR_BLK)
		return entry_err(u, err, 0, "device nodes are not allowed in images");
	if (e->size > u->max_bytes)
		return entry_err(u, err, 0, "size %llu exceeds the layer size limit of %llu bytes",
				 (unsigned long long)e->size, (unsigned long long)u->max_bytes);
	/* (uid_t)-1 would mean "leave unchanged" to chown */
	if (e->uid >= UINT32_MAX || e->gid >= UINT32_MAX)
		return entry_err(u, err, 0, "owner %llu:%llu out of range", (unsigned long long)e->uid,
				 (unsigned long long)e->gid);
	for (size_t i = 0; i < e->n_xattrs; i++)
		if (reserved_xattr(e->xattrs[i].name))
			return entry_err(u, err, 0, "xattr %s is reserved for overlayfs (whiteouts are .wh. entries)",
					 show2(u, e->xattrs[i].name, strlen(e->xattrs[i].name)));

	if (len == 0) {
		if (e->type != ROOTFS_TAR_DIR)
			return entry_err(u, err, 0, "the layer root can only be a directory");
		return do_dir(u, e, clean, 0, "", 0, "", err);
	}
	slash = strrchr(clean, '/');
	base = slash ? slash + 1 : clean;
	plen = slash ? (size_t)(slash - clean) : 0;
	/* ".wh." only means something as the last component */
	for (const char *c = clean; c < base; c = strchr(c, '/') + 1)
		if (strncmp(c, ".wh.", 4) == 0)
			return entry_err(u, err, 0, "a whiteout name is used as a directory");
	if (strncmp(base, ".wh.", 4) == 0)
		return do_whiteout(u, clean, len, clean, plen, base, err);

	switch (e->type) {
	case ROOTFS_TAR_DIR:
		return do_dir(u, e, clean, len, clean, plen, base, err);
	case ROOTFS_TAR_HARDLINK:
		return do_hardlink(u, e, clean, len, clean, plen, base, err);
	default:
		break;
	}
	pfd = get_parent(u, clean, plen, err);
	if (pfd < 0)
		return pfd;
	switch (e->type) {
	case ROOTFS_TAR_REG:
		return do_file(u, tr, e, clean, len, pfd, base, err);
	case ROOTFS_TAR_SYMLINK:
		return do_symlink(u, e, clean, len, pfd, base, err);
	case ROOTFS_TAR_FIFO:
		return do_fifo(u, e, clean, len, pfd, base, err);
	default:
		return entry_err(u, err, 0, "unsupported entry type");
	}
}

static int cmp_depth_desc(const void *a, const void *b)
{
	const struct dir_meta *x = a, *y = b;

	return x->depth < y->depth ? 1 : x->depth > y->depth ? -1 : 0;
}

/* Directory modes and mtimes, once nothing more is created in them;
 * deepest first so a directory without write or search permission for us is
 * closed only after its children are done. */
static int finish_dirs(struct unpack *u, struct berr **err)
{
	if (u->n_dirs > 1)
		qsort(u->dirs, u->n_dirs, sizeof(*u->dirs), cmp_depth_desc);
	for (size_t i = 0; i < u->n_dirs; i++) {
		const struct dir_meta *d = &u->dirs[i];
		struct timespec ts[2] = { d->mtime, d->mtime };
		cleanup_close int own = -1;
		int fd = u->root;

		u->name = d->len ? d->path : ".";
		if (d->len) {
			own = fs_open_in_root(u->root, d->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0,
					      RESOLVE_NO_SYMLINKS, NULL);
			if (own < 0)
				return entry_err(u, err, -own, "open directory to set its mode");
			fd = own;
		}
		if (fchmod(fd, d->mode & 07777) < 0)
			return entry_err(u, err, errno, "set mode %04o", d->mode & 07777);
		if (futimens(fd, ts) < 0)
			return entry_err(u, err, errno, "set mtime");
	}
	return 0;
}

/* ---------------------------------------------------------- the stream */

static int err_copy(struct berr **err, const struct berr *src)
{
	if (err) {
		berr_set(err, 0, "%s", berr_msg(src));
		(*err)->code = src->code;
	}
	return berr_rc(src);
}

/* rootfs_tar_next_fn over the ring: hand back the slot read last, wait for
 * the next one and hash it (unless the producer does). Every slot passes
 * here once, in stream order, the ones after the end of the archive too
 * (rootfs_tar_drain). Progress is reported from here, in the caller's
 * thread. */
static int ring_next(void *ctx, const unsigned char **p, size_t *len, struct berr **err)
{
	struct unpack *u = ctx;
	struct ring *g = u->ring;
	uint64_t in_done;
	bool hash;

	pthread_mutex_lock(&g->mu);
	if (g->held) {
		g->tail = (g->tail + 1) % RING_SLOTS;
		g->count--;
		g->held = false;
		pthread_cond_signal(&g->free_cv);
	}
	while (g->count == 0 && !g->done)
		pthread_cond_wait(&g->filled_cv, &g->mu);
	if (g->count == 0) {
		int ret = 0;

		*len = 0;
		if (g->perr)
			ret = err_copy(err, g->perr);
		pthread_mutex_unlock(&g->mu);
		return ret;
	}
	g->held = true;
	*p = g->slot[g->tail].buf;
	*len = g->slot[g->tail].len;
	in_done = g->slot[g->tail].in_done;
	hash = !g->producer_hashes;
	pthread_mutex_unlock(&g->mu);
	if (hash)
		rootfs_sha256_update(g->hash, *p, *len);
	if (u->progress && in_done != u->progress_last) {
		u->progress_last = in_done;
		u->progress(in_done, u->progress_data);
	}
	return 0;
}

static mode_t read_umask(void)
{
	cleanup_free char *buf = NULL;
	const char *p;

	if (fs_read_file("/proc/self/status", &buf, NULL, 1 << 20, NULL) == 0 &&
	    (p = strstr(buf, "\nUmask:")) != NULL)
		return (mode_t)strtoul(p + 7, NULL, 8) & 0777;
	/* unknown: assume the worst, so every mode is set explicitly */
	return 0777;
}

int rootfs_layer_unpack(int blob_fd, enum rootfs_compression comp, int dirfd,
			const struct rootfs_unpack_opts *opts, struct rootfs_unpack_result *res,
			struct berr **err)
{
	struct unpack u = { .root = -1, .cache_fd = -1 };
	struct rootfs_tar_reader *tr = NULL;
	struct rootfs_tar_entry *e;
	struct ring g = { .fd = blob_fd, .comp = comp };
	sigset_t all, old;
	pthread_t th;
	struct stat st;
	int ret;

	memset(res, 0, sizeof(*res));
	u.max_bytes = opts && opts->max_bytes ? opts->max_bytes : ROOTFS_DEFAULT_MAX_BYTES;
	u.max_entries = opts && opts->max_entries ? opts->max_entries : ROOTFS_DEFAULT_MAX_ENTRIES;
	u.flags = opts ? opts->flags : 0;
	u.progress = opts ? opts->progress : NULL;
	u.progress_data = opts ? opts->progress_data : NULL;
	u.progress_last = UINT64_MAX;
	u.euid = geteuid();
	u.egid = getegid();
	u.umask = read_umask();
	g.max_bytes = u.max_bytes;

	u.root = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (u.root < 0) {
		cleanup_free char *name = fs_fd_name(dirfd);

		return berr_set(err, errno, "unpack layer: open directory %s", name);
	}
	if (fstat(u.root, &st) < 0) {
		ret = berr_set(err, errno, "unpack layer: stat layer directory");
		close(u.root);
		return ret;
	}
	u.chown_always = st.st_mode & S_ISGID;
	cache_set(&u, "", 0, u.root);

	ring_init(&g);
	u.ring = &g;
	/* the worker takes no signals: they stay with the caller's thread */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = pthread_create(&th, NULL, producer_main, &g);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret != 0) {
		ring_destroy(&g);
		close(u.root);
		return berr_set(err, ret, "unpack layer: start the decompression thread");
	}

	tr = rootfs_tar_reader_new(ring_next, &u);
	for (;;) {
		ret = rootfs_tar_next(tr, &e, err);
		if (ret <= 0)
			break;
		ret = do_entry(&u, tr, e, err);
		if (ret < 0)
			break;
	}
	if (ret == 0) {
		/* after the end-of-archive blocks: read (and hash) the rest;
		 * it is ignored, as Go's archive/tar and containerd ignore it */
		int64_t n = rootfs_tar_drain(tr, err);

		if (n < 0)
			ret = (int)n;
	}
	if (ret < 0)
		ring_cancel(&g);
	pthread_join(th, NULL);
	/* ring_next reported a producer error already; this catches one that
	 * came after the consumer had stopped asking */
	if (ret == 0 && g.perr)
		ret = err_copy(err, g.perr);
	/* cannot happen (the drain saw the end); a diff_id of part of the
	 * stream must never be returned if it ever does */
	if (ret == 0 && !g.eof)
		ret = berr_set(err, EIO, "unpack layer: the decompressor stopped early");
	if (ret == 0)
		ret = finish_dirs(&u, err);

	res->tar_bytes = g.total;
	res->entries = u.entries;
	res->file_bytes = u.file_bytes;
	res->compression = g.format;
	res->blob_bytes = g.in_total;
	if (ret == 0) {
		rootfs_sha256_final(g.hash, &res->diff_id);
		if (u.progress)
			u.progress(g.in_total, u.progress_data);
	}

	rootfs_tar_reader_free(tr);
	ring_destroy(&g);
	if (u.cache_fd >= 0 && u.cache_fd != u.root)
		close(u.cache_fd);
	close(u.root);
	set_free(&u.set);
	free(u.dirs);
	free(u.cache);
	free(u.clean);
	free(u.lclean);
	free(u.scratch);
	return ret < 0 ? ret : 0;
}
