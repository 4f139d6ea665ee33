/* Integration tests of rootfs_pull against a real registry: Debian's
 * docker-registry on 127.0.0.1 (a free port), started here without auth,
 * with htpasswd Basic auth and with token auth (tests/registry/tokenserver.py),
 * the test images pushed with skopeo. Skipped (never passed) when
 * docker-registry, skopeo, htpasswd, openssl or the test images are missing
 * (scripts/setup.sh installs them). Only loopback traffic. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/xalloc.h"
#include "rootfs/pull.h"
#include "rootfs/store.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#pragma GCC diagnostic ignored "-Wunused-function"
#include "registry_fixture.h"

static const char *bin_dir;
static char images[512];

static struct rootfs_store *new_store(struct reg *r, const char *name)
{
	char path[400];
	struct rootfs_store *s = NULL;
	struct berr *err = NULL;

	snprintf(path, sizeof(path), "%s/%s", r->dir, name);
	if (rootfs_store_open(path, &s, &err) < 0)
		fail_msg("%s", berr_msg(err));
	return s;
}

static int pull(struct reg *r, struct rootfs_store *s, const char *ref, struct rootfs_pull_opts *o,
		struct rootfs_pull_result *res, struct berr **err)
{
	const char *insecure[] = { r->hostport, NULL };
	char full[512];

	o->insecure = insecure;
	if (o->retries == 0)
		o->retries = 2;
	snprintf(full, sizeof(full), "%s/%s", r->hostport, ref);
	return rootfs_pull(s, full, o, res, err);
}

static size_t count_dir(struct rootfs_store *s, const char *sub)
{
	char path[600];
	size_t n = 0;
	FILE *p;

	snprintf(path, sizeof(path), "ls -A %s/%s 2>/dev/null | wc -l", rootfs_store_root(s), sub);
	p = popen(path, "r");
	assert_int_equal(fscanf(p, "%zu", &n), 1);
	pclose(p);
	return n;
}

static int setup(void **state)
{
	(void)state;
	src_dir = getenv("BERTH_SOURCE_DIR");
	bin_dir = getenv("BERTH_BINARY_DIR");
	if (!src_dir || !bin_dir)
		return -1;
	snprintf(images, sizeof(images), "%s/images", bin_dir);
	return 0;
}

static bool have_tools(void)
{
	char p[600];
	struct stat st;

	snprintf(p, sizeof(p), "%s/helper.oci.tar", images);
	return run("command -v docker-registry skopeo htpasswd openssl python3 >/dev/null 2>&1") == 0 &&
	       stat(p, &st) == 0;
}

#define NEED_TOOLS() do { if (!have_tools()) skip(); } while (0)

static char *oci(const char *name)
{
	return xasprintf("oci-archive:%s/%s.oci.tar", images, name);
}

/* ------------------------------------------------------------ no auth */

static void test_tag_digest_policy(void **state)
{
	struct reg r;
	struct rootfs_store *s;
	struct rootfs_pull_opts o = { 0 };
	struct rootfs_pull_result res;
	struct berr *err = NULL;
	struct rootfs_digest m, by_tag;
	cleanup_free char *src = NULL, *dref = NULL;
	char dbuf[ROOTFS_DIGEST_STR];

	(void)state;
	NEED_TOOLS();
	reg_setup(&r, NULL);
	src = oci("helper");
	push(&r, src, "berth-test/helper:1", NULL, false);
	s = new_store(&r, "store");
	if (pull(&r, s, "berth-test/helper:1", &o, &res, &err) < 0)
		fail_msg("%s", berr_msg(err));
	assert_true(res.pulled);
	assert_int_equal(res.layers, 3);
	assert_int_equal(res.layers_downloaded, 3);
	assert_int_equal(res.layers_unpacked, 3);
	by_tag = res.manifest;
	{
		char name[128];

		snprintf(name, sizeof(name), "%s/berth-test/helper:1", r.hostport);
		assert_string_equal(res.ref, name);
		assert_int_equal(rootfs_store_resolve(s, name, &m, &err), 0);
		assert_true(rootfs_digest_eq(&m, &by_tag));
	}
	rootfs_pull_result_free(&res);
	/* the unpacked tree is the image's: layer 3's whiteout removed /etc/motd */
	{
		struct rootfs_image img = { 0 };
		char *l1, *l3, p1[700], p3[700];
		struct stat st;

		assert_int_equal(rootfs_store_get_image(s, &by_tag, &img, &err), 0);
		l1 = rootfs_store_layer_path(s, &img.layers[0].chain);
		l3 = rootfs_store_layer_path(s, &img.layers[1].chain);
		snprintf(p1, sizeof(p1), "%s/bin/busybox", l1);
		snprintf(p3, sizeof(p3), "%s/usr/bin/berth-testhelper", l3);
		assert_int_equal(stat(p1, &st), 0);
		assert_int_equal(stat(p3, &st), 0);
		free(l1);
		free(l3);
		rootfs_image_free(&img);
	}

	/* again (always): nothing downloaded, nothing unpacked */
	assert_int_equal(pull(&r, s, "berth-test/helper:1", &o, &res, &err), 0);
	assert_true(res.pulled);
	assert_int_equal(res.layers_downloaded, 0);
	assert_int_equal(res.layers_unpacked, 0);
	assert_int_equal(res.bytes_downloaded, 0);
	rootfs_pull_result_free(&res);

	/* if-not-present with the registry gone: the store's image */
	reg_kill(&r);
	o.policy = ROOTFS_PULL_IF_NOT_PRESENT;
	assert_int_equal(pull(&r, s, "berth-test/helper:1", &o, &res, &err), 0);
	assert_false(res.pulled);
	assert_true(rootfs_digest_eq(&res.manifest, &by_tag));
	rootfs_pull_result_free(&res);
	/* never, for an image the store lacks */
	o.policy = ROOTFS_PULL_NEVER;
	assert_true(pull(&r, s, "berth-test/helper:2", &o, &res, &err) < 0);
	assert_int_equal(res.failure, ROOTFS_PULL_FAIL_NOT_FOUND);
	assert_non_null(strstr(berr_msg(err), "pull policy is \"never\""));
	rootfs_pull_result_free(&res);
	/* always with the registry down: a clear error */
	o.policy = ROOTFS_PULL_ALWAYS;
	o.retries = 1;
	assert_true(pull(&r, s, "berth-test/helper:1", &o, &res, &err) < 0);
	assert_int_equal(res.failure, ROOTFS_PULL_FAIL_UNREACHABLE);
	assert_non_null(strstr(berr_msg(err), "Couldn't connect to server"));
	assert_non_null(strstr(berr_msg(err), r.hostport));
	rootfs_pull_result_free(&res);
	reg_start(&r);
	o.retries = 0;
	rootfs_store_close(s);

	/* by digest, into a fresh store: no tag given */
	s = new_store(&r, "store2");
	dref = xasprintf("berth-test/helper@%s", rootfs_digest_str(&by_tag, dbuf));
	if (pull(&r, s, dref, &o, &res, &err) < 0)
		fail_msg("%s", berr_msg(err));
	assert_true(rootfs_digest_eq(&res.manifest, &by_tag));
	assert_null(res.ref);
	rootfs_pull_result_free(&res);
	/* an unknown tag and an unknown repository */
	assert_true(pull(&r, s, "berth-test/helper:nope", &o, &res, &err) < 0);
	assert_int_equal(res.failure, ROOTFS_PULL_FAIL_NOT_FOUND);
	assert_non_null(strstr(berr_msg(err), "MANIFEST_UNKNOWN"));
	rootfs_pull_result_free(&res);
	rootfs_store_close(s);
	berr_clear(&err);
	reg_teardown(&r);
}

static void test_multi_platform(void **state)
{
	struct reg r;
	struct rootfs_store *s;
	struct rootfs_pull_opts o = { 0 };
	struct rootfs_pull_result res;
	struct berr *err = NULL;
	char cmd[1200], amd[80] = "", arm[80] = "", idx[80] = "";
	cleanup_free char *layout = NULL, *src = NULL, *dref = NULL;
	FILE *p;

	(void)state;
	NEED_TOOLS();
	reg_setup(&r, NULL);
	layout = xasprintf("%s/multi", r.dir);
	snprintf(cmd, sizeof(cmd), "python3 %s/tests/registry/mkindex.py %s/helper.oci.tar %s/web.oci.tar %s",
		 src_dir, images, images, layout);
	p = popen(cmd, "r");
	assert_int_equal(fscanf(p, "%79s %79s %79s", amd, arm, idx), 3);
	assert_int_equal(pclose(p), 0);
	src = xasprintf("oci:%s:multi", layout);
	push(&r, src, "berth-test/multi:latest", NULL, true);
	s = new_store(&r, "store");
	o.os = "linux";
	o.arch = "arm64";
	if (pull(&r, s, "berth-test/multi", &o, &res, &err) < 0)
		fail_msg("%s", berr_msg(err));
	{
		char dbuf[ROOTFS_DIGEST_STR];

		assert_string_equal(rootfs_digest_str(&res.manifest, dbuf), arm);
	}
	assert_int_equal(res.layers, 2);
	rootfs_pull_result_free(&res);
	o.arch = "amd64";
	assert_int_equal(pull(&r, s, "berth-test/multi", &o, &res, &err), 0);
	{
		char dbuf[ROOTFS_DIGEST_STR];

		assert_string_equal(rootfs_digest_str(&res.manifest, dbuf), amd);
	}
	/* the base layer is shared with the arm64 image: downloaded once */
	assert_int_equal(res.layers, 3);
	assert_int_equal(res.layers_downloaded, 2);
	rootfs_pull_result_free(&res);
	/* a platform the index lacks */
	o.arch = "s390x";
	assert_true(pull(&r, s, "berth-test/multi", &o, &res, &err) < 0);
	assert_int_equal(res.failure, ROOTFS_PULL_FAIL_NOT_FOUND);
	assert_non_null(strstr(berr_msg(err), "no image for linux/s390x"));
	rootfs_pull_result_free(&res);
	/* by the index's digest, if-not-present: found locally through the stored index */
	o.arch = "arm64";
	o.policy = ROOTFS_PULL_IF_NOT_PRESENT;
	dref = xasprintf("berth-test/multi@%s", idx);
	assert_int_equal(pull(&r, s, dref, &o, &res, &err), 0);
	assert_false(res.pulled);
	rootfs_pull_result_free(&res);
	rootfs_store_close(s);
	berr_clear(&err);
	reg_teardown(&r);
}

static void test_bad_blob(void **state)
{
	struct reg r;
	struct rootfs_store *s;
	struct rootfs_pull_opts o = { 0 };
	struct rootfs_pull_result res;
	struct berr *err = NULL;
	cleanup_free char *src = NULL, *path = NULL, *inc = NULL;
	char hex[80] = "", cmd[1200];
	FILE *p;
	int fd;

	(void)state;
	NEED_TOOLS();
	src = oci("web");   /* after the skip: skip() leaves without cleanups */
	reg_setup(&r, NULL);
	push(&r, src, "berth-test/web:latest", NULL, false);
	/* the largest layer blob in the registry's storage: flip its last byte */
	snprintf(cmd, sizeof(cmd), "basename $(dirname $(ls -S %s/docker/registry/v2/blobs/sha256/*/*/data | head -1))", r.data);
	p = popen(cmd, "r");
	assert_int_equal(fscanf(p, "%79s", hex), 1);
	pclose(p);
	path = xasprintf("%s/docker/registry/v2/blobs/sha256/%.2s/%s/data", r.data, hex, hex);
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	{
		off_t end = lseek(fd, -1, SEEK_END);
		unsigned char b;

		assert_int_equal(pread(fd, &b, 1, end), 1);
		b ^= 0xff;
		assert_int_equal(pwrite(fd, &b, 1, end), 1);
	}
	close(fd);
	s = new_store(&r, "store");
	assert_true(pull(&r, s, "berth-test/web", &o, &res, &err) < 0);
	assert_int_equal(res.failure, ROOTFS_PULL_FAIL_VERIFY);
	assert_non_null(strstr(berr_msg(err), hex));
	assert_non_null(strstr(berr_msg(err), "refused and deleted"));
	rootfs_pull_result_free(&res);
	/* nothing kept: no image, tag, blob or layer; no partial of that blob */
	assert_int_equal(count_dir(s, "images"), 0);
	assert_int_equal(count_dir(s, "blobs/sha256"), 0);
	assert_int_equal(count_dir(s, "layers"), 0);
	inc = xasprintf("incoming/%s.*", hex);
	assert_int_equal(count_dir(s, inc), 0);
	assert_int_equal(access(rootfs_store_root(s), F_OK), 0);
	{
		cleanup_free char *refs = xasprintf("%s/refs.json", rootfs_store_root(s));

		assert_true(access(refs, F_OK) < 0);
	}
	rootfs_store_close(s);
	berr_clear(&err);
	reg_teardown(&r);
}

/* ------------------------------------------------------------ resume */

/* A TCP proxy on 127.0.0.1 between the pull and the registry (a thread of
 * this test): one request per connection (it adds "Connection: close"), the
 * first GET of blob `cut_hex` is cut after `cut_at` bytes of its body.
 * It logs, for that blob, every request's Range header and the body bytes
 * it passed on. A TLS hello (the pull tries HTTPS first for an insecure
 * registry) is answered by closing the connection. */
struct proxy {
	int lfd, port, upstream_port;
	int stop[2];
	pthread_t th;
	char cut_hex[ROOTFS_SHA256_HEX + 1];
	uint64_t cut_at;
	/* log, for the blob cut_hex */
	unsigned requests, cuts;
	char ranges[8][64];        /* "" for none */
	uint64_t body_bytes;       /* passed on to the client, all requests */
	bool strip_range;          /* drop the Range header of the blob's requests */
};

static bool send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

static void proxy_conn(struct proxy *px, int cfd)
{
	char req[16384], buf[65536], *end, *rng;
	size_t n = 0, head_len = 0;
	bool target, cut, in_body = false;
	uint64_t body = 0;
	unsigned idx = 0;
	int ufd;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				 .sin_port = htons((uint16_t)px->upstream_port) };

	for (;;) {
		ssize_t r = recv(cfd, req + n, sizeof(req) - 1 - n, 0);

		if (r <= 0 || (n == 0 && (unsigned char)req[0] == 0x16))
			return;   /* closed, or TLS */
		n += (size_t)r;
		req[n] = '\0';
		if ((end = strstr(req, "\r\n\r\n")))
			break;
		if (n == sizeof(req) - 1)
			return;
	}
	target = strstr(req, px->cut_hex) != NULL && !strncmp(req, "GET ", 4);
	if (target) {
		idx = px->requests++;
		rng = strcasestr(req, "\r\nRange:");
		if (idx < 8 && rng && rng < end)
			snprintf(px->ranges[idx], sizeof(px->ranges[idx]), "%.*s", (int)strcspn(rng + 9, "\r"),
				 rng + 9);
	}
	cut = target && px->cuts == 0;
	/* a registry that ignores Range: the request reaches it without one */
	if (target && px->strip_range && (rng = strcasestr(req, "\r\nRange:")) && rng < end) {
		char *eol = strstr(rng + 2, "\r\n");

		memmove(rng, eol, strlen(eol) + 1);
		end = strstr(req, "\r\n\r\n");
	}
	ufd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (ufd < 0 || connect(ufd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		if (ufd >= 0)
			close(ufd);
		return;
	}
	/* the head with Connection: close before its blank line (a GET has no body) */
	if (!send_all(ufd, req, (size_t)(end - req) + 2) || !send_all(ufd, "Connection: close\r\n\r\n", 21))
		goto out;
	for (;;) {
		ssize_t r = recv(ufd, buf + head_len, sizeof(buf) - head_len, 0);
		size_t have, pass;

		if (r <= 0)
			break;
		have = head_len + (size_t)r;
		head_len = 0;
		pass = have;
		if (!in_body) {
			char *e = memmem(buf, have, "\r\n\r\n", 4);

			if (e == NULL) {
				head_len = have;   /* keep collecting the head */
				if (head_len == sizeof(buf))
					break;
				continue;
			}
			in_body = true;
			if (target)
				body = have - (size_t)(e + 4 - buf);
			if (cut && body > px->cut_at) {
				pass -= (size_t)(body - px->cut_at);
				body = px->cut_at;
			}
		} else if (target) {
			if (cut && body + (size_t)r > px->cut_at)
				pass = (size_t)(px->cut_at - body);
			body += pass;
		}
		if (!send_all(cfd, buf, pass))
			break;
		if (cut && body >= px->cut_at) {
			px->cuts++;
			break;   /* mid-blob: the client sees the connection end */
		}
	}
	if (target)
		px->body_bytes += body;
out:
	close(ufd);
}

static void *proxy_main(void *data)
{
	struct proxy *px = data;

	for (;;) {
		struct pollfd p[2] = { { .fd = px->lfd, .events = POLLIN }, { .fd = px->stop[0], .events = POLLIN } };
		int cfd;

		if (poll(p, 2, -1) < 0 || p[1].revents)
			return NULL;
		cfd = accept4(px->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (cfd < 0)
			continue;
		proxy_conn(px, cfd);
		close(cfd);
	}
}

static void proxy_start(struct proxy *px, int upstream_port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t l = sizeof(a);

	px->upstream_port = upstream_port;
	px->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(px->lfd >= 0);
	assert_int_equal(bind(px->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(px->lfd, 16), 0);
	assert_int_equal(getsockname(px->lfd, (struct sockaddr *)&a, &l), 0);
	px->port = ntohs(a.sin_port);
	assert_int_equal(pipe2(px->stop, O_CLOEXEC), 0);
	assert_int_equal(pthread_create(&px->th, NULL, proxy_main, px), 0);
}

static void proxy_stop(struct proxy *px)
{
	assert_int_equal(write(px->stop[1], "x", 1), 1);
	pthread_join(px->th, NULL);
	close(px->lfd);
	close(px->stop[0]);
	close(px->stop[1]);
}

/* The largest blob in the registry's storage: hex into out, size returned. */
static int64_t largest_blob(struct reg *r, char out[ROOTFS_SHA256_HEX + 1])
{
	char cmd[1200], hex[80] = "";
	cleanup_free char *path = NULL;
	struct stat st;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "basename $(dirname $(ls -S %s/docker/registry/v2/blobs/sha256/*/*/data | head -1))", r->data);
	p = popen(cmd, "r");
	assert_int_equal(fscanf(p, "%79s", hex), 1);
	pclose(p);
	assert_int_equal(strlen(hex), ROOTFS_SHA256_HEX);
	memcpy(out, hex, ROOTFS_SHA256_HEX + 1);
	path = xasprintf("%s/docker/registry/v2/blobs/sha256/%.2s/%s/data", r->data, hex, hex);
	assert_int_equal(stat(path, &st), 0);
	return (int64_t)st.st_size;
}

/* The registry's connection is cut a third into the largest layer blob;
 * the pull retries with a Range request from exactly the bytes it has, and
 * the blob it keeps verifies. strip_range: the registry ignores the Range
 * (answers 200 with the whole blob) and the pull starts the file over. */
static void resume_case(bool strip_range)
{
	struct reg r;
	struct proxy px = { 0 };
	struct rootfs_store *s;
	struct rootfs_pull_opts o = { 0 };
	struct rootfs_pull_result res;
	struct berr *err = NULL;
	cleanup_free char *src = oci("helper"), *full = NULL, *range = NULL;
	struct rootfs_image img = { 0 };
	struct rootfs_digest want;
	const char *insecure[2] = { NULL, NULL };
	char hostport[64];
	uint64_t total = 0;
	int64_t size;

	reg_setup(&r, NULL);
	push(&r, src, "berth-test/helper:latest", NULL, false);
	px.strip_range = strip_range;
	size = largest_blob(&r, px.cut_hex);
	assert_true(size > 100000);
	px.cut_at = (uint64_t)size / 3;
	proxy_start(&px, r.port);
	s = new_store(&r, "store");
	snprintf(hostport, sizeof(hostport), "127.0.0.1:%d", px.port);
	insecure[0] = hostport;
	o.insecure = insecure;
	o.retries = 2;
	full = xasprintf("%s/berth-test/helper", hostport);
	if (rootfs_pull(s, full, &o, &res, &err) < 0)
		fail_msg("%s", berr_msg(err));
	proxy_stop(&px);

	/* cut once, then one request from the byte after the last one received */
	assert_int_equal(px.cuts, 1);
	assert_int_equal(px.requests, 2);
	assert_string_equal(px.ranges[0], "");
	range = xasprintf("bytes=%llu-", (unsigned long long)px.cut_at);
	assert_string_equal(px.ranges[1], range);
	assert_int_equal(rootfs_store_get_image(s, &res.manifest, &img, &err), 0);
	for (size_t i = 0; i < img.n_layers; i++)
		total += (uint64_t)img.layers[i].size;
	if (strip_range) {
		/* the cut part, then the whole blob again */
		assert_int_equal(px.body_bytes, (uint64_t)size + px.cut_at);
		assert_int_equal(res.bytes_downloaded, total + px.cut_at);
	} else {
		/* the client got each byte of the blob once */
		assert_int_equal(px.body_bytes, (uint64_t)size);
		assert_true(res.resumed >= 1);
		assert_int_equal(res.bytes_downloaded, total);
	}
	/* the stored blob is the registry's, byte for byte */
	{
		cleanup_free char *d = xasprintf("sha256:%s", px.cut_hex);
		cleanup_free char *buf = NULL;
		struct rootfs_digest got;
		size_t len = 0;

		assert_int_equal(rootfs_digest_parse(d, "test", &want, &err), 0);
		assert_true(rootfs_store_has_blob(s, &want));
		assert_int_equal(rootfs_store_read_blob(s, &want, 64u << 20, &buf, &len, &err), 0);
		assert_int_equal(len, (size_t)size);
		rootfs_sha256_buf(buf, len, &got);
		assert_true(rootfs_digest_eq(&got, &want));
	}
	/* nothing left in incoming/ */
	assert_int_equal(count_dir(s, "incoming"), 0);
	rootfs_image_free(&img);
	rootfs_pull_result_free(&res);
	rootfs_store_close(s);
	reg_teardown(&r);
}

static void test_resume(void **state)
{
	(void)state;
	NEED_TOOLS();
	resume_case(false);
}

static void test_resume_range_ignored(void **state)
{
	(void)state;
	NEED_TOOLS();
	resume_case(true);
}

/* The registry itself killed (SIGKILL) a third into a blob, and started
 * again on the same port and storage: the pull retries, resumes from the
 * bytes it kept with a Range request, and stores the registry's blob byte
 * for byte; each byte is downloaded once. The blob is a 24 MiB random layer
 * (tests/registry/mkbig.py): larger than loopback's socket buffers, so the
 * registry is still sending it when it dies (a small blob would already sit
 * whole in the client's receive buffer). */
struct kill_ctx {
	struct reg *r;
	char hex[ROOTFS_SHA256_HEX + 1];   /* the blob that was cut (skopeo may compress the layer) */
	uint64_t size;
	int kills;
};

static void on_kill_event(const struct rootfs_pull_event *ev, void *data)
{
	struct kill_ctx *k = data;

	if (k->kills || ev->phase != ROOTFS_PULL_PHASE_DOWNLOAD || !ev->blob || ev->total < (16u << 20) ||
	    ev->done < ev->total / 3)
		return;
	k->kills++;
	snprintf(k->hex, sizeof(k->hex), "%s", ev->blob->hex);
	k->size = ev->total;
	reg_kill(k->r);
	reg_start(k->r);
}

static void test_resume_registry_killed(void **state)
{
	struct reg r;
	struct rootfs_store *s;
	struct rootfs_pull_opts o = { 0 };
	struct rootfs_pull_result res;
	struct rootfs_image img = { 0 };
	struct berr *err = NULL;
	cleanup_free char *src = NULL;
	char hex[ROOTFS_SHA256_HEX + 1], cmd[1200];
	struct kill_ctx k = { 0 };
	uint64_t total = 0;
	long long size = 0;
	FILE *p;

	(void)state;
	NEED_TOOLS();
	reg_setup(&r, NULL);
	snprintf(cmd, sizeof(cmd), "python3 %s/tests/registry/mkbig.py %s/big 24", src_dir, r.dir);
	p = popen(cmd, "r");
	assert_non_null(p);
	assert_int_equal(fscanf(p, "%64s %lld", hex, &size), 2);
	assert_int_equal(pclose(p), 0);
	assert_true(size > (16 << 20));
	src = xasprintf("oci:%s/big:big", r.dir);
	push(&r, src, "berth-test/big:latest", NULL, false);
	k.r = &r;
	/* slow enough (about 2 s for the blob) that the kill lands mid-blob */
	o.max_recv_speed = size / 2;
	o.retries = 5;
	o.progress = on_kill_event;
	o.progress_data = &k;
	s = new_store(&r, "store");
	if (pull(&r, s, "berth-test/big", &o, &res, &err) < 0)
		fail_msg("%s", berr_msg(err));
	assert_int_equal(k.kills, 1);
	assert_true(res.resumed >= 1);
	assert_int_equal(rootfs_store_get_image(s, &res.manifest, &img, &err), 0);
	for (size_t i = 0; i < img.n_layers; i++)
		total += (uint64_t)img.layers[i].size;
	assert_int_equal(res.bytes_downloaded, total);
	{
		cleanup_free char *d = xasprintf("sha256:%s", k.hex);
		cleanup_free char *buf = NULL;
		struct rootfs_digest want, got;
		size_t len = 0;

		assert_int_equal(rootfs_digest_parse(d, "test", &want, &err), 0);
		assert_int_equal(rootfs_store_read_blob(s, &want, 64u << 20, &buf, &len, &err), 0);
		assert_int_equal(len, (size_t)k.size);
		rootfs_sha256_buf(buf, len, &got);
		assert_true(rootfs_digest_eq(&got, &want));
	}
	assert_int_equal(count_dir(s, "incoming"), 0);
	rootfs_image_free(&img);
	rootfs_pull_result_free(&res);
	rootfs_store_close(s);
	reg_teardown(&r);
}

/* ------------------------------------------------------------ auth */

static void auth_case(const char *mode)
{
	struct reg r;
	struct rootfs_store *s;
	struct rootfs_pull_opts o = { 0 };
	struct rootfs_pull_result res;
	struct berr *err = NULL;
	cleanup_free char *src = oci("web"), *good = NULL, *bad = NULL;
	FILE *f;

	reg_setup(&r, mode);
	push(&r, src, "berth-test/web:latest", "alice:s3cret", false);
	good = xasprintf("%s/good.json", r.dir);
	bad = xasprintf("%s/bad.json", r.dir);
	f = fopen(good, "w");
	/* docker's config.json shape, "auth" = base64("alice:s3cret") */
	fprintf(f, "{\"auths\": {\"http://%s\": {\"auth\": \"YWxpY2U6czNjcmV0\"}}}", r.hostport);
	fclose(f);
	f = fopen(bad, "w");
	fprintf(f, "{\"auths\": {\"%s\": {\"username\": \"alice\", \"password\": \"wrong\"}}}", r.hostport);
	fclose(f);
	s = new_store(&r, "store");

	/* no credentials */
	assert_true(pull(&r, s, "berth-test/web", &o, &res, &err) < 0);
	assert_int_equal(res.failure, ROOTFS_PULL_FAIL_AUTH);
	assert_non_null(strstr(berr_msg(err), "no credentials"));
	rootfs_pull_result_free(&res);
	/* wrong password */
	o.credentials_file = bad;
	assert_true(pull(&r, s, "berth-test/web", &o, &res, &err) < 0);
	assert_int_equal(res.failure, ROOTFS_PULL_FAIL_AUTH);
	assert_non_null(strstr(berr_msg(err), "authentication failed"));
	assert_non_null(strstr(berr_msg(err), "alice"));
	assert_null(strstr(berr_msg(err), "wrong"));   /* never the password */
	rootfs_pull_result_free(&res);
	assert_int_equal(count_dir(s, "images"), 0);
	/* right password, from the docker config */
	o.credentials_file = NULL;
	o.docker_config = good;
	if (pull(&r, s, "berth-test/web", &o, &res, &err) < 0)
		fail_msg("%s: %s", mode, berr_msg(err));
	assert_true(res.pulled);
	assert_int_equal(res.layers, 2);
	rootfs_pull_result_free(&res);
	/* repositoryCredentials: not yet */
	o.repository_credentials = "arn:aws:secretsmanager:us-east-1:1:secret:x";
	assert_true(pull(&r, s, "berth-test/web", &o, &res, &err) < 0);
	assert_int_equal(res.failure, ROOTFS_PULL_FAIL_UNSUPPORTED);
	assert_non_null(strstr(berr_msg(err), "not supported yet"));
	rootfs_pull_result_free(&res);
	rootfs_store_close(s);
	berr_clear(&err);
	reg_teardown(&r);
}

static void test_basic_auth(void **state)
{
	(void)state;
	NEED_TOOLS();
	auth_case("htpasswd");
}

static void test_token_auth(void **state)
{
	(void)state;
	NEED_TOOLS();
	auth_case("token");
}

/* N processes pull one new image into one store at once (N tasks of an
 * image the host does not have): each layer blob leaves the registry once.
 * With if-not-present one of them pulls and the others find the image;
 * with always every one records the pull, downloading nothing again. */
struct conc_out {
	int rc;
	bool pulled;
	uint64_t bytes;
	size_t layers_downloaded;
	enum rootfs_pull_failure failure;
};

static void concurrent_round(struct reg *r, const char *store, enum rootfs_pull_policy policy, int n,
			     struct conc_out *out)
{
	int p[2];
	pid_t *pids = xcalloc((size_t)n, sizeof(*pids));

	assert_int_equal(pipe(p), 0);
	for (int i = 0; i < n; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			struct rootfs_store *s = NULL;
			struct rootfs_pull_opts o = { .policy = policy };
			struct rootfs_pull_result res;
			struct conc_out c = { 0 };
			struct berr *err = NULL;

			close(p[0]);
			if (rootfs_store_open(store, &s, &err) < 0) {
				c.rc = -1;
			} else {
				c.rc = pull(r, s, "berth-test/helper:1", &o, &res, &err);
				c.pulled = res.pulled;
				c.bytes = res.bytes_downloaded;
				c.layers_downloaded = res.layers_downloaded;
				c.failure = res.failure;
				if (c.rc < 0)
					fprintf(stderr, "child %d: %s\n", i, berr_msg(err));
				rootfs_pull_result_free(&res);
				rootfs_store_close(s);
			}
			_exit(write(p[1], &c, sizeof(c)) == (ssize_t)sizeof(c) ? 0 : 1);
		}
	}
	close(p[1]);
	for (int i = 0; i < n; i++)
		assert_int_equal(read(p[0], &out[i], sizeof(out[i])), (ssize_t)sizeof(out[i]));
	close(p[0]);
	for (int i = 0; i < n; i++) {
		int st;

		assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	free(pids);
}

static void test_concurrent_pulls_download_once(void **state)
{
	enum { N = 4 };
	struct reg r;
	struct conc_out out[N];
	struct rootfs_store *s;
	struct rootfs_image img = { 0 };
	struct rootfs_digest m;
	struct berr *err = NULL;
	cleanup_free char *src = NULL, *store1 = NULL, *store2 = NULL;
	uint64_t total = 0, sum;
	int pulled;

	(void)state;
	NEED_TOOLS();
	reg_setup(&r, NULL);
	src = oci("helper");
	push(&r, src, "berth-test/helper:1", NULL, false);
	store1 = xasprintf("%s/store1", r.dir);
	store2 = xasprintf("%s/store2", r.dir);

	/* if-not-present: one pull, N - 1 find it */
	concurrent_round(&r, store1, ROOTFS_PULL_IF_NOT_PRESENT, N, out);
	s = new_store(&r, "store1");
	{
		char name[128];

		snprintf(name, sizeof(name), "%s/berth-test/helper:1", r.hostport);
		assert_int_equal(rootfs_store_resolve(s, name, &m, &err), 0);
	}
	assert_int_equal(rootfs_store_get_image(s, &m, &img, &err), 0);
	for (size_t i = 0; i < img.n_layers; i++)
		total += (uint64_t)img.layers[i].size;
	pulled = 0;
	sum = 0;
	for (int i = 0; i < N; i++) {
		assert_int_equal(out[i].rc, 0);
		pulled += out[i].pulled;
		sum += out[i].bytes;
	}
	assert_int_equal(pulled, 1);
	assert_int_equal(sum, total);
	/* what the registry says: each layer blob served once */
	for (size_t i = 0; i < img.n_layers; i++) {
		char dbuf[ROOTFS_DIGEST_STR];

		assert_int_equal(reg_blob_gets(&r, "berth-test/helper", rootfs_digest_str(&img.layers[i].blob, dbuf)), 1);
	}
	assert_int_equal(count_dir(s, "images"), 1);
	assert_int_equal(count_dir(s, "incoming"), 0);   /* no .part, .done or .lock left */
	rootfs_store_close(s);

	/* always, into another store: every one pulls, the blobs come once
	 * more (a new store), not N times */
	concurrent_round(&r, store2, ROOTFS_PULL_ALWAYS, N, out);
	sum = 0;
	pulled = 0;
	for (int i = 0; i < N; i++) {
		assert_int_equal(out[i].rc, 0);
		pulled += out[i].pulled;
		sum += out[i].bytes;
	}
	assert_int_equal(pulled, N);
	assert_int_equal(sum, total);
	for (size_t i = 0; i < img.n_layers; i++) {
		char dbuf[ROOTFS_DIGEST_STR];

		assert_int_equal(reg_blob_gets(&r, "berth-test/helper", rootfs_digest_str(&img.layers[i].blob, dbuf)), 2);
	}
	rootfs_image_free(&img);
	berr_clear(&err);
	reg_teardown(&r);
}

/* A pull that waits for another's download of a blob (its .part file is
 * flocked) and finds the blob in the store when it gets its turn (the
 * other pull finished and moved it there) does not download it again.
 * The "other pull" is this test: it holds the .part locks, puts the blobs
 * into the store, removes the .part files and lets go. */
static int wait_fd = -1;

static void on_wait_event(const struct rootfs_pull_event *ev, void *data)
{
	(void)data;
	/* once: the parent closes its end after the first byte, so a second
	 * layer's wait event would write into a closed pipe */
	if (ev->phase == ROOTFS_PULL_PHASE_WAIT && ev->blob && wait_fd >= 0) {
		if (write(wait_fd, "w", 1) != 1)
			abort();
		close(wait_fd);
		wait_fd = -1;
	}
}

static void test_waiter_takes_blob_from_store(void **state)
{
	struct reg r;
	struct rootfs_store *s1, *s2;
	struct rootfs_pull_opts o = { 0 };
	struct rootfs_pull_result res;
	struct rootfs_image img = { 0 };
	struct berr *err = NULL;
	cleanup_free char *src = NULL, *store2 = NULL;
	int fds[8], p[2], w[2];
	struct conc_out c;
	pid_t pid;

	(void)state;
	NEED_TOOLS();
	reg_setup(&r, NULL);
	src = oci("helper");
	push(&r, src, "berth-test/helper:1", NULL, false);
	/* the blobs, from a first pull into another store */
	s1 = new_store(&r, "store1");
	if (pull(&r, s1, "berth-test/helper:1", &o, &res, &err) < 0)
		fail_msg("%s", berr_msg(err));
	assert_int_equal(rootfs_store_get_image(s1, &res.manifest, &img, &err), 0);
	rootfs_pull_result_free(&res);
	assert_true(img.n_layers <= 8);
	s2 = new_store(&r, "store2");
	store2 = xstrdup(rootfs_store_root(s2));
	{
		char cmd[700];

		snprintf(cmd, sizeof(cmd), "mkdir -p %s/incoming", store2);
		assert_int_equal(run(cmd), 0);
	}
	for (size_t i = 0; i < img.n_layers; i++) {
		cleanup_free char *part = xasprintf("%s/incoming/%s.part", store2, img.layers[i].blob.hex);

		fds[i] = open(part, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		assert_true(fds[i] >= 0);
		assert_int_equal(flock(fds[i], LOCK_EX), 0);
	}
	assert_int_equal(pipe(p), 0);
	assert_int_equal(pipe(w), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rootfs_store *s = NULL;

		memset(&c, 0, sizeof(c));
		close(p[0]);
		close(w[0]);
		wait_fd = w[1];
		o.progress = on_wait_event;
		if (rootfs_store_open(store2, &s, &err) < 0) {
			c.rc = -1;
		} else {
			c.rc = pull(&r, s, "berth-test/helper:1", &o, &res, &err);
			if (c.rc < 0)
				fprintf(stderr, "waiter: %s\n", berr_msg(err));
			c.pulled = res.pulled;
			c.bytes = res.bytes_downloaded;
			c.layers_downloaded = res.layers_downloaded;
		}
		_exit(write(p[1], &c, sizeof(c)) == (ssize_t)sizeof(c) ? 0 : 1);
	}
	close(p[1]);
	close(w[1]);
	/* the waiter has asked for the manifest and waits for a blob */
	{
		struct pollfd pw = { .fd = w[0], .events = POLLIN };
		char x;

		assert_int_equal(poll(&pw, 1, 30000), 1);
		assert_int_equal(read(w[0], &x, 1), 1);
		close(w[0]);
	}
	for (size_t i = 0; i < img.n_layers; i++) {
		char cmd[1200];
		cleanup_free char *part = xasprintf("%s/incoming/%s.part", store2, img.layers[i].blob.hex);

		snprintf(cmd, sizeof(cmd), "cp %s/blobs/sha256/%s %s/blobs/sha256/%s && chmod 444 %s/blobs/sha256/%s",
			 rootfs_store_root(s1), img.layers[i].blob.hex, store2, img.layers[i].blob.hex, store2,
			 img.layers[i].blob.hex);
		assert_int_equal(run(cmd), 0);
		assert_int_equal(unlink(part), 0);
		close(fds[i]);
	}
	assert_int_equal(read(p[0], &c, sizeof(c)), (ssize_t)sizeof(c));
	close(p[0]);
	{
		int st;

		assert_int_equal(waitpid(pid, &st, 0), pid);
	}
	assert_int_equal(c.rc, 0);
	assert_true(c.pulled);
	assert_int_equal(c.bytes, 0);
	assert_int_equal(c.layers_downloaded, 0);
	for (size_t i = 0; i < img.n_layers; i++) {
		char dbuf[ROOTFS_DIGEST_STR];

		assert_int_equal(reg_blob_gets(&r, "berth-test/helper", rootfs_digest_str(&img.layers[i].blob, dbuf)), 1);
		assert_true(rootfs_store_has_layer(s2, &img.layers[i].chain));
	}
	rootfs_image_free(&img);
	rootfs_store_close(s1);
	rootfs_store_close(s2);
	berr_clear(&err);
	reg_teardown(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tag_digest_policy),
		cmocka_unit_test(test_multi_platform),
		cmocka_unit_test(test_bad_blob),
		cmocka_unit_test(test_resume),
		cmocka_unit_test(test_resume_range_ignored),
		cmocka_unit_test(test_resume_registry_killed),
		cmocka_unit_test(test_basic_auth),
		cmocka_unit_test(test_token_auth),
		cmocka_unit_test(test_concurrent_pulls_download_once),
		cmocka_unit_test(test_waiter_takes_blob_from_store),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, setup, NULL);
}
