/* tests/unit/netns/test_ports.c - bridge-mode host ports (netns/ports.h):
 * static and dynamic reservations, ECS's reserved ports, all-or-nothing
 * binds, persistence, the ephemeral range file.
 *
 * Each test gets its own mkdtemp directory under /tmp (removed at the end);
 * the port store is <tmp>/ports. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/cleanup.h"
#include "common/error.h"
#include "common/fsutil.h"
#include "common/xalloc.h"
#include "netns/ports.h"

struct fx {
	char *tmp;
	char *dir;   /* tmp/ports */
};

static int setup(void **state)
{
	struct fx *f = xzalloc(sizeof(*f));
	char tmpl[] = "/tmp/berth-test-ports-XXXXXX";

	if (!mkdtemp(tmpl))
		return -1;
	f->tmp = xstrdup(tmpl);
	f->dir = xasprintf("%s/ports", tmpl);
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

static struct netns_ports *open_ports(const struct fx *f, uint16_t lo, uint16_t hi)
{
	struct netns_port_range r = { lo, hi };
	struct netns_ports *p = NULL;
	struct berr *err = NULL;

	if (netns_ports_open(f->dir, &r, &p, &err) < 0)
		fail_msg("open %s: %s", f->dir, berr_msg(err));
	return p;
}

#define TCP(c, h) { (c), (h), NETNS_TCP }
#define UDP(c, h) { (c), (h), NETNS_UDP }

static void bind_ok(struct netns_ports *p, const char *owner, const struct netns_portmap *m,
		    size_t n, struct netns_binding *out)
{
	struct berr *err = NULL;

	if (netns_ports_bind(p, owner, m, n, out, &err) < 0)
		fail_msg("bind for %s: %s", owner, berr_msg(err));
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(out[i].container_port, m[i].container_port);
		assert_int_equal(out[i].proto, m[i].proto);
		if (m[i].host_port)
			assert_int_equal(out[i].host_port, m[i].host_port);
	}
}

/* One dynamic tcp port for owner. */
static uint16_t dyn_tcp(struct netns_ports *p, const char *owner)
{
	struct netns_portmap m[] = { TCP(80, 0) };
	struct netns_binding b[1];

	bind_ok(p, owner, m, 1, b);
	return b[0].host_port;
}

/* Expect a failing bind with code and a message containing want. */
static void bind_fails(struct netns_ports *p, const char *owner, const struct netns_portmap *m,
		       size_t n, int code, const char *want)
{
	struct netns_binding out[8];
	struct berr *err = NULL;
	int rc = netns_ports_bind(p, owner, m, n, out, &err);

	if (rc >= 0)
		fail_msg("bind for %s succeeded, want %s", owner, strerror(code));
	assert_int_equal(rc, -code);
	assert_int_equal(err->code, code);
	if (!strstr(err->msg, want))
		fail_msg("message \"%s\" lacks \"%s\"", err->msg, want);
	berr_free(err);
}

static size_t list_ports(struct netns_ports *p, struct netns_ports_entry **e)
{
	struct berr *err = NULL;
	size_t n = 99;

	if (netns_ports_list(p, e, &n, &err) < 0)
		fail_msg("list: %s", berr_msg(err));
	return n;
}

static char *get_file(const struct fx *f, const char *name)
{
	cleanup_free char *p = xasprintf("%s/%s", f->dir, name);
	char *s = NULL;

	if (fs_read_file(p, &s, NULL, 4096, NULL) < 0)
		return NULL;
	return s;
}

static void put_file(const char *path, const char *content)
{
	cleanup_close int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0)
		fail_msg("create %s: %s", path, strerror(errno));
	assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
}

/* ------------------------------------------------------------------ tests */

static void test_static(void **state)
{
	struct fx *f = *state;
	struct netns_ports *p = open_ports(f, 40000, 40010);
	struct netns_portmap a[] = { TCP(80, 8080), UDP(53, 5353) };
	struct netns_portmap b_udp[] = { UDP(80, 8080) };
	struct netns_portmap b_tcp[] = { TCP(81, 8080) };
	struct netns_portmap b_2[] = { TCP(1, 9000), TCP(2, 5353) };
	struct netns_binding out[2];
	struct netns_ports_entry *e = NULL;

	bind_ok(p, "abc", a, 2, out);
	assert_int_equal(out[0].host_port, 8080);
	assert_int_equal(out[1].host_port, 5353);
	{
		cleanup_free char *c = get_file(f, "tcp-8080");

		assert_non_null(c);
		assert_string_equal(c, "abc\n");
	}
	/* same port, other protocol: fine */
	bind_ok(p, "def", b_udp, 1, out);
	/* same port and protocol: in use, naming the mapping and the holder */
	bind_fails(p, "def", b_tcp, 1, EADDRINUSE, "portMappings[0]: host port 8080/tcp is in use by task abc");
	/* even for the same task */
	bind_fails(p, "abc", b_tcp, 1, EADDRINUSE, "in use by task abc");
	/* 5353/udp is held, 5353/tcp is not */
	bind_ok(p, "def", b_2, 2, out);

	assert_int_equal(list_ports(p, &e), 5);
	assert_int_equal(e[0].proto, NETNS_TCP);
	assert_int_equal(e[0].host_port, 5353);
	assert_string_equal(e[0].owner, "def");
	assert_int_equal(e[1].host_port, 8080);
	assert_string_equal(e[1].owner, "abc");
	assert_int_equal(e[2].host_port, 9000);
	assert_int_equal(e[3].proto, NETNS_UDP);
	assert_int_equal(e[3].host_port, 5353);
	assert_string_equal(e[3].owner, "abc");
	assert_int_equal(e[4].proto, NETNS_UDP);
	assert_int_equal(e[4].host_port, 8080);
	assert_string_equal(e[4].owner, "def");
	free(e);
	netns_ports_close(p);
}

static void test_reserved_ports(void **state)
{
	struct fx *f = *state;
	struct netns_ports *p = open_ports(f, 40000, 40010);
	static const uint16_t reserved[] = { 22, 2375, 2376, 51678, 51679 };
	struct netns_ports_entry *e = NULL;

	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
		struct netns_portmap m[] = { TCP(80, 8080), UDP(80, reserved[i]) };
		char want[96];

		assert_true(netns_port_reserved(reserved[i]));
		snprintf(want, sizeof(want), "portMappings[1]: host port %u/udp is reserved by ECS",
			 reserved[i]);
		bind_fails(p, "t", m, 2, EACCES, want);
	}
	assert_false(netns_port_reserved(23));
	assert_false(netns_port_reserved(2377));
	assert_false(netns_port_reserved(0));
	/* nothing was reserved, not even 8080 */
	assert_int_equal(list_ports(p, &e), 0);
	assert_null(e);
	netns_ports_close(p);
}

static void test_invalid_mappings(void **state)
{
	struct fx *f = *state;
	struct netns_ports *p = open_ports(f, 40000, 40010);
	struct netns_portmap dup[] = { TCP(80, 8080), UDP(81, 8080), TCP(82, 8080) };
	struct netns_portmap dyn_twice[] = { TCP(80, 0), TCP(80, 0) };
	struct netns_portmap zero[] = { TCP(80, 8080), TCP(0, 8081) };
	struct netns_portmap proto[] = { { 80, 8080, (enum netns_proto)7 } };
	struct netns_portmap one[] = { TCP(80, 8080) };
	struct netns_binding out[3];
	struct netns_ports_entry *e = NULL;
	struct berr *err = NULL;
	struct netns_port_range bad = { 0, 10 }, rev = { 100, 99 };
	struct netns_ports *q = NULL;

	bind_fails(p, "t", dup, 3, EINVAL, "portMappings[2]: host port 8080/tcp is also the host port of portMappings[0]");
	bind_fails(p, "t", zero, 2, EINVAL, "portMappings[1]: containerPort 0");
	bind_fails(p, "t", proto, 1, EINVAL, "portMappings[0]: unknown protocol");
	bind_fails(p, "a/b", one, 1, EINVAL, "\"a/b\"");
	bind_fails(p, "", one, 1, EINVAL, "owner");
	assert_int_equal(list_ports(p, &e), 0);
	/* two dynamic mappings of one container port are two host ports */
	bind_ok(p, "t", dyn_twice, 2, out);
	assert_int_equal(out[0].host_port, 40000);
	assert_int_equal(out[1].host_port, 40001);
	/* nothing to bind */
	assert_int_equal(netns_ports_bind(p, "t", NULL, 0, NULL, &err), 0);

	assert_int_equal(netns_ports_open(f->dir, &bad, &q, &err), -EINVAL);
	berr_clear(&err);
	assert_int_equal(netns_ports_open(f->dir, &rev, &q, &err), -EINVAL);
	assert_non_null(strstr(err->msg, "100-99"));
	berr_clear(&err);
	assert_null(q);
	netns_ports_close(p);
	netns_ports_close(NULL);
}

static void test_dynamic_scan_wrap_exhaust(void **state)
{
	struct fx *f = *state;
	struct netns_ports *p = open_ports(f, 40000, 40004);
	struct netns_portmap two[] = { TCP(80, 0), TCP(443, 0) };
	struct netns_portmap other[] = { TCP(9, 40004) };
	struct netns_portmap one_dyn[] = { TCP(8000, 0) };
	struct netns_binding out[2];

	assert_int_equal(dyn_tcp(p, "a"), 40000);
	assert_int_equal(dyn_tcp(p, "b"), 40001);
	bind_ok(p, "c", two, 2, out);
	assert_int_equal(out[0].host_port, 40002);
	assert_int_equal(out[1].host_port, 40003);
	/* a static port inside the range is skipped by the scan */
	bind_ok(p, "d", other, 1, out);
	bind_fails(p, "e", one_dyn, 1, ENOSPC,
		   "portMappings[0]: no free host port for container port 8000/tcp: every port of "
		   "the dynamic range 40000-40004 is in use or reserved");
	/* after the last (40003): 40004 is held, wrap to the start */
	assert_int_equal(netns_ports_release_owner(p, "b", NULL), 1);
	assert_int_equal(dyn_tcp(p, "e"), 40001);
	assert_int_equal(netns_ports_release_owner(p, "a", NULL), 1);
	assert_int_equal(netns_ports_release_owner(p, "c", NULL), 2);
	/* from after 40001 on: 40002 */
	assert_int_equal(dyn_tcp(p, "f"), 40002);
	{
		cleanup_free char *last = get_file(f, "last-tcp");

		assert_non_null(last);
		assert_string_equal(last, "tcp-40002\n");
	}
	netns_ports_close(p);
}

static void test_dynamic_per_protocol_and_reserved(void **state)
{
	struct fx *f = *state;
	struct netns_ports *p = open_ports(f, 2374, 2377);
	struct netns_portmap u[] = { UDP(53, 0) };
	struct netns_portmap t[] = { TCP(80, 0) };
	struct netns_binding out[1];

	/* 2375 and 2376 are reserved: never handed out dynamically */
	assert_int_equal(dyn_tcp(p, "a"), 2374);
	assert_int_equal(dyn_tcp(p, "a"), 2377);
	bind_fails(p, "a", t, 1, ENOSPC, "2374-2377");
	/* udp has its own ports and its own scan position */
	bind_ok(p, "a", u, 1, out);
	assert_int_equal(out[0].host_port, 2374);
	bind_ok(p, "a", u, 1, out);
	assert_int_equal(out[0].host_port, 2377);
	netns_ports_close(p);
}

static void test_static_before_dynamic(void **state)
{
	struct fx *f = *state;
	struct netns_ports *p = open_ports(f, 40000, 40002);
	/* the dynamic mapping comes first, but must not take 40000 */
	struct netns_portmap m[] = { TCP(80, 0), TCP(81, 40000), UDP(82, 0) };
	struct netns_binding out[3];

	bind_ok(p, "t", m, 3, out);
	assert_int_equal(out[0].host_port, 40001);
	assert_int_equal(out[1].host_port, 40000);
	assert_int_equal(out[2].host_port, 40000);
	netns_ports_close(p);
}

static void test_all_or_nothing(void **state)
{
	struct fx *f = *state;
	struct netns_ports *p = open_ports(f, 40000, 40001);
	struct netns_portmap x[] = { TCP(1, 9000) };
	struct netns_portmap y[] = { TCP(80, 0), TCP(81, 8081), TCP(82, 9000), UDP(83, 0) };
	struct netns_portmap z[] = { UDP(1, 8080), TCP(2, 0), TCP(3, 0), TCP(4, 0) };
	struct netns_binding out[4];
	struct netns_ports_entry *e = NULL;

	bind_ok(p, "x", x, 1, out);
	/* the third mapping clashes: nothing of y stays */
	bind_fails(p, "y", y, 4, EADDRINUSE, "portMappings[2]: host port 9000/tcp is in use by task x");
	assert_int_equal(list_ports(p, &e), 1);
	assert_int_equal(e[0].host_port, 9000);
	assert_string_equal(e[0].owner, "x");
	free(e);
	/* the third dynamic one finds the range full: nothing of z stays */
	bind_fails(p, "z", z, 4, ENOSPC, "portMappings[3]: no free host port for container port 4/tcp");
	assert_int_equal(list_ports(p, &e), 1);
	free(e);
	/* and the ports are really free again */
	bind_ok(p, "w", z, 3, out);
	assert_int_equal(list_ports(p, &e), 4);
	free(e);
	netns_ports_close(p);
}

static void test_persistence_and_release(void **state)
{
	struct fx *f = *state;
	struct netns_ports *p = open_ports(f, 40000, 40100);
	struct netns_portmap s[] = { TCP(80, 8080), UDP(80, 8080) };
	struct netns_portmap s2[] = { TCP(80, 8080) };
	struct netns_binding out[2];
	struct netns_ports_entry *e = NULL;
	cleanup_free char *empty = xasprintf("%s/tcp-8443", f->dir);
	struct berr *err = NULL;

	assert_int_equal(dyn_tcp(p, "t1"), 40000);
	bind_ok(p, "t1", s, 2, out);
	netns_ports_close(p);

	/* a restart: held ports stay held, the scan goes on after the last */
	p = open_ports(f, 40000, 40100);
	assert_int_equal(dyn_tcp(p, "t2"), 40001);
	bind_fails(p, "t2", s2, 1, EADDRINUSE, "in use by task t1");
	/* a reservation without an owner (crash while creating it) stays held */
	put_file(empty, "");
	{
		struct netns_portmap m[] = { TCP(443, 8443) };

		bind_fails(p, "t2", m, 1, EADDRINUSE, "has no readable owner");
	}
	assert_int_equal(netns_ports_release_owner(p, "t1", &err), 3);
	assert_int_equal(netns_ports_release_owner(p, "t1", &err), 0);
	assert_int_equal(netns_ports_release_owner(p, "bad owner", &err), -EINVAL);
	berr_clear(&err);
	assert_int_equal(list_ports(p, &e), 2);
	assert_int_equal(e[0].host_port, 8443);
	assert_string_equal(e[0].owner, "?");
	assert_int_equal(e[1].host_port, 40001);
	assert_string_equal(e[1].owner, "t2");
	free(e);
	netns_ports_close(p);

	/* the range shrank between runs: the old hint is ignored */
	p = open_ports(f, 30000, 30001);
	assert_int_equal(dyn_tcp(p, "t3"), 30000);
	bind_ok(p, "t3", s, 2, out);   /* 8080 was released */
	netns_ports_close(p);
}

static void test_concurrent_dynamic(void **state)
{
	struct fx *f = *state;
	struct netns_ports *p = open_ports(f, 41000, 41999);
	struct netns_ports_entry *e = NULL;
	pid_t pid[2];
	int go[2];
	size_t n;

	assert_int_equal(pipe2(go, O_CLOEXEC), 0);
	for (int c = 0; c < 2; c++) {
		pid[c] = fork();
		assert_true(pid[c] >= 0);
		if (pid[c] == 0) {
			struct netns_port_range r = { 41000, 41999 };
			struct netns_portmap m[] = { TCP(80, 0), UDP(80, 0) };
			struct netns_binding out[2];
			struct netns_ports *mine = NULL;
			char owner[16], b;

			close(go[1]);
			snprintf(owner, sizeof(owner), "c%d", c);
			if (netns_ports_open(f->dir, &r, &mine, NULL) < 0)
				_exit(2);
			if (read(go[0], &b, 1) != 0)
				_exit(3);
			for (int i = 0; i < 40; i++) {
				if (netns_ports_bind(mine, owner, m, 2, out, NULL) < 0)
					_exit(4);
			}
			netns_ports_close(mine);
			_exit(0);
		}
	}
	close(go[0]);
	close(go[1]);
	for (int c = 0; c < 2; c++) {
		int status;

		assert_int_equal(waitpid(pid[c], &status, 0), pid[c]);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			fail_msg("child %d failed (status 0x%x)", c, status);
	}
	/* 160 distinct reservations (files are unique by name; a double would
	 * have made a bind fail or shown up as fewer files), all in range */
	n = list_ports(p, &e);
	assert_int_equal(n, 160);
	for (size_t i = 0; i < n; i++) {
		assert_true(e[i].host_port >= 41000 && e[i].host_port < 41080);
		if (i > 0 && e[i].proto == e[i - 1].proto)
			assert_true(e[i].host_port > e[i - 1].host_port);
	}
	free(e);
	assert_int_equal(netns_ports_release_owner(p, "c0", NULL), 80);
	assert_int_equal(netns_ports_release_owner(p, "c1", NULL), 80);
	netns_ports_close(p);
}

static void test_ephemeral_range(void **state)
{
	struct fx *f = *state;
	cleanup_free char *path = xasprintf("%s/range", f->tmp);
	cleanup_free char *missing = xasprintf("%s/missing", f->tmp);
	struct netns_port_range r;
	static const char *const bad[] = {
		"", "\n", "abc", "32768", "32768\n", "32768\t", "60999\t32768\n", "0\t100\n",
		"1\t65536\n", "032768\t60999\n", "32768\t060999\n", "32768\t60999\tx\n",
		"32768,60999", "-1\t5", "+1\t5", " 32768\t60999",
		"99999999999999999999\t1",
	};

	(void)state;
	put_file(path, "32768\t60999\n");
	assert_int_equal(netns_ports_ephemeral_range(path, &r), 0);
	assert_int_equal(r.lo, 32768);
	assert_int_equal(r.hi, 60999);
	put_file(path, "1024 65535");
	assert_int_equal(netns_ports_ephemeral_range(path, &r), 0);
	assert_int_equal(r.lo, 1024);
	assert_int_equal(r.hi, 65535);
	put_file(path, "40000   40000 \n");
	assert_int_equal(netns_ports_ephemeral_range(path, &r), 0);
	assert_int_equal(r.lo, 40000);
	assert_int_equal(r.hi, 40000);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		put_file(path, bad[i]);
		r.lo = r.hi = 7;
		if (netns_ports_ephemeral_range(path, &r) != 1)
			fail_msg("\"%s\" accepted", bad[i]);
		assert_int_equal(r.lo, 49153);
		assert_int_equal(r.hi, 65535);
	}
	/* far too long for the kernel's file */
	{
		char big[200];

		memset(big, ' ', sizeof(big) - 1);
		memcpy(big, "1\t2", 3);
		big[sizeof(big) - 1] = '\0';
		put_file(path, big);
		assert_int_equal(netns_ports_ephemeral_range(path, &r), 1);
	}
	r.lo = r.hi = 7;
	assert_int_equal(netns_ports_ephemeral_range(missing, &r), 1);
	assert_int_equal(r.lo, 49153);
	assert_int_equal(r.hi, 65535);

	/* the parser names the text */
	{
		struct berr *err = NULL;

		assert_int_equal(netns_ports_parse_range("9\t8", &r, &err), -EINVAL);
		assert_non_null(strstr(err->msg, "\"9\\u00098\""));
		berr_clear(&err);
	}

	/* the real file, when this host has it, agrees with what it says */
	{
		cleanup_free char *text = NULL;
		struct netns_port_range want;

		if (fs_read_file("/proc/sys/net/ipv4/ip_local_port_range", &text, NULL, 64, NULL) == 0 &&
		    netns_ports_parse_range(text, &want, NULL) == 0) {
			assert_int_equal(netns_ports_ephemeral_range(NULL, &r), 0);
			assert_int_equal(r.lo, want.lo);
			assert_int_equal(r.hi, want.hi);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_static, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reserved_ports, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalid_mappings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dynamic_scan_wrap_exhaust, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dynamic_per_protocol_and_reserved, setup, teardown),
		cmocka_unit_test_setup_teardown(test_static_before_dynamic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_all_or_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_persistence_and_release, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_dynamic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ephemeral_range, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
