/* Unit tests for the pull's parsers (rootfs/registry.h): references,
 * WWW-Authenticate, token responses, base64, credentials files; and the
 * pull policy names (rootfs/pull.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "common/xalloc.h"
#include "rootfs/pull.h"
#include "rootfs/registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HEX "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static void check_ref(const char *in, const char *registry, const char *endpoint, const char *repo,
		      const char *tag, bool digest, const char *familiar)
{
	struct rootfs_pull_ref r;
	struct berr *err = NULL;
	char *f;

	if (rootfs_pull_ref_parse(in, &r, &err) < 0)
		fail_msg("%s: %s", in, berr_msg(err));
	assert_string_equal(r.registry, registry);
	assert_string_equal(r.endpoint, endpoint);
	assert_string_equal(r.repository, repo);
	if (tag)
		assert_string_equal(r.tag, tag);
	else
		assert_null(r.tag);
	assert_int_equal(r.has_digest, digest);
	if (digest)
		assert_string_equal(r.digest.hex, HEX);
	f = rootfs_pull_ref_familiar(&r);
	if (familiar)
		assert_string_equal(f, familiar);
	else
		assert_null(f);
	free(f);
	rootfs_pull_ref_free(&r);
}

static void test_ref_defaults(void **state)
{
	(void)state;
	check_ref("busybox", "docker.io", "registry-1.docker.io", "library/busybox", "latest", false, "busybox:latest");
	check_ref("busybox:1.36", "docker.io", "registry-1.docker.io", "library/busybox", "1.36", false, "busybox:1.36");
	check_ref("docker.io/library/busybox", "docker.io", "registry-1.docker.io", "library/busybox", "latest", false,
		  "busybox:latest");
	check_ref("index.docker.io/bitnami/redis:7", "docker.io", "registry-1.docker.io", "bitnami/redis", "7", false,
		  "bitnami/redis:7");
	check_ref("localhost/a", "localhost", "localhost", "a", "latest", false, "localhost/a:latest");
	check_ref("127.0.0.1:5000/berth-test/helper", "127.0.0.1:5000", "127.0.0.1:5000", "berth-test/helper", "latest",
		  false, "127.0.0.1:5000/berth-test/helper:latest");
	check_ref("ghcr.io/a/b/c:v1.2_3-x", "ghcr.io", "ghcr.io", "a/b/c", "v1.2_3-x", false, "ghcr.io/a/b/c:v1.2_3-x");
	check_ref("busybox@sha256:" HEX, "docker.io", "registry-1.docker.io", "library/busybox", NULL, true, NULL);
	check_ref("h:5000/x:t@sha256:" HEX, "h:5000", "h:5000", "x", "t", true, "h:5000/x:t");
	check_ref("my-reg.example.com/a__b/c.d/e--f", "my-reg.example.com", "my-reg.example.com", "a__b/c.d/e--f",
		  "latest", false, "my-reg.example.com/a__b/c.d/e--f:latest");
	check_ref("[::1]:5000/x", "[::1]:5000", "[::1]:5000", "x", "latest", false, "[::1]:5000/x:latest");
	/* a first component without '.', ':' or "localhost" is part of the name */
	check_ref("team/app", "docker.io", "registry-1.docker.io", "team/app", "latest", false, "team/app:latest");
	/* docker.io with a host-like first component keeps its prefix in the
	 * familiar name (found by fuzz_pull_ref: "a.b/c" would be registry a.b) */
	check_ref("index.docker.io/fr.io/r:v1", "docker.io", "registry-1.docker.io", "fr.io/r", "v1", false,
		  "docker.io/fr.io/r:v1");
	check_ref("docker.io/localhost/r", "docker.io", "registry-1.docker.io", "localhost/r", "latest", false,
		  "docker.io/localhost/r:latest");
}

static void check_bad_ref(const char *in, const char *msg_part)
{
	struct rootfs_pull_ref r;
	struct berr *err = NULL;

	if (rootfs_pull_ref_parse(in, &r, &err) == 0)
		fail_msg("%s: accepted", in);
	if (strstr(berr_msg(err), msg_part) == NULL)
		fail_msg("%s: message \"%s\" lacks \"%s\"", in, berr_msg(err), msg_part);
	assert_null(r.registry);
	berr_clear(&err);
}

static void test_ref_bad(void **state)
{
	char *big;

	(void)state;
	check_bad_ref("", "empty");
	check_bad_ref("Busybox", "must be lowercase");
	check_bad_ref("busybox:", "bad tag");
	check_bad_ref("busybox:.x", "bad tag");
	check_bad_ref("busy box", "space or control");
	check_bad_ref("a//b", "bad name component");
	check_bad_ref("a/-b", "bad name component");
	check_bad_ref("a/b_", "bad name component");
	check_bad_ref("a/b___c", "bad name component");
	check_bad_ref("a/b..c", "bad name component");
	check_bad_ref("busybox@sha256:abc", "not a digest");
	check_bad_ref("busybox@sha512:" HEX, "unsupported");
	check_bad_ref("h:99999x/a", "bad registry");
	check_bad_ref("-h.io/a", "bad registry");
	check_bad_ref("h.io/", "bad name component");
	check_bad_ref(":tag", "no repository");
	big = xmalloc(600);
	memset(big, 'a', 599);
	big[599] = '\0';
	check_bad_ref(big, "too long");
	memset(big, 'a', 300);
	big[300] = '\0';
	check_bad_ref(big, "longer than 255");
	free(big);
}

static void test_host_normalize(void **state)
{
	static const char *const cases[][2] = {
		{ "https://index.docker.io/v1/", "docker.io" }, { "registry-1.docker.io", "docker.io" },
		{ "http://H:5000/", "h:5000" }, { "h:5000", "h:5000" }, { "ghcr.io/x", "ghcr.io" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *n = rootfs_registry_host_normalize(cases[i][0]);

		assert_string_equal(n, cases[i][1]);
		free(n);
	}
}

static void test_www_authenticate(void **state)
{
	struct rootfs_auth_challenge *c = NULL;
	struct berr *err = NULL;
	size_t n = 0;

	(void)state;
	assert_int_equal(rootfs_auth_parse_www("Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\",scope=\"repository:library/busybox:pull\"",
					       &c, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(c[0].scheme, "bearer");
	assert_int_equal(c[0].n_params, 3);
	assert_string_equal(rootfs_auth_param(&c[0], "realm"), "https://auth.docker.io/token");
	assert_string_equal(rootfs_auth_param(&c[0], "service"), "registry.docker.io");
	assert_string_equal(rootfs_auth_param(&c[0], "scope"), "repository:library/busybox:pull");
	assert_null(rootfs_auth_param(&c[0], "error"));
	rootfs_auth_challenges_free(c, n);

	/* several challenges, case, spaces, tokens, escapes, a token68 */
	assert_int_equal(rootfs_auth_parse_www("Newauth realm=\"apps\", type=1 , title=\"Login to \\\"apps\\\"\", BASIC realm=simple,Negotiate abc+/=",
					       &c, &n, &err), 0);
	assert_int_equal(n, 3);
	assert_string_equal(c[0].scheme, "newauth");
	assert_string_equal(rootfs_auth_param(&c[0], "type"), "1");
	assert_string_equal(rootfs_auth_param(&c[0], "title"), "Login to \"apps\"");
	assert_string_equal(c[1].scheme, "basic");
	assert_string_equal(rootfs_auth_param(&c[1], "realm"), "simple");
	assert_string_equal(c[2].scheme, "negotiate");
	assert_string_equal(c[2].token68, "abc+/=");
	rootfs_auth_challenges_free(c, n);

	assert_int_equal(rootfs_auth_parse_www("Basic", &c, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(c[0].n_params, 0);
	rootfs_auth_challenges_free(c, n);

	assert_true(rootfs_auth_parse_www("", &c, &n, &err) < 0);
	assert_string_equal(berr_msg(err), "WWW-Authenticate: empty");
	assert_true(rootfs_auth_parse_www("Bearer realm=\"unterminated", &c, &n, &err) < 0);
	assert_non_null(strstr(berr_msg(err), "unterminated quoted string"));
	assert_true(rootfs_auth_parse_www("Bearer realm=", &c, &n, &err) == 0);   /* token68 "realm=" */
	rootfs_auth_challenges_free(c, n);
	assert_true(rootfs_auth_parse_www("Bearer a=b c", &c, &n, &err) < 0);
	assert_true(rootfs_auth_parse_www("\"x\"", &c, &n, &err) < 0);
	assert_null(c);
	berr_clear(&err);
}

#define T1 "{\"token\":\"abc\",\"expires_in\":300}"
#define T2 "{\"access_token\":\"xyz\"}"
#define T3 "{\"token\":\"a\\nb\"}"

static void test_token(void **state)
{
	struct berr *err = NULL;
	char *t = NULL;
	int64_t exp = 0;

	(void)state;
	assert_int_equal(rootfs_auth_parse_token(T1, strlen(T1), &t, &exp, &err), 0);
	assert_string_equal(t, "abc");
	assert_int_equal(exp, 300);
	free(t);
	assert_int_equal(rootfs_auth_parse_token(T2, strlen(T2), &t, &exp, &err), 0);
	assert_string_equal(t, "xyz");
	assert_int_equal(exp, 60);
	free(t);
	assert_true(rootfs_auth_parse_token("{}", 2, &t, &exp, &err) < 0);
	assert_non_null(strstr(berr_msg(err), "neither"));
	assert_true(rootfs_auth_parse_token(T3, strlen(T3), &t, &exp, &err) < 0);
	assert_true(rootfs_auth_parse_token("[1]", 3, &t, &exp, &err) < 0);
	assert_true(rootfs_auth_parse_token("{\"token\":1}", 11, &t, &exp, &err) < 0);
	assert_null(t);
	berr_clear(&err);
}

static void test_base64(void **state)
{
	static const char *const pairs[][2] = {
		{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" }, { "foob", "Zm9vYg==" },
		{ "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" }, { "user:pass", "dXNlcjpwYXNz" },
	};
	struct berr *err = NULL;
	char *out;
	size_t len;

	(void)state;
	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		char *e = rootfs_base64_encode(pairs[i][0], strlen(pairs[i][0]));

		assert_string_equal(e, pairs[i][1]);
		free(e);
		assert_int_equal(rootfs_base64_decode(pairs[i][1], &out, &len, &err), 0);
		assert_int_equal(len, strlen(pairs[i][0]));
		assert_memory_equal(out, pairs[i][0], len);
		free(out);
	}
	assert_int_equal(rootfs_base64_decode("Zm8", &out, &len, &err), 0);   /* padding optional */
	assert_string_equal(out, "fo");
	free(out);
	assert_true(rootfs_base64_decode("Zm9v!", &out, &len, &err) < 0);
	assert_true(rootfs_base64_decode("Z", &out, &len, &err) < 0);
	assert_true(rootfs_base64_decode("Zh==", &out, &len, &err) < 0);   /* trailing bits */
	assert_true(rootfs_base64_decode("Zm9v=", &out, &len, &err) < 0);
	assert_null(out);
	berr_clear(&err);
}

static void test_creds(void **state)
{
	const char *cfg =
		"{\"auths\": {"
		"  \"https://index.docker.io/v1/\": {\"auth\": \"aHViOnNlY3JldA==\"},"
		"  \"http://127.0.0.1:5000\": {\"username\": \"u\", \"password\": \"p:w\"},"
		"  \"empty.io\": {}"
		"}, \"credHelpers\": {\"ecr.example.com\": \"ecr-login\"}}";
	struct rootfs_cred c;
	struct berr *err = NULL;

	(void)state;
	assert_int_equal(rootfs_cred_lookup(cfg, strlen(cfg), "cfg", "docker.io", &c, &err), ROOTFS_CRED_FOUND);
	assert_string_equal(c.username, "hub");
	assert_string_equal(c.password, "secret");
	rootfs_cred_free(&c);
	assert_int_equal(rootfs_cred_lookup(cfg, strlen(cfg), "cfg", "127.0.0.1:5000", &c, &err), ROOTFS_CRED_FOUND);
	assert_string_equal(c.username, "u");
	assert_string_equal(c.password, "p:w");
	rootfs_cred_free(&c);
	assert_int_equal(rootfs_cred_lookup(cfg, strlen(cfg), "cfg", "empty.io", &c, &err), ROOTFS_CRED_NONE);
	assert_int_equal(rootfs_cred_lookup(cfg, strlen(cfg), "cfg", "other.io", &c, &err), ROOTFS_CRED_NONE);
	assert_null(c.username);
	assert_int_equal(rootfs_cred_lookup(cfg, strlen(cfg), "cfg", "ecr.example.com", &c, &err), ROOTFS_CRED_HELPER);
	{
		const char *store = "{\"credsStore\": \"desktop\"}";

		assert_int_equal(rootfs_cred_lookup(store, strlen(store), "cfg", "x.io", &c, &err), ROOTFS_CRED_HELPER);
	}
	{
		const char *bad = "{\"auths\": {\"h.io\": {\"auth\": \"!!\"}}}";

		assert_true(rootfs_cred_lookup(bad, strlen(bad), "/root/.docker/config.json", "h.io", &c, &err) < 0);
		assert_non_null(strstr(berr_msg(err), "/root/.docker/config.json.auths[\"h.io\"].auth"));
	}
	{
		const char *nocolon = "{\"auths\": {\"h.io\": {\"auth\": \"dXNlcg==\"}}}";

		assert_true(rootfs_cred_lookup(nocolon, strlen(nocolon), "f", "h.io", &c, &err) < 0);
		assert_non_null(strstr(berr_msg(err), "user:password"));
	}
	{
		const char *wrong = "{\"auths\": []}";

		assert_true(rootfs_cred_lookup(wrong, strlen(wrong), "f", "h.io", &c, &err) < 0);
		assert_true(rootfs_cred_lookup("{", 1, "f", "h.io", &c, &err) < 0);
	}
	berr_clear(&err);
}

static void test_policy(void **state)
{
	enum rootfs_pull_policy p;

	(void)state;
	assert_int_equal(rootfs_pull_policy_parse("always", &p), 0);
	assert_int_equal(p, ROOTFS_PULL_ALWAYS);
	assert_int_equal(rootfs_pull_policy_parse("if-not-present", &p), 0);
	assert_int_equal(p, ROOTFS_PULL_IF_NOT_PRESENT);
	assert_int_equal(rootfs_pull_policy_parse("never", &p), 0);
	assert_int_equal(p, ROOTFS_PULL_NEVER);
	assert_int_equal(rootfs_pull_policy_parse("sometimes", &p), -1);
	assert_string_equal(rootfs_pull_policy_name(ROOTFS_PULL_IF_NOT_PRESENT), "if-not-present");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ref_defaults),
		cmocka_unit_test(test_ref_bad),
		cmocka_unit_test(test_host_normalize),
		cmocka_unit_test(test_www_authenticate),
		cmocka_unit_test(test_token),
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_creds),
		cmocka_unit_test(test_policy),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
