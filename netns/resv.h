/* netns/resv.h - the file store behind IPAM (ipam.c) and host ports
 * (ports.c). Internal to netns/: callers use ipam.h and ports.h.
 *
 * A store is a directory. Each reserved key (an address, a port) is a file
 * named after it, created with O_CREAT | O_EXCL and holding "owner\n"; the
 * existence of the file is the reservation, whatever it contains. A file
 * that is empty, not a regular file, unreadable, or whose content is not
 * exactly a valid owner plus "\n" (a crash between create and write) still
 * holds its key, with the owner shown as "?"; no owner matches "?", so only
 * an operator removes it. "lock" is flock(LOCK_EX)ed around every
 * operation, opened afresh each time: the lock belongs to that open file
 * description, so operations exclude each other between processes and
 * between threads sharing one handle. "last*" files remember where the
 * next scan starts; they are hints (written by temp file + rename), the
 * key files are the truth. Names starting with '.' are temporary files.
 *
 * Every file is opened relative to the directory fd with O_NOFOLLOW, and
 * reads are bounded. */
#ifndef BERTH_NETNS_RESV_H
#define BERTH_NETNS_RESV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

/* An owner (a task id): [A-Za-z0-9._:-]{1,RESV_OWNER_MAX}. */
#define RESV_OWNER_MAX 128
/* Longest key file name plus NUL ("255.255.255.255", "tcp-65535"). */
#define RESV_NAME_MAX 32
/* Shown for a reservation file without a readable owner. */
#define RESV_OWNER_UNKNOWN "?"

struct resv {
	char *dir;
	int dirfd;
};

bool netns_resv_owner_ok(const char *owner);
/* EINVAL naming the owner when it is not valid. */
int netns_resv_check_owner(const char *owner, struct berr **err);

/* Create dir (0700; its parent must exist) when missing, open it (not
 * through a symlink) and check that it is a directory owned by the
 * effective uid and not writable by group or others. */
int netns_resv_open(const char *dir, struct resv *out, struct berr **err);
void netns_resv_close(struct resv *r);

/* Take the store's lock (blocking); returns the lock fd, which the caller
 * closes to unlock (cleanup_close). */
int netns_resv_lock(const struct resv *r, struct berr **err);

/* The owner recorded in a reservation file's content: 0 when buf (len
 * bytes, not necessarily NUL-terminated) is exactly a valid owner and
 * "\n", -EINVAL otherwise (owner then holds RESV_OWNER_UNKNOWN). */
int netns_resv_parse_owner(const char *buf, size_t len, char owner[RESV_OWNER_MAX + 1]);

/* Who holds name: 1 (owner filled; RESV_OWNER_UNKNOWN when unreadable or
 * corrupt), 0 when there is no such file, negative with err on other
 * errors (the directory itself failing). */
int netns_resv_holder(const struct resv *r, const char *name, char owner[RESV_OWNER_MAX + 1],
		struct berr **err);

/* Reserve name for owner: create it exclusively, write "owner\n".
 * -EEXIST (err untouched) when it exists.
 *
 * Nothing here is fsync'd: a reservation must survive a restart of berth,
 * which the page cache guarantees, not a crash of the machine, which ends
 * every task that held one (a file that survived it would only leak the
 * address). An fsync of file and directory cost ~8 ms per task start. */
int netns_resv_create(const struct resv *r, const char *name, const char *owner, struct berr **err);

/* Remove name (missing is fine). The directory is not synced. */
int netns_resv_remove(const struct resv *r, const char *name, struct berr **err);

/* Release name if owner holds it: 1 released, 0 not held by anyone, -EPERM
 * (message naming both) when someone else (or RESV_OWNER_UNKNOWN) holds it.
 * `what` names the key in messages ("10.88.0.5", "host port 8080/tcp").
 * Syncs the directory. */
int netns_resv_release(const struct resv *r, const char *name, const char *owner, const char *what,
		 struct berr **err);

/* Remove every file accepted by `match` that owner holds; returns how many.
 * Files without a readable owner are never removed. Syncs the directory. */
int netns_resv_release_owner(const struct resv *r, const char *owner,
		       bool (*match)(const char *name, const void *ctx), const void *ctx,
		       struct berr **err);

/* Read a small state file (bounded; one trailing "\n" dropped) into buf.
 * 0, or -errno (-ENOENT when missing, -EINVAL when it does not fit or
 * holds a NUL). No berr: callers treat a bad hint as no hint. */
int netns_resv_read_small(const struct resv *r, const char *name, char *buf, size_t size);

/* Replace a small state file with "value\n": temporary file, rename.
 * The directory is not synced. */
int netns_resv_write_small(const struct resv *r, const char *name, const char *value, struct berr **err);

/* Call cb for every directory entry except ".", "..", names starting with
 * '.' and "lock"; a negative return stops the walk and is returned. */
int netns_resv_each(const struct resv *r, int (*cb)(const char *name, void *ctx), void *ctx,
	      struct berr **err);

/* A numeric key space: keys lo..hi, each with one file name. */
struct resv_space {
	uint32_t lo, hi;    /* inclusive */
	/* key -> file name (RESV_NAME_MAX bytes) */
	void (*format)(uint32_t key, char *buf, const void *ctx);
	/* file name -> key; false for names that are not keys of this space
	 * (whatever lo..hi says: keys outside the range parse too) */
	bool (*parse)(const char *name, uint32_t *key, const void *ctx);
	/* keys never handed out (NULL: none) */
	bool (*skip)(uint32_t key, const void *ctx);
	/* state file holding the file name of the last key handed out */
	const char *last_file;
	const void *ctx;
};

/* With the lock held: reserve for owner the first free key after the last
 * one handed out (kept in ks->last_file), wrapping once round lo..hi, and
 * record it as the last. Returns 0 with *key, -ENOSPC (err untouched) when
 * every key is held or skipped, another negative value with err. The
 * directory is not synced. */
int netns_resv_alloc_next(const struct resv *r, const struct resv_space *ks, const char *owner,
		    uint32_t *key, struct berr **err);

#endif
