/* tests/unit/netns/test_ipam.c - address allocation from a pool, persisted
 * in a directory (netns/ipam.h).
 *
 * Each test gets its own mkdtemp directory under /tmp (removed at the end);
 * the IPAM directory is <tmp>/ipam, created by netns_ipam_open. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/cleanup.h"
#include "common/error.h"
#include "common/fsutil.h"
#include "common/xalloc.h"
#include "netns/cidr.h"
#include "netns/ipam.h"

#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))

struct fx {
	char *tmp;
	char *dir;   /* tmp/ipam */
};

static int setup(void **state)
{
	struct fx *f = xzalloc(sizeof(*f));
	char tmpl[] = "/tmp/berth-test-ipam-XXXXXX";

	if (!mkdtemp(tmpl))
		return -1;
	f->tmp = xstrdup(tmpl);
	f->dir = xasprintf("%s/ipam", tmpl);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	struct berr *err = NULL;
	int rc = fs_rm_rf_at(AT_FDCWD, f->tmp, &err);

	if (rc < 0)
		fprintf(stderr, "cleanup: %s\n", berr_msg(err));
	berr_free(err);
	free(f->tmp);
	free(f->dir);
	free(f);
	return rc < 0 ? -1 : 0;
}

static struct netns_cidr pool_of(const char *s)
{
	struct netns_cidr c;

	assert_int_equal(netns_cidr_parse(s, "pool", &c, NULL), 0);
	return c;
}

static struct netns_ipam *open_ipam(const struct fx *f, const char *pool)
{
	struct netns_cidr c = pool_of(pool);
	struct netns_ipam *ipam = NULL;
	struct berr *err = NULL;

	if (netns_ipam_open(f->dir, &c, &ipam, &err) < 0)
		fail_msg("open %s: %s", f->dir, berr_msg(err));
	return ipam;
}

static uint32_t alloc_ok(struct netns_ipam *ipam, const char *owner)
{
	struct berr *err = NULL;
	uint32_t a = 0;

	if (netns_ipam_alloc(ipam, owner, &a, &err) < 0)
		fail_msg("alloc for %s: %s", owner, berr_msg(err));
	return a;
}

static void release_ok(struct netns_ipam *ipam, uint32_t addr, const char *owner)
{
	struct berr *err = NULL;

	if (netns_ipam_release(ipam, addr, owner, &err) < 0)
		fail_msg("release for %s: %s", owner, berr_msg(err));
}

static char *dir_file(const struct fx *f, const char *name)
{
	return xasprintf("%s/%s", f->dir, name);
}

static void put_file(const struct fx *f, const char *name, const char *content)
{
	cleanup_free char *p = dir_file(f, name);
	cleanup_close int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0)
		fail_msg("create %s: %s", p, strerror(errno));
	assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
}

/* Content of a file in the IPAM dir, NULL when missing. */
static char *get_file(const struct fx *f, const char *name)
{
	cleanup_free char *p = dir_file(f, name);
	char *s = NULL;

	if (fs_read_file(p, &s, NULL, 4096, NULL) < 0)
		return NULL;
	return s;
}

/* ------------------------------------------------------------------ tests */

static void test_sequence_and_exhaustion(void **state)
{
	struct fx *f = *state;
	struct netns_ipam *ipam = open_ipam(f, "10.0.0.0/29");
	struct berr *err = NULL;
	bool seen[8] = { false };
	struct stat st;
	uint32_t a = 0;

	assert_int_equal(netns_ipam_gateway(ipam), IP(10, 0, 0, 1));
	/* the directory was created 0700 */
	assert_int_equal(stat(f->dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);

	/* a /29 has 5 usable addresses: .2 .. .6, in order */
	for (unsigned i = 2; i <= 6; i++) {
		a = alloc_ok(ipam, "task-1");
		assert_int_equal(a, IP(10, 0, 0, i));
		assert_false(seen[a & 7]);
		seen[a & 7] = true;
	}
	/* never the network (.0), gateway (.1) or broadcast (.7) */
	assert_false(seen[0] || seen[1] || seen[7]);

	a = 12345;
	assert_int_equal(netns_ipam_alloc(ipam, "task-2", &a, &err), -ENOSPC);
	assert_int_equal(a, 12345);
	assert_int_equal(err->code, ENOSPC);
	assert_non_null(strstr(err->msg, "IPAM pool 10.0.0.0/29: all 5 addresses are in use; stop "
					 "tasks or configure a larger network.subnet"));
	berr_clear(&err);

	/* each address file holds its owner */
	{
		cleanup_free char *c = get_file(f, "10.0.0.2");

		assert_non_null(c);
		assert_string_equal(c, "task-1\n");
	}
	netns_ipam_close(ipam);
}

static void test_smallest_and_largest_pools(void **state)
{
	struct fx *f = *state;
	struct netns_cidr c;
	struct netns_ipam *ipam = open_ipam(f, "192.168.7.4/30");
	struct berr *err = NULL;
	uint32_t a;

	/* /30: one usable address */
	assert_int_equal(alloc_ok(ipam, "t"), IP(192, 168, 7, 6));
	assert_int_equal(netns_ipam_alloc(ipam, "t", &a, &err), -ENOSPC);
	assert_non_null(strstr(err->msg, "all 1 addresses are in use"));
	berr_clear(&err);
	netns_ipam_close(ipam);

	/* /8 works (the scan does not walk 16M addresses to find a free one) */
	ipam = open_ipam(f, "10.0.0.0/8");
	assert_int_equal(alloc_ok(ipam, "t"), IP(10, 0, 0, 2));
	netns_ipam_close(ipam);

	/* prefixes outside 8..30 and host bits are refused */
	ipam = NULL;
	c = pool_of("10.0.0.0/31");
	assert_int_equal(netns_ipam_open(f->dir, &c, &ipam, &err), -EINVAL);
	assert_non_null(strstr(err->msg, "10.0.0.0/31"));
	assert_null(ipam);
	berr_clear(&err);
	c = pool_of("10.0.0.0/7");
	assert_int_equal(netns_ipam_open(f->dir, &c, &ipam, &err), -EINVAL);
	berr_clear(&err);
	c = (struct netns_cidr){ IP(10, 0, 0, 1), 24 };
	assert_int_equal(netns_ipam_open(f->dir, &c, &ipam, &err), -EINVAL);
	assert_non_null(strstr(err->msg, "host bits"));
	berr_clear(&err);
}

static void test_scan_from_last_and_wrap(void **state)
{
	struct fx *f = *state;
	struct netns_ipam *ipam = open_ipam(f, "10.0.0.0/29");
	struct berr *err = NULL;
	uint32_t a;

	assert_int_equal(alloc_ok(ipam, "a"), IP(10, 0, 0, 2));
	assert_int_equal(alloc_ok(ipam, "b"), IP(10, 0, 0, 3));
	assert_int_equal(alloc_ok(ipam, "c"), IP(10, 0, 0, 4));
	release_ok(ipam, IP(10, 0, 0, 3), "b");
	/* .3 is free again, but the scan goes on after the last one handed out */
	assert_int_equal(alloc_ok(ipam, "d"), IP(10, 0, 0, 5));
	assert_int_equal(alloc_ok(ipam, "e"), IP(10, 0, 0, 6));
	/* wraps round to the start and finds .3 */
	assert_int_equal(alloc_ok(ipam, "f"), IP(10, 0, 0, 3));
	assert_int_equal(netns_ipam_alloc(ipam, "g", &a, &err), -ENOSPC);
	berr_clear(&err);
	/* after .3 the next free one is found past the held .4-.6, wrapping to .2 */
	release_ok(ipam, IP(10, 0, 0, 2), "a");
	assert_int_equal(alloc_ok(ipam, "g"), IP(10, 0, 0, 2));
	{
		cleanup_free char *last = get_file(f, "last");

		assert_non_null(last);
		assert_string_equal(last, "10.0.0.2\n");
	}
	netns_ipam_close(ipam);
}

static void test_last_hint_bad(void **state)
{
	struct fx *f = *state;
	struct netns_ipam *ipam = open_ipam(f, "10.0.0.0/28");
	cleanup_free char *lastp = dir_file(f, "last");

	assert_int_equal(alloc_ok(ipam, "a"), IP(10, 0, 0, 2));
	assert_int_equal(alloc_ok(ipam, "a"), IP(10, 0, 0, 3));
	release_ok(ipam, IP(10, 0, 0, 2), "a");

	/* missing: the scan starts at net+2 again */
	assert_int_equal(unlink(lastp), 0);
	assert_int_equal(alloc_ok(ipam, "b"), IP(10, 0, 0, 2));
	/* garbage, an address outside the pool, a non-canonical one: same */
	release_ok(ipam, IP(10, 0, 0, 2), "b");
	put_file(f, "last", "garbage\n");
	assert_int_equal(alloc_ok(ipam, "c"), IP(10, 0, 0, 2));
	release_ok(ipam, IP(10, 0, 0, 2), "c");
	put_file(f, "last", "192.168.0.9\n");
	assert_int_equal(alloc_ok(ipam, "c"), IP(10, 0, 0, 2));
	put_file(f, "last", "10.0.0.09\n");
	assert_int_equal(alloc_ok(ipam, "c"), IP(10, 0, 0, 4));   /* .2 .3 held */
	/* the broadcast or the gateway as the last one: start at net+2 */
	release_ok(ipam, IP(10, 0, 0, 2), "c");
	put_file(f, "last", "10.0.0.15");
	assert_int_equal(alloc_ok(ipam, "c"), IP(10, 0, 0, 2));
	/* a symlink is not followed: treated as no hint */
	{
		cleanup_free char *target = xasprintf("%s/elsewhere", f->tmp);
		cleanup_close int fd = open(target, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);

		assert_true(fd >= 0);
		assert_int_equal(write(fd, "10.0.0.9\n", 9), 9);
		assert_int_equal(unlink(lastp), 0);
		assert_int_equal(symlink(target, lastp), 0);
		release_ok(ipam, IP(10, 0, 0, 3), "a");
		assert_int_equal(alloc_ok(ipam, "d"), IP(10, 0, 0, 3));
		/* and replaced (not written through) by the next hint */
		cleanup_free char *t = NULL;
		assert_int_equal(fs_read_file(target, &t, NULL, 64, NULL), 0);
		assert_string_equal(t, "10.0.0.9\n");
		cleanup_free char *last = get_file(f, "last");
		assert_string_equal(last, "10.0.0.3\n");
	}
	netns_ipam_close(ipam);
}

static void test_persistence(void **state)
{
	struct fx *f = *state;
	struct netns_ipam *ipam = open_ipam(f, "10.88.0.0/24");
	struct netns_ipam_entry *e = NULL;
	struct berr *err = NULL;
	size_t n = 0;

	assert_int_equal(alloc_ok(ipam, "t1"), IP(10, 88, 0, 2));
	assert_int_equal(alloc_ok(ipam, "t1"), IP(10, 88, 0, 3));
	netns_ipam_close(ipam);

	/* a new handle (a restart) does not hand out held addresses and goes
	 * on after the last one */
	ipam = open_ipam(f, "10.88.0.0/24");
	assert_int_equal(alloc_ok(ipam, "t2"), IP(10, 88, 0, 4));
	release_ok(ipam, IP(10, 88, 0, 3), "t1");
	netns_ipam_close(ipam);

	ipam = open_ipam(f, "10.88.0.0/24");
	assert_int_equal(alloc_ok(ipam, "t3"), IP(10, 88, 0, 5));
	assert_int_equal(netns_ipam_list(ipam, &e, &n, &err), 0);
	assert_int_equal(n, 3);
	assert_int_equal(e[0].addr, IP(10, 88, 0, 2));
	assert_string_equal(e[0].owner, "t1");
	assert_int_equal(e[1].addr, IP(10, 88, 0, 4));
	assert_string_equal(e[1].owner, "t2");
	assert_int_equal(e[2].addr, IP(10, 88, 0, 5));
	assert_string_equal(e[2].owner, "t3");
	free(e);
	netns_ipam_close(ipam);
}

static void test_release(void **state)
{
	struct fx *f = *state;
	struct netns_ipam *ipam = open_ipam(f, "10.88.0.0/24");
	struct berr *err = NULL;
	uint32_t a = alloc_ok(ipam, "owner-a");
	cleanup_free char *p = dir_file(f, "10.88.0.2");

	/* not held at all: success (idempotent teardown) */
	release_ok(ipam, IP(10, 88, 0, 77), "owner-a");
	/* held by someone else: EPERM naming both, and still held */
	assert_int_equal(netns_ipam_release(ipam, a, "owner-b", &err), -EPERM);
	assert_non_null(strstr(err->msg, "10.88.0.2"));
	assert_non_null(strstr(err->msg, "owner-a"));
	assert_non_null(strstr(err->msg, "owner-b"));
	berr_clear(&err);
	assert_int_equal(access(p, F_OK), 0);
	/* by its owner: gone; twice: still fine */
	release_ok(ipam, a, "owner-a");
	assert_int_equal(access(p, F_OK), -1);
	release_ok(ipam, a, "owner-a");
	/* a bad owner is EINVAL naming it */
	assert_int_equal(netns_ipam_release(ipam, a, "bad/owner", &err), -EINVAL);
	assert_non_null(strstr(err->msg, "bad/owner"));
	berr_clear(&err);
	netns_ipam_close(ipam);
}

static void test_release_owner(void **state)
{
	struct fx *f = *state;
	struct netns_ipam *ipam = open_ipam(f, "10.88.0.0/24");
	struct netns_ipam_entry *e = NULL;
	struct berr *err = NULL;
	size_t n = 0;

	for (int i = 0; i < 3; i++)
		alloc_ok(ipam, "t1");
	alloc_ok(ipam, "t2");
	alloc_ok(ipam, "t1x");   /* a prefix match is not a match */
	alloc_ok(ipam, "t2");
	assert_int_equal(netns_ipam_release_owner(ipam, "t1", &err), 3);
	assert_int_equal(netns_ipam_release_owner(ipam, "t1", &err), 0);
	assert_int_equal(netns_ipam_release_owner(ipam, "nobody", &err), 0);
	assert_int_equal(netns_ipam_list(ipam, &e, &n, &err), 0);
	assert_int_equal(n, 3);
	assert_int_equal(e[0].addr, IP(10, 88, 0, 5));
	assert_string_equal(e[0].owner, "t2");
	assert_int_equal(e[1].addr, IP(10, 88, 0, 6));
	assert_string_equal(e[1].owner, "t1x");
	assert_int_equal(e[2].addr, IP(10, 88, 0, 7));
	assert_string_equal(e[2].owner, "t2");
	free(e);
	assert_int_equal(netns_ipam_release_owner(ipam, "t2", &err), 2);
	assert_int_equal(netns_ipam_release_owner(ipam, "t1x", &err), 1);
	assert_int_equal(netns_ipam_list(ipam, &e, &n, &err), 0);
	assert_int_equal(n, 0);
	assert_null(e);
	netns_ipam_close(ipam);
}

static void test_unreadable_reservations_held(void **state)
{
	struct fx *f = *state;
	struct netns_ipam *ipam = open_ipam(f, "10.88.0.0/24");
	cleanup_free char *target = xasprintf("%s/target", f->tmp);
	cleanup_free char *link = dir_file(f, "10.88.0.4");
	cleanup_free char *fifo = dir_file(f, "10.88.0.5");
	cleanup_free char *sub = dir_file(f, "10.88.0.6");
	struct netns_ipam_entry *e = NULL;
	struct berr *err = NULL;
	size_t n = 0;

	/* crash between create and write: empty; crash mid-write: no "\n" */
	put_file(f, "10.88.0.2", "");
	put_file(f, "10.88.0.3", "ta");
	/* a symlink to a file naming a real owner: not followed */
	{
		cleanup_close int fd = open(target, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);

		assert_true(fd >= 0);
		assert_int_equal(write(fd, "t\n", 2), 2);
	}
	assert_int_equal(symlink(target, link), 0);
	/* a FIFO must not hang the reader; a directory is not a file */
	assert_int_equal(mkfifo(fifo, 0600), 0);
	assert_int_equal(mkdir(sub, 0700), 0);
	/* too long to be an owner */
	{
		char big[200];

		memset(big, 'x', sizeof(big) - 2);
		big[sizeof(big) - 2] = '\n';
		big[sizeof(big) - 1] = '\0';
		put_file(f, "10.88.0.7", big);
	}

	assert_int_equal(alloc_ok(ipam, "t"), IP(10, 88, 0, 8));
	assert_int_equal(netns_ipam_list(ipam, &e, &n, &err), 0);
	assert_int_equal(n, 7);
	for (size_t i = 0; i < 6; i++) {
		assert_int_equal(e[i].addr, IP(10, 88, 0, 2 + i));
		assert_string_equal(e[i].owner, "?");
	}
	assert_string_equal(e[6].owner, "t");
	free(e);

	/* never removed by release_owner; release refuses with a hint */
	assert_int_equal(netns_ipam_release_owner(ipam, "t", &err), 1);
	assert_int_equal(netns_ipam_list(ipam, &e, &n, &err), 0);
	assert_int_equal(n, 6);
	free(e);
	assert_int_equal(netns_ipam_release(ipam, IP(10, 88, 0, 2), "t", &err), -EPERM);
	assert_non_null(strstr(err->msg, "no readable owner"));
	assert_non_null(strstr(err->msg, "10.88.0.2"));
	berr_clear(&err);
	assert_int_equal(netns_ipam_release(ipam, IP(10, 88, 0, 4), "t", &err), -EPERM);
	berr_clear(&err);
	assert_int_equal(access(link, F_OK), 0);   /* target exists: link intact */

	/* an operator removes the empty file by hand: the address is free again */
	{
		cleanup_free char *p = dir_file(f, "10.88.0.2");

		assert_int_equal(unlink(p), 0);
	}
	put_file(f, "last", "10.88.0.254");
	assert_int_equal(alloc_ok(ipam, "u"), IP(10, 88, 0, 2));
	netns_ipam_close(ipam);
}

static void test_foreign_files_and_pool_change(void **state)
{
	struct fx *f = *state;
	struct netns_ipam *ipam = open_ipam(f, "10.88.0.0/24");
	struct netns_ipam_entry *e = NULL;
	struct berr *err = NULL;
	size_t n = 0;

	put_file(f, "notes.txt", "hello\n");
	put_file(f, "10.88.0.02", "x\n");    /* not canonical: not an address file */
	put_file(f, ".10.88.0.3.tmp", "x\n");
	put_file(f, "10.99.0.7", "old\n");   /* outside the pool */
	assert_int_equal(alloc_ok(ipam, "t1"), IP(10, 88, 0, 2));
	assert_int_equal(netns_ipam_list(ipam, &e, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_int_equal(e[0].addr, IP(10, 88, 0, 2));
	assert_int_equal(e[1].addr, IP(10, 99, 0, 7));   /* listed, so an operator sees it */
	assert_string_equal(e[1].owner, "old");
	free(e);
	netns_ipam_close(ipam);

	/* a different pool over the same directory */
	ipam = open_ipam(f, "10.99.0.0/29");
	assert_int_equal(netns_ipam_gateway(ipam), IP(10, 99, 0, 1));
	assert_int_equal(alloc_ok(ipam, "t2"), IP(10, 99, 0, 2));
	for (unsigned i = 3; i <= 6; i++)
		assert_int_equal(alloc_ok(ipam, "t2"), IP(10, 99, 0, i));
	/* .7 is the broadcast of the new pool: the old file there is not in the way */
	{
		uint32_t a;

		assert_int_equal(netns_ipam_alloc(ipam, "t2", &a, &err), -ENOSPC);
		berr_clear(&err);
	}
	/* the old pool's addresses are still released by owner */
	assert_int_equal(netns_ipam_release_owner(ipam, "t1", &err), 1);
	assert_int_equal(netns_ipam_release_owner(ipam, "old", &err), 1);
	{
		cleanup_free char *notes = get_file(f, "notes.txt");

		assert_non_null(notes);
	}
	netns_ipam_close(ipam);
}

static void test_owner_rules(void **state)
{
	struct fx *f = *state;
	struct netns_ipam *ipam = open_ipam(f, "10.88.0.0/24");
	static const char *const bad[] = { "", "a/b", "a b", "t\n", "..\x01", "ä", "a*" };
	struct berr *err = NULL;
	char longest[129], too_long[130];
	uint32_t a;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(netns_ipam_alloc(ipam, bad[i], &a, &err), -EINVAL);
		assert_non_null(strstr(err->msg, "owner"));
		berr_clear(&err);
	}
	assert_int_equal(netns_ipam_alloc(ipam, NULL, &a, &err), -EINVAL);
	berr_clear(&err);
	assert_int_equal(netns_ipam_alloc(ipam, "a/b", &a, &err), -EINVAL);
	assert_non_null(strstr(err->msg, "\"a/b\""));
	berr_clear(&err);

	memset(longest, 'a', 128);
	longest[128] = '\0';
	memset(too_long, 'a', 129);
	too_long[129] = '\0';
	assert_int_equal(netns_ipam_alloc(ipam, too_long, &a, &err), -EINVAL);
	berr_clear(&err);
	assert_int_equal(netns_ipam_release_owner(ipam, too_long, &err), -EINVAL);
	berr_clear(&err);
	/* every allowed character, and the longest owner, round-trip */
	assert_int_equal(alloc_ok(ipam, "Az09._:-"), IP(10, 88, 0, 2));
	assert_int_equal(alloc_ok(ipam, longest), IP(10, 88, 0, 3));
	{
		struct netns_ipam_entry *e = NULL;
		size_t n = 0;

		assert_int_equal(netns_ipam_list(ipam, &e, &n, &err), 0);
		assert_int_equal(n, 2);
		assert_string_equal(e[0].owner, "Az09._:-");
		assert_string_equal(e[1].owner, longest);
		free(e);
	}
	/* nothing was created by the refused calls */
	assert_int_equal(netns_ipam_release_owner(ipam, longest, &err), 1);
	netns_ipam_close(ipam);
}

static void test_open_dir_checks(void **state)
{
	struct fx *f = *state;
	struct netns_cidr c = pool_of("10.88.0.0/24");
	struct netns_ipam *ipam = NULL;
	struct berr *err = NULL;
	cleanup_free char *nested = xasprintf("%s/missing/ipam", f->tmp);
	cleanup_free char *real = xasprintf("%s/real", f->tmp);
	cleanup_free char *link = xasprintf("%s/link", f->tmp);
	cleanup_free char *open_dir = xasprintf("%s/open", f->tmp);
	cleanup_free char *file = xasprintf("%s/file", f->tmp);

	/* parents must exist */
	assert_int_equal(netns_ipam_open(nested, &c, &ipam, &err), -ENOENT);
	assert_non_null(strstr(err->msg, nested));
	berr_clear(&err);
	/* a symlink to a directory is refused */
	assert_int_equal(mkdir(real, 0700), 0);
	assert_int_equal(symlink(real, link), 0);
	assert_true(netns_ipam_open(link, &c, &ipam, &err) < 0);
	berr_clear(&err);
	/* group/other-writable is refused */
	assert_int_equal(mkdir(open_dir, 0700), 0);
	assert_int_equal(chmod(open_dir, 0777), 0);
	assert_int_equal(netns_ipam_open(open_dir, &c, &ipam, &err), -EPERM);
	assert_non_null(strstr(err->msg, "writable"));
	berr_clear(&err);
	/* not a directory */
	{
		cleanup_close int fd = open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);

		assert_true(fd >= 0);
	}
	assert_int_equal(netns_ipam_open(file, &c, &ipam, &err), -ENOTDIR);
	berr_clear(&err);
	assert_null(ipam);
	/* an existing private directory is fine */
	assert_int_equal(netns_ipam_open(real, &c, &ipam, &err), 0);
	netns_ipam_close(ipam);
	netns_ipam_close(NULL);
}

/* Every operation waits for <dir>/lock: while the test holds it, another
 * process's alloc does not finish; once released, it does. */
static void test_lock_excludes(void **state)
{
	struct fx *f = *state;
	struct netns_ipam *ipam = open_ipam(f, "10.88.0.0/24");
	cleanup_free char *lockp = dir_file(f, "lock");
	cleanup_close int lock = -1;
	struct pollfd pfd;
	uint32_t a = 0;
	int res[2], status;
	pid_t pid;

	alloc_ok(ipam, "first");   /* the lock file exists from now on */
	lock = open(lockp, O_RDWR | O_CLOEXEC);
	assert_true(lock >= 0);
	assert_int_equal(flock(lock, LOCK_EX), 0);
	assert_int_equal(pipe2(res, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		uint32_t got;

		close(res[0]);
		if (netns_ipam_alloc(ipam, "second", &got, NULL) < 0)
			_exit(2);
		if (write(res[1], &got, sizeof(got)) != sizeof(got))
			_exit(3);
		_exit(0);
	}
	close(res[1]);
	pfd = (struct pollfd){ .fd = res[0], .events = POLLIN };
	/* blocked behind our lock */
	assert_int_equal(poll(&pfd, 1, 300), 0);
	assert_int_equal(flock(lock, LOCK_UN), 0);
	assert_int_equal(poll(&pfd, 1, 10000), 1);
	assert_int_equal(read(res[0], &a, sizeof(a)), sizeof(a));
	close(res[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(a, IP(10, 88, 0, 3));
	netns_ipam_close(ipam);
}

/* Two processes allocate 50 addresses each from one /24 at the same time;
 * no address may be handed out twice. */
#define PER_CHILD 50

static void test_concurrent_processes(void **state)
{
	struct fx *f = *state;
	int go[2], res[2][2];
	pid_t pid[2];
	uint32_t got[2][PER_CHILD];
	bool seen[256] = { false };
	struct netns_ipam *ipam = open_ipam(f, "10.88.0.0/24");   /* creates the dir */
	struct netns_ipam_entry *e = NULL;
	struct berr *err = NULL;
	size_t n = 0, per_owner[2] = { 0, 0 };

	netns_ipam_close(ipam);
	assert_int_equal(pipe2(go, O_CLOEXEC), 0);
	for (int c = 0; c < 2; c++) {
		assert_int_equal(pipe2(res[c], O_CLOEXEC), 0);
		pid[c] = fork();
		assert_true(pid[c] >= 0);
		if (pid[c] == 0) {
			struct netns_cidr pool = { IP(10, 88, 0, 0), 24 };
			struct netns_ipam *mine = NULL;
			char owner[16], b;
			uint32_t out[PER_CHILD];

			close(go[1]);
			close(res[c][0]);
			snprintf(owner, sizeof(owner), "child-%d", c);
			if (netns_ipam_open(f->dir, &pool, &mine, NULL) < 0)
				_exit(2);
			/* start together: both block until the parent closes go[1] */
			if (read(go[0], &b, 1) != 0)
				_exit(3);
			for (int i = 0; i < PER_CHILD; i++) {
				if (netns_ipam_alloc(mine, owner, &out[i], NULL) < 0)
					_exit(4);
			}
			if (write(res[c][1], out, sizeof(out)) != (ssize_t)sizeof(out))
				_exit(5);
			netns_ipam_close(mine);
			_exit(0);
		}
		close(res[c][1]);
	}
	close(go[0]);
	close(go[1]);
	for (int c = 0; c < 2; c++) {
		int status;
		size_t have = 0;

		while (have < sizeof(got[c])) {
			ssize_t r = read(res[c][0], (char *)got[c] + have, sizeof(got[c]) - have);

			if (r <= 0)
				break;
			have += (size_t)r;
		}
		close(res[c][0]);
		assert_int_equal(waitpid(pid[c], &status, 0), pid[c]);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			fail_msg("child %d failed (status 0x%x)", c, status);
		assert_int_equal(have, sizeof(got[c]));
	}
	for (int c = 0; c < 2; c++) {
		for (int i = 0; i < PER_CHILD; i++) {
			uint32_t a = got[c][i];

			assert_int_equal(a & 0xffffff00u, IP(10, 88, 0, 0));
			assert_true((a & 255) >= 2 && (a & 255) <= 254);
			if (seen[a & 255])
				fail_msg("10.88.0.%u handed out twice", a & 255);
			seen[a & 255] = true;
		}
	}
	ipam = open_ipam(f, "10.88.0.0/24");
	assert_int_equal(netns_ipam_list(ipam, &e, &n, &err), 0);
	assert_int_equal(n, 2 * PER_CHILD);
	for (size_t i = 0; i < n; i++) {
		assert_true(seen[e[i].addr & 255]);
		if (strcmp(e[i].owner, "child-0") == 0)
			per_owner[0]++;
		else if (strcmp(e[i].owner, "child-1") == 0)
			per_owner[1]++;
	}
	assert_int_equal(per_owner[0], PER_CHILD);
	assert_int_equal(per_owner[1], PER_CHILD);
	free(e);
	netns_ipam_close(ipam);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sequence_and_exhaustion, setup, teardown),
		cmocka_unit_test_setup_teardown(test_smallest_and_largest_pools, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scan_from_last_and_wrap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_last_hint_bad, setup, teardown),
		cmocka_unit_test_setup_teardown(test_persistence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_release, setup, teardown),
		cmocka_unit_test_setup_teardown(test_release_owner, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unreadable_reservations_held, setup, teardown),
		cmocka_unit_test_setup_teardown(test_foreign_files_and_pool_change, setup, teardown),
		cmocka_unit_test_setup_teardown(test_owner_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_dir_checks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock_excludes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_processes, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
