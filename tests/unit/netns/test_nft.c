/* tests/unit/netns/test_nft.c - the nftables ruleset: render() text, and
 * apply / members / remove against the kernel.
 *
 * Kernel tests run in a forked child in a network namespace of its own
 * (unshare(CLONE_NEWNET), with a user namespace when not root), so they
 * never touch the host's ruleset; they read the result back with
 * `nft list`, run in that child. Without nft(8) or without a way to get a
 * private network namespace they report themselves skipped. The child
 * reports a failed check on stdout and exits 1; cmocka asserts only in the
 * parent. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/cleanup.h"
#include "common/json.h"
#include "common/xalloc.h"
#include "netns/nft.h"

/* ------------------------------------------------------------- fixtures */

static const char *const CONFIG =
	"{\"web\": {\"ingress\": ["
	"   {\"protocol\": \"tcp\", \"fromPort\": 80, \"toPort\": 80, \"cidr\": \"0.0.0.0/0\"},"
	"   {\"protocol\": \"tcp\", \"port\": 5432, \"sourceGroup\": \"app\"},"
	"   {\"protocol\": \"tcp\", \"fromPort\": 5432, \"toPort\": 5433, \"sourceGroup\": \"app\"},"
	"   {\"protocol\": \"icmp\", \"cidr\": \"10.0.0.0/8\"},"
	"   {\"protocol\": \"udp\", \"fromPort\": 53, \"toPort\": 53, \"cidr\": \"192.168.1.7/32\"},"
	"   {\"protocol\": \"udp\", \"fromPort\": 1024, \"toPort\": 65535, \"cidr\": \"172.16.0.0/12\"}]},"
	" \"app\": {\"ingress\": []},"
	" \"cache.v2-x\": {\"ingress\": [{\"protocol\": \"-1\", \"sourceGroup\": \"web\"}]}}";

/* The spec: what CONFIG must give, in nft(8)'s own listing format. */
static const char *const EXPECTED =
	"table inet berth {\n"
	"\tset m_app {\n"
	"\t\ttype ipv4_addr\n"
	"\t}\n"
	"\n"
	"\tset m_cache.v2-x {\n"
	"\t\ttype ipv4_addr\n"
	"\t}\n"
	"\n"
	"\tset m_default {\n"
	"\t\ttype ipv4_addr\n"
	"\t}\n"
	"\n"
	"\tset m_web {\n"
	"\t\ttype ipv4_addr\n"
	"\t}\n"
	"\n"
	"\tchain forward {\n"
	"\t\ttype filter hook forward priority filter; policy accept;\n"
	"\t\toifname \"berth0\" jump ingress\n"
	"\t}\n"
	"\n"
	"\tchain ingress {\n"
	"\t\tct state established,related accept\n"
	"\t\tct state invalid drop\n"
	"\t\tip daddr @m_app jump sg_app\n"
	"\t\tip daddr @m_cache.v2-x jump sg_cache.v2-x\n"
	"\t\tip daddr @m_default jump sg_default\n"
	"\t\tip daddr @m_web jump sg_web\n"
	"\t\tcounter drop\n"
	"\t}\n"
	"\n"
	"\tchain sg_app {\n"
	"\t}\n"
	"\n"
	"\tchain sg_cache.v2-x {\n"
	"\t\tip saddr @m_web accept\n"
	"\t}\n"
	"\n"
	"\tchain sg_default {\n"
	"\t\tip saddr @m_default accept\n"
	"\t}\n"
	"\n"
	"\tchain sg_web {\n"
	"\t\tip saddr 0.0.0.0/0 tcp dport 80 accept\n"
	"\t\tip saddr @m_app tcp dport 5432 accept\n"
	"\t\tip saddr @m_app tcp dport 5432-5433 accept\n"
	"\t\tip saddr 10.0.0.0/8 meta l4proto icmp accept\n"
	"\t\tip saddr 192.168.1.7 udp dport 53 accept\n"
	"\t\tip saddr 172.16.0.0/12 udp dport 1024-65535 accept\n"
	"\t}\n"
	"\n"
	"\tchain postrouting {\n"
	"\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
	"\t\tip saddr 10.88.0.0/16 oifname != \"berth0\" masquerade\n"
	"\t}\n"
	"}\n";

/* Without a config: the implicit default group only. */
static const char *const EXPECTED_DEFAULT =
	"table inet t1 {\n"
	"\tset m_default {\n"
	"\t\ttype ipv4_addr\n"
	"\t}\n"
	"\n"
	"\tchain forward {\n"
	"\t\ttype filter hook forward priority filter; policy accept;\n"
	"\t\toifname \"br-x\" jump ingress\n"
	"\t}\n"
	"\n"
	"\tchain ingress {\n"
	"\t\tct state established,related accept\n"
	"\t\tct state invalid drop\n"
	"\t\tip daddr @m_default jump sg_default\n"
	"\t\tcounter drop\n"
	"\t}\n"
	"\n"
	"\tchain sg_default {\n"
	"\t\tip saddr @m_default accept\n"
	"\t}\n"
	"\n"
	"\tchain postrouting {\n"
	"\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
	"\t\tip saddr 172.30.5.0/24 oifname != \"br-x\" masquerade\n"
	"\t}\n"
	"}\n";

static struct netns_sg_config parse_config(const char *text)
{
	json_t *v = NULL;
	struct berr *err = NULL;
	struct netns_sg_config c;

	if (bjson_load_buf("test", text, strlen(text), &v, &err) < 0 ||
	    netns_sg_config_parse(v, "securityGroups", &c, &err) < 0) {
		fprintf(stdout, "config: %s\n", berr_msg(err));
		abort();
	}
	json_decref(v);
	return c;
}

static struct netns_nft_conf conf_for(const struct netns_sg_config *groups)
{
	struct netns_nft_conf c = { .table = "berth", .bridge = "berth0", .groups = groups };

	c.subnet.net = 0x0a580000;  /* 10.88.0.0/16 */
	c.subnet.prefix = 16;
	return c;
}

/* ---------------------------------------------------------------- render */

static void test_render(void **state)
{
	struct netns_sg_config g = parse_config(CONFIG);
	struct netns_nft_conf c = conf_for(&g);
	cleanup_free char *text = netns_nft_render(&c);

	(void)state;
	assert_string_equal(text, EXPECTED);
	netns_sg_config_free(&g);
}

static void test_render_default(void **state)
{
	struct netns_nft_conf c = { .table = "t1", .bridge = "br-x", .groups = NULL };
	cleanup_free char *text = NULL;

	(void)state;
	c.subnet.net = 0xac1e0500;  /* 172.30.5.0/24 */
	c.subnet.prefix = 24;
	text = netns_nft_render(&c);
	assert_string_equal(text, EXPECTED_DEFAULT);
}

/* Errors found before anything is sent: no namespace needed. */
static void test_argument_errors(void **state)
{
	struct netns_nft_conf c = conf_for(NULL);
	struct berr *err = NULL;
	const char *bad = "we b";
	const char *const ok[] = { "web" };

	(void)state;
	c.table = "1berth";
	assert_true(netns_nft_apply(&c, &err) < 0);
	assert_string_equal(berr_msg(err), "nft: table name \"1berth\": want a letter, then up to 63 "
			    "of A-Z a-z 0-9 _ . -: Invalid argument");
	berr_clear(&err);
	c.table = "berth";
	c.bridge = "a-very-long-bridge";
	assert_true(netns_nft_apply(&c, &err) < 0);
	assert_string_equal(berr_msg(err), "nft: bridge name \"a-very-long-bridge\": want 1 to 15 of "
			    "A-Z a-z 0-9 _ . -: Invalid argument");
	berr_clear(&err);
	c.bridge = "br\"0";
	assert_true(netns_nft_apply(&c, &err) < 0);
	berr_clear(&err);

	assert_int_equal(netns_nft_members_add("berth", 0x0a580005, &bad, 1, &err), -EINVAL);
	assert_string_equal(berr_msg(err), "nft: security group \"we b\": not a valid group name: "
			    "Invalid argument");
	berr_clear(&err);
	assert_int_equal(netns_nft_members_del("berth", 0x0a580005, &bad, 1, &err), -EINVAL);
	berr_clear(&err);
	assert_int_equal(netns_nft_members_add("", 0x0a580005, ok, 1, &err), -EINVAL);
	berr_clear(&err);
	assert_int_equal(netns_nft_remove("a b", &err), -EINVAL);
	assert_non_null(strstr(berr_msg(err), "table name \"a b\""));
	berr_clear(&err);
}

/* ------------------------------------------------------ kernel: plumbing */

#define CHECK(cond, ...) do { \
	if (!(cond)) { \
		printf("%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
		printf(__VA_ARGS__); \
		printf("\n"); \
		fflush(stdout); \
		_exit(1); \
	} \
} while (0)

#define CHECK_OK(call) do { \
	struct berr *err_ = NULL; \
	int r_ = (call); \
	CHECK(r_ == 0 && !err_, "%s", berr_msg(err_)); \
} while (0)

#define SKIP_STATUS 77

static bool have_nft(void)
{
	return system("nft --version >/dev/null 2>&1") == 0;
}

/* Run fn in a child with a network namespace of its own; skip when there
 * is no nft(8) to read back with or no private namespace to be had. */
static void in_netns(void (*fn)(void))
{
	pid_t pid;
	int st;

	if (!have_nft()) {
		printf("nft(8) not installed: skipped\n");
		skip();
	}
	fflush(stdout);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (unshare(CLONE_NEWNET | (geteuid() == 0 ? 0 : CLONE_NEWUSER)) < 0) {
			printf("unshare(CLONE_NEWNET): %s: skipped\n", strerror(errno));
			fflush(stdout);
			_exit(SKIP_STATUS);
		}
		fn();
		exit(0);  /* not _exit: LeakSanitizer checks the child too */
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (WIFEXITED(st) && WEXITSTATUS(st) == SKIP_STATUS)
		skip();
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail_msg("child failed (status 0x%x)", st);
}

/* Output of a shell command (in the child's namespace); *status its exit. */
static char *run(const char *cmd, int *status)
{
	char *buf = NULL, chunk[4096];
	size_t len = 0, n;
	FILE *out = open_memstream(&buf, &len);
	FILE *p = popen(cmd, "r");

	CHECK(out && p, "popen %s", cmd);
	while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0)
		fwrite(chunk, 1, n, out);
	*status = pclose(p);
	fclose(out);
	return buf;
}

/* `nft list table inet <table>` with counter values cut ("counter packets 3
 * bytes 180" -> "counter"), so it compares with render(). */
static char *list_table(const char *table)
{
	cleanup_free char *cmd = xasprintf("nft list table inet %s 2>&1", table);
	cleanup_free char *raw = NULL;
	char *out, *p;
	int st;

	raw = run(cmd, &st);
	CHECK(st == 0, "nft list table inet %s: %s", table, raw);
	out = xmalloc(strlen(raw) + 1);
	p = out;
	for (const char *s = raw; *s;) {
		if (strncmp(s, "counter packets ", 16) == 0) {
			const char *bytes = strstr(s, " bytes ");

			CHECK(bytes, "counter without bytes: %s", s);
			p = stpcpy(p, "counter");
			s = bytes + 7;
			while (*s >= '0' && *s <= '9')
				s++;
			continue;
		}
		*p++ = *s++;
	}
	*p = '\0';
	return out;
}

static bool table_exists(const char *table)
{
	cleanup_free char *cmd = xasprintf("nft list table inet %s 2>&1", table);
	cleanup_free char *out = NULL;
	int st;

	out = run(cmd, &st);
	return st == 0;
}

/* The text of chain/set `name` ("chain sg_web") in a listing, up to its "}". */
static char *block(const char *listing, const char *name)
{
	cleanup_free char *head = xasprintf("\t%s {\n", name);
	const char *s = strstr(listing, head), *e;

	if (!s)
		return NULL;
	e = strstr(s, "\n\t}\n");
	CHECK(e, "unterminated %s", name);
	return xstrndup(s, (size_t)(e - s) + 4);
}

/* Set `set` of the listing has these elements ("10.88.0.5, 10.88.0.7"), or
 * none for NULL. */
static void check_elements(const char *listing, const char *set, const char *elements)
{
	cleanup_free char *name = xasprintf("set %s", set);
	cleanup_free char *b = block(listing, name);
	cleanup_free char *line = NULL;

	CHECK(b, "no %s in:\n%s", name, listing);
	if (!elements) {
		CHECK(!strstr(b, "elements"), "%s has elements: %s", set, b);
		return;
	}
	line = xasprintf("\t\telements = { %s }\n", elements);
	CHECK(strstr(b, line), "%s: want { %s }: %s", set, elements, b);
}

static void apply_config(const char *json)
{
	struct netns_sg_config g = parse_config(json);
	struct netns_nft_conf c = conf_for(&g);

	CHECK_OK(netns_nft_apply(&c, &err_));
	netns_sg_config_free(&g);
}

/* --------------------------------------------------------- kernel: tests */

static void child_apply_lists_render(void)
{
	struct netns_sg_config g = parse_config(CONFIG);
	struct netns_nft_conf c = conf_for(&g);
	cleanup_free char *want = netns_nft_render(&c);
	cleanup_free char *got = NULL, *again = NULL;

	CHECK(!table_exists("berth"), "fresh namespace has a table");
	CHECK_OK(netns_nft_apply(&c, &err_));
	got = list_table("berth");
	CHECK(strcmp(got, want) == 0, "listing differs from render():\n%s\n--- want:\n%s", got, want);
	CHECK(strcmp(got, EXPECTED) == 0, "listing differs from the spec:\n%s", got);

	/* idempotent */
	CHECK_OK(netns_nft_apply(&c, &err_));
	again = list_table("berth");
	CHECK(strcmp(again, want) == 0, "second apply changed the listing:\n%s", again);
	netns_sg_config_free(&g);
}

static void test_apply_lists_render(void **state)
{
	(void)state;
	in_netns(child_apply_lists_render);
}

/* render() is also valid `nft -f` input that gives the same ruleset. */
static void child_render_is_nft_input(void)
{
	struct netns_sg_config g = parse_config(CONFIG);
	struct netns_nft_conf c = conf_for(&g);
	cleanup_free char *text = NULL, *got = NULL;
	FILE *f;
	int st;

	c.table = "fromtext";
	text = netns_nft_render(&c);
	f = popen("nft -f - >&2", "w");
	CHECK(f, "popen: %s", strerror(errno));
	fputs(text, f);
	st = pclose(f);
	CHECK(st == 0, "nft -f refused render()'s text (status 0x%x)", st);
	got = list_table("fromtext");
	CHECK(strcmp(got, text) == 0, "nft -f of render() lists as:\n%s", got);
	netns_sg_config_free(&g);
}

static void test_render_is_nft_input(void **state)
{
	(void)state;
	in_netns(child_render_is_nft_input);
}

static void child_members(void)
{
	const char *const web_app[] = { "web", "app" };
	const char *const web[] = { "web" };
	const char *const cache_default[] = { "cache.v2-x", "default" };
	const char *const unknown[] = { "web", "nosuch" };
	cleanup_free char *l = NULL;
	struct berr *err = NULL;
	int r;

	apply_config(CONFIG);
	CHECK_OK(netns_nft_members_add("berth", 0x0a580005, web_app, 2, &err_));
	CHECK_OK(netns_nft_members_add("berth", 0x0a580007, web, 1, &err_));
	/* twice is fine */
	CHECK_OK(netns_nft_members_add("berth", 0x0a580005, web_app, 2, &err_));
	CHECK_OK(netns_nft_members_add("berth", 0x0a580009, cache_default, 2, &err_));
	CHECK_OK(netns_nft_members_add("berth", 0x0a580009, web, 0, &err_));

	l = list_table("berth");
	check_elements(l, "m_web", "10.88.0.5, 10.88.0.7");
	check_elements(l, "m_app", "10.88.0.5");
	check_elements(l, "m_cache.v2-x", "10.88.0.9");
	check_elements(l, "m_default", "10.88.0.9");

	/* unknown group: an error naming it, and nothing added (one batch) */
	r = netns_nft_members_add("berth", 0x0a580011, unknown, 2, &err);
	CHECK(r == -ENOENT, "r = %d", r);
	CHECK(strcmp(berr_msg(err), "nft: add 10.88.0.17 to set m_nosuch (security group nosuch): "
		     "no such set in table inet berth (security group not configured?): "
		     "No such file or directory") == 0, "%s", berr_msg(err));
	berr_clear(&err);
	free(l);
	l = list_table("berth");
	CHECK(!strstr(l, "10.88.0.17"), "half-added: %s", l);

	/* apply again: the members stay */
	apply_config(CONFIG);
	free(l);
	l = list_table("berth");
	check_elements(l, "m_web", "10.88.0.5, 10.88.0.7");
	check_elements(l, "m_app", "10.88.0.5");

	/* delete: only where asked; absent elements and sets are fine */
	CHECK_OK(netns_nft_members_del("berth", 0x0a580005, web, 1, &err_));
	free(l);
	l = list_table("berth");
	check_elements(l, "m_web", "10.88.0.7");
	check_elements(l, "m_app", "10.88.0.5");
	/* 10.88.0.5 is no longer in web but is in app: app's element goes */
	CHECK_OK(netns_nft_members_del("berth", 0x0a580005, web_app, 2, &err_));
	CHECK_OK(netns_nft_members_del("berth", 0x0a580005, web_app, 2, &err_));
	CHECK_OK(netns_nft_members_del("berth", 0x0a580007, unknown, 2, &err_));
	free(l);
	l = list_table("berth");
	check_elements(l, "m_app", NULL);
	check_elements(l, "m_web", NULL);
	check_elements(l, "m_default", "10.88.0.9");

	/* teardown after the whole table is gone */
	CHECK_OK(netns_nft_remove("berth", &err_));
	CHECK_OK(netns_nft_members_del("berth", 0x0a580009, cache_default, 2, &err_));
	r = netns_nft_members_add("berth", 0x0a580009, cache_default, 2, &err);
	CHECK(r == -ENOENT && strstr(berr_msg(err), "m_cache.v2-x"), "%s", berr_msg(err));
	berr_clear(&err);
}

static void test_members(void **state)
{
	(void)state;
	in_netns(child_members);
}

/* A changed config rewrites the chains, drops what is gone, keeps members. */
/* Block `name` of the listing is exactly `want`. */
static void check_block(const char *listing, const char *name, const char *want)
{
	cleanup_free char *b = block(listing, name);

	CHECK(b && strcmp(b, want) == 0, "%s:\n%s\n--- want:\n%s", name, b, want);
}

/* A changed config rewrites the chains, drops what is gone, keeps members. */
static void child_apply_change(void)
{
	const char *const web_app[] = { "web", "app" };
	const char *const cfg2 =
		"{\"web\": {\"ingress\": [{\"protocol\": \"tcp\", \"port\": 8080, \"cidr\": \"10.1.0.0/16\"}]},"
		" \"db\": {\"ingress\": [{\"protocol\": \"tcp\", \"port\": 5432, \"sourceGroup\": \"web\"}]},"
		" \"default\": {\"ingress\": []}}";
	struct netns_sg_config g;
	struct netns_nft_conf c;
	cleanup_free char *l = NULL, *want = NULL;
	size_t n_blocks = 0;

	apply_config(CONFIG);
	CHECK_OK(netns_nft_members_add("berth", 0x0a580005, web_app, 2, &err_));

	g = parse_config(cfg2);
	c = conf_for(&g);
	CHECK_OK(netns_nft_apply(&c, &err_));
	l = list_table("berth");
	CHECK(!strstr(l, "m_app") && !strstr(l, "sg_app") && !strstr(l, "cache.v2-x"),
	      "removed groups still there:\n%s", l);
	check_block(l, "chain sg_web",
		    "\tchain sg_web {\n\t\tip saddr 10.1.0.0/16 tcp dport 8080 accept\n\t}\n");
	check_block(l, "chain sg_db",
		    "\tchain sg_db {\n\t\tip saddr @m_web tcp dport 5432 accept\n\t}\n");
	check_block(l, "chain sg_default", "\tchain sg_default {\n\t}\n");
	check_block(l, "chain ingress",
		    "\tchain ingress {\n"
		    "\t\tct state established,related accept\n"
		    "\t\tct state invalid drop\n"
		    "\t\tip daddr @m_db jump sg_db\n"
		    "\t\tip daddr @m_default jump sg_default\n"
		    "\t\tip daddr @m_web jump sg_web\n"
		    "\t\tcounter drop\n"
		    "\t}\n");
	check_elements(l, "m_web", "10.88.0.5");
	check_elements(l, "m_db", NULL);

	/* nothing else: every set and chain of render() is listed the same
	 * (members aside), whatever order the kernel keeps them in, and
	 * there is no other */
	want = netns_nft_render(&c);
	for (const char *s = want; (s = strstr(s, "\n\t")) != NULL; s++) {
		const char *end = strstr(s, " {\n");
		cleanup_free char *name = xstrndup(s + 2, (size_t)(end - s - 2));
		cleanup_free char *got = block(l, name), *exp = block(want, name);

		CHECK(got && exp, "%s missing", name);
		if (strncmp(name, "set ", 4) == 0)
			CHECK(strncmp(got, exp, strlen(exp) - 4) == 0, "%s: %s", name, got);
		else
			CHECK(strcmp(got, exp) == 0, "%s:\n%s\n--- want:\n%s", name, got, exp);
		n_blocks++;
		s = strstr(s, "\n\t}\n") + 3;
	}
	CHECK(n_blocks == 3 + 6, "render() has %zu blocks", n_blocks);
	{
		size_t listed = 0;

		for (const char *s = l; (s = strstr(s, "\n\t}\n")) != NULL; s++)
			listed++;
		CHECK(listed == n_blocks, "listing has %zu blocks, render() %zu:\n%s", listed,
		      n_blocks, l);
	}
	netns_sg_config_free(&g);
}

static void test_apply_change(void **state)
{
	(void)state;
	in_netns(child_apply_change);
}

static void child_remove(void)
{
	cleanup_free char *l = NULL;

	CHECK_OK(netns_nft_remove("berth", &err_));  /* absent: fine */
	apply_config(CONFIG);
	CHECK(table_exists("berth"), "no table after apply");
	CHECK_OK(netns_nft_remove("berth", &err_));
	CHECK(!table_exists("berth"), "table still there after remove");
	CHECK_OK(netns_nft_remove("berth", &err_));
	/* another table of the same name in another family is not ours */
	l = run("nft add table ip berth 2>&1", &(int){ 0 });
	CHECK_OK(netns_nft_remove("berth", &err_));
	free(l);
	l = run("nft list tables 2>&1", &(int){ 0 });
	CHECK(strcmp(l, "table ip berth\n") == 0, "tables: %s", l);
}

static void test_remove(void **state)
{
	(void)state;
	in_netns(child_remove);
}

/* A kernel error names the object it is about. */
static void child_kernel_error(void)
{
	struct netns_nft_conf c = conf_for(NULL);
	struct berr *err = NULL;
	cleanup_free char *out = NULL, *l = NULL;
	int st, r;

	/* a regular chain "forward" cannot become a base chain */
	out = run("nft add table inet berth && nft add chain inet berth forward && "
		  "nft add rule inet berth forward accept 2>&1", &st);
	CHECK(st == 0, "setup: %s", out);
	r = netns_nft_apply(&c, &err);
	CHECK(r < 0 && err, "apply over a regular forward chain passed");
	CHECK(strncmp(berr_msg(err), "nft: add chain forward: ", 24) == 0, "%s", berr_msg(err));
	berr_clear(&err);
	/* and the batch changed nothing */
	l = list_table("berth");
	CHECK(strcmp(l, "table inet berth {\n\tchain forward {\n\t\taccept\n\t}\n}\n") == 0,
	      "after the failed apply:\n%s", l);
}

static void test_kernel_error(void **state)
{
	(void)state;
	in_netns(child_kernel_error);
}

/* Dumps that race with other writers: the kernel flags a dump that spans
 * a change NLM_F_DUMP_INTR, and apply must ask again rather than fail
 * ("nft: list the chains of table inet berth: Interrupted system call",
 * seen with 50 tasks starting at once). A filler table of many chains
 * makes the chain dump take many reads; a writer changes set members all
 * the while. */
static void child_dump_race(void)
{
	const char *const web[] = { "web" };
	cleanup_free char *out = NULL;
	struct netns_sg_config g = parse_config(CONFIG);
	struct netns_nft_conf c = conf_for(&g);
	FILE *f = fopen("/tmp/berth-test-nft-filler.nft", "w");
	pid_t writer;
	int st;

	CHECK(f, "filler file: %s", strerror(errno));
	fprintf(f, "table inet filler {\n");
	for (int i = 0; i < 2000; i++)
		fprintf(f, "\tchain filler_chain_with_a_long_name_%04d { }\n", i);
	fprintf(f, "}\n");
	fclose(f);
	out = run("nft -f /tmp/berth-test-nft-filler.nft 2>&1", &st);
	unlink("/tmp/berth-test-nft-filler.nft");
	CHECK(st == 0, "filler: %s", out);
	CHECK_OK(netns_nft_apply(&c, &err_));
	fflush(stdout);
	writer = fork();
	CHECK(writer >= 0, "fork: %s", strerror(errno));
	if (writer == 0) {
		for (uint32_t ip = 0x0a580002;; ip++) {
			struct berr *e = NULL;

			if (netns_nft_members_add("berth", ip, web, 1, &e) < 0 ||
			    netns_nft_members_del("berth", ip, web, 1, &e) < 0) {
				printf("writer: %s\n", berr_msg(e));
				_exit(1);
			}
			/* ~2,000 changes a second: far more than tasks starting and
			 * stopping make, without starving every dump of a window
			 * (a writer with no pause at all did, under ASan on a
			 * loaded machine: 16 interrupted dumps in a row) */
			usleep(500);
		}
	}
	for (int i = 0; i < 60; i++) {
		struct berr *e = NULL;
		int r = netns_nft_apply(&c, &e);

		if (r < 0)
			kill(writer, SIGKILL);
		CHECK(r == 0, "apply %d with a concurrent writer: %s", i, berr_msg(e));
	}
	kill(writer, SIGKILL);
	waitpid(writer, &st, 0);
	CHECK(WIFSIGNALED(st), "the writer stopped by itself (status 0x%x)", st);
	netns_sg_config_free(&g);
}

static void test_dump_race(void **state)
{
	(void)state;
	in_netns(child_dump_race);
}

/* ------------------------------------------------------ kernel: traffic */

/* The child's namespace plays the host: bridge berth0 (10.88.0.1/16) with
 * isolated ports and proxy_arp_pvlan, as netns/ sets it up; tasks A and B
 * and an "outside" host E (192.0.2.2, no route back to 10.88/16) are
 * namespaces of grandchildren. */

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
	cleanup_free char *cmd = NULL, *full = NULL, *out = NULL;
	va_list ap;
	int st;

	va_start(ap, fmt);
	cmd = xvasprintf(fmt, ap);
	va_end(ap);
	full = xasprintf("(%s) 2>&1", cmd);
	out = run(full, &st);
	CHECK(st == 0, "%s: %s", cmd, out);
}

/* In a grandchild: die with the test's child, so a failed check leaves
 * nothing behind (a server would otherwise live on, holding the pipes). */
static void die_with_parent(pid_t parent)
{
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(1);
}

/* A process in a new network namespace, alive until *hold is closed. */
static pid_t spawn_netns(int *hold)
{
	int ready[2], wait_fd[2];
	pid_t pid, self = getpid();
	char c;

	CHECK(pipe2(ready, O_CLOEXEC) == 0 && pipe2(wait_fd, O_CLOEXEC) == 0, "pipe");
	pid = fork();
	CHECK(pid >= 0, "fork");
	if (pid == 0) {
		die_with_parent(self);
		close(ready[0]);
		close(wait_fd[1]);
		if (unshare(CLONE_NEWNET) < 0)
			_exit(1);
		if (write(ready[1], "x", 1) != 1)
			_exit(1);
		(void)!read(wait_fd[0], &c, 1);
		_exit(0);
	}
	close(ready[1]);
	close(wait_fd[0]);
	CHECK(read(ready[0], &c, 1) == 1, "netns process did not start");
	close(ready[0]);
	*hold = wait_fd[1];
	return pid;
}

static void enter_netns(pid_t pid)
{
	char path[64];
	int fd;

	if (pid == 0)
		return;
	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || setns(fd, CLONE_NEWNET) < 0)
		_exit(2);
	close(fd);
}

/* TCP listeners on ports in pid's namespace; each connection is sent the
 * address the server sees it from. Returns the server's pid. */
static pid_t serve(pid_t ns, const uint16_t *ports, size_t n)
{
	int ready[2];
	pid_t pid, self = getpid();
	char c;

	CHECK(pipe2(ready, O_CLOEXEC) == 0, "pipe");
	pid = fork();
	CHECK(pid >= 0, "fork");
	if (pid == 0) {
		struct pollfd pfd[8];

		die_with_parent(self);
		enter_netns(ns);
		for (size_t i = 0; i < n; i++) {
			struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(ports[i]) };
			int one = 1, s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

			setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
			if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(s, 16) < 0)
				_exit(3);
			pfd[i].fd = s;
			pfd[i].events = POLLIN;
		}
		if (write(ready[1], "x", 1) != 1)
			_exit(3);
		for (;;) {
			if (poll(pfd, n, -1) < 0)
				_exit(3);
			for (size_t i = 0; i < n; i++) {
				struct sockaddr_in peer;
				socklen_t len = sizeof(peer);
				char line[32];
				int cfd;

				if (!(pfd[i].revents & POLLIN))
					continue;
				cfd = accept4(pfd[i].fd, (struct sockaddr *)&peer, &len, SOCK_CLOEXEC);
				if (cfd < 0)
					continue;
				snprintf(line, sizeof(line), "%s\n", inet_ntoa(peer.sin_addr));
				(void)!write(cfd, line, strlen(line));
				close(cfd);
			}
		}
	}
	close(ready[1]);
	CHECK(read(ready[0], &c, 1) == 1, "server did not start");
	close(ready[0]);
	return pid;
}

/* Connect from ns (0: the host) to ip:port, waiting up to wait_ms for the
 * handshake. "ok <address the server saw>", "timeout" (dropped), "refused"
 * or "error ...". */
static char *probe(pid_t ns, const char *ip, uint16_t port, int wait_ms)
{
	char buf[128] = { 0 };
	int p[2], st;
	size_t got = 0;
	ssize_t n;
	pid_t pid, self = getpid();

	CHECK(pipe2(p, O_CLOEXEC) == 0, "pipe");
	pid = fork();
	CHECK(pid >= 0, "fork");
	if (pid == 0) {
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
		struct pollfd pfd;
		int s, e = 0;
		socklen_t el = sizeof(e);
		char line[64] = { 0 }, msg[96];
		ssize_t r;

		die_with_parent(self);
		close(p[0]);
		enter_netns(ns);
		inet_pton(AF_INET, ip, &a.sin_addr);
		s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (connect(s, (struct sockaddr *)&a, sizeof(a)) < 0 && errno != EINPROGRESS) {
			dprintf(p[1], "error connect: %s", strerror(errno));
			_exit(0);
		}
		pfd.fd = s;
		pfd.events = POLLOUT;
		if (poll(&pfd, 1, wait_ms) == 0) {
			dprintf(p[1], "timeout");
			_exit(0);
		}
		getsockopt(s, SOL_SOCKET, SO_ERROR, &e, &el);
		if (e) {
			dprintf(p[1], "%s", e == ECONNREFUSED ? "refused" : strerror(e));
			_exit(0);
		}
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 2000) <= 0) {
			dprintf(p[1], "error: no greeting");
			_exit(0);
		}
		r = read(s, line, sizeof(line) - 1);
		if (r > 0 && line[r - 1] == '\n')
			line[r - 1] = '\0';
		snprintf(msg, sizeof(msg), "ok %s", r > 0 ? line : "?");
		dprintf(p[1], "%s", msg);
		_exit(0);
	}
	close(p[1]);
	while (got < sizeof(buf) - 1 && (n = read(p[0], buf + got, sizeof(buf) - 1 - got)) > 0)
		got += (size_t)n;
	close(p[0]);
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	      "probe process failed (0x%x)", st);
	return xstrdup(buf);
}

/* A connection that should pass gets 3 s (a lost first SYN is resent after
 * 1 s); one that should be dropped gets 0.6 s, plenty on a local bridge. */
#define EXPECT(ns, ip, port, want) do { \
	cleanup_free char *got_ = probe(ns, ip, port, strcmp(want, "timeout") ? 3000 : 600); \
	CHECK(strcmp(got_, want) == 0, "%s -> %s:%u: got \"%s\", want \"%s\"", #ns, ip, \
	      (unsigned)(port), got_, want); \
} while (0)

static void task_link(pid_t ns, const char *veth, const char *cidr, const char *gw)
{
	sh("ip link add %s type veth peer name eth0 netns %d", veth, (int)ns);
	sh("nsenter -t %d -n sh -c 'ip link set lo up && ip addr add %s dev eth0 && "
	   "ip link set eth0 up%s%s'", (int)ns, cidr, gw ? " && ip route add default via " : "",
	   gw ? gw : "");
}

static void child_traffic(void)
{
	const char *cfg =
		"{\"web\": {\"ingress\": ["
		"   {\"protocol\": \"tcp\", \"port\": 80, \"cidr\": \"0.0.0.0/0\"},"
		"   {\"protocol\": \"tcp\", \"port\": 5432, \"sourceGroup\": \"app\"}]},"
		" \"app\": {\"ingress\": []}}";
	const char *const web[] = { "web" }, *const app[] = { "app" };
	const uint16_t task_ports[] = { 22, 80, 5432 }, ext_ports[] = { 8080 };
	int hold_a, hold_b, hold_e;
	pid_t a, b, e, srv_a, srv_b, srv_e;

	if (system("command -v ip >/dev/null && command -v nsenter >/dev/null") != 0) {
		printf("ip(8) or nsenter(1) not installed: skipped\n");
		fflush(stdout);
		_exit(SKIP_STATUS);
	}
	a = spawn_netns(&hold_a);
	b = spawn_netns(&hold_b);
	e = spawn_netns(&hold_e);
	sh("ip link set lo up && ip link add berth0 type bridge && "
	   "ip addr add 10.88.0.1/16 dev berth0 && ip link set berth0 up && "
	   "echo 1 > /proc/sys/net/ipv4/conf/berth0/proxy_arp_pvlan && "
	   "echo 1 > /proc/sys/net/ipv4/ip_forward");
	task_link(a, "vA", "10.88.0.2/16", "10.88.0.1");
	task_link(b, "vB", "10.88.0.3/16", "10.88.0.1");
	task_link(e, "vE", "192.0.2.2/24", NULL);
	sh("for v in vA vB; do ip link set $v master berth0 && "
	   "ip link set $v type bridge_slave isolated on && ip link set $v up; done && "
	   "ip addr add 192.0.2.1/24 dev vE && ip link set vE up");
	srv_a = serve(a, task_ports, 3);
	srv_b = serve(b, task_ports, 3);
	srv_e = serve(e, ext_ports, 1);

	/* before any rule: tasks reach each other (once the links are up),
	 * E cannot answer a task */
	for (int i = 0; i < 20; i++) {
		cleanup_free char *got = probe(a, "10.88.0.3", 22, 500);

		if (strcmp(got, "ok 10.88.0.2") == 0)
			break;
	}
	EXPECT(a, "10.88.0.3", 22, "ok 10.88.0.2");
	EXPECT(b, "10.88.0.2", 22, "ok 10.88.0.3");
	EXPECT(a, "192.0.2.2", 8080, "timeout");

	apply_config(cfg);
	CHECK_OK(netns_nft_members_add("berth", 0x0a580002, app, 1, &err_));
	CHECK_OK(netns_nft_members_add("berth", 0x0a580003, web, 1, &err_));

	EXPECT(a, "10.88.0.3", 80, "ok 10.88.0.2");    /* cidr 0.0.0.0/0, no NAT inside */
	EXPECT(a, "10.88.0.3", 5432, "ok 10.88.0.2");  /* sourceGroup app */
	EXPECT(a, "10.88.0.3", 22, "timeout");         /* no rule */
	EXPECT(b, "10.88.0.2", 80, "timeout");         /* app has no ingress rules */
	EXPECT(0, "10.88.0.3", 22, "ok 10.88.0.1");    /* the host is not filtered */
	EXPECT(0, "10.88.0.2", 5432, "ok 10.88.0.1");
	EXPECT(a, "192.0.2.2", 8080, "ok 192.0.2.1");  /* egress, masqueraded */
	EXPECT(b, "192.0.2.2", 8080, "ok 192.0.2.1");

	/* membership is live: B out of web, then back */
	CHECK_OK(netns_nft_members_del("berth", 0x0a580003, web, 1, &err_));
	EXPECT(a, "10.88.0.3", 80, "timeout");
	CHECK_OK(netns_nft_members_add("berth", 0x0a580003, web, 1, &err_));
	EXPECT(a, "10.88.0.3", 80, "ok 10.88.0.2");
	/* A leaves app: port 5432 closes to it, port 80 stays open */
	CHECK_OK(netns_nft_members_del("berth", 0x0a580002, app, 1, &err_));
	EXPECT(a, "10.88.0.3", 5432, "timeout");
	EXPECT(a, "10.88.0.3", 80, "ok 10.88.0.2");

	/* a changed config applies to running tasks */
	apply_config("{\"web\": {\"ingress\": [{\"protocol\": \"tcp\", \"port\": 22, "
		     "\"cidr\": \"10.88.0.2/32\"}]}}");
	EXPECT(a, "10.88.0.3", 22, "ok 10.88.0.2");
	EXPECT(a, "10.88.0.3", 80, "timeout");

	CHECK_OK(netns_nft_remove("berth", &err_));
	EXPECT(a, "10.88.0.3", 80, "ok 10.88.0.2");
	EXPECT(a, "192.0.2.2", 8080, "timeout");      /* no NAT without the table */

	kill(srv_a, SIGKILL);
	kill(srv_b, SIGKILL);
	kill(srv_e, SIGKILL);
	close(hold_a);
	close(hold_b);
	close(hold_e);
	while (wait(NULL) > 0)
		;
}

static void test_traffic(void **state)
{
	(void)state;
	in_netns(child_traffic);
}

/* The task endpoint's redirect: a connection to 169.254.170.2:80 from
 * inside the namespace reaches a listener on 127.0.0.1:51679, while
 * another socket holds 0.0.0.0:80 (a container's web server) unharmed;
 * other ports and addresses are not redirected. */
static void child_redirect_local(void)
{
	struct berr *err = NULL;
	struct sockaddr_in lo = { .sin_family = AF_INET, .sin_port = htons(51679) };
	struct sockaddr_in any80 = { .sin_family = AF_INET, .sin_port = htons(80) };
	struct sockaddr_in ep = { .sin_family = AF_INET, .sin_port = htons(80) };
	int ls, web, c, a, st;
	cleanup_free char *listing = NULL;

	CHECK(system("ip link set lo up && ip addr add 169.254.170.2/32 dev lo") == 0, "ip addr add");
	lo.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	inet_pton(AF_INET, "169.254.170.2", &ep.sin_addr);
	if (netns_nft_redirect_local("berth-ep", 0xa9feaa02, 80, 51679, &err) < 0)
		CHECK(false, "redirect: %s", berr_msg(err));
	listing = run("nft list table inet berth-ep", &st);
	CHECK(st == 0 && strstr(listing, "ip daddr 169.254.170.2 tcp dport 80 redirect to :51679"),
	      "listing: %s", listing);
	ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(bind(ls, (struct sockaddr *)&lo, sizeof(lo)) == 0 && listen(ls, 4) == 0, "listen 51679: %m");
	/* a container's server on 0.0.0.0:80 is not in the way */
	web = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(bind(web, (struct sockaddr *)&any80, sizeof(any80)) == 0 && listen(web, 4) == 0,
	      "listen 0.0.0.0:80: %m");
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(connect(c, (struct sockaddr *)&ep, sizeof(ep)) == 0, "connect 169.254.170.2:80: %m");
	CHECK(poll(&(struct pollfd){ .fd = ls, .events = POLLIN }, 1, 2000) == 1,
	      "the endpoint listener got no connection (it went elsewhere)");
	a = accept4(ls, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	CHECK(a >= 0, "the endpoint listener got no connection: %m");
	close(a);
	close(c);
	/* 127.0.0.1:80 goes to the container's server, not the endpoint */
	{
		struct sockaddr_in l80 = lo;

		l80.sin_port = htons(80);
		c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		CHECK(connect(c, (struct sockaddr *)&l80, sizeof(l80)) == 0, "connect 127.0.0.1:80: %m");
		CHECK(poll(&(struct pollfd){ .fd = web, .events = POLLIN }, 1, 2000) == 1,
		      "the web server got no connection");
		a = accept4(web, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		CHECK(a >= 0, "the web server got no connection: %m");
		close(a);
		close(c);
		CHECK(poll(&(struct pollfd){ .fd = ls, .events = POLLIN }, 1, 200) == 0,
		      "the endpoint got a connection meant for the web server");
	}
	close(ls);
	close(web);
}

static void test_redirect_local(void **state)
{
	(void)state;
	in_netns(child_redirect_local);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_render),
		cmocka_unit_test(test_render_default),
		cmocka_unit_test(test_argument_errors),
		cmocka_unit_test(test_apply_lists_render),
		cmocka_unit_test(test_render_is_nft_input),
		cmocka_unit_test(test_members),
		cmocka_unit_test(test_apply_change),
		cmocka_unit_test(test_remove),
		cmocka_unit_test(test_kernel_error),
		cmocka_unit_test(test_dump_race),
		cmocka_unit_test(test_traffic),
		cmocka_unit_test(test_redirect_local),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
